/* fuzz_host.c - libFuzzer target for host_parse() and host_check()
 * (src/host.c).
 *
 * An accepted name is lower-case, at most HOST_NAME_MAX_LEN bytes, and
 * (unless it still ends in a dot) parses again to itself; host_check() says
 * HOST_INVALID exactly when host_parse() fails, and otherwise exactly what
 * the port rule of host.h says for the list below: a bare name allows no
 * port and the connection's, "name:port" exactly that port (none = 80) on
 * any connection. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct host_allow *allow;

static void init(void)
{
	/* host_allow_new() takes char *const * (as libconfig hands them out) */
	static char e0[] = "localhost", e1[] = "127.0.0.1", e2[] = "[::1]",
		    e3[] = "example.com:8080", e4[] = "www.example.org.";
	static char *const entries[] = { e0, e1, e2, e3, e4 };
	char err[128];

	if (allow)
		return;
	CHECK(host_allow_new(entries, sizeof(entries) / sizeof(entries[0]), &allow, err,
			     sizeof(err)) == 0);
}

/* The verdict host.h's rule gives H (parsed) on a connection to PORT,
 * for the entries of init(). */
static enum host_verdict expected(const struct host_name *h, unsigned port)
{
	static const char *const bare[] = { "localhost", "127.0.0.1", "[::1]", "www.example.org" };

	if (strcmp(h->name, "example.com") == 0)
		return (h->port < 0 ? 80 : h->port) == 8080 ? HOST_OK : HOST_FORBIDDEN;
	for (size_t i = 0; i < sizeof(bare) / sizeof(bare[0]); i++)
		if (strcmp(h->name, bare[i]) == 0)
			return h->port < 0 || (unsigned)h->port == port ? HOST_OK : HOST_FORBIDDEN;
	return HOST_FORBIDDEN;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned ports[] = { 80, 8080, 443 };
	struct host_name h, h2;
	char *in = malloc(size ? size : 1), again[HOST_NAME_MAX_LEN + 16];
	int r;

	init();
	CHECK(in);
	memcpy(in, data, size);
	r = host_parse(in, size, &h);
	if (r == 0) {
		size_t n = strlen(h.name);
		int len;

		CHECK(n > 0 && n <= HOST_NAME_MAX_LEN);
		CHECK(h.port == -1 || (h.port >= 1 && h.port <= 65535));
		for (size_t i = 0; i < n; i++)
			CHECK(!(h.name[i] >= 'A' && h.name[i] <= 'Z'));
		/* The canonical form parses to itself.  Exactly one trailing
		 * dot is dropped (host.h): "a.." is kept as "a.", which would
		 * lose one more dot when parsed again. */
		if (h.name[n - 1] != '.') {
			if (h.port < 0)
				len = snprintf(again, sizeof(again), "%s", h.name);
			else
				len = snprintf(again, sizeof(again), "%s:%d", h.name, h.port);
			CHECK(len > 0 && (size_t)len < sizeof(again));
			CHECK(host_parse(again, (size_t)len, &h2) == 0);
			CHECK(strcmp(h.name, h2.name) == 0 && h.port == h2.port);
		}
	}
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		enum host_verdict v = host_check(allow, in, size, ports[i]);

		CHECK(v == HOST_OK || v == HOST_INVALID || v == HOST_FORBIDDEN);
		CHECK((v == HOST_INVALID) == (r != 0));
		if (r == 0)
			CHECK(v == expected(&h, ports[i]));
		CHECK(host_check(NULL, in, size, ports[i]) != HOST_OK);
	}
	free(in);
	return 0;
}
