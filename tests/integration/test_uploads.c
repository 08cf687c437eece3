/* test_uploads.c - uploads fit for the open internet (#14), against the
 * real daemon: HTTP Basic credentials from a users file made at test time
 * by the real tools (htpasswd -B, mkpasswd -m yescrypt / sha-512), rate
 * limits per client (127.0.0.1 and 127.0.0.2 are two clients), the quota,
 * and bodies that stream to disk with the daemon's memory bounded. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct server srv;
static bool running;
static char users_dir[128];

static void stop(void)
{
	if (running)
		server_stop(&srv);
	running = false;
	if (users_dir[0])
		harness_rm_rf(users_dir);
	users_dir[0] = '\0';
}

static void start(const struct server_opts *o)
{
	signal(SIGPIPE, SIG_IGN);
	server_start(&srv, o);
	running = true;
}

static bool sanitized(void)
{
	const char *s = getenv("MTHTTPD_SANITIZER");

	return s && *s;
}

/*
 * Clients
 */

/* A connection to 127.0.0.1:PORT from the loopback address SRC. */
static int connect_from(const char *src, unsigned port)
{
	struct sockaddr_in from = { .sin_family = AF_INET };
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { 10, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(inet_pton(AF_INET, src, &from.sin_addr), 1);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	cr_assert_eq(bind(fd, (struct sockaddr *)&from, sizeof from), 0, "bind %s: %s", src,
		     strerror(errno));
	cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof to), 0, "connect: %s",
		     strerror(errno));
	return fd;
}

static const char b64tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *basic(const char *user, const char *pass)
{
	char plain[512], out[800];
	size_t n = (size_t)snprintf(plain, sizeof plain, "%s:%s", user, pass), o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)(unsigned char)plain[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)(unsigned char)plain[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)plain[i + 2];
		out[o++] = b64tab[v >> 18 & 63];
		out[o++] = b64tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? b64tab[v & 63] : '=';
	}
	out[o] = '\0';
	return fmt("Authorization: Basic %s\r\n", out);
}

/* POST /upload of BODY from SRC with the extra head lines EXTRA; the
 * status, and the response in R if not NULL. */
static int post(const char *src, const char *extra, const char *body, size_t len,
		struct http_resp *r)
{
	struct http_resp tmp;
	int fd = connect_from(src ? src : "127.0.0.1", srv.port), st;
	char head[2048];
	int n = snprintf(head, sizeof head,
			 "POST /upload HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
			 srv.port, len, extra ? extra : "");

	send_some(fd, head, (size_t)n);
	send_some(fd, body, len);
	if (!r)
		r = &tmp;
	st = http_read(fd, r, false) == 0 ? r->status : -1;
	if (r == &tmp && st > 0)
		http_resp_free(r);
	close(fd);
	return st;
}

static int get_from(const char *src, const char *path)
{
	struct http_resp r;
	int fd = connect_from(src, srv.port), st;

	send_str(fd, fmt("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n\r\n",
			 path, srv.port));
	st = http_read(fd, &r, false) == 0 ? r.status : -1;
	if (st > 0)
		http_resp_free(&r);
	close(fd);
	return st;
}

static long vm_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, field, strlen(field)) == 0) {
			v = strtol(line + strlen(field) + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/*
 * The users file, made by the real tools
 */

static int run_to(const char *out, const char *cmd)
{
	char sh[1024];

	snprintf(sh, sizeof sh, "%s >>'%s' 2>/dev/null", cmd, out);
	return system(sh);
}

static bool have(const char *tool)
{
	return system(fmt("command -v %s >/dev/null 2>&1", tool)) == 0;
}

/* users: alice (bcrypt), bob (yescrypt), carol (sha-512) */
static const char *make_users(void)
{
	static char path[256];

	if (!have("htpasswd") || !have("mkpasswd"))
		cr_skip_test("htpasswd (apache2-utils) or mkpasswd (whois) not installed");
	snprintf(users_dir, sizeof users_dir, "/tmp/mthttpd-users-XXXXXX");
	cr_assert_not_null(mkdtemp(users_dir));
	snprintf(path, sizeof path, "%s/users", users_dir);
	cr_assert_eq(run_to(path, "htpasswd -nbB -C 5 alice pw-alice | sed '/^$/d'"), 0);
	cr_assert_eq(run_to(path, "printf 'bob:%s\\n' \"$(mkpasswd -m yescrypt pw-bob)\""), 0);
	cr_assert_eq(run_to(path, "printf 'carol:%s\\n' \"$(mkpasswd -m sha-512 pw-carol)\""), 0);
	return path;
}

static const char doc[] = "{\"a\":[1,2,3]}";

Test(upload_auth, right_wrong_missing_malformed, .fini = stop, .timeout = 60)
{
	const char *users = make_users();
	struct server_opts o = { 0 };
	struct http_resp r;
	char v[256], *alog, *slog;
	size_t n;

	o.extra = fmt("upload_users_file = \"%s\";\naccess_log = \"%s/access.log\";", users,
		      users_dir);
	start(&o);
	/* missing */
	cr_assert_eq(post(NULL, NULL, doc, strlen(doc), &r), 401);
	cr_assert(http_header(&r, "WWW-Authenticate", v, sizeof v));
	cr_expect_str_eq(v, "Basic realm=\"mthttpd uploads\", charset=\"UTF-8\"");
	http_resp_free(&r);
	/* right, for each hash format */
	cr_expect_eq(post(NULL, basic("alice", "pw-alice"), doc, strlen(doc), NULL), 201);
	cr_expect_eq(post(NULL, basic("bob", "pw-bob"), doc, strlen(doc), NULL), 201);
	cr_expect_eq(post(NULL, basic("carol", "pw-carol"), doc, strlen(doc), NULL), 201);
	/* the cache: again, right */
	cr_expect_eq(post(NULL, basic("alice", "pw-alice"), doc, strlen(doc), NULL), 201);
	/* wrong password, unknown user, another user's password */
	cr_expect_eq(post(NULL, basic("alice", "pw-alicE"), doc, strlen(doc), &r), 401);
	cr_expect(http_header(&r, "WWW-Authenticate", v, sizeof v));
	http_resp_free(&r);
	cr_expect_eq(post(NULL, basic("mallory", "pw-alice"), doc, strlen(doc), NULL), 401);
	cr_expect_eq(post(NULL, basic("bob", "pw-carol"), doc, strlen(doc), NULL), 401);
	/* another scheme is as good as none */
	cr_expect_eq(post(NULL, "Authorization: Bearer abc\r\n", doc, strlen(doc), NULL), 401);
	/* malformed */
	cr_expect_eq(post(NULL, "Authorization: Basic !!!!\r\n", doc, strlen(doc), NULL), 400);
	cr_expect_eq(post(NULL, "Authorization: Basic YWJj\r\n", doc, strlen(doc), NULL), 400);
	cr_expect_eq(post(NULL, "Authorization: Basic\r\n", doc, strlen(doc), NULL), 400);
	/* GET stays public */
	cr_expect_eq(get_from("127.0.0.1", "/"), 200);
	cr_expect_eq(server_count_uploads(&srv), 4);
	server_stop(&srv);
	running = false;
	/* the user in the access log; the passwords nowhere */
	alog = read_whole(fmt("%s/access.log", users_dir), &n);
	cr_assert_not_null(alog);
	cr_expect_not_null(strstr(alog, " - alice ["), "%s", alog);
	cr_expect_not_null(strstr(alog, " - bob ["), "%s", alog);
	cr_expect_null(strstr(alog, "pw-"), "a password in the access log");
	slog = read_whole(srv.log, &n);
	if (slog) {
		cr_expect_null(strstr(slog, "pw-"), "a password in the daemon's log");
		cr_expect_not_null(strstr(slog, "wrong credentials for user \"alice\""));
		free(slog);
	}
	free(alog);
}

/* Credentials in clear beyond loopback: a warning at start (and none for
 * a loopback listener, checked here first). */
Test(upload_auth, warns_on_cleartext_listener_beyond_loopback, .fini = stop, .timeout = 60)
{
	const char *users = make_users();
	struct server_opts o = { 0 };

	o.extra = fmt("upload_users_file = \"%s\";", users);
	start(&o);
	cr_expect(!server_log_contains(&srv, "beyond loopback"));
	server_stop(&srv);
	running = false;
	o.ipv6 = true;
	o.extra = fmt("upload_users_file = \"%s\";", users);
	start(&o);
	cr_expect(server_log_contains(&srv, "plain HTTP beyond loopback"));
}

Test(upload_auth, reload_adds_and_removes_a_user, .fini = stop, .timeout = 60)
{
	const char *users = make_users();
	struct server_opts o = { 0 };
	char tmp[300];

	o.extra = fmt("upload_users_file = \"%s\";", users);
	start(&o);
	cr_expect_eq(post(NULL, basic("alice", "pw-alice"), doc, strlen(doc), NULL), 201);
	cr_expect_eq(post(NULL, basic("dave", "pw-dave"), doc, strlen(doc), NULL), 401);
	/* dave in, alice out */
	snprintf(tmp, sizeof tmp, "%s.new", users);
	cr_assert_eq(system(fmt("grep -v '^alice:' '%s' > '%s'", users, tmp)), 0);
	cr_assert_eq(run_to(tmp, "htpasswd -nbB -C 5 dave pw-dave | sed '/^$/d'"), 0);
	cr_assert_eq(rename(tmp, users), 0);
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert_eq(server_wait_notify(&srv, "READY=1", 10000), 0);
	cr_expect_eq(post(NULL, basic("dave", "pw-dave"), doc, strlen(doc), NULL), 201);
	cr_expect_eq(post(NULL, basic("alice", "pw-alice"), doc, strlen(doc), NULL), 401,
		     "a removed user, though cached");
	cr_expect_eq(post(NULL, basic("bob", "pw-bob"), doc, strlen(doc), NULL), 201);
	/* a weak hash makes the reload fail; the running users stay */
	cr_assert_eq(system(fmt("htpasswd -nbm eve pw-eve >> '%s'", users)), 0);
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert_eq(server_wait_notify(&srv, "READY=1", 10000), 0);
	cr_expect(server_log_contains(&srv, "reload rejected"));
	cr_expect(server_log_contains(&srv, "$apr1$"));
	cr_expect_eq(post(NULL, basic("dave", "pw-dave"), doc, strlen(doc), NULL), 201);
}

struct getter {
	atomic_bool stop;
	int64_t worst_ms[4096];
	size_t n;
	int bad;
};

static void *getter(void *arg)
{
	struct getter *g = arg;

	while (!atomic_load(&g->stop) && g->n < 4096) {
		int64_t t0 = harness_now_ms();
		int st = get_from("127.0.0.2", "/");

		g->worst_ms[g->n++] = harness_now_ms() - t0;
		if (st != 200)
			g->bad++;
		usleep(2000);
	}
	return NULL;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* 1,000 wrong passwords from 127.0.0.1: after a burst of verifications
 * they are refused with 429 without any crypt; meanwhile 127.0.0.2's GETs
 * stay fast and the daemon's memory does not grow. */
Test(upload_auth, wrong_passwords_neither_stall_nor_grow, .fini = stop, .timeout = 120)
{
	const char *users = make_users();
	struct server_opts o = { 0 };
	struct getter *g = calloc(1, sizeof(*g));
	int n401 = 0, n429 = 0, other = 0;
	long rss0, rss1;
	pthread_t t;

	cr_assert_not_null(g);
	o.extra = fmt("upload_users_file = \"%s\";", users);
	start(&o);
	/* warm up: what the daemon needs for itself is allocated */
	for (int i = 0; i < 20; i++)
		post("127.0.0.3", basic("alice", fmt("warm-%d", i)), doc, strlen(doc), NULL);
	rss0 = vm_kib(srv.pid, "VmRSS:");
	cr_assert_eq(pthread_create(&t, NULL, getter, g), 0);
	for (int i = 0; i < 1000; i++) {
		int st = post(NULL, basic("alice", fmt("wrong-%d", i)), doc, strlen(doc), NULL);

		if (st == 401)
			n401++;
		else if (st == 429)
			n429++;
		else
			other++;
	}
	atomic_store(&g->stop, true);
	pthread_join(t, NULL);
	rss1 = vm_kib(srv.pid, "VmRSS:");
	cr_expect_eq(other, 0);
	cr_expect_geq(n401, 10, "the burst was verified");
	cr_expect_lt(n401, 200, "the rest refused before any crypt: %d 401s", n401);
	cr_expect_gt(n429, 800);
	cr_expect_eq(g->bad, 0, "the other client's GETs failed");
	cr_assert_gt(g->n, 10);
	qsort(g->worst_ms, g->n, sizeof(int64_t), cmp64);
	/* 100 ms for the real daemon; a sanitizer build runs the daemon
	 * several times slower (one 101 ms p99 seen under ASan on a busy CI
	 * machine). A GET queued behind the 1,000 verifications would wait
	 * seconds, so either bar still catches a stall. */
	cr_expect_lt(g->worst_ms[g->n * 99 / 100], sanitized() ? 300 : 100,
		     "GET p99 %lld ms over %zu requests", (long long)g->worst_ms[g->n * 99 / 100],
		     g->n);
	cr_expect_lt(rss1 - rss0, 4096, "RSS grew from %ld to %ld KiB", rss0, rss1);
	/* the right password still works from another client */
	cr_expect_eq(post("127.0.0.4", basic("alice", "pw-alice"), doc, strlen(doc), NULL), 201);
	cr_expect(server_log_contains(&srv, "credential verifications"));
	free(g);
}

/*
 * Rate limits
 */

Test(rate_limit, requests_429_for_one_client_only, .fini = stop, .timeout = 60)
{
	struct server_opts o = { .extra = "rate_limit_requests = 1;\nrate_limit_burst = 3;" };
	struct http_resp r;
	char v[64];
	int fd;

	start(&o);
	/* three on one keep-alive connection, the fourth refused, kept */
	fd = connect_from("127.0.0.1", srv.port);
	for (int i = 0; i < 3; i++) {
		send_str(fd, fmt("GET / HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", srv.port));
		cr_assert_eq(http_read(fd, &r, false), 0);
		cr_expect_eq(r.status, 200, "request %d", i);
		http_resp_free(&r);
	}
	send_str(fd, fmt("GET / HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", srv.port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_expect_eq(r.status, 429);
	cr_assert(http_header(&r, "Retry-After", v, sizeof v));
	cr_expect_str_eq(v, "1");
	http_resp_free(&r);
	/* another client is unaffected */
	cr_expect_eq(get_from("127.0.0.2", "/"), 200);
	/* the connection was kept: after a second, one more */
	usleep(1100 * 1000);
	send_str(fd, fmt("GET / HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", srv.port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_expect_eq(r.status, 200);
	http_resp_free(&r);
	close(fd);
	cr_expect(server_log_contains(&srv, "rate_limit_requests:"));
}

Test(rate_limit, uploads_per_minute, .fini = stop, .timeout = 60)
{
	struct server_opts o = { .extra = "rate_limit_uploads = 2;" };
	struct http_resp r;
	char v[64];

	start(&o);
	cr_expect_eq(post(NULL, NULL, doc, strlen(doc), NULL), 201);
	cr_expect_eq(post(NULL, NULL, doc, strlen(doc), NULL), 201);
	cr_assert_eq(post(NULL, NULL, doc, strlen(doc), &r), 429);
	cr_assert(http_header(&r, "Retry-After", v, sizeof v));
	cr_expect(atoi(v) >= 29 && atoi(v) <= 30, "Retry-After %s", v);
	http_resp_free(&r);
	cr_expect_eq(post("127.0.0.2", NULL, doc, strlen(doc), NULL), 201);
	cr_expect_eq(get_from("127.0.0.1", "/"), 200, "GETs are not uploads");
	cr_expect_eq(server_count_uploads(&srv), 3);
}

/*
 * Quota
 */

Test(quota, files_and_bytes_caps_give_507_and_nothing_partial, .fini = stop, .timeout = 60)
{
	struct server_opts o = { .extra = "uploads_max_files = 3;\nuploads_max_bytes = 100;" };
	struct http_resp r;
	char body[64];
	int fd;

	start(&o);
	memset(body, ' ', sizeof body);
	body[0] = '1';
	cr_expect_eq(post(NULL, NULL, body, 60, NULL), 201);
	/* 60 + 41 > 100 */
	cr_assert_eq(post(NULL, NULL, body, 41, &r), 507);
	cr_expect_not_null(strstr(r.body, "\"error\""), "%s", r.body);
	cr_expect_not_null(strstr(r.head, "application/json"));
	http_resp_free(&r);
	cr_expect_eq(server_count_uploads(&srv), 1, "nothing partial");
	cr_expect_eq(post(NULL, NULL, body, 40, NULL), 201);
	/* a chunked body that passes the cap on the way */
	fd = connect_from("127.0.0.1", srv.port);
	send_str(fd, fmt("POST /upload HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
			 "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "1\r\n1\r\n10\r\n                \r\n0\r\n\r\n",
			 srv.port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_expect_eq(r.status, 507);
	http_resp_free(&r);
	close(fd);
	cr_expect_eq(server_count_uploads(&srv), 2);
	/* empty files count as files */
	cr_expect_eq(post(NULL, NULL, "0", 0, NULL), 400, "an empty body is not JSON");
	cr_expect_eq(post(NULL, NULL, "0", 0, NULL), 400);
	cr_expect_eq(post(NULL, NULL, "0", 1, NULL), 507, "100 bytes are used");
}

Test(quota, rescanned_on_reload, .fini = stop, .timeout = 60)
{
	struct server_opts o = { .extra = "uploads_max_files = 1;" };
	char cmd[512];

	start(&o);
	cr_expect_eq(post(NULL, NULL, "[1]", 3, NULL), 201);
	cr_expect_eq(post(NULL, NULL, "[2]", 3, NULL), 507);
	snprintf(cmd, sizeof cmd, "rm -f '%s'/upload_*.json", srv.uploads);
	cr_assert_eq(system(cmd), 0);
	cr_expect_eq(post(NULL, NULL, "[2]", 3, NULL), 507, "not rescanned yet");
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert_eq(server_wait_notify(&srv, "READY=1", 10000), 0);
	cr_expect_eq(post(NULL, NULL, "[3]", 3, NULL), 201);
}

struct racer {
	int status;
};

static void *race_upload(void *arg)
{
	struct racer *r = arg;
	static const char body[] = "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]";

	r->status = post(NULL, NULL, body, sizeof body - 1, NULL);
	return NULL;
}

/* 64 concurrent uploads of 63 bytes against room for 10 of them. */
Test(quota, concurrent_uploads_never_overshoot, .fini = stop, .timeout = 60)
{
	struct server_opts o = { .pool_size = 16, .extra = "uploads_max_bytes = 676;" };
	struct racer rs[64];
	pthread_t t[64];
	int ok = 0, full = 0;
	char cmd[512];
	FILE *p;
	long total = -1;

	char fifty[51];

	start(&o);
	/* 50 bytes are there already: 676 - 50 = 626 = 9 * 63 + 59 */
	memset(fifty, ' ', 50);
	memcpy(fifty, "[0]", 3);
	cr_expect_eq(post(NULL, NULL, fifty, 50, NULL), 201);
	for (int i = 0; i < 64; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, race_upload, &rs[i]), 0);
	for (int i = 0; i < 64; i++) {
		pthread_join(t[i], NULL);
		ok += rs[i].status == 201;
		full += rs[i].status == 507;
	}
	cr_expect_eq(ok, 9);
	cr_expect_eq(full, 55);
	snprintf(cmd, sizeof cmd, "cat '%s'/upload_*.json | wc -c", srv.uploads);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_eq(fscanf(p, "%ld", &total), 1);
	pclose(p);
	cr_expect_eq(total, 50 + 9 * 63);
	cr_expect_leq(total, 676);
	cr_expect_eq(server_count_uploads(&srv), 10);
}

/*
 * Bodies that never sit whole in memory
 */

/* [0,0,0,...,0] of exactly LEN bytes (LEN odd, >= 3), generated in
 * pieces: byte i is '[' at 0, ']' at the end, '0' at odd i, ',' else. */
static void gen(char *buf, uint64_t off, size_t n, uint64_t len)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t k = off + i;

		buf[i] = k == 0 ? '[' : k == len - 1 ? ']' : (k & 1) ? '0' : ',';
	}
}

/* Send LEN bytes of the shape above (byte BAD_AT replaced by 'x' when not
 * UINT64_MAX), framed by Content-Length or chunked; the status (-1: the
 * connection ended without a response). */
#define NOT_BAD UINT64_MAX
static int stream_upload(const char *src, uint64_t len, bool chunked, uint64_t bad_at)
{
	const size_t piece = 256 * 1024;
	char *buf = malloc(piece + 64);
	struct http_resp r;
	int fd = connect_from(src, srv.port), st;
	uint64_t off = 0;

	cr_assert_not_null(buf);
	if (chunked)
		send_str(fd, fmt("POST /upload HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
				 "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
				 srv.port));
	else
		send_str(fd, fmt("POST /upload HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
				 "Content-Type: application/json\r\nContent-Length: %llu\r\n\r\n",
				 srv.port, (unsigned long long)len));
	while (off < len) {
		size_t n = len - off < piece ? (size_t)(len - off) : piece;
		char head[32];

		gen(buf, off, n, len);
		if (bad_at >= off && bad_at < off + n)
			buf[bad_at - off] = 'x';
		if (chunked) {
			snprintf(head, sizeof head, "%zx\r\n", n);
			if (!send_some(fd, head, strlen(head)))
				break;
		}
		if (!send_some(fd, buf, n) || (chunked && !send_some(fd, "\r\n", 2)))
			break;
		off += n;
	}
	if (chunked && off == len)
		send_some(fd, "0\r\n\r\n", 5);
	st = http_read(fd, &r, false) == 0 ? r.status : -1;
	if (st > 0)
		http_resp_free(&r);
	close(fd);
	free(buf);
	return st;
}

/* The one stored upload is LEN bytes of the shape above. */
static void expect_stored(uint64_t len)
{
	char cmd[512], name[256] = "";
	const size_t piece = 1 << 20;
	char *want = malloc(piece), *got = malloc(piece);
	uint64_t off = 0;
	FILE *p, *f;

	cr_assert(want && got);
	snprintf(cmd, sizeof cmd, "ls '%s' | grep '^upload_'", srv.uploads);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(name, sizeof name, p));
	pclose(p);
	name[strcspn(name, "\n")] = '\0';
	f = fopen(fmt("%s/%s", srv.uploads, name), "rb");
	cr_assert_not_null(f);
	while (off < len) {
		size_t n = len - off < piece ? (size_t)(len - off) : piece;

		gen(want, off, n, len);
		cr_assert_eq(fread(got, 1, n, f), n, "short file at %llu", (unsigned long long)off);
		cr_assert_eq(memcmp(want, got, n), 0, "differs in [%llu, +%zu)",
			     (unsigned long long)off, n);
		off += n;
	}
	cr_expect_eq(fread(got, 1, 1, f), 0, "longer than sent");
	fclose(f);
	free(want);
	free(got);
}

/* 256 MiB; 64 MiB under a sanitizer, which multiplies the daemon's CPU
 * time (and whose own memory the RSS checks would measure anyway) */
#define BIG (sanitized() ? (uint64_t)64 << 20 : (uint64_t)256 << 20)

static void big_upload(bool chunked)
{
	struct server_opts o = { 0 };
	long hwm;

	o.max_body_size = BIG + 1;

	start(&o);
	cr_assert_eq(stream_upload("127.0.0.1", BIG + 1, chunked, NOT_BAD), 201);
	hwm = vm_kib(srv.pid, "VmHWM:");
	expect_stored(BIG + 1);
	/* ASan's shadow memory and quarantine are not the daemon's */
	if (!sanitized())
		cr_expect_lt(hwm, 64 * 1024, "peak RSS %ld KiB for a 256 MiB upload", hwm);
	cr_expect_eq(server_count_uploads(&srv), 1);
}

Test(stream, large_upload_content_length_bounded_memory, .fini = stop, .timeout = 120)
{
	big_upload(false);
}

Test(stream, large_upload_chunked_bounded_memory, .fini = stop, .timeout = 120)
{
	big_upload(true);
}

Test(stream, large_invalid_upload_leaves_nothing, .fini = stop, .timeout = 120)
{
	struct server_opts o = { 0 };
	char cmd[512];
	FILE *p;
	int n = -1;

	o.max_body_size = BIG + 1;
	start(&o);
	/* invalid only in its very last byte: found at the end */
	cr_expect_eq(stream_upload("127.0.0.1", BIG + 1, false, BIG), 400);
	cr_expect_eq(stream_upload("127.0.0.1", BIG + 1, true, BIG), 400);
	/* invalid early: refused (400, or a reset if the rest was still on
	 * its way) before the rest is read */
	{
		int st = stream_upload("127.0.0.1", BIG + 1, false, 1000);

		cr_expect(st == 400 || st == -1, "status %d", st);
	}
	cr_expect_eq(server_count_uploads(&srv), 0);
	cr_expect_eq(stream_upload("127.0.0.1", 1001, false, NOT_BAD), 201);
	cr_expect_eq(server_count_uploads(&srv), 1);
	snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", srv.uploads);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	cr_expect_eq(n, 1, "no temporary file left behind");
}

struct streamer {
	uint64_t len;
	int status;
};

static void *stream_one(void *arg)
{
	struct streamer *s = arg;

	s->status = stream_upload("127.0.0.1", s->len, false, NOT_BAD);
	return NULL;
}

Test(stream, ten_concurrent_uploads_bounded_memory, .fini = stop, .timeout = 180)
{
	struct server_opts o = { .pool_size = 12, .max_body_size = 64 << 20 };
	struct streamer s[10];
	pthread_t t[10];
	long hwm;

	start(&o);
	for (int i = 0; i < 10; i++) {
		s[i].len = (sanitized() ? 8u << 20 : 32u << 20) + 1;
		cr_assert_eq(pthread_create(&t[i], NULL, stream_one, &s[i]), 0);
	}
	for (int i = 0; i < 10; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(s[i].status, 201);
	}
	hwm = vm_kib(srv.pid, "VmHWM:");
	if (!sanitized())
		cr_expect_lt(hwm, 128 * 1024, "peak RSS %ld KiB", hwm);
	cr_expect_eq(server_count_uploads(&srv), 10);
}
