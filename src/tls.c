/* tls.c - HTTPS with OpenSSL 3 (see tls.h): contexts, certificates, SNI,
 * session ticket keys, kTLS, and the TLS transport. */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "metrics.h"
#include "tls.h"
#include "tls_sniff.h"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* Mozilla's "intermediate" profile (v5.7): TLS 1.2 with ECDHE and AEAD
 * ciphers only (no DHE: its parameters cost a handshake dearly and add
 * nothing here), the three TLS 1.3 suites, the client's order. */
#define TLS12_CIPHERS                                                                              \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS "X25519:prime256v1:secp384r1"
#define TLS_SID_CTX "mthttpd"
/* One TLS record of plaintext: what the copy path reads per SSL_write, so
 * that a write that would block is retried with the very same bytes. */
#define TLS_COPY_CHUNK 16384

struct tls_cert {
	SSL_CTX *ctx;
	X509 *x509; /* for SNI matching (X509_check_host) */
};

struct tls_ctx {
	size_t n;
	struct tls_cert certs[]; /* [0] is the default */
};

/* ---- process-wide state ------------------------------------------------ */

struct ticket_key {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char hmac[32];
};

static pthread_rwlock_t keys_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct ticket_key keys[2]; /* [0] encrypts; both decrypt */
static int64_t keys_rotated_ms;
static uint64_t handshakes;
static bool ktls_ok;
/* fetched once: EVP_aes_256_cbc() would be looked up in the provider
 * store at every ticket made or opened */
static EVP_CIPHER *ticket_cipher;
static BIO_METHOD *bio_method_new(void);
static BIO_METHOD *bio_meth;

static int new_key(struct ticket_key *k)
{
	return RAND_bytes((unsigned char *)k, sizeof *k) == 1 ? 0 : -EIO;
}

static int rotate_keys(void)
{
	struct ticket_key k;
	int r = new_key(&k);

	if (r < 0)
		return r;
	pthread_rwlock_wrlock(&keys_lock);
	keys[1] = keys[0];
	keys[0] = k;
	pthread_rwlock_unlock(&keys_lock);
	OPENSSL_cleanse(&k, sizeof k);
	keys_rotated_ms = mth_clock_coarse_ms();
	return 0;
}

/* Can this kernel encrypt for us?  Attach the "tls" upper layer protocol
 * to a connected loopback socket (which loads the module if there is one);
 * lighttpd and nginx rely on the same setsockopt through OpenSSL. */
static bool probe_ktls(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int l = -1, c = -1, s = -1;
	bool ok = false;

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0 ||
	    connect(c, (struct sockaddr *)&a, sizeof a) < 0)
		goto out;
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		goto out;
	ok = setsockopt(s, SOL_TCP, TCP_ULP, "tls", sizeof "tls") == 0;
out:
	if (s >= 0)
		close(s);
	if (c >= 0)
		close(c);
	if (l >= 0)
		close(l);
	return ok;
}

int tls_global_init(char *err, size_t errlen)
{
	if (keys_rotated_ms)
		return 0;
	if (new_key(&keys[1]) < 0 || rotate_keys() < 0) {
		snprintf(err, errlen, "cannot make TLS session ticket keys: no randomness");
		return -EIO;
	}
	ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	bio_meth = bio_method_new();
	if (!ticket_cipher || !bio_meth) {
		snprintf(err, errlen, "cannot set up OpenSSL: out of memory");
		return -ENOMEM;
	}
	ktls_ok = probe_ktls();
	return 0;
}

void tls_global_free(void)
{
	OPENSSL_cleanse(keys, sizeof keys);
	EVP_CIPHER_free(ticket_cipher);
	ticket_cipher = NULL;
	BIO_meth_free(bio_meth);
	bio_meth = NULL;
}

const char *tls_sendfile_path(void)
{
	return ktls_ok ? "kTLS: the kernel encrypts, file bodies go by SSL_sendfile"
		       : "no kTLS in this kernel (no \"tls\" TCP ULP): file bodies go by "
			 "pread + SSL_write";
}

void tls_tick(void)
{
	if (keys_rotated_ms &&
	    mth_clock_coarse_ms() - keys_rotated_ms >= (int64_t)TLS_TICKET_ROTATE_S * 1000)
		(void)rotate_keys(); /* no randomness: keep the keys we have */
}

uint64_t tls_handshakes(void)
{
	return __atomic_load_n(&handshakes, __ATOMIC_RELAXED);
}

/* RFC 5077 section 4 as OpenSSL 3 runs it: ENC picks the current key, a
 * decrypt finds the key by name (0: unknown, full handshake; 2: accept and
 * issue a fresh ticket).  TLS 1.3 always gets a fresh ticket, as from nginx:
 * RFC 8446 C.4 asks clients to use a ticket once, and OpenSSL's client
 * (curl, wrk) keeps no resumable session after resuming without one, so
 * every other connection would be a full handshake.  TLS 1.2 renews only
 * what an old key sealed. */
static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
		     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct ticket_key k;
	OSSL_PARAM params[3];
	int ret = 1, i = 0;

	pthread_rwlock_rdlock(&keys_lock);
	if (!enc) {
		for (i = 0; i < 2 && memcmp(name, keys[i].name, 16); i++)
			;
	}
	if (i < 2)
		k = keys[i];
	pthread_rwlock_unlock(&keys_lock);
	if (i == 2)
		return 0;
	if (enc) {
		if (RAND_bytes(iv, 16) != 1) {
			ret = -1;
			goto out;
		}
		memcpy(name, k.name, 16);
		if (EVP_EncryptInit_ex(cctx, ticket_cipher, NULL, k.aes, iv) != 1)
			ret = -1;
	} else {
		if (EVP_DecryptInit_ex(cctx, ticket_cipher, NULL, k.aes, iv) != 1)
			ret = -1;
		else if (i > 0 || SSL_version(ssl) == TLS1_3_VERSION)
			ret = 2;
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof k.hmac);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (ret >= 0 && EVP_MAC_CTX_set_params(hctx, params) != 1)
		ret = -1;
out:
	OPENSSL_cleanse(&k, sizeof k);
	return ret;
}

/* ---- contexts ------------------------------------------------------------ */

/* SNI: the first certificate whose SAN (or, without DNS SANs, CN) matches
 * the name, wildcards included; none matching: the default one stays. */
static int sni_cb(SSL *ssl, int *alert, void *arg)
{
	const struct tls_ctx *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)alert;
	if (!name)
		return SSL_TLSEXT_ERR_NOACK;
	for (size_t i = 0; i < t->n; i++)
		if (X509_check_host(t->certs[i].x509, name, 0, 0, NULL) == 1) {
			if (i)
				SSL_set_SSL_CTX(ssl, t->certs[i].ctx);
			break;
		}
	return SSL_TLSEXT_ERR_OK;
}

static int no_password(char *buf, int size, int rw, void *u)
{
	(void)buf;
	(void)size;
	(void)rw;
	(void)u;
	return -1;
}

/* The last OpenSSL error as text, for a message (and clears the queue). */
static const char *ssl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_peek_last_error();

	if (!e)
		snprintf(buf, cap, "unknown error");
	else
		ERR_error_string_n(e, buf, cap);
	ERR_clear_error();
	return buf;
}

__attribute__((format(printf, 3, 4))) static void add_warning(char *warn, size_t warnlen,
								  const char *fmt, ...)
{
	size_t used = strlen(warn);
	va_list ap;

	if (used >= warnlen)
		return;
	va_start(ap, fmt);
	vsnprintf(warn + used, warnlen - used, fmt, ap);
	va_end(ap);
}

static int read_pem(const char *path, const char *what, X509 **x, EVP_PKEY **key, char *err,
		    size_t errlen, const char *cfgpath)
{
	char why[256];
	FILE *f = fopen(path, "re");
	int r;

	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: tls: %s '%s': cannot read: %s", cfgpath, what, path,
			 strerror(errno));
		return r;
	}
	if (x)
		*x = PEM_read_X509(f, NULL, no_password, NULL);
	else
		*key = PEM_read_PrivateKey(f, NULL, no_password, NULL);
	fclose(f);
	if ((x && !*x) || (key && !*key)) {
		snprintf(err, errlen, "%s: tls: %s '%s': not a PEM %s (%s)", cfgpath, what, path,
			 x ? "certificate" : "private key without a passphrase",
			 ssl_reason(why, sizeof why));
		return -EINVAL;
	}
	return 0;
}

static void validity_warnings(X509 *x, const char *path, char *warn, size_t warnlen)
{
	const ASN1_TIME *na = X509_get0_notAfter(x), *nb = X509_get0_notBefore(x);
	char when[64] = "?";
	BIO *b;

	if (X509_cmp_current_time(na) < 0) {
		b = BIO_new(BIO_s_mem());
		if (b && ASN1_TIME_print(b, na) == 1) {
			int n = BIO_read(b, when, sizeof when - 1);
			when[n > 0 ? n : 0] = '\0';
		}
		BIO_free(b);
		add_warning(warn, warnlen, "certificate '%s' expired on %s\n", path, when);
	} else if (X509_cmp_current_time(nb) > 0) {
		add_warning(warn, warnlen, "certificate '%s' is not valid yet\n", path);
	}
}

/* ALPN (RFC 7301): our preference decides, h2 first when tls.http2 is on
 * (ARG non-NULL), then http/1.1.  A client that offers neither gets no
 * ALPN answer and speaks HTTP/1.1, as before ALPN existed. */
static const unsigned char alpn_h2_h1[] = "\x02h2\x08http/1.1";
static const unsigned char alpn_h1[] = "\x08http/1.1";

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned inlen, void *arg)
{
	const unsigned char *ours = arg ? alpn_h2_h1 : alpn_h1;
	unsigned ourlen = arg ? sizeof alpn_h2_h1 - 1 : sizeof alpn_h1 - 1;

	(void)ssl;
	if (SSL_select_next_proto((unsigned char **)out, outlen, ours, ourlen, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	return SSL_TLSEXT_ERR_OK;
}

bool tls_alpn_is_h2(const struct transport *t)
{
	const unsigned char *p = NULL;
	unsigned len = 0;

	if (!t->tls)
		return false;
	SSL_get0_alpn_selected(t->tls, &p, &len);
	return len == 2 && p[0] == 'h' && p[1] == '2';
}

static SSL_CTX *make_ctx(const struct config_tls *cfg, const struct config_tls_cert *c,
			 EVP_PKEY *key, char *err, size_t errlen, const char *cfgpath)
{
	char why[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, cfg->min_version == CONFIG_TLS_1_3 ? TLS1_3_VERSION
									       : TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_IGNORE_UNEXPECTED_EOF |
					 (ktls_ok ? SSL_OP_ENABLE_KTLS : 0));
	SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* (the record buffers are given back when a connection waits:
	 * tls_park) */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1)
		goto fail;
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)TLS_SID_CTX,
				       sizeof TLS_SID_CTX - 1);
	/* tickets only (stateless, keys shared by every context): no
	 * per-session memory on the server */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	SSL_CTX_set_default_passwd_cb(ctx, no_password);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, cfg->http2 ? (void *)alpn_h2_h1 : NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->certificate) != 1) {
		snprintf(err, errlen, "%s: tls: certificate '%s': %s", cfgpath, c->certificate,
			 ssl_reason(why, sizeof why));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s: tls: key '%s' does not match certificate '%s'", cfgpath,
			 c->key, c->certificate);
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
fail:
	snprintf(err, errlen, "%s: tls: cannot set up OpenSSL: %s", cfgpath,
		 ssl_reason(why, sizeof why));
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_ctx_new(const struct config_tls *cfg, const char *config_path, struct tls_ctx **out,
		char *err, size_t errlen, char *warn, size_t warnlen)
{
	struct tls_ctx *t;
	int r = 0;

	*out = NULL;
	if (warnlen)
		warn[0] = '\0';
	t = calloc(1, sizeof *t + cfg->n_certs * sizeof t->certs[0]);
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_certs; i++) {
		const struct config_tls_cert *c = &cfg->certs[i];
		EVP_PKEY *key = NULL;
		X509 *x = NULL;

		r = read_pem(c->certificate, "certificate", &x, NULL, err, errlen, config_path);
		if (r < 0)
			goto fail;
		t->certs[i].x509 = x;
		t->n = i + 1;
		r = read_pem(c->key, "key", NULL, &key, err, errlen, config_path);
		if (r < 0)
			goto fail;
		if (X509_check_private_key(x, key) != 1) {
			snprintf(err, errlen, "%s: tls: key '%s' does not match certificate '%s'",
				 config_path, c->key, c->certificate);
			ERR_clear_error();
			EVP_PKEY_free(key);
			r = -EINVAL;
			goto fail;
		}
		validity_warnings(x, c->certificate, warn, warnlen);
		t->certs[i].ctx = make_ctx(cfg, c, key, err, errlen, config_path);
		EVP_PKEY_free(key);
		if (!t->certs[i].ctx) {
			r = -EINVAL;
			goto fail;
		}
	}
	SSL_CTX_set_tlsext_servername_callback(t->certs[0].ctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(t->certs[0].ctx, t);
	*out = t;
	return 0;
fail:
	tls_ctx_free(t);
	return r;
}

void tls_ctx_free(struct tls_ctx *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		SSL_CTX_free(t->certs[i].ctx);
		X509_free(t->certs[i].x509);
	}
	free(t);
}

/* ---- our socket BIO ------------------------------------------------------ */

/* OpenSSL's socket BIO costs a syscall per record half: a read(2) for each
 * record's header, another for its body, a third to learn that the socket
 * is empty, and a write(2) per record.  Ours (used unless the kernel does
 * TLS, which needs OpenSSL's) reads ahead and writes late:
 *
 *   reading: one recv() of up to TLS_RBUF_CAP bytes, OpenSSL's reads are
 *   served from the buffer.  A short recv means the socket is empty: until
 *   the connection's next run (transport.h, rd_drained) a read that finds
 *   the buffer empty says "retry" without asking the kernel again;
 *
 *   writing: records are queued (up to TLS_WBUF_CAP) and sent with one
 *   send() at the end of each transport call, so a response's head and
 *   body, or a whole handshake flight, leave together.  What the socket
 *   does not take stays queued, in order, and goes first next time. */

/* The largest record: header, 2^14 bytes of plaintext, and what any suite
 * adds (RFC 8446 section 5.2 allows 256 bytes; TLS 1.2 suites here add
 * less than SSL3_RT_MAX_ENCRYPTED_OVERHEAD). */
#define TLS_PLAIN_MAX SSL3_RT_MAX_PLAIN_LENGTH
#define TLS_REC_MAX (SSL3_RT_HEADER_LENGTH + TLS_PLAIN_MAX + SSL3_RT_MAX_ENCRYPTED_OVERHEAD)
/* two full records per recv (uploads), one record's worth at least */
#define TLS_RBUF_CAP (2 * 16384)
/* eight records per send: HTTP/2's output buffer (eight DATA frames of 16
 * KiB, h2.c) leaves in one send; the pread + SSL_write path of file bodies
 * moves TRANSPORT_COPY_CHUNK (64 KiB) a call.  A connection holds it only
 * while records wait for the socket. */
#define TLS_WBUF_CAP (8 * TLS_REC_MAX)
#define TLS_BIO_COPY_CHUNK TRANSPORT_COPY_CHUNK

struct tls_bio {
	struct transport *t; /* fd, rd_drained */
	unsigned char *rbuf; /* read ahead, [roff, rlen) unread; NULL when empty */
	size_t roff, rlen;
	unsigned char *wbuf; /* records to send, [woff, wlen); NULL when empty */
	size_t woff, wlen;
	bool eof; /* the peer closed (recv returned 0) */
	/* a send that returned EAGAIN after its records were queued: the
	 * retry returns N instead of encrypting again.  A retry is known by
	 * its first buffer (memory the connection owns: the response head,
	 * a cached body, h2's output buffer) or, for a file body, by the file
	 * and offset: its bytes are read again into a per-thread buffer, and
	 * the retry may run on another worker with another buffer. */
	const void *receipt_base; /* NULL for a file receipt */
	int receipt_fd;
	off_t receipt_off;
	size_t receipt_n;
};

/* one of each buffer per worker thread, so that a connection that waits
 * with nothing buffered holds none and a busy one does not malloc */
static __thread unsigned char *spare_r, *spare_w;

static unsigned char *buf_take(unsigned char **spare, size_t cap)
{
	unsigned char *p = *spare;

	if (p) {
		*spare = NULL;
		return p;
	}
	return malloc(cap);
}

static void buf_give(unsigned char **spare, unsigned char **p)
{
	if (!*p)
		return;
	if (!*spare)
		*spare = *p;
	else
		free(*p);
	*p = NULL;
}

void tls_thread_exit(void)
{
	free(spare_r);
	free(spare_w);
	spare_r = spare_w = NULL;
}

static size_t out_pending(const struct tls_bio *b)
{
	return b->wlen - b->woff;
}

static size_t out_room(const struct tls_bio *b)
{
	return TLS_WBUF_CAP - out_pending(b);
}

/* Send the queued records: 0 when all are out, -EAGAIN when the socket took
 * only part of them (it is full: a writable edge will come; the rest stays
 * queued), another -errno when the connection is broken. */
static int out_flush(struct tls_bio *b)
{
	while (b->woff < b->wlen) {
		ssize_t n = send(b->t->fd, b->wbuf + b->woff, b->wlen - b->woff, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		b->woff += (size_t)n;
		if (b->woff < b->wlen)
			return -EAGAIN; /* another try would only fail */
	}
	b->woff = b->wlen = 0;
	return 0;
}

static int bio_read(BIO *bio, char *out, size_t len, size_t *got)
{
	struct tls_bio *b = BIO_get_data(bio);
	size_t n;

	BIO_clear_retry_flags(bio);
	*got = 0;
	if (b->roff == b->rlen) {
		ssize_t r;

		if (b->t->rd_drained) {
			BIO_set_retry_read(bio);
			return 0;
		}
		if (!b->rbuf && !(b->rbuf = buf_take(&spare_r, TLS_RBUF_CAP))) {
			errno = ENOMEM;
			return 0;
		}
		b->roff = b->rlen = 0;
		r = recv(b->t->fd, b->rbuf, TLS_RBUF_CAP, 0);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				b->t->rd_drained = true;
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				BIO_set_retry_read(bio);
			return 0;
		}
		if (r == 0) {
			b->eof = true; /* BIO_eof: SSL_OP_IGNORE_UNEXPECTED_EOF */
			return 0;
		}
		/* less than asked: the socket is empty now */
		if ((size_t)r < TLS_RBUF_CAP)
			b->t->rd_drained = true;
		b->rlen = (size_t)r;
	}
	n = b->rlen - b->roff < len ? b->rlen - b->roff : len;
	memcpy(out, b->rbuf + b->roff, n);
	b->roff += n;
	*got = n;
	return 1;
}

static int bio_write(BIO *bio, const char *in, size_t len, size_t *done)
{
	struct tls_bio *b = BIO_get_data(bio);
	size_t n;
	int r;

	BIO_clear_retry_flags(bio);
	*done = 0;
	if (out_room(b) < len && out_pending(b)) {
		/* a flight larger than the queue: make room */
		r = out_flush(b);
		if (r < 0 && r != -EAGAIN) {
			errno = -r;
			return 0;
		}
	}
	if (!b->wbuf && !(b->wbuf = buf_take(&spare_w, TLS_WBUF_CAP))) {
		errno = ENOMEM;
		return 0;
	}
	if (b->woff && TLS_WBUF_CAP - b->wlen < len) {
		memmove(b->wbuf, b->wbuf + b->woff, out_pending(b));
		b->wlen -= b->woff;
		b->woff = 0;
	}
	n = TLS_WBUF_CAP - b->wlen < len ? TLS_WBUF_CAP - b->wlen : len;
	if (!n) {
		BIO_set_retry_write(bio);
		return 0;
	}
	memcpy(b->wbuf + b->wlen, in, n);
	b->wlen += n;
	*done = n;
	return 1;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	const struct tls_bio *b = BIO_get_data(bio);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1; /* the transport call sends at its end */
	case BIO_CTRL_EOF:
		return b && b->eof;
	case BIO_CTRL_PENDING:
		return b ? (long)(b->rlen - b->roff) : 0;
	case BIO_CTRL_WPENDING:
		return b ? (long)out_pending(b) : 0;
	default:
		return 0;
	}
}

static int bio_destroy(BIO *bio)
{
	struct tls_bio *b = BIO_get_data(bio);

	if (b) {
		buf_give(&spare_r, &b->rbuf);
		buf_give(&spare_w, &b->wbuf);
		free(b);
	}
	BIO_set_data(bio, NULL);
	BIO_set_init(bio, 0);
	return 1;
}

static BIO_METHOD *bio_method_new(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mthttpd socket");

	if (!m || BIO_meth_set_read_ex(m, bio_read) != 1 ||
	    BIO_meth_set_write_ex(m, bio_write) != 1 || BIO_meth_set_ctrl(m, bio_ctrl) != 1 ||
	    BIO_meth_set_destroy(m, bio_destroy) != 1) {
		BIO_meth_free(m);
		return NULL;
	}
	return m;
}

/* SSL over T's socket through our BIO (SSL owns it).  0 or -ENOMEM. */
static int bio_attach(struct transport *t, SSL *ssl)
{
	struct tls_bio *b = calloc(1, sizeof *b);
	BIO *bio = b ? BIO_new(bio_meth) : NULL;

	if (!bio) {
		free(b);
		return -ENOMEM;
	}
	b->t = t;
	BIO_set_data(bio, b);
	BIO_set_init(bio, 1);
	SSL_set_bio(ssl, bio, bio);
	t->tls_bio = b;
	return 0;
}

/* The end of a transport call: give back buffers that are empty, and let a
 * connection that waits with records still queued wait for writable. */
static void bio_call_end(struct transport *t)
{
	struct tls_bio *b = t->tls_bio;
	int saved = errno;

	if (b->roff == b->rlen)
		buf_give(&spare_r, &b->rbuf);
	if (!out_pending(b))
		buf_give(&spare_w, &b->wbuf);
	else
		t->want_write = true;
	errno = saved;
}

/* ---- the transport ------------------------------------------------------- */

/* Map an SSL result to the transport's errno convention. */
static ssize_t ssl_fail(struct transport *t, SSL *ssl, int ret)
{
	switch (SSL_get_error(ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		t->want_read = true;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		t->want_write = true;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (errno == 0 || errno == EAGAIN)
			errno = ECONNRESET;
		return -1;
	default:
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

/* Read until LEN bytes or until the socket would block, so that "filled the
 * buffer" still means "more may wait" (conn_read, edge-triggered epoll):
 * one SSL_read returns at most one record. */
static ssize_t tls_recv(struct transport *t, void *buf, size_t len)
{
	SSL *ssl = t->tls;
	struct tls_bio *b = t->tls_bio;
	size_t got = 0;
	ssize_t ret;

	t->want_read = t->want_write = false;
	for (;;) {
		size_t n = 0;
		int r;

		if (got == len) {
			ret = (ssize_t)got;
			break;
		}
		r = SSL_read_ex(ssl, (char *)buf + got, len - got, &n);
		if (r == 1) {
			got += n;
			continue;
		}
		ret = ssl_fail(t, ssl, r);
		if (got) {
			/* we return data: not a wait; the end or the error
			 * comes with the next call */
			t->want_read = t->want_write = false;
			ret = (ssize_t)got;
			break;
		}
		if (ret < 0 && errno == EAGAIN)
			t->want_read = false; /* a recv waits for readable anyway */
		break;
	}
	if (!b)
		return ret;
	/* nothing more to read: what is queued (the handshake's last flight,
	 * a best-effort send's rest) goes now; with data read it waits for
	 * the answer to it */
	if (ret <= 0 && out_pending(b)) {
		int saved = errno, r = out_flush(b);
		errno = saved;
		if (r < 0 && r != -EAGAIN) {
			errno = -r;
			ret = -1;
		}
	}
	bio_call_end(t);
	return ret;
}

/* One SSL_write per record: ENABLE_PARTIAL_WRITE makes SSL_write return
 * after each one.  Socket BIO (kTLS): as many records as the socket takes. */
static ssize_t ssl_send(struct transport *t, const void *buf, size_t len)
{
	SSL *ssl = t->tls;
	size_t done = 0;

	t->want_read = t->want_write = false;
	while (done < len) {
		size_t n = 0;
		int r = SSL_write_ex(ssl, (const char *)buf + done, len - done, &n);
		ssize_t f;

		if (r == 1) {
			done += n;
			continue;
		}
		f = ssl_fail(t, ssl, r);
		if (done)
			break;
		if (f < 0 && errno == EAGAIN)
			t->want_write = false; /* a send waits for writable anyway */
		return f == 0 ? (errno = EPIPE, -1) : f;
	}
	t->want_read = t->want_write = false;
	return (ssize_t)done;
}

/* The plaintext of the next record from IOV at (I, OFF): the caller's own
 * bytes when a record's worth is there or nothing follows, else gathered
 * into STAGE (a response's head and a small body make one record). */
static size_t next_record(const struct iovec *iov, int iovcnt, int i, size_t off,
			  unsigned char *stage, const void **p)
{
	size_t n = iov[i].iov_len - off, got = 0;

	if (n >= TLS_PLAIN_MAX || i + 1 == iovcnt) {
		*p = (const char *)iov[i].iov_base + off;
		return n < TLS_PLAIN_MAX ? n : TLS_PLAIN_MAX;
	}
	for (; i < iovcnt && got < TLS_PLAIN_MAX; i++, off = 0) {
		size_t m = iov[i].iov_len - off;

		if (m > TLS_PLAIN_MAX - got)
			m = TLS_PLAIN_MAX - got;
		memcpy(stage + got, (const char *)iov[i].iov_base + off, m);
		got += m;
	}
	*p = stage;
	return got;
}

/* The retry of a send whose records we hold: they go out, and then it
 * returns their count (-1 with EAGAIN while the socket is still full).
 * A whole transport call (bio_call_end included). */
static ssize_t receipt_redeem(struct transport *t)
{
	struct tls_bio *b = t->tls_bio;
	ssize_t n = (ssize_t)b->receipt_n;
	int r = out_flush(b);

	t->want_read = t->want_write = false;
	if (r < 0) {
		errno = -r;
		n = -1;
	} else {
		b->receipt_n = 0;
	}
	bio_call_end(t); /* still queued: wait for writable */
	return n;
}

/* Encrypt the bytes of IOV into our queue and send it with one send().
 * MORE: further bytes follow at once, the records may wait for them. */
static ssize_t bio_sendv(struct transport *t, const struct iovec *iov, int iovcnt, bool more)
{
	static __thread unsigned char stage[TLS_PLAIN_MAX];
	struct tls_bio *b = t->tls_bio;
	SSL *ssl = t->tls;
	size_t total = 0, done = 0, off = 0;
	ssize_t ret = 0;
	int i = 0, r, saved = 0;
	bool failed = false;

	t->want_read = t->want_write = false;
	for (int k = 0; k < iovcnt; k++)
		total += iov[k].iov_len;
	if (b->receipt_n) {
		if (b->receipt_base && iovcnt && iov[0].iov_base == b->receipt_base &&
		    total >= b->receipt_n)
			return receipt_redeem(t);
		/* never retried (a best-effort send): its records go first */
		b->receipt_n = 0;
	}
	if (out_room(b) < TLS_REC_MAX) {
		r = out_flush(b);
		if (r < 0 && (r != -EAGAIN || out_room(b) < TLS_REC_MAX)) {
			errno = -r;
			ret = -1;
			goto out;
		}
	}
	while (done < total && out_room(b) >= TLS_REC_MAX) {
		const void *p;
		size_t n, w = 0;

		if (off == iov[i].iov_len) {
			i++;
			off = 0;
			continue;
		}
		n = next_record(iov, iovcnt, i, off, stage, &p);
		r = SSL_write_ex(ssl, p, n, &w);
		if (r != 1) {
			ret = ssl_fail(t, ssl, r);
			if (ret == 0)
				errno = EPIPE;
			saved = errno;
			failed = true;
			break;
		}
		done += w;
		while (w) {
			size_t m = iov[i].iov_len - off < w ? iov[i].iov_len - off : w;
			off += m;
			w -= m;
			if (off == iov[i].iov_len && i + 1 < iovcnt) {
				i++;
				off = 0;
			}
		}
	}
	r = 0;
	if (out_pending(b) && !(more && done == total && !failed))
		r = out_flush(b);
	if (r < 0 && r != -EAGAIN) {
		errno = -r;
		ret = -1;
	} else if (r == -EAGAIN) {
		/* not all out: the caller waits for writable and retries */
		if (done) {
			b->receipt_base = iov[0].iov_base;
			b->receipt_fd = -1;
			b->receipt_n = done;
		}
		t->want_read = false;
		errno = EAGAIN;
		ret = -1;
	} else if (done) {
		t->want_read = t->want_write = false;
		ret = (ssize_t)done;
	} else if (failed) {
		errno = saved;
		ret = -1;
		if (errno == EAGAIN)
			t->want_write = false; /* a send waits for writable anyway */
	}
out:
	bio_call_end(t);
	if (ret >= 0)
		t->want_write = false; /* records kept for MORE: sent by the next call */
	return ret;
}

static ssize_t tls_send(struct transport *t, const void *buf, size_t len, bool more)
{
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };

	if (t->tls_bio)
		return bio_sendv(t, &iov, 1, more);
	return ssl_send(t, buf, len);
}

static ssize_t tls_sendv(struct transport *t, const struct iovec *iov, int iovcnt)
{
	ssize_t total = 0;

	if (t->tls_bio)
		return bio_sendv(t, iov, iovcnt, false);
	for (int i = 0; i < iovcnt; i++) {
		ssize_t n = ssl_send(t, iov[i].iov_base, iov[i].iov_len);
		if (n < 0)
			return total ? total : n;
		total += n;
		if ((size_t)n < iov[i].iov_len)
			break;
	}
	return total;
}

/* A file body through our BIO: the retry of a send whose records we hold
 * (same file, same offset) sends them without reading the file again. */
static ssize_t bio_send_file(struct transport *t, int fd, off_t off, size_t len)
{
	struct tls_bio *b = t->tls_bio;
	ssize_t n;

	if (b->receipt_n && !b->receipt_base && b->receipt_fd == fd && b->receipt_off == off &&
	    len >= b->receipt_n)
		return receipt_redeem(t);
	n = transport_copy_file(t, fd, off, len, TLS_BIO_COPY_CHUNK, tls_send);
	if (n < 0 && b->receipt_n && b->receipt_base) {
		/* the copy buffer is per thread: key the receipt by the file */
		b->receipt_base = NULL;
		b->receipt_fd = fd;
		b->receipt_off = off;
	}
	return n;
}

static ssize_t tls_send_file(struct transport *t, int fd, off_t off, size_t len, bool copy)
{
	if (t->ktls_send && !copy) {
		ossl_ssize_t n;

		t->want_read = t->want_write = false;
		n = SSL_sendfile(t->tls, fd, off, len > INT_MAX ? INT_MAX : len, 0);
		if (n >= 0)
			return n;
		return ssl_fail(t, t->tls, (int)n);
	}
	if (t->tls_bio)
		return bio_send_file(t, fd, off, len);
	return transport_copy_file(t, fd, off, len, TLS_COPY_CHUNK, tls_send);
}

static void tls_shutdown_write(struct transport *t)
{
	/* close_notify (best effort, never waits), then FIN */
	if (t->tls && SSL_is_init_finished(t->tls))
		(void)SSL_shutdown(t->tls);
	ERR_clear_error();
	if (t->tls_bio) {
		struct tls_bio *b = t->tls_bio;

		/* what the socket does not take now can never follow the FIN */
		if (out_flush(b) < 0)
			b->woff = b->wlen = 0;
		b->receipt_n = 0;
		bio_call_end(t);
	}
	shutdown(t->fd, SHUT_WR);
}

static void tls_close(struct transport *t)
{
	/* what a best-effort send left queued (a 408), if the socket takes it */
	if (t->tls_bio)
		(void)out_flush(t->tls_bio);
	SSL_free(t->tls); /* and our BIO */
	t->tls = NULL;
	t->tls_bio = NULL;
	if (t->fd >= 0)
		close(t->fd);
}

/* The connection waits for the socket: OpenSSL's record buffers (about
 * 17 KiB each way) go back until it runs again.  SSL_free_buffers keeps
 * them while a record is half read or half written.  (Not
 * SSL_MODE_RELEASE_BUFFERS: that frees and mallocs the write buffer at
 * every SSL_write, dozens of times in one run of an HTTP/2 connection.) */
static void tls_park(struct transport *t)
{
	if (t->tls)
		(void)SSL_free_buffers(t->tls);
}

static const struct transport_ops tls_ops = {
	.recv = tls_recv,
	.send = tls_send,
	.sendv = tls_sendv,
	.send_file = tls_send_file,
	.shutdown_write = tls_shutdown_write,
	.close = tls_close,
	.park = tls_park,
};

int tls_transport_init(struct transport *t, int fd, struct tls_ctx *ctx)
{
	*t = (struct transport){ .ops = &tls_ops, .fd = fd, .tls_ctx = ctx };
	return 0;
}

/* Before OpenSSL sees the connection: is it TLS at all, and is the
 * ClientHello's first record complete?  Until it is, the connection holds
 * no SSL object and no 16 KiB record buffer, so a client that stalls in
 * its hello (TLS slowloris) costs what a slow cleartext client costs.
 * One MSG_PEEK of up to a whole record answers both. */
static enum tls_hs before_ssl(struct transport *t, const char **why)
{
	static __thread unsigned char b[SSL3_RT_HEADER_LENGTH + TLS_PLAIN_MAX];
	ssize_t n = recv(t->fd, b, sizeof b, MSG_PEEK);
	const struct tls_ctx *ctx = t->tls_ctx;
	size_t need;
	SSL *ssl;

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return TLS_HS_WANT_READ;
	if (n <= 0) {
		*why = n == 0 ? "closed before a ClientHello" : "receive error";
		return TLS_HS_FAIL;
	}
	switch (tls_sniff(b, (size_t)n)) {
	case TLS_SNIFF_NEED_MORE:
		return TLS_HS_WANT_READ;
	case TLS_SNIFF_HTTP:
		transport_plain_init(t, t->fd);
		return TLS_HS_PLAIN;
	case TLS_SNIFF_OTHER:
		*why = "not a TLS ClientHello";
		return TLS_HS_FAIL;
	case TLS_SNIFF_TLS:
	default:
		break;
	}
	if (n < 5)
		return TLS_HS_WANT_READ;
	/* RFC 8446 section 5.1: the record's length, at most 2^14 (OpenSSL
	 * judges anything odd itself) */
	need = 5 + ((size_t)b[3] << 8 | b[4]);
	if (need <= sizeof b && (size_t)n < need)
		return TLS_HS_WANT_READ;
	ssl = SSL_new(ctx->certs[0].ctx);
	if (!ssl || (ktls_ok ? SSL_set_fd(ssl, t->fd) != 1 : bio_attach(t, ssl) < 0)) {
		SSL_free(ssl);
		ERR_clear_error();
		*why = "out of memory";
		return TLS_HS_FAIL;
	}
	SSL_set_accept_state(ssl);
	t->tls = ssl;
	return TLS_HS_WANT_READ; /* not a wait: the caller goes on at once */
}

/* SSL_do_handshake, and with our BIO the flight it queued sent (a failed
 * handshake's alert best effort).  The last flight (TLS 1.3 tickets) waits
 * for the first response, or for the next read that finds nothing. */
static int do_handshake_step(struct transport *t, SSL *ssl, int *err)
{
	struct tls_bio *b = t->tls_bio;
	int r = 0;

	for (int tries = 0; tries < 4; tries++) {
		int f;

		ERR_clear_error();
		r = SSL_do_handshake(ssl);
		if (r == 1 || !b)
			break;
		*err = SSL_get_error(ssl, r);
		f = out_flush(b);
		if (*err != SSL_ERROR_WANT_READ && *err != SSL_ERROR_WANT_WRITE)
			break;
		if (f == -EAGAIN) {
			*err = SSL_ERROR_WANT_WRITE;
			break;
		}
		if (f < 0) {
			errno = -f;
			*err = SSL_ERROR_SYSCALL;
			break;
		}
		if (*err == SSL_ERROR_WANT_READ)
			break; /* the flight is out: wait for the client */
	}
	if (r != 1 && !b)
		*err = SSL_get_error(ssl, r);
	if (b)
		bio_call_end(t);
	return r;
}

enum tls_hs tls_handshake(struct transport *t, const char **why)
{
	SSL *ssl = t->tls;
	int r, err = SSL_ERROR_NONE;

	*why = NULL;
	if (!ssl) {
		enum tls_hs r0 = before_ssl(t, why);
		if (!t->tls)
			return r0;
		ssl = t->tls;
	}
	r = do_handshake_step(t, ssl, &err);
	if (r == 1) {
		__atomic_add_fetch(&handshakes, 1, __ATOMIC_RELAXED);
		metrics_tls_handshake();
		t->ktls_send = BIO_get_ktls_send(SSL_get_wbio(ssl)) > 0;
		t->want_write = false; /* the tickets wait for the first answer */
		return TLS_HS_DONE;
	}
	switch (err) {
	case SSL_ERROR_WANT_READ:
		return TLS_HS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_HS_WANT_WRITE;
	case SSL_ERROR_SYSCALL:
		*why = "connection lost during the handshake";
		break;
	default: {
		unsigned long e = ERR_peek_error();
		*why = e ? ERR_reason_error_string(e) : "handshake failed";
		if (!*why)
			*why = "handshake failed";
		break;
	}
	}
	ERR_clear_error();
	return TLS_HS_FAIL;
}

void tls_describe(const struct transport *t, char *out)
{
	const SSL *ssl = t->tls;

	snprintf(out, TLS_DESC_MAX, "%s/%s", SSL_get_version(ssl),
		 SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
}

const char *tls_server_name(const struct transport *t)
{
	return SSL_get_servername(t->tls, TLSEXT_NAMETYPE_host_name);
}
