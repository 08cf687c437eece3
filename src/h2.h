/* h2.h - HTTP/2 (RFC 9113) over TLS with libnghttp2: the session glue.
 *
 * nghttp2 does the framing, HPACK, stream states and flow control; h2.c
 * feeds it the bytes the connection's transport reads and writes the bytes
 * it produces.  Each request stream becomes an HTTP/1.1-shaped request
 * head that goes through the same parser, router and handlers as a
 * request over HTTP/1.1 (conn_handle_request); the response the handler
 * builds into the stream's iobuf becomes an nghttp2 response whose body is
 * read from that iobuf, the cached copy or the file (pread, per DATA frame,
 * as the peer's windows allow).
 *
 * What conn.c calls is in conn_priv.h (h2_conn_*); here are the parts that
 * need no connection, for the unit tests and the fuzz target. */
#ifndef MTH_H2_H
#define MTH_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#include "util.h"

/* Rapid reset (CVE-2023-44487): RST_STREAM frames a client may send, as a
 * token bucket per connection: a burst, then so many a second.  Beyond it:
 * GOAWAY ENHANCE_YOUR_CALM.  nghttp2's own limiter (1.52 with Debian's
 * backport, 1.57 upstream) gets H2_NGHTTP2_RST_FACTOR times both, so that
 * ours always answers first, with the code the tests expect. */
#define H2_RST_BURST 200
#define H2_RST_RATE 50 /* a second */
#define H2_NGHTTP2_RST_FACTOR 4

/* Response fields at most in one HEADERS frame (ours are about a dozen). */
#define H2_RESPONSE_FIELDS_MAX 32

/* A token bucket in thousandths of a token. */
struct h2_bucket {
	int64_t milli;
	int64_t last_ms;
};

/* Full at NOW_MS. */
void h2_bucket_init(struct h2_bucket *b, unsigned burst, int64_t now_ms);
/* Refill for the time since the last call, then take one token: false
 * when there was none. */
bool h2_bucket_take(struct h2_bucket *b, unsigned burst, unsigned rate, int64_t now_ms);

/* RFC 9113 section 8.2.2: fields that only mean something to one HTTP/1.1
 * connection (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding,
 * Upgrade), never sent over HTTP/2.  NAME in any case. */
bool h2_field_is_connection_specific(const char *name, size_t len);

/* The fields of the HTTP/1.1 response head HEAD (LEN bytes, the status line
 * first, up to its empty line) as nghttp2 name/value pairs into NV (at most
 * MAX), minus the connection-specific ones.  Names are lower-cased in
 * place (RFC 9113 section 8.2.1); the pairs point into HEAD.  Returns how
 * many. */
size_t h2_response_fields(char *head, size_t len, nghttp2_nv *nv, size_t max);

/* A request stream as the HTTP/1.1 parser reads it. */
struct h2_request_parts {
	struct mth_str method;	  /* :method */
	struct mth_str path;	  /* :path */
	struct mth_str authority; /* :authority; len 0: none (Host may be in FIELDS) */
	const char *fields;	  /* "name: value\r\n" lines */
	size_t fields_len;
	bool chunked;	 /* a body of unknown length follows (no Content-Length) */
	bool empty_body; /* END_STREAM on the HEADERS: Content-Length: 0 */
};

/* "METHOD PATH HTTP/1.1", Host from :authority, the fields, the framing
 * field a body needs, the empty line: the length, or 0 when it does not fit
 * CAP.  h2_request_head_len() says how long it is. */
size_t h2_request_head_len(const struct h2_request_parts *p);
size_t h2_request_head(char *out, size_t cap, const struct h2_request_parts *p);

/* The fuzz target's way in: a server session with no socket and no site,
 * whose streams are answered "200 hello" (after the request head is built
 * and parsed as for a real one); what it would send is discarded. */
struct h2_fuzz;
struct h2_fuzz *h2_fuzz_new(void);
void h2_fuzz_feed(struct h2_fuzz *f, const uint8_t *data, size_t len);
void h2_fuzz_free(struct h2_fuzz *f);

#endif
