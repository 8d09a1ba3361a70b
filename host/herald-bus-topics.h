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
 * HERALD_BUS_TOPIC_ROOM_JOINED / HERALD_BUS_TOPIC_ROOM_LEFT:
 *
 * `event::room-joined`, `event::room-left` (#HeraldEvent, type = topic, payload
 * `{"user_id","room"}`). Producer: ws-rooms, counted per (user, room) on this
 * instance: room-joined when the user's first connection here joins the room with
 * `subscribe`, room-left when the user's last connection here in that room leaves
 * it (`unsubscribe`, disconnect, or a `refresh` whose new role may not be in
 * it; a user's room-left events come before its user-disconnected). Only rooms
 * joined by `subscribe` are announced — the personal room and the connection's
 * role room never (they follow from user-connected and user-updated).
 * Consumer: redis-bridge (cluster presence of entity rooms such as
 * `solicitud_17`).
 */
#define HERALD_BUS_TOPIC_ROOM_JOINED "room-joined"
#define HERALD_BUS_TOPIC_ROOM_LEFT   "room-left"

/**
 * HERALD_BUS_TOPIC_USER_UPDATED:
 *
 * `event::user-updated` (#HeraldEvent, type = topic, payload
 * `{"user_id","role","connection_id","protocol"}` as user-connected). Producer:
 * ws-rooms, when a connected user's `refresh` changed its role: the user now
 * counts under that role (its role room follows from it). Comes after the
 * room-left events of the rooms that refresh left. Consumer: redis-bridge
 * (cluster presence).
 */
#define HERALD_BUS_TOPIC_USER_UPDATED "user-updated"

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
 *
 * `count-pending` (→ guint): connections accepted but not authenticated yet.
 * Producer: the host (`/health` `pending`). Consumer: ws-rooms (Socket.IO
 * sessions before their CONNECT).
 */

/*
 * Requests (`request` signal, detailed by topic, carrying a #GTask). The caller
 * creates the task with its own callback, sets the task data as documented, and
 * calls herald_bus_request(); %FALSE means no enabled plugin serves the topic and
 * the caller must fall back (documented per topic). The handler that returns
 * %TRUE completes the task later, on the main thread, exactly once.
 */

/**
 * HERALD_BUS_REQUEST_PRESENCE:
 *
 * `request::presence`. Task data: the user id (`gchar *`, owned by the task).
 * Result: g_task_return_boolean(), %TRUE when the user has at least one live
 * connection on any instance of the cluster; an error (%HERALD_ERROR_UNAVAILABLE)
 * when the cluster cannot be asked. Handler: redis-bridge (`herald:presence:*`
 * keys). Producer: notifier-whatsapp; when nobody handles it, the producer uses
 * herald_bus_count_connections() (this instance only).
 */
#define HERALD_BUS_REQUEST_PRESENCE "presence"

/**
 * HERALD_BUS_REQUEST_REDIS:
 *
 * `request::redis`. Task data: the command as a %NULL-terminated argv (`GStrv`,
 * owned by the task, binary-safe only for text), e.g. `{"LPUSH","herald:notify:queue",json}`.
 * Result: g_task_return_pointer() of a #JsonNode (transfer full, free with
 * json_node_unref()): a Redis string or status → JSON string, integer → JSON int,
 * nil → JSON null, array → JSON array of those; a Redis error reply → task error
 * %HERALD_ERROR_FAILED with its text; not connected → %HERALD_ERROR_UNAVAILABLE
 * (the caller decides whether to retry). Handler: redis-bridge, on its command
 * connection (never the subscriber one). Producer: notifier-whatsapp (durable
 * queue, status records, phone numbers); when nobody handles it, the producer
 * uses its local durable file in `state-dir`. Keys are always prefixed `herald:`.
 */
#define HERALD_BUS_REQUEST_REDIS "redis"

/**
 * HERALD_BUS_REQUEST_SCAN:
 *
 * `request::scan`. Task data: the absolute path of a complete local file to scan
 * (`gchar *`, owned by the task; the file stays in place until the task completes).
 * Result: g_task_return_pointer() of a non-floating #GVariant of type `a{sv}`
 * (transfer full, free with g_variant_unref()): `verdict` (s: `clean`,
 * `infected`, `error`), `signature` (s, when infected), `reason` (s, when error).
 * A scanner that cannot be reached answers verdict `error` with a reason, not a
 * task error. Handler: clamav-scan (clamd INSTREAM). Producer: files-minio; when
 * nobody handles it the file counts as not scanned (`"scanned": false`).
 */
#define HERALD_BUS_REQUEST_SCAN "scan"

/**
 * HERALD_BUS_REQUEST_NOTIFY:
 *
 * `request::notify`. Task data: a #JsonObject (transfer full to the task, free with
 * json_object_unref()) shaped like the body of `POST /api/notifications/send`
 * (`user_id`, `title`, `message`, `type`, `data`, `priority`, optional `phone`).
 * Result: g_task_return_pointer() of the notification id (`gchar *`, g_free) once
 * it is accepted (queued or sent), or an error (%HERALD_ERROR_INVALID_ARGUMENT,
 * %HERALD_ERROR_RATE_LIMITED). Handler: notifier-whatsapp. Producers: any plugin
 * that must reach a person (files-minio on a rejected upload); when nobody handles
 * it the producer only logs at debug level.
 */
#define HERALD_BUS_REQUEST_NOTIFY "notify"
