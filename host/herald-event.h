/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__HERALD_H_INSIDE__) && !defined(HERALD_COMPILATION)
#error "Only <herald.h> can be included directly."
#endif

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * HeraldEvent:
 *
 * An immutable, reference-counted domain event (DESIGN §3): `id` (UUID), `type`
 * (e.g. `solicitud_created`), `channel` it arrived on (e.g. `solicitud.created`),
 * `payload` (sealed JSON), `timestamp` (µs since the epoch, UTC) and `origin`
 * (instance id of the Herald instance where it entered the cluster).
 *
 * Created on the main thread; never modified after herald_event_new*().
 *
 * Since: 0.1
 */
typedef struct _HeraldEvent HeraldEvent;

#define HERALD_TYPE_EVENT (herald_event_get_type())
GType
herald_event_get_type(void);

HeraldEvent *
herald_event_new(const gchar *type, const gchar *channel, JsonNode *payload, const gchar *origin);
HeraldEvent *
herald_event_new_full(const gchar *id,
		      const gchar *type,
		      const gchar *channel,
		      JsonNode *payload,
		      gint64 timestamp_us,
		      const gchar *origin);
HeraldEvent *
herald_event_ref(HeraldEvent *self);
void
herald_event_unref(HeraldEvent *self);

const gchar *
herald_event_get_id(HeraldEvent *self);
const gchar *
herald_event_get_type_name(HeraldEvent *self);
const gchar *
herald_event_get_channel(HeraldEvent *self);
JsonNode *
herald_event_get_payload(HeraldEvent *self);
gint64
herald_event_get_timestamp(HeraldEvent *self);
const gchar *
herald_event_get_timestamp_string(HeraldEvent *self);
const gchar *
herald_event_get_origin(HeraldEvent *self);
const gchar *
herald_event_get_payload_json(HeraldEvent *self);
gchar *
herald_event_get_payload_field(HeraldEvent *self, const gchar *field);
gboolean
herald_event_is_verbatim(HeraldEvent *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldEvent, herald_event_unref)

/**
 * HeraldDelivery:
 *
 * What routing made of one event: the event name clients see (`name`) and the
 * targets — rooms (`admin`, `solicitud_17`), users (`42` → room `user_42`),
 * claim filters (every claim/value pair must match the connection's JWT, e.g.
 * `role=SELLER` and `seller_id=123`) or everyone (broadcast), and optionally a
 * user scope: only that user's connections among the targets (a routed
 * message's `userId`).
 *
 * Since: 0.1
 */
typedef struct _HeraldDelivery HeraldDelivery;

#define HERALD_TYPE_DELIVERY (herald_delivery_get_type())
GType
herald_delivery_get_type(void);

HeraldDelivery *
herald_delivery_new(HeraldEvent *event, const gchar *name);
HeraldDelivery *
herald_delivery_ref(HeraldDelivery *self);
void
herald_delivery_unref(HeraldDelivery *self);
void
herald_delivery_add_room(HeraldDelivery *self, const gchar *room);
void
herald_delivery_add_user(HeraldDelivery *self, const gchar *user_id);
void
herald_delivery_add_filter(HeraldDelivery *self, const gchar *const *pairs);
void
herald_delivery_set_broadcast(HeraldDelivery *self, gboolean broadcast);
void
herald_delivery_set_user_scope(HeraldDelivery *self, const gchar *user_id);
const gchar *
herald_delivery_get_user_scope(HeraldDelivery *self);

HeraldEvent *
herald_delivery_get_event(HeraldDelivery *self);
const gchar *
herald_delivery_get_name(HeraldDelivery *self);
GPtrArray *
herald_delivery_get_rooms(HeraldDelivery *self);
GPtrArray *
herald_delivery_get_users(HeraldDelivery *self);
GPtrArray *
herald_delivery_get_filters(HeraldDelivery *self);
gboolean
herald_delivery_get_broadcast(HeraldDelivery *self);
gboolean
herald_delivery_is_empty(HeraldDelivery *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldDelivery, herald_delivery_unref)

gchar *
herald_timestamp_format(gint64 timestamp_us);

G_END_DECLS
