/* tls.h - HTTPS: certificates, SNI, session tickets and the TLS transport.
 *
 * A struct tls_ctx belongs to one configuration generation (the site): one
 * OpenSSL context per tls.certificates entry, the first the default, SNI
 * picking another whose SAN (or CN) matches.  A reload builds a new one, so
 * new handshakes use the new certificates while open connections keep the
 * context they started with (each SSL holds a reference to its SSL_CTX).
 *
 * Process-wide, kept across reloads and never written anywhere: the session
 * ticket keys (generated at start, rotated every TLS_TICKET_ROTATE_S, the
 * previous key still accepted), the handshake counter and whether the
 * kernel does TLS (kTLS, probed once at start).
 *
 * The TLS transport (transport.h) runs the handshake without blocking: the
 * state machine calls tls_handshake() until it is done, waiting on the
 * socket between calls like for any read.
 *
 * Without kTLS the records cross the socket through our own BIO: one recv
 * fills a read-ahead buffer that OpenSSL's reads are served from, and the
 * records of one transport call (a response's head and body, a handshake
 * flight) leave in one send.  A send that returns EAGAIN may have taken
 * its bytes already (their records wait in the BIO): like SSL_write, it
 * must be called again with the same buffer (send, sendv) or the same file
 * and offset (send_file, whose copy buffer is per thread and may differ
 * when another worker retries), and then returns their count; a caller
 * that never retries (a best-effort send) loses nothing, its records go
 * out ahead of the next ones. */
#ifndef MTH_TLS_H
#define MTH_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "transport.h"

#define TLS_TICKET_ROTATE_S (6 * 3600)
#define TLS_DESC_MAX 64 /* "TLSv1.3/TLS_CHACHA20_POLY1305_SHA256" and NUL */

struct tls_ctx;

/* Once, before any other tls_* call (main thread): ticket keys and the
 * kTLS probe.  Returns 0 or -ENOMEM / -EIO with a message in ERR. */
int tls_global_init(char *err, size_t errlen);
void tls_global_free(void);

/* A worker thread ends: frees its spare record buffers. */
void tls_thread_exit(void);

/* How TLS file bodies go out on this kernel, for the start-up log. */
const char *tls_sendfile_path(void);

/* Load and check every certificate and key of CFG (readable, PEM, the key
 * matches the certificate).  An error names the file and the problem
 * (-EINVAL, -ENOENT, -EACCES, -ENOMEM); warnings that do not stop the
 * server (an expired or not yet valid certificate) go into WARN, one per
 * line ("" when none).  CONFIG_PATH prefixes every message. */
int tls_ctx_new(const struct config_tls *cfg, const char *config_path, struct tls_ctx **out,
		char *err, size_t errlen, char *warn, size_t warnlen);
void tls_ctx_free(struct tls_ctx *t); /* accepts NULL */

/* Main thread, about once a second: rotates the ticket keys when due. */
void tls_tick(void);

/* Handshakes completed since start (for STATUS). */
uint64_t tls_handshakes(void);

/* Make T a TLS transport over FD (accepted, non-blocking) with CTX's
 * certificates (CTX must outlive the handshake: the connection's site owns
 * it).  The OpenSSL session is only made once the ClientHello's first
 * record is complete (see tls_handshake).  Returns 0. */
int tls_transport_init(struct transport *t, int fd, struct tls_ctx *ctx);

enum tls_hs {
	TLS_HS_DONE,       /* established: read and write through T */
	TLS_HS_WANT_READ,  /* wait until readable, then call again */
	TLS_HS_WANT_WRITE, /* wait until writable, then call again */
	TLS_HS_PLAIN,      /* the client speaks plain HTTP: T is now a plain
			    * transport, nothing was consumed */
	TLS_HS_FAIL,       /* not TLS, a bad handshake or a closed socket:
			    * WHY says which (for a debug line) */
};

/* Peeks at the first bytes (tls_sniff) and, once the ClientHello's first
 * record is all there, runs SSL_do_handshake as far as the socket allows. */
enum tls_hs tls_handshake(struct transport *t, const char **why);

/* "TLSv1.3/TLS_AES_128_GCM_SHA256" of an established T into OUT
 * (TLS_DESC_MAX bytes). */
void tls_describe(const struct transport *t, char *out);

/* ALPN chose "h2" on this established T (tls.http2 offers it first). */
bool tls_alpn_is_h2(const struct transport *t);

/* The name the client sent in SNI, or NULL. */
const char *tls_server_name(const struct transport *t);

#endif
