/* http_etag.c - validators and conditional requests (RFC 9110 sections 8.8
 * and 13).
 *
 * The ETag is strong: it changes whenever the bytes can have changed (a new
 * inode, size or mtime), so byte ranges of two responses with the same tag
 * may be combined (RFC 9110 section 8.8.1).  Every comparison follows the
 * section 8.8.3.2 table; every request field is parsed strictly and a value
 * that does not parse never makes us skip sending the full representation. */
#include "http_etag.h"

#include <errno.h>
#include <string.h>

#include "http_date.h"

/* RFC 9110 section 8.8.2.2 lets a client treat a Last-Modified as strong
 * when it is at least 60 seconds older than the response's Date; Apache
 * applies the same rule to If-Range dates (ap_condition_if_range), and so do
 * we in http_etag_if_range(). */
#define HTTP_LM_STRONG_AGE 60

static const char hex_digits[] = "0123456789abcdef";


static char *put_hex(char *p, uint64_t v)
{
	char tmp[16];
	int n = 0;

	do {
		tmp[n++] = hex_digits[v & 0xf];
		v >>= 4;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

size_t http_etag_make(char *out, size_t outsz, uint64_t ino, uint64_t size, uint64_t mtime_ns)
{
	char buf[HTTP_ETAG_SIZE];
	char *p = buf;
	size_t len;

	*p++ = '"';
	p = put_hex(p, ino);
	*p++ = '-';
	p = put_hex(p, size);
	*p++ = '-';
	p = put_hex(p, mtime_ns);
	*p++ = '"';
	len = (size_t)(p - buf);
	if (!out || outsz <= len)
		return 0;
	memcpy(out, buf, len);
	out[len] = '\0';
	return len;
}

void http_validators_init(struct http_validators *v, uint64_t ino, uint64_t size, int64_t mtime_sec,
			  long mtime_nsec, time_t now)
{
	/* Unsigned arithmetic: wraps instead of overflowing for absurd times. */
	uint64_t ns = (uint64_t)mtime_sec * 1000000000u + (uint64_t)mtime_nsec;

	v->etag_len = http_etag_make(v->etag, sizeof(v->etag), ino, size, ns);
	v->has_last_modified = true;
	http_validators_redate(v, mtime_sec, now);
}

void http_validators_redate(struct http_validators *v, int64_t mtime_sec, time_t now)
{
	/* RFC 9110 section 8.8.2.1: a modification time in the future "MUST"
	 * be replaced with the message origination date. */
	v->last_modified = (time_t)mtime_sec > now ? now : (time_t)mtime_sec;
	v->now = now;
}

/* ------------------------------------------------------------------ */
/* HTTP-date, RFC 9110 section 5.6.7                                   */

/* ------------------------------------------------------------------ */
/* Entity tags, RFC 9110 section 8.8.3                                 */

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* etagc = %x21 / %x23-7E / obs-text */
static bool is_etagc(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80;
}

/* entity-tag = [ weak ] opaque-tag; weak = %s"W/"; opaque-tag = DQUOTE
 * *etagc DQUOTE.  Returns the length of the entity-tag at the start of S,
 * or 0 when there is none.  *WEAK tells whether it had the W/ prefix. */
static size_t etag_span(const char *s, size_t len, bool *weak)
{
	size_t i = 0;

	*weak = false;
	if (len >= 2 && s[0] == 'W' && s[1] == '/') {
		*weak = true;
		i = 2;
	}
	if (i >= len || s[i] != '"')
		return 0;
	for (i++; i < len; i++) {
		if (s[i] == '"')
			return i + 1;
		if (!is_etagc((unsigned char)s[i]))
			return 0;
	}
	return 0;
}

/* Compare two entity-tags given as whole strings (section 8.8.3.2). */
static bool etag_eq(const char *a, size_t alen, const char *b, size_t blen, bool weak_cmp)
{
	bool aw, bw;
	size_t an = etag_span(a, alen, &aw), bn = etag_span(b, blen, &bw);

	if (an == 0 || an != alen || bn == 0 || bn != blen)
		return false;
	if (!weak_cmp && (aw || bw))
		return false;
	if (aw) {
		a += 2;
		alen -= 2;
	}
	if (bw) {
		b += 2;
		blen -= 2;
	}
	return alen == blen && memcmp(a, b, alen) == 0;
}

bool http_etag_eq_strong(const char *a, size_t alen, const char *b, size_t blen)
{
	return etag_eq(a, alen, b, blen, false);
}

bool http_etag_eq_weak(const char *a, size_t alen, const char *b, size_t blen)
{
	return etag_eq(a, alen, b, blen, true);
}

enum http_etag_list http_etag_list_match(const char *list, size_t len, const char *etag,
					 size_t etag_len, bool weak)
{
	bool matched = false;
	size_t i = 0;

	if (!list)
		return HTTP_ETAG_LIST_INVALID;
	/* Field values reach us without leading or trailing OWS (RFC 9112
	 * section 5.1); trimming again costs nothing and helps other callers. */
	while (len > 0 && is_ows(list[len - 1]))
		len--;
	while (i < len && is_ows(list[i]))
		i++;
	if (len - i == 1 && list[i] == '*')
		return HTTP_ETAG_LIST_ANY;

	/* #entity-tag: RFC 9110 section 5.6.1.2 asks recipients to accept
	 * and ignore empty elements ("a, , b"); the whole value is checked
	 * even after a match, so one value never means two things. */
	while (i < len) {
		size_t n;
		bool w;

		if (is_ows(list[i]) || list[i] == ',') {
			i++;
			continue;
		}
		n = etag_span(list + i, len - i, &w);
		if (n == 0)
			return HTTP_ETAG_LIST_INVALID;
		if (etag_len && etag_eq(list + i, n, etag, etag_len, weak))
			matched = true;
		i += n;
		while (i < len && is_ows(list[i]))
			i++;
		if (i < len && list[i] != ',')
			return HTTP_ETAG_LIST_INVALID;
	}
	return matched ? HTTP_ETAG_LIST_MATCH : HTTP_ETAG_LIST_NO_MATCH;
}

/* ------------------------------------------------------------------ */
/* Section 13.2.2                                                       */

struct cond_fields {
	const struct http_header *if_match, *if_none_match, *ims, *ius;
	size_t n_if_match, n_if_none_match, n_ims, n_ius;
};

static bool ascii_caseeq(const char *a, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + ('a' - 'A'));
		if (c != (unsigned char)lit[i])
			return false;
	}
	return true;
}

#define NAME_IS(h, lit)                                                                            \
	((h)->name.len == sizeof(lit) - 1 && ascii_caseeq((h)->name.p, lit, sizeof(lit) - 1))

static void collect(const struct http_request *req, struct cond_fields *f)
{
	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];

		if (h->name.len < 8 || (h->name.p[0] | 0x20) != 'i')
			continue;
		if (NAME_IS(h, "if-match")) {
			if (!f->n_if_match++)
				f->if_match = h;
		} else if (NAME_IS(h, "if-none-match")) {
			if (!f->n_if_none_match++)
				f->if_none_match = h;
		} else if (NAME_IS(h, "if-modified-since")) {
			if (!f->n_ims++)
				f->ims = h;
		} else if (NAME_IS(h, "if-unmodified-since")) {
			if (!f->n_ius++)
				f->ius = h;
		}
	}
}

/* Every field line named like FIRST, read as one list (RFC 9110 section
 * 5.3: several lines of a list field are one comma-separated value). */
static enum http_etag_list list_fields(const struct http_request *req, const char *name,
				       size_t n_lines, const struct http_validators *v, bool weak)
{
	bool matched = false;

	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		enum http_etag_list r;

		if (h->name.len != strlen(name) || !ascii_caseeq(h->name.p, name, h->name.len))
			continue;
		r = http_etag_list_match(h->value.p, h->value.len, v->etag, v->etag_len, weak);
		/* "*" is the whole value (field = "*" / #entity-tag): once
		 * combined with another line it is no longer valid. */
		if (r == HTTP_ETAG_LIST_INVALID || (r == HTTP_ETAG_LIST_ANY && n_lines > 1))
			return HTTP_ETAG_LIST_INVALID;
		if (r == HTTP_ETAG_LIST_ANY)
			return HTTP_ETAG_LIST_ANY;
		if (r == HTTP_ETAG_LIST_MATCH)
			matched = true;
	}
	return matched ? HTTP_ETAG_LIST_MATCH : HTTP_ETAG_LIST_NO_MATCH;
}

/* A single valid HTTP-date from the only line of a date field, or -1. */
static int field_date(const struct http_header *h, size_t n_lines, time_t now, time_t *out)
{
	/* Sections 13.1.3 and 13.1.4: a value that is not a valid HTTP-date,
	 * or has more than one member, is ignored.  Two lines are two. */
	if (n_lines != 1)
		return -1;
	return http_date_parse_any(h->value.p, h->value.len, now, out) < 0 ? -1 : 0;
}

int http_conditional_evaluate(const struct http_request *req, const struct http_validators *v)
{
	struct cond_fields f;
	bool get_head = req->method == HTTP_M_GET || req->method == HTTP_M_HEAD;
	time_t d;

	collect(req, &f);

	/* Step 1: If-Match (section 13.1.1).  "An origin server MUST use the
	 * strong comparison function"; "*" is true because the representation
	 * exists.  An unparsable value cannot be shown to match: false. */
	if (f.n_if_match) {
		enum http_etag_list r = list_fields(req, "if-match", f.n_if_match, v, false);

		if (r != HTTP_ETAG_LIST_MATCH && r != HTTP_ETAG_LIST_ANY)
			return 412;
	} else if (f.n_ius && v->has_last_modified && field_date(f.ius, f.n_ius, v->now, &d) == 0) {
		/* Step 2: If-Unmodified-Since (section 13.1.4), only without
		 * If-Match; true when Last-Modified <= the date. */
		if (v->last_modified > d)
			return 412;
	}

	/* Step 3: If-None-Match (section 13.1.2).  "A recipient MUST use the
	 * weak comparison function"; "*" is false because the representation
	 * exists.  An unparsable value is no match: the full response is right
	 * for any request. */
	if (f.n_if_none_match) {
		enum http_etag_list r =
			list_fields(req, "if-none-match", f.n_if_none_match, v, true);

		if (r == HTTP_ETAG_LIST_MATCH || r == HTTP_ETAG_LIST_ANY)
			return get_head ? 304 : 412;
	} else if (get_head && f.n_ims && v->has_last_modified &&
		   field_date(f.ims, f.n_ims, v->now, &d) == 0) {
		/* Step 4: If-Modified-Since (section 13.1.3), only for GET and
		 * HEAD and only without If-None-Match; false (304) when
		 * Last-Modified is earlier than or equal to the date. */
		if (v->last_modified <= d)
			return 304;
	}

	/* Step 5 (If-Range) belongs to http_range_select(); step 6 is ours. */
	return 200;
}

bool http_etag_if_range(const char *value, size_t len, const struct http_validators *v)
{
	bool weak;
	time_t d;

	if (!value || len == 0)
		return false;
	/* If-Range = entity-tag / HTTP-date.  An entity-tag: "the condition
	 * is true" only if it matches "using the strong comparison function"
	 * (section 13.1.5), so a weak tag never does.  ("Wed, ..." is a
	 * date: only "W/" starts a weak tag.) */
	if (value[0] == '"' || (len >= 2 && value[0] == 'W' && value[1] == '/')) {
		if (etag_span(value, len, &weak) != len || weak || !v->etag_len)
			return false;
		return http_etag_eq_strong(value, len, v->etag, v->etag_len);
	}
	/* An HTTP-date: false unless it "is a strong validator in the sense
	 * defined by Section 8.8.2.2" and "exactly matches" Last-Modified (not
	 * the earlier-or-equal of If-Unmodified-Since).  A file can change
	 * twice in one second; a Last-Modified at least 60 s old is the
	 * heuristic section 8.8.2.2 gives clients and Apache uses here. */
	if (!v->has_last_modified || http_date_parse_any(value, len, v->now, &d) < 0)
		return false;
	return d == v->last_modified && v->now - v->last_modified >= HTTP_LM_STRONG_AGE;
}
