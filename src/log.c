/* log.c - one line per event on stderr with an sd-daemon priority prefix. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int log_level_threshold = LOG_INFO;

static __thread char thread_name[16] = "main";

void log_set_level(int level)
{
	__atomic_store_n(&log_level_threshold, level, __ATOMIC_RELAXED);
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

/* "<6>2026-11-25T20:30:47.123Z worker-3: message\n", sent with one write(2)
 * so that concurrent lines never interleave (stderr is a pipe or the
 * journal's stream socket under systemd; both keep one write together). */
void log_msg(int prio, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;
	int saved_errno = errno;

	if (!log_enabled(prio))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof line, "<%d>%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: ", prio,
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000, thread_name);
	if (n < 0)
		n = 0;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2; /* truncated: keep the newline */
	line[n++] = '\n';
	for (const char *p = line; n > 0;) {
		ssize_t w = write(STDERR_FILENO, p, (size_t)n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		n -= (int)w;
	}
	errno = saved_errno;
}
