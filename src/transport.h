/* transport.h - how a connection's bytes cross the wire: a plain socket or
 * TLS (tls.c), behind one small vtable.
 *
 * The connection state machine (conn.c) calls only these; it never sees a
 * socket call or an SSL object.  Every operation is non-blocking and speaks
 * like the syscalls: a byte count, 0 for the peer's end of stream (recv), or
 * -1 with errno (EAGAIN: would block; EINTR: retry; anything else: the
 * connection is broken).  A TLS transport may need the socket writable to
 * go on reading (or the reverse): it then fails with EAGAIN and sets
 * WANT_WRITE (or WANT_READ), which the state machine waits for instead. */
#ifndef MTH_TRANSPORT_H
#define MTH_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct transport;

struct transport_ops {
	ssize_t (*recv)(struct transport *t, void *buf, size_t len);
	/* MORE: further bytes follow at once (MSG_MORE) */
	ssize_t (*send)(struct transport *t, const void *buf, size_t len, bool more);
	/* up to two buffers, in order, as one write where possible */
	ssize_t (*sendv)(struct transport *t, const struct iovec *iov, int iovcnt);
	/* LEN bytes of FD at OFF; COPY: pread + send instead of zero-copy */
	ssize_t (*send_file)(struct transport *t, int fd, off_t off, size_t len, bool copy);
	/* end our side of the stream (TLS: close_notify first) */
	void (*shutdown_write)(struct transport *t);
	/* release everything, close the socket */
	void (*close)(struct transport *t);
	/* the connection is about to wait for the socket: give back what
	 * is only needed while it runs (TLS: OpenSSL's record buffers);
	 * NULL: nothing to give back */
	void (*park)(struct transport *t);
};

struct transport {
	const struct transport_ops *ops;
	int fd;
	void *tls;       /* the TLS session (tls.c), or NULL */
	void *tls_ctx;   /* TLS: what the session is made from once the
			  * ClientHello's first record is all there */
	bool want_read;  /* the last send would block until readable (TLS) */
	bool want_write; /* the last recv would block until writable (TLS) */
	bool ktls_send;  /* TLS: the kernel encrypts, send_file is zero-copy */
	bool rd_drained; /* TLS: a recv found the socket empty during this run
			  * of the connection, so no other recv until the next
			  * run (conn_run clears it: an edge-triggered event for
			  * bytes that arrive later always brings a new run) */
	void *tls_bio;   /* TLS without kTLS: our socket BIO (tls.c) */
	bool wr_full;    /* plain: the last send_file (sendfile or the copy)
			  * moved less than it could, so the socket's buffer
			  * is full (TCP then marks it, and an EPOLLOUT edge
			  * follows when it drains): the caller waits rather
			  * than calling again for an EAGAIN (a file that
			  * shrank also ends short: its next call returns 0) */
};

/* A plain TCP socket (FD: non-blocking; the transport closes it). */
void transport_plain_init(struct transport *t, int fd);

static inline ssize_t transport_recv(struct transport *t, void *buf, size_t len)
{
	return t->ops->recv(t, buf, len);
}

static inline ssize_t transport_send(struct transport *t, const void *buf, size_t len, bool more)
{
	return t->ops->send(t, buf, len, more);
}

static inline ssize_t transport_sendv(struct transport *t, const struct iovec *iov, int n)
{
	return t->ops->sendv(t, iov, n);
}

static inline ssize_t transport_send_file(struct transport *t, int fd, off_t off, size_t len,
					  bool copy)
{
	return t->ops->send_file(t, fd, off, len, copy);
}

static inline void transport_shutdown_write(struct transport *t)
{
	t->ops->shutdown_write(t);
}

static inline void transport_close(struct transport *t)
{
	if (t->ops)
		t->ops->close(t);
	t->ops = NULL;
	t->fd = -1;
}

static inline void transport_park(struct transport *t)
{
	if (t->ops->park)
		t->ops->park(t);
}

/* From another thread (the reaper): stop reading, which wakes the owner
 * through epoll; touches only the socket, never the TLS state. */
void transport_wake(const struct transport *t);

/* The copy path of send_file, for any transport: pread up to CHUNK bytes
 * of FD at OFF into a per-thread buffer, hand them to SEND.  Bytes read but
 * not accepted are read again next time. */
#define TRANSPORT_COPY_CHUNK 65536
ssize_t transport_copy_file(struct transport *t, int fd, off_t off, size_t len, size_t chunk,
			    ssize_t (*send)(struct transport *t, const void *buf, size_t len,
					    bool more));

#endif
