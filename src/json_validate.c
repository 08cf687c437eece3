/* json_validate.c - streaming RFC 8259 validator (see json_validate.h).
 *
 * Two levels of state.  The parser state (`expect`) says what the grammar
 * allows next between tokens; the lexer state (`tok`) says which token the
 * current byte belongs to when a token is split across feed() calls.  The
 * container stack is one bit per level (1: object, 0: array), so the depth
 * limit is also the stack's size. */
#include "json_validate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

enum expect {
	EX_VALUE,       /* a value: top level, after ':' or after ',' in an array */
	EX_ARRAY_FIRST, /* after '[': a value or ']' */
	EX_OBJECT_FIRST,/* after '{': a key or '}' */
	EX_KEY,         /* after ',' in an object */
	EX_COLON,       /* after a key */
	EX_AFTER,       /* after a value inside a container: ',' or its closing bracket */
	EX_DONE,        /* after the top-level value: whitespace only */
};

enum tok {
	TOK_NONE,
	TOK_STRING, /* inside a string */
	TOK_ESCAPE, /* after a backslash */
	TOK_HEX,    /* in \uXXXX, hex_left digits to go */
	TOK_UTF8,   /* in a multi-byte sequence, utf8_left bytes to go */
	TOK_NUMBER, /* see enum num */
	TOK_LITERAL,/* true, false, null: lit points at the rest */
};

/* number = [ "-" ] int [ frac ] [ exp ] (RFC 8259 section 6) */
enum num {
	NUM_MINUS, /* "-": a digit must follow */
	NUM_ZERO,  /* a leading 0: no more int digits */
	NUM_INT,
	NUM_DOT,   /* "." : a digit must follow */
	NUM_FRAC,
	NUM_E,     /* "e": sign or digit */
	NUM_ESIGN, /* "e+": a digit must follow */
	NUM_EXP,
};

struct json_validate {
	enum expect expect;
	enum tok tok;
	enum num num;
	bool key;         /* the string being lexed is an object key */
	bool started;     /* a non-whitespace byte was seen */
	unsigned char hex_left, utf8_left, utf8_lo, utf8_hi;
	const char *lit;
	unsigned depth, max_depth;
	uint64_t stack;   /* bit i: level i+1 is an object */
	uint64_t offset;
	const char *error;
};

struct json_validate *json_validate_new(unsigned max_depth)
{
	struct json_validate *v = malloc(sizeof(*v));

	if (!v)
		return NULL;
	if (max_depth == 0)
		max_depth = JSON_VALIDATE_DEPTH_DEFAULT;
	if (max_depth > JSON_VALIDATE_DEPTH_MAX)
		max_depth = JSON_VALIDATE_DEPTH_MAX;
	v->max_depth = max_depth;
	json_validate_reset(v);
	return v;
}

void json_validate_free(struct json_validate *v)
{
	free(v);
}

void json_validate_reset(struct json_validate *v)
{
	unsigned max_depth = v->max_depth;

	*v = (struct json_validate){ .expect = EX_VALUE, .tok = TOK_NONE, .max_depth = max_depth };
}

const char *json_validate_error(const struct json_validate *v)
{
	return v->error;
}

uint64_t json_validate_offset(const struct json_validate *v)
{
	return v->offset;
}

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool top_is_object(const struct json_validate *v)
{
	return v->depth && (v->stack >> (v->depth - 1) & 1);
}

/* A value just ended. */
static void value_done(struct json_validate *v)
{
	v->expect = v->depth ? EX_AFTER : EX_DONE;
}

static const char *push(struct json_validate *v, bool object)
{
	if (v->depth >= v->max_depth)
		return "nesting too deep";
	if (object)
		v->stack |= (uint64_t)1 << v->depth;
	else
		v->stack &= ~((uint64_t)1 << v->depth);
	v->depth++;
	v->expect = object ? EX_OBJECT_FIRST : EX_ARRAY_FIRST;
	return NULL;
}

static void pop(struct json_validate *v)
{
	v->depth--;
	value_done(v);
}

/* The first byte of a multi-byte UTF-8 sequence (Unicode 15, table 3-7:
 * no overlong forms, no surrogates, nothing above U+10FFFF): sets up the
 * range of the next byte and the count to go, or returns false. */
static bool utf8_lead(struct json_validate *v, unsigned char c)
{
	v->utf8_lo = 0x80;
	v->utf8_hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		v->utf8_left = 1;
	else if (c >= 0xe0 && c <= 0xef)
		v->utf8_left = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		v->utf8_left = 3;
	else
		return false;
	if (c == 0xe0)
		v->utf8_lo = 0xa0;
	else if (c == 0xed)
		v->utf8_hi = 0x9f;
	else if (c == 0xf0)
		v->utf8_lo = 0x90;
	else if (c == 0xf4)
		v->utf8_hi = 0x8f;
	return true;
}

/* C continues the number: true, or false if C ends it (the number is
 * complete, C still to be read) -- or, with *WHY set, if C cannot. */
static bool number_step(struct json_validate *v, unsigned char c, const char **why)
{
	switch (v->num) {
	case NUM_MINUS:
		if (c == '0')
			v->num = NUM_ZERO;
		else if (is_digit(c))
			v->num = NUM_INT;
		else
			*why = "invalid number";
		return true;
	case NUM_INT:
		if (is_digit(c))
			return true;
		/* fall through */
	case NUM_ZERO:
		if (c == '.')
			v->num = NUM_DOT;
		else if (c == 'e' || c == 'E')
			v->num = NUM_E;
		else
			return false;
		return true;
	case NUM_DOT:
		if (is_digit(c))
			v->num = NUM_FRAC;
		else
			*why = "invalid number";
		return true;
	case NUM_FRAC:
		if (is_digit(c))
			return true;
		if (c == 'e' || c == 'E') {
			v->num = NUM_E;
			return true;
		}
		return false;
	case NUM_E:
		if (c == '+' || c == '-')
			v->num = NUM_ESIGN;
		else if (is_digit(c))
			v->num = NUM_EXP;
		else
			*why = "invalid number";
		return true;
	case NUM_ESIGN:
		if (is_digit(c))
			v->num = NUM_EXP;
		else
			*why = "invalid number";
		return true;
	case NUM_EXP:
		return is_digit(c);
	}
	*why = "invalid number";
	return true;
}

static bool number_complete(const struct json_validate *v)
{
	return v->num == NUM_ZERO || v->num == NUM_INT || v->num == NUM_FRAC || v->num == NUM_EXP;
}

/* C starts a value. */
static const char *value_start(struct json_validate *v, unsigned char c)
{
	switch (c) {
	case '{':
		return push(v, true);
	case '[':
		return push(v, false);
	case '"':
		v->tok = TOK_STRING;
		v->key = false;
		return NULL;
	case 't':
		v->lit = "rue";
		break;
	case 'f':
		v->lit = "alse";
		break;
	case 'n':
		v->lit = "ull";
		break;
	case '-':
		v->tok = TOK_NUMBER;
		v->num = NUM_MINUS;
		return NULL;
	default:
		if (!is_digit(c))
			return "unexpected character";
		v->tok = TOK_NUMBER;
		v->num = c == '0' ? NUM_ZERO : NUM_INT;
		return NULL;
	}
	v->tok = TOK_LITERAL;
	return NULL;
}

/* C between tokens. */
static const char *structural(struct json_validate *v, unsigned char c)
{
	switch (v->expect) {
	case EX_ARRAY_FIRST:
		if (c == ']') {
			pop(v);
			return NULL;
		}
		/* fall through */
	case EX_VALUE:
		return value_start(v, c);
	case EX_OBJECT_FIRST:
		if (c == '}') {
			pop(v);
			return NULL;
		}
		/* fall through */
	case EX_KEY:
		if (c != '"')
			return "unexpected character";
		v->tok = TOK_STRING;
		v->key = true;
		return NULL;
	case EX_COLON:
		if (c != ':')
			return "unexpected character";
		v->expect = EX_VALUE;
		return NULL;
	case EX_AFTER:
		if (c == ',') {
			v->expect = top_is_object(v) ? EX_KEY : EX_VALUE;
			return NULL;
		}
		if ((c == ']' && !top_is_object(v)) || (c == '}' && top_is_object(v))) {
			pop(v);
			return NULL;
		}
		return "unexpected character";
	case EX_DONE:
		return "data after the JSON text";
	}
	return "unexpected character";
}

int json_validate_feed(struct json_validate *v, const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	const char *why = NULL;
	size_t i = 0;

	if (v->error)
		return -EINVAL;
	while (i < len) {
		unsigned char c = p[i];

		if (c == 0) {
			why = "NUL byte in body";
			goto fail;
		}
		switch (v->tok) {
		case TOK_STRING:
			/* the common case, byte after byte of plain text */
			while (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
				if (++i == len)
					goto out;
				c = p[i];
			}
			if (c == '"') {
				v->tok = TOK_NONE;
				if (v->key)
					v->expect = EX_COLON;
				else
					value_done(v);
			} else if (c == '\\') {
				v->tok = TOK_ESCAPE;
			} else if (c < 0x20) {
				/* RFC 8259 section 7: control characters must be escaped */
				why = c ? "control character in string" : "NUL byte in body";
			} else if (utf8_lead(v, c)) {
				v->tok = TOK_UTF8;
			} else {
				why = "invalid UTF-8 in string";
			}
			break;
		case TOK_UTF8:
			if (c < v->utf8_lo || c > v->utf8_hi) {
				why = "invalid UTF-8 in string";
				break;
			}
			v->utf8_lo = 0x80;
			v->utf8_hi = 0xbf;
			if (--v->utf8_left == 0)
				v->tok = TOK_STRING;
			break;
		case TOK_ESCAPE:
			if (c == 'u') {
				v->tok = TOK_HEX;
				v->hex_left = 4;
			} else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' ||
				   c == 'n' || c == 'r' || c == 't') {
				v->tok = TOK_STRING;
			} else {
				why = "invalid escape in string";
			}
			break;
		case TOK_HEX:
			if (!is_hex(c))
				why = "invalid escape in string";
			else if (--v->hex_left == 0)
				v->tok = TOK_STRING;
			break;
		case TOK_LITERAL:
			if (c != (unsigned char)*v->lit) {
				why = "invalid literal";
				break;
			}
			if (*++v->lit == '\0') {
				v->tok = TOK_NONE;
				value_done(v);
			}
			break;
		case TOK_NUMBER:
			if (number_step(v, c, &why))
				break;
			/* C ends the number and is read again as what follows it */
			v->tok = TOK_NONE;
			value_done(v);
			continue;
		case TOK_NONE:
			if (is_ws(c))
				break;
			v->started = true;
			why = structural(v, c);
			break;
		}
		if (why)
			goto fail;
		i++;
	}
out:
	v->offset += len;
	return 0;

fail:
	v->offset += i;
	v->error = why;
	return -EINVAL;
}

int json_validate_finish(struct json_validate *v)
{
	if (v->error)
		return -EINVAL;
	if (v->tok == TOK_NUMBER && number_complete(v)) {
		v->tok = TOK_NONE;
		value_done(v);
	}
	if (!v->started)
		v->error = "empty body";
	else if (v->tok == TOK_NUMBER)
		v->error = "invalid number";
	else if (v->tok != TOK_NONE || v->expect != EX_DONE)
		v->error = "unexpected end of data";
	return v->error ? -EINVAL : 0;
}
