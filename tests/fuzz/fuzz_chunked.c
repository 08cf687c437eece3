/* fuzz_chunked.c - libFuzzer target for the chunked decoder (src/chunked.c).
 *
 * The first byte picks the limits and the way the input is cut; the rest
 * is the body.  The decoder must give the same answer, the same data and
 * the same count of consumed bytes whole, byte by byte, in the pieces the
 * first byte describes, with one byte of output room, and in place. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunked.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	enum chunked_status st;
	int status;
	size_t consumed;
	size_t produced;
	uint64_t body_len;
};

/* PIECE 0: all at once; otherwise pieces of 1..PIECE bytes (cycling).
 * OUTCAP: room offered per call.  INPLACE: decode within a copy of IN,
 * then copy the data to RESULT.  RESULT has room for LEN bytes. */
static void decode(const char *in, size_t len, const struct chunked_limits *lim, size_t piece,
		   size_t outcap, int inplace, char *result, struct result *r)
{
	struct chunked st;
	char *buf = NULL, *out = result;
	size_t pos = 0, o = 0, k = 0;

	if (inplace) {
		buf = malloc(len ? len : 1);
		CHECK(buf);
		memcpy(buf, in, len);
		in = buf;
		out = buf;
	}
	chunked_init(&st, lim);
	r->st = CHUNKED_NEED_MORE;
	while (pos < len) {
		size_t n = piece ? 1 + (k++ % piece) : len - pos, c, p, room;

		if (n > len - pos)
			n = len - pos;
		room = len - o < outcap ? len - o : outcap;
		r->st = chunked_decode(&st, in + pos, n, out + o, room, &c, &p);
		CHECK(c <= n && p <= room && p <= c);
		pos += c;
		o += p;
		CHECK(o <= pos);
		if (r->st != CHUNKED_NEED_MORE)
			break;
		CHECK(c == n || p == room);
	}
	r->consumed = pos;
	r->produced = o;
	r->status = chunked_error_status(&st);
	r->body_len = chunked_body_length(&st);
	if (r->st == CHUNKED_ERROR)
		CHECK(r->status == 400 || r->status == 413 || r->status == 431);
	else
		CHECK(r->status == 0);
	if (r->st == CHUNKED_DONE) {
		CHECK(r->body_len == o);
		CHECK(r->body_len <= lim->max_body);
	}
	if (inplace) {
		memcpy(result, buf, o);
		free(buf);
	}
}

static void same(const struct result *a, const struct result *b, const char *da, const char *db)
{
	CHECK(a->st == b->st);
	CHECK(a->status == b->status);
	CHECK(a->consumed == b->consumed);
	if (a->st == CHUNKED_ERROR)
		return;
	CHECK(a->produced == b->produced);
	CHECK(memcmp(da, db, a->produced) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t bodies[4] = { 0, 16, 1048576, UINT64_MAX };
	struct chunked_limits lim;
	struct result a, b;
	char *in, *out1, *out2;
	size_t len, piece;

	if (size < 1)
		return 0;
	lim.max_body = bodies[data[0] & 3];
	lim.max_line = (data[0] & 4) ? 16 : 1024;
	lim.max_trailer = (data[0] & 8) ? 16 : 8192;
	piece = (size_t)(data[0] >> 4) + 1;
	len = size - 1;
	in = malloc(len ? len : 1);
	out1 = malloc(len ? len : 1);
	out2 = malloc(len ? len : 1);
	CHECK(in && out1 && out2);
	memcpy(in, data + 1, len);

	decode(in, len, &lim, 0, SIZE_MAX, 0, out1, &a);
	decode(in, len, &lim, 1, SIZE_MAX, 0, out2, &b);
	same(&a, &b, out1, out2);
	decode(in, len, &lim, piece, SIZE_MAX, 0, out2, &b);
	same(&a, &b, out1, out2);
	decode(in, len, &lim, 0, 1, 0, out2, &b);
	same(&a, &b, out1, out2);
	decode(in, len, &lim, piece, 3, 0, out2, &b);
	same(&a, &b, out1, out2);
	decode(in, len, &lim, piece, SIZE_MAX, 1, out2, &b);
	same(&a, &b, out1, out2);
	decode(in, len, &lim, 1, SIZE_MAX, 1, out2, &b);
	same(&a, &b, out1, out2);

	free(in);
	free(out1);
	free(out2);
	return 0;
}
