/* http_date.c - IMF-fixdate (RFC 9110 section 5.6.7).
 *
 *   IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT
 *   e.g.          Sun, 06 Nov 1994 08:49:37 GMT
 *
 * Names come from our own tables, not strftime(): "%a" and "%b" follow
 * the locale, and HTTP dates are always English. */
#include "http_date.h"

#include <errno.h>
#include <string.h>

static const char day_names[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char month_names[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years that fit the
 * four digits of date1. */
#define HTTP_DATE_MIN ((time_t)-62167219200)
#define HTTP_DATE_MAX ((time_t)253402300799)

static char *put2(char *p, int v)
{
	*p++ = (char)('0' + v / 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

static char *put3(char *p, const char *s)
{
	memcpy(p, s, 3);
	return p + 3;
}

/* Times outside years 0000-9999 are clamped to the nearest end so the
 * result always has the fixed length a caller relies on; no such date is
 * ever a real file or clock time. */
void http_date_format(time_t t, char *out)
{
	struct tm tm;
	char *p = out;
	int year;

	if (t < HTTP_DATE_MIN)
		t = HTTP_DATE_MIN;
	else if (t > HTTP_DATE_MAX)
		t = HTTP_DATE_MAX;
	/* Cannot fail within the clamped range (time_t is 64-bit). */
	gmtime_r(&t, &tm);
	year = tm.tm_year + 1900;

	p = put3(p, day_names[tm.tm_wday]);
	*p++ = ',';
	*p++ = ' ';
	p = put2(p, tm.tm_mday);
	*p++ = ' ';
	p = put3(p, month_names[tm.tm_mon]);
	*p++ = ' ';
	p = put2(p, year / 100);
	p = put2(p, year % 100);
	*p++ = ' ';
	p = put2(p, tm.tm_hour);
	*p++ = ':';
	p = put2(p, tm.tm_min);
	*p++ = ':';
	p = put2(p, tm.tm_sec);
	memcpy(p, " GMT", 5);
}

const char *http_date_now(void)
{
	static __thread time_t last;
	static __thread char buf[HTTP_DATE_LEN + 1];
	struct timespec ts;

	/* The coarse clock is read without a syscall and is exact enough for
	 * a one-second resolution. */
	if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) < 0)
		ts.tv_sec = time(NULL);
	/* buf[0] is NUL only before the first call (last may be 0 then). */
	if (ts.tv_sec != last || !buf[0]) {
		http_date_format(ts.tv_sec, buf);
		last = ts.tv_sec;
	}
	return buf;
}

static int find_name(const char (*names)[4], int n, const char *s)
{
	for (int i = 0; i < n; i++) {
		if (memcmp(names[i], s, 3) == 0)
			return i;
	}
	return -1;
}

/* Two decimal digits at S, or -1. */
static int get2(const char *s)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* Only the form we send: RFC 9110 section 5.6.7 asks recipients to accept
 * the obsolete RFC 850 and asctime() forms too, but nothing here parses
 * dates from clients yet; when conditional requests arrive, those forms
 * belong in their own functions. */
int http_date_parse(const char *s, size_t len, time_t *out)
{
	struct tm tm = { 0 };
	int wday, mday, mon, year, hour, min, sec, hi, lo;
	time_t t;

	if (!s || !out || len != HTTP_DATE_LEN)
		return -EINVAL;
	/* Fixed punctuation: "Www, DD Mmm YYYY HH:MM:SS GMT" */
	if (s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
	    s[19] != ':' || s[22] != ':' || memcmp(s + 25, " GMT", 4) != 0)
		return -EINVAL;
	wday = find_name(day_names, 7, s);
	mday = get2(s + 5);
	mon = find_name(month_names, 12, s + 8);
	hi = get2(s + 12);
	lo = get2(s + 14);
	hour = get2(s + 17);
	min = get2(s + 20);
	sec = get2(s + 23);
	if (wday < 0 || mday < 1 || mon < 0 || hi < 0 || lo < 0 || hour < 0 || hour > 23 ||
	    min < 0 || min > 59 || sec < 0 || sec > 60)
		return -EINVAL;
	year = hi * 100 + lo;

	/* Second 60 is a leap second (RFC 9110: "23:59:60").  POSIX time has
	 * none, so it counts as the first second of the next minute; the
	 * calendar check below uses :59 to keep that carry out of it. */
	tm.tm_year = year - 1900;
	tm.tm_mon = mon;
	tm.tm_mday = mday;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec == 60 ? 59 : sec;
	t = timegm(&tm);
	/* timegm() turns 31 Feb into 3 Mar: a changed field means the date
	 * does not exist.  A day name that contradicts the date leaves us
	 * guessing which one the sender meant, so refuse that too. */
	if (tm.tm_mday != mday || tm.tm_mon != mon || tm.tm_year != year - 1900 ||
	    tm.tm_wday != wday)
		return -EINVAL;
	*out = t + (sec == 60);
	return 0;
}
