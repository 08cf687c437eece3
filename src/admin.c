/* admin.c - the admin listener: /health and /metrics (see admin.h). */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin.h"
#include "clock.h"
#include "http_parse.h"
#include "listener.h"
#include "log.h"
#include "response.h"

#define ADMIN_REQ_MAX 4096
#define ADMIN_IO_MS 2000 /* to send a request, and to take the response */

struct admin {
	struct listener l; /* its own socket, never the pool's */
	int stop_fd;	   /* eventfd: admin_stop() wakes the thread */
	pthread_t thread;
	admin_gauges_fn gauges;
	void *arg;
};

static bool draining; /* atomic */

void admin_set_draining(bool on)
{
	__atomic_store_n(&draining, on, __ATOMIC_RELAXED);
}

const char *admin_name(const struct admin *a)
{
	return a->l.name;
}

/* Wait for EVENTS on FD until DEADLINE (monotonic ms); false on timeout. */
static bool wait_for(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left = deadline - (mth_clock_us() / 1000);

	return left > 0 && poll(&p, 1, (int)left) > 0;
}

static void send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN && wait_for(fd, POLLOUT, deadline)) {
			continue;
		} else {
			return;
		}
	}
}

static void respond(int fd, int status, const char *ctype, const char *body, size_t blen,
		    bool head_only, const char *extra, int64_t deadline)
{
	static const char nostore[] = "Cache-Control: no-store\r\n";
	char hbuf[1024], ebuf[256];
	struct resp_head h = {
		.status = status,
		.content_type = ctype,
		.content_length = blen,
		.extra = ebuf,
	};

	h.extra_len = (size_t)snprintf(ebuf, sizeof(ebuf), "%s%s", nostore, extra ? extra : "");
	size_t n = response_head(hbuf, sizeof(hbuf), &h);

	if (!n)
		return;
	send_all(fd, hbuf, n, deadline);
	if (!head_only)
		send_all(fd, body, blen, deadline);
}

/* The path of TARGET without its query. */
static bool path_is(const struct mth_str *target, const char *want)
{
	size_t n = 0;

	while (n < target->len && target->p[n] != '?')
		n++;
	return n == strlen(want) && memcmp(target->p, want, n) == 0;
}

static void serve_one(struct admin *a, int fd)
{
	static const char text[] = "text/plain; charset=utf-8";
	int64_t deadline = (mth_clock_us() / 1000) + ADMIN_IO_MS;
	struct http_request req;
	char buf[ADMIN_REQ_MAX];
	size_t len = 0;
	int status = 400;
	enum http_parse_status st = HTTP_PARSE_NEED_MORE;
	bool head;

	while (st == HTTP_PARSE_NEED_MORE && len < sizeof(buf)) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - len, MSG_DONTWAIT);

		if (n > 0) {
			len += (size_t)n;
			st = http_parse_request(buf, len, NULL, &req, &status);
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR) ||
			   (errno == EAGAIN && !wait_for(fd, POLLIN, deadline))) {
			return; /* gone, broken, or too slow: no answer */
		}
	}
	if (st != HTTP_PARSE_DONE) {
		static const char msg[] = "bad request\n";

		respond(fd, st == HTTP_PARSE_ERROR ? status : 431, text, msg, sizeof(msg) - 1,
			false, NULL, deadline);
		return;
	}
	head = req.method == HTTP_M_HEAD;
	if (req.method != HTTP_M_GET && !head) {
		static const char msg[] = "only GET and HEAD\n";

		respond(fd, 405, text, msg, sizeof(msg) - 1, false, "Allow: GET, HEAD\r\n",
			deadline);
	} else if (path_is(&req.target, "/health")) {
		bool d = __atomic_load_n(&draining, __ATOMIC_RELAXED);

		if (d)
			respond(fd, 503, text, "draining\n", 9, head, NULL, deadline);
		else
			respond(fd, 200, text, "ok\n", 3, head, NULL, deadline);
	} else if (path_is(&req.target, "/metrics")) {
		struct metrics_gauges g = { 0 };
		char *body;
		size_t blen;

		a->gauges(a->arg, &g);
		if (metrics_render(&g, &body, &blen) < 0) {
			respond(fd, 500, text, "out of memory\n", 14, head, NULL, deadline);
			return;
		}
		respond(fd, 200, "text/plain; version=0.0.4; charset=utf-8", body, blen, head, NULL,
			deadline);
		free(body);
	} else {
		static const char msg[] = "not found: this is the admin listener (/health, "
					  "/metrics)\n";

		respond(fd, 404, text, msg, sizeof(msg) - 1, head, NULL, deadline);
	}
}

static void *admin_main(void *arg)
{
	struct admin *a = arg;

	log_set_thread_name("admin");
	for (;;) {
		struct pollfd p[2] = { { .fd = a->l.fd, .events = POLLIN },
				       { .fd = a->stop_fd, .events = POLLIN } };
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("admin listener %s: poll: %s; stopping it", a->l.name,
				strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		fd = accept4(a->l.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				log_warning("admin listener %s: accept: %s", a->l.name,
					    strerror(errno));
				usleep(100000); /* EMFILE and the like: do not spin */
			}
			continue;
		}
		serve_one(a, fd);
		shutdown(fd, SHUT_WR);
		close(fd);
	}
	return NULL;
}

int admin_start(struct admin **out, const char *name, const struct sockaddr *sa, socklen_t len,
		admin_gauges_fn gauges, void *arg, char *err, size_t errlen)
{
	struct admin *a = calloc(1, sizeof(*a));
	char what[128];
	int r;

	*out = NULL;
	if (!a)
		return -ENOMEM;
	a->stop_fd = -1;
	a->gauges = gauges;
	a->arg = arg;
	snprintf(what, sizeof(what), "admin_listen %s", name);
	r = listener_bind(sa, len, what, &a->l, err, errlen);
	if (r < 0) {
		free(a);
		return r;
	}
	a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->stop_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = -pthread_create(&a->thread, NULL, admin_main, a);
	if (r < 0)
		goto fail;
	*out = a;
	return 0;
fail:
	snprintf(err, errlen, "admin_listen %s: %s", name, strerror(-r));
	listeners_close(&a->l, 1);
	if (a->stop_fd >= 0)
		close(a->stop_fd);
	free(a);
	return r;
}

void admin_stop(struct admin *a)
{
	uint64_t one = 1;

	if (!a)
		return;
	if (write(a->stop_fd, &one, sizeof(one)) < 0)
		log_warning("admin listener %s: cannot wake its thread: %s", a->l.name,
			    strerror(errno));
	pthread_join(a->thread, NULL);
	listeners_close(&a->l, 1);
	close(a->stop_fd);
	free(a);
}
