/* test_quota.c - Criterion tests for src/quota.c. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quota.h"

static void totals(struct quota *q, uint64_t b, uint64_t f, uint64_t rb, uint64_t rf)
{
	uint64_t b2, f2, rb2, rf2;

	quota_totals(q, &b2, &f2, &rb2, &rf2);
	cr_expect_eq(b2, b, "bytes %lu", (unsigned long)b2);
	cr_expect_eq(f2, f, "files %lu", (unsigned long)f2);
	cr_expect_eq(rb2, rb, "reserved bytes %lu", (unsigned long)rb2);
	cr_expect_eq(rf2, rf, "reserved files %lu", (unsigned long)rf2);
}

Test(quota, reserve_commit_release)
{
	struct quota *q = quota_new();
	const struct quota_caps caps = { .max_bytes = 1000, .max_files = 3 };

	cr_assert_not_null(q);
	cr_expect_eq(quota_reserve(q, 600, &caps), 0);
	cr_expect_eq(quota_reserve(q, 401, &caps), -EDQUOT, "600 + 401 > 1000");
	cr_expect_eq(quota_reserve(q, 400, &caps), 0, "exactly the cap");
	totals(q, 0, 0, 1000, 2);
	cr_expect_eq(quota_reserve(q, 0, &caps), 0, "an empty file still counts as a file");
	cr_expect_eq(quota_reserve(q, 0, &caps), -EDQUOT, "a fourth file");
	quota_commit(q, 600, 550);
	quota_release(q, 400);
	quota_release(q, 0);
	totals(q, 550, 1, 0, 0);
	cr_expect_eq(quota_reserve(q, 451, &caps), -EDQUOT);
	cr_expect_eq(quota_reserve(q, 450, &caps), 0);
	cr_expect_eq(quota_grow(q, 1, &caps), -EDQUOT);
	quota_commit(q, 450, 450);
	totals(q, 1000, 2, 0, 0);
	quota_free(q);
	quota_free(NULL);
}

Test(quota, no_caps_and_huge_values)
{
	struct quota *q = quota_new();
	const struct quota_caps none = { 0 }, big = { .max_bytes = UINT64_MAX - 1 };

	cr_assert_not_null(q);
	cr_expect_eq(quota_reserve(q, UINT64_MAX / 2, &none), 0);
	cr_expect_eq(quota_reserve(q, UINT64_MAX / 2, &big), 0);
	cr_expect_eq(quota_reserve(q, UINT64_MAX / 2, &big), -EDQUOT, "no wrap-around");
	cr_expect_eq(quota_grow(q, UINT64_MAX, &big), -EDQUOT);
	quota_free(q);
}

Test(quota, chunked_grows_as_bytes_arrive)
{
	struct quota *q = quota_new();
	const struct quota_caps caps = { .max_bytes = 100 };

	cr_assert_not_null(q);
	cr_expect_eq(quota_reserve(q, 0, &caps), 0);
	for (int i = 0; i < 10; i++)
		cr_expect_eq(quota_grow(q, 10, &caps), 0);
	cr_expect_eq(quota_grow(q, 1, &caps), -EDQUOT);
	totals(q, 0, 0, 100, 1);
	quota_release(q, 100);
	totals(q, 0, 0, 0, 0);
	quota_free(q);
}

Test(quota, scan_counts_regular_files_not_temporaries)
{
	char dir[] = "/tmp/mth-quota-XXXXXX";
	struct quota *q = quota_new();
	const struct quota_caps caps = { .max_bytes = 10, .max_files = 4 };
	int dfd, fd;

	cr_assert_not_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dfd, 0);
	fd = openat(dfd, "a.json", O_WRONLY | O_CREAT, 0600);
	cr_assert_eq(write(fd, "[1,2]", 5), 5);
	close(fd);
	fd = openat(dfd, "b.json", O_WRONLY | O_CREAT, 0600);
	cr_assert_eq(write(fd, "{}", 2), 2);
	close(fd);
	fd = openat(dfd, ".upload-0123456789abcdef.tmp", O_WRONLY | O_CREAT, 0600);
	cr_assert_eq(write(fd, "[[[[[[[[[[[[", 12), 12);
	close(fd);
	cr_assert_eq(mkdirat(dfd, "sub", 0700), 0);
	cr_assert_eq(symlinkat("a.json", dfd, "link"), 0);
	/* a reservation in flight survives a rescan */
	cr_expect_eq(quota_reserve(q, 1, &caps), 0);
	cr_assert_eq(quota_scan(q, dfd), 0);
	totals(q, 7, 2, 1, 1);
	cr_expect_eq(quota_reserve(q, 3, &caps), -EDQUOT, "7 + 1 + 3 > 10");
	cr_expect_eq(quota_reserve(q, 2, &caps), 0);
	cr_expect_eq(quota_reserve(q, 0, &caps), -EDQUOT, "2 stored + 2 reserved + 1 > 4 files");
	/* a rescan after files vanished */
	unlinkat(dfd, "a.json", 0);
	cr_assert_eq(quota_scan(q, dfd), 0);
	totals(q, 2, 1, 3, 2);
	unlinkat(dfd, "b.json", 0);
	unlinkat(dfd, ".upload-0123456789abcdef.tmp", 0);
	unlinkat(dfd, "link", 0);
	unlinkat(dfd, "sub", AT_REMOVEDIR);
	close(dfd);
	rmdir(dir);
	cr_expect_eq(quota_scan(q, -1), -EBADF);
	quota_free(q);
}

struct racer {
	struct quota *q;
	const struct quota_caps *caps;
	atomic_uint *stored;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	for (int i = 0; i < 1000; i++) {
		if (quota_reserve(r->q, 7, r->caps) == 0) {
			quota_commit(r->q, 7, 7);
			atomic_fetch_add(r->stored, 7);
		}
	}
	return NULL;
}

/* 64 threads against a nearly full quota never pass the cap together. */
Test(quota, concurrent_reservations_never_overshoot)
{
	struct quota *q = quota_new();
	const struct quota_caps caps = { .max_bytes = 7 * 100 + 6 };
	atomic_uint stored = 0;
	struct racer r = { q, &caps, &stored };
	pthread_t t[64];
	uint64_t b, f, rb, rf;

	cr_assert_not_null(q);
	for (int i = 0; i < 64; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, race, &r), 0);
	for (int i = 0; i < 64; i++)
		pthread_join(t[i], NULL);
	quota_totals(q, &b, &f, &rb, &rf);
	cr_expect_eq(atomic_load(&stored), 700);
	cr_expect_eq(b, 700);
	cr_expect_eq(f, 100);
	cr_expect_eq(rb, 0);
	quota_free(q);
}
