/* pool.c - worker threads on a shared epoll set, the accept queue and the
 * reaper.  See pool.h and doc/ARCHITECTURE.md for the design.
 *
 * Connections are registered once, edge-triggered (EPOLLET), and never
 * re-armed: a keep-alive request costs epoll_wait (shared by a batch of
 * events), recv and send.  Without EPOLLONESHOT two workers may get events
 * for the same connection; the claim counter in struct conn_sched decides:
 * the worker that raises it from 0 runs the connection until the count it
 * saw is consumed, the others just add to it and move on. */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "client_key.h"
#include "client_table.h"
#include "clock.h"
#include "conn.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "response.h"

#define ACCEPT_BATCH 64
#define EVENTS_BATCH 16 /* epoll events one worker takes at a time */
#define REAPER_TICK_MS 1000
#define REAPER_DRAIN_TICK_MS 100
#define LOG_EVERY_MS 5000 /* rate limit of the saturation/queue warnings */
#define SPIN_POLL_NS 2000 /* first interval between two polls of a spin */
#define SPIN_POLL_MAX_NS 32000 /* the interval doubles up to this */

struct reg_entry {
	struct conn *c;
	bool counted; /* holds one of its client's max_connections_per_ip slots */
	struct client_key key;
};

struct worker {
	struct pool *pool;
	unsigned index;
	pthread_t thread;
	/* connections this worker owns that yielded with work left: run
	 * again after the current batch of events (this thread only) */
	struct conn *later;
	/* ns this worker may still spend polling before it sleeps (see
	 * wait_events): earned by time spent serving, at most busy_poll */
	int64_t spin_credit;
};

#define WORKERS_MAX 4096 /* threads ever started, across resizes */

struct pool {
	int epfd;
	int wakefd; /* EFD_SEMAPHORE: one token per queued connection */
	int stopfd; /* written once, never read: wakes every worker */
	int probefd; /* the watchdog's liveness probe, see pool_probe() */
	bool probe_pending; /* atomic */

	/* listeners: owned by the pool; replaced on reload under the write
	 * lock, used by accepting workers under the read lock */
	pthread_rwlock_t lslock;
	struct listener ls[LISTENER_MAX];
	size_t nls;

	struct worker *workers; /* WORKERS_MAX slots, nstarted used */
	unsigned nstarted;
	unsigned nworkers;    /* atomic: the target size of the pool */
	unsigned exit_tokens; /* atomic: workers asked to exit (shrinking) */
	unsigned spare_cpus;  /* CPUs we may run on, minus one */

	/* At most `slots` workers (one per CPU) run the event loop; the others
	 * stand by until one of those blocks (pool_block_begin) or leaves.
	 * A thread woken by epoll that has no CPU to run on only costs
	 * context switches. */
	pthread_mutex_t slotlock;
	pthread_cond_t slotcond;
	unsigned slots;  /* under slotlock */
	unsigned active; /* atomic, changed under slotlock */
	bool halt;       /* under slotlock: pool_free() stops everyone */
	unsigned busy;        /* atomic */

	/* accepted connections waiting for a free worker: registered in the
	 * epoll set, not run yet (the ready list is their FIFO) */
	unsigned qcap;     /* atomic */
	unsigned waiting;  /* atomic */
	uint64_t rejected; /* atomic */

	/* every open connection, indexed by fd: the reaper walks it */
	pthread_mutex_t reglock;
	pthread_cond_t regcond; /* signalled when the last connection closes */
	struct reg_entry *reg;
	size_t regcap, nconns;
	/* open connections per client, for max_connections_per_ip (under
	 * reglock); IPv6 clients by their first ipv6_prefix bits */
	struct client_table *clients;
	unsigned per_ip_cap;  /* atomic: 0 = off */
	unsigned ipv6_prefix; /* atomic: client_ipv6_prefix */
	int64_t spin_ns;     /* atomic: busy_poll, see wait_events() */

	bool accept_paused; /* under reglock: out of fds, retried by the reaper */
	bool draining;      /* under reglock */
	bool stopping;      /* under reglock */
	pthread_t reaper;
	bool reaper_started;
	pthread_cond_t reapcond;

	int64_t last_saturated_log; /* atomic */
	int64_t last_queue_log;     /* atomic */
	int64_t last_per_ip_log;    /* atomic */
	size_t by_phase[3];         /* atomic: connections per enum conn_phase, by the reaper */
};

/* Rate-limited warnings: at most one per LOG_EVERY_MS for each kind. */
static bool log_due(int64_t *last)
{
	return log_ratelimit(last, LOG_EVERY_MS);
}

/* ------------------------------------------------------------------------
 * Registry of open connections
 */

/* Register C (from address SS, LEN bytes).  Returns 0, -ENOMEM, -EUSERS
 * when its client already has max_connections_per_ip connections, or
 * -EBUSY when the per-client table refuses a new client (a full chain).
 * The client's key goes to *KEY. */
static int registry_add(struct pool *p, struct conn *c, const struct sockaddr_storage *ss,
			socklen_t len, struct client_key *key)
{
	size_t fd = (size_t)conn_fd(c);
	unsigned cap = __atomic_load_n(&p->per_ip_cap, __ATOMIC_RELAXED);
	unsigned prefix = __atomic_load_n(&p->ipv6_prefix, __ATOMIC_RELAXED);
	bool counted = false;
	int r = 0;

	/* not an IP client (a Unix socket from systemd): nothing to count;
	 * a trusted proxy's connection counts for its client, once known
	 * (count_client) */
	if (cap && !conn_awaits_proxy_header(c) &&
	    client_key_from_sockaddr(key, (const struct sockaddr *)ss, len, prefix) == 0)
		counted = true;

	pthread_mutex_lock(&p->reglock);
	if (fd >= p->regcap) {
		size_t ncap = p->regcap ? p->regcap : 1024;
		struct reg_entry *n;
		while (ncap <= fd)
			ncap *= 2;
		n = realloc(p->reg, ncap * sizeof *n);
		if (!n) {
			r = -ENOMEM;
			goto out;
		}
		memset(n + p->regcap, 0, (ncap - p->regcap) * sizeof *n);
		p->reg = n;
		p->regcap = ncap;
	}
	if (counted) {
		r = client_table_take(p->clients, key, cap);
		if (r < 0)
			goto out;
	}
	p->reg[fd] = (struct reg_entry){ .c = c, .counted = counted };
	if (counted)
		p->reg[fd].key = *key;
	p->nconns++;
out:
	pthread_mutex_unlock(&p->reglock);
	return r;
}

/* conn_set_client_hook(): C's PROXY header named CLIENT; count it now.
 * 0, or -EUSERS / -EBUSY as registry_add(). */
static int count_client(void *arg, struct conn *c, const struct sockaddr_storage *client)
{
	struct pool *p = arg;
	size_t fd = (size_t)conn_fd(c);
	unsigned cap = __atomic_load_n(&p->per_ip_cap, __ATOMIC_RELAXED);
	unsigned prefix = __atomic_load_n(&p->ipv6_prefix, __ATOMIC_RELAXED);
	socklen_t len = client->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						      : sizeof(struct sockaddr_in);
	struct client_key key;
	int r = 0;

	if (!cap || client_key_from_sockaddr(&key, (const struct sockaddr *)client, len, prefix) < 0)
		return 0;
	pthread_mutex_lock(&p->reglock);
	if (fd < p->regcap && p->reg[fd].c == c && !p->reg[fd].counted) {
		r = client_table_take(p->clients, &key, cap);
		if (r == 0) {
			p->reg[fd].counted = true;
			p->reg[fd].key = key;
		}
	}
	pthread_mutex_unlock(&p->reglock);
	return r;
}

/* Unregister and free: after this the reaper cannot see C any more, so the
 * fd can be closed and reused safely. */
static void conn_close(struct pool *p, struct conn *c)
{
	size_t fd = (size_t)conn_fd(c);

	pthread_mutex_lock(&p->reglock);
	if (p->reg[fd].counted)
		client_table_release(p->clients, &p->reg[fd].key);
	p->reg[fd].c = NULL;
	p->reg[fd].counted = false;
	if (--p->nconns == 0)
		pthread_cond_broadcast(&p->regcond);
	pthread_mutex_unlock(&p->reglock);
	conn_free(c);
}

void pool_set_per_ip_cap(struct pool *p, unsigned cap, unsigned ipv6_prefix)
{
	/* connections counted under an old cap or prefix keep their slot
	 * (under the key they were counted by) until they close; ones
	 * accepted uncounted stay uncounted */
	__atomic_store_n(&p->ipv6_prefix, ipv6_prefix, __ATOMIC_RELAXED);
	__atomic_store_n(&p->per_ip_cap, cap, __ATOMIC_RELAXED);
}

void pool_set_busy_poll(struct pool *p, unsigned usec)
{
	__atomic_store_n(&p->spin_ns, (int64_t)usec * 1000, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------
 * The queue of accepted connections waiting for a worker
 */

/* Answer STATUS (503: queue full, 429: too many connections from one
 * address) with Retry-After and let the caller close.  The request (if it
 * has arrived) is read first, so that close() does not turn into a reset
 * that destroys the answer before the client reads it. */
static void reject(int fd, int status)
{
	char buf[1536], sink[4096];
	size_t blen, n;
	struct resp_head h = {
		.status = status,
		.content_type = "text/html; charset=utf-8",
		.extra = "Retry-After: 5\r\n",
		.extra_len = strlen("Retry-After: 5\r\n"),
	};

	metrics_rejected(status);
	while (recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0)
		;
	blen = response_error_html(sink, sizeof sink, status);
	h.content_length = blen;
	n = response_head(buf, sizeof buf - blen, &h);
	if (n) {
		memcpy(buf + n, sink, blen);
		(void)send(fd, buf, n + blen, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
}

/* ------------------------------------------------------------------------
 * Accepting
 */

/* Listeners are level-triggered: a worker accepts a batch and, if more
 * connections are pending, epoll reports the listener again; nothing is
 * re-armed per batch.  Out of fds, a listener leaves the set for a tick. */
#define LISTENER_EVENTS EPOLLIN /* how every listener is watched */

static void listener_watch(struct pool *p, struct listener *l, bool on)
{
	struct epoll_event ev = { .events = LISTENER_EVENTS, .data.ptr = l };

	if (on ? epoll_ctl(p->epfd, EPOLL_CTL_ADD, l->fd, &ev) < 0 && errno != EEXIST
	       : epoll_ctl(p->epfd, EPOLL_CTL_DEL, l->fd, NULL) < 0 && errno != ENOENT)
		log_err("cannot %s listener %s: %s", on ? "watch" : "pause", l->name,
			strerror(errno));
}

/* ------------------------------------------------------------------------
 * Active slots
 */

static __thread struct pool *tl_pool; /* set in worker threads */

/* Wait for a slot; false when the pool is being freed. */
static bool slot_take(struct pool *p)
{
	bool ok;

	pthread_mutex_lock(&p->slotlock);
	while (!p->halt && p->active >= p->slots)
		pthread_cond_wait(&p->slotcond, &p->slotlock);
	ok = !p->halt;
	if (ok)
		__atomic_add_fetch(&p->active, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&p->slotlock);
	return ok;
}

static void slot_give(struct pool *p)
{
	pthread_mutex_lock(&p->slotlock);
	__atomic_sub_fetch(&p->active, 1, __ATOMIC_RELAXED);
	pthread_cond_signal(&p->slotcond);
	pthread_mutex_unlock(&p->slotlock);
}

/* More workers in the loop than slots (one came back from blocking)? */
static bool slot_surplus(struct pool *p)
{
	bool over;

	if (__atomic_load_n(&p->active, __ATOMIC_RELAXED) <= p->slots)
		return false;
	pthread_mutex_lock(&p->slotlock);
	over = p->active > p->slots;
	if (over) /* the caller stands by */
		__atomic_sub_fetch(&p->active, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&p->slotlock);
	return over;
}

void pool_block_begin(void)
{
	if (tl_pool)
		slot_give(tl_pool);
}

void pool_block_end(void)
{
	struct pool *p = tl_pool;

	if (!p)
		return;
	/* back at once, one over the count for a moment: slot_surplus()
	 * sends someone to stand by after its current round */
	pthread_mutex_lock(&p->slotlock);
	__atomic_add_fetch(&p->active, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&p->slotlock);
}

/* ------------------------------------------------------------------------
 * Running connections
 */

/* Take the connection for an event: true when this worker must run it. */
static bool claim(struct conn *c)
{
	return __atomic_fetch_add(&conn_sched(c)->events, 1, __ATOMIC_ACQ_REL) == 0;
}

/* Make epoll watch C for at least MASK (the running worker only).  An
 * edge-triggered registration stays: nothing is re-armed per request. */
static bool watch(struct pool *p, struct conn *c, uint32_t mask)
{
	struct conn_sched *s = conn_sched(c);
	struct epoll_event ev = { .events = s->epmask | mask, .data.ptr = c };
	int op = s->epmask ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	if ((s->epmask & mask) == mask)
		return true;
	if (epoll_ctl(p->epfd, op, conn_fd(c), &ev) < 0) {
		log_err("epoll_ctl for %s: %s; closing it", conn_peer(c), strerror(errno));
		return false;
	}
	s->epmask = ev.events;
	return true;
}

#define WATCH_READ (EPOLLIN | EPOLLRDHUP | EPOLLET)

/* Run C, which this worker owns, until it waits and no event came for it
 * meanwhile; or until it yields (then W runs it again after its batch). */
static void run_owned(struct pool *p, struct worker *w, struct conn *c)
{
	struct conn_sched *s = conn_sched(c);

	for (;;) {
		unsigned seen = __atomic_load_n(&s->events, __ATOMIC_ACQUIRE);
		bool ok = true;

		if (!s->started) { /* leaves the queue */
			s->started = true;
			__atomic_sub_fetch(&p->waiting, 1, __ATOMIC_RELAXED);
		}
		switch (conn_run(c)) {
		case CONN_WANT_READ:
			ok = watch(p, c, WATCH_READ);
			break;
		case CONN_WANT_WRITE:
			ok = watch(p, c, WATCH_READ | EPOLLOUT);
			break;
		case CONN_WANT_AGAIN:
			/* still owned: events meanwhile only add to the count */
			s->next_later = w->later;
			w->later = c;
			return;
		case CONN_WANT_CLOSE:
		default:
			ok = false;
			break;
		}
		if (!ok) {
			conn_close(p, c);
			return;
		}
		if (__atomic_sub_fetch(&s->events, seen, __ATOMIC_ACQ_REL) == 0)
			return;
	}
}

/* ------------------------------------------------------------------------
 * Accepting
 */

/* Take a queue slot for a new connection: false when the queue is full. */
static bool queue_take(struct pool *p, const struct conn *c)
{
	unsigned cap = __atomic_load_n(&p->qcap, __ATOMIC_RELAXED);
	unsigned n = __atomic_add_fetch(&p->waiting, 1, __ATOMIC_RELAXED);

	if (n > cap) {
		__atomic_sub_fetch(&p->waiting, 1, __ATOMIC_RELAXED);
		return false;
	}
	log_debug("queued connection from %s (%u/%u waiting)", conn_peer(c), n, cap);
	return true;
}

/* Hand a queued connection (owned, never run) to the other workers: it goes
 * into the epoll set, where its request wakes whichever worker is free.  W
 * keeps it until epoll_ctl has returned: a late event for the object's
 * previous connection (objects are reused) could otherwise claim it, run
 * it and close its fd while the ADD was still under way.  An event that
 * came meanwhile (its claim failed) makes it W's to run, after its batch. */
static void hand_off(struct pool *p, struct worker *w, struct conn *c)
{
	struct conn_sched *s = conn_sched(c);
	struct epoll_event ev = { .events = WATCH_READ, .data.ptr = c };
	unsigned held = __atomic_load_n(&s->events, __ATOMIC_ACQUIRE);

	s->epmask = ev.events;
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, conn_fd(c), &ev) < 0) {
		log_err("epoll_ctl for %s: %s; closing it", conn_peer(c), strerror(errno));
		s->started = true;
		__atomic_sub_fetch(&p->waiting, 1, __ATOMIC_RELAXED);
		conn_close(p, c);
		return;
	}
	if (__atomic_sub_fetch(&s->events, held, __ATOMIC_ACQ_REL) == 0)
		return; /* let go: from now any worker may claim it */
	s->next_later = w->later;
	w->later = c;
}

/* A connection refused at accept by the per-client table: R is -EUSERS
 * (its client has max_connections_per_ip open: 429) or -EBUSY (the
 * table's chain for a new client is full: 503). */
static void log_per_client_reject(struct pool *p, struct conn *c, const struct client_key *key,
				  int r)
{
	char client[CLIENT_KEY_TEXT_SIZE];

	client_key_format(key, client);
	if (r == -EUSERS)
		log_event(LOG_WARNING, LOG_ID_SECURITY_REJECTED,
			  LOG_FIELDS(LOG_STR("MTHTTPD_CLIENT", conn_peer(c)),
				     LOG_INT("MTHTTPD_STATUS", 429)),
			  "security: %s (client %s) has max_connections_per_ip (%u) open "
			  "connections -> 429",
			  conn_peer(c), client, __atomic_load_n(&p->per_ip_cap, __ATOMIC_RELAXED));
	else
		log_event(LOG_WARNING, LOG_ID_SECURITY_REJECTED,
			  LOG_FIELDS(LOG_STR("MTHTTPD_CLIENT", conn_peer(c)),
				     LOG_INT("MTHTTPD_STATUS", 503)),
			  "security: per-client table has %d clients in the chain of %s -> 503",
			  CLIENT_TABLE_MAX_CHAIN, client);
}

/* Accept what is pending on L (up to ACCEPT_BATCH).  Returns the first new
 * connection, which the calling worker W serves itself; the rest are queued
 * (queue_size), beyond that answered 503.  Of the queued ones, as many as
 * there are other CPUs to run them go to the other workers through epoll;
 * W runs the rest after its current events, which costs no wake-up. */
static struct conn *accept_batch(struct pool *p, struct worker *w, struct listener *l)
{
	struct conn *first = NULL, *queued[ACCEPT_BATCH];
	unsigned nq = 0, handoff = p->spare_cpus;

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		struct client_key key;
		struct conn *c;
		uint64_t rejected;
		int r;
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM: back off for a tick
			 * instead of spinning on a listener we cannot serve */
			log_err("accept on %s: %s; pausing accepts for a second", l->name,
				strerror(errno));
			listener_watch(p, l, false);
			pthread_mutex_lock(&p->reglock);
			p->accept_paused = true;
			pthread_mutex_unlock(&p->reglock);
			break;
		}
		c = conn_new(fd, (struct sockaddr *)&ss, len, l);
		r = c ? registry_add(p, c, &ss, len, &key) : -ENOMEM;
		if (r == -EUSERS || r == -EBUSY) {
			if (log_due(&p->last_per_ip_log))
				log_per_client_reject(p, c, &key, r);
			if (!l->tls) /* cleartext would only garble a TLS client */
				reject(fd, r == -EUSERS ? 429 : 503);
			conn_free(c);
			continue;
		}
		if (r < 0) {
			log_err("out of memory accepting a connection on %s", l->name);
			if (c)
				conn_free(c);
			else
				close(fd);
			continue;
		}
		if (!first) {
			conn_sched(c)->started = true;
			first = c;
			continue;
		}
		if (queue_take(p, c)) {
			conn_sched(c)->started = false;
			queued[nq++] = c;
			continue;
		}
		rejected = __atomic_add_fetch(&p->rejected, 1, __ATOMIC_RELAXED);
		if (!l->tls)
			reject(fd, 503);
		if (log_due(&p->last_queue_log))
			log_warning("queue full (%u waiting, all %u workers busy): 503 to %s "
				    "(%" PRIu64 " rejected so far)",
				    __atomic_load_n(&p->qcap, __ATOMIC_RELAXED),
				    __atomic_load_n(&p->nworkers, __ATOMIC_RELAXED), conn_peer(c),
				    rejected);
		conn_close(p, c);
	}
	for (unsigned i = 0; i < nq && i < handoff; i++)
		hand_off(p, w, queued[i]);
	/* the rest in arrival order at the head of W's list */
	for (unsigned i = nq; i-- > handoff;) {
		conn_sched(queued[i])->next_later = w->later;
		w->later = queued[i];
	}
	return first;
}

/* ------------------------------------------------------------------------
 * Workers
 */

static bool is_listener(const struct pool *p, const void *tag)
{
	return tag >= (const void *)&p->ls[0] && tag < (const void *)&p->ls[LISTENER_MAX];
}

/* A wake token may be an order to leave (the pool is shrinking). */
static bool take_exit_token(struct pool *p)
{
	unsigned t = __atomic_load_n(&p->exit_tokens, __ATOMIC_RELAXED);

	while (t > 0)
		if (__atomic_compare_exchange_n(&p->exit_tokens, &t, t - 1, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return true;
	return false;
}

static void on_listener(struct pool *p, struct worker *w, struct listener *l)
{
	struct conn *c = NULL;

	pthread_rwlock_rdlock(&p->lslock);
	if (l->fd >= 0) /* not retired by a reload since the event was queued */
		c = accept_batch(p, w, l);
	pthread_rwlock_unlock(&p->lslock);
	if (c)
		run_owned(p, w, c);
}

static void note_busy(struct pool *p)
{
	unsigned busy = __atomic_add_fetch(&p->busy, 1, __ATOMIC_RELAXED);

	if (busy >= __atomic_load_n(&p->nworkers, __ATOMIC_RELAXED) &&
	    log_due(&p->last_saturated_log)) {
		unsigned q = __atomic_load_n(&p->waiting, __ATOMIC_RELAXED);
		log_event(LOG_WARNING, LOG_ID_POOL_SATURATED,
			  LOG_FIELDS(LOG_UINT("MTHTTPD_WORKERS", busy), LOG_UINT("MTHTTPD_QUEUED", q)),
			  "pool saturated: all %u workers busy, %u connections queued", busy, q);
	}
}

enum wake { WAKE_STAY, WAKE_LEAVE, WAKE_STOP };

/* One event: whether the worker stays, leaves (resize) or stops. */
static enum wake on_event(struct pool *p, struct worker *w, void *tag)
{
	eventfd_t v;

	if (tag == &p->stopfd)
		return WAKE_STOP;
	if (tag == &p->wakefd) {
		if (eventfd_read(p->wakefd, &v) < 0) /* take one token */
			return WAKE_STAY;
		if (take_exit_token(p)) {
			log_debug("leaving the pool (resized)");
			return WAKE_LEAVE;
		}
		return WAKE_STAY;
	}
	if (tag == &p->probefd) {
		(void)eventfd_read(p->probefd, &v);
		__atomic_store_n(&p->probe_pending, false, __ATOMIC_RELEASE);
		return WAKE_STAY;
	}
	if (is_listener(p, tag)) {
		on_listener(p, w, tag);
		return WAKE_STAY;
	}
	if (claim(tag))
		run_owned(p, w, tag);
	return WAKE_STAY;
}

/* Run the connections on LIST, which yielded in an earlier round (each may
 * yield again, onto w->later). */
static void run_yielded(struct pool *p, struct worker *w, struct conn *c)
{
	while (c) {
		struct conn *next = conn_sched(c)->next_later;
		run_owned(p, w, c);
		c = next;
	}
}

/* Run what W still owns (yielded connections) until each would block:
 * before it stands by or leaves, nobody else could run them. */
static void finish_owned(struct pool *p, struct worker *w)
{
	while (w->later) {
		struct conn *yielded = w->later;
		w->later = NULL;
		run_yielded(p, w, yielded);
	}
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Poll (never sleep) for up to SPIN ns; the interval between two polls
 * starts at SPIN_POLL_NS and doubles up to SPIN_POLL_MAX_NS, so a short gap
 * is caught at once and a long one costs few syscalls.  Returns what the
 * last poll returned and in *SPENT how long it polled. */
static int spin_events(struct pool *p, struct epoll_event *ev, int64_t spin, int64_t *spent)
{
	int64_t start = mth_clock_ns(), now = start, gap = SPIN_POLL_NS, next = start + gap;
	int n = 0;

	while (now - start < spin) {
		if (now >= next) {
			n = epoll_wait(p->epfd, ev, EVENTS_BATCH, 0);
			if (n != 0)
				break;
			next = mth_clock_ns() + gap;
			if (gap < SPIN_POLL_MAX_NS)
				gap *= 2;
		}
		cpu_relax();
		now = mth_clock_ns();
	}
	*spent = mth_clock_ns() - start;
	return n;
}

/* epoll_wait for up to TIMEOUT ms.  A worker that has been serving polls
 * for a while first (busy_poll): under steady load the next request comes
 * within microseconds, and sleeping for it would cost a context switch each
 * way and the wake-up latency.  The time it may poll is earned by the time
 * it spent serving (spin_credit, capped at busy_poll), so polling never
 * takes more CPU than the requests themselves, and a quiet server polls for
 * a few microseconds after each request at most. */
static int wait_events(struct pool *p, struct worker *w, struct epoll_event *ev, int timeout)
{
	if (timeout != 0 && w->spin_credit > 0) {
		int64_t spent;
		int n = spin_events(p, ev, w->spin_credit, &spent);

		w->spin_credit -= spent;
		if (n != 0)
			return n;
	}
	return epoll_wait(p->epfd, ev, EVENTS_BATCH, timeout);
}

/* A round of serving took from START to now: credit it for polling. */
static void earn_spin(struct pool *p, struct worker *w, int64_t start)
{
	int64_t cap = __atomic_load_n(&p->spin_ns, __ATOMIC_RELAXED);

	w->spin_credit += mth_clock_ns() - start;
	if (w->spin_credit > cap)
		w->spin_credit = cap;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;
	enum wake wk = WAKE_STAY;
	char name[16];

	snprintf(name, sizeof name, "worker-%u", w->index);
	log_set_thread_name(name);
	snprintf(name, sizeof name, "mthttpd-w%u", w->index);
	pthread_setname_np(pthread_self(), name);
	tl_pool = p;

	if (!slot_take(p))
		wk = WAKE_STOP;
	while (wk == WAKE_STAY) {
		struct epoll_event ev[EVENTS_BATCH];
		/* access log lines wait in this thread's buffer at most a second */
		int timeout = w->later ? 0 : access_log_flush_due_ms();
		int n;
		struct conn *yielded = w->later;
		int64_t round_start;

		if (timeout == 0 && !yielded) {
			access_log_flush_thread();
			timeout = -1;
		}
		n = wait_events(p, w, ev, timeout);
		if (n < 0 && errno != EINTR)
			log_err("epoll_wait: %s", strerror(errno));
		if (n <= 0 && !yielded)
			continue;
		note_busy(p);
		round_start = mth_clock_ns();
		/* the ones that yielded last round go after these events */
		w->later = NULL;
		/* every event of the batch is handled even when leaving: an
		 * edge-triggered event dropped here would never come again */
		for (int i = 0; i < n && wk != WAKE_STOP; i++) {
			enum wake r = on_event(p, w, ev[i].data.ptr);
			if (r != WAKE_STAY)
				wk = r;
		}
		if (wk != WAKE_STOP)
			run_yielded(p, w, yielded);
		else
			w->later = NULL; /* pool_free() closes them */
		__atomic_sub_fetch(&p->busy, 1, __ATOMIC_RELAXED);
		earn_spin(p, w, round_start);
		if (wk == WAKE_STAY && slot_surplus(p)) {
			finish_owned(p, w);
			if (!slot_take(p))
				wk = WAKE_STOP;
		}
	}
	/* leaving a shrinking pool: finish what this worker owns, then hand
	 * the slot on; on a stop, pool_free() closes whatever is left */
	if (wk == WAKE_LEAVE) {
		finish_owned(p, w);
		slot_give(p);
	}
	conn_thread_exit();
	return NULL;
}

static int start_worker(struct pool *p, char *err, size_t errlen)
{
	struct worker *w;
	int r;

	if (p->nstarted >= WORKERS_MAX) {
		snprintf(err, errlen, "too many worker threads started (%d)", WORKERS_MAX);
		return -EMFILE;
	}
	w = &p->workers[p->nstarted];
	w->pool = p;
	w->index = p->nstarted + 1;
	r = -pthread_create(&w->thread, NULL, worker_main, w);
	if (r < 0) {
		snprintf(err, errlen, "cannot start worker %u: %s", w->index, strerror(-r));
		return r;
	}
	p->nstarted++;
	return 0;
}

/* ------------------------------------------------------------------------
 * The reaper: deadlines, paused accepts, draining
 */

/* Under reglock, once a second: time out what is overdue, and count the
 * connections by phase for /metrics on the way. */
static void reap(struct pool *p, int64_t now)
{
	size_t by_phase[3] = { 0 };

	for (size_t fd = 0; fd < p->regcap; fd++) {
		struct conn *c = p->reg[fd].c;
		int64_t d;

		if (!c)
			continue;
		by_phase[conn_phase(c) % 3]++;
		d = conn_deadline(c);
		if (d && (now >= d || (p->draining && conn_is_idle(c)) || conn_h2_unoffered(c)))
			conn_timeout(c);
	}
	for (size_t i = 0; i < 3; i++)
		__atomic_store_n(&p->by_phase[i], by_phase[i], __ATOMIC_RELAXED);
}

static void *reaper_main(void *arg)
{
	struct pool *p = arg;

	log_set_thread_name("reaper");
	pthread_setname_np(pthread_self(), "mthttpd-reaper");
	pthread_mutex_lock(&p->reglock);
	while (!p->stopping) {
		int64_t tick = p->draining ? REAPER_DRAIN_TICK_MS : REAPER_TICK_MS;
		struct timespec ts = mth_clock_deadline(tick);

		pthread_cond_timedwait(&p->reapcond, &p->reglock, &ts);
		if (p->stopping)
			break;
		reap(p, mth_clock_coarse_ms());
		if (p->accept_paused && !p->draining) {
			p->accept_paused = false;
			pthread_rwlock_rdlock(&p->lslock);
			for (size_t i = 0; i < p->nls; i++)
				listener_watch(p, &p->ls[i], true);
			pthread_rwlock_unlock(&p->lslock);
		}
	}
	pthread_mutex_unlock(&p->reglock);
	return NULL;
}

/* ------------------------------------------------------------------------
 * Life cycle
 */

static int epoll_add(int epfd, int fd, uint32_t events, void *tag)
{
	struct epoll_event ev = { .events = events, .data.ptr = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void pool_destroy(struct pool *p, bool close_listeners);

int pool_start(struct pool **out, const struct listener *l, size_t n, unsigned pool_size,
	       unsigned queue_size, char *err, size_t errlen)
{
	pthread_condattr_t ca;
	struct pool *p;
	int r;

	p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->epfd = p->wakefd = p->stopfd = p->probefd = -1;
	conn_set_block_hooks(pool_block_begin, pool_block_end);
	/* before any worker exists: they only read it */
	conn_set_client_hook(count_client, p);
	pthread_mutex_init(&p->reglock, NULL);
	pthread_mutex_init(&p->slotlock, NULL);
	pthread_cond_init(&p->slotcond, NULL);
	pthread_rwlock_init(&p->lslock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->regcond, &ca);
	pthread_cond_init(&p->reapcond, &ca);
	pthread_condattr_destroy(&ca);
	for (size_t i = 0; i < LISTENER_MAX; i++)
		p->ls[i].fd = -1;
	memcpy(p->ls, l, n * sizeof *l);
	p->nls = n;
	p->qcap = queue_size;
	p->ipv6_prefix = CLIENT_KEY_IPV6_PREFIX_DEFAULT;
	p->workers = calloc(WORKERS_MAX, sizeof *p->workers);
	p->clients = client_table_new();
	if (!p->workers || !p->clients) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE);
	p->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->probefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->epfd < 0 || p->wakefd < 0 || p->stopfd < 0 || p->probefd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create epoll/eventfd: %s", strerror(errno));
		goto fail;
	}
	/* level-triggered: every token in wakefd, and stopfd once written,
	 * keeps waking workers until consumed (stopfd: forever); the probe is
	 * one-shot, re-armed by pool_probe() */
	if ((r = epoll_add(p->epfd, p->wakefd, EPOLLIN, &p->wakefd)) < 0 ||
	    (r = epoll_add(p->epfd, p->stopfd, EPOLLIN, &p->stopfd)) < 0 ||
	    (r = epoll_add(p->epfd, p->probefd, EPOLLIN | EPOLLONESHOT, &p->probefd)) < 0)
		goto fail_epoll;
	for (size_t i = 0; i < n; i++)
		if ((r = epoll_add(p->epfd, p->ls[i].fd, LISTENER_EVENTS, &p->ls[i])) < 0)
			goto fail_epoll;

	{
		cpu_set_t cpus;
		int ncpu = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 2;
		p->spare_cpus = ncpu > 1 ? (unsigned)ncpu - 1 : 0;
		p->slots = ncpu > 1 ? (unsigned)ncpu : 1;
	}
	/* the target size is set before any worker can read it */
	__atomic_store_n(&p->nworkers, pool_size, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < pool_size; i++)
		if ((r = start_worker(p, err, errlen)) < 0)
			goto fail;
	r = -pthread_create(&p->reaper, NULL, reaper_main, p);
	if (r < 0) {
		snprintf(err, errlen, "cannot start the reaper thread: %s", strerror(-r));
		goto fail;
	}
	p->reaper_started = true;
	log_info("pool started: %u workers, queue of %u", p->nworkers, p->qcap);
	*out = p;
	return 0;
fail_epoll:
	snprintf(err, errlen, "epoll_ctl: %s", strerror(-r));
fail:
	/* the listeners stay the caller's: not closed here (the caller
	 * closes them, and a second close could hit a reused number) */
	pool_destroy(p, false);
	return r;
}

int pool_resize(struct pool *p, unsigned pool_size, unsigned queue_size, char *err,
		size_t errlen)
{
	unsigned cur = __atomic_load_n(&p->nworkers, __ATOMIC_RELAXED);
	/* connections already waiting stay queued; a smaller queue only
	 * turns away new ones until it has room again */
	unsigned qcap = __atomic_exchange_n(&p->qcap, queue_size, __ATOMIC_RELAXED);
	int r = 0;

	if (pool_size > cur) {
		for (unsigned i = cur; i < pool_size; i++) {
			if ((r = start_worker(p, err, errlen)) < 0)
				break;
			__atomic_add_fetch(&p->nworkers, 1, __ATOMIC_RELAXED);
		}
	} else if (pool_size < cur) {
		/* any k workers leave, each as it next wakes: nobody is
		 * interrupted in the middle of a request */
		__atomic_store_n(&p->nworkers, pool_size, __ATOMIC_RELAXED);
		__atomic_add_fetch(&p->exit_tokens, cur - pool_size, __ATOMIC_RELAXED);
		if (eventfd_write(p->wakefd, cur - pool_size) < 0)
			log_err("cannot wake workers to leave: %s", strerror(errno));
	}
	if (pool_size != cur || queue_size != qcap)
		log_notice("pool resized: %u workers (was %u), queue of %u",
			   __atomic_load_n(&p->nworkers, __ATOMIC_RELAXED), cur, queue_size);
	return r;
}

void pool_replace_listeners(struct pool *p, const struct listener *l, size_t n)
{
	pthread_rwlock_wrlock(&p->lslock);
	for (size_t i = 0; i < p->nls; i++) {
		epoll_ctl(p->epfd, EPOLL_CTL_DEL, p->ls[i].fd, NULL);
		log_info("no longer listening on %s", p->ls[i].name);
		close(p->ls[i].fd);
		p->ls[i].fd = -1;
	}
	memcpy(p->ls, l, n * sizeof *l);
	p->nls = n;
	for (size_t i = 0; i < n; i++) {
		if (epoll_add(p->epfd, p->ls[i].fd, LISTENER_EVENTS, &p->ls[i]) < 0)
			log_err("cannot watch %s: %s", p->ls[i].name, strerror(errno));
		else
			log_info("listening on %s", p->ls[i].name);
	}
	pthread_rwlock_unlock(&p->lslock);
}

void pool_listeners(struct pool *p, struct listener *out, size_t *n)
{
	pthread_rwlock_rdlock(&p->lslock);
	memcpy(out, p->ls, p->nls * sizeof *out);
	*n = p->nls;
	pthread_rwlock_unlock(&p->lslock);
}

void pool_probe(struct pool *p)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = &p->probefd };

	__atomic_store_n(&p->probe_pending, true, __ATOMIC_RELEASE);
	if (eventfd_write(p->probefd, 1) < 0 || epoll_ctl(p->epfd, EPOLL_CTL_MOD, p->probefd, &ev))
		log_err("cannot post the watchdog probe: %s", strerror(errno));
}

bool pool_probe_answered(struct pool *p)
{
	return !__atomic_load_n(&p->probe_pending, __ATOMIC_ACQUIRE);
}

void pool_stop_accepting(struct pool *p)
{
	/* no new connections: the listeners leave the epoll set (systemd's
	 * socket keeps its backlog for the next instance) */
	pthread_rwlock_wrlock(&p->lslock);
	for (size_t i = 0; i < p->nls; i++)
		epoll_ctl(p->epfd, EPOLL_CTL_DEL, p->ls[i].fd, NULL);
	pthread_rwlock_unlock(&p->lslock);
	conn_set_draining(true);
	pthread_mutex_lock(&p->reglock);
	p->draining = true;
	pthread_cond_signal(&p->reapcond);
	pthread_mutex_unlock(&p->reglock);
}

size_t pool_wait_idle(struct pool *p, int64_t timeout_ms)
{
	struct timespec ts = mth_clock_deadline(timeout_ms);
	size_t left;

	pthread_mutex_lock(&p->reglock);
	while (p->nconns > 0)
		if (pthread_cond_timedwait(&p->regcond, &p->reglock, &ts) == ETIMEDOUT)
			break;
	left = p->nconns;
	pthread_mutex_unlock(&p->reglock);
	return left;
}

/* Stop everything and free P; close the listeners only with
 * CLOSE_LISTENERS (they are the caller's until pool_start() succeeds). */
static void pool_destroy(struct pool *p, bool close_listeners)
{
	if (p->stopfd >= 0 && eventfd_write(p->stopfd, 1) < 0)
		log_err("cannot stop the workers: %s", strerror(errno));
	pthread_mutex_lock(&p->slotlock);
	p->halt = true;
	pthread_cond_broadcast(&p->slotcond);
	pthread_mutex_unlock(&p->slotlock);
	for (unsigned i = 0; i < p->nstarted; i++)
		pthread_join(p->workers[i].thread, NULL);
	if (p->reaper_started) {
		pthread_mutex_lock(&p->reglock);
		p->stopping = true;
		pthread_cond_signal(&p->reapcond);
		pthread_mutex_unlock(&p->reglock);
		pthread_join(p->reaper, NULL);
	}
	/* only this thread is left: free whatever is still open or queued */
	for (size_t fd = 0; fd < p->regcap; fd++)
		if (p->reg[fd].c)
			conn_free(p->reg[fd].c);
	conn_cache_release();
	client_table_free(p->clients);
	for (size_t i = 0; close_listeners && i < p->nls; i++)
		if (p->ls[i].fd >= 0)
			close(p->ls[i].fd);
	free(p->reg);
	free(p->workers);
	if (p->epfd >= 0)
		close(p->epfd);
	if (p->wakefd >= 0)
		close(p->wakefd);
	if (p->stopfd >= 0)
		close(p->stopfd);
	if (p->probefd >= 0)
		close(p->probefd);
	pthread_mutex_destroy(&p->reglock);
	pthread_mutex_destroy(&p->slotlock);
	pthread_cond_destroy(&p->slotcond);
	pthread_rwlock_destroy(&p->lslock);
	pthread_cond_destroy(&p->regcond);
	pthread_cond_destroy(&p->reapcond);
	free(p);
}

void pool_free(struct pool *p)
{
	if (p)
		pool_destroy(p, true);
}

void pool_get_stats(struct pool *p, struct pool_stats *out)
{
	out->workers = __atomic_load_n(&p->nworkers, __ATOMIC_RELAXED);
	out->busy = __atomic_load_n(&p->busy, __ATOMIC_RELAXED);
	out->queued = __atomic_load_n(&p->waiting, __ATOMIC_RELAXED);
	out->queue_cap = __atomic_load_n(&p->qcap, __ATOMIC_RELAXED);
	out->rejected = __atomic_load_n(&p->rejected, __ATOMIC_RELAXED);
	pthread_mutex_lock(&p->reglock);
	out->connections = p->nconns;
	pthread_mutex_unlock(&p->reglock);
	out->requests = conn_requests_served();
	out->conns_reading = __atomic_load_n(&p->by_phase[CONN_PHASE_READING], __ATOMIC_RELAXED);
	out->conns_writing = __atomic_load_n(&p->by_phase[CONN_PHASE_WRITING], __ATOMIC_RELAXED);
	out->conns_idle = __atomic_load_n(&p->by_phase[CONN_PHASE_IDLE], __ATOMIC_RELAXED);
}
