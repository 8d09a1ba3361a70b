/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * HeraldWsRoomsQueue:
 *
 * The outgoing frames of one connection: references to frames shared by every
 * connection they go to, bounded in bytes by the caller. Idle connections hold
 * no allocation, and neither does one with a single frame queued (the usual
 * case: one event at a time); a burst goes out with one sendmsg() per
 * connection.
 */
typedef struct {
	GBytes **items; /* (nullable) ring of owned refs, from the second item on */
	GBytes *one;	/* (nullable) the only item while there is no ring (cap 0) */
	guint head;
	guint len;
	guint cap;
	gsize offset; /* bytes of items[head] already written */
	gsize bytes;  /* unwritten bytes queued */
} HeraldWsRoomsQueue;

typedef enum {
	HERALD_WS_ROOMS_FLUSH_DONE,  /* queue empty */
	HERALD_WS_ROOMS_FLUSH_AGAIN, /* the socket is full; wait for POLLOUT */
	HERALD_WS_ROOMS_FLUSH_ERROR, /* errno is set */
} HeraldWsRoomsFlush;

void
herald_ws_rooms_queue_push(HeraldWsRoomsQueue *queue, GBytes *bytes);
void
herald_ws_rooms_queue_clear(HeraldWsRoomsQueue *queue);
void
herald_ws_rooms_queue_drop_unstarted(HeraldWsRoomsQueue *queue);
gboolean
herald_ws_rooms_queue_is_empty(HeraldWsRoomsQueue *queue);
GBytes *
herald_ws_rooms_queue_peek_nth(HeraldWsRoomsQueue *queue, guint n);
HeraldWsRoomsFlush
herald_ws_rooms_queue_flush(HeraldWsRoomsQueue *queue, gint fd, gsize *written);

G_END_DECLS
