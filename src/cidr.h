/* cidr.h - address prefixes (IPv4 and IPv6, "10.0.0.0/8", "::1") and the
 * test "is this peer inside one of them", for trusted_proxies.
 *
 * IPv4 prefixes are kept as IPv4-mapped IPv6 ones (::ffff:a.b.c.d/96+n),
 * so an IPv4 client arriving on a dual-stack "::" socket matches them too.
 * Pure functions, no I/O. */
#ifndef MTH_CIDR_H
#define MTH_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	uint8_t addr[16]; /* the bits past BITS are zero */
	uint8_t bits;	  /* 0..128 */
};

/* Parse "ADDR" or "ADDR/N" (numeric IPv4 or IPv6, N 0..32 or 0..128,
 * decimal without a leading zero).  Host bits beyond N must be zero
 * ("10.1.2.3/8" is refused: it is almost always a typo).  Returns 0 or
 * -EINVAL. */
int cidr_parse(const char *s, struct cidr *out);

/* True if SA (AF_INET or AF_INET6, else false) lies in one of the N
 * prefixes of LIST. */
bool cidr_match(const struct cidr *list, size_t n, const struct sockaddr *sa);

#endif
