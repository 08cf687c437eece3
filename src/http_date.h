/* http_date.h - IMF-fixdate (RFC 9110 section 5.6.7). */
#ifndef MTH_HTTP_DATE_H
#define MTH_HTTP_DATE_H

#include <stddef.h>
#include <time.h>

#define HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Writes HTTP_DATE_LEN characters and a NUL into OUT (at least 30 bytes). */
void http_date_format(time_t t, char *out);

/* The current time as IMF-fixdate, formatted at most once per second per
 * thread.  The pointer is thread-local and valid until the next call. */
const char *http_date_now(void);

/* Parse the IMF-fixdate form (the only one we generate); returns 0 and sets
 * *OUT, or -EINVAL. */
int http_date_parse(const char *s, size_t len, time_t *out);

/* An HTTP-date in any of the three forms of RFC 9110 section 5.6.7, which
 * a recipient MUST accept:
 *   IMF-fixdate  Sun, 06 Nov 1994 08:49:37 GMT   (http_date_parse())
 *   rfc850-date  Sunday, 06-Nov-94 08:49:37 GMT
 *   asctime      Sun Nov  6 08:49:37 1994
 * Case-sensitive, exact spacing, GMT only, day name consistent with the
 * date, second 60 accepted as in http_date_parse().  A two-digit rfc850
 * year that would be more than 50 years after NOW's year is taken from the
 * previous century (section 5.6.7).  Returns 0 and sets *OUT, or -EINVAL. */
int http_date_parse_any(const char *s, size_t len, time_t now, time_t *out);

#endif
