/* site.h - everything a request needs from one configuration generation.
 *
 * A site is built from a validated struct mth_config: the document root and
 * uploads directory opened as directory fds, the MIME table, the compiled
 * Host allow-list, the parser limits.  It is immutable and reference
 * counted: a connection holds a reference while it serves a request, so a
 * reload can swap in a new site while requests in flight finish on the old
 * one, which is freed when its last reference goes.  The only mutable part
 * is each root's file cache, which is internally locked; a new site starts
 * with empty caches, so a reload forgets every cached file. */
#ifndef MTH_SITE_H
#define MTH_SITE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "http_parse.h"
#include "static_file.h"

struct mime_table;
struct host_allow;
struct file_cache;
struct tls_ctx;

struct site {
	const struct mth_config *cfg; /* owned */
	int root_fd;                  /* O_PATH|O_DIRECTORY of document_root */
	int uploads_fd;               /* O_DIRECTORY of uploads_dir */
	bool uploads_in_memory;       /* tmpfs/ramfs: fsync never waits */
	struct mime_table *mime;
	struct host_allow *hosts;
	struct http_limits limits;
	struct file_cache *files;     /* what root_fd serves (file_cache.h) */
	struct file_cache *uploads;   /* what uploads_fd serves */
	struct static_file_types files_types;   /* MIME + download_extensions */
	struct static_file_types uploads_types; /* MIME only: uploads are JSON */
	struct tls_ctx *tls;          /* certificates (tls.h); NULL: no TLS */
	unsigned refs;                /* atomic */
};

/* Build a site from CFG and TLS (loaded from CFG's tls group by the caller;
 * NULL without one), taking ownership of both (freed on failure too).
 * Fails with a message in ERR when a directory cannot be opened. */
int site_new(struct mth_config *cfg, struct tls_ctx *tls, struct site **out, char *err,
	     size_t errlen);

struct site *site_ref(struct site *s);
void site_unref(struct site *s); /* accepts NULL; frees at zero */

/* The current site, as published by main (at start and on reload).
 * site_publish() takes over the caller's reference and drops the previous
 * site's; site_acquire() returns a new reference (never NULL once
 * published); site_generation() changes with every publish, so a connection
 * can notice a reload with one atomic load per request. */
void site_publish(struct site *s);
struct site *site_acquire(void);
unsigned site_generation(void);
/* Does the published site offer HTTP/2 (a tls group with tls.http2)?  An
 * HTTP/2 connection that outlives a reload turning it off says GOAWAY. */
bool site_h2_offered(void);

#endif
