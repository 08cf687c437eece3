/* http_parse.c - the request head (RFC 9112 sections 2 to 5) in one pass.
 *
 * The parser keeps no state between calls: each call starts again at the
 * first byte of the buffer and either finds a whole head, runs out of bytes
 * (NEED_MORE) or meets the first byte that makes the head invalid.  Every
 * decision depends only on the bytes already seen, so a longer buffer with
 * the same prefix never changes an ERROR or a DONE that a shorter one gave.
 *
 * We are strict where leniency has been a request-smuggling vector (bare CR
 * or LF, obs-fold, whitespace before the colon, Content-Length with
 * Transfer-Encoding, duplicate Content-Length): RFC 9112 allows a server to
 * reject all of those with 400, and we do. */
#include "http_parse.h"

const struct http_limits http_default_limits = {
	.max_request_line = 8192,
	.max_header_bytes = 16384,
	.max_headers = 100,
};

/* Longer method tokens are answered with 400 rather than 501: no method we
 * could ever implement is that long, so it is garbage, not a new method. */
#define HTTP_METHOD_MAX 32

/* RFC 9112 section 2.2: a server SHOULD ignore at least one empty line
 * before the request-line.  A few more are tolerated; a stream of them is
 * not a request. */
#define HTTP_MAX_EMPTY_LINES 4

/* HTTP-version = "HTTP/" DIGIT "." DIGIT; '#' stands for a DIGIT. */
static const char version_pattern[] = "HTTP/#.#";
#define HTTP_VERSION_LEN (sizeof(version_pattern) - 1)

/* Absent strings point here, so that no struct mth_str is ever NULL. */
static const char empty_str[] = "";

enum {
	C_TCHAR = 1,  /* token: method and field-name (RFC 9110 section 5.6.2) */
	C_TARGET = 2, /* request-target: VCHAR, no CTL, SP or 8-bit byte */
	C_VALUE = 4,  /* field-value: VCHAR, obs-text, SP, HTAB (section 5.5) */
};

static const unsigned char char_class[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, /* 0x00 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
	4, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6, /* 0x20 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6, /* 0x30 */
	6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x40 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7, /* 0x50 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x60 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0, /* 0x70 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0x80 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0x90 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xa0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xb0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xc0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xd0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xe0 */
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xf0 */
};

static const char *const method_names[] = {
	[HTTP_M_UNKNOWN] = "UNKNOWN", [HTTP_M_GET] = "GET",	    [HTTP_M_HEAD] = "HEAD",
	[HTTP_M_POST] = "POST",	      [HTTP_M_PUT] = "PUT",	    [HTTP_M_DELETE] = "DELETE",
	[HTTP_M_CONNECT] = "CONNECT", [HTTP_M_OPTIONS] = "OPTIONS", [HTTP_M_TRACE] = "TRACE",
	[HTTP_M_PATCH] = "PATCH",
};

static inline bool is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* A-Z to a-z, every other byte as it is (unlike tolower(), no locale). */
/* clang-format off */
static const unsigned char lower_ascii[256] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
	0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
	0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
	0x40, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
	0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
	0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
	0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f,
	0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
	0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f,
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
	0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
	0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf,
	0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
	0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef,
	0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
};
/* clang-format on */

/* ASCII-only case-insensitive comparison: unlike strncasecmp() it cannot
 * depend on the locale. */
static inline bool ascii_caseeq(const char *a, size_t a_len, const char *b, size_t b_len)
{
	if (a_len != b_len)
		return false;
	for (size_t i = 0; i < a_len; i++)
		if (lower_ascii[(unsigned char)a[i]] != lower_ascii[(unsigned char)b[i]])
			return false;
	return true;
}

#define STR_CASEEQ(s, lit) ascii_caseeq((s).p, (s).len, (lit), sizeof(lit) - 1)

/* Advance P over bytes of class CLS, up to END.  Eight bytes per bound check
 * while there is room: this is the hot loop of the whole parser. */
static inline size_t scan_class(const unsigned char *b, size_t p, size_t end, unsigned char cls)
{
	while (end - p >= 8) {
		/* unrolled by hand: gcc -O2 keeps a loop of eight */
		if (!(char_class[b[p]] & cls))
			return p;
		if (!(char_class[b[p + 1]] & cls))
			return p + 1;
		if (!(char_class[b[p + 2]] & cls))
			return p + 2;
		if (!(char_class[b[p + 3]] & cls))
			return p + 3;
		if (!(char_class[b[p + 4]] & cls))
			return p + 4;
		if (!(char_class[b[p + 5]] & cls))
			return p + 5;
		if (!(char_class[b[p + 6]] & cls))
			return p + 6;
		if (!(char_class[b[p + 7]] & cls))
			return p + 7;
		p += 8;
	}
	while (p < end && (char_class[b[p]] & cls))
		p++;
	return p;
}

/* Word-at-a-time tests (the classic "has a zero byte" trick): each is exact
 * as a yes/no answer for the eight bytes of X, whatever the byte order. */
#define SWAR_ONES 0x0101010101010101ull
#define SWAR_HIGH 0x8080808080808080ull

static inline uint64_t swar_has_zero(uint64_t x)
{
	return (x - SWAR_ONES) & ~x & SWAR_HIGH;
}

/* Some byte is below N (N <= 128). */
static inline uint64_t swar_has_less(uint64_t x, unsigned n)
{
	return (x - SWAR_ONES * n) & ~x & SWAR_HIGH;
}

static inline uint64_t load64(const unsigned char *p)
{
	uint64_t x;

	memcpy(&x, p, sizeof(x));
	return x;
}

/* The index in its word of the first byte that the nonzero mask M of the
 * tests above flags.  The first flagged byte is always a true one (a
 * borrow only runs towards the later bytes), so on a little-endian machine
 * it is the lowest set bit; elsewhere 0, and the table scans the word. */
static inline size_t swar_first(uint64_t m)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (size_t)__builtin_ctzll(m) / 8;
#else
	(void)m;
	return 0;
#endif
}

/* Scan a request-target: eight bytes at a time while none of them can be
 * outside 0x21..0x7e, then the table checks from the first one that is. */
static inline size_t scan_target(const unsigned char *b, size_t p, size_t end)
{
	while (end - p >= 8) {
		uint64_t x = load64(b + p);
		uint64_t m = swar_has_less(x, 0x21) | swar_has_zero(x ^ (SWAR_ONES * 0x7f)) |
			     (x & SWAR_HIGH);

		if (m) {
			p += swar_first(m);
			break;
		}
		p += 8;
	}
	return scan_class(b, p, end, C_TARGET);
}

/* Scan a field-value.  The fast test flags every CTL, HTAB included; the
 * table looks at the word from the first flagged byte, passes HTABs and
 * the fast loop resumes. */
static inline size_t scan_value(const unsigned char *b, size_t p, size_t end)
{
	for (;;) {
		size_t stop;

		while (end - p >= 8) {
			uint64_t x = load64(b + p);
			uint64_t m = swar_has_less(x, 0x20) | swar_has_zero(x ^ (SWAR_ONES * 0x7f));

			if (m) {
				p += swar_first(m);
				break;
			}
			p += 8;
		}
		stop = end - p >= 8 ? p + 8 : end;
		while (p < stop && (char_class[b[p]] & C_VALUE))
			p++;
		if (p < stop || p == end)
			return p;
	}
}

/* RFC 9110 section 9.1: the method token is case-sensitive. */
static enum http_method method_lookup(const char *s, size_t n)
{
	switch (n) {
	case 3:
		if (!memcmp(s, "GET", 3))
			return HTTP_M_GET;
		if (!memcmp(s, "PUT", 3))
			return HTTP_M_PUT;
		break;
	case 4:
		if (!memcmp(s, "HEAD", 4))
			return HTTP_M_HEAD;
		if (!memcmp(s, "POST", 4))
			return HTTP_M_POST;
		break;
	case 5:
		if (!memcmp(s, "TRACE", 5))
			return HTTP_M_TRACE;
		if (!memcmp(s, "PATCH", 5))
			return HTTP_M_PATCH;
		break;
	case 6:
		if (!memcmp(s, "DELETE", 6))
			return HTTP_M_DELETE;
		break;
	case 7:
		if (!memcmp(s, "CONNECT", 7))
			return HTTP_M_CONNECT;
		if (!memcmp(s, "OPTIONS", 7))
			return HTTP_M_OPTIONS;
		break;
	}
	return HTTP_M_UNKNOWN;
}

/* Split the request-target into target_authority and path (RFC 9112
 * section 3.2).  Returns 0 or -1 for 400. */
static int split_target(struct http_request *req)
{
	const char *t = req->target.p;
	size_t n = req->target.len, a;

	if (t[0] == '/') { /* origin-form */
		req->path = req->target;
		return 0;
	}
	/* absolute-form, and only for our own scheme; asterisk-form (OPTIONS *)
	 * and authority-form (CONNECT) name things we do not serve.  The scheme
	 * is case-insensitive (RFC 3986 section 3.1). */
	if (n < 7 || !ascii_caseeq(t, 7, "http://", 7))
		return -1;
	for (a = 7; a < n && t[a] != '/' && t[a] != '?'; a++)
		/* RFC 9110 section 4.2.4: userinfo in an "http" URI is an error. */
		if (t[a] == '@')
			return -1;
	/* RFC 9110 section 4.2.1: an "http" URI with an empty host is invalid. */
	if (a == 7)
		return -1;
	req->target_authority = (struct mth_str){ t + 7, a - 7 };
	/* RFC 9112 section 3.2.1: an empty path is sent as "/". */
	if (a == n)
		req->path = MTH_STR_LIT("/");
	else
		req->path = (struct mth_str){ t + a, n - a };
	return 0;
}

/* RFC 9110 section 8.6: Content-Length = 1*DIGIT.  No sign, no inner
 * whitespace and no "5, 5" list, which section 8.6 would let us fold but
 * which only a confused or hostile sender produces. */
static int parse_content_length(struct mth_str v, int64_t *out)
{
	int64_t n = 0;

	if (v.len == 0)
		return -1;
	for (size_t i = 0; i < v.len; i++) {
		unsigned d = (unsigned char)v.p[i] - '0';

		if (d > 9)
			return -1;
		if (n > (INT64_MAX - (int64_t)d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

/* Connection = #connection-option (RFC 9110 section 7.6.1); empty list
 * elements are allowed (section 5.6.1), unknown options are ignored. */
static void note_connection(struct http_request *req, struct mth_str v)
{
	const char *s = v.p, *end = v.p + v.len;

	while (s < end) {
		const char *tok, *tok_end;

		while (s < end && (*s == ',' || is_ows((unsigned char)*s)))
			s++;
		tok = s;
		while (s < end && *s != ',')
			s++;
		tok_end = s;
		while (tok_end > tok && is_ows((unsigned char)tok_end[-1]))
			tok_end--;
		if (ascii_caseeq(tok, (size_t)(tok_end - tok), "close", 5))
			req->conn_close = true;
		else if (ascii_caseeq(tok, (size_t)(tok_end - tok), "keep-alive", 10))
			req->conn_keep_alive = true;
	}
}

/* Fill the derived members from one field.  Returns 0 or -1 for 400. */
static int note_field(struct http_request *req, struct mth_str name, struct mth_str value)
{
	switch (name.len) {
	case 4:
		if (STR_CASEEQ(name, "host")) {
			/* RFC 9112 section 3.2: more than one Host is a 400. */
			if (req->has_host)
				return -1;
			req->has_host = true;
			req->host = value;
		}
		break;
	case 6:
		if (STR_CASEEQ(name, "expect") && STR_CASEEQ(value, "100-continue"))
			req->expect_continue = true;
		break;
	case 10:
		if (STR_CASEEQ(name, "connection"))
			note_connection(req, value);
		break;
	case 12:
		if (STR_CASEEQ(name, "content-type") && req->content_type.p == empty_str)
			req->content_type = value;
		break;
	case 14:
		if (STR_CASEEQ(name, "content-length")) {
			/* RFC 9112 section 6.3 item 5: duplicates are invalid
			 * framing; even identical ones, to keep one reading. */
			if (req->content_length >= 0)
				return -1;
			if (parse_content_length(value, &req->content_length))
				return -1;
		}
		break;
	case 17:
		if (STR_CASEEQ(name, "transfer-encoding")) {
			/* Only a lone "chunked" is ours.  A second field makes the
			 * combined list longer than that (RFC 9110 section 5.3),
			 * so it is no longer "exactly chunked" either. */
			req->te_chunked =
				!req->has_transfer_encoding && STR_CASEEQ(value, "chunked");
			req->has_transfer_encoding = true;
		}
		break;
	}
	return 0;
}

static void request_init(struct http_request *req)
{
	/* Not a memset: headers[] is 3 KiB and only n_headers of it are read. */
	req->method = HTTP_M_UNKNOWN;
	req->method_token = (struct mth_str){ empty_str, 0 };
	req->target = (struct mth_str){ empty_str, 0 };
	req->target_authority = (struct mth_str){ empty_str, 0 };
	req->path = (struct mth_str){ empty_str, 0 };
	req->version_major = 0;
	req->version_minor = 0;
	req->n_headers = 0;
	req->head_len = 0;
	req->has_host = false;
	req->host = (struct mth_str){ empty_str, 0 };
	req->content_length = -1;
	req->has_transfer_encoding = false;
	req->te_chunked = false;
	req->conn_close = false;
	req->conn_keep_alive = false;
	req->expect_continue = false;
	req->content_type = (struct mth_str){ empty_str, 0 };
}

enum http_parse_status http_parse_request(const char *buf, size_t len,
					  const struct http_limits *limits,
					  struct http_request *req, int *status)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t p = 0, start, end, max, mend, tok, n_max;
	int empty_lines = 0;

	if (!limits)
		limits = &http_default_limits;
	request_init(req);

	/* RFC 9112 section 2.2: skip a few CRLFs left over from a previous
	 * message.  A bare CR or LF is as invalid here as anywhere. */
	for (;;) {
		if (p == len)
			return HTTP_PARSE_NEED_MORE;
		if (b[p] != '\r')
			break;
		if (empty_lines++ == HTTP_MAX_EMPTY_LINES)
			goto bad;
		if (p + 1 == len)
			return HTTP_PARSE_NEED_MORE;
		if (b[p + 1] != '\n')
			goto bad;
		p += 2;
	}

	/* request-line = method SP request-target SP HTTP-version CRLF
	 * (RFC 9112 section 3), exactly one SP each.  Every byte of it before
	 * the CRLF must lie below START + MAX + 1; reaching END means either
	 * the buffer ran out or the line is already too long. */
	start = p;
	max = limits->max_request_line;
	end = len - start > max ? start + max + 1 : len;

	mend = end - start > HTTP_METHOD_MAX ? start + HTTP_METHOD_MAX + 1 : end;
	p = scan_class(b, p, mend, C_TCHAR);
	if (p == mend) {
		if (p - start > HTTP_METHOD_MAX)
			goto bad;
		goto line_short;
	}
	if (p == start || b[p] != ' ')
		goto bad;
	req->method_token = (struct mth_str){ buf + start, p - start };
	req->method = method_lookup(buf + start, p - start);

	tok = ++p;
	p = scan_target(b, p, end);
	if (p == end)
		goto line_short;
	if (p == tok || b[p] != ' ')
		goto bad;
	req->target = (struct mth_str){ buf + tok, p - tok };
	if (split_target(req))
		goto bad;

	/* RFC 9112 section 2.3: HTTP-version is case-sensitive.  "HTTP/1.1"
	 * and "HTTP/1.0" are taken whole; anything else byte by byte. */
	tok = ++p;
	if (end - p >= HTTP_VERSION_LEN && memcmp(b + p, "HTTP/1.", 7) == 0 &&
	    (b[p + 7] == '1' || b[p + 7] == '0')) {
		p += HTTP_VERSION_LEN;
	} else {
		for (size_t i = 0; i < HTTP_VERSION_LEN; i++, p++) {
			unsigned char want = (unsigned char)version_pattern[i];

			if (p == end)
				goto line_short;
			if (want == '#' ? (unsigned)(b[p] - '0') > 9 : b[p] != want)
				goto bad;
		}
	}
	if (p == end)
		goto line_short;
	if (b[p] != '\r')
		goto bad;
	/* The LF is not part of the line's length: bound it by LEN alone. */
	if (p + 1 == len)
		return HTTP_PARSE_NEED_MORE;
	if (b[p + 1] != '\n')
		goto bad;
	/* RFC 9110 section 2.5: a later 1.x minor is treated as 1.1; another
	 * major is 505 (section 15.6.6). */
	if (b[tok + 5] != '1') {
		*status = 505;
		return HTTP_PARSE_ERROR;
	}
	req->version_major = 1;
	req->version_minor = b[tok + 7] == '0' ? 0 : 1;
	p += 2;

	/* field-line = field-name ":" OWS field-value OWS CRLF (RFC 9112
	 * section 5).  Every byte of the field lines, CRLFs and the final empty
	 * line included, must lie below START + MAX. */
	start = p;
	max = limits->max_header_bytes;
	end = len - start > max ? start + max : len;
	n_max = limits->max_headers < HTTP_MAX_HEADERS ? limits->max_headers : HTTP_MAX_HEADERS;

	for (;;) {
		struct http_header *h;
		size_t name, name_end, value, value_end;

		if (p == end)
			goto fields_short;
		if (b[p] == '\r') {
			if (++p == end)
				goto fields_short;
			if (b[p] != '\n')
				goto bad;
			p++;
			break;
		}
		/* RFC 9112 section 5.2 (obs-fold) and section 2.2 (whitespace
		 * between the start-line and the first field): reject both. */
		if (is_ows(b[p]))
			goto bad;
		if (req->n_headers == n_max) {
			*status = 431;
			return HTTP_PARSE_ERROR;
		}

		name = p;
		p = scan_class(b, p, end, C_TCHAR);
		if (p == end)
			goto fields_short;
		/* RFC 9112 section 5.1: no whitespace before the colon. */
		if (p == name || b[p] != ':')
			goto bad;
		name_end = p++;
		if (p < end && b[p] == ' ') /* the usual single space */
			p++;
		while (p < end && is_ows(b[p]))
			p++;
		value = p;
		p = scan_value(b, p, end);
		if (p == end)
			goto fields_short;
		if (b[p] != '\r')
			goto bad; /* a CTL, NUL or bare LF */
		value_end = p;
		if (++p == end)
			goto fields_short;
		if (b[p] != '\n')
			goto bad;
		p++;
		while (value_end > value && is_ows(b[value_end - 1]))
			value_end--;

		h = &req->headers[req->n_headers++];
		h->name = (struct mth_str){ buf + name, name_end - name };
		h->value = (struct mth_str){ buf + value, value_end - value };
		if (note_field(req, h->name, h->value))
			goto bad;
	}

	/* RFC 9112 section 3.2: an HTTP/1.1 request without Host is a 400. */
	if (req->version_minor == 1 && !req->has_host)
		goto bad;
	/* RFC 9112 section 6.1: a server MAY reject both; we do, as that
	 * mismatch is the usual request-smuggling lever. */
	if (req->has_transfer_encoding && req->content_length >= 0)
		goto bad;
	req->head_len = p;
	return HTTP_PARSE_DONE;

line_short:
	/* P is the byte we lack, or the first past the limit (END). */
	if (p - start > max) {
		*status = 414;
		return HTTP_PARSE_ERROR;
	}
	return HTTP_PARSE_NEED_MORE;
fields_short:
	/* P is the byte we lack: with MAX bytes already there it is one too
	 * many, whatever it turns out to be. */
	if (p - start >= max) {
		*status = 431;
		return HTTP_PARSE_ERROR;
	}
	return HTTP_PARSE_NEED_MORE;
bad:
	*status = 400;
	return HTTP_PARSE_ERROR;
}

const struct http_header *http_request_header(const struct http_request *req, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < req->n_headers; i++)
		if (ascii_caseeq(req->headers[i].name.p, req->headers[i].name.len, name, n))
			return &req->headers[i];
	return NULL;
}

const char *http_method_name(enum http_method m)
{
	if ((unsigned)m >= ARRAY_SIZE(method_names))
		return method_names[HTTP_M_UNKNOWN];
	return method_names[m];
}
