/* conn.c - one client connection: the state machine (enum conn_state).
 *
 * Reads a request head, parses and routes it, hands it to its handler
 * (serve_static.c for files, serve_upload.c for POST /upload), writes the
 * response and starts over or closes; timeouts, keep-alive and pipelining.
 * Bytes move through the connection's transport (transport.h: plain or
 * TLS), never through a socket call here.  See conn_priv.h for the memory
 * a connection owns. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "cidr.h"
#include "clock.h"
#include "conn_priv.h"
#include "file_cache.h"
#include "host.h"
#include "guard.h"
#include "http_parse.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "proxy_proto.h"
#include "response.h"
#include "router.h"
#include "site.h"
#include "tls_sniff.h"

#define LINGER_MS 2000

/* Connection objects are type-stable: conn_free() puts them on this list and
 * conn_new() takes them back; the memory is only returned by
 * conn_cache_release() when no worker runs any more.  A worker may still hold
 * a pointer to a freed connection from an epoll event it has not processed
 * yet; sched.events (CONN_SCHED_DEAD) tells it the connection is gone, and
 * at worst it runs a new connection once for nothing (see pool.c). */
static pthread_mutex_t free_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *free_list;

/* One spare iobuf per thread: a keep-alive connection gives its buffers back
 * after every response, and the next request on this thread takes them. */
static __thread struct iobuf *io_spare;

static bool draining;
static unsigned https_port;

void conn_set_https_port(unsigned port)
{
	__atomic_store_n(&https_port, port, __ATOMIC_RELAXED);
}
static uint64_t requests_served;

static void (*block_begin)(void), (*block_end)(void);

void conn_set_block_hooks(void (*begin)(void), void (*end)(void))
{
	block_begin = begin;
	block_end = end;
}

void conn_block_begin(void)
{
	if (block_begin)
		block_begin();
}

void conn_block_end(void)
{
	if (block_end)
		block_end();
}

void conn_set_draining(bool on)
{
	__atomic_store_n(&draining, on, __ATOMIC_RELAXED);
}

bool conn_draining(void)
{
	return __atomic_load_n(&draining, __ATOMIC_RELAXED);
}

uint64_t conn_requests_served(void)
{
	return __atomic_load_n(&requests_served, __ATOMIC_RELAXED);
}

/* Decimal digits of V at P; returns the end. */
static char *put_uint(char *p, unsigned v)
{
	char tmp[10];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* "a.b.c.d:port" by hand: inet_ntop + snprintf cost ~2,000 instructions a
 * connection, more than serving a small file. */
static void format_ipv4(char *out, const unsigned char a[4], unsigned port)
{
	char *p = out;

	for (int i = 0; i < 4; i++) {
		p = put_uint(p, a[i]);
		*p++ = i < 3 ? '.' : ':';
	}
	p = put_uint(p, port);
	*p = '\0';
}

static void format_peer(char *out, size_t cap, const struct sockaddr *sa)
{
	char addr[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		format_ipv4(out, (const unsigned char *)&sin->sin_addr, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			/* a dual-stack socket's IPv4 client: log it as IPv4 */
			format_ipv4(out, &sin6->sin6_addr.s6_addr[12], ntohs(sin6->sin6_port));
		} else {
			inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof addr);
			snprintf(out, cap, "[%s]:%u", addr, ntohs(sin6->sin6_port));
		}
	} else {
		snprintf(out, cap, "unknown");
	}
}

struct conn *conn_new(int fd, const struct sockaddr *peer, socklen_t peerlen,
		      const struct listener *l)
{
	struct conn *c;

	pthread_mutex_lock(&free_lock);
	c = free_list;
	if (c)
		free_list = c->next_free;
	pthread_mutex_unlock(&free_lock);
	if (!c) {
		c = calloc(1, sizeof *c);
		if (!c)
			return NULL;
	} else {
		/* everything but sched: a late claimer only looks at that */
		memset((char *)c + offsetof(struct conn, next_free), 0,
		       sizeof *c - offsetof(struct conn, next_free));
	}
	transport_plain_init(&c->tp, fd);
	c->state = CONN_READ_HEAD;
	c->port = l->port;
	c->site_gen = site_generation();
	c->site = site_acquire();
	if (l->tls) {
		/* an "https" socket while the configuration has no tls group:
		 * nothing to answer with */
		if (!c->site->tls || tls_transport_init(&c->tp, fd, c->site->tls) < 0)
			c->state = CONN_CLOSING;
		else
			c->state = CONN_HANDSHAKE;
		/* header_timeout bounds the whole handshake (TLS slowloris) */
		c->hs_deadline = mth_clock_coarse_ms() + (int64_t)c->site->cfg->header_timeout * 1000;
	}
	/* not idle until a response has gone out: a client that connected
	 * before a stop began still gets its first request answered */
	c->idle = false;
	c->h2_idle = false;
	format_peer(c->peer, sizeof c->peer, peer);
	c->has_ckey = client_key_from_sockaddr(&c->ckey, peer, peerlen,
					       c->site->cfg->client_ipv6_prefix) == 0;
	/* A trusted proxy's PROXY header comes first, before the request or,
	 * on a TLS listener, before the ClientHello: do_read_proxy() takes
	 * exactly its bytes from the socket and leaves the rest there for
	 * the transport, then the handshake (CONN_HANDSHAKE) goes on. */
	if (c->state != CONN_CLOSING && c->site->cfg->n_trusted_proxies &&
	    cidr_match(c->site->cfg->trusted_proxies, c->site->cfg->n_trusted_proxies, peer)) {
		/* the header first, within header_timeout of the accept (on
		 * TLS the handshake too, within the same header_timeout) */
		c->state = CONN_READ_PROXY;
		c->proxy_deadline =
			mth_clock_coarse_ms() + (int64_t)c->site->cfg->header_timeout * 1000;
	}
	c->sched.epmask = 0;
	c->sched.started = false;
	/* owned by the caller from here on (release: the fields above are
	 * visible to whoever claims it next) */
	__atomic_store_n(&c->sched.events, 1u, __ATOMIC_RELEASE);
	log_debug("connection from %s on %s", c->peer, l->name);
	return c;
}

struct conn_sched *conn_sched(struct conn *c)
{
	return &c->sched;
}

void conn_cache_release(void)
{
	pthread_mutex_lock(&free_lock);
	while (free_list) {
		struct conn *c = free_list;
		free_list = c->next_free;
		free(c);
	}
	pthread_mutex_unlock(&free_lock);
	conn_thread_exit();
}

void conn_thread_exit(void)
{
	free(io_spare);
	io_spare = NULL;
	h2_thread_exit();
	tls_thread_exit();
}

/* The body's fd is done with: closed, or given back with the file cache
 * entry that keeps it. */
static void io_drop_file(struct iobuf *io)
{
	if (io->fd_file)
		file_cache_put(io->fd_file);
	else if (io->file_fd >= 0)
		close(io->file_fd);
	io->fd_file = NULL;
	io->file_fd = -1;
	io->no_sendfile = false;
}

/* What a request's buffers hold besides memory. */
static void io_drop(struct iobuf *io)
{
	io_drop_file(io);
	file_cache_put(io->mem_file);
	io->mem_file = NULL;
	serve_upload_release(io);
}

void conn_io_free(struct iobuf *io)
{
	if (!io)
		return;
	io_drop(io);
	free(io);
}

void conn_io_drop(struct iobuf *io)
{
	io_drop(io);
}

static void io_release(struct conn *c)
{
	struct iobuf *io = c->io;

	if (!io)
		return;
	io_drop(io);
	c->io = NULL;
	if (!io_spare) {
		io_spare = io;
		return;
	}
	free(io);
}

static size_t in_cap_for(const struct site *s)
{
	return s->limits.max_request_line + 2 + s->limits.max_header_bytes + IN_SLACK;
}

static struct iobuf *io_get(struct conn *c)
{
	struct iobuf *io = c->io;
	size_t cap = in_cap_for(c->site);

	if (io)
		return io;
	io = io_spare;
	io_spare = NULL;
	if (io && io->in_cap < cap) { /* a reload raised the head limits */
		free(io);
		io = NULL;
	}
	if (!io) {
		io = malloc(sizeof *io + cap);
		if (!io)
			return NULL;
		io->in_cap = cap;
	}
	/* only the small header part needs zeroing */
	memset(io, 0, offsetof(struct iobuf, out));
	io->file_fd = -1;
	c->io = io;
	return io;
}

void conn_free(struct conn *c)
{
	if (!c)
		return;
	log_debug("connection from %s closed after %u requests", c->peer, c->requests);
	h2_conn_free(c);
	io_release(c);
	transport_close(&c->tp);
	site_unref(c->site);
	c->site = NULL;
	/* from here on a late claimer backs off (release: pairs with its
	 * acquire, so it never sees this life's fields half torn down) */
	__atomic_store_n(&c->sched.events, CONN_SCHED_DEAD, __ATOMIC_RELEASE);
	pthread_mutex_lock(&free_lock);
	c->next_free = free_list;
	free_list = c;
	pthread_mutex_unlock(&free_lock);
}

int conn_fd(const struct conn *c)
{
	return c->tp.fd;
}

const char *conn_peer(const struct conn *c)
{
	return c->peer;
}

bool conn_awaits_proxy_header(const struct conn *c)
{
	return c->state == CONN_READ_PROXY;
}

static conn_client_fn client_hook;
static void *client_hook_arg;

void conn_set_client_hook(conn_client_fn fn, void *arg)
{
	client_hook = fn;
	client_hook_arg = arg;
}

enum conn_phase conn_phase(const struct conn *c)
{
	return (enum conn_phase)__atomic_load_n(&c->phase, __ATOMIC_RELAXED);
}

static enum conn_phase phase_of(const struct conn *c)
{
	if (c->state == CONN_H2)
		return h2_conn_phase(c);
	if (c->state == CONN_WRITE || c->state == CONN_LINGER)
		return CONN_PHASE_WRITING;
	if (c->state == CONN_READ_HEAD && !(c->io && c->io->in_len))
		return CONN_PHASE_IDLE;
	return CONN_PHASE_READING;
}

int64_t conn_deadline(const struct conn *c)
{
	return __atomic_load_n(&c->deadline, __ATOMIC_RELAXED);
}

bool conn_is_idle(const struct conn *c)
{
	return __atomic_load_n(&c->idle, __ATOMIC_RELAXED);
}

bool conn_h2_unoffered(const struct conn *c)
{
	return __atomic_load_n(&c->h2_idle, __ATOMIC_RELAXED) && !site_h2_offered();
}

void conn_timeout(struct conn *c)
{
	__atomic_store_n(&c->timed_out, true, __ATOMIC_RELAXED);
	transport_wake(&c->tp);
}

/* ------------------------------------------------------------------------
 * Building responses into io->out
 */

/* What the access log keeps of each byte of a request line: 0 ends the line
 * (CR, LF); controls and '"' become '?' so that no client can forge log
 * lines or terminal escapes. */
static unsigned char reqline_map[256];

static void reqline_map_init(void)
{
	for (unsigned ch = 0; ch < 256; ch++)
		reqline_map[ch] = (ch < 0x20 || ch == 0x7f || ch == '"') ? '?' : (unsigned char)ch;
	reqline_map['\r'] = reqline_map['\n'] = 0;
}

void conn_copy_reqline(struct iobuf *io, const char *buf, size_t len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	size_t n = 0, max = len < sizeof io->reqline - 1 ? len : sizeof io->reqline - 1;

	pthread_once(&once, reqline_map_init);
	for (; n < max; n++) {
		unsigned char ch = reqline_map[(unsigned char)buf[n]];
		if (!ch)
			break;
		io->reqline[n] = (char)ch;
	}
	io->reqline[n] = '\0';
}

static void copy_field(char *dst, const struct http_request *req, const char *name)
{
	const struct http_header *h = http_request_header(req, name);
	size_t n = 0;

	if (h) {
		n = h->value.len < LOG_FIELD_CAP - 1 ? h->value.len : LOG_FIELD_CAP - 1;
		memcpy(dst, h->value.p, n);
	}
	dst[n] = '\0';
}

/* Keep the connection after this response?  RFC 9112 section 9.3: HTTP/1.1
 * persists unless "close"; HTTP/1.0 only with "keep-alive". */
static bool want_keep_alive(const struct conn *c, const struct http_request *req)
{
	if (__atomic_load_n(&draining, __ATOMIC_RELAXED))
		return false;
	if (c->requests + 1 >= c->site->cfg->max_requests)
		return false;
	if (req->version_minor >= 1)
		return !req->conn_close;
	return req->conn_keep_alive && !req->conn_close;
}

/* Put head + optional in-memory body into io->out.  EXTRA are further field
 * lines.  Falls back to a bare 500 if it does not fit (it always should). */
void conn_set_response(struct conn *c, int status, const char *ctype, const char *body,
		       size_t body_len, uint64_t content_length, const char *extra,
		       size_t extra_len, bool head_only)
{
	struct iobuf *io = c->io;
	const struct mth_config *cfg = c->site->cfg;
	struct resp_head h = {
		.status = status,
		.content_type = ctype,
		.content_length = content_length,
		.keep_alive = !io->close_after,
		.ka_timeout = cfg->keepalive_timeout,
		.ka_max = cfg->max_requests - c->requests - 1,
		.hsts_max_age = c->tls ? cfg->tls.hsts_max_age : 0,
		.extra = extra,
		.extra_len = extra_len,
	};
	size_t n = response_head(io->out, OUT_CAP, &h);

	if (n == 0 || (!head_only && body_len > OUT_CAP - n)) {
		io->close_after = true;
		status = 500;
		n = (size_t)snprintf(io->out, OUT_CAP,
				     "HTTP/1.1 500 Internal Server Error\r\n"
				     "Content-Length: 0\r\nConnection: close\r\n\r\n");
		body_len = 0;
	}
	if (!head_only && body_len) {
		memcpy(io->out + n, body, body_len);
		n += body_len;
	}
	io->status = status;
	io->head_bytes = n - (head_only ? 0 : body_len);
	io->out_len = n;
	io->out_off = 0;
}

void conn_respond_error_extra(struct conn *c, int status, bool json, const char *message,
			      const char *extra, bool head_only)
{
	char body[512];
	size_t blen;

	if (json)
		blen = response_error_json(body, sizeof body, status, message);
	else
		blen = response_error_html(body, sizeof body, status);
	conn_set_response(c, status, json ? "application/json" : "text/html; charset=utf-8", body,
			  blen, blen, extra, extra ? strlen(extra) : 0, head_only);
}

void conn_respond_error(struct conn *c, int status, bool json, const char *message,
			const char *allow, bool head_only)
{
	char extra[128];

	if (allow)
		snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
	conn_respond_error_extra(c, status, json, message, allow ? extra : NULL, head_only);
}

/* rate_limit_requests: 0 when the request may go on, else it is answered
 * 429 with Retry-After (RFC 6585 section 4).  The connection stays unless
 * a body would be left unread. */
static bool over_request_rate(struct conn *c, const struct http_request *req)
{
	char extra[64];
	uint32_t wait;

	if (!c->site->cfg->rate_limit_requests || !c->has_ckey)
		return false;
	wait = guard_request(&c->ckey, c->site->cfg, c->peer);
	if (!wait)
		return false;
	if (req->content_length > 0 || req->has_transfer_encoding)
		c->io->close_after = true;
	snprintf(extra, sizeof extra, "Retry-After: %" PRIu32 "\r\n", wait);
	conn_respond_error_extra(c, 429, false, NULL, extra, req->method == HTTP_M_HEAD);
	return true;
}

/* A status for a request we could not even parse: always closes. */
static void respond_parse_error(struct conn *c, int status)
{
	struct iobuf *io = c->io;

	conn_copy_reqline(io, io->in, io->in_len);
	io->close_after = true;
	conn_respond_error(c, status, false, NULL, NULL, false);
}

/* ------------------------------------------------------------------------
 * Handlers
 */

/* A request refused for safety (traversal, Host): a warning in the main log
 * whatever access_log says, so that it is never rate-limited away with the
 * request lines nor switched off with them. */
void conn_log_security(const struct conn *c, int status, const char *why)
{
	log_event(LOG_WARNING, LOG_ID_SECURITY_REJECTED,
		  LOG_FIELDS(LOG_STR("MTHTTPD_CLIENT", c->peer),
			     LOG_STR("MTHTTPD_REQUEST", c->io->reqline),
			     LOG_INT("MTHTTPD_STATUS", status), LOG_STR("MTHTTPD_REASON", why)),
		  "security: %s \"%s\": %s -> %d", c->peer, c->io->reqline, why, status);
}

void conn_consume_input(struct iobuf *io, size_t n)
{
	if (n >= io->in_len) {
		io->in_len = 0;
		return;
	}
	memmove(io->in, io->in + n, io->in_len - n);
	io->in_len -= n;
}

/* tls.redirect_http: RFC 9110 section 15.4.9, 308 keeps the method and
 * body, so an upload is sent again to https.  The name comes from the Host
 * (or the absolute-form authority), the port is ours. */
static void respond_redirect_tls(struct conn *c, const struct http_request *req, bool head)
{
	const struct mth_str *a = req->target_authority.len ? &req->target_authority : &req->host;
	unsigned port = __atomic_load_n(&https_port, __ATOMIC_RELAXED);
	char loc[2048], body[512], portbuf[16] = ""; /* loc: within OUT_CAP */
	struct host_name h;
	size_t blen;
	int n;

	if (host_parse(a->p, a->len, &h) < 0) {
		conn_respond_error(c, 400, false, "invalid Host", NULL, head);
		return;
	}
	if (port && port != 443)
		snprintf(portbuf, sizeof portbuf, ":%u", port);
	n = snprintf(loc, sizeof loc, "Location: https://%s%s%.*s\r\n", h.name, portbuf,
		     (int)req->path.len, req->path.p);
	if (n < 0 || (size_t)n >= sizeof loc) {
		conn_respond_error(c, 414, false, NULL, NULL, head);
		return;
	}
	blen = response_error_html(body, sizeof body, 308);
	conn_set_response(c, 308, "text/html; charset=utf-8", body, blen, blen, loc, (size_t)n,
			  head);
}

/* A whole head is buffered: decide, and either build the response or start
 * reading a body. */
void conn_handle_request(struct conn *c, const struct http_request *req)
{
	struct iobuf *io = c->io;
	struct route r;

	/* (an HTTP/2 stream has its own request line, "... HTTP/2.0") */
	if (!c->h2_stream)
		conn_copy_reqline(io, req->method_token.p,
				  (size_t)(io->in + io->in_len - req->method_token.p));
	if (c->site->cfg->access_log == CONFIG_ACCESS_LOG_FILE) {
		copy_field(io->referer, req, "Referer");
		copy_field(io->user_agent, req, "User-Agent");
	}
	io->close_after = !want_keep_alive(c, req);
	if (over_request_rate(c, req)) {
		conn_consume_input(io, io->close_after ? io->in_len : req->head_len);
		c->state = CONN_WRITE;
		return;
	}
	{
		const struct route_conn rc = {
			.port = c->port,
			.tls = c->tls,
			.sni = c->tls ? tls_server_name(&c->tp) : NULL,
		};
		router_route_conn(c->site, req, &rc, &r);
	}
	io->close_after = io->close_after || r.close;

	switch (r.kind) {
	case ROUTE_ERROR:
		if (r.security)
			conn_log_security(c, r.status, r.message);
		conn_respond_error(c, r.status, r.json, r.message, r.allow, r.head);
		break;
	case ROUTE_STATIC:
		serve_static(c, req, &r, false);
		break;
	case ROUTE_UPLOAD_GET:
		serve_static(c, req, &r, true);
		break;
	case ROUTE_UPLOAD_POST:
		serve_upload_start(c, req);
		return;
	case ROUTE_REDIRECT_TLS:
		respond_redirect_tls(c, req, r.head);
		break;
	}
	/* Whatever the handler left unread is not consumed as a new request:
	 * close_after is set for every route that leaves a body behind. */
	conn_consume_input(io, io->close_after ? io->in_len : req->head_len);
	c->state = CONN_WRITE;
}

/* ------------------------------------------------------------------------
 * The state machine.  Each step either moves to another state and asks to
 * run again (STEP_AGAIN) or says what to wait for (enum step).
 */

/* A read that remembers whether the socket may hold more: epoll reports a
 * connection again only when new bytes arrive (edge-triggered), so a read
 * that filled its buffer must be followed by another one before waiting.
 * (The TLS transport reads until its buffer is full or the socket would
 * block, so the same rule holds for it.) */
ssize_t conn_read(struct conn *c, void *buf, size_t len)
{
	ssize_t n = transport_recv(&c->tp, buf, len);

	c->rd_more = n > 0 && (size_t)n == len;
	return n;
}

static void set_idle(struct conn *c, bool on)
{
	__atomic_store_n(&c->idle, on, __ATOMIC_RELAXED);
}

static void log_access(struct conn *c)
{
	struct iobuf *io = c->io;
	struct access_log_entry e = {
		.client = c->peer,
		.request = io->reqline,
		.status = io->status,
		.bytes = io->bytes_sent,
		.body_bytes = io->bytes_sent > io->head_bytes ? io->bytes_sent - io->head_bytes : 0,
		.duration_us = mth_clock_us() - io->start_us,
		.time = io->start_time,
		.referer = io->referer,
		.user_agent = io->user_agent,
		.tls = c->tls ? c->tls_desc : NULL,
		.user = io->user,
		.h2_stream = c->h2_stream,
	};

	access_log_request(c->site->cfg, &e);
	metrics_request(metrics_method_of(io->reqline), e.status, e.bytes, e.duration_us);
}

void conn_request_done(struct conn *c)
{
	log_access(c);
	__atomic_add_fetch(&requests_served, 1, __ATOMIC_RELAXED);
}

/* Can the parser decide yet?  At CRLF CRLF (a whole head), and at a bare
 * LF: RFC 9112 section 2.2 lets a server either take a lone LF as a line
 * end or reject the message.  We reject it (400 from http_parse.c, which
 * also rejects bare CR), at once rather than wait for a CRLF CRLF that a
 * client ending its lines in LF never sends: accepting would make us read
 * a head differently from a proxy in front that keeps "a\nb" inside one
 * field, the start of a request-smuggling split.  Looks at every LF from
 * just before SCAN_FROM on. */
static bool head_decidable(const struct iobuf *io, size_t scan_from)
{
	const char *b = io->in, *p;
	size_t i = scan_from >= 3 ? scan_from - 3 : 0, at;

	for (; i < io->in_len && (p = memchr(b + i, '\n', io->in_len - i)) != NULL; i = at + 1) {
		at = (size_t)(p - b);
		if (at == 0 || b[at - 1] != '\r')
			return true; /* bare LF */
		if (at >= 3 && b[at - 2] == '\n' && b[at - 3] == '\r')
			return true; /* CRLF CRLF */
	}
	return false;
}

/* Should the (incomplete) buffer be shown to the parser now?  Only when it
 * can decide something: a complete head, a full buffer, or a request line
 * already over its limit (414).  This keeps a client that trickles bytes
 * from making us re-parse the whole buffer for every byte. */
static bool worth_parsing(const struct conn *c, size_t old_len)
{
	const struct iobuf *io = c->io;
	size_t rl = c->site->limits.max_request_line + 2;

	if (head_decidable(io, old_len) || io->in_len >= io->in_cap)
		return true;
	return io->in_len > rl && old_len <= rl + 4 && !memmem(io->in, rl, "\r\n", 2);
}

/* Returns true when the request was handled (state is now CONN_WRITE or
 * CONN_READ_BODY); false when more input is needed. */
static bool try_parse(struct conn *c)
{
	struct iobuf *io = c->io;
	struct http_request req;
	int status = 400;

	switch (http_parse_request(io->in, io->in_len, &c->site->limits, &req, &status)) {
	case HTTP_PARSE_DONE:
		conn_handle_request(c, &req);
		return true;
	case HTTP_PARSE_ERROR:
		break;
	case HTTP_PARSE_NEED_MORE:
	default:
		if (io->in_len < io->in_cap)
			return false;
		status = 431; /* cannot happen with the limits the buffer fits */
		break;
	}
	log_info("%s: malformed request -> %d", c->peer, status);
	respond_parse_error(c, status);
	conn_consume_input(io, io->in_len);
	c->state = CONN_WRITE;
	return true;
}

static void begin_request(struct conn *c)
{
	struct iobuf *io = c->io;
	unsigned gen = site_generation();

	set_idle(c, false);
	/* a reload happened: this request uses the new configuration */
	if (gen != c->site_gen) {
		struct site *s = site_acquire();
		if (s) {
			site_unref(c->site);
			c->site = s;
			c->site_gen = gen;
		}
		/* larger head limits need a larger buffer for this request */
		if (in_cap_for(c->site) > io->in_cap) {
			struct iobuf *n = realloc(io, sizeof *io + in_cap_for(c->site));
			if (n) {
				io = c->io = n;
				io->in_cap = in_cap_for(c->site);
			}
		}
	}
	io->start_us = mth_clock_us();
	io->start_time = time(NULL);
	/* header_timeout bounds the whole head, not the gap between bytes: a
	 * client trickling a byte at a time gains nothing (slowloris) */
	io->head_deadline = mth_clock_coarse_ms() + (int64_t)c->site->cfg->header_timeout * 1000;
	io->multipart = false;
	io->chunked = false;
	io->status = 0;
	io->bytes_sent = 0;
	io->head_bytes = 0;
	io->close_after = false;
	io->reqline[0] = '\0';
	io->referer[0] = '\0';
	io->user_agent[0] = '\0';
	io->user[0] = '\0';
}

static enum step proxy_reject(struct conn *c, const char *why);

/* The first bytes of a cleartext connection: a TLS ClientHello on the HTTP
 * port is closed without a word (an answer in cleartext would only be a
 * garbled alert to the client); plain HTTP that came to the TLS port gets a
 * short 400 in cleartext.  True when it decided the step *ST. */
static bool first_bytes(struct conn *c, enum step *st)
{
	struct iobuf *io = c->io;

	if (c->plain_on_tls) {
		/* a PROXY header from a peer that is not a trusted proxy */
		if (c->requests == 0 &&
		    proxy_proto_is_signature((const uint8_t *)io->in, io->in_len)) {
			*st = proxy_reject(c, "PROXY header from an untrusted peer");
			return true;
		}
		log_debug("%s: plain HTTP on the TLS port -> 400", c->peer);
		respond_parse_error(c, 400);
		conn_consume_input(io, io->in_len);
		c->state = CONN_WRITE;
		*st = STEP_AGAIN;
		return true;
	}
	if (tls_sniff((const unsigned char *)io->in, io->in_len) == TLS_SNIFF_TLS) {
		log_debug("%s: a TLS ClientHello on the HTTP port; closing", c->peer);
		*st = STEP_CLOSE;
		return true;
	}
	return false;
}

/* CONN_HANDSHAKE: one more round of the TLS handshake, as far as the socket
 * lets it go. */
static enum step do_handshake(struct conn *c)
{
	const char *why;

	switch (tls_handshake(&c->tp, &why)) {
	case TLS_HS_DONE:
		c->tls = true;
		tls_describe(&c->tp, c->tls_desc);
		if (tls_alpn_is_h2(&c->tp)) {
			/* RFC 9113 section 3.2: h2 from the first byte on */
			if (h2_conn_start(c) < 0) {
				log_err("%s: out of memory", c->peer);
				return STEP_CLOSE;
			}
			c->state = CONN_H2;
			return STEP_AGAIN;
		}
		break;
	case TLS_HS_PLAIN:
		c->plain_on_tls = true;
		break;
	case TLS_HS_WANT_READ:
		return STEP_READ;
	case TLS_HS_WANT_WRITE:
		return STEP_WRITE;
	case TLS_HS_FAIL:
	default:
		log_debug("%s: TLS handshake failed: %s", c->peer, why ? why : "?");
		return STEP_CLOSE;
	}
	c->state = CONN_READ_HEAD;
	if (!io_get(c)) {
		log_err("%s: out of memory", c->peer);
		return STEP_CLOSE;
	}
	return STEP_AGAIN;
}

/* PROXY protocol warnings: at most one a second, so a misconfigured proxy
 * or a scanner cannot flood the log. */
static int64_t last_proxy_log; /* atomic */

static bool proxy_log_due(void)
{
	return log_ratelimit(&last_proxy_log, 1000);
}

/* Close C for breaking the PROXY protocol rules, without a response: the
 * peer is either not speaking HTTP to us or not the proxy it claims. */
static enum step proxy_reject(struct conn *c, const char *why)
{
	metrics_proxy_rejected();
	if (proxy_log_due())
		log_event(LOG_WARNING, LOG_ID_SECURITY_REJECTED,
			  LOG_FIELDS(LOG_STR("MTHTTPD_CLIENT", c->peer)),
			  "security: %s: %s; closing the connection", c->peer, why);
	return STEP_CLOSE;
}

/* The header named the client: from now on it is the peer for everything
 * (logs, per-client cap), and its destination port is the arrival port for
 * the allowed_hosts check. */
static enum step proxy_apply(struct conn *c, const struct proxy_proto_header *h)
{
	struct iobuf *io = c->io;
	const struct sockaddr *src = (const struct sockaddr *)&h->src;
	int r;

	/* a TLS listener's transport has its handshake still to run */
	c->state = c->tp.tls_ctx && !c->tp.tls ? CONN_HANDSHAKE : CONN_READ_HEAD;
	/* LOCAL or UNKNOWN: the proxy itself (health checks), as it is */
	if (!h->local) {
		format_peer(c->peer, sizeof c->peer, src);
		/* per-client limits (rate_limit_*) count the real client */
		c->has_ckey = client_key_from_sockaddr(&c->ckey, src, sizeof h->src,
						       c->site->cfg->client_ipv6_prefix) == 0;
		c->port = ntohs(h->dst.ss_family == AF_INET
					? ((const struct sockaddr_in *)&h->dst)->sin_port
					: ((const struct sockaddr_in6 *)&h->dst)->sin6_port);
	}
	r = !h->local && client_hook ? client_hook(client_hook_arg, c, &h->src) : 0;
	if (r == -EUSERS || r == -EBUSY) {
		/* as the pool answers at accept: 429 at the cap, 503 when
		 * the per-client table cannot take a new client */
		int status = r == -EUSERS ? 429 : 503;
		char body[512];
		size_t blen;

		if (proxy_log_due())
			log_event(LOG_WARNING, LOG_ID_SECURITY_REJECTED,
				  LOG_FIELDS(LOG_STR("MTHTTPD_CLIENT", c->peer),
					     LOG_INT("MTHTTPD_STATUS", status)),
				  "security: %s has max_connections_per_ip (%u) open "
				  "connections, or no room in the client table -> %d",
				  c->peer, c->site->cfg->max_connections_per_ip, status);
		metrics_rejected(status);
		/* before the handshake an answer in cleartext would only
		 * garble a TLS client: close, as the pool does at accept */
		if (c->state == CONN_HANDSHAKE)
			return STEP_CLOSE;
		begin_request(c);
		io = c->io;
		io->close_after = true;
		conn_consume_input(io, io->in_len);
		blen = response_error_html(body, sizeof body, status);
		conn_set_response(c, status, "text/html; charset=utf-8", body, blen, blen,
				  "Retry-After: 5\r\n", 16, false);
		c->state = CONN_WRITE;
		return STEP_AGAIN;
	}
	/* the request, or a TLS ClientHello, is still in the socket: read on
	 * at once, no new edge will announce it */
	return STEP_AGAIN;
}

/* CONN_READ_PROXY: a trusted proxy's connection starts with a PROXY header
 * (v1 or v2), before anything else; the whole of it within header_timeout
 * of the accept (next_deadline).
 *
 * The header comes before whatever the transport speaks (on a TLS port,
 * before the ClientHello), so it is the one thing read from the socket
 * itself rather than through the transport: peeked until complete, then
 * exactly its bytes taken, leaving everything after it in the socket for
 * the transport.  The peeked copy in io->in is scratch (in_len stays 0).
 * Waiting on a partial header is safe with edge-triggered epoll: every
 * arriving segment is a new edge. */
static enum step do_read_proxy(struct conn *c, unsigned *budget)
{
	struct iobuf *io = c->io;
	struct proxy_proto_header h;
	ssize_t n;

	for (;;) {
		n = recv(c->tp.fd, io->in, io->in_cap, MSG_PEEK);
		if (n > 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return STEP_READ;
		return STEP_CLOSE; /* closed before a byte, or broken */
	}
	switch (proxy_proto_parse((const uint8_t *)io->in, (size_t)n, &h)) {
	case PROXY_PROTO_DONE:
		do
			n = recv(c->tp.fd, io->in, h.length, 0);
		while (n < 0 && errno == EINTR);
		if (n != (ssize_t)h.length) /* it was there a moment ago */
			return proxy_reject(c, "PROXY header vanished from the socket");
		*budget += (unsigned)n;
		return proxy_apply(c, &h);
	case PROXY_PROTO_ERROR:
		return proxy_reject(c, "trusted proxy sent no valid PROXY header");
	case PROXY_PROTO_MORE:
	default:
		if ((size_t)n == io->in_cap || h.length > io->in_cap)
			return proxy_reject(c, "trusted proxy sent no valid PROXY header (longer "
					       "than the head buffer)");
		/* (a peer that closes after part of a header is left to
		 * header_timeout: peeking cannot see the end of a stream
		 * behind the bytes it has not taken) */
		return STEP_READ;
	}
}

static enum step do_read_head(struct conn *c, unsigned *budget)
{
	struct iobuf *io = c->io;

	if (io->in_len && conn_is_idle(c)) {
		/* bytes of a pipelined request are already buffered */
		begin_request(c);
		io = c->io; /* begin_request may have grown it */
		if (worth_parsing(c, 0) && try_parse(c))
			return STEP_AGAIN;
	}
	for (;;) {
		size_t old = io->in_len;
		ssize_t n = conn_read(c, io->in + old, io->in_cap - old);

		if (n > 0) {
			if (old == 0) {
				begin_request(c);
				io = c->io; /* begin_request may have grown it */
			}
			io->in_len += (size_t)n;
			*budget += (unsigned)n;
			if (c->requests == 0 && old < TLS_SNIFF_BYTES && !c->tls) {
				enum step st;
				if (first_bytes(c, &st))
					return st;
			}
			/* a PROXY header from a peer that is not a trusted proxy:
			 * someone claims to speak for others */
			if (c->requests == 0 && old < 12 &&
			    proxy_proto_is_signature((const uint8_t *)io->in, io->in_len))
				return proxy_reject(c, "PROXY header from an untrusted peer");
			if (worth_parsing(c, old) && try_parse(c))
				return STEP_AGAIN;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return STEP_READ;
		if (n == 0 && io->in_len)
			log_debug("%s closed in the middle of a request", c->peer);
		return STEP_CLOSE;
	}
}

static void start_linger(struct conn *c)
{
	/* RFC 9112 section 9.6: close the write side first and drain what the
	 * client still sends, so that our answer is not destroyed by a TCP
	 * reset when unread data arrives after close(). */
	transport_shutdown_write(&c->tp);
	io_release(c);
	c->state = CONN_LINGER;
}

/* The response is out: log it and get ready for the next request. */
static enum step finish_response(struct conn *c)
{
	struct iobuf *io = c->io;

	log_access(c);
	c->requests++;
	__atomic_add_fetch(&requests_served, 1, __ATOMIC_RELAXED);
	if (io->close_after) {
		if (io->status >= 400 || io->in_len) {
			start_linger(c);
			return STEP_READ;
		}
		return STEP_CLOSE;
	}
	c->state = CONN_READ_HEAD;
	set_idle(c, true);
	if (io->in_len)
		return STEP_AGAIN; /* a pipelined request waits in the buffer */
	io_release(c);		   /* idle keep-alive: give the buffers back */
	return STEP_READ;
}

/* The rest of out[] and of the cached body, together: one sendmsg() a
 * round, so a small response needs no MSG_MORE and no second call.
 * Returns STEP_AGAIN once both are out. */
static enum step write_mem(struct conn *c, unsigned *budget)
{
	struct iobuf *io = c->io;
	const struct file_cache_file *f = io->mem_file;

	while (io->mem_off < f->size) {
		struct iovec iov[2];
		size_t niov = 0, head = io->out_len - io->out_off;
		ssize_t n;

		if (head) {
			iov[niov].iov_base = io->out + io->out_off;
			iov[niov++].iov_len = head;
		}
		iov[niov].iov_base = (void *)(uintptr_t)(f->data + io->mem_off);
		iov[niov++].iov_len = f->size - io->mem_off;
		n = transport_sendv(&c->tp, iov, (int)niov);
		if (n > 0) {
			size_t h = (size_t)n < head ? (size_t)n : head;
			io->out_off += h;
			io->mem_off += (size_t)n - h;
			io->bytes_sent += (uint64_t)n;
			*budget += (unsigned)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return STEP_WRITE;
		return STEP_CLOSE;
	}
	file_cache_put(f);
	io->mem_file = NULL;
	return STEP_AGAIN;
}

/* pread + send rather than sendfile for this response? (the sendfile key) */
static bool copy_body(const struct conn *c, const struct iobuf *io)
{
	switch (c->site->cfg->sendfile) {
	case CONFIG_SENDFILE_NEVER:
		return true;
	case CONFIG_SENDFILE_ALWAYS:
		return false;
	case CONFIG_SENDFILE_AUTO:
	default:
		return io->no_sendfile;
	}
}

/* "auto": a file system that cannot feed sendfile(2) (EINVAL, ENOSYS,
 * EOPNOTSUPP before a byte moved) gets its bytes read and sent instead;
 * said once per process, since it is the same for every file there. */
static bool sendfile_refused(const struct conn *c, struct iobuf *io, int err)
{
	static bool said;

	if (c->site->cfg->sendfile != CONFIG_SENDFILE_AUTO || io->no_sendfile ||
	    (err != EINVAL && err != ENOSYS && err != EOPNOTSUPP))
		return false;
	io->no_sendfile = true;
	if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
		log_notice("sendfile(2): %s for a file of the document root; such files are "
			   "read and sent instead (sendfile = \"auto\")",
			   strerror(err));
	return true;
}

static enum step do_write(struct conn *c, unsigned *budget)
{
	struct iobuf *io = c->io;

	if (io->mem_file) {
		enum step st = write_mem(c, budget);
		if (st != STEP_AGAIN)
			return st;
	}
	do {
		/* with file bytes following, the head and the first body bytes
		 * share a segment (MSG_MORE) despite TCP_NODELAY */
		bool more = io->file_fd >= 0 && (io->file_off < io->file_end ||
						 (io->multipart && io->part <= io->nparts));

		while (io->out_off < io->out_len) {
			ssize_t n = transport_send(&c->tp, io->out + io->out_off,
						   io->out_len - io->out_off, more);
			if (n > 0) {
				io->out_off += (size_t)n;
				io->bytes_sent += (uint64_t)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return STEP_WRITE;
			return STEP_CLOSE;
		}
		while (io->file_fd >= 0 && io->file_off < io->file_end) {
			uint64_t left = io->file_end - io->file_off;
			off_t off = (off_t)io->file_off;
			ssize_t n;

			if (*budget >= RUN_BYTES_BUDGET) {
				c->wr_more = true; /* yield; still writable */
				return STEP_WRITE;
			}
			n = transport_send_file(&c->tp, io->file_fd, off, (size_t)left,
						copy_body(c, io));
			if (n > 0) {
				io->file_off += (uint64_t)n;
				io->bytes_sent += (uint64_t)n;
				*budget += (unsigned)n;
				if (c->tp.wr_full)
					return STEP_WRITE; /* as nginx and lighttpd do */
				continue;
			}
			if (n < 0 && (errno == EINTR || sendfile_refused(c, io, errno)))
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return STEP_WRITE;
			if (n == 0)
				log_warning("%s: file shrank while being sent (\"%s\")", c->peer,
					    io->reqline);
			return STEP_CLOSE;
		}
	} while (serve_static_next_part(io));
	io_drop_file(io);
	io->multipart = false;
	return finish_response(c);
}

static enum step do_linger(struct conn *c)
{
	char sink[4096];

	for (;;) {
		ssize_t n = conn_read(c, sink, sizeof sink);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return STEP_READ;
		return STEP_CLOSE;
	}
}

/* When the reaper may give up on a parked connection: each phase has its
 * own limit (RFC 9112 section 9.5 leaves them to the server). */
static int64_t next_deadline(const struct conn *c)
{
	const struct mth_config *cfg = c->site->cfg;
	int64_t now = mth_clock_coarse_ms();

	switch (c->state) {
	case CONN_HANDSHAKE:
		return c->hs_deadline;
	case CONN_READ_PROXY:
		return c->proxy_deadline;
	case CONN_LINGER:
		return now + LINGER_MS;
	case CONN_H2:
		return h2_conn_deadline(c);
	case CONN_READ_BODY:
		return now + (int64_t)cfg->body_timeout * 1000;
	case CONN_WRITE:
		return now + (int64_t)cfg->send_timeout * 1000;
	case CONN_READ_HEAD:
		if (c->io && c->io->in_len)
			return c->io->head_deadline;
		return now + (int64_t)cfg->keepalive_timeout * 1000;
	case CONN_CLOSING:
	default:
		return now;
	}
}

static enum step on_timeout(struct conn *c)
{
	struct iobuf *io = c->io;

	if (io && ((c->state == CONN_READ_HEAD && io->in_len) || c->state == CONN_READ_BODY)) {
		/* RFC 9110 section 15.5.9: tell the client why we close */
		log_info("%s: request not received within %us -> 408", c->peer,
			 c->state == CONN_READ_BODY ? c->site->cfg->body_timeout
						    : c->site->cfg->header_timeout);
		if (!io->reqline[0])
			conn_copy_reqline(io, io->in, io->in_len);
		io->close_after = true;
		serve_upload_release(io);
		conn_respond_error(c, 408, false, NULL, NULL, false);
		(void)transport_send(&c->tp, io->out, io->out_len, false);
		io->bytes_sent = io->out_len;
		log_access(c);
	} else if (c->state == CONN_H2) {
		h2_conn_timeout(c);
	} else if (c->state == CONN_HANDSHAKE) {
		log_debug("%s: TLS handshake not done within %us; closing", c->peer,
			  c->site->cfg->header_timeout);
	} else if (c->state == CONN_READ_PROXY) {
		return proxy_reject(c, "trusted proxy sent no complete PROXY header within "
				       "header_timeout");
	} else if (c->state == CONN_WRITE && io) {
		log_info("%s: client read nothing for %us of \"%s\"; closing", c->peer,
			 c->site->cfg->send_timeout, io->reqline);
	}
	return STEP_CLOSE;
}

static enum step run_state(struct conn *c, unsigned *budget)
{
	switch (c->state) {
	case CONN_HANDSHAKE:
		return do_handshake(c);
	case CONN_READ_PROXY:
		return do_read_proxy(c, budget);
	case CONN_READ_HEAD:
		return do_read_head(c, budget);
	case CONN_READ_BODY:
		return serve_upload_read_body(c, budget);
	case CONN_WRITE:
		return do_write(c, budget);
	case CONN_LINGER:
		return do_linger(c);
	case CONN_H2:
		return h2_conn_run(c, budget);
	case CONN_CLOSING:
	default:
		return STEP_CLOSE;
	}
}

#define RUN_STEPS_MAX (4 * RUN_REQUESTS_BUDGET)

enum conn_want conn_run(struct conn *c)
{
	unsigned budget = 0, steps = 0;
	enum step st;

	__atomic_store_n(&c->deadline, 0, __ATOMIC_RELAXED);
	c->wr_more = false; /* rd_more lasts until the next read */
	c->tp.rd_drained = false;
	if (__atomic_load_n(&c->timed_out, __ATOMIC_RELAXED)) {
		st = on_timeout(c);
		goto out;
	}
	/* a handshake needs no buffers yet: a stalled one costs little */
	if (c->state > CONN_HANDSHAKE && c->state < CONN_LINGER && !io_get(c)) {
		log_err("%s: out of memory", c->peer);
		st = STEP_CLOSE;
		goto out;
	}
	do {
		st = run_state(c, &budget);
	} while (st == STEP_AGAIN && ++steps < RUN_STEPS_MAX && budget < RUN_BYTES_BUDGET);
	if (st == STEP_AGAIN)
		return CONN_WANT_AGAIN; /* yield with work buffered */
out:
	switch (st) {
	case STEP_READ:
	case STEP_WRITE:
		/* TLS may need the other direction to go on (a read that must
		 * send, a write that must receive first) */
		if (st == STEP_READ && c->tp.want_write)
			st = STEP_WRITE;
		else if (st == STEP_WRITE && c->tp.want_read)
			st = STEP_READ;
		if ((st == STEP_READ && c->rd_more) || (st == STEP_WRITE && c->wr_more))
			return CONN_WANT_AGAIN;
		__atomic_store_n(&c->phase, (unsigned char)phase_of(c), __ATOMIC_RELAXED);
		__atomic_store_n(&c->deadline, next_deadline(c), __ATOMIC_RELAXED);
		transport_park(&c->tp);
		return st == STEP_READ ? CONN_WANT_READ : CONN_WANT_WRITE;
	case STEP_AGAIN:
	case STEP_CLOSE:
	default:
		c->state = CONN_CLOSING;
		return CONN_WANT_CLOSE;
	}
}
