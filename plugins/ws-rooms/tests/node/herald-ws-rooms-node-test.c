/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ws-rooms with the real official npm clients (`ws` 8, `socket.io-client` 4):
 * for each scenario a heraldd subprocess with that scenario's [ws-rooms]
 * config, and `node <script>.js` against it. The script asserts what it sees
 * with node:assert and ends with one JSON line; this runner asserts its exit
 * status, that line and the daemon's /stats afterwards, then a clean exit of
 * heraldd (LeakSanitizer).
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "herald-test-util.h"

typedef struct {
	const gchar *script;
	const gchar *arg;    /* (nullable) argv[2] of the script */
	const gchar *config; /* (nullable) extra [ws-rooms] keys */
	void (*check)(JsonNode *summary, JsonNode *stats);
} Scenario;



static HeraldTestDaemon *
start_daemon(const gchar *ws_rooms_config)
{
	g_autoptr(GError) error = NULL;
	/* a server-closed polling session waits close-timeout-ms for the client's
	 * next GET; on a loaded machine the default 2 s can pass first, and that
	 * GET would count as an unknown sid */
	gboolean own_close_timeout =
	    ws_rooms_config != NULL && strstr(ws_rooms_config, "close-timeout-ms=") != NULL;
	g_autofree gchar *extra = g_strdup_printf("[host]\nplugins=ws-rooms\n"
						  "[auth]\nleeway-s=0\n"
						  "[ws-rooms]\n%s%s\n",
						  own_close_timeout ? "" : "close-timeout-ms=15000\n",
						  ws_rooms_config != NULL ? ws_rooms_config : "");
	HeraldTestDaemon *daemon = herald_test_daemon_new(extra);
	if (!herald_test_daemon_start(daemon, &error))
		g_error("%s", error->message);
	return daemon;
}

static GSubprocess *
spawn_script(HeraldTestDaemon *daemon, const Scenario *scenario)
{
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *modules = herald_test_node_modules_dir();
	g_autofree gchar *script =
	    g_build_filename(g_getenv("G_TEST_SRCDIR"), scenario->script, NULL);
	GSubprocess *proc;

	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
					     G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_subprocess_launcher_setenv(launcher, "HERALD_BASE_URL", daemon->base_url, TRUE);
	g_subprocess_launcher_setenv(launcher, "HERALD_SECRET", HERALD_TEST_SECRET, TRUE);
	g_subprocess_launcher_setenv(launcher, "HERALD_TEST_NODE_MODULES", modules, TRUE);
	g_subprocess_launcher_setenv(launcher, "HERALD_NODE_TIMEOUT_MS", "240000", FALSE);
	g_subprocess_launcher_set_cwd(launcher, g_getenv("G_TEST_SRCDIR"));
	proc = g_subprocess_launcher_spawn(launcher,
					   &error,
					   herald_test_node_program(),
					   script,
					   scenario->arg,
					   NULL);
	g_assert_no_error(error);
	return proc;
}

/* waits for the script's end (@head: what was read of its output already);
 * returns its whole output, each line also logged as a TAP comment */
static gchar *
finish_script(const Scenario *scenario, GSubprocess *proc, const gchar *head, gboolean *ok)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *rest = NULL;
	gchar *out;
	g_auto(GStrv) lines = NULL;

	g_subprocess_communicate_utf8(proc, NULL, NULL, &rest, NULL, &error);
	if (error != NULL)
		g_printerr("reading the output of %s: %s\n", scenario->script, error->message);
	out = g_strconcat(head != NULL ? head : "", rest != NULL ? rest : "", NULL);
	lines = g_strsplit(out, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (lines[i][0] != '\0')
			g_test_message("%s: %s", scenario->script, lines[i]);
	}
	*ok = error == NULL && g_subprocess_get_if_exited(proc) &&
	      g_subprocess_get_exit_status(proc) == 0;
	return out;
}

/* the last line of the script's output, which must have succeeded */
static JsonNode *
script_summary(const Scenario *scenario, const gchar *out, gboolean ok)
{
	g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
	const gchar *last = NULL;
	if (!ok)
		g_error("node %s %s failed:\n%s",
			scenario->script,
			scenario->arg != NULL ? scenario->arg : "",
			out);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (lines[i][0] != '\0')
			last = lines[i];
	}
	g_assert_nonnull(last);
	return herald_test_parse_json(last);
}

/* GET /stats; NULL if the daemon does not answer */
static JsonNode *
get_stats(HeraldTestDaemon *daemon)
{
	g_autofree gchar *url = g_strdup_printf("%s/stats", daemon->base_url);
	g_autofree gchar *out = NULL;
	if (herald_test_http("GET", url, NULL, NULL, NULL, 0, &out, NULL) != 200 || out == NULL)
		return NULL;
	return herald_test_parse_json(out);
}

/* stops heraldd before anything is asserted, so that a failed assertion never
 * leaves a daemon behind; its log goes to stderr when something went wrong */
static gint
stop_daemon(HeraldTestDaemon *daemon, gboolean script_ok)
{
	gint status = herald_test_daemon_stop(daemon);
	if (!script_ok && status == 0) {
		g_autofree gchar *log = herald_test_daemon_get_log(daemon);
		g_printerr("heraldd log:\n%s\n", log);
	}
	return status;
}

static gint64
stat_int(JsonNode *stats, const gchar *key)
{
	g_autofree gchar *path = g_strdup_printf("plugins.ws-rooms.%s", key);
	return herald_test_json_get_int(stats, path);
}

/* a counter of a stats object, 0 when absent (counters appear on first use) */
static gint64
stat_counter(JsonNode *stats, const gchar *object, const gchar *key)
{
	JsonObject *ws = json_object_get_object_member(
	    json_object_get_object_member(json_node_get_object(stats), "plugins"),
	    "ws-rooms");
	JsonObject *obj = json_object_get_object_member(ws, object);
	g_assert_nonnull(obj);
	if (!json_object_has_member(obj, key))
		return 0;
	return json_object_get_int_member(obj, key);
}

static gboolean
summary_bool(JsonNode *summary, const gchar *member)
{
	JsonObject *obj = json_node_get_object(summary);
	g_assert_true(json_object_has_member(obj, member));
	return json_object_get_boolean_member(obj, member);
}

static void
scenario_func(gconstpointer data)
{
	const Scenario *scenario = data;
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(JsonNode) summary = NULL;
	g_autoptr(JsonNode) stats = NULL;
	g_autofree gchar *out = NULL;
	gboolean ok = FALSE;
	gint status;

	/* fail before starting anything when node or the clients are missing */
	g_free(herald_test_node_modules_dir());
	herald_test_node_program();
	daemon = start_daemon(scenario->config);
	proc = spawn_script(daemon, scenario);
	out = finish_script(scenario, proc, NULL, &ok);
	stats = get_stats(daemon);
	/* a clean exit, LeakSanitizer's verdict included */
	status = stop_daemon(daemon, ok);

	summary = script_summary(scenario, out, ok);
	g_assert_true(summary_bool(summary, "ok"));
	g_assert_cmpint(status, ==, 0);
	/* every client is gone (the scripts wait for it) and counted as closed */
	g_assert_nonnull(stats);
	g_assert_cmpint(stat_int(stats, "sessions"), ==, 0);
	g_assert_cmpint(stat_int(stats, "connections_by_protocol.plain"), ==, 0);
	g_assert_cmpint(stat_int(stats, "connections_by_protocol.socketio"), ==, 0);
	g_assert_cmpint(herald_test_json_get_int(stats, "connected_users"), ==, 0);
	/* well-behaved clients never hit an ended session (a polling client's
	 * last `1` after its `41` included) */
	g_assert_cmpint(stat_counter(stats, "rejected_total", "unknown_sid"), ==, 0);
	scenario->check(summary, stats);
}

/* a graceful restart: SIGTERM once the script's clients are connected, then
 * a new heraldd on the same port, to which every client must come back */
static void
shutdown_func(void)
{
	static const Scenario scenario = {"shutdown.js", NULL, NULL, NULL};
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GDataInputStream) input = NULL;
	g_autoptr(GString) head = g_string_new(NULL);
	g_autoptr(JsonNode) summary = NULL;
	g_autoptr(JsonNode) stats = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *first_log = NULL;
	gboolean ok = FALSE;
	gint first_status;
	gint status;

	g_free(herald_test_node_modules_dir());
	herald_test_node_program();
	daemon = start_daemon(NULL);
	proc = spawn_script(daemon, &scenario);
	input = g_data_input_stream_new(g_subprocess_get_stdout_pipe(proc));
	for (;;) {
		g_autoptr(GError) error_read = NULL;
		g_autofree gchar *line =
		    g_data_input_stream_read_line_utf8(input, NULL, NULL, &error_read);
		if (line == NULL)
			break;
		g_string_append_printf(head, "%s\n", line);
		if (g_strcmp0(line, "ready") == 0)
			break;
	}
	/* SIGTERM in any case: the script fails if it was not ready */
	herald_test_daemon_signal(daemon, SIGTERM);
	first_status = herald_test_daemon_wait(daemon, 60000);
	first_log = herald_test_daemon_get_log(daemon);
	/* the next instance on the same port, as a restart by systemd would */
	g_clear_object(&daemon->process);
	if (!herald_test_daemon_start(daemon, &error))
		g_error("restarting heraldd: %s", error->message);
	out = finish_script(&scenario, proc, head->str, &ok);
	stats = get_stats(daemon);
	status = herald_test_daemon_stop(daemon);
	if (first_status != 0 || status != 0 || !ok) {
		g_autofree gchar *log = herald_test_daemon_get_log(daemon);
		g_printerr("first heraldd exited with %d; log:\n%s\n", first_status, first_log);
		g_printerr("second heraldd exited with %d; log:\n%s\n", status, log);
	}
	summary = script_summary(&scenario, out, ok);
	g_assert_true(g_str_has_suffix(head->str, "ready\n"));
	g_assert_true(summary_bool(summary, "ok"));
	g_assert_cmpint(herald_test_json_get_int(summary, "plain"), ==, 1012);
	g_assert_cmpstr(herald_test_json_get_string(summary, "polling"), ==, "transport close");
	g_assert_cmpstr(herald_test_json_get_string(summary, "websocket"), ==, "transport close");
	g_assert_cmpstr(herald_test_json_get_string(summary, "default"), ==, "transport close");
	g_assert_cmpint(herald_test_json_get_int(summary, "reconnected"), ==, 6);
	/* the second instance saw the six come back and leave */
	g_assert_nonnull(stats);
	g_assert_cmpint(stat_int(stats, "sessions"), ==, 0);
	g_assert_cmpint(stat_int(stats, "accepted_plain_total"), ==, 1);
	g_assert_cmpint(stat_int(stats, "closes_total.client"), ==, 6);
	g_assert_cmpint(stat_counter(stats, "rejected_total", "unknown_sid"), ==, 0);
	/* clean exits, LeakSanitizer included */
	g_assert_cmpint(first_status, ==, 0);
	g_assert_cmpint(status, ==, 0);
}

/* ------------------------------------------------------------ checks */

static void
check_plain(JsonNode *summary, JsonNode *stats)
{
	g_assert_cmpint(herald_test_json_get_int(summary, "connections"), ==, 5);
	g_assert_cmpint(herald_test_json_get_int(summary, "solicitud_created.admin"), ==, 1);
	g_assert_cmpint(herald_test_json_get_int(summary, "solicitud_created.client"), ==, 0);
	g_assert_cmpint(stat_int(stats, "accepted_plain_total"), ==, 5);
	g_assert_cmpint(stat_int(stats, "accepted_socketio_websocket_total"), ==, 0);
	g_assert_cmpint(stat_int(stats, "closes_total.client"), ==, 5);
	g_assert_cmpint(stat_int(stats, "subscribes_total"), ==, 2);
	g_assert_cmpint(stat_int(stats, "subscribes_refused_total"), ==, 2);
}

static void
check_sio_default(JsonNode *summary, JsonNode *stats)
{
	g_assert_cmpstr(herald_test_json_get_string(summary, "started"), ==, "polling");
	g_assert_cmpstr(herald_test_json_get_string(summary, "final_transport"), ==, "websocket");
	/* both sessions upgraded to a WebSocket */
	g_assert_cmpint(stat_int(stats, "accepted_socketio_websocket_total"), ==, 2);
	g_assert_cmpint(stat_int(stats, "closes_total.client"), ==, 3);
}

static void
check_sio_websocket(JsonNode *summary, JsonNode *stats)
{
	g_assert_cmpstr(herald_test_json_get_string(summary, "started"), ==, "websocket");
	g_assert_cmpstr(herald_test_json_get_string(summary, "final_transport"), ==, "websocket");
	g_assert_cmpint(stat_int(stats, "accepted_socketio_websocket_total"), ==, 2);
	g_assert_cmpint(stat_int(stats, "closes_total.client"), ==, 3);
}

static void
check_sio_polling(JsonNode *summary, JsonNode *stats)
{
	g_assert_cmpstr(herald_test_json_get_string(summary, "started"), ==, "polling");
	g_assert_cmpstr(herald_test_json_get_string(summary, "final_transport"), ==, "polling");
	g_assert_cmpint(stat_int(stats, "accepted_socketio_websocket_total"), ==, 0);
	g_assert_cmpint(stat_int(stats, "closes_total.client"), ==, 3);
}

static void
check_sio_busy(JsonNode *summary, JsonNode *stats)
{
	const gchar *modes[] = {"default", "websocket", "polling"};
	for (guint i = 0; i < G_N_ELEMENTS(modes); i++) {
		g_autofree gchar *received = g_strdup_printf("%s.received", modes[i]);
		g_autofree gchar *pings = g_strdup_printf("%s.pings", modes[i]);
		g_assert_cmpint(herald_test_json_get_int(summary, received), >=, 50);
		g_assert_cmpint(herald_test_json_get_int(summary, pings), >=, 8);
	}
	g_assert_cmpint(stat_int(stats, "closes_total.timeout"), ==, 0);
	g_assert_cmpint(stat_int(stats, "closes_total.client"), ==, 3);
}

static void
check_limits(JsonNode *summary, JsonNode *stats)
{
	g_assert_cmpint(herald_test_json_get_int(summary, "plain_flood.code"), ==, 4429);
	g_assert_cmpint(herald_test_json_get_int(summary, "plain_oversize"), ==, 1009);
	g_assert_cmpstr(herald_test_json_get_string(summary, "sio_flood_polling"),
			==,
			"io server disconnect");
	g_assert_cmpint(stat_int(stats, "closes_total.rate_limited"), ==, 3);
	g_assert_cmpint(stat_int(stats, "closes_total.too_big"), ==, 3);
	g_assert_cmpint(stat_int(stats, "closes_total.timeout"), <=, 1);
}

static void
check_origins(JsonNode *summary, JsonNode *stats)
{
	g_assert_cmpint(herald_test_json_get_int(summary, "plain_bad"), ==, 403);
	g_assert_cmpint(stat_counter(stats, "rejected_total", "origin"), ==, 5);
	g_assert_cmpint(stat_int(stats, "closes_total.timeout"), ==, 1);
}

static void
check_refusal(JsonNode *summary, JsonNode *stats)
{
	g_assert_cmpint(stat_int(stats, "rejected_total.invalid_token"), ==, 6);
	g_assert_cmpint(stat_int(stats, "rejected_total.token_expired"), ==, 3);
	g_assert_cmpint(stat_int(stats, "rejected_total.missing_token"), ==, 3);
	g_assert_cmpint(stat_int(stats, "accepted_plain_total"), ==, 0);
}

static void
check_reserved(JsonNode *summary, JsonNode *stats)
{
	g_assert_cmpint(herald_test_json_get_int(summary, "plain_received"), ==, 6);
	g_assert_cmpint(stat_int(stats, "drops_reserved_name_total"), ==, 12);
}

static void
check_forbidden(JsonNode *summary, JsonNode *stats)
{
	g_assert_cmpint(stat_int(stats, "subscribes_refused_total"), ==, 7);
	g_assert_cmpint(stat_int(stats, "subscribes_total"), ==, 1);
}

static void
check_expiry(JsonNode *summary, JsonNode *stats)
{
	g_assert_cmpstr(herald_test_json_get_string(summary, "websocket"),
			==,
			"io server disconnect");
	g_assert_cmpstr(herald_test_json_get_string(summary, "polling"),
			==,
			"io server disconnect");
	g_assert_cmpint(herald_test_json_get_int(summary, "plain"), ==, 4408);
	g_assert_cmpint(herald_test_json_get_int(summary, "refreshed_alive"), ==, 2);
	g_assert_cmpint(stat_int(stats, "closes_total.token_expired"), ==, 4);
}

static void
check_slow_consumer(JsonNode *summary, JsonNode *stats)
{
	g_assert_cmpint(herald_test_json_get_int(summary, "slow_close_code"), ==, 4008);
	g_assert_cmpint(herald_test_json_get_int(summary, "fast_received"),
			==,
			herald_test_json_get_int(summary, "published"));
	g_assert_cmpint(stat_int(stats, "closes_total.slow_consumer"), ==, 1);
	g_assert_cmpint(stat_int(stats, "drops_slow_consumer_total"), ==, 1);
}

static void
check_slow_reader(JsonNode *summary, JsonNode *stats)
{
	g_assert_cmpint(herald_test_json_get_int(summary, "slow_close_code"), ==, 4008);
	g_assert_cmpint(herald_test_json_get_int(summary, "sio_close_code"), ==, 4008);
	g_assert_cmpstr(herald_test_json_get_string(summary, "sio_reason"), ==, "transport close");
	g_assert_cmpint(herald_test_json_get_int(summary, "fast_received"),
			==,
			herald_test_json_get_int(summary, "published"));
	/* the two slow readers and the one that never reads */
	g_assert_cmpint(stat_int(stats, "closes_total.slow_consumer"), ==, 3);
	g_assert_cmpint(stat_int(stats, "drops_slow_consumer_total"), ==, 3);
	/* the one that never reads, cut at close-timeout-ms */
	g_assert_cmpint(stat_int(stats, "close_timeouts_total"), ==, 1);
	g_assert_cmpint(herald_test_json_get_int(summary, "close_timeouts"), ==, 1);
	g_test_message("slow readers at %" G_GINT64_FORMAT " B/s read %" G_GINT64_FORMAT
		       " bytes in %" G_GINT64_FORMAT " ms before their 4008",
		       herald_test_json_get_int(summary, "rate"),
		       herald_test_json_get_int(summary, "slow_read_bytes"),
		       herald_test_json_get_int(summary, "slow_close_ms"));
}

static void
check_max_connections(JsonNode *summary, JsonNode *stats)
{
	g_assert_cmpint(herald_test_json_get_int(summary, "full_plain"), ==, 503);
	g_assert_cmpint(stat_int(stats, "rejected_total.server_full"), ==, 6);
}

static void
check_fanout(JsonNode *summary, JsonNode *stats)
{
	gint64 expected = herald_test_json_get_int(summary, "deliveries_expected");
	g_assert_cmpint(herald_test_json_get_int(summary, "clients"), ==, 200);
	g_assert_cmpint(expected, >, 0);
	g_assert_cmpint(herald_test_json_get_int(summary, "deliveries_received"), ==, expected);
	g_assert_cmpint(stat_int(stats, "delivered_total"), ==, expected);
	g_assert_cmpint(stat_int(stats, "accepted_plain_total"), ==, 100);
	g_assert_cmpint(stat_int(stats, "accepted_socketio_websocket_total"), ==, 100);
	g_assert_cmpint(stat_int(stats, "closes_total.client"), ==, 200);
	g_assert_cmpint(stat_int(stats, "writer_threads"), ==, 2);
	g_assert_cmpint(stat_int(stats, "parallel_write_passes_total"), >, 0);
	g_test_message("fan-out: %" G_GINT64_FORMAT " clients, %" G_GINT64_FORMAT
		       " events, %" G_GINT64_FORMAT " deliveries expected and received in %"
		       G_GINT64_FORMAT " ms (connect %" G_GINT64_FORMAT " ms)",
		       herald_test_json_get_int(summary, "clients"),
		       herald_test_json_get_int(summary, "events"),
		       expected,
		       herald_test_json_get_int(summary, "deliver_ms"),
		       herald_test_json_get_int(summary, "connect_ms"));
}

static void
check_refresh(JsonNode *summary, JsonNode *stats)
{
	g_assert_cmpstr(herald_test_json_get_string(summary, "left_plain"), ==, "admin,user_999");
	g_assert_cmpstr(herald_test_json_get_string(summary, "left_sio"), ==, "admin,user_999");
	g_assert_true(summary_bool(summary, "rejoined"));
	g_assert_cmpint(herald_test_json_get_int(summary, "seller_old_after_refresh"), ==, 0);
	g_assert_cmpint(stat_int(stats, "closes_total.unauthorized"), ==, 0);
	/* 3 accepted and 1 refused per protocol; admin + user_999, then client */
	g_assert_cmpint(stat_int(stats, "refreshes_total"), ==, 6);
	g_assert_cmpint(stat_int(stats, "refreshes_refused_total"), ==, 2);
	g_assert_cmpint(stat_int(stats, "refresh_rooms_left_total"), ==, 6);
}

static void
check_pending_flood(JsonNode *summary, JsonNode *stats)
{
	g_assert_cmpint(herald_test_json_get_int(summary, "pending_after_flood"), <=, 100);
	g_assert_cmpint(herald_test_json_get_int(summary, "evicted"), >=, 1900);
	g_assert_cmpint(stat_int(stats, "pending_evicted_total"), >=, 1900);
	g_assert_cmpint(stat_int(stats, "pending_sessions"), ==, 0);
	g_assert_cmpint(stat_int(stats, "closes_total.server_full"), >=, 1900);
}

/* the conformance issue: seeds 001, 002 and 003 replayed */
static void
check_conformance(JsonNode *summary, JsonNode *stats)
{
	JsonArray *presence =
	    json_object_get_array_member(json_node_get_object(summary), "watcher_presence");
	const gchar *expected[] = {"user_joined a", "user_joined b", "user_left b", "user_left a"};

	g_assert_cmpint(herald_test_json_get_int(summary, "invalid_user_total"), ==, 7);
	g_assert_cmpint(herald_test_json_get_int(stats, "route_invalid_user_total"), ==, 7);
	g_assert_cmpint(herald_test_json_get_int(summary, "sio_pongs"), ==, 2);
	g_assert_cmpint(herald_test_json_get_int(summary, "plain_pongs"), ==, 1);
	g_assert_cmpuint(json_array_get_length(presence), ==, G_N_ELEMENTS(expected));
	for (guint i = 0; i < G_N_ELEMENTS(expected); i++)
		g_assert_cmpstr(json_array_get_string_element(presence, i), ==, expected[i]);
	/* b and a in solicitud_sol-123, the two ping users in solicitud_1 and
	 * the watcher at the end: every (user, room) departure, seen or not */
	g_assert_cmpint(stat_int(stats, "user_left_total"), ==, 5);
}

/* the conformance issue: protocol details of the official clients */
static void
check_protocol_conformance(JsonNode *summary, JsonNode *stats)
{
	g_assert_cmpint(herald_test_json_get_int(summary, "polling.requests"), >=, 200);
	g_assert_cmpint(herald_test_json_get_int(summary, "polling.with_close"), >=, 60);
	g_assert_cmpint(herald_test_json_get_int(summary, "fetched.with_close"), ==, 66);
	g_assert_cmpint(herald_test_json_get_int(summary, "methods.PUT"), ==, 400);
	g_assert_cmpint(herald_test_json_get_int(summary, "disconnect.raw"), ==, 1000);
	g_assert_cmpint(stat_int(stats, "rejected_total.handshake_method"), ==, 3);
	g_assert_cmpint(stat_int(stats, "closes_total.timeout"), ==, 0);
	g_test_message("heartbeat at the client, ping-interval-ms=100: intervals beyond 100 ms "
		       "min %.2f mean %.2f max %.2f ms",
		       json_object_get_double_member(
			   json_object_get_object_member(json_node_get_object(summary), "heartbeat"),
			   "min_late_ms"),
		       json_object_get_double_member(
			   json_object_get_object_member(json_node_get_object(summary), "heartbeat"),
			   "mean_late_ms"),
		       json_object_get_double_member(
			   json_object_get_object_member(json_node_get_object(summary), "heartbeat"),
			   "max_late_ms"));
}

static const Scenario scenarios[] = {
    {"plain-protocol.js", NULL, NULL, check_plain},
    {"sio-client.js", "default", NULL, check_sio_default},
    {"sio-client.js", "websocket", NULL, check_sio_websocket},
    {"sio-client.js", "polling", NULL, check_sio_polling},
    /* many server pings in a short test; a generous pong deadline */
    {"sio-busy.js", NULL, "ping-interval-ms=200\nping-timeout-ms=5000\n", check_sio_busy},
    /* a session whose POST was refused (413) may end at its ping timeout */
    {"limits.js", NULL, "ping-interval-ms=1000\nping-timeout-ms=3000\n", check_limits},
    {"origins.js",
     NULL,
     "allowed-origins=https://app.example.com\nconnect-timeout-ms=3000\n",
     check_origins},
    {"sio-refusal.js", NULL, NULL, check_refusal},
    {"sio-reserved.js", NULL, NULL, check_reserved},
    {"sio-forbidden.js", NULL, NULL, check_forbidden},
    {"sio-expiry.js", NULL, NULL, check_expiry},
    /* claim filters as stats-filter uses them (seller_id) */
    {"refresh.js",
     NULL,
     "[route seller-stats]\nchannels=seller.stats\nfilters=seller_id={seller_id}\nevent={type}\n",
     check_refresh},
    /* small buffer; a long closing handshake so the paused client, reading
     * again, still gets the close frame */
    {"slow-consumer.js",
     NULL,
     "outgoing-buffer-bytes=262144\nclose-timeout-ms=30000\n",
     check_slow_consumer},
    /* the defaults that matter (outgoing-buffer-bytes, close-timeout-ms,
     * socket-send-buffer-bytes): readers at 200 KB/s still get their 4008 */
    {"slow-reader.js",
     "204800",
     "outgoing-buffer-bytes=1048576\nclose-timeout-ms=2000\nsocket-send-buffer-bytes=auto\n",
     check_slow_reader},
    {"max-connections.js",
     NULL,
     "max-connections=4\nmax-connections-per-user=2\n",
     check_max_connections},
    /* the write pass on three threads, whatever this machine's CPU count */
    {"fanout.js", NULL, "writer-threads=2\n", check_fanout},
    /* the total budget evicts (not the per-address one: all from 127.0.0.1);
     * the flood's last 100 end at the connect timeout */
    {"sio-pending-flood.js",
     NULL,
     "max-pending=100\nmax-pending-per-address=100000\nconnect-timeout-ms=3000\n"
     "close-timeout-ms=2000\n",
     check_pending_flood},
    /* seed 002's tokens carry the user in userID */
    {"conformance.js", NULL, "[auth]\nuser-claim=sub;user_id;userID\n", check_conformance},
    /* short pings: their timing is measured; keep-alive agents, methods, 41 */
    {"protocol-conformance.js", NULL, "ping-interval-ms=100\nping-timeout-ms=5000\n", check_protocol_conformance},
};

static const gchar *paths[] = {
    "/ws-rooms/node/plain",
    "/ws-rooms/node/socketio-default",
    "/ws-rooms/node/socketio-websocket",
    "/ws-rooms/node/socketio-polling",
    "/ws-rooms/node/socketio-busy-heartbeat",
    "/ws-rooms/node/limits",
    "/ws-rooms/node/origins",
    "/ws-rooms/node/refusal",
    "/ws-rooms/node/reserved-names",
    "/ws-rooms/node/forbidden-subscribe",
    "/ws-rooms/node/token-expiry",
    "/ws-rooms/node/refresh",
    "/ws-rooms/node/slow-consumer",
    "/ws-rooms/node/slow-reader-200k",
    "/ws-rooms/node/max-connections",
    "/ws-rooms/node/fan-out",
    "/ws-rooms/node/socketio-pending-flood",
    "/ws-rooms/node/conformance",
    "/ws-rooms/node/protocol-conformance",
};

G_STATIC_ASSERT(G_N_ELEMENTS(scenarios) == G_N_ELEMENTS(paths));

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(scenarios); i++)
		g_test_add_data_func(paths[i], &scenarios[i], scenario_func);
	g_test_add_func("/ws-rooms/node/shutdown", shutdown_func);
	return g_test_run();
}
