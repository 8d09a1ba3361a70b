/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <herald.h>

G_BEGIN_DECLS

/**
 * HeraldWsRoomsPolicy:
 *
 * Which room a role joins on connect (`[ws-rooms.roles]`) and which room glob
 * patterns a role may subscribe to (`[ws-rooms.subscribe]`). Roles compare
 * case-insensitively. A table that is absent from the configuration keeps the
 * built-in defaults (DESIGN §4).
 */
typedef struct _HeraldWsRoomsPolicy HeraldWsRoomsPolicy;

HeraldWsRoomsPolicy *
herald_ws_rooms_policy_new(void);
void
herald_ws_rooms_policy_free(HeraldWsRoomsPolicy *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldWsRoomsPolicy, herald_ws_rooms_policy_free)

void
herald_ws_rooms_policy_clear_roles(HeraldWsRoomsPolicy *self);
void
herald_ws_rooms_policy_clear_subscribe(HeraldWsRoomsPolicy *self);
gboolean
herald_ws_rooms_policy_set_role_room(HeraldWsRoomsPolicy *self,
				     const gchar *role,
				     const gchar *room,
				     GError **error);
gboolean
herald_ws_rooms_policy_set_subscribe(HeraldWsRoomsPolicy *self,
				     const gchar *role,
				     const gchar *patterns,
				     GError **error);
gboolean
herald_ws_rooms_policy_load(HeraldWsRoomsPolicy *self,
			    HeraldConfig *config,
			    const gchar *plugin_name,
			    GError **error);

const gchar *
herald_ws_rooms_policy_get_role_room(HeraldWsRoomsPolicy *self, const gchar *role);
gchar *
herald_ws_rooms_personal_room(const gchar *user_id);
gboolean
herald_ws_rooms_room_check(const gchar *room, GError **error);
gboolean
herald_ws_rooms_policy_check_subscribe(HeraldWsRoomsPolicy *self,
				       HeraldIdentity *identity,
				       const gchar *room,
				       GError **error);

G_END_DECLS
