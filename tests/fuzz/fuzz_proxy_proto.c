/* fuzz_proxy_proto.c - libFuzzer target for proxy_proto_parse()
 * (src/proxy_proto.c).
 *
 * Besides memory safety: DONE's length lies within the input (v1: at most
 * 107 bytes, ending in CRLF) and the header alone parses to the same
 * result; every strict prefix of it is MORE; ERROR and DONE do not change
 * when a byte is appended; MORE's announced length is beyond the input;
 * addresses are AF_INET/AF_INET6 (or zero when LOCAL); a parsed v1 TCP
 * header written out again by inet_ntop parses to the same addresses. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_proto.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const struct proxy_proto_header *a, const struct proxy_proto_header *b)
{
	return a->length == b->length && a->version == b->version && a->local == b->local &&
	       memcmp(&a->src, &b->src, sizeof(a->src)) == 0 &&
	       memcmp(&a->dst, &b->dst, sizeof(a->dst)) == 0;
}

static void check_family(const struct proxy_proto_header *h)
{
	static const struct sockaddr_storage zero;

	if (h->local) {
		CHECK(memcmp(&h->src, &zero, sizeof(zero)) == 0);
		CHECK(memcmp(&h->dst, &zero, sizeof(zero)) == 0);
		return;
	}
	CHECK(h->src.ss_family == AF_INET || h->src.ss_family == AF_INET6);
	CHECK(h->dst.ss_family == h->src.ss_family);
}

/* Write a v1 TCP header from H and parse it back. */
static void check_v1_roundtrip(const struct proxy_proto_header *h)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN], line[160];
	struct proxy_proto_header h2;
	unsigned sp, dp;
	int n;

	if (h->src.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)&h->src, *d = (const void *)&h->dst;

		CHECK(inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a)));
		CHECK(inet_ntop(AF_INET, &d->sin_addr, b, sizeof(b)));
		sp = ntohs(s->sin_port);
		dp = ntohs(d->sin_port);
	} else {
		const struct sockaddr_in6 *s = (const void *)&h->src, *d = (const void *)&h->dst;

		CHECK(inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a)));
		CHECK(inet_ntop(AF_INET6, &d->sin6_addr, b, sizeof(b)));
		sp = ntohs(s->sin6_port);
		dp = ntohs(d->sin6_port);
	}
	n = snprintf(line, sizeof(line), "PROXY TCP%c %s %s %u %u\r\n",
		     h->src.ss_family == AF_INET ? '4' : '6', a, b, sp, dp);
	CHECK(n > 0 && n <= PROXY_PROTO_V1_MAX);
	CHECK(proxy_proto_parse((const uint8_t *)line, (size_t)n, &h2) == PROXY_PROTO_DONE);
	CHECK(h2.length == (size_t)n && !h2.local);
	CHECK(memcmp(&h2.src, &h->src, sizeof(h2.src)) == 0);
	CHECK(memcmp(&h2.dst, &h->dst, sizeof(h2.dst)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_proto_header h, h2;
	enum proxy_proto_status st = proxy_proto_parse(data, size, &h), st2;
	uint8_t *more;

	CHECK(st == PROXY_PROTO_MORE || st == PROXY_PROTO_DONE || st == PROXY_PROTO_ERROR);
	if (st != PROXY_PROTO_ERROR && size >= 12)
		CHECK(proxy_proto_is_signature(data, size));
	if (st == PROXY_PROTO_MORE)
		CHECK(h.length == 0 || h.length > size);
	if (st == PROXY_PROTO_DONE) {
		CHECK(h.length > 0 && h.length <= size);
		CHECK(h.version == 1 || h.version == 2);
		if (h.version == 1) {
			CHECK(h.length <= PROXY_PROTO_V1_MAX);
			CHECK(data[h.length - 2] == '\r' && data[h.length - 1] == '\n');
		} else {
			CHECK(h.length >= PROXY_PROTO_V2_HEAD && h.length <= PROXY_PROTO_V2_MAX);
		}
		check_family(&h);
		/* the header alone, and every strict prefix of it */
		CHECK(proxy_proto_parse(data, h.length, &h2) == PROXY_PROTO_DONE && same(&h, &h2));
		for (size_t i = 0; i < h.length; i++)
			CHECK(proxy_proto_parse(data, i, &h2) == PROXY_PROTO_MORE);
		if (!h.local)
			check_v1_roundtrip(&h);
	}
	/* one byte more changes nothing that was decided */
	more = malloc(size + 1);
	CHECK(more);
	if (size)
		memcpy(more, data, size);
	for (unsigned c = 0; c < 256; c += 85) {
		more[size] = (uint8_t)c;
		st2 = proxy_proto_parse(more, size + 1, &h2);
		if (st == PROXY_PROTO_ERROR)
			CHECK(st2 == PROXY_PROTO_ERROR);
		if (st == PROXY_PROTO_DONE)
			CHECK(st2 == PROXY_PROTO_DONE && same(&h, &h2));
	}
	free(more);
	return 0;
}
