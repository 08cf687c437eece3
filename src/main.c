/* main.c - command line, start-up, the signal loop, shutdown. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "config.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "pool.h"
#include "site.h"
#include "upload.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/mthttpd.conf"
#define STATUS_EVERY_SEC 5
#define SHUTDOWN_TIMEOUT_MS 10000

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mthttpd [-c FILE] [-t]\n"
		"A multi-threaded HTTP/1.1 server for static files and JSON uploads.\n"
		"\n"
		"  -c, --config FILE  configuration file (default " DEFAULT_CONFIG ")\n"
		"  -t, --test         check the configuration and exit (0 = valid)\n"
		"  -V, --version      print the version and exit\n"
		"  -h, --help         print this help and exit\n"
		"\n"
		"The server stays in the foreground and logs to stderr; under systemd it\n"
		"takes its listening sockets from mthttpd.socket when activated.\n"
		"Signals: TERM/INT stop gracefully, HUP reloads the configuration.\n");
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
		   " requests, %u reloads%s%s",
		   st.busy, st.workers, st.queued, st.queue_cap, st.connections, st.requests,
		   reloads, note ? "; " : "", note ? note : "");
}

/* SIGHUP: build a complete new site from the file and publish it; requests
 * in flight finish on the old one.  A bad file changes nothing. */
static int reload(const char *path, const struct mth_config *running, char *err, size_t errlen)
{
	struct mth_config *cfg;
	struct site *s;
	int r;

	r = config_load(path, &cfg, err, errlen);
	if (r < 0)
		return r;
	if (cfg->port != running->port || strcmp(cfg->listen_address, running->listen_address))
		log_notice("listen_address/port changes take effect after a restart");
	if (cfg->pool_size != running->pool_size || cfg->queue_size != running->queue_size)
		log_notice("pool_size/queue_size changes take effect after a restart");
	r = site_new(cfg, &s, err, errlen);
	if (r < 0)
		return r;
	log_set_level(s->cfg->log_level);
	site_publish(s);
	return 0;
}

static int serve(const char *config_path, struct site *site)
{
	struct listener ls[LISTENER_MAX];
	size_t nls = 0, left;
	struct pool *pool = NULL;
	unsigned reloads = 0;
	char err[512], note[600] = "";
	sigset_t set;
	int r, sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* blocked before any thread exists, so only sigtimedwait sees them */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = listeners_open(site->cfg, ls, &nls, err, sizeof err);
	if (r < 0) {
		log_err("%s", err);
		site_unref(site);
		return 1;
	}
	for (size_t i = 0; i < nls; i++)
		log_info("listening on %s%s", ls[i].name,
			 ls[i].activated ? " (from systemd)" : "");
	if (ls[0].activated && site->cfg->port && ls[0].port != site->cfg->port)
		log_notice("port %u from the configuration is ignored: the socket belongs to "
			   "mthttpd.socket",
			   site->cfg->port);
	r = upload_cleanup_temp(site->uploads_fd);
	if (r > 0)
		log_notice("removed %d stale temporary upload files", r);
	log_info("serving %s, uploads into %s", site->cfg->document_root, site->cfg->uploads_dir);
	site_publish(site);

	r = pool_start(&pool, ls, nls, site->cfg->pool_size, site->cfg->queue_size, err,
		       sizeof err);
	if (r < 0) {
		log_err("%s", err);
		goto out;
	}
	log_notice("mthttpd " PACKAGE_VERSION " ready");
	sd_notify(0, "READY=1");
	status_line(pool, reloads, NULL);

	for (;;) {
		struct timespec ts = { STATUS_EVERY_SEC, 0 };
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP) {
			struct site *cur = site_acquire();
			sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
				   (uint64_t)conn_now_ms() * 1000);
			r = reload(config_path, cur->cfg, err, sizeof err);
			site_unref(cur);
			if (r < 0) {
				log_err("reload rejected, keeping the running configuration: %s",
					err);
				snprintf(note, sizeof note, "last reload rejected: %s", err);
			} else {
				reloads++;
				note[0] = '\0';
				log_notice("configuration reloaded from %s", config_path);
			}
			sd_notify(0, "READY=1");
		}
		status_line(pool, reloads, note[0] ? note : NULL);
	}
	log_notice("stopping: finishing requests in flight");
	sd_notify(0, "STOPPING=1");
	left = pool_drain(pool, SHUTDOWN_TIMEOUT_MS);
	if (left)
		log_warning("%zu connections still open after %d ms; closing them", left,
			    SHUTDOWN_TIMEOUT_MS);
	r = 0;
out:
	pool_free(pool);
	listeners_close(ls, nls);
	site_publish(NULL);
	log_notice("stopped");
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = DEFAULT_CONFIG;
	struct mth_config *cfg;
	struct site *site;
	bool test = false;
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
	if (config_load(config_path, &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "<3>mthttpd: %s\n", err);
		return 1;
	}
	if (test) {
		config_free(cfg);
		printf("mthttpd: %s: configuration OK\n", config_path);
		return 0;
	}
	log_set_level(cfg->log_level);
	if (site_new(cfg, &site, err, sizeof err) < 0) {
		log_err("%s", err);
		return 1;
	}
	return serve(config_path, site);
}
