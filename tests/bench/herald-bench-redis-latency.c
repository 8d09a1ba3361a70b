/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * redis-bridge benchmark (issue #4); built with the tests, never run by them.
 *
 * 1. End-to-end latency, Redis PUBLISH → WebSocket client receive: N clients
 *    (plain protocol, libsoup, in this process) in room `admin`, E events
 *    PUBLISHed on `ws:room:admin` with the send time inside; p50/p99/max over
 *    every (event, client) pair. "paced": the next event goes out once every
 *    client has the previous one; "burst": all events back to back.
 * 2. Reconnect time after a Redis restart: SIGKILL redis-server, start it on
 *    the same port, and measure from "port open again" until a PUBLISHed probe
 *    reaches a client (subscription back), R times.
 *
 * usage: herald-bench-redis-latency [CLIENTS [EVENTS [RESTARTS [DOWN_MS]]]]
 * (defaults 100 1000 5 0: Redis restarted as soon as it died, or after
 * DOWN_MS; heraldd and plugins from this build tree)
 */
#include "config.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <string.h>

#include "herald-test-util.h"

typedef struct {
	HeraldTestWs *ws;
	guint64 received; /* events of the current run */
} BenchClient;

static GArray *latencies; /* gdouble ms */
static guint64 n_received;
static gint64 probe_received_at;
static gchar *probe_marker; /* this round's probe; late ones of the last round do not count */

static void
bench_message_cb(SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer user_data)
{
	BenchClient *client = user_data;
	gint64 now = g_get_real_time();
	gsize len = 0;
	const gchar *data = g_bytes_get_data(message, &len);
	g_autofree gchar *text = g_strndup(data, len);
	const gchar *t = strstr(text, "\"t\":");
	gdouble ms;
	if (strstr(text, "\"probe\"") != NULL) {
		if (probe_received_at == 0 && probe_marker != NULL &&
		    strstr(text, probe_marker) != NULL)
			probe_received_at = g_get_monotonic_time();
		return;
	}
	if (t == NULL)
		return;
	ms = (gdouble)(now - g_ascii_strtoll(t + 4, NULL, 10)) / 1000.0;
	g_array_append_val(latencies, ms);
	client->received++;
	n_received++;
}

static gint
cmp_double(gconstpointer a, gconstpointer b)
{
	gdouble x = *(const gdouble *)a, y = *(const gdouble *)b;
	return x < y ? -1 : x > y ? 1 : 0;
}

static void
report(const gchar *name, guint n_events, guint n_clients, gdouble seconds)
{
	gdouble p50, p99, max;
	guint n = latencies->len;
	g_array_sort(latencies, cmp_double);
	p50 = g_array_index(latencies, gdouble, n / 2);
	p99 = g_array_index(latencies, gdouble, MIN(n - 1, (guint)((gdouble)n * 0.99)));
	max = g_array_index(latencies, gdouble, n - 1);
	g_print("%-6s %u events x %u clients = %u deliveries in %.2f s: "
		"p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
		name,
		n_events,
		n_clients,
		n,
		seconds,
		p50,
		p99,
		max);
}

static gboolean
all_received(gpointer user_data)
{
	return n_received >= *(guint64 *)user_data;
}

static gboolean
probe_arrived(gpointer user_data)
{
	return probe_received_at != 0;
}

static redisContext *
bench_redis(guint16 port)
{
	redisContext *c = redisConnect("127.0.0.1", port);
	if (c == NULL || c->err != 0)
		g_error("cannot connect to redis on %u", port);
	return c;
}

static void
publish(redisContext *c, const gchar *payload)
{
	redisReply *reply = redisCommand(c, "PUBLISH ws:room:admin %s", payload);
	if (reply == NULL)
		g_error("PUBLISH failed: %s", c->errstr);
	freeReplyObject(reply);
}

static gboolean
health_is(HeraldTestDaemon *daemon, const gchar *state)
{
	g_autofree gchar *url = g_strdup_printf("%s/health", daemon->base_url);
	g_autofree gchar *out = NULL;
	g_autoptr(JsonNode) node = NULL;
	herald_test_http("GET", url, NULL, NULL, NULL, 0, &out, NULL);
	node = out != NULL ? json_from_string(out, NULL) : NULL;
	return node != NULL &&
	       g_strcmp0(herald_test_json_get_string(node, "plugins.redis-bridge"), state) == 0;
}

int
main(int argc, char **argv)
{
	guint n_clients = argc > 1 ? (guint)g_ascii_strtoull(argv[1], NULL, 10) : 100;
	guint n_events = argc > 2 ? (guint)g_ascii_strtoull(argv[2], NULL, 10) : 1000;
	guint n_restarts = argc > 3 ? (guint)g_ascii_strtoull(argv[3], NULL, 10) : 5;
	guint down_ms = argc > 4 ? (guint)g_ascii_strtoull(argv[4], NULL, 10) : 0;
	g_autoptr(HeraldTestServer) redis = NULL;
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree BenchClient *clients = NULL;
	g_autofree gchar *config = NULL;
	redisContext *c;
	gint64 start;

	if (g_getenv("HERALD_TEST_HERALDD") == NULL)
		g_setenv("HERALD_TEST_HERALDD", BENCH_BUILD_ROOT "/host/heraldd", TRUE);
	if (g_getenv("HERALD_PLUGIN_DIR") == NULL)
		g_setenv("HERALD_PLUGIN_DIR",
			 BENCH_BUILD_ROOT "/plugins/ws-rooms:" BENCH_BUILD_ROOT
					  "/plugins/redis-bridge",
			 TRUE);
	latencies = g_array_new(FALSE, FALSE, sizeof(gdouble));
	redis = herald_test_redis_start();
	config = g_strdup_printf("[host]\nplugins=ws-rooms;redis-bridge\n"
				 "[ws-rooms]\nmax-connections=%u\n"
				 "[redis-bridge]\nurl=redis://127.0.0.1:%u/0\n",
				 n_clients + 10,
				 redis->port);
	daemon = herald_test_daemon_new(config);
	if (!herald_test_daemon_start(daemon, &error))
		g_error("%s", error->message);
	while (!health_is(daemon, "running"))
		g_usleep(20000);

	clients = g_new0(BenchClient, n_clients);
	for (guint i = 0; i < n_clients; i++) {
		g_autofree gchar *user = g_strdup_printf("bench%u", i);
		g_autofree gchar *claims =
		    g_strdup_printf("{\"sub\":\"%s\",\"role\":\"ADMIN\"}", user);
		g_autofree gchar *token = herald_test_make_token(HERALD_TEST_SECRET, claims, 3600);
		g_autofree gchar *url =
		    g_strdup_printf("ws://127.0.0.1:%u/ws?token=%s", daemon->port, token);
		clients[i].ws = herald_test_ws_connect(url, 30000, &error);
		if (clients[i].ws == NULL)
			g_error("client %u: %s", i, error->message);
		/* the harness parses every message: too slow for a measurement */
		g_signal_handlers_disconnect_by_data(clients[i].ws->ws, clients[i].ws);
		g_signal_connect(clients[i].ws->ws,
				 "message",
				 G_CALLBACK(bench_message_cb),
				 &clients[i]);
	}
	c = bench_redis(redis->port);

	/* paced */
	start = g_get_monotonic_time();
	for (guint e = 0; e < n_events; e++) {
		g_autofree gchar *payload =
		    g_strdup_printf("{\"type\":\"bench\",\"i\":%u,\"t\":%" G_GINT64_FORMAT "}",
				    e,
				    g_get_real_time());
		guint64 want = (guint64)(e + 1) * n_clients;
		publish(c, payload);
		if (!herald_test_wait_until(all_received, &want, 30000))
			g_error("event %u did not reach every client", e);
	}
	report("paced",
	       n_events,
	       n_clients,
	       (gdouble)(g_get_monotonic_time() - start) / G_USEC_PER_SEC);

	/* burst */
	g_array_set_size(latencies, 0);
	n_received = 0;
	start = g_get_monotonic_time();
	for (guint e = 0; e < n_events; e++) {
		g_autofree gchar *payload =
		    g_strdup_printf("{\"type\":\"bench\",\"i\":%u,\"t\":%" G_GINT64_FORMAT "}",
				    e,
				    g_get_real_time());
		publish(c, payload);
		while (g_main_context_iteration(NULL, FALSE))
			;
	}
	{
		guint64 want = (guint64)n_events * n_clients;
		if (!herald_test_wait_until(all_received, &want, 120000))
			g_error("burst: only %" G_GUINT64_FORMAT " deliveries", n_received);
	}
	report("burst",
	       n_events,
	       n_clients,
	       (gdouble)(g_get_monotonic_time() - start) / G_USEC_PER_SEC);
	redisFree(c);

	/* reconnect after a restart on the same port */
	for (guint r = 0; r < n_restarts; r++) {
		gint64 up;
		gint64 killed = g_get_monotonic_time();
		g_subprocess_send_signal(redis->process, SIGKILL);
		g_subprocess_wait(redis->process, NULL, NULL);
		g_clear_object(&redis->process);
		while (!health_is(daemon, "degraded"))
			g_usleep(10000);
		/* a longer outage lets the reconnect backoff grow */
		g_usleep((gulong)down_ms * 1000);
		herald_test_redis_restart(redis);
		up = g_get_monotonic_time();
		probe_received_at = 0;
		g_free(probe_marker);
		probe_marker = g_strdup_printf("\"round\":%u}", r);
		c = bench_redis(redis->port);
		while (probe_received_at == 0) {
			g_autofree gchar *probe =
			    g_strdup_printf("{\"type\":\"probe\",\"round\":%u}", r);
			publish(c, probe);
			herald_test_wait_until(probe_arrived, NULL, 5);
		}
		g_print("restart %u: subscription back %.1f ms after redis-server accepted "
			"connections\n",
			r + 1,
			(gdouble)(probe_received_at - up) / 1000.0);
		redisFree(c);
		while (!health_is(daemon, "running"))
			g_usleep(10000);
		g_print("          kill -> running again: %.1f ms (redis-server down for %.1f "
			"ms)\n",
			(gdouble)(g_get_monotonic_time() - killed) / 1000.0,
			(gdouble)(up - killed) / 1000.0);
	}

	for (guint i = 0; i < n_clients; i++)
		herald_test_ws_free(clients[i].ws);
	herald_test_daemon_stop(daemon);
	g_array_unref(latencies);
	g_free(probe_marker);
	return 0;
}
