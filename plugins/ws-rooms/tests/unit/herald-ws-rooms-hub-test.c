/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hub without HTTP: connections are socketpairs handed to the hub as if
 * libsoup had just written the 101, deliveries come straight from a bus.
 */
#include "config.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "herald-test-util.h"
#include "herald-ws-rooms-hub.h"

typedef struct {
	gint peer; /* our end of the socketpair */
	HeraldWsRoomsConn *conn;
	HeraldWsParser parser;
	GByteArray *in;
	guint close_code; /* of the close frame received, 0 before */
	gboolean eof;
} Peer;

typedef struct {
	HeraldBus *bus;
	HeraldWsRoomsHub *hub;
	GPtrArray *peers; /* (element-type Peer) */
	guint connected_events;
	guint disconnected_events;
	GPtrArray *room_events; /* (element-type utf8) "topic user room", in order */
} Fixture;

static void
peer_free(Peer *peer)
{
	if (peer->peer >= 0)
		close(peer->peer);
	herald_ws_parser_clear(&peer->parser);
	g_byte_array_unref(peer->in);
	g_free(peer);
}

static void
presence_cb(HeraldBus *bus, HeraldEvent *event, gpointer user_data)
{
	Fixture *fx = user_data;
	if (g_strcmp0(herald_event_get_type_name(event), HERALD_BUS_TOPIC_CONNECTED) == 0)
		fx->connected_events++;
	else
		fx->disconnected_events++;
}

static void
room_event_cb(HeraldBus *bus, HeraldEvent *event, gpointer user_data)
{
	Fixture *fx = user_data;
	g_autofree gchar *user_id = herald_event_get_payload_field(event, "user_id");
	g_autofree gchar *room = herald_event_get_payload_field(event, "room");
	if (g_strcmp0(herald_event_get_type_name(event), HERALD_BUS_TOPIC_DISCONNECTED) == 0)
		room = g_strdup("-");
	/* user-updated: the new role instead of a room */
	if (g_strcmp0(herald_event_get_type_name(event), HERALD_BUS_TOPIC_USER_UPDATED) == 0)
		room = herald_event_get_payload_field(event, "role");
	g_ptr_array_add(fx->room_events,
			g_strdup_printf("%s %s %s",
					herald_event_get_type_name(event),
					user_id,
					room));
}

static void
fixture_init(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	HeraldWsRoomsLimits limits;

	fx->bus = herald_bus_new("hub-test");
	fx->hub = herald_ws_rooms_hub_new(fx->bus, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(fx->hub);
	limits = *herald_ws_rooms_hub_get_limits(fx->hub);
	limits.broadcast_room = (gchar *)"all";
	herald_ws_rooms_hub_set_limits(fx->hub, &limits);
	fx->peers = g_ptr_array_new_with_free_func((GDestroyNotify)peer_free);
	g_signal_connect(fx->bus,
			 "event::" HERALD_BUS_TOPIC_CONNECTED,
			 G_CALLBACK(presence_cb),
			 fx);
	g_signal_connect(fx->bus,
			 "event::" HERALD_BUS_TOPIC_DISCONNECTED,
			 G_CALLBACK(presence_cb),
			 fx);
	fx->room_events = g_ptr_array_new_with_free_func(g_free);
	g_signal_connect(fx->bus,
			 "event::" HERALD_BUS_TOPIC_ROOM_JOINED,
			 G_CALLBACK(room_event_cb),
			 fx);
	g_signal_connect(fx->bus,
			 "event::" HERALD_BUS_TOPIC_ROOM_LEFT,
			 G_CALLBACK(room_event_cb),
			 fx);
	g_signal_connect(fx->bus,
			 "event::" HERALD_BUS_TOPIC_DISCONNECTED,
			 G_CALLBACK(room_event_cb),
			 fx);
	g_signal_connect(fx->bus,
			 "event::" HERALD_BUS_TOPIC_USER_UPDATED,
			 G_CALLBACK(room_event_cb),
			 fx);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
	g_clear_pointer(&fx->hub, herald_ws_rooms_hub_free);
	g_clear_pointer(&fx->peers, g_ptr_array_unref);
	g_clear_object(&fx->bus);
	g_clear_pointer(&fx->room_events, g_ptr_array_unref);
}

static void
run_pending(void)
{
	while (g_main_context_iteration(NULL, FALSE))
		;
}

/* a plain connection of @user with @role and claim seller_id */
static Peer *
connect_peer(Fixture *fx, const gchar *user, const gchar *role, const gchar *seller_id)
{
	Peer *peer = g_new0(Peer, 1);
	g_autoptr(JsonObject) claims = json_object_new();
	g_autoptr(HeraldIdentity) identity = NULL;
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketConnection) stream = NULL;
	g_autoptr(GError) error = NULL;
	gint fds[2];

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
	socket = g_socket_new_from_fd(fds[0], &error);
	g_assert_no_error(error);
	stream = g_socket_connection_factory_create_connection(socket);
	json_object_set_string_member(claims, "sub", user);
	json_object_set_string_member(claims, "role", role);
	if (seller_id != NULL)
		json_object_set_string_member(claims, "seller_id", seller_id);
	identity = herald_identity_new(user, role, 0, claims);
	peer->peer = fds[1];
	peer->in = g_byte_array_new();
	herald_ws_parser_init(&peer->parser, 1 << 24, FALSE);
	peer->conn = herald_ws_rooms_hub_adopt(fx->hub,
					       G_IO_STREAM(stream),
					       HERALD_WS_ROOMS_PROTO_PLAIN,
					       &error);
	g_assert_no_error(error);
	g_assert_nonnull(peer->conn);
	herald_ws_rooms_plain_start(fx->hub, peer->conn, identity, NULL);
	g_ptr_array_add(fx->peers, peer);
	return peer;
}

/* every text message the peer has received so far */
static GPtrArray *
peer_read(Peer *peer)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	run_pending();
	for (;;) {
		guint8 buf[65536];
		gssize n = recv(peer->peer, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0)
			peer->eof = TRUE;
		if (n <= 0)
			break;
		g_byte_array_append(peer->in, buf, (guint)n);
	}
	for (;;) {
		HeraldWsFrame frame;
		gsize consumed = 0;
		HeraldWsParseResult res = herald_ws_parser_feed(&peer->parser,
								peer->in->data,
								peer->in->len,
								&consumed,
								&frame);
		if (res == HERALD_WS_PARSE_NEED_MORE)
			break;
		if (res == HERALD_WS_PARSE_CONTROL && frame.opcode == HERALD_WS_OPCODE_CLOSE) {
			g_assert_cmpuint(peer->close_code, ==, 0);
			peer->close_code = frame.close_code;
			g_byte_array_remove_range(peer->in, 0, (guint)consumed);
			continue;
		}
		g_assert_cmpuint(peer->close_code, ==, 0); /* nothing after the close */
		g_assert_cmpint(res, ==, HERALD_WS_PARSE_MESSAGE);
		{
			g_autofree gchar *text = g_strndup((const gchar *)frame.payload, frame.len);
			g_autoptr(JsonParser) parser = json_parser_new();
			g_assert_true(json_parser_load_from_data(parser, text, -1, NULL));
			g_ptr_array_add(out, json_node_ref(json_parser_get_root(parser)));
		}
		g_byte_array_remove_range(peer->in, 0, (guint)consumed);
	}
	return out;
}

static const gchar *
msg_get(JsonNode *node, const gchar *member)
{
	JsonNode *child = json_object_get_member(json_node_get_object(node), member);
	return child != NULL && JSON_NODE_HOLDS_VALUE(child) ? json_node_get_string(child) : NULL;
}

/* a client message, masked as a browser sends it */
static void
peer_send(Peer *peer, guint8 opcode, const gchar *text)
{
	g_autoptr(GBytes) frame = herald_ws_frame_new_masked(opcode,
							     TRUE,
							     (const guint8 *)text,
							     strlen(text),
							     g_random_int());
	g_assert_cmpint(send(peer->peer, g_bytes_get_data(frame, NULL), g_bytes_get_size(frame), 0),
			==,
			(gssize)g_bytes_get_size(frame));
}

/* sends @text and returns the one reply it gets */
static JsonNode *
peer_request(Peer *peer, const gchar *text)
{
	g_autoptr(GPtrArray) replies = NULL;
	peer_send(peer, HERALD_WS_OPCODE_TEXT, text);
	replies = peer_read(peer);
	g_assert_cmpuint(replies->len, ==, 1);
	return json_node_ref(g_ptr_array_index(replies, 0));
}

static const gchar *
msg_get_path(JsonNode *node, const gchar *object, const gchar *member)
{
	JsonObject *obj = json_object_get_object_member(json_node_get_object(node), object);
	g_assert_nonnull(obj);
	return json_object_get_string_member_with_default(obj, member, NULL);
}

static guint64
variant_get_count(GVariant *value)
{
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT32))
		return g_variant_get_uint32(value);
	return g_variant_get_uint64(value);
}

static guint64
stat_get(Fixture *fx, const gchar *key, const gchar *subkey)
{
	g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT(NULL);
	g_autoptr(GVariant) value = NULL;
	herald_ws_rooms_hub_add_stats(fx->hub, &dict);
	value = g_variant_dict_lookup_value(&dict, key, NULL);
	g_assert_nonnull(value);
	if (subkey != NULL) {
		g_autoptr(GVariant) child = g_variant_lookup_value(value, subkey, NULL);
		g_assert_nonnull(child);
		return variant_get_count(child);
	}
	return variant_get_count(value);
}

static HeraldDelivery *
make_delivery(const gchar *name, const gchar *payload_json)
{
	g_autoptr(JsonNode) payload = json_from_string(payload_json, NULL);
	g_autoptr(HeraldEvent) event = herald_event_new(name, "test.channel", payload, "hub-test");
	return herald_delivery_new(event, name);
}

static void
hub_deliver_func(Fixture *fx, gconstpointer data)
{
	Peer *a = connect_peer(fx, "1", "SELLER", "123");
	Peer *b = connect_peer(fx, "2", "SELLER", "456");
	Peer *c = connect_peer(fx, "3", "ADMIN", NULL);
	g_autoptr(GPtrArray) ma = peer_read(a);
	g_autoptr(GPtrArray) mb = peer_read(b);
	g_autoptr(GPtrArray) mc = peer_read(c);
	g_autoptr(HeraldDelivery) rooms = make_delivery("order_update", "{\"id\":1}");
	g_autoptr(HeraldDelivery) filter =
	    make_delivery("SELLER_STATS_UPDATED",
			  "{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"123\"}");
	g_autoptr(HeraldDelivery) users = make_delivery("notification", "{\"n\":1}");
	g_autoptr(HeraldDelivery) broadcast = make_delivery("broadcast", "{\"m\":\"hi\"}");
	g_autoptr(HeraldDelivery) nobody = make_delivery("x", "{}");
	const gchar *pairs[] = {"role", "SELLER", "seller_id", "123", NULL};
	const gchar *admin_pairs[] = {"role", "ADMIN", NULL};
	GBytes *shared_a;
	GBytes *shared_b;

	/* everybody got `connected` */
	g_assert_cmpuint(ma->len, ==, 1);
	g_assert_cmpstr(msg_get(g_ptr_array_index(ma, 0), "type"), ==, "connected");
	g_assert_cmpuint(mb->len, ==, 1);
	g_assert_cmpuint(mc->len, ==, 1);
	g_assert_cmpuint(herald_ws_rooms_hub_count(fx->hub, NULL), ==, 3);
	g_assert_cmpuint(herald_ws_rooms_hub_count(fx->hub, "1"), ==, 1);
	g_assert_cmpuint(herald_ws_rooms_hub_count(fx->hub, "9"), ==, 0);
	g_assert_cmpuint(fx->connected_events, ==, 3);

	/* a is in both target rooms and still gets it once; one frame is shared */
	herald_delivery_add_room(rooms, "seller");
	herald_delivery_add_room(rooms, "user_1");
	herald_delivery_add_room(rooms, "no_such_room");
	g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, rooms), ==, 2);
	shared_a = herald_ws_rooms_queue_peek_nth(&a->conn->queue, a->conn->queue.len - 1);
	shared_b = herald_ws_rooms_queue_peek_nth(&b->conn->queue, b->conn->queue.len - 1);
	g_assert_true(shared_a == shared_b);
	g_ptr_array_unref(ma);
	ma = peer_read(a);
	g_assert_cmpuint(ma->len, ==, 1);
	g_assert_cmpstr(msg_get(g_ptr_array_index(ma, 0), "type"), ==, "order_update");
	g_assert_cmpstr(msg_get(g_ptr_array_index(ma, 0), "room"), ==, "seller");
	g_ptr_array_unref(mb);
	mb = peer_read(b);
	g_assert_cmpuint(mb->len, ==, 1);
	g_ptr_array_unref(mc);
	mc = peer_read(c);
	g_assert_cmpuint(mc->len, ==, 0);

	/* claim filters: every pair must match; a typed payload goes verbatim */
	herald_delivery_add_filter(filter, pairs);
	herald_delivery_add_filter(filter, admin_pairs);
	g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, filter), ==, 2);
	g_ptr_array_unref(ma);
	ma = peer_read(a);
	g_assert_cmpuint(ma->len, ==, 1);
	g_assert_cmpstr(msg_get(g_ptr_array_index(ma, 0), "type"), ==, "SELLER_STATS_UPDATED");
	g_assert_cmpstr(msg_get(g_ptr_array_index(ma, 0), "seller_id"), ==, "123");
	g_ptr_array_unref(mb);
	mb = peer_read(b);
	g_assert_cmpuint(mb->len, ==, 0);
	g_ptr_array_unref(mc);
	mc = peer_read(c);
	g_assert_cmpuint(mc->len, ==, 1);

	/* users are personal rooms */
	herald_delivery_add_user(users, "3");
	g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, users), ==, 1);
	g_ptr_array_unref(mc);
	mc = peer_read(c);
	g_assert_cmpuint(mc->len, ==, 1);
	g_assert_cmpstr(msg_get(g_ptr_array_index(mc, 0), "room"), ==, "user_3");

	/* the broadcast room reaches everyone once, also c which is in the admin
	 * room targeted too and a which is in user_1; so does the broadcast flag */
	herald_delivery_add_room(broadcast, "admin");
	herald_delivery_add_room(broadcast, "all");
	herald_delivery_add_user(broadcast, "1");
	g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, broadcast), ==, 3);
	g_ptr_array_unref(mc);
	mc = peer_read(c);
	g_assert_cmpuint(mc->len, ==, 1);
	g_ptr_array_unref(ma);
	ma = peer_read(a);
	g_assert_cmpuint(ma->len, ==, 1);
	herald_delivery_set_broadcast(nobody, TRUE);
	g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, nobody), ==, 3);
	g_ptr_array_unref(mb);
	mb = peer_read(b);
	g_assert_cmpuint(mb->len, ==, 2);
	g_assert_cmpstr(msg_get(g_ptr_array_index(mb, 0), "room"), ==, "all");
}

static void
hub_presence_func(Fixture *fx, gconstpointer data)
{
	Peer *a1 = connect_peer(fx, "1", "CLIENT", NULL);
	Peer *a2 = connect_peer(fx, "1", "CLIENT", NULL);
	g_autoptr(GVariant) stats = NULL;
	g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT(NULL);
	guint32 users = 0;

	/* one user-connected per user, one user-disconnected after the last */
	run_pending();
	g_assert_cmpuint(fx->connected_events, ==, 1);
	herald_ws_rooms_hub_add_stats(fx->hub, &dict);
	g_assert_true(g_variant_dict_lookup(&dict, "connected_users", "u", &users));
	g_assert_cmpuint(users, ==, 1);
	g_assert_true(g_variant_dict_lookup(&dict, "clients_connected", "u", &users));
	g_assert_cmpuint(users, ==, 1);

	close(a1->peer);
	a1->peer = -1;
	run_pending();
	g_assert_cmpuint(herald_ws_rooms_hub_count(fx->hub, "1"), ==, 1);
	g_assert_cmpuint(fx->disconnected_events, ==, 0);
	close(a2->peer);
	a2->peer = -1;
	run_pending();
	g_assert_cmpuint(herald_ws_rooms_hub_count(fx->hub, "1"), ==, 0);
	g_assert_cmpuint(fx->disconnected_events, ==, 1);
	g_assert_cmpuint(herald_ws_rooms_hub_get_n_open(fx->hub), ==, 0);
}

static void
hub_shutdown_func(Fixture *fx, gconstpointer data)
{
	Peer *a = connect_peer(fx, "1", "CLIENT", NULL);
	guint8 buf[256];
	gssize n;

	run_pending();
	n = recv(a->peer, buf, sizeof(buf), MSG_DONTWAIT);
	g_assert_cmpint(n, >, 0);
	herald_ws_rooms_hub_shutdown(fx->hub);
	run_pending();
	/* a close frame 1012 "service restart" */
	n = recv(a->peer, buf, sizeof(buf), MSG_DONTWAIT);
	g_assert_cmpint(n, >=, 4);
	g_assert_cmpuint(buf[0], ==, 0x88);
	g_assert_cmpuint(((guint)buf[2] << 8) | buf[3], ==, HERALD_WS_CLOSE_SERVICE_RESTART);
	g_assert_cmpint(n, ==, 4 + (gssize)strlen("service restart"));
	g_assert_cmpmem(buf + 4, n - 4, "service restart", strlen("service restart"));
	/* no new connections meanwhile */
	{
		g_autoptr(GError) error = NULL;
		g_assert_false(herald_ws_rooms_hub_check_admission(fx->hub, "2", &error));
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_SHUTTING_DOWN);
	}
}

/* the plain protocol over a socketpair: replies, errors, and the subscription
 * limit, which counts neither the role room nor the personal room */
static void
hub_plain_messages_func(Fixture *fx, gconstpointer data)
{
	HeraldWsRoomsLimits limits = *herald_ws_rooms_hub_get_limits(fx->hub);
	Peer *a = NULL;
	g_autoptr(GPtrArray) connected = NULL;
	g_autoptr(JsonNode) r1 = NULL;
	g_autoptr(JsonNode) r2 = NULL;
	g_autoptr(JsonNode) r3 = NULL;
	g_autoptr(JsonNode) r4 = NULL;
	g_autoptr(JsonNode) r5 = NULL;
	g_autoptr(JsonNode) r6 = NULL;
	g_autoptr(JsonNode) r7 = NULL;
	g_autoptr(JsonNode) r8 = NULL;
	g_autoptr(JsonNode) r9 = NULL;
	g_autoptr(JsonNode) r10 = NULL;
	g_autoptr(GPtrArray) after = NULL;

	limits.max_subscriptions = 2;
	limits.rate_limit = 0;
	herald_ws_rooms_hub_set_limits(fx->hub, &limits);
	a = connect_peer(fx, "1", "SELLER", NULL);
	connected = peer_read(a);
	g_assert_cmpuint(connected->len, ==, 1);

	r1 = peer_request(a, "{\"type\":\"subscribe\",\"room\":\"orders\"}");
	g_assert_cmpstr(msg_get(r1, "type"), ==, "subscribed");
	g_assert_cmpstr(msg_get(r1, "room"), ==, "orders");
	/* subscribing twice is not a second subscription */
	r2 = peer_request(a, "{\"type\":\"subscribe\",\"payload\":{\"room\":\"orders\"}}");
	g_assert_cmpstr(msg_get(r2, "type"), ==, "subscribed");
	r3 = peer_request(a, "{\"type\":\"subscribe\",\"room\":\"inventory\"}");
	g_assert_cmpstr(msg_get(r3, "type"), ==, "subscribed");
	r4 = peer_request(a, "{\"type\":\"subscribe\",\"room\":\"products\"}");
	g_assert_cmpstr(msg_get(r4, "type"), ==, "error");
	g_assert_cmpstr(msg_get_path(r4, "payload", "code"), ==, "too_large");
	g_assert_cmpstr(msg_get_path(r4, "payload", "room"), ==, "products");

	/* leaving the role room does not free a subscription slot */
	r5 = peer_request(a, "{\"type\":\"unsubscribe\",\"room\":\"seller\"}");
	g_assert_cmpstr(msg_get(r5, "type"), ==, "unsubscribed");
	r6 = peer_request(a, "{\"type\":\"subscribe\",\"room\":\"products\"}");
	g_assert_cmpstr(msg_get(r6, "type"), ==, "error");
	g_assert_cmpstr(msg_get_path(r6, "payload", "code"), ==, "too_large");
	/* the personal room stays */
	r7 = peer_request(a, "{\"type\":\"unsubscribe\",\"room\":\"user_1\"}");
	g_assert_cmpstr(msg_get(r7, "type"), ==, "unsubscribed");
	{
		g_autoptr(HeraldDelivery) users = make_delivery("n", "{}");
		herald_delivery_add_user(users, "1");
		g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, users), ==, 1);
	}
	after = peer_read(a);
	g_assert_cmpuint(after->len, ==, 1);
	g_assert_cmpstr(msg_get(g_ptr_array_index(after, 0), "room"), ==, "user_1");

	r8 = peer_request(a, "{\"type\":\"unsubscribe\",\"room\":\"orders\"}");
	g_assert_cmpstr(msg_get(r8, "type"), ==, "unsubscribed");
	r9 = peer_request(a, "{\"type\":\"subscribe\",\"room\":\"products\"}");
	g_assert_cmpstr(msg_get(r9, "type"), ==, "subscribed");
	g_assert_cmpuint(stat_get(fx, "subscribes_refused_total", NULL), ==, 2);

	/* a ping gets a pong, a binary frame ends the connection with 1003 */
	r10 = peer_request(a, "{\"type\":\"ping\"}");
	g_assert_cmpstr(msg_get(r10, "type"), ==, "pong");
	peer_send(a, HERALD_WS_OPCODE_BINARY, "\x01");
	g_ptr_array_unref(peer_read(a));
	g_assert_cmpuint(a->close_code, ==, HERALD_WS_CLOSE_UNSUPPORTED);
	g_assert_cmpuint(stat_get(fx, "closes_total", "protocol_error"), ==, 1);
}

/* a peer that reads nothing: its socket fills, then its bounded queue, and it
 * is closed with 4008 while the other peer gets every event */
static void
hub_slow_consumer_func(Fixture *fx, gconstpointer data)
{
	HeraldWsRoomsLimits limits = *herald_ws_rooms_hub_get_limits(fx->hub);
	g_autofree gchar *blob = g_strnfill(2000, 'z');
	g_autofree gchar *payload = g_strdup_printf("{\"blob\":\"%s\"}", blob);
	gint sndbuf = 4096;
	Peer *slow;
	Peer *fast;
	guint received = 0;
	guint slow_received = 0;
	gint64 deadline;

	limits.outgoing_buffer_bytes = 16384;
	herald_ws_rooms_hub_set_limits(fx->hub, &limits);
	slow = connect_peer(fx, "1", "SELLER", NULL);
	fast = connect_peer(fx, "2", "SELLER", NULL);
	g_ptr_array_unref(peer_read(fast));
	setsockopt(slow->conn->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

	for (guint i = 0; i < 100; i++) {
		g_autoptr(HeraldDelivery) delivery = make_delivery("order_update", payload);
		g_autoptr(GPtrArray) got = NULL;
		herald_delivery_add_room(delivery, "seller");
		herald_ws_rooms_hub_deliver(fx->hub, delivery);
		/* the queue never holds more than the limit */
		if (slow->conn->state == HERALD_WS_ROOMS_CONN_OPEN)
			g_assert_cmpuint(slow->conn->queue.bytes, <=, limits.outgoing_buffer_bytes);
		got = peer_read(fast);
		received += got->len;
	}
	g_assert_cmpuint(received, ==, 100);
	g_assert_cmpuint(fast->close_code, ==, 0);
	g_assert_cmpuint(stat_get(fx, "drops_slow_consumer_total", NULL), ==, 1);
	g_assert_cmpuint(stat_get(fx, "closes_total", "slow_consumer"), ==, 1);

	/* now it reads: what was on the wire, then the close frame 4008 */
	deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (slow->close_code == 0 && !slow->eof && g_get_monotonic_time() < deadline) {
		g_autoptr(GPtrArray) got = peer_read(slow);
		slow_received += got->len;
	}
	g_assert_cmpuint(slow->close_code, ==, HERALD_WS_CLOSE_SLOW_CONSUMER);
	/* connected + some events, not all of them */
	g_assert_cmpuint(slow_received, >, 1);
	g_assert_cmpuint(slow_received, <, 101);
}

/* joining or leaving a solicitud room tells its other members */
static void
hub_room_presence_func(Fixture *fx, gconstpointer data)
{
	Peer *a = connect_peer(fx, "1", "ADVISOR", NULL);
	Peer *b = connect_peer(fx, "2", "ADVISOR", NULL);
	g_autoptr(JsonNode) ra = NULL;
	g_autoptr(JsonNode) rb = NULL;
	g_autoptr(JsonNode) rb2 = NULL;
	g_autoptr(JsonNode) rc = NULL;
	g_autoptr(GPtrArray) joined = NULL;
	g_autoptr(GPtrArray) left = NULL;
	g_autoptr(GPtrArray) quiet = NULL;
	JsonNode *msg;

	g_ptr_array_unref(peer_read(a));
	g_ptr_array_unref(peer_read(b));
	ra = peer_request(a, "{\"type\":\"subscribe\",\"room\":\"solicitud_17\"}");
	g_assert_cmpstr(msg_get(ra, "type"), ==, "subscribed");
	/* b joins: a hears of it, b gets its own reply only */
	rb = peer_request(b, "{\"type\":\"subscribe\",\"room\":\"solicitud_17\"}");
	g_assert_cmpstr(msg_get(rb, "type"), ==, "subscribed");
	joined = peer_read(a);
	g_assert_cmpuint(joined->len, ==, 1);
	msg = g_ptr_array_index(joined, 0);
	g_assert_cmpstr(msg_get(msg, "type"), ==, "user_joined");
	g_assert_cmpstr(msg_get(msg, "room"), ==, "solicitud_17");
	g_assert_cmpstr(msg_get_path(msg, "payload", "user_id"), ==, "2");
	g_assert_cmpstr(msg_get_path(msg, "payload", "role"), ==, "ADVISOR");
	rb2 = peer_request(b, "{\"type\":\"unsubscribe\",\"room\":\"solicitud_17\"}");
	g_assert_cmpstr(msg_get(rb2, "type"), ==, "unsubscribed");
	left = peer_read(a);
	g_assert_cmpuint(left->len, ==, 1);
	g_assert_cmpstr(msg_get(g_ptr_array_index(left, 0), "type"), ==, "user_left");
	/* other rooms are not announced */
	rc = peer_request(b, "{\"type\":\"subscribe\",\"room\":\"solicitud_18\"}");
	g_assert_cmpstr(msg_get(rc, "type"), ==, "subscribed");
	quiet = peer_read(a);
	g_assert_cmpuint(quiet->len, ==, 0);
}

static void
assert_room_events(Fixture *fx, const gchar *const *expected)
{
	guint n = expected != NULL ? g_strv_length((gchar **)expected) : 0;
	run_pending();
	for (guint i = 0; i < MAX(n, fx->room_events->len); i++)
		g_assert_cmpstr(i < fx->room_events->len ? g_ptr_array_index(fx->room_events, i)
							 : NULL,
				==,
				i < n ? expected[i] : NULL);
	g_ptr_array_set_size(fx->room_events, 0);
}

static void
request_ok(Peer *peer, const gchar *type, const gchar *room)
{
	g_autofree gchar *text =
	    g_strdup_printf("{\"type\":\"%s\",\"room\":\"%s\"}", type, room);
	g_autofree gchar *want = g_strdup_printf("%sd", type);
	g_autoptr(JsonNode) reply = NULL;
	/* user_joined / user_left of others in solicitud rooms */
	g_ptr_array_unref(peer_read(peer));
	reply = peer_request(peer, text);
	g_assert_cmpstr(msg_get(reply, "type"), ==, want);
}

/* room-joined / room-left: once per (user, room) transition on this instance,
 * for rooms joined by subscribe only, room-left before user-disconnected */
static void
hub_room_events_func(Fixture *fx, gconstpointer data)
{
	Peer *a1 = connect_peer(fx, "1", "ADVISOR", NULL);
	Peer *a2 = connect_peer(fx, "1", "ADVISOR", NULL);
	Peer *b = connect_peer(fx, "2", "ADVISOR", NULL);

	g_ptr_array_unref(peer_read(a1));
	g_ptr_array_unref(peer_read(a2));
	g_ptr_array_unref(peer_read(b));
	assert_room_events(fx, NULL);
	request_ok(a1, "subscribe", "solicitud_17");
	assert_room_events(fx, (const gchar *[]){"room-joined 1 solicitud_17", NULL});
	/* a second connection of the same user, and the same one again: nothing */
	request_ok(a2, "subscribe", "solicitud_17");
	request_ok(a1, "subscribe", "solicitud_17");
	assert_room_events(fx, NULL);
	request_ok(b, "subscribe", "solicitud_17");
	assert_room_events(fx, (const gchar *[]){"room-joined 2 solicitud_17", NULL});
	/* the role room and the personal room are not announced */
	request_ok(a1, "unsubscribe", "advisor");
	request_ok(a1, "subscribe", "advisor");
	request_ok(a1, "subscribe", "user_1");
	request_ok(a1, "unsubscribe", "user_1");
	assert_room_events(fx, NULL);
	/* a2 is still in the room */
	request_ok(a1, "unsubscribe", "solicitud_17");
	request_ok(a1, "unsubscribe", "solicitud_17");
	assert_room_events(fx, NULL);
	request_ok(a1, "subscribe", "solicitud_18");
	assert_room_events(fx, (const gchar *[]){"room-joined 1 solicitud_18", NULL});
	/* the last connection of user 1 in solicitud_17 disconnects; a1 keeps
	 * user 1 connected and in solicitud_18 */
	close(a2->peer);
	a2->peer = -1;
	assert_room_events(fx, (const gchar *[]){"room-left 1 solicitud_17", NULL});
	request_ok(b, "unsubscribe", "solicitud_17");
	assert_room_events(fx, (const gchar *[]){"room-left 2 solicitud_17", NULL});
	request_ok(b, "subscribe", "solicitud_19");
	close(a1->peer);
	a1->peer = -1;
	assert_room_events(fx,
			   (const gchar *[]){"room-joined 2 solicitud_19",
					     "room-left 1 solicitud_18",
					     "user-disconnected 1 -",
					     NULL});
	g_assert_cmpuint(herald_ws_rooms_hub_count(fx->hub, "1"), ==, 0);
}

/* more target rooms than the per-delivery frame cache holds: every member
 * still gets the frame naming its own room, and a member of two rooms once */
static void
hub_many_rooms_func(Fixture *fx, gconstpointer data)
{
	HeraldWsRoomsLimits limits = *herald_ws_rooms_hub_get_limits(fx->hub);
	g_autoptr(HeraldDelivery) delivery = make_delivery("order_update", "{\"id\":1}");
	Peer *peers[12];
	Peer *both;

	limits.rate_limit = 0;
	herald_ws_rooms_hub_set_limits(fx->hub, &limits);
	for (guint i = 0; i < G_N_ELEMENTS(peers); i++) {
		g_autofree gchar *user = g_strdup_printf("%u", i);
		g_autofree gchar *sub =
		    g_strdup_printf("{\"type\":\"subscribe\",\"room\":\"room_%u\"}", i);
		g_autoptr(JsonNode) reply = NULL;
		peers[i] = connect_peer(fx, user, "ADMIN", NULL);
		g_ptr_array_unref(peer_read(peers[i]));
		reply = peer_request(peers[i], sub);
		g_assert_cmpstr(msg_get(reply, "type"), ==, "subscribed");
	}
	both = connect_peer(fx, "both", "ADMIN", NULL);
	g_ptr_array_unref(peer_read(both));
	{
		g_autoptr(JsonNode) r1 =
		    peer_request(both, "{\"type\":\"subscribe\",\"room\":\"room_0\"}");
		g_autoptr(JsonNode) r2 =
		    peer_request(both, "{\"type\":\"subscribe\",\"room\":\"room_11\"}");
		g_assert_cmpstr(msg_get(r1, "type"), ==, "subscribed");
		g_assert_cmpstr(msg_get(r2, "type"), ==, "subscribed");
	}
	for (guint i = 0; i < G_N_ELEMENTS(peers); i++) {
		g_autofree gchar *room = g_strdup_printf("room_%u", i);
		herald_delivery_add_room(delivery, room);
	}
	/* room_0 again after the cache recycled its slot */
	herald_delivery_add_room(delivery, "room_0");
	g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, delivery), ==, 13);
	for (guint i = 0; i < G_N_ELEMENTS(peers); i++) {
		g_autoptr(GPtrArray) got = peer_read(peers[i]);
		g_autofree gchar *room = g_strdup_printf("room_%u", i);
		g_assert_cmpuint(got->len, ==, 1);
		g_assert_cmpstr(msg_get(g_ptr_array_index(got, 0), "room"), ==, room);
	}
	{
		g_autoptr(GPtrArray) got = peer_read(both);
		g_assert_cmpuint(got->len, ==, 1);
		g_assert_cmpstr(msg_get(g_ptr_array_index(got, 0), "room"), ==, "room_0");
	}
}

/* the user's limit is checked again when the connection registers (another
 * connection of the user may have passed the HTTP check meanwhile): 1013 */
static void
hub_user_limit_race_func(Fixture *fx, gconstpointer data)
{
	HeraldWsRoomsLimits limits = *herald_ws_rooms_hub_get_limits(fx->hub);
	Peer *first;
	Peer *second;
	g_autoptr(GPtrArray) got_first = NULL;
	g_autoptr(GPtrArray) got_second = NULL;

	limits.max_connections_per_user = 1;
	herald_ws_rooms_hub_set_limits(fx->hub, &limits);
	first = connect_peer(fx, "1", "CLIENT", NULL);
	second = connect_peer(fx, "1", "CLIENT", NULL);
	got_first = peer_read(first);
	got_second = peer_read(second);
	g_assert_cmpuint(got_first->len, ==, 1);
	g_assert_cmpuint(first->close_code, ==, 0);
	g_assert_cmpuint(got_second->len, ==, 0);
	g_assert_cmpuint(second->close_code, ==, HERALD_WS_CLOSE_TRY_AGAIN_LATER);
	g_assert_cmpuint(herald_ws_rooms_hub_count(fx->hub, "1"), ==, 1);
	g_assert_cmpuint(stat_get(fx, "closes_total", "server_full"), ==, 1);
}

/* the write pass spread over threads: 160 connections (10 chunks), several passes with
 * batched frames, one peer gone (EPIPE in a writer thread → io_error, applied
 * on the main thread), one with a tiny socket buffer (left for EPOLLOUT), one
 * closing; everyone else gets every event once and in order */
static void
hub_parallel_pass_func(Fixture *fx, gconstpointer data)
{
	g_autofree gchar *blob = g_strnfill(1500, 'p');
	const guint n_peers = 160;
	const guint n_events = 20;
	gint sndbuf = 4096;
	Peer *gone;
	Peer *tiny;
	Peer *closing;
	guint got_tiny = 0;
	gint64 deadline;

	herald_ws_rooms_hub_set_writer_threads(fx->hub, 3);
	g_assert_cmpuint(stat_get(fx, "writer_threads", NULL), ==, 3);
	for (guint i = 0; i < n_peers; i++) {
		g_autofree gchar *user = g_strdup_printf("%u", i);
		connect_peer(fx, user, "SELLER", NULL);
	}
	for (guint i = 0; i < n_peers; i++) {
		g_autoptr(GPtrArray) hello = peer_read(g_ptr_array_index(fx->peers, i));
		g_assert_cmpuint(hello->len, ==, 1);
	}
	gone = g_ptr_array_index(fx->peers, 7);
	close(gone->peer);
	gone->peer = -1;
	tiny = g_ptr_array_index(fx->peers, 11);
	setsockopt(tiny->conn->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	closing = g_ptr_array_index(fx->peers, 13);

	for (guint k = 0; k < n_events; k++) {
		g_autofree gchar *payload = g_strdup_printf("{\"seq\":%u,\"blob\":\"%s\"}", k, blob);
		g_autoptr(HeraldDelivery) delivery = make_delivery("order_update", payload);
		herald_delivery_add_room(delivery, "seller");
		herald_ws_rooms_hub_deliver(fx->hub, delivery);
		if (k == 12)
			herald_ws_rooms_conn_close(closing->conn,
						   HERALD_WS_CLOSE_NORMAL,
						   "bye",
						   HERALD_WS_ROOMS_REASON_CLIENT);
		/* passes of 5 queued events each, after an idle loop (a pass
		 * right after another stays on the main thread) */
		if (k % 5 == 4) {
			g_usleep(20000);
			run_pending();
		}
	}
	run_pending();
	g_assert_cmpuint(stat_get(fx, "parallel_write_passes_total", NULL), >, 0);
	g_assert_cmpuint(stat_get(fx, "closes_total", "io_error"), ==, 1);

	for (guint i = 0; i < n_peers; i++) {
		Peer *peer = g_ptr_array_index(fx->peers, i);
		g_autoptr(GPtrArray) got = NULL;
		guint expect = peer == closing ? 13 : n_events;
		if (peer == gone || peer == tiny)
			continue;
		got = peer_read(peer);
		g_assert_cmpuint(got->len, ==, expect);
		for (guint k = 0; k < got->len; k++) {
			JsonObject *payload = json_object_get_object_member(
			    json_node_get_object(g_ptr_array_index(got, k)), "payload");
			g_assert_cmpint(json_object_get_int_member(payload, "seq"), ==, k);
		}
		g_assert_cmpuint(peer->close_code, ==, peer == closing ? HERALD_WS_CLOSE_NORMAL : 0);
	}
	/* the tiny buffer drains through EPOLLOUT, in order, nothing lost */
	deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (got_tiny < n_events && g_get_monotonic_time() < deadline) {
		g_autoptr(GPtrArray) got = peer_read(tiny);
		for (guint k = 0; k < got->len; k++) {
			JsonObject *payload = json_object_get_object_member(
			    json_node_get_object(g_ptr_array_index(got, k)), "payload");
			g_assert_cmpint(json_object_get_int_member(payload, "seq"), ==, got_tiny + k);
		}
		got_tiny += got->len;
		if (got->len == 0)
			g_usleep(1000);
	}
	g_assert_cmpuint(got_tiny, ==, n_events);
	g_assert_cmpuint(tiny->close_code, ==, 0);

	/* back to one thread: same results */
	herald_ws_rooms_hub_set_writer_threads(fx->hub, 0);
	g_assert_cmpuint(stat_get(fx, "writer_threads", NULL), ==, 0);
	{
		g_autoptr(HeraldDelivery) delivery = make_delivery("order_update", "{\"seq\":99}");
		Peer *peer = g_ptr_array_index(fx->peers, 42);
		g_autoptr(GPtrArray) got = NULL;
		herald_delivery_add_room(delivery, "seller");
		g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, delivery), ==, n_peers - 2);
		got = peer_read(peer);
		g_assert_cmpuint(got->len, ==, 1);
	}
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* the members of payload.@member (an array of strings), sorted, joined by ',' */
static gchar *
msg_get_rooms(JsonNode *node, const gchar *member)
{
	JsonObject *payload = json_object_get_object_member(json_node_get_object(node), "payload");
	JsonArray *array;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);

	g_assert_nonnull(payload);
	array = json_object_get_array_member(payload, member);
	g_assert_nonnull(array);
	for (guint i = 0; i < json_array_get_length(array); i++)
		g_ptr_array_add(names, g_strdup(json_array_get_string_element(array, i)));
	g_ptr_array_sort(names, compare_names);
	g_ptr_array_add(names, NULL);
	return g_strjoinv(",", (gchar **)names->pdata);
}

static gchar *
refresh_text(const gchar *claims, gint64 exp_offset_s)
{
	g_autofree gchar *token = herald_test_make_token(HERALD_TEST_SECRET, claims, exp_offset_s);
	return g_strdup_printf("{\"type\":\"refresh\",\"token\":\"%s\"}", token);
}

/* how many of @peer's messages since the last read are of @type */
static guint
peer_count_type(Peer *peer, const gchar *type)
{
	g_autoptr(GPtrArray) got = peer_read(peer);
	guint n = 0;
	for (guint i = 0; i < got->len; i++) {
		if (g_strcmp0(msg_get(g_ptr_array_index(got, i), "type"), type) == 0)
			n++;
	}
	return n;
}

static guint
deliver_to_room(Fixture *fx, const gchar *room)
{
	g_autoptr(HeraldDelivery) delivery = make_delivery("probe", "{\"n\":1}");
	herald_delivery_add_room(delivery, room);
	return herald_ws_rooms_hub_deliver(fx->hub, delivery);
}

static guint
deliver_to_seller(Fixture *fx, const gchar *seller_id)
{
	g_autofree gchar *payload = g_strdup_printf(
	    "{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"%s\"}", seller_id);
	g_autoptr(HeraldDelivery) delivery = make_delivery("SELLER_STATS_UPDATED", payload);
	const gchar *pairs[] = {"seller_id", seller_id, NULL};
	herald_delivery_add_filter(delivery, pairs);
	return herald_ws_rooms_hub_deliver(fx->hub, delivery);
}

/* a refresh re-authorizes the connection as if it connected with the new
 * token: role room swapped, rooms the new role may not join left (and said
 * so), per-role counters and claim filters follow; another user is refused */
static void
hub_refresh_func(Fixture *fx, gconstpointer data)
{
	g_autoptr(HeraldConfig) config = herald_config_new();
	g_autoptr(HeraldAuth) auth = NULL;
	g_autoptr(GError) error = NULL;
	HeraldWsRoomsLimits limits = *herald_ws_rooms_hub_get_limits(fx->hub);
	const HeraldConfigKey *keys;
	guint n_keys = 0;
	Peer *a;
	Peer *advisor;
	Peer *seller;
	g_autoptr(JsonNode) reply = NULL;
	g_autofree gchar *rooms = NULL;
	g_autofree gchar *left = NULL;
	g_autofree gchar *as_client = refresh_text("{\"sub\":\"7\",\"role\":\"CLIENT\"}", 600);
	g_autofree gchar *as_admin = refresh_text("{\"sub\":\"7\",\"role\":\"ADMIN\"}", 600);
	g_autofree gchar *other_user = refresh_text("{\"sub\":\"8\",\"role\":\"CLIENT\"}", 600);
	g_autofree gchar *expired = refresh_text("{\"sub\":\"7\",\"role\":\"CLIENT\"}", -3600);
	g_autofree gchar *seller_456 = refresh_text(
	    "{\"sub\":\"9\",\"role\":\"SELLER\",\"seller_id\":\"456\"}", 600);

	keys = herald_auth_get_config_keys(&n_keys);
	herald_config_add_schema(config, "auth", keys, n_keys);
	g_assert_true(
	    herald_config_load_data(config, "[auth]\nsecret=" HERALD_TEST_SECRET "\n", &error));
	g_assert_no_error(error);
	auth = herald_auth_new(config, &error);
	g_assert_no_error(error);
	herald_ws_rooms_hub_set_auth(fx->hub, auth);
	limits.rate_limit = 0;
	herald_ws_rooms_hub_set_limits(fx->hub, &limits);

	a = connect_peer(fx, "7", "ADMIN", NULL);
	advisor = connect_peer(fx, "5", "ADVISOR", NULL);
	g_ptr_array_unref(peer_read(a));
	g_ptr_array_unref(peer_read(advisor));
	request_ok(advisor, "subscribe", "solicitud_3");
	request_ok(a, "subscribe", "user_999");
	request_ok(a, "subscribe", "solicitud_3");
	request_ok(a, "subscribe", "notifications");
	request_ok(a, "subscribe", "client");
	g_assert_cmpuint(peer_count_type(advisor, "user_joined"), ==, 1);
	g_assert_cmpuint(stat_get(fx, "admins_connected", NULL), ==, 1);
	assert_room_events(fx,
			   (const gchar *[]){"room-joined 5 solicitud_3",
					     "room-joined 7 user_999",
					     "room-joined 7 solicitud_3",
					     "room-joined 7 notifications",
					     "room-joined 7 client",
					     NULL});

	/* ADMIN → CLIENT: admin (the old role room), user_999 and solicitud_3 are
	 * left; notifications (CLIENT may subscribe) stays; client, subscribed
	 * before, is now the role room and no longer announced as subscribed */
	reply = peer_request(a, as_client);
	g_assert_cmpstr(msg_get(reply, "type"), ==, "refreshed");
	g_assert_cmpstr(msg_get_path(reply, "payload", "role"), ==, "CLIENT");
	left = msg_get_rooms(reply, "left");
	g_assert_cmpstr(left, ==, "admin,solicitud_3,user_999");
	rooms = msg_get_rooms(reply, "rooms");
	g_assert_cmpstr(rooms, ==, "client,notifications,user_7");
	g_assert_true(json_object_has_member(
	    json_object_get_object_member(json_node_get_object(reply), "payload"),
	    "expires"));
	assert_room_events(fx,
			   (const gchar *[]){"room-left 7 client",
					     "room-left 7 solicitud_3",
					     "room-left 7 user_999",
					     "user-updated 7 CLIENT",
					     NULL});
	/* the members of solicitud_3 hear that the ADMIN left */
	{
		g_autoptr(GPtrArray) got = peer_read(advisor);
		g_assert_cmpuint(got->len, ==, 1);
		g_assert_cmpstr(msg_get(g_ptr_array_index(got, 0), "type"), ==, "user_left");
		g_assert_cmpstr(msg_get_path(g_ptr_array_index(got, 0), "payload", "user_id"),
				==,
				"7");
		g_assert_cmpstr(msg_get_path(g_ptr_array_index(got, 0), "payload", "role"),
				==,
				"ADMIN");
	}
	/* nothing for the old rooms any more, the new role room works */
	g_assert_cmpuint(deliver_to_room(fx, "admin"), ==, 0);
	g_assert_cmpuint(deliver_to_room(fx, "user_999"), ==, 0);
	g_assert_cmpuint(deliver_to_room(fx, "solicitud_3"), ==, 1); /* the advisor */
	g_assert_cmpuint(peer_count_type(a, "probe"), ==, 0);
	g_assert_cmpuint(deliver_to_room(fx, "client"), ==, 1);
	g_assert_cmpuint(deliver_to_room(fx, "user_7"), ==, 1);
	g_assert_cmpuint(peer_count_type(a, "probe"), ==, 2);
	g_ptr_array_unref(peer_read(advisor));
	g_assert_cmpuint(stat_get(fx, "admins_connected", NULL), ==, 0);
	g_assert_cmpuint(stat_get(fx, "clients_connected", NULL), ==, 1);
	g_assert_cmpuint(stat_get(fx, "connections_by_role", "CLIENT"), ==, 1);
	g_assert_cmpuint(stat_get(fx, "connected_users", NULL), ==, 2);
	g_assert_cmpuint(herald_ws_rooms_hub_count(fx->hub, "7"), ==, 1);
	/* CLIENT's subscribe rules apply now */
	{
		g_autoptr(JsonNode) refused =
		    peer_request(a, "{\"type\":\"subscribe\",\"room\":\"admin\"}");
		g_assert_cmpstr(msg_get(refused, "type"), ==, "error");
		g_assert_cmpstr(msg_get_path(refused, "payload", "code"), ==, "forbidden");
	}

	/* another user's token: refused, nothing changes */
	g_clear_pointer(&reply, json_node_unref);
	reply = peer_request(a, other_user);
	g_assert_cmpstr(msg_get(reply, "type"), ==, "error");
	g_assert_cmpstr(msg_get_path(reply, "payload", "code"), ==, "forbidden");
	/* an expired token: refused as before, nothing changes */
	g_clear_pointer(&reply, json_node_unref);
	reply = peer_request(a, expired);
	g_assert_cmpstr(msg_get(reply, "type"), ==, "error");
	g_assert_cmpstr(msg_get_path(reply, "payload", "code"), ==, "token_expired");
	g_assert_cmpuint(deliver_to_room(fx, "client"), ==, 1);
	g_assert_cmpuint(peer_count_type(a, "probe"), ==, 1);
	assert_room_events(fx, NULL);

	/* CLIENT → ADMIN with a valid token of the same user: a new identity,
	 * re-authorized like a new connection (joins admin, leaves client) */
	g_clear_pointer(&reply, json_node_unref);
	reply = peer_request(a, as_admin);
	g_assert_cmpstr(msg_get(reply, "type"), ==, "refreshed");
	g_assert_cmpstr(msg_get_path(reply, "payload", "role"), ==, "ADMIN");
	g_clear_pointer(&left, g_free);
	left = msg_get_rooms(reply, "left");
	g_assert_cmpstr(left, ==, "client");
	g_clear_pointer(&rooms, g_free);
	rooms = msg_get_rooms(reply, "rooms");
	g_assert_cmpstr(rooms, ==, "admin,notifications,user_7");
	g_assert_cmpuint(deliver_to_room(fx, "admin"), ==, 1);
	g_assert_cmpuint(deliver_to_room(fx, "client"), ==, 0);
	g_assert_cmpuint(peer_count_type(a, "probe"), ==, 1);
	g_assert_cmpuint(stat_get(fx, "admins_connected", NULL), ==, 1);
	g_assert_cmpuint(stat_get(fx, "clients_connected", NULL), ==, 0);
	assert_room_events(fx, (const gchar *[]){"user-updated 7 ADMIN", NULL});
	/* the same role again: nothing left, nothing announced */
	g_clear_pointer(&reply, json_node_unref);
	reply = peer_request(a, as_admin);
	g_clear_pointer(&left, g_free);
	left = msg_get_rooms(reply, "left");
	g_assert_cmpstr(left, ==, "");
	assert_room_events(fx, NULL);

	/* claim filters see the refreshed claims */
	seller = connect_peer(fx, "9", "SELLER", "123");
	g_ptr_array_unref(peer_read(seller));
	g_assert_cmpuint(deliver_to_seller(fx, "123"), ==, 1);
	g_assert_cmpuint(peer_count_type(seller, "SELLER_STATS_UPDATED"), ==, 1);
	g_clear_pointer(&reply, json_node_unref);
	reply = peer_request(seller, seller_456);
	g_assert_cmpstr(msg_get(reply, "type"), ==, "refreshed");
	g_assert_cmpuint(deliver_to_seller(fx, "123"), ==, 0);
	g_assert_cmpuint(deliver_to_seller(fx, "456"), ==, 1);
	{
		g_autoptr(GPtrArray) got = peer_read(seller);
		g_assert_cmpuint(got->len, ==, 1);
		g_assert_cmpstr(msg_get(g_ptr_array_index(got, 0), "seller_id"), ==, "456");
	}

	/* a token that does not verify: unauthorized and 4401, as before */
	g_clear_pointer(&reply, json_node_unref);
	peer_send(a, HERALD_WS_OPCODE_TEXT, "{\"type\":\"refresh\",\"token\":\"garbage\"}");
	{
		g_autoptr(GPtrArray) got = peer_read(a);
		g_assert_cmpuint(got->len, ==, 1);
		g_assert_cmpstr(msg_get_path(g_ptr_array_index(got, 0), "payload", "code"),
				==,
				"unauthorized");
		g_assert_cmpuint(a->close_code, ==, 4401);
	}
	/* 4 accepted (two role changes, the same role, the seller), 3 refused
	 * (another user, expired, garbage); admin, solicitud_3, user_999, client */
	g_assert_cmpuint(stat_get(fx, "refreshes_total", NULL), ==, 4);
	g_assert_cmpuint(stat_get(fx, "refreshes_refused_total", NULL), ==, 3);
	g_assert_cmpuint(stat_get(fx, "refresh_rooms_left_total", NULL), ==, 4);
	/* its rooms are released like any other connection's: notifications
	 * was the only announced one left */
	close(a->peer);
	a->peer = -1;
	assert_room_events(fx,
			   (const gchar *[]){"room-left 7 notifications",
					     "user-disconnected 7 -",
					     NULL});
}

static guint
peer_count(Peer *peer, const gchar *type)
{
	g_autoptr(GPtrArray) got = peer_read(peer);
	guint n = 0;
	for (guint i = 0; i < got->len; i++) {
		if (type == NULL || g_strcmp0(msg_get(g_ptr_array_index(got, i), "type"), type) == 0)
			n++;
	}
	return n;
}

/* seed 002: a room-wide message with userId reaches that user's connections
 * in the targets only, for every kind of target */
static void
hub_user_scope_func(Fixture *fx, gconstpointer data)
{
	Peer *u5a = connect_peer(fx, "5", "CLIENT", NULL);
	Peer *u5b = connect_peer(fx, "5", "CLIENT", NULL);
	Peer *u6 = connect_peer(fx, "6", "CLIENT", NULL);
	Peer *s7 = connect_peer(fx, "7", "SELLER", "123");
	const gchar *client_pairs[] = {"role", "client", NULL};

	g_ptr_array_unref(peer_read(u5a));
	g_ptr_array_unref(peer_read(u5b));
	g_ptr_array_unref(peer_read(u6));
	g_ptr_array_unref(peer_read(s7));
	request_ok(u5a, "subscribe", "notifications");
	request_ok(u6, "subscribe", "notifications");
	request_ok(s7, "subscribe", "notifications");

	/* a room: only user 5's connection in it (u5b is not subscribed) */
	{
		g_autoptr(HeraldDelivery) d = make_delivery("notification", "{\"userId\":\"5\"}");
		herald_delivery_add_room(d, "notifications");
		herald_delivery_set_user_scope(d, "5");
		g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, d), ==, 1);
		g_assert_cmpuint(peer_count(u5a, "notification"), ==, 1);
		g_assert_cmpuint(peer_count(u5b, NULL), ==, 0);
		g_assert_cmpuint(peer_count(u6, NULL), ==, 0);
		g_assert_cmpuint(peer_count(s7, NULL), ==, 0);
	}
	/* the role room: both of user 5's connections */
	{
		g_autoptr(HeraldDelivery) d = make_delivery("notification", "{}");
		herald_delivery_add_room(d, "client");
		herald_delivery_set_user_scope(d, "5");
		g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, d), ==, 2);
		g_assert_cmpuint(peer_count(u5a, NULL), ==, 1);
		g_assert_cmpuint(peer_count(u5b, NULL), ==, 1);
		g_assert_cmpuint(peer_count(u6, NULL), ==, 0);
	}
	/* a user not in the room: nobody */
	{
		g_autoptr(HeraldDelivery) d = make_delivery("notification", "{}");
		herald_delivery_add_room(d, "seller");
		herald_delivery_set_user_scope(d, "5");
		g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, d), ==, 0);
		g_assert_cmpuint(peer_count(s7, NULL), ==, 0);
	}
	/* another user's personal room: nobody */
	{
		g_autoptr(HeraldDelivery) d = make_delivery("notification", "{}");
		herald_delivery_add_user(d, "6");
		herald_delivery_set_user_scope(d, "5");
		g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, d), ==, 0);
		g_assert_cmpuint(peer_count(u6, NULL), ==, 0);
	}
	/* the broadcast room and the broadcast flag */
	{
		g_autoptr(HeraldDelivery) d1 = make_delivery("broadcast", "{}");
		g_autoptr(HeraldDelivery) d2 = make_delivery("broadcast", "{}");
		herald_delivery_add_room(d1, "all");
		herald_delivery_set_user_scope(d1, "6");
		herald_delivery_set_broadcast(d2, TRUE);
		herald_delivery_set_user_scope(d2, "6");
		g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, d1), ==, 1);
		g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, d2), ==, 1);
		g_assert_cmpuint(peer_count(u6, "broadcast"), ==, 2);
		g_assert_cmpuint(peer_count(u5a, NULL), ==, 0);
		g_assert_cmpuint(peer_count(s7, NULL), ==, 0);
	}
	/* claim filters (lowercase role, compared case-insensitively) */
	{
		g_autoptr(HeraldDelivery) d = make_delivery("notification", "{}");
		herald_delivery_add_filter(d, client_pairs);
		herald_delivery_set_user_scope(d, "6");
		g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, d), ==, 1);
		g_assert_cmpuint(peer_count(u6, NULL), ==, 1);
		g_assert_cmpuint(peer_count(u5a, NULL), ==, 0);
		g_assert_cmpuint(peer_count(u5b, NULL), ==, 0);
	}
	/* without a scope: the whole room, as before */
	{
		g_autoptr(HeraldDelivery) d = make_delivery("notification", "{}");
		herald_delivery_add_room(d, "notifications");
		g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, d), ==, 3);
	}
}

/* role names compare case-insensitively: seed 002's lowercase roles get
 * the role room, subscribe rights and claim filters of the uppercase table */
static void
hub_role_case_func(Fixture *fx, gconstpointer data)
{
	Peer *admin = connect_peer(fx, "1", "admin", NULL);
	Peer *seller = connect_peer(fx, "2", "seller", "123");
	Peer *seller_uc = connect_peer(fx, "3", "SELLER", "123");
	const gchar *admin_pairs[] = {"role", "ADMIN", NULL};
	const gchar *seller_pairs[] = {"role", "SELLER", "seller_id", "123", NULL};
	g_autoptr(HeraldDelivery) to_admin = make_delivery(
	    "ADMIN_STATS_UPDATED", "{\"type\":\"ADMIN_STATS_UPDATED\"}");
	g_autoptr(HeraldDelivery) to_seller = make_delivery(
	    "SELLER_STATS_UPDATED", "{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"123\"}");

	g_ptr_array_unref(peer_read(admin));
	g_ptr_array_unref(peer_read(seller));
	g_ptr_array_unref(peer_read(seller_uc));
	herald_delivery_add_filter(to_admin, admin_pairs);
	herald_delivery_add_filter(to_seller, seller_pairs);
	g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, to_admin), ==, 1);
	g_assert_cmpuint(peer_count(admin, "ADMIN_STATS_UPDATED"), ==, 1);
	g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, to_seller), ==, 2);
	g_assert_cmpuint(peer_count(seller, "SELLER_STATS_UPDATED"), ==, 1);
	g_assert_cmpuint(peer_count(seller_uc, "SELLER_STATS_UPDATED"), ==, 1);
	g_assert_cmpuint(peer_count(admin, NULL), ==, 0);
	/* the role room of "seller" is the SELLER room; an "admin" may subscribe anywhere */
	request_ok(admin, "subscribe", "user_2");
	/* one key per role in connections_by_role, however tokens spell it */
	g_assert_cmpuint(stat_get(fx, "connections_by_role", "SELLER"), ==, 2);
	g_assert_cmpuint(stat_get(fx, "connections_by_role", "ADMIN"), ==, 1);
	g_assert_cmpuint(stat_get(fx, "admins_connected", NULL), ==, 1);
}

/* user_left on every way of leaving an announcing room, once per user */
static void
hub_user_left_func(Fixture *fx, gconstpointer data)
{
	Peer *watcher = connect_peer(fx, "1", "ADVISOR", NULL);
	Peer *b1 = connect_peer(fx, "2", "ADVISOR", NULL);
	Peer *b2 = connect_peer(fx, "2", "ADVISOR", NULL);
	Peer *c = connect_peer(fx, "3", "ADVISOR", NULL);

	request_ok(watcher, "subscribe", "solicitud_17");
	request_ok(b1, "subscribe", "solicitud_17");
	/* user 2's second connection joins: no second user_joined */
	request_ok(b2, "subscribe", "solicitud_17");
	request_ok(c, "subscribe", "solicitud_17");
	g_assert_cmpuint(peer_count(watcher, "user_joined"), ==, 2);
	g_ptr_array_unref(peer_read(b1));
	g_ptr_array_unref(peer_read(b2));

	/* b1 disconnects while b2 is still in the room: no user_left */
	close(b1->peer);
	b1->peer = -1;
	run_pending();
	g_assert_cmpuint(peer_count(watcher, "user_left"), ==, 0);
	/* b2 disconnects: user 2 left, once */
	close(b2->peer);
	b2->peer = -1;
	run_pending();
	{
		g_autoptr(GPtrArray) got = peer_read(watcher);
		g_assert_cmpuint(got->len, ==, 1);
		g_assert_cmpstr(msg_get(g_ptr_array_index(got, 0), "type"), ==, "user_left");
		g_assert_cmpstr(msg_get(g_ptr_array_index(got, 0), "room"), ==, "solicitud_17");
		g_assert_cmpstr(msg_get_path(g_ptr_array_index(got, 0), "payload", "user_id"), ==, "2");
		g_assert_cmpstr(msg_get_path(g_ptr_array_index(got, 0), "payload", "role"),
				==,
				"ADVISOR");
	}
	g_assert_cmpuint(peer_count(c, "user_left"), ==, 1);
	/* closed by the server (as at expiry or for a slow consumer) */
	herald_ws_rooms_client_close((HeraldWsRoomsClient *)c->conn->user_data);
	run_pending();
	g_assert_cmpuint(peer_count(watcher, "user_left"), ==, 1);
	g_assert_cmpuint(stat_get(fx, "user_left_total", NULL), ==, 2);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add("/herald/ws-rooms/hub/deliver",
		   Fixture,
		   NULL,
		   fixture_init,
		   hub_deliver_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/hub/plain-messages",
		   Fixture,
		   NULL,
		   fixture_init,
		   hub_plain_messages_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/hub/many-rooms",
		   Fixture,
		   NULL,
		   fixture_init,
		   hub_many_rooms_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/hub/user-limit-race",
		   Fixture,
		   NULL,
		   fixture_init,
		   hub_user_limit_race_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/hub/room-events",
		   Fixture,
		   NULL,
		   fixture_init,
		   hub_room_events_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/hub/room-presence",
		   Fixture,
		   NULL,
		   fixture_init,
		   hub_room_presence_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/hub/slow-consumer",
		   Fixture,
		   NULL,
		   fixture_init,
		   hub_slow_consumer_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/hub/presence",
		   Fixture,
		   NULL,
		   fixture_init,
		   hub_presence_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/hub/shutdown",
		   Fixture,
		   NULL,
		   fixture_init,
		   hub_shutdown_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/hub/refresh",
		   Fixture,
		   NULL,
		   fixture_init,
		   hub_refresh_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/hub/user-scope",
		   Fixture,
		   NULL,
		   fixture_init,
		   hub_user_scope_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/hub/role-case",
		   Fixture,
		   NULL,
		   fixture_init,
		   hub_role_case_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/hub/user-left",
		   Fixture,
		   NULL,
		   fixture_init,
		   hub_user_left_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/hub/parallel-pass",
		   Fixture,
		   NULL,
		   fixture_init,
		   hub_parallel_pass_func,
		   fixture_teardown);
	return g_test_run();
}
