/* test_client_table.c - connections counted per client, with bounded
 * chains: keys that collide cannot make the table a long list. */
#include <criterion/criterion.h>

#include <errno.h>
#include <string.h>

#include "client_table.h"
#include "survives.h"

/* The IPv4 client 10.x.y.z for N = x.y.z (a plain value, as
 * client_key_from_sockaddr() makes it). */
static struct client_key v4(unsigned n)
{
	struct client_key k = { .a = { [10] = 0xff, [11] = 0xff }, .bits = 32 };

	k.a[12] = 10;
	k.a[13] = (unsigned char)(n >> 16);
	k.a[14] = (unsigned char)(n >> 8);
	k.a[15] = (unsigned char)n;
	return k;
}

Test(client_table, counts_up_to_the_cap_and_back)
{
	struct client_table *t = client_table_new();
	struct client_key a = v4(1), b = v4(2);

	cr_assert_not_null(t);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(client_table_take(t, &a, 3), 0);
	cr_assert_eq(client_table_take(t, &a, 3), -EUSERS);
	cr_assert_eq(client_table_take(t, &b, 3), 0, "another client is not capped");
	cr_assert_eq(client_table_count(t, &a), 3);
	cr_assert_eq(client_table_keys(t), 2);
	client_table_release(t, &a);
	cr_assert_eq(client_table_take(t, &a, 3), 0, "a closed connection frees a slot");
	for (int i = 0; i < 3; i++)
		client_table_release(t, &a);
	client_table_release(t, &b);
	cr_assert_eq(client_table_count(t, &a), 0);
	cr_assert_eq(client_table_keys(t), 0, "keys without connections are gone");
	client_table_free(t);
	cr_assert_survives(client_table_free(NULL));
}

/* More keys than the table starts with: it grows, and every key keeps its
 * count (a rehash that lost one would uncap or wrongly cap a client). */
Test(client_table, grows_and_keeps_every_count)
{
	enum { N = 20000 };
	struct client_table *t = client_table_new();

	cr_assert_not_null(t);
	for (unsigned i = 0; i < N; i++) {
		struct client_key k = v4(i);

		cr_assert_eq(client_table_take(t, &k, 2), 0, "key %u", i);
		if (i % 2)
			cr_assert_eq(client_table_take(t, &k, 2), 0, "key %u", i);
	}
	cr_assert_eq(client_table_keys(t), N);
	for (unsigned i = 0; i < N; i++) {
		struct client_key k = v4(i);

		cr_assert_eq(client_table_count(t, &k), i % 2 ? 2u : 1u, "key %u", i);
	}
	client_table_free(t);
}

/* Keys chosen to fall in one bucket (found by hashing, as an attacker who
 * knew the hash key could): the chain stops at CLIENT_TABLE_MAX_CHAIN and
 * the next new key in it is refused, while keys elsewhere still count
 * and keys already in the chain still take and release. */
Test(client_table, chain_length_is_bounded)
{
	enum { WANT = CLIENT_TABLE_MAX_CHAIN + 4 };
	struct client_table *t = client_table_new();
	struct client_key same[WANT], other;
	size_t n = 0, bucket = client_table_bucket(&(struct client_key){ .bits = 32 }, 256);
	unsigned i, other_found = 0;

	cr_assert_eq(CLIENT_TABLE_MIN_BUCKETS, 256);
	cr_assert_not_null(t);
	for (i = 1; n < WANT && i < 1000000; i++) {
		struct client_key k = v4(i);

		if (client_table_bucket(&k, CLIENT_TABLE_MIN_BUCKETS) == bucket)
			same[n++] = k;
		else if (!other_found)
			other = k, other_found = 1;
	}
	cr_assert_eq(n, WANT);
	for (i = 0; i < CLIENT_TABLE_MAX_CHAIN; i++)
		cr_assert_eq(client_table_take(t, &same[i], 5), 0, "key %u", i);
	for (; i < WANT; i++)
		cr_assert_eq(client_table_take(t, &same[i], 5), -EBUSY,
			     "key %u: a chain of %u is longer than the bound", i, i);
	cr_assert_eq(client_table_keys(t), CLIENT_TABLE_MAX_CHAIN);
	cr_assert_eq(client_table_take(t, &other, 5), 0, "another bucket still takes keys");
	cr_assert_eq(client_table_take(t, &same[0], 5), 0, "a known key still counts");
	client_table_release(t, &same[1]);
	cr_assert_eq(client_table_take(t, &same[CLIENT_TABLE_MAX_CHAIN], 5), 0,
		     "a key that left the chain made room");
	client_table_free(t);
}
