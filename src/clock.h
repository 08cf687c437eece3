/* clock.h - the monotonic clock in the units the modules use (header only,
 * no state; clock_gettime goes through the vDSO, no syscall). */
#ifndef MTH_CLOCK_H
#define MTH_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline int64_t mth_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CLOCK_MONOTONIC in microseconds. */
static inline int64_t mth_clock_us(void)
{
	return mth_clock_ns() / 1000;
}

/* CLOCK_MONOTONIC_COARSE in milliseconds: the cheapest clock, a tick
 * (1-4 ms) coarse, for timeouts and freshness rules. */
static inline int64_t mth_clock_coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The CLOCK_MONOTONIC time MS milliseconds from now, as an absolute
 * timespec (for pthread_cond_timedwait on a CLOCK_MONOTONIC condattr). */
static inline struct timespec mth_clock_deadline(int64_t ms)
{
	int64_t t = mth_clock_ns() + ms * 1000000;

	return (struct timespec){ .tv_sec = (time_t)(t / 1000000000),
				  .tv_nsec = (long)(t % 1000000000) };
}

#endif
