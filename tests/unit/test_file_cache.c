/* test_file_cache.c - the per-site cache of static files: hits, freshness,
 * path security on revalidation, bounds, and many threads at once.
 *
 * The cache's clock is replaced by FAKE_NOW, so "more than a second later"
 * is one assignment, not a sleep.
 *
 * base/            (mkdtemp)
 *   outside        a file no lookup may reach
 *   root/          the cache's directory
 *     index.html, a.txt, page.html, sub/index.html, empty/ (no index),
 *     fifo, link_in -> page.html, link_abs -> BASE/outside,
 *     link_rel -> ../outside */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "file_cache.h"
#include "mime.h"
#include "static_file.h"

static char base[PATH_MAX / 4];
static char root[PATH_MAX / 2];
static int root_fd = -1;
static struct mime_table *mime;
static struct static_file_types types, types_nodl;
static char *downloads[] = { (char *)"txt" };
static int64_t fake_now = 1000000;
static struct file_cache *fc;

static int64_t fake_clock(void)
{
	return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}

static void advance(int64_t ms)
{
	__atomic_add_fetch(&fake_now, ms, __ATOMIC_RELAXED);
}

static void put_file(const char *name, const char *data, size_t len)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof p, "%s/%s", root, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0, "open %s: %s", p, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static const char *fmt_path(const char *name)
{
	static char p[PATH_MAX];

	snprintf(p, sizeof p, "%s/%s", root, name);
	return p;
}

static void write_text(const char *name, const char *text)
{
	put_file(name, text, strlen(text));
}

/* mtime AGO seconds in the past: an entry read from it is not "racy" */
static void age(const char *name, time_t ago)
{
	struct timespec ts[2];

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= ago;
	ts[1] = ts[0];
	cr_assert_eq(utimensat(root_fd, name, ts, 0), 0, "utimensat %s: %s", name, strerror(errno));
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char p[PATH_MAX];

	snprintf(base, sizeof base, "%s/mthttpd-file-cache-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(base), "mkdtemp: %s", strerror(errno));
	snprintf(root, sizeof root, "%s/root", base);
	cr_assert_eq(mkdir(root, 0755), 0);
	root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(root_fd, 0);

	snprintf(p, sizeof p, "%s/outside", base);
	{
		FILE *f = fopen(p, "w");
		cr_assert_not_null(f);
		fputs("secret\n", f);
		fclose(f);
	}
	write_text("index.html", "<p>home</p>\n");
	write_text("a.txt", "alpha\n");
	write_text("page.html", "<p>page</p>\n");
	cr_assert_eq(mkdirat(root_fd, "sub", 0755), 0);
	write_text("sub/index.html", "<p>sub</p>\n");
	cr_assert_eq(mkdirat(root_fd, "empty", 0755), 0);
	cr_assert_eq(mkfifoat(root_fd, "fifo", 0644), 0);
	cr_assert_eq(symlinkat("page.html", root_fd, "link_in"), 0);
	cr_assert_eq(symlinkat(p, root_fd, "link_abs"), 0);
	cr_assert_eq(symlinkat("../outside", root_fd, "link_rel"), 0);
	age("index.html", 100);
	age("a.txt", 100);
	age("page.html", 100);
	age("sub/index.html", 100);

	types.download_extensions = downloads;
	types.n_download_extensions = 1;
	mime = mime_table_from_text(NULL, 0);
	cr_assert_not_null(mime);
	types.mime = types_nodl.mime = mime;
	fc = file_cache_new(&types, root_fd, NULL);
	cr_assert_not_null(fc);
	file_cache_set_clock(fc, fake_clock);
}

static void teardown(void)
{
	file_cache_free(fc);
	fc = NULL;
	mime_table_free(mime);
	mime = NULL;
	if (root_fd >= 0)
		close(root_fd);
	root_fd = -1;
	if (base[0]) {
		chmod(root, 0755);
		nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	base[0] = '\0';
}

TestSuite(file_cache, .init = setup, .fini = teardown);

/* Look REL up; returns the status, *F referenced on 200 (and the fd the
 * lookup opened, if any, closed: *OPENED tells whether there was one). */
static int lookup(const char *rel, int is_dir, const struct file_cache_file **f, bool *opened)
{
	char loc[PATH_MAX];
	int fd = -1;
	int st = file_cache_lookup(fc, rel, is_dir, 0, f, &fd, loc, sizeof loc);

	if (opened)
		*opened = fd >= 0;
	if (fd >= 0)
		close(fd);
	return st;
}

static void expect_content(const struct file_cache_file *f, const char *want)
{
	cr_assert_not_null(f);
	cr_assert_eq(f->size, strlen(want));
	cr_assert_not_null(f->data, "a small file is held in memory");
	cr_assert(memcmp(f->data, want, f->size) == 0, "content \"%.*s\", want \"%s\"",
		  (int)f->size, f->data, want);
}

Test(file_cache, hit_returns_the_same_entry_without_opening)
{
	const struct file_cache_file *f1, *f2;
	bool opened;
	size_t n;

	cr_assert_eq(lookup("a.txt", 0, &f1, &opened), 200);
	cr_expect(opened, "the first lookup opens the file");
	expect_content(f1, "alpha\n");
	cr_assert_eq(lookup("a.txt", 0, &f2, &opened), 200);
	cr_expect_not(opened, "a fresh entry needs no syscall");
	cr_assert_eq(f1, f2);
	cr_expect_str_eq(f1->v.etag, f2->v.etag);
	cr_expect(f1->attachment, "txt is a download extension here");
	cr_expect_str_eq(f1->content_type, "application/octet-stream", "as for any download");
	cr_expect_str_eq(f1->name, "a.txt");
	file_cache_stats(fc, &n, NULL);
	cr_expect_eq(n, 1);
	file_cache_put(f1);
	file_cache_put(f2);
}

Test(file_cache, validators_match_a_fresh_computation)
{
	const struct file_cache_file *f;
	struct http_validators v;
	struct stat st;
	char date[HTTP_DATE_LEN + 1];

	cr_assert_eq(lookup("page.html", 0, &f, NULL), 200);
	cr_assert_eq(fstatat(root_fd, "page.html", &st, 0), 0);
	http_validators_init(&v, st.st_ino, (uint64_t)st.st_size, st.st_mtim.tv_sec,
			     st.st_mtim.tv_nsec, time(NULL));
	cr_expect_str_eq(f->v.etag, v.etag);
	cr_expect_eq(f->v.etag_len, v.etag_len);
	http_date_format(st.st_mtim.tv_sec, date);
	cr_expect_str_eq(f->last_modified, date);
	cr_expect_eq(f->mtime, st.st_mtim.tv_sec);
	cr_expect_not(f->attachment);
	cr_expect_str_eq(f->content_type, "text/html; charset=utf-8");
	file_cache_put(f);
}

Test(file_cache, directory_index_and_redirect)
{
	const struct file_cache_file *f;
	char loc[PATH_MAX];
	size_t n;

	cr_assert_eq(lookup("", 1, &f, NULL), 200);
	expect_content(f, "<p>home</p>\n");
	cr_expect_str_eq(f->name, "index.html");
	file_cache_put(f);
	cr_assert_eq(lookup("sub", 1, &f, NULL), 200);
	expect_content(f, "<p>sub</p>\n");
	file_cache_put(f);
	/* a directory without the slash is a 301, and not cached */
	cr_assert_eq(file_cache_lookup(fc, "sub", 0, 0, &f, NULL, loc, sizeof loc), 301);
	cr_expect_null(f);
	cr_expect_str_eq(loc, "/sub/");
	file_cache_stats(fc, &n, NULL);
	cr_expect_eq(n, 2);
}

Test(file_cache, index_is_reopened_by_its_resolved_path)
{
	const struct file_cache_file *f;
	int fd;

	bool borrowed;

	cr_assert_eq(lookup("sub", 1, &f, NULL), 200);
	fd = file_cache_open(fc, f, &borrowed);
	cr_assert_geq(fd, 0, "file_cache_open: %s", strerror(-fd));
	cr_expect_not(borrowed, "a file held in memory keeps no fd");
	{
		char buf[64];
		ssize_t n = pread(fd, buf, sizeof buf, 0);
		cr_assert_eq(n, 11);
		cr_expect(memcmp(buf, "<p>sub</p>\n", 11) == 0);
	}
	close(fd);
	file_cache_put(f);
}

Test(file_cache, changed_file_is_seen_after_the_ttl)
{
	const struct file_cache_file *f1, *f2, *f3;
	bool opened;

	cr_assert_eq(lookup("a.txt", 0, &f1, NULL), 200);
	expect_content(f1, "alpha\n");
	write_text("a.txt", "beta, longer\n");
	age("a.txt", 50);
	/* within the second: still trusted */
	advance(FILE_CACHE_TTL_MS - 1);
	cr_assert_eq(lookup("a.txt", 0, &f2, &opened), 200);
	cr_expect_not(opened);
	cr_expect_eq(f2, f1);
	file_cache_put(f2);
	/* past it: revalidated, re-read */
	advance(1);
	cr_assert_eq(lookup("a.txt", 0, &f3, &opened), 200);
	cr_expect(opened);
	expect_content(f3, "beta, longer\n");
	cr_expect_str_neq(f3->v.etag, f1->v.etag);
	/* the old entry is still whole for whoever holds it */
	expect_content(f1, "alpha\n");
	file_cache_put(f1);
	file_cache_put(f3);
}

Test(file_cache, real_clock_and_a_short_sleep)
{
	const struct file_cache_file *f1, *f2;

	file_cache_set_clock(fc, NULL);
	cr_assert_eq(lookup("a.txt", 0, &f1, NULL), 200);
	write_text("a.txt", "gamma!\n");
	age("a.txt", 20);
	usleep(1100 * 1000);
	cr_assert_eq(lookup("a.txt", 0, &f2, NULL), 200);
	expect_content(f2, "gamma!\n");
	file_cache_put(f1);
	file_cache_put(f2);
}

Test(file_cache, unchanged_file_keeps_its_entry)
{
	const struct file_cache_file *f1, *f2;
	bool opened;

	cr_assert_eq(lookup("page.html", 0, &f1, NULL), 200);
	advance(5 * FILE_CACHE_TTL_MS);
	cr_assert_eq(lookup("page.html", 0, &f2, &opened), 200);
	cr_expect(opened, "revalidation stats the file");
	cr_expect_eq(f1, f2, "same metadata, old mtime: the entry is kept");
	file_cache_put(f2);
	cr_assert_eq(lookup("page.html", 0, &f2, &opened), 200);
	cr_expect_not(opened, "trusted again for a period");
	file_cache_put(f1);
	file_cache_put(f2);
}

/* A file written less than a second ago may still be being written: it
 * is read for each request and kept by nobody but the caller. */
Test(file_cache, a_file_being_written_is_not_kept)
{
	const struct file_cache_file *f1, *f2, *f3;
	bool opened;
	size_t n;

	write_text("a.txt", "");
	cr_assert_eq(lookup("a.txt", 0, &f1, &opened), 200);
	cr_expect(opened);
	cr_expect_eq(f1->size, 0);
	write_text("a.txt", "now complete\n");
	cr_assert_eq(lookup("a.txt", 0, &f2, &opened), 200);
	cr_expect(opened, "no trusted second for a young file");
	expect_content(f2, "now complete\n");
	file_cache_stats(fc, &n, NULL);
	cr_expect_eq(n, 0);
	/* once it has been still for a second it is kept */
	age("a.txt", 2);
	cr_assert_eq(lookup("a.txt", 0, &f3, &opened), 200);
	file_cache_stats(fc, &n, NULL);
	cr_expect_eq(n, 1);
	file_cache_put(f3);
	cr_assert_eq(lookup("a.txt", 0, &f3, &opened), 200);
	cr_expect_not(opened);
	file_cache_put(f1);
	file_cache_put(f2);
	file_cache_put(f3);
}

/* A write in the same timestamp tick as the read leaves size and mtime as
 * they were: a young file is read again whatever its metadata says. */
Test(file_cache, young_file_is_reread_even_with_the_same_metadata)
{
	const struct file_cache_file *f1, *f2;
	struct stat st;
	struct timespec ts[2];

	write_text("a.txt", "one\n");
	cr_assert_eq(fstatat(root_fd, "a.txt", &st, 0), 0);
	cr_assert_eq(lookup("a.txt", 0, &f1, NULL), 200);
	expect_content(f1, "one\n");
	write_text("a.txt", "two\n");
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	cr_assert_eq(utimensat(root_fd, "a.txt", ts, 0), 0);
	cr_assert_eq(lookup("a.txt", 0, &f2, NULL), 200);
	expect_content(f2, "two\n");
	cr_expect_str_eq(f1->v.etag, f2->v.etag, "the metadata (and so the ETag) did not change");
	file_cache_put(f1);
	file_cache_put(f2);
}

Test(file_cache, a_young_rewrite_drops_the_kept_entry)
{
	const struct file_cache_file *f;
	size_t n;

	cr_assert_eq(lookup("a.txt", 0, &f, NULL), 200);
	file_cache_put(f);
	write_text("a.txt", "fresh\n");
	advance(FILE_CACHE_TTL_MS);
	cr_assert_eq(lookup("a.txt", 0, &f, NULL), 200);
	expect_content(f, "fresh\n");
	file_cache_put(f);
	file_cache_stats(fc, &n, NULL);
	cr_expect_eq(n, 0, "the outdated entry is gone, the young one not kept");
}

Test(file_cache, symlinks_out_of_the_root_are_refused)
{
	const struct file_cache_file *f;
	size_t n;

	cr_expect_eq(lookup("link_abs", 0, &f, NULL), 403);
	cr_expect_null(f);
	cr_expect_eq(lookup("link_rel", 0, &f, NULL), 403);
	cr_expect_eq(lookup("link_abs", 0, &f, NULL), 403, "refusals are not cached");
	file_cache_stats(fc, &n, NULL);
	cr_expect_eq(n, 0);
	cr_assert_eq(lookup("link_in", 0, &f, NULL), 200);
	expect_content(f, "<p>page</p>\n");
	file_cache_put(f);
}

Test(file_cache, a_cached_file_replaced_by_an_escaping_symlink)
{
	const struct file_cache_file *f;
	char outside[PATH_MAX];
	bool borrowed;
	size_t n;
	int fd;

	cr_assert_eq(lookup("page.html", 0, &f, NULL), 200);
	snprintf(outside, sizeof outside, "%s/outside", base);
	cr_assert_eq(unlinkat(root_fd, "page.html", 0), 0);
	cr_assert_eq(symlinkat(outside, root_fd, "page.html"), 0);
	/* an fd for sendfile is never opened through the symlink */
	fd = file_cache_open(fc, f, &borrowed);
	cr_expect_eq(fd, -EXDEV, "file_cache_open: %d", fd);
	if (fd >= 0)
		close(fd);
	file_cache_put(f);
	advance(FILE_CACHE_TTL_MS);
	cr_expect_eq(lookup("page.html", 0, &f, NULL), 403);
	file_cache_stats(fc, &n, NULL);
	cr_expect_eq(n, 0, "the refused entry is dropped");
}

Test(file_cache, non_regular_files)
{
	const struct file_cache_file *f;
	size_t n;

	cr_expect_eq(lookup("fifo", 0, &f, NULL), 404);
	cr_expect_eq(lookup("empty", 1, &f, NULL), 404, "a directory without index.html");
	cr_expect_eq(lookup("missing.html", 0, &f, NULL), 404);
	file_cache_stats(fc, &n, NULL);
	cr_expect_eq(n, 0);
}

Test(file_cache, a_file_that_becomes_a_fifo)
{
	const struct file_cache_file *f;

	cr_assert_eq(lookup("a.txt", 0, &f, NULL), 200);
	file_cache_put(f);
	cr_assert_eq(unlinkat(root_fd, "a.txt", 0), 0);
	cr_assert_eq(mkfifoat(root_fd, "a.txt", 0644), 0);
	advance(FILE_CACHE_TTL_MS);
	cr_expect_eq(lookup("a.txt", 0, &f, NULL), 404);
}

Test(file_cache, unreadable_file)
{
	const struct file_cache_file *f;

	bool root_user = geteuid() == 0;
	size_t n;

	cr_assert_eq(lookup("a.txt", 0, &f, NULL), 200);
	file_cache_put(f);
	cr_assert_eq(fchmodat(root_fd, "a.txt", 0, 0), 0);
	/* root reads anything: be somebody else for the revalidation (the
	 * root directory is 0755 and already open) */
	if (root_user && seteuid(65534) != 0)
		cr_skip_test("cannot drop root privileges: %s", strerror(errno));
	advance(FILE_CACHE_TTL_MS);
	cr_expect_eq(lookup("a.txt", 0, &f, NULL), 403);
	if (root_user)
		cr_assert_eq(seteuid(0), 0);
	file_cache_stats(fc, &n, NULL);
	cr_expect_eq(n, 0);
}

Test(file_cache, deleted_file_is_404_after_the_ttl)
{
	const struct file_cache_file *f;
	size_t n;

	cr_assert_eq(lookup("a.txt", 0, &f, NULL), 200);
	file_cache_put(f);
	cr_assert_eq(unlinkat(root_fd, "a.txt", 0), 0);
	advance(FILE_CACHE_TTL_MS);
	cr_expect_eq(lookup("a.txt", 0, &f, NULL), 404);
	file_cache_stats(fc, &n, NULL);
	cr_expect_eq(n, 0);
}

/* ---- large files: the kept fd ---- */

#define BIG (FILE_CACHE_FILE_MAX + 1)

/* BIG bytes of C as NAME, written aside and renamed over it (a new inode),
 * or rewritten in place; mtime AGO seconds back */
static void put_big(const char *name, char c, size_t len, bool rename_over, time_t ago)
{
	char *data = malloc(len), tmp[64];

	cr_assert_not_null(data);
	memset(data, c, len);
	snprintf(tmp, sizeof tmp, "%s.tmp", name);
	put_file(rename_over ? tmp : name, data, len);
	age(rename_over ? tmp : name, ago);
	if (rename_over)
		cr_assert_eq(renameat(root_fd, tmp, root_fd, name), 0);
	free(data);
}

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");

	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Does FD hold LEN bytes of C at offset 0 and LEN-1? */
static void expect_fd_bytes(int fd, char c, size_t len)
{
	char a = 0, b = 0;
	struct stat st;

	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_eq((size_t)st.st_size, len);
	cr_expect_eq(pread(fd, &a, 1, 0), 1);
	cr_expect_eq(pread(fd, &b, 1, (off_t)len - 1), 1);
	cr_expect(a == c && b == c, "bytes '%c' '%c', want '%c'", a, b, c);
}

Test(file_cache, large_file_keeps_its_fd_and_reuses_it)
{
	const struct file_cache_file *f, *g;
	size_t n, bytes;
	bool opened, borrowed;
	int fd, fd2, before;

	put_big("big.bin", 'x', BIG, false, 100);
	cr_assert_eq(lookup("big.bin", 0, &f, &opened), 200);
	cr_expect_not(opened, "the entry keeps the fd the lookup opened");
	cr_expect_null(f->data);
	cr_expect_eq(f->size, BIG);
	file_cache_stats(fc, &n, &bytes);
	cr_expect_eq(n, 1);
	cr_expect_lt(bytes, 4096, "metadata only: %zu bytes", bytes);
	cr_expect_eq(file_cache_open_fds(fc), 1);
	before = open_fds();
	fd = file_cache_open(fc, f, &borrowed);
	cr_assert_geq(fd, 0, "file_cache_open: %s", strerror(-fd));
	cr_expect(borrowed);
	expect_fd_bytes(fd, 'x', BIG);
	/* the next request: a hit, and the same fd, nothing opened */
	cr_assert_eq(lookup("big.bin", 0, &g, &opened), 200);
	cr_expect_not(opened);
	cr_expect_eq(g, f);
	fd2 = file_cache_open(fc, g, &borrowed);
	cr_expect_eq(fd2, fd);
	cr_expect(borrowed);
	cr_expect_eq(open_fds(), before, "no fd opened per send");
	file_cache_put(g);
	file_cache_put(f);
	/* revalidated after the TTL, unchanged: still the same entry and fd */
	advance(FILE_CACHE_TTL_MS);
	cr_assert_eq(lookup("big.bin", 0, &g, NULL), 200);
	cr_expect_eq(g, f);
	cr_expect_eq(file_cache_open(fc, g, &borrowed), fd);
	file_cache_put(g);
	cr_expect_eq(file_cache_open_fds(fc), 1);
}

/* what serve_static does on -ESTALE: look up again with
 * FILE_CACHE_REVALIDATE, and send from the fd that comes with it */
static int reopen(const struct file_cache_file **f, bool *borrowed)
{
	char loc[64];
	int fd = -1;

	cr_assert_eq(
		file_cache_lookup(fc, "big.bin", 0, FILE_CACHE_REVALIDATE, f, &fd, loc, sizeof loc),
		200);
	*borrowed = false;
	if (fd < 0)
		fd = file_cache_open(fc, *f, borrowed);
	cr_assert_geq(fd, 0, "after revalidation: %s", strerror(-fd));
	return fd;
}

Test(file_cache, large_file_renamed_over_is_never_sent_stale)
{
	const struct file_cache_file *f, *g;
	bool borrowed;
	int fd;

	put_big("big.bin", 'x', BIG, false, 100);
	cr_assert_eq(lookup("big.bin", 0, &f, NULL), 200);
	cr_assert_geq(file_cache_open(fc, f, &borrowed), 0);
	/* within the trusted second: same size and mtime, another inode */
	put_big("big.bin", 'y', BIG, true, 100);
	cr_expect_eq(file_cache_open(fc, f, &borrowed), -ESTALE);
	file_cache_put(f);
	fd = reopen(&g, &borrowed);
	cr_expect_neq(g, f);
	expect_fd_bytes(fd, 'y', BIG);
	if (!borrowed)
		close(fd);
	file_cache_put(g);
}

Test(file_cache, large_file_truncated_or_rewritten_is_never_sent_stale)
{
	const struct file_cache_file *f, *g;
	struct timespec ts[2] = { { .tv_sec = 1000000 }, { .tv_sec = 1000000 } };
	bool borrowed;
	int fd;

	put_big("big.bin", 'x', BIG, false, 100);
	cr_assert_eq(lookup("big.bin", 0, &f, NULL), 200);
	cr_assert_geq(file_cache_open(fc, f, &borrowed), 0);
	/* truncated in place (same inode, the kept fd sees it too) */
	cr_assert_eq(truncate(fmt_path("big.bin"), 1000), 0);
	cr_expect_eq(file_cache_open(fc, f, &borrowed), -ESTALE);
	file_cache_put(f);
	fd = reopen(&g, &borrowed);
	cr_expect_eq(g->size, 1000);
	if (!borrowed)
		close(fd);
	file_cache_put(g);

	/* rewritten in place, same size: only the mtime tells */
	put_big("big.bin", 'x', BIG, false, 100);
	cr_assert_eq(lookup("big.bin", 0, &f, NULL), 200);
	advance(FILE_CACHE_TTL_MS);
	file_cache_put(f);
	cr_assert_eq(lookup("big.bin", 0, &f, NULL), 200);
	cr_expect_eq(f->size, BIG);
	cr_assert_eq(utimensat(root_fd, "big.bin", ts, 0), 0);
	cr_expect_eq(file_cache_open(fc, f, &borrowed), -ESTALE);
	file_cache_put(f);
}

Test(file_cache, a_sending_response_keeps_the_fd_past_eviction_and_reload)
{
	const struct file_cache_file *f;
	bool borrowed;
	int fd;

	put_big("big.bin", 'x', BIG, false, 100);
	cr_assert_eq(lookup("big.bin", 0, &f, NULL), 200);
	fd = file_cache_open(fc, f, &borrowed);
	cr_assert_geq(fd, 0);
	cr_assert(borrowed);
	file_cache_free(fc); /* a reload dropped the old site and its cache */
	fc = NULL;
	cr_expect_eq(fcntl(fd, F_GETFD), FD_CLOEXEC, "still open for the response");
	expect_fd_bytes(fd, 'x', BIG);
	file_cache_put(f); /* the response is done: the last reference */
	cr_expect_eq(fcntl(fd, F_GETFD), -1, "closed with the last reference");
	cr_expect_eq(errno, EBADF);
}

Test(file_cache, kept_fds_are_bounded)
{
	struct file_cache_limits lim = { .max_entries = 2048,
					 .max_bytes = 32 << 20,
					 .file_max = 4096,
					 .max_fds = 2 * FILE_CACHE_SHARDS };
	struct file_cache *c = file_cache_new(&types_nodl, root_fd, &lim);
	const struct file_cache_file *f, *held;
	char name[32], loc[64];
	bool borrowed;
	int fd, base_fds, held_fd;

	cr_assert_not_null(c);
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof name, "b%03d", i);
		put_big(name, 'b', 5000, false, 100);
	}
	base_fds = open_fds();
	cr_assert_eq(file_cache_lookup(c, "b000", 0, 0, &held, NULL, loc, sizeof loc), 200);
	held_fd = file_cache_open(c, held, &borrowed);
	cr_assert(borrowed);
	for (int i = 1; i < 200; i++) {
		snprintf(name, sizeof name, "b%03d", i);
		cr_assert_eq(file_cache_lookup(c, name, 0, 0, &f, NULL, loc, sizeof loc), 200);
		fd = file_cache_open(c, f, &borrowed);
		cr_assert_geq(fd, 0);
		if (!borrowed)
			close(fd);
		file_cache_put(f);
		cr_assert_leq(file_cache_open_fds(c), lim.max_fds);
	}
	cr_expect_eq(file_cache_open_fds(c), lim.max_fds, "every shard filled its share");
	/* the table's fds, and the one a response holds after its eviction */
	cr_expect_leq(open_fds(), base_fds + (int)lim.max_fds + 1);
	expect_fd_bytes(held_fd, 'b', 5000);
	file_cache_put(held);
	file_cache_free(c);
	cr_expect_eq(open_fds(), base_fds, "all closed with the cache");

	/* fewer than one per shard: none kept, an fd per send as before */
	lim.max_fds = FILE_CACHE_SHARDS - 1;
	c = file_cache_new(&types_nodl, root_fd, &lim);
	cr_assert_eq(file_cache_lookup(c, "b001", 0, 0, &f, NULL, loc, sizeof loc), 200);
	fd = file_cache_open(c, f, &borrowed);
	cr_assert_geq(fd, 0);
	cr_expect_not(borrowed);
	close(fd);
	file_cache_put(f);
	cr_expect_eq(file_cache_open_fds(c), 0);
	file_cache_free(c);
}

Test(file_cache, default_bound_follows_rlimit_nofile)
{
	struct rlimit old, rl;
	struct file_cache *c;
	const struct file_cache_file *f;
	char loc[64];

	put_big("big.bin", 'x', BIG, false, 100);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	rl = old;
	rl.rlim_cur = 16 * (FILE_CACHE_SHARDS - 1); /* a budget below one per shard */
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	c = file_cache_new(&types, root_fd, NULL);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	cr_assert_eq(file_cache_lookup(c, "big.bin", 0, 0, &f, NULL, loc, sizeof loc), 200);
	cr_expect_eq(file_cache_open_fds(c), 0, "RLIMIT_NOFILE / 16 < one per shard");
	file_cache_put(f);
	file_cache_free(c);
}

Test(file_cache, a_symlinked_large_file_is_opened_per_send)
{
	const struct file_cache_file *f;
	bool borrowed;
	int fd;

	put_big("big.bin", 'x', BIG, false, 100);
	cr_assert_eq(symlinkat("big.bin", root_fd, "big_link"), 0);
	cr_assert_eq(lookup("big_link", 0, &f, NULL), 200);
	cr_expect_eq(file_cache_open_fds(fc), 0, "the name is not the file: nothing kept");
	fd = file_cache_open(fc, f, &borrowed);
	cr_assert_geq(fd, 0, "file_cache_open: %s", strerror(-fd));
	cr_expect_not(borrowed);
	close(fd);
	file_cache_put(f);
}

/* The directory of a cached file moved out of the root and replaced by a
 * symlink to where it went: the same file is still sent until the TTL's
 * revalidation resolves the name beneath the root (as a file held in
 * memory would be), then refused, and the kept fd goes. */
Test(file_cache, a_kept_fd_is_refused_once_its_path_leaves_the_root)
{
	const struct file_cache_file *f;
	char moved[PATH_MAX];
	size_t n;

	cr_assert_eq(mkdirat(root_fd, "d", 0755), 0);
	put_big("d/big.bin", 'x', BIG, false, 100);
	cr_assert_eq(lookup("d/big.bin", 0, &f, NULL), 200);
	file_cache_put(f);
	cr_expect_eq(file_cache_open_fds(fc), 1);
	snprintf(moved, sizeof moved, "%s/moved", base);
	cr_assert_eq(renameat(root_fd, "d", AT_FDCWD, moved), 0);
	cr_assert_eq(symlinkat(moved, root_fd, "d"), 0);
	advance(FILE_CACHE_TTL_MS);
	cr_expect_eq(lookup("d/big.bin", 0, &f, NULL), 403);
	file_cache_stats(fc, &n, NULL);
	cr_expect_eq(n, 0, "the refused entry is dropped");
	cr_expect_eq(file_cache_open_fds(fc), 0);
}

Test(file_cache, bounds_evict_least_recently_used)
{
	struct file_cache_limits lim = { .max_entries = 32,
					 .max_bytes = 64 * 1024,
					 .file_max = 4096 };
	struct file_cache *small = file_cache_new(&types_nodl, root_fd, &lim);
	const struct file_cache_file *held, *f;
	char name[32], buf[2048], loc[64];
	size_t n, bytes;

	cr_assert_not_null(small);
	memset(buf, 'b', sizeof buf);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof name, "f%03d", i);
		put_file(name, buf, sizeof buf);
		age(name, 100);
	}
	cr_assert_eq(file_cache_lookup(small, "f000", 0, 0, &held, NULL, loc, sizeof loc), 200);
	for (int i = 1; i < 300; i++) {
		snprintf(name, sizeof name, "f%03d", i);
		cr_assert_eq(file_cache_lookup(small, name, 0, 0, &f, NULL, loc, sizeof loc), 200);
		cr_assert_not_null(f->data);
		file_cache_put(f);
		file_cache_stats(small, &n, &bytes);
		cr_assert_leq(n, lim.max_entries);
		cr_assert_leq(bytes, lim.max_bytes);
	}
	cr_expect_gt(n, 0);
	/* evicted long ago, still whole for its holder */
	cr_expect_eq(held->size, sizeof buf);
	cr_expect(memcmp(held->data, buf, sizeof buf) == 0);
	file_cache_put(held);
	file_cache_free(small);
}

Test(file_cache, entries_outlive_the_cache)
{
	const struct file_cache_file *f;

	cr_assert_eq(lookup("index.html", 0, &f, NULL), 200);
	file_cache_free(fc); /* a reload dropped the old site */
	fc = NULL;
	expect_content(f, "<p>home</p>\n");
	file_cache_put(f);
}

/* ---- many threads ---- */

#define THREADS 6
#define VERSIONS 4

static volatile bool stop_writer;
static unsigned versions_seen; /* atomic bit mask */

/* Version V of "shared.txt": V+1 copies of a line, every byte tells V. */
static size_t version_text(int v, char *buf)
{
	size_t len = (size_t)(v + 1) * 100;
	memset(buf, 'a' + v, len);
	return len;
}

static void *writer(void *arg)
{
	char buf[VERSIONS * 100];
	int v = 0;

	while (!__atomic_load_n(&stop_writer, __ATOMIC_RELAXED)) {
		char tmp[PATH_MAX], dst[PATH_MAX];
		size_t len = version_text(v, buf);
		int fd;

		/* replace by rename: a reader sees one version or the other */
		snprintf(tmp, sizeof tmp, "%s/.shared.tmp", root);
		snprintf(dst, sizeof dst, "%s/shared.txt", root);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			if (write(fd, buf, len) != (ssize_t)len)
				abort();
			/* every other version old enough to be kept: both
			 * table replacements and private entries race */
			if (v % 2) {
				struct timespec ts[2];
				clock_gettime(CLOCK_REALTIME, &ts[0]);
				ts[0].tv_sec -= 10;
				ts[1] = ts[0];
				futimens(fd, ts);
			}
			close(fd);
			rename(tmp, dst);
		}
		v = (v + 1) % VERSIONS;
		advance(FILE_CACHE_TTL_MS / 4);
		usleep(500);
	}
	return arg;
}

static void *reader(void *arg)
{
	static const char *names[] = { "shared.txt", "index.html", "a.txt",
				       "page.html",  "link_in",	   "missing" };
	long bad = 0;

	for (int i = 0; i < 20000; i++) {
		const struct file_cache_file *f;
		const char *name = names[(i + (int)(intptr_t)arg) % 6];
		char loc[64];
		int fd = -1;
		int st = file_cache_lookup(fc, name, 0, (i % 97 == 0) ? FILE_CACHE_REVALIDATE : 0,
					   &f, &fd, loc, sizeof loc);

		if (fd >= 0)
			close(fd);
		if (!strcmp(name, "missing")) {
			bad += st != 404;
			continue;
		}
		if (st != 200) {
			bad++;
			continue;
		}
		if (!strcmp(name, "shared.txt") && f->data) {
			/* one whole version: size and every byte agree */
			int v = f->data[0] - 'a';
			bad += v < 0 || v >= VERSIONS || f->size != (uint64_t)(v + 1) * 100;
			if (v >= 0 && v < VERSIONS)
				__atomic_or_fetch(&versions_seen, 1u << v, __ATOMIC_RELAXED);
			for (size_t k = 0; k < f->size; k++)
				bad += f->data[k] != f->data[0];
		}
		file_cache_put(f);
	}
	return (void *)bad;
}

Test(file_cache, concurrent_lookups_and_replacements, .timeout = 60)
{
	pthread_t w, r[THREADS];
	char buf[VERSIONS * 100];
	long bad = 0;
	size_t n;

	put_file("shared.txt", buf, version_text(0, buf));
	cr_assert_eq(pthread_create(&w, NULL, writer, NULL), 0);
	for (intptr_t i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&r[i], NULL, reader, (void *)i), 0);
	for (int i = 0; i < THREADS; i++) {
		void *ret;
		pthread_join(r[i], &ret);
		bad += (long)ret;
	}
	__atomic_store_n(&stop_writer, true, __ATOMIC_RELAXED);
	pthread_join(w, NULL);
	cr_expect_eq(bad, 0, "%ld inconsistent answers", bad);
	cr_expect_gt(__builtin_popcount(versions_seen), 1, "replacements were seen (mask %#x)",
		     versions_seen);
	file_cache_stats(fc, &n, NULL);
	cr_expect_leq(n, 5);
}
