/* h2.c - HTTP/2 over TLS (CONN_H2): the nghttp2 session of a connection
 * and its streams.
 *
 * Threads: a connection is run by one worker at a time (pool.c), and so is
 * everything here: the session, its streams, their iobufs.  Nothing is
 * shared with other threads but what struct conn already shares with the
 * reaper (deadline, idle, phase).
 *
 * Memory: struct h2_conn (the nghttp2 session, the output buffer while
 * bytes wait for the socket) belongs to the connection; a struct h2_stream
 * (the request's fields while they arrive, then a struct conn for the
 * handlers with its own small iobuf) belongs to its nghttp2 stream, from
 * the first HEADERS to on_stream_close, or to h2_conn_free when the
 * connection ends first.
 *
 * Flow control is nghttp2's: a response body is read (from the iobuf, the
 * cached copy or the file) only when nghttp2 asks for the next DATA frame,
 * which it does only while the stream's and the connection's windows
 * allow; the bytes go straight into the output buffer behind the frame
 * header (read_body chooses, send_data writes: NO_COPY), a file's by one
 * preadv for a run of frames (h2_reads) before the buffer goes out.  A run
 * stops after RUN_BYTES_BUDGET bytes, like an HTTP/1.1 connection, and is
 * continued after the worker's other events. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "conn_priv.h"
#include "h2.h"
#include "http_parse.h"
#include "log.h"
#include "site.h"

/* the output buffer: eight full DATA frames (16 KiB each with the header)
 * after the aligned start (ob_place), which make eight full TLS records,
 * one send (tls.c TLS_WBUF_CAP) */
#define H2_OB_CAP (8u * 16384 + H2_ALIGN)
#define H2_OB_ROOM (17u * 1024) /* a DATA frame (16 KiB + header) fits */
#define H2_READ_CHUNK 16384
#define H2_FRAME_HD 9		    /* the frame header */
#define H2_ALIGN 64		    /* where DATA payloads go in ob[] (see ob_place) */
#define H2_ALIGN_MIN (4 * H2_ALIGN) /* frames shorter than this are not cut */
#define H2_READS_MAX 16		    /* file pieces one preadv reads (h2_reads) */
#define H2_STREAM_WINDOW (1u << 20) /* uploads: 1 MiB in flight a stream */
#define H2_CONN_WINDOW (16u << 20)  /* and 16 MiB a connection */
#define H2_DISPATCH_COST 2048	    /* budget bytes a request counts for */
#define H2_MAX_CONTINUATIONS 8	    /* CONTINUATION frames after HEADERS */
#define H2_MAX_OUTBOUND_ACK 1000    /* SETTINGS/PING ACKs queued unsent */
#define H2_MAX_SETTINGS 32	    /* entries in one SETTINGS frame */
#define H2_NOTICE_MS 1000	    /* shutdown notice -> final GOAWAY */
#define H2_DISCARD_MAX (16u << 20)  /* body read and dropped after a response */
#define H2_SPARES_MAX 128	    /* streams and iobufs a thread keeps for reuse */
#define H2_SPARES_IDLE 8	    /* ... after serving a connection that went idle */
#define H2_SPARE_IN_CAP 1024	    /* the request head room of a kept iobuf */
#define H2_SPARE_HDR_CAP 4096	    /* a kept stream's field buffer, at most */

/* The payload of the DATA frame being sent: LEN bytes at MEM, or of the
 * file FD at OFF. */
struct h2_piece {
	const uint8_t *mem;
	int fd;
	uint64_t off;
	size_t len;
};

/* File payloads that send_data() placed in ob[] and has not read yet: a run
 * of consecutive pieces of one file (a stream's frames one after another),
 * read by one preadv before ob[] goes out or the file can be let go
 * (reads_flush), instead of one pread per frame. */
struct h2_reads {
	int fd;
	uint64_t off; /* where the run starts in the file */
	size_t len;   /* its bytes */
	int n;
	int32_t stream; /* the stream of its first piece (for the log) */
	struct iovec iov[H2_READS_MAX];
};

struct h2_stream {
	struct h2_stream *prev, *next; /* the connection's streams */
	struct h2_conn *h;
	int32_t id;
	nghttp2_rcbuf *method, *path, *authority;
	char *hdr; /* the regular fields as "name: value\r\n" lines */
	size_t hdr_len, hdr_cap;
	size_t list_size; /* RFC 9113 section 6.5.2 accounting */
	int64_t start_us;
	int64_t last_data_ms; /* its response's DATA last produced */
	time_t start_time;
	bool too_big;	/* over the header list limit: 431 */
	bool bad;	/* a field value no HTTP/1.1 head can carry: 400 */
	bool has_cl;	/* a Content-Length field came */
	bool req_done;	/* END_STREAM received */
	bool upload;	/* the body goes to serve_upload_data */
	bool responded; /* the response is submitted */
	bool resp_done; /* and sent, END_STREAM included */
	bool rst_sent;
	size_t discarded;      /* body bytes nobody wanted */
	struct h2_piece piece; /* the DATA payload read_body chose */
	char status[3];	       /* the response's :status (nghttp2 keeps a pointer) */
	struct conn sc;	       /* the request as the handlers see it */
};

struct h2_conn {
	nghttp2_session *s;
	struct conn *c; /* NULL for the fuzz target */
	unsigned *budget;
	uint8_t *ob; /* frames waiting for the socket */
	size_t ob_len, ob_off;
	struct h2_reads rd;  /* file bytes of frames in ob[], still to read */
	const uint8_t *tail; /* a frame too big for ob[], still nghttp2's */
	size_t tail_len;
	struct h2_stream *streams;
	unsigned n_streams, n_sending;
	size_t max_list; /* header list size: more is 431, 4x is RST */
	struct http_limits limits;
	struct h2_bucket rst;
	int64_t preface_deadline; /* monotonic ms */
	int64_t last_data_ms;	  /* DATA last produced (stall detection) */
	int64_t notice_ms;
	int64_t stall_check_ms; /* streams last checked for stalls */
	int64_t recv_us;	/* monotonic us of the last read, its streams' start */
	time_t recv_time;	/* the same, wall clock */
	/* nghttp2's frame buffer (see h2_malloc): mapped, its pages given
	 * back while the connection is idle */
	void *framebuf;
	size_t framebuf_len;
	bool creating, framebuf_resident;
	bool preface_ok, calm, notice, goaway;
	unsigned fuzz_budget;
};

static __thread uint8_t *ob_spare;
static __thread char rbuf[H2_READ_CHUNK];

/* Freed streams and stream iobufs, kept by the thread that freed them for
 * its next streams (100 streams x 10 connections would otherwise cost a
 * malloc and free of each per request).  A connection may run on another
 * worker next time: whichever thread frees an object keeps it, and only
 * that thread takes it again.  At most H2_SPARES_MAX of each. */
struct h2_spare {
	struct h2_spare *next;
};
static __thread struct h2_spare *stream_spares, *io_spares;
static __thread unsigned n_stream_spares, n_io_spares;
static void spares_trim(unsigned keep);

static void *spare_take(struct h2_spare **list, unsigned *n)
{
	struct h2_spare *sp = *list;

	if (sp) {
		*list = sp->next;
		(*n)--;
	}
	return sp;
}

/* false: the list is full, P is the caller's to free */
static bool spare_keep(struct h2_spare **list, unsigned *n, void *p)
{
	struct h2_spare *sp = p;

	if (*n >= H2_SPARES_MAX)
		return false;
	sp->next = *list;
	*list = sp;
	(*n)++;
	return true;
}

/* ------------------------------------------------------------------------
 * The pure parts (h2.h)
 */

void h2_bucket_init(struct h2_bucket *b, unsigned burst, int64_t now_ms)
{
	b->milli = (int64_t)burst * 1000;
	b->last_ms = now_ms;
}

bool h2_bucket_take(struct h2_bucket *b, unsigned burst, unsigned rate, int64_t now_ms)
{
	int64_t cap = (int64_t)burst * 1000;

	if (now_ms > b->last_ms) {
		int64_t add = (now_ms - b->last_ms) * (int64_t)rate;
		b->milli = add >= cap - b->milli ? cap : b->milli + add;
		b->last_ms = now_ms;
	}
	if (b->milli < 1000)
		return false;
	b->milli -= 1000;
	return true;
}

bool h2_field_is_connection_specific(const char *name, size_t len)
{
	/* (by length first: every field of every response comes here) */
	static const struct {
		const char *name;
		size_t len;
	} names[] = {
#define F(lit) { lit, sizeof(lit) - 1 }
		F("connection"),	F("keep-alive"), F("proxy-connection"),
		F("transfer-encoding"), F("upgrade"),
#undef F
	};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].len == len && strncasecmp(names[i].name, name, len) == 0)
			return true;
	return false;
}

static bool is_ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

size_t h2_response_fields(char *head, size_t len, nghttp2_nv *nv, size_t max)
{
	char *end = head + len, *p = memchr(head, '\n', len);
	size_t n = 0;

	if (!p)
		return 0;
	for (p++; p < end && n < max;) {
		char *eol = memchr(p, '\n', (size_t)(end - p)), *le, *colon, *v;

		if (!eol)
			break;
		le = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		if (le == p)
			break; /* the empty line */
		colon = memchr(p, ':', (size_t)(le - p));
		if (colon && colon > p) {
			for (char *q = p; q < colon; q++)
				if (*q >= 'A' && *q <= 'Z')
					*q = (char)(*q - 'A' + 'a');
			for (v = colon + 1; v < le && is_ows(*v); v++)
				;
			while (le > v && is_ows(le[-1]))
				le--;
			if (!h2_field_is_connection_specific(p, (size_t)(colon - p))) {
				nv[n].name = (uint8_t *)p;
				nv[n].namelen = (size_t)(colon - p);
				nv[n].value = (uint8_t *)v;
				nv[n].valuelen = (size_t)(le - v);
				nv[n].flags = NGHTTP2_NV_FLAG_NONE;
				n++;
			}
		}
		p = eol + 1;
	}
	return n;
}

#define LIT_LEN(s) (sizeof(s) - 1)
static const char host_lit[] = "Host: ";
static const char version_lit[] = " HTTP/1.1\r\n";
static const char chunked_lit[] = "Transfer-Encoding: chunked\r\n";
static const char empty_lit[] = "Content-Length: 0\r\n";

size_t h2_request_head_len(const struct h2_request_parts *p)
{
	size_t n = p->method.len + 1 + p->path.len + LIT_LEN(version_lit) + p->fields_len + 2;

	if (p->authority.len)
		n += LIT_LEN(host_lit) + p->authority.len + 2;
	if (p->chunked)
		n += LIT_LEN(chunked_lit);
	else if (p->empty_body)
		n += LIT_LEN(empty_lit);
	return n;
}

static char *put(char *o, const void *s, size_t n)
{
	if (n)
		memcpy(o, s, n);
	return o + n;
}

size_t h2_request_head(char *out, size_t cap, const struct h2_request_parts *p)
{
	size_t n = h2_request_head_len(p);
	char *o = out;

	if (n > cap)
		return 0;
	o = put(o, p->method.p, p->method.len);
	*o++ = ' ';
	o = put(o, p->path.p, p->path.len);
	o = put(o, version_lit, LIT_LEN(version_lit));
	if (p->authority.len) {
		o = put(o, host_lit, LIT_LEN(host_lit));
		o = put(o, p->authority.p, p->authority.len);
		o = put(o, "\r\n", 2);
	}
	o = put(o, p->fields, p->fields_len);
	if (p->chunked)
		o = put(o, chunked_lit, LIT_LEN(chunked_lit));
	else if (p->empty_body)
		o = put(o, empty_lit, LIT_LEN(empty_lit));
	o = put(o, "\r\n", 2);
	return (size_t)(o - out);
}

/* ------------------------------------------------------------------------
 * Streams
 */

static struct mth_str rc_str(nghttp2_rcbuf *rc)
{
	struct mth_str s = { "", 0 };

	if (rc) {
		nghttp2_vec v = nghttp2_rcbuf_get_buf(rc);
		s.p = (const char *)v.base;
		s.len = v.len;
	}
	return s;
}

/* A stream's iobuf with room for a request head of IN_CAP bytes: a
 * thread's spare when that fits in one. */
static struct iobuf *iobuf_new(size_t in_cap)
{
	struct iobuf *io = NULL;

	if (in_cap <= H2_SPARE_IN_CAP) {
		io = spare_take(&io_spares, &n_io_spares);
		in_cap = H2_SPARE_IN_CAP;
	}
	if (!io)
		io = malloc(sizeof *io + in_cap);
	if (!io)
		return NULL;
	memset(io, 0, offsetof(struct iobuf, out));
	io->file_fd = -1;
	io->in_cap = in_cap;
	return io;
}

static void iobuf_free(struct iobuf *io)
{
	if (!io)
		return;
	conn_io_drop(io);
	if (io->in_cap != H2_SPARE_IN_CAP || !spare_keep(&io_spares, &n_io_spares, io))
		free(io);
}

static struct h2_stream *stream_new(struct h2_conn *h, int32_t id)
{
	struct h2_stream *st = spare_take(&stream_spares, &n_stream_spares);

	if (st) { /* as new, but with the field buffer it had */
		char *hdr = st->hdr;
		size_t cap = st->hdr_cap;

		memset(st, 0, sizeof *st);
		st->hdr = hdr;
		st->hdr_cap = cap;
	} else {
		st = calloc(1, sizeof *st);
		if (!st)
			return NULL;
	}
	st->h = h;
	st->id = id;
	/* when the bytes that opened it were read (one clock reading for
	 * every stream of a read) */
	st->start_us = h->recv_us;
	st->start_time = h->recv_time;
	st->next = h->streams;
	if (h->streams)
		h->streams->prev = st;
	h->streams = st;
	h->n_streams++;
	return st;
}

static void stream_free(struct h2_conn *h, struct h2_stream *st)
{
	if (st->prev)
		st->prev->next = st->next;
	else
		h->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	h->n_streams--;
	if (st->responded && !st->resp_done)
		h->n_sending--;
	nghttp2_rcbuf_decref(st->method);
	nghttp2_rcbuf_decref(st->path);
	nghttp2_rcbuf_decref(st->authority);
	iobuf_free(st->sc.io);
	site_unref(st->sc.site);
	if (st->hdr_cap > H2_SPARE_HDR_CAP) {
		free(st->hdr);
		st->hdr = NULL;
		st->hdr_cap = 0;
	}
	if (!spare_keep(&stream_spares, &n_stream_spares, st)) {
		free(st->hdr);
		free(st);
	}
}

/* Is any of the body left to hand to nghttp2? */
static bool body_left(const struct iobuf *io)
{
	return io->out_off < io->out_len || (io->mem_file && io->mem_off < io->mem_file->size) ||
	       (io->file_fd >= 0 && io->file_off < io->file_end) ||
	       (io->multipart && io->part <= io->nparts);
}

/* Where a DATA payload goes in ob[] (send_data) matters: the kernel's
 * copy from the page cache (pread) runs at a fraction of its speed into an
 * address that is not 64-byte aligned.  So an empty ob[] is filled from
 * H2_ALIGN - 9, which puts the first payload on an alignment, and a frame
 * longer than H2_ALIGN_MIN is cut so that the payload of the frame after
 * it lands aligned too (in a row of full frames: 16375 bytes each). */

/* Where the next frame's header goes in ob[]. */
static size_t ob_place(const struct h2_conn *h)
{
	return h->ob_len > h->ob_off ? h->ob_len : H2_ALIGN - H2_FRAME_HD;
}

static size_t aligned_length(const struct h2_conn *h, size_t len)
{
	size_t next_payload = ob_place(h) + 2 * H2_FRAME_HD + len;

	/* (a short frame, e.g. what a small window allows, stays as it is:
	 * cutting it would cost a frame for a few bytes) */
	if (len < H2_ALIGN_MIN)
		return len;
	return len - next_payload % H2_ALIGN;
}

/* nghttp2 wants the next DATA payload of a response: LEN bytes at most
 * (the windows and the frame size decided that).  The part of out[] after
 * the head (small bodies, multipart part heads), the cached copy, then the
 * file window; serve_static_next_part() moves to the next part.  Nothing is
 * copied here (NO_COPY): the piece is noted in the stream and taken from
 * the body, and send_data() puts it behind the frame header in ob[]. */
static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *user)
{
	struct h2_stream *st = src->ptr;
	struct h2_conn *h = user;
	struct iobuf *io = st->sc.io;
	struct h2_piece *pc = &st->piece;
	size_t n = 0;

	(void)s;
	(void)id;
	(void)buf;
	pc->mem = NULL;
	pc->fd = -1;
	for (;;) {
		if (io->out_off < io->out_len) {
			n = io->out_len - io->out_off < len ? io->out_len - io->out_off : len;
			pc->mem = (const uint8_t *)io->out + io->out_off;
			io->out_off += n;
			break;
		}
		if (io->mem_file && io->mem_off < io->mem_file->size) {
			size_t left = io->mem_file->size - io->mem_off;
			n = left <= len ? left : aligned_length(h, len);
			pc->mem = (const uint8_t *)io->mem_file->data + io->mem_off;
			io->mem_off += n;
			break;
		}
		if (io->file_fd >= 0 && io->file_off < io->file_end) {
			uint64_t left = io->file_end - io->file_off;

			n = left <= len ? (size_t)left : aligned_length(h, len);
			pc->fd = io->file_fd;
			pc->off = io->file_off;
			io->file_off += n;
			break;
		}
		if (!serve_static_next_part(io))
			break;
		io->out_off = 0;
	}
	pc->len = n;
	io->bytes_sent += n;
	h->last_data_ms = st->last_data_ms = mth_clock_coarse_ms();
	if (!body_left(io))
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	if (n)
		*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	return (ssize_t)n;
}

/* Read the file pieces that send_data() noted into their places in ob[]:
 * one preadv for the run.  -1 when the file ended early (it shrank while
 * being sent) or could not be read: nghttp2 has counted those frames as
 * sent, and they would carry bytes that are not the file's, so the caller
 * ends the connection (none of ob[] goes out). */
static int reads_flush(struct h2_conn *h)
{
	struct h2_reads *rd = &h->rd;
	struct iovec *iov = rd->iov;
	int n = rd->n;
	uint64_t off = rd->off;

	rd->n = 0;
	while (n > 0) {
		ssize_t r = preadv(rd->fd, iov, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			struct h2_stream *st =
				nghttp2_session_get_stream_user_data(h->s, rd->stream);

			log_warning("%s: file shrank or failed while being sent on HTTP/2 stream "
				    "%" PRId32 " (\"%s\"); closing the connection",
				    h->c ? h->c->peer : "-", rd->stream,
				    st ? st->sc.io->reqline : "-");
			return -1;
		}
		off += (uint64_t)r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* Note the file piece PC, whose bytes go to P, for reads_flush(). */
static int reads_add(struct h2_conn *h, const struct h2_stream *st, const struct h2_piece *pc,
		     uint8_t *p)
{
	struct h2_reads *rd = &h->rd;

	if (rd->n && (rd->fd != pc->fd || rd->off + rd->len != pc->off || rd->n == H2_READS_MAX) &&
	    reads_flush(h) < 0)
		return -1;
	if (!rd->n) {
		rd->fd = pc->fd;
		rd->off = pc->off;
		rd->len = 0;
		rd->stream = st->id;
	}
	rd->iov[rd->n++] = (struct iovec){ .iov_base = p, .iov_len = pc->len };
	rd->len += pc->len;
	return 0;
}

/* A DATA frame of ours (NO_COPY): its header, the pad length, the piece
 * read_body() chose, the padding, straight into ob[].  A file's bytes are
 * read into ob[] later, with the pieces of the frames that follow them in
 * the file (reads_add: one copy, one syscall for several frames).  Called
 * again with the same frame after NGHTTP2_ERR_WOULDBLOCK, once ob[] was
 * written out. */
static int send_data(nghttp2_session *s, nghttp2_frame *f, const uint8_t *framehd, size_t length,
		     nghttp2_data_source *src, void *user)
{
	struct h2_conn *h = user;
	struct h2_stream *st = src->ptr;
	const struct h2_piece *pc = &st->piece;
	size_t pad = f->data.padlen; /* with the pad length byte */
	size_t at, need = H2_FRAME_HD + length + pad;
	uint8_t *p;

	(void)s;
	if (length != pc->len)
		return NGHTTP2_ERR_CALLBACK_FAILURE; /* not the frame read_body made */
	at = ob_place(h);
	if (!h->ob || at + need > H2_OB_CAP)
		return NGHTTP2_ERR_WOULDBLOCK;
	p = h->ob + at;
	memcpy(p, framehd, H2_FRAME_HD);
	p += H2_FRAME_HD;
	if (pad)
		*p++ = (uint8_t)(pad - 1);
	if (pc->mem)
		memcpy(p, pc->mem, length);
	else if (length && reads_add(h, st, pc, p) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (pad > 1)
		memset(p + length, 0, pad - 1);
	if (h->ob_len == h->ob_off)
		h->ob_off = at; /* (an empty ob[] starts at ob_place()) */
	h->ob_len = at + need;
	return 0;
}

/* The handler's response (an HTTP/1.1 head in out[], the body after it or
 * by reference) as an HTTP/2 response. */
static void stream_respond(struct h2_conn *h, struct h2_stream *st)
{
	struct iobuf *io = st->sc.io;
	nghttp2_nv nv[H2_RESPONSE_FIELDS_MAX + 1];
	nghttp2_data_provider prd = { .source.ptr = st, .read_callback = read_body };
	size_t n;
	int rv;

	if (io->status < 100 || io->status > 999)
		io->status = 500;
	st->status[0] = (char)('0' + io->status / 100);
	st->status[1] = (char)('0' + io->status / 10 % 10);
	st->status[2] = (char)('0' + io->status % 10);
	nv[0] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)st->status, 7, 3,
			      NGHTTP2_NV_FLAG_NONE };
	n = h2_response_fields(io->out, io->head_bytes, nv + 1, H2_RESPONSE_FIELDS_MAX);
	/* nghttp2 keeps the pointers rather than copies: the names and values
	 * are in out[] (which nothing changes before the HEADERS frame is
	 * made; a multipart part head comes later, with the DATA) and the
	 * status in the stream, both kept until the stream is closed, and a
	 * HEADERS frame of a closed stream is dropped unread */
	for (size_t i = 0; i <= n; i++)
		nv[i].flags = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
	io->out_off = io->head_bytes;
	io->bytes_sent = io->head_bytes; /* about what HPACK makes of it */
	st->responded = true;
	h->n_sending++;
	h->last_data_ms = st->last_data_ms = mth_clock_coarse_ms();
	rv = nghttp2_submit_response(h->s, st->id, nv, n + 1, body_left(io) ? &prd : NULL);
	if (rv < 0)
		nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
}

/* A copy of the connection's fields for the handlers, as if the stream were
 * a connection of its own with one request. */
static void stream_conn_init(struct h2_stream *st, struct conn *pc, struct iobuf *io)
{
	struct conn *sc = &st->sc;

	sc->tp = pc->tp; /* for the SNI name only: never used for I/O */
	sc->state = CONN_READ_HEAD;
	sc->port = pc->port;
	sc->site = site_ref(pc->site);
	sc->site_gen = pc->site_gen;
	sc->io = io;
	sc->tls = pc->tls;
	sc->has_ckey = pc->has_ckey;
	sc->ckey = pc->ckey;
	memcpy(sc->peer, pc->peer, sizeof sc->peer);
	memcpy(sc->tls_desc, pc->tls_desc, sizeof sc->tls_desc);
	sc->h2_stream = st->id;
	io->start_us = st->start_us;
	io->start_time = st->start_time;
}

/* The fuzz target's handler: a fixed answer. */
static void fuzz_answer(struct iobuf *io, int status)
{
	int n = snprintf(io->out, OUT_CAP,
			 "HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
			 "Connection: keep-alive\r\nX-Fuzz: yes\r\n\r\nhello",
			 status);

	io->status = status;
	io->out_len = (size_t)n;
	io->head_bytes = (size_t)n - 5;
}

/* The request head is complete: through the router to its handler. */
static int stream_dispatch(struct h2_conn *h, struct h2_stream *st, bool end_stream)
{
	struct conn *pc = h->c;
	struct h2_request_parts parts = {
		.method = rc_str(st->method),
		.path = rc_str(st->path),
		.authority = rc_str(st->authority),
		.fields = st->hdr,
		.fields_len = st->hdr_len,
	};
	struct http_request req;
	struct iobuf *io;
	char line[300];
	size_t len;
	int status = 400;

	if (h->budget)
		*h->budget += H2_DISPATCH_COST;
	if (st->too_big)
		parts.fields_len = 0;
	/* RFC 9113 section 8.1.1: the frames delimit the body; the HTTP/1.1
	 * head says so as its framing rules expect */
	parts.chunked = !st->has_cl && !end_stream;
	parts.empty_body = !st->has_cl && end_stream && mth_str_eq(parts.method, "POST");
	len = h2_request_head_len(&parts);
	io = iobuf_new(len + IN_SLACK);
	if (!io)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	io->in_len = h2_request_head(io->in, io->in_cap, &parts);
	/* "METHOD PATH HTTP/2.0" for the log, the path cut to fit */
	{
		static const char ver[] = " HTTP/2.0";
		size_t room = sizeof line - (sizeof ver - 1), m;
		char *o = line;

		m = parts.method.len < room ? parts.method.len : room;
		o = put(o, parts.method.p, m);
		room -= m;
		if (room) {
			*o++ = ' ';
			room--;
		}
		m = parts.path.len < room ? parts.path.len : room;
		o = put(o, parts.path.p, m);
		o = put(o, ver, sizeof ver - 1);
		conn_copy_reqline(io, line, (size_t)(o - line));
	}

	if (!pc) { /* the fuzz target */
		st->sc.io = io;
		if (http_parse_request(io->in, io->in_len, &h->limits, &req, &status) ==
		    HTTP_PARSE_DONE)
			status = 200;
		fuzz_answer(io, st->too_big ? 431 : st->bad ? 400 : status);
		st->upload = !end_stream;
		stream_respond(h, st);
		return 0;
	}
	/* a reload happened: new streams use the new configuration */
	if (site_generation() != pc->site_gen) {
		unsigned gen = site_generation();
		struct site *s = site_acquire();
		if (s) {
			site_unref(pc->site);
			pc->site = s;
			pc->site_gen = gen;
		}
	}
	stream_conn_init(st, pc, io);
	if (st->too_big || st->bad) {
		status = st->too_big ? 431 : 400;
		log_info("%s: HTTP/2 stream %" PRId32 ": request fields refused -> %d", pc->peer,
			 st->id, status);
		conn_respond_error(&st->sc, status, false, NULL, NULL, false);
		st->sc.state = CONN_WRITE;
	} else if (http_parse_request(io->in, io->in_len, &st->sc.site->limits, &req, &status) ==
		   HTTP_PARSE_DONE) {
		conn_handle_request(&st->sc, &req);
	} else {
		log_info("%s: malformed HTTP/2 request -> %d", pc->peer, status);
		conn_respond_error(&st->sc, status, false, NULL, NULL, false);
		st->sc.state = CONN_WRITE;
	}
	if (st->sc.state == CONN_READ_BODY) {
		st->upload = true;
		if (end_stream)
			serve_upload_data_end(&st->sc);
	}
	if (st->sc.state != CONN_READ_BODY)
		stream_respond(h, st);
	/* the client's stream ids run out (RFC 9113 section 5.1.1): tell it
	 * to go on with a new connection while this one finishes */
	if (!h->goaway && st->id > INT32_MAX - 1000) {
		nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR, NULL, 0);
		h->goaway = true;
	}
	return 0;
}

static void stream_end(struct h2_conn *h, struct h2_stream *st)
{
	st->req_done = true;
	if (h->c && st->upload && st->sc.state == CONN_READ_BODY) {
		serve_upload_data_end(&st->sc);
		if (st->sc.state != CONN_READ_BODY)
			stream_respond(h, st);
	}
}

/* ------------------------------------------------------------------------
 * nghttp2 callbacks
 */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct h2_conn *h = user;
	struct h2_stream *st;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = stream_new(h, f->hd.stream_id);
	if (!st)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st);
	return 0;
}

static bool value_ok(const uint8_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0')
			return false;
	return true;
}

static bool name_is(nghttp2_vec n, const char *lit)
{
	return n.len == strlen(lit) && memcmp(n.base, lit, n.len) == 0;
}

static int append_field(struct h2_stream *st, nghttp2_vec n, nghttp2_vec v)
{
	size_t need = st->hdr_len + n.len + v.len + 4;

	if (need > st->hdr_cap) {
		size_t cap = st->hdr_cap ? st->hdr_cap : 512;
		char *p;

		while (cap < need)
			cap *= 2;
		p = realloc(st->hdr, cap);
		if (!p)
			return -1;
		st->hdr = p;
		st->hdr_cap = cap;
	}
	memcpy(st->hdr + st->hdr_len, n.base, n.len);
	st->hdr_len += n.len;
	memcpy(st->hdr + st->hdr_len, ": ", 2);
	st->hdr_len += 2;
	memcpy(st->hdr + st->hdr_len, v.base, v.len);
	st->hdr_len += v.len;
	memcpy(st->hdr + st->hdr_len, "\r\n", 2);
	st->hdr_len += 2;
	return 0;
}

static void keep_rcbuf(nghttp2_rcbuf **slot, nghttp2_rcbuf *rc)
{
	if (*slot)
		return; /* nghttp2 refuses duplicates; keep the first anyway */
	nghttp2_rcbuf_incref(rc);
	*slot = rc;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, nghttp2_rcbuf *name,
		     nghttp2_rcbuf *value, uint8_t flags, void *user)
{
	struct h2_conn *h = user;
	struct h2_stream *st;
	nghttp2_vec n = nghttp2_rcbuf_get_buf(name), v = nghttp2_rcbuf_get_buf(value);

	(void)flags;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0; /* trailers: not used */
	st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!st)
		return 0;
	/* the header list size as RFC 9113 section 6.5.2 counts it; an HPACK
	 * bomb decodes to a lot of it from a few bytes, which are counted and
	 * dropped (nghttp2 decodes the block anyway, to keep its table) */
	st->list_size += n.len + v.len + 32;
	if (st->list_size > h->max_list) {
		st->too_big = true; /* answered 431 once the head is complete */
		return 0;
	}
	if (st->too_big)
		return 0;
	if (!value_ok(v.base, v.len))
		st->bad = true;
	if (n.len && n.base[0] == ':') {
		if (name_is(n, ":method"))
			keep_rcbuf(&st->method, value);
		else if (name_is(n, ":path"))
			keep_rcbuf(&st->path, value);
		else if (name_is(n, ":authority"))
			keep_rcbuf(&st->authority, value);
		return 0; /* :scheme (checked by nghttp2) */
	}
	/* RFC 9113 section 8.3.1: :authority wins over Host; TE (only
	 * "trailers" gets past nghttp2) and Expect mean nothing here */
	if ((name_is(n, "host") && st->authority) || name_is(n, "te") || name_is(n, "expect"))
		return 0;
	if (name_is(n, "content-length"))
		st->has_cl = true;
	if (append_field(st, n, v) < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	return 0;
}

static void rapid_reset(struct h2_conn *h)
{
	static int64_t last_log; /* atomic */
	const char *peer = h->c ? h->c->peer : "fuzz";

	h->calm = true;
	if (log_ratelimit(&last_log, 1000))
		log_event(LOG_WARNING, LOG_ID_SECURITY_REJECTED,
			  LOG_FIELDS(LOG_STR("MTHTTPD_CLIENT", peer)),
			  "security: %s reset more than %u HTTP/2 streams (%u a second): GOAWAY "
			  "ENHANCE_YOUR_CALM",
			  peer, H2_RST_BURST, H2_RST_RATE);
	nghttp2_session_terminate_session(h->s, NGHTTP2_ENHANCE_YOUR_CALM);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct h2_conn *h = user;
	struct h2_stream *st = NULL;
	bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;

	h->preface_ok = true;
	if (f->hd.stream_id)
		st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	switch (f->hd.type) {
	case NGHTTP2_HEADERS:
		if (!st)
			return 0;
		if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
			st->req_done = end;
			return stream_dispatch(h, st, end);
		}
		if (end)
			stream_end(h, st);
		return 0;
	case NGHTTP2_DATA:
		if (st && end)
			stream_end(h, st);
		return 0;
	case NGHTTP2_RST_STREAM:
		/* CVE-2023-44487: each reset stream cost us a dispatch */
		if (!h->calm &&
		    !h2_bucket_take(&h->rst, H2_RST_BURST, H2_RST_RATE, mth_clock_coarse_ms()))
			rapid_reset(h);
		return 0;
	default:
		return 0;
	}
}

/* RFC 9113 section 8.1: after a complete response, RST_STREAM NO_ERROR
 * asks the client to stop sending the request body.  Only once more than
 * H2_DISCARD_MAX of it came: curl (7.88 and later) reports a reset that
 * arrives while it still sends the body as a failed transfer, dropping the
 * 413/415/405 it got, so a body of any usual size is read and dropped, as
 * nginx does with a lingering body. */
static void stop_body(nghttp2_session *s, struct h2_stream *st)
{
	if (st->resp_done && !st->req_done && !st->rst_sent && st->discarded > H2_DISCARD_MAX) {
		st->rst_sent = true;
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
	}
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *user)
{
	struct h2_conn *h = user;
	struct h2_stream *st = nghttp2_session_get_stream_user_data(s, id);

	(void)flags;
	if (!st)
		return 0;
	if (!h->c || !st->upload || st->sc.state != CONN_READ_BODY) {
		/* a body nobody asked for (or one refused) is dropped; flow
		 * control still counts it */
		st->discarded += len;
		stop_body(s, st);
		return 0;
	}
	serve_upload_data(&st->sc, (const char *)data, len);
	if (st->sc.state != CONN_READ_BODY)
		stream_respond(h, st); /* refused: 413, 400, 507 */
	return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct h2_conn *h = user;
	struct h2_stream *st;

	if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
	    (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA))
		return 0;
	st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (st && !st->resp_done) {
		/* no more DATA of ours: only the client's body may be left,
		 * which body_timeout bounds, not send_timeout */
		st->resp_done = true;
		if (st->responded)
			h->n_sending--;
		stop_body(s, st);
	}
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error, void *user)
{
	struct h2_conn *h = user;
	struct h2_stream *st = nghttp2_session_get_stream_user_data(s, id);

	(void)error;
	if (!st)
		return 0;
	/* its file may be let go now: what is noted of it is read first */
	if (h->rd.n && reads_flush(h) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (st->responded && h->c) {
		conn_request_done(&st->sc);
		h->c->requests++;
	}
	nghttp2_session_set_stream_user_data(s, id, NULL);
	stream_free(h, st);
	return 0;
}

/* ------------------------------------------------------------------------
 * The session
 */

/* Memory per idle connection: nghttp2 allocates its outbound frame buffer
 * (16 KiB and a header) when the session is made and keeps it for the
 * session's life, though what it holds is dead once mem_send returned it.
 * That one allocation (the only one that large while the session is made)
 * is mapped on its own, and an idle connection gives its pages back with
 * MADV_DONTNEED (zero pages again on the next frame): an idle HTTP/2
 * connection then costs the session's small structures and HPACK tables. */
#define H2_FRAMEBUF_MIN 16384

static void *h2_malloc(size_t size, void *user)
{
	struct h2_conn *h = user;
	void *p;

	if (!h->creating || h->framebuf || size < H2_FRAMEBUF_MIN)
		return malloc(size);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	h->framebuf = p;
	h->framebuf_len = size;
	return p;
}

static void h2_mfree(void *p, void *user)
{
	struct h2_conn *h = user;

	if (p && p == h->framebuf) {
		munmap(p, h->framebuf_len);
		h->framebuf = NULL;
		return;
	}
	free(p);
}

static void *h2_calloc(size_t n, size_t size, void *user)
{
	(void)user;
	return calloc(n, size);
}

static void *h2_realloc(void *p, size_t size, void *user)
{
	struct h2_conn *h = user;
	void *q;

	if (!p) /* how nghttp2 allocates its buffers */
		return h2_malloc(size, user);
	if (p != h->framebuf)
		return realloc(p, size);
	q = malloc(size); /* (nghttp2 does not grow it: chains are added) */
	if (!q)
		return NULL;
	memcpy(q, p, size < h->framebuf_len ? size : h->framebuf_len);
	h2_mfree(p, user);
	return q;
}

/* Idle, nothing pending: the frame buffer's content is dead. */
static void framebuf_release(struct h2_conn *h)
{
	size_t len = h->framebuf_len & ~(size_t)4095;

	if (h->framebuf && h->framebuf_resident && len) {
		madvise(h->framebuf, len, MADV_DONTNEED);
		h->framebuf_resident = false;
	}
}

static int session_new(struct h2_conn *h, unsigned max_streams)
{
	nghttp2_mem mem = {
		.mem_user_data = h,
		.malloc = h2_malloc,
		.free = h2_mfree,
		.calloc = h2_calloc,
		.realloc = h2_realloc,
	};
	nghttp2_session_callbacks *cb = NULL;
	nghttp2_option *opt = NULL;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_streams },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)h->max_list },
		/* RFC 9218 priorities (the priority header), not the
		 * RFC 7540 tree: see ARCHITECTURE.md */
		{ NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1 },
	};
	int r = -ENOMEM;

	if (nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&opt) != 0)
		goto out;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback2(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_send_data_callback(cb, send_data);
	/* CONTINUATION flood (2024), SETTINGS and PING floods, and nghttp2's
	 * own rapid-reset limiter above ours (see H2_NGHTTP2_RST_FACTOR) */
	nghttp2_option_set_max_continuations(opt, H2_MAX_CONTINUATIONS);
	nghttp2_option_set_max_outbound_ack(opt, H2_MAX_OUTBOUND_ACK);
	nghttp2_option_set_max_settings(opt, H2_MAX_SETTINGS);
	/* no priority tree of closed streams: memory per idle connection */
	nghttp2_option_set_no_closed_streams(opt, 1);
	nghttp2_option_set_stream_reset_rate_limit(opt,
						   H2_NGHTTP2_RST_FACTOR * (uint64_t)H2_RST_BURST,
						   H2_NGHTTP2_RST_FACTOR * (uint64_t)H2_RST_RATE);
	h->creating = true;
	r = nghttp2_session_server_new3(&h->s, cb, h, opt, &mem);
	h->creating = false;
	r = r != 0 ? -ENOMEM : 0;
	if (r < 0)
		goto out;
	r = -ENOMEM;
	if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0 ||
	    nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW) !=
		    0) {
		nghttp2_session_del(h->s);
		h->s = NULL;
		goto out;
	}
	h2_bucket_init(&h->rst, H2_RST_BURST, mth_clock_coarse_ms());
	r = 0;
out:
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	return r;
}

static size_t max_list_of(const struct http_limits *l)
{
	/* the request line and the fields HTTP/1.1 takes, with RFC 9113's
	 * 32 bytes of overhead per field */
	return l->max_request_line + l->max_header_bytes + 32 * (l->max_headers + 4);
}

static void h2_free(struct h2_conn *h)
{
	if (!h)
		return;
	while (h->streams)
		stream_free(h, h->streams);
	nghttp2_session_del(h->s);
	if (h->ob && !ob_spare)
		ob_spare = h->ob;
	else
		free(h->ob);
	free(h);
}

int h2_conn_start(struct conn *c)
{
	struct h2_conn *h = calloc(1, sizeof *h);

	if (!h)
		return -ENOMEM;
	h->c = c;
	h->limits = c->site->limits;
	h->max_list = max_list_of(&h->limits);
	h->preface_deadline = mth_clock_coarse_ms() + (int64_t)c->site->cfg->header_timeout * 1000;
	if (session_new(h, c->site->cfg->tls.h2_max_concurrent_streams) < 0) {
		free(h);
		return -ENOMEM;
	}
	c->h2 = h;
	return 0;
}

void h2_conn_free(struct conn *c)
{
	h2_free(c->h2);
	c->h2 = NULL;
	spares_trim(H2_SPARES_IDLE); /* the rate limit's last word */
}

/* ------------------------------------------------------------------------
 * Bytes in and out
 */

/* Queue what nghttp2 has to send into ob[], as far as the budget goes. */
static int fill_out(struct h2_conn *h)
{
	while (!h->tail_len && *h->budget < RUN_BYTES_BUDGET) {
		const uint8_t *d;
		ssize_t n;

		if (!h->ob) {
			h->ob = ob_spare ? ob_spare : aligned_alloc(H2_ALIGN, H2_OB_CAP);
			ob_spare = NULL;
			if (!h->ob)
				return -ENOMEM;
		}
		if (H2_OB_CAP - h->ob_len < H2_OB_ROOM)
			break;
		h->framebuf_resident = true;
		n = nghttp2_session_mem_send(h->s, &d);
		if (n < 0)
			return -EPROTO;
		if (n == 0)
			break;
		if ((size_t)n <= H2_OB_CAP - h->ob_len) {
			memcpy(h->ob + h->ob_len, d, (size_t)n);
			h->ob_len += (size_t)n;
		} else {
			/* valid until the next mem_send: sent before that */
			h->tail = d;
			h->tail_len = (size_t)n;
		}
	}
	return 0;
}

/* Keep at most KEEP spare streams and iobufs on this thread. */
static void spares_trim(unsigned keep)
{
	while (n_stream_spares > keep) {
		struct h2_stream *st = spare_take(&stream_spares, &n_stream_spares);

		free(st->hdr);
		free(st);
	}
	while (n_io_spares > keep)
		free(spare_take(&io_spares, &n_io_spares));
}

/* spares_trim(KEEP) unless this thread trimmed less than a second ago */
static void spares_trim_now(unsigned keep)
{
	static __thread int64_t trimmed_ms;
	int64_t now = mth_clock_coarse_ms();

	if (n_stream_spares <= keep && n_io_spares <= keep)
		return;
	if (now - trimmed_ms < 1000)
		return;
	trimmed_ms = now;
	spares_trim(keep);
}

void h2_thread_exit(void)
{
	free(ob_spare);
	ob_spare = NULL;
	spares_trim(0);
}

/* All is out: a connection holds no output buffer while it waits. */
static void ob_release(struct h2_conn *h)
{
	h->ob_len = h->ob_off = 0;
	if (h->ob && !ob_spare)
		ob_spare = h->ob;
	else
		free(h->ob);
	h->ob = NULL;
}

/* Write ob[] and the tail.  STEP_AGAIN once all is out. */
static enum step flush_out(struct h2_conn *h)
{
	struct conn *c = h->c;

	if (h->rd.n && reads_flush(h) < 0)
		return STEP_CLOSE;
	while (h->ob_off < h->ob_len || h->tail_len) {
		struct iovec iov[2];
		int n = 0;
		ssize_t w;

		if (h->ob_off < h->ob_len) {
			iov[n].iov_base = h->ob + h->ob_off;
			iov[n++].iov_len = h->ob_len - h->ob_off;
		}
		if (h->tail_len) {
			iov[n].iov_base = (void *)(uintptr_t)h->tail;
			iov[n++].iov_len = h->tail_len;
		}
		w = transport_sendv(&c->tp, iov, n);
		if (w > 0) {
			size_t a = h->ob_len - h->ob_off < (size_t)w ? h->ob_len - h->ob_off
								     : (size_t)w;
			h->ob_off += a;
			h->tail += (size_t)w - a;
			h->tail_len -= (size_t)w - a;
			*h->budget += (unsigned)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return STEP_WRITE;
		return STEP_CLOSE;
	}
	ob_release(h);
	return STEP_AGAIN;
}

/* Everything nghttp2 has for the socket, until it has nothing more, the
 * socket would block or the budget is spent. */
static enum step produce(struct h2_conn *h)
{
	for (;;) {
		enum step st;

		if (fill_out(h) < 0)
			return STEP_CLOSE;
		if (!h->ob_len && !h->tail_len) {
			ob_release(h);
			return STEP_AGAIN;
		}
		st = flush_out(h);
		if (st != STEP_AGAIN || *h->budget >= RUN_BYTES_BUDGET)
			return st;
	}
}

/* The session is over (GOAWAY sent, or an error): close our side and let
 * conn.c drain what the client still sends, so that the GOAWAY reaches it
 * rather than a TCP reset. */
static enum step finish(struct conn *c)
{
	transport_shutdown_write(&c->tp);
	h2_conn_free(c);
	c->state = CONN_LINGER;
	return STEP_READ;
}

/* SIGTERM, or a reload that turned HTTP/2 off: a shutdown notice, then (a
 * second later, or as soon as no stream is open) the final GOAWAY with the
 * last stream we took; the streams below it complete (within
 * shutdown_timeout on a stop; RFC 9113 section 6.8).  An idle connection
 * gets its GOAWAY from the reaper (h2_conn_deadline). */
static void drain(struct h2_conn *h)
{
	int64_t now = mth_clock_coarse_ms();

	if (!h->notice) {
		nghttp2_submit_shutdown_notice(h->s);
		h->notice = true;
		h->notice_ms = now;
	}
	if (!h->goaway && (h->n_streams == 0 || now - h->notice_ms >= H2_NOTICE_MS)) {
		nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE,
				      nghttp2_session_get_last_proc_stream_id(h->s),
				      NGHTTP2_NO_ERROR, NULL, 0);
		h->goaway = true;
	}
}

/* Zero-window stall of one stream while others go on (the connection's
 * deadline catches a whole connection that stalls): a response whose DATA
 * could not go out for send_timeout is reset (CANCEL), which frees its
 * file and buffers.  Looked at once a second at most. */
static void reset_stalled(struct h2_conn *h, unsigned send_timeout)
{
	int64_t now = mth_clock_coarse_ms();

	if (!h->n_sending || now - h->stall_check_ms < 1000)
		return;
	h->stall_check_ms = now;
	for (struct h2_stream *st = h->streams; st; st = st->next) {
		if (!st->responded || st->resp_done || st->rst_sent ||
		    now - st->last_data_ms < (int64_t)send_timeout * 1000)
			continue;
		log_info("%s: HTTP/2 stream %" PRId32 " stalled for %us (\"%s\"); reset",
			 h->c->peer, st->id, send_timeout, st->sc.io->reqline);
		st->rst_sent = true;
		nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
	}
}

enum step h2_conn_run(struct conn *c, unsigned *budget)
{
	struct h2_conn *h = c->h2;
	enum step st;

	if (!h)
		return STEP_CLOSE;
	h->budget = budget;
	if (!h->notice && !site_h2_offered())
		log_info("%s: HTTP/2 is off since a reload: GOAWAY, %u open streams complete",
			 c->peer, h->n_streams);
	if (conn_draining() || !site_h2_offered())
		drain(h);
	reset_stalled(h, c->site->cfg->send_timeout);
	for (;;) {
		ssize_t n, rv;

		st = produce(h);
		if (st != STEP_AGAIN)
			break;
		if (!nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s))
			return finish(c);
		if (*budget >= RUN_BYTES_BUDGET) {
			c->wr_more = c->rd_more = true; /* yield, run again soon */
			st = STEP_WRITE;
			break;
		}
		n = conn_read(c, rbuf, sizeof rbuf);
		if (n > 0) {
			*budget += (unsigned)n;
			h->recv_us = mth_clock_us();
			h->recv_time = time(NULL);
			rv = nghttp2_session_mem_recv(h->s, (const uint8_t *)rbuf, (size_t)n);
			if (rv < 0) {
				log_debug("%s: HTTP/2: %s; closing", c->peer,
					  nghttp2_strerror((int)rv));
				if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC || nghttp2_is_fatal((int)rv))
					return STEP_CLOSE;
				(void)produce(h); /* nghttp2's GOAWAY, if any */
				return finish(c);
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			st = STEP_READ;
			break;
		}
		return STEP_CLOSE; /* the client closed, or the socket broke */
	}
	/* a stop may close it at once when no stream is open */
	__atomic_store_n(&c->idle, h->n_streams == 0 && st == STEP_READ, __ATOMIC_RELAXED);
	__atomic_store_n(&c->h2_idle, h->n_streams == 0 && st == STEP_READ, __ATOMIC_RELAXED);
	if (h->n_streams == 0 && st == STEP_READ && !h->ob_len && !h->tail_len &&
	    !nghttp2_session_want_write(h->s)) {
		framebuf_release(h);
		/* the spares are for many streams at once: a connection that
		 * goes idle may say the load is light.  (A connection may run
		 * on any worker, so without this every worker's lists would
		 * fill up to H2_SPARES_MAX over time: ~1 MiB each.)  At most
		 * once a second: under load connections go idle between their
		 * bursts all the time, and trimming each time freed and
		 * malloc'ed again what the next burst needed (4% of the CPU of
		 * 100 streams x 10 connections) */
		spares_trim_now(H2_SPARES_IDLE);
	}
	return st;
}

int64_t h2_conn_deadline(const struct conn *c)
{
	const struct h2_conn *h = c->h2;
	const struct mth_config *cfg = c->site->cfg;
	int64_t now = mth_clock_coarse_ms();

	if (!h)
		return now;
	if (!h->preface_ok)
		return h->preface_deadline; /* header_timeout from the handshake */
	if (!h->n_streams && !site_h2_offered())
		return now; /* a reload turned HTTP/2 off: GOAWAY and close */
	if (h->ob_len > h->ob_off || h->tail_len || h->n_sending)
		/* the client reads nothing or opens no window (zero-window
		 * stall): send_timeout after the last DATA we could send */
		return (h->n_sending ? h->last_data_ms : now) + (int64_t)cfg->send_timeout * 1000;
	if (h->n_streams)
		return now + (int64_t)cfg->body_timeout * 1000;
	return now + (int64_t)cfg->keepalive_timeout * 1000;
}

enum conn_phase h2_conn_phase(const struct conn *c)
{
	const struct h2_conn *h = c->h2;

	if (!h || !h->n_streams)
		return CONN_PHASE_IDLE;
	return h->n_sending ? CONN_PHASE_WRITING : CONN_PHASE_READING;
}

void h2_conn_timeout(struct conn *c)
{
	struct h2_conn *h = c->h2;
	unsigned budget = 0;

	if (!h)
		return;
	if (h->n_streams)
		log_info("%s: HTTP/2 connection with %u open streams made no progress; closing",
			 c->peer, h->n_streams);
	h->budget = &budget;
	nghttp2_session_terminate_session(h->s, NGHTTP2_NO_ERROR);
	(void)produce(h); /* best effort: the GOAWAY */
}

/* ------------------------------------------------------------------------
 * The fuzz target's session
 */

struct h2_fuzz {
	struct h2_conn *h;
};

struct h2_fuzz *h2_fuzz_new(void)
{
	struct h2_fuzz *f = calloc(1, sizeof *f);

	if (!f)
		return NULL;
	f->h = calloc(1, sizeof *f->h);
	if (!f->h)
		goto fail;
	f->h->limits = http_default_limits;
	f->h->max_list = max_list_of(&f->h->limits);
	f->h->budget = &f->h->fuzz_budget;
	f->h->ob = aligned_alloc(H2_ALIGN, H2_OB_CAP); /* where DATA frames go */
	if (!f->h->ob)
		goto fail;
	if (session_new(f->h, 100) < 0)
		goto fail;
	return f;
fail:
	if (f->h)
		free(f->h->ob);
	free(f->h);
	free(f);
	return NULL;
}

void h2_fuzz_feed(struct h2_fuzz *f, const uint8_t *data, size_t len)
{
	struct h2_conn *h = f->h;

	if (nghttp2_session_mem_recv(h->s, data, len) < 0)
		return;
	/* send and discard: bounded, a body is a few frames */
	for (int i = 0; i < 10000; i++) {
		const uint8_t *d;
		ssize_t n = nghttp2_session_mem_send(h->s, &d);
		bool wrote = h->ob_len > 0; /* DATA frames (send_data) */

		if (h->rd.n && reads_flush(h) < 0)
			break;
		h->ob_len = h->ob_off = 0;
		if (n < 0 || (n == 0 && !wrote))
			break;
	}
}

void h2_fuzz_free(struct h2_fuzz *f)
{
	if (!f)
		return;
	h2_free(f->h);
	free(f);
}
