/* mime.h - file extension -> media type, from /etc/mime.types (Debian's
 * media-types package) with a built-in table for when it is missing. */
#ifndef MTH_MIME_H
#define MTH_MIME_H

#include <stddef.h>

#define MIME_TYPES_PATH "/etc/mime.types"
#define MIME_DEFAULT_TYPE "application/octet-stream"

struct mime_table; /* opaque, immutable once built */

/* Build a table from a mime.types-format text (lines "type ext ext...", '#'
 * comments).  The built-in entries are always present; TEXT (may be NULL)
 * overrides and extends them; for an extension listed twice the later line
 * wins.  Lines whose type is not "type/subtype" made of RFC 9110 tchars
 * are skipped, as are extensions over 31 bytes and any new extension past
 * 65536 entries.  Returns NULL only on allocation failure. */
struct mime_table *mime_table_from_text(const char *text, size_t len);

/* Read PATH (usually MIME_TYPES_PATH); a missing or unreadable file, one
 * that is not a regular file or one over 4 MiB gives the built-in table
 * alone.  Returns NULL only on allocation failure. */
struct mime_table *mime_table_load(const char *path);

void mime_table_free(struct mime_table *t); /* accepts NULL */

/* Content-Type value for a lower-case extension without the dot ("html").
 * text/html and text/plain (and other text/ types) get "; charset=utf-8".
 * Unknown or empty extensions give MIME_DEFAULT_TYPE.  Never NULL; the
 * string lives as long as the table.  EXT is in fact matched without
 * regard to case.  Safe to call from many threads at once: no lock, no
 * allocation. */
const char *mime_lookup(const struct mime_table *t, const char *ext);

#endif
