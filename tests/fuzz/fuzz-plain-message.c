/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plain WebSocket protocol of ws-rooms, as the hub unit test drives it:
 * one hub for the whole process, and per input one authenticated client on a
 * socketpair that sends the input's lines as masked text messages. Every
 * message must get exactly one JSON reply with a string "type" until the
 * server closes the connection (then with a valid close code), nothing may
 * follow a close frame, and once the client hangs up the hub must have let go
 * of it (no connection left open, nothing growing from one input to the next).
 *
 * Input: messages, one per line (at most 32).
 */
#include "config.h"

#include <sys/socket.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "herald-auth.h"
#include "herald-ws-rooms-hub.h"

#define SECRET "fuzz-secret-0123456789abcdef0123456789abcdef0123456789abcdef0123"
#define MAX_MESSAGES 32

static HeraldBus *bus;
static HeraldWsRoomsHub *hub;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	g_autoptr(HeraldConfig) config = herald_config_new();
	g_autoptr(HeraldAuth) auth = NULL;
	g_autoptr(GError) error = NULL;
	HeraldWsRoomsLimits limits;
	guint n_keys = 0;
	const HeraldConfigKey *keys = herald_auth_get_config_keys(&n_keys);

	fuzz_init_logging();
	herald_config_add_schema(config, "auth", keys, n_keys);
	g_assert_true(herald_config_load_data(config, "[auth]\nalgorithms=HS256\nsecret=" SECRET "\n", &error));
	auth = herald_auth_new(config, &error);
	g_assert_no_error(error);
	bus = herald_bus_new("fuzz");
	hub = herald_ws_rooms_hub_new(bus, auth, &error);
	g_assert_no_error(error);
	limits = *herald_ws_rooms_hub_get_limits(hub);
	limits.broadcast_room = (gchar *)"all";
	limits.rate_limit = 0; /* every message of the input is parsed */
	limits.max_message_bytes = 16384;
	herald_ws_rooms_hub_set_limits(hub, &limits);
	return 0;
}

static void
run_pending(void)
{
	while (g_main_context_iteration(NULL, FALSE))
		;
}

typedef struct {
	gint fd;
	HeraldWsParser parser;
	GByteArray *in;
	guint close_code;
	guint replies;
} Peer;

/* reads what the hub wrote so far; counts the replies, checks each */
static void
peer_read(Peer *peer)
{
	for (;;) {
		guint8 buf[65536];
		gssize n = recv(peer->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			break;
		g_byte_array_append(peer->in, buf, (guint)n);
	}
	for (;;) {
		HeraldWsFrame frame;
		gsize consumed = 0;
		HeraldWsParseResult res =
		    herald_ws_parser_feed(&peer->parser, peer->in->data, peer->in->len, &consumed, &frame);
		if (res == HERALD_WS_PARSE_NEED_MORE)
			break;
		g_assert_cmpuint(peer->close_code, ==, 0); /* nothing after the close */
		if (res == HERALD_WS_PARSE_CONTROL) {
			if (frame.opcode == HERALD_WS_OPCODE_CLOSE) {
				g_assert_true(herald_ws_close_code_is_valid(frame.close_code));
				peer->close_code = frame.close_code;
			}
		} else {
			g_autoptr(JsonParser) parser = json_parser_new();
			JsonNode *root;
			JsonNode *type;
			g_assert_cmpint(res, ==, HERALD_WS_PARSE_MESSAGE);
			g_assert_cmpuint(frame.opcode, ==, HERALD_WS_OPCODE_TEXT);
			g_assert_true(json_parser_load_from_data(parser, (const gchar *)frame.payload,
								 (gssize)frame.len, NULL));
			root = json_parser_get_root(parser);
			g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
			type = json_object_get_member(json_node_get_object(root), "type");
			g_assert_nonnull(type);
			g_assert_cmpint(json_node_get_value_type(type), ==, G_TYPE_STRING);
			peer->replies++;
		}
		g_byte_array_remove_range(peer->in, 0, (guint)consumed);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzInput in = {data, size};
	g_autoptr(JsonObject) claims = json_object_new();
	g_autoptr(HeraldIdentity) identity = NULL;
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketConnection) stream = NULL;
	g_autoptr(GError) error = NULL;
	HeraldWsRoomsConn *conn;
	Peer peer = {-1};
	guint sent = 0;
	gint fds[2];

	if (has_surrogate_escape(data, size))
		return 0;
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
	socket = g_socket_new_from_fd(fds[0], &error);
	g_assert_no_error(error);
	stream = g_socket_connection_factory_create_connection(socket);
	json_object_set_string_member(claims, "sub", "fuzz-user");
	json_object_set_string_member(claims, "role", "CLIENT");
	identity = herald_identity_new("fuzz-user", "CLIENT", 0, claims);
	peer.fd = fds[1];
	peer.in = g_byte_array_new();
	herald_ws_parser_init(&peer.parser, 1 << 24, FALSE);
	conn = herald_ws_rooms_hub_adopt(hub, G_IO_STREAM(stream), HERALD_WS_ROOMS_PROTO_PLAIN, &error);
	g_assert_no_error(error);
	g_assert_nonnull(conn);
	herald_ws_rooms_plain_start(hub, conn, identity, "127.0.0.1");
	run_pending();
	peer_read(&peer);
	g_assert_cmpuint(peer.replies, ==, 1); /* connected */

	while (in.size > 0 && sent < MAX_MESSAGES && peer.close_code == 0) {
		gsize len = 0;
		g_autofree gchar *text = fuzz_take_until(&in, '\n', &len);
		g_autoptr(GBytes) frame =
		    herald_ws_frame_new_masked(HERALD_WS_OPCODE_TEXT, TRUE, (const guint8 *)text, len, 0x5a5aa5a5u + sent);
		guint before = peer.replies;
		g_assert_cmpint(send(peer.fd, g_bytes_get_data(frame, NULL), g_bytes_get_size(frame), MSG_NOSIGNAL),
				==,
				(gssize)g_bytes_get_size(frame));
		sent++;
		for (guint i = 0; i < 8 && peer.replies == before && peer.close_code == 0; i++) {
			run_pending();
			peer_read(&peer);
		}
		/* one reply per message, unless the message ended the connection */
		if (peer.close_code == 0)
			g_assert_cmpuint(peer.replies, ==, before + 1);
		else
			g_assert_cmpuint(peer.replies, <=, before + 1);
	}

	close(peer.fd);
	for (guint i = 0; i < 1000 && herald_ws_rooms_hub_get_n_open(hub) > 0; i++) {
		run_pending();
		if (herald_ws_rooms_hub_get_n_open(hub) > 0)
			g_usleep(100);
	}
	g_assert_cmpuint(herald_ws_rooms_hub_get_n_open(hub), ==, 0);
	g_assert_cmpuint(herald_ws_rooms_hub_count(hub, "fuzz-user"), ==, 0);
	herald_ws_parser_clear(&peer.parser);
	g_byte_array_unref(peer.in);
	return 0;
}
