/* harness.h - run the real mthttpd binary the way systemd does, and speak
 * HTTP to it over loopback.
 *
 * server_start() binds 127.0.0.1:0 itself (the kernel picks a free port, so
 * parallel tests never race for one), passes the socket as LISTEN_FDS=1 and
 * waits for READY=1 on its own NOTIFY_SOCKET: no sleeps, no port guessing.
 * Every wait is bounded; the daemon is stopped by PID and dies with the test
 * process (PR_SET_PDEATHSIG) even when an assertion aborts the test. */
#ifndef MTH_TEST_HARNESS_H
#define MTH_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct server;

struct server_opts {
	unsigned pool_size;         /* 0 = 4 */
	unsigned queue_size;        /* 0 = 256 (the default) */
	unsigned keepalive_timeout; /* 0 = 5 */
	unsigned max_requests;      /* 0 = 100 */
	uint64_t max_body_size;     /* 0 = 1 MiB */
	bool own_docroot;           /* an empty docroot in the temp dir */
	unsigned uploads_tmpfs_kb;  /* mount a tmpfs this small on uploads (root) */
	const char *extra;          /* more config lines */
	bool self_bind;             /* no socket activation: the daemon binds port */
	unsigned watchdog_usec;     /* set WATCHDOG_USEC/WATCHDOG_PID */
	bool one_cpu;               /* run the daemon on one CPU (affinity) */
	unsigned logs_tmpfs_kb;     /* a tmpfs this small on DIR/logs, in a private
				       mount namespace (root or a user namespace) */
	bool runtime_dir;           /* RUNTIME_DIRECTORY=DIR, as RuntimeDirectory= */
	bool ipv6;                  /* listen on [::] (dual stack), not 127.0.0.1 */
	bool https_socket;          /* also pass a socket named "https" (TLS) */
	const char *const *env;     /* more "NAME=value" for the daemon, NULL-ended */
	/* called once the (empty) uploads directory S->uploads exists,
	 * before the daemon starts: to mount something on it (set
	 * S->mounted so that server_stop() detaches it) or plant files */
	void (*prepare_uploads)(struct server *s, void *arg);
	void *prepare_arg;
};

struct server {
	pid_t pid;
	unsigned port;
	unsigned tls_port;  /* https_socket: its port */
	int notify_fd;
	char dir[200];       /* temp dir, removed by server_stop() */
	char conf[256];
	char uploads[256];
	char docroot[256];
	char log[256];      /* the daemon's stderr */
	char logs[256];     /* DIR/logs, with logs_tmpfs_kb a tmpfs */
	bool mounted;       /* uploads is a tmpfs we mounted */
};

void server_start(struct server *s, const struct server_opts *o);
/* (Re)write the config file from O, for PORT (used by reload tests). */
void server_write_config(struct server *s, const struct server_opts *o, unsigned port);
/* A currently free loopback port below the ephemeral range (see
 * harness.c), used only where the daemon must bind by itself. */
unsigned free_port(void);
/* SIGTERM, wait (bounded), assert exit status 0, remove the temp dir. */
void server_stop(struct server *s);
/* Wait until a datagram containing WHAT arrives on the notify socket. */
int server_wait_notify(struct server *s, const char *what, int timeout_ms);
/* Count the regular files in the uploads directory. */
int server_count_uploads(const struct server *s);
/* Does the daemon's log contain NEEDLE? */
bool server_log_contains(const struct server *s, const char *needle);

/* A TCP connection to the server with 5 s send/receive timeouts. */
int http_connect(unsigned port);
/* The same to [::1]:PORT from the local address SRC (an IPv6 address
 * added with harness_add_lo_addr6()). */
int http_connect6_from(const char *src, unsigned port);

/* Move the calling test process into a network namespace of its own with
 * its loopback up (the daemon it starts inherits it); skips the test when
 * that is not allowed (needs CAP_SYS_ADMIN).  Never touches the host's. */
void harness_private_netns(void);
/* Move the calling test process into a mount namespace of its own (mount
 * events private); 0, or -1 with errno.  Done once per process. */
int harness_private_mounts(void);
/* Add ADDR/128 to lo (in the test's own namespace, see above). */
void harness_add_lo_addr6(const char *addr);
void send_all(int fd, const void *buf, size_t len);
/* Send what it can (no assertion, no SIGPIPE): false once the peer is
 * gone, as when a server answers early and closes.  Safe off the test's
 * main thread. */
bool send_some(int fd, const void *buf, size_t len);
void send_str(int fd, const char *s);

struct http_resp {
	int status;
	char head[16384];   /* the response head, NUL-terminated */
	char *body;         /* malloc'd, NUL-terminated */
	size_t body_len;
};

/* Read one response (Content-Length framed; HEAD: no body).  Returns 0, or
 * -1 if the connection closed or timed out before a complete response. */
int http_read(int fd, struct http_resp *r, bool head);
void http_resp_free(struct http_resp *r);
/* Value of a header (case-insensitive name) copied into OUT; false if absent. */
bool http_header(const struct http_resp *r, const char *name, char *out, size_t cap);
/* One request on a new connection: "GET /path" with Host: 127.0.0.1:PORT. */
int http_get(const struct server *s, const char *method, const char *path, struct http_resp *r);
/* True when the peer closed the connection (EOF) within TIMEOUT_MS. */
bool wait_closed(int fd, int timeout_ms);

/* printf into one of 8 rotating static buffers (4 KiB each): for building
 * requests inline.  Not thread-safe. */
char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic milliseconds. */
int64_t harness_now_ms(void);
/* Remove PATH and everything below it (no symlinks followed). */
void harness_rm_rf(const char *path);

/* Whole file into a malloc'd buffer (NUL-terminated), or NULL. */
char *read_whole(const char *path, size_t *len);
/* LEN bytes of DATA as the whole file PATH (asserts it was written). */
void write_bytes(const char *path, const void *data, size_t len);
const char *srcdir(void);

/* strace -f attached to every thread of S's daemon, tracing TRACE (strace's
 * -e trace= list) into LOG; FDS: -yy, a socket shows its addresses (lines
 * of one connection hold ":<client port>]").  Returns strace's pid once a
 * GET of /strace-ready shows in LOG (TRACE must show it: the request's
 * recv or the file lookups); skips the test when strace is missing or may
 * not attach. */
pid_t strace_start(const struct server *s, const char *trace, const char *log, bool fds);
/* GET /NAME on S's HTTP port until NAME shows in LOG (bounded): what the
 * daemon did before is all in LOG. */
bool strace_probe(const struct server *s, const char *log, const char *name);
bool strace_saw(const char *log, const char *needle);
/* Detach (PID -1: nothing to do); sets PID to -1. */
void strace_stop(pid_t *pid);

/* The test CA and certificates of tests/integration/tls-certs.sh, made once
 * per test run in TOP_BUILDDIR_TMP/TAG-certs-<runner pid> (the first test
 * process makes them; the others use that directory): its path into OUT.
 * harness_certs_remove(), from the runner's ReportHook(POST_ALL), removes
 * them after all tests. */
void harness_certs(const char *tag, char *out, size_t outlen);
void harness_certs_remove(const char *tag);

#endif
