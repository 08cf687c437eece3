/* log.h - the daemon's log: one line per event on stderr, with sd-daemon
 * priority prefixes ("<6>") so journald classifies each line.
 *
 * Thread-safe: every line is formatted into a thread-local buffer and sent
 * with a single write(2), so lines from different workers never interleave. */
#ifndef MTH_LOG_H
#define MTH_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Lines above LEVEL (a syslog priority) are dropped.  May be called at any
 * time (reload); the threshold is an atomic. */
void log_set_level(int level);
int log_get_level(void);

static inline bool log_enabled(int prio);

/* Name of the calling thread as it appears in log lines ("main",
 * "worker-3"); at most 15 characters, copied. */
void log_set_thread_name(const char *name);
const char *log_thread_name(void);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                  \
	do {                                            \
		if (log_enabled(LOG_DEBUG))             \
			log_msg(LOG_DEBUG, __VA_ARGS__); \
	} while (0)

/* implementation detail of log_enabled() */
extern int log_level_threshold;
static inline bool log_enabled(int prio)
{
	return prio <= __atomic_load_n(&log_level_threshold, __ATOMIC_RELAXED);
}

#endif
