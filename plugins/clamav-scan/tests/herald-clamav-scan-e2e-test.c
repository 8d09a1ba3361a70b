/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * clamav-scan inside heraldd against a real clamd started by the harness. The
 * test-only plugin clamav-scan-probe issues the bus scan request (as files-minio
 * does) from POST /test/clamav-scan.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <sys/stat.h>

#include "herald-test-util.h"

#define TESTFILES "/usr/share/clamav-testfiles"

static HeraldTestServer *shared_clamd = NULL;

static HeraldTestDaemon *
start_daemon(const gchar *clamav_config)
{
	g_autofree gchar *extra = g_strdup_printf("[host]\n"
						  "plugins=clamav-scan;clamav-scan-probe\n"
						  "[clamav-scan]\n"
						  "%s\n",
						  clamav_config);
	HeraldTestDaemon *daemon = herald_test_daemon_new(extra);
	g_autoptr(GError) error = NULL;
	if (!herald_test_daemon_start(daemon, &error))
		g_error("%s", error->message);
	return daemon;
}

static HeraldTestDaemon *
start_daemon_for(HeraldTestServer *clamd, const gchar *more)
{
	g_autofree gchar *cfg =
	    g_strdup_printf("address=tcp:127.0.0.1:%u\n%s", clamd->port, more != NULL ? more : "");
	return start_daemon(cfg);
}

/* asynchronous, so that a GSocketService of this process is served meanwhile */
typedef struct {
	SoupSession *session;
	SoupMessage *msg;
	GBytes *body;
	GError *error;
	gboolean done;
} ProbeCall;

static void
probe_call_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	ProbeCall *call = user_data;
	call->body = soup_session_send_and_read_finish(SOUP_SESSION(source), res, &call->error);
	call->done = TRUE;
	herald_test_loop_quit();
}

static ProbeCall *
probe_start(HeraldTestDaemon *daemon, const gchar *path, guint count)
{
	ProbeCall *call = g_new0(ProbeCall, 1);
	g_autofree gchar *url = g_strdup_printf("%s/test/clamav-scan", daemon->base_url);
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *json = NULL;
	g_autoptr(GBytes) req = NULL;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "path");
	json_builder_add_string_value(builder, path);
	json_builder_set_member_name(builder, "count");
	json_builder_add_int_value(builder, count);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	json = json_to_string(root, FALSE);
	req = g_bytes_new(json, strlen(json));
	call->session = soup_session_new_with_options("timeout", 600, NULL);
	call->msg = soup_message_new("POST", url);
	soup_message_set_request_body_from_bytes(call->msg, "application/json", req);
	soup_session_send_and_read_async(
	    call->session, call->msg, G_PRIORITY_DEFAULT, NULL, probe_call_cb, call);
	return call;
}

/* the array of results */
static JsonNode *
probe_finish(ProbeCall *call)
{
	g_autofree gchar *text = NULL;
	JsonNode *node;

	while (!call->done)
		herald_test_loop_run_with_timeout(600000);
	g_assert_no_error(call->error);
	g_assert_cmpuint(soup_message_get_status(call->msg), ==, 200);
	text = g_strndup(g_bytes_get_data(call->body, NULL), g_bytes_get_size(call->body));
	node = herald_test_parse_json(text);
	g_assert_true(json_object_get_boolean_member(json_node_get_object(node), "handled"));
	g_bytes_unref(call->body);
	g_object_unref(call->msg);
	g_object_unref(call->session);
	g_free(call);
	return node;
}

typedef struct {
	gchar *verdict;
	gchar *signature;
	gchar *reason;
} Verdict;

static void
verdict_free(Verdict *v)
{
	g_free(v->verdict);
	g_free(v->signature);
	g_free(v->reason);
	g_free(v);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Verdict, verdict_free)

static Verdict *
verdict_from_json(JsonNode *results, guint i)
{
	JsonArray *array = json_object_get_array_member(json_node_get_object(results), "results");
	JsonObject *obj = json_array_get_object_element(array, i);
	Verdict *v = g_new0(Verdict, 1);
	v->verdict = g_strdup(json_object_get_string_member_with_default(obj, "verdict", NULL));
	v->signature = g_strdup(json_object_get_string_member_with_default(obj, "signature", NULL));
	v->reason = g_strdup(json_object_get_string_member_with_default(obj, "reason", NULL));
	g_test_message("verdict %s signature %s reason %s", v->verdict, v->signature, v->reason);
	return v;
}

static Verdict *
scan(HeraldTestDaemon *daemon, const gchar *path)
{
	g_autoptr(JsonNode) node = probe_finish(probe_start(daemon, path, 1));
	return verdict_from_json(node, 0);
}

static void
assert_infected(HeraldTestDaemon *daemon, const gchar *path, const gchar *signature_part)
{
	g_autoptr(Verdict) v = scan(daemon, path);
	g_assert_cmpstr(v->verdict, ==, "infected");
	g_assert_nonnull(v->signature);
	if (strstr(v->signature, signature_part) == NULL)
		g_error("%s: signature '%s' lacks '%s'", path, v->signature, signature_part);
	g_assert_null(v->reason);
}

static void
assert_clean(HeraldTestDaemon *daemon, const gchar *path)
{
	g_autoptr(Verdict) v = scan(daemon, path);
	g_assert_cmpstr(v->verdict, ==, "clean");
	g_assert_null(v->signature);
	g_assert_null(v->reason);
}

static void
assert_error(HeraldTestDaemon *daemon, const gchar *path, const gchar *reason_part)
{
	g_autoptr(Verdict) v = scan(daemon, path);
	g_assert_cmpstr(v->verdict, ==, "error");
	g_assert_nonnull(v->reason);
	if (strstr(v->reason, reason_part) == NULL)
		g_error("%s: reason '%s' lacks '%s'", path, v->reason, reason_part);
}

static JsonNode *
get_json(HeraldTestDaemon *daemon, const gchar *path)
{
	g_autofree gchar *url = g_strdup_printf("%s%s", daemon->base_url, path);
	g_autofree gchar *body = NULL;
	guint status = herald_test_http("GET", url, NULL, NULL, NULL, 0, &body, NULL);
	g_assert_cmpuint(status, <, 600);
	return herald_test_parse_json(body);
}

static gchar *
plugin_state(HeraldTestDaemon *daemon, gchar **reason)
{
	g_autoptr(JsonNode) health = get_json(daemon, "/health");
	if (reason != NULL)
		*reason = g_strdup(herald_test_json_get_string(health, "errors.clamav-scan"));
	return g_strdup(herald_test_json_get_string(health, "plugins.clamav-scan"));
}

/* poll /health, iterating this process's main context meanwhile */
static gchar *
wait_state(HeraldTestDaemon *daemon, const gchar *state, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	for (;;) {
		g_autofree gchar *reason = NULL;
		g_autofree gchar *now = plugin_state(daemon, &reason);
		if (g_strcmp0(now, state) == 0)
			return g_steal_pointer(&reason);
		if (g_get_monotonic_time() > deadline)
			g_error("clamav-scan stayed '%s' (%s), expected '%s'", now, reason, state);
		while (g_main_context_iteration(NULL, FALSE))
			;
		g_usleep(50000);
	}
}

static guint64
stat_label(JsonNode *stats, const gchar *key, const gchar *label)
{
	g_autofree gchar *path = g_strdup_printf("plugins.clamav-scan.%s.%s", key, label);
	return (guint64)herald_test_json_get_int(stats, path);
}

static gchar *
write_sized_file(const gchar *dir, const gchar *name, gsize size, guint32 seed)
{
	g_autofree gchar *fn = g_build_filename(dir, name, NULL);
	g_autofree guint8 *data = g_malloc(size > 0 ? size : 1);
	g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
	g_autoptr(GError) error = NULL;
	for (gsize i = 0; i < size; i++)
		data[i] = (guint8)g_rand_int(rand);
	g_assert_true(g_file_set_contents(fn, (const gchar *)data, (gssize)size, &error));
	g_assert_no_error(error);
	return g_steal_pointer(&fn);
}

static void
assert_stops_cleanly(HeraldTestDaemon *daemon)
{
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

/* verdicts for EICAR, clean and empty files and clamav-testfiles archives */
static void
test_verdicts(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon_for(shared_clamd, NULL);
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *eicar = herald_test_eicar();
	g_autofree gchar *eicar_fn = herald_test_write_file(dir, "eicar.com", eicar);
	g_autofree gchar *clean_fn = herald_test_write_file(dir, "offer.csv", "id;price\n1;20\n");
	g_autofree gchar *empty_fn = herald_test_write_file(dir, "empty.csv", "");
	g_autofree gchar *embedded_fn = NULL;
	g_autofree gchar *fifo_fn = g_build_filename(dir, "fifo.csv", NULL);
	g_autoptr(JsonNode) stats = NULL;
	g_autofree gchar *state = NULL;

	/* EICAR across the first chunk boundary (64 KiB) of a larger file */
	{
		gsize size = 200000;
		gsize at = 65536 - 30;
		g_autofree gchar *data = g_malloc0(size);
		g_autoptr(GError) error = NULL;
		memset(data, 'a', size);
		memcpy(data + at, eicar, strlen(eicar));
		embedded_fn = g_build_filename(dir, "embedded.bin", NULL);
		g_assert_true(g_file_set_contents(embedded_fn, data, (gssize)size, &error));
		g_assert_no_error(error);
	}

	assert_infected(daemon, eicar_fn, "EICAR");
	assert_infected(daemon, embedded_fn, "EICAR");
	assert_clean(daemon, clean_fn);
	assert_clean(daemon, empty_fn);
	assert_infected(daemon, TESTFILES "/clam.exe", "ClamExe");
	assert_infected(daemon, TESTFILES "/clam.zip", "ClamExe");
	assert_infected(daemon, TESTFILES "/clam.7z", "ClamExe");
	assert_infected(daemon, TESTFILES "/clam.tar.gz", "ClamExe");
	assert_error(daemon, "/nonexistent/file.csv", "cannot open file");
	/* a reader thread must never block on a FIFO */
	g_assert_cmpint(mkfifo(fifo_fn, 0600), ==, 0);
	assert_error(daemon, fifo_fn, "not a regular file");
	assert_error(daemon, dir, "not a regular file");
	assert_error(daemon, "relative/file.csv", "not an absolute path");

	state = plugin_state(daemon, NULL);
	g_assert_cmpstr(state, ==, "running");
	stats = get_json(daemon, "/stats");
	g_assert_cmpuint(stat_label(stats, "scans_total", "infected"), ==, 6);
	g_assert_cmpuint(stat_label(stats, "scans_total", "clean"), ==, 2);
	g_assert_cmpuint(stat_label(stats, "scans_total", "error"), ==, 4);
	g_assert_cmpuint(stat_label(stats, "scan_errors_total", "file"), ==, 4);
	g_assert_cmpuint(stat_label(stats, "scan_errors_total", "unreachable"), ==, 0);
	g_assert_cmpint(
	    herald_test_json_get_int(stats, "plugins.clamav-scan.scans_in_flight"), ==, 0);
	g_assert_cmpint(
	    herald_test_json_get_int(stats, "plugins.clamav-scan.scan_queue_depth"), ==, 0);
	g_assert_cmpstr(herald_test_json_get_string(stats, "plugins.clamav-scan.scan_last_error"),
			==,
			"not an absolute path");
	g_assert_true(g_str_has_prefix(
	    herald_test_json_get_string(stats, "plugins.clamav-scan.clamd_version"), "ClamAV "));
	assert_stops_cleanly(daemon);
	herald_test_rm_rf(dir);
}

static void
test_unix_socket(void)
{
	g_autofree gchar *sock = herald_test_clamd_socket_path(shared_clamd);
	g_autofree gchar *cfg = g_strdup_printf("address=unix:%s\n", sock);
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(cfg);
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *eicar = herald_test_eicar();
	g_autofree gchar *eicar_fn = herald_test_write_file(dir, "eicar.txt", eicar);
	g_autofree gchar *clean_fn = herald_test_write_file(dir, "clean.txt", "hello\n");

	assert_infected(daemon, eicar_fn, "EICAR");
	assert_clean(daemon, clean_fn);
	assert_stops_cleanly(daemon);
	herald_test_rm_rf(dir);
}

/* over clamd's StreamMaxLength: clamd stops reading and answers; no hang */
static void
test_stream_max_length(void)
{
	g_autoptr(HeraldTestServer) clamd = herald_test_clamd_start("1M");
	g_autoptr(HeraldTestDaemon) daemon = start_daemon_for(clamd, NULL);
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *big = write_sized_file(dir, "big.bin", 8 * 1024 * 1024, 1);
	g_autofree gchar *small = write_sized_file(dir, "small.bin", 1000, 2);
	g_autofree gchar *state = NULL;

	assert_error(daemon, big, "size limit exceeded");
	/* the answer was read after the send had failed */
	g_assert_true(herald_test_daemon_wait_log(daemon, "); reading its answer", 10000));
	/* clamd answered: it is reachable, and the next scan works */
	state = plugin_state(daemon, NULL);
	g_assert_cmpstr(state, ==, "running");
	assert_clean(daemon, small);
	assert_stops_cleanly(daemon);
	herald_test_rm_rf(dir);
}

/* over max-stream-bytes: refused by the plugin itself */
static void
test_max_stream_bytes(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon_for(shared_clamd, "max-stream-bytes=100000\n");
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *big = write_sized_file(dir, "big.bin", 200000, 3);
	g_autofree gchar *fits = write_sized_file(dir, "fits.bin", 100000, 4);
	g_autoptr(JsonNode) stats = NULL;

	assert_error(daemon, big, "file larger than max-stream-bytes (100000)");
	assert_clean(daemon, fits);
	stats = get_json(daemon, "/stats");
	g_assert_cmpuint(stat_label(stats, "scan_errors_total", "too_large"), ==, 1);
	assert_stops_cleanly(daemon);
	herald_test_rm_rf(dir);
}

/* clamd stops: verdict error and degraded; back on the same port: running */
static void
test_clamd_down_and_back(void)
{
	g_autoptr(HeraldTestServer) clamd = herald_test_clamd_start("25M");
	g_autoptr(HeraldTestDaemon) daemon = start_daemon_for(clamd, "health-interval-s=1\n");
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *clean_fn = herald_test_write_file(dir, "clean.txt", "hello\n");
	g_autofree gchar *eicar = herald_test_eicar();
	g_autofree gchar *eicar_fn = herald_test_write_file(dir, "eicar.txt", eicar);
	g_autofree gchar *reason = NULL;
	g_autoptr(JsonNode) stats = NULL;

	g_free(wait_state(daemon, "running", 30000));
	assert_clean(daemon, clean_fn);

	herald_test_server_stop(clamd);
	assert_error(daemon, clean_fn, "clamd unreachable: ");
	reason = wait_state(daemon, "degraded", 30000);
	g_assert_nonnull(reason);
	g_assert_true(g_str_has_prefix(reason, "clamd unreachable: "));
	/* still answered, never a hang */
	assert_error(daemon, eicar_fn, "clamd unreachable: ");
	stats = get_json(daemon, "/stats");
	g_assert_cmpuint(stat_label(stats, "scan_errors_total", "unreachable"), ==, 2);

	herald_test_clamd_restart(clamd);
	g_free(wait_state(daemon, "running", 60000));
	/* the version is asked again once clamd is back */
	{
		gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
		for (;;) {
			g_autoptr(JsonNode) now = get_json(daemon, "/stats");
			const gchar *version =
			    herald_test_json_get_string(now, "plugins.clamav-scan.clamd_version");
			if (g_str_has_prefix(version != NULL ? version : "", "ClamAV "))
				break;
			g_assert_cmpint(g_get_monotonic_time(), <, deadline);
			g_usleep(50000);
		}
	}
	assert_clean(daemon, clean_fn);
	assert_infected(daemon, eicar_fn, "EICAR");
	assert_stops_cleanly(daemon);
	herald_test_rm_rf(dir);
}

static void
test_unreachable(void)
{
	/* a port nobody listens on */
	g_autofree gchar *cfg =
	    g_strdup_printf("address=tcp:127.0.0.1:%u\ntimeout-s=5\n", herald_test_free_port());
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(cfg);
	g_autofree gchar *reason = wait_state(daemon, "degraded", 30000);
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *fn = herald_test_write_file(dir, "a.txt", "a\n");

	g_assert_true(g_str_has_prefix(reason, "clamd unreachable: "));
	assert_error(daemon, fn, "clamd unreachable: ");
	assert_stops_cleanly(daemon);
	herald_test_rm_rf(dir);
}

/* SIGHUP picks up a new address; a bad one is refused, the old one stays */
static void
test_reload(void)
{
	g_autofree gchar *cfg = g_strdup_printf("address=tcp:127.0.0.1:%u\nhealth-interval-s=1\n",
						herald_test_free_port());
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(cfg);
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *eicar = herald_test_eicar();
	g_autofree gchar *eicar_fn = herald_test_write_file(dir, "eicar.txt", eicar);
	g_autofree gchar *orig = NULL;
	g_autofree gchar *good = NULL;
	g_autofree gchar *bad = NULL;
	g_autofree gchar *log = NULL;
	g_autoptr(GError) error = NULL;

	g_free(wait_state(daemon, "degraded", 30000));
	assert_error(daemon, eicar_fn, "clamd unreachable: ");

	g_assert_true(g_file_get_contents(daemon->config_file, &orig, NULL, &error));
	good = g_strdup_printf(
	    "%s\n[clamav-scan]\naddress=tcp:127.0.0.1:%u\n", orig, shared_clamd->port);
	g_assert_true(g_file_set_contents(daemon->config_file, good, -1, &error));
	herald_test_daemon_signal(daemon, SIGHUP);
	g_assert_true(herald_test_daemon_wait_log(daemon, "configuration reloaded", 10000));
	g_free(wait_state(daemon, "running", 30000));
	assert_infected(daemon, eicar_fn, "EICAR");

	bad = g_strdup_printf("%s\n[clamav-scan]\naddress=clamd\n", good);
	g_assert_true(g_file_set_contents(daemon->config_file, bad, -1, &error));
	herald_test_daemon_signal(daemon, SIGHUP);
	g_assert_true(herald_test_daemon_wait_log(daemon, "configuration not reloaded", 10000));
	log = herald_test_daemon_get_log(daemon);
	g_assert_nonnull(
	    strstr(log, ":clamav-scan:address: 'clamd' must start with tcp: or unix:"));
	assert_infected(daemon, eicar_fn, "EICAR");
	assert_stops_cleanly(daemon);
	herald_test_rm_rf(dir);
}

/* a server that accepts, reads everything and never answers */
typedef struct {
	GSocketService *service;
	guint16 port;
	guint accepted;
} SilentServer;

static void
silent_read_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GIOStream) conn = G_IO_STREAM(user_data);
	g_autoptr(GError) error = NULL;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, &error);
	static gchar sink[65536];
	if (n <= 0)
		return;
	g_input_stream_read_async(G_INPUT_STREAM(source),
				  sink,
				  sizeof(sink),
				  G_PRIORITY_DEFAULT,
				  NULL,
				  silent_read_cb,
				  g_steal_pointer(&conn));
}

static gboolean
silent_incoming_cb(GSocketService *service,
		   GSocketConnection *connection,
		   GObject *source_object,
		   gpointer user_data)
{
	SilentServer *server = user_data;
	static gchar sink[65536];
	server->accepted++;
	g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(connection)),
				  sink,
				  sizeof(sink),
				  G_PRIORITY_DEFAULT,
				  NULL,
				  silent_read_cb,
				  g_object_ref(connection));
	return TRUE;
}

static SilentServer *
silent_server_new(void)
{
	SilentServer *server = g_new0(SilentServer, 1);
	g_autoptr(GError) error = NULL;
	server->service = g_socket_service_new();
	server->port = herald_test_free_port();
	g_socket_listener_add_inet_port(
	    G_SOCKET_LISTENER(server->service), server->port, NULL, &error);
	g_assert_no_error(error);
	g_signal_connect(server->service, "incoming", G_CALLBACK(silent_incoming_cb), server);
	g_socket_service_start(server->service);
	return server;
}

static void
silent_server_free(SilentServer *server)
{
	g_socket_service_stop(server->service);
	g_socket_listener_close(G_SOCKET_LISTENER(server->service));
	g_object_unref(server->service);
	g_free(server);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SilentServer, silent_server_free)

static HeraldTestDaemon *
start_daemon_silent(SilentServer *server, const gchar *more)
{
	g_autofree gchar *cfg = g_strdup_printf("address=tcp:127.0.0.1:%u\n%s", server->port, more);
	return start_daemon(cfg);
}

static void
test_timeout(void)
{
	g_autoptr(SilentServer) server = silent_server_new();
	g_autoptr(HeraldTestDaemon) daemon = start_daemon_silent(server, "timeout-s=2\n");
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *fn = write_sized_file(dir, "a.bin", 300000, 5);
	g_autoptr(JsonNode) node = probe_finish(probe_start(daemon, fn, 1));
	g_autoptr(Verdict) v = verdict_from_json(node, 0);
	g_autofree gchar *reason = NULL;
	g_autoptr(JsonNode) stats = NULL;

	g_assert_cmpstr(v->verdict, ==, "error");
	g_assert_cmpstr(v->reason, ==, "timed out");
	g_assert_cmpuint(server->accepted, >=, 1);
	reason = wait_state(daemon, "degraded", 30000);
	g_assert_true(g_str_has_prefix(reason, "clamd unreachable: "));
	g_assert_nonnull(strstr(reason, "timed out"));
	stats = get_json(daemon, "/stats");
	g_assert_cmpuint(stat_label(stats, "scan_errors_total", "timed_out"), ==, 1);
	assert_stops_cleanly(daemon);
	herald_test_rm_rf(dir);
}

static gboolean
stats_show_busy_pool(HeraldTestDaemon *daemon)
{
	g_autoptr(JsonNode) stats = get_json(daemon, "/stats");
	return herald_test_json_get_int(stats, "plugins.clamav-scan.scans_in_flight") == 1 &&
	       herald_test_json_get_int(stats, "plugins.clamav-scan.scan_queue_depth") == 1;
}

/* pool-size 1 and queue-size 1: one runs, one waits, the rest are busy */
static void
test_pool_and_queue(void)
{
	g_autoptr(SilentServer) server = silent_server_new();
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon_silent(server, "timeout-s=4\npool-size=1\nqueue-size=1\n");
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *fn = herald_test_write_file(dir, "a.txt", "a\n");
	ProbeCall *call = probe_start(daemon, fn, 5);
	g_autoptr(JsonNode) node = NULL;
	gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
	gboolean seen = FALSE;
	g_autoptr(JsonNode) stats = NULL;

	/* the first holds its connection for timeout-s: long enough to look */
	while (!seen && !call->done && g_get_monotonic_time() < deadline) {
		while (g_main_context_iteration(NULL, FALSE))
			;
		seen = stats_show_busy_pool(daemon);
		if (!seen)
			g_usleep(20000);
	}
	g_assert_true(seen);
	node = probe_finish(call);
	for (guint i = 0; i < 5; i++) {
		g_autoptr(Verdict) v = verdict_from_json(node, i);
		g_assert_cmpstr(v->verdict, ==, "error");
		g_assert_cmpstr(v->reason, ==, i < 2 ? "timed out" : "busy");
	}
	stats = get_json(daemon, "/stats");
	g_assert_cmpuint(stat_label(stats, "scan_errors_total", "busy"), ==, 3);
	g_assert_cmpuint(stat_label(stats, "scan_errors_total", "timed_out"), ==, 2);
	assert_stops_cleanly(daemon);
	herald_test_rm_rf(dir);
}

/* SIGTERM during a scan: answered "shutting down", clean exit (LeakSanitizer) */
static void
test_shutdown_during_scan(void)
{
	g_autoptr(SilentServer) server = silent_server_new();
	g_autoptr(HeraldTestDaemon) daemon = start_daemon_silent(server, "timeout-s=600\n");
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *fn = herald_test_write_file(dir, "a.txt", "a\n");
	ProbeCall *call = probe_start(daemon, fn, 3);
	gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
	gboolean seen = FALSE;

	while (!seen && g_get_monotonic_time() < deadline) {
		g_autoptr(JsonNode) stats = NULL;
		while (g_main_context_iteration(NULL, FALSE))
			;
		stats = get_json(daemon, "/stats");
		seen = herald_test_json_get_int(stats, "plugins.clamav-scan.scans_in_flight") == 3;
		if (!seen)
			g_usleep(20000);
	}
	g_assert_true(seen);
	herald_test_daemon_signal(daemon, SIGTERM);
	/* the request may be answered before the listener closes, or cut */
	while (!call->done)
		herald_test_loop_run_with_timeout(60000);
	g_test_message("during shutdown: status %u, error %s",
		       soup_message_get_status(call->msg),
		       call->error != NULL ? call->error->message : "none");
	if (call->error == NULL && soup_message_get_status(call->msg) == 200) {
		g_autofree gchar *text =
		    g_strndup(g_bytes_get_data(call->body, NULL), g_bytes_get_size(call->body));
		g_test_message("answer during shutdown: %s", text);
		g_assert_nonnull(strstr(text, "shutting down"));
	}
	g_assert_cmpint(herald_test_daemon_wait(daemon, 60000), ==, 0);
	/* each of the three was answered (the HTTP side may be gone by then) */
	{
		g_autofree gchar *log = herald_test_daemon_get_log(daemon);
		g_auto(GStrv) parts = g_strsplit(log, "': error: shutting down", -1);
		g_assert_cmpuint(g_strv_length(parts), ==, 4);
	}
	g_clear_pointer(&call->body, g_bytes_unref);
	g_clear_error(&call->error);
	g_object_unref(call->msg);
	g_object_unref(call->session);
	g_free(call);
	herald_test_rm_rf(dir);
}

static gsize
read_status_kb(GPid pid, const gchar *field)
{
	g_autofree gchar *fn = g_strdup_printf("/proc/%d/status", (gint)pid);
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;
	g_assert_true(g_file_get_contents(fn, &text, NULL, NULL));
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix(lines[i], field))
			return (gsize)g_ascii_strtoull(lines[i] + strlen(field), NULL, 10);
	}
	g_assert_not_reached();
	return 0;
}

/* 50 concurrent scans of a 5 MB file, all connected at once: memory stays
 * flat (one chunk per scan), every verdict arrives */
static void
test_concurrent_memory(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon_for(shared_clamd, "pool-size=50\nqueue-size=0\ntimeout-s=600\n");
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *fn = write_sized_file(dir, "five.bin", 5 * 1000 * 1000, 6);
	const gchar *pid_str = g_subprocess_get_identifier(daemon->process);
	GPid pid = (GPid)g_ascii_strtoll(pid_str, NULL, 10);
	gsize rss_before;
	gsize hwm_before;
	gsize hwm_after;
	gint64 start;
	gdouble secs;
	g_autoptr(JsonNode) node = NULL;
	g_autoptr(JsonNode) stats = NULL;

	/* one scan first, so that lazily allocated state is counted in the baseline */
	assert_clean(daemon, fn);
	rss_before = read_status_kb(pid, "VmRSS:");
	hwm_before = read_status_kb(pid, "VmHWM:");
	start = g_get_monotonic_time();
	node = probe_finish(probe_start(daemon, fn, 50));
	secs = (gdouble)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
	hwm_after = read_status_kb(pid, "VmHWM:");
	for (guint i = 0; i < 50; i++) {
		g_autoptr(Verdict) v = verdict_from_json(node, i);
		g_assert_cmpstr(v->verdict, ==, "clean");
	}
	g_test_message("50 x 5 MB: %.2f s (%.1f MB/s); heraldd RSS before %zu kB, peak before %zu "
		       "kB, peak after %zu kB",
		       secs,
		       250.0 / secs,
		       rss_before,
		       hwm_before,
		       hwm_after);
	/* 50 whole-file buffers would be 250 MB; one 64 KiB chunk each is ~3 MB */
	g_assert_cmpuint(hwm_after, <, MAX(hwm_before, rss_before) + 100 * 1024);
	stats = get_json(daemon, "/stats");
	g_assert_cmpuint(stat_label(stats, "scans_total", "clean"), ==, 51);
	g_assert_cmpint(herald_test_json_get_int(stats, "plugins.clamav-scan.scan_bytes_total"),
			==,
			51 * 5 * 1000 * 1000);
	assert_stops_cleanly(daemon);
	herald_test_rm_rf(dir);
}

static void
check_config_case(const gchar *group_body, const gchar *expect)
{
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *cfg = g_strdup_printf("[host]\nplugins=clamav-scan\ndbus=none\n"
						"[clamav-scan]\n%s\n",
						group_body);
	g_autofree gchar *fn = herald_test_write_file(dir, "herald.conf", cfg);
	g_autofree gchar *located = g_strdup_printf("%s:clamav-scan:%s", fn, expect);
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	gchar *argv[] = {"--check-config", "--config", fn, NULL};

	g_assert_cmpint(herald_test_run_heraldd(argv, &out, &err, NULL), ==, 1);
	g_test_message("%s", err);
	if (strstr(err, located) == NULL)
		g_error("expected '%s' in:\n%s", located, err);
	herald_test_rm_rf(dir);
}

static void
test_check_config(void)
{
	check_config_case("address=127.0.0.1:3310",
			  "address: '127.0.0.1:3310' must start with tcp: or unix:");
	check_config_case("address=tcp:127.0.0.1:70000",
			  "address: port '70000' is not a number from 1 to 65535");
	check_config_case("address=tcp:127.0.0.1:0",
			  "address: port '0' is not a number from 1 to 65535");
	check_config_case("address=tcp:127.0.0.1", "address: 'tcp:127.0.0.1' is not tcp:HOST:PORT");
	check_config_case("address=unix:clamd.ctl",
			  "address: 'unix:clamd.ctl' needs an absolute socket path");
	check_config_case("address=", "address: must not be empty");
	check_config_case("pool-size=0", "pool-size: 0 is out of range");
	check_config_case("timeout-s=abc", "timeout-s: 'abc' is not a whole number");
	check_config_case("poolsize=3", "poolsize: unknown key");
	/* a good one */
	{
		g_autofree gchar *dir = herald_test_mkdtemp();
		g_autofree gchar *fn = herald_test_write_file(
		    dir,
		    "herald.conf",
		    "[host]\nplugins=clamav-scan\ndbus=none\n"
		    "[clamav-scan]\naddress=unix:/run/clamav/clamd.ctl\npool-size=8\n");
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		gchar *argv[] = {"--check-config", "--config", fn, NULL};
		g_assert_cmpint(herald_test_run_heraldd(argv, &out, &err, NULL), ==, 0);
		g_assert_nonnull(strstr(out, "configuration OK"));
		herald_test_rm_rf(dir);
	}
}

/* the daemon refuses to start with a bad address, saying where it is */
static void
test_bad_address_refused(void)
{
	g_autoptr(HeraldTestDaemon) daemon = herald_test_daemon_new(
	    "[host]\nplugins=clamav-scan\n[clamav-scan]\naddress=clamd:3310\n");
	g_autoptr(GError) error = NULL;
	g_assert_false(herald_test_daemon_start(daemon, &error));
	g_assert_nonnull(error);
	g_assert_nonnull(
	    strstr(error->message, ":clamav-scan:address: 'clamd:3310' must start with"));
}

int
main(int argc, char **argv)
{
	gint rc;

	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	herald_test_require_program("clamd");
	if (!g_file_test(TESTFILES "/clam.exe", G_FILE_TEST_EXISTS))
		g_error("clamav-testfiles is not installed (" TESTFILES ")");
	g_test_add_func("/herald/clamav-scan/e2e/check-config", test_check_config);
	g_test_add_func("/herald/clamav-scan/e2e/bad-address-refused", test_bad_address_refused);
	g_test_add_func("/herald/clamav-scan/e2e/verdicts", test_verdicts);
	g_test_add_func("/herald/clamav-scan/e2e/unix-socket", test_unix_socket);
	g_test_add_func("/herald/clamav-scan/e2e/stream-max-length", test_stream_max_length);
	g_test_add_func("/herald/clamav-scan/e2e/max-stream-bytes", test_max_stream_bytes);
	g_test_add_func("/herald/clamav-scan/e2e/clamd-down-and-back", test_clamd_down_and_back);
	g_test_add_func("/herald/clamav-scan/e2e/unreachable", test_unreachable);
	g_test_add_func("/herald/clamav-scan/e2e/reload", test_reload);
	g_test_add_func("/herald/clamav-scan/e2e/timeout", test_timeout);
	g_test_add_func("/herald/clamav-scan/e2e/pool-and-queue", test_pool_and_queue);
	g_test_add_func("/herald/clamav-scan/e2e/shutdown-during-scan", test_shutdown_during_scan);
	g_test_add_func("/herald/clamav-scan/e2e/concurrent-memory", test_concurrent_memory);
	shared_clamd = herald_test_clamd_start("25M");
	rc = g_test_run();
	herald_test_server_free(shared_clamd);
	return rc;
}
