/* htpasswd.h - the users file for upload authentication (upload_users_file).
 *
 * Apache's htpasswd format, one "user:hash" per line, as written by
 * `htpasswd -B` (bcrypt) or by hand from `mkpasswd -m yescrypt|sha-512`.
 * Blank lines and lines starting with '#' are ignored.  Only hashes that
 * are slow by design are accepted: bcrypt ($2y$, $2b$, $2a$), yescrypt
 * ($y$) and sha-crypt ($5$, $6$).  {SHA}, $apr1$, MD5-crypt ($1$), DES
 * crypt and plain text are refused at load, naming file:line, rather than
 * silently weakening the server.
 *
 * A loaded file is immutable: it belongs to one configuration generation
 * and is read by any number of threads without a lock. */
#ifndef MTH_HTPASSWD_H
#define MTH_HTPASSWD_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 7617 allows longer names; nobody needs them, and they are bounded. */
#define HTPASSWD_USER_MAX 255
#define HTPASSWD_HASH_MAX 512
#define HTPASSWD_LINE_MAX 1024
/* the whole file, and the number of users */
#define HTPASSWD_FILE_MAX ((size_t)16 << 20)

enum htpasswd_format {
	HTPASSWD_BCRYPT,
	HTPASSWD_YESCRYPT,
	HTPASSWD_SHA256,
	HTPASSWD_SHA512,
	/* refused */
	HTPASSWD_WEAK_SHA1,  /* {SHA} */
	HTPASSWD_WEAK_APR1,  /* $apr1$ */
	HTPASSWD_WEAK_MD5,   /* $1$ */
	HTPASSWD_WEAK_DES,   /* 13 characters of [./0-9A-Za-z] */
	HTPASSWD_UNKNOWN,    /* anything else, plain text included */
};

/* The format of HASH (LEN bytes, not NUL-terminated). */
enum htpasswd_format htpasswd_hash_format(const char *hash, size_t len);

/* True for the formats the server accepts. */
bool htpasswd_format_ok(enum htpasswd_format f);

/* One parsed line: pointers into the caller's line. */
struct htpasswd_entry {
	const char *user;
	size_t user_len;
	const char *hash;
	size_t hash_len;
	enum htpasswd_format format;
};

enum htpasswd_line {
	HTPASSWD_LINE_ENTRY, /* E is filled in */
	HTPASSWD_LINE_SKIP,  /* blank or comment */
	HTPASSWD_LINE_ERROR, /* *WHY says what is wrong */
};

/* Parse one line of LEN bytes (without its '\n'; a trailing '\r' is
 * ignored).  Pure: touches nothing but E and *WHY. */
enum htpasswd_line htpasswd_parse_line(const char *line, size_t len, struct htpasswd_entry *e,
				       const char **why);

struct htpasswd;

/* Load PATH.  0 and *OUT, or a negative errno with "PATH:LINE: reason"
 * (or "PATH: reason") in ERR.  Duplicate users are an error. */
int htpasswd_load(const char *path, struct htpasswd **out, char *err, size_t errlen);

/* The same from a buffer (NAME is used in messages). */
int htpasswd_parse(const char *name, const char *buf, size_t len, struct htpasswd **out,
		   char *err, size_t errlen);

void htpasswd_free(struct htpasswd *h);

/* The hash of USER (ULEN bytes) as a C string, or NULL. */
const char *htpasswd_lookup(const struct htpasswd *h, const char *user, size_t ulen);

size_t htpasswd_count(const struct htpasswd *h);

#endif
