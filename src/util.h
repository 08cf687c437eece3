/* util.h - tiny helpers shared by every module (no state, header only). */
#ifndef MTH_UTIL_H
#define MTH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MTH_LIKELY(x) __builtin_expect(!!(x), 1)
#define MTH_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* A borrowed slice of bytes: points into somebody else's buffer. */
struct mth_str {
	const char *p;
	size_t len;
};

#define MTH_STR_LIT(s) ((struct mth_str){ (s), sizeof(s) - 1 })

static inline bool mth_str_eq(struct mth_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && memcmp(s.p, lit, n) == 0;
}

static inline bool mth_str_caseeq(struct mth_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

/* The value of a hex digit, or -1. */
static inline int mth_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Fixed-width numbers as text without printf (dates, upload names,
 * multipart boundaries).  The caller provides the room. */

/* The last WIDTH decimal digits of V at P, zero-padded; returns the end. */
static inline char *mth_dec_fixed(char *p, uint64_t v, unsigned width)
{
	for (unsigned i = width; i > 0; i--) {
		p[i - 1] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

/* V as 16 lower-case hex digits at P; returns the end. */
static inline char *mth_hex16(char *p, uint64_t v)
{
	for (int i = 15; i >= 0; i--) {
		p[i] = "0123456789abcdef"[v & 0xf];
		v >>= 4;
	}
	return p + 16;
}

#endif
