/* auth.c - HTTP Basic credentials: parse and verify (see auth.h). */
#include "auth.h"

#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "random.h"
#include "siphash.h"

static bool is_tchar_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The base64 alphabet (RFC 4648 section 4), or -1. */
static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode IN (LEN bytes, padding optional but only at the end and only as
 * much as fits) into OUT (OUTSZ bytes).  The decoded length, or -1. */
static long b64_decode(const char *in, size_t len, unsigned char *out, size_t outsz)
{
	uint32_t acc = 0;
	size_t bits = 0, n = 0, pad = 0, data;

	while (pad < len && in[len - 1 - pad] == '=')
		pad++;
	if (pad > 2)
		return -1;
	data = len - pad;
	/* with padding the whole must be a multiple of 4 */
	if (pad && len % 4)
		return -1;
	/* a lone sixth of a byte cannot be */
	if (data % 4 == 1)
		return -1;
	for (size_t i = 0; i < data; i++) {
		int v = b64_value(in[i]);

		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == outsz)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	/* the leftover bits must be zero (canonical encoding) */
	if (bits && (acc & ((1u << bits) - 1)))
		return -1;
	return (long)n;
}

void auth_credentials_wipe(struct auth_credentials *c)
{
	explicit_bzero(c, sizeof(*c));
}

static bool has_ctl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char u = (unsigned char)s[i];

		if (u < 0x20 || u == 0x7f)
			return true;
	}
	return false;
}

int auth_parse_basic(const char *value, size_t len, struct auth_credentials *c)
{
	unsigned char buf[AUTH_CREDENTIALS_MAX];
	const char *colon;
	size_t i = 0, tok;
	long n;
	int r = -EINVAL;

	auth_credentials_wipe(c);
	if (!value)
		return -EINVAL;
	while (i < len && (value[i] == ' ' || value[i] == '\t'))
		i++;
	while (len > i && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	/* auth-scheme = token; compared case-insensitively (RFC 9110 11.1) */
	tok = i;
	while (i < len && value[i] != ' ')
		i++;
	if (i == tok)
		return -EINVAL;
	if (i - tok != 5 || ascii_lower(value[tok]) != 'b' || ascii_lower(value[tok + 1]) != 'a' ||
	    ascii_lower(value[tok + 2]) != 's' || ascii_lower(value[tok + 3]) != 'i' ||
	    ascii_lower(value[tok + 4]) != 'c') {
		for (size_t k = tok; k < i; k++) {
			if (!is_tchar_alpha(value[k]) && !(value[k] >= '0' && value[k] <= '9') &&
			    !strchr("!#$%&'*+-.^_`|~", value[k]))
				return -EINVAL;
		}
		return AUTH_OTHER_SCHEME;
	}
	while (i < len && value[i] == ' ')
		i++;
	if (i == len)
		return -EINVAL;
	/* the encoded credentials: at most 4/3 of what they decode to */
	if (len - i > (AUTH_CREDENTIALS_MAX + 2) / 3 * 4)
		return -EINVAL;
	n = b64_decode(value + i, len - i, buf, sizeof(buf));
	if (n < 0)
		goto out;
	colon = memchr(buf, ':', (size_t)n);
	if (!colon)
		goto out;
	c->user_len = (size_t)((const unsigned char *)colon - buf);
	c->pass_len = (size_t)n - c->user_len - 1;
	/* user-id and password are *TEXT without CTLs (RFC 7617 section 2);
	 * an empty user cannot be in the users file */
	if (c->user_len == 0 || c->user_len > HTPASSWD_USER_MAX ||
	    c->pass_len >= sizeof(c->pass) || has_ctl((const char *)buf, (size_t)n))
		goto out;
	memcpy(c->user, buf, c->user_len);
	c->user[c->user_len] = '\0';
	memcpy(c->pass, colon + 1, c->pass_len);
	c->pass[c->pass_len] = '\0';
	r = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	if (r < 0)
		auth_credentials_wipe(c);
	return r;
}

/* Equal strings, in a time that depends on their lengths only. */
static bool const_time_streq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

bool auth_verify(const char *hash, const char *pass)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	bool ok = false;

	if (!cd)
		return false;
	if (crypt_rn(pass, hash, cd, (int)sizeof(*cd)) && cd->output[0] != '*')
		ok = const_time_streq(cd->output, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

void auth_verify_dummy(const char *pass)
{
	/* bcrypt at cost 5, htpasswd -B's default: a typical entry */
	static const char dummy[] = "$2y$05$PlPkcOl1eVC0hvfIg/ywxOnEqAHYrX7/N6/WdJTvIRbd4ddh7vCPO";

	(void)auth_verify(dummy, pass);
}

/*
 * The cache of verified credentials
 */

struct cache_slot {
	uint64_t d1, d2;
	int64_t added_ms;
	bool used;
};

struct auth_cache {
	pthread_mutex_t lock;
	unsigned char k1[SIPHASH_KEY_SIZE], k2[SIPHASH_KEY_SIZE];
	size_t n;
	struct cache_slot slot[];
};

struct auth_cache *auth_cache_new(size_t slots)
{
	struct auth_cache *c;

	if (slots == 0)
		slots = 1;
	if (slots > SIZE_MAX / sizeof(struct cache_slot) - 1)
		return NULL;
	c = calloc(1, sizeof(*c) + slots * sizeof(struct cache_slot));
	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	random_bytes(c->k1, sizeof(c->k1));
	random_bytes(c->k2, sizeof(c->k2));
	c->n = slots;
	return c;
}

void auth_cache_free(struct auth_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	explicit_bzero(c->k1, sizeof(c->k1));
	explicit_bzero(c->k2, sizeof(c->k2));
	free(c);
}

/* user NUL password NUL hash: unambiguous, as neither the user nor the
 * password may hold a NUL (auth_parse_basic() refuses CTLs). */
static void digest(const struct auth_cache *cache, const struct auth_credentials *c,
		   const char *hash, uint64_t *d1, uint64_t *d2)
{
	char buf[sizeof(c->user) + sizeof(c->pass) + HTPASSWD_HASH_MAX + 1];
	size_t hlen = strnlen(hash, HTPASSWD_HASH_MAX), n = 0;

	memcpy(buf, c->user, c->user_len);
	n += c->user_len;
	buf[n++] = '\0';
	memcpy(buf + n, c->pass, c->pass_len);
	n += c->pass_len;
	buf[n++] = '\0';
	memcpy(buf + n, hash, hlen);
	n += hlen;
	*d1 = siphash24(cache->k1, buf, n);
	*d2 = siphash24(cache->k2, buf, n);
	explicit_bzero(buf, n);
}

bool auth_cache_check(struct auth_cache *cache, const struct auth_credentials *c,
		      const char *hash, int64_t now_ms)
{
	struct cache_slot *s;
	uint64_t d1, d2;
	bool hit;

	digest(cache, c, hash, &d1, &d2);
	s = &cache->slot[d1 % cache->n];
	pthread_mutex_lock(&cache->lock);
	hit = s->used && s->d1 == d1 && s->d2 == d2 && now_ms >= s->added_ms &&
	      now_ms - s->added_ms < AUTH_CACHE_TTL_MS;
	pthread_mutex_unlock(&cache->lock);
	return hit;
}

void auth_cache_add(struct auth_cache *cache, const struct auth_credentials *c, const char *hash,
		    int64_t now_ms)
{
	struct cache_slot *s;
	uint64_t d1, d2;

	digest(cache, c, hash, &d1, &d2);
	s = &cache->slot[d1 % cache->n];
	pthread_mutex_lock(&cache->lock);
	s->d1 = d1;
	s->d2 = d2;
	s->added_ms = now_ms;
	s->used = true;
	pthread_mutex_unlock(&cache->lock);
}
