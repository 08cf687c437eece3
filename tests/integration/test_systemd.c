/* test_systemd.c - the daemon as systemd sees it: sd_notify (READY, STATUS,
 * RELOADING, STOPPING, WATCHDOG), reload semantics, graceful stop.  The
 * harness plays the service manager: it passes the listening socket
 * (LISTEN_FDS) and listens on its own NOTIFY_SOCKET. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct server srv;
static struct server_opts opts;

static void stop(void)
{
	server_stop(&srv);
}


static int status_of(int fd, const char *host)
{
	struct http_resp r;
	int st;

	send_str(fd, fmt("GET / HTTP/1.1\r\nHost: %s:%u\r\n\r\n", host, srv.port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	st = r.status;
	http_resp_free(&r);
	return st;
}

static bool wait_log(const char *needle, int ms)
{
	for (int i = 0; i < ms / 20; i++) {
		if (server_log_contains(&srv, needle))
			return true;
		usleep(20000);
	}
	return server_log_contains(&srv, needle);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fputs(text, f) >= 0, true);
	cr_assert_eq(fclose(f), 0);
}

/* The two versions of /sample.txt the reload storm alternates between. */
static const char *const storm_body[2] = { "version A\n", "version B, longer\n" };

/* SIGHUP, then RELOADING=1 and READY=1 on the notify socket. */
static void reload_and_wait(void)
{
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert_eq(server_wait_notify(&srv, "RELOADING=1", 5000), 0, "no RELOADING=1");
	cr_assert_eq(server_wait_notify(&srv, "READY=1", 5000), 0, "no READY=1 after RELOADING=1");
}

/* A new connection gets /sample.txt of version V. */
static void expect_version(int v)
{
	const char *const *bodies = storm_body;
	struct http_resp r;

	cr_assert_eq(http_get(&srv, "GET", "/sample.txt", &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert(r.body_len == strlen(bodies[v]) && memcmp(r.body, bodies[v], r.body_len) == 0,
		  "after READY=1 a new request got '%.40s', want '%s'", r.body, bodies[v]);
	http_resp_free(&r);
}

static void start_default(void)
{
	memset(&opts, 0, sizeof opts);
	server_start(&srv, &opts);
}

TestSuite(notify, .init = start_default, .fini = stop, .timeout = 60);

Test(notify, ready_then_status_line)
{
	/* READY=1 was awaited by server_start(); STATUS follows at once */
	cr_assert_eq(server_wait_notify(&srv, "STATUS=workers", 7000), 0,
		     "no STATUS=workers ... line");
	cr_assert(wait_log("(http) (from systemd)", 2000), "socket name from LISTEN_FDNAMES");
}

Test(notify, status_counts_requests)
{
	struct http_resp r;

	for (int i = 0; i < 3; i++) {
		cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
		http_resp_free(&r);
	}
	/* refreshed every few seconds */
	cr_assert_eq(server_wait_notify(&srv, "3 requests", 12000), 0);
}

/* An open keep-alive connection survives a reload and its next request is
 * answered with the new configuration. */
Test(notify, reload_applies_to_open_connections)
{
	int fd = http_connect(srv.port);

	cr_assert_eq(status_of(fd, "localhost"), 200);
	opts.extra = "allowed_hosts = [\"127.0.0.1\"];";
	server_write_config(&srv, &opts, srv.port);
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert_eq(server_wait_notify(&srv, "RELOADING=1", 5000), 0);
	cr_assert_eq(server_wait_notify(&srv, "READY=1", 5000), 0);
	cr_assert_eq(status_of(fd, "localhost"), 403, "same connection, new allow-list");
	cr_assert_eq(status_of(fd, "127.0.0.1"), 200, "and still open");
	close(fd);
	cr_assert(wait_log("configuration reloaded", 2000));
}

Test(notify, reload_sends_monotonic_usec)
{
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert_eq(server_wait_notify(&srv, "MONOTONIC_USEC=", 5000), 0);
	cr_assert_eq(server_wait_notify(&srv, "READY=1", 5000), 0);
}

Test(notify, invalid_reload_keeps_the_old_config)
{
	int fd = http_connect(srv.port);
	FILE *f;

	cr_assert_eq(status_of(fd, "localhost"), 200);
	f = fopen(srv.conf, "a");
	fputs("pool_size = 0;\n", f); /* out of range (and a duplicate) */
	fclose(f);
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert_eq(server_wait_notify(&srv, "RELOADING=1", 5000), 0);
	cr_assert_eq(server_wait_notify(&srv, "READY=1", 5000), 0, "READY=1 even when rejected");
	cr_assert_eq(server_wait_notify(&srv, "reload rejected", 5000), 0, "said in STATUS");
	cr_assert(wait_log("reload rejected", 2000));
	cr_assert(server_log_contains(&srv, "mthttpd.conf:"), "the error names file:line");
	cr_assert_eq(status_of(fd, "localhost"), 200, "the old configuration still serves");
	close(fd);
	/* a later valid reload works again */
	server_write_config(&srv, &opts, srv.port);
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert(wait_log("configuration reloaded", 5000));
}

/* Bad configuration at reload: a missing file, a document_root that does
 * not exist, a syntax error.  Each is rejected and the service goes on. */
Test(notify, every_bad_reload_is_rejected)
{
	static const char *bad[] = {
		"document_root = \"/nonexistent/www\";",
		"port = ;",
		"no_such_key = 1;",
		"allowed_hosts = [\"bad host\"];",
	};
	char moved[320];
	struct http_resp r;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char buf[64];
		struct server_opts o = opts;

		o.extra = bad[i];
		server_write_config(&srv, &o, srv.port);
		while (recv(srv.notify_fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
			;
		cr_assert_eq(kill(srv.pid, SIGHUP), 0);
		cr_assert_eq(server_wait_notify(&srv, "reload rejected", 5000), 0, "%s", bad[i]);
		cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
		cr_assert_eq(r.status, 200, "still serving after '%s'", bad[i]);
		http_resp_free(&r);
	}
	snprintf(moved, sizeof moved, "%s.gone", srv.conf);
	cr_assert_eq(rename(srv.conf, moved), 0);
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert(wait_log("cannot open", 5000), "a missing file is rejected");
	cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
	cr_assert_eq(r.status, 200);
	http_resp_free(&r);
}

/* Signals at bad times: HUP and USR1 while stopping, TERM twice. */
Test(notify, signals_during_stop)
{
	cr_assert_eq(kill(srv.pid, SIGTERM), 0);
	kill(srv.pid, SIGHUP);
	kill(srv.pid, SIGUSR1);
	kill(srv.pid, SIGTERM);
	cr_assert_eq(server_wait_notify(&srv, "STOPPING=1", 5000), 0);
	/* fini: exit status 0 */
}

Test(notify, reload_resizes_the_pool)
{
	struct http_resp r;

	opts.pool_size = 7;
	opts.queue_size = 9;
	server_write_config(&srv, &opts, srv.port);
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert(wait_log("pool resized: 7 workers (was 4), queue of 9", 5000));
	cr_assert_eq(server_wait_notify(&srv, "/7 busy, queue 0/9", 7000), 0);
	opts.pool_size = 2;
	server_write_config(&srv, &opts, srv.port);
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert(wait_log("pool resized: 2 workers (was 7)", 5000));
	for (int i = 0; i < 20; i++) {
		cr_assert_eq(http_get(&srv, "GET", "/about.html", &r), 0);
		cr_assert_eq(r.status, 200);
		http_resp_free(&r);
	}
}

Test(notify, activated_port_change_is_logged_not_applied)
{
	struct http_resp r;

	server_write_config(&srv, &opts, srv.port + 1);
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert(wait_log("belong to mthttpd.socket", 5000));
	cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
	cr_assert_eq(r.status, 200);
	http_resp_free(&r);
}

/* Reloads under load: the configuration alternates between two document
 * roots whose /sample.txt differ, while several clients (keep-alive and
 * new connections) fetch it.  Every response must be a whole 200 of one
 * of the two versions, none may fail, both must be seen, and after each
 * RELOADING=1 ... READY=1 a new connection gets the new version. */
enum { STORM_CLIENTS = 6, STORM_RELOADS = 16 };


struct storm_client {
	pthread_t th;
	bool keepalive;
	unsigned seen[2], failures;
	char why[200];
};

static atomic_bool storm_stop;

static void *storm_client_main(void *arg)
{
	struct storm_client *c = arg;
	int fd = -1;

	while (!atomic_load(&storm_stop) && c->failures == 0) {
		struct http_resp r;
		int v = -1;

		if (fd < 0)
			fd = http_connect(srv.port);
		send_str(fd, fmt("GET /sample.txt HTTP/1.1\r\nHost: localhost:%u\r\n%s\r\n",
				 srv.port, c->keepalive ? "" : "Connection: close\r\n"));
		if (http_read(fd, &r, false) != 0) {
			snprintf(c->why, sizeof c->why, "no complete response");
			c->failures++;
			break;
		}
		for (int k = 0; k < 2; k++)
			if (r.body_len == strlen(storm_body[k]) &&
			    memcmp(r.body, storm_body[k], r.body_len) == 0)
				v = k;
		if (r.status != 200 || v < 0) {
			snprintf(c->why, sizeof c->why, "status %d, body '%.40s'", r.status,
				 r.body ? r.body : "");
			c->failures++;
		} else {
			c->seen[v]++;
		}
		/* max_requests ends a keep-alive connection now and then */
		if (!c->keepalive || strcasestr(r.head, "Connection: close")) {
			close(fd);
			fd = -1;
		}
		http_resp_free(&r);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

Test(notify, reload_storm_under_load, .timeout = 120)
{
	struct storm_client c[STORM_CLIENTS];
	char roots[2][sizeof srv.dir + 16];
	unsigned total[2] = { 0, 0 };

	for (int k = 0; k < 2; k++) {
		snprintf(roots[k], sizeof roots[k], "%s/root-%c", srv.dir, 'a' + k);
		cr_assert_eq(mkdir(roots[k], 0755), 0);
		write_text(fmt("%s/sample.txt", roots[k]), storm_body[k]);
	}
	snprintf(srv.docroot, sizeof srv.docroot, "%s", roots[0]);
	server_write_config(&srv, &opts, srv.port);
	reload_and_wait();
	expect_version(0);

	memset(c, 0, sizeof c);
	atomic_store(&storm_stop, false);
	for (int i = 0; i < STORM_CLIENTS; i++) {
		c[i].keepalive = i % 2 == 0;
		cr_assert_eq(pthread_create(&c[i].th, NULL, storm_client_main, &c[i]), 0);
	}
	for (int i = 1; i <= STORM_RELOADS; i++) {
		snprintf(srv.docroot, sizeof srv.docroot, "%s", roots[i % 2]);
		server_write_config(&srv, &opts, srv.port);
		reload_and_wait();
		expect_version(i % 2);
	}
	atomic_store(&storm_stop, true);
	for (int i = 0; i < STORM_CLIENTS; i++) {
		pthread_join(c[i].th, NULL);
		cr_expect_eq(c[i].failures, 0, "client %d (%s): %s", i,
			     c[i].keepalive ? "keep-alive" : "new connections", c[i].why);
		total[0] += c[i].seen[0];
		total[1] += c[i].seen[1];
	}
	cr_assert_gt(total[0], 0, "no client saw version A");
	cr_assert_gt(total[1], 0, "no client saw version B");
	cr_log_info("reload storm: %u responses of A, %u of B over %d reloads", total[0],
		    total[1], STORM_RELOADS);
}

/* Graceful stop: a large download in flight completes. */
Test(notify, sigterm_lets_a_download_finish, .timeout = 60)
{
	const off_t size = 64 << 20;
	char path[512], req[256], buf[1 << 16];
	struct http_resp r;
	off_t got = 0;
	int fd, ffd;

	/* a sparse file in the uploads dir's sibling: own docroot is not set,
	 * so write it into a fresh server with its own docroot */
	server_stop(&srv);
	memset(&opts, 0, sizeof opts);
	opts.own_docroot = true;
	server_start(&srv, &opts);
	snprintf(path, sizeof path, "%s/big.bin", srv.docroot);
	ffd = open(path, O_WRONLY | O_CREAT, 0644);
	cr_assert_eq(ftruncate(ffd, size), 0);
	close(ffd);

	fd = http_connect(srv.port);
	/* a small receive buffer keeps most of the file on the server side */
	{
		int small = 64 << 10;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	}
	snprintf(req, sizeof req, "GET /big.bin HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port);
	send_str(fd, req);
	cr_assert_eq(http_read(fd, &r, true), 0);
	cr_assert_eq(r.status, 200);
	http_resp_free(&r);
	got = recv(fd, buf, sizeof buf, 0);
	cr_assert_gt(got, 0);

	cr_assert_eq(kill(srv.pid, SIGTERM), 0);
	cr_assert_eq(server_wait_notify(&srv, "STOPPING=1", 5000), 0);
	while (got < size) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		cr_assert_gt(n, 0, "download cut after %lld bytes", (long long)got);
		got += n;
	}
	close(fd);
	/* server_stop (fini) asserts exit status 0 */
}

static bool file_contains(const char *path, const char *needle, int ms)
{
	for (int i = 0; i <= ms / 50; i++) {
		char *data = read_whole(path, NULL);
		bool found = data && strstr(data, needle);
		free(data);
		if (found)
			return true;
		usleep(50000);
	}
	return false;
}

static void with_access_file(void)
{
	memset(&opts, 0, sizeof opts);
	opts.extra = "access_log = \"access.log\";";
	server_start(&srv, &opts);
}

/* access_log = a file: Combined Log Format, buffered (flushed within about a
 * second), reopened on SIGUSR1 after logrotate renamed it. */
Test(accesslog, file_in_combined_format_reopened_on_usr1, .init = with_access_file,
     .fini = stop, .timeout = 30)
{
	char path[320], rotated[330];
	struct http_resp r;
	int fd;

	snprintf(path, sizeof path, "%s/access.log", srv.dir);
	snprintf(rotated, sizeof rotated, "%s.1", path);
	fd = http_connect(srv.port);
	send_str(fd, fmt("GET /about.html HTTP/1.1\r\nHost: localhost:%u\r\n"
			 "User-Agent: test-agent/1.0\r\nReferer: http://localhost/\r\n\r\n",
			 srv.port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	http_resp_free(&r);
	close(fd);
	cr_assert(file_contains(path, "\"GET /about.html HTTP/1.1\" 200 ", 3000),
		  "no CLF line in %s", path);
	cr_assert(file_contains(path, "\"http://localhost/\" \"test-agent/1.0\"", 100));
	cr_assert(file_contains(path, "127.0.0.1 - - [", 100));
	cr_assert(!server_log_contains(&srv, "\"GET /about.html HTTP/1.1\" 200"),
		  "request lines go to the file, not the main log");

	cr_assert_eq(rename(path, rotated), 0);
	cr_assert_eq(kill(srv.pid, SIGUSR1), 0);
	cr_assert(wait_log("access log reopened", 3000));
	cr_assert_eq(http_get(&srv, "GET", "/contact.html", &r), 0);
	http_resp_free(&r);
	cr_assert(file_contains(path, "GET /contact.html", 3000), "new file after reopen");
	cr_assert(!file_contains(rotated, "GET /contact.html", 0));
}

static void with_access_off(void)
{
	memset(&opts, 0, sizeof opts);
	opts.extra = "access_log = \"off\";";
	server_start(&srv, &opts);
}

Test(accesslog, off_logs_no_request_lines, .init = with_access_off, .fini = stop, .timeout = 30)
{
	struct http_resp r;

	cr_assert_eq(http_get(&srv, "GET", "/about.html", &r), 0);
	cr_assert_eq(r.status, 200);
	http_resp_free(&r);
	cr_assert_eq(http_get(&srv, "GET", "/../x", &r), 0);
	cr_assert_eq(r.status, 403);
	http_resp_free(&r);
	cr_assert(wait_log("security:", 2000), "security rejections are still logged");
	cr_assert(!server_log_contains(&srv, "\"GET /about.html HTTP/1.1\" 200"));
}

static void with_watchdog(void)
{
	memset(&opts, 0, sizeof opts);
	opts.watchdog_usec = 400000;
	server_start(&srv, &opts);
}

Test(watchdog, pings_while_workers_answer, .init = with_watchdog, .fini = stop, .timeout = 30)
{
	for (int i = 0; i < 3; i++)
		cr_assert_eq(server_wait_notify(&srv, "WATCHDOG=1", 3000), 0, "ping %d", i);
	cr_assert(wait_log("watchdog enabled", 1000));
}

static pid_t worker_tid(pid_t pid, const char *comm)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	pid_t tid = 0;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	d = opendir(path);
	cr_assert_not_null(d);
	while ((e = readdir(d)) && !tid) {
		char p2[600], name[64] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p2, sizeof p2, "%s/%s/comm", path, e->d_name);
		f = fopen(p2, "r");
		if (f && fgets(name, sizeof name, f) && strncmp(name, comm, strlen(comm)) == 0)
			tid = (pid_t)atoi(e->d_name);
		if (f)
			fclose(f);
	}
	closedir(d);
	return tid;
}

static void one_worker_watchdog(void)
{
	memset(&opts, 0, sizeof opts);
	opts.pool_size = 1;
	opts.watchdog_usec = 400000;
	server_start(&srv, &opts);
}

/* The pings prove that workers make progress, not that a timer runs: with
 * the only worker thread stopped (ptrace stops that one thread; the main
 * thread runs on) no ping may come, and they resume when it does. */
Test(watchdog, no_ping_while_the_pool_is_stuck, .init = one_worker_watchdog, .fini = stop,
     .timeout = 30)
{
	pid_t tid;
	char buf[512];
	int st;

	cr_assert_eq(server_wait_notify(&srv, "WATCHDOG=1", 3000), 0);
	tid = worker_tid(srv.pid, "mthttpd-w1");
	cr_assert_gt(tid, 0, "worker thread not found");
	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0)
		cr_skip_test("ptrace not permitted here: %s", strerror(errno));
	cr_assert_eq(ptrace(PTRACE_INTERRUPT, tid, NULL, NULL), 0);
	cr_assert_eq(waitpid(tid, &st, __WALL), tid);
	usleep(300000); /* a probe posted before the stop may still be answered */
	while (recv(srv.notify_fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
		;
	cr_assert_neq(server_wait_notify(&srv, "WATCHDOG=1", 1500), 0,
		      "pinged while no worker could answer");
	cr_assert(server_log_contains(&srv, "watchdog probe"), "the stall is logged");
	cr_assert_eq(ptrace(PTRACE_DETACH, tid, NULL, NULL), 0);
	cr_assert_eq(server_wait_notify(&srv, "WATCHDOG=1", 3000), 0, "pings resume");
}

static void self_bound(void)
{
	memset(&opts, 0, sizeof opts);
	opts.self_bind = true;
	server_start(&srv, &opts);
}

/* Not socket-activated: the daemon bound the port itself, so a changed
 * port applies on reload. */
Test(selfbind, reload_moves_to_a_new_port, .init = self_bound, .fini = stop, .timeout = 30)
{
	struct http_resp r;
	unsigned old = srv.port, port = free_port();

	cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
	cr_assert_eq(r.status, 200);
	http_resp_free(&r);
	server_write_config(&srv, &opts, port);
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert(wait_log(fmt("listening on 127.0.0.1:%u", port), 5000));
	srv.port = port;
	cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
	cr_assert_eq(r.status, 200, "served on the new port with Host :%u", port);
	http_resp_free(&r);
	cr_assert(wait_log(fmt("no longer listening on 127.0.0.1:%u", old), 2000));
}

/* ---- `mthttpd --reload` (ExecReload=): returns once the new file serves -- */

static void start_with_runtime_dir(void)
{
	memset(&opts, 0, sizeof opts);
	opts.runtime_dir = true;
	server_start(&srv, &opts);
}

/* Read what the daemon sent to the notify socket, as systemd does (a full
 * socket would block its sd_notify()). */
static void drain_notify(void)
{
	char buf[4096];

	while (recv(srv.notify_fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
		;
}

/* Runs `mthttpd -c CONF --reload` as systemd's ExecReload= would (with
 * $MAINPID and $RUNTIME_DIRECTORY); returns its exit status, its output in
 * OUT. */
static int run_reload_client(char *out, size_t cap)
{
	const char *bin = getenv("MTHTTPD_BIN") ? getenv("MTHTTPD_BIN") : MTHTTPD_BIN_DEFAULT;
	char cmd[1200];
	FILE *p;
	size_t n;
	int st;

	snprintf(cmd, sizeof cmd, "MAINPID=%ld RUNTIME_DIRECTORY='%s' '%s' -c '%s' --reload 2>&1",
		 (long)srv.pid, srv.dir, bin, srv.conf);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	st = pclose(p);
	cr_assert(WIFEXITED(st), "reload client died: %s", out);
	drain_notify();
	return WEXITSTATUS(st);
}

/* Two configurations that differ visibly: whether .html files are sent as
 * attachments.  Each reload is followed at once by a request on a new
 * connection, which must see the configuration just loaded: 40 in a row. */
Test(reloadwait, each_reload_is_in_force_when_the_client_returns,
     .init = start_with_runtime_dir, .fini = stop, .timeout = 120)
{
	char out[1024], cd[256];
	struct http_resp r;

	for (int i = 0; i < 40; i++) {
		bool attach = i % 2 == 0;

		opts.extra = attach ? "download_extensions = [\"html\", \"png\"];"
				    : "download_extensions = [\"png\"];";
		server_write_config(&srv, &opts, srv.port);
		cr_assert_eq(run_reload_client(out, sizeof out), 0, "reload %d: %s", i, out);
		cr_assert(strstr(out, "reloaded (generation"), "%s", out);
		cr_assert_eq(http_get(&srv, "GET", "/about.html", &r), 0);
		cr_assert_eq(r.status, 200);
		cr_assert_eq(http_header(&r, "Content-Disposition", cd, sizeof cd), attach,
			     "reload %d: the request after the reload saw the old configuration",
			     i);
		http_resp_free(&r);
	}
}

static int count_in_log(const char *needle)
{
	char *log = read_whole(srv.log, NULL);
	int n = 0;

	for (const char *p = log; p && (p = strstr(p, needle)); p++)
		n++;
	free(log);
	return n;
}

/* A file the daemon rejects (valid syntax, but a document_root it cannot
 * open): the client exits 1 with the daemon's reason, the old one serves. */
Test(reloadwait, a_rejected_reload_fails_the_client, .init = start_with_runtime_dir,
     .fini = stop, .timeout = 30)
{
	char out[1024];
	struct http_resp r;
	char good[sizeof srv.docroot];

	memcpy(good, srv.docroot, sizeof good);
	snprintf(srv.docroot, sizeof srv.docroot, "%s/no-such-dir", srv.dir);
	server_write_config(&srv, &opts, srv.port);
	memcpy(srv.docroot, good, sizeof good);
	cr_assert_eq(run_reload_client(out, sizeof out), 1, "%s", out);
	cr_assert(strstr(out, "reload rejected:") && strstr(out, "no-such-dir"), "%s", out);
	cr_assert_eq(http_get(&srv, "GET", "/about.html", &r), 0);
	cr_assert_eq(r.status, 200, "the old configuration still serves");
	http_resp_free(&r);

	/* a syntax error never reaches the daemon: checked first */
	opts.extra = "pool_size = ;";
	server_write_config(&srv, &opts, srv.port);
	cr_assert_eq(run_reload_client(out, sizeof out), 1, "%s", out);
	cr_assert(strstr(out, "mthttpd.conf:"), "file:line named: %s", out);
	cr_assert_eq(count_in_log("reload rejected"), 1, "no second SIGHUP was sent");
}

Test(reloadwait, without_runtime_directory_the_client_says_so, .init = start_default,
     .fini = stop, .timeout = 30)
{
	const char *bin = getenv("MTHTTPD_BIN") ? getenv("MTHTTPD_BIN") : MTHTTPD_BIN_DEFAULT;
	char cmd[1024], out[512] = "";
	FILE *p;
	int st;

	snprintf(cmd, sizeof cmd, "env -u RUNTIME_DIRECTORY '%s' -c '%s' --reload 2>&1", bin,
		 srv.conf);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	out[fread(out, 1, sizeof out - 1, p)] = '\0';
	st = pclose(p);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s", out);
	cr_assert(strstr(out, "RUNTIME_DIRECTORY"), "%s", out);
}

/* ---- the access log on a full disk ------------------------------------------- */

static void with_small_log_tmpfs(void)
{
	memset(&opts, 0, sizeof opts);
	opts.logs_tmpfs_kb = 64;
	opts.extra = "access_log = \"logs/access.log\";";
	server_start(&srv, &opts);
}

static size_t lines_in(const char *path)
{
	size_t len = 0, n = 0;
	char *data = read_whole(path, &len);

	for (size_t i = 0; data && i < len; i++)
		n += data[i] == '\n';
	free(data);
	return n;
}

static void get_ok(const char *path)
{
	struct http_resp r;

	cr_assert_eq(http_get(&srv, "GET", path, &r), 0);
	cr_assert_eq(r.status, 200, "the server keeps serving");
	http_resp_free(&r);
}

/* The log directory fills up: requests are still served, the lost records
 * are counted in STATUS= and warned about, and once there is room again the
 * records are written again. */
Test(accesslog, disk_full_counts_drops_and_resumes_when_space_returns,
     .init = with_small_log_tmpfs, .fini = stop, .timeout = 60)
{
	char access[300], filler[300], zeros[4096] = { 0 };
	int64_t end;
	int fd;

	snprintf(access, sizeof access, "%s/access.log", srv.logs);
	snprintf(filler, sizeof filler, "%s/filler", srv.logs);
	/* (the log is still empty: a block of its own would leave room) */
	/* fill the file system to the last block */
	fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	while (write(fd, zeros, sizeof zeros) > 0)
		;
	while (write(fd, zeros, 1) > 0)
		;
	cr_assert_eq(errno, ENOSPC);
	close(fd);

	for (int i = 0; i < 20; i++)
		get_ok("/about.html");
	cr_assert_eq(server_wait_notify(&srv, "20 log records dropped", 15000), 0,
		     "STATUS= counts the 20 records that found no room");
	cr_assert(wait_log("records dropped (No space left on device)", 3000),
		  "a warning in the main log");
	cr_assert_eq(lines_in(access), 0);

	/* room again: records are written again, nothing more is dropped */
	cr_assert_eq(unlink(filler), 0);
	for (int i = 0; i < 5; i++)
		get_ok("/contact.html");
	end = harness_now_ms() + 5000;
	while (lines_in(access) < 5 && harness_now_ms() < end)
		usleep(20000);
	cr_assert_eq(lines_in(access), 5);
	cr_assert_eq(server_wait_notify(&srv, "20 log records dropped", 8000), 0);
}
