/* fuzz_http_etag.c - libFuzzer target for conditional requests
 * (src/http_etag.c) and range selection on whole requests.
 *
 * The input is used three ways: as an HTTP-date (any of the three forms),
 * as an If-None-Match list, and as the field lines of a GET request that
 * http_conditional_evaluate() and http_range_select() then judge. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_date.h"
#include "http_etag.h"
#include "http_range.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 2026-01-01 00:00:00 UTC and the RFC 9110 example date */
#define T_NOW ((time_t)1767225600)
#define T_LM ((time_t)784111777)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char prefix[] = "GET /f HTTP/1.1\r\nHost: x\r\n";
	static struct http_request req;
	static struct http_ranges rs;
	struct http_validators v;
	char *in = malloc(size ? size : 1), *head;
	enum http_etag_list l;
	time_t t;
	int status;

	CHECK(in);
	memcpy(in, data, size);
	http_validators_init(&v, 0x2a, 8000, T_LM, 0, T_NOW);

	/* dates: an accepted one formats and parses back to itself */
	if (http_date_parse_any(in, size, T_NOW, &t) == 0) {
		char out[HTTP_DATE_LEN + 1];
		time_t t2;

		CHECK(t >= (time_t)-62167219200 && t <= (time_t)253402300800);
		if (t <= (time_t)253402300799) {
			http_date_format(t, out);
			CHECK(http_date_parse_any(out, HTTP_DATE_LEN, T_NOW, &t2) == 0 && t2 == t);
		}
	}

	/* lists */
	l = http_etag_list_match(in, size, v.etag, v.etag_len, size & 1);
	CHECK(l == HTTP_ETAG_LIST_INVALID || l == HTTP_ETAG_LIST_NO_MATCH ||
	      l == HTTP_ETAG_LIST_MATCH || l == HTTP_ETAG_LIST_ANY);
	(void)http_etag_if_range(in, size, &v);

	/* a whole request */
	head = malloc(sizeof(prefix) - 1 + size + 2);
	CHECK(head);
	memcpy(head, prefix, sizeof(prefix) - 1);
	memcpy(head + sizeof(prefix) - 1, data, size);
	memcpy(head + sizeof(prefix) - 1 + size, "\r\n", 2);
	if (http_parse_request(head, sizeof(prefix) - 1 + size + 2, NULL, &req, &status) ==
	    HTTP_PARSE_DONE) {
		int c = http_conditional_evaluate(&req, &v);
		enum http_range_result r;

		CHECK(c == 200 || c == 304 || c == 412);
		r = http_range_select(&req, &v, 8000, HTTP_RANGES_DEFAULT, &rs);
		CHECK(r == HTTP_RANGE_IGNORE || r == HTTP_RANGE_PARTIAL ||
		      r == HTTP_RANGE_UNSATISFIABLE);
		CHECK((r == HTTP_RANGE_PARTIAL) == (rs.n > 0));
		/* HEAD never gets ranges, and agrees with GET on 304/412 */
		req.method = HTTP_M_HEAD;
		CHECK(http_range_select(&req, &v, 8000, HTTP_RANGES_DEFAULT, &rs) ==
		      HTTP_RANGE_IGNORE);
		CHECK(http_conditional_evaluate(&req, &v) == c);
	}
	free(head);
	free(in);
	return 0;
}
