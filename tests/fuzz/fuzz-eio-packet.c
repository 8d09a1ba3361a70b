/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Engine.IO v4 payload splitting (polling POST bodies) and the Socket.IO v5
 * packet decoder of ws-rooms. A payload that splits must join back to itself
 * with only valid packets; every Socket.IO packet decoded must be
 * well-formed, and an event rebuilt by the server-side builder must decode to
 * the same name and data.
 */
#include "config.h"

#include "fuzz-common.h"
#include "herald-ws-rooms-packet.h"

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(HeraldSioPacket, herald_sio_packet_clear)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init_logging();
	return 0;
}

/* the builder's escaping decodes to the same string */
static void
check_string_round_trip(const gchar *text)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	herald_ws_rooms_json_append_string(out, text);
	g_assert_true(json_parser_load_from_data(parser, out->str, (gssize)out->len, NULL));
	g_assert_cmpstr(json_node_get_string(json_parser_get_root(parser)), ==, text);
}

static void
check_event_round_trip(const HeraldSioPacket *packet)
{
	JsonArray *array;
	const gchar *name;
	g_autofree gchar *arg_json = NULL;
	g_autoptr(GString) rebuilt = NULL;
	g_auto(HeraldSioPacket) again = {0};
	g_autoptr(GError) error = NULL;

	if (packet->data == NULL || !JSON_NODE_HOLDS_ARRAY(packet->data))
		return;
	array = json_node_get_array(packet->data);
	if (json_array_get_length(array) == 0 || json_array_get_length(array) > 2)
		return;
	if (!JSON_NODE_HOLDS_VALUE(json_array_get_element(array, 0)) ||
	    json_node_get_value_type(json_array_get_element(array, 0)) != G_TYPE_STRING)
		return;
	name = json_array_get_string_element(array, 0);
	check_string_round_trip(name);
	if (json_array_get_length(array) == 2)
		arg_json = json_to_string(json_array_get_element(array, 1), FALSE);
	rebuilt = herald_sio_event_new(name, arg_json);
	/* the builder writes an Engine.IO message: skip its '4' */
	g_assert_cmpint(rebuilt->str[0], ==, '4');
	if (!herald_sio_packet_parse(rebuilt->str + 1, rebuilt->len - 1, &again, &error))
		g_error("rebuilt event does not parse: %s: %s", rebuilt->str, error->message);
	g_assert_cmpint(again.type, ==, HERALD_SIO_EVENT);
	g_assert_cmpstr(again.nsp, ==, "/");
	g_assert_cmpint(again.ack_id, ==, -1);
	g_assert_nonnull(again.data);
	g_assert_true(json_node_equal(again.data, packet->data));
}

static void
check_sio(const gchar *text, gsize len)
{
	g_auto(HeraldSioPacket) packet = {0};
	g_autoptr(GError) error = NULL;

	if (!herald_sio_packet_parse(text, len, &packet, &error)) {
		g_assert_nonnull(error);
		return;
	}
	g_assert_no_error(error);
	g_assert_cmpint(packet.type, >=, HERALD_SIO_CONNECT);
	g_assert_cmpint(packet.type, <=, HERALD_SIO_BINARY_ACK);
	g_assert_nonnull(packet.nsp);
	g_assert_cmpint(packet.nsp[0], ==, '/');
	g_assert_cmpint(packet.ack_id, >=, -1);
	if (packet.type == HERALD_SIO_EVENT && g_str_equal(packet.nsp, "/") && packet.ack_id == -1)
		check_event_round_trip(&packet);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const gchar *body = (const gchar *)data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) packets = herald_eio_payload_split(body, size, &error);
	g_autoptr(GString) joined = g_string_new(NULL);

	/* the WebSocket transport hands one packet per frame */
	if (size > 0 && body[0] == '4' && herald_eio_packet_is_valid(body, size))
		check_sio(body + 1, size - 1);
	if (packets == NULL) {
		g_assert_nonnull(error);
		return 0;
	}
	g_assert_no_error(error);
	g_assert_cmpuint(packets->len, >=, 1);
	for (guint i = 0; i < packets->len; i++) {
		gsize len = 0;
		const gchar *text = g_bytes_get_data(g_ptr_array_index(packets, i), &len);
		g_assert_true(herald_eio_packet_is_valid(text, len));
		g_assert_null(memchr(text, HERALD_EIO_SEPARATOR, len));
		if (i > 0)
			g_string_append_c(joined, HERALD_EIO_SEPARATOR);
		g_string_append_len(joined, text, (gssize)len);
		if (text[0] == HERALD_EIO_MESSAGE) {
			/* a NUL-terminated copy, as the session hands it on */
			g_autofree gchar *copy = fuzz_strndup((const uint8_t *)text + 1, len - 1);
			check_sio(copy, len - 1);
		}
	}
	g_assert_cmpmem(joined->str, joined->len, body, size);
	return 0;
}
