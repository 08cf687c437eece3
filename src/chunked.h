/* chunked.h - an incremental decoder of the chunked transfer coding of
 * request bodies (RFC 9112 section 7.1).
 *
 * A small state machine the caller keeps per request: feed it whatever
 * bytes arrived, in pieces of any size, and it copies the chunk data out,
 * checks every framing byte and says NEED_MORE, DONE or ERROR (with the
 * status to answer).  How the input is split never changes the outcome,
 * the data or the number of bytes consumed.  No allocation, no I/O. */
#ifndef MTH_CHUNKED_H
#define MTH_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

/* A chunk-size must be below this (RFC 9112 section 7.1: "Recipients MUST
 * anticipate potentially large hexadecimal numerals and prevent security
 * flaws due to integer conversion overflows"). */
#define CHUNKED_SIZE_LIMIT ((uint64_t)1 << 62)

struct chunked_limits {
	uint64_t max_body;  /* decoded bytes; more: 413 */
	size_t max_line;    /* bytes of a chunk-size line before its CRLF
			     * (size and extensions); more: 400 */
	size_t max_trailer; /* bytes of the trailer section, its final CRLF
			     * included; more: 431 */
};

/* max_body 1 MiB (the max_body_size default), max_line 1024,
 * max_trailer 8192. */
extern const struct chunked_limits chunked_default_limits;

enum chunked_status {
	CHUNKED_NEED_MORE, /* all input used, or OUT is full: call again */
	CHUNKED_DONE,	   /* the last chunk and the trailer section are in */
	CHUNKED_ERROR,	   /* chunked_error_status() says what to answer */
};

/* The decoder.  Members are private; use the functions below. */
struct chunked {
	unsigned state;
	int status;	/* on ERROR: 400, 413 or 431 */
	uint64_t size;	/* the chunk-size being read, then the data left */
	uint64_t total; /* decoded bytes so far */
	size_t count;	/* bytes of the current line or trailer section */
	struct chunked_limits lim;
};

/* Start decoding one body.  LIM NULL: chunked_default_limits. */
void chunked_init(struct chunked *st, const struct chunked_limits *lim);

/* Decode from IN (INLEN bytes) into OUT (OUTCAP bytes).  *CONSUMED is set
 * to the input bytes used, *PRODUCED to the data bytes written.  OUT may
 * be the same pointer as IN (decode in place: data only ever moves towards
 * the front); other overlaps are not allowed.
 *
 *   CHUNKED_NEED_MORE  more input is needed: every input byte was used, or
 *                      OUT became full (then *CONSUMED < INLEN: make room
 *                      and call again with the rest).
 *   CHUNKED_DONE       the body ended; *CONSUMED stops right after its final
 *                      CRLF, so the rest of IN is the next (pipelined)
 *                      request.  Further calls consume nothing and say DONE.
 *   CHUNKED_ERROR      chunked_error_status() is
 *                      400  bad syntax: a non-hex chunk-size, chunk-size
 *                           >= CHUNKED_SIZE_LIMIT, whitespace other than
 *                           BWS before ';' or around '=' in an extension,
 *                           a bad extension, a chunk-size line over
 *                           max_line, a bare CR or LF, data not followed by
 *                           CRLF, an invalid trailer field (obs-fold, no
 *                           colon, whitespace before it, control chars);
 *                      413  the body would exceed max_body (decided when a
 *                           chunk-size is complete, before its data);
 *                      431  the trailer section exceeds max_trailer.
 *                      The connection must be closed after the answer: the
 *                      framing is lost.  Further calls consume nothing and
 *                      say ERROR.
 * Chunk extensions are checked and ignored (RFC 9112 section 7.1.1), and
 * so are trailer fields (section 7.1.2). */
enum chunked_status chunked_decode(struct chunked *st, const char *in, size_t inlen, char *out,
				   size_t outcap, size_t *consumed, size_t *produced);

/* The status to answer after CHUNKED_ERROR (0 before any error). */
int chunked_error_status(const struct chunked *st);

/* Decoded bytes so far: the body's length once DONE. */
uint64_t chunked_body_length(const struct chunked *st);

#endif
