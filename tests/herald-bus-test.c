/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "herald-bus-topics.h"
#include "herald-bus.h"
#include "herald-route.h"

static guint
deliver_cb(HeraldBus *bus, HeraldDelivery *delivery, gpointer user_data)
{
	guint *calls = user_data;
	(*calls)++;
	return herald_delivery_get_rooms(delivery)->len;
}

static guint
count_cb(HeraldBus *bus, const gchar *user_id, gpointer user_data)
{
	return g_strcmp0(user_id, "42") == 0 ? 2 : 7;
}

static void
event_cb(HeraldBus *bus, HeraldEvent *event, gpointer user_data)
{
	GPtrArray *seen = user_data;
	g_ptr_array_add(seen, herald_event_ref(event));
}

static void
test_deliver_accumulates(void)
{
	g_autoptr(HeraldBus) bus = herald_bus_new("inst-1");
	g_autoptr(HeraldEvent) event = herald_event_new("t", "c", NULL, "inst-1");
	g_autoptr(HeraldDelivery) delivery = herald_delivery_new(event, "t");
	guint calls = 0;
	HeraldBusStats stats = {0};

	/* nobody listening: nothing reached */
	g_assert_cmpuint(herald_bus_deliver(bus, delivery), ==, 0);
	herald_delivery_add_room(delivery, "a");
	herald_delivery_add_room(delivery, "b");
	g_signal_connect(bus, "deliver", G_CALLBACK(deliver_cb), &calls);
	g_signal_connect(bus, "deliver", G_CALLBACK(deliver_cb), &calls);
	/* two handlers reaching two each: the accumulator sums */
	g_assert_cmpuint(herald_bus_deliver(bus, delivery), ==, 4);
	g_assert_cmpuint(calls, ==, 2);
	herald_bus_get_stats(bus, &stats);
	g_assert_cmpuint(stats.deliveries, ==, 2);
	g_assert_cmpuint(stats.reached, ==, 4);
	g_assert_cmpuint(stats.unreached, ==, 1);
}

static void
test_count_connections(void)
{
	g_autoptr(HeraldBus) bus = herald_bus_new("inst-1");
	g_assert_cmpuint(herald_bus_count_connections(bus, NULL), ==, 0);
	g_signal_connect(bus, "count-connections", G_CALLBACK(count_cb), NULL);
	g_assert_cmpuint(herald_bus_count_connections(bus, NULL), ==, 7);
	g_assert_cmpuint(herald_bus_count_connections(bus, "42"), ==, 2);
}

static guint
count_pending_cb(HeraldBus *bus, gpointer user_data)
{
	return GPOINTER_TO_UINT(user_data);
}

static void
test_count_pending(void)
{
	g_autoptr(HeraldBus) bus = herald_bus_new("inst-1");
	g_assert_cmpuint(herald_bus_count_pending(bus), ==, 0);
	g_signal_connect(bus, "count-pending", G_CALLBACK(count_pending_cb), GUINT_TO_POINTER(3));
	g_signal_connect(bus, "count-pending", G_CALLBACK(count_pending_cb), GUINT_TO_POINTER(4));
	g_assert_cmpuint(herald_bus_count_pending(bus), ==, 7);
}

static void
test_event_detail(void)
{
	g_autoptr(HeraldBus) bus = herald_bus_new("inst-1");
	g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func((GDestroyNotify)herald_event_unref);
	g_autoptr(GPtrArray) seen_all = g_ptr_array_new_with_free_func((GDestroyNotify)herald_event_unref);
	g_autoptr(HeraldEvent) event = herald_event_new("t", "c", NULL, NULL);

	g_signal_connect(bus, "event::mine", G_CALLBACK(event_cb), seen);
	g_signal_connect(bus, "event", G_CALLBACK(event_cb), seen_all);
	herald_bus_emit_event(bus, "other", event);
	herald_bus_emit_event(bus, "mine", event);
	g_assert_cmpuint(seen->len, ==, 1);
	g_assert_true(g_ptr_array_index(seen, 0) == event);
	g_assert_cmpuint(seen_all->len, ==, 2);
}

static gboolean
request_cb(HeraldBus *bus, GTask *task, gpointer user_data)
{
	g_task_return_int(task, 99);
	return TRUE;
}

static void
request_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	gssize *out = user_data;
	*out = g_task_propagate_int(G_TASK(res), NULL);
}

static void
test_request(void)
{
	g_autoptr(HeraldBus) bus = herald_bus_new("inst-1");
	gssize result = 0;
	{
		g_autoptr(GTask) task = g_task_new(bus, NULL, request_done_cb, &result);
		/* nobody serves the topic: the caller keeps the task */
		g_assert_false(herald_bus_request(bus, "scan", task));
		g_task_return_int(task, -1);
	}
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_assert_cmpint(result, ==, -1);
	g_signal_connect(bus, "request::scan", G_CALLBACK(request_cb), NULL);
	{
		g_autoptr(GTask) task = g_task_new(bus, NULL, request_done_cb, &result);
		g_assert_true(herald_bus_request(bus, "scan", task));
	}
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_assert_cmpint(result, ==, 99);
}

/* a fake router: channel "a.*" → room "ra", channel "h" → handler "plug" */
static GPtrArray *
route_cb(HeraldEvent *event, gpointer user_data)
{
	GPtrArray *matches = g_ptr_array_new_with_free_func((GDestroyNotify)herald_route_match_free);
	const gchar *channel = herald_event_get_channel(event);
	if (g_str_has_prefix(channel, "a.")) {
		HeraldRouteMatch *match = g_new0(HeraldRouteMatch, 1);
		match->route = g_strdup("a");
		match->delivery = herald_delivery_new(event, "a_x");
		herald_delivery_add_room(match->delivery, "ra");
		g_ptr_array_add(matches, match);
	} else if (g_strcmp0(channel, "h") == 0) {
		HeraldRouteMatch *match = g_new0(HeraldRouteMatch, 1);
		match->route = g_strdup("h");
		match->handler = g_strdup("plug");
		g_ptr_array_add(matches, match);
	}
	return matches;
}

static void
test_publish(void)
{
	g_autoptr(HeraldBus) bus = herald_bus_new("inst-1");
	g_autoptr(GPtrArray) outbound = g_ptr_array_new_with_free_func((GDestroyNotify)herald_event_unref);
	g_autoptr(GPtrArray) handled = g_ptr_array_new_with_free_func((GDestroyNotify)herald_event_unref);
	g_autoptr(HeraldEvent) remote = herald_event_new(NULL, "a.y", NULL, "inst-2");
	guint calls = 0;
	HeraldBusStats stats = {0};

	herald_bus_set_router(bus, route_cb, NULL);
	g_signal_connect(bus, "deliver", G_CALLBACK(deliver_cb), &calls);
	g_signal_connect(bus, "event::" HERALD_BUS_TOPIC_OUTBOUND, G_CALLBACK(event_cb), outbound);
	g_signal_connect(bus, "event::plug", G_CALLBACK(event_cb), handled);

	/* local: delivered here and announced for the other instances */
	g_assert_cmpuint(herald_bus_publish_json(bus, "a.x", NULL), ==, 1);
	g_assert_cmpuint(calls, ==, 1);
	g_assert_cmpuint(outbound->len, ==, 1);
	g_assert_cmpstr(herald_event_get_origin(g_ptr_array_index(outbound, 0)), ==, "inst-1");
	/* from another instance: delivered, never sent back out */
	g_assert_cmpuint(herald_bus_publish(bus, remote), ==, 1);
	g_assert_cmpuint(outbound->len, ==, 1);
	/* handler routes go to the plugin's topic, not to delivery */
	g_assert_cmpuint(herald_bus_publish_json(bus, "h", NULL), ==, 0);
	g_assert_cmpuint(handled->len, ==, 1);
	g_assert_cmpuint(calls, ==, 2);
	/* unrouted is counted */
	g_assert_cmpuint(herald_bus_publish_json(bus, "zzz", NULL), ==, 0);
	herald_bus_get_stats(bus, &stats);
	g_assert_cmpuint(stats.published, ==, 4);
	g_assert_cmpuint(stats.unrouted, ==, 1);
	g_assert_cmpuint(stats.published_local, ==, 3);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/herald/bus/deliver-accumulates", test_deliver_accumulates);
	g_test_add_func("/herald/bus/count-connections", test_count_connections);
	g_test_add_func("/herald/bus/count-pending", test_count_pending);
	g_test_add_func("/herald/bus/event-detail", test_event_detail);
	g_test_add_func("/herald/bus/request", test_request);
	g_test_add_func("/herald/bus/publish", test_publish);
	return g_test_run();
}
