/* auth.h - HTTP Basic authentication (RFC 7617) for POST /upload.
 *
 * auth_parse_basic() is pure (header value in, user and password out) so a
 * fuzzer can hammer it.  auth_verify() checks a password against a users
 * file hash with libxcrypt's thread-safe crypt_rn() and a constant-time
 * comparison; it costs milliseconds by design, so the caller runs it with
 * its worker marked as blocking (pool_block_begin()) and rate-limits the
 * failures per client. */
#ifndef MTH_AUTH_H
#define MTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "htpasswd.h"

/* What a Basic credential may decode to (user, ':', password). */
#define AUTH_CREDENTIALS_MAX 1024

struct auth_credentials {
	char user[HTPASSWD_USER_MAX + 1];
	size_t user_len;
	char pass[AUTH_CREDENTIALS_MAX];
	size_t pass_len;
};

/* Another scheme than Basic (answered 401 as for no credentials). */
#define AUTH_OTHER_SCHEME 1

/* Parse an Authorization field value (LEN bytes):
 *   credentials = auth-scheme 1*SP token68     (RFC 9110 section 11.4)
 * with the scheme "Basic" in any case and token68 the base64 of
 * user-id ":" password (RFC 7617 section 2).  Returns 0 with C filled in
 * (both strings NUL-terminated), AUTH_OTHER_SCHEME, or -EINVAL when the
 * value is malformed (bad base64, no ':', a control character, too long:
 * answer 400).  C is wiped on failure. */
int auth_parse_basic(const char *value, size_t len, struct auth_credentials *c);

/* Wipe the password (and all) from C, in a way the compiler keeps. */
void auth_credentials_wipe(struct auth_credentials *c);

/* True if PASS matches HASH (a hash htpasswd.c accepted).  Thread-safe;
 * allocates crypt_rn()'s 32 KiB work area on the heap. */
bool auth_verify(const char *hash, const char *pass);

/* Spend the time a verification would for a user that does not exist, so
 * the answer's timing does not tell which users do. */
void auth_verify_dummy(const char *pass);

/*
 * A bounded cache of recently verified credentials, as lighttpd's auth
 * cache: a verification costs milliseconds, a lookup here microseconds.
 * Entries are keyed by two SipHash-2-4 values (under random keys drawn once
 * per cache) of user, password and stored hash, so nothing of the password
 * is kept, a changed hash misses, and no one can aim for a collision.
 * Direct-mapped: a new entry replaces whatever held its slot.  Only
 * successes go in.  Thread-safe (one mutex, held for a compare or a copy).
 */
#define AUTH_CACHE_TTL_MS (300 * 1000)

struct auth_cache;

/* A cache of SLOTS entries; NULL when out of memory. */
struct auth_cache *auth_cache_new(size_t slots);
void auth_cache_free(struct auth_cache *c);

/* True if C, verified against HASH, is in the cache and younger than
 * AUTH_CACHE_TTL_MS at NOW_MS (monotonic milliseconds). */
bool auth_cache_check(struct auth_cache *cache, const struct auth_credentials *c,
		      const char *hash, int64_t now_ms);

/* C was verified against HASH at NOW_MS. */
void auth_cache_add(struct auth_cache *cache, const struct auth_credentials *c, const char *hash,
		    int64_t now_ms);

#endif
