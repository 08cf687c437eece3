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
 * *OUT, or -EINVAL.  (Used by tests and, later, conditional requests.) */
int http_date_parse(const char *s, size_t len, time_t *out);

#endif
