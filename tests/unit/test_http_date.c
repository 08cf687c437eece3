/* test_http_date.c - Criterion tests for src/http_date.c. */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http_date.h"

static void expect_format(time_t t, const char *want)
{
	char out[HTTP_DATE_LEN + 8];

	memset(out, 'x', sizeof(out));
	http_date_format(t, out);
	cr_expect_str_eq(out, want, "t=%lld", (long long)t);
	/* exactly 29 characters and a NUL, nothing beyond */
	cr_expect_eq(out[HTTP_DATE_LEN], '\0');
	cr_expect_eq(out[HTTP_DATE_LEN + 1], 'x');
}

static void expect_parse(const char *s, time_t want)
{
	time_t t = 12345;

	cr_expect_eq(http_date_parse(s, strlen(s), &t), 0, "\"%s\"", s);
	cr_expect_eq(t, want, "\"%s\": %lld, want %lld", s, (long long)t, (long long)want);
}

static void expect_reject(const char *s, size_t len)
{
	time_t t = 12345;

	cr_expect_eq(http_date_parse(s, len, &t), -EINVAL, "accepted \"%.*s\"", (int)len, s);
	cr_expect_eq(t, 12345, "*out written for \"%.*s\"", (int)len, s);
}

static void reject(const char *s)
{
	expect_reject(s, strlen(s));
}

Test(http_date, format_known_epochs)
{
	expect_format(0, "Thu, 01 Jan 1970 00:00:00 GMT");
	expect_format(784111777, "Sun, 06 Nov 1994 08:49:37 GMT");
	expect_format(-1, "Wed, 31 Dec 1969 23:59:59 GMT");
	expect_format((time_t)-2208988800, "Mon, 01 Jan 1900 00:00:00 GMT");
}

Test(http_date, format_leap_days)
{
	expect_format(951782400, "Tue, 29 Feb 2000 00:00:00 GMT");
	expect_format(1709164800, "Thu, 29 Feb 2024 00:00:00 GMT");
	expect_format(1709251199, "Thu, 29 Feb 2024 23:59:59 GMT");
}

Test(http_date, format_after_2038)
{
	expect_format(2147483647, "Tue, 19 Jan 2038 03:14:07 GMT");
	expect_format((time_t)2147483648, "Tue, 19 Jan 2038 03:14:08 GMT");
	expect_format((time_t)4102444800, "Fri, 01 Jan 2100 00:00:00 GMT");
	expect_format((time_t)253402300799, "Fri, 31 Dec 9999 23:59:59 GMT");
}

Test(http_date, format_clamps_to_four_digit_years)
{
	expect_format((time_t)253402300800, "Fri, 31 Dec 9999 23:59:59 GMT");
	expect_format((time_t)1 << 62, "Fri, 31 Dec 9999 23:59:59 GMT");
	expect_format((time_t)-62167219200, "Sat, 01 Jan 0000 00:00:00 GMT");
	expect_format((time_t)-62167219201, "Sat, 01 Jan 0000 00:00:00 GMT");
	expect_format(-((time_t)1 << 62), "Sat, 01 Jan 0000 00:00:00 GMT");
}

Test(http_date, parse_known_dates)
{
	expect_parse("Thu, 01 Jan 1970 00:00:00 GMT", 0);
	expect_parse("Sun, 06 Nov 1994 08:49:37 GMT", 784111777);
	expect_parse("Tue, 29 Feb 2000 00:00:00 GMT", 951782400);
	expect_parse("Thu, 29 Feb 2024 23:59:59 GMT", 1709251199);
	expect_parse("Fri, 01 Jan 2100 00:00:00 GMT", (time_t)4102444800);
	expect_parse("Wed, 31 Dec 1969 23:59:59 GMT", -1);
	expect_parse("Sat, 01 Jan 0000 00:00:00 GMT", (time_t)-62167219200);
	expect_parse("Fri, 31 Dec 9999 23:59:59 GMT", (time_t)253402300799);
}

Test(http_date, parse_leap_second)
{
	/* 23:59:60 is the leap second; POSIX time counts it as :00 next. */
	expect_parse("Sat, 31 Dec 2016 23:59:60 GMT", 1483228800);
	expect_parse("Tue, 30 Jun 2015 23:59:60 GMT", 1435708800);
}

Test(http_date, parse_uses_length_not_nul)
{
	static const char s[] = "Sun, 06 Nov 1994 08:49:37 GMTxyz";
	time_t t = 0;

	cr_expect_eq(http_date_parse(s, HTTP_DATE_LEN, &t), 0);
	cr_expect_eq(t, 784111777);
	expect_reject(s, HTTP_DATE_LEN - 1);
	expect_reject(s, HTTP_DATE_LEN + 1);
}

Test(http_date, round_trip)
{
	char buf[HTTP_DATE_LEN + 1];
	time_t t, back;

	/* 1900..2200 in steps that are prime to every calendar period */
	for (t = (time_t)-2208988800; t < (time_t)7258118400; t += 9999991) {
		http_date_format(t, buf);
		cr_assert_eq(http_date_parse(buf, strlen(buf), &back), 0, "\"%s\"", buf);
		cr_assert_eq(back, t, "\"%s\"", buf);
	}
	/* each day of a leap year and a common year, at a varying time */
	for (t = 946684800; t < 1009843200; t += 86400 + 37) {
		http_date_format(t, buf);
		cr_assert_eq(http_date_parse(buf, strlen(buf), &back), 0, "\"%s\"", buf);
		cr_assert_eq(back, t, "\"%s\"", buf);
	}
}

Test(http_date, parse_rejects_other_forms)
{
	reject("Sunday, 06-Nov-94 08:49:37 GMT"); /* RFC 850 */
	reject("Sun Nov  6 08:49:37 1994");	  /* asctime() */
	reject("Sun, 06 Nov 1994 08:49:37 UTC");
	reject("Sun, 06 Nov 1994 08:49:37 +0000");
	reject("1994-11-06T08:49:37Z");
	reject("");
	expect_reject(NULL, 0);
}

Test(http_date, parse_rejects_bad_names)
{
	reject("sun, 06 Nov 1994 08:49:37 GMT");
	reject("SUN, 06 Nov 1994 08:49:37 GMT");
	reject("Snu, 06 Nov 1994 08:49:37 GMT");
	reject("Sun. 06 Nov 1994 08:49:37 GMT");
	reject("Sun, 06 nov 1994 08:49:37 GMT");
	reject("Sun, 06 NOV 1994 08:49:37 GMT");
	reject("Sun, 06 Nvo 1994 08:49:37 GMT");
	reject("Sun, 06 Nov 1994 08:49:37 gmt");
	reject("Sun, 06 Nov 1994 08:49:37 Gmt");
	reject("Sun, 06 Nov 1994 08:49:37 GMZ");
	/* a real name, the wrong day */
	reject("Mon, 06 Nov 1994 08:49:37 GMT");
}

Test(http_date, parse_rejects_bad_spacing_and_length)
{
	reject("Sun,  06 Nov 1994 08:49:37 GMT"); /* 30 */
	reject("Sun, 06  Nov 1994 08:49:37 GMT");
	reject("Sun, 06 Nov 1994 08:49:37  GMT");
	reject(" Sun, 06 Nov 1994 08:49:37 GMT");
	reject("Sun, 06 Nov 1994 08:49:37 GMT ");
	reject("Sun, 6 Nov 1994 08:49:37 GMT"); /* 28 */
	reject("Sun,06 Nov 1994 08:49:37 GMT");
	reject("Sun, 06 Nov 1994 8:49:37 GMT");
	reject("Sun, 06 Nov 94 08:49:37 GMT");
	reject("Sun, 06 Nov 1994 08:49:37GMT");
	reject("Sun, 06 Nov 1994 08:49:37 GM");
	reject("Sun, 06-Nov-1994 08:49:37 GMT");
	reject("Sun,\t06 Nov 1994 08:49:37 GMT");
	reject("Sun, 06 Nov 1994 08.49.37 GMT");
	reject("Sun, 06 Nov 1994 08:49:37\tGMT");
	expect_reject("Sun, 06 Nov 1994 08:49:37 G\0T", HTTP_DATE_LEN);
	expect_reject("Sun, 06 Nov 1994\00008:49:37 GMT", HTTP_DATE_LEN);
}

Test(http_date, parse_rejects_bad_fields)
{
	reject("Sun, 0x Nov 1994 08:49:37 GMT");
	reject("Sun, +6 Nov 1994 08:49:37 GMT");
	reject("Sun, 06 Nov 199x 08:49:37 GMT");
	reject("Sun, 06 Nov -994 08:49:37 GMT");
	reject("Sun, 06 Nov 1994 24:00:00 GMT");
	reject("Sun, 06 Nov 1994 08:60:37 GMT");
	reject("Sun, 06 Nov 1994 08:49:61 GMT");
	reject("Sun, 06 Nov 1994 08:49:99 GMT");
	reject("Sun, 06 Nov 1994 -8:49:37 GMT");
	reject("Sun, 06 Nov 1994 08: 9:37 GMT");
	/* days that do not exist */
	reject("Sat, 00 Jan 2000 00:00:00 GMT");
	reject("Tue, 32 Jan 2000 00:00:00 GMT");
	reject("Wed, 30 Feb 2000 00:00:00 GMT");
	reject("Wed, 29 Feb 2023 00:00:00 GMT");
	reject("Thu, 29 Feb 1900 00:00:00 GMT");
	reject("Mon, 31 Apr 2024 00:00:00 GMT");
	reject("Tue, 31 Jun 2024 00:00:00 GMT");
	reject("Thu, 31 Nov 2024 00:00:00 GMT");
}

Test(http_date, now_is_current)
{
	const char *s = http_date_now();
	time_t t = 0, before = time(NULL);

	cr_assert_not_null(s);
	cr_assert_eq(strlen(s), HTTP_DATE_LEN, "\"%s\"", s);
	cr_assert_eq(http_date_parse(s, strlen(s), &t), 0, "\"%s\"", s);
	cr_expect_leq(t > before ? t - before : before - t, 2, "\"%s\" vs %lld", s,
		      (long long)before);
}

static time_t coarse_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return ts.tv_sec;
}

/* Formatted at most once per second per thread: a mark put into the
 * returned buffer survives the next call within the same second (nothing
 * was formatted again) and is gone, replaced by the new date, once the
 * second has changed. */
Test(http_date, now_is_cached_per_thread)
{
	char want[HTTP_DATE_LEN + 1];
	const char *a;
	time_t t0;
	int tries;

	for (tries = 0; tries < 5; tries++) {
		t0 = coarse_now();
		a = http_date_now();
		((char *)a)[0] = 'X';
		if (http_date_now()[0] == 'X' || coarse_now() == t0)
			break;
	}
	cr_assert_lt(tries, 5, "the second changed between every pair of calls");
	if (coarse_now() == t0)
		cr_assert_eq(http_date_now()[0], 'X', "formatted again within one second: %s",
			     http_date_now());
	while (coarse_now() == t0)
		usleep(10000);
	a = http_date_now();
	http_date_format(coarse_now(), want);
	cr_assert_neq(a[0], 'X', "not formatted again when the second changed");
	cr_assert_str_eq(a, want);
}

/* What another thread gets: a copy, taken while that thread is alive. */
static void *now_in_thread(void *arg)
{
	return strdup(http_date_now());
}

/* Another thread has a cache of its own: a mark in this thread's buffer
 * never shows in what it gets, and its call leaves this buffer alone. */
Test(http_date, now_has_a_buffer_per_thread)
{
	char *mine = (char *)http_date_now();
	void *theirs = NULL;
	pthread_t th;

	mine[0] = 'X';
	cr_assert_eq(pthread_create(&th, NULL, now_in_thread, NULL), 0);
	cr_assert_eq(pthread_join(th, &theirs), 0);
	cr_assert_not_null(theirs);
	cr_expect_neq(((const char *)theirs)[0], 'X', "the other thread got this one's buffer");
	cr_expect_eq(strlen(theirs), HTTP_DATE_LEN);
	cr_expect_eq(mine[0], 'X', "the other thread's call rewrote this one's buffer");
	free(theirs);
}

Test(http_date, now_follows_the_clock)
{
	char first[HTTP_DATE_LEN + 1];
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	time_t t0, t1;
	int i;

	memcpy(first, http_date_now(), sizeof(first));
	cr_assert_eq(http_date_parse(first, HTTP_DATE_LEN, &t0), 0);
	/* within three seconds the cached string must have moved on */
	for (i = 0; i < 60 && strcmp(http_date_now(), first) == 0; i++)
		nanosleep(&ts, NULL);
	cr_assert_lt(i, 60, "still \"%s\"", first);
	cr_assert_eq(http_date_parse(http_date_now(), HTTP_DATE_LEN, &t1), 0);
	cr_expect_gt(t1, t0);
}
