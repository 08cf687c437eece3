/* log.c - one record per event: native journal protocol when stderr is the
 * journal, else one stderr line with an sd-daemon priority prefix. */

/* the CODE_* fields are the caller's, passed in by the log.h macros, not
 * the location of the sd_journal_sendv() call in this file */
#define SD_JOURNAL_SUPPRESS_LOCATION 1

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define LOG_LINE_MAX 2048 /* bytes of one message, longer ones are cut */
#define LOG_HEAD_MAX 64	  /* room in front of the message for "<6>time name: " */
#define LOG_META_MAX 4096 /* the journal fields other than MESSAGE */

enum { TARGET_UNKNOWN = 0, TARGET_STDERR, TARGET_JOURNAL };

int log_level_threshold = LOG_INFO;
static int target; /* atomic TARGET_* */

static __thread char thread_name[16] = "main";
static __thread pid_t thread_id;

void log_set_level(int level)
{
	__atomic_store_n(&log_level_threshold, level, __ATOMIC_RELAXED);
}

bool log_ratelimit(int64_t *last, int64_t every_ms)
{
	int64_t now = mth_clock_coarse_ms(), prev = __atomic_load_n(last, __ATOMIC_RELAXED);

	return now - prev >= every_ms &&
	       __atomic_compare_exchange_n(last, &prev, now, false, __ATOMIC_RELAXED,
					   __ATOMIC_RELAXED);
}

int log_get_level(void)
{
	return __atomic_load_n(&log_level_threshold, __ATOMIC_RELAXED);
}

void log_set_thread_name(const char *name)
{
	snprintf(thread_name, sizeof thread_name, "%s", name);
}

const char *log_thread_name(void)
{
	return thread_name;
}

/* docs/JOURNAL_NATIVE_PROTOCOL.md: "it is generally not sufficient to only
 * check whether $JOURNAL_STREAM is set": a child whose stderr was
 * redirected inherits the variable, so compare it with stderr itself. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	/* strictly "DIGITS:DIGITS" (strtoull alone would take " +1") */
	if (!e || *e < '0' || *e > '9')
		return false;
	errno = 0;
	dev = strtoull(e, &end, 10);
	if (errno || *end != ':' || end[1] < '0' || end[1] > '9')
		return false;
	e = end + 1;
	ino = strtoull(e, &end, 10);
	if (errno || *end)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

bool log_init(void)
{
	int saved_errno = errno;
	int t = stderr_is_journal() ? TARGET_JOURNAL : TARGET_STDERR;

	__atomic_store_n(&target, t, __ATOMIC_RELAXED);
	errno = saved_errno;
	return t == TARGET_JOURNAL;
}

bool log_uses_journal(void)
{
	int t = __atomic_load_n(&target, __ATOMIC_RELAXED);

	/* two threads racing here both compute the same answer */
	if (t == TARGET_UNKNOWN)
		return log_init();
	return t == TARGET_JOURNAL;
}

/* "src/conn.c" rather than "../../src/conn.c" in a VPATH build */
static const char *source_name(const char *file)
{
	for (;;) {
		if (strncmp(file, "../", 3) == 0)
			file += 3;
		else if (strncmp(file, "./", 2) == 0)
			file += 2;
		else
			return file;
	}
}

static void write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* "<6>2026-11-25T20:30:47.123Z worker-3: " + TEXT + "\n" with one write(2),
 * so that concurrent lines never interleave (stderr is a pipe or the
 * journal's stream socket under systemd; both keep one write together).
 * TEXT has LOG_HEAD_MAX bytes of room in front of it and one behind. */
static void write_stderr(int prio, char *text, size_t len)
{
	char head[LOG_HEAD_MAX];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(head, sizeof head, "<%d>%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: ", prio,
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, thread_name);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof head)
		n = sizeof head - 1;
	memcpy(text - n, head, (size_t)n);
	text[len] = '\n';
	write_all(text - n, (size_t)n + len + 1);
}

struct meta {
	struct iovec iov[LOG_FIELDS_MAX + 9];
	int n;
	char buf[LOG_META_MAX];
	size_t used;
};

/* Appends one "NAME=value" field; a field that does not fit is left out. */
__attribute__((format(printf, 2, 3))) static void meta_add(struct meta *m, const char *fmt, ...)
{
	size_t room = sizeof m->buf - m->used;
	va_list ap;
	int n;

	if ((size_t)m->n >= sizeof m->iov / sizeof m->iov[0])
		return;
	va_start(ap, fmt);
	n = vsnprintf(m->buf + m->used, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		return;
	m->iov[m->n].iov_base = m->buf + m->used;
	m->iov[m->n].iov_len = (size_t)n;
	m->n++;
	m->used += (size_t)n;
}

/* MESSAGE is at TEXT - 8 ("MESSAGE=" fits in the room in front of TEXT). */
static int send_journal(int prio, const char *id, const struct log_field *fields, const char *file,
			int line, const char *func, char *text, size_t len)
{
	struct meta m = { .n = 1 };
	size_t i;

	memcpy(text - 8, "MESSAGE=", 8);
	m.iov[0].iov_base = text - 8;
	m.iov[0].iov_len = len + 8;
	if (!thread_id)
		thread_id = gettid();
	meta_add(&m, "PRIORITY=%d", prio);
	meta_add(&m, "SYSLOG_IDENTIFIER=mthttpd");
	meta_add(&m, "TID=%d", (int)thread_id);
	meta_add(&m, "MTHTTPD_THREAD=%s", thread_name);
	if (id)
		meta_add(&m, "MESSAGE_ID=%s", id);
	meta_add(&m, "CODE_FILE=%s", source_name(file));
	meta_add(&m, "CODE_LINE=%d", line);
	meta_add(&m, "CODE_FUNC=%s", func);
	for (i = 0; fields && fields[i].name && i < LOG_FIELDS_MAX; i++) {
		const struct log_field *f = &fields[i];

		switch (f->type) {
		case LOG_FIELD_STR:
			meta_add(&m, "%s=%s", f->name, f->v.s ? f->v.s : "");
			break;
		case LOG_FIELD_INT:
			meta_add(&m, "%s=%" PRId64, f->name, f->v.i);
			break;
		case LOG_FIELD_UINT:
			meta_add(&m, "%s=%" PRIu64, f->name, f->v.u);
			break;
		}
	}
	return sd_journal_sendv(m.iov, m.n);
}

__attribute__((format(printf, 7, 0))) static int emit(int prio, const char *id,
						       const struct log_field *fields,
						       const char *file, int line, const char *func,
						       const char *fmt, va_list ap)
{
	char buf[LOG_HEAD_MAX + LOG_LINE_MAX + 1];
	char *text = buf + LOG_HEAD_MAX;
	int saved_errno = errno;
	int n, r = 0;

	n = vsnprintf(text, LOG_LINE_MAX, fmt, ap);
	if (n < 0)
		n = 0;
	if (n >= LOG_LINE_MAX)
		n = LOG_LINE_MAX - 1; /* cut */
	/* the journal unreachable (journald restarting): the line still goes
	 * to stderr, which is the journal's stream, rather than nowhere */
	if (!log_uses_journal() ||
	    (r = send_journal(prio, id, fields, file, line, func, text, (size_t)n)) < 0)
		write_stderr(prio, text, (size_t)n);
	errno = saved_errno;
	return r;
}

void log_msg_at(int prio, const char *file, int line, const char *func, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(prio))
		return;
	va_start(ap, fmt);
	emit(prio, NULL, NULL, file, line, func, fmt, ap);
	va_end(ap);
}

int log_event_at(int prio, const char *id, const struct log_field *fields, const char *file,
		 int line, const char *func, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (!log_enabled(prio))
		return 0;
	va_start(ap, fmt);
	r = emit(prio, id, fields, file, line, func, fmt, ap);
	va_end(ap);
	return r;
}
