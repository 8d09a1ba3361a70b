/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "herald-config.h"
#include "herald-error.h"
#include "herald-route.h"

/* the shipped routes, as data/herald.conf documents them */
static const gchar *shipped_routes =
    "[route ws-room]\nchannels=ws:room:*\nrooms={1}\nevent={type}\n"
    "[route ws-user]\nchannels=ws:user:*\nusers={1}\nevent={type}\n"
    "[route solicitud]\nchannels=solicitud.*\nrooms=admin;advisor;solicitud_{solicitud_id}\nusers={asesor_id}\n"
    "[route oferta]\nchannels=oferta.*\nrooms=admin;solicitud_{solicitud_id}\nusers={asesor_id}\n"
    "[route evaluacion]\nchannels=evaluacion.*\nrooms=admin;solicitud_{solicitud_id}\nusers={asesor_id}\n"
    "[route cliente]\nchannels=cliente.*\nrooms=admin\nusers={cliente_id}\n"
    "[route notificacion]\nchannels=notificacion.*\nusers={user_id}\n"
    "[route realtime-notifications]\nchannels=realtime:notifications\nrooms=notifications\nevent={type}\n"
    "[route realtime-orders]\nchannels=realtime:orders\nrooms=orders\nevent={type}\n"
    "[route realtime-inventory]\nchannels=realtime:inventory\nrooms=inventory\nevent={type}\n"
    "[route realtime-broadcasts]\nchannels=realtime:broadcasts\nrooms=all\nevent={type}\n"
    "[route stats]\nchannels=events\nhandler=stats-filter\n"
    "[route seller]\nchannels=seller.*\nfilters=role=SELLER&seller_id={seller_id}\n";

static HeraldRouter *
load_router(const gchar *data, GError **error)
{
	g_autoptr(HeraldConfig) config = herald_config_new();
	g_autoptr(HeraldRouter) router = herald_router_new();
	guint n_keys = 0;
	const HeraldConfigKey *keys = herald_router_get_config_keys(&n_keys);
	herald_config_add_group_prefix(config, "route ", keys, n_keys);
	g_assert_true(herald_config_load_data(config, data, NULL));
	if (!herald_router_load(router, config, error))
		return NULL;
	return g_steal_pointer(&router);
}

static GPtrArray *
route(HeraldRouter *router, const gchar *channel, const gchar *payload_json)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(HeraldEvent) event = NULL;
	g_assert_true(json_parser_load_from_data(parser, payload_json, -1, NULL));
	event = herald_event_new(NULL, channel, json_parser_get_root(parser), NULL);
	return herald_router_route(router, event);
}

static gchar *
join(GPtrArray *array)
{
	g_autoptr(GString) str = g_string_new(NULL);
	for (guint i = 0; i < array->len; i++)
		g_string_append_printf(str, "%s%s", i > 0 ? "," : "", (const gchar *)g_ptr_array_index(array, i));
	return g_strdup(str->str);
}

static void
assert_delivery(GPtrArray *matches, const gchar *name, const gchar *rooms, const gchar *users)
{
	HeraldRouteMatch *match;
	g_autofree gchar *r = NULL;
	g_autofree gchar *u = NULL;
	g_assert_cmpuint(matches->len, ==, 1);
	match = g_ptr_array_index(matches, 0);
	g_assert_null(match->handler);
	g_assert_nonnull(match->delivery);
	r = join(herald_delivery_get_rooms(match->delivery));
	u = join(herald_delivery_get_users(match->delivery));
	g_assert_cmpstr(herald_delivery_get_name(match->delivery), ==, name);
	g_assert_cmpstr(r, ==, rooms);
	g_assert_cmpstr(u, ==, users);
}

static void
test_glob(void)
{
	g_assert_true(herald_glob_match("*", ""));
	g_assert_true(herald_glob_match("*", "anything.at:all"));
	g_assert_true(herald_glob_match("solicitud.*", "solicitud.created"));
	g_assert_true(herald_glob_match("solicitud.*", "solicitud."));
	g_assert_false(herald_glob_match("solicitud.*", "solicitudXcreated"));
	g_assert_false(herald_glob_match("solicitud.*", "oferta.created"));
	g_assert_true(herald_glob_match("ws:room:*", "ws:room:admin"));
	g_assert_true(herald_glob_match("a?c", "abc"));
	g_assert_false(herald_glob_match("a?c", "ac"));
	g_assert_true(herald_glob_match("*.*.x", "a.b.c.x"));
	g_assert_false(herald_glob_match("*.*.x", "a.x"));
	g_assert_true(herald_glob_match("events", "events"));
	g_assert_false(herald_glob_match("events", "events2"));
	g_assert_false(herald_glob_match("", "a"));
	g_assert_true(herald_glob_match("", ""));
	/* pathological patterns stay linear-ish instead of exploding */
	g_assert_false(herald_glob_match("*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void
test_shipped_routes(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldRouter) router = load_router(shipped_routes, &error);
	g_autoptr(GPtrArray) m1 = NULL;
	g_autoptr(GPtrArray) m2 = NULL;
	g_autoptr(GPtrArray) m3 = NULL;
	g_autoptr(GPtrArray) m4 = NULL;
	g_autoptr(GPtrArray) m5 = NULL;
	g_autoptr(GPtrArray) m6 = NULL;
	g_autoptr(GPtrArray) m7 = NULL;
	g_autoptr(GPtrArray) m8 = NULL;
	g_autoptr(GPtrArray) m9 = NULL;
	g_autoptr(GPtrArray) m10 = NULL;
	g_auto(GStrv) patterns = NULL;
	HeraldRouteMatch *match;

	g_assert_no_error(error);
	m1 = route(router, "ws:room:admin", "{\"type\":\"notification\",\"payload\":{}}");
	assert_delivery(m1, "notification", "admin", "");
	m2 = route(router, "ws:user:42", "{\"type\":\"order_update\"}");
	assert_delivery(m2, "order_update", "", "42");
	m3 = route(router, "solicitud.created", "{\"solicitud_id\":17,\"asesor_id\":\"a-9\"}");
	assert_delivery(m3, "solicitud_created", "admin,advisor,solicitud_17", "a-9");
	m4 = route(router, "oferta.result", "{\"solicitud_id\":\"sol-456\"}");
	assert_delivery(m4, "oferta_result", "admin,solicitud_sol-456", "");
	m5 = route(router, "evaluacion.completed", "{\"solicitud_id\":3}");
	assert_delivery(m5, "evaluacion_completed", "admin,solicitud_3", "");
	m6 = route(router, "cliente.updated", "{\"cliente_id\":5}");
	assert_delivery(m6, "cliente_updated", "admin", "5");
	m7 = route(router, "notificacion.nueva", "{\"user_id\":\"u1\"}");
	assert_delivery(m7, "notificacion_nueva", "", "u1");
	m8 = route(router, "realtime:broadcasts", "{\"type\":\"broadcast\",\"payload\":{}}");
	assert_delivery(m8, "broadcast", "all", "");
	m9 = route(router, "events", "{\"type\":\"ADMIN_STATS_UPDATED\"}");
	g_assert_cmpuint(m9->len, ==, 1);
	match = g_ptr_array_index(m9, 0);
	g_assert_cmpstr(match->handler, ==, "stats-filter");
	g_assert_null(match->delivery);
	m10 = route(router, "seller.stats", "{\"seller_id\":\"123\"}");
	g_assert_cmpuint(m10->len, ==, 1);
	match = g_ptr_array_index(m10, 0);
	g_assert_cmpuint(herald_delivery_get_filters(match->delivery)->len, ==, 1);
	g_assert_cmpstr(((gchar **)g_ptr_array_index(herald_delivery_get_filters(match->delivery), 0))[0], ==, "role");
	g_assert_cmpstr(((gchar **)g_ptr_array_index(herald_delivery_get_filters(match->delivery), 0))[3], ==, "123");

	patterns = herald_router_get_patterns(router);
	g_assert_cmpuint(g_strv_length(patterns), ==, 13);
	g_assert_cmpstr(patterns[0], ==, "cliente.*");
	g_assert_true(herald_router_has_match(router, "oferta.x"));
	g_assert_false(herald_router_has_match(router, "nope"));
	/* oferta and evaluacion payloads above had no asesor_id */
	g_assert_cmpuint(herald_router_get_missing_fields(router), ==, 2);
}

static void
test_missing_and_invalid_fields(void)
{
	g_autoptr(HeraldRouter) router = load_router(shipped_routes, NULL);
	g_autoptr(GPtrArray) m1 = route(router, "solicitud.created", "{\"other\":1}");
	g_autoptr(GPtrArray) m2 = route(router, "solicitud.created", "{\"solicitud_id\":\"17/../x\",\"asesor_id\":\"a b\"}");
	g_autoptr(GPtrArray) m3 = route(router, "solicitud.created", "{\"solicitud_id\":\"\\u0001\"}");
	g_autoptr(GPtrArray) m4 = route(router, "solicitud.created", "[1,2,3]");
	g_autoptr(GPtrArray) m5 = route(router, "seller.stats", "{}");
	g_autoptr(GPtrArray) m6 = route(router, "ws:room:", "{}");
	HeraldRouteMatch *match;

	/* a missing field drops that one target, never makes room "solicitud_" */
	assert_delivery(m1, "solicitud_created", "admin,advisor", "");
	assert_delivery(m2, "solicitud_created", "admin,advisor", "");
	assert_delivery(m3, "solicitud_created", "admin,advisor", "");
	assert_delivery(m4, "solicitud_created", "admin,advisor", "");
	match = g_ptr_array_index(m5, 0);
	g_assert_true(herald_delivery_is_empty(match->delivery));
	/* an empty capture is no room either; event falls back to the channel */
	match = g_ptr_array_index(m6, 0);
	g_assert_true(herald_delivery_is_empty(match->delivery));
	g_assert_cmpstr(herald_delivery_get_name(match->delivery), ==, "ws:room:");
	/* m1: solicitud_id+asesor_id, m2: 2, m3: 2, m4: 2, m5: 1, m6: 1 */
	g_assert_cmpuint(herald_router_get_missing_fields(router), ==, 10);
}

static void
test_unrouted_and_multi(void)
{
	g_autoptr(HeraldRouter) router =
	    load_router("[route a]\nchannels=x.*\nrooms=ra\n[route b]\nchannels=x.y;z\nrooms=rb\nbroadcast=true\n"
			"[route off]\nchannels=x.*\nrooms=never\nenabled=false\n",
			NULL);
	g_autoptr(GPtrArray) none = route(router, "q", "{}");
	g_autoptr(GPtrArray) both = route(router, "x.y", "{}");
	HeraldRouteMatch *match;
	g_assert_cmpuint(none->len, ==, 0);
	g_assert_cmpuint(herald_router_get_unrouted(router), ==, 1);
	g_assert_cmpuint(both->len, ==, 2);
	match = g_ptr_array_index(both, 0);
	g_assert_cmpstr(match->route, ==, "a");
	match = g_ptr_array_index(both, 1);
	g_assert_cmpstr(match->route, ==, "b");
	g_assert_true(herald_delivery_get_broadcast(match->delivery));
}

static void
test_invalid_templates(void)
{
	const gchar *bad[] = {
	    "[route r]\nchannels=a\nrooms=solicitud_{solicitud_id\n",
	    "[route r]\nchannels=a\nrooms=x_{}\n",
	    "[route r]\nchannels=a\nusers=a}b\n",
	    "[route r]\nchannels=a\nevent={a{b}}\n",
	    "[route r]\nchannels=a\nfilters=role\n",
	    "[route r]\nchannels=a\nfilters=role=\n",
	    "[route r]\nrooms=a\n",
	};
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(HeraldRouter) router = load_router(bad[i], &error);
		g_assert_null(router);
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
		g_assert_nonnull(strstr(error->message, "r"));
	}
}

static void
test_reload_replaces(void)
{
	g_autoptr(HeraldRouter) router = herald_router_new();
	g_autoptr(HeraldConfig) c1 = herald_config_new();
	g_autoptr(HeraldConfig) c2 = herald_config_new();
	guint n_keys = 0;
	const HeraldConfigKey *keys = herald_router_get_config_keys(&n_keys);
	herald_config_add_group_prefix(c1, "route ", keys, n_keys);
	herald_config_add_group_prefix(c2, "route ", keys, n_keys);
	g_assert_true(herald_config_load_data(c1, "[route a]\nchannels=one\nrooms=r\n", NULL));
	g_assert_true(herald_config_load_data(c2, "[route b]\nchannels=two\nrooms=r\n", NULL));
	g_assert_true(herald_router_load(router, c1, NULL));
	g_assert_true(herald_router_has_match(router, "one"));
	g_assert_true(herald_router_load(router, c2, NULL));
	g_assert_false(herald_router_has_match(router, "one"));
	g_assert_true(herald_router_has_match(router, "two"));
}

/* seed 002: a Message's userId ("usuario destino") narrows every route to that user */
static void
test_target_user(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldRouter) router = load_router(shipped_routes, &error);
	struct {
		const gchar *channel;
		const gchar *payload;
		const gchar *scope; /* NULL: none */
	} ok[] = {
	    {"realtime:notifications", "{\"type\":\"notification\",\"room\":\"notifications\",\"userId\":\"5\"}", "5"},
	    {"realtime:notifications", "{\"type\":\"notification\",\"userId\":5}", "5"},
	    {"realtime:notifications", "{\"type\":\"notification\",\"user_id\":\"u-7\"}", "u-7"},
	    {"realtime:notifications", "{\"type\":\"notification\",\"userId\":\"5\",\"user_id\":5}", "5"},
	    /* what Go marshals for "no user", and null: the room as routed */
	    {"realtime:notifications", "{\"type\":\"notification\",\"userId\":\"\"}", NULL},
	    {"realtime:notifications", "{\"type\":\"notification\",\"userId\":null}", NULL},
	    {"realtime:notifications", "{\"type\":\"notification\"}", NULL},
	    {"ws:room:orders", "{\"type\":\"order_update\",\"userId\":\"9\"}", "9"},
	    {"realtime:broadcasts", "{\"type\":\"broadcast\",\"userId\":\"9\"}", "9"},
	    {"solicitud.created", "{\"solicitud_id\":17,\"user_id\":3}", "3"},
	    {"seller.x", "{\"seller_id\":\"1\",\"userId\":\"4\"}", "4"},
	};
	const gchar *bad[] = {
	    "{\"type\":\"n\",\"userId\":true}",
	    "{\"type\":\"n\",\"userId\":5.5}",
	    "{\"type\":\"n\",\"userId\":{\"id\":5}}",
	    "{\"type\":\"n\",\"userId\":[\"5\"]}",
	    "{\"type\":\"n\",\"userId\":\"a\\nb\"}",
	    "{\"type\":\"n\",\"user_id\":false}",
	    "{\"type\":\"n\",\"userId\":\"5\",\"user_id\":\"6\"}",
	    NULL, /* oversized, built below */
	};
	guint64 invalid = 0;

	g_assert_no_error(error);
	for (guint i = 0; i < G_N_ELEMENTS(ok); i++) {
		g_autoptr(GPtrArray) matches = route(router, ok[i].channel, ok[i].payload);
		HeraldRouteMatch *match;
		g_test_message("%s %s", ok[i].channel, ok[i].payload);
		g_assert_cmpuint(matches->len, ==, 1);
		match = g_ptr_array_index(matches, 0);
		g_assert_nonnull(match->delivery);
		g_assert_false(herald_delivery_is_empty(match->delivery));
		g_assert_cmpstr(herald_delivery_get_user_scope(match->delivery), ==, ok[i].scope);
	}
	g_assert_cmpuint(herald_router_get_invalid_users(router), ==, 0);

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree gchar *long_payload = NULL;
		const gchar *payload = bad[i];
		g_autoptr(GPtrArray) matches = NULL;
		HeraldRouteMatch *match;
		if (payload == NULL) {
			g_autofree gchar *user = g_strnfill(129, 'u');
			long_payload = g_strdup_printf("{\"type\":\"n\",\"userId\":\"%s\"}", user);
			payload = long_payload;
		}
		g_test_message("refused: %s", payload);
		matches = route(router, "realtime:notifications", payload);
		/* the route matched, but nothing is delivered: never to the whole room */
		g_assert_cmpuint(matches->len, ==, 1);
		match = g_ptr_array_index(matches, 0);
		g_assert_null(match->delivery);
		g_assert_cmpuint(herald_router_get_invalid_users(router), ==, ++invalid);
	}
	/* 128 bytes is the limit, included */
	{
		g_autofree gchar *user = g_strnfill(128, 'u');
		g_autofree gchar *payload = g_strdup_printf("{\"type\":\"n\",\"userId\":\"%s\"}", user);
		g_autoptr(GPtrArray) matches = route(router, "realtime:notifications", payload);
		HeraldRouteMatch *match = g_ptr_array_index(matches, 0);
		g_assert_cmpstr(herald_delivery_get_user_scope(match->delivery), ==, user);
	}
	/* a handler route gets the event as it is: the handler decides */
	{
		g_autoptr(GPtrArray) matches =
		    route(router, "events", "{\"type\":\"ADMIN_STATS_UPDATED\",\"userId\":true}");
		HeraldRouteMatch *match = g_ptr_array_index(matches, 0);
		g_assert_cmpstr(match->handler, ==, "stats-filter");
	}
}

/* narrow-to-user=false: a user_id that names an author does not narrow, and
 * one that could not name a user does not drop the event for that route */
static void
test_target_user_off(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldRouter) router =
	    load_router("[route files]\nchannels=file.*\nrooms=admin\nnarrow-to-user=false\n"
			"[route mine]\nchannels=file.*\nusers={user_id}\n",
			&error);
	g_autoptr(GPtrArray) matches = NULL;
	g_autoptr(GPtrArray) bad = NULL;
	HeraldRouteMatch *files;
	HeraldRouteMatch *mine;

	g_assert_no_error(error);
	matches = route(router, "file.uploaded", "{\"object_name\":\"a.csv\",\"user_id\":\"42\"}");
	g_assert_cmpuint(matches->len, ==, 2);
	files = g_ptr_array_index(matches, 0);
	mine = g_ptr_array_index(matches, 1);
	g_assert_cmpstr(files->route, ==, "files");
	g_assert_null(herald_delivery_get_user_scope(files->delivery));
	g_assert_cmpstr(herald_delivery_get_user_scope(mine->delivery), ==, "42");
	/* a user_id that cannot name a user: dropped for the narrowing route only */
	bad = route(router, "file.uploaded", "{\"object_name\":\"a.csv\",\"user_id\":true}");
	g_assert_cmpuint(bad->len, ==, 2);
	files = g_ptr_array_index(bad, 0);
	mine = g_ptr_array_index(bad, 1);
	g_assert_nonnull(files->delivery);
	g_assert_null(mine->delivery);
	g_assert_cmpuint(herald_router_get_invalid_users(router), ==, 1);
}

static void
test_target_user_errors(void)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *user_id = NULL;

	g_assert_true(json_parser_load_from_data(parser, "{\"userId\":1.5}", -1, NULL));
	g_assert_false(herald_route_get_target_user(json_parser_get_root(parser), &user_id, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	g_assert_cmpstr(error->message, ==, "'userId' must be a string or an integer");
	g_assert_null(user_id);
	g_clear_error(&error);
	g_assert_true(json_parser_load_from_data(parser, "{\"userId\":\"1\",\"user_id\":\"2\"}", -1, NULL));
	g_assert_false(herald_route_get_target_user(json_parser_get_root(parser), &user_id, &error));
	g_assert_cmpstr(error->message, ==, "'userId' and 'user_id' name different users");
	g_clear_error(&error);
	/* not an object: no user */
	g_assert_true(json_parser_load_from_data(parser, "[1,2]", -1, NULL));
	g_assert_true(herald_route_get_target_user(json_parser_get_root(parser), &user_id, &error));
	g_assert_null(user_id);
}

static void
test_role_and_room_helpers(void)
{
	g_autofree gchar *room = herald_room_for_user("42");
	g_autofree gchar *key = herald_role_key("seller");
	const gchar *roles[] = {"ADMIN", "Root", NULL};

	g_assert_cmpstr(room, ==, "user_42");
	g_assert_cmpstr(key, ==, "SELLER");
	g_assert_true(herald_role_equal("admin", "ADMIN"));
	g_assert_true(herald_role_equal("Seller", "sELLER"));
	g_assert_false(herald_role_equal("admin", "admins"));
	g_assert_false(herald_role_equal(NULL, NULL));
	g_assert_false(herald_role_equal("admin", NULL));
	g_assert_true(herald_role_in_list(roles, "admin"));
	g_assert_true(herald_role_in_list(roles, "ROOT"));
	g_assert_false(herald_role_in_list(roles, "client"));
	g_assert_false(herald_role_in_list(NULL, "admin"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/herald/route/glob", test_glob);
	g_test_add_func("/herald/route/shipped", test_shipped_routes);
	g_test_add_func("/herald/route/missing-and-invalid-fields", test_missing_and_invalid_fields);
	g_test_add_func("/herald/route/unrouted-and-multi", test_unrouted_and_multi);
	g_test_add_func("/herald/route/invalid-templates", test_invalid_templates);
	g_test_add_func("/herald/route/reload-replaces", test_reload_replaces);
	g_test_add_func("/herald/route/target-user", test_target_user);
	g_test_add_func("/herald/route/target-user-errors", test_target_user_errors);
	g_test_add_func("/herald/route/target-user-off", test_target_user_off);
	g_test_add_func("/herald/route/role-and-room-helpers", test_role_and_room_helpers);
	return g_test_run();
}
