/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hub without HTTP: connections are socketpairs handed to the hub as if
 * libsoup had just written the 101, deliveries come straight from a bus.
 */
#include "config.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "herald-ws-rooms-hub.h"

typedef struct {
	gint peer; /* our end of the socketpair */
	HeraldWsRoomsConn *conn;
	HeraldWsParser parser;
	GByteArray *in;
} Peer;

typedef struct {
	HeraldBus *bus;
	HeraldWsRoomsHub *hub;
	GPtrArray *peers; /* (element-type Peer) */
	guint connected_events;
	guint disconnected_events;
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
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
	g_clear_pointer(&fx->hub, herald_ws_rooms_hub_free);
	g_clear_pointer(&fx->peers, g_ptr_array_unref);
	g_clear_object(&fx->bus);
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
	herald_ws_rooms_plain_start(fx->hub, peer->conn, identity);
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
	shared_a = a->conn->queue
		       .items[(a->conn->queue.head + a->conn->queue.len - 1) % a->conn->queue.cap];
	shared_b = b->conn->queue
		       .items[(b->conn->queue.head + b->conn->queue.len - 1) % b->conn->queue.cap];
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

	/* the broadcast room reaches everyone, as does the broadcast flag */
	herald_delivery_add_room(broadcast, "all");
	g_assert_cmpuint(herald_ws_rooms_hub_deliver(fx->hub, broadcast), ==, 3);
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
	/* a close frame 1001 */
	n = recv(a->peer, buf, sizeof(buf), MSG_DONTWAIT);
	g_assert_cmpint(n, >=, 4);
	g_assert_cmpuint(buf[0], ==, 0x88);
	g_assert_cmpuint(((guint)buf[2] << 8) | buf[3], ==, HERALD_WS_CLOSE_GOING_AWAY);
	/* no new connections meanwhile */
	{
		g_autoptr(GError) error = NULL;
		g_assert_false(herald_ws_rooms_hub_check_admission(fx->hub, "2", &error));
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_SHUTTING_DOWN);
	}
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
	return g_test_run();
}
