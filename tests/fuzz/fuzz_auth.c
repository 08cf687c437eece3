/* fuzz_auth.c - libFuzzer target for the Authorization header parser
 * (auth_parse_basic() in src/auth.c).
 *
 * The input is the field value.  An accepted value yields a non-empty user
 * without ':' or CTLs, both strings NUL-terminated at their lengths and
 * within bounds, and re-encoding them parses back to the same; anything
 * else leaves the credentials wiped. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t b64(const unsigned char *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? a[v & 63] : '=';
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct auth_credentials c, d;
	unsigned char plain[2 * AUTH_CREDENTIALS_MAX];
	char enc[4 * AUTH_CREDENTIALS_MAX];
	size_t n;
	int r;

	r = auth_parse_basic((const char *)data, size, &c);
	CHECK(r == 0 || r == AUTH_OTHER_SCHEME || r == -22);
	if (r != 0) {
		CHECK(c.user[0] == '\0' && c.pass[0] == '\0' && c.user_len == 0 && c.pass_len == 0);
		return 0;
	}
	CHECK(c.user_len > 0 && c.user_len <= HTPASSWD_USER_MAX);
	CHECK(c.pass_len < sizeof(c.pass));
	CHECK(strlen(c.user) == c.user_len && strlen(c.pass) == c.pass_len);
	CHECK(!memchr(c.user, ':', c.user_len));
	for (size_t i = 0; i < c.user_len; i++)
		CHECK((unsigned char)c.user[i] >= 0x20 && (unsigned char)c.user[i] != 0x7f);
	for (size_t i = 0; i < c.pass_len; i++)
		CHECK((unsigned char)c.pass[i] >= 0x20 && (unsigned char)c.pass[i] != 0x7f);
	memcpy(plain, c.user, c.user_len);
	plain[c.user_len] = ':';
	memcpy(plain + c.user_len + 1, c.pass, c.pass_len);
	memcpy(enc, "Basic ", 6);
	n = 6 + b64(plain, c.user_len + 1 + c.pass_len, enc + 6);
	CHECK(auth_parse_basic(enc, n, &d) == 0);
	CHECK(d.user_len == c.user_len && d.pass_len == c.pass_len);
	CHECK(!memcmp(d.user, c.user, c.user_len) && !memcmp(d.pass, c.pass, c.pass_len));
	return 0;
}
