/* main.c - command line, start-up, the signal loop, shutdown. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "access_log.h"
#include "admin.h"
#include "client_key.h"
#include "clock.h"
#include "config.h"
#include "conn.h"
#include "guard.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "path.h"
#include "pool.h"
#include "reload_state.h"
#include "quota.h"
#include "site.h"
#include "tls.h"
#include "upload.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/mthttpd.conf"
#define STATUS_EVERY_SEC 5
#define RELOAD_TIMEOUT_MS 60000 /* --reload; systemd allows ExecReload= 90 s */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mthttpd [-c FILE] [-t | --reload]\n"
		"A multi-threaded HTTP/1.1 and HTTP/2 server for static files and JSON uploads.\n"
		"\n"
		"  -c, --config FILE  configuration file (default " DEFAULT_CONFIG ")\n"
		"  -t, --test         check the configuration and exit (0 = valid)\n"
		"      --reload       check FILE, make the running daemon reload it and wait\n"
		"                     until it serves it (exit 0) or rejected it (exit 1);\n"
		"                     for ExecReload= ($RUNTIME_DIRECTORY, $MAINPID)\n"
		"  -V, --version      print the version and exit\n"
		"  -h, --help         print this help and exit\n"
		"\n"
		"The server stays in the foreground and logs to stderr; under systemd it\n"
		"takes its listening sockets from mthttpd.socket when activated.\n"
		"Signals: TERM/INT stop gracefully, HUP reloads the configuration,\n"
		"USR1 reopens the access log file.\n");
}

static void status_line(struct pool *p, unsigned reloads, const char *note)
{
	struct pool_stats st;

	pool_get_stats(p, &st);
	log_debug("pool: %u/%u workers busy, queue %u/%u, %zu connections, %" PRIu64
		  " requests, %" PRIu64 " rejected",
		  st.busy, st.workers, st.queued, st.queue_cap, st.connections, st.requests,
		  st.rejected);
	sd_notifyf(0,
		   "STATUS=workers %u/%u busy, queue %u/%u, %zu connections, %" PRIu64
		   " requests, %" PRIu64 " TLS handshakes, %u reloads, %" PRIu64
		   " log records dropped%s%s",
		   st.busy, st.workers, st.queued, st.queue_cap, st.connections, st.requests,
		   tls_handshakes(), reloads, access_log_dropped(), note ? "; " : "",
		   note ? note : "");
}

static unsigned own_tls_port(const struct mth_config *c)
{
	return c->tls.enabled ? c->tls.port : 0;
}

/* The upload quota's totals, from what uploads_dir holds now (at start
 * and on reload: files may have been removed by hand). */
static void scan_quota(const struct site *s)
{
	int r;

	if (!s->cfg->uploads_max_bytes && !s->cfg->uploads_max_files)
		return;
	r = quota_scan(guard_quota(), s->uploads_fd);
	if (r < 0)
		log_warning("cannot count the files in %s for the upload quota: %s",
			    s->cfg->uploads_dir, strerror(-r));
}

/* uploads_dir at start, and when a reload points it elsewhere: this
 * node's stale temporary files go (not those of process SPARE: on reload
 * this one, whose uploads may be in flight), and the log says once which
 * temporary files the directory's file system allows (upload.h). */
static void uploads_dir_ready(const struct site *s, pid_t spare)
{
	int r = upload_cleanup_temp(s->uploads_fd, spare);

	if (r > 0)
		log_notice("removed %d stale temporary upload files of this node (%s) from %s", r,
			   upload_node_name(), s->cfg->uploads_dir);
	else if (r < 0)
		log_warning("cannot remove stale temporary upload files from %s: %s",
			    s->cfg->uploads_dir, strerror(-r));
	r = upload_probe(s->uploads_fd);
	if (r < 0)
		log_warning("uploads into %s: cannot create a temporary file there: %s",
			    s->cfg->uploads_dir, strerror(-r));
	else
		log_msg(r == UPLOAD_TEMP_UNNAMED ? LOG_INFO : LOG_NOTICE, "uploads into %s: %s",
			s->cfg->uploads_dir, upload_temp_mode_describe(r));
}

/* Basic credentials travel in clear over plain HTTP: say so when uploads
 * need them on a listener that other hosts can reach. */
static void warn_cleartext_auth(const struct mth_config *cfg, const struct listener *ls,
				size_t nls)
{
	if (!cfg->upload_users)
		return;
	for (size_t i = 0; i < nls; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;

		if (ls[i].tls || getsockname(ls[i].fd, (struct sockaddr *)&ss, &len) < 0)
			continue;
		if (ss.ss_family != AF_UNIX && !client_addr_is_loopback((struct sockaddr *)&ss))
			log_warning("uploads need credentials (upload_users_file %s), but %s is "
				    "plain HTTP beyond loopback: passwords cross the network in "
				    "clear; serve uploads over HTTPS",
				    cfg->upload_users_file, ls[i].name);
	}
}

static bool same_address(const struct mth_config *a, const struct mth_config *b)
{
	return a->port == b->port && own_tls_port(a) == own_tls_port(b) &&
	       strcmp(a->listen_address, b->listen_address) == 0;
}

/* The certificates of CFG's tls group (NULL without one).  Warnings (an
 * expired certificate) are logged, or printed with -t (TO_STDERR). */
static int load_tls(const struct mth_config *cfg, struct tls_ctx **out, char *err,
		    size_t errlen, bool to_stderr)
{
	char warn[1024];
	int r;

	*out = NULL;
	if (!cfg->tls.enabled)
		return 0;
	r = tls_ctx_new(&cfg->tls, cfg->path, out, err, errlen, warn, sizeof warn);
	for (char *line = warn, *nl; r == 0 && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = '\0';
		if (to_stderr)
			fprintf(stderr, "mthttpd: warning: %s: tls: %s\n", cfg->path, line);
		else
			log_warning("%s: tls: %s", cfg->path, line);
	}
	return r;
}

/* Where https:// redirects point: our own TLS listener, else the first
 * socket systemd passed as "https". */
static void set_https_port(const struct mth_config *cfg, const struct listener *ls, size_t n)
{
	unsigned port = own_tls_port(cfg);

	for (size_t i = 0; !port && i < n; i++)
		if (ls[i].tls)
			port = ls[i].port;
	conn_set_https_port(port);
}

static bool same_admin(const struct mth_config *a, const struct mth_config *b)
{
	return a->admin_addrlen == b->admin_addrlen &&
	       memcmp(&a->admin_addr, &b->admin_addr, a->admin_addrlen) == 0;
}

/* The admin listener's view of the pool, at scrape time. */
static void admin_gauges(void *arg, struct metrics_gauges *g)
{
	struct pool_stats st;

	pool_get_stats(arg, &st);
	g->workers = st.workers;
	g->busy = st.busy;
	g->queued = st.queued;
	g->queue_cap = st.queue_cap;
	g->conns_reading = st.conns_reading;
	g->conns_writing = st.conns_writing;
	g->conns_idle = st.conns_idle;
	g->access_log_dropped = access_log_dropped();
}

/* Start the admin listener CFG asks for into *OUT (NULL when off). */
static int admin_open(const struct mth_config *cfg, struct pool *pool, struct admin **out,
		      char *err, size_t errlen)
{
	int r;

	*out = NULL;
	if (!cfg->admin_addrlen)
		return 0;
	r = admin_start(out, cfg->admin_listen, (const struct sockaddr *)&cfg->admin_addr,
			cfg->admin_addrlen, admin_gauges, pool, err, errlen);
	if (r == 0)
		log_info("admin listener (/health, /metrics) on %s", admin_name(*out));
	return r;
}

/* SIGHUP: build a complete new site (and new sockets when we bound them
 * and the address changed) and only then publish it; requests in flight
 * finish on the old site.  A bad file, or a port we cannot bind, changes
 * nothing. */
static int reload(const char *path, struct pool *pool, struct admin **admin, char *err,
		  size_t errlen)
{
	struct listener ls[LISTENER_MAX], cur_ls[LISTENER_MAX];
	size_t nls = 0, ncur = 0;
	struct mth_config *cfg;
	struct site *s, *cur;
	struct tls_ctx *tls;
	struct admin *new_admin = NULL;
	bool rebind = false, readmin, moved;
	int r;

	r = config_load(path, &cfg, err, errlen);
	if (r < 0)
		return r;
	/* new certificates for new handshakes; a bad one rejects the reload */
	r = load_tls(cfg, &tls, err, errlen, false);
	if (r < 0) {
		config_free(cfg);
		return r;
	}
	cur = site_acquire();
	pool_listeners(pool, cur_ls, &ncur);
	if (!same_address(cfg, cur->cfg)) {
		if (ncur && cur_ls[0].activated) {
			log_notice("listen_address/port changed in %s, but the listening sockets "
				   "belong to mthttpd.socket: change them there "
				   "(systemctl edit mthttpd.socket)",
				   path);
		} else {
			r = listeners_open(cfg, ls, &nls, err, errlen);
			if (r < 0) {
				config_free(cfg);
				tls_ctx_free(tls);
				site_unref(cur);
				return r;
			}
			rebind = true;
		}
	}
	/* a new admin address is bound before anything changes */
	readmin = !same_admin(cfg, cur->cfg);
	moved = strcmp(cfg->uploads_dir, cur->cfg->uploads_dir) != 0;
	site_unref(cur);
	if (readmin) {
		r = admin_open(cfg, pool, &new_admin, err, errlen);
		if (r < 0) {
			config_free(cfg);
			tls_ctx_free(tls);
			listeners_close(ls, nls);
			return r;
		}
	}
	r = site_new(cfg, tls, &s, err, errlen);
	if (r < 0) {
		admin_stop(new_admin);
		listeners_close(ls, nls);
		return r;
	}
	r = access_log_configure(s->cfg, err, errlen);
	if (r < 0) {
		admin_stop(new_admin);
		site_unref(s);
		listeners_close(ls, nls);
		return r;
	}
	log_set_level(s->cfg->log_level);
	if (pool_resize(pool, s->cfg->pool_size, s->cfg->queue_size, err, errlen) < 0)
		log_err("%s", err);
	pool_set_per_ip_cap(pool, s->cfg->max_connections_per_ip, s->cfg->client_ipv6_prefix);
	pool_set_busy_poll(pool, s->cfg->busy_poll);
	scan_quota(s);
	if (moved)
		uploads_dir_ready(s, getpid());
	if (rebind) {
		warn_cleartext_auth(s->cfg, ls, nls);
	} else {
		warn_cleartext_auth(s->cfg, cur_ls, ncur);
	}
	site_publish(s);
	if (rebind) {
		pool_replace_listeners(pool, ls, nls);
		set_https_port(s->cfg, ls, nls);
	} else {
		set_https_port(s->cfg, cur_ls, ncur);
	}
	if (readmin) {
		admin_stop(*admin);
		*admin = new_admin;
	}
	return 0;
}

/* The watchdog: ping only while the workers demonstrably make progress,
 * i.e. a worker answered the probe posted at the previous ping.  A
 * deadlocked pool stops the pings and systemd's WatchdogSec= fires. */
struct watchdog {
	uint64_t interval_us; /* 0: disabled */
	uint64_t next_us;
	bool warned;
};

static void watchdog_tick(struct watchdog *wd, struct pool *pool, uint64_t now)
{
	if (!wd->interval_us || now < wd->next_us)
		return;
	wd->next_us = now + wd->interval_us;
	if (pool_probe_answered(pool)) {
		sd_notify(0, "WATCHDOG=1");
		wd->warned = false;
	} else if (!wd->warned) {
		log_err("no worker answered the watchdog probe for %" PRIu64
			" ms: not pinging the watchdog",
			wd->interval_us / 1000);
		wd->warned = true;
	}
	pool_probe(pool);
}

static int drain(struct pool *pool, unsigned timeout_s)
{
	uint64_t deadline = (uint64_t)mth_clock_us() + (uint64_t)timeout_s * 1000000;
	size_t left;

	pool_stop_accepting(pool);
	for (;;) {
		uint64_t now = (uint64_t)mth_clock_us();
		struct pool_stats st;

		left = pool_wait_idle(pool, 1000);
		if (!left || now >= deadline)
			break;
		pool_get_stats(pool, &st);
		/* keep systemd's stop timeout ahead of our own deadline */
		sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%" PRIu64 "\nSTATUS=stopping: %zu connections "
			      "still finishing",
			   deadline - now + 5000000, st.connections);
	}
	if (left)
		log_warning("%zu connections still open after shutdown_timeout (%us); closing them",
			    left, timeout_s);
	return 0;
}

/* A stop begins: /health says "503 draining" from now on, but everything is
 * served for DELAY seconds more, until the load balancer has noticed.  A
 * second SIGTERM or SIGINT cuts the wait short. */
static void wait_drain_delay(unsigned delay, const sigset_t *set)
{
	uint64_t end = (uint64_t)mth_clock_us() + (uint64_t)delay * 1000000;

	if (!delay)
		return;
	log_notice("stopping: /health says draining; serving %us more (drain_delay)", delay);
	sd_notifyf(0, "STOPPING=1\nEXTEND_TIMEOUT_USEC=%" PRIu64 "\nSTATUS=draining: serving %us "
		      "more before closing the listeners",
		   (uint64_t)delay * 1000000 + 5000000, delay);
	for (;;) {
		uint64_t now = (uint64_t)mth_clock_us(), left;
		struct timespec ts;
		int sig;

		if (now >= end)
			break;
		left = end - now;
		ts.tv_sec = (time_t)(left / 1000000);
		ts.tv_nsec = (long)(left % 1000000) * 1000;
		sig = sigtimedwait(set, NULL, &ts);
		access_log_flush();
		if (sig == SIGTERM || sig == SIGINT) {
			log_notice("second stop signal: not waiting for drain_delay any more");
			break;
		}
	}
}

/* For `mthttpd --reload` (reload_state.h); only under RuntimeDirectory=. */
static void publish_reload(uint64_t gen, bool ok, const char *msg)
{
	static bool warned;
	const char *dir = reload_state_dir();
	int r;

	if (!dir)
		return;
	r = reload_state_publish(dir, gen, ok, msg);
	if (r < 0 && !warned)
		log_warning("cannot publish the reload state in %s: %s", dir, strerror(-r));
	warned = r < 0;
}

static int serve(const char *config_path, struct site *site)
{
	struct listener ls[LISTENER_MAX];
	struct watchdog wd = { 0 };
	size_t nls = 0;
	struct pool *pool = NULL;
	struct admin *admin = NULL;
	enum path_open_mode open_mode;
	unsigned reloads = 0;
	uint64_t next_status = 0, usec, reload_gen = 0;
	char err[512], note[600] = "";
	sigset_t set;
	int r, sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	/* blocked before any thread exists, so only sigtimedwait sees them */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = listeners_open(site->cfg, ls, &nls, err, sizeof err);
	if (r < 0) {
		log_err("%s", err);
		sd_notifyf(0, "STATUS=failed: %s\nERRNO=%d", err, -r);
		site_unref(site);
		return 1;
	}
	for (size_t i = 0; i < nls; i++) {
		log_info("listening on %s%s%s", ls[i].name, ls[i].tls ? " (TLS)" : "",
			 ls[i].activated ? " (from systemd)" : "");
		if (ls[i].tls && !site->cfg->tls.enabled)
			log_warning("%s: systemd passed an \"https\" socket but %s has no tls "
				    "group: connections to it are closed",
				    ls[i].name, site->cfg->path);
	}
	set_https_port(site->cfg, ls, nls);
	if (site->tls)
		log_info("TLS: %s", tls_sendfile_path());
	if (ls[0].activated && site->cfg->port && ls[0].port != site->cfg->port)
		log_notice("port %u from the configuration is not used: the listening sockets "
			   "belong to mthttpd.socket",
			   site->cfg->port);
	r = access_log_configure(site->cfg, err, sizeof err);
	if (r < 0) {
		log_err("%s", err);
		sd_notifyf(0, "STATUS=failed: %s\nERRNO=%d", err, -r);
		listeners_close(ls, nls);
		site_unref(site);
		return 1;
	}
	/* MTHTTPD_FORCE_NO_TMPFILE=1: named temporary files as on NFS, for
	 * the tests (read once, here) */
	{
		const char *force = getenv("MTHTTPD_FORCE_NO_TMPFILE");

		upload_init(force && *force && strcmp(force, "0") != 0);
	}
	uploads_dir_ready(site, 0);
	if (guard_init() < 0) {
		log_err("out of memory for the per-client tables");
		listeners_close(ls, nls);
		site_unref(site);
		return 1;
	}
	scan_quota(site);
	warn_cleartext_auth(site->cfg, ls, nls);
	log_info("serving %s, uploads into %s", site->cfg->document_root, site->cfg->uploads_dir);
	open_mode = path_open_probe(site->root_fd);
	log_msg(open_mode == PATH_OPEN_WALK ? LOG_WARNING : LOG_INFO, "opening files with %s",
		path_open_mode_describe(open_mode));
	site_publish(site);

	r = pool_start(&pool, ls, nls, site->cfg->pool_size, site->cfg->queue_size, err,
		       sizeof err);
	if (r < 0) {
		log_err("%s", err);
		listeners_close(ls, nls);
		goto out;
	}
	pool_set_per_ip_cap(pool, site->cfg->max_connections_per_ip,
			    site->cfg->client_ipv6_prefix);
	pool_set_busy_poll(pool, site->cfg->busy_poll);
	r = admin_open(site->cfg, pool, &admin, err, sizeof err);
	if (r < 0) {
		log_err("%s", err);
		sd_notifyf(0, "STATUS=failed: %s\nERRNO=%d", err, -r);
		goto out;
	}
	if (sd_watchdog_enabled(0, &usec) > 0) {
		wd.interval_us = usec / 2;
		wd.next_us = (uint64_t)mth_clock_us();
		log_info("watchdog enabled: pinging every %" PRIu64 " ms while workers respond",
			 wd.interval_us / 1000);
		pool_probe(pool);
	}
	log_notice("mthttpd " PACKAGE_VERSION " ready");
	publish_reload(reload_gen, true, config_path);
	sd_notify(0, "READY=1");

	for (;;) {
		uint64_t now = (uint64_t)mth_clock_us(), wait_us = 1000000;
		struct timespec ts;

		if (now >= next_status) {
			status_line(pool, reloads, note[0] ? note : NULL);
			next_status = now + STATUS_EVERY_SEC * 1000000ull;
		}
		watchdog_tick(&wd, pool, now);
		tls_tick();
		if (wd.interval_us && wd.next_us - now < wait_us)
			wait_us = wd.next_us > now ? wd.next_us - now : 1000;
		ts.tv_sec = (time_t)(wait_us / 1000000);
		ts.tv_nsec = (long)(wait_us % 1000000) * 1000;
		sig = sigtimedwait(&set, NULL, &ts);
		access_log_tick();
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGUSR1) {
			r = access_log_reopen();
			if (r < 0)
				log_warning("cannot reopen the access log %s: %s",
					    access_log_file_path() ? access_log_file_path() : "",
					    strerror(-r));
			else
				log_info("access log reopened");
		}
		if (sig == SIGHUP) {
			sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=reloading %s",
				   (uint64_t)mth_clock_us(), config_path);
			r = reload(config_path, pool, &admin, err, sizeof err);
			metrics_reload(r == 0);
			if (r < 0) {
				log_event(LOG_ERR, LOG_ID_RELOAD_REJECTED, NULL,
					  "reload rejected, keeping the running configuration: %s",
					  err);
				snprintf(note, sizeof note, "last reload rejected: %s", err);
			} else {
				reloads++;
				note[0] = '\0';
				log_event(LOG_NOTICE, LOG_ID_CONFIG_RELOADED, NULL,
					  "configuration reloaded from %s", config_path);
			}
			publish_reload(++reload_gen, r >= 0, r < 0 ? err : config_path);
			sd_notify(0, "READY=1");
			next_status = 0; /* show the outcome at once */
		}
	}
	{
		struct site *cur = site_acquire();
		unsigned timeout = cur->cfg->shutdown_timeout, delay = cur->cfg->drain_delay;

		site_unref(cur);
		admin_set_draining(true);
		wait_drain_delay(delay, &set);
		log_notice("stopping: finishing requests in flight");
		sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing requests in flight");
		drain(pool, timeout);
	}
	r = 0;
out:
	admin_stop(admin);
	pool_free(pool);
	access_log_close();
	site_publish(NULL);
	tls_global_free();
	guard_free();
	log_notice("stopped");
	return r < 0 ? 1 : 0;
}

/* --reload: the file was found valid; the daemon decides (it may still
 * reject it, e.g. a document_root it cannot open). */
static int reload_client_main(void)
{
	const char *dir = reload_state_dir(), *mainpid = getenv("MAINPID");
	char msg[700];
	int r;

	if (!dir) {
		fprintf(stderr, "mthttpd: --reload needs $RUNTIME_DIRECTORY (the unit's "
				"RuntimeDirectory=): use systemctl reload mthttpd\n");
		return 1;
	}
	r = reload_state_request(dir, mainpid ? (pid_t)atol(mainpid) : 0, RELOAD_TIMEOUT_MS, msg,
				 sizeof msg);
	if (r < 0) {
		fprintf(stderr, "mthttpd: %s\n", msg);
		return 1;
	}
	printf("mthttpd: %s\n", msg);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "reload", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = DEFAULT_CONFIG;
	struct mth_config *cfg;
	struct tls_ctx *tls = NULL;
	struct site *site;
	bool test = false, reload_client = false;
	char err[512];
	int c;

	while ((c = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'R':
			reload_client = true;
			break;
		case 'V':
			printf("mthttpd " PACKAGE_VERSION "\n");
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mthttpd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (test && reload_client) {
		fprintf(stderr, "mthttpd: -t and --reload exclude each other\n");
		return 2;
	}
	if (config_load(config_path, &cfg, err, sizeof err) < 0) {
		if (test || reload_client)
			fprintf(stderr, "mthttpd: %s\n", err);
		else
			log_err("%s", err);
		return 1;
	}
	if (test) {
		/* every certificate and key is loaded and checked */
		int r = load_tls(cfg, &tls, err, sizeof err, true);
		tls_ctx_free(tls);
		config_free(cfg);
		if (r < 0) {
			fprintf(stderr, "mthttpd: %s\n", err);
			return 1;
		}
		printf("mthttpd: %s: configuration OK\n", config_path);
		return 0;
	}
	if (reload_client) {
		config_free(cfg);
		return reload_client_main();
	}
	log_set_level(cfg->log_level);
	if (tls_global_init(err, sizeof err) < 0 ||
	    load_tls(cfg, &tls, err, sizeof err, false) < 0) {
		log_err("%s", err);
		config_free(cfg);
		return 1;
	}
	if (site_new(cfg, tls, &site, err, sizeof err) < 0) {
		log_err("%s", err);
		return 1;
	}
	return serve(config_path, site);
}
