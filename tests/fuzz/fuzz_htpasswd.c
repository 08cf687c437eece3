/* fuzz_htpasswd.c - libFuzzer target for the users file parser
 * (src/htpasswd.c): one line, then the whole input as a file.
 *
 * An accepted line's user and hash lie inside it, the user is non-empty,
 * bounded, without ':' or CTLs, the hash is in an accepted format and its
 * format is what htpasswd_hash_format() says; an error has a reason.  A
 * file that parses finds each of its users again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "htpasswd.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data, *why;
	struct htpasswd_entry e;
	struct htpasswd *h;
	char err[256];

	switch (htpasswd_parse_line(line, size, &e, &why)) {
	case HTPASSWD_LINE_ENTRY:
		CHECK(e.user == line);
		CHECK(e.user_len > 0 && e.user_len <= HTPASSWD_USER_MAX);
		CHECK(!memchr(e.user, ':', e.user_len));
		for (size_t i = 0; i < e.user_len; i++)
			CHECK((unsigned char)e.user[i] >= 0x20 && (unsigned char)e.user[i] != 0x7f);
		CHECK(e.hash == line + e.user_len + 1);
		CHECK(e.hash_len > 0 && e.hash + e.hash_len <= line + size);
		CHECK(htpasswd_format_ok(e.format));
		CHECK(htpasswd_hash_format(e.hash, e.hash_len) == e.format);
		break;
	case HTPASSWD_LINE_ERROR:
		CHECK(why && *why);
		break;
	case HTPASSWD_LINE_SKIP:
		break;
	}
	if (htpasswd_parse("fuzz", line, size, &h, err, sizeof(err)) == 0) {
		const char *p = line, *end = line + size;

		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

			if (htpasswd_parse_line(p, n, &e, &why) == HTPASSWD_LINE_ENTRY)
				CHECK(htpasswd_lookup(h, e.user, e.user_len) != NULL);
			p += n + 1;
		}
		htpasswd_free(h);
	} else {
		CHECK(err[0] != '\0');
	}
	return 0;
}
