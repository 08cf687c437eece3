/* test_tls_sniff.c - tls_sniff(): TLS or plain HTTP on the first bytes. */
#include <criterion/criterion.h>
#include <string.h>

#include "tls_sniff.h"

static enum tls_sniff sniff(const char *p, size_t n)
{
	return tls_sniff((const unsigned char *)p, n);
}

Test(tls_sniff, client_hellos_of_every_tls_version)
{
	for (unsigned char minor = 1; minor <= 4; minor++) {
		const unsigned char hello[] = { 0x16, 0x03, minor, 0x02, 0x00, 0x01 };
		cr_assert_eq(tls_sniff(hello, sizeof hello), TLS_SNIFF_TLS, "3.%u", minor);
		cr_assert_eq(tls_sniff(hello, 3), TLS_SNIFF_TLS, "three bytes decide");
	}
}

Test(tls_sniff, a_tls_prefix_needs_more)
{
	cr_assert_eq(sniff("", 0), TLS_SNIFF_NEED_MORE);
	cr_assert_eq(sniff("\x16", 1), TLS_SNIFF_NEED_MORE);
	cr_assert_eq(sniff("\x16\x03", 2), TLS_SNIFF_NEED_MORE);
}

Test(tls_sniff, http_request_lines)
{
	static const char *const reqs[] = { "GET / HTTP/1.1\r\n", "POST /upload", "HEAD /",
					    "\r\nGET /", "\nGET /", "OPTIONS * HTTP/1.1",
					    "get / http/1.1" };

	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		cr_assert_eq(sniff(reqs[i], strlen(reqs[i])), TLS_SNIFF_HTTP, "%s", reqs[i]);
		cr_assert_eq(sniff(reqs[i], 1), TLS_SNIFF_HTTP, "one byte decides");
	}
}

Test(tls_sniff, neither)
{
	/* SSL 3.0, SSLv2-style hello, alert record, garbage, other 0x16 */
	cr_assert_eq(sniff("\x16\x03\x00", 3), TLS_SNIFF_OTHER);
	cr_assert_eq(sniff("\x16\x03\x05", 3), TLS_SNIFF_OTHER);
	cr_assert_eq(sniff("\x80\x2e\x01\x03\x01", 5), TLS_SNIFF_OTHER);
	cr_assert_eq(sniff("\x15\x03\x03\x00\x02", 5), TLS_SNIFF_OTHER);
	cr_assert_eq(sniff("\x16\x02", 2), TLS_SNIFF_OTHER);
	cr_assert_eq(sniff("\x00", 1), TLS_SNIFF_OTHER);
	cr_assert_eq(sniff(" GET", 4), TLS_SNIFF_OTHER);
	cr_assert_eq(sniff("\xff", 1), TLS_SNIFF_OTHER);
}
