/* host.h - the Host header: syntax (RFC 9110 section 7.2, RFC 3986 section
 * 3.2.2) and the allowed_hosts allow-list.  Pure functions, no I/O. */
#ifndef MTH_HOST_H
#define MTH_HOST_H

#include <stdbool.h>
#include <stddef.h>

#define HOST_NAME_MAX_LEN 255

struct host_name {
	char name[HOST_NAME_MAX_LEN + 1]; /* lower-cased; IPv6 keeps brackets */
	int port;                         /* -1 when no port was given */
};

/* Parse "name", "name:port", "1.2.3.4:80", "[::1]:8080".  NAME is a reg-name
 * (letters, digits, '-', '.', '_', '~' and sub-delims are allowed by RFC 3986
 * but we accept only LDH names plus '.' and '_'), an IPv4 literal or a
 * bracketed IPv6 literal; PORT is 1..5 digits with a value of 1..65535.
 * One trailing dot is dropped ("localhost." is stored as "localhost"), so
 * the FQDN form matches the plain one.  IPv6 literals are kept as text
 * (lower-cased), not canonicalised: "[0::1]" does not equal "[::1]".
 * Returns 0 or -EINVAL; OUT is written only on success. */
int host_parse(const char *s, size_t len, struct host_name *out);

struct host_allow; /* opaque compiled allow-list */

/* Compile allowed_hosts entries; each must parse with host_parse.  On error
 * returns -EINVAL and names the bad entry in ERR.  An empty list allows no
 * name at all. */
int host_allow_new(char *const *entries, size_t n, struct host_allow **out,
		   char *err, size_t errlen);
void host_allow_free(struct host_allow *ha); /* accepts NULL */

enum host_verdict {
	HOST_OK,
	HOST_INVALID,   /* not a valid Host value: 400 */
	HOST_FORBIDDEN, /* valid but not allowed here: 403 */
};

/* Check a Host value (or an absolute-form authority) that arrived on a
 * connection accepted on local port CONN_PORT.  The name must match an
 * entry case-insensitively, and then the port:
 *   - an entry "name:port" matches exactly that port, whatever port the
 *     connection arrived on (a Host without a port means 80, the "http"
 *     scheme's default): for proxies and port forwarding;
 *   - a bare entry "name" matches a Host without a port, or with the port
 *     the connection arrived on (CONN_PORT).
 * An invalid VALUE is HOST_INVALID before any port or name test.  HA may
 * be NULL, which allows nothing, like an empty list. */
enum host_verdict host_check(const struct host_allow *ha, const char *value,
			     size_t len, unsigned conn_port);

/* The same with DEFAULT_PORT for a VALUE without a port: 443 for https
 * (RFC 9110 section 4.2.2), 80 for http. */
enum host_verdict host_check_port(const struct host_allow *ha, const char *value, size_t len,
				  unsigned conn_port, unsigned default_port);

#endif
