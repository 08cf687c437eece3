/* test_admin.c - the admin listener (admin_listen): /health through a
 * graceful stop with drain_delay, /metrics checked by promtool and against
 * the traffic the test sent, and what the admin port refuses.  Each test
 * starts its own daemon (see harness.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct server srv;
static unsigned admin_port;

static void start_admin(const char *more)
{
	struct server_opts o = { 0 };

	admin_port = free_port();
	o.extra = fmt("admin_listen = \"127.0.0.1:%u\";\n%s", admin_port, more ? more : "");
	server_start(&srv, &o);
}

static void start_plain(void)
{
	start_admin(NULL);
}

static void stop(void)
{
	server_stop(&srv);
}

/* One request to the admin port: METHOD PATH, any Host. */
static int admin_req(const char *method, const char *path, struct http_resp *r)
{
	int fd = http_connect(admin_port), ret;

	send_str(fd, fmt("%s %s HTTP/1.1\r\nHost: anything.example\r\n\r\n", method, path));
	ret = http_read(fd, r, strcmp(method, "HEAD") == 0);
	close(fd);
	return ret;
}

/* 0 if something accepts a connection on loopback PORT, else -1. */
static int connect_refused(unsigned port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), r;

	r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	close(fd);
	return r;
}

/* The value of the sample NAME (exact, with labels) in a scrape; -1 if absent. */
static double sample(const char *body, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

static char *scrape(void)
{
	struct http_resp r;
	char ct[128];
	char *body;

	cr_assert_eq(admin_req("GET", "/metrics", &r), 0, "no /metrics response");
	cr_assert_eq(r.status, 200);
	cr_assert(http_header(&r, "Content-Type", ct, sizeof ct));
	cr_expect_str_eq(ct, "text/plain; version=0.0.4; charset=utf-8");
	body = r.body;
	r.body = NULL;
	http_resp_free(&r);
	return body;
}

TestSuite(admin, .init = start_plain, .fini = stop, .timeout = 60);

Test(admin, health_is_ok_while_serving)
{
	struct http_resp r;

	cr_assert_eq(admin_req("GET", "/health", &r), 0);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "ok\n");
	http_resp_free(&r);
	cr_assert_eq(admin_req("HEAD", "/health", &r), 0);
	cr_expect_eq(r.status, 200);
	http_resp_free(&r);
}

/* Never the site, whatever the Host; only GET and HEAD. */
Test(admin, serves_nothing_else)
{
	struct http_resp r;

	cr_assert_eq(admin_req("GET", "/", &r), 0);
	cr_expect_eq(r.status, 404);
	http_resp_free(&r);
	cr_assert_eq(admin_req("GET", "/index.html", &r), 0);
	cr_expect_eq(r.status, 404);
	http_resp_free(&r);
	cr_assert_eq(admin_req("POST", "/health", &r), 0);
	cr_expect_eq(r.status, 405);
	http_resp_free(&r);
	/* and the site does not serve the admin paths */
	cr_assert_eq(http_get(&srv, "GET", "/metrics", &r), 0);
	cr_expect_eq(r.status, 404);
	http_resp_free(&r);
}

/* The counters add up to what this test sent. */
Test(admin, metrics_count_the_traffic)
{
	struct http_resp r;
	char *body;

	for (int i = 0; i < 5; i++) {
		cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
		http_resp_free(&r);
	}
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(http_get(&srv, "GET", "/no-such-file", &r), 0);
		http_resp_free(&r);
	}
	cr_assert_eq(http_get(&srv, "HEAD", "/", &r), 0);
	http_resp_free(&r);
	/* a response is counted just after its last byte went out: the
	 * client may be faster */
	body = scrape();
	for (int i = 0; i < 100 && sample(body, "mthttpd_request_duration_seconds_count") < 8;
	     i++) {
		free(body);
		usleep(20000);
		body = scrape();
	}
	cr_expect_eq(sample(body, "mthttpd_requests_total{method=\"GET\",code=\"2xx\"}"), 5, "%s",
		     body);
	cr_expect_eq(sample(body, "mthttpd_requests_total{method=\"GET\",code=\"4xx\"}"), 2);
	cr_expect_eq(sample(body, "mthttpd_requests_total{method=\"HEAD\",code=\"2xx\"}"), 1);
	cr_expect_eq(sample(body, "mthttpd_request_duration_seconds_count"), 8);
	cr_expect_eq(sample(body, "mthttpd_request_duration_seconds_bucket{le=\"+Inf\"}"), 8);
	cr_expect_gt(sample(body, "mthttpd_sent_bytes_total"), 5 * 100);
	cr_expect_eq(sample(body, "mthttpd_workers"), 4);
	cr_expect_eq(sample(body, "mthttpd_reloads_total{result=\"ok\"}"), 0);
	cr_expect_eq(sample(body, "mthttpd_access_log_dropped_total"), 0);
	cr_expect_eq(sample(body, "mthttpd_build_info{version=\"" PACKAGE_VERSION "\"}"), 1);
	free(body);
}

/* Open connections by state, as the reaper last counted them (once a
 * second). */
Test(admin, connections_by_state)
{
	struct http_resp r;
	int idle = http_connect(srv.port), reading = http_connect(srv.port);
	char *body = NULL;

	send_str(idle, fmt("GET / HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", srv.port));
	cr_assert_eq(http_read(idle, &r, false), 0);
	http_resp_free(&r);
	send_str(reading, "GET / HTTP/1.1\r\nHost: 127.0");
	for (int i = 0; i < 40; i++) {
		free(body);
		body = scrape();
		if (sample(body, "mthttpd_connections{state=\"idle\"}") == 1 &&
		    sample(body, "mthttpd_connections{state=\"reading\"}") == 1)
			break;
		usleep(100000);
	}
	cr_expect_eq(sample(body, "mthttpd_connections{state=\"idle\"}"), 1, "%s", body);
	cr_expect_eq(sample(body, "mthttpd_connections{state=\"reading\"}"), 1);
	cr_expect_eq(sample(body, "mthttpd_connections{state=\"writing\"}"), 0);
	free(body);
	close(idle);
	close(reading);
}

/* promtool (Debian package prometheus) accepts the exposition. */
Test(admin, promtool_check_metrics)
{
	struct http_resp r;
	char path[300];
	char *body;
	FILE *f;
	int st;

	if (system("command -v promtool >/dev/null 2>&1") != 0)
		cr_skip_test("promtool not installed (Debian package prometheus)");
	cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
	http_resp_free(&r);
	body = scrape();
	snprintf(path, sizeof path, "%s/metrics.txt", srv.dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(body, f);
	fclose(f);
	free(body);
	st = system(fmt("promtool check metrics < '%s' > '%s.out' 2>&1", path, path));
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "promtool check metrics failed: %s",
		  read_whole(fmt("%s.out", path), NULL));
}

Test(admin, reloads_are_counted)
{
	char *body;

	kill(srv.pid, SIGHUP);
	cr_assert_geq(server_wait_notify(&srv, "READY=1", 5000), 0);
	body = scrape();
	cr_expect_eq(sample(body, "mthttpd_reloads_total{result=\"ok\"}"), 1, "%s", body);
	cr_expect_eq(sample(body, "mthttpd_reloads_total{result=\"failed\"}"), 0);
	free(body);
}

static void start_drain(void)
{
	start_admin("drain_delay = 2;\n");
}

/* SIGTERM: /health turns 503 at once, the site is served for drain_delay
 * more, then the stop goes on and the daemon exits 0. */
Test(admin, sigterm_drains_for_drain_delay, .init = start_drain, .fini = NULL)
{
	struct http_resp r;
	int64_t t0;
	int status;

	kill(srv.pid, SIGTERM);
	t0 = harness_now_ms();
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(admin_req("GET", "/health", &r), 0);
		if (r.status == 503)
			break;
		http_resp_free(&r);
		usleep(20000);
	}
	cr_expect_eq(r.status, 503);
	cr_expect_str_eq(r.body, "draining\n");
	http_resp_free(&r);
	/* still serving the site during the delay */
	cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
	cr_expect_eq(r.status, 200);
	http_resp_free(&r);
	cr_expect_lt(harness_now_ms() - t0, 1500);
	/* then it stops by itself */
	for (int i = 0; i < 100 && waitpid(srv.pid, &status, WNOHANG) == 0; i++)
		usleep(50000);
	cr_expect_geq(harness_now_ms() - t0, 1900, "stopped before drain_delay");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	srv.pid = 0;
	close(srv.notify_fd);
	harness_rm_rf(srv.dir);
}

/* admin_listen is reloadable: the listener moves; a new address that
 * cannot be bound rejects the reload (counted as failed) and keeps it. */
Test(admin, reload_moves_the_listener)
{
	struct server_opts o = { 0 };
	unsigned old_port = admin_port, new_port = free_port();
	struct http_resp r;
	char *body;
	int busy, one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	o.extra = fmt("admin_listen = \"127.0.0.1:%u\";\n", new_port);
	server_write_config(&srv, &o, srv.port);
	kill(srv.pid, SIGHUP);
	cr_assert_geq(server_wait_notify(&srv, "READY=1", 5000), 0);
	admin_port = new_port;
	cr_assert_eq(admin_req("GET", "/health", &r), 0);
	cr_expect_eq(r.status, 200);
	http_resp_free(&r);
	cr_expect_lt(connect_refused(old_port), 0, "the old admin port still answers");

	/* a port held by someone else: the reload is rejected */
	busy = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(busy, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	sa.sin_port = htons((uint16_t)old_port);
	cr_assert_eq(bind(busy, (struct sockaddr *)&sa, sizeof sa), 0);
	cr_assert_eq(listen(busy, 1), 0);
	o.extra = fmt("admin_listen = \"127.0.0.1:%u\";\n", old_port);
	server_write_config(&srv, &o, srv.port);
	kill(srv.pid, SIGHUP);
	cr_assert_geq(server_wait_notify(&srv, "READY=1", 5000), 0);
	body = scrape();
	cr_expect_eq(sample(body, "mthttpd_reloads_total{result=\"ok\"}"), 1, "%s", body);
	cr_expect_eq(sample(body, "mthttpd_reloads_total{result=\"failed\"}"), 1);
	free(body);
	close(busy);
}
