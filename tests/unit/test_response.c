/* test_response.c - status lines, heads, error bodies, Content-Disposition. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <string.h>

#include "response.h"

Test(response, reasons)
{
	cr_assert_str_eq(http_reason(200), "OK");
	cr_assert_str_eq(http_reason(404), "Not Found");
	cr_assert_str_eq(http_reason(413), "Content Too Large");
	cr_assert_str_eq(http_reason(431), "Request Header Fields Too Large");
	cr_assert_str_eq(http_reason(507), "Insufficient Storage");
	cr_assert_str_eq(http_reason(299), "Unknown");
}

Test(response, keep_alive_head)
{
	char buf[1024];
	struct resp_head h = { .status = 200, .content_type = "text/html; charset=utf-8",
			       .content_length = 1234, .keep_alive = true, .ka_timeout = 30,
			       .ka_max = 99 };
	size_t n = response_head(buf, sizeof buf, &h);

	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_assert(strncmp(buf, "HTTP/1.1 200 OK\r\nDate: ", 23) == 0, "%s", buf);
	cr_assert_not_null(strstr(buf, " GMT\r\nServer: mthttpd/" PACKAGE_VERSION "\r\n"));
	cr_assert_not_null(strstr(buf, "\r\nContent-Type: text/html; charset=utf-8\r\n"));
	cr_assert_not_null(strstr(buf, "\r\nContent-Length: 1234\r\n"));
	cr_assert_not_null(strstr(buf, "\r\nConnection: keep-alive\r\nKeep-Alive: timeout=30, max=99\r\n"));
	cr_assert(n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
	cr_assert_eq(strstr(buf, "\r\n\r\n"), buf + n - 4, "one empty line, at the end");
}

Test(response, close_head_with_extra_fields)
{
	char buf[1024];
	struct resp_head h = { .status = 405, .content_length = 0, .keep_alive = false,
			       .extra = "Allow: GET, HEAD\r\n", .extra_len = 18 };
	size_t n = response_head(buf, sizeof buf, &h);

	buf[n] = '\0';
	cr_assert(strncmp(buf, "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0);
	cr_assert_not_null(strstr(buf, "\r\nContent-Length: 0\r\nConnection: close\r\nAllow: GET, HEAD\r\n\r\n"));
	cr_assert_null(strstr(buf, "Keep-Alive"));
	cr_assert_null(strstr(buf, "Content-Type"));
}

Test(response, large_content_length)
{
	char buf[512];
	struct resp_head h = { .status = 200, .content_length = 5000000000ull };

	cr_assert_gt(response_head(buf, sizeof buf, &h), 0);
	cr_assert_not_null(strstr(buf, "Content-Length: 5000000000\r\n"));
}

Test(response, too_small_buffer_is_refused)
{
	char buf[40];
	struct resp_head h = { .status = 200, .content_length = 1 };

	cr_assert_eq(response_head(buf, sizeof buf, &h), 0);
	cr_assert_eq(response_error_html(buf, 10, 404), 0);
	cr_assert_eq(response_error_json(buf, 10, 400, "x"), 0);
}

Test(response, error_html)
{
	char buf[512];
	size_t n = response_error_html(buf, sizeof buf, 404);

	cr_assert_gt(n, 0);
	cr_assert_eq(strlen(buf), n);
	cr_assert_not_null(strstr(buf, "<title>404 Not Found</title>"));
}

Test(response, error_json_is_valid_json_with_escaping)
{
	char buf[512];
	size_t n = response_error_json(buf, sizeof buf, 400, "bad \"quote\" \\ and\nnewline\x01");
	json_object *o, *v;

	cr_assert_gt(n, 0);
	o = json_tokener_parse(buf);
	cr_assert_not_null(o, "not JSON: %s", buf);
	cr_assert(json_object_object_get_ex(o, "status", &v));
	cr_assert_str_eq(json_object_get_string(v), "error");
	cr_assert(json_object_object_get_ex(o, "code", &v));
	cr_assert_eq(json_object_get_int(v), 400);
	cr_assert(json_object_object_get_ex(o, "error", &v));
	cr_assert_str_eq(json_object_get_string(v), "bad \"quote\" \\ and\nnewline\x01");
	json_object_put(o);
}

Test(response, content_disposition_ascii)
{
	char buf[256];
	size_t n = response_content_disposition(buf, sizeof buf - 1, "logo.png");

	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_assert_str_eq(buf, "Content-Disposition: attachment; filename=\"logo.png\"\r\n");
}

Test(response, content_disposition_hostile_and_utf8_names)
{
	char buf[512];

	buf[response_content_disposition(buf, sizeof buf - 1, "a\"b\\c\r\nX: y.txt")] = '\0';
	cr_assert_str_eq(buf, "Content-Disposition: attachment; filename=\"a_b_c__X: y.txt\"\r\n");
	buf[response_content_disposition(buf, sizeof buf - 1, "caf\xc3\xa9 1.txt")] = '\0';
	cr_assert_str_eq(buf, "Content-Disposition: attachment; filename=\"caf__ 1.txt\"; "
			      "filename*=UTF-8''caf%C3%A9%201.txt\r\n");
}
