/* test_chunked.c - Criterion tests for src/chunked.c.
 *
 * Every accepted and every rejected input is decoded whole, byte by byte,
 * split in two at every position, in random pieces and in place, and all
 * of those must agree: status, HTTP status, bytes consumed and data. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunked.h"

#define OUT_MAX 70000

struct run {
	enum chunked_status st;
	int status;
	size_t consumed;
	size_t outlen;
	char out[OUT_MAX];
};

/* Feed IN to a fresh decoder in pieces: CUT[i] starts a new piece at byte
 * i (CUT NULL: one piece).  OUTCAP bounds the room offered per call. */
static void feed(const char *in, size_t len, const struct chunked_limits *lim, const bool *cut,
		 size_t outcap, struct run *r)
{
	struct chunked st;
	size_t pos = 0;

	chunked_init(&st, lim);
	r->outlen = 0;
	r->st = CHUNKED_NEED_MORE;
	while (pos < len) {
		size_t end = pos + 1, c, p, room;

		while (end < len && !(cut && cut[end]))
			end++;
		while (pos < end) {
			room = sizeof(r->out) - r->outlen;
			if (room > outcap)
				room = outcap;
			r->st = chunked_decode(&st, in + pos, end - pos, r->out + r->outlen, room,
					       &c, &p);
			cr_assert_leq(c, end - pos);
			cr_assert_leq(p, room);
			pos += c;
			r->outlen += p;
			if (r->st != CHUNKED_NEED_MORE)
				goto done;
			/* NEED_MORE with input left only when OUT is full */
			cr_assert(pos == end || p == room, "stalled at %zu", pos);
		}
	}
done:
	r->consumed = pos;
	r->status = chunked_error_status(&st);
	if (r->st == CHUNKED_DONE || r->st == CHUNKED_ERROR) {
		size_t c = 99, p = 99;
		char dummy[4];

		/* terminal states are sticky and consume nothing */
		cr_assert_eq(chunked_decode(&st, "0\r\n\r\n", 5, dummy, sizeof(dummy), &c, &p),
			     r->st);
		cr_assert_eq(c, 0);
		cr_assert_eq(p, 0);
	}
	if (r->st == CHUNKED_DONE)
		cr_assert_eq(chunked_body_length(&st), r->outlen);
}

/* The same, decoding in place in a copy of IN, as conn.c may do. */
static void feed_inplace(const char *in, size_t len, const struct chunked_limits *lim,
			 const bool *cut, struct run *r)
{
	char *buf = malloc(len + 1);
	struct chunked st;
	size_t pos = 0;

	cr_assert(buf);
	memcpy(buf, in, len);
	chunked_init(&st, lim);
	r->outlen = 0;
	r->st = CHUNKED_NEED_MORE;
	while (pos < len) {
		size_t end = pos + 1, c, p;

		while (end < len && !(cut && cut[end]))
			end++;
		r->st = chunked_decode(&st, buf + pos, end - pos, buf + r->outlen, end - r->outlen,
				       &c, &p);
		pos += c;
		r->outlen += p;
		if (r->st != CHUNKED_NEED_MORE)
			break;
		cr_assert_eq(pos, end);
	}
	r->consumed = pos;
	r->status = chunked_error_status(&st);
	cr_assert_leq(r->outlen, sizeof(r->out));
	memcpy(r->out, buf, r->outlen);
	free(buf);
}

static void expect_same(const struct run *a, const struct run *b, const char *how)
{
	cr_assert_eq(a->st, b->st, "%s: status %d vs %d", how, a->st, b->st);
	cr_assert_eq(a->status, b->status, "%s: HTTP status %d vs %d", how, a->status, b->status);
	cr_assert_eq(a->consumed, b->consumed, "%s: consumed %zu vs %zu", how, a->consumed,
		     b->consumed);
	if (a->st == CHUNKED_ERROR)
		return; /* data before an error is not meaningful */
	cr_assert_eq(a->outlen, b->outlen, "%s: produced %zu vs %zu", how, a->outlen, b->outlen);
	cr_assert(memcmp(a->out, b->out, a->outlen) == 0, "%s: data differs", how);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64*: reproducible, no libc state */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Decode IN every way we know and check that all agree; the whole-buffer
 * result is left in *WHOLE. */
static void decode_every_way(const char *in, size_t len, const struct chunked_limits *lim,
			     struct run *whole)
{
	static struct run r_buf;
	struct run *r = &r_buf;
	bool *cut = calloc(len + 1, sizeof(bool));
	char how[64];

	cr_assert(cut);
	feed(in, len, lim, NULL, SIZE_MAX, whole);

	/* byte by byte */
	for (size_t i = 0; i <= len; i++)
		cut[i] = true;
	feed(in, len, lim, cut, SIZE_MAX, r);
	expect_same(whole, r, "byte by byte");
	feed_inplace(in, len, lim, cut, r);
	expect_same(whole, r, "in place, byte by byte");

	/* one byte of output room per call */
	feed(in, len, lim, NULL, 1, r);
	expect_same(whole, r, "1-byte output");

	/* in two at every position (all of them for short inputs) */
	memset(cut, 0, (len + 1) * sizeof(bool));
	for (size_t k = 1; k<len; k += len> 600 ? len / 300 : 1) {
		cut[k] = true;
		feed(in, len, lim, cut, SIZE_MAX, r);
		snprintf(how, sizeof(how), "split at %zu", k);
		expect_same(whole, r, how);
		cut[k] = false;
	}

	/* random pieces */
	for (int t = 0; t < 20; t++) {
		for (size_t i = 0; i <= len; i++)
			cut[i] = rng() % 7 == 0;
		feed(in, len, lim, cut, SIZE_MAX, r);
		snprintf(how, sizeof(how), "random pieces #%d", t);
		expect_same(whole, r, how);
		feed_inplace(in, len, lim, cut, r);
		expect_same(whole, r, "in place, random pieces");
	}
	memset(cut, 0, (len + 1) * sizeof(bool));
	feed_inplace(in, len, lim, NULL, r);
	expect_same(whole, r, "in place, whole");
	free(cut);
}

static void expect_body_lim(const char *in, size_t len, const struct chunked_limits *lim,
			    const char *body, size_t body_len, size_t consumed)
{
	static struct run r_buf;
	struct run *r = &r_buf;

	decode_every_way(in, len, lim, r);
	cr_assert_eq(r->st, CHUNKED_DONE, "\"%.*s\": status %d (HTTP %d)", (int)len, in, r->st,
		     r->status);
	cr_assert_eq(r->consumed, consumed, "\"%.*s\": consumed %zu, want %zu", (int)len, in,
		     r->consumed, consumed);
	cr_assert_eq(r->outlen, body_len, "\"%.*s\": %zu data bytes, want %zu", (int)len, in,
		     r->outlen, body_len);
	cr_assert(memcmp(r->out, body, body_len) == 0);
}

/* IN (a C string) is one whole chunked body decoding to BODY. */
static void expect_body(const char *in, const char *body)
{
	expect_body_lim(in, strlen(in), NULL, body, strlen(body), strlen(in));
}

static void expect_error_lim(const char *in, size_t len, const struct chunked_limits *lim,
			     int status)
{
	static struct run r_buf;
	struct run *r = &r_buf;

	decode_every_way(in, len, lim, r);
	cr_assert_eq(r->st, CHUNKED_ERROR, "\"%.*s\": status %d, want ERROR", (int)len, in, r->st);
	cr_assert_eq(r->status, status, "\"%.*s\": HTTP %d, want %d", (int)len, in, r->status,
		     status);
}

static void expect_error(const char *in, int status)
{
	expect_error_lim(in, strlen(in), NULL, status);
}

/* IN is a valid prefix: everything consumed, no verdict yet. */
static void expect_need_more_lim(const char *in, const struct chunked_limits *lim)
{
	static struct run r_buf;
	struct run *r = &r_buf;

	decode_every_way(in, strlen(in), lim, r);
	cr_assert_eq(r->st, CHUNKED_NEED_MORE, "\"%s\": status %d (HTTP %d)", in, r->st, r->status);
	cr_assert_eq(r->consumed, strlen(in));
}

static void expect_need_more(const char *in)
{
	expect_need_more_lim(in, NULL);
}

/* For string literals that contain a NUL: the literal and its length. */
#define LIT(s) (s), (sizeof(s) - 1)

/* IN (a C string) is a whole body under LIM, decoding to BODY. */
static void expect_body_l(const char *in, const struct chunked_limits *lim, const char *body)
{
	expect_body_lim(in, strlen(in), lim, body, strlen(body), strlen(in));
}

static void expect_error_l(const char *in, const struct chunked_limits *lim, int status)
{
	expect_error_lim(in, strlen(in), lim, status);
}

/* ------------------------------------------------------------------ */

Test(chunked, classic_example)
{
	expect_body("4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n",
		    "Wikipedia in\r\n\r\nchunks.");
}

Test(chunked, empty_body)
{
	expect_body("0\r\n\r\n", "");
	/* last-chunk = 1*("0") */
	expect_body("000\r\n\r\n", "");
}

Test(chunked, hex_digits_any_case_and_leading_zeros)
{
	expect_body("a\r\n0123456789\r\n0\r\n\r\n", "0123456789");
	expect_body("A\r\n0123456789\r\n0\r\n\r\n", "0123456789");
	expect_body("0000000000000000000000000001\r\nx\r\n0\r\n\r\n", "x");
	expect_body("1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n", "abc");
}

Test(chunked, data_may_contain_anything)
{
	static const char in[] = "8\r\n\0\r\n\n\r\xff\x80\"\r\n0\r\n\r\n";

	expect_body_lim(LIT(in), NULL, LIT("\0\r\n\n\r\xff\x80\""), sizeof(in) - 1);
}

Test(chunked, extensions_are_ignored)
{
	expect_body("5;foo=bar\r\nhello\r\n0\r\n\r\n", "hello");
	expect_body("5;foo\r\nhello\r\n0\r\n\r\n", "hello");
	expect_body("5;a;b;c=d;e=\"f\"\r\nhello\r\n0;last=yes\r\n\r\n", "hello");
	expect_body("5;q=\"a \\\"quoted\\\" \\\\ value;=\"\r\nhello\r\n0\r\n\r\n", "hello");
	expect_body("5;q=\"\"\r\nhello\r\n0\r\n\r\n", "hello");
	expect_body("5;q=\"\xc3\xa9\t\"\r\nhello\r\n0\r\n\r\n", "hello");
	expect_body("5;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~\r\nhello\r\n0\r\n\r\n", "hello");
}

Test(chunked, bws_in_extensions)
{
	/* chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) */
	expect_body("5 ;foo=bar\r\nhello\r\n0\r\n\r\n", "hello");
	expect_body("5\t; \tfoo \t=\t bar\r\nhello\r\n0\r\n\r\n", "hello");
	expect_body("5 ; a ; b = \"c\" ; d\r\nhello\r\n0\r\n\r\n", "hello");
	expect_body("0 ; x\r\n\r\n", "");
}

Test(chunked, trailers_are_parsed_and_ignored)
{
	expect_body("5\r\nhello\r\n0\r\nExpires: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n", "hello");
	expect_body("5\r\nhello\r\n0\r\nA: 1\r\nB:2\r\nC:\r\nD: \t x \xff \r\n\r\n", "hello");
	/* fields that must not be in trailers are ignored like any other */
	expect_body("5\r\nhello\r\n0\r\nContent-Length: 99\r\nTransfer-Encoding: x\r\n\r\n",
		    "hello");
}

Test(chunked, stops_at_end_of_body_for_pipelining)
{
	static const char in[] = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";

	expect_body_lim(in, sizeof(in) - 1, NULL, "abc", 3, strlen("3\r\nabc\r\n0\r\n\r\n"));
	/* even garbage after the end is the next request's problem */
	expect_body_lim(LIT("0\r\n\r\n\n\n\x00"), NULL, "", 0, 5);
}

Test(chunked, prefixes_need_more)
{
	static const char whole[] = "5;a=\"b\"\r\nhello\r\n0\r\nX: y\r\n\r\n";

	for (size_t n = 0; n < sizeof(whole) - 1; n++) {
		char buf[sizeof(whole)];

		memcpy(buf, whole, n);
		buf[n] = '\0';
		expect_need_more(buf);
	}
}

Test(chunked, rejects_bad_chunk_size)
{
	expect_error("\r\n", 400);
	expect_error(";a\r\n", 400);
	expect_error("g\r\n", 400);
	expect_error("0x5\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("+5\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("-5\r\nhello\r\n0\r\n\r\n", 400);
	expect_error(" 5\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("\t5\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5z\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5,6\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("\xef\xbc\x95\r\n", 400); /* a full-width digit */
}

Test(chunked, rejects_whitespace_after_size_without_extension)
{
	/* BWS is only allowed before ';' */
	expect_error("5 \r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5\t\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("0 \r\n\r\n", 400);
	expect_error("5 6\r\nhello\r\n0\r\n\r\n", 400);
}

Test(chunked, rejects_bare_lf_and_cr)
{
	expect_error("5\nhello\r\n0\r\n\r\n", 400);
	expect_error("5\rhello\r\n0\r\n\r\n", 400);
	expect_error("5\r\nhello\n0\r\n\r\n", 400);
	expect_error("5\r\nhello\r0\r\n\r\n", 400);
	expect_error("5\r\nhello\r\n0\n\r\n", 400);
	expect_error("5\r\nhello\r\n0\r\n\n", 400);
	expect_error("5\r\nhello\r\n0\r\n\r\r", 400);
	expect_error("5\r\nhello\r\n0\r\nA: b\n\r\n", 400);
	expect_error("5\r\nhello\r\n0\r\nA: b\rc\r\n\r\n", 400);
	expect_error("5;a\nb\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;a=\"\n\"\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("\n", 400);
}

Test(chunked, rejects_data_of_the_wrong_length)
{
	/* too long: the byte after the data must be CR */
	expect_error("5\r\nhello!\r\n0\r\n\r\n", 400);
	/* too short: "hell\r" then "\n0" is not CRLF */
	expect_error("5\r\nhell\r\n0\r\n\r\n", 400);
	expect_error("5\r\nhelloXY0\r\n\r\n", 400);
}

Test(chunked, rejects_bad_extensions)
{
	expect_error("5;\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;=x\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;a=\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;a= \r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;a b\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;a=b c\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;a=b \r\nhello\r\n0\r\n\r\n", 400); /* BWS before CRLF */
	expect_error("5;a \r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;a=\"x\"y\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;a=\"x\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;a=\"\\\x7f\"\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;a=\"\x7f\"\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;a(b)\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;a=b=c\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;a==b\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;;\r\nhello\r\n0\r\n\r\n", 400);
	expect_error("5;a=\xc3\xa9\r\nhello\r\n0\r\n\r\n", 400);
	expect_error_lim(LIT("5;a\0\r\nhello\r\n0\r\n\r\n"), NULL, 400);
}

Test(chunked, chunk_size_overflow_is_400)
{
	static const struct chunked_limits big = { UINT64_MAX, 1024, 8192 };

	/* 2^62 - 1 is the largest chunk-size: accepted, then waits for data */
	expect_need_more_lim("3fffffffffffffff\r\n", &big);
	expect_need_more_lim("00003FFFFFFFFFFFFFFF;x=y\r\nabc", &big);
	expect_error_l("4000000000000000\r\n", &big, 400);
	expect_error_l("ffffffffffffffff\r\n", &big, 400);
	expect_error_l("10000000000000000\r\n", &big, 400);
	expect_error_l("fffffffffffffffffffffffffffffffff\r\n", &big, 400);
	/* overflow is reported at the offending digit, before the 413 check */
	expect_error("ffffffffffffffffff", 400);
	expect_error("4000000000000000", 400);
}

Test(chunked, body_over_max_is_413)
{
	static const struct chunked_limits lim = { 10, 1024, 8192 };

	expect_body_l("a\r\n0123456789\r\n0\r\n\r\n", &lim, "0123456789");
	expect_body_l("5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n", &lim, "0123456789");
	expect_error_l("b\r\n01234567890\r\n0\r\n\r\n", &lim, 413);
	expect_error_l("5\r\n01234\r\n6\r\n", &lim, 413);
	/* decided as soon as the size ends, before any data or CRLF */
	expect_error_l("b;", &lim, 413);
	expect_error_l("b ", &lim, 413);
	expect_error_l("b\r", &lim, 413);
	/* but a size line that is bad first stays a 400 */
	expect_error_l("bz", &lim, 400);
	expect_error_l("b\n", &lim, 400);
	/* a larger chunk-size than 2^62 is malformed, not too large */
	expect_error_l("4000000000000000\r\n", &lim, 400);
	/* a huge size in range: 413 */
	expect_error_l("3fffffffffffffff\r\n", &lim, 413);
}

Test(chunked, max_body_zero_allows_only_empty)
{
	static const struct chunked_limits lim = { 0, 1024, 8192 };

	expect_body_l("0\r\n\r\n", &lim, "");
	expect_error_l("1\r\nx\r\n0\r\n\r\n", &lim, 413);
}

Test(chunked, chunk_line_limit)
{
	static const struct chunked_limits lim = { 1000, 16, 8192 };

	/* 16 bytes before the CRLF: fine; 17: 400 */
	expect_body_l("5;aaaaaaaaaaaaaa\r\nhello\r\n0\r\n\r\n", &lim, "hello");
	expect_error_l("5;aaaaaaaaaaaaaaa\r\nhello\r\n0\r\n\r\n", &lim, 400);
	expect_body_l("0000000000000005\r\nhello\r\n0\r\n\r\n", &lim, "hello");
	expect_error_l("00000000000000005\r\nhello\r\n0\r\n\r\n", &lim, 400);
	/* the bound is per line */
	expect_body_l("1;aaaaaaaaaaaaaa\r\na\r\n1;aaaaaaaaaaaaaa\r\nb\r\n0;aaaaaaaaaaaaaa\r\n\r\n",
		      &lim, "ab");
}

Test(chunked, default_line_limit_is_1024)
{
	char in[1100 + 32];
	size_t n;

	cr_assert_eq(chunked_default_limits.max_line, 1024);
	memset(in, 'e', sizeof(in));
	in[0] = '5';
	in[1] = ';';
	memcpy(in + 1024, "\r\nhello\r\n0\r\n\r\n", 14);
	n = 1024 + 14;
	expect_body_lim(in, n, NULL, "hello", 5, n);
	memset(in, 'e', sizeof(in));
	in[0] = '5';
	in[1] = ';';
	memcpy(in + 1025, "\r\nhello\r\n0\r\n\r\n", 14);
	expect_error_lim(in, 1025 + 14, NULL, 400);
}

Test(chunked, trailer_limit_is_431)
{
	static const struct chunked_limits lim = { 1000, 1024, 12 };

	/* The section counts every byte after the last-chunk line, its
	 * final CRLF included. */
	expect_body_l("0\r\nA: 12345\r\n\r\n", &lim, "");    /* 10 + 2 bytes */
	expect_error_l("0\r\nA: 123456\r\n\r\n", &lim, 431); /* 11 + 2 bytes */
	expect_error_l("0\r\nA: 1234567890123", &lim, 431);
	expect_body_l("0\r\nA:\r\nB:\r\n\r\n", &lim, ""); /* 4 + 4 + 2 bytes */
}

Test(chunked, default_trailer_limit_is_8k)
{
	size_t n = 3 + 8192 + 2;
	char *in = malloc(n + 1);

	cr_assert(in);
	cr_assert_eq(chunked_default_limits.max_trailer, 8192);
	memcpy(in, "0\r\nX: ", 6);
	memset(in + 6, 'v', n - 6);
	memcpy(in + 3 + 8190 - 2, "\r\n\r\n", 4); /* field line 8190 bytes + CRLF */
	expect_body_lim(in, 3 + 8192, NULL, "", 0, 3 + 8192);
	memcpy(in, "0\r\nX: ", 6);
	memset(in + 6, 'v', n - 6);
	memcpy(in + 3 + 8191 - 2, "\r\n\r\n", 4);
	expect_error_lim(in, 3 + 8193, NULL, 431);
	free(in);
}

Test(chunked, rejects_bad_trailers)
{
	expect_error("0\r\nA: b\r\n c\r\n\r\n", 400); /* obs-fold */
	expect_error("0\r\n\tA: b\r\n\r\n", 400);
	expect_error("0\r\n A: b\r\n\r\n", 400);
	expect_error("0\r\nA : b\r\n\r\n", 400); /* whitespace before colon */
	expect_error("0\r\n: b\r\n\r\n", 400);	 /* empty name */
	expect_error("0\r\nA\r\n\r\n", 400);	 /* no colon */
	expect_error("0\r\nA(b): c\r\n\r\n", 400);
	expect_error("0\r\nA: b\x01\r\n\r\n", 400);
	expect_error("0\r\nA: b\x7f\r\n\r\n", 400);
	expect_error_lim(LIT("0\r\nA: b\0\r\n\r\n"), NULL, 400);
	expect_error("0\r\nA: b\r\nX\r\n\r\n", 400); /* a name without a colon */
	expect_error("0\r\n\xc3\xa9: b\r\n\r\n", 400);
}

Test(chunked, output_full_returns_need_more)
{
	struct chunked st;
	const char *in = "a\r\n0123456789\r\n0\r\n\r\n";
	char out[4];
	size_t c, p, pos = 0;
	char got[16];
	size_t glen = 0;

	chunked_init(&st, NULL);
	cr_assert_eq(chunked_decode(&st, in, strlen(in), out, sizeof(out), &c, &p),
		     CHUNKED_NEED_MORE);
	cr_assert_eq(c, 3 + 4);
	cr_assert_eq(p, 4);
	cr_assert(memcmp(out, "0123", 4) == 0);
	memcpy(got, out, p);
	glen = p;
	pos = c;
	for (int guard = 0; guard < 10; guard++) {
		enum chunked_status s =
			chunked_decode(&st, in + pos, strlen(in) - pos, out, sizeof(out), &c, &p);

		memcpy(got + glen, out, p);
		glen += p;
		pos += c;
		if (s == CHUNKED_DONE)
			break;
		cr_assert_eq(s, CHUNKED_NEED_MORE);
	}
	cr_assert_eq(pos, strlen(in));
	cr_assert_eq(glen, 10);
	cr_assert(memcmp(got, "0123456789", 10) == 0);
}

Test(chunked, zero_output_room_still_parses_framing)
{
	struct chunked st;
	size_t c, p;

	chunked_init(&st, NULL);
	cr_assert_eq(chunked_decode(&st, "0;x=y\r\nA: b\r\n\r\n", 15, NULL, 0, &c, &p),
		     CHUNKED_DONE);
	cr_assert_eq(c, 15);
	cr_assert_eq(p, 0);
	chunked_init(&st, NULL);
	cr_assert_eq(chunked_decode(&st, "3\r\nabc", 6, NULL, 0, &c, &p), CHUNKED_NEED_MORE);
	cr_assert_eq(c, 3); /* stops at the data */
	cr_assert_eq(p, 0);
}

Test(chunked, empty_input)
{
	struct chunked st;
	size_t c = 1, p = 1;

	chunked_init(&st, NULL);
	cr_assert_eq(chunked_decode(&st, "", 0, NULL, 0, &c, &p), CHUNKED_NEED_MORE);
	cr_assert_eq(c, 0);
	cr_assert_eq(p, 0);
	cr_assert_eq(chunked_error_status(&st), 0);
	cr_assert_eq(chunked_body_length(&st), 0);
}

Test(chunked, error_reports_offset_of_bad_byte)
{
	struct chunked st;
	size_t c, p;
	char out[16];

	chunked_init(&st, NULL);
	cr_assert_eq(chunked_decode(&st, "3\r\nabcX", 7, out, sizeof(out), &c, &p), CHUNKED_ERROR);
	cr_assert_eq(c, 6); /* X is not consumed */
	cr_assert_eq(p, 3);
	cr_assert_eq(chunked_error_status(&st), 400);
}

Test(chunked, default_limits)
{
	struct chunked st;

	cr_assert_eq(chunked_default_limits.max_body, 1048576);
	chunked_init(&st, NULL);
	cr_assert_eq(st.lim.max_body, chunked_default_limits.max_body);
	expect_error("100001\r\n", 413);
	expect_need_more("100000\r\n");
}

/* Build a random valid chunked body of BODY_LEN bytes with random chunk
 * sizes, extensions and trailers. */
static size_t build_random(char *in, size_t cap, const char *body, size_t body_len)
{
	size_t n = 0, off = 0;

	while (off < body_len) {
		size_t k = 1 + rng() % 700;

		if (k > body_len - off)
			k = body_len - off;
		n += (size_t)snprintf(in + n, cap - n, "%s%zx", rng() % 3 ? "" : "00", k);
		if (rng() % 4 == 0)
			n += (size_t)snprintf(in + n, cap - n, " ; n%u = \"v\\\"%u\"",
					      (unsigned)(rng() % 100), (unsigned)(rng() % 100));
		n += (size_t)snprintf(in + n, cap - n, "\r\n");
		cr_assert_lt(n + k + 2, cap);
		memcpy(in + n, body + off, k);
		n += k;
		off += k;
		memcpy(in + n, "\r\n", 2);
		n += 2;
	}
	n += (size_t)snprintf(in + n, cap - n, "0%s\r\n", rng() % 2 ? ";end" : "");
	for (unsigned t = (unsigned)(rng() % 3); t > 0; t--)
		n += (size_t)snprintf(in + n, cap - n, "X-T%u: %u\r\n", t, (unsigned)rng());
	n += (size_t)snprintf(in + n, cap - n, "\r\n");
	return n;
}

Test(chunked, random_bodies_decode_identically_however_split)
{
	size_t cap = 64 * 1024;
	char *body = malloc(cap), *in = malloc(2 * cap);

	cr_assert(body && in);
	for (int t = 0; t < 12; t++) {
		size_t blen = (size_t)(rng() % 6000), n;

		for (size_t i = 0; i < blen; i++)
			body[i] = (char)rng();
		n = build_random(in, 2 * cap, body, blen);
		expect_body_lim(in, n, NULL, body, blen, n);
	}
	free(body);
	free(in);
}

Test(chunked, random_corruption_is_consistent)
{
	/* Whatever a flipped byte does, every way of feeding agrees (checked
	 * inside decode_every_way). */
	static struct run r_buf;
	char in[8192];
	size_t n;
	struct run *r = &r_buf;

	for (int t = 0; t < 60; t++) {
		char body[64];

		for (size_t i = 0; i < sizeof(body); i++)
			body[i] = (char)('a' + rng() % 26);
		n = build_random(in, sizeof(in), body, sizeof(body));
		in[rng() % n] = (char)rng();
		decode_every_way(in, n, NULL, r);
	}
}
