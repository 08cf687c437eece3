/* fuzz_h2.c - libFuzzer target for the HTTP/2 session glue (src/h2.c).
 *
 * A server session with no socket (h2_fuzz_new): the client connection
 * preface, then the input as frames, fed in pieces whose sizes the first
 * byte chooses (a frame split anywhere must work).  Every request stream
 * goes through the glue's header collection and limits, the HTTP/1.1 head
 * it builds and the parser, and is answered "200 hello" through the same
 * response and data-provider code as a real one; what the session sends is
 * discarded.  Beyond memory safety (ASan, UBSan, LeakSanitizer: every
 * stream freed), the checks are nghttp2's own assertions. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t magic[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	struct h2_fuzz *f;
	size_t piece, off = 1;

	if (size < 1)
		return 0;
	/* 0: all at once; else pieces of 1..255 bytes */
	piece = data[0] ? data[0] : size;
	f = h2_fuzz_new();
	if (!f)
		return 0;
	h2_fuzz_feed(f, magic, sizeof magic - 1);
	while (off < size) {
		size_t n = size - off < piece ? size - off : piece;
		h2_fuzz_feed(f, data + off, n);
		off += n;
	}
	h2_fuzz_free(f);
	return 0;
}
