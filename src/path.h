/* path.h - from request-target to a file beneath a root directory.
 *
 * path_normalize() is pure: it turns the path part of a request-target into a
 * relative path to open.  path_open_beneath() opens it with openat2(2) and
 * RESOLVE_BENEATH, so neither ".." nor a symlink can leave the root. */
#ifndef MTH_PATH_H
#define MTH_PATH_H

#include <stddef.h>

#define PATH_MAX_DEPTH 32 /* segments */
#define PATH_REL_MAX 4096 /* bytes of a normalized relative path, with its NUL */

/* TARGET/LEN is the origin-form path, possibly with "?query" (dropped).
 * Percent-decodes exactly once, then:
 *   -EINVAL    (400) does not start with '/', bad %-escape, empty
 *   -EACCES    (403) a "." or ".." segment, a NUL byte, a backslash or
 *                    another control character (0x01-0x1F, 0x7F) after
 *                    decoding, or a '/' produced by decoding "%2F"
 *   -ENAMETOOLONG (414) longer than OUTSZ-1 or deeper than PATH_MAX_DEPTH
 * On success writes a NUL-terminated relative path into OUT: no leading
 * slash, repeated slashes collapsed, "" for the root; *IS_DIR is set when
 * the target ends in '/' (or is the root).  Returns the length of OUT.
 * The first problem found, left to right, decides the error; OUT is ""
 * after an error.  IS_DIR may be NULL. */
int path_normalize(const char *target, size_t len, char *out, size_t outsz,
		   int *is_dir);

/* How path_open_beneath() opens files: not known until it or
 * path_open_probe() has tried openat2, then fixed for the process. */
enum path_open_mode {
	PATH_OPEN_UNKNOWN,
	PATH_OPEN_OPENAT2, /* openat2(RESOLVE_BENEATH) */
	PATH_OPEN_WALK,    /* openat2 unavailable or refused: the O_NOFOLLOW walk */
};

enum path_open_mode path_open_mode(void);
/* Try openat2 on ROOT_FD now (unless already decided) and return the mode;
 * for start-up, to log which one is in use. */
enum path_open_mode path_open_probe(int root_fd);
/* The mode in words, for that log line. */
const char *path_open_mode_describe(enum path_open_mode m);

/* Open REL (from path_normalize; "" means the root itself) beneath ROOT_FD
 * with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), O_RDONLY|O_CLOEXEC|O_NONBLOCK
 * (O_NONBLOCK: opening a FIFO must never block a worker; reading and
 * sendfile from regular files ignore it).
 * Returns the fd or a negative errno: -ENOENT/-ENOTDIR (404), -EXDEV or
 * -ELOOP (an escape attempt: 403), -EACCES (403), others (500).
 * Without openat2 (ENOSYS: kernel < 5.6; ENOSYS or EPERM: a seccomp filter,
 * as some container runtimes install) it walks the path one component at a
 * time with O_NOFOLLOW instead, for the rest of the process, and that
 * fallback refuses every symlink (-ELOOP), even one that stays beneath the
 * root. */
int path_open_beneath(int root_fd, const char *rel);

/* The extension of the last segment of PATH, lower-cased into OUT (without
 * the dot); "" when there is none or the segment's only dot is its first
 * byte (".bashrc").  Truncated to OUTSZ-1 bytes.  Returns the length. */
size_t path_extension(const char *path, char *out, size_t outsz);

/* The last segment of PATH ("" for the root). */
const char *path_basename(const char *path);

#endif
