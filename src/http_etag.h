/* http_etag.h - validators and conditional requests (RFC 9110 section 8.8
 * and section 13): the strong ETag of a file, the three HTTP-date forms a
 * recipient must accept, entity-tag lists and the section 13.2.2 evaluation
 * order of If-Match, If-Unmodified-Since, If-None-Match and
 * If-Modified-Since.
 *
 * Pure functions: no I/O, no allocation, no clock reads (the caller passes
 * "now"), safe on any input. */
#ifndef MTH_HTTP_ETAG_H
#define MTH_HTTP_ETAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "http_parse.h"

/* '"' + 3 x 16 hex digits + 2 '-' + '"' = 52 characters, and a NUL. */
#define HTTP_ETAG_MAX_LEN 52
#define HTTP_ETAG_SIZE (HTTP_ETAG_MAX_LEN + 1)

/* The strong entity tag of a file: "INO-SIZE-MTIME_NS" in lower-case hex,
 * quotes included (RFC 9110 section 8.8.3), e.g. "\"2a-1f40-17c3e1a0b2c4d5e6\"".
 * MTIME_NS is mtime in nanoseconds since the epoch (sec * 10^9 + nsec,
 * modulo 2^64).  A rewrite in place changes the mtime or the size, a
 * replace-by-rename changes the inode.  Writes a NUL-terminated tag into
 * OUT and returns its length, or 0 (and writes nothing) when OUTSZ is below
 * the length + 1; HTTP_ETAG_SIZE is always enough. */
size_t http_etag_make(char *out, size_t outsz, uint64_t ino, uint64_t size, uint64_t mtime_ns);

/* What a response says about the selected representation, computed once
 * per request from fstat() and the request's clock. */
struct http_validators {
	char etag[HTTP_ETAG_SIZE]; /* with quotes, NUL-terminated; "" = none */
	size_t etag_len;	   /* 0: the representation has no ETag */
	bool has_last_modified;
	time_t last_modified; /* whole seconds: the Last-Modified value */
	time_t now;	      /* the time of the response (its Date) */
};

/* Fill V for a regular file.  Last-Modified is the mtime's whole second,
 * but never later than NOW: RFC 9110 section 8.8.2.1 "MUST replace that
 * value with the message origination date".  Send
 *   ETag: V->etag
 *   Last-Modified: http_date_format(V->last_modified)
 * on every 200, 206 and 304 for the file. */
void http_validators_init(struct http_validators *v, uint64_t ino, uint64_t size, int64_t mtime_sec,
			  long mtime_nsec, time_t now);

/* V as http_validators_init() made it for a file of MTIME_SEC, for a
 * response at NOW instead: only last_modified and now change, so a cache
 * can keep V and skip formatting the ETag again. */
void http_validators_redate(struct http_validators *v, int64_t mtime_sec, time_t now);



/* RFC 9110 section 8.8.3.2.  A and B are whole entity-tags ("x" or W/"x").
 * Strong: both strong and the opaque-tags equal.  Weak: the opaque-tags
 * equal, whatever W/ says. */
bool http_etag_eq_strong(const char *a, size_t alen, const char *b, size_t blen);
bool http_etag_eq_weak(const char *a, size_t alen, const char *b, size_t blen);

enum http_etag_list {
	HTTP_ETAG_LIST_INVALID = -1, /* not "*" / #entity-tag */
	HTTP_ETAG_LIST_NO_MATCH = 0,
	HTTP_ETAG_LIST_MATCH = 1,
	HTTP_ETAG_LIST_ANY = 2, /* the value is "*" */
};

/* Match ETAG (ETAG_LEN 0: no tag) against the If-Match / If-None-Match
 * value LIST = "*" / #entity-tag (RFC 9110 sections 13.1.1, 13.1.2 and
 * 5.6.1: OWS around commas, empty elements ignored, an empty value is an
 * empty list).  WEAK selects the comparison function. */
enum http_etag_list http_etag_list_match(const char *list, size_t len, const char *etag,
					 size_t etag_len, bool weak);

/* RFC 9110 section 13.2.2 for a representation that exists and whose
 * response without the conditions would be 200 (section 13.2.1: do not
 * call it otherwise).  Reads If-Match, If-Unmodified-Since, If-None-Match
 * and If-Modified-Since from REQ (every field line of each name) and
 * returns
 *   200  proceed (then, for GET, consider Range: http_range_select()),
 *   304  Not Modified (GET and HEAD only): no content, but the ETag and
 *        Last-Modified fields (section 15.4.5),
 *   412  Precondition Failed.
 * Details (each cited in http_etag.c):
 *   - If-Match uses the strong comparison, "*" is true; an invalid value
 *     is false (412): a precondition we cannot read is not met.
 *   - If-Unmodified-Since is ignored with If-Match, when invalid, when sent
 *     more than once, and without a Last-Modified.
 *   - If-None-Match uses the weak comparison for every method, "*" matches;
 *     an invalid value counts as no match (the full response is always a
 *     safe answer).  A match is 304 for GET/HEAD and 412 otherwise.
 *   - If-Modified-Since only for GET/HEAD, ignored with If-None-Match,
 *     when invalid, when sent more than once, and without a Last-Modified;
 *     Last-Modified <= the date is 304. */
int http_conditional_evaluate(const struct http_request *req, const struct http_validators *v);

/* If-Range (RFC 9110 section 13.1.5) against V: true when the Range field
 * applies.  An entity-tag must equal V's ETag by the strong comparison (a
 * weak tag never does); an HTTP-date must equal Last-Modified exactly, and
 * Last-Modified must be usable as a strong validator: at least 60 seconds
 * older than V->now (section 8.8.2.2).  Anything else is false, and then
 * the whole representation is sent with 200. */
bool http_etag_if_range(const char *value, size_t len, const struct http_validators *v);

#endif
