/* test_proxy_proto.c - the PROXY protocol v1/v2 parser (src/proxy_proto.c). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proxy_proto.h"

static const uint8_t sig2[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
				  0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

static enum proxy_proto_status parse(const void *buf, size_t len, struct proxy_proto_header *h)
{
	return proxy_proto_parse(buf, len, h);
}

static enum proxy_proto_status parse_str(const char *s, struct proxy_proto_header *h)
{
	return parse(s, strlen(s), h);
}

/* "addr port" of SS */
static void fmt(const struct sockaddr_storage *ss, char *out, size_t n)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		port = ntohs(s->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		port = ntohs(s->sin6_port);
	}
	snprintf(out, n, "%s %u", a, port);
}

static void expect_addrs(const struct proxy_proto_header *h, const char *src, const char *dst)
{
	char s[80], d[80];

	fmt(&h->src, s, sizeof(s));
	fmt(&h->dst, d, sizeof(d));
	cr_expect_str_eq(s, src);
	cr_expect_str_eq(d, dst);
	cr_expect_not(h->local);
}

/* Every strict prefix of a complete header is MORE. */
static void expect_prefixes_more(const uint8_t *buf, size_t len)
{
	struct proxy_proto_header h;

	for (size_t i = 0; i < len; i++)
		cr_expect_eq(parse(buf, i, &h), PROXY_PROTO_MORE, "prefix of %zu bytes", i);
}

static void expect_v1_error(const char *s)
{
	struct proxy_proto_header h;

	cr_expect_eq(parse_str(s, &h), PROXY_PROTO_ERROR, "\"%s\" should be an error", s);
}

/* ---- v1 ---- */

Test(proxy_v1, tcp4)
{
	const char *s = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n";
	struct proxy_proto_header h;

	cr_assert_eq(parse_str(s, &h), PROXY_PROTO_DONE);
	cr_expect_eq(h.version, 1);
	cr_expect_eq(h.length, strlen("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"));
	expect_addrs(&h, "192.0.2.1 56324", "198.51.100.2 443");
	expect_prefixes_more((const uint8_t *)s, h.length);
}

Test(proxy_v1, tcp6)
{
	const char *s = "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n";
	struct proxy_proto_header h;

	cr_assert_eq(parse_str(s, &h), PROXY_PROTO_DONE);
	cr_expect_eq(h.length, strlen(s));
	expect_addrs(&h, "2001:db8::1 65535", "::1 0");
	expect_prefixes_more((const uint8_t *)s, h.length);
}

Test(proxy_v1, unknown_forms)
{
	struct proxy_proto_header h;

	cr_assert_eq(parse_str("PROXY UNKNOWN\r\n", &h), PROXY_PROTO_DONE);
	cr_expect(h.local);
	cr_expect_eq(h.length, 15);
	cr_expect_eq(h.src.ss_family, 0);
	/* anything after UNKNOWN up to the CRLF is ignored (spec 2.1) */
	cr_assert_eq(
		parse_str("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\nX", &h),
		PROXY_PROTO_DONE);
	cr_expect(h.local);
	cr_expect_eq(h.length,
		     strlen("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"));
	expect_v1_error("PROXY UNKNOWNX\r\n");
	expect_v1_error("PROXY unknown\r\n");
}

Test(proxy_v1, longest_line_is_107_bytes)
{
	char line[200];
	struct proxy_proto_header h;
	const char *a = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
	int n = snprintf(line, sizeof(line), "PROXY TCP6 %s %s 65535 65535\r\n", a, a);

	cr_assert_eq(n, 104);
	cr_assert_eq(parse_str(line, &h), PROXY_PROTO_DONE);
	cr_expect_eq(h.length, 104);
	expect_addrs(&h, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535",
		     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535");
	/* the worst case of the spec: UNKNOWN with two such addresses */
	n = snprintf(line, sizeof(line), "PROXY UNKNOWN %s %s 65535 65535\r\n", a, a);
	cr_assert_eq(n, PROXY_PROTO_V1_MAX);
	cr_expect_eq(parse_str(line, &h), PROXY_PROTO_DONE);
	cr_expect_eq(h.length, 107);
	/* UNKNOWN with any padding up to the same limit */
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + 105, "\r\n", 2);
	cr_expect_eq(parse(line, 107, &h), PROXY_PROTO_DONE);
	cr_expect_eq(h.length, 107);
}

Test(proxy_v1, over_long_line)
{
	char line[300];
	struct proxy_proto_header h;

	/* the CRLF one byte too late */
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + 106, "\r\n", 2);
	cr_expect_eq(parse(line, 106, &h), PROXY_PROTO_MORE);
	cr_expect_eq(parse(line, 107, &h), PROXY_PROTO_ERROR);
	cr_expect_eq(parse(line, 108, &h), PROXY_PROTO_ERROR);
	/* no CRLF at all: an error from byte 107 on, however much follows */
	cr_expect_eq(parse(line, 106, &h), PROXY_PROTO_MORE);
	for (size_t n = 107; n <= sizeof(line); n++)
		cr_expect_eq(parse(line, n, &h), PROXY_PROTO_ERROR, "%zu bytes", n);
	/* a TCP6 line padded with zeros past 107 bytes */
	expect_v1_error("PROXY TCP6 0000:0000:0000:0000:0000:0000:0000:0001 "
			"0000:0000:0000:0000:0000:0000:0000:0001 00000 00000 x\r\n");
	expect_v1_error("PROXY UNKNOWN 0000:0000:0000:0000:0000:0000:0000:0001 "
			"0000:0000:0000:0000:0000:0000:0000:0001 65535 655350\r\n");
}

Test(proxy_v1, bad_signature)
{
	struct proxy_proto_header h;

	expect_v1_error("GET / HTTP/1.1\r\n\r\n");
	expect_v1_error("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
	expect_v1_error("PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n");
	expect_v1_error("PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n");
	expect_v1_error(" PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
	cr_expect_eq(parse("P", 1, &h), PROXY_PROTO_MORE);
	cr_expect_eq(parse("PROX", 4, &h), PROXY_PROTO_MORE);
	cr_expect_eq(parse("PRO ", 4, &h), PROXY_PROTO_ERROR);
	cr_expect_eq(parse("POST", 4, &h), PROXY_PROTO_ERROR);
	cr_expect_eq(parse("", 0, &h), PROXY_PROTO_MORE);
}

Test(proxy_v1, truncated)
{
	struct proxy_proto_header h;

	cr_expect_eq(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2", &h), PROXY_PROTO_MORE);
	cr_expect_eq(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", &h), PROXY_PROTO_MORE);
	cr_expect_eq(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", &h), PROXY_PROTO_DONE);
	/* a line that ends too early is an error, not "more" */
	expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n");
	expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8\r\n");
	expect_v1_error("PROXY TCP4\r\n");
	expect_v1_error("PROXY \r\n");
	expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n");
}

Test(proxy_v1, bad_line_ending)
{
	expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n");
	expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX");
	expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n");
	/* control bytes and NUL inside the line */
	struct proxy_proto_header h;
	const char nul[] = "PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n";

	cr_expect_eq(parse(nul, sizeof(nul) - 1, &h), PROXY_PROTO_ERROR);
	/* an error at once, without waiting for the CRLF */
	cr_expect_eq(parse(nul, 20, &h), PROXY_PROTO_ERROR);
	expect_v1_error("PROXY UNKNOWN \x01\r\n");
	expect_v1_error("PROXY UNKNOWN \xff\r\n");
}

Test(proxy_v1, bad_family_and_spacing)
{
	expect_v1_error("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n");
	expect_v1_error("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n");
	expect_v1_error("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n");
	expect_v1_error("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n");
	expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n");
	expect_v1_error("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
	/* the address must be of the family named */
	expect_v1_error("PROXY TCP4 ::1 ::1 1 2\r\n");
	expect_v1_error("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n");
	expect_v1_error("PROXY TCP4 1.2.3.4 ::1 1 2\r\n");
}

Test(proxy_v1, bad_addresses)
{
	expect_v1_error("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n");
	expect_v1_error("PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n");
	expect_v1_error("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n");
	expect_v1_error("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n");
	expect_v1_error("PROXY TCP4 localhost 5.6.7.8 1 2\r\n");
	expect_v1_error("PROXY TCP6 [::1] ::1 1 2\r\n");
	expect_v1_error("PROXY TCP6 ::1%eth0 ::1 1 2\r\n");
	expect_v1_error("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n");
}

Test(proxy_v1, bad_ports)
{
	struct proxy_proto_header h;

	expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n");
	expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n");
	expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n");
	expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n");
	expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n");
	expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 1x 2\r\n");
	expect_v1_error("PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n");
	cr_assert_eq(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n", &h), PROXY_PROTO_DONE);
	expect_addrs(&h, "1.2.3.4 0", "5.6.7.8 65535");
}

Test(proxy_v1, error_stays_error_whatever_follows)
{
	const char *bad[] = { "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "PROXY X\r\n", "PROX\x01",
			      "PROXY TCP4 1\r2" };
	struct proxy_proto_header h;
	char buf[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i]);

		cr_assert_eq(parse(bad[i], n, &h), PROXY_PROTO_ERROR, "%s", bad[i]);
		memcpy(buf, bad[i], n);
		memcpy(buf + n, "\r\n\r\n", 4);
		cr_expect_eq(parse(buf, n + 4, &h), PROXY_PROTO_ERROR, "%s + CRLFs", bad[i]);
	}
}

Test(proxy_sig, is_signature)
{
	uint8_t v2[16];

	memcpy(v2, sig2, 12);
	cr_expect(proxy_proto_is_signature((const uint8_t *)"PROXY TCP4", 10));
	cr_expect(proxy_proto_is_signature((const uint8_t *)"PROXY ", 6));
	cr_expect_not(proxy_proto_is_signature((const uint8_t *)"PROXY", 5));
	cr_expect_not(proxy_proto_is_signature((const uint8_t *)"GET / HTTP/1.1", 14));
	cr_expect_not(proxy_proto_is_signature((const uint8_t *)"\r\n\r\n", 4));
	cr_expect(proxy_proto_is_signature(v2, 12));
	cr_expect_not(proxy_proto_is_signature(v2, 11));
	v2[11] = 0;
	cr_expect_not(proxy_proto_is_signature(v2, 12));
}

/* ---- v2 ---- */

/* Build a v2 header into BUF: VER_CMD, FAM, then BODY (LEN bytes); the
 * length field says LEN_FIELD.  Returns the total length. */
static size_t v2(uint8_t *buf, uint8_t ver_cmd, uint8_t fam, const void *body, size_t len,
		 size_t len_field)
{
	memcpy(buf, sig2, 12);
	buf[12] = ver_cmd;
	buf[13] = fam;
	buf[14] = (uint8_t)(len_field >> 8);
	buf[15] = (uint8_t)len_field;
	if (len)
		memcpy(buf + 16, body, len);
	return 16 + len;
}

static const uint8_t inet_body[12] = { 192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb };

static size_t inet6_body(uint8_t *b)
{
	memset(b, 0, 36);
	b[0] = 0x20;
	b[1] = 0x01;
	b[2] = 0x0d;
	b[3] = 0xb8;
	b[15] = 1;
	b[31] = 1; /* ::1 */
	b[32] = 0x30;
	b[33] = 0x39; /* 12345 */
	b[34] = 0x00;
	b[35] = 0x50; /* 80 */
	return 36;
}

Test(proxy_v2, tcp4)
{
	uint8_t buf[64];
	struct proxy_proto_header h;
	size_t n = v2(buf, 0x21, 0x11, inet_body, 12, 12);

	memcpy(buf + n, "GET", 3);
	cr_assert_eq(parse(buf, n + 3, &h), PROXY_PROTO_DONE);
	cr_expect_eq(h.version, 2);
	cr_expect_eq(h.length, 28);
	expect_addrs(&h, "192.0.2.1 56324", "198.51.100.2 443");
	expect_prefixes_more(buf, n);
	/* once the length is known, MORE says the total */
	cr_expect_eq(parse(buf, 20, &h), PROXY_PROTO_MORE);
	cr_expect_eq(h.length, 28);
	cr_expect_eq(parse(buf, 15, &h), PROXY_PROTO_MORE);
	cr_expect_eq(h.length, 0);
}

Test(proxy_v2, tcp6)
{
	uint8_t buf[80], body[36];
	struct proxy_proto_header h;
	size_t n = v2(buf, 0x21, 0x21, body, inet6_body(body), 36);

	cr_assert_eq(parse(buf, n, &h), PROXY_PROTO_DONE);
	cr_expect_eq(h.length, 52);
	expect_addrs(&h, "2001:db8::1 12345", "::1 80");
	expect_prefixes_more(buf, n);
}

Test(proxy_v2, local_and_unspec_use_real_addresses)
{
	uint8_t buf[300], unix_body[216];
	struct proxy_proto_header h;
	size_t n;

	/* LOCAL (health checks from the proxy itself), no address block */
	n = v2(buf, 0x20, 0x00, NULL, 0, 0);
	cr_assert_eq(parse(buf, n, &h), PROXY_PROTO_DONE);
	cr_expect(h.local);
	cr_expect_eq(h.length, 16);
	/* LOCAL with an address block: discarded, even a short one */
	n = v2(buf, 0x20, 0x11, inet_body, 5, 5);
	cr_assert_eq(parse(buf, n, &h), PROXY_PROTO_DONE);
	cr_expect(h.local);
	cr_expect_eq(h.length, 21);
	cr_expect_eq(h.src.ss_family, 0);
	/* PROXY over UNSPEC: real addresses, block skipped */
	n = v2(buf, 0x21, 0x00, inet_body, 12, 12);
	cr_assert_eq(parse(buf, n, &h), PROXY_PROTO_DONE);
	cr_expect(h.local);
	cr_expect_eq(h.length, 28);
	/* AF_UNIX stream */
	memset(unix_body, 'a', sizeof(unix_body));
	n = v2(buf, 0x21, 0x31, unix_body, 216, 216);
	cr_assert_eq(parse(buf, n, &h), PROXY_PROTO_DONE);
	cr_expect(h.local);
	cr_expect_eq(h.length, 232);
}

Test(proxy_v2, bad_signature)
{
	uint8_t buf[64];
	struct proxy_proto_header h;

	for (size_t i = 0; i < 12; i++) {
		size_t n = v2(buf, 0x21, 0x11, inet_body, 12, 12);

		buf[i] ^= 0x20;
		cr_expect_eq(parse(buf, n, &h), PROXY_PROTO_ERROR, "byte %zu", i);
		/* the wrong byte is enough */
		cr_expect_eq(parse(buf, i + 1, &h), PROXY_PROTO_ERROR, "byte %zu alone", i);
	}
}

Test(proxy_v2, bad_version_and_command)
{
	uint8_t buf[64];
	struct proxy_proto_header h;
	const uint8_t bad[] = { 0x11, 0x31, 0x01, 0xf1, 0x22, 0x2f, 0x23 };

	for (size_t i = 0; i < sizeof(bad); i++) {
		size_t n = v2(buf, bad[i], 0x11, inet_body, 12, 12);

		cr_expect_eq(parse(buf, n, &h), PROXY_PROTO_ERROR, "ver_cmd %#x", bad[i]);
		cr_expect_eq(parse(buf, 13, &h), PROXY_PROTO_ERROR, "ver_cmd %#x early", bad[i]);
	}
}

Test(proxy_v2, bad_family_and_protocol)
{
	uint8_t buf[300], body[216];
	struct proxy_proto_header h;
	const uint8_t bad[] = { 0x41, 0xf1, 0x13, 0x1f };
	size_t n;

	memset(body, 0, sizeof(body));
	memcpy(body, inet_body, 12);
	for (size_t i = 0; i < sizeof(bad); i++) {
		n = v2(buf, 0x21, bad[i], body, 12, 12);
		cr_expect_eq(parse(buf, n, &h), PROXY_PROTO_ERROR, "fam %#x", bad[i]);
		cr_expect_eq(parse(buf, 14, &h), PROXY_PROTO_ERROR, "fam %#x early", bad[i]);
	}
	/* datagrams and an unspecified protocol over INET: not for HTTP */
	const uint8_t nonstream[] = { 0x12, 0x22, 0x10, 0x20, 0x32 };

	for (size_t i = 0; i < sizeof(nonstream); i++) {
		n = v2(buf, 0x21, nonstream[i], body, 216, 216);
		cr_expect_eq(parse(buf, n, &h), PROXY_PROTO_ERROR, "fam %#x", nonstream[i]);
		cr_expect_eq(parse(buf, 16, &h), PROXY_PROTO_ERROR, "fam %#x early", nonstream[i]);
	}
}

Test(proxy_v2, length_too_short_for_family)
{
	uint8_t buf[300], body[216];
	struct proxy_proto_header h;
	size_t n;

	memset(body, 0, sizeof(body));
	n = v2(buf, 0x21, 0x11, body, 11, 11);
	cr_expect_eq(parse(buf, n, &h), PROXY_PROTO_ERROR);
	cr_expect_eq(parse(buf, 16, &h), PROXY_PROTO_ERROR, "known from the length field");
	n = v2(buf, 0x21, 0x21, body, 35, 35);
	cr_expect_eq(parse(buf, n, &h), PROXY_PROTO_ERROR);
	n = v2(buf, 0x21, 0x21, body, 12, 12);
	cr_expect_eq(parse(buf, n, &h), PROXY_PROTO_ERROR, "an INET block under INET6");
	n = v2(buf, 0x21, 0x31, body, 215, 215);
	cr_expect_eq(parse(buf, n, &h), PROXY_PROTO_ERROR);
	n = v2(buf, 0x21, 0x11, body, 0, 0);
	cr_expect_eq(parse(buf, n, &h), PROXY_PROTO_ERROR);
}

Test(proxy_v2, truncated)
{
	uint8_t buf[64];
	struct proxy_proto_header h;
	size_t n = v2(buf, 0x21, 0x11, inet_body, 12, 12);

	for (size_t i = 0; i < n; i++)
		cr_expect_eq(parse(buf, i, &h), PROXY_PROTO_MORE, "%zu bytes", i);
	/* a length field that promises more than arrives: MORE until it does */
	n = v2(buf, 0x21, 0x11, inet_body, 12, 40);
	cr_expect_eq(parse(buf, n, &h), PROXY_PROTO_MORE);
	cr_expect_eq(h.length, 56);
}

/* TLVs after the address block: type, 16-bit length, value. */
Test(proxy_v2, tlvs_skipped)
{
	uint8_t buf[2048], body[1024];
	struct proxy_proto_header h;
	size_t b = 0, n;

	memcpy(body, inet_body, 12);
	b = 12;
	/* PP2_TYPE_ALPN "h2" */
	memcpy(body + b, "\x01\x00\x02h2", 5);
	b += 5;
	/* PP2_TYPE_NOOP with 0 bytes */
	memcpy(body + b, "\x04\x00\x00", 3);
	b += 3;
	/* PP2_TYPE_UNIQUE_ID of 300 bytes */
	body[b++] = 0x05;
	body[b++] = 0x01;
	body[b++] = 0x2c;
	memset(body + b, 'u', 300);
	b += 300;
	n = v2(buf, 0x21, 0x11, body, b, b);
	memcpy(buf + n, "GET / HTTP/1.1\r\n", 16);
	cr_assert_eq(parse(buf, n + 16, &h), PROXY_PROTO_DONE);
	cr_expect_eq(h.length, n);
	expect_addrs(&h, "192.0.2.1 56324", "198.51.100.2 443");
	expect_prefixes_more(buf, n);

	/* the same after a TCP6 block */
	uint8_t b6[64];
	size_t l6 = inet6_body(b6);

	memcpy(b6 + l6,
	       "\x02\x00\x03"
	       "abc",
	       6);
	n = v2(buf, 0x21, 0x21, b6, l6 + 6, l6 + 6);
	cr_assert_eq(parse(buf, n, &h), PROXY_PROTO_DONE);
	cr_expect_eq(h.length, 16 + 36 + 6);
	expect_addrs(&h, "2001:db8::1 12345", "::1 80");
}

Test(proxy_v2, bad_tlvs)
{
	uint8_t buf[128], body[64];
	struct proxy_proto_header h;
	size_t n;

	memcpy(body, inet_body, 12);
	/* a TLV head cut short */
	memcpy(body + 12, "\x01\x00", 2);
	n = v2(buf, 0x21, 0x11, body, 14, 14);
	cr_expect_eq(parse(buf, n, &h), PROXY_PROTO_ERROR);
	/* a value longer than the rest of the header */
	memcpy(body + 12,
	       "\x01\x00\x05"
	       "ab",
	       5);
	n = v2(buf, 0x21, 0x11, body, 17, 17);
	cr_expect_eq(parse(buf, n, &h), PROXY_PROTO_ERROR);
	/* one byte of a second TLV */
	memcpy(body + 12,
	       "\x01\x00\x02"
	       "ab\x04",
	       6);
	n = v2(buf, 0x21, 0x11, body, 18, 18);
	cr_expect_eq(parse(buf, n, &h), PROXY_PROTO_ERROR);
	/* the same bytes are fine when the header's length ends before them */
	n = v2(buf, 0x21, 0x11, body, 18, 17);
	cr_expect_eq(parse(buf, n, &h), PROXY_PROTO_DONE);
	cr_expect_eq(h.length, 33);
	/* LOCAL does not look inside its block at all */
	n = v2(buf, 0x20, 0x11, body, 18, 18);
	cr_expect_eq(parse(buf, n, &h), PROXY_PROTO_DONE);
	cr_expect(h.local);
}

Test(proxy_v2, longest_header)
{
	static uint8_t buf[PROXY_PROTO_V2_MAX + 8], body[65535];
	struct proxy_proto_header h;
	size_t n;

	memcpy(body, inet_body, 12);
	/* one TLV filling the rest: 65535 - 12 - 3 bytes of value */
	body[12] = 0xee;
	body[13] = (uint8_t)((65535 - 15) >> 8);
	body[14] = (uint8_t)(65535 - 15);
	memset(body + 15, 0, 65535 - 15);
	n = v2(buf, 0x21, 0x11, body, 65535, 65535);
	cr_assert_eq(n, PROXY_PROTO_V2_MAX);
	cr_expect_eq(parse(buf, n, &h), PROXY_PROTO_DONE);
	cr_expect_eq(h.length, PROXY_PROTO_V2_MAX);
	cr_expect_eq(parse(buf, n - 1, &h), PROXY_PROTO_MORE);
}
