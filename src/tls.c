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
	ktls_ok = probe_ktls();
	return 0;
}

void tls_global_free(void)
{
	OPENSSL_cleanse(keys, sizeof keys);
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
 * decrypt finds the key by name (0: unknown, full handshake; 2: an old key,
 * accept and issue a fresh ticket). */
static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
		     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct ticket_key k;
	OSSL_PARAM params[3];
	int ret = 1, i = 0;

	(void)ssl;
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
		if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1)
			ret = -1;
	} else {
		if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1)
			ret = -1;
		else if (i > 0)
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
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
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
	size_t got = 0;

	t->want_read = t->want_write = false;
	while (got < len) {
		size_t n = 0;
		int r = SSL_read_ex(ssl, (char *)buf + got, len - got, &n);
		ssize_t f;

		if (r == 1) {
			got += n;
			continue;
		}
		f = ssl_fail(t, ssl, r);
		if (got && (f < 0 && errno == EAGAIN)) {
			t->want_read = false; /* we return data: not a wait */
			t->want_write = false;
			break;
		}
		if (got)
			break; /* the end or the error comes with the next call */
		if (f < 0 && errno == EAGAIN)
			t->want_read = false; /* a recv waits for readable anyway */
		return f;
	}
	return (ssize_t)got;
}

static ssize_t tls_send(struct transport *t, const void *buf, size_t len, bool more)
{
	SSL *ssl = t->tls;
	size_t done = 0;

	(void)more;
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

static ssize_t tls_sendv(struct transport *t, const struct iovec *iov, int iovcnt)
{
	ssize_t total = 0;

	for (int i = 0; i < iovcnt; i++) {
		ssize_t n = tls_send(t, iov[i].iov_base, iov[i].iov_len, false);
		if (n < 0)
			return total ? total : n;
		total += n;
		if ((size_t)n < iov[i].iov_len)
			break;
	}
	return total;
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
	return transport_copy_file(t, fd, off, len, TLS_COPY_CHUNK, tls_send);
}

static void tls_shutdown_write(struct transport *t)
{
	/* close_notify (best effort, never waits), then FIN */
	if (t->tls && SSL_is_init_finished(t->tls))
		(void)SSL_shutdown(t->tls);
	ERR_clear_error();
	shutdown(t->fd, SHUT_WR);
}

static void tls_close(struct transport *t)
{
	SSL_free(t->tls);
	t->tls = NULL;
	if (t->fd >= 0)
		close(t->fd);
}

static const struct transport_ops tls_ops = {
	.recv = tls_recv,
	.send = tls_send,
	.sendv = tls_sendv,
	.send_file = tls_send_file,
	.shutdown_write = tls_shutdown_write,
	.close = tls_close,
};

int tls_transport_init(struct transport *t, int fd, struct tls_ctx *ctx)
{
	*t = (struct transport){ .ops = &tls_ops, .fd = fd, .tls_ctx = ctx };
	return 0;
}

/* Before OpenSSL sees the connection: is it TLS at all, and is the
 * ClientHello's first record complete?  Until it is, the connection holds
 * no SSL object and no 16 KiB record buffer, so a client that stalls in
 * its hello (TLS slowloris) costs what a slow cleartext client costs. */
static enum tls_hs before_ssl(struct transport *t, const char **why)
{
	unsigned char b[5];
	ssize_t n = recv(t->fd, b, sizeof b, MSG_PEEK);
	const struct tls_ctx *ctx = t->tls_ctx;
	size_t need;
	int avail = 0;
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
	if (need <= 5 + 16384 && (ioctl(t->fd, FIONREAD, &avail) < 0 || (size_t)avail < need))
		return TLS_HS_WANT_READ;
	ssl = SSL_new(ctx->certs[0].ctx);
	if (!ssl || SSL_set_fd(ssl, t->fd) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		*why = "out of memory";
		return TLS_HS_FAIL;
	}
	SSL_set_accept_state(ssl);
	t->tls = ssl;
	return TLS_HS_WANT_READ; /* not a wait: the caller goes on at once */
}

enum tls_hs tls_handshake(struct transport *t, const char **why)
{
	SSL *ssl = t->tls;
	int r;

	*why = NULL;
	if (!ssl) {
		enum tls_hs r0 = before_ssl(t, why);
		if (!t->tls)
			return r0;
		ssl = t->tls;
	}
	ERR_clear_error();
	r = SSL_do_handshake(ssl);
	if (r == 1) {
		__atomic_add_fetch(&handshakes, 1, __ATOMIC_RELAXED);
		metrics_tls_handshake();
		t->ktls_send = BIO_get_ktls_send(SSL_get_wbio(ssl)) > 0;
		return TLS_HS_DONE;
	}
	switch (SSL_get_error(ssl, r)) {
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
