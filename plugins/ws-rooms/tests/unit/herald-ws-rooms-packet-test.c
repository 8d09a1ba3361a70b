/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <herald.h>
#include <string.h>

#include "herald-ws-rooms-packet.h"

static void
herald_ws_rooms_packet_parse_func(void)
{
	struct {
		const gchar *text;
		HeraldSioType type;
		const gchar *nsp;
		gint64 ack_id;
		const gchar *data; /* compact JSON, or NULL */
	} cases[] = {
	    {"0", HERALD_SIO_CONNECT, "/", -1, NULL},
	    {"0{\"token\":\"abc\"}", HERALD_SIO_CONNECT, "/", -1, "{\"token\":\"abc\"}"},
	    {"0/admin,{\"token\":\"x\"}", HERALD_SIO_CONNECT, "/admin", -1, "{\"token\":\"x\"}"},
	    {"1", HERALD_SIO_DISCONNECT, "/", -1, NULL},
	    {"2[\"hello\",1]", HERALD_SIO_EVENT, "/", -1, "[\"hello\",1]"},
	    {"2456[\"message-with-ack\",1]",
	     HERALD_SIO_EVENT,
	     "/",
	     456,
	     "[\"message-with-ack\",1]"},
	    {"2/admin,7[\"x\"]", HERALD_SIO_EVENT, "/admin", 7, "[\"x\"]"},
	    {"312[]", HERALD_SIO_ACK, "/", 12, "[]"},
	    {"4{\"message\":\"no\"}", HERALD_SIO_CONNECT_ERROR, "/", -1, "{\"message\":\"no\"}"},
	    {"51-[\"up\",{\"_placeholder\":true,\"num\":0}]",
	     HERALD_SIO_BINARY_EVENT,
	     "/",
	     -1,
	     "[\"up\",{\"_placeholder\":true,\"num\":0}]"},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		HeraldSioPacket packet;
		g_autoptr(GError) error = NULL;
		gboolean ok =
		    herald_sio_packet_parse(cases[i].text, strlen(cases[i].text), &packet, &error);
		g_assert_no_error(error);
		g_assert_true(ok);
		g_assert_cmpint(packet.type, ==, cases[i].type);
		g_assert_cmpstr(packet.nsp, ==, cases[i].nsp);
		g_assert_cmpint(packet.ack_id, ==, cases[i].ack_id);
		if (cases[i].data == NULL) {
			g_assert_null(packet.data);
		} else {
			g_autofree gchar *json = json_to_string(packet.data, FALSE);
			g_assert_cmpstr(json, ==, cases[i].data);
		}
		herald_sio_packet_clear(&packet);
	}
}

static void
herald_ws_rooms_packet_parse_bad_func(void)
{
	const gchar *cases[] = {
	    "",
	    "7",
	    "abc",
	    "2{}",			/* event payload must be an array */
	    "2[]",			/* …and not empty */
	    "2[{}]",			/* …starting with a name */
	    "2[\"connect\"]",		/* reserved name */
	    "2[\"disconnecting\",1]",	/* reserved name */
	    "2[\"x\"",			/* bad JSON */
	    "1{}",			/* disconnect carries nothing */
	    "0[1]",			/* connect auth must be an object */
	    "5[\"x\"]",			/* binary without attachment count */
	    "3",			/* ack without array */
	    "21234567890123456[\"x\"]", /* absurd ack id */
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		HeraldSioPacket packet;
		g_autoptr(GError) error = NULL;
		g_assert_false(
		    herald_sio_packet_parse(cases[i], strlen(cases[i]), &packet, &error));
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
		g_assert_false(packet.too_deep);
		herald_sio_packet_clear(&packet);
	}
}

/* 200,000 levels overflow json-glib 1.6's stack: refused before it, and told
 * apart from other bad JSON (the transport answers it with 1007) */
static void
herald_ws_rooms_packet_parse_deep_func(void)
{
	g_autoptr(GString) text = g_string_new("2[\"x\",");
	HeraldSioPacket packet;
	g_autoptr(GError) error = NULL;
	guint64 before = herald_json_get_rejected_total();

	for (guint i = 0; i < 200000; i++)
		g_string_append_c(text, '[');
	g_assert_false(herald_sio_packet_parse(text->str, text->len, &packet, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	g_assert_true(packet.too_deep);
	g_assert_null(packet.data);
	g_assert_cmpuint(herald_json_get_rejected_total(), ==, before + 1);
	herald_sio_packet_clear(&packet);
}

static void
herald_ws_rooms_packet_split_func(void)
{
	const gchar body[] = "40{\"token\":\"t\"}\x1e"
			     "2\x1e"
			     "42[\"ping\"]";
	g_autoptr(GPtrArray) packets = NULL;
	g_autoptr(GPtrArray) binary = NULL;
	g_autoptr(GPtrArray) garbage = NULL;
	g_autoptr(GPtrArray) empty = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) error_binary = NULL;
	g_autoptr(GError) error_garbage = NULL;
	g_autoptr(GError) error_empty = NULL;
	gsize len = 0;
	const gchar *data;

	packets = herald_eio_payload_split(body, strlen(body), &error);
	g_assert_no_error(error);
	g_assert_cmpuint(packets->len, ==, 3);
	data = g_bytes_get_data(g_ptr_array_index(packets, 1), &len);
	g_assert_cmpmem(data, len, "2", 1);
	data = g_bytes_get_data(g_ptr_array_index(packets, 2), &len);
	g_assert_cmpmem(data, len, "42[\"ping\"]", 10);

	binary = herald_eio_payload_split("4x\x1e"
					  "bAQID",
					  8,
					  &error_binary);
	g_assert_null(binary);
	g_assert_error(error_binary, HERALD_ERROR, HERALD_ERROR_UNSUPPORTED_MEDIA);
	garbage = herald_eio_payload_split("abc", 3, &error_garbage);
	g_assert_null(garbage);
	g_assert_error(error_garbage, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	empty = herald_eio_payload_split("4x\x1e\x1e", 4, &error_empty);
	g_assert_null(empty);
	g_assert_error(error_empty, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
}

static void
herald_ws_rooms_packet_build_func(void)
{
	g_autoptr(GString) event = herald_sio_event_new("solicitud_created", "{\"id\":1}");
	g_autoptr(GString) quoted = herald_sio_event_new("a\"b\n\x01", NULL);
	g_autoptr(GString) ack = herald_sio_ack_new(456, "1");
	g_autofree gchar *open = herald_eio_open_new("SID", TRUE, 25000, 20000, 1000000);
	g_autofree gchar *open_ws = herald_eio_open_new("SID", FALSE, 300, 200, 1000);
	g_autoptr(JsonNode) node = NULL;

	g_assert_cmpstr(event->str, ==, "42[\"solicitud_created\",{\"id\":1}]");
	g_assert_cmpstr(quoted->str, ==, "42[\"a\\\"b\\n\\u0001\"]");
	g_assert_cmpstr(ack->str, ==, "43456[1]");
	g_assert_cmpstr(open,
			==,
			"0{\"sid\":\"SID\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,"
			"\"pingTimeout\":20000,\"maxPayload\":1000000}");
	g_assert_cmpstr(open_ws,
			==,
			"0{\"sid\":\"SID\",\"upgrades\":[],\"pingInterval\":300,"
			"\"pingTimeout\":200,\"maxPayload\":1000}");
	/* what the builder escapes is valid JSON */
	node = json_from_string(quoted->str + 2, NULL);
	g_assert_nonnull(node);
	g_assert_cmpstr(json_array_get_string_element(json_node_get_array(node), 0),
			==,
			"a\"b\n\x01");
	g_assert_true(herald_sio_event_name_is_reserved("connect_error"));
	g_assert_true(herald_sio_event_name_is_reserved("removeListener"));
	g_assert_false(herald_sio_event_name_is_reserved("connected"));
	g_assert_true(herald_eio_packet_is_valid("2probe", 6));
	g_assert_false(herald_eio_packet_is_valid("8", 1));
	g_assert_false(herald_eio_packet_is_valid("4\0", 2));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/herald/ws-rooms/packet/parse", herald_ws_rooms_packet_parse_func);
	g_test_add_func("/herald/ws-rooms/packet/parse-bad", herald_ws_rooms_packet_parse_bad_func);
	g_test_add_func("/herald/ws-rooms/packet/parse-deep", herald_ws_rooms_packet_parse_deep_func);
	g_test_add_func("/herald/ws-rooms/packet/split", herald_ws_rooms_packet_split_func);
	g_test_add_func("/herald/ws-rooms/packet/build", herald_ws_rooms_packet_build_func);
	return g_test_run();
}
