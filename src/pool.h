/* pool.h - the fixed pool of worker threads and the connections they serve.
 *
 * Workers wait on one shared epoll set themselves; every connection is
 * registered with EPOLLONESHOT, so exactly one worker runs it at a time and
 * it is handed back to epoll the moment its socket would block.  An idle
 * keep-alive connection is only an epoll registration: it holds no thread.
 *
 * New connections are accepted by whichever worker epoll gives the listening
 * socket to.  That worker serves the first one itself; the others wait in a
 * bounded FIFO (queue_size) for a free worker, and beyond it get 503 with
 * Retry-After.  A reaper thread enforces deadlines (keep-alive and I/O
 * timeouts) once a second. */
#ifndef MTH_POOL_H
#define MTH_POOL_H

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
};

/* Start POOL_SIZE workers serving the N listeners in L (copied; the fds stay
 * the caller's).  Returns 0 or a negative errno with a message in ERR. */
int pool_start(struct pool **out, const struct listener *l, size_t n, unsigned pool_size,
	       unsigned queue_size, char *err, size_t errlen);

/* Graceful stop, part one: stop accepting, let in-flight responses finish
 * (no connection is kept alive any more), close idle connections.  Returns
 * when no connection is left or after TIMEOUT_MS, returning how many were
 * still open. */
size_t pool_drain(struct pool *p, int64_t timeout_ms);

/* Stop the threads, close every remaining connection, free everything.
 * Accepts NULL. */
void pool_free(struct pool *p);

void pool_get_stats(struct pool *p, struct pool_stats *out);

#endif
