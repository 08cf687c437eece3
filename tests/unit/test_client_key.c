/* test_client_key.c - who counts as one client: IPv4, IPv4-mapped IPv6 as
 * IPv4, IPv6 by its prefix; the keyed hash. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client_key.h"
#include "siphash.h"

/* getrandom() fills 0, 1, 2, ... when set (the hash key test); else the
 * kernel's. */
static bool scripted_random;

ssize_t getrandom(void *buf, size_t n, unsigned int flags)
{
	if (scripted_random) {
		for (size_t i = 0; i < n; i++)
			((unsigned char *)buf)[i] = (unsigned char)i;
		return (ssize_t)n;
	}
	return syscall(SYS_getrandom, buf, n, flags);
}

static int key_of(const char *addr, unsigned prefix, struct client_key *k)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };

	if (inet_pton(AF_INET, addr, &s4.sin_addr) == 1)
		return client_key_from_sockaddr(k, (struct sockaddr *)&s4, sizeof s4, prefix);
	cr_assert_eq(inet_pton(AF_INET6, addr, &s6.sin6_addr), 1, "%s", addr);
	s6.sin6_port = htons(1234);
	return client_key_from_sockaddr(k, (struct sockaddr *)&s6, sizeof s6, prefix);
}

static struct client_key key(const char *addr, unsigned prefix)
{
	struct client_key k;

	memset(&k, 0xaa, sizeof k);
	cr_assert_eq(key_of(addr, prefix, &k), 0, "%s/%u", addr, prefix);
	return k;
}

static bool same(const char *a, const char *b, unsigned prefix)
{
	struct client_key ka = key(a, prefix), kb = key(b, prefix);
	bool eq = client_key_eq(&ka, &kb);

	if (eq)
		cr_assert_eq(client_key_hash(&ka), client_key_hash(&kb), "%s %s", a, b);
	return eq;
}

static const char *text(const char *addr, unsigned prefix)
{
	static char out[CLIENT_KEY_TEXT_SIZE];
	struct client_key k = key(addr, prefix);

	return client_key_format(&k, out);
}

Test(client_key, ipv6_counts_by_its_prefix)
{
	cr_expect(same("2001:db8::1", "2001:db8::2", 64));
	cr_expect(same("2001:db8:0:0:ffff:ffff:ffff:ffff", "2001:db8::", 64));
	cr_expect(!same("2001:db8:0:1::1", "2001:db8::1", 64));
	cr_expect(same("2001:db8:0:1::1", "2001:db8::1", 48));
	cr_expect(!same("2001:db8::1", "2001:db8::2", 128));
	cr_expect(same("2001:db8::1", "2001:db8::1", 128));
	/* a prefix that ends inside a byte */
	cr_expect(same("2001:db8:0:ff::", "2001:db8:0:f0::", 60));
	cr_expect(!same("2001:db8:0:ff::", "2001:db8:0:ef::", 60));
	cr_expect(same("2001:db8:ffff::", "2001:db8::", 32));
}

Test(client_key, ipv4_mapped_is_the_ipv4_client)
{
	cr_expect(same("::ffff:192.0.2.7", "192.0.2.7", 64));
	cr_expect(same("::ffff:192.0.2.7", "192.0.2.7", 128));
	cr_expect(!same("::ffff:192.0.2.7", "192.0.2.8", 64));
	/* the /64 rule must not lump IPv4 clients together */
	cr_expect(!same("192.0.2.7", "192.0.2.8", 32));
	cr_expect(!same("::ffff:192.0.2.7", "::ffff:192.0.2.8", 32));
	/* nor may an IPv6 /32 pass for an IPv4 client */
	cr_expect(!same("2001:db8::", "32.1.13.184", 32));
}

Test(client_key, text)
{
	cr_expect_str_eq(text("192.0.2.7", 64), "192.0.2.7");
	cr_expect_str_eq(text("::ffff:192.0.2.7", 64), "192.0.2.7");
	cr_expect_str_eq(text("2001:db8::5:6:7:8", 64), "2001:db8::/64");
	cr_expect_str_eq(text("2001:db8::5:6:7:8", 128), "2001:db8::5:6:7:8");
	cr_expect_str_eq(text("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 127),
			 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127");
}

Test(client_key, rejects_bad_prefixes_and_addresses)
{
	struct client_key k;
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };

	cr_expect_eq(key_of("2001:db8::1", 31, &k), -EINVAL);
	cr_expect_eq(key_of("2001:db8::1", 129, &k), -EINVAL);
	cr_expect_eq(key_of("192.0.2.1", 0, &k), -EINVAL);
	cr_expect_eq(client_key_from_sockaddr(&k, (struct sockaddr *)&un, sizeof un, 64),
		     -EAFNOSUPPORT);
	cr_expect_eq(client_key_from_sockaddr(&k, (struct sockaddr *)&s6, sizeof s6 - 1, 64),
		     -EINVAL);
	cr_expect_eq(client_key_from_sockaddr(&k, NULL, 0, 64), -EINVAL);
}

/* The hash is keyed per process: the same client hashes alike within a
 * process, and differently in another (the key comes from random.c). */
Test(client_key, hash_is_stable_and_spreads)
{
	struct client_key a = key("2001:db8::1", 64), b = key("2001:db8:0:1::1", 64);

	cr_assert_eq(client_key_hash(&a), client_key_hash(&a));
	cr_assert_neq(client_key_hash(&a), client_key_hash(&b));
}

/* The hash key is the first 16 bytes random.c hands out (here scripted
 * as 00..0f through the getrandom() below): no fixed or guessable key. */
Test(client_key, hash_is_siphash_under_a_key_from_random)
{
	struct client_key k = key("2001:db8::1", 64);
	unsigned char sipkey[SIPHASH_KEY_SIZE], in[17];

	scripted_random = true;
	for (unsigned i = 0; i < sizeof sipkey; i++)
		sipkey[i] = (unsigned char)i;
	memcpy(in, k.a, 16);
	in[16] = k.bits;
	cr_assert_eq(client_key_hash(&k), siphash24(sipkey, in, sizeof in));
}
