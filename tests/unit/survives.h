/* survives.h - for the unit tests: assert that a statement returns
 * normally (no crash, no abort), as an assertion of the test that runs it
 * rather than as a crashed test.  The statement runs in a child process. */
#ifndef MTH_TEST_SURVIVES_H
#define MTH_TEST_SURVIVES_H

#include <criterion/criterion.h>
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

/* Also checks that the statement leaves errno alone, as a destructor
 * called on a cleanup path must. */
#define cr_assert_survives(stmt)                                                                  \
	do {                                                                                       \
		int status_ = 0;                                                                   \
		pid_t pid_ = fork();                                                               \
		cr_assert_geq(pid_, 0, "fork: %s", strerror(errno));                               \
		if (pid_ == 0) {                                                                   \
			errno = 4321;                                                              \
			stmt;                                                                      \
			_exit(errno == 4321 ? 0 : 3);                                              \
		}                                                                                  \
		cr_assert_eq(waitpid(pid_, &status_, 0), pid_);                                   \
		cr_assert(!WIFSIGNALED(status_), "%s died of signal %d", #stmt,                    \
			  WTERMSIG(status_));                                                      \
		cr_assert(WIFEXITED(status_) && WEXITSTATUS(status_) != 3, "%s changed errno",     \
			  #stmt);                                                                  \
		cr_assert(WIFEXITED(status_) && WEXITSTATUS(status_) == 0, "%s exited %d", #stmt,  \
			  WEXITSTATUS(status_));                                                   \
	} while (0)

#endif
