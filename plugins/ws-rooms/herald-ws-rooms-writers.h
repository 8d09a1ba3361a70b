/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * HeraldWsRoomsWriters:
 *
 * A fork-join pool for the write pass of a fan-out. One event for 1,000
 * connections needs 1,000 sendmsg() calls, and on loopback or a fast NIC each
 * costs several microseconds of kernel time, so a pass on one core takes
 * milliseconds. herald_ws_rooms_writers_run() spreads the calls over the
 * calling thread and the pool's threads and returns when all are done: the
 * caller (the main loop) is inside the call the whole time, so nothing else
 * touches the connections meanwhile and no lock guards them.
 *
 * Items are claimed in chunks from one atomic counter, so a thread that is
 * preempted (by the clients on the same machine, say) just takes fewer; a
 * thread that wakes after the work is gone is not waited for.
 */
typedef struct _HeraldWsRoomsWriters HeraldWsRoomsWriters;

/* called for items [begin, end) from any thread of the pool */
typedef void (*HeraldWsRoomsWriteFunc)(guint begin, guint end, gpointer user_data);

/* "auto": one thread per CPU beyond the first, at most this many */
#define HERALD_WS_ROOMS_WRITERS_AUTO_MAX 4
#define HERALD_WS_ROOMS_WRITERS_MAX	 64
/* items one thread claims at a time; a pass of fewer than two chunks stays
 * on the calling thread */
#define HERALD_WS_ROOMS_WRITERS_CHUNK 16

HeraldWsRoomsWriters *
herald_ws_rooms_writers_new(guint n_threads);
void
herald_ws_rooms_writers_free(HeraldWsRoomsWriters *self);
guint
herald_ws_rooms_writers_get_n_threads(HeraldWsRoomsWriters *self);
guint64
herald_ws_rooms_writers_get_parallel_runs(HeraldWsRoomsWriters *self);
void
herald_ws_rooms_writers_run(HeraldWsRoomsWriters *self,
			    guint n_items,
			    HeraldWsRoomsWriteFunc func,
			    gpointer user_data);

gboolean
herald_ws_rooms_writers_parse(const gchar *value, guint *n_threads, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldWsRoomsWriters, herald_ws_rooms_writers_free)

G_END_DECLS
