/* test_host.c - Host header syntax and the allowed_hosts allow-list. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "host.h"
#include "survives.h"
#include "util.h"

/* host_parse on a C string; OUT may be NULL when only the result matters */
static int parse(const char *s, struct host_name *out)
{
	struct host_name tmp;

	return host_parse(s, strlen(s), out ? out : &tmp);
}

static void expect_ok(const char *s, const char *name, int port)
{
	struct host_name h;
	int r = parse(s, &h);

	cr_assert_eq(r, 0, "host_parse(\"%s\") = %d, want 0", s, r);
	cr_expect_str_eq(h.name, name, "host_parse(\"%s\") name", s);
	cr_expect_eq(h.port, port, "host_parse(\"%s\") port %d, want %d", s, h.port, port);
}

static void expect_invalid(const char *s)
{
	int r = parse(s, NULL);

	cr_expect_eq(r, -EINVAL, "host_parse(\"%s\") = %d, want -EINVAL", s, r);
}

/* host_allow_new on ENTRIES, a NULL-terminated list (or NULL) of string
 * literals; the config hands us char * const *, literals are const. */
static int compile(const char *const *entries, struct host_allow **ha, char *err, size_t errlen)
{
	char *list[16];
	size_t n = 0;

	while (entries && entries[n]) {
		cr_assert_lt(n, ARRAY_SIZE(list));
		list[n] = (char *)entries[n];
		n++;
	}
	return host_allow_new(list, n, ha, err, errlen);
}

/* Compile ENTRIES; fails the test if that does not succeed. */
static struct host_allow *allow(const char *const *entries)
{
	struct host_allow *ha = NULL;
	char err[256] = "";

	cr_assert_eq(compile(entries, &ha, err, sizeof(err)), 0, "%s", err);
	cr_assert_not_null(ha);
	return ha;
}

static enum host_verdict check(const struct host_allow *ha, const char *v, unsigned port)
{
	return host_check(ha, v, strlen(v), port);
}

/* ---- host_parse: names ---- */

Test(host_parse, plain_name)
{
	expect_ok("localhost", "localhost", -1);
	expect_ok("example.com", "example.com", -1);
	expect_ok("a", "a", -1);
	expect_ok("my-host_1.example.org", "my-host_1.example.org", -1);
}

Test(host_parse, lower_cases_name)
{
	expect_ok("LocalHost", "localhost", -1);
	expect_ok("WWW.EXAMPLE.COM:8080", "www.example.com", 8080);
}

Test(host_parse, ipv4_literal)
{
	expect_ok("127.0.0.1", "127.0.0.1", -1);
	expect_ok("192.168.1.10:8080", "192.168.1.10", 8080);
}

Test(host_parse, trailing_dot_is_stripped)
{
	expect_ok("localhost.", "localhost", -1);
	expect_ok("Example.COM.:443", "example.com", 443);
	/* only one: "a.." is "a." which is still not "a" */
	expect_ok("a..", "a.", -1);
	expect_invalid(".");
	expect_invalid(".:80");
}

Test(host_parse, name_length_limit)
{
	char buf[HOST_NAME_MAX_LEN + 3];
	struct host_name h;

	memset(buf, 'a', HOST_NAME_MAX_LEN);
	buf[HOST_NAME_MAX_LEN] = '\0';
	cr_expect_eq(parse(buf, &h), 0);
	cr_expect_eq(strlen(h.name), HOST_NAME_MAX_LEN);

	/* the trailing dot does not count */
	buf[HOST_NAME_MAX_LEN] = '.';
	buf[HOST_NAME_MAX_LEN + 1] = '\0';
	cr_expect_eq(parse(buf, &h), 0);
	cr_expect_eq(strlen(h.name), HOST_NAME_MAX_LEN);

	buf[HOST_NAME_MAX_LEN] = 'a';
	cr_expect_eq(parse(buf, NULL), -EINVAL);
}

/* Names are checked and lower-cased in one pass, bounded by the name
 * buffer: what follows a name that long decides as before. */
Test(host_parse, long_names_with_ports_and_junk)
{
	char buf[HOST_NAME_MAX_LEN + 16];
	struct host_name h;

	memset(buf, 'A', HOST_NAME_MAX_LEN);
	strcpy(buf + HOST_NAME_MAX_LEN, ".:8080");
	cr_expect_eq(parse(buf, &h), 0);
	cr_expect_eq(strlen(h.name), HOST_NAME_MAX_LEN);
	cr_expect_eq(h.name[0], 'a');
	cr_expect_eq(h.port, 8080);
	strcpy(buf + HOST_NAME_MAX_LEN, "a:8080"); /* 256 bytes before ':' */
	cr_expect_eq(parse(buf, NULL), -EINVAL);
	strcpy(buf + HOST_NAME_MAX_LEN, ".!"); /* a bad byte just past the buffer */
	cr_expect_eq(parse(buf, NULL), -EINVAL);
	strcpy(buf + HOST_NAME_MAX_LEN, "!"); /* a bad byte at its last place */
	cr_expect_eq(parse(buf, NULL), -EINVAL);
	strcpy(buf + HOST_NAME_MAX_LEN, ".."); /* one dot is dropped, not two */
	cr_expect_eq(parse(buf, NULL), -EINVAL);
	cr_expect_eq(parse("exa mple.com", NULL), -EINVAL);
	cr_expect_eq(parse("example.com\x80", NULL), -EINVAL);
	cr_expect_eq(parse("Ex_A-mple.COM.:443", &h), 0);
	cr_expect_str_eq(h.name, "ex_a-mple.com");
	cr_expect_eq(h.port, 443);
}

Test(host_parse, len_is_respected)
{
	struct host_name h;

	/* a Host value is a slice of the request buffer, not a C string */
	cr_assert_eq(host_parse("example.com:80 trailing", 14, &h), 0);
	cr_expect_str_eq(h.name, "example.com");
	cr_expect_eq(h.port, 80);
	cr_expect_eq(host_parse("abc\0def", 7, &h), -EINVAL);
	cr_expect_eq(host_parse("", 0, &h), -EINVAL);
	cr_expect_eq(host_parse(NULL, 0, &h), -EINVAL);
}

Test(host_parse, out_untouched_on_error)
{
	struct host_name h = {.name = "keep", .port = 7};

	cr_expect_eq(parse("bad host", &h), -EINVAL);
	cr_expect_str_eq(h.name, "keep");
	cr_expect_eq(h.port, 7);
}

Test(host_parse, invalid_names)
{
	expect_invalid("");
	expect_invalid(" ");
	expect_invalid("a b");
	expect_invalid(" localhost");
	expect_invalid("localhost ");
	expect_invalid("user@localhost");
	expect_invalid("user:pw@localhost");
	expect_invalid("localhost/");
	expect_invalid("localhost/x");
	expect_invalid("http://localhost");
	expect_invalid("local%68ost");
	expect_invalid("loc~al");
	expect_invalid("a,b");
	expect_invalid("a!b");
	expect_invalid("localhost\r\n");
	expect_invalid("localhost\t");
	expect_invalid("h\xc3\xa9llo"); /* raw UTF-8: IDNs arrive as xn-- */
}

/* ---- host_parse: ports ---- */

Test(host_parse, ports)
{
	expect_ok("localhost:1", "localhost", 1);
	expect_ok("localhost:80", "localhost", 80);
	expect_ok("localhost:65535", "localhost", 65535);
	expect_ok("localhost:080", "localhost", 80);
	expect_ok("localhost:00080", "localhost", 80);
}

Test(host_parse, invalid_ports)
{
	expect_invalid("localhost:");
	expect_invalid("localhost:0");
	expect_invalid("localhost:00000");
	expect_invalid("localhost:65536");
	expect_invalid("localhost:99999");
	expect_invalid("localhost:000080"); /* six digits */
	expect_invalid("localhost:123456");
	expect_invalid("localhost:-1");
	expect_invalid("localhost:+80");
	expect_invalid("localhost:8o");
	expect_invalid("localhost:80 ");
	expect_invalid("localhost:80:80");
	expect_invalid("localhost::80");
	expect_invalid(":80");
	expect_invalid(":");
}

/* ---- host_parse: IPv6 ---- */

Test(host_parse, ipv6_literal)
{
	expect_ok("[::1]", "[::1]", -1);
	expect_ok("[::1]:8080", "[::1]", 8080);
	expect_ok("[2001:DB8::A]", "[2001:db8::a]", -1);
	expect_ok("[::ffff:192.0.2.1]:443", "[::ffff:192.0.2.1]", 443);
	expect_ok("[0000:0000:0000:0000:0000:ffff:192.168.100.228]",
		  "[0000:0000:0000:0000:0000:ffff:192.168.100.228]", -1);
}

Test(host_parse, invalid_ipv6)
{
	expect_invalid("[]");
	expect_invalid("[");
	expect_invalid("[::1");
	expect_invalid("::1");
	expect_invalid("::1]");
	expect_invalid("[::1]]");
	expect_invalid("[::1]x");
	expect_invalid("[::1]:");
	expect_invalid("[::1]:0");
	expect_invalid("[::1]:65536");
	expect_invalid("[::g]");
	expect_invalid("[1.2.3.4]");
	expect_invalid("[localhost]");
	expect_invalid("[fe80::1%25eth0]"); /* RFC 6874 zone IDs: not accepted */
	expect_invalid("[v1.fe80::a+en1]"); /* IPvFuture */
	expect_invalid("[ ::1]");
	expect_invalid("[1:2:3:4:5:6:7:8:9]");
	expect_invalid("x[::1]");
}

/* ---- allow-list ---- */

Test(host_allow, bad_entry_is_named)
{
	static const char *const list[] = {"localhost", "x y", "example.com", NULL};
	int sentinel; /* *out must be reset on failure */
	struct host_allow *ha = (struct host_allow *)(void *)&sentinel;
	char err[128] = "";

	cr_assert_eq(compile(list, &ha, err, sizeof(err)), -EINVAL);
	cr_expect_null(ha);
	cr_expect_str_eq(err, "invalid allowed_hosts entry 'x y'");
}

Test(host_allow, bad_port_entry_is_named)
{
	static const char *const list[] = {"localhost", "localhost:0", NULL};
	struct host_allow *ha = NULL;
	char err[128] = "";

	cr_assert_eq(compile(list, &ha, err, sizeof(err)), -EINVAL);
	cr_expect_null(ha);
	cr_expect_str_eq(err, "invalid allowed_hosts entry 'localhost:0'");
}

Test(host_allow, error_text_is_truncated_safely)
{
	static const char *const list[] = {"a very long bad entry", NULL};
	struct host_allow *ha = NULL;
	char err[8];

	cr_assert_eq(compile(list, &ha, err, sizeof(err)), -EINVAL);
	cr_expect_eq(strlen(err), sizeof(err) - 1);
	cr_expect_eq(compile(list, &ha, NULL, 0), -EINVAL);
}

Test(host_allow, free_accepts_null)
{
	cr_assert_survives(host_allow_free(NULL));
}

Test(host_check, name_without_port)
{
	static const char *const list[] = {"localhost", "example.com", NULL};
	struct host_allow *ha = allow(list);

	cr_expect_eq(check(ha, "localhost:8080", 8080), HOST_OK);
	cr_expect_eq(check(ha, "example.com:8080", 8080), HOST_OK);
	cr_expect_eq(check(ha, "example.com:9090", 9090), HOST_OK);
	cr_expect_eq(check(ha, "other.com:8080", 8080), HOST_FORBIDDEN);
	cr_expect_eq(check(ha, "localhost.example.com:8080", 8080), HOST_FORBIDDEN);
	cr_expect_eq(check(ha, "localhos:8080", 8080), HOST_FORBIDDEN);
	host_allow_free(ha);
}

/* Entries are compared by length first, then by their bytes. */
Test(host_check, same_length_names)
{
	static const char *const list[] = {"localhost", "127.0.0.1", "[::1]", NULL};
	struct host_allow *ha = allow(list);

	cr_expect_eq(check(ha, "localhosx:8080", 8080), HOST_FORBIDDEN);
	cr_expect_eq(check(ha, "127.0.0.2:8080", 8080), HOST_FORBIDDEN);
	cr_expect_eq(check(ha, "127.0.0.1:8080", 8080), HOST_OK);
	cr_expect_eq(check(ha, "LocalHost.:8080", 8080), HOST_OK);
	cr_expect_eq(check(ha, "[::1]:8080", 8080), HOST_OK);
	cr_expect_eq(check(ha, "[::2]:8080", 8080), HOST_FORBIDDEN);
	cr_expect_eq(check(ha, "[0::1]:8080", 8080), HOST_FORBIDDEN);
	host_allow_free(ha);
}

/* A bare name matches a Host without a port (whatever port we listen
 * on: behind a proxy or port forwarding a browser sends none for 80) and
 * one with the port the connection arrived on; no other port. */
Test(host_check, bare_name_matches_no_port_and_the_arrival_port)
{
	static const char *const list[] = {"localhost", NULL};
	struct host_allow *ha = allow(list);

	cr_expect_eq(check(ha, "localhost", 80), HOST_OK);
	cr_expect_eq(check(ha, "localhost:80", 80), HOST_OK);
	cr_expect_eq(check(ha, "localhost", 8080), HOST_OK);
	cr_expect_eq(check(ha, "localhost:8080", 8080), HOST_OK);
	cr_expect_eq(check(ha, "localhost:80", 8080), HOST_FORBIDDEN);
	cr_expect_eq(check(ha, "localhost:8081", 8080), HOST_FORBIDDEN);
	cr_expect_eq(check(ha, "localhost:8080", 8081), HOST_FORBIDDEN);
	cr_expect_eq(check(ha, "localhost:8080", 0), HOST_FORBIDDEN);
	host_allow_free(ha);
}

/* "name:port" matches exactly that port, whatever port the connection
 * arrived on (a proxy in front, docker -p 80:8080, a REDIRECT from 80 to
 * 8080); a Host without a port is port 80.  The example of issue 13: on
 * port 18092, ["example.org", "localhost:9999"]. */
Test(host_check, entry_with_port_matches_that_port_on_any_connection)
{
	static const char *const list[] = {"example.org", "localhost:9999", "www.example.org:80",
					   "[::1]:8443", NULL};
	struct host_allow *ha = allow(list);

	cr_expect_eq(check(ha, "example.org", 18092), HOST_OK);
	cr_expect_eq(check(ha, "example.org:18092", 18092), HOST_OK);
	cr_expect_eq(check(ha, "localhost:9999", 18092), HOST_OK);
	cr_expect_eq(check(ha, "localhost:18092", 18092), HOST_FORBIDDEN);
	cr_expect_eq(check(ha, "localhost", 18092), HOST_FORBIDDEN);
	cr_expect_eq(check(ha, "localhost:9999", 9999), HOST_OK);
	cr_expect_eq(check(ha, "www.example.org", 8080), HOST_OK);
	cr_expect_eq(check(ha, "www.example.org:80", 8080), HOST_OK);
	cr_expect_eq(check(ha, "www.example.org:8080", 8080), HOST_FORBIDDEN);
	cr_expect_eq(check(ha, "[::1]:8443", 8080), HOST_OK);
	cr_expect_eq(check(ha, "[::1]:8080", 8080), HOST_FORBIDDEN);
	cr_expect_eq(check(ha, "[::1]", 8443), HOST_FORBIDDEN);
	host_allow_free(ha);
}

Test(host_check, same_name_two_ports)
{
	static const char *const list[] = {"example.com:8080", "example.com:9090", NULL};
	struct host_allow *ha = allow(list);

	cr_expect_eq(check(ha, "example.com:8080", 8080), HOST_OK);
	cr_expect_eq(check(ha, "example.com:9090", 9090), HOST_OK);
	cr_expect_eq(check(ha, "example.com:7070", 7070), HOST_FORBIDDEN);
	host_allow_free(ha);
}

Test(host_check, case_insensitive)
{
	static const char *const list[] = {"Example.COM", "[2001:DB8::1]", NULL};
	struct host_allow *ha = allow(list);

	cr_expect_eq(check(ha, "example.com:8080", 8080), HOST_OK);
	cr_expect_eq(check(ha, "EXAMPLE.com:8080", 8080), HOST_OK);
	cr_expect_eq(check(ha, "[2001:db8::1]:8080", 8080), HOST_OK);
	cr_expect_eq(check(ha, "[2001:Db8::1]:8080", 8080), HOST_OK);
	host_allow_free(ha);
}

Test(host_check, trailing_dot)
{
	static const char *const list[] = {"localhost", "example.com.", NULL};
	struct host_allow *ha = allow(list);

	cr_expect_eq(check(ha, "localhost.:8080", 8080), HOST_OK);
	cr_expect_eq(check(ha, "example.com:8080", 8080), HOST_OK);
	cr_expect_eq(check(ha, "example.com.:8080", 8080), HOST_OK);
	cr_expect_eq(check(ha, "localhost..:8080", 8080), HOST_FORBIDDEN);
	host_allow_free(ha);
}

Test(host_check, ip_literals)
{
	static const char *const list[] = {"127.0.0.1", "[::1]", NULL};
	struct host_allow *ha = allow(list);

	cr_expect_eq(check(ha, "127.0.0.1:8080", 8080), HOST_OK);
	cr_expect_eq(check(ha, "[::1]:8080", 8080), HOST_OK);
	cr_expect_eq(check(ha, "127.0.0.2:8080", 8080), HOST_FORBIDDEN);
	/* literals are compared as text, not as addresses: a safe 403 */
	cr_expect_eq(check(ha, "[0::1]:8080", 8080), HOST_FORBIDDEN);
	host_allow_free(ha);
}

Test(host_check, invalid_value)
{
	static const char *const list[] = {"localhost", NULL};
	struct host_allow *ha = allow(list);

	cr_expect_eq(check(ha, "", 8080), HOST_INVALID);
	cr_expect_eq(check(ha, "local host:8080", 8080), HOST_INVALID);
	cr_expect_eq(check(ha, "user@localhost:8080", 8080), HOST_INVALID);
	cr_expect_eq(check(ha, "localhost:", 8080), HOST_INVALID);
	cr_expect_eq(check(ha, "localhost:0", 0), HOST_INVALID);
	cr_expect_eq(check(ha, "[::1", 8080), HOST_INVALID);
	/* invalid wins over forbidden, so the status is 400 not 403 */
	cr_expect_eq(check(ha, "evil host:1", 8080), HOST_INVALID);
	host_allow_free(ha);
}

Test(host_check, empty_list_allows_nothing)
{
	struct host_allow *ha = allow(NULL);

	cr_expect_eq(check(ha, "localhost:8080", 8080), HOST_FORBIDDEN);
	cr_expect_eq(check(ha, "localhost", 80), HOST_FORBIDDEN);
	cr_expect_eq(check(ha, "bad host", 80), HOST_INVALID);
	host_allow_free(ha);
	cr_expect_eq(check(NULL, "localhost", 80), HOST_FORBIDDEN);
}

/* Over https a Host without a port means 443 for "name:port" entries
 * (RFC 9110 section 4.2.2); bare entries do not care. */
Test(host_check, https_default_port)
{
	static const char *const list[] = {"secure.test:443", "plain.test", NULL};
	struct host_allow *ha = allow(list);

	cr_expect_eq(host_check_port(ha, "secure.test", 11, 8443, 443), HOST_OK);
	cr_expect_eq(host_check_port(ha, "secure.test", 11, 8443, 80), HOST_FORBIDDEN);
	cr_expect_eq(host_check(ha, "secure.test", 11, 8443), HOST_FORBIDDEN, "http: 80");
	cr_expect_eq(host_check_port(ha, "secure.test:443", 15, 8443, 80), HOST_OK);
	cr_expect_eq(host_check_port(ha, "plain.test", 10, 8443, 443), HOST_OK);
	cr_expect_eq(host_check_port(ha, "plain.test:8443", 15, 8443, 443), HOST_OK);
	cr_expect_eq(host_check_port(ha, "plain.test:9", 12, 8443, 443), HOST_FORBIDDEN);
	host_allow_free(ha);
}
