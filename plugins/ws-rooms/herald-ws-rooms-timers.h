/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Per-session deadlines (Engine.IO heartbeats and the other session
 * timeouts) in one GSource: a binary min-heap of timers, the source's ready
 * time is the earliest deadline. No sweep: the main loop wakes up at that
 * deadline (GLib rounds the wait up to the next millisecond) and not before.
 */

typedef struct _HeraldWsRoomsTimers HeraldWsRoomsTimers;

/* embedded in its owner; all zero when not scheduled */
typedef struct {
	gint64 deadline; /* monotonic µs */
	guint index;	 /* position in the heap plus one, 0 when not in it */
} HeraldWsRoomsTimer;

/* @timer is out of the heap when this runs; it may schedule it again */
typedef void (*HeraldWsRoomsTimerFunc)(HeraldWsRoomsTimer *timer, gpointer user_data);

HeraldWsRoomsTimers *
herald_ws_rooms_timers_new(HeraldWsRoomsTimerFunc func, gpointer user_data);
void
herald_ws_rooms_timers_free(HeraldWsRoomsTimers *self);
void
herald_ws_rooms_timers_schedule(HeraldWsRoomsTimers *self, HeraldWsRoomsTimer *timer, gint64 deadline);
void
herald_ws_rooms_timers_cancel(HeraldWsRoomsTimers *self, HeraldWsRoomsTimer *timer);
guint
herald_ws_rooms_timers_get_n_timers(HeraldWsRoomsTimers *self);
gint64
herald_ws_rooms_timers_get_earliest(HeraldWsRoomsTimers *self);

G_END_DECLS
