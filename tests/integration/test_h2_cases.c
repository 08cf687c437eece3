/* test_h2_cases.c - HTTP/2 over TLS against the real daemon, with real
 * clients (curl and nghttp2's own nghttp).
 *
 * One table of request cases, the HTTP/1.1 integration cases of
 * test_server.c that make sense on a stream (each row names the test it
 * comes from), run by three clients on the TLS listener: curl --http1.1
 * (the baseline: the same table must hold over HTTP/1.1), curl --http2 and
 * nghttp.  A row holds the request (method, path, :authority, fields,
 * body) and what must come back (status, fields, body bytes or a slice of
 * a docroot file, uploads stored).  Then what only HTTP/2 has:
 * 100 concurrent streams on one connection, a small client window on a big
 * file, 20 uploads multiplexed, the access log's "HTTP/2.0", and
 * tls.http2 = false falling back to http/1.1 in ALPN.
 *
 * The clients run as child processes with bounded timeouts; their output
 * goes to files in the test's temp directory.  nghttp's response fields
 * come from its HAR output (json-c), curl's from --dump-header. */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct server srv;
static char certs[256];
static char extra[2048];

enum client { CURL_H1, CURL_H2, NGHTTP, NCLIENTS };
static const char *const client_name[] = { "curl --http1.1", "curl --http2", "nghttp" };

/* ------------------------------------------------------------------------
 * The daemon: a TLS listener, a docroot with resources/ and two big files
 */

static void make_certs(void)
{
	harness_certs("h2", certs, sizeof certs);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	harness_certs_remove("h2");
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	char *data = read_whole(from, &len);

	cr_assert_not_null(data, "%s", from);
	write_bytes(to, data, len);
	free(data);
}

/* N pseudo-random bytes (xorshift: any byte value, no repeats to hide a
 * misplaced chunk) into the docroot as NAME */
static void random_file(const char *name, size_t n)
{
	FILE *f = fopen(fmt("%s/%s", srv.docroot, name), "wb");
	uint64_t x = 0x9e3779b97f4a7c15ull ^ n;

	cr_assert_not_null(f);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		fputc((int)(x >> 24) & 0xff, f);
	}
	fclose(f);
}

static void start_h2(const char *more_tls, uint64_t max_body)
{
	static const char *res[] = { "about.html", "contact.html", "family.jpg",
				     "friend.jpg", "index.html",   "logo.png",
				     "photo.png",  "sample.txt",   "style.css" };
	struct server_opts o = { .https_socket = true,
				 .own_docroot = true,
				 .max_body_size = max_body };

	make_certs();
	snprintf(extra, sizeof extra,
		 "allowed_hosts = [\"localhost\", \"127.0.0.1\", \"a.test\", \"b.test\"];\n"
		 "tls = { certificates = ( { certificate = \"%s/a.pem\"; key = \"%s/a.key\"; } );"
		 " %s };\n",
		 certs, certs, more_tls ? more_tls : "");
	o.extra = extra;
	server_start(&srv, &o);
	for (size_t i = 0; i < sizeof res / sizeof res[0]; i++)
		copy_file(fmt("%s/resources/%s", srcdir(), res[i]),
			  fmt("%s/%s", srv.docroot, res[i]));
	random_file("big.bin", 2u << 20);
	random_file("mid.bin", 200u << 10);
}

static void start_default(void)
{
	start_h2(NULL, 65536);
}

static void stop(void)
{
	server_stop(&srv);
}

static bool have(const char *tool)
{
	return system(fmt("command -v %s >/dev/null 2>&1", tool)) == 0;
}

static void need_clients(void)
{
	if (!have("curl") || !have("nghttp"))
		cr_skip_test("curl or nghttp (nghttp2-client) not installed");
	if (system("curl -V | grep -q HTTP2") != 0)
		cr_skip_test("this curl has no HTTP/2");
}

static bool log_soon(const char *needle, int ms)
{
	for (int i = 0; i < ms / 20 && !server_log_contains(&srv, needle); i++)
		usleep(20000);
	return server_log_contains(&srv, needle);
}

/* ------------------------------------------------------------------------
 * Running a client
 */

/* Run ARGV with stdout to OUT (NULL: /dev/null), stderr to ERR; bounded by
 * LIMIT_S (the clients' own timeouts are shorter).  Returns the exit
 * status, or -1 (killed, did not start). */
static int spawn(char *const argv[], const char *out, const char *err, int limit_s)
{
	int status = 0;
	int64_t end = harness_now_ms() + limit_s * 1000;
	pid_t pid = fork(), r = 0;

	cr_assert_neq(pid, -1);
	if (pid == 0) {
		int o = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int n = open("/dev/null", O_RDONLY);
		if (o < 0 || e < 0 || n < 0)
			_exit(126);
		dup2(n, 0);
		dup2(o, 1);
		dup2(e, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (harness_now_ms() < end && (r = waitpid(pid, &status, WNOHANG)) == 0)
		usleep(5000);
	if (r == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct argv {
	char *v[2400];
	int n;
};

static void arg(struct argv *a, const char *s)
{
	cr_assert_lt(a->n, 2398);
	a->v[a->n++] = strdup(s);
	a->v[a->n] = NULL;
}

static void argv_free(struct argv *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
}

/* What came back: the status, the fields of the final response as
 * "name: value\n" lines (names lowercased), the body, the protocol. */
struct result {
	int status;
	char fields[8192];
	char *body;
	size_t body_len;
	char proto[16];
	char err[512]; /* the client's stderr, for messages */
};

static void result_free(struct result *r)
{
	free(r->body);
	r->body = NULL;
}

static void add_field(struct result *r, const char *name, size_t nlen, const char *val, size_t vlen)
{
	size_t at = strlen(r->fields);

	if (at + nlen + vlen + 4 >= sizeof r->fields)
		return;
	for (size_t i = 0; i < nlen; i++)
		r->fields[at++] =
			(char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
	r->fields[at++] = ':';
	r->fields[at++] = ' ';
	memcpy(r->fields + at, val, vlen);
	at += vlen;
	r->fields[at++] = '\n';
	r->fields[at] = '\0';
}

/* curl's --dump-header file: the last block that starts with "HTTP/" (a
 * 100 Continue may come first). */
static void parse_curl_head(const char *path, struct result *r)
{
	char *head = read_whole(path, NULL), *p, *last = NULL;

	if (!head)
		return;
	for (p = head; p && *p; p = strstr(p, "\n") ? strstr(p, "\n") + 1 : NULL)
		if (strncmp(p, "HTTP/", 5) == 0)
			last = p;
	if (last && sscanf(last, "HTTP/%15s %d", r->proto, &r->status) == 2) {
		p = strchr(last, '\n');
		while (p && *++p && *p != '\r' && *p != '\n') {
			char *colon = strchr(p, ':'), *eol = strchr(p, '\n');
			if (!eol)
				break;
			if (colon && colon < eol) {
				char *v = colon + 1, *ve = eol;
				while (*v == ' ')
					v++;
				while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
					ve--;
				add_field(r, p, (size_t)(colon - p), v, (size_t)(ve - v));
			}
			p = eol;
		}
	}
	free(head);
}

/* nghttp's HAR: log.entries[i].response.{status,headers[]}; ENTRY picks one */
static int parse_har_entry(json_object *e, struct result *r)
{
	json_object *resp, *st, *hs;

	if (!json_object_object_get_ex(e, "response", &resp) ||
	    !json_object_object_get_ex(resp, "status", &st))
		return -1;
	r->status = json_object_get_int(st);
	if (json_object_object_get_ex(resp, "headers", &hs))
		for (size_t i = 0; i < json_object_array_length(hs); i++) {
			json_object *h = json_object_array_get_idx(hs, i), *n, *v;
			if (json_object_object_get_ex(h, "name", &n) &&
			    json_object_object_get_ex(h, "value", &v))
				add_field(r, json_object_get_string(n),
					  strlen(json_object_get_string(n)),
					  json_object_get_string(v),
					  strlen(json_object_get_string(v)));
		}
	snprintf(r->proto, sizeof r->proto, "2");
	return 0;
}

static json_object *har_entries(const char *path)
{
	json_object *root = json_object_from_file(path), *log, *entries;

	if (!root)
		return NULL;
	if (!json_object_object_get_ex(root, "log", &log) ||
	    !json_object_object_get_ex(log, "entries", &entries)) {
		json_object_put(root);
		return NULL;
	}
	json_object_get(entries);
	json_object_put(root);
	return entries;
}

static void read_err(const char *path, struct result *r)
{
	char *e = read_whole(path, NULL);

	snprintf(r->err, sizeof r->err, "%s", e ? e : "");
	free(e);
}

/* a field of R ("name" lowercase) into OUT; false if absent */
static bool field(const struct result *r, const char *name, char *out, size_t cap)
{
	size_t n = strlen(name);

	for (const char *p = r->fields; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 2, *e = strchr(v, '\n');
			size_t len = (size_t)(e - v);
			if (len >= cap)
				len = cap - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			return true;
		}
	return false;
}

static const char *url(const char *path)
{
	return fmt("https://localhost:%u%s", srv.tls_port, path);
}

/* curl's options for one transfer (after "curl", or after --next) */
static void curl_opts(struct argv *a, enum client c)
{
	arg(a, "-sS");
	arg(a, c == CURL_H1 ? "--http1.1" : "--http2");
	arg(a, "--cacert");
	arg(a, fmt("%s/ca.pem", certs));
	arg(a, "--resolve");
	arg(a, fmt("localhost:%u:127.0.0.1", srv.tls_port));
	arg(a, "--max-time");
	arg(a, "20");
	arg(a, "--path-as-is");
	arg(a, "-H");
	arg(a, "Expect:"); /* no 100-continue pause on big bodies */
}

static void curl_common(struct argv *a, enum client c)
{
	arg(a, "curl");
	curl_opts(a, c);
}

/* ------------------------------------------------------------------------
 * The table
 */

struct h2case {
	const char *from;      /* the test in test_server.c (or here) it comes from */
	const char *method;    /* NULL: GET (POST when there is a body) */
	const char *path;      /* as sent (curl --path-as-is; nghttp as is) */
	const char *authority; /* NULL: localhost:PORT; "{port}" expands */
	const char *fields[4]; /* request fields, "name: value"; placeholders expand */
	const char *body;      /* request body; "@json:N" is a JSON document of N bytes */
	int status;
	const char *want[5];  /* "name: value" exact, "name^prefix", "name~substring", "!name" */
	const char *file;     /* the body equals this docroot file ... */
	long off, len;	      /* ... from OFF (< 0: from the end), LEN bytes (0: to the end) */
	bool empty;	      /* the body must be empty (HEAD, 304) */
	const char *contains; /* the body contains this */
	bool stored;	      /* 201: exactly one new upload, equal to the body */
	unsigned skip;	      /* clients (1 << enum client) that cannot send this */
	int (*check)(const struct h2case *k, const struct result *r, char *why, size_t cap);
};

static size_t file_len(const char *name)
{
	struct stat st;

	cr_assert_eq(stat(fmt("%s/%s", srv.docroot, name), &st), 0, "%s", name);
	return (size_t)st.st_size;
}

/* ETag and Last-Modified of a docroot file, asked over cleartext HTTP/1.1:
 * the h2 answers must agree with them */
static void validators(const char *path, char *etag, size_t ecap, char *lm, size_t lcap)
{
	struct http_resp r;

	cr_assert_eq(http_get(&srv, "GET", path, &r), 0);
	cr_assert(http_header(&r, "ETag", etag, ecap));
	cr_assert(http_header(&r, "Last-Modified", lm, lcap));
	http_resp_free(&r);
}

/* {port} {etag:/p} {lm:/p} {len:f} {len-K:f} */
static void expand(const char *in, char *out, size_t cap)
{
	size_t o = 0;

	while (*in && o + 1 < cap) {
		char key[64], name[128], v[256];
		int used = 0;
		long k = 0;

		if (*in != '{') {
			out[o++] = *in++;
			continue;
		}
		v[0] = '\0';
		if (strncmp(in, "{port}", 6) == 0) {
			snprintf(v, sizeof v, "%u", srv.tls_port);
			used = 6;
		} else if (sscanf(in, "{%63[^:}]:%127[^}]}%n", key, name, &used) == 2) {
			char etag[200], lm[64];
			if (!strcmp(key, "etag") || !strcmp(key, "lm")) {
				validators(name, etag, sizeof etag, lm, sizeof lm);
				snprintf(v, sizeof v, "%s", !strcmp(key, "etag") ? etag : lm);
			} else if (!strcmp(key, "len")) {
				snprintf(v, sizeof v, "%zu", file_len(name));
			} else if (sscanf(key, "len-%ld", &k) == 1) {
				snprintf(v, sizeof v, "%zu", file_len(name) - (size_t)k);
			} else {
				cr_assert_fail("bad placeholder %s", in);
			}
		} else {
			cr_assert_fail("bad placeholder %s", in);
		}
		for (size_t i = 0; v[i] && o + 1 < cap; i++)
			out[o++] = v[i];
		in += used;
	}
	out[o] = '\0';
}

static int check_multipart(const struct h2case *k, const struct result *r, char *why, size_t cap);

/* the row numbers are in failure messages; keep related rows together */
#define JSON_CT                                                                                    \
	{                                                                                          \
		"content-type: application/json"                                                   \
	}
static const struct h2case cases[] = {
	/* get */
	{ .from = "get.root_serves_index_html",
	  .path = "/",
	  .status = 200,
	  .want = { "content-type: text/html; charset=utf-8", "content-length: {len:index.html}",
		    "server^mthttpd/", "date~ GMT" },
	  .file = "index.html" },
	{ .from = "get.html_pages",
	  .path = "/about.html",
	  .status = 200,
	  .want = { "content-type: text/html; charset=utf-8", "!content-disposition" },
	  .file = "about.html" },
	{ .from = "get.html_pages",
	  .path = "/contact.html",
	  .status = 200,
	  .want = { "content-type: text/html; charset=utf-8", "!content-disposition" },
	  .file = "contact.html" },
	{ .from = "get (the stylesheet)",
	  .path = "/style.css",
	  .status = 200,
	  .want = { "content-type^text/css" },
	  .file = "style.css" },
	{ .from = "get.downloads_are_attachments_and_byte_exact",
	  .path = "/logo.png",
	  .status = 200,
	  .want = { "content-type: application/octet-stream",
		    "content-disposition: attachment; filename=\"logo.png\"",
		    "content-length: {len:logo.png}" },
	  .file = "logo.png" },
	{ .from = "get.downloads_are_attachments_and_byte_exact",
	  .path = "/photo.png",
	  .status = 200,
	  .want = { "content-disposition: attachment; filename=\"photo.png\"" },
	  .file = "photo.png" },
	{ .from = "get.downloads_are_attachments_and_byte_exact",
	  .path = "/family.jpg",
	  .status = 200,
	  .want = { "content-disposition: attachment; filename=\"family.jpg\"" },
	  .file = "family.jpg" },
	{ .from = "get.downloads_are_attachments_and_byte_exact",
	  .path = "/sample.txt",
	  .status = 200,
	  .want = { "content-disposition: attachment; filename=\"sample.txt\"" },
	  .file = "sample.txt" },
	{ .from = "files.large_file_copied_to_a_local_client (2 MiB: more than any window)",
	  .path = "/big.bin",
	  .status = 200,
	  .want = { "content-length: {len:big.bin}" },
	  .file = "big.bin" },
	{ .from = "get.missing_file_is_404", .path = "/nonexistent.png", .status = 404 },
	{ .from = "get.missing_file_is_404", .path = "/no/such/dir/", .status = 404 },
	{ .from = "get.head_has_get_headers_and_no_body",
	  .method = "HEAD",
	  .path = "/logo.png",
	  .status = 200,
	  .want = { "content-length: {len:logo.png}", "content-type: application/octet-stream",
		    "content-disposition: attachment; filename=\"logo.png\"" },
	  .empty = true },
	{ .from = "get.query_string_is_ignored",
	  .path = "/about.html?x=1&y=2",
	  .status = 200,
	  .file = "about.html" },
	/* http11: validators */
	{ .from = "http11.etag_and_last_modified_give_304",
	  .path = "/about.html",
	  .status = 200,
	  .want = { "etag: {etag:/about.html}", "last-modified: {lm:/about.html}",
		    "accept-ranges: bytes" },
	  .file = "about.html" },
	{ .from = "http11.etag_and_last_modified_give_304",
	  .path = "/about.html",
	  .fields = { "if-none-match: {etag:/about.html}" },
	  .status = 304,
	  .want = { "etag: {etag:/about.html}" },
	  .empty = true },
	{ .from = "http11.etag_and_last_modified_give_304 (weak comparison)",
	  .path = "/about.html",
	  .fields = { "if-none-match: \"other\", W/{etag:/about.html}" },
	  .status = 304,
	  .empty = true },
	{ .from = "http11.etag_and_last_modified_give_304 (If-Modified-Since)",
	  .path = "/about.html",
	  .fields = { "if-modified-since: {lm:/about.html}" },
	  .status = 304,
	  .empty = true },
	{ .from = "http11.etag_and_last_modified_give_304 (If-None-Match wins)",
	  .path = "/about.html",
	  .fields = { "if-none-match: \"nope\"", "if-modified-since: {lm:/about.html}" },
	  .status = 200,
	  .file = "about.html" },
	{ .from = "http11.etag_and_last_modified_give_304 (an old If-Modified-Since)",
	  .path = "/about.html",
	  .fields = { "if-modified-since: Sat, 01 Jan 2000 00:00:00 GMT" },
	  .status = 200,
	  .file = "about.html" },
	{ .from = "http11.etag_and_last_modified_give_304 (If-Match)",
	  .path = "/about.html",
	  .fields = { "if-match: \"nope\"" },
	  .status = 412 },
	/* http11: ranges */
	{ .from = "http11.single_range_is_206",
	  .path = "/logo.png",
	  .fields = { "range: bytes=100-199" },
	  .status = 206,
	  .want = { "content-range: bytes 100-199/{len:logo.png}", "content-length: 100" },
	  .file = "logo.png",
	  .off = 100,
	  .len = 100 },
	{ .from = "http11.single_range_is_206 (suffix)",
	  .path = "/logo.png",
	  .fields = { "range: bytes=-10" },
	  .status = 206,
	  .want = { "content-range: bytes {len-10:logo.png}-{len-1:logo.png}/{len:logo.png}" },
	  .file = "logo.png",
	  .off = -10,
	  .len = 10 },
	{ .from = "http11.single_range_is_206 (open-ended, 1 MiB)",
	  .path = "/big.bin",
	  .fields = { "range: bytes=1000000-" },
	  .status = 206,
	  .want = { "content-range: bytes 1000000-{len-1:big.bin}/{len:big.bin}" },
	  .file = "big.bin",
	  .off = 1000000 },
	{ .from = "http11.unsatisfiable_range_is_416",
	  .path = "/logo.png",
	  .fields = { "range: bytes={len:logo.png}-" },
	  .status = 416,
	  .want = { "content-range: bytes */{len:logo.png}" } },
	{ .from = "http11.unsatisfiable_range_is_416 (invalid: ignored)",
	  .path = "/logo.png",
	  .fields = { "range: bytes=abc" },
	  .status = 200,
	  .file = "logo.png" },
	{ .from = "http11.if_range_with_a_stale_etag_sends_everything (current)",
	  .path = "/sample.txt",
	  .fields = { "range: bytes=0-9", "if-range: {etag:/sample.txt}" },
	  .status = 206,
	  .file = "sample.txt",
	  .len = 10 },
	{ .from = "http11.if_range_with_a_stale_etag_sends_everything (stale)",
	  .path = "/sample.txt",
	  .fields = { "range: bytes=0-9", "if-range: \"stale\"" },
	  .status = 200,
	  .file = "sample.txt" },
	{ .from = "http11.multiple_ranges_are_multipart_byteranges",
	  .path = "/photo.png",
	  .fields = { "range: bytes=0-9,50-59,-5" },
	  .status = 206,
	  .want = { "content-type^multipart/byteranges; boundary=" },
	  .check = check_multipart },
	/* upload */
	{ .from = "upload.valid_json_is_stored_durably_and_served_back",
	  .path = "/upload",
	  .fields = { "content-type: application/json; charset=utf-8" },
	  .body = "{\"name\":\"mthttpd\",\"tags\":[1,2,3],\"ok\":true}",
	  .status = 201,
	  .want = { "content-type: application/json", "location^/uploads/upload_" },
	  .contains = "\"status\":\"created\"",
	  .stored = true },
	{ .from = "upload (a body larger than the initial window)",
	  .path = "/upload",
	  .fields = JSON_CT,
	  .body = "@json:60000",
	  .status = 201,
	  .want = { "location^/uploads/upload_" },
	  .stored = true },
	{ .from = "upload.wrong_content_type_is_415",
	  .path = "/upload",
	  .fields = { "content-type: text/plain" },
	  .body = "{\"a\":1}",
	  .status = 415,
	  .want = { "content-type: application/json" },
	  .contains = "\"error\"" },
	{ .from = "upload.wrong_content_type_is_415 (none)",
	  .path = "/upload",
	  .body = "{\"a\":1}",
	  .status = 415 },
	{ .from = "upload.invalid_or_empty_json_is_400",
	  .path = "/upload",
	  .fields = JSON_CT,
	  .body = "{\"a\":",
	  .status = 400,
	  .want = { "content-type: application/json" },
	  .contains = "\"status\":\"error\"" },
	{ .from = "upload.invalid_or_empty_json_is_400",
	  .path = "/upload",
	  .fields = JSON_CT,
	  .body = "{'a':1}",
	  .status = 400 },
	{ .from = "upload.invalid_or_empty_json_is_400",
	  .path = "/upload",
	  .fields = JSON_CT,
	  .body = "{} {}",
	  .status = 400 },
	{ .from = "upload.body_over_limit_is_413 (max_body_size 64 KiB here)",
	  .path = "/upload",
	  .fields = JSON_CT,
	  .body = "@json:100000",
	  .status = 413 },
	{ .from = "upload.post_elsewhere_is_405",
	  .method = "POST",
	  .path = "/index.html",
	  .fields = JSON_CT,
	  .body = "{}",
	  .status = 405,
	  .want = { "allow: GET, HEAD" } },
	/* security */
	{ .from = "security.traversal_raw_and_encoded_is_403",
	  .path = "/../etc/passwd",
	  .status = 403 },
	{ .from = "security.traversal_raw_and_encoded_is_403",
	  .path = "/a/../../etc/passwd",
	  .status = 403 },
	{ .from = "security.traversal_raw_and_encoded_is_403",
	  .path = "/%2e%2e/%2e%2e/etc/passwd",
	  .status = 403 },
	{ .from = "security.traversal_raw_and_encoded_is_403",
	  .path = "/..%2f..%2fetc%2fpasswd",
	  .status = 403 },
	{ .from = "security.traversal_raw_and_encoded_is_403",
	  .path = "/index.html%00.txt",
	  .status = 403 },
	{ .from = "security.traversal_raw_and_encoded_is_403",
	  .path = "/%5c..%5cetc/passwd",
	  .status = 403 },
	{ .from = "security.malformed_target_is_400", .path = "/%zz", .status = 400 },
	{ .from = "security.host_header_rules (wrong port)",
	  .path = "/",
	  .authority = "localhost:1",
	  .status = 403 },
	{ .from = "security.host_header_rules (names compare case-insensitively)",
	  .path = "/",
	  .authority = "LOCALHOST:{port}",
	  .status = 200 },
	{ .from = "security.host_header_rules (a bare allowed name)",
	  .path = "/",
	  .authority = "localhost",
	  .status = 200 },
	/* (nghttp sends an overridden :authority as SNI too: it cannot disagree) */
	{ .from = "tls.host_must_agree_with_sni",
	  .path = "/",
	  .authority = "b.test:{port}",
	  .status = 421,
	  .skip = 1u << NGHTTP },
	{ .from = "security.bad_host_stores_nothing (421 on TLS)",
	  .path = "/upload",
	  .authority = "b.test:{port}",
	  .fields = JSON_CT,
	  .body = "{}",
	  .status = 421,
	  .skip = 1u << NGHTTP },
	{ .from = "security.methods",
	  .method = "PUT",
	  .path = "/",
	  .status = 405,
	  .want = { "allow: GET, HEAD, POST" } },
	{ .from = "security.methods",
	  .method = "DELETE",
	  .path = "/",
	  .status = 405,
	  .want = { "allow: GET, HEAD, POST" } },
	{ .from = "security.methods", .method = "OPTIONS", .path = "/", .status = 405 },
	{ .from = "security.methods", .method = "PATCH", .path = "/", .status = 405 },
	{ .from = "security.methods", .method = "BREW", .path = "/", .status = 501 },
};

static int check_multipart(const struct h2case *k, const struct result *r, char *why, size_t cap)
{
	char ctype[256], *want, *p, *body;
	size_t len = file_len("photo.png");
	int rc = -1;

	(void)k;
	want = read_whole(fmt("%s/photo.png", srv.docroot), NULL);
	body = malloc(r->body_len + 1);
	memcpy(body, r->body, r->body_len);
	body[r->body_len] = '\0';
	if (!field(r, "content-type", ctype, sizeof ctype) || strlen(ctype) < 32) {
		snprintf(why, cap, "no multipart content-type");
		goto out;
	}
	p = body;
	for (int i = 0; i < 3; i++) {
		static const size_t first[] = { 0, 50, 0 };
		size_t f = i == 2 ? len - 5 : first[i], n = i == 2 ? 5 : 10;
		char expect[128], *cr;

		p = strstr(p, ctype + 31);
		if (!p) {
			snprintf(why, cap, "part %d missing", i);
			goto out;
		}
		snprintf(expect, sizeof expect, "Content-Range: bytes %zu-%zu/%zu\r\n", f,
			 f + n - 1, len);
		cr = strstr(p, expect);
		if (!cr || !(p = strstr(cr, "\r\n\r\n")) || memcmp(p + 4, want + f, n) != 0) {
			snprintf(why, cap, "part %d: no '%s' or wrong bytes", i, expect);
			goto out;
		}
		p += 4 + n;
	}
	if (!strstr(p, fmt("--%s--", ctype + 31))) {
		snprintf(why, cap, "no closing boundary");
		goto out;
	}
	rc = 0;
out:
	free(body);
	free(want);
	return rc;
}

static char *json_body(size_t size)
{
	char *b = malloc(size + 1);

	/* ["xxxx...x"] */
	cr_assert_not_null(b);
	memset(b, 'x', size);
	b[0] = '[';
	b[1] = '"';
	b[size - 2] = '"';
	b[size - 1] = ']';
	b[size] = '\0';
	return b;
}

/* One request of the table by client C; the outcome into R. */
static void run_case(enum client c, const struct h2case *k, const char *bodyfile, struct result *r)
{
	const char *d = srv.dir;
	const char *method = k->method ? k->method : k->body ? "POST" : "GET";
	char buf[1024];
	struct argv a = { 0 };
	int rc;

	memset(r, 0, sizeof *r);
	if (c == NGHTTP) {
		json_object *entries;

		arg(&a, "nghttp");
		arg(&a, "-y"); /* no --cacert in nghttp: it only warns; curl checks the chain */
		arg(&a, "-t");
		arg(&a, "20");
		arg(&a, "-r");
		arg(&a, fmt("%s/out.har", d));
		if (strcmp(method, "GET") != 0 && !(k->body && !strcmp(method, "POST"))) {
			arg(&a, "-H");
			arg(&a, fmt(":method: %s", method));
		}
		if (k->authority) {
			expand(k->authority, buf, sizeof buf);
			arg(&a, "-H");
			arg(&a, fmt(":authority: %s", buf));
		}
		for (int i = 0; i < 4 && k->fields[i]; i++) {
			expand(k->fields[i], buf, sizeof buf);
			arg(&a, "-H");
			arg(&a, buf);
		}
		if (k->body) {
			arg(&a, "-d");
			arg(&a, bodyfile);
		}
		arg(&a, url(k->path));
		unlink(fmt("%s/out.har", d));
		rc = spawn(a.v, fmt("%s/out.body", d), fmt("%s/out.err", d), 30);
		entries = har_entries(fmt("%s/out.har", d));
		if (entries && json_object_array_length(entries) == 1)
			parse_har_entry(json_object_array_get_idx(entries, 0), r);
		if (entries)
			json_object_put(entries);
	} else {
		curl_common(&a, c);
		arg(&a, "-D");
		arg(&a, fmt("%s/out.head", d));
		arg(&a, "-o");
		/* --head writes the head to -o: no body to keep (curl reads none) */
		arg(&a, strcmp(method, "HEAD") ? fmt("%s/out.body", d) : "/dev/null");
		if (!strcmp(method, "HEAD")) {
			arg(&a, "--head");
		} else if (strcmp(method, "GET") != 0) {
			arg(&a, "-X");
			arg(&a, method);
		}
		if (k->authority) {
			expand(k->authority, buf, sizeof buf);
			arg(&a, "-H");
			arg(&a, fmt("Host: %s", buf));
		}
		for (int i = 0; i < 4 && k->fields[i]; i++) {
			expand(k->fields[i], buf, sizeof buf);
			arg(&a, "-H");
			arg(&a, buf);
		}
		if (k->body) {
			arg(&a, "--data-binary");
			arg(&a, fmt("@%s", bodyfile));
			if (!k->fields[0] || strncmp(k->fields[0], "content-type", 12) != 0) {
				arg(&a, "-H");
				arg(&a, "Content-Type:");
			}
		}
		arg(&a, url(k->path));
		unlink(fmt("%s/out.head", d));
		unlink(fmt("%s/out.body", d));
		rc = spawn(a.v, NULL, fmt("%s/out.err", d), 30);
		parse_curl_head(fmt("%s/out.head", d), r);
	}
	(void)rc;
	argv_free(&a);
	r->body = read_whole(fmt("%s/out.body", d), &r->body_len);
	if (!r->body) {
		r->body = strdup("");
		r->body_len = 0;
	}
	read_err(fmt("%s/out.err", d), r);
}

/* Does R meet K?  The reason into WHY; -1 if not. */
static int verdict(enum client c, const struct h2case *k, const char *sent, size_t sent_len,
		   int uploads_before, const struct result *r, char *why, size_t cap)
{
	static const char *const conn_specific[] = { "connection", "keep-alive",
						     "transfer-encoding", "upgrade",
						     "proxy-connection" };
	char want[512], v[1024];

	if (r->status != k->status) {
		snprintf(why, cap, "status %d, want %d (client said: %.200s)", r->status, k->status,
			 r->err);
		return -1;
	}
	if (strcmp(r->proto, c == CURL_H1 ? "1.1" : "2") != 0) {
		snprintf(why, cap, "protocol '%s'", r->proto);
		return -1;
	}
	for (int i = 0; i < 5 && k->want[i]; i++) {
		char *sep;
		expand(k->want[i], want, sizeof want);
		if (want[0] == '!') {
			if (field(r, want + 1, v, sizeof v)) {
				snprintf(why, cap, "has %.100s: %.300s", want + 1, v);
				return -1;
			}
			continue;
		}
		sep = want + strcspn(want, ":^~");
		if (!*sep) {
			if (!field(r, want, v, sizeof v)) {
				snprintf(why, cap, "no %s", want);
				return -1;
			}
			continue;
		}
		{
			char kind = *sep;
			const char *val = sep + (kind == ':' ? 2 : 1);
			bool ok;

			*sep = '\0';
			if (!field(r, want, v, sizeof v)) {
				snprintf(why, cap, "no %s field", want);
				return -1;
			}
			ok = kind == ':'   ? strcmp(v, val) == 0
			     : kind == '^' ? strncmp(v, val, strlen(val)) == 0
					   : strstr(v, val) != NULL;
			if (!ok) {
				snprintf(why, cap, "%.100s: '%.200s', want %s'%.200s'", want, v,
					 kind == '^'   ? "prefix "
					 : kind == '~' ? "substring "
						       : "",
					 val);
				return -1;
			}
		}
	}
	if (c != CURL_H1)
		for (size_t i = 0; i < sizeof conn_specific / sizeof conn_specific[0]; i++)
			if (field(r, conn_specific[i], v, sizeof v)) {
				snprintf(why, cap, "connection-specific field over h2: %s",
					 conn_specific[i]);
				return -1;
			}
	if (k->file) {
		size_t len;
		char *data = read_whole(fmt("%s/%s", srv.docroot, k->file), &len);
		size_t off = k->off < 0 ? len - (size_t)-k->off : (size_t)k->off;
		size_t n = k->len <= 0 ? len - off : (size_t)k->len;
		bool same = r->body_len == n && memcmp(r->body, data + off, n) == 0;

		free(data);
		if (!same) {
			snprintf(why, cap, "body %zu bytes, not the %zu bytes of %s at %zu",
				 r->body_len, n, k->file, off);
			return -1;
		}
	}
	if (k->empty && r->body_len) {
		snprintf(why, cap, "a body of %zu bytes", r->body_len);
		return -1;
	}
	if (k->contains && !strstr(r->body, k->contains)) {
		snprintf(why, cap, "body lacks %s: %.200s", k->contains, r->body);
		return -1;
	}
	if (k->check && k->check(k, r, why, cap) != 0)
		return -1;
	if (k->body) {
		int now = server_count_uploads(&srv), delta = k->stored ? 1 : 0;

		if (now != uploads_before + delta) {
			snprintf(why, cap, "%d uploads stored, want %d", now - uploads_before,
				 delta);
			return -1;
		}
		if (k->stored) {
			char loc[256];
			size_t len;
			char *stored;
			bool same;

			if (!field(r, "location", loc, sizeof loc)) {
				snprintf(why, cap, "no location");
				return -1;
			}
			stored = read_whole(fmt("%s/%s", srv.uploads, loc + 9), &len);
			same = stored && len == sent_len && memcmp(stored, sent, len) == 0;
			free(stored);
			if (!same) {
				snprintf(why, cap, "stored upload %s differs from the body sent",
					 loc);
				return -1;
			}
		}
	}
	return 0;
}

/* Every row of the table by client C; every failing row is reported (the
 * test fails once at the end, with the count). */
static void run_table(enum client c)
{
	int failed = 0, ran = 0;
	char bodyfile[300];

	need_clients();
	snprintf(bodyfile, sizeof bodyfile, "%s/req.body", srv.dir);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct h2case *k = &cases[i];
		struct result r;
		char why[600] = "";
		char *body = NULL;
		size_t blen = 0;
		int before;

		if (k->skip & (1u << c))
			continue;
		if (k->body) {
			size_t n;
			if (sscanf(k->body, "@json:%zu", &n) == 1)
				body = json_body(n);
			else
				body = strdup(k->body);
			blen = strlen(body);
			write_bytes(bodyfile, body, blen);
		}
		before = server_count_uploads(&srv);
		run_case(c, k, bodyfile, &r);
		if (verdict(c, k, body, blen, before, &r, why, sizeof why) != 0) {
			cr_log_error("%s: case %zu (%s %s, from %s): %s", client_name[c], i,
				     k->method ? k->method
				     : k->body ? "POST"
					       : "GET",
				     k->path, k->from, why);
			failed++;
		}
		ran++;
		free(body);
		result_free(&r);
	}
	cr_assert_eq(failed, 0, "%s: %d of %d cases failed (see above)", client_name[c], failed,
		     ran);
	/* the daemon is unharmed: a last plain request */
	{
		struct http_resp h;
		cr_assert_eq(http_get(&srv, "GET", "/", &h), 0);
		cr_assert_eq(h.status, 200);
		http_resp_free(&h);
	}
}

TestSuite(h2_cases, .init = start_default, .fini = stop, .timeout = 240);

Test(h2_cases, by_curl_http11)
{
	run_table(CURL_H1);
}

Test(h2_cases, by_curl_http2)
{
	run_table(CURL_H2);
}

Test(h2_cases, by_nghttp)
{
	run_table(NGHTTP);
}

/* ------------------------------------------------------------------------
 * What only HTTP/2 has
 */

TestSuite(h2, .fini = stop, .timeout = 180);

static void curl_out(struct argv *a, const char *w)
{
	curl_common(a, CURL_H2);
	arg(a, "-o");
	arg(a, "/dev/null");
	arg(a, "-w");
	arg(a, w);
}

/* 100 transfers of six files at once, curl --parallel: one connection
 * (num_connects adds up to 1), every file byte-exact; then nghttp -m 100
 * on one connection: 100 answers of 200 with the right size, and the
 * server announces SETTINGS_MAX_CONCURRENT_STREAMS 100. */
Test(h2, hundred_concurrent_streams_on_one_connection, .init = start_default)
{
	static const char *files[] = { "mid.bin",    "logo.png",   "photo.png",
				       "family.jpg", "friend.jpg", "index.html" };
	struct argv a = { 0 };
	char *out, *p;
	int connects = 0, lines = 0, rc;

	need_clients();
	arg(&a, "curl");
	arg(&a, "--parallel");
	arg(&a, "--parallel-max");
	arg(&a, "100");
	for (int i = 0; i < 100; i++) {
		if (i)
			arg(&a, "--next");
		curl_opts(&a, CURL_H2);
		arg(&a, "-o");
		arg(&a, fmt("%s/mux.%d", srv.dir, i));
		arg(&a, "-w");
		arg(&a, "%{num_connects} %{http_version} %{http_code}\\n");
		arg(&a, url(fmt("/%s", files[i % 6])));
	}
	rc = spawn(a.v, fmt("%s/mux.out", srv.dir), fmt("%s/mux.err", srv.dir), 60);
	argv_free(&a);
	out = read_whole(fmt("%s/mux.out", srv.dir), NULL);
	cr_assert_eq(rc, 0, "curl --parallel exit %d: %s", rc,
		     read_whole(fmt("%s/mux.err", srv.dir), NULL));
	for (p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		int n, code;
		char ver[8];
		cr_assert_eq(sscanf(p, "%d %7s %d", &n, ver, &code), 3, "%s", p);
		cr_assert_str_eq(ver, "2");
		cr_assert_eq(code, 200);
		connects += n;
		lines++;
	}
	free(out);
	cr_assert_eq(lines, 100);
	cr_assert_eq(connects, 1, "100 transfers used %d connections", connects);
	for (int i = 0; i < 100; i++) {
		size_t glen, wlen;
		char *got = read_whole(fmt("%s/mux.%d", srv.dir, i), &glen);
		char *want = read_whole(fmt("%s/%s", srv.docroot, files[i % 6]), &wlen);
		cr_assert(got && glen == wlen && memcmp(got, want, wlen) == 0,
			  "transfer %d (%s) is not byte-exact", i, files[i % 6]);
		free(got);
		free(want);
	}

	/* nghttp: -m 100 requests the URI 100 times on its one connection */
	arg(&a, "nghttp");
	arg(&a, "-y");
	arg(&a, "-n");
	arg(&a, "-v");
	arg(&a, "-t");
	arg(&a, "30");
	arg(&a, "-m");
	arg(&a, "100");
	arg(&a, "-r");
	arg(&a, fmt("%s/mux.har", srv.dir));
	arg(&a, url("/mid.bin"));
	rc = spawn(a.v, fmt("%s/mux.v", srv.dir), fmt("%s/mux.err", srv.dir), 60);
	argv_free(&a);
	cr_assert_eq(rc, 0, "nghttp exit %d", rc);
	{
		json_object *entries = har_entries(fmt("%s/mux.har", srv.dir));
		char *v = read_whole(fmt("%s/mux.v", srv.dir), NULL);

		cr_assert_not_null(entries);
		cr_assert_eq(json_object_array_length(entries), 100);
		for (size_t i = 0; i < 100; i++) {
			struct result r = { 0 };
			char cl[32];
			cr_assert_eq(parse_har_entry(json_object_array_get_idx(entries, i), &r), 0);
			cr_assert_eq(r.status, 200, "stream %zu: %d", i, r.status);
			cr_assert(field(&r, "content-length", cl, sizeof cl));
			cr_assert_eq(strtoul(cl, NULL, 10), file_len("mid.bin"));
		}
		json_object_put(entries);
		cr_assert_not_null(v);
		cr_assert_not_null(strstr(v, "SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100"),
				   "the server announces 100 concurrent streams");
		/* all 100 on one connection: nghttp opens exactly one */
		free(v);
	}
}

Test(h2, max_concurrent_streams_is_configurable)
{
	struct argv a = { 0 };
	char *v;

	start_h2("h2_max_concurrent_streams = 5;", 0);
	need_clients();
	arg(&a, "nghttp");
	arg(&a, "-y");
	arg(&a, "-n");
	arg(&a, "-v");
	arg(&a, "-t");
	arg(&a, "20");
	arg(&a, "-m");
	arg(&a, "20");
	arg(&a, url("/logo.png"));
	cr_assert_eq(spawn(a.v, fmt("%s/v", srv.dir), fmt("%s/err", srv.dir), 40), 0);
	argv_free(&a);
	v = read_whole(fmt("%s/v", srv.dir), NULL);
	cr_assert_not_null(strstr(v, "SETTINGS_MAX_CONCURRENT_STREAMS(0x03):5"), "%.2000s", v);
	free(v);
}

/* A client window of 4 KiB (stream) and 16 KiB (connection) on a 2 MiB
 * file: hundreds of WINDOW_UPDATEs, and every byte in order. */
Test(h2, small_client_window_is_respected_byte_exact, .init = start_default)
{
	struct argv a = { 0 };
	size_t glen, wlen;
	char *got, *want;
	int rc;

	need_clients();
	arg(&a, "nghttp");
	arg(&a, "-y");
	arg(&a, "-t");
	arg(&a, "60");
	arg(&a, "-w");
	arg(&a, "12");
	arg(&a, "-W");
	arg(&a, "14");
	arg(&a, url("/big.bin"));
	rc = spawn(a.v, fmt("%s/win.body", srv.dir), fmt("%s/win.err", srv.dir), 90);
	argv_free(&a);
	cr_assert_eq(rc, 0, "nghttp exit %d", rc);
	got = read_whole(fmt("%s/win.body", srv.dir), &glen);
	want = read_whole(fmt("%s/big.bin", srv.docroot), &wlen);
	cr_assert_eq(glen, wlen, "got %zu of %zu bytes", glen, wlen);
	cr_assert(memcmp(got, want, wlen) == 0, "not byte-exact");
	free(got);
	free(want);
}

/* Body sizes at the edges of a DATA frame (16384, and 16375: a frame cut
 * so that the next payload lands aligned in the server's output buffer),
 * of the default window (65535) and of neither; each file differs byte by
 * byte (random_file). */
static const size_t edge_sizes[] = { 0,	    1,	   16375, 16376, 16383,	 16384,
				     16385, 65535, 65536, 65537, 200000, (1u << 20) + 1 };
#define N_EDGES (sizeof edge_sizes / sizeof edge_sizes[0])

static void start_edges(void)
{
	start_default();
	for (size_t i = 0; i < N_EDGES; i++)
		random_file(fmt("edge.%zu", edge_sizes[i]), edge_sizes[i]);
}

/* Every edge file that came back into DIR (named as on the server) is
 * byte-exact; only sizes up to MAX were asked for. */
static void edges_exact(const char *dir, size_t max, const char *who)
{
	for (size_t i = 0; i < N_EDGES && edge_sizes[i] <= max; i++) {
		const char *name = fmt("edge.%zu", edge_sizes[i]);
		size_t glen = 0, wlen = 0;
		char *got = read_whole(fmt("%s/%s", dir, name), &glen);
		char *want = read_whole(fmt("%s/%s", srv.docroot, name), &wlen);

		cr_assert_not_null(got, "%s: %s did not come", who, name);
		cr_assert_eq(glen, wlen, "%s: %s: got %zu of %zu bytes", who, name, glen, wlen);
		cr_assert(!wlen || memcmp(got, want, wlen) == 0, "%s: %s is not byte-exact", who,
			  name);
		free(got);
		free(want);
	}
}

/* nghttp with stream window 2^W-1 and connection window 2^CW-1 (0: the
 * defaults) fetches every edge file up to MAX, one connection each (its -O
 * saves nothing), into a directory of their own. */
static void edges_by_nghttp(int w, int cw, size_t max, const char *tag)
{
	char dir[512];

	snprintf(dir, sizeof dir, "%s/edges.%s", srv.dir, tag); /* (fmt's buffers rotate) */
	cr_assert_eq(mkdir(dir, 0755), 0);
	for (size_t i = 0; i < N_EDGES && edge_sizes[i] <= max; i++) {
		struct argv a = { 0 };
		int rc;

		arg(&a, "nghttp");
		arg(&a, "-y");
		arg(&a, "-t");
		arg(&a, "60");
		if (w) {
			arg(&a, "-w");
			arg(&a, fmt("%d", w));
			arg(&a, "-W");
			arg(&a, fmt("%d", cw));
		}
		arg(&a, url(fmt("/edge.%zu", edge_sizes[i])));
		rc = spawn(a.v, fmt("%s/edge.%zu", dir, edge_sizes[i]), fmt("%s.err", dir), 90);
		argv_free(&a);
		cr_assert_eq(rc, 0, "nghttp (%s) exit %d: %s", tag, rc,
			     read_whole(fmt("%s.err", dir), NULL));
	}
	edges_exact(dir, max, tag);
}

static void edges_by_curl(const char *tag)
{
	struct argv a = { 0 };
	char dir[512];
	int rc;

	snprintf(dir, sizeof dir, "%s/edges.%s", srv.dir, tag); /* (fmt's buffers rotate) */
	cr_assert_eq(mkdir(dir, 0755), 0);
	arg(&a, "curl");
	arg(&a, "--parallel");
	for (size_t i = 0; i < N_EDGES; i++) {
		if (i)
			arg(&a, "--next");
		curl_opts(&a, CURL_H2);
		arg(&a, "-o");
		arg(&a, fmt("%s/edge.%zu", dir, edge_sizes[i]));
		arg(&a, url(fmt("/edge.%zu", edge_sizes[i])));
	}
	rc = spawn(a.v, NULL, fmt("%s.err", dir), 60);
	argv_free(&a);
	cr_assert_eq(rc, 0, "curl (%s) exit %d: %s", tag, rc, read_whole(fmt("%s.err", dir), NULL));
	edges_exact(dir, SIZE_MAX, tag);
}

/* The DATA path (send_data: frame header, then the body straight into the
 * output buffer, frames cut for alignment) on bodies at frame and window
 * edges, byte-exact: from the file (fresh files are not cached yet) and,
 * a second later, from the file cache's copy (up to 64 KiB); with the
 * default windows, and with small ones (1023/4095 bytes, and 15 bytes on
 * the smaller files) that cut frames anywhere. */
Test(h2, bodies_at_frame_and_window_edges_byte_exact, .init = start_edges)
{
	need_clients();
	edges_by_curl("file");
	edges_by_nghttp(0, 0, SIZE_MAX, "file-nghttp");
	edges_by_nghttp(10, 12, SIZE_MAX, "file-w10");
	usleep(1100 * 1000); /* the cache keeps what is a second old */
	edges_by_curl("warm");
	edges_by_curl("cached"); /* (the second run of them comes from memory) */
	edges_by_nghttp(10, 12, SIZE_MAX, "cached-w10");
	edges_by_nghttp(4, 6, 65537, "cached-w4");
}

static void start_big_bodies(void)
{
	start_h2(NULL, 1u << 20);
}

/* a JSON document of SIZE bytes, its content depending on SEED */
static char *seeded_json(size_t size, unsigned seed)
{
	char *b = json_body(size);
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 2; i + 2 < size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		static const char set[] =
			"abcdefghijklmnopqrstuvwxyz0123456789 -_.ABCDEFGHIJKLMNOPQRSTUVWXYZ";
		b[i] = set[x % (sizeof set - 1)];
	}
	return b;
}

/* 20 uploads of different sizes (100 B .. 190 KiB) on one connection at
 * once (curl --parallel): each 201, each stored file equal to its body;
 * then nghttp -m 20 posts one body 20 times concurrently: 20 equal files. */
Test(h2, twenty_uploads_on_one_connection_byte_exact, .init = start_big_bodies)
{
	enum { N = 20 };
	char *body[N];
	struct argv a = { 0 };
	int rc, connects = 0;
	char *out, *p;

	need_clients();
	arg(&a, "curl");
	arg(&a, "--parallel");
	arg(&a, "--parallel-max");
	arg(&a, "20");
	for (int i = 0; i < N; i++) {
		body[i] = seeded_json(100 + (size_t)i * 10000, (unsigned)i);
		write_bytes(fmt("%s/up.%d", srv.dir, i), body[i], strlen(body[i]));
		if (i)
			arg(&a, "--next");
		curl_opts(&a, CURL_H2);
		arg(&a, "-D");
		arg(&a, fmt("%s/up.%d.head", srv.dir, i));
		arg(&a, "-o");
		arg(&a, "/dev/null");
		arg(&a, "-w");
		arg(&a, "%{num_connects}\\n");
		arg(&a, "-H");
		arg(&a, "Content-Type: application/json");
		arg(&a, "--data-binary");
		arg(&a, fmt("@%s/up.%d", srv.dir, i));
		arg(&a, url("/upload"));
	}
	rc = spawn(a.v, fmt("%s/up.out", srv.dir), fmt("%s/up.err", srv.dir), 60);
	argv_free(&a);
	cr_assert_eq(rc, 0, "curl exit %d", rc);
	out = read_whole(fmt("%s/up.out", srv.dir), NULL);
	for (p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		connects += atoi(p);
	free(out);
	cr_assert_eq(connects, 1, "20 uploads used %d connections", connects);
	for (int i = 0; i < N; i++) {
		struct result r = { 0 };
		char loc[256];
		size_t len;
		char *stored;

		parse_curl_head(fmt("%s/up.%d.head", srv.dir, i), &r);
		cr_assert_eq(r.status, 201, "upload %d: %d", i, r.status);
		cr_assert_str_eq(r.proto, "2");
		cr_assert(field(&r, "location", loc, sizeof loc));
		stored = read_whole(fmt("%s/%s", srv.uploads, loc + 9), &len);
		cr_assert(stored && len == strlen(body[i]) && memcmp(stored, body[i], len) == 0,
			  "upload %d (%zu bytes) stored differently", i, strlen(body[i]));
		free(stored);
		free(body[i]);
	}
	cr_assert_eq(server_count_uploads(&srv), N);

	/* nghttp: one 150 KB body, 20 streams at once */
	body[0] = seeded_json(150000, 99);
	write_bytes(fmt("%s/up.n", srv.dir), body[0], strlen(body[0]));
	arg(&a, "nghttp");
	arg(&a, "-y");
	arg(&a, "-n");
	arg(&a, "-t");
	arg(&a, "30");
	arg(&a, "-m");
	arg(&a, "20");
	arg(&a, "-H");
	arg(&a, "content-type: application/json");
	arg(&a, "-d");
	arg(&a, fmt("%s/up.n", srv.dir));
	arg(&a, "-r");
	arg(&a, fmt("%s/up.har", srv.dir));
	arg(&a, url("/upload"));
	rc = spawn(a.v, NULL, fmt("%s/up.err", srv.dir), 60);
	argv_free(&a);
	cr_assert_eq(rc, 0, "nghttp exit %d", rc);
	{
		json_object *entries = har_entries(fmt("%s/up.har", srv.dir));
		cr_assert_not_null(entries);
		cr_assert_eq(json_object_array_length(entries), 20);
		for (size_t i = 0; i < 20; i++) {
			struct result r = { 0 };
			char loc[256];
			size_t len;
			char *stored;

			cr_assert_eq(parse_har_entry(json_object_array_get_idx(entries, i), &r), 0);
			cr_assert_eq(r.status, 201, "stream %zu: %d", i, r.status);
			cr_assert(field(&r, "location", loc, sizeof loc));
			stored = read_whole(fmt("%s/%s", srv.uploads, loc + 9), &len);
			cr_assert(stored && len == strlen(body[0]) &&
					  memcmp(stored, body[0], len) == 0,
				  "nghttp upload %zu stored differently", i);
			free(stored);
		}
		json_object_put(entries);
	}
	free(body[0]);
	cr_assert_eq(server_count_uploads(&srv), 2 * N);
}

/* The access log names the protocol HTTP/2.0. */
Test(h2, access_log_says_http2, .init = start_default)
{
	struct argv a = { 0 };

	need_clients();
	arg(&a, "nghttp");
	arg(&a, "-y");
	arg(&a, "-n");
	arg(&a, "-t");
	arg(&a, "20");
	arg(&a, url("/sample.txt"));
	cr_assert_eq(spawn(a.v, NULL, fmt("%s/err", srv.dir), 30), 0);
	argv_free(&a);
	cr_assert(log_soon("\"GET /sample.txt HTTP/2.0\" 200", 2000),
		  "no access line with HTTP/2.0 in %s", srv.log);
}

static const char *alpn_by_curl(void)
{
	struct argv a = { 0 };
	char *out;
	static char ver[16];

	curl_out(&a, "%{http_version}");
	arg(&a, url("/"));
	cr_assert_eq(spawn(a.v, fmt("%s/ver", srv.dir), fmt("%s/err", srv.dir), 30), 0);
	argv_free(&a);
	out = read_whole(fmt("%s/ver", srv.dir), NULL);
	snprintf(ver, sizeof ver, "%s", out ? out : "");
	free(out);
	return ver;
}

/* ALPN: h2 by default; tls.http2 = false offers only http/1.1 (curl
 * --http2 falls back, nghttp, which speaks nothing else, gives up). */
Test(h2, alpn_offers_h2_unless_disabled)
{
	struct argv a = { 0 };

	start_h2(NULL, 0);
	need_clients();
	cr_assert_str_eq(alpn_by_curl(), "2");
	server_stop(&srv);
	start_h2("http2 = false;", 0);
	cr_assert_str_eq(alpn_by_curl(), "1.1");
	arg(&a, "nghttp");
	arg(&a, "-y");
	arg(&a, "-n");
	arg(&a, "-t");
	arg(&a, "10");
	arg(&a, url("/"));
	spawn(a.v, NULL, fmt("%s/err", srv.dir), 30); /* (nghttp exits 0 anyway) */
	argv_free(&a);
	{
		char *err = read_whole(fmt("%s/err", srv.dir), NULL);
		cr_assert(err && strstr(err, "HTTP/2 protocol was not selected"),
			  "nghttp must fail without h2 in ALPN: %s", err ? err : "");
		free(err);
	}
}
