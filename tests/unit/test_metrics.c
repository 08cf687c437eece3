/* test_metrics.c - per-thread counters summed on scrape, and the Prometheus
 * text they are rendered to (src/metrics.c).  Criterion runs each test in a
 * process of its own, so every test starts from zero. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static char *render(void)
{
	struct metrics_gauges g = { .workers = 8,
				    .busy = 3,
				    .queued = 2,
				    .queue_cap = 256,
				    .conns_reading = 4,
				    .conns_writing = 5,
				    .conns_idle = 6,
				    .access_log_dropped = 7 };
	char *out;
	size_t len;

	cr_assert_eq(metrics_render(&g, &out, &len), 0);
	cr_assert_eq(strlen(out), len);
	return out;
}

/* The value of the sample line NAME (labels included); -1 if absent. */
static double sample(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

Test(metrics, method_of_request_line)
{
	cr_expect_eq(metrics_method_of("GET / HTTP/1.1"), METRICS_GET);
	cr_expect_eq(metrics_method_of("HEAD /x HTTP/1.0"), METRICS_HEAD);
	cr_expect_eq(metrics_method_of("POST /upload HTTP/1.1"), METRICS_POST);
	cr_expect_eq(metrics_method_of("GETX / HTTP/1.1"), METRICS_OTHER);
	cr_expect_eq(metrics_method_of("DELETE / HTTP/1.1"), METRICS_OTHER);
	cr_expect_eq(metrics_method_of(""), METRICS_OTHER);
}

Test(metrics, zero_at_start_with_every_family)
{
	char *t = render();
	const char *families[] = { "mthttpd_requests_total",
				   "mthttpd_sent_bytes_total",
				   "mthttpd_request_duration_seconds",
				   "mthttpd_connections",
				   "mthttpd_workers",
				   "mthttpd_workers_busy",
				   "mthttpd_queue_length",
				   "mthttpd_queue_capacity",
				   "mthttpd_rejected_connections_total",
				   "mthttpd_proxy_protocol_rejected_total",
				   "mthttpd_uploads_total",
				   "mthttpd_upload_bytes_total",
				   "mthttpd_reloads_total",
				   "mthttpd_access_log_dropped_total",
				   "mthttpd_tls_handshakes_total",
				   "mthttpd_build_info" };
	char want[128];

	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		snprintf(want, sizeof want, "# TYPE %s ", families[i]);
		cr_expect_not_null(strstr(t, want), "no %s", want);
		snprintf(want, sizeof want, "# HELP %s ", families[i]);
		cr_expect_not_null(strstr(t, want), "no %s", want);
	}
	cr_expect_eq(sample(t, "mthttpd_requests_total{method=\"GET\",code=\"2xx\"}"), 0);
	cr_expect_eq(sample(t, "mthttpd_request_duration_seconds_count"), 0);
	cr_expect_eq(sample(t, "mthttpd_workers"), 8);
	cr_expect_eq(sample(t, "mthttpd_workers_busy"), 3);
	cr_expect_eq(sample(t, "mthttpd_queue_length"), 2);
	cr_expect_eq(sample(t, "mthttpd_queue_capacity"), 256);
	cr_expect_eq(sample(t, "mthttpd_connections{state=\"reading\"}"), 4);
	cr_expect_eq(sample(t, "mthttpd_connections{state=\"writing\"}"), 5);
	cr_expect_eq(sample(t, "mthttpd_connections{state=\"idle\"}"), 6);
	cr_expect_eq(sample(t, "mthttpd_access_log_dropped_total"), 7);
	cr_expect_eq(sample(t, "mthttpd_tls_handshakes_total"), 0);
	cr_expect_eq(t[strlen(t) - 1], '\n');
	free(t);
}

Test(metrics, requests_by_method_and_class)
{
	char *t;

	metrics_request(METRICS_GET, 200, 100, 10);
	metrics_request(METRICS_GET, 206, 50, 10);
	metrics_request(METRICS_GET, 404, 10, 10);
	metrics_request(METRICS_POST, 201, 5, 10);
	metrics_request(METRICS_HEAD, 304, 1, 10);
	metrics_request(METRICS_OTHER, 501, 1, 10);
	metrics_request(METRICS_GET, 100, 1, 10);
	metrics_request(METRICS_GET, 99, 1, 10); /* no class: bytes and time only */
	t = render();
	cr_expect_eq(sample(t, "mthttpd_requests_total{method=\"GET\",code=\"2xx\"}"), 2);
	cr_expect_eq(sample(t, "mthttpd_requests_total{method=\"GET\",code=\"4xx\"}"), 1);
	cr_expect_eq(sample(t, "mthttpd_requests_total{method=\"GET\",code=\"1xx\"}"), 1);
	cr_expect_eq(sample(t, "mthttpd_requests_total{method=\"POST\",code=\"2xx\"}"), 1);
	cr_expect_eq(sample(t, "mthttpd_requests_total{method=\"HEAD\",code=\"3xx\"}"), 1);
	cr_expect_eq(sample(t, "mthttpd_requests_total{method=\"other\",code=\"5xx\"}"), 1);
	cr_expect_eq(sample(t, "mthttpd_sent_bytes_total"), 169);
	cr_expect_eq(sample(t, "mthttpd_request_duration_seconds_count"), 8);
	free(t);
}

/* Buckets are cumulative; a bound is inclusive (le). */
Test(metrics, duration_histogram)
{
	char *t;

	metrics_request(METRICS_GET, 200, 0, 100);	/* le 0.0001 */
	metrics_request(METRICS_GET, 200, 0, 101);	/* le 0.00025 */
	metrics_request(METRICS_GET, 200, 0, 2500);	/* le 0.0025 */
	metrics_request(METRICS_GET, 200, 0, 1000000);	/* le 1 */
	metrics_request(METRICS_GET, 200, 0, 60000000); /* only +Inf */
	metrics_request(METRICS_GET, 200, 0, -5);	/* clock step: 0 */
	t = render();
	cr_expect_eq(sample(t, "mthttpd_request_duration_seconds_bucket{le=\"0.0001\"}"), 2, "%s",
		     t);
	cr_expect_eq(sample(t, "mthttpd_request_duration_seconds_bucket{le=\"0.00025\"}"), 3);
	cr_expect_eq(sample(t, "mthttpd_request_duration_seconds_bucket{le=\"0.001\"}"), 3);
	cr_expect_eq(sample(t, "mthttpd_request_duration_seconds_bucket{le=\"0.0025\"}"), 4);
	cr_expect_eq(sample(t, "mthttpd_request_duration_seconds_bucket{le=\"1\"}"), 5);
	cr_expect_eq(sample(t, "mthttpd_request_duration_seconds_bucket{le=\"10\"}"), 5);
	cr_expect_eq(sample(t, "mthttpd_request_duration_seconds_bucket{le=\"+Inf\"}"), 6);
	cr_expect_eq(sample(t, "mthttpd_request_duration_seconds_count"), 6);
	cr_expect_not_null(strstr(t, "mthttpd_request_duration_seconds_sum 61.002701\n"));
	free(t);
}

static void *count_in_thread(void *arg)
{
	for (int i = 0; i < 1000; i++)
		metrics_request(METRICS_GET, 200, 1, 1);
	metrics_upload(10);
	metrics_rejected(429);
	(void)arg;
	return NULL;
}

/* Threads count in their own slots; a scrape sums them, and the counts of
 * a thread that has exited stay (its slot goes to the next thread). */
Test(metrics, threads_summed_and_kept_after_exit)
{
	pthread_t th[4];
	char *t;

	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 4; i++)
			cr_assert_eq(pthread_create(&th[i], NULL, count_in_thread, NULL), 0);
		for (int i = 0; i < 4; i++)
			pthread_join(th[i], NULL);
	}
	metrics_rejected(503);
	metrics_reload(true);
	metrics_reload(false);
	metrics_reload(false);
	metrics_proxy_rejected();
	metrics_tls_handshake();
	metrics_tls_handshake();
	t = render();
	cr_expect_eq(sample(t, "mthttpd_requests_total{method=\"GET\",code=\"2xx\"}"), 8000);
	cr_expect_eq(sample(t, "mthttpd_sent_bytes_total"), 8000);
	cr_expect_eq(sample(t, "mthttpd_uploads_total"), 8);
	cr_expect_eq(sample(t, "mthttpd_upload_bytes_total"), 80);
	cr_expect_eq(sample(t, "mthttpd_rejected_connections_total{code=\"429\"}"), 8);
	cr_expect_eq(sample(t, "mthttpd_rejected_connections_total{code=\"503\"}"), 1);
	cr_expect_eq(sample(t, "mthttpd_reloads_total{result=\"ok\"}"), 1);
	cr_expect_eq(sample(t, "mthttpd_reloads_total{result=\"failed\"}"), 2);
	cr_expect_eq(sample(t, "mthttpd_proxy_protocol_rejected_total"), 1);
	cr_expect_eq(sample(t, "mthttpd_tls_handshakes_total"), 2);
	free(t);
}
