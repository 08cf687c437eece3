/* http_date.c - HTTP-date (RFC 9110 section 5.6.7): IMF-fixdate out, all three forms in.
 *
 *   IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT
 *   e.g.          Sun, 06 Nov 1994 08:49:37 GMT
 *
 * Names come from our own tables, not strftime(): "%a" and "%b" follow
 * the locale, and HTTP dates are always English. */
#include "http_date.h"
#include "util.h"

#include <errno.h>
#include <string.h>

static const char day_names[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char month_names[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years that fit the
 * four digits of date1. */
#define HTTP_DATE_MIN ((time_t)-62167219200)
#define HTTP_DATE_MAX ((time_t)253402300799)

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
	p = mth_dec_fixed(p, (unsigned)tm.tm_mday, 2);
	*p++ = ' ';
	p = put3(p, month_names[tm.tm_mon]);
	*p++ = ' ';
	p = mth_dec_fixed(p, (unsigned)year, 4);
	*p++ = ' ';
	p = mth_dec_fixed(p, (unsigned)tm.tm_hour, 2);
	*p++ = ':';
	p = mth_dec_fixed(p, (unsigned)tm.tm_min, 2);
	*p++ = ':';
	p = mth_dec_fixed(p, (unsigned)tm.tm_sec, 2);
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

/* Two decimal digits at S, or -1. */
static int get2(const char *s)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

static int find_name3(const char (*names)[4], int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (memcmp(names[i], s, 3) == 0)
			return i;
	return -1;
}

/* "HH:MM:SS" at S (8 bytes): time-of-day = hour ":" minute ":" second. */
static int get_time_of_day(const char *s, int *hour, int *min, int *sec)
{
	if (s[2] != ':' || s[5] != ':')
		return -1;
	*hour = get2(s);
	*min = get2(s + 3);
	*sec = get2(s + 6);
	if (*hour < 0 || *hour > 23 || *min < 0 || *min > 59 || *sec < 0 || *sec > 60)
		return -1;
	return 0;
}

/* The calendar checks shared by all three forms: the date must exist (timegm() would turn 31 Feb into 3 Mar) and agree with
 * the day name.  Second 60 (a leap second) is the next minute's first. */
static int make_time(int year, int mon, int mday, int hour, int min, int sec, int wday, time_t *out)
{
	struct tm tm = { 0 };
	time_t t;

	if (year < 0 || year > 9999 || mday < 1 || mday > 31)
		return -EINVAL;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon;
	tm.tm_mday = mday;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec == 60 ? 59 : sec;
	t = timegm(&tm);
	if (tm.tm_mday != mday || tm.tm_mon != mon || tm.tm_year != year - 1900 ||
	    tm.tm_wday != wday)
		return -EINVAL;
	*out = t + (sec == 60);
	return 0;
}

/* The form we send (IMF-fixdate); http_date_parse_any() below accepts the
 * two obsolete forms too. */
int http_date_parse(const char *s, size_t len, time_t *out)
{
	int wday, mday, mon, hour, min, sec, hi, lo;

	if (!s || !out || len != HTTP_DATE_LEN)
		return -EINVAL;
	/* Fixed punctuation: "Www, DD Mmm YYYY HH:MM:SS GMT" */
	if (s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
	    memcmp(s + 25, " GMT", 4) != 0)
		return -EINVAL;
	wday = find_name3(day_names, 7, s);
	mday = get2(s + 5);
	mon = find_name3(month_names, 12, s + 8);
	hi = get2(s + 12);
	lo = get2(s + 14);
	if (wday < 0 || mday < 1 || mon < 0 || hi < 0 || lo < 0 ||
	    get_time_of_day(s + 17, &hour, &min, &sec) < 0)
		return -EINVAL;
	/* a day name that contradicts the date leaves us guessing which one
	 * the sender meant: make_time() refuses it */
	return make_time(hi * 100 + lo, mon, mday, hour, min, sec, wday, out);
}

/* ------------------------------------------------------------------ */
/* The obsolete forms, RFC 9110 section 5.6.7: "A recipient that parses a
 * timestamp value in an HTTP field MUST accept all three HTTP-date formats." */

static const char *const day_long[7] = { "Sunday",   "Monday", "Tuesday", "Wednesday",
					 "Thursday", "Friday", "Saturday" };

/* rfc850-date = day-name-l "," SP date2 SP time-of-day SP GMT
 * date2       = day "-" month "-" 2DIGIT
 * e.g.          Sunday, 06-Nov-94 08:49:37 GMT */
static int parse_rfc850(const char *s, size_t len, time_t now, time_t *out)
{
	const char *r;
	struct tm now_tm, lim_tm, cand_tm;
	time_t limit;
	int wday = -1, mday, mon, yy, year, hour, min, sec;
	size_t name_len = 0;

	for (int i = 0; i < 7; i++) {
		size_t n = strlen(day_long[i]);

		if (len > n && memcmp(s, day_long[i], n) == 0 && s[n] == ',') {
			wday = i;
			name_len = n;
			break;
		}
	}
	/* ", 06-Nov-94 08:49:37 GMT" is 24 bytes after the name. */
	if (wday < 0 || len - name_len != 24)
		return -EINVAL;
	r = s + name_len + 1;
	if (r[0] != ' ' || r[3] != '-' || r[7] != '-' || r[10] != ' ' ||
	    memcmp(r + 19, " GMT", 4) != 0)
		return -EINVAL;
	mday = get2(r + 1);
	mon = find_name3(month_names, 12, r + 4);
	yy = get2(r + 8);
	if (mday < 0 || mon < 0 || yy < 0 || get_time_of_day(r + 11, &hour, &min, &sec) < 0)
		return -EINVAL;

	/* Section 5.6.7: "Recipients of a timestamp value in rfc850-date
	 * format, which uses a two-digit year, MUST interpret a timestamp that
	 * appears to be more than 50 years in the future as representing the
	 * most recent year in the past that had the same last two digits."
	 * The day name is then checked against that year; it never picks the
	 * century. */
	if (!gmtime_r(&now, &now_tm))
		return -EINVAL;
	year = (now_tm.tm_year + 1900) / 100 * 100 + yy;
	lim_tm = now_tm;
	lim_tm.tm_year += 50;
	limit = timegm(&lim_tm);
	cand_tm = lim_tm;
	cand_tm.tm_year = year - 1900;
	cand_tm.tm_mon = mon;
	cand_tm.tm_mday = mday;
	cand_tm.tm_hour = hour;
	cand_tm.tm_min = min;
	cand_tm.tm_sec = sec;
	if (timegm(&cand_tm) > limit)
		year -= 100;
	return make_time(year, mon, mday, hour, min, sec, wday, out);
}

/* asctime-date = day-name SP date3 SP time-of-day SP year
 * date3        = month SP ( 2DIGIT / ( SP DIGIT ) )
 * e.g.           Sun Nov  6 08:49:37 1994 */
static int parse_asctime(const char *s, size_t len, time_t *out)
{
	int wday, mon, mday, hi, lo, hour, min, sec;

	if (len != 24 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ')
		return -EINVAL;
	wday = find_name3(day_names, 7, s);
	mon = find_name3(month_names, 12, s + 4);
	if (s[8] == ' ')
		mday = s[9] >= '1' && s[9] <= '9' ? s[9] - '0' : -1;
	else
		mday = get2(s + 8);
	hi = get2(s + 20);
	lo = get2(s + 22);
	if (wday < 0 || mon < 0 || mday < 0 || hi < 0 || lo < 0 ||
	    get_time_of_day(s + 11, &hour, &min, &sec) < 0)
		return -EINVAL;
	return make_time(hi * 100 + lo, mon, mday, hour, min, sec, wday, out);
}

int http_date_parse_any(const char *s, size_t len, time_t now, time_t *out)
{
	time_t t;
	int ret;

	if (!s || !out || len < 4)
		return -EINVAL;
	/* The three forms differ at byte 3: ',' (IMF-fixdate), ' ' (asctime)
	 * or a letter of a long day name (rfc850). */
	if (s[3] == ',')
		ret = http_date_parse(s, len, &t);
	else if (s[3] == ' ')
		ret = parse_asctime(s, len, &t);
	else
		ret = parse_rfc850(s, len, now, &t);
	if (ret < 0)
		return -EINVAL;
	*out = t;
	return 0;
}

