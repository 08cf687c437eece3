/* test_json_validate.c - Criterion tests for src/json_validate.c.
 *
 * Every document is validated whole, byte by byte and split in two at
 * every position; all of those must give the same verdict and reason. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_validate.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* The verdict on IN fed in pieces: CUT 0 whole, 1 byte by byte, else split
 * at CUT - 2. */
static int run(struct json_validate *v, const char *in, size_t len, size_t cut,
	       const char **why)
{
	int r = 0;

	json_validate_reset(v);
	if (cut == 0) {
		r = json_validate_feed(v, in, len);
	} else if (cut == 1) {
		for (size_t i = 0; i < len && r == 0; i++)
			r = json_validate_feed(v, in + i, 1);
	} else {
		r = json_validate_feed(v, in, cut - 2);
		if (r == 0)
			r = json_validate_feed(v, in + cut - 2, len - (cut - 2));
	}
	if (r == 0)
		r = json_validate_finish(v);
	*why = json_validate_error(v);
	return r;
}

/* The verdict, checked to be the same however the input is cut. */
static int verdict(const char *in, size_t len, const char **why)
{
	struct json_validate *v = json_validate_new(0);
	const char *w0, *w;
	int r0, r;

	cr_assert_not_null(v);
	r0 = run(v, in, len, 0, &w0);
	cr_assert(r0 == 0 || r0 == -EINVAL);
	cr_assert_eq(r0 == 0, w0 == NULL, "error string iff refused");
	for (size_t cut = 1; cut <= len + 2; cut++) {
		r = run(v, in, len, cut, &w);
		cr_assert_eq(r, r0, "\"%.*s\" cut %zu", (int)len, in, cut);
		cr_assert_str_eq(w ? w : "", w0 ? w0 : "", "\"%.*s\" cut %zu", (int)len, in, cut);
	}
	json_validate_free(v);
	*why = w0;
	return r0;
}

static void ok(const char *in, size_t len)
{
	const char *why;

	cr_expect_eq(verdict(in, len, &why), 0, "should accept \"%.*s\": %s", (int)len, in, why);
}

static void bad(const char *in, size_t len, const char *want)
{
	const char *why;

	cr_expect_eq(verdict(in, len, &why), -EINVAL, "should refuse \"%.*s\"", (int)len, in);
	if (want)
		cr_expect_str_eq(why ? why : "", want, "\"%.*s\"", (int)len, in);
}

Test(json_validate, values)
{
	ok(S("{}"));
	ok(S("[]"));
	ok(S("{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}"));
	ok(S("\"\""));
	ok(S("0"));
	ok(S("-0"));
	ok(S("-0.5e+3"));
	ok(S("1E-2"));
	ok(S("12.250e10"));
	ok(S("[0,0,0,0]"));
	ok(S(" \t\r\n[ 1 , { \"k\" : [ ] } ] \n"));
	ok(S("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\\ud800\""));
	ok(S("\"h\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80 \xef\xbf\xbd \xf4\x8f\xbf\xbf\""));
	ok(S("{\"\xe6\x97\xa5\":\"\x7f\"}"));
}

Test(json_validate, structure)
{
	bad(S("[1,]"), "unexpected character");
	bad(S("{\"a\":1,}"), "unexpected character");
	bad(S("[1 2]"), "unexpected character");
	bad(S("{\"a\" 1}"), "unexpected character");
	bad(S("{a:1}"), "unexpected character");
	bad(S("{\"a\":1]"), "unexpected character");
	bad(S("[1}"), "unexpected character");
	bad(S("{1:2}"), "unexpected character");
	bad(S("[,1]"), "unexpected character");
	bad(S("]"), "unexpected character");
	bad(S("'a'"), "unexpected character");
	bad(S("/*c*/{}"), "unexpected character");
	bad(S("\xef\xbb\xbf{}"), "unexpected character");
	bad(S("{}x"), "data after the JSON text");
	bad(S("{} {}"), "data after the JSON text");
	bad(S("1 2"), "data after the JSON text");
	bad(S("[1]\v"), "data after the JSON text");
	bad(S("{"), "unexpected end of data");
	bad(S("[1,"), "unexpected end of data");
	bad(S("{\"a\""), "unexpected end of data");
	bad(S("{\"a\":"), "unexpected end of data");
	bad(S("\"abc"), "unexpected end of data");
	bad(S("\"\\"), "unexpected end of data");
	bad(S("\"\\u12"), "unexpected end of data");
	bad(S("nul"), "unexpected end of data");
	bad(S(""), "empty body");
	bad(S(" \r\n\t"), "empty body");
}

Test(json_validate, numbers_and_literals)
{
	bad(S("1."), "invalid number");
	bad(S("-"), "invalid number");
	bad(S("1e"), "invalid number");
	bad(S("1e+"), "invalid number");
	bad(S("[1.]"), "invalid number");
	bad(S("[-a]"), "invalid number");
	bad(S("[1ex]"), "invalid number");
	bad(S(".5"), "unexpected character");
	bad(S("+1"), "unexpected character");
	bad(S("01"), "data after the JSON text");
	bad(S("[01]"), "unexpected character");
	bad(S("0x10"), "data after the JSON text");
	bad(S("[1-2]"), "unexpected character");
	bad(S("NaN"), "unexpected character");
	bad(S("Infinity"), "unexpected character");
	bad(S("-Infinity"), "invalid number");
	bad(S("True"), "unexpected character");
	bad(S("tru"), "unexpected end of data");
	bad(S("trUe"), "invalid literal");
	bad(S("truex"), "data after the JSON text");
	bad(S("[nulll]"), "unexpected character");
	bad(S("undefined"), "unexpected character");
}

Test(json_validate, strings)
{
	bad(S("\"a\tb\""), "control character in string");
	bad(S("\"\x1f\""), "control character in string");
	bad(S("\"\xff\""), "invalid UTF-8 in string");
	bad(S("\"\x80\""), "invalid UTF-8 in string");
	bad(S("\"\xc0\xaf\""), "invalid UTF-8 in string");
	bad(S("\"\xc1\xbf\""), "invalid UTF-8 in string");
	bad(S("\"\xe0\x80\xaf\""), "invalid UTF-8 in string");
	bad(S("\"\xed\xa0\x80\""), "invalid UTF-8 in string");
	bad(S("\"\xf0\x80\x80\x80\""), "invalid UTF-8 in string");
	bad(S("\"\xf4\x90\x80\x80\""), "invalid UTF-8 in string");
	bad(S("\"\xf5\x80\x80\x80\""), "invalid UTF-8 in string");
	bad(S("\"\xc3\""), "invalid UTF-8 in string");
	bad(S("\"\xe2\x82\""), "invalid UTF-8 in string");
	bad(S("\"\\x\""), "invalid escape in string");
	bad(S("\"\\u12G4\""), "invalid escape in string");
	bad(S("\"\\u12\""), "invalid escape in string");
	bad(S("\"\\U0041\""), "invalid escape in string");
	bad(S("{\"a\":\"x\0y\"}"), "NUL byte in body");
	bad(S("{}\0"), "NUL byte in body");
	bad(S("\0"), "NUL byte in body");
}

static void nested(unsigned levels, bool object, bool want_ok)
{
	size_t len = 0;
	char *buf = malloc(levels * 8 + 8);

	cr_assert_not_null(buf);
	for (unsigned i = 0; i < levels; i++)
		len += (size_t)sprintf(buf + len, "%s", object ? "{\"k\":" : "[");
	buf[len++] = '1';
	for (unsigned i = 0; i < levels; i++)
		buf[len++] = object ? '}' : ']';
	if (want_ok)
		ok(buf, len);
	else
		bad(buf, len, "nesting too deep");
	free(buf);
}

Test(json_validate, depth_is_bounded)
{
	nested(JSON_VALIDATE_DEPTH_DEFAULT, false, true);
	nested(JSON_VALIDATE_DEPTH_DEFAULT, true, true);
	nested(JSON_VALIDATE_DEPTH_DEFAULT + 1, false, false);
	nested(JSON_VALIDATE_DEPTH_DEFAULT + 1, true, false);
	nested(10000, false, false);
}

/* Mixed objects and arrays: the stack must remember which is which. */
Test(json_validate, stack_keeps_container_kinds)
{
	ok(S("[{\"a\":[{\"b\":[[{}]]}]},[{}],{\"c\":[]}]"));
	bad(S("[{\"a\":[{\"b\":[[{}]]}]},[{}],{\"c\":[]]]"), "unexpected character");
	bad(S("{\"a\":[}]"), "unexpected character");
}

Test(json_validate, depth_limit_parameter)
{
	struct json_validate *v = json_validate_new(2);

	cr_assert_not_null(v);
	cr_expect_eq(json_validate_feed(v, S("[[1]]")), 0);
	cr_expect_eq(json_validate_finish(v), 0);
	json_validate_reset(v);
	cr_expect_eq(json_validate_feed(v, S("[[[1]]]")), -EINVAL);
	cr_expect_str_eq(json_validate_error(v), "nesting too deep");
	cr_expect_eq(json_validate_offset(v), 2, "offset of the third '['");
	json_validate_free(v);
	v = json_validate_new(1000);
	cr_assert_not_null(v);
	for (int i = 0; i < JSON_VALIDATE_DEPTH_MAX; i++)
		cr_assert_eq(json_validate_feed(v, "[", 1), 0);
	cr_expect_eq(json_validate_feed(v, "[", 1), -EINVAL, "clamped to the maximum");
	json_validate_free(v);
	json_validate_free(NULL);
}

Test(json_validate, errors_are_sticky)
{
	struct json_validate *v = json_validate_new(0);

	cr_assert_not_null(v);
	cr_expect_eq(json_validate_feed(v, S("[1,]")), -EINVAL);
	cr_expect_eq(json_validate_offset(v), 3);
	cr_expect_eq(json_validate_feed(v, S("]")), -EINVAL);
	cr_expect_eq(json_validate_finish(v), -EINVAL);
	cr_expect_str_eq(json_validate_error(v), "unexpected character");
	json_validate_reset(v);
	cr_expect_null(json_validate_error(v));
	cr_expect_eq(json_validate_feed(v, S("[1]")), 0);
	cr_expect_eq(json_validate_offset(v), 3);
	cr_expect_eq(json_validate_finish(v), 0);
	json_validate_free(v);
}

/* 256 MiB of [0,0,0,...] in 64 KiB pieces: the shape that cost json-c
 * ~70 bytes per element; here nothing is allocated after new(). */
Test(json_validate, huge_flat_array, .timeout = 60)
{
	static char piece[65536];
	struct json_validate *v = json_validate_new(0);
	const size_t total = (size_t)256 << 20;

	cr_assert_not_null(v);
	for (size_t i = 0; i < sizeof(piece); i += 2) {
		piece[i] = '0';
		piece[i + 1] = ',';
	}
	cr_assert_eq(json_validate_feed(v, "[", 1), 0);
	for (size_t n = 0; n < total; n += sizeof(piece))
		cr_assert_eq(json_validate_feed(v, piece, sizeof(piece)), 0);
	cr_assert_eq(json_validate_feed(v, "0]", 2), 0);
	cr_expect_eq(json_validate_finish(v), 0);
	cr_expect_eq(json_validate_offset(v), total + 3);
	json_validate_free(v);
}
