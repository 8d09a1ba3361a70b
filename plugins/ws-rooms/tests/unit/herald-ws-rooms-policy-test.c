/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <herald.h>

#include "herald-ws-rooms-policy.h"

static HeraldIdentity *
make_identity(const gchar *user_id, const gchar *role)
{
	g_autoptr(JsonObject) claims = json_object_new();
	json_object_set_string_member(claims, "sub", user_id);
	json_object_set_string_member(claims, "role", role);
	return herald_identity_new(user_id, role, 0, claims);
}

static gboolean
can(HeraldWsRoomsPolicy *policy, const gchar *user, const gchar *role, const gchar *room)
{
	g_autoptr(HeraldIdentity) identity = make_identity(user, role);
	g_autoptr(GError) error = NULL;
	gboolean ok = herald_ws_rooms_policy_check_subscribe(policy, identity, room, &error);
	g_assert_true(ok == (error == NULL));
	return ok;
}

static void
herald_ws_rooms_policy_defaults_func(void)
{
	g_autoptr(HeraldWsRoomsPolicy) policy = herald_ws_rooms_policy_new();

	/* DESIGN §4 role rooms; roles compare case-insensitively */
	g_assert_cmpstr(herald_ws_rooms_policy_get_role_room(policy, "ADMIN"), ==, "admin");
	g_assert_cmpstr(herald_ws_rooms_policy_get_role_room(policy, "ANALYST"), ==, "admin");
	g_assert_cmpstr(herald_ws_rooms_policy_get_role_room(policy, "SUPPORT"), ==, "admin");
	g_assert_cmpstr(herald_ws_rooms_policy_get_role_room(policy, "ADVISOR"), ==, "advisor");
	g_assert_cmpstr(herald_ws_rooms_policy_get_role_room(policy, "client"), ==, "client");
	g_assert_cmpstr(herald_ws_rooms_policy_get_role_room(policy, "SELLER"), ==, "seller");
	g_assert_cmpstr(herald_ws_rooms_policy_get_role_room(policy, "DELIVERY"), ==, "delivery");
	g_assert_null(herald_ws_rooms_policy_get_role_room(policy, "NOBODY"));
	g_assert_null(herald_ws_rooms_policy_get_role_room(policy, NULL));

	/* subscribe permissions */
	g_assert_true(can(policy, "1", "ADMIN", "anything"));
	g_assert_true(can(policy, "1", "ADMIN", "user_2"));
	g_assert_true(can(policy, "2", "SELLER", "orders"));
	g_assert_true(can(policy, "2", "SELLER", "notifications"));
	g_assert_false(can(policy, "2", "SELLER", "admin"));
	g_assert_false(can(policy, "2", "SELLER", "user_3"));
	g_assert_true(can(policy, "3", "CLIENT", "myOrders"));
	g_assert_false(can(policy, "3", "CLIENT", "orders"));
	g_assert_true(can(policy, "4", "ADVISOR", "solicitud_17"));
	g_assert_false(can(policy, "4", "ADVISOR", "oferta_17"));
	g_assert_true(can(policy, "5", "DELIVERY", "deliveries"));
	g_assert_true(can(policy, "6", "ANALYST", "solicitud_1"));
	g_assert_false(can(policy, "6", "ANALYST", "user_1"));
	g_assert_true(can(policy, "7", "SUPPORT", "deliveries"));
	g_assert_false(can(policy, "8", "UNKNOWN", "orders"));
	/* own rooms are always allowed */
	g_assert_true(can(policy, "8", "UNKNOWN", "user_8"));
	g_assert_true(can(policy, "2", "SELLER", "seller"));
}

static void
herald_ws_rooms_policy_room_names_func(void)
{
	g_autofree gchar *long_name = g_strnfill(129, 'a');
	g_autofree gchar *max_name = g_strnfill(128, 'a');
	const gchar *bad[] = {"", "a b", "tab\there", "new\nline", "ctl\x01", "slash/", "ñ", "a*"};
	const gchar *good[] = {"orders", "solicitud_17", "a.b:c@d-e", max_name};
	g_autoptr(GError) error_null = NULL;
	g_autoptr(GError) error_long = NULL;

	g_assert_false(herald_ws_rooms_room_check(NULL, &error_null));
	g_assert_error(error_null, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	g_assert_false(herald_ws_rooms_room_check(long_name, &error_long));
	g_assert_error(error_long, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_false(herald_ws_rooms_room_check(bad[i], &error));
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	}
	for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_true(herald_ws_rooms_room_check(good[i], &error));
		g_assert_no_error(error);
	}
}

static void
herald_ws_rooms_policy_config_func(void)
{
	g_autoptr(HeraldConfig) config = herald_config_new();
	g_autoptr(HeraldWsRoomsPolicy) policy = herald_ws_rooms_policy_new();
	g_autoptr(HeraldWsRoomsPolicy) bad_policy = herald_ws_rooms_policy_new();
	g_autoptr(HeraldConfig) bad = herald_config_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) error_bad = NULL;

	herald_config_add_free_group(config, "ws-rooms.roles", HERALD_CONFIG_STRING, "roles");
	herald_config_add_free_group(config, "ws-rooms.subscribe", HERALD_CONFIG_LIST, "subscribe");
	g_assert_true(herald_config_load_data(config,
					      "[ws-rooms.roles]\n"
					      "OPERATOR=ops\n"
					      "[ws-rooms.subscribe]\n"
					      "OPERATOR=alerts_*;status\n",
					      &error));
	g_assert_no_error(error);
	g_assert_true(herald_ws_rooms_policy_load(policy, config, "ws-rooms", &error));
	g_assert_no_error(error);
	/* a configured table replaces the built-in one */
	g_assert_cmpstr(herald_ws_rooms_policy_get_role_room(policy, "operator"), ==, "ops");
	g_assert_null(herald_ws_rooms_policy_get_role_room(policy, "ADMIN"));
	g_assert_true(can(policy, "9", "OPERATOR", "alerts_disk"));
	g_assert_true(can(policy, "9", "OPERATOR", "status"));
	g_assert_false(can(policy, "9", "OPERATOR", "orders"));
	g_assert_false(can(policy, "1", "ADMIN", "orders"));

	herald_config_add_free_group(bad, "ws-rooms.roles", HERALD_CONFIG_STRING, "roles");
	g_assert_true(herald_config_load_data(bad, "[ws-rooms.roles]\nX=bad room\n", &error));
	g_assert_false(herald_ws_rooms_policy_load(bad_policy, bad, "ws-rooms", &error_bad));
	g_assert_error(error_bad, HERALD_ERROR, HERALD_ERROR_CONFIG);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/herald/ws-rooms/policy/defaults", herald_ws_rooms_policy_defaults_func);
	g_test_add_func("/herald/ws-rooms/policy/room-names",
			herald_ws_rooms_policy_room_names_func);
	g_test_add_func("/herald/ws-rooms/policy/config", herald_ws_rooms_policy_config_func);
	return g_test_run();
}
