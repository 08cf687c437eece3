/* config.c - read and validate the configuration file (see config.h).
 *
 * The file is read into memory once, parsed by libconfig, checked for
 * integer literals that libconfig 1.5 would silently wrap, and then every
 * top-level setting is dispatched to the handler for its key.  Anything
 * unknown, mistyped or out of range is an error: a server that guesses what
 * its operator meant is a server that does the wrong thing quietly. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "htpasswd.h"
#include "client_key.h"
#include "util.h"

#ifndef PKGDATADIR
#define PKGDATADIR "/usr/share/mthttpd"
#endif

#define CONFIG_DEFAULT_DOCUMENT_ROOT PKGDATADIR "/www"
#define CONFIG_DEFAULT_UPLOADS_DIR "/var/lib/mthttpd/uploads"

#define CONFIG_FILE_MAX (1024 * 1024) /* bytes of configuration text */
#define CONFIG_HOSTS_MAX 256	      /* allowed_hosts entries */
#define CONFIG_EXTENSIONS_MAX 256     /* download_extensions entries */
#define CONFIG_EXTENSION_MAX_LEN 16
#define CONFIG_HOST_NAME_MAX_LEN 255 /* name part of an allowed_hosts entry */
#define CONFIG_QUOTE_MAX 64	     /* bytes of a bad value echoed back */

static const char *const default_allowed_hosts[] = {"localhost", "127.0.0.1", "[::1]"};
static const char *const default_download_extensions[] = {"png", "jpg", "jpeg", "txt"};

/* syslog names: the canonical one first for each priority, then aliases */
static const struct {
	const char *name;
	int level;
} log_levels[] = {
    {.name = "emerg", .level = LOG_EMERG},  {.name = "alert", .level = LOG_ALERT},
    {.name = "crit", .level = LOG_CRIT},    {.name = "err", .level = LOG_ERR},
    {.name = "error", .level = LOG_ERR},    {.name = "warning", .level = LOG_WARNING},
    {.name = "warn", .level = LOG_WARNING}, {.name = "notice", .level = LOG_NOTICE},
    {.name = "info", .level = LOG_INFO},    {.name = "debug", .level = LOG_DEBUG},
};

struct load_ctx {
	const char *path; /* as the caller spelled it: that is what they recognise */
	const char *dir;  /* absolute directory of the file */
	char *err;
	size_t errlen;
};

int config_log_level_from_name(const char *name)
{
	size_t i;

	if (!name)
		return -1;
	for (i = 0; i < ARRAY_SIZE(log_levels); i++)
		if (strcasecmp(name, log_levels[i].name) == 0)
			return log_levels[i].level;
	return -1;
}

const char *config_log_level_name(int level)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(log_levels); i++)
		if (log_levels[i].level == level)
			return log_levels[i].name;
	return "unknown";
}

/* "PATH[:LINE]: [KEY: ]message" into ctx->err; returns RET. */
__attribute__((format(printf, 5, 0))) static int
vreport(struct load_ctx *ctx, int ret, int line, const char *key, const char *fmt, va_list ap)
{
	char msg[512];
	char where[32] = "";

	if (!ctx->err || ctx->errlen == 0)
		return ret;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line > 0)
		snprintf(where, sizeof(where), ":%d", line);
	snprintf(ctx->err, ctx->errlen, "%s%s: %s%s%s", ctx->path, where, key ? key : "",
		 key ? ": " : "", msg);
	return ret;
}

__attribute__((format(printf, 5, 6))) static int report(struct load_ctx *ctx, int ret, int line,
							const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ret = vreport(ctx, ret, line, key, fmt, ap);
	va_end(ap);
	return ret;
}

/* -EINVAL about setting S or an element of it: S's own line, the name of
 * the top-level key it belongs to. */
__attribute__((format(printf, 3, 4))) static int
invalid(struct load_ctx *ctx, const config_setting_t *s, const char *fmt, ...)
{
	const config_setting_t *top = s;
	int line = config_setting_source_line(s);
	va_list ap;
	int ret;

	while (config_setting_parent(top) && !config_setting_is_root(config_setting_parent(top)))
		top = config_setting_parent(top);
	va_start(ap, fmt);
	ret = vreport(ctx, -EINVAL, line, config_setting_name(top), fmt, ap);
	va_end(ap);
	return ret;
}

/* Quote user text for an error line: 'value', control bytes as \xNN, long
 * values cut, so that the message stays one printable line. */
static const char *quote(char *buf, size_t size, const char *s)
{
	size_t o = 0, i;

	buf[o++] = '\'';
	for (i = 0; s[i] && o + 8 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == CONFIG_QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c >= 0x7f || c == '\\')
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o++] = '\'';
	buf[o] = '\0';
	return buf;
}

#define QUOTE_BUF_SIZE (CONFIG_QUOTE_MAX * 4 + 16)

static char *str_lower_dup(const char *s)
{
	char *d = strdup(s);
	char *p;

	if (d)
		for (p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	return d;
}

static void free_strv(char **v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void config_free(struct mth_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->listen_address);
	free(cfg->document_root);
	free(cfg->uploads_dir);
	free(cfg->access_log_path);
	free(cfg->upload_users_file);
	htpasswd_free(cfg->upload_users);
	free(cfg->trusted_proxies);
	free(cfg->admin_listen);
	free_strv(cfg->allowed_hosts, cfg->n_allowed_hosts);
	free_strv(cfg->download_extensions, cfg->n_download_extensions);
	for (size_t i = 0; i < cfg->tls.n_certs; i++) {
		free(cfg->tls.certs[i].certificate);
		free(cfg->tls.certs[i].key);
	}
	free(cfg->tls.certs);
	free(cfg);
}

static int strv_from(char ***out, size_t *n, const char *const *src, size_t count)
{
	char **v = calloc(count ? count : 1, sizeof(*v));
	size_t i;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		v[i] = strdup(src[i]);
		if (!v[i]) {
			free_strv(v, i);
			return -ENOMEM;
		}
	}
	*out = v;
	*n = count;
	return 0;
}

static int set_defaults(struct mth_config *cfg)
{
	cfg->port = CONFIG_DEFAULT_PORT;
	cfg->pool_size = CONFIG_DEFAULT_POOL_SIZE;
	cfg->queue_size = CONFIG_DEFAULT_QUEUE_SIZE;
	cfg->keepalive_timeout = CONFIG_DEFAULT_KEEPALIVE_TIMEOUT;
	cfg->header_timeout = CONFIG_DEFAULT_HEADER_TIMEOUT;
	cfg->max_request_line = CONFIG_DEFAULT_MAX_REQUEST_LINE;
	cfg->max_header_size = CONFIG_DEFAULT_MAX_HEADER_SIZE;
	cfg->max_header_count = CONFIG_DEFAULT_MAX_HEADER_COUNT;
	cfg->max_path_depth = CONFIG_DEFAULT_MAX_PATH_DEPTH;
	cfg->body_timeout = CONFIG_DEFAULT_BODY_TIMEOUT;
	cfg->send_timeout = CONFIG_DEFAULT_SEND_TIMEOUT;
	cfg->max_requests = CONFIG_DEFAULT_MAX_REQUESTS;
	cfg->max_body_size = CONFIG_DEFAULT_MAX_BODY_SIZE;
	cfg->log_level = CONFIG_DEFAULT_LOG_LEVEL;
	cfg->shutdown_timeout = CONFIG_DEFAULT_SHUTDOWN_TIMEOUT;
	cfg->max_ranges = CONFIG_DEFAULT_MAX_RANGES;
	cfg->access_log = CONFIG_DEFAULT_ACCESS_LOG;
	cfg->sendfile = CONFIG_DEFAULT_SENDFILE;
	cfg->busy_poll = CONFIG_DEFAULT_BUSY_POLL;
	cfg->client_ipv6_prefix = CLIENT_KEY_IPV6_PREFIX_DEFAULT;
	cfg->listen_address = strdup(CONFIG_DEFAULT_LISTEN_ADDRESS);
	cfg->document_root = strdup(CONFIG_DEFAULT_DOCUMENT_ROOT);
	cfg->uploads_dir = strdup(CONFIG_DEFAULT_UPLOADS_DIR);
	if (!cfg->listen_address || !cfg->document_root || !cfg->uploads_dir)
		return -ENOMEM;
	if (strv_from(&cfg->allowed_hosts, &cfg->n_allowed_hosts, default_allowed_hosts,
		      ARRAY_SIZE(default_allowed_hosts)) < 0)
		return -ENOMEM;
	if (strv_from(&cfg->download_extensions, &cfg->n_download_extensions,
		      default_download_extensions, ARRAY_SIZE(default_download_extensions)) < 0)
		return -ENOMEM;
	return 0;
}

/* ---- value getters ---------------------------------------------------- */

static int get_int(struct load_ctx *ctx, const config_setting_t *s, long long min, long long max,
		   long long *out)
{
	long long v;
	int type = config_setting_type(s);

	/* the explicit -EINVAL lets the compiler see that *OUT is set on 0 */
	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
		invalid(ctx, s, "must be an integer");
		return -EINVAL;
	}
	v = config_setting_get_int64(s);
	if (v < min || v > max) {
		invalid(ctx, s, "must be between %lld and %lld (got %lld)", min, max, v);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int get_string(struct load_ctx *ctx, const config_setting_t *s, const char **out)
{
	const char *v;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		invalid(ctx, s, "must be a string");
		return -EINVAL;
	}
	v = config_setting_get_string(s);
	if (!v || !*v) {
		invalid(ctx, s, "must not be empty");
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int replace_str(char **field, const char *v)
{
	char *d = strdup(v);

	if (!d)
		return -ENOMEM;
	free(*field);
	*field = d;
	return 0;
}

/* A list or array of strings, each checked and normalised by NORM (which
 * returns a malloc'd string, or NULL with *ERRNUM set). */
typedef char *(*norm_fn)(const char *s, int *errnum);

static int get_strv(struct load_ctx *ctx, const config_setting_t *s, size_t max, norm_fn norm,
		    const char *what, char ***field, size_t *nfield)
{
	char qbuf[QUOTE_BUF_SIZE];
	char **v;
	size_t n, i;
	int type = config_setting_type(s);
	int ret;

	if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY)
		return invalid(ctx, s, "must be a list of strings, e.g. [\"a\", \"b\"]");
	n = (size_t)config_setting_length(s);
	if (n > max)
		return invalid(ctx, s, "at most %zu entries are allowed (got %zu)", max, n);
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		int errnum = 0;

		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			ret = invalid(ctx, e, "every entry must be a string");
			goto fail;
		}
		v[i] = norm(config_setting_get_string(e), &errnum);
		if (!v[i]) {
			if (errnum == ENOMEM) {
				ret = -ENOMEM;
			} else {
				ret = invalid(
				    ctx, e, "invalid %s: %s", what,
				    quote(qbuf, sizeof(qbuf), config_setting_get_string(e)));
			}
			goto fail;
		}
	}
	free_strv(*field, *nfield);
	*field = v;
	*nfield = n;
	return 0;
fail:
	free_strv(v, i);
	return ret;
}

/* ---- allowed_hosts and download_extensions entries --------------------- */

static bool valid_port(const char *p)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; p[i]; i++) {
		if (i == 5 || !isdigit((unsigned char)p[i]))
			return false;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	return i > 0 && v >= 1 && v <= 65535;
}

/* "name", "name:port", "1.2.3.4[:port]" or "[v6][:port]" (RFC 3986 section
 * 3.2.2, restricted to LDH names plus '.' and '_', like the Host check). */
static bool valid_host_entry(const char *s)
{
	char addr[INET6_ADDRSTRLEN + 1];
	struct in6_addr a6;
	struct in_addr a4;
	const char *end;
	size_t len, i;
	bool numeric = true;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end)
			return false;
		len = (size_t)(end - s - 1);
		if (len == 0 || len >= sizeof(addr))
			return false;
		memcpy(addr, s + 1, len);
		addr[len] = '\0';
		if (inet_pton(AF_INET6, addr, &a6) != 1)
			return false;
		end++;
	} else {
		end = s + strcspn(s, ":");
		len = (size_t)(end - s);
		if (len == 0 || len > CONFIG_HOST_NAME_MAX_LEN)
			return false;
		for (i = 0; i < len; i++) {
			unsigned char c = (unsigned char)s[i];

			if (!isalnum(c) && c != '-' && c != '.' && c != '_')
				return false;
			if (!isdigit(c) && c != '.')
				numeric = false;
		}
		/* all digits and dots: it must be a real dotted quad */
		if (numeric) {
			if (len >= sizeof(addr))
				return false;
			memcpy(addr, s, len);
			addr[len] = '\0';
			if (inet_pton(AF_INET, addr, &a4) != 1)
				return false;
		}
	}
	if (*end == '\0')
		return true;
	return *end == ':' && valid_port(end + 1);
}

static char *norm_host(const char *s, int *errnum)
{
	char *d;

	if (!valid_host_entry(s)) {
		*errnum = EINVAL;
		return NULL;
	}
	d = str_lower_dup(s);
	if (!d)
		*errnum = ENOMEM;
	return d;
}

static char *norm_extension(const char *s, int *errnum)
{
	size_t len, i;
	char *d;

	if (*s == '.')
		s++;
	len = strlen(s);
	if (len == 0 || len > CONFIG_EXTENSION_MAX_LEN)
		goto bad;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]))
			goto bad;
	d = str_lower_dup(s);
	if (!d)
		*errnum = ENOMEM;
	return d;
bad:
	*errnum = EINVAL;
	return NULL;
}

/* ---- paths --------------------------------------------------------------- */

/* DIR/REL (or ABS as is), with "//", "/./" and trailing slashes removed.
 * ".." is kept: resolving it lexically would be wrong across symlinks. */
static int resolve_path(const char *dir, const char *p, char **out)
{
	size_t dlen = p[0] == '/' ? 0 : strlen(dir);
	char *buf = malloc(dlen + strlen(p) + 2);
	const char *src;
	char *o;

	if (!buf)
		return -ENOMEM;
	if (dlen) {
		memcpy(buf, dir, dlen);
		buf[dlen] = '/';
		strcpy(buf + dlen + 1, p);
	} else {
		strcpy(buf, p);
	}
	/* in-place: the output never outruns the input */
	src = buf;
	o = buf;
	while (*src) {
		if (src[0] == '/') {
			while (src[1] == '/')
				src++;
			if (src[1] == '.' && (src[2] == '/' || src[2] == '\0')) {
				src += 2;
				continue;
			}
		}
		*o++ = *src++;
	}
	while (o > buf + 1 && o[-1] == '/')
		o--;
	if (o == buf)
		*o++ = '/';
	*o = '\0';
	if (strlen(buf) >= PATH_MAX) {
		free(buf);
		return -ENAMETOOLONG;
	}
	*out = buf;
	return 0;
}

/* ---- key handlers ---------------------------------------------------- */

typedef int (*key_fn)(struct load_ctx *ctx, const config_setting_t *s, struct mth_config *cfg);

static int key_port(struct load_ctx *ctx, const config_setting_t *s, struct mth_config *cfg)
{
	long long v;
	int ret = get_int(ctx, s, 0, 65535, &v);

	if (ret == 0)
		cfg->port = (unsigned)v;
	return ret;
}

static int key_max_body_size(struct load_ctx *ctx, const config_setting_t *s,
			     struct mth_config *cfg)
{
	long long v;
	int ret = get_int(ctx, s, 0, CONFIG_MAX_BODY_SIZE_MAX, &v);

	if (ret == 0)
		cfg->max_body_size = (uint64_t)v;
	return ret;
}

static int key_listen_address(struct load_ctx *ctx, const config_setting_t *s,
			      struct mth_config *cfg)
{
	char qbuf[QUOTE_BUF_SIZE];
	unsigned char addr[sizeof(struct in6_addr)];
	const char *v;
	int ret = get_string(ctx, s, &v);

	if (ret < 0)
		return ret;
	if (inet_pton(AF_INET, v, addr) != 1 && inet_pton(AF_INET6, v, addr) != 1)
		return invalid(ctx, s, "not a numeric IPv4 or IPv6 address: %s",
			       quote(qbuf, sizeof(qbuf), v));
	return replace_str(&cfg->listen_address, v);
}

static int key_path(struct load_ctx *ctx, const config_setting_t *s, char **field)
{
	const char *v;
	char *abs;
	int ret = get_string(ctx, s, &v);

	if (ret < 0)
		return ret;
	ret = resolve_path(ctx->dir, v, &abs);
	if (ret == -ENAMETOOLONG)
		return invalid(ctx, s, "path too long");
	if (ret < 0)
		return ret;
	free(*field);
	*field = abs;
	return 0;
}

static int key_document_root(struct load_ctx *ctx, const config_setting_t *s,
			     struct mth_config *cfg)
{
	return key_path(ctx, s, &cfg->document_root);
}

static int key_uploads_dir(struct load_ctx *ctx, const config_setting_t *s, struct mth_config *cfg)
{
	return key_path(ctx, s, &cfg->uploads_dir);
}

/* "" turns authentication off; a path is read now, so that -t and a
 * reload refuse a users file with a weak hash or a bad line. */
static int key_upload_users_file(struct load_ctx *ctx, const config_setting_t *s,
				 struct mth_config *cfg)
{
	char err[512];
	int ret;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return invalid(ctx, s, "must be a string");
	htpasswd_free(cfg->upload_users);
	cfg->upload_users = NULL;
	free(cfg->upload_users_file);
	cfg->upload_users_file = NULL;
	if (!config_setting_get_string(s) || !*config_setting_get_string(s))
		return 0;
	ret = key_path(ctx, s, &cfg->upload_users_file);
	if (ret < 0)
		return ret;
	ret = htpasswd_load(cfg->upload_users_file, &cfg->upload_users, err, sizeof(err));
	if (ret == -ENOMEM)
		return ret;
	if (ret < 0)
		return invalid(ctx, s, "%s", err);
	return 0;
}

static int key_u64(struct load_ctx *ctx, const config_setting_t *s, long long max, uint64_t *out)
{
	long long v;
	int ret = get_int(ctx, s, 0, max, &v);

	if (ret == 0)
		*out = (uint64_t)v;
	return ret;
}

static int key_uploads_max_bytes(struct load_ctx *ctx, const config_setting_t *s,
				 struct mth_config *cfg)
{
	return key_u64(ctx, s, CONFIG_UPLOADS_MAX_BYTES_MAX, &cfg->uploads_max_bytes);
}

static int key_uploads_max_files(struct load_ctx *ctx, const config_setting_t *s,
				 struct mth_config *cfg)
{
	return key_u64(ctx, s, CONFIG_UPLOADS_MAX_FILES_MAX, &cfg->uploads_max_files);
}

static int key_allowed_hosts(struct load_ctx *ctx, const config_setting_t *s,
			     struct mth_config *cfg)
{
	return get_strv(ctx, s, CONFIG_HOSTS_MAX, norm_host, "host (expected name or name:port)",
			&cfg->allowed_hosts, &cfg->n_allowed_hosts);
}

static int key_download_extensions(struct load_ctx *ctx, const config_setting_t *s,
				   struct mth_config *cfg)
{
	return get_strv(ctx, s, CONFIG_EXTENSIONS_MAX, norm_extension,
			"extension (expected 1 to 16 letters or digits)", &cfg->download_extensions,
			&cfg->n_download_extensions);
}

static int key_log_level(struct load_ctx *ctx, const config_setting_t *s, struct mth_config *cfg)
{
	char qbuf[QUOTE_BUF_SIZE];
	const char *v;
	int level, ret = get_string(ctx, s, &v);

	if (ret < 0)
		return ret;
	level = config_log_level_from_name(v);
	if (level < 0)
		return invalid(ctx, s,
			       "unknown level %s (expected emerg, alert, crit, err, warning, "
			       "notice, info or debug)",
			       quote(qbuf, sizeof(qbuf), v));
	cfg->log_level = level;
	return 0;
}

static int key_sendfile(struct load_ctx *ctx, const config_setting_t *s, struct mth_config *cfg)
{
	static const struct {
		const char *name;
		enum config_sendfile v;
	} modes[] = {
		{ "auto", CONFIG_SENDFILE_AUTO },
		{ "always", CONFIG_SENDFILE_ALWAYS },
		{ "never", CONFIG_SENDFILE_NEVER },
	};
	char qbuf[QUOTE_BUF_SIZE];
	const char *v;
	int ret = get_string(ctx, s, &v);

	if (ret < 0)
		return ret;
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++)
		if (strcmp(v, modes[i].name) == 0) {
			cfg->sendfile = modes[i].v;
			return 0;
		}
	return invalid(ctx, s, "unknown mode %s (expected auto, always or never)",
		       quote(qbuf, sizeof(qbuf), v));
}

/* "journal", "off", or the path of a file (relative to the file's
 * directory); "./journal" names a file called journal. */
static int key_access_log(struct load_ctx *ctx, const config_setting_t *s, struct mth_config *cfg)
{
	const char *v;
	int ret = get_string(ctx, s, &v);

	if (ret < 0)
		return ret;
	if (strcmp(v, "journal") == 0 || strcmp(v, "off") == 0) {
		cfg->access_log =
		    strcmp(v, "off") == 0 ? CONFIG_ACCESS_LOG_OFF : CONFIG_ACCESS_LOG_JOURNAL;
		free(cfg->access_log_path);
		cfg->access_log_path = NULL;
		return 0;
	}
	if (v[strlen(v) - 1] == '/')
		return invalid(ctx, s, "must be \"journal\", \"off\" or the path of a file "
				       "(not a directory)");
	ret = key_path(ctx, s, &cfg->access_log_path);
	if (ret == 0)
		cfg->access_log = CONFIG_ACCESS_LOG_FILE;
	return ret;
}

/* ---- the tls group ------------------------------------------------------ */

static int tls_certificates(struct load_ctx *ctx, const config_setting_t *s,
			    struct config_tls *tls)
{
	int type = config_setting_type(s);
	size_t n;
	int ret;

	if (type != CONFIG_TYPE_LIST)
		return invalid(ctx, s, "certificates must be a list of groups, e.g. "
				       "( { certificate = \"a.pem\"; key = \"a.key\"; } )");
	n = (size_t)config_setting_length(s);
	if (n == 0)
		return invalid(ctx, s, "certificates needs at least one entry");
	if (n > CONFIG_TLS_CERTIFICATES_MAX)
		return invalid(ctx, s, "certificates: at most %d entries are allowed (got %zu)",
			       CONFIG_TLS_CERTIFICATES_MAX, n);
	tls->certs = calloc(n, sizeof *tls->certs);
	if (!tls->certs)
		return -ENOMEM;
	tls->n_certs = n;
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const config_setting_t *c, *k;
		int m;

		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return invalid(ctx, e, "certificates: every entry must be a group "
					       "{ certificate = \"...\"; key = \"...\"; }");
		m = config_setting_length(e);
		for (int j = 0; j < m; j++) {
			const char *name = config_setting_name(config_setting_get_elem(e, (unsigned)j));
			if (!name || (strcmp(name, "certificate") != 0 && strcmp(name, "key") != 0))
				return invalid(ctx, config_setting_get_elem(e, (unsigned)j),
					       "certificates: unknown key '%s' (expected certificate "
					       "and key)",
					       name ? name : "");
		}
		c = config_setting_get_member(e, "certificate");
		k = config_setting_get_member(e, "key");
		if (!c || !k)
			return invalid(ctx, e, "certificates: entry %zu needs both certificate and "
					       "key",
				       i + 1);
		ret = key_path(ctx, c, &tls->certs[i].certificate);
		if (ret < 0)
			return ret;
		ret = key_path(ctx, k, &tls->certs[i].key);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int key_tls(struct load_ctx *ctx, const config_setting_t *s, struct mth_config *cfg)
{
	char qbuf[QUOTE_BUF_SIZE];
	struct config_tls *tls = &cfg->tls;
	const config_setting_t *certs = NULL;
	long long v;
	int n, ret;

	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return invalid(ctx, s, "must be a group: tls = { port = 8443; certificates = "
				       "( ... ); };");
	tls->enabled = true;
	tls->http2 = true;
	tls->h2_max_concurrent_streams = CONFIG_H2_MAX_CONCURRENT_STREAMS_DEFAULT;
	n = config_setting_length(s);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *name = config_setting_name(e);
		const char *str;

		if (!name) {
			return invalid(ctx, e, "unnamed setting");
		} else if (strcmp(name, "port") == 0) {
			ret = get_int(ctx, e, 0, 65535, &v);
			if (ret < 0)
				return ret;
			tls->port = (unsigned)v;
		} else if (strcmp(name, "hsts_max_age") == 0) {
			ret = get_int(ctx, e, 0, CONFIG_TLS_HSTS_MAX_AGE_MAX, &v);
			if (ret < 0)
				return ret;
			tls->hsts_max_age = (unsigned)v;
		} else if (strcmp(name, "redirect_http") == 0) {
			if (config_setting_type(e) != CONFIG_TYPE_BOOL)
				return invalid(ctx, e, "redirect_http must be true or false");
			tls->redirect_http = config_setting_get_bool(e) != 0;
		} else if (strcmp(name, "http2") == 0) {
			if (config_setting_type(e) != CONFIG_TYPE_BOOL)
				return invalid(ctx, e, "http2 must be true or false");
			tls->http2 = config_setting_get_bool(e) != 0;
		} else if (strcmp(name, "h2_max_concurrent_streams") == 0) {
			ret = get_int(ctx, e, 1, CONFIG_H2_MAX_CONCURRENT_STREAMS_MAX, &v);
			if (ret < 0)
				return ret;
			tls->h2_max_concurrent_streams = (unsigned)v;
		} else if (strcmp(name, "min_version") == 0) {
			ret = get_string(ctx, e, &str);
			if (ret < 0)
				return ret;
			if (strcmp(str, "TLSv1.2") == 0)
				tls->min_version = CONFIG_TLS_1_2;
			else if (strcmp(str, "TLSv1.3") == 0)
				tls->min_version = CONFIG_TLS_1_3;
			else
				return invalid(ctx, e,
					       "min_version must be \"TLSv1.2\" or \"TLSv1.3\" "
					       "(got %s)",
					       quote(qbuf, sizeof qbuf, str));
		} else if (strcmp(name, "certificates") == 0) {
			certs = e;
		} else {
			return invalid(ctx, e, "unknown key '%s' in the tls group", name);
		}
	}
	if (!certs)
		return invalid(ctx, s, "the tls group needs certificates = ( { certificate = "
				       "\"...\"; key = \"...\"; } )");
	return tls_certificates(ctx, certs, tls);
}

/* A list of addresses and CIDR prefixes, compiled once into an array. */
static int key_trusted_proxies(struct load_ctx *ctx, const config_setting_t *s,
			       struct mth_config *cfg)
{
	char qbuf[QUOTE_BUF_SIZE];
	struct cidr *v;
	int type = config_setting_type(s);
	size_t n;

	if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY)
		return invalid(ctx, s, "must be a list of strings, e.g. [\"127.0.0.1\", \"10.0.0.0/8\"]");
	n = (size_t)config_setting_length(s);
	if (n > CONFIG_TRUSTED_PROXIES_MAX)
		return invalid(ctx, s, "at most %d entries are allowed (got %zu)",
			       CONFIG_TRUSTED_PROXIES_MAX, n);
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		int ret;

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			ret = invalid(ctx, e, "every entry must be a string");
		else if (cidr_parse(config_setting_get_string(e), &v[i]) < 0)
			ret = invalid(ctx, e,
				      "invalid address or prefix %s (expected e.g. \"10.0.0.1\", "
				      "\"10.0.0.0/8\", \"::1\" or \"fd00::/8\", no host bits "
				      "past the prefix)",
				      quote(qbuf, sizeof(qbuf), config_setting_get_string(e)));
		else
			continue;
		free(v);
		return ret;
	}
	free(cfg->trusted_proxies);
	cfg->trusted_proxies = v;
	cfg->n_trusted_proxies = n;
	return 0;
}

/* "" (off), "IPV4:PORT" or "[IPV6]:PORT", numeric only. */
static int key_admin_listen(struct load_ctx *ctx, const config_setting_t *s,
			    struct mth_config *cfg)
{
	char qbuf[QUOTE_BUF_SIZE], host[INET6_ADDRSTRLEN];
	struct sockaddr_storage ss;
	const char *v, *colon, *h;
	size_t hlen;
	socklen_t sl;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return invalid(ctx, s, "must be a string");
	v = config_setting_get_string(s);
	if (!v || !*v) {
		free(cfg->admin_listen);
		cfg->admin_listen = NULL;
		cfg->admin_addrlen = 0;
		return 0;
	}
	memset(&ss, 0, sizeof(ss));
	colon = strrchr(v, ':');
	if (!colon || !valid_port(colon + 1))
		goto bad;
	h = v;
	hlen = (size_t)(colon - v);
	if (hlen >= 2 && v[0] == '[' && v[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	} else if (memchr(v, ':', hlen)) {
		goto bad; /* IPv6 without brackets */
	}
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (h == v && inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)atoi(colon + 1));
		sl = sizeof(struct sockaddr_in);
	} else if (h != v &&
		   inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)atoi(colon + 1));
		sl = sizeof(struct sockaddr_in6);
	} else {
		goto bad;
	}
	if (replace_str(&cfg->admin_listen, v) < 0)
		return -ENOMEM;
	cfg->admin_addr = ss;
	cfg->admin_addrlen = sl;
	return 0;
bad:
	return invalid(ctx, s,
		       "expected \"\" (off), \"ADDRESS:PORT\" or \"[IPV6]:PORT\" with a numeric "
		       "address and a port of 1..65535, e.g. \"127.0.0.1:9180\" (got %s)",
		       quote(qbuf, sizeof(qbuf), v));
}

/* The keys that are a bounded unsigned number: one table, one parser. */
static const struct {
	const char *name;
	long long min, max;
	size_t offset; /* of the unsigned field in struct mth_config */
} uint_keys[] = {
    {"pool_size", 1, CONFIG_POOL_SIZE_MAX, offsetof(struct mth_config, pool_size)},
    {"queue_size", 1, CONFIG_QUEUE_SIZE_MAX, offsetof(struct mth_config, queue_size)},
    {"keepalive_timeout", 1, CONFIG_TIMEOUT_MAX, offsetof(struct mth_config, keepalive_timeout)},
    {"header_timeout", 1, CONFIG_TIMEOUT_MAX, offsetof(struct mth_config, header_timeout)},
    {"body_timeout", 1, CONFIG_TIMEOUT_MAX, offsetof(struct mth_config, body_timeout)},
    {"send_timeout", 1, CONFIG_TIMEOUT_MAX, offsetof(struct mth_config, send_timeout)},
    {"max_requests", 1, CONFIG_MAX_REQUESTS_MAX, offsetof(struct mth_config, max_requests)},
    {"shutdown_timeout", 1, CONFIG_SHUTDOWN_TIMEOUT_MAX,
     offsetof(struct mth_config, shutdown_timeout)},
    {"max_ranges", 0, CONFIG_MAX_RANGES_MAX, offsetof(struct mth_config, max_ranges)},
    {"max_connections_per_ip", 0, CONFIG_MAX_CONNECTIONS_PER_IP_MAX,
     offsetof(struct mth_config, max_connections_per_ip)},
    {"client_ipv6_prefix", CLIENT_KEY_IPV6_PREFIX_MIN, CLIENT_KEY_IPV6_PREFIX_MAX,
     offsetof(struct mth_config, client_ipv6_prefix)},
    {"max_request_line", CONFIG_MAX_REQUEST_LINE_MIN, CONFIG_MAX_REQUEST_LINE_MAX,
     offsetof(struct mth_config, max_request_line)},
    {"max_header_size", CONFIG_MAX_HEADER_SIZE_MIN, CONFIG_MAX_HEADER_SIZE_MAX,
     offsetof(struct mth_config, max_header_size)},
    {"max_header_count", 1, CONFIG_DEFAULT_MAX_HEADER_COUNT,
     offsetof(struct mth_config, max_header_count)},
    {"max_path_depth", 1, CONFIG_DEFAULT_MAX_PATH_DEPTH,
     offsetof(struct mth_config, max_path_depth)},
    {"busy_poll", 0, CONFIG_BUSY_POLL_MAX, offsetof(struct mth_config, busy_poll)},
    {"rate_limit_requests", 0, CONFIG_RATE_LIMIT_MAX,
     offsetof(struct mth_config, rate_limit_requests)},
    {"rate_limit_burst", 0, CONFIG_RATE_LIMIT_MAX, offsetof(struct mth_config, rate_limit_burst)},
    {"rate_limit_uploads", 0, CONFIG_RATE_LIMIT_MAX,
     offsetof(struct mth_config, rate_limit_uploads)},
    {"drain_delay", 0, CONFIG_DRAIN_DELAY_MAX, offsetof(struct mth_config, drain_delay)},
};

static int key_uint(struct load_ctx *ctx, const config_setting_t *s, struct mth_config *cfg,
		    size_t k)
{
	long long v;
	int ret = get_int(ctx, s, uint_keys[k].min, uint_keys[k].max, &v);

	if (ret == 0)
		*(unsigned *)((char *)cfg + uint_keys[k].offset) = (unsigned)v;
	return ret;
}

static const struct {
	const char *name;
	key_fn parse;
} keys[] = {
    {"port", key_port},
    {"listen_address", key_listen_address},
    {"document_root", key_document_root},
    {"uploads_dir", key_uploads_dir},
    {"allowed_hosts", key_allowed_hosts},
    {"max_body_size", key_max_body_size},
    {"download_extensions", key_download_extensions},
    {"log_level", key_log_level},
    {"sendfile", key_sendfile},
    {"access_log", key_access_log},
    {"tls", key_tls},
    {"upload_users_file", key_upload_users_file},
    {"uploads_max_bytes", key_uploads_max_bytes},
    {"uploads_max_files", key_uploads_max_files},
    {"trusted_proxies", key_trusted_proxies},
    {"admin_listen", key_admin_listen},
};

/* ---- the file ----------------------------------------------------------- */

static int read_text(struct load_ctx *ctx, char **out)
{
	struct stat st;
	size_t len = 0, cap = 4096;
	char *buf, *nbuf;
	ssize_t n;
	int fd, ret;

	fd = open(ctx->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		return report(ctx, ret, 0, NULL, "cannot open: %s", strerror(-ret));
	}
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto fail;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		ret = report(ctx, -EISDIR, 0, NULL, "cannot open: %s", strerror(EISDIR));
		goto fail;
	}
	for (;;) {
		if (cap - len < 2) {
			cap *= 2;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				ret = -ENOMEM;
				goto fail;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			report(ctx, ret, 0, NULL, "cannot read: %s", strerror(-ret));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_FILE_MAX) {
			ret = report(ctx, -EINVAL, 0, NULL, "file too large (more than %d bytes)",
				     CONFIG_FILE_MAX);
			goto fail;
		}
	}
	buf[len] = '\0';
	if (strlen(buf) != len) {
		ret = report(ctx, -EINVAL, 0, NULL, "not a text file (contains a NUL byte)");
		goto fail;
	}
	close(fd);
	*out = buf;
	return 0;
fail:
	close(fd);
	free(buf);
	return ret;
}

static bool is_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '*';
}

/* Walk the tokens of TEXT (comments and strings skipped, as libconfig
 * reads them).
 *
 * Before parsing (INCLUDES_ONLY): refuse @include.  libconfig executes it
 * while it parses (it opens and reads the named file, which may be any
 * file, a FIFO or a device), and the server reads exactly one file.
 *
 * After parsing: libconfig 1.5 converts decimal literals with atoi() and
 * hex ones with strtoul() into an int, so "port = 4294975392;" would
 * arrive as 8192: refuse any integer literal that does not fit its type. */
static int check_literals(struct load_ctx *ctx, const char *p, bool includes_only)
{
	char key[64] = "";
	int line = 1;

	while (*p) {
		const char *start = p;

		if (*p == '\n') {
			line++;
			p++;
		} else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
			p += strcspn(p, "\n");
		} else if (p[0] == '/' && p[1] == '*') {
			for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
				line += *p == '\n';
			if (*p)
				p += 2;
		} else if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				line += *p == '\n';
			}
			if (*p)
				p++;
		} else if (*p == '@') {
			return report(ctx, -EINVAL, line, NULL, "@include is not supported");
		} else if (includes_only) {
			p++;
		} else if (isalpha((unsigned char)*p) || *p == '*') {
			while (is_name_char(*p))
				p++;
			if (!(p - start == 4 && strncasecmp(start, "true", 4) == 0) &&
			    !(p - start == 5 && strncasecmp(start, "false", 5) == 0))
				snprintf(key, sizeof(key), "%.*s", (int)(p - start), start);
		} else if (isdigit((unsigned char)*p) || *p == '-' || *p == '+' || *p == '.') {
			const char *q = start;
			bool hex, wide, ok;
			char *end;

			while (isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '+')
				p++;
			if (*q == '-' || *q == '+')
				q++;
			hex = q[0] == '0' && (q[1] == 'x' || q[1] == 'X');
			if (!hex && memchr(start, '.', (size_t)(p - start)))
				continue; /* float */
			if (!hex && (memchr(start, 'e', (size_t)(p - start)) ||
				     memchr(start, 'E', (size_t)(p - start))))
				continue; /* float */
			wide = p[-1] == 'L';
			errno = 0;
			if (hex) {
				unsigned long long u = strtoull(q + 2, &end, 16);

				ok = errno == 0 && (wide ? u <= LLONG_MAX : u <= INT_MAX);
			} else {
				long long v = strtoll(start, &end, 10);

				ok = errno == 0 && (wide || (v >= INT_MIN && v <= INT_MAX));
			}
			if (!ok)
				return report(ctx, -EINVAL, line, key[0] ? key : NULL,
					      "integer out of range (%.*s)%s",
					      (int)(p - start > 32 ? 32 : p - start), start,
					      wide ? "" : "; a 64-bit value needs the L suffix");
		} else {
			p++;
		}
	}
	return 0;
}

/* Absolute directory of PATH, and the absolute PATH itself. */
static int locate(struct load_ctx *ctx, char **dirp, char **abspath)
{
	const char *slash = strrchr(ctx->path, '/');
	const char *base = slash ? slash + 1 : ctx->path;
	char *dir, *real;
	int ret;

	if (!slash)
		dir = strdup(".");
	else if (slash == ctx->path)
		dir = strdup("/");
	else
		dir = strndup(ctx->path, (size_t)(slash - ctx->path));
	if (!dir)
		return -ENOMEM;
	real = realpath(dir, NULL);
	free(dir);
	if (!real) {
		ret = -errno;
		if (ret == -ENOMEM)
			return ret;
		return report(ctx, ret, 0, NULL, "cannot resolve directory: %s", strerror(-ret));
	}
	if (asprintf(abspath, "%s%s%s", real, strcmp(real, "/") ? "/" : "", base) < 0) {
		free(real);
		return -ENOMEM;
	}
	*dirp = real;
	return 0;
}

int config_load(const char *path, struct mth_config **out, char *err, size_t errlen)
{
	struct load_ctx ctx = {.path = path, .err = err, .errlen = errlen};
	struct mth_config *cfg = NULL;
	config_setting_t *root;
	config_t lc;
	char *text = NULL, *dir = NULL;
	int n, i, ret;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	config_init(&lc);
	config_set_options(&lc, config_get_options(&lc) & ~CONFIG_OPTION_AUTOCONVERT);

	ret = read_text(&ctx, &text);
	if (ret < 0)
		goto fail;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = locate(&ctx, &dir, &cfg->path);
	if (ret < 0)
		goto fail;
	ctx.dir = dir;
	ret = set_defaults(cfg);
	if (ret < 0)
		goto fail;

	ret = check_literals(&ctx, text, true);
	if (ret < 0)
		goto fail;
	if (config_read_string(&lc, text) != CONFIG_TRUE) {
		if (config_error_file(&lc))
			ctx.path = config_error_file(&lc);
		ret = report(&ctx, -EINVAL, config_error_line(&lc), NULL, "%s",
			     config_error_text(&lc) ? config_error_text(&lc) : "parse error");
		goto fail;
	}
	ret = check_literals(&ctx, text, false);
	if (ret < 0)
		goto fail;

	root = config_root_setting(&lc);
	n = config_setting_length(root);
	for (i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);
		size_t k;

		for (k = 0; k < ARRAY_SIZE(uint_keys); k++)
			if (name && strcmp(name, uint_keys[k].name) == 0)
				break;
		if (k < ARRAY_SIZE(uint_keys)) {
			ret = key_uint(&ctx, s, cfg, k);
			if (ret < 0)
				goto fail;
			continue;
		}
		for (k = 0; k < ARRAY_SIZE(keys); k++)
			if (name && strcmp(name, keys[k].name) == 0)
				break;
		if (k == ARRAY_SIZE(keys)) {
			ret = report(&ctx, -EINVAL, config_setting_source_line(s), NULL,
				     "unknown key '%s'", name ? name : "");
			goto fail;
		}
		ret = keys[k].parse(&ctx, s, cfg);
		if (ret < 0)
			goto fail;
	}

	if (cfg->tls.enabled && cfg->tls.port && cfg->tls.port == cfg->port) {
		ret = report(&ctx, -EINVAL, 0, "tls", "port must differ from the HTTP port (%u)",
			     cfg->port);
		goto fail;
	}

	config_destroy(&lc);
	free(text);
	free(dir);
	*out = cfg;
	return 0;
fail:
	if (ret == -ENOMEM && err && errlen)
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
	config_destroy(&lc);
	free(text);
	free(dir);
	config_free(cfg);
	return ret;
}
