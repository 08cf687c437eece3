/* config.h - the configuration file, parsed once into an immutable struct.
 *
 * config_load() reads a libconfig file and validates every key; nothing
 * outside config.c ever sees libconfig.  A struct mth_config never changes
 * after config_load() returns: a reload builds a new one and swaps it. */
#ifndef MTH_CONFIG_H
#define MTH_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cidr.h"

struct htpasswd;

/* Defaults (also documented in etc/mthttpd.conf.in and README.md). */
#define CONFIG_DEFAULT_PORT 8080
#define CONFIG_DEFAULT_LISTEN_ADDRESS "::"
#define CONFIG_DEFAULT_POOL_SIZE 10
#define CONFIG_DEFAULT_QUEUE_SIZE 256
#define CONFIG_DEFAULT_KEEPALIVE_TIMEOUT 30
#define CONFIG_DEFAULT_HEADER_TIMEOUT 20
#define CONFIG_DEFAULT_BODY_TIMEOUT 30
#define CONFIG_DEFAULT_SEND_TIMEOUT 60
#define CONFIG_DEFAULT_MAX_REQUESTS 100
#define CONFIG_DEFAULT_MAX_BODY_SIZE (1024 * 1024)
#define CONFIG_DEFAULT_LOG_LEVEL 6 /* LOG_INFO */
#define CONFIG_DEFAULT_MAX_RANGES 16
#define CONFIG_MAX_RANGES_MAX 32 /* HTTP_RANGES_MAX */
#define CONFIG_DEFAULT_SHUTDOWN_TIMEOUT 30
#define CONFIG_DEFAULT_ACCESS_LOG CONFIG_ACCESS_LOG_JOURNAL
#define CONFIG_DEFAULT_SENDFILE CONFIG_SENDFILE_AUTO
#define CONFIG_DEFAULT_BUSY_POLL 0 /* microseconds */

/* Accepted ranges (inclusive). */
#define CONFIG_POOL_SIZE_MAX 1024
#define CONFIG_QUEUE_SIZE_MAX 65536
#define CONFIG_KEEPALIVE_TIMEOUT_MAX 3600
#define CONFIG_TIMEOUT_MAX 3600 /* every *_timeout key */
#define CONFIG_MAX_CONNECTIONS_PER_IP_MAX 1000000
#define CONFIG_BUSY_POLL_MAX 10000
#define CONFIG_DEFAULT_MAX_REQUEST_LINE 8192
#define CONFIG_MAX_REQUEST_LINE_MIN 256
#define CONFIG_MAX_REQUEST_LINE_MAX 65536
#define CONFIG_DEFAULT_MAX_HEADER_SIZE 16384
#define CONFIG_MAX_HEADER_SIZE_MIN 1024
#define CONFIG_MAX_HEADER_SIZE_MAX 262144
#define CONFIG_DEFAULT_MAX_HEADER_COUNT 100 /* = HTTP_MAX_HEADERS, the most */
#define CONFIG_DEFAULT_MAX_PATH_DEPTH 32    /* = PATH_MAX_DEPTH, the most */
#define CONFIG_MAX_REQUESTS_MAX 1000000
/* uploads stream to disk through a fixed buffer (upload_stream_*) */
#define CONFIG_MAX_BODY_SIZE_MAX (16LL * 1024 * 1024 * 1024) /* 16 GiB */
#define CONFIG_SHUTDOWN_TIMEOUT_MAX 3600
#define CONFIG_TLS_CERTIFICATES_MAX 64
#define CONFIG_TLS_HSTS_MAX_AGE_MAX 2147483647 /* seconds */
#define CONFIG_H2_MAX_CONCURRENT_STREAMS_DEFAULT 100
#define CONFIG_H2_MAX_CONCURRENT_STREAMS_MAX 1000
#define CONFIG_RATE_LIMIT_MAX 1000000   /* rate_limit_requests, _burst, _uploads */
#define CONFIG_UPLOADS_MAX_BYTES_MAX (1LL << 60)
#define CONFIG_UPLOADS_MAX_FILES_MAX (1LL << 40)
#define CONFIG_DRAIN_DELAY_MAX 600
#define CONFIG_TRUSTED_PROXIES_MAX 256

/* Where the per-request lines go (the access_log key). */
enum config_access_log {
	CONFIG_ACCESS_LOG_JOURNAL, /* "journal": the main log, MESSAGE_ID request-done */
	CONFIG_ACCESS_LOG_OFF,     /* "off": none */
	CONFIG_ACCESS_LOG_FILE,    /* a path: Combined Log Format lines in that file */
};

/* How file bodies go out (the sendfile key). */
enum config_sendfile {
	CONFIG_SENDFILE_AUTO,   /* "auto": sendfile(2), except files of 1 MiB and
				 * more to a client on this host (copied) */
	CONFIG_SENDFILE_ALWAYS, /* "always": sendfile(2) for every file body */
	CONFIG_SENDFILE_NEVER,  /* "never": pread + send through a buffer */
};

/* The oldest TLS version accepted (tls.min_version). */
enum config_tls_version {
	CONFIG_TLS_1_2, /* "TLSv1.2" (the default) */
	CONFIG_TLS_1_3, /* "TLSv1.3" */
};

/* One entry of tls.certificates: absolute paths of PEM files. */
struct config_tls_cert {
	char *certificate; /* the certificate, then any intermediates */
	char *key;         /* its private key */
};

/* The tls group.  Present (ENABLED) means TLS is on: on tls.port when it is
 * not 0, and on any socket systemd passes under the name "https". */
struct config_tls {
	bool enabled;
	unsigned port;                 /* 0: no TLS listener of our own */
	struct config_tls_cert *certs; /* at least one; the first is the default */
	size_t n_certs;
	enum config_tls_version min_version;
	unsigned hsts_max_age;         /* seconds; 0: no Strict-Transport-Security */
	bool redirect_http;            /* cleartext requests get a 308 to https */
	bool http2;                    /* ALPN offers h2 (default true) */
	unsigned h2_max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS */
};

struct mth_config {
	char *path;            /* absolute path of the file that was read */
	unsigned port;         /* 0..65535; 0 = let the kernel choose */
	char *listen_address;  /* numeric IPv4/IPv6 address, "::" = dual stack */
	char *document_root;   /* absolute, no trailing slash */
	char *uploads_dir;     /* absolute, no trailing slash */
	unsigned pool_size;    /* worker threads, 1..CONFIG_POOL_SIZE_MAX */
	unsigned queue_size;   /* connections waiting for a worker, 1..max */
	unsigned keepalive_timeout; /* seconds, 1..CONFIG_KEEPALIVE_TIMEOUT_MAX */
	unsigned header_timeout;    /* seconds for a whole request head */
	unsigned body_timeout;      /* seconds between two reads of a body */
	unsigned send_timeout;      /* seconds between two writes of a response */
	unsigned max_connections_per_ip; /* 0 = no cap */
	unsigned client_ipv6_prefix; /* bits of an IPv6 address that make a client */
	unsigned max_request_line;  /* bytes; longer: 414 */
	unsigned max_header_size;   /* bytes of header fields; more: 431 */
	unsigned max_header_count;  /* header fields; more: 431 */
	unsigned max_path_depth;    /* segments of a request path; more: 414 */
	unsigned max_requests; /* per connection, 1..CONFIG_MAX_REQUESTS_MAX */
	char **allowed_hosts;  /* "name" or "name:port", lower-cased */
	size_t n_allowed_hosts;
	uint64_t max_body_size; /* bytes, 0..CONFIG_MAX_BODY_SIZE_MAX */
	char **download_extensions; /* lower-case, without the dot */
	size_t n_download_extensions;
	int log_level;         /* syslog priority LOG_EMERG..LOG_DEBUG */
	enum config_access_log access_log;
	char *access_log_path; /* CONFIG_ACCESS_LOG_FILE: absolute; else NULL */
	unsigned shutdown_timeout; /* seconds a stop waits for responses in flight */
	unsigned max_ranges;       /* ranges in one Range request, 0 = no ranges */
	enum config_sendfile sendfile;
	unsigned busy_poll; /* microseconds a worker polls before it sleeps, 0 = off */
	struct config_tls tls;
	/* POST /upload needs HTTP Basic credentials from this file when set
	 * (absolute; NULL: uploads open to all); loaded with the config, so a
	 * weak hash or a bad line fails config_load() like any bad key */
	char *upload_users_file;
	struct htpasswd *upload_users;
	unsigned rate_limit_requests; /* per second per client, 0 = off */
	unsigned rate_limit_burst;    /* bucket size, 0 = rate_limit_requests */
	unsigned rate_limit_uploads;  /* per minute per client, 0 = off */
	uint64_t uploads_max_bytes;   /* bytes stored in uploads_dir, 0 = no cap */
	uint64_t uploads_max_files;   /* files stored in uploads_dir, 0 = no cap */
	/* peers that must start each connection with a PROXY header */
	struct cidr *trusted_proxies;
	size_t n_trusted_proxies;
	/* admin listener (/health, /metrics): admin_listen as written and its
	 * parsed address; NULL / admin_addrlen 0 = off */
	char *admin_listen;
	struct sockaddr_storage admin_addr;
	socklen_t admin_addrlen;
	unsigned drain_delay; /* seconds between "503 draining" and closing listeners */
};

/* Parse and validate the file at PATH.  On success returns 0 and sets *OUT
 * (free with config_free).  On failure returns a negative errno-style code
 * and writes one human-readable line into ERR, always naming the file and,
 * where one exists, the line and the key, e.g.
 *   "/etc/mthttpd.conf:7: pool_size: must be between 1 and 1024 (got 0)"
 *   "/etc/mthttpd.conf:3: syntax error"
 *   "/etc/mthttpd.conf: cannot open: No such file or directory"
 *   "/etc/mthttpd.conf:9: unknown key 'pool'"
 * Relative paths in the file are resolved against the file's directory.
 * Returns -ENOENT (no such file), -EINVAL (anything invalid in the file),
 * -ENOMEM, or another -errno from opening/reading it (-EACCES, -EISDIR).
 * Only ERR is written on failure: config_load() never logs. */
int config_load(const char *path, struct mth_config **out, char *err, size_t errlen);

/* Accepts NULL. */
void config_free(struct mth_config *cfg);

/* "info" -> LOG_INFO etc.; returns -1 for an unknown name.  Accepts the
 * syslog names emerg alert crit err error warning warn notice info debug. */
int config_log_level_from_name(const char *name);
/* LOG_INFO -> "info" (canonical names); "unknown" outside LOG_EMERG..LOG_DEBUG. */
const char *config_log_level_name(int level);

#endif
