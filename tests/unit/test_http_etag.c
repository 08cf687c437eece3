/* test_http_etag.c - Criterion tests for src/http_etag.c. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http_date.h"
#include "http_etag.h"

/* 1994-11-06 08:49:37 UTC, the RFC 9110 example date */
#define T_RFC ((time_t)784111777)
/* 2026-01-01 00:00:00 UTC */
#define T_2026 ((time_t)1767225600)

/* ------------------------------------------------------------------ */
/* ETag                                                                 */

Test(http_etag, make_formats_hex_triplet)
{
	char out[HTTP_ETAG_SIZE];

	cr_assert_eq(http_etag_make(out, sizeof(out), 0x2a, 8000, 784111777000000000ull), 25);
	cr_assert_str_eq(out, "\"2a-1f40-ae1b981bc490a00\"");
	cr_assert_eq(http_etag_make(out, sizeof(out), 0, 0, 0), 7);
	cr_assert_str_eq(out, "\"0-0-0\"");
}

Test(http_etag, make_longest_fits_and_small_buffers_fail)
{
	char out[HTTP_ETAG_SIZE + 8];

	cr_assert_eq(http_etag_make(out, HTTP_ETAG_SIZE, UINT64_MAX, UINT64_MAX, UINT64_MAX),
		     HTTP_ETAG_MAX_LEN);
	cr_assert_str_eq(out, "\"ffffffffffffffff-ffffffffffffffff-ffffffffffffffff\"");
	memset(out, 'x', sizeof(out));
	cr_assert_eq(http_etag_make(out, 7, 0, 0, 0), 0); /* needs 8 */
	cr_assert_eq(out[0], 'x');
	cr_assert_eq(http_etag_make(out, 8, 0, 0, 0), 7);
	cr_assert_eq(http_etag_make(NULL, 0, 0, 0, 0), 0);
}

Test(http_etag, validators_from_stat)
{
	struct http_validators v;

	http_validators_init(&v, 0x2a, 8000, 784111777, 123456789, T_2026);
	cr_assert_str_eq(v.etag, "\"2a-1f40-ae1b981c3a4d715\"");
	cr_assert_eq(v.etag_len, strlen(v.etag));
	cr_assert(v.has_last_modified);
	cr_assert_eq(v.last_modified, 784111777); /* whole seconds */
	cr_assert_eq(v.now, T_2026);
}

Test(http_etag, validators_differ_by_nanoseconds_size_and_inode)
{
	struct http_validators a, b, c, d;

	http_validators_init(&a, 1, 10, 1000, 1, T_2026);
	http_validators_init(&b, 1, 10, 1000, 2, T_2026);
	http_validators_init(&c, 1, 11, 1000, 1, T_2026);
	http_validators_init(&d, 2, 10, 1000, 1, T_2026);
	cr_assert_str_neq(a.etag, b.etag);
	cr_assert_str_neq(a.etag, c.etag);
	cr_assert_str_neq(a.etag, d.etag);
	cr_assert_eq(a.last_modified, b.last_modified);
}

Test(http_etag, redate_keeps_the_tag_and_clamps_again)
{
	struct http_validators v;

	/* made while the mtime was still in the future, used an hour later */
	http_validators_init(&v, 0x2a, 8000, T_2026 + 60, 5, T_2026);
	cr_assert_eq(v.last_modified, T_2026);
	http_validators_redate(&v, T_2026 + 60, T_2026 + 3600);
	cr_assert_str_eq(v.etag, "\"2a-1f40-1886725fe6415805\"", "%s", v.etag);
	cr_assert_eq(v.last_modified, T_2026 + 60);
	cr_assert_eq(v.now, T_2026 + 3600);
	http_validators_redate(&v, T_2026 + 60, T_2026 + 30);
	cr_assert_eq(v.last_modified, T_2026 + 30, "still in the future: the response's date");
}

Test(http_etag, future_mtime_is_clamped_to_now)
{
	struct http_validators v;

	/* RFC 9110 section 8.8.2.1 */
	http_validators_init(&v, 1, 1, T_2026 + 3600, 0, T_2026);
	cr_assert_eq(v.last_modified, T_2026);
	http_validators_init(&v, 1, 1, -1, 0, T_2026); /* before 1970 */
	cr_assert_eq(v.last_modified, -1);
	cr_assert_str_eq(v.etag, "\"1-1-ffffffffc4653600\"");
}

/* ------------------------------------------------------------------ */
/* HTTP-date, all three forms                                          */

static void expect_date(const char *s, time_t now, time_t want)
{
	time_t t = 12345;

	cr_expect_eq(http_date_parse_any(s, strlen(s), now, &t), 0, "\"%s\"", s);
	cr_expect_eq(t, want, "\"%s\": %lld, want %lld", s, (long long)t, (long long)want);
}

static void reject_date(const char *s)
{
	time_t t = 12345;

	cr_expect_eq(http_date_parse_any(s, strlen(s), T_2026, &t), -EINVAL, "accepted \"%s\"", s);
	cr_expect_eq(t, 12345);
}

Test(http_etag, date_rfc9110_examples)
{
	/* RFC 9110 section 5.6.7: the same instant in all three forms */
	expect_date("Sun, 06 Nov 1994 08:49:37 GMT", T_2026, T_RFC);
	expect_date("Sunday, 06-Nov-94 08:49:37 GMT", T_2026, T_RFC);
	expect_date("Sun Nov  6 08:49:37 1994", T_2026, T_RFC);
}

Test(http_etag, date_asctime_forms)
{
	/* date3 = month SP ( 2DIGIT / ( SP DIGIT ) ) */
	expect_date("Sun Nov 06 08:49:37 1994", T_2026, T_RFC);
	expect_date("Thu Jan  1 00:00:00 1970", T_2026, 0);
	expect_date("Tue Feb 29 00:00:00 2000", T_2026, 951782400);
	expect_date("Thu Jan  1 00:00:00 2026", 0, T_2026);
	expect_date("Wed Dec 31 23:59:60 1969", T_2026, 0); /* leap second */
}

Test(http_etag, date_rfc850_every_day_name)
{
	expect_date("Monday, 07-Nov-94 08:49:37 GMT", T_2026, T_RFC + 86400);
	expect_date("Tuesday, 08-Nov-94 08:49:37 GMT", T_2026, T_RFC + 2 * 86400);
	expect_date("Wednesday, 09-Nov-94 08:49:37 GMT", T_2026, T_RFC + 3 * 86400);
	expect_date("Thursday, 10-Nov-94 08:49:37 GMT", T_2026, T_RFC + 4 * 86400);
	expect_date("Friday, 11-Nov-94 08:49:37 GMT", T_2026, T_RFC + 5 * 86400);
	expect_date("Saturday, 12-Nov-94 08:49:37 GMT", T_2026, T_RFC + 6 * 86400);
}

Test(http_etag, date_rfc850_fifty_year_rule)
{
	/* Now is 2026-01-01.  "70" could be 2070 (44 years ahead, not "more
	 * than 50 years in the future"): it is 2070, a Wednesday. */
	expect_date("Wednesday, 01-Jan-70 00:00:00 GMT", T_2026, (time_t)3155760000);
	/* so 1970's day name no longer fits */
	reject_date("Thursday, 01-Jan-70 00:00:00 GMT");
	/* exactly 50 years ahead is not more than 50 */
	expect_date("Wednesday, 01-Jan-76 00:00:00 GMT", T_2026, (time_t)3345062400);
	/* one second more is: the previous century */
	expect_date("Thursday, 01-Jan-76 00:00:01 GMT", T_2026, (time_t)189302401);
	/* in 1990, "70" is 1970 */
	expect_date("Thursday, 01-Jan-70 00:00:00 GMT", (time_t)631152000, 0);
	expect_date("Friday, 31-Dec-99 23:59:59 GMT", T_2026, (time_t)946684799);
	expect_date("Saturday, 01-Jan-00 00:00:00 GMT", T_2026, (time_t)946684800);
}

Test(http_etag, date_rejects_malformed)
{
	reject_date("");
	reject_date("Sun");
	reject_date("Sun, 06 Nov 1994 08:49:37 UTC");
	reject_date("sun, 06 Nov 1994 08:49:37 GMT");
	reject_date("Sun, 06 nov 1994 08:49:37 GMT");
	reject_date("Sun, 06 Nov 1994 08:49:37 gmt");
	reject_date("Sun,  6 Nov 1994 08:49:37 GMT");
	reject_date("Sun, 06 Nov 1994 08:49:37 GMT ");
	reject_date("Mon, 06 Nov 1994 08:49:37 GMT"); /* wrong day */
	reject_date("Sunday, 06-Nov-1994 08:49:37 GMT");
	reject_date("Sunday, 6-Nov-94 08:49:37 GMT");
	reject_date("Sunday 06-Nov-94 08:49:37 GMT");
	reject_date("sunday, 06-Nov-94 08:49:37 GMT");
	reject_date("Sundays, 06-Nov-94 08:49:37 GMT");
	reject_date("Sun, 06-Nov-94 08:49:37 GMT");
	reject_date("Sunday, 06-Nov-94 08:49:37 GMT!");
	reject_date("Sunday, 06 Nov 94 08:49:37 GMT");
	reject_date("Monday, 06-Nov-94 08:49:37 GMT");
	reject_date("Sunday, 06-Nov-94 24:00:00 GMT");
	reject_date("Sun Nov 6 08:49:37 1994");
	reject_date("Sun Nov  6 08:49:37 94");
	reject_date("Sun Nov  6 08:49:37 1994 ");
	reject_date("Sun Nov  6 08:49:37 1994 GMT");
	reject_date("Sun Nov  0 08:49:37 1994");
	reject_date("Sun Nov 31 08:49:37 1994");
	reject_date("Sun Feb 29 08:49:37 1994");
	reject_date("Mon Nov  6 08:49:37 1994");
	reject_date("Sun Nov  6 08:60:37 1994");
	reject_date("Sun Nov  6 08:49:61 1994");
	reject_date("Sun Nov  6 08-49-37 1994");
	reject_date("Sun Nov  6 8:49:37 1994 ");
	reject_date("Sun Nox  6 08:49:37 1994");
	reject_date("1994-11-06T08:49:37Z");
	reject_date("784111777");
}

Test(http_etag, date_rejects_embedded_nul_and_null)
{
	time_t t;

	cr_assert_eq(http_date_parse_any("Sun Nov  6 08:49:37 1994\0", 25, T_2026, &t), -EINVAL);
	cr_assert_eq(http_date_parse_any("Sun Nov\0 6 08:49:37 1994", 24, T_2026, &t), -EINVAL);
	cr_assert_eq(http_date_parse_any(NULL, 0, T_2026, &t), -EINVAL);
	cr_assert_eq(http_date_parse_any("Sun Nov  6 08:49:37 1994", 24, T_2026, NULL), -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Comparison and lists                                                */

#define EQS(a, b) http_etag_eq_strong(a, strlen(a), b, strlen(b))
#define EQW(a, b) http_etag_eq_weak(a, strlen(a), b, strlen(b))

Test(http_etag, comparison_table_of_rfc9110_8_8_3_2)
{
	/* ETag 1   ETag 2   Strong Comparison   Weak Comparison
	 * W/"1"    W/"1"    no match            match
	 * W/"1"    W/"2"    no match            no match
	 * W/"1"    "1"      no match            match
	 * "1"      "1"      match               match */
	cr_assert(!EQS("W/\"1\"", "W/\"1\""));
	cr_assert(EQW("W/\"1\"", "W/\"1\""));
	cr_assert(!EQS("W/\"1\"", "W/\"2\""));
	cr_assert(!EQW("W/\"1\"", "W/\"2\""));
	cr_assert(!EQS("W/\"1\"", "\"1\""));
	cr_assert(EQW("W/\"1\"", "\"1\""));
	cr_assert(EQS("\"1\"", "\"1\""));
	cr_assert(EQW("\"1\"", "\"1\""));
}

Test(http_etag, comparison_is_exact)
{
	cr_assert(!EQS("\"abc\"", "\"ABC\""));
	cr_assert(!EQS("\"abc\"", "\"abc \""));
	cr_assert(!EQS("\"a\"", "\"a\"x"));
	cr_assert(!EQS("\"a", "\"a"));
	cr_assert(!EQS("a", "a"));
	cr_assert(!EQW("w/\"1\"", "\"1\"")); /* W/ is case-sensitive */
	cr_assert(EQS("\"\"", "\"\""));	     /* the empty opaque-tag */
	cr_assert(EQS("\"\x80\xff!#~\"", "\"\x80\xff!#~\""));
	cr_assert(!EQS("\"a b\"", "\"a b\"")); /* SP is no etagc */
}

static enum http_etag_list list(const char *l, const char *etag, bool weak)
{
	return http_etag_list_match(l, strlen(l), etag, strlen(etag), weak);
}

Test(http_etag, list_matching)
{
	const char *e = "\"xyzzy\"";

	cr_assert_eq(list("\"xyzzy\"", e, false), HTTP_ETAG_LIST_MATCH);
	/* RFC 9110 section 13.1.1 examples */
	cr_assert_eq(list("\"xyzzy\", \"r2d2xxxx\", \"c3piozzzz\"", e, false),
		     HTTP_ETAG_LIST_MATCH);
	cr_assert_eq(list("\"r2d2xxxx\", \"c3piozzzz\", \"xyzzy\"", e, false),
		     HTTP_ETAG_LIST_MATCH);
	cr_assert_eq(list("*", e, false), HTTP_ETAG_LIST_ANY);
	/* RFC 9110 section 13.1.2 examples */
	cr_assert_eq(list("W/\"xyzzy\"", e, true), HTTP_ETAG_LIST_MATCH);
	cr_assert_eq(list("W/\"xyzzy\"", e, false), HTTP_ETAG_LIST_NO_MATCH);
	cr_assert_eq(list("W/\"xyzzy\", W/\"r2d2xxxx\", W/\"c3piozzzz\"", e, true),
		     HTTP_ETAG_LIST_MATCH);
	cr_assert_eq(list("\"a\", \"b\"", e, true), HTTP_ETAG_LIST_NO_MATCH);
}

Test(http_etag, list_syntax)
{
	const char *e = "\"e\"";

	/* OWS and empty elements (RFC 9110 section 5.6.1.2) */
	cr_assert_eq(list("  \"a\"\t,\t\"e\"  ", e, false), HTTP_ETAG_LIST_MATCH);
	cr_assert_eq(list(",, \"a\" ,,, \"e\",", e, false), HTTP_ETAG_LIST_MATCH);
	cr_assert_eq(list("", e, false), HTTP_ETAG_LIST_NO_MATCH);
	cr_assert_eq(list(" , ", e, false), HTTP_ETAG_LIST_NO_MATCH);
	cr_assert_eq(list(" * ", e, false), HTTP_ETAG_LIST_ANY);
	cr_assert_eq(list("\"e\"\"a\"", e, false), HTTP_ETAG_LIST_INVALID);
	cr_assert_eq(list("e", e, false), HTTP_ETAG_LIST_INVALID);
	cr_assert_eq(list("\"e", e, false), HTTP_ETAG_LIST_INVALID);
	cr_assert_eq(list("\"e\" x", e, false), HTTP_ETAG_LIST_INVALID);
	cr_assert_eq(list("*, \"e\"", e, false), HTTP_ETAG_LIST_INVALID);
	cr_assert_eq(list("**", e, false), HTTP_ETAG_LIST_INVALID);
	cr_assert_eq(list("w/\"e\"", e, true), HTTP_ETAG_LIST_INVALID);
	cr_assert_eq(list("W/ \"e\"", e, true), HTTP_ETAG_LIST_INVALID);
	cr_assert_eq(list("\"e\";q=1", e, true), HTTP_ETAG_LIST_INVALID);
	/* the whole value is checked even after a match */
	cr_assert_eq(list("\"e\", garbage", e, false), HTTP_ETAG_LIST_INVALID);
	cr_assert_eq(http_etag_list_match(NULL, 0, e, 3, true), HTTP_ETAG_LIST_INVALID);
	/* no ETag: nothing matches, "*" still is "*" */
	cr_assert_eq(list("\"\"", "", true), HTTP_ETAG_LIST_NO_MATCH);
	cr_assert_eq(list("*", "", true), HTTP_ETAG_LIST_ANY);
}

/* ------------------------------------------------------------------ */
/* Section 13.2.2                                                       */

static char head_buf[4096];
static struct http_request req;

/* Parse "METHOD / HTTP/1.1" with Host and FIELDS ("Name: value\r\n"...). */
static const struct http_request *request(const char *method, const char *fields)
{
	int status = 0;
	int n = snprintf(head_buf, sizeof(head_buf), "%s / HTTP/1.1\r\nHost: x\r\n%s\r\n", method,
			 fields);

	cr_assert(n > 0 && (size_t)n < sizeof(head_buf));
	cr_assert_eq(http_parse_request(head_buf, (size_t)n, NULL, &req, &status), HTTP_PARSE_DONE,
		     "%s", head_buf);
	return &req;
}

/* A file with ETag "\"1-2-3\"", Last-Modified T_RFC, served in 2026. */
static void validators(struct http_validators *v)
{
	http_validators_init(v, 1, 2, T_RFC, 3, T_2026);
	cr_assert_str_eq(v->etag, "\"1-2-ae1b981bc490a03\"");
}

#define ETAG "\"1-2-ae1b981bc490a03\""
#define LM "Sun, 06 Nov 1994 08:49:37 GMT"
#define LM_MINUS_1 "Sun, 06 Nov 1994 08:49:36 GMT"
#define LM_PLUS_1 "Sun, 06 Nov 1994 08:49:38 GMT"

static int eval(const char *method, const char *fields)
{
	struct http_validators v;

	validators(&v);
	return http_conditional_evaluate(request(method, fields), &v);
}

Test(http_etag, cond_no_conditions)
{
	cr_assert_eq(eval("GET", ""), 200);
	cr_assert_eq(eval("HEAD", "Accept: */*\r\n"), 200);
	cr_assert_eq(eval("POST", ""), 200);
}

Test(http_etag, cond_if_none_match)
{
	cr_assert_eq(eval("GET", "If-None-Match: " ETAG "\r\n"), 304);
	cr_assert_eq(eval("HEAD", "If-None-Match: " ETAG "\r\n"), 304);
	cr_assert_eq(eval("GET", "If-None-Match: \"a\", " ETAG "\r\n"), 304);
	/* weak comparison (section 13.1.2) */
	cr_assert_eq(eval("GET", "If-None-Match: W/" ETAG "\r\n"), 304);
	cr_assert_eq(eval("GET", "If-None-Match: *\r\n"), 304);
	cr_assert_eq(eval("GET", "If-None-Match: \"other\"\r\n"), 200);
	cr_assert_eq(eval("GET", "if-none-match: " ETAG "\r\n"), 304);
	/* other methods: 412 */
	cr_assert_eq(eval("POST", "If-None-Match: *\r\n"), 412);
	cr_assert_eq(eval("PUT", "If-None-Match: W/" ETAG "\r\n"), 412);
	cr_assert_eq(eval("POST", "If-None-Match: \"other\"\r\n"), 200);
}

Test(http_etag, cond_if_none_match_over_several_lines)
{
	cr_assert_eq(eval("GET", "If-None-Match: \"a\"\r\nIf-None-Match: " ETAG "\r\n"), 304);
	cr_assert_eq(eval("GET", "If-None-Match: \"a\"\r\nIf-None-Match: \"b\"\r\n"), 200);
	/* "*" combined with another line is invalid: no match */
	cr_assert_eq(eval("GET", "If-None-Match: *\r\nIf-None-Match: \"b\"\r\n"), 200);
}

Test(http_etag, cond_invalid_if_none_match_sends_everything)
{
	cr_assert_eq(eval("GET", "If-None-Match: " ETAG " garbage\r\n"), 200);
	cr_assert_eq(eval("GET", "If-None-Match: 1-2-ae1b981bc490a03\r\n"), 200);
	/* and If-Modified-Since stays ignored: the request has If-None-Match */
	cr_assert_eq(eval("GET", "If-None-Match: bad\r\nIf-Modified-Since: " LM "\r\n"), 200);
}

Test(http_etag, cond_if_modified_since)
{
	cr_assert_eq(eval("GET", "If-Modified-Since: " LM "\r\n"), 304);
	cr_assert_eq(eval("GET", "If-Modified-Since: " LM_PLUS_1 "\r\n"), 304);
	cr_assert_eq(eval("GET", "If-Modified-Since: " LM_MINUS_1 "\r\n"), 200);
	cr_assert_eq(eval("HEAD", "If-Modified-Since: " LM "\r\n"), 304);
	/* the obsolete forms */
	cr_assert_eq(eval("GET", "If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\n"), 304);
	cr_assert_eq(eval("GET", "If-Modified-Since: Sun Nov  6 08:49:37 1994\r\n"), 304);
	cr_assert_eq(eval("GET", "If-Modified-Since: Sun Nov  6 08:49:36 1994\r\n"), 200);
}

Test(http_etag, cond_if_modified_since_ignored)
{
	/* invalid date */
	cr_assert_eq(eval("GET", "If-Modified-Since: yesterday\r\n"), 200);
	cr_assert_eq(eval("GET", "If-Modified-Since: " LM "; length=12\r\n"), 200);
	/* more than one member (section 13.1.3) */
	cr_assert_eq(eval("GET", "If-Modified-Since: " LM ", " LM "\r\n"), 200);
	cr_assert_eq(eval("GET", "If-Modified-Since: " LM "\r\nIf-Modified-Since: " LM "\r\n"),
		     200);
	/* neither GET nor HEAD */
	cr_assert_eq(eval("POST", "If-Modified-Since: " LM "\r\n"), 200);
	/* with If-None-Match, whatever it says */
	cr_assert_eq(eval("GET", "If-None-Match: \"other\"\r\nIf-Modified-Since: " LM "\r\n"), 200);
	cr_assert_eq(eval("GET", "If-Modified-Since: " LM "\r\nIf-None-Match: \"other\"\r\n"), 200);
}

Test(http_etag, cond_if_modified_since_without_last_modified)
{
	struct http_validators v;

	validators(&v);
	v.has_last_modified = false;
	cr_assert_eq(http_conditional_evaluate(request("GET", "If-Modified-Since: " LM "\r\n"), &v),
		     200);
	cr_assert_eq(http_conditional_evaluate(request("GET", "If-Unmodified-Since: "
							      "Sun, 06 Nov 1994 08:49:36 GMT\r\n"),
					       &v),
		     200);
}

Test(http_etag, cond_if_match)
{
	cr_assert_eq(eval("GET", "If-Match: " ETAG "\r\n"), 200);
	cr_assert_eq(eval("PUT", "If-Match: \"a\", " ETAG "\r\n"), 200);
	cr_assert_eq(eval("GET", "If-Match: *\r\n"), 200);
	cr_assert_eq(eval("GET", "If-Match: \"other\"\r\n"), 412);
	cr_assert_eq(eval("POST", "If-Match: \"other\"\r\n"), 412);
	/* strong comparison: a weak tag never matches */
	cr_assert_eq(eval("GET", "If-Match: W/" ETAG "\r\n"), 412);
	/* an unreadable precondition is not met */
	cr_assert_eq(eval("GET", "If-Match: " ETAG " x\r\n"), 412);
	cr_assert_eq(eval("GET", "If-Match: \r\n"), 412); /* empty list */
	/* several lines are one list */
	cr_assert_eq(eval("GET", "If-Match: \"a\"\r\nIf-Match: " ETAG "\r\n"), 200);
	cr_assert_eq(eval("GET", "If-Match: *\r\nIf-Match: " ETAG "\r\n"), 412);
}

Test(http_etag, cond_if_unmodified_since)
{
	cr_assert_eq(eval("PUT", "If-Unmodified-Since: " LM "\r\n"), 200);
	cr_assert_eq(eval("GET", "If-Unmodified-Since: " LM_PLUS_1 "\r\n"), 200);
	cr_assert_eq(eval("GET", "If-Unmodified-Since: " LM_MINUS_1 "\r\n"), 412);
	cr_assert_eq(eval("GET", "If-Unmodified-Since: Sun Nov  6 08:49:36 1994\r\n"), 412);
	/* ignored: invalid, two lines, or with If-Match (section 13.1.4) */
	cr_assert_eq(eval("GET", "If-Unmodified-Since: garbage\r\n"), 200);
	cr_assert_eq(eval("GET", "If-Unmodified-Since: " LM_MINUS_1
				 "\r\nIf-Unmodified-Since: " LM_MINUS_1 "\r\n"),
		     200);
	cr_assert_eq(eval("GET", "If-Match: " ETAG "\r\nIf-Unmodified-Since: " LM_MINUS_1 "\r\n"),
		     200);
}

Test(http_etag, cond_evaluation_order)
{
	/* step 1 before step 3: 412 beats 304 */
	cr_assert_eq(eval("GET", "If-Match: \"other\"\r\nIf-None-Match: " ETAG "\r\n"), 412);
	/* step 2 before step 3 */
	cr_assert_eq(eval("GET", "If-Unmodified-Since: " LM_MINUS_1 "\r\nIf-None-Match: *\r\n"),
		     412);
	/* step 1 passes, step 3 fails */
	cr_assert_eq(eval("GET", "If-Match: *\r\nIf-None-Match: " ETAG "\r\n"), 304);
	/* step 2 before step 4 */
	cr_assert_eq(
		eval("GET", "If-Unmodified-Since: " LM_MINUS_1 "\r\nIf-Modified-Since: " LM "\r\n"),
		412);
	cr_assert_eq(eval("GET", "If-Unmodified-Since: " LM "\r\nIf-Modified-Since: " LM "\r\n"),
		     304);
	/* everything passes */
	cr_assert_eq(eval("GET", "If-Match: " ETAG "\r\nIf-Unmodified-Since: " LM
				 "\r\nIf-None-Match: \"x\"\r\n"),
		     200);
}

Test(http_etag, cond_without_etag)
{
	struct http_validators v;

	validators(&v);
	v.etag[0] = '\0';
	v.etag_len = 0;
	cr_assert_eq(http_conditional_evaluate(request("GET", "If-None-Match: \"\"\r\n"), &v), 200);
	cr_assert_eq(http_conditional_evaluate(request("GET", "If-None-Match: *\r\n"), &v), 304);
	cr_assert_eq(http_conditional_evaluate(request("GET", "If-Match: \"\"\r\n"), &v), 412);
	cr_assert_eq(http_conditional_evaluate(request("GET", "If-Match: *\r\n"), &v), 200);
}

/* ------------------------------------------------------------------ */
/* If-Range                                                             */

static bool if_range(const char *value, const struct http_validators *v)
{
	return http_etag_if_range(value, strlen(value), v);
}

Test(http_etag, if_range_entity_tag)
{
	struct http_validators v;

	validators(&v);
	cr_assert(if_range(ETAG, &v));
	cr_assert(!if_range("W/" ETAG, &v)); /* strong comparison only */
	cr_assert(!if_range("\"other\"", &v));
	cr_assert(!if_range(ETAG ", " ETAG, &v));
	cr_assert(!if_range(ETAG " ", &v));
	cr_assert(!if_range("*", &v));
	cr_assert(!if_range("", &v));
	cr_assert(!http_etag_if_range(NULL, 0, &v));
	v.etag_len = 0;
	v.etag[0] = '\0';
	cr_assert(!if_range("\"\"", &v));
}

Test(http_etag, if_range_date_is_exact_match_of_a_strong_last_modified)
{
	struct http_validators v;

	validators(&v);
	cr_assert(if_range(LM, &v));
	cr_assert(if_range("Sunday, 06-Nov-94 08:49:37 GMT", &v));
	cr_assert(if_range("Sun Nov  6 08:49:37 1994", &v));
	/* exact, not "earlier or equal" (section 13.1.5) */
	cr_assert(!if_range(LM_PLUS_1, &v));
	cr_assert(!if_range(LM_MINUS_1, &v));
	cr_assert(!if_range("garbage", &v));
	/* a Last-Modified less than 60 s before now is weak */
	http_validators_init(&v, 1, 2, T_2026 - 59, 0, T_2026);
	cr_assert(!if_range("Wed, 31 Dec 2025 23:59:01 GMT", &v));
	http_validators_init(&v, 1, 2, T_2026 - 60, 0, T_2026);
	cr_assert(if_range("Wed, 31 Dec 2025 23:59:00 GMT", &v));
	v.has_last_modified = false;
	cr_assert(!if_range("Wed, 31 Dec 2025 23:59:00 GMT", &v));
}
