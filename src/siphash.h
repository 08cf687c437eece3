/* siphash.h - SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed hash
 * for tables whose keys come from the network.  Without the 128-bit key an
 * attacker cannot pick inputs that collide, so chains stay short. */
#ifndef MTH_SIPHASH_H
#define MTH_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_SIZE 16

/* SipHash-2-4 of the LEN bytes at DATA under KEY (the reference
 * implementation's byte order: key and result little-endian). */
uint64_t siphash24(const unsigned char key[SIPHASH_KEY_SIZE], const void *data, size_t len);

#endif
