/* test_pool.c - Criterion tests for src/pool.c: who owns the listening
 * sockets when pool_start() fails.
 *
 * This file defines eventfd() itself, so a test can make pool_start() fail
 * part-way (as it would out of file descriptors); it passes through to the
 * kernel unless armed.  Each Criterion test runs in its own process. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "listener.h"
#include "pool.h"

/* eventfd() number FAIL_NTH (from 1) fails with EMFILE; 0: none */
static unsigned fail_nth, calls;

int eventfd(unsigned int initval, int flags)
{
	if (++calls == fail_nth) {
		errno = EMFILE;
		return -1;
	}
	return (int)syscall(SYS_eventfd2, initval, flags);
}

static struct listener loopback_listener(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct listener l = { .fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) };

	cr_assert_geq(l.fd, 0);
	cr_assert_eq(bind(l.fd, (struct sockaddr *)&sin, sizeof sin), 0);
	cr_assert_eq(listen(l.fd, 16), 0);
	snprintf(l.name, sizeof l.name, "127.0.0.1:0");
	return l;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* A failed start leaves the listeners open and the caller's: main.c closes
 * them once.  Closing them here too was a double close at start-up, and
 * anything opened in between (a log file) could have got the number. */
Test(pool, failed_start_leaves_the_listeners_to_the_caller)
{
	struct listener l = loopback_listener();
	struct pool *p = NULL;
	char err[256] = "";

	for (fail_nth = 1; fail_nth <= 3; fail_nth++) {
		calls = 0;
		cr_assert_lt(pool_start(&p, &l, 1, 1, 16, err, sizeof err), 0,
			     "eventfd %u failed, yet pool_start succeeded", fail_nth);
		cr_assert_neq(err[0], '\0');
		cr_assert(fd_open(l.fd), "eventfd %u failed: pool_start closed the listener",
			  fail_nth);
	}
	cr_assert_eq(close(l.fd), 0);
}

/* Once started, the pool owns them: pool_free() closes them. */
Test(pool, started_pool_owns_the_listeners)
{
	struct listener l = loopback_listener();
	struct pool *p = NULL;
	char err[256] = "";

	cr_assert_eq(pool_start(&p, &l, 1, 1, 16, err, sizeof err), 0, "%s", err);
	cr_assert(fd_open(l.fd));
	pool_free(p);
	cr_assert(!fd_open(l.fd), "pool_free left the listener open");
}
