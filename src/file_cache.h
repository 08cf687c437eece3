/* file_cache.h - the files a site serves, looked up without a syscall.
 *
 * One cache per root (document root, uploads directory), owned by the site:
 * a reload builds a new site and so starts with empty caches.  An entry is
 * keyed by the relative path the router produced (and whether it ended in
 * '/') and holds what static_file_open() found: size, inode, mtime, content
 * type, attachment flag and name, the ETag and Last-Modified text, and for a
 * regular file of at most FILE_CACHE_FILE_MAX bytes its content.
 *
 * Freshness: an entry is trusted for FILE_CACHE_TTL_MS after the stat that
 * confirmed it.  The first lookup after that calls static_file_open() again
 * (openat2 RESOLVE_BENEATH: the same path security as without a cache) and
 * compares inode, size and mtime: unchanged, the entry is trusted for
 * another period; changed, it is rebuilt (content re-read); gone, refused or
 * no longer a regular file, it is dropped and the status is answered.
 * A file modified less than a second before it is read is not kept: it may
 * still be being written (a truncated or half-written snapshot must not be
 * served for a whole second), and a write within the same timestamp tick
 * would not change its metadata.  Such a lookup returns an entry of its own
 * (read afresh, as without a cache) that only the caller holds.
 * Only 200 results are cached: a 301/403/404 costs an open as without a
 * cache, and request names that do not exist cannot fill the cache.
 *
 * Threads: lookups from any number of workers.  Entries live in sharded
 * hash tables, one mutex per shard, held for a few pointer operations (no
 * syscall, no allocation under a lock).  Entries are immutable once
 * published, and reference counted: the table holds one reference, every
 * successful lookup returns one more, which the caller gives back with
 * file_cache_put() once it no longer reads the entry's bytes, so a response
 * can keep sending them while another thread replaces or evicts the entry.
 *
 * Bounds: at most max_entries entries and max_bytes bytes (content plus
 * bookkeeping) are held by the table, split evenly over the shards; beyond
 * that the least recently used entries of the shard are dropped.  Entries a
 * response still holds are freed when it lets go.
 *
 * Open files: an entry of a file too large to hold in memory keeps the fd
 * that static_file_open() opened it with (openat2 RESOLVE_BENEATH: only an
 * fd of the safe path is ever kept), so that a response sends from it
 * without openat2 + fstat + close per request.  At most max_fds entries of
 * the table (split evenly over the shards, least recently used dropped
 * first) keep one; the fd is closed with the entry's last reference, so a
 * response still sending from it keeps it open after an eviction or a
 * reload.  Before every send, file_cache_open() checks with one fstatat
 * (AT_SYMLINK_NOFOLLOW) that the name still is that file (device, inode,
 * size, mtime): a file renamed over, truncated or rewritten is never sent
 * from the kept fd.  The path is resolved beneath the root again by the
 * TTL's revalidation as for every entry, so a file that can no longer be
 * reached safely stops being served within FILE_CACHE_TTL_MS, exactly as
 * a file held in memory. */
#ifndef MTH_FILE_CACHE_H
#define MTH_FILE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "http_date.h"
#include "http_etag.h"

struct static_file_types;

#define FILE_CACHE_TTL_MS 1000			/* trust a stat this long */
#define FILE_CACHE_FILE_MAX (64 * 1024)		/* bytes kept in memory per file */
#define FILE_CACHE_MAX_ENTRIES 2048		/* per cache */
#define FILE_CACHE_MAX_BYTES (32 * 1024 * 1024) /* per cache */
#define FILE_CACHE_SHARDS 16			/* a power of two */
#define FILE_CACHE_MAX_FDS 256			/* per cache, and at most RLIMIT_NOFILE / 16 */

/* What a response needs to know about a file; read-only for callers. */
struct file_cache_file {
	uint64_t size;
	uint64_t ino;
	time_t mtime;
	long mtime_nsec;
	const char *content_type;	       /* lives as long as the site */
	bool attachment;		       /* send Content-Disposition: attachment */
	const char *data;		       /* all SIZE bytes, or NULL: too large, use an fd */
	struct http_validators v;	       /* ETag; last_modified/now as of the fill */
	char last_modified[HTTP_DATE_LEN + 1]; /* http_date_format(mtime) */
	char name[256];			       /* last path segment, for Content-Disposition */
};

struct file_cache_limits {
	size_t max_entries;
	size_t max_bytes;
	/* the largest file held in memory; at most half a shard's share
	 * of max_bytes */
	size_t file_max;
	/* entries that keep their file open (files over file_max); split
	 * over the shards, so below FILE_CACHE_SHARDS none do */
	size_t max_fds;
};

struct file_cache;

/* A cache of the files beneath DIRFD, opened the way static_file_open(TYPES,
 * DIRFD, ...) opens them.  LIM NULL: the FILE_CACHE_* defaults, max_fds
 * also at most RLIMIT_NOFILE / 16.  TYPES and DIRFD must outlive the cache.
 * NULL on ENOMEM. */
struct file_cache *file_cache_new(const struct static_file_types *types, int dirfd,
				  const struct file_cache_limits *lim);

/* Drops the table's references; entries still held are freed by their
 * last file_cache_put().  Accepts NULL. */
void file_cache_free(struct file_cache *fc);

enum {
	FILE_CACHE_REVALIDATE = 1, /* stat the file now, however fresh the entry */
};

/* The file REL (normalized, relative; "" = the root) names, IS_DIR as the
 * router set it.  Returns 200 and a referenced *OUT, or the status
 * static_file_open() gives (301 with LOCATION_OUT, 403, 404, 414, 500).
 * FD_OUT (may be NULL): when this lookup had to open the file (first use,
 * revalidation) and the entry does not keep that fd, the open fd of exactly
 * the file *OUT describes is handed over, else -1.  With
 * FILE_CACHE_REVALIDATE it always opens, and 200 comes with an fd here or
 * kept by the entry. */
int file_cache_lookup(struct file_cache *fc, const char *rel, int is_dir, unsigned flags,
		      const struct file_cache_file **out, int *fd_out, char *location_out,
		      size_t location_cap);

/* An fd of F's bytes for sendfile(): the entry's own when it keeps one and
 * F's name beneath the root still is that file (one fstatat), *BORROWED
 * set: valid while the caller holds its reference to F, not to be closed;
 * else F opened again beneath the root (RESOLVE_BENEATH) and checked, the
 * caller's to close.  -ESTALE when what is there now is not the file F
 * describes (another device or inode, size or mtime, or not a regular
 * file), or the negative errno of the open; then look up again with
 * FILE_CACHE_REVALIDATE. */
int file_cache_open(struct file_cache *fc, const struct file_cache_file *f, bool *borrowed);

/* Gives back a reference from file_cache_lookup().  Accepts NULL. */
void file_cache_put(const struct file_cache_file *f);

/* For tests: the monotonic clock in milliseconds the freshness rule reads
 * (NULL restores CLOCK_MONOTONIC_COARSE); and what the table holds now. */
void file_cache_set_clock(struct file_cache *fc, int64_t (*now_ms)(void));
void file_cache_stats(struct file_cache *fc, size_t *entries, size_t *bytes);
/* How many entries of the table keep an open fd now. */
size_t file_cache_open_fds(struct file_cache *fc);

#endif
