/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__HERALD_H_INSIDE__) && !defined(HERALD_COMPILATION)
#error "Only <herald.h> can be included directly."
#endif

#include <glib-object.h>

#include "herald-event.h"

G_BEGIN_DECLS

/**
 * HeraldBus:
 *
 * The only channel between plugins. Everything runs synchronously on the main
 * thread; handlers never block. Topics and queries are documented in
 * `herald-bus-topics.h` with their producers, consumers and payloads.
 *
 * Signals:
 * - `event` (detailed by topic, #HeraldEvent): fire-and-forget notification.
 * - `deliver` (#HeraldDelivery → guint): deliver to live connections; the
 *   accumulator sums what every handler reached.
 * - `count-connections` (user id or %NULL → guint): live local connections (of that
 *   user), summed over handlers.
 * - `count-pending` (→ guint): connections not authenticated yet (ws-rooms:
 *   Socket.IO sessions before their CONNECT), summed over handlers.
 * - `request` (detailed by topic, #GTask → gboolean): an asynchronous request; the
 *   first handler that returns %TRUE owns the task and must complete it later.
 *
 * Since: 0.1
 */
#define HERALD_TYPE_BUS (herald_bus_get_type())
G_DECLARE_FINAL_TYPE(HeraldBus, herald_bus, HERALD, BUS, GObject)

HeraldBus *
herald_bus_new(const gchar *instance_id);
const gchar *
herald_bus_get_instance_id(HeraldBus *self);

void
herald_bus_emit_event(HeraldBus *self, const gchar *topic, HeraldEvent *event);
guint
herald_bus_deliver(HeraldBus *self, HeraldDelivery *delivery);
guint
herald_bus_count_connections(HeraldBus *self, const gchar *user_id);
guint
herald_bus_count_pending(HeraldBus *self);
gboolean
herald_bus_request(HeraldBus *self, const gchar *topic, GTask *task);

/* routing entry point: producers hand over a channel + payload (or a ready event);
 * the host's router decides the targets, delivers locally, hands events with a
 * `handler` route to that plugin (topic = plugin name), and announces events that
 * entered this instance on topic HERALD_BUS_TOPIC_OUTBOUND so another instance can
 * get them; returns connections reached on this instance */
guint
herald_bus_publish(HeraldBus *self, HeraldEvent *event);
guint
herald_bus_publish_json(HeraldBus *self, const gchar *channel, JsonNode *payload);

/* set by the host */
typedef GPtrArray *(*HeraldBusRouteFunc)(HeraldEvent *event, gpointer user_data);
void
herald_bus_set_router(HeraldBus *self, HeraldBusRouteFunc func, gpointer user_data);

typedef struct {
	guint64 published;
	guint64 published_local;
	guint64 unrouted;
	guint64 deliveries;
	guint64 reached;
	guint64 unreached;
} HeraldBusStats;
void
herald_bus_get_stats(HeraldBus *self, HeraldBusStats *stats);

G_END_DECLS
