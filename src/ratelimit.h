/* ratelimit.h - token buckets per client in a fixed-size table.
 *
 * Memory is bounded whatever the number of clients: the table holds at
 * most CAPACITY buckets, and a new client evicts the least recently used
 * one (an evicted client comes back with a full bucket, which only ever
 * errs towards letting it through).  Keys are short byte strings (a
 * client's address, see client_key.h) with a hash the caller computes
 * under a secret key, so clients cannot choose colliding keys.  Sharded,
 * a mutex per shard held only for the lookup and the arithmetic: never
 * across I/O. */
#ifndef MTH_RATELIMIT_H
#define MTH_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_KEY_MAX 24

/* PER tokens every INTERVAL_MS milliseconds, at most BURST saved up
 * (BURST 0: PER).  PER 0 means no limit. */
struct ratelimit_rule {
	uint32_t per;
	uint32_t interval_ms;
	uint32_t burst;
};

struct ratelimit;

/* A table of at most CAPACITY buckets (rounded up to a multiple of the
 * shard count).  NULL when out of memory. */
struct ratelimit *ratelimit_new(size_t capacity);
void ratelimit_free(struct ratelimit *rl);

/* Take a token from the bucket of KEY (KEYLEN <= RATELIMIT_KEY_MAX bytes,
 * keyed hash HASH) at NOW_MS (a monotonic clock in milliseconds) under
 * RULE.  Returns 0 when the request may go ahead, else the whole seconds
 * (>= 1, rounded up) until a token is there: the Retry-After value. */
uint32_t ratelimit_take(struct ratelimit *rl, const void *key, size_t keylen, uint64_t hash,
			const struct ratelimit_rule *rule, int64_t now_ms);

/* Buckets in the table now (<= its capacity). */
size_t ratelimit_count(struct ratelimit *rl);

/* Buckets evicted to make room, since the table was made. */
uint64_t ratelimit_evictions(struct ratelimit *rl);

#endif
