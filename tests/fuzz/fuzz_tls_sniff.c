/* fuzz_tls_sniff.c - libFuzzer target for tls_sniff() (src/tls_sniff.c).
 *
 * The verdict is stable: once decided on a prefix, more bytes never change
 * it; it only asks for more below TLS_SNIFF_BYTES; TLS means exactly a
 * handshake record header of TLS 1.0-1.3. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_sniff.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum tls_sniff v = tls_sniff(data, size), prev = TLS_SNIFF_NEED_MORE;

	for (size_t n = 0; n <= size; n++) {
		enum tls_sniff w = tls_sniff(data, n);
		if (prev != TLS_SNIFF_NEED_MORE)
			CHECK(w == prev);
		if (w == TLS_SNIFF_NEED_MORE)
			CHECK(n < TLS_SNIFF_BYTES);
		prev = w;
	}
	CHECK(v == prev);
	if (size >= TLS_SNIFF_BYTES)
		CHECK((v == TLS_SNIFF_TLS) ==
		      (data[0] == 0x16 && data[1] == 0x03 && data[2] >= 1 && data[2] <= 4));
	if (v == TLS_SNIFF_HTTP)
		CHECK(data[0] != 0x16 && data[0] >= 0x0a && data[0] < 0x7f);
	return 0;
}
