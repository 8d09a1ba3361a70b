/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/**
 * SECTION:herald-bus-topics
 *
 * Every topic, query and request on #HeraldBus, with who produces it, who consumes
 * it and what it carries. Add new ones here, nowhere else.
 */

/**
 * HERALD_BUS_TOPIC_OUTBOUND:
 *
 * `event::outbound` (#HeraldEvent). Producer: the host, from herald_bus_publish(),
 * for every event whose origin is this instance (HTTP publish API, plugins).
 * Consumer: redis-bridge, which PUBLISHes it so the other instances deliver it to
 * their own clients. The payload is the event payload; the origin must travel along
 * so that no instance delivers an event twice.
 */
#define HERALD_BUS_TOPIC_OUTBOUND "outbound"

/**
 * HERALD_BUS_TOPIC_CONNECTED / HERALD_BUS_TOPIC_DISCONNECTED:
 *
 * `event::user-connected`, `event::user-disconnected` (#HeraldEvent, type = topic,
 * payload `{"user_id","role","connection_id","protocol"}`). Producer: ws-rooms, on
 * the first connection / after the last connection of a user on this instance.
 * Consumers: redis-bridge (cluster presence), notifier-whatsapp (held `low`
 * notifications).
 */
#define HERALD_BUS_TOPIC_CONNECTED    "user-connected"
#define HERALD_BUS_TOPIC_DISCONNECTED "user-disconnected"

/**
 * HERALD_BUS_DELIVER:
 *
 * `deliver` (#HeraldDelivery → guint). Producer: the host (routing), stats-filter,
 * notifier-whatsapp. Consumer: ws-rooms, which returns the number of live
 * connections it wrote the event to (each connection at most once).
 */

/**
 * HERALD_BUS_COUNT_CONNECTIONS:
 *
 * `count-connections` (user id or %NULL → guint). Producer: the host (`/health`,
 * D-Bus `Connections`), notifier-whatsapp. Consumer: ws-rooms.
 */
