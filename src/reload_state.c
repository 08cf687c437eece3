/* reload_state.c - the published outcome of reloads and the client that
 * waits for it (see reload_state.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "reload_state.h"

#define STATE_NAME "reload"
#define POLL_MS 5

const char *reload_state_dir(void)
{
	static char dir[4096];
	const char *env = getenv("RUNTIME_DIRECTORY");
	size_t n;

	if (!env || !*env)
		return NULL;
	n = strcspn(env, ":"); /* several RuntimeDirectory= entries: the first */
	if (n >= sizeof dir)
		return NULL;
	memcpy(dir, env, n);
	dir[n] = '\0';
	return dir;
}

int reload_state_publish(const char *dir, uint64_t gen, bool ok, const char *msg)
{
	char path[4200], tmp[4200], text[700];
	int fd, n, r = 0;

	snprintf(path, sizeof path, "%s/" STATE_NAME, dir);
	snprintf(tmp, sizeof tmp, "%s/." STATE_NAME ".tmp", dir);
	n = snprintf(text, sizeof text, "%ld %" PRIu64 " %s\n%.500s\n", (long)getpid(), gen,
		     ok ? "ok" : "rejected", msg ? msg : "");
	if (n < 0 || (size_t)n >= sizeof text)
		return -EOVERFLOW;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)n) != n)
		r = errno ? -errno : -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int reload_state_read(const char *dir, struct reload_state *st)
{
	char path[4200], text[700], word[16];
	long pid;
	ssize_t n;
	char *nl;
	int fd;

	snprintf(path, sizeof path, "%s/" STATE_NAME, dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return -EBADMSG;
	text[n] = '\0';
	if (sscanf(text, "%ld %" SCNu64 " %15s", &pid, &st->gen, word) != 3 || pid <= 0)
		return -EBADMSG;
	st->pid = (pid_t)pid;
	if (strcmp(word, "ok") == 0)
		st->ok = true;
	else if (strcmp(word, "rejected") == 0)
		st->ok = false;
	else
		return -EBADMSG;
	nl = strchr(text, '\n');
	snprintf(st->msg, sizeof st->msg, "%s", nl ? nl + 1 : "");
	st->msg[strcspn(st->msg, "\n")] = '\0';
	return 0;
}

int reload_state_request(const char *dir, pid_t pid, int timeout_ms, char *msg, size_t cap)
{
	int64_t end = mth_clock_us() / 1000 + timeout_ms;
	struct reload_state before, now;
	int r;

	r = reload_state_read(dir, &before);
	if (r < 0) {
		snprintf(msg, cap, "no reload state in %s/" STATE_NAME ": %s", dir, strerror(-r));
		return r;
	}
	if (pid > 0 && before.pid != pid) {
		snprintf(msg, cap, "%s/" STATE_NAME " belongs to PID %ld, not %ld", dir,
			 (long)before.pid, (long)pid);
		return -ESRCH;
	}
	if (kill(before.pid, SIGHUP) < 0) {
		r = -errno;
		snprintf(msg, cap, "cannot signal PID %ld: %s", (long)before.pid, strerror(errno));
		return r;
	}
	for (;;) {
		struct timespec ts = { 0, POLL_MS * 1000000L };

		if (reload_state_read(dir, &now) == 0 && now.pid == before.pid &&
		    now.gen > before.gen) {
			if (now.ok) {
				snprintf(msg, cap, "reloaded (generation %" PRIu64 ")%s%s", now.gen,
					 now.msg[0] ? ": " : "", now.msg);
				return 0;
			}
			snprintf(msg, cap, "reload rejected: %s", now.msg);
			return -ECANCELED;
		}
		if (kill(before.pid, 0) < 0 && errno == ESRCH) {
			snprintf(msg, cap, "PID %ld exited during the reload", (long)before.pid);
			return -ESRCH;
		}
		if (mth_clock_us() / 1000 >= end) {
			snprintf(msg, cap, "no answer from PID %ld within %d ms", (long)before.pid,
				 timeout_ms);
			return -ETIMEDOUT;
		}
		nanosleep(&ts, NULL);
	}
}
