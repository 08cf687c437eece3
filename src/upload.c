/* upload.c - POST /upload: accept a JSON document and store it durably.
 *
 * The body is validated by json_validate.c (a streaming RFC 8259 checker
 * with fixed memory) while it is written to the temporary file, so no
 * upload is ever whole in memory (upload_stream_*).  Storage follows the
 * usual recipe for a file that must appear complete or not at all: write
 * an unnamed (O_TMPFILE) or hidden temporary file, make its data durable
 * (O_DSYNC for a body written at once, fdatasync() at the end of a stream),
 * give it its final name with a call that never replaces an existing
 * entry, fsync the directory.  The directory fsync is shared by the
 * uploads waiting for one at the same time (dir_sync_wait()).
 *
 * Names draw from random.c.  Process-wide: the directory sync slots, under
 * sync_lock.  Per upload: a struct upload_stream (one 64 KiB buffer). */
#include "upload.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_validate.h"
#include "random.h"
#include "util.h"

/* "upload_YYYYmmddTHHMMSSZ_" + 16 hex + ".json" */
#define NAME_LEN 45
_Static_assert(NAME_LEN < UPLOAD_NAME_MAX, "UPLOAD_NAME_MAX too small");

/* '#' stands for a decimal digit, '%' for a lowercase hex digit. */
static const char name_template[] = "upload_########T######Z_%%%%%%%%%%%%%%%%.json";
_Static_assert(sizeof(name_template) - 1 == NAME_LEN, "name template length");

/* Hidden temporary files, where the file system has no O_TMPFILE (NFS,
 * CephFS, vfat) or the fallback is forced: ".mthttpd-tmp.<node>.<pid>.<16
 * hex>".  The node's host name says whose a leftover is when several nodes
 * share uploads_dir: a node removes only its own at start.  The pid tells
 * this process's files (in flight) from an earlier one's (stale) on reload.
 * Files named ".upload-*.tmp" came from versions before the host name:
 * still hidden and never served, but no node removes them. */
#define TMP_PREFIX ".mthttpd-tmp."
#define TMP_NAME_SIZE 128
#define NODE_MAX 64 /* HOST_NAME_MAX on Linux */
#define PID_DIGITS_MAX 10
_Static_assert(sizeof(TMP_PREFIX) - 1 + NODE_MAX + 1 + PID_DIGITS_MAX + 1 + 16 < TMP_NAME_SIZE,
	       "TMP_NAME_SIZE too small");
#define LEGACY_PREFIX ".upload-"
#define LEGACY_SUFFIX ".tmp"

/* Set once at start (upload_init()), before any thread stores. */
static char node_name[NODE_MAX + 1] = "localhost";
static bool force_named;

/* How often to draw a new name when the previous one already exists.  A
 * clash needs the same second and the same 64 random bits, so running out
 * means something is badly wrong (e.g. no randomness at all). */
#define NAME_TRIES 16

/* One write(2) never asks for more than this: POSIX leaves counts above
 * SSIZE_MAX implementation-defined, and Linux caps a call near 2 GiB. */
#define WRITE_CHUNK ((size_t)1 << 30)

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

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

int upload_validate_json(const char *body, size_t len, char *err, size_t errlen)
{
	struct json_validate *v = json_validate_new(0);
	const char *why;
	int r;

	if (!v) {
		why = "out of memory";
		r = -ENOMEM;
		goto out;
	}
	r = json_validate_feed(v, body ? body : "", body ? len : 0);
	if (r == 0)
		r = json_validate_finish(v);
	why = r < 0 ? json_validate_error(v) : "";
out:
	if (err && errlen)
		snprintf(err, errlen, "%s", why);
	json_validate_free(v);
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

/*
 * Which temporary file: the node's name, the switch, the probe
 */

void upload_set_node_name(const char *host)
{
	size_t n = 0;

	/* Anything but letters, digits, '-', '_' and '.' (a name that
	 * sethostname() allowed but a file name should not carry, '/'
	 * above all) becomes '_'. */
	for (; host && host[n] && n < NODE_MAX; n++) {
		char c = host[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
			  c == '-' || c == '_' || c == '.';

		node_name[n] = ok ? c : '_';
	}
	if (n == 0)
		memcpy(node_name, "localhost", n = 9);
	node_name[n] = '\0';
}

const char *upload_node_name(void)
{
	return node_name;
}

void upload_init(bool force_named_temp)
{
	char host[NODE_MAX + 1];

	if (gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	host[NODE_MAX] = '\0';
	upload_set_node_name(host);
	upload_force_named_temp(force_named_temp);
}

void upload_force_named_temp(bool on)
{
	__atomic_store_n(&force_named, on, __ATOMIC_RELAXED);
}

/* EISDIR: a kernel without O_TMPFILE sees only its O_DIRECTORY bit;
 * EOPNOTSUPP: the file system lacks it (NFS, CephFS, vfat); EINVAL: some
 * file systems say so instead. */
static bool no_tmpfile_errno(int e)
{
	return e == EOPNOTSUPP || e == EISDIR || e == EINVAL;
}

int upload_probe(int dir_fd)
{
	int fd;

	if (__atomic_load_n(&force_named, __ATOMIC_RELAXED))
		return UPLOAD_TEMP_FORCED;
	fd = openat(dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0) {
		close(fd);
		return UPLOAD_TEMP_UNNAMED;
	}
	return no_tmpfile_errno(errno) ? UPLOAD_TEMP_NAMED : -errno;
}

const char *upload_temp_mode_describe(int mode)
{
	switch (mode) {
	case UPLOAD_TEMP_UNNAMED:
		return "unnamed temporary files (O_TMPFILE) linked under their final name";
	case UPLOAD_TEMP_NAMED:
		return "no O_TMPFILE here: hidden temporary files named after this node, "
		       "renamed (RENAME_NOREPLACE) or linked under their final name";
	case UPLOAD_TEMP_FORCED:
		return "hidden temporary files named after this node, forced by "
		       "MTHTTPD_FORCE_NO_TMPFILE";
	default:
		return "unknown";
	}
}

/* ".mthttpd-tmp.<node>.<pid>.<16 hex>" into TMP. */
static void make_temp_name(char tmp[static TMP_NAME_SIZE])
{
	snprintf(tmp, TMP_NAME_SIZE, "%s%s.%ld.", TMP_PREFIX, node_name, (long)getpid());
	*mth_hex16(tmp + strlen(tmp), random_u64()) = '\0';
}

/* The temporary file: unnamed if the file system supports O_TMPFILE
 * (TMP stays ""), else a new hidden ".mthttpd-tmp.*" named in TMP.
 *
 * O_DSYNC makes each write(2) return only once its data, and the size
 * that makes the data readable, are on stable storage: fdatasync() folded
 * into the write, one system call less per upload.  That is all the file
 * needs before its link: fdatasync() skips only timestamps, and the link
 * count, the entry and the inode's other metadata travel in the journal
 * transaction that the directory fsync() commits (ext4, XFS).  An empty
 * body writes nothing; its inode likewise comes with that commit. */
static int open_temp(int dir_fd, char tmp[static TMP_NAME_SIZE], int sync_flag)
{
	const int flags = O_WRONLY | O_CLOEXEC | sync_flag;
	int fd;

	tmp[0] = '\0';
	/* tried on every upload, not only at start: the directory may have
	 * moved to another file system (a mount, a reload) */
	if (!__atomic_load_n(&force_named, __ATOMIC_RELAXED)) {
		fd = openat(dir_fd, ".", O_TMPFILE | flags, 0640);
		if (fd >= 0)
			return fd;
		if (!no_tmpfile_errno(errno))
			return -errno;
	}
	for (int i = 0; i < NAME_TRIES; i++) {
		make_temp_name(tmp);
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
		/* EINVAL: the file system lacks RENAME_NOREPLACE (NFS,
		 * CephFS: no atomic check on the server); ENOSYS: the kernel
		 * lacks renameat2.  link + unlink does not replace either
		 * (link() is atomic on an NFS server), at the cost of a
		 * moment with two names, the final one complete already.
		 * Where neither works (EPERM from link on vfat, had it no
		 * RENAME_NOREPLACE) the upload fails and the caller removes
		 * the temporary file. */
		if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
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

/* Give the temporary file FD (unnamed, or named TMP) its final name and
 * make that durable; its data must be on stable storage already.  FD is
 * closed in any case; on failure nothing is left behind (TMP included). */
static int commit_temp(int fd, int dir_fd, const char *tmp, char *name)
{
	bool linked = false;
	unsigned failures;
	int r;

	failures = sync_failures_now();
	r = tmp[0] ? link_named(dir_fd, tmp, name) : link_unnamed(fd, dir_fd, name);
	if (r < 0)
		goto fail;
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
	else if (tmp[0])
		unlinkat(dir_fd, tmp, 0);
	if (fd >= 0)
		close(fd);
	name[0] = '\0';
	return r;
}

int upload_store(int dir_fd, const char *body, size_t len, char *name)
{
	char tmp[TMP_NAME_SIZE];
	int fd, r;

	name[0] = '\0';
	fd = open_temp(dir_fd, tmp, O_DSYNC);
	if (fd < 0)
		return fd;
	/* Durable when it returns (O_DSYNC, see open_temp()). */
	r = write_all(fd, body, len);
	if (r < 0) {
		if (tmp[0])
			unlinkat(dir_fd, tmp, 0);
		close(fd);
		return r;
	}
	return commit_temp(fd, dir_fd, tmp, name);
}

/*
 * Streaming: the body goes to the temporary file as it arrives
 */

struct upload_stream {
	int dir_fd;
	int fd;                     /* -1 once committed */
	char tmp[TMP_NAME_SIZE];
	uint64_t bytes;             /* accepted so far */
	size_t fill;                /* of buf */
	struct json_validate *json;
	char buf[UPLOAD_STREAM_BUF];
};

int upload_stream_open(int dir_fd, struct upload_stream **out)
{
	struct upload_stream *s;
	int r;

	*out = NULL;
	s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dir_fd = dir_fd;
	s->bytes = 0;
	s->fill = 0;
	s->json = json_validate_new(0);
	if (!s->json) {
		free(s);
		return -ENOMEM;
	}
	/* No O_DSYNC here: one fdatasync() at the end instead of a
	 * synchronous write per buffer. */
	s->fd = open_temp(dir_fd, s->tmp, 0);
	if (s->fd < 0) {
		r = s->fd;
		json_validate_free(s->json);
		free(s);
		return r;
	}
	*out = s;
	return 0;
}

void upload_stream_free(struct upload_stream *s)
{
	if (!s)
		return;
	if (s->fd >= 0) {
		/* never linked: an unnamed file vanishes with its descriptor */
		if (s->tmp[0])
			unlinkat(s->dir_fd, s->tmp, 0);
		close(s->fd);
	}
	json_validate_free(s->json);
	free(s);
}

char *upload_stream_space(struct upload_stream *s, size_t *room)
{
	*room = sizeof(s->buf) - s->fill;
	return s->buf + s->fill;
}

static int stream_flush(struct upload_stream *s)
{
	int r = write_all(s->fd, s->buf, s->fill);

	s->fill = 0;
	return r;
}

int upload_stream_advance(struct upload_stream *s, size_t n)
{
	int r;

	if (n > sizeof(s->buf) - s->fill)
		return -EINVAL;
	r = json_validate_feed(s->json, s->buf + s->fill, n);
	if (r < 0)
		return r;
	s->fill += n;
	s->bytes += n;
	if (s->fill == sizeof(s->buf))
		return stream_flush(s);
	return 0;
}

int upload_stream_write(struct upload_stream *s, const char *data, size_t len)
{
	size_t room, n;
	char *p;
	int r;

	while (len > 0) {
		p = upload_stream_space(s, &room);
		n = size_min(room, len);
		memcpy(p, data, n);
		r = upload_stream_advance(s, n);
		if (r < 0)
			return r;
		data += n;
		len -= n;
	}
	return 0;
}

uint64_t upload_stream_bytes(const struct upload_stream *s)
{
	return s->bytes;
}

const char *upload_stream_error(const struct upload_stream *s)
{
	return json_validate_error(s->json);
}

int upload_stream_finish(struct upload_stream *s, char *name)
{
	int r, fd;

	name[0] = '\0';
	if (s->fd < 0)
		return -EBADF;
	r = json_validate_finish(s->json);
	if (r < 0)
		return r;
	r = stream_flush(s);
	if (r < 0)
		return r;
	if (fdatasync(s->fd) < 0)
		return -errno;
	fd = s->fd;
	s->fd = -1;
	r = commit_temp(fd, s->dir_fd, s->tmp, name);
	s->tmp[0] = '\0';
	return r;
}

bool upload_temp_name(const char *s)
{
	size_t n = strlen(s);
	const size_t plen = sizeof(LEGACY_PREFIX) - 1, slen = sizeof(LEGACY_SUFFIX) - 1;

	if (strncmp(s, TMP_PREFIX, sizeof(TMP_PREFIX) - 1) == 0)
		return true;
	return n >= plen + slen && memcmp(s, LEGACY_PREFIX, plen) == 0 &&
	       memcmp(s + n - slen, LEGACY_SUFFIX, slen) == 0;
}

/* Is S ".mthttpd-tmp.<node>.<pid>.<16 hex>" with this node's name?  Read
 * from the right, since a node name may contain dots: 16 hex digits, '.',
 * the pid's digits, '.', and the node name is all that is left.  *PID is
 * the pid in the name. */
static bool own_temp_name(const char *s, long *pid)
{
	const size_t plen = sizeof(TMP_PREFIX) - 1, nlen = strlen(node_name);
	size_t n = strlen(s), d;
	const char *p;

	if (n < plen + nlen + 1 + 1 + 1 + 16 || strncmp(s, TMP_PREFIX, plen) != 0 ||
	    memcmp(s + plen, node_name, nlen) != 0 || s[plen + nlen] != '.')
		return false;
	for (size_t i = n - 16; i < n; i++)
		if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	if (s[n - 17] != '.')
		return false;
	/* the pid: everything between the node's '.' and the last one */
	p = s + plen + nlen + 1;
	d = (size_t)(s + n - 17 - p);
	if (d == 0 || d > PID_DIGITS_MAX)
		return false;
	*pid = 0;
	for (size_t i = 0; i < d; i++) {
		if (!is_digit(p[i]))
			return false;
		*pid = *pid * 10 + (p[i] - '0');
	}
	return true;
}

bool upload_temp_is_own(const char *name)
{
	long pid;

	return own_temp_name(name, &pid);
}

DIR *upload_opendir(int dir_fd)
{
	DIR *d;
	int fd, saved;

	/* A new open file description rather than dup(): a dup shares the
	 * directory offset with DIR_FD, and readdir() would move it. */
	fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d) {
		saved = errno;
		close(fd);
		errno = saved;
	}
	return d;
}

int upload_cleanup_temp(int dir_fd, pid_t spare)
{
	struct dirent *de;
	DIR *d = upload_opendir(dir_fd);
	int count = 0, r = 0;
	long pid;

	if (!d)
		return -errno;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno && !r)
				r = -errno;
			break;
		}
		/* another node's (in flight, or its own to clean up when it
		 * starts again), or this process's own in flight */
		if (!own_temp_name(de->d_name, &pid) || (spare > 0 && pid == (long)spare))
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
