/* access_log.h - one line per response, where the access_log key says.
 *
 *   "journal"  (default) the main log (log.h): on stderr the line
 *              127.0.0.1:43128 "GET / HTTP/1.1" 200 5797 305us
 *              in the journal the same MESSAGE with MESSAGE_ID request-done
 *              and MTHTTPD_CLIENT, _METHOD, _PATH, _STATUS, _BYTES,
 *              _DURATION_USEC, _THREAD.  journald rate-limits a busy service,
 *              hence the other choices:
 *   "off"      no per-request line;
 *   a path     Combined Log Format lines appended to that file:
 *              127.0.0.1 - - [25/Nov/2026:20:49:11 +0000] "GET / HTTP/1.1" 200 5797 "-"
 * "curl/7.88.1"
 *
 * The file is process-wide, owned by this module: main opens it from the
 * current configuration (access_log_configure() at start and on every
 * reload), reopens it on SIGUSR1 (logrotate), hands the buffers over every
 * second and closes it at exit.  Each thread that logs collects its lines
 * in a buffer of its own (32 KiB, no lock shared with other workers) and
 * hands it to the writer thread, which does the write(2), when it holds
 * 32 KiB, when its oldest line is a second old (checked at each new line,
 * and by the worker loop through access_log_flush_due_ms()), at thread exit
 * and on every flush/configure/close: a worker never waits for the disk.
 * The file is O_APPEND and a write holds whole lines, so lines of one
 * thread are in order and lines of different threads interleave only at
 * line boundaries (up to a second apart).
 *
 * Nothing is lost silently: a record that cannot be written (ENOSPC, EIO,
 * the writer 128 buffers behind a stalled disk; with "journal", a record
 * sd_journal_sendv() refused) is counted in access_log_dropped(), which
 * STATUS= shows, and access_log_tick() warns with the count at most once a
 * minute (MESSAGE_ID access-log-dropped).  Lines resume by themselves when
 * the disk has room again; a line cut by a full disk is removed.
 *
 * The choice is made per response from the configuration the request was
 * served with (c->site->cfg).  Around a reload, a response served with a
 * "file" configuration goes to the file open at that moment; if the new
 * configuration closed it, to the main log instead: nothing is lost.
 * Security rejections are not access-log lines: they are warnings in the
 * main log (MESSAGE_ID security-rejected), whatever access_log says. */
#ifndef MTH_ACCESS_LOG_H
#define MTH_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct mth_config;

/* One finished response.  Strings are NUL-terminated; NULL or "" shows as
 * "-" in the file.  Every string is escaped on output in the file
 * ('"', '\\', control bytes and bytes over 0x7e as \xHH). */
struct access_log_entry {
	const char *client;  /* "ip:port" or "[ip6]:port" (the file logs the ip) */
	const char *request; /* the request line, sanitised: "GET / HTTP/1.1" */
	int status;
	uint64_t bytes;		/* sent on the socket, head included (main log) */
	uint64_t body_bytes;	/* of which the body (the file's size column) */
	int64_t duration_us;	/* first byte of the request to the last of the response */
	time_t time;		/* wall clock at the request's start (file); 0 = now */
	const char *referer;	/* file only */
	const char *user_agent; /* file only */
	const char *tls;	/* "TLSv1.3/TLS_AES_128_GCM_SHA256", NULL: cleartext (journal) */
	const char *user;	/* the authenticated user (upload auth), or NULL */
	int32_t h2_stream;	/* HTTP/2: the stream id (journal); 0: HTTP/1.x */
};

/* Log E as CFG->access_log says.  The journal's CODE_* fields name the
 * caller.  With a file: formatted into this thread's buffer; never waits
 * for the disk (at most for main handing the same buffer over). */
#define access_log_request(cfg, e) access_log_request_at((cfg), (e), __FILE__, __LINE__, __func__)
void access_log_request_at(const struct mth_config *cfg, const struct access_log_entry *e,
			   const char *file, int line, const char *func);

/* Make CFG's setting the process's: for a file, open it (O_APPEND|O_CREAT|
 * O_CLOEXEC, mode 0640) unless that path is already open; otherwise flush
 * and close any open file.  On failure returns -errno, writes "CONFIG_PATH:
 * access_log 'PATH': reason" into ERR and leaves the previous file in use.
 * Main thread: at start (before the pool) and on SIGHUP before publishing
 * the new site (a failure rejects the reload).  Thread-safe. */
int access_log_configure(const struct mth_config *cfg, char *err, size_t errlen);

/* SIGUSR1: open the path again, so that lines go to a new file after
 * logrotate renamed the old one; lines still buffered in any thread go to
 * the new file too (nothing is written to the old one after this returns;
 * a write in progress finishes first).  0 without a file.  On failure
 * returns -errno and keeps writing to the old file.  Thread-safe. */
int access_log_reopen(void);

/* Write out every thread's buffered lines and wait until the writer has
 * written them (reload, exit, tests).  Lines that cannot be written are
 * counted as dropped.  Lines buffered while a reload closed the file go to
 * the main log instead.  Thread-safe. */
void access_log_flush(void);

/* Wait until the writer has written what was handed to it so far (the
 * threads' own buffers stay as they are).  Tests. */
void access_log_sync(void);

/* Main's loop, about once a second: hand every thread's buffer to the
 * writer (without waiting for it) and, at most once a minute, warn in the
 * main log of records dropped since the last warning. */
void access_log_tick(void);

/* Records lost since start (file: not written; journal: refused). */
uint64_t access_log_dropped(void);

/* For a worker loop that sleeps in epoll_wait(): milliseconds until the
 * calling thread's buffer must be written (0: now), -1 when it holds
 * nothing.  Pass it as the timeout and call access_log_flush_thread() when
 * it is 0, so that an idle worker's last lines do not wait for main's
 * periodic flush.  Cheap: no lock, and a clock read only when something
 * is buffered. */
int access_log_flush_due_ms(void);

/* Hand the calling thread's buffer to the writer now.  (Thread exit does
 * this by itself: the buffer has a pthread key destructor.) */
void access_log_flush_thread(void);

/* Flush every buffer and close the file (exit, after the workers have
 * stopped; a buffer of a thread still running is written then too). */
void access_log_close(void);

/* The path of the open file, NULL when none (tests, status).  The string
 * stays valid until the next configure/close. */
const char *access_log_file_path(void);

/* One Combined Log Format line with its '\n' into BUF; returns its length
 * (at most ACCESS_LOG_LINE_MAX - 1, NUL-terminated), or 0 when CAP is
 * smaller than ACCESS_LOG_LINE_MAX.  Long fields are cut. */
#define ACCESS_LOG_LINE_MAX 4096
size_t access_log_format_clf(char *buf, size_t cap, const struct access_log_entry *e);

#endif
