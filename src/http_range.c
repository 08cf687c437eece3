/* http_range.c - byte range requests (RFC 9110 section 14).
 *
 *   Range            = ranges-specifier
 *   ranges-specifier = range-unit "=" OWS range-set    (erratum 7306 adds OWS)
 *   range-set        = 1#range-spec
 *   range-spec       = int-range / suffix-range / other-range
 *   int-range        = first-pos "-" [ last-pos ]
 *   suffix-range     = "-" suffix-length
 *
 * Where the RFC lets a server choose, we choose the answer that always
 * works: the whole representation (200).  A 416 is only for a valid request
 * that the file cannot satisfy, which is what resuming clients (curl -C -,
 * wget -c) expect when they already have the whole file.
 *
 * Abuse (the 2011 "Apache killer": hundreds of overlapping ranges) is
 * bounded by coalescing overlapping and adjacent ranges and by a cap on
 * what remains. */
#include "http_range.h"
#include "util.h"

#include <string.h>


static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* ASCII-only, so no locale can change what "bytes" matches.  LIT is
 * lower-case. */
static bool ascii_caseeq(const char *s, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + ('a' - 'A'));
		if (c != (unsigned char)lit[i])
			return false;
	}
	return true;
}

/* 1*DIGIT at S[*I..LEN), saturating at UINT64_MAX.  Sets *SAT when it did.
 * Returns false when there is no digit. */
static bool parse_pos(const char *s, size_t len, size_t *i, uint64_t *out, bool *sat)
{
	uint64_t v = 0;
	size_t start = *i;

	*sat = false;
	while (*i < len && is_digit(s[*i])) {
		unsigned d = (unsigned)(s[*i] - '0');

		if (v > (UINT64_MAX - d) / 10) {
			v = UINT64_MAX;
			*sat = true;
		} else {
			v = v * 10 + d;
		}
		(*i)++;
	}
	*out = v;
	return *i > start;
}

/* Compare two digit strings by value (both saturated the parser). */
static int cmp_decimal(const char *a, size_t alen, const char *b, size_t blen)
{
	int c;

	while (alen > 1 && *a == '0') {
		a++;
		alen--;
	}
	while (blen > 1 && *b == '0') {
		b++;
		blen--;
	}
	if (alen != blen)
		return alen < blen ? -1 : 1;
	c = memcmp(a, b, alen);
	return (c > 0) - (c < 0);
}

/* Add FIRST..LAST to RS, merged with every range it overlaps or touches.
 * RFC 9110 section 14.2: "a server MAY coalesce any of the ranges that
 * overlap, or that are separated by a gap that is smaller than the overhead
 * of sending multiple parts".  We merge overlapping and adjacent ones only.
 * The merged range takes the place of the earliest range it absorbed, so
 * the parts follow the order of the request (section 15.3.7: "excluding
 * those ranges that were ... coalesced into other ranges").  The members of
 * RS never overlap or touch, so one pass finds everything to merge.
 * Returns -1 when a new range would make RS hold more than MAX. */
static int ranges_add(struct http_ranges *rs, size_t max, uint64_t first, uint64_t last)
{
	size_t i = 0, at = SIZE_MAX;

	while (i < rs->n) {
		struct http_range *r = &rs->r[i];

		/* LAST and r->last are below the size, so "+ 1" cannot wrap. */
		if (r->first > last + 1 || first > r->last + 1) {
			i++;
			continue;
		}
		if (r->first < first)
			first = r->first;
		if (r->last > last)
			last = r->last;
		if (at == SIZE_MAX) {
			at = i++;
			continue;
		}
		memmove(r, r + 1, (rs->n - i - 1) * sizeof(*r));
		rs->n--;
	}
	if (at == SIZE_MAX) {
		if (rs->n == max)
			return -1;
		at = rs->n++;
	}
	rs->r[at].first = first;
	rs->r[at].last = last;
	return 0;
}

enum http_range_result http_range_parse(const char *value, size_t len, uint64_t size,
					size_t max_ranges, struct http_ranges *out)
{
	size_t i = 0, specs = 0;
	bool empty_suffix = false;

	out->n = 0;
	if (!value || max_ranges == 0)
		return HTTP_RANGE_IGNORE;
	if (max_ranges > HTTP_RANGES_MAX)
		max_ranges = HTTP_RANGES_MAX;
	while (len > 0 && is_ows(value[len - 1]))
		len--;
	while (i < len && is_ows(value[i]))
		i++;

	/* Section 14.1: "range units are compared case-insensitively"; section
	 * 14.2: "An origin server MUST ignore a Range header field that
	 * contains a range unit it does not understand." */
	if (len - i < 6 || !ascii_caseeq(value + i, "bytes=", 6))
		return HTTP_RANGE_IGNORE;
	i += 6;

	while (i < len) {
		uint64_t first, last;
		size_t a0, a1, b0;
		bool fsat, lsat;

		/* Section 5.6.1.2: a recipient MUST accept empty list elements;
		 * OWS surrounds the commas. */
		if (is_ows(value[i]) || value[i] == ',') {
			i++;
			continue;
		}
		specs++;
		if (value[i] == '-') {
			/* suffix-range: the last SUFFIX-LENGTH bytes.  Section
			 * 14.1.2: satisfiable when the length is not zero; "if
			 * the selected representation is shorter than the
			 * specified suffix-length, the entire representation is
			 * used". */
			i++;
			if (!parse_pos(value, len, &i, &last, &lsat))
				goto invalid;
			if (last == 0) {
				/* unsatisfiable, skipped */
			} else if (size == 0) {
				empty_suffix = true;
			} else if (ranges_add(out, max_ranges, last >= size ? 0 : size - last,
					      size - 1) < 0) {
				goto too_many;
			}
		} else {
			a0 = i;
			if (!parse_pos(value, len, &i, &first, &fsat))
				goto invalid; /* other-range: not for bytes */
			a1 = i;
			if (i == len || value[i] != '-')
				goto invalid;
			i++;
			last = UINT64_MAX;
			lsat = false;
			if (i < len && is_digit(value[i])) {
				b0 = i;
				parse_pos(value, len, &i, &last, &lsat);
				/* Section 14.1.1: "A range-spec is invalid if the
				 * last-pos value is present and less than the
				 * first-pos." */
				if (fsat && lsat) {
					if (cmp_decimal(value + b0, i - b0, value + a0, a1 - a0) <
					    0)
						goto invalid;
				} else if (last < first) {
					goto invalid;
				}
			}
			/* Section 14.1.2: an int-range is satisfiable when
			 * first-pos < length; last-pos is clipped to length - 1. */
			if (first < size &&
			    ranges_add(out, max_ranges, first, last >= size ? size - 1 : last) < 0)
				goto too_many;
		}
		while (i < len && is_ows(value[i]))
			i++;
		if (i < len && value[i] != ',')
			goto invalid;
	}
	/* range-set = 1#range-spec: at least one. */
	if (specs == 0)
		goto invalid;
	if (out->n > 0)
		return HTTP_RANGE_PARTIAL;
	/* Section 14.1.2 calls a non-zero suffix-range satisfiable even for
	 * zero bytes, but no Content-Range can describe nothing (section 14.4);
	 * section 14.2: "A server that supports range requests MAY ignore a
	 * Range header field when the selected representation has no
	 * content".  Every other spec was unsatisfiable: 416 (section 15.5.17). */
	if (empty_suffix)
		return HTTP_RANGE_IGNORE;
	return HTTP_RANGE_UNSATISFIABLE;

too_many:
	/* Section 14.2: "A server that supports range requests MAY ignore or
	 * reject a Range header field that contains ... a ranges-specifier
	 * with more than two overlapping ranges, or a set of many small ranges
	 * that are not listed in ascending order".  Coalescing took care of
	 * the overlaps; what is still too many is ignored, like nginx's
	 * max_ranges and Apache's MaxRanges do: the client gets the file. */
invalid:
	/* Section 14.2: a server "MAY ignore or reject a Range header field
	 * that contains an invalid ranges-specifier".  We ignore it: a 416
	 * would claim the file cannot supply what was asked, but nothing
	 * intelligible was asked. */
	out->n = 0;
	return HTTP_RANGE_IGNORE;
}

static bool name_is(const struct http_header *h, const char *lit, size_t n)
{
	return h->name.len == n && ascii_caseeq(h->name.p, lit, n);
}

enum http_range_result http_range_select(const struct http_request *req,
					 const struct http_validators *v, uint64_t size,
					 size_t max_ranges, struct http_ranges *out)
{
	const struct http_header *range = NULL, *if_range = NULL;
	size_t n_range = 0, n_if_range = 0;

	out->n = 0;
	/* Section 14.2: "A server MUST ignore a Range header field received
	 * with a request method that is unrecognized or for which range
	 * handling is not defined.  For this specification, GET is the only
	 * method for which range handling is defined."  HEAD therefore
	 * reports the whole representation. */
	if (req->method != HTTP_M_GET)
		return HTTP_RANGE_IGNORE;
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];

		if (name_is(h, "range", 5)) {
			if (!n_range++)
				range = h;
		} else if (name_is(h, "if-range", 8)) {
			if (!n_if_range++)
				if_range = h;
		}
	}
	/* Range is a singleton field (one ranges-specifier): two lines would
	 * combine into an invalid value, which we ignore. */
	if (n_range != 1)
		return HTTP_RANGE_IGNORE;
	/* Section 13.1.5: "If the validator does not match, then the server
	 * MUST ignore the Range header field."  Two If-Range lines are not one
	 * validator and match nothing. */
	if (n_if_range > 1 ||
	    (n_if_range == 1 && !http_etag_if_range(if_range->value.p, if_range->value.len, v)))
		return HTTP_RANGE_IGNORE;
	return http_range_parse(range->value.p, range->value.len, size, max_ranges, out);
}

/* A bounded writer: counts everything, writes only while all of it fits. */
struct wr {
	char *p;
	size_t cap;
	size_t len;
	bool ok;
};

static void put(struct wr *w, const char *s, size_t n)
{
	if (w->ok && w->p && n < w->cap - w->len)
		memcpy(w->p + w->len, s, n);
	else
		w->ok = false;
	w->len += n;
}

static void put_str(struct wr *w, const char *s)
{
	put(w, s, strlen(s));
}

static void put_u64(struct wr *w, uint64_t v)
{
	char tmp[20];
	size_t n = sizeof(tmp);

	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(w, tmp + n, sizeof(tmp) - n);
}

/* NUL-terminate and return the length, or 0 when it did not all fit. */
static size_t finish(struct wr *w)
{
	if (!w->ok || !w->p || w->len >= w->cap)
		return 0;
	w->p[w->len] = '\0';
	return w->len;
}

size_t http_range_content_range(char *out, size_t outsz, const struct http_range *r, uint64_t size)
{
	struct wr w = { out, outsz, 0, true };

	/* Section 14.4: range-resp = incl-range "/" ( complete-length / "*" );
	 * unsatisfied-range = "*" "/" complete-length. */
	put_str(&w, "bytes ");
	if (r) {
		put_u64(&w, r->first);
		put(&w, "-", 1);
		put_u64(&w, r->last);
	} else {
		put(&w, "*", 1);
	}
	put(&w, "/", 1);
	put_u64(&w, size);
	return finish(&w);
}

void http_range_boundary(char *out, uint64_t rnd)
{
	memcpy(out, "mthttpd-", 8);
	mth_hex16(out + 8, rnd);
	out[HTTP_RANGE_BOUNDARY_LEN] = '\0';
}

static void part_head(struct wr *w, const char *boundary, const char *ctype,
		      const struct http_range *r, uint64_t size)
{
	put(w, "\r\n--", 4);
	put_str(w, boundary);
	put(w, "\r\n", 2);
	if (ctype) {
		put_str(w, "Content-Type: ");
		put_str(w, ctype);
		put(w, "\r\n", 2);
	}
	put_str(w, "Content-Range: bytes ");
	put_u64(w, r->first);
	put(w, "-", 1);
	put_u64(w, r->last);
	put(w, "/", 1);
	put_u64(w, size);
	put(w, "\r\n\r\n", 4);
}

static void tail(struct wr *w, const char *boundary)
{
	put(w, "\r\n--", 4);
	put_str(w, boundary);
	put(w, "--\r\n", 4);
}

size_t http_range_part_head(char *out, size_t outsz, const char *boundary, const char *ctype,
			    const struct http_range *r, uint64_t size)
{
	struct wr w = { out, outsz, 0, true };

	part_head(&w, boundary, ctype, r, size);
	return finish(&w);
}

size_t http_range_part_head_len(const char *boundary, const char *ctype, const struct http_range *r,
				uint64_t size)
{
	struct wr w = { NULL, 0, 0, false };

	part_head(&w, boundary, ctype, r, size);
	return w.len;
}

size_t http_range_multipart_tail(char *out, size_t outsz, const char *boundary)
{
	struct wr w = { out, outsz, 0, true };

	tail(&w, boundary);
	return finish(&w);
}

uint64_t http_range_multipart_length(const struct http_ranges *rs, const char *boundary,
				     const char *ctype, uint64_t size)
{
	struct wr w = { NULL, 0, 0, false };
	uint64_t total = 0;

	/* The ranges are disjoint parts of SIZE <= INT64_MAX bytes, and the
	 * heads are a few KiB at most: no overflow. */
	for (size_t i = 0; i < rs->n; i++) {
		w.len = 0;
		part_head(&w, boundary, ctype, &rs->r[i], size);
		total += w.len + (rs->r[i].last - rs->r[i].first + 1);
	}
	w.len = 0;
	tail(&w, boundary);
	return total + w.len;
}
