/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The deadline heap of Engine.IO sessions: order under random schedules,
 * reschedules and cancels; the source fires at the earliest deadline, once
 * per due timer.
 */
#include "config.h"

#include "herald-ws-rooms-timers.h"

typedef struct {
	HeraldWsRoomsTimer timer;
	guint id;
	guint fired;
} Item;

typedef struct {
	GArray *order; /* ids in firing order */
	gint64 *fired_at;
	Item *items;
} Fixture;

static void
fired_cb(HeraldWsRoomsTimer *timer, gpointer user_data)
{
	Fixture *fx = user_data;
	Item *item = (Item *)timer;
	g_assert_cmpuint(timer->index, ==, 0);
	item->fired++;
	g_array_append_val(fx->order, item->id);
	if (fx->fired_at != NULL)
		fx->fired_at[item->id] = g_get_monotonic_time();
}

/* random schedules, reschedules and cancels: the heap always yields the
 * smallest deadline (checked by popping through the source) */
static void
test_heap_order(void)
{
	const guint n = 500;
	Fixture fx = {0};
	g_autoptr(GRand) rand = g_rand_new_with_seed(42);
	HeraldWsRoomsTimers *timers = herald_ws_rooms_timers_new(fired_cb, &fx);
	gint64 base = g_get_monotonic_time() + (gint64)3600 * G_USEC_PER_SEC;
	gboolean *cancelled = g_new0(gboolean, n);
	guint expected = 0;

	fx.order = g_array_new(FALSE, FALSE, sizeof(guint));
	fx.items = g_new0(Item, n);
	for (guint i = 0; i < n; i++) {
		fx.items[i].id = i;
		herald_ws_rooms_timers_schedule(timers,
						&fx.items[i].timer,
						base + g_rand_int_range(rand, 0, 1000000));
	}
	g_assert_cmpuint(herald_ws_rooms_timers_get_n_timers(timers), ==, n);
	/* move half of them, cancel a tenth */
	for (guint i = 0; i < n; i += 2)
		herald_ws_rooms_timers_schedule(timers,
						&fx.items[i].timer,
						base + g_rand_int_range(rand, 0, 1000000));
	for (guint i = 0; i < n; i += 10) {
		herald_ws_rooms_timers_cancel(timers, &fx.items[i].timer);
		cancelled[i] = TRUE;
		g_assert_cmpuint(fx.items[i].timer.index, ==, 0);
	}
	for (guint i = 0; i < n; i++)
		expected += cancelled[i] ? 0 : 1;
	g_assert_cmpuint(herald_ws_rooms_timers_get_n_timers(timers), ==, expected);
	/* the earliest is the minimum of what is left */
	{
		gint64 min = G_MAXINT64;
		for (guint i = 0; i < n; i++) {
			if (!cancelled[i])
				min = MIN(min, fx.items[i].timer.deadline);
		}
		g_assert_cmpint(herald_ws_rooms_timers_get_earliest(timers), ==, min);
	}
	/* everything due now: one dispatch fires all, in deadline order */
	for (guint i = 0; i < n; i++) {
		if (!cancelled[i])
			herald_ws_rooms_timers_schedule(timers,
							&fx.items[i].timer,
							fx.items[i].timer.deadline - (gint64)3600 * G_USEC_PER_SEC);
	}
	while (herald_ws_rooms_timers_get_n_timers(timers) > 0)
		g_main_context_iteration(NULL, TRUE);
	g_assert_cmpuint(fx.order->len, ==, expected);
	for (guint i = 1; i < fx.order->len; i++) {
		Item *a = &fx.items[g_array_index(fx.order, guint, i - 1)];
		Item *b = &fx.items[g_array_index(fx.order, guint, i)];
		g_assert_cmpint(a->timer.deadline, <=, b->timer.deadline);
	}
	for (guint i = 0; i < n; i++)
		g_assert_cmpuint(fx.items[i].fired, ==, cancelled[i] ? 0 : 1);
	g_assert_cmpint(herald_ws_rooms_timers_get_earliest(timers), ==, -1);
	herald_ws_rooms_timers_free(timers);
	g_array_unref(fx.order);
	g_free(fx.items);
	g_free(cancelled);
}

/* deadlines in the future: each fires at its time, not before, within a
 * generous bound (the test only guards against a hang or a sweep's delay) */
static void
test_fires_on_time(void)
{
	Fixture fx = {0};
	HeraldWsRoomsTimers *timers = herald_ws_rooms_timers_new(fired_cb, &fx);
	gint64 start = g_get_monotonic_time();
	gint64 deadlines[3];
	gint64 fired_at[3] = {0};

	fx.order = g_array_new(FALSE, FALSE, sizeof(guint));
	fx.items = g_new0(Item, 3);
	fx.fired_at = fired_at;
	for (guint i = 0; i < 3; i++) {
		fx.items[i].id = i;
		deadlines[i] = start + (gint64)(30 - 10 * i) * 1000;
		herald_ws_rooms_timers_schedule(timers, &fx.items[i].timer, deadlines[i]);
	}
	while (fx.order->len < 3)
		g_main_context_iteration(NULL, TRUE);
	g_assert_cmpuint(g_array_index(fx.order, guint, 0), ==, 2);
	g_assert_cmpuint(g_array_index(fx.order, guint, 2), ==, 0);
	for (guint i = 0; i < 3; i++) {
		g_test_message("timer %u: %.2f ms after its deadline",
			       i,
			       (fired_at[i] - deadlines[i]) / 1000.0);
		g_assert_cmpint(fired_at[i], >=, deadlines[i]);
		g_assert_cmpint(fired_at[i] - deadlines[i], <, 10 * G_USEC_PER_SEC);
	}
	herald_ws_rooms_timers_free(timers);
	g_array_unref(fx.order);
	g_free(fx.items);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ws-rooms/timers/heap-order", test_heap_order);
	g_test_add_func("/ws-rooms/timers/fires-on-time", test_fires_on_time);
	return g_test_run();
}
