/* http_parse.h - HTTP/1.1 request-head parser (RFC 9112), a pure function.
 *
 * The parser never touches a socket: it looks at the bytes a caller has
 * buffered so far and answers DONE (a whole request head is there), NEED_MORE
 * (keep reading) or ERROR (with the HTTP status to answer).  All strings in
 * struct http_request point into the caller's buffer; nothing is allocated,
 * so the buffer must outlive the request. */
#ifndef MTH_HTTP_PARSE_H
#define MTH_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Hard upper bound of header fields (the configurable limit is below it). */
#define HTTP_MAX_HEADERS 100

enum http_method {
	HTTP_M_UNKNOWN = 0, /* a syntactically valid token we do not know: 501 */
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_POST,
	HTTP_M_PUT,
	HTTP_M_DELETE,
	HTTP_M_CONNECT,
	HTTP_M_OPTIONS,
	HTTP_M_TRACE,
	HTTP_M_PATCH,
};

enum http_parse_status {
	HTTP_PARSE_DONE,
	HTTP_PARSE_NEED_MORE,
	HTTP_PARSE_ERROR,
};

struct http_limits {
	size_t max_request_line; /* bytes, without CRLF; over it: 414 */
	size_t max_header_bytes; /* bytes of all field lines; over it: 431 */
	size_t max_headers;      /* field lines, <= HTTP_MAX_HEADERS; over: 431 */
};
/* (A larger max_headers is clamped to HTTP_MAX_HEADERS.) */

/* 8 KiB request line, 16 KiB of fields, 100 fields. */
extern const struct http_limits http_default_limits;

struct http_header {
	struct mth_str name;  /* as sent (case preserved) */
	struct mth_str value; /* leading and trailing OWS removed */
};

struct http_request {
	enum http_method method;
	struct mth_str method_token;
	struct mth_str target;    /* the request-target exactly as sent */
	/* absolute-form ("http://authority/path"): the authority; else len 0 */
	struct mth_str target_authority;
	/* the path and query: the target itself for origin-form, the part after
	 * the authority for absolute-form ("/" when it is empty, a static
	 * string; "?q" as sent for "http://host?q") */
	struct mth_str path;
	int version_major;        /* always 1 when DONE */
	int version_minor;        /* 0 or 1 (a higher minor is reported as 1) */

	struct http_header headers[HTTP_MAX_HEADERS];
	size_t n_headers;
	size_t head_len;          /* bytes consumed, including the empty line
				   * and any skipped empty lines before the
				   * request line */

	/* Derived and validated from the fields: */
	bool has_host;
	struct mth_str host;      /* Host value (len 0 if absent) */
	int64_t content_length;   /* -1 when absent */
	bool has_transfer_encoding;
	bool te_chunked;          /* Transfer-Encoding is exactly "chunked" */
	bool conn_close;          /* Connection: close */
	bool conn_keep_alive;     /* Connection: keep-alive */
	bool expect_continue;     /* Expect: 100-continue */
	struct mth_str content_type; /* len 0 if absent */
};

/* Parse the head at the start of BUF (LEN bytes buffered so far).
 * Returns:
 *   HTTP_PARSE_DONE       *REQ is filled; REQ->head_len bytes make the head.
 *   HTTP_PARSE_NEED_MORE  no complete head yet and no limit exceeded.
 *   HTTP_PARSE_ERROR      *STATUS is set to the status to answer:
 *     400 malformed request line or field, bare CR/LF, NUL or control
 *         characters, whitespace before a colon, obs-fold, a target that is
 *         neither origin-form nor absolute-form "http://", HTTP/1.1 without
 *         Host, more than one Host, Content-Length together with
 *         Transfer-Encoding, duplicate or malformed Content-Length;
 *     414 request line longer than LIMITS->max_request_line;
 *     431 field lines over LIMITS->max_header_bytes or ->max_headers;
 *     505 an HTTP major version other than 1.
 * Up to a few empty lines before the request line are skipped (RFC 9112
 * section 2.2).  LIMITS may be NULL for http_default_limits.
 *
 * Details: up to 4 empty lines are skipped, a 5th is a 400.  A method token
 * over 32 characters is a 400 (an unknown shorter one is DONE with
 * HTTP_M_UNKNOWN).  414 and 431 are reported as soon as the buffered bytes
 * prove the limit exceeded, before the head is complete; 505 as soon as
 * the request line is.  A longer buffer with the same prefix never changes
 * a DONE or an ERROR.  *STATUS is written only on ERROR; on NEED_MORE and
 * ERROR the contents of *REQ are unspecified.  Absent strings have len 0
 * and point at a static "" (never NULL). */
enum http_parse_status http_parse_request(const char *buf, size_t len,
					  const struct http_limits *limits,
					  struct http_request *req, int *status);

/* Case-insensitive lookup of the first field named NAME; NULL if absent. */
const struct http_header *http_request_header(const struct http_request *req,
					      const char *name);

const char *http_method_name(enum http_method m);

#endif
