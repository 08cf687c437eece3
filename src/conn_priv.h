/* conn_priv.h - what conn.c shares with the handlers it drives
 * (serve_static.c, serve_upload.c) and nothing else includes: the
 * connection and its per-request buffers, and the few helpers every
 * handler uses to build its response.
 *
 * Memory: a struct conn is small and lives as long as the socket.  While a
 * request is in progress it owns a struct iobuf (request head buffer,
 * response head buffer, per-request state); an idle keep-alive connection
 * gives the iobuf back, so ten thousand idle clients cost little.  An
 * upload's body never is in memory: it streams through a struct
 * upload_stream (one 64 KiB buffer, upload.h) owned by the iobuf. */
#ifndef MTH_CONN_PRIV_H
#define MTH_CONN_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "chunked.h"
#include "client_key.h"
#include "conn.h"
#include "file_cache.h"
#include "htpasswd.h"
#include "http_parse.h"
#include "http_range.h"
#include "router.h"
#include "site.h"
#include "tls.h"
#include "transport.h"

/* The request head buffer holds the largest head the site's limits accept:
 * the request line, its CRLF and the field block (max_request_line,
 * max_header_size); it is sized when the iobuf is allocated. */
#define IN_SLACK 64
#define OUT_CAP 4096
/* Work done per conn_run() before the worker yields to other connections:
 * a fast client of a big file or a long pipeline must not starve the rest. */
#define RUN_BYTES_BUDGET (1u << 20)
#define RUN_REQUESTS_BUDGET 16
#define LOG_FIELD_CAP 256 /* bytes of Referer / User-Agent kept for the log */

struct iobuf {
	size_t in_len;
	size_t out_len, out_off;
	int file_fd;			       /* closed when sent, unless FD_FILE keeps it */
	bool no_sendfile; /* sendfile(2) refused FILE_FD: pread + send (auto) */
	const struct file_cache_file *fd_file; /* referenced: FILE_FD is its kept fd */
	uint64_t file_off, file_end;
	struct upload_stream *up; /* POST /upload: where the body goes */
	uint64_t body_len;        /* body bytes taken so far */
	uint64_t body_need;       /* Content-Length (not used when chunked) */
	uint64_t quota_reserved;  /* bytes reserved in the upload quota */
	bool quota_held;          /* a reservation (one file) is held */
	bool expect_continue;
	bool chunked; /* the body is Transfer-Encoding: chunked */
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
	char referer[LOG_FIELD_CAP];	/* only with an access_log file */
	char user_agent[LOG_FIELD_CAP]; /* only with an access_log file */
	char user[HTPASSWD_USER_MAX + 1]; /* the authenticated upload user, or "" */

	char out[OUT_CAP];
	size_t in_cap;
	char in[]; /* in_cap bytes */
};

struct conn {
	/* first, and never reset between lives: see conn_new/conn_free */
	struct conn_sched sched;
	struct conn *next_free;

	struct transport tp; /* the socket, plain or TLS */
	enum conn_state state;
	unsigned port;
	unsigned requests; /* responses completed on this connection */
	unsigned site_gen;
	struct site *site;
	struct iobuf *io;
	int64_t deadline; /* atomic, shared with the reaper */
	bool timed_out;	  /* atomic, set by the reaper */
	bool idle;	  /* atomic, read by the reaper on shutdown */
	bool h2_idle;	  /* atomic: HTTP/2 with no open stream (reaper: reload) */
	bool rd_more;	  /* the last read filled its buffer: more may wait */
	bool wr_more;	  /* yielded while the socket was still writable */
	bool tls;         /* the TLS handshake is done: HSTS, SNI, log fields */
	bool plain_on_tls; /* plain HTTP arrived on the TLS port: 400, close */
	bool has_ckey;	  /* ckey is set (not for a Unix socket peer) */
	struct client_key ckey; /* who the client is for per-client limits */
	char peer[56];	  /* "ip:port" / "[ip6]:port" */
	int64_t hs_deadline; /* monotonic ms: the TLS handshake by then */
	char tls_desc[TLS_DESC_MAX]; /* "TLSv1.3/TLS_AES_128_GCM_SHA256" */
	/* atomic enum conn_phase, read by the reaper */
	unsigned char phase;
	/* CONN_READ_PROXY: the whole header by then (monotonic ms) */
	int64_t proxy_deadline;
	/* CONN_H2: the nghttp2 session and its streams (h2.c) */
	struct h2_conn *h2;
	/* a request on an HTTP/2 stream: its id (else 0).  Such a struct
	 * conn is no connection: h2.c makes one per stream, for the handlers,
	 * with a copy of the connection's fields and its own iobuf */
	int32_t h2_stream;
};

/* What one step of the state machine asks for: run again, or wait. */
enum step { STEP_AGAIN, STEP_READ, STEP_WRITE, STEP_CLOSE };

/* conn.c: reading, and the response every handler builds into io->out. */

/* Read from the transport, remembering whether more may wait (epoll is
 * edge-triggered: a read that filled its buffer must be followed by another
 * one before waiting). */
ssize_t conn_read(struct conn *c, void *buf, size_t len);

/* Put head + optional in-memory body into io->out.  EXTRA are further field
 * lines.  Falls back to a bare 500 if it does not fit (it always should). */
void conn_set_response(struct conn *c, int status, const char *ctype, const char *body,
		       size_t body_len, uint64_t content_length, const char *extra,
		       size_t extra_len, bool head_only);
void conn_respond_error(struct conn *c, int status, bool json, const char *message,
			const char *allow, bool head_only);
/* The same with EXTRA field lines (each ending in CRLF), e.g. Retry-After. */
void conn_respond_error_extra(struct conn *c, int status, bool json, const char *message,
			      const char *extra, bool head_only);
/* A request refused for safety, logged as a warning whatever access_log says. */
void conn_log_security(const struct conn *c, int status, const char *why);
/* Drop N bytes from the front of the input buffer, keeping what follows. */
void conn_consume_input(struct iobuf *io, size_t n);
/* The request head REQ (parsed from C's iobuf) through the router to its
 * handler: the response is in io->out (state CONN_WRITE) or an upload's
 * body is awaited (CONN_READ_BODY).  HTTP/1.1 and HTTP/2 streams alike. */
void conn_handle_request(struct conn *c, const struct http_request *req);
/* A response is complete: the access log, the metrics, the counters. */
void conn_request_done(struct conn *c);
/* The sanitised request line the access log shows, from BUF. */
void conn_copy_reqline(struct iobuf *io, const char *buf, size_t len);
/* Free IO and what it holds (file fd, cache entry, unfinished upload). */
void conn_io_free(struct iobuf *io);
/* Give back what IO holds besides memory (as conn_io_free), keeping IO. */
void conn_io_drop(struct iobuf *io);
/* A stop is under way: no connection should stay open for more. */
bool conn_draining(void);
/* Around work that blocks the worker (conn_set_block_hooks). */
void conn_block_begin(void);
void conn_block_end(void);

/* serve_static.c: GET/HEAD of a file, from the cache or by an fd. */
void serve_static(struct conn *c, const struct http_request *req, const struct route *r,
		  bool upload);
/* multipart/byteranges: the next part's head into out[] and the file window
 * on its range; false when every part is out. */
bool serve_static_next_part(struct iobuf *io);

/* serve_upload.c: POST /upload. */
/* The head is routed to an upload: set up the body and go to READ_BODY. */
void serve_upload_start(struct conn *c, const struct http_request *req);
/* CONN_READ_BODY: read the body, then validate, store and answer. */
enum step serve_upload_read_body(struct conn *c, unsigned *budget);
/* Drop what an unfinished upload holds (its temporary file, its quota
 * reservation): the request ended early (timeout, lost connection). */
void serve_upload_release(struct iobuf *io);
/* HTTP/2: LEN bytes of the body from DATA frames (the frames delimit it:
 * no chunked coding; without a Content-Length, io->chunked says the length
 * is only known at the end).  A refusal (413, 400, 507) builds the
 * response and moves to CONN_WRITE. */
void serve_upload_data(struct conn *c, const char *data, size_t len);
/* HTTP/2: the stream ended: store and answer 201, or refuse. */
void serve_upload_data_end(struct conn *c);

/* h2.c: an HTTP/2 connection (CONN_H2), after ALPN chose "h2". */
/* Set up the session (our SETTINGS queued).  Returns 0 or -ENOMEM. */
int h2_conn_start(struct conn *c);
/* Read frames, answer streams, write frames, as far as the socket lets. */
enum step h2_conn_run(struct conn *c, unsigned *budget);
/* When the reaper may give up on it; what it is doing for /metrics. */
int64_t h2_conn_deadline(const struct conn *c);
enum conn_phase h2_conn_phase(const struct conn *c);
/* The deadline passed (or a stop closes it): GOAWAY, best effort. */
void h2_conn_timeout(struct conn *c);
/* Free the session and every stream still open. */
void h2_conn_free(struct conn *c);
/* A thread that ran HTTP/2 connections is leaving: its spare buffer,
 * streams and iobufs. */
void h2_thread_exit(void);

#endif
