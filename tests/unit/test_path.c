/* test_path.c - request-target normalisation and opening beneath a root. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "path.h"

/* ---- path_normalize ---- */

static char out[1024];
static int is_dir;

static int norm(const char *target)
{
	is_dir = -1;
	return path_normalize(target, strlen(target), out, sizeof(out), &is_dir);
}

static void expect_norm(const char *target, const char *want, int want_dir)
{
	int r = norm(target);

	cr_assert_eq(r, (int)strlen(want), "path_normalize(\"%s\") = %d, want %zu", target, r,
		     strlen(want));
	cr_expect_str_eq(out, want, "path_normalize(\"%s\")", target);
	cr_expect_eq(is_dir, want_dir, "path_normalize(\"%s\") is_dir", target);
}

static void expect_err(const char *target, int err)
{
	int r = norm(target);

	cr_expect_eq(r, err, "path_normalize(\"%s\") = %d, want %d", target, r, err);
	cr_expect_str_eq(out, "", "path_normalize(\"%s\") leaves output", target);
}

Test(path_normalize, plain)
{
	expect_norm("/index.html", "index.html", 0);
	expect_norm("/a/b/c.txt", "a/b/c.txt", 0);
	expect_norm("/a-b_c~d/e+f,g;h=i", "a-b_c~d/e+f,g;h=i", 0);
}

Test(path_normalize, root)
{
	expect_norm("/", "", 1);
	expect_norm("//", "", 1);
	expect_norm("/?x=1", "", 1);
}

Test(path_normalize, is_dir)
{
	expect_norm("/a/", "a", 1);
	expect_norm("/a/b/", "a/b", 1);
	expect_norm("/a//", "a", 1);
	expect_norm("/a", "a", 0);
	expect_norm("/a/?q=/", "a", 1);
	expect_norm("/a?q=/", "a", 0);
}

Test(path_normalize, is_dir_may_be_null)
{
	cr_expect_eq(path_normalize("/a/", 3, out, sizeof(out), NULL), 1);
	cr_expect_str_eq(out, "a");
}

Test(path_normalize, query_dropped)
{
	expect_norm("/a/b?x=1&y=2", "a/b", 0);
	expect_norm("/a?", "a", 0);
	/* whatever follows '?' is not looked at, not even bad escapes */
	expect_norm("/a?%zz/../..", "a", 0);
	/* but an encoded '?' is part of the name */
	expect_norm("/a%3Fb", "a?b", 0);
}

Test(path_normalize, collapse_slashes)
{
	expect_norm("//a///b//", "a/b", 1);
	expect_norm("///a", "a", 0);
}

Test(path_normalize, percent_decoding)
{
	expect_norm("/%41%62c", "Abc", 0);
	expect_norm("/a%20b", "a b", 0);
	expect_norm("/caf%C3%A9", "caf\xc3\xa9", 0);
	expect_norm("/%7euser", "~user", 0);
	/* decoded exactly once: "%2541" is "%41", not "A" */
	expect_norm("/%2541", "%41", 0);
	expect_norm("/%252e%252e", "%2e%2e", 0);
}

Test(path_normalize, len_is_respected)
{
	int r = path_normalize("/abc/../x", 4, out, sizeof(out), &is_dir);

	cr_expect_eq(r, 3);
	cr_expect_str_eq(out, "abc");
}

Test(path_normalize, hidden_files_allowed)
{
	/* only "." and ".." themselves are special */
	expect_norm("/.hidden", ".hidden", 0);
	expect_norm("/a/.well-known/x", "a/.well-known/x", 0);
	expect_norm("/...", "...", 0);
	expect_norm("/..a", "..a", 0);
	expect_norm("/a..", "a..", 0);
	expect_norm("/a.", "a.", 0);
	expect_norm("/%2ehidden", ".hidden", 0);
}

Test(path_normalize, must_start_with_slash)
{
	expect_err("", -EINVAL);
	expect_err("a/b", -EINVAL);
	expect_err("?x", -EINVAL);
	expect_err("%2Fa", -EINVAL);
	expect_err("http://example.com/", -EINVAL);
	expect_err("*", -EINVAL);
	cr_expect_eq(path_normalize(NULL, 0, out, sizeof(out), &is_dir), -EINVAL);
}

Test(path_normalize, bad_escapes)
{
	expect_err("/%", -EINVAL);
	expect_err("/%4", -EINVAL);
	expect_err("/%zz", -EINVAL);
	expect_err("/%4g", -EINVAL);
	expect_err("/%g4", -EINVAL);
	expect_err("/a%", -EINVAL);
	expect_err("/a%/b", -EINVAL);
	expect_err("/a%2/b", -EINVAL);
	expect_err("/%%41", -EINVAL);
	expect_err("/% 41", -EINVAL);
	/* the query cuts the escape short: "%4" before '?' */
	expect_err("/%4?1", -EINVAL);
}

Test(path_normalize, dot_segments)
{
	expect_err("/.", -EACCES);
	expect_err("/..", -EACCES);
	expect_err("/./a", -EACCES);
	expect_err("/a/.", -EACCES);
	expect_err("/a/./b", -EACCES);
	expect_err("/a/..", -EACCES);
	expect_err("/a/../b", -EACCES);
	expect_err("/a/../../x", -EACCES);
	expect_err("/../etc/passwd", -EACCES);
	expect_err("/../", -EACCES);
	expect_err("/a/..?x", -EACCES);
}

Test(path_normalize, encoded_dot_segments)
{
	expect_err("/%2e%2e/x", -EACCES);
	expect_err("/%2E%2e/etc/passwd", -EACCES);
	expect_err("/.%2e/x", -EACCES);
	expect_err("/%2e./x", -EACCES);
	expect_err("/%2e/x", -EACCES);
	expect_err("/a/%2E", -EACCES);
}

Test(path_normalize, encoded_slash)
{
	expect_err("/%2E%2e%2fetc", -EACCES);
	expect_err("/..%2f", -EACCES);
	expect_err("/..%2F..%2Fetc%2Fpasswd", -EACCES);
	expect_err("/a%2fb", -EACCES);
	expect_err("/a%2Fb", -EACCES);
}

Test(path_normalize, nul_and_backslash)
{
	expect_err("/a%00b", -EACCES);
	expect_err("/a%00", -EACCES);
	expect_err("/a\\b", -EACCES);
	expect_err("/a%5cb", -EACCES);
	expect_err("/a%5Cb", -EACCES);
	expect_err("/..\\..\\windows", -EACCES);
	expect_err("/%5c..%5c", -EACCES);
	/* a raw NUL inside LEN */
	cr_expect_eq(path_normalize("/a\0b", 4, out, sizeof(out), &is_dir), -EACCES);
}

Test(path_normalize, control_characters)
{
	expect_err("/a%01b", -EACCES);
	expect_err("/a%0ab", -EACCES);
	expect_err("/a%0D%0Ab", -EACCES);
	expect_err("/a%1fb", -EACCES);
	expect_err("/a%7fb", -EACCES);
	expect_err("/a\tb", -EACCES);
	expect_err("/a\x7f", -EACCES);
	/* 0x80 and up are bytes of UTF-8 names, not controls */
	expect_norm("/a%80b", "a\200b", 0);
	expect_norm("/%ff", "\xff", 0);
}

Test(path_normalize, depth_limit)
{
	char buf[PATH_MAX_DEPTH * 3 + 8];
	size_t n = 0;

	for (int i = 0; i < PATH_MAX_DEPTH; i++) {
		buf[n++] = '/';
		buf[n++] = 'a';
	}
	buf[n] = '\0';
	cr_expect_eq(norm(buf), PATH_MAX_DEPTH * 2 - 1);
	cr_expect_eq(is_dir, 0);

	/* a trailing slash adds no segment */
	buf[n] = '/';
	buf[n + 1] = '\0';
	cr_expect_eq(norm(buf), PATH_MAX_DEPTH * 2 - 1);
	cr_expect_eq(is_dir, 1);

	/* nor do empty segments */
	buf[n] = '/';
	buf[n + 1] = '/';
	buf[n + 2] = 'a';
	buf[n + 3] = '\0';
	expect_err(buf, -ENAMETOOLONG);

	buf[n] = '/';
	buf[n + 1] = 'b';
	buf[n + 2] = '\0';
	expect_err(buf, -ENAMETOOLONG);
}

Test(path_normalize, length_limit)
{
	char small[8];

	/* "abc" needs 4 bytes with its NUL */
	cr_expect_eq(path_normalize("/abc", 4, small, 4, &is_dir), 3);
	cr_expect_str_eq(small, "abc");
	cr_expect_eq(path_normalize("/abc", 4, small, 3, &is_dir), -ENAMETOOLONG);
	cr_expect_str_eq(small, "");

	/* the separator counts too */
	cr_expect_eq(path_normalize("/ab/c", 5, small, 5, &is_dir), 4);
	cr_expect_str_eq(small, "ab/c");
	cr_expect_eq(path_normalize("/ab/c", 5, small, 4, &is_dir), -ENAMETOOLONG);
	cr_expect_eq(path_normalize("/ab/", 4, small, 3, &is_dir), 2);

	/* escapes count once decoded */
	cr_expect_eq(path_normalize("/%41%42%43", 10, small, 4, &is_dir), 3);
	cr_expect_str_eq(small, "ABC");

	/* the root fits a single byte */
	cr_expect_eq(path_normalize("/", 1, small, 1, &is_dir), 0);
	cr_expect_str_eq(small, "");
	cr_expect_eq(path_normalize("/", 1, small, 0, &is_dir), -ENAMETOOLONG);
}

Test(path_normalize, long_segment)
{
	/* out is 1024 bytes: 1023 characters fit, 1024 do not */
	char target[1100];

	target[0] = '/';
	memset(target + 1, 'y', 1024);
	target[1024] = '\0';
	cr_expect_eq(norm(target), 1023);
	target[1024] = 'y';
	target[1025] = '\0';
	expect_err(target, -ENAMETOOLONG);
}

/* After the first byte of a segment the plain bytes are copied as a run:
 * the room and the order of errors are as byte by byte. */
Test(path_normalize, runs_of_plain_bytes)
{
	char small[8];

	/* a run right after an escape */
	cr_expect_eq(path_normalize("/%41bcd", 7, small, 5, &is_dir), 4);
	cr_expect_str_eq(small, "Abcd");
	cr_expect_eq(path_normalize("/%41bcd", 7, small, 4, &is_dir), -ENAMETOOLONG);
	cr_expect_str_eq(small, "");
	/* the run stops at an escape, a separator or a forbidden byte */
	cr_expect_eq(path_normalize("/ab%43d/ef", 10, small, 8, &is_dir), 7);
	cr_expect_str_eq(small, "abCd/ef");
	/* whichever comes first decides: no room, or the forbidden byte */
	cr_expect_eq(path_normalize("/abcdef%00", 10, small, 4, &is_dir), -ENAMETOOLONG);
	cr_expect_eq(path_normalize("/ab%00cdef", 10, small, 4, &is_dir), -EACCES);
	cr_expect_eq(path_normalize("/abcdef\\", 8, small, 4, &is_dir), -ENAMETOOLONG);
	cr_expect_eq(path_normalize("/ab\\cdef", 8, small, 4, &is_dir), -EACCES);
	cr_expect_eq(path_normalize("/ab\x7f", 4, small, 8, &is_dir), -EACCES);
	/* 8-bit bytes are plain */
	cr_expect_eq(norm("/caf\xc3\xa9/\xff.html"), 12);
	cr_expect_str_eq(out, "caf\xc3\xa9/\xff.html");
	/* ".." made of a plain byte and an escape, or the other way round */
	expect_err("/a/.%2e/b", -EACCES);
	expect_err("/a/%2e./b", -EACCES);
	cr_expect_eq(norm("/a/.%2e%2e/b"), 7);
	cr_expect_str_eq(out, "a/.../b");
}

/* ---- path_extension / path_basename ---- */

static void expect_ext(const char *path, const char *want)
{
	char ext[16];
	size_t n = path_extension(path, ext, sizeof(ext));

	cr_expect_eq(n, strlen(want), "path_extension(\"%s\") = %zu", path, n);
	cr_expect_str_eq(ext, want, "path_extension(\"%s\")", path);
}

Test(path_extension, basic)
{
	expect_ext("index.html", "html");
	expect_ext("a/b/style.CSS", "css");
	expect_ext("archive.tar.gz", "gz");
	expect_ext("a.b/c", "");
	expect_ext("README", "");
	expect_ext("", "");
	expect_ext("file.", "");
	expect_ext("Image.JpEg", "jpeg");
}

Test(path_extension, dotfiles_have_none)
{
	expect_ext(".bashrc", "");
	expect_ext("dir/.bashrc", "");
	expect_ext("dir/.config.json", "json");
	expect_ext("..x", "x");
}

Test(path_extension, truncated)
{
	char ext[4];

	cr_expect_eq(path_extension("a.abcdef", ext, sizeof(ext)), 3);
	cr_expect_str_eq(ext, "abc");
	cr_expect_eq(path_extension("a.ABCDEF", ext, 1), 0);
	cr_expect_str_eq(ext, "");
	cr_expect_eq(path_extension("a.abc", NULL, 0), 0);
}

Test(path_basename, basic)
{
	const char *p = "a/b/c.txt";

	cr_expect_eq(path_basename(p), p + 4);
	cr_expect_str_eq(path_basename("file"), "file");
	cr_expect_str_eq(path_basename(""), "");
	cr_expect_str_eq(path_basename("a/"), "");
	cr_expect_str_eq(path_basename("a/.hidden"), ".hidden");
}

/* ---- path_open_beneath ----
 *
 * base/            (mkdtemp)
 *   outside        a file the tests must not reach
 *   root/          ROOT_FD
 *     file.txt     "hello"
 *     .hidden
 *     sub/inner.txt
 *     sub/up       -> ../file.txt   (inside: allowed)
 *     link_in      -> file.txt      (inside: allowed)
 *     link_abs     -> /etc/passwd   (escape)
 *     link_rel     -> ../outside    (escape)
 *     link_dir     -> /etc          (escape, as a directory)
 *     link_subdir  -> sub           (inside, as a directory)
 */

static char base[PATH_MAX / 2]; /* leaves room for the names below */
static int root_fd = -1;

static void write_file(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	cr_assert_not_null(f, "fopen %s: %s", p, strerror(errno));
	fputs(text, f);
	fclose(f);
}

static void make_link(const char *dir, const char *name, const char *target)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	cr_assert_eq(symlink(target, p), 0, "symlink %s: %s", p, strerror(errno));
}

static void tree_setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char root[PATH_MAX], sub[PATH_MAX];

	snprintf(base, sizeof(base), "%s/mthttpd-path-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(base), "mkdtemp: %s", strerror(errno));
	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(sub, sizeof(sub), "%s/root/sub", base);
	cr_assert_eq(mkdir(root, 0700), 0);
	cr_assert_eq(mkdir(sub, 0700), 0);

	write_file(base, "outside", "secret");
	write_file(root, "file.txt", "hello");
	write_file(root, ".hidden", "dot");
	write_file(sub, "inner.txt", "inner");
	make_link(sub, "up", "../file.txt");
	make_link(root, "link_in", "file.txt");
	make_link(root, "link_abs", "/etc/passwd");
	make_link(root, "link_rel", "../outside");
	make_link(root, "link_dir", "/etc");
	make_link(root, "link_subdir", "sub");

	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(root_fd, 0);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void tree_teardown(void)
{
	if (root_fd >= 0)
		close(root_fd);
	root_fd = -1;
	if (base[0])
		nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	base[0] = '\0';
}

/* Opens REL and checks that it reads as WANT. */
static void expect_content(const char *rel, const char *want)
{
	char buf[64];
	ssize_t n;
	int fd = path_open_beneath(root_fd, rel);

	cr_assert_geq(fd, 0, "path_open_beneath(\"%s\") = %d (%s)", rel, fd, strerror(-fd));
	cr_expect(fcntl(fd, F_GETFD) & FD_CLOEXEC, "fd is not close-on-exec");
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert_geq(n, 0);
	buf[n] = '\0';
	cr_expect_str_eq(buf, want, "content of \"%s\"", rel);
}

static void expect_dir(const char *rel)
{
	struct stat st;
	int fd = path_open_beneath(root_fd, rel);

	cr_assert_geq(fd, 0, "path_open_beneath(\"%s\") = %d (%s)", rel, fd, strerror(-fd));
	cr_expect_eq(fstat(fd, &st), 0);
	cr_expect(S_ISDIR(st.st_mode), "\"%s\" is not a directory", rel);
	close(fd);
}

static void expect_open_err(const char *rel, int err)
{
	int fd = path_open_beneath(root_fd, rel);

	if (fd >= 0)
		close(fd);
	cr_expect_eq(fd, err, "path_open_beneath(\"%s\") = %d, want %d (%s)", rel, fd, err,
		     strerror(-err));
}

/* An escape must fail; the kernel says EXDEV for RESOLVE_BENEATH and the
 * fallback says ELOOP, both of which the caller maps to 403. */
static void expect_escape(const char *rel)
{
	int fd = path_open_beneath(root_fd, rel);

	if (fd >= 0)
		close(fd);
	cr_expect(fd == -EXDEV || fd == -ELOOP,
		  "path_open_beneath(\"%s\") = %d, want -EXDEV/-ELOOP", rel, fd);
}

TestSuite(path_open_beneath, .init = tree_setup, .fini = tree_teardown);

Test(path_open_beneath, file_inside)
{
	expect_content("file.txt", "hello");
	expect_content(".hidden", "dot");
	expect_content("sub/inner.txt", "inner");
}

Test(path_open_beneath, directories)
{
	expect_dir("");
	expect_dir("sub");
}

Test(path_open_beneath, missing)
{
	expect_open_err("nope", -ENOENT);
	expect_open_err("sub/nope", -ENOENT);
	expect_open_err("nope/x", -ENOENT);
	expect_open_err("file.txt/x", -ENOTDIR);
}

Test(path_open_beneath, traversal_cannot_be_formed)
{
	char rel[64];

	/* the first fence: normalize refuses it before any open */
	cr_expect_eq(path_normalize("/a/../../x", 10, rel, sizeof(rel), &is_dir), -EACCES);
	cr_expect_eq(path_normalize("/../outside", 11, rel, sizeof(rel), &is_dir), -EACCES);
	/* the second fence, for a caller that skipped the first */
	expect_escape("../outside");
	expect_escape("sub/../../outside");
	expect_escape("/etc/passwd");
}

Test(path_open_beneath, symlink_escapes)
{
	expect_escape("link_abs");
	expect_escape("link_rel");
	expect_escape("link_dir/passwd");
}

Test(path_open_beneath, symlink_inside_allowed)
{
	/* RESOLVE_BENEATH allows symlinks that stay beneath the root */
	expect_content("link_in", "hello");
	expect_content("sub/up", "hello");
	expect_content("link_subdir/inner.txt", "inner");
}

Test(path_open_beneath, bad_root_fd)
{
	cr_expect_eq(path_open_beneath(-1, "file.txt"), -EBADF);
}

/* The fallback for kernels without openat2, exercised on this kernel by a
 * seccomp filter that makes openat2 fail with ENOSYS.  Criterion runs each
 * test in its own process, so the filter dies with the test. */
#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

static void hide_openat2(void)
{
#ifdef NATIVE_AUDIT_ARCH
	struct sock_filter filter[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
	struct open_how_probe {
		unsigned long long flags, mode, resolve;
	} how = {0, 0, 0};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		cr_skip_test("cannot install a seccomp filter: %s", strerror(errno));
	cr_assert_eq(syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how)), -1);
	cr_assert_eq(errno, ENOSYS);
#else
	cr_skip_test("no seccomp arch constant for this architecture");
#endif
}

Test(path_open_beneath, fallback_opens_files_and_dirs)
{
	hide_openat2();
	expect_content("file.txt", "hello");
	expect_content(".hidden", "dot");
	expect_content("sub/inner.txt", "inner");
	expect_dir("");
	expect_dir("sub");
}

Test(path_open_beneath, fallback_errors)
{
	hide_openat2();
	expect_open_err("nope", -ENOENT);
	expect_open_err("sub/nope", -ENOENT);
	expect_open_err("nope/x", -ENOENT);
	expect_open_err("file.txt/x", -ENOTDIR);
	expect_open_err("../outside", -EXDEV);
	expect_open_err("sub/../../outside", -EXDEV);
	expect_open_err("/etc/passwd", -EXDEV);
}

Test(path_open_beneath, fallback_refuses_all_symlinks)
{
	hide_openat2();
	/* escaping ones ... */
	expect_open_err("link_abs", -ELOOP);
	expect_open_err("link_rel", -ELOOP);
	expect_open_err("link_dir/passwd", -ELOOP);
	/* ... and, documented, harmless ones too */
	expect_open_err("link_in", -ELOOP);
	expect_open_err("sub/up", -ELOOP);
	expect_open_err("link_subdir/inner.txt", -ELOOP);
}

/* Some container runtimes' seccomp filters answer openat2 with EPERM, not
 * ENOSYS: the walk must take over as well (every GET was a 403), and for
 * good, so that the mode main.c logs at start is the one in use. */
static void refuse_openat2(int err)
{
#ifdef NATIVE_AUDIT_ARCH
	struct sock_filter filter[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		cr_skip_test("cannot install a seccomp filter: %s", strerror(errno));
#else
	(void)err;
	cr_skip_test("no seccomp arch constant for this architecture");
#endif
}

Test(path_open_beneath, eperm_from_a_seccomp_filter_falls_back)
{
	refuse_openat2(EPERM);
	cr_assert_eq(path_open_mode(), PATH_OPEN_UNKNOWN);
	expect_content("file.txt", "hello");
	expect_content("sub/inner.txt", "inner");
	expect_dir("");
	cr_assert_eq(path_open_mode(), PATH_OPEN_WALK);
	expect_open_err("../outside", -EXDEV);
	expect_open_err("link_in", -ELOOP);
}

Test(path_open_beneath, probe_names_the_mode_in_use)
{
	cr_assert_eq(path_open_probe(root_fd), PATH_OPEN_OPENAT2);
	cr_assert_str_eq(path_open_mode_describe(path_open_mode()), "openat2(RESOLVE_BENEATH)");
	expect_content("link_in", "hello");
}

Test(path_open_beneath, probe_sees_a_refused_openat2)
{
	refuse_openat2(EPERM);
	cr_assert_eq(path_open_probe(root_fd), PATH_OPEN_WALK);
	cr_assert(strstr(path_open_mode_describe(PATH_OPEN_WALK), "walk") != NULL);
	expect_content("file.txt", "hello");
}

Test(path_open_beneath, probe_sees_a_missing_openat2)
{
	refuse_openat2(ENOSYS);
	cr_assert_eq(path_open_probe(root_fd), PATH_OPEN_WALK);
}
