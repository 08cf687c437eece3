/* client_table.c - connections counted per client (see client_table.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "client_table.h"

struct entry {
	struct client_key key;
	unsigned n;
	uint64_t hash;
	struct entry *next;
};

struct client_table {
	struct entry **b;
	size_t nbuckets; /* a power of two */
	size_t nkeys;
};

struct client_table *client_table_new(void)
{
	struct client_table *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->b = calloc(CLIENT_TABLE_MIN_BUCKETS, sizeof *t->b);
	if (!t->b) {
		free(t);
		return NULL;
	}
	t->nbuckets = CLIENT_TABLE_MIN_BUCKETS;
	return t;
}

void client_table_free(struct client_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++)
		while (t->b[i]) {
			struct entry *e = t->b[i];

			t->b[i] = e->next;
			free(e);
		}
	free(t->b);
	free(t);
}

/* Double the buckets; on allocation failure keep the old ones (the chain
 * bound still holds, only more keys are refused). */
static void grow(struct client_table *t)
{
	size_t n = t->nbuckets * 2;
	struct entry **nb;

	if (n > CLIENT_TABLE_MAX_BUCKETS)
		return;
	nb = calloc(n, sizeof *nb);
	if (!nb)
		return;
	for (size_t i = 0; i < t->nbuckets; i++)
		while (t->b[i]) {
			struct entry *e = t->b[i];

			t->b[i] = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	free(t->b);
	t->b = nb;
	t->nbuckets = n;
}

static struct entry *find(const struct client_table *t, const struct client_key *k, uint64_t h,
			  size_t *chain)
{
	size_t len = 0;
	struct entry *e;

	for (e = t->b[h & (t->nbuckets - 1)]; e; e = e->next, len++)
		if (e->hash == h && client_key_eq(&e->key, k))
			break;
	if (chain)
		*chain = len;
	return e;
}

int client_table_take(struct client_table *t, const struct client_key *k, unsigned cap)
{
	uint64_t h = client_key_hash(k);
	size_t chain;
	struct entry *e = find(t, k, h, &chain), **head;

	if (e) {
		if (e->n >= cap)
			return -EUSERS;
		e->n++;
		return 0;
	}
	if (t->nkeys >= 2 * t->nbuckets) {
		grow(t);
		find(t, k, h, &chain);
	}
	if (chain >= CLIENT_TABLE_MAX_CHAIN)
		return -EBUSY;
	e = malloc(sizeof *e);
	if (!e)
		return -ENOMEM;
	head = &t->b[h & (t->nbuckets - 1)];
	*e = (struct entry){ .key = *k, .n = 1, .hash = h, .next = *head };
	*head = e;
	t->nkeys++;
	return 0;
}

void client_table_release(struct client_table *t, const struct client_key *k)
{
	uint64_t h = client_key_hash(k);
	struct entry **pp = &t->b[h & (t->nbuckets - 1)], *e;

	for (; (e = *pp); pp = &e->next) {
		if (e->hash != h || !client_key_eq(&e->key, k))
			continue;
		if (--e->n == 0) {
			*pp = e->next;
			free(e);
			t->nkeys--;
		}
		return;
	}
}

unsigned client_table_count(const struct client_table *t, const struct client_key *k)
{
	const struct entry *e = find(t, k, client_key_hash(k), NULL);

	return e ? e->n : 0;
}

size_t client_table_keys(const struct client_table *t)
{
	return t->nkeys;
}
