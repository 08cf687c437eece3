/* serve_upload.c - how an upload is handled: POST /upload's body is read
 * (Content-Length or chunked, 100-continue), validated as JSON, stored
 * durably (upload.c) and answered 201 with its Location. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunked.h"
#include "conn_priv.h"
#include "log.h"
#include "metrics.h"
#include "upload.h"

#define CHUNKED_BODY_START (64 * 1024)

/* Take the body bytes that came with the head; the rest is read in
 * CONN_READ_BODY.  A chunked body goes through the head buffer and is
 * decoded into a buffer that grows up to max_body_size. */
void serve_upload_start(struct conn *c, const struct http_request *req)
{
	struct iobuf *io = c->io;
	uint64_t max = c->site->cfg->max_body_size;
	size_t need, have = io->in_len - req->head_len;

	io->chunked = req->te_chunked;
	if (io->chunked) {
		/* the decoded size is unknown: start small, grow up to
		 * max_body_size (the decoder answers 413 beyond it) */
		struct chunked_limits lim = chunked_default_limits;
		lim.max_body = max;
		chunked_init(&io->ck, &lim);
		need = max < CHUNKED_BODY_START ? (size_t)max : CHUNKED_BODY_START;
	} else {
		need = (size_t)req->content_length;
	}
	io->body = malloc(need ? need : 1);
	if (!io->body) {
		io->close_after = true;
		conn_respond_error(c, 500, true, "out of memory", NULL, false);
		conn_consume_input(io, io->in_len);
		c->state = CONN_WRITE;
		return;
	}
	io->body_len = 0;
	io->body_need = need;
	conn_consume_input(io, req->head_len);
	if (!io->chunked) {
		if (have > need)
			have = need;
		memcpy(io->body, io->in, have);
		io->body_len = have;
		conn_consume_input(io, have);
	}
	/* RFC 9110 section 10.1.1: everything said so far is acceptable, so
	 * ask for the body (unless it is all here already) */
	io->expect_continue = req->expect_continue && req->version_minor >= 1 &&
			      (io->chunked || io->body_len < io->body_need);
	c->state = CONN_READ_BODY;
}

/* Decode what the head buffer holds into the body.  Returns 1 when the body
 * is complete, 0 when more input is needed, or the error status. */
static int decode_chunked(struct conn *c)
{
	struct iobuf *io = c->io;
	uint64_t max = c->site->cfg->max_body_size;

	for (;;) {
		size_t used = 0, made = 0;
		enum chunked_status st =
			chunked_decode(&io->ck, io->in, io->in_len, io->body + io->body_len,
				       io->body_need - io->body_len, &used, &made);
		io->body_len += made;
		conn_consume_input(io, used);
		if (st == CHUNKED_DONE)
			return 1; /* what is left in io->in is the next request */
		if (st == CHUNKED_ERROR)
			return chunked_error_status(&io->ck);
		if (io->in_len == 0 || io->body_len < io->body_need)
			return 0;
		/* the body buffer is full but input is left: grow it */
		if (io->body_need >= max)
			return 413; /* cannot happen: the decoder stops at max */
		{
			size_t cap = io->body_need * 2 > max ? (size_t)max : io->body_need * 2;
			char *b = realloc(io->body, cap ? cap : 1);
			if (!b)
				return 500;
			io->body = b;
			io->body_need = cap;
		}
	}
}

/* The body cannot be taken: answer STATUS and close. */
static void body_failed(struct conn *c, int status)
{
	struct iobuf *io = c->io;

	log_info("%s: upload body rejected -> %d", c->peer, status);
	free(io->body);
	io->body = NULL;
	io->close_after = true;
	conn_consume_input(io, io->in_len);
	conn_respond_error(c, status, true,
			   status == 413   ? "body larger than max_body_size"
			   : status == 500 ? "out of memory"
					   : "malformed chunked body",
			   NULL, false);
	c->state = CONN_WRITE;
}

static void finish_upload(struct conn *c)
{
	struct iobuf *io = c->io;
	char err[160], name[UPLOAD_NAME_MAX], body[256], extra[128];
	int r, n, m;

	r = upload_validate_json(io->body, io->body_len, err, sizeof err);
	if (r == -ENOMEM) {
		log_err("upload from %s (%zu bytes): out of memory validating it -> 500", c->peer,
			io->body_len);
		conn_respond_error(c, 500, true, "out of memory", NULL, false);
		goto out;
	}
	if (r < 0) {
		char msg[200];
		snprintf(msg, sizeof msg, "invalid JSON: %s", err);
		conn_respond_error(c, 400, true, msg, NULL, false);
		goto out;
	}
	/* fsyncs: another worker takes over meanwhile (not worth a hand-off
	 * where fsync has nothing to wait for) */
	if (!c->site->uploads_in_memory)
		conn_block_begin();
	r = upload_store(c->site->uploads_fd, io->body, io->body_len, name);
	if (!c->site->uploads_in_memory)
		conn_block_end();
	if (r < 0) {
		bool full = r == -ENOSPC || r == -EDQUOT;
		log_err("upload from %s (%zu bytes) not stored: %s -> %d", c->peer, io->body_len,
			strerror(-r), full ? 507 : 500);
		conn_respond_error(c, full ? 507 : 500, true,
				   full ? "insufficient storage" : "cannot store the upload", NULL,
				   false);
		goto out;
	}
	log_event(LOG_INFO, LOG_ID_UPLOAD_STORED,
		  LOG_FIELDS(LOG_STR("MTHTTPD_CLIENT", c->peer), LOG_STR("MTHTTPD_UPLOAD", name),
			     LOG_UINT("MTHTTPD_BYTES", io->body_len)),
		  "upload from %s stored as %s/%s (%zu bytes)", c->peer, c->site->cfg->uploads_dir,
		  name, io->body_len);
	metrics_upload(io->body_len);
	n = snprintf(body, sizeof body,
		     "{\"status\":\"created\",\"path\":\"/uploads/%s\",\"bytes\":%zu}\n", name,
		     io->body_len);
	m = snprintf(extra, sizeof extra, "Location: /uploads/%s\r\n", name);
	conn_set_response(c, 201, "application/json", body, (size_t)n, (size_t)n, extra, (size_t)m,
			  false);
out:
	free(io->body);
	io->body = NULL;
}

enum step serve_upload_read_body(struct conn *c, unsigned *budget)
{
	struct iobuf *io = c->io;

	if (io->expect_continue) {
		/* Best effort: if the socket buffer is full the client sends
		 * the body after its own wait anyway.  (Over TLS, the first
		 * record after the request's: an empty send buffer takes it.) */
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		(void)transport_send(&c->tp, cont, sizeof cont - 1, false);
		io->expect_continue = false;
	}
	for (;;) {
		ssize_t n;

		if (io->chunked) {
			/* raw chunked bytes go through the head buffer */
			int r = decode_chunked(c);
			if (r == 1)
				break;
			if (r > 1) {
				body_failed(c, r);
				return STEP_AGAIN;
			}
		} else if (io->body_len >= io->body_need) {
			break;
		}
		if (*budget >= RUN_BYTES_BUDGET) {
			c->rd_more = true; /* yield: the socket is still readable */
			return STEP_READ;
		}
		if (io->chunked)
			n = conn_read(c, io->in + io->in_len, io->in_cap - io->in_len);
		else
			n = conn_read(c, io->body + io->body_len, io->body_need - io->body_len);
		if (n > 0) {
			if (io->chunked)
				io->in_len += (size_t)n;
			else
				io->body_len += (size_t)n;
			*budget += (unsigned)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return STEP_READ;
		log_info("%s: connection lost during an upload body (%zu bytes received)", c->peer,
			 io->body_len);
		return STEP_CLOSE;
	}
	io->body_need = io->body_len;
	finish_upload(c);
	c->state = CONN_WRITE;
	return STEP_AGAIN;
}
