/* pool.h - the fixed pool of worker threads and the connections they serve.
 *
 * Workers wait on one shared epoll set themselves; every connection is
 * registered once, edge-triggered, and a claim counter makes sure exactly
 * one worker runs it at a time; it is let go the moment its socket would
 * block.  An idle keep-alive connection is only an epoll registration: it
 * holds no thread.
 *
 * New connections are accepted by whichever worker epoll gives the listening
 * socket to.  That worker serves the first one itself; the others wait
 * (queue_size) for a free worker, and beyond it get 503 with Retry-After.
 * At most one worker per CPU runs the event loop at a time; the others stand
 * by to take over while one blocks (pool_block_begin).  A reaper thread
 * enforces deadlines (keep-alive and I/O timeouts) once a second. */
#ifndef MTH_POOL_H
#define MTH_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "listener.h"

struct pool;

struct pool_stats {
	unsigned workers;   /* threads */
	unsigned busy;      /* running a connection right now */
	unsigned queued;    /* accepted, waiting for a free worker */
	unsigned queue_cap;
	size_t connections; /* open */
	uint64_t requests;  /* responses completed since start */
	uint64_t rejected;  /* 503s because the queue was full */
	/* open connections by state, as the reaper saw them at its last
	 * round (at most a second ago) */
	size_t conns_reading, conns_writing, conns_idle;
};

/* Start POOL_SIZE workers serving the N listeners in L.  On success the
 * pool owns the listening fds (pool_free closes them); on failure they are
 * still the caller's, open, to close once.  Returns 0 or a negative errno
 * with a message in ERR. */
int pool_start(struct pool **out, const struct listener *l, size_t n, unsigned pool_size,
	       unsigned queue_size, char *err, size_t errlen);

/* Reload: grow or shrink the pool and the queue.  Shrinking never interrupts
 * a request: surplus workers leave when they next wake up idle; a queue is
 * never shrunk below the connections waiting in it. */
int pool_resize(struct pool *p, unsigned pool_size, unsigned queue_size, char *err,
		size_t errlen);

/* max_connections_per_ip (0: no cap): connections beyond it from one
 * client get 429 with Retry-After and are closed at accept.  A client is
 * an IPv4 address (IPv4-mapped IPv6 included) or the first IPV6_PREFIX
 * bits of an IPv6 address (client_ipv6_prefix; see client_key.h). */
void pool_set_per_ip_cap(struct pool *p, unsigned cap, unsigned ipv6_prefix);

/* busy_poll: microseconds a worker that has just served requests keeps
 * polling for more before it sleeps (0: sleeps at once). */
void pool_set_busy_poll(struct pool *p, unsigned usec);

/* Reload with a new address/port (only when we bound the sockets): take
 * over the N listeners in L and close the old ones. */
void pool_replace_listeners(struct pool *p, const struct listener *l, size_t n);
void pool_listeners(struct pool *p, struct listener *out, size_t *n);

/* The watchdog's liveness probe: pool_probe() posts an event that any worker
 * answers as soon as it is free; pool_probe_answered() says whether the last
 * probe was answered.  A deadlocked or hung pool leaves it pending. */
void pool_probe(struct pool *p);
bool pool_probe_answered(struct pool *p);

/* Graceful stop: stop accepting (listeners leave epoll), keep no connection
 * alive any more, close idle ones; then pool_wait_idle() waits up to
 * TIMEOUT_MS for the rest, returning how many are still open. */
void pool_stop_accepting(struct pool *p);
size_t pool_wait_idle(struct pool *p, int64_t timeout_ms);

/* Stop the threads, close every remaining connection and the listeners,
 * free everything.  Accepts NULL. */
void pool_free(struct pool *p);

void pool_get_stats(struct pool *p, struct pool_stats *out);

/* Around work that may block the calling worker for a while (an upload's
 * fsyncs): its place in the event loop goes to a standing-by worker
 * meanwhile.  No-ops outside worker threads. */
void pool_block_begin(void);
void pool_block_end(void);

#endif
