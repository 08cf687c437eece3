/* htpasswd.c - parse and hold the users file (see htpasswd.h).
 *
 * The file is read once per configuration generation into one block: the
 * lines' user names and hashes copied as C strings, and an array of
 * entries sorted by user name for a binary search. */
#include "htpasswd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct user {
	const char *name;
	size_t len;
	const char *hash;
};

struct htpasswd {
	size_t n;
	struct user *users; /* sorted by name (memcmp, then length) */
	char *strings;      /* the names and hashes, NUL-terminated */
};

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(s, prefix, n) == 0;
}

/* The alphabet of crypt(3) hashes ("./0-9A-Za-z"). */
static bool is_b64crypt(char c)
{
	return c == '.' || c == '/' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	       (c >= 'a' && c <= 'z');
}

/* Hash text after the prefix: the crypt alphabet, '$' between fields and
 * '=' in sha-crypt's "rounds=N". */
static bool crypt_chars_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!is_b64crypt(s[i]) && s[i] != '$' && s[i] != '=')
			return false;
	}
	return true;
}

/* $2y$NN$ + 22 characters of salt + 31 of hash */
static bool bcrypt_ok(const char *s, size_t len)
{
	if (len != 60 || s[6] != '$' || s[4] < '0' || s[4] > '3' || s[5] < '0' || s[5] > '9')
		return false;
	for (size_t i = 7; i < len; i++) {
		if (!is_b64crypt(s[i]))
			return false;
	}
	return true;
}

enum htpasswd_format htpasswd_hash_format(const char *s, size_t len)
{
	if (has_prefix(s, len, "{SHA}"))
		return HTPASSWD_WEAK_SHA1;
	if (has_prefix(s, len, "$apr1$"))
		return HTPASSWD_WEAK_APR1;
	if (has_prefix(s, len, "$1$"))
		return HTPASSWD_WEAK_MD5;
	if (has_prefix(s, len, "$2y$") || has_prefix(s, len, "$2b$") || has_prefix(s, len, "$2a$"))
		return bcrypt_ok(s, len) ? HTPASSWD_BCRYPT : HTPASSWD_UNKNOWN;
	/* $y$params$salt$hash, $5$[rounds=N$]salt$hash: at least two more '$' */
	if (has_prefix(s, len, "$y$") || has_prefix(s, len, "$5$") || has_prefix(s, len, "$6$")) {
		size_t dollars = 0;

		if (!crypt_chars_ok(s + 3, len - 3))
			return HTPASSWD_UNKNOWN;
		for (size_t i = 3; i < len; i++)
			dollars += s[i] == '$';
		if (dollars < 1 || s[len - 1] == '$')
			return HTPASSWD_UNKNOWN;
		return s[1] == 'y' ? HTPASSWD_YESCRYPT
				   : s[1] == '5' ? HTPASSWD_SHA256 : HTPASSWD_SHA512;
	}
	if (len == 13) {
		size_t i = 0;

		while (i < len && is_b64crypt(s[i]))
			i++;
		if (i == len)
			return HTPASSWD_WEAK_DES;
	}
	return HTPASSWD_UNKNOWN;
}

bool htpasswd_format_ok(enum htpasswd_format f)
{
	return f == HTPASSWD_BCRYPT || f == HTPASSWD_YESCRYPT || f == HTPASSWD_SHA256 ||
	       f == HTPASSWD_SHA512;
}

static const char *format_refusal(enum htpasswd_format f)
{
	switch (f) {
	case HTPASSWD_WEAK_SHA1:
		return "{SHA} hash is too weak (use htpasswd -B, or mkpasswd -m yescrypt)";
	case HTPASSWD_WEAK_APR1:
		return "$apr1$ (MD5) hash is too weak (use htpasswd -B, or mkpasswd -m yescrypt)";
	case HTPASSWD_WEAK_MD5:
		return "$1$ (MD5) hash is too weak (use htpasswd -B, or mkpasswd -m yescrypt)";
	case HTPASSWD_WEAK_DES:
		return "DES crypt hash is too weak (use htpasswd -B, or mkpasswd -m yescrypt)";
	default:
		return "not a bcrypt, yescrypt or sha-crypt hash (plain text is refused)";
	}
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

enum htpasswd_line htpasswd_parse_line(const char *line, size_t len, struct htpasswd_entry *e,
				       const char **why)
{
	const char *colon;
	size_t i = 0;

	*why = NULL;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	while (i < len && is_space(line[i]))
		i++;
	if (i == len || line[i] == '#')
		return HTPASSWD_LINE_SKIP;
	if (len > HTPASSWD_LINE_MAX) {
		*why = "line too long";
		return HTPASSWD_LINE_ERROR;
	}
	colon = memchr(line, ':', len);
	if (!colon) {
		*why = "expected user:hash";
		return HTPASSWD_LINE_ERROR;
	}
	e->user = line;
	e->user_len = (size_t)(colon - line);
	e->hash = colon + 1;
	e->hash_len = len - e->user_len - 1;
	if (e->user_len == 0) {
		*why = "empty user name";
		return HTPASSWD_LINE_ERROR;
	}
	if (e->user_len > HTPASSWD_USER_MAX) {
		*why = "user name too long";
		return HTPASSWD_LINE_ERROR;
	}
	for (size_t k = 0; k < e->user_len; k++) {
		unsigned char c = (unsigned char)e->user[k];

		if (c < 0x20 || c == 0x7f) {
			*why = "control character in user name";
			return HTPASSWD_LINE_ERROR;
		}
	}
	if (e->hash_len == 0) {
		*why = "empty hash";
		return HTPASSWD_LINE_ERROR;
	}
	if (e->hash_len > HTPASSWD_HASH_MAX) {
		*why = "hash too long";
		return HTPASSWD_LINE_ERROR;
	}
	e->format = htpasswd_hash_format(e->hash, e->hash_len);
	if (!htpasswd_format_ok(e->format)) {
		*why = format_refusal(e->format);
		return HTPASSWD_LINE_ERROR;
	}
	return HTPASSWD_LINE_ENTRY;
}

static int user_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int user_qsort_cmp(const void *pa, const void *pb)
{
	const struct user *a = pa, *b = pb;

	return user_cmp(a->name, a->len, b->name, b->len);
}

void htpasswd_free(struct htpasswd *h)
{
	if (!h)
		return;
	free(h->users);
	free(h->strings);
	free(h);
}

int htpasswd_parse(const char *name, const char *buf, size_t len, struct htpasswd **out,
		   char *err, size_t errlen)
{
	struct htpasswd *h;
	struct htpasswd_entry e;
	const char *why, *p = buf, *end = buf + len, *nl;
	size_t lineno = 0, cap = 0;
	char *s;
	int r = -EINVAL;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	h = calloc(1, sizeof(*h));
	/* every string fits in the copy: each line gives up its ':' and
	 * '\n' for the two NULs */
	s = h ? malloc(len + 2) : NULL;
	if (!s) {
		free(h);
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	h->strings = s;
	if (memchr(buf, '\0', len)) {
		if (err && errlen)
			snprintf(err, errlen, "%s: not a text file (contains a NUL byte)", name);
		goto fail;
	}
	while (p < end) {
		size_t n;

		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		switch (htpasswd_parse_line(p, n, &e, &why)) {
		case HTPASSWD_LINE_SKIP:
			break;
		case HTPASSWD_LINE_ERROR:
			if (err && errlen)
				snprintf(err, errlen, "%s:%zu: %s", name, lineno, why);
			goto fail;
		case HTPASSWD_LINE_ENTRY:
			if (h->n == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct user *u = realloc(h->users, ncap * sizeof(*u));

				if (!u) {
					r = -ENOMEM;
					if (err && errlen)
						snprintf(err, errlen, "%s: out of memory", name);
					goto fail;
				}
				h->users = u;
				cap = ncap;
			}
			h->users[h->n].name = s;
			h->users[h->n].len = e.user_len;
			memcpy(s, e.user, e.user_len);
			s += e.user_len;
			*s++ = '\0';
			h->users[h->n].hash = s;
			memcpy(s, e.hash, e.hash_len);
			s += e.hash_len;
			*s++ = '\0';
			h->n++;
			break;
		}
		p += n + (nl != NULL);
	}
	if (h->n)
		qsort(h->users, h->n, sizeof(*h->users), user_qsort_cmp);
	for (size_t i = 1; i < h->n; i++) {
		if (user_cmp(h->users[i - 1].name, h->users[i - 1].len, h->users[i].name,
			     h->users[i].len) == 0) {
			if (err && errlen)
				snprintf(err, errlen, "%s: user \"%s\" appears twice", name,
					 h->users[i].name);
			goto fail;
		}
	}
	*out = h;
	return 0;

fail:
	htpasswd_free(h);
	return r;
}

int htpasswd_load(const char *path, struct htpasswd **out, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap;
	ssize_t n;
	int fd, r;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		goto fail_errno;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto fail_errno;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		if (err && errlen)
			snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > HTPASSWD_FILE_MAX) {
		r = -EFBIG;
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than %zu bytes", path, HTPASSWD_FILE_MAX);
		goto out;
	}
	/* read to the end, with room for a file that grew since fstat() */
	cap = (size_t)st.st_size + 4096;
	if (cap > HTPASSWD_FILE_MAX + 1)
		cap = HTPASSWD_FILE_MAX + 1;
	buf = malloc(cap);
	if (!buf) {
		r = -ENOMEM;
		goto fail_errno;
	}
	for (;;) {
		size_t room = cap - len;

		if (room == 0) {
			r = -EFBIG;
			if (err && errlen)
				snprintf(err, errlen, "%s: changed while read", path);
			goto out;
		}
		n = read(fd, buf + len, room);
		if (n < 0) {
			r = -errno;
			goto fail_errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	r = htpasswd_parse(path, buf, len, out, err, errlen);
	goto out;

fail_errno:
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}

const char *htpasswd_lookup(const struct htpasswd *h, const char *user, size_t ulen)
{
	size_t lo = 0, hi;

	if (!h)
		return NULL;
	hi = h->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = user_cmp(user, ulen, h->users[mid].name, h->users[mid].len);

		if (c == 0)
			return h->users[mid].hash;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

size_t htpasswd_count(const struct htpasswd *h)
{
	return h ? h->n : 0;
}
