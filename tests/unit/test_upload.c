/* test_upload.c - Criterion tests for src/upload.c.
 *
 * The storage tests need failures a unit test cannot cause for real (a
 * full disk, a file system without O_TMPFILE or RENAME_NOREPLACE, a failed
 * fsync, name clashes, an old kernel's linkat()).  This file therefore
 * defines openat, write, fsync, linkat, renameat2, getrandom and time
 * itself: the linker binds upload.c's calls (and everybody else's in this
 * binary) to these, which pass through to the kernel unless a test arms a
 * fault.  Each Criterion test runs in its own worker process, so an armed
 * fault never outlives its test.
 *
 * linkat, renameat2 and fsync of a directory also stamp a global sequence
 * number on what they do, so the concurrent tests can check after the fact
 * that every upload answered 0 had a directory fsync that started after
 * its link and returned before its answer. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "upload.h"

#define NAME_LEN 45
#define S(lit) (lit), (sizeof(lit) - 1)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Fault injection (see the comment at the top)
 */

static struct {
	/* openat(O_TMPFILE) fails with EOPNOTSUPP */
	bool no_tmpfile;
	/* renameat2() fails with ENOSYS, or with this errno (EINVAL: NFS,
	 * no RENAME_NOREPLACE) */
	bool no_renameat2;
	int renameat2_err;
	/* linkat() of a name fails with this errno (EPERM: vfat, no hard
	 * links) */
	int link_name_err;
	/* on regular files: the first write_eintr writes fail with EINTR,
	 * each write moves at most write_max bytes (if nonzero), and with
	 * write_enospc ENOSPC follows once write_budget bytes are written */
	int write_eintr;
	size_t write_max;
	bool write_enospc;
	size_t write_budget;
	/* errno for syncing a regular file's data (fsync(), or a write()
	 * to a file opened O_DSYNC) / for fsync() of a directory; with
	 * dir_fail_nth only the directory fsync with that number (from 1)
	 * fails */
	int sync_file_err;
	int fsync_dir_err;
	unsigned dir_fail_nth;
	/* each directory fsync() takes this long (microseconds) */
	unsigned dir_delay_us;
	/* linkat(AT_EMPTY_PATH) fails with ENOENT, as it does before Linux
	 * 6.10 without CAP_DAC_READ_SEARCH */
	bool no_flink;
	/* the first successful linkat() returns this late (microseconds) */
	unsigned link_delay_us;
	/* getrandom() fails with ENOSYS, or fills each 8-byte word it is
	 * asked for from the script rnd[0..nrnd), rnd_pos on, repeating
	 * the last entry */
	bool no_getrandom;
	const uint64_t *rnd;
	size_t nrnd, rnd_pos;
	/* time() answer when nonzero */
	time_t now;
} fault;

/* What the interposed calls saw (see the comment at the top). */
static char last_created[256]; /* the latest openat(O_CREAT) path */
static atomic_uint tmpfile_opens;
static atomic_uint_fast64_t seq;
static atomic_uint flink_tries, dir_fsyncs, links;
static atomic_bool first_linked;
static __thread uint64_t last_link_seq;

struct dir_fsync_event {
	uint64_t start, end;
	int err;
};

#define MAX_EVENTS 4096
static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dir_fsync_event events[MAX_EVENTS];
static size_t n_events;

static bool is_type(int fd, mode_t type)
{
	struct stat st;

	return fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == type;
}

int openat(int dfd, const char *path, int flags, ...)
{
	int mode = 0;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, int);
		va_end(ap);
	}
	if (fault.no_tmpfile && (flags & O_TMPFILE) == O_TMPFILE) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if ((flags & O_TMPFILE) == O_TMPFILE)
		atomic_fetch_add(&tmpfile_opens, 1);
	if (flags & O_CREAT)
		snprintf(last_created, sizeof(last_created), "%s", path);
	return (int)syscall(SYS_openat, dfd, path, flags, mode);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	if (is_type(fd, S_IFREG)) {
		int flags = fcntl(fd, F_GETFL);

		if (fault.sync_file_err && flags >= 0 && (flags & O_DSYNC)) {
			errno = fault.sync_file_err;
			return -1;
		}
		if (fault.write_eintr > 0) {
			fault.write_eintr--;
			errno = EINTR;
			return -1;
		}
		if (fault.write_max && n > fault.write_max)
			n = fault.write_max;
		if (fault.write_enospc) {
			if (!fault.write_budget) {
				errno = ENOSPC;
				return -1;
			}
			if (n > fault.write_budget)
				n = fault.write_budget;
			fault.write_budget -= n;
		}
	}
	return syscall(SYS_write, fd, buf, n);
}

static int dir_fsync(int fd)
{
	unsigned nth = atomic_fetch_add(&dir_fsyncs, 1) + 1;
	struct dir_fsync_event ev = { .start = atomic_fetch_add(&seq, 1) + 1 };

	if (fault.dir_delay_us)
		usleep(fault.dir_delay_us);
	if (fault.fsync_dir_err && (!fault.dir_fail_nth || fault.dir_fail_nth == nth))
		ev.err = fault.fsync_dir_err;
	else if (syscall(SYS_fsync, fd) < 0)
		ev.err = errno;
	ev.end = atomic_fetch_add(&seq, 1) + 1;
	pthread_mutex_lock(&events_lock);
	if (n_events < MAX_EVENTS)
		events[n_events++] = ev;
	pthread_mutex_unlock(&events_lock);
	errno = ev.err;
	return ev.err ? -1 : 0;
}

int fsync(int fd)
{
	if (fault.sync_file_err && is_type(fd, S_IFREG)) {
		errno = fault.sync_file_err;
		return -1;
	}
	if (is_type(fd, S_IFDIR))
		return dir_fsync(fd);
	return (int)syscall(SYS_fsync, fd);
}

int fdatasync(int fd)
{
	if (fault.sync_file_err && is_type(fd, S_IFREG)) {
		errno = fault.sync_file_err;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}

int linkat(int olddfd, const char *oldpath, int newdfd, const char *newpath, int flags)
{
	if (flags & AT_EMPTY_PATH) {
		atomic_fetch_add(&flink_tries, 1);
		if (fault.no_flink) {
			errno = ENOENT;
			return -1;
		}
	} else if (fault.link_name_err && strncmp(oldpath, "/proc/", 6) != 0) {
		errno = fault.link_name_err;
		return -1;
	}
	if (syscall(SYS_linkat, olddfd, oldpath, newdfd, newpath, flags) < 0)
		return -1;
	last_link_seq = atomic_fetch_add(&seq, 1) + 1;
	if (fault.link_delay_us && atomic_fetch_add(&links, 1) == 0) {
		atomic_store(&first_linked, true);
		usleep(fault.link_delay_us);
	}
	return 0;
}

int renameat2(int olddfd, const char *oldpath, int newdfd, const char *newpath, unsigned int flags)
{
	if (fault.no_renameat2 || fault.renameat2_err) {
		errno = fault.renameat2_err ? fault.renameat2_err : ENOSYS;
		return -1;
	}
	if (syscall(SYS_renameat2, olddfd, oldpath, newdfd, newpath, flags) < 0)
		return -1;
	last_link_seq = atomic_fetch_add(&seq, 1) + 1;
	return 0;
}

ssize_t getrandom(void *buf, size_t n, unsigned int flags)
{
	if (fault.no_getrandom) {
		errno = ENOSYS;
		return -1;
	}
	if (fault.nrnd && n % sizeof(uint64_t) == 0) {
		unsigned char *b = buf;

		for (size_t w = 0; w < n; w += sizeof(uint64_t)) {
			uint64_t v = fault.rnd[fault.rnd_pos];

			if (fault.rnd_pos + 1 < fault.nrnd)
				fault.rnd_pos++;
			/* big-endian, as upload.c assembles it */
			for (size_t i = 0; i < sizeof(v); i++)
				b[w + i] = (unsigned char)(v >> (8 * (sizeof(v) - 1 - i)));
		}
		return (ssize_t)n;
	}
	return syscall(SYS_getrandom, buf, n, flags);
}

time_t time(time_t *t)
{
	struct timespec ts;
	time_t now = fault.now;

	if (!now) {
		clock_gettime(CLOCK_REALTIME, &ts);
		now = ts.tv_sec;
	}
	if (t)
		*t = now;
	return now;
}

/*
 * Content-Type
 */

static void ctype_yes(const char *v, size_t len)
{
	cr_expect(upload_content_type_ok(v, len), "should accept \"%.*s\"", (int)len, v);
}

static void ctype_no(const char *v, size_t len)
{
	cr_expect(!upload_content_type_ok(v, len), "should reject \"%.*s\"", (int)len, v);
}

Test(upload_ctype, accepts_json_with_parameters)
{
	ctype_yes(S("application/json"));
	ctype_yes(S("APPLICATION/JSON"));
	ctype_yes(S("Application/Json"));
	ctype_yes(S("application/json;charset=utf-8"));
	ctype_yes(S("application/json; charset=utf-8"));
	ctype_yes(S("application/json; charset=UTF-8"));
	ctype_yes(S("application/json ; charset=utf-8"));
	ctype_yes(S("application/json\t;\tcharset=utf-8"));
	ctype_yes(S("application/json; charset=\"utf-8\""));
	ctype_yes(S("application/json; a=1; b=\"x y\""));
	ctype_yes(S("application/json;"));
	ctype_yes(S("application/json; x=\xc3\xa9")); /* obs-text */
}

Test(upload_ctype, tolerates_surrounding_whitespace)
{
	ctype_yes(S(" application/json"));
	ctype_yes(S("\tapplication/json"));
	ctype_yes(S("application/json "));
	ctype_yes(S("  application/json \t "));
	ctype_yes(S(" application/json; charset=utf-8 "));
}

Test(upload_ctype, rejects_other_types)
{
	ctype_no(S(""));
	ctype_no(S("   "));
	ctype_no(S("application/jsonx"));
	ctype_no(S("application/json-seq"));
	ctype_no(S("application/json+x"));
	ctype_no(S("text/json"));
	ctype_no(S("text/plain"));
	ctype_no(S("application/vnd.api+json"));
	ctype_no(S("application/ld+json"));
	ctype_no(S("application/*"));
	ctype_no(S("*/*"));
	ctype_no(S("application/jso"));
	ctype_no(S("application"));
	ctype_no(S("json"));
	ctype_no(S("xapplication/json"));
	ctype_no(S("application /json"));
	ctype_no(S("application/ json"));
	ctype_no(S("application/json x"));
	ctype_no(S("application/json,text/plain"));
	ctype_no(S("application/json charset=utf-8"));
	ctype_no(S("\"application/json\""));
}

Test(upload_ctype, rejects_control_characters)
{
	ctype_no(S("application/json\r\n"));
	ctype_no(S("\r\napplication/json"));
	ctype_no(S("application/json\0"));
	ctype_no(S("application/json; charset=utf-8\r"));
	ctype_no(S("application/json;\x01"));
	ctype_no(S("application/json; a=\x7f"));
	ctype_no(S("application/json; a=\0b"));
}

Test(upload_ctype, honours_length_not_nul)
{
	/* The value is a slice of the request buffer, not a C string. */
	ctype_yes("application/jsonXYZ", 16);
	ctype_no("application/json", 15);
	ctype_no(NULL, 0);
}

/*
 * JSON validation
 */

static void json_ok(const char *body, size_t len)
{
	char err[128] = "untouched";
	int r = upload_validate_json(body, len, err, sizeof(err));

	cr_expect_eq(r, 0, "should accept \"%.*s\": %s", (int)len, body, err);
	cr_expect_str_empty(err);
}

static void json_bad(const char *body, size_t len)
{
	char err[128] = "";
	int r = upload_validate_json(body, len, err, sizeof(err));

	cr_expect_eq(r, -EINVAL, "should reject \"%.*s\" (got %d)", (int)len, body, r);
	cr_expect_str_not_empty(err, "no reason for \"%.*s\"", (int)len, body);
}

static void json_bad_why(const char *body, size_t len, const char *why)
{
	char err[128] = "";

	cr_expect_eq(upload_validate_json(body, len, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, why, "\"%.*s\"", (int)len, body);
}

Test(upload_json, accepts_values)
{
	json_ok(S("{}"));
	json_ok(S("[]"));
	json_ok(S("{\"a\":1}"));
	json_ok(S("{\"a\":1,\"a\":2}"));
	json_ok(S("[1,2,3]"));
	json_ok(S("\"string\""));
	json_ok(S("\"\""));
	json_ok(S("0"));
	json_ok(S("123"));
	json_ok(S("-0"));
	json_ok(S("-0.5e+3"));
	json_ok(S("1E-2"));
	json_ok(S("[1e400]"));
	json_ok(S("true"));
	json_ok(S("false"));
	json_ok(S("null"));
	json_ok(S("[true,false,null]"));
}

Test(upload_json, accepts_nested)
{
	json_ok(S("{\"a\":[1,{\"b\":[null,true,false,\"x\"]}],\"c\":{\"d\":{}},\"e\":[[[]]]}"));
	/* 31 levels: json-c's default depth is 32 */
	char deep[2 * 31 + 1];

	memset(deep, '[', 31);
	deep[31] = '1';
	memset(deep + 32, ']', 31);
	json_ok(deep, sizeof(deep));
}

Test(upload_json, accepts_surrounding_whitespace)
{
	json_ok(S("{} "));
	json_ok(S("{}\n"));
	json_ok(S("{} \n\t\r "));
	json_ok(S(" \n\t\r[1]"));
	json_ok(S("123 "));
	json_ok(S("true\n"));
	json_ok(S("{ \"a\" : [ 1 , 2 ] }"));
}

Test(upload_json, accepts_unicode)
{
	json_ok(S("{\"k\":\"h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9f\x98\x80\"}"));
	json_ok(S("{\"\xe6\x97\xa5\xe6\x9c\xac\":\"\xef\xbf\xbd\xf4\x8f\xbf\xbf\"}"));
	json_ok(S("\"\\u00e9\\ud83d\\ude00\\uFFFF\""));
	json_ok(S("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""));
	json_ok(S("\"it's\""));
	json_ok(S("\"NaN\""));
}

Test(upload_json, rejects_empty)
{
	json_bad_why(S(""), "empty body");
	json_bad_why(S(" "), "empty body");
	json_bad_why(S(" \r\n\t "), "empty body");
	json_bad_why(NULL, 0, "empty body");
}

Test(upload_json, rejects_incomplete)
{
	json_bad_why(S("{"), "unexpected end of data");
	json_bad_why(S("[1,"), "unexpected end of data");
	json_bad_why(S("\"abc"), "unexpected end of data");
	json_bad(S("{\"a\":"));
	json_bad(S("nul"));
	json_bad(S("-"));
	json_bad(S("1e"));
}

Test(upload_json, rejects_trailing_data)
{
	json_bad(S("{}x"));
	json_bad(S("{} {}"));
	json_bad(S("{}{}"));
	json_bad(S("[1] 2"));
	json_bad(S("1 2"));
	json_bad(S("true x"));
	json_bad(S("{}]"));
}

Test(upload_json, rejects_non_strict_syntax)
{
	json_bad(S("{'a':1}"));
	json_bad(S("['a']"));
	json_bad(S("'a'"));
	json_bad(S("[1,]"));
	json_bad(S("{\"a\":1,}"));
	json_bad(S("[1,,2]"));
	json_bad(S("[1 2]"));
	json_bad(S("{\"a\" 1}"));
	json_bad(S("{a:1}"));
	json_bad(S("/*c*/{}"));
	json_bad(S("{}//c"));
	json_bad(S("{}#"));
	json_bad(S("\xef\xbb\xbf{}")); /* BOM */
	json_bad(S("[1]\v"));
	json_bad(S("[1]\f"));
}

Test(upload_json, rejects_bad_literals_and_numbers)
{
	json_bad(S("NaN"));
	json_bad(S("[NaN]"));
	json_bad(S("nan"));
	json_bad(S("Infinity"));
	json_bad(S("-Infinity"));
	json_bad(S("{\"a\":Infinity}"));
	json_bad(S("TRUE"));
	json_bad(S("True"));
	json_bad(S("truex"));
	json_bad(S("undefined"));
	json_bad(S("1."));
	json_bad(S(".5"));
	json_bad(S("-.5"));
	json_bad(S("01"));
	json_bad(S("+1"));
	json_bad(S("0x10"));
	json_bad(S("1e+"));
	json_bad(S("1.5e"));
	json_bad(S("[1-2]"));
	json_bad(S("--1"));
}

Test(upload_json, rejects_bad_strings)
{
	json_bad_why(S("\"a\tb\""), "control character in string");
	json_bad_why(S("\"a\nb\""), "control character in string");
	json_bad_why(S("\"\xff\""), "invalid UTF-8 in string");
	/* overlong forms, a UTF-16 surrogate, beyond U+10FFFF */
	json_bad(S("\"\xc0\xaf\""));
	json_bad(S("\"\xe0\x80\xaf\""));
	json_bad(S("\"\xed\xa0\x80\""));
	json_bad(S("\"\xf4\x90\x80\x80\""));
	/* truncated sequences, a lone continuation byte */
	json_bad(S("\"\xc3\""));
	json_bad(S("\"\xe2\x82\""));
	json_bad(S("\"\x80\""));
	json_bad(S("\"\\x\""));
	json_bad(S("\"\\u12G4\""));
	json_bad(S("\"\\u12\""));
	json_bad(S("\"\\"));
}

Test(upload_json, rejects_nul)
{
	json_bad_why(S("{\"a\":\"x\0y\"}"), "NUL byte in body");
	json_bad_why(S("{}\0"), "NUL byte in body");
	json_bad_why(S("\0{}"), "NUL byte in body");
	json_bad_why(S("\0"), "NUL byte in body");
}

Test(upload_json, rejects_too_deep)
{
	/* json-c's default depth is 32. */
	char body[2 * 200];

	memset(body, '[', 200);
	memset(body + 200, ']', 200);
	json_bad(body, sizeof(body));
}

Test(upload_json, error_buffer_handling)
{
	char err[4] = "xyz";

	cr_expect_eq(upload_validate_json(S(""), err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "emp");
	cr_expect_eq(upload_validate_json(S("{"), NULL, 0), -EINVAL);
	cr_expect_eq(upload_validate_json(S("{}"), NULL, 0), 0);
	cr_expect_eq(upload_validate_json(S("{"), err, 0), -EINVAL);
	cr_expect_str_eq(err, "emp", "errlen 0 must not write");
}

/* The body goes to json-c in 1 MiB slices; these cross the boundaries. */
#define BIG (3u << 20)

Test(upload_json, large_document_across_chunks)
{
	char *body = malloc(BIG);
	size_t n = 0;

	cr_assert_not_null(body);
	body[n++] = '[';
	while (n < BIG - 16)
		n += (size_t)sprintf(body + n, "%zu,", n);
	n += (size_t)sprintf(body + n, "1]");
	json_ok(body, n);
	/* the same with the last bracket missing */
	json_bad(body, n - 1);
	free(body);
}

Test(upload_json, whitespace_after_text_across_chunks)
{
	char *body = malloc(BIG);

	cr_assert_not_null(body);
	memset(body, ' ', BIG);
	memcpy(body, "{}", 2);
	json_ok(body, BIG);
	/* non-space far behind the text, in a later slice */
	body[BIG - 1] = 'x';
	json_bad(body, BIG);
	free(body);
}

Test(upload_json, second_text_after_chunk_boundary)
{
	/* json-c finishes "{}" exactly at the end of the first slice; the
	 * "[]" in the next one must still be refused. */
	size_t chunk = 1u << 20;
	char *body = malloc(chunk + 2);

	cr_assert_not_null(body);
	memset(body, ' ', chunk - 2);
	memcpy(body + chunk - 2, "{}[]", 4);
	json_bad_why(body, chunk + 2, "data after the JSON text");
	free(body);
}

Test(upload_json, number_across_chunk_boundary)
{
	size_t chunk = 1u << 20;
	char *body = malloc(chunk + 3);

	cr_assert_not_null(body);
	memset(body, ' ', chunk - 3);
	memcpy(body + chunk - 3, "123456", 6);
	json_ok(body, chunk + 3);
	free(body);
}

/* Each thread keeps one json-c tokener: whatever a document leaves
 * behind (an error half-way, a depth overflow, an incomplete text) must
 * not reach the next one, and strict mode must stay on. */
Test(upload_json, tokener_reuse_keeps_nothing_from_the_last_document)
{
	char deep[2 * 100];

	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	for (int round = 0; round < 3; round++) {
		json_bad_why(S("[1,"), "unexpected end of data");
		json_ok(S("[1]"));
		json_bad(deep, sizeof(deep));
		json_ok(S("[[1]]"));
		json_bad(S("[1,]"));
		json_ok(S("{\"a\":{\"b\":[true,null]}}"));
		json_bad(S("{\"a\":1}x"));
		json_ok(S("123"));
		json_bad(S("{\"a\""));
		json_ok(S("\"s\""));
	}
}

struct json_case {
	const char *body;
	bool ok;
};

static const struct json_case json_cases[] = {
	{ "{\"id\":1,\"tags\":[\"a\",\"b\"],\"p\":{\"t\":21.5}}", true },
	{ "[1,", false },
	{ "[1,2,3]", true },
	{ "{\"a\":1,}", false },
	{ "-0.5e+3", true },
	{ "{\"a\"", false },
	{ "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", false },
	{ "null", true },
};

static void *validate_many(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg, wrong = 0;

	for (int i = 0; i < 2000; i++) {
		const struct json_case *c =
			&json_cases[(seed + (unsigned)i * 7) % ARRAY_LEN(json_cases)];
		int r = upload_validate_json(c->body, strlen(c->body), NULL, 0);

		if ((r == 0) != c->ok)
			wrong++;
	}
	return (void *)(uintptr_t)wrong;
}

Test(upload_json, threads_validate_independently)
{
	pthread_t t[8];
	void *wrong;

	for (size_t i = 0; i < ARRAY_LEN(t); i++)
		cr_assert_eq(pthread_create(&t[i], NULL, validate_many, (void *)(uintptr_t)i), 0);
	/* the threads exit here: their tokeners are freed (ASan builds
	 * would report a leak otherwise) */
	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		cr_assert_eq(pthread_join(t[i], &wrong), 0);
		cr_expect_eq((uintptr_t)wrong, 0, "thread %zu: %zu wrong answers", i,
			     (size_t)(uintptr_t)wrong);
	}
}

/*
 * Names
 */

static bool all_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

Test(upload_name, format)
{
	char name[UPLOAD_NAME_MAX];

	cr_assert_eq(upload_make_name(name, sizeof(name), 784111777), 0);
	cr_expect_eq(strlen(name), NAME_LEN);
	cr_expect_eq(strncmp(name, "upload_19941106T084937Z_", 24), 0, "%s", name);
	cr_expect(all_lower_hex(name + 24, 16), "%s", name);
	cr_expect_str_eq(name + 40, ".json");
	cr_expect(upload_name_valid(name), "%s", name);

	cr_assert_eq(upload_make_name(name, sizeof(name), 0), 0);
	cr_expect_eq(strncmp(name, "upload_19700101T000000Z_", 24), 0, "%s", name);
	cr_assert_eq(upload_make_name(name, sizeof(name), 951868799), 0);
	cr_expect_eq(strncmp(name, "upload_20000229T235959Z_", 24), 0, "%s", name);
	cr_assert_eq(upload_make_name(name, sizeof(name), 4102444800), 0);
	cr_expect_eq(strncmp(name, "upload_21000101T000000Z_", 24), 0, "%s", name);
}

Test(upload_name, buffer_size)
{
	char name[UPLOAD_NAME_MAX];

	cr_expect_eq(upload_make_name(name, 0, 0), -ENAMETOOLONG);
	cr_expect_eq(upload_make_name(name, NAME_LEN, 0), -ENAMETOOLONG);
	cr_expect_eq(upload_make_name(name, NAME_LEN + 1, 0), 0);
	cr_expect_eq(strlen(name), NAME_LEN);
}

Test(upload_name, year_out_of_range)
{
	char name[UPLOAD_NAME_MAX];

	/* 10000-01-01T00:00:00Z and 1 BC do not fit four digits */
	cr_expect_eq(upload_make_name(name, sizeof(name), (time_t)253402300800), -EOVERFLOW);
	cr_expect_eq(upload_make_name(name, sizeof(name), (time_t)253402300799), 0);
	cr_expect_eq(upload_make_name(name, sizeof(name), (time_t)-62167219201), -EOVERFLOW);
	cr_expect_eq(upload_make_name(name, sizeof(name), (time_t)-62167219200), 0);
	cr_expect_eq(strncmp(name, "upload_00000101T000000Z_", 24), 0, "%s", name);
}

Test(upload_name, successive_names_differ)
{
	char a[UPLOAD_NAME_MAX], b[UPLOAD_NAME_MAX];

	cr_assert_eq(upload_make_name(a, sizeof(a), 784111777), 0);
	cr_assert_eq(upload_make_name(b, sizeof(b), 784111777), 0);
	cr_expect_str_neq(a, b);
}

Test(upload_name, differ_without_getrandom)
{
	char a[UPLOAD_NAME_MAX], b[UPLOAD_NAME_MAX];

	fault.no_getrandom = true;
	cr_assert_eq(upload_make_name(a, sizeof(a), 784111777), 0);
	cr_assert_eq(upload_make_name(b, sizeof(b), 784111777), 0);
	cr_expect(upload_name_valid(a), "%s", a);
	cr_expect(upload_name_valid(b), "%s", b);
	cr_expect_str_neq(a, b);
}

/* The date in the name is computed by hand; gmtime_r() is the reference. */
static void expect_date_like_gmtime(time_t t)
{
	char name[UPLOAD_NAME_MAX], want[96];
	struct tm tm;

	cr_assert_not_null(gmtime_r(&t, &tm));
	snprintf(want, sizeof(want), "upload_%04d%02d%02dT%02d%02d%02dZ_", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	cr_assert_eq(upload_make_name(name, sizeof(name), t), 0, "%lld", (long long)t);
	cr_assert_eq(strncmp(name, want, 24), 0, "%lld: %s, want %s", (long long)t, name, want);
	cr_assert(upload_name_valid(name), "%s", name);
}

Test(upload_name, date_matches_gmtime)
{
	static const time_t edges[] = {
		-62167219200, -62167219199, -62162035201, -62162035200, /* year 0, a leap year */
		-12219292800, -2208988801, -2208988800, -86401, -86400, -1, 0, 1,
		68169599, 68169600, /* 1972-02-28 / 02-29 */
		951782399, 951782400, 951868799, 951868800, 983404799, 983404800,
		4107542399, 4107542400, /* 2100 is not a leap year */
		253402214400, 253402300799,
	};
	uint64_t x = 0x9e3779b97f4a7c15u;

	for (size_t i = 0; i < ARRAY_LEN(edges); i++)
		expect_date_like_gmtime(edges[i]);
	for (int i = 0; i < 200000; i++) {
		/* xorshift64: spread over the whole range, years 0000-9999 */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		expect_date_like_gmtime((time_t)(-62167219200 + (int64_t)(x % 315569520000u)));
	}
}

Test(upload_name, valid_names)
{
	cr_expect(upload_name_valid("upload_20240229T235959Z_0123456789abcdef.json"));
	cr_expect(upload_name_valid("upload_19700101T000000Z_0000000000000000.json"));
	cr_expect(upload_name_valid("upload_99991231T235959Z_ffffffffffffffff.json"));
}

static void name_bad(const char *name)
{
	cr_expect(!upload_name_valid(name), "accepted \"%s\"", name);
}

Test(upload_name, invalid_names)
{
	char name[] = "upload_20240229T235959Z_0123456789abcdef.json";

	name_bad("");
	name_bad("upload_");
	name_bad("upload_20240229T235959Z_0123456789abcdef.jso");
	name_bad("upload_20240229T235959Z_0123456789abcdef.json ");
	name_bad("upload_20240229T235959Z_0123456789abcdef.json\n");
	name_bad("upload_20240229T235959Z_0123456789abcdef.jsonx");
	name_bad("upload_20240229T235959Z_0123456789abcdef.JSON");
	name_bad("upload_20240229T235959Z_0123456789abcdef.txt");
	name_bad("upload_20240229T235959Z_0123456789ABCDEF.json");
	name_bad("upload_20240229T235959Z_0123456789abcdeg.json");
	name_bad("upload_20240229T235959Z_0123456789abcde.json");
	name_bad("upload_20240229T235959Z_0123456789abcdef0.json");
	name_bad("upload_20240229t235959Z_0123456789abcdef.json");
	name_bad("upload_20240229T235959z_0123456789abcdef.json");
	name_bad("upload_20240229T235959Z-0123456789abcdef.json");
	name_bad("upload_20240229_235959Z_0123456789abcdef.json");
	name_bad("upload_2024022aT235959Z_0123456789abcdef.json");
	name_bad("upload_20240229T23595xZ_0123456789abcdef.json");
	name_bad("upload_2024-02-29T235959Z_0123456789abcdef.json");
	name_bad("Upload_20240229T235959Z_0123456789abcdef.json");
	name_bad("upload-20240229T235959Z_0123456789abcdef.json");
	name_bad("uploads_20240229T235959Z_0123456789abcdef.json");
	name_bad("../upload_20240229T235959Z_0123456789abcdef.json");
	name_bad("upload_20240229T235959Z_0123456789abcdef.json/");
	name_bad(".upload-0123456789abcdef.tmp");
	cr_expect(!upload_name_valid(NULL));

	/* No single character may be replaced by '/' or 'X'. */
	for (size_t i = 0; i < NAME_LEN; i++) {
		char saved = name[i];

		name[i] = '/';
		cr_expect(!upload_name_valid(name), "accepted \"%s\"", name);
		name[i] = 'X';
		cr_expect(!upload_name_valid(name), "accepted \"%s\"", name);
		name[i] = saved;
	}
	cr_expect(upload_name_valid(name));
}

/*
 * Storage: every test gets a fresh directory
 */

static char dir_path[PATH_MAX];
static int dir_fd = -1;

static void dir_setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir_path, sizeof(dir_path), "%s/mth-upload-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(dir_path), "mkdtemp: %s", strerror(errno));
	dir_fd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dir_fd, 0);
	/* The file mode under test is 0640 after the umask. */
	umask(022);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void dir_teardown(void)
{
	if (dir_fd >= 0)
		close(dir_fd);
	chmod(dir_path, 0700);
	nftw(dir_path, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(upload_store, .init = dir_setup, .fini = dir_teardown);
TestSuite(upload_cleanup, .init = dir_setup, .fini = dir_teardown);
TestSuite(upload_stream, .init = dir_setup, .fini = dir_teardown);

/* Number of entries in the test directory; the first one's name in FIRST. */
static int count_entries(char *first, size_t firstsz)
{
	struct dirent *de;
	DIR *d = opendir(dir_path);
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!n && first)
			snprintf(first, firstsz, "%s", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static void expect_file(const char *name, const char *body, size_t len)
{
	struct stat st;
	char *buf;
	int fd;

	cr_assert(upload_name_valid(name), "bad name \"%s\"", name);
	fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	cr_assert_geq(fd, 0, "%s: %s", name, strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect(S_ISREG(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0640, "mode %o", (unsigned)(st.st_mode & 07777));
	cr_expect_eq(st.st_nlink, 1);
	cr_assert_eq((size_t)st.st_size, len);
	buf = malloc(len + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(pread(fd, buf, len + 1, 0), (ssize_t)len);
	cr_expect_eq(memcmp(buf, body, len), 0, "content of %s", name);
	free(buf);
	close(fd);
}

static void expect_empty_dir(void)
{
	char first[256] = "";

	cr_expect_eq(count_entries(first, sizeof(first)), 0, "left behind: %s", first);
}

Test(upload_store, stores_exact_bytes)
{
	static const char body[] = "{\"a\":[1,2,3],\"b\":\"\xc3\xa9\"}\n";
	char name[UPLOAD_NAME_MAX], first[256];

	cr_assert_eq(upload_store(dir_fd, S(body), name), 0);
	expect_file(name, S(body));
	cr_expect_eq(count_entries(first, sizeof(first)), 1);
	cr_expect_str_eq(first, name);
}

Test(upload_store, two_stores_two_files)
{
	char a[UPLOAD_NAME_MAX], b[UPLOAD_NAME_MAX];

	cr_assert_eq(upload_store(dir_fd, S("[1]"), a), 0);
	cr_assert_eq(upload_store(dir_fd, S("[2]"), b), 0);
	cr_expect_str_neq(a, b);
	expect_file(a, S("[1]"));
	expect_file(b, S("[2]"));
	cr_expect_eq(count_entries(NULL, 0), 2);
}

Test(upload_store, empty_body)
{
	char name[UPLOAD_NAME_MAX];

	cr_assert_eq(upload_store(dir_fd, "", 0, name), 0);
	expect_file(name, "", 0);
}

Test(upload_store, short_and_interrupted_writes)
{
	size_t len = 5u << 20;
	char *body = malloc(len);
	char name[UPLOAD_NAME_MAX];

	cr_assert_not_null(body);
	for (size_t i = 0; i < len; i++)
		body[i] = (char)('a' + i % 26);
	fault.write_max = 65521;
	fault.write_eintr = 3;
	cr_assert_eq(upload_store(dir_fd, body, len, name), 0);
	expect_file(name, body, len);
	cr_expect_eq(count_entries(NULL, 0), 1);
	free(body);
}

Test(upload_store, without_o_tmpfile)
{
	char a[UPLOAD_NAME_MAX], b[UPLOAD_NAME_MAX];

	fault.no_tmpfile = true;
	cr_assert_eq(upload_store(dir_fd, S("{\"x\":1}"), a), 0);
	cr_assert_eq(upload_store(dir_fd, S("{\"x\":2}"), b), 0);
	expect_file(a, S("{\"x\":1}"));
	expect_file(b, S("{\"x\":2}"));
	cr_expect_eq(count_entries(NULL, 0), 2, "temporary file left behind");
}

Test(upload_store, without_o_tmpfile_and_renameat2)
{
	char name[UPLOAD_NAME_MAX];

	fault.no_tmpfile = true;
	fault.no_renameat2 = true;
	cr_assert_eq(upload_store(dir_fd, S("{\"x\":1}"), name), 0);
	expect_file(name, S("{\"x\":1}"));
	cr_expect_eq(count_entries(NULL, 0), 1, "temporary file left behind");
}

static void expect_store_fails(int want)
{
	char name[UPLOAD_NAME_MAX] = "garbage";
	size_t len = 1u << 20;
	char *body = malloc(len);

	cr_assert_not_null(body);
	memset(body, ' ', len);
	body[0] = '1';
	cr_expect_eq(upload_store(dir_fd, body, len, name), want);
	cr_expect_str_empty(name);
	expect_empty_dir();
	free(body);
}

Test(upload_store, disk_full_during_write)
{
	fault.write_enospc = true;
	fault.write_budget = 4096;
	expect_store_fails(-ENOSPC);
}

Test(upload_store, disk_full_during_write_without_o_tmpfile)
{
	fault.no_tmpfile = true;
	fault.write_enospc = true;
	fault.write_budget = 4096;
	expect_store_fails(-ENOSPC);
}

Test(upload_store, quota_at_data_sync)
{
	fault.sync_file_err = EDQUOT;
	expect_store_fails(-EDQUOT);
}

Test(upload_store, quota_at_data_sync_without_o_tmpfile)
{
	fault.no_tmpfile = true;
	fault.sync_file_err = EDQUOT;
	expect_store_fails(-EDQUOT);
}

Test(upload_store, directory_fsync_fails)
{
	/* The name was already linked: it must be taken back. */
	fault.fsync_dir_err = EIO;
	expect_store_fails(-EIO);
}

Test(upload_store, directory_fsync_fails_without_o_tmpfile)
{
	fault.no_tmpfile = true;
	fault.fsync_dir_err = EIO;
	expect_store_fails(-EIO);
}

/* Draws in order: the first store's name, the second store's clashing
 * first name, its second name (then repeated). */
static const uint64_t rnd_clash[] = { 0x1111111111111111u, 0x1111111111111111u,
				      0x2222222222222222u };
/* Without O_TMPFILE each store draws its temporary file's number first. */
static const uint64_t rnd_clash_tmp[] = { 0xaaaaaaaaaaaaaaaau, 0x1111111111111111u,
					  0xbbbbbbbbbbbbbbbbu, 0x1111111111111111u,
					  0x2222222222222222u };

static void name_clash_retries(bool tmpfile)
{
	char a[UPLOAD_NAME_MAX], b[UPLOAD_NAME_MAX];

	fault.no_tmpfile = !tmpfile;
	fault.now = 784111777;
	fault.rnd = tmpfile ? rnd_clash : rnd_clash_tmp;
	fault.nrnd = tmpfile ? ARRAY_LEN(rnd_clash) : ARRAY_LEN(rnd_clash_tmp);
	cr_assert_eq(upload_store(dir_fd, S("[1]"), a), 0);
	cr_assert_eq(upload_store(dir_fd, S("[2]"), b), 0);
	cr_expect_str_eq(a, "upload_19941106T084937Z_1111111111111111.json");
	cr_expect_str_eq(b, "upload_19941106T084937Z_2222222222222222.json");
	expect_file(a, S("[1]"));
	expect_file(b, S("[2]"));
	cr_expect_eq(count_entries(NULL, 0), 2);
}

Test(upload_store, name_clash_draws_again)
{
	name_clash_retries(true);
}

Test(upload_store, name_clash_draws_again_without_o_tmpfile)
{
	name_clash_retries(false);
}

static const uint64_t rnd_stuck[] = { 0x3333333333333333u };

static void names_exhausted(bool tmpfile, bool renameat2)
{
	char a[UPLOAD_NAME_MAX], b[UPLOAD_NAME_MAX], first[256];

	fault.no_tmpfile = !tmpfile;
	fault.no_renameat2 = !renameat2;
	fault.now = 784111777;
	fault.rnd = rnd_stuck;
	fault.nrnd = 1;
	cr_assert_eq(upload_store(dir_fd, S("[1]"), a), 0);
	/* Every draw gives the same name: the store must give up rather
	 * than replace the first file.  Without O_TMPFILE the temporary file
	 * itself gets the same number each time; that is not a clash, as the
	 * first store renamed its temporary file away. */
	cr_expect_eq(upload_store(dir_fd, S("[2]"), b), -EEXIST);
	cr_expect_eq(count_entries(first, sizeof(first)), 1, "left: %s", first);
	expect_file(a, S("[1]"));
}

Test(upload_store, never_replaces_existing_file)
{
	names_exhausted(true, true);
}

Test(upload_store, never_replaces_existing_file_without_o_tmpfile)
{
	names_exhausted(false, true);
}

Test(upload_store, never_replaces_existing_file_with_link_fallback)
{
	names_exhausted(false, false);
}

Test(upload_store, invalid_dirfd)
{
	char name[UPLOAD_NAME_MAX];
	int fd;

	cr_expect_eq(upload_store(-1, S("{}"), name), -EBADF);
	cr_expect_str_empty(name);

	/* a descriptor that is not a directory */
	fd = openat(dir_fd, "plain", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_expect_eq(upload_store(fd, S("{}"), name), -ENOTDIR);
	close(fd);
	cr_expect_eq(count_entries(NULL, 0), 1);
}

Test(upload_store, read_only_directory)
{
	char name[UPLOAD_NAME_MAX];
	int r;

	cr_assert_eq(chmod(dir_path, 0555), 0);
	/* Permissions do not bind root.  Each test has its own worker
	 * process, so drop to nobody for the store and come back after. */
	if (geteuid() == 0 && seteuid(65534) != 0)
		cr_skip_test("running as root and cannot seteuid(): %s", strerror(errno));
	r = upload_store(dir_fd, S("{}"), name);
	if (getuid() == 0)
		cr_assert_eq(seteuid(0), 0);
	cr_expect_eq(r, -EACCES);
	cr_expect_str_empty(name);
	expect_empty_dir();
}

Test(upload_store, links_through_proc_where_at_empty_path_is_refused)
{
	char a[UPLOAD_NAME_MAX], b[UPLOAD_NAME_MAX];

	fault.no_flink = true;
	cr_assert_eq(upload_store(dir_fd, S("[1]"), a), 0);
	cr_assert_eq(upload_store(dir_fd, S("[2]"), b), 0);
	expect_file(a, S("[1]"));
	expect_file(b, S("[2]"));
	cr_expect_eq(count_entries(NULL, 0), 2);
	/* refused once, then /proc/self/fd straight away */
	cr_expect_eq(atomic_load(&flink_tries), 1);
}

/*
 * Concurrent stores and the shared directory fsync (each test has a
 * timeout: an upload left asleep by the barrier hangs rather than fails)
 */

struct store_result {
	int r;
	char name[UPLOAD_NAME_MAX];
	uint64_t linked, answered; /* sequence numbers, 0: never linked */
};

struct storer {
	pthread_t thread;
	unsigned id, n;
	struct store_result *res;
};

/* A distinct body per thread and upload, 40 to 240 bytes. */
static size_t test_body(unsigned id, unsigned i, char *buf, size_t size)
{
	int pad = (int)((id * 31 + i * 7) % 200);
	int n = snprintf(buf, size, "{\"thread\":%u,\"seq\":%u,\"pad\":\"%*s\"}", id, i, pad, "");

	cr_assert(n > 0 && (size_t)n < size);
	return (size_t)n;
}

static void *store_many(void *arg)
{
	struct storer *st = arg;
	char body[512];

	for (unsigned i = 0; i < st->n; i++) {
		struct store_result *res = &st->res[i];
		size_t len = test_body(st->id, i, body, sizeof(body));

		last_link_seq = 0;
		res->r = upload_store(dir_fd, body, len, res->name);
		res->answered = atomic_fetch_add(&seq, 1) + 1;
		res->linked = last_link_seq;
	}
	return NULL;
}

/* Run THREADS threads of N stores each, all at once. */
static struct store_result *store_concurrently(unsigned threads, unsigned n)
{
	struct storer st[32];
	struct store_result *res = calloc((size_t)threads * n, sizeof(*res));

	cr_assert_leq(threads, ARRAY_LEN(st));
	cr_assert_not_null(res);
	for (unsigned t = 0; t < threads; t++) {
		st[t] = (struct storer){ .id = t, .n = n, .res = res + (size_t)t * n };
		cr_assert_eq(pthread_create(&st[t].thread, NULL, store_many, &st[t]), 0);
	}
	for (unsigned t = 0; t < threads; t++)
		cr_assert_eq(pthread_join(st[t].thread, NULL), 0);
	return res;
}

/* The first directory fsync that started after sequence number AFTER. */
static const struct dir_fsync_event *first_fsync_after(uint64_t after)
{
	const struct dir_fsync_event *first = NULL;

	for (size_t i = 0; i < n_events; i++) {
		if (events[i].start > after && (!first || events[i].start < first->start))
			first = &events[i];
	}
	return first;
}

/* What the barrier promises, checked against the recorded calls: an
 * upload answered 0 had a successful directory fsync that started after
 * its link and ended before its answer; an upload whose first fsync after
 * its link failed was not answered 0; a failed upload left no name. */
static void expect_barrier_kept(const struct store_result *res, size_t total)
{
	cr_assert_lt(n_events, MAX_EVENTS, "event log overflowed");
	for (size_t i = 0; i < total; i++) {
		const struct store_result *u = &res[i];
		const struct dir_fsync_event *first;
		bool covered = false;

		if (u->r < 0) {
			cr_expect_str_empty(u->name);
			continue;
		}
		cr_assert_neq(u->linked, 0, "upload %zu answered 0 without a link", i);
		for (size_t e = 0; e < n_events && !covered; e++)
			covered = !events[e].err && events[e].start > u->linked &&
				  events[e].end < u->answered;
		cr_expect(covered, "upload %zu (%s) answered before a covering fsync", i, u->name);
		first = first_fsync_after(u->linked);
		cr_assert_not_null(first);
		cr_expect_eq(first->err, 0, "upload %zu answered 0 after its fsync failed", i);
	}
}

/* Every upload answered 0 is there byte for byte, and nothing else is. */
static void expect_exactly_the_successes(const struct store_result *res, unsigned threads,
					 unsigned n)
{
	char body[512];
	int ok = 0;

	for (unsigned t = 0; t < threads; t++) {
		for (unsigned i = 0; i < n; i++) {
			const struct store_result *u = &res[t * n + i];

			if (u->r < 0)
				continue;
			ok++;
			expect_file(u->name, body, test_body(t, i, body, sizeof(body)));
		}
	}
	cr_expect_eq(count_entries(NULL, 0), ok);
}

Test(upload_store, concurrent_stores_are_exact_and_uniquely_named, .timeout = 60)
{
	const unsigned threads = 16, n = 40;
	struct store_result *res = store_concurrently(threads, n);
	size_t total = (size_t)threads * n;

	for (size_t i = 0; i < total; i++) {
		cr_assert_eq(res[i].r, 0, "upload %zu: %s", i, strerror(-res[i].r));
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(res[i].name, res[j].name);
	}
	expect_exactly_the_successes(res, threads, n);
	expect_barrier_kept(res, total);
	free(res);
}

Test(upload_store, concurrent_stores_share_directory_fsyncs, .timeout = 60)
{
	const unsigned threads = 8, n = 10;
	struct store_result *res;
	size_t total = (size_t)threads * n;

	/* A slow disk: uploads that link while an fsync is in flight
	 * queue up for the next one, which covers them all. */
	fault.dir_delay_us = 3000;
	res = store_concurrently(threads, n);
	for (size_t i = 0; i < total; i++)
		cr_assert_eq(res[i].r, 0, "upload %zu: %s", i, strerror(-res[i].r));
	expect_barrier_kept(res, total);
	cr_expect_lt(atomic_load(&dir_fsyncs), total, "%u directory fsyncs for %zu uploads",
		     atomic_load(&dir_fsyncs), total);
	/* never two at once on one directory */
	for (size_t a = 0; a < n_events; a++) {
		for (size_t b = 0; b < n_events; b++)
			cr_expect(a == b || events[a].end < events[b].start ||
					  events[b].end < events[a].start,
				  "directory fsyncs %zu and %zu overlap", a, b);
	}
	free(res);
	cr_log_info("%u directory fsyncs for %zu uploads", atomic_load(&dir_fsyncs), total);
}

Test(upload_store, failed_directory_fsync_fails_everybody_it_covered, .timeout = 60)
{
	const unsigned threads = 8, n = 5;
	struct store_result *res;
	size_t total = (size_t)threads * n;

	fault.dir_delay_us = 2000;
	fault.fsync_dir_err = ENOSPC;
	res = store_concurrently(threads, n);
	for (size_t i = 0; i < total; i++) {
		cr_expect_eq(res[i].r, -ENOSPC, "upload %zu: %d", i, res[i].r);
		cr_expect_str_empty(res[i].name);
	}
	expect_empty_dir();
	free(res);
}

Test(upload_store, one_failed_directory_fsync_among_good_ones, .timeout = 60)
{
	const unsigned threads = 8, n = 10;
	struct store_result *res;
	size_t total = (size_t)threads * n, failed = 0;

	fault.dir_delay_us = 2000;
	fault.fsync_dir_err = EIO;
	fault.dir_fail_nth = 3;
	res = store_concurrently(threads, n);
	for (size_t i = 0; i < total; i++) {
		if (res[i].r < 0) {
			cr_expect_eq(res[i].r, -EIO);
			failed++;
		}
	}
	/* the third fsync covered somebody, and the later ones succeeded */
	cr_expect_gt(failed, 0);
	cr_expect_lt(failed, total);
	expect_barrier_kept(res, total);
	expect_exactly_the_successes(res, threads, n);
	free(res);
}

static void *store_one(void *arg)
{
	struct store_result *res = arg;

	last_link_seq = 0;
	res->r = upload_store(dir_fd, S("{\"first\":true}"), res->name);
	res->answered = atomic_fetch_add(&seq, 1) + 1;
	res->linked = last_link_seq;
	return NULL;
}

/* A links, and before it even gets to wait, B's fsync starts and fails:
 * that fsync covered A's entry as much as B's, and a later fsync that
 * succeeds does not prove otherwise (the kernel reports a writeback error
 * once), so A must fail too. */
Test(upload_store, fsync_failing_right_after_a_link_fails_that_upload, .timeout = 60)
{
	struct store_result res[2] = { 0 };
	pthread_t a;

	fault.fsync_dir_err = EIO;
	fault.dir_fail_nth = 1;
	fault.link_delay_us = 100000;
	cr_assert_eq(pthread_create(&a, NULL, store_one, &res[0]), 0);
	while (!atomic_load(&first_linked))
		usleep(1000);
	store_one(&res[1]);
	cr_assert_eq(pthread_join(a, NULL), 0);
	cr_expect_eq(res[1].r, -EIO);
	cr_expect_eq(res[0].r, -EIO);
	cr_expect_eq(atomic_load(&dir_fsyncs), 2, "A's own fsync succeeded");
	expect_barrier_kept(res, 2);
	expect_empty_dir();
}

/*
 * Cleanup of temporary files
 */

static void touch(const char *name)
{
	int fd = openat(dir_fd, name, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	cr_assert_geq(fd, 0, "%s: %s", name, strerror(errno));
	close(fd);
}

static bool exists(const char *name)
{
	struct stat st;

	return fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The fallback's temporary file is named after the node and the process,
 * and is gone once the upload is stored. */
static void expect_named_temp_used(void)
{
	char want[128];

	snprintf(want, sizeof(want), ".mthttpd-tmp.node-a.%ld.", (long)getpid());
	cr_expect_eq(strncmp(last_created, want, strlen(want)), 0, "temporary file \"%s\"",
		     last_created);
	cr_expect(upload_temp_is_own(last_created), "%s", last_created);
	cr_expect(!exists(last_created), "%s left behind", last_created);
}

Test(upload_store, fallback_temp_name_carries_the_node)
{
	char name[UPLOAD_NAME_MAX];

	upload_set_node_name("node-a");
	fault.no_tmpfile = true;
	cr_assert_eq(upload_store(dir_fd, S("{\"x\":1}"), name), 0);
	expect_file(name, S("{\"x\":1}"));
	expect_named_temp_used();
	cr_expect_eq(count_entries(NULL, 0), 1);
}

/* The switch: named temporary files although O_TMPFILE works. */
Test(upload_store, forced_fallback_skips_o_tmpfile)
{
	char name[UPLOAD_NAME_MAX];

	upload_set_node_name("node-a");
	cr_assert_eq(upload_probe(dir_fd), UPLOAD_TEMP_UNNAMED, "the test directory has O_TMPFILE");
	upload_force_named_temp(true);
	cr_expect_eq(upload_probe(dir_fd), UPLOAD_TEMP_FORCED);
	atomic_store(&tmpfile_opens, 0);
	cr_assert_eq(upload_store(dir_fd, S("[true]"), name), 0);
	cr_expect_eq(atomic_load(&tmpfile_opens), 0, "O_TMPFILE tried although forced off");
	expect_file(name, S("[true]"));
	expect_named_temp_used();
	upload_force_named_temp(false);
}

Test(upload_store, probe_sees_no_o_tmpfile)
{
	cr_expect_eq(upload_probe(-1), -EBADF);
	fault.no_tmpfile = true;
	cr_expect_eq(upload_probe(dir_fd), UPLOAD_TEMP_NAMED);
	cr_expect_str_neq(upload_temp_mode_describe(UPLOAD_TEMP_NAMED), "unknown");
}

/* NFS: no RENAME_NOREPLACE (EINVAL), so link() + unlink(). */
Test(upload_store, fallback_links_where_rename_noreplace_is_missing)
{
	char name[UPLOAD_NAME_MAX];
	struct upload_stream *s;

	upload_set_node_name("node-a");
	fault.no_tmpfile = true;
	fault.renameat2_err = EINVAL;
	cr_assert_eq(upload_store(dir_fd, S("{\"nfs\":1}"), name), 0);
	expect_file(name, S("{\"nfs\":1}"));
	expect_named_temp_used();
	cr_assert_eq(upload_stream_open(dir_fd, &s), 0);
	cr_assert_eq(upload_stream_write(s, S("{\"nfs\":2}")), 0);
	cr_assert_eq(upload_stream_finish(s, name), 0);
	upload_stream_free(s);
	expect_file(name, S("{\"nfs\":2}"));
	expect_named_temp_used();
	cr_expect_eq(count_entries(NULL, 0), 2);
}

/* Neither RENAME_NOREPLACE nor link(): the upload fails, nothing stays. */
Test(upload_store, fallback_fails_cleanly_without_rename_and_link)
{
	char name[UPLOAD_NAME_MAX] = "garbage";

	upload_set_node_name("node-a");
	fault.no_tmpfile = true;
	fault.renameat2_err = EINVAL;
	fault.link_name_err = EPERM;
	cr_expect_eq(upload_store(dir_fd, S("{}"), name), -EPERM);
	cr_expect_str_empty(name);
	expect_empty_dir();
}


/* Only this node's temporary files go: another node sharing the
 * directory may be writing its own right now. */
Test(upload_cleanup, removes_only_this_nodes_temp_files)
{
	static const char *const temp[] = {
		".mthttpd-tmp.node-a.1234.0123456789abcdef",
		".mthttpd-tmp.node-a.1.fedcba9876543210",
		".mthttpd-tmp.node-a.4194304.0000000000000000",
	};
	static const char *const keep[] = {
		"upload_20240229T235959Z_0123456789abcdef.json",
		/* other nodes, including names that merely start like ours */
		".mthttpd-tmp.node-b.1234.0123456789abcdef",
		".mthttpd-tmp.node-a.example.org.1234.0123456789abcdef",
		".mthttpd-tmp.node-ab.1234.0123456789abcdef",
		".mthttpd-tmp.node.1234.0123456789abcdef",
		/* not of the form */
		".mthttpd-tmp.node-a.x1.0123456789abcdef",
		".mthttpd-tmp.node-a..0123456789abcdef",
		".mthttpd-tmp.node-a.12345678901.0123456789abcdef",
		".mthttpd-tmp.node-a.1234.0123456789ABCDEF",
		".mthttpd-tmp.node-a.1234.0123456789abcde",
		".mthttpd-tmp.node-a.1234.0123456789abcdef0",
		".mthttpd-tmp.node-a",
		"x.mthttpd-tmp.node-a.1234.0123456789abcdef",
		/* an earlier version's: whose is unknown */
		".upload-0123456789abcdef.tmp",
		"other.tmp",
	};
	size_t i;

	upload_set_node_name("node-a");
	for (i = 0; i < ARRAY_LEN(temp); i++)
		touch(temp[i]);
	for (i = 0; i < ARRAY_LEN(keep); i++)
		touch(keep[i]);
	/* a directory that merely looks like a temporary file */
	cr_assert_eq(mkdirat(dir_fd, ".mthttpd-tmp.node-a.7.0123456789abcdef", 0700), 0);

	cr_expect_eq(upload_cleanup_temp(dir_fd, 0), 3);
	for (i = 0; i < ARRAY_LEN(temp); i++)
		cr_expect(!exists(temp[i]), "%s not removed", temp[i]);
	for (i = 0; i < ARRAY_LEN(keep); i++)
		cr_expect(exists(keep[i]), "%s removed", keep[i]);
	cr_expect(exists(".mthttpd-tmp.node-a.7.0123456789abcdef"));
	/* The caller's descriptor (and its offset) is left alone. */
	cr_expect_eq(lseek(dir_fd, 0, SEEK_CUR), 0);
	cr_expect_eq(upload_cleanup_temp(dir_fd, 0), 0);
}

/* A node name with dots (an FQDN) is read from the right. */
Test(upload_cleanup, dotted_node_name)
{
	upload_set_node_name("web1.example.org");
	touch(".mthttpd-tmp.web1.example.org.99.0123456789abcdef");
	touch(".mthttpd-tmp.web1.99.0123456789abcdef");
	touch(".mthttpd-tmp.web1.example.org.uk.99.0123456789abcdef");
	cr_expect_eq(upload_cleanup_temp(dir_fd, 0), 1);
	cr_expect(!exists(".mthttpd-tmp.web1.example.org.99.0123456789abcdef"));
	cr_expect_eq(count_entries(NULL, 0), 2);
}

/* On reload the process's own files are uploads in flight: spared. */
Test(upload_cleanup, spares_the_given_process)
{
	upload_set_node_name("node-a");
	touch(".mthttpd-tmp.node-a.100.0123456789abcdef");
	touch(".mthttpd-tmp.node-a.200.0123456789abcdef");
	cr_expect_eq(upload_cleanup_temp(dir_fd, 200), 1);
	cr_expect(!exists(".mthttpd-tmp.node-a.100.0123456789abcdef"));
	cr_expect(exists(".mthttpd-tmp.node-a.200.0123456789abcdef"));
}

Test(upload_cleanup, node_name_is_made_safe)
{
	upload_set_node_name("a/b c\xc3\xa9.d");
	cr_expect_str_eq(upload_node_name(), "a_b_c__.d");
	upload_set_node_name("");
	cr_expect_str_eq(upload_node_name(), "localhost");
	upload_set_node_name("0123456789012345678901234567890123456789012345678901234567890123456789");
	cr_expect_eq(strlen(upload_node_name()), 64);
	cr_expect(upload_temp_name(".mthttpd-tmp.anyone.1.0123456789abcdef"));
	cr_expect(upload_temp_name(".upload-0123456789abcdef.tmp"));
	cr_expect(!upload_temp_name("upload_20240229T235959Z_0123456789abcdef.json"));
}

Test(upload_cleanup, empty_directory)
{
	cr_expect_eq(upload_cleanup_temp(dir_fd, 0), 0);
	expect_empty_dir();
}

Test(upload_cleanup, leaves_stored_uploads)
{
	char name[UPLOAD_NAME_MAX];

	upload_set_node_name("node-a");
	cr_assert_eq(upload_store(dir_fd, S("{}"), name), 0);
	touch(".mthttpd-tmp.node-a.1.0123456789abcdef");
	cr_expect_eq(upload_cleanup_temp(dir_fd, 0), 1);
	expect_file(name, S("{}"));
	cr_expect_eq(count_entries(NULL, 0), 1);
}

Test(upload_cleanup, invalid_dirfd)
{
	cr_expect_eq(upload_cleanup_temp(-1, 0), -EBADF);
}

/*
 * Streaming
 */

/* Stream BODY in pieces of PIECE bytes (cycling 1..PIECE when VARY),
 * through upload_stream_write() or straight into the stream's buffer. */
static int stream_body(const char *body, size_t len, size_t piece, bool vary, bool direct,
		       char *name)
{
	struct upload_stream *s;
	size_t off = 0, k = 0;
	int r;

	r = upload_stream_open(dir_fd, &s);
	if (r < 0)
		return r;
	while (off < len) {
		size_t n = vary ? 1 + k++ % piece : piece, room;

		if (n > len - off)
			n = len - off;
		if (direct) {
			char *p = upload_stream_space(s, &room);

			cr_assert_gt(room, 0);
			if (n > room)
				n = room;
			memcpy(p, body + off, n);
			r = upload_stream_advance(s, n);
		} else {
			r = upload_stream_write(s, body + off, n);
		}
		if (r < 0)
			goto out;
		off += n;
	}
	cr_expect_eq(upload_stream_bytes(s), len);
	r = upload_stream_finish(s, name);
out:
	upload_stream_free(s);
	return r;
}

Test(upload_stream, stores_exact_bytes_in_any_pieces)
{
	static const char body[] = "{\"a\":[1,2,3],\"b\":\"\xc3\xa9\"}\n";
	char name[UPLOAD_NAME_MAX];

	for (size_t piece = 1; piece <= sizeof(body); piece++) {
		cr_assert_eq(stream_body(S(body), piece, false, piece & 1, name), 0);
		expect_file(name, S(body));
		cr_assert_eq(unlinkat(dir_fd, name, 0), 0);
	}
	expect_empty_dir();
}

/* Many times the buffer, fed in odd pieces, written in short writes. */
Test(upload_stream, large_body_crosses_buffers)
{
	size_t len = 5u << 20, n = 0;
	char *body = malloc(len + 32);
	char name[UPLOAD_NAME_MAX];

	cr_assert_not_null(body);
	body[n++] = '[';
	while (n < len - 16)
		n += (size_t)sprintf(body + n, "%zu,", n);
	n += (size_t)sprintf(body + n, "0]");
	fault.write_max = 65521;
	fault.write_eintr = 2;
	cr_assert_eq(stream_body(body, n, 70001, true, false, name), 0);
	expect_file(name, body, n);
	cr_assert_eq(unlinkat(dir_fd, name, 0), 0);
	cr_assert_eq(stream_body(body, n, 4093, false, true, name), 0);
	expect_file(name, body, n);
	cr_expect_eq(count_entries(NULL, 0), 1);
	free(body);
}

Test(upload_stream, invalid_json_leaves_nothing)
{
	static const char *bad[] = { "", "{", "[1,]", "{}x", "[\"\x01\"]", "01" };
	size_t len = 1u << 20;
	char *body = malloc(len);
	char name[UPLOAD_NAME_MAX] = "x";
	struct upload_stream *s;

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		cr_expect_eq(stream_body(bad[i], strlen(bad[i]), 1, false, false, name), -EINVAL,
			     "%s", bad[i]);
		cr_expect_str_empty(name);
		expect_empty_dir();
	}
	/* refused in the middle of a large body: the reason is kept, the
	 * rest is refused too */
	cr_assert_not_null(body);
	memset(body, ' ', len);
	body[0] = '[';
	body[len / 2] = 'x';
	cr_assert_eq(upload_stream_open(dir_fd, &s), 0);
	cr_expect_eq(upload_stream_write(s, body, len), -EINVAL);
	cr_expect_str_eq(upload_stream_error(s), "unexpected character");
	cr_expect_eq(upload_stream_write(s, "]", 1), -EINVAL);
	cr_expect_eq(upload_stream_finish(s, name), -EINVAL);
	upload_stream_free(s);
	expect_empty_dir();
	free(body);
}

Test(upload_stream, abandoned_stream_leaves_nothing)
{
	struct upload_stream *s;

	cr_assert_eq(upload_stream_open(dir_fd, &s), 0);
	cr_assert_eq(upload_stream_write(s, S("[1,2")), 0);
	upload_stream_free(s);
	upload_stream_free(NULL);
	expect_empty_dir();
	fault.no_tmpfile = true;
	cr_assert_eq(upload_stream_open(dir_fd, &s), 0);
	cr_assert_eq(upload_stream_write(s, S("[1,2")), 0);
	cr_expect_eq(count_entries(NULL, 0), 1, "the named temporary file");
	upload_stream_free(s);
	expect_empty_dir();
}

Test(upload_stream, without_o_tmpfile)
{
	char name[UPLOAD_NAME_MAX];

	fault.no_tmpfile = true;
	cr_assert_eq(stream_body(S("{\"x\":1}"), 3, false, false, name), 0);
	expect_file(name, S("{\"x\":1}"));
	cr_expect_eq(count_entries(NULL, 0), 1, "temporary file left behind");
}

Test(upload_stream, disk_full_and_quota_leave_nothing)
{
	size_t len = 1u << 20;
	char *body = malloc(len);
	char name[UPLOAD_NAME_MAX] = "garbage";

	cr_assert_not_null(body);
	memset(body, ' ', len);
	body[0] = '1';
	fault.write_enospc = true;
	fault.write_budget = 4096;
	cr_expect_eq(stream_body(body, len, 8192, false, false, name), -ENOSPC);
	expect_empty_dir();
	fault.write_enospc = false;
	fault.sync_file_err = EDQUOT;
	cr_expect_eq(stream_body(body, len, 8192, false, true, name), -EDQUOT);
	cr_expect_str_empty(name);
	expect_empty_dir();
	fault.sync_file_err = 0;
	fault.no_tmpfile = true;
	fault.fsync_dir_err = EIO;
	cr_expect_eq(stream_body(body, len, 8192, false, true, name), -EIO);
	expect_empty_dir();
	free(body);
}

Test(upload_stream, advance_beyond_the_buffer_is_refused)
{
	struct upload_stream *s;
	size_t room;

	cr_assert_eq(upload_stream_open(dir_fd, &s), 0);
	upload_stream_space(s, &room);
	cr_expect_eq(room, UPLOAD_STREAM_BUF);
	cr_expect_eq(upload_stream_advance(s, room + 1), -EINVAL);
	upload_stream_free(s);
}
