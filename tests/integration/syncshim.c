/* syncshim.c - an LD_PRELOAD library for the durability test: it records,
 * in order, what the daemon does that decides whether an upload survives
 * a power cut, and passes every call on unchanged.
 *
 * Written to $MTHTTPD_SYNC_LOG, one line per event, "SEQ EVENT OBJ ...":
 *   open OBJ dsync=0|1   a regular file opened for writing (OBJ names this
 *                        open file until it is closed)
 *   write OBJ            a write(2) to it
 *   sync OBJ             fsync/fdatasync of it, when it returned 0
 *   link OBJ via=fd|proc|name|rename
 *                        it got its name: linkat of the fd, of
 *                        /proc/self/fd/N or of its temporary name, or
 *                        renameat2 of that name
 *   dirsync-start D / dirsync-end D
 *                        fsync of a directory (D: its fd), start and success
 *   answer CODE          a response head sent on a socket ("HTTP/1.1 CODE")
 * SEQ is a process-wide counter, so lines from several threads sort back
 * into the order the calls happened.
 *
 * With MTHTTPD_SYNC_NO_TMPFILE set, openat(O_TMPFILE) fails with
 * EOPNOTSUPP, as on a file system without it; with
 * MTHTTPD_SYNC_NO_RENAME_NOREPLACE set, renameat2(RENAME_NOREPLACE) fails
 * with EINVAL, as on NFS and CephFS (the daemon then links by name).
 * With MTHTTPD_SYNC_NO_SENDFILE set, sendfile(2) fails with EINVAL, as for
 * a file on a file system that cannot feed it (test_server's files.*). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_FD 65536
#define MAX_NAMES 64

static atomic_ulong seq;
static atomic_uint next_obj;
static atomic_uint obj_of[MAX_FD]; /* 0: not a tracked file */
static int log_fd = -2;            /* -2: not opened yet, -1: no log */

/* temporary names (".mthttpd-tmp.*") of tracked files, for link by name */
static struct {
	char name[256];
	unsigned obj;
} names[MAX_NAMES];
static atomic_uint n_names;

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void record(const char *fmt, ...)
{
	char line[512];
	int n, saved = errno;
	va_list ap;

	if (log_fd == -2) {
		const char *path = getenv("MTHTTPD_SYNC_LOG");
		log_fd = path ? (int)syscall(SYS_openat, AT_FDCWD, path,
					     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)
			      : -1;
	}
	if (log_fd < 0)
		goto out;
	n = snprintf(line, sizeof line, "%lu ", atomic_fetch_add(&seq, 1) + 1);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof line - 1)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	(void)syscall(SYS_write, log_fd, line, (size_t)n);
out:
	errno = saved;
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

static unsigned tracked(int fd)
{
	return fd >= 0 && fd < MAX_FD ? atomic_load(&obj_of[fd]) : 0;
}

static bool is_dir(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

int openat(int dfd, const char *path, int flags, ...)
{
	static __typeof__(&openat) real;
	mode_t mode = 0;
	struct stat st;
	int fd;

	if (!real)
		real = NEXT(openat);
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if ((flags & O_TMPFILE) == O_TMPFILE && getenv("MTHTTPD_SYNC_NO_TMPFILE")) {
		errno = EOPNOTSUPP;
		return -1;
	}
	fd = real(dfd, path, flags, mode);
	if (fd >= 0 && fd < MAX_FD && (flags & O_ACCMODE) != O_RDONLY && fstat(fd, &st) == 0 &&
	    S_ISREG(st.st_mode)) {
		unsigned obj = atomic_fetch_add(&next_obj, 1) + 1;

		atomic_store(&obj_of[fd], obj);
		if (flags & O_CREAT) {
			unsigned i = atomic_fetch_add(&n_names, 1) % MAX_NAMES;

			names[i].obj = obj;
			snprintf(names[i].name, sizeof names[i].name, "%s", path);
		}
		record("open %u dsync=%d", obj, (flags & O_DSYNC) == O_DSYNC);
	}
	return fd;
}

int close(int fd)
{
	static __typeof__(&close) real;

	if (!real)
		real = NEXT(close);
	if (fd >= 0 && fd < MAX_FD)
		atomic_store(&obj_of[fd], 0);
	return real(fd);
}

static void note_answer(const void *buf, size_t len)
{
	const char *p = buf;

	if (len >= 12 && memcmp(p, "HTTP/1.1 ", 9) == 0)
		record("answer %.3s", p + 9);
}

ssize_t write(int fd, const void *buf, size_t len)
{
	static __typeof__(&write) real;
	unsigned obj = tracked(fd);

	if (!real)
		real = NEXT(write);
	if (obj)
		record("write %u", obj);
	return real(fd, buf, len);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	static __typeof__(&send) real;

	if (!real)
		real = NEXT(send);
	note_answer(buf, len);
	return real(fd, buf, len, flags);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	static __typeof__(&sendmsg) real;

	if (!real)
		real = NEXT(sendmsg);
	if (msg->msg_iovlen > 0)
		note_answer(msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len);
	return real(fd, msg, flags);
}

ssize_t sendfile(int out, int in, off_t *off, size_t len);
ssize_t sendfile64(int out, int in, off_t *off, size_t len);

/* glibc's sendfile is sendfile64 on 64-bit and with _FILE_OFFSET_BITS=64 */
static ssize_t sendfile_common(int out, int in, off_t *off, size_t len, const char *name)
{
	static ssize_t (*real)(int, int, off_t *, size_t);

	if (getenv("MTHTTPD_SYNC_NO_SENDFILE")) {
		errno = EINVAL;
		return -1;
	}
	if (!real)
		real = (ssize_t(*)(int, int, off_t *, size_t))dlsym(RTLD_NEXT, name);
	return real(out, in, off, len);
}

ssize_t sendfile(int out, int in, off_t *off, size_t len)
{
	return sendfile_common(out, in, off, len, "sendfile");
}

ssize_t sendfile64(int out, int in, off_t *off, size_t len)
{
	return sendfile_common(out, in, off, len, "sendfile64");
}

static int sync_common(int fd, int (*real)(int))
{
	unsigned obj = tracked(fd);
	bool dir = !obj && is_dir(fd);
	int r;

	if (dir)
		record("dirsync-start %d", fd);
	r = real(fd);
	if (r == 0 && obj)
		record("sync %u", obj);
	if (r == 0 && dir)
		record("dirsync-end %d", fd);
	return r;
}

int fsync(int fd)
{
	static __typeof__(&fsync) real;

	if (!real)
		real = NEXT(fsync);
	return sync_common(fd, real);
}

int fdatasync(int fd)
{
	static __typeof__(&fdatasync) real;

	if (!real)
		real = NEXT(fdatasync);
	return sync_common(fd, real);
}

static unsigned obj_named(const char *path)
{
	unsigned n = atomic_load(&n_names);

	for (unsigned i = 0; i < n && i < MAX_NAMES; i++)
		if (names[i].obj && strcmp(names[i].name, path) == 0)
			return names[i].obj;
	return 0;
}

int linkat(int olddfd, const char *oldpath, int newdfd, const char *newpath, int flags)
{
	static __typeof__(&linkat) real;
	const char *via = "name";
	unsigned obj = 0;
	int r;

	if (!real)
		real = NEXT(linkat);
	r = real(olddfd, oldpath, newdfd, newpath, flags);
	if (r != 0)
		return r;
	if ((flags & AT_EMPTY_PATH) && oldpath[0] == '\0') {
		obj = tracked(olddfd);
		via = "fd";
	} else if (strncmp(oldpath, "/proc/self/fd/", 14) == 0) {
		obj = tracked(atoi(oldpath + 14));
		via = "proc";
	} else {
		obj = obj_named(oldpath);
	}
	record("link %u via=%s", obj, via);
	return r;
}

int renameat2(int olddfd, const char *oldpath, int newdfd, const char *newpath,
	      unsigned int flags)
{
	static __typeof__(&renameat2) real;
	int r;

	if (!real)
		real = NEXT(renameat2);
	if ((flags & RENAME_NOREPLACE) && getenv("MTHTTPD_SYNC_NO_RENAME_NOREPLACE")) {
		errno = EINVAL;
		return -1;
	}
	r = real(olddfd, oldpath, newdfd, newpath, flags);
	if (r == 0)
		record("link %u via=rename", obj_named(oldpath));
	return r;
}
