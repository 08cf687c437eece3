/* client_table.h - open connections counted per client (struct
 * client_key), for max_connections_per_ip.
 *
 * A chained hash table on client_key_hash() (keyed: a client cannot pick
 * addresses that collide) that doubles when it holds two keys per bucket,
 * and whose chains are bounded: a key whose chain is full is refused
 * instead of making every accept and close walk a long list under the
 * caller's lock.  Not thread-safe: the caller locks. */
#ifndef MTH_CLIENT_TABLE_H
#define MTH_CLIENT_TABLE_H

#include <stddef.h>

#include "client_key.h"

#define CLIENT_TABLE_MIN_BUCKETS 256 /* a power of two */
#define CLIENT_TABLE_MAX_BUCKETS (1u << 20)
#define CLIENT_TABLE_MAX_CHAIN 16

struct client_table;

struct client_table *client_table_new(void);
void client_table_free(struct client_table *t);

/* Count one more connection of K unless it already has CAP (CAP > 0).
 * 0, -EUSERS when K has CAP, -EBUSY when K is new and its chain holds
 * CLIENT_TABLE_MAX_CHAIN other keys, -ENOMEM. */
int client_table_take(struct client_table *t, const struct client_key *k, unsigned cap);

/* One connection of K closed (K must hold one). */
void client_table_release(struct client_table *t, const struct client_key *k);

/* The connections counted for K. */
unsigned client_table_count(const struct client_table *t, const struct client_key *k);

/* The number of keys with at least one connection. */
size_t client_table_keys(const struct client_table *t);

/* The bucket K falls in, among NBUCKETS (a power of two): for tests. */
static inline size_t client_table_bucket(const struct client_key *k, size_t nbuckets)
{
	return (size_t)(client_key_hash(k) & (nbuckets - 1));
}

#endif
