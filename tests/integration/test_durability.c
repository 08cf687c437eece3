/* test_durability.c - what survives a crash, and what a stalled client costs.
 *
 * kill9.uploads_survive: 64 clients upload distinct JSON bodies in a loop;
 * the daemon is SIGKILLed at a random moment.  Every upload that was
 * answered 201 must then be on disk byte-exact, nothing partial or temporary
 * may be visible, and a daemon started again on the same directory removes
 * stale temporary files and serves what was stored.
 *
 * synced.*: the daemon runs with syncshim.so preloaded, and every 201 must
 * follow a durable file (O_DSYNC or an fsync after the last write) and a
 * directory fsync that started after the link: what kill -9 cannot show.
 *
 * stall.*: a client that stops reading a large download parks in epoll and
 * holds no worker, so with pool_size = 1 another client is still answered
 * at once.
 *
 * Bodies are a pure function of (seed, client, sequence number), so any
 * file found afterwards can be checked byte for byte without keeping what
 * was sent.  The seed is logged; MTH_DURABILITY_SEED=N replays one. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#ifndef MTHTTPD_BIN_DEFAULT
#define MTHTTPD_BIN_DEFAULT "mthttpd"
#endif

static struct server srv;
static bool srv_running; /* srv.pid is a live daemon server_stop() may stop */
static bool srv_dir_live; /* srv.dir still exists */



/* Teardown that works whatever state a failed assertion left behind. */
static void teardown(void)
{
	if (srv_running) {
		srv_running = false;
		srv_dir_live = false;
		server_stop(&srv);
		return;
	}
	if (srv.pid > 0) {
		kill(srv.pid, SIGKILL);
		waitpid(srv.pid, NULL, 0);
		srv.pid = 0;
	}
	if (srv_dir_live) {
		srv_dir_live = false;
		if (srv.notify_fd > 0)
			close(srv.notify_fd);
		harness_rm_rf(srv.dir);
	}
}

/* ---------------------------------------------------- deterministic bodies */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

enum { BODY_MIN = 1024, BODY_MAX = 64 * 1024 };

/* The body client ID sends as its upload number SEQ: 1..64 KiB of valid
 * JSON that names both.  BUF holds BODY_MAX bytes; returns the length. */
static size_t make_body(uint64_t seed, unsigned id, unsigned seq, char *buf)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	uint64_t x = seed ^ ((uint64_t)id << 40) ^ ((uint64_t)seq * 0x100000001b3ULL);
	size_t len = BODY_MIN + splitmix(&x) % (BODY_MAX - BODY_MIN + 1);
	int n = snprintf(buf, BODY_MAX, "{\"client\":%u,\"seq\":%u,\"pad\":\"", id, seq);
	size_t i = (size_t)n;

	while (i < len - 2) {
		uint64_t r = splitmix(&x);
		for (int k = 0; k < 8 && i < len - 2; k++, r >>= 8)
			buf[i++] = alphabet[(r & 0xff) % (sizeof alphabet - 1)];
	}
	buf[i++] = '"';
	buf[i++] = '}';
	return len;
}

/* ------------------------------------------------------------ upload clients */

enum { CLIENTS = 64, MAX_ACKS = 4096 };

struct ack {
	unsigned seq;
	char name[64]; /* the Location's file name */
};

struct client {
	pthread_t th;
	unsigned id;
	unsigned attempted; /* sequence numbers 1..attempted were (partly) sent */
	_Atomic unsigned nacks; /* written by the client, polled by the test */
	struct ack *acks;
	unsigned acks_after_kill; /* 201s read after the SIGKILL (sent before it) */
	unsigned bad_status;      /* anything but 201 before the kill */
	int last_bad;
	unsigned connects;
};

static atomic_bool killed;
static atomic_bool stop_clients;
static uint64_t run_seed;
static unsigned run_port;

static int raw_connect(unsigned port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { 5, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* No Criterion assertions in here: they are only safe on the test's own
 * thread.  Problems are counted and asserted after the join. */
static void *upload_client(void *arg)
{
	struct client *c = arg;
	char *body = malloc(BODY_MAX);
	int fd = -1;

	if (!body)
		return NULL;
	while (!atomic_load(&stop_clients) && c->nacks < MAX_ACKS) {
		char head[256], loc[256], conn[64];
		struct http_resp r;
		unsigned seq;
		size_t len;
		int hl;

		if (fd < 0) {
			fd = raw_connect(run_port);
			if (fd < 0) {
				if (atomic_load(&killed))
					break;
				usleep(1000);
				continue;
			}
			c->connects++;
		}
		r.body = NULL;
		seq = ++c->attempted;
		len = make_body(run_seed, c->id, seq, body);
		hl = snprintf(head, sizeof head,
			      "POST /upload HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
			      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
			      run_port, len);
		if (!send_some(fd, head, (size_t)hl) || !send_some(fd, body, len) ||
		    http_read(fd, &r, false) != 0) {
			free(r.body); /* a body cut short is still allocated */
			/* only the kill may break a connection */
			if (!atomic_load(&killed)) {
				c->bad_status++;
				c->last_bad = -1;
			}
			close(fd);
			fd = -1;
			if (atomic_load(&killed))
				break;
			continue;
		}
		if (r.status == 201 && http_header(&r, "Location", loc, sizeof loc) &&
		    strncmp(loc, "/uploads/", 9) == 0 && strlen(loc + 9) < sizeof c->acks[0].name) {
			struct ack *a = &c->acks[c->nacks];
			a->seq = seq;
			strcpy(a->name, loc + 9);
			c->nacks++;
			if (atomic_load(&killed))
				c->acks_after_kill++;
		} else {
			c->bad_status++;
			c->last_bad = r.status;
		}
		if (http_header(&r, "Connection", conn, sizeof conn) && !strcasecmp(conn, "close")) {
			close(fd);
			fd = -1;
		}
		http_resp_free(&r);
	}
	if (fd >= 0)
		close(fd);
	free(body);
	return NULL;
}

/* ------------------------------------------------------------ the checks */

/* upload_YYYYmmddTHHMMSSZ_<16 lowercase hex>.json */
static bool is_upload_name(const char *s)
{
	static const char tmpl[] = "upload_########T######Z_%%%%%%%%%%%%%%%%.json";

	if (strlen(s) != sizeof tmpl - 1)
		return false;
	for (size_t i = 0; tmpl[i]; i++) {
		char t = tmpl[i], c = s[i];
		if (t == '#' ? !(c >= '0' && c <= '9')
		    : t == '%' ? !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
			       : c != t)
			return false;
	}
	return true;
}

/* The daemon's temporary files (".mthttpd-tmp.<host>.<pid>.<hex>"), and
 * an older version's (".upload-*.tmp"). */
static bool is_temp_name(const char *s)
{
	size_t n = strlen(s);
	return !strncmp(s, ".mthttpd-tmp.", 13) ||
	       (n >= 12 && !strncmp(s, ".upload-", 8) && !strcmp(s + n - 4, ".tmp"));
}

/* This node's host name, as the daemon names its temporary files (the
 * test machine's names need no escaping). */
static const char *host(void)
{
	static char h[80];

	if (gethostname(h, 65) != 0 || !h[0])
		strcpy(h, "localhost");
	h[64] = '\0';
	return h;
}

/* Does this file system give us unnamed temporary files?  If it does not,
 * the daemon falls back to hidden named ones, which a crash may leave. */
static bool has_o_tmpfile(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Is FILE (LEN bytes) exactly a body some client sent?  Sets *ID, *SEQ. */
static bool body_is_genuine(const char *file, size_t len, char *scratch, unsigned *id,
			    unsigned *seq)
{
	if (sscanf(file, "{\"client\":%u,\"seq\":%u,", id, seq) != 2 || *id >= CLIENTS || *seq == 0)
		return false;
	return make_body(run_seed, *id, *seq, scratch) == len && memcmp(scratch, file, len) == 0;
}

struct scan {
	unsigned finals;    /* upload_*.json files, all genuine */
	unsigned temps;     /* temporary files (is_temp_name()) */
	unsigned bad;       /* anything else, or a final file that is not genuine */
	char first_bad[300];
};

static void scan_uploads(const char *dir, struct client *cl, struct scan *sc, uint8_t **seen)
{
	char *scratch = malloc(BODY_MAX);
	DIR *d = opendir(dir);
	struct dirent *e;

	cr_assert_not_null(scratch);
	cr_assert_not_null(d, "opendir %s: %s", dir, strerror(errno));
	memset(sc, 0, sizeof *sc);
	while ((e = readdir(d))) {
		char path[1024];
		unsigned id, seq;
		size_t len;
		char *data;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (is_temp_name(e->d_name)) {
			sc->temps++;
			continue;
		}
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		data = is_upload_name(e->d_name) ? read_whole(path, &len) : NULL;
		if (!data || !body_is_genuine(data, len, scratch, &id, &seq) ||
		    seq > cl[id].attempted || (seen && seen[id][seq])) {
			if (!sc->bad++)
				snprintf(sc->first_bad, sizeof sc->first_bad, "%s (%zu bytes)",
					 e->d_name, data ? len : 0);
		} else {
			sc->finals++;
			if (seen)
				seen[id][seq] = 1;
		}
		free(data);
	}
	closedir(d);
	free(scratch);
}

/* Start the daemon binary again on srv's configuration file (so on the same
 * uploads directory), socket-activated on a new 127.0.0.1:0 listener, with
 * readiness on srv's notify socket: what server_start() does, minus writing
 * a new temp dir.  Called on the test's main thread (PDEATHSIG follows the
 * thread that forked). */
static void restart_same_dir(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof sin;
	char npath[300], buf[4096];
	int lfd, logfd;

	/* forget the first daemon's STATUS= datagrams */
	while (recv(srv.notify_fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
		;
	snprintf(npath, sizeof npath, "%s/notify", srv.dir);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(lfd, 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	cr_assert_eq(listen(lfd, 1024), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sin, &slen), 0);
	logfd = open(srv.log, O_WRONLY | O_APPEND | O_CLOEXEC);
	cr_assert_geq(logfd, 0);
	srv.pid = fork();
	cr_assert_neq(srv.pid, -1);
	if (srv.pid == 0) {
		const char *bin = getenv("MTHTTPD_BIN");
		char pidbuf[32];

		if (!bin || !*bin)
			bin = MTHTTPD_BIN_DEFAULT;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(logfd, STDERR_FILENO);
		if (lfd != 3) {
			dup2(lfd, 3);
			close(lfd);
		}
		fcntl(3, F_SETFD, 0);
		snprintf(pidbuf, sizeof pidbuf, "%ld", (long)getpid());
		setenv("LISTEN_PID", pidbuf, 1);
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_FDNAMES", "http", 1);
		setenv("NOTIFY_SOCKET", npath, 1);
		unsetenv("WATCHDOG_USEC");
		unsetenv("WATCHDOG_PID");
		unsetenv("JOURNAL_STREAM");
		execl(bin, "mthttpd", "-c", srv.conf, (char *)NULL);
		perror(bin);
		_exit(127);
	}
	close(lfd);
	close(logfd);
	srv.port = ntohs(sin.sin_port);
	if (server_wait_notify(&srv, "READY=1", 10000) != 0)
		cr_assert_fail("restarted daemon did not send READY=1; log in %s", srv.log);
	srv_running = true;
}

static void plant(const char *dir, const char *name, const char *content)
{
	char path[1024];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	cr_assert_geq(fd, 0, "create %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

/* ---------------------------------------------------------------- kill -9 */

TestSuite(kill9, .fini = teardown, .timeout = 30);

Test(kill9, uploads_survive_and_temp_files_are_cleaned_at_start)
{
	/* max_requests high: keep-alive connections carry the whole run */
	struct server_opts o = { .pool_size = 4, .max_requests = 1000000 };
	static struct client cl[CLIENTS];
	const char *env_seed = getenv("MTH_DURABILITY_SEED");
	unsigned kill_after_ms, acks = 0, attempted = 0, after_kill = 0, bad = 0, connects = 0;
	uint8_t **seen;
	struct scan sc;
	int status;
	int64_t t0, t_kill;
	bool tmpfile_ok;

	run_seed = env_seed ? strtoull(env_seed, NULL, 0)
			    : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (uint64_t)harness_now_ms();
	kill_after_ms = 200 + (unsigned)(run_seed % 601);
	cr_log_info("kill9: seed %" PRIu64 " (MTH_DURABILITY_SEED to replay), SIGKILL %u ms after the first 201",
		    run_seed, kill_after_ms);

	server_start(&srv, &o);
	srv_running = true;
	srv_dir_live = true;
	run_port = srv.port;
	tmpfile_ok = has_o_tmpfile(srv.uploads);

	atomic_store(&killed, false);
	atomic_store(&stop_clients, false);
	for (unsigned i = 0; i < CLIENTS; i++) {
		cl[i] = (struct client){ .id = i };
		cl[i].acks = calloc(MAX_ACKS, sizeof *cl[i].acks);
		cr_assert_not_null(cl[i].acks);
	}
	t0 = harness_now_ms();
	for (unsigned i = 0; i < CLIENTS; i++)
		cr_assert_eq(pthread_create(&cl[i].th, NULL, upload_client, &cl[i]), 0);

	/* the kill, at the chosen moment counted from the first 201 (a slow,
	 * sanitised daemon takes a while to get going), while the uploads
	 * are in full swing */
	for (;;) {
		unsigned n = 0;
		for (unsigned i = 0; i < CLIENTS; i++)
			n += atomic_load(&cl[i].nacks);
		if (n > 0 || harness_now_ms() - t0 > 10000)
			break;
		usleep(1000);
	}
	cr_log_info("kill9: first 201 after %lld ms", (long long)(harness_now_ms() - t0));
	t0 = harness_now_ms();
	while (harness_now_ms() - t0 < kill_after_ms)
		usleep(1000);
	atomic_store(&killed, true);
	cr_assert_eq(kill(srv.pid, SIGKILL), 0);
	t_kill = harness_now_ms();
	srv_running = false;
	cr_assert_eq(waitpid(srv.pid, &status, 0), srv.pid);
	srv.pid = 0;
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "daemon died of something else before the kill: status %#x", status);
	atomic_store(&stop_clients, true);
	for (unsigned i = 0; i < CLIENTS; i++)
		pthread_join(cl[i].th, NULL);
	cr_assert_lt(harness_now_ms() - t_kill, 10000, "clients took too long to notice the kill");

	for (unsigned i = 0; i < CLIENTS; i++) {
		acks += cl[i].nacks;
		attempted += cl[i].attempted;
		after_kill += cl[i].acks_after_kill;
		bad += cl[i].bad_status;
		connects += cl[i].connects;
		if (cl[i].bad_status)
			cr_log_error("client %u: %u unexpected answers, last status %d", i,
				     cl[i].bad_status, cl[i].last_bad);
	}
	cr_log_info("kill9: %u uploads started, %u answered 201 (%u of them read after the kill), "
		    "%u in flight at the kill, %u connections",
		    attempted, acks, after_kill, attempted - acks, connects);
	cr_assert_eq(bad, 0, "uploads failed before the kill (see above)");
	cr_assert_gt(acks, 0, "no upload completed before the kill");
	cr_assert_gt(attempted, acks, "no upload was in flight at the kill");

	/* 1. every acknowledged upload is there, byte-exact */
	{
		char *want = malloc(BODY_MAX);
		cr_assert_not_null(want);
		for (unsigned i = 0; i < CLIENTS; i++)
			for (unsigned k = 0; k < cl[i].nacks; k++) {
				char path[1024];
				size_t len, wlen = make_body(run_seed, i, cl[i].acks[k].seq, want);
				char *got;

				snprintf(path, sizeof path, "%s/%s", srv.uploads, cl[i].acks[k].name);
				got = read_whole(path, &len);
				cr_assert_not_null(got, "acknowledged upload %s (client %u seq %u) lost",
						   path, i, cl[i].acks[k].seq);
				cr_assert(len == wlen && memcmp(got, want, len) == 0,
					  "%s: %zu bytes, differs from the %zu sent", path, len, wlen);
				free(got);
			}
		free(want);
	}

	/* 2. nothing partial, foreign or duplicated; no temp file where the file
	 * system has O_TMPFILE (the daemon then never names one) */
	seen = calloc(CLIENTS, sizeof *seen);
	cr_assert_not_null(seen);
	for (unsigned i = 0; i < CLIENTS; i++) {
		seen[i] = calloc(cl[i].attempted + 1, 1);
		cr_assert_not_null(seen[i]);
	}
	scan_uploads(srv.uploads, cl, &sc, seen);
	cr_log_info("kill9: after the kill: %u complete uploads (%u acknowledged), %u temp files",
		    sc.finals, acks, sc.temps);
	cr_assert_eq(sc.bad, 0, "%u partial, foreign or duplicate files, e.g. %s", sc.bad,
		     sc.first_bad);
	cr_assert_geq(sc.finals, acks);
	cr_assert_leq(sc.finals, attempted);
	if (tmpfile_ok)
		cr_assert_eq(sc.temps, 0, "%u temp files visible although O_TMPFILE works", sc.temps);

	/* 3. a new daemon on the same directory removes this node's stale temp
	 * files (as a crash on a file system without O_TMPFILE leaves) and
	 * keeps the rest, another node's temporary file included */
	plant(srv.uploads, fmt(".mthttpd-tmp.%s.1.0123456789abcdef", host()),
	      "{\"client\":0,\"seq\":999999,\"pa");
	plant(srv.uploads, fmt(".mthttpd-tmp.%s.77.fedcba9876543210", host()), "{");
	plant(srv.uploads, ".mthttpd-tmp.another-node.1.0123456789abcdef", "{");
	restart_same_dir();
	{
		struct scan after;
		scan_uploads(srv.uploads, cl, &after, NULL);
		cr_assert_eq(after.temps, 1, "%u temp files after the start: stale ones of this "
			     "node survived, or another node's was removed", after.temps);
		cr_assert_eq(access(fmt("%s/.mthttpd-tmp.another-node.1.0123456789abcdef",
					srv.uploads), F_OK), 0, "another node's temp file removed");
		cr_assert_eq(after.bad, 0, "%s", after.first_bad);
		cr_assert_eq(after.finals, sc.finals, "stored uploads changed across the restart");
		cr_assert(server_log_contains(&srv, "removed"),
			  "no notice of the removed temp files in %s", srv.log);
	}

	/* 4. the new daemon serves an acknowledged upload and takes new ones */
	for (unsigned i = 0; i < CLIENTS; i++) {
		char loc[128], *want;
		struct http_resp r;
		size_t wlen;

		if (!cl[i].nacks)
			continue;
		want = malloc(BODY_MAX);
		cr_assert_not_null(want);
		wlen = make_body(run_seed, i, cl[i].acks[cl[i].nacks - 1].seq, want);
		snprintf(loc, sizeof loc, "/uploads/%s", cl[i].acks[cl[i].nacks - 1].name);
		cr_assert_eq(http_get(&srv, "GET", loc, &r), 0);
		cr_assert_eq(r.status, 200, "GET %s -> %d", loc, r.status);
		cr_assert(r.body_len == wlen && memcmp(r.body, want, wlen) == 0);
		http_resp_free(&r);
		free(want);
		break;
	}
	{
		int fd = http_connect(srv.port);
		struct http_resp r;
		char req[256];
		const char *body = "{\"after\":\"restart\"}";

		snprintf(req, sizeof req,
			 "POST /upload HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Type: "
			 "application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 srv.port, strlen(body), body);
		send_str(fd, req);
		cr_assert_eq(http_read(fd, &r, false), 0);
		cr_assert_eq(r.status, 201);
		http_resp_free(&r);
		close(fd);
	}
	/* and the other node's temporary file */
	cr_assert_eq(server_count_uploads(&srv), (int)sc.finals + 2);

	for (unsigned i = 0; i < CLIENTS; i++) {
		free(cl[i].acks);
		free(seen[i]);
	}
	free(seen);
	/* a clean stop of the second daemon: exit status 0, temp dir removed */
	srv_running = false;
	srv_dir_live = false;
	server_stop(&srv);
}

/* ------------------------------------------------- durable, not just atomic */

/* The kill -9 test above proves atomicity, not durability: the page cache
 * survives a SIGKILL, so it passes without a single fsync.  Here the daemon
 * runs with syncshim.so preloaded, which logs in order what it does (see
 * syncshim.c), and every upload answered 201 must have had
 *   - its data on stable storage before its link: the file opened O_DSYNC
 *     with every write before the link, or an fsync/fdatasync of it after
 *     its last write and before the link;
 *   - a directory fsync that started after its link and returned before
 *     the 201.
 * Both hold with O_TMPFILE (linkat) and with the named temporary file
 * (renameat2) the fallback uses. */
struct sync_event {
	unsigned long seq;
	char what[16];
	long a;    /* the object, the directory fd or the status */
	int dsync; /* open: opened with O_DSYNC */
	char via[32]; /* link: how */
};

static int by_seq(const void *x, const void *y)
{
	const struct sync_event *a = x, *b = y;

	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static size_t read_sync_log(const char *path, struct sync_event *ev, size_t max)
{
	FILE *f = fopen(path, "r");
	char line[256];
	size_t n = 0;

	cr_assert_not_null(f, "no log from syncshim.so at %s (not preloaded?)", path);
	while (n < max && fgets(line, sizeof line, f)) {
		struct sync_event *e = &ev[n];

		char extra[32] = "";

		if (sscanf(line, "%lu %15s %ld %31s", &e->seq, e->what, &e->a, extra) < 3)
			continue;
		e->dsync = strcmp(extra, "dsync=1") == 0;
		snprintf(e->via, sizeof e->via, "%s", strncmp(extra, "via=", 4) ? "" : extra + 4);
		n++;
	}
	fclose(f);
	qsort(ev, n, sizeof *ev, by_seq);
	return n;
}

static bool is_event(const struct sync_event *e, const char *what, long a)
{
	return strcmp(e->what, what) == 0 && e->a == a;
}

/* Check the rules above for every 201 in EV[0..N); returns how many.
 * Each file must have got its name VIA ("rename" or "name": through its
 * temporary name), or with NULL as an unnamed file ("fd" or "proc"). */
static unsigned check_durable_answers(const struct sync_event *ev, size_t n, const char *via)
{
	unsigned answers = 0;

	for (size_t i = 0; i < n; i++) {
		long obj = -1;
		size_t link = 0, open_at = 0, last_write = 0, synced = 0;
		bool dir_synced = false;

		if (!is_event(&ev[i], "answer", 201))
			continue;
		answers++;
		for (size_t j = i; j-- > 0;)
			if (strcmp(ev[j].what, "link") == 0) {
				link = j;
				obj = ev[j].a;
				break;
			}
		cr_assert_gt(obj, 0, "201 #%u (event %lu) without a link of a file before it",
			     answers, ev[i].seq);
		if (via)
			cr_assert_str_eq(ev[link].via, via, "201 #%u: linked via %s, not %s",
					 answers, ev[link].via, via);
		else
			cr_assert(strcmp(ev[link].via, "fd") == 0 ||
					  strcmp(ev[link].via, "proc") == 0,
				  "201 #%u: linked via %s", answers, ev[link].via);
		for (size_t j = 0; j < link; j++) {
			if (is_event(&ev[j], "open", obj))
				open_at = j + 1;
			if (is_event(&ev[j], "write", obj))
				last_write = j + 1;
			if (is_event(&ev[j], "sync", obj) && j + 1 > last_write)
				synced = j + 1;
		}
		cr_assert_gt(open_at, 0, "201 #%u: the linked file was never opened for writing",
			     answers);
		cr_assert_gt(last_write, 0, "201 #%u: no data was written", answers);
		cr_assert(ev[open_at - 1].dsync || synced > last_write,
			  "201 #%u: the file was linked without O_DSYNC and without an "
			  "fsync/fdatasync after its last write",
			  answers);
		for (size_t j = link + 1; j < i && !dir_synced; j++) {
			if (strcmp(ev[j].what, "dirsync-start") != 0)
				continue;
			for (size_t k = j + 1; k < i; k++)
				if (is_event(&ev[k], "dirsync-end", ev[j].a)) {
					dir_synced = true;
					break;
				}
		}
		cr_assert(dir_synced,
			  "201 #%u: no directory fsync started after the link (event %lu) and "
			  "returned before the answer (event %lu)",
			  answers, ev[link].seq, ev[i].seq);
	}
	return answers;
}

/* With the environment lines MORE (NULL-ended, at most two) for the
 * daemon; each file must be named VIA (see check_durable_answers()). */
static void synced_uploads(const char *const *more, const char *via)
{
	static char preload[600], logenv[600], asan[600];
	static const char *env[6];
	size_t k = 0;
	struct server_opts o = { .env = env };
	const char *san = getenv("MTHTTPD_SANITIZER");
	static struct sync_event ev[4096];
	char log[300], body[200];
	size_t n;

	if (san && strcmp(san, "tsan") == 0)
		cr_skip_test("syncshim.so is not preloaded into a ThreadSanitizer build");
	cr_assert_eq(access(SYNCSHIM_SO, R_OK), 0, "%s: %s", SYNCSHIM_SO, strerror(errno));
	snprintf(log, sizeof log, "%s/sync-%ld.log", TOP_BUILDDIR_TMP, (long)getpid());
	unlink(log);
	snprintf(preload, sizeof preload, "LD_PRELOAD=%s", SYNCSHIM_SO);
	snprintf(logenv, sizeof logenv, "MTHTTPD_SYNC_LOG=%s", log);
	/* ASan wants to be the first library; the shim only passes calls on */
	snprintf(asan, sizeof asan, "ASAN_OPTIONS=verify_asan_link_order=0:%s",
		 getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "");
	env[k++] = preload;
	env[k++] = logenv;
	for (size_t i = 0; more && more[i] && i < 2; i++)
		env[k++] = more[i];
	if (san && strcmp(san, "asan") == 0)
		env[k++] = asan;
	env[k] = NULL;
	server_start(&srv, &o);
	srv_running = true;
	srv_dir_live = true;
	for (int i = 0; i < 5; i++) {
		struct http_resp r;
		int fd = http_connect(srv.port);
		int len = snprintf(body, sizeof body, "{\"upload\":%d,\"pad\":\"%0*d\"}", i, 40 * i, 0);

		send_str(fd, fmt("POST /upload HTTP/1.1\r\nHost: localhost:%u\r\n"
				 "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
				 srv.port, len, body));
		cr_assert_eq(http_read(fd, &r, false), 0);
		cr_assert_eq(r.status, 201, "upload %d", i);
		http_resp_free(&r);
		close(fd);
	}
	n = read_sync_log(log, ev, sizeof ev / sizeof ev[0]);
	cr_assert_eq(check_durable_answers(ev, n, via), 5, "the shim saw %zu events", n);
	if (!getenv("MTH_KEEP_SYNC_LOG"))
		unlink(log);
}

TestSuite(synced, .fini = teardown, .timeout = 30);

Test(synced, every_201_follows_a_durable_file_and_directory)
{
	synced_uploads(NULL, NULL);
}

/* The same without O_TMPFILE: a named temporary file and renameat2. */
Test(synced, also_with_a_named_temporary_file)
{
	static const char *const more[] = { "MTHTTPD_SYNC_NO_TMPFILE=1", NULL };

	synced_uploads(more, "rename");
}

/* The fallback forced by the daemon's own switch, on a file system
 * without RENAME_NOREPLACE (NFS): the named temporary file is written,
 * synced, linked by name, the directory synced, then 201. */
Test(synced, forced_fallback_links_by_name_as_on_nfs)
{
	static const char *const more[] = { "MTHTTPD_FORCE_NO_TMPFILE=1",
					    "MTHTTPD_SYNC_NO_RENAME_NOREPLACE=1", NULL };

	synced_uploads(more, "name");
	cr_expect(server_log_contains(&srv, "forced by MTHTTPD_FORCE_NO_TMPFILE"));
}

/* ------------------------------------------------------- stalled downloads */

enum { BIG_SIZE = 64 << 20, STALLED = 3 };

static void one_worker_big_file(void)
{
	struct server_opts o = { .pool_size = 1, .own_docroot = true, .keepalive_timeout = 30 };
	char path[512];
	int fd;

	server_start(&srv, &o);
	srv_running = true;
	srv_dir_live = true;
	snprintf(path, sizeof path, "%s/index.html", srv.docroot);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "<!doctype html><title>up</title>\n", 33), 33);
	close(fd);
	/* sparse: 64 MiB of zeros that occupy no disk */
	snprintf(path, sizeof path, "%s/big.bin", srv.docroot);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, BIG_SIZE), 0);
	close(fd);
}

TestSuite(stall, .init = one_worker_big_file, .fini = teardown, .timeout = 30);

/* A client that asks for 64 MiB with a 4 KiB receive buffer and never reads
 * (several of them, with range and plain requests) leaves the only worker
 * free: GET / from another client is answered in < 1 s, every time. */
Test(stall, client_that_stops_reading_costs_no_worker)
{
	int stalled[STALLED];
	int64_t worst = 0;

	for (int i = 0; i < STALLED; i++) {
		struct sockaddr_in sin = { .sin_family = AF_INET,
					   .sin_port = htons((uint16_t)srv.port),
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int rcv = 4096;
		char req[256];

		stalled[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_geq(stalled[i], 0);
		/* before connect(): the window is negotiated small */
		cr_assert_eq(setsockopt(stalled[i], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv), 0);
		cr_assert_eq(connect(stalled[i], (struct sockaddr *)&sin, sizeof sin), 0);
		snprintf(req, sizeof req, "GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%s\r\n",
			 srv.port, i == 1 ? "Range: bytes=1000-\r\n" : "");
		send_str(stalled[i], req);
	}
	/* let the daemon fill the socket buffers and hit EAGAIN */
	usleep(300000);

	for (int round = 0; round < 5; round++) {
		struct http_resp r;
		int64_t t = harness_now_ms(), dt;

		cr_assert_eq(http_get(&srv, "GET", "/", &r), 0, "round %d: no answer", round);
		dt = harness_now_ms() - t;
		cr_assert_eq(r.status, 200);
		cr_assert_str_eq(r.body, "<!doctype html><title>up</title>\n");
		http_resp_free(&r);
		cr_assert_lt(dt, 1000, "round %d: GET / took %lld ms behind a stalled download",
			     round, (long long)dt);
		if (dt > worst)
			worst = dt;
		usleep(100000);
	}
	cr_log_info("stall: worst GET / latency %lld ms with %d stalled 64 MiB downloads",
		    (long long)worst, STALLED);

	/* the stalled downloads were parked, not dropped: they resume when
	 * their client reads again */
	for (int i = 0; i < STALLED; i++) {
		char buf[65536];
		size_t got = 0;
		int64_t end = harness_now_ms() + 3000;

		while (got < 1 << 20 && harness_now_ms() < end) {
			struct pollfd p = { .fd = stalled[i], .events = POLLIN };
			ssize_t n;

			if (poll(&p, 1, 500) <= 0)
				continue;
			n = recv(stalled[i], buf, sizeof buf, MSG_DONTWAIT);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		cr_assert_geq(got, (size_t)1 << 20, "stalled download %d did not resume (%zu bytes)",
			      i, got);
		close(stalled[i]);
	}
}
