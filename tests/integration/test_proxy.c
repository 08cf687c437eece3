/* test_proxy.c - the daemon behind a load balancer: PROXY protocol v1 and
 * v2 headers written by hand (as HAProxy's send-proxy / send-proxy-v2
 * would), trusted_proxies, and what happens to connections that break the
 * rules.  Each test starts its own daemon (see harness.h). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static struct server srv;

static bool log_soon(const char *needle)
{
	for (int i = 0; i < 150 && !server_log_contains(&srv, needle); i++)
		usleep(20000);
	return server_log_contains(&srv, needle);
}

static void start_with(const char *extra)
{
	struct server_opts o = { .extra = extra };

	server_start(&srv, &o);
}

static void trusted_loopback(void)
{
	start_with("trusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\", \"::1\"];\n"
		   "header_timeout = 1;\n");
}

static void trusted_elsewhere(void)
{
	start_with("trusted_proxies = [\"10.0.0.0/8\"];\n");
}

static void stop(void)
{
	server_stop(&srv);
}

static const uint8_t sig2[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
				  0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

/* A v2 PROXY header over TCP4 (FAM 0x11) or TCP6 (0x21), or LOCAL when
 * SRC is NULL, with one NOOP TLV, into BUF; returns its length. */
static size_t v2_header(uint8_t *buf, const char *src, unsigned sport, const char *dst,
			unsigned dport)
{
	size_t n = 16;
	bool six = src && strchr(src, ':');

	memcpy(buf, sig2, 12);
	if (!src) {
		buf[12] = 0x20;
		buf[13] = 0x00;
	} else {
		size_t alen = six ? 16 : 4;

		buf[12] = 0x21;
		buf[13] = six ? 0x21 : 0x11;
		cr_assert_eq(inet_pton(six ? AF_INET6 : AF_INET, src, buf + n), 1);
		cr_assert_eq(inet_pton(six ? AF_INET6 : AF_INET, dst, buf + n + alen), 1);
		n += 2 * alen;
		buf[n++] = (uint8_t)(sport >> 8);
		buf[n++] = (uint8_t)sport;
		buf[n++] = (uint8_t)(dport >> 8);
		buf[n++] = (uint8_t)dport;
	}
	/* PP2_TYPE_NOOP with 3 bytes: skipped */
	memcpy(buf + n, "\x04\x00\x03xyz", 6);
	n += 6;
	buf[14] = (uint8_t)((n - 16) >> 8);
	buf[15] = (uint8_t)(n - 16);
	return n;
}

/* Send HDR (LEN bytes) and then a GET of PATH with Host HOST; expect
 * STATUS. */
static void get_through(const void *hdr, size_t len, const char *host, int status)
{
	struct http_resp r;
	int fd = http_connect(srv.port);

	send_all(fd, hdr, len);
	send_str(fd, fmt("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host));
	cr_assert_eq(http_read(fd, &r, false), 0, "no response");
	cr_expect_eq(r.status, status);
	http_resp_free(&r);
	close(fd);
}

/* The connection is closed (within 5 s) without a single response byte. */
static void expect_closed_silently(int fd)
{
	int64_t end = harness_now_ms() + 5000;
	size_t got = 0;
	char b[512];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = end - harness_now_ms();
		ssize_t n;

		cr_assert(left > 0 && poll(&pfd, 1, (int)left) > 0, "still open after 5 s");
		n = recv(fd, b, sizeof b, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break;
		if (n > 0)
			got += (size_t)n;
	}
	cr_expect_eq(got, 0, "got %zu response bytes, e.g. %.40s", got, b);
	close(fd);
}

TestSuite(proxy, .init = trusted_loopback, .fini = stop, .timeout = 60);

Test(proxy, v1_client_address_in_the_access_log)
{
	const char *h = fmt("PROXY TCP4 192.0.2.7 127.0.0.1 40001 %u\r\n", srv.port);

	get_through(h, strlen(h), fmt("127.0.0.1:%u", srv.port), 200);
	cr_expect(log_soon("192.0.2.7:40001 \"GET / HTTP/1.1\" 200"),
		  "access line with the client");
	cr_expect_not(server_log_contains(&srv, "127.0.0.1:40001"));
}

Test(proxy, v2_tcp4_and_tcp6_with_tlvs)
{
	uint8_t h[128];
	size_t n = v2_header(h, "198.51.100.9", 50123, "127.0.0.1", srv.port);

	get_through(h, n, fmt("127.0.0.1:%u", srv.port), 200);
	cr_expect(log_soon("198.51.100.9:50123 \"GET / HTTP/1.1\" 200"));
	n = v2_header(h, "2001:db8::42", 50124, "::1", srv.port);
	get_through(h, n, fmt("127.0.0.1:%u", srv.port), 200);
	cr_expect(log_soon("[2001:db8::42]:50124 \"GET / HTTP/1.1\" 200"));
}

/* The proxy's own health checks: LOCAL keeps the real addresses. */
Test(proxy, v2_local_and_v1_unknown_keep_the_real_address)
{
	uint8_t h[64];
	size_t n = v2_header(h, NULL, 0, NULL, 0);

	get_through(h, n, fmt("127.0.0.1:%u", srv.port), 200);
	get_through("PROXY UNKNOWN\r\n", 15, fmt("127.0.0.1:%u", srv.port), 200);
	cr_expect(log_soon("127.0.0.1:"));
}

/* The header's destination port is the arrival port for allowed_hosts. */
Test(proxy, destination_port_for_allowed_hosts)
{
	const char *h = fmt("PROXY TCP4 192.0.2.7 127.0.0.1 40001 80\r\n");

	/* Host without a port means 80: the port HAProxy took it on */
	get_through(h, strlen(h), "localhost", 200);
	/* our real port is not the one the client connected to */
	get_through(h, strlen(h), fmt("127.0.0.1:%u", srv.port), 403);
}

/* Keep-alive: the header comes once, then several requests. */
Test(proxy, keep_alive_after_the_header)
{
	const char *h = fmt("PROXY TCP4 192.0.2.8 127.0.0.1 40002 %u\r\n", srv.port);
	struct http_resp r;
	int fd = http_connect(srv.port);

	send_str(fd, h);
	for (int i = 0; i < 3; i++) {
		send_str(fd, fmt("GET / HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", srv.port));
		cr_assert_eq(http_read(fd, &r, false), 0);
		cr_expect_eq(r.status, 200);
		http_resp_free(&r);
	}
	close(fd);
	cr_expect(log_soon("192.0.2.8:40002 \"GET / HTTP/1.1\" 200"));
}

Test(proxy, trusted_without_header_is_closed)
{
	int fd = http_connect(srv.port);

	send_str(fd, fmt("GET / HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", srv.port));
	expect_closed_silently(fd);
	cr_expect(log_soon("no valid PROXY header"));
}

Test(proxy, malformed_header_is_closed)
{
	int fd = http_connect(srv.port);

	send_str(fd, "PROXY TCP4 192.0.2.7 127.0.0.1 99999 80\r\nGET / HTTP/1.1\r\n\r\n");
	expect_closed_silently(fd);
	cr_expect(log_soon("no valid PROXY header"));
}

/* header_timeout (1 s here) bounds a header that never completes. */
Test(proxy, partial_header_cut_by_header_timeout)
{
	int64_t t0 = harness_now_ms(), dt;
	int fd = http_connect(srv.port);

	send_str(fd, "PROXY TCP4 192.0.2.7 12");
	cr_assert(wait_closed(fd, 5000), "still open after 5 s");
	dt = harness_now_ms() - t0;
	cr_expect_geq(dt, 900, "closed after %lld ms", (long long)dt);
	close(fd);
	/* a trickle of bytes does not extend it */
	t0 = harness_now_ms();
	fd = http_connect(srv.port);
	for (int i = 0; i < 40 && !wait_closed(fd, 100); i++)
		send(fd, "P", 1, MSG_NOSIGNAL);
	dt = harness_now_ms() - t0;
	cr_expect_lt(dt, 3900, "a trickling header kept the connection %lld ms", (long long)dt);
	close(fd);
}

TestSuite(proxy_untrusted, .init = trusted_elsewhere, .fini = stop, .timeout = 60);

Test(proxy_untrusted, header_from_untrusted_peer_is_closed)
{
	const char *h = fmt("PROXY TCP4 192.0.2.7 127.0.0.1 40001 %u\r\n", srv.port);
	uint8_t h2[64];
	size_t n = v2_header(h2, "192.0.2.7", 1, "127.0.0.1", srv.port);
	int fd = http_connect(srv.port);

	send_str(fd, h);
	send_str(fd, fmt("GET / HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", srv.port));
	expect_closed_silently(fd);
	cr_expect(log_soon("PROXY header from an untrusted peer"));

	fd = http_connect(srv.port);
	send_all(fd, h2, n);
	send_str(fd, fmt("GET / HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", srv.port));
	expect_closed_silently(fd);
	cr_expect_not(server_log_contains(&srv, "192.0.2.7"));
}

Test(proxy_untrusted, plain_requests_still_served)
{
	get_through("", 0, fmt("127.0.0.1:%u", srv.port), 200);
	cr_expect(log_soon("127.0.0.1:"));
}

static void per_client_cap(void)
{
	start_with("trusted_proxies = [\"127.0.0.1\"];\nmax_connections_per_ip = 1;\n");
}

/* max_connections_per_ip counts the clients the headers name, not the
 * proxy: two connections of one client are one too many, another client's
 * is fine. */
Test(proxy, per_client_cap_counts_the_real_client, .init = per_client_cap, .fini = stop)
{
	const char *a = fmt("PROXY TCP4 192.0.2.1 127.0.0.1 40001 %u\r\n", srv.port);
	const char *req = fmt("GET / HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", srv.port);
	struct http_resp r;
	int first = http_connect(srv.port);

	send_str(first, a);
	send_str(first, req);
	cr_assert_eq(http_read(first, &r, false), 0);
	cr_expect_eq(r.status, 200);
	http_resp_free(&r);
	/* FIRST stays open: 192.0.2.1 has its one connection */
	get_through(fmt("PROXY TCP4 192.0.2.1 127.0.0.1 40002 %u\r\n", srv.port),
		    strlen(fmt("PROXY TCP4 192.0.2.1 127.0.0.1 40002 %u\r\n", srv.port)),
		    fmt("127.0.0.1:%u", srv.port), 429);
	cr_expect(log_soon("192.0.2.1:40002 has max_connections_per_ip"));
	get_through(fmt("PROXY TCP4 192.0.2.2 127.0.0.1 40003 %u\r\n", srv.port),
		    strlen(fmt("PROXY TCP4 192.0.2.2 127.0.0.1 40003 %u\r\n", srv.port)),
		    fmt("127.0.0.1:%u", srv.port), 200);
	close(first);
}

/* trusted_proxies is reloadable: SIGHUP makes this peer a trusted proxy. */
Test(proxy_untrusted, reload_trusts_the_new_list)
{
	struct server_opts o = { .extra = "trusted_proxies = [\"127.0.0.0/8\"];\n" };
	const char *h = fmt("PROXY TCP4 192.0.2.9 127.0.0.1 40009 %u\r\n", srv.port);

	server_write_config(&srv, &o, srv.port);
	kill(srv.pid, SIGHUP);
	cr_assert_geq(server_wait_notify(&srv, "READY=1", 5000), 0);
	get_through(h, strlen(h), fmt("127.0.0.1:%u", srv.port), 200);
	cr_expect(log_soon("192.0.2.9:40009 \"GET / HTTP/1.1\" 200"));
}

/* The header in pieces (byte by byte, then the request in the same write
 * as its last byte): waiting for the rest of it, then serving. */
Test(proxy, header_in_pieces)
{
	const char *h = fmt("PROXY TCP4 192.0.2.77 127.0.0.1 40077 %u\r\n", srv.port);
	const char *req = fmt("GET / HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", srv.port);
	size_t n = strlen(h);
	char last[512];
	struct http_resp r;
	int fd = http_connect(srv.port);

	for (size_t i = 0; i + 1 < n; i++) {
		send_all(fd, h + i, 1);
		usleep(2000);
	}
	snprintf(last, sizeof last, "%c%s", h[n - 1], req);
	send_str(fd, last);
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_expect_eq(r.status, 200);
	http_resp_free(&r);
	close(fd);
	cr_expect(log_soon("192.0.2.77:40077 \"GET / HTTP/1.1\" 200"));
}
