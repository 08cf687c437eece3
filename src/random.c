/* random.c - random bytes for the whole process (see random.h).
 *
 * getrandom(2) is a system call every time while a caller usually needs 8
 * or 16 bytes, so each thread draws RANDOM_POOL bytes at once and hands
 * them out.  When the kernel cannot deliver (ENOSYS on old kernels or
 * under a seccomp filter, EAGAIN before its pool is initialised early in
 * boot) /dev/urandom is read, and when that cannot be opened either, a
 * per-thread xorshift64* seeded from two clocks, the thread id and a
 * thread-local address fills the request. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "random.h"

#define RANDOM_POOL 256

struct rpool {
	unsigned char b[RANDOM_POOL];
	size_t pos, end;
	uint64_t xs; /* fallback state; 0 until first needed */
};

static __thread struct rpool tpool;

static uint64_t fallback_next(struct rpool *rp)
{
	uint64_t x;

	if (!rp->xs) {
		struct timespec rt = { 0 }, mono = { 0 };

		clock_gettime(CLOCK_REALTIME, &rt);
		clock_gettime(CLOCK_MONOTONIC, &mono);
		x = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec;
		x ^= ((uint64_t)mono.tv_nsec << 32) ^ (uint64_t)mono.tv_sec;
		x ^= (uint64_t)gettid() << 48 ^ (uint64_t)(uintptr_t)rp;
		/* splitmix64 finaliser: spread the low-entropy seed bits */
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
		x ^= x >> 31;
		rp->xs = x ? x : 0x9e3779b97f4a7c15u;
	}
	rp->xs ^= rp->xs >> 12;
	rp->xs ^= rp->xs << 25;
	rp->xs ^= rp->xs >> 27;
	return rp->xs * 0x2545f4914f6cdd1du;
}

static ssize_t read_urandom(unsigned char *b, size_t n)
{
	ssize_t got = -1;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -1;
	do {
		got = read(fd, b, n);
	} while (got < 0 && errno == EINTR);
	close(fd);
	return got;
}

/* Refill the thread's pool from the kernel: 0, or -errno of getrandom()
 * when the kernel gave nothing (the pool is then empty). */
static int refill(struct rpool *rp)
{
	int saved = errno, r = 0;
	ssize_t n;

	do {
		n = getrandom(rp->b, sizeof rp->b, GRND_NONBLOCK);
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		r = n < 0 ? -errno : -EIO;
		n = read_urandom(rp->b, sizeof rp->b);
		if (n > 0)
			r = 0;
	}
	rp->pos = 0;
	rp->end = n > 0 ? (size_t)n : 0;
	errno = saved;
	return r;
}

int random_bytes(void *buf, size_t n)
{
	struct rpool *rp = &tpool;
	unsigned char *out = buf;
	int r = 0;

	while (n) {
		size_t k;

		if (rp->pos == rp->end) {
			r = refill(rp);
			if (rp->pos == rp->end)
				break;
		}
		k = rp->end - rp->pos;
		if (k > n)
			k = n;
		memcpy(out, rp->b + rp->pos, k);
		rp->pos += k;
		out += k;
		n -= k;
	}
	for (; n; ) {
		uint64_t v = fallback_next(rp);
		size_t k = n < sizeof v ? n : sizeof v;

		memcpy(out, &v, k);
		out += k;
		n -= k;
	}
	return r;
}

uint64_t random_u64(void)
{
	unsigned char b[8];
	uint64_t v = 0;

	random_bytes(b, sizeof b);
	for (size_t i = 0; i < sizeof b; i++)
		v = v << 8 | b[i];
	return v;
}
