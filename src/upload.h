/* upload.h - POST /upload: the JSON document, its file name, durable storage.
 *
 * Everything here is independent of HTTP framing and sockets: the
 * connection feeds body bytes to an upload_stream as they arrive (or hands
 * over a complete body to upload_store()); either returns success only once
 * the new file and its directory entry are on stable storage. */
#ifndef MTH_UPLOAD_H
#define MTH_UPLOAD_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define UPLOAD_NAME_MAX 64

/* "application/json" with optional parameters ("; charset=utf-8"),
 * type/subtype case-insensitive, optional whitespace around ';'. */
bool upload_content_type_ok(const char *value, size_t len);

/* Validate BODY as one complete JSON text (json_validate.h: RFC 8259,
 * nothing but whitespace after it, nesting at most 32 deep).  An empty body
 * is invalid.  Returns 0, or -EINVAL with a short reason in ERR
 * ("unexpected end of data" etc.), or -ENOMEM ("out of memory"). */
int upload_validate_json(const char *body, size_t len, char *err, size_t errlen);

/* "upload_<YYYYmmddTHHMMSSZ>_<16 hex random>.json" for time NOW (UTC).
 * Returns 0, -ENAMETOOLONG if OUTSZ cannot hold the name (45 characters
 * and a NUL), or -EOVERFLOW for a year outside 0000-9999. */
int upload_make_name(char *out, size_t outsz, time_t now);

/* True for a name upload_make_name() can produce (used to decide what
 * GET /uploads/NAME may serve). */
bool upload_name_valid(const char *name);

/* Where the file system has no O_TMPFILE (NFS, CephFS, vfat), or
 * upload_force_named_temp() says so, an upload's temporary file is a
 * hidden ".mthttpd-tmp.<node>.<pid>.<16 hex>" in the same directory, given
 * its final name by renameat2(RENAME_NOREPLACE) or, where that is missing,
 * link() + unlink(): never replacing an existing upload either way.
 *
 * upload_init(): this node's name from gethostname() (letters, digits,
 * '-', '_', '.'; anything else becomes '_'; at most 64 characters) and
 * the switch.  Call once at start, before any thread stores;
 * upload_set_node_name() and upload_force_named_temp() are for tests. */
void upload_init(bool force_named_temp);
void upload_set_node_name(const char *host);
const char *upload_node_name(void);
void upload_force_named_temp(bool on);

/* What uploads into DIRFD use, tried once (an O_TMPFILE file opened and
 * closed); every upload still tries O_TMPFILE first unless forced, so a
 * later failure falls back per upload as well. */
enum upload_temp_mode {
	UPLOAD_TEMP_UNNAMED, /* O_TMPFILE + linkat */
	UPLOAD_TEMP_NAMED,   /* the file system has no O_TMPFILE */
	UPLOAD_TEMP_FORCED,  /* named, by upload_force_named_temp() */
};

/* A mode, or a negative errno (the directory refused the probe: EACCES,
 * EROFS ...). */
int upload_probe(int dirfd);
const char *upload_temp_mode_describe(int mode);

/* Store BODY as a new file in the directory DIRFD: written to an unnamed
 * temporary file (O_TMPFILE, or a hidden named one where the file system
 * lacks it, see above) with O_DSYNC, linked under a fresh name that never
 * replaces an existing file, then the directory is fsync'd -- by one fsync
 * shared with the other uploads to DIRFD that are waiting at the same time
 * (group commit; see upload.c).  On success writes the name into NAME
 * (UPLOAD_NAME_MAX bytes) and returns 0.  On failure nothing is left behind
 * and a negative errno is returned: -ENOSPC or -EDQUOT (answer 507),
 * anything else (answer 500).  DIRFD must be opened for reading
 * (O_RDONLY|O_DIRECTORY, not O_PATH): it is fsync'd.  It must stay open
 * until the call returns, and so must any other descriptor used with
 * upload_store() at the same time.  The file's mode is 0640 less the
 * umask.  Safe to call from any number of threads at once. */
int upload_store(int dirfd, const char *body, size_t len, char *name);

/* The streaming form of upload_store(): a temporary file in DIRFD that the
 * body is validated into and written to as it arrives, through one fixed
 * buffer of UPLOAD_STREAM_BUF bytes, whatever its size.  The same rules
 * for DIRFD as for upload_store().  Not thread-safe per stream (one
 * connection owns it); any number of streams may be used at once. */
#define UPLOAD_STREAM_BUF ((size_t)64 * 1024)

struct upload_stream;

/* 0 and *OUT, or a negative errno (-ENOSPC/-EDQUOT: answer 507). */
int upload_stream_open(int dirfd, struct upload_stream **out);

/* Where the next body bytes may be put (ROOM > 0 bytes of room), to be
 * accepted by upload_stream_advance(): a socket can be read straight into
 * the stream's buffer. */
char *upload_stream_space(struct upload_stream *s, size_t *room);

/* Accept N bytes put at upload_stream_space().  0, -EINVAL when the body
 * can no longer be JSON (reason: upload_stream_error()), or another
 * negative errno when writing failed (-ENOSPC/-EDQUOT: answer 507). */
int upload_stream_advance(struct upload_stream *s, size_t n);

/* upload_stream_space() + copy + upload_stream_advance(), as often as
 * needed for LEN bytes. */
int upload_stream_write(struct upload_stream *s, const char *data, size_t len);

/* The end of the body: when it is one JSON text, make it durable, link it
 * under a fresh name (into NAME, UPLOAD_NAME_MAX bytes) and fsync the
 * directory, as upload_store() does, and return 0.  Otherwise -EINVAL
 * (invalid JSON; upload_stream_error() says why) or another negative
 * errno; nothing is left behind once the stream is freed. */
int upload_stream_finish(struct upload_stream *s, char *name);

/* Body bytes accepted so far. */
uint64_t upload_stream_bytes(const struct upload_stream *s);

/* Why the body is not JSON, or NULL. */
const char *upload_stream_error(const struct upload_stream *s);

/* Discard the stream: an unfinished temporary file goes with it.  NULL is
 * fine. */
void upload_stream_free(struct upload_stream *s);

/* True for the name of a hidden temporary file of upload_store() or a
 * stream, of any node (".mthttpd-tmp.*"), or of an earlier version
 * (".upload-*.tmp"). */
bool upload_temp_name(const char *name);

/* True for a temporary file name that carries this node's name
 * (".mthttpd-tmp.<node>.<pid>.<16 hex>"). */
bool upload_temp_is_own(const char *name);

/* A directory stream over DIRFD's directory with an offset of its own (a
 * dup() would share DIRFD's), or NULL with errno set. */
DIR *upload_opendir(int dirfd);

/* Remove this node's leftover temporary files (from a crash) in DIRFD:
 * only those named with this node's name (upload_temp_is_own()), since
 * other nodes sharing the directory may be writing theirs; and not those
 * of process SPARE (> 0: this process on reload, its uploads in flight).
 * Returns the number removed or a negative errno (the first failure; the
 * other entries are still tried).  Directories with such names are left
 * alone. */
int upload_cleanup_temp(int dirfd, pid_t spare);

#endif
