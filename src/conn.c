/* conn.c - one client connection: read, parse, route, handle, write.
 *
 * Memory: a struct conn is small and lives as long as the socket.  While a
 * request is in progress it owns a struct iobuf (request head buffer,
 * response head buffer, per-request state); an idle keep-alive connection
 * gives the iobuf back, so ten thousand idle clients cost little.  The POST
 * body, when there is one, is a separate allocation of Content-Length bytes
 * (bounded by max_body_size) owned by the iobuf. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "chunked.h"
#include "clock.h"
#include "conn.h"
#include "file_cache.h"
#include "http_date.h"
#include "http_etag.h"
#include "http_range.h"
#include "http_parse.h"
#include "listener.h"
#include "log.h"
#include "pool.h"
#include "random.h"
#include "response.h"
#include "router.h"
#include "site.h"
#include "upload.h"

/* The request head buffer holds the largest head the parser accepts: the
 * request line, its CRLF and the field block (see http_default_limits). */
/* The request head buffer holds the largest head the site's limits accept:
 * the request line, its CRLF and the field block (max_request_line,
 * max_header_size); it is sized when the iobuf is allocated. */
#define IN_SLACK 64
#define OUT_CAP 4096
#define LINGER_MS 2000
/* Work done per conn_run() before the worker yields to other connections:
 * a fast client of a big file or a long pipeline must not starve the rest. */
#define RUN_BYTES_BUDGET (1u << 20)
#define RUN_REQUESTS_BUDGET 16
#define SENDFILE_MAX 0x7ffff000 /* what one sendfile(2) call moves at most */
#define COPY_CHUNK 65536        /* pread+send step for loopback clients */
#define COPY_MIN (1u << 20)     /* ... of files at least this large */
#define LOG_FIELD_CAP 256       /* bytes of Referer / User-Agent kept for the log */

struct iobuf {
	size_t in_len;
	size_t out_len, out_off;
	int file_fd;
	uint64_t file_off, file_end;
	char *body;
	size_t body_len, body_need; /* body_need: Content-Length, or capacity when chunked */
	bool expect_continue;
	bool chunked;               /* the body is Transfer-Encoding: chunked */
	struct chunked ck;

	/* multipart/byteranges: the parts still to send after the current one */
	bool multipart;
	unsigned part, nparts;
	char boundary[HTTP_RANGE_BOUNDARY_SIZE];
	const char *part_type;
	uint64_t file_size;
	struct http_range ranges[HTTP_RANGES_MAX];

	/* a body sent from the file cache's copy after out[]: the iobuf
	 * holds a reference to MEM_FILE until the response is done */
	const struct file_cache_file *mem_file;
	size_t mem_off;

	/* the request in progress, for the access log: copies, because the
	 * parsed request dies before the response is complete */
	int status;
	bool close_after;
	int64_t head_deadline; /* monotonic ms: the whole head by then */
	uint64_t bytes_sent;
	size_t head_bytes; /* of the response in out[], for the body size */
	int64_t start_us;
	time_t start_time;
	char reqline[256];
	char referer[LOG_FIELD_CAP];    /* only with an access_log file */
	char user_agent[LOG_FIELD_CAP]; /* only with an access_log file */

	char out[OUT_CAP];
	size_t in_cap;
	char in[]; /* in_cap bytes */
};

struct conn {
	/* first, and never reset between lives: see conn_new/conn_free */
	struct conn_sched sched;
	struct conn *next_free;

	int fd;
	enum conn_state state;
	unsigned port;
	unsigned requests; /* responses completed on this connection */
	unsigned site_gen;
	struct site *site;
	struct iobuf *io;
	int64_t deadline; /* atomic, shared with the reaper */
	bool timed_out;   /* atomic, set by the reaper */
	bool idle;        /* atomic, read by the reaper on shutdown */
	bool rd_more;     /* the last read filled its buffer: more may wait */
	bool wr_more;     /* yielded while the socket was still writable */
	bool loopback;    /* the client is on this host: copy file bodies */
	char peer[56];    /* "ip:port" / "[ip6]:port" */
};

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
static uint64_t requests_served;

void conn_set_draining(bool on)
{
	__atomic_store_n(&draining, on, __ATOMIC_RELAXED);
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

/* 127.0.0.0/8, ::1 or v4-mapped 127/8: a client on this host. */
static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr)[0] == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
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

	(void)peerlen;
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
	c->fd = fd;
	c->state = CONN_READ_HEAD;
	c->port = l->port;
	c->site_gen = site_generation();
	c->site = site_acquire();
	/* not idle until a response has gone out: a client that connected
	 * before a stop began still gets its first request answered */
	c->idle = false;
	format_peer(c->peer, sizeof c->peer, peer);
	c->loopback = is_loopback(peer);
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
}

static void io_release(struct conn *c)
{
	struct iobuf *io = c->io;

	if (!io)
		return;
	if (io->file_fd >= 0)
		close(io->file_fd);
	file_cache_put(io->mem_file);
	free(io->body);
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
	io_release(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
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
	return c->fd;
}

const char *conn_peer(const struct conn *c)
{
	return c->peer;
}

int64_t conn_deadline(const struct conn *c)
{
	return __atomic_load_n(&c->deadline, __ATOMIC_RELAXED);
}

bool conn_is_idle(const struct conn *c)
{
	return __atomic_load_n(&c->idle, __ATOMIC_RELAXED);
}

void conn_timeout(struct conn *c)
{
	__atomic_store_n(&c->timed_out, true, __ATOMIC_RELAXED);
	/* wakes the parked connection (EPOLLIN|EPOLLRDHUP) without closing the
	 * fd under its owner's feet; the write side stays open for a 408 */
	shutdown(c->fd, SHUT_RD);
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

static void copy_reqline(struct iobuf *io, const char *buf, size_t len)
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
static void set_response(struct conn *c, int status, const char *ctype, const char *body,
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

static void respond_error(struct conn *c, int status, bool json, const char *message,
			  const char *allow, bool head_only)
{
	char body[512], extra[128];
	size_t blen, elen = 0;

	if (json)
		blen = response_error_json(body, sizeof body, status, message);
	else
		blen = response_error_html(body, sizeof body, status);
	if (allow)
		elen = (size_t)snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
	set_response(c, status, json ? "application/json" : "text/html; charset=utf-8", body,
		     blen, blen, elen ? extra : NULL, elen, head_only);
}

/* A status for a request we could not even parse: always closes. */
static void respond_parse_error(struct conn *c, int status)
{
	struct iobuf *io = c->io;

	copy_reqline(io, io->in, io->in_len);
	io->close_after = true;
	respond_error(c, status, false, NULL, NULL, false);
}

/* ------------------------------------------------------------------------
 * Handlers
 */

/* A request refused for safety (traversal, Host): a warning in the main log
 * whatever access_log says, so that it is never rate-limited away with the
 * request lines nor switched off with them. */
static void log_security(const struct conn *c, int status, const char *why)
{
	log_event(LOG_WARNING, LOG_ID_SECURITY_REJECTED,
		  LOG_FIELDS(LOG_STR("MTHTTPD_CLIENT", c->peer),
			     LOG_STR("MTHTTPD_REQUEST", c->io->reqline),
			     LOG_INT("MTHTTPD_STATUS", status), LOG_STR("MTHTTPD_REASON", why)),
		  "security: %s \"%s\": %s -> %d", c->peer, c->io->reqline, why, status);
}

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

	set_response(c, 200, ctype, NULL, 0, f->size, extra, elen, true);
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

static void serve_file(struct conn *c, const struct http_request *req, const struct route *r,
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
	unsigned flags = 0;
	int fd = -1, status;
	enum http_range_result rr;

again:
	status = file_cache_lookup(fc, r->rel, r->is_dir, flags, &f, &fd, location,
				   sizeof location);
	if (status == 301) {
		char loc[ROUTE_PATH_MAX + 32], body[512];
		int ln = snprintf(loc, sizeof loc, "Location: %s\r\n", location);
		size_t blen = response_error_html(body, sizeof body, 301);
		set_response(c, 301, "text/html; charset=utf-8", body, blen, blen, loc,
			     (size_t)ln, r->head);
		return;
	}
	if (status != 200) {
		if (status == 403)
			log_security(c, 403, "path resolves outside the root or is not readable");
		respond_error(c, status, upload, status == 404 ? "not found" : "cannot serve",
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
		set_response(c, 304, NULL, NULL, 0, f->size, extra, elen, true);
		goto out;
	}
	if (status == 412) {
		respond_error(c, 412, upload, "precondition failed", NULL, r->head);
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
		set_response(c, 416, "text/html; charset=utf-8", body, blen, blen, extra, elen,
			     r->head);
		goto out;
	}

	elen = validator_fields(extra, f, &v, cfg->max_ranges > 0);
	if (upload)
		elen = (size_t)(PUT_LIT(extra + elen, "X-Content-Type-Options: nosniff\r\n") - extra);
	else if (f->attachment)
		elen += response_content_disposition(extra + elen, sizeof extra - elen, f->name);

	if (rr == HTTP_RANGE_IGNORE && f->data) {
		respond_from_memory(c, &f, type, extra, elen, r->head);
		goto out;
	}
	/* Ranges and large files: sendfile() from an fd of exactly the file
	 * the validators describe.  If it changed since the cache looked,
	 * decide again on what is there now (that lookup hands us its fd). */
	if (!r->head && fd < 0) {
		fd = file_cache_open(fc, f);
		if (fd < 0 && !flags) {
			file_cache_put(f);
			f = NULL;
			flags = FILE_CACHE_REVALIDATE;
			goto again;
		}
		if (fd < 0) {
			respond_error(c, 500, upload, "cannot serve", NULL, r->head);
			goto out;
		}
	}

	io->file_size = f->size;
	io->file_off = 0;
	io->file_end = f->size;
	if (rr == HTTP_RANGE_PARTIAL && rs.n == 1) {
		elen += (size_t)snprintf(extra + elen, sizeof extra - elen, "Content-Range: ");
		elen += http_range_content_range(extra + elen, sizeof extra - elen, &rs.r[0], f->size);
		elen += (size_t)snprintf(extra + elen, sizeof extra - elen, "\r\n");
		io->file_off = rs.r[0].first;
		io->file_end = rs.r[0].last + 1;
		set_response(c, 206, type, NULL, 0, io->file_end - io->file_off, extra, elen, true);
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
		set_response(c, 206, ctype, NULL, 0,
			     http_range_multipart_length(&rs, io->boundary, type, f->size), extra,
			     elen, true);
		io->file_off = io->file_end = 0; /* the parts are set up by do_write */
	} else {
		set_response(c, 200, type, NULL, 0, f->size, extra, elen, true);
	}
	n = io->file_end - io->file_off;
	if (!r->head && (n > 0 || io->multipart)) {
		io->file_fd = fd;
		fd = -1;
	} else {
		io->multipart = false;
	}
out:
	if (fd >= 0)
		close(fd);
	file_cache_put(f);
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
		respond_error(c, 500, true, "out of memory", NULL, false);
		goto out;
	}
	if (r < 0) {
		char msg[200];
		snprintf(msg, sizeof msg, "invalid JSON: %s", err);
		respond_error(c, 400, true, msg, NULL, false);
		goto out;
	}
	/* fsyncs: another worker takes over meanwhile (not worth a hand-off
	 * where fsync has nothing to wait for) */
	if (!c->site->uploads_in_memory)
		pool_block_begin();
	r = upload_store(c->site->uploads_fd, io->body, io->body_len, name);
	if (!c->site->uploads_in_memory)
		pool_block_end();
	if (r < 0) {
		bool full = r == -ENOSPC || r == -EDQUOT;
		log_err("upload from %s (%zu bytes) not stored: %s -> %d", c->peer, io->body_len,
			strerror(-r), full ? 507 : 500);
		respond_error(c, full ? 507 : 500, true,
			      full ? "insufficient storage" : "cannot store the upload", NULL,
			      false);
		goto out;
	}
	log_event(LOG_INFO, LOG_ID_UPLOAD_STORED,
		  LOG_FIELDS(LOG_STR("MTHTTPD_CLIENT", c->peer), LOG_STR("MTHTTPD_UPLOAD", name),
			     LOG_UINT("MTHTTPD_BYTES", io->body_len)),
		  "upload from %s stored as %s/%s (%zu bytes)", c->peer, c->site->cfg->uploads_dir,
		  name, io->body_len);
	n = snprintf(body, sizeof body,
		     "{\"status\":\"created\",\"path\":\"/uploads/%s\",\"bytes\":%zu}\n", name,
		     io->body_len);
	m = snprintf(extra, sizeof extra, "Location: /uploads/%s\r\n", name);
	set_response(c, 201, "application/json", body, (size_t)n, (size_t)n, extra, (size_t)m,
		     false);
out:
	free(io->body);
	io->body = NULL;
}

/* Consume the head (and whatever body bytes are buffered for it) from the
 * input buffer, keeping pipelined bytes that follow. */
static void consume_input(struct iobuf *io, size_t n)
{
	if (n >= io->in_len) {
		io->in_len = 0;
		return;
	}
	memmove(io->in, io->in + n, io->in_len - n);
	io->in_len -= n;
}

#define CHUNKED_BODY_START (64 * 1024)

static void start_upload_body(struct conn *c, const struct http_request *req)
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
		respond_error(c, 500, true, "out of memory", NULL, false);
		consume_input(io, io->in_len);
		c->state = CONN_WRITE;
		return;
	}
	io->body_len = 0;
	io->body_need = need;
	consume_input(io, req->head_len);
	if (!io->chunked) {
		if (have > need)
			have = need;
		memcpy(io->body, io->in, have);
		io->body_len = have;
		consume_input(io, have);
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
		enum chunked_status st = chunked_decode(&io->ck, io->in, io->in_len,
							 io->body + io->body_len,
							 io->body_need - io->body_len, &used, &made);
		io->body_len += made;
		consume_input(io, used);
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

/* A whole head is buffered: decide, and either build the response or start
 * reading a body. */
static void handle_request(struct conn *c, const struct http_request *req)
{
	struct iobuf *io = c->io;
	struct route r;

	copy_reqline(io, req->method_token.p, (size_t)(io->in + io->in_len - req->method_token.p));
	if (c->site->cfg->access_log == CONFIG_ACCESS_LOG_FILE) {
		copy_field(io->referer, req, "Referer");
		copy_field(io->user_agent, req, "User-Agent");
	}
	router_route(c->site, req, c->port, &r);
	io->close_after = r.close || !want_keep_alive(c, req);

	switch (r.kind) {
	case ROUTE_ERROR:
		if (r.security)
			log_security(c, r.status, r.message);
		respond_error(c, r.status, r.json, r.message, r.allow, r.head);
		break;
	case ROUTE_STATIC:
		serve_file(c, req, &r, false);
		break;
	case ROUTE_UPLOAD_GET:
		serve_file(c, req, &r, true);
		break;
	case ROUTE_UPLOAD_POST:
		start_upload_body(c, req);
		return;
	}
	/* Whatever the handler left unread is not consumed as a new request:
	 * close_after is set for every route that leaves a body behind. */
	consume_input(io, io->close_after ? io->in_len : req->head_len);
	c->state = CONN_WRITE;
}

/* ------------------------------------------------------------------------
 * The state machine.  Each step either moves to another state and asks to
 * run again (STEP_AGAIN) or says what to wait for.
 */

enum step { STEP_AGAIN, STEP_READ, STEP_WRITE, STEP_CLOSE };

/* recv(2) that remembers whether the socket may hold more: epoll reports a
 * connection again only when new bytes arrive (edge-triggered), so a read
 * that filled its buffer must be followed by another one before waiting. */
static ssize_t conn_recv(struct conn *c, void *buf, size_t len)
{
	ssize_t n = recv(c->fd, buf, len, 0);

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
	};

	access_log_request(c->site->cfg, &e);
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
		handle_request(c, &req);
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
	consume_input(io, io->in_len);
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
		ssize_t n = conn_recv(c, io->in + old, io->in_cap - old);

		if (n > 0) {
			if (old == 0) {
				begin_request(c);
				io = c->io; /* begin_request may have grown it */
			}
			io->in_len += (size_t)n;
			*budget += (unsigned)n;
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

static void body_failed(struct conn *c, int status)
{
	struct iobuf *io = c->io;

	log_info("%s: upload body rejected -> %d", c->peer, status);
	free(io->body);
	io->body = NULL;
	io->close_after = true;
	consume_input(io, io->in_len);
	respond_error(c, status, true,
		      status == 413 ? "body larger than max_body_size"
		      : status == 500 ? "out of memory"
				      : "malformed chunked body",
		      NULL, false);
	c->state = CONN_WRITE;
}

static enum step do_read_body(struct conn *c, unsigned *budget)
{
	struct iobuf *io = c->io;

	if (io->expect_continue) {
		/* Best effort: if the socket buffer is full the client sends
		 * the body after its own wait anyway. */
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		(void)send(c->fd, cont, sizeof cont - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
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
			n = conn_recv(c, io->in + io->in_len, io->in_cap - io->in_len);
		else
			n = conn_recv(c, io->body + io->body_len, io->body_need - io->body_len);
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

static void start_linger(struct conn *c)
{
	/* RFC 9112 section 9.6: close the write side first and drain what the
	 * client still sends, so that our answer is not destroyed by a TCP
	 * reset when unread data arrives after close(). */
	shutdown(c->fd, SHUT_WR);
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
	io_release(c);             /* idle keep-alive: give the buffers back */
	return STEP_READ;
}

/* multipart/byteranges: after the response head and after each part's
 * bytes, put the next part's head (or the closing boundary) into out[] and
 * aim the file window at the next range.  Returns false when all is sent. */
static bool next_part(struct iobuf *io)
{
	if (!io->multipart || io->part > io->nparts)
		return false;
	if (io->part < io->nparts) {
		const struct http_range *rg = &io->ranges[io->part];
		io->out_len = http_range_part_head(io->out, OUT_CAP, io->boundary, io->part_type, rg,
						   io->file_size);
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

/* The rest of out[] and of the cached body, together: one sendmsg() a
 * round, so a small response needs no MSG_MORE and no second call.
 * Returns STEP_AGAIN once both are out. */
static enum step write_mem(struct conn *c, unsigned *budget)
{
	struct iobuf *io = c->io;
	const struct file_cache_file *f = io->mem_file;

	while (io->mem_off < f->size) {
		struct iovec iov[2];
		struct msghdr msg = { .msg_iov = iov };
		size_t head = io->out_len - io->out_off;
		ssize_t n;

		if (head) {
			iov[msg.msg_iovlen].iov_base = io->out + io->out_off;
			iov[msg.msg_iovlen++].iov_len = head;
		}
		iov[msg.msg_iovlen].iov_base = (void *)(uintptr_t)(f->data + io->mem_off);
		iov[msg.msg_iovlen++].iov_len = f->size - io->mem_off;
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
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

/* The body of a large file (COPY_MIN) to a client on this host: pread +
 * send of up to COPY_CHUNK bytes; returns what send() returned.  Over
 * loopback the receiver copies the bytes anyway, and a single stream through
 * sendfile's page-referencing buffers got half the throughput (measured with
 * wrk, 50 MB file: ~0.55 vs ~1.1 GB/s); for smaller files, where the CPU
 * and not the stream is the limit, sendfile stayed ahead (200 KB: 7.2k vs
 * 6.8k req/s), as it does wherever a NIC reads the pages itself.  Bytes read
 * but not accepted by the socket are read again next time. */
static ssize_t copy_file(int sock, int fd, off_t off, uint64_t left)
{
	static __thread char chunk[COPY_CHUNK];
	ssize_t m = pread(fd, chunk, left < COPY_CHUNK ? (size_t)left : COPY_CHUNK, off);

	if (m <= 0)
		return m;
	return send(sock, chunk, (size_t)m, MSG_NOSIGNAL);
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
		return c->loopback && io->file_size >= COPY_MIN;
	}
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
		/* MSG_MORE: with file bytes following, the head and the first body
		 * bytes share a segment despite TCP_NODELAY */
		int more = io->file_fd >= 0 && (io->file_off < io->file_end ||
						(io->multipart && io->part <= io->nparts))
				   ? MSG_MORE
				   : 0;

		while (io->out_off < io->out_len) {
			ssize_t n = send(c->fd, io->out + io->out_off, io->out_len - io->out_off,
					 MSG_NOSIGNAL | more);
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
			n = copy_body(c, io)
				    ? copy_file(c->fd, io->file_fd, off, left)
					: sendfile(c->fd, io->file_fd, &off,
						   left > SENDFILE_MAX ? SENDFILE_MAX : left);
			if (n > 0) {
				io->file_off += (uint64_t)n;
				io->bytes_sent += (uint64_t)n;
				*budget += (unsigned)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return STEP_WRITE;
			if (n == 0)
				log_warning("%s: file shrank while being sent (\"%s\")", c->peer,
					    io->reqline);
			return STEP_CLOSE;
		}
	} while (next_part(io));
	if (io->file_fd >= 0) {
		close(io->file_fd);
		io->file_fd = -1;
	}
	io->multipart = false;
	return finish_response(c);
}

static enum step do_linger(struct conn *c)
{
	char sink[4096];

	for (;;) {
		ssize_t n = conn_recv(c, sink, sizeof sink);
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
	case CONN_LINGER:
		return now + LINGER_MS;
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
			copy_reqline(io, io->in, io->in_len);
		io->close_after = true;
		free(io->body);
		io->body = NULL;
		respond_error(c, 408, false, NULL, NULL, false);
		(void)send(c->fd, io->out, io->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		io->bytes_sent = io->out_len;
		log_access(c);
	} else if (c->state == CONN_WRITE && io) {
		log_info("%s: client read nothing for %us of \"%s\"; closing", c->peer,
			 c->site->cfg->send_timeout, io->reqline);
	}
	return STEP_CLOSE;
}

static enum step run_state(struct conn *c, unsigned *budget)
{
	switch (c->state) {
	case CONN_READ_HEAD:
		return do_read_head(c, budget);
	case CONN_READ_BODY:
		return do_read_body(c, budget);
	case CONN_WRITE:
		return do_write(c, budget);
	case CONN_LINGER:
		return do_linger(c);
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
	if (__atomic_load_n(&c->timed_out, __ATOMIC_RELAXED)) {
		st = on_timeout(c);
		goto out;
	}
	if (c->state != CONN_LINGER && !io_get(c)) {
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
		if ((st == STEP_READ && c->rd_more) || (st == STEP_WRITE && c->wr_more))
			return CONN_WANT_AGAIN;
		__atomic_store_n(&c->deadline, next_deadline(c), __ATOMIC_RELAXED);
		return st == STEP_READ ? CONN_WANT_READ : CONN_WANT_WRITE;
	case STEP_AGAIN:
	case STEP_CLOSE:
	default:
		c->state = CONN_CLOSING;
		return CONN_WANT_CLOSE;
	}
}
