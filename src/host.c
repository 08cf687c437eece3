/* host.c - the Host header (RFC 9110 section 7.2) and the allowed_hosts
 * allow-list.
 *
 * Host = uri-host [ ":" port ], with uri-host = IP-literal / IPv4address /
 * reg-name (RFC 3986 section 3.2.2).  We accept a deliberately narrower
 * reg-name than RFC 3986 (no '~', no sub-delims, no percent-encoding): a
 * name that could be in DNS or /etc/hosts is all a web server needs to
 * match, and everything else is more likely an attack than a client.
 *
 * A fully qualified name may end in a dot ("localhost."); it names the same
 * host, so host_parse() strips one trailing dot and both sides of every
 * comparison are in that canonical form. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

#define HOST_PORT_MAX_DIGITS 5
#define HOST_HTTP_PORT 80 /* RFC 9110 section 4.2.1: the "http" default */

struct host_allow {
	size_t n;
	struct {
		struct host_name h;
		size_t len; /* of h.name */
	} entries[];	    /* n of them */
};

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The reg-name bytes we accept, lower-cased; 0 for every other byte. */
/* clang-format off */
static const char reg_name_lower[256] = {
	['-'] = '-', ['.'] = '.', ['_'] = '_',
	['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',
	['5'] = '5', ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9',
	['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd', ['E'] = 'e', ['F'] = 'f',
	['G'] = 'g', ['H'] = 'h', ['I'] = 'i', ['J'] = 'j', ['K'] = 'k', ['L'] = 'l',
	['M'] = 'm', ['N'] = 'n', ['O'] = 'o', ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r',
	['S'] = 's', ['T'] = 't', ['U'] = 'u', ['V'] = 'v', ['W'] = 'w', ['X'] = 'x',
	['Y'] = 'y', ['Z'] = 'z',
	['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e', ['f'] = 'f',
	['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j', ['k'] = 'k', ['l'] = 'l',
	['m'] = 'm', ['n'] = 'n', ['o'] = 'o', ['p'] = 'p', ['q'] = 'q', ['r'] = 'r',
	['s'] = 's', ['t'] = 't', ['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x',
	['y'] = 'y', ['z'] = 'z',
};
/* clang-format on */

/* port = 1..5 DIGIT, value 1..65535.  Port 0 cannot be connected to, so
 * it cannot legitimately appear in a Host header.  Leading zeros ("080")
 * are allowed, as RFC 3986 section 3.2.3 allows them. */
static int parse_port(const char *s, size_t len)
{
	int v = 0;

	if (len == 0 || len > HOST_PORT_MAX_DIGITS)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -EINVAL;
	return v;
}

/* "[" IPv6address "]": the inside must be what inet_pton(AF_INET6) accepts.
 * IPvFuture and zone identifiers (RFC 6874) are not accepted.  Returns the
 * length of the literal including both brackets. */
static int parse_ipv6_literal(const char *s, size_t len, struct host_name *out)
{
	char buf[INET6_ADDRSTRLEN + 1];
	struct in6_addr addr;
	const char *close;
	size_t inner;

	close = memchr(s, ']', len);
	if (!close)
		return -EINVAL;
	inner = (size_t)(close - s) - 1;
	if (inner == 0 || inner >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s + 1, inner);
	buf[inner] = '\0';
	/* inet_pton stops at a NUL; an embedded one would hide trailing junk */
	if (strlen(buf) != inner || inet_pton(AF_INET6, buf, &addr) != 1)
		return -EINVAL;

	for (size_t i = 0; i < inner + 2; i++)
		out->name[i] = ascii_lower(s[i]);
	out->name[inner + 2] = '\0';
	return (int)inner + 2;
}

/* Validates and lower-cases in one pass; OUT->name may hold a partial
 * name when this fails.  *NAME_LEN is the length of OUT->name. */
static int parse_reg_name(const char *s, size_t len, struct host_name *out, size_t *name_len)
{
	size_t lim = len < sizeof out->name ? len : sizeof out->name, n, keep;

	for (n = 0; n < lim; n++) {
		char c = reg_name_lower[(unsigned char)s[n]];

		if (!c)
			break;
		out->name[n] = c;
	}
	/* the name ends at ':' or at the end; anything else is a byte we do
	 * not accept, or a name too long even without a trailing dot */
	if (n < len && s[n] != ':')
		return -EINVAL;
	/* one trailing dot: "localhost." is the FQDN form of "localhost" */
	keep = n > 0 && s[n - 1] == '.' ? n - 1 : n;
	if (keep == 0 || keep > HOST_NAME_MAX_LEN)
		return -EINVAL;
	out->name[keep] = '\0';
	*name_len = keep;
	return (int)n;
}

/* host_parse() without its guarantee that OUT is untouched on failure;
 * *NAME_LEN is the length of OUT->name. */
static int parse(const char *s, size_t len, struct host_name *out, size_t *name_len)
{
	int used, port = -1;

	if (!s || len == 0)
		return -EINVAL;
	if (s[0] == '[') {
		used = parse_ipv6_literal(s, len, out);
		*name_len = used < 0 ? 0 : (size_t)used;
	} else {
		used = parse_reg_name(s, len, out, name_len);
	}
	if (used < 0)
		return used;

	if ((size_t)used < len) {
		/* the only thing that may follow the name is ":" port */
		if (s[used] != ':')
			return -EINVAL;
		port = parse_port(s + used + 1, len - (size_t)used - 1);
		if (port < 0)
			return port;
	}
	out->port = port;
	return 0;
}

int host_parse(const char *s, size_t len, struct host_name *out)
{
	struct host_name tmp;
	size_t n;
	int r = parse(s, len, &tmp, &n);

	if (r == 0)
		*out = tmp;
	return r;
}

int host_allow_new(char *const *entries, size_t n, struct host_allow **out, char *err,
		   size_t errlen)
{
	struct host_allow *ha;

	*out = NULL;
	ha = calloc(1, sizeof(*ha) + n * sizeof(ha->entries[0]));
	if (!ha) {
		if (err && errlen)
			snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const char *e = entries[i] ? entries[i] : "";

		if (host_parse(e, strlen(e), &ha->entries[i].h) < 0) {
			if (err && errlen)
				snprintf(err, errlen, "invalid allowed_hosts entry '%s'", e);
			free(ha);
			return -EINVAL;
		}
		ha->entries[i].len = strlen(ha->entries[i].h.name);
	}
	ha->n = n;
	*out = ha;
	return 0;
}

void host_allow_free(struct host_allow *ha)
{
	free(ha);
}

enum host_verdict host_check(const struct host_allow *ha, const char *value, size_t len,
			     unsigned conn_port)
{
	return host_check_port(ha, value, len, conn_port, HOST_HTTP_PORT);
}

enum host_verdict host_check_port(const struct host_allow *ha, const char *value, size_t len,
				  unsigned conn_port, unsigned default_port)
{
	struct host_name h;
	size_t n;

	if (parse(value, len, &h, &n) < 0)
		return HOST_INVALID;
	if (!ha) /* no list compiled: same as an empty list */
		return HOST_FORBIDDEN;
	/* The port is part of the origin (RFC 9110 section 4.3.1), and a Host
	 * naming another server is refused (section 7.4).  Which ports are
	 * ours is the allow-list's to say: behind anything that changes the
	 * port (a reverse proxy, docker -p 80:8080, a REDIRECT from 80 to
	 * 8080) the client's Host names the port it connected to, not ours. */
	for (size_t i = 0; i < ha->n; i++) {
		const struct host_name *e = &ha->entries[i].h;

		/* both names are lower-cased and without a trailing dot */
		if (ha->entries[i].len != n || memcmp(e->name, h.name, n) != 0)
			continue;
		if (e->port >= 0) {
			/* "name:port": exactly that port, wherever the
			 * connection arrived; no port in Host means the
			 * scheme's (80, or 443 over TLS) */
			if ((h.port < 0 ? (int)default_port : h.port) == e->port)
				return HOST_OK;
		} else if (h.port < 0 || (unsigned)h.port == conn_port) {
			/* a bare name: the port we listen on, or none */
			return HOST_OK;
		}
	}
	return HOST_FORBIDDEN;
}
