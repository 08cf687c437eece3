/* fuzz_json_validate.c - libFuzzer target for the streaming JSON validator
 * (src/json_validate.c).
 *
 * The first byte picks where to cut the input; the rest is the document.
 * The verdict, the reason and the error offset must be the same whole,
 * byte by byte and cut in two; the offset never passes the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_validate.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	int r;
	const char *why;
	uint64_t offset;
};

/* CUT 0: whole; 1: byte by byte; else at CUT - 2 (clamped). */
static void check(struct json_validate *v, const char *in, size_t len, size_t cut,
		  struct result *res)
{
	int r = 0;

	json_validate_reset(v);
	if (cut == 0) {
		r = json_validate_feed(v, in, len);
	} else if (cut == 1) {
		for (size_t i = 0; i < len && r == 0; i++)
			r = json_validate_feed(v, in + i, 1);
	} else {
		size_t at = cut - 2 < len ? cut - 2 : len;

		r = json_validate_feed(v, in, at);
		if (r == 0)
			r = json_validate_feed(v, in + at, len - at);
	}
	res->offset = json_validate_offset(v);
	CHECK(res->offset <= len);
	CHECK(r == 0 || res->offset < len);
	if (r == 0)
		r = json_validate_finish(v);
	CHECK(r == 0 || r == -22);
	res->r = r;
	res->why = json_validate_error(v);
	CHECK((r == 0) == (res->why == NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_validate *v;
	struct result a, b;
	const char *in;
	size_t len;

	if (size < 1)
		return 0;
	in = (const char *)data + 1;
	len = size - 1;
	v = json_validate_new((unsigned)(data[0] & 7) + 1);
	CHECK(v);
	check(v, in, len, 0, &a);
	check(v, in, len, 1, &b);
	CHECK(a.r == b.r && a.offset == b.offset && (a.why == b.why || !strcmp(a.why, b.why)));
	check(v, in, len, (size_t)data[0] + 2, &b);
	CHECK(a.r == b.r && a.offset == b.offset && (a.why == b.why || !strcmp(a.why, b.why)));
	json_validate_free(v);
	return 0;
}
