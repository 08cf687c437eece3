/* test_tls_transport.c - the TLS transport (tls.c) over a socket pair: a
 * file body whose send would block is retried by another thread, as when
 * the pool hands the connection to another worker, and the client still
 * gets every byte once and in order. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls.h"
#include "transport.h"

#define FILE_LEN ((size_t)(1u << 20) + 4321)

static char dir[] = "/tmp/mthttpd-tls-transport-XXXXXX";
static char cert_path[128], key_path[128], file_path[128];
static unsigned char *data;

/* A self-signed P-256 certificate for "a.test", written as PEM files. */
static void make_cert(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *f;

	cr_assert_not_null(key);
	cr_assert_not_null(x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 30);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"a.test", -1,
				   -1, 0);
	X509_set_issuer_name(x, name);
	cr_assert(X509_sign(x, key, EVP_sha256()) > 0);
	f = fopen(cert_path, "w");
	cr_assert_not_null(f);
	cr_assert(PEM_write_X509(f, x));
	fclose(f);
	f = fopen(key_path, "w");
	cr_assert_not_null(f);
	cr_assert(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void setup(void)
{
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(cert_path, sizeof cert_path, "%s/cert.pem", dir);
	snprintf(key_path, sizeof key_path, "%s/key.pem", dir);
	snprintf(file_path, sizeof file_path, "%s/body.bin", dir);
	make_cert();
	data = malloc(FILE_LEN);
	cr_assert_not_null(data);
	for (size_t i = 0; i < FILE_LEN; i++)
		data[i] = (unsigned char)((i * 2654435761u) >> 11);
	f = fopen(file_path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, FILE_LEN, f), FILE_LEN);
	fclose(f);
}

static void teardown(void)
{
	unlink(cert_path);
	unlink(key_path);
	unlink(file_path);
	rmdir(dir);
	free(data);
}

/* The client: a blocking OpenSSL connection that reads only once told to,
 * then everything up to close_notify. */
struct client {
	int fd;
	int go[2]; /* a byte on go[1]: start reading */
	unsigned char *got;
	size_t len;
	bool handshake_ok;
};

static void *client_run(void *arg)
{
	struct client *cl = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	char b;

	if (!ssl)
		goto out;
	SSL_set_fd(ssl, cl->fd);
	SSL_set_tlsext_host_name(ssl, "a.test");
	if (SSL_connect(ssl) != 1)
		goto out;
	cl->handshake_ok = true;
	if (read(cl->go[0], &b, 1) != 1)
		goto out;
	/* at most twice the file: a duplicated record shows as extra bytes */
	for (;;) {
		size_t n = 0;

		if (cl->len == 2 * FILE_LEN ||
		    SSL_read_ex(ssl, cl->got + cl->len, 2 * FILE_LEN - cl->len, &n) != 1)
			break;
		cl->len += n;
	}
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

static void wait_fd(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };

	cr_assert_eq(poll(&p, 1, 10000), 1, "the socket became ready within 10 s");
}

/* The server's side of a file send: send_file from OFF until all is out. */
struct sender {
	struct transport *t;
	int file;
	off_t off;
	bool failed;
};

static void *send_rest(void *arg)
{
	struct sender *s = arg;

	while ((size_t)s->off < FILE_LEN) {
		ssize_t n = transport_send_file(s->t, s->file, s->off, FILE_LEN - (size_t)s->off,
						true);

		if (n > 0) {
			s->off += n;
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = s->t->fd, .events = POLLOUT };

			if (poll(&p, 1, 10000) == 1)
				continue;
		}
		s->failed = true;
		break;
	}
	tls_thread_exit(); /* as a worker does: its spare record buffers */
	return NULL;
}

TestSuite(tls_transport, .init = setup, .fini = teardown, .timeout = 60);

Test(tls_transport, a_file_send_retried_by_another_thread_sends_each_byte_once)
{
	struct config_tls_cert cc = { .certificate = cert_path, .key = key_path };
	struct config_tls cfg = { .enabled = true,
				  .certs = &cc,
				  .n_certs = 1,
				  .min_version = CONFIG_TLS_1_2,
				  .h2_max_concurrent_streams = 100 };
	struct client cl = { 0 };
	struct sender s = { 0 };
	struct tls_ctx *ctx = NULL;
	struct transport t;
	char err[512], warn[512];
	pthread_t ct, st;
	const char *why = NULL;
	int sv[2], small = 8192;
	enum tls_hs hs;
	bool blocked = false;

	cr_assert_eq(tls_global_init(err, sizeof err), 0, "%s", err);
	cr_assert_eq(tls_ctx_new(&cfg, "test.conf", &ctx, err, sizeof err, warn, sizeof warn), 0,
		     "%s", err);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* small socket buffers: the send blocks long before the file is out */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	cr_assert_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	cl.fd = sv[1];
	cr_assert_eq(pipe(cl.go), 0);
	cl.got = malloc(2 * FILE_LEN);
	cr_assert_not_null(cl.got);
	cr_assert_eq(pthread_create(&ct, NULL, client_run, &cl), 0);

	tls_transport_init(&t, sv[0], ctx);
	for (int i = 0; i < 1000; i++) {
		t.rd_drained = false; /* a new run of the connection (conn_run) */
		hs = tls_handshake(&t, &why);
		if (hs == TLS_HS_WANT_READ)
			wait_fd(sv[0], POLLIN);
		else if (hs == TLS_HS_WANT_WRITE)
			wait_fd(sv[0], POLLOUT);
		else
			break;
	}
	cr_assert_eq(hs, TLS_HS_DONE, "handshake: %s", why ? why : "");

	/* this thread sends until the socket is full ... */
	s.t = &t;
	s.file = open(file_path, O_RDONLY);
	cr_assert_geq(s.file, 0);
	for (int i = 0; i < 1000 && !blocked; i++) {
		ssize_t n = transport_send_file(&t, s.file, s.off, FILE_LEN - (size_t)s.off, true);

		if (n > 0)
			s.off += n;
		else
			blocked = n < 0 && errno == EAGAIN;
		cr_assert(n > 0 || blocked, "send_file: %zd (%s)", n, strerror(errno));
	}
	cr_assert(blocked, "a full socket blocked the send");
	cr_assert_lt((size_t)s.off, FILE_LEN);

	/* ... and another one retries and sends the rest while the client
	 * reads: its copy buffer is another than this thread's */
	cr_assert_eq(write(cl.go[1], "g", 1), 1);
	cr_assert_eq(pthread_create(&st, NULL, send_rest, &s), 0);
	pthread_join(st, NULL);
	cr_assert_not(s.failed, "the rest of the file went out");
	transport_shutdown_write(&t); /* close_notify: the client stops reading */
	pthread_join(ct, NULL);

	cr_assert(cl.handshake_ok);
	cr_assert_eq(cl.len, FILE_LEN, "the client got %zu bytes of %zu", cl.len, FILE_LEN);
	cr_assert(memcmp(cl.got, data, FILE_LEN) == 0, "every byte once and in order");

	transport_close(&t);
	close(sv[1]);
	close(cl.go[0]);
	close(cl.go[1]);
	close(s.file);
	free(cl.got);
	tls_ctx_free(ctx);
	tls_thread_exit();
	tls_global_free();
}
