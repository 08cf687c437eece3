/* json_validate.h - streaming RFC 8259 validator with bounded memory.
 *
 * A pushdown automaton over bytes: feed it a document in pieces of any
 * size, split anywhere, and it says whether the bytes so far can still be
 * the start of one JSON text; finish() says whether they are one.  It keeps
 * no token text and builds nothing: its state is a few words and one bit
 * per level of nesting, so validating a body of any size and shape costs
 * the same fixed memory.  Nothing is allocated but the validator itself.
 *
 * Stricter than most parsers, as a stored upload is served back as
 * application/json: no NaN/Infinity, no "1.", no comments, no single
 * quotes, no raw control characters or ill-formed UTF-8 in strings, no NUL
 * anywhere, nothing but whitespace after the text.  (Escaped surrogates
 * such as "\ud800" are grammatical, RFC 8259 section 8.2, and accepted.) */
#ifndef MTH_JSON_VALIDATE_H
#define MTH_JSON_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

/* Containers nested deeper than this are refused (json-c's default). */
#define JSON_VALIDATE_DEPTH_DEFAULT 32
#define JSON_VALIDATE_DEPTH_MAX 64

struct json_validate;

/* A validator for documents nested at most MAX_DEPTH deep (0: the
 * default; more than JSON_VALIDATE_DEPTH_MAX is clamped).  NULL when out
 * of memory. */
struct json_validate *json_validate_new(unsigned max_depth);
void json_validate_free(struct json_validate *v);

/* Ready for a new document, keeping the depth limit. */
void json_validate_reset(struct json_validate *v);

/* The next LEN bytes of the document.  0 while they may still be part of
 * one JSON text, -EINVAL once they cannot (sticky: later calls return
 * -EINVAL and consume nothing). */
int json_validate_feed(struct json_validate *v, const char *buf, size_t len);

/* End of input: 0 if everything fed is exactly one JSON text (with
 * optional whitespace around it), else -EINVAL. */
int json_validate_finish(struct json_validate *v);

/* Why the document was refused ("unexpected end of data", ...), or NULL. */
const char *json_validate_error(const struct json_validate *v);

/* Bytes accepted so far; after an error, the offset of the bad byte. */
uint64_t json_validate_offset(const struct json_validate *v);

#endif
