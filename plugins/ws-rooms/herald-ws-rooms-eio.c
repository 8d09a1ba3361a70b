/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "herald-ws-rooms-eio.h"
#include "herald-ws-rooms-packet.h"

/*
 * Engine.IO v4 sessions and the Socket.IO v5 namespace "/" on top of them.
 * A session is a HeraldWsRoomsClient of protocol SIO; its transport is either
 * long-polling (packets queued here, handed out on GET) or a WebSocket
 * connection of the hub (after a direct websocket handshake or the upgrade).
 */

struct _HeraldWsRoomsEio {
	HeraldWsRoomsClient *client; /* (not owned) owner */
	HeraldWsRoomsTimer timer;    /* the earliest of the deadlines below */
	gboolean upgraded;	     /* client->conn is the transport */
	gboolean probed;	     /* 2probe answered: pending GETs get a noop */
	HeraldWsRoomsConn *probe;    /* (nullable) upgrade candidate */
	gint64 upgrade_deadline;
	GQueue packets; /* (element-type GBytes) polling packets to send */
	gsize packets_bytes; /* their bytes plus HERALD_WS_ROOMS_ITEM_COST each */
	gconstpointer pong;  /* (nullable) the pong in packets, not sent yet */
	gboolean ws_pong;    /* a pong was queued on the websocket… */
	SoupServerMessage *get; /* (owned) (nullable) the held long-poll */
	gint64 next_ping;
	gint64 pong_deadline;
	gint64 connect_deadline;
	gchar *query_token; /* (nullable) `token` of the handshake URL */
	gchar socket_id[24];
	gboolean connected; /* namespace "/" */
	/* polling, closed by us: the last packets (`41`, `1`) wait for the
	 * next GET, then (or at close_deadline) the session ends */
	gboolean closing;
	gint64 close_deadline;
};

static void
herald_ws_rooms_eio_flush_get(HeraldWsRoomsClient *client);
static HeraldWsRoomsClient *
herald_ws_rooms_eio_new_pending(HeraldWsRoomsHub *hub, const gchar *address);

/* a packet into the polling queue, counted with what it really holds */
static void
herald_ws_rooms_eio_push(HeraldWsRoomsEio *eio, GBytes *packet)
{
	eio->packets_bytes += g_bytes_get_size(packet) + HERALD_WS_ROOMS_ITEM_COST;
	g_queue_push_tail(&eio->packets, g_bytes_ref(packet));
}

/* (transfer full) the oldest packet of the polling queue */
static GBytes *
herald_ws_rooms_eio_pop(HeraldWsRoomsEio *eio)
{
	GBytes *packet = g_queue_pop_head(&eio->packets);
	eio->packets_bytes -= g_bytes_get_size(packet) + HERALD_WS_ROOMS_ITEM_COST;
	if (packet == eio->pong)
		eio->pong = NULL;
	return packet;
}

/* long-poll responses handed back to libsoup and not written yet: a shutdown
 * waits for them (the last one of a session carries its `41`) */
static guint herald_ws_rooms_eio_responses = 0;

guint
herald_ws_rooms_eio_get_n_responses(void)
{
	return herald_ws_rooms_eio_responses;
}

static void
herald_ws_rooms_eio_response_finished_cb(SoupServerMessage *msg, gpointer user_data)
{
	herald_ws_rooms_eio_responses--;
}

/* sends the answer of a held GET (status and body already set) */
static void
herald_ws_rooms_eio_unpause_get(SoupServerMessage *get)
{
	herald_ws_rooms_eio_responses++;
	g_signal_connect(get,
			 "finished",
			 G_CALLBACK(herald_ws_rooms_eio_response_finished_cb),
			 NULL);
	soup_server_message_unpause(get);
}

const gchar *
herald_ws_rooms_eio_get_socket_id(HeraldWsRoomsClient *client)
{
	return client->eio != NULL ? client->eio->socket_id : "";
}

static void
herald_ws_rooms_eio_release_get(HeraldWsRoomsEio *eio)
{
	if (eio->get == NULL)
		return;
	g_signal_handlers_disconnect_by_data(eio->get, eio);
	g_clear_object(&eio->get);
}

void
herald_ws_rooms_eio_free(HeraldWsRoomsEio *eio)
{
	/* a held GET still gets an answer: the session is gone */
	if (eio->get != NULL) {
		SoupServerMessage *get = g_object_ref(eio->get);
		herald_ws_rooms_eio_release_get(eio);
		soup_server_message_set_status(get, SOUP_STATUS_OK, NULL);
		soup_server_message_set_response(get,
						 "text/plain; charset=UTF-8",
						 SOUP_MEMORY_STATIC,
						 "1",
						 1);
		herald_ws_rooms_eio_unpause_get(get);
		g_object_unref(get);
	}
	herald_ws_rooms_timers_cancel(herald_ws_rooms_hub_get_timers(eio->client->hub), &eio->timer);
	if (eio->probe != NULL)
		herald_ws_rooms_conn_orphan(eio->probe);
	g_queue_clear_full(&eio->packets, (GDestroyNotify)g_bytes_unref);
	g_free(eio->query_token);
	g_free(eio);
}

/* the session's timer at its earliest deadline: pings go out on time, not
 * on the next round of a sweep */
static void
herald_ws_rooms_eio_reschedule(HeraldWsRoomsClient *client)
{
	HeraldWsRoomsEio *eio = client->eio;
	HeraldWsRoomsTimers *timers = herald_ws_rooms_hub_get_timers(client->hub);
	gint64 deadline = G_MAXINT64;

	if (timers == NULL || eio == NULL)
		return;
	if (client->closed) {
		herald_ws_rooms_timers_cancel(timers, &eio->timer);
		return;
	}
	if (eio->closing) {
		deadline = eio->close_deadline;
	} else {
		if (eio->probe != NULL)
			deadline = MIN(deadline, eio->upgrade_deadline);
		if (!eio->connected)
			deadline = MIN(deadline, eio->connect_deadline);
		if (eio->pong_deadline != 0)
			deadline = MIN(deadline, eio->pong_deadline);
		if (eio->next_ping != 0)
			deadline = MIN(deadline, eio->next_ping);
	}
	herald_ws_rooms_timers_schedule(timers, &eio->timer, deadline == G_MAXINT64 ? 0 : deadline);
}

static HeraldWsRoomsEio *
herald_ws_rooms_eio_new(HeraldWsRoomsClient *client)
{
	HeraldWsRoomsEio *eio = g_new0(HeraldWsRoomsEio, 1);
	const HeraldWsRoomsLimits *limits = herald_ws_rooms_hub_get_limits(client->hub);
	gint64 now = g_get_monotonic_time();
	eio->client = client;
	eio->next_ping = now + (gint64)limits->ping_interval_ms * 1000;
	eio->connect_deadline = now + (gint64)limits->connect_timeout_ms * 1000;
	client->eio = eio;
	herald_ws_rooms_eio_reschedule(client);
	return eio;
}

/* ------------------------------------------------------------- sending */

static gboolean
herald_ws_rooms_eio_queue_packet(HeraldWsRoomsClient *client, GBytes *packet)
{
	HeraldWsRoomsEio *eio = client->eio;
	const HeraldWsRoomsLimits *limits = herald_ws_rooms_hub_get_limits(client->hub);
	gsize size = g_bytes_get_size(packet);

	/* a polling client has no kernel socket buffer between two polls: it may hold
	 * one polling response (max-payload) on top of the configured buffer, so a
	 * burst that a websocket connection absorbs does not drop it */
	guint64 limit = limits->outgoing_buffer_bytes + (eio->upgraded ? 0 : limits->max_payload);

	if (eio->packets.length > 0 &&
	    eio->packets_bytes + size + HERALD_WS_ROOMS_ITEM_COST > limit) {
		herald_ws_rooms_eio_close(client,
					  HERALD_WS_CLOSE_SLOW_CONSUMER,
					  "slow consumer",
					  HERALD_WS_ROOMS_REASON_SLOW_CONSUMER);
		return FALSE;
	}
	herald_ws_rooms_eio_push(eio, packet);
	herald_ws_rooms_eio_flush_get(client);
	return TRUE;
}

/* one Engine.IO packet on the current transport */
static void
herald_ws_rooms_eio_send_text(HeraldWsRoomsClient *client, const gchar *text, gsize len)
{
	HeraldWsRoomsEio *eio = client->eio;
	if (client->closed || eio == NULL || eio->closing)
		return;
	if (eio->upgraded) {
		if (client->conn != NULL)
			herald_ws_rooms_conn_send_text(client->conn, text, len);
		return;
	}
	{
		g_autoptr(GBytes) packet = g_bytes_new(text, len);
		if (herald_ws_rooms_eio_queue_packet(client, packet))
			herald_ws_rooms_hub_count_out(client->hub, 1);
	}
}

static void
herald_ws_rooms_eio_send_string(HeraldWsRoomsClient *client, GString *text)
{
	herald_ws_rooms_eio_send_text(client, text->str, text->len);
	g_string_free(text, TRUE);
}

/* a frame shared by every recipient of a delivery; FALSE if it was refused */
gboolean
herald_ws_rooms_eio_send(HeraldWsRoomsClient *client, GBytes *frame, gsize header_len)
{
	HeraldWsRoomsEio *eio = client->eio;
	if (client->closed || eio == NULL || eio->closing)
		return FALSE;
	if (eio->upgraded) {
		if (client->conn == NULL || !herald_ws_rooms_conn_send(client->conn, frame))
			return FALSE;
	} else {
		g_autoptr(GBytes) packet =
		    g_bytes_new_from_bytes(frame, header_len, g_bytes_get_size(frame) - header_len);
		if (!herald_ws_rooms_eio_queue_packet(client, packet))
			return FALSE;
	}
	herald_ws_rooms_hub_count_out(client->hub, 1);
	return TRUE;
}

static void
herald_ws_rooms_eio_cors(HeraldWsRoomsHub *hub, SoupServerMessage *msg)
{
	SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
	SoupMessageHeaders *resp = soup_server_message_get_response_headers(msg);
	const gchar *origin = soup_message_headers_get_one(req, "Origin");
	if (origin == NULL || !herald_ws_rooms_hub_origin_allowed(hub, origin))
		return;
	soup_message_headers_replace(resp, "Access-Control-Allow-Origin", origin);
	soup_message_headers_replace(resp, "Access-Control-Allow-Credentials", "true");
	soup_message_headers_append(resp, "Vary", "Origin");
}

/* answer the held GET with what is queued (at most max-payload bytes) */
static void
herald_ws_rooms_eio_flush_get(HeraldWsRoomsClient *client)
{
	HeraldWsRoomsEio *eio = client->eio;
	const HeraldWsRoomsLimits *limits = herald_ws_rooms_hub_get_limits(client->hub);
	g_autoptr(GString) body = NULL;
	SoupServerMessage *get;

	if (eio->get == NULL || eio->packets.length == 0)
		return;
	body = g_string_new(NULL);
	while (eio->packets.length > 0) {
		GBytes *packet = g_queue_peek_head(&eio->packets);
		gsize size = 0;
		const gchar *data = g_bytes_get_data(packet, &size);
		if (body->len > 0 && body->len + 1 + size > limits->max_payload)
			break;
		/* `41` ends a response: with the `1` after it in the same payload,
		 * socket.io-client fires `disconnect` twice; the `1` waits for the
		 * next GET (or the client's own `1` ends the session first) */
		gboolean last = size == 2 && memcmp(data, "41", 2) == 0;
		if (body->len > 0)
			g_string_append_c(body, HERALD_EIO_SEPARATOR);
		g_string_append_len(body, data, (gssize)size);
		g_bytes_unref(herald_ws_rooms_eio_pop(eio));
		if (last)
			break;
	}
	get = g_object_ref(eio->get);
	herald_ws_rooms_eio_release_get(eio);
	soup_server_message_set_status(get, SOUP_STATUS_OK, NULL);
	herald_ws_rooms_eio_cors(client->hub, get);
	soup_server_message_set_response(get,
					 "text/plain; charset=UTF-8",
					 SOUP_MEMORY_COPY,
					 body->str,
					 body->len);
	herald_ws_rooms_eio_unpause_get(get);
	g_object_unref(get);
}

static void
herald_ws_rooms_eio_get_finished_cb(SoupServerMessage *msg, gpointer user_data)
{
	HeraldWsRoomsEio *eio = user_data;
	herald_ws_rooms_eio_release_get(eio);
}

/* answer a held GET with a noop so the client can finish its upgrade */
static void
herald_ws_rooms_eio_noop_get(HeraldWsRoomsClient *client)
{
	g_autoptr(GBytes) noop = g_bytes_new_static("6", 1);
	HeraldWsRoomsEio *eio = client->eio;
	if (eio->get == NULL)
		return;
	herald_ws_rooms_eio_push(eio, noop);
	herald_ws_rooms_eio_flush_get(client);
}

/* ------------------------------------------------------------- closing */

/* `41` tells socket.io-client not to reconnect ("io server disconnect"): right
 * for a deliberate disconnect, when reconnecting cannot help; wrong after a
 * network hiccup, a slow consumer or a shutdown (the official server closes
 * the Engine.IO transport then, and its clients come back with their backoff
 * to the next instance) */
static gboolean
herald_ws_rooms_eio_reason_is_final(HeraldWsRoomsReason why)
{
	return why == HERALD_WS_ROOMS_REASON_TOKEN_EXPIRED ||
	       why == HERALD_WS_ROOMS_REASON_UNAUTHORIZED ||
	       why == HERALD_WS_ROOMS_REASON_RATE_LIMITED;
}

/* polling: the session ends with the next GET (which takes what is still
 * queued) or the client's `1`, at the latest after close-timeout-ms */
static void
herald_ws_rooms_eio_begin_closing(HeraldWsRoomsClient *client)
{
	HeraldWsRoomsEio *eio = client->eio;
	const HeraldWsRoomsLimits *limits = herald_ws_rooms_hub_get_limits(client->hub);
	eio->closing = TRUE;
	eio->close_deadline = g_get_monotonic_time() + (gint64)limits->close_timeout_ms * 1000;
	/* already expired or closing: the sweep must not close it twice */
	client->expires = 0;
	herald_ws_rooms_eio_reschedule(client);
}

/**
 * herald_ws_rooms_eio_close:
 * @code: WebSocket close code, 0 for none (the transport is gone)
 *
 * Ends the session; a connected socket gets `41` first when the reason is
 * final (shutdown, expired or invalid token, rate limit).
 */
void
herald_ws_rooms_eio_close(HeraldWsRoomsClient *client,
			  guint16 code,
			  const gchar *reason,
			  HeraldWsRoomsReason why)
{
	HeraldWsRoomsEio *eio = client->eio;
	gboolean disconnect;

	if (client->closed || eio == NULL)
		return;
	if (eio->closing) {
		/* the transport is gone meanwhile: no need to wait for a GET */
		if (code == 0)
			herald_ws_rooms_client_close(client);
		return;
	}
	g_debug("closing Socket.IO session: %s", reason != NULL ? reason : "");
	disconnect = code != 0 && eio->connected && herald_ws_rooms_eio_reason_is_final(why);
	if (eio->upgraded) {
		if (client->conn != NULL && herald_ws_rooms_conn_is_open(client->conn)) {
			g_autoptr(GBytes) last = NULL;
			if (disconnect)
				last = herald_ws_frame_new(HERALD_WS_OPCODE_TEXT,
							   (const guint8 *)"41",
							   2);
			if (code != 0)
				herald_ws_rooms_conn_close_full(client->conn,
								last,
								code,
								reason,
								why);
			else
				herald_ws_rooms_conn_abort(client->conn, why);
		}
	} else {
		herald_ws_rooms_hub_count_close(client->hub, why);
		/* the client learns it on its pending or next GET */
		if (code != 0 && why != HERALD_WS_ROOMS_REASON_SLOW_CONSUMER) {
			g_autoptr(GBytes) packet_41 = g_bytes_new_static("41", 2);
			g_autoptr(GBytes) packet_1 = g_bytes_new_static("1", 1);
			if (disconnect)
				herald_ws_rooms_eio_push(eio, packet_41);
			herald_ws_rooms_eio_push(eio, packet_1);
			herald_ws_rooms_eio_flush_get(client);
		}
	}
	if (eio->probe != NULL) {
		herald_ws_rooms_conn_orphan(eio->probe);
		eio->probe = NULL;
	}
	eio->probed = FALSE;
	/* no GET held (or more than one response's worth queued): without
	 * waiting, the `41` would be freed with the session and the client
	 * would report a transport error on its next poll instead */
	if (!eio->upgraded && eio->packets.length > 0 && code != 0 &&
	    why != HERALD_WS_ROOMS_REASON_SLOW_CONSUMER) {
		herald_ws_rooms_eio_begin_closing(client);
		return;
	}
	herald_ws_rooms_client_close(client);
}

/* no `41`: a websocket gets the close frame 1012 alone, a polling session
 * `1` alone on its held or next GET; socket.io-client reports "transport
 * close" and reconnects */
void
herald_ws_rooms_eio_shutdown(HeraldWsRoomsClient *client)
{
	herald_ws_rooms_eio_close(client,
				  HERALD_WS_CLOSE_SERVICE_RESTART,
				  "service restart",
				  HERALD_WS_ROOMS_REASON_SHUTDOWN);
}

static void
herald_ws_rooms_eio_check_deadlines(HeraldWsRoomsClient *client, gint64 now);

/* the deadlines of a session: from its timer, and from the hub's sweep as a
 * fallback */
void
herald_ws_rooms_eio_tick(HeraldWsRoomsClient *client, gint64 now)
{
	herald_ws_rooms_eio_check_deadlines(client, now);
	herald_ws_rooms_eio_reschedule(client);
}

void
herald_ws_rooms_eio_timer_cb(HeraldWsRoomsTimer *timer, gpointer user_data)
{
	HeraldWsRoomsEio *eio =
	    (HeraldWsRoomsEio *)((guint8 *)timer - G_STRUCT_OFFSET(HeraldWsRoomsEio, timer));
	HeraldWsRoomsClient *client = eio->client;

	if (client->closed)
		return;
	herald_ws_rooms_eio_tick(client, g_get_monotonic_time());
}

static void
herald_ws_rooms_eio_check_deadlines(HeraldWsRoomsClient *client, gint64 now)
{
	HeraldWsRoomsEio *eio = client->eio;
	const HeraldWsRoomsLimits *limits = herald_ws_rooms_hub_get_limits(client->hub);

	if (eio == NULL)
		return;
	if (eio->closing) {
		if (now >= eio->close_deadline)
			herald_ws_rooms_client_close(client);
		return;
	}
	if (eio->probe != NULL && now >= eio->upgrade_deadline) {
		/* no `5` in time: stay on polling */
		herald_ws_rooms_conn_orphan(eio->probe);
		eio->probe = NULL;
		eio->probed = FALSE;
	}
	if (!eio->connected && now >= eio->connect_deadline) {
		herald_ws_rooms_eio_close(client,
					  HERALD_WS_CLOSE_POLICY,
					  "no CONNECT packet in time",
					  HERALD_WS_ROOMS_REASON_TIMEOUT);
		return;
	}
	if (eio->pong_deadline != 0 && now >= eio->pong_deadline) {
		herald_ws_rooms_eio_close(client,
					  HERALD_WS_CLOSE_GOING_AWAY,
					  "ping timeout",
					  HERALD_WS_ROOMS_REASON_TIMEOUT);
		return;
	}
	if (eio->next_ping != 0 && now >= eio->next_ping) {
		eio->next_ping = 0;
		eio->pong_deadline = now + (gint64)limits->ping_timeout_ms * 1000;
		herald_ws_rooms_eio_send_text(client, "2", 1);
	}
}

/* ------------------------------------------------------------ Socket.IO */

static void
herald_ws_rooms_sio_ack(HeraldWsRoomsClient *client, gint64 ack_id, const gchar *json)
{
	if (ack_id < 0)
		return;
	herald_ws_rooms_eio_send_string(client, herald_sio_ack_new(ack_id, json));
}

static gchar *
herald_ws_rooms_sio_result(gboolean ok, const gchar *room, const GError *error)
{
	GString *out = g_string_new(ok ? "{\"ok\":true" : "{\"ok\":false");
	if (room != NULL) {
		g_string_append(out, ",\"room\":");
		herald_ws_rooms_json_append_string(out, room);
	}
	if (error != NULL) {
		g_string_append(out, ",\"error\":");
		herald_ws_rooms_json_append_string(out, error->message);
		g_string_append(out, ",\"code\":");
		herald_ws_rooms_json_append_string(
		    out,
		    error->domain == HERALD_ERROR ? herald_error_to_code(error->code) : "internal");
	}
	g_string_append_c(out, '}');
	return g_string_free(out, FALSE);
}

/* an ack `[result]` when asked for, else an event (`subscribed`, `error`…) */
static void
herald_ws_rooms_sio_reply(HeraldWsRoomsClient *client,
			  gint64 ack_id,
			  const gchar *event,
			  gboolean ok,
			  const gchar *room,
			  const GError *error)
{
	g_autofree gchar *result = herald_ws_rooms_sio_result(ok, room, error);
	if (ack_id >= 0) {
		herald_ws_rooms_sio_ack(client, ack_id, result);
		return;
	}
	herald_ws_rooms_eio_send_string(client, herald_sio_event_new(ok ? event : "error", result));
}

/* a string or integer member of the first event argument */
static gchar *
herald_ws_rooms_sio_get_arg(JsonArray *args, const gchar *name)
{
	JsonNode *arg;
	JsonNode *node;
	if (json_array_get_length(args) < 2)
		return NULL;
	arg = json_array_get_element(args, 1);
	/* `emit("subscribe", "orders")` is accepted too */
	if (JSON_NODE_HOLDS_VALUE(arg) && json_node_get_value_type(arg) == G_TYPE_STRING)
		return g_strdup(json_node_get_string(arg));
	if (!JSON_NODE_HOLDS_OBJECT(arg))
		return NULL;
	node = json_object_get_member(json_node_get_object(arg), name);
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node))
		return NULL;
	if (json_node_get_value_type(node) == G_TYPE_STRING)
		return g_strdup(json_node_get_string(node));
	if (json_node_get_value_type(node) == G_TYPE_INT64)
		return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
	return NULL;
}

static void
herald_ws_rooms_sio_connect(HeraldWsRoomsClient *client, HeraldSioPacket *packet)
{
	HeraldWsRoomsEio *eio = client->eio;
	HeraldAuth *auth = herald_ws_rooms_hub_get_auth(client->hub);
	g_autoptr(HeraldIdentity) identity = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *token = NULL;
	g_autofree gchar *connected = NULL;
	g_autofree gchar *uuid = NULL;
	const gchar *code = "invalid_token";
	GString *reply;

	if (eio->connected)
		return;
	if (packet->data != NULL) {
		JsonNode *node =
		    json_object_get_member(json_node_get_object(packet->data), "token");
		if (node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
		    json_node_get_value_type(node) == G_TYPE_STRING)
			token = g_strdup(json_node_get_string(node));
	}
	if (token == NULL)
		token = g_strdup(eio->query_token);
	if (token == NULL || token[0] == '\0') {
		code = "missing_token";
		g_set_error_literal(&error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNAUTHENTICATED,
				    /* TRANSLATORS: Socket.IO connect_error */
				    _("missing token"));
	} else if (auth == NULL) {
		code = "unavailable";
		g_set_error_literal(&error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNAVAILABLE,
				    /* TRANSLATORS: Socket.IO connect_error */
				    _("authentication is not configured"));
	} else {
		identity = herald_auth_verify(auth, token, &error);
		if (identity == NULL &&
		    g_error_matches(error, HERALD_ERROR, HERALD_ERROR_TOKEN_EXPIRED))
			code = "token_expired";
	}
	/* the socket id may be shown to others (presence); the sid is a secret */
	uuid = g_uuid_string_random();
	g_strlcpy(eio->socket_id, uuid, sizeof(eio->socket_id));
	if (identity != NULL && !herald_ws_rooms_client_register(client, identity, &error))
		code = "server_full";
	if (error != NULL) {
		herald_ws_rooms_hub_count_reject(client->hub, code);
		reply = g_string_new("44{\"message\":");
		herald_ws_rooms_json_append_string(
		    reply,
		    g_strcmp0(code, "server_full") == 0 ? "server full" : "unauthorized");
		g_string_append(reply, ",\"data\":{\"code\":");
		herald_ws_rooms_json_append_string(reply, code);
		g_string_append(reply, ",\"reason\":");
		herald_ws_rooms_json_append_string(reply, error->message);
		g_string_append(reply, "}}");
		herald_ws_rooms_eio_send_string(client, reply);
		return;
	}
	eio->connected = TRUE;
	reply = g_string_new("40{\"sid\":");
	herald_ws_rooms_json_append_string(reply, eio->socket_id);
	g_string_append_c(reply, '}');
	herald_ws_rooms_eio_send_string(client, reply);
	connected = herald_ws_rooms_client_connected_json(client);
	herald_ws_rooms_eio_send_string(client, herald_sio_event_new("connected", connected));
}

static void
herald_ws_rooms_sio_event(HeraldWsRoomsClient *client, HeraldSioPacket *packet)
{
	JsonArray *args = json_node_get_array(packet->data);
	JsonNode *first = json_array_get_element(args, 0);
	g_autoptr(GError) error = NULL;
	const gchar *name;

	if (!client->eio->connected)
		return;
	name = json_node_get_value_type(first) == G_TYPE_STRING ? json_node_get_string(first) : "";

	if (g_strcmp0(name, "subscribe") == 0 || g_strcmp0(name, "subscribe_solicitud") == 0) {
		g_autofree gchar *room = NULL;
		if (g_strcmp0(name, "subscribe") == 0) {
			room = herald_ws_rooms_sio_get_arg(args, "room");
		} else {
			g_autofree gchar *id = herald_ws_rooms_sio_get_arg(args, "solicitud_id");
			if (id != NULL)
				room = g_strdup_printf("solicitud_%s", id);
		}
		if (!herald_ws_rooms_client_subscribe(client, room, &error)) {
			herald_ws_rooms_sio_reply(client, packet->ack_id, NULL, FALSE, room, error);
			return;
		}
		herald_ws_rooms_sio_reply(client, packet->ack_id, "subscribed", TRUE, room, NULL);
		return;
	}
	if (g_strcmp0(name, "unsubscribe") == 0 || g_strcmp0(name, "unsubscribe_solicitud") == 0) {
		g_autofree gchar *room = NULL;
		if (g_strcmp0(name, "unsubscribe") == 0) {
			room = herald_ws_rooms_sio_get_arg(args, "room");
		} else {
			g_autofree gchar *id = herald_ws_rooms_sio_get_arg(args, "solicitud_id");
			if (id != NULL)
				room = g_strdup_printf("solicitud_%s", id);
		}
		if (!herald_ws_rooms_room_check(room, &error)) {
			herald_ws_rooms_sio_reply(client, packet->ack_id, NULL, FALSE, room, error);
			return;
		}
		herald_ws_rooms_client_unsubscribe(client, room);
		herald_ws_rooms_sio_reply(client, packet->ack_id, "unsubscribed", TRUE, room, NULL);
		return;
	}
	if (g_strcmp0(name, "ping") == 0) {
		g_autofree gchar *ts = herald_timestamp_format(g_get_real_time());
		g_autofree gchar *payload = g_strdup_printf("{\"timestamp\":\"%s\"}", ts);
		/* one `pong` event per ping (seed 001's clients listen to it), and
		 * the ack when the client asked for one */
		herald_ws_rooms_eio_send_string(client, herald_sio_event_new("pong", payload));
		if (packet->ack_id >= 0) {
			g_autofree gchar *result =
			    g_strdup_printf("{\"ok\":true,\"timestamp\":\"%s\"}", ts);
			herald_ws_rooms_sio_ack(client, packet->ack_id, result);
		}
		return;
	}
	if (g_strcmp0(name, "refresh") == 0) {
		g_autofree gchar *token = herald_ws_rooms_sio_get_arg(args, "token");
		g_autofree gchar *result = NULL;
		g_autoptr(GPtrArray) left = NULL;
		if (!herald_ws_rooms_client_refresh(client, token, &left, &error)) {
			herald_ws_rooms_sio_reply(client, packet->ack_id, NULL, FALSE, NULL, error);
			if (g_error_matches(error, HERALD_ERROR, HERALD_ERROR_UNAUTHENTICATED))
				herald_ws_rooms_eio_close(client,
							  HERALD_WS_CLOSE_UNAUTHORIZED,
							  "invalid token",
							  HERALD_WS_ROOMS_REASON_UNAUTHORIZED);
			return;
		}
		/* the ack, or else the event `refreshed`, says what the refresh
		 * re-authorized: role, rooms and the rooms left */
		result = herald_ws_rooms_client_refreshed_json(client, left, TRUE);
		if (packet->ack_id >= 0)
			herald_ws_rooms_sio_ack(client, packet->ack_id, result);
		else
			herald_ws_rooms_eio_send_string(client,
							herald_sio_event_new("refreshed", result));
		return;
	}
	g_set_error(&error,
		    HERALD_ERROR,
		    HERALD_ERROR_NOT_FOUND,
		    /* TRANSLATORS: Socket.IO error; %s is an event name */
		    _("unknown event '%s'"),
		    name);
	herald_ws_rooms_sio_reply(client, packet->ack_id, NULL, FALSE, NULL, error);
}

/* the Socket.IO packet inside an Engine.IO `4`; FALSE closes the session */
static gboolean
herald_ws_rooms_sio_packet(HeraldWsRoomsClient *client, const gchar *text, gsize len)
{
	HeraldSioPacket packet = {0};
	g_autoptr(GError) error = NULL;

	/* every Socket.IO packet counts, CONNECT attempts included */
	herald_ws_rooms_hub_count_message_in(client->hub);
	if (!herald_ws_rooms_client_rate_ok(client)) {
		herald_ws_rooms_eio_close(client,
					  HERALD_WS_CLOSE_RATE_LIMITED,
					  "rate limited",
					  HERALD_WS_ROOMS_REASON_RATE_LIMITED);
		return TRUE;
	}
	if (!herald_sio_packet_parse(text, len, &packet, &error)) {
		herald_sio_packet_clear(&packet);
		if (!packet.too_deep)
			return FALSE;
		herald_ws_rooms_hub_count_reject(client->hub, "json_too_deep");
		/* over polling the POST answers 400 and the session is closed */
		if (!client->eio->upgraded)
			return FALSE;
		herald_ws_rooms_eio_close(client,
					  HERALD_WS_CLOSE_BAD_DATA,
					  "JSON nested too deep",
					  HERALD_WS_ROOMS_REASON_PROTOCOL);
		return TRUE;
	}
	if (packet.type == HERALD_SIO_BINARY_EVENT || packet.type == HERALD_SIO_BINARY_ACK) {
		herald_sio_packet_clear(&packet);
		herald_ws_rooms_eio_close(client,
					  HERALD_WS_CLOSE_UNSUPPORTED,
					  "binary packets are not supported",
					  HERALD_WS_ROOMS_REASON_PROTOCOL);
		return TRUE;
	}
	if (g_strcmp0(packet.nsp, "/") != 0) {
		if (packet.type == HERALD_SIO_CONNECT) {
			GString *reply = g_string_new("44");
			g_string_append(reply, packet.nsp);
			g_string_append(reply, ",{\"message\":\"Invalid namespace\"}");
			herald_ws_rooms_eio_send_string(client, reply);
		}
		herald_sio_packet_clear(&packet);
		return TRUE;
	}
	switch (packet.type) {
	case HERALD_SIO_CONNECT:
		herald_ws_rooms_sio_connect(client, &packet);
		break;
	case HERALD_SIO_DISCONNECT:
		/* over polling the client's engine says `1` next: ending the session
		 * now would answer that POST with "Session ID unknown" */
		if (!client->eio->upgraded) {
			herald_ws_rooms_hub_count_close(client->hub, HERALD_WS_ROOMS_REASON_CLIENT);
			if (client->eio->probe != NULL) {
				herald_ws_rooms_conn_orphan(client->eio->probe);
				client->eio->probe = NULL;
			}
			client->eio->probed = FALSE;
			herald_ws_rooms_eio_begin_closing(client);
			break;
		}
		/* "/" is the only namespace, so the session ends with it; the
		 * official server leaves the transport to the client, whose engine
		 * closes it with a close frame right after `41`. A closing
		 * handshake (1000) rather than a dropped TCP connection, which
		 * the client would see as 1006 */
		herald_ws_rooms_eio_close(client,
					  HERALD_WS_CLOSE_NORMAL,
					  "client disconnect",
					  HERALD_WS_ROOMS_REASON_CLIENT);
		break;
	case HERALD_SIO_EVENT:
		herald_ws_rooms_sio_event(client, &packet);
		break;
	case HERALD_SIO_ACK:
		/* the server never asks for acks */
		break;
	default:
		herald_sio_packet_clear(&packet);
		return FALSE;
	}
	herald_sio_packet_clear(&packet);
	return TRUE;
}

/* a client's ping counts toward rate-limit like a message, and gets one pong
 * at most while an earlier pong is still unsent (a POST of many pings or a
 * burst of ping frames queues one) */
static void
herald_ws_rooms_eio_ping(HeraldWsRoomsClient *client, const gchar *text, gsize len)
{
	HeraldWsRoomsEio *eio = client->eio;
	g_autofree gchar *pong = NULL;

	if (!herald_ws_rooms_client_rate_ok(client)) {
		herald_ws_rooms_eio_close(client,
					  HERALD_WS_CLOSE_RATE_LIMITED,
					  "rate limited",
					  HERALD_WS_ROOMS_REASON_RATE_LIMITED);
		return;
	}
	if (eio->upgraded) {
		/* …and is unsent while the connection's queue is not empty */
		if (eio->ws_pong && client->conn != NULL &&
		    !herald_ws_rooms_queue_is_empty(&client->conn->queue))
			return;
		eio->ws_pong = TRUE;
	} else if (eio->pong != NULL) {
		return;
	}
	pong = g_strndup(text, len);
	pong[0] = HERALD_EIO_PONG;
	herald_ws_rooms_eio_send_text(client, pong, len);
	if (!eio->upgraded && !client->closed && eio->packets.length > 0)
		eio->pong = g_queue_peek_tail(&eio->packets);
}

/* one Engine.IO packet from either transport; FALSE: invalid, close */
static gboolean
herald_ws_rooms_eio_packet(HeraldWsRoomsClient *client, const gchar *text, gsize len)
{
	HeraldWsRoomsEio *eio = client->eio;
	const HeraldWsRoomsLimits *limits = herald_ws_rooms_hub_get_limits(client->hub);

	/* closing: the rest of a POST is not acted upon, but the client's
	 * close ends the session at once */
	if (eio->closing) {
		if (len > 0 && text[0] == HERALD_EIO_CLOSE)
			herald_ws_rooms_client_close(client);
		return TRUE;
	}
	if (!herald_eio_packet_is_valid(text, len))
		return FALSE;
	switch (text[0]) {
	case HERALD_EIO_CLOSE:
		if (!eio->upgraded)
			herald_ws_rooms_eio_noop_get(client);
		herald_ws_rooms_eio_close(client, 0, "client close", HERALD_WS_ROOMS_REASON_CLIENT);
		return TRUE;
	case HERALD_EIO_PING:
		herald_ws_rooms_eio_ping(client, text, len);
		return TRUE;
	case HERALD_EIO_PONG:
		eio->pong_deadline = 0;
		eio->next_ping = g_get_monotonic_time() + (gint64)limits->ping_interval_ms * 1000;
		herald_ws_rooms_eio_reschedule(client);
		return TRUE;
	case HERALD_EIO_MESSAGE:
		return herald_ws_rooms_sio_packet(client, text + 1, len - 1);
	case HERALD_EIO_NOOP:
		return TRUE;
	default:
		return FALSE;
	}
}

/* ------------------------------------------------------- ws transport */

static void
herald_ws_rooms_eio_do_upgrade(HeraldWsRoomsClient *client)
{
	HeraldWsRoomsEio *eio = client->eio;
	HeraldWsRoomsConn *conn = eio->probe;

	eio->probe = NULL;
	eio->upgraded = TRUE;
	client->conn = conn;
	/* the held GET ends with a noop; what polling still had goes over ws */
	herald_ws_rooms_eio_noop_get(client);
	while (eio->packets.length > 0) {
		g_autoptr(GBytes) packet = herald_ws_rooms_eio_pop(eio);
		gsize size = 0;
		const guint8 *data = g_bytes_get_data(packet, &size);
		g_autoptr(GBytes) frame = herald_ws_frame_new(HERALD_WS_OPCODE_TEXT, data, size);
		herald_ws_rooms_conn_send(conn, frame);
	}
	eio->packets_bytes = 0;
	eio->pong = NULL;
}

static void
herald_ws_rooms_eio_ws_message_cb(HeraldWsRoomsConn *conn,
				  guint8 opcode,
				  const guint8 *data,
				  gsize len,
				  gpointer user_data)
{
	HeraldWsRoomsClient *client = user_data;
	HeraldWsRoomsEio *eio = client->eio;
	const gchar *text = (const gchar *)data;

	if (client->closed || eio == NULL)
		return;
	if (opcode != HERALD_WS_OPCODE_TEXT) {
		herald_ws_rooms_conn_close(conn,
					   HERALD_WS_CLOSE_UNSUPPORTED,
					   "binary packets are not supported",
					   HERALD_WS_ROOMS_REASON_PROTOCOL);
		if (conn == client->conn)
			herald_ws_rooms_eio_close(client, 0, NULL, HERALD_WS_ROOMS_REASON_PROTOCOL);
		return;
	}
	/* the upgrade probe: only `2probe` and `5` are expected on it */
	if (conn == eio->probe) {
		if (len == 6 && memcmp(text, "2probe", 6) == 0) {
			herald_ws_rooms_conn_send_text(conn, "3probe", 6);
			eio->probed = TRUE;
			herald_ws_rooms_eio_noop_get(client);
		} else if (len == 1 && text[0] == HERALD_EIO_UPGRADE && eio->probed) {
			herald_ws_rooms_eio_do_upgrade(client);
		} else {
			herald_ws_rooms_conn_close(conn,
						   HERALD_WS_CLOSE_PROTOCOL_ERROR,
						   "unexpected packet during upgrade",
						   HERALD_WS_ROOMS_REASON_PROTOCOL);
		}
		return;
	}
	if (conn != client->conn)
		return;
	if (!herald_ws_rooms_eio_packet(client, text, len))
		herald_ws_rooms_eio_close(client,
					  HERALD_WS_CLOSE_PROTOCOL_ERROR,
					  "invalid packet",
					  HERALD_WS_ROOMS_REASON_PROTOCOL);
}

static void
herald_ws_rooms_eio_ws_closed_cb(HeraldWsRoomsConn *conn, gpointer user_data)
{
	HeraldWsRoomsClient *client = user_data;
	HeraldWsRoomsEio *eio = client->eio;
	if (eio == NULL)
		return;
	if (conn == eio->probe) {
		herald_ws_rooms_conn_orphan(conn);
		eio->probe = NULL;
		eio->probed = FALSE;
		return;
	}
	if (conn == client->conn)
		herald_ws_rooms_client_close(client);
}

typedef struct {
	gchar *sid; /* (nullable) upgrade of this session */
	gchar *query_token;
	gchar *address; /* (nullable) source address of a new session */
} HeraldWsRoomsEioUpgrade;

static void
herald_ws_rooms_eio_upgrade_free(gpointer data)
{
	HeraldWsRoomsEioUpgrade *up = data;
	g_free(up->sid);
	g_free(up->query_token);
	g_free(up->address);
	g_free(up);
}

static void
herald_ws_rooms_eio_adopt_cb(HeraldWsRoomsHub *hub, HeraldWsRoomsConn *conn, gpointer user_data)
{
	HeraldWsRoomsEioUpgrade *up = user_data;
	const HeraldWsRoomsLimits *limits = herald_ws_rooms_hub_get_limits(hub);
	HeraldWsRoomsClient *client;
	HeraldWsRoomsEio *eio;
	g_autofree gchar *open = NULL;

	if (up->sid != NULL) {
		client = herald_ws_rooms_hub_lookup_sid(hub, up->sid);
		if (client == NULL || client->eio->upgraded || client->eio->probe != NULL ||
		    client->eio->closing) {
			herald_ws_rooms_conn_close(conn,
						   HERALD_WS_CLOSE_POLICY,
						   "session unknown or already upgraded",
						   HERALD_WS_ROOMS_REASON_PROTOCOL);
			herald_ws_rooms_conn_orphan(conn);
			return;
		}
		client->eio->probe = conn;
		client->eio->upgrade_deadline =
		    g_get_monotonic_time() + (gint64)limits->upgrade_timeout_ms * 1000;
		herald_ws_rooms_eio_reschedule(client);
		herald_ws_rooms_conn_set_handlers(conn,
						  herald_ws_rooms_eio_ws_message_cb,
						  herald_ws_rooms_eio_ws_closed_cb,
						  client);
		return;
	}

	/* websocket-only: the session starts on this connection */
	client = herald_ws_rooms_eio_new_pending(hub, up->address);
	eio = herald_ws_rooms_eio_new(client);
	eio->upgraded = TRUE;
	eio->query_token = g_steal_pointer(&up->query_token);
	client->conn = conn;
	herald_ws_rooms_conn_set_handlers(conn,
					  herald_ws_rooms_eio_ws_message_cb,
					  herald_ws_rooms_eio_ws_closed_cb,
					  client);
	open = herald_eio_open_new(client->id,
				   FALSE,
				   limits->ping_interval_ms,
				   limits->ping_timeout_ms,
				   limits->max_payload);
	herald_ws_rooms_eio_send_text(client, open, strlen(open));
}

/* ------------------------------------------------------------- pending */

/* an evicted pending session ends at once: a held GET gets `1`, its next
 * request "Session ID unknown" (400 code 1), a websocket a close 1008 */
static void
herald_ws_rooms_eio_evict(HeraldWsRoomsClient *client)
{
	HeraldWsRoomsBudget *budget = herald_ws_rooms_hub_get_budget(client->hub);

	herald_ws_rooms_budget_remove_pending(budget, &client->budget);
	herald_ws_rooms_budget_count_evicted(budget);
	if (client->eio != NULL && client->eio->upgraded) {
		herald_ws_rooms_eio_close(client,
					  HERALD_WS_CLOSE_POLICY,
					  "too many sessions without CONNECT",
					  HERALD_WS_ROOMS_REASON_SERVER_FULL);
		/* (a closed transport already ended the session) */
		herald_ws_rooms_client_close(client);
		return;
	}
	herald_ws_rooms_hub_count_close(client->hub, HERALD_WS_ROOMS_REASON_SERVER_FULL);
	herald_ws_rooms_client_close(client);
}

/* a new Engine.IO session, pending until a CONNECT with a valid token: the
 * oldest pending session (of its address, or of all) makes room for it, so a
 * flood of handshakes never locks out a client that goes on to CONNECT */
static HeraldWsRoomsClient *
herald_ws_rooms_eio_new_pending(HeraldWsRoomsHub *hub, const gchar *address)
{
	const HeraldWsRoomsLimits *limits = herald_ws_rooms_hub_get_limits(hub);
	HeraldWsRoomsBudget *budget = herald_ws_rooms_hub_get_budget(hub);
	HeraldWsRoomsClient *client;
	HeraldWsRoomsClient *victim;

	while ((victim = herald_ws_rooms_budget_pick_victim(budget,
							    address,
							    limits->max_pending,
							    limits->max_pending_per_address)) != NULL)
		herald_ws_rooms_eio_evict(victim);
	client = herald_ws_rooms_client_new(hub, HERALD_WS_ROOMS_PROTO_SIO);
	herald_ws_rooms_budget_set_address(budget, &client->budget, client, address);
	herald_ws_rooms_budget_add_pending(budget, &client->budget);
	return client;
}

/* ---------------------------------------------------------------- HTTP */

static void
herald_ws_rooms_eio_reply_error(HeraldWsRoomsHub *hub,
				SoupServerMessage *msg,
				guint status,
				gint code,
				const gchar *message)
{
	g_autofree gchar *body = NULL;
	GString *out = g_string_new(NULL);
	g_string_append_printf(out, "{\"code\":%d,\"message\":", code);
	herald_ws_rooms_json_append_string(out, message);
	g_string_append_c(out, '}');
	body = g_string_free(out, FALSE);
	soup_server_message_set_status(msg, status, NULL);
	herald_ws_rooms_eio_cors(hub, msg);
	soup_server_message_set_response(msg,
					 "application/json",
					 SOUP_MEMORY_COPY,
					 body,
					 strlen(body));
}

static void
herald_ws_rooms_eio_reply_text(HeraldWsRoomsHub *hub,
			       SoupServerMessage *msg,
			       const gchar *content_type,
			       const gchar *text)
{
	soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
	herald_ws_rooms_eio_cors(hub, msg);
	soup_server_message_set_response(msg, content_type, SOUP_MEMORY_COPY, text, strlen(text));
}

static void
herald_ws_rooms_eio_poll_get(HeraldWsRoomsHub *hub,
			     HeraldWsRoomsClient *client,
			     SoupServerMessage *msg)
{
	HeraldWsRoomsEio *eio = client->eio;
	gboolean had_packets;

	if (eio->get != NULL) {
		/* overlapping polls: the session is closed, the first poll gets `1` */
		herald_ws_rooms_eio_reply_error(hub,
						msg,
						SOUP_STATUS_BAD_REQUEST,
						3,
						"Bad request");
		herald_ws_rooms_eio_close(client,
					  HERALD_WS_CLOSE_POLICY,
					  "overlapping GET",
					  HERALD_WS_ROOMS_REASON_PROTOCOL);
		return;
	}
	eio->get = g_object_ref(msg);
	g_signal_connect(msg, "finished", G_CALLBACK(herald_ws_rooms_eio_get_finished_cb), eio);
	soup_server_message_pause(msg);
	if (eio->probed) {
		herald_ws_rooms_eio_noop_get(client);
		return;
	}
	had_packets = eio->packets.length > 0;
	herald_ws_rooms_eio_flush_get(client);
	/* the last packets of a session we closed are out (after the client's
	 * `41` nothing is queued: the GET waits for its `1`) */
	if (eio->closing && had_packets && eio->packets.length == 0)
		herald_ws_rooms_client_close(client);
}

/* packets in a polling payload: one more than its separators */
static guint64
herald_ws_rooms_eio_count_packets(const gchar *data, gsize len)
{
	guint64 n = 1;
	const gchar *end = data + len;
	const gchar *p = data;
	while (p < end && (p = memchr(p, HERALD_EIO_SEPARATOR, (gsize)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

static void
herald_ws_rooms_eio_poll_post(HeraldWsRoomsHub *hub,
			      HeraldWsRoomsClient *client,
			      SoupServerMessage *msg)
{
	const HeraldWsRoomsLimits *limits = herald_ws_rooms_hub_get_limits(hub);
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	const gchar *content_type = soup_message_headers_get_content_type(headers, NULL);
	g_autoptr(GBytes) body =
	    soup_message_body_flatten(soup_server_message_get_request_body(msg));
	g_autoptr(GPtrArray) packets = NULL;
	g_autoptr(GError) error = NULL;
	gsize len = 0;
	const gchar *data = g_bytes_get_data(body, &len);

	if (len > limits->max_payload) {
		herald_ws_rooms_eio_reply_error(hub,
						msg,
						SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
						3,
						"Payload too large");
		return;
	}
	if (g_strcmp0(content_type, "application/octet-stream") == 0) {
		herald_ws_rooms_eio_reply_error(hub,
						msg,
						SOUP_STATUS_BAD_REQUEST,
						3,
						"Bad request");
		return;
	}
	/* counted before anything is split or allocated */
	if (herald_ws_rooms_eio_count_packets(data, len) > limits->max_packets_per_payload) {
		herald_ws_rooms_budget_count_too_many_packets(herald_ws_rooms_hub_get_budget(hub));
		herald_ws_rooms_eio_reply_error(hub,
						msg,
						SOUP_STATUS_BAD_REQUEST,
						3,
						"Bad request");
		herald_ws_rooms_eio_close(client,
					  HERALD_WS_CLOSE_POLICY,
					  "too many packets in one payload",
					  HERALD_WS_ROOMS_REASON_PROTOCOL);
		return;
	}
	packets = herald_eio_payload_split(data, len, &error);
	if (packets == NULL) {
		herald_ws_rooms_eio_reply_error(hub,
						msg,
						SOUP_STATUS_BAD_REQUEST,
						3,
						"Bad request");
		herald_ws_rooms_eio_close(client,
					  HERALD_WS_CLOSE_PROTOCOL_ERROR,
					  error->message,
					  HERALD_WS_ROOMS_REASON_PROTOCOL);
		return;
	}
	for (guint i = 0; i < packets->len && !client->closed; i++) {
		gsize size = 0;
		const gchar *text = g_bytes_get_data(g_ptr_array_index(packets, i), &size);
		if (!herald_ws_rooms_eio_packet(client, text, size)) {
			herald_ws_rooms_eio_reply_error(hub,
							msg,
							SOUP_STATUS_BAD_REQUEST,
							3,
							"Bad request");
			herald_ws_rooms_eio_close(client,
						  HERALD_WS_CLOSE_PROTOCOL_ERROR,
						  "invalid packet",
						  HERALD_WS_ROOMS_REASON_PROTOCOL);
			return;
		}
	}
	herald_ws_rooms_eio_reply_text(hub, msg, "text/html", "ok");
}

static void
herald_ws_rooms_eio_preflight(HeraldWsRoomsHub *hub, SoupServerMessage *msg)
{
	SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
	SoupMessageHeaders *resp = soup_server_message_get_response_headers(msg);
	const gchar *origin = soup_message_headers_get_one(req, "Origin");
	const gchar *want_headers =
	    soup_message_headers_get_one(req, "Access-Control-Request-Headers");

	if (origin == NULL || !herald_ws_rooms_hub_origin_allowed(hub, origin)) {
		herald_ws_rooms_hub_count_reject(hub, "origin");
		herald_ws_rooms_eio_reply_error(hub, msg, SOUP_STATUS_FORBIDDEN, 4, "Forbidden");
		return;
	}
	herald_ws_rooms_eio_cors(hub, msg);
	soup_message_headers_replace(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
	if (want_headers != NULL)
		soup_message_headers_replace(resp, "Access-Control-Allow-Headers", want_headers);
	soup_message_headers_replace(resp, "Access-Control-Max-Age", "86400");
	soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, NULL);
}

static gboolean
herald_ws_rooms_eio_is_upgrade(SoupServerMessage *msg)
{
	SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
	return soup_message_headers_header_contains(req, "Upgrade", "websocket");
}

/**
 * herald_ws_rooms_eio_handle:
 *
 * Requests under the Socket.IO path, checked in the order of the reference
 * server: protocol version, transport, origin, session.
 */
void
herald_ws_rooms_eio_handle(HeraldWsRoomsHub *hub, SoupServerMessage *msg)
{
	const gchar *method = soup_server_message_get_method(msg);
	const gchar *query = g_uri_get_query(soup_server_message_get_uri(msg));
	SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
	const gchar *origin = soup_message_headers_get_one(req, "Origin");
	const HeraldWsRoomsLimits *limits = herald_ws_rooms_hub_get_limits(hub);
	g_autoptr(GHashTable) params = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *eio_version;
	const gchar *transport;
	const gchar *sid;
	HeraldWsRoomsClient *client;
	gboolean websocket;

	/* the host answered already (413: body over max-payload) */
	if (soup_server_message_get_status(msg) != 0)
		return;
	if (g_strcmp0(method, "OPTIONS") == 0) {
		herald_ws_rooms_eio_preflight(hub, msg);
		return;
	}
	params = query != NULL ? soup_form_decode(query)
			       : g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	eio_version = g_hash_table_lookup(params, "EIO");
	transport = g_hash_table_lookup(params, "transport");
	sid = g_hash_table_lookup(params, "sid");

	if (g_strcmp0(eio_version, "4") != 0) {
		herald_ws_rooms_hub_count_reject(hub, "protocol_version");
		herald_ws_rooms_eio_reply_error(hub,
						msg,
						SOUP_STATUS_BAD_REQUEST,
						5,
						"Unsupported protocol version");
		return;
	}
	if (g_strcmp0(transport, "polling") != 0 && g_strcmp0(transport, "websocket") != 0) {
		herald_ws_rooms_hub_count_reject(hub, "transport");
		herald_ws_rooms_eio_reply_error(hub,
						msg,
						SOUP_STATUS_BAD_REQUEST,
						0,
						"Transport unknown");
		return;
	}
	websocket = g_strcmp0(transport, "websocket") == 0;
	if (!herald_ws_rooms_hub_origin_allowed(hub, origin)) {
		herald_ws_rooms_hub_count_reject(hub, "origin");
		herald_ws_rooms_eio_reply_error(hub,
						msg,
						SOUP_STATUS_BAD_REQUEST,
						3,
						"Bad request");
		return;
	}

	/* an existing session */
	if (sid != NULL) {
		client = herald_ws_rooms_hub_lookup_sid(hub, sid);
		if (client == NULL) {
			herald_ws_rooms_hub_count_reject(hub,
							 herald_ws_rooms_hub_sid_recently_ended(hub, sid)
							     ? "ended_sid"
							     : "unknown_sid");
			herald_ws_rooms_eio_reply_error(hub,
							msg,
							SOUP_STATUS_BAD_REQUEST,
							1,
							"Session ID unknown");
			return;
		}
		if (websocket) {
			HeraldWsRoomsEioUpgrade *up;
			if (client->eio->upgraded || client->eio->probe != NULL ||
			    client->eio->closing || g_strcmp0(method, "GET") != 0 ||
			    !herald_ws_rooms_eio_is_upgrade(msg)) {
				herald_ws_rooms_eio_reply_error(hub,
								msg,
								SOUP_STATUS_BAD_REQUEST,
								3,
								"Bad request");
				return;
			}
			up = g_new0(HeraldWsRoomsEioUpgrade, 1);
			up->sid = g_strdup(sid);
			if (!herald_ws_rooms_hub_upgrade(hub,
							 msg,
							 HERALD_WS_ROOMS_PROTO_SIO,
							 herald_ws_rooms_eio_adopt_cb,
							 up,
							 herald_ws_rooms_eio_upgrade_free,
							 &error))
				herald_ws_rooms_eio_reply_error(hub,
								msg,
								SOUP_STATUS_BAD_REQUEST,
								3,
								error->message);
			return;
		}
		/* polling on an upgraded session */
		if (client->eio->upgraded) {
			herald_ws_rooms_eio_reply_error(hub,
							msg,
							SOUP_STATUS_BAD_REQUEST,
							3,
							"Bad request");
			return;
		}
		if (g_strcmp0(method, "GET") == 0) {
			herald_ws_rooms_eio_poll_get(hub, client, msg);
			return;
		}
		if (g_strcmp0(method, "POST") == 0) {
			herald_ws_rooms_eio_poll_post(hub, client, msg);
			return;
		}
		herald_ws_rooms_eio_reply_error(hub,
						msg,
						SOUP_STATUS_BAD_REQUEST,
						3,
						"Bad request");
		return;
	}

	/* a new session: the route takes every method, so PUT, DELETE… get
	 * Engine.IO's answer here, not the host's 405 */
	if (g_strcmp0(method, "GET") != 0) {
		herald_ws_rooms_hub_count_reject(hub, "handshake_method");
		herald_ws_rooms_eio_reply_error(hub,
						msg,
						SOUP_STATUS_BAD_REQUEST,
						2,
						"Bad handshake method");
		return;
	}
	if (!herald_ws_rooms_hub_check_admission(hub, NULL, &error)) {
		herald_ws_rooms_hub_count_reject(hub, "server_full");
		herald_ws_rooms_eio_reply_error(hub,
						msg,
						SOUP_STATUS_SERVICE_UNAVAILABLE,
						3,
						error->message);
		return;
	}
	if (websocket) {
		HeraldWsRoomsEioUpgrade *up;
		if (!herald_ws_rooms_eio_is_upgrade(msg)) {
			herald_ws_rooms_eio_reply_error(hub,
							msg,
							SOUP_STATUS_BAD_REQUEST,
							3,
							"Bad request");
			return;
		}
		up = g_new0(HeraldWsRoomsEioUpgrade, 1);
		up->query_token = g_strdup(g_hash_table_lookup(params, "token"));
		/* behind [host] trusted-proxies: the forwarded client */
		up->address = herald_http_get_client_address(msg);
		if (!herald_ws_rooms_hub_upgrade(hub,
						 msg,
						 HERALD_WS_ROOMS_PROTO_SIO,
						 herald_ws_rooms_eio_adopt_cb,
						 up,
						 herald_ws_rooms_eio_upgrade_free,
						 &error))
			herald_ws_rooms_eio_reply_error(hub,
							msg,
							SOUP_STATUS_BAD_REQUEST,
							3,
							error->message);
		return;
	}
	{
		g_autofree gchar *open = NULL;
		HeraldWsRoomsEio *eio;
		g_autofree gchar *address = herald_http_get_client_address(msg);
		client = herald_ws_rooms_eio_new_pending(hub, address);
		eio = herald_ws_rooms_eio_new(client);
		eio->query_token = g_strdup(g_hash_table_lookup(params, "token"));
		open = herald_eio_open_new(client->id,
					   TRUE,
					   limits->ping_interval_ms,
					   limits->ping_timeout_ms,
					   limits->max_payload);
		herald_ws_rooms_eio_reply_text(hub, msg, "text/plain; charset=UTF-8", open);
	}
}
