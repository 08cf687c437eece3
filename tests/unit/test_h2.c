/* test_h2.c - the HTTP/2 glue's pure parts (src/h2.c): the request head a
 * stream becomes, the response fields it sends, the rapid-reset bucket, and
 * a whole session without a socket (the fuzz target's). */
#include <criterion/criterion.h>
#include <string.h>

#include "h2.h"
#include "http_parse.h"

static struct mth_str S(const char *s) {
	return (struct mth_str){ s, strlen(s) };
}

Test(h2, request_head_from_pseudo_headers)
{
	static const char fields[] = "user-agent: t\r\naccept: */*\r\n";
	struct h2_request_parts p = {
		.method = S("GET"),
		.path = S("/a/b?c=d"),
		.authority = S("example.test:8443"),
		.fields = fields,
		.fields_len = sizeof fields - 1,
	};
	char buf[256];
	struct http_request req;
	int status = 0;
	size_t n = h2_request_head(buf, sizeof buf, &p);

	cr_assert_eq(n, h2_request_head_len(&p));
	cr_assert_eq(n, strlen("GET /a/b?c=d HTTP/1.1\r\nHost: example.test:8443\r\n"
			       "user-agent: t\r\naccept: */*\r\n\r\n"));
	cr_assert(memcmp(buf, "GET /a/b?c=d HTTP/1.1\r\nHost: example.test:8443\r\nuser-agent",
			 58) == 0);
	cr_assert_eq(http_parse_request(buf, n, NULL, &req, &status), HTTP_PARSE_DONE);
	cr_assert_eq(req.method, HTTP_M_GET);
	cr_assert(mth_str_eq(req.host, "example.test:8443"));
	cr_assert(mth_str_eq(req.path, "/a/b?c=d"));
	cr_assert_eq(req.head_len, n);
	cr_assert_eq(req.n_headers, 3);
}

Test(h2, request_head_body_framing)
{
	struct h2_request_parts p = { .method = S("POST"),
				      .path = S("/upload"),
				      .authority = S("h") };
	char buf[256];
	struct http_request req;
	int status = 0;
	size_t n;

	/* DATA frames of unknown total: the parser sees a chunked body */
	p.chunked = true;
	n = h2_request_head(buf, sizeof buf, &p);
	cr_assert_eq(http_parse_request(buf, n, NULL, &req, &status), HTTP_PARSE_DONE);
	cr_assert(req.te_chunked);
	/* END_STREAM on the HEADERS: an empty body */
	p.chunked = false;
	p.empty_body = true;
	n = h2_request_head(buf, sizeof buf, &p);
	cr_assert_eq(http_parse_request(buf, n, NULL, &req, &status), HTTP_PARSE_DONE);
	cr_assert_eq(req.content_length, 0);
	/* too small a buffer: nothing */
	cr_assert_eq(h2_request_head(buf, 10, &p), 0);
}

Test(h2, request_head_without_authority_needs_host)
{
	static const char fields[] = "host: a.test\r\n";
	struct h2_request_parts p = { .method = S("GET"), .path = S("/") };
	char buf[128];
	struct http_request req;
	int status = 0;
	size_t n = h2_request_head(buf, sizeof buf, &p);

	/* neither :authority nor Host: 400, as HTTP/1.1 without Host */
	cr_assert_eq(http_parse_request(buf, n, NULL, &req, &status), HTTP_PARSE_ERROR);
	cr_assert_eq(status, 400);
	p.fields = fields;
	p.fields_len = sizeof fields - 1;
	n = h2_request_head(buf, sizeof buf, &p);
	cr_assert_eq(http_parse_request(buf, n, NULL, &req, &status), HTTP_PARSE_DONE);
	cr_assert(mth_str_eq(req.host, "a.test"));
}

Test(h2, connection_specific_fields)
{
	cr_assert(h2_field_is_connection_specific("Connection", 10));
	cr_assert(h2_field_is_connection_specific("keep-alive", 10));
	cr_assert(h2_field_is_connection_specific("Transfer-Encoding", 17));
	cr_assert(h2_field_is_connection_specific("UPGRADE", 7));
	cr_assert(h2_field_is_connection_specific("proxy-connection", 16));
	cr_assert_not(h2_field_is_connection_specific("Content-Length", 14));
	cr_assert_not(h2_field_is_connection_specific("connectio", 9));
	cr_assert_not(h2_field_is_connection_specific("Connections", 11));
}

Test(h2, response_fields_filtered_and_lower_cased)
{
	char head[] = "HTTP/1.1 206 Partial Content\r\n"
		      "Date: Sat, 05 Dec 2026 11:00:00 GMT\r\n"
		      "Content-Type: text/plain\r\n"
		      "Content-Length: 10\r\n"
		      "Connection: keep-alive\r\n"
		      "Keep-Alive: timeout=5, max=99\r\n"
		      "Transfer-Encoding: chunked\r\n"
		      "Content-Range: bytes 0-9/100  \r\n"
		      "\r\n"
		      "body bytes";
	nghttp2_nv nv[8];
	size_t n = h2_response_fields(head, sizeof head - 1, nv, 8);

	cr_assert_eq(n, 4);
	cr_assert_eq(nv[0].namelen, 4);
	cr_assert(memcmp(nv[0].name, "date", 4) == 0);
	cr_assert(memcmp(nv[1].name, "content-type", 12) == 0);
	cr_assert(memcmp(nv[1].value, "text/plain", nv[1].valuelen) == 0);
	cr_assert(memcmp(nv[2].name, "content-length", 14) == 0);
	cr_assert(memcmp(nv[3].name, "content-range", 13) == 0);
	/* trailing whitespace is not part of the value */
	cr_assert_eq(nv[3].valuelen, strlen("bytes 0-9/100"));
	/* the body after the empty line is no field */
	cr_assert_eq(h2_response_fields(head, sizeof head - 1, nv, 2), 2);
	cr_assert_eq(h2_response_fields(head, 5, nv, 8), 0);
}

Test(h2, reset_bucket_burst_then_rate)
{
	struct h2_bucket b;
	int64_t t = 1000;
	unsigned taken = 0;

	h2_bucket_init(&b, H2_RST_BURST, t);
	while (h2_bucket_take(&b, H2_RST_BURST, H2_RST_RATE, t))
		taken++;
	cr_assert_eq(taken, H2_RST_BURST);
	/* 100 ms later: 5 more at 50 a second */
	t += 100;
	taken = 0;
	while (h2_bucket_take(&b, H2_RST_BURST, H2_RST_RATE, t))
		taken++;
	cr_assert_eq(taken, H2_RST_RATE / 10);
	/* an hour later: never more than the burst */
	t += 3600 * 1000;
	taken = 0;
	while (h2_bucket_take(&b, H2_RST_BURST, H2_RST_RATE, t))
		taken++;
	cr_assert_eq(taken, H2_RST_BURST);
	/* a clock that goes back adds nothing */
	cr_assert_not(h2_bucket_take(&b, H2_RST_BURST, H2_RST_RATE, t - 5000));
}

Test(h2, nghttp2_limiter_answers_after_ours)
{
	/* our ENHANCE_YOUR_CALM must win over nghttp2's own limiter */
	cr_assert_gt(H2_NGHTTP2_RST_FACTOR, 1);
}

/* A whole session without a socket: preface, SETTINGS, two requests, one
 * of them reset, garbage after; no crash, nothing leaked (ASan builds). */
Test(h2, fuzz_session_survives)
{
	static const uint8_t magic[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	static const uint8_t settings[] = { 0, 0, 0, 4, 0, 0, 0, 0, 0 };
	/* HEADERS stream 1, END_STREAM|END_HEADERS: :method GET, :scheme
	 * https, :path /, :authority a (static table indexes + literal) */
	static const uint8_t headers[] = {
		0, 0, 5, 1, 5, 0, 0, 0, 1, 0x82, 0x87, 0x84, 0x41, 0x00
	};
	static const uint8_t rst[] = { 0, 0, 4, 3, 0, 0, 0, 0, 1, 0, 0, 0, 8 };
	static const uint8_t junk[] = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
	struct h2_fuzz *f = h2_fuzz_new();

	cr_assert_not_null(f);
	h2_fuzz_feed(f, magic, sizeof magic - 1);
	h2_fuzz_feed(f, settings, sizeof settings);
	h2_fuzz_feed(f, headers, sizeof headers);
	h2_fuzz_feed(f, rst, sizeof rst);
	h2_fuzz_feed(f, junk, sizeof junk - 1);
	h2_fuzz_free(f);
	h2_fuzz_free(NULL);
}
