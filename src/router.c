/* router.c - method, Host, path and body-framing rules, in the order RFC 9110
 * and our security policy need them. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "host.h"
#include "path.h"
#include "router.h"
#include "upload.h"

#define ALLOW_ALL "GET, HEAD, POST"
#define ALLOW_READ "GET, HEAD"
#define ALLOW_UPLOAD "POST"

static void fail(struct route *r, int status, const char *message)
{
	r->kind = ROUTE_ERROR;
	r->status = status;
	r->message = message;
}

static bool is_known_method(enum http_method m)
{
	return m != HTTP_M_UNKNOWN;
}

/* Host (RFC 9112 section 3.2): the parser already refused HTTP/1.1 without
 * Host and duplicates.  With an absolute-form target the target's authority
 * is what names the server (RFC 9112 section 3.2.2), so that is checked;
 * HTTP/1.0 without Host names nothing and is let through. */
/* RFC 9110 section 7.4 and RFC 6066 section 3: on TLS, a Host naming
 * another server than the one the handshake was for is answered 421 (a
 * client reusing a connection for another name must open a new one).  An
 * invalid Host is left to host_check's 400. */
static bool sni_mismatch(const char *sni, const char *v, size_t len)
{
	struct host_name h;
	size_t n = strlen(sni);

	if (host_parse(v, len, &h) < 0)
		return false;
	if (n && sni[n - 1] == '.')
		n--;
	return strlen(h.name) != n || strncasecmp(h.name, sni, n) != 0;
}

static bool check_host(const struct site *s, const struct http_request *req,
		       const struct route_conn *rc, struct route *r)
{
	const char *v;
	size_t len;

	if (req->target_authority.len) {
		v = req->target_authority.p;
		len = req->target_authority.len;
	} else if (req->has_host) {
		v = req->host.p;
		len = req->host.len;
	} else {
		return true;
	}
	if (rc->sni && sni_mismatch(rc->sni, v, len)) {
		fail(r, 421, "Host does not match the TLS server name");
		r->close = true;
		return false;
	}
	switch (host_check_port(s->hosts, v, len, rc->port, rc->tls ? 443 : 80)) {
	case HOST_OK:
		return true;
	case HOST_INVALID:
		fail(r, 400, "invalid Host");
		r->security = true;
		return false;
	case HOST_FORBIDDEN:
	default:
		fail(r, 403, "Host not allowed");
		r->security = true;
		return false;
	}
}

/* Returns the length of r->rel, or -1 with the error in R. */
static int check_path(const struct site *s, const struct http_request *req, struct route *r)
{
	int n = path_normalize(req->path.p, req->path.len, r->rel, sizeof r->rel, &r->is_dir);

	if (n >= 0) {
		unsigned max = s->cfg->max_path_depth, depth;

		/* N bytes hold at most (N + 1) / 2 segments: count them only
		 * when there could be too many */
		if (((unsigned)n + 1) / 2 <= max)
			return n;
		depth = r->rel[0] ? 1 : 0;
		for (const char *p = r->rel; *p; p++)
			depth += *p == '/';
		if (depth <= max)
			return n;
		n = -ENAMETOOLONG; /* deeper than max_path_depth */
	}
	switch (n) {
	case -EACCES:
		fail(r, 403, "forbidden path (traversal attempt)");
		r->security = true;
		break;
	case -ENAMETOOLONG:
		fail(r, 414, "path too long or too deep");
		break;
	default:
		fail(r, 400, "malformed path");
		break;
	}
	return -1;
}

/* Is the N bytes long REL the literal LIT? */
#define REL_IS(rel, n, lit) ((size_t)(n) == sizeof(lit) - 1 && memcmp((rel), (lit), (n)) == 0)

static void route_upload_post(const struct site *s, const struct http_request *req,
			      struct route *r)
{
	r->json = true;
	if (!req->content_type.len ||
	    !upload_content_type_ok(req->content_type.p, req->content_type.len)) {
		fail(r, 415, "Content-Type must be application/json");
		r->close = true;
		return;
	}
	/* A body is framed by Content-Length or by the chunked coding (the
	 * parser refused both together, the router other codings); without
	 * either there is no body to store (RFC 9110 section 15.5.12). */
	if (!req->te_chunked && req->content_length < 0) {
		fail(r, 411, "Content-Length or chunked transfer coding required");
		r->close = true;
		return;
	}
	if (req->te_chunked) {
		r->kind = ROUTE_UPLOAD_POST; /* the decoder enforces max_body_size */
		return;
	}
	if ((uint64_t)req->content_length > s->cfg->max_body_size) {
		fail(r, 413, "body larger than max_body_size");
		r->close = true;
		return;
	}
	r->kind = ROUTE_UPLOAD_POST;
}

void router_route(const struct site *s, const struct http_request *req, unsigned conn_port,
		  struct route *r)
{
	const struct route_conn rc = { .port = conn_port };

	router_route_conn(s, req, &rc, r);
}

void router_route_conn(const struct site *s, const struct http_request *req,
		       const struct route_conn *rc, struct route *r)
{
	int n;

	memset(r, 0, offsetof(struct route, rel));
	r->rel[0] = '\0';
	r->head = req->method == HTTP_M_HEAD;

	if (!is_known_method(req->method)) {
		fail(r, 501, "method not implemented");
		r->close = true;
		return;
	}
	if (!check_host(s, req, rc, r))
		return;
	/* everything else is for the https side to decide */
	if (!rc->tls && s->cfg->tls.enabled && s->cfg->tls.redirect_http &&
	    (req->has_host || req->target_authority.len)) {
		r->kind = ROUTE_REDIRECT_TLS;
		r->close = req->content_length > 0 || req->has_transfer_encoding;
		return;
	}
	/* Transfer codings other than chunked cannot be framed at all (RFC 9112
	 * section 6.1): answer 501 and close. */
	if (req->has_transfer_encoding && !req->te_chunked) {
		fail(r, 501, "transfer coding not implemented");
		r->close = true;
		return;
	}
	if (req->method != HTTP_M_GET && req->method != HTTP_M_HEAD &&
	    req->method != HTTP_M_POST) {
		fail(r, 405, "method not allowed");
		r->allow = ALLOW_ALL;
		r->close = req->content_length > 0 || req->has_transfer_encoding;
		return;
	}
	n = check_path(s, req, r);
	if (n < 0)
		return;

	if (req->method == HTTP_M_POST) {
		if (!REL_IS(r->rel, n, "upload") || r->is_dir) {
			fail(r, 405, "POST is only accepted at /upload");
			r->allow = ALLOW_READ;
			r->close = true; /* the body was not read */
			return;
		}
		route_upload_post(s, req, r);
		return;
	}

	/* GET and HEAD carry no body we use; one that was sent anyway is not
	 * read, so the connection closes rather than parse it as a request. */
	if (req->content_length > 0 || req->has_transfer_encoding)
		r->close = true;
	if (REL_IS(r->rel, n, "upload")) {
		fail(r, 405, "/upload accepts POST only");
		r->allow = ALLOW_UPLOAD;
		r->json = true;
		return;
	}
	if ((n >= 8 && memcmp(r->rel, "uploads/", 8) == 0) || REL_IS(r->rel, n, "uploads")) {
		size_t skip = n >= 8 ? 8 : 7;
		const char *name = r->rel + skip;
		if (!upload_name_valid(name)) {
			fail(r, 404, "no such upload");
			return;
		}
		memmove(r->rel, name, (size_t)n - skip + 1);
		r->kind = ROUTE_UPLOAD_GET;
		return;
	}
	r->kind = ROUTE_STATIC;
}
