/* conn.h - one client connection: the HTTP/1.1 state machine.
 *
 * A connection is driven by whichever worker thread claims its epoll event;
 * conn_run() does all the work that is possible without blocking (read,
 * parse, route, handle, write) and returns what to wait for next.  Exactly
 * one thread runs a connection at a time (the claim counter in struct
 * conn_sched guarantees it), so a struct conn needs no lock; only the
 * deadline and timeout flag are shared with the reaper thread, through
 * atomics. */
#ifndef MTH_CONN_H
#define MTH_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct conn;
struct listener;

/* The states, visible in one place (STYLE.md rule 4). */
enum conn_state {
	CONN_HANDSHAKE,  /* TLS: the handshake is in progress */
	CONN_READ_PROXY, /* from a trusted proxy: waiting for its PROXY header */
	CONN_READ_HEAD,  /* waiting for (more of) a request head; idle if empty */
	CONN_READ_BODY,  /* reading a POST body */
	CONN_WRITE,      /* sending the response head and body */
	CONN_LINGER,     /* response sent, write side shut: draining input */
	CONN_H2,         /* TLS with ALPN "h2": frames through h2.c */
	CONN_CLOSING,    /* done: the owner frees it */
};

enum conn_want {
	CONN_WANT_READ,  /* wait until new bytes arrive */
	CONN_WANT_WRITE, /* wait until the socket is writable again */
	CONN_WANT_AGAIN, /* runnable now: it yielded with work left, or its
			  * socket may hold bytes that no new edge announces */
	CONN_WANT_CLOSE, /* free it */
};

/* What the pool keeps with each connection (see pool.c).  EVENTS counts the
 * epoll events claimed for it: the worker that raises it from 0 runs the
 * connection, the others only add to it.  CONN_SCHED_DEAD marks a freed
 * connection.  EPMASK and STARTED belong to the running worker. */
#define CONN_SCHED_DEAD 0x80000000u
struct conn_sched {
	unsigned events; /* atomic */
	uint32_t epmask; /* what epoll watches; 0: not registered yet */
	bool started;    /* has run once: no longer waits in the queue */
	struct conn *next_later; /* the owner's list of yielded connections */
};

/* A new connection accepted on L from PEER, owned by the caller (its
 * sched.events is 1).  Returns NULL on allocation failure (the caller closes
 * FD). */
struct conn *conn_new(int fd, const struct sockaddr *peer, socklen_t peerlen,
		      const struct listener *l);

/* Still waiting for the PROXY header of a trusted proxy (whose client is
 * not known yet: the pool does not count it per client address). */
bool conn_awaits_proxy_header(const struct conn *c);

/* How the pool counts a connection against max_connections_per_ip once its
 * PROXY header has named the client CLIENT: 0, or -EUSERS when that client
 * has its fill (the connection then gets 429). */
typedef int (*conn_client_fn)(void *arg, struct conn *c, const struct sockaddr_storage *client);
void conn_set_client_hook(conn_client_fn fn, void *arg);

/* Closes the socket and frees everything the connection holds.  The struct
 * itself stays valid memory (marked CONN_SCHED_DEAD) for late epoll events
 * and is reused by conn_new(). */
void conn_free(struct conn *c);

struct conn_sched *conn_sched(struct conn *c);

/* Return the memory of freed connections: only when no worker runs. */
void conn_cache_release(void);

/* A thread that served connections is leaving: free its spare buffers. */
void conn_thread_exit(void);

/* Run the state machine until it would block. */
enum conn_want conn_run(struct conn *c);

int conn_fd(const struct conn *c);
const char *conn_peer(const struct conn *c);

/* Monotonic milliseconds after which the reaper may time the connection out;
 * 0 while a worker runs it. */
int64_t conn_deadline(const struct conn *c);

/* What a connection is doing, as counted for /metrics: waiting for (the
 * rest of) a request, sending a response, or idle between requests.  Set
 * each time it is parked; a running connection keeps its last phase. */
enum conn_phase {
	CONN_PHASE_READING,
	CONN_PHASE_WRITING,
	CONN_PHASE_IDLE,
};
enum conn_phase conn_phase(const struct conn *c);

/* True while parked between requests (after at least one response) with
 * nothing buffered: what a graceful stop may close at once. */
bool conn_is_idle(const struct conn *c);

/* True for a parked HTTP/2 connection with no open stream while the
 * published site no longer offers HTTP/2 (a reload turned it off): the
 * reaper times it out, which sends GOAWAY and closes it. */
bool conn_h2_unoffered(const struct conn *c);

/* Called by the reaper when the deadline passed (or to close idle
 * connections on shutdown): marks the connection and shuts down its read
 * side, which wakes it through epoll; the owning worker then closes it
 * (after a 408 when a request was half received). */
void conn_timeout(struct conn *c);

/* What an upload calls around its fsyncs, so that the event loop goes on
 * without the blocked worker: the pool's pool_block_begin/_end, set by the
 * pool before its workers start (this way conn.c needs no pool.h). */
void conn_set_block_hooks(void (*begin)(void), void (*end)(void));

/* The port https:// redirects name (tls.redirect_http): tls.port, or the
 * port of the socket systemd passed as "https"; set by main. */
void conn_set_https_port(unsigned port);

/* While draining for shutdown, no response keeps its connection open. */
void conn_set_draining(bool on);

/* Number of responses completed by all connections (for STATUS lines). */
uint64_t conn_requests_served(void);

#endif
