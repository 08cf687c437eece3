/* proxy_proto.h - HAProxy's PROXY protocol, versions 1 (text) and 2
 * (binary), as a load balancer puts it in front of a TCP connection to say
 * who the client is (haproxy's doc/proxy-protocol.txt).
 *
 * A pure parser over the caller's buffer: bytes in, "need more / done /
 * error" out, no allocation, no I/O.  It accepts TCP4, TCP6 and UNKNOWN
 * (v1) and PROXY over INET/INET6 stream, LOCAL and the unspecified or
 * AF_UNIX families (v2); the last ones mean "use the connection's real
 * addresses". */
#ifndef MTH_PROXY_PROTO_H
#define MTH_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The longest v1 line, "PROXY TCP6 <39> <39> <5> <5>\r\n" (spec 2.1). */
#define PROXY_PROTO_V1_MAX 107
/* The fixed part of a v2 header: signature, version/command, family, length. */
#define PROXY_PROTO_V2_HEAD 16
/* A v2 header can be up to 16 + 65535 bytes long (TLVs included). */
#define PROXY_PROTO_V2_MAX (PROXY_PROTO_V2_HEAD + 65535)

enum proxy_proto_status {
	PROXY_PROTO_MORE,  /* a valid beginning: call again with more bytes */
	PROXY_PROTO_DONE,  /* a complete header: see struct proxy_proto_header */
	PROXY_PROTO_ERROR, /* not a PROXY header, or a malformed one */
};

struct proxy_proto_header {
	/* DONE: the header's bytes (the payload follows); MORE: the total
	 * length once known (v2 after its 16-byte head), else 0 */
	size_t length;
	int version; /* 1 or 2, once the signature is recognised */
	/* LOCAL, UNKNOWN, or the unspecified or unix family: use the
	 * connection's own addresses; SRC and DST are zero */
	bool local;
	struct sockaddr_storage src, dst; /* AF_INET or AF_INET6, with ports */
};

/* Parse the header at the start of BUF (LEN bytes).  OUT is always written
 * (zeroed first).  The outcome for a given header never depends on how many
 * bytes follow it: a strict prefix of a valid header is MORE, and once an
 * input is ERROR no appended bytes make it valid. */
enum proxy_proto_status proxy_proto_parse(const uint8_t *buf, size_t len,
					  struct proxy_proto_header *out);

/* True when BUF (LEN bytes) starts with the whole signature of either
 * version ("PROXY " or v2's 12 bytes): what a peer that is not a trusted
 * proxy must not send. */
bool proxy_proto_is_signature(const uint8_t *buf, size_t len);

#endif
