/* admin.h - the admin listener (admin_listen): GET /health and GET /metrics
 * for a load balancer and a Prometheus scraper, nothing else.
 *
 * It runs on a thread of its own with its own socket, away from the
 * workers: a scrape or a slow health check never takes a worker, and an
 * overloaded site still answers its health checks.  One connection at a
 * time, each bounded (4 KiB of request, 2 s to send it), then closed.  It
 * never serves the site and ignores allowed_hosts. */
#ifndef MTH_ADMIN_H
#define MTH_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "metrics.h"

/* Filled in at scrape time, on the admin thread. */
typedef void (*admin_gauges_fn)(void *arg, struct metrics_gauges *g);

struct admin;

/* Bind SA (LEN bytes) and start serving.  NAME is how the address is
 * shown in logs ("127.0.0.1:9180").  Returns 0, or a negative errno with a
 * line in ERR. */
int admin_start(struct admin **out, const char *name, const struct sockaddr *sa, socklen_t len,
		admin_gauges_fn gauges, void *arg, char *err, size_t errlen);
/* Stop the thread and close the socket.  Accepts NULL. */
void admin_stop(struct admin *a);
/* The address actually bound (with the port the kernel chose for port 0). */
const char *admin_name(const struct admin *a);

/* From now on /health says "503 draining" (a stop has begun), or again
 * "200 ok".  Process-wide: it survives a restart of the listener. */
void admin_set_draining(bool on);

#endif
