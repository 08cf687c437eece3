/* tls_sniff.h - TLS or plain HTTP?  Decided on a connection's first bytes.
 *
 * Pure: buffer in, verdict out, so a fuzzer and unit tests can hammer it.
 * A TLS connection starts with a handshake record (RFC 8446 section 5.1:
 * content type 22, then legacy_record_version 0x03 0x01..0x04 for every
 * ClientHello a TLS 1.0-1.3 client sends); an HTTP/1.x request starts with
 * a method token (RFC 9110 section 9.1: tchar, in practice upper-case
 * letters), possibly after empty lines (RFC 9112 section 2.2). */
#ifndef MTH_TLS_SNIFF_H
#define MTH_TLS_SNIFF_H

#include <stddef.h>

enum tls_sniff {
	TLS_SNIFF_NEED_MORE, /* too few bytes to tell (only for a TLS prefix) */
	TLS_SNIFF_TLS,       /* a TLS handshake record */
	TLS_SNIFF_HTTP,      /* looks like an HTTP request line */
	TLS_SNIFF_OTHER,     /* neither: garbage, an SSLv2 hello, an alert */
};

/* The verdict on the LEN first bytes of a connection (LEN may be 0). */
enum tls_sniff tls_sniff(const unsigned char *p, size_t len);

/* Bytes tls_sniff() wants to see at most to decide. */
#define TLS_SNIFF_BYTES 3

#endif
