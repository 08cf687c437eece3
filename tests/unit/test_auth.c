/* test_auth.c - Criterion tests for src/auth.c. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* made with htpasswd -nbB -C 4, mkpasswd -m yescrypt / sha-512 / sha-256 */
#define H_BCRYPT "$2y$04$MtF0OFvR7p/0LqP1Ru/fcOCNQrwU./NBO7wTQnDLTddZHewWinZHG"
#define H_YESCRYPT "$y$j9T$scbJkea.7tsLlFEM7IRh./$Eog0QvrwAI5RSUYECXMtgL8B3gDJvfT8IBz3S8B6RW3"
#define H_SHA512                                                                                   \
	"$6$XHixVXz74T1Fho47$Mk5yzGD3JsKuG/yBu5Ns69yM03v5EgRk37QvlyVnVE1G7FAuW76WbTC5UIg1VAge." \
	"WbX48ejz6c42WXIaAz66/"
#define H_SHA256 "$5$5hlm8MKcemGq8RZw$DJ2hThV./snnjsv.KceZDP36uR2KB8hJF4f/43DHZ1B"

static void good(const char *value, size_t len, const char *user, const char *pass)
{
	struct auth_credentials c;

	cr_assert_eq(auth_parse_basic(value, len, &c), 0, "%.*s", (int)len, value);
	cr_expect_str_eq(c.user, user);
	cr_expect_eq(c.user_len, strlen(user));
	cr_expect_str_eq(c.pass, pass);
	cr_expect_eq(c.pass_len, strlen(pass));
}

static void malformed(const char *value, size_t len)
{
	struct auth_credentials c;

	cr_expect_eq(auth_parse_basic(value, len, &c), -EINVAL, "%.*s", (int)len, value);
	cr_expect_eq(c.user[0], '\0');
	cr_expect_eq(c.pass[0], '\0');
}

Test(auth_parse, basic)
{
	/* RFC 7617 section 2's example */
	good(S("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="), "Aladdin", "open sesame");
	good(S("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="), "Aladdin", "open sesame");
	good(S("BASIC   QWxhZGRpbjpvcGVuIHNlc2FtZQ==  "), "Aladdin", "open sesame");
	good(S("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ"), "Aladdin", "open sesame");
	/* "a:" (empty password), "a:b:c" (colons in the password) */
	good(S("Basic YTo="), "a", "");
	good(S("Basic YTpiOmM="), "a", "b:c");
	/* UTF-8 user and password (charset="UTF-8", RFC 7617 section 2.1) */
	good(S("Basic w6k6w7w="), "\xc3\xa9", "\xc3\xbc");
}

Test(auth_parse, other_schemes)
{
	struct auth_credentials c;

	cr_expect_eq(auth_parse_basic(S("Bearer abc.def"), &c), AUTH_OTHER_SCHEME);
	cr_expect_eq(auth_parse_basic(S("Digest username=\"a\""), &c), AUTH_OTHER_SCHEME);
	cr_expect_eq(auth_parse_basic(S("Basicx YTpi"), &c), AUTH_OTHER_SCHEME);
}

Test(auth_parse, malformed)
{
	malformed(S(""));
	malformed(S("   "));
	malformed(NULL, 0);
	malformed(S("Basic"));
	malformed(S("Basic "));
	malformed(S("Basic !!!!"));
	malformed(S("Basic YWJj"));     /* "abc": no colon */
	malformed(S("Basic OmI="));     /* ":b": no user */
	malformed(S("Basic YTpi="));    /* padding on a full group */
	malformed(S("Basic YT=pi"));    /* padding inside */
	malformed(S("Basic YTo==="));   /* too much padding */
	malformed(S("Basic YTpiY"));    /* a lone sixth */
}

Test(auth_parse, malformed_strict)
{
	struct auth_credentials c;

	/* "a:b\x01": control character */
	malformed(S("Basic YTpiAQ=="));
	/* "a\tb:c" */
	malformed(S("Basic YQliOmM="));
	/* non-canonical: "YTo=" is "a:", "YTp=" has a stray bit set */
	malformed(S("Basic YTp="));
	/* a bad character in the scheme */
	malformed(S("Ba\"sic YTpi"));
	cr_expect_eq(auth_parse_basic(S("Basic YTpj"), &c), 0);
}

Test(auth_parse, length_bound)
{
	char v[4 * AUTH_CREDENTIALS_MAX];
	struct auth_credentials c;
	size_t n = (size_t)snprintf(v, sizeof(v), "Basic ");

	/* "a:" + 1400 'A's base64-encoded as "YTpB" + "QUFB"...: too long */
	memcpy(v + n, "YTpB", 4);
	n += 4;
	while (n + 4 < sizeof(v) - 1) {
		memcpy(v + n, "QUFB", 4);
		n += 4;
	}
	cr_expect_eq(auth_parse_basic(v, n, &c), -EINVAL);
	/* a password of 900 bytes is fine */
	n = 6 + 4 + 4 * 299;
	cr_expect_eq(auth_parse_basic(v, n, &c), 0);
	cr_expect_eq(c.pass_len, 1 + 3 * 299);
}

Test(auth_verify, every_accepted_format)
{
	cr_expect(auth_verify(H_BCRYPT, "pw-alice"));
	cr_expect(!auth_verify(H_BCRYPT, "pw-alicE"));
	cr_expect(!auth_verify(H_BCRYPT, ""));
	cr_expect(auth_verify(H_YESCRYPT, "pw-bob"));
	cr_expect(!auth_verify(H_YESCRYPT, "pw-bo"));
	cr_expect(auth_verify(H_SHA512, "pw-carol"));
	cr_expect(!auth_verify(H_SHA512, "pw-carol "));
	cr_expect(auth_verify(H_SHA256, "pw-dave"));
	cr_expect(!auth_verify(H_SHA256, "pw-alice"));
	/* a hash crypt cannot use */
	cr_expect(!auth_verify("*", ""));
	cr_expect(!auth_verify("", ""));
	auth_verify_dummy("anything");
}

static void creds(struct auth_credentials *c, const char *user, const char *pass)
{
	memset(c, 0, sizeof(*c));
	c->user_len = strlen(user);
	memcpy(c->user, user, c->user_len);
	c->pass_len = strlen(pass);
	memcpy(c->pass, pass, c->pass_len);
}

Test(auth_cache, hits_only_what_was_added)
{
	struct auth_cache *cache = auth_cache_new(64);
	struct auth_credentials a, b;

	cr_assert_not_null(cache);
	creds(&a, "alice", "pw-alice");
	cr_expect(!auth_cache_check(cache, &a, H_BCRYPT, 0));
	auth_cache_add(cache, &a, H_BCRYPT, 1000);
	cr_expect(auth_cache_check(cache, &a, H_BCRYPT, 1000));
	cr_expect(auth_cache_check(cache, &a, H_BCRYPT, 1000 + AUTH_CACHE_TTL_MS - 1));
	cr_expect(!auth_cache_check(cache, &a, H_BCRYPT, 1000 + AUTH_CACHE_TTL_MS), "expired");
	/* another password, another user, another stored hash: misses */
	creds(&b, "alice", "pw-alicE");
	cr_expect(!auth_cache_check(cache, &b, H_BCRYPT, 1000));
	creds(&b, "alicf", "pw-alice");
	cr_expect(!auth_cache_check(cache, &b, H_BCRYPT, 1000));
	/* the same bytes cut elsewhere: "alice" + "pw" vs "alicepw" + "" */
	creds(&b, "alice:pw-alice", "");
	cr_expect(!auth_cache_check(cache, &b, H_BCRYPT, 1000));
	cr_expect(!auth_cache_check(cache, &a, H_SHA256, 1000), "the user's hash changed");
	auth_cache_free(cache);
	auth_cache_free(NULL);
}

/* A direct-mapped cache of one slot: the newest entry wins. */
Test(auth_cache, bounded)
{
	struct auth_cache *cache = auth_cache_new(1);
	struct auth_credentials a, b;

	cr_assert_not_null(cache);
	creds(&a, "alice", "1");
	creds(&b, "bob", "2");
	auth_cache_add(cache, &a, H_BCRYPT, 0);
	auth_cache_add(cache, &b, H_SHA256, 0);
	cr_expect(!auth_cache_check(cache, &a, H_BCRYPT, 0));
	cr_expect(auth_cache_check(cache, &b, H_SHA256, 0));
	auth_cache_free(cache);
}
