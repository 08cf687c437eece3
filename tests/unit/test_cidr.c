/* test_cidr.c - address prefixes for trusted_proxies (src/cidr.c). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "cidr.h"

static struct sockaddr_storage sa(const char *addr)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		cr_assert_fail("bad test address %s", addr);
	return ss;
}

/* Does ADDR lie in the one-entry list PREFIX? */
static bool in(const char *prefix, const char *addr)
{
	struct cidr c;
	struct sockaddr_storage ss = sa(addr);

	cr_assert_eq(cidr_parse(prefix, &c), 0, "cidr_parse(%s)", prefix);
	return cidr_match(&c, 1, (struct sockaddr *)&ss);
}

Test(cidr, single_addresses)
{
	cr_expect(in("127.0.0.1", "127.0.0.1"));
	cr_expect_not(in("127.0.0.1", "127.0.0.2"));
	cr_expect(in("::1", "::1"));
	cr_expect_not(in("::1", "::2"));
	cr_expect_not(in("::1", "127.0.0.1"));
	cr_expect_not(in("127.0.0.1", "::1"));
}

Test(cidr, prefixes)
{
	cr_expect(in("10.0.0.0/8", "10.255.1.2"));
	cr_expect_not(in("10.0.0.0/8", "11.0.0.0"));
	cr_expect(in("192.168.4.0/22", "192.168.7.255"));
	cr_expect_not(in("192.168.4.0/22", "192.168.8.0"));
	cr_expect_not(in("192.168.4.0/22", "192.168.3.255"));
	cr_expect(in("0.0.0.0/0", "203.0.113.9"));
	cr_expect_not(in("0.0.0.0/0", "2001:db8::1"));
	cr_expect(in("fd00::/8", "fdab:1::7"));
	cr_expect_not(in("fd00::/8", "fe80::1"));
	cr_expect(in("2001:db8:1:2::/63", "2001:db8:1:3::ffff"));
	cr_expect_not(in("2001:db8:1:2::/63", "2001:db8:1:4::"));
	cr_expect(in("::/0", "2001:db8::1"));
	cr_expect(in("10.1.2.3/32", "10.1.2.3"));
}

/* On a dual-stack socket an IPv4 client is ::ffff:a.b.c.d. */
Test(cidr, v4_mapped_peers)
{
	cr_expect(in("127.0.0.1", "::ffff:127.0.0.1"));
	cr_expect(in("10.0.0.0/8", "::ffff:10.9.8.7"));
	cr_expect_not(in("10.0.0.0/8", "::ffff:11.9.8.7"));
	cr_expect(in("::ffff:10.0.0.0/104", "10.1.1.1"));
}

Test(cidr, list_and_other_families)
{
	struct cidr l[3];
	struct sockaddr_storage a = sa("::1"), b = sa("172.16.0.1"), c = sa("8.8.8.8");
	struct sockaddr un = { .sa_family = AF_UNIX };

	cr_assert_eq(cidr_parse("127.0.0.1", &l[0]), 0);
	cr_assert_eq(cidr_parse("::1", &l[1]), 0);
	cr_assert_eq(cidr_parse("172.16.0.0/12", &l[2]), 0);
	cr_expect(cidr_match(l, 3, (struct sockaddr *)&a));
	cr_expect(cidr_match(l, 3, (struct sockaddr *)&b));
	cr_expect_not(cidr_match(l, 3, (struct sockaddr *)&c));
	cr_expect_not(cidr_match(l, 0, (struct sockaddr *)&a));
	cr_expect_not(cidr_match(l, 3, &un));
}

Test(cidr, invalid)
{
	const char *bad[] = { "",	    "/8",	    "10.0.0.0/",    "10.0.0.0/33",
			      "::/129",	    "10.0.0.0/08",  "10.0.0.0/-1",  "10.0.0.0/8x",
			      "10.1.0.0/8", "fd00::1/8",    "10.0.0",	    "localhost",
			      "[::1]",	    "::1/",	    "10.0.0.0/8/8", "1.2.3.4 ",
			      "::1%lo",	    "10.0.0.0/1000" };
	struct cidr c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(cidr_parse(bad[i], &c), -EINVAL, "cidr_parse(\"%s\")", bad[i]);
	cr_expect_eq(cidr_parse("10.0.0.0/0", &c), -EINVAL, "host bits past /0");
	cr_expect_eq(cidr_parse("0.0.0.0/0", &c), 0);
	cr_expect_eq(c.bits, 96);
	cr_expect_eq(cidr_parse("::/0", &c), 0);
	cr_expect_eq(c.bits, 0);
}
