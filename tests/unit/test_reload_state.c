/* test_reload_state.c - the reload state file: what the daemon publishes,
 * what the client reads, and the client's answers (reloaded, rejected, no
 * answer, wrong or missing daemon).  A forked child plays the daemon: it
 * publishes the next generation when SIGHUP arrives. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reload_state.h"

static char g_dir[64];

static void setup(void)
{
	snprintf(g_dir, sizeof g_dir, "/tmp/mthttpd-test-reload-XXXXXX");
	cr_assert_not_null(mkdtemp(g_dir));
}

static void teardown(void)
{
	char p[128];

	snprintf(p, sizeof p, "%s/reload", g_dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/.reload.tmp", g_dir);
	unlink(p);
	rmdir(g_dir);
}

TestSuite(reload_state, .init = setup, .fini = teardown);

Test(reload_state, publish_then_read)
{
	struct reload_state st;

	cr_assert_eq(reload_state_read(g_dir, &st), -ENOENT);
	cr_assert_eq(reload_state_publish(g_dir, 0, true, "/etc/mthttpd.conf"), 0);
	cr_assert_eq(reload_state_read(g_dir, &st), 0);
	cr_assert_eq(st.pid, getpid());
	cr_assert_eq(st.gen, 0);
	cr_assert(st.ok);
	cr_assert_str_eq(st.msg, "/etc/mthttpd.conf");
	cr_assert_eq(reload_state_publish(g_dir, 7, false, "x.conf:3: pool_size: out of range"), 0);
	cr_assert_eq(reload_state_read(g_dir, &st), 0);
	cr_assert_eq(st.gen, 7);
	cr_assert(!st.ok);
	cr_assert_str_eq(st.msg, "x.conf:3: pool_size: out of range");
}

Test(reload_state, malformed_files_are_rejected)
{
	static const char *bad[] = { "", "12\n", "12 x ok\n", "0 1 ok\n", "12 1 maybe\n" };
	struct reload_state st;
	char p[128];

	snprintf(p, sizeof p, "%s/reload", g_dir);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		FILE *f = fopen(p, "w");

		cr_assert_not_null(f);
		fputs(bad[i], f);
		fclose(f);
		cr_assert_eq(reload_state_read(g_dir, &st), -EBADMSG, "'%s'", bad[i]);
	}
}

Test(reload_state, dir_from_runtime_directory)
{
	unsetenv("RUNTIME_DIRECTORY");
	cr_assert_null(reload_state_dir());
	setenv("RUNTIME_DIRECTORY", "/run/mthttpd:/run/other", 1);
	cr_assert_str_eq(reload_state_dir(), "/run/mthttpd");
}

static volatile sig_atomic_t hups;

static void on_hup(int sig)
{
	hups++;
}

/* A daemon that answers each SIGHUP (after DELAY_MS) with the next
 * generation and OK; with OK false it rejects; with ANSWER false it never
 * answers. */
static pid_t fake_daemon(bool answer, bool ok, int delay_ms)
{
	int p[2];
	pid_t pid;
	char c;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		uint64_t gen = 5;
		sigset_t none, hup;

		/* blocked except inside sigsuspend(): no SIGHUP is missed */
		sigemptyset(&none);
		sigemptyset(&hup);
		sigaddset(&hup, SIGHUP);
		sigprocmask(SIG_BLOCK, &hup, NULL);
		signal(SIGHUP, on_hup);
		reload_state_publish(g_dir, gen, true, "start");
		(void)!write(p[1], "r", 1);
		for (;;) {
			while (!hups)
				sigsuspend(&none);
			hups = 0;
			if (!answer)
				continue;
			usleep((useconds_t)delay_ms * 1000);
			reload_state_publish(g_dir, ++gen, ok, ok ? "conf" : "bad: line 3");
		}
	}
	close(p[1]);
	cr_assert_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

Test(reload_state, client_waits_for_the_next_generation)
{
	pid_t d = fake_daemon(true, true, 200);
	struct reload_state st;
	char msg[256];

	cr_assert_eq(reload_state_request(g_dir, d, 5000, msg, sizeof msg), 0, "%s", msg);
	cr_assert_str_eq(msg, "reloaded (generation 6): conf");
	/* it returned only after the daemon had published */
	cr_assert_eq(reload_state_read(g_dir, &st), 0);
	cr_assert_eq(st.gen, 6);
	cr_assert_eq(reload_state_request(g_dir, 0, 5000, msg, sizeof msg), 0, "%s", msg);
	cr_assert_str_eq(msg, "reloaded (generation 7): conf");
	reap(d);
}

Test(reload_state, client_reports_a_rejection)
{
	pid_t d = fake_daemon(true, false, 0);
	char msg[256];

	cr_assert_eq(reload_state_request(g_dir, d, 5000, msg, sizeof msg), -ECANCELED);
	cr_assert_str_eq(msg, "reload rejected: bad: line 3");
	reap(d);
}

Test(reload_state, client_times_out_and_checks_the_pid)
{
	pid_t d = fake_daemon(false, true, 0);
	char msg[256];

	cr_assert_eq(reload_state_request(g_dir, d, 300, msg, sizeof msg), -ETIMEDOUT);
	cr_assert_not_null(strstr(msg, "no answer"), "%s", msg);
	cr_assert_eq(reload_state_request(g_dir, d + 100000, 300, msg, sizeof msg), -ESRCH);
	reap(d);
	/* the daemon is gone, its file stays: no one to signal */
	cr_assert_lt(reload_state_request(g_dir, 0, 300, msg, sizeof msg), 0);
}
