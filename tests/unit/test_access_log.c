/* test_access_log.c - the per-response line: Combined Log Format (fields,
 * date, escaping, cuts), the buffered file (flush by size, age, call,
 * close, thread exit; one buffer per thread), reopen after logrotate
 * renamed the file, reconfiguration, and the "journal" and "off" choices.
 *
 * Criterion runs every test in its own process: the module's process-wide
 * file starts closed in each.  Tests that log from other threads check the
 * per-thread buffers: order, thread exit, reopen and the size limit.  sd_journal_sendv() is defined
 * here (the executable's symbol wins over libsystemd's) to see the journal fields. */
#define SD_JOURNAL_SUPPRESS_LOCATION 1

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "config.h"
#include "log.h"

#define T_2026_11_25_204911 ((time_t)1795639751)

/* ---- the fake journal --------------------------------------------------- */

static int fake_calls;
static char fake_fields[64][512];
static int fake_n;
static int fake_ret; /* what the fake journal answers */

int sd_journal_sendv(const struct iovec *iov, int n)
{
	fake_calls++;
	fake_n = n < 64 ? n : 64;
	for (int i = 0; i < fake_n; i++)
		snprintf(fake_fields[i], sizeof fake_fields[i], "%.*s", (int)iov[i].iov_len,
			 (const char *)iov[i].iov_base);
	return fake_ret;
}

static const char *sent(const char *name)
{
	size_t len = strlen(name);

	for (int i = 0; i < fake_n; i++)
		if (strncmp(fake_fields[i], name, len) == 0 && fake_fields[i][len] == '=')
			return fake_fields[i] + len + 1;
	return NULL;
}

/* ---- fixtures ------------------------------------------------------------ */

static char g_dir[64];
static char g_file[128]; /* g_dir/access.log */
static int pipe_rd = -1; /* stderr */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	int p[2];

	snprintf(g_dir, sizeof g_dir, "/tmp/mthttpd-test-access-log-XXXXXX");
	cr_assert_not_null(mkdtemp(g_dir), "mkdtemp: %s", strerror(errno));
	snprintf(g_file, sizeof g_file, "%s/access.log", g_dir);
	unsetenv("JOURNAL_STREAM");
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	cr_assert_geq(dup2(p[1], STDERR_FILENO), 0);
	close(p[1]);
	pipe_rd = p[0];
	log_init();
	log_set_level(LOG_INFO);
}

static void teardown(void)
{
	access_log_close();
	if (g_dir[0])
		nftw(g_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(access_log, .init = setup, .fini = teardown);

static struct mth_config file_cfg(const char *path)
{
	return (struct mth_config){
		.path = (char *)"/etc/test.conf",
		.access_log = CONFIG_ACCESS_LOG_FILE,
		.access_log_path = (char *)path,
	};
}

static struct mth_config mode_cfg(enum config_access_log mode)
{
	return (struct mth_config){ .path = (char *)"/etc/test.conf", .access_log = mode };
}

static struct access_log_entry sample(void)
{
	return (struct access_log_entry){
		.client = "127.0.0.1:43128",
		.request = "GET / HTTP/1.1",
		.status = 200,
		.bytes = 5990,
		.body_bytes = 5797,
		.duration_us = 305,
		.time = T_2026_11_25_204911,
		.referer = "http://localhost:8080/a.html",
		.user_agent = "curl/7.88.1",
	};
}

#define SAMPLE_CLF                                                                                 \
	"127.0.0.1 - - [25/Nov/2026:20:49:11 +0000] \"GET / HTTP/1.1\" 200 5797 "                  \
	"\"http://localhost:8080/a.html\" \"curl/7.88.1\"\n"

static char *clf(const struct access_log_entry *e)
{
	static char buf[ACCESS_LOG_LINE_MAX];
	size_t n = access_log_format_clf(buf, sizeof buf, e);

	cr_assert_gt(n, 0);
	cr_assert_eq(n, strlen(buf));
	cr_assert_eq(buf[n - 1], '\n');
	cr_assert_eq(strchr(buf, '\n'), buf + n - 1, "one line: %s", buf);
	return buf;
}

/* The whole file ("" when it does not exist), once the writer thread has
 * written what was handed to it (the threads' buffers stay as they are). */
static char *slurp(const char *path)
{
	static char buf[1 << 20];
	FILE *f;
	size_t n;

	access_log_sync();
	f = fopen(path, "r");
	if (!f) {
		buf[0] = '\0';
		return buf;
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static char *drain_stderr(void)
{
	static char buf[8192];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof buf - 1 && (n = read(pipe_rd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return buf;
}

static void configure_ok(const struct mth_config *cfg)
{
	char err[512] = "";
	int r = access_log_configure(cfg, err, sizeof err);

	cr_assert_eq(r, 0, "access_log_configure: %d %s", r, err);
}

static void assert_matches(const char *s, const char *pattern)
{
	regex_t re;

	cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0, "%s", pattern);
	cr_assert_eq(regexec(&re, s, 0, NULL, 0), 0, "\"%s\" !~ /%s/", s, pattern);
	regfree(&re);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* ---- Combined Log Format ---------------------------------------------------- */

Test(access_log, clf_line)
{
	struct access_log_entry e = sample();

	cr_assert_str_eq(clf(&e), SAMPLE_CLF);
}

Test(access_log, clf_host_without_port)
{
	struct access_log_entry e = sample();

	e.client = "[2001:db8::1]:443";
	cr_assert_eq(strncmp(clf(&e), "2001:db8::1 - - [", 17), 0, "%s", clf(&e));
	e.client = "[::1]:5";
	cr_assert_eq(strncmp(clf(&e), "::1 - - [", 9), 0, "%s", clf(&e));
	e.client = "10.0.0.7:65535";
	cr_assert_eq(strncmp(clf(&e), "10.0.0.7 - - [", 14), 0, "%s", clf(&e));
	e.client = "unknown";
	cr_assert_eq(strncmp(clf(&e), "unknown - - [", 13), 0, "%s", clf(&e));
	e.client = NULL;
	cr_assert_eq(strncmp(clf(&e), "- - - [", 7), 0, "%s", clf(&e));
}

Test(access_log, clf_dashes_for_missing_values)
{
	struct access_log_entry e = sample();

	e.body_bytes = 0; /* CLF: "-" when no body was sent (a HEAD, a 304) */
	e.referer = NULL;
	e.user_agent = "";
	e.request = "";
	e.status = 400;
	cr_assert_str_eq(clf(&e), "127.0.0.1 - - [25/Nov/2026:20:49:11 +0000] \"-\" 400 - "
				  "\"-\" \"-\"\n");
}

/* The authuser field: the upload user (#14), escaped like the others. */
Test(access_log, clf_user_field)
{
	struct access_log_entry e = sample();

	e.user = "alice";
	assert_matches(clf(&e), "^127\\.0\\.0\\.1 - alice \\[25/Nov/2026:20:49:11 \\+0000\\] ");
	e.user = "a\"b\\c\x01";
	assert_matches(clf(&e), "^127\\.0\\.0\\.1 - a\\\\x22b\\\\x5Cc\\\\x01 \\[");
	e.user = "";
	cr_assert_str_eq(clf(&e), SAMPLE_CLF);
}

Test(access_log, clf_date_format)
{
	struct access_log_entry e = sample();

	e.time = (time_t)1799118245; /* 2027-01-05T03:04:05Z: zero padding */
	assert_matches(clf(&e), "^127\\.0\\.0\\.1 - - \\[05/Jan/2027:03:04:05 \\+0000\\] ");
	e.time = (time_t)86400 * 31 + 1; /* 1970-02-01T00:00:01Z */
	assert_matches(clf(&e), "^127\\.0\\.0\\.1 - - \\[01/Feb/1970:00:00:01 \\+0000\\] ");
	/* again the first one: the per-thread cache follows the time */
	e.time = T_2026_11_25_204911;
	cr_assert_str_eq(clf(&e), SAMPLE_CLF);
}

Test(access_log, clf_date_defaults_to_now)
{
	struct access_log_entry e = sample();
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char want[64];
	time_t now = time(NULL);
	struct tm tm;

	e.time = 0;
	gmtime_r(&now, &tm);
	snprintf(want, sizeof want, "/%s/%04d:", months[tm.tm_mon], tm.tm_year + 1900);
	cr_assert_not_null(strstr(clf(&e), want), "%s lacks %s", clf(&e), want);
}

Test(access_log, clf_escapes_quotes_backslashes_and_control_bytes)
{
	struct access_log_entry e = sample();

	e.user_agent = "Mozilla \"5.0\" \\ \x01\x1b[31m\ttab\r\nX\x7f\xc3\xa9";
	e.referer = "http://x/\"q\"";
	e.request = "GET /a\\b HTTP/1.1";
	cr_assert_str_eq(clf(&e),
			 "127.0.0.1 - - [25/Nov/2026:20:49:11 +0000] \"GET /a\\x5Cb HTTP/1.1\" "
			 "200 5797 \"http://x/\\x22q\\x22\" "
			 "\"Mozilla \\x225.0\\x22 \\x5C \\x01\\x1B[31m\\x09tab\\x0D\\x0AX\\x7F"
			 "\\xC3\\xA9\"\n");
}

Test(access_log, clf_long_fields_cut_whole_escapes)
{
	static char ua[6000], quotes[3000];
	struct access_log_entry e = sample();
	const char *line, *p;

	memset(ua, 'a', sizeof ua - 1);
	memset(quotes, '"', sizeof quotes - 1);
	e.user_agent = ua;
	e.referer = quotes;
	e.request = quotes;
	line = clf(&e);
	cr_assert_lt(strlen(line), ACCESS_LOG_LINE_MAX);
	cr_assert_eq(strcmp(line + strlen(line) - 3, "a\"\n"), 0, "closing quote kept");
	/* every backslash starts a complete \x22 */
	for (p = strchr(line, '\\'); p; p = strchr(p + 1, '\\'))
		cr_assert_eq(strncmp(p, "\\x22", 4), 0, "cut escape at %zu", (size_t)(p - line));
	cr_assert_eq(access_log_format_clf((char[16]){ 0 }, 16, &e), 0, "too small a buffer");
}

/* ---- the file -------------------------------------------------------------- */

Test(access_log, file_lines_buffered_until_flush)
{
	struct mth_config cfg = file_cfg(g_file);
	struct access_log_entry e = sample();
	struct stat st;

	configure_ok(&cfg);
	cr_assert_str_eq(access_log_file_path(), g_file);
	cr_assert_eq(stat(g_file, &st), 0, "created at configure time");
	cr_assert_eq(st.st_mode & 0777, 0640 & ~(mode_t)umask(umask(0)));
	access_log_request(&cfg, &e);
	cr_assert_str_eq(slurp(g_file), "", "buffered");
	access_log_flush();
	cr_assert_str_eq(slurp(g_file), SAMPLE_CLF);
	cr_assert_str_eq(drain_stderr(), "", "file lines are not in the main log");
	access_log_flush(); /* nothing new: nothing written */
	cr_assert_str_eq(slurp(g_file), SAMPLE_CLF);
}

Test(access_log, file_appends_to_existing_content)
{
	struct mth_config cfg = file_cfg(g_file);
	struct access_log_entry e = sample();
	FILE *f = fopen(g_file, "w");

	cr_assert_not_null(f);
	fputs("old line\n", f);
	fclose(f);
	configure_ok(&cfg);
	access_log_request(&cfg, &e);
	access_log_close();
	cr_assert_str_eq(slurp(g_file), "old line\n" SAMPLE_CLF);
	cr_assert_null(access_log_file_path());
}

Test(access_log, file_flushed_when_buffer_passes_32k)
{
	struct mth_config cfg = file_cfg(g_file);
	struct access_log_entry e = sample();
	size_t line = strlen(SAMPLE_CLF), i, n = (40 * 1024) / line + 1;

	configure_ok(&cfg);
	for (i = 0; i < n; i++)
		access_log_request(&cfg, &e);
	/* at least 32 KiB reached the file without a flush, whole lines */
	cr_assert_geq(strlen(slurp(g_file)), 32 * 1024);
	cr_assert_lt(strlen(slurp(g_file)), n * line, "the rest is still buffered");
	cr_assert_eq(strlen(slurp(g_file)) % line, 0);
	access_log_flush();
	cr_assert_eq(strlen(slurp(g_file)), n * line);
	cr_assert_eq(count_lines(slurp(g_file)), n);
}

Test(access_log, file_flushed_when_oldest_line_is_a_second_old)
{
	struct mth_config cfg = file_cfg(g_file);
	struct access_log_entry e = sample();
	struct timespec ts = { 1, 150 * 1000 * 1000 };

	configure_ok(&cfg);
	access_log_request(&cfg, &e);
	nanosleep(&ts, NULL);
	access_log_request(&cfg, &e);
	cr_assert_str_eq(slurp(g_file), SAMPLE_CLF SAMPLE_CLF, "written by the second line");
}

Test(access_log, reopen_after_logrotate_renamed_the_file)
{
	struct mth_config cfg = file_cfg(g_file);
	struct access_log_entry e = sample();
	char rotated[192];

	snprintf(rotated, sizeof rotated, "%s.1", g_file);
	configure_ok(&cfg);
	e.status = 201;
	access_log_request(&cfg, &e);
	access_log_flush();
	cr_assert_eq(rename(g_file, rotated), 0);
	e.status = 202; /* logged after the rename, still buffered at the signal */
	access_log_request(&cfg, &e);
	cr_assert_eq(access_log_reopen(), 0);
	e.status = 203;
	access_log_request(&cfg, &e);
	access_log_flush();
	/* nothing reaches the rotated file after the reopen (logrotate may be
	 * compressing it): the buffered line goes to the new one */
	assert_matches(slurp(rotated), "^[^\n]+\" 201 [^\n]+\n$");
	assert_matches(slurp(g_file), "^[^\n]+\" 202 [^\n]+\n[^\n]+\" 203 [^\n]+\n$");
}

Test(access_log, reopen_failure_keeps_the_old_file)
{
	struct mth_config cfg = file_cfg(g_file);
	struct access_log_entry e = sample();
	char moved[192], moved_file[256];

	snprintf(moved, sizeof moved, "%s-moved", g_dir);
	snprintf(moved_file, sizeof moved_file, "%s/access.log", moved);
	configure_ok(&cfg);
	/* the directory is gone: the path cannot be opened again */
	cr_assert_eq(rename(g_dir, moved), 0);
	cr_assert_eq(access_log_reopen(), -ENOENT);
	access_log_request(&cfg, &e);
	access_log_flush();
	cr_assert_str_eq(slurp(moved_file), SAMPLE_CLF, "still written to the open file");
	cr_assert_eq(rename(moved, g_dir), 0); /* for the teardown */
}

Test(access_log, reopen_without_a_file)
{
	cr_assert_eq(access_log_reopen(), 0);
	access_log_flush();
	access_log_close();
	access_log_close();
}

Test(access_log, configure_failure_names_config_and_path)
{
	struct mth_config good = file_cfg(g_file), bad;
	struct access_log_entry e = sample();
	char path[192], err[512], want[640];

	configure_ok(&good);
	snprintf(path, sizeof path, "%s/missing/access.log", g_dir);
	bad = file_cfg(path);
	cr_assert_eq(access_log_configure(&bad, err, sizeof err), -ENOENT);
	snprintf(want, sizeof want, "/etc/test.conf: access_log '%s': %s", path, strerror(ENOENT));
	cr_assert_str_eq(err, want);
	cr_assert_str_eq(access_log_file_path(), g_file, "the previous file stays");
	access_log_request(&good, &e);
	access_log_flush();
	cr_assert_str_eq(slurp(g_file), SAMPLE_CLF);
	snprintf(path, sizeof path, "%s", g_dir);
	bad = file_cfg(path);
	cr_assert_eq(access_log_configure(&bad, err, sizeof err), -EISDIR);
}

Test(access_log, reload_switches_files_and_modes)
{
	struct mth_config a = file_cfg(g_file), b, journal = mode_cfg(CONFIG_ACCESS_LOG_JOURNAL);
	struct access_log_entry e = sample();
	char other[192];

	snprintf(other, sizeof other, "%s/other.log", g_dir);
	b = file_cfg(other);
	configure_ok(&a);
	access_log_request(&a, &e);
	configure_ok(&a); /* same path: the same open file, nothing lost */
	configure_ok(&b); /* another path: the buffer goes to the old file first */
	cr_assert_str_eq(slurp(g_file), SAMPLE_CLF);
	cr_assert_str_eq(access_log_file_path(), other);
	access_log_request(&b, &e);
	configure_ok(&journal); /* flushed and closed */
	cr_assert_null(access_log_file_path());
	cr_assert_str_eq(slurp(other), SAMPLE_CLF);
	cr_assert_str_eq(drain_stderr(), "");
	/* a response served with the old "file" configuration after the
	 * reload closed the file: kept, in the main log */
	access_log_request(&b, &e);
	assert_matches(
		drain_stderr(),
		"^<6>[^ ]+ main: 127\\.0\\.0\\.1:43128 \"GET / HTTP/1\\.1\" 200 5990 305us\n$");
	cr_assert_str_eq(slurp(other), SAMPLE_CLF);
}

/* ---- one buffer per thread ------------------------------------------------------ */

struct logger {
	const struct mth_config *cfg;
	const char *tag; /* user agent "TAG-<i>" */
	int lines;
	bool flush_own; /* access_log_flush_thread() at the end */
	int due_before, due_after;
};

static void *logger_main(void *arg)
{
	struct logger *l = arg;
	struct access_log_entry e = sample();
	char ua[64];

	l->due_before = access_log_flush_due_ms();
	for (int i = 0; i < l->lines; i++) {
		snprintf(ua, sizeof ua, "%s-%d", l->tag, i);
		e.user_agent = ua;
		access_log_request(l->cfg, &e);
	}
	l->due_after = access_log_flush_due_ms();
	if (l->flush_own)
		access_log_flush_thread();
	return NULL;
}

/* Runs L on a thread of its own, to its exit. */
static void run_logger(struct logger *l)
{
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, logger_main, l), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
}

/* The user agents of TAG's lines in FILE are TAG-0, TAG-1, ... in order,
 * each line whole; returns how many there are. */
static int assert_tag_in_order(const char *file, const char *tag)
{
	char want[64];
	const char *p = file;
	int next = 0;

	while (*p) {
		const char *nl = strchr(p, '\n');
		char line[512];

		cr_assert_not_null(nl, "unterminated line at %zu", (size_t)(p - file));
		cr_assert_lt((size_t)(nl - p), sizeof line);
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		assert_matches(line,
			       "^127\\.0\\.0\\.1 - - \\[[^]]+\\] \"GET / HTTP/1\\.1\" 200 5797 "
			       "\"http://localhost:8080/a\\.html\" \"[^\"]+\"$");
		snprintf(want, sizeof want, "\"%s-", tag);
		if (strstr(line, want)) {
			snprintf(want, sizeof want, "\"%s-%d\"", tag, next);
			cr_assert_not_null(strstr(line, want), "%s: want %s", line, want);
			next++;
		}
		p = nl + 1;
	}
	return next;
}

Test(access_log, thread_lines_written_by_flush_and_at_thread_exit)
{
	struct mth_config cfg = file_cfg(g_file);
	struct logger l = { .cfg = &cfg, .tag = "T", .lines = 3 };
	struct access_log_entry e = sample();

	configure_ok(&cfg);
	run_logger(&l);
	cr_assert_eq(l.due_before, -1, "nothing buffered yet");
	cr_assert(l.due_after > 0 && l.due_after <= 1000, "due in %d ms", l.due_after);
	/* the thread has exited: its lines were written then, without a flush */
	cr_assert_eq(assert_tag_in_order(slurp(g_file), "T"), 3);
	cr_assert_eq(count_lines(slurp(g_file)), 3);

	/* this thread's line stays in its own buffer until a flush */
	access_log_request(&cfg, &e);
	cr_assert_eq(count_lines(slurp(g_file)), 3);
	access_log_flush();
	cr_assert_eq(count_lines(slurp(g_file)), 4);
	cr_assert_str_eq(slurp(g_file) + strlen(slurp(g_file)) - strlen(SAMPLE_CLF), SAMPLE_CLF);
}

Test(access_log, flush_thread_writes_only_the_callers_buffer)
{
	struct mth_config cfg = file_cfg(g_file);
	struct access_log_entry e = sample();

	configure_ok(&cfg);
	cr_assert_eq(access_log_flush_due_ms(), -1);
	access_log_flush_thread(); /* no buffer yet: nothing to do */
	access_log_request(&cfg, &e);
	cr_assert_gt(access_log_flush_due_ms(), 0);
	cr_assert_leq(access_log_flush_due_ms(), 1000);
	access_log_flush_thread();
	cr_assert_str_eq(slurp(g_file), SAMPLE_CLF);
	cr_assert_eq(access_log_flush_due_ms(), -1, "empty again");
}

Test(access_log, flush_due_reaches_zero_after_a_second)
{
	struct mth_config cfg = file_cfg(g_file);
	struct access_log_entry e = sample();
	struct timespec ts = { 1, 50 * 1000 * 1000 };

	configure_ok(&cfg);
	access_log_request(&cfg, &e);
	nanosleep(&ts, NULL);
	cr_assert_eq(access_log_flush_due_ms(), 0);
	cr_assert_str_eq(slurp(g_file), "", "only a new line or a flush writes it");
	access_log_flush_thread();
	cr_assert_str_eq(slurp(g_file), SAMPLE_CLF);
}

Test(access_log, concurrent_threads_keep_their_order_and_whole_lines)
{
	struct mth_config cfg = file_cfg(g_file);
	struct logger a = { .cfg = &cfg, .tag = "A", .lines = 1500 };
	struct logger b = { .cfg = &cfg, .tag = "B", .lines = 1500, .flush_own = true };
	pthread_t ta, tb;

	configure_ok(&cfg);
	cr_assert_eq(pthread_create(&ta, NULL, logger_main, &a), 0);
	cr_assert_eq(pthread_create(&tb, NULL, logger_main, &b), 0);
	for (int i = 0; i < 20; i++)
		access_log_flush(); /* main's periodic flush, racing the workers */
	cr_assert_eq(pthread_join(ta, NULL), 0);
	cr_assert_eq(pthread_join(tb, NULL), 0);
	cr_assert_eq(assert_tag_in_order(slurp(g_file), "A"), 1500);
	cr_assert_eq(assert_tag_in_order(slurp(g_file), "B"), 1500);
	cr_assert_eq(count_lines(slurp(g_file)), 3000);
}

Test(access_log, reopen_sends_other_threads_buffered_lines_to_the_new_file)
{
	struct mth_config cfg = file_cfg(g_file);
	struct access_log_entry e = sample();
	char rotated[192];

	snprintf(rotated, sizeof rotated, "%s.1", g_file);
	configure_ok(&cfg);
	access_log_request(&cfg, &e); /* buffered in this thread */
	cr_assert_eq(rename(g_file, rotated), 0);
	cr_assert_eq(access_log_reopen(), 0);
	cr_assert_str_eq(slurp(g_file), "", "created again, empty");
	/* another thread's lines, written at its exit, and this one's */
	run_logger(&(struct logger){ .cfg = &cfg, .tag = "T", .lines = 2 });
	access_log_flush();
	cr_assert_str_eq(slurp(rotated), "");
	cr_assert_eq(count_lines(slurp(g_file)), 3);
	cr_assert_eq(assert_tag_in_order(slurp(g_file), "T"), 2);
	cr_assert_not_null(strstr(slurp(g_file), SAMPLE_CLF));
}

/* Fields at their limits make the longest line; one arriving when the
 * buffer is nearly full is written whole, with the lines before it, in one
 * go. */
Test(access_log, long_line_at_the_buffer_limit_is_written_whole)
{
	static char ua[6000], req[3000];
	struct mth_config cfg = file_cfg(g_file);
	struct access_log_entry e = sample(), big = sample();
	char longest[ACCESS_LOG_LINE_MAX];
	size_t line = strlen(SAMPLE_CLF), n = (32 * 1024) / line, big_len, i;

	memset(ua, 'a', sizeof ua - 1);
	memset(req, '"', sizeof req - 1); /* every byte escaped: 4 bytes out */
	big.user_agent = ua;
	big.referer = ua;
	big.request = req;
	big_len = access_log_format_clf(longest, sizeof longest, &big);
	cr_assert_gt(big_len, 3000);

	configure_ok(&cfg);
	for (i = 0; i < n; i++)
		access_log_request(&cfg, &e);
	cr_assert_str_eq(slurp(g_file), "", "just below 32 KiB: still buffered");
	access_log_request(&cfg, &big);
	cr_assert_eq(strlen(slurp(g_file)), n * line + big_len, "all of it, in one write");
	cr_assert_str_eq(slurp(g_file) + n * line, longest);
	cr_assert_eq(access_log_flush_due_ms(), -1);

	/* only such lines: every one whole, however the buffer fills */
	for (i = 0; i < 40; i++)
		access_log_request(&cfg, &big);
	access_log_flush();
	cr_assert_eq(strlen(slurp(g_file)), n * line + 41 * big_len);
	cr_assert_eq(count_lines(slurp(g_file)), n + 41);
	for (i = 0; i < 41; i++)
		cr_assert_eq(memcmp(slurp(g_file) + n * line + i * big_len, longest, big_len), 0,
			     "line %zu", i);
}

/* A logger that stays alive, with its lines buffered, until told to go. */
struct held_logger {
	struct logger l;
	pthread_barrier_t logged, go;
};

static void *held_logger_main(void *arg)
{
	struct held_logger *h = arg;

	logger_main(&h->l);
	pthread_barrier_wait(&h->logged);
	pthread_barrier_wait(&h->go);
	return NULL;
}

Test(access_log, reload_writes_a_live_threads_lines_to_the_old_file_first)
{
	struct mth_config cfg = file_cfg(g_file), other,
			  journal = mode_cfg(CONFIG_ACCESS_LOG_JOURNAL);
	struct held_logger h = { .l = { .cfg = &cfg, .tag = "T", .lines = 2 } };
	char other_path[192];
	pthread_t t;

	snprintf(other_path, sizeof other_path, "%s/other.log", g_dir);
	other = file_cfg(other_path);
	configure_ok(&cfg);
	pthread_barrier_init(&h.logged, NULL, 2);
	pthread_barrier_init(&h.go, NULL, 2);
	cr_assert_eq(pthread_create(&t, NULL, held_logger_main, &h), 0);
	pthread_barrier_wait(&h.logged);
	cr_assert_str_eq(slurp(g_file), "", "buffered in the other thread");
	configure_ok(&other); /* another path: the old file gets them */
	cr_assert_eq(assert_tag_in_order(slurp(g_file), "T"), 2);
	/* lines buffered in this thread, then the file is closed altogether */
	h.l.cfg = &other;
	logger_main(&h.l);
	configure_ok(&journal);
	cr_assert_eq(assert_tag_in_order(slurp(other_path), "T"), 2);
	pthread_barrier_wait(&h.go);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_str_eq(drain_stderr(), "", "nothing fell back to the main log");
	pthread_barrier_destroy(&h.logged);
	pthread_barrier_destroy(&h.go);
}

/* ---- records that cannot be written: counted, warned once a minute ------- */

/* /dev/full answers every write with ENOSPC, like a full disk. */
Test(access_log, disk_full_lines_are_counted_warned_once_a_minute_then_resume)
{
	struct mth_config full = file_cfg("/dev/full"), good = file_cfg(g_file);
	struct access_log_entry e = sample();
	const char *err;

	configure_ok(&full);
	for (int i = 0; i < 5; i++)
		access_log_request(&full, &e);
	cr_assert_eq(access_log_dropped(), 0, "still buffered");
	access_log_flush();
	cr_assert_eq(access_log_dropped(), 5);
	access_log_tick();
	err = drain_stderr();
	cr_assert_not_null(strstr(err, "<4>"), "a warning: %s", err);
	cr_assert_not_null(strstr(err, "access log /dev/full: 5 records dropped (No space left "
				       "on device); 5 since start"),
			   "%s", err);
	/* more losses within the minute: counted, not warned again */
	access_log_request(&full, &e);
	access_log_request(&full, &e);
	access_log_flush();
	cr_assert_eq(access_log_dropped(), 7);
	access_log_tick();
	cr_assert_str_eq(drain_stderr(), "");
	/* room again (here: another file): lines are written, none counted */
	configure_ok(&good);
	access_log_request(&good, &e);
	access_log_flush();
	cr_assert_str_eq(slurp(g_file), SAMPLE_CLF);
	cr_assert_eq(access_log_dropped(), 7);
	access_log_tick();
	cr_assert_str_eq(drain_stderr(), "", "still within the minute");
}

struct fifo_reader {
	int fd;
	size_t lines;
};

static void *fifo_read_all(void *arg)
{
	struct fifo_reader *r = arg;
	char buf[65536];
	ssize_t n;

	while ((n = read(r->fd, buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < n; i++)
			r->lines += buf[i] == '\n';
	return NULL;
}

/* A log whose writes block (a FIFO nobody reads, as a stalled disk): the
 * logging thread never waits, the lines beyond what the writer holds are
 * counted as dropped, and every line is either in the log or in the count. */
Test(access_log, stalled_disk_never_blocks_the_logger_and_every_line_is_accounted,
     .timeout = 60)
{
	char fifo[192];
	struct mth_config cfg;
	struct access_log_entry e = sample();
	struct fifo_reader r = { .lines = 0 };
	const size_t n = 60000; /* ~6 MB: more than the writer may hold */
	pthread_t t;

	snprintf(fifo, sizeof fifo, "%s/fifo", g_dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	r.fd = open(fifo, O_RDONLY | O_NONBLOCK); /* a reader exists, reads nothing yet */
	cr_assert_geq(r.fd, 0);
	cfg = file_cfg(fifo);
	configure_ok(&cfg);
	for (size_t i = 0; i < n; i++) {
		access_log_request(&cfg, &e);
		if (i % 1000 == 0)
			access_log_flush_thread();
	}
	/* we got here although nothing was read: the writer is stuck in
	 * write(2), the lines it could not take are counted */
	cr_assert_gt(access_log_dropped(), 0);
	cr_assert_lt(access_log_dropped(), n);
	cr_assert_eq(fcntl(r.fd, F_SETFL, 0), 0); /* blocking reads from now on */
	cr_assert_eq(pthread_create(&t, NULL, fifo_read_all, &r), 0);
	access_log_close(); /* everything written, the FIFO's writer closed: EOF */
	cr_assert_eq(pthread_join(t, NULL), 0);
	close(r.fd);
	cr_assert_eq(r.lines + access_log_dropped(), n, "%zu read + %llu dropped", r.lines,
		     (unsigned long long)access_log_dropped());
	access_log_tick();
	cr_assert_not_null(strstr(drain_stderr(), "the writer is behind"));
}

/* ---- "journal" and "off" ------------------------------------------------------ */

Test(access_log, journal_mode_on_stderr_is_the_classic_line)
{
	struct mth_config cfg = mode_cfg(CONFIG_ACCESS_LOG_JOURNAL);
	struct access_log_entry e = sample();

	access_log_request(&cfg, &e);
	assert_matches(drain_stderr(), "^<6>[0-9T:.-]+Z main: 127\\.0\\.0\\.1:43128 "
				       "\"GET / HTTP/1\\.1\" 200 5990 305us\n$");
	cr_assert_eq(fake_calls, 0);
	log_set_level(LOG_NOTICE); /* request lines are info */
	access_log_request(&cfg, &e);
	cr_assert_str_eq(drain_stderr(), "");
}

Test(access_log, journal_mode_fields)
{
	struct mth_config cfg = mode_cfg(CONFIG_ACCESS_LOG_JOURNAL);
	struct access_log_entry e = sample();
	struct stat st;
	char v[64];
	int line;

	cr_assert_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	cr_assert_eq(setenv("JOURNAL_STREAM", v, 1), 0);
	cr_assert(log_init());
	log_set_thread_name("worker-2");
	e.request = "POST /upload?x=1 HTTP/1.1";
	e.status = 201;
	line = __LINE__ + 1;
	access_log_request(&cfg, &e);
	cr_assert_eq(fake_calls, 1);
	cr_assert_str_eq(sent("MESSAGE"),
			 "127.0.0.1:43128 \"POST /upload?x=1 HTTP/1.1\" 201 5990 305us");
	cr_assert_str_eq(sent("PRIORITY"), "6");
	cr_assert_str_eq(sent("MESSAGE_ID"), LOG_ID_REQUEST_DONE);
	cr_assert_str_eq(sent("MTHTTPD_CLIENT"), "127.0.0.1:43128");
	cr_assert_str_eq(sent("MTHTTPD_METHOD"), "POST");
	cr_assert_str_eq(sent("MTHTTPD_PATH"), "/upload?x=1");
	cr_assert_str_eq(sent("MTHTTPD_STATUS"), "201");
	cr_assert_str_eq(sent("MTHTTPD_BYTES"), "5990");
	cr_assert_str_eq(sent("MTHTTPD_DURATION_USEC"), "305");
	cr_assert_str_eq(sent("MTHTTPD_THREAD"), "worker-2");
	cr_assert_not_null(strstr(sent("CODE_FILE"), "test_access_log.c"));
	cr_assert_eq(atoi(sent("CODE_LINE")), line);
	cr_assert_str_eq(sent("CODE_FUNC"), __func__);
	cr_assert_str_eq(drain_stderr(), "");

	/* a malformed request line: its first word, and the rest as the path */
	e.request = "BLAH";
	access_log_request(&cfg, &e);
	cr_assert_str_eq(sent("MTHTTPD_METHOD"), "BLAH");
	cr_assert_str_eq(sent("MTHTTPD_PATH"), "");
	e.request = "GET /no-version";
	access_log_request(&cfg, &e);
	cr_assert_str_eq(sent("MTHTTPD_METHOD"), "GET");
	cr_assert_str_eq(sent("MTHTTPD_PATH"), "/no-version");
	cr_assert_eq(access_log_dropped(), 0);

	/* the journal refuses: the line goes to stderr and counts as dropped */
	fake_ret = -EAGAIN;
	access_log_request(&cfg, &e);
	access_log_request(&cfg, &e);
	cr_assert_eq(access_log_dropped(), 2);
	cr_assert_not_null(strstr(drain_stderr(), "\"GET /no-version\" 201"));
	access_log_tick();
	fake_ret = 0;
	cr_assert_str_eq(sent("MTHTTPD_DROPPED"), "2", "the warning, in the journal");
	cr_assert_str_eq(sent("MESSAGE_ID"), LOG_ID_ACCESS_LOG_DROPPED);
	assert_matches(sent("MESSAGE"), "^access log journal: 2 records dropped \\(Resource "
					 "temporarily unavailable\\); 2 since start");
}

Test(access_log, off_logs_nothing)
{
	struct mth_config file = file_cfg(g_file), off = mode_cfg(CONFIG_ACCESS_LOG_OFF);
	struct access_log_entry e = sample();

	configure_ok(&file);
	access_log_request(&off, &e);
	cr_assert_eq(access_log_flush_due_ms(), -1, "no buffer made for \"off\"");
	access_log_flush();
	cr_assert_str_eq(slurp(g_file), "");
	cr_assert_str_eq(drain_stderr(), "");
	configure_ok(&off);
	cr_assert_null(access_log_file_path());
}

/* Over TLS the journal line carries MTHTTPD_TLS=version/cipher; over
 * cleartext the field is absent. */
Test(access_log, journal_tls_field)
{
	struct mth_config cfg = mode_cfg(CONFIG_ACCESS_LOG_JOURNAL);
	struct access_log_entry e = sample();
	struct stat st;
	char v[64];

	cr_assert_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	cr_assert_eq(setenv("JOURNAL_STREAM", v, 1), 0);
	cr_assert(log_init());
	e.tls = "TLSv1.3/TLS_AES_128_GCM_SHA256";
	access_log_request(&cfg, &e);
	cr_assert_not_null(sent("MTHTTPD_TLS"));
	cr_assert_str_eq(sent("MTHTTPD_TLS"), "TLSv1.3/TLS_AES_128_GCM_SHA256");
	cr_assert_str_eq(sent("MTHTTPD_STATUS"), "200");
	e.tls = NULL;
	access_log_request(&cfg, &e);
	cr_assert_null(sent("MTHTTPD_TLS"));
	cr_assert_not_null(sent("MTHTTPD_DURATION_USEC"));
}
