/* test_server.c - the real daemon over loopback: every behaviour of the seed
 * (GET, downloads, uploads, security, concurrency) and the HTTP/1.1
 * connection rules.  Each test starts its own daemon (see harness.h). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct server srv;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The access line is written just after the response went out: the client
 * can be faster than that. */
static bool log_soon(const char *needle)
{
	for (int i = 0; i < 100 && !server_log_contains(&srv, needle); i++)
		usleep(20000);
	return server_log_contains(&srv, needle);
}

static void start_default(void)
{
	server_start(&srv, NULL);
}

static void stop(void)
{
	server_stop(&srv);
}

static char *resource(const char *name, size_t *len)
{
	char path[512];
	char *data;

	snprintf(path, sizeof path, "%s/resources/%s", srcdir(), name);
	data = read_whole(path, len);
	cr_assert_not_null(data, "cannot read %s", path);
	return data;
}

/* A request on a fresh connection, with our Host. */
static void request(const char *raw, struct http_resp *r, bool head)
{
	int fd = http_connect(srv.port);

	send_str(fd, raw);
	cr_assert_eq(http_read(fd, r, head), 0, "no complete response to: %s", raw);
	close(fd);
}


static void assert_header(const struct http_resp *r, const char *name, const char *want)
{
	char v[1024];

	cr_assert(http_header(r, name, v, sizeof v), "missing %s in:\n%s", name, r->head);
	cr_assert_str_eq(v, want, "%s: got '%s', want '%s'", name, v, want);
}

/* ---------------------------------------------------------------- GET */

TestSuite(get, .init = start_default, .fini = stop, .timeout = 60);

/* The log says once, at start, how files are opened (openat2, or the
 * O_NOFOLLOW walk when a sandbox refuses openat2), not per request. */
Test(get, open_path_is_logged_once)
{
	struct http_resp r;
	char *log, *p;
	int n = 0;

	for (int i = 0; i < 3; i++) {
		cr_assert_eq(http_get(&srv, "GET", "/index.html", &r), 0);
		cr_assert_eq(r.status, 200);
		http_resp_free(&r);
	}
	log = read_whole(srv.log, NULL);
	cr_assert_not_null(log);
	for (p = log; (p = strstr(p, "opening files with ")) != NULL; p++)
		n++;
	cr_assert_eq(n, 1, "logged %d times:\n%s", n, log);
	cr_assert_not_null(strstr(log, "opening files with openat2(RESOLVE_BENEATH)"), "%s", log);
	free(log);
}

Test(get, root_serves_index_html)
{
	struct http_resp r;
	size_t len;
	char *want = resource("index.html", &len);
	char v[256];

	cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
	cr_assert_eq(r.status, 200);
	assert_header(&r, "Content-Type", "text/html; charset=utf-8");
	assert_header(&r, "Content-Length", fmt("%zu", len));
	assert_header(&r, "Connection", "keep-alive");
	assert_header(&r, "Keep-Alive", "timeout=5, max=99");
	cr_assert(http_header(&r, "Server", v, sizeof v));
	cr_assert(strncmp(v, "mthttpd/", 8) == 0, "Server: %s", v);
	cr_assert(http_header(&r, "Date", v, sizeof v));
	cr_assert_eq(strlen(v), 29, "Date not IMF-fixdate: %s", v);
	cr_assert_str_eq(v + 26, "GMT");
	cr_assert_eq(r.body_len, len);
	cr_assert(memcmp(r.body, want, len) == 0);
	http_resp_free(&r);
	free(want);
}

Test(get, html_pages)
{
	static const char *pages[] = { "about.html", "contact.html", "index.html" };

	for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
		struct http_resp r;
		size_t len;
		char *want = resource(pages[i], &len);

		cr_assert_eq(http_get(&srv, "GET", fmt("/%s", pages[i]), &r), 0);
		cr_assert_eq(r.status, 200, "%s -> %d", pages[i], r.status);
		assert_header(&r, "Content-Type", "text/html; charset=utf-8");
		cr_assert(!http_header(&r, "Content-Disposition", (char[8]){ 0 }, 8));
		cr_assert_eq(r.body_len, len);
		cr_assert(memcmp(r.body, want, len) == 0);
		http_resp_free(&r);
		free(want);
	}
}

Test(get, downloads_are_attachments_and_byte_exact)
{
	static const char *files[] = { "logo.png", "photo.png", "family.jpg", "friend.jpg",
				       "sample.txt" };

	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		struct http_resp r;
		size_t len;
		char *want = resource(files[i], &len);

		cr_assert_eq(http_get(&srv, "GET", fmt("/%s", files[i]), &r), 0);
		cr_assert_eq(r.status, 200, "%s -> %d", files[i], r.status);
		assert_header(&r, "Content-Type", "application/octet-stream");
		assert_header(&r, "Content-Disposition",
			      fmt("attachment; filename=\"%s\"", files[i]));
		assert_header(&r, "Content-Length", fmt("%zu", len));
		cr_assert_eq(r.body_len, len);
		cr_assert(memcmp(r.body, want, len) == 0, "%s differs", files[i]);
		http_resp_free(&r);
		free(want);
	}
}

Test(get, missing_file_is_404)
{
	struct http_resp r;

	cr_assert_eq(http_get(&srv, "GET", "/nonexistent.png", &r), 0);
	cr_assert_eq(r.status, 404);
	http_resp_free(&r);
	cr_assert_eq(http_get(&srv, "GET", "/no/such/dir/", &r), 0);
	cr_assert_eq(r.status, 404);
	http_resp_free(&r);
}

Test(get, head_has_get_headers_and_no_body)
{
	struct http_resp g, h;
	char a[64], b[64];
	int fd;

	cr_assert_eq(http_get(&srv, "GET", "/logo.png", &g), 0);
	fd = http_connect(srv.port);
	/* HEAD then GET on one connection: a body after HEAD would corrupt
	 * the second response */
	send_str(fd, fmt("HEAD /logo.png HTTP/1.1\r\nHost: localhost:%u\r\n\r\n"
			 "GET /sample.txt HTTP/1.1\r\nHost: localhost:%u\r\n\r\n",
			 srv.port, srv.port));
	cr_assert_eq(http_read(fd, &h, true), 0);
	cr_assert_eq(h.status, 200);
	cr_assert(http_header(&g, "Content-Length", a, sizeof a));
	cr_assert(http_header(&h, "Content-Length", b, sizeof b));
	cr_assert_str_eq(a, b);
	assert_header(&h, "Content-Type", "application/octet-stream");
	assert_header(&h, "Content-Disposition", "attachment; filename=\"logo.png\"");
	http_resp_free(&h);
	cr_assert_eq(http_read(fd, &h, false), 0);
	cr_assert_eq(h.status, 200);
	assert_header(&h, "Content-Disposition", "attachment; filename=\"sample.txt\"");
	http_resp_free(&h);
	http_resp_free(&g);
	close(fd);
}

Test(get, query_string_is_ignored)
{
	struct http_resp r;

	cr_assert_eq(http_get(&srv, "GET", "/about.html?x=1&y=2", &r), 0);
	cr_assert_eq(r.status, 200);
	http_resp_free(&r);
}

/* ---------------------------------------------------- files and dirs */

static void own_root(void)
{
	struct server_opts o = { .own_docroot = true };
	server_start(&srv, &o);
}

static void own_root_sendfile_always(void)
{
	struct server_opts o = { .own_docroot = true, .extra = "sendfile = \"always\";\n" };
	server_start(&srv, &o);
}

static void own_root_sendfile_never(void)
{
	struct server_opts o = { .own_docroot = true, .extra = "sendfile = \"never\";\n" };
	server_start(&srv, &o);
}

TestSuite(files, .init = own_root, .fini = stop, .timeout = 120);

static void write_file(const char *path, const char *data)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(data, f);
	fclose(f);
}

Test(files, directories_index_redirect_and_404)
{
	struct http_resp r;

	cr_assert_eq(mkdir(fmt("%s/docs", srv.docroot), 0755), 0);
	cr_assert_eq(mkdir(fmt("%s/empty", srv.docroot), 0755), 0);
	write_file(fmt("%s/docs/index.html", srv.docroot), "<p>docs</p>\n");

	cr_assert_eq(http_get(&srv, "GET", "/docs/", &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "<p>docs</p>\n");
	http_resp_free(&r);

	cr_assert_eq(http_get(&srv, "GET", "/docs", &r), 0);
	cr_assert_eq(r.status, 301);
	assert_header(&r, "Location", "/docs/");
	http_resp_free(&r);

	cr_assert_eq(http_get(&srv, "GET", "/empty/", &r), 0);
	cr_assert_eq(r.status, 404, "directory without index must be 404");
	http_resp_free(&r);

	/* the root without index.html */
	cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
	cr_assert_eq(r.status, 404);
	http_resp_free(&r);
}

Test(files, only_regular_files)
{
	struct http_resp r;

	cr_assert_eq(mkfifo(fmt("%s/fifo.txt", srv.docroot), 0644), 0);
	/* opening a FIFO must not block a worker: the answer is 404 */
	cr_assert_eq(http_get(&srv, "GET", "/fifo.txt", &r), 0);
	cr_assert_eq(r.status, 404);
	http_resp_free(&r);
}

/* NAME_MAX bytes of UTF-8: filename*= triples them, and the field must
 * still fit beside ETag, Last-Modified and a Content-Range. */
Test(files, long_non_ascii_download_name_keeps_content_disposition)
{
	char name[256] = "", path[1024] = "/", v[2048];
	struct http_resp r;

	for (int i = 0; i < 125; i++) {
		strcat(name, "\xc3\xa9");
		strcat(path, "%C3%A9");
	}
	strcat(name, ".txt");
	strcat(path, ".txt");
	write_file(fmt("%s/%s", srv.docroot, name), "hello\n");
	for (int range = 0; range < 2; range++) {
		request(fmt("GET %s HTTP/1.1\r\nHost: localhost:%u\r\n%s\r\n", path, srv.port,
			    range ? "Range: bytes=0-1\r\n" : ""),
			&r, false);
		cr_assert_eq(r.status, range ? 206 : 200);
		cr_assert(http_header(&r, "Content-Disposition", v, sizeof v),
			  "no Content-Disposition (%d)", r.status);
		cr_assert(strstr(v, "; filename*=UTF-8''%C3%A9%C3%A9") != NULL, "%s", v);
		cr_assert(strstr(v, "%C3%A9.txt") != NULL, "cut short: %s", v);
		http_resp_free(&r);
	}
}

Test(files, symlink_out_of_root_is_403)
{
	struct http_resp r;

	write_file(fmt("%s/secret.txt", srv.dir), "top secret\n");
	write_file(fmt("%s/inside.txt", srv.docroot), "fine\n");
	cr_assert_eq(symlink(fmt("%s/secret.txt", srv.dir), fmt("%s/abs.txt", srv.docroot)), 0);
	cr_assert_eq(symlink("../secret.txt", fmt("%s/rel.txt", srv.docroot)), 0);
	cr_assert_eq(symlink("/etc", fmt("%s/etc", srv.docroot)), 0);
	cr_assert_eq(symlink("inside.txt", fmt("%s/ok.txt", srv.docroot)), 0);

	cr_assert_eq(http_get(&srv, "GET", "/abs.txt", &r), 0);
	cr_assert_eq(r.status, 403);
	cr_assert_null(strstr(r.body, "top secret"));
	http_resp_free(&r);
	cr_assert_eq(http_get(&srv, "GET", "/rel.txt", &r), 0);
	cr_assert_eq(r.status, 403);
	http_resp_free(&r);
	cr_assert_eq(http_get(&srv, "GET", "/etc/passwd", &r), 0);
	cr_assert_eq(r.status, 403);
	http_resp_free(&r);
	/* a link that stays inside the root is fine */
	cr_assert_eq(http_get(&srv, "GET", "/ok.txt", &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "fine\n");
	http_resp_free(&r);
}

/* The daemon's I/O counters from /proc/PID/io (the whole process). */
struct proc_io {
	uint64_t rchar, wchar;
};

static struct proc_io daemon_io(void)
{
	struct proc_io io = { 0, 0 };
	char line[128];
	FILE *f = fopen(fmt("/proc/%ld/io", (long)srv.pid), "r");

	cr_assert_not_null(f, "/proc/%ld/io: %s", (long)srv.pid, strerror(errno));
	while (fgets(line, sizeof line, f)) {
		unsigned long long v;

		if (sscanf(line, "rchar: %llu", &v) == 1)
			io.rchar = v;
		else if (sscanf(line, "wchar: %llu", &v) == 1)
			io.wchar = v;
	}
	fclose(f);
	return io;
}

enum body_path { BODY_SENDFILE, BODY_COPY };

/* Which way did the body of the last BYTES-byte response go out?  The
 * kernel counts sendfile(2)'s bytes as written by the process (wchar),
 * send(2)'s not at all, and pread(2)'s as read (rchar); the daemon's own
 * writes in between are log lines, far fewer bytes. */
static void expect_body_path(struct proc_io before, uint64_t bytes, enum body_path want,
			     const char *what)
{
	struct proc_io after = daemon_io();
	uint64_t w = after.wchar - before.wchar, rd = after.rchar - before.rchar;

	if (want == BODY_SENDFILE)
		cr_assert_geq(w, bytes, "%s: expected sendfile(2), but the daemon wrote %llu bytes",
			      what, (unsigned long long)w);
	else
		cr_assert(w < bytes / 4 && rd >= bytes,
			  "%s: expected pread + send, but the daemon wrote %llu and read %llu bytes",
			  what, (unsigned long long)w, (unsigned long long)rd);
}

/* A 24 MiB file: several send rounds and yields, checked byte for byte,
 * and a range inside it, then a 300 kB one.  "auto" and "always" use
 * sendfile(2), "never" copies even small files, and "auto" copies where
 * sendfile fails: BIG and SMALL say which path each must take, checked
 * from the daemon's I/O counters. */
static void large_file_roundtrip(enum body_path big, enum body_path small)
{
	const size_t size = 24u << 20;
	char *data = malloc(size);
	struct http_resp r;
	struct proc_io io;
	int fd;

	for (size_t i = 0; i < size; i++)
		data[i] = (char)(i * 2654435761u >> 13);
	write_bytes(fmt("%s/big.bin", srv.docroot), data, size);
	write_bytes(fmt("%s/small.bin", srv.docroot), data, 300000);
	io = daemon_io();
	cr_assert_eq(http_get(&srv, "GET", "/big.bin", &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body_len, size);
	cr_assert(memcmp(r.body, data, size) == 0);
	http_resp_free(&r);
	expect_body_path(io, size, big, "24 MiB");
	io = daemon_io();
	cr_assert_eq(http_get(&srv, "GET", "/small.bin", &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body_len, 300000);
	cr_assert(memcmp(r.body, data, 300000) == 0);
	http_resp_free(&r);
	expect_body_path(io, 300000, small, "300 kB");

	io = daemon_io();
	fd = http_connect(srv.port);
	send_str(fd, fmt("GET /big.bin HTTP/1.1\r\nHost: localhost:%u\r\n"
			 "Range: bytes=20000000-20999999\r\n\r\n",
			 srv.port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 206);
	cr_assert_eq(r.body_len, 1000000);
	cr_assert(memcmp(r.body, data + 20000000, 1000000) == 0);
	http_resp_free(&r);
	close(fd);
	/* "auto" decides by the size of the file, not of the range */
	expect_body_path(io, 1000000, big, "range of the 24 MiB file");
	free(data);
}

/* Also to a client on this host: "auto" used to copy files of 1 MiB or
 * more to loopback clients, at twice the CPU per byte */
Test(files, large_file_by_sendfile_by_default)
{
	large_file_roundtrip(BODY_SENDFILE, BODY_SENDFILE);
}

/* The daemon with syncshim.so preloaded and sendfile(2) failing with
 * EINVAL, as for a file system that cannot feed it; EXTRA: config lines. */
static void start_without_sendfile(const char *extra)
{
	static char preload[600], asan[600];
	static const char *env[4];
	struct server_opts o = { .own_docroot = true, .extra = extra, .env = env };
	const char *san = getenv("MTHTTPD_SANITIZER");
	size_t k = 0;

	if (san && strcmp(san, "tsan") == 0)
		cr_skip_test("syncshim.so is not preloaded into a ThreadSanitizer build");
	cr_assert_eq(access(SYNCSHIM_SO, R_OK), 0, "%s: %s", SYNCSHIM_SO, strerror(errno));
	snprintf(preload, sizeof preload, "LD_PRELOAD=%s", SYNCSHIM_SO);
	/* ASan wants to be the first library; the shim only passes calls on */
	snprintf(asan, sizeof asan, "ASAN_OPTIONS=verify_asan_link_order=0:%s",
		 getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "");
	env[k++] = preload;
	env[k++] = "MTHTTPD_SYNC_NO_SENDFILE=1";
	if (san && strcmp(san, "asan") == 0)
		env[k++] = asan;
	env[k] = NULL;
	server_start(&srv, &o);
}

/* "auto" where sendfile(2) is refused: every file is read and sent, byte
 * for byte, and the journal says so once */
Test(files, auto_copies_where_sendfile_fails)
{
	start_without_sendfile(NULL);
	large_file_roundtrip(BODY_COPY, BODY_COPY);
	cr_assert(log_soon("sendfile(2): Invalid argument"),
		  "no notice that sendfile(2) was refused");
}

/* "always" where sendfile(2) is refused: the response cannot be completed,
 * the connection is closed after the head, and the daemon goes on */
Test(files, always_fails_where_sendfile_fails)
{
	static char body[300000]; /* beyond what is served from memory */
	struct http_resp r;
	FILE *f;

	start_without_sendfile("sendfile = \"always\";\n");
	memset(body, 'x', sizeof body);
	f = fopen(fmt("%s/f.bin", srv.docroot), "wb");
	cr_assert_eq(fwrite(body, 1, sizeof body, f), sizeof body);
	fclose(f);
	f = fopen(fmt("%s/index.html", srv.docroot), "wb");
	cr_assert_eq(fwrite("<p>ok</p>", 1, 9, f), 9);
	fclose(f);
	cr_assert_neq(http_get(&srv, "GET", "/f.bin", &r), 0,
		      "a complete response without sendfile(2) under \"always\"");
	cr_assert_eq(http_get(&srv, "GET", "/index.html", &r), 0);
	cr_assert_eq(r.status, 200, "the daemon serves on");
	http_resp_free(&r);
}

Test(files, large_file_with_sendfile, .init = own_root_sendfile_always)
{
	large_file_roundtrip(BODY_SENDFILE, BODY_SENDFILE);
}

Test(files, every_file_copied, .init = own_root_sendfile_never)
{
	large_file_roundtrip(BODY_COPY, BODY_COPY);
}

/* Over 4 GiB: 64-bit lengths and offsets end to end, and the ~2 GiB cap of
 * one sendfile(2) call.  The file is sparse, so it costs no disk. */
Test(files, file_over_4_gib, .init = own_root_sendfile_always)
{
	const uint64_t size = (4ull << 30) + 4096 + 7;
	char req[256], buf[1 << 16], tail[8] = { 0 };
	struct http_resp r;
	uint64_t got = 0;
	int fd, ffd;

	ffd = open(fmt("%s/huge.bin", srv.docroot), O_WRONLY | O_CREAT, 0644);
	cr_assert_geq(ffd, 0);
	cr_assert_eq(pwrite(ffd, "THE-END", 7, (off_t)size - 7), 7);
	close(ffd);

	fd = http_connect(srv.port);
	snprintf(req, sizeof req, "GET /huge.bin HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port);
	send_str(fd, req);
	cr_assert_eq(http_read(fd, &r, true), 0); /* head only: stream the body */
	cr_assert_eq(r.status, 200);
	assert_header(&r, "Content-Length", fmt("%llu", (unsigned long long)size));
	while (got < size) {
		uint64_t left = size - got;
		ssize_t n;

		if (left > 4096) {
			/* MSG_TRUNC: the kernel discards the bytes instead of
			 * copying them out; only the tail is looked at */
			n = recv(fd, NULL, left - 4096 > (1u << 24) ? (1u << 24) : left - 4096,
				 MSG_TRUNC);
		} else {
			n = recv(fd, buf, left, 0);
			for (ssize_t i = 0; i < n; i++)
				if (got + (uint64_t)i >= size - 7)
					tail[got + (uint64_t)i - (size - 7)] = buf[i];
		}
		cr_assert_gt(n, 0, "connection ended after %llu bytes", (unsigned long long)got);
		got += (uint64_t)n;
	}
	cr_assert_eq(got, size);
	cr_assert_str_eq(tail, "THE-END");
	http_resp_free(&r);
	close(fd);
}

/* ------------------------------------------------------------ uploads */

TestSuite(upload, .init = start_default, .fini = stop, .timeout = 60);

static int post(const char *ctype, const char *body, struct http_resp *r)
{
	int fd = http_connect(srv.port), rc;

	send_str(fd, fmt("POST /upload HTTP/1.1\r\nHost: localhost:%u\r\n%s%s%s"
			 "Content-Length: %zu\r\n\r\n",
			 srv.port, ctype ? "Content-Type: " : "", ctype ? ctype : "",
			 ctype ? "\r\n" : "", strlen(body)));
	send_str(fd, body);
	rc = http_read(fd, r, false);
	close(fd);
	return rc;
}

Test(upload, valid_json_is_stored_durably_and_served_back)
{
	const char *body = "{\"name\":\"mthttpd\",\"tags\":[1,2,3],\"ok\":true}";
	struct http_resp r, g;
	char loc[256], expect[512], path[512];
	size_t len;
	char *stored;

	cr_assert_eq(post("application/json; charset=utf-8", body, &r), 0);
	cr_assert_eq(r.status, 201, "got %d: %s", r.status, r.body);
	assert_header(&r, "Content-Type", "application/json");
	cr_assert(http_header(&r, "Location", loc, sizeof loc));
	cr_assert(strncmp(loc, "/uploads/upload_", 16) == 0, "Location %s", loc);
	snprintf(expect, sizeof expect, "{\"status\":\"created\",\"path\":\"%s\",\"bytes\":%zu}\n",
		 loc, strlen(body));
	cr_assert_str_eq(r.body, expect);

	snprintf(path, sizeof path, "%s/%s", srv.uploads, loc + 9);
	stored = read_whole(path, &len);
	cr_assert_not_null(stored, "%s missing", path);
	cr_assert_eq(len, strlen(body));
	cr_assert(memcmp(stored, body, len) == 0);
	cr_assert_eq(server_count_uploads(&srv), 1, "temp files left behind");

	cr_assert_eq(http_get(&srv, "GET", loc, &g), 0);
	cr_assert_eq(g.status, 200);
	assert_header(&g, "Content-Type", "application/json");
	assert_header(&g, "X-Content-Type-Options", "nosniff");
	cr_assert_str_eq(g.body, body);
	http_resp_free(&g);
	http_resp_free(&r);
	free(stored);
}

Test(upload, two_uploads_two_files)
{
	struct http_resp r;

	for (int i = 0; i < 2; i++) {
		cr_assert_eq(post("application/json", "[1,2]", &r), 0);
		cr_assert_eq(r.status, 201);
		http_resp_free(&r);
	}
	cr_assert_eq(server_count_uploads(&srv), 2);
}

Test(upload, wrong_content_type_is_415)
{
	struct http_resp r;

	cr_assert_eq(post("text/plain", "{\"a\":1}", &r), 0);
	cr_assert_eq(r.status, 415);
	assert_header(&r, "Content-Type", "application/json");
	cr_assert_not_null(strstr(r.body, "\"error\""));
	http_resp_free(&r);
	cr_assert_eq(post(NULL, "{\"a\":1}", &r), 0);
	cr_assert_eq(r.status, 415);
	http_resp_free(&r);
	cr_assert_eq(server_count_uploads(&srv), 0);
}

Test(upload, invalid_or_empty_json_is_400)
{
	static const char *bad[] = { "{\"a\":", "{'a':1}", "not json", "{} {}", "", "   " };
	struct http_resp r;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_assert_eq(post("application/json", bad[i], &r), 0);
		cr_assert_eq(r.status, 400, "'%s' -> %d", bad[i], r.status);
		assert_header(&r, "Content-Type", "application/json");
		cr_assert_not_null(strstr(r.body, "\"status\":\"error\""));
		http_resp_free(&r);
	}
	cr_assert_eq(server_count_uploads(&srv), 0);
}

Test(upload, missing_length_is_411)
{
	struct http_resp r;

	request(fmt("POST /upload HTTP/1.1\r\nHost: localhost:%u\r\n"
		    "Content-Type: application/json\r\n\r\n{}",
		    srv.port),
		&r, false);
	cr_assert_eq(r.status, 411);
	http_resp_free(&r);
	cr_assert_eq(server_count_uploads(&srv), 0);
}

Test(upload, post_elsewhere_is_405)
{
	struct http_resp r;

	request(fmt("POST /index.html HTTP/1.1\r\nHost: localhost:%u\r\n"
		    "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
		    srv.port),
		&r, false);
	cr_assert_eq(r.status, 405);
	assert_header(&r, "Allow", "GET, HEAD");
	http_resp_free(&r);
	cr_assert_eq(server_count_uploads(&srv), 0);
}

Test(upload, expect_100_continue)
{
	struct http_resp r;
	char interim[64] = { 0 };
	int fd = http_connect(srv.port);

	send_str(fd, fmt("POST /upload HTTP/1.1\r\nHost: localhost:%u\r\n"
			 "Content-Type: application/json\r\nContent-Length: 8\r\n"
			 "Expect: 100-continue\r\n\r\n",
			 srv.port));
	cr_assert_eq(recv(fd, interim, 25, MSG_WAITALL), 25);
	cr_assert_str_eq(interim, "HTTP/1.1 100 Continue\r\n\r\n");
	send_str(fd, "{\"a\":42}");
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 201);
	http_resp_free(&r);
	close(fd);
}

static void small_body_limit(void)
{
	struct server_opts o = { .max_body_size = 64 };
	server_start(&srv, &o);
}

Test(upload, body_over_limit_is_413_without_reading_it, .init = small_body_limit,
     .fini = stop, .timeout = 60)
{
	struct http_resp r;
	int fd = http_connect(srv.port);

	/* announce 10 MB but send only the head: the answer must come anyway */
	send_str(fd, fmt("POST /upload HTTP/1.1\r\nHost: localhost:%u\r\n"
			 "Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n",
			 srv.port));
	send_str(fd, "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24]");
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 413);
	assert_header(&r, "Connection", "close");
	cr_assert(wait_closed(fd, 5000), "server must close after 413");
	http_resp_free(&r);
	close(fd);
	cr_assert_eq(server_count_uploads(&srv), 0);
}

static void tiny_disk(void)
{
	struct server_opts o = { .uploads_tmpfs_kb = 64 };
	server_start(&srv, &o);
}

/* Disk full: 507, nothing partial in the uploads directory, the daemon keeps
 * serving, and uploads work again once there is room. */
Test(upload, disk_full_is_507_and_leaves_nothing, .init = tiny_disk, .fini = stop,
     .timeout = 60)
{
	char filler[300], body[8192];
	struct http_resp r;
	FILE *f;

	snprintf(filler, sizeof filler, "%s/filler", srv.uploads);
	f = fopen(filler, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < 1000 && fputc('x', f) != EOF && fflush(f) == 0; i++)
		for (int j = 0; j < 1023; j++)
			fputc('x', f);
	fclose(f); /* the file system is now full */

	memset(body, ' ', sizeof body - 1);
	body[0] = '[';
	body[sizeof body - 3] = '1';
	body[sizeof body - 2] = ']';
	body[sizeof body - 1] = '\0';
	cr_assert_eq(post("application/json", body, &r), 0);
	cr_assert_eq(r.status, 507, "got %d", r.status);
	cr_assert_not_null(strstr(r.body, "\"status\":\"error\""));
	http_resp_free(&r);
	cr_assert_eq(server_count_uploads(&srv), 1, "only the filler may be there");

	cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
	cr_assert_eq(r.status, 200, "still serving");
	http_resp_free(&r);

	cr_assert_eq(unlink(filler), 0);
	cr_assert_eq(post("application/json", body, &r), 0);
	cr_assert_eq(r.status, 201, "room again: got %d", r.status);
	http_resp_free(&r);
	cr_assert_eq(server_count_uploads(&srv), 1);
}

/* ----------------------------------------------------------- security */

TestSuite(security, .init = start_default, .fini = stop, .timeout = 60);

Test(security, traversal_raw_and_encoded_is_403)
{
	static const char *paths[] = {
		"/../etc/passwd",         "/../../../../etc/passwd", "/a/../../etc/passwd",
		"/%2e%2e/%2e%2e/etc/passwd", "/%2E%2E/etc/passwd",     "/..%2f..%2fetc%2fpasswd",
		"/.%2e/etc/passwd",       "/./index.html",           "/index.html%00.txt",
		"/..\\..\\etc\\passwd",   "/%5c..%5cetc/passwd",
	};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		struct http_resp r;

		request(fmt("GET %s HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", paths[i], srv.port), &r,
			false);
		cr_assert_eq(r.status, 403, "%s -> %d", paths[i], r.status);
		cr_assert_null(strstr(r.body, "root:"), "%s leaked a file", paths[i]);
		http_resp_free(&r);
	}
	cr_assert(log_soon("security:"), "rejections are logged");
}

Test(security, malformed_target_is_400)
{
	static const char *targets[] = { "index.html", "*", "localhost:80", "https://x/",
					 "/%zz", "/%4" };
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		struct http_resp r;

		request(fmt("GET %s HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", targets[i], srv.port),
			&r, false);
		cr_assert_eq(r.status, 400, "%s -> %d", targets[i], r.status);
		http_resp_free(&r);
	}
}

Test(security, host_header_rules)
{
	struct http_resp r;

	request("GET / HTTP/1.1\r\n\r\n", &r, false);
	cr_assert_eq(r.status, 400, "HTTP/1.1 without Host");
	http_resp_free(&r);
	request(fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\nHost: localhost:%u\r\n\r\n", srv.port,
		    srv.port),
		&r, false);
	cr_assert_eq(r.status, 400, "two Host fields");
	http_resp_free(&r);
	request(fmt("GET / HTTP/1.1\r\nHost: evil.example:%u\r\n\r\n", srv.port), &r, false);
	cr_assert_eq(r.status, 403, "name not allowed");
	http_resp_free(&r);
	request(fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port + 1), &r, false);
	cr_assert_eq(r.status, 403, "wrong port");
	http_resp_free(&r);
	request("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", &r, false);
	cr_assert_eq(r.status, 200, "a bare allowed name matches a Host without a port");
	http_resp_free(&r);
	request("GET / HTTP/1.1\r\nHost: localhost:80\r\n\r\n", &r, false);
	cr_assert_eq(r.status, 403, "port 80 is not ours, and no entry names it");
	http_resp_free(&r);
	request("GET / HTTP/1.1\r\nHost: bad host\r\n\r\n", &r, false);
	cr_assert_eq(r.status, 400, "invalid Host");
	http_resp_free(&r);
	request(fmt("GET / HTTP/1.1\r\nHost: LOCALHOST:%u\r\n\r\n", srv.port), &r, false);
	cr_assert_eq(r.status, 200, "names compare case-insensitively");
	http_resp_free(&r);
	request(fmt("GET / HTTP/1.1\r\nHost: [::1]:%u\r\n\r\n", srv.port), &r, false);
	cr_assert_eq(r.status, 200, "IPv6 literal");
	http_resp_free(&r);
	/* absolute-form: the target's authority decides (RFC 9112 3.2.2) */
	request(fmt("GET http://evil.example:%u/ HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port,
		    srv.port),
		&r, false);
	cr_assert_eq(r.status, 403);
	http_resp_free(&r);
	request(fmt("GET http://localhost:%u/about.html HTTP/1.1\r\nHost: x\r\n\r\n", srv.port), &r,
		false);
	cr_assert_eq(r.status, 200);
	http_resp_free(&r);
	/* HTTP/1.0 may omit Host */
	request("GET / HTTP/1.0\r\n\r\n", &r, false);
	cr_assert_eq(r.status, 200);
	http_resp_free(&r);
}

/* Behind anything that changes the port (a reverse proxy, docker -p
 * 80:8080, an iptables REDIRECT) the browser's Host names the port it
 * connected to.  An entry with a port matches exactly that port whatever
 * port the connection arrived on; a bare name matches the arrival port and
 * a Host without a port (issue 13's example, on our ephemeral port). */
Test(host_ports, explicit_port_entries_for_proxies, .fini = stop, .timeout = 60)
{
	struct server_opts o = { .extra = "allowed_hosts = [\"example.org\", \"localhost:9999\"];" };
	static const struct {
		const char *host;
		bool our_port; /* ":<our port>" follows */
		int status;
	} cases[] = {
		{ "example.org", false, 200 },      { "example.org", true, 200 },
		{ "localhost:9999", false, 200 },   { "LocalHost.:9999", false, 200 },
		{ "example.org:9999", false, 403 }, { "example.org:80", false, 403 },
		{ "localhost", true, 403 },         { "localhost", false, 403 },
	};

	server_start(&srv, &o);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_resp r;
		char host[64];

		if (cases[i].our_port)
			snprintf(host, sizeof host, "%s:%u", cases[i].host, srv.port);
		else
			snprintf(host, sizeof host, "%s", cases[i].host);
		request(fmt("GET /index.html HTTP/1.1\r\nHost: %s\r\n\r\n", host), &r, false);
		cr_assert_eq(r.status, cases[i].status, "Host: %s -> %d", host, r.status);
		http_resp_free(&r);
	}
}

Test(security, bad_host_stores_nothing)
{
	struct http_resp r;

	request(fmt("POST /upload HTTP/1.1\r\nHost: evil.example:%u\r\n"
		    "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
		    srv.port),
		&r, false);
	cr_assert_eq(r.status, 403);
	http_resp_free(&r);
	cr_assert_eq(server_count_uploads(&srv), 0);
}

Test(security, methods)
{
	static const char *m405[] = { "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE" };
	struct http_resp r;

	for (size_t i = 0; i < sizeof m405 / sizeof m405[0]; i++) {
		request(fmt("%s / HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", m405[i], srv.port), &r,
			false);
		cr_assert_eq(r.status, 405, "%s -> %d", m405[i], r.status);
		assert_header(&r, "Allow", "GET, HEAD, POST");
		http_resp_free(&r);
	}
	request(fmt("BREW / HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port), &r, false);
	cr_assert_eq(r.status, 501);
	http_resp_free(&r);
}

Test(security, malformed_requests_close_the_connection)
{
	struct {
		const char *req;
		int status;
	} cases[] = {
		{ "garbage\r\n\r\n", 400 },
		{ "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505 },
		{ "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400 },
		{ "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n",
		  400 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_resp r;
		int fd = http_connect(srv.port);

		send_str(fd, cases[i].req);
		cr_assert_eq(http_read(fd, &r, false), 0, "case %zu", i);
		cr_assert_eq(r.status, cases[i].status, "case %zu -> %d", i, r.status);
		assert_header(&r, "Connection", "close");
		cr_assert(wait_closed(fd, 5000), "case %zu: connection not closed", i);
		http_resp_free(&r);
		close(fd);
	}
}

Test(security, size_limits)
{
	struct http_resp r;
	size_t n = 9000;
	char *big = malloc(n + 64);
	int fd;

	/* request line over 8 KiB -> 414 */
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', n);
	strcpy(big + 5 + n, " HTTP/1.1\r\nHost: x\r\n\r\n");
	fd = http_connect(srv.port);
	send_str(fd, big);
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 414);
	http_resp_free(&r);
	close(fd);
	free(big);

	/* more than 100 fields -> 431 */
	fd = http_connect(srv.port);
	send_str(fd, fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\n", srv.port));
	for (int i = 0; i < 120; i++)
		send_str(fd, fmt("X-F%d: v\r\n", i));
	send_str(fd, "\r\n");
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 431);
	http_resp_free(&r);
	close(fd);

	/* a header block over 16 KiB -> 431 */
	fd = http_connect(srv.port);
	send_str(fd, fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\n", srv.port));
	for (int i = 0; i < 20; i++) {
		char line[1100];
		memset(line, 'v', sizeof line);
		memcpy(line, "X-Big: ", 7);
		memcpy(line + sizeof line - 2, "\r\n", 2);
		send_all(fd, line, sizeof line);
	}
	send_str(fd, "\r\n");
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 431);
	http_resp_free(&r);
	close(fd);
}

/* ---------------------------------------------------------- keep-alive */

TestSuite(keepalive, .init = start_default, .fini = stop, .timeout = 60);

Test(keepalive, http11_persists_and_pipelines_in_order)
{
	static const char *paths[] = { "/about.html", "/sample.txt", "/nope", "/contact.html" };
	char req[4096] = "";
	int fd = http_connect(srv.port);

	for (size_t i = 0; i < 4; i++)
		strcat(req, fmt("GET %s HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", paths[i], srv.port));
	send_str(fd, req); /* all four in one segment */
	for (size_t i = 0; i < 4; i++) {
		struct http_resp r;
		cr_assert_eq(http_read(fd, &r, false), 0, "response %zu", i);
		cr_assert_eq(r.status, i == 2 ? 404 : 200, "%s -> %d", paths[i], r.status);
		if (i == 1)
			assert_header(&r, "Content-Disposition", "attachment; filename=\"sample.txt\"");
		assert_header(&r, "Connection", "keep-alive");
		http_resp_free(&r);
	}
	close(fd);
}

/* The head buffer of a connection holds max_request_line + 2 +
 * max_header_size + 64 bytes (conn.c: in_cap_for, IN_SLACK): 1346 with the
 * smallest limits. */
#define SMALL_HEAD_BUF (256 + 2 + 1024 + 64)

static void smallest_head_limits(void)
{
	struct server_opts o = { .extra = "max_request_line = 256;\nmax_header_size = 1024;\n" };
	server_start(&srv, &o);
}

/* Edge-triggered epoll announces arriving bytes once.  When one read fills
 * the head buffer exactly with whole requests while the client has sent
 * more, the server must read again after answering them: the rest would
 * otherwise wait for an edge that never comes.  Two padded requests of
 * exactly half the buffer each, and a third behind them, in one send, on a
 * connection that is already registered. */
Test(keepalive, pipelined_requests_filling_the_buffer_exactly, .init = smallest_head_limits)
{
	char req[2 * SMALL_HEAD_BUF + 256];
	size_t half = SMALL_HEAD_BUF / 2, len = 0;
	int fd = http_connect(srv.port);

	struct http_resp r;

	/* one request first: the connection is then an idle registration in
	 * epoll, which only a new edge wakes (its first registration reports
	 * bytes already there) */
	send_str(fd, fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 200);
	http_resp_free(&r);
	cr_assert_eq(SMALL_HEAD_BUF % 2, 0);
	for (int i = 0; i < 2; i++) {
		const char *head = fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\nX-Pad: ", srv.port);
		size_t pad = half - strlen(head) - 4;

		memcpy(req + len, head, strlen(head));
		len += strlen(head);
		memset(req + len, 'p', pad);
		len += pad;
		memcpy(req + len, "\r\n\r\n", 4);
		len += 4;
	}
	cr_assert_eq(len, SMALL_HEAD_BUF);
	len += (size_t)snprintf(req + len, sizeof req - len,
				"GET /about.html HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port);
	send_all(fd, req, len);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(http_read(fd, &r, false), 0, "response %d", i);
		cr_assert_eq(r.status, 200, "response %d: %d", i, r.status);
		http_resp_free(&r);
	}
	close(fd);
}

Test(keepalive, connection_close_is_honoured)
{
	struct http_resp r;
	int fd = http_connect(srv.port);

	send_str(fd, fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\nConnection: close\r\n\r\n",
			 srv.port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	assert_header(&r, "Connection", "close");
	cr_assert(wait_closed(fd, 3000));
	http_resp_free(&r);
	close(fd);
}

Test(keepalive, http10_closes_unless_asked)
{
	struct http_resp r;
	int fd = http_connect(srv.port);

	send_str(fd, "GET / HTTP/1.0\r\n\r\n");
	cr_assert_eq(http_read(fd, &r, false), 0);
	assert_header(&r, "Connection", "close");
	cr_assert(wait_closed(fd, 3000));
	http_resp_free(&r);
	close(fd);

	fd = http_connect(srv.port);
	for (int i = 0; i < 2; i++) {
		send_str(fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
		cr_assert_eq(http_read(fd, &r, false), 0);
		assert_header(&r, "Connection", "keep-alive");
		http_resp_free(&r);
	}
	close(fd);
}

static void three_requests(void)
{
	struct server_opts o = { .max_requests = 3 };
	server_start(&srv, &o);
}

Test(keepalive, max_requests_closes, .init = three_requests, .fini = stop, .timeout = 60)
{
	int fd = http_connect(srv.port);

	for (int i = 1; i <= 3; i++) {
		struct http_resp r;
		send_str(fd, fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port));
		cr_assert_eq(http_read(fd, &r, false), 0);
		if (i < 3) {
			assert_header(&r, "Keep-Alive", fmt("timeout=5, max=%d", 3 - i));
		} else {
			assert_header(&r, "Connection", "close");
		}
		http_resp_free(&r);
	}
	cr_assert(wait_closed(fd, 3000), "connection must close after max_requests");
	close(fd);
}

static void short_timeout(void)
{
	struct server_opts o = { .keepalive_timeout = 1, .extra = "header_timeout = 1;" };
	server_start(&srv, &o);
}

Test(keepalive, idle_timeout_closes, .init = short_timeout, .fini = stop, .timeout = 60)
{
	struct http_resp r;
	int fd = http_connect(srv.port);
	int64_t t0;

	send_str(fd, fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	http_resp_free(&r);
	t0 = mono_ms();
	cr_assert(wait_closed(fd, 4000), "idle connection not closed");
	cr_assert_geq(mono_ms() - t0, 500, "closed before the timeout");
	close(fd);

	/* a half-sent request gets 408 */
	fd = http_connect(srv.port);
	send_str(fd, "GET / HTTP/1.1\r\nHost: loc");
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 408);
	http_resp_free(&r);
	close(fd);
}

/* --------------------------------------------------------- concurrency */

struct client_arg {
	unsigned port;
	int ok;
};

static void *client_main(void *p)
{
	struct client_arg *a = p;
	int fd = http_connect(a->port);

	for (int i = 0; i < 5; i++) {
		struct http_resp r;
		char req[256];
		snprintf(req, sizeof req, "GET /%s HTTP/1.1\r\nHost: localhost:%u\r\n\r\n",
			 i % 2 ? "logo.png" : "", a->port);
		send_str(fd, req);
		if (http_read(fd, &r, false) == 0 && r.status == 200)
			a->ok++;
		http_resp_free(&r);
	}
	close(fd);
	return NULL;
}

TestSuite(concurrency, .fini = stop, .timeout = 120);

/* 200 clients at once, five requests each on one connection: all served. */
static void two_hundred_clients(void)
{
	enum { N = 200 };
	pthread_t t[N];
	struct client_arg a[N];
	int total = 0;

	for (int i = 0; i < N; i++) {
		a[i] = (struct client_arg){ srv.port, 0 };
		cr_assert_eq(pthread_create(&t[i], NULL, client_main, &a[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		total += a[i].ok;
	}
	cr_assert_eq(total, N * 5, "only %d of %d requests served", total, N * 5);
}

Test(concurrency, two_hundred_clients_five_requests_each, .init = start_default)
{
	two_hundred_clients();
}

static void with_busy_poll(void)
{
	struct server_opts o = { .extra = "busy_poll = 500;\n" };
	server_start(&srv, &o);
}

/* busy_poll = 500: workers poll a while before they sleep in epoll_wait
 * (the default sleeps at once); the same load is served. */
Test(concurrency, two_hundred_clients_with_busy_poll, .init = with_busy_poll)
{
	two_hundred_clients();
}

/* CPU seconds (user + system) the process PID has used, from /proc. */
static double cpu_seconds(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* fields 14 and 15 (utime, stime) come after ") state ..." */
	p = strrchr(buf, ')');
	cr_assert_not_null(p);
	cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			    &st),
		     2);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void long_busy_poll(void)
{
	struct server_opts o = { .pool_size = 4, .one_cpu = true, .extra = "busy_poll = 10000;\n" };
	server_start(&srv, &o);
}

/* Polling for more requests is paid for by serving: after a burst of
 * requests, even with the longest busy_poll, the daemon is back to using
 * (almost) no CPU while nothing comes in. */
Test(concurrency, busy_poll_stops_when_requests_stop, .init = long_busy_poll)
{
	struct http_resp r;
	double idle_cpu;
	int fd = http_connect(srv.port);

	for (int i = 0; i < 90; i++) { /* max_requests is 100 here */
		send_str(fd, fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port));
		cr_assert_eq(http_read(fd, &r, false), 0);
		cr_assert_eq(r.status, 200);
		http_resp_free(&r);
	}
	usleep(100 * 1000);
	idle_cpu = cpu_seconds(srv.pid);
	usleep(1000 * 1000);
	idle_cpu = cpu_seconds(srv.pid) - idle_cpu;
	cr_assert_lt(idle_cpu, 0.1, "the idle daemon used %.2f s of CPU in 1 s", idle_cpu);
	/* and the connection that went quiet is still served */
	send_str(fd, fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 200);
	http_resp_free(&r);
	close(fd);
}

/* Uploads block their worker in fsync; with the daemon on one CPU only one
 * worker runs the event loop, and the others must take over while it
 * blocks: 8 uploaders and 8 readers at once are all answered, and every
 * upload is stored. */
struct mixed_arg {
	unsigned port;
	bool upload;
	int ok;
};

static void *mixed_client(void *p)
{
	struct mixed_arg *a = p;
	int fd = http_connect(a->port);

	for (int i = 0; i < 10; i++) {
		static const char body[] = "{\"n\":1,\"s\":\"one cpu\"}";
		struct http_resp r;
		char req[512];

		if (a->upload)
			snprintf(req, sizeof req,
				 "POST /upload HTTP/1.1\r\nHost: localhost:%u\r\n"
				 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
				 a->port, sizeof body - 1, body);
		else
			snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: localhost:%u\r\n\r\n",
				 a->port);
		send_str(fd, req);
		if (http_read(fd, &r, false) == 0 && r.status == (a->upload ? 201 : 200))
			a->ok++;
		http_resp_free(&r);
	}
	close(fd);
	return NULL;
}

static void one_cpu_four_workers(void)
{
	struct server_opts o = { .pool_size = 4, .one_cpu = true, .keepalive_timeout = 30 };
	server_start(&srv, &o);
}

Test(concurrency, one_cpu_uploads_and_reads_together, .init = one_cpu_four_workers)
{
	enum { N = 16 };
	pthread_t t[N];
	struct mixed_arg a[N];
	int ups = 0, gets = 0;

	for (int i = 0; i < N; i++) {
		a[i] = (struct mixed_arg){ srv.port, i % 2 == 0, 0 };
		cr_assert_eq(pthread_create(&t[i], NULL, mixed_client, &a[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		*(a[i].upload ? &ups : &gets) += a[i].ok;
	}
	cr_assert_eq(ups, N / 2 * 10, "uploads stored: %d", ups);
	cr_assert_eq(gets, N / 2 * 10, "pages served: %d", gets);
	cr_assert_eq(server_count_uploads(&srv), N / 2 * 10);
}

static void tiny_pool(void)
{
	struct server_opts o = { .pool_size = 2, .keepalive_timeout = 30 };
	server_start(&srv, &o);
}

/* Idle keep-alive connections hold no worker: with 4 x pool_size of them
 * open (and as many that never sent a byte), a new client is served at
 * once. */
Test(concurrency, idle_connections_do_not_hold_workers, .init = tiny_pool)
{
	enum { IDLE = 8 };
	int idle[IDLE], silent[IDLE];
	struct http_resp r;
	int64_t t0, dt;

	for (int i = 0; i < IDLE; i++) {
		idle[i] = http_connect(srv.port);
		send_str(idle[i], fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port));
		cr_assert_eq(http_read(idle[i], &r, false), 0);
		http_resp_free(&r);
		silent[i] = http_connect(srv.port);
	}
	t0 = mono_ms();
	cr_assert_eq(http_get(&srv, "GET", "/about.html", &r), 0);
	dt = mono_ms() - t0;
	cr_assert_eq(r.status, 200);
	cr_assert_lt(dt, 1000, "new client waited %lld ms", (long long)dt);
	http_resp_free(&r);
	/* and the idle ones are still usable */
	send_str(idle[0], fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port));
	cr_assert_eq(http_read(idle[0], &r, false), 0);
	cr_assert_eq(r.status, 200);
	http_resp_free(&r);
	for (int i = 0; i < IDLE; i++) {
		close(idle[i]);
		close(silent[i]);
	}
}

enum { MANY_IDLE = 10000, SPARE_FDS = 256 };

static void four_workers_many_fds(void)
{
	struct server_opts o = { .pool_size = 4, .queue_size = 1024, .keepalive_timeout = 60 };
	const rlim_t need = MANY_IDLE + SPARE_FDS;
	struct rlimit rl;

	/* The daemon inherits the limit: both sides hold one fd per client.
	 * Raise the soft limit, and the hard one if it is too low (allowed
	 * with CAP_SYS_RESOURCE); never run with fewer connections than the
	 * bar, which would pass without testing it. */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max < need) {
		struct rlimit want = { need, need };

		if (setrlimit(RLIMIT_NOFILE, &want) != 0)
			cr_assert_fail("this test needs %lu open files per process; the hard "
				       "RLIMIT_NOFILE is %lu and cannot be raised (%s): raise it "
				       "(ulimit -Hn %lu, LimitNOFILE=) or run with CAP_SYS_RESOURCE",
				       (unsigned long)need, (unsigned long)rl.rlim_max,
				       strerror(errno), (unsigned long)need);
		cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_assert_geq(rl.rlim_cur, need);
	server_start(&srv, &o);
}

/* The bar: 10,000 idle keep-alive connections with pool_size = 4 do
 * not delay a new client. */
Test(concurrency, ten_thousand_idle_keepalive_connections, .init = four_workers_many_fds,
     .timeout = 120)
{
	const unsigned batch = 250, many_idle = MANY_IDLE;
	int *fd = calloc(many_idle, sizeof *fd);
	char req[128];
	struct http_resp r;
	int64_t t0, dt;

	cr_assert_not_null(fd);
	snprintf(req, sizeof req, "GET /sample.txt HTTP/1.1\r\nHost: localhost:%u\r\n\r\n",
		 srv.port);
	for (unsigned i = 0; i < many_idle; i += batch) {
		unsigned end = i + batch < many_idle ? i + batch : many_idle;
		for (unsigned j = i; j < end; j++) {
			fd[j] = http_connect(srv.port);
			send_str(fd[j], req);
		}
		for (unsigned j = i; j < end; j++) {
			cr_assert_eq(http_read(fd[j], &r, false), 0, "connection %u", j);
			cr_assert_eq(r.status, 200);
			http_resp_free(&r);
		}
	}
	/* all of them are now idle keep-alive connections */
	for (int k = 0; k < 5; k++) {
		t0 = mono_ms();
		cr_assert_eq(http_get(&srv, "GET", "/about.html", &r), 0);
		dt = mono_ms() - t0;
		cr_assert_eq(r.status, 200);
		cr_assert_lt(dt, 1000, "a new client waited %lld ms", (long long)dt);
		http_resp_free(&r);
	}
	/* and an idle one still answers */
	send_str(fd[many_idle / 2], req);
	cr_assert_eq(http_read(fd[many_idle / 2], &r, false), 0);
	cr_assert_eq(r.status, 200);
	http_resp_free(&r);
	for (unsigned i = 0; i < many_idle; i++)
		close(fd[i]);
	free(fd);
}

/* kill(SIGSTOP) returns before the threads have stopped: wait until every
 * thread of PID shows state 'T' in /proc, so none can still accept. */
static bool wait_stopped(pid_t pid, int timeout_ms)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	for (int64_t end = mono_ms() + timeout_ms; mono_ms() < end; usleep(2000)) {
		DIR *d = opendir(path);
		struct dirent *e;
		bool all = true;

		if (!d)
			return false;
		while ((e = readdir(d))) {
			char stat[600], buf[512], *p;
			FILE *f;

			if (e->d_name[0] == '.')
				continue;
			snprintf(stat, sizeof stat, "%s/%s/stat", path, e->d_name);
			f = fopen(stat, "r");
			if (!f)
				continue;
			if (fgets(buf, sizeof buf, f) && (p = strrchr(buf, ')')) && p[2] != 'T' &&
			    p[2] != 't')
				all = false;
			fclose(f);
		}
		closedir(d);
		if (all)
			return true;
	}
	return false;
}

static void one_worker_one_slot(void)
{
	struct server_opts o = { .pool_size = 1, .queue_size = 1 };
	server_start(&srv, &o);
}

/* With the daemon frozen, connections pile up in the listen backlog; when it
 * resumes, its single worker takes one, queues one (queue_size = 1) and must
 * answer the rest 503 with Retry-After. */
Test(concurrency, full_queue_answers_503, .init = one_worker_one_slot)
{
	enum { N = 6 };
	int fd[N], ok = 0, busy = 0;

	cr_assert_eq(kill(srv.pid, SIGSTOP), 0);
	cr_assert(wait_stopped(srv.pid, 5000), "daemon did not stop");
	for (int i = 0; i < N; i++) {
		fd[i] = http_connect(srv.port);
		send_str(fd[i], fmt("GET /about.html HTTP/1.1\r\nHost: localhost:%u\r\n\r\n",
				    srv.port));
	}
	usleep(100000); /* let the kernel finish the handshakes */
	cr_assert_eq(kill(srv.pid, SIGCONT), 0);
	for (int i = 0; i < N; i++) {
		struct http_resp r;
		char v[64];
		cr_assert_eq(http_read(fd[i], &r, false), 0, "client %d got no answer", i);
		if (r.status == 200) {
			ok++;
		} else {
			cr_assert_eq(r.status, 503, "client %d: %d", i, r.status);
			cr_assert(http_header(&r, "Retry-After", v, sizeof v));
			assert_header(&r, "Connection", "close");
			busy++;
		}
		http_resp_free(&r);
		close(fd[i]);
	}
	cr_assert_eq(ok, 2, "one served at once, one from the queue (got %d)", ok);
	cr_assert_eq(busy, N - 2);
	cr_assert(log_soon("queue full"), "queue event logged");
	/* and the daemon serves new clients afterwards */
	{
		struct http_resp r;
		cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
		cr_assert_eq(r.status, 200);
		http_resp_free(&r);
	}
}

/* ------------------------------------------------------------ logging */

Test(get, access_log_line)
{
	struct http_resp r;

	cr_assert_eq(http_get(&srv, "GET", "/sample.txt", &r), 0);
	http_resp_free(&r);
	/* time, worker thread, client ip:port, request line, status, bytes */
	for (int i = 0; i < 100 && !server_log_contains(&srv, "\"GET /sample.txt HTTP/1.1\" 200");
	     i++)
		usleep(20000);
	cr_assert(server_log_contains(&srv, "\"GET /sample.txt HTTP/1.1\" 200"));
	cr_assert(server_log_contains(&srv, "<6>"));
	cr_assert(server_log_contains(&srv, " worker-"));
	cr_assert(server_log_contains(&srv, "127.0.0.1:"));
}

/* --------------------------------------- conditional and range requests */

TestSuite(http11, .init = start_default, .fini = stop, .timeout = 60);

static void get_with(const char *path, const char *fields, struct http_resp *r, bool head)
{
	request(fmt("%s %s HTTP/1.1\r\nHost: localhost:%u\r\n%s\r\n", head ? "HEAD" : "GET", path,
		    srv.port, fields),
		r, head);
}

Test(http11, etag_and_last_modified_give_304)
{
	struct http_resp r;
	char etag[128], lm[64];

	get_with("/about.html", "", &r, false);
	cr_assert_eq(r.status, 200);
	cr_assert(http_header(&r, "ETag", etag, sizeof etag));
	cr_assert_eq(etag[0], '"', "strong ETag: %s", etag);
	cr_assert(http_header(&r, "Last-Modified", lm, sizeof lm));
	assert_header(&r, "Accept-Ranges", "bytes");
	http_resp_free(&r);

	get_with("/about.html", fmt("If-None-Match: %s\r\n", etag), &r, false);
	cr_assert_eq(r.status, 304);
	cr_assert_eq(r.body_len, 0);
	assert_header(&r, "ETag", etag);
	http_resp_free(&r);
	get_with("/about.html", fmt("If-None-Match: \"other\", W/%s\r\n", etag), &r, false);
	cr_assert_eq(r.status, 304, "weak comparison for If-None-Match");
	http_resp_free(&r);
	get_with("/about.html", fmt("If-Modified-Since: %s\r\n", lm), &r, false);
	cr_assert_eq(r.status, 304);
	http_resp_free(&r);
	/* RFC 9110 13.2.2: If-None-Match wins over If-Modified-Since */
	get_with("/about.html", fmt("If-None-Match: \"nope\"\r\nIf-Modified-Since: %s\r\n", lm), &r,
		 false);
	cr_assert_eq(r.status, 200);
	http_resp_free(&r);
	get_with("/about.html", "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n", &r, false);
	cr_assert_eq(r.status, 200);
	http_resp_free(&r);
	get_with("/about.html", "If-Match: \"nope\"\r\n", &r, false);
	cr_assert_eq(r.status, 412);
	http_resp_free(&r);
}

Test(http11, single_range_is_206)
{
	struct http_resp r;
	size_t len;
	char *want = resource("logo.png", &len);

	get_with("/logo.png", "Range: bytes=100-199\r\n", &r, false);
	cr_assert_eq(r.status, 206);
	assert_header(&r, "Content-Range", fmt("bytes 100-199/%zu", len));
	assert_header(&r, "Content-Length", "100");
	cr_assert_eq(r.body_len, 100);
	cr_assert(memcmp(r.body, want + 100, 100) == 0);
	http_resp_free(&r);

	get_with("/logo.png", "Range: bytes=-10\r\n", &r, false);
	cr_assert_eq(r.status, 206);
	assert_header(&r, "Content-Range", fmt("bytes %zu-%zu/%zu", len - 10, len - 1, len));
	cr_assert(memcmp(r.body, want + len - 10, 10) == 0);
	http_resp_free(&r);

	get_with("/logo.png", fmt("Range: bytes=%zu-\r\n", len - 5), &r, false);
	cr_assert_eq(r.status, 206);
	cr_assert_eq(r.body_len, 5);
	http_resp_free(&r);
	free(want);
}

Test(http11, unsatisfiable_range_is_416)
{
	struct http_resp r;
	size_t len;
	char *want = resource("logo.png", &len);

	get_with("/logo.png", fmt("Range: bytes=%zu-\r\n", len), &r, false);
	cr_assert_eq(r.status, 416);
	assert_header(&r, "Content-Range", fmt("bytes */%zu", len));
	http_resp_free(&r);
	/* syntactically invalid: ignored, the whole file */
	get_with("/logo.png", "Range: bytes=abc\r\n", &r, false);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body_len, len);
	http_resp_free(&r);
	free(want);
}

Test(http11, if_range_with_a_stale_etag_sends_everything)
{
	struct http_resp r;
	char etag[128];

	get_with("/sample.txt", "", &r, false);
	cr_assert(http_header(&r, "ETag", etag, sizeof etag));
	http_resp_free(&r);
	get_with("/sample.txt", fmt("Range: bytes=0-9\r\nIf-Range: %s\r\n", etag), &r, false);
	cr_assert_eq(r.status, 206);
	http_resp_free(&r);
	get_with("/sample.txt", "Range: bytes=0-9\r\nIf-Range: \"stale\"\r\n", &r, false);
	cr_assert_eq(r.status, 200);
	http_resp_free(&r);
}

Test(http11, multiple_ranges_are_multipart_byteranges)
{
	struct http_resp r;
	size_t len;
	char *want = resource("photo.png", &len), ctype[200], *boundary, *p;

	get_with("/photo.png", "Range: bytes=0-9,50-59,-5\r\n", &r, false);
	cr_assert_eq(r.status, 206);
	cr_assert(http_header(&r, "Content-Type", ctype, sizeof ctype));
	cr_assert(strncmp(ctype, "multipart/byteranges; boundary=", 31) == 0, "%s", ctype);
	boundary = ctype + 31;
	/* three parts, each with its Content-Range and its bytes, then the end */
	p = r.body;
	for (int i = 0; i < 3; i++) {
		static const size_t first[] = { 0, 50, 0 };
		size_t f = i == 2 ? len - 5 : first[i], n = i == 2 ? 5 : 10;
		char *cr, expect[128];

		p = strstr(p, boundary);
		cr_assert_not_null(p, "part %d missing", i);
		snprintf(expect, sizeof expect, "Content-Range: bytes %zu-%zu/%zu\r\n", f, f + n - 1,
			 len);
		cr = strstr(p, expect);
		cr_assert_not_null(cr, "part %d: no '%s'", i, expect);
		p = strstr(cr, "\r\n\r\n");
		cr_assert_not_null(p);
		p += 4;
		cr_assert(memcmp(p, want + f, n) == 0, "part %d bytes", i);
		p += n;
	}
	cr_assert_not_null(strstr(p, fmt("--%s--", boundary)), "closing boundary");
	http_resp_free(&r);
	free(want);
}

/* Lines ending in a bare LF: RFC 9112 section 2.2 lets a server take a
 * lone LF as a line end or reject the message; this one rejects it (a
 * proxy in front could read such a head differently), and must say so at
 * once, not after header_timeout (20 s) of waiting for a CRLF CRLF that
 * never comes.  Also when the bare LF arrives in a later segment. */
Test(http11, bare_lf_is_answered_400_at_once)
{
	/* before and after "Host: localhost:PORT"; '|' splits two segments */
	static const char *const heads[][2] = {
		{ "GET /index.html HTTP/1.1\n", "\n\n" },
		{ "GET /index.html HTTP/1.1\r\n", "\r\n\n" },
		{ "GET /index.html HTTP/1.1\r\n", "\nAccept: */*\r\n\r\n" },
		{ "\nGET /index.html HTTP/1.1\r\n", "\r\n\r\n" },
		{ "GET /index.html HTTP/1.1\r\n", "\r\n|\n" },
		{ "GET /index.html HTTP/1.1\r\n", "\r\n|X: 1\n" },
	};

	for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
		struct http_resp r;
		const char *raw = fmt("%sHost: localhost:%u%s", heads[i][0], srv.port, heads[i][1]);
		const char *cut = strchr(raw, '|');
		int64_t t0 = mono_ms();
		int fd = http_connect(srv.port);

		if (cut) {
			/* the first part alone is an incomplete head */
			send_all(fd, raw, (size_t)(cut - raw));
			usleep(100000);
			send_str(fd, cut + 1);
		} else {
			send_str(fd, raw);
		}
		cr_assert_eq(http_read(fd, &r, false), 0, "head %zu: no answer", i);
		cr_assert_eq(r.status, 400, "head %zu", i);
		cr_assert_lt(mono_ms() - t0, 2000, "head %zu: answered after %lld ms", i,
			     (long long)(mono_ms() - t0));
		cr_assert(wait_closed(fd, 2000), "head %zu: a 400 closes", i);
		http_resp_free(&r);
		close(fd);
	}
}

/* The boundary of a multipart/byteranges response must not be guessable:
 * a client that stored a file (uploads are served back with Range support)
 * and knew the next boundary could plant it in the file and split the
 * parts its way.  One worker serves several multipart responses in a row;
 * none may follow from the one before by a simple generator (the
 * xorshift64 this server once used: the next value is a function of the
 * one a client just saw), and none may repeat. */
static uint64_t boundary_bits(const struct http_resp *r)
{
	char ctype[200];

	cr_assert(http_header(r, "Content-Type", ctype, sizeof ctype));
	cr_assert(strncmp(ctype, "multipart/byteranges; boundary=mthttpd-", 39) == 0, "%s",
		  ctype);
	cr_assert_eq(strlen(ctype + 39), 16, "%s", ctype);
	return strtoull(ctype + 39, NULL, 16);
}

static uint64_t xorshift64(uint64_t x)
{
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

Test(boundary, is_not_predictable_from_the_previous_one, .fini = stop, .timeout = 60)
{
	struct server_opts o = { .pool_size = 1 };
	uint64_t b[8];
	int fd;

	server_start(&srv, &o);
	fd = http_connect(srv.port);
	for (size_t i = 0; i < 8; i++) {
		struct http_resp r;

		send_str(fd, fmt("GET /photo.png HTTP/1.1\r\nHost: localhost:%u\r\n"
				 "Range: bytes=0-9,50-59\r\n\r\n",
				 srv.port));
		cr_assert_eq(http_read(fd, &r, false), 0);
		cr_assert_eq(r.status, 206);
		b[i] = boundary_bits(&r);
		http_resp_free(&r);
		for (size_t j = 0; j < i; j++)
			cr_assert_neq(b[i], b[j], "boundary %zu repeats %zu", i, j);
		if (i)
			cr_assert_neq(b[i], xorshift64(b[i - 1]),
				      "boundary %zu = xorshift64(boundary %zu): predictable", i,
				      i - 1);
	}
	close(fd);
}

/* A resumed download with a real client: curl -C - */
Test(http11, curl_resumes_a_download)
{
	char cmd[1024], out[300], *got;
	size_t len, glen;
	char *want = resource("photo.png", &len);
	FILE *f;
	int rc;

	if (system("command -v curl >/dev/null 2>&1") != 0)
		cr_skip_test("curl is not installed");
	snprintf(out, sizeof out, "%s/partial.png", srv.dir);
	f = fopen(out, "wb");
	cr_assert_eq(fwrite(want, 1, len / 3, f), len / 3); /* an interrupted download */
	fclose(f);
	snprintf(cmd, sizeof cmd,
		 "curl -sS --max-time 10 -C - -o '%s' http://127.0.0.1:%u/photo.png 2>&1", out,
		 srv.port);
	rc = system(cmd);
	cr_assert_eq(rc, 0, "curl failed: %s", cmd);
	got = read_whole(out, &glen);
	cr_assert_eq(glen, len);
	cr_assert(memcmp(got, want, len) == 0, "resumed file differs");
	cr_assert(log_soon("\"GET /photo.png HTTP/1.1\" 206"), "it used a range");
	free(got);
	free(want);
}

/* ... and with wget -c */
Test(http11, wget_continues_a_download)
{
	char cmd[1024], out[300], *got;
	size_t len, glen;
	char *want = resource("family.jpg", &len);
	FILE *f;

	if (system("command -v wget >/dev/null 2>&1") != 0)
		cr_skip_test("wget is not installed");
	snprintf(out, sizeof out, "%s/family.jpg", srv.dir);
	f = fopen(out, "wb");
	cr_assert_eq(fwrite(want, 1, len / 2, f), len / 2);
	fclose(f);
	snprintf(cmd, sizeof cmd, "wget -q -T 10 -t 1 -c -O '%s' http://127.0.0.1:%u/family.jpg", out,
		 srv.port);
	cr_assert_eq(system(cmd), 0, "wget failed: %s", cmd);
	got = read_whole(out, &glen);
	cr_assert_eq(glen, len);
	cr_assert(memcmp(got, want, len) == 0, "continued file differs");
	cr_assert(log_soon("\"GET /family.jpg HTTP/1.1\" 206"), "it used a range");
	free(got);
	free(want);
}

/* ------------------------------------------------------ chunked uploads */

TestSuite(chunked, .init = start_default, .fini = stop, .timeout = 60);

Test(chunked, chunked_upload_is_stored)
{
	const char *json = "{\"chunked\":true,\"n\":[1,2,3]}";
	struct http_resp r;
	char loc[200], path[600];
	char *stored;
	size_t len;
	int fd = http_connect(srv.port);

	send_str(fd, fmt("POST /upload HTTP/1.1\r\nHost: localhost:%u\r\n"
			 "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
			 srv.port));
	send_str(fd, "a;ext=1\r\n{\"chunked\"\r\n");
	usleep(20000); /* in several segments */
	send_str(fd, "11\r\n:true,\"n\":[1,2,3]\r\n");
	send_str(fd, "1\r\n}\r\n0\r\nX-Trailer: ignored\r\n\r\n");
	/* the connection stays usable: a pipelined request after the body */
	send_str(fd, fmt("GET /sample.txt HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 201, "got %d: %s", r.status, r.body);
	cr_assert(http_header(&r, "Location", loc, sizeof loc));
	cr_assert_not_null(strstr(r.body, fmt("\"bytes\":%zu", strlen(json))));
	http_resp_free(&r);
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 200, "the request after the chunked body");
	http_resp_free(&r);
	close(fd);
	snprintf(path, sizeof path, "%s/%s", srv.uploads, loc + 9);
	stored = read_whole(path, &len);
	cr_assert_not_null(stored);
	cr_assert_str_eq(stored, json);
	free(stored);
}

static void tiny_bodies(void)
{
	struct server_opts o = { .max_body_size = 32 };
	server_start(&srv, &o);
}

Test(chunked, over_the_limit_is_413_and_nothing_stored, .init = tiny_bodies)
{
	struct http_resp r;
	int fd = http_connect(srv.port);

	send_str(fd, fmt("POST /upload HTTP/1.1\r\nHost: localhost:%u\r\n"
			 "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "20\r\n[1,2,3,4,5,6,7,8,9,10,11,12,134]\r\n20\r\n",
			 srv.port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 413);
	assert_header(&r, "Connection", "close");
	http_resp_free(&r);
	close(fd);
	cr_assert_eq(server_count_uploads(&srv), 0);
}

Test(chunked, malformed_chunks_are_400_and_close)
{
	static const char *bad[] = {
		"zz\r\n{}\r\n0\r\n\r\n",                      /* not hex */
		"ffffffffffffffffffff\r\n",                   /* overflow */
		"2\r\n{}\n0\r\n\r\n",                         /* bare LF */
		"2 \r\n{}\r\n0\r\n\r\n",                      /* space after the size */
		"2\r\n{}XX0\r\n\r\n",                         /* no CRLF after the data */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct http_resp r;
		int fd = http_connect(srv.port);

		send_str(fd, fmt("POST /upload HTTP/1.1\r\nHost: localhost:%u\r\n"
				 "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%s",
				 srv.port, bad[i]));
		cr_assert_eq(http_read(fd, &r, false), 0, "case %zu", i);
		cr_assert_eq(r.status, 400, "case %zu -> %d", i, r.status);
		assert_header(&r, "Connection", "close");
		cr_assert(wait_closed(fd, 5000), "case %zu: not closed", i);
		http_resp_free(&r);
		close(fd);
	}
	cr_assert_eq(server_count_uploads(&srv), 0);
}

Test(chunked, smuggling_attempts_are_refused)
{
	struct http_resp r;

	/* RFC 9112 6.1: both framings -> 400 and close */
	request(fmt("POST /upload HTTP/1.1\r\nHost: localhost:%u\r\nContent-Type: application/json\r\n"
		    "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		    srv.port),
		&r, false);
	cr_assert_eq(r.status, 400);
	http_resp_free(&r);
	/* an unknown coding -> 501 */
	request(fmt("POST /upload HTTP/1.1\r\nHost: localhost:%u\r\nContent-Type: application/json\r\n"
		    "Transfer-Encoding: gzip, chunked\r\n\r\n",
		    srv.port),
		&r, false);
	cr_assert_eq(r.status, 501);
	http_resp_free(&r);
	cr_assert_eq(server_count_uploads(&srv), 0);
}

/* ------------------------------------------------ slow clients and caps */

static void slow_limits(void)
{
	struct server_opts o = {
		.pool_size = 2,
		.extra = "header_timeout = 6;\nbody_timeout = 1;\nsend_timeout = 1;",
	};
	struct rlimit rl;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	server_start(&srv, &o);
}

TestSuite(slow, .init = slow_limits, .fini = stop, .timeout = 60);

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

/* Slowloris: 1,000 connections trickle a request head a byte at a time.
 * They hold no worker, a normal client keeps being answered fast (p99 <
 * 100 ms), and header_timeout bounds the whole head however slow the drip. */
Test(slow, slowloris_does_not_delay_others)
{
	enum { SLOW = 1000, PROBES = 200 }; /* p99 = the third-worst of 200 probes */
	static const char head[] = "GET / HTTP/1.1\r\nHost: localhost\r\nX-a: b\r\n";
	int *fd = calloc(SLOW, sizeof *fd);
	long long lat[PROBES];
	int64_t t0 = mono_ms();
	int closed = 0, n = 0;

	for (int i = 0; i < SLOW; i++) {
		fd[i] = http_connect(srv.port);
		send_all(fd[i], head, 1);
	}
	/* probe only while every slow head is surely open (header_timeout is
	 * 6 s from the first one's byte): on a loaded machine fewer probes
	 * fit, but at least half of them must (a fifth in a sanitizer build) */
	for (int k = 0; k < PROBES && mono_ms() - t0 < 5000; k++, n++) {
		struct http_resp r;
		int64_t a = mono_ms();

		cr_assert_eq(http_get(&srv, "GET", "/about.html", &r), 0);
		cr_assert_eq(r.status, 200);
		http_resp_free(&r);
		lat[k] = mono_ms() - a;
		/* every ~100 ms the slow clients send one more byte each */
		for (int i = 0; i < SLOW; i++)
			if (k % 5 == 0 && 1 + k / 5 < (int)sizeof head - 1)
				(void)send(fd[i], head + 1 + k / 5, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		usleep(20000);
	}
	{
		/* a sanitizer build runs each probe several times slower */
		const char *san = getenv("MTHTTPD_SANITIZER");
		int min = san && *san ? PROBES / 5 : PROBES / 2;
		cr_assert_geq(n, min, "only %d probes ran while the slow heads were open", n);
	}
	qsort(lat, (size_t)n, sizeof lat[0], cmp_ll);
	/* 100 ms is the bar for the real daemon; a ThreadSanitizer build runs
	 * many times slower, and there the point is only that nobody waits
	 * for the slow clients' header_timeout */
	{
		const char *san = getenv("MTHTTPD_SANITIZER");
		long long bar = san && !strcmp(san, "tsan") ? 1000 : 100;
		cr_assert_lt(lat[n * 99 / 100], bar,
			     "p99 %lld ms of %d probes while 1000 slow clients trickle (bar %lld ms)",
			     lat[n * 99 / 100], n, bar);
	}
	/* header_timeout (6 s) from their first byte: all of them are gone */
	for (int i = 0; i < SLOW; i++) {
		int64_t left = 12000 - (mono_ms() - t0);
		if (wait_closed(fd[i], left > 0 ? (int)left : 1))
			closed++;
		close(fd[i]);
	}
	cr_assert_eq(closed, SLOW, "only %d of %d slow heads were cut off", closed, SLOW);
	cr_assert(log_soon("-> 408"));
	free(fd);
}

Test(slow, stalled_body_gets_408)
{
	struct http_resp r;
	int fd = http_connect(srv.port);
	int64_t t0 = mono_ms();

	send_str(fd, fmt("POST /upload HTTP/1.1\r\nHost: localhost:%u\r\n"
			 "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":",
			 srv.port));
	cr_assert_eq(http_read(fd, &r, false), 0);
	cr_assert_eq(r.status, 408);
	cr_assert_lt(mono_ms() - t0, 4000);
	http_resp_free(&r);
	close(fd);
	cr_assert_eq(server_count_uploads(&srv), 0);
}

/* A client that stops reading: send_timeout closes it, and it held no
 * worker meanwhile (the pool has two). */
Test(slow, reader_that_stops_is_dropped_after_send_timeout)
{
	const size_t size = 32u << 20;
	char path[600], req[256];
	struct http_resp r;
	int fd, ffd, small = 4096;

	/* a big file in the site: the bundled one is small, so a sparse file
	 * goes into the uploads dir and is requested through /uploads/ */
	snprintf(path, sizeof path, "%s/upload_20261125T000000Z_0123456789abcdef.json", srv.uploads);
	ffd = open(path, O_WRONLY | O_CREAT, 0644);
	cr_assert_eq(ftruncate(ffd, (off_t)size), 0);
	close(ffd);
	fd = http_connect(srv.port);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	snprintf(req, sizeof req,
		 "GET /uploads/upload_20261125T000000Z_0123456789abcdef.json HTTP/1.1\r\n"
		 "Host: localhost:%u\r\n\r\n",
		 srv.port);
	send_str(fd, req);
	for (int i = 0; i < 3; i++) {
		int64_t t0 = mono_ms();
		cr_assert_eq(http_get(&srv, "GET", "/", &r), 0);
		cr_assert_eq(r.status, 200);
		cr_assert_lt(mono_ms() - t0, 1000);
		http_resp_free(&r);
	}
	cr_assert(log_soon("client read nothing"), "send_timeout did not fire");
	close(fd);
}

static void per_ip_cap(void)
{
	struct server_opts o = { .extra = "max_connections_per_ip = 3;" };
	server_start(&srv, &o);
}

Test(slow, per_ip_cap_answers_429, .init = per_ip_cap)
{
	int fd[3], extra;
	struct http_resp r;
	char v[32];

	for (int i = 0; i < 3; i++) {
		fd[i] = http_connect(srv.port);
		send_str(fd[i], fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port));
		cr_assert_eq(http_read(fd[i], &r, false), 0);
		cr_assert_eq(r.status, 200);
		http_resp_free(&r);
	}
	extra = http_connect(srv.port);
	send_str(extra, fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port));
	cr_assert_eq(http_read(extra, &r, false), 0);
	cr_assert_eq(r.status, 429);
	cr_assert(http_header(&r, "Retry-After", v, sizeof v));
	http_resp_free(&r);
	close(extra);
	cr_assert(log_soon("max_connections_per_ip"));
	/* a slot frees when a connection closes */
	close(fd[0]);
	for (int i = 0; i < 50; i++) {
		if (http_get(&srv, "GET", "/", &r) == 0 && r.status == 200) {
			http_resp_free(&r);
			break;
		}
		http_resp_free(&r);
		cr_assert_lt(i, 49, "the freed slot was never given back");
		usleep(20000);
	}
	close(fd[1]);
	close(fd[2]);
}

/* max_connections_per_ip counts an IPv6 client by its /64
 * (client_ipv6_prefix): a client that owns a /64 gains nothing by moving
 * from one of its addresses to the next.  The addresses are added to lo in
 * a network namespace this test makes for itself (the daemon inherits it). */
static void ipv6_clients(const char *extra)
{
	struct server_opts o = { .ipv6 = true, .extra = extra };

	harness_private_netns();
	harness_add_lo_addr6("2001:db8::1");
	harness_add_lo_addr6("2001:db8::2");
	harness_add_lo_addr6("2001:db8::3");
	harness_add_lo_addr6("2001:db8:0:1::1");
	server_start(&srv, &o);
}

/* A request on FD: the status of the answer (-1: none). */
static int status_on(int fd)
{
	struct http_resp r;
	int st;

	send_str(fd, fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", srv.port));
	if (http_read(fd, &r, false) != 0)
		return -1;
	st = r.status;
	http_resp_free(&r);
	return st;
}

Test(per_client, ipv6_counts_by_its_64, .fini = stop, .timeout = 60)
{
	int a, b, c, d, e;

	ipv6_clients("max_connections_per_ip = 2;");
	a = http_connect6_from("2001:db8::1", srv.port);
	cr_assert_eq(status_on(a), 200);
	b = http_connect6_from("2001:db8::2", srv.port);
	cr_assert_eq(status_on(b), 200);
	c = http_connect6_from("2001:db8::3", srv.port);
	cr_assert_eq(status_on(c), 429, "a third address of the same /64 is the same client");
	d = http_connect6_from("2001:db8:0:1::1", srv.port);
	cr_assert_eq(status_on(d), 200, "another /64 is another client");
	cr_assert(log_soon("(client 2001:db8::/64) has max_connections_per_ip (2)"));
	/* IPv4 on the dual-stack socket (::ffff:127.0.0.1) is a client of
	 * its own, counted as IPv4 */
	e = http_connect(srv.port);
	cr_assert_eq(status_on(e), 200);
	close(e);
	close(c);
	close(a);
	/* the slot comes back: the /64 gets one connection again */
	for (int i = 0;; i++) {
		int f = http_connect6_from("2001:db8::3", srv.port), st = status_on(f);

		close(f);
		if (st == 200)
			break;
		cr_assert_lt(i, 50, "the /64's slot was never given back (status %d)", st);
		usleep(20000);
	}
	close(b);
	close(d);
}

Test(per_client, ipv6_prefix_128_counts_each_address, .fini = stop, .timeout = 60)
{
	int a, b, c;

	ipv6_clients("max_connections_per_ip = 1;\nclient_ipv6_prefix = 128;");
	a = http_connect6_from("2001:db8::1", srv.port);
	cr_assert_eq(status_on(a), 200);
	b = http_connect6_from("2001:db8::2", srv.port);
	cr_assert_eq(status_on(b), 200, "with /128 each address is a client");
	c = http_connect6_from("2001:db8::1", srv.port);
	cr_assert_eq(status_on(c), 429);
	close(a);
	close(b);
	close(c);
}

static void tight_limits(void)
{
	struct server_opts o = {
		.extra = "max_request_line = 256;\nmax_header_size = 1024;\nmax_header_count = 5;",
	};
	server_start(&srv, &o);
}

TestSuite(limits, .init = tight_limits, .fini = stop, .timeout = 30);

Test(limits, configured_head_limits)
{
	struct http_resp r;
	char path[400], big[1200];

	/* a 250-byte request line is fine, 300 is not */
	memset(path, 'a', sizeof path);
	path[0] = '/';
	path[230] = '\0';
	request(fmt("GET %s HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", path, srv.port), &r, false);
	cr_assert_eq(r.status, 404);
	http_resp_free(&r);
	path[230] = 'a';
	path[300] = '\0';
	request(fmt("GET %s HTTP/1.1\r\nHost: localhost:%u\r\n\r\n", path, srv.port), &r, false);
	cr_assert_eq(r.status, 414);
	http_resp_free(&r);
	/* five fields pass, six do not */
	request(fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
		    srv.port),
		&r, false);
	cr_assert_eq(r.status, 200);
	http_resp_free(&r);
	request(fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"
		    "E: 5\r\n\r\n",
		    srv.port),
		&r, false);
	cr_assert_eq(r.status, 431);
	http_resp_free(&r);
	/* a field block over 1 KiB */
	memset(big, 'v', sizeof big);
	big[sizeof big - 1] = '\0';
	request(fmt("GET / HTTP/1.1\r\nHost: localhost:%u\r\nX: %s\r\n\r\n", srv.port, big), &r,
		false);
	cr_assert_eq(r.status, 431);
	http_resp_free(&r);
}
