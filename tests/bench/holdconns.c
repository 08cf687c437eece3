/* tests/bench/holdconns.c - hold many idle keep-alive connections to a
 * server on 127.0.0.1, for the "idle" scenario of bench.sh.
 *
 *   holdconns PORT COUNT [PATH [MAX_SECONDS]]
 *
 * Opens COUNT connections (at most WINDOW connects in progress at once),
 * sends one GET PATH (default /index.html) on each and reads the whole
 * response (it must be 200 with a Content-Length), so every connection has
 * been through a request and sits in the server's keep-alive state.  Then
 * it prints
 *     established ok=N failed=N ms=T
 * and waits, doing nothing, until SIGUSR1 or SIGTERM arrives (or
 * MAX_SECONDS, default 120, pass).  Before it exits it looks which of the
 * connections the server has closed in the meantime and prints
 *     held alive=N closed=N
 * bench.sh compiles it with cc on the fly; no library beyond libc.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { WINDOW = 50, SETUP_LIMIT_MS = 60000, HEAD_MAX = 2048 };
enum phase { CONNECTING, AWAIT_RESPONSE, IDLE, DEAD };

struct link {
	int fd;
	enum phase phase;
	size_t head_len;
	long long body_left; /* -1 until the head is complete */
	char head[HEAD_MAX];
};

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Feed response bytes into l; returns 1 when the response is complete,
 * 0 when more is needed, -1 when it is not a 200 with Content-Length. */
static int take(struct link *l, const char *p, size_t n)
{
	if (l->body_left < 0) {
		size_t room = HEAD_MAX - 1 - l->head_len, cp = n < room ? n : room;
		memcpy(l->head + l->head_len, p, cp);
		l->head_len += cp;
		l->head[l->head_len] = '\0';
		char *end = strstr(l->head, "\r\n\r\n");
		if (!end)
			return l->head_len == HEAD_MAX - 1 ? -1 : 0;
		if (strncmp(l->head, "HTTP/1.1 200", 12) != 0)
			return -1;
		char *cl = strcasestr(l->head, "\r\ncontent-length:");
		if (!cl || cl > end)
			return -1;
		size_t head_bytes = (size_t)(end + 4 - l->head);
		/* bytes of this read that belong to the body */
		long long body_here = (long long)n - (long long)(head_bytes - (l->head_len - cp));
		l->body_left = atoll(cl + 17) - body_here;
	} else {
		l->body_left -= (long long)n;
	}
	return l->body_left <= 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s PORT COUNT [PATH [MAX_SECONDS]]\n", argv[0]);
		return 2;
	}
	int port = atoi(argv[1]), count = atoi(argv[2]);
	const char *path = argc > 3 ? argv[3] : "/index.html";
	int max_s = argc > 4 ? atoi(argv[4]) : 120;
	if (port <= 0 || count <= 0) {
		fprintf(stderr, "holdconns: bad PORT or COUNT\n");
		return 2;
	}

	/* block the signals we wait for, before anything can send them */
	sigset_t wake;
	sigemptyset(&wake);
	sigaddset(&wake, SIGUSR1);
	sigaddset(&wake, SIGTERM);
	sigaddset(&wake, SIGINT);
	sigprocmask(SIG_BLOCK, &wake, NULL);

	char request[512];
	int request_len = snprintf(request, sizeof request,
				   "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: holdconns\r\n\r\n",
				   path, port);
	struct link *links = calloc((size_t)count, sizeof *links);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!links || ep < 0) {
		perror("holdconns");
		return 1;
	}
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	int started = 0, in_flight = 0, ok = 0, failed = 0;
	long long t0 = now_ms();
	static char buf[1 << 16];
	struct epoll_event ev[256];

	while (ok + failed < count && now_ms() - t0 < SETUP_LIMIT_MS) {
		while (started < count && in_flight < WINDOW) {
			struct link *l = &links[started];
			l->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (l->fd < 0 ||
			    (connect(l->fd, (struct sockaddr *)&to, sizeof to) < 0 && errno != EINPROGRESS)) {
				if (l->fd >= 0)
					close(l->fd);
				l->phase = DEAD;
				failed++;
				started++;
				continue;
			}
			l->phase = CONNECTING;
			l->body_left = -1;
			struct epoll_event e = {.events = EPOLLOUT, .data.u32 = (unsigned)started};
			epoll_ctl(ep, EPOLL_CTL_ADD, l->fd, &e);
			in_flight++;
			started++;
		}
		int n = epoll_wait(ep, ev, 256, 200);
		for (int i = 0; i < n; i++) {
			struct link *l = &links[ev[i].data.u32];
			int verdict = 0;
			if (l->phase == CONNECTING) {
				int err = 0;
				socklen_t len = sizeof err;
				getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err || write(l->fd, request, (size_t)request_len) != request_len) {
					verdict = -1;
				} else {
					l->phase = AWAIT_RESPONSE;
					struct epoll_event e = {.events = EPOLLIN, .data.u32 = ev[i].data.u32};
					epoll_ctl(ep, EPOLL_CTL_MOD, l->fd, &e);
				}
			} else if (l->phase == AWAIT_RESPONSE) {
				ssize_t r = read(l->fd, buf, sizeof buf);
				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				verdict = r <= 0 ? -1 : take(l, buf, (size_t)r);
			}
			if (verdict == 0)
				continue;
			epoll_ctl(ep, EPOLL_CTL_DEL, l->fd, NULL);
			in_flight--;
			if (verdict > 0) {
				l->phase = IDLE;
				ok++;
			} else {
				close(l->fd);
				l->phase = DEAD;
				failed++;
			}
		}
	}
	printf("established ok=%d failed=%d ms=%lld\n", ok, count - ok, now_ms() - t0);
	fflush(stdout);

	struct timespec limit = {.tv_sec = max_s > 0 ? max_s : 120};
	while (sigtimedwait(&wake, NULL, &limit) < 0 && errno == EINTR)
		;

	int alive = 0, closed = 0;
	for (int i = 0; i < count; i++) {
		if (links[i].phase != IDLE)
			continue;
		ssize_t r = recv(links[i].fd, buf, 1, MSG_PEEK | MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN)
			alive++;
		else
			closed++;
	}
	printf("held alive=%d closed=%d\n", alive, closed);
	return 0;
}
