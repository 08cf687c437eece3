/* http_range.h - byte range requests (RFC 9110 section 14): the Range field,
 * If-Range, Content-Range and multipart/byteranges framing.
 *
 * Pure functions: no I/O, no allocation, safe on any input.  Sizes and
 * positions are uint64_t and must be at most INT64_MAX (an off_t). */
#ifndef MTH_HTTP_RANGE_H
#define MTH_HTTP_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_etag.h"
#include "http_parse.h"

/* Hard upper bound of ranges in one response; the configurable limit
 * (max_ranges) is clamped to it. */
#define HTTP_RANGES_MAX 32
#define HTTP_RANGES_DEFAULT 16

/* "bytes " 20 "-" 20 "/" 20 and a NUL, rounded up. */
#define HTTP_CONTENT_RANGE_SIZE 72

/* "mthttpd-" and 16 hex digits (RFC 2046 section 5.1.1: at most 70). */
#define HTTP_RANGE_BOUNDARY_LEN 24
#define HTTP_RANGE_BOUNDARY_SIZE (HTTP_RANGE_BOUNDARY_LEN + 1)

/* One satisfiable range: FIRST..LAST inclusive, LAST < the size. */
struct http_range {
	uint64_t first;
	uint64_t last;
};

struct http_ranges {
	size_t n;
	struct http_range r[HTTP_RANGES_MAX];
};

enum http_range_result {
	HTTP_RANGE_IGNORE,	  /* serve the whole representation: 200 */
	HTTP_RANGE_PARTIAL,	  /* 206; n == 1: Content-Range, else multipart */
	HTTP_RANGE_UNSATISFIABLE, /* 416 with Content-Range: "bytes *" "/SIZE" */
};

/* Parse a Range field value VALUE/LEN against a representation of SIZE
 * bytes, keeping at most MAX_RANGES ranges (clamped to HTTP_RANGES_MAX; 0
 * turns range support off: always IGNORE).
 *
 *   IGNORE         the unit is not "bytes" (compared case-insensitively),
 *                  the value is syntactically invalid (including a
 *                  last-pos below its first-pos and an empty range-set),
 *                  too many ranges (reading left to right, overlapping and
 *                  adjacent ranges are merged at once; a range that merges
 *                  with none of the MAX_RANGES already kept is one too
 *                  many), or SIZE is 0 and a suffix-range asks for its last
 *                  bytes;
 *   UNSATISFIABLE  valid, and no range-spec is satisfiable: every first-pos
 *                  is >= SIZE and every suffix-length is 0;
 *   PARTIAL        OUT->n >= 1 ranges, each clipped to SIZE, pairwise
 *                  neither overlapping nor adjacent, in the order in which
 *                  their first range-spec appeared.
 * OUT->n is 0 unless PARTIAL.  Numbers too large for 64 bits saturate
 * (a huge first-pos is unsatisfiable, a huge last-pos or suffix-length
 * means "to the end"). */
enum http_range_result http_range_parse(const char *value, size_t len, uint64_t size,
					size_t max_ranges, struct http_ranges *out);

/* Section 14.2 and 13.2.2 step 5 for one request, after
 * http_conditional_evaluate() said 200: IGNORE unless the method is GET,
 * there is exactly one Range field line, and there is no If-Range or one
 * If-Range line for which http_etag_if_range() is true; otherwise
 * http_range_parse() decides. */
enum http_range_result http_range_select(const struct http_request *req,
					 const struct http_validators *v, uint64_t size,
					 size_t max_ranges, struct http_ranges *out);

/* The Content-Range field value "bytes FIRST-LAST/SIZE", or the
 * unsatisfied-range form "bytes *" "/SIZE" when R is NULL (a 416; RFC 9110
 * section 14.4).  Writes it NUL-terminated
 * and returns its length, or 0 when OUTSZ is too small;
 * HTTP_CONTENT_RANGE_SIZE is always enough. */
size_t http_range_content_range(char *out, size_t outsz, const struct http_range *r, uint64_t size);

/* A multipart boundary from 64 random bits (the caller's: random_u64(),
 * unpredictable, so that no uploader can plant the boundary in a file it
 * later asks ranges of): "mthttpd-" and 16 hex digits, written
 * NUL-terminated into OUT (HTTP_RANGE_BOUNDARY_SIZE bytes).  A boundary
 * must not occur in the content (RFC 2046 section 5.1.1); 64 random bits
 * make that a matter of chance 2^-64 per position, which is what nginx and
 * Apache rely on as well. */
void http_range_boundary(char *out, uint64_t rnd);

/* multipart/byteranges (RFC 9110 section 14.6) body layout, as nginx sends
 * it, for ranges R[0..n-1]:
 *
 *   for each range:  CRLF "--" BOUNDARY CRLF
 *                    [ "Content-Type: " CTYPE CRLF ]
 *                    "Content-Range: bytes FIRST-LAST/SIZE" CRLF
 *                    CRLF
 *                    the LAST-FIRST+1 bytes of the range
 *   then:            CRLF "--" BOUNDARY "--" CRLF
 *
 * (the leading CRLF of the first part is an empty preamble, RFC 2046
 * section 5.1.1).  The response's own Content-Type is
 * "multipart/byteranges; boundary=" BOUNDARY.  CTYPE may be NULL (no
 * Content-Type line in the parts).
 *
 * http_range_part_head() writes the head of one part, NUL-terminated, and
 * returns its length, or 0 when OUTSZ is too small (then
 * http_range_part_head_len() + 1 is what it needs).
 * http_range_multipart_tail() writes the closing delimiter likewise.
 * http_range_multipart_length() is the exact Content-Length of the whole
 * body: the sum of the part heads, the ranges and the tail. */
size_t http_range_part_head(char *out, size_t outsz, const char *boundary, const char *ctype,
			    const struct http_range *r, uint64_t size);
size_t http_range_part_head_len(const char *boundary, const char *ctype, const struct http_range *r,
				uint64_t size);
size_t http_range_multipart_tail(char *out, size_t outsz, const char *boundary);
uint64_t http_range_multipart_length(const struct http_ranges *rs, const char *boundary,
				     const char *ctype, uint64_t size);

#endif
