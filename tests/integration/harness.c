/* harness.c - see harness.h. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif
#ifndef MTHTTPD_BIN_DEFAULT
#define MTHTTPD_BIN_DEFAULT "mthttpd"
#endif

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

const char *srcdir(void)
{
	return env_or("MTHTTPD_SRCDIR", TOP_SRCDIR);
}

char *fmt(const char *f, ...)
{
	static char buf[8][4096];
	static int i;
	va_list ap;
	char *b = buf[i++ % 8];

	va_start(ap, f);
	vsnprintf(b, sizeof buf[0], f, ap);
	va_end(ap);
	return b;
}

int64_t harness_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_certs(const char *tag, char *out, size_t outlen)
{
	char tmp[300], cmd[900];
	struct stat st;

	snprintf(out, outlen, "%s/%s-certs-%ld", TOP_BUILDDIR_TMP, tag, (long)getppid());
	if (stat(out, &st) == 0)
		return;
	mkdir(TOP_BUILDDIR_TMP, 0755);
	snprintf(tmp, sizeof tmp, "%s.%ld", out, (long)getpid());
	snprintf(cmd, sizeof cmd, "sh '%s/tests/integration/tls-certs.sh' '%s'", srcdir(), tmp);
	cr_assert_eq(system(cmd), 0, "cannot make test certificates (is openssl installed?)");
	/* first one wins; the others use its certificates */
	if (rename(tmp, out) != 0)
		harness_rm_rf(tmp);
}

void harness_certs_remove(const char *tag)
{
	char dir[256];

	snprintf(dir, sizeof dir, "%s/%s-certs-%ld", TOP_BUILDDIR_TMP, tag, (long)getpid());
	harness_rm_rf(dir);
}

void harness_rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d) {
		unlink(path);
		return;
	}
	while ((e = readdir(d))) {
		char sub[512];
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			harness_rm_rf(sub);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

int server_wait_notify(struct server *s, const char *what, int timeout_ms)
{
	int64_t end = harness_now_ms() + timeout_ms;

	for (;;) {
		struct pollfd pfd = { .fd = s->notify_fd, .events = POLLIN };
		char buf[4096];
		int64_t left = end - harness_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		n = recv(s->notify_fd, buf, sizeof buf - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, what))
			return 0;
	}
}

void server_write_config(struct server *s, const struct server_opts *o, unsigned port)
{
	char tmp[300];
	FILE *f;

	/* written aside and renamed: a reload never reads half a file */
	snprintf(tmp, sizeof tmp, "%s.tmp", s->conf);
	f = fopen(tmp, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"port = %u;\nlisten_address = \"%s\";\n"
		"document_root = \"%s\";\nuploads_dir = \"uploads\";\n"
		"pool_size = %u;\nqueue_size = %u;\nkeepalive_timeout = %u;\n"
		"max_requests = %u;\nmax_body_size = %llu;\n"
		"log_level = \"debug\";\n%s\n%s\n",
		port, o->ipv6 ? "::" : "127.0.0.1", s->docroot, o->pool_size ? o->pool_size : 4,
		o->queue_size ? o->queue_size : 256,
		o->keepalive_timeout ? o->keepalive_timeout : 5,
		o->max_requests ? o->max_requests : 100,
		(unsigned long long)(o->max_body_size ? o->max_body_size : 1048576),
		o->extra && strstr(o->extra, "allowed_hosts")
			? ""
			: "allowed_hosts = [\"localhost\", \"127.0.0.1\", \"[::1]\"];",
		o->extra ? o->extra : "");
	fclose(f);
	cr_assert_eq(rename(tmp, s->conf), 0);
}

/* The low end of the kernel's ephemeral port range (the source ports of
 * outgoing connections, and what bind to port 0 picks). */
static unsigned ephemeral_low(void)
{
	unsigned lo = 32768, hi;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

	if (f) {
		if (fscanf(f, "%u %u", &lo, &hi) != 2)
			lo = 32768;
		fclose(f);
	}
	return lo;
}

/* A loopback port for a daemon to bind itself (an admin listener, a port
 * a reload moves to).  Taken from below the ephemeral range: a port that
 * bind(0) hands out is free only until the next outgoing connection of any
 * test running beside this one takes it as its source port, and then the
 * daemon cannot bind it and never gets ready.  Bound once here to know it
 * is free now (random tries; bind(0) as the last resort). */
unsigned free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	static unsigned seed; /* one sequence a process: no port twice */
	unsigned lo = ephemeral_low(), base = lo > 12000 ? lo - 10000 : 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	if (!seed)
		seed = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
	for (int i = 0; base && i < 200; i++) {
		sin.sin_port = htons((uint16_t)(base + rand_r(&seed) % (lo - base)));
		if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0) {
			close(fd);
			return ntohs(sin.sin_port);
		}
	}
	sin.sin_port = 0;
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* This test process (and the daemon it starts) in a mount namespace of its
 * own, so that a tmpfs mounted here is seen by nobody else and goes away
 * with the test.  As root: a new mount namespace; otherwise inside a user
 * namespace that maps us to root (Debian 12 allows unprivileged ones). */
int harness_private_mounts(void)
{
	static bool done;
	char map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (done)
		return 0;
	if (unshare(CLONE_NEWNS) != 0) {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
			return -1;
		snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
		if (write_file("/proc/self/setgroups", "deny") != 0 ||
		    write_file("/proc/self/uid_map", map) != 0)
			return -1;
		snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
		if (write_file("/proc/self/gid_map", map) != 0)
			return -1;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return -1;
	done = true;
	return 0;
}

void server_start(struct server *s, const struct server_opts *o)
{
	static const struct server_opts defaults = { 0 };
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sockaddr *sa = o && o->ipv6 ? (struct sockaddr *)&sin6 : (struct sockaddr *)&sin;
	socklen_t len = o && o->ipv6 ? sizeof sin6 : sizeof sin;
	int lfd, logfd, tfd = -1;

	if (!o)
		o = &defaults;
	memset(s, 0, sizeof *s);
	mkdir(TOP_BUILDDIR_TMP, 0755);
	snprintf(s->dir, sizeof s->dir, "%s/it-XXXXXX", TOP_BUILDDIR_TMP);
	cr_assert_not_null(mkdtemp(s->dir), "mkdtemp: %s", strerror(errno));
	snprintf(s->conf, sizeof s->conf, "%s/mthttpd.conf", s->dir);
	snprintf(s->uploads, sizeof s->uploads, "%s/uploads", s->dir);
	snprintf(s->log, sizeof s->log, "%s/server.log", s->dir);
	cr_assert_eq(mkdir(s->uploads, 0755), 0);
	if (o->uploads_tmpfs_kb) {
		char opts[64];
		snprintf(opts, sizeof opts, "size=%uk,mode=0755", o->uploads_tmpfs_kb);
		if (harness_private_mounts() != 0 || mount("tmpfs", s->uploads, "tmpfs", 0, opts) != 0) {
			harness_rm_rf(s->dir);
			cr_skip_test("cannot mount a tmpfs in a private mount namespace: %s",
				     strerror(errno));
		}
		s->mounted = true;
	}
	if (o->prepare_uploads)
		o->prepare_uploads(s, o->prepare_arg);
	snprintf(s->logs, sizeof s->logs, "%s/logs", s->dir);
	cr_assert_eq(mkdir(s->logs, 0755), 0);
	if (o->logs_tmpfs_kb) {
		char opts[64];
		snprintf(opts, sizeof opts, "size=%uk,mode=0755", o->logs_tmpfs_kb);
		if (harness_private_mounts() != 0 || mount("tmpfs", s->logs, "tmpfs", 0, opts) != 0) {
			harness_rm_rf(s->dir);
			cr_skip_test("cannot mount a tmpfs in a private mount namespace: %s",
				     strerror(errno));
		}
	}
	if (o->own_docroot) {
		snprintf(s->docroot, sizeof s->docroot, "%s/www", s->dir);
		cr_assert_eq(mkdir(s->docroot, 0755), 0);
	} else {
		snprintf(s->docroot, sizeof s->docroot, "%s/resources", srcdir());
	}

	/* the "socket unit": 127.0.0.1:0 (or [::]:0, dual stack), the kernel
	 * picks a free port (with self_bind the daemon binds that port itself
	 * once we let it go) */
	lfd = socket(sa->sa_family, SOCK_STREAM, 0);
	cr_assert_geq(lfd, 0);
	{
		int one = 1, zero = 0; /* as mthttpd.socket's DeferAcceptSec=1s */
		cr_assert_eq(setsockopt(lfd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof one), 0);
		if (o->ipv6)
			cr_assert_eq(setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero),
				     0);
	}
	cr_assert_eq(bind(lfd, sa, len), 0, "bind: %s", strerror(errno));
	cr_assert_eq(listen(lfd, 1024), 0);
	cr_assert_eq(getsockname(lfd, sa, &len), 0);
	s->port = o->ipv6 ? ntohs(sin6.sin6_port) : ntohs(sin.sin_port);
	if (o->self_bind) {
		close(lfd);
		lfd = -1;
	}
	if (o->https_socket && lfd >= 0) {
		struct sockaddr_in t = { .sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t tlen = sizeof t;
		int one = 1;

		tfd = socket(AF_INET, SOCK_STREAM, 0);
		cr_assert_geq(tfd, 0);
		cr_assert_eq(setsockopt(tfd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof one), 0);
		cr_assert_eq(bind(tfd, (struct sockaddr *)&t, sizeof t), 0);
		cr_assert_eq(listen(tfd, 1024), 0);
		cr_assert_eq(getsockname(tfd, (struct sockaddr *)&t, &tlen), 0);
		s->tls_port = ntohs(t.sin_port);
	}
	server_write_config(s, o, s->port);

	/* the "service manager": receives READY=1 etc. */
	cr_assert_lt(strlen(s->dir) + sizeof "/notify", sizeof sun.sun_path,
		     "temp dir path too long for a unix socket: %s", s->dir);
	memcpy(sun.sun_path, s->dir, strlen(s->dir));
	memcpy(sun.sun_path + strlen(s->dir), "/notify", sizeof "/notify");
	s->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(s->notify_fd, (struct sockaddr *)&sun, sizeof sun), 0);
	logfd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(logfd, 0);

	s->pid = fork();
	cr_assert_neq(s->pid, -1);
	if (s->pid == 0) {
		char pidbuf[32];
		const char *bin = env_or("MTHTTPD_BIN", MTHTTPD_BIN_DEFAULT);

		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
		if (o->one_cpu) {
			cpu_set_t one, all;
			CPU_ZERO(&one);
			if (sched_getaffinity(0, sizeof all, &all) == 0)
				for (int i = 0; i < CPU_SETSIZE; i++)
					if (CPU_ISSET(i, &all)) {
						CPU_SET(i, &one);
						break;
					}
			(void)sched_setaffinity(0, sizeof one, &one);
		}
		dup2(logfd, STDERR_FILENO);
		snprintf(pidbuf, sizeof pidbuf, "%ld", (long)getpid());
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
		if (lfd >= 0) {
			if (tfd == 3) { /* out of the way of fd 3 first */
				int t = dup(tfd);
				close(tfd);
				tfd = t;
			}
			if (lfd != 3) {
				dup2(lfd, 3);
				close(lfd);
			}
			fcntl(3, F_SETFD, 0);
			setenv("LISTEN_PID", pidbuf, 1);
			setenv("LISTEN_FDS", "1", 1);
			setenv("LISTEN_FDNAMES", "http", 1); /* FileDescriptorName= */
			if (tfd >= 0) {
				dup2(tfd, 4);
				if (tfd != 4)
					close(tfd);
				fcntl(4, F_SETFD, 0);
				setenv("LISTEN_FDS", "2", 1);
				setenv("LISTEN_FDNAMES", "http:https", 1);
			}
		}
		if (o->watchdog_usec) {
			char wd[32];
			snprintf(wd, sizeof wd, "%u", o->watchdog_usec);
			setenv("WATCHDOG_USEC", wd, 1);
			setenv("WATCHDOG_PID", pidbuf, 1);
		}
		for (const char *const *e = o->env; e && *e; e++)
			putenv((char *)*e);
		setenv("NOTIFY_SOCKET", sun.sun_path, 1);
		if (o->runtime_dir)
			setenv("RUNTIME_DIRECTORY", s->dir, 1);
		else
			unsetenv("RUNTIME_DIRECTORY");
		unsetenv("JOURNAL_STREAM");
		execl(bin, "mthttpd", "-c", s->conf, (char *)NULL);
		perror(bin);
		_exit(127);
	}
	if (lfd >= 0)
		close(lfd);
	if (tfd >= 0)
		close(tfd);
	close(logfd);
	if (server_wait_notify(s, "READY=1", 10000) != 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		cr_assert_fail("server did not send READY=1; log in %s", s->log);
	}
}

void server_stop(struct server *s)
{
	int status = 0;
	int64_t end = harness_now_ms() + 15000;
	pid_t r = 0;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	while (harness_now_ms() < end && (r = waitpid(s->pid, &status, WNOHANG)) == 0)
		usleep(10000);
	if (r == 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &status, 0);
		s->pid = 0;
		cr_assert_fail("server did not stop within 15 s of SIGTERM");
	}
	s->pid = 0;
	close(s->notify_fd);
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		/* the tail, to stderr (the test's log): a whole log of tens of
		 * thousands of lines through cr_log blocked Criterion's worker
		 * for good (seen after a sanitizer report) */
		size_t len = 0;
		char *log = read_whole(s->log, &len);
		size_t from = len > 16384 ? len - 16384 : 0;

		fprintf(stderr, "server log (%s%zu bytes):\n%s\n", from ? "the last 16384 of " : "",
			len, log ? log + from : "(none)");
		free(log);
	}
	if (s->mounted)
		umount2(s->uploads, MNT_DETACH);
	umount2(s->logs, MNT_DETACH); /* a private tmpfs, if any: its files vanish */
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "server exit status %d (signal %d)", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	harness_rm_rf(s->dir);
}

int server_count_uploads(const struct server *s)
{
	DIR *d = opendir(s->uploads);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

bool server_log_contains(const struct server *s, const char *needle)
{
	char *log = read_whole(s->log, NULL);
	bool found = log && strstr(log, needle);

	free(log);
	return found;
}

int http_connect(unsigned port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { 5, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0, "connect: %s",
		     strerror(errno));
	return fd;
}

int http_connect6_from(const char *src, unsigned port)
{
	struct sockaddr_in6 from = { .sin6_family = AF_INET6 };
	struct sockaddr_in6 to = { .sin6_family = AF_INET6,
				   .sin6_port = htons((uint16_t)port),
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct timeval tv = { 5, 0 };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(inet_pton(AF_INET6, src, &from.sin6_addr), 1, "%s", src);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	/* An address just added can be tentative for a moment (seen once, on a
	 * loaded machine, although lo does no DAD): retry, bounded to 2 s. */
	int r = -1;

	for (int i = 0; i < 200; i++) {
		r = bind(fd, (struct sockaddr *)&from, sizeof from);
		if (r == 0 || errno != EADDRNOTAVAIL)
			break;
		usleep(10000);
	}
	cr_assert_eq(r, 0, "bind %s: %s", src, strerror(errno));
	cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof to), 0, "connect from %s: %s",
		     src, strerror(errno));
	return fd;
}

void harness_private_netns(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd;

	if (unshare(CLONE_NEWNET) != 0)
		cr_skip_test("cannot make a network namespace (needs CAP_SYS_ADMIN): %s",
			     strerror(errno));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0, "SIOCGIFFLAGS lo: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	cr_assert_eq(ioctl(fd, SIOCSIFFLAGS, &ifr), 0, "lo up: %s", strerror(errno));
	close(fd);
}

/* As `ip -6 addr add ADDR/128 dev lo`, by ioctl: no iproute2 needed.  A
 * loopback address does no duplicate address detection, yet a bind right
 * after may still meet EADDRNOTAVAIL: http_connect6_from() retries. */
void harness_add_lo_addr6(const char *addr)
{
	struct in6_ifreq {
		struct in6_addr ifr6_addr;
		uint32_t ifr6_prefixlen;
		int ifr6_ifindex;
	} r = { .ifr6_prefixlen = 128, .ifr6_ifindex = (int)if_nametoindex("lo") };
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_gt(r.ifr6_ifindex, 0);
	cr_assert_eq(inet_pton(AF_INET6, addr, &r.ifr6_addr), 1, "%s", addr);
	cr_assert_eq(ioctl(fd, SIOCSIFADDR, &r), 0, "add %s to lo: %s", addr, strerror(errno));
	close(fd);
}

void send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		cr_assert_gt(n, 0, "send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

bool send_some(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

bool http_header(const struct http_resp *r, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	const char *line = strstr(r->head, "\r\n");

	while (line && line[2] != '\r') {
		line += 2;
		if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *v = line + nlen + 1, *end = strstr(v, "\r\n");
			size_t n;
			while (*v == ' ')
				v++;
			n = (size_t)(end - v);
			if (n >= cap)
				n = cap - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return true;
		}
		line = strstr(line, "\r\n");
	}
	return false;
}

int http_read(int fd, struct http_resp *r, bool head)
{
	size_t len = 0, need, have;
	char *end = NULL, cl[32];

	memset(r, 0, sizeof *r);
	while (!end) {
		ssize_t n;
		if (len >= sizeof r->head - 1)
			return -1;
		n = recv(fd, r->head + len, sizeof r->head - 1 - len, MSG_PEEK);
		if (n <= 0)
			return -1;
		r->head[len + (size_t)n] = '\0';
		end = strstr(r->head, "\r\n\r\n");
		/* consume exactly the head, leave the body in the socket */
		need = end ? (size_t)(end + 4 - r->head) - len : (size_t)n;
		if (recv(fd, r->head + len, need, 0) != (ssize_t)need)
			return -1;
		len += need;
		r->head[len] = '\0';
		end = strstr(r->head, "\r\n\r\n");
	}
	if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1)
		return -1;
	if (r->status == 100) /* interim: the real response follows */
		return http_read(fd, r, head);
	need = 0;
	if (!head && r->status != 304 && http_header(r, "Content-Length", cl, sizeof cl))
		need = strtoull(cl, NULL, 10);
	r->body = malloc(need + 1);
	cr_assert_not_null(r->body);
	for (have = 0; have < need;) {
		ssize_t n = recv(fd, r->body + have, need - have, 0);
		if (n <= 0) {
			r->body[have] = '\0';
			r->body_len = have;
			return -1;
		}
		have += (size_t)n;
	}
	r->body[need] = '\0';
	r->body_len = need;
	return 0;
}

void http_resp_free(struct http_resp *r)
{
	free(r->body);
	r->body = NULL;
}

int http_get(const struct server *s, const char *method, const char *path, struct http_resp *r)
{
	char req[2048];
	int fd = http_connect(s->port), rc;

	snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", method, path,
		 s->port);
	send_str(fd, req);
	rc = http_read(fd, r, strcmp(method, "HEAD") == 0);
	close(fd);
	return rc;
}

bool wait_closed(int fd, int timeout_ms)
{
	int64_t end = harness_now_ms() + timeout_ms;
	char buf[4096];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = end - harness_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return false;
		n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
	}
}

bool strace_saw(const char *log, const char *needle)
{
	char *text = read_whole(log, NULL);
	bool seen = text && strstr(text, needle);

	free(text);
	return seen;
}

bool strace_probe(const struct server *s, const char *log, const char *name)
{
	for (int i = 0; i < 100; i++) {
		struct http_resp r;

		cr_assert_eq(http_get(s, "GET", fmt("/%s", name), &r), 0);
		http_resp_free(&r);
		if (strace_saw(log, name))
			return true;
		usleep(50000);
	}
	return false;
}

pid_t strace_start(const struct server *s, const char *trace, const char *log, bool fds)
{
	char pidbuf[16];
	pid_t pid;
	int st;

	if (system("strace -V > /dev/null 2>&1") != 0)
		cr_skip_test("strace is not installed (scripts/dev.sh installs it)");
	snprintf(pidbuf, sizeof pidbuf, "%ld", (long)s->pid);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* -f with -p: every thread of the daemon */
		if (fds)
			execlp("strace", "strace", "-f", "-qq", "-yy", "-e", trace, "-o", log, "-p",
			       pidbuf, (char *)NULL);
		else
			execlp("strace", "strace", "-f", "-qq", "-e", trace, "-o", log, "-p",
			       pidbuf, (char *)NULL);
		_exit(127);
	}
	if (!strace_probe(s, log, "strace-ready")) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			cr_skip_test("strace could not attach to the daemon (ptrace not allowed?)");
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		cr_assert_fail("strace did not start tracing within 5 s");
	}
	return pid;
}

void strace_stop(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, NULL, 0);
	}
	*pid = -1;
}

void write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(data, 1, len, f), len, "%s", path);
	cr_assert_eq(fclose(f), 0, "%s", path);
}

char *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		buf[n] = '\0';
		if (len)
			*len = (size_t)n;
	}
	return buf;
}
