/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * notifier-whatsapp end to end: heraldd (ws-rooms + notifier-whatsapp, with the
 * local journal; with redis-bridge and a real redis-server when this build has
 * redis-bridge) as a subprocess, libsoup WebSocket clients as the users, and a
 * fake WhatsApp Cloud API in this process.
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "herald-notifier-whatsapp-fake.h"
#include "herald-test-util.h"

#define WAIT_MS 20000

#define PHONE_WA     "+5215512345678"
#define PHONE_WA_TO  "5215512345678"

typedef struct {
	gboolean redis;
	HeraldTestServer *redis_server;
	FakeProvider *fake;
	HeraldTestDaemon *daemon;
	gchar *files; /* token and phones files */
	gchar *service;
	gchar *api_key_file; /* (nullable) [auth] api-key-file */
} Fixture;

#define API_KEY	      "k3y-of-the-core-api-0123456789abcdefghij"
#define API_KEY_OTHER "second-key-for-the-reports-service-0123456"

/* ------------------------------------------------------------ daemon */

static const gchar *default_keys[] = {"mode=cloud-api",
				      "api-version=" FAKE_API_VERSION,
				      "phone-number-id=" FAKE_PHONE_ID,
				      "retry-interval-s=1",
				      "backoff-base-s=1",
				      "backoff-cap-s=1",
				      "max-attempts=4",
				      "request-timeout-s=2",
				      NULL};

/* @notifier: `key=value` lines for [notifier-whatsapp] that replace the
 * defaults above; @groups: more groups */
static gchar *
fixture_config(Fixture *fx, const gchar *notifier, const gchar *groups)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_auto(GStrv) extra = g_strsplit(notifier != NULL ? notifier : "", "\n", -1);
	g_autofree gchar *token_file = g_build_filename(fx->files, "wa.token", NULL);
	g_autofree gchar *phones_file = g_build_filename(fx->files, "phones.conf", NULL);

	g_string_append_printf(out,
			       "[host]\nplugins=ws-rooms;notifier-whatsapp;notify-probe%s\n"
			       "[auth]\nleeway-s=0\n",
			       fx->redis ? ";redis-bridge" : "");
	if (fx->api_key_file != NULL)
		g_string_append_printf(out, "api-key-file=%s\n", fx->api_key_file);
	if (fx->redis)
		g_string_append_printf(out,
				       "[redis-bridge]\nurl=redis://127.0.0.1:%u\n",
				       fx->redis_server->port);
	g_string_append_printf(out,
			       "[notifier-whatsapp]\n"
			       "api-base=http://127.0.0.1:%u\n"
			       "token-file=%s\n",
			       fake_provider_get_port(fx->fake),
			       token_file);
	if (!fx->redis)
		g_string_append_printf(out, "phones-file=%s\n", phones_file);
	for (guint i = 0; default_keys[i] != NULL; i++) {
		g_autofree gchar *key = g_strndup(default_keys[i],
						  strchr(default_keys[i], '=') - default_keys[i] + 1);
		gboolean replaced = FALSE;
		for (guint j = 0; extra[j] != NULL; j++) {
			if (g_str_has_prefix(extra[j], key))
				replaced = TRUE;
		}
		if (!replaced)
			g_string_append_printf(out, "%s\n", default_keys[i]);
	}
	for (guint j = 0; extra[j] != NULL; j++) {
		if (extra[j][0] != '\0')
			g_string_append_printf(out, "%s\n", extra[j]);
	}
	if (groups != NULL)
		g_string_append(out, groups);
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static gchar *
redis_cli(Fixture *fx, const gchar *const *args)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *port = g_strdup_printf("%u", fx->redis_server->port);
	g_autofree gchar *out = NULL;
	g_autoptr(GError) error = NULL;
	gint status = 0;
	g_ptr_array_add(argv, g_strdup(herald_test_require_program("redis-cli")));
	g_ptr_array_add(argv, g_strdup("-p"));
	g_ptr_array_add(argv, g_strdup(port));
	for (guint i = 0; args[i] != NULL; i++)
		g_ptr_array_add(argv, g_strdup(args[i]));
	g_ptr_array_add(argv, NULL);
	g_assert_true(g_spawn_sync(NULL,
				   (gchar **)argv->pdata,
				   NULL,
				   G_SPAWN_DEFAULT,
				   NULL,
				   NULL,
				   &out,
				   NULL,
				   &status,
				   &error));
	g_assert_no_error(error);
	g_assert_cmpint(status, ==, 0);
	return g_steal_pointer(&out);
}

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *tok = NULL;
	g_autofree gchar *phones = NULL;
	fx->redis = GPOINTER_TO_INT(data) == 1;
	fx->files = herald_test_mkdtemp();
	tok = herald_test_write_file(fx->files, "wa.token", FAKE_TOKEN "\n");
	phones = herald_test_write_file(fx->files,
					"phones.conf",
					"[phones]\n"
					"u-wa=" PHONE_WA "\n"
					"u-bad=12345\n");
	fx->fake = fake_provider_new();
	fx->service = herald_test_make_token(HERALD_TEST_SECRET,
					     "{\"sub\":\"core-api\",\"role\":\"SERVICE\"}",
					     3600);
	if (fx->redis) {
		const gchar *hset[] = {"HSET", "herald:phones", "u-wa", PHONE_WA, "u-bad", "12345", NULL};
		fx->redis_server = herald_test_redis_start();
		g_free(redis_cli(fx, hset));
	}
}

/* with Redis: until redis-bridge is connected, a new notification gets 503 */
static void
fixture_wait_ready(Fixture *fx)
{
	g_autofree gchar *url = g_strdup_printf("%s/health", fx->daemon->base_url);
	gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
	if (!fx->redis)
		return;
	for (;;) {
		g_autofree gchar *body = NULL;
		g_autoptr(JsonNode) node = NULL;
		herald_test_http("GET", url, NULL, NULL, NULL, 0, &body, NULL);
		node = herald_test_parse_json(body);
		if (g_strcmp0(herald_test_json_get_string(node, "plugins.redis-bridge"), "running") == 0)
			return;
		if (g_get_monotonic_time() > deadline)
			g_error("redis-bridge did not connect: %s", body);
		g_usleep(20000);
	}
}

static void
fixture_start(Fixture *fx, const gchar *notifier, const gchar *groups)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *config = fixture_config(fx, notifier, groups);
	fx->daemon = herald_test_daemon_new(config);
	if (!herald_test_daemon_start(fx->daemon, &error))
		g_error("%s", error->message);
	fixture_wait_ready(fx);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
	if (fx->daemon != NULL) {
		g_assert_cmpint(herald_test_daemon_stop(fx->daemon), ==, 0);
		g_clear_pointer(&fx->daemon, herald_test_daemon_free);
	}
	/* every request the daemon made had the right path, token and body */
	g_assert_cmpuint(fake_provider_get_violations(fx->fake), ==, 0);
	g_clear_pointer(&fx->fake, fake_provider_free);
	g_clear_pointer(&fx->redis_server, herald_test_server_free);
	herald_test_rm_rf(fx->files);
	g_free(fx->files);
	g_free(fx->service);
	g_free(fx->api_key_file);
}

/* ------------------------------------------------------------ HTTP */

static guint
api(Fixture *fx,
    const gchar *method,
    const gchar *path,
    const gchar *token,
    const gchar *body,
    JsonNode **out,
    SoupMessageHeaders **headers)
{
	g_autofree gchar *url = g_strdup_printf("%s%s", fx->daemon->base_url, path);
	g_autofree gchar *text = NULL;
	guint status = herald_test_http(method,
					url,
					token,
					"application/json",
					body,
					body != NULL ? strlen(body) : 0,
					&text,
					headers);
	if (out != NULL)
		*out = text != NULL && text[0] != '\0' ? herald_test_parse_json(text) : NULL;
	return status;
}

/* a POST with one extra header (X-API-Key, Authorization: apikey) and no token */
static guint
api_with_header(Fixture *fx,
		const gchar *path,
		const gchar *header,
		const gchar *value,
		const gchar *body,
		JsonNode **out)
{
	g_autofree gchar *url = g_strdup_printf("%s%s", fx->daemon->base_url, path);
	g_autoptr(SoupSession) session = soup_session_new_with_options("timeout", 30, NULL);
	g_autoptr(SoupMessage) msg = soup_message_new("POST", url);
	g_autoptr(GBytes) req = g_bytes_new(body, strlen(body));
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = NULL;

	if (header != NULL)
		soup_message_headers_replace(soup_message_get_request_headers(msg), header, value);
	soup_message_set_request_body_from_bytes(msg, "application/json", req);
	bytes = soup_session_send_and_read(session, msg, NULL, &error);
	g_assert_no_error(error);
	text = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	*out = text[0] != '\0' ? herald_test_parse_json(text) : NULL;
	return soup_message_get_status(msg);
}

/* POST /api/notifications/send; returns the id */
static gchar *
send_ok(Fixture *fx, const gchar *body)
{
	g_autoptr(JsonNode) reply = NULL;
	guint status = api(fx, "POST", "/api/notifications/send", fx->service, body, &reply, NULL);
	if (status != 202) {
		g_autofree gchar *text = reply != NULL ? json_to_string(reply, FALSE) : NULL;
		g_error("send answered %u: %s", status, text);
	}
	g_assert_nonnull(herald_test_json_get_string(reply, "status"));
	return g_strdup(herald_test_json_get_string(reply, "id"));
}

static JsonNode *
get_status(Fixture *fx, const gchar *id)
{
	g_autofree gchar *path = g_strdup_printf("/api/notifications/%s", id);
	JsonNode *node = NULL;
	g_assert_cmpuint(api(fx, "GET", path, fx->service, NULL, &node, NULL), ==, 200);
	return node;
}

static gboolean
status_is_final(const gchar *status)
{
	const gchar *finals[] = {"delivered", "sent", "failed", "dead", "expired", NULL};
	return g_strv_contains(finals, status);
}

/* poll until the notification has @status; a different final status fails at once */
static JsonNode *
wait_status(Fixture *fx, const gchar *id, const gchar *status)
{
	g_autofree gchar *path = g_strdup_printf("/api/notifications/%s", id);
	gint64 deadline = g_get_monotonic_time() + WAIT_MS * 1000;
	for (;;) {
		g_autoptr(JsonNode) node = NULL;
		guint code = api(fx, "GET", path, fx->service, NULL, &node, NULL);
		const gchar *now;
		/* right after a restart with Redis, the store may not be connected yet */
		if (code == 503 && fx->redis && g_get_monotonic_time() < deadline) {
			g_assert_cmpstr(herald_test_json_get_string(node, "error"), ==, "unavailable");
			g_usleep(50000);
			continue;
		}
		g_assert_cmpuint(code, ==, 200);
		now = herald_test_json_get_string(node, "status");
		if (g_strcmp0(now, status) == 0)
			return g_steal_pointer(&node);
		if ((status_is_final(now) && g_strcmp0(now, status) != 0) ||
		    g_get_monotonic_time() > deadline) {
			g_autofree gchar *text = json_to_string(node, TRUE);
			g_error("notification %s is '%s', not '%s':\n%s", id, now, status, text);
		}
		while (g_main_context_iteration(NULL, FALSE))
			;
		g_usleep(50000);
	}
}

static JsonNode *
get_stats(Fixture *fx)
{
	JsonNode *node = NULL;
	g_assert_cmpuint(api(fx, "GET", "/stats", NULL, NULL, &node, NULL), ==, 200);
	return node;
}

static gint64
stat(Fixture *fx, const gchar *key)
{
	g_autoptr(JsonNode) stats = get_stats(fx);
	g_autofree gchar *path = g_strdup_printf("plugins.notifier-whatsapp.%s", key);
	return herald_test_json_get_int(stats, path);
}

/* the job ran @runs more times: time enough for a retry that must not happen */
static void
wait_job_runs(Fixture *fx, gint64 runs)
{
	gint64 target = stat(fx, "notifications_job_runs") + runs;
	gint64 deadline = g_get_monotonic_time() + WAIT_MS * 1000;
	while (stat(fx, "notifications_job_runs") < target) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(50000);
	}
}

static JsonObject *
history_entry(JsonNode *status, guint index)
{
	JsonArray *history = json_object_get_array_member(json_node_get_object(status), "history");
	g_assert_cmpuint(json_array_get_length(history), >, index);
	return json_array_get_object_element(history, index);
}

/* the @index-th attempt on @channel */
static JsonObject *
channel_entry(JsonNode *status, const gchar *channel, guint index)
{
	JsonArray *history = json_object_get_array_member(json_node_get_object(status), "history");
	for (guint i = 0; i < json_array_get_length(history); i++) {
		JsonObject *entry = json_array_get_object_element(history, i);
		if (g_strcmp0(json_object_get_string_member(entry, "channel"), channel) != 0)
			continue;
		if (index-- == 0)
			return entry;
	}
	g_error("no attempt on %s", channel);
	return NULL;
}

static guint
history_length(JsonNode *status)
{
	return json_array_get_length(
	    json_object_get_array_member(json_node_get_object(status), "history"));
}

/* ------------------------------------------------------------ WebSocket */

typedef struct {
	SoupSession *session;
	SoupMessage *msg;
	SoupWebsocketConnection *ws;
	GQueue messages; /* (element-type JsonNode) */
	gboolean done;
	gboolean closed;
	GError *error;
} WsClient;

static void
ws_message_cb(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
	WsClient *client = user_data;
	g_autofree gchar *text =
	    g_strndup(g_bytes_get_data(message, NULL), g_bytes_get_size(message));
	g_queue_push_tail(&client->messages, herald_test_parse_json(text));
}

static void
ws_closed_cb(SoupWebsocketConnection *ws, gpointer user_data)
{
	((WsClient *)user_data)->closed = TRUE;
}

static void
ws_connect_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	WsClient *client = user_data;
	client->ws = soup_session_websocket_connect_finish(SOUP_SESSION(source), res, &client->error);
	client->done = TRUE;
	if (client->ws == NULL)
		return;
	g_signal_connect(client->ws, "message", G_CALLBACK(ws_message_cb), client);
	g_signal_connect(client->ws, "closed", G_CALLBACK(ws_closed_cb), client);
}

static gboolean
ws_is_done(gpointer user_data)
{
	return ((WsClient *)user_data)->done;
}

static gboolean
ws_has_message(gpointer user_data)
{
	WsClient *client = user_data;
	return client->messages.length > 0 || client->closed;
}

static void
ws_client_free(WsClient *client)
{
	if (client->ws != NULL) {
		g_signal_handlers_disconnect_by_data(client->ws, client);
		if (soup_websocket_connection_get_state(client->ws) == SOUP_WEBSOCKET_STATE_OPEN)
			soup_websocket_connection_close(client->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
		g_object_unref(client->ws);
	}
	g_queue_clear_full(&client->messages, (GDestroyNotify)json_node_unref);
	g_clear_error(&client->error);
	g_clear_object(&client->msg);
	g_clear_object(&client->session);
	g_free(client);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WsClient, ws_client_free)

static JsonNode *
ws_next(WsClient *client)
{
	g_assert_true(herald_test_wait_until(ws_has_message, client, WAIT_MS));
	g_assert_cmpuint(client->messages.length, >, 0);
	return g_queue_pop_head(&client->messages);
}

/* the next message other than the greeting */
static JsonNode *
ws_next_notification(WsClient *client)
{
	for (;;) {
		JsonNode *node = ws_next(client);
		if (g_strcmp0(herald_test_json_get_string(node, "type"), "connected") != 0)
			return node;
		json_node_unref(node);
	}
}

/* a user's plain WebSocket connection, registered (greeting received) */
static WsClient *
ws_connect(Fixture *fx, const gchar *user, const gchar *role)
{
	WsClient *client = g_new0(WsClient, 1);
	g_autofree gchar *claims = g_strdup_printf("{\"sub\":\"%s\",\"role\":\"%s\"}", user, role);
	g_autofree gchar *token = herald_test_make_token(HERALD_TEST_SECRET, claims, 3600);
	g_autofree gchar *url =
	    g_strdup_printf("ws://127.0.0.1:%u/ws?token=%s", fx->daemon->port, token);
	g_autoptr(JsonNode) greeting = NULL;

	client->session = soup_session_new();
	client->msg = soup_message_new("GET", url);
	soup_session_websocket_connect_async(client->session,
					     client->msg,
					     NULL,
					     NULL,
					     G_PRIORITY_DEFAULT,
					     NULL,
					     ws_connect_cb,
					     client);
	g_assert_true(herald_test_wait_until(ws_is_done, client, WAIT_MS));
	g_assert_no_error(client->error);
	greeting = ws_next(client);
	g_assert_cmpstr(herald_test_json_get_string(greeting, "type"), ==, "connected");
	return client;
}

/* ------------------------------------------------------------ cases */

/* connected → WebSocket only, the provider is never called */
static void
test_connected_ws_only(Fixture *fx, gconstpointer data)
{
	g_autoptr(WsClient) client = NULL;
	g_autoptr(JsonNode) event = NULL;
	g_autoptr(JsonNode) status = NULL;
	g_autofree gchar *id = NULL;
	JsonObject *attempt;

	fixture_start(fx, NULL, NULL);
	client = ws_connect(fx, "u-wa", "ADVISOR");
	id = send_ok(fx,
		     "{\"user_id\":\"u-wa\",\"title\":\"Nueva solicitud\",\"message\":\"En tu zona\","
		     "\"type\":\"solicitud_nueva\",\"data\":{\"solicitud_id\":\"sol-456\"},"
		     "\"priority\":\"high\"}");
	event = ws_next_notification(client);
	g_assert_cmpstr(herald_test_json_get_string(event, "type"), ==,
			"notificacion_solicitud_nueva");
	g_assert_cmpstr(herald_test_json_get_string(event, "room"), ==, "user_u-wa");
	g_assert_cmpstr(herald_test_json_get_string(event, "payload.id"), ==, id);
	g_assert_cmpstr(herald_test_json_get_string(event, "payload.title"), ==, "Nueva solicitud");
	g_assert_cmpstr(herald_test_json_get_string(event, "payload.data.solicitud_id"), ==,
			"sol-456");
	status = wait_status(fx, id, "delivered");
	g_assert_cmpuint(history_length(status), ==, 1);
	attempt = history_entry(status, 0);
	g_assert_cmpstr(json_object_get_string_member(attempt, "channel"), ==, "websocket");
	g_assert_cmpstr(json_object_get_string_member(attempt, "result"), ==, "delivered");
	/* delivered is final: nothing goes to WhatsApp later */
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, 0);
	g_assert_cmpint(stat(fx, "notifications_sent.websocket"), ==, 1);
}

/* disconnected → WhatsApp template with the right body */
static void
test_disconnected_template(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) status = NULL;
	g_autoptr(JsonNode) body = NULL;
	g_autofree gchar *id = NULL;
	JsonObject *attempt;
	JsonArray *params;
	JsonObject *tmpl;

	fixture_start(fx,
		      NULL,
		      "[notifier-whatsapp.templates]\n"
		      "solicitud_nueva=nueva_solicitud:es_MX\n"
		      "general=aviso_general\n");
	id = send_ok(fx,
		     "{\"user_id\":\"u-wa\",\"title\":\"Nueva solicitud\",\"message\":\"Sol 17\","
		     "\"type\":\"solicitud_nueva\",\"priority\":\"normal\"}");
	status = wait_status(fx, id, "sent");
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, 1);
	body = fake_provider_get_body(fx->fake, 0);
	g_assert_cmpstr(herald_test_json_get_string(body, "messaging_product"), ==, "whatsapp");
	g_assert_cmpstr(herald_test_json_get_string(body, "to"), ==, PHONE_WA_TO);
	g_assert_cmpstr(herald_test_json_get_string(body, "type"), ==, "template");
	g_assert_cmpstr(herald_test_json_get_string(body, "template.name"), ==, "nueva_solicitud");
	g_assert_cmpstr(herald_test_json_get_string(body, "template.language.code"), ==, "es_MX");
	tmpl = json_object_get_object_member(json_node_get_object(body), "template");
	params = json_object_get_array_member(
	    json_array_get_object_element(json_object_get_array_member(tmpl, "components"), 0),
	    "parameters");
	g_assert_cmpuint(json_array_get_length(params), ==, 2);
	g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(params, 0),
						      "text"),
			==,
			"Nueva solicitud");
	g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(params, 1),
						      "text"),
			==,
			"Sol 17");
	/* the delivery log: websocket not connected, then WhatsApp with the wamid */
	g_assert_cmpuint(history_length(status), ==, 2);
	g_assert_cmpstr(json_object_get_string_member(history_entry(status, 0), "result"), ==,
			"not_connected");
	attempt = history_entry(status, 1);
	g_assert_cmpstr(json_object_get_string_member(attempt, "channel"), ==, "whatsapp");
	g_assert_cmpstr(json_object_get_string_member(attempt, "result"), ==, "sent");
	g_assert_true(g_str_has_prefix(json_object_get_string_member(attempt, "wamid"), "wamid."));
	g_assert_cmpint(stat(fx, "notifications_fallbacks"), ==, 1);
	g_assert_cmpint(stat(fx, "notifications_sent.whatsapp"), ==, 1);
	if (fx->redis) {
		/* the status record is in Redis, with a TTL, and out of the queue */
		g_autofree gchar *key = g_strdup_printf("herald:notify:status:%s", id);
		const gchar *get[] = {"GET", key, NULL};
		const gchar *ttl[] = {"TTL", key, NULL};
		const gchar *zscore[] = {"ZSCORE", "herald:notify:queue", id, NULL};
		g_autofree gchar *record = redis_cli(fx, get);
		g_autofree gchar *left = redis_cli(fx, ttl);
		g_autofree gchar *score = redis_cli(fx, zscore);
		g_assert_nonnull(strstr(record, "\"status\":\"sent\""));
		g_assert_cmpint(g_ascii_strtoll(left, NULL, 10), >, 0);
		g_assert_cmpstr(g_strstrip(score), ==, "");
	}
	/* GET never shows the phone number */
	{
		g_autofree gchar *text = json_to_string(status, FALSE);
		g_assert_null(strstr(text, "5512345678"));
	}
}

/* no template configured: free text; the request's phone wins */
static void
test_disconnected_text(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) status = NULL;
	g_autoptr(JsonNode) body = NULL;
	g_autofree gchar *id = NULL;

	fixture_start(fx, NULL, NULL);
	id = send_ok(fx,
		     "{\"user_id\":\"u-nophone\",\"title\":\"Hola\",\"message\":\"Oferta ganadora\","
		     "\"type\":\"oferta_resultado\",\"phone\":\"+34600111222\"}");
	status = wait_status(fx, id, "sent");
	body = fake_provider_get_body(fx->fake, 0);
	g_assert_cmpstr(herald_test_json_get_string(body, "type"), ==, "text");
	g_assert_cmpstr(herald_test_json_get_string(body, "to"), ==, "34600111222");
	g_assert_cmpstr(herald_test_json_get_string(body, "text.body"), ==,
			"*Hola*\nOferta ganadora");
}

/* 500 → queued → retried after the backoff → sent; the attempts are in GET */
static void
test_retry_then_sent(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) status = NULL;
	g_autofree gchar *id = NULL;
	JsonObject *first;
	JsonObject *second;

	fake_provider_script(fx->fake, "500", "429", NULL);
	fixture_start(fx, NULL, NULL);
	id = send_ok(fx, "{\"user_id\":\"u-wa\",\"title\":\"T\",\"message\":\"M\"}");
	status = wait_status(fx, id, "sent");
	g_assert_cmpint(json_object_get_int_member(json_node_get_object(status), "attempts"), ==, 3);
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, 3);
	first = channel_entry(status, "whatsapp", 0);
	g_assert_cmpstr(json_object_get_string_member(first, "result"), ==, "retry");
	g_assert_cmpint(json_object_get_int_member(first, "http_status"), ==, 500);
	second = channel_entry(status, "whatsapp", 1);
	g_assert_cmpstr(json_object_get_string_member(second, "result"), ==, "retry");
	g_assert_cmpint(json_object_get_int_member(second, "error_code"), ==, 130429);
	g_assert_cmpstr(json_object_get_string_member(channel_entry(status, "whatsapp", 2), "result"),
			==,
			"sent");
	/* each retry looks for a WebSocket connection first */
	g_assert_cmpstr(json_object_get_string_member(channel_entry(status, "websocket", 2), "result"),
			==,
			"not_connected");
	g_assert_cmpint(stat(fx, "notifications_retries"), ==, 2);
}

/* 131026 is not retried */
static void
test_undeliverable_no_retry(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) status = NULL;
	g_autofree gchar *id = NULL;
	JsonObject *attempt;

	fake_provider_set_default(fx->fake, "131026");
	fixture_start(fx, NULL, NULL);
	id = send_ok(fx, "{\"user_id\":\"u-wa\",\"title\":\"T\",\"message\":\"M\"}");
	status = wait_status(fx, id, "failed");
	attempt = history_entry(status, 1);
	g_assert_cmpint(json_object_get_int_member(attempt, "error_code"), ==, 131026);
	g_assert_cmpint(json_object_get_int_member(attempt, "http_status"), ==, 400);
	/* two more runs of the retry job: still one request */
	wait_job_runs(fx, 2);
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, 1);
	g_assert_cmpint(stat(fx, "notifications_retries"), ==, 0);
}

/* max attempts → dead letter */
static void
test_dead_letter(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) status = NULL;
	g_autofree gchar *id = NULL;

	fake_provider_set_default(fx->fake, "500");
	fixture_start(fx, "max-attempts=3", NULL);
	id = send_ok(fx, "{\"user_id\":\"u-wa\",\"title\":\"T\",\"message\":\"M\"}");
	status = wait_status(fx, id, "dead");
	g_assert_cmpint(json_object_get_int_member(json_node_get_object(status), "attempts"), ==, 3);
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, 3);
	g_assert_cmpstr(json_object_get_string_member(channel_entry(status, "whatsapp", 2), "result"),
			==,
			"dead");
	g_assert_cmpint(stat(fx, "notifications_dead_letters"), ==, 1);
	g_assert_cmpint(stat(fx, "notifications_dead"), ==, 1);
	wait_job_runs(fx, 2);
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, 3);
}

static void
restart_after_kill(Fixture *fx)
{
	g_autoptr(GError) error = NULL;
	herald_test_daemon_signal(fx->daemon, SIGKILL);
	g_assert_cmpint(herald_test_daemon_wait(fx->daemon, WAIT_MS), ==, 128 + SIGKILL);
	g_clear_object(&fx->daemon->process);
	if (!herald_test_daemon_start(fx->daemon, &error))
		g_error("%s", error->message);
	fixture_wait_ready(fx);
}

/* SIGKILL with a notification in the retry queue; the restarted daemon sends it */
static void
test_kill_restart_queued(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) status = NULL;
	g_autofree gchar *id = NULL;
	gint64 deadline = g_get_monotonic_time() + WAIT_MS * 1000;

	fake_provider_set_default(fx->fake, "500");
	fixture_start(fx, "backoff-base-s=4\nbackoff-cap-s=4\nmax-attempts=20", NULL);
	id = send_ok(fx, "{\"user_id\":\"u-wa\",\"title\":\"T\",\"message\":\"M\"}");
	for (;;) {
		g_autoptr(JsonNode) node = get_status(fx, id);
		if (g_strcmp0(herald_test_json_get_string(node, "status"), "pending") == 0)
			break;
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(20000);
	}
	fake_provider_set_default(fx->fake, "ok");
	restart_after_kill(fx);
	status = wait_status(fx, id, "sent");
	/* the attempt made before the kill is still in the log */
	g_assert_cmpstr(json_object_get_string_member(channel_entry(status, "whatsapp", 0), "result"),
			==,
			"retry");
	g_assert_cmpuint(fake_provider_get_count(fx->fake), >=, 2);
}

/* SIGKILL while the request to the provider is in flight (it never answers) */
static void
test_kill_restart_in_flight(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) status = NULL;
	g_autofree gchar *id = NULL;

	fake_provider_set_default(fx->fake, "hang");
	fixture_start(fx, "request-timeout-s=600", NULL);
	id = send_ok(fx, "{\"user_id\":\"u-wa\",\"title\":\"T\",\"message\":\"M\"}");
	g_assert_true(fake_provider_wait_count(fx->fake, 1, WAIT_MS));
	fake_provider_set_default(fx->fake, "ok");
	restart_after_kill(fx);
	status = wait_status(fx, id, "sent");
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, 2);
}

/* a provider that never answers: the timeout counts as a failed attempt */
static void
test_provider_hangs(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) status = NULL;
	g_autofree gchar *id = NULL;
	JsonObject *attempt;

	fake_provider_script(fx->fake, "hang", NULL);
	fixture_start(fx, "request-timeout-s=1", NULL);
	id = send_ok(fx, "{\"user_id\":\"u-wa\",\"title\":\"T\",\"message\":\"M\"}");
	status = wait_status(fx, id, "sent");
	attempt = channel_entry(status, "whatsapp", 0);
	g_assert_cmpstr(json_object_get_string_member(attempt, "result"), ==, "retry");
	g_assert_cmpstr(json_object_get_string_member(attempt, "reason"), ==, "request timed out");
}

/* garbage from the provider: not taken as sent, retried, then sent */
static void
test_provider_garbage(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) status = NULL;
	g_autofree gchar *id = NULL;
	JsonObject *attempt;

	fake_provider_script(fx->fake, "garbage", NULL);
	fixture_start(fx, NULL, NULL);
	id = send_ok(fx, "{\"user_id\":\"u-wa\",\"title\":\"T\",\"message\":\"M\"}");
	status = wait_status(fx, id, "sent");
	attempt = channel_entry(status, "whatsapp", 0);
	g_assert_cmpstr(json_object_get_string_member(attempt, "result"), ==, "retry");
	g_assert_nonnull(strstr(json_object_get_string_member(attempt, "reason"),
				"without a message id"));
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, 2);
}

/* 131047 for free text: the same notification goes out as the template */
static void
test_reengagement_template(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) status = NULL;
	g_autoptr(JsonNode) first = NULL;
	g_autoptr(JsonNode) second = NULL;
	g_autofree gchar *id = NULL;
	JsonObject *attempt;

	fake_provider_set_default(fx->fake, "131047-text");
	fixture_start(fx, "text-first=true", "[notifier-whatsapp.templates]\ngeneral=aviso_general\n");
	id = send_ok(fx, "{\"user_id\":\"u-wa\",\"title\":\"T\",\"message\":\"M\"}");
	status = wait_status(fx, id, "sent");
	first = fake_provider_get_body(fx->fake, 0);
	second = fake_provider_get_body(fx->fake, 1);
	g_assert_cmpstr(herald_test_json_get_string(first, "type"), ==, "text");
	g_assert_cmpstr(herald_test_json_get_string(second, "type"), ==, "template");
	g_assert_cmpstr(herald_test_json_get_string(second, "template.name"), ==, "aviso_general");
	g_assert_cmpstr(herald_test_json_get_string(second, "template.language.code"), ==, "es");
	attempt = history_entry(status, 1);
	g_assert_cmpstr(json_object_get_string_member(attempt, "result"), ==, "template_required");
	g_assert_cmpint(json_object_get_int_member(attempt, "error_code"), ==, 131047);
	g_assert_cmpstr(json_object_get_string_member(history_entry(status, 2), "message_type"),
			==,
			"template");
	g_assert_cmpint(stat(fx, "notifications_template_switches"), ==, 1);
}

/* no phone number, or an invalid one: the attempt fails with a reason */
static void
test_no_phone(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) none = NULL;
	g_autoptr(JsonNode) bad = NULL;
	g_autofree gchar *id_none = NULL;
	g_autofree gchar *id_bad = NULL;

	fixture_start(fx, NULL, NULL);
	id_none = send_ok(fx, "{\"user_id\":\"u-nophone\",\"title\":\"T\",\"message\":\"M\"}");
	id_bad = send_ok(fx, "{\"user_id\":\"u-bad\",\"title\":\"T\",\"message\":\"M\"}");
	none = wait_status(fx, id_none, "failed");
	bad = wait_status(fx, id_bad, "failed");
	g_assert_cmpstr(herald_test_json_get_string(none, "reason"), ==,
			"no phone number for this user");
	g_assert_cmpstr(herald_test_json_get_string(bad, "reason"), ==,
			"invalid phone number (not E.164)");
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, 0);
}

/* rate limit per recipient → 429 with Retry-After; urgent passes the minute limit */
static void
test_rate_limit(Fixture *fx, gconstpointer data)
{
	const gchar *body = "{\"user_id\":\"u-rl\",\"title\":\"T\",\"message\":\"M\"}";
	const gchar *urgent =
	    "{\"user_id\":\"u-rl\",\"title\":\"T\",\"message\":\"M\",\"priority\":\"urgent\"}";
	g_autoptr(JsonNode) reply = NULL;
	g_autoptr(SoupMessageHeaders) headers = NULL;
	g_autofree gchar *a = NULL;
	g_autofree gchar *b = NULL;
	g_autofree gchar *c = NULL;
	const gchar *retry_after;

	fixture_start(fx, "mode=none\nrate-per-minute=2\nrate-per-hour=3", NULL);
	a = send_ok(fx, body);
	b = send_ok(fx, body);
	g_assert_cmpuint(api(fx, "POST", "/api/notifications/send", fx->service, body, &reply,
			     &headers),
			 ==,
			 429);
	g_assert_cmpstr(herald_test_json_get_string(reply, "error"), ==, "rate_limited");
	retry_after = soup_message_headers_get_one(headers, "Retry-After");
	g_assert_nonnull(retry_after);
	g_assert_cmpint(g_ascii_strtoll(retry_after, NULL, 10), >=, 1);
	g_assert_cmpint(g_ascii_strtoll(retry_after, NULL, 10), <=, 60);
	/* another recipient is not affected */
	g_free(send_ok(fx, "{\"user_id\":\"u-other\",\"title\":\"T\",\"message\":\"M\"}"));
	/* urgent bypasses the minute limit, not the hour limit */
	c = send_ok(fx, urgent);
	g_clear_pointer(&reply, json_node_unref);
	g_clear_pointer(&headers, soup_message_headers_unref);
	g_assert_cmpuint(api(fx, "POST", "/api/notifications/send", fx->service, urgent, &reply,
			     &headers),
			 ==,
			 429);
	g_assert_cmpint(g_ascii_strtoll(soup_message_headers_get_one(headers, "Retry-After"),
					NULL,
					10),
			>,
			60);
	g_assert_cmpint(stat(fx, "notifications_rate_limited"), ==, 2);
}

/* one phone number under many user ids: its own limit, not one per user id.
 * In the request: 429 at once; looked up at send time: WhatsApp waits */
static void
test_rate_limit_phone(Fixture *fx, gconstpointer data)
{
	g_autoptr(GString) phones = g_string_new("[phones]\n");
	guint accepted = 0;
	guint refused = 0;
	gint64 deadline;

	/* five user ids, one number, looked up at send time */
	for (guint i = 0; i < 5; i++)
		g_string_append_printf(phones, "u-same-%u=" PHONE_WA "\n", i);
	g_free(herald_test_write_file(fx->files, "phones.conf", phones->str));
	if (fx->redis) {
		for (guint i = 0; i < 5; i++) {
			g_autofree gchar *user = g_strdup_printf("u-same-%u", i);
			const gchar *hset[] = {"HSET", "herald:phones", user, PHONE_WA, NULL};
			g_free(redis_cli(fx, hset));
		}
	}
	fixture_start(fx, "rate-per-minute=60\nrate-per-hour=500", NULL);

	/* 70 notifications, 70 user ids, one number in the request */
	for (guint i = 0; i < 70; i++) {
		g_autofree gchar *body = g_strdup_printf(
		    "{\"user_id\":\"u-flood-%u\",\"title\":\"T\",\"message\":\"M\","
		    "\"priority\":\"low\",\"phone\":\"" PHONE_WA "\"}",
		    i);
		g_autoptr(JsonNode) reply = NULL;
		g_autoptr(SoupMessageHeaders) headers = NULL;
		guint status = api(fx, "POST", "/api/notifications/send", fx->service, body, &reply,
				   &headers);
		if (status == 202) {
			accepted++;
			continue;
		}
		g_assert_cmpuint(status, ==, 429);
		g_assert_cmpstr(herald_test_json_get_string(reply, "error"), ==, "rate_limited");
		g_assert_nonnull(herald_test_json_get_string(reply, "message"));
		g_assert_cmpint(g_ascii_strtoll(soup_message_headers_get_one(headers, "Retry-After"),
						NULL,
						10),
				>=,
				1);
		refused++;
	}
	g_assert_cmpuint(accepted, ==, 60);
	g_assert_cmpuint(refused, ==, 10);
	g_assert_cmpint(stat(fx, "notifications_rate_limited_phone"), ==, 10);
	g_assert_cmpint(stat(fx, "notifications_rate_limited"), ==, 10);
	/* another number is not affected */
	g_free(send_ok(fx,
		       "{\"user_id\":\"u-flood-x\",\"title\":\"T\",\"message\":\"M\","
		       "\"priority\":\"low\",\"phone\":\"+5215500000000\"}"));

	/* the number is full for this minute: the looked-up ones go to WhatsApp
	 * later, none now, and none is refused or fails */
	for (guint i = 0; i < 5; i++) {
		g_autofree gchar *body = g_strdup_printf(
		    "{\"user_id\":\"u-same-%u\",\"title\":\"T\",\"message\":\"M\"}", i);
		g_autofree gchar *id = send_ok(fx, body);
		g_autoptr(JsonNode) status = NULL;
		g_autofree gchar *text = NULL;
		JsonObject *entry;
		deadline = g_get_monotonic_time() + WAIT_MS * 1000;
		while (stat(fx, "whatsapp_deferred_phone_rate") < i + 1) {
			g_assert_cmpint(g_get_monotonic_time(), <, deadline);
			while (g_main_context_iteration(NULL, FALSE))
				;
			g_usleep(20000);
		}
		status = wait_status(fx, id, "pending");
		g_assert_cmpstr(herald_test_json_get_string(status, "reason"), ==,
				"phone number over its rate limit");
		entry = channel_entry(status, "whatsapp", 0);
		g_assert_cmpstr(json_object_get_string_member(entry, "result"), ==, "deferred");
		text = json_to_string(status, FALSE);
		g_assert_null(strstr(text, PHONE_WA_TO));
	}
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, 0);
	g_assert_cmpint(stat(fx, "notifications_rate_limited"), ==, 10);
}

/* broadcast to a role: WebSocket to that role's connections only */
static void
test_broadcast_role(Fixture *fx, gconstpointer data)
{
	g_autoptr(WsClient) seller = NULL;
	g_autoptr(WsClient) client = NULL;
	g_autoptr(JsonNode) reply = NULL;
	g_autoptr(JsonNode) reply2 = NULL;
	g_autoptr(JsonNode) event = NULL;
	g_autoptr(JsonNode) event2 = NULL;

	fixture_start(fx, NULL, NULL);
	seller = ws_connect(fx, "s1", "SELLER");
	client = ws_connect(fx, "c1", "CLIENT");
	g_assert_cmpuint(api(fx,
			     "POST",
			     "/api/notifications/broadcast",
			     fx->service,
			     "{\"role\":\"SELLER\",\"title\":\"Sistema\",\"message\":\"Nueva versión\","
			     "\"type\":\"sistema_update\"}",
			     &reply,
			     NULL),
			 ==,
			 202);
	g_assert_cmpint(herald_test_json_get_int(reply, "connections"), ==, 1);
	g_assert_cmpstr(herald_test_json_get_string(reply, "status"), ==, "delivered");
	event = ws_next_notification(seller);
	/* a custom type keeps its own event name */
	g_assert_cmpstr(herald_test_json_get_string(event, "type"), ==,
			"notificacion_sistema_update");
	g_assert_cmpstr(herald_test_json_get_string(event, "payload.role"), ==, "SELLER");
	g_assert_cmpstr(herald_test_json_get_string(event, "payload.original_type"), ==,
			"sistema_update");
	/* the CLIENT's next message is the broadcast to its own role, not the first */
	g_assert_cmpuint(api(fx,
			     "POST",
			     "/api/notifications/broadcast",
			     fx->service,
			     "{\"role\":\"CLIENT\",\"title\":\"Para clientes\",\"message\":\"M\"}",
			     &reply2,
			     NULL),
			 ==,
			 202);
	event2 = ws_next_notification(client);
	g_assert_cmpstr(herald_test_json_get_string(event2, "payload.title"), ==, "Para clientes");
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, 0);
}

/* low: never WhatsApp; held until the user connects */
static void
test_low_held(Fixture *fx, gconstpointer data)
{
	g_autoptr(WsClient) client = NULL;
	g_autoptr(JsonNode) held = NULL;
	g_autoptr(JsonNode) delivered = NULL;
	g_autoptr(JsonNode) event = NULL;
	g_autofree gchar *id = NULL;
	JsonObject *attempt;

	fixture_start(fx, NULL, NULL);
	id = send_ok(fx,
		     "{\"user_id\":\"u-wa\",\"title\":\"Resumen\",\"message\":\"M\","
		     "\"priority\":\"low\",\"type\":\"evaluacion_completada\"}");
	held = wait_status(fx, id, "held");
	g_assert_nonnull(herald_test_json_get_string(held, "expires_at"));
	g_assert_cmpint(stat(fx, "notifications_held"), ==, 1);
	client = ws_connect(fx, "u-wa", "ADVISOR");
	event = ws_next_notification(client);
	g_assert_cmpstr(herald_test_json_get_string(event, "type"), ==,
			"notificacion_evaluacion_completada");
	g_assert_cmpstr(herald_test_json_get_string(event, "payload.id"), ==, id);
	delivered = wait_status(fx, id, "delivered");
	attempt = history_entry(delivered, 1);
	g_assert_true(json_object_get_boolean_member(attempt, "on_connect"));
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, 0);
}

/* low that nobody picks up expires */
static void
test_low_expires(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) status = NULL;
	g_autofree gchar *id = NULL;

	fixture_start(fx, "low-ttl-s=1", NULL);
	id = send_ok(fx, "{\"user_id\":\"u-wa\",\"title\":\"T\",\"message\":\"M\",\"priority\":\"low\"}");
	status = wait_status(fx, id, "expired");
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, 0);
	g_assert_cmpint(stat(fx, "notifications_expired"), ==, 1);
}

/* urgent: WebSocket and WhatsApp at once */
static void
test_urgent_both(Fixture *fx, gconstpointer data)
{
	g_autoptr(WsClient) client = NULL;
	g_autoptr(JsonNode) status = NULL;
	g_autoptr(JsonNode) event = NULL;
	g_autofree gchar *id = NULL;

	fixture_start(fx, NULL, NULL);
	client = ws_connect(fx, "u-wa", "ADVISOR");
	id = send_ok(fx,
		     "{\"user_id\":\"u-wa\",\"title\":\"Urgente\",\"message\":\"M\","
		     "\"priority\":\"urgent\"}");
	event = ws_next_notification(client);
	g_assert_cmpstr(herald_test_json_get_string(event, "payload.priority"), ==, "urgent");
	status = wait_status(fx, id, "sent");
	g_assert_true(json_object_get_boolean_member(json_node_get_object(status),
						     "websocket_delivered"));
	g_assert_cmpstr(json_object_get_string_member(history_entry(status, 0), "result"), ==,
			"delivered");
	g_assert_cmpstr(json_object_get_string_member(history_entry(status, 1), "result"), ==,
			"sent");
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, 1);
}

/* queue order honours priority: with one request slot and a provider that
 * holds the first one, high goes before normal whatever the arrival order */
static void
test_priority_order(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) second = NULL;
	g_autoptr(JsonNode) third = NULL;
	g_autofree gchar *a = NULL;
	g_autofree gchar *b = NULL;
	g_autofree gchar *c = NULL;

	fake_provider_script(fx->fake, "hang", NULL);
	fixture_start(fx, "max-in-flight=1\nrequest-timeout-s=3", NULL);
	a = send_ok(fx, "{\"user_id\":\"u-wa\",\"title\":\"blocker\",\"message\":\"M\"}");
	g_assert_true(fake_provider_wait_count(fx->fake, 1, WAIT_MS));
	b = send_ok(fx, "{\"user_id\":\"u-wa\",\"title\":\"normal\",\"message\":\"M\"}");
	c = send_ok(fx,
		    "{\"user_id\":\"u-wa\",\"title\":\"high\",\"message\":\"M\",\"priority\":\"high\"}");
	json_node_unref(wait_status(fx, b, "sent"));
	json_node_unref(wait_status(fx, c, "sent"));
	second = fake_provider_get_body(fx->fake, 1);
	third = fake_provider_get_body(fx->fake, 2);
	g_assert_cmpstr(herald_test_json_get_string(second, "text.body"), ==, "*high*\nM");
	g_assert_cmpstr(herald_test_json_get_string(third, "text.body"), ==, "*normal*\nM");
}

/* mode=webhook: a JSON document to the agent service */
static void
test_webhook(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) status = NULL;
	g_autoptr(JsonNode) body = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *mode = g_strdup_printf("mode=webhook\nwebhook-url=http://127.0.0.1:%u%s",
						 fake_provider_get_port(fx->fake),
						 FAKE_WEBHOOK_PATH);

	fixture_start(fx, mode, NULL);
	id = send_ok(fx,
		     "{\"user_id\":\"u-wa\",\"title\":\"T\",\"message\":\"M\","
		     "\"type\":\"oferta_resultado\",\"data\":{\"result\":\"GANADORA\"}}");
	status = wait_status(fx, id, "sent");
	body = fake_provider_get_body(fx->fake, 0);
	g_assert_cmpstr(herald_test_json_get_string(body, "id"), ==, id);
	g_assert_cmpstr(herald_test_json_get_string(body, "phone"), ==, PHONE_WA);
	g_assert_cmpstr(herald_test_json_get_string(body, "type"), ==, "oferta_resultado");
	g_assert_cmpstr(herald_test_json_get_string(body, "data.result"), ==, "GANADORA");
	g_assert_cmpstr(json_object_get_string_member(history_entry(status, 1), "provider_id"), ==,
			"agent-1");
}

/* another plugin notifies through the bus (`request::notify`) */
static void
test_bus_notify(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) reply = NULL;
	g_autoptr(JsonNode) refused = NULL;
	g_autoptr(JsonNode) limited = NULL;
	g_autoptr(JsonNode) status = NULL;
	const gchar *body = "{\"user_id\":\"u-wa\",\"title\":\"Archivo rechazado\","
			    "\"message\":\"virus\",\"priority\":\"high\"}";

	fixture_start(fx, "rate-per-minute=1", NULL);
	g_assert_cmpuint(api(fx, "POST", "/test/notify", fx->service, body, &reply, NULL), ==, 202);
	status = wait_status(fx, herald_test_json_get_string(reply, "id"), "sent");
	g_assert_cmpstr(herald_test_json_get_string(status, "title"), ==, "Archivo rechazado");
	/* the same refusals as the HTTP API, as task errors */
	g_assert_cmpuint(api(fx,
			     "POST",
			     "/test/notify",
			     fx->service,
			     "{\"user_id\":\"u-x\",\"title\":\"T\",\"message\":\"M\",\"priority\":\"p\"}",
			     &refused,
			     NULL),
			 ==,
			 400);
	g_assert_cmpstr(herald_test_json_get_string(refused, "error"), ==, "invalid_argument");
	g_assert_cmpuint(api(fx, "POST", "/test/notify", fx->service, body, &limited, NULL), ==, 429);
	g_assert_cmpstr(herald_test_json_get_string(limited, "error"), ==, "rate_limited");
}

static void
expect_error(Fixture *fx,
	     const gchar *path,
	     const gchar *token,
	     const gchar *body,
	     guint status,
	     const gchar *code,
	     const gchar *needle)
{
	g_autoptr(JsonNode) reply = NULL;
	const gchar *message;
	g_assert_cmpuint(api(fx, body != NULL ? "POST" : "GET", path, token, body, &reply, NULL),
			 ==,
			 status);
	g_assert_cmpstr(herald_test_json_get_string(reply, "error"), ==, code);
	message = herald_test_json_get_string(reply, "message");
	g_assert_nonnull(message);
	if (needle != NULL && strstr(message, needle) == NULL)
		g_error("'%s' does not mention '%s'", message, needle);
}

static void
test_bad_input(Fixture *fx, gconstpointer data)
{
	const gchar *send = "/api/notifications/send";
	g_autofree gchar *huge = NULL;
	g_autofree gchar *user = herald_test_make_token(HERALD_TEST_SECRET,
						       "{\"sub\":\"u1\",\"role\":\"CLIENT\"}",
						       3600);
	g_autofree gchar *forged = herald_test_make_token("another-secret-of-32-bytes-or-more",
							  "{\"sub\":\"svc\",\"role\":\"SERVICE\"}",
							  3600);
	GString *big = g_string_new("{\"user_id\":\"u1\",\"title\":\"T\",\"message\":\"M\","
				     "\"data\":{\"blob\":\"");
	for (guint i = 0; i < 20000; i++)
		g_string_append_c(big, 'x');
	g_string_append(big, "\"}}");
	huge = g_string_free(big, FALSE);

	fixture_start(fx, NULL, NULL);
	expect_error(fx, send, fx->service, "this is not json", 400, "invalid_argument", "JSON");
	expect_error(fx, send, fx->service, "[1,2]", 400, "invalid_argument", "object");
	expect_error(fx, send, fx->service, "{\"title\":\"T\",\"message\":\"M\"}", 400,
		     "invalid_argument", "user_id");
	expect_error(fx, send, fx->service, "{\"user_id\":\"u1\",\"message\":\"M\"}", 400,
		     "invalid_argument", "title");
	expect_error(fx, send, fx->service,
		     "{\"user_id\":\"u1\",\"title\":\"T\",\"message\":\"M\",\"priority\":\"asap\"}", 400,
		     "invalid_argument", "asap");
	expect_error(fx, send, fx->service, huge, 413, "too_large", "data");
	expect_error(fx, send, fx->service,
		     "{\"user_id\":\"u\\u0007\\u001b[2J\",\"title\":\"T\",\"message\":\"M\"}", 400,
		     "invalid_argument", "user_id");
	expect_error(fx, send, fx->service,
		     "{\"user_id\":\"u1\",\"title\":\"T\",\"message\":\"M\",\"phone\":\"55-1234\"}",
		     400, "invalid_argument", "E.164");
	expect_error(fx, send, NULL, "{\"user_id\":\"u1\",\"title\":\"T\",\"message\":\"M\"}", 401,
		     "unauthorized", NULL);
	expect_error(fx, send, forged, "{\"user_id\":\"u1\",\"title\":\"T\",\"message\":\"M\"}", 401,
		     "unauthorized", NULL);
	expect_error(fx, send, user, "{\"user_id\":\"u1\",\"title\":\"T\",\"message\":\"M\"}", 403,
		     "forbidden", NULL);
	expect_error(fx, "/api/notifications/broadcast", fx->service,
		     "{\"room\":\"admin\",\"role\":\"ADMIN\",\"title\":\"T\",\"message\":\"M\"}", 400,
		     "invalid_argument", "room");
	expect_error(fx, "/api/notifications/broadcast", fx->service,
		     "{\"room\":\"bad room\",\"title\":\"T\",\"message\":\"M\"}", 400,
		     "invalid_argument", "room");
	expect_error(fx, "/api/notifications/00000000-0000-4000-8000-000000000000", fx->service,
		     NULL, 404, "not_found", NULL);
	expect_error(fx, "/api/notifications/zz%3Bzz", fx->service, NULL, 404, "not_found",
		     NULL);
	expect_error(fx, "/api/notifications/00000000-0000-4000-8000-000000000000", NULL, NULL,
		     401, "unauthorized", NULL);
	g_assert_cmpint(stat(fx, "notifications_rejected"), >=, 9);
	g_assert_cmpint(stat(fx, "notifications_accepted"), ==, 0);

	/* 200,000 levels of `[` overflowed json-glib 1.6's stack: one request
	 * with a service token crashed heraldd; now it is a 400 and the same path
	 * works right after */
	{
		g_autoptr(GString) deep = g_string_new("{\"user_id\":\"u1\",\"data\":");
		g_autofree gchar *id = NULL;
		g_autoptr(JsonNode) stats = NULL;
		for (guint i = 0; i < 200000; i++)
			g_string_append_c(deep, '[');
		expect_error(fx, send, fx->service, deep->str, 400, "invalid_argument", "64");
		id = send_ok(fx, "{\"user_id\":\"u1\",\"title\":\"T\",\"message\":\"M\"}");
		g_assert_nonnull(id);
		g_assert_cmpint(stat(fx, "notifications_accepted"), ==, 1);
		stats = get_stats(fx);
		g_assert_cmpint(herald_test_json_get_int(stats, "json_too_deep_total"), ==, 1);
	}
}


/* seed 002's backend: {userId, type, payload} with an API key, no token */
static void
test_seed002_api_key(Fixture *fx, gconstpointer data)
{
	g_autoptr(WsClient) client = NULL;
	g_autoptr(WsClient) seller = NULL;
	g_autoptr(JsonNode) reply = NULL;
	g_autoptr(JsonNode) reply2 = NULL;
	g_autoptr(JsonNode) event = NULL;
	g_autoptr(JsonNode) event2 = NULL;
	g_autoptr(JsonNode) status = NULL;

	fx->api_key_file = herald_test_write_file(fx->files,
						  "api.keys",
						  "\n" API_KEY "\n  " API_KEY_OTHER "  \n\n");
	fixture_start(fx, NULL, NULL);
	client = ws_connect(fx, "123", "CLIENT");
	seller = ws_connect(fx, "s1", "SELLER");
	g_assert_cmpuint(api_with_header(fx,
					 "/api/notifications/send",
					 "X-API-Key",
					 API_KEY,
					 "{\"userId\":\"123\",\"type\":\"order_update\","
					 "\"payload\":{\"orderId\":\"456\",\"status\":\"shipped\"}}",
					 &reply),
			 ==,
			 202);
	event = ws_next_notification(client);
	g_assert_cmpstr(herald_test_json_get_string(event, "type"), ==, "notificacion_order_update");
	g_assert_cmpstr(herald_test_json_get_string(event, "payload.data.orderId"), ==, "456");
	g_assert_cmpstr(herald_test_json_get_string(event, "payload.original_type"), ==,
			"order_update");
	g_assert_cmpstr(herald_test_json_get_string(event, "payload.title"), ==, "order_update");
	status = wait_status(fx, herald_test_json_get_string(reply, "id"), "delivered");
	g_assert_cmpstr(herald_test_json_get_string(status, "data.status"), ==, "shipped");
	/* the second key, as Authorization: apikey, on a seed-002 broadcast */
	g_assert_cmpuint(api_with_header(fx,
					 "/api/notifications/broadcast",
					 "Authorization",
					 "apikey " API_KEY_OTHER,
					 "{\"room\":\"user_s1\",\"type\":\"inventory_alert\","
					 "\"payload\":{\"title\":\"Stock\",\"message\":\"bajo\","
					 "\"productId\":\"67890\"},\"timestamp\":\"2024-01-01T00:00:00Z\"}",
					 &reply2),
			 ==,
			 202);
	g_assert_cmpint(herald_test_json_get_int(reply2, "connections"), ==, 1);
	event2 = ws_next_notification(seller);
	g_assert_cmpstr(herald_test_json_get_string(event2, "type"), ==,
			"notificacion_inventory_alert");
	g_assert_cmpstr(herald_test_json_get_string(event2, "payload.title"), ==, "Stock");
	g_assert_cmpstr(herald_test_json_get_string(event2, "payload.data.productId"), ==, "67890");
	g_assert_cmpint(stat(fx, "notifications_accepted"), ==, 1);
}

static void
expect_key_error(Fixture *fx,
		 const gchar *path,
		 const gchar *header,
		 const gchar *value,
		 guint status,
		 const gchar *code,
		 const gchar *needle)
{
	g_autoptr(JsonNode) reply = NULL;
	const gchar *message;
	g_assert_cmpuint(api_with_header(fx,
					 path,
					 header,
					 value,
					 "{\"userId\":\"1\",\"type\":\"x\",\"payload\":{}}",
					 &reply),
			 ==,
			 status);
	g_assert_cmpstr(herald_test_json_get_string(reply, "error"), ==, code);
	message = herald_test_json_get_string(reply, "message");
	g_assert_nonnull(message);
	if (needle != NULL && strstr(message, needle) == NULL)
		g_error("'%s' does not mention '%s'", message, needle);
}

/* seed 002's REST service replayed by Node's fetch (keep-alive) with an API
 * key, a `ws` client of user 123 reading: three sends delivered, four refusals */
static void
test_seed002_node(Fixture *fx, gconstpointer data)
{
	const gchar *node_dir = g_getenv("HERALD_TEST_NODE_DIR");
	g_autofree gchar *script = NULL;
	g_autofree gchar *token = herald_test_make_token(HERALD_TEST_SECRET,
							 "{\"sub\":\"123\",\"role\":\"CLIENT\"}",
							 3600);
	g_autofree gchar *url = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autoptr(GSubprocessLauncher) launcher = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) result = NULL;
	JsonArray *statuses;
	JsonArray *events;
	JsonArray *errors;

	g_assert_nonnull(node_dir);
	fx->api_key_file = herald_test_write_file(fx->files, "api.keys", API_KEY "\n");
	fixture_start(fx, NULL, NULL);
	url = g_strdup_printf("http://127.0.0.1:%u", fx->daemon->port);
	script = g_build_filename(node_dir, "seed002-replay.js", NULL);
	launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
					     G_SUBPROCESS_FLAGS_STDERR_PIPE);
	g_subprocess_launcher_set_cwd(launcher, node_dir);
	proc = g_subprocess_launcher_spawn(launcher,
					   &error,
					   herald_test_require_program("node"),
					   script,
					   url,
					   API_KEY,
					   token,
					   NULL);
	g_assert_no_error(error);
	g_assert_true(g_subprocess_communicate_utf8(proc, NULL, NULL, &out, &err, &error));
	g_assert_no_error(error);
	if (!g_subprocess_get_successful(proc))
		g_error("seed002-replay.js failed:\n%s%s", out, err);
	result = herald_test_parse_json(out);
	statuses = json_object_get_array_member(json_node_get_object(result), "statuses");
	g_assert_cmpuint(json_array_get_length(statuses), ==, 3);
	for (guint i = 0; i < 3; i++)
		g_assert_cmpint(json_array_get_int_element(statuses, i), ==, 202);
	errors = json_object_get_array_member(json_node_get_object(result), "errors");
	g_assert_cmpuint(json_array_get_length(errors), ==, 4);
	for (guint i = 0; i < 4; i++) {
		JsonObject *e = json_array_get_object_element(errors, i);
		if (!json_object_get_boolean_member(e, "ok"))
			g_error("refusal %u was not the expected one: %s", i, out);
		g_assert_nonnull(json_object_get_string_member(e, "message"));
	}
	g_assert_nonnull(strstr(out, "missing field 'userId'"));
	g_assert_nonnull(strstr(out, "invalid API key"));
	g_assert_nonnull(strstr(out, "webhook"));
	events = json_object_get_array_member(json_node_get_object(result), "events");
	g_assert_cmpuint(json_array_get_length(events), ==, 3);
	g_assert_nonnull(strstr(out, "\"type\":\"notificacion_order_update\""));
	g_assert_nonnull(strstr(out, "\"type\":\"notificacion_inventory_alert\""));
	g_assert_nonnull(strstr(out, "\"orderId\":\"456\""));
	g_assert_nonnull(strstr(out, "\"title\":\"Nuevo pedido\""));
	g_assert_cmpint(stat(fx, "notifications_accepted"), ==, 3);
	g_assert_cmpint(stat(fx, "notifications_rejected"), ==, 3);
}

/* wrong, missing, truncated, padded keys: 401 with a JSON body; a key is not admin */
static void
test_api_key_refused(Fixture *fx, gconstpointer data)
{
	const gchar *send = "/api/notifications/send";
	g_autoptr(JsonNode) stats = NULL;
	g_autofree gchar *log = NULL;
	g_autofree gchar *long_key = g_strnfill(5000, 'k');

	fx->api_key_file = herald_test_write_file(fx->files, "api.keys", API_KEY "\n");
	fixture_start(fx, NULL, NULL);
	expect_key_error(fx, send, "X-API-Key", "wrong-key-0123456789abcdefghijklmnop", 401,
			 "unauthorized", "API key");
	expect_key_error(fx, send, "X-API-Key", "", 401, "unauthorized", "API key");
	expect_key_error(fx, send, "X-API-Key", "k3y-of-the-core-api-0123456789abcdefghi", 401,
			 "unauthorized", "API key");
	expect_key_error(fx, send, "X-API-Key", API_KEY "x", 401, "unauthorized", "API key");
	expect_key_error(fx, send, "X-API-Key", long_key, 401, "unauthorized", "API key");
	expect_key_error(fx, send, "Authorization", "apikey wrong", 401, "unauthorized", "API key");
	expect_key_error(fx, send, "Authorization", "Bearer " API_KEY, 401, "unauthorized", NULL);
	expect_key_error(fx, send, NULL, NULL, 401, "unauthorized", NULL);
	/* a service key is no admin key: /stats from outside loopback needs admin,
	 * and from loopback needs nothing, so ask a service-only route instead */
	expect_key_error(fx, "/api/events", "X-API-Key", "nope", 401, "unauthorized", "API key");
	stats = get_stats(fx);
	g_assert_cmpint(herald_test_json_get_int(stats, "http_api_key_rejected_total"), ==, 7);
	g_assert_cmpint(stat(fx, "notifications_accepted"), ==, 0);
	/* the keys are never logged */
	log = herald_test_daemon_get_log(fx->daemon);
	g_assert_null(strstr(log, API_KEY));
	g_assert_null(strstr(log, "k3y-of-the-core-api"));
}

/* the notification bodies: unknown fields, webhook_url, types, seed-002 shape */
static void
test_bad_fields(Fixture *fx, gconstpointer data)
{
	const gchar *send = "/api/notifications/send";
	const gchar *broadcast = "/api/notifications/broadcast";
	g_autofree gchar *long_type = g_strnfill(65, 't');
	g_autofree gchar *body = g_strdup_printf(
	    "{\"user_id\":\"u1\",\"title\":\"T\",\"message\":\"M\",\"type\":\"%s\"}", long_type);

	fixture_start(fx, NULL, NULL);
	expect_error(fx, send, fx->service,
		     "{\"user_id\":\"u1\",\"title\":\"T\",\"message\":\"M\",\"colour\":\"red\"}",
		     400, "invalid_argument", "'colour'");
	expect_error(fx, send, fx->service,
		     "{\"user_id\":\"u1\",\"title\":\"T\",\"message\":\"M\","
		     "\"webhook_url\":\"https://example.com/hook\"}",
		     400, "invalid_argument", "webhook");
	expect_error(fx, send, fx->service,
		     "{\"user_id\":\"u1\",\"title\":\"T\",\"message\":\"M\",\"type\":\"sistema update\"}",
		     400, "invalid_argument", "'type'");
	expect_error(fx, send, fx->service, body, 400, "invalid_argument", "'type'");
	expect_error(fx, send, fx->service,
		     "{\"type\":\"order_update\",\"payload\":{\"orderId\":\"456\"}}", 400,
		     "invalid_argument", "userId");
	expect_error(fx, send, fx->service,
		     "{\"userId\":\"1\",\"user_id\":\"1\",\"type\":\"x\",\"payload\":{}}", 400,
		     "invalid_argument", "userId");
	expect_error(fx, send, fx->service,
		     "{\"userId\":\"1\",\"type\":\"x\",\"payload\":[1]}", 400,
		     "invalid_argument", "data");
	expect_error(fx, broadcast, fx->service,
		     "{\"role\":\"SELLER\",\"title\":\"T\",\"message\":\"M\",\"room_id\":\"x\"}", 400,
		     "invalid_argument", "'room_id'");
	expect_error(fx, broadcast, fx->service,
		     "{\"role\":\"SELLER\",\"userId\":\"1\",\"type\":\"x\",\"payload\":{}}", 400,
		     "invalid_argument", "user");
	g_assert_cmpint(stat(fx, "notifications_rejected"), ==, 9);
	g_assert_cmpint(stat(fx, "notifications_accepted"), ==, 0);
}

/* messages of @client whose payload.title is @title (the queue is kept) */
static guint
ws_count_title(WsClient *client, const gchar *title)
{
	guint n = 0;
	for (GList *l = client->messages.head; l != NULL; l = l->next) {
		if (g_strcmp0(herald_test_json_get_string(l->data, "payload.title"), title) == 0)
			n++;
	}
	return n;
}

typedef struct {
	WsClient **clients;
	guint n;
	const gchar *title;
} TitleWait;

static gboolean
ws_all_have_title(gpointer user_data)
{
	TitleWait *wait = user_data;
	for (guint i = 0; i < wait->n; i++) {
		if (ws_count_title(wait->clients[i], wait->title) == 0)
			return FALSE;
	}
	return TRUE;
}

static void
broadcast_ok(Fixture *fx, HeraldTestDaemon *daemon, const gchar *body, gint64 local)
{
	HeraldTestDaemon *saved = fx->daemon;
	g_autoptr(JsonNode) reply = NULL;
	fx->daemon = daemon;
	g_assert_cmpuint(api(fx, "POST", "/api/notifications/broadcast", fx->service, body, &reply, NULL),
			 ==,
			 202);
	fx->daemon = saved;
	/* `connections` counts the receiving instance's own */
	g_assert_cmpint(herald_test_json_get_int(reply, "connections"), ==, local);
}

/* two instances on one Redis: a role broadcast and a room broadcast reach
 * every matching connection of both, exactly once each */
static void
test_broadcast_cluster(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *config = NULL;
	HeraldTestDaemon *a;
	HeraldTestDaemon *b;
	WsClient *clients[6];
	/* A: s1, c1; B: s2, s3, c2, s1 again */
	const gchar *users[] = {"s1", "c1", "s2", "s3", "c2", "s1"};
	const gchar *roles[] = {"SELLER", "CLIENT", "SELLER", "SELLER", "CLIENT", "SELLER"};
	const gboolean seller[] = {TRUE, FALSE, TRUE, TRUE, FALSE, TRUE};
	const gboolean user_s1[] = {TRUE, FALSE, FALSE, FALSE, FALSE, TRUE};
	TitleWait wait = {clients, G_N_ELEMENTS(clients), "end"};

	fixture_start(fx, NULL, NULL);
	a = fx->daemon;
	config = fixture_config(fx, NULL, NULL);
	b = herald_test_daemon_new(config);
	if (!herald_test_daemon_start(b, &error))
		g_error("%s", error->message);
	fx->daemon = b;
	fixture_wait_ready(fx);
	for (guint i = 0; i < G_N_ELEMENTS(clients); i++) {
		fx->daemon = i < 2 ? a : b;
		clients[i] = ws_connect(fx, users[i], roles[i]);
	}
	fx->daemon = a;

	/* a role through A (1 seller here, 3 on B), a room through B (1 here, 1 on A) */
	broadcast_ok(fx, a, "{\"role\":\"SELLER\",\"title\":\"to-sellers\",\"message\":\"M\","
		     "\"type\":\"sistema_update\"}", 1);
	broadcast_ok(fx, b, "{\"room\":\"user_s1\",\"type\":\"order_update\","
		     "\"payload\":{\"title\":\"to-s1\",\"message\":\"M\"}}", 1);
	/* then one to everybody from each side: when it is in, the others are */
	broadcast_ok(fx, a, "{\"role\":\"CLIENT\",\"title\":\"end\",\"message\":\"M\"}", 1);
	broadcast_ok(fx, b, "{\"role\":\"SELLER\",\"title\":\"end\",\"message\":\"M\"}", 3);
	if (!herald_test_wait_until(ws_all_have_title, &wait, WAIT_MS))
		g_error("a broadcast did not reach every instance");
	for (guint i = 0; i < G_N_ELEMENTS(clients); i++) {
		g_assert_cmpuint(ws_count_title(clients[i], "to-sellers"), ==, seller[i] ? 1 : 0);
		g_assert_cmpuint(ws_count_title(clients[i], "to-s1"), ==, user_s1[i] ? 1 : 0);
	}
	for (GList *l = clients[5]->messages.head; l != NULL; l = l->next) {
		if (g_strcmp0(herald_test_json_get_string(l->data, "payload.title"), "to-s1") == 0)
			g_assert_cmpstr(herald_test_json_get_string(l->data, "type"), ==,
					"notificacion_order_update");
	}
	{
		g_autoptr(JsonNode) stats_a = get_stats(fx);
		g_autoptr(JsonNode) stats_b = NULL;
		g_assert_cmpint(herald_test_json_get_int(stats_a, "plugins.notifier-whatsapp.notifications_broadcasts_remote"), ==, 2);
		fx->daemon = b;
		stats_b = get_stats(fx);
		fx->daemon = a;
		g_assert_cmpint(herald_test_json_get_int(stats_b, "plugins.notifier-whatsapp.notifications_broadcasts_remote"), ==, 2);
		g_assert_cmpint(herald_test_json_get_int(stats_b, "plugins.notifier-whatsapp.notifications_broadcasts_remote_rejected"), ==, 0);
	}
	for (guint i = 0; i < G_N_ELEMENTS(clients); i++)
		ws_client_free(clients[i]);
	g_assert_cmpint(herald_test_daemon_stop(b), ==, 0);
	herald_test_daemon_free(b);
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, 0);
}

/* redis: another instance holds the lock (or has moved the record on): no attempt */
static void
test_redis_claims(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) status = NULL;
	g_autofree gchar *id = NULL;
	g_autofree gchar *lock = NULL;
	g_autofree gchar *key = NULL;
	g_autofree gchar *stored = NULL;
	g_autoptr(JsonNode) node = NULL;
	gint64 deadline = g_get_monotonic_time() + WAIT_MS * 1000;
	guint count;

	fake_provider_set_default(fx->fake, "500");
	fixture_start(fx, "backoff-base-s=1\nbackoff-cap-s=1\nmax-attempts=50", NULL);
	id = send_ok(fx, "{\"user_id\":\"u-wa\",\"title\":\"T\",\"message\":\"M\"}");
	g_assert_true(fake_provider_wait_count(fx->fake, 1, WAIT_MS));
	lock = g_strdup_printf("herald:notify:lock:%s", id);
	key = g_strdup_printf("herald:notify:status:%s", id);
	/* take the lock as "another instance" (wait for this one to let go of it) */
	for (;;) {
		const gchar *set[] = {"SET", lock, "other-instance", "NX", "EX", "120", NULL};
		g_autofree gchar *reply = redis_cli(fx, set);
		if (g_str_has_prefix(reply, "OK"))
			break;
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(20000);
	}
	count = fake_provider_get_count(fx->fake);
	wait_job_runs(fx, 3);
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, count);

	/* the other instance finished it: this one takes that state and sends nothing */
	{
		const gchar *get[] = {"GET", key, NULL};
		stored = redis_cli(fx, get);
	}
	node = herald_test_parse_json(stored);
	json_object_set_string_member(json_node_get_object(node), "status", "sent");
	json_object_set_int_member(json_node_get_object(node),
				   "updated_us",
				   g_get_real_time() + G_USEC_PER_SEC);
	{
		g_autofree gchar *json = json_to_string(node, FALSE);
		const gchar *set[] = {"SET", key, json, NULL};
		const gchar *del[] = {"DEL", lock, NULL};
		g_free(redis_cli(fx, set));
		g_free(redis_cli(fx, del));
	}
	status = wait_status(fx, id, "sent");
	wait_job_runs(fx, 2);
	g_assert_cmpuint(fake_provider_get_count(fx->fake), ==, count);
}

/* redis: the 202 waits for Redis; with Redis gone the caller gets 503, not a 202 that would be lost */
static void
test_redis_down(Fixture *fx, gconstpointer data)
{
	g_autoptr(JsonNode) reply = NULL;
	g_autofree gchar *id = NULL;

	fixture_start(fx, NULL, NULL);
	id = send_ok(fx, "{\"user_id\":\"u-wa\",\"title\":\"T\",\"message\":\"M\"}");
	json_node_unref(wait_status(fx, id, "sent"));
	herald_test_server_stop(fx->redis_server);
	g_assert_cmpuint(api(fx,
			     "POST",
			     "/api/notifications/send",
			     fx->service,
			     "{\"user_id\":\"u-wa\",\"title\":\"T\",\"message\":\"M\"}",
			     &reply,
			     NULL),
			 ==,
			 503);
	g_assert_cmpstr(herald_test_json_get_string(reply, "error"), ==, "unavailable");
	g_assert_cmpint(stat(fx, "notifications_accepted"), ==, 1);
	g_assert_cmpint(stat(fx, "notifications_store_errors"), >=, 1);
}

static const gchar *
health_of_notifier(Fixture *fx, gchar **reason)
{
	static gchar state[32];
	g_autofree gchar *url = g_strdup_printf("%s/health", fx->daemon->base_url);
	g_autofree gchar *body = NULL;
	g_autoptr(JsonNode) node = NULL;
	herald_test_http("GET", url, NULL, NULL, NULL, 0, &body, NULL);
	node = herald_test_parse_json(body);
	g_strlcpy(state,
		  herald_test_json_get_string(node, "plugins.notifier-whatsapp") ?: "",
		  sizeof(state));
	if (reason != NULL)
		*reason = g_strdup(herald_test_json_get_string(node, "errors.notifier-whatsapp"));
	return state;
}

static void
run_or_fail(const gchar *command)
{
	g_autoptr(GError) error = NULL;
	gint status = 0;
	g_autofree gchar *err = NULL;
	if (!g_spawn_command_line_sync(command, NULL, &err, &status, &error) ||
	    !g_spawn_check_wait_status(status, NULL))
		g_error("'%s' failed (this test needs root for a small tmpfs): %s",
			command,
			error != NULL ? error->message : err);
}

/* A full disk under the file journal: a send that cannot be made durable gets
 * 503 (never a 202 that a restart would lose), the plugin is degraded with the
 * reason meanwhile, and once there is room again every notification that got
 * a 202 — before, during and after — is there after a restart and is sent. */
static void
test_disk_full(Fixture *fx, gconstpointer data)
{
	g_autoptr(GPtrArray) accepted = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *config = NULL;
	g_autofree gchar *mnt = NULL;
	g_autofree gchar *filler = NULL;
	g_autofree gchar *mount = NULL;
	g_autofree gchar *umount = NULL;
	g_autofree gchar *fill = NULL;
	g_autofree gchar *reason = NULL;
	guint refused = 0;
	const gchar *body = "{\"user_id\":\"u-wa\",\"title\":\"T\",\"message\":\"M\"}";

	/* the provider never answers: every notification stays under way */
	fake_provider_set_default(fx->fake, "hang");
	config = fixture_config(fx, "request-timeout-s=600", NULL);
	fx->daemon = herald_test_daemon_new(config);
	mnt = g_build_filename(fx->daemon->dir, "state", "notifier-whatsapp", NULL);
	g_assert_cmpint(g_mkdir_with_parents(mnt, 0700), ==, 0);
	mount = g_strdup_printf("mount -t tmpfs -o size=256k,mode=0700 herald-test %s", mnt);
	umount = g_strdup_printf("umount %s", mnt);
	run_or_fail(mount);
	if (!herald_test_daemon_start(fx->daemon, &error))
		g_error("%s", error->message);
	g_ptr_array_add(accepted, send_ok(fx, body));
	g_assert_cmpstr(health_of_notifier(fx, NULL), ==, "running");

	/* leave a few KiB: some more sends fit, then the disk is full */
	filler = g_build_filename(mnt, "filler", NULL);
	fill = g_strdup_printf("sh -c 'dd if=/dev/zero of=%s bs=1k count=248 2>/dev/null; true'",
			       filler);
	run_or_fail(fill);
	for (guint i = 0; i < 200 && refused < 5; i++) {
		g_autoptr(JsonNode) reply = NULL;
		guint status = api(fx, "POST", "/api/notifications/send", fx->service, body, &reply, NULL);
		if (status == 202) {
			g_ptr_array_add(accepted,
					g_strdup(herald_test_json_get_string(reply, "id")));
			continue;
		}
		g_assert_cmpuint(status, ==, 503);
		g_assert_cmpstr(herald_test_json_get_string(reply, "error"), ==, "unavailable");
		refused++;
	}
	g_assert_cmpuint(refused, ==, 5);
	g_assert_cmpstr(health_of_notifier(fx, &reason), ==, "degraded");
	g_assert_nonnull(reason);
	g_assert_nonnull(strstr(reason, "notification store"));
	g_assert_cmpint(stat(fx, "notifications_store_errors"), >=, 5);
	g_assert_cmpint(stat(fx, "journal_rollbacks_total"), >=, 1);

	/* room again: accepted, and running again */
	g_assert_cmpint(unlink(filler), ==, 0);
	g_ptr_array_add(accepted, send_ok(fx, body));
	g_assert_cmpstr(health_of_notifier(fx, NULL), ==, "running");

	/* a restart reads every accepted notification back, and sends it */
	fake_provider_set_default(fx->fake, "ok");
	restart_after_kill(fx);
	g_assert_cmpint(stat(fx, "journal_damaged_lines"), ==, 0);
	for (guint i = 0; i < accepted->len; i++)
		json_node_unref(wait_status(fx, g_ptr_array_index(accepted, i), "sent"));
	g_assert_cmpint(herald_test_daemon_stop(fx->daemon), ==, 0);
	run_or_fail(umount);
	g_clear_pointer(&fx->daemon, herald_test_daemon_free);
}

/* store=auto with Redis down at start: the notifier says degraded (not
 * running while every send gets 503), and running once Redis is back */
static void
test_redis_down_at_start(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *config = fixture_config(fx, "store=auto", NULL);
	g_autofree gchar *reason = NULL;
	g_autoptr(JsonNode) reply = NULL;
	g_autofree gchar *id = NULL;
	gint64 deadline;

	herald_test_server_stop(fx->redis_server);
	fx->daemon = herald_test_daemon_new(config);
	if (!herald_test_daemon_start(fx->daemon, &error))
		g_error("%s", error->message);
	deadline = g_get_monotonic_time() + WAIT_MS * 1000;
	while (g_strcmp0(health_of_notifier(fx, NULL), "degraded") != 0) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(50000);
	}
	g_assert_cmpstr(health_of_notifier(fx, &reason), ==, "degraded");
	g_assert_nonnull(strstr(reason, "notification store"));
	g_assert_cmpuint(api(fx,
			     "POST",
			     "/api/notifications/send",
			     fx->service,
			     "{\"user_id\":\"u-wa\",\"title\":\"T\",\"message\":\"M\"}",
			     &reply,
			     NULL),
			 ==,
			 503);
	herald_test_redis_restart(fx->redis_server);
	{
		const gchar *hset[] = {"HSET", "herald:phones", "u-wa", PHONE_WA, NULL};
		g_free(redis_cli(fx, hset));
	}
	deadline = g_get_monotonic_time() + WAIT_MS * 1000;
	while (g_strcmp0(health_of_notifier(fx, NULL), "running") != 0) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(50000);
	}
	id = send_ok(fx, "{\"user_id\":\"u-wa\",\"title\":\"T\",\"message\":\"M\"}");
	json_node_unref(wait_status(fx, id, "sent"));
}

/* --check-config: what a mode needs, and typos in the group */
static void
test_check_config(void)
{
	struct {
		const gchar *group;
		const gchar *needle;
	} cases[] = {
	    {"mode=cloud-api\ntoken=x\n", "notifier-whatsapp:phone-number-id: mode=cloud-api needs"},
	    {"mode=cloud-api\ntoken=x\nphone-number-id=12ab\n", "phone-number-id must be digits"},
	    {"mode=cloud-api\ntoken=x\nphone-number-id=1\napi-base=ftp://x\n", "api-base must be"},
	    {"mode=webhook\n", "notifier-whatsapp:webhook-url: mode=webhook needs"},
	    {"mode=sms\n", "notifier-whatsapp:mode:"},
	    {"retry-interval-s=0\n", "notifier-whatsapp:retry-interval-s:"},
	    {"retry-intervall-s=5\n", "retry-intervall-s"},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *dir = herald_test_mkdtemp();
		g_autofree gchar *secret = herald_test_write_file(dir, "jwt.secret", HERALD_TEST_SECRET);
		g_autofree gchar *config = g_strdup_printf("[host]\nplugins=notifier-whatsapp\ndbus=none\n"
							   "state-dir=%s\n[auth]\nsecret-file=%s\n"
							   "[notifier-whatsapp]\n%s",
							   dir,
							   secret,
							   cases[i].group);
		g_autofree gchar *file = herald_test_write_file(dir, "herald.conf", config);
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		gchar *args[] = {(gchar *)"--check-config", (gchar *)"--config", file, NULL};
		gint status = herald_test_run_heraldd(args, &out, &err, NULL);
		g_autofree gchar *all = g_strconcat(out, err, NULL);
		g_assert_cmpint(status, ==, 1);
		if (strstr(all, cases[i].needle) == NULL)
			g_error("--check-config for %s did not say '%s':\n%s",
				cases[i].group,
				cases[i].needle,
				all);
		herald_test_rm_rf(dir);
	}
	/* [auth] api-key-file: bad keys are located, never quoted; a missing file
	 * is named; an inline key in a world-readable file is warned about */
	{
		struct {
			const gchar *contents; /* NULL: no such file; "inline": api-key= */
			gint status;
			const gchar *needle;
		} keys[] = {
		    {"short-key\n", 1, "auth:api-key-file: API key on line 1 must be 32 to 256"},
		    {API_KEY "\nwith space 0123456789abcdefghijklmnopqrstuvwxyz\n", 1, "on line 2"},
		    {"\n\n", 1, "no API key in it"},
		    {NULL, 1, "auth:api-key-file: cannot read secret file"},
		    {"inline", 0, "a secret set inline in a file that every user can read"},
		};
		for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
			g_autofree gchar *dir = herald_test_mkdtemp();
			g_autofree gchar *secret =
			    herald_test_write_file(dir, "jwt.secret", HERALD_TEST_SECRET);
			g_autofree gchar *key_line = NULL;
			g_autofree gchar *config = NULL;
			g_autofree gchar *file = NULL;
			g_autofree gchar *out = NULL;
			g_autofree gchar *err = NULL;
			g_autofree gchar *all = NULL;
			gchar *args[] = {(gchar *)"--check-config", (gchar *)"--config", NULL, NULL};
			gint status;
			if (g_strcmp0(keys[i].contents, "inline") == 0) {
				key_line = g_strdup("api-key=" API_KEY);
			} else if (keys[i].contents == NULL) {
				key_line = g_strdup_printf("api-key-file=%s/missing.keys", dir);
			} else {
				g_autofree gchar *path =
				    herald_test_write_file(dir, "api.keys", keys[i].contents);
				key_line = g_strdup_printf("api-key-file=%s", path);
			}
			config = g_strdup_printf("[host]\nplugins=notifier-whatsapp\ndbus=none\n"
						 "state-dir=%s\n[auth]\nsecret-file=%s\n%s\n",
						 dir,
						 secret,
						 key_line);
			file = herald_test_write_file(dir, "herald.conf", config);
			{
				/* world-readable, as a packaged herald.conf would not be */
				g_autoptr(GFile) gfile = g_file_new_for_path(file);
				g_assert_true(g_file_set_attribute_uint32(gfile,
									  "unix::mode",
									  0644,
									  G_FILE_QUERY_INFO_NONE,
									  NULL,
									  NULL));
			}
			args[2] = file;
			status = herald_test_run_heraldd(args, &out, &err, NULL);
			all = g_strconcat(out, err, NULL);
			g_assert_cmpint(status, ==, keys[i].status);
			if (strstr(all, keys[i].needle) == NULL)
				g_error("--check-config with %s did not say '%s':\n%s",
					key_line,
					keys[i].needle,
					all);
			if (keys[i].status != 0)
				g_assert_null(strstr(all, "0123456789abcdefghij"));
			herald_test_rm_rf(dir);
		}
	}
	/* a complete cloud-api group passes */
	{
		g_autofree gchar *dir = herald_test_mkdtemp();
		g_autofree gchar *secret = herald_test_write_file(dir, "jwt.secret", HERALD_TEST_SECRET);
		g_autofree gchar *config =
		    g_strdup_printf("[host]\nplugins=notifier-whatsapp\ndbus=none\nstate-dir=%s\n"
				    "[auth]\nsecret-file=%s\n"
				    "[notifier-whatsapp]\nmode=cloud-api\ntoken=x\nphone-number-id=123\n"
				    "[notifier-whatsapp.templates]\ngeneral=aviso:es_MX\n",
				    dir,
				    secret);
		g_autofree gchar *file = herald_test_write_file(dir, "herald.conf", config);
		gchar *args[] = {(gchar *)"--check-config", (gchar *)"--config", file, NULL};
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		gint status = herald_test_run_heraldd(args, &out, &err, NULL);
		if (status != 0)
			g_error("a valid config was refused:\n%s%s", out, err);
		herald_test_rm_rf(dir);
	}
}

int
main(int argc, char **argv)
{
	struct {
		const gchar *name;
		void (*func)(Fixture *, gconstpointer);
	} cases[] = {
	    {"connected-ws-only", test_connected_ws_only},
	    {"disconnected-template", test_disconnected_template},
	    {"disconnected-text", test_disconnected_text},
	    {"retry-then-sent", test_retry_then_sent},
	    {"undeliverable-no-retry", test_undeliverable_no_retry},
	    {"dead-letter", test_dead_letter},
	    {"kill-restart-queued", test_kill_restart_queued},
	    {"kill-restart-in-flight", test_kill_restart_in_flight},
	    {"provider-hangs", test_provider_hangs},
	    {"provider-garbage", test_provider_garbage},
	    {"reengagement-template", test_reengagement_template},
	    {"no-phone", test_no_phone},
	    {"rate-limit", test_rate_limit},
	    {"rate-limit-phone", test_rate_limit_phone},
	    {"broadcast-role", test_broadcast_role},
	    {"low-held", test_low_held},
	    {"low-expires", test_low_expires},
	    {"urgent-both", test_urgent_both},
	    {"priority-order", test_priority_order},
	    {"webhook", test_webhook},
	    {"bus-notify", test_bus_notify},
	    {"bad-input", test_bad_input},
	    {"seed002-api-key", test_seed002_api_key},
	    {"api-key-refused", test_api_key_refused},
	    {"bad-fields", test_bad_fields},
	};
	const gchar *stores[] = {"file", "redis"};

	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/notifier-whatsapp/check-config", test_check_config);
	for (guint s = 0; s < G_N_ELEMENTS(stores); s++) {
		if (s == 1 && g_strcmp0(g_getenv("HERALD_TEST_HAVE_REDIS_BRIDGE"), "1") != 0)
			continue;
		for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
			g_autofree gchar *path =
			    g_strdup_printf("/notifier-whatsapp/%s/%s", stores[s], cases[i].name);
			g_test_add(path,
				   Fixture,
				   GINT_TO_POINTER(s),
				   fixture_setup,
				   cases[i].func,
				   fixture_teardown);
		}
		if (s == 0) {
			g_test_add("/notifier-whatsapp/file/seed002-node",
				   Fixture,
				   GINT_TO_POINTER(s),
				   fixture_setup,
				   test_seed002_node,
				   fixture_teardown);
			g_test_add("/notifier-whatsapp/file/disk-full",
				   Fixture,
				   GINT_TO_POINTER(s),
				   fixture_setup,
				   test_disk_full,
				   fixture_teardown);
		}
		if (s == 1) {
			g_test_add("/notifier-whatsapp/redis/broadcast-cluster",
				   Fixture,
				   GINT_TO_POINTER(s),
				   fixture_setup,
				   test_broadcast_cluster,
				   fixture_teardown);
			g_test_add("/notifier-whatsapp/redis/claims",
				   Fixture,
				   GINT_TO_POINTER(s),
				   fixture_setup,
				   test_redis_claims,
				   fixture_teardown);
			g_test_add("/notifier-whatsapp/redis/redis-down-at-start",
				   Fixture,
				   GINT_TO_POINTER(s),
				   fixture_setup,
				   test_redis_down_at_start,
				   fixture_teardown);
			g_test_add("/notifier-whatsapp/redis/redis-down",
				   Fixture,
				   GINT_TO_POINTER(s),
				   fixture_setup,
				   test_redis_down,
				   fixture_teardown);
		}
	}
	return g_test_run();
}
