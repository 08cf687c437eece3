/* access_log.c - per-response lines: to the main log, nowhere, or a file in
 * Combined Log Format (see access_log.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "config.h"
#include "log.h"

#define BUF_FLUSH_AT (32 * 1024) /* bytes buffered before a write(2) */
#define BUF_CAP (BUF_FLUSH_AT + ACCESS_LOG_LINE_MAX)
#define BUF_MAX_AGE_MS 1000 /* oldest buffered line written within this */
#define FIELD_OUT_MAX 1024  /* escaped bytes of one quoted field */
#define HOST_OUT_MAX 128
#define METHOD_MAX 32	 /* as the parser allows */
#define PATH_MAX_LOG 256 /* the request line copy in conn.c is shorter */

/* The one open file.  The mutex guards everything in it. */
static struct {
	pthread_mutex_t lock;
	int fd;		   /* -1: no file */
	char *path;	   /* of fd */
	size_t len;	   /* bytes in buf */
	int64_t first_ms;  /* when buf became non-empty (monotonic) */
	bool write_failed; /* reported; cleared by the next good write */
	char buf[BUF_CAP];
} al = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.fd = -1,
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- formatting ----------------------------------------------------------- */

struct out {
	char *p;
	size_t cap; /* room for text; one more byte is kept for '\n' */
	size_t len;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (n > o->cap - o->len)
		n = o->cap - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* S with '"', '\', control bytes and bytes above '~' as \xHH (like nginx's
 * default escaping, so a client cannot forge fields or lines, or reach a
 * terminal); at most MAX bytes of output, never half an escape.  NULL or ""
 * is "-". */
static void put_escaped(struct out *o, const char *s, size_t max)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t start = o->len;

	if (!s || !*s) {
		put(o, "-", 1);
		return;
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
			char esc[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };

			if (o->len - start + 4 > max || o->cap - o->len < 4)
				break;
			put(o, esc, 4);
		} else {
			if (o->len - start + 1 > max || o->cap == o->len)
				break;
			o->p[o->len++] = (char)c;
		}
	}
}

/* "[25/Nov/2026:20:49:11 +0000]", cached per thread for the second */
static const char *clf_date(time_t t)
{
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	static __thread time_t cached_t = -1;
	static __thread char cached[80];
	struct tm tm;

	if (t != cached_t) {
		if (!gmtime_r(&t, &tm))
			memset(&tm, 0, sizeof tm);
		snprintf(cached, sizeof cached, "[%02d/%s/%04d:%02d:%02d:%02d +0000]", tm.tm_mday,
			 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
		cached_t = t;
	}
	return cached;
}

/* "1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "::1" */
static void put_host(struct out *o, const char *client)
{
	char host[HOST_OUT_MAX];
	const char *end;
	size_t n;

	if (!client || !*client) {
		put(o, "-", 1);
		return;
	}
	if (client[0] == '[' && (end = strchr(client, ']'))) {
		client++;
	} else {
		end = strrchr(client, ':');
		if (!end)
			end = client + strlen(client);
	}
	n = (size_t)(end - client);
	if (n >= sizeof host)
		n = sizeof host - 1;
	memcpy(host, client, n);
	host[n] = '\0';
	put_escaped(o, host, HOST_OUT_MAX);
}

size_t access_log_format_clf(char *buf, size_t cap, const struct access_log_entry *e)
{
	struct out o = { .p = buf, .cap = ACCESS_LOG_LINE_MAX - 2 };
	char num[48];

	if (cap < ACCESS_LOG_LINE_MAX)
		return 0;
	/* host ident authuser [date] "request" status bytes "referer" "agent" */
	put_host(&o, e->client);
	puts_(&o, " - - ");
	puts_(&o, clf_date(e->time ? e->time : time(NULL)));
	puts_(&o, " \"");
	put_escaped(&o, e->request, FIELD_OUT_MAX);
	if (e->body_bytes)
		snprintf(num, sizeof num, "\" %d %" PRIu64 " \"", e->status, e->body_bytes);
	else
		snprintf(num, sizeof num, "\" %d - \"", e->status); /* CLF: "-" for none */
	puts_(&o, num);
	put_escaped(&o, e->referer, FIELD_OUT_MAX);
	puts_(&o, "\" \"");
	put_escaped(&o, e->user_agent, FIELD_OUT_MAX);
	put(&o, "\"", 1);
	buf[o.len++] = '\n';
	buf[o.len] = '\0';
	return o.len;
}

/* ---- the file ------------------------------------------------------------ */

static int open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

	return fd < 0 ? -errno : fd;
}

/* Under al.lock. */
static void flush_locked(void)
{
	const char *p = al.buf;
	size_t n = al.len;

	al.len = 0;
	if (al.fd < 0 || n == 0)
		return;
	while (n > 0) {
		ssize_t w = write(al.fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (!al.write_failed)
				log_warning("access log %s: cannot write: %s; %zu bytes of lines "
					    "lost (reported once until a write succeeds)",
					    al.path, w < 0 ? strerror(errno) : "no progress", n);
			al.write_failed = true;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
	al.write_failed = false;
}

/* Under al.lock: FD (and a copy of PATH) replace the open file. */
static int swap_locked(int fd, const char *path)
{
	char *copy = NULL;

	if (path && !(copy = strdup(path)))
		return -ENOMEM;
	flush_locked();
	if (al.fd >= 0)
		close(al.fd);
	free(al.path);
	al.fd = fd;
	al.path = copy;
	al.write_failed = false;
	return 0;
}

/* Append one line; false when no file is open. */
static bool file_append(const char *line, size_t n)
{
	int64_t now = mono_ms();

	pthread_mutex_lock(&al.lock);
	if (al.fd < 0) {
		pthread_mutex_unlock(&al.lock);
		return false;
	}
	if (al.len + n > sizeof al.buf)
		flush_locked();
	if (al.len == 0)
		al.first_ms = now;
	memcpy(al.buf + al.len, line, n);
	al.len += n;
	if (al.len >= BUF_FLUSH_AT || now - al.first_ms >= BUF_MAX_AGE_MS)
		flush_locked();
	pthread_mutex_unlock(&al.lock);
	return true;
}

int access_log_configure(const struct mth_config *cfg, char *err, size_t errlen)
{
	int fd, r = 0;

	pthread_mutex_lock(&al.lock);
	if (cfg->access_log != CONFIG_ACCESS_LOG_FILE) {
		swap_locked(-1, NULL);
		goto out;
	}
	if (al.path && strcmp(al.path, cfg->access_log_path) == 0)
		goto out;
	fd = open_file(cfg->access_log_path);
	if (fd < 0) {
		r = fd;
		snprintf(err, errlen, "%s: access_log '%s': %s", cfg->path, cfg->access_log_path,
			 strerror(-r));
		goto out;
	}
	r = swap_locked(fd, cfg->access_log_path);
	if (r < 0) {
		close(fd);
		snprintf(err, errlen, "%s: access_log: %s", cfg->path, strerror(-r));
	}
out:
	pthread_mutex_unlock(&al.lock);
	return r;
}

int access_log_reopen(void)
{
	int fd, r = 0;

	pthread_mutex_lock(&al.lock);
	if (!al.path)
		goto out;
	fd = open_file(al.path);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	flush_locked(); /* what was written before the signal goes to the old file */
	close(al.fd);
	al.fd = fd;
	al.write_failed = false;
out:
	pthread_mutex_unlock(&al.lock);
	return r;
}

void access_log_flush(void)
{
	pthread_mutex_lock(&al.lock);
	flush_locked();
	pthread_mutex_unlock(&al.lock);
}

void access_log_close(void)
{
	pthread_mutex_lock(&al.lock);
	swap_locked(-1, NULL);
	pthread_mutex_unlock(&al.lock);
}

const char *access_log_file_path(void)
{
	const char *p;

	pthread_mutex_lock(&al.lock);
	p = al.path;
	pthread_mutex_unlock(&al.lock);
	return p;
}

/* ---- one response ----------------------------------------------------------- */

/* "GET /a HTTP/1.1" -> method "GET", path "/a" (a malformed line: its first
 * word and whatever follows it) */
static void split_request(const char *req, char *method, size_t mcap, char *path, size_t pcap)
{
	const char *sp = strchr(req, ' ');
	const char *end;
	size_t n;

	n = sp ? (size_t)(sp - req) : strlen(req);
	snprintf(method, mcap, "%.*s", (int)n, req);
	if (!sp) {
		path[0] = '\0';
		return;
	}
	sp++;
	end = strrchr(sp, ' ');
	if (!end || strncmp(end + 1, "HTTP/", 5) != 0)
		end = sp + strlen(sp);
	snprintf(path, pcap, "%.*s", (int)(end - sp), sp);
}

static void to_main_log(const struct access_log_entry *e, const char *file, int line,
			const char *func)
{
	char method[METHOD_MAX + 1] = "", path[PATH_MAX_LOG] = "";
	const char *req = e->request ? e->request : "";
	const struct log_field fields[] = {
		LOG_STR("MTHTTPD_CLIENT", e->client),
		LOG_STR("MTHTTPD_METHOD", method),
		LOG_STR("MTHTTPD_PATH", path),
		LOG_INT("MTHTTPD_STATUS", e->status),
		LOG_UINT("MTHTTPD_BYTES", e->bytes),
		LOG_INT("MTHTTPD_DURATION_USEC", e->duration_us),
		{ .name = NULL },
	};
	bool journal;

	if (!log_enabled(LOG_INFO))
		return;
	/* the fields only exist in the journal: no work for them on stderr */
	journal = log_uses_journal();
	if (journal)
		split_request(req, method, sizeof method, path, sizeof path);
	log_event_at(LOG_INFO, LOG_ID_REQUEST_DONE, journal ? fields : NULL, file, line, func,
		     "%s \"%s\" %d %" PRIu64 " %" PRId64 "us", e->client, req, e->status, e->bytes,
		     e->duration_us);
}

void access_log_request_at(const struct mth_config *cfg, const struct access_log_entry *e,
			   const char *file, int line, const char *func)
{
	char buf[ACCESS_LOG_LINE_MAX];
	size_t n;

	switch (cfg->access_log) {
	case CONFIG_ACCESS_LOG_OFF:
		return;
	case CONFIG_ACCESS_LOG_FILE:
		n = access_log_format_clf(buf, sizeof buf, e);
		if (file_append(buf, n))
			return;
		/* the file was closed by a reload: keep the line */
		to_main_log(e, file, line, func);
		return;
	case CONFIG_ACCESS_LOG_JOURNAL:
	default:
		to_main_log(e, file, line, func);
		return;
	}
}
