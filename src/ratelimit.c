/* ratelimit.c - token buckets in a fixed-size LRU table (see ratelimit.h).
 *
 * Each shard is a fixed array of entries, a chained hash over them (by
 * index) and a doubly linked LRU list (by index).  All memory is
 * allocated by ratelimit_new(); taking a token never allocates. */
#include "ratelimit.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 16
#define NIL UINT32_MAX

struct entry {
	unsigned char key[RATELIMIT_KEY_MAX];
	uint8_t keylen;
	uint64_t hash;
	double tokens;
	int64_t last_ms;
	uint32_t chain;      /* next in the bucket's chain */
	uint32_t prev, next; /* LRU list: head most recent */
};

struct shard {
	pthread_mutex_t lock;
	struct entry *e;
	uint32_t *buckets; /* nbuckets heads */
	uint32_t nbuckets; /* a power of two */
	uint32_t cap, used;
	uint32_t head, tail;
	uint64_t evictions;
};

struct ratelimit {
	struct shard shard[SHARDS];
};

static void shard_free(struct shard *s)
{
	free(s->e);
	free(s->buckets);
	pthread_mutex_destroy(&s->lock);
}

struct ratelimit *ratelimit_new(size_t capacity)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));
	size_t per = (capacity + SHARDS - 1) / SHARDS;
	size_t i;

	if (!rl)
		return NULL;
	if (per == 0)
		per = 1;
	if (per > UINT32_MAX / 4)
		goto fail;
	for (i = 0; i < SHARDS; i++) {
		struct shard *s = &rl->shard[i];

		pthread_mutex_init(&s->lock, NULL);
		s->cap = (uint32_t)per;
		s->nbuckets = 1;
		while (s->nbuckets < 2 * per)
			s->nbuckets <<= 1;
		s->e = calloc(per, sizeof(*s->e));
		s->buckets = malloc(s->nbuckets * sizeof(*s->buckets));
		if (!s->e || !s->buckets) {
			i++;
			goto fail_shards;
		}
		memset(s->buckets, 0xff, s->nbuckets * sizeof(*s->buckets));
		s->head = s->tail = NIL;
	}
	return rl;

fail_shards:
	while (i-- > 0)
		shard_free(&rl->shard[i]);
fail:
	free(rl);
	return NULL;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	for (size_t i = 0; i < SHARDS; i++)
		shard_free(&rl->shard[i]);
	free(rl);
}

static void lru_unlink(struct shard *s, uint32_t i)
{
	struct entry *e = &s->e[i];

	if (e->prev != NIL)
		s->e[e->prev].next = e->next;
	else
		s->head = e->next;
	if (e->next != NIL)
		s->e[e->next].prev = e->prev;
	else
		s->tail = e->prev;
}

static void lru_push_front(struct shard *s, uint32_t i)
{
	struct entry *e = &s->e[i];

	e->prev = NIL;
	e->next = s->head;
	if (s->head != NIL)
		s->e[s->head].prev = i;
	s->head = i;
	if (s->tail == NIL)
		s->tail = i;
}

static void chain_remove(struct shard *s, uint32_t i)
{
	uint32_t *p = &s->buckets[s->e[i].hash & (s->nbuckets - 1)];

	while (*p != i)
		p = &s->e[*p].chain;
	*p = s->e[i].chain;
}

/* Called with the shard locked: the entry of KEY, made (and the least
 * recently used one evicted) if need be; FRESH says it was made. */
static struct entry *lookup(struct shard *s, const void *key, size_t keylen, uint64_t hash,
			    bool *fresh)
{
	uint32_t *head = &s->buckets[hash & (s->nbuckets - 1)];
	uint32_t i;

	for (i = *head; i != NIL; i = s->e[i].chain) {
		struct entry *e = &s->e[i];

		if (e->hash == hash && e->keylen == keylen && memcmp(e->key, key, keylen) == 0) {
			lru_unlink(s, i);
			lru_push_front(s, i);
			*fresh = false;
			return e;
		}
	}
	if (s->used < s->cap) {
		i = s->used++;
	} else {
		i = s->tail;
		lru_unlink(s, i);
		chain_remove(s, i);
		s->evictions++;
	}
	memcpy(s->e[i].key, key, keylen);
	s->e[i].keylen = (uint8_t)keylen;
	s->e[i].hash = hash;
	s->e[i].chain = *head;
	*head = i;
	lru_push_front(s, i);
	*fresh = true;
	return &s->e[i];
}

uint32_t ratelimit_take(struct ratelimit *rl, const void *key, size_t keylen, uint64_t hash,
			const struct ratelimit_rule *rule, int64_t now_ms)
{
	/* the top bits pick the shard, the low bits the bucket within it */
	struct shard *s = &rl->shard[hash >> 60 & (SHARDS - 1)];
	double burst, rate, wait_ms;
	struct entry *e;
	uint32_t wait = 0;
	bool fresh;

	if (!rule->per || !rule->interval_ms)
		return 0;
	if (keylen > RATELIMIT_KEY_MAX)
		keylen = RATELIMIT_KEY_MAX;
	burst = rule->burst ? rule->burst : rule->per;
	rate = (double)rule->per / rule->interval_ms; /* tokens per ms */
	pthread_mutex_lock(&s->lock);
	e = lookup(s, key, keylen, hash, &fresh);
	if (fresh) {
		e->tokens = burst;
	} else if (now_ms > e->last_ms) {
		e->tokens += (double)(now_ms - e->last_ms) * rate;
	}
	if (e->tokens > burst)
		e->tokens = burst;
	if (fresh || now_ms > e->last_ms)
		e->last_ms = now_ms;
	if (e->tokens >= 1.0) {
		e->tokens -= 1.0;
	} else {
		wait_ms = (1.0 - e->tokens) / rate;
		wait = (uint32_t)((wait_ms + 999.0) / 1000.0);
		if (wait < 1)
			wait = 1;
	}
	pthread_mutex_unlock(&s->lock);
	return wait;
}

size_t ratelimit_count(struct ratelimit *rl)
{
	size_t n = 0;

	for (size_t i = 0; i < SHARDS; i++) {
		pthread_mutex_lock(&rl->shard[i].lock);
		n += rl->shard[i].used;
		pthread_mutex_unlock(&rl->shard[i].lock);
	}
	return n;
}

uint64_t ratelimit_evictions(struct ratelimit *rl)
{
	uint64_t n = 0;

	for (size_t i = 0; i < SHARDS; i++) {
		pthread_mutex_lock(&rl->shard[i].lock);
		n += rl->shard[i].evictions;
		pthread_mutex_unlock(&rl->shard[i].lock);
	}
	return n;
}
