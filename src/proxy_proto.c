/* proxy_proto.c - PROXY protocol v1/v2 parser (see proxy_proto.h).
 *
 * Section numbers refer to haproxy's doc/proxy-protocol.txt. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proxy_proto.h"

static const uint8_t v1_sig[] = "PROXY ";
#define V1_SIG_LEN (sizeof(v1_sig) - 1)

/* 2.2: "\r\n\r\n\0\r\nQUIT\n" */
static const uint8_t v2_sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
				    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

enum { V2_CMD_LOCAL = 0x0, V2_CMD_PROXY = 0x1 };
enum { V2_AF_UNSPEC = 0x0, V2_AF_INET = 0x1, V2_AF_INET6 = 0x2, V2_AF_UNIX = 0x3 };
enum { V2_PROTO_UNSPEC = 0x0, V2_PROTO_STREAM = 0x1, V2_PROTO_DGRAM = 0x2 };
/* 2.2: address block sizes of each family */
#define V2_LEN_INET 12
#define V2_LEN_INET6 36
#define V2_LEN_UNIX 216

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

bool proxy_proto_is_signature(const uint8_t *buf, size_t len)
{
	return (len >= V1_SIG_LEN && memcmp(buf, v1_sig, V1_SIG_LEN) == 0) ||
	       (len >= sizeof(v2_sig) && memcmp(buf, v2_sig, sizeof(v2_sig)) == 0);
}

/* A v1 port: 1 to 5 digits, no leading zero (but "0"), at most 65535. */
static int v1_port(const char *s, size_t n, uint16_t *port)
{
	unsigned v = 0;

	if (n < 1 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* One address of family AF into SS (port set later). */
static int v1_addr(int af, const char *s, size_t n, struct sockaddr_storage *ss)
{
	char tmp[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		return inet_pton(AF_INET, tmp, &sin->sin_addr) == 1 ? 0 : -1;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		return inet_pton(AF_INET6, tmp, &sin6->sin6_addr) == 1 ? 0 : -1;
	}
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* Split LINE (N bytes, without CRLF) at single spaces into at most MAX
 * fields.  Returns the count, or -1 on an empty field (two spaces, a
 * leading or trailing space) or too many. */
static int split_fields(const char *line, size_t n, const char **f, size_t *fl, int max)
{
	int count = 0;
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && line[i] != ' ')
			continue;
		if (i == start || count == max)
			return -1;
		f[count] = line + start;
		fl[count] = i - start;
		count++;
		start = i + 1;
	}
	return count;
}

/* 2.1: "PROXY" SP proto SP src SP dst SP sport SP dport CRLF, at most 107
 * bytes; "PROXY UNKNOWN" may be followed by anything up to the CRLF. */
static enum proxy_proto_status parse_v1(const uint8_t *buf, size_t len,
					struct proxy_proto_header *out)
{
	size_t scan = min_size(len, PROXY_PROTO_V1_MAX), eol, ll;
	const char *line = (const char *)buf + V1_SIG_LEN, *f[5];
	size_t fl[5];
	uint16_t sport, dport;
	int af, n;

	out->version = 1;
	/* Every byte up to the CR must be printable: a NUL or a bare LF is
	 * an error at once, whatever follows. */
	for (eol = V1_SIG_LEN; eol < scan; eol++) {
		if (buf[eol] == '\r')
			break;
		if (buf[eol] < 0x20 || buf[eol] > 0x7e)
			return PROXY_PROTO_ERROR;
	}
	if (eol + 1 >= scan)
		return len >= PROXY_PROTO_V1_MAX ? PROXY_PROTO_ERROR : PROXY_PROTO_MORE;
	if (buf[eol + 1] != '\n')
		return PROXY_PROTO_ERROR;
	out->length = eol + 2;

	/* "UNKNOWN": the rest of the line is ignored (2.1) */
	ll = eol - V1_SIG_LEN;
	if (ll >= 7 && memcmp(line, "UNKNOWN", 7) == 0 && (ll == 7 || line[7] == ' ')) {
		out->local = true;
		return PROXY_PROTO_DONE;
	}
	n = split_fields(line, ll, f, fl, 5);
	if (n != 5)
		return PROXY_PROTO_ERROR;
	if (fl[0] == 4 && memcmp(f[0], "TCP4", 4) == 0)
		af = AF_INET;
	else if (fl[0] == 4 && memcmp(f[0], "TCP6", 4) == 0)
		af = AF_INET6;
	else
		return PROXY_PROTO_ERROR;
	if (v1_addr(af, f[1], fl[1], &out->src) < 0 || v1_addr(af, f[2], fl[2], &out->dst) < 0 ||
	    v1_port(f[3], fl[3], &sport) < 0 || v1_port(f[4], fl[4], &dport) < 0)
		return PROXY_PROTO_ERROR;
	set_port(&out->src, sport);
	set_port(&out->dst, dport);
	return PROXY_PROTO_DONE;
}

/* Every TLV (type, 16-bit length, value) must lie exactly within the rest
 * of the header (2.2.7); we use none of them. */
static bool v2_tlvs_valid(const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t vlen;

		if (n < 3)
			return false;
		vlen = (size_t)p[1] << 8 | p[2];
		if (vlen > n - 3)
			return false;
		p += 3 + vlen;
		n -= 3 + vlen;
	}
	return true;
}

static enum proxy_proto_status parse_v2(const uint8_t *buf, size_t len,
					struct proxy_proto_header *out)
{
	unsigned cmd, fam, proto;
	size_t body;
	const uint8_t *a;

	out->version = 2;
	/* reject as soon as the byte that is wrong is there */
	if (len > 12 && ((buf[12] >> 4) != 2 || (buf[12] & 0xf) > V2_CMD_PROXY))
		return PROXY_PROTO_ERROR;
	if (len > 13 && ((buf[13] >> 4) > V2_AF_UNIX || (buf[13] & 0xf) > V2_PROTO_DGRAM))
		return PROXY_PROTO_ERROR;
	if (len < PROXY_PROTO_V2_HEAD)
		return PROXY_PROTO_MORE;
	cmd = buf[12] & 0xf;
	fam = buf[13] >> 4;
	proto = buf[13] & 0xf;
	body = (size_t)buf[14] << 8 | buf[15];
	out->length = PROXY_PROTO_V2_HEAD + body;
	/* a length too short for the family is wrong whatever follows */
	if (cmd == V2_CMD_PROXY && ((fam == V2_AF_INET && body < V2_LEN_INET) ||
				    (fam == V2_AF_INET6 && body < V2_LEN_INET6) ||
				    (fam == V2_AF_UNIX && body < V2_LEN_UNIX)))
		return PROXY_PROTO_ERROR;
	/* an HTTP server only speaks stream protocols */
	if (cmd == V2_CMD_PROXY && fam != V2_AF_UNSPEC && proto != V2_PROTO_STREAM)
		return PROXY_PROTO_ERROR;
	if (len < out->length)
		return PROXY_PROTO_MORE;

	a = buf + PROXY_PROTO_V2_HEAD;
	/* 2.2: LOCAL: "the receiver must ... use the real connection
	 * endpoints and discard the protocol block including the family";
	 * the same for UNSPEC; AF_UNIX addresses say nothing about a TCP
	 * client either. */
	if (cmd == V2_CMD_LOCAL || fam == V2_AF_UNSPEC || fam == V2_AF_UNIX) {
		out->local = true;
		return PROXY_PROTO_DONE;
	}
	if (fam == V2_AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&out->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&out->dst;

		if (!v2_tlvs_valid(a + V2_LEN_INET, body - V2_LEN_INET))
			return PROXY_PROTO_ERROR;
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2); /* both in network order */
		memcpy(&d->sin_port, a + 10, 2);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&out->dst;

		if (!v2_tlvs_valid(a + V2_LEN_INET6, body - V2_LEN_INET6))
			return PROXY_PROTO_ERROR;
		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
	}
	return PROXY_PROTO_DONE;
}

enum proxy_proto_status proxy_proto_parse(const uint8_t *buf, size_t len,
					  struct proxy_proto_header *out)
{
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return PROXY_PROTO_MORE;
	if (memcmp(buf, v1_sig, min_size(len, V1_SIG_LEN)) == 0)
		return len < V1_SIG_LEN ? PROXY_PROTO_MORE : parse_v1(buf, len, out);
	if (memcmp(buf, v2_sig, min_size(len, sizeof(v2_sig))) == 0)
		return len < sizeof(v2_sig) ? PROXY_PROTO_MORE : parse_v2(buf, len, out);
	return PROXY_PROTO_ERROR;
}
