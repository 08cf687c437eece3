/* response.c - status lines, response heads and error bodies. */
#include <stdio.h>
#include <string.h>

#include "http_date.h"
#include "response.h"

const char *http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 421: return "Misdirected Request";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
}

/* Tiny append helpers: they track overflow instead of checking each call. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool overflow;
};

static inline void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->overflow || n > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* A string literal: its length is known at compile time, so the copy is a
 * few moves instead of strlen() + memcpy() (response heads are per request) */
#define SB_LIT(b, lit) sb_put((b), (lit), sizeof(lit) - 1)

static void sb_putu(struct sbuf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof tmp;

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	sb_put(b, tmp + i, sizeof tmp - i);
}

size_t response_head(char *out, size_t cap, const struct resp_head *h)
{
	struct sbuf b = { out, 0, cap, false };

	if (h->status == 200) {
		SB_LIT(&b, "HTTP/1.1 200 OK\r\nDate: ");
	} else {
		SB_LIT(&b, "HTTP/1.1 ");
		sb_putu(&b, (uint64_t)h->status);
		SB_LIT(&b, " ");
		sb_puts(&b, http_reason(h->status));
		SB_LIT(&b, "\r\nDate: ");
	}
	/* formatted at most once a second per thread */
	sb_put(&b, http_date_now(), HTTP_DATE_LEN);
	SB_LIT(&b, "\r\nServer: " RESPONSE_SERVER "\r\n");
	if (h->content_type) {
		SB_LIT(&b, "Content-Type: ");
		sb_puts(&b, h->content_type);
		SB_LIT(&b, "\r\n");
	}
	SB_LIT(&b, "Content-Length: ");
	sb_putu(&b, h->content_length);
	if (h->keep_alive) {
		SB_LIT(&b, "\r\nConnection: keep-alive\r\nKeep-Alive: timeout=");
		sb_putu(&b, h->ka_timeout);
		SB_LIT(&b, ", max=");
		sb_putu(&b, h->ka_max);
		SB_LIT(&b, "\r\n");
	} else {
		SB_LIT(&b, "\r\nConnection: close\r\n");
	}
	if (h->hsts_max_age) {
		/* RFC 6797 section 6.1; only ever sent over TLS (section 7.2) */
		SB_LIT(&b, "Strict-Transport-Security: max-age=");
		sb_putu(&b, h->hsts_max_age);
		SB_LIT(&b, "\r\n");
	}
	if (h->extra_len)
		sb_put(&b, h->extra, h->extra_len);
	SB_LIT(&b, "\r\n");
	return b.overflow ? 0 : b.len;
}

size_t response_error_html(char *out, size_t cap, int status)
{
	int n = snprintf(out, cap,
			 "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
			 "<title>%d %s</title></head>\n<body><h1>%d %s</h1>"
			 "<hr><p>" RESPONSE_SERVER "</p></body></html>\n",
			 status, http_reason(status), status, http_reason(status));
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

static void sb_put_json_string(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	sb_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			sb_put(b, esc, 2);
		} else if (c < 0x20) {
			char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			sb_put(b, esc, 6);
		} else {
			sb_put(b, (const char *)&c, 1);
		}
	}
	sb_put(b, "\"", 1);
}

size_t response_error_json(char *out, size_t cap, int status, const char *message)
{
	struct sbuf b = { out, 0, cap, false };

	sb_puts(&b, "{\"status\":\"error\",\"code\":");
	sb_putu(&b, (uint64_t)status);
	sb_puts(&b, ",\"error\":");
	sb_put_json_string(&b, message);
	sb_puts(&b, "}\n");
	return b.overflow ? 0 : b.len;
}

size_t response_content_disposition(char *out, size_t cap, const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	struct sbuf b = { out, 0, cap, false };
	bool ascii = true;

	sb_puts(&b, "Content-Disposition: attachment; filename=\"");
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		char c = (char)*p;
		if (*p >= 0x80)
			ascii = false;
		if (*p < 0x20 || *p >= 0x7f || c == '"' || c == '\\')
			c = '_';
		sb_put(&b, &c, 1);
	}
	sb_puts(&b, "\"");
	if (!ascii) {
		/* RFC 8187 ext-value: attr-char stays, everything else %XX */
		sb_puts(&b, "; filename*=UTF-8''");
		for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
			unsigned char c = *p;
			bool attr = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				    (c >= '0' && c <= '9') || strchr("!#$&+-.^_`|~", c);
			if (attr && c) {
				sb_put(&b, (const char *)p, 1);
			} else {
				char enc[3] = { '%', hex[c >> 4], hex[c & 15] };
				sb_put(&b, enc, 3);
			}
		}
	}
	sb_puts(&b, "\r\n");
	return b.overflow ? 0 : b.len;
}
