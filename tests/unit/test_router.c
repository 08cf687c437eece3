/* test_router.c - every routing rule, through the real parser. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "router.h"

#define PORT 8080

static struct mth_config cfg;
static struct site site;
static char h0[] = "localhost", h1[] = "127.0.0.1", h2[] = "[::1]", h3[] = "example.org:8080";
static char e0[] = "png", e1[] = "txt";
static char *hosts[] = { h0, h1, h2, h3 };
static char *exts[] = { e0, e1 };

static void setup(void)
{
	char err[128];

	cfg.max_body_size = 100;
	cfg.max_path_depth = 3;
	cfg.allowed_hosts = hosts;
	cfg.n_allowed_hosts = 4;
	cfg.download_extensions = exts;
	cfg.n_download_extensions = 2;
	site.cfg = &cfg;
	site.limits = http_default_limits;
	cr_assert_eq(host_allow_new(hosts, 4, &site.hosts, err, sizeof err), 0, "%s", err);
}

static void teardown(void)
{
	host_allow_free(site.hosts);
}

TestSuite(router, .init = setup, .fini = teardown);

/* Parse RAW (a whole head) and route it. */
static void route(const char *raw, struct route *r)
{
	struct http_request req;
	int status = 0;

	cr_assert_eq(http_parse_request(raw, strlen(raw), NULL, &req, &status), HTTP_PARSE_DONE,
		     "did not parse (%d): %s", status, raw);
	router_route(&site, &req, PORT, r);
}

static void expect_error(const char *raw, int status)
{
	struct route r;

	route(raw, &r);
	cr_assert_eq(r.kind, ROUTE_ERROR, "%s: kind %d", raw, r.kind);
	cr_assert_eq(r.status, status, "%s: %d, want %d", raw, r.status, status);
}

Test(router, static_get_and_head)
{
	struct route r;

	route("GET /about.html HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", &r);
	cr_assert_eq(r.kind, ROUTE_STATIC);
	cr_assert_str_eq(r.rel, "about.html");
	cr_assert_not(r.head);
	cr_assert_not(r.close);
	route("HEAD / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", &r);
	cr_assert_eq(r.kind, ROUTE_STATIC);
	cr_assert_str_eq(r.rel, "");
	cr_assert(r.is_dir);
	cr_assert(r.head);
}

Test(router, unknown_method_501_known_405)
{
	struct route r;

	expect_error("BREW / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", 501);
	route("DELETE / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", &r);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(r.allow, "GET, HEAD, POST");
}

Test(router, host_rules)
{
	struct route r;

	expect_error("GET / HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n", 403);
	expect_error("GET / HTTP/1.1\r\nHost: localhost:8081\r\n\r\n", 403);
	expect_error("GET / HTTP/1.1\r\nHost: localhost:80\r\n\r\n", 403);
	/* a bare allowed name matches a Host without a port */
	route("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", &r);
	cr_assert_eq(r.kind, ROUTE_STATIC);
	expect_error("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nHost: \r\n\r\n", 400);
	route("GET / HTTP/1.1\r\nHost: Example.ORG:8080\r\n\r\n", &r);
	cr_assert_eq(r.kind, ROUTE_STATIC);
	route("GET / HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n", &r);
	cr_assert(r.security);
	/* absolute-form: the authority decides, not Host */
	expect_error("GET http://evil.example:8080/ HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", 403);
	route("GET http://localhost:8080/x.txt HTTP/1.1\r\nHost: evil\r\n\r\n", &r);
	cr_assert_eq(r.kind, ROUTE_STATIC);
	cr_assert_str_eq(r.rel, "x.txt");
	/* HTTP/1.0 without Host names no host: allowed */
	route("GET / HTTP/1.0\r\n\r\n", &r);
	cr_assert_eq(r.kind, ROUTE_STATIC);
}

Test(router, host_is_checked_before_anything_else)
{
	expect_error("POST /upload HTTP/1.1\r\nHost: evil:8080\r\nContent-Type: text/plain\r\n"
		     "Content-Length: 5\r\n\r\n",
		     403);
	expect_error("GET /../x HTTP/1.1\r\nHost: evil:8080\r\n\r\n", 403);
}

Test(router, traversal_is_403_and_a_security_event)
{
	struct route r;

	route("GET /../etc/passwd HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", &r);
	cr_assert_eq(r.status, 403);
	cr_assert(r.security);
	expect_error("GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", 403);
	expect_error("GET /a%00b HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", 403);
	expect_error("GET /a\\b HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", 403);
	expect_error("GET /%zz HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", 400);
}

Test(router, upload_post_rules)
{
	struct route r;

	route("POST /upload HTTP/1.1\r\nHost: localhost:8080\r\nContent-Type: application/json\r\n"
	      "Content-Length: 5\r\n\r\n",
	      &r);
	cr_assert_eq(r.kind, ROUTE_UPLOAD_POST);
	route("POST /upload?x=1 HTTP/1.1\r\nHost: localhost:8080\r\n"
	      "Content-Type: Application/JSON; charset=utf-8\r\nContent-Length: 5\r\n\r\n",
	      &r);
	cr_assert_eq(r.kind, ROUTE_UPLOAD_POST);

	route("POST /upload HTTP/1.1\r\nHost: localhost:8080\r\nContent-Type: text/plain\r\n"
	      "Content-Length: 5\r\n\r\n",
	      &r);
	cr_assert_eq(r.status, 415);
	cr_assert(r.json);
	cr_assert(r.close);
	expect_error("POST /upload HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 5\r\n\r\n",
		     415);
	expect_error("POST /upload HTTP/1.1\r\nHost: localhost:8080\r\n"
		     "Content-Type: application/json\r\n\r\n",
		     411);
	route("POST /upload HTTP/1.1\r\nHost: localhost:8080\r\n"
	      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
	      &r);
	cr_assert_eq(r.kind, ROUTE_UPLOAD_POST, "chunked bodies are accepted");
	expect_error("POST /upload HTTP/1.1\r\nHost: localhost:8080\r\n"
		     "Content-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n",
		     501);
	expect_error("POST /upload HTTP/1.1\r\nHost: localhost:8080\r\n"
		     "Content-Type: application/json\r\nContent-Length: 101\r\n\r\n",
		     413);
	route("POST /upload HTTP/1.1\r\nHost: localhost:8080\r\n"
	      "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n",
	      &r);
	cr_assert_eq(r.kind, ROUTE_UPLOAD_POST, "exactly max_body_size is accepted");
}

Test(router, post_elsewhere_405)
{
	struct route r;

	route("POST /index.html HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 2\r\n\r\n", &r);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(r.allow, "GET, HEAD");
	cr_assert(r.close);
	route("POST /upload/ HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 2\r\n\r\n", &r);
	cr_assert_eq(r.status, 405);
	route("GET /upload HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", &r);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(r.allow, "POST");
}

Test(router, uploads_are_served_by_name_only)
{
	struct route r;

	route("GET /uploads/upload_20261125T203047Z_0123456789abcdef.json HTTP/1.1\r\n"
	      "Host: localhost:8080\r\n\r\n",
	      &r);
	cr_assert_eq(r.kind, ROUTE_UPLOAD_GET);
	cr_assert_str_eq(r.rel, "upload_20261125T203047Z_0123456789abcdef.json");
	expect_error("GET /uploads/ HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", 404);
	expect_error("GET /uploads HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", 404);
	expect_error("GET /uploads/.gitignore HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", 404);
	expect_error("GET /uploads/sub/upload_20261125T203047Z_0123456789abcdef.json HTTP/1.1\r\n"
		     "Host: localhost:8080\r\n\r\n",
		     404);
}

Test(router, get_with_a_body_closes)
{
	struct route r;

	route("GET / HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 3\r\n\r\n", &r);
	cr_assert_eq(r.kind, ROUTE_STATIC);
	cr_assert(r.close, "the unread body must not be parsed as a request");
	route("GET / HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 0\r\n\r\n", &r);
	cr_assert_not(r.close);
}

Test(router, path_depth_limit)
{
	struct route r;

	route("GET /a/b/c HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", &r);
	cr_assert_eq(r.kind, ROUTE_STATIC, "three segments are within max_path_depth");
	expect_error("GET /a/b/c/d HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", 414);
	route("GET /a//b/c/ HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", &r);
	cr_assert_eq(r.kind, ROUTE_STATIC, "empty segments do not count");
	/* long names: few segments in many bytes */
	route("GET /aaaaaaaaaa/bbbbbbbbbb/cccccccccc HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", &r);
	cr_assert_eq(r.kind, ROUTE_STATIC);
	expect_error(
		"GET /aaaaaaaaaa/bbbbbbbbbb/cccccccccc/d HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
		414);
	route("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: "
	      "localhost:8080\r\n\r\n",
	      &r);
	cr_assert_eq(r.kind, ROUTE_STATIC);
}

/* The special names are matched whole, never as prefixes. */
Test(router, upload_names_match_whole)
{
	struct route r;

	route("GET /uploadsx HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", &r);
	cr_assert_eq(r.kind, ROUTE_STATIC);
	cr_assert_str_eq(r.rel, "uploadsx");
	route("GET /uploadx HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", &r);
	cr_assert_eq(r.kind, ROUTE_STATIC);
	route("GET /uploa HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", &r);
	cr_assert_eq(r.kind, ROUTE_STATIC);
	expect_error("GET /upload HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", 405);
	expect_error("GET /%75pload HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", 405);
	expect_error("POST /upload/ HTTP/1.1\r\nHost: localhost:8080\r\n"
		     "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n",
		     405);
	expect_error("POST /uploads HTTP/1.1\r\nHost: localhost:8080\r\n"
		     "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n",
		     405);
	route("GET /uploads/upload_20261125T203047Z_0123456789abcdef.json?x HTTP/1.1\r\n"
	      "Host: localhost:8080\r\n\r\n",
	      &r);
	cr_assert_eq(r.kind, ROUTE_UPLOAD_GET);
	cr_assert_str_eq(r.rel, "upload_20261125T203047Z_0123456789abcdef.json");
}

/* ---- TLS: Host vs SNI, the https default port, redirect_http ----------- */

static void route_on(const char *raw, const struct route_conn *rc, struct route *r)
{
	struct http_request req;
	int status = 0;

	cr_assert_eq(http_parse_request(raw, strlen(raw), NULL, &req, &status), HTTP_PARSE_DONE,
		     "did not parse (%d): %s", status, raw);
	router_route_conn(&site, &req, rc, r);
}

Test(router, host_must_agree_with_sni)
{
	const struct route_conn rc = { .port = 443, .tls = true, .sni = "localhost" };
	const struct route_conn dot = { .port = 443, .tls = true, .sni = "LOCALHOST." };
	struct route r;

	route_on("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", &rc, &r);
	cr_assert_eq(r.kind, ROUTE_STATIC, "no port over TLS means 443");
	route_on("GET / HTTP/1.1\r\nHost: LocalHost.:443\r\n\r\n", &dot, &r);
	cr_assert_eq(r.kind, ROUTE_STATIC, "case and a trailing dot do not matter");
	route_on("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", &rc, &r);
	cr_assert_eq(r.kind, ROUTE_ERROR);
	cr_assert_eq(r.status, 421);
	cr_assert(r.close);
	route_on("GET http://127.0.0.1/ HTTP/1.1\r\nHost: localhost\r\n\r\n", &rc, &r);
	cr_assert_eq(r.status, 421, "the absolute-form authority is what names the server");
	route_on("GET / HTTP/1.1\r\nHost: bad host\r\n\r\n", &rc, &r);
	cr_assert_eq(r.status, 400, "an invalid Host stays 400");
}

Test(router, without_sni_the_host_decides_alone)
{
	const struct route_conn tls = { .port = 443, .tls = true };
	struct route r;

	route_on("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", &tls, &r);
	cr_assert_eq(r.kind, ROUTE_STATIC);
	route_on("GET / HTTP/1.1\r\nHost: example.org:8080\r\n\r\n", &tls, &r);
	cr_assert_eq(r.kind, ROUTE_STATIC);
}

Test(router, redirect_http_only_for_cleartext_with_a_good_host)
{
	const struct route_conn clear = { .port = PORT };
	const struct route_conn tls = { .port = PORT, .tls = true };
	struct route r;

	cfg.tls.enabled = true;
	cfg.tls.redirect_http = true;
	route_on("GET /a?b HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", &clear, &r);
	cr_assert_eq(r.kind, ROUTE_REDIRECT_TLS);
	cr_assert_not(r.close);
	route_on("POST /upload HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 5\r\n\r\n",
		 &clear, &r);
	cr_assert_eq(r.kind, ROUTE_REDIRECT_TLS, "308 keeps the method");
	cr_assert(r.close, "the body is not read");
	route_on("GET / HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n", &clear, &r);
	cr_assert_eq(r.status, 403, "no redirect for a Host we do not serve");
	route_on("GET / HTTP/1.0\r\n\r\n", &clear, &r);
	cr_assert_eq(r.kind, ROUTE_STATIC, "no name to redirect to");
	route_on("GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", &tls, &r);
	cr_assert_eq(r.kind, ROUTE_STATIC, "TLS requests are served");
	cfg.tls.redirect_http = false;
	route_on("GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", &clear, &r);
	cr_assert_eq(r.kind, ROUTE_STATIC);
	cfg.tls.enabled = false;
}
