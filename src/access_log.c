/* access_log.c - per-response lines: to the main log, nowhere, or a file in
 * Combined Log Format (see access_log.h).
 *
 * The file is written in batches, by one writer thread.  Each thread that
 * logs owns a buffer (a "chunk") and formats its lines straight into it;
 * the chunk is handed to the writer's queue when it holds BUF_FLUSH_AT
 * bytes, when its oldest line is BUF_MAX_AGE_MS old (checked when a line is
 * added, or by the worker loop through access_log_flush_due_ms()), when the
 * thread exits, and whenever main ticks, flushes, reconfigures or closes.
 * The writer writes each chunk with one write(2) and puts it back on a free
 * list.  The fd is O_APPEND and a chunk holds whole lines only.  At most
 * CHUNKS_MAX chunks exist: when the disk stalls that long, a new line finds
 * no chunk and is counted as dropped, so the worker never waits.
 *
 * Locks, always taken in this order: al.reglock (the list of buffers), a
 * buffer's own lock (its owner while appending; any thread that hands it
 * over), al.qlock (the queue, the free list, the writer's state), al.lock
 * (the fd: held across every write(2), so that a reopen or a reload can
 * never close the fd under a write, nor let a write reach a recycled fd
 * number).  A buffer's lock is contended only when main hands it over
 * (once a second), so the owner's cost is an uncontended mutex; al.qlock
 * is taken once per chunk. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "util.h"

#define BUF_FLUSH_AT (32 * 1024) /* bytes buffered before a write(2) */
#define BUF_CAP (BUF_FLUSH_AT + ACCESS_LOG_LINE_MAX)
#define BUF_MAX_AGE_MS 1000 /* oldest buffered line written within this */
#define FIELD_OUT_MAX 1024  /* escaped bytes of one quoted field */
#define HOST_OUT_MAX 128
#define METHOD_MAX 32	 /* as the parser allows */
#define PATH_MAX_LOG 256 /* the request line copy in conn.c is shorter */
/* Buffers handed to the writer and not yet written, at most: 4.5 MiB, some
 * seconds of lines at full speed, for a disk that stalls. */
#define CHUNKS_MAX 128
#define DROP_WARN_EVERY_MS (60 * 1000)

/* A buffer of whole lines on its way to the file.  Below BUF_FLUSH_AT
 * there is always room for a whole line of ACCESS_LOG_LINE_MAX, so a line
 * is never split between two writes. */
struct chunk {
	struct chunk *next; /* in the writer's queue or the free list */
	size_t len;
	char buf[BUF_CAP];
};

/* One thread's lines, in the order the thread logged them. */
struct tbuf {
	pthread_mutex_t lock;	  /* cur, len, first_ms; see access_log_flush_due_ms() */
	struct tbuf *prev, *next; /* in al.threads, under al.reglock */
	struct chunk *cur;	  /* being filled; NULL until the next line */
	size_t len;		  /* cur's length, read without the lock */
	int64_t first_ms;	  /* when cur became non-empty (monotonic) */
};

/* The one open file, the list of every thread's buffer, the writer thread
 * and its queue, and the count of lines that never reached their log. */
static struct {
	pthread_mutex_t lock; /* fd (also read atomically), path */
	int fd;		      /* -1: no file */
	char *path;	      /* of fd */
	pthread_mutex_t reglock;
	struct tbuf *threads;
	pthread_mutex_t qlock; /* everything down to written_seq */
	pthread_cond_t qcond;	 /* the writer waits for work or stop */
	pthread_cond_t donecond; /* written_seq moved */
	struct chunk *qhead, **qtail;
	struct chunk *free;
	unsigned nchunks; /* allocated: queued, free and being filled */
	uint64_t queued_seq, written_seq;
	bool running, stop;
	pthread_t thread;
	uint64_t dropped; /* atomic: records lost, since start */
	int last_err;	  /* atomic: errno of the last loss */
	uint64_t reported; /* main (access_log_tick): dropped at the last warning */
	int64_t warned_ms;
} al = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.fd = -1,
	.reglock = PTHREAD_MUTEX_INITIALIZER,
	.qlock = PTHREAD_MUTEX_INITIALIZER,
	.qcond = PTHREAD_COND_INITIALIZER,
	.donecond = PTHREAD_COND_INITIALIZER,
};

static __thread struct tbuf *my_buf;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t key; /* its destructor flushes at thread exit */
static bool key_ok;

/* ---- formatting ----------------------------------------------------------- */

struct out {
	char *p;
	size_t cap; /* room for text; one more byte is kept for '\n' */
	size_t len;
};

static inline void put(struct out *o, const char *s, size_t n)
{
	/* two copies so that a literal's copy has a constant size */
	if (MTH_LIKELY(n <= o->cap - o->len)) {
		memcpy(o->p + o->len, s, n);
		o->len += n;
	} else {
		memcpy(o->p + o->len, s, o->cap - o->len);
		o->len = o->cap;
	}
}

#define PUT_LIT(o, s) put((o), (s), sizeof(s) - 1)

static inline void put_char(struct out *o, char c)
{
	if (o->len < o->cap)
		o->p[o->len++] = c;
}

static void put_u64(struct out *o, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof tmp;

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(o, tmp + i, sizeof tmp - i);
}

static void put_int(struct out *o, int v)
{
	if (v < 0) {
		put_char(o, '-');
		put_u64(o, -(uint64_t)v);
	} else {
		put_u64(o, (uint64_t)v);
	}
}

/* The bytes put_escaped() writes as \xHH: control bytes, '"', '\' and
 * everything above '~' (like nginx's default escaping, so a client cannot
 * forge fields or lines, or reach a terminal). */
static const unsigned char escaped[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 '"' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50 '\' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, /* 0x70 DEL */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x80 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x90 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xa0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xb0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xc0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xd0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xe0 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xf0 */
};

/* Word-at-a-time tests (as in http_parse.c): exact as a yes/no answer for
 * the eight bytes of X. */
#define SWAR_ONES 0x0101010101010101ull
#define SWAR_HIGH 0x8080808080808080ull

static inline uint64_t swar_has_zero(uint64_t x)
{
	return (x - SWAR_ONES) & ~x & SWAR_HIGH;
}

/* Some byte of X is one that escaped[] marks. */
static inline uint64_t swar_has_escaped(uint64_t x)
{
	return ((x - SWAR_ONES * 0x20) & ~x & SWAR_HIGH) | (x & SWAR_HIGH) |
	       swar_has_zero(x ^ (SWAR_ONES * 0x7f)) | swar_has_zero(x ^ (SWAR_ONES * '"')) |
	       swar_has_zero(x ^ (SWAR_ONES * '\\'));
}

/* The length of the leading run of S (N bytes) that is copied as it is:
 * eight bytes at a time while none of them is special, then the table
 * finds the exact byte. */
static inline size_t plain_run(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (n - i >= 8) {
		uint64_t x;

		memcpy(&x, s + i, sizeof x);
		if (swar_has_escaped(x))
			break;
		i += 8;
	}
	while (i < n && !escaped[s[i]])
		i++;
	return i;
}

/* S (N bytes) with the bytes of escaped[] as \xHH; at most MAX bytes of
 * output, never half an escape.  Runs of plain bytes are one memcpy. */
static void put_escaped_n(struct out *o, const char *str, size_t n, size_t max)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)str;
	size_t room = o->cap - o->len, i = 0;
	char *d = o->p + o->len;

	if (room > max)
		room = max;
	for (;;) {
		size_t run = plain_run(s + i, n - i);

		if (run >= room) {
			memcpy(d, s + i, room);
			d += room;
			break;
		}
		memcpy(d, s + i, run);
		d += run;
		room -= run;
		i += run;
		if (i == n || room < 4)
			break;
		d[0] = '\\';
		d[1] = 'x';
		d[2] = hex[s[i] >> 4];
		d[3] = hex[s[i] & 15];
		d += 4;
		room -= 4;
		i++;
	}
	o->len = (size_t)(d - o->p);
}

/* A NUL-terminated field; NULL or "" is "-". */
static void put_escaped(struct out *o, const char *s, size_t max)
{
	if (!s || !*s)
		put_char(o, '-');
	else
		put_escaped_n(o, s, strlen(s), max);
}

#define CLF_DATE_LEN 28 /* "[25/Nov/2026:20:49:11 +0000]" */

/* The bracketed date of T (UTC) into the thread's cache, made at most once
 * a second; returns its length (CLF_DATE_LEN unless the year has more or
 * fewer than four digits, which no request ever has). */
static size_t clf_date(time_t t, const char **out)
{
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	static __thread time_t cached_t = -1;
	static __thread char cached[64];
	static __thread size_t cached_len;
	struct tm tm;
	char *p = cached;
	int year, n;

	*out = cached;
	if (t == cached_t)
		return cached_len;
	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof tm);
	year = tm.tm_year + 1900;
	cached_t = t;
	if (year < 0 || year > 9999) {
		n = snprintf(cached, sizeof cached, "[%02d/%s/%04d:%02d:%02d:%02d +0000]",
			     tm.tm_mday, months[tm.tm_mon % 12], year, tm.tm_hour, tm.tm_min,
			     tm.tm_sec);
		cached_len = n < 0 ? 0 : (size_t)n >= sizeof cached ? sizeof cached - 1 : (size_t)n;
		return cached_len;
	}
	*p++ = '[';
	p = mth_dec_fixed(p, (unsigned)tm.tm_mday, 2);
	*p++ = '/';
	memcpy(p, months[tm.tm_mon % 12], 3);
	p += 3;
	*p++ = '/';
	p = mth_dec_fixed(p, (unsigned)year, 4);
	*p++ = ':';
	p = mth_dec_fixed(p, (unsigned)tm.tm_hour, 2);
	*p++ = ':';
	p = mth_dec_fixed(p, (unsigned)tm.tm_min, 2);
	*p++ = ':';
	p = mth_dec_fixed(p, (unsigned)tm.tm_sec, 2);
	memcpy(p, " +0000]", 8);
	cached_len = CLF_DATE_LEN;
	return cached_len;
}

/* "1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "::1" */
static void put_host(struct out *o, const char *client)
{
	const char *end;
	size_t len, n;

	if (!client || !*client) {
		put_char(o, '-');
		return;
	}
	len = strlen(client);
	if (client[0] == '[' && (end = memchr(client, ']', len))) {
		client++;
	} else {
		end = memrchr(client, ':', len);
		if (!end)
			end = client + len;
	}
	n = (size_t)(end - client);
	if (n > HOST_OUT_MAX - 1)
		n = HOST_OUT_MAX - 1;
	if (n == 0) /* ":5", "[]:5" */
		put_char(o, '-');
	else
		put_escaped_n(o, client, n, HOST_OUT_MAX);
}

size_t access_log_format_clf(char *buf, size_t cap, const struct access_log_entry *e)
{
	struct out o = { .p = buf, .cap = ACCESS_LOG_LINE_MAX - 2 };
	const char *date;
	size_t date_len;

	if (cap < ACCESS_LOG_LINE_MAX)
		return 0;
	/* host ident authuser [date] "request" status bytes "referer" "agent" */
	put_host(&o, e->client);
	PUT_LIT(&o, " - ");
	if (e->user && *e->user)
		put_escaped(&o, e->user, FIELD_OUT_MAX);
	else
		put_char(&o, '-');
	put_char(&o, ' ');
	date_len = clf_date(e->time ? e->time : time(NULL), &date);
	put(&o, date, date_len);
	PUT_LIT(&o, " \"");
	put_escaped(&o, e->request, FIELD_OUT_MAX);
	PUT_LIT(&o, "\" ");
	put_int(&o, e->status);
	put_char(&o, ' ');
	if (e->body_bytes)
		put_u64(&o, e->body_bytes);
	else
		put_char(&o, '-'); /* CLF: "-" for none */
	PUT_LIT(&o, " \"");
	put_escaped(&o, e->referer, FIELD_OUT_MAX);
	PUT_LIT(&o, "\" \"");
	put_escaped(&o, e->user_agent, FIELD_OUT_MAX);
	put_char(&o, '"');
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

static void count_dropped(uint64_t lines, int err)
{
	if (lines == 0)
		return;
	__atomic_store_n(&al.last_err, err, __ATOMIC_RELAXED);
	__atomic_fetch_add(&al.dropped, lines, __ATOMIC_RELAXED);
}

static uint64_t count_newlines(const char *p, size_t n)
{
	uint64_t lines = 0;
	const char *nl;

	while (n > 0 && (nl = memchr(p, '\n', n))) {
		lines++;
		n -= (size_t)(nl + 1 - p);
		p = nl + 1;
	}
	return lines;
}

/* Lines that have no file any more (a reload closed it while they were
 * buffered): kept, in the main log. */
static void lines_to_main_log(const char *p, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) : n;

		log_info("%.*s", (int)len, p);
		len += nl ? 1 : 0;
		p += len;
		n -= len;
	}
}

/* A write that failed after writing part of a line (disk full) leaves that
 * part at the end of the file: cut it, so that the next line written once
 * there is room again starts a line of its own.  Under al.lock. */
static void cut_torn_line(const char *written, size_t n)
{
	const char *nl = memrchr(written, '\n', n);
	size_t torn = nl ? (size_t)(written + n - (nl + 1)) : n;
	struct stat st;

	if (torn > 0 && fstat(al.fd, &st) == 0 && st.st_size >= (off_t)torn)
		(void)!ftruncate(al.fd, st.st_size - (off_t)torn);
}

/* The writer thread: C's whole lines to the file with one write(2) (more if
 * it is short), or to the main log when no file is open any more.  Lines
 * that cannot be written (ENOSPC, EIO, ...) are counted as dropped. */
static void chunk_write(const struct chunk *c)
{
	const char *p = c->buf;
	size_t n = c->len;

	pthread_mutex_lock(&al.lock);
	if (al.fd < 0) {
		pthread_mutex_unlock(&al.lock);
		lines_to_main_log(c->buf, c->len);
		return;
	}
	while (n > 0) {
		ssize_t w = write(al.fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			count_dropped(count_newlines(p, n), w < 0 ? errno : EIO);
			cut_torn_line(c->buf, (size_t)(p - c->buf));
			break;
		}
		p += w;
		n -= (size_t)w;
	}
	pthread_mutex_unlock(&al.lock);
}

/* A buffer from the free list (or a new one while there are fewer than
 * CHUNKS_MAX); NULL when the writer has that many still to write. */
static struct chunk *chunk_get(void)
{
	struct chunk *c;

	pthread_mutex_lock(&al.qlock);
	c = al.free;
	if (c) {
		al.free = c->next;
	} else if (al.nchunks < CHUNKS_MAX && (c = malloc(sizeof *c))) {
		al.nchunks++;
	}
	pthread_mutex_unlock(&al.qlock);
	if (c) {
		c->next = NULL;
		c->len = 0;
	}
	return c;
}

/* Under al.qlock. */
static void chunk_put_locked(struct chunk *c)
{
	if (al.running) {
		c->next = al.free;
		al.free = c;
	} else {
		al.nchunks--;
		free(c);
	}
}

/* C goes to the writer (the caller never waits for the disk); without a
 * running writer (before configure, after close) the caller writes it. */
static void chunk_submit(struct chunk *c)
{
	pthread_mutex_lock(&al.qlock);
	if (al.running) {
		*al.qtail = c;
		al.qtail = &c->next;
		al.queued_seq++;
		pthread_cond_signal(&al.qcond);
		pthread_mutex_unlock(&al.qlock);
		return;
	}
	pthread_mutex_unlock(&al.qlock);
	chunk_write(c);
	pthread_mutex_lock(&al.qlock);
	chunk_put_locked(c);
	pthread_mutex_unlock(&al.qlock);
}

static void *writer_main(void *arg)
{
	log_set_thread_name("access-log");
	pthread_mutex_lock(&al.qlock);
	for (;;) {
		struct chunk *batch;
		uint64_t seq;

		while (!al.qhead && !al.stop)
			pthread_cond_wait(&al.qcond, &al.qlock);
		if (!al.qhead) {
			/* from now on a submitter writes its chunk itself */
			al.running = false;
			break;
		}
		batch = al.qhead;
		al.qhead = NULL;
		al.qtail = &al.qhead;
		seq = al.queued_seq;
		pthread_mutex_unlock(&al.qlock);
		for (struct chunk *c = batch; c; c = c->next)
			chunk_write(c);
		pthread_mutex_lock(&al.qlock);
		while (batch) {
			struct chunk *next = batch->next;

			chunk_put_locked(batch);
			batch = next;
		}
		al.written_seq = seq;
		pthread_cond_broadcast(&al.donecond);
	}
	pthread_mutex_unlock(&al.qlock);
	return arg;
}

static int writer_start(void)
{
	int r = 0;

	pthread_mutex_lock(&al.qlock);
	if (!al.running) {
		al.stop = false;
		al.qtail = &al.qhead;
		r = -pthread_create(&al.thread, NULL, writer_main, NULL);
		al.running = r == 0;
	}
	pthread_mutex_unlock(&al.qlock);
	return r;
}

/* Everything queued is written, the thread gone, the free list freed. */
static void writer_stop(void)
{
	struct chunk *c;

	pthread_mutex_lock(&al.qlock);
	if (!al.running || al.stop) {
		pthread_mutex_unlock(&al.qlock);
		return;
	}
	al.stop = true;
	pthread_cond_signal(&al.qcond);
	pthread_mutex_unlock(&al.qlock);
	pthread_join(al.thread, NULL);
	pthread_mutex_lock(&al.qlock);
	while ((c = al.free)) {
		al.free = c->next;
		al.nchunks--;
		free(c);
	}
	pthread_mutex_unlock(&al.qlock);
}

/* Under T->lock: T's lines go to the writer. */
static void tbuf_handoff_locked(struct tbuf *t)
{
	struct chunk *c = t->cur;

	if (!c || c->len == 0)
		return;
	t->cur = NULL;
	__atomic_store_n(&t->len, 0, __ATOMIC_RELAXED);
	chunk_submit(c);
}

static void tbuf_handoff(struct tbuf *t)
{
	pthread_mutex_lock(&t->lock);
	tbuf_handoff_locked(t);
	pthread_mutex_unlock(&t->lock);
}

/* Thread exit: the thread's lines are handed over, its buffer freed. */
static void tbuf_destroy(void *arg)
{
	struct tbuf *t = arg;

	pthread_mutex_lock(&al.reglock);
	if (t->prev)
		t->prev->next = t->next;
	else
		al.threads = t->next;
	if (t->next)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&al.reglock);
	tbuf_handoff(t);
	if (t->cur) { /* an empty chunk */
		pthread_mutex_lock(&al.qlock);
		chunk_put_locked(t->cur);
		pthread_mutex_unlock(&al.qlock);
	}
	pthread_mutex_destroy(&t->lock);
	if (my_buf == t)
		my_buf = NULL;
	free(t);
}

static void key_init(void)
{
	key_ok = pthread_key_create(&key, tbuf_destroy) == 0;
}

/* The calling thread's buffer, made on its first line; NULL when out of
 * memory. */
static struct tbuf *tbuf_mine(void)
{
	struct tbuf *t = my_buf;

	if (MTH_LIKELY(t))
		return t;
	pthread_once(&key_once, key_init);
	t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_lock(&al.reglock);
	t->next = al.threads;
	if (t->next)
		t->next->prev = t;
	al.threads = t;
	pthread_mutex_unlock(&al.reglock);
	/* without the key (it cannot really fail) the buffer stays listed:
	 * main's flushes still hand it over, only the memory is not freed */
	if (key_ok)
		pthread_setspecific(key, t);
	my_buf = t;
	return t;
}

/* Every thread's buffer to the writer; returns the sequence number that
 * covers them. */
static uint64_t handoff_all(void)
{
	uint64_t seq;

	pthread_mutex_lock(&al.reglock);
	for (struct tbuf *t = al.threads; t; t = t->next)
		tbuf_handoff(t);
	pthread_mutex_unlock(&al.reglock);
	pthread_mutex_lock(&al.qlock);
	seq = al.queued_seq;
	pthread_mutex_unlock(&al.qlock);
	return seq;
}

/* Wait until the writer has written everything queued up to SEQ. */
static void wait_written(uint64_t seq)
{
	pthread_mutex_lock(&al.qlock);
	while (al.running && al.written_seq < seq)
		pthread_cond_wait(&al.donecond, &al.qlock);
	pthread_mutex_unlock(&al.qlock);
}

/* FD (and a copy of PATH) replace the open file; the old one is closed.
 * Whatever is still buffered goes to the new file. */
static int swap_file(int fd, const char *path)
{
	char *copy = NULL;
	int old;

	if (path && !(copy = strdup(path)))
		return -ENOMEM;
	pthread_mutex_lock(&al.lock);
	old = al.fd;
	__atomic_store_n(&al.fd, fd, __ATOMIC_RELAXED);
	free(al.path);
	al.path = copy;
	pthread_mutex_unlock(&al.lock);
	if (old >= 0)
		close(old);
	return 0;
}

/* Append E's line to this thread's buffer; false when no file is open.  A
 * line that finds no buffer (out of memory, or the writer CHUNKS_MAX
 * buffers behind a stalled disk) is counted as dropped: a worker never
 * waits for the disk. */
static bool file_append(const struct access_log_entry *e)
{
	struct tbuf *t;
	int64_t now;
	size_t n;

	if (__atomic_load_n(&al.fd, __ATOMIC_RELAXED) < 0)
		return false;
	t = tbuf_mine();
	if (MTH_UNLIKELY(!t)) {
		count_dropped(1, ENOMEM);
		return true;
	}
	now = mth_clock_coarse_ms();
	pthread_mutex_lock(&t->lock);
	if (MTH_UNLIKELY(!t->cur) && !(t->cur = chunk_get())) {
		pthread_mutex_unlock(&t->lock);
		count_dropped(1, ENOBUFS);
		return true;
	}
	if (t->cur->len == 0)
		__atomic_store_n(&t->first_ms, now, __ATOMIC_RELAXED);
	n = access_log_format_clf(t->cur->buf + t->cur->len, sizeof t->cur->buf - t->cur->len, e);
	t->cur->len += n;
	__atomic_store_n(&t->len, t->cur->len, __ATOMIC_RELAXED);
	if (t->cur->len >= BUF_FLUSH_AT || now - t->first_ms >= BUF_MAX_AGE_MS)
		tbuf_handoff_locked(t);
	pthread_mutex_unlock(&t->lock);
	return true;
}

int access_log_configure(const struct mth_config *cfg, char *err, size_t errlen)
{
	bool same;
	int fd, r;

	if (cfg->access_log != CONFIG_ACCESS_LOG_FILE) {
		access_log_close();
		return 0;
	}
	pthread_mutex_lock(&al.lock);
	same = al.path && strcmp(al.path, cfg->access_log_path) == 0;
	pthread_mutex_unlock(&al.lock);
	if (same)
		return 0;
	fd = open_file(cfg->access_log_path);
	if (fd < 0) {
		snprintf(err, errlen, "%s: access_log '%s': %s", cfg->path, cfg->access_log_path,
			 strerror(-fd));
		return fd;
	}
	r = writer_start();
	if (r < 0) {
		close(fd);
		snprintf(err, errlen, "%s: access_log: cannot start its writer: %s", cfg->path,
			 strerror(-r));
		return r;
	}
	access_log_flush(); /* lines of the old configuration go to its file */
	r = swap_file(fd, cfg->access_log_path);
	if (r < 0) {
		close(fd);
		snprintf(err, errlen, "%s: access_log: %s", cfg->path, strerror(-r));
	}
	return r;
}

int access_log_reopen(void)
{
	char *path = NULL;
	int fd, r = 0;

	pthread_mutex_lock(&al.lock);
	if (al.path && !(path = strdup(al.path)))
		r = -ENOMEM;
	pthread_mutex_unlock(&al.lock);
	if (!path)
		return r;
	fd = open_file(path);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	r = swap_file(fd, path);
	if (r < 0)
		close(fd);
out:
	free(path);
	return r;
}

void access_log_flush(void)
{
	wait_written(handoff_all());
}

void access_log_sync(void)
{
	uint64_t seq;

	pthread_mutex_lock(&al.qlock);
	seq = al.queued_seq;
	pthread_mutex_unlock(&al.qlock);
	wait_written(seq);
}

uint64_t access_log_dropped(void)
{
	return __atomic_load_n(&al.dropped, __ATOMIC_RELAXED);
}

void access_log_tick(void)
{
	uint64_t total = access_log_dropped(), last = al.reported;
	int64_t now = mth_clock_coarse_ms();
	char where[300];
	int err;

	(void)handoff_all();
	if (total == last || (al.warned_ms && now - al.warned_ms < DROP_WARN_EVERY_MS))
		return;
	err = __atomic_load_n(&al.last_err, __ATOMIC_RELAXED);
	pthread_mutex_lock(&al.lock);
	snprintf(where, sizeof where, "%s", al.path ? al.path : "journal");
	pthread_mutex_unlock(&al.lock);
	log_event(LOG_WARNING, LOG_ID_ACCESS_LOG_DROPPED,
		  LOG_FIELDS(LOG_UINT("MTHTTPD_DROPPED", total - last),
			     LOG_UINT("MTHTTPD_DROPPED_TOTAL", total)),
		  "access log %s: %" PRIu64 " records dropped (%s)%s; %" PRIu64
		  " since start (warned at most once a minute)",
		  where, total - last, strerror(err),
		  err == ENOBUFS ? ": the writer is behind" : "", total);
	al.reported = total;
	al.warned_ms = now;
}

void access_log_close(void)
{
	access_log_flush();
	writer_stop();
	swap_file(-1, NULL);
}

const char *access_log_file_path(void)
{
	const char *p;

	pthread_mutex_lock(&al.lock);
	p = al.path;
	pthread_mutex_unlock(&al.lock);
	return p;
}

/* Without the lock: only this thread makes its buffer non-empty (under the
 * lock, with atomic stores), so a stale answer can only be that lines are
 * due which another thread has just handed over: a wake-up for nothing. */
int access_log_flush_due_ms(void)
{
	struct tbuf *t = my_buf;
	int64_t left;

	if (!t || __atomic_load_n(&t->len, __ATOMIC_RELAXED) == 0)
		return -1;
	left = __atomic_load_n(&t->first_ms, __ATOMIC_RELAXED) + BUF_MAX_AGE_MS -
	       mth_clock_coarse_ms();
	return (int)(left < 0 ? 0 : left > BUF_MAX_AGE_MS ? BUF_MAX_AGE_MS : left);
}

void access_log_flush_thread(void)
{
	if (my_buf)
		tbuf_handoff(my_buf);
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
	struct log_field fields[] = {
		LOG_STR("MTHTTPD_CLIENT", e->client),
		LOG_STR("MTHTTPD_METHOD", method),
		LOG_STR("MTHTTPD_PATH", path),
		LOG_INT("MTHTTPD_STATUS", e->status),
		LOG_UINT("MTHTTPD_BYTES", e->bytes),
		LOG_INT("MTHTTPD_DURATION_USEC", e->duration_us),
		/* the optional ones (TLS, user) are filled in below; a NULL
		 * name ends the list */
		{ .name = NULL },
		{ .name = NULL },
		{ .name = NULL },
		{ .name = NULL },
	};
	size_t nf = ARRAY_SIZE(fields) - 4;
	bool journal;
	int r;

	/* MTHTTPD_TLS only over TLS, MTHTTPD_USER only for an authenticated
	 * request */
	if (e->tls)
		fields[nf++] = (struct log_field)LOG_STR("MTHTTPD_TLS", e->tls);
	if (e->user && *e->user)
		fields[nf++] = (struct log_field)LOG_STR("MTHTTPD_USER", e->user);
	if (e->h2_stream)
		fields[nf++] = (struct log_field)LOG_INT("MTHTTPD_H2_STREAM", e->h2_stream);
	if (!log_enabled(LOG_INFO))
		return;
	/* the fields only exist in the journal: no work for them on stderr */
	journal = log_uses_journal();
	if (journal)
		split_request(req, method, sizeof method, path, sizeof path);
	r = log_event_at(LOG_INFO, LOG_ID_REQUEST_DONE, journal ? fields : NULL, file, line, func,
		     "%s \"%s\" %d %" PRIu64 " %" PRId64 "us", e->client, req, e->status, e->bytes,
		     e->duration_us);
	/* refused by journald (its socket buffer full, journald gone): the
	 * line went to stderr instead, which journald may drop too */
	if (r < 0)
		count_dropped(1, -r);
}

void access_log_request_at(const struct mth_config *cfg, const struct access_log_entry *e,
			   const char *file, int line, const char *func)
{
	switch (cfg->access_log) {
	case CONFIG_ACCESS_LOG_OFF:
		return;
	case CONFIG_ACCESS_LOG_FILE:
		if (file_append(e))
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
