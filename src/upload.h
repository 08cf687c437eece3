/* upload.h - POST /upload: the JSON document, its file name, durable storage.
 *
 * Everything here is independent of HTTP framing and sockets: the router
 * hands over a complete body; upload_store() returns only once the new file
 * and its directory entry are on stable storage. */
#ifndef MTH_UPLOAD_H
#define MTH_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define UPLOAD_NAME_MAX 64

/* "application/json" with optional parameters ("; charset=utf-8"),
 * type/subtype case-insensitive, optional whitespace around ';'. */
bool upload_content_type_ok(const char *value, size_t len);

/* Validate BODY as one complete JSON text with json-c (strict mode, nothing
 * but whitespace after it).  An empty body is invalid.  Returns 0, or
 * -EINVAL with a short reason in ERR ("unexpected end of data" etc.).
 * (-ENOMEM, reason "out of memory", if json-c cannot allocate its tokener.)
 * Beyond json-c's strict mode, NaN/Infinity, "1.", single-quoted keys, raw
 * control characters and ill-formed UTF-8 in strings are refused (RFC 8259);
 * nesting is limited to json-c's default depth of 32. */
int upload_validate_json(const char *body, size_t len, char *err, size_t errlen);

/* "upload_<YYYYmmddTHHMMSSZ>_<16 hex random>.json" for time NOW (UTC).
 * Returns 0, -ENAMETOOLONG if OUTSZ cannot hold the name (45 characters
 * and a NUL), or -EOVERFLOW for a year outside 0000-9999. */
int upload_make_name(char *out, size_t outsz, time_t now);

/* True for a name upload_make_name() can produce (used to decide what
 * GET /uploads/NAME may serve). */
bool upload_name_valid(const char *name);

/* Store BODY as a new file in the directory DIRFD: written to an unnamed
 * temporary file (O_TMPFILE, or a hidden ".upload-*.tmp" where the file
 * system lacks it) with O_DSYNC, linked under a fresh name that never
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

/* Remove leftover ".upload-*.tmp" files (from a crash) in DIRFD.  Returns
 * the number removed or a negative errno (the first failure; the other
 * entries are still tried).  Directories with such names are left alone. */
int upload_cleanup_temp(int dirfd);

#endif
