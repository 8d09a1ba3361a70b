/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* end-to-end tests of heraldd as a subprocess, with the test-only plugins */
#include "config.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <signal.h>

#include "herald-test-util.h"

static HeraldTestDaemon *
start_daemon(const gchar *extra)
{
	g_autoptr(GError) error = NULL;
	HeraldTestDaemon *daemon = herald_test_daemon_new(extra);
	if (!herald_test_daemon_start(daemon, &error))
		g_error("%s", error->message);
	return daemon;
}

static JsonNode *
get_json(HeraldTestDaemon *daemon, const gchar *path, const gchar *token, guint expect_status)
{
	g_autofree gchar *url = g_strdup_printf("%s%s", daemon->base_url, path);
	g_autofree gchar *body = NULL;
	guint status = herald_test_http("GET", url, token, NULL, NULL, 0, &body, NULL);
	if (status != expect_status)
		g_error("GET %s: expected %u, got %u: %s", path, expect_status, status, body);
	return herald_test_parse_json(body);
}

static guint
post_json(HeraldTestDaemon *daemon, const gchar *path, const gchar *token, const gchar *body, JsonNode **out)
{
	g_autofree gchar *url = g_strdup_printf("%s%s", daemon->base_url, path);
	g_autofree gchar *reply = NULL;
	guint status = herald_test_http("POST", url, token, NULL, body, strlen(body), &reply, NULL);
	if (out != NULL)
		*out = herald_test_parse_json(reply);
	return status;
}

static gchar *
service_token(void)
{
	return herald_test_make_token(HERALD_TEST_SECRET, "{\"sub\":\"svc\",\"role\":\"SERVICE\"}", 300);
}

static void
test_health(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("[host]\nplugins=test-a\n[test-a]\nconnections=3\n");
	g_autoptr(JsonNode) health = get_json(daemon, "/health", NULL, 200);

	g_assert_cmpstr(herald_test_json_get_string(health, "status"), ==, "healthy");
	g_assert_cmpint(herald_test_json_get_int(health, "connections"), ==, 3);
	g_assert_cmpstr(herald_test_json_get_string(health, "plugins.test-a"), ==, "running");
	g_assert_cmpint(herald_test_json_get_int(health, "uptime"), >=, 0);
	g_assert_cmpstr(herald_test_json_get_string(health, "version"), ==, PACKAGE_VERSION);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_not_found_and_method(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("[host]\nplugins=test-a\n");
	g_autofree gchar *url = g_strdup_printf("%s/no/such/thing", daemon->base_url);
	g_autofree gchar *url_health = g_strdup_printf("%s/health", daemon->base_url);
	g_autofree gchar *body = NULL;
	g_autofree gchar *body2 = NULL;
	g_autoptr(JsonNode) node = NULL;
	g_autoptr(JsonNode) node2 = NULL;
	g_autoptr(SoupMessageHeaders) headers = NULL;

	g_assert_cmpuint(herald_test_http("GET", url, NULL, NULL, NULL, 0, &body, NULL), ==, 404);
	node = herald_test_parse_json(body);
	g_assert_cmpstr(herald_test_json_get_string(node, "error"), ==, "not_found");
	g_assert_nonnull(herald_test_json_get_string(node, "message"));

	g_assert_cmpuint(herald_test_http("DELETE", url_health, NULL, NULL, NULL, 0, &body2, &headers),
			 ==,
			 405);
	node2 = herald_test_parse_json(body2);
	g_assert_cmpstr(herald_test_json_get_string(node2, "error"), ==, "method_not_allowed");
	g_assert_cmpstr(soup_message_headers_get_one(headers, "Allow"), ==, "GET");
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_events_api(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("[host]\nplugins=test-a\n");
	g_autofree gchar *svc = service_token();
	g_autofree gchar *client = herald_test_make_token(HERALD_TEST_SECRET,
							  "{\"sub\":\"7\",\"role\":\"CLIENT\"}",
							  300);
	g_autofree gchar *expired = herald_test_make_token(HERALD_TEST_SECRET,
							   "{\"sub\":\"svc\",\"role\":\"SERVICE\"}",
							   -3600);
	g_autofree gchar *forged = herald_test_make_token("another-secret-entirely-0123456789",
							  "{\"sub\":\"svc\",\"role\":\"SERVICE\"}",
							  300);
	const gchar *good = "{\"channel\":\"ws:room:admin\",\"payload\":{\"type\":\"hello\"}}";
	struct {
		const gchar *token;
		const gchar *body;
		guint status;
		const gchar *code;
	} cases[] = {
	    {NULL, good, 401, "unauthorized"},
	    {"garbage.token.here", good, 401, "unauthorized"},
	    {expired, good, 401, "token_expired"},
	    {forged, good, 401, "unauthorized"},
	    {client, good, 403, "forbidden"},
	    {svc, "not json", 400, "invalid_argument"},
	    {svc, "[1,2]", 400, "invalid_argument"},
	    {svc, "{\"payload\":{}}", 400, "invalid_argument"},
	    {svc, "{\"channel\":42,\"payload\":{}}", 400, "invalid_argument"},
	    {svc, "{\"channel\":\"ws:room:*\",\"payload\":{}}", 400, "invalid_argument"},
	    {svc, "{\"channel\":\"bad\\nchannel\",\"payload\":{}}", 400, "invalid_argument"},
	    {svc, "{\"channel\":\"ws:room:admin\"}", 400, "invalid_argument"},
	    {svc, "{\"channel\":\"no.route.here\",\"payload\":{}}", 404, "not_found"},
	};
	g_autoptr(JsonNode) ok = NULL;
	g_autoptr(JsonNode) plugin = NULL;
	g_autofree gchar *log = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(JsonNode) node = NULL;
		guint status = post_json(daemon, "/api/events", cases[i].token, cases[i].body, &node);
		g_test_message("case %u: %s", i, cases[i].body);
		g_assert_cmpuint(status, ==, cases[i].status);
		g_assert_cmpstr(herald_test_json_get_string(node, "error"), ==, cases[i].code);
		g_assert_nonnull(herald_test_json_get_string(node, "message"));
	}
	/* nothing refused reached the bus */
	plugin = get_json(daemon, "/test/test-a", NULL, 200);
	g_assert_cmpint(herald_test_json_get_int(plugin, "deliveries"), ==, 0);
	g_assert_cmpint(herald_test_json_get_int(plugin, "outbound"), ==, 0);

	g_assert_cmpuint(post_json(daemon, "/api/events", svc, good, &ok), ==, 202);
	g_assert_cmpuint(strlen(herald_test_json_get_string(ok, "id")), ==, 36);
	g_clear_pointer(&plugin, json_node_unref);
	plugin = get_json(daemon, "/test/test-a", NULL, 200);
	g_assert_cmpint(herald_test_json_get_int(plugin, "deliveries"), ==, 1);
	g_assert_cmpint(herald_test_json_get_int(plugin, "outbound"), ==, 1);

	/* a user target is a delivery too */
	g_assert_cmpuint(post_json(daemon,
				   "/api/events",
				   svc,
				   "{\"channel\":\"ws:user:9\",\"payload\":{\"type\":\"x\"}}",
				   NULL),
			 ==,
			 202);
	g_clear_pointer(&plugin, json_node_unref);
	plugin = get_json(daemon, "/test/test-a", NULL, 200);
	g_assert_cmpint(herald_test_json_get_int(plugin, "deliveries"), ==, 2);

	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
	/* tokens and the secret never reach the log */
	log = herald_test_daemon_get_log(daemon);
	g_assert_null(strstr(log, svc));
	g_assert_null(strstr(log, forged));
	g_assert_null(strstr(log, HERALD_TEST_SECRET));
}

/* 200,000 levels of `[` overflowed json-glib 1.6's stack: a service token was
 * enough to crash heraldd */
static void
test_events_too_deep(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("[host]\nplugins=test-a\n");
	g_autofree gchar *svc = service_token();
	g_autoptr(GString) deep = g_string_new("{\"channel\":\"ws:room:admin\",\"payload\":");
	g_autoptr(JsonNode) node = NULL;
	g_autoptr(JsonNode) ok = NULL;
	g_autoptr(JsonNode) plugin = NULL;
	g_autoptr(JsonNode) stats = NULL;

	for (guint i = 0; i < 200000; i++)
		g_string_append_c(deep, '[');
	g_assert_cmpuint(post_json(daemon, "/api/events", svc, deep->str, &node), ==, 400);
	g_assert_cmpstr(herald_test_json_get_string(node, "error"), ==, "invalid_argument");
	g_assert_nonnull(strstr(herald_test_json_get_string(node, "message"), "64"));
	/* the daemon lives on and the same path works */
	g_assert_cmpuint(post_json(daemon,
				   "/api/events",
				   svc,
				   "{\"channel\":\"ws:room:admin\",\"payload\":{\"a\":[[[1]]]}}",
				   &ok),
			 ==,
			 202);
	plugin = get_json(daemon, "/test/test-a", NULL, 200);
	g_assert_cmpint(herald_test_json_get_int(plugin, "deliveries"), ==, 1);
	stats = get_json(daemon, "/stats", NULL, 200);
	g_assert_cmpint(herald_test_json_get_int(stats, "json_too_deep_total"), ==, 1);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_handler_route(void)
{
	/* [route x] handler=test-a: the event goes to test-a's own topic */
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("[host]\nplugins=test-a\n[route x]\nchannels=x.*\nhandler=test-a\n");
	g_autofree gchar *svc = service_token();
	g_autoptr(JsonNode) plugin = NULL;
	g_assert_cmpuint(post_json(daemon,
				   "/api/events",
				   svc,
				   "{\"channel\":\"x.y\",\"payload\":{\"a\":1}}",
				   NULL),
			 ==,
			 202);
	plugin = get_json(daemon, "/test/test-a", NULL, 200);
	g_assert_cmpint(herald_test_json_get_int(plugin, "events"), ==, 1);
	g_assert_cmpint(herald_test_json_get_int(plugin, "deliveries"), ==, 0);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_body_limit(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("[host]\nplugins=test-a\nmax-request-bytes=2048\n");
	g_autofree gchar *svc = service_token();
	g_autofree gchar *big = g_strnfill(4096, 'x');
	g_autofree gchar *url = g_strdup_printf("%s/api/events", daemon->base_url);
	g_autofree gchar *reply = NULL;
	g_autoptr(JsonNode) node = NULL;
	g_autoptr(JsonNode) plugin = NULL;

	g_assert_cmpuint(herald_test_http("POST", url, svc, NULL, big, strlen(big), &reply, NULL),
			 ==,
			 413);
	node = herald_test_parse_json(reply);
	g_assert_cmpstr(herald_test_json_get_string(node, "error"), ==, "too_large");
	/* the daemon still serves */
	plugin = get_json(daemon, "/test/test-a", NULL, 200);
	g_assert_cmpint(herald_test_json_get_int(plugin, "deliveries"), ==, 0);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_stats_metrics(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("[host]\nplugins=test-a\n");
	g_autoptr(JsonNode) stats = get_json(daemon, "/stats", NULL, 200);
	g_autofree gchar *url = g_strdup_printf("%s/metrics", daemon->base_url);
	g_autofree gchar *metrics = NULL;
	g_autoptr(SoupMessageHeaders) headers = NULL;

	g_assert_cmpint(herald_test_json_get_int(stats, "plugins.test-a.calls"), ==, 2);
	/* plugin keys are promoted to the top level, like the seed's connected_users */
	g_assert_cmpint(herald_test_json_get_int(stats, "calls"), ==, 2);
	g_assert_cmpint(herald_test_json_get_int(stats, "http_requests_total"), >=, 1);
	g_assert_cmpuint(herald_test_http("GET", url, NULL, NULL, NULL, 0, &metrics, &headers), ==, 200);
	g_assert_true(g_str_has_prefix(soup_message_headers_get_content_type(headers, NULL),
				       "text/plain"));
	g_assert_nonnull(strstr(metrics, "# TYPE herald_test_a_events_total counter\n"));
	g_assert_nonnull(strstr(metrics, "herald_plugin_state{plugin=\"test-a\",state=\"running\"} 2\n"));
	g_assert_nonnull(strstr(metrics, "herald_test_a_events_by_kind{key=\"outbound\"} 0\n"));
	g_assert_nonnull(strstr(metrics, "herald_uptime "));
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_plugin_failures(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("[host]\nplugins=test-a;test-b;missing-one;not-a-plugin;no-symbol\n"
			 "[test-b]\nfail-startup=true\n");
	g_autoptr(JsonNode) health = get_json(daemon, "/health", NULL, 200);
	g_autoptr(JsonNode) plugin = NULL;
	g_autofree gchar *url_b = g_strdup_printf("%s/test/test-b", daemon->base_url);

	g_assert_cmpstr(herald_test_json_get_string(health, "status"), ==, "degraded");
	g_assert_cmpstr(herald_test_json_get_string(health, "plugins.test-a"), ==, "running");
	g_assert_cmpstr(herald_test_json_get_string(health, "plugins.test-b"), ==, "failed");
	g_assert_cmpstr(herald_test_json_get_string(health, "errors.test-b"), ==, "test plugin told to fail");
	g_assert_cmpstr(herald_test_json_get_string(health, "plugins.missing-one"), ==, "failed");
	g_assert_nonnull(strstr(herald_test_json_get_string(health, "errors.missing-one"),
				"libherald-plugin-missing-one.so not found"));
	g_assert_cmpstr(herald_test_json_get_string(health, "plugins.not-a-plugin"), ==, "failed");
	g_assert_nonnull(strstr(herald_test_json_get_string(health, "errors.not-a-plugin"),
				"is not a Herald plugin"));
	g_assert_cmpstr(herald_test_json_get_string(health, "plugins.no-symbol"), ==, "failed");
	/* the others keep serving; the failed plugin's routes are gone */
	plugin = get_json(daemon, "/test/test-a", NULL, 200);
	g_assert_cmpstr(herald_test_json_get_string(plugin, "name"), ==, "test-a");
	g_assert_cmpuint(herald_test_http("GET", url_b, NULL, NULL, NULL, 0, NULL, NULL), ==, 404);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_all_failed_unhealthy(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("[host]\nplugins=test-b\n[test-b]\nfail-startup=true\n");
	g_autoptr(JsonNode) health = get_json(daemon, "/health", NULL, 503);
	g_assert_cmpstr(herald_test_json_get_string(health, "status"), ==, "unhealthy");
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_ordering_and_conflicts(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("[host]\nplugins=test-a;test-b;test-c\n"
			 "[test-a]\nrun-after=test-b\n"
			 "[test-c]\nconflicts=test-a\n");
	g_autoptr(JsonNode) health = get_json(daemon, "/health", NULL, 200);
	g_autofree gchar *log = herald_test_daemon_get_log(daemon);
	const gchar *a = strstr(log, "plugin test-a: startup");
	const gchar *b = strstr(log, "plugin test-b: startup");

	g_assert_nonnull(a);
	g_assert_nonnull(b);
	g_assert_true(b < a);
	g_assert_cmpstr(herald_test_json_get_string(health, "plugins.test-c"), ==, "failed");
	g_assert_cmpstr(herald_test_json_get_string(health, "errors.test-c"),
			==,
			"conflicts with plugin test-a");
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_port_in_use(void)
{
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GInetAddress) inet = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) addr = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldTestDaemon) daemon = herald_test_daemon_new("[host]\nplugins=test-a\n");
	g_autofree gchar *log = NULL;
	g_autofree gchar *needle = NULL;

	socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
	g_assert_no_error(error);
	addr = g_inet_socket_address_new(inet, daemon->port);
	g_assert_true(g_socket_bind(socket, addr, TRUE, &error));
	g_assert_true(g_socket_listen(socket, &error));
	g_assert_false(herald_test_daemon_start(daemon, &error));
	g_assert_cmpint(daemon->exit_status, ==, 1);
	log = herald_test_daemon_get_log(daemon);
	needle = g_strdup_printf("cannot listen on 127.0.0.1:%u", daemon->port);
	g_assert_nonnull(strstr(log, needle));
}

static void
test_reload(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("[host]\nplugins=test-a\n[test-a]\noption=one\n");
	g_autoptr(JsonNode) before = get_json(daemon, "/test/test-a", NULL, 200);
	g_autoptr(JsonNode) after = NULL;
	g_autoptr(JsonNode) after_bad = NULL;
	g_autofree gchar *orig = NULL;
	g_autofree gchar *changed = NULL;
	g_autofree gchar *bad = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_cmpstr(herald_test_json_get_string(before, "option"), ==, "one");
	g_assert_true(g_file_get_contents(daemon->config_file, &orig, NULL, &error));
	/* a live key and a restart-only key */
	changed = g_strdup_printf("%s\n[test-a]\noption=two\n[host]\ninstance-id=other\n", orig);
	g_assert_true(g_file_set_contents(daemon->config_file, changed, -1, &error));
	herald_test_daemon_signal(daemon, SIGHUP);
	g_assert_true(herald_test_daemon_wait_log(daemon, "configuration reloaded", 10000));
	g_assert_true(herald_test_daemon_wait_log(daemon, "host:instance-id changed but needs a restart", 1000));
	after = get_json(daemon, "/test/test-a", NULL, 200);
	g_assert_cmpstr(herald_test_json_get_string(after, "option"), ==, "two");

	/* an invalid file is refused and the old values stay */
	bad = g_strdup_printf("%s\n[test-a]\noption=three\nlevel=extreme\n", changed);
	g_assert_true(g_file_set_contents(daemon->config_file, bad, -1, &error));
	herald_test_daemon_signal(daemon, SIGHUP);
	g_assert_true(herald_test_daemon_wait_log(daemon, "configuration not reloaded", 10000));
	after_bad = get_json(daemon, "/test/test-a", NULL, 200);
	g_assert_cmpstr(herald_test_json_get_string(after_bad, "option"), ==, "two");
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_shutdown_timeout(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("[host]\nplugins=test-a;test-b\nshutdown-timeout-s=1\n"
			 "[test-a]\nhang-shutdown=true\n[test-b]\nshutdown-delay-ms=100\n");
	g_autofree gchar *log = NULL;
	herald_test_daemon_signal(daemon, SIGTERM);
	g_assert_cmpint(herald_test_daemon_wait(daemon, 30000), ==, 0);
	log = herald_test_daemon_get_log(daemon);
	g_assert_nonnull(strstr(log, "plugin test-b: shutdown"));
	g_assert_nonnull(strstr(log, "did not stop within the shutdown timeout"));
}

typedef struct {
	const gchar *name;
	const gchar *config;
	const gchar *expect; /* after "<config file>:" unless it starts with '!' */
} CheckCase;

static void
test_check_config(void)
{
	g_autofree gchar *dir = herald_test_mkdtemp();
	CheckCase cases[] = {
	    {"malformed", "[host\nlisten=1\n", ""},
	    {"wrong type", "[host]\nmax-request-bytes=lots\n", "host:max-request-bytes: "},
	    {"out of range", "[host]\nmax-request-bytes=1\n", "host:max-request-bytes: "},
	    {"unknown key", "[host]\nlisten=127.0.0.1:1\nlistne=x\n", "host:listne: "},
	    {"bad enum", "[host]\ndbus=sometimes\n", "host:dbus: "},
	    {"unreadable secret", "[auth]\nsecret-file=/nonexistent/jwt.secret\n", "auth:secret-file: "},
	    {"missing plugin", "[host]\nplugins=nope\n", "host:plugins: nope: "},
	    {"not a plugin", "[host]\nplugins=not-a-plugin\n", "host:plugins: not-a-plugin: "},
	    {"port out of range", "[host]\nlisten=127.0.0.1:99999\n", "host:listen: "},
	    {"listen host", "[host]\nlisten=example.org:80\n", "host:listen: "},
	    {"relative unix", "[host]\nlisten=unix:herald.sock\n", "host:listen: "},
	    {"plugin key type", "[host]\nplugins=test-a\n[test-a]\nconnections=-4\n", "test-a:connections: "},
	    {"plugin unknown key", "[host]\nplugins=test-a\n[test-a]\nbogus=1\n", "test-a:bogus: "},
	    {"user-claim empty", "[auth]\nuser-claim=;\n", "auth:user-claim: must not be empty"},
	    {"user-claim too long",
	     "[auth]\nuser-claim=a;b;c;d;e;f;g;h;i\n",
	     "auth:user-claim: the list has more than 8 items"},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *fn = herald_test_write_file(dir, "herald.conf", cases[i].config);
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		g_autofree gchar *expect = cases[i].expect[0] == '!'
						   ? g_strdup(cases[i].expect + 1)
						   : g_strconcat(fn, cases[i].expect[0] != '\0' ? ":" : "",
								 cases[i].expect, NULL);
		gchar *argv[] = {"--check-config", "--config", fn, NULL};
		gint status;
		g_test_message("check-config: %s", cases[i].name);
		status = herald_test_run_heraldd(argv, &out, &err, NULL);
		g_assert_cmpint(status, ==, 1);
		if (strstr(err, expect) == NULL)
			g_error("%s: expected '%s' in:\n%s", cases[i].name, expect, err);
		/* each problem is reported once */
		if (strstr(strstr(err, expect) + 1, expect) != NULL)
			g_error("%s: '%s' reported twice in:\n%s", cases[i].name, expect, err);
	}
	/* a good one */
	{
		g_autofree gchar *secret = herald_test_write_file(dir, "jwt.secret", HERALD_TEST_SECRET "\n");
		g_autofree gchar *cfg = g_strdup_printf("[host]\nplugins=test-a\ndbus=none\n"
							"[auth]\nsecret-file=%s\n",
							secret);
		g_autofree gchar *fn = herald_test_write_file(dir, "herald.conf", cfg);
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		gchar *argv[] = {"--check-config", "--config", fn, NULL};
		g_assert_cmpint(herald_test_run_heraldd(argv, &out, &err, NULL), ==, 0);
		g_assert_nonnull(strstr(out, "configuration OK"));
	}
	herald_test_rm_rf(dir);
}

static void
test_check_config_spanish(void)
{
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *fn =
	    herald_test_write_file(dir, "herald.conf", "[host]\nlistne=x\nplugins=nope\n");
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *localedir =
	    g_strdup_printf("HERALD_LOCALEDIR=%s", g_getenv("HERALD_TEST_LOCALEDIR"));
	const gchar *env[] = {"LANGUAGE=es", "LC_ALL=C.UTF-8", localedir, NULL};
	gchar *argv[] = {"--check-config", "--config", fn, NULL};

	g_assert_cmpint(herald_test_run_heraldd(argv, &out, &err, env), ==, 1);
	g_test_message("%s", err);
	g_assert_nonnull(strstr(err, ":host:listne: clave desconocida"));
	g_assert_nonnull(strstr(err, "no se encontró"));
	herald_test_rm_rf(dir);
}

/* data/herald.conf is what the code documents, key for key */
static void
test_shipped_config(void)
{
	g_autofree gchar *shipped_fn = g_test_build_filename(G_TEST_DIST, "..", "data", "herald.conf", NULL);
	g_autofree gchar *shipped = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *plugin_dir = g_strdup_printf("HERALD_PLUGIN_DIR=%s", g_getenv("HERALD_TEST_REAL_PLUGIN_DIR"));
	const gchar *env[] = {plugin_dir, NULL};
	gchar *argv[] = {"--dump-config", NULL};
	g_autoptr(GError) error = NULL;

	g_assert_true(g_file_get_contents(shipped_fn, &shipped, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpint(herald_test_run_heraldd(argv, &out, &err, env), ==, 0);
	g_assert_cmpstr(out, ==, shipped);
	/* and it is a valid configuration as shipped */
	{
		gchar *argv2[] = {"--check-config", "--config", shipped_fn, NULL};
		g_autofree gchar *out2 = NULL;
		g_autofree gchar *err2 = NULL;
		g_assert_cmpint(herald_test_run_heraldd(argv2, &out2, &err2, env), ==, 0);
	}
}

/* [host] listen takes several addresses, unix sockets among them */
static void
test_unix_socket(void)
{
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *path = g_build_filename(dir, "herald.sock", NULL);
	g_autofree gchar *extra = NULL;
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(GSocketAddress) addr = NULL;
	g_autoptr(SoupSession) session = NULL;
	g_autoptr(SoupMessage) msg = NULL;
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	g_autofree gchar *body = NULL;

	extra = g_strdup_printf("[host]\nplugins=test-a\n");
	daemon = herald_test_daemon_new(extra);
	/* append the unix socket to the generated listen list */
	{
		g_autofree gchar *cfg = NULL;
		g_autofree gchar *cfg2 = NULL;
		g_autofree gchar *tcp = g_strdup_printf("listen=127.0.0.1:%u\n", daemon->port);
		g_autofree gchar *both = g_strdup_printf("listen=127.0.0.1:%u;unix:%s\n", daemon->port, path);
		g_auto(GStrv) parts = NULL;
		g_assert_true(g_file_get_contents(daemon->config_file, &cfg, NULL, NULL));
		parts = g_strsplit(cfg, tcp, 2);
		cfg2 = g_strjoinv(both, parts);
		g_assert_true(g_file_set_contents(daemon->config_file, cfg2, -1, NULL));
	}
	g_assert_true(herald_test_daemon_start(daemon, &error));
	g_assert_no_error(error);
	g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
	addr = g_unix_socket_address_new(path);
	session = soup_session_new_with_options("remote-connectable", addr, NULL);
	msg = soup_message_new("GET", "http://localhost/health");
	bytes = soup_session_send_and_read(session, msg, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(soup_message_get_status(msg), ==, 200);
	body = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	node = herald_test_parse_json(body);
	g_assert_cmpstr(herald_test_json_get_string(node, "status"), ==, "healthy");
	g_clear_object(&session);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
	/* the socket file is removed at exit */
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	herald_test_rm_rf(dir);
}

/* HTTP error messages follow the daemon's locale */
static void
test_spanish_http(void)
{
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(JsonNode) node = NULL;
	g_autofree gchar *url = NULL;
	g_autofree gchar *body = NULL;

	g_setenv("LANGUAGE", "es", TRUE);
	g_setenv("HERALD_LOCALEDIR", g_getenv("HERALD_TEST_LOCALEDIR"), TRUE);
	daemon = start_daemon("[host]\nplugins=test-a\n");
	g_unsetenv("LANGUAGE");
	g_unsetenv("HERALD_LOCALEDIR");
	url = g_strdup_printf("%s/nope", daemon->base_url);
	g_assert_cmpuint(herald_test_http("GET", url, NULL, NULL, NULL, 0, &body, NULL), ==, 404);
	node = herald_test_parse_json(body);
	/* the code stays stable, the text is translated */
	g_assert_cmpstr(herald_test_json_get_string(node, "error"), ==, "not_found");
	g_assert_cmpstr(herald_test_json_get_string(node, "message"), ==, "no existe ese endpoint");
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

/* no configured URL is echoed with its password, valid or not */
static void
test_check_config_redacts_urls(void)
{
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *plugin_dir =
	    g_strdup_printf("HERALD_PLUGIN_DIR=%s", g_getenv("HERALD_TEST_REAL_PLUGIN_DIR"));
	const gchar *env[] = {plugin_dir, NULL};
	struct {
		const gchar *config;
		const gchar *expect;
	} cases[] = {
	    {"[host]\nplugins=redis-bridge\n[redis-bridge]\n"
	     "url=redis://user:pa55word-r3dis@host:notaport/0\n",
	     "redis-bridge:url: invalid Redis URL 'redis://user:***@host:notaport/0'"},
	    {"[host]\nplugins=redis-bridge\n[redis-bridge]\n"
	     "url=redis://:pa55word-r3dis@host:6379/db\n",
	     "redis-bridge:url: invalid Redis URL 'redis://:***@host:6379/db'"},
	    {"[host]\nplugins=files-minio\n[files-minio]\nbackend=s3\naccess-key=a\n"
	     "endpoint=http://minio:pa55word-s3@minio.example/bucket\n",
	     "files-minio:endpoint: endpoint 'http://minio:***@minio.example/bucket'"},
	    {"[host]\nplugins=notifier-whatsapp\n[notifier-whatsapp]\nmode=webhook\n"
	     "webhook-url=ftp://hook:pa55word-hook@hooks.example/x\n",
	     "notifier-whatsapp:webhook-url: "},
	    {"[host]\nplugins=notifier-whatsapp\n[notifier-whatsapp]\nmode=cloud-api\n"
	     "phone-number-id=1\napi-base=gopher://t:pa55word-api@graph.example\n",
	     "notifier-whatsapp:api-base: "},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *fn = herald_test_write_file(dir, "herald.conf", cases[i].config);
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		gchar *argv[] = {"--check-config", "--config", fn, NULL};
		g_assert_cmpint(herald_test_run_heraldd(argv, &out, &err, env), ==, 1);
		g_test_message("%s", err);
		if (strstr(err, cases[i].expect) == NULL)
			g_error("expected '%s' in:\n%s", cases[i].expect, err);
		g_assert_null(strstr(err, "pa55word"));
		g_assert_null(strstr(out, "pa55word"));
	}
	herald_test_rm_rf(dir);
}

/* runs --check-config (and more options) on @config written with @mode */
static gint
check_config_mode(const gchar *dir,
		  const gchar *config,
		  guint mode,
		  const gchar *option,
		  const gchar *const *env,
		  gchar **fn_out,
		  gchar **err_out)
{
	g_autofree gchar *fn = herald_test_write_file(dir, "herald.conf", config);
	g_autofree gchar *out = NULL;
	gchar *argv[] = {"--check-config", "--config", fn, (gchar *)option, NULL};
	gint status;
	g_assert_cmpint(g_chmod(fn, mode), ==, 0);
	status = herald_test_run_heraldd(argv, &out, err_out, env);
	g_test_message("%s (mode %04o%s%s): %d\n%s%s",
		       config,
		       mode,
		       option != NULL ? ", " : "",
		       option != NULL ? option : "",
		       status,
		       out,
		       *err_out);
	if (status == 0)
		g_assert_nonnull(strstr(out, "configuration OK"));
	*fn_out = g_steal_pointer(&fn);
	return status;
}

static gchar *
secret_of(guint len)
{
	gchar *secret = g_malloc(len + 1);
	for (guint i = 0; i < len; i++)
		secret[i] = "0123456789abcdefghijklmnopqrstuvwxyz"[i % 36];
	secret[len] = '\0';
	return secret;
}

/* HS* secrets at least as long as the hash (RFC 7518 section 3.2) */
static void
test_check_config_secret_length(void)
{
	g_autofree gchar *dir = herald_test_mkdtemp();
	struct {
		const gchar *algorithms;
		guint len;
		const gchar *needs; /* NULL: accepted */
	} cases[] = {
	    {"HS256", 31, "HS256 needs at least 32 bytes"},
	    {"HS256", 32, NULL},
	    {"HS256", 1, "HS256 needs at least 32 bytes"},
	    {"HS384", 47, "HS384 needs at least 48 bytes"},
	    {"HS384", 48, NULL},
	    {"HS512", 63, "HS512 needs at least 64 bytes"},
	    {"HS512", 64, NULL},
	    /* one secret for every HS algorithm listed: the longest need wins */
	    {"HS256;HS512", 32, "HS512 needs at least 64 bytes"},
	    {"RS256;HS256", 31, "HS256 needs at least 32 bytes"},
	};
	g_autofree gchar *pem = NULL;

	/* RS256 needs a key: any valid PEM public key will do */
	{
		g_autofree gchar *key_fn = g_build_filename(dir, "rsa.pem", NULL);
		g_autofree gchar *pub_fn = g_build_filename(dir, "rsa.pub", NULL);
		const gchar *gen[] = {"openssl", "genpkey", "-algorithm", "RSA", "-out", key_fn, NULL};
		const gchar *pub[] = {"openssl", "pkey", "-in", key_fn, "-pubout", "-out", pub_fn, NULL};
		gint status = 0;
		g_assert_true(g_spawn_sync(NULL, (gchar **)gen, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
					   NULL, NULL, NULL, NULL, &status, NULL));
		g_assert_cmpint(status, ==, 0);
		g_assert_true(g_spawn_sync(NULL, (gchar **)pub, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
					   NULL, NULL, &status, NULL));
		g_assert_cmpint(status, ==, 0);
		pem = g_steal_pointer(&pub_fn);
	}
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *secret = secret_of(cases[i].len);
		g_autofree gchar *secret_fn = NULL;
		g_autofree gchar *fn = NULL;
		g_autofree gchar *err = NULL;
		g_autofree gchar *config = g_strdup_printf(
		    "[host]\ndbus=none\n[auth]\nalgorithms=%s\npublic-key-file=%s\nsecret=%s\n",
		    cases[i].algorithms,
		    pem,
		    secret);
		gint status = check_config_mode(dir, config, 0600, NULL, NULL, &fn, &err);
		if (cases[i].needs == NULL) {
			g_assert_cmpint(status, ==, 0);
			g_assert_null(strstr(err, "needs at least"));
		} else {
			g_autofree gchar *expect =
			    g_strdup_printf("%s:auth:secret: the secret is %u bytes long; %s",
					    fn,
					    cases[i].len,
					    cases[i].needs);
			g_assert_cmpint(status, ==, 1);
			if (strstr(err, expect) == NULL)
				g_error("expected '%s' in:\n%s", expect, err);
			/* once, and the secret itself is never printed */
			g_assert_null(strstr(strstr(err, expect) + strlen(expect), "needs at least"));
			if (cases[i].len > 8)
				g_assert_null(strstr(err, secret));
		}

		/* the same from a secret file, located at secret-file */
		secret_fn = herald_test_write_file(dir, "jwt.secret", secret);
		g_clear_pointer(&config, g_free);
		g_clear_pointer(&fn, g_free);
		g_clear_pointer(&err, g_free);
		config = g_strdup_printf(
		    "[host]\ndbus=none\n[auth]\nalgorithms=%s\npublic-key-file=%s\nsecret-file=%s\n",
		    cases[i].algorithms,
		    pem,
		    secret_fn);
		status = check_config_mode(dir, config, 0644, NULL, NULL, &fn, &err);
		if (cases[i].needs == NULL) {
			g_assert_cmpint(status, ==, 0);
		} else {
			g_autofree gchar *expect = g_strdup_printf(
			    "%s:auth:secret-file: the secret is %u bytes long", fn, cases[i].len);
			g_assert_cmpint(status, ==, 1);
			if (strstr(err, expect) == NULL)
				g_error("expected '%s' in:\n%s", expect, err);
		}
	}
	/* from the environment: located there */
	{
		g_autofree gchar *short_secret = secret_of(20);
		g_autofree gchar *env_secret = g_strdup_printf("HERALD_AUTH_SECRET=%s", short_secret);
		const gchar *env[] = {env_secret, NULL};
		g_autofree gchar *fn = NULL;
		g_autofree gchar *err = NULL;
		g_assert_cmpint(check_config_mode(dir, "[host]\ndbus=none\n", 0600, NULL, env, &fn, &err),
				==,
				1);
		g_assert_nonnull(strstr(err,
					"environment(HERALD_AUTH_SECRET):auth:secret: the secret is 20 "
					"bytes long; HS256 needs at least 32 bytes"));
	}
	/* and the daemon does not start on one */
	{
		g_autofree gchar *secret = secret_of(31);
		g_autofree gchar *config = g_strdup_printf("[host]\ndbus=none\nlisten=127.0.0.1:%u\n"
							   "[auth]\nsecret=%s\n",
							   herald_test_free_port(),
							   secret);
		g_autofree gchar *fn = herald_test_write_file(dir, "herald.conf", config);
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		gchar *argv[] = {"--config", fn, NULL};
		g_assert_cmpint(g_chmod(fn, 0600), ==, 0);
		g_assert_cmpint(herald_test_run_heraldd(argv, &out, &err, NULL), ==, 1);
		g_assert_nonnull(strstr(err, ":auth:secret: the secret is 31 bytes long"));
		g_assert_nonnull(strstr(err, "not starting"));
	}
	herald_test_rm_rf(dir);
}

/* an inline secret in a file every user can read: a warning, an error with --strict */
static void
test_check_config_secret_mode(void)
{
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *secret = secret_of(64);
	g_autofree gchar *plugin_dir =
	    g_strdup_printf("HERALD_PLUGIN_DIR=%s", g_getenv("HERALD_TEST_REAL_PLUGIN_DIR"));
	const gchar *env[] = {plugin_dir, NULL};
	g_autofree gchar *config = g_strdup_printf("[host]\ndbus=none\n[auth]\nsecret=%s\n", secret);
	g_autofree gchar *secret_fn = herald_test_write_file(dir, "jwt.secret", secret);
	g_autofree gchar *plugin_config =
	    g_strdup_printf("[host]\ndbus=none\nplugins=redis-bridge\n[auth]\nsecret-file=%s\n"
			    "[redis-bridge]\npassword=hunter2-redis\n",
			    secret_fn);
	struct {
		const gchar *config;
		guint mode;
		const gchar *option;
		gint status;
		const gchar *expect; /* after "warning: <file>:" or "<file>:"; NULL: no problem */
		gboolean warning;
	} cases[] = {
	    {config, 0644, NULL, 0, "auth:secret: a secret set inline in a file that every user can read (mode 0644)", TRUE},
	    {config, 0604, NULL, 0, "auth:secret: a secret set inline in a file that every user can read (mode 0604)", TRUE},
	    {config, 0644, "--strict", 1, "auth:secret: a secret set inline", FALSE},
	    {config, 0600, NULL, 0, NULL, FALSE},
	    {config, 0640, "--strict", 0, NULL, FALSE},
	    /* every secret key of every group, plugins' too */
	    {plugin_config, 0644, NULL, 0, "redis-bridge:password: a secret set inline", TRUE},
	    {plugin_config, 0644, "--strict", 1, "redis-bridge:password: a secret set inline", FALSE},
	    {plugin_config, 0640, "--strict", 0, NULL, FALSE},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *fn = NULL;
		g_autofree gchar *err = NULL;
		gint status =
		    check_config_mode(dir, cases[i].config, cases[i].mode, cases[i].option, env, &fn, &err);
		g_assert_cmpint(status, ==, cases[i].status);
		if (cases[i].expect == NULL) {
			g_assert_null(strstr(err, "inline"));
		} else {
			g_autofree gchar *expect = g_strdup_printf("%s%s:%s",
								   cases[i].warning ? "warning: " : "",
								   fn,
								   cases[i].expect);
			if (strstr(err, expect) == NULL)
				g_error("expected '%s' in:\n%s", expect, err);
			if (!cases[i].warning)
				g_assert_null(strstr(err, "warning: "));
		}
		/* never the secret itself */
		g_assert_null(strstr(err, secret));
		g_assert_null(strstr(err, "hunter2"));
	}
	herald_test_rm_rf(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/herald/daemon/shipped-config", test_shipped_config);
	g_test_add_func("/herald/daemon/health", test_health);
	g_test_add_func("/herald/daemon/not-found-and-method", test_not_found_and_method);
	g_test_add_func("/herald/daemon/events-api", test_events_api);
	g_test_add_func("/herald/daemon/handler-route", test_handler_route);
	g_test_add_func("/herald/daemon/body-limit", test_body_limit);
	g_test_add_func("/herald/daemon/stats-metrics", test_stats_metrics);
	g_test_add_func("/herald/daemon/events-too-deep", test_events_too_deep);
	g_test_add_func("/herald/daemon/plugin-failures", test_plugin_failures);
	g_test_add_func("/herald/daemon/all-failed-unhealthy", test_all_failed_unhealthy);
	g_test_add_func("/herald/daemon/ordering-and-conflicts", test_ordering_and_conflicts);
	g_test_add_func("/herald/daemon/port-in-use", test_port_in_use);
	g_test_add_func("/herald/daemon/reload", test_reload);
	g_test_add_func("/herald/daemon/shutdown-timeout", test_shutdown_timeout);
	g_test_add_func("/herald/daemon/check-config", test_check_config);
	g_test_add_func("/herald/daemon/check-config-spanish", test_check_config_spanish);
	g_test_add_func("/herald/daemon/check-config-redacts-urls", test_check_config_redacts_urls);
	g_test_add_func("/herald/daemon/check-config-secret-length", test_check_config_secret_length);
	g_test_add_func("/herald/daemon/check-config-secret-mode", test_check_config_secret_mode);
	g_test_add_func("/herald/daemon/spanish-http", test_spanish_http);
	g_test_add_func("/herald/daemon/unix-socket", test_unix_socket);
	return g_test_run();
}
