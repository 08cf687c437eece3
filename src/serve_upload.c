/* serve_upload.c - how an upload is handled: POST /upload is admitted
 * (rate_limit_uploads, HTTP Basic credentials from upload_users_file, the
 * quota), then its body (Content-Length or chunked, 100-continue) streams
 * into a temporary file through upload.c's fixed buffer, validated as JSON
 * on the way; at its end it is stored durably and answered 201 with its
 * Location.  Nothing of the body is ever whole in memory. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "auth.h"
#include "chunked.h"
#include "clock.h"
#include "conn_priv.h"
#include "guard.h"
#include "log.h"
#include "metrics.h"
#include "quota.h"
#include "upload.h"

/* RFC 7617 section 2 and 2.1 */
#define WWW_AUTHENTICATE "WWW-Authenticate: Basic realm=\"mthttpd uploads\", charset=\"UTF-8\"\r\n"

void serve_upload_release(struct iobuf *io)
{
	upload_stream_free(io->up);
	io->up = NULL;
	if (io->quota_held) {
		quota_release(guard_quota(), io->quota_reserved);
		io->quota_held = false;
		io->quota_reserved = 0;
	}
}

/* Answer STATUS (JSON, with EXTRA field lines) before or in the middle of
 * the body: what was not read is not read, so the connection closes. */
static void refuse(struct conn *c, int status, const char *message, const char *extra)
{
	struct iobuf *io = c->io;

	serve_upload_release(io);
	io->close_after = true;
	conn_consume_input(io, io->in_len);
	conn_respond_error_extra(c, status, true, message, extra, false);
	c->state = CONN_WRITE;
}

static void refuse_rate(struct conn *c, uint32_t wait, const char *message)
{
	char extra[64];

	snprintf(extra, sizeof extra, "Retry-After: %" PRIu32 "\r\n", wait);
	refuse(c, 429, message, extra);
}

/* Check the request's credentials against upload_users_file.  Returns
 * true when the upload may go on (the user's name in io->user); otherwise
 * the refusal is built.  The password lives on this stack frame only and
 * is wiped before return. */
static bool check_credentials(struct conn *c, const struct http_header *h)
{
	const struct htpasswd *users = c->site->cfg->upload_users;
	struct auth_cache *cache = guard_auth_cache();
	struct auth_credentials cr;
	int64_t now = mth_clock_ns() / 1000000;
	const char *hash;
	bool ok = false;
	uint32_t wait;
	int r;

	if (!h) {
		refuse(c, 401, "authentication required", WWW_AUTHENTICATE);
		return false;
	}
	r = auth_parse_basic(h->value.p, h->value.len, &cr);
	if (r < 0) {
		log_info("%s: malformed Authorization header on an upload -> 400", c->peer);
		refuse(c, 400, "malformed Authorization header", NULL);
		return false;
	}
	if (r == AUTH_OTHER_SCHEME) {
		refuse(c, 401, "authentication required", WWW_AUTHENTICATE);
		return false;
	}
	hash = htpasswd_lookup(users, cr.user, cr.user_len);
	if (hash && cache && auth_cache_check(cache, &cr, hash, now)) {
		ok = true;
	} else {
		/* a verification costs milliseconds of CPU: bounded per client */
		wait = c->has_ckey ? guard_verify(&c->ckey, c->peer) : 0;
		if (wait) {
			auth_credentials_wipe(&cr);
			refuse_rate(c, wait, "too many authentication attempts");
			return false;
		}
		/* another worker serves the others meanwhile */
		conn_block_begin();
		if (hash)
			ok = auth_verify(hash, cr.pass);
		else
			auth_verify_dummy(cr.pass);
		conn_block_end();
		if (ok && cache)
			auth_cache_add(cache, &cr, hash, now);
	}
	if (!ok) {
		log_event(LOG_NOTICE, LOG_ID_UPLOAD_AUTH_FAILED,
			  LOG_FIELDS(LOG_STR("MTHTTPD_CLIENT", c->peer),
				     LOG_STR("MTHTTPD_USER", cr.user)),
			  "upload from %s: wrong credentials for user \"%s\" -> 401", c->peer,
			  cr.user);
		auth_credentials_wipe(&cr);
		refuse(c, 401, "wrong user name or password", WWW_AUTHENTICATE);
		return false;
	}
	memcpy(c->io->user, cr.user, cr.user_len + 1);
	auth_credentials_wipe(&cr);
	return true;
}

static bool authenticate(struct conn *c, const struct http_request *req)
{
	const struct http_header *h = http_request_header(req, "Authorization");
	bool ok = check_credentials(c, h);

	/* the encoded password stays nowhere: not in the head buffer either
	 * (it points into io->in, which later requests reuse) */
	if (h)
		explicit_bzero((char *)h->value.p, h->value.len);
	return ok;
}

/* The answer to a body that could not be taken into the stream. */
static void stream_failed(struct conn *c, int r)
{
	struct iobuf *io = c->io;
	char msg[200];

	if (r == -EINVAL) {
		snprintf(msg, sizeof msg, "invalid JSON: %s",
			 io->up ? upload_stream_error(io->up) : "?");
		log_info("%s: upload refused at byte %" PRIu64 ": %s -> 400", c->peer, io->body_len,
			 msg);
		refuse(c, 400, msg, NULL);
	} else if (r == -EDQUOT || r == -ENOSPC) {
		log_err("upload from %s (%" PRIu64 " bytes so far) not stored: %s -> 507", c->peer,
			io->body_len, strerror(-r));
		refuse(c, 507, "insufficient storage", NULL);
	} else {
		log_err("upload from %s (%" PRIu64 " bytes so far) not stored: %s -> 500", c->peer,
			io->body_len, strerror(-r));
		refuse(c, 500, "cannot store the upload", NULL);
	}
}

static const struct quota_caps *caps_of(const struct mth_config *cfg, struct quota_caps *caps)
{
	caps->max_bytes = cfg->uploads_max_bytes;
	caps->max_files = cfg->uploads_max_files;
	return caps;
}

/* Admit the upload, open its temporary file and take the body bytes that
 * came with the head; the rest is read in CONN_READ_BODY. */
void serve_upload_start(struct conn *c, const struct http_request *req)
{
	struct iobuf *io = c->io;
	const struct mth_config *cfg = c->site->cfg;
	struct quota_caps caps;
	size_t have;
	uint32_t wait;
	int r;

	io->chunked = req->te_chunked;
	io->body_len = 0;
	io->body_need = io->chunked ? 0 : (uint64_t)req->content_length;
	if (cfg->rate_limit_uploads && c->has_ckey) {
		wait = guard_upload(&c->ckey, cfg, c->peer);
		if (wait) {
			refuse_rate(c, wait, "too many uploads");
			return;
		}
	}
	if (cfg->upload_users && !authenticate(c, req))
		return;
	/* before a byte of the body is read: the whole Content-Length, or
	 * the file alone for a chunked body (its bytes as they come) */
	if (cfg->uploads_max_bytes || cfg->uploads_max_files) {
		if (quota_reserve(guard_quota(), io->body_need, caps_of(cfg, &caps)) < 0) {
			log_info("%s: upload of %" PRIu64 " bytes over the uploads quota -> 507",
				 c->peer, io->body_need);
			refuse(c, 507, "upload quota exceeded", NULL);
			return;
		}
		io->quota_held = true;
		io->quota_reserved = io->body_need;
	}
	r = upload_stream_open(c->site->uploads_fd, &io->up);
	if (r < 0) {
		stream_failed(c, r);
		return;
	}
	conn_consume_input(io, req->head_len);
	if (io->chunked) {
		struct chunked_limits lim = chunked_default_limits;

		lim.max_body = cfg->max_body_size;
		chunked_init(&io->ck, &lim);
	} else {
		have = io->in_len;
		if (have > io->body_need)
			have = (size_t)io->body_need;
		r = upload_stream_write(io->up, io->in, have);
		io->body_len = have;
		conn_consume_input(io, have);
		if (r < 0) {
			stream_failed(c, r);
			return;
		}
	}
	/* RFC 9110 section 10.1.1: everything said so far is acceptable, so
	 * ask for the body (unless it is all here already) */
	io->expect_continue = req->expect_continue && req->version_minor >= 1 &&
			      (io->chunked || io->body_len < io->body_need);
	c->state = CONN_READ_BODY;
}

/* Decode what the head buffer holds into the stream.  Returns 1 when the
 * body is complete, 0 when more input is needed, a negative errno when the
 * stream refused it, or an HTTP status from the decoder. */
static int decode_chunked(struct conn *c)
{
	struct iobuf *io = c->io;
	const struct mth_config *cfg = c->site->cfg;
	struct quota_caps caps;

	for (;;) {
		size_t used = 0, made = 0, room;
		char *out = upload_stream_space(io->up, &room);
		enum chunked_status st =
			chunked_decode(&io->ck, io->in, io->in_len, out, room, &used, &made);
		int r;

		conn_consume_input(io, used);
		if (made) {
			if (io->quota_held) {
				if (quota_grow(guard_quota(), made, caps_of(cfg, &caps)) < 0)
					return -EDQUOT;
				io->quota_reserved += made;
			}
			r = upload_stream_advance(io->up, made);
			io->body_len += made;
			if (r < 0)
				return r;
		}
		if (st == CHUNKED_DONE)
			return 1; /* what is left in io->in is the next request */
		if (st == CHUNKED_ERROR)
			return chunked_error_status(&io->ck);
		if (io->in_len == 0)
			return 0;
	}
}

static void chunked_failed(struct conn *c, int status)
{
	log_info("%s: upload body rejected -> %d", c->peer, status);
	refuse(c, status,
	       status == 413 ? "body larger than max_body_size" : "malformed chunked body", NULL);
}

/* {"status":"created","path":"/uploads/NAME","bytes":N} and a newline,
 * written by json-c (the server's JSON; bodies are validated by
 * json_validate.c).  The file is stored whatever happens here: without
 * memory for json-c the body is just {"status":"created"}. */
static int created_body(char *out, size_t cap, const char *path, size_t path_len, uint64_t len)
{
	struct json_object *o = json_object_new_object();
	const char *txt = NULL;
	int n;

	if (o) {
		json_object_object_add(o, "status", json_object_new_string("created"));
		json_object_object_add(o, "path", json_object_new_string_len(path, (int)path_len));
		json_object_object_add(o, "bytes", json_object_new_uint64(len));
		txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								JSON_C_TO_STRING_NOSLASHESCAPE);
	}
	n = snprintf(out, cap, "%s\n", txt ? txt : "{\"status\":\"created\"}");
	json_object_put(o);
	return n;
}

static void finish_upload(struct conn *c)
{
	struct iobuf *io = c->io;
	char name[UPLOAD_NAME_MAX], body[256], extra[128];
	uint64_t len = io->body_len;
	int r, n, m;

	/* fdatasync and fsyncs: another worker takes over meanwhile (not worth
	 * a hand-off where fsync has nothing to wait for) */
	if (!c->site->uploads_in_memory)
		conn_block_begin();
	r = upload_stream_finish(io->up, name);
	if (!c->site->uploads_in_memory)
		conn_block_end();
	if (r == -EINVAL) {
		char msg[200];

		/* the whole body was read: the connection may stay */
		snprintf(msg, sizeof msg, "invalid JSON: %s", upload_stream_error(io->up));
		serve_upload_release(io);
		conn_respond_error(c, 400, true, msg, NULL, false);
		return;
	}
	if (r < 0) {
		stream_failed(c, r);
		return;
	}
	if (io->quota_held) {
		quota_commit(guard_quota(), io->quota_reserved, len);
		io->quota_held = false;
		io->quota_reserved = 0;
	}
	serve_upload_release(io);
	if (io->user[0])
		log_event(LOG_INFO, LOG_ID_UPLOAD_STORED,
			  LOG_FIELDS(LOG_STR("MTHTTPD_CLIENT", c->peer),
				     LOG_STR("MTHTTPD_UPLOAD", name), LOG_UINT("MTHTTPD_BYTES", len),
				     LOG_STR("MTHTTPD_USER", io->user)),
			  "upload from %s (user %s) stored as %s/%s (%" PRIu64 " bytes)", c->peer,
			  io->user, c->site->cfg->uploads_dir, name, len);
	else
		log_event(LOG_INFO, LOG_ID_UPLOAD_STORED,
			  LOG_FIELDS(LOG_STR("MTHTTPD_CLIENT", c->peer),
				     LOG_STR("MTHTTPD_UPLOAD", name), LOG_UINT("MTHTTPD_BYTES", len)),
			  "upload from %s stored as %s/%s (%" PRIu64 " bytes)", c->peer,
			  c->site->cfg->uploads_dir, name, len);
	metrics_upload(len);
	m = snprintf(extra, sizeof extra, "Location: /uploads/%s\r\n", name);
	n = created_body(body, sizeof body, extra + 10, (size_t)m - 12, len);
	conn_set_response(c, 201, "application/json", body, (size_t)n, (size_t)n, extra, (size_t)m,
			  false);
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
		size_t room = 0;
		char *p = NULL;

		if (io->chunked) {
			/* raw chunked bytes go through the head buffer */
			int r = decode_chunked(c);

			if (r == 1)
				break;
			if (r < 0) {
				stream_failed(c, r);
				return STEP_AGAIN;
			}
			if (r > 1) {
				chunked_failed(c, r);
				return STEP_AGAIN;
			}
		} else if (io->body_len >= io->body_need) {
			break;
		}
		if (*budget >= RUN_BYTES_BUDGET) {
			c->rd_more = true; /* yield: the socket is still readable */
			return STEP_READ;
		}
		if (io->chunked) {
			n = conn_read(c, io->in + io->in_len, io->in_cap - io->in_len);
		} else {
			/* straight into the stream's buffer */
			p = upload_stream_space(io->up, &room);
			if (room > io->body_need - io->body_len)
				room = (size_t)(io->body_need - io->body_len);
			n = conn_read(c, p, room);
		}
		if (n > 0) {
			*budget += (unsigned)n;
			if (io->chunked) {
				io->in_len += (size_t)n;
			} else {
				int r = upload_stream_advance(io->up, (size_t)n);

				io->body_len += (uint64_t)n;
				if (r < 0) {
					stream_failed(c, r);
					return STEP_AGAIN;
				}
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return STEP_READ;
		log_info("%s: connection lost during an upload body (%" PRIu64 " bytes received)",
			 c->peer, io->body_len);
		serve_upload_release(io);
		return STEP_CLOSE;
	}
	finish_upload(c);
	c->state = CONN_WRITE;
	return STEP_AGAIN;
}

/* HTTP/2 (h2.c): the body arrives in DATA frames, already unframed; a
 * Content-Length, when sent, is checked by nghttp2 against the frames
 * (RFC 9113 section 8.1.1) and by us against what we reserved. */
void serve_upload_data(struct conn *c, const char *data, size_t len)
{
	struct iobuf *io = c->io;
	const struct mth_config *cfg = c->site->cfg;
	struct quota_caps caps;
	int r;

	if (c->state != CONN_READ_BODY || !len)
		return;
	if (io->chunked) {
		/* no Content-Length: the size is known as it comes */
		if (io->body_len + len > cfg->max_body_size) {
			log_info("%s: upload body over max_body_size -> 413", c->peer);
			refuse(c, 413, "body larger than max_body_size", NULL);
			return;
		}
		if (io->quota_held) {
			if (quota_grow(guard_quota(), len, caps_of(cfg, &caps)) < 0) {
				stream_failed(c, -EDQUOT);
				return;
			}
			io->quota_reserved += len;
		}
	} else if (len > io->body_need - io->body_len) {
		log_info("%s: upload body longer than its Content-Length -> 400", c->peer);
		refuse(c, 400, "body longer than Content-Length", NULL);
		return;
	}
	r = upload_stream_write(io->up, data, len);
	io->body_len += len;
	if (r < 0)
		stream_failed(c, r);
}

void serve_upload_data_end(struct conn *c)
{
	struct iobuf *io = c->io;

	if (c->state != CONN_READ_BODY)
		return;
	if (!io->chunked && io->body_len < io->body_need) {
		log_info("%s: upload body shorter than its Content-Length -> 400", c->peer);
		refuse(c, 400, "body shorter than Content-Length", NULL);
		return;
	}
	finish_upload(c);
	c->state = CONN_WRITE;
}
