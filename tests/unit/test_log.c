/* test_log.c - the main log: the stderr line format, level filtering, one
 * write per line under concurrency, and the journal detection.
 *
 * Criterion runs every test in its own process, so redirecting stderr and
 * changing $JOURNAL_STREAM stay inside the test.  journald itself cannot be
 * reached here (PID 1 is not systemd): this file defines sd_journal_sendv(),
 * which the executable's symbol takes precedence over libsystemd's, to see
 * exactly what log.c would send, and when. */
#define SD_JOURNAL_SUPPRESS_LOCATION 1

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "log.h"

/* ---- the fake journal --------------------------------------------------- */

#define FAKE_FIELDS_MAX 64

static int fake_calls;
static int fake_result; /* what the fake returns */
static char fake_fields[FAKE_FIELDS_MAX][512];
static int fake_n;

int sd_journal_sendv(const struct iovec *iov, int n)
{
	fake_calls++;
	fake_n = n < FAKE_FIELDS_MAX ? n : FAKE_FIELDS_MAX;
	for (int i = 0; i < fake_n; i++)
		snprintf(fake_fields[i], sizeof fake_fields[i], "%.*s", (int)iov[i].iov_len,
			 (const char *)iov[i].iov_base);
	return fake_result;
}

/* The value of field NAME in the last record sent, NULL if absent. */
static const char *sent(const char *name)
{
	size_t len = strlen(name);

	for (int i = 0; i < fake_n; i++)
		if (strncmp(fake_fields[i], name, len) == 0 && fake_fields[i][len] == '=')
			return fake_fields[i] + len + 1;
	return NULL;
}

/* ---- stderr into a pipe ------------------------------------------------- */

static int pipe_rd = -1;

static void capture_stderr(void)
{
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	cr_assert_geq(dup2(p[1], STDERR_FILENO), 0);
	close(p[1]);
	pipe_rd = p[0];
}

/* Everything written to stderr since the last call. */
static char *drain(char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;

	while (len < cap - 1 && (n = read(pipe_rd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return buf;
}

static void set_journal_stream_to(int fd)
{
	struct stat st;
	char v[64];

	cr_assert_eq(fstat(fd, &st), 0);
	snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	cr_assert_eq(setenv("JOURNAL_STREAM", v, 1), 0);
}

static void setup(void)
{
	unsetenv("JOURNAL_STREAM");
	capture_stderr();
	log_set_level(LOG_INFO);
	log_set_thread_name("main");
	fake_calls = 0;
	fake_result = 0;
	fake_n = 0;
}

TestSuite(log, .init = setup);

static void assert_matches(const char *s, const char *pattern)
{
	regex_t re;

	cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0, "%s", pattern);
	cr_assert_eq(regexec(&re, s, 0, NULL, 0), 0, "\"%s\" !~ /%s/", s, pattern);
	regfree(&re);
}

#define TIME_RE "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"

/* ---- the stderr line ------------------------------------------------------ */

Test(log, stderr_line_format)
{
	char out[4096];

	cr_assert_not(log_init(), "JOURNAL_STREAM unset: stderr");
	log_info("hello %d", 42);
	assert_matches(drain(out, sizeof out), "^<6>" TIME_RE " main: hello 42\n$");
	log_err("bad %s", "thing");
	assert_matches(drain(out, sizeof out), "^<3>" TIME_RE " main: bad thing\n$");
	log_set_level(LOG_DEBUG);
	log_debug("details");
	assert_matches(drain(out, sizeof out), "^<7>" TIME_RE " main: details\n$");
	cr_assert_eq(fake_calls, 0, "the journal is never used for stderr");
}

Test(log, thread_name_in_line_and_cut_to_15)
{
	char out[4096];

	log_set_thread_name("worker-3");
	cr_assert_str_eq(log_thread_name(), "worker-3");
	log_notice("x");
	assert_matches(drain(out, sizeof out), "^<5>" TIME_RE " worker-3: x\n$");
	log_set_thread_name("a-very-long-thread-name");
	cr_assert_str_eq(log_thread_name(), "a-very-long-thr");
	log_warning("y");
	assert_matches(drain(out, sizeof out), "^<4>" TIME_RE " a-very-long-thr: y\n$");
}

Test(log, event_shows_only_its_message_on_stderr)
{
	char out[4096];

	log_event(
		LOG_INFO, LOG_ID_REQUEST_DONE,
		LOG_FIELDS(LOG_STR("MTHTTPD_CLIENT", "127.0.0.1:1"), LOG_UINT("MTHTTPD_BYTES", 5)),
		"%s \"%s\" %d", "127.0.0.1:1", "GET / HTTP/1.1", 200);
	assert_matches(drain(out, sizeof out),
		       "^<6>" TIME_RE " main: 127\\.0\\.0\\.1:1 \"GET / HTTP/1\\.1\" 200\n$");
	log_event(LOG_WARNING, LOG_ID_POOL_SATURATED, NULL, "no fields");
	assert_matches(drain(out, sizeof out), "^<4>" TIME_RE " main: no fields\n$");
	cr_assert_eq(fake_calls, 0);
}

Test(log, long_message_cut_to_one_line)
{
	static char big[8192], out[16384];

	memset(big, 'a', sizeof big - 1);
	log_info("%s", big);
	drain(out, sizeof out);
	cr_assert_lt(strlen(out), 2048 + 64 + 2);
	cr_assert_gt(strlen(out), 2000);
	cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line, newline kept");
}

Test(log, errno_preserved)
{
	char out[256];

	errno = EBADF;
	log_info("x");
	cr_assert_eq(errno, EBADF);
	drain(out, sizeof out);
}

/* ---- level filtering ------------------------------------------------------ */

static int evaluated;

static int side_effect(void)
{
	return ++evaluated;
}

Test(log, level_filters_lines)
{
	char out[4096];

	log_set_level(LOG_WARNING);
	cr_assert_eq(log_get_level(), LOG_WARNING);
	cr_assert(log_enabled(LOG_ERR));
	cr_assert(log_enabled(LOG_WARNING));
	cr_assert_not(log_enabled(LOG_NOTICE));
	log_info("dropped");
	log_notice("dropped");
	log_debug("dropped");
	log_msg(LOG_INFO, "dropped");
	cr_assert_str_eq(drain(out, sizeof out), "");
	log_warning("kept");
	assert_matches(drain(out, sizeof out), "^<4>" TIME_RE " main: kept\n$");
	log_set_level(LOG_EMERG);
	log_err("dropped");
	cr_assert_str_eq(drain(out, sizeof out), "");
}

Test(log, filtered_calls_evaluate_nothing)
{
	char out[256];

	log_set_level(LOG_NOTICE);
	log_info("%d", side_effect());
	log_debug("%d", side_effect());
	log_event(LOG_INFO, LOG_ID_REQUEST_DONE,
		  LOG_FIELDS(LOG_INT("MTHTTPD_STATUS", side_effect())), "%d", side_effect());
	cr_assert_eq(evaluated, 0, "arguments of a filtered line are not evaluated");
	log_notice("%d", side_effect());
	cr_assert_eq(evaluated, 1);
	drain(out, sizeof out);
}

/* ---- one write per line --------------------------------------------------- */

#define THREADS 8
#define LINES 300

static void *writer(void *arg)
{
	char name[16];

	snprintf(name, sizeof name, "worker-%d", (int)(intptr_t)arg);
	log_set_thread_name(name);
	for (int i = 0; i < LINES; i++)
		log_info("line %d of %s with some padding to make it longer than a few bytes", i,
			 name);
	return NULL;
}

static void *reader(void *arg)
{
	size_t cap = 1u << 20, len = 0;
	char *buf = malloc(cap);

	/* no cr_assert off the test's thread: a failure shows as a NULL result */
	if (!buf || fcntl(pipe_rd, F_SETFL, 0) != 0) /* blocking */
		return NULL;
	for (;;) {
		ssize_t n = read(pipe_rd, buf + len, cap - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*(char **)arg = buf;
	return NULL;
}

Test(log, concurrent_lines_never_interleave)
{
	pthread_t w[THREADS], r;
	char *all = NULL, *line, *save;
	regex_t re;
	int count = 0;

	cr_assert_eq(pthread_create(&r, NULL, reader, &all), 0);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&w[i], NULL, writer, (void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(w[i], NULL);
	close(STDERR_FILENO); /* EOF for the reader */
	pthread_join(r, NULL);
	cr_assert_not_null(all);
	cr_assert_eq(regcomp(&re,
			     "^<6>" TIME_RE " worker-([0-9]): line [0-9]+ of worker-\\1 with some "
			     "padding to make it longer than a few bytes$",
			     REG_EXTENDED | REG_NOSUB),
		     0);
	for (line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cr_assert_eq(regexec(&re, line, 0, NULL, 0), 0, "torn line: %s", line);
		count++;
	}
	cr_assert_eq(count, THREADS * LINES);
	regfree(&re);
	free(all);
}

/* ---- where records go: the journal detection ------------------------------ */

Test(log, journal_stream_unset_or_malformed_means_stderr)
{
	/* variants of the value that would match: only the exact one does */
	static const char *const bad[] = { "%llu",	 "%llu:",      "%llu:%llu:0", " %llu:%llu",
					   "+%llu:%llu", "%llu: %llu", "%llu:+%llu",  "%llu:%llux",
					   "%llu:%llu ", "%llu-%llu",  "%llu:%llu0" };
	unsigned long long dev, ino;
	char out[4096], v[128];
	struct stat st;

	cr_assert_not(log_init());
	cr_assert_not(log_uses_journal());
	cr_assert_eq(fstat(STDERR_FILENO, &st), 0);
	dev = (unsigned long long)st.st_dev;
	ino = (unsigned long long)st.st_ino;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
		snprintf(v, sizeof v, bad[i], dev, ino);
#pragma GCC diagnostic pop
		cr_assert_eq(setenv("JOURNAL_STREAM", v, 1), 0);
		cr_assert_not(log_init(), "JOURNAL_STREAM=\"%s\"", v);
	}
	cr_assert_eq(setenv("JOURNAL_STREAM", "", 1), 0);
	cr_assert_not(log_init());
	snprintf(v, sizeof v, "%llu:%llu", dev, ino);
	cr_assert_eq(setenv("JOURNAL_STREAM", v, 1), 0);
	cr_assert(log_init(), "the exact value matches: %s", v);
	unsetenv("JOURNAL_STREAM");
	cr_assert_not(log_init());
	log_info("still stderr");
	assert_matches(drain(out, sizeof out), "^<6>" TIME_RE " main: still stderr\n$");
	cr_assert_eq(fake_calls, 0);
}

Test(log, journal_stream_of_another_file_means_stderr)
{
	char out[4096];
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	/* set, well-formed, but not our stderr: e.g. the daemon was started
	 * from a journal-connected shell with 2>file */
	cr_assert_geq(fd, 0);
	set_journal_stream_to(fd);
	close(fd);
	cr_assert_not(log_init());
	log_info("to the pipe");
	assert_matches(drain(out, sizeof out), "^<6>" TIME_RE " main: to the pipe\n$");
	cr_assert_eq(fake_calls, 0, "sd_journal_sendv is not used without a match");
}

Test(log, journal_stream_matching_stderr_uses_the_journal)
{
	char out[4096];
	int first, last, code_line;

	set_journal_stream_to(STDERR_FILENO);
	cr_assert(log_init());
	cr_assert(log_uses_journal());
	log_set_thread_name("worker-7");
	first = __LINE__ + 1;
	log_event(LOG_WARNING, LOG_ID_SECURITY_REJECTED,
		  LOG_FIELDS(LOG_STR("MTHTTPD_CLIENT", "[::1]:5"), LOG_INT("MTHTTPD_STATUS", 403),
			     LOG_UINT("MTHTTPD_BYTES", 18446744073709551615ULL),
			     LOG_STR("MTHTTPD_EMPTY", NULL)),
		  "security: %s -> %d", "[::1]:5", 403);
	last = __LINE__ - 1;
	cr_assert_eq(fake_calls, 1);
	cr_assert_str_eq(drain(out, sizeof out), "", "nothing on stderr when the journal took it");
	cr_assert_str_eq(sent("MESSAGE"), "security: [::1]:5 -> 403");
	cr_assert_str_eq(sent("PRIORITY"), "4");
	cr_assert_str_eq(sent("SYSLOG_IDENTIFIER"), "mthttpd");
	cr_assert_str_eq(sent("MTHTTPD_THREAD"), "worker-7");
	cr_assert_str_eq(sent("MESSAGE_ID"), LOG_ID_SECURITY_REJECTED);
	cr_assert_str_eq(sent("MTHTTPD_CLIENT"), "[::1]:5");
	cr_assert_str_eq(sent("MTHTTPD_STATUS"), "403");
	cr_assert_str_eq(sent("MTHTTPD_BYTES"), "18446744073709551615");
	cr_assert_str_eq(sent("MTHTTPD_EMPTY"), "");
	cr_assert_not_null(sent("TID"));
	cr_assert_eq(atoi(sent("TID")), (int)gettid());
	/* the caller's location, not log.c's */
	cr_assert_not_null(sent("CODE_FILE"));
	cr_assert_not_null(strstr(sent("CODE_FILE"), "test_log.c"), "%s", sent("CODE_FILE"));
	cr_assert_neq(strncmp(sent("CODE_FILE"), "../", 3), 0, "no ../ prefix");
	cr_assert_not_null(sent("CODE_LINE"));
	code_line = atoi(sent("CODE_LINE"));
	cr_assert(code_line >= first && code_line <= last, "CODE_LINE=%d", code_line);
	cr_assert_str_eq(sent("CODE_FUNC"), __func__);

	/* a plain message: no MESSAGE_ID */
	log_info("plain");
	cr_assert_eq(fake_calls, 2);
	cr_assert_str_eq(sent("MESSAGE"), "plain");
	cr_assert_str_eq(sent("PRIORITY"), "6");
	cr_assert_null(sent("MESSAGE_ID"));

	/* filtered: not sent either */
	log_debug("filtered");
	cr_assert_eq(fake_calls, 2);
}

Test(log, journal_unreachable_falls_back_to_stderr)
{
	char out[4096];

	set_journal_stream_to(STDERR_FILENO);
	cr_assert(log_init());
	fake_result = -ENOENT;
	log_info("kept %d", 1);
	cr_assert_eq(fake_calls, 1);
	assert_matches(drain(out, sizeof out), "^<6>" TIME_RE " main: kept 1\n$");
}

Test(log, redirecting_stderr_and_redetecting_goes_back_to_stderr)
{
	char out[4096];

	set_journal_stream_to(STDERR_FILENO);
	cr_assert(log_init());
	capture_stderr(); /* a new pipe: JOURNAL_STREAM no longer matches */
	cr_assert_not(log_init());
	log_info("line");
	assert_matches(drain(out, sizeof out), "^<6>" TIME_RE " main: line\n$");
	cr_assert_eq(fake_calls, 0);
}

Test(log, message_ids_are_distinct_128_bit_hex)
{
	static const char *const ids[] = { LOG_ID_REQUEST_DONE,	     LOG_ID_UPLOAD_STORED,
					   LOG_ID_CONFIG_RELOADED,   LOG_ID_RELOAD_REJECTED,
					   LOG_ID_SECURITY_REJECTED, LOG_ID_POOL_SATURATED };

	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		assert_matches(ids[i], "^[0-9a-f]{32}$");
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(ids[i], ids[j]);
	}
}

Test(log, ratelimit_once_per_interval)
{
	/* long ago, whatever the monotonic clock reads now */
	int64_t a = -((int64_t)1 << 40), b = a;

	cr_expect(log_ratelimit(&a, 60000));
	cr_expect_not(log_ratelimit(&a, 60000), "a second warning within the interval");
	cr_expect(log_ratelimit(&b, 60000), "another stamp is independent");
	/* an interval of 0 never holds anything back */
	cr_expect(log_ratelimit(&a, 0));
	/* the stamp moved on: the interval counts from the last true */
	a -= 60000;
	cr_expect(log_ratelimit(&a, 60000));
}
