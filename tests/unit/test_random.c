/* test_random.c - Criterion tests for src/random.c.
 *
 * This file defines getrandom() and open() itself, so the tests can take
 * the kernel's randomness away (ENOSYS, as on old kernels or under a
 * seccomp filter) and /dev/urandom with it, and count how often
 * random.c asks; both pass through to the kernel unless a test arms a
 * fault.  Each Criterion test runs in its own process. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "random.h"

static struct {
	bool no_getrandom;   /* getrandom() fails with ENOSYS */
	bool no_urandom;     /* open("/dev/urandom") fails with ENOENT */
	bool counting_bytes; /* getrandom() fills 0, 1, 2, ... */
	unsigned getrandom_calls, urandom_opens;
} fault;

ssize_t getrandom(void *buf, size_t n, unsigned int flags)
{
	fault.getrandom_calls++;
	if (fault.no_getrandom) {
		errno = ENOSYS;
		return -1;
	}
	if (fault.counting_bytes) {
		for (size_t i = 0; i < n; i++)
			((unsigned char *)buf)[i] = (unsigned char)i;
		return (ssize_t)n;
	}
	return syscall(SYS_getrandom, buf, n, flags);
}

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (flags & O_CREAT) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (strcmp(path, "/dev/urandom") == 0) {
		fault.urandom_opens++;
		if (fault.no_urandom) {
			errno = ENOENT;
			return -1;
		}
	}
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

static bool all_zero(const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

Test(random, bytes_come_from_the_kernel_and_differ)
{
	unsigned char a[40], b[40];

	cr_assert_eq(random_bytes(a, sizeof a), 0);
	cr_assert_eq(random_bytes(b, sizeof b), 0);
	cr_expect(memcmp(a, b, sizeof a) != 0);
	cr_expect(!all_zero(a, sizeof a));
	cr_expect_eq(fault.getrandom_calls, 1, "one getrandom() for 80 bytes, got %u",
		     fault.getrandom_calls);
	cr_expect_eq(fault.urandom_opens, 0);
}

Test(random, u64_is_the_next_eight_bytes_big_endian)
{
	unsigned char b[3];

	fault.counting_bytes = true;
	cr_assert_eq(random_u64(), 0x0001020304050607u);
	cr_assert_eq(random_bytes(b, sizeof b), 0);
	cr_assert_eq(b[0], 8);
	cr_assert_eq(b[2], 10);
	cr_assert_eq(random_u64(), 0x0b0c0d0e0f101112u);
}

Test(random, one_getrandom_per_256_bytes)
{
	uint64_t seen[64];

	for (size_t i = 0; i < 64; i++) {
		seen[i] = random_u64();
		for (size_t j = 0; j < i; j++)
			cr_assert_neq(seen[i], seen[j], "draw %zu repeats draw %zu", i, j);
	}
	cr_expect_eq(fault.getrandom_calls, 2, "512 bytes took %u getrandom() calls",
		     fault.getrandom_calls);
}

Test(random, a_request_larger_than_the_pool_is_filled)
{
	static unsigned char big[1000];

	cr_assert_eq(random_bytes(big, sizeof big), 0);
	cr_expect(!all_zero(big + 900, 100), "the tail was left empty");
}

Test(random, urandom_when_getrandom_fails)
{
	unsigned char a[16], b[16];

	fault.no_getrandom = true;
	cr_assert_eq(random_bytes(a, sizeof a), 0, "/dev/urandom is the kernel's too");
	cr_assert_eq(random_bytes(b, sizeof b), 0);
	cr_expect(memcmp(a, b, sizeof a) != 0);
	cr_expect_eq(fault.urandom_opens, 1, "one read of /dev/urandom fills the pool");
}

Test(random, clock_seeded_fallback_still_fills_and_says_so)
{
	uint64_t seen[100];
	unsigned char b[13];

	fault.no_getrandom = true;
	fault.no_urandom = true;
	memset(b, 0, sizeof b);
	cr_assert_eq(random_bytes(b, sizeof b), -ENOSYS);
	cr_expect(!all_zero(b + 8, 5), "the odd tail was left empty");
	for (size_t i = 0; i < 100; i++) {
		seen[i] = random_u64();
		for (size_t j = 0; j < i; j++)
			cr_assert_neq(seen[i], seen[j], "draw %zu repeats draw %zu", i, j);
	}
}

static void *draw(void *arg)
{
	*(uint64_t *)arg = random_u64();
	return NULL;
}

/* Threads have pools of their own: none hands out another's bytes, even
 * from the clock-seeded fallback that two threads start at the same time. */
Test(random, threads_draw_different_values)
{
	pthread_t t[8];
	uint64_t v[8];

	fault.no_getrandom = true;
	fault.no_urandom = true;
	for (size_t i = 0; i < 8; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, draw, &v[i]), 0);
	for (size_t i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (size_t i = 0; i < 8; i++)
		for (size_t j = 0; j < i; j++)
			cr_expect_neq(v[i], v[j], "threads %zu and %zu drew the same", i, j);
}
