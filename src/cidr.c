/* cidr.c - address prefixes and membership (see cidr.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "cidr.h"

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Do the first BITS bits of A and B agree? */
static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	return rest == 0 || ((a[whole] ^ b[whole]) & (uint8_t)(0xff00 >> rest)) == 0;
}

int cidr_parse(const char *s, struct cidr *out)
{
	char buf[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	uint8_t a4[4];
	unsigned max, bits;
	bool v4;

	if (alen == 0 || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, a4) == 1) {
		v4 = true;
		max = 32;
		memcpy(out->addr, v4mapped, 12);
		memcpy(out->addr + 12, a4, 4);
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		v4 = false;
		max = 128;
	} else {
		return -EINVAL;
	}
	bits = max;
	if (slash) {
		const char *p = slash + 1;
		size_t n = strlen(p);

		if (n < 1 || n > 3 || (n > 1 && p[0] == '0'))
			return -EINVAL;
		bits = 0;
		for (size_t i = 0; i < n; i++) {
			if (p[i] < '0' || p[i] > '9')
				return -EINVAL;
			bits = bits * 10 + (unsigned)(p[i] - '0');
		}
		if (bits > max)
			return -EINVAL;
	}
	if (v4)
		bits += 96;
	/* nothing set past the prefix */
	for (unsigned i = bits; i < 128; i++)
		if (out->addr[i / 8] & (0x80u >> (i % 8)))
			return -EINVAL;
	out->bits = (uint8_t)bits;
	return 0;
}

bool cidr_match(const struct cidr *list, size_t n, const struct sockaddr *sa)
{
	uint8_t a[16];

	if (sa->sa_family == AF_INET) {
		memcpy(a, v4mapped, 12);
		memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	} else {
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (prefix_eq(a, list[i].addr, list[i].bits))
			return true;
	return false;
}
