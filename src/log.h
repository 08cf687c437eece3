/* log.h - the daemon's log: one record per event, to the journal or stderr.
 *
 * When stderr is connected to the journal ($JOURNAL_STREAM names stderr's
 * device and inode), records go through the native journal protocol
 * (sd_journal_sendv) with structured fields: MESSAGE, PRIORITY,
 * SYSLOG_IDENTIFIER=mthttpd, TID, MTHTTPD_THREAD, the caller's
 * CODE_FILE/CODE_LINE/CODE_FUNC, a MESSAGE_ID for the events below and the
 * event's own MTHTTPD_* fields.  Otherwise every record is one stderr line
 * with an sd-daemon priority prefix, sent with a single write(2):
 *
 *   <6>2026-11-25T20:49:11.142Z worker-6: 127.0.0.1:43128 "GET / HTTP/1.1" 200 5797 305us
 *
 * (event fields are journal-only; the stderr line is the message alone).
 *
 * Thread-safe.  A record below the level threshold costs one relaxed atomic
 * load at the call site: the macros test log_enabled() before evaluating
 * their arguments.  The stderr path allocates nothing. */
#ifndef MTH_LOG_H
#define MTH_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

/* MESSAGE_IDs of the events that have one (journalctl MESSAGE_ID=...).
 * Fixed forever: generated once with python3 uuid.uuid4().hex; a new event
 * type gets a new id (systemd-id128 new), an id is never reused. */
#define LOG_ID_REQUEST_DONE "efb1a062379a4112a461a66464a9a6a1"	    /* a response was sent */
#define LOG_ID_UPLOAD_STORED "8ea5b0fbb79e49908b93ccb7fc3d84db"	    /* an upload is on disk */
#define LOG_ID_CONFIG_RELOADED "d6765c01c16b4c18a5f64144aaf5a489"   /* SIGHUP applied */
#define LOG_ID_RELOAD_REJECTED "8a8098edf5754294a46ac376955b54cd"   /* SIGHUP, bad file */
#define LOG_ID_SECURITY_REJECTED "8def32854e9c4301920c6931c2fd31a5" /* traversal, Host */
#define LOG_ID_POOL_SATURATED "1ecb75b1b6ce49f8a645fe4d618638bd"    /* all workers busy */
#define LOG_ID_ACCESS_LOG_DROPPED "8d2702ed40d44357a182a3f73927ba55" /* access-log records lost */
#define LOG_ID_RATE_LIMITED "21717f9cbba14435b73da0579605a751"      /* 429s, counted */
#define LOG_ID_UPLOAD_AUTH_FAILED "5ee2d2e0615e4cdeacac126cfbfebed2" /* 401 on upload */

/* Lines above LEVEL (a syslog priority) are dropped.  May be called at any
 * time (reload); the threshold is an atomic. */
void log_set_level(int level);
/* Rate limiting for warnings a peer can provoke: true at most once per
 * EVERY_MS for the same *LAST (a monotonic ms stamp, updated atomically, so
 * any thread may call it). */
bool log_ratelimit(int64_t *last, int64_t every_ms);
int log_get_level(void);

static inline bool log_enabled(int prio);

/* Decide where records go: the journal when $JOURNAL_STREAM is "DEV:INO"
 * and equals fstat(STDERR_FILENO)'s st_dev:st_ino (merely being set is not
 * enough: stderr may have been redirected since), stderr otherwise.  The
 * first record decides by itself when this was never called; call it again
 * after redirecting stderr.  Returns true for the journal. */
bool log_init(void);
/* The current decision (detects first if needed). */
bool log_uses_journal(void);

/* Name of the calling thread as it appears in log lines and in
 * MTHTTPD_THREAD ("main", "worker-3"); at most 15 characters, copied. */
void log_set_thread_name(const char *name);
const char *log_thread_name(void);

/* One structured field of an event: NAME is upper case letters, digits and
 * '_' (journal field rules, not starting with '_'), e.g. "MTHTTPD_CLIENT".
 * Build them with LOG_STR/LOG_INT/LOG_UINT inside LOG_FIELDS(). */
enum log_field_type {
	LOG_FIELD_STR,
	LOG_FIELD_INT,
	LOG_FIELD_UINT,
};

struct log_field {
	const char *name; /* NULL ends a list */
	enum log_field_type type;
	union {
		const char *s; /* NULL is logged as "" */
		int64_t i;
		uint64_t u;
	} v;
};

/* clang-format off */
#define LOG_STR(k, x) { .name = (k), .type = LOG_FIELD_STR, .v.s = (x) }
#define LOG_INT(k, x) { .name = (k), .type = LOG_FIELD_INT, .v.i = (int64_t)(x) }
#define LOG_UINT(k, x) { .name = (k), .type = LOG_FIELD_UINT, .v.u = (uint64_t)(x) }
/* clang-format on */
/* A NULL-terminated array on the caller's stack (a compound literal):
 * LOG_FIELDS(LOG_STR("MTHTTPD_CLIENT", peer), LOG_UINT("MTHTTPD_BYTES", n)) */
#define LOG_FIELDS(...) ((const struct log_field[]){ __VA_ARGS__, { .name = NULL } })
/* At most this many fields of an event are sent; more are ignored. */
#define LOG_FIELDS_MAX 16

/* The functions behind the macros; FILE, LINE and FUNC are the caller's
 * (CODE_FILE etc.).  ID is a LOG_ID_* or NULL, FIELDS a LOG_FIELDS() list
 * or NULL.  Both check the level themselves too. */
void log_msg_at(int prio, const char *file, int line, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* log_event_at() returns what sd_journal_sendv() returned when the journal
 * refused the record (negative errno; it then went to stderr), else 0. */
int log_event_at(int prio, const char *id, const struct log_field *fields, const char *file,
		 int line, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

#define log_msg(prio, ...)                                                                         \
	do {                                                                                       \
		if (log_enabled(prio))                                                             \
			log_msg_at((prio), __FILE__, __LINE__, __func__, __VA_ARGS__);             \
	} while (0)

/* An event with a MESSAGE_ID and fields; on stderr only the message shows:
 *   log_event(LOG_WARNING, LOG_ID_POOL_SATURATED,
 *             LOG_FIELDS(LOG_UINT("MTHTTPD_WORKERS", n)),
 *             "pool saturated: all %u workers busy", n);
 * FIELDS (and every argument) is evaluated only when PRIO is logged. */
#define log_event(prio, id, fields, ...)                                                           \
	do {                                                                                       \
		if (log_enabled(prio))                                                             \
			log_event_at((prio), (id), (fields), __FILE__, __LINE__, __func__,         \
				     __VA_ARGS__);                                                 \
	} while (0)

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* implementation detail of log_enabled() */
extern int log_level_threshold;
static inline bool log_enabled(int prio)
{
	return prio <= __atomic_load_n(&log_level_threshold, __ATOMIC_RELAXED);
}

#endif
