/* fuzz_http_parse.c - libFuzzer target for http_parse_request() (src/http_parse.c).
 *
 * Beyond "no crash, no sanitizer report" it checks the parser's contract
 * (http_parse.h): every string points into the buffer, DONE consumes at most
 * the buffer, ERROR carries one of the documented statuses, and a longer
 * buffer with the same prefix never changes a DONE or an ERROR. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *base;
static size_t base_len;

static void check_str(struct mth_str s)
{
	CHECK(s.p != NULL);
	if (s.len == 0)
		return;
	/* inside the buffer, or the static "/" of an absolute-form target */
	if (s.p >= base && s.p + s.len <= base + base_len)
		return;
	CHECK(s.len == 1 && s.p[0] == '/');
}

static void check_result(enum http_parse_status r, const struct http_request *req, int status,
			 size_t len)
{
	if (r == HTTP_PARSE_ERROR) {
		CHECK(status == 400 || status == 414 || status == 431 || status == 505);
		return;
	}
	if (r != HTTP_PARSE_DONE)
		return;
	CHECK(req->head_len > 0 && req->head_len <= len);
	CHECK(req->version_major == 1);
	CHECK(req->version_minor == 0 || req->version_minor == 1);
	CHECK(req->n_headers <= HTTP_MAX_HEADERS);
	CHECK(req->method_token.len > 0);
	CHECK(req->target.len > 0);
	check_str(req->method_token);
	check_str(req->target);
	check_str(req->target_authority);
	check_str(req->path);
	check_str(req->host);
	check_str(req->content_type);
	for (size_t i = 0; i < req->n_headers; i++) {
		CHECK(req->headers[i].name.len > 0);
		check_str(req->headers[i].name);
		check_str(req->headers[i].value);
	}
	CHECK(!(req->has_transfer_encoding && req->content_length >= 0));
	CHECK(!req->te_chunked || req->has_transfer_encoding);
	CHECK(req->version_minor == 0 || req->has_host);
	/* The head ends with CRLF CRLF (or is the empty field section). */
	CHECK(base[req->head_len - 1] == '\n' && base[req->head_len - 2] == '\r');
	/* A bare LF is rejected, never taken as a line end (RFC 9112
	 * section 2.2 allows either; see conn.c head_decidable()). */
	for (size_t i = 0; i < req->head_len; i++)
		CHECK(base[i] != '\n' || (i > 0 && base[i - 1] == '\r'));
}

static void run(const struct http_limits *lim, const char *buf, size_t len, size_t cut)
{
	static struct http_request req, req2;
	enum http_parse_status r, r2;
	int status = 0, status2 = 0;

	base = buf;
	base_len = len;
	r = http_parse_request(buf, len, lim, &req, &status);
	check_result(r, &req, status, len);

	/* A prefix that already decides must decide the same way. */
	base_len = cut;
	r2 = http_parse_request(buf, cut, lim, &req2, &status2);
	check_result(r2, &req2, status2, cut);
	if (r2 == HTTP_PARSE_DONE) {
		CHECK(r == HTTP_PARSE_DONE);
		CHECK(req.head_len == req2.head_len);
		CHECK(req.n_headers == req2.n_headers);
		CHECK(req.content_length == req2.content_length);
	} else if (r2 == HTTP_PARSE_ERROR) {
		CHECK(r == HTTP_PARSE_ERROR);
		CHECK(status == status2);
	}
	/* And the head alone is a DONE of the same length. */
	if (r == HTTP_PARSE_DONE) {
		size_t head_len = req.head_len;

		base_len = head_len;
		CHECK(http_parse_request(buf, head_len, lim, &req2, &status2) == HTTP_PARSE_DONE);
		CHECK(req2.head_len == head_len);
		if (head_len > 1)
			CHECK(http_parse_request(buf, head_len - 1, lim, &req2, &status2) !=
			      HTTP_PARSE_DONE);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits tight = { 64, 128, 4 };
	/* An exact-size copy, so that ASan sees any read past the end. */
	char *buf = malloc(size ? size : 1);
	size_t cut;
	uint32_t h = 2166136261u;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	cut = size ? h % (size + 1) : 0;
	run(NULL, buf, size, cut);
	run(&tight, buf, size, cut);
	free(buf);
	return 0;
}
