/* tls_sniff.c - TLS or plain HTTP on a connection's first bytes (see
 * tls_sniff.h). */
#include "tls_sniff.h"

#define TLS_RECORD_HANDSHAKE 0x16

/* RFC 9110 section 5.6.2 tchar, and CR/LF (empty lines may precede a
 * request line). */
static int http_start(unsigned char c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return 1;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
	case '-': case '.': case '^': case '_': case '`': case '|': case '~':
	case '\r': case '\n':
		return 1;
	default:
		return 0;
	}
}

enum tls_sniff tls_sniff(const unsigned char *p, size_t len)
{
	if (len == 0)
		return TLS_SNIFF_NEED_MORE;
	if (p[0] == TLS_RECORD_HANDSHAKE) {
		if (len < 2)
			return TLS_SNIFF_NEED_MORE;
		if (p[1] != 0x03)
			return TLS_SNIFF_OTHER;
		if (len < 3)
			return TLS_SNIFF_NEED_MORE;
		/* 0x03 0x00 is SSL 3.0, which nothing here speaks either way */
		return p[2] >= 0x01 && p[2] <= 0x04 ? TLS_SNIFF_TLS : TLS_SNIFF_OTHER;
	}
	return http_start(p[0]) ? TLS_SNIFF_HTTP : TLS_SNIFF_OTHER;
}
