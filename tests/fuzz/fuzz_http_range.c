/* fuzz_http_range.c - libFuzzer target for the Range parser and the
 * multipart/byteranges arithmetic (src/http_range.c).
 *
 * Input: 8 bytes of representation size, 1 byte of max_ranges, then the
 * Range field value.  A PARTIAL answer must hold 1..max disjoint,
 * non-adjacent ranges inside the size; the Content-Range values and the
 * multipart length must agree with what the formatters write. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_range.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_ranges rs;
	static char buf[512];
	char boundary[HTTP_RANGE_BOUNDARY_SIZE];
	uint64_t fsize = 0, total;
	size_t max, len, kept;
	enum http_range_result r;
	char *v;

	if (size < 9)
		return 0;
	for (int i = 0; i < 8; i++)
		fsize = fsize << 8 | data[i];
	/* mostly small files, so that ranges hit the end; sometimes huge */
	if (data[8] & 0x80)
		fsize &= INT64_MAX;
	else
		fsize %= 100000;
	max = data[8] & 0x3f; /* 0..63: beyond HTTP_RANGES_MAX too */
	kept = max > HTTP_RANGES_MAX ? HTTP_RANGES_MAX : max;
	len = size - 9;
	v = malloc(len ? len : 1);
	CHECK(v);
	memcpy(v, data + 9, len);

	r = http_range_parse(v, len, fsize, max, &rs);
	CHECK(r == HTTP_RANGE_IGNORE || r == HTTP_RANGE_PARTIAL || r == HTTP_RANGE_UNSATISFIABLE);
	if (r != HTTP_RANGE_PARTIAL) {
		CHECK(rs.n == 0);
		if (r == HTTP_RANGE_UNSATISFIABLE) {
			size_t n = http_range_content_range(buf, sizeof(buf), NULL, fsize);
			char want[64];

			snprintf(want, sizeof(want), "bytes */%llu", (unsigned long long)fsize);
			CHECK(n == strlen(want) && strcmp(buf, want) == 0);
		}
		free(v);
		return 0;
	}
	CHECK(max > 0 && fsize > 0);
	CHECK(rs.n >= 1 && rs.n <= kept);
	total = 0;
	http_range_boundary(boundary, fsize ^ 0x5555555555555555ull);
	for (size_t i = 0; i < rs.n; i++) {
		const struct http_range *a = &rs.r[i];
		char want[HTTP_CONTENT_RANGE_SIZE];
		size_t n;

		CHECK(a->first <= a->last && a->last < fsize);
		for (size_t j = 0; j < i; j++) {
			const struct http_range *b = &rs.r[j];

			/* neither overlapping nor adjacent */
			CHECK(a->last + 1 < b->first || b->last + 1 < a->first);
		}
		n = http_range_content_range(buf, sizeof(buf), a, fsize);
		snprintf(want, sizeof(want), "bytes %llu-%llu/%llu", (unsigned long long)a->first,
			 (unsigned long long)a->last, (unsigned long long)fsize);
		CHECK(n == strlen(want) && strcmp(buf, want) == 0);
		n = http_range_part_head(buf, sizeof(buf), boundary, "text/plain", a, fsize);
		CHECK(n > 0 && n == strlen(buf));
		CHECK(n == http_range_part_head_len(boundary, "text/plain", a, fsize));
		total += n + (a->last - a->first + 1);
	}
	total += http_range_multipart_tail(buf, sizeof(buf), boundary);
	CHECK(total == http_range_multipart_length(&rs, boundary, "text/plain", fsize));
	free(v);
	return 0;
}
