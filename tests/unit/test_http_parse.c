/* test_http_parse.c - the request-head parser (src/http_parse.c).
 *
 * Every parse copies its input into a heap block of exactly LEN bytes, so
 * ASan reports any read past the end the parser was given. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

static struct http_request req;
static int st;
static char *g_buf;
static size_t g_len;

static void release(void)
{
	free(g_buf);
	g_buf = NULL;
}

TestSuite(http_parse, .fini = release);

/* A printable form of S for failure messages. */
static const char *esc(const char *s, size_t n)
{
	static char out[512];
	size_t o = 0;

	for (size_t i = 0; i < n && o < sizeof(out) - 8; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r')
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\r");
		else if (c == '\n')
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\n");
		else if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

static enum http_parse_status parse_lim(const char *s, size_t n, const struct http_limits *lim)
{
	free(g_buf);
	g_buf = malloc(n ? n : 1);
	cr_assert_not_null(g_buf);
	if (n)
		memcpy(g_buf, s, n);
	g_len = n;
	st = 0;
	return http_parse_request(g_buf, n, lim, &req, &st);
}

static void expect_done_n(const char *s, size_t n, const struct http_limits *lim)
{
	enum http_parse_status r = parse_lim(s, n, lim);

	cr_assert_eq(r, HTTP_PARSE_DONE, "want DONE for \"%s\", got %d (status %d)", esc(s, n), r,
		     st);
}

static void expect_err_n(const char *s, size_t n, const struct http_limits *lim, int want)
{
	enum http_parse_status r = parse_lim(s, n, lim);

	cr_assert_eq(r, HTTP_PARSE_ERROR, "want ERROR %d for \"%s\", got %d", want, esc(s, n), r);
	cr_assert_eq(st, want, "want status %d for \"%s\", got %d", want, esc(s, n), st);
}

static void expect_more_n(const char *s, size_t n, const struct http_limits *lim)
{
	enum http_parse_status r = parse_lim(s, n, lim);

	cr_assert_eq(r, HTTP_PARSE_NEED_MORE, "want NEED_MORE for \"%s\", got %d (status %d)",
		     esc(s, n), r, st);
}

/* Literals may hold NUL bytes: take their size, not their strlen. */
#define DONE(lit) expect_done_n((lit), sizeof(lit) - 1, NULL)
#define ERR(lit, code) expect_err_n((lit), sizeof(lit) - 1, NULL, (code))
#define MORE(lit) expect_more_n((lit), sizeof(lit) - 1, NULL)

#define assert_str(s, lit)                                                                         \
	do {                                                                                       \
		struct mth_str s_ = (s);                                                           \
		cr_assert(s_.p != NULL, "%s is NULL", #s);                                         \
		cr_assert(s_.len == sizeof(lit) - 1 && memcmp(s_.p, (lit), s_.len) == 0,           \
			  "%s is \"%s\", want \"%s\"", #s, esc(s_.p, s_.len), (lit));              \
	} while (0)

/* A request of one line and the single field "Host: h". */
#define REQ(line) line "\r\nHost: h\r\n\r\n"

/* ---- the request line ------------------------------------------------- */

Test(http_parse, simple_get)
{
	static const char r[] = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";

	DONE(r);
	cr_assert_eq(req.method, HTTP_M_GET);
	assert_str(req.method_token, "GET");
	assert_str(req.target, "/index.html?q=1");
	assert_str(req.path, "/index.html?q=1");
	cr_assert_eq(req.target_authority.len, 0);
	cr_assert_eq(req.version_major, 1);
	cr_assert_eq(req.version_minor, 1);
	cr_assert_eq(req.n_headers, 1);
	assert_str(req.headers[0].name, "Host");
	assert_str(req.headers[0].value, "example.com");
	cr_assert(req.has_host);
	assert_str(req.host, "example.com");
	cr_assert_eq(req.head_len, sizeof(r) - 1);
	cr_assert_eq(req.content_length, -1);
	cr_assert_not(req.has_transfer_encoding);
	cr_assert_not(req.te_chunked);
	cr_assert_not(req.conn_close);
	cr_assert_not(req.conn_keep_alive);
	cr_assert_not(req.expect_continue);
	cr_assert_eq(req.content_type.len, 0);
	/* Every string points into the caller's buffer. */
	cr_assert_eq(req.method_token.p, g_buf);
	cr_assert_eq(req.target.p, g_buf + 4);
	cr_assert_eq(req.host.p, g_buf + strlen("GET /index.html?q=1 HTTP/1.1\r\nHost: "));
}

Test(http_parse, all_methods)
{
	static const struct {
		char name[16];
		enum http_method m;
	} tab[] = {
		{ "GET", HTTP_M_GET },	       { "HEAD", HTTP_M_HEAD },
		{ "POST", HTTP_M_POST },       { "PUT", HTTP_M_PUT },
		{ "DELETE", HTTP_M_DELETE },   { "CONNECT", HTTP_M_CONNECT },
		{ "OPTIONS", HTTP_M_OPTIONS }, { "TRACE", HTTP_M_TRACE },
		{ "PATCH", HTTP_M_PATCH },
	};
	char buf[128];

	for (size_t i = 0; i < ARRAY_SIZE(tab); i++) {
		int n = snprintf(buf, sizeof(buf), "%s / HTTP/1.1\r\nHost: h\r\n\r\n", tab[i].name);

		expect_done_n(buf, (size_t)n, NULL);
		cr_assert_eq(req.method, tab[i].m, "%s", tab[i].name);
		cr_assert_eq(req.method_token.len, strlen(tab[i].name));
		cr_assert_str_eq(http_method_name(req.method), tab[i].name);
	}
}

/* RFC 9110 section 9.1: methods are case-sensitive; an unknown but valid
 * token is DONE with HTTP_M_UNKNOWN so that the router can answer 501. */
Test(http_parse, unknown_methods)
{
	DONE(REQ("get / HTTP/1.1"));
	cr_assert_eq(req.method, HTTP_M_UNKNOWN);
	assert_str(req.method_token, "get");

	DONE(REQ("M-SEARCH / HTTP/1.1"));
	cr_assert_eq(req.method, HTTP_M_UNKNOWN);
	assert_str(req.method_token, "M-SEARCH");

	DONE(REQ("PROPFIND / HTTP/1.1"));
	cr_assert_eq(req.method, HTTP_M_UNKNOWN);

	DONE(REQ("GETS / HTTP/1.1"));
	cr_assert_eq(req.method, HTTP_M_UNKNOWN);

	DONE(REQ("!#$%&'*+-.^_`|~09az / HTTP/1.1"));
	cr_assert_eq(req.method, HTTP_M_UNKNOWN);
}

Test(http_parse, method_length_limit)
{
	/* 32 characters: a token we do not know, 501 for the router. */
	DONE(REQ("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF / HTTP/1.1"));
	cr_assert_eq(req.method, HTTP_M_UNKNOWN);
	cr_assert_eq(req.method_token.len, 32);
	/* 33: garbage, 400, already before the rest of the line arrives. */
	ERR(REQ("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG / HTTP/1.1"), 400);
	ERR("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG", 400);
	MORE("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF");
}

Test(http_parse, method_bad_chars)
{
	ERR(REQ("GE(T / HTTP/1.1"), 400);
	ERR(REQ("GE/T / HTTP/1.1"), 400);
	ERR(REQ("GET: / HTTP/1.1"), 400);
	ERR(REQ("G\x80T / HTTP/1.1"), 400);
	ERR(REQ(" GET / HTTP/1.1"), 400);
	ERR(REQ("\tGET / HTTP/1.1"), 400);
}

Test(http_parse, method_names)
{
	int bogus = -1;

	cr_assert_str_eq(http_method_name(HTTP_M_GET), "GET");
	cr_assert_str_eq(http_method_name(HTTP_M_HEAD), "HEAD");
	cr_assert_str_eq(http_method_name(HTTP_M_POST), "POST");
	cr_assert_str_eq(http_method_name(HTTP_M_PUT), "PUT");
	cr_assert_str_eq(http_method_name(HTTP_M_DELETE), "DELETE");
	cr_assert_str_eq(http_method_name(HTTP_M_CONNECT), "CONNECT");
	cr_assert_str_eq(http_method_name(HTTP_M_OPTIONS), "OPTIONS");
	cr_assert_str_eq(http_method_name(HTTP_M_TRACE), "TRACE");
	cr_assert_str_eq(http_method_name(HTTP_M_PATCH), "PATCH");
	cr_assert_str_eq(http_method_name(HTTP_M_UNKNOWN), "UNKNOWN");
	cr_assert_str_eq(http_method_name((enum http_method)99), "UNKNOWN");
	cr_assert_str_eq(http_method_name((enum http_method)bogus), "UNKNOWN");
}

Test(http_parse, default_limits)
{
	cr_assert_eq(http_default_limits.max_request_line, 8192);
	cr_assert_eq(http_default_limits.max_header_bytes, 16384);
	cr_assert_eq(http_default_limits.max_headers, 100);
	cr_assert_leq(http_default_limits.max_headers, HTTP_MAX_HEADERS);
}

Test(http_parse, absolute_form)
{
	DONE(REQ("GET http://example.com:8080/a/b?c=d HTTP/1.1"));
	assert_str(req.target, "http://example.com:8080/a/b?c=d");
	assert_str(req.target_authority, "example.com:8080");
	assert_str(req.path, "/a/b?c=d");
	/* The Host field is still reported as sent; the router prefers the
	 * authority (RFC 9112 section 3.2.2). */
	assert_str(req.host, "h");

	/* A "//" in the path is the path's business, not the authority's. */
	DONE(REQ("GET http://a//x HTTP/1.1"));
	assert_str(req.target_authority, "a");
	assert_str(req.path, "//x");

	DONE(REQ("GET http://[::1]:80/ HTTP/1.1"));
	assert_str(req.target_authority, "[::1]:80");
	assert_str(req.path, "/");
}

Test(http_parse, absolute_form_empty_path)
{
	DONE(REQ("GET http://example.com HTTP/1.1"));
	assert_str(req.target_authority, "example.com");
	assert_str(req.path, "/");
	/* The "/" is a static string, not a byte of the buffer. */
	cr_assert(req.path.p < g_buf || req.path.p >= g_buf + g_len);
}

Test(http_parse, absolute_form_query_without_path)
{
	/* The authority ends at '?'; the path is the rest, as sent. */
	DONE(REQ("GET http://example.com?x=1 HTTP/1.1"));
	assert_str(req.target_authority, "example.com");
	assert_str(req.path, "?x=1");
}

Test(http_parse, absolute_form_scheme_case)
{
	DONE(REQ("GET HTTP://Example.COM/x HTTP/1.1"));
	assert_str(req.target_authority, "Example.COM");
	assert_str(req.path, "/x");
	DONE(REQ("GET hTtP://a/ HTTP/1.1"));
	assert_str(req.target_authority, "a");
}

Test(http_parse, absolute_form_errors)
{
	ERR(REQ("GET http:// HTTP/1.1"), 400);
	ERR(REQ("GET http:///x HTTP/1.1"), 400);
	ERR(REQ("GET http://?x HTTP/1.1"), 400);
	ERR(REQ("GET http://user@host/ HTTP/1.1"), 400);
	ERR(REQ("GET http://user:pw@host HTTP/1.1"), 400);
	ERR(REQ("GET https://example.com/ HTTP/1.1"), 400);
	ERR(REQ("GET ftp://example.com/ HTTP/1.1"), 400);
	ERR(REQ("GET http:/x HTTP/1.1"), 400);
	ERR(REQ("GET http: HTTP/1.1"), 400);
	ERR(REQ("GET http HTTP/1.1"), 400);
}

Test(http_parse, other_target_forms)
{
	ERR(REQ("OPTIONS * HTTP/1.1"), 400);		   /* asterisk-form */
	ERR(REQ("CONNECT example.com:443 HTTP/1.1"), 400); /* authority-form */
	ERR(REQ("GET index.html HTTP/1.1"), 400);
	ERR(REQ("GET ?x HTTP/1.1"), 400);
	ERR(REQ("GET . HTTP/1.1"), 400);
}

Test(http_parse, target_bad_bytes)
{
	ERR(REQ("GET /a\x01 HTTP/1.1"), 400);
	ERR(REQ("GET /a\x1f HTTP/1.1"), 400);
	ERR(REQ("GET /a\x7f HTTP/1.1"), 400);
	ERR(REQ("GET /a\x80 HTTP/1.1"), 400);
	ERR(REQ("GET /\xc3\xa9 HTTP/1.1"), 400);
	ERR(REQ("GET /\xff HTTP/1.1"), 400);
	ERR(REQ("GET /a\tb HTTP/1.1"), 400);
	ERR(REQ("GET /a\0b HTTP/1.1"), 400);
	/* Every other VCHAR is allowed; percent-decoding is path.c's job. */
	DONE(REQ("GET /!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ HTTP/1.1"));
	assert_str(req.path, "/!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
}

Test(http_parse, request_line_spacing)
{
	ERR(REQ("GET  / HTTP/1.1"), 400);
	ERR(REQ("GET /  HTTP/1.1"), 400);
	ERR(REQ("GET / HTTP/1.1 "), 400);
	ERR(REQ("GET\t/ HTTP/1.1"), 400);
	ERR(REQ("GET /\tHTTP/1.1"), 400);
	ERR(REQ("GET / a HTTP/1.1"), 400);
	ERR(REQ("GET /"), 400); /* HTTP/0.9 simple request */
	ERR(REQ("GET / "), 400);
	ERR(REQ("GET"), 400);
	ERR(REQ("GET HTTP/1.1"), 400);
	ERR(REQ(""), 400);
	ERR(REQ("/ HTTP/1.1"), 400);
}

Test(http_parse, http10_without_host)
{
	static const char r[] = "GET /x HTTP/1.0\r\n\r\n";

	DONE(r);
	cr_assert_eq(req.version_major, 1);
	cr_assert_eq(req.version_minor, 0);
	cr_assert_not(req.has_host);
	cr_assert_eq(req.host.len, 0);
	cr_assert_eq(req.n_headers, 0);
	cr_assert_eq(req.head_len, sizeof(r) - 1);

	DONE("GET /x HTTP/1.0\r\nUser-Agent: t\r\n\r\n");
	cr_assert_not(req.has_host);
}

/* RFC 9112 section 3.2. */
Test(http_parse, http11_without_host)
{
	ERR("GET / HTTP/1.1\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHosts: x\r\n\r\n", 400);
	ERR("GET http://a/ HTTP/1.1\r\n\r\n", 400);
	ERR("GET / HTTP/1.9\r\n\r\n", 400);
}

Test(http_parse, version_minor)
{
	DONE(REQ("GET / HTTP/1.0"));
	cr_assert_eq(req.version_minor, 0);
	DONE(REQ("GET / HTTP/1.1"));
	cr_assert_eq(req.version_minor, 1);
	DONE(REQ("GET / HTTP/1.2"));
	cr_assert_eq(req.version_major, 1);
	cr_assert_eq(req.version_minor, 1);
	DONE(REQ("GET / HTTP/1.9"));
	cr_assert_eq(req.version_minor, 1);
}

Test(http_parse, version_505)
{
	ERR(REQ("GET / HTTP/2.0"), 505);
	ERR(REQ("GET / HTTP/0.9"), 505);
	ERR(REQ("GET / HTTP/3.0"), 505);
	ERR(REQ("GET / HTTP/9.9"), 505);
	ERR(REQ("GET / HTTP/0.0"), 505);
	/* Known as soon as the request line is complete. */
	ERR("GET / HTTP/2.0\r\n", 505);
	MORE("GET / HTTP/2.0\r");
}

Test(http_parse, version_malformed)
{
	ERR(REQ("GET / http/1.1"), 400);
	ERR(REQ("GET / HTTP/1"), 400);
	ERR(REQ("GET / HTTP/1."), 400);
	ERR(REQ("GET / HTTP/1.10"), 400);
	ERR(REQ("GET / HTTP/11.1"), 400);
	ERR(REQ("GET / HTTP/1,1"), 400);
	ERR(REQ("GET / HTTP/a.1"), 400);
	ERR(REQ("GET / HTTP/1.b"), 400);
	ERR(REQ("GET / HTTP 1.1"), 400);
	ERR(REQ("GET / HTTPS/1.1"), 400);
	ERR(REQ("GET / HTTP/2"), 400);
	ERR(REQ("GET / HTTP/"), 400);
	ERR(REQ("GET / HTTP/\xb9.1"), 400);
	/* A wrong byte is reported without waiting for the rest. */
	ERR("GET / XTTP", 400);
	ERR("GET / HTTP/1.1x", 400);
}

/* ---- incremental input, pipelining, line endings ------------------------ */

/* Where a string of REQ lies: an offset into the buffer, or a pointer
 * outside it (the static "/" and empty strings). */
static void assert_same_str(struct mth_str a, const char *abase, struct mth_str b,
			    const char *bbase, size_t len, const char *what)
{
	uintptr_t ap = (uintptr_t)a.p, bp = (uintptr_t)b.p;
	uintptr_t ab = (uintptr_t)abase, bb = (uintptr_t)bbase;
	bool a_in = ap >= ab && ap <= ab + len, b_in = bp >= bb && bp <= bb + len;

	cr_assert_eq(a.len, b.len, "%s: length %zu vs %zu", what, a.len, b.len);
	cr_assert_eq(a_in, b_in, "%s: one in the buffer, one outside", what);
	if (a_in)
		cr_assert_eq(ap - ab, bp - bb, "%s: offset differs", what);
	else if (a.len)
		cr_assert_eq(ap, bp, "%s: static string differs", what);
}

static void assert_same_request(const struct http_request *a, const char *abase,
				const struct http_request *b, const char *bbase, size_t len)
{
	cr_assert_eq(a->method, b->method);
	assert_same_str(a->method_token, abase, b->method_token, bbase, len, "method_token");
	assert_same_str(a->target, abase, b->target, bbase, len, "target");
	assert_same_str(a->target_authority, abase, b->target_authority, bbase, len,
			"target_authority");
	assert_same_str(a->path, abase, b->path, bbase, len, "path");
	cr_assert_eq(a->version_major, b->version_major);
	cr_assert_eq(a->version_minor, b->version_minor);
	cr_assert_eq(a->n_headers, b->n_headers);
	for (size_t i = 0; i < a->n_headers; i++) {
		assert_same_str(a->headers[i].name, abase, b->headers[i].name, bbase, len, "name");
		assert_same_str(a->headers[i].value, abase, b->headers[i].value, bbase, len,
				"value");
	}
	cr_assert_eq(a->head_len, b->head_len);
	cr_assert_eq(a->has_host, b->has_host);
	assert_same_str(a->host, abase, b->host, bbase, len, "host");
	cr_assert_eq(a->content_length, b->content_length);
	cr_assert_eq(a->has_transfer_encoding, b->has_transfer_encoding);
	cr_assert_eq(a->te_chunked, b->te_chunked);
	cr_assert_eq(a->conn_close, b->conn_close);
	cr_assert_eq(a->conn_keep_alive, b->conn_keep_alive);
	cr_assert_eq(a->expect_continue, b->expect_continue);
	assert_same_str(a->content_type, abase, b->content_type, bbase, len, "content_type");
}

/* Feed every prefix of S (each in a block of exactly that size).  The
 * answers must be NEED_MORE up to some length and then one and the same
 * outcome for every longer prefix: a longer buffer never changes a verdict.
 * Returns the final answer; REQ and G_BUF then hold the full parse. */
static enum http_parse_status check_prefixes(const char *s, size_t n, const struct http_limits *lim)
{
	static struct http_request first;
	enum http_parse_status r, settled = HTTP_PARSE_NEED_MORE;
	int settled_status = 0;
	size_t settled_at = 0;
	char *settled_buf = NULL;

	for (size_t k = 0; k <= n; k++) {
		char *b = malloc(k ? k : 1);
		int s_k = 0;

		cr_assert_not_null(b);
		memcpy(b, s, k);
		r = http_parse_request(b, k, lim, &req, &s_k);
		if (settled == HTTP_PARSE_NEED_MORE) {
			if (r == HTTP_PARSE_NEED_MORE) {
				free(b);
				continue;
			}
			if (r == HTTP_PARSE_DONE) {
				cr_assert_eq(req.head_len, k,
					     "DONE before the last byte of the head");
				first = req;
			}
			settled = r;
			settled_status = s_k;
			settled_at = k;
			settled_buf = b;
			continue;
		}
		cr_assert_eq(r, settled, "\"%s\": %d at %zu bytes but %d at %zu", esc(s, n),
			     settled, settled_at, r, k);
		if (r == HTTP_PARSE_ERROR)
			cr_assert_eq(s_k, settled_status, "\"%s\": status %d then %d", esc(s, n),
				     settled_status, s_k);
		if (r == HTTP_PARSE_DONE)
			assert_same_request(&req, b, &first, settled_buf, k);
		free(b);
	}
	free(settled_buf);
	parse_lim(s, n, lim); /* leave the full parse in REQ */
	return settled;
}

Test(http_parse, incremental_byte_by_byte)
{
	static const char r[] = "\r\n\r\n"
				"POST http://example.com/upload?x=1 HTTP/1.1\r\n"
				"Host: example.com\r\n"
				"Content-Type: application/json\r\n"
				"Content-Length:  42 \r\n"
				"Connection: keep-alive, Upgrade\r\n"
				"Expect: 100-continue\r\n"
				"X-Empty:\r\n"
				"\r\n";
	static struct http_request whole;
	char *copy = malloc(sizeof(r) - 1);
	int s = 0;

	cr_assert_not_null(copy);
	memcpy(copy, r, sizeof(r) - 1);
	cr_assert_eq(http_parse_request(copy, sizeof(r) - 1, NULL, &whole, &s), HTTP_PARSE_DONE);

	/* One byte at a time: NEED_MORE for every proper prefix, then DONE. */
	for (size_t k = 0; k < sizeof(r) - 1; k++)
		expect_more_n(r, k, NULL);
	expect_done_n(r, sizeof(r) - 1, NULL);
	assert_same_request(&req, g_buf, &whole, copy, sizeof(r) - 1);

	cr_assert_eq(check_prefixes(r, sizeof(r) - 1, NULL), HTTP_PARSE_DONE);
	cr_assert_eq(req.head_len, sizeof(r) - 1);
	cr_assert_eq(req.content_length, 42);
	cr_assert(req.conn_keep_alive);
	cr_assert(req.expect_continue);
	assert_str(req.content_type, "application/json");
	assert_str(req.target_authority, "example.com");
	assert_str(req.path, "/upload?x=1");
	cr_assert_eq(req.n_headers, 6);
	assert_str(req.headers[5].name, "X-Empty");
	assert_str(req.headers[5].value, "");
	free(copy);
}

Test(http_parse, pipelined)
{
	static const char one[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char two[] = "GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
	char buf[sizeof(one) + sizeof(two)];
	size_t n = 0;

	memcpy(buf, one, sizeof(one) - 1);
	n += sizeof(one) - 1;
	memcpy(buf + n, two, sizeof(two) - 1);
	n += sizeof(two) - 1;

	expect_done_n(buf, n, NULL);
	cr_assert_eq(req.head_len, sizeof(one) - 1);
	assert_str(req.target, "/a");
	cr_assert_not(req.conn_close);
	cr_assert_eq(req.n_headers, 1);

	/* The caller consumes head_len bytes and parses the rest. */
	expect_done_n(buf + sizeof(one) - 1, n - (sizeof(one) - 1), NULL);
	cr_assert_eq(req.head_len, sizeof(two) - 1);
	assert_str(req.target, "/b");
	cr_assert(req.conn_close);

	/* A body (or garbage) after the head is not the parser's business. */
	DONE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
	cr_assert_eq(req.head_len, g_len - 5);
	DONE("GET / HTTP/1.1\r\nHost: h\r\n\r\n\0\r\n\n\x01");
	cr_assert_eq(req.head_len, g_len - 5);
}

Test(http_parse, bare_lf)
{
	ERR("GET / HTTP/1.1\nHost: h\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\n\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\nX: a\nb\r\n\r\n", 400);
	ERR("GET /\n HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	ERR("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\n", 400);
	ERR("GET / HTTP/1.1\r\nHost\n", 400);
}

Test(http_parse, bare_cr)
{
	ERR("GET / HTTP/1.1\rHost: h\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\n\rX", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400);
	ERR("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	ERR("GET\r / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	ERR("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost\r: h\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\n\r\r", 400);
}

Test(http_parse, nul_bytes)
{
	ERR("\0GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	ERR("G\0T / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	ERR("GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\0\r\nHost: h\r\n\r\n", 400);
	ERR("GET / HTTP/1\0.1\r\nHost: h\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHo\0st: h\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\0\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: \0h\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost:\0\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\n\0\r\n", 400);
	ERR("\r\n\0", 400);
}

/* ---- limits -------------------------------------------------------- */

/* "GET /aaa...a HTTP/1.1" of exactly LINE_LEN bytes, plus CRLF and a Host
 * field when FULL; returns the length. */
static size_t make_line(char *out, size_t line_len, bool full)
{
	size_t n = 0, pad = line_len - strlen("GET / HTTP/1.1");

	memcpy(out, "GET /", 5);
	n = 5;
	memset(out + n, 'a', pad);
	n += pad;
	memcpy(out + n, " HTTP/1.1", 9);
	n += 9;
	if (full) {
		memcpy(out + n, "\r\nHost: h\r\n\r\n", 13);
		n += 13;
	}
	return n;
}

Test(http_parse, request_line_limit_exact)
{
	const struct http_limits lim = { 64, 16384, 100 };
	char buf[256];
	size_t n;

	n = make_line(buf, 64, true);
	expect_done_n(buf, n, &lim);
	cr_assert_eq(req.target.len, 64 - strlen("GET  HTTP/1.1"));

	n = make_line(buf, 65, true);
	expect_err_n(buf, n, &lim, 414);

	/* Empty lines before the request line do not count against it. */
	memcpy(buf, "\r\n\r\n", 4);
	n = make_line(buf + 4, 64, true) + 4;
	expect_done_n(buf, n, &lim);
}

Test(http_parse, request_line_limit_early)
{
	const struct http_limits lim = { 64, 16384, 100 };
	const struct http_limits huge = { SIZE_MAX, SIZE_MAX, 100 };
	char buf[256];
	size_t n;

	/* 65 bytes without CRLF: 414 without waiting for the rest. */
	n = make_line(buf, 80, false);
	expect_err_n(buf, 65, &lim, 414);
	expect_err_n(buf, n, &lim, 414);
	/* 64 bytes: the next one may still be the CR. */
	expect_more_n(buf, 64, &lim);
	/* A line of exactly 64 bytes and its CR: waiting for the LF. */
	n = make_line(buf, 64, false);
	buf[n] = '\r';
	expect_more_n(buf, n, &lim);
	expect_more_n(buf, n + 1, &lim);
	buf[n + 1] = '\n';
	expect_more_n(buf, n + 2, &lim);
	/* A CR at byte 65 is too late. */
	n = make_line(buf, 65, false);
	buf[n] = '\r';
	expect_err_n(buf, n + 1, &lim, 414);

	/* A huge limit must not overflow anything. */
	n = make_line(buf, 100, true);
	expect_done_n(buf, n, &huge);
	expect_more_n(buf, 50, &huge);
}

Test(http_parse, request_line_default_limit)
{
	char *buf = malloc(9000);
	size_t n;

	cr_assert_not_null(buf);
	n = make_line(buf, 8192, true);
	expect_done_n(buf, n, NULL);
	n = make_line(buf, 8193, true);
	expect_err_n(buf, n, NULL, 414);
	expect_err_n(buf, 8193, NULL, 414);
	expect_more_n(buf, 8192, NULL);
	/* NULL limits are http_default_limits. */
	expect_err_n(buf, n, &http_default_limits, 414);
	free(buf);
}

/* "GET / HTTP/1.1\r\n" and field lines of exactly FIELD_BYTES bytes, the
 * final empty line included; returns the length. */
static size_t make_fields(char *out, size_t field_bytes)
{
	size_t n, pad = field_bytes - strlen("Host: h\r\nX: \r\n\r\n");

	n = (size_t)sprintf(out, "GET / HTTP/1.1\r\nHost: h\r\nX: ");
	memset(out + n, 'v', pad);
	n += pad;
	memcpy(out + n, "\r\n\r\n", 4);
	return n + 4;
}

#define LINE_LEN 16 /* "GET / HTTP/1.1\r\n" */

Test(http_parse, header_bytes_limit_exact)
{
	const struct http_limits lim = { 8192, 100, 100 };
	char buf[256], *big = malloc(20000);
	size_t n;

	cr_assert_not_null(big);
	n = make_fields(buf, 100);
	expect_done_n(buf, n, &lim);
	cr_assert_eq(req.head_len, LINE_LEN + 100);
	cr_assert_eq(req.headers[1].value.len, 100 - strlen("Host: h\r\nX: \r\n\r\n"));

	n = make_fields(buf, 101);
	expect_err_n(buf, n, &lim, 431);

	n = make_fields(big, 16384);
	expect_done_n(big, n, NULL);
	n = make_fields(big, 16385);
	expect_err_n(big, n, NULL, 431);
	free(big);
}

Test(http_parse, header_bytes_limit_early)
{
	const struct http_limits lim = { 8192, 100, 100 };
	char buf[256];
	size_t n;

	n = make_fields(buf, 150);
	/* 100 field bytes buffered and no end in sight: one more is too many. */
	expect_err_n(buf, LINE_LEN + 100, &lim, 431);
	expect_more_n(buf, LINE_LEN + 99, &lim);
	expect_err_n(buf, n, &lim, 431);

	/* Exactly 100 bytes: the last CR or LF missing is still NEED_MORE. */
	n = make_fields(buf, 100);
	expect_more_n(buf, n - 1, &lim);
	expect_more_n(buf, n - 2, &lim);
}

/* Many small fields add up like one long one. */
Test(http_parse, header_bytes_limit_many_fields)
{
	static const char ok[] =
		"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
	static const char over[] = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"
				   "E: 5\r\n\r\n";
	const struct http_limits lim = { 8192, 40, 100 };

	/* 9 + 4 * 6 + 2 = 35 bytes of fields, then 41. */
	expect_done_n(ok, sizeof(ok) - 1, &lim);
	expect_err_n(over, sizeof(over) - 1, &lim, 431);
}

/* "GET / HTTP/1.1" with Host and then N - 1 more fields. */
static size_t make_count(char *out, size_t n_fields)
{
	size_t n = (size_t)sprintf(out, "GET / HTTP/1.1\r\nHost: h\r\n");

	for (size_t i = 1; i < n_fields; i++)
		n += (size_t)sprintf(out + n, "X-%zu: %zu\r\n", i, i);
	memcpy(out + n, "\r\n", 2);
	return n + 2;
}

Test(http_parse, header_count_limit)
{
	const struct http_limits lim = { 8192, 16384, 3 };
	const struct http_limits one = { 8192, 16384, 1 };
	const struct http_limits zero = { 8192, 16384, 0 };
	char buf[8192];
	size_t n;

	n = make_count(buf, 3);
	expect_done_n(buf, n, &lim);
	cr_assert_eq(req.n_headers, 3);

	n = make_count(buf, 4);
	expect_err_n(buf, n, &lim, 431);
	/* Known at the first byte of the fourth field. */
	n = make_count(buf, 3) - 2;
	buf[n] = 'X';
	expect_err_n(buf, n + 1, &lim, 431);
	expect_more_n(buf, n, &lim);

	n = make_count(buf, 100);
	expect_done_n(buf, n, NULL);
	cr_assert_eq(req.n_headers, 100);
	n = make_count(buf, 101);
	expect_err_n(buf, n, NULL, 431);

	/* The empty line is not a field. */
	expect_done_n("GET / HTTP/1.1\r\nHost: h\r\n\r\n", 27, &one);
	expect_done_n("GET / HTTP/1.0\r\n\r\n", 18, &zero);
	expect_err_n("GET / HTTP/1.0\r\nA", 17, &zero, 431);
}

Test(http_parse, header_count_clamped)
{
	/* A limit above HTTP_MAX_HEADERS is clamped to the array's size. */
	const struct http_limits lim = { 8192, 1 << 20, 1000 };
	char buf[8192];
	size_t n;

	n = make_count(buf, HTTP_MAX_HEADERS);
	expect_done_n(buf, n, &lim);
	cr_assert_eq(req.n_headers, HTTP_MAX_HEADERS);
	n = make_count(buf, HTTP_MAX_HEADERS + 1);
	expect_err_n(buf, n, &lim, 431);
}

/* ---- field lines --------------------------------------------------------- */

Test(http_parse, ows_trimming)
{
	DONE("GET / HTTP/1.1\r\nHost:h\r\nA: \t a b \t \r\nB:\tx\r\nC:y   \r\n\r\n");
	cr_assert_eq(req.n_headers, 4);
	assert_str(req.host, "h");
	assert_str(req.headers[1].name, "A");
	assert_str(req.headers[1].value, "a b");
	assert_str(req.headers[2].value, "x");
	assert_str(req.headers[3].value, "y");
	/* Inner whitespace is kept as sent. */
	DONE("GET / HTTP/1.1\r\nHost: h\r\nA: a \t  b\r\n\r\n");
	assert_str(req.headers[1].value, "a \t  b");
}

Test(http_parse, empty_value)
{
	DONE("GET / HTTP/1.1\r\nHost: h\r\nA:\r\nB: \r\nC: \t \t\r\n\r\n");
	cr_assert_eq(req.n_headers, 4);
	for (size_t i = 1; i < 4; i++) {
		cr_assert_eq(req.headers[i].value.len, 0);
		cr_assert_not_null(req.headers[i].value.p);
	}
}

Test(http_parse, value_obs_text_and_htab)
{
	DONE("GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\t\x80\xff!~\r\n\r\n");
	assert_str(req.headers[1].value, "caf\xc3\xa9\t\x80\xff!~");
}

/* The scanners take eight bytes at a time and find the first special byte
 * of a word from its bits: put that byte at every offset of two words. */
Test(http_parse, special_byte_at_every_offset)
{
	for (size_t k = 0; k < 20; k++) {
		char buf[160], want[40];
		int n;

		/* one HTAB among plain bytes (not first or last: that is OWS),
		 * and sometimes two in one word */
		memset(want, 'v', 24);
		want[24] = '\0';
		want[k + 1] = '\t';
		if (k % 3 == 0)
			want[k + 3] = '\t';
		n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: h\r\nX: %s\r\n\r\n", want);
		expect_done_n(buf, (size_t)n, NULL);
		cr_assert_eq(req.headers[1].value.len, 24);
		cr_assert_eq(memcmp(req.headers[1].value.p, want, 24), 0, "k=%zu", k);

		/* a CTL, DEL, NUL or bare LF ends the value badly */
		static const char bad[] = { '\x01', '\x7f', '\0', '\n', '\x1f' };
		memset(want, 'v', 24);
		for (size_t b = 0; b < sizeof bad; b++) {
			want[k] = bad[b];
			n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: h\r\nX: ");
			memcpy(buf + n, want, 24);
			n += 24;
			n += snprintf(buf + n, sizeof buf - (size_t)n, "\r\n\r\n");
			expect_err_n(buf, (size_t)n, NULL, 400);
		}

		/* the target: 8-bit, DEL, CTL or NUL is a 400; SP ends it */
		static const char tbad[] = { '\x80', '\xff', '\x7f', '\x01', '\0' };
		for (size_t b = 0; b < sizeof tbad; b++) {
			char t[32];

			memset(t, 't', 24);
			t[0] = '/';
			t[k + 1] = tbad[b];
			n = snprintf(buf, sizeof buf, "GET ");
			memcpy(buf + n, t, 24);
			n += 24;
			n += snprintf(buf + n, sizeof buf - (size_t)n,
				      " HTTP/1.1\r\nHost: h\r\n\r\n");
			expect_err_n(buf, (size_t)n, NULL, 400);
		}
		n = snprintf(buf, sizeof buf, "GET /%.*s HTTP/1.1\r\nHost: h\r\n\r\n", (int)k,
			     "tttttttttttttttttttttttt");
		expect_done_n(buf, (size_t)n, NULL);
		cr_assert_eq(req.target.len, k + 1);
	}
}

/* "HTTP/1.1" and "HTTP/1.0" are compared whole; everything else, and a
 * version the buffer or the line limit cuts, still byte by byte. */
Test(http_parse, version_whole_and_cut)
{
	static const struct http_limits lim = { .max_request_line = 14,
						.max_header_bytes = 100,
						.max_headers = 10 };

	DONE(REQ("GET / HTTP/1.0"));
	cr_assert_eq(req.version_minor, 0);
	DONE(REQ("GET / HTTP/1.1"));
	cr_assert_eq(req.version_minor, 1);
	DONE(REQ("GET / HTTP/1.9"));
	cr_assert_eq(req.version_minor, 1);
	ERR(REQ("GET / HTTP/1.a"), 400);
	ERR(REQ("GET / HTTP/1,1"), 400);
	ERR(REQ("GET / http/1.1"), 400);
	MORE("GET / HTTP/1.");
	MORE("GET / HTTP/1.1");
	ERR("GET / HTTP/1.x", 400);
	ERR("GET / HTTPS", 400);
	/* "GET / HTTP/1.1" is exactly 14 bytes: the limit */
	expect_done_n("GET / HTTP/1.1\r\nHost: h\r\n\r\n", 27, &lim);
	expect_err_n("GET /a HTTP/1.1\r\nHost: h\r\n\r\n", 28, &lim, 414);
	expect_err_n("GET /a HTTP/1.x\r\nHost: h\r\n\r\n", 28, &lim, 400);
}

Test(http_parse, value_control_chars)
{
	ERR("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\nX: a\x1f\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\nX: a\x0b\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\nX: a\x0c\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\nX: \x1b[0m\r\n\r\n", 400);
}

/* RFC 9112 section 5.2: obs-fold is rejected, not unfolded. */
Test(http_parse, obs_fold)
{
	ERR("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\n \r\n\r\n", 400);
	/* Known at the first byte of the continuation. */
	ERR("GET / HTTP/1.1\r\nHost: h\r\n ", 400);
}

/* RFC 9112 section 2.2: whitespace between the start-line and the first
 * field is rejected. */
Test(http_parse, whitespace_before_first_field)
{
	ERR("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\n\tHost: h\r\n\r\n", 400);
}

/* RFC 9112 section 5.1. */
Test(http_parse, whitespace_before_colon)
{
	ERR("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\n", 400);
}

Test(http_parse, bad_field_names)
{
	ERR("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\nNa(me: v\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\nNa/me: v\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\nN\xc3\xa4me: v\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: h\r\nA B: v\r\n\r\n", 400);
	DONE("GET / HTTP/1.1\r\nHost: h\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n");
	assert_str(req.headers[1].name, "!#$%&'*+-.^_`|~09azAZ");
	/* A colon in the value is just a byte of the value. */
	DONE("GET / HTTP/1.1\r\nHost: h:8080\r\nX: a:b:\r\n\r\n");
	assert_str(req.host, "h:8080");
	assert_str(req.headers[1].value, "a:b:");
}

/* ---- derived fields ---------------------------------------------------- */

Test(http_parse, duplicate_host)
{
	ERR("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400);
	ERR("GET / HTTP/1.1\r\nHOST: a\r\nX: y\r\nhOsT:\r\n\r\n", 400);
	ERR("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	DONE("GET / HTTP/1.1\r\nhOST: a\r\n\r\n");
	assert_str(req.host, "a");
}

Test(http_parse, empty_host)
{
	DONE("GET / HTTP/1.1\r\nHost:\r\n\r\n");
	cr_assert(req.has_host);
	cr_assert_eq(req.host.len, 0);
	cr_assert_not_null(req.host.p);
	DONE("GET / HTTP/1.1\r\nHost:   \r\n\r\n");
	cr_assert(req.has_host);
	cr_assert_eq(req.host.len, 0);
}

Test(http_parse, content_length_ok)
{
	DONE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n");
	cr_assert_eq(req.content_length, 5);
	DONE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
	cr_assert_eq(req.content_length, 0);
	DONE("POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 007\r\n\r\n");
	cr_assert_eq(req.content_length, 7);
	/* OWS is trimmed before the digits are read. */
	DONE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:  5 \t\r\n\r\n");
	cr_assert_eq(req.content_length, 5);
	DONE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n");
	cr_assert_eq(req.content_length, INT64_MAX);
	DONE("POST / HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_eq(req.content_length, -1);
}

Test(http_parse, content_length_invalid)
{
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551621\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 5\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,5\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1e3\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5a\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \xd9\xa5\r\n\r\n", 400);
}

Test(http_parse, content_length_duplicate)
{
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400);
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n", 400);
}

/* RFC 9112 section 6.1: we reject both rather than let TE override. */
Test(http_parse, content_length_with_transfer_encoding)
{
	ERR("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n",
	    400);
	ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 5\r\n\r\n",
	    400);
	ERR("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
	    "Content-Length: 0\r\n\r\n",
	    400);
}

Test(http_parse, transfer_encoding)
{
	DONE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
	cr_assert(req.has_transfer_encoding);
	cr_assert(req.te_chunked);
	cr_assert_eq(req.content_length, -1);

	DONE("POST / HTTP/1.1\r\nHost: h\r\ntransfer-encoding:  ChUnKeD \t\r\n\r\n");
	cr_assert(req.te_chunked);

	DONE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
	cr_assert(req.has_transfer_encoding);
	cr_assert_not(req.te_chunked);

	DONE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n");
	cr_assert_not(req.te_chunked);

	DONE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunkedx\r\n\r\n");
	cr_assert(req.has_transfer_encoding);
	cr_assert_not(req.te_chunked);

	DONE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n");
	cr_assert(req.has_transfer_encoding);
	cr_assert_not(req.te_chunked);

	/* Two fields are one list, "gzip, chunked" or "chunked, chunked". */
	DONE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
	     "Transfer-Encoding: chunked\r\n\r\n");
	cr_assert(req.has_transfer_encoding);
	cr_assert_not(req.te_chunked);
	DONE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	     "Transfer-Encoding: chunked\r\n\r\n");
	cr_assert_not(req.te_chunked);
}

Test(http_parse, connection_tokens)
{
	DONE("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
	cr_assert(req.conn_close);
	cr_assert_not(req.conn_keep_alive);

	DONE("GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n");
	cr_assert(req.conn_keep_alive);
	cr_assert_not(req.conn_close);

	DONE("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n");
	cr_assert(req.conn_close);

	DONE("GET / HTTP/1.1\r\nHost: h\r\nConnection: ,, keep-alive ,\t,close , \r\n\r\n");
	cr_assert(req.conn_close);
	cr_assert(req.conn_keep_alive);

	DONE("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
	cr_assert(req.conn_close);
	cr_assert(req.conn_keep_alive);

	DONE("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed, keep-alive2, clos, x-close\r\n\r\n");
	cr_assert_not(req.conn_close);
	cr_assert_not(req.conn_keep_alive);

	DONE("GET / HTTP/1.1\r\nHost: h\r\nConnection:\r\n\r\n");
	cr_assert_not(req.conn_close);
	cr_assert_not(req.conn_keep_alive);

	/* Not the Connection field. */
	DONE("GET / HTTP/1.1\r\nHost: h\r\nProxy-Connection: close\r\nX: close\r\n\r\n");
	cr_assert_not(req.conn_close);
}

Test(http_parse, expect_continue)
{
	DONE("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n");
	cr_assert(req.expect_continue);
	DONE("POST / HTTP/1.1\r\nHost: h\r\nexpect:  100-Continue \r\n\r\n");
	cr_assert(req.expect_continue);
	DONE("POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n");
	cr_assert_not(req.expect_continue);
	DONE("POST / HTTP/1.1\r\nHost: h\r\nExpect:\r\n\r\n");
	cr_assert_not(req.expect_continue);
	DONE("POST / HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_not(req.expect_continue);
}

Test(http_parse, content_type_first)
{
	DONE("POST / HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain; charset=utf-8\r\n"
	     "content-type: application/json\r\n\r\n");
	assert_str(req.content_type, "text/plain; charset=utf-8");
	DONE("POST / HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_eq(req.content_type.len, 0);
	cr_assert_not_null(req.content_type.p);
}

Test(http_parse, absent_strings_not_null)
{
	DONE("GET / HTTP/1.0\r\n\r\n");
	cr_assert_not_null(req.host.p);
	cr_assert_not_null(req.content_type.p);
	cr_assert_not_null(req.target_authority.p);
	cr_assert_eq(req.target_authority.len, 0);
}

Test(http_parse, header_lookup)
{
	const struct http_header *h;

	DONE("GET / HTTP/1.1\r\nHost: h\r\nX-Thing: one\r\nx-thing: two\r\nAccept: */*\r\n\r\n");
	h = http_request_header(&req, "x-THING");
	cr_assert_not_null(h);
	assert_str(h->name, "X-Thing");
	assert_str(h->value, "one");
	h = http_request_header(&req, "accept");
	cr_assert_not_null(h);
	assert_str(h->value, "*/*");
	cr_assert_null(http_request_header(&req, "Accept-Encoding"));
	cr_assert_null(http_request_header(&req, "X-Thin"));
	cr_assert_null(http_request_header(&req, ""));
	cr_assert_eq(http_request_header(&req, "HOST"), &req.headers[0]);
}

Test(http_parse, headers_in_order)
{
	DONE("GET / HTTP/1.1\r\nHost: h\r\nuser-AGENT: curl/8\r\nAccept: */*\r\n\r\n");
	cr_assert_eq(req.n_headers, 3);
	assert_str(req.headers[0].name, "Host");
	assert_str(req.headers[1].name, "user-AGENT");
	assert_str(req.headers[1].value, "curl/8");
	assert_str(req.headers[2].name, "Accept");
	assert_str(req.headers[2].value, "*/*");
}

/* ---- empty lines and short input ------------------------------------- */

/* RFC 9112 section 2.2. */
Test(http_parse, leading_empty_lines)
{
	DONE("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_eq(req.head_len, g_len);
	assert_str(req.method_token, "GET");
	DONE("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_eq(req.head_len, g_len);
	cr_assert_eq(req.method_token.p, g_buf + 8);
	MORE("\r\n\r\n\r\n\r\n");
	MORE("\r\n\r\n\r");
	MORE("\r");
}

Test(http_parse, too_many_empty_lines)
{
	ERR("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	ERR("\r\n\r\n\r\n\r\n\r", 400);
	ERR("\r\n\r\n\r\n\r\n\r\n", 400);
	ERR("\r\r\n", 400);
	ERR("\r\n\n", 400);
	ERR("\r\n \r\n", 400);
}

Test(http_parse, short_input)
{
	MORE("");
	MORE("G");
	MORE("GET");
	MORE("GET ");
	MORE("GET /");
	MORE("GET / ");
	MORE("GET / H");
	MORE("GET / HTTP/1.");
	MORE("GET / HTTP/1.1");
	MORE("GET / HTTP/1.1\r");
	MORE("GET / HTTP/1.1\r\n");
	MORE("GET / HTTP/1.1\r\nHost");
	MORE("GET / HTTP/1.1\r\nHost:");
	MORE("GET / HTTP/1.1\r\nHost: ");
	MORE("GET / HTTP/1.1\r\nHost: h");
	MORE("GET / HTTP/1.1\r\nHost: h \t");
	MORE("GET / HTTP/1.1\r\nHost: h\r");
	MORE("GET / HTTP/1.1\r\nHost: h\r\n");
	MORE("GET / HTTP/1.1\r\nHost: h\r\n\r");
	DONE("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	/* The parser does not need a NUL after the buffer, nor a buffer. */
	cr_assert_eq(http_parse_request(NULL, 0, NULL, &req, &st), HTTP_PARSE_NEED_MORE);
}

/* ---- robustness: every prefix of many mutated heads -------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

Test(http_parse, prefix_consistency_mutations)
{
	static const char *const seeds[] = {
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		("\r\nPOST http://a:80/x?y HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n"
		 "Connection: close, keep-alive\r\nExpect: 100-continue\r\n\r\n"),
		"PUT /u HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Type: a/b\r\n\r\n",
		"OPTIONS /o HTTP/1.1\r\nHost:\r\nX:\t\xff y \r\n\r\nBODY",
	};
	static const char specials[] = "\r\n \t:\0/,H1.0x\x80\x7f";
	const struct http_limits small = { 40, 60, 4 };
	char buf[512];
	unsigned counts[3] = { 0 };

	for (int iter = 0; iter < 3000; iter++) {
		const char *s = seeds[rng() % ARRAY_SIZE(seeds)];
		size_t n = strlen(s), edits = 1 + rng() % 3;
		enum http_parse_status r;

		memcpy(buf, s, n);
		for (size_t e = 0; e < edits && n > 1; e++) {
			size_t at = rng() % n;
			unsigned char c =
				(rng() & 1)
					? (unsigned char)specials[rng() % (sizeof(specials) - 1)]
					: (unsigned char)rng();

			switch (rng() % 4) {
			case 0: /* replace */
				buf[at] = (char)c;
				break;
			case 1: /* insert */
				if (n + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = (char)c;
					n++;
				}
				break;
			case 2: /* delete */
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
				break;
			default: /* truncate */
				n = at + 1;
				break;
			}
		}
		r = check_prefixes(buf, n, (iter & 1) ? &small : NULL);
		counts[r]++;
		if (r == HTTP_PARSE_DONE) {
			cr_assert_leq(req.head_len, n);
			cr_assert_eq(req.version_major, 1);
			cr_assert(req.version_minor == 0 || req.version_minor == 1);
			cr_assert(req.version_minor == 0 || req.has_host);
			cr_assert(!(req.has_transfer_encoding && req.content_length >= 0));
			cr_assert(req.path.len > 0);
		} else if (r == HTTP_PARSE_ERROR) {
			cr_assert(st == 400 || st == 414 || st == 431 || st == 505, "status %d",
				  st);
		}
	}
	/* The mutations must exercise all three answers. */
	cr_assert_gt(counts[HTTP_PARSE_DONE], 100);
	cr_assert_gt(counts[HTTP_PARSE_NEED_MORE], 10);
	cr_assert_gt(counts[HTTP_PARSE_ERROR], 100);
}

Test(http_parse, random_bytes)
{
	char buf[256];

	for (int iter = 0; iter < 2000; iter++) {
		size_t n = rng() % sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = (char)rng();
		/* A plausible start, so that the parser gets past the method. */
		if ((iter & 1) && n > 6)
			memcpy(buf, "GET / ", 6);
		check_prefixes(buf, n, NULL);
	}
}
