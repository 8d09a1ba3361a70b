/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "herald-event.h"

static JsonNode *
parse(const gchar *text)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_assert_true(json_parser_load_from_data(parser, text, -1, NULL));
	return json_parser_steal_root(parser);
}

static void
test_event_fields(void)
{
	g_autoptr(JsonNode) payload = parse("{\"type\":\"X\",\"a\":{\"b\":17},\"s\":\"v\",\"d\":1.5,\"t\":true}");
	g_autoptr(HeraldEvent) event = herald_event_new("solicitud_created", "solicitud.created", payload, "i1");
	g_autoptr(GRegex) rfc3339 = g_regex_new("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$", 0, 0, NULL);
	g_autofree gchar *nested = herald_event_get_payload_field(event, "a.b");
	g_autofree gchar *str = herald_event_get_payload_field(event, "s");
	g_autofree gchar *dbl = herald_event_get_payload_field(event, "d");
	g_autofree gchar *boolean = herald_event_get_payload_field(event, "t");
	g_autofree gchar *missing = herald_event_get_payload_field(event, "a.c");
	g_autofree gchar *through_scalar = herald_event_get_payload_field(event, "s.x");

	g_assert_cmpuint(strlen(herald_event_get_id(event)), ==, 36);
	g_assert_cmpstr(herald_event_get_type_name(event), ==, "solicitud_created");
	g_assert_cmpstr(herald_event_get_channel(event), ==, "solicitud.created");
	g_assert_cmpstr(herald_event_get_origin(event), ==, "i1");
	g_assert_true(g_regex_match(rfc3339, herald_event_get_timestamp_string(event), 0, NULL));
	g_assert_cmpstr(nested, ==, "17");
	g_assert_cmpstr(str, ==, "v");
	g_assert_null(dbl);
	g_assert_null(boolean);
	g_assert_null(missing);
	g_assert_null(through_scalar);
	g_assert_true(herald_event_is_verbatim(event));
	/* serialized once, then reused */
	g_assert_true(herald_event_get_payload_json(event) == herald_event_get_payload_json(event));
	g_assert_cmpstr(herald_event_get_payload_json(event),
			==,
			"{\"type\":\"X\",\"a\":{\"b\":17},\"s\":\"v\",\"d\":1.5,\"t\":true}");
	/* the payload was copied and sealed: the caller's node stays its own */
	g_assert_true(herald_event_get_payload(event) != payload);
	g_assert_true(json_node_is_immutable(herald_event_get_payload(event)));
}

static void
test_event_not_verbatim(void)
{
	g_autoptr(JsonNode) array = parse("[1,2]");
	g_autoptr(JsonNode) numeric_type = parse("{\"type\":3}");
	g_autoptr(HeraldEvent) e1 = herald_event_new(NULL, "c", array, NULL);
	g_autoptr(HeraldEvent) e2 = herald_event_new(NULL, "c", numeric_type, NULL);
	g_autoptr(HeraldEvent) e3 = herald_event_new(NULL, "c", NULL, NULL);
	g_assert_false(herald_event_is_verbatim(e1));
	g_assert_false(herald_event_is_verbatim(e2));
	g_assert_false(herald_event_is_verbatim(e3));
	g_assert_cmpstr(herald_event_get_payload_json(e3), ==, "null");
}

static void
test_timestamp(void)
{
	g_autofree gchar *ts = herald_timestamp_format(G_GINT64_CONSTANT(1763823845123456));
	g_autoptr(HeraldEvent) event =
	    herald_event_new_full("id-1", "t", "c", NULL, G_GINT64_CONSTANT(1000), NULL);
	g_assert_cmpstr(ts, ==, "2025-11-22T15:04:05.123Z");
	g_assert_cmpstr(herald_event_get_id(event), ==, "id-1");
	g_assert_cmpstr(herald_event_get_timestamp_string(event), ==, "1970-01-01T00:00:00.001Z");
}

static void
test_delivery(void)
{
	g_autoptr(HeraldEvent) event = herald_event_new("typ", "c", NULL, NULL);
	g_autoptr(HeraldDelivery) delivery = herald_delivery_new(event, NULL);
	const gchar *pairs[] = {"role", "SELLER", "seller_id", "123", NULL};
	GPtrArray *filters;

	g_assert_cmpstr(herald_delivery_get_name(delivery), ==, "typ");
	g_assert_true(herald_delivery_is_empty(delivery));
	herald_delivery_add_room(delivery, "admin");
	herald_delivery_add_room(delivery, "admin");
	herald_delivery_add_room(delivery, "advisor");
	herald_delivery_add_user(delivery, "42");
	herald_delivery_add_user(delivery, "42");
	herald_delivery_add_filter(delivery, pairs);
	g_assert_cmpuint(herald_delivery_get_rooms(delivery)->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(herald_delivery_get_rooms(delivery), 1), ==, "advisor");
	g_assert_cmpuint(herald_delivery_get_users(delivery)->len, ==, 1);
	filters = herald_delivery_get_filters(delivery);
	g_assert_cmpuint(filters->len, ==, 1);
	g_assert_cmpstr(((gchar **)g_ptr_array_index(filters, 0))[3], ==, "123");
	g_assert_false(herald_delivery_is_empty(delivery));
	g_assert_true(herald_delivery_get_event(delivery) == event);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/herald/event/fields", test_event_fields);
	g_test_add_func("/herald/event/not-verbatim", test_event_not_verbatim);
	g_test_add_func("/herald/event/timestamp", test_timestamp);
	g_test_add_func("/herald/event/delivery", test_delivery);
	return g_test_run();
}
