/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ws-rooms end to end: heraldd as a subprocess, driven by libsoup's WebSocket
 * client, by a raw socket client (for frames a well-behaved client never
 * sends) and by the official node clients (`ws`, `socket.io-client` v4).
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "herald-test-util.h"
#include "herald-ws-rooms-frame.h"

#define WAIT_MS 10000

static HeraldTestDaemon *
start_daemon(const gchar *ws_rooms_config)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *extra = g_strdup_printf("[host]\nplugins=ws-rooms\n"
						  "[auth]\nleeway-s=0\n"
						  "[ws-rooms]\n%s\n",
						  ws_rooms_config != NULL ? ws_rooms_config : "");
	HeraldTestDaemon *daemon = herald_test_daemon_new(extra);
	if (!herald_test_daemon_start(daemon, &error))
		g_error("%s", error->message);
	return daemon;
}

/* a clean exit: graceful shutdown with clients still connected, and no leak
 * (LeakSanitizer makes heraldd exit non-zero) */
static void
stop_daemon(HeraldTestDaemon *daemon)
{
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static gchar *
make_token(const gchar *user, const gchar *role, gint64 exp_offset_s)
{
	g_autofree gchar *claims =
	    g_strdup_printf("{\"sub\":\"%s\",\"role\":\"%s\",\"seller_id\":\"s%s\"}",
			    user,
			    role,
			    user);
	return herald_test_make_token(HERALD_TEST_SECRET, claims, exp_offset_s);
}

static gchar *
ws_url(HeraldTestDaemon *daemon, const gchar *token)
{
	return g_strdup_printf("ws://127.0.0.1:%u/ws?token=%s", daemon->port, token);
}

/* POST /api/events as a service; returns `delivered` */
static gint64
publish(HeraldTestDaemon *daemon, const gchar *channel, const gchar *payload_json)
{
	g_autofree gchar *service = make_token("svc", "SERVICE", 3600);
	g_autofree gchar *url = g_strdup_printf("%s/api/events", daemon->base_url);
	g_autofree gchar *body =
	    g_strdup_printf("{\"channel\":\"%s\",\"payload\":%s}", channel, payload_json);
	g_autofree gchar *out = NULL;
	g_autoptr(JsonNode) node = NULL;
	guint status = herald_test_http("POST", url, service, NULL, body, strlen(body), &out, NULL);
	g_assert_cmpuint(status, ==, 202);
	node = herald_test_parse_json(out);
	return herald_test_json_get_int(node, "delivered");
}

static JsonNode *
get_stats(HeraldTestDaemon *daemon)
{
	g_autofree gchar *url = g_strdup_printf("%s/stats", daemon->base_url);
	g_autofree gchar *out = NULL;
	g_assert_cmpuint(herald_test_http("GET", url, NULL, NULL, NULL, 0, &out, NULL), ==, 200);
	return herald_test_parse_json(out);
}

typedef struct {
	gboolean done;
	guint status;
	gchar *body;
} AsyncGet;

static void
async_get_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	AsyncGet *get = user_data;
	g_autoptr(GBytes) bytes =
	    soup_session_send_and_read_finish(SOUP_SESSION(source), res, NULL);
	SoupMessage *msg = soup_session_get_async_result_message(SOUP_SESSION(source), res);
	get->status = soup_message_get_status(msg);
	if (bytes != NULL)
		get->body = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	get->done = TRUE;
}

static gboolean
async_get_done(gpointer user_data)
{
	return ((AsyncGet *)user_data)->done;
}

/* like publish() but the main loop runs meanwhile, so that in-process
 * clients keep reading */
static void
publish_async(HeraldTestDaemon *daemon, const gchar *channel, const gchar *payload_json)
{
	g_autofree gchar *service = make_token("svc", "SERVICE", 3600);
	g_autofree gchar *url = g_strdup_printf("%s/api/events", daemon->base_url);
	g_autofree gchar *body =
	    g_strdup_printf("{\"channel\":\"%s\",\"payload\":%s}", channel, payload_json);
	g_autofree gchar *authz = g_strdup_printf("Bearer %s", service);
	g_autoptr(SoupSession) session = soup_session_new();
	g_autoptr(SoupMessage) msg = soup_message_new("POST", url);
	g_autoptr(GBytes) req = g_bytes_new(body, strlen(body));
	AsyncGet get = {0};

	soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization", authz);
	soup_message_set_request_body_from_bytes(msg, "application/json", req);
	soup_session_send_and_read_async(session,
					 msg,
					 G_PRIORITY_DEFAULT,
					 NULL,
					 async_get_cb,
					 &get);
	g_assert_true(herald_test_wait_until(async_get_done, &get, WAIT_MS));
	g_assert_cmpuint(get.status, ==, 202);
	g_free(get.body);
}

/* ------------------------------------------------ libsoup WebSocket client */

typedef struct {
	SoupSession *session;
	SoupMessage *msg;
	SoupWebsocketConnection *ws;
	GQueue messages; /* (element-type JsonNode) */
	gboolean done;
	gboolean closed;
	gushort close_code;
	GError *error;
} WsClient;

static void
ws_client_message_cb(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
	WsClient *client = user_data;
	gsize len = 0;
	const gchar *data = g_bytes_get_data(message, &len);
	g_autofree gchar *text = g_strndup(data, len);
	g_queue_push_tail(&client->messages, herald_test_parse_json(text));
}

static void
ws_client_closed_cb(SoupWebsocketConnection *ws, gpointer user_data)
{
	WsClient *client = user_data;
	client->closed = TRUE;
	client->close_code = soup_websocket_connection_get_close_code(ws);
}

static void
ws_client_connect_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	WsClient *client = user_data;
	client->ws =
	    soup_session_websocket_connect_finish(SOUP_SESSION(source), res, &client->error);
	client->done = TRUE;
	if (client->ws == NULL)
		return;
	soup_websocket_connection_set_max_incoming_payload_size(client->ws, 64 * 1024 * 1024);
	g_signal_connect(client->ws, "message", G_CALLBACK(ws_client_message_cb), client);
	g_signal_connect(client->ws, "closed", G_CALLBACK(ws_client_closed_cb), client);
}

static gboolean
ws_client_is_done(gpointer user_data)
{
	return ((WsClient *)user_data)->done;
}

static gboolean
ws_client_has_message(gpointer user_data)
{
	WsClient *client = user_data;
	return client->messages.length > 0 || client->closed;
}

static gboolean
ws_client_is_closed(gpointer user_data)
{
	return ((WsClient *)user_data)->closed;
}

static void
ws_client_free(WsClient *client)
{
	if (client->ws != NULL) {
		g_signal_handlers_disconnect_by_data(client->ws, client);
		if (soup_websocket_connection_get_state(client->ws) == SOUP_WEBSOCKET_STATE_OPEN)
			soup_websocket_connection_close(client->ws,
							SOUP_WEBSOCKET_CLOSE_NORMAL,
							NULL);
		g_object_unref(client->ws);
	}
	g_queue_clear_full(&client->messages, (GDestroyNotify)json_node_unref);
	g_clear_error(&client->error);
	g_clear_object(&client->msg);
	g_clear_object(&client->session);
	g_free(client);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WsClient, ws_client_free)

static WsClient *
ws_client_connect(const gchar *url)
{
	WsClient *client = g_new0(WsClient, 1);
	client->session = soup_session_new();
	client->msg = soup_message_new("GET", url);
	soup_session_websocket_connect_async(client->session,
					     client->msg,
					     NULL,
					     NULL,
					     G_PRIORITY_DEFAULT,
					     NULL,
					     ws_client_connect_cb,
					     client);
	g_assert_true(herald_test_wait_until(ws_client_is_done, client, WAIT_MS));
	return client;
}

static JsonNode *
ws_client_next(WsClient *client)
{
	g_assert_true(herald_test_wait_until(ws_client_has_message, client, WAIT_MS));
	g_assert_cmpuint(client->messages.length, >, 0);
	return g_queue_pop_head(&client->messages);
}

/* the next message, which must be of @type */
static JsonNode *
ws_client_expect(WsClient *client, const gchar *type)
{
	JsonNode *node = ws_client_next(client);
	g_assert_cmpstr(herald_test_json_get_string(node, "type"), ==, type);
	return node;
}

static void
ws_client_send(WsClient *client, const gchar *text)
{
	soup_websocket_connection_send_text(client->ws, text);
}

/* -------------------------------------------------- raw socket client */

typedef struct {
	GSocketConnection *conn;
	GSocket *socket;
	GByteArray *in;
	HeraldWsParser parser;
	guint status;
} RawClient;

static void
raw_client_free(RawClient *raw)
{
	g_clear_object(&raw->conn);
	g_byte_array_unref(raw->in);
	herald_ws_parser_clear(&raw->parser);
	g_free(raw);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RawClient, raw_client_free)

static void
raw_write(RawClient *raw, const guint8 *data, gsize len)
{
	g_autoptr(GError) error = NULL;
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(raw->conn));
	g_assert_true(g_output_stream_write_all(out, data, len, NULL, NULL, &error));
	g_assert_no_error(error);
}

/* reads more input; FALSE on EOF or error */
static gboolean
raw_fill(RawClient *raw)
{
	guint8 buf[65536];
	gssize n = g_socket_receive(raw->socket, (gchar *)buf, sizeof(buf), NULL, NULL);
	if (n <= 0)
		return FALSE;
	g_byte_array_append(raw->in, buf, (guint)n);
	return TRUE;
}

/* handshake by hand; on 101 the client is ready for frames */
static RawClient *
raw_client_connect(HeraldTestDaemon *daemon, const gchar *path_query, const gchar *headers)
{
	RawClient *raw = g_new0(RawClient, 1);
	g_autoptr(GSocketClient) sc = g_socket_client_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *req = NULL;
	guint8 *end;

	raw->in = g_byte_array_new();
	herald_ws_parser_init(&raw->parser, 256 * 1024 * 1024, FALSE);
	raw->conn = g_socket_client_connect_to_host(sc, "127.0.0.1", daemon->port, NULL, &error);
	g_assert_no_error(error);
	raw->socket = g_socket_connection_get_socket(raw->conn);
	g_socket_set_timeout(raw->socket, 20);
	req =
	    g_strdup_printf("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
			    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			    "Sec-WebSocket-Version: 13\r\n%s\r\n",
			    path_query,
			    headers != NULL ? headers : "");
	raw_write(raw, (const guint8 *)req, strlen(req));
	for (;;) {
		end = raw->in->len > 0 ? (guint8 *)g_strstr_len((const gchar *)raw->in->data,
								raw->in->len,
								"\r\n\r\n")
				       : NULL;
		if (end != NULL)
			break;
		g_assert_true(raw_fill(raw));
	}
	g_assert_cmpuint(raw->in->len, >, 12);
	raw->status = (guint)g_ascii_strtoull((const gchar *)raw->in->data + 9, NULL, 10);
	g_byte_array_remove_range(raw->in, 0, (guint)(end + 4 - raw->in->data));
	return raw;
}

/* the next frame from the server; FALSE when the connection ended */
static gboolean
raw_next(RawClient *raw, guint8 *opcode, GByteArray *payload, guint16 *close_code)
{
	for (;;) {
		HeraldWsFrame frame;
		gsize consumed = 0;
		HeraldWsParseResult res = herald_ws_parser_feed(&raw->parser,
								raw->in->data,
								raw->in->len,
								&consumed,
								&frame);
		if (res == HERALD_WS_PARSE_NEED_MORE || res == HERALD_WS_PARSE_FRAGMENT) {
			if (consumed > 0) {
				g_byte_array_remove_range(raw->in, 0, (guint)consumed);
				continue;
			}
			if (!raw_fill(raw))
				return FALSE;
			continue;
		}
		g_assert_cmpint(res, !=, HERALD_WS_PARSE_ERROR);
		*opcode = frame.opcode;
		g_byte_array_set_size(payload, 0);
		g_byte_array_append(payload, frame.payload, (guint)frame.len);
		if (close_code != NULL)
			*close_code = frame.close_code;
		g_byte_array_remove_range(raw->in, 0, (guint)consumed);
		return TRUE;
	}
}

static JsonNode *
raw_next_json(RawClient *raw)
{
	g_autoptr(GByteArray) payload = g_byte_array_new();
	g_autofree gchar *text = NULL;
	guint8 opcode = 0;
	g_assert_true(raw_next(raw, &opcode, payload, NULL));
	g_assert_cmpuint(opcode, ==, HERALD_WS_OPCODE_TEXT);
	text = g_strndup((const gchar *)payload->data, payload->len);
	return herald_test_parse_json(text);
}

/* skips data frames up to the close frame; 0 when the socket ended without one */
static guint16
raw_expect_close(RawClient *raw, guint *n_data)
{
	g_autoptr(GByteArray) payload = g_byte_array_new();
	guint8 opcode = 0;
	guint16 code = 0;
	while (raw_next(raw, &opcode, payload, &code)) {
		if (opcode == HERALD_WS_OPCODE_CLOSE)
			return code;
		if (n_data != NULL)
			(*n_data)++;
	}
	return 0;
}

static void
raw_send(RawClient *raw, guint8 opcode, gboolean fin, const gchar *data, gsize len)
{
	g_autoptr(GBytes) frame =
	    herald_ws_frame_new_masked(opcode, fin, (const guint8 *)data, len, g_random_int());
	gsize size = 0;
	const guint8 *raw_data = g_bytes_get_data(frame, &size);
	raw_write(raw, raw_data, size);
}

static void
raw_send_text(RawClient *raw, const gchar *text)
{
	raw_send(raw, HERALD_WS_OPCODE_TEXT, TRUE, text, strlen(text));
}

static RawClient *
raw_client_open(HeraldTestDaemon *daemon, const gchar *user, const gchar *role)
{
	g_autofree gchar *token = make_token(user, role, 3600);
	g_autofree gchar *path = g_strdup_printf("/ws?token=%s", token);
	RawClient *raw = raw_client_connect(daemon, path, NULL);
	g_autoptr(JsonNode) connected = NULL;
	g_assert_cmpuint(raw->status, ==, 101);
	connected = raw_next_json(raw);
	g_assert_cmpstr(herald_test_json_get_string(connected, "type"), ==, "connected");
	return raw;
}

/* ---------------------------------------------------------------- node */

static gboolean
node_available(void)
{
	g_autofree gchar *modules = g_build_filename(g_getenv("G_TEST_SRCDIR"),
						     "..",
						     "..",
						     "..",
						     "tests",
						     "node",
						     "node_modules",
						     "socket.io-client",
						     NULL);
	g_autofree gchar *node = g_find_program_in_path("node");
	if (node == NULL || !g_file_test(modules, G_FILE_TEST_IS_DIR)) {
		g_test_skip(
		    "node or tests/node/node_modules missing: npm install --prefix tests/node");
		return FALSE;
	}
	return TRUE;
}

static GSubprocess *
node_spawn(const gchar *script, JsonBuilder *builder)
{
	g_autoptr(JsonNode) root = json_builder_get_root(builder);
	g_autofree gchar *json = json_to_string(root, FALSE);
	g_autofree gchar *path = g_build_filename(g_getenv("G_TEST_SRCDIR"), "node", script, NULL);
	g_autoptr(GError) error = NULL;
	GSubprocess *proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE,
					     &error,
					     herald_test_require_program("node"),
					     path,
					     json,
					     NULL);
	g_assert_no_error(error);
	return proc;
}

/* runs to the end; the last stdout line is the JSON result */
static JsonNode *
node_finish(GSubprocess *proc)
{
	g_autofree gchar *out = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) lines = NULL;
	guint n;

	g_subprocess_communicate_utf8(proc, NULL, NULL, &out, NULL, &error);
	g_assert_no_error(error);
	lines = g_strsplit(g_strstrip(out), "\n", -1);
	n = g_strv_length(lines);
	g_assert_cmpuint(n, >, 0);
	if (!g_subprocess_get_successful(proc))
		g_error("node script failed: %s", out);
	return herald_test_parse_json(lines[n - 1]);
}

static JsonNode *
node_run(const gchar *script, JsonBuilder *builder)
{
	g_autoptr(GSubprocess) proc = node_spawn(script, builder);
	return node_finish(proc);
}

static JsonBuilder *
node_args(HeraldTestDaemon *daemon)
{
	JsonBuilder *builder = json_builder_new();
	g_autofree gchar *service = make_token("svc", "SERVICE", 3600);
	g_autofree gchar *ws = g_strdup_printf("ws://127.0.0.1:%u/ws", daemon->port);
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "base");
	json_builder_add_string_value(builder, daemon->base_url);
	json_builder_set_member_name(builder, "ws");
	json_builder_add_string_value(builder, ws);
	json_builder_set_member_name(builder, "service");
	json_builder_add_string_value(builder, service);
	return builder;
}

static gboolean
json_boolean(JsonNode *node, const gchar *path)
{
	g_auto(GStrv) parts = g_strsplit(path, ".", -1);
	for (guint i = 0; parts[i] != NULL; i++) {
		g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
		node = json_object_get_member(json_node_get_object(node), parts[i]);
		g_assert_nonnull(node);
	}
	return json_node_get_boolean(node);
}

static gint64
json_get_array_len(JsonNode *node, const gchar *member)
{
	JsonNode *child = json_object_get_member(json_node_get_object(node), member);
	g_assert_nonnull(child);
	return json_array_get_length(json_node_get_array(child));
}

/* ------------------------------------------------------------ plain tests */

static void
plain_flow_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *token = make_token("42", "SELLER", 3600);
	g_autofree gchar *url = ws_url(daemon, token);
	g_autoptr(WsClient) client = ws_client_connect(url);
	g_autoptr(JsonNode) connected = NULL;
	g_autoptr(JsonNode) subscribed = NULL;
	g_autoptr(JsonNode) event = NULL;
	g_autoptr(JsonNode) verbatim = NULL;
	g_autoptr(JsonNode) unsubscribed = NULL;
	g_autoptr(JsonNode) personal = NULL;
	g_autoptr(JsonNode) pong = NULL;
	g_autoptr(JsonNode) stats = NULL;
	JsonArray *rooms;

	g_assert_no_error(client->error);
	connected = ws_client_expect(client, "connected");
	g_assert_cmpstr(herald_test_json_get_string(connected, "payload.user_id"), ==, "42");
	g_assert_cmpstr(herald_test_json_get_string(connected, "payload.role"), ==, "SELLER");
	g_assert_nonnull(herald_test_json_get_string(connected, "payload.connection_id"));
	rooms = json_object_get_array_member(
	    json_object_get_object_member(json_node_get_object(connected), "payload"),
	    "rooms");
	g_assert_cmpuint(json_array_get_length(rooms), ==, 2);
	g_assert_cmpstr(json_array_get_string_element(rooms, 0), ==, "seller");
	g_assert_cmpstr(json_array_get_string_element(rooms, 1), ==, "user_42");

	ws_client_send(client, "{\"type\":\"subscribe\",\"room\":\"orders\"}");
	subscribed = ws_client_expect(client, "subscribed");
	g_assert_cmpstr(herald_test_json_get_string(subscribed, "room"), ==, "orders");

	g_assert_cmpint(publish(daemon, "ws:room:orders", "{\"order_id\":7}"), ==, 1);
	event = ws_client_next(client);
	g_assert_cmpstr(herald_test_json_get_string(event, "room"), ==, "orders");
	g_assert_cmpint(herald_test_json_get_int(event, "payload.order_id"), ==, 7);
	g_assert_nonnull(herald_test_json_get_string(event, "timestamp"));

	/* a payload with a string type is delivered verbatim (DESIGN §4) */
	g_assert_cmpint(
	    publish(daemon, "ws:room:orders", "{\"type\":\"order_update\",\"orderId\":\"9\"}"),
	    ==,
	    1);
	verbatim = ws_client_expect(client, "order_update");
	g_assert_cmpstr(herald_test_json_get_string(verbatim, "orderId"), ==, "9");
	g_assert_null(json_object_get_member(json_node_get_object(verbatim), "payload"));

	/* personal room */
	g_assert_cmpint(publish(daemon, "ws:user:42", "{\"type\":\"notification\",\"n\":1}"),
			==,
			1);
	personal = ws_client_expect(client, "notification");

	ws_client_send(client, "{\"type\":\"unsubscribe\",\"payload\":{\"room\":\"orders\"}}");
	unsubscribed = ws_client_expect(client, "unsubscribed");
	g_assert_cmpstr(herald_test_json_get_string(unsubscribed, "room"), ==, "orders");
	g_assert_cmpint(publish(daemon, "ws:room:orders", "{\"order_id\":8}"), ==, 0);
	/* nothing else is in flight before the pong */
	ws_client_send(client, "{\"type\":\"ping\"}");
	pong = ws_client_expect(client, "pong");

	stats = get_stats(daemon);
	g_assert_cmpint(herald_test_json_get_int(stats, "connected_users"), ==, 1);
	g_assert_cmpint(
	    herald_test_json_get_int(stats, "plugins.ws-rooms.connections_by_protocol.plain"),
	    ==,
	    1);
	g_assert_cmpint(
	    herald_test_json_get_int(stats, "plugins.ws-rooms.connections_by_role.SELLER"),
	    ==,
	    1);
	g_assert_cmpint(herald_test_json_get_int(stats, "plugins.ws-rooms.subscribes_total"),
			==,
			1);
	stop_daemon(daemon);
}

static void
plain_stats_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	const gchar *users[][2] = {{"1", "ADMIN"},
				   {"2", "ANALYST"},
				   {"3", "ADVISOR"},
				   {"4", "ADVISOR"},
				   {"5", "CLIENT"},
				   {"5", "CLIENT"}};
	g_autoptr(GPtrArray) clients =
	    g_ptr_array_new_with_free_func((GDestroyNotify)ws_client_free);
	g_autoptr(JsonNode) stats = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(users); i++) {
		g_autofree gchar *token = make_token(users[i][0], users[i][1], 3600);
		g_autofree gchar *url = ws_url(daemon, token);
		WsClient *client = ws_client_connect(url);
		g_autoptr(JsonNode) connected = NULL;
		g_assert_no_error(client->error);
		connected = ws_client_expect(client, "connected");
		g_ptr_array_add(clients, client);
	}
	/* the seed's keys count users (user 5 has two connections) */
	stats = get_stats(daemon);
	g_assert_cmpint(herald_test_json_get_int(stats, "connected_users"), ==, 5);
	g_assert_cmpint(herald_test_json_get_int(stats, "admins_connected"), ==, 2);
	g_assert_cmpint(herald_test_json_get_int(stats, "advisors_connected"), ==, 2);
	g_assert_cmpint(herald_test_json_get_int(stats, "clients_connected"), ==, 1);
	g_assert_cmpint(herald_test_json_get_int(stats, "plugins.ws-rooms.connections"), ==, 6);
	g_assert_cmpint(herald_test_json_get_int(stats, "connections"), ==, 6);
	stop_daemon(daemon);
}

static void
plain_refused_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("allowed-origins=https://app.example.com");
	g_autofree gchar *expired = make_token("1", "ADMIN", -60);
	g_autofree gchar *good = make_token("1", "ADMIN", 3600);
	g_autofree gchar *forged = herald_test_make_token("another-secret-of-32-bytes-xxxxxx",
							  "{\"sub\":\"1\",\"role\":\"ADMIN\"}",
							  3600);
	g_autofree gchar *url = NULL;
	g_autofree gchar *body = NULL;
	g_autoptr(JsonNode) node = NULL;
	struct {
		const gchar *path;
		const gchar *headers;
		guint status;
	} cases[] = {
	    {"/ws", NULL, 401},
	    {"/ws?token=", NULL, 401},
	    {"/ws?token=garbage", NULL, 401},
	    {"/ws?token=a.b.c", NULL, 401},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(RawClient) raw =
		    raw_client_connect(daemon, cases[i].path, cases[i].headers);
		g_assert_cmpuint(raw->status, ==, cases[i].status);
	}
	{
		g_autofree gchar *path = g_strdup_printf("/ws?token=%s", forged);
		g_autoptr(RawClient) raw = raw_client_connect(daemon, path, NULL);
		g_assert_cmpuint(raw->status, ==, 401);
	}
	{
		/* Authorization: Bearer works as well as ?token= */
		g_autofree gchar *headers = g_strdup_printf("Authorization: Bearer %s\r\n", good);
		g_autoptr(RawClient) raw = raw_client_connect(daemon, "/ws", headers);
		g_assert_cmpuint(raw->status, ==, 101);
	}
	{
		g_autofree gchar *path = g_strdup_printf("/ws?token=%s", good);
		g_autoptr(RawClient) bad_origin =
		    raw_client_connect(daemon, path, "Origin: https://evil.example.com\r\n");
		g_autoptr(RawClient) good_origin =
		    raw_client_connect(daemon, path, "Origin: https://app.example.com\r\n");
		g_assert_cmpuint(bad_origin->status, ==, 403);
		g_assert_cmpuint(good_origin->status, ==, 101);
	}
	/* the error body says why */
	url = g_strdup_printf("%s/ws?token=%s", daemon->base_url, expired);
	g_assert_cmpuint(herald_test_http("GET", url, NULL, NULL, NULL, 0, &body, NULL), ==, 401);
	node = herald_test_parse_json(body);
	g_assert_cmpstr(herald_test_json_get_string(node, "error"), ==, "token_expired");
	stop_daemon(daemon);
}

static void
plain_bad_input_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autoptr(RawClient) raw = raw_client_open(daemon, "7", "SELLER");
	g_autofree gchar *long_room = g_strnfill(200, 'r');
	g_autofree gchar *long_msg =
	    g_strdup_printf("{\"type\":\"subscribe\",\"room\":\"%s\"}", long_room);
	struct {
		const gchar *send;
		const gchar *code;
	} cases[] = {
	    {"not json", "invalid_json"},
	    {"{\"type\":", "invalid_json"},
	    {"[1,2]", "invalid_message"},
	    {"\"subscribe\"", "invalid_message"},
	    {"42", "invalid_message"},
	    {"{}", "invalid_message"},
	    {"{\"type\":7}", "invalid_message"},
	    {"{\"type\":\"dance\"}", "unknown_type"},
	    {"{\"type\":\"subscribe\"}", "invalid_argument"},
	    {"{\"type\":\"subscribe\",\"room\":\"\"}", "invalid_argument"},
	    {"{\"type\":\"subscribe\",\"room\":\"a\\u0001b\"}", "invalid_argument"},
	    {"{\"type\":\"subscribe\",\"room\":\"a b\"}", "invalid_argument"},
	    {"{\"type\":\"subscribe\",\"room\":12}", "invalid_argument"},
	    {long_msg, "invalid_argument"},
	    {"{\"type\":\"subscribe\",\"room\":\"admin\"}", "forbidden"},
	    {"{\"type\":\"subscribe\",\"room\":\"user_8\"}", "forbidden"},
	    {"{\"type\":\"unsubscribe\",\"room\":\"\"}", "invalid_argument"},
	    {"{\"type\":\"refresh\"}", "invalid_argument"},
	};
	guint n_data = 0;

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(JsonNode) reply = NULL;
		raw_send_text(raw, cases[i].send);
		reply = raw_next_json(raw);
		g_assert_cmpstr(herald_test_json_get_string(reply, "type"), ==, "error");
		g_assert_cmpstr(herald_test_json_get_string(reply, "payload.code"),
				==,
				cases[i].code);
		g_assert_nonnull(herald_test_json_get_string(reply, "payload.message"));
	}
	/* binary frames are not part of the plain protocol */
	raw_send(raw, HERALD_WS_OPCODE_BINARY, TRUE, "\x01\x02", 2);
	g_assert_cmpuint(raw_expect_close(raw, &n_data), ==, HERALD_WS_CLOSE_UNSUPPORTED);
	g_assert_cmpuint(n_data, ==, 0);
	stop_daemon(daemon);
}

static void
plain_protocol_errors_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("max-message-bytes=1024");
	g_autofree gchar *big = g_strnfill(2000, 'x');
	g_autofree gchar *chunk = g_strnfill(600, 'y');
	const guint8 unmasked[] = {0x81, 0x02, 'h', 'i'};
	const guint8 rsv[] = {0xc1, 0x80, 1, 2, 3, 4};

	{
		/* one frame over the limit */
		g_autoptr(RawClient) raw = raw_client_open(daemon, "1", "SELLER");
		raw_send(raw, HERALD_WS_OPCODE_TEXT, TRUE, big, 2000);
		g_assert_cmpuint(raw_expect_close(raw, NULL), ==, HERALD_WS_CLOSE_TOO_BIG);
	}
	{
		/* fragments each under the limit, together over it */
		g_autoptr(RawClient) raw = raw_client_open(daemon, "2", "SELLER");
		raw_send(raw, HERALD_WS_OPCODE_TEXT, FALSE, chunk, 600);
		raw_send(raw, HERALD_WS_OPCODE_CONTINUATION, FALSE, chunk, 600);
		raw_send(raw, HERALD_WS_OPCODE_CONTINUATION, TRUE, chunk, 600);
		g_assert_cmpuint(raw_expect_close(raw, NULL), ==, HERALD_WS_CLOSE_TOO_BIG);
	}
	{
		/* fragments within the limit are reassembled; a ping may come between */
		g_autoptr(RawClient) raw = raw_client_open(daemon, "3", "SELLER");
		g_autoptr(GByteArray) payload = g_byte_array_new();
		g_autoptr(JsonNode) reply = NULL;
		guint8 opcode = 0;
		raw_send(raw, HERALD_WS_OPCODE_TEXT, FALSE, "{\"type\":", 8);
		raw_send(raw, HERALD_WS_OPCODE_PING, TRUE, "hb", 2);
		raw_send(raw, HERALD_WS_OPCODE_CONTINUATION, TRUE, "\"ping\"}", 7);
		g_assert_true(raw_next(raw, &opcode, payload, NULL));
		g_assert_cmpuint(opcode, ==, HERALD_WS_OPCODE_PONG);
		g_assert_cmpmem(payload->data, payload->len, "hb", 2);
		reply = raw_next_json(raw);
		g_assert_cmpstr(herald_test_json_get_string(reply, "type"), ==, "pong");
	}
	{
		g_autoptr(RawClient) raw = raw_client_open(daemon, "4", "SELLER");
		raw_write(raw, unmasked, sizeof(unmasked));
		g_assert_cmpuint(raw_expect_close(raw, NULL), ==, HERALD_WS_CLOSE_PROTOCOL_ERROR);
	}
	{
		/* no extension was negotiated, so RSV1 (deflate) is an error */
		g_autoptr(RawClient) raw = raw_client_open(daemon, "5", "SELLER");
		raw_write(raw, rsv, sizeof(rsv));
		g_assert_cmpuint(raw_expect_close(raw, NULL), ==, HERALD_WS_CLOSE_PROTOCOL_ERROR);
	}
	{
		/* the close handshake echoes the client's code */
		g_autoptr(RawClient) raw = raw_client_open(daemon, "6", "SELLER");
		raw_send(raw,
			 HERALD_WS_OPCODE_CLOSE,
			 TRUE,
			 "\x0f\xa0"
			 "bye",
			 5);
		g_assert_cmpuint(raw_expect_close(raw, NULL), ==, 4000);
	}
	{
		/* permessage-deflate is never negotiated */
		g_autofree gchar *token = make_token("7", "SELLER", 3600);
		g_autofree gchar *path = g_strdup_printf("/ws?token=%s", token);
		g_autoptr(RawClient) raw = raw_client_connect(
		    daemon,
		    path,
		    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
		g_autoptr(JsonNode) connected = NULL;
		g_assert_cmpuint(raw->status, ==, 101);
		connected = raw_next_json(raw);
		g_assert_cmpstr(herald_test_json_get_string(connected, "type"), ==, "connected");
	}
	{
		g_autoptr(JsonNode) stats = get_stats(daemon);
		g_assert_cmpint(
		    herald_test_json_get_int(stats, "plugins.ws-rooms.closes_total.too_big"),
		    ==,
		    2);
	}
	stop_daemon(daemon);
}

/* a client that does not wait for the 101: its first frames arrive with the
 * request, are read ahead by libsoup and must survive the takeover */
static void
plain_read_ahead_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *token = make_token("1", "SELLER", 3600);
	g_autoptr(GSocketClient) sc = g_socket_client_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) ping = herald_ws_frame_new_masked(HERALD_WS_OPCODE_TEXT,
							    TRUE,
							    (const guint8 *)"{\"type\":\"ping\"}",
							    15,
							    0x01020304);
	g_autoptr(GByteArray) req = g_byte_array_new();
	g_autofree gchar *head =
	    g_strdup_printf("GET /ws?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
			    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			    "Sec-WebSocket-Version: 13\r\n\r\n",
			    token);
	RawClient *raw = g_new0(RawClient, 1);
	g_autoptr(RawClient) owned = raw;
	g_autoptr(JsonNode) connected = NULL;
	g_autoptr(JsonNode) pong = NULL;
	gsize size = 0;
	const guint8 *data = g_bytes_get_data(ping, &size);
	guint8 *end = NULL;

	raw->in = g_byte_array_new();
	herald_ws_parser_init(&raw->parser, 1 << 20, FALSE);
	raw->conn = g_socket_client_connect_to_host(sc, "127.0.0.1", daemon->port, NULL, &error);
	g_assert_no_error(error);
	raw->socket = g_socket_connection_get_socket(raw->conn);
	g_socket_set_timeout(raw->socket, 20);
	g_byte_array_append(req, (const guint8 *)head, strlen(head));
	g_byte_array_append(req, data, size);
	g_byte_array_append(req, data, size);
	raw_write(raw, req->data, req->len);
	while (end == NULL) {
		g_assert_true(raw_fill(raw));
		end =
		    (guint8 *)g_strstr_len((const gchar *)raw->in->data, raw->in->len, "\r\n\r\n");
	}
	g_assert_true(g_str_has_prefix((const gchar *)raw->in->data, "HTTP/1.1 101"));
	g_byte_array_remove_range(raw->in, 0, (guint)(end + 4 - raw->in->data));
	connected = raw_next_json(raw);
	g_assert_cmpstr(herald_test_json_get_string(connected, "type"), ==, "connected");
	for (guint i = 0; i < 2; i++) {
		g_autoptr(JsonNode) reply = raw_next_json(raw);
		g_assert_cmpstr(herald_test_json_get_string(reply, "type"), ==, "pong");
	}
	stop_daemon(daemon);
}

static void
plain_rate_limit_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("rate-limit=5\nrate-burst=5");
	g_autoptr(RawClient) raw = raw_client_open(daemon, "1", "SELLER");
	g_autoptr(JsonNode) stats = NULL;
	guint n_data = 0;

	for (guint i = 0; i < 30; i++)
		raw_send_text(raw, "{\"type\":\"ping\"}");
	g_assert_cmpuint(raw_expect_close(raw, &n_data), ==, HERALD_WS_CLOSE_RATE_LIMITED);
	/* replies still queued when the limit hits are dropped with the close */
	g_assert_cmpuint(n_data, <=, 5);
	stats = get_stats(daemon);
	g_assert_cmpint(
	    herald_test_json_get_int(stats, "plugins.ws-rooms.closes_total.rate_limited"),
	    ==,
	    1);
	stop_daemon(daemon);
}

static void
plain_max_connections_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("max-connections=3\nmax-connections-per-user=2");
	g_autoptr(RawClient) a1 = raw_client_open(daemon, "a", "SELLER");
	g_autoptr(RawClient) a2 = raw_client_open(daemon, "a", "SELLER");
	g_autofree gchar *token_a = make_token("a", "SELLER", 3600);
	g_autofree gchar *token_b = make_token("b", "SELLER", 3600);
	g_autofree gchar *path_a = g_strdup_printf("/ws?token=%s", token_a);
	g_autofree gchar *path_b = g_strdup_printf("/ws?token=%s", token_b);
	g_autoptr(RawClient) a3 = raw_client_connect(daemon, path_a, NULL);
	g_autoptr(RawClient) b1 = raw_client_open(daemon, "b", "SELLER");
	g_autoptr(RawClient) b2 = raw_client_connect(daemon, path_b, NULL);
	g_autofree gchar *url =
	    g_strdup_printf("%s/socket.io/?EIO=4&transport=polling", daemon->base_url);
	g_autoptr(JsonNode) stats = NULL;

	/* per user, then in total */
	g_assert_cmpuint(a3->status, ==, 503);
	g_assert_cmpuint(b2->status, ==, 503);
	g_assert_cmpuint(herald_test_http("GET", url, NULL, NULL, NULL, 0, NULL, NULL), ==, 503);
	stats = get_stats(daemon);
	g_assert_cmpint(
	    herald_test_json_get_int(stats, "plugins.ws-rooms.rejected_total.server_full"),
	    ==,
	    3);
	stop_daemon(daemon);
}

static void
plain_expiry_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *short_token = make_token("9", "SELLER", 2);
	g_autofree gchar *long_token = make_token("9", "SELLER", 3600);
	g_autofree gchar *other_token = make_token("10", "SELLER", 3600);
	g_autofree gchar *url = ws_url(daemon, short_token);
	g_autoptr(WsClient) expiring = ws_client_connect(url);
	g_autoptr(WsClient) refreshed = ws_client_connect(url);
	g_autoptr(JsonNode) c1 = NULL;
	g_autoptr(JsonNode) c2 = NULL;
	g_autoptr(JsonNode) mismatch = NULL;
	g_autoptr(JsonNode) ok = NULL;
	g_autoptr(JsonNode) pong = NULL;
	g_autofree gchar *refresh_other = NULL;
	g_autofree gchar *refresh = NULL;

	g_assert_no_error(expiring->error);
	g_assert_no_error(refreshed->error);
	c1 = ws_client_expect(expiring, "connected");
	c2 = ws_client_expect(refreshed, "connected");

	/* another user's token is refused and changes nothing */
	refresh_other = g_strdup_printf("{\"type\":\"refresh\",\"token\":\"%s\"}", other_token);
	ws_client_send(refreshed, refresh_other);
	mismatch = ws_client_expect(refreshed, "error");
	g_assert_cmpstr(herald_test_json_get_string(mismatch, "payload.code"), ==, "forbidden");
	refresh =
	    g_strdup_printf("{\"type\":\"refresh\",\"payload\":{\"token\":\"%s\"}}", long_token);
	ws_client_send(refreshed, refresh);
	ok = ws_client_expect(refreshed, "refreshed");

	g_assert_true(herald_test_wait_until(ws_client_is_closed, expiring, WAIT_MS));
	g_assert_cmpuint(expiring->close_code, ==, HERALD_WS_CLOSE_TOKEN_EXPIRED);
	/* the refreshed one outlived the first token */
	g_assert_false(refreshed->closed);
	ws_client_send(refreshed, "{\"type\":\"ping\"}");
	pong = ws_client_expect(refreshed, "pong");
	stop_daemon(daemon);
}

static void
plain_refresh_invalid_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *token = make_token("9", "SELLER", 3600);
	g_autofree gchar *url = ws_url(daemon, token);
	g_autoptr(WsClient) client = ws_client_connect(url);
	g_autoptr(JsonNode) connected = ws_client_expect(client, "connected");
	g_autoptr(JsonNode) error = NULL;

	ws_client_send(client, "{\"type\":\"refresh\",\"token\":\"garbage\"}");
	error = ws_client_expect(client, "error");
	g_assert_cmpstr(herald_test_json_get_string(error, "payload.code"), ==, "unauthorized");
	g_assert_true(herald_test_wait_until(ws_client_is_closed, client, WAIT_MS));
	g_assert_cmpuint(client->close_code, ==, HERALD_WS_CLOSE_UNAUTHORIZED);
	stop_daemon(daemon);
}

typedef struct {
	WsClient *client;
	guint want;
} CountHelper;

/* limits and room tables follow a reload (SIGHUP) */
static void
plain_reload_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autoptr(RawClient) before = raw_client_open(daemon, "1", "OPERATOR");
	g_autoptr(RawClient) after = NULL;
	g_autoptr(JsonNode) refused = NULL;
	g_autoptr(JsonNode) allowed = NULL;
	g_autofree gchar *config = NULL;
	g_autofree gchar *token = make_token("3", "SELLER", 3600);
	g_autofree gchar *path = g_strdup_printf("/ws?token=%s", token);
	g_autoptr(GError) error = NULL;
	g_autoptr(RawClient) full = NULL;

	/* OPERATOR is not in the built-in tables */
	raw_send_text(before, "{\"type\":\"subscribe\",\"room\":\"alerts_disk\"}");
	refused = raw_next_json(before);
	g_assert_cmpstr(herald_test_json_get_string(refused, "payload.code"), ==, "forbidden");

	g_assert_true(g_file_get_contents(daemon->config_file, &config, NULL, &error));
	g_assert_no_error(error);
	{
		g_autofree gchar *updated =
		    g_strdup_printf("%s\n[ws-rooms]\nmax-connections=2\n"
				    "[ws-rooms.roles]\nOPERATOR=ops\n"
				    "[ws-rooms.subscribe]\nOPERATOR=alerts_*\n",
				    config);
		g_assert_true(g_file_set_contents(daemon->config_file, updated, -1, &error));
		g_assert_no_error(error);
	}
	herald_test_daemon_signal(daemon, SIGHUP);
	g_assert_true(herald_test_daemon_wait_log(daemon, "configuration reloaded", WAIT_MS));

	raw_send_text(before, "{\"type\":\"subscribe\",\"room\":\"alerts_disk\"}");
	allowed = raw_next_json(before);
	g_assert_cmpstr(herald_test_json_get_string(allowed, "type"), ==, "subscribed");
	after = raw_client_open(daemon, "2", "OPERATOR");
	full = raw_client_connect(daemon, path, NULL);
	g_assert_cmpuint(full->status, ==, 503);
	stop_daemon(daemon);
}

static gboolean
has_n_messages(gpointer user_data)
{
	CountHelper *helper = user_data;
	return helper->client->messages.length >= helper->want || helper->client->closed;
}

static void
plain_slow_consumer_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("outgoing-buffer-bytes=65536");
	g_autoptr(RawClient) slow = raw_client_open(daemon, "slow", "SELLER");
	g_autofree gchar *token = make_token("fast", "SELLER", 3600);
	g_autofree gchar *url = ws_url(daemon, token);
	g_autoptr(WsClient) fast = ws_client_connect(url);
	g_autoptr(JsonNode) connected = NULL;
	g_autoptr(JsonNode) subscribed = NULL;
	g_autoptr(JsonNode) slow_subscribed = NULL;
	g_autoptr(JsonNode) stats = NULL;
	g_autofree gchar *blob = g_strnfill(256 * 1024, 'z');
	g_autofree gchar *payload = g_strdup_printf("{\"blob\":\"%s\"}", blob);
	CountHelper helper = {fast, 40};
	guint n_data = 0;

	connected = ws_client_expect(fast, "connected");
	ws_client_send(fast, "{\"type\":\"subscribe\",\"room\":\"orders\"}");
	subscribed = ws_client_expect(fast, "subscribed");
	raw_send_text(slow, "{\"type\":\"subscribe\",\"room\":\"orders\"}");
	slow_subscribed = raw_next_json(slow);
	g_assert_cmpstr(herald_test_json_get_string(slow_subscribed, "type"), ==, "subscribed");

	/* 10 MiB for a client that reads nothing: its socket fills, then its queue */
	for (guint i = 0; i < 40; i++)
		publish_async(daemon, "ws:room:orders", payload);
	g_assert_true(herald_test_wait_until(has_n_messages, &helper, 60000));
	g_assert_false(fast->closed);
	g_assert_cmpuint(fast->messages.length, ==, 40);

	stats = get_stats(daemon);
	g_assert_cmpint(
	    herald_test_json_get_int(stats, "plugins.ws-rooms.closes_total.slow_consumer"),
	    ==,
	    1);
	/* what the slow client finally reads ends with 4008, memory stayed bounded */
	g_assert_cmpuint(raw_expect_close(slow, &n_data), ==, HERALD_WS_CLOSE_SLOW_CONSUMER);
	g_assert_cmpuint(n_data, <, 40);
	stop_daemon(daemon);
}

/* --------------------------------------------------------- Engine.IO HTTP */

static guint
eio_http(HeraldTestDaemon *daemon,
	 const gchar *method,
	 const gchar *query,
	 const gchar *body,
	 gchar **out)
{
	g_autofree gchar *url = g_strdup_printf("%s/socket.io/?%s", daemon->base_url, query);
	return herald_test_http(method,
				url,
				NULL,
				"text/plain;charset=UTF-8",
				body,
				body != NULL ? strlen(body) : 0,
				out,
				NULL);
}

static gchar *
eio_handshake(HeraldTestDaemon *daemon)
{
	g_autofree gchar *out = NULL;
	g_autoptr(JsonNode) open = NULL;
	g_assert_cmpuint(eio_http(daemon, "GET", "EIO=4&transport=polling&t=x", NULL, &out),
			 ==,
			 200);
	g_assert_true(g_str_has_prefix(out, "0{"));
	open = herald_test_parse_json(out + 1);
	return g_strdup(herald_test_json_get_string(open, "sid"));
}

/* @body is read after @status was computed (argument order is unspecified) */
static void
eio_assert_error(guint status, gchar **body, guint want_status, gint want_code)
{
	g_autoptr(JsonNode) node = NULL;
	g_assert_cmpuint(status, ==, want_status);
	g_assert_nonnull(*body);
	node = herald_test_parse_json(*body);
	g_assert_cmpint(herald_test_json_get_int(node, "code"), ==, want_code);
}

static void
eio_bad_requests_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("max-payload=2048");
	g_autofree gchar *open_body = NULL;
	g_autoptr(JsonNode) open = NULL;
	g_autofree gchar *sid = NULL;
	g_autofree gchar *big = g_strnfill(3000, 'x');
	struct {
		const gchar *method;
		const gchar *query;
		guint status;
		gint code;
	} cases[] = {
	    {"GET", "EIO=3&transport=polling", 400, 5},
	    {"GET", "transport=polling", 400, 5},
	    {"GET", "EIO=4&transport=carrier-pigeon", 400, 0},
	    {"GET", "EIO=4", 400, 0},
	    {"GET", "EIO=4&transport=polling&sid=nope", 400, 1},
	    {"POST", "EIO=4&transport=polling", 400, 2},
	    {"GET", "EIO=4&transport=websocket", 400, 3}, /* no Upgrade header */
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *out = NULL;
		guint status = eio_http(daemon,
					cases[i].method,
					cases[i].query,
					cases[i].method[0] == 'P' ? "40" : NULL,
					&out);
		eio_assert_error(status, &out, cases[i].status, cases[i].code);
	}

	/* the open packet has every key the client needs */
	g_assert_cmpuint(eio_http(daemon, "GET", "EIO=4&transport=polling&t=abc", NULL, &open_body),
			 ==,
			 200);
	g_assert_true(g_str_has_prefix(open_body, "0{"));
	open = herald_test_parse_json(open_body + 1);
	g_assert_cmpint(herald_test_json_get_int(open, "pingInterval"), ==, 25000);
	g_assert_cmpint(herald_test_json_get_int(open, "pingTimeout"), ==, 20000);
	g_assert_cmpint(herald_test_json_get_int(open, "maxPayload"), ==, 2048);
	g_assert_cmpint(json_get_array_len(open, "upgrades"), ==, 1);
	sid = g_strdup(herald_test_json_get_string(open, "sid"));

	{
		/* too large, then garbage: 413 keeps the session, garbage closes it */
		g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
		g_autofree gchar *out = NULL;
		g_autofree gchar *out2 = NULL;
		g_autofree gchar *out3 = NULL;
		g_autofree gchar *out4 = NULL;
		g_assert_cmpuint(eio_http(daemon, "POST", query, big, &out), ==, 413);
		g_assert_cmpuint(eio_http(daemon, "POST", query, "6", &out2), ==, 200);
		g_assert_cmpstr(out2, ==, "ok");
		g_assert_cmpuint(eio_http(daemon, "POST", query, "abc", &out3), ==, 400);
		eio_assert_error(eio_http(daemon, "GET", query, NULL, &out4), &out4, 400, 1);
	}
	{
		/* binary over polling is refused and closes the session */
		g_autofree gchar *sid2 = eio_handshake(daemon);
		g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid2);
		g_autofree gchar *out = NULL;
		g_autofree gchar *out2 = NULL;
		g_assert_cmpuint(eio_http(daemon, "POST", query, "bAQIDBA==", &out), ==, 400);
		eio_assert_error(eio_http(daemon, "GET", query, NULL, &out2), &out2, 400, 1);
	}
	stop_daemon(daemon);
}

static void
eio_polling_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *sid = eio_handshake(daemon);
	g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
	g_autofree gchar *token = make_token("5", "CLIENT", 3600);
	g_autofree gchar *connect = g_strdup_printf("40{\"token\":\"%s\"}", token);
	g_autofree gchar *ok = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *out2 = NULL;
	g_autofree gchar *overlap = NULL;
	g_autofree gchar *after = NULL;
	g_autofree gchar *url = g_strdup_printf("%s/socket.io/?%s", daemon->base_url, query);
	g_autoptr(SoupSession) session = soup_session_new();
	g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
	g_auto(GStrv) packets = NULL;
	AsyncGet get = {0};

	g_assert_cmpuint(eio_http(daemon, "POST", query, connect, &ok), ==, 200);
	g_assert_cmpstr(ok, ==, "ok");
	g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &out), ==, 200);
	packets = g_strsplit(out, "\x1e", -1);
	g_assert_cmpuint(g_strv_length(packets), ==, 2);
	g_assert_true(g_str_has_prefix(packets[0], "40{\"sid\":"));
	g_assert_true(g_str_has_prefix(packets[1], "42[\"connected\","));

	/* an event with an ack over polling */
	g_assert_cmpuint(
	    eio_http(daemon, "POST", query, "421[\"subscribe\",{\"room\":\"cart\"}]", &out2),
	    ==,
	    200);
	g_free(out2);
	out2 = NULL;
	g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &out2), ==, 200);
	g_assert_cmpstr(out2, ==, "431[{\"ok\":true,\"room\":\"cart\"}]");

	/* a held poll, then an overlapping one: 400, and the first ends with `1` */
	soup_session_send_and_read_async(session,
					 msg,
					 G_PRIORITY_DEFAULT,
					 NULL,
					 async_get_cb,
					 &get);
	g_assert_false(herald_test_wait_until(async_get_done, &get, 300));
	eio_assert_error(eio_http(daemon, "GET", query, NULL, &overlap), &overlap, 400, 3);
	g_assert_true(herald_test_wait_until(async_get_done, &get, WAIT_MS));
	g_assert_cmpuint(get.status, ==, 200);
	g_assert_true(g_str_has_suffix(get.body, "1"));
	eio_assert_error(eio_http(daemon, "GET", query, NULL, &after), &after, 400, 1);
	g_free(get.body);
	stop_daemon(daemon);
}

static void
eio_polling_refused_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *sid = eio_handshake(daemon);
	g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
	g_autofree gchar *expired = make_token("5", "CLIENT", -10);
	g_autofree gchar *connect = g_strdup_printf("40{\"token\":\"%s\"}", expired);
	g_autofree gchar *ok = NULL;
	g_autofree gchar *out = NULL;
	g_autoptr(JsonNode) refusal = NULL;

	g_assert_cmpuint(eio_http(daemon, "POST", query, connect, &ok), ==, 200);
	g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &out), ==, 200);
	g_assert_true(g_str_has_prefix(out, "44{"));
	refusal = herald_test_parse_json(out + 2);
	g_assert_cmpstr(herald_test_json_get_string(refusal, "message"), ==, "unauthorized");
	g_assert_cmpstr(herald_test_json_get_string(refusal, "data.code"), ==, "token_expired");
	stop_daemon(daemon);
}

/* polling queues are bounded too: a client that stops polling is dropped */
static void
eio_polling_slow_consumer_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("outgoing-buffer-bytes=65536");
	g_autofree gchar *sid = eio_handshake(daemon);
	g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
	g_autofree gchar *token = make_token("5", "CLIENT", 3600);
	g_autofree gchar *connect = g_strdup_printf("40{\"token\":\"%s\"}", token);
	g_autofree gchar *blob = g_strnfill(40000, 'b');
	g_autofree gchar *payload = g_strdup_printf("{\"blob\":\"%s\"}", blob);
	g_autofree gchar *ok = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *gone = NULL;
	g_autoptr(JsonNode) stats = NULL;

	g_assert_cmpuint(eio_http(daemon, "POST", query, connect, &ok), ==, 200);
	g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &out), ==, 200);
	/* the second event does not fit in the queue: the session ends */
	g_assert_cmpint(publish(daemon, "ws:user:5", payload), ==, 1);
	g_assert_cmpint(publish(daemon, "ws:user:5", payload), ==, 0);
	eio_assert_error(eio_http(daemon, "GET", query, NULL, &gone), &gone, 400, 1);
	stats = get_stats(daemon);
	g_assert_cmpint(
	    herald_test_json_get_int(stats, "plugins.ws-rooms.closes_total.slow_consumer"),
	    ==,
	    1);
	stop_daemon(daemon);
}

static void
eio_cors_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("allowed-origins=https://app.example.com");
	g_autofree gchar *url =
	    g_strdup_printf("%s/socket.io/?EIO=4&transport=polling", daemon->base_url);
	g_autoptr(SoupSession) session = soup_session_new();
	g_autoptr(SoupMessage) preflight = soup_message_new("OPTIONS", url);
	g_autoptr(SoupMessage) bad = soup_message_new("OPTIONS", url);
	g_autoptr(SoupMessage) get = soup_message_new("GET", url);
	g_autoptr(SoupMessage) get_bad = soup_message_new("GET", url);
	g_autoptr(GBytes) b1 = NULL;
	g_autoptr(GBytes) b2 = NULL;
	g_autoptr(GBytes) b3 = NULL;
	g_autoptr(GBytes) b4 = NULL;
	SoupMessageHeaders *h;

	h = soup_message_get_request_headers(preflight);
	soup_message_headers_replace(h, "Origin", "https://app.example.com");
	soup_message_headers_replace(h, "Access-Control-Request-Method", "POST");
	soup_message_headers_replace(h, "Access-Control-Request-Headers", "content-type");
	b1 = soup_session_send_and_read(session, preflight, NULL, NULL);
	g_assert_cmpuint(soup_message_get_status(preflight), ==, 204);
	h = soup_message_get_response_headers(preflight);
	g_assert_cmpstr(soup_message_headers_get_one(h, "Access-Control-Allow-Origin"),
			==,
			"https://app.example.com");
	g_assert_cmpstr(soup_message_headers_get_one(h, "Access-Control-Allow-Headers"),
			==,
			"content-type");

	soup_message_headers_replace(soup_message_get_request_headers(bad),
				     "Origin",
				     "https://evil.example.com");
	b2 = soup_session_send_and_read(session, bad, NULL, NULL);
	g_assert_cmpuint(soup_message_get_status(bad), ==, 403);

	soup_message_headers_replace(soup_message_get_request_headers(get),
				     "Origin",
				     "https://app.example.com");
	b3 = soup_session_send_and_read(session, get, NULL, NULL);
	g_assert_cmpuint(soup_message_get_status(get), ==, 200);
	g_assert_cmpstr(soup_message_headers_get_one(soup_message_get_response_headers(get),
						     "Access-Control-Allow-Origin"),
			==,
			"https://app.example.com");

	soup_message_headers_replace(soup_message_get_request_headers(get_bad),
				     "Origin",
				     "https://evil.example.com");
	b4 = soup_session_send_and_read(session, get_bad, NULL, NULL);
	g_assert_cmpuint(soup_message_get_status(get_bad), ==, 400);
	stop_daemon(daemon);
}

/* ------------------------------------------- Socket.IO over a raw socket */

/* the next text frame as a string; control frames other than close are skipped */
static gchar *
raw_next_text(RawClient *raw)
{
	g_autoptr(GByteArray) payload = g_byte_array_new();
	guint8 opcode = 0;
	for (;;) {
		g_assert_true(raw_next(raw, &opcode, payload, NULL));
		if (opcode == HERALD_WS_OPCODE_TEXT)
			return g_strndup((const gchar *)payload->data, payload->len);
		g_assert_cmpuint(opcode, !=, HERALD_WS_OPCODE_CLOSE);
	}
}

/* websocket-only session, connected to namespace "/" */
static RawClient *
sio_raw_open(HeraldTestDaemon *daemon, const gchar *token)
{
	RawClient *raw = raw_client_connect(daemon, "/socket.io/?EIO=4&transport=websocket", NULL);
	g_autofree gchar *open = NULL;
	g_autofree gchar *connect = g_strdup_printf("40{\"token\":\"%s\"}", token);
	g_autofree gchar *ok = NULL;
	g_autofree gchar *connected = NULL;
	g_autoptr(JsonNode) open_json = NULL;

	g_assert_cmpuint(raw->status, ==, 101);
	open = raw_next_text(raw);
	g_assert_true(g_str_has_prefix(open, "0{"));
	open_json = herald_test_parse_json(open + 1);
	g_assert_cmpint(json_get_array_len(open_json, "upgrades"), ==, 0);
	raw_send_text(raw, connect);
	ok = raw_next_text(raw);
	g_assert_true(g_str_has_prefix(ok, "40{\"sid\":\""));
	connected = raw_next_text(raw);
	g_assert_true(g_str_has_prefix(connected, "42[\"connected\","));
	return raw;
}

static void
sio_raw_ping_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("ping-interval-ms=150\nping-timeout-ms=300");
	g_autofree gchar *token = make_token("1", "ADMIN", 3600);
	g_autoptr(RawClient) raw = sio_raw_open(daemon, token);
	g_autoptr(GByteArray) payload = g_byte_array_new();
	guint8 opcode = 0;
	guint16 code = 0;

	/* the server pings; answered pings keep the session */
	for (guint i = 0; i < 3; i++) {
		g_autofree gchar *ping = raw_next_text(raw);
		g_assert_cmpstr(ping, ==, "2");
		raw_send_text(raw, "3");
	}
	/* an unanswered one ends it (no `41`: the client may reconnect) */
	{
		g_autofree gchar *ping = raw_next_text(raw);
		g_assert_cmpstr(ping, ==, "2");
	}
	g_assert_true(raw_next(raw, &opcode, payload, &code));
	g_assert_cmpuint(opcode, ==, HERALD_WS_OPCODE_CLOSE);
	g_assert_cmpuint(code, ==, HERALD_WS_CLOSE_GOING_AWAY);
	stop_daemon(daemon);
}

static void
sio_raw_bad_packets_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *token = make_token("1", "ADMIN", 3600);
	struct {
		const gchar *send;
		guint16 code;
	} cases[] = {
	    {"451-[\"up\",{\"_placeholder\":true,\"num\":0}]", HERALD_WS_CLOSE_UNSUPPORTED},
	    {"42[\"connect\"]", HERALD_WS_CLOSE_PROTOCOL_ERROR},
	    {"42[\"disconnecting\",1]", HERALD_WS_CLOSE_PROTOCOL_ERROR},
	    {"42{}", HERALD_WS_CLOSE_PROTOCOL_ERROR},
	    {"42abc[\"ping\"]", HERALD_WS_CLOSE_PROTOCOL_ERROR},
	    {"abc", HERALD_WS_CLOSE_PROTOCOL_ERROR},
	    {"9", HERALD_WS_CLOSE_PROTOCOL_ERROR},
	    {"5", HERALD_WS_CLOSE_PROTOCOL_ERROR},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(RawClient) raw = sio_raw_open(daemon, token);
		raw_send_text(raw, cases[i].send);
		g_assert_cmpuint(raw_expect_close(raw, NULL), ==, cases[i].code);
	}
	{
		/* binary frames too */
		g_autoptr(RawClient) raw = sio_raw_open(daemon, token);
		raw_send(raw, HERALD_WS_OPCODE_BINARY, TRUE, "\x04\x01", 2);
		g_assert_cmpuint(raw_expect_close(raw, NULL), ==, HERALD_WS_CLOSE_UNSUPPORTED);
	}
	{
		/* another namespace is refused without ending the session */
		g_autoptr(RawClient) raw = sio_raw_open(daemon, token);
		g_autofree gchar *refusal = NULL;
		g_autofree gchar *ack = NULL;
		raw_send_text(raw, "40/admin,{}");
		refusal = raw_next_text(raw);
		g_assert_cmpstr(refusal, ==, "44/admin,{\"message\":\"Invalid namespace\"}");
		raw_send_text(raw, "4212[\"subscribe\",{\"room\":\"orders\"}]");
		ack = raw_next_text(raw);
		g_assert_cmpstr(ack, ==, "4312[{\"ok\":true,\"room\":\"orders\"}]");
		/* DISCONNECT ends it */
		raw_send_text(raw, "41");
		g_assert_cmpuint(raw_expect_close(raw, NULL), !=, HERALD_WS_CLOSE_PROTOCOL_ERROR);
	}
	stop_daemon(daemon);
}

static void
sio_raw_limits_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("rate-limit=5\nrate-burst=5");
	g_autofree gchar *token = make_token("1", "ADMIN", 3600);
	g_autofree gchar *short_token = make_token("2", "ADMIN", 2);
	g_autoptr(RawClient) flood = sio_raw_open(daemon, token);
	g_autoptr(RawClient) expiring = sio_raw_open(daemon, short_token);
	g_autoptr(GByteArray) payload = g_byte_array_new();
	g_autofree gchar *last = NULL;
	guint8 opcode = 0;
	guint16 code = 0;

	/* a flood: `41`, then 4429 */
	for (guint i = 0; i < 30; i++)
		raw_send_text(flood, "42[\"ping\"]");
	while (raw_next(flood, &opcode, payload, &code) && opcode != HERALD_WS_OPCODE_CLOSE) {
		g_free(last);
		last = g_strndup((const gchar *)payload->data, payload->len);
	}
	g_assert_cmpuint(opcode, ==, HERALD_WS_OPCODE_CLOSE);
	g_assert_cmpuint(code, ==, HERALD_WS_CLOSE_RATE_LIMITED);
	g_assert_cmpstr(last, ==, "41");

	/* token expiry: `41`, then 4408 */
	g_clear_pointer(&last, g_free);
	while (raw_next(expiring, &opcode, payload, &code) && opcode != HERALD_WS_OPCODE_CLOSE) {
		g_free(last);
		last = g_strndup((const gchar *)payload->data, payload->len);
	}
	g_assert_cmpuint(opcode, ==, HERALD_WS_OPCODE_CLOSE);
	g_assert_cmpuint(code, ==, HERALD_WS_CLOSE_TOKEN_EXPIRED);
	g_assert_cmpstr(last, ==, "41");
	stop_daemon(daemon);
}

static void
sio_raw_upgrade_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *sid = eio_handshake(daemon);
	g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
	g_autofree gchar *ws_path =
	    g_strdup_printf("/socket.io/?EIO=4&transport=websocket&sid=%s", sid);
	g_autofree gchar *token = make_token("5", "CLIENT", 3600);
	g_autofree gchar *connect = g_strdup_printf("40{\"token\":\"%s\"}", token);
	g_autofree gchar *url = g_strdup_printf("%s/socket.io/?%s", daemon->base_url, query);
	g_autofree gchar *ok = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *probe = NULL;
	g_autofree gchar *event = NULL;
	g_autofree gchar *late = NULL;
	g_autoptr(RawClient) ws = NULL;
	g_autoptr(RawClient) second = NULL;
	g_autoptr(SoupSession) session = soup_session_new();
	g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
	AsyncGet get = {0};

	g_assert_cmpuint(eio_http(daemon, "POST", query, connect, &ok), ==, 200);
	g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &out), ==, 200);
	g_assert_true(g_str_has_prefix(out, "40{\"sid\":"));

	/* a held poll while the probe runs: it ends with a noop */
	soup_session_send_and_read_async(session,
					 msg,
					 G_PRIORITY_DEFAULT,
					 NULL,
					 async_get_cb,
					 &get);
	g_assert_false(herald_test_wait_until(async_get_done, &get, 200));
	ws = raw_client_connect(daemon, ws_path, NULL);
	g_assert_cmpuint(ws->status, ==, 101);
	raw_send_text(ws, "2probe");
	probe = raw_next_text(ws);
	g_assert_cmpstr(probe, ==, "3probe");
	g_assert_true(herald_test_wait_until(async_get_done, &get, WAIT_MS));
	g_assert_cmpuint(get.status, ==, 200);
	g_assert_cmpstr(get.body, ==, "6");
	raw_send_text(ws, "5");

	/* the session is on the websocket now */
	g_assert_cmpint(publish(daemon, "ws:user:5", "{\"n\":1}"), ==, 1);
	event = raw_next_text(ws);
	g_assert_cmpstr(event, ==, "42[\"ws:user:5\",{\"n\":1}]");
	eio_assert_error(eio_http(daemon, "GET", query, NULL, &late), &late, 400, 3);
	second = raw_client_connect(daemon, ws_path, NULL);
	g_assert_cmpuint(second->status, ==, 400);
	g_free(get.body);
	stop_daemon(daemon);
}

static void
eio_polling_ping_timeout_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("ping-interval-ms=100\nping-timeout-ms=100");
	g_autofree gchar *sid = eio_handshake(daemon);
	g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
	g_autofree gchar *ping = NULL;
	g_autofree gchar *gone = NULL;

	/* the server pings through the poll */
	g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &ping), ==, 200);
	g_assert_cmpstr(ping, ==, "2");
	/* no pong: the session closes and polls get 400 (engine.io test-suite) */
	for (guint i = 0; i < 100; i++) {
		g_autofree gchar *out = NULL;
		guint status = eio_http(daemon, "GET", query, NULL, &out);
		if (status == 400) {
			gone = g_steal_pointer(&out);
			break;
		}
		g_assert_cmpuint(status, ==, 200);
	}
	g_assert_nonnull(gone);
	stop_daemon(daemon);
}

/* ---------------------------------------------------------- node clients */

static void
sio_basic(gboolean websocket)
{
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(JsonBuilder) builder = NULL;
	g_autoptr(JsonNode) result = NULL;
	g_autofree gchar *token = make_token("7", "ADVISOR", 3600);
	JsonObject *obj;

	if (!node_available())
		return;
	daemon = start_daemon("ping-interval-ms=400\nping-timeout-ms=2000");
	builder = node_args(daemon);
	json_builder_set_member_name(builder, "token");
	json_builder_add_string_value(builder, token);
	json_builder_set_member_name(builder, "websocket");
	json_builder_add_boolean_value(builder, websocket);
	json_builder_set_member_name(builder, "wait_upgrade");
	json_builder_add_boolean_value(builder, TRUE);
	json_builder_end_object(builder);
	result = node_run("sio-basic.js", builder);
	obj = json_node_get_object(result);

	g_assert_cmpstr(herald_test_json_get_string(result, "connected.user_id"), ==, "7");
	g_assert_cmpstr(herald_test_json_get_string(result, "connected.role"), ==, "ADVISOR");
	/* the socket id, never the Engine.IO sid */
	g_assert_cmpstr(herald_test_json_get_string(result, "connected.connection_id"),
			==,
			herald_test_json_get_string(result, "id"));
	/* emitWithAck() resolves with the first argument of the ack */
	g_assert_true(json_boolean(result, "ack_subscribe.ok"));
	g_assert_cmpstr(herald_test_json_get_string(result, "ack_subscribe.room"),
			==,
			"solicitud_17");
	g_assert_false(json_boolean(result, "ack_forbidden.ok"));
	g_assert_cmpstr(herald_test_json_get_string(result, "ack_forbidden.code"), ==, "forbidden");
	g_assert_false(json_boolean(result, "ack_bad_room.ok"));
	g_assert_cmpstr(herald_test_json_get_string(result, "ack_bad_room.code"),
			==,
			"invalid_argument");
	g_assert_false(json_boolean(result, "ack_unknown.ok"));
	g_assert_cmpstr(herald_test_json_get_string(result, "ack_unknown.code"), ==, "not_found");
	g_assert_true(json_boolean(result, "ack_ping.ok"));
	g_assert_true(json_boolean(result, "ack_unsubscribe.ok"));
	/* advisor room + solicitud_17: one delivery */
	g_assert_cmpint(herald_test_json_get_int(result, "published.delivered"), ==, 1);
	g_assert_cmpint(herald_test_json_get_int(result, "event.solicitud_id"), ==, 17);
	g_assert_cmpint(herald_test_json_get_int(result, "published_after.delivered"), ==, 0);
	g_assert_cmpint(herald_test_json_get_int(result, "events_after"), ==, 0);
	g_assert_cmpstr(herald_test_json_get_string(result, "final_transport"), ==, "websocket");
	if (websocket) {
		g_assert_cmpint(json_get_array_len(result, "transports"), ==, 1);
	} else {
		JsonArray *transports = json_object_get_array_member(obj, "transports");
		g_assert_cmpstr(json_array_get_string_element(transports, 0), ==, "polling");
	}
	stop_daemon(daemon);
}

static void
sio_default_func(void)
{
	sio_basic(FALSE);
}

static void
sio_websocket_func(void)
{
	sio_basic(TRUE);
}

static void
sio_refused_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autofree gchar *expired = make_token("7", "ADVISOR", -30);
	struct {
		const gchar *token;
		gboolean websocket;
		const gchar *code;
	} cases[] = {
	    {"garbage", FALSE, "invalid_token"},
	    {"garbage", TRUE, "invalid_token"},
	    {expired, FALSE, "token_expired"},
	    {expired, TRUE, "token_expired"},
	    {NULL, TRUE, "missing_token"},
	};

	if (!node_available())
		return;
	daemon = start_daemon(NULL);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(JsonBuilder) builder = node_args(daemon);
		g_autoptr(JsonNode) result = NULL;
		json_builder_set_member_name(builder, "token");
		if (cases[i].token != NULL)
			json_builder_add_string_value(builder, cases[i].token);
		else
			json_builder_add_null_value(builder);
		json_builder_set_member_name(builder, "websocket");
		json_builder_add_boolean_value(builder, cases[i].websocket);
		json_builder_end_object(builder);
		result = node_run("sio-refused.js", builder);
		g_assert_cmpstr(herald_test_json_get_string(result, "message"), ==, "unauthorized");
		g_assert_cmpstr(herald_test_json_get_string(result, "data.code"),
				==,
				cases[i].code);
	}
	stop_daemon(daemon);
}

static void
sio_presence_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(JsonBuilder) builder = NULL;
	g_autoptr(JsonNode) result = NULL;
	g_autofree gchar *a = make_token("1", "ADVISOR", 3600);
	g_autofree gchar *b = make_token("2", "ADVISOR", 3600);
	g_autofree gchar *c = make_token("3", "ADVISOR", 3600);
	JsonArray *presence;

	if (!node_available())
		return;
	daemon = start_daemon(NULL);
	builder = node_args(daemon);
	json_builder_set_member_name(builder, "token_a");
	json_builder_add_string_value(builder, a);
	json_builder_set_member_name(builder, "token_b");
	json_builder_add_string_value(builder, b);
	json_builder_set_member_name(builder, "token_c");
	json_builder_add_string_value(builder, c);
	json_builder_end_object(builder);
	result = node_run("sio-presence.js", builder);
	g_assert_cmpstr(herald_test_json_get_string(result, "joined.user_id"), ==, "2");
	g_assert_cmpstr(herald_test_json_get_string(result, "joined.room"), ==, "solicitud_5");
	g_assert_cmpstr(herald_test_json_get_string(result, "left.user_id"), ==, "2");
	g_assert_false(
	    json_object_get_boolean_member(json_node_get_object(result), "second_saw_own_join"));
	presence = json_object_get_array_member(json_node_get_object(result), "plain_presence");
	g_assert_cmpuint(json_array_get_length(presence), ==, 3);
	/* three advisors, each once although two are in two target rooms */
	g_assert_cmpint(herald_test_json_get_int(result, "published.delivered"), ==, 3);
	g_assert_cmpint(herald_test_json_get_int(result, "first_count"), ==, 1);
	g_assert_cmpint(herald_test_json_get_int(result, "second_count"), ==, 1);
	g_assert_cmpint(herald_test_json_get_int(result, "plain_count"), ==, 1);
	g_assert_cmpstr(herald_test_json_get_string(result, "plain_event.room"), ==, "advisor");
	stop_daemon(daemon);
}

static void
plain_many_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(JsonBuilder) builder = NULL;
	g_autoptr(JsonNode) result = NULL;

	if (!node_available())
		return;
	daemon = start_daemon(NULL);
	builder = node_args(daemon);
	json_builder_set_member_name(builder, "secret");
	json_builder_add_string_value(builder, HERALD_TEST_SECRET);
	json_builder_set_member_name(builder, "clients");
	json_builder_add_int_value(builder, 200);
	json_builder_set_member_name(builder, "events_per_room");
	json_builder_add_int_value(builder, 10);
	json_builder_end_object(builder);
	result = node_run("plain-many.js", builder);
	g_test_message("200 clients: connect+subscribe %" G_GINT64_FORMAT " ms, "
		       "%" G_GINT64_FORMAT " deliveries in %" G_GINT64_FORMAT " ms",
		       herald_test_json_get_int(result, "connect_ms"),
		       herald_test_json_get_int(result, "received"),
		       herald_test_json_get_int(result, "deliver_ms"));
	g_assert_cmpint(herald_test_json_get_int(result, "received"),
			==,
			herald_test_json_get_int(result, "expected"));
	g_assert_cmpint(herald_test_json_get_int(result, "reached"),
			==,
			herald_test_json_get_int(result, "expected"));
	g_assert_cmpint(herald_test_json_get_int(result, "wrong"), ==, 0);
	g_assert_cmpint(herald_test_json_get_int(result, "duplicates"), ==, 0);
	g_assert_cmpint(herald_test_json_get_int(result, "misordered"), ==, 0);
	stop_daemon(daemon);
}

static void
shutdown_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(JsonBuilder) builder = NULL;
	g_autoptr(JsonNode) result = NULL;
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GDataInputStream) lines = NULL;
	g_autofree gchar *token = make_token("1", "ADMIN", 3600);
	g_autofree gchar *ready = NULL;

	if (!node_available())
		return;
	daemon = start_daemon(NULL);
	builder = node_args(daemon);
	json_builder_set_member_name(builder, "token");
	json_builder_add_string_value(builder, token);
	json_builder_end_object(builder);
	proc = node_spawn("sio-shutdown.js", builder);
	lines = g_data_input_stream_new(g_subprocess_get_stdout_pipe(proc));
	ready = g_data_input_stream_read_line(lines, NULL, NULL, NULL);
	g_assert_cmpstr(ready, ==, "ready");
	herald_test_daemon_signal(daemon, SIGTERM);
	g_assert_cmpint(herald_test_daemon_wait(daemon, 20000), ==, 0);
	result = node_finish(proc);
	g_assert_cmpint(herald_test_json_get_int(result, "plain_code"), ==, 1001);
	g_assert_cmpstr(herald_test_json_get_string(result, "sio_reason"),
			==,
			"io server disconnect");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/herald/ws-rooms/plain/flow", plain_flow_func);
	g_test_add_func("/herald/ws-rooms/plain/stats", plain_stats_func);
	g_test_add_func("/herald/ws-rooms/plain/refused", plain_refused_func);
	g_test_add_func("/herald/ws-rooms/plain/bad-input", plain_bad_input_func);
	g_test_add_func("/herald/ws-rooms/plain/protocol-errors", plain_protocol_errors_func);
	g_test_add_func("/herald/ws-rooms/plain/read-ahead", plain_read_ahead_func);
	g_test_add_func("/herald/ws-rooms/plain/rate-limit", plain_rate_limit_func);
	g_test_add_func("/herald/ws-rooms/plain/max-connections", plain_max_connections_func);
	g_test_add_func("/herald/ws-rooms/plain/expiry", plain_expiry_func);
	g_test_add_func("/herald/ws-rooms/plain/refresh-invalid", plain_refresh_invalid_func);
	g_test_add_func("/herald/ws-rooms/plain/slow-consumer", plain_slow_consumer_func);
	g_test_add_func("/herald/ws-rooms/plain/reload", plain_reload_func);
	g_test_add_func("/herald/ws-rooms/eio/bad-requests", eio_bad_requests_func);
	g_test_add_func("/herald/ws-rooms/eio/polling", eio_polling_func);
	g_test_add_func("/herald/ws-rooms/eio/polling-refused", eio_polling_refused_func);
	g_test_add_func("/herald/ws-rooms/eio/polling-slow-consumer",
			eio_polling_slow_consumer_func);
	g_test_add_func("/herald/ws-rooms/eio/cors", eio_cors_func);
	g_test_add_func("/herald/ws-rooms/eio/polling-ping-timeout", eio_polling_ping_timeout_func);
	g_test_add_func("/herald/ws-rooms/sio/raw-ping", sio_raw_ping_func);
	g_test_add_func("/herald/ws-rooms/sio/raw-bad-packets", sio_raw_bad_packets_func);
	g_test_add_func("/herald/ws-rooms/sio/raw-limits", sio_raw_limits_func);
	g_test_add_func("/herald/ws-rooms/sio/raw-upgrade", sio_raw_upgrade_func);
	g_test_add_func("/herald/ws-rooms/sio/default", sio_default_func);
	g_test_add_func("/herald/ws-rooms/sio/websocket", sio_websocket_func);
	g_test_add_func("/herald/ws-rooms/sio/refused", sio_refused_func);
	g_test_add_func("/herald/ws-rooms/sio/presence", sio_presence_func);
	g_test_add_func("/herald/ws-rooms/plain/many", plain_many_func);
	g_test_add_func("/herald/ws-rooms/shutdown", shutdown_func);
	return g_test_run();
}
