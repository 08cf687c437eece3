/* test_http_range.c - Criterion tests for src/http_range.c. */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_range.h"

/* 2026-01-01 00:00:00 UTC */
#define T_2026 ((time_t)1767225600)
#define T_RFC ((time_t)784111777)

static struct http_ranges rs;

static enum http_range_result parse_max(const char *v, uint64_t size, size_t max)
{
	return http_range_parse(v, strlen(v), size, max, &rs);
}

static enum http_range_result parse(const char *v, uint64_t size)
{
	return parse_max(v, size, HTTP_RANGES_DEFAULT);
}

/* RS holds exactly N ranges, given as first, last pairs. */
static void expect_ranges(const char *v, size_t n, ...)
{
	va_list ap;

	cr_assert_eq(rs.n, n, "\"%s\": %zu ranges, want %zu", v, rs.n, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		uint64_t first = va_arg(ap, uint64_t), last = va_arg(ap, uint64_t);

		cr_assert_eq(rs.r[i].first, first, "\"%s\" #%zu: first %llu, want %llu", v, i,
			     (unsigned long long)rs.r[i].first, (unsigned long long)first);
		cr_assert_eq(rs.r[i].last, last, "\"%s\" #%zu: last %llu, want %llu", v, i,
			     (unsigned long long)rs.r[i].last, (unsigned long long)last);
	}
	va_end(ap);
}

#define U(x) ((uint64_t)(x))

static void expect_partial(const char *v, uint64_t size, size_t n, ...)
{
	va_list ap;

	cr_assert_eq(parse(v, size), HTTP_RANGE_PARTIAL, "\"%s\" of %llu", v,
		     (unsigned long long)size);
	cr_assert_eq(rs.n, n, "\"%s\": %zu ranges, want %zu", v, rs.n, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		uint64_t first = va_arg(ap, uint64_t), last = va_arg(ap, uint64_t);

		cr_assert_eq(rs.r[i].first, first, "\"%s\" #%zu: first %llu, want %llu", v, i,
			     (unsigned long long)rs.r[i].first, (unsigned long long)first);
		cr_assert_eq(rs.r[i].last, last, "\"%s\" #%zu: last %llu, want %llu", v, i,
			     (unsigned long long)rs.r[i].last, (unsigned long long)last);
	}
	va_end(ap);
}

static void expect_ignore(const char *v, uint64_t size)
{
	cr_assert_eq(parse(v, size), HTTP_RANGE_IGNORE, "\"%s\" of %llu not ignored", v,
		     (unsigned long long)size);
	cr_assert_eq(rs.n, 0);
}

static void expect_416(const char *v, uint64_t size)
{
	cr_assert_eq(parse(v, size), HTTP_RANGE_UNSATISFIABLE, "\"%s\" of %llu not 416", v,
		     (unsigned long long)size);
	cr_assert_eq(rs.n, 0);
}

/* ------------------------------------------------------------------ */
/* http_range_parse                                                     */

Test(http_range, rfc9110_14_1_2_examples)
{
	/* representation length 10000 */
	expect_partial("bytes=0-499", 10000, 1, U(0), U(499));
	expect_partial("bytes=500-999", 10000, 1, U(500), U(999));
	expect_partial("bytes=-500", 10000, 1, U(9500), U(9999));
	expect_partial("bytes=9500-", 10000, 1, U(9500), U(9999));
	expect_partial("bytes=0-0,-1", 10000, 2, U(0), U(0), U(9999), U(9999));
	/* with the OWS of erratum 7306 after '=' */
	expect_partial("bytes= 0-999, 4500-5499, -1000", 10000, 3, U(0), U(999), U(4500), U(5499),
		       U(9000), U(9999));
	/* "legal but not canonical": both coalesce to one range */
	expect_partial("bytes=500-600,601-999", 10000, 1, U(500), U(999));
	expect_partial("bytes=500-700,601-999", 10000, 1, U(500), U(999));
}

Test(http_range, single_ranges)
{
	expect_partial("bytes=0-", 1, 1, U(0), U(0));
	expect_partial("bytes=0-0", 1, 1, U(0), U(0));
	expect_partial("bytes=-1", 1, 1, U(0), U(0));
	expect_partial("bytes=0-99", 100, 1, U(0), U(99));
	expect_partial("bytes=99-99", 100, 1, U(99), U(99));
	/* last-pos clipped to the size (section 14.1.2) */
	expect_partial("bytes=50-1000", 100, 1, U(50), U(99));
	/* suffix longer than the file: all of it */
	expect_partial("bytes=-1000", 100, 1, U(0), U(99));
	expect_partial("bytes=-100", 100, 1, U(0), U(99));
	/* big files: positions beyond 4 GiB */
	expect_partial("bytes=4294967296-", U(5000000000), 1, U(4294967296), U(4999999999));
	expect_partial("bytes=-1", U(9223372036854775807), 1, U(9223372036854775806),
		       U(9223372036854775806));
}

Test(http_range, unit_is_case_insensitive_and_other_units_are_ignored)
{
	expect_partial("Bytes=0-1", 10, 1, U(0), U(1));
	expect_partial("BYTES=0-1", 10, 1, U(0), U(1));
	expect_ignore("items=0-1", 10);
	expect_ignore("byte=0-1", 10);
	expect_ignore("bytesx=0-1", 10);
	expect_ignore("none", 10);
	expect_ignore("", 10);
}

Test(http_range, syntax_errors_are_ignored)
{
	expect_ignore("bytes", 10);
	expect_ignore("bytes=", 10);
	expect_ignore("bytes= ", 10);
	expect_ignore("bytes=,", 10);
	expect_ignore("bytes=, ,", 10);
	expect_ignore("bytes 0-1", 10);
	expect_ignore("bytes =0-1", 10);
	expect_ignore("bytes:0-1", 10);
	expect_ignore("bytes=1", 10);
	expect_ignore("bytes=-", 10);
	expect_ignore("bytes=--1", 10);
	expect_ignore("bytes=0--1", 10);
	expect_ignore("bytes=0-1-2", 10);
	expect_ignore("bytes=a-b", 10);
	expect_ignore("bytes=0x1-2", 10);
	expect_ignore("bytes=+1-2", 10);
	expect_ignore("bytes=1-+2", 10);
	expect_ignore("bytes=0 -1", 10);
	expect_ignore("bytes=0- 1", 10);
	expect_ignore("bytes=0-1 2-3", 10);
	expect_ignore("bytes=0-1;2-3", 10);
	expect_ignore("bytes=0-1,x", 10);
	expect_ignore("bytes=0-1,*", 10);
	expect_ignore("bytes=1.5-2", 10);
	expect_ignore("bytes=\xd9\xa1-2", 10); /* an Arabic-Indic digit */
	/* last-pos < first-pos: invalid (section 14.1.1), even among good ones */
	expect_ignore("bytes=1-0", 10);
	expect_ignore("bytes=0-1,5-4", 10);
	expect_ignore("bytes=20-10", 10);
	/* one bad spec spoils the whole field */
	expect_ignore("bytes=0-1,2-3,x", 10);
	expect_ignore("bytes=0-1,2-3,4", 10);
}

Test(http_range, list_whitespace_and_empty_elements)
{
	expect_partial("bytes=0-1,2-3,", 10, 1, U(0), U(3));
	expect_partial("bytes=,0-1", 10, 1, U(0), U(1));
	expect_partial("bytes=0-1 , , 5-6", 10, 2, U(0), U(1), U(5), U(6));
	expect_partial("bytes=\t0-1\t,\t5-6\t", 10, 2, U(0), U(1), U(5), U(6));
	expect_partial("  bytes=0-1  ", 10, 1, U(0), U(1));
}

Test(http_range, unsatisfiable_is_416)
{
	expect_416("bytes=100-", 100);
	expect_416("bytes=100-200", 100);
	expect_416("bytes=100-200,150-", 100);
	expect_416("bytes=-0", 100);
	expect_416("bytes=-0,100-", 100);
	expect_416("bytes=1000-2000, -0", 100);
	/* one satisfiable spec is enough */
	expect_partial("bytes=100-,0-0", 100, 1, U(0), U(0));
	expect_partial("bytes=-0,-1", 100, 1, U(99), U(99));
}

Test(http_range, zero_length_representation)
{
	/* int-ranges cannot be satisfied: 416 with "bytes * /0" */
	expect_416("bytes=0-", 0);
	expect_416("bytes=0-0", 0);
	expect_416("bytes=5-10", 0);
	expect_416("bytes=-0", 0);
	/* a non-zero suffix-range is satisfiable but describes nothing:
	 * ignored (section 14.2), the empty file is sent with 200 */
	expect_ignore("bytes=-5", 0);
	expect_ignore("bytes=0-,-1", 0);
}

Test(http_range, huge_numbers_saturate)
{
	expect_partial("bytes=0-99999999999999999999999999", 100, 1, U(0), U(99));
	expect_416("bytes=99999999999999999999999999-", 100);
	expect_partial("bytes=-99999999999999999999999999", 100, 1, U(0), U(99));
	expect_partial("bytes=0-18446744073709551615", 100, 1, U(0), U(99));
	expect_partial("bytes=0-18446744073709551616", 100, 1, U(0), U(99));
	expect_416("bytes=18446744073709551615-", 100);
	/* both saturate: the order is still checked exactly */
	expect_416("bytes=99999999999999999998-99999999999999999999", 100);
	expect_ignore("bytes=99999999999999999999-99999999999999999998", 100);
	expect_416("bytes=000099999999999999999999-99999999999999999999", 100);
	expect_ignore("bytes=99999999999999999999-0000099999999999999999998", 100);
	/* leading zeros are digits like any other */
	expect_partial("bytes=0000000000000000000000000001-0000000000000000000000000002", 100, 1,
		       U(1), U(2));
}

Test(http_range, coalescing_keeps_request_order)
{
	expect_partial("bytes=0-10,5-20", 100, 1, U(0), U(20));
	expect_partial("bytes=5-20,0-10", 100, 1, U(0), U(20));
	/* adjacent ranges merge too */
	expect_partial("bytes=0-10,11-20", 100, 1, U(0), U(20));
	expect_partial("bytes=11-20,0-10", 100, 1, U(0), U(20));
	/* a gap of one byte keeps them apart */
	expect_partial("bytes=0-10,12-20", 100, 2, U(0), U(10), U(12), U(20));
	/* the order of the request, not of the file */
	expect_partial("bytes=50-60,0-10,20-30", 100, 3, U(50), U(60), U(0), U(10), U(20), U(30));
	/* a range that bridges two takes the place of the first */
	expect_partial("bytes=0-9,20-29,10-19", 100, 1, U(0), U(29));
	expect_partial("bytes=50-59,20-29,0-9,5-25", 100, 2, U(50), U(59), U(0), U(29));
	expect_partial("bytes=90-,0-0,-5,45-55,80-89", 100, 3, U(80), U(99), U(0), U(0), U(45),
		       U(55));
	/* duplicates */
	expect_partial("bytes=0-0,0-0,0-0", 100, 1, U(0), U(0));
	/* the whole file is still a 206 */
	expect_partial("bytes=0-49,50-", 100, 1, U(0), U(99));
}

static void build_list(char *buf, size_t cap, size_t n, uint64_t stride)
{
	size_t len = (size_t)snprintf(buf, cap, "bytes=");

	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%llu-%llu", i ? "," : "",
					(unsigned long long)(i * stride),
					(unsigned long long)(i * stride));
	cr_assert_lt(len, cap);
}

Test(http_range, too_many_ranges_are_ignored)
{
	char buf[40000];

	build_list(buf, sizeof(buf), 16, 2);
	cr_assert_eq(parse(buf, 1000), HTTP_RANGE_PARTIAL);
	cr_assert_eq(rs.n, 16);
	build_list(buf, sizeof(buf), 17, 2);
	expect_ignore(buf, 1000);
	/* the same ranges overlapping: coalesced, so not too many */
	build_list(buf, sizeof(buf), 3000, 0);
	expect_partial(buf, 1000, 1, U(0), U(0));
	/* adjacent single bytes, as many as you like: one range */
	build_list(buf, sizeof(buf), 2000, 1);
	expect_partial(buf, 1000, 1, U(0), U(999));
	/* the limit applies while reading left to right */
	expect_partial("bytes=0-0,2-2,1-1", 1000, 1, U(0), U(2));
	/* ... a range that merges needs no new slot ... */
	cr_assert_eq(parse_max("bytes=0-0,2-2,1-1", 1000, 2), HTTP_RANGE_PARTIAL);
	expect_ranges("bytes=0-0,2-2,1-1", 1, U(0), U(2));
	/* ... but a third disjoint one is one too many, even if a later one
	 * would have merged them all */
	cr_assert_eq(parse_max("bytes=0-0,2-2,4-4,1-3", 1000, 2), HTTP_RANGE_IGNORE);
	cr_assert_eq(parse_max("bytes=0-0,2-2,1-3,4-4", 1000, 2), HTTP_RANGE_PARTIAL);
	expect_ranges("bytes=0-0,2-2,1-3,4-4", 1, U(0), U(4));
}

Test(http_range, max_ranges_setting)
{
	/* 0 turns ranges off */
	cr_assert_eq(parse_max("bytes=0-1", 10, 0), HTTP_RANGE_IGNORE);
	/* 1: single ranges only (a list that coalesces to one is fine) */
	cr_assert_eq(parse_max("bytes=0-1", 10, 1), HTTP_RANGE_PARTIAL);
	cr_assert_eq(parse_max("bytes=0-1,5-6", 10, 1), HTTP_RANGE_IGNORE);
	cr_assert_eq(parse_max("bytes=0-1,1-6", 10, 1), HTTP_RANGE_PARTIAL);
	expect_ranges("bytes=0-1,1-6", 1, U(0), U(6));
	/* clamped to HTTP_RANGES_MAX */
	{
		char buf[4096];

		build_list(buf, sizeof(buf), HTTP_RANGES_MAX, 2);
		cr_assert_eq(parse_max(buf, 1000, 1000), HTTP_RANGE_PARTIAL);
		cr_assert_eq(rs.n, HTTP_RANGES_MAX);
		build_list(buf, sizeof(buf), HTTP_RANGES_MAX + 1, 2);
		cr_assert_eq(parse_max(buf, 1000, 1000), HTTP_RANGE_IGNORE);
	}
	/* an unsatisfiable set is 416 whatever the limit, except 0 */
	cr_assert_eq(parse_max("bytes=20-", 10, 1), HTTP_RANGE_UNSATISFIABLE);
}

Test(http_range, apache_killer_is_harmless)
{
	/* CVE-2011-3192: "bytes=0-,5-0,5-1,..." - here invalid (5-0) */
	char buf[20000];
	size_t len = (size_t)snprintf(buf, sizeof(buf), "bytes=0-");

	for (int i = 0; i < 1300; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, ",5-%d", i);
	expect_ignore(buf, 100000);
	/* the overlapping variant that is valid coalesces into one part */
	len = (size_t)snprintf(buf, sizeof(buf), "bytes=0-");
	for (int i = 5; i < 1300; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, ",5-%d", i);
	expect_partial(buf, 100000, 1, U(0), U(99999));
}

Test(http_range, null_value)
{
	rs.n = 7;
	cr_assert_eq(http_range_parse(NULL, 0, 10, 16, &rs), HTTP_RANGE_IGNORE);
	cr_assert_eq(rs.n, 0);
}

Test(http_range, embedded_nul_is_invalid)
{
	cr_assert_eq(http_range_parse("bytes=0-1\0,2-3", 14, 10, 16, &rs), HTTP_RANGE_IGNORE);
	cr_assert_eq(http_range_parse("bytes=0-1\0", 10, 10, 16, &rs), HTTP_RANGE_IGNORE);
}

/* ------------------------------------------------------------------ */
/* http_range_select: method, If-Range, field counts                   */

static char head_buf[4096];
static struct http_request req;

static const struct http_request *request(const char *method, const char *fields)
{
	int status = 0;
	int n = snprintf(head_buf, sizeof(head_buf), "%s /f HTTP/1.1\r\nHost: x\r\n%s\r\n", method,
			 fields);

	cr_assert(n > 0 && (size_t)n < sizeof(head_buf));
	cr_assert_eq(http_parse_request(head_buf, (size_t)n, NULL, &req, &status), HTTP_PARSE_DONE,
		     "%s", head_buf);
	return &req;
}

#define ETAG "\"1-2-ae1b981bc490a03\""
#define LM "Sun, 06 Nov 1994 08:49:37 GMT"

static enum http_range_result sel(const char *method, const char *fields)
{
	struct http_validators v;

	http_validators_init(&v, 1, 2, T_RFC, 3, T_2026);
	cr_assert_str_eq(v.etag, ETAG);
	return http_range_select(request(method, fields), &v, 1000, HTTP_RANGES_DEFAULT, &rs);
}

Test(http_range, select_plain)
{
	cr_assert_eq(sel("GET", ""), HTTP_RANGE_IGNORE);
	cr_assert_eq(sel("GET", "Range: bytes=0-9\r\n"), HTTP_RANGE_PARTIAL);
	expect_ranges("bytes=0-9", 1, U(0), U(9));
	cr_assert_eq(sel("GET", "range: bytes=1000-\r\n"), HTTP_RANGE_UNSATISFIABLE);
	cr_assert_eq(sel("GET", "Range: bytes=x\r\n"), HTTP_RANGE_IGNORE);
}

Test(http_range, select_only_for_get)
{
	/* section 14.2: GET is the only method with range handling */
	cr_assert_eq(sel("HEAD", "Range: bytes=0-9\r\n"), HTTP_RANGE_IGNORE);
	cr_assert_eq(sel("POST", "Range: bytes=0-9\r\n"), HTTP_RANGE_IGNORE);
	cr_assert_eq(sel("PUT", "Range: bytes=0-9\r\n"), HTTP_RANGE_IGNORE);
	cr_assert_eq(sel("HEAD", "Range: bytes=5000-\r\n"), HTTP_RANGE_IGNORE);
}

Test(http_range, select_two_range_lines_are_ignored)
{
	cr_assert_eq(sel("GET", "Range: bytes=0-9\r\nRange: bytes=20-29\r\n"), HTTP_RANGE_IGNORE);
}

Test(http_range, select_if_range)
{
	cr_assert_eq(sel("GET", "Range: bytes=0-9\r\nIf-Range: " ETAG "\r\n"), HTTP_RANGE_PARTIAL);
	cr_assert_eq(sel("GET", "If-Range: " ETAG "\r\nRange: bytes=0-9\r\n"), HTTP_RANGE_PARTIAL);
	cr_assert_eq(sel("GET", "Range: bytes=0-9\r\nIf-Range: \"old\"\r\n"), HTTP_RANGE_IGNORE);
	cr_assert_eq(sel("GET", "Range: bytes=0-9\r\nIf-Range: W/" ETAG "\r\n"), HTTP_RANGE_IGNORE);
	cr_assert_eq(sel("GET", "Range: bytes=0-9\r\nIf-Range: " LM "\r\n"), HTTP_RANGE_PARTIAL);
	cr_assert_eq(sel("GET", "Range: bytes=0-9\r\nIf-Range: Sun, 06 Nov 1994 08:49:38 GMT\r\n"),
		     HTTP_RANGE_IGNORE);
	cr_assert_eq(sel("GET", "Range: bytes=0-9\r\nIf-Range: garbage\r\n"), HTTP_RANGE_IGNORE);
	cr_assert_eq(sel("GET", "Range: bytes=0-9\r\nIf-Range: " ETAG "\r\nIf-Range: " ETAG "\r\n"),
		     HTTP_RANGE_IGNORE);
	/* a false If-Range also hides a 416 */
	cr_assert_eq(sel("GET", "Range: bytes=5000-\r\nIf-Range: \"old\"\r\n"), HTTP_RANGE_IGNORE);
	cr_assert_eq(sel("GET", "Range: bytes=5000-\r\nIf-Range: " ETAG "\r\n"),
		     HTTP_RANGE_UNSATISFIABLE);
	/* If-Range without Range is ignored */
	cr_assert_eq(sel("GET", "If-Range: " ETAG "\r\n"), HTTP_RANGE_IGNORE);
}

/* ------------------------------------------------------------------ */
/* Content-Range and multipart/byteranges                              */

Test(http_range, content_range_values)
{
	char out[HTTP_CONTENT_RANGE_SIZE];
	struct http_range r = { 42, 1233 };
	struct http_range big = { UINT64_MAX - 1, UINT64_MAX - 1 };

	/* RFC 9110 section 14.4 examples */
	cr_assert_eq(http_range_content_range(out, sizeof(out), &r, 1234), 18);
	cr_assert_str_eq(out, "bytes 42-1233/1234");
	cr_assert_eq(http_range_content_range(out, sizeof(out), NULL, 1234), 12);
	cr_assert_str_eq(out, "bytes */1234");
	/* the widest value fits */
	cr_assert_gt(http_range_content_range(out, sizeof(out), &big, UINT64_MAX), 0);
	cr_assert_str_eq(out, "bytes 18446744073709551614-18446744073709551614/"
			      "18446744073709551615");
}

Test(http_range, content_range_needs_room)
{
	char out[32];
	struct http_range r = { 0, 9 };

	/* "bytes 0-9/10" is 12 bytes: needs 13 with the NUL */
	memset(out, 'x', sizeof(out));
	cr_assert_eq(http_range_content_range(out, 12, &r, 10), 0);
	cr_assert_eq(http_range_content_range(out, 13, &r, 10), 12);
	cr_assert_str_eq(out, "bytes 0-9/10");
	cr_assert_eq(http_range_content_range(NULL, 0, &r, 10), 0);
}

Test(http_range, boundary)
{
	char a[HTTP_RANGE_BOUNDARY_SIZE], b[HTTP_RANGE_BOUNDARY_SIZE];

	http_range_boundary(a, 0x0123456789abcdefull);
	cr_assert_str_eq(a, "mthttpd-0123456789abcdef");
	cr_assert_eq(strlen(a), HTTP_RANGE_BOUNDARY_LEN);
	http_range_boundary(b, 0);
	cr_assert_str_eq(b, "mthttpd-0000000000000000");
	/* RFC 2046 bchars only, no space at the end, <= 70 */
	for (size_t i = 0; a[i]; i++)
		cr_assert(strchr("abcdefghijklmnopqrstuvwxyz0123456789-", a[i]));
}

Test(http_range, part_head_and_tail)
{
	char out[256];
	struct http_range r = { 500, 999 };

	cr_assert_eq(http_range_part_head(out, sizeof(out), "B", "application/pdf", &r, 8000),
		     http_range_part_head_len("B", "application/pdf", &r, 8000));
	cr_assert_str_eq(out, "\r\n--B\r\nContent-Type: application/pdf\r\n"
			      "Content-Range: bytes 500-999/8000\r\n\r\n");
	cr_assert_gt(http_range_part_head(out, sizeof(out), "B", NULL, &r, 8000), 0);
	cr_assert_str_eq(out, "\r\n--B\r\nContent-Range: bytes 500-999/8000\r\n\r\n");
	cr_assert_eq(http_range_multipart_tail(out, sizeof(out), "B"), 9);
	cr_assert_str_eq(out, "\r\n--B--\r\n");
	/* too small */
	cr_assert_eq(http_range_part_head(out, 10, "B", NULL, &r, 8000), 0);
	cr_assert_eq(http_range_multipart_tail(out, 9, "B"), 0);
	cr_assert_eq(http_range_multipart_tail(out, 10, "B"), 9);
}

/* Assemble the whole multipart body for RS over CONTENT as a server would
 * send it; returns its length. */
static size_t assemble(char *out, size_t cap, const struct http_ranges *set, const char *content,
		       uint64_t size, const char *boundary, const char *ctype)
{
	size_t len = 0;

	for (size_t i = 0; i < set->n; i++) {
		uint64_t n = set->r[i].last - set->r[i].first + 1;
		size_t h = http_range_part_head(out + len, cap - len, boundary, ctype, &set->r[i],
						size);

		cr_assert_gt(h, 0);
		len += h;
		cr_assert_lt(len + n, cap);
		memcpy(out + len, content + set->r[i].first, n);
		len += n;
	}
	len += http_range_multipart_tail(out + len, cap - len, boundary);
	return len;
}

Test(http_range, rfc9110_14_6_multipart_example)
{
	static char content[8000], body[20000];
	char boundary[] = "THIS_STRING_SEPARATES";
	size_t len;

	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (char)('a' + i % 26);
	cr_assert_eq(parse("bytes=500-999,7000-7999", 8000), HTTP_RANGE_PARTIAL);
	len = assemble(body, sizeof(body), &rs, content, 8000, boundary, "application/pdf");
	cr_assert_eq(http_range_multipart_length(&rs, boundary, "application/pdf", 8000), len);
	cr_assert(memcmp(body,
			 "\r\n--THIS_STRING_SEPARATES\r\nContent-Type: application/pdf\r\n"
			 "Content-Range: bytes 500-999/8000\r\n\r\n",
			 95) == 0);
	cr_assert(memcmp(body + len - 29, "\r\n--THIS_STRING_SEPARATES--\r\n", 29) == 0);
}

Test(http_range, multipart_length_is_exact)
{
	static char content[100000], body[200000];
	char boundary[HTTP_RANGE_BOUNDARY_SIZE];
	static const char *const specs[] = {
		"bytes=0-0,-1",
		"bytes=0-9,20-29,40-49,60-69,99990-",
		"bytes=-1,0-0,5-5,50000-59999,9-99,1000-9999,10000-10000",
		("bytes=1-1,3-3,5-5,7-7,9-9,11-11,13-13,15-15,17-17,19-19,21-21,23-23,25-25,"
		 "27-27,29-29,31-31"),
	};

	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (char)i;
	http_range_boundary(boundary, 0xdeadbeefcafef00dull);
	for (size_t i = 0; i < ARRAY_SIZE(specs); i++) {
		for (int t = 0; t < 2; t++) {
			const char *ctype = t ? "text/plain; charset=utf-8" : NULL;
			size_t len;

			cr_assert_eq(parse(specs[i], sizeof(content)), HTTP_RANGE_PARTIAL);
			cr_assert_gt(rs.n, 1);
			len = assemble(body, sizeof(body), &rs, content, sizeof(content), boundary,
				       ctype);
			cr_assert_eq(
				http_range_multipart_length(&rs, boundary, ctype, sizeof(content)),
				len, "%s", specs[i]);
		}
	}
}
