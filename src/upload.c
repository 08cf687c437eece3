/* upload.c - POST /upload: accept a JSON document and store it durably.
 *
 * The body is checked twice: a byte-level pass over RFC 8259's tokens (see
 * json_lex_check() for why json-c's strict mode alone is not enough), then
 * json-c for the structure.  Storage follows the usual recipe for a file
 * that must appear complete or not at all: write an unnamed (O_TMPFILE) or
 * hidden temporary file durably (O_DSYNC), give it its final name with a
 * call that never replaces an existing entry, fsync the directory.  The
 * directory fsync is shared by the uploads waiting for one at the same time
 * (dir_sync_wait()).
 *
 * Per thread: a json-c tokener (names draw from random.c).  Process-wide:
 * the directory sync slots, under sync_lock. */
#include "upload.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "random.h"
#include "util.h"

/* "upload_YYYYmmddTHHMMSSZ_" + 16 hex + ".json" */
#define NAME_LEN 45
_Static_assert(NAME_LEN < UPLOAD_NAME_MAX, "UPLOAD_NAME_MAX too small");

/* '#' stands for a decimal digit, '%' for a lowercase hex digit. */
static const char name_template[] = "upload_########T######Z_%%%%%%%%%%%%%%%%.json";
_Static_assert(sizeof(name_template) - 1 == NAME_LEN, "name template length");

#define TMP_PREFIX ".upload-"
#define TMP_SUFFIX ".tmp"
/* ".upload-" + 16 hex + ".tmp" + NUL */
#define TMP_NAME_SIZE (sizeof(TMP_PREFIX) - 1 + 16 + sizeof(TMP_SUFFIX))

/* How often to draw a new name when the previous one already exists.  A
 * clash needs the same second and the same 64 random bits, so running out
 * means something is badly wrong (e.g. no randomness at all). */
#define NAME_TRIES 16

/* json_tokener_parse_ex() takes an int length.  Feeding moderate chunks
 * rather than INT_MAX at once costs one call per MiB and lets the unit
 * tests reach the chunk boundary handling with small bodies. */
#define JSON_CHUNK ((size_t)1 << 20)

/* One write(2) never asks for more than this: POSIX leaves counts above
 * SSIZE_MAX implementation-defined, and Linux caps a call near 2 GiB. */
#define WRITE_CHUNK ((size_t)1 << 30)

static size_t size_min(size_t a, size_t b)
{
	return a < b ? a : b;
}

/*
 * Content-Type
 */

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_ctl(char c)
{
	unsigned char u = (unsigned char)c;
	return u < 0x20 || u == 0x7f;
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Compared by hand rather than with strncasecmp(), which follows the
 * locale (the Turkish dotless i would break "application"). */
static bool ascii_caseeq(const char *s, const char *lower, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ascii_lower(s[i]) != lower[i])
			return false;
	}
	return true;
}

/* media-type = type "/" subtype *( OWS ";" OWS parameter ) (RFC 9110
 * section 8.3.1).  The parameters are not interpreted: JSON is UTF-8 by
 * definition (RFC 8259 section 8.1), so a charset adds nothing. */
bool upload_content_type_ok(const char *value, size_t len)
{
	static const char type[] = "application/json";
	const size_t tlen = sizeof(type) - 1;
	size_t i = 0;

	if (!value)
		return false;
	while (i < len && is_ows(value[i]))
		i++;
	while (len > i && is_ows(value[len - 1]))
		len--;
	if (len - i < tlen || !ascii_caseeq(value + i, type, tlen))
		return false;
	i += tlen;
	while (i < len && is_ows(value[i]))
		i++;
	if (i == len)
		return true;
	if (value[i] != ';')
		return false;
	/* HTAB is a CTL but legal in OWS and quoted-string. */
	for (i++; i < len; i++) {
		if (is_ctl(value[i]) && value[i] != '\t')
			return false;
	}
	return true;
}

/*
 * JSON validation
 */

static bool json_is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool json_all_ws(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!json_is_ws(p[i]))
			return false;
	}
	return true;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* number = [ "-" ] int [ frac ] [ exp ] (RFC 8259 section 6) */
static bool json_number_ok(const char *s, size_t n)
{
	size_t i = 0, start;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
	} else if (i < n && s[i] >= '1' && s[i] <= '9') {
		while (i < n && is_digit(s[i]))
			i++;
	} else {
		return false;
	}
	if (i < n && s[i] == '.') {
		start = ++i;
		while (i < n && is_digit(s[i]))
			i++;
		if (i == start)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		start = i;
		while (i < n && is_digit(s[i]))
			i++;
		if (i == start)
			return false;
	}
	return i == n;
}

/* Characters that can make up a literal or a number, and the things
 * json-c would otherwise take for one (NaN, Infinity, 0x10, ...). */
static bool is_bare_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
	       c == '+' || c == '.' || c == '_';
}

static bool json_bare_ok(const char *s, size_t n)
{
	return (n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0) ||
	       (n == 4 && memcmp(s, "null", 4) == 0) || json_number_ok(s, n);
}

static bool in_range(unsigned char c, unsigned char lo, unsigned char hi)
{
	return c >= lo && c <= hi;
}

/* Length of the well-formed UTF-8 sequence at P (Unicode 15, table 3-7:
 * no overlong forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (avail < n)
		return 0;
	/* Only the second byte has a narrower range. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (!in_range(p[1], lo, hi))
		return 0;
	for (size_t i = 2; i < n; i++) {
		if (!in_range(p[i], 0x80, 0xbf))
			return 0;
	}
	return n;
}

/* Skip the string starting at the '"' at *I; NULL or the reason it is bad.
 * Escapes are only stepped over here: json-c checks them. */
static const char *json_lex_string(const char *p, size_t len, size_t *i)
{
	size_t n;

	for (*i += 1; *i < len;) {
		unsigned char c = (unsigned char)p[*i];

		if (c == '"') {
			*i += 1;
			return NULL;
		}
		if (c == '\\') {
			*i += 2;
		} else if (c < 0x20) {
			/* RFC 8259 section 7: control characters must be escaped. */
			return "control character in string";
		} else if (c < 0x80) {
			*i += 1;
		} else {
			n = utf8_len((const unsigned char *)p + *i, len - *i);
			if (!n)
				return "invalid UTF-8 in string";
			*i += n;
		}
	}
	return json_tokener_error_desc(json_tokener_error_parse_eof);
}

/* json-c 0.16 in strict mode still accepts NaN, Infinity, "1.", single
 * quoted object keys, raw control characters and any bytes at all inside
 * strings.  None of that is JSON (RFC 8259), and a stored upload is served
 * back as application/json, so check the tokens here; json-c then only has
 * to judge the structure.  Returns NULL or the reason. */
static const char *json_lex_check(const char *p, size_t len)
{
	const char *why;
	size_t i = 0, start;

	while (i < len) {
		char c = p[i];

		if (json_is_ws(c) || c == '{' || c == '}' || c == '[' || c == ']' || c == ',' ||
		    c == ':') {
			i++;
		} else if (c == '"') {
			why = json_lex_string(p, len, &i);
			if (why)
				return why;
		} else if (is_bare_char(c)) {
			start = i;
			while (i < len && is_bare_char(p[i]))
				i++;
			if (!json_bare_ok(p + start, i - start))
				return "invalid literal or number";
		} else {
			return json_tokener_error_desc(json_tokener_error_parse_unexpected);
		}
	}
	return NULL;
}

/* One tokener per thread, reused: json_tokener_new_ex() costs three
 * allocations (the tokener, its stack, its string buffer) and
 * json_tokener_reset() none.  The key's destructor frees it when a worker
 * exits (the pool shrinks on reload). */
static pthread_key_t tok_key;
static pthread_once_t tok_once = PTHREAD_ONCE_INIT;
static bool tok_key_ok;

static void tok_free(void *tok)
{
	json_tokener_free(tok);
}

static void tok_key_create(void)
{
	tok_key_ok = pthread_key_create(&tok_key, tok_free) == 0;
}

static struct json_tokener *tokener_get(void)
{
	struct json_tokener *tok;

	pthread_once(&tok_once, tok_key_create);
	tok = tok_key_ok ? pthread_getspecific(tok_key) : NULL;
	if (tok)
		return tok;
	tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
	if (!tok)
		return NULL;
	/* reset() keeps the flags */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	if (tok_key_ok)
		pthread_setspecific(tok_key, tok);
	return tok;
}

/* Ready for the next document, whatever state this one left it in. */
static void tokener_put(struct json_tokener *tok)
{
	if (tok_key_ok && pthread_getspecific(tok_key) == tok)
		json_tokener_reset(tok);
	else
		json_tokener_free(tok);
}

int upload_validate_json(const char *body, size_t len, char *err, size_t errlen)
{
	struct json_tokener *tok = NULL;
	struct json_object *obj = NULL;
	enum json_tokener_error jerr = json_tokener_continue;
	const char *why;
	size_t off = 0, n;
	int r = -EINVAL;

	if (!body || json_all_ws(body, len)) {
		why = "empty body";
		goto fail;
	}
	/* json-c takes a NUL for the end of the input. */
	if (memchr(body, '\0', len)) {
		why = "NUL byte in body";
		goto fail;
	}
	why = json_lex_check(body, len);
	if (why)
		goto fail;

	tok = tokener_get();
	if (!tok) {
		r = -ENOMEM;
		why = "out of memory";
		goto fail;
	}
	while (off < len) {
		n = size_min(len - off, JSON_CHUNK);
		obj = json_tokener_parse_ex(tok, body + off, (int)n);
		jerr = json_tokener_get_error(tok);
		if (jerr != json_tokener_continue)
			break;
		off += n;
	}
	if (jerr == json_tokener_continue) {
		/* A top-level number or literal ends only with the input
		 * ("123" could go on); json-c's end of input is a NUL. */
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
	} else if (jerr == json_tokener_success) {
		off += json_tokener_get_parse_end(tok);
	}
	if (jerr != json_tokener_success) {
		why = json_tokener_error_desc(jerr);
		goto fail;
	}
	if (!json_all_ws(body + off, len - off)) {
		why = "data after the JSON text";
		goto fail;
	}
	json_object_put(obj);
	tokener_put(tok);
	if (err && errlen)
		err[0] = '\0';
	return 0;

fail:
	json_object_put(obj);
	if (tok)
		tokener_put(tok);
	if (err && errlen)
		snprintf(err, errlen, "%s", why);
	return r;
}

/*
 * Names
 */

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the name has room for
 * four year digits and nothing else could pass upload_name_valid(). */
#define NAME_TIME_MIN ((time_t)-62167219200)
#define NAME_TIME_MAX ((time_t)253402300799)

/* "YYYYmmddTHHMMSSZ" (16 characters) for T within the range above.  The
 * civil date comes from the day count by H. Hinnant's civil_from_days()
 * (eras of 400 years starting on 1 March) rather than gmtime_r(), which
 * takes glibc's time zone lock on every call. */
static char *put_utc(char *p, time_t t)
{
	int64_t days = t / 86400, secs = t % 86400;
	int64_t z, era, year;
	unsigned doe, yoe, doy, mp, month, day;

	if (secs < 0) {
		secs += 86400;
		days--;
	}
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	day = doy - (153 * mp + 2) / 5 + 1;
	month = mp < 10 ? mp + 3 : mp - 9;
	year = (int64_t)yoe + era * 400 + (month <= 2);

	p = mth_dec_fixed(p, (unsigned)year, 4);
	p = mth_dec_fixed(p, month, 2);
	p = mth_dec_fixed(p, day, 2);
	*p++ = 'T';
	p = mth_dec_fixed(p, (unsigned)(secs / 3600), 2);
	p = mth_dec_fixed(p, (unsigned)(secs / 60 % 60), 2);
	p = mth_dec_fixed(p, (unsigned)(secs % 60), 2);
	*p++ = 'Z';
	return p;
}

int upload_make_name(char *out, size_t outsz, time_t now)
{
	char *p = out;

	if (!out || outsz < NAME_LEN + 1)
		return -ENAMETOOLONG;
	if (now < NAME_TIME_MIN || now > NAME_TIME_MAX)
		return -EOVERFLOW;
	memcpy(p, "upload_", 7);
	p = put_utc(p + 7, now);
	*p++ = '_';
	p = mth_hex16(p, random_u64());
	memcpy(p, ".json", sizeof(".json"));
	return 0;
}

bool upload_name_valid(const char *name)
{
	if (!name || strnlen(name, NAME_LEN + 1) != NAME_LEN)
		return false;
	for (size_t i = 0; i < NAME_LEN; i++) {
		char c = name[i];

		switch (name_template[i]) {
		case '#':
			if (!is_digit(c))
				return false;
			break;
		case '%':
			if (!is_digit(c) && !(c >= 'a' && c <= 'f'))
				return false;
			break;
		default:
			if (c != name_template[i])
				return false;
			break;
		}
	}
	return true;
}

/*
 * Storage
 */

static int write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, size_min(len, WRITE_CHUNK));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* Not expected from a regular file; do not spin on it. */
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The temporary file: unnamed if the file system supports O_TMPFILE
 * (TMP stays ""), else a new hidden ".upload-*.tmp" named in TMP.
 *
 * O_DSYNC makes each write(2) return only once its data, and the size
 * that makes the data readable, are on stable storage: fdatasync() folded
 * into the write, one system call less per upload.  That is all the file
 * needs before its link: fdatasync() skips only timestamps, and the link
 * count, the entry and the inode's other metadata travel in the journal
 * transaction that the directory fsync() commits (ext4, XFS).  An empty
 * body writes nothing; its inode likewise comes with that commit. */
static int open_temp(int dir_fd, char tmp[static TMP_NAME_SIZE])
{
	const int flags = O_WRONLY | O_CLOEXEC | O_DSYNC;
	char *p;
	int fd;

	tmp[0] = '\0';
	fd = openat(dir_fd, ".", O_TMPFILE | flags, 0640);
	if (fd >= 0)
		return fd;
	/* EISDIR: a kernel without O_TMPFILE sees only its O_DIRECTORY bit;
	 * EOPNOTSUPP: the file system lacks it. */
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	for (int i = 0; i < NAME_TRIES; i++) {
		memcpy(tmp, TMP_PREFIX, sizeof(TMP_PREFIX) - 1);
		p = mth_hex16(tmp + sizeof(TMP_PREFIX) - 1, random_u64());
		memcpy(p, TMP_SUFFIX, sizeof(TMP_SUFFIX));
		fd = openat(dir_fd, tmp, O_CREAT | O_EXCL | O_NOFOLLOW | flags, 0640);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			break;
	}
	tmp[0] = '\0';
	return -errno;
}

/* linkat(AT_EMPTY_PATH) links an open file without any path walk.  Before
 * Linux 6.10 it needs CAP_DAC_READ_SEARCH (ENOENT without it); since then
 * (commit 42bd2af59504) whoever opened the file may use it.  Linking
 * /proc/self/fd/N needs no privilege on any kernel but costs a walk through
 * procfs: it takes over for good once it has worked where AT_EMPTY_PATH was
 * refused. */
static bool flink_refused; /* atomic */

static int link_fd(int fd, int dir_fd, const char *name)
{
	char proc[32];

	if (!__atomic_load_n(&flink_refused, __ATOMIC_RELAXED)) {
		if (linkat(fd, "", dir_fd, name, AT_EMPTY_PATH) == 0)
			return 0;
		if (errno != ENOENT)
			return -errno;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, dir_fd, name, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	__atomic_store_n(&flink_refused, true, __ATOMIC_RELAXED);
	return 0;
}

/* Give the O_TMPFILE file FD a fresh name.  linkat() never replaces an
 * existing entry, so a clash (EEXIST) just means drawing again. */
static int link_unnamed(int fd, int dir_fd, char *name)
{
	int r;

	for (int i = 0; i < NAME_TRIES; i++) {
		r = upload_make_name(name, UPLOAD_NAME_MAX, time(NULL));
		if (r < 0)
			return r;
		r = link_fd(fd, dir_fd, name);
		if (r != -EEXIST)
			return r;
	}
	return -EEXIST;
}

/* Rename the hidden temporary file TMP to a fresh name, never replacing
 * an existing entry.  On success TMP no longer exists. */
static int link_named(int dir_fd, const char *tmp, char *name)
{
	int r;

	for (int i = 0; i < NAME_TRIES; i++) {
		r = upload_make_name(name, UPLOAD_NAME_MAX, time(NULL));
		if (r < 0)
			return r;
		if (renameat2(dir_fd, tmp, dir_fd, name, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EEXIST)
			continue;
		/* EINVAL: the file system lacks RENAME_NOREPLACE; ENOSYS: the
		 * kernel lacks renameat2.  link + unlink does not replace
		 * either, at the cost of a moment with two names. */
		if (errno != EINVAL && errno != ENOSYS)
			return -errno;
		if (linkat(dir_fd, tmp, dir_fd, name, 0) < 0) {
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		if (unlinkat(dir_fd, tmp, 0) < 0) {
			r = -errno;
			unlinkat(dir_fd, name, 0);
			return r;
		}
		return 0;
	}
	return -EEXIST;
}

/*
 * Directory durability, committed in groups
 *
 * A new entry is durable once an fsync() of its directory that started
 * after the link has returned, and one such fsync covers every entry
 * linked before it started.  So concurrent uploads share one: each draws
 * a ticket (++link_gen) after its link; one that finds no fsync in flight
 * leads: it takes the newest ticket as the flight's target, fsyncs without
 * the lock, then publishes synced_gen = target.  The others sleep until
 * synced_gen reaches their ticket.  Those that arrive while an fsync is in
 * flight need the next one: when the flight lands, its leader wakes the
 * uploads it covered and one of the next flight's, which leads that.  An
 * upload thus waits for at most two fsyncs, a directory has at most one
 * in flight, and a sleeping upload is woken once, not by every landing:
 * the uploads covered by flight n sleep on covered[n % 2].
 *
 * A failed writeback is reported once per open file (errseq), so an fsync
 * that returns 0 after one that failed proves nothing about the entries
 * made before the failure.  An upload therefore fails if any directory
 * fsync failed between its link and its answer -- its own covering one,
 * or one that was in flight when it linked.  Failures are rare enough to
 * count them process-wide: sync_failures is read before the link and again
 * with the answer.
 *
 * The state lives in a few slots keyed by directory descriptor.  A slot
 * with users is never reassigned, and its descriptor cannot be closed and
 * reused meanwhile: each user holds a reference on the site that owns it.
 * More directories in use at once than slots (reloads moving uploads_dir
 * back and forth) only costs the extra ones their batching.
 */
struct dir_sync {
	int fd;                     /* meaningful while users > 0 */
	unsigned users;             /* uploads between their ticket and their answer */
	bool in_flight;             /* flight number `flights` has not landed yet */
	unsigned flights;           /* fsyncs started */
	uint64_t link_gen;          /* the newest ticket */
	uint64_t target;            /* the newest ticket the latest flight covers */
	uint64_t synced_gen;        /* every ticket up to this one has its answer */
	pthread_cond_t covered[2];  /* see above */
};

#define SYNC_DIRS 4
#define SYNC_DIR_INIT { .covered = { PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER } }

static pthread_mutex_t sync_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dir_sync sync_dirs[SYNC_DIRS] = { SYNC_DIR_INIT, SYNC_DIR_INIT, SYNC_DIR_INIT,
						SYNC_DIR_INIT };
_Static_assert(SYNC_DIRS == 4, "one initialiser per slot");
static unsigned sync_failures; /* written under sync_lock, read atomically */
static int sync_last_err;      /* the latest failure's -errno */

static unsigned sync_failures_now(void)
{
	return __atomic_load_n(&sync_failures, __ATOMIC_ACQUIRE);
}

/* Called with sync_lock held. */
static void sync_failed(int err)
{
	sync_last_err = err;
	__atomic_add_fetch(&sync_failures, 1, __ATOMIC_RELEASE);
}

/* Called with sync_lock held: DIR_FD's slot, a free one, or NULL. */
static struct dir_sync *sync_slot(int dir_fd)
{
	struct dir_sync *free_slot = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(sync_dirs); i++) {
		struct dir_sync *d = &sync_dirs[i];

		if (d->users && d->fd == dir_fd)
			return d;
		if (!d->users && !free_slot)
			free_slot = d;
	}
	return free_slot;
}

static int fsync_errno(int fd)
{
	return fsync(fd) < 0 ? -errno : 0;
}

/* Called with sync_lock held; returns with it held, after one flight. */
static int sync_lead(struct dir_sync *d)
{
	unsigned n = ++d->flights;
	uint64_t target = d->link_gen;
	int fd = d->fd, r;

	d->target = target;
	d->in_flight = true;
	pthread_mutex_unlock(&sync_lock);
	r = fsync_errno(fd);
	pthread_mutex_lock(&sync_lock);
	d->in_flight = false;
	d->synced_gen = target;
	if (r < 0)
		sync_failed(r);
	pthread_cond_broadcast(&d->covered[n % 2]);
	if (d->link_gen > target)
		pthread_cond_signal(&d->covered[(n + 1) % 2]);
	return r;
}

/* Return once an fsync() of DIR_FD that started after the caller's link
 * has completed: 0, or a negative errno if that one or any other directory
 * fsync since FAILURES_SEEN (sync_failures before the link) failed. */
static int dir_sync_wait(int dir_fd, unsigned failures_seen)
{
	struct dir_sync *d;
	uint64_t ticket;
	int r = 0;

	pthread_mutex_lock(&sync_lock);
	d = sync_slot(dir_fd);
	if (!d) {
		pthread_mutex_unlock(&sync_lock);
		r = fsync_errno(dir_fd);
		pthread_mutex_lock(&sync_lock);
		if (r < 0)
			sync_failed(r);
		goto out;
	}
	if (!d->users++)
		d->fd = dir_fd;
	ticket = ++d->link_gen;
	while (d->synced_gen < ticket) {
		if (!d->in_flight)
			r = sync_lead(d);
		else
			/* covered by the flight in the air, or by the next */
			pthread_cond_wait(&d->covered[(d->flights + (d->target < ticket)) % 2],
					  &sync_lock);
	}
	d->users--;
out:
	if (__atomic_load_n(&sync_failures, __ATOMIC_RELAXED) != failures_seen)
		r = sync_last_err;
	pthread_mutex_unlock(&sync_lock);
	return r;
}

int upload_store(int dir_fd, const char *body, size_t len, char *name)
{
	char tmp[TMP_NAME_SIZE];
	bool linked = false;
	unsigned failures;
	int fd, r;

	name[0] = '\0';
	fd = open_temp(dir_fd, tmp);
	if (fd < 0) {
		r = fd;
		goto fail;
	}
	/* Durable when it returns (O_DSYNC, see open_temp()). */
	r = write_all(fd, body, len);
	if (r < 0)
		goto fail;
	failures = sync_failures_now();
	r = tmp[0] ? link_named(dir_fd, tmp, name) : link_unnamed(fd, dir_fd, name);
	if (r < 0)
		goto fail;
	tmp[0] = '\0';
	linked = true;
	/* The data is on disk already, so close() has nothing left to
	 * report. */
	close(fd);
	fd = -1;
	/* Makes the new directory entry durable: without it a crash could
	 * lose a file the client was told is stored. */
	r = dir_sync_wait(dir_fd, failures);
	if (r < 0)
		goto fail;
	return 0;

fail:
	/* The name was handed out nowhere yet: take it back rather than
	 * leave a file whose durability we could not confirm. */
	if (linked)
		unlinkat(dir_fd, name, 0);
	if (tmp[0])
		unlinkat(dir_fd, tmp, 0);
	if (fd >= 0)
		close(fd);
	name[0] = '\0';
	return r;
}

static bool is_temp_name(const char *s)
{
	size_t n = strlen(s);
	const size_t plen = sizeof(TMP_PREFIX) - 1, slen = sizeof(TMP_SUFFIX) - 1;

	return n >= plen + slen && memcmp(s, TMP_PREFIX, plen) == 0 &&
	       memcmp(s + n - slen, TMP_SUFFIX, slen) == 0;
}

int upload_cleanup_temp(int dir_fd)
{
	struct dirent *de;
	DIR *d;
	int fd, count = 0, r = 0;

	/* A new open file description rather than dup(): a dup shares the
	 * directory offset with DIR_FD, and readdir() would move it. */
	fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno && !r)
				r = -errno;
			break;
		}
		if (!is_temp_name(de->d_name))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
			count++;
			continue;
		}
		/* Gone already (another process cleaning up) or a directory
		 * that merely looks like ours: neither is an error. */
		if (errno != ENOENT && errno != EISDIR && !r)
			r = -errno;
	}
	closedir(d);
	return r < 0 ? r : count;
}
