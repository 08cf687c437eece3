/* listener.h - the listening sockets: handed over by systemd (socket
 * activation, sd_listen_fds_with_names(3)) or bound by ourselves. */
#ifndef MTH_LISTENER_H
#define MTH_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

#define LISTENER_BACKLOG 4096
#define LISTENER_MAX 16
/* TCP_NOTSENT_LOWAT of HTTPS listeners: about one TLS write queue (tls.c
 * TLS_WBUF_CAP, eight records) */
#define LISTENER_TLS_NOTSENT_LOWAT (128 * 1024)

struct listener {
	int fd;           /* non-blocking, close-on-exec */
	unsigned port;    /* local port: what a Host header must name */
	bool activated;   /* came from systemd */
	bool tls;         /* HTTPS: tls.port, or systemd's FileDescriptorName=https */
	char name[64];    /* "[::]:8080" for logs */
};

/* Take the sockets systemd passed (LISTEN_FDS; those named "https" are TLS)
 * or, when there are none, bind CFG->listen_address:CFG->port ("::" is
 * dual-stack) and, with a tls group whose port is not 0, tls.port too (those
 * with LISTENER_TLS_NOTSENT_LOWAT, see listener.c).  Fills L (room for
 * LISTENER_MAX) and *N.  On failure returns a negative errno with a message
 * in ERR and leaves nothing open. */
int listeners_open(const struct mth_config *cfg, struct listener *l, size_t *n, char *err,
		   size_t errlen);

void listeners_close(struct listener *l, size_t n);

/* Bind and listen on SA (SALEN bytes) into *L (non-blocking, close-on-exec,
 * SO_REUSEADDR, TCP_NODELAY, TCP_DEFER_ACCEPT; an IPv6 "::" also takes
 * IPv4).  WHAT names the address in the error written to ERR.  Returns 0
 * or a negative errno. */
int listener_bind(const struct sockaddr *sa, socklen_t salen, const char *what,
		  struct listener *l, char *err, size_t errlen);

#endif
