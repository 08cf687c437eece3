/* test_ratelimit.c - Criterion tests for src/ratelimit.c. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "ratelimit.h"

/* A stand-in for the keyed hash: any well-mixed function will do here. */
static uint64_t mix(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

static uint32_t take(struct ratelimit *rl, uint32_t client, const struct ratelimit_rule *r,
		     int64_t now)
{
	return ratelimit_take(rl, &client, sizeof(client), mix(client), r, now);
}

Test(ratelimit, burst_then_rate)
{
	struct ratelimit *rl = ratelimit_new(64);
	const struct ratelimit_rule r = { .per = 2, .interval_ms = 1000, .burst = 5 };
	int64_t t = 1000000;

	cr_assert_not_null(rl);
	for (int i = 0; i < 5; i++)
		cr_expect_eq(take(rl, 1, &r, t), 0, "burst token %d", i);
	/* empty: the next token comes in 500 ms -> Retry-After 1 */
	cr_expect_eq(take(rl, 1, &r, t), 1);
	/* another client is not affected */
	cr_expect_eq(take(rl, 2, &r, t), 0);
	/* 499 ms later still nothing; at 500 ms one token */
	cr_expect_eq(take(rl, 1, &r, t + 499), 1);
	cr_expect_eq(take(rl, 1, &r, t + 500), 0);
	cr_expect_eq(take(rl, 1, &r, t + 500), 1);
	/* a long pause refills to the burst, no more */
	t += 100000;
	for (int i = 0; i < 5; i++)
		cr_expect_eq(take(rl, 1, &r, t), 0);
	cr_expect_neq(take(rl, 1, &r, t), 0);
	/* a clock that goes backwards gives nothing and breaks nothing */
	cr_expect_neq(take(rl, 1, &r, t - 5000), 0);
	ratelimit_free(rl);
}

Test(ratelimit, retry_after_rounds_up)
{
	struct ratelimit *rl = ratelimit_new(16);
	/* 3 uploads per minute: one every 20 s */
	const struct ratelimit_rule r = { .per = 3, .interval_ms = 60000, .burst = 0 };

	cr_assert_not_null(rl);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(take(rl, 7, &r, 0), 0);
	cr_expect_eq(take(rl, 7, &r, 0), 20);
	cr_expect_eq(take(rl, 7, &r, 1), 20, "19.999 s rounds up to 20");
	cr_expect_eq(take(rl, 7, &r, 19001), 1);
	cr_expect_eq(take(rl, 7, &r, 20000), 0);
	ratelimit_free(rl);
}

Test(ratelimit, zero_rate_is_off)
{
	struct ratelimit *rl = ratelimit_new(16);
	const struct ratelimit_rule off = { 0 };

	cr_assert_not_null(rl);
	for (int i = 0; i < 1000; i++)
		cr_expect_eq(take(rl, 1, &off, 0), 0);
	cr_expect_eq(ratelimit_count(rl), 0, "nothing stored when off");
	ratelimit_free(rl);
}

/* 100,000 distinct clients: the table never holds more than its
 * capacity, evicts the least recently used, and a client that keeps
 * coming stays (and stays limited) however many others pass. */
Test(ratelimit, bounded_under_many_clients)
{
	const size_t cap = 4096;
	struct ratelimit *rl = ratelimit_new(cap);
	const struct ratelimit_rule r = { .per = 1, .interval_ms = 1000000, .burst = 1 };

	cr_assert_not_null(rl);
	cr_expect_eq(take(rl, 0xdeadbeef, &r, 0), 0);
	for (uint32_t c = 1; c <= 100000; c++) {
		cr_assert_eq(take(rl, c, &r, 0), 0, "client %u is new", c);
		if (c % 64 == 0)
			cr_assert_neq(take(rl, 0xdeadbeef, &r, 0), 0, "the busy client stays limited");
		cr_assert_leq(ratelimit_count(rl), cap);
	}
	cr_expect_geq(ratelimit_count(rl), cap - 16 * 64, "the table is used");
	cr_expect_geq(ratelimit_evictions(rl), 100000 - cap);
	/* a client evicted long ago comes back with a full bucket */
	cr_expect_eq(take(rl, 1, &r, 0), 0);
	/* one seen recently is still there (and empty) */
	cr_expect_neq(take(rl, 100000, &r, 0), 0);
	ratelimit_free(rl);
}

/* Same hash, different keys: told apart by the key. */
Test(ratelimit, colliding_hashes)
{
	/* the same hash means the same shard: room for a few there */
	struct ratelimit *rl = ratelimit_new(16 * 4);
	const struct ratelimit_rule r = { .per = 1, .interval_ms = 1000000, .burst = 1 };

	cr_assert_not_null(rl);
	cr_expect_eq(ratelimit_take(rl, "aaaa", 4, 42, &r, 0), 0);
	cr_expect_eq(ratelimit_take(rl, "bbbb", 4, 42, &r, 0), 0);
	cr_expect_neq(ratelimit_take(rl, "aaaa", 4, 42, &r, 0), 0);
	cr_expect_neq(ratelimit_take(rl, "bbbb", 4, 42, &r, 0), 0);
	cr_expect_eq(ratelimit_take(rl, "aaa", 3, 42, &r, 0), 0);
	cr_expect_eq(ratelimit_count(rl), 3);
	ratelimit_free(rl);
	ratelimit_free(NULL);
}

struct hammer {
	struct ratelimit *rl;
	uint32_t base;
	unsigned granted;
};

static void *hammer(void *arg)
{
	struct hammer *h = arg;
	const struct ratelimit_rule r = { .per = 100, .interval_ms = 1000000, .burst = 100 };

	for (uint32_t i = 0; i < 20000; i++) {
		/* one shared client, and many of its own */
		if (take(h->rl, 5, &r, 0) == 0)
			h->granted++;
		take(h->rl, h->base + i % 3000, &r, 0);
	}
	return NULL;
}

/* Threads share the table: the shared client gets exactly its burst. */
Test(ratelimit, threads_share_one_bucket)
{
	struct hammer h[4];
	pthread_t t[4];
	unsigned total = 0;
	struct ratelimit *rl = ratelimit_new(100000);

	cr_assert_not_null(rl);
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){ .rl = rl, .base = 1000000u * (uint32_t)(i + 1) };
		cr_assert_eq(pthread_create(&t[i], NULL, hammer, &h[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		total += h[i].granted;
	}
	cr_expect_eq(total, 100);
	ratelimit_free(rl);
}
