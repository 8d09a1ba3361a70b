/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Not a pass/fail test: measures the notification queue of notifier-whatsapp
 * against the fake Cloud API.
 *
 *   throughput: N notifications (user not connected, phone in the request)
 *     posted one after the other; time until the provider has taken all of them
 *   queued: N notifications that all fail first (provider 500) so that they
 *     wait in the retry queue; heraldd's RSS; then the provider recovers and we
 *     time the drain at batch-size per retry-interval-s
 *
 * Usage (from the build dir, with the same environment as the e2e test):
 *   herald-notifier-whatsapp-bench [throughput|queued] [N] [batch-size] [interval-s] [file|redis]
 * (redis: a redis-server on a free port, redis-bridge and store=redis)
 */
#include "config.h"

#include <string.h>

#include "herald-notifier-whatsapp-fake.h"
#include "herald-test-util.h"

static guint64
rss_kib(HeraldTestDaemon *daemon, const gchar *field)
{
	g_autofree gchar *path =
	    g_strdup_printf("/proc/%s/status", g_subprocess_get_identifier(daemon->process));
	g_autofree gchar *text = NULL;
	const gchar *line;
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	line = strstr(text, field);
	if (line == NULL)
		return 0;
	return g_ascii_strtoull(line + strlen(field) + 1, NULL, 10);
}

static gint64
stat_of(HeraldTestDaemon *daemon, const gchar *key)
{
	g_autofree gchar *url = g_strdup_printf("%s/stats", daemon->base_url);
	g_autofree gchar *body = NULL;
	g_autoptr(JsonNode) node = NULL;
	g_autofree gchar *path = g_strdup_printf("plugins.notifier-whatsapp.%s", key);
	g_assert_cmpuint(herald_test_http("GET", url, NULL, NULL, NULL, 0, &body, NULL), ==, 200);
	node = herald_test_parse_json(body);
	return herald_test_json_get_int(node, path);
}

static void
post_many(HeraldTestDaemon *daemon, const gchar *token, guint n)
{
	g_autofree gchar *url = g_strdup_printf("%s/api/notifications/send", daemon->base_url);
	for (guint i = 0; i < n; i++) {
		/* distinct recipients: the per-recipient rate limit is not what we measure */
		g_autofree gchar *body = g_strdup_printf(
		    "{\"user_id\":\"bench-%u\",\"title\":\"Nueva solicitud\",\"message\":\"Solicitud "
		    "%u en tu zona\",\"type\":\"solicitud_nueva\",\"phone\":\"+5215512%06u\","
		    "\"data\":{\"solicitud_id\":\"sol-%u\"}}",
		    i,
		    i,
		    i % 1000000,
		    i);
		guint status =
		    herald_test_http("POST", url, token, "application/json", body, strlen(body), NULL, NULL);
		if (status != 202)
			g_error("send %u answered %u", i, status);
	}
}

static void
wait_stat(HeraldTestDaemon *daemon, const gchar *key, gint64 target, guint timeout_s)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
	while (stat_of(daemon, key) < target) {
		if (g_get_monotonic_time() > deadline)
			g_error("%s did not reach %" G_GINT64_FORMAT, key, target);
		g_usleep(100000);
	}
}

int
main(int argc, char **argv)
{
	const gchar *what = argc > 1 ? argv[1] : "throughput";
	guint n = argc > 2 ? (guint)g_ascii_strtoull(argv[2], NULL, 10) : 2000;
	guint batch = argc > 3 ? (guint)g_ascii_strtoull(argv[3], NULL, 10) : 100;
	guint interval = argc > 4 ? (guint)g_ascii_strtoull(argv[4], NULL, 10) : 1;
	g_autoptr(FakeProvider) fake = fake_provider_new();
	g_autofree gchar *files = herald_test_mkdtemp();
	g_autofree gchar *token_file = herald_test_write_file(files, "wa.token", FAKE_TOKEN "\n");
	g_autofree gchar *service = herald_test_make_token(HERALD_TEST_SECRET,
							   "{\"sub\":\"bench\",\"role\":\"SERVICE\"}",
							   3600);
	g_autofree gchar *config = NULL;
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldTestServer) redis = NULL;
	g_autofree gchar *redis_groups = NULL;
	gboolean use_redis = argc > 5 && g_strcmp0(argv[5], "redis") == 0;
	gint64 t0, t1, t2;

	if (use_redis) {
		redis = herald_test_redis_start();
		redis_groups = g_strdup_printf("[redis-bridge]\nurl=redis://127.0.0.1:%u\n", redis->port);
	}

	config = g_strdup_printf("[host]\nplugins=ws-rooms;notifier-whatsapp%s\n%s"
				 "[notifier-whatsapp]\nmode=cloud-api\nstore=%s\n"
				 "api-base=http://127.0.0.1:%u\napi-version=" FAKE_API_VERSION "\n"
				 "phone-number-id=" FAKE_PHONE_ID "\ntoken-file=%s\n"
				 "retry-interval-s=%u\nbatch-size=%u\nbackoff-base-s=1\n"
				 "backoff-cap-s=1\nmax-attempts=1000\n",
				 use_redis ? ";redis-bridge" : "",
				 use_redis ? redis_groups : "",
				 use_redis ? "redis" : "file",
				 fake_provider_get_port(fake),
				 token_file,
				 interval,
				 batch);
	daemon = herald_test_daemon_new(config);
	if (!herald_test_daemon_start(daemon, &error))
		g_error("%s", error->message);
	/* with Redis, /send answers 503 until redis-bridge is connected */
	while (use_redis) {
		g_autofree gchar *url = g_strdup_printf("%s/health", daemon->base_url);
		g_autofree gchar *body = NULL;
		g_autoptr(JsonNode) node = NULL;
		herald_test_http("GET", url, NULL, NULL, NULL, 0, &body, NULL);
		node = herald_test_parse_json(body);
		if (g_strcmp0(herald_test_json_get_string(node, "plugins.redis-bridge"), "running") == 0)
			break;
		g_usleep(20000);
	}
	g_print("heraldd RSS at start: %" G_GUINT64_FORMAT " KiB\n", rss_kib(daemon, "VmRSS:"));

	if (g_strcmp0(what, "throughput") == 0) {
		t0 = g_get_monotonic_time();
		post_many(daemon, service, n);
		t1 = g_get_monotonic_time();
		wait_stat(daemon, "notifications_sent.whatsapp", n, 600);
		t2 = g_get_monotonic_time();
		g_print("accepted %u in %.2f s (%.0f/s); all sent after %.2f s: %.0f notifications/s "
			"end to end\n",
			n,
			(t1 - t0) / 1e6,
			n / ((t1 - t0) / 1e6),
			(t2 - t0) / 1e6,
			n / ((t2 - t0) / 1e6));
	} else {
		fake_provider_set_default(fake, "500");
		t0 = g_get_monotonic_time();
		post_many(daemon, service, n);
		t1 = g_get_monotonic_time();
		/* every one failed once and waits in the queue */
		wait_stat(daemon, "notifications_retries", n, 600);
		g_print("queued %u in %.2f s; queue depth %" G_GINT64_FORMAT "; heraldd RSS %" G_GUINT64_FORMAT
			" KiB (peak %" G_GUINT64_FORMAT " KiB)\n",
			n,
			(t1 - t0) / 1e6,
			stat_of(daemon, "notifications_queue_depth"),
			rss_kib(daemon, "VmRSS:"),
			rss_kib(daemon, "VmHWM:"));
		fake_provider_set_default(fake, "ok");
		t1 = g_get_monotonic_time();
		wait_stat(daemon, "notifications_sent.whatsapp", n, 3600);
		t2 = g_get_monotonic_time();
		g_print("drained %u at batch-size=%u every %u s in %.1f s (%.0f/s); RSS after %" G_GUINT64_FORMAT
			" KiB (peak %" G_GUINT64_FORMAT " KiB); job runs %" G_GINT64_FORMAT "\n",
			n,
			batch,
			interval,
			(t2 - t1) / 1e6,
			n / ((t2 - t1) / 1e6),
			rss_kib(daemon, "VmRSS:"),
			rss_kib(daemon, "VmHWM:"),
			stat_of(daemon, "notifications_job_runs"));
	}
	{
		g_autofree gchar *journal =
		    g_build_filename(daemon->dir, "state", "notifier-whatsapp", "journal.jsonl", NULL);
		g_autoptr(GFile) file = g_file_new_for_path(journal);
		g_autoptr(GFileInfo) info =
		    g_file_query_info(file, G_FILE_ATTRIBUTE_STANDARD_SIZE, 0, NULL, NULL);
		if (info != NULL)
			g_print("journal: %" G_GOFFSET_FORMAT " bytes\n", g_file_info_get_size(info));
	}
	if (herald_test_daemon_stop(daemon) != 0)
		g_printerr("heraldd did not exit cleanly\n");
	herald_test_rm_rf(files);
	return 0;
}
