/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "herald-ws-rooms-policy.h"

struct _HeraldWsRoomsPolicy {
	GHashTable *role_rooms; /* ROLE → room */
	GHashTable *subscribe;	/* ROLE → GStrv of glob patterns */
};

/* DESIGN §4; ANALYST and SUPPORT share the admin room but may only subscribe to
 * business rooms, not to everybody's personal rooms as ADMIN can */
static const struct {
	const gchar *role;
	const gchar *room;
	const gchar *subscribe;
} default_policy[] = {
    {"ADMIN", "admin", "*"},
    {"ANALYST", "admin", "solicitud_*;orders;inventory;products;notifications"},
    {"SUPPORT", "admin", "solicitud_*;orders;deliveries;notifications"},
    {"ADVISOR", "advisor", "solicitud_*"},
    {"CLIENT", "client", "notifications;cart;myOrders"},
    {"SELLER", "seller", "orders;inventory;products;notifications"},
    {"DELIVERY", "delivery", "deliveries;orders"},
};

HeraldWsRoomsPolicy *
herald_ws_rooms_policy_new(void)
{
	HeraldWsRoomsPolicy *self = g_new0(HeraldWsRoomsPolicy, 1);
	self->role_rooms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->subscribe =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_strfreev);
	for (guint i = 0; i < G_N_ELEMENTS(default_policy); i++) {
		g_hash_table_insert(self->role_rooms,
				    g_strdup(default_policy[i].role),
				    g_strdup(default_policy[i].room));
		g_hash_table_insert(self->subscribe,
				    g_strdup(default_policy[i].role),
				    g_strsplit(default_policy[i].subscribe, ";", -1));
	}
	return self;
}

void
herald_ws_rooms_policy_free(HeraldWsRoomsPolicy *self)
{
	if (self == NULL)
		return;
	g_hash_table_unref(self->role_rooms);
	g_hash_table_unref(self->subscribe);
	g_free(self);
}

void
herald_ws_rooms_policy_clear_roles(HeraldWsRoomsPolicy *self)
{
	g_hash_table_remove_all(self->role_rooms);
}

void
herald_ws_rooms_policy_clear_subscribe(HeraldWsRoomsPolicy *self)
{
	g_hash_table_remove_all(self->subscribe);
}

/**
 * herald_ws_rooms_room_check:
 *
 * A room name a client may use: 1 to 128 bytes of `[A-Za-z0-9_.:@-]`, the same
 * rule routing applies to the rooms it fills in.
 */
gboolean
herald_ws_rooms_room_check(const gchar *room, GError **error)
{
	if (room == NULL || room[0] == '\0') {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: WebSocket error reply */
				    _("the room name is missing or empty"));
		return FALSE;
	}
	if (strlen(room) > 128) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: WebSocket error reply */
				    _("the room name is longer than 128 bytes"));
		return FALSE;
	}
	if (!herald_room_name_is_valid(room)) {
		g_set_error_literal(
		    error,
		    HERALD_ERROR,
		    HERALD_ERROR_INVALID_ARGUMENT,
		    /* TRANSLATORS: WebSocket error reply; do not translate the characters */
		    _("room names may only contain letters, digits and _ . : @ -"));
		return FALSE;
	}
	return TRUE;
}

gboolean
herald_ws_rooms_policy_set_role_room(HeraldWsRoomsPolicy *self,
				     const gchar *role,
				     const gchar *room,
				     GError **error)
{
	g_autoptr(GError) error_local = NULL;
	if (role == NULL || role[0] == '\0') {
		g_set_error_literal(error, HERALD_ERROR, HERALD_ERROR_CONFIG, _("empty role name"));
		return FALSE;
	}
	if (!herald_ws_rooms_room_check(room, &error_local)) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: config error; %s is a role, then the reason */
			    _("room of role '%s': %s"),
			    role,
			    error_local->message);
		return FALSE;
	}
	g_hash_table_insert(self->role_rooms, herald_role_key(role), g_strdup(room));
	return TRUE;
}

gboolean
herald_ws_rooms_policy_set_subscribe(HeraldWsRoomsPolicy *self,
				     const gchar *role,
				     const gchar *patterns,
				     GError **error)
{
	g_auto(GStrv) split = NULL;
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);

	if (role == NULL || role[0] == '\0') {
		g_set_error_literal(error, HERALD_ERROR, HERALD_ERROR_CONFIG, _("empty role name"));
		return FALSE;
	}
	split = g_strsplit(patterns != NULL ? patterns : "", ";", -1);
	for (guint i = 0; split[i] != NULL; i++) {
		g_autofree gchar *pattern = g_strstrip(g_strdup(split[i]));
		if (pattern[0] == '\0')
			continue;
		for (const gchar *p = pattern; *p != '\0'; p++) {
			if (*p != '*' && *p != '?' && !g_ascii_isalnum(*p) && *p != '_' &&
			    *p != '.' && *p != ':' && *p != '@' && *p != '-') {
				g_set_error(
				    error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: config error; %s are a pattern and a role */
				    _("room pattern '%s' of role '%s' has invalid characters"),
				    pattern,
				    role);
				return FALSE;
			}
		}
		g_ptr_array_add(out, g_steal_pointer(&pattern));
	}
	g_ptr_array_add(out, NULL);
	g_hash_table_insert(self->subscribe,
			    herald_role_key(role),
			    (GStrv)g_ptr_array_free(g_steal_pointer(&out), FALSE));
	return TRUE;
}

/* [name.roles] and [name.subscribe]: when a group is present it replaces the
 * built-in table completely */
gboolean
herald_ws_rooms_policy_load(HeraldWsRoomsPolicy *self,
			    HeraldConfig *config,
			    const gchar *plugin_name,
			    GError **error)
{
	g_autofree gchar *roles_group = g_strdup_printf("%s.roles", plugin_name);
	g_autofree gchar *subscribe_group = g_strdup_printf("%s.subscribe", plugin_name);
	g_auto(GStrv) roles = herald_config_get_keys(config, roles_group);
	g_auto(GStrv) subscribe = herald_config_get_keys(config, subscribe_group);

	if (roles != NULL && roles[0] != NULL) {
		herald_ws_rooms_policy_clear_roles(self);
		for (guint i = 0; roles[i] != NULL; i++) {
			const gchar *room = herald_config_get_string(config, roles_group, roles[i]);
			if (!herald_ws_rooms_policy_set_role_room(self, roles[i], room, error))
				return FALSE;
		}
	}
	if (subscribe != NULL && subscribe[0] != NULL) {
		herald_ws_rooms_policy_clear_subscribe(self);
		for (guint i = 0; subscribe[i] != NULL; i++) {
			const gchar *value =
			    herald_config_get_string(config, subscribe_group, subscribe[i]);
			if (!herald_ws_rooms_policy_set_subscribe(self, subscribe[i], value, error))
				return FALSE;
		}
	}
	return TRUE;
}

const gchar *
herald_ws_rooms_policy_get_role_room(HeraldWsRoomsPolicy *self, const gchar *role)
{
	g_autofree gchar *key = NULL;
	if (role == NULL)
		return NULL;
	key = herald_role_key(role);
	return g_hash_table_lookup(self->role_rooms, key);
}

gchar *
herald_ws_rooms_personal_room(const gchar *user_id)
{
	return herald_room_for_user(user_id);
}

/**
 * herald_ws_rooms_policy_check_subscribe:
 *
 * A valid room name the identity may join: its own role room and personal room,
 * or a room matching one of its role's patterns.
 */
gboolean
herald_ws_rooms_policy_check_subscribe(HeraldWsRoomsPolicy *self,
				       HeraldIdentity *identity,
				       const gchar *room,
				       GError **error)
{
	const gchar *role = herald_identity_get_role(identity);
	const gchar *role_room = herald_ws_rooms_policy_get_role_room(self, role);
	g_autofree gchar *personal =
	    herald_ws_rooms_personal_room(herald_identity_get_user_id(identity));
	g_autofree gchar *key = NULL;
	GStrv patterns;

	if (!herald_ws_rooms_room_check(room, error))
		return FALSE;
	if (g_strcmp0(room, role_room) == 0 || g_strcmp0(room, personal) == 0)
		return TRUE;
	key = role != NULL ? herald_role_key(role) : NULL;
	patterns = key != NULL ? g_hash_table_lookup(self->subscribe, key) : NULL;
	for (guint i = 0; patterns != NULL && patterns[i] != NULL; i++) {
		if (herald_glob_match(patterns[i], room))
			return TRUE;
	}
	g_set_error(error,
		    HERALD_ERROR,
		    HERALD_ERROR_PERMISSION_DENIED,
		    /* TRANSLATORS: WebSocket error reply; %s is a room name */
		    _("your role may not subscribe to room '%s'"),
		    room);
	return FALSE;
}
