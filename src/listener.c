/* listener.c - listening sockets from systemd or from bind(2). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "listener.h"

static void describe(struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char addr[INET6_ADDRSTRLEN] = "?";

	l->port = 0;
	if (getsockname(l->fd, (struct sockaddr *)&ss, &len) < 0)
		goto out;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof addr);
		l->port = ntohs(sin->sin_port);
		snprintf(l->name, sizeof l->name, "%s:%u", addr, l->port);
		return;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof addr);
		l->port = ntohs(sin6->sin6_port);
		snprintf(l->name, sizeof l->name, "[%s]:%u", addr, l->port);
		return;
	}
out:
	snprintf(l->name, sizeof l->name, "fd %d", l->fd);
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* On an HTTPS listener, inherited by its accepted sockets: keep at most
 * about LISTENER_TLS_NOTSENT_LOWAT bytes in the kernel that the peer's
 * window has not taken yet.  A write past that returns short (the rest
 * waits in the TLS queue) and EPOLLOUT comes once the backlog drains.
 * Without it a fast download parks megabytes per connection in the kernel,
 * and it is the client's reads, opening the window, that push them out: on
 * loopback or a LAN the client pays for our transmit path and reads data
 * long gone from the cache (h2load on the 200 KB file: 5,700 req/s without,
 * 7,000 with).  Not on plain listeners: sendfile(2) would stop at every
 * LISTENER_TLS_NOTSENT_LOWAT bytes, ten times the syscalls for the same
 * throughput. */
static void set_tls_lowat(int fd)
{
	int v = LISTENER_TLS_NOTSENT_LOWAT;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof v);
}

static int from_systemd(struct listener *l, size_t *n, char *err, size_t errlen)
{
	char **names = NULL;
	int nfds = sd_listen_fds_with_names(1, &names), r = 0;

	if (nfds <= 0)
		return nfds;
	if (nfds > LISTENER_MAX) {
		snprintf(err, errlen, "systemd passed %d sockets, at most %d are supported", nfds,
			 LISTENER_MAX);
		r = -EMFILE;
		goto out;
	}
	for (int i = 0; i < nfds; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			snprintf(err, errlen, "passed fd %d (%s) is not a listening stream socket", fd,
				 names && names[i] ? names[i] : "?");
			r = -EINVAL;
			goto out;
		}
		if (set_nonblock(fd) < 0) {
			r = -errno;
			snprintf(err, errlen, "passed fd %d: %s", fd, strerror(errno));
			goto out;
		}
		/* as NoDelay=true in the socket units, in case a unit lacks
		 * it: a TLS handshake's last flight (session tickets) and a
		 * response's last segment are not held back by Nagle waiting
		 * for a delayed ACK (inherited by accepted sockets) */
		if (sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) > 0) {
			int one = 1;
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		}
		l[i].fd = fd;
		l[i].activated = true;
		l[i].tls = names && names[i] && strcmp(names[i], "https") == 0;
		if (l[i].tls)
			set_tls_lowat(fd);
		describe(&l[i]);
		/* FileDescriptorName= of the socket unit, for the log */
		if (names && names[i] && strcmp(names[i], "unknown")) {
			size_t len = strlen(l[i].name);
			snprintf(l[i].name + len, sizeof l[i].name - len, " (%s)", names[i]);
		}
	}
	*n = (size_t)nfds;
	r = nfds;
out:
	if (names)
		for (int i = 0; i < nfds; i++)
			free(names[i]);
	free(names);
	return r;
}

int listener_bind(const struct sockaddr *sa, socklen_t salen, const char *what,
		  struct listener *l, char *err, size_t errlen)
{
	int fd, one = 1, zero = 0, r;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		goto fail;
	/* "::" serves IPv4 too (dual stack), whatever net.ipv6.bindv6only says */
	if (sa->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0)
		goto fail;
	/* inherited by accepted sockets: a response's last segment is not held
	 * back waiting for the peer's delayed ACK */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
		goto fail;
	/* accept(2) a connection once its first bytes are there (or after
	 * about a second without any), so that the worker finds the request
	 * waiting instead of an empty socket it must register and wait on;
	 * mthttpd.socket does the same with DeferAcceptSec= */
	if (setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof one) < 0)
		goto fail;
	if (bind(fd, sa, salen) < 0)
		goto fail;
	if (listen(fd, LISTENER_BACKLOG) < 0)
		goto fail;
	l->fd = fd;
	l->activated = false;
	l->tls = false;
	describe(l);
	return 0;
fail:
	r = -errno;
	snprintf(err, errlen, "cannot listen on %s: %s", what, strerror(-r));
	if (fd >= 0)
		close(fd);
	return r;
}

static int bind_one(const struct mth_config *cfg, unsigned port, struct listener *l, char *err,
		    size_t errlen)
{
	struct sockaddr_storage ss = { 0 };
	char what[INET6_ADDRSTRLEN + 16];
	socklen_t sslen;

	if (inet_pton(AF_INET6, cfg->listen_address,
		      &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sslen = sizeof(struct sockaddr_in6);
	} else if (inet_pton(AF_INET, cfg->listen_address,
			     &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sslen = sizeof(struct sockaddr_in);
	} else {
		snprintf(err, errlen, "listen_address '%s' is not a numeric address",
			 cfg->listen_address);
		return -EINVAL;
	}
	snprintf(what, sizeof what, "%s port %u", cfg->listen_address, port);
	return listener_bind((struct sockaddr *)&ss, sslen, what, l, err, errlen);
}

int listeners_open(const struct mth_config *cfg, struct listener *l, size_t *n, char *err,
		   size_t errlen)
{
	int r;

	*n = 0;
	r = from_systemd(l, n, err, errlen);
	if (r != 0)
		return r < 0 ? r : 0;
	r = bind_one(cfg, cfg->port, &l[0], err, errlen);
	if (r < 0)
		return r;
	*n = 1;
	if (cfg->tls.enabled && cfg->tls.port) {
		r = bind_one(cfg, cfg->tls.port, &l[1], err, errlen);
		if (r < 0) {
			listeners_close(l, 1);
			*n = 0;
			return r;
		}
		l[1].tls = true;
		set_tls_lowat(l[1].fd);
		*n = 2;
	}
	return 0;
}

void listeners_close(struct listener *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (l[i].fd >= 0)
			close(l[i].fd);
		l[i].fd = -1;
	}
}
