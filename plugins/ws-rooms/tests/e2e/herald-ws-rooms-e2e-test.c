/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ws-rooms end to end: heraldd as a subprocess, driven by libsoup's WebSocket
 * client and by a raw socket client (for frames a well-behaved client never
 * sends and for Engine.IO over HTTP). The node clients are in ../node/.
 */
#include "config.h"

#include <errno.h>
#include <jwt.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "herald-test-util.h"
#include "herald-ws-rooms-frame.h"

#define WAIT_MS 10000

static HeraldTestDaemon *
start_daemon_full(const gchar *ws_rooms_config, guint leeway_s)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *extra = g_strdup_printf("[host]\nplugins=ws-rooms\n"
						  "[auth]\nleeway-s=%u\n"
						  "[ws-rooms]\n%s\n",
						  leeway_s,
						  ws_rooms_config != NULL ? ws_rooms_config : "");
	HeraldTestDaemon *daemon = herald_test_daemon_new(extra);
	if (!herald_test_daemon_start(daemon, &error))
		g_error("%s", error->message);
	return daemon;
}

static HeraldTestDaemon *
start_daemon(const gchar *ws_rooms_config)
{
	return start_daemon_full(ws_rooms_config, 0);
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

/* a token signed with another algorithm than the pinned HS256 */
static gchar *
make_token_alg(jwt_alg_t alg, const gchar *user)
{
	jwt_t *jwt = NULL;
	g_autofree gchar *claims =
	    g_strdup_printf("{\"sub\":\"%s\",\"role\":\"ADMIN\",\"exp\":%" G_GINT64_FORMAT "}",
			    user,
			    g_get_real_time() / G_USEC_PER_SEC + 3600);
	gchar *encoded;
	gchar *out;
	g_assert_cmpint(jwt_new(&jwt), ==, 0);
	g_assert_cmpint(jwt_add_grants_json(jwt, claims), ==, 0);
	if (alg == JWT_ALG_NONE)
		g_assert_cmpint(jwt_set_alg(jwt, JWT_ALG_NONE, NULL, 0), ==, 0);
	else
		g_assert_cmpint(jwt_set_alg(jwt,
					    alg,
					    (const unsigned char *)HERALD_TEST_SECRET,
					    strlen(HERALD_TEST_SECRET)),
				==,
				0);
	encoded = jwt_encode_str(jwt);
	g_assert_nonnull(encoded);
	out = g_strdup(encoded);
	free(encoded);
	jwt_free(jwt);
	return out;
}

static guint64
stats_get(JsonNode *stats, const gchar *path)
{
	g_autofree gchar *full = g_strdup_printf("plugins.ws-rooms.%s", path);
	gint64 value = herald_test_json_get_int(stats, full);
	g_assert_cmpint(value, >=, 0);
	return (guint64)value;
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
ws_client_connect_full(const gchar *url, gboolean offer_deflate)
{
	WsClient *client = g_new0(WsClient, 1);
	client->session = soup_session_new();
	/* libsoup then offers permessage-deflate, as browsers and node ws do */
	if (offer_deflate)
		soup_session_add_feature_by_type(client->session,
						 SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);
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

static WsClient *
ws_client_connect(const gchar *url)
{
	return ws_client_connect_full(url, FALSE);
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
	gchar *head; /* the response status line and headers */
} RawClient;

static void
raw_client_free(RawClient *raw)
{
	g_clear_object(&raw->conn);
	g_byte_array_unref(raw->in);
	herald_ws_parser_clear(&raw->parser);
	g_free(raw->head);
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

/* handshake by hand; on 101 the client is ready for frames. @rcvbuf, when not
 * 0, fixes the receive buffer before connecting (no autotuning), so that a
 * client that does not read stops the server's writes early */
/* a TCP socket to heraldd from the loopback address @local (NULL:
 * 127.0.0.1); the whole of 127/8 is loopback, so tests can play several
 * source addresses */
static GSocket *
raw_socket_from(HeraldTestDaemon *daemon, const gchar *local, gint rcvbuf)
{
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(loopback, daemon->port);
	g_autoptr(GError) error = NULL;

	socket = g_socket_new(G_SOCKET_FAMILY_IPV4,
			      G_SOCKET_TYPE_STREAM,
			      G_SOCKET_PROTOCOL_TCP,
			      &error);
	g_assert_no_error(error);
	if (rcvbuf > 0)
		g_assert_true(g_socket_set_option(socket, SOL_SOCKET, SO_RCVBUF, rcvbuf, &error));
	g_assert_no_error(error);
	if (local != NULL) {
		g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(local);
		g_autoptr(GSocketAddress) bind_addr = g_inet_socket_address_new(inet, 0);
		g_assert_true(g_socket_bind(socket, bind_addr, FALSE, &error));
		g_assert_no_error(error);
	}
	g_assert_true(g_socket_connect(socket, addr, NULL, &error));
	g_assert_no_error(error);
	g_socket_set_timeout(socket, 20);
	return g_steal_pointer(&socket);
}

static RawClient *
raw_client_connect_from(HeraldTestDaemon *daemon,
			const gchar *local,
			const gchar *path_query,
			const gchar *headers,
			gint rcvbuf);

static RawClient *
raw_client_connect_full(HeraldTestDaemon *daemon,
			const gchar *path_query,
			const gchar *headers,
			gint rcvbuf)
{
	return raw_client_connect_from(daemon, NULL, path_query, headers, rcvbuf);
}

static RawClient *
raw_client_connect_from(HeraldTestDaemon *daemon,
			const gchar *local,
			const gchar *path_query,
			const gchar *headers,
			gint rcvbuf)
{
	RawClient *raw = g_new0(RawClient, 1);
	g_autoptr(GSocket) socket = NULL;
	g_autofree gchar *req = NULL;
	guint8 *end;

	raw->in = g_byte_array_new();
	herald_ws_parser_init(&raw->parser, 256 * 1024 * 1024, FALSE);
	socket = raw_socket_from(daemon, local, rcvbuf);
	raw->conn = g_socket_connection_factory_create_connection(socket);
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
	raw->head = g_ascii_strdown((const gchar *)raw->in->data, end - raw->in->data);
	g_byte_array_remove_range(raw->in, 0, (guint)(end + 4 - raw->in->data));
	return raw;
}

static RawClient *
raw_client_connect(HeraldTestDaemon *daemon, const gchar *path_query, const gchar *headers)
{
	return raw_client_connect_full(daemon, path_query, headers, 0);
}

/* the JSON body of a refused handshake */
static JsonNode *
raw_error_body(RawClient *raw)
{
	const gchar *cl = strstr(raw->head, "content-length:");
	guint64 len;
	g_autofree gchar *text = NULL;
	g_assert_nonnull(cl);
	len = g_ascii_strtoull(cl + strlen("content-length:"), NULL, 10);
	while (raw->in->len < len)
		g_assert_true(raw_fill(raw));
	g_assert_nonnull(strstr(raw->head, "content-type: application/json"));
	text = g_strndup((const gchar *)raw->in->data, len);
	return herald_test_parse_json(text);
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

/* no connection, session or room left */
static gboolean
daemon_is_empty(gpointer user_data)
{
	g_autoptr(JsonNode) stats = get_stats(user_data);
	return stats_get(stats, "connections") == 0 && stats_get(stats, "rooms") == 0 &&
	       stats_get(stats, "sessions") == 0;
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
	/* admin, advisor, client and five personal rooms */
	g_assert_cmpuint(stats_get(stats, "rooms"), ==, 8);

	/* once the clients are gone, so are their users and rooms */
	g_ptr_array_set_size(clients, 0);
	g_assert_true(herald_test_wait_until(daemon_is_empty, daemon, WAIT_MS));
	json_node_unref(stats);
	stats = get_stats(daemon);
	g_assert_cmpint(herald_test_json_get_int(stats, "connected_users"), ==, 0);
	g_assert_cmpuint(stats_get(stats, "sessions"), ==, 0);
	g_assert_cmpuint(stats_get(stats, "closes_total.client"), ==, 6);
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
	g_autofree gchar *alg_none = make_token_alg(JWT_ALG_NONE, "1");
	g_autofree gchar *alg_hs512 = make_token_alg(JWT_ALG_HS512, "1");
	g_autofree gchar *path_expired = g_strdup_printf("/ws?token=%s", expired);
	g_autofree gchar *path_forged = g_strdup_printf("/ws?token=%s", forged);
	g_autofree gchar *path_none = g_strdup_printf("/ws?token=%s", alg_none);
	g_autofree gchar *path_hs512 = g_strdup_printf("/ws?token=%s", alg_hs512);
	g_autofree gchar *bearer_garbage = g_strdup("Authorization: Bearer garbage\r\n");
	g_autofree gchar *path_good = g_strdup_printf("/ws?token=%s", good);
	g_autoptr(JsonNode) stats = NULL;
	struct {
		const gchar *path;
		const gchar *headers;
		guint status;
		const gchar *error;
	} cases[] = {
	    {"/ws", NULL, 401, "unauthorized"},			  /* missing */
	    {"/ws?token=", NULL, 401, "unauthorized"},		  /* empty */
	    {"/ws?token=garbage", NULL, 401, "unauthorized"},	  /* garbage */
	    {"/ws?token=a.b.c", NULL, 401, "unauthorized"},	  /* garbage with dots */
	    {"/ws", bearer_garbage, 401, "unauthorized"},	  /* garbage bearer */
	    {path_forged, NULL, 401, "unauthorized"},		  /* wrong key */
	    {path_none, NULL, 401, "unauthorized"},		  /* alg none */
	    {path_hs512, NULL, 401, "unauthorized"},		  /* alg not pinned */
	    {path_expired, NULL, 401, "token_expired"},		  /* expired */
	    {path_good, "Origin: https://evil.example.com\r\n", 403, "forbidden"},
	};

	/* each refused before the upgrade, with a JSON body that says why */
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(RawClient) raw =
		    raw_client_connect(daemon, cases[i].path, cases[i].headers);
		g_autoptr(JsonNode) body = NULL;
		g_test_message("refused case %u: %s", i, cases[i].error);
		g_assert_cmpuint(raw->status, ==, cases[i].status);
		body = raw_error_body(raw);
		g_assert_cmpstr(herald_test_json_get_string(body, "error"), ==, cases[i].error);
		g_assert_nonnull(herald_test_json_get_string(body, "message"));
		g_assert_null(strstr(raw->head, "upgrade: websocket"));
	}
	{
		/* Authorization: Bearer works as well as ?token= */
		g_autofree gchar *headers = g_strdup_printf("Authorization: Bearer %s\r\n", good);
		g_autoptr(RawClient) raw = raw_client_connect(daemon, "/ws", headers);
		g_assert_cmpuint(raw->status, ==, 101);
	}
	{
		g_autoptr(RawClient) good_origin =
		    raw_client_connect(daemon, path_good, "Origin: https://app.example.com\r\n");
		g_assert_cmpuint(good_origin->status, ==, 101);
	}
	{
		/* not a WebSocket handshake at all */
		g_autofree gchar *url = g_strdup_printf("%s%s", daemon->base_url, path_good);
		g_autofree gchar *body = NULL;
		g_autoptr(JsonNode) node = NULL;
		g_assert_cmpuint(herald_test_http("GET", url, NULL, NULL, NULL, 0, &body, NULL),
				 ==,
				 400);
		node = herald_test_parse_json(body);
		g_assert_cmpstr(herald_test_json_get_string(node, "error"), ==, "invalid_argument");
	}
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "rejected_total.missing_token"), ==, 2);
	g_assert_cmpuint(stats_get(stats, "rejected_total.invalid_token"), ==, 6);
	g_assert_cmpuint(stats_get(stats, "rejected_total.token_expired"), ==, 1);
	g_assert_cmpuint(stats_get(stats, "rejected_total.origin"), ==, 1);
	g_assert_cmpuint(stats_get(stats, "rejected_total.bad_handshake"), ==, 1);
	g_assert_cmpuint(stats_get(stats, "accepted_plain_total"), ==, 2);
	stop_daemon(daemon);
	/* tokens never reach the log, valid or not (heraldd ran with --verbose) */
	{
		g_autofree gchar *log = herald_test_daemon_get_log(daemon);
		g_assert_nonnull(strstr(log, "started"));
		g_assert_null(strstr(log, good));
		g_assert_null(strstr(log, forged));
		g_assert_null(strstr(log, alg_none));
		g_assert_null(strstr(log, expired));
	}
}

static void
plain_bad_input_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autoptr(RawClient) raw = raw_client_open(daemon, "7", "SELLER");
	g_autofree gchar *long_room = g_strnfill(200, 'r');
	g_autofree gchar *long_msg =
	    g_strdup_printf("{\"type\":\"subscribe\",\"room\":\"%s\"}", long_room);
	/* nested exactly [host] max-json-depth deep: parsed (one level more
	 * closes the connection with 1007, see json_too_deep_func) */
	g_autofree gchar *open_deep = g_strnfill(64, '[');
	g_autofree gchar *close_deep = g_strnfill(64, ']');
	g_autofree gchar *deep = g_strconcat(open_deep, close_deep, NULL);
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
	    {deep, "invalid_message"},
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
	/* after all that the connection still works */
	{
		g_autoptr(JsonNode) pong = NULL;
		g_autoptr(JsonNode) subscribed = NULL;
		raw_send_text(raw, "{\"type\":\"ping\"}");
		pong = raw_next_json(raw);
		g_assert_cmpstr(herald_test_json_get_string(pong, "type"), ==, "pong");
		raw_send_text(raw, "{\"type\":\"subscribe\",\"room\":\"orders\"}");
		subscribed = raw_next_json(raw);
		g_assert_cmpstr(herald_test_json_get_string(subscribed, "type"), ==, "subscribed");
	}
	/* binary frames are not part of the plain protocol */
	raw_send(raw, HERALD_WS_OPCODE_BINARY, TRUE, "\x01\x02", 2);
	g_assert_cmpuint(raw_expect_close(raw, &n_data), ==, HERALD_WS_CLOSE_UNSUPPORTED);
	g_assert_cmpuint(n_data, ==, 0);
	{
		g_autoptr(JsonNode) stats = get_stats(daemon);
		/* 8 refused subscribes (names and permissions), one accepted */
		g_assert_cmpuint(stats_get(stats, "subscribes_refused_total"), ==, 8);
		g_assert_cmpuint(stats_get(stats, "subscribes_total"), ==, 1);
		g_assert_cmpuint(stats_get(stats, "messages_in_total"),
				 ==,
				 G_N_ELEMENTS(cases) + 2);
		g_assert_cmpuint(stats_get(stats, "closes_total.protocol_error"), ==, 1);
	}
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
		g_assert_null(strstr(raw->head, "sec-websocket-extensions"));
		connected = raw_next_json(raw);
		g_assert_cmpstr(herald_test_json_get_string(connected, "type"), ==, "connected");
		/* so a compressed frame (RSV1) is a protocol error */
		raw_write(raw, rsv, sizeof(rsv));
		g_assert_cmpuint(raw_expect_close(raw, NULL), ==, HERALD_WS_CLOSE_PROTOCOL_ERROR);
	}
	{
		/* ... and an oversize message is measured as sent: 1009 */
		g_autofree gchar *token = make_token("8", "SELLER", 3600);
		g_autofree gchar *path = g_strdup_printf("/ws?token=%s", token);
		g_autoptr(RawClient) raw = raw_client_connect(
		    daemon,
		    path,
		    "Sec-WebSocket-Extensions: permessage-deflate\r\n");
		g_autoptr(JsonNode) connected = NULL;
		g_assert_cmpuint(raw->status, ==, 101);
		g_assert_null(strstr(raw->head, "sec-websocket-extensions"));
		connected = raw_next_json(raw);
		raw_send(raw, HERALD_WS_OPCODE_TEXT, TRUE, big, 2000);
		g_assert_cmpuint(raw_expect_close(raw, NULL), ==, HERALD_WS_CLOSE_TOO_BIG);
	}
	{
		/* text that is not UTF-8: 1007; a continuation out of nowhere: 1002 */
		g_autoptr(RawClient) raw = raw_client_open(daemon, "9", "SELLER");
		g_autoptr(RawClient) raw2 = raw_client_open(daemon, "10", "SELLER");
		raw_send(raw, HERALD_WS_OPCODE_TEXT, TRUE, "{\"type\":\"\xc3\x28\"}", 12);
		g_assert_cmpuint(raw_expect_close(raw, NULL), ==, HERALD_WS_CLOSE_BAD_DATA);
		raw_send(raw2, HERALD_WS_OPCODE_CONTINUATION, TRUE, "x", 1);
		g_assert_cmpuint(raw_expect_close(raw2, NULL), ==, HERALD_WS_CLOSE_PROTOCOL_ERROR);
	}
	{
		g_autoptr(JsonNode) stats = get_stats(daemon);
		g_assert_cmpuint(stats_get(stats, "closes_total.too_big"), ==, 3);
		/* unmasked, RSV1 twice, UTF-8, continuation */
		g_assert_cmpuint(stats_get(stats, "closes_total.protocol_error"), ==, 5);
		g_assert_cmpuint(stats_get(stats, "closes_total.client"), >=, 1);
	}
	stop_daemon(daemon);
}

/* libsoup's own client, with its permessage-deflate support switched on,
 * offers the extension; the server declines it and a message over
 * max-message-bytes still closes with 1009 */
static void
plain_deflate_offered_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("max-message-bytes=1024");
	g_autofree gchar *token = make_token("1", "SELLER", 3600);
	g_autofree gchar *url = ws_url(daemon, token);
	g_autoptr(WsClient) client = ws_client_connect_full(url, TRUE);
	g_autoptr(JsonNode) connected = NULL;
	g_autoptr(JsonNode) pong = NULL;
	g_autofree gchar *big = NULL;
	const gchar *offered;

	g_assert_no_error(client->error);
	offered = soup_message_headers_get_one(soup_message_get_request_headers(client->msg),
					       "Sec-WebSocket-Extensions");
	g_assert_nonnull(offered);
	g_assert_nonnull(strstr(offered, "permessage-deflate"));
	g_assert_null(soup_message_headers_get_one(soup_message_get_response_headers(client->msg),
						   "Sec-WebSocket-Extensions"));
	g_assert_null(soup_websocket_connection_get_extensions(client->ws));
	connected = ws_client_expect(client, "connected");
	ws_client_send(client, "{\"type\":\"ping\"}");
	pong = ws_client_expect(client, "pong");

	/* a JSON message of 2000 bytes */
	big = g_strdup_printf("{\"type\":\"ping\",\"pad\":\"%0*d\"}", 1976, 0);
	g_assert_cmpuint(strlen(big), ==, 2000);
	ws_client_send(client, big);
	g_assert_true(herald_test_wait_until(ws_client_is_closed, client, WAIT_MS));
	g_assert_cmpuint(client->close_code, ==, HERALD_WS_CLOSE_TOO_BIG);
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

/* frames arrive in any pieces: a byte at a time, and a message larger than the
 * server's 64 KiB read buffer in uneven chunks, fragmented or not */
static void
plain_partial_frames_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("max-message-bytes=300000");
	g_autoptr(RawClient) raw = raw_client_open(daemon, "1", "SELLER");
	g_autoptr(GBytes) ping = herald_ws_frame_new_masked(HERALD_WS_OPCODE_TEXT,
							    TRUE,
							    (const guint8 *)"{\"type\":\"ping\"}",
							    15,
							    0x11223344);
	g_autofree gchar *pad = g_strnfill(200000, 'p');
	g_autofree gchar *big = g_strdup_printf("{\"type\":\"ping\",\"pad\":\"%s\"}", pad);
	g_autoptr(GBytes) big_frame = herald_ws_frame_new_masked(HERALD_WS_OPCODE_TEXT,
								 TRUE,
								 (const guint8 *)big,
								 strlen(big),
								 0x55667788);
	gsize size = 0;
	const guint8 *data = g_bytes_get_data(ping, &size);
	g_autoptr(JsonNode) pong1 = NULL;
	g_autoptr(JsonNode) pong2 = NULL;
	g_autoptr(JsonNode) pong3 = NULL;
	gsize chunk;

	g_socket_set_option(raw->socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
	for (gsize i = 0; i < size; i++)
		raw_write(raw, data + i, 1);
	pong1 = raw_next_json(raw);
	g_assert_cmpstr(herald_test_json_get_string(pong1, "type"), ==, "pong");

	data = g_bytes_get_data(big_frame, &size);
	for (gsize off = 0; off < size; off += chunk) {
		chunk = MIN(size - off, 7 + off % 40000);
		raw_write(raw, data + off, chunk);
	}
	pong2 = raw_next_json(raw);
	g_assert_cmpstr(herald_test_json_get_string(pong2, "type"), ==, "pong");

	/* the same as 5 fragments, with pings in between */
	{
		gsize len = strlen(big);
		gsize part = len / 5 + 1;
		for (guint i = 0; i < 5; i++) {
			gsize start = i * part;
			gsize n = MIN(part, len - start);
			raw_send(raw,
				 i == 0 ? HERALD_WS_OPCODE_TEXT : HERALD_WS_OPCODE_CONTINUATION,
				 i == 4,
				 big + start,
				 n);
			if (i < 4)
				raw_send(raw, HERALD_WS_OPCODE_PING, TRUE, "x", 1);
		}
		for (guint i = 0; i < 4; i++) {
			g_autoptr(GByteArray) payload = g_byte_array_new();
			guint8 opcode = 0;
			g_assert_true(raw_next(raw, &opcode, payload, NULL));
			g_assert_cmpuint(opcode, ==, HERALD_WS_OPCODE_PONG);
		}
	}
	pong3 = raw_next_json(raw);
	g_assert_cmpstr(herald_test_json_get_string(pong3, "type"), ==, "pong");
	stop_daemon(daemon);
}

/* a message far over the limit: refused from its header while the client is
 * still sending it; the client must still see the close frame 1009, not a
 * reset connection */
static void
plain_oversize_large_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("max-message-bytes=1024");
	g_autofree gchar *token = make_token("1", "SELLER", 3600);
	g_autofree gchar *url = ws_url(daemon, token);
	g_autoptr(WsClient) client = ws_client_connect(url);
	g_autoptr(JsonNode) connected = NULL;
	g_autofree gchar *pad = g_strnfill(8 * 1024 * 1024, 'p');
	g_autofree gchar *big = g_strdup_printf("{\"type\":\"ping\",\"pad\":\"%s\"}", pad);
	g_autoptr(JsonNode) stats = NULL;

	g_assert_no_error(client->error);
	connected = ws_client_expect(client, "connected");
	ws_client_send(client, big);
	g_assert_true(herald_test_wait_until(ws_client_is_closed, client, 30000));
	g_assert_cmpuint(client->close_code, ==, HERALD_WS_CLOSE_TOO_BIG);

	/* a client that writes all of it before reading anything */
	{
		g_autoptr(RawClient) raw = raw_client_open(daemon, "2", "SELLER");
		g_autoptr(GBytes) frame = herald_ws_frame_new_masked(HERALD_WS_OPCODE_TEXT,
								     TRUE,
								     (const guint8 *)big,
								     strlen(big),
								     0x01020304);
		GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(raw->conn));
		g_autoptr(GError) error = NULL;
		gsize written = 0;
		g_output_stream_write_all(out,
					  g_bytes_get_data(frame, NULL),
					  g_bytes_get_size(frame),
					  &written,
					  NULL,
					  &error);
		g_test_message("wrote %" G_GSIZE_FORMAT " bytes: %s",
			       written,
			       error != NULL ? error->message : "no error");
		g_assert_no_error(error);
		g_assert_cmpuint(raw_expect_close(raw, NULL), ==, HERALD_WS_CLOSE_TOO_BIG);
	}
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "closes_total.too_big"), ==, 2);
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
	/* the burst is answered, nothing after the limit hit */
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

	/* per user, then in total; each with a JSON body */
	g_assert_cmpuint(a3->status, ==, 503);
	g_assert_cmpuint(b2->status, ==, 503);
	{
		g_autoptr(JsonNode) body_a = raw_error_body(a3);
		g_autoptr(JsonNode) body_b = raw_error_body(b2);
		g_assert_cmpstr(herald_test_json_get_string(body_a, "error"), ==, "server_full");
		g_assert_cmpstr(herald_test_json_get_string(body_a, "message"),
				==,
				"too many connections for this user");
		g_assert_cmpstr(herald_test_json_get_string(body_b, "error"), ==, "server_full");
		g_assert_cmpstr(herald_test_json_get_string(body_b, "message"),
				==,
				"too many connections; try again later");
	}
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
	/* a token that expired a second ago is still inside the 4 s leeway: it
	 * connects, and is closed at exp + leeway unless refreshed */
	g_autoptr(HeraldTestDaemon) daemon = start_daemon_full(NULL, 4);
	g_autofree gchar *short_token = make_token("9", "SELLER", -1);
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
	{
		g_autoptr(JsonNode) stats = get_stats(daemon);
		g_assert_cmpuint(stats_get(stats, "closes_total.token_expired"), ==, 1);
	}
	stop_daemon(daemon);
}

/* `exp` is the issuer's number: one far in the future (up to the largest
 * 64-bit integer) is "never" for the connection, not an overflow */
static void
plain_far_expiry_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *token = herald_test_make_token(
	    HERALD_TEST_SECRET,
	    "{\"sub\":\"1\",\"role\":\"SELLER\",\"exp\":9223372036854775807}",
	    0);
	g_autofree gchar *refresh_token = herald_test_make_token(
	    HERALD_TEST_SECRET,
	    "{\"sub\":\"1\",\"role\":\"SELLER\",\"exp\":9223372036854775000}",
	    0);
	g_autofree gchar *path = g_strdup_printf("/ws?token=%s", token);
	g_autofree gchar *refresh =
	    g_strdup_printf("{\"type\":\"refresh\",\"token\":\"%s\"}", refresh_token);
	g_autoptr(RawClient) raw = raw_client_connect(daemon, path, NULL);
	g_autoptr(JsonNode) connected = NULL;
	g_autoptr(JsonNode) refreshed = NULL;
	g_autoptr(JsonNode) pong = NULL;

	g_assert_cmpuint(raw->status, ==, 101);
	connected = raw_next_json(raw);
	g_assert_cmpstr(herald_test_json_get_string(connected, "type"), ==, "connected");
	raw_send_text(raw, refresh);
	refreshed = raw_next_json(raw);
	g_assert_cmpstr(herald_test_json_get_string(refreshed, "type"), ==, "refreshed");
	/* still open after a sweep or two */
	raw_send_text(raw, "{\"type\":\"ping\"}");
	pong = raw_next_json(raw);
	g_assert_cmpstr(herald_test_json_get_string(pong, "type"), ==, "pong");
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
	{
		g_autoptr(JsonNode) stats = get_stats(daemon);
		g_assert_cmpuint(stats_get(stats, "closes_total.unauthorized"), ==, 1);
	}
	stop_daemon(daemon);
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* the strings of the array @object.@member, sorted, joined by ',' */
static gchar *
json_strings_sorted(JsonNode *node, const gchar *object, const gchar *member)
{
	JsonObject *obj = json_node_get_object(node);
	JsonArray *array;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);

	if (object != NULL)
		obj = json_object_get_object_member(obj, object);
	g_assert_nonnull(obj);
	array = json_object_get_array_member(obj, member);
	g_assert_nonnull(array);
	for (guint i = 0; i < json_array_get_length(array); i++)
		g_ptr_array_add(names, g_strdup(json_array_get_string_element(array, i)));
	g_ptr_array_sort(names, compare_names);
	g_ptr_array_add(names, NULL);
	return g_strjoinv(",", (gchar **)names->pdata);
}

/* claim filters as stats-filter sends them (seller_id), for the refresh tests */
#define REFRESH_CONFIG                                                                             \
	"[route seller-stats]\nchannels=seller.stats\nfilters=seller_id={seller_id}\nevent={type}\n"

static gchar *
refresh_message(const gchar *claims, gint64 exp_offset_s)
{
	g_autofree gchar *token = herald_test_make_token(HERALD_TEST_SECRET, claims, exp_offset_s);
	return g_strdup_printf("{\"type\":\"refresh\",\"token\":\"%s\"}", token);
}

/* refresh re-authorizes: ADMIN in admin + user_999 refreshed as CLIENT leaves
 * both (and is told so), CLIENT → ADMIN joins admin, a SELLER's new seller_id
 * is the one its claim filters see, another user's token is refused */
static void
plain_refresh_reauthorize_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(REFRESH_CONFIG);
	g_autofree gchar *token = make_token("7", "ADMIN", 3600);
	g_autofree gchar *url = ws_url(daemon, token);
	g_autoptr(WsClient) client = ws_client_connect(url);
	g_autofree gchar *as_client = refresh_message("{\"sub\":\"7\",\"role\":\"CLIENT\"}", 3600);
	g_autofree gchar *as_admin = refresh_message("{\"sub\":\"7\",\"role\":\"ADMIN\"}", 3600);
	g_autofree gchar *other = refresh_message("{\"sub\":\"8\",\"role\":\"ADMIN\"}", 3600);
	g_autofree gchar *expired = refresh_message("{\"sub\":\"7\",\"role\":\"ADMIN\"}", -3600);
	g_autofree gchar *seller_token = herald_test_make_token(
	    HERALD_TEST_SECRET, "{\"sub\":\"20\",\"role\":\"SELLER\",\"seller_id\":\"100\"}", 3600);
	g_autofree gchar *seller_url = ws_url(daemon, seller_token);
	g_autoptr(WsClient) seller = ws_client_connect(seller_url);
	g_autofree gchar *seller_200 = refresh_message(
	    "{\"sub\":\"20\",\"role\":\"SELLER\",\"seller_id\":\"200\"}", 3600);
	g_autofree gchar *hs512 = make_token_alg(JWT_ALG_HS512, "7");
	g_autofree gchar *hs512_msg =
	    g_strdup_printf("{\"type\":\"refresh\",\"token\":\"%s\"}", hs512);
	g_autoptr(JsonNode) connected = NULL;
	g_autoptr(JsonNode) seller_connected = NULL;
	g_autoptr(JsonNode) subscribed = NULL;
	g_autoptr(JsonNode) refreshed = NULL;
	g_autoptr(JsonNode) refreshed2 = NULL;
	g_autoptr(JsonNode) refused = NULL;
	g_autoptr(JsonNode) refused_expired = NULL;
	g_autoptr(JsonNode) probe = NULL;
	g_autoptr(JsonNode) probe2 = NULL;
	g_autoptr(JsonNode) stats = NULL;
	g_autoptr(JsonNode) seller_refreshed = NULL;
	g_autoptr(JsonNode) seller_event = NULL;
	g_autoptr(JsonNode) invalid = NULL;
	g_autofree gchar *left = NULL;
	g_autofree gchar *rooms = NULL;

	g_assert_no_error(client->error);
	g_assert_no_error(seller->error);
	connected = ws_client_expect(client, "connected");
	seller_connected = ws_client_expect(seller, "connected");
	ws_client_send(client, "{\"type\":\"subscribe\",\"room\":\"user_999\"}");
	subscribed = ws_client_expect(client, "subscribed");

	/* ADMIN → CLIENT: admin and user_999 are left, and the client is told */
	ws_client_send(client, as_client);
	refreshed = ws_client_expect(client, "refreshed");
	g_assert_cmpstr(herald_test_json_get_string(refreshed, "payload.role"), ==, "CLIENT");
	g_assert_cmpint(herald_test_json_get_int(refreshed, "payload.expires"), >, 0);
	left = json_strings_sorted(refreshed, "payload", "left");
	g_assert_cmpstr(left, ==, "admin,user_999");
	rooms = json_strings_sorted(refreshed, "payload", "rooms");
	g_assert_cmpstr(rooms, ==, "client,user_7");
	g_assert_cmpint(publish(daemon, "ws:room:admin", "{\"type\":\"for_admins\"}"), ==, 0);
	g_assert_cmpint(publish(daemon, "ws:user:999", "{\"type\":\"for_999\"}"), ==, 0);
	g_assert_cmpint(publish(daemon, "ws:room:client", "{\"type\":\"for_clients\"}"), ==, 1);
	/* the next message is the client one: nothing of admin or user_999 */
	probe = ws_client_expect(client, "for_clients");
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "admins_connected"), ==, 0);
	g_assert_cmpuint(stats_get(stats, "clients_connected"), ==, 1);
	g_assert_cmpuint(stats_get(stats, "connections_by_role.CLIENT"), ==, 1);

	/* another user's token and an expired one: refused, nothing changes */
	ws_client_send(client, other);
	refused = ws_client_expect(client, "error");
	g_assert_cmpstr(herald_test_json_get_string(refused, "payload.code"), ==, "forbidden");
	ws_client_send(client, expired);
	refused_expired = ws_client_expect(client, "error");
	g_assert_cmpstr(herald_test_json_get_string(refused_expired, "payload.code"),
			==,
			"token_expired");
	g_assert_cmpint(publish(daemon, "ws:room:admin", "{\"type\":\"for_admins\"}"), ==, 0);

	/* CLIENT → ADMIN with a valid token of the same user: joins admin */
	ws_client_send(client, as_admin);
	refreshed2 = ws_client_expect(client, "refreshed");
	g_assert_cmpstr(herald_test_json_get_string(refreshed2, "payload.role"), ==, "ADMIN");
	g_clear_pointer(&left, g_free);
	left = json_strings_sorted(refreshed2, "payload", "left");
	g_assert_cmpstr(left, ==, "client");
	g_assert_cmpint(publish(daemon, "ws:room:client", "{\"type\":\"for_clients\"}"), ==, 0);
	g_assert_cmpint(publish(daemon, "ws:room:admin", "{\"type\":\"for_admins\"}"), ==, 1);
	probe2 = ws_client_expect(client, "for_admins");

	/* SELLER: the claim filter sees the refreshed seller_id */
	ws_client_send(seller, seller_200);
	seller_refreshed = ws_client_expect(seller, "refreshed");
	g_assert_cmpint(publish(daemon,
				"seller.stats",
				"{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"100\"}"),
			==,
			0);
	g_assert_cmpint(publish(daemon,
				"seller.stats",
				"{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"200\"}"),
			==,
			1);
	seller_event = ws_client_expect(seller, "SELLER_STATS_UPDATED");
	g_assert_cmpstr(herald_test_json_get_string(seller_event, "seller_id"), ==, "200");

	/* a token of another algorithm: unauthorized and 4401, as before */
	ws_client_send(client, hs512_msg);
	invalid = ws_client_expect(client, "error");
	g_assert_cmpstr(herald_test_json_get_string(invalid, "payload.code"), ==, "unauthorized");
	g_assert_true(herald_test_wait_until(ws_client_is_closed, client, WAIT_MS));
	g_assert_cmpuint(client->close_code, ==, HERALD_WS_CLOSE_UNAUTHORIZED);
	g_clear_pointer(&stats, json_node_unref);
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "closes_total.unauthorized"), ==, 1);
	/* accepted: CLIENT, ADMIN, the seller; refused: another user, expired,
	 * HS512; left: admin, user_999, client */
	g_assert_cmpuint(stats_get(stats, "refreshes_total"), ==, 3);
	g_assert_cmpuint(stats_get(stats, "refreshes_refused_total"), ==, 3);
	g_assert_cmpuint(stats_get(stats, "refresh_rooms_left_total"), ==, 3);
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
		    g_strdup_printf("%s\n[ws-rooms]\nmax-connections=2\nmax-message-bytes=128\n"
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

	/* max-message-bytes applies to connections made after the reload */
	{
		g_autofree gchar *pad = g_strnfill(200, 'p');
		g_autofree gchar *msg = g_strdup_printf("{\"type\":\"ping\",\"pad\":\"%s\"}", pad);
		g_autoptr(JsonNode) pong = NULL;
		raw_send_text(before, msg);
		pong = raw_next_json(before);
		g_assert_cmpstr(herald_test_json_get_string(pong, "type"), ==, "pong");
		raw_send_text(after, msg);
		g_assert_cmpuint(raw_expect_close(after, NULL), ==, HERALD_WS_CLOSE_TOO_BIG);
	}
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
	/* the close frame waits behind the unread bytes until the slow client
	 * reads: a long close-timeout-ms keeps the socket until then. The
	 * kernel's autotuned socket buffer: the fast libsoup client shares this
	 * process's main loop with the publisher, and 40 events of 256 KiB are
	 * more than a 64 KiB queue plus a bounded (auto: 16 KiB) socket buffer
	 * absorb meanwhile; slow-reader.js tests the bounded default */
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(
	    "outgoing-buffer-bytes=65536\nclose-timeout-ms=120000\nsocket-send-buffer-bytes=0");
	g_autofree gchar *slow_token = make_token("slow", "SELLER", 3600);
	g_autofree gchar *slow_path = g_strdup_printf("/ws?token=%s", slow_token);
	g_autoptr(RawClient) slow = raw_client_connect_full(daemon, slow_path, NULL, 65536);
	g_autoptr(JsonNode) slow_connected = NULL;
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

	g_assert_cmpuint(slow->status, ==, 101);
	slow_connected = raw_next_json(slow);
	connected = ws_client_expect(fast, "connected");
	ws_client_send(fast, "{\"type\":\"subscribe\",\"room\":\"orders\"}");
	subscribed = ws_client_expect(fast, "subscribed");
	raw_send_text(slow, "{\"type\":\"subscribe\",\"room\":\"orders\"}");
	slow_subscribed = raw_next_json(slow);
	g_assert_cmpstr(herald_test_json_get_string(slow_subscribed, "type"), ==, "subscribed");

	/* 10 MiB for a client that reads nothing: its socket fills, then its
	 * queue. Paced by the fast client, which shares this process's main loop
	 * with the publisher: on a loaded machine a burst would make it a slow
	 * consumer too (it is not what this test is about) */
	for (guint i = 0; i < 40; i++) {
		publish_async(daemon, "ws:room:orders", payload);
		helper.want = i + 1;
		g_assert_true(herald_test_wait_until(has_n_messages, &helper, 60000));
	}
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
	json_node_unref(stats);
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "drops_slow_consumer_total"), ==, 1);
	g_assert_cmpuint(stats_get(stats, "delivered_total"), <, 80);
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

/* a body over max-payload is refused by the host while it streams in, with
 * its own JSON error; the Engine.IO session is not touched */
static void
eio_assert_host_too_large(guint status, gchar **body)
{
	g_autoptr(JsonNode) node = NULL;
	g_assert_cmpuint(status, ==, 413);
	g_assert_nonnull(*body);
	node = herald_test_parse_json(*body);
	g_assert_cmpstr(herald_test_json_get_string(node, "error"), ==, "too_large");
	g_assert_nonnull(herald_test_json_get_string(node, "message"));
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
		eio_assert_host_too_large(eio_http(daemon, "POST", query, big, &out), &out);
		g_assert_cmpuint(eio_http(daemon, "POST", query, "6", &out2), ==, 200);
		g_assert_cmpstr(out2, ==, "ok");
		eio_assert_error(eio_http(daemon, "POST", query, "abc", &out3), &out3, 400, 3);
		/* the session is closed: the next poll gets the close packet, any
		 * later request 400 */
		g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &out4), ==, 200);
		g_assert_cmpstr(out4, ==, "1");
		g_free(out4);
		out4 = NULL;
		eio_assert_error(eio_http(daemon, "GET", query, NULL, &out4), &out4, 400, 1);
	}
	{
		/* binary over polling is refused and closes the session */
		g_autofree gchar *sid2 = eio_handshake(daemon);
		g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid2);
		g_autofree gchar *out = NULL;
		g_autofree gchar *out2 = NULL;
		eio_assert_error(eio_http(daemon, "POST", query, "bAQIDBA==", &out), &out, 400, 3);
		g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &out2), ==, 200);
		g_assert_cmpstr(out2, ==, "1");
		g_free(out2);
		out2 = NULL;
		eio_assert_error(eio_http(daemon, "GET", query, NULL, &out2), &out2, 400, 1);
	}
	{
		/* Engine.IO v4 never sends binary bodies */
		g_autofree gchar *sid3 = eio_handshake(daemon);
		g_autofree gchar *url = g_strdup_printf("%s/socket.io/?EIO=4&transport=polling&sid=%s",
							daemon->base_url,
							sid3);
		g_autofree gchar *out = NULL;
		eio_assert_error(herald_test_http("POST",
						  url,
						  NULL,
						  "application/octet-stream",
						  "40",
						  2,
						  &out,
						  NULL),
				 &out,
				 400,
				 3);
	}
	{
		g_autoptr(JsonNode) stats = get_stats(daemon);
		g_assert_cmpuint(stats_get(stats, "rejected_total.protocol_version"), ==, 2);
		g_assert_cmpuint(stats_get(stats, "rejected_total.transport"), ==, 2);
		/* sid=nope is unknown; the two closed sessions' late requests are
		 * counted apart, as ended sessions */
		g_assert_cmpuint(stats_get(stats, "rejected_total.unknown_sid"), ==, 1);
		g_assert_cmpuint(stats_get(stats, "rejected_total.ended_sid"), ==, 2);
		g_assert_cmpuint(stats_get(stats, "closes_total.protocol_error"), ==, 2);
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
	g_autoptr(SoupSession) session2 = soup_session_new();
	g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
	g_autoptr(SoupMessage) msg2 = soup_message_new("GET", url);
	g_auto(GStrv) packets = NULL;
	AsyncGet get = {0};
	AsyncGet get2 = {0};

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

	/* two polls at once: whichever the server holds first ends with `1`
	 * (close), the other is refused with 400 and code 3 */
	soup_session_send_and_read_async(session,
					 msg,
					 G_PRIORITY_DEFAULT,
					 NULL,
					 async_get_cb,
					 &get);
	soup_session_send_and_read_async(session2,
					 msg2,
					 G_PRIORITY_DEFAULT,
					 NULL,
					 async_get_cb,
					 &get2);
	g_assert_true(herald_test_wait_until(async_get_done, &get, WAIT_MS));
	g_assert_true(herald_test_wait_until(async_get_done, &get2, WAIT_MS));
	{
		AsyncGet *held = get.status == 200 ? &get : &get2;
		AsyncGet *refused = get.status == 200 ? &get2 : &get;
		g_assert_cmpuint(held->status, ==, 200);
		g_assert_true(g_str_has_suffix(held->body, "1"));
		overlap = g_strdup(refused->body);
		eio_assert_error(refused->status, &overlap, 400, 3);
	}
	/* the session is gone */
	eio_assert_error(eio_http(daemon, "GET", query, NULL, &after), &after, 400, 1);
	g_free(get.body);
	g_free(get2.body);
	{
		g_autoptr(JsonNode) stats = get_stats(daemon);
		g_assert_cmpuint(stats_get(stats, "closes_total.protocol_error"), ==, 1);
		g_assert_cmpuint(stats_get(stats, "rejected_total.ended_sid"), ==, 1);
		/* absent (-1) or 0 */
		g_assert_cmpint(herald_test_json_get_int(stats,
							 "plugins.ws-rooms.rejected_total.unknown_sid"),
				<=,
				0);
	}
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
	/* the bound is outgoing-buffer-bytes plus one polling response (max-payload) */
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("outgoing-buffer-bytes=65536\nmax-payload=4096");
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

/* the first argument of an ack `43<id>[ARG,…]` */
static JsonNode *
sio_ack_first(const gchar *text)
{
	const gchar *array = strchr(text, '[');
	g_autoptr(JsonNode) node = NULL;
	g_assert_true(g_str_has_prefix(text, "43"));
	g_assert_nonnull(array);
	node = herald_test_parse_json(array);
	g_assert_true(JSON_NODE_HOLDS_ARRAY(node));
	return json_node_copy(json_array_get_element(json_node_get_array(node), 0));
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
	    start_daemon("ping-interval-ms=200\nping-timeout-ms=3000");
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

/* the next text frame that is not a server ping (answered) */
static gchar *
sio_raw_next(RawClient *raw)
{
	for (;;) {
		gchar *text = raw_next_text(raw);
		if (g_strcmp0(text, "2") != 0)
			return text;
		g_free(text);
		raw_send_text(raw, "3");
	}
}

/* refresh re-authorizes Socket.IO sessions too: the ack (or the event
 * `refreshed` without one) tells the rooms left */
static void
sio_raw_refresh_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(REFRESH_CONFIG);
	g_autofree gchar *token = make_token("7", "ADMIN", 3600);
	g_autoptr(RawClient) raw = sio_raw_open(daemon, token);
	g_autofree gchar *client_token =
	    herald_test_make_token(HERALD_TEST_SECRET, "{\"sub\":\"7\",\"role\":\"CLIENT\"}", 3600);
	g_autofree gchar *admin_token =
	    herald_test_make_token(HERALD_TEST_SECRET, "{\"sub\":\"7\",\"role\":\"ADMIN\"}", 3600);
	g_autofree gchar *other_token =
	    herald_test_make_token(HERALD_TEST_SECRET, "{\"sub\":\"8\",\"role\":\"ADMIN\"}", 3600);
	g_autofree gchar *seller_token = herald_test_make_token(
	    HERALD_TEST_SECRET, "{\"sub\":\"20\",\"role\":\"SELLER\",\"seller_id\":\"100\"}", 3600);
	g_autofree gchar *seller_200 = herald_test_make_token(
	    HERALD_TEST_SECRET, "{\"sub\":\"20\",\"role\":\"SELLER\",\"seller_id\":\"200\"}", 3600);
	g_autoptr(RawClient) seller = sio_raw_open(daemon, seller_token);
	g_autofree gchar *send = NULL;
	g_autofree gchar *reply = NULL;
	g_autoptr(JsonNode) ack = NULL;
	g_autofree gchar *left = NULL;
	g_autofree gchar *rooms = NULL;

	raw_send_text(raw, "420[\"subscribe\",{\"room\":\"user_999\"}]");
	reply = sio_raw_next(raw);
	g_assert_cmpstr(reply, ==, "430[{\"ok\":true,\"room\":\"user_999\"}]");

	/* ADMIN → CLIENT with an ack */
	send = g_strdup_printf("421[\"refresh\",{\"token\":\"%s\"}]", client_token);
	raw_send_text(raw, send);
	g_clear_pointer(&reply, g_free);
	reply = sio_raw_next(raw);
	ack = sio_ack_first(reply);
	g_assert_true(g_str_has_prefix(reply, "431["));
	g_assert_true(json_object_get_boolean_member(json_node_get_object(ack), "ok"));
	g_assert_cmpstr(herald_test_json_get_string(ack, "role"), ==, "CLIENT");
	left = json_strings_sorted(ack, NULL, "left");
	g_assert_cmpstr(left, ==, "admin,user_999");
	rooms = json_strings_sorted(ack, NULL, "rooms");
	g_assert_cmpstr(rooms, ==, "client,user_7");
	g_assert_cmpint(publish(daemon, "ws:room:admin", "{\"type\":\"for_admins\"}"), ==, 0);
	g_assert_cmpint(publish(daemon, "ws:user:999", "{\"type\":\"for_999\"}"), ==, 0);
	g_assert_cmpint(publish(daemon, "ws:room:client", "{\"type\":\"for_clients\"}"), ==, 1);
	g_clear_pointer(&reply, g_free);
	reply = sio_raw_next(raw);
	g_assert_true(g_str_has_prefix(reply, "42[\"for_clients\","));

	/* another user's token: refused with the same code as before */
	g_clear_pointer(&send, g_free);
	send = g_strdup_printf("422[\"refresh\",{\"token\":\"%s\"}]", other_token);
	raw_send_text(raw, send);
	g_clear_pointer(&reply, g_free);
	reply = sio_raw_next(raw);
	g_clear_pointer(&ack, json_node_unref);
	ack = sio_ack_first(reply);
	g_assert_false(json_object_get_boolean_member(json_node_get_object(ack), "ok"));
	g_assert_cmpstr(herald_test_json_get_string(ack, "code"), ==, "forbidden");

	/* CLIENT → ADMIN without an ack: the event `refreshed` */
	g_clear_pointer(&send, g_free);
	send = g_strdup_printf("42[\"refresh\",{\"token\":\"%s\"}]", admin_token);
	raw_send_text(raw, send);
	g_clear_pointer(&reply, g_free);
	reply = sio_raw_next(raw);
	g_assert_true(g_str_has_prefix(reply, "42[\"refreshed\",{"));
	g_assert_nonnull(strstr(reply, "\"role\":\"ADMIN\""));
	g_assert_nonnull(strstr(reply, "\"left\":[\"client\"]"));
	g_assert_cmpint(publish(daemon, "ws:room:admin", "{\"type\":\"for_admins\"}"), ==, 1);
	g_clear_pointer(&reply, g_free);
	reply = sio_raw_next(raw);
	g_assert_true(g_str_has_prefix(reply, "42[\"for_admins\","));

	/* SELLER: the claim filter sees the new seller_id */
	g_clear_pointer(&send, g_free);
	send = g_strdup_printf("423[\"refresh\",{\"token\":\"%s\"}]", seller_200);
	raw_send_text(seller, send);
	g_clear_pointer(&reply, g_free);
	reply = sio_raw_next(seller);
	g_assert_true(g_str_has_prefix(reply, "433[{\"ok\":true,"));
	g_assert_cmpint(publish(daemon,
				"seller.stats",
				"{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"100\"}"),
			==,
			0);
	g_assert_cmpint(publish(daemon,
				"seller.stats",
				"{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"200\"}"),
			==,
			1);
	g_clear_pointer(&reply, g_free);
	reply = sio_raw_next(seller);
	g_assert_true(g_str_has_prefix(reply, "42[\"SELLER_STATS_UPDATED\","));
	g_assert_nonnull(strstr(reply, "\"seller_id\":\"200\""));
	{
		g_autoptr(JsonNode) stats = get_stats(daemon);
		g_assert_cmpuint(stats_get(stats, "refreshes_total"), ==, 3);
		g_assert_cmpuint(stats_get(stats, "refreshes_refused_total"), ==, 1);
		g_assert_cmpuint(stats_get(stats, "refresh_rooms_left_total"), ==, 3);
	}
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
		/* refused requests are answered through the ack, the session stays */
		{
			g_autofree gchar *no_room = NULL;
			g_autofree gchar *bad_room = NULL;
			g_autofree gchar *unknown = NULL;
			g_autoptr(JsonNode) n1 = NULL;
			g_autoptr(JsonNode) n2 = NULL;
			g_autoptr(JsonNode) n3 = NULL;
			raw_send_text(raw, "4213[\"subscribe\"]");
			no_room = raw_next_text(raw);
			g_assert_true(g_str_has_prefix(no_room, "4313[{\"ok\":false"));
			n1 = sio_ack_first(no_room);
			g_assert_cmpstr(herald_test_json_get_string(n1, "code"), ==, "invalid_argument");
			raw_send_text(raw, "4214[\"subscribe\",{\"room\":\"a\\u0001b\"}]");
			bad_room = raw_next_text(raw);
			g_assert_true(g_str_has_prefix(bad_room, "4314[{\"ok\":false"));
			n2 = sio_ack_first(bad_room);
			g_assert_cmpstr(herald_test_json_get_string(n2, "code"), ==, "invalid_argument");
			raw_send_text(raw, "4215[\"dance\"]");
			unknown = raw_next_text(raw);
			g_assert_true(g_str_has_prefix(unknown, "4315[{\"ok\":false"));
			n3 = sio_ack_first(unknown);
			g_assert_cmpstr(herald_test_json_get_string(n3, "code"), ==, "not_found");
		}
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
	/* whether it reaches the server before or after the probe, it gets `6` */
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

/* SIGTERM: every client gets a close frame 1001 (Socket.IO first `41`), and
 * heraldd exits 0 (no leak) once they are out */
/* ------------------------------------------- hostile Engine.IO clients */

/* VmRSS of heraldd in KiB */
static guint64
daemon_rss_kib(HeraldTestDaemon *daemon)
{
	g_autofree gchar *path =
	    g_strdup_printf("/proc/%s/status", g_subprocess_get_identifier(daemon->process));
	g_autofree gchar *contents = NULL;
	const gchar *line;
	g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
	line = strstr(contents, "VmRSS:");
	g_assert_nonnull(line);
	return g_ascii_strtoull(line + strlen("VmRSS:"), NULL, 10);
}

/* a polling payload: @n copies of @packet joined by \x1e */
static gchar *
eio_payload(const gchar *packet, guint n)
{
	GString *out = g_string_new(NULL);
	for (guint i = 0; i < n; i++) {
		if (i > 0)
			g_string_append_c(out, '\x1e');
		g_string_append(out, packet);
	}
	return g_string_free(out, FALSE);
}

/* the session is closed: its poll gets `1` (or, gone already, code 1), any
 * later request 400 "Session ID unknown" */
static void
eio_assert_session_closed(HeraldTestDaemon *daemon, const gchar *query)
{
	g_autofree gchar *out = NULL;
	g_autofree gchar *out2 = NULL;
	guint status = eio_http(daemon, "GET", query, NULL, &out);
	if (status == 200)
		g_assert_true(g_str_has_suffix(out, "1"));
	else
		eio_assert_error(status, &out, 400, 1);
	eio_assert_error(eio_http(daemon, "GET", query, NULL, &out2), &out2, 400, 1);
}

/* max-packets-per-payload, one pong at most, and what 500,000 pings cost */
static void
eio_payload_packets_func(void)
{
	/* pings within the rate limit here: the limit has its own test */
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("max-packets-per-payload=100\nrate-limit=1000\nrate-burst=1000");
	g_autoptr(JsonNode) stats = NULL;

	{
		/* exactly 100 packets pass, 101 end the session */
		g_autofree gchar *sid = eio_handshake(daemon);
		g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
		g_autofree gchar *hundred = eio_payload("6", 100);
		g_autofree gchar *more = eio_payload("6", 101);
		g_autofree gchar *out = NULL;
		g_autofree gchar *out2 = NULL;
		g_assert_cmpuint(eio_http(daemon, "POST", query, hundred, &out), ==, 200);
		g_assert_cmpstr(out, ==, "ok");
		eio_assert_error(eio_http(daemon, "POST", query, more, &out2), &out2, 400, 3);
		eio_assert_session_closed(daemon, query);
	}
	{
		/* 500,000 pings in one POST (999,999 bytes, under max-payload):
		 * refused before any is split or answered */
		g_autofree gchar *sid = eio_handshake(daemon);
		g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
		g_autofree gchar *pings = eio_payload("2", 500000);
		g_autofree gchar *out = NULL;
		guint64 before, after;

		g_assert_cmpuint(strlen(pings), ==, 999999);
		before = daemon_rss_kib(daemon);
		eio_assert_error(eio_http(daemon, "POST", query, pings, &out), &out, 400, 3);
		after = daemon_rss_kib(daemon);
		g_test_message("RSS before %" G_GUINT64_FORMAT " KiB, after %" G_GUINT64_FORMAT
			       " KiB",
			       before,
			       after);
		/* the body itself is buffered (1 MB, twice); 500,000 pongs were
		 * 240 MiB */
		g_assert_cmpuint(after, <, before + 8 * 1024);
		eio_assert_session_closed(daemon, query);
	}
	{
		/* 50 pings queue one pong; the session goes on */
		g_autofree gchar *sid = eio_handshake(daemon);
		g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
		g_autofree gchar *pings = eio_payload("2", 50);
		g_autofree gchar *out = NULL;
		g_autofree gchar *out2 = NULL;
		g_autofree gchar *out3 = NULL;
		g_assert_cmpuint(eio_http(daemon, "POST", query, pings, &out), ==, 200);
		g_assert_cmpstr(out, ==, "ok");
		g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &out2), ==, 200);
		g_assert_cmpstr(out2, ==, "3");
		/* a later ping gets its pong again */
		g_free(out);
		out = NULL;
		g_assert_cmpuint(eio_http(daemon, "POST", query, "2probe", &out), ==, 200);
		g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &out3), ==, 200);
		g_assert_cmpstr(out3, ==, "3probe");
	}
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "eio_payload_too_many_packets_total"), ==, 2);
	g_assert_cmpuint(stats_get(stats, "closes_total.protocol_error"), ==, 2);
	stop_daemon(daemon);
}

/* pings count toward rate-limit like messages, on both transports */
static void
eio_ping_rate_limit_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("rate-limit=5\nrate-burst=5");
	g_autofree gchar *token = make_token("1", "ADMIN", 3600);
	g_autoptr(JsonNode) stats = NULL;

	{
		g_autofree gchar *sid = eio_handshake(daemon);
		g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
		g_autofree gchar *pings = eio_payload("2", 10);
		g_autofree gchar *out = NULL;
		g_assert_cmpuint(eio_http(daemon, "POST", query, pings, &out), ==, 200);
		eio_assert_session_closed(daemon, query);
	}
	{
		g_autoptr(RawClient) raw = sio_raw_open(daemon, token);
		g_autoptr(GByteArray) payload = g_byte_array_new();
		g_autofree gchar *last = NULL;
		guint8 opcode = 0;
		guint16 code = 0;
		guint n_pongs = 0;
		for (guint i = 0; i < 30; i++)
			raw_send_text(raw, "2");
		while (raw_next(raw, &opcode, payload, &code) &&
		       opcode != HERALD_WS_OPCODE_CLOSE) {
			g_free(last);
			last = g_strndup((const gchar *)payload->data, payload->len);
			if (g_strcmp0(last, "3") == 0)
				n_pongs++;
		}
		g_assert_cmpuint(opcode, ==, HERALD_WS_OPCODE_CLOSE);
		g_assert_cmpuint(code, ==, HERALD_WS_CLOSE_RATE_LIMITED);
		g_assert_cmpstr(last, ==, "41");
		g_assert_cmpuint(n_pongs, <=, 5);
	}
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "closes_total.rate_limited"), ==, 2);
	stop_daemon(daemon);
}

/* a 10 MB POST over max-payload gets the host's 413 (Content-Length over
 * the route's limit: nothing of it is buffered) and the session survives.
 * With the host answering such a request at once and closing (see
 * [host] in the README), the client sees the answer while it is still
 * sending; the loop stops there */
static void
eio_post_too_large_streaming_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("max-payload=65536");
	g_autofree gchar *sid = eio_handshake(daemon);
	g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
	g_autoptr(GSocket) socket = raw_socket_from(daemon, NULL, 0);
	gint sndbuf = 65536;
	g_autofree gchar *head =
	    g_strdup_printf("POST /socket.io/?%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			    "Content-Type: text/plain;charset=UTF-8\r\n"
			    "Content-Length: 10485760\r\n\r\n",
			    query);
	g_autofree gchar *chunk = g_strnfill(65536, '6');
	g_autoptr(GString) reply = g_string_new(NULL);
	gsize sent = 0;
	gboolean answered = FALSE;
	gint fd = g_socket_get_fd(socket);
	g_autofree gchar *out = NULL;

	/* a small send buffer, and 16 KiB at a time with a look for the answer
	 * in between: the loopback's buffers alone could take most of 10 MB */
	g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), ==, 0);
	g_assert_cmpint(send(fd, head, strlen(head), MSG_NOSIGNAL), ==, (gssize)strlen(head));
	/* bounded: at most the whole body */
	while (sent < 10485760) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		gssize n;
		if (poll(&pfd, 1, 5) == 1) {
			answered = TRUE;
			break;
		}
		n = send(fd, chunk, MIN(16384, 10485760 - sent), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			/* reset by the server: it stopped reading */
			answered = TRUE;
			break;
		}
		sent += (gsize)n;
	}
	g_test_message("sent %" G_GSIZE_FORMAT " bytes of 10485760 before the answer (%s)",
		       sent,
		       answered ? "early" : "after the body");
	g_assert_cmpuint(sent, <=, 10485760);
	/* the answer, when a reset did not swallow it, is the host's 413 */
	for (;;) {
		gchar buf[4096];
		gssize n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		g_string_append_len(reply, buf, n);
	}
	if (reply->len > 0) {
		g_assert_true(g_str_has_prefix(reply->str, "HTTP/1.1 413"));
		g_assert_nonnull(strstr(reply->str, "\"too_large\""));
	}
	{
		/* refused by the host on its Content-Length (counted there),
		 * never handed to Engine.IO */
		g_autoptr(JsonNode) stats = get_stats(daemon);
		g_assert_cmpint(herald_test_json_get_int(stats, "http_too_large_total"), ==, 1);
	}
	/* the session survives a refused POST, as with the reference server */
	g_assert_cmpuint(eio_http(daemon, "POST", query, "6", &out), ==, 200);
	g_assert_cmpstr(out, ==, "ok");
	stop_daemon(daemon);
}

/* one polling request from the loopback address @local; Connection: close */
static guint
eio_http_from(HeraldTestDaemon *daemon,
	      const gchar *local,
	      const gchar *method,
	      const gchar *query,
	      const gchar *body,
	      gchar **out)
{
	g_autoptr(GSocket) socket = raw_socket_from(daemon, local, 0);
	g_autofree gchar *req =
	    g_strdup_printf("%s /socket.io/?%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			    "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %zu\r\n"
			    "Connection: close\r\n\r\n%s",
			    method,
			    query,
			    body != NULL ? strlen(body) : 0,
			    body != NULL ? body : "");
	g_autoptr(GString) in = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	const gchar *end;

	g_assert_cmpint(g_socket_send(socket, req, strlen(req), NULL, &error), ==, (gssize)strlen(req));
	for (;;) {
		gchar buf[4096];
		gssize n = g_socket_receive(socket, buf, sizeof(buf), NULL, NULL);
		if (n <= 0)
			break;
		g_string_append_len(in, buf, n);
	}
	g_assert_cmpuint(in->len, >, 12);
	end = strstr(in->str, "\r\n\r\n");
	g_assert_nonnull(end);
	*out = g_strdup(end + 4);
	return (guint)g_ascii_strtoull(in->str + 9, NULL, 10);
}

static gchar *
eio_handshake_from(HeraldTestDaemon *daemon, const gchar *local)
{
	g_autofree gchar *out = NULL;
	g_autoptr(JsonNode) open = NULL;
	g_assert_cmpuint(eio_http_from(daemon, local, "GET", "EIO=4&transport=polling", NULL, &out),
			 ==,
			 200);
	g_assert_true(g_str_has_prefix(out, "0{"));
	open = herald_test_parse_json(out + 1);
	return g_strdup(herald_test_json_get_string(open, "sid"));
}

static gboolean
eio_session_alive(HeraldTestDaemon *daemon, const gchar *sid)
{
	g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
	g_autofree gchar *out = NULL;
	guint status = eio_http(daemon, "POST", query, "6", &out);
	if (status == 200)
		return TRUE;
	eio_assert_error(status, &out, 400, 1);
	return FALSE;
}

/* sessions without CONNECT: the oldest makes room, per address and in total,
 * and they are not counted in max-connections */
static void
eio_pending_budget_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("max-pending=5\nmax-pending-per-address=3\nmax-connections=1");
	g_autofree gchar *token = make_token("7", "ADMIN", 3600);
	g_autofree gchar *connect = g_strdup_printf("40{\"token\":\"%s\"}", token);
	gchar *a[4];
	gchar *b[3];
	g_autoptr(JsonNode) stats = NULL;
	g_autoptr(JsonNode) health = NULL;

	/* 127.0.0.1: the fourth evicts the first of that address */
	for (guint i = 0; i < 4; i++)
		a[i] = eio_handshake_from(daemon, "127.0.0.1");
	g_assert_false(eio_session_alive(daemon, a[0]));
	for (guint i = 1; i < 4; i++)
		g_assert_true(eio_session_alive(daemon, a[i]));
	/* 127.0.0.2: two fit (5 in total), the third evicts the oldest of all */
	for (guint i = 0; i < 3; i++)
		b[i] = eio_handshake_from(daemon, "127.0.0.2");
	g_assert_false(eio_session_alive(daemon, a[1]));
	g_assert_true(eio_session_alive(daemon, a[2]));
	for (guint i = 0; i < 3; i++)
		g_assert_true(eio_session_alive(daemon, b[i]));
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "pending_sessions"), ==, 5);
	g_assert_cmpuint(stats_get(stats, "pending_evicted_total"), ==, 2);
	g_assert_cmpuint(stats_get(stats, "closes_total.server_full"), ==, 2);
	{
		/* /health shows them */
		g_autofree gchar *url = g_strdup_printf("%s/health", daemon->base_url);
		g_autofree gchar *out = NULL;
		g_assert_cmpuint(herald_test_http("GET", url, NULL, NULL, NULL, 0, &out, NULL), ==, 200);
		health = herald_test_parse_json(out);
		g_assert_cmpint(herald_test_json_get_int(health, "pending"), ==, 5);
	}
	{
		/* a CONNECT with a valid token: a user, no longer pending, and
		 * max-connections=1 is not filled by the five pending sessions */
		g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", a[3]);
		g_autofree gchar *out = NULL;
		g_autofree gchar *out2 = NULL;
		g_assert_cmpuint(eio_http(daemon, "POST", query, connect, &out), ==, 200);
		g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &out2), ==, 200);
		g_assert_true(g_str_has_prefix(out2, "40{\"sid\":"));
	}
	{
		/* the one user fills max-connections: another CONNECT is refused
		 * (`44`), the session stays pending */
		g_autofree gchar *token2 = make_token("8", "ADMIN", 3600);
		g_autofree gchar *connect2 = g_strdup_printf("40{\"token\":\"%s\"}", token2);
		g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", b[0]);
		g_autofree gchar *out = NULL;
		g_autofree gchar *out2 = NULL;
		g_assert_cmpuint(eio_http(daemon, "POST", query, connect2, &out), ==, 200);
		g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &out2), ==, 200);
		g_assert_true(g_str_has_prefix(out2, "44{\"message\":\"server full\""));
	}
	g_clear_pointer(&stats, json_node_unref);
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "pending_sessions"), ==, 4);
	g_assert_cmpuint(stats_get(stats, "connections"), ==, 1);
	for (guint i = 0; i < 4; i++)
		g_free(a[i]);
	for (guint i = 0; i < 3; i++)
		g_free(b[i]);
	stop_daemon(daemon);
}

static gboolean
has_one_connection(gpointer user_data)
{
	g_autoptr(JsonNode) stats = get_stats(user_data);
	return stats_get(stats, "connections") == 1;
}

/* max-connections-per-address: 503 before the upgrade, `44` on CONNECT */
static void
plain_per_address_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("max-connections-per-address=2");
	g_autoptr(RawClient) one = raw_client_open(daemon, "1", "ADMIN");
	g_autoptr(RawClient) two = raw_client_open(daemon, "2", "ADMIN");
	g_autofree gchar *token3 = make_token("3", "ADMIN", 3600);
	g_autofree gchar *path3 = g_strdup_printf("/ws?token=%s", token3);
	g_autoptr(JsonNode) stats = NULL;

	{
		/* a third from 127.0.0.1: 503 JSON */
		g_autoptr(RawClient) three = raw_client_connect(daemon, path3, NULL);
		g_autoptr(JsonNode) body = NULL;
		g_assert_cmpuint(three->status, ==, 503);
		body = raw_error_body(three);
		g_assert_cmpstr(herald_test_json_get_string(body, "error"), ==, "server_full");
		g_assert_nonnull(herald_test_json_get_string(body, "message"));
	}
	{
		/* from 127.0.0.2 it fits */
		g_autoptr(RawClient) other = raw_client_connect_from(daemon, "127.0.0.2", path3, NULL, 0);
		g_autoptr(JsonNode) connected = NULL;
		g_assert_cmpuint(other->status, ==, 101);
		connected = raw_next_json(other);
		g_assert_cmpstr(herald_test_json_get_string(connected, "type"), ==, "connected");
	}
	{
		/* Socket.IO from 127.0.0.1: the handshake is pending (not
		 * counted), its CONNECT is refused */
		g_autofree gchar *sid = eio_handshake(daemon);
		g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
		g_autofree gchar *connect = g_strdup_printf("40{\"token\":\"%s\"}", token3);
		g_autofree gchar *out = NULL;
		g_autofree gchar *out2 = NULL;
		g_autoptr(JsonNode) refusal = NULL;
		g_assert_cmpuint(eio_http(daemon, "POST", query, connect, &out), ==, 200);
		g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &out2), ==, 200);
		g_assert_true(g_str_has_prefix(out2, "44{"));
		refusal = herald_test_parse_json(out2 + 2);
		g_assert_cmpstr(herald_test_json_get_string(refusal, "data.code"), ==, "server_full");
	}
	/* a freed slot is reused */
	g_clear_pointer(&one, raw_client_free);
	g_assert_true(herald_test_wait_until(has_one_connection, daemon, WAIT_MS));
	{
		g_autoptr(RawClient) again = raw_client_connect(daemon, path3, NULL);
		g_assert_cmpuint(again->status, ==, 101);
	}
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "refused_per_address_total"), ==, 2);
	stop_daemon(daemon);
}

/* behind a trusted proxy the per-address budget counts the forwarded client,
 * not the proxy: two clients behind one proxy address are two addresses;
 * the same forwarded address is counted once; an untrusted peer's
 * X-Forwarded-For is ignored */
static void
plain_per_address_proxy_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("max-connections-per-address=1\n[host]\ntrusted-proxies=127.0.0.1\n");
	g_autofree gchar *t1 = make_token("1", "ADMIN", 3600);
	g_autofree gchar *t2 = make_token("2", "ADMIN", 3600);
	g_autofree gchar *t3 = make_token("3", "ADMIN", 3600);
	g_autofree gchar *p1 = g_strdup_printf("/ws?token=%s", t1);
	g_autofree gchar *p2 = g_strdup_printf("/ws?token=%s", t2);
	g_autofree gchar *p3 = g_strdup_printf("/ws?token=%s", t3);
	g_autoptr(RawClient) a =
	    raw_client_connect(daemon, p1, "X-Forwarded-For: 203.0.113.1\r\n");
	g_autoptr(RawClient) b =
	    raw_client_connect(daemon, p2, "X-Forwarded-For: 203.0.113.2\r\n");
	g_autoptr(RawClient) c =
	    raw_client_connect(daemon, p3, "X-Forwarded-For: 203.0.113.1\r\n");
	g_autoptr(RawClient) untrusted = raw_client_connect_from(
	    daemon, "127.0.0.2", p3, "X-Forwarded-For: 198.51.100.7\r\n", 0);
	g_autoptr(JsonNode) stats = NULL;

	g_assert_cmpuint(a->status, ==, 101);
	g_assert_cmpuint(b->status, ==, 101);
	g_assert_cmpuint(c->status, ==, 503);
	/* 127.0.0.2 is no trusted proxy: counted as itself, and it has room */
	g_assert_cmpuint(untrusted->status, ==, 101);
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "refused_per_address_total"), ==, 1);
	stop_daemon(daemon);
}

/* the new limits: out-of-range values refused with their location; a reload
 * moves the Socket.IO route's body limit with max-payload */
static void
eio_limits_config_func(void)
{
	struct {
		const gchar *line;
		const gchar *expect;
	} bad[] = {
	    {"max-packets-per-payload=0", "max-packets-per-payload: 0 is out of range (1 to 100000)"},
	    {"max-packets-per-payload=100001",
	     "max-packets-per-payload: 100001 is out of range (1 to 100000)"},
	    {"max-pending=0", "max-pending: 0 is out of range (1 to 10000000)"},
	    {"max-pending-per-address=abc",
	     "max-pending-per-address: 'abc' is not a whole number from 1 to 10000000"},
	    {"max-connections-per-address=10000001",
	     "max-connections-per-address: 10000001 is out of range (0 to 10000000)"},
	};
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autofree gchar *sid = NULL;
	g_autofree gchar *query = NULL;
	const gchar *ping = "2";
	g_autofree gchar *big = NULL;
	g_autofree gchar *config = NULL;
	g_autoptr(GError) error = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree gchar *dir = herald_test_mkdtemp();
		g_autofree gchar *body = g_strdup_printf(
		    "[host]\nplugins=ws-rooms\ndbus=none\n[ws-rooms]\n%s\n", bad[i].line);
		g_autofree gchar *fn = herald_test_write_file(dir, "herald.conf", body);
		g_autofree gchar *expect = g_strdup_printf("%s:ws-rooms:%s", fn, bad[i].expect);
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		gchar *argv[] = {"--check-config", "--config", fn, NULL};
		g_assert_cmpint(herald_test_run_heraldd(argv, &out, &err, NULL), ==, 1);
		if (strstr(err, expect) == NULL)
			g_error("expected '%s' in:\n%s", expect, err);
		herald_test_rm_rf(dir);
	}

	/* one ping with 2,999 bytes of data: 3,000 bytes */
	{
		g_autofree gchar *data = g_strnfill(2999, 'x');
		big = g_strconcat(ping, data, NULL);
	}
	daemon = start_daemon("max-payload=2048");
	sid = eio_handshake(daemon);
	query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
	{
		g_autofree gchar *out = NULL;
		eio_assert_host_too_large(eio_http(daemon, "POST", query, big, &out), &out);
	}
	g_assert_true(g_file_get_contents(daemon->config_file, &config, NULL, &error));
	g_assert_no_error(error);
	{
		g_autofree gchar *updated = g_strdup_printf("%s\n[ws-rooms]\nmax-payload=4096\n", config);
		g_assert_true(g_file_set_contents(daemon->config_file, updated, -1, &error));
		g_assert_no_error(error);
	}
	herald_test_daemon_signal(daemon, SIGHUP);
	g_assert_true(herald_test_daemon_wait_log(daemon, "configuration reloaded", WAIT_MS));
	{
		/* the same POST passes now, and its pong comes back */
		g_autofree gchar *out = NULL;
		g_autofree gchar *out2 = NULL;
		g_assert_cmpuint(eio_http(daemon, "POST", query, big, &out), ==, 200);
		g_assert_cmpstr(out, ==, "ok");
		g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &out2), ==, 200);
		g_assert_cmpuint(strlen(out2), ==, 3000);
		g_assert_true(g_str_has_prefix(out2, "3xxx"));
	}
	stop_daemon(daemon);
}

/* SIGTERM (a restart): plain clients get 1012, Socket.IO sessions lose their
 * transport without `41` (a websocket the close frame 1012 alone, a polling
 * session `1` alone on its next GET), so that clients reconnect by
 * themselves; heraldd exits 0 (no leak) once they are out */
static void
shutdown_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *token = make_token("1", "ADMIN", 3600);
	g_autofree gchar *token2 = make_token("2", "CLIENT", 3600);
	g_autofree gchar *token4 = make_token("4", "CLIENT", 3600);
	g_autofree gchar *url = ws_url(daemon, token);
	g_autoptr(WsClient) soup_client = ws_client_connect(url);
	g_autoptr(RawClient) raw = raw_client_open(daemon, "3", "SELLER");
	g_autoptr(RawClient) sio = sio_raw_open(daemon, token2);
	g_autoptr(JsonNode) connected = NULL;
	g_autoptr(GByteArray) payload = g_byte_array_new();
	g_autofree gchar *sid = eio_handshake(daemon);
	g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
	g_autofree gchar *connect = g_strdup_printf("40{\"token\":\"%s\"}", token4);
	g_autofree gchar *ok = NULL;
	g_autofree gchar *first = NULL;
	g_autofree gchar *last_poll = NULL;
	gboolean saw_41 = FALSE;
	guint8 opcode = 0;
	guint16 code = 0;

	g_assert_no_error(soup_client->error);
	connected = ws_client_expect(soup_client, "connected");
	g_assert_cmpuint(eio_http(daemon, "POST", query, connect, &ok), ==, 200);
	g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &first), ==, 200);
	g_assert_true(g_str_has_prefix(first, "40{\"sid\":"));
	herald_test_daemon_signal(daemon, SIGTERM);

	g_assert_cmpuint(raw_expect_close(raw, NULL), ==, HERALD_WS_CLOSE_SERVICE_RESTART);
	while (raw_next(sio, &opcode, payload, &code) && opcode != HERALD_WS_OPCODE_CLOSE) {
		if (payload->len == 2 && memcmp(payload->data, "41", 2) == 0)
			saw_41 = TRUE;
	}
	g_assert_cmpuint(opcode, ==, HERALD_WS_OPCODE_CLOSE);
	g_assert_cmpuint(code, ==, HERALD_WS_CLOSE_SERVICE_RESTART);
	g_assert_false(saw_41);
	/* the polling session's next GET is still served: `1` and nothing else */
	g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &last_poll), ==, 200);
	g_assert_cmpstr(last_poll, ==, "1");
	g_assert_true(herald_test_wait_until(ws_client_is_closed, soup_client, WAIT_MS));
	g_assert_cmpuint(soup_client->close_code, ==, HERALD_WS_CLOSE_SERVICE_RESTART);
	g_assert_cmpint(herald_test_daemon_wait(daemon, 30000), ==, 0);
}

/* plain idle timeout: a ping after half of it; a client that answers stays,
 * one that does not is closed with 1001 */
static void
plain_idle_timeout_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("idle-timeout-ms=2000");
	g_autoptr(RawClient) mute = raw_client_open(daemon, "1", "SELLER");
	g_autoptr(RawClient) alive = raw_client_open(daemon, "2", "SELLER");
	g_autoptr(GByteArray) payload = g_byte_array_new();
	g_autoptr(JsonNode) stats = NULL;
	guint8 opcode = 0;
	guint16 code = 0;

	/* three pings answered: the connection outlives the idle timeout */
	for (guint i = 0; i < 3; i++) {
		g_assert_true(raw_next(alive, &opcode, payload, NULL));
		g_assert_cmpuint(opcode, ==, HERALD_WS_OPCODE_PING);
		raw_send(alive,
			 HERALD_WS_OPCODE_PONG,
			 TRUE,
			 (const gchar *)payload->data,
			 payload->len);
	}
	g_assert_true(raw_next(mute, &opcode, payload, NULL));
	g_assert_cmpuint(opcode, ==, HERALD_WS_OPCODE_PING);
	g_assert_true(raw_next(mute, &opcode, payload, &code));
	g_assert_cmpuint(opcode, ==, HERALD_WS_OPCODE_CLOSE);
	g_assert_cmpuint(code, ==, HERALD_WS_CLOSE_GOING_AWAY);
	/* the answering one is still open */
	raw_send_text(alive, "{\"type\":\"ping\"}");
	for (;;) {
		g_assert_true(raw_next(alive, &opcode, payload, NULL));
		if (opcode == HERALD_WS_OPCODE_PING) {
			raw_send(alive, HERALD_WS_OPCODE_PONG, TRUE, NULL, 0);
			continue;
		}
		g_assert_cmpuint(opcode, ==, HERALD_WS_OPCODE_TEXT);
		g_assert_nonnull(
		    g_strstr_len((const gchar *)payload->data, payload->len, "\"pong\""));
		break;
	}
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "closes_total.timeout"), ==, 1);
	stop_daemon(daemon);
}

/* socket-send-buffer-bytes: refused values say where and why
 * (--check-config), `auto` follows outgoing-buffer-bytes, 0 and numbers are
 * taken as they are (the resolved value in /stats) */
static void
plain_send_buffer_func(void)
{
	const gchar *bad[] = {"big", "4095", "67108865", "-1", "1.5", "auto2"};
	struct {
		const gchar *config;
		guint64 want;
	} good[] = {
	    {"", 262144},
	    {"outgoing-buffer-bytes=65536\n", 16384},
	    {"outgoing-buffer-bytes=524288\nsocket-send-buffer-bytes=auto\n", 131072},
	    {"socket-send-buffer-bytes=0\n", 0},
	    {"socket-send-buffer-bytes=8192\n", 8192},
	};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree gchar *dir = herald_test_mkdtemp();
		g_autofree gchar *body = g_strdup_printf(
		    "[host]\nplugins=ws-rooms\ndbus=none\n[ws-rooms]\nsocket-send-buffer-bytes=%s\n",
		    bad[i]);
		g_autofree gchar *fn = herald_test_write_file(dir, "herald.conf", body);
		g_autofree gchar *expect =
		    g_strdup_printf("%s:ws-rooms:socket-send-buffer-bytes: “%s” is not “auto”, 0 or "
				    "a number of bytes from 4096 to 67108864",
				    fn,
				    bad[i]);
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		gchar *argv[] = {"--check-config", "--config", fn, NULL};
		g_assert_cmpint(herald_test_run_heraldd(argv, &out, &err, NULL), ==, 1);
		if (strstr(err, expect) == NULL)
			g_error("expected '%s' in:\n%s", expect, err);
		herald_test_rm_rf(dir);
	}
	for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
		g_autoptr(HeraldTestDaemon) daemon = start_daemon(good[i].config);
		g_autoptr(JsonNode) stats = get_stats(daemon);
		g_autoptr(RawClient) client = raw_client_open(daemon, "1", "SELLER");
		g_autoptr(JsonNode) pong = NULL;
		g_assert_cmpuint(stats_get(stats, "socket_send_buffer_bytes"), ==, good[i].want);
		/* a connection with that buffer works */
		raw_send_text(client, "{\"type\":\"ping\"}");
		pong = raw_next_json(client);
		g_assert_cmpstr(herald_test_json_get_string(pong, "type"), ==, "pong");
		stop_daemon(daemon);
	}
}

/* writer-threads: refused values say where and why (--check-config and a
 * reload, which keeps the old value); a good value applies live */
static void
plain_writer_threads_func(void)
{
	const gchar *bad[] = {"two", "65", "-1", "1.5"};
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(JsonNode) stats = NULL;
	g_autoptr(RawClient) client = NULL;
	g_autofree gchar *config = NULL;
	g_autoptr(GError) error = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree gchar *dir = herald_test_mkdtemp();
		g_autofree gchar *body = g_strdup_printf(
		    "[host]\nplugins=ws-rooms\ndbus=none\n[ws-rooms]\nwriter-threads=%s\n", bad[i]);
		g_autofree gchar *fn = herald_test_write_file(dir, "herald.conf", body);
		g_autofree gchar *expect =
		    g_strdup_printf("%s:ws-rooms:writer-threads: “%s” is not “auto” or a number of "
				    "threads from 0 to 64",
				    fn,
				    bad[i]);
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		gchar *argv[] = {"--check-config", "--config", fn, NULL};
		g_assert_cmpint(herald_test_run_heraldd(argv, &out, &err, NULL), ==, 1);
		if (strstr(err, expect) == NULL)
			g_error("expected '%s' in:\n%s", expect, err);
		herald_test_rm_rf(dir);
	}

	daemon = start_daemon("writer-threads=3");
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "writer_threads"), ==, 3);
	client = raw_client_open(daemon, "1", "SELLER");

	/* a bad value on reload: refused, the running value stays */
	g_assert_true(g_file_get_contents(daemon->config_file, &config, NULL, &error));
	g_assert_no_error(error);
	{
		g_autofree gchar *updated = g_strdup_printf("%s\n[ws-rooms]\nwriter-threads=lots\n", config);
		g_assert_true(g_file_set_contents(daemon->config_file, updated, -1, &error));
		g_assert_no_error(error);
	}
	herald_test_daemon_signal(daemon, SIGHUP);
	g_assert_true(herald_test_daemon_wait_log(daemon,
						  "writer-threads: “lots” is not “auto”",
						  WAIT_MS));
	g_clear_pointer(&stats, json_node_unref);
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "writer_threads"), ==, 3);

	/* a good one applies without a restart; connections stay */
	{
		g_autofree gchar *updated = g_strdup_printf("%s\n[ws-rooms]\nwriter-threads=0\n", config);
		g_assert_true(g_file_set_contents(daemon->config_file, updated, -1, &error));
		g_assert_no_error(error);
	}
	herald_test_daemon_signal(daemon, SIGHUP);
	g_assert_true(herald_test_daemon_wait_log(daemon, "configuration reloaded", WAIT_MS));
	g_clear_pointer(&stats, json_node_unref);
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "writer_threads"), ==, 0);
	g_assert_cmpint(publish(daemon, "ws:room:seller", "{\"type\":\"after\"}"), ==, 1);
	{
		g_autoptr(JsonNode) msg = raw_next_json(client);
		g_assert_cmpstr(herald_test_json_get_string(msg, "type"), ==, "after");
	}
	stop_daemon(daemon);
}

/* ------------------------------------------------ JSON nested too deep */

/* @prefix followed by 200,000 `[`: json-glib 1.6 recursed once per level and
 * overflowed heraldd's stack on it (a crash without any token) */
static gchar *
deep_json(const gchar *prefix)
{
	GString *out = g_string_new(prefix);
	for (guint i = 0; i < 200000; i++)
		g_string_append_c(out, '[');
	return g_string_free(out, FALSE);
}

static void
json_too_deep_func(void)
{
	/* the plain limit raised so that the document reaches the parser */
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("max-message-bytes=1048576");
	g_autofree gchar *token = make_token("7", "CLIENT", 3600);
	g_autofree gchar *deep_sio = deep_json("42");
	g_autofree gchar *deep_plain = deep_json("");
	g_autoptr(JsonNode) stats = NULL;

	{
		/* Socket.IO over polling: 400 code 3 and the session is closed */
		g_autofree gchar *sid = eio_handshake(daemon);
		g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
		g_autofree gchar *out = NULL;
		g_autofree gchar *out2 = NULL;
		g_autofree gchar *out3 = NULL;
		eio_assert_error(eio_http(daemon, "POST", query, deep_sio, &out), &out, 400, 3);
		g_assert_cmpstr(out, ==, "{\"code\":3,\"message\":\"Bad request\"}");
		/* as for any invalid packet: the next poll gets the close packet,
		 * any later request "Session ID unknown" */
		g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &out2), ==, 200);
		g_assert_cmpstr(out2, ==, "1");
		eio_assert_error(eio_http(daemon, "POST", query, "40", &out3), &out3, 400, 1);
	}
	{
		/* heraldd is alive: a new polling session connects and subscribes */
		g_autofree gchar *sid = eio_handshake(daemon);
		g_autofree gchar *query = g_strdup_printf("EIO=4&transport=polling&sid=%s", sid);
		g_autofree gchar *connect = g_strdup_printf("40{\"token\":\"%s\"}", token);
		g_autofree gchar *ok = NULL;
		g_autofree gchar *out = NULL;
		g_autofree gchar *ok2 = NULL;
		g_autofree gchar *ack = NULL;
		g_assert_cmpuint(eio_http(daemon, "POST", query, connect, &ok), ==, 200);
		g_assert_cmpstr(ok, ==, "ok");
		g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &out), ==, 200);
		g_assert_true(g_str_has_prefix(out, "40{\"sid\":"));
		g_assert_cmpuint(
		    eio_http(daemon, "POST", query, "421[\"subscribe\",{\"room\":\"cart\"}]", &ok2),
		    ==,
		    200);
		g_assert_cmpuint(eio_http(daemon, "GET", query, NULL, &ack), ==, 200);
		g_assert_cmpstr(ack, ==, "431[{\"ok\":true,\"room\":\"cart\"}]");
	}
	{
		/* Socket.IO over WebSocket: close 1007, then a new session works */
		g_autoptr(RawClient) raw = sio_raw_open(daemon, token);
		g_autoptr(RawClient) raw2 = NULL;
		g_autofree gchar *ack = NULL;
		raw_send_text(raw, deep_sio);
		g_assert_cmpuint(raw_expect_close(raw, NULL), ==, HERALD_WS_CLOSE_BAD_DATA);
		raw2 = sio_raw_open(daemon, token);
		raw_send_text(raw2, "4212[\"subscribe\",{\"room\":\"cart\"}]");
		ack = raw_next_text(raw2);
		g_assert_cmpstr(ack, ==, "4312[{\"ok\":true,\"room\":\"cart\"}]");
	}
	{
		/* plain /ws: close 1007 with a reason, then a new connection works */
		g_autoptr(RawClient) raw = raw_client_open(daemon, "8", "CLIENT");
		g_autoptr(RawClient) raw2 = NULL;
		g_autoptr(GByteArray) payload = g_byte_array_new();
		g_autoptr(JsonNode) subscribed = NULL;
		guint8 opcode = 0;
		guint16 code = 0;
		raw_send_text(raw, deep_plain);
		for (;;) {
			g_assert_true(raw_next(raw, &opcode, payload, &code));
			if (opcode == HERALD_WS_OPCODE_CLOSE)
				break;
		}
		g_assert_cmpuint(code, ==, HERALD_WS_CLOSE_BAD_DATA);
		/* the close payload: 2 bytes of code, then the reason */
		g_assert_cmpuint(payload->len, >, 2);
		g_assert_cmpmem(payload->data + 2,
				payload->len - 2,
				"JSON nested too deep",
				strlen("JSON nested too deep"));
		raw2 = raw_client_open(daemon, "8", "CLIENT");
		raw_send_text(raw2, "{\"type\":\"subscribe\",\"room\":\"cart\"}");
		subscribed = raw_next_json(raw2);
		g_assert_cmpstr(herald_test_json_get_string(subscribed, "type"), ==, "subscribed");
	}
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "rejected_total.json_too_deep"), ==, 3);
	g_assert_cmpint(herald_test_json_get_int(stats, "json_too_deep_total"), ==, 3);
	stop_daemon(daemon);
}

/* ------------------------------------------------------- conformance */

/* Engine.IO owns the methods of its path: any method but GET on a handshake
 * is Engine.IO's 400 code 2, never the host's 405 */
static void
eio_handshake_methods_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autoptr(JsonNode) stats = NULL;
	const gchar *methods[] = {"PUT", "DELETE", "PATCH", "POST"};

	for (guint i = 0; i < G_N_ELEMENTS(methods); i++) {
		g_autofree gchar *out = NULL;
		g_autoptr(JsonNode) node = NULL;
		guint status = eio_http(daemon, methods[i], "EIO=4&transport=polling", "40", &out);
		g_assert_cmpuint(status, ==, 400);
		g_assert_nonnull(out);
		node = herald_test_parse_json(out);
		g_assert_cmpint(herald_test_json_get_int(node, "code"), ==, 2);
		g_assert_cmpstr(herald_test_json_get_string(node, "message"),
				==,
				"Bad handshake method");
	}
	/* other paths keep the host's 405 */
	{
		g_autofree gchar *url = g_strdup_printf("%s/stats", daemon->base_url);
		g_autofree gchar *out = NULL;
		g_autoptr(JsonNode) node = NULL;
		g_assert_cmpuint(herald_test_http("PUT", url, NULL, NULL, NULL, 0, &out, NULL),
				 ==,
				 405);
		node = herald_test_parse_json(out);
		g_assert_cmpstr(herald_test_json_get_string(node, "error"),
				==,
				"method_not_allowed");
	}
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "rejected_total.handshake_method"), ==, 4);
	stop_daemon(daemon);
}

/* a client's `41` over a WebSocket: a closing handshake with 1000, not a
 * dropped TCP connection (1006 at the client) */
static void
sio_raw_client_disconnect_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *token = make_token("41", "ADMIN", 3600);
	g_autoptr(RawClient) raw = sio_raw_open(daemon, token);
	g_autoptr(JsonNode) stats = NULL;
	guint n_data = 0;

	raw_send_text(raw, "41");
	g_assert_cmpuint(raw_expect_close(raw, &n_data), ==, HERALD_WS_CLOSE_NORMAL);
	g_assert_cmpuint(n_data, ==, 0);
	/* our close frame back; then the server ends the TCP connection */
	raw_send(raw, HERALD_WS_OPCODE_CLOSE, TRUE, "\x03\xe8", 2);
	g_assert_true(herald_test_wait_until(daemon_is_empty, daemon, WAIT_MS));
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "closes_total.client"), ==, 1);
	g_assert_cmpuint(stats_get(stats, "closes_total.io_error"), ==, 0);
	stop_daemon(daemon);
}

/* server pings leave on time: with ping-interval-ms=100 the gap between our
 * pong and the next ping is 100 ms plus a few; the figures are reported */
static void
sio_raw_heartbeat_precision_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("ping-interval-ms=100\nping-timeout-ms=5000");
	g_autofree gchar *token = make_token("2", "ADMIN", 3600);
	g_autoptr(RawClient) raw = sio_raw_open(daemon, token);
	gint64 pong_at = 0;
	gint64 max_late = 0;
	gint64 min_late = G_MAXINT64;
	gint64 sum_late = 0;
	const guint n = 30;

	for (guint i = 0; i < n; i++) {
		g_autofree gchar *ping = raw_next_text(raw);
		gint64 now = g_get_monotonic_time();
		g_assert_cmpstr(ping, ==, "2");
		if (pong_at != 0) {
			gint64 late = now - pong_at - 100000;
			max_late = MAX(max_late, late);
			min_late = MIN(min_late, late);
			sum_late += late;
		}
		raw_send_text(raw, "3");
		pong_at = g_get_monotonic_time();
	}
	g_test_message("server pings after our pong, beyond ping-interval-ms=100: "
		       "min %.2f ms, mean %.2f ms, max %.2f ms (%u pings)",
		       min_late / 1000.0,
		       sum_late / 1000.0 / (n - 1),
		       max_late / 1000.0,
		       n - 1);
	/* the figures are reported, not asserted: timings belong in benchmarks
	 * (this test's client clock is read after its own send, and on a loaded
	 * machine that can be late by more than the precision measured). What
	 * is asserted: every ping came and the session stayed up. */
	g_assert_cmpint(max_late, <, 5 * G_USEC_PER_SEC);
	stop_daemon(daemon);
}

/* the raw HTTP response to @request on a new connection: its head
 * (lowercase) and whether the server closed the connection after it */
static gchar *
raw_http_exchange(HeraldTestDaemon *daemon, const gchar *request, gboolean *closed)
{
	g_autoptr(GSocket) socket = raw_socket_from(daemon, NULL, 0);
	g_autoptr(GString) in = g_string_new(NULL);
	gchar buf[4096];
	gssize n;
	const gchar *end;

	g_assert_cmpint(g_socket_send(socket, request, strlen(request), NULL, NULL),
			==,
			(gssize)strlen(request));
	while ((end = strstr(in->str, "\r\n\r\n")) == NULL) {
		n = g_socket_receive(socket, buf, sizeof(buf), NULL, NULL);
		g_assert_cmpint(n, >, 0);
		g_string_append_len(in, buf, n);
	}
	/* a closed connection reads EOF after the body; an open one times out */
	g_socket_set_timeout(socket, 1);
	*closed = FALSE;
	for (;;) {
		n = g_socket_receive(socket, buf, sizeof(buf), NULL, NULL);
		if (n == 0) {
			*closed = TRUE;
			break;
		}
		if (n < 0)
			break;
	}
	return g_ascii_strdown(in->str, end - in->str);
}

/* every response after which the connection is closed says
 * `Connection: close` (a keep-alive client would reuse the dead socket) */
static void
http_connection_close_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	struct {
		const gchar *request;
		gboolean closes;
	} cases[] = {
	    {"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", TRUE},
	    {"GET /stats HTTP/1.0\r\nHost: x\r\n\r\n", TRUE},
	    {"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n"
	     "Connection: close\r\n\r\n",
	     TRUE},
	    {"PUT /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n"
	     "Content-Length: 0\r\nConnection: close\r\n\r\n",
	     TRUE},
	    {"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", TRUE},
	    /* libsoup keeps HTTP/1.0 connections only if the response asks to */
	    {"GET /stats HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", TRUE},
	    {"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n", FALSE},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		gboolean closed = FALSE;
		g_autofree gchar *head = raw_http_exchange(daemon, cases[i].request, &closed);
		g_test_message("%s", head);
		g_assert_cmpint(closed, ==, cases[i].closes);
		if (cases[i].closes)
			g_assert_nonnull(strstr(head, "\r\nconnection: close"));
		else
			g_assert_null(strstr(head, "connection: close"));
	}
	stop_daemon(daemon);
}

/* a JSON array member holds @value */
static gboolean
json_array_has_string(JsonNode *node, const gchar *path, const gchar *value)
{
	JsonNode *cur = node;
	g_auto(GStrv) parts = g_strsplit(path, ".", -1);
	JsonArray *array;
	for (guint i = 0; parts[i] != NULL; i++)
		cur = json_object_get_member(json_node_get_object(cur), parts[i]);
	g_assert_nonnull(cur);
	array = json_node_get_array(cur);
	for (guint i = 0; i < json_array_get_length(array); i++) {
		if (g_strcmp0(json_array_get_string_element(array, i), value) == 0)
			return TRUE;
	}
	return FALSE;
}

/* /ws/notifications: the plain protocol under the seed's path; `job_id` joins
 * job_{id} when the role may */
static void
plain_notifications_alias_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("\n[ws-rooms.subscribe]\nCLIENT=notifications;job_*\nSELLER=orders\n");
	g_autofree gchar *client_token = make_token("31", "CLIENT", 3600);
	g_autofree gchar *seller_token = make_token("32", "SELLER", 3600);
	g_autofree gchar *client_path =
	    g_strdup_printf("/ws/notifications?token=%s&job_id=42", client_token);
	g_autofree gchar *seller_path =
	    g_strdup_printf("/ws/notifications?token=%s&job_id=42", seller_token);
	g_autoptr(RawClient) client = raw_client_connect(daemon, client_path, NULL);
	g_autoptr(RawClient) seller = raw_client_connect(daemon, seller_path, NULL);
	g_autoptr(JsonNode) connected = NULL;
	g_autoptr(JsonNode) seller_connected = NULL;
	g_autoptr(JsonNode) refused = NULL;
	g_autoptr(JsonNode) event = NULL;
	g_autoptr(JsonNode) stats = NULL;
	const gchar *bad_ids[] = {"", "a%20b", "..%2Fx"};

	g_assert_cmpuint(client->status, ==, 101);
	connected = raw_next_json(client);
	g_assert_cmpstr(herald_test_json_get_string(connected, "type"), ==, "connected");
	g_assert_true(json_array_has_string(connected, "payload.rooms", "job_42"));
	/* the seller may not: connected without the room, then told why */
	g_assert_cmpuint(seller->status, ==, 101);
	seller_connected = raw_next_json(seller);
	g_assert_cmpstr(herald_test_json_get_string(seller_connected, "type"), ==, "connected");
	g_assert_false(json_array_has_string(seller_connected, "payload.rooms", "job_42"));
	refused = raw_next_json(seller);
	g_assert_cmpstr(herald_test_json_get_string(refused, "type"), ==, "error");
	g_assert_cmpstr(herald_test_json_get_string(refused, "payload.code"), ==, "forbidden");
	g_assert_cmpstr(herald_test_json_get_string(refused, "payload.room"), ==, "job_42");

	g_assert_cmpint(publish(daemon, "ws:room:job_42", "{\"progress\":50}"), ==, 1);
	event = raw_next_json(client);
	g_assert_cmpstr(herald_test_json_get_string(event, "room"), ==, "job_42");
	g_assert_cmpint(herald_test_json_get_int(event, "payload.progress"), ==, 50);

	/* a job_id that makes no room name: 400 before the upgrade */
	for (guint i = 0; i < G_N_ELEMENTS(bad_ids); i++) {
		g_autofree gchar *path =
		    g_strdup_printf("/ws/notifications?token=%s&job_id=%s", client_token, bad_ids[i]);
		g_autoptr(RawClient) bad = raw_client_connect(daemon, path, NULL);
		g_autoptr(JsonNode) body = NULL;
		g_assert_cmpuint(bad->status, ==, 400);
		body = raw_error_body(bad);
		g_assert_cmpstr(herald_test_json_get_string(body, "error"), ==, "invalid_argument");
		g_assert_nonnull(strstr(herald_test_json_get_string(body, "message"), "job_id"));
	}
	/* the token is still required */
	{
		g_autoptr(RawClient) anonymous = raw_client_connect(daemon, "/ws/notifications", NULL);
		g_assert_cmpuint(anonymous->status, ==, 401);
	}
	stats = get_stats(daemon);
	g_assert_cmpuint(stats_get(stats, "rejected_total.invalid_job_id"), ==, 3);
	g_assert_cmpuint(stats_get(stats, "rejected_total.missing_token"), ==, 1);
	g_assert_cmpuint(stats_get(stats, "subscribes_refused_total"), ==, 1);
	g_assert_cmpuint(stats_get(stats, "accepted_plain_total"), ==, 2);
	stop_daemon(daemon);
}

/* the status line and body of a raw request */
static guint
raw_http_status(HeraldTestDaemon *daemon, const gchar *request, gchar **out_head)
{
	gboolean closed = FALSE;
	gchar *head = raw_http_exchange(daemon, request, &closed);
	guint status = (guint)g_ascii_strtoull(head + 9, NULL, 10);
	if (out_head != NULL)
		*out_head = head;
	else
		g_free(head);
	return status;
}

/* GET /ws/status: local callers, or an admin token like /stats */
static void
plain_status_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *url = g_strdup_printf("%s/ws/status", daemon->base_url);
	g_autofree gchar *admin = make_token("1", "ADMIN", 3600);
	g_autofree gchar *client = make_token("2", "CLIENT", 3600);
	g_autoptr(RawClient) raw = raw_client_open(daemon, "3", "SELLER");
	g_autofree gchar *out = NULL;
	g_autoptr(JsonNode) status = NULL;
	const gchar *forwarded = "X-Forwarded-For: 203.0.113.9\r\n";
	g_autofree gchar *as_client = NULL;
	g_autofree gchar *as_admin = NULL;

	g_assert_cmpuint(herald_test_http("GET", url, NULL, NULL, NULL, 0, &out, NULL), ==, 200);
	status = herald_test_parse_json(out);
	g_assert_true(json_object_get_boolean_member(json_node_get_object(status), "enabled"));
	g_assert_true(json_array_has_string(status, "paths", "/ws/notifications"));
	g_assert_cmpint(herald_test_json_get_int(status, "stats.connections_by_protocol.plain"),
			==,
			1);
	g_assert_cmpint(herald_test_json_get_int(status, "stats.accepted_plain_total"), ==, 1);
	/* not local (a proxy in front): a token, and an admin's */
	as_client = g_strdup_printf("GET /ws/status HTTP/1.1\r\nHost: x\r\n%sAuthorization: "
				    "Bearer %s\r\nConnection: close\r\n\r\n",
				    forwarded,
				    client);
	as_admin = g_strdup_printf("GET /ws/status HTTP/1.1\r\nHost: x\r\n%sAuthorization: "
				   "Bearer %s\r\nConnection: close\r\n\r\n",
				   forwarded,
				   admin);
	g_assert_cmpuint(raw_http_status(daemon,
					 "GET /ws/status HTTP/1.1\r\nHost: x\r\n"
					 "X-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n\r\n",
					 NULL),
			 ==,
			 401);
	g_assert_cmpuint(raw_http_status(daemon, as_client, NULL), ==, 403);
	g_assert_cmpuint(raw_http_status(daemon, as_admin, NULL), ==, 200);
	stop_daemon(daemon);
}

/* GET /: the service-information document */
static void
service_info_func(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *url = g_strdup_printf("%s/", daemon->base_url);
	g_autofree gchar *out = NULL;
	g_autoptr(JsonNode) info = NULL;
	JsonArray *endpoints;
	gboolean seen_sio = FALSE, seen_alias = FALSE, seen_health = FALSE;

	g_assert_cmpuint(herald_test_http("GET", url, NULL, NULL, NULL, 0, &out, NULL), ==, 200);
	info = herald_test_parse_json(out);
	g_assert_cmpstr(herald_test_json_get_string(info, "name"), ==, "herald");
	g_assert_nonnull(herald_test_json_get_string(info, "version"));
	endpoints = json_object_get_array_member(json_node_get_object(info), "endpoints");
	for (guint i = 0; i < json_array_get_length(endpoints); i++) {
		JsonObject *e = json_array_get_object_element(endpoints, i);
		const gchar *path = json_object_get_string_member(e, "path");
		seen_sio |= g_strcmp0(path, "/socket.io/*") == 0;
		seen_alias |= g_strcmp0(path, "/ws/notifications") == 0;
		seen_health |= g_strcmp0(path, "/health") == 0;
		g_assert_nonnull(json_object_get_string_member(e, "auth"));
	}
	g_assert_true(seen_sio && seen_alias && seen_health);
	stop_daemon(daemon);
}

/* alias-paths and status-path refused by --check-config with a location */
static void
plain_paths_config_func(void)
{
	struct {
		const gchar *line;
		const gchar *expect;
	} bad[] = {
	    {"alias-paths=ws/x", "alias-paths: alias path 'ws/x' must start with '/'"},
	    {"alias-paths=/ws", "alias-paths: alias path '/ws' is already served"},
	    {"alias-paths=/a;/a", "alias-paths: alias path '/a' is already served"},
	    {"alias-paths=/socket.io/x", "alias-paths: alias path '/socket.io/x' is already served"},
	    {"status-path=status", "status-path: status-path 'status' must start with '/'"},
	    {"status-path=/ws", "status-path: status-path '/ws' is also the WebSocket path"},
	};
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree gchar *dir = herald_test_mkdtemp();
		g_autofree gchar *body = g_strdup_printf(
		    "[host]\nplugins=ws-rooms\ndbus=none\n[ws-rooms]\n%s\n", bad[i].line);
		g_autofree gchar *fn = herald_test_write_file(dir, "herald.conf", body);
		g_autofree gchar *expect = g_strdup_printf("%s:ws-rooms:%s", fn, bad[i].expect);
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		gchar *argv[] = {"--check-config", "--config", fn, NULL};
		g_assert_cmpint(herald_test_run_heraldd(argv, &out, &err, NULL), ==, 1);
		if (strstr(err, expect) == NULL)
			g_error("expected '%s' in:\n%s", expect, err);
		herald_test_rm_rf(dir);
	}
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
	g_test_add_func("/herald/ws-rooms/plain/deflate-offered", plain_deflate_offered_func);
	g_test_add_func("/herald/ws-rooms/plain/read-ahead", plain_read_ahead_func);
	g_test_add_func("/herald/ws-rooms/plain/oversize-large", plain_oversize_large_func);
	g_test_add_func("/herald/ws-rooms/plain/partial-frames", plain_partial_frames_func);
	g_test_add_func("/herald/ws-rooms/plain/rate-limit", plain_rate_limit_func);
	g_test_add_func("/herald/ws-rooms/plain/max-connections", plain_max_connections_func);
	g_test_add_func("/herald/ws-rooms/plain/expiry", plain_expiry_func);
	g_test_add_func("/herald/ws-rooms/plain/refresh-invalid", plain_refresh_invalid_func);
	g_test_add_func("/herald/ws-rooms/plain/refresh-reauthorize",
			plain_refresh_reauthorize_func);
	g_test_add_func("/herald/ws-rooms/plain/far-expiry", plain_far_expiry_func);
	g_test_add_func("/herald/ws-rooms/plain/slow-consumer", plain_slow_consumer_func);
	g_test_add_func("/herald/ws-rooms/plain/reload", plain_reload_func);
	g_test_add_func("/herald/ws-rooms/plain/writer-threads", plain_writer_threads_func);
	g_test_add_func("/herald/ws-rooms/plain/socket-send-buffer", plain_send_buffer_func);
	g_test_add_func("/herald/ws-rooms/eio/bad-requests", eio_bad_requests_func);
	g_test_add_func("/herald/ws-rooms/eio/polling", eio_polling_func);
	g_test_add_func("/herald/ws-rooms/eio/polling-refused", eio_polling_refused_func);
	g_test_add_func("/herald/ws-rooms/eio/polling-slow-consumer",
			eio_polling_slow_consumer_func);
	g_test_add_func("/herald/ws-rooms/eio/cors", eio_cors_func);
	g_test_add_func("/herald/ws-rooms/eio/polling-ping-timeout", eio_polling_ping_timeout_func);
	g_test_add_func("/herald/ws-rooms/sio/raw-ping", sio_raw_ping_func);
	g_test_add_func("/herald/ws-rooms/sio/raw-refresh", sio_raw_refresh_func);
	g_test_add_func("/herald/ws-rooms/sio/raw-bad-packets", sio_raw_bad_packets_func);
	g_test_add_func("/herald/ws-rooms/sio/raw-limits", sio_raw_limits_func);
	g_test_add_func("/herald/ws-rooms/sio/raw-upgrade", sio_raw_upgrade_func);
	g_test_add_func("/herald/ws-rooms/plain/idle-timeout", plain_idle_timeout_func);
	g_test_add_func("/herald/ws-rooms/eio/payload-packets", eio_payload_packets_func);
	g_test_add_func("/herald/ws-rooms/eio/ping-rate-limit", eio_ping_rate_limit_func);
	g_test_add_func("/herald/ws-rooms/eio/post-too-large-streaming",
			eio_post_too_large_streaming_func);
	g_test_add_func("/herald/ws-rooms/eio/pending-budget", eio_pending_budget_func);
	g_test_add_func("/herald/ws-rooms/plain/per-address", plain_per_address_func);
	g_test_add_func("/herald/ws-rooms/plain/per-address-proxy", plain_per_address_proxy_func);
	g_test_add_func("/herald/ws-rooms/eio/limits-config", eio_limits_config_func);
	g_test_add_func("/herald/ws-rooms/shutdown", shutdown_func);
	g_test_add_func("/herald/ws-rooms/json-too-deep", json_too_deep_func);
	g_test_add_func("/herald/ws-rooms/eio/handshake-methods", eio_handshake_methods_func);
	g_test_add_func("/herald/ws-rooms/sio/raw-client-disconnect",
			sio_raw_client_disconnect_func);
	g_test_add_func("/herald/ws-rooms/sio/raw-heartbeat-precision",
			sio_raw_heartbeat_precision_func);
	g_test_add_func("/herald/ws-rooms/http/connection-close", http_connection_close_func);
	g_test_add_func("/herald/ws-rooms/plain/notifications-alias", plain_notifications_alias_func);
	g_test_add_func("/herald/ws-rooms/plain/status", plain_status_func);
	g_test_add_func("/herald/ws-rooms/plain/paths-config", plain_paths_config_func);
	g_test_add_func("/herald/ws-rooms/http/service-info", service_info_func);
	return g_test_run();
}
