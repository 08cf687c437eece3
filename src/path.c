/* path.c - from request-target to a file beneath the document root.
 *
 * Two independent fences keep a request inside the root:
 *  1. path_normalize() refuses anything that could name a parent ("." and
 *     ".." segments, also when percent-encoded) or smuggle a separator
 *     ("%2F", backslashes) or terminate a C string early ("%00");
 *  2. path_open_beneath() opens with openat2(RESOLVE_BENEATH), so even a
 *     symlink planted inside the root cannot lead outside it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "path.h"
#include "util.h"

/* openat2 may fail with EAGAIN when a concurrent rename makes the kernel
 * unsure that ".." stayed beneath the root; that is rare, so a few retries
 * suffice, and a bound keeps a hostile rename loop from pinning a worker. */
#define PATH_OPEN_RETRIES 8


/* Bytes no file name served over HTTP should contain.  A NUL would cut
 * the C string short; a backslash is a separator on other systems (and in
 * some clients' idea of a URL); control characters have no use in a name
 * and would let a request write terminal escapes or fake lines into logs. */
static int is_forbidden_byte(unsigned char c)
{
	return c < 0x20 || c == 0x7f || c == '\\';
}

/* 1 for the bytes that path_normalize() copies as they are in the middle
 * of a segment: everything but the forbidden bytes, '%' and '/'. */
static const unsigned char plain_byte[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
	1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x20 '%' '/' */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50 backslash */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x70 DEL */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x80 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x90 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xa0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xb0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xc0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xd0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xe0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xf0 */
};

/* RFC 3986 section 2.4: decode once, and only here, so that "%252e"
 * stays the three characters "%2e" and never becomes ".".
 *
 * Errors are reported in the order they occur, left to right; any of them
 * refuses the request, so which one wins only affects the status code. */
int path_normalize(const char *target, size_t len, char *out, size_t outsz, int *is_dir)
{
	const char *q;
	size_t o = 0, seg = 0, i;
	unsigned depth = 0;
	int ret;

	if (outsz == 0)
		return -ENAMETOOLONG;
	if (outsz > (size_t)INT_MAX)
		outsz = (size_t)INT_MAX; /* the length must fit the return type */
	out[0] = '\0';
	if (!target || len == 0 || target[0] != '/')
		return -EINVAL;

	/* RFC 9112 section 3.2.1: origin-form = absolute-path [ "?" query ];
	 * the query selects nothing in a static file tree. */
	q = memchr(target, '?', len);
	if (q)
		len = (size_t)(q - target);

	for (i = 0; i <= len; i++) {
		unsigned char c;
		size_t run;

		if (i == len || target[i] == '/') {
			size_t slen;

			if (o == seg) /* empty segment: "//" or the leading '/' */
				continue;
			slen = o - seg;
			/* Checked after decoding, so "%2e%2E" is caught too. */
			if ((slen == 1 && out[seg] == '.') ||
			    (slen == 2 && out[seg] == '.' && out[seg + 1] == '.')) {
				ret = -EACCES;
				goto fail;
			}
			seg = o;
			continue;
		}

		c = (unsigned char)target[i];
		if (c == '%') {
			int hi, lo;

			if (len - i < 3) {
				ret = -EINVAL;
				goto fail;
			}
			hi = mth_hex_value((unsigned char)target[i + 1]);
			lo = mth_hex_value((unsigned char)target[i + 2]);
			if (hi < 0 || lo < 0) {
				ret = -EINVAL;
				goto fail;
			}
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
			/* An encoded '/' would put a separator inside one
			 * segment; Apache's AllowEncodedSlashes Off refuses
			 * it as well, and no file name can contain one. */
			if (c == '/') {
				ret = -EACCES;
				goto fail;
			}
		}
		if (is_forbidden_byte(c)) {
			ret = -EACCES;
			goto fail;
		}

		if (o == seg) {
			/* first byte of a new segment */
			if (++depth > PATH_MAX_DEPTH) {
				ret = -ENAMETOOLONG;
				goto fail;
			}
			if (o > 0) {
				if (o + 1 >= outsz) {
					ret = -ENAMETOOLONG;
					goto fail;
				}
				out[o++] = '/';
				seg = o;
			}
		}
		if (o + 1 >= outsz) {
			ret = -ENAMETOOLONG;
			goto fail;
		}
		out[o++] = (char)c;

		/* The plain bytes that follow in this segment need none of the
		 * tests above but the room for them: copy the run at once.
		 * Byte by byte, the first of them without room would fail,
		 * which is the case exactly when the run does not fit. */
		{
			const unsigned char *r = (const unsigned char *)target + i + 1;
			const unsigned char *e = (const unsigned char *)target + len;

			while (r < e && plain_byte[*r])
				r++;
			run = (size_t)(r - ((const unsigned char *)target + i + 1));
		}
		if (run) {
			if (o + run >= outsz) {
				ret = -ENAMETOOLONG;
				goto fail;
			}
			memcpy(out + o, target + i + 1, run);
			o += run;
			i += run;
		}
	}

	out[o] = '\0';
	if (is_dir)
		*is_dir = target[len - 1] == '/';
	return (int)o;

fail:
	out[0] = '\0';
	return ret;
}

/* The fallback for kernels without openat2 (before 5.6) or sandboxes that
 * hide it: walk one component at a time with O_NOFOLLOW.  Without
 * RESOLVE_BENEATH we cannot tell a harmless symlink from an escaping one
 * without racing, so this path refuses EVERY symlink (-ELOOP), also those
 * that stay inside the root; and ".." or an absolute path is -EXDEV, as
 * openat2 would report it. */
static int open_beneath_walk(int root_fd, const char *rel)
{
	char name[NAME_MAX + 1];
	const char *p = rel, *slash;
	struct stat st;
	int dfd = root_fd, fd, ret;
	size_t n;

	if (rel[0] == '/')
		return -EXDEV;

	for (;;) {
		while (*p == '/')
			p++;
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		/* trailing slashes: the last component names a directory */
		if (slash && slash[strspn(slash, "/")] == '\0')
			slash = NULL;
		if (n > NAME_MAX) {
			ret = -ENAMETOOLONG;
			goto out;
		}
		if (n == 0) {
			strcpy(name, ".");
		} else {
			memcpy(name, p, n);
			name[n] = '\0';
		}
		if (strcmp(name, "..") == 0) {
			ret = -EXDEV;
			goto out;
		}

		if (!slash) {
			/* last component: O_NOFOLLOW makes a symlink ELOOP */
			do
				fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
			while (fd < 0 && errno == EINTR);
			ret = fd < 0 ? -errno : fd;
			goto out;
		}

		/* O_PATH|O_NOFOLLOW opens a symlink itself rather than failing,
		 * so look at what we got instead of guessing from errno. */
		fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			goto out;
		}
		if (fstat(fd, &st) < 0) {
			ret = -errno;
			close(fd);
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			ret = S_ISLNK(st.st_mode) ? -ELOOP : -ENOTDIR;
			close(fd);
			goto out;
		}
		if (dfd != root_fd)
			close(dfd);
		dfd = fd;
		p = slash + 1;
	}

out:
	if (dfd != root_fd)
		close(dfd);
	return ret;
}

/* PATH_OPEN_UNKNOWN until openat2 first worked or proved unavailable;
 * then fixed for the process (atomic: any worker may decide it). */
static int open_mode = PATH_OPEN_UNKNOWN;

static void set_mode(enum path_open_mode m)
{
	int unknown = PATH_OPEN_UNKNOWN;

	__atomic_compare_exchange_n(&open_mode, &unknown, (int)m, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

enum path_open_mode path_open_mode(void)
{
	return (enum path_open_mode)__atomic_load_n(&open_mode, __ATOMIC_RELAXED);
}

/* Is openat2 itself refused (ENOSYS: kernel < 5.6; EPERM or ENOSYS: a
 * seccomp filter, as some container runtimes install)?  An EPERM from
 * opening one file may also be about that file, so ask again for the
 * root directory itself, which any working openat2 opens. */
static bool openat2_refused(int root_fd, int err)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_BENEATH };
	long fd;

	if (err == ENOSYS)
		return true;
	if (err != EPERM)
		return false;
	fd = syscall(SYS_openat2, root_fd, ".", &how, sizeof(how));
	if (fd >= 0) {
		close((int)fd);
		return false;
	}
	return errno == EPERM || errno == ENOSYS;
}

enum path_open_mode path_open_probe(int root_fd)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_BENEATH };
	long fd;
	int saved = errno;

	if (path_open_mode() == PATH_OPEN_UNKNOWN) {
		fd = syscall(SYS_openat2, root_fd, ".", &how, sizeof(how));
		if (fd >= 0) {
			close((int)fd);
			set_mode(PATH_OPEN_OPENAT2);
		} else if (openat2_refused(root_fd, errno)) {
			set_mode(PATH_OPEN_WALK);
		}
	}
	errno = saved;
	return path_open_mode();
}

const char *path_open_mode_describe(enum path_open_mode m)
{
	switch (m) {
	case PATH_OPEN_OPENAT2:
		return "openat2(RESOLVE_BENEATH)";
	case PATH_OPEN_WALK:
		return "a component-by-component O_NOFOLLOW walk (openat2 is unavailable or "
		       "refused by a seccomp filter; every symlink is refused)";
	case PATH_OPEN_UNKNOWN:
	default:
		return "openat2(RESOLVE_BENEATH) if it works, else an O_NOFOLLOW walk";
	}
}

int path_open_beneath(int root_fd, const char *rel)
{
	/* RESOLVE_BENEATH: no "..", absolute path or symlink may resolve to
	 * anything outside ROOT_FD (-EXDEV); symlinks that stay inside are
	 * fine.  RESOLVE_NO_MAGICLINKS: no /proc/self/fd style jumps;
	 * RESOLVE_BENEATH implies that today, but openat2(2) says it "may
	 * change in the future", so ask for it explicitly. */
	struct open_how how = {
	    .flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK, /* a FIFO must not block a worker */
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	const char *p = rel && rel[0] ? rel : ".";

	if (path_open_mode() == PATH_OPEN_WALK)
		return open_beneath_walk(root_fd, p);
	for (int tries = 0; tries < PATH_OPEN_RETRIES; tries++) {
		long fd = syscall(SYS_openat2, root_fd, p, &how, sizeof(how));
		if (fd >= 0) {
			if (MTH_UNLIKELY(path_open_mode() == PATH_OPEN_UNKNOWN))
				set_mode(PATH_OPEN_OPENAT2);
			return (int)fd;
		}
		if (openat2_refused(root_fd, errno)) {
			set_mode(PATH_OPEN_WALK);
			return open_beneath_walk(root_fd, p);
		}
		if (errno != EINTR && errno != EAGAIN)
			break;
	}
	return -errno;
}

size_t path_extension(const char *path, char *out, size_t outsz)
{
	const char *base = path_basename(path);
	const char *dot = strrchr(base, '.');
	size_t n = 0;

	if (outsz == 0)
		return 0;
	/* ".bashrc" is a hidden file without an extension, not a "bashrc" */
	if (dot && dot != base) {
		for (const char *s = dot + 1; *s && n + 1 < outsz; s++, n++)
			out[n] = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
	}
	out[n] = '\0';
	return n;
}

const char *path_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}
