/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * redis-bridge end to end: a real redis-server on a free port, heraldd
 * subprocesses (one, two or three on the same Redis), libsoup WebSocket
 * clients, the official socket.io-client (tests/node/redis-sio.js), and the
 * test-only plugin redis-probe that issues the presence and redis bus requests.
 *
 * "Nobody else got it" is checked without sleeping: after the event under test
 * a barrier event goes to every connection; connections receive in order, so a
 * client holding the barrier has received everything published before it.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "herald-test-util.h"

#define WAIT_MS 20000

/* ------------------------------------------------------------- helpers */

static gchar *
make_token(const gchar *user, const gchar *role, const gchar *extra_claims)
{
	g_autofree gchar *claims = g_strdup_printf("{\"sub\":\"%s\",\"role\":\"%s\"%s%s}",
						   user,
						   role,
						   extra_claims != NULL ? "," : "",
						   extra_claims != NULL ? extra_claims : "");
	return herald_test_make_token(HERALD_TEST_SECRET, claims, 3600);
}

static gchar *
service_token(void)
{
	return make_token("core-api", "SERVICE", NULL);
}

static HeraldTestDaemon *
daemon_new(HeraldTestServer *redis, const gchar *extra)
{
	g_autofree gchar *url =
	    extra != NULL && strstr(extra, "url=") != NULL
		? g_strdup("")
		: g_strdup_printf("url=redis://127.0.0.1:%u/0\n", redis != NULL ? redis->port : 1);
	g_autofree gchar *config =
	    g_strdup_printf("[host]\nplugins=ws-rooms;redis-bridge;stats-filter;redis-probe\n"
			    "[redis-bridge]\n%sreconnect-min-ms=50\n"
			    "reconnect-max-ms=400\npresence-refresh-s=1\npresence-ttl-s=3\n%s\n",
			    url,
			    extra != NULL ? extra : "");
	return herald_test_daemon_new(config);
}

static JsonNode *
get_json(HeraldTestDaemon *daemon, const gchar *path, const gchar *token, guint *status)
{
	g_autofree gchar *url = g_strdup_printf("%s%s", daemon->base_url, path);
	g_autofree gchar *out = NULL;
	*status = herald_test_http("GET", url, token, NULL, NULL, 0, &out, NULL);
	return out != NULL ? json_from_string(out, NULL) : NULL;
}

static JsonNode *
get_health(HeraldTestDaemon *daemon)
{
	guint status = 0;
	return get_json(daemon, "/health", NULL, &status);
}

static JsonNode *
get_stats(HeraldTestDaemon *daemon)
{
	guint status = 0;
	JsonNode *node = get_json(daemon, "/stats", NULL, &status);
	g_assert_cmpuint(status, ==, 200);
	return node;
}

static gint64
redis_stat(HeraldTestDaemon *daemon, const gchar *path)
{
	g_autoptr(JsonNode) stats = get_stats(daemon);
	g_autofree gchar *full = g_strdup_printf("plugins.redis-bridge.%s", path);
	return herald_test_json_get_int(stats, full);
}

typedef struct {
	HeraldTestDaemon *daemon;
	const gchar *state;  /* redis-bridge state */
	const gchar *status; /* /health status */
} HealthWait;

static gboolean
health_is(gpointer user_data)
{
	HealthWait *wait = user_data;
	g_autoptr(JsonNode) health = get_health(wait->daemon);
	return health != NULL &&
	       g_strcmp0(herald_test_json_get_string(health, "plugins.redis-bridge"),
			 wait->state) == 0 &&
	       (wait->status == NULL ||
		g_strcmp0(herald_test_json_get_string(health, "status"), wait->status) == 0);
}

static void
wait_health(HeraldTestDaemon *daemon, const gchar *state, const gchar *status)
{
	HealthWait wait = {daemon, state, status};
	if (!herald_test_wait_until(health_is, &wait, WAIT_MS)) {
		g_autofree gchar *log = herald_test_daemon_get_log(daemon);
		g_autoptr(JsonNode) health = get_health(daemon);
		g_autofree gchar *text = health != NULL ? json_to_string(health, FALSE) : NULL;
		g_error("redis-bridge never became %s (/health %s):\n%s", state, text, log);
	}
}

static HeraldTestDaemon *
daemon_start(HeraldTestServer *redis, const gchar *extra)
{
	g_autoptr(GError) error = NULL;
	HeraldTestDaemon *daemon = daemon_new(redis, extra);
	if (!herald_test_daemon_start(daemon, &error))
		g_error("%s", error->message);
	wait_health(daemon, "running", "healthy");
	return daemon;
}

static void
daemon_stop(HeraldTestDaemon *daemon)
{
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
	herald_test_daemon_free(daemon);
}

/* POST /api/events; returns `delivered` (connections reached on that instance) */
static gint64
api_publish(HeraldTestDaemon *daemon, const gchar *channel, const gchar *payload)
{
	g_autofree gchar *token = service_token();
	g_autofree gchar *url = g_strdup_printf("%s/api/events", daemon->base_url);
	g_autofree gchar *body =
	    g_strdup_printf("{\"channel\":\"%s\",\"payload\":%s}", channel, payload);
	g_autofree gchar *out = NULL;
	g_autoptr(JsonNode) node = NULL;
	guint status = herald_test_http("POST", url, token, NULL, body, strlen(body), &out, NULL);
	g_assert_cmpuint(status, ==, 202);
	node = herald_test_parse_json(out);
	return herald_test_json_get_int(node, "delivered");
}

/* PUBLISH through redis-cli; returns the receiver count Redis reports */
static gint64
redis_publish(HeraldTestServer *redis, const gchar *channel, const gchar *payload)
{
	g_autofree gchar *out = NULL;
	gint rc = herald_test_redis_cli(redis->port, payload, &out, "PUBLISH", channel, NULL);
	g_assert_cmpint(rc, ==, 0);
	return g_ascii_strtoll(out, NULL, 10);
}

static HeraldTestWs *
client_connect(HeraldTestDaemon *daemon, const gchar *user, const gchar *role, const gchar *claims)
{
	g_autofree gchar *token = make_token(user, role, claims);
	g_autofree gchar *url =
	    g_strdup_printf("ws://127.0.0.1:%u/ws?token=%s", daemon->port, token);
	g_autoptr(GError) error = NULL;
	HeraldTestWs *ws = herald_test_ws_connect(url, WAIT_MS, &error);
	g_assert_no_error(error);
	/* the `connected` greeting */
	g_assert_true(herald_test_ws_wait(ws, 1, WAIT_MS));
	g_assert_cmpstr(herald_test_json_get_string(g_ptr_array_index(ws->messages, 0), "type"),
			==,
			"connected");
	return ws;
}

static void
client_subscribe(HeraldTestWs *ws, const gchar *room)
{
	g_autofree gchar *text = g_strdup_printf("{\"type\":\"subscribe\",\"room\":\"%s\"}", room);
	guint n = ws->messages->len;
	JsonNode *reply;
	herald_test_ws_send(ws, text);
	g_assert_true(herald_test_ws_wait(ws, n + 1, WAIT_MS));
	reply = g_ptr_array_index(ws->messages, n);
	g_assert_cmpstr(herald_test_json_get_string(reply, "type"), ==, "subscribed");
	g_assert_cmpstr(herald_test_json_get_string(reply, "room"), ==, room);
}

/* the marker `m` of a message: top level (verbatim payloads) or in `payload` */
static const gchar *
message_marker(JsonNode *node)
{
	const gchar *m = herald_test_json_get_string(node, "m");
	return m != NULL ? m : herald_test_json_get_string(node, "payload.m");
}

static guint
count_marker(HeraldTestWs *ws, const gchar *marker)
{
	guint n = 0;
	for (guint i = 0; i < ws->messages->len; i++) {
		if (g_strcmp0(message_marker(g_ptr_array_index(ws->messages, i)), marker) == 0)
			n++;
	}
	return n;
}

static JsonNode *
find_marker(HeraldTestWs *ws, const gchar *marker)
{
	for (guint i = 0; i < ws->messages->len; i++) {
		if (g_strcmp0(message_marker(g_ptr_array_index(ws->messages, i)), marker) == 0)
			return g_ptr_array_index(ws->messages, i);
	}
	return NULL;
}

typedef struct {
	HeraldTestWs **clients;
	guint n_clients;
	const gchar *marker;
} MarkerWait;

static gboolean
all_have_marker(gpointer user_data)
{
	MarkerWait *wait = user_data;
	for (guint i = 0; i < wait->n_clients; i++) {
		if (count_marker(wait->clients[i], wait->marker) == 0)
			return FALSE;
	}
	return TRUE;
}

static void
wait_marker(HeraldTestWs **clients, guint n_clients, const gchar *marker)
{
	MarkerWait wait = {clients, n_clients, marker};
	if (!herald_test_wait_until(all_have_marker, &wait, WAIT_MS))
		g_error("not every client received '%s'", marker);
}

/* every client gets a barrier; afterwards, whatever was sent before is in */
static void
barrier_redis(HeraldTestServer *redis, HeraldTestWs **clients, guint n_clients)
{
	static guint serial = 0;
	g_autofree gchar *marker = g_strdup_printf("barrier-%u", ++serial);
	g_autofree gchar *payload = g_strdup_printf("{\"type\":\"barrier\",\"m\":\"%s\"}", marker);
	g_assert_cmpint(redis_publish(redis, "realtime:broadcasts", payload), >=, 1);
	wait_marker(clients, n_clients, marker);
}

/* ------------------------------------------------------ every shipped route */

typedef struct {
	const gchar *channel;
	const gchar *payload;
	const gchar *marker;
	guint mask; /* bit per client: admin, advisor, client, seller */
} RouteCase;

static void
test_routes(void)
{
	g_autoptr(HeraldTestServer) redis = herald_test_redis_start();
	HeraldTestDaemon *daemon = daemon_start(redis, NULL);
	HeraldTestWs *clients[4];
	const gchar *names[] = {"admin", "advisor", "client", "seller"};
	RouteCase cases[] = {
	    {"ws:room:orders", "{\"type\":\"order_update\",\"m\":\"r1\"}", "r1", 1 << 3},
	    {"ws:user:c9", "{\"type\":\"direct\",\"m\":\"r2\"}", "r2", 1 << 2},
	    {"solicitud.created",
	     "{\"solicitud_id\":17,\"asesor_id\":\"7\",\"m\":\"r3\"}",
	     "r3",
	     1 << 0 | 1 << 1},
	    {"oferta.created", "{\"solicitud_id\":17,\"m\":\"r4\"}", "r4", 1 << 0 | 1 << 1},
	    {"evaluacion.completed", "{\"solicitud_id\":18,\"m\":\"r5\"}", "r5", 1 << 0},
	    {"cliente.updated", "{\"cliente_id\":\"c9\",\"m\":\"r6\"}", "r6", 1 << 0 | 1 << 2},
	    {"notificacion.new", "{\"user_id\":\"s1\",\"m\":\"r7\"}", "r7", 1 << 3},
	    {"realtime:notifications", "{\"type\":\"notice\",\"m\":\"r8\"}", "r8", 1 << 2},
	    {"realtime:orders", "{\"type\":\"order\",\"m\":\"r9\"}", "r9", 1 << 3},
	    {"realtime:inventory", "{\"type\":\"stock\",\"m\":\"r10\"}", "r10", 1 << 3},
	    {"realtime:broadcasts", "{\"type\":\"hello\",\"m\":\"r11\"}", "r11", 0xf},
	    {"events",
	     "{\"type\":\"ADMIN_STATS_UPDATED\",\"metadata\":{\"total\":3},\"m\":\"r12\"}",
	     "r12",
	     1 << 0},
	    {"events",
	     "{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"123\",\"metadata\":{},\"m\":"
	     "\"r13\"}",
	     "r13",
	     1 << 3},
	};
	JsonNode *msg;

	clients[0] = client_connect(daemon, "a1", "ADMIN", NULL);
	clients[1] = client_connect(daemon, "7", "ADVISOR", NULL);
	clients[2] = client_connect(daemon, "c9", "CLIENT", NULL);
	clients[3] = client_connect(daemon, "s1", "SELLER", "\"seller_id\":\"123\"");
	client_subscribe(clients[1], "solicitud_17");
	client_subscribe(clients[2], "notifications");
	client_subscribe(clients[3], "orders");
	client_subscribe(clients[3], "inventory");

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_assert_cmpint(redis_publish(redis, cases[i].channel, cases[i].payload), ==, 1);
		barrier_redis(redis, clients, G_N_ELEMENTS(clients));
		for (guint j = 0; j < G_N_ELEMENTS(clients); j++) {
			guint want = (cases[i].mask >> j) & 1;
			guint got = count_marker(clients[j], cases[i].marker);
			if (got != want)
				g_error("%s on '%s': %s got it %u times, want %u",
					cases[i].marker,
					cases[i].channel,
					names[j],
					got,
					want);
		}
	}

	/* the shapes clients see: a routed event and a verbatim stats event */
	msg = find_marker(clients[0], "r3");
	g_assert_cmpstr(herald_test_json_get_string(msg, "type"), ==, "solicitud_created");
	g_assert_cmpint(herald_test_json_get_int(msg, "payload.solicitud_id"), ==, 17);
	msg = find_marker(clients[3], "r13");
	g_assert_cmpstr(herald_test_json_get_string(msg, "type"), ==, "SELLER_STATS_UPDATED");
	g_assert_cmpstr(herald_test_json_get_string(msg, "seller_id"), ==, "123");
	g_assert_null(herald_test_json_get_string(msg, "room"));

	/* stats per pattern */
	{
		g_autoptr(JsonNode) stats = get_stats(daemon);
		JsonObject *by = json_object_get_object_member(
		    json_object_get_object_member(
			json_object_get_object_member(json_node_get_object(stats), "plugins"),
			"redis-bridge"),
		    "messages_in_by_pattern_total");
		g_assert_cmpint(json_object_get_int_member(by, "solicitud.*"), ==, 1);
		g_assert_cmpint(json_object_get_int_member(by, "events"), ==, 2);
		g_assert_cmpint(json_object_get_int_member(by, "realtime:broadcasts"),
				==,
				1 + G_N_ELEMENTS(cases));
	}
	g_assert_cmpint(redis_stat(daemon, "messages_in_total"), ==, 2 * G_N_ELEMENTS(cases));
	g_assert_cmpint(redis_stat(daemon, "rejected_total"), ==, 0);
	g_assert_cmpint(redis_stat(daemon, "subscriber_connected"), ==, 1);
	{
		g_autofree gchar *url = g_strdup_printf("%s/metrics", daemon->base_url);
		g_autofree gchar *metrics = NULL;
		g_assert_cmpuint(herald_test_http("GET", url, NULL, NULL, NULL, 0, &metrics, NULL),
				 ==,
				 200);
		g_assert_nonnull(strstr(metrics,
					"herald_redis_bridge_messages_in_by_pattern_total{key="
					"\"solicitud.*\"} 1\n"));
		g_assert_nonnull(strstr(metrics, "herald_redis_bridge_reconnects_total 0\n"));
		g_assert_nonnull(strstr(metrics, "herald_redis_bridge_queue_depth 0\n"));
		g_assert_nonnull(strstr(metrics,
					"herald_stats_filter_stats_delivered_by_type_total{key="
					"\"ADMIN_STATS_UPDATED\"} 1\n"));
	}

	for (guint i = 0; i < G_N_ELEMENTS(clients); i++)
		herald_test_ws_free(clients[i]);
	daemon_stop(daemon);
}

/* ------------------------------------------ the official socket.io-client */

typedef struct {
	GSubprocess *proc;
	GDataInputStream *stdout_stream;
	GPtrArray *lines;
	gboolean eof;
} NodeScript;

static void
node_read_line_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	NodeScript *script = user_data;
	gchar *line =
	    g_data_input_stream_read_line_finish_utf8(G_DATA_INPUT_STREAM(source), res, NULL, NULL);
	if (line == NULL) {
		script->eof = TRUE;
		return;
	}
	g_ptr_array_add(script->lines, line);
	g_data_input_stream_read_line_async(script->stdout_stream,
					    G_PRIORITY_DEFAULT,
					    NULL,
					    node_read_line_cb,
					    script);
}

static gboolean
node_has_line(gpointer user_data)
{
	NodeScript *script = user_data;
	for (guint i = 0; i < script->lines->len; i++) {
		if (g_str_has_prefix(g_ptr_array_index(script->lines, i), "ready"))
			return TRUE;
	}
	return script->eof;
}

static gboolean
node_is_eof(gpointer user_data)
{
	return ((NodeScript *)user_data)->eof;
}

static void
test_socketio(void)
{
	g_autoptr(HeraldTestServer) redis = herald_test_redis_start();
	HeraldTestDaemon *daemon = daemon_start(redis, NULL);
	const gchar *node_dir = g_getenv("HERALD_TEST_NODE_DIR");
	g_autofree gchar *script_path = NULL;
	g_autofree gchar *admin = make_token("a1", "ADMIN", NULL);
	g_autofree gchar *client = make_token("c9", "CLIENT", NULL);
	g_autofree gchar *url = g_strdup_printf("http://127.0.0.1:%u", daemon->port);
	g_autoptr(GSubprocessLauncher) launcher =
	    g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) result = NULL;
	NodeScript script = {0};
	const gchar *last;

	g_assert_nonnull(node_dir);
	script_path = g_build_filename(node_dir, "redis-sio.js", NULL);
	g_subprocess_launcher_set_cwd(launcher, node_dir);
	script.lines = g_ptr_array_new_with_free_func(g_free);
	script.proc = g_subprocess_launcher_spawn(launcher,
						  &error,
						  herald_test_require_program("node"),
						  script_path,
						  url,
						  admin,
						  client,
						  NULL);
	g_assert_no_error(error);
	script.stdout_stream = g_data_input_stream_new(g_subprocess_get_stdout_pipe(script.proc));
	g_data_input_stream_read_line_async(script.stdout_stream,
					    G_PRIORITY_DEFAULT,
					    NULL,
					    node_read_line_cb,
					    &script);
	g_assert_true(herald_test_wait_until(node_has_line, &script, WAIT_MS));
	g_assert_false(script.eof);

	/* both connected and the client subscribed to notifications */
	g_assert_cmpint(redis_publish(redis,
				      "solicitud.created",
				      "{\"solicitud_id\":3,\"m\":\"s1\"}"),
			==,
			1);
	g_assert_cmpint(redis_publish(redis,
				      "realtime:notifications",
				      "{\"type\":\"notice\",\"m\":\"s2\"}"),
			==,
			1);
	g_assert_cmpint(redis_publish(redis,
				      "events",
				      "{\"type\":\"ADMIN_STATS_UPDATED\",\"metadata\":{},\"m\":"
				      "\"s3\"}"),
			==,
			1);
	g_assert_cmpint(redis_publish(redis,
				      "realtime:broadcasts",
				      "{\"type\":\"barrier\",\"m\":\"sb\"}"),
			==,
			1);
	g_assert_true(herald_test_wait_until(node_is_eof, &script, WAIT_MS));
	g_assert_true(g_subprocess_wait_check(script.proc, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(script.lines->len, >=, 2);
	last = g_ptr_array_index(script.lines, script.lines->len - 1);
	result = herald_test_parse_json(last);
	/* event name and payload as socket.io-client reports them */
	g_assert_cmpstr(herald_test_json_get_string(result, "admin.s1"), ==, "solicitud_created");
	g_assert_cmpstr(herald_test_json_get_string(result, "admin.s3"), ==, "ADMIN_STATS_UPDATED");
	g_assert_null(herald_test_json_get_string(result, "admin.s2"));
	g_assert_cmpstr(herald_test_json_get_string(result, "client.s2"), ==, "notice");
	g_assert_null(herald_test_json_get_string(result, "client.s1"));
	g_assert_null(herald_test_json_get_string(result, "client.s3"));
	g_assert_cmpint(herald_test_json_get_int(result, "counts.admin"), ==, 3);
	g_assert_cmpint(herald_test_json_get_int(result, "counts.client"), ==, 2);

	g_object_unref(script.stdout_stream);
	g_object_unref(script.proc);
	g_ptr_array_unref(script.lines);
	daemon_stop(daemon);
}

/* ------------------------------------------------------- several instances */

static void
test_three_instances(void)
{
	g_autoptr(HeraldTestServer) redis = herald_test_redis_start();
	HeraldTestDaemon *daemons[3];
	HeraldTestWs *clients[3];
	const gchar *users[] = {"a1", "a2", "a3"};

	for (guint i = 0; i < 3; i++) {
		daemons[i] = daemon_start(redis, NULL);
		clients[i] = client_connect(daemons[i], users[i], "ADMIN", NULL);
	}
	/* every instance subscribed */
	g_assert_cmpint(redis_publish(redis,
				      "realtime:broadcasts",
				      "{\"type\":\"x\",\"m\":\"x0\"}"),
			==,
			3);
	wait_marker(clients, 3, "x0");

	/* through B's HTTP API: B delivers locally, A and C through Redis, once */
	g_assert_cmpint(api_publish(daemons[1],
				    "solicitud.created",
				    "{\"solicitud_id\":5,\"m\":\"x1\"}"),
			==,
			1);
	/* stats-filter delivers these itself: `delivered` counts the host's routing only */
	g_assert_cmpint(api_publish(daemons[2],
				    "events",
				    "{\"type\":\"ADMIN_STATS_UPDATED\",\"metadata\":{},\"m\":"
				    "\"x2\"}"),
			==,
			0);
	g_assert_cmpint(api_publish(daemons[0], "ws:user:a2", "{\"type\":\"direct\",\"m\":\"x3\"}"),
			==,
			0);
	barrier_redis(redis, clients, 3);
	for (guint i = 0; i < 3; i++) {
		g_assert_cmpuint(count_marker(clients[i], "x1"), ==, 1);
		g_assert_cmpuint(count_marker(clients[i], "x2"), ==, 1);
		g_assert_cmpuint(count_marker(clients[i], "x3"), ==, i == 1 ? 1 : 0);
	}
	/* B heard its own envelope back and skipped it */
	g_assert_cmpint(redis_stat(daemons[1], "self_skipped_total"), >=, 1);
	g_assert_cmpint(redis_stat(daemons[1], "messages_out_total"), >=, 1);
	g_assert_cmpint(redis_stat(daemons[0], "duplicates_total"), ==, 0);

	for (guint i = 0; i < 3; i++) {
		herald_test_ws_free(clients[i]);
		daemon_stop(daemons[i]);
	}
}

/* ---------------------------------------------------------------- presence */

typedef struct {
	HeraldTestDaemon *daemon;
	const gchar *room;
	gint64 count;
} PresenceWait;

static gboolean
presence_count_is(gpointer user_data)
{
	PresenceWait *wait = user_data;
	g_autofree gchar *token = service_token();
	g_autofree gchar *path = g_strdup_printf("/api/presence/%s", wait->room);
	guint status = 0;
	g_autoptr(JsonNode) node = get_json(wait->daemon, path, token, &status);
	return status == 200 && herald_test_json_get_int(node, "count") == wait->count;
}

static void
wait_presence(HeraldTestDaemon *daemon, const gchar *room, gint64 count)
{
	PresenceWait wait = {daemon, room, count};
	if (!herald_test_wait_until(presence_count_is, &wait, WAIT_MS))
		g_error("presence of room '%s' never reached %" G_GINT64_FORMAT, room, count);
}

static gboolean
probe_present(HeraldTestDaemon *daemon, const gchar *user)
{
	g_autofree gchar *path = g_strdup_printf("/test/probe/presence/%s", user);
	guint status = 0;
	g_autoptr(JsonNode) node = get_json(daemon, path, NULL, &status);
	JsonObject *obj;
	g_assert_cmpuint(status, ==, 200);
	obj = json_node_get_object(node);
	g_assert_true(json_object_get_boolean_member(obj, "handled"));
	g_assert_false(json_object_has_member(obj, "error"));
	return json_object_get_boolean_member(obj, "result");
}

typedef struct {
	HeraldTestDaemon *daemon;
	const gchar *user;
	gboolean present;
} ProbeWait;

static gboolean
probe_is(gpointer user_data)
{
	ProbeWait *wait = user_data;
	return probe_present(wait->daemon, wait->user) == wait->present;
}

static JsonNode *
probe_redis(HeraldTestDaemon *daemon, const gchar *argv_json)
{
	g_autofree gchar *url = g_strdup_printf("%s/test/probe/redis", daemon->base_url);
	g_autofree gchar *out = NULL;
	g_autofree gchar *body = g_strdup_printf("{\"argv\":%s}", argv_json);
	guint status = herald_test_http("POST", url, NULL, NULL, body, strlen(body), &out, NULL);
	g_assert_cmpuint(status, ==, 200);
	return herald_test_parse_json(out);
}

static void
test_presence(void)
{
	g_autoptr(HeraldTestServer) redis = herald_test_redis_start();
	HeraldTestDaemon *a = daemon_start(redis, NULL);
	HeraldTestDaemon *b = daemon_start(redis, NULL);
	HeraldTestDaemon *c = daemon_start(redis, NULL);
	g_autoptr(HeraldTestWs) u1 = client_connect(a, "u1", "ADMIN", NULL);
	g_autoptr(HeraldTestWs) u1b = client_connect(b, "u1", "ADMIN", NULL);
	g_autoptr(HeraldTestWs) u2 = client_connect(b, "u2", "SELLER", NULL);
	HeraldTestWs *u3 = client_connect(c, "u3", "ADMIN", NULL);
	HeraldTestWs *u4 = client_connect(c, "u4", "CLIENT", NULL);
	g_autofree gchar *token = service_token();
	g_autofree gchar *admin_token = make_token("boss", "ADMIN", NULL);
	g_autofree gchar *a_id = g_strdup_printf("test-%u", a->port);
	g_autofree gchar *b_id = g_strdup_printf("test-%u", b->port);
	g_autoptr(JsonNode) node = NULL;
	JsonArray *users;
	JsonObject *first;
	guint status = 0;
	ProbeWait probe = {a, "u3", FALSE};

	/* the admin room across instances: u1 (on A and B) and u3 (on C) */
	wait_presence(a, "admin", 2);
	wait_presence(b, "user_u2", 1);
	wait_presence(a, "seller", 1);
	wait_presence(c, "all", 4);
	node = get_json(a, "/api/presence/admin", token, &status);
	g_assert_cmpuint(status, ==, 200);
	g_assert_cmpstr(herald_test_json_get_string(node, "room"), ==, "admin");
	users = json_object_get_array_member(json_node_get_object(node), "users");
	g_assert_cmpuint(json_array_get_length(users), ==, 2);
	first = json_array_get_object_element(users, 0);
	g_assert_cmpstr(json_object_get_string_member(first, "user_id"), ==, "u1");
	g_assert_cmpstr(json_object_get_string_member(first, "role"), ==, "ADMIN");
	{
		JsonArray *instances = json_object_get_array_member(first, "instances");
		const gchar *i0 = json_array_get_string_element(instances, 0);
		const gchar *i1 = json_array_get_string_element(instances, 1);
		g_assert_cmpuint(json_array_get_length(instances), ==, 2);
		g_assert_true((g_strcmp0(i0, a_id) == 0 && g_strcmp0(i1, b_id) == 0) ||
			      (g_strcmp0(i0, b_id) == 0 && g_strcmp0(i1, a_id) == 0));
	}
	g_clear_pointer(&node, json_node_unref);
	node = get_json(a, "/api/presence/nobody_here", token, &status);
	g_assert_cmpuint(status, ==, 200);
	g_assert_cmpint(herald_test_json_get_int(node, "count"), ==, 0);
	g_clear_pointer(&node, json_node_unref);

	/* refusals */
	node = get_json(a, "/api/presence/bad%20room", token, &status);
	g_assert_cmpuint(status, ==, 400);
	g_assert_cmpstr(herald_test_json_get_string(node, "error"), ==, "invalid_argument");
	g_clear_pointer(&node, json_node_unref);
	node = get_json(a, "/api/presence/admin", NULL, &status);
	g_assert_cmpuint(status, ==, 401);
	g_clear_pointer(&node, json_node_unref);
	node = get_json(a, "/api/presence/admin", admin_token, &status);
	g_assert_cmpuint(status, ==, 403);
	g_clear_pointer(&node, json_node_unref);

	/* the bus request notifier-whatsapp uses: users on other instances count */
	g_assert_true(probe_present(a, "u2"));
	g_assert_true(probe_present(a, "u3"));
	g_assert_true(probe_present(a, "u1"));
	g_assert_false(probe_present(a, "nobody"));

	/* a user who leaves is gone everywhere */
	herald_test_ws_free(u3);
	probe.present = FALSE;
	g_assert_true(herald_test_wait_until(probe_is, &probe, WAIT_MS));
	wait_presence(a, "admin", 1);

	/* a crashed instance's users expire with its TTL (3 s here) */
	g_assert_true(probe_present(a, "u2"));
	herald_test_daemon_signal(b, SIGKILL);
	g_assert_cmpint(herald_test_daemon_wait(b, WAIT_MS), ==, 128 + SIGKILL);
	probe.user = "u2";
	g_assert_true(herald_test_wait_until(probe_is, &probe, WAIT_MS));
	wait_presence(a, "admin", 1);
	wait_presence(a, "seller", 0);
	herald_test_daemon_free(b);

	/* the redis request: results as JSON, Redis errors as errors */
	{
		g_autoptr(JsonNode) r1 = probe_redis(a, "[\"SET\",\"herald:test:k\",\"v 1\"]");
		g_autoptr(JsonNode) r2 = probe_redis(a, "[\"GET\",\"herald:test:k\"]");
		g_autoptr(JsonNode) r3 = probe_redis(c, "[\"GET\",\"herald:test:none\"]");
		g_autoptr(JsonNode) r4 =
		    probe_redis(a, "[\"RPUSH\",\"herald:test:l\",\"a\",\"b\"]");
		g_autoptr(JsonNode) r5 =
		    probe_redis(c, "[\"LRANGE\",\"herald:test:l\",\"0\",\"-1\"]");
		g_autoptr(JsonNode) r6 = probe_redis(a, "[\"INCR\",\"herald:test:k\"]");
		g_autoptr(JsonNode) r7 = probe_redis(a, "[\"SUBSCRIBE\",\"herald:x\"]");
		g_autoptr(JsonNode) r8 = probe_redis(a, "[]");
		g_autofree gchar *list = NULL;
		g_assert_cmpstr(herald_test_json_get_string(r1, "result"), ==, "OK");
		g_assert_cmpstr(herald_test_json_get_string(r2, "result"), ==, "v 1");
		g_assert_true(JSON_NODE_HOLDS_NULL(
		    json_object_get_member(json_node_get_object(r3), "result")));
		g_assert_cmpint(herald_test_json_get_int(r4, "result"), ==, 2);
		list = json_to_string(json_object_get_member(json_node_get_object(r5), "result"),
				      FALSE);
		g_assert_cmpstr(list, ==, "[\"a\",\"b\"]");
		g_assert_cmpstr(herald_test_json_get_string(r6, "error"), ==, "internal");
		g_assert_nonnull(
		    strstr(herald_test_json_get_string(r6, "message"), "not an integer"));
		g_assert_cmpstr(herald_test_json_get_string(r7, "error"), ==, "invalid_argument");
		{
			/* a blocking command would stall every PUBLISH behind it */
			g_autoptr(JsonNode) r9 =
			    probe_redis(a, "[\"BLPOP\",\"herald:test:l\",\"0\"]");
			g_autoptr(JsonNode) r10 = probe_redis(
			    a, "[\"XREAD\",\"BLOCK\",\"0\",\"STREAMS\",\"herald:s\",\"$\"]");
			g_assert_cmpstr(herald_test_json_get_string(r9, "error"),
					==,
					"invalid_argument");
			g_assert_cmpstr(herald_test_json_get_string(r10, "error"),
					==,
					"invalid_argument");
		}
		g_assert_cmpstr(herald_test_json_get_string(r8, "error"), ==, "invalid_argument");
		g_assert_cmpint(redis_stat(a, "requests_total"), >=, 4);
	}

	/* a clean stop removes the instance's entries at once, not after the TTL */
	{
		g_autofree gchar *c_key =
		    g_strdup_printf("herald:presence:instance:test-%u", c->port);
		g_autofree gchar *c_id = g_strdup_printf("test-%u", c->port);
		g_autofree gchar *exists = NULL;
		g_autofree gchar *score = NULL;
		g_assert_true(probe_present(a, "u4"));
		herald_test_redis_cli(redis->port, NULL, &exists, "EXISTS", c_key, NULL);
		g_assert_cmpint(g_ascii_strtoll(exists, NULL, 10), ==, 1);
		g_clear_pointer(&exists, g_free);
		daemon_stop(c);
		herald_test_redis_cli(redis->port, NULL, &exists, "EXISTS", c_key, NULL);
		g_assert_cmpint(g_ascii_strtoll(exists, NULL, 10), ==, 0);
		herald_test_redis_cli(redis->port,
				      NULL,
				      &score,
				      "ZSCORE",
				      "herald:presence:instances",
				      c_id,
				      NULL);
		g_assert_cmpstr(g_strstrip(score), ==, "");
		g_assert_false(probe_present(a, "u4"));
	}
	herald_test_ws_free(u4);
	herald_test_ws_free(g_steal_pointer(&u1));
	herald_test_ws_free(g_steal_pointer(&u1b));
	herald_test_ws_free(g_steal_pointer(&u2));
	daemon_stop(a);
}

static void
client_unsubscribe(HeraldTestWs *ws, const gchar *room)
{
	g_autofree gchar *text =
	    g_strdup_printf("{\"type\":\"unsubscribe\",\"room\":\"%s\"}", room);
	guint n = ws->messages->len;
	herald_test_ws_send(ws, text);
	/* user_joined / user_left of others may come first in solicitud rooms */
	for (;;) {
		JsonNode *reply;
		g_assert_true(herald_test_ws_wait(ws, n + 1, WAIT_MS));
		reply = g_ptr_array_index(ws->messages, n++);
		if (g_strcmp0(herald_test_json_get_string(reply, "type"), "unsubscribed") == 0) {
			g_assert_cmpstr(herald_test_json_get_string(reply, "room"), ==, room);
			break;
		}
	}
}

typedef struct {
	HeraldTestDaemon *daemon;
	gint64 connections;
} ConnectionsWait;

static gboolean
connections_are(gpointer user_data)
{
	ConnectionsWait *wait = user_data;
	g_autoptr(JsonNode) health = get_health(wait->daemon);
	return health != NULL &&
	       herald_test_json_get_int(health, "connections") == wait->connections;
}

/* the users of @room as "user@instance+instance" strings, sorted by user */
static gchar *
presence_users(HeraldTestDaemon *daemon, const gchar *room)
{
	g_autofree gchar *token = service_token();
	g_autofree gchar *path = g_strdup_printf("/api/presence/%s", room);
	guint status = 0;
	g_autoptr(JsonNode) node = get_json(daemon, path, token, &status);
	g_autoptr(GString) out = g_string_new(NULL);
	JsonArray *users;
	g_assert_cmpuint(status, ==, 200);
	g_assert_cmpstr(herald_test_json_get_string(node, "room"), ==, room);
	users = json_object_get_array_member(json_node_get_object(node), "users");
	g_assert_cmpint(herald_test_json_get_int(node, "count"), ==, json_array_get_length(users));
	for (guint i = 0; i < json_array_get_length(users); i++) {
		JsonObject *user = json_array_get_object_element(users, i);
		JsonArray *instances = json_object_get_array_member(user, "instances");
		if (i > 0)
			g_string_append_c(out, ' ');
		g_string_append_printf(out,
				       "%s:%s@",
				       json_object_get_string_member(user, "user_id"),
				       json_object_get_string_member(user, "role"));
		for (guint j = 0; j < json_array_get_length(instances); j++)
			g_string_append_printf(out,
					       "%s%s",
					       j > 0 ? "+" : "",
					       json_array_get_string_element(instances, j));
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* rooms joined with subscribe (ws-rooms' room-joined / room-left on the bus)
 * are part of cluster presence, counted per user and instance */
/* a refresh that changes the role (ws-rooms' user-updated, room-left): the
 * cluster sees the user under its new role room and out of the rooms left */
static void
test_presence_refresh(void)
{
	g_autoptr(HeraldTestServer) redis = herald_test_redis_start();
	HeraldTestDaemon *a = daemon_start(redis, NULL);
	HeraldTestDaemon *b = daemon_start(redis, NULL);
	HeraldTestWs *u = client_connect(a, "r1", "ADMIN", NULL);
	g_autofree gchar *a_id = g_strdup_printf("test-%u", a->port);
	g_autofree gchar *as_admin = g_strdup_printf("r1:ADMIN@%s", a_id);
	g_autofree gchar *as_client = g_strdup_printf("r1:CLIENT@%s", a_id);
	g_autofree gchar *token = make_token("r1", "CLIENT", NULL);
	g_autofree gchar *refresh =
	    g_strdup_printf("{\"type\":\"refresh\",\"token\":\"%s\"}", token);
	g_autofree gchar *got = NULL;
	guint n;

	client_subscribe(u, "solicitud_17");
	client_subscribe(u, "notifications");
	wait_presence(b, "admin", 1);
	wait_presence(b, "solicitud_17", 1);
	got = presence_users(b, "admin");
	g_assert_cmpstr(got, ==, as_admin);
	g_clear_pointer(&got, g_free);

	n = u->messages->len;
	herald_test_ws_send(u, refresh);
	g_assert_true(herald_test_ws_wait(u, n + 1, WAIT_MS));
	g_assert_cmpstr(herald_test_json_get_string(g_ptr_array_index(u->messages, n), "type"),
			==,
			"refreshed");
	wait_presence(b, "admin", 0);
	wait_presence(b, "solicitud_17", 0);
	wait_presence(b, "client", 1);
	got = presence_users(b, "client");
	g_assert_cmpstr(got, ==, as_client);
	g_clear_pointer(&got, g_free);
	/* a room CLIENT may join stays */
	got = presence_users(b, "notifications");
	g_assert_cmpstr(got, ==, as_client);
	g_clear_pointer(&got, g_free);

	herald_test_ws_free(u);
	wait_presence(b, "client", 0);
	daemon_stop(b);
	daemon_stop(a);
}

static void
test_presence_rooms(void)
{
	g_autoptr(HeraldTestServer) redis = herald_test_redis_start();
	HeraldTestDaemon *a = daemon_start(redis, NULL);
	HeraldTestDaemon *b = daemon_start(redis, NULL);
	HeraldTestDaemon *c = daemon_start(redis, NULL);
	HeraldTestWs *v1 = client_connect(a, "v1", "ADVISOR", NULL);
	HeraldTestWs *v1bis = client_connect(a, "v1", "ADVISOR", NULL);
	HeraldTestWs *v2 = client_connect(b, "v2", "ADVISOR", NULL);
	HeraldTestWs *v3 = client_connect(c, "v3", "ADVISOR", NULL);
	HeraldTestWs *v4 = client_connect(c, "v4", "ADVISOR", NULL);
	g_autofree gchar *a_id = g_strdup_printf("test-%u", a->port);
	g_autofree gchar *b_id = g_strdup_printf("test-%u", b->port);
	g_autofree gchar *c_id = g_strdup_printf("test-%u", c->port);
	g_autofree gchar *both = g_strdup_printf("v1:ADVISOR@%s v2:ADVISOR@%s", a_id, b_id);
	g_autofree gchar *only_v2 = g_strdup_printf("v2:ADVISOR@%s", b_id);
	g_autofree gchar *with_v3 =
	    g_strdup_printf("v1:ADVISOR@%s v2:ADVISOR@%s v3:ADVISOR@%s", a_id, b_id, c_id);
	g_autofree gchar *only_v3 = g_strdup_printf("v3:ADVISOR@%s", c_id);
	g_autofree gchar *got = NULL;
	ConnectionsWait conns = {a, 2};

	/* v1 with two connections on A, v2 on B; v4 (on C) is in another room */
	client_subscribe(v1, "solicitud_17");
	client_subscribe(v1bis, "solicitud_17");
	client_subscribe(v2, "solicitud_17");
	client_subscribe(v4, "solicitud_18");
	/* any instance lists both, each on its own instance */
	wait_presence(c, "solicitud_17", 2);
	wait_presence(a, "solicitud_17", 2);
	wait_presence(b, "solicitud_17", 2);
	got = presence_users(c, "solicitud_17");
	g_assert_cmpstr(got, ==, both);
	g_clear_pointer(&got, g_free);
	wait_presence(a, "solicitud_18", 1);
	g_assert_cmpint(redis_stat(a, "presence_users"), ==, 1);

	/* one of v1's two connections leaves: v1 is still in the room. A's
	 * lookup goes after A's own presence writes on its connection, so the
	 * answer reflects the unsubscribe */
	client_unsubscribe(v1, "solicitud_17");
	got = presence_users(a, "solicitud_17");
	g_assert_cmpstr(got, ==, both);
	g_clear_pointer(&got, g_free);
	/* ...and with both gone, v1 is not in it any more (but still connected) */
	client_unsubscribe(v1bis, "solicitud_17");
	got = presence_users(a, "solicitud_17");
	g_assert_cmpstr(got, ==, only_v2);
	g_clear_pointer(&got, g_free);
	wait_presence(c, "solicitud_17", 1);
	wait_presence(a, "advisor", 4);

	/* the same by disconnecting */
	client_subscribe(v1, "solicitud_17");
	client_subscribe(v1bis, "solicitud_17");
	client_subscribe(v3, "solicitud_17");
	wait_presence(b, "solicitud_17", 3);
	got = presence_users(b, "solicitud_17");
	g_assert_cmpstr(got, ==, with_v3);
	g_clear_pointer(&got, g_free);
	herald_test_ws_free(v1bis);
	conns.connections = 1;
	g_assert_true(herald_test_wait_until(connections_are, &conns, WAIT_MS));
	got = presence_users(a, "solicitud_17");
	g_assert_cmpstr(got, ==, with_v3);
	g_clear_pointer(&got, g_free);
	herald_test_ws_free(v1);
	conns.connections = 0;
	g_assert_true(herald_test_wait_until(connections_are, &conns, WAIT_MS));
	wait_presence(c, "solicitud_17", 2);
	wait_presence(a, "advisor", 3);

	/* B crashes: its users of the room expire with its TTL (3 s here) */
	herald_test_daemon_signal(b, SIGKILL);
	g_assert_cmpint(herald_test_daemon_wait(b, WAIT_MS), ==, 128 + SIGKILL);
	wait_presence(a, "solicitud_17", 1);
	got = presence_users(a, "solicitud_17");
	g_assert_cmpstr(got, ==, only_v3);
	g_clear_pointer(&got, g_free);
	herald_test_daemon_free(b);

	/* C stops cleanly: its entries are gone at once */
	daemon_stop(c);
	got = presence_users(a, "solicitud_17");
	g_assert_cmpstr(got, ==, "");
	g_clear_pointer(&got, g_free);
	got = presence_users(a, "solicitud_18");
	g_assert_cmpstr(got, ==, "");
	herald_test_ws_free(v2);
	herald_test_ws_free(v3);
	herald_test_ws_free(v4);
	daemon_stop(a);
}

/* ------------------------------------------------------- Redis goes away */

static void
test_reconnect(void)
{
	g_autoptr(HeraldTestServer) redis = herald_test_redis_start();
	HeraldTestDaemon *a = daemon_start(redis, NULL);
	HeraldTestDaemon *b = daemon_start(redis, NULL);
	HeraldTestWs *clients[2];
	g_autoptr(JsonNode) health = NULL;
	const gchar *reason;

	clients[0] = client_connect(a, "a1", "ADMIN", NULL);
	clients[1] = client_connect(b, "b1", "ADMIN", NULL);
	g_assert_cmpint(redis_publish(redis,
				      "solicitud.created",
				      "{\"solicitud_id\":1,\"m\":\"before\"}"),
			==,
			2);
	wait_marker(clients, 2, "before");
	client_subscribe(clients[0], "solicitud_9");
	wait_presence(b, "solicitud_9", 1);

	/* a stream from B; Redis dies between two of its events */
	g_assert_cmpint(api_publish(b, "solicitud.created", "{\"solicitud_id\":1,\"m\":\"o0\"}"),
			==,
			1);
	wait_marker(clients, 2, "o0");
	g_subprocess_send_signal(redis->process, SIGKILL);
	g_subprocess_wait(redis->process, NULL, NULL);
	g_clear_object(&redis->process);
	wait_health(a, "degraded", "degraded");
	wait_health(b, "degraded", "degraded");
	health = get_health(a);
	reason = herald_test_json_get_string(health, "errors.redis-bridge");
	g_assert_nonnull(reason);
	g_assert_nonnull(strstr(reason, "redis"));

	/* during the outage: local clients still get their events at once */
	for (guint i = 1; i <= 5; i++) {
		g_autofree gchar *payload =
		    g_strdup_printf("{\"solicitud_id\":1,\"m\":\"o%u\"}", i);
		g_assert_cmpint(api_publish(b, "solicitud.created", payload), ==, 1);
	}
	g_assert_cmpint(api_publish(a, "solicitud.created", "{\"solicitud_id\":1,\"m\":\"oa\"}"),
			==,
			1);
	wait_marker(&clients[1], 1, "o5");
	g_assert_cmpint(redis_stat(b, "queue_depth"), >=, 5);

	/* same port: no restart of heraldd, the subscriptions come back */
	herald_test_redis_restart(redis);
	wait_health(a, "running", "healthy");
	wait_health(b, "running", "healthy");
	/* the new redis-server knows nothing: A rewrote its presence, with the
	 * rooms joined by subscribe */
	wait_presence(b, "solicitud_9", 1);

	/* what was queued on each side reaches the other side, once */
	wait_marker(&clients[0], 1, "o5");
	wait_marker(&clients[1], 1, "oa");
	barrier_redis(redis, clients, 2);
	for (guint i = 0; i <= 5; i++) {
		g_autofree gchar *marker = g_strdup_printf("o%u", i);
		g_assert_cmpuint(count_marker(clients[0], marker), ==, 1);
		g_assert_cmpuint(count_marker(clients[1], marker), ==, 1);
	}
	g_assert_cmpuint(count_marker(clients[0], "oa"), ==, 1);
	g_assert_cmpuint(count_marker(clients[1], "oa"), ==, 1);
	/* in order */
	{
		gint last = -1;
		for (guint i = 0; i < clients[0]->messages->len; i++) {
			const gchar *m = message_marker(g_ptr_array_index(clients[0]->messages, i));
			if (m != NULL && m[0] == 'o' && g_ascii_isdigit(m[1])) {
				g_assert_cmpint(m[1] - '0', >, last);
				last = m[1] - '0';
			}
		}
		g_assert_cmpint(last, ==, 5);
	}
	g_assert_cmpint(redis_stat(a, "reconnects_total"), >=, 2);
	g_assert_cmpint(redis_stat(b, "queue_depth"), ==, 0);
	g_assert_cmpint(redis_stat(b, "queued_total"), >=, 5);
	g_assert_true(herald_test_daemon_wait_log(a, "restored after", WAIT_MS));

	herald_test_ws_free(clients[0]);
	herald_test_ws_free(clients[1]);
	daemon_stop(a);
	daemon_stop(b);
}

static void
test_outage(void)
{
	g_autoptr(HeraldTestServer) redis = herald_test_redis_start();
	HeraldTestDaemon *a = daemon_start(redis, "queue-max=2\n");
	g_autofree gchar *token = service_token();
	g_autoptr(JsonNode) presence = NULL;
	g_autoptr(JsonNode) request = NULL;
	g_autoptr(JsonNode) local = NULL;
	guint status = 0;
	HeraldTestWs *here;

	herald_test_server_stop(redis);
	wait_health(a, "degraded", "degraded");
	here = client_connect(a, "here", "CLIENT", NULL);

	/* the cluster cannot be asked: say so; a local user is still known */
	presence = get_json(a, "/api/presence/admin", token, &status);
	g_assert_cmpuint(status, ==, 503);
	g_assert_cmpstr(herald_test_json_get_string(presence, "error"), ==, "unavailable");
	request = probe_redis(a, "[\"GET\",\"herald:test:k\"]");
	g_assert_cmpstr(herald_test_json_get_string(request, "error"), ==, "unavailable");
	g_assert_true(probe_present(a, "here"));
	local = get_json(a, "/test/probe/presence/elsewhere", NULL, &status);
	g_assert_cmpuint(status, ==, 200);
	g_assert_cmpstr(herald_test_json_get_string(local, "error"), ==, "unavailable");
	herald_test_ws_free(here);

	/* the outbound queue is bounded: the oldest go, counted and logged */
	for (guint i = 0; i < 5; i++)
		api_publish(a, "realtime:broadcasts", "{\"type\":\"x\"}");
	g_assert_cmpint(redis_stat(a, "queue_depth"), ==, 2);
	g_assert_cmpint(redis_stat(a, "queue_dropped_total"), ==, 3);
	g_assert_true(
	    herald_test_daemon_wait_log(a, "outbound queue is full (queue-max=2)", WAIT_MS));
	daemon_stop(a);
}

/* a Redis that stops answering without closing its sockets (SIGSTOP) */
static void
test_hung(void)
{
	g_autoptr(HeraldTestServer) redis = herald_test_redis_start();
	HeraldTestDaemon *daemon = daemon_start(redis, "connect-timeout-ms=500\n");
	HeraldTestWs *admin = client_connect(daemon, "a1", "ADMIN", NULL);
	g_autoptr(JsonNode) health = NULL;

	g_subprocess_send_signal(redis->process, SIGSTOP);
	/* the PING of the next refresh (1 s here) gets no answer */
	wait_health(daemon, "degraded", "degraded");
	health = get_health(daemon);
	/* the reason moves on with each attempt; the log keeps the first one */
	g_assert_nonnull(herald_test_json_get_string(health, "errors.redis-bridge"));
	g_assert_true(herald_test_daemon_wait_log(daemon, "lost: no answer to PING", WAIT_MS));
	g_subprocess_send_signal(redis->process, SIGCONT);
	wait_health(daemon, "running", "healthy");
	/* (connections that timed out while it was stopped may still be counted) */
	g_assert_cmpint(redis_publish(redis, "ws:room:admin", "{\"type\":\"t\",\"m\":\"h1\"}"),
			>=,
			1);
	wait_marker(&admin, 1, "h1");
	g_assert_true(herald_test_daemon_wait_log(daemon, "no answer to PING", WAIT_MS));
	herald_test_ws_free(admin);
	daemon_stop(daemon);
}

/* ------------------------------------------- routes change on SIGHUP */

static void
test_reload(void)
{
	g_autoptr(HeraldTestServer) redis = herald_test_redis_start();
	/* a host name: resolved without blocking, each address tried in turn
	 * (localhost may be ::1 first; redis-server listens on 127.0.0.1) */
	g_autofree gchar *url = g_strdup_printf("url=redis://localhost:%u/0\n", redis->port);
	HeraldTestDaemon *daemon = daemon_start(redis, url);
	HeraldTestWs *admin = client_connect(daemon, "a1", "ADMIN", NULL);
	g_autofree gchar *config = NULL;
	g_autofree gchar *changed = NULL;
	g_autoptr(GError) error = NULL;
	gint64 patterns = redis_stat(daemon, "patterns");

	/* the shipped routes (host/herald-host.c) */
	g_assert_cmpint(patterns, >=, 12);
	g_assert_cmpint(redis_publish(redis, "custom.thing", "{\"m\":\"c0\"}"), ==, 0);
	g_assert_cmpint(redis_publish(redis, "cliente.updated", "{\"m\":\"c1\"}"), ==, 1);
	g_assert_true(g_file_get_contents(daemon->config_file, &config, NULL, &error));
	changed = g_strdup_printf("%s\n[route custom]\nchannels=custom.*\nrooms=admin\n"
				  "[route cliente]\nenabled=false\n",
				  config);
	g_assert_true(g_file_set_contents(daemon->config_file, changed, -1, &error));
	herald_test_daemon_signal(daemon, SIGHUP);
	g_assert_true(herald_test_daemon_wait_log(daemon,
						  "routes changed: 1 pattern(s) added, 1 removed",
						  WAIT_MS));
	/* no reconnect needed: subscribed and unsubscribed on the live connection */
	g_assert_cmpint(redis_publish(redis, "custom.thing", "{\"m\":\"c2\"}"), ==, 1);
	g_assert_cmpint(redis_publish(redis, "cliente.updated", "{\"m\":\"c3\"}"), ==, 0);
	barrier_redis(redis, &admin, 1);
	g_assert_cmpuint(count_marker(admin, "c1"), ==, 1);
	g_assert_cmpuint(count_marker(admin, "c2"), ==, 1);
	g_assert_cmpuint(count_marker(admin, "c3"), ==, 0);
	g_assert_cmpint(redis_stat(daemon, "reconnects_total"), ==, 0);
	/* one added, one removed */
	g_assert_cmpint(redis_stat(daemon, "patterns"), ==, patterns);
	herald_test_ws_free(admin);
	daemon_stop(daemon);
}

/* ------------------------------------------------------ bad input on Redis */

static void
test_malformed(void)
{
	g_autoptr(HeraldTestServer) redis = herald_test_redis_start();
	HeraldTestDaemon *daemon = daemon_start(redis, NULL);
	HeraldTestWs *admin = client_connect(daemon, "a1", "ADMIN", NULL);
	const gchar *channels[] = {"ws:room:admin",
				   "ws:user:a1",
				   "solicitud.created",
				   "oferta.created",
				   "evaluacion.created",
				   "cliente.created",
				   "notificacion.created",
				   "realtime:notifications",
				   "realtime:orders",
				   "realtime:inventory",
				   "realtime:broadcasts",
				   "events"};
	g_autoptr(GString) big = g_string_new("{\"type\":\"big\",\"m\":\"");
	g_autoptr(JsonNode) stats = NULL;
	g_autofree gchar *log = NULL;
	guint n_not_json = 0;
	gint64 missing_before;
	gint64 missing_after;

	while (big->len < 1024 * 1024)
		g_string_append(big,
				"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	g_string_append(big, "\"}");
	stats = get_stats(daemon);
	missing_before = herald_test_json_get_int(stats, "route_missing_fields_total");

	for (guint i = 0; i < G_N_ELEMENTS(channels); i++) {
		g_autofree gchar *good = g_strdup_printf("{\"type\":\"ok\",\"m\":\"g%u\"}", i);
		g_assert_cmpint(redis_publish(redis, channels[i], "this is not JSON"), ==, 1);
		g_assert_cmpint(redis_publish(redis, channels[i], "[1,2,3]"), ==, 1);
		g_assert_cmpint(redis_publish(redis, channels[i], "\"just a string\""), ==, 1);
		g_assert_cmpint(redis_publish(redis, channels[i], "{}"), ==, 1);
		g_assert_cmpint(redis_publish(redis, channels[i], "{\"_herald\":7,\"payload\":{}}"),
				==,
				1);
		g_assert_cmpint(redis_publish(redis, channels[i], big->str), ==, 1);
		/* the next good event still gets through */
		g_assert_cmpint(redis_publish(redis, "ws:room:admin", good), ==, 1);
		{
			g_autofree gchar *marker = g_strdup_printf("g%u", i);
			wait_marker(&admin, 1, marker);
		}
	}
	/* channel names clients would see as event names */
	g_assert_cmpint(redis_publish(redis, "solicitud.\x01x", "{\"solicitud_id\":1}"), ==, 1);
	g_assert_cmpint(redis_publish(redis, "solicitud.\xff\xfe", "{\"solicitud_id\":1}"), ==, 1);
	g_assert_cmpint(redis_publish(redis, "ws:room:admin", "{\"type\":\"ok\",\"m\":\"gz\"}"),
			==,
			1);
	wait_marker(&admin, 1, "gz");
	g_clear_pointer(&stats, json_node_unref);
	stats = get_stats(daemon);
	g_assert_cmpint(herald_test_json_get_int(
			    stats, "plugins.redis-bridge.rejected_by_reason_total.bad_channel"),
			==,
			2);
	g_assert_cmpint(herald_test_json_get_int(
			    stats, "plugins.redis-bridge.rejected_by_reason_total.invalid_json"),
			==,
			G_N_ELEMENTS(channels));
	g_assert_cmpint(herald_test_json_get_int(
			    stats, "plugins.redis-bridge.rejected_by_reason_total.not_object"),
			==,
			2 * G_N_ELEMENTS(channels));
	g_assert_cmpint(herald_test_json_get_int(
			    stats, "plugins.redis-bridge.rejected_by_reason_total.too_large"),
			==,
			G_N_ELEMENTS(channels));
	g_assert_cmpint(herald_test_json_get_int(
			    stats, "plugins.redis-bridge.rejected_by_reason_total.bad_envelope"),
			==,
			G_N_ELEMENTS(channels));
	/* `{}` lacks the fields of the templated routes, and a type for stats-filter */
	missing_after = herald_test_json_get_int(stats, "route_missing_fields_total");
	g_assert_cmpint(missing_after, >, missing_before);
	g_assert_cmpint(
	    herald_test_json_get_int(stats, "plugins.stats-filter.stats_dropped_invalid_total"),
	    ==,
	    1);
	g_assert_cmpint(herald_test_json_get_int(stats, "plugins.redis-bridge.messages_in_total"),
			==,
			7 * G_N_ELEMENTS(channels) + 3);
	/* logged, but once per interval, not once per message */
	g_assert_true(
	    herald_test_daemon_wait_log(daemon,
					"(not JSON), the latest on channel 'ws:room:admin'",
					WAIT_MS));
	log = herald_test_daemon_get_log(daemon);
	for (const gchar *p = log; (p = strstr(p, "(not JSON)")) != NULL; p++)
		n_not_json++;
	g_assert_cmpuint(n_not_json, ==, 1);
	g_assert_nonnull(strstr(log, "(larger than max-message-bytes)"));
	/* the daemon never stopped being healthy */
	wait_health(daemon, "running", "healthy");

	herald_test_ws_free(admin);
	daemon_stop(daemon);
}

/* seed 002's Message published on Redis: userId narrows the room to that
 * user; one that names no user is dropped and counted, never room-wide */
static void
test_user_scope(void)
{
	g_autoptr(HeraldTestServer) redis = herald_test_redis_start();
	HeraldTestDaemon *daemon = daemon_start(redis, NULL);
	HeraldTestWs *clients[3];
	g_autoptr(JsonNode) stats = NULL;
	const gchar *bad[] = {"true", "5.5", "{\"id\":\"5\"}", "[\"5\"]", "\"a\\u0001b\""};

	clients[0] = client_connect(daemon, "5", "client", NULL);
	clients[1] = client_connect(daemon, "6", "client", NULL);
	clients[2] = client_connect(daemon, "5", "client", NULL);
	client_subscribe(clients[0], "notifications");
	client_subscribe(clients[1], "notifications");

	g_assert_cmpint(redis_publish(redis,
				      "realtime:notifications",
				      "{\"type\":\"notification\",\"room\":\"notifications\","
				      "\"userId\":\"5\",\"payload\":{\"m\":\"u1\"}}"),
			==,
			1);
	g_assert_cmpint(redis_publish(redis,
				      "realtime:notifications",
				      "{\"type\":\"notification\",\"room\":\"notifications\","
				      "\"userId\":\"\",\"payload\":{\"m\":\"u2\"}}"),
			==,
			1);
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree gchar *msg = g_strdup_printf(
		    "{\"type\":\"notification\",\"userId\":%s,\"payload\":{\"m\":\"u3\"}}", bad[i]);
		g_assert_cmpint(redis_publish(redis, "realtime:notifications", msg), ==, 1);
	}
	barrier_redis(redis, clients, G_N_ELEMENTS(clients));
	/* user 5's connection in the room; not user 6, not user 5's other one */
	g_assert_cmpuint(count_marker(clients[0], "u1"), ==, 1);
	g_assert_cmpuint(count_marker(clients[1], "u1"), ==, 0);
	g_assert_cmpuint(count_marker(clients[2], "u1"), ==, 0);
	/* Go's zero value: the room */
	g_assert_cmpuint(count_marker(clients[0], "u2"), ==, 1);
	g_assert_cmpuint(count_marker(clients[1], "u2"), ==, 1);
	for (guint i = 0; i < G_N_ELEMENTS(clients); i++)
		g_assert_cmpuint(count_marker(clients[i], "u3"), ==, 0);
	stats = get_stats(daemon);
	g_assert_cmpint(herald_test_json_get_int(stats, "route_invalid_user_total"),
			==,
			G_N_ELEMENTS(bad));
	g_assert_true(herald_test_daemon_wait_log(daemon,
						  "event on 'realtime:notifications' dropped: "
						  "'userId' must be a string or an integer",
						  WAIT_MS));
	for (guint i = 0; i < G_N_ELEMENTS(clients); i++)
		herald_test_ws_free(clients[i]);
	daemon_stop(daemon);
}

/* 200,000 levels of `[` overflowed json-glib 1.6's stack: one PUBLISH killed
 * every instance subscribed to the channel */
static void
test_json_too_deep(void)
{
	g_autoptr(HeraldTestServer) redis = herald_test_redis_start();
	HeraldTestDaemon *daemon = daemon_start(redis, NULL);
	HeraldTestWs *admin = client_connect(daemon, "a1", "ADMIN", NULL);
	g_autoptr(GString) deep = g_string_new("{\"type\":\"deep\",\"m\":");
	g_autoptr(GString) deep_envelope =
	    g_string_new("{\"_herald\":{\"id\":\"x\",\"origin\":\"o\"},\"payload\":");
	g_autoptr(JsonNode) stats = NULL;

	for (guint i = 0; i < 200000; i++) {
		g_string_append_c(deep, '[');
		g_string_append_c(deep_envelope, '{');
	}
	/* a routed channel, an envelope from a "Herald instance", the control channel */
	g_assert_cmpint(redis_publish(redis, "ws:room:admin", deep->str), ==, 1);
	g_assert_cmpint(redis_publish(redis, "ws:room:admin", deep_envelope->str), ==, 1);
	g_assert_cmpint(redis_publish(redis, "herald:control", deep->str), ==, 1);
	/* dropped: the next good event is delivered */
	g_assert_cmpint(redis_publish(redis, "ws:room:admin", "{\"type\":\"ok\",\"m\":\"after\"}"),
			==,
			1);
	wait_marker(&admin, 1, "after");
	stats = get_stats(daemon);
	g_assert_cmpint(herald_test_json_get_int(
			    stats, "plugins.redis-bridge.rejected_by_reason_total.json_too_deep"),
			==,
			3);
	g_assert_cmpint(herald_test_json_get_int(stats, "json_too_deep_total"), ==, 3);
	/* logged once per log-interval-s, not once per message */
	g_assert_true(herald_test_daemon_wait_log(
	    daemon,
	    "(JSON nested deeper than [host] max-json-depth), the latest on channel 'ws:room:admin'",
	    WAIT_MS));
	wait_health(daemon, "running", "healthy");

	herald_test_ws_free(admin);
	daemon_stop(daemon);
}

/* ---------------------------------------------------- configuration errors */

static gint
check_config(const gchar *extra, gchar **err)
{
	g_autofree gchar *config = g_strdup_printf("[host]\nplugins=ws-rooms;redis-bridge;stats-"
						   "filter\n[redis-bridge]\n%s\n",
						   extra != NULL ? extra : "");
	g_autoptr(HeraldTestDaemon) daemon = herald_test_daemon_new(config);
	gchar *argv[] = {(gchar *)"--check-config", (gchar *)"--config", daemon->config_file, NULL};
	g_autofree gchar *out = NULL;
	gint rc = herald_test_run_heraldd(argv, &out, err, NULL);
	g_autofree gchar *located = g_strdup_printf("%s:redis-bridge:", daemon->config_file);
	if (rc != 0)
		g_assert_nonnull(strstr(*err, located));
	return rc;
}

static void
test_check_config(void)
{
	const gchar *bad_urls[] = {"http://127.0.0.1:6379",
				   "redis://",
				   "redis://h:6379/x",
				   "unix:relative"};
	g_autofree gchar *ok_err = NULL;
	g_autofree gchar *pw_err = NULL;
	g_autofree gchar *refresh_err = NULL;

	g_assert_cmpint(check_config(NULL, &ok_err), ==, 0);
	for (guint i = 0; i < G_N_ELEMENTS(bad_urls); i++) {
		g_autofree gchar *extra = g_strdup_printf("url=%s\n", bad_urls[i]);
		g_autofree gchar *err = NULL;
		g_assert_cmpint(check_config(extra, &err), ==, 1);
		g_assert_nonnull(strstr(err, "redis-bridge:url: invalid Redis URL"));
	}
	g_assert_cmpint(check_config("password-file=/nonexistent/herald/redis.pw\n", &pw_err),
			==,
			1);
	g_assert_nonnull(strstr(pw_err, "redis-bridge:password-file:"));
	g_assert_cmpint(check_config("presence-refresh-s=30\n", &refresh_err), ==, 1);
	g_assert_nonnull(strstr(refresh_err, "redis-bridge:presence-refresh-s: must be less than"));
	/* sentinel addresses and the master's name */
	{
		g_autofree gchar *err = NULL;
		g_autofree gchar *name_err = NULL;
		g_autofree gchar *ok2 = NULL;
		g_assert_cmpint(check_config("sentinels=127.0.0.1:26379;nohost;h:99999\n", &err), ==, 1);
		g_assert_nonnull(strstr(err, "redis-bridge:sentinels: 'nohost' is not host:port"));
		g_assert_nonnull(strstr(err, "redis-bridge:sentinels: 'h:99999' is not host:port"));
		g_assert_cmpint(check_config("sentinels=127.0.0.1:26379\nmaster-name=\n", &name_err),
				==,
				1);
		g_assert_nonnull(strstr(name_err, "redis-bridge:master-name:"));
		g_assert_cmpint(
		    check_config("sentinels=127.0.0.1:26379;[::1]:26380\nmaster-name=herald\n", &ok2),
		    ==,
		    0);
	}
}

/* ------------------------------------------------------- Redis Sentinel */

static gchar *
cli(guint16 port, const gchar *a, const gchar *b, const gchar *c)
{
	g_autofree gchar *out = NULL;
	gint rc = herald_test_redis_cli(port, NULL, &out, a, b, c, NULL);
	return rc == 0 ? g_steal_pointer(&out) : g_strdup("");
}

typedef struct {
	guint16 port;
	const gchar *a, *b, *c, *needle;
} CliWait;

static gboolean
cli_says(gpointer user_data)
{
	CliWait *w = user_data;
	g_autofree gchar *out = cli(w->port, w->a, w->b, w->c);
	return strstr(out, w->needle) != NULL;
}

static void
wait_cli(guint16 port, const gchar *a, const gchar *b, const gchar *c, const gchar *needle)
{
	CliWait w = {port, a, b, c, needle};
	if (!herald_test_wait_until(cli_says, &w, WAIT_MS)) {
		g_autofree gchar *out = cli(port, a, b, c);
		g_error("redis-cli -p %u %s %s %s never said '%s':\n%s", port, a, b, c, needle, out);
	}
}

/* A primary, a replica and a real redis-sentinel (Debian's): heraldd finds
 * the master through the sentinel, and when the primary is killed it follows
 * the promoted replica — subscriptions, publishing and presence — without a
 * restart. The gap (kill → healthy again) is printed for the record. */
static void
test_sentinel_failover(void)
{
	g_autoptr(HeraldTestServer) primary = herald_test_redis_start();
	g_autofree gchar *primary_port = g_strdup_printf("%u", primary->port);
	const gchar *replica_argv[] = {"redis-server",
				       "--port", "{port}",
				       "--bind", "127.0.0.1",
				       "--save", "",
				       "--appendonly", "no",
				       "--daemonize", "no",
				       "--dir", "{dir}",
				       "--replicaof", "127.0.0.1", primary_port,
				       NULL};
	g_autoptr(HeraldTestServer) replica = herald_test_server_start("redis-server", replica_argv, 10000);
	g_autofree gchar *conf_dir = herald_test_mkdtemp();
	g_autofree gchar *conf_text =
	    g_strdup_printf("sentinel monitor herald 127.0.0.1 %u 1\n"
			    "sentinel down-after-milliseconds herald 500\n"
			    "sentinel failover-timeout herald 4000\n"
			    "sentinel parallel-syncs herald 1\n",
			    primary->port);
	g_autofree gchar *conf = herald_test_write_file(conf_dir, "sentinel.conf", conf_text);
	const gchar *sentinel_argv[] = {"redis-sentinel",
					conf,
					"--port", "{port}",
					"--bind", "127.0.0.1",
					"--dir", "{dir}",
					"--daemonize", "no",
					NULL};
	g_autoptr(HeraldTestServer) sentinel = NULL;
	g_autofree gchar *extra = NULL;
	g_autofree gchar *replica_addr = g_strdup_printf("127.0.0.1:%u", replica->port);
	g_autofree gchar *replica_port = g_strdup_printf("%u", replica->port);
	HeraldTestDaemon *a;
	HeraldTestWs *clients[1];
	gint64 killed, back, start = g_get_monotonic_time();

	/* the replica is attached before the sentinel's first look at the master,
	 * so that the sentinel knows it at once */
	wait_cli(primary->port, "INFO", "replication", NULL, "connected_slaves:1");
	sentinel = herald_test_server_start("redis-sentinel", sentinel_argv, 10000);
	wait_cli(sentinel->port, "SENTINEL", "replicas", "herald", "slave");
	extra = g_strdup_printf("url=redis://127.0.0.1:1/0\nsentinels=127.0.0.1:%u\n"
				"master-name=herald\n",
				sentinel->port);
	a = daemon_start(NULL, extra);
	{
		g_autoptr(JsonNode) stats = get_stats(a);
		g_autofree gchar *want = g_strdup_printf("127.0.0.1:%u", primary->port);
		g_assert_cmpstr(herald_test_json_get_string(stats, "plugins.redis-bridge.sentinel_master"),
				==,
				want);
	}
	clients[0] = client_connect(a, "s1", "ADMIN", NULL);
	g_assert_cmpint(redis_publish(primary, "solicitud.created", "{\"solicitud_id\":1,\"m\":\"p1\"}"),
			==,
			1);
	wait_marker(clients, 1, "p1");

	/* 1. a manual failover: both servers stay up, the old primary becomes a
	 * replica and keeps accepting connections — only the sentinel can tell */
	g_free(cli(sentinel->port, "SENTINEL", "FAILOVER", "herald"));
	wait_cli(sentinel->port, "SENTINEL", "get-master-addr-by-name", "herald", replica_port);
	while (redis_publish(replica, "solicitud.created", "{\"solicitud_id\":1,\"m\":\"p2\"}") < 1) {
		g_assert_cmpint(g_get_monotonic_time() - start, <, (gint64)WAIT_MS * 1000);
		g_usleep(20000);
	}
	wait_marker(clients, 1, "p2");
	g_assert_cmpint(api_publish(a, "solicitud.created", "{\"solicitud_id\":1,\"m\":\"p3\"}"),
			==,
			1);
	wait_marker(clients, 1, "p3");
	{
		g_autoptr(JsonNode) stats = get_stats(a);
		g_assert_cmpstr(herald_test_json_get_string(stats, "plugins.redis-bridge.sentinel_master"),
				==,
				replica_addr);
		g_assert_cmpint(herald_test_json_get_int(stats,
							 "plugins.redis-bridge.sentinel_failovers_total"),
				==,
				1);
	}
	/* the old primary is a replica of the new master now, in sync */
	wait_cli(primary->port, "ROLE", NULL, NULL, "slave");
	wait_cli(sentinel->port, "SENTINEL", "replicas", "herald", primary_port);

	/* 2. the master dies; the sentinel promotes the old primary again */
	killed = g_get_monotonic_time();
	g_subprocess_send_signal(replica->process, SIGKILL);
	g_subprocess_wait(replica->process, NULL, NULL);
	g_clear_object(&replica->process);
	wait_cli(sentinel->port, "SENTINEL", "get-master-addr-by-name", "herald", primary_port);
	/* subscribed on the new master: a PUBLISH there reaches the client */
	while (redis_publish(primary, "solicitud.created", "{\"solicitud_id\":1,\"m\":\"p4\"}") < 1) {
		g_assert_cmpint(g_get_monotonic_time() - killed, <, (gint64)WAIT_MS * 1000);
		g_usleep(20000);
	}
	back = g_get_monotonic_time();
	wait_marker(clients, 1, "p4");
	wait_health(a, "running", "healthy");
	g_assert_cmpint(api_publish(a, "solicitud.created", "{\"solicitud_id\":1,\"m\":\"p5\"}"),
			==,
			1);
	wait_marker(clients, 1, "p5");
	{
		g_autoptr(JsonNode) stats = get_stats(a);
		g_autofree gchar *want = g_strdup_printf("127.0.0.1:%u", primary->port);
		g_assert_cmpstr(herald_test_json_get_string(stats, "plugins.redis-bridge.sentinel_master"),
				==,
				want);
		g_assert_cmpint(herald_test_json_get_int(stats,
							 "plugins.redis-bridge.sentinel_failovers_total"),
				==,
				2);
	}
	/* each event exactly once */
	for (guint i = 1; i <= 5; i++) {
		g_autofree gchar *m = g_strdup_printf("p%u", i);
		g_assert_cmpuint(count_marker(clients[0], m), ==, 1);
	}
	g_test_message("sentinel failover: %.2f s from SIGKILL of the master to heraldd "
		       "subscribed on the promoted replica",
		       (gdouble)(back - killed) / G_USEC_PER_SEC);
	g_assert_true(herald_test_daemon_wait_log(a, "following it", WAIT_MS));
	herald_test_ws_free(clients[0]);
	daemon_stop(a);
	herald_test_rm_rf(conf_dir);
}

/* -------------------------------------------- AUTH, unix socket, env override */

static void
test_auth_unix(void)
{
	const gchar *argv[] = {"redis-server",
			       "--port",
			       "{port}",
			       "--bind",
			       "127.0.0.1",
			       "--save",
			       "",
			       "--appendonly",
			       "no",
			       "--daemonize",
			       "no",
			       "--requirepass",
			       "s3cret pass",
			       "--unixsocket",
			       "{dir}/redis.sock",
			       "--unixsocketperm",
			       "700",
			       NULL};
	g_autoptr(HeraldTestServer) redis = herald_test_server_start("redis-server", argv, 10000);
	g_autofree gchar *pw_dir = herald_test_mkdtemp();
	g_autofree gchar *pw_file = herald_test_write_file(pw_dir, "redis.pw", "s3cret pass\n");
	g_autofree gchar *extra =
	    g_strdup_printf("url=unix:%s/redis.sock\npassword-file=%s\n", redis->dir, pw_file);
	HeraldTestDaemon *good = daemon_start(redis, extra);
	HeraldTestDaemon *bad;
	HeraldTestWs *admin = client_connect(good, "a1", "ADMIN", NULL);
	g_autoptr(JsonNode) health = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *log = NULL;

	g_assert_cmpint(herald_test_redis_cli(redis->port,
					      "{\"type\":\"t\",\"m\":\"u1\"}",
					      &out,
					      "-a",
					      "s3cret pass",
					      "--no-auth-warning",
					      "PUBLISH",
					      "ws:room:admin",
					      NULL),
			==,
			0);
	g_assert_cmpint(g_ascii_strtoll(out, NULL, 10), ==, 1);
	wait_marker(&admin, 1, "u1");

	/* the environment overrides the password: a wrong one is reported, not fatal */
	g_setenv("HERALD_REDIS_BRIDGE_PASSWORD", "n0t-the-pw-42", TRUE);
	bad = daemon_new(redis, NULL);
	g_assert_true(herald_test_daemon_start(bad, &error));
	g_assert_no_error(error);
	g_unsetenv("HERALD_REDIS_BRIDGE_PASSWORD");
	g_assert_true(herald_test_daemon_wait_log(bad, "authentication failed", WAIT_MS));
	wait_health(bad, "degraded", "degraded");
	health = get_health(bad);
	g_assert_nonnull(strstr(herald_test_json_get_string(health, "errors.redis-bridge"),
				"authentication failed"));
	log = herald_test_daemon_get_log(bad);
	g_assert_null(strstr(log, "n0t-the-pw-42"));
	g_assert_null(strstr(log, "s3cret"));

	herald_test_ws_free(admin);
	daemon_stop(bad);
	daemon_stop(good);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/redis-bridge/e2e/routes", test_routes);
	g_test_add_func("/redis-bridge/e2e/socketio", test_socketio);
	g_test_add_func("/redis-bridge/e2e/three-instances", test_three_instances);
	g_test_add_func("/redis-bridge/e2e/presence", test_presence);
	g_test_add_func("/redis-bridge/e2e/presence-rooms", test_presence_rooms);
	g_test_add_func("/redis-bridge/e2e/presence-refresh", test_presence_refresh);
	g_test_add_func("/redis-bridge/e2e/reconnect", test_reconnect);
	g_test_add_func("/redis-bridge/e2e/outage", test_outage);
	g_test_add_func("/redis-bridge/e2e/reload", test_reload);
	g_test_add_func("/redis-bridge/e2e/hung", test_hung);
	g_test_add_func("/redis-bridge/e2e/malformed", test_malformed);
	g_test_add_func("/redis-bridge/e2e/user-scope", test_user_scope);
	g_test_add_func("/redis-bridge/e2e/json-too-deep", test_json_too_deep);
	g_test_add_func("/redis-bridge/e2e/check-config", test_check_config);
	g_test_add_func("/redis-bridge/e2e/auth-unix", test_auth_unix);
	g_test_add_func("/redis-bridge/e2e/sentinel-failover", test_sentinel_failover);
	return g_test_run();
}
