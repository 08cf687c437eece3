/* test_tls.c - HTTPS against the real daemon: handshakes and versions, SNI,
 * Host/SNI agreement, resumption, certificate reload under an open
 * connection, TLS slowloris, TLS/plain mix-ups on both ports, uploads,
 * ranges and large files over TLS, redirects, and real clients (curl,
 * wget, Python's ssl).  The daemon gets an "https" socket the way
 * mthttpd-https.socket passes it; a throw-away CA and certificates are made
 * at test time (tls-certs.sh), nothing that expires is committed.  OpenSSL
 * is only the test's client here: the test links none of the daemon. */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct server srv;
static struct server_opts opts;
static char certs[256]; /* the CA and certificates, shared by the run */
static char extra[4096];
static unsigned header_timeout = 3; /* short: the tests wait for it */
static const char *top_extra = "";  /* more lines outside the tls group */
/* sent on the socket before the ClientHello by the next tls_open() (a
 * PROXY header, as HAProxy's send-proxy-v2 writes it) */
static const void *tls_prefix;
static size_t tls_prefix_len;

/* ------------------------------------------------------------------------
 * Certificates and the daemon
 */

/* Made once per test run (the runner's pid names the directory; a test
 * process that finds it complete uses it) and removed after all tests. */
static void make_certs(void)
{
	harness_certs("tls", certs, sizeof certs);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	harness_certs_remove("tls");
}

static const char *cert(const char *name)
{
	return fmt("%s/%s", certs, name);
}

/* The tls group with certificate pairs NAMES ("a", "b", ...) and MORE keys. */
static const char *tls_group(const char *names, const char *more)
{
	char list[1024] = "";
	char buf[64];
	const char *p = names;

	while (*p) {
		size_t n = strcspn(p, ",");
		snprintf(buf, sizeof buf, "%.*s", (int)n, p);
		snprintf(list + strlen(list), sizeof list - strlen(list),
			 "%s{ certificate = \"%s/%s.pem\"; key = \"%s/%s.key\"; }",
			 list[0] ? ", " : "", certs, buf, certs, buf);
		p += n + (p[n] == ',');
	}
	snprintf(extra, sizeof extra,
		 "allowed_hosts = [\"localhost\", \"127.0.0.1\", \"a.test\", \"b.test\", "
		 "\"x.wild.test\", \"other.test\"];\n"
		 "header_timeout = %u;\n%s"
		 "tls = { certificates = ( %s ); %s };\n",
		 header_timeout, top_extra, list, more ? more : "");
	return extra;
}

static void start_tls(const char *names, const char *more)
{
	make_certs();
	memset(&opts, 0, sizeof opts);
	opts.https_socket = true;
	opts.own_docroot = true;
	opts.extra = tls_group(names, more);
	server_start(&srv, &opts);
	/* a small site of our own */
	{
		char path[400];
		FILE *f;
		snprintf(path, sizeof path, "%s/index.html", srv.docroot);
		f = fopen(path, "w");
		cr_assert_not_null(f);
		fputs("<html><body>hello over TLS</body></html>\n", f);
		fclose(f);
		snprintf(path, sizeof path, "%s/digits.txt", srv.docroot);
		f = fopen(path, "w");
		cr_assert_not_null(f);
		for (int i = 0; i < 1000; i++)
			fputc('0' + i % 10, f);
		fclose(f);
	}
}

static void start_ab(void)
{
	start_tls("a,b", "hsts_max_age = 600;");
}

static void stop(void)
{
	server_stop(&srv);
}

static bool log_soon(const char *needle, int ms)
{
	for (int i = 0; i < ms / 20 && !server_log_contains(&srv, needle); i++)
		usleep(20000);
	return server_log_contains(&srv, needle);
}

static void reload_with(const char *names, const char *more)
{
	opts.extra = tls_group(names, more);
	server_write_config(&srv, &opts, srv.port);
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert_eq(server_wait_notify(&srv, "RELOADING=1", 5000), 0);
	cr_assert_eq(server_wait_notify(&srv, "READY=1", 5000), 0);
}

/* ------------------------------------------------------------------------
 * A small TLS client
 */

struct tls {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

/* Connect to PORT and handshake with SNI (NULL: none) and protocol versions
 * MIN..MAX (0: library default), resuming SESS if given.  Returns 0 or -1
 * (the handshake failed; the client is still to be closed). */
static int tls_open(struct tls *t, unsigned port, const char *sni, int min, int max,
		    SSL_SESSION *sess)
{
	memset(t, 0, sizeof *t);
	t->fd = http_connect(port);
	if (tls_prefix) {
		send_all(t->fd, tls_prefix, tls_prefix_len);
		tls_prefix = NULL;
	}
	t->ctx = SSL_CTX_new(TLS_client_method());
	cr_assert_not_null(t->ctx);
	/* let the client offer anything: refusing is the server's job here */
	SSL_CTX_set_security_level(t->ctx, 0);
	SSL_CTX_set_cipher_list(t->ctx, "ALL:@SECLEVEL=0");
	if (min)
		SSL_CTX_set_min_proto_version(t->ctx, min);
	if (max)
		SSL_CTX_set_max_proto_version(t->ctx, max);
	SSL_CTX_load_verify_locations(t->ctx, cert("ca.pem"), NULL);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	t->ssl = SSL_new(t->ctx);
	cr_assert_not_null(t->ssl);
	SSL_set_fd(t->ssl, t->fd);
	if (sni)
		SSL_set_tlsext_host_name(t->ssl, sni);
	if (sess)
		SSL_set_session(t->ssl, sess);
	if (SSL_connect(t->ssl) != 1) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

static void tls_close(struct tls *t)
{
	if (t->ssl) {
		if (SSL_is_init_finished(t->ssl))
			SSL_shutdown(t->ssl); /* keeps the session resumable */
		SSL_free(t->ssl);
	}
	if (t->ctx)
		SSL_CTX_free(t->ctx);
	if (t->fd >= 0)
		close(t->fd);
	memset(t, 0, sizeof *t);
	t->fd = -1;
}

static void tls_write(struct tls *t, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t n = 0;
		cr_assert_eq(SSL_write_ex(t->ssl, (const char *)buf + done, len - done, &n), 1,
			     "SSL_write failed");
		done += n;
	}
}

static void tls_puts(struct tls *t, const char *s)
{
	tls_write(t, s, strlen(s));
}

/* One response, Content-Length framed (HEAD: head only).  0 or -1. */
static int tls_read(struct tls *t, struct http_resp *r, bool head)
{
	size_t len = 0, need = 0, have = 0;
	char cl[32], *end = NULL;

	memset(r, 0, sizeof *r);
	/* byte by byte up to the end of the head: the body stays unread */
	while (!end) {
		size_t n = 0;
		if (len >= sizeof r->head - 1 || SSL_read_ex(t->ssl, r->head + len, 1, &n) != 1)
			return -1;
		len += n;
		r->head[len] = '\0';
		end = len >= 4 ? strstr(r->head + len - 4, "\r\n\r\n") : NULL;
	}
	if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1)
		return -1;
	if (r->status == 100)
		return tls_read(t, r, head);
	if (!head && r->status != 304 && http_header(r, "Content-Length", cl, sizeof cl))
		need = strtoull(cl, NULL, 10);
	r->body = malloc(need + 1);
	cr_assert_not_null(r->body);
	while (have < need) {
		size_t n = 0;
		if (SSL_read_ex(t->ssl, r->body + have, need - have, &n) != 1)
			break;
		have += n;
	}
	r->body[have] = '\0';
	r->body_len = have;
	return have == need ? 0 : -1;
}

/* GET PATH with HOST over T; returns the status (-1: no response). */
static int tls_get(struct tls *t, const char *path, const char *host, struct http_resp *r)
{
	tls_puts(t, fmt("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host));
	return tls_read(t, r, false) == 0 ? r->status : -1;
}

/* The common name of the certificate the server showed. */
static const char *peer_cn(struct tls *t)
{
	static char cn[128];
	X509 *x = SSL_get1_peer_certificate(t->ssl);

	cn[0] = '\0';
	if (x) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
		X509_free(x);
	}
	return cn;
}

/* Is the server's certificate the one in FILE? */
static bool peer_is(struct tls *t, const char *file)
{
	X509 *x = SSL_get1_peer_certificate(t->ssl), *want;
	FILE *f = fopen(cert(file), "r");
	bool same;

	cr_assert_not_null(f);
	want = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	same = x && want && X509_cmp(x, want) == 0;
	X509_free(x);
	X509_free(want);
	return same;
}

static const char *host_a(void)
{
	return fmt("a.test:%u", srv.tls_port);
}

/* ------------------------------------------------------------------------
 * Handshakes and versions
 */

TestSuite(tls, .init = start_ab, .fini = stop, .timeout = 60);
/* tests that start the daemon with a configuration of their own */
TestSuite(tls_conf, .fini = stop, .timeout = 60);

Test(tls, tls13_get_is_served_with_hsts)
{
	struct tls t;
	struct http_resp r;
	char v[64];

	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
	cr_assert_str_eq(SSL_get_version(t.ssl), "TLSv1.3");
	cr_assert_eq(tls_get(&t, "/", host_a(), &r), 200);
	cr_assert_str_eq(r.body, "<html><body>hello over TLS</body></html>\n");
	cr_assert(http_header(&r, "Strict-Transport-Security", v, sizeof v));
	cr_assert_str_eq(v, "max-age=600");
	http_resp_free(&r);
	/* keep-alive: a second request on the same session */
	cr_assert_eq(tls_get(&t, "/digits.txt", host_a(), &r), 200);
	cr_assert_eq(r.body_len, 1000);
	http_resp_free(&r);
	tls_close(&t);
	/* no HSTS over cleartext (RFC 6797 section 7.2) */
	cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_not(http_header(&r, "Strict-Transport-Security", v, sizeof v));
	http_resp_free(&r);
	cr_assert(server_log_contains(&srv, "(TLS)"), "the https socket is logged as TLS");
}

Test(tls, tls12_uses_ecdhe_aead_suites)
{
	struct tls t;
	struct http_resp r;
	const char *cipher;

	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", TLS1_2_VERSION, TLS1_2_VERSION, NULL),
		     0);
	cr_assert_str_eq(SSL_get_version(t.ssl), "TLSv1.2");
	cipher = SSL_get_cipher_name(t.ssl);
	cr_assert(strncmp(cipher, "ECDHE-", 6) == 0 &&
			  (strstr(cipher, "GCM") || strstr(cipher, "CHACHA20")),
		  "intermediate profile, got %s", cipher);
	cr_assert_eq(tls_get(&t, "/", host_a(), &r), 200);
	http_resp_free(&r);
	tls_close(&t);
}

Test(tls, tls12_with_a_cbc_only_client_is_refused)
{
	struct tls t;
	int fd;

	/* a client that offers only CBC suites finds nothing it can use */
	memset(&t, 0, sizeof t);
	fd = http_connect(srv.tls_port);
	t.fd = fd;
	t.ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_security_level(t.ctx, 0);
	SSL_CTX_set_max_proto_version(t.ctx, TLS1_2_VERSION);
	SSL_CTX_set_cipher_list(t.ctx, "ECDHE-ECDSA-AES128-SHA:AES128-SHA:@SECLEVEL=0");
	t.ssl = SSL_new(t.ctx);
	SSL_set_fd(t.ssl, fd);
	cr_assert_neq(SSL_connect(t.ssl), 1);
	ERR_clear_error();
	tls_close(&t);
}

Test(tls, tls10_and_tls11_are_refused)
{
	int versions[] = { TLS1_VERSION, TLS1_1_VERSION };

	for (size_t i = 0; i < 2; i++) {
		struct tls t;
		cr_assert_neq(tls_open(&t, srv.tls_port, "a.test", versions[i], versions[i], NULL),
			      0, "version %#x must be refused", versions[i]);
		tls_close(&t);
	}
	cr_assert(log_soon("TLS handshake failed", 2000), "logged at debug");
	/* the server is unharmed */
	{
		struct tls t;
		struct http_resp r;
		cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
		cr_assert_eq(tls_get(&t, "/", host_a(), &r), 200);
		http_resp_free(&r);
		tls_close(&t);
	}
}

Test(tls_conf, min_version_tls13_refuses_tls12)
{
	struct tls t;
	struct http_resp r;

	start_tls("a", "min_version = \"TLSv1.3\";");
	cr_assert_neq(tls_open(&t, srv.tls_port, "a.test", TLS1_2_VERSION, TLS1_2_VERSION, NULL),
		      0);
	tls_close(&t);
	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
	cr_assert_eq(tls_get(&t, "/", host_a(), &r), 200);
	http_resp_free(&r);
	tls_close(&t);
}

/* ------------------------------------------------------------------------
 * SNI and Host
 */

Test(tls, sni_picks_the_certificate)
{
	static const struct {
		const char *sni, *cn;
	} cases[] = {
		{ "a.test", "a.test" },	     { "b.test", "b.test" },
		{ "B.TEST", "b.test" },	     { "x.wild.test", "b.test" },
		{ "unknown.test", "a.test" }, /* no match: the first (default) */
		{ NULL, "a.test" },	     /* no SNI: the default */
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tls t;

		cr_assert_eq(tls_open(&t, srv.tls_port, cases[i].sni, 0, 0, NULL), 0);
		cr_assert_str_eq(peer_cn(&t), cases[i].cn, "SNI %s",
				 cases[i].sni ? cases[i].sni : "(none)");
		tls_close(&t);
	}
}

Test(tls, host_must_agree_with_sni)
{
	struct tls t;
	struct http_resp r;

	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
	cr_assert_eq(tls_get(&t, "/", fmt("b.test:%u", srv.tls_port), &r), 421);
	http_resp_free(&r);
	tls_close(&t);

	/* case and a trailing dot do not matter; the port is the Host's business */
	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
	cr_assert_eq(tls_get(&t, "/", fmt("A.Test.:%u", srv.tls_port), &r), 200);
	http_resp_free(&r);
	tls_close(&t);

	/* without SNI the Host decides alone */
	cr_assert_eq(tls_open(&t, srv.tls_port, NULL, 0, 0, NULL), 0);
	cr_assert_eq(tls_get(&t, "/", fmt("b.test:%u", srv.tls_port), &r), 200);
	http_resp_free(&r);
	tls_close(&t);

	/* a Host without a port matches a bare allowed_hosts entry */
	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
	cr_assert_eq(tls_get(&t, "/", "a.test", &r), 200);
	http_resp_free(&r);
	tls_close(&t);
}

/* ------------------------------------------------------------------------
 * Resumption and reload
 */

/* openssl s_client, as the issue asks: "Reused" on the second connection. */
static bool s_client_reused(const char *sess, bool out)
{
	char cmd[1200], line[512];
	bool reused = false;
	FILE *p;

	snprintf(cmd, sizeof cmd,
		 "printf 'GET / HTTP/1.1\\r\\nHost: a.test:%u\\r\\nConnection: close\\r\\n\\r\\n' | "
		 "timeout 10 openssl s_client -connect 127.0.0.1:%u -servername a.test "
		 "-CAfile '%s' -ign_eof %s '%s' 2>&1",
		 srv.tls_port, srv.tls_port, cert("ca.pem"), out ? "-sess_out" : "-sess_in", sess);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof line, p))
		if (strncmp(line, "Reused,", 7) == 0)
			reused = true;
	pclose(p);
	return reused;
}

Test(tls, sessions_resume_also_across_a_reload)
{
	const char *sess = fmt("%s/sess.pem", srv.dir);
	struct tls t;
	struct http_resp r;
	SSL_SESSION *s;

	cr_assert_not(s_client_reused(sess, true), "the first connection is a full handshake");
	cr_assert(s_client_reused(sess, false), "the ticket resumes the session");

	/* the same with our own client, TLS 1.2 tickets too */
	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", TLS1_2_VERSION, TLS1_2_VERSION, NULL),
		     0);
	cr_assert_eq(tls_get(&t, "/", host_a(), &r), 200);
	http_resp_free(&r);
	s = SSL_get1_session(t.ssl);
	tls_close(&t);
	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", TLS1_2_VERSION, TLS1_2_VERSION, s), 0);
	cr_assert(SSL_session_reused(t.ssl));
	tls_close(&t);

	/* the ticket keys live in memory across a reload */
	reload_with("a,b", "hsts_max_age = 600;");
	cr_assert(s_client_reused(sess, false), "resumed after the reload");
	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", TLS1_2_VERSION, TLS1_2_VERSION, s), 0);
	cr_assert(SSL_session_reused(t.ssl));
	tls_close(&t);
	SSL_SESSION_free(s);
}

/* The ticket a TLS 1.3 connection resumed with is spent: the server sends a
 * fresh one, so a client that resumes every time (wrk, curl, browsers) never
 * falls back to a full handshake.  Without the renewal OpenSSL's client has
 * nothing resumable after the second connection. */
static SSL_SESSION *tls13_get_session(SSL_SESSION *in, bool *reused)
{
	struct tls t;
	struct http_resp r;
	SSL_SESSION *s;

	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", TLS1_3_VERSION, TLS1_3_VERSION, in), 0);
	cr_assert_eq(tls_get(&t, "/", host_a(), &r), 200); /* reads the tickets too */
	http_resp_free(&r);
	*reused = SSL_session_reused(t.ssl);
	s = SSL_get1_session(t.ssl);
	tls_close(&t);
	return s;
}

Test(tls, a_resumed_tls13_session_gets_a_fresh_ticket)
{
	SSL_SESSION *s[4] = { NULL };
	bool reused;

	s[0] = tls13_get_session(NULL, &reused);
	cr_assert_not(reused);
	for (int i = 1; i < 4; i++) {
		const unsigned char *a, *b;
		size_t alen, blen;

		s[i] = tls13_get_session(s[i - 1], &reused);
		cr_assert(reused, "connection %d resumed with the ticket of the one before", i);
		cr_assert(SSL_SESSION_is_resumable(s[i]));
		SSL_SESSION_get0_ticket(s[i - 1], &a, &alen);
		SSL_SESSION_get0_ticket(s[i], &b, &blen);
		cr_assert(blen > 0 && (alen != blen || memcmp(a, b, alen) != 0),
			  "connection %d brought a new ticket", i);
	}
	for (int i = 0; i < 4; i++)
		SSL_SESSION_free(s[i]);
}

Test(tls, reload_swaps_the_certificate_under_an_open_connection)
{
	struct tls old, t;
	struct http_resp r;

	cr_assert_eq(tls_open(&old, srv.tls_port, "a.test", 0, 0, NULL), 0);
	cr_assert(peer_is(&old, "a.pem"));
	cr_assert_eq(tls_get(&old, "/", host_a(), &r), 200);
	http_resp_free(&r);

	reload_with("a2,b", NULL);
	cr_assert(log_soon("configuration reloaded", 2000));
	/* the open keep-alive connection goes on */
	cr_assert_eq(tls_get(&old, "/digits.txt", host_a(), &r), 200);
	cr_assert_eq(r.body_len, 1000);
	http_resp_free(&r);
	/* new handshakes get the new certificate */
	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
	cr_assert(peer_is(&t, "a2.pem"), "the renewed certificate");
	cr_assert_eq(tls_get(&t, "/", host_a(), &r), 200);
	http_resp_free(&r);
	tls_close(&t);
	/* and the old connection still works after that */
	cr_assert_eq(tls_get(&old, "/", host_a(), &r), 200);
	http_resp_free(&r);
	tls_close(&old);
}

Test(tls, a_bad_certificate_on_reload_is_rejected)
{
	struct tls t;
	char bad[1024];

	/* a's certificate with b's key */
	snprintf(bad, sizeof bad,
		 "allowed_hosts = [\"localhost\", \"127.0.0.1\", \"a.test\", \"b.test\"];\n"
		 "tls = { certificates = ( { certificate = \"%s\"; key = \"%s\"; } ); };\n",
		 cert("a2.pem"), cert("b.key"));
	opts.extra = bad;
	server_write_config(&srv, &opts, srv.port);
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert_eq(server_wait_notify(&srv, "READY=1", 5000), 0);
	cr_assert(log_soon("reload rejected", 2000));
	cr_assert(server_log_contains(&srv, "does not match"), "names the problem");
	cr_assert(server_log_contains(&srv, "b.key"), "names the file");
	/* the old certificate keeps serving */
	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
	cr_assert(peer_is(&t, "a.pem"));
	tls_close(&t);

	/* a missing file likewise */
	snprintf(bad, sizeof bad,
		 "tls = { certificates = ( { certificate = \"%s/nope.pem\"; key = \"%s\"; } ); };\n",
		 certs, cert("a.key"));
	opts.extra = bad;
	server_write_config(&srv, &opts, srv.port);
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert_eq(server_wait_notify(&srv, "READY=1", 5000), 0);
	cr_assert(log_soon("nope.pem': cannot read", 2000));
	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
	cr_assert(peer_is(&t, "a.pem"));
	tls_close(&t);
}

/* ------------------------------------------------------------------------
 * Mix-ups: plain on TLS, TLS on plain, garbage
 */

Test(tls, plain_http_on_the_tls_port_gets_400_in_cleartext)
{
	int fd = http_connect(srv.tls_port);
	struct http_resp r;

	send_str(fd, fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.tls_port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 400);
	cr_assert(strstr(r.head, "Connection: close"));
	http_resp_free(&r);
	cr_assert(wait_closed(fd, 3000));
	close(fd);
}

Test(tls, client_hello_on_the_http_port_is_closed_without_a_response)
{
	struct tls t;
	char buf[64];
	ssize_t n;

	/* a real ClientHello: the handshake fails, and not because of bytes
	 * the server sent */
	cr_assert_neq(tls_open(&t, srv.port, "a.test", 0, 0, NULL), 0);
	tls_close(&t);
	/* by hand: nothing comes back before the close */
	{
		static const unsigned char hello[] = { 0x16, 0x03, 0x01, 0x00, 0x30, 0x01, 0x00,
						       0x00, 0x2c, 0x03, 0x03 };
		int fd = http_connect(srv.port);
		send_all(fd, hello, sizeof hello);
		n = recv(fd, buf, sizeof buf, 0);
		cr_assert_eq(n, 0, "closed without a byte (got %zd)", n);
		close(fd);
	}
	cr_assert(log_soon("ClientHello on the HTTP port", 2000));
	/* the HTTP port still serves HTTP */
	{
		struct http_resp r;
		cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
		cr_assert_eq(r.status, 200);
		http_resp_free(&r);
	}
}

Test(tls, garbage_and_truncated_hellos_cost_nothing_else)
{
	static const char garbage[] = "\x01\x02\x03\x04 not tls";
	static const unsigned char truncated[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
	struct tls t;
	struct http_resp r;
	int fd;

	fd = http_connect(srv.tls_port);
	send_all(fd, garbage, sizeof garbage - 1);
	cr_assert(wait_closed(fd, 3000), "garbage: closed");
	close(fd);
	fd = http_connect(srv.tls_port);
	send_all(fd, truncated, sizeof truncated);
	shutdown(fd, SHUT_WR);
	/* a hello that never completes holds nothing until header_timeout */
	cr_assert(wait_closed(fd, 6000), "a truncated record and EOF: closed");
	close(fd);
	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
	cr_assert_eq(tls_get(&t, "/", host_a(), &r), 200);
	http_resp_free(&r);
	tls_close(&t);
}

/* ------------------------------------------------------------------------
 * Slow clients
 */

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

/* TLS slowloris: 1,000 connections stop in the middle of a ClientHello.
 * They hold no worker (a normal HTTPS client, handshake included, keeps
 * being answered: p99 < 100 ms) and header_timeout (8 s here: the probes
 * must run while they hang, also in a slow sanitizer build) cuts them. */
Test(tls_conf, tls_slowloris_does_not_delay_others, .timeout = 90)
{
	enum { SLOW = 1000, PROBES = 200 }; /* p99 = the third-worst probe */
	const char *san = getenv("MTHTTPD_SANITIZER");
	/* a sanitizer build handshakes many times slower: fewer probes, so
	 * that they still run while the stalled handshakes hang */
	int probes = san && *san ? PROBES / 4 : PROBES;
	static const unsigned char part[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01 };
	int *fd = calloc(SLOW, sizeof *fd);
	long long lat[PROBES];
	int64_t t0;
	int closed = 0, n = 0;

	header_timeout = 8;
	start_tls("a", NULL);
	t0 = harness_now_ms();
	for (int i = 0; i < SLOW; i++) {
		fd[i] = http_connect(srv.tls_port);
		send_all(fd[i], part, sizeof part);
	}
	/* probe only while every stalled handshake surely hangs (8 s from the
	 * first one): on a loaded machine fewer probes fit, at least half must */
	for (int k = 0; k < probes && harness_now_ms() - t0 < 7000; k++, n++) {
		struct tls t;
		struct http_resp r;
		int64_t a = harness_now_ms();

		cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
		cr_assert_eq(tls_get(&t, "/", host_a(), &r), 200);
		http_resp_free(&r);
		tls_close(&t);
		lat[k] = harness_now_ms() - a;
		usleep(5000);
	}
	cr_assert_geq(n, probes / 2, "only %d of %d probes ran while the handshakes hung", n, probes);
	qsort(lat, (size_t)n, sizeof lat[0], cmp_ll);
	{
		long long bar = san && !strcmp(san, "tsan") ? 1000 : san && *san ? 300 : 100;
		cr_assert_lt(lat[n * 99 / 100], bar,
			     "p99 %lld ms of %d probes while 1000 handshakes stall (bar %lld ms)",
			     lat[n * 99 / 100], n, bar);
	}
	for (int i = 0; i < SLOW; i++) {
		int64_t left = 14000 - (harness_now_ms() - t0);
		if (wait_closed(fd[i], left > 0 ? (int)left : 1))
			closed++;
		close(fd[i]);
	}
	cr_assert_eq(closed, SLOW, "only %d of %d stalled handshakes were cut", closed, SLOW);
	free(fd);
}

/* ------------------------------------------------------------------------
 * Everything HTTP does, over TLS
 */

static char *json_body(size_t size)
{
	char *b = malloc(size + 1);
	size_t n;

	cr_assert_not_null(b);
	n = (size_t)snprintf(b, size, "{\"data\":\"");
	for (; n < size - 2; n++)
		b[n] = (char)('a' + n % 26);
	b[n++] = '"';
	b[n++] = '}';
	b[n] = '\0';
	return b;
}

/* Read back the stored upload LOCATION over TLS and compare. */
static void check_stored(const char *location, const char *body, size_t len)
{
	struct tls t;
	struct http_resp r;

	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
	cr_assert_eq(tls_get(&t, location, host_a(), &r), 200);
	cr_assert_eq(r.body_len, len);
	cr_assert(memcmp(r.body, body, len) == 0, "byte-exact");
	http_resp_free(&r);
	tls_close(&t);
}

Test(tls, uploads_are_byte_exact)
{
	const size_t size = 300000;
	char *body = json_body(size), loc[256];
	struct tls t;
	struct http_resp r;

	/* Content-Length */
	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
	tls_puts(&t, fmt("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n",
			 host_a(), size));
	tls_write(&t, body, size);
	cr_assert_eq(tls_read(&t, &r, false), 0);
	cr_assert_eq(r.status, 201, "%s", r.head);
	cr_assert(http_header(&r, "Location", loc, sizeof loc));
	http_resp_free(&r);
	check_stored(loc, body, size);

	/* 100-continue on the same connection: wait for the interim answer */
	tls_puts(&t, fmt("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
			 "Expect: 100-continue\r\nContent-Length: %zu\r\n\r\n",
			 host_a(), size));
	{
		char line[64] = "";
		size_t n = 0, got = 0;
		while (got < 25 && SSL_read_ex(t.ssl, line + got, 25 - got, &n) == 1)
			got += n;
		line[got] = '\0';
		cr_assert_str_eq(line, "HTTP/1.1 100 Continue\r\n\r\n");
	}
	tls_write(&t, body, size);
	cr_assert_eq(tls_read(&t, &r, false), 0);
	cr_assert_eq(r.status, 201);
	cr_assert(http_header(&r, "Location", loc, sizeof loc));
	http_resp_free(&r);
	check_stored(loc, body, size);

	/* chunked, in uneven chunks */
	tls_puts(&t, fmt("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n",
			 host_a()));
	for (size_t off = 0, step = 1; off < size; off += step, step = step * 3 + 7) {
		if (step > size - off)
			step = size - off;
		tls_puts(&t, fmt("%zx\r\n", step));
		tls_write(&t, body + off, step);
		tls_puts(&t, "\r\n");
	}
	tls_puts(&t, "0\r\n\r\n");
	cr_assert_eq(tls_read(&t, &r, false), 0);
	cr_assert_eq(r.status, 201);
	cr_assert(http_header(&r, "Location", loc, sizeof loc));
	http_resp_free(&r);
	check_stored(loc, body, size);
	tls_close(&t);
	cr_assert_eq(server_count_uploads(&srv), 3);
	free(body);
}

Test(tls, ranges_and_validators)
{
	struct tls t;
	struct http_resp r;
	char etag[128], v[128];

	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
	cr_assert_eq(tls_get(&t, "/digits.txt", host_a(), &r), 200);
	cr_assert(http_header(&r, "ETag", etag, sizeof etag));
	http_resp_free(&r);

	tls_puts(&t, fmt("GET /digits.txt HTTP/1.1\r\nHost: %s\r\nRange: bytes=10-19\r\n\r\n",
			 host_a()));
	cr_assert_eq(tls_read(&t, &r, false), 0);
	cr_assert_eq(r.status, 206);
	cr_assert_str_eq(r.body, "0123456789");
	cr_assert(http_header(&r, "Content-Range", v, sizeof v));
	cr_assert_str_eq(v, "bytes 10-19/1000");
	http_resp_free(&r);

	tls_puts(&t, fmt("GET /digits.txt HTTP/1.1\r\nHost: %s\r\nIf-None-Match: %s\r\n\r\n",
			 host_a(), etag));
	cr_assert_eq(tls_read(&t, &r, false), 0);
	cr_assert_eq(r.status, 304);
	http_resp_free(&r);

	/* two ranges: multipart/byteranges through the TLS copy path */
	tls_puts(&t, fmt("GET /digits.txt HTTP/1.1\r\nHost: %s\r\nRange: bytes=0-1,998-\r\n\r\n",
			 host_a()));
	cr_assert_eq(tls_read(&t, &r, false), 0);
	cr_assert_eq(r.status, 206);
	cr_assert(strstr(r.body, "Content-Range: bytes 0-1/1000\r\n\r\n01\r\n"));
	cr_assert(strstr(r.body, "Content-Range: bytes 998-999/1000\r\n\r\n89\r\n"));
	http_resp_free(&r);
	tls_close(&t);
}

Test(tls, a_large_file_is_byte_exact)
{
	const size_t size = (8u << 20) + 12345;
	char path[400];
	char *data = malloc(size);
	struct tls t;
	struct http_resp r;

	cr_assert_not_null(data);
	for (size_t i = 0; i < size; i++)
		data[i] = (char)((i * 2654435761u) >> 13);
	snprintf(path, sizeof path, "%s/big.bin", srv.docroot);
	write_bytes(path, data, size);

	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
	cr_assert_eq(tls_get(&t, "/big.bin", host_a(), &r), 200);
	cr_assert_eq(r.body_len, size);
	cr_assert(memcmp(r.body, data, size) == 0, "byte-exact");
	http_resp_free(&r);
	/* and a range from the middle of it */
	tls_puts(&t, fmt("GET /big.bin HTTP/1.1\r\nHost: %s\r\nRange: bytes=5000000-5099999\r\n\r\n",
			 host_a()));
	cr_assert_eq(tls_read(&t, &r, false), 0);
	cr_assert_eq(r.status, 206);
	cr_assert_eq(r.body_len, 100000);
	cr_assert(memcmp(r.body, data + 5000000, 100000) == 0);
	http_resp_free(&r);
	tls_close(&t);
	cr_assert(server_log_contains(&srv, "file bodies go by"), "the file path is logged once");
	free(data);
}

/* The daemon's syscalls on one connection, from a strace -yy log: the lines
 * of the socket whose peer is our PORT, reads and writes apart. */
static void count_conn_calls(const char *log, unsigned port, int *reads, int *writes)
{
	static const char *const rd[] = { "read(", "recvfrom(", "recvmsg(", "readv(" };
	static const char *const wr[] = { "write(", "sendto(", "sendmsg(", "writev(" };
	char line[4096], tag[32];
	FILE *f = fopen(log, "r");

	cr_assert_not_null(f);
	snprintf(tag, sizeof tag, ":%u]", port);
	*reads = *writes = 0;
	while (fgets(line, sizeof line, f)) {
		/* after the thread id, which strace pads to five columns */
		const char *call = line + strspn(line, "0123456789");

		if (!strstr(line, tag))
			continue;
		call += strspn(call, " ");
		for (size_t i = 0; i < 4; i++) {
			if (!strncmp(call, rd[i], strlen(rd[i])))
				(*reads)++;
			if (!strncmp(call, wr[i], strlen(wr[i])))
				(*writes)++;
		}
	}
	fclose(f);
}

static pid_t strace_pid = -1;

static void strace_end(void)
{
	strace_stop(&strace_pid);
	stop();
}

/* Our BIO reads a request's records with one recv and knows from a short
 * read that the socket is empty; the response's records leave with one
 * send.  OpenSSL's socket BIO read a header, a body, and found the socket
 * empty: three reads a request. */
#define KA_REQUESTS 20

Test(tls, keep_alive_requests_cost_one_read_and_one_write, .fini = strace_end)
{
	char log[512];
	struct sockaddr_in me;
	socklen_t len = sizeof me;
	struct tls t;
	struct http_resp r;
	int reads0, writes0, reads, writes;

	snprintf(log, sizeof log, "%s/strace.log", srv.dir);
	strace_pid = strace_start(&srv, "trace=read,recvfrom,recvmsg,readv,write,sendto,sendmsg,writev",
				  log, true);
	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", TLS1_3_VERSION, 0, NULL), 0);
	cr_assert_eq(getsockname(t.fd, (struct sockaddr *)&me, &len), 0);
	/* the handshake and a first request (its tickets) before counting */
	cr_assert_eq(tls_get(&t, "/index.html", host_a(), &r), 200);
	http_resp_free(&r);
	usleep(200000); /* strace writes a line after the call returned */
	count_conn_calls(log, ntohs(me.sin_port), &reads0, &writes0);
	/* the handshake and that request: the hello peeked and read, the
	 * client's Finished, the request; the server's flight in one send, the
	 * tickets (alone or with the answer), the answer.  OpenSSL's socket
	 * BIO took 10 reads and 4 writes (each ticket apart). */
	cr_expect_leq(reads0, 5, "the handshake and a request took %d reads", reads0);
	cr_expect_leq(writes0, 3, "the handshake and a request took %d writes", writes0);
	for (int i = 0; i < KA_REQUESTS; i++) {
		cr_assert_eq(tls_get(&t, "/index.html", host_a(), &r), 200);
		cr_assert_str_eq(r.body, "<html><body>hello over TLS</body></html>\n");
		http_resp_free(&r);
	}
	cr_assert(strace_probe(&srv, log, "strace-done"), "strace fell behind");
	count_conn_calls(log, ntohs(me.sin_port), &reads, &writes);
	reads -= reads0;
	writes -= writes0;
	cr_expect_geq(reads, KA_REQUESTS, "the log misses reads (%d, %d before)", reads, reads0);
	cr_expect_leq(reads, KA_REQUESTS + 2, "%d keep-alive requests took %d reads", KA_REQUESTS,
		      reads);
	cr_expect_geq(writes, KA_REQUESTS, "the log misses writes (%d, %d before)", writes, writes0);
	cr_expect_leq(writes, KA_REQUESTS + 2, "%d keep-alive requests took %d writes",
		      KA_REQUESTS, writes);
	tls_close(&t);
}

/* A client with a small receive buffer that pauses: the daemon's sends are
 * taken in part or not at all, over and over, and what our BIO keeps
 * queued must go out once, in order.  Pipelined: a large file (pread +
 * SSL_write, four records a send), a cached small one (sendv), a range. */
Test(tls, a_slow_reader_gets_every_byte_once_and_in_order, .timeout = 120)
{
	const size_t big = (3u << 20) + 4321, small = 60000;
	char *data = malloc(big);
	/* smaller, and loopback TCP crawls on zero-window probes (with any
	 * server: 3 MB took over 100 s at 4 KiB) */
	int rcvbuf = 16384;
	struct tls t;
	struct http_resp r;

	cr_assert_not_null(data);
	for (size_t i = 0; i < big; i++)
		data[i] = (char)((i * 2654435761u) >> 11);
	write_bytes(fmt("%s/slow.bin", srv.docroot), data, big);
	write_bytes(fmt("%s/small.bin", srv.docroot), data + 777, small);

	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
	cr_assert_eq(setsockopt(t.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
	tls_puts(&t, fmt("GET /slow.bin HTTP/1.1\r\nHost: %s\r\n\r\n"
			 "GET /small.bin HTTP/1.1\r\nHost: %s\r\n\r\n"
			 "GET /slow.bin HTTP/1.1\r\nHost: %s\r\nRange: bytes=1000000-1999999\r\n\r\n"
			 "GET /small.bin HTTP/1.1\r\nHost: %s\r\n\r\n",
			 host_a(), host_a(), host_a(), host_a()));
	/* slow: a pause now and then, so the daemon finds the socket full */
	usleep(300000);
	cr_assert_eq(tls_read(&t, &r, false), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body_len, big);
	cr_assert(memcmp(r.body, data, big) == 0, "the large file is byte-exact");
	http_resp_free(&r);
	usleep(300000);
	cr_assert_eq(tls_read(&t, &r, false), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body_len, small);
	cr_assert(memcmp(r.body, data + 777, small) == 0, "the cached file is byte-exact");
	http_resp_free(&r);
	cr_assert_eq(tls_read(&t, &r, false), 0);
	cr_assert_eq(r.status, 206);
	cr_assert_eq(r.body_len, 1000000);
	cr_assert(memcmp(r.body, data + 1000000, 1000000) == 0, "the range is byte-exact");
	http_resp_free(&r);
	cr_assert_eq(tls_read(&t, &r, false), 0);
	cr_assert_eq(r.status, 200);
	cr_assert(r.body_len == small && memcmp(r.body, data + 777, small) == 0);
	http_resp_free(&r);
	tls_close(&t);
	free(data);
}

/* ------------------------------------------------------------------------
 * Redirects, our own listener, and a missing tls group
 */

Test(tls_conf, redirect_http_sends_cleartext_requests_to_https)
{
	struct http_resp r;
	char loc[256];
	int fd;

	start_tls("a", "redirect_http = true; hsts_max_age = 60;");
	fd = http_connect(srv.port);
	send_str(fd, fmt("GET /digits.txt?x=1 HTTP/1.1\r\nHost: LocalHost:%u\r\n\r\n", srv.port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 308);
	cr_assert(http_header(&r, "Location", loc, sizeof loc));
	cr_assert_str_eq(loc, fmt("https://localhost:%u/digits.txt?x=1", srv.tls_port));
	cr_assert_not(http_header(&r, "Strict-Transport-Security", loc, sizeof loc));
	http_resp_free(&r);
	close(fd);
	/* a Host that is not allowed is not redirected anywhere */
	fd = http_connect(srv.port);
	send_str(fd, fmt("GET / HTTP/1.1\r\nHost: evil.test:%u\r\n\r\n", srv.port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 403);
	http_resp_free(&r);
	close(fd);
	/* HTTPS itself is served */
	{
		struct tls t;
		cr_assert_eq(tls_open(&t, srv.tls_port, "localhost", 0, 0, NULL), 0);
		cr_assert_eq(tls_get(&t, "/", fmt("localhost:%u", srv.tls_port), &r), 200);
		http_resp_free(&r);
		tls_close(&t);
	}
}

Test(tls_conf, tls_port_is_bound_when_not_socket_activated)
{
	unsigned tport = free_port();
	struct tls t;
	struct http_resp r;
	char more[64];

	make_certs();
	memset(&opts, 0, sizeof opts);
	opts.self_bind = true;
	opts.own_docroot = true;
	snprintf(more, sizeof more, "port = %u;", tport);
	opts.extra = tls_group("a", more);
	server_start(&srv, &opts);
	srv.tls_port = tport;
	cr_assert_eq(tls_open(&t, tport, "localhost", 0, 0, NULL), 0);
	cr_assert_eq(tls_get(&t, "/", fmt("localhost:%u", tport), &r), 404);
	http_resp_free(&r);
	tls_close(&t);
	cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
	cr_assert_eq(r.status, 404, "empty docroot, over HTTP too");
	http_resp_free(&r);
}

Test(tls_conf, an_https_socket_without_a_tls_group_is_closed)
{
	struct http_resp r;
	int fd;

	memset(&opts, 0, sizeof opts);
	opts.https_socket = true;
	server_start(&srv, &opts);
	cr_assert(server_log_contains(&srv, "has no tls group"));
	fd = http_connect(srv.tls_port);
	send_str(fd, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
	cr_assert(wait_closed(fd, 3000));
	close(fd);
	cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
	cr_assert_eq(r.status, 200, "HTTP keeps serving");
	http_resp_free(&r);
}

/* ------------------------------------------------------------------------
 * Real clients
 */

/* CMD through the shell, its output away from stdout (which is TAP). */
static int run(const char *cmd)
{
	char buf[4200];
	int st;

	snprintf(buf, sizeof buf, "{ %s; } 1>&2", cmd);
	st = system(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool have(const char *tool)
{
	return run(fmt("command -v %s >/dev/null 2>&1", tool)) == 0;
}

Test(tls, curl_and_wget_over_https)
{
	char *out;
	size_t len;
	char file[300];

	snprintf(file, sizeof file, "%s/client.out", srv.dir);

	if (!have("curl") || !have("wget"))
		cr_skip_test("curl or wget not installed");
	cr_assert_eq(run(fmt("curl -sS --fail --cacert '%s' --resolve a.test:%u:127.0.0.1 "
			     "-o '%s' https://a.test:%u/digits.txt",
			     cert("ca.pem"), srv.tls_port, file, srv.tls_port)),
		     0);
	out = read_whole(file, &len);
	cr_assert_not_null(out);
	cr_assert_eq(len, 1000);
	free(out);
	cr_assert_eq(run(fmt("curl -sS --fail --cacert '%s' --resolve a.test:%u:127.0.0.1 "
			     "-H 'Content-Type: application/json' --data-binary '{\"via\":\"curl\"}' "
			     "-o /dev/null https://a.test:%u/upload",
			     cert("ca.pem"), srv.tls_port, srv.tls_port)),
		     0);
	cr_assert_eq(server_count_uploads(&srv), 1);
	unlink(file);
	/* wget checks the name against the certificate: 127.0.0.1 is in it */
	cr_assert_eq(run(fmt("wget -q --ca-certificate='%s' -O '%s' "
			     "--header='Host: localhost:%u' https://127.0.0.1:%u/index.html",
			     cert("ca.pem"), file, srv.tls_port, srv.tls_port)),
		     0);
	out = read_whole(file, &len);
	cr_assert_not_null(out);
	cr_assert_str_eq(out, "<html><body>hello over TLS</body></html>\n");
	free(out);
	/* and curl refuses our server without the CA: the chain is real */
	cr_assert_neq(run(fmt("curl -sS -o /dev/null https://127.0.0.1:%u/ 2>/dev/null",
			      srv.tls_port)),
		      0);
}

Test(tls, python_ssl_over_https)
{
	const char *script = fmt("%s/client.py", srv.dir);
	FILE *f;

	if (!have("python3"))
		cr_skip_test("python3 not installed");
	f = fopen(script, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"import http.client, json, ssl, sys\n"
		"ctx = ssl.create_default_context(cafile=sys.argv[1])\n"
		"c = http.client.HTTPSConnection('localhost', int(sys.argv[2]), context=ctx)\n"
		"c.request('GET', '/digits.txt')\n"
		"r = c.getresponse(); body = r.read()\n"
		"assert r.status == 200 and len(body) == 1000, (r.status, len(body))\n"
		"assert c.sock.version() in ('TLSv1.3', 'TLSv1.2'), c.sock.version()\n"
		"c.request('POST', '/upload', body=json.dumps({'via': 'python'}),\n"
		"          headers={'Content-Type': 'application/json'})\n"
		"r = c.getresponse(); r.read()\n"
		"assert r.status == 201, r.status\n"
		"c.request('GET', r.getheader('Location'))\n"
		"r = c.getresponse(); got = json.loads(r.read())\n"
		"assert got == {'via': 'python'}, got\n");
	fclose(f);
	cr_assert_eq(run(fmt("python3 '%s' '%s' %u", script, cert("ca.pem"), srv.tls_port)), 0);
}

/* ------------------------------------------------------------------------
 * Behind a load balancer: PROXY header before the ClientHello, handshakes
 * in /metrics
 */

static void start_behind_proxy(void)
{
	top_extra = "trusted_proxies = [\"127.0.0.1\"];\n";
	start_tls("a", NULL);
	top_extra = "";
}

/* One request over TLS with the PROXY header HDR (LEN bytes) sent first:
 * the handshake must work on the bytes that follow the header. */
static void get_behind_proxy(const void *hdr, size_t len)
{
	struct http_resp r;
	struct tls t;

	tls_prefix = hdr;
	tls_prefix_len = len;
	cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0,
		     "no handshake after the PROXY header");
	/* the header's destination port (443) stands for the arrival port */
	cr_assert_eq(tls_get(&t, "/index.html", "a.test:443", &r), 200, "%s", r.head);
	cr_assert(strstr(r.body, "hello over TLS"));
	http_resp_free(&r);
	tls_close(&t);
}

/* HAProxy's send-proxy (v1) and send-proxy-v2 to a TLS node: the client
 * address in the header is the one in the access log. */
Test(tls_conf, proxy_header_before_the_client_hello)
{
	static const uint8_t v2[] = {
		0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
		0x21, 0x11, 0x00, 0x0C,	  /* PROXY, TCP4, 12 address bytes */
		198,  51,   100,  9,	  /* source */
		127,  0,    0,    1,	  /* destination */
		0xC3, 0x4B, 0x01, 0xBB,	  /* ports 49995 -> 443 */
	};
	const char *v1 = "PROXY TCP4 192.0.2.7 127.0.0.1 40001 443\r\n";

	start_behind_proxy();
	get_behind_proxy(v1, strlen(v1));
	cr_expect(log_soon("192.0.2.7:40001 \"GET /index.html HTTP/1.1\" 200", 3000),
		  "no access line with the v1 client in %s", srv.log);
	get_behind_proxy(v2, sizeof v2);
	cr_expect(log_soon("198.51.100.9:49995 \"GET /index.html HTTP/1.1\" 200", 3000),
		  "no access line with the v2 client in %s", srv.log);
}

/* From a trusted proxy the header is required on the TLS port too: a bare
 * ClientHello is refused with the warning. */
Test(tls_conf, trusted_proxy_without_header_is_closed)
{
	struct tls t;

	start_behind_proxy();
	cr_expect_neq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0,
		      "handshake without the PROXY header");
	tls_close(&t);
	cr_expect(log_soon("no valid PROXY header", 3000));
}

/* Not from a trusted proxy, a PROXY header on the TLS port is closed with
 * the warning, not answered as plain HTTP. */
Test(tls_conf, proxy_header_from_untrusted_peer_is_closed)
{
	const char *v1 = "PROXY TCP4 192.0.2.7 127.0.0.1 40001 443\r\n";
	int fd;

	start_tls("a", NULL);
	fd = http_connect(srv.tls_port);
	send_str(fd, v1);
	cr_expect(wait_closed(fd, 5000));
	close(fd);
	cr_expect(log_soon("PROXY header from an untrusted peer", 3000));
}

/* mthttpd_tls_handshakes_total counts the handshakes, and promtool
 * accepts the exposition with it. */
Test(tls_conf, metrics_count_the_handshakes)
{
	unsigned admin = free_port();
	struct http_resp r;
	const char *p;
	char path[400];
	FILE *f;
	int fd, st;

	top_extra = fmt("admin_listen = \"127.0.0.1:%u\";\n", admin);
	start_tls("a", NULL);
	top_extra = "";
	for (int i = 0; i < 3; i++) {
		struct tls t;

		cr_assert_eq(tls_open(&t, srv.tls_port, "a.test", 0, 0, NULL), 0);
		cr_assert_eq(tls_get(&t, "/index.html", host_a(), &r), 200);
		http_resp_free(&r);
		tls_close(&t);
	}
	fd = http_connect(admin);
	send_str(fd, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
	cr_assert_eq(http_read(fd, &r, false), 0);
	close(fd);
	cr_assert_eq(r.status, 200);
	p = strstr(r.body, "\nmthttpd_tls_handshakes_total ");
	cr_assert_not_null(p, "no mthttpd_tls_handshakes_total in\n%s", r.body);
	cr_expect_geq(strtoull(p + 30, NULL, 10), 3, "%.40s", p + 1);
	snprintf(path, sizeof path, "%s/metrics.txt", srv.dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fwrite(r.body, 1, r.body_len, f);
	fclose(f);
	http_resp_free(&r);
	if (!have("promtool"))
		cr_skip_test("promtool not installed (Debian package prometheus)");
	st = run(fmt("promtool check metrics < '%s'", path));
	cr_expect_eq(st, 0, "promtool check metrics failed on %s", path);
}
