/* random.h - the project's one source of random bytes: getrandom(2),
 * drawn 256 bytes at a time per thread, with a fallback that never fails.
 *
 * Used for upload names, multipart/byteranges boundaries and the keys of
 * hash tables an attacker could otherwise fill with collisions. */
#ifndef MTH_RANDOM_H
#define MTH_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Fill BUF with N random bytes.  Always fills it.  Returns 0 when the
 * bytes came from the kernel (getrandom(2), else /dev/urandom), or a
 * negative errno (why getrandom failed) when the kernel could not deliver
 * and a clock-seeded generator filled them instead: unique enough for
 * names, but guessable. */
int random_bytes(void *buf, size_t n);

/* 64 random bits (the next 8 bytes of random_bytes(), big-endian). */
uint64_t random_u64(void);

#endif
