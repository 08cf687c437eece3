/* client_key.h - what identifies a client for per-client limits
 * (max_connections_per_ip, rate limits): its IPv4 address, an IPv4-mapped
 * IPv6 address as that IPv4 address, an IPv6 address by its first
 * client_ipv6_prefix bits (a /64 is what one subscriber or one host gets:
 * counted by the full 128 bits, a single client would own 2^64 keys), and a
 * keyed hash of it for tables.
 *
 * The hash is SipHash-2-4 under a key drawn from random.c once per
 * process, so a client cannot choose addresses that collide. */
#ifndef MTH_CLIENT_KEY_H
#define MTH_CLIENT_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* 127.0.0.0/8, ::1 or v4-mapped 127/8: an address on this host. */
static inline bool client_addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr)[0] ==
		       127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

#define CLIENT_KEY_IPV6_PREFIX_DEFAULT 64
/* shorter prefixes would put a whole provider's customers under one cap */
#define CLIENT_KEY_IPV6_PREFIX_MIN 32
#define CLIENT_KEY_IPV6_PREFIX_MAX 128

/* an IPv6 address as text (INET6_ADDRSTRLEN, 46 with its NUL) and "/NNN" */
#define CLIENT_KEY_TEXT_SIZE 52

/* A plain value: IPv4 as ::ffff:a.b.c.d, IPv6 with the bits past the
 * prefix zeroed, and the prefix length (32 for IPv4). */
struct client_key {
	unsigned char a[16];
	unsigned char bits;
};

/* The key of the peer SA (LEN bytes) with IPv6 addresses cut to
 * IPV6_PREFIX bits (CLIENT_KEY_IPV6_PREFIX_MIN..MAX).  0, -EINVAL for a bad
 * prefix or a short address, -EAFNOSUPPORT for a family other than
 * AF_INET/AF_INET6 (such as a Unix socket: no client to tell apart; the
 * caller decides). */
int client_key_from_sockaddr(struct client_key *k, const struct sockaddr *sa, socklen_t len,
			     unsigned ipv6_prefix);

static inline bool client_key_eq(const struct client_key *a, const struct client_key *b)
{
	return a->bits == b->bits && __builtin_memcmp(a->a, b->a, sizeof a->a) == 0;
}

/* The keyed hash of K (the same for the whole process). */
uint64_t client_key_hash(const struct client_key *k);

/* K as text: "192.0.2.7" or "2001:db8:1:2::/64" (no "/128" for a whole
 * IPv6 address).  Returns OUT. */
char *client_key_format(const struct client_key *k, char out[CLIENT_KEY_TEXT_SIZE]);

#endif
