/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "herald-bus-topics.h"
#include "herald-bus.h"
#include "herald-route.h"

struct _HeraldBus {
	GObject parent_instance;
	gchar *instance_id; /* (owned) */
	HeraldBusRouteFunc route_func;
	gpointer route_data;
	HeraldBusStats stats;
};

G_DEFINE_FINAL_TYPE(HeraldBus, herald_bus, G_TYPE_OBJECT)

enum {
	SIGNAL_EVENT,
	SIGNAL_DELIVER,
	SIGNAL_COUNT_CONNECTIONS,
	SIGNAL_COUNT_PENDING,
	SIGNAL_REQUEST,
	SIGNAL_LAST
};
static guint signals[SIGNAL_LAST] = {0};

static gboolean
herald_bus_accumulator_sum(GSignalInvocationHint *ihint,
			   GValue *return_accu,
			   const GValue *handler_return,
			   gpointer data)
{
	g_value_set_uint(return_accu, g_value_get_uint(return_accu) + g_value_get_uint(handler_return));
	return TRUE;
}

const gchar *
herald_bus_get_instance_id(HeraldBus *self)
{
	g_return_val_if_fail(HERALD_IS_BUS(self), NULL);
	return self->instance_id;
}

/**
 * herald_bus_emit_event:
 * @topic: the signal detail, see herald-bus-topics.h
 *
 * Notifies every handler of `event::topic`, synchronously.
 */
void
herald_bus_emit_event(HeraldBus *self, const gchar *topic, HeraldEvent *event)
{
	g_return_if_fail(HERALD_IS_BUS(self));
	g_return_if_fail(topic != NULL);
	g_return_if_fail(event != NULL);
	g_signal_emit(self, signals[SIGNAL_EVENT], g_quark_from_string(topic), event);
}

guint
herald_bus_deliver(HeraldBus *self, HeraldDelivery *delivery)
{
	guint reached = 0;
	g_return_val_if_fail(HERALD_IS_BUS(self), 0);
	g_return_val_if_fail(delivery != NULL, 0);
	g_signal_emit(self, signals[SIGNAL_DELIVER], 0, delivery, &reached);
	self->stats.deliveries++;
	self->stats.reached += reached;
	if (reached == 0)
		self->stats.unreached++;
	return reached;
}

guint
herald_bus_count_connections(HeraldBus *self, const gchar *user_id)
{
	guint count = 0;
	g_return_val_if_fail(HERALD_IS_BUS(self), 0);
	g_signal_emit(self, signals[SIGNAL_COUNT_CONNECTIONS], 0, user_id, &count);
	return count;
}

/**
 * herald_bus_count_pending:
 *
 * Returns: connections (or sessions) accepted but not authenticated yet, summed
 * over the `count-pending` handlers (ws-rooms: Socket.IO sessions before their
 * CONNECT).
 *
 * Since: 0.2
 */
guint
herald_bus_count_pending(HeraldBus *self)
{
	guint count = 0;
	g_return_val_if_fail(HERALD_IS_BUS(self), 0);
	g_signal_emit(self, signals[SIGNAL_COUNT_PENDING], 0, &count);
	return count;
}

/**
 * herald_bus_request:
 * @topic: the request topic, see herald-bus-topics.h
 * @task: completed later by the handler that accepted it
 *
 * Returns: %TRUE if a handler took the task; %FALSE means nobody serves @topic and
 * the caller still owns the task.
 */
gboolean
herald_bus_request(HeraldBus *self, const gchar *topic, GTask *task)
{
	gboolean handled = FALSE;
	g_return_val_if_fail(HERALD_IS_BUS(self), FALSE);
	g_return_val_if_fail(G_IS_TASK(task), FALSE);
	g_signal_emit(self, signals[SIGNAL_REQUEST], g_quark_from_string(topic), task, &handled);
	return handled;
}

void
herald_bus_set_router(HeraldBus *self, HeraldBusRouteFunc func, gpointer user_data)
{
	g_return_if_fail(HERALD_IS_BUS(self));
	self->route_func = func;
	self->route_data = user_data;
}

guint
herald_bus_publish(HeraldBus *self, HeraldEvent *event)
{
	g_autoptr(GPtrArray) matches = NULL;
	const gchar *origin;
	guint reached = 0;

	g_return_val_if_fail(HERALD_IS_BUS(self), 0);
	g_return_val_if_fail(event != NULL, 0);

	self->stats.published++;
	origin = herald_event_get_origin(event);
	if (self->route_func != NULL)
		matches = self->route_func(event, self->route_data);
	if (matches == NULL || matches->len == 0) {
		self->stats.unrouted++;
		g_debug("no route for channel '%s'", herald_event_get_channel(event));
	}
	for (guint i = 0; matches != NULL && i < matches->len; i++) {
		HeraldRouteMatch *match = g_ptr_array_index(matches, i);
		if (match->handler != NULL) {
			herald_bus_emit_event(self, match->handler, event);
			continue;
		}
		if (match->delivery == NULL || herald_delivery_is_empty(match->delivery))
			continue;
		reached += herald_bus_deliver(self, match->delivery);
	}

	/* events that entered here must reach the other instances too */
	if (origin == NULL || g_strcmp0(origin, self->instance_id) == 0) {
		self->stats.published_local++;
		herald_bus_emit_event(self, HERALD_BUS_TOPIC_OUTBOUND, event);
	}
	return reached;
}

guint
herald_bus_publish_json(HeraldBus *self, const gchar *channel, JsonNode *payload)
{
	g_autoptr(HeraldEvent) event = NULL;
	g_return_val_if_fail(HERALD_IS_BUS(self), 0);
	g_return_val_if_fail(channel != NULL, 0);
	event = herald_event_new(NULL, channel, payload, self->instance_id);
	return herald_bus_publish(self, event);
}

void
herald_bus_get_stats(HeraldBus *self, HeraldBusStats *stats)
{
	g_return_if_fail(HERALD_IS_BUS(self));
	g_return_if_fail(stats != NULL);
	*stats = self->stats;
}

HeraldBus *
herald_bus_new(const gchar *instance_id)
{
	HeraldBus *self = g_object_new(HERALD_TYPE_BUS, NULL);
	self->instance_id = g_strdup(instance_id);
	return self;
}

static void
herald_bus_finalize(GObject *object)
{
	HeraldBus *self = HERALD_BUS(object);
	g_free(self->instance_id);
	G_OBJECT_CLASS(herald_bus_parent_class)->finalize(object);
}

static void
herald_bus_init(HeraldBus *self)
{
}

static void
herald_bus_class_init(HeraldBusClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->finalize = herald_bus_finalize;

	signals[SIGNAL_EVENT] = g_signal_new("event",
					     G_TYPE_FROM_CLASS(klass),
					     G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED,
					     0,
					     NULL,
					     NULL,
					     NULL,
					     G_TYPE_NONE,
					     1,
					     HERALD_TYPE_EVENT | G_SIGNAL_TYPE_STATIC_SCOPE);
	signals[SIGNAL_DELIVER] = g_signal_new("deliver",
					       G_TYPE_FROM_CLASS(klass),
					       G_SIGNAL_RUN_LAST,
					       0,
					       herald_bus_accumulator_sum,
					       NULL,
					       NULL,
					       G_TYPE_UINT,
					       1,
					       HERALD_TYPE_DELIVERY | G_SIGNAL_TYPE_STATIC_SCOPE);
	signals[SIGNAL_COUNT_CONNECTIONS] = g_signal_new("count-connections",
							 G_TYPE_FROM_CLASS(klass),
							 G_SIGNAL_RUN_LAST,
							 0,
							 herald_bus_accumulator_sum,
							 NULL,
							 NULL,
							 G_TYPE_UINT,
							 1,
							 G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);
	signals[SIGNAL_COUNT_PENDING] = g_signal_new("count-pending",
						     G_TYPE_FROM_CLASS(klass),
						     G_SIGNAL_RUN_LAST,
						     0,
						     herald_bus_accumulator_sum,
						     NULL,
						     NULL,
						     G_TYPE_UINT,
						     0);
	signals[SIGNAL_REQUEST] = g_signal_new("request",
					       G_TYPE_FROM_CLASS(klass),
					       G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED,
					       0,
					       g_signal_accumulator_true_handled,
					       NULL,
					       NULL,
					       G_TYPE_BOOLEAN,
					       1,
					       G_TYPE_TASK);
}
