/* test_mime.c - the extension -> Content-Type table. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mime.h"
#include "survives.h"

#define HTML_UTF8 "text/html; charset=utf-8"

static struct mime_table *from(const char *text)
{
	struct mime_table *t = mime_table_from_text(text, text ? strlen(text) : 0);

	cr_assert_not_null(t);
	return t;
}

static void expect_type(const struct mime_table *t, const char *ext, const char *want)
{
	cr_expect_str_eq(mime_lookup(t, ext), want, "mime_lookup(\"%s\")", ext);
}

/* ---- built-ins ---- */

Test(mime_builtin, all_entries)
{
	struct mime_table *t = from(NULL);

	expect_type(t, "html", HTML_UTF8);
	expect_type(t, "htm", HTML_UTF8);
	expect_type(t, "css", "text/css; charset=utf-8");
	expect_type(t, "js", "text/javascript; charset=utf-8");
	expect_type(t, "mjs", "text/javascript; charset=utf-8");
	expect_type(t, "json", "application/json");
	expect_type(t, "txt", "text/plain; charset=utf-8");
	expect_type(t, "xml", "application/xml");
	expect_type(t, "png", "image/png");
	expect_type(t, "jpg", "image/jpeg");
	expect_type(t, "jpeg", "image/jpeg");
	expect_type(t, "gif", "image/gif");
	expect_type(t, "svg", "image/svg+xml");
	expect_type(t, "ico", "image/vnd.microsoft.icon");
	expect_type(t, "webp", "image/webp");
	expect_type(t, "pdf", "application/pdf");
	expect_type(t, "wasm", "application/wasm");
	expect_type(t, "woff2", "font/woff2");
	expect_type(t, "woff", "font/woff");
	expect_type(t, "mp4", "video/mp4");
	expect_type(t, "zip", "application/zip");
	expect_type(t, "gz", "application/gzip");
	mime_table_free(t);
}

Test(mime_builtin, empty_text_is_builtins)
{
	struct mime_table *t = mime_table_from_text("", 0);

	cr_assert_not_null(t);
	expect_type(t, "png", "image/png");
	mime_table_free(t);
}

Test(mime_builtin, unknown_and_empty)
{
	struct mime_table *t = from(NULL);

	expect_type(t, "", MIME_DEFAULT_TYPE);
	expect_type(t, "nosuchext", MIME_DEFAULT_TYPE);
	expect_type(t, "htmlx", MIME_DEFAULT_TYPE);
	expect_type(t, "htm ", MIME_DEFAULT_TYPE);
	expect_type(t, "h", MIME_DEFAULT_TYPE);
	expect_type(t, "exe", MIME_DEFAULT_TYPE);
	expect_type(t, "abcdefghijklmnopqrstuvwxyzabcdefghijkl", MIME_DEFAULT_TYPE);
	cr_expect_str_eq(mime_lookup(t, NULL), MIME_DEFAULT_TYPE);
	cr_expect_str_eq(mime_lookup(NULL, "html"), MIME_DEFAULT_TYPE);
	mime_table_free(t);
}

Test(mime_builtin, lookup_ignores_case)
{
	struct mime_table *t = from(NULL);

	expect_type(t, "HTML", HTML_UTF8);
	expect_type(t, "Png", "image/png");
	expect_type(t, "WOFF2", "font/woff2");
	mime_table_free(t);
}

Test(mime_builtin, lookup_does_not_allocate)
{
	struct mime_table *t = from(NULL);

	/* the same pointer each time: the value lives in the table */
	cr_expect_eq(mime_lookup(t, "html"), mime_lookup(t, "html"));
	cr_expect_eq(mime_lookup(t, "html"), mime_lookup(t, "htm"));
	mime_table_free(t);
}

Test(mime_builtin, free_accepts_null)
{
	cr_assert_survives(mime_table_free(NULL));
}

/* ---- mime.types text ---- */

Test(mime_text, parse_and_extend)
{
	struct mime_table *t = from("# a comment line\n"
				    "\n"
				    "application/x-foo\tfoo fooo\n"
				    "  image/x-bar   bar\t\tbaz  \n"
				    "application/x-noext\n"
				    "audio/ogg oga ogg spx opus");

	expect_type(t, "foo", "application/x-foo");
	expect_type(t, "fooo", "application/x-foo");
	expect_type(t, "bar", "image/x-bar");
	expect_type(t, "baz", "image/x-bar");
	expect_type(t, "opus", "audio/ogg"); /* last line without '\n' */
	expect_type(t, "ogg", "audio/ogg");
	expect_type(t, "noext", MIME_DEFAULT_TYPE);
	/* built-ins still there */
	expect_type(t, "html", HTML_UTF8);
	expect_type(t, "gz", "application/gzip");
	mime_table_free(t);
}

Test(mime_text, overrides_builtins)
{
	struct mime_table *t = from("application/javascript js\n"
				    "image/x-png png\n"
				    "text/x-c json\n");

	expect_type(t, "js", "application/javascript");
	expect_type(t, "mjs", "text/javascript; charset=utf-8");
	expect_type(t, "png", "image/x-png");
	expect_type(t, "json", "text/x-c; charset=utf-8");
	mime_table_free(t);
}

Test(mime_text, later_line_wins)
{
	/* as Apache and nginx do; Debian lists "sh" twice, for instance */
	struct mime_table *t = from("application/x-sh sh\n"
				    "text/x-sh sh\n");

	expect_type(t, "sh", "text/x-sh; charset=utf-8");
	mime_table_free(t);
}

Test(mime_text, text_types_get_charset)
{
	struct mime_table *t = from("text/markdown md markdown\n"
				    "text/csv csv\n"
				    "application/text-ish tish\n"
				    "TEXT/X-Upper up\n");

	expect_type(t, "md", "text/markdown; charset=utf-8");
	expect_type(t, "markdown", "text/markdown; charset=utf-8");
	expect_type(t, "csv", "text/csv; charset=utf-8");
	expect_type(t, "tish", "application/text-ish");
	/* media types are case-insensitive: stored lower-cased */
	expect_type(t, "up", "text/x-upper; charset=utf-8");
	mime_table_free(t);
}

Test(mime_text, extensions_lower_cased)
{
	struct mime_table *t = from("application/x-mixed MiXeD UPPER\n");

	expect_type(t, "mixed", "application/x-mixed");
	expect_type(t, "upper", "application/x-mixed");
	expect_type(t, "UPPER", "application/x-mixed");
	mime_table_free(t);
}

Test(mime_text, comments)
{
	struct mime_table *t = from("#application/x-off off\n"
				    "   # indented comment\n"
				    "application/x-on on # trailing comment after\n"
				    "application/x-on2 on2 #nospace after2\n");

	expect_type(t, "off", MIME_DEFAULT_TYPE);
	expect_type(t, "on", "application/x-on");
	expect_type(t, "trailing", MIME_DEFAULT_TYPE);
	expect_type(t, "after", MIME_DEFAULT_TYPE);
	expect_type(t, "on2", "application/x-on2");
	expect_type(t, "after2", MIME_DEFAULT_TYPE);
	mime_table_free(t);
}

Test(mime_text, crlf_lines)
{
	struct mime_table *t = from("application/x-dos dos\r\nimage/x-win win\r\n");

	expect_type(t, "dos", "application/x-dos");
	expect_type(t, "win", "image/x-win");
	mime_table_free(t);
}

Test(mime_text, malformed_lines_skipped)
{
	struct mime_table *t = from("noslash bad1\n"
				    "/nosub bad2\n"
				    "notype/ bad3\n"
				    "a/b/c bad4\n"
				    "text/html;charset=latin1 bad5\n"
				    "text/\"q\" bad6\n"
				    "application/x-good good\n");

	expect_type(t, "bad1", MIME_DEFAULT_TYPE);
	expect_type(t, "bad2", MIME_DEFAULT_TYPE);
	expect_type(t, "bad3", MIME_DEFAULT_TYPE);
	expect_type(t, "bad4", MIME_DEFAULT_TYPE);
	expect_type(t, "bad5", MIME_DEFAULT_TYPE);
	expect_type(t, "bad6", MIME_DEFAULT_TYPE);
	expect_type(t, "good", "application/x-good");
	mime_table_free(t);
}

Test(mime_text, long_extensions_skipped)
{
	/* 31 characters is the limit */
	struct mime_table *t = from("application/x-long "
				    "abcdefghijklmnopqrstuvwxyz01234 "
				    "abcdefghijklmnopqrstuvwxyz012345 short\n");

	expect_type(t, "abcdefghijklmnopqrstuvwxyz01234", "application/x-long");
	expect_type(t, "abcdefghijklmnopqrstuvwxyz012345", MIME_DEFAULT_TYPE);
	expect_type(t, "short", "application/x-long");
	mime_table_free(t);
}

Test(mime_text, long_type_skipped)
{
	char text[512];
	struct mime_table *t;

	/* "application/" + 200 x: longer than any real media type */
	memcpy(text, "application/", 12);
	memset(text + 12, 'x', 200);
	strcpy(text + 212, " longtype\n");
	t = from(text);
	expect_type(t, "longtype", MIME_DEFAULT_TYPE);
	mime_table_free(t);
}

Test(mime_text, len_is_respected)
{
	static const char text[] = "application/x-a aa\napplication/x-b bb\n";
	struct mime_table *t = mime_table_from_text(text, 19);

	cr_assert_not_null(t);
	expect_type(t, "aa", "application/x-a");
	expect_type(t, "bb", MIME_DEFAULT_TYPE);
	mime_table_free(t);
}

Test(mime_text, embedded_nul)
{
	static const char text[] = "application/x-a aa\0zz\napplication/x-b bb\n";
	struct mime_table *t = mime_table_from_text(text, sizeof(text) - 1);

	cr_assert_not_null(t);
	expect_type(t, "aa", "application/x-a");
	expect_type(t, "zz", "application/x-a");
	expect_type(t, "bb", "application/x-b");
	mime_table_free(t);
}

Test(mime_text, many_entries_grow_the_table)
{
	size_t cap = 5000 * 32, n = 0;
	char *text = malloc(cap);
	char ext[16];
	struct mime_table *t;

	cr_assert_not_null(text);
	for (int i = 0; i < 5000; i++)
		n += (size_t)snprintf(text + n, cap - n, "application/x-%d e%d\n", i % 7, i);
	t = mime_table_from_text(text, n);
	free(text);
	cr_assert_not_null(t);
	for (int i = 0; i < 5000; i++) {
		char want[32];

		snprintf(ext, sizeof(ext), "e%d", i);
		snprintf(want, sizeof(want), "application/x-%d", i % 7);
		cr_assert_str_eq(mime_lookup(t, ext), want);
	}
	expect_type(t, "html", HTML_UTF8);
	expect_type(t, "e5000", MIME_DEFAULT_TYPE);
	mime_table_free(t);
}

Test(mime_text, entry_count_is_bounded)
{
	/* 65536 extensions at most (built-ins included); replacing the
	 * type of a known one still works when the table is full */
	size_t cap = 70000 * 24 + 64, n = 0;
	char *text = malloc(cap);
	struct mime_table *t;

	cr_assert_not_null(text);
	for (int i = 0; i < 70000; i++)
		n += (size_t)snprintf(text + n, cap - n, "application/x-e e%d\n", i);
	n += (size_t)snprintf(text + n, cap - n, "text/x-late html\n");
	t = mime_table_from_text(text, n);
	free(text);
	cr_assert_not_null(t);
	expect_type(t, "e0", "application/x-e");
	expect_type(t, "e60000", "application/x-e");
	expect_type(t, "e69999", MIME_DEFAULT_TYPE);
	expect_type(t, "html", "text/x-late; charset=utf-8");
	expect_type(t, "png", "image/png");
	mime_table_free(t);
}

/* ---- files ---- */

Test(mime_load, system_mime_types)
{
	struct mime_table *t;

	if (access(MIME_TYPES_PATH, R_OK) != 0)
		cr_skip_test(MIME_TYPES_PATH " is not installed (package media-types)");
	t = mime_table_load(MIME_TYPES_PATH);
	cr_assert_not_null(t);
	expect_type(t, "html", HTML_UTF8);
	expect_type(t, "png", "image/png");
	expect_type(t, "css", "text/css; charset=utf-8");
	expect_type(t, "unknownext", MIME_DEFAULT_TYPE);
	mime_table_free(t);
}

Test(mime_load, missing_file_gives_builtins)
{
	struct mime_table *t = mime_table_load("/nonexistent/mthttpd/mime.types");

	cr_assert_not_null(t);
	expect_type(t, "html", HTML_UTF8);
	expect_type(t, "woff2", "font/woff2");
	expect_type(t, "nope", MIME_DEFAULT_TYPE);
	mime_table_free(t);

	t = mime_table_load(NULL);
	cr_assert_not_null(t);
	expect_type(t, "png", "image/png");
	mime_table_free(t);
}

Test(mime_load, directory_gives_builtins)
{
	struct mime_table *t = mime_table_load("/");

	cr_assert_not_null(t);
	expect_type(t, "png", "image/png");
	mime_table_free(t);
}

static void temp_file(char *path, size_t size, const char *text, size_t len)
{
	const char *tmp = getenv("TMPDIR");
	int fd;

	snprintf(path, size, "%s/mthttpd-mime-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

Test(mime_load, synthetic_file)
{
	static const char text[] = "# test\napplication/x-synth syn SYN2\ntext/x-t tt\n";
	char path[512];
	struct mime_table *t;

	temp_file(path, sizeof(path), text, sizeof(text) - 1);
	t = mime_table_load(path);
	unlink(path);
	cr_assert_not_null(t);
	expect_type(t, "syn", "application/x-synth");
	expect_type(t, "syn2", "application/x-synth");
	expect_type(t, "tt", "text/x-t; charset=utf-8");
	expect_type(t, "html", HTML_UTF8);
	mime_table_free(t);
}

Test(mime_load, oversized_file_gives_builtins)
{
	/* a file over 4 MiB is not a mime.types: ignored as a whole */
	size_t len = (4u << 20) + 64;
	char *text = malloc(len);
	char path[512];
	struct mime_table *t;

	cr_assert_not_null(text);
	memset(text, ' ', len);
	memcpy(text, "application/x-big big\n", 22);
	text[len - 1] = '\n';
	temp_file(path, sizeof(path), text, len);
	free(text);
	t = mime_table_load(path);
	unlink(path);
	cr_assert_not_null(t);
	expect_type(t, "big", MIME_DEFAULT_TYPE);
	expect_type(t, "png", "image/png");
	mime_table_free(t);
}

/* ---- concurrency: lookups share the table without a lock ---- */

static void *lookup_loop(void *arg)
{
	const struct mime_table *t = arg;

	for (int i = 0; i < 20000; i++) {
		if (strcmp(mime_lookup(t, "html"), HTML_UTF8) != 0 ||
		    strcmp(mime_lookup(t, "nope"), MIME_DEFAULT_TYPE) != 0)
			return (void *)1;
	}
	return NULL;
}

Test(mime_concurrency, parallel_lookups)
{
	struct mime_table *t = from("application/x-a a\n");
	pthread_t th[8];

	for (int i = 0; i < 8; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, lookup_loop, t), 0);
	for (int i = 0; i < 8; i++) {
		void *ret;

		cr_assert_eq(pthread_join(th[i], &ret), 0);
		cr_expect_null(ret);
	}
	mime_table_free(t);
}
