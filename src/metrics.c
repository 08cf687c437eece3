/* metrics.c - per-thread counters and their Prometheus exposition (see
 * metrics.h).
 *
 * Each thread that counts gets a slot on first use, linked into a list that
 * only grows (under a mutex, once per thread); when the thread exits its
 * slot is marked free and the next new thread takes it over, counts and
 * all, so totals never go down and the list stays as long as the most
 * threads that ever ran at once.  Only the owner writes a slot (relaxed
 * atomic adds on its own cache lines); a scrape reads every slot with
 * relaxed loads. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define STATUS_CLASSES 5 /* 1xx .. 5xx */

/* Upper bounds of the request duration buckets, in microseconds. */
static const int64_t bucket_us[] = { 100,     250,     500,	1000,	 2500,	 5000,
				     10000,   25000,   50000,	100000,	 250000, 500000,
				     1000000, 2500000, 5000000, 10000000 };
#define BUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

struct slot {
	uint64_t requests[METRICS_METHODS][STATUS_CLASSES];
	uint64_t bytes_sent;
	uint64_t duration[BUCKETS + 1]; /* the last one: over the largest bound */
	uint64_t duration_sum_us;
	uint64_t rejected_503, rejected_429;
	uint64_t uploads, upload_bytes;
	uint64_t reloads_ok, reloads_failed;
	uint64_t proxy_rejected;
	uint64_t tls_handshakes;
	bool owned; /* atomic */
	struct slot *next;
} __attribute__((aligned(64)));

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *slots; /* atomic head: scrapes walk it without the lock */
static pthread_key_t slot_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static __thread struct slot *mine;

static void release_slot(void *p)
{
	__atomic_store_n(&((struct slot *)p)->owned, false, __ATOMIC_RELEASE);
}

static void make_key(void)
{
	(void)pthread_key_create(&slot_key, release_slot);
}

/* This thread's slot; NULL only if memory ran out (the count is lost). */
static struct slot *my_slot(void)
{
	struct slot *s;

	if (mine)
		return mine;
	pthread_once(&key_once, make_key);
	pthread_mutex_lock(&slots_lock);
	for (s = slots; s; s = s->next)
		if (!__atomic_load_n(&s->owned, __ATOMIC_ACQUIRE))
			break;
	if (!s) {
		s = aligned_alloc(64, sizeof(*s));
		if (s) {
			memset(s, 0, sizeof(*s));
			s->next = slots;
			__atomic_store_n(&slots, s, __ATOMIC_RELEASE);
		}
	}
	if (s)
		__atomic_store_n(&s->owned, true, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&slots_lock);
	if (s)
		(void)pthread_setspecific(slot_key, s);
	mine = s;
	return s;
}

static void add(uint64_t *c, uint64_t v)
{
	/* single writer: a relaxed load and store suffice, no locked add */
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

enum metrics_method metrics_method_of(const char *line)
{
	if (strncmp(line, "GET ", 4) == 0)
		return METRICS_GET;
	if (strncmp(line, "HEAD ", 5) == 0)
		return METRICS_HEAD;
	if (strncmp(line, "POST ", 5) == 0)
		return METRICS_POST;
	return METRICS_OTHER;
}

void metrics_request(enum metrics_method m, int status, uint64_t bytes, int64_t duration_us)
{
	struct slot *s = my_slot();
	size_t b = 0;

	if (!s)
		return;
	if ((unsigned)m >= METRICS_METHODS)
		m = METRICS_OTHER;
	if (status >= 100 && status <= 599)
		add(&s->requests[m][status / 100 - 1], 1);
	add(&s->bytes_sent, bytes);
	if (duration_us < 0)
		duration_us = 0;
	while (b < BUCKETS && duration_us > bucket_us[b])
		b++;
	add(&s->duration[b], 1);
	add(&s->duration_sum_us, (uint64_t)duration_us);
}

void metrics_rejected(int status)
{
	struct slot *s = my_slot();

	if (s)
		add(status == 429 ? &s->rejected_429 : &s->rejected_503, 1);
}

void metrics_upload(uint64_t bytes)
{
	struct slot *s = my_slot();

	if (s) {
		add(&s->uploads, 1);
		add(&s->upload_bytes, bytes);
	}
}

void metrics_reload(bool ok)
{
	struct slot *s = my_slot();

	if (s)
		add(ok ? &s->reloads_ok : &s->reloads_failed, 1);
}

void metrics_proxy_rejected(void)
{
	struct slot *s = my_slot();

	if (s)
		add(&s->proxy_rejected, 1);
}

void metrics_tls_handshake(void)
{
	struct slot *s = my_slot();

	if (s)
		add(&s->tls_handshakes, 1);
}

/* The sum of every slot. */
static void sum(struct slot *t)
{
	memset(t, 0, sizeof(*t));
	for (struct slot *s = __atomic_load_n(&slots, __ATOMIC_ACQUIRE); s; s = s->next) {
		for (size_t m = 0; m < METRICS_METHODS; m++)
			for (size_t c = 0; c < STATUS_CLASSES; c++)
				t->requests[m][c] += get(&s->requests[m][c]);
		t->bytes_sent += get(&s->bytes_sent);
		for (size_t b = 0; b <= BUCKETS; b++)
			t->duration[b] += get(&s->duration[b]);
		t->duration_sum_us += get(&s->duration_sum_us);
		t->rejected_503 += get(&s->rejected_503);
		t->rejected_429 += get(&s->rejected_429);
		t->uploads += get(&s->uploads);
		t->upload_bytes += get(&s->upload_bytes);
		t->reloads_ok += get(&s->reloads_ok);
		t->reloads_failed += get(&s->reloads_failed);
		t->proxy_rejected += get(&s->proxy_rejected);
		t->tls_handshakes += get(&s->tls_handshakes);
	}
}

/* A growing output buffer; on allocation failure it stops growing and
 * remembers the failure. */
struct out {
	char *buf;
	size_t len, cap;
	bool failed;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		{
			size_t ncap = o->cap * 2 + (size_t)n;
			char *nb = realloc(o->buf, ncap);

			if (!nb) {
				o->failed = true;
				return;
			}
			o->buf = nb;
			o->cap = ncap;
		}
	}
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A duration in microseconds as seconds, exactly ("0.0025", "1"). */
static void put_seconds(struct out *o, uint64_t us)
{
	char frac[8];
	int n;

	if (us % 1000000 == 0) {
		put(o, "%" PRIu64, us / 1000000);
		return;
	}
	n = snprintf(frac, sizeof(frac), "%06" PRIu64, us % 1000000);
	while (n > 1 && frac[n - 1] == '0')
		frac[--n] = '\0';
	put(o, "%" PRIu64 ".%s", us / 1000000, frac);
}

int metrics_render(const struct metrics_gauges *g, char **out, size_t *len)
{
	static const char *const methods[METRICS_METHODS] = { "GET", "HEAD", "POST", "other" };
	struct out o = { .cap = 8192 };
	struct slot t;
	uint64_t cum = 0;

	o.buf = malloc(o.cap);
	if (!o.buf)
		return -ENOMEM;
	sum(&t);

	head(&o, "mthttpd_requests_total", "counter",
	     "Responses sent, by request method and status class.");
	for (size_t m = 0; m < METRICS_METHODS; m++)
		for (size_t c = 0; c < STATUS_CLASSES; c++)
			put(&o,
			    "mthttpd_requests_total{method=\"%s\",code=\"%zuxx\"} %" PRIu64 "\n",
			    methods[m], c + 1, t.requests[m][c]);
	head(&o, "mthttpd_sent_bytes_total", "counter",
	     "Bytes of responses sent on the sockets, heads included.");
	put(&o, "mthttpd_sent_bytes_total %" PRIu64 "\n", t.bytes_sent);

	head(&o, "mthttpd_request_duration_seconds", "histogram",
	     "Time from a request's first byte to its response's last.");
	for (size_t b = 0; b < BUCKETS; b++) {
		cum += t.duration[b];
		put(&o, "mthttpd_request_duration_seconds_bucket{le=\"");
		put_seconds(&o, (uint64_t)bucket_us[b]);
		put(&o, "\"} %" PRIu64 "\n", cum);
	}
	cum += t.duration[BUCKETS];
	put(&o, "mthttpd_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
	put(&o, "mthttpd_request_duration_seconds_sum ");
	put_seconds(&o, t.duration_sum_us);
	put(&o, "\nmthttpd_request_duration_seconds_count %" PRIu64 "\n", cum);

	head(&o, "mthttpd_connections", "gauge", "Open client connections, by state.");
	put(&o, "mthttpd_connections{state=\"reading\"} %zu\n", g->conns_reading);
	put(&o, "mthttpd_connections{state=\"writing\"} %zu\n", g->conns_writing);
	put(&o, "mthttpd_connections{state=\"idle\"} %zu\n", g->conns_idle);
	head(&o, "mthttpd_workers", "gauge", "Worker threads.");
	put(&o, "mthttpd_workers %u\n", g->workers);
	head(&o, "mthttpd_workers_busy", "gauge", "Worker threads running a connection.");
	put(&o, "mthttpd_workers_busy %u\n", g->busy);
	head(&o, "mthttpd_queue_length", "gauge", "Accepted connections waiting for a worker.");
	put(&o, "mthttpd_queue_length %u\n", g->queued);
	head(&o, "mthttpd_queue_capacity", "gauge", "queue_size: the most that may wait.");
	put(&o, "mthttpd_queue_capacity %u\n", g->queue_cap);

	head(&o, "mthttpd_rejected_connections_total", "counter",
	     "Connections refused at accept: 503 (queue full), 429 (max_connections_per_ip).");
	put(&o, "mthttpd_rejected_connections_total{code=\"503\"} %" PRIu64 "\n", t.rejected_503);
	put(&o, "mthttpd_rejected_connections_total{code=\"429\"} %" PRIu64 "\n", t.rejected_429);
	head(&o, "mthttpd_proxy_protocol_rejected_total", "counter",
	     "Connections closed for a missing, malformed or untrusted PROXY header.");
	put(&o, "mthttpd_proxy_protocol_rejected_total %" PRIu64 "\n", t.proxy_rejected);

	head(&o, "mthttpd_uploads_total", "counter", "Uploads stored durably.");
	put(&o, "mthttpd_uploads_total %" PRIu64 "\n", t.uploads);
	head(&o, "mthttpd_upload_bytes_total", "counter", "Bytes of the uploads stored.");
	put(&o, "mthttpd_upload_bytes_total %" PRIu64 "\n", t.upload_bytes);

	head(&o, "mthttpd_reloads_total", "counter", "Configuration reloads (SIGHUP), by outcome.");
	put(&o, "mthttpd_reloads_total{result=\"ok\"} %" PRIu64 "\n", t.reloads_ok);
	put(&o, "mthttpd_reloads_total{result=\"failed\"} %" PRIu64 "\n", t.reloads_failed);

	head(&o, "mthttpd_access_log_dropped_total", "counter",
	     "Access-log records lost since start (file not written, journal refused).");
	put(&o, "mthttpd_access_log_dropped_total %" PRIu64 "\n", g->access_log_dropped);

	head(&o, "mthttpd_tls_handshakes_total", "counter",
	     "TLS handshakes completed (0 without a tls group).");
	put(&o, "mthttpd_tls_handshakes_total %" PRIu64 "\n", t.tls_handshakes);

	/* Further families go here as their features land.  Count them per
	 * thread in struct slot like the ones above. */

	head(&o, "mthttpd_build_info", "gauge", "Always 1; the labels say which build runs.");
	put(&o, "mthttpd_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);

	if (o.failed) {
		free(o.buf);
		return -ENOMEM;
	}
	*out = o.buf;
	*len = o.len;
	return 0;
}
