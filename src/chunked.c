/* chunked.c - the chunked transfer coding (RFC 9112 section 7.1), decoded
 * one framing byte at a time and the data in bulk.
 *
 *   chunked-body   = *chunk last-chunk trailer-section CRLF
 *   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-size     = 1*HEXDIG
 *   last-chunk     = 1*("0") [ chunk-ext ] CRLF
 *   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *   chunk-ext-name = token
 *   chunk-ext-val  = token / quoted-string
 *   trailer-section = *( field-line CRLF )
 *
 * Every decision depends only on the bytes seen so far, never on where the
 * caller's buffers happen to end, which is what makes any split of the
 * input decode identically.  We are strict wherever leniency has let two
 * parsers disagree about where a body ends (request smuggling): CRLF and
 * nothing else ends a line, whitespace is accepted only where the grammar
 * has BWS, and a chunk-size is hex digits only. */
#include "chunked.h"
#include "util.h"

#include <stdbool.h>
#include <string.h>

const struct chunked_limits chunked_default_limits = {
	.max_body = 1048576,
	/* RFC 9112 section 7.1.1: "A server ought to limit the total length
	 * of chunk extensions received in a request to an amount reasonable
	 * for the services provided ... and generate an appropriate 4xx
	 * (Client Error) response if that amount is exceeded."  We use none;
	 * 1 KiB leaves room for any real one. */
	.max_line = 1024,
	.max_trailer = 8192,
};

enum ck_state {
	/* the chunk-size line, bounded by max_line */
	CK_SIZE_FIRST,	 /* the first HEXDIG */
	CK_SIZE,	 /* more HEXDIG, or what ends the size */
	CK_SEMI_BWS,	 /* BWS seen: only more BWS or ';' may follow */
	CK_NAME_BWS,	 /* after ';': BWS, then a chunk-ext-name */
	CK_NAME,	 /* in the name */
	CK_NAME_END_BWS, /* BWS after the name: '=' or ';' must follow */
	CK_VAL_BWS,	 /* after '=': BWS, then a token or quoted-string */
	CK_TOKEN_VAL,	 /* in a token value */
	CK_QUOTED_VAL,	 /* in a quoted-string */
	CK_QUOTED_PAIR,	 /* after a backslash in it */
	CK_QUOTED_END,	 /* after its closing DQUOTE */
	CK_LINE_LF,	 /* CR seen, LF must follow */
	/* chunk-data and its CRLF */
	CK_DATA,
	CK_DATA_CR,
	CK_DATA_LF,
	/* the trailer section, bounded by max_trailer */
	CK_TR_START, /* a field-line or the final CRLF */
	CK_TR_NAME,
	CK_TR_VALUE,
	CK_TR_LF,
	CK_END_LF,
	CK_DONE,
	CK_ERROR,
};

void chunked_init(struct chunked *st, const struct chunked_limits *lim)
{
	memset(st, 0, sizeof(*st));
	st->state = CK_SIZE_FIRST;
	st->lim = lim ? *lim : chunked_default_limits;
}

int chunked_error_status(const struct chunked *st)
{
	return st->state == CK_ERROR ? st->status : 0;
}

uint64_t chunked_body_length(const struct chunked *st)
{
	return st->total;
}


static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* tchar (RFC 9110 section 5.6.2) */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* VCHAR and obs-text */
static bool is_vchar_obs(unsigned char c)
{
	return (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}

/* qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text (section 5.6.4) */
static bool is_qdtext(unsigned char c)
{
	return is_ws(c) || (is_vchar_obs(c) && c != '"' && c != '\\');
}

/* The state after the chunk-size line's CRLF. */
static enum ck_state after_size_line(const struct chunked *st)
{
	return st->size ? CK_DATA : CK_TR_START;
}

/* End of a chunk-size: content "larger than the server is willing or able
 * to process" is a 413 (RFC 9110 section 15.5.14).  Deciding it here,
 * before the data, lets the caller answer without reading it. */
static int size_complete(const struct chunked *st)
{
	return st->size > st->lim.max_body - st->total ? 413 : 0;
}

/* What may follow a chunk-ext-val: BWS before the next ';', the next ';'
 * or the end of the line. */
static int after_value(struct chunked *st, unsigned char c)
{
	if (is_ws(c))
		st->state = CK_SEMI_BWS;
	else if (c == ';')
		st->state = CK_NAME_BWS;
	else if (c == '\r')
		st->state = CK_LINE_LF;
	else
		return 400;
	return 0;
}

/* One framing byte C.  Returns 0 or the status of the error. */
static int step(struct chunked *st, unsigned char c)
{
	int d;

	if (st->state < CK_LINE_LF) {
		/* The line's length does not include its CRLF. */
		if (c != '\r' && ++st->count > st->lim.max_line)
			return 400;
	} else if (st->state >= CK_TR_START) {
		/* Trailer fields are field lines like header fields (RFC
		 * 9110 section 6.5), so too many of them get the status for
		 * "header fields too large" (RFC 6585 section 5). */
		if (++st->count > st->lim.max_trailer)
			return 431;
	}

	switch ((enum ck_state)st->state) {
	case CK_SIZE_FIRST:
		d = mth_hex_value((unsigned char)c);
		if (d < 0)
			return 400;
		st->size = (uint64_t)d;
		st->state = CK_SIZE;
		return 0;
	case CK_SIZE:
		d = mth_hex_value((unsigned char)c);
		if (d >= 0) {
			/* Would reach CHUNKED_SIZE_LIMIT: an overflow for us. */
			if (st->size >= CHUNKED_SIZE_LIMIT >> 4)
				return 400;
			st->size = st->size << 4 | (uint64_t)d;
			return 0;
		}
		/* No whitespace after the size except the BWS before a ';'
		 * (chunk-ext = *( BWS ";" ... )): "5 \r\n" is a 400. */
		if (is_ws(c))
			st->state = CK_SEMI_BWS;
		else if (c == ';')
			st->state = CK_NAME_BWS;
		else if (c == '\r')
			st->state = CK_LINE_LF;
		else
			return 400;
		return size_complete(st);
	case CK_SEMI_BWS:
		if (c == ';')
			st->state = CK_NAME_BWS;
		else if (!is_ws(c))
			return 400;
		return 0;
	case CK_NAME_BWS:
		if (is_tchar(c))
			st->state = CK_NAME;
		else if (!is_ws(c))
			return 400;
		return 0;
	case CK_NAME:
		if (is_tchar(c))
			return 0;
		if (is_ws(c))
			st->state = CK_NAME_END_BWS;
		else if (c == '=')
			st->state = CK_VAL_BWS;
		else if (c == ';')
			st->state = CK_NAME_BWS;
		else if (c == '\r')
			st->state = CK_LINE_LF;
		else
			return 400;
		return 0;
	case CK_NAME_END_BWS:
		if (c == '=')
			st->state = CK_VAL_BWS;
		else if (c == ';')
			st->state = CK_NAME_BWS;
		else if (!is_ws(c))
			return 400;
		return 0;
	case CK_VAL_BWS:
		if (c == '"')
			st->state = CK_QUOTED_VAL;
		else if (is_tchar(c))
			st->state = CK_TOKEN_VAL;
		else if (!is_ws(c))
			return 400;
		return 0;
	case CK_TOKEN_VAL:
		if (is_tchar(c))
			return 0;
		return after_value(st, c);
	case CK_QUOTED_END:
		return after_value(st, c);
	case CK_QUOTED_VAL:
		if (c == '"')
			st->state = CK_QUOTED_END;
		else if (c == '\\')
			st->state = CK_QUOTED_PAIR;
		else if (!is_qdtext(c))
			return 400;
		return 0;
	case CK_QUOTED_PAIR:
		/* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
		if (!is_ws(c) && !is_vchar_obs(c))
			return 400;
		st->state = CK_QUOTED_VAL;
		return 0;
	case CK_LINE_LF:
		/* A CR not followed by LF is a bare CR: 400 (RFC 9112
		 * section 2.2 lets a recipient reject it; we always do). */
		if (c != '\n')
			return 400;
		st->count = 0;
		st->state = after_size_line(st);
		return 0;
	case CK_DATA_CR:
		/* chunk-data is exactly chunk-size octets, then CRLF. */
		if (c != '\r')
			return 400;
		st->state = CK_DATA_LF;
		return 0;
	case CK_DATA_LF:
		if (c != '\n')
			return 400;
		st->count = 0;
		st->state = CK_SIZE_FIRST;
		return 0;
	case CK_TR_START:
		if (c == '\r') {
			st->state = CK_END_LF;
			return 0;
		}
		/* A field-line starts with a field-name: leading whitespace
		 * would be obs-fold (RFC 9112 section 5.2) or whitespace
		 * before the first field (section 2.2); both are 400s. */
		if (!is_tchar(c))
			return 400;
		st->state = CK_TR_NAME;
		return 0;
	case CK_TR_NAME:
		/* RFC 9112 section 5.1: no whitespace before the colon. */
		if (c == ':')
			st->state = CK_TR_VALUE;
		else if (!is_tchar(c))
			return 400;
		return 0;
	case CK_TR_VALUE:
		/* field-value: VCHAR, obs-text, SP, HTAB (RFC 9110 section
		 * 5.5); NUL, other CTLs and a bare LF are 400s. */
		if (c == '\r')
			st->state = CK_TR_LF;
		else if (!is_ws(c) && !is_vchar_obs(c))
			return 400;
		return 0;
	case CK_TR_LF:
		if (c != '\n')
			return 400;
		st->state = CK_TR_START;
		return 0;
	case CK_END_LF:
		if (c != '\n')
			return 400;
		st->state = CK_DONE;
		return 0;
	case CK_DATA:
	case CK_DONE:
	case CK_ERROR:
		break;
	}
	return 400; /* not reached: the caller handles those states */
}

enum chunked_status chunked_decode(struct chunked *st, const char *in, size_t inlen, char *out,
				   size_t outcap, size_t *consumed, size_t *produced)
{
	size_t i = 0, o = 0;

	while (i < inlen && st->state < CK_DONE) {
		int err;

		if (st->state == CK_DATA) {
			size_t n = inlen - i;

			if (n > st->size)
				n = (size_t)st->size;
			if (n > outcap - o)
				n = outcap - o;
			if (n == 0)
				break; /* OUT is full */
			/* memmove: OUT may be IN, a little behind it. */
			memmove(out + o, in + i, n);
			i += n;
			o += n;
			st->size -= n;
			st->total += n;
			if (st->size == 0)
				st->state = CK_DATA_CR;
			continue;
		}
		err = step(st, (unsigned char)in[i]);
		if (err) {
			st->status = err;
			st->state = CK_ERROR;
			break;
		}
		i++;
	}
	*consumed = i;
	*produced = o;
	if (st->state == CK_DONE)
		return CHUNKED_DONE;
	if (st->state == CK_ERROR)
		return CHUNKED_ERROR;
	return CHUNKED_NEED_MORE;
}
