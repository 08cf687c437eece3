/* file_cache.c - static files kept stat'ed, small ones read and large ones
 * open, between requests (see file_cache.h for the rules).
 *
 * A lookup that hits a fresh entry costs a hash, one uncontended mutex
 * round trip and an atomic increment; the syscalls (openat2, fstat, pread,
 * close) happen at most once per FILE_CACHE_TTL_MS per file and worker,
 * never under a lock.  Sending a large file from its kept fd costs one
 * fstatat. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "file_cache.h"
#include "path.h"
#include "static_file.h"

#define FC_BUCKETS 256 /* per shard, a power of two */

/* A file whose mtime is younger than this when it is read is not kept: it
 * may still be being written (an empty or half-written snapshot would be
 * served for a whole FILE_CACHE_TTL_MS), and a later write in the same
 * timestamp tick would not change its metadata ("racy git"). */
#define FC_YOUNG_NS 1000000000LL

struct fc_entry {
	struct file_cache_file f; /* first: callers get &e->f */
	unsigned refs;		  /* atomic: the table's and every caller's */
	int64_t checked_ms;	  /* atomic: monotonic ms of the stat that confirmed it */
	bool young;		  /* mtime was young when read: never in the table */
	bool is_index;
	int fd;	      /* open on the file (not for F.DATA), or -1; owned */
	uint64_t dev; /* with F.INO: the file FD is */
	uint64_t hash;
	size_t cost;		   /* bytes charged to the shard */
	struct fc_entry *next;	   /* bucket chain (shard lock) */
	struct fc_entry *lru_prev; /* shard LRU list, most recent first (shard lock) */
	struct fc_entry *lru_next;
	char *data;	      /* owned; f.data */
	const char *open_rel; /* what was opened: KEY or KEY/index.html */
	int is_dir;
	size_t key_len;
	char key[]; /* REL, NUL, then open_rel when it differs */
};

struct fc_shard {
	pthread_mutex_t lock;
	struct fc_entry *buckets[FC_BUCKETS];
	struct fc_entry *lru_head, *lru_tail;
	size_t entries, bytes, fds;
} __attribute__((aligned(64)));

struct file_cache {
	const struct static_file_types *types;
	int dirfd;
	size_t shard_max_entries, shard_max_bytes, file_max, shard_max_fds;
	int64_t (*now_ms)(void);
	struct fc_shard shards[FILE_CACHE_SHARDS];
};

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* FNV-1a, with IS_DIR folded in: "a" and "a/" may differ (301 vs index) */
static uint64_t key_hash(const char *rel, size_t len, int is_dir)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)rel[i];
		h *= 0x100000001b3ull;
	}
	h ^= (uint64_t)(is_dir != 0);
	h *= 0x100000001b3ull;
	return h ^ (h >> 29);
}

static struct fc_shard *shard_of(struct file_cache *fc, uint64_t hash)
{
	return &fc->shards[(hash >> 40) & (FILE_CACHE_SHARDS - 1)];
}

static struct fc_entry **bucket_of(struct fc_shard *sh, uint64_t hash)
{
	return &sh->buckets[hash & (FC_BUCKETS - 1)];
}

static struct fc_entry *entry_of(const struct file_cache_file *f)
{
	return (struct fc_entry *)(void *)((char *)(uintptr_t)f - offsetof(struct fc_entry, f));
}

static void entry_ref(struct fc_entry *e)
{
	__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
}

static void entry_unref(struct fc_entry *e)
{
	if (!e || __atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (e->fd >= 0)
		close(e->fd);
	free(e->data);
	free(e);
}

void file_cache_put(const struct file_cache_file *f)
{
	if (f)
		entry_unref(entry_of(f));
}

struct file_cache *file_cache_new(const struct static_file_types *types, int dirfd,
				  const struct file_cache_limits *lim)
{
	static const struct file_cache_limits defaults = {
		.max_entries = FILE_CACHE_MAX_ENTRIES,
		.max_bytes = FILE_CACHE_MAX_BYTES,
		.file_max = FILE_CACHE_FILE_MAX,
		.max_fds = FILE_CACHE_MAX_FDS,
	};
	struct file_cache *fc;
	size_t max_fds;
	unsigned i;

	if (!lim)
		lim = &defaults;
	max_fds = lim->max_fds;
	if (lim == &defaults) {
		/* kept fds must leave the process room for its connections */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		    rl.rlim_cur / 16 < max_fds)
			max_fds = (size_t)(rl.rlim_cur / 16);
	}
	fc = aligned_alloc(64, (sizeof *fc + 63) / 64 * 64);
	if (!fc)
		return NULL;
	memset(fc, 0, sizeof *fc);
	fc->types = types;
	fc->dirfd = dirfd;
	/* each shard gets its share; at least one entry, so a cache is never
	 * useless (the totals may then exceed tiny limits by a few entries) */
	fc->shard_max_entries = lim->max_entries / FILE_CACHE_SHARDS;
	if (!fc->shard_max_entries)
		fc->shard_max_entries = 1;
	fc->shard_max_bytes = lim->max_bytes / FILE_CACHE_SHARDS;
	/* a file held in memory must leave room in its shard for others; an
	 * entry is never evicted by its own insertion, so this also keeps the
	 * byte bound (but for metadata of absurdly long paths) */
	fc->file_max = lim->file_max;
	if (fc->file_max > fc->shard_max_bytes / 2)
		fc->file_max = fc->shard_max_bytes / 2;
	/* rounded down: the total never exceeds max_fds */
	fc->shard_max_fds = max_fds / FILE_CACHE_SHARDS;
	fc->now_ms = mth_clock_coarse_ms;
	for (i = 0; i < FILE_CACHE_SHARDS; i++)
		pthread_mutex_init(&fc->shards[i].lock, NULL);
	return fc;
}

void file_cache_free(struct file_cache *fc)
{
	if (!fc)
		return;
	for (unsigned i = 0; i < FILE_CACHE_SHARDS; i++) {
		struct fc_shard *sh = &fc->shards[i];
		struct fc_entry *e = sh->lru_head;

		while (e) {
			struct fc_entry *next = e->lru_next;
			entry_unref(e);
			e = next;
		}
		pthread_mutex_destroy(&sh->lock);
	}
	free(fc);
}

void file_cache_set_clock(struct file_cache *fc, int64_t (*now_ms)(void))
{
	fc->now_ms = now_ms ? now_ms : mth_clock_coarse_ms;
}

void file_cache_stats(struct file_cache *fc, size_t *entries, size_t *bytes)
{
	size_t n = 0, b = 0;

	for (unsigned i = 0; i < FILE_CACHE_SHARDS; i++) {
		struct fc_shard *sh = &fc->shards[i];

		pthread_mutex_lock(&sh->lock);
		n += sh->entries;
		b += sh->bytes;
		pthread_mutex_unlock(&sh->lock);
	}
	if (entries)
		*entries = n;
	if (bytes)
		*bytes = b;
}

size_t file_cache_open_fds(struct file_cache *fc)
{
	size_t n = 0;

	for (unsigned i = 0; i < FILE_CACHE_SHARDS; i++) {
		struct fc_shard *sh = &fc->shards[i];

		pthread_mutex_lock(&sh->lock);
		n += sh->fds;
		pthread_mutex_unlock(&sh->lock);
	}
	return n;
}

/* ------------------------------------------------------------------------
 * The table.  Every function here runs with the shard's lock held.
 */

static struct fc_entry *table_find(struct fc_shard *sh, uint64_t hash, const char *rel, size_t len,
				   int is_dir)
{
	for (struct fc_entry *e = *bucket_of(sh, hash); e; e = e->next)
		if (e->hash == hash && e->key_len == len && e->is_dir == is_dir &&
		    memcmp(e->key, rel, len) == 0)
			return e;
	return NULL;
}

static void lru_unlink(struct fc_shard *sh, struct fc_entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		sh->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		sh->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push(struct fc_shard *sh, struct fc_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = sh->lru_head;
	if (sh->lru_head)
		sh->lru_head->lru_prev = e;
	else
		sh->lru_tail = e;
	sh->lru_head = e;
}

/* Takes E out of the table; the table's reference goes to the caller,
 * who drops it after unlocking (chained on E->next into *DEAD). */
static void table_remove(struct fc_shard *sh, struct fc_entry *e, struct fc_entry **dead)
{
	struct fc_entry **pp = bucket_of(sh, e->hash);

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	lru_unlink(sh, e);
	sh->entries--;
	sh->bytes -= e->cost;
	if (e->fd >= 0)
		sh->fds--;
	e->next = *dead;
	*dead = e;
}

static void table_insert(struct file_cache *fc, struct fc_shard *sh, struct fc_entry *e,
			 struct fc_entry **dead)
{
	struct fc_entry **bucket = bucket_of(sh, e->hash);
	struct fc_entry *old = table_find(sh, e->hash, e->key, e->key_len, e->is_dir);

	if (old)
		table_remove(sh, old, dead);
	e->next = *bucket;
	*bucket = e;
	lru_push(sh, e);
	sh->entries++;
	sh->bytes += e->cost;
	if (e->fd >= 0)
		sh->fds++;
	/* least recently used first; never the entry just added */
	while ((sh->entries > fc->shard_max_entries || sh->bytes > fc->shard_max_bytes) &&
	       sh->lru_tail != e)
		table_remove(sh, sh->lru_tail, dead);
	/* the least recently used of those that keep an fd (E is at the head) */
	for (struct fc_entry *v = sh->lru_tail; sh->fds > fc->shard_max_fds && v != e;) {
		struct fc_entry *prev = v->lru_prev;

		if (v->fd >= 0)
			table_remove(sh, v, dead);
		v = prev;
	}
}

static void drop_dead(struct fc_entry *dead)
{
	while (dead) {
		struct fc_entry *next = dead->next;
		entry_unref(dead);
		dead = next;
	}
}

/* ------------------------------------------------------------------------
 * Filling: static_file_open(), then read a small file.
 */

static bool same_file(const struct fc_entry *e, const struct static_file *sf)
{
	return e->dev == sf->dev && e->f.ino == sf->ino && e->f.size == sf->size &&
	       e->f.mtime == sf->mtime && e->f.mtime_nsec == sf->mtime_nsec &&
	       e->is_index == sf->is_index;
}

/* Is ST (of the name, or of an fd) the regular file E describes? */
static bool stat_is(const struct fc_entry *e, const struct stat *st)
{
	return S_ISREG(st->st_mode) && (uint64_t)st->st_dev == e->dev &&
	       (uint64_t)st->st_ino == e->f.ino && (uint64_t)st->st_size == e->f.size &&
	       st->st_mtim.tv_sec == e->f.mtime && st->st_mtim.tv_nsec == e->f.mtime_nsec;
}

/* Does E's name beneath the root still name the file E describes?  One
 * fstatat, the final component not followed: the kept fd is only used
 * while the name leads to it, so a rename over it, a truncation or a
 * rewrite (size or mtime) is seen at the next send.  The name's path is
 * not confined here (a stat, not an open); it does not have to be: only
 * the fd opened through the safe path is read, and only when the name
 * leads to that same file, and the TTL's revalidation resolves the name
 * beneath the root again (static_file_open). */
static bool name_is(const struct file_cache *fc, const struct fc_entry *e)
{
	struct stat st;

	return fstatat(fc->dirfd, e->open_rel, &st, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) == 0 &&
	       stat_is(e, &st);
}

/* All of SIZE bytes of FD into a new buffer, and the file must not have
 * changed meanwhile (else the bytes may be half old, half new: NULL). */
static char *read_all(int fd, const struct static_file *sf)
{
	char *buf = malloc(sf->size ? sf->size : 1);
	struct stat st;
	size_t got = 0;

	if (!buf)
		return NULL;
	while (got < sf->size) {
		ssize_t n = pread(fd, buf + got, sf->size - got, (off_t)got);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		goto fail; /* shrank, or an I/O error: the fd path decides */
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != sf->size ||
	    st.st_mtim.tv_sec != sf->mtime || st.st_mtim.tv_nsec != sf->mtime_nsec)
		goto fail;
	return buf;
fail:
	free(buf);
	return NULL;
}

/* A new entry (one reference, the caller's) for SF, opened for REL. */
static struct fc_entry *entry_new(struct file_cache *fc, const char *rel, size_t len, int is_dir,
				  uint64_t hash, const struct static_file *sf, int64_t fill_ns)
{
	const char *index_sep = len ? "/" : "";
	size_t open_len = sf->is_index ? len + strlen(index_sep) + strlen(STATIC_INDEX) : 0;
	size_t extra = len + 1 + (sf->is_index ? open_len + 1 : 0);
	struct fc_entry *e = calloc(1, sizeof *e + extra);
	int64_t mtime_ns = (int64_t)sf->mtime * 1000000000LL + sf->mtime_nsec;

	if (!e)
		return NULL;
	e->refs = 1;
	e->hash = hash;
	e->fd = -1;
	e->dev = sf->dev;
	e->is_dir = is_dir;
	e->is_index = sf->is_index;
	e->key_len = len;
	memcpy(e->key, rel, len);
	e->key[len] = '\0';
	e->open_rel = e->key;
	if (sf->is_index) {
		char *p = e->key + len + 1;
		e->open_rel = p;
		memcpy(p, rel, len);
		p += len;
		memcpy(p, index_sep, strlen(index_sep));
		p += strlen(index_sep);
		memcpy(p, STATIC_INDEX, sizeof STATIC_INDEX); /* with its NUL */
	}
	e->f.size = sf->size;
	e->f.ino = sf->ino;
	e->f.mtime = sf->mtime;
	e->f.mtime_nsec = sf->mtime_nsec;
	e->f.content_type = sf->content_type;
	e->f.attachment = sf->attachment;
	memcpy(e->f.name, sf->name, sizeof e->f.name);
	http_validators_init(&e->f.v, sf->ino, sf->size, sf->mtime, sf->mtime_nsec,
			     (time_t)(fill_ns / 1000000000LL));
	http_date_format(sf->mtime, e->f.last_modified);
	/* the stat came after FILL_NS: a write later in the same tick as a
	 * young mtime would not show in the metadata */
	e->young = mtime_ns > fill_ns - FC_YOUNG_NS;
	if (sf->size <= fc->file_max) {
		e->data = read_all(sf->fd, sf);
		e->f.data = e->data;
		if (!e->data)
			e->young = true; /* changed while read: serve by fd, keep nothing */
	}
	e->cost = sizeof *e + extra + (e->data ? sf->size : 0);
	return e;
}

/* Stat (and maybe read) REL now and publish the result.  OLD: the entry
 * the caller found (referenced; this function drops that reference), or
 * NULL. */
static int refresh(struct file_cache *fc, struct fc_shard *sh, const char *rel, size_t len,
		   int is_dir, uint64_t hash, struct fc_entry *old, int64_t now,
		   const struct file_cache_file **out, int *fd_out, char *location_out,
		   size_t location_cap)
{
	struct fc_entry *e = NULL, *dead = NULL, *cur;
	struct static_file sf;
	int64_t fill_ns = realtime_ns();
	int status;

	status = static_file_open(fc->types, fc->dirfd, rel, is_dir, &sf,
				  location_out, location_cap);
	if (status != 200) {
		/* gone, moved or refused: forget it (if nobody replaced it) */
		if (old) {
			pthread_mutex_lock(&sh->lock);
			cur = table_find(sh, hash, rel, len, is_dir);
			if (cur == old)
				table_remove(sh, old, &dead);
			pthread_mutex_unlock(&sh->lock);
			entry_unref(old);
			drop_dead(dead);
		}
		return status;
	}
	if (old && same_file(old, &sf)) {
		/* unchanged (and old enough, or it would not be in the table):
		 * trusted for another period, from this stat on */
		__atomic_store_n(&old->checked_ms, now, __ATOMIC_RELAXED);
		e = old;
		goto done;
	}
	entry_unref(old);
	e = entry_new(fc, rel, len, is_dir, hash, &sf, fill_ns);
	if (!e) {
		close(sf.fd);
		return 500;
	}
	e->checked_ms = now;
	/* too large for memory: keep the fd, unless its name is a symlink
	 * (the per-send check would never match; open per request then) */
	if (!e->young && !e->f.data && fc->shard_max_fds && name_is(fc, e)) {
		e->fd = sf.fd;
		sf.fd = -1;
	}
	pthread_mutex_lock(&sh->lock);
	if (e->young) {
		/* this caller's alone; what the table has is outdated */
		cur = table_find(sh, hash, rel, len, is_dir);
		if (cur)
			table_remove(sh, cur, &dead);
	} else {
		entry_ref(e); /* the table's */
		table_insert(fc, sh, e, &dead);
	}
	pthread_mutex_unlock(&sh->lock);
	drop_dead(dead);
done:
	if (fd_out)
		*fd_out = sf.fd;
	else if (sf.fd >= 0)
		close(sf.fd);
	*out = &e->f;
	return 200;
}

int file_cache_lookup(struct file_cache *fc, const char *rel, int is_dir, unsigned flags,
		      const struct file_cache_file **out, int *fd_out, char *location_out,
		      size_t location_cap)
{
	size_t len = strlen(rel);
	uint64_t hash;
	struct fc_shard *sh;
	struct fc_entry *e;
	int64_t now = fc->now_ms();

	is_dir = is_dir != 0; /* the router's flag is 0/1 already; keys compare it */
	hash = key_hash(rel, len, is_dir);
	sh = shard_of(fc, hash);
	*out = NULL;
	if (fd_out)
		*fd_out = -1;
	pthread_mutex_lock(&sh->lock);
	e = table_find(sh, hash, rel, len, is_dir);
	if (e) {
		entry_ref(e);
		if (sh->lru_head != e) {
			lru_unlink(sh, e);
			lru_push(sh, e);
		}
	}
	pthread_mutex_unlock(&sh->lock);

	if (e && !(flags & FILE_CACHE_REVALIDATE) &&
	    now - __atomic_load_n(&e->checked_ms, __ATOMIC_RELAXED) < FILE_CACHE_TTL_MS) {
		*out = &e->f;
		return 200;
	}
	return refresh(fc, sh, rel, len, is_dir, hash, e, now, out, fd_out, location_out,
		       location_cap);
}

int file_cache_open(struct file_cache *fc, const struct file_cache_file *f, bool *borrowed)
{
	const struct fc_entry *e = entry_of(f);
	struct stat st;
	int fd;

	*borrowed = false;
	if (e->fd >= 0) {
		if (!name_is(fc, e))
			return -ESTALE;
		*borrowed = true;
		return e->fd;
	}
	fd = path_open_beneath(fc->dirfd, e->open_rel);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || !stat_is(e, &st)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}
