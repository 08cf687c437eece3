/* mime.c - file extension -> Content-Type (RFC 9110 section 8.3).
 *
 * The table is built once at startup (and again on reload) and never
 * changes afterwards, so the many worker threads look types up without a
 * lock.  It is an open-addressing hash table (FNV-1a, linear probing, at
 * most half full) whose values point into a string arena owned by the
 * table, so a lookup neither allocates nor copies. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mime.h"
#include "util.h"

#define MIME_EXT_MAX 31		 /* longer extensions are skipped */
#define MIME_TYPE_MAX 127	 /* longer "type/subtype" lines are skipped */
#define MIME_FILE_MAX (4u << 20) /* bigger files are not a mime.types */
#define MIME_INITIAL_SLOTS 64	 /* power of two, holds the built-ins */
#define MIME_MAX_ENTRIES 65536	 /* Debian has ~2000; caps the table at 5 MiB */
#define MIME_ARENA_CHUNK 4096
/* For text/ types (RFC 6838 section 4.2.1) a missing charset leaves the
 * client guessing (RFC 6657 dropped the old US-ASCII default); the files
 * we serve are taken to be UTF-8. */
#define MIME_TEXT_CHARSET "; charset=utf-8"

struct mime_slot {
	const char *type; /* NULL: empty slot */
	char ext[MIME_EXT_MAX + 1];
};

struct mime_chunk {
	struct mime_chunk *next;
	size_t used, size;
	char data[];
};

struct mime_table {
	struct mime_slot *slots;
	size_t mask; /* number of slots - 1 */
	size_t count;
	struct mime_chunk *arena;
};

/* Always present, even when /etc/mime.types is missing; a file entry for
 * the same extension replaces these. */
/* clang-format off */
static const struct {
	const char *ext;
	const char *type;
} mime_builtin[] = {
	{ "html", "text/html" },
	{ "htm", "text/html" },
	{ "css", "text/css" },
	{ "js", "text/javascript" }, /* RFC 9239 section 6 */
	{ "mjs", "text/javascript" },
	{ "json", "application/json" }, /* RFC 8259: no charset parameter */
	{ "txt", "text/plain" },
	{ "xml", "application/xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "svg", "image/svg+xml" },
	{ "ico", "image/vnd.microsoft.icon" },
	{ "webp", "image/webp" },
	{ "pdf", "application/pdf" },
	{ "wasm", "application/wasm" },
	{ "woff2", "font/woff2" },
	{ "woff", "font/woff" },
	{ "mp4", "video/mp4" },
	{ "zip", "application/zip" },
	{ "gz", "application/gzip" },
};
/* clang-format on */

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* FNV-1a, 32 bits: short keys, no adversary can choose what is in the
 * table (only what is looked up), so a simple hash is enough. */
#define FNV1A_BASIS 2166136261u

static inline uint32_t fnv1a_step(uint32_t h, char c)
{
	return (h ^ (unsigned char)c) * 16777619u;
}

static uint32_t fnv1a(const char *s, size_t n)
{
	uint32_t h = FNV1A_BASIS;

	for (size_t i = 0; i < n; i++)
		h = fnv1a_step(h, s[i]);
	return h;
}

static char *arena_alloc(struct mime_table *t, size_t n)
{
	struct mime_chunk *c = t->arena;

	if (!c || c->size - c->used < n) {
		size_t size = n > MIME_ARENA_CHUNK ? n : MIME_ARENA_CHUNK;

		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->size = size;
		c->used = 0;
		c->next = t->arena;
		t->arena = c;
	}
	c->used += n;
	return c->data + c->used - n;
}

/* The final Content-Type value: lower-cased (media types are
 * case-insensitive, RFC 9110 section 8.3.1) plus a charset for text/. */
static const char *intern_type(struct mime_table *t, const char *type, size_t len)
{
	int text = len > 5 && strncasecmp(type, "text/", 5) == 0;
	size_t extra = text ? sizeof(MIME_TEXT_CHARSET) - 1 : 0;
	char *s = arena_alloc(t, len + extra + 1);

	if (!s)
		return NULL;
	for (size_t i = 0; i < len; i++)
		s[i] = ascii_lower(type[i]);
	memcpy(s + len, MIME_TEXT_CHARSET, extra);
	s[len + extra] = '\0';
	return s;
}

/* The index of the slot for the lower-case key EXT/N whose fnv1a() is H:
 * the one holding it, or the empty one where it would go.  The table is
 * never full. */
static size_t find_slot_hashed(const struct mime_slot *slots, size_t mask, const char *ext,
			       size_t n, uint32_t h)
{
	size_t i = h & mask;

	while (slots[i].type && (memcmp(slots[i].ext, ext, n) != 0 || slots[i].ext[n] != '\0'))
		i = (i + 1) & mask;
	return i;
}

static size_t find_slot(const struct mime_slot *slots, size_t mask, const char *ext, size_t n)
{
	return find_slot_hashed(slots, mask, ext, n, fnv1a(ext, n));
}

static int grow(struct mime_table *t)
{
	size_t nslots = (t->mask + 1) * 2;
	struct mime_slot *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i <= t->mask; i++) {
		const struct mime_slot *old = &t->slots[i];

		if (old->type)
			slots[find_slot(slots, nslots - 1, old->ext, strlen(old->ext))] = *old;
	}
	free(t->slots);
	t->slots = slots;
	t->mask = nslots - 1;
	return 0;
}

/* Insert or replace: a later entry for an extension wins over an earlier
 * one, as in Apache and nginx, so the file overrides the built-ins. */
static int add(struct mime_table *t, const char *ext, size_t n, const char *type)
{
	char key[MIME_EXT_MAX + 1];
	struct mime_slot *s;

	if (n == 0 || n > MIME_EXT_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		key[i] = ascii_lower(ext[i]);
	key[n] = '\0';

	s = &t->slots[find_slot(t->slots, t->mask, key, n)];
	if (!s->type) {
		if (t->count >= MIME_MAX_ENTRIES)
			return 0; /* full: new extensions are skipped */
		/* keep at most half the slots in use: short probe chains */
		if ((t->count + 1) * 2 > t->mask + 1) {
			if (grow(t) < 0)
				return -ENOMEM;
			s = &t->slots[find_slot(t->slots, t->mask, key, n)];
		}
		memcpy(s->ext, key, n + 1);
		t->count++;
	}
	s->type = type;
	return 0;
}

static int is_space(char c)
{
	/* '\0' too: a stray NUL in the file must not end a C string early */
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\0';
}

/* tchar, RFC 9110 section 5.6.2: the value goes into a header line, so
 * nothing else (no CR, LF, ';', quotes) may reach it. */
static int is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* "type/subtype": one '/', non-empty on both sides, tchars only. */
static int valid_type(const char *s, size_t n)
{
	const char *slash = memchr(s, '/', n);
	size_t pos;

	if (!slash || n > MIME_TYPE_MAX)
		return 0;
	pos = (size_t)(slash - s);
	if (pos == 0 || pos == n - 1)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (i != pos && !is_tchar(s[i]))
			return 0;
	return 1;
}

/* One line of mime.types: "type/subtype ext ext ...", '#' to the end of
 * the line is a comment.  A line with a malformed type is skipped, as
 * is an over-long extension: the file is a system default we do not
 * control, and one odd entry should not cost the others. */
static int parse_line(struct mime_table *t, const char *p, const char *end)
{
	const char *tok, *type = NULL;
	size_t n;

	while (p < end && is_space(*p))
		p++;
	if (p == end || *p == '#')
		return 0;
	tok = p;
	while (p < end && !is_space(*p))
		p++;
	if (!valid_type(tok, (size_t)(p - tok)))
		return 0;
	n = (size_t)(p - tok);

	for (;;) {
		const char *ext;

		while (p < end && is_space(*p))
			p++;
		if (p == end || *p == '#')
			return 0;
		ext = p;
		while (p < end && !is_space(*p))
			p++;
		if ((size_t)(p - ext) > MIME_EXT_MAX)
			continue;
		if (!type) {
			type = intern_type(t, tok, n);
			if (!type)
				return -ENOMEM;
		}
		if (add(t, ext, (size_t)(p - ext), type) < 0)
			return -ENOMEM;
	}
}

void mime_table_free(struct mime_table *t)
{
	struct mime_chunk *c, *next;

	if (!t)
		return;
	for (c = t->arena; c; c = next) {
		next = c->next;
		free(c);
	}
	free(t->slots);
	free(t);
}

struct mime_table *mime_table_from_text(const char *text, size_t len)
{
	struct mime_table *t = calloc(1, sizeof(*t));
	const char *p, *end, *nl, *type = NULL;

	if (!t)
		return NULL;
	t->mask = MIME_INITIAL_SLOTS - 1;
	t->slots = calloc(MIME_INITIAL_SLOTS, sizeof(*t->slots));
	if (!t->slots)
		goto fail;

	for (size_t i = 0; i < ARRAY_SIZE(mime_builtin); i++) {
		const char *name = mime_builtin[i].type;

		/* aliases are adjacent in the list: share their string */
		if (i == 0 || strcmp(name, mime_builtin[i - 1].type) != 0)
			type = intern_type(t, name, strlen(name));
		if (!type || add(t, mime_builtin[i].ext, strlen(mime_builtin[i].ext), type) < 0)
			goto fail;
	}

	if (!text)
		return t;
	for (p = text, end = text + len; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (parse_line(t, p, nl) < 0)
			goto fail;
	}
	return t;

fail:
	mime_table_free(t);
	return NULL;
}

/* Reads all of PATH into a malloc'ed buffer.  Returns 0, -ENOMEM, or
 * another negative errno when the file cannot serve (missing, not a
 * regular file, over MIME_FILE_MAX). */
static int read_file(const char *path, char **out, size_t *outlen)
{
	struct stat st;
	char *buf = NULL, *nbuf;
	size_t cap, len = 0;
	ssize_t r;
	int fd, ret;

	/* O_NONBLOCK: a FIFO at PATH must not hang startup; it is refused
	 * just below anyway. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto out;
	}
	if (st.st_size > (off_t)MIME_FILE_MAX) {
		ret = -EFBIG;
		goto out;
	}

	/* st_size is a hint: the file may change while we read it.  One
	 * spare byte lets the common case see EOF without a realloc. */
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (len == cap) {
			size_t ncap = cap * 2 > MIME_FILE_MAX + 1 ? MIME_FILE_MAX + 1 : cap * 2;

			if (cap > MIME_FILE_MAX) {
				ret = -EFBIG;
				goto out;
			}
			nbuf = realloc(buf, ncap);
			if (!nbuf) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nbuf;
			cap = ncap;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	*out = buf;
	*outlen = len;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

struct mime_table *mime_table_load(const char *path)
{
	struct mime_table *t;
	char *text = NULL;
	size_t len = 0;
	int ret;

	ret = path ? read_file(path, &text, &len) : -ENOENT;
	if (ret == -ENOMEM)
		return NULL;
	/* any other failure: the built-ins alone (the header's contract) */
	t = mime_table_from_text(ret == 0 ? text : NULL, len);
	free(text);
	return t;
}

const char *mime_lookup(const struct mime_table *t, const char *ext)
{
	char key[MIME_EXT_MAX + 1];
	const struct mime_slot *s;
	uint32_t h = FNV1A_BASIS;
	size_t n;

	if (!t || !ext)
		return MIME_DEFAULT_TYPE;
	/* Callers pass lower case, but accept any case: it costs nothing
	 * here and "INDEX.HTML" then gets text/html as well.  The key is
	 * hashed as it is lower-cased. */
	for (n = 0; ext[n]; n++) {
		if (n == MIME_EXT_MAX)
			return MIME_DEFAULT_TYPE;
		key[n] = ascii_lower(ext[n]);
		h = fnv1a_step(h, key[n]);
	}
	if (n == 0)
		return MIME_DEFAULT_TYPE;
	key[n] = '\0';
	s = &t->slots[find_slot_hashed(t->slots, t->mask, key, n, h)];
	return s->type ? s->type : MIME_DEFAULT_TYPE;
}
