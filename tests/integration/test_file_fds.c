/* test_file_fds.c - the real daemon and the file cache's kept fds (files
 * over FILE_CACHE_FILE_MAX, file_cache.h): a file replaced or truncated
 * while its fd is kept is never sent stale, a reload drops the kept fds
 * with the old cache, N GETs of one large file do not open it N times, and
 * a slow reader's full socket is waited for, not retried with sendfile(2)
 * (both counted with strace attached to the daemon). */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MID (200 * 1000) /* the benchmark's mid.bin: well over 64 KiB */

static struct server srv;

static void own_root(void)
{
	struct server_opts o = { .own_docroot = true };
	server_start(&srv, &o);
}

static void stop(void)
{
	server_stop(&srv);
}

/* LEN bytes of C as NAME in the docroot, written aside and renamed over it
 * (a new inode) or rewritten in place; mtime set to MTIME (seconds), so a
 * replacement can keep size and mtime and differ only in its inode. */
static void put_file(const char *name, char c, size_t len, bool rename_over, time_t mtime)
{
	const char *path = fmt("%s/%s", srv.docroot, name);
	const char *tmp = fmt("%s/.%s.tmp", srv.docroot, name);
	struct timespec ts[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };
	char *data = malloc(len);
	int fd;

	cr_assert_not_null(data);
	memset(data, c, len);
	fd = open(rename_over ? tmp : path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0, "%s", strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	cr_assert_eq(futimens(fd, ts), 0);
	close(fd);
	if (rename_over)
		cr_assert_eq(rename(tmp, path), 0, "%s", strerror(errno));
	free(data);
}

/* GET /NAME on FD (keep-alive): 200 with LEN bytes, every one C */
static void expect_get(int fd, const char *name, char c, size_t len)
{
	struct http_resp r;

	send_str(fd, fmt("GET /%s HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", name, srv.port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body_len, len, "%zu bytes, want %zu", r.body_len, len);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(r.body[i], c, "byte %zu is '%c', want '%c' (stale)", i, r.body[i], c);
	http_resp_free(&r);
}

/* How many of the daemon's fds are open on the docroot's NAME now. */
static int daemon_fds_on(const char *name)
{
	char dir[64], link[600], want[512];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(dir, sizeof dir, "/proc/%ld/fd", (long)srv.pid);
	snprintf(want, sizeof want, "%s/%s", srv.docroot, name);
	d = opendir(dir);
	cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		char p[400];
		ssize_t len;

		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		len = readlink(p, link, sizeof link - 1);
		if (len < 0)
			continue;
		link[len] = '\0';
		n += strcmp(link, want) == 0;
	}
	closedir(d);
	return n;
}

TestSuite(fds, .init = own_root, .fini = stop, .timeout = 120);

Test(fds, large_file_renamed_over_while_cached)
{
	int fd = http_connect(srv.port);

	put_file("mid.bin", 'a', MID, false, 1000000);
	expect_get(fd, "mid.bin", 'a', MID);
	expect_get(fd, "mid.bin", 'a', MID);
	cr_expect_eq(daemon_fds_on("mid.bin"), 1, "the cache keeps one fd");
	/* same size, same mtime, another inode: only the name check tells */
	put_file("mid.bin", 'b', MID, true, 1000000);
	expect_get(fd, "mid.bin", 'b', MID);
	expect_get(fd, "mid.bin", 'b', MID);
	close(fd);
}

Test(fds, large_file_truncated_while_cached)
{
	int fd = http_connect(srv.port);

	put_file("mid.bin", 'a', MID, false, 1000000);
	expect_get(fd, "mid.bin", 'a', MID);
	/* in place: the kept fd is of the same inode and sees it shrink */
	cr_assert_eq(truncate(fmt("%s/mid.bin", srv.docroot), 150000), 0);
	expect_get(fd, "mid.bin", 'a', 150000);
	cr_assert_eq(truncate(fmt("%s/mid.bin", srv.docroot), 1000), 0);
	expect_get(fd, "mid.bin", 'a', 1000);
	close(fd);
}

Test(fds, reload_drops_the_kept_fds)
{
	int fd = http_connect(srv.port), n = -1;

	put_file("mid.bin", 'a', MID, false, 1000000);
	expect_get(fd, "mid.bin", 'a', MID);
	close(fd); /* no connection holds the old site */
	cr_assert_eq(daemon_fds_on("mid.bin"), 1);
	kill(srv.pid, SIGHUP);
	cr_assert_geq(server_wait_notify(&srv, "READY=1", 5000), 0);
	/* the old site goes when the closed connection's worker lets it go */
	for (int i = 0; i < 250 && (n = daemon_fds_on("mid.bin")) != 0; i++)
		usleep(20000);
	cr_expect_eq(n, 0, "the old generation's cache still holds its fd");
	fd = http_connect(srv.port);
	expect_get(fd, "mid.bin", 'a', MID);
	cr_expect_eq(daemon_fds_on("mid.bin"), 1, "the new generation keeps its own");
	close(fd);
}

/* strace attached to the daemon, tracing the opens and stats */
static pid_t strace_pid = -1;

static void count_lines(const char *log, const char *name, int *opens, int *stats)
{
	char line[1024];
	FILE *f = fopen(log, "r");

	cr_assert_not_null(f);
	*opens = *stats = 0;
	while (fgets(line, sizeof line, f)) {
		if (!strstr(line, name))
			continue;
		if (strstr(line, "open"))
			(*opens)++;
		else if (strstr(line, "stat"))
			(*stats)++;
	}
	fclose(f);
}

static void strace_end(void)
{
	strace_stop(&strace_pid);
	stop();
}

#define GETS 50

Test(fds, repeated_gets_do_not_reopen_the_file, .fini = strace_end)
{
	const char *log = fmt("%s/strace.log", srv.dir);
	char logbuf[512];
	int fd, opens, stats;

	snprintf(logbuf, sizeof logbuf, "%s", log);
	put_file("mid.bin", 'a', MID, false, 1000000);
	strace_pid = strace_start(&srv,
				  "trace=openat2,openat,open,newfstatat,fstatat64,statx,stat,lstat",
				  logbuf, false);
	fd = http_connect(srv.port);
	for (int i = 0; i < GETS; i++)
		expect_get(fd, "mid.bin", 'a', MID);
	close(fd);
	cr_assert(strace_probe(&srv, logbuf, "strace-done"), "strace fell behind");
	count_lines(logbuf, "mid.bin", &opens, &stats);
	/* once when first looked up, and again at most once per second of
	 * the TTL's revalidation; without the kept fd it was GETS opens */
	cr_expect_geq(opens, 1, "the first GET opens it");
	cr_expect_leq(opens, GETS / 10, "%d GETs of a 200 KB file opened it %d times", GETS, opens);
	/* and every send checked that the name is still that file */
	cr_expect_geq(stats, GETS, "%d name checks for %d GETs", stats, GETS);
}

/* Counts the traced calls of SYSCALL in LOG, and those of them that moved
 * nothing because the socket was full. */
static void count_sends(const char *log, const char *syscall, int *calls, int *eagain)
{
	char line[1024], call[32], resumed[48];
	FILE *f = fopen(log, "r");

	cr_assert_not_null(f);
	snprintf(call, sizeof call, "%s(", syscall);
	/* (strace -f splits a call that another thread interrupts) */
	snprintf(resumed, sizeof resumed, "<... %s resumed>", syscall);
	*calls = *eagain = 0;
	while (fgets(line, sizeof line, f)) {
		bool is_call = strstr(line, call) != NULL;

		if (!is_call && !strstr(line, resumed))
			continue;
		*calls += is_call;
		if (strstr(line, "EAGAIN"))
			(*eagain)++;
	}
	fclose(f);
}

#define SLOW_FILE (24u << 20)

/* A client that reads a large file slowly fills the socket again and
 * again.  A send of the body that moved less than it could means a full
 * socket (an EPOLLOUT edge follows), so the daemon waits for it: it never
 * makes the call that can only fail with EAGAIN, which costs a chunk of
 * the file read and dropped (sendfile(2): a pipe's worth of pages; the
 * copy: a pread).  nginx and lighttpd wait likewise.  SYSCALL: the one
 * that sends the body (sendfile, or sendto for the copy). */
static void slow_reader_is_waited_for(const char *syscall)
{
	const char *log = fmt("%s/strace.log", srv.dir);
	char logbuf[512], trace[128];
	size_t cap = SLOW_FILE + 4096, got = 0, head = 0;
	char *buf = malloc(cap);
	int fd, rcvbuf = 64 * 1024, calls, eagain;
	struct timespec t0, now;

	cr_assert_not_null(buf);
	snprintf(logbuf, sizeof logbuf, "%s", log);
	snprintf(trace, sizeof trace, "trace=%s,openat2,openat,newfstatat,statx", syscall);
	put_file("big.bin", 'z', SLOW_FILE, false, 1000000);
	strace_pid = strace_start(&srv, trace, logbuf, false);
	fd = http_connect(srv.port);
	/* a small receive buffer: the daemon's socket fills many times */
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
	send_str(fd, fmt("GET /big.bin HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ssize_t n = read(fd, buf + got, cap - got < 65536 ? cap - got : 65536);

		cr_assert_gt(n, 0, "the response ended after %zu bytes", got);
		got += (size_t)n;
		if (!head) {
			char *end = memmem(buf, got, "\r\n\r\n", 4);
			if (end)
				head = (size_t)(end + 4 - buf);
		}
		if (head && got >= head + SLOW_FILE)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		cr_assert_lt(now.tv_sec - t0.tv_sec, 60, "still reading after 60 s");
		usleep(500); /* slower than the daemon can send */
	}
	close(fd);
	cr_assert(strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "%.40s", buf);
	cr_assert_eq(got, head + SLOW_FILE);
	for (size_t i = head; i < got; i++)
		cr_assert_eq(buf[i], 'z', "byte %zu of the body", i - head);
	free(buf);
	cr_assert(strace_probe(&srv, logbuf, "strace-done"), "strace fell behind");
	count_sends(logbuf, syscall, &calls, &eagain);
	/* the socket filled: more than one call, each after the last drained */
	cr_expect_geq(calls, 4, "%d %s(2) calls for 24 MiB to a slow reader", calls, syscall);
	cr_expect_eq(eagain, 0, "%d of %d %s(2) calls found the socket full", eagain, calls,
		     syscall);
}

Test(fds, a_full_socket_is_waited_for_not_retried, .fini = strace_end)
{
	slow_reader_is_waited_for("sendfile");
}

static void own_root_copying(void)
{
	struct server_opts o = { .own_docroot = true, .extra = "sendfile = \"never\";\n" };
	server_start(&srv, &o);
}

/* the same where the body is read and sent (sendfile = "never") */
Test(fds, a_full_socket_is_waited_for_when_copying, .init = own_root_copying,
     .fini = strace_end)
{
	slow_reader_is_waited_for("sendto");
}
