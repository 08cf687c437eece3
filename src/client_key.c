/* client_key.c - a client's identity for per-client limits (see
 * client_key.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "client_key.h"
#include "random.h"
#include "siphash.h"

static unsigned char hash_key[SIPHASH_KEY_SIZE];
static pthread_once_t hash_key_once = PTHREAD_ONCE_INIT;

static void hash_key_init(void)
{
	/* a clock-seeded fallback key is still unknown to a remote client,
	 * which only sees addresses, never hashes */
	random_bytes(hash_key, sizeof hash_key);
}

static void set_v4(struct client_key *k, const unsigned char *v4)
{
	memset(k->a, 0, 10);
	k->a[10] = k->a[11] = 0xff;
	memcpy(k->a + 12, v4, 4);
	k->bits = 32;
}

int client_key_from_sockaddr(struct client_key *k, const struct sockaddr *sa, socklen_t len,
			     unsigned ipv6_prefix)
{
	const struct sockaddr_in6 *s6;
	unsigned full;

	if (ipv6_prefix < CLIENT_KEY_IPV6_PREFIX_MIN || ipv6_prefix > CLIENT_KEY_IPV6_PREFIX_MAX)
		return -EINVAL;
	if (!sa || len < (socklen_t)sizeof sa->sa_family)
		return -EINVAL;
	if (sa->sa_family == AF_INET) {
		if (len < (socklen_t)sizeof(struct sockaddr_in))
			return -EINVAL;
		set_v4(k, (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	if (len < (socklen_t)sizeof(struct sockaddr_in6))
		return -EINVAL;
	s6 = (const struct sockaddr_in6 *)sa;
	/* a dual-stack socket shows an IPv4 client as ::ffff:a.b.c.d: the
	 * same client as on an IPv4 socket */
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		set_v4(k, s6->sin6_addr.s6_addr + 12);
		return 0;
	}
	memcpy(k->a, s6->sin6_addr.s6_addr, 16);
	full = ipv6_prefix / 8;
	if (full < 16) {
		k->a[full] &= (unsigned char)(0xff00u >> (ipv6_prefix % 8));
		memset(k->a + full + 1, 0, 16 - full - 1);
	}
	k->bits = (unsigned char)ipv6_prefix;
	return 0;
}

uint64_t client_key_hash(const struct client_key *k)
{
	unsigned char in[17];

	pthread_once(&hash_key_once, hash_key_init);
	memcpy(in, k->a, 16);
	in[16] = k->bits;
	return siphash24(hash_key, in, sizeof in);
}

char *client_key_format(const struct client_key *k, char out[CLIENT_KEY_TEXT_SIZE])
{
	char addr[INET6_ADDRSTRLEN];
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (k->bits == 32 && memcmp(k->a, mapped, sizeof mapped) == 0) {
		inet_ntop(AF_INET, k->a + 12, out, CLIENT_KEY_TEXT_SIZE);
		return out;
	}
	inet_ntop(AF_INET6, k->a, addr, sizeof addr);
	if (k->bits == 128)
		snprintf(out, CLIENT_KEY_TEXT_SIZE, "%s", addr);
	else
		snprintf(out, CLIENT_KEY_TEXT_SIZE, "%s/%u", addr, k->bits);
	return out;
}
