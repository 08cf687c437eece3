/* serve_static.c - how a static response is built: GET and HEAD of a file
 * beneath the document root or the uploads directory, through the file
 * cache; validators and preconditions (304/412), Range (206, 416,
 * multipart/byteranges), small bodies from memory, large ones by an fd that
 * conn.c's write step sends. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn_priv.h"
#include "file_cache.h"
#include "http_date.h"
#include "http_etag.h"
#include "http_range.h"
#include "random.h"
#include "response.h"

/* Append N bytes to a field block being built in a fixed buffer. */
static char *put_bytes(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUT_LIT(p, lit) put_bytes((p), (lit), sizeof(lit) - 1)

/* Validator and range fields for a file response: ETag, Last-Modified,
 * Accept-Ranges (RFC 9110 sections 8.8, 14.3), from the strings the file
 * cache formatted once.  OUT has room for FIELDS_CAP bytes: these, a
 * Content-Range and a Content-Disposition for a 255-byte name that is all
 * non-ASCII (filename*= triples it) together. */
#define FIELDS_CAP 2048
static size_t validator_fields(char *out, const struct file_cache_file *f,
			       const struct http_validators *v, bool ranges)
{
	char date[HTTP_DATE_LEN + 1];
	const char *lm = f->last_modified;
	char *p = out;

	/* an mtime in the future is sent as the response's date instead */
	if (v->last_modified != f->mtime) {
		http_date_format(v->last_modified, date);
		lm = date;
	}
	p = PUT_LIT(p, "ETag: ");
	p = put_bytes(p, v->etag, v->etag_len);
	p = PUT_LIT(p, "\r\nLast-Modified: ");
	p = put_bytes(p, lm, HTTP_DATE_LEN);
	if (ranges)
		p = PUT_LIT(p, "\r\nAccept-Ranges: bytes\r\n");
	else
		p = PUT_LIT(p, "\r\nAccept-Ranges: none\r\n");
	return (size_t)(p - out);
}

/* A whole 200 (or its HEAD) from the file cache's copy of the bytes: the
 * body goes into out[] after the head when it fits, so head and body leave
 * in one send(); else do_write() sends out[] and the cached bytes with one
 * sendmsg(), and the iobuf keeps the entry referenced until then. */
static void respond_from_memory(struct conn *c, const struct file_cache_file **fp,
				const char *ctype, const char *extra, size_t elen, bool head)
{
	struct iobuf *io = c->io;
	const struct file_cache_file *f = *fp;

	conn_set_response(c, 200, ctype, NULL, 0, f->size, extra, elen, true);
	if (head || io->status != 200 || f->size == 0)
		return;
	if (f->size <= OUT_CAP - io->out_len) {
		memcpy(io->out + io->out_len, f->data, f->size);
		io->out_len += f->size;
		return;
	}
	io->mem_file = f;
	io->mem_off = 0;
	*fp = NULL; /* the iobuf's reference now */
}

void serve_static(struct conn *c, const struct http_request *req, const struct route *r,
		  bool upload)
{
	struct iobuf *io = c->io;
	const struct mth_config *cfg = c->site->cfg;
	struct file_cache *fc = upload ? c->site->uploads : c->site->files;
	const struct file_cache_file *f = NULL;
	struct http_validators v;
	struct http_ranges rs;
	char extra[FIELDS_CAP], location[ROUTE_PATH_MAX + 2], ctype[160];
	const char *type;
	size_t elen = 0, n;
	unsigned flags = 0, tries = 0;
	bool borrowed = false; /* FD is F's own (file_cache_open), not ours to close */
	int fd = -1, status;
	enum http_range_result rr;

again:
	status =
		file_cache_lookup(fc, r->rel, r->is_dir, flags, &f, &fd, location, sizeof location);
	if (status == 301) {
		char loc[ROUTE_PATH_MAX + 32], body[512];
		int ln = snprintf(loc, sizeof loc, "Location: %s\r\n", location);
		size_t blen = response_error_html(body, sizeof body, 301);
		conn_set_response(c, 301, "text/html; charset=utf-8", body, blen, blen, loc,
				  (size_t)ln, r->head);
		return;
	}
	if (status != 200) {
		if (status == 403)
			conn_log_security(c, 403,
					  "path resolves outside the root or is not readable");
		conn_respond_error(c, status, upload, status == 404 ? "not found" : "cannot serve",
				   NULL, r->head);
		return;
	}
	type = upload ? "application/json" : f->content_type;
	v = f->v;
	http_validators_redate(&v, f->mtime, time(NULL));

	/* RFC 9110 section 13.2.2: preconditions first, then Range */
	status = http_conditional_evaluate(req, &v);
	if (status == 304) {
		/* RFC 9110 section 15.4.5: the fields a 200 would carry; the
		 * Content-Length is the 200's (section 8.6) */
		elen = validator_fields(extra, f, &v, cfg->max_ranges > 0);
		conn_set_response(c, 304, NULL, NULL, 0, f->size, extra, elen, true);
		goto out;
	}
	if (status == 412) {
		conn_respond_error(c, 412, upload, "precondition failed", NULL, r->head);
		goto out;
	}
	rr = HTTP_RANGE_IGNORE;
	if (cfg->max_ranges)
		rr = http_range_select(req, &v, f->size, cfg->max_ranges, &rs);
	if (rr == HTTP_RANGE_UNSATISFIABLE) {
		char body[512];
		size_t blen = response_error_html(body, sizeof body, 416);
		elen = (size_t)snprintf(extra, sizeof extra, "Content-Range: ");
		elen += http_range_content_range(extra + elen, sizeof extra - elen, NULL, f->size);
		elen += (size_t)snprintf(extra + elen, sizeof extra - elen, "\r\n");
		conn_set_response(c, 416, "text/html; charset=utf-8", body, blen, blen, extra, elen,
				  r->head);
		goto out;
	}

	elen = validator_fields(extra, f, &v, cfg->max_ranges > 0);
	if (upload)
		elen = (size_t)(PUT_LIT(extra + elen, "X-Content-Type-Options: nosniff\r\n") -
				extra);
	else if (f->attachment)
		elen += response_content_disposition(extra + elen, sizeof extra - elen, f->name);

	if (rr == HTTP_RANGE_IGNORE && f->data) {
		respond_from_memory(c, &f, type, extra, elen, r->head);
		goto out;
	}
	/* Ranges and large files: sendfile() from an fd of exactly the file
	 * the validators describe (the one the cache keeps open, or a new
	 * one).  If it changed since the cache looked, decide again on what
	 * is there now; a file replaced again and again in between gets a
	 * few tries. */
	if (!r->head && fd < 0) {
		fd = file_cache_open(fc, f, &borrowed);
		if (fd < 0 && tries++ < 3) {
			file_cache_put(f);
			f = NULL;
			flags = FILE_CACHE_REVALIDATE;
			goto again;
		}
		if (fd < 0) {
			conn_respond_error(c, 500, upload, "cannot serve", NULL, r->head);
			goto out;
		}
	}

	io->file_size = f->size;
	io->file_off = 0;
	io->file_end = f->size;
	if (rr == HTTP_RANGE_PARTIAL && rs.n == 1) {
		elen += (size_t)snprintf(extra + elen, sizeof extra - elen, "Content-Range: ");
		elen += http_range_content_range(extra + elen, sizeof extra - elen, &rs.r[0],
						 f->size);
		elen += (size_t)snprintf(extra + elen, sizeof extra - elen, "\r\n");
		io->file_off = rs.r[0].first;
		io->file_end = rs.r[0].last + 1;
		conn_set_response(c, 206, type, NULL, 0, io->file_end - io->file_off, extra, elen,
				  true);
	} else if (rr == HTTP_RANGE_PARTIAL) {
		/* RFC 9110 section 14.6: one part per range, each with its own
		 * Content-Type and Content-Range; the exact length is known.
		 * The part heads point at the type: the site (and its MIME
		 * table) outlives the response. */
		http_range_boundary(io->boundary, random_u64());
		io->part_type = type;
		io->multipart = true;
		io->part = 0;
		io->nparts = (unsigned)rs.n;
		memcpy(io->ranges, rs.r, rs.n * sizeof rs.r[0]);
		snprintf(ctype, sizeof ctype, "multipart/byteranges; boundary=%s", io->boundary);
		conn_set_response(c, 206, ctype, NULL, 0,
				  http_range_multipart_length(&rs, io->boundary, type, f->size),
				  extra, elen, true);
		io->file_off = io->file_end = 0; /* the parts are set up by do_write */
	} else {
		conn_set_response(c, 200, type, NULL, 0, f->size, extra, elen, true);
	}
	n = io->file_end - io->file_off;
	if (!r->head && (n > 0 || io->multipart)) {
		io->file_fd = fd;
		fd = -1;
		if (borrowed) {
			io->fd_file = f; /* the iobuf's reference now */
			f = NULL;
		}
	} else {
		io->multipart = false;
	}
out:
	if (fd >= 0 && !borrowed)
		close(fd);
	file_cache_put(f);
}

/* multipart/byteranges: after the response head and after each part's
 * bytes, put the next part's head (or the closing boundary) into out[] and
 * aim the file window at the next range.  Returns false when all is sent. */
bool serve_static_next_part(struct iobuf *io)
{
	if (!io->multipart || io->part > io->nparts)
		return false;
	if (io->part < io->nparts) {
		const struct http_range *rg = &io->ranges[io->part];
		io->out_len = http_range_part_head(io->out, OUT_CAP, io->boundary, io->part_type,
						   rg, io->file_size);
		io->file_off = rg->first;
		io->file_end = rg->last + 1;
	} else {
		io->out_len = http_range_multipart_tail(io->out, OUT_CAP, io->boundary);
		io->file_off = io->file_end;
	}
	io->out_off = 0;
	io->part++;
	return true;
}
