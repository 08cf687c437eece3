/* router.h - what to do with a parsed request: a pure decision.
 *
 * router_route() looks at the request head, the site's rules and the port the
 * connection arrived on, and says which handler serves it or which error
 * status to answer.  It does no I/O, so every rule is unit-tested. */
#ifndef MTH_ROUTER_H
#define MTH_ROUTER_H

#include <stdbool.h>

#include "http_parse.h"
#include "path.h"
#include "site.h"

#define ROUTE_PATH_MAX PATH_REL_MAX

enum route_kind {
	ROUTE_ERROR,       /* answer STATUS */
	ROUTE_STATIC,      /* GET/HEAD a file beneath document_root: REL */
	ROUTE_UPLOAD_GET,  /* GET/HEAD a stored upload: REL is its file name */
	ROUTE_UPLOAD_POST, /* POST /upload: read the body, validate, store */
	ROUTE_REDIRECT_TLS, /* cleartext with tls.redirect_http: 308 to https */
};

struct route {
	enum route_kind kind;
	int status;          /* ROUTE_ERROR: the status to answer */
	const char *message; /* ROUTE_ERROR: why, for the log and JSON bodies */
	const char *allow;   /* 405: the Allow field value */
	bool json;           /* the error belongs to the JSON upload API */
	bool security;       /* a security rejection: logged at warning */
	bool close;          /* the connection must close after the answer */
	bool head;           /* HEAD: headers only */
	int is_dir;          /* the target ended in '/' */
	char rel[ROUTE_PATH_MAX]; /* normalized relative path */
};

/* How a request arrived. */
struct route_conn {
	unsigned port;   /* the local port it was accepted on */
	bool tls;        /* over TLS: a Host without a port means 443 */
	const char *sni; /* TLS: the server name the client asked for, or NULL */
};

/* Decide for REQ, which arrived as RC says. */
void router_route_conn(const struct site *s, const struct http_request *req,
		       const struct route_conn *rc, struct route *out);

/* Cleartext on local port CONN_PORT. */
void router_route(const struct site *s, const struct http_request *req, unsigned conn_port,
		  struct route *out);

#endif
