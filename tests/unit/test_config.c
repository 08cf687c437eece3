/* test_config.c - config_load(): defaults, every key, types, ranges, error
 * lines, and the shipped configuration files. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "config.h"
#include "htpasswd.h"
#include "survives.h"

#ifndef PKGDATADIR
#define PKGDATADIR "/usr/share/mthttpd"
#endif

static char g_dir[64];	/* this test's temporary directory */
static char g_path[96]; /* g_dir/test.conf */
static char g_err[1024];
static struct mth_config *g_cfg;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/mthttpd-test-config-XXXXXX");
	cr_assert_not_null(mkdtemp(g_dir), "mkdtemp: %s", strerror(errno));
	snprintf(g_path, sizeof(g_path), "%s/test.conf", g_dir);
}

static void teardown(void)
{
	config_free(g_cfg);
	g_cfg = NULL;
	if (g_dir[0])
		nftw(g_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(config, .init = setup, .fini = teardown);

/* ---- helpers ------------------------------------------------------------ */

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(text, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static void write_str(const char *path, const char *text)
{
	write_file(path, text, strlen(text));
}

static int load_path(const char *path)
{
	config_free(g_cfg);
	g_cfg = NULL;
	memset(g_err, 'x', sizeof(g_err) - 1);
	g_err[sizeof(g_err) - 1] = '\0';
	return config_load(path, &g_cfg, g_err, sizeof(g_err));
}

static int load(const char *text)
{
	write_str(g_path, text);
	return load_path(g_path);
}

static void load_ok(const char *text)
{
	int ret = load(text);

	cr_assert_eq(ret, 0, "config_load(\"%s\") = %d: %s", text, ret, g_err);
	cr_assert_not_null(g_cfg);
}

/* Must fail with -EINVAL and exactly "<g_path>" WHAT as the message. */
static void load_fail(const char *text, const char *what)
{
	char expected[2048];
	int ret = load(text);

	snprintf(expected, sizeof(expected), "%s%s", g_path, what);
	cr_assert_eq(ret, -EINVAL, "config_load(\"%s\") = %d (%s)", text, ret, g_err);
	cr_assert_null(g_cfg);
	cr_assert_str_eq(g_err, expected, "config \"%s\"", text);
}

/* Must fail with -EINVAL, naming line LINE and key KEY. */
static void load_fail_key(const char *text, int line, const char *key)
{
	char prefix[PATH_MAX + 128];
	int ret = load(text);

	snprintf(prefix, sizeof(prefix), "%s:%d: %s: ", g_path, line, key);
	cr_assert_eq(ret, -EINVAL, "config_load(\"%s\") = %d (%s)", text, ret, g_err);
	cr_assert_null(g_cfg);
	cr_assert_eq(strncmp(g_err, prefix, strlen(prefix)), 0, "config \"%s\": got \"%s\"", text,
		     g_err);
	cr_assert_null(strchr(g_err, '\n'), "message is one line: %s", g_err);
}

static const char *srcdir(void)
{
	const char *d = getenv("MTHTTPD_SRCDIR");

	if (d && *d)
		return d;
#ifdef TOP_SRCDIR
	return TOP_SRCDIR;
#else
	return ".";
#endif
}

/* sed -e 's|@NAME@|VALUE|g'... IN > OUT, the way the Makefile does it. */
static void sed_file(const char *in, const char *out, const char *const *exprs, size_t n)
{
	const char *argv[16];
	size_t i, k = 0;
	pid_t pid;
	int status, fd;

	cr_assert_lt(n * 2 + 3, sizeof(argv) / sizeof(argv[0]));
	argv[k++] = "sed";
	for (i = 0; i < n; i++) {
		argv[k++] = "-e";
		argv[k++] = exprs[i];
	}
	argv[k++] = in;
	argv[k] = NULL;
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(127);
		execvp("sed", (char *const *)argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sed %s failed", in);
}

static void assert_default_access_log(const struct mth_config *c)
{
	cr_assert_eq(c->access_log, CONFIG_DEFAULT_ACCESS_LOG);
	cr_assert_null(c->access_log_path);
}

/* (access_log is a path, see assert_default_access_log()) */
static void assert_defaults_except_paths(const struct mth_config *c)
{
	cr_assert_eq(c->port, CONFIG_DEFAULT_PORT);
	cr_assert_str_eq(c->listen_address, CONFIG_DEFAULT_LISTEN_ADDRESS);
	cr_assert_eq(c->pool_size, CONFIG_DEFAULT_POOL_SIZE);
	cr_assert_eq(c->queue_size, CONFIG_DEFAULT_QUEUE_SIZE);
	cr_assert_eq(c->keepalive_timeout, CONFIG_DEFAULT_KEEPALIVE_TIMEOUT);
	cr_assert_eq(c->max_requests, CONFIG_DEFAULT_MAX_REQUESTS);
	cr_assert_eq(c->max_body_size, CONFIG_DEFAULT_MAX_BODY_SIZE);
	cr_assert_eq(c->log_level, CONFIG_DEFAULT_LOG_LEVEL);
	cr_assert_eq(c->shutdown_timeout, CONFIG_DEFAULT_SHUTDOWN_TIMEOUT);
	cr_assert_eq(c->max_ranges, CONFIG_DEFAULT_MAX_RANGES);
	cr_assert_eq(c->n_trusted_proxies, 0);
	cr_assert_null(c->admin_listen);
	cr_assert_eq(c->admin_addrlen, 0);
	cr_assert_eq(c->drain_delay, 0);
	cr_assert_eq(c->n_allowed_hosts, 3);
	cr_assert_str_eq(c->allowed_hosts[0], "localhost");
	cr_assert_str_eq(c->allowed_hosts[1], "127.0.0.1");
	cr_assert_str_eq(c->allowed_hosts[2], "[::1]");
	cr_assert_eq(c->n_download_extensions, 4);
	cr_assert_str_eq(c->download_extensions[0], "png");
	cr_assert_str_eq(c->download_extensions[1], "jpg");
	cr_assert_str_eq(c->download_extensions[2], "jpeg");
	cr_assert_str_eq(c->download_extensions[3], "txt");
}

/* ---- defaults and every key ---------------------------------------------- */

Test(config, defaults_for_empty_file)
{
	char abs[PATH_MAX];

	load_ok("");
	assert_defaults_except_paths(g_cfg);
	assert_default_access_log(g_cfg);
	cr_assert_str_eq(g_cfg->document_root, PKGDATADIR "/www");
	cr_assert_str_eq(g_cfg->uploads_dir, "/var/lib/mthttpd/uploads");
	cr_assert_not_null(realpath(g_path, abs));
	cr_assert_str_eq(g_cfg->path, abs);
	cr_assert_str_eq(g_err, "", "no message on success");
	/* the documented defaults */
	cr_assert_eq(g_cfg->shutdown_timeout, 30);
	cr_assert_eq(g_cfg->access_log, CONFIG_ACCESS_LOG_JOURNAL);
}

Test(config, defaults_for_comments_only)
{
	load_ok("# nothing\n// at all\n/* really\n nothing */\n");
	assert_defaults_except_paths(g_cfg);
	assert_default_access_log(g_cfg);
}

Test(config, every_key_parsed)
{
	load_ok("port = 8081;\n"
		"listen_address = \"127.0.0.1\";\n"
		"document_root = \"/srv/www\";\n"
		"uploads_dir = \"/srv/uploads\";\n"
		"pool_size = 4;\n"
		"queue_size = 64;\n"
		"keepalive_timeout = 5;\n"
		"max_requests = 1000;\n"
		"allowed_hosts = [\"www.example.org\", \"www.example.org:8081\"];\n"
		"max_body_size = 2048;\n"
		"download_extensions = [\"pdf\", \"zip\"];\n"
		"log_level = \"debug\";\n"
		"shutdown_timeout = 5;\n"
		"access_log = \"/var/log/mthttpd/access.log\";\n");
	cr_assert_eq(g_cfg->port, 8081);
	cr_assert_str_eq(g_cfg->listen_address, "127.0.0.1");
	cr_assert_str_eq(g_cfg->document_root, "/srv/www");
	cr_assert_str_eq(g_cfg->uploads_dir, "/srv/uploads");
	cr_assert_eq(g_cfg->pool_size, 4);
	cr_assert_eq(g_cfg->queue_size, 64);
	cr_assert_eq(g_cfg->keepalive_timeout, 5);
	cr_assert_eq(g_cfg->max_requests, 1000);
	cr_assert_eq(g_cfg->n_allowed_hosts, 2);
	cr_assert_str_eq(g_cfg->allowed_hosts[0], "www.example.org");
	cr_assert_str_eq(g_cfg->allowed_hosts[1], "www.example.org:8081");
	cr_assert_eq(g_cfg->max_body_size, 2048);
	cr_assert_eq(g_cfg->n_download_extensions, 2);
	cr_assert_str_eq(g_cfg->download_extensions[0], "pdf");
	cr_assert_str_eq(g_cfg->download_extensions[1], "zip");
	cr_assert_eq(g_cfg->log_level, LOG_DEBUG);
	cr_assert_eq(g_cfg->shutdown_timeout, 5);
	cr_assert_eq(g_cfg->access_log, CONFIG_ACCESS_LOG_FILE);
	cr_assert_str_eq(g_cfg->access_log_path, "/var/log/mthttpd/access.log");
}

Test(config, colon_assignment_lists_and_hex)
{
	/* libconfig's other spellings: ':' for '=', (lists), hex, int64 */
	load_ok("port : 0x1F90\n"
		"allowed_hosts = (\"a.example\")\n"
		"max_body_size = 1048576L;\n"
		"pool_size = 2L;\n");
	cr_assert_eq(g_cfg->port, 8080);
	cr_assert_eq(g_cfg->n_allowed_hosts, 1);
	cr_assert_eq(g_cfg->max_body_size, 1048576);
	cr_assert_eq(g_cfg->pool_size, 2);
}

Test(config, empty_lists_allowed)
{
	load_ok("allowed_hosts = [];\ndownload_extensions = ();\n");
	cr_assert_eq(g_cfg->n_allowed_hosts, 0);
	cr_assert_eq(g_cfg->n_download_extensions, 0);
}

/* ---- paths ------------------------------------------------------------- */

Test(config, relative_paths_resolved_against_file_dir)
{
	char real[PATH_MAX], want[PATH_MAX + 64];

	cr_assert_not_null(realpath(g_dir, real));
	load_ok("document_root = \"www\";\nuploads_dir = \"./data//uploads/\";\n");
	snprintf(want, sizeof(want), "%s/www", real);
	cr_assert_str_eq(g_cfg->document_root, want);
	snprintf(want, sizeof(want), "%s/data/uploads", real);
	cr_assert_str_eq(g_cfg->uploads_dir, want);

	/* ".." is kept: resolving it lexically would be wrong across symlinks */
	load_ok("document_root = \"../www\";\n");
	snprintf(want, sizeof(want), "%s/../www", real);
	cr_assert_str_eq(g_cfg->document_root, want);
}

Test(config, relative_paths_with_relative_file_name)
{
	char real[PATH_MAX], want[PATH_MAX + 64], cwd[PATH_MAX];
	int ret;

	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_not_null(realpath(g_dir, real));
	cr_assert_eq(mkdir(strcat(strcpy(want, g_dir), "/sub"), 0755), 0);
	write_str(strcat(strcpy(want, g_dir), "/sub/x.conf"), "document_root = \"www/\";\n");
	cr_assert_eq(chdir(g_dir), 0);
	ret = load_path("sub/x.conf");
	cr_assert_eq(chdir(cwd), 0);
	cr_assert_eq(ret, 0, "%s", g_err);
	snprintf(want, sizeof(want), "%s/sub/www", real);
	cr_assert_str_eq(g_cfg->document_root, want);
	snprintf(want, sizeof(want), "%s/sub/x.conf", real);
	cr_assert_str_eq(g_cfg->path, want);

	/* a bare file name: the directory is the current one */
	snprintf(want, sizeof(want), "%s/sub", g_dir);
	cr_assert_eq(chdir(want), 0);
	ret = load_path("x.conf");
	cr_assert_eq(chdir(cwd), 0);
	cr_assert_eq(ret, 0, "%s", g_err);
	snprintf(want, sizeof(want), "%s/sub/www", real);
	cr_assert_str_eq(g_cfg->document_root, want);
}

Test(config, absolute_paths_normalised)
{
	load_ok("document_root = \"/srv//www/./\";\nuploads_dir = \"/\";\n");
	cr_assert_str_eq(g_cfg->document_root, "/srv/www");
	cr_assert_str_eq(g_cfg->uploads_dir, "/");
	load_ok("document_root = \"/srv/www///\";\nuploads_dir = \"/a/.\";\n");
	cr_assert_str_eq(g_cfg->document_root, "/srv/www");
	cr_assert_str_eq(g_cfg->uploads_dir, "/a");
}

Test(config, directories_need_not_exist)
{
	load_ok("document_root = \"/nonexistent/mthttpd/www\";\nuploads_dir = \"nope\";\n");
	cr_assert_str_eq(g_cfg->document_root, "/nonexistent/mthttpd/www");
}

Test(config, empty_path_rejected)
{
	load_fail("\ndocument_root = \"\";\n", ":2: document_root: must not be empty");
	load_fail("uploads_dir = \"\";\n", ":1: uploads_dir: must not be empty");
}

/* ---- file-level errors ------------------------------------------------- */

Test(config, missing_file)
{
	char path[PATH_MAX + 32], want[PATH_MAX + 128];
	int ret;

	snprintf(path, sizeof(path), "%s/missing.conf", g_dir);
	ret = load_path(path);
	cr_assert_eq(ret, -ENOENT);
	cr_assert_null(g_cfg);
	snprintf(want, sizeof(want), "%s: cannot open: %s", path, strerror(ENOENT));
	cr_assert_str_eq(g_err, want);
	cr_assert_str_eq(g_err + strlen(path), ": cannot open: No such file or directory");
}

Test(config, directory_instead_of_file)
{
	char want[PATH_MAX + 128];

	cr_assert_lt(load_path(g_dir), 0);
	cr_assert_null(g_cfg);
	snprintf(want, sizeof(want), "%s: cannot open: %s", g_dir, strerror(EISDIR));
	cr_assert_str_eq(g_err, want);
}

Test(config, syntax_error_names_file_and_line)
{
	load_fail("port = 8080;\npool_size = ;\n", ":2: syntax error");
	load_fail("port = 8080;\n\n\nlog_level = \"info\"\npool_size 3\n", ":5: syntax error");
}

/* @include is refused before libconfig parses the file: libconfig would
 * open and read the named file while parsing (any file, a FIFO, a device).
 * The included file here has a syntax error, so a check after parsing
 * reports that file's error instead of the refusal; a FIFO without a
 * writer would block config_load() for good.  Strings and comments may
 * still contain '@'. */
Test(config, include_is_refused_before_parsing, .timeout = 10)
{
	char inc[160], fifo[160], text[400];

	snprintf(inc, sizeof inc, "%s/included.conf", g_dir);
	write_str(inc, "pool_size = ;\n");
	snprintf(text, sizeof text, "port = 1;\n@include \"%s\"\n", inc);
	load_fail(text, ":2: @include is not supported");
	snprintf(fifo, sizeof fifo, "%s/fifo.conf", g_dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	snprintf(text, sizeof text, "@include \"%s\"\n", fifo);
	load_fail(text, ":1: @include is not supported");
	snprintf(text, sizeof text, "# @include \"%s\"\n/* @include */\nlisten_address = \"::\"; // @\n", fifo);
	load_ok(text);
}

Test(config, duplicate_key)
{
	load_fail("port = 1;\nport = 2;\n", ":2: duplicate setting name");
}

Test(config, unknown_key_names_file_line_and_key)
{
	load_fail("port = 8080;\n# a comment\npool = 3;\n", ":3: unknown key 'pool'");
	load_fail("Port = 8080;\n", ":1: unknown key 'Port'");
	load_fail("/* a\n   b */\nserver = { port = 1; };\n", ":3: unknown key 'server'");
}

Test(config, include_rejected)
{
	char inc[PATH_MAX + 32], text[PATH_MAX + 64];

	snprintf(inc, sizeof(inc), "%s/inc.conf", g_dir);
	write_str(inc, "pool_size = 2;\n");
	snprintf(text, sizeof(text), "port = 1;\n@include \"%s\"\n", inc);
	load_fail(text, ":2: @include is not supported");
}

Test(config, nul_byte_rejected)
{
	int ret;

	write_file(g_path, "port = 1;\n\0port = 2;\n", 21);
	ret = load_path(g_path);
	cr_assert_eq(ret, -EINVAL);
	cr_assert_null(g_cfg);
	cr_assert_not_null(strstr(g_err, "NUL byte"), "%s", g_err);
}

Test(config, huge_file_rejected)
{
	size_t len = 2 * 1024 * 1024;
	char *text = malloc(len + 1);

	cr_assert_not_null(text);
	memset(text, '\n', len);
	text[len] = '\0';
	cr_assert_eq(load(text), -EINVAL);
	free(text);
	cr_assert_null(g_cfg);
	cr_assert_not_null(strstr(g_err, "too large"), "%s", g_err);
}

Test(config, error_buffer_optional_and_truncated)
{
	struct mth_config *c = (struct mth_config *)1;
	char small[8];

	write_str(g_path, "pool = 1;\n");
	cr_assert_eq(config_load(g_path, &c, NULL, 0), -EINVAL);
	cr_assert_null(c);
	cr_assert_eq(config_load(g_path, &c, small, sizeof(small)), -EINVAL);
	cr_assert_eq(strlen(small), sizeof(small) - 1);
	cr_assert_eq(strncmp(small, g_path, sizeof(small) - 1), 0);
}

Test(config, free_accepts_null)
{
	cr_assert_survives(config_free(NULL));
}

/* ---- types ------------------------------------------------------------- */

Test(config, int_given_wrong_type)
{
	load_fail("port = \"80\";\n", ":1: port: must be an integer");
	load_fail("pool_size = 4.0;\n", ":1: pool_size: must be an integer");
	load_fail("queue_size = true;\n", ":1: queue_size: must be an integer");
	load_fail("keepalive_timeout = [30];\n", ":1: keepalive_timeout: must be an integer");
	load_fail("max_requests = (1, 2);\n", ":1: max_requests: must be an integer");
	load_fail("max_body_size = { a = 1; };\n", ":1: max_body_size: must be an integer");
	load_fail("shutdown_timeout = \"30\";\n", ":1: shutdown_timeout: must be an integer");
	load_fail("shutdown_timeout = 1.5;\n", ":1: shutdown_timeout: must be an integer");
	load_fail("port = 1e3;\n", ":1: port: must be an integer");
}

Test(config, string_given_wrong_type)
{
	load_fail("listen_address = 1;\n", ":1: listen_address: must be a string");
	load_fail("document_root = [\"/srv\"];\n", ":1: document_root: must be a string");
	load_fail("uploads_dir = false;\n", ":1: uploads_dir: must be a string");
	load_fail("log_level = 6;\n", ":1: log_level: must be a string");
	load_fail("log_level = 6L;\n", ":1: log_level: must be a string");
	load_fail("listen_address = { a = \"b\"; };\n", ":1: listen_address: must be a string");
	load_fail("access_log = 1;\n", ":1: access_log: must be a string");
	load_fail("access_log = false;\n", ":1: access_log: must be a string");
	load_fail("access_log = [\"off\"];\n", ":1: access_log: must be a string");
}

Test(config, list_given_wrong_type)
{
	load_fail_key("allowed_hosts = \"localhost\";\n", 1, "allowed_hosts");
	cr_assert_not_null(strstr(g_err, "must be a list of strings"), "%s", g_err);
	load_fail_key("download_extensions = 3;\n", 1, "download_extensions");
	load_fail_key("download_extensions = { png = 1; };\n", 1, "download_extensions");
	load_fail("allowed_hosts = (\"a\",\n 1);\n",
		  ":2: allowed_hosts: every entry must be a string");
	load_fail("allowed_hosts = [1, 2];\n", ":1: allowed_hosts: every entry must be a string");
	load_fail("download_extensions = (\"png\", [\"jpg\"]);\n",
		  ":1: download_extensions: every entry must be a string");
}

/* ---- integer ranges ------------------------------------------------------- */

static unsigned long long field(const char *key)
{
	if (strcmp(key, "port") == 0)
		return g_cfg->port;
	if (strcmp(key, "pool_size") == 0)
		return g_cfg->pool_size;
	if (strcmp(key, "queue_size") == 0)
		return g_cfg->queue_size;
	if (strcmp(key, "keepalive_timeout") == 0)
		return g_cfg->keepalive_timeout;
	if (strcmp(key, "max_requests") == 0)
		return g_cfg->max_requests;
	if (strcmp(key, "max_body_size") == 0)
		return g_cfg->max_body_size;
	if (strcmp(key, "shutdown_timeout") == 0)
		return g_cfg->shutdown_timeout;
	if (strcmp(key, "max_ranges") == 0)
		return g_cfg->max_ranges;
	if (strcmp(key, "max_request_line") == 0)
		return g_cfg->max_request_line;
	if (strcmp(key, "max_header_size") == 0)
		return g_cfg->max_header_size;
	if (strcmp(key, "max_header_count") == 0)
		return g_cfg->max_header_count;
	if (strcmp(key, "max_path_depth") == 0)
		return g_cfg->max_path_depth;
	if (strcmp(key, "header_timeout") == 0)
		return g_cfg->header_timeout;
	if (strcmp(key, "body_timeout") == 0)
		return g_cfg->body_timeout;
	if (strcmp(key, "send_timeout") == 0)
		return g_cfg->send_timeout;
	if (strcmp(key, "max_connections_per_ip") == 0)
		return g_cfg->max_connections_per_ip;
	if (strcmp(key, "busy_poll") == 0)
		return g_cfg->busy_poll;
	if (strcmp(key, "drain_delay") == 0)
		return g_cfg->drain_delay;
	if (strcmp(key, "client_ipv6_prefix") == 0)
		return g_cfg->client_ipv6_prefix;
	cr_assert_fail("no field %s", key);
	return 0;
}

static void load_int(const char *key, long long v, bool wide, bool ok, long long min, long long max)
{
	char text[128], what[256];

	snprintf(text, sizeof(text), "# range\n%s = %lld%s;\n", key, v, wide ? "L" : "");
	if (ok) {
		load_ok(text);
		cr_assert_eq(field(key), (unsigned long long)v, "%s", text);
	} else {
		snprintf(what, sizeof(what), ":2: %s: must be between %lld and %lld (got %lld)",
			 key, min, max, v);
		load_fail(text, what);
	}
}

static void check_range(const char *key, long long min, long long max)
{
	int wide;

	for (wide = 0; wide < 2; wide++) {
		load_int(key, min - 1, wide, false, min, max);
		load_int(key, min, wide, true, min, max);
		load_int(key, max, wide, true, min, max);
		load_int(key, max + 1, wide, false, min, max);
	}
}

Test(config, range_port)
{
	check_range("port", 0, 65535);
}

Test(config, range_pool_size)
{
	check_range("pool_size", 1, CONFIG_POOL_SIZE_MAX);
	cr_assert_eq(CONFIG_POOL_SIZE_MAX, 1024);
}

Test(config, range_queue_size)
{
	check_range("queue_size", 1, CONFIG_QUEUE_SIZE_MAX);
	cr_assert_eq(CONFIG_QUEUE_SIZE_MAX, 65536);
}

Test(config, range_keepalive_timeout)
{
	check_range("keepalive_timeout", 1, CONFIG_KEEPALIVE_TIMEOUT_MAX);
	cr_assert_eq(CONFIG_KEEPALIVE_TIMEOUT_MAX, 3600);
}

Test(config, range_max_requests)
{
	check_range("max_requests", 1, CONFIG_MAX_REQUESTS_MAX);
	cr_assert_eq(CONFIG_MAX_REQUESTS_MAX, 1000000);
}

Test(config, range_max_body_size)
{
	/* 16 GiB: bodies stream to disk, memory does not grow with them */
	cr_assert_eq(CONFIG_MAX_BODY_SIZE_MAX, 17179869184LL);
	load_int("max_body_size", 0, false, true, 0, CONFIG_MAX_BODY_SIZE_MAX);
	load_int("max_body_size", -1, false, false, 0, CONFIG_MAX_BODY_SIZE_MAX);
	load_int("max_body_size", 1073741824LL, false, true, 0, CONFIG_MAX_BODY_SIZE_MAX);
	load_int("max_body_size", 4294967296LL, true, true, 0, CONFIG_MAX_BODY_SIZE_MAX);
	load_int("max_body_size", CONFIG_MAX_BODY_SIZE_MAX, true, true, 0, CONFIG_MAX_BODY_SIZE_MAX);
	load_int("max_body_size", CONFIG_MAX_BODY_SIZE_MAX + 1, true, false, 0,
		 CONFIG_MAX_BODY_SIZE_MAX);
	load_int("max_body_size", -4294967296LL, true, false, 0, CONFIG_MAX_BODY_SIZE_MAX);
}

Test(config, range_shutdown_timeout)
{
	check_range("shutdown_timeout", 1, CONFIG_SHUTDOWN_TIMEOUT_MAX);
	cr_assert_eq(CONFIG_SHUTDOWN_TIMEOUT_MAX, 3600);
	cr_assert_eq(CONFIG_DEFAULT_SHUTDOWN_TIMEOUT, 30);
}

Test(config, int_literals_that_libconfig_would_wrap)
{
	/* libconfig 1.5 stores these as (int)4294975392 == 8192 etc. */
	load_fail_key("port = 4294975392;\n", 1, "port");
	cr_assert_not_null(strstr(g_err, "integer out of range"), "%s", g_err);
	load_fail_key("\nport = 0x100001F90;\n", 2, "port");
	load_fail_key("max_body_size = -4294967295;\n", 1, "max_body_size");
	load_fail_key("max_body_size = 99999999999999999999L;\n", 1, "max_body_size");
	load_fail_key("pool_size = 0xFFFFFFFFFFFFFFFFFL;\n", 1, "pool_size");
	load_fail_key("allowed_hosts = (\"a\", 4294967297);\n", 1, "allowed_hosts");

	/* digits inside strings and comments are not literals */
	load_ok("document_root = \"/srv/4294975392\"; # 4294975392\n"
		"// 99999999999999999999\n"
		"/* 0x100001F90\n 4294975392 */ uploads_dir = \"/u\\\"99999999999\";\n"
		"max_body_size = 1073741824L; pool_size = 0x10;\n");
	cr_assert_str_eq(g_cfg->document_root, "/srv/4294975392");
	cr_assert_str_eq(g_cfg->uploads_dir, "/u\"99999999999");
}

/* ---- listen_address ---------------------------------------------------- */

Test(config, listen_address_valid)
{
	static const char *const ok[] = {"::",	    "0.0.0.0",	    "127.0.0.1",       "::1",
					 "fe80::1", "2001:db8::42", "::ffff:192.0.2.1"};
	char text[128];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "listen_address = \"%s\";\n", ok[i]);
		load_ok(text);
		cr_assert_str_eq(g_cfg->listen_address, ok[i]);
	}
}

Test(config, listen_address_invalid)
{
	static const char *const bad[] = {"localhost",	"1.2.3", "256.0.0.1", "::g",
					  "1.2.3.4:80", "[::1]", " ::",	      "*"};
	char text[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "listen_address = \"%s\";\n", bad[i]);
		load_fail_key(text, 1, "listen_address");
		cr_assert_not_null(strstr(g_err, bad[i]), "value quoted: %s", g_err);
	}
	load_fail("listen_address = \"\";\n", ":1: listen_address: must not be empty");
	load_fail("listen_address = \"localhost\";\n",
		  ":1: listen_address: not a numeric IPv4 or IPv6 address: 'localhost'");
}

Test(config, error_message_stays_one_line)
{
	load_fail_key("listen_address = \"a\\nb\";\n", 1, "listen_address");
	cr_assert_not_null(strstr(g_err, "'a\\x0ab'"), "%s", g_err);
}

/* ---- allowed_hosts ------------------------------------------------------- */

Test(config, allowed_hosts_valid_and_lower_cased)
{
	load_ok("allowed_hosts = [\"WWW.Example.ORG\", \"example.org:8080\", \"[::1]:8080\",\n"
		"  \"[FE80::1]\", \"127.0.0.1:80\", \"a_b-c.d\", \"host:65535\", \"h:1\",\n"
		"  \"localhost.\"];\n");
	cr_assert_eq(g_cfg->n_allowed_hosts, 9);
	cr_assert_str_eq(g_cfg->allowed_hosts[0], "www.example.org");
	cr_assert_str_eq(g_cfg->allowed_hosts[1], "example.org:8080");
	cr_assert_str_eq(g_cfg->allowed_hosts[2], "[::1]:8080");
	cr_assert_str_eq(g_cfg->allowed_hosts[3], "[fe80::1]");
	cr_assert_str_eq(g_cfg->allowed_hosts[4], "127.0.0.1:80");
	cr_assert_str_eq(g_cfg->allowed_hosts[5], "a_b-c.d");
	cr_assert_str_eq(g_cfg->allowed_hosts[6], "host:65535");
	cr_assert_str_eq(g_cfg->allowed_hosts[7], "h:1");
	cr_assert_str_eq(g_cfg->allowed_hosts[8], "localhost.");
}

Test(config, allowed_hosts_invalid)
{
	static const char *const bad[] = {
	    "",	     "a b",   "host:0",	  "host:70000",	 "[::1",      "exa mple",
	    "host:", ":80",   "host:8o",  "host:-1",	 "host:+80",  "[::1]x",
	    "[zz]",  "[]",    "[::1]:",	  "[::1]:0",	 "*.example", "999.1.1.1",
	    "1.2.3", "a:1:2", "ex/ample", "host:123456", "[::1%lo]",  "h\tx",
	};
	char text[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "allowed_hosts = [\"localhost\",\n \"%s\"];\n",
			 bad[i]);
		load_fail_key(text, 2, "allowed_hosts");
		cr_assert_not_null(strstr(g_err, "invalid host"), "%s", g_err);
	}
	load_fail("allowed_hosts = [\"a b\"];\n",
		  ":1: allowed_hosts: invalid host (expected name or name:port): 'a b'");
}

Test(config, allowed_hosts_name_length)
{
	char text[600], name[300];

	memset(name, 'a', 255);
	name[255] = '\0';
	snprintf(text, sizeof(text), "allowed_hosts = [\"%s:80\"];\n", name);
	load_ok(text);
	cr_assert_eq(strlen(g_cfg->allowed_hosts[0]), 258);
	memset(name, 'a', 256);
	name[256] = '\0';
	snprintf(text, sizeof(text), "allowed_hosts = [\"%s\"];\n", name);
	load_fail_key(text, 1, "allowed_hosts");
	cr_assert_not_null(strstr(g_err, "...'"), "long value cut: %s", g_err);
}

static char *host_list(size_t n)
{
	char *text = malloc(32 + n * 16);
	size_t i, o;

	cr_assert_not_null(text);
	o = (size_t)sprintf(text, "allowed_hosts = [");
	for (i = 0; i < n; i++)
		o += (size_t)sprintf(text + o, "%s\"h%zu\"", i ? ", " : "", i);
	strcpy(text + o, "];\n");
	return text;
}

Test(config, allowed_hosts_at_most_256)
{
	char *text = host_list(256);

	load_ok(text);
	free(text);
	cr_assert_eq(g_cfg->n_allowed_hosts, 256);
	cr_assert_str_eq(g_cfg->allowed_hosts[255], "h255");
	text = host_list(257);
	load(text);
	free(text);
	cr_assert_null(g_cfg);
	cr_assert_not_null(strstr(g_err, ":1: allowed_hosts: at most 256 entries"), "%s", g_err);
}

/* ---- download_extensions ------------------------------------------------- */

Test(config, download_extensions_normalised)
{
	load_ok(
	    "download_extensions = [\".PNG\", \"Jpg\", \"tar\", \"MP4\", \"abcdefghijklmnop\"];\n");
	cr_assert_eq(g_cfg->n_download_extensions, 5);
	cr_assert_str_eq(g_cfg->download_extensions[0], "png");
	cr_assert_str_eq(g_cfg->download_extensions[1], "jpg");
	cr_assert_str_eq(g_cfg->download_extensions[2], "tar");
	cr_assert_str_eq(g_cfg->download_extensions[3], "mp4");
	cr_assert_str_eq(g_cfg->download_extensions[4], "abcdefghijklmnop");
}

Test(config, download_extensions_rejected)
{
	static const char *const bad[] = {"p/g",    "",	    ".",   "..png", "p g",
					  "tar.gz", "png.", "p-g", "p_g",   "abcdefghijklmnopq"};
	char text[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "download_extensions = (\"txt\", \"%s\");\n", bad[i]);
		load_fail_key(text, 1, "download_extensions");
	}
	load_fail("download_extensions = [\"p/g\"];\n",
		  ":1: download_extensions: invalid extension (expected 1 to 16 letters or "
		  "digits): 'p/g'");
}

/* ---- log_level ------------------------------------------------------------ */

Test(config, log_level_names)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
	    {"emerg", LOG_EMERG},  {"alert", LOG_ALERT},   {"crit", LOG_CRIT},
	    {"err", LOG_ERR},	   {"error", LOG_ERR},	   {"warning", LOG_WARNING},
	    {"warn", LOG_WARNING}, {"notice", LOG_NOTICE}, {"info", LOG_INFO},
	    {"debug", LOG_DEBUG},  {"DEBUG", LOG_DEBUG},   {"Warn", LOG_WARNING},
	};
	char text[128];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(text, sizeof(text), "log_level = \"%s\";\n", names[i].name);
		load_ok(text);
		cr_assert_eq(g_cfg->log_level, names[i].level, "%s", names[i].name);
		cr_assert_eq(config_log_level_from_name(names[i].name), names[i].level);
	}
	load_fail_key("log_level = \"verbose\";\n", 1, "log_level");
	cr_assert_not_null(strstr(g_err, "'verbose'"), "%s", g_err);
	load_fail("log_level = \"\";\n", ":1: log_level: must not be empty");
}

/* ---- sendfile ------------------------------------------------------------- */

Test(config, sendfile_modes)
{
	load_ok("port = 8080;\n");
	cr_assert_eq(g_cfg->sendfile, CONFIG_SENDFILE_AUTO, "the default is auto");
	load_ok("sendfile = \"auto\";\n");
	cr_assert_eq(g_cfg->sendfile, CONFIG_SENDFILE_AUTO);
	load_ok("sendfile = \"always\";\n");
	cr_assert_eq(g_cfg->sendfile, CONFIG_SENDFILE_ALWAYS);
	load_ok("sendfile = \"never\";\n");
	cr_assert_eq(g_cfg->sendfile, CONFIG_SENDFILE_NEVER);
	load_fail_key("sendfile = \"on\";\n", 1, "sendfile");
	cr_assert_not_null(strstr(g_err, "'on'"), "%s", g_err);
	cr_assert_not_null(strstr(g_err, "auto, always or never"), "%s", g_err);
	load_fail("sendfile = true;\n", ":1: sendfile: must be a string");
}

Test(config, log_level_name_round_trip)
{
	static const char *const canon[] = {"emerg",   "alert",	 "crit", "err",
					    "warning", "notice", "info", "debug"};
	int level;

	for (level = LOG_EMERG; level <= LOG_DEBUG; level++) {
		cr_assert_str_eq(config_log_level_name(level), canon[level]);
		cr_assert_eq(config_log_level_from_name(canon[level]), level);
	}
	cr_assert_str_eq(config_log_level_name(-1), "unknown");
	cr_assert_str_eq(config_log_level_name(8), "unknown");
	cr_assert_eq(config_log_level_from_name("trace"), -1);
	cr_assert_eq(config_log_level_from_name(""), -1);
	cr_assert_eq(config_log_level_from_name(NULL), -1);
}

/* ---- access_log ------------------------------------------------------------ */

Test(config, access_log_journal_and_off)
{
	load_ok("access_log = \"off\";\n");
	cr_assert_eq(g_cfg->access_log, CONFIG_ACCESS_LOG_OFF);
	cr_assert_null(g_cfg->access_log_path);
	load_ok("access_log = \"journal\";\n");
	cr_assert_eq(g_cfg->access_log, CONFIG_ACCESS_LOG_JOURNAL);
	cr_assert_null(g_cfg->access_log_path);
}

Test(config, access_log_absolute_path)
{
	load_ok("access_log = \"/var/log/mthttpd//access.log\";\n");
	cr_assert_eq(g_cfg->access_log, CONFIG_ACCESS_LOG_FILE);
	cr_assert_str_eq(g_cfg->access_log_path, "/var/log/mthttpd/access.log");
}

Test(config, access_log_relative_path_resolved)
{
	char real[PATH_MAX], want[PATH_MAX + 64];

	cr_assert_not_null(realpath(g_dir, real));
	load_ok("access_log = \"logs/access.log\";\n");
	cr_assert_eq(g_cfg->access_log, CONFIG_ACCESS_LOG_FILE);
	snprintf(want, sizeof(want), "%s/logs/access.log", real);
	cr_assert_str_eq(g_cfg->access_log_path, want);

	/* the escape hatch for a file called "journal" */
	load_ok("access_log = \"./journal\";\n");
	cr_assert_eq(g_cfg->access_log, CONFIG_ACCESS_LOG_FILE);
	snprintf(want, sizeof(want), "%s/journal", real);
	cr_assert_str_eq(g_cfg->access_log_path, want);
}

Test(config, access_log_rejected)
{
	load_fail("access_log = \"\";\n", ":1: access_log: must not be empty");
	load_fail("\naccess_log = \"/var/log/\";\n",
		  ":2: access_log: must be \"journal\", \"off\" or the path of a file (not a "
		  "directory)");
	load_fail_key("access_log = \"logs/\";\n", 1, "access_log");
}

/* ---- trusted_proxies, admin_listen, drain_delay ------------------------------ */

Test(config, range_drain_delay)
{
	check_range("drain_delay", 0, CONFIG_DRAIN_DELAY_MAX);
}

Test(config, trusted_proxies_compiled)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sockaddr_in6 b = { .sin6_family = AF_INET6 };

	load_ok("trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\", \"fd00::/8\"];\n");
	cr_assert_eq(g_cfg->n_trusted_proxies, 4);
	inet_pton(AF_INET, "10.20.30.40", &a.sin_addr);
	cr_expect(cidr_match(g_cfg->trusted_proxies, 4, (struct sockaddr *)&a));
	inet_pton(AF_INET, "11.0.0.1", &a.sin_addr);
	cr_expect_not(cidr_match(g_cfg->trusted_proxies, 4, (struct sockaddr *)&a));
	inet_pton(AF_INET6, "fd12::1", &b.sin6_addr);
	cr_expect(cidr_match(g_cfg->trusted_proxies, 4, (struct sockaddr *)&b));
	load_ok("trusted_proxies = ();\n");
	cr_assert_eq(g_cfg->n_trusted_proxies, 0);
}

Test(config, trusted_proxies_errors)
{
	load_fail("trusted_proxies = [\"127.0.0.1\",\n \"10.1.0.0/8\"];\n",
		  ":2: trusted_proxies: invalid address or prefix '10.1.0.0/8' (expected e.g. "
		  "\"10.0.0.1\", \"10.0.0.0/8\", \"::1\" or \"fd00::/8\", no host bits past "
		  "the prefix)");
	load_fail_key("trusted_proxies = [\"localhost\"];\n", 1, "trusted_proxies");
	load_fail_key("trusted_proxies = [\"10.0.0.0/33\"];\n", 1, "trusted_proxies");
	load_fail_key("\ntrusted_proxies = [1];\n", 2, "trusted_proxies");
	load_fail_key("trusted_proxies = \"127.0.0.1\";\n", 1, "trusted_proxies");
}

Test(config, trusted_proxies_at_most_256)
{
	char text[256 * 16 + 64];
	size_t o = 0;

	o += (size_t)snprintf(text + o, sizeof(text) - o, "trusted_proxies = [");
	for (int i = 0; i < 257; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%s\"10.0.%d.%d\"", i ? "," : "",
				      i / 256, i % 256);
	snprintf(text + o, sizeof(text) - o, "];\n");
	load_fail(text, ":1: trusted_proxies: at most 256 entries are allowed (got 257)");
}

Test(config, admin_listen_forms)
{
	const struct sockaddr_in *v4;
	const struct sockaddr_in6 *v6;
	char buf[INET6_ADDRSTRLEN];

	load_ok("admin_listen = \"127.0.0.1:9180\";\n");
	cr_assert_str_eq(g_cfg->admin_listen, "127.0.0.1:9180");
	cr_assert_eq(g_cfg->admin_addr.ss_family, AF_INET);
	cr_assert_eq(g_cfg->admin_addrlen, sizeof(struct sockaddr_in));
	v4 = (const struct sockaddr_in *)&g_cfg->admin_addr;
	cr_expect_eq(ntohs(v4->sin_port), 9180);
	cr_expect_str_eq(inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof(buf)), "127.0.0.1");

	load_ok("admin_listen = \"[::1]:65535\";\n");
	cr_assert_eq(g_cfg->admin_addr.ss_family, AF_INET6);
	cr_assert_eq(g_cfg->admin_addrlen, sizeof(struct sockaddr_in6));
	v6 = (const struct sockaddr_in6 *)&g_cfg->admin_addr;
	cr_expect_eq(ntohs(v6->sin6_port), 65535);
	cr_expect_str_eq(inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof(buf)), "::1");

	load_ok("admin_listen = \"\";\n");
	cr_assert_null(g_cfg->admin_listen);
	cr_assert_eq(g_cfg->admin_addrlen, 0);
}

Test(config, admin_listen_errors)
{
	const char *bad[] = { "127.0.0.1",   "127.0.0.1:",  "127.0.0.1:0", "127.0.0.1:65536",
			      "::1:9180",    "[::1]",       "[127.0.0.1]:80", "localhost:9180",
			      ":9180",       "[]:9180",     "[::1]:x",      "1.2.3.4:123456" };
	char text[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "\nadmin_listen = \"%s\";\n", bad[i]);
		load_fail_key(text, 2, "admin_listen");
	}
	load_fail("admin_listen = 9180;\n", ":1: admin_listen: must be a string");
}

/* ---- the shipped files ----------------------------------------------------- */

static bool has_placeholder(const char *s)
{
	const char *at;
	size_t n;

	for (at = strchr(s, '@'); at; at = strchr(at + 1, '@')) {
		n = strspn(at + 1, "abcdefghijklmnopqrstuvwxyz_");
		if (n > 0 && at[1 + n] == '@')
			return true;
	}
	return false;
}

Test(config, shipped_config_loads)
{
	static const char *const exprs[] = {"s|@pkgdatadir[@]|/usr/share/mthttpd|g",
					    "s|@localstatedir[@]|/var|g"};
	char in[PATH_MAX];
	FILE *f;
	char line[512];

	snprintf(in, sizeof(in), "%s/etc/mthttpd.conf.in", srcdir());
	sed_file(in, g_path, exprs, 2);
	f = fopen(g_path, "r");
	cr_assert_not_null(f);
	/* an @word@ left over means the sed list above is out of date */
	while (fgets(line, sizeof(line), f))
		cr_assert_not(has_placeholder(line), "unsubstituted: %s", line);
	fclose(f);

	cr_assert_eq(load_path(g_path), 0, "%s", g_err);
	/* the file spells out the compiled-in defaults */
	assert_defaults_except_paths(g_cfg);
	/* the package logs requests to a file (LogsDirectory= of the unit) */
	cr_assert_eq(g_cfg->access_log, CONFIG_ACCESS_LOG_FILE);
	cr_assert_str_eq(g_cfg->access_log_path, "/var/log/mthttpd/access.log");
	cr_assert_str_eq(g_cfg->document_root, "/usr/share/mthttpd/www");
	cr_assert_str_eq(g_cfg->uploads_dir, "/var/lib/mthttpd/uploads");
}

Test(config, dev_config_loads)
{
	char in[PATH_MAX], expr[PATH_MAX + 64], want[PATH_MAX + 64];
	const char *exprs[1] = {expr};

	snprintf(in, sizeof(in), "%s/etc/mthttpd-dev.conf.in", srcdir());
	snprintf(expr, sizeof(expr), "s|@abs_top_srcdir[@]|%s|g", srcdir());
	sed_file(in, g_path, exprs, 1);
	cr_assert_eq(load_path(g_path), 0, "%s", g_err);
	assert_defaults_except_paths(g_cfg);
	assert_default_access_log(g_cfg);
	snprintf(want, sizeof(want), "%s/resources", srcdir());
	cr_assert_str_eq(g_cfg->document_root, want);
	snprintf(want, sizeof(want), "%s/resources/uploads", srcdir());
	cr_assert_str_eq(g_cfg->uploads_dir, want);
}

Test(config, dev_config_port_rewritable_by_make_run)
{
	/* the `make run PORT=...` recipe in Makefile.am */
	static const char *const exprs[] = {"s|@abs_top_srcdir[@]|/src|g",
					    "s|^port = .*|port = 8099;|"};
	char in[PATH_MAX];

	snprintf(in, sizeof(in), "%s/etc/mthttpd-dev.conf.in", srcdir());
	sed_file(in, g_path, exprs, 2);
	cr_assert_eq(load_path(g_path), 0, "%s", g_err);
	cr_assert_eq(g_cfg->port, 8099);
}

Test(config, range_max_ranges)
{
	check_range("max_ranges", 0, CONFIG_MAX_RANGES_MAX);
	cr_assert_eq(CONFIG_DEFAULT_MAX_RANGES, 16);
	load_fail("max_ranges = \"16\";\n", ":1: max_ranges: must be an integer");
}

Test(config, range_phase_timeouts_and_per_ip_cap)
{
	check_range("header_timeout", 1, CONFIG_TIMEOUT_MAX);
	check_range("body_timeout", 1, CONFIG_TIMEOUT_MAX);
	check_range("send_timeout", 1, CONFIG_TIMEOUT_MAX);
	check_range("max_connections_per_ip", 0, CONFIG_MAX_CONNECTIONS_PER_IP_MAX);
	load_ok("");
	cr_assert_eq(g_cfg->header_timeout, CONFIG_DEFAULT_HEADER_TIMEOUT);
	cr_assert_eq(g_cfg->body_timeout, CONFIG_DEFAULT_BODY_TIMEOUT);
	cr_assert_eq(g_cfg->send_timeout, CONFIG_DEFAULT_SEND_TIMEOUT);
	cr_assert_eq(g_cfg->max_connections_per_ip, 0, "off by default");
}

Test(config, range_client_ipv6_prefix)
{
	check_range("client_ipv6_prefix", 32, 128);
	load_ok("");
	cr_assert_eq(g_cfg->client_ipv6_prefix, 64, "a /64 per client by default");
	load_fail("client_ipv6_prefix = \"64\";\n", ":1: client_ipv6_prefix: must be an integer");
}

Test(config, range_busy_poll)
{
	check_range("busy_poll", 0, CONFIG_BUSY_POLL_MAX);
	cr_assert_eq(CONFIG_BUSY_POLL_MAX, 10000, "at most 10 ms");
	load_ok("");
	cr_assert_eq(g_cfg->busy_poll, CONFIG_DEFAULT_BUSY_POLL);
	cr_assert_eq(CONFIG_DEFAULT_BUSY_POLL, 0, "no polling by default: it costs CPU per request");
	load_ok("busy_poll = 500;\n");
	cr_assert_eq(g_cfg->busy_poll, 500, "half a millisecond");
	load_fail("busy_poll = \"500\";\n", ":1: busy_poll: must be an integer");
}

Test(config, range_request_head_limits)
{
	check_range("max_request_line", CONFIG_MAX_REQUEST_LINE_MIN, CONFIG_MAX_REQUEST_LINE_MAX);
	check_range("max_header_size", CONFIG_MAX_HEADER_SIZE_MIN, CONFIG_MAX_HEADER_SIZE_MAX);
	check_range("max_header_count", 1, 100);
	check_range("max_path_depth", 1, 32);
	load_ok("");
	cr_assert_eq(g_cfg->max_request_line, 8192);
	cr_assert_eq(g_cfg->max_header_size, 16384);
	cr_assert_eq(g_cfg->max_header_count, 100);
}

/* ---- the tls group ------------------------------------------------------ */

Test(config, tls_absent_means_no_tls)
{
	load_ok("port = 8080;\n");
	cr_assert_not(g_cfg->tls.enabled);
	cr_assert_eq(g_cfg->tls.n_certs, 0);
}

Test(config, tls_group_parsed)
{
	load_ok("tls = {\n"
		"  port = 8443;\n"
		"  certificates = (\n"
		"    { certificate = \"a.pem\"; key = \"/k/a.key\"; },\n"
		"    { certificate = \"/c/b.pem\"; key = \"b.key\"; }\n"
		"  );\n"
		"  min_version = \"TLSv1.3\";\n"
		"  hsts_max_age = 31536000;\n"
		"  redirect_http = true;\n"
		"};\n");
	cr_assert(g_cfg->tls.enabled);
	cr_assert_eq(g_cfg->tls.port, 8443);
	cr_assert_eq(g_cfg->tls.n_certs, 2);
	/* relative paths are resolved against the file's directory */
	cr_assert_eq(g_cfg->tls.certs[0].certificate[0], '/');
	cr_assert(strstr(g_cfg->tls.certs[0].certificate, "/a.pem"));
	cr_assert_str_eq(g_cfg->tls.certs[0].key, "/k/a.key");
	cr_assert_str_eq(g_cfg->tls.certs[1].certificate, "/c/b.pem");
	cr_assert(strstr(g_cfg->tls.certs[1].key, "/b.key"));
	cr_assert_eq(g_cfg->tls.min_version, CONFIG_TLS_1_3);
	cr_assert_eq(g_cfg->tls.hsts_max_age, 31536000);
	cr_assert(g_cfg->tls.redirect_http);
}

Test(config, tls_defaults)
{
	load_ok("tls = { certificates = ( { certificate = \"/a\"; key = \"/b\"; } ); };\n");
	cr_assert(g_cfg->tls.enabled);
	cr_assert_eq(g_cfg->tls.port, 0, "0: only socket-activated https sockets");
	cr_assert_eq(g_cfg->tls.min_version, CONFIG_TLS_1_2);
	cr_assert_eq(g_cfg->tls.hsts_max_age, 0);
	cr_assert_not(g_cfg->tls.redirect_http);
	cr_assert(g_cfg->tls.http2, "h2 is offered unless switched off");
	cr_assert_eq(g_cfg->tls.h2_max_concurrent_streams, 100);
}

Test(config, tls_http2_keys)
{
	load_ok("tls = { certificates = ( { certificate = \"/a\"; key = \"/b\"; } );\n"
		"  http2 = false; h2_max_concurrent_streams = 1000; };\n");
	cr_assert_not(g_cfg->tls.http2);
	cr_assert_eq(g_cfg->tls.h2_max_concurrent_streams, 1000);
	load_ok("tls = { certificates = ( { certificate = \"/a\"; key = \"/b\"; } );\n"
		"  h2_max_concurrent_streams = 1; };\n");
	cr_assert(g_cfg->tls.http2);
	cr_assert_eq(g_cfg->tls.h2_max_concurrent_streams, 1);
}

Test(config, tls_errors_name_line_and_key)
{
	static const char certs[] = "certificates = ( { certificate = \"/a\"; key = \"/b\"; } );";
	char buf[512];

	load_fail_key("tls = 1;\n", 1, "tls");
	load_fail_key("tls = { port = 8443; };\n", 1, "tls"); /* no certificates */
	load_fail_key("\ntls = { certificates = ( ); };\n", 2, "tls");
	load_fail_key("tls = { certificates = ( { certificate = \"/a\"; } ); };\n", 1, "tls");
	load_fail_key("tls = { certificates = ( { key = \"/b\"; } ); };\n", 1, "tls");
	load_fail_key("tls = { certificates = ( \"/a\" ); };\n", 1, "tls");
	load_fail_key("tls = { certificates = ( { certificate = \"/a\"; key = \"/b\"; "
		      "chain = \"/c\"; } ); };\n",
		      1, "tls");
	load_fail_key("tls = { certificates = ( { certificate = \"\"; key = \"/b\"; } ); };\n", 1,
		      "tls");
	snprintf(buf, sizeof buf, "tls = {\n %s\n port = 70000;\n};\n", certs);
	load_fail_key(buf, 3, "tls");
	snprintf(buf, sizeof buf, "tls = {\n %s\n min_version = \"TLSv1.1\";\n};\n", certs);
	load_fail_key(buf, 3, "tls");
	snprintf(buf, sizeof buf, "tls = {\n %s\n hsts_max_age = -1;\n};\n", certs);
	load_fail_key(buf, 3, "tls");
	snprintf(buf, sizeof buf, "tls = {\n %s\n redirect_http = 1;\n};\n", certs);
	load_fail_key(buf, 3, "tls");
	snprintf(buf, sizeof buf, "tls = {\n %s\n http2 = 1;\n};\n", certs);
	load_fail_key(buf, 3, "tls");
	cr_assert(strstr(g_err, "http2 must be true or false"), "%s", g_err);
	snprintf(buf, sizeof buf, "tls = {\n %s\n h2_max_concurrent_streams = 0;\n};\n", certs);
	load_fail_key(buf, 3, "tls");
	snprintf(buf, sizeof buf, "tls = {\n %s\n h2_max_concurrent_streams = 1001;\n};\n", certs);
	load_fail_key(buf, 3, "tls");
	snprintf(buf, sizeof buf, "tls = {\n %s\n h2_max_concurrent_streams = \"9\";\n};\n", certs);
	load_fail_key(buf, 3, "tls");
	snprintf(buf, sizeof buf, "tls = {\n %s\n h2_window = 9;\n};\n", certs);
	load_fail_key(buf, 3, "tls");
	cr_assert(strstr(g_err, "unknown key 'h2_window'"), "%s", g_err);
	/* the TLS port cannot be the HTTP port */
	snprintf(buf, sizeof buf, "port = 8443;\ntls = { port = 8443; %s };\n", certs);
	cr_assert_eq(load(buf), -EINVAL);
	cr_assert(strstr(g_err, "tls: port must differ"), "%s", g_err);
}

Test(config, tls_certificates_bounded)
{
	char *buf = malloc(64 * 1024);
	size_t n = 0;

	cr_assert_not_null(buf);
	n += (size_t)sprintf(buf + n, "tls = { certificates = (");
	for (int i = 0; i <= CONFIG_TLS_CERTIFICATES_MAX; i++)
		n += (size_t)sprintf(buf + n, "%s{ certificate = \"/c%d\"; key = \"/k%d\"; }",
				     i ? ", " : "", i, i);
	sprintf(buf + n, "); };\n");
	load_fail_key(buf, 1, "tls");
	free(buf);
}

/* ---- uploads: users file, rate limits, quotas (#14) ---------------------- */

#define H_BCRYPT "$2y$04$MtF0OFvR7p/0LqP1Ru/fcOCNQrwU./NBO7wTQnDLTddZHewWinZHG"

Test(config, upload_keys_default_off)
{
	load_ok("");
	cr_assert_null(g_cfg->upload_users_file);
	cr_assert_null(g_cfg->upload_users);
	cr_assert_eq(g_cfg->rate_limit_requests, 0);
	cr_assert_eq(g_cfg->rate_limit_burst, 0);
	cr_assert_eq(g_cfg->rate_limit_uploads, 0);
	cr_assert_eq(g_cfg->uploads_max_bytes, 0);
	cr_assert_eq(g_cfg->uploads_max_files, 0);
}

Test(config, upload_keys_parsed)
{
	char users[128];

	snprintf(users, sizeof(users), "%s/users", g_dir);
	write_str(users, "alice:" H_BCRYPT "\n");
	load_ok("upload_users_file = \"users\";\n"
		"rate_limit_requests = 20;\n"
		"rate_limit_burst = 40;\n"
		"rate_limit_uploads = 6;\n"
		"uploads_max_bytes = 10737418240L;\n"
		"uploads_max_files = 100000;\n");
	cr_assert_str_eq(g_cfg->upload_users_file, users, "resolved against the file's directory");
	cr_assert_eq(htpasswd_count(g_cfg->upload_users), 1);
	cr_assert_str_eq(htpasswd_lookup(g_cfg->upload_users, "alice", 5), H_BCRYPT);
	cr_assert_eq(g_cfg->rate_limit_requests, 20);
	cr_assert_eq(g_cfg->rate_limit_burst, 40);
	cr_assert_eq(g_cfg->rate_limit_uploads, 6);
	cr_assert_eq(g_cfg->uploads_max_bytes, 10737418240ull);
	cr_assert_eq(g_cfg->uploads_max_files, 100000);
	load_ok("upload_users_file = \"\";\n");
	cr_assert_null(g_cfg->upload_users_file);
	cr_assert_null(g_cfg->upload_users);
}

Test(config, upload_users_file_refused_names_its_line)
{
	char users[128], text[256], want[512];

	snprintf(users, sizeof(users), "%s/users", g_dir);
	write_str(users, "alice:" H_BCRYPT "\nbob:$apr1$MS43wi4j$ueTdsLI6m6QEnnfFYd8Y2/\n");
	snprintf(text, sizeof(text), "port = 1;\nupload_users_file = \"%s\";\n", users);
	load_fail_key(text, 2, "upload_users_file");
	snprintf(want, sizeof(want), "%s:2: $apr1$", users);
	cr_assert_not_null(strstr(g_err, want), "%s", g_err);
	load_fail_key("upload_users_file = \"missing\";\n", 1, "upload_users_file");
	cr_assert_not_null(strstr(g_err, "No such file"), "%s", g_err);
	load_fail_key("upload_users_file = 1;\n", 1, "upload_users_file");
}

Test(config, upload_limits_ranges)
{
	load_fail_key("rate_limit_requests = -1;\n", 1, "rate_limit_requests");
	load_fail_key("rate_limit_requests = 1000001;\n", 1, "rate_limit_requests");
	load_fail_key("rate_limit_burst = 1000001;\n", 1, "rate_limit_burst");
	load_fail_key("rate_limit_uploads = 1000001;\n", 1, "rate_limit_uploads");
	load_fail_key("uploads_max_bytes = -1;\n", 1, "uploads_max_bytes");
	load_fail_key("uploads_max_bytes = 2305843009213693952L;\n", 1, "uploads_max_bytes");
	load_fail_key("uploads_max_files = -5;\n", 1, "uploads_max_files");
	load_fail_key("uploads_max_files = \"10\";\n", 1, "uploads_max_files");
}
