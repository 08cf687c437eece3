/* metrics.h - the counters behind GET /metrics on the admin listener, and
 * their Prometheus text exposition (format version 0.0.4).
 *
 * Counters are per thread: the thread that serves a request adds to its own
 * slot (relaxed atomics, no lock, no shared cache line), and a scrape sums
 * the slots.  A scrape therefore never slows the request path.  Gauges
 * (workers, queue, connections by state) are not counted here: the caller
 * reads them from the pool at scrape time and passes them in. */
#ifndef MTH_METRICS_H
#define MTH_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum metrics_method { METRICS_GET, METRICS_HEAD, METRICS_POST, METRICS_OTHER, METRICS_METHODS };

/* The method of a request line ("GET / HTTP/1.1"), or METRICS_OTHER. */
enum metrics_method metrics_method_of(const char *request_line);

/* One response finished: STATUS (100..599, counted by class), BYTES sent
 * (head included), DURATION_US from its first byte to its last. */
void metrics_request(enum metrics_method m, int status, uint64_t bytes, int64_t duration_us);
/* A connection refused at accept: 503 (queue full) or 429 (per-client cap). */
void metrics_rejected(int status);
/* An upload stored durably, of BYTES. */
void metrics_upload(uint64_t bytes);
/* A reload (SIGHUP) applied, or rejected. */
void metrics_reload(bool ok);
/* A connection closed for breaking the PROXY protocol rules. */
void metrics_proxy_rejected(void);
/* A TLS handshake completed. */
void metrics_tls_handshake(void);

/* What the pool knows at scrape time. */
struct metrics_gauges {
	unsigned workers, busy;
	unsigned queued, queue_cap;
	size_t conns_reading, conns_writing, conns_idle; /* open connections by state */
	uint64_t access_log_dropped; /* access-log records lost since start */
};

/* The whole exposition into a malloc'd buffer (*OUT, *LEN; free() it).
 * Returns 0 or -ENOMEM. */
int metrics_render(const struct metrics_gauges *g, char **out, size_t *len);

#endif
