/* response.h - status lines, response heads and error bodies.
 *
 * Pure formatting into a caller's buffer: no allocation, no I/O, so the
 * connection code can build a whole response head with one call and send it
 * with one write. */
#ifndef MTH_RESPONSE_H
#define MTH_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESPONSE_SERVER "mthttpd/" PACKAGE_VERSION

struct resp_head {
	int status;
	const char *content_type; /* NULL: no Content-Type field */
	uint64_t content_length;
	bool keep_alive;          /* Connection: keep-alive (else close) */
	unsigned ka_timeout;      /* Keep-Alive: timeout= (when keep_alive) */
	unsigned ka_max;          /* Keep-Alive: max= (when keep_alive) */
	unsigned hsts_max_age;    /* > 0: Strict-Transport-Security (TLS only) */
	const char *extra;        /* further field lines, each ending in CRLF */
	size_t extra_len;
};

/* The reason phrase of STATUS ("Not Found"); "Unknown" if we never send it. */
const char *http_reason(int status);

/* Status line, Date, Server, Content-Type, Content-Length, Connection
 * (+ Keep-Alive), EXTRA and the empty line.  Returns the length written, or
 * 0 when CAP is too small (nothing useful is left in OUT then). */
size_t response_head(char *out, size_t cap, const struct resp_head *h);

/* A small HTML page for an error status.  Returns the length, 0 if CAP is
 * too small. */
size_t response_error_html(char *out, size_t cap, int status);

/* {"status":"error","code":N,"error":"MESSAGE"} with MESSAGE JSON-escaped.
 * Returns the length, 0 if CAP is too small. */
size_t response_error_json(char *out, size_t cap, int status, const char *message);

/* Appends "Content-Disposition: attachment; filename=..." for NAME to OUT:
 * an ASCII-safe quoted filename (quotes, backslashes, controls and non-ASCII
 * replaced by '_') and, when NAME is not plain ASCII, an RFC 8187 filename*
 * with the UTF-8 name percent-encoded (RFC 6266 section 4.3).  Returns the
 * length written or 0 if CAP is too small. */
size_t response_content_disposition(char *out, size_t cap, const char *name);

#endif
