/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__HERALD_H_INSIDE__) && !defined(HERALD_COMPILATION)
#error "Only <herald.h> can be included directly."
#endif

#include "herald-config.h"
#include "herald-event.h"

G_BEGIN_DECLS

/**
 * HeraldRouter:
 *
 * The routing core (DESIGN §3). Routes are `[route NAME]` groups:
 *
 * |[
 * [route solicitud]
 * channels=solicitud.*                         ; glob patterns (* and ?)
 * rooms=admin;advisor;solicitud_{solicitud_id} ; {field} = payload field
 * users={asesor_id}                            ; personal rooms user_{id}
 * event={channel}                              ; '.' becomes '_'
 * handler=                                     ; a plugin name: hand the event to it
 * ]|
 *
 * Templates: `{channel}` (the whole channel), `{1}` is the part
 * the first `*` matched (so `ws:room:*` with `rooms={1}` targets the room named in the
 * channel), `{type}` the payload's `type`, and `{name}` any payload field (string or
 * integer; nested with dots: `{data.id}`). A field missing from a payload drops that
 * one target and counts it (`missing_fields`); a filled value must be a valid room
 * name ([A-Za-z0-9_.:@-], ≤ 128 bytes) or the target is dropped too.
 *
 * A payload whose top-level `userId` or `user_id` names a user (seed 002's
 * `Message.UserID`, "usuario destino") narrows every delivery of every route to
 * that user's connections inside the targets: see herald_route_get_target_user().
 * A value that cannot name a user drops the event's deliveries and counts it
 * (`invalid_users`); it is never delivered to the whole room.
 *
 * Since: 0.1
 */
#define HERALD_TYPE_ROUTER (herald_router_get_type())
G_DECLARE_FINAL_TYPE(HeraldRouter, herald_router, HERALD, ROUTER, GObject)

/**
 * HeraldRouteMatch:
 *
 * One matching route for a channel: the route `name`, the `handler` plugin (or
 * %NULL) and, when `handler` is %NULL, the `delivery` built from its templates.
 */
typedef struct {
	gchar *route;
	gchar *handler;
	HeraldDelivery *delivery;
} HeraldRouteMatch;

void
herald_route_match_free(HeraldRouteMatch *match);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldRouteMatch, herald_route_match_free)

HeraldRouter *
herald_router_new(void);
gboolean
herald_router_load(HeraldRouter *self, HeraldConfig *config, GError **error);
const HeraldConfigKey *
herald_router_get_config_keys(guint *n_keys);
gchar **
herald_router_get_patterns(HeraldRouter *self);
gboolean
herald_router_has_match(HeraldRouter *self, const gchar *channel);
gchar *
herald_router_event_name(HeraldRouter *self, const gchar *channel);
GPtrArray *
herald_router_route(HeraldRouter *self, HeraldEvent *event);
guint64
herald_router_get_missing_fields(HeraldRouter *self);
guint64
herald_router_get_unrouted(HeraldRouter *self);
guint64
herald_router_get_invalid_users(HeraldRouter *self);
gboolean
herald_room_name_is_valid(const gchar *room);
gchar *
herald_room_for_user(const gchar *user_id);
gboolean
herald_role_equal(const gchar *role1, const gchar *role2);
gboolean
herald_role_in_list(const gchar *const *roles, const gchar *role);
gchar *
herald_role_key(const gchar *role);
gboolean
herald_route_get_target_user(JsonNode *payload, gchar **user_id, GError **error);
gboolean
herald_glob_match(const gchar *pattern, const gchar *text);

G_END_DECLS
