/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "herald-ws-rooms-timers.h"

typedef struct {
	GSource source;
	HeraldWsRoomsTimers *timers;
} HeraldWsRoomsTimersSource;

struct _HeraldWsRoomsTimers {
	GPtrArray *heap; /* (element-type HeraldWsRoomsTimer) (not owned) */
	GSource *source; /* (owned) */
	HeraldWsRoomsTimerFunc func;
	gpointer user_data;
};

static inline HeraldWsRoomsTimer *
herald_ws_rooms_timers_at(HeraldWsRoomsTimers *self, guint i)
{
	return g_ptr_array_index(self->heap, i);
}

static void
herald_ws_rooms_timers_place(HeraldWsRoomsTimers *self, guint i, HeraldWsRoomsTimer *timer)
{
	self->heap->pdata[i] = timer;
	timer->index = i + 1;
}

static void
herald_ws_rooms_timers_sift_up(HeraldWsRoomsTimers *self, guint i)
{
	HeraldWsRoomsTimer *timer = herald_ws_rooms_timers_at(self, i);
	while (i > 0) {
		guint parent = (i - 1) / 2;
		HeraldWsRoomsTimer *up = herald_ws_rooms_timers_at(self, parent);
		if (up->deadline <= timer->deadline)
			break;
		herald_ws_rooms_timers_place(self, i, up);
		i = parent;
	}
	herald_ws_rooms_timers_place(self, i, timer);
}

static void
herald_ws_rooms_timers_sift_down(HeraldWsRoomsTimers *self, guint i)
{
	HeraldWsRoomsTimer *timer = herald_ws_rooms_timers_at(self, i);
	guint n = self->heap->len;
	for (;;) {
		guint child = 2 * i + 1;
		HeraldWsRoomsTimer *down;
		if (child >= n)
			break;
		if (child + 1 < n && herald_ws_rooms_timers_at(self, child + 1)->deadline <
					 herald_ws_rooms_timers_at(self, child)->deadline)
			child++;
		down = herald_ws_rooms_timers_at(self, child);
		if (timer->deadline <= down->deadline)
			break;
		herald_ws_rooms_timers_place(self, i, down);
		i = child;
	}
	herald_ws_rooms_timers_place(self, i, timer);
}

/* the source wakes up at the earliest deadline, or never */
static void
herald_ws_rooms_timers_arm(HeraldWsRoomsTimers *self)
{
	gint64 ready = self->heap->len > 0 ? herald_ws_rooms_timers_at(self, 0)->deadline : -1;
	if (g_source_get_ready_time(self->source) != ready)
		g_source_set_ready_time(self->source, ready);
}

static void
herald_ws_rooms_timers_remove(HeraldWsRoomsTimers *self, HeraldWsRoomsTimer *timer)
{
	guint i = timer->index - 1;
	HeraldWsRoomsTimer *last = g_ptr_array_steal_index(self->heap, self->heap->len - 1);

	timer->index = 0;
	if (last == timer)
		return;
	herald_ws_rooms_timers_place(self, i, last);
	if (i > 0 && herald_ws_rooms_timers_at(self, (i - 1) / 2)->deadline > last->deadline)
		herald_ws_rooms_timers_sift_up(self, i);
	else
		herald_ws_rooms_timers_sift_down(self, i);
}

/**
 * herald_ws_rooms_timers_schedule:
 * @deadline: monotonic µs (g_get_monotonic_time()); 0 cancels
 *
 * (Re)schedules @timer; O(log n).
 */
void
herald_ws_rooms_timers_schedule(HeraldWsRoomsTimers *self, HeraldWsRoomsTimer *timer, gint64 deadline)
{
	if (deadline <= 0) {
		herald_ws_rooms_timers_cancel(self, timer);
		return;
	}
	if (timer->index != 0 && timer->deadline == deadline)
		return;
	timer->deadline = deadline;
	if (timer->index == 0) {
		g_ptr_array_add(self->heap, timer);
		herald_ws_rooms_timers_sift_up(self, self->heap->len - 1);
	} else {
		guint i = timer->index - 1;
		herald_ws_rooms_timers_sift_up(self, i);
		if (timer->index - 1 == i)
			herald_ws_rooms_timers_sift_down(self, i);
	}
	herald_ws_rooms_timers_arm(self);
}

void
herald_ws_rooms_timers_cancel(HeraldWsRoomsTimers *self, HeraldWsRoomsTimer *timer)
{
	if (self == NULL || timer->index == 0)
		return;
	herald_ws_rooms_timers_remove(self, timer);
	timer->deadline = 0;
	herald_ws_rooms_timers_arm(self);
}

static gboolean
herald_ws_rooms_timers_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	HeraldWsRoomsTimers *self = ((HeraldWsRoomsTimersSource *)source)->timers;
	gint64 now = g_get_monotonic_time();
	/* a callback that schedules its timer at or before now runs next time */
	guint budget = self->heap->len;

	while (self->heap->len > 0 && budget-- > 0) {
		HeraldWsRoomsTimer *timer = herald_ws_rooms_timers_at(self, 0);
		if (timer->deadline > now)
			break;
		herald_ws_rooms_timers_remove(self, timer);
		self->func(timer, self->user_data);
	}
	herald_ws_rooms_timers_arm(self);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs herald_ws_rooms_timers_funcs = {
    .dispatch = herald_ws_rooms_timers_dispatch,
};

/**
 * herald_ws_rooms_timers_new:
 * @func: runs for each timer whose deadline has passed
 *
 * Returns: (transfer full): an empty heap, its source attached to the
 * default main context (as the hub's other sources)
 */
HeraldWsRoomsTimers *
herald_ws_rooms_timers_new(HeraldWsRoomsTimerFunc func, gpointer user_data)
{
	HeraldWsRoomsTimers *self = g_new0(HeraldWsRoomsTimers, 1);
	self->heap = g_ptr_array_new();
	self->func = func;
	self->user_data = user_data;
	self->source = g_source_new(&herald_ws_rooms_timers_funcs, sizeof(HeraldWsRoomsTimersSource));
	((HeraldWsRoomsTimersSource *)self->source)->timers = self;
	g_source_set_name(self->source, "herald-ws-rooms-timers");
	g_source_set_ready_time(self->source, -1);
	g_source_attach(self->source, NULL);
	return self;
}

void
herald_ws_rooms_timers_free(HeraldWsRoomsTimers *self)
{
	if (self == NULL)
		return;
	for (guint i = 0; i < self->heap->len; i++)
		herald_ws_rooms_timers_at(self, i)->index = 0;
	g_ptr_array_unref(self->heap);
	g_source_destroy(self->source);
	g_source_unref(self->source);
	g_free(self);
}

guint
herald_ws_rooms_timers_get_n_timers(HeraldWsRoomsTimers *self)
{
	return self->heap->len;
}

/* the earliest deadline, -1 when none */
gint64
herald_ws_rooms_timers_get_earliest(HeraldWsRoomsTimers *self)
{
	return self->heap->len > 0 ? herald_ws_rooms_timers_at(self, 0)->deadline : -1;
}
