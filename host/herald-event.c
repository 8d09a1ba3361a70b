/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "herald-event.h"
#include "herald-json.h"

struct _HeraldEvent {
	gint refcount; /* atomic */
	gchar *id;
	gchar *type;
	gchar *channel;
	JsonNode *payload; /* (owned): sealed */
	gint64 timestamp;  /* µs since the epoch */
	gchar *origin;
	/* lazily computed, main thread only */
	gchar *timestamp_string;
	gchar *payload_json;
};

G_DEFINE_BOXED_TYPE(HeraldEvent, herald_event, herald_event_ref, herald_event_unref)

/* RFC 3339, UTC, milliseconds: 2026-11-22T15:04:05.123Z */
gchar *
herald_timestamp_format(gint64 timestamp_us)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(timestamp_us / G_USEC_PER_SEC);
	g_autofree gchar *base = NULL;
	if (dt == NULL)
		return g_strdup("1970-01-01T00:00:00.000Z");
	base = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S");
	return g_strdup_printf("%s.%03dZ", base, (gint)((timestamp_us % G_USEC_PER_SEC) / 1000));
}

HeraldEvent *
herald_event_new_full(const gchar *id,
		      const gchar *type,
		      const gchar *channel,
		      JsonNode *payload,
		      gint64 timestamp_us,
		      const gchar *origin)
{
	HeraldEvent *self = g_new0(HeraldEvent, 1);
	self->refcount = 1;
	self->id = id != NULL ? g_strdup(id) : g_uuid_string_random();
	self->type = g_strdup(type);
	self->channel = g_strdup(channel);
	self->payload = payload != NULL ? json_node_copy(payload) : json_node_new(JSON_NODE_NULL);
	json_node_seal(self->payload);
	self->timestamp = timestamp_us > 0 ? timestamp_us : g_get_real_time();
	self->origin = g_strdup(origin);
	return self;
}

HeraldEvent *
herald_event_new(const gchar *type, const gchar *channel, JsonNode *payload, const gchar *origin)
{
	return herald_event_new_full(NULL, type, channel, payload, 0, origin);
}

HeraldEvent *
herald_event_ref(HeraldEvent *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	g_atomic_int_inc(&self->refcount);
	return self;
}

void
herald_event_unref(HeraldEvent *self)
{
	g_return_if_fail(self != NULL);
	if (!g_atomic_int_dec_and_test(&self->refcount))
		return;
	g_free(self->id);
	g_free(self->type);
	g_free(self->channel);
	json_node_unref(self->payload);
	g_free(self->origin);
	g_free(self->timestamp_string);
	g_free(self->payload_json);
	g_free(self);
}

const gchar *
herald_event_get_id(HeraldEvent *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->id;
}

const gchar *
herald_event_get_type_name(HeraldEvent *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->type;
}

const gchar *
herald_event_get_channel(HeraldEvent *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->channel;
}

/* (transfer none): sealed, never modify */
JsonNode *
herald_event_get_payload(HeraldEvent *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->payload;
}

gint64
herald_event_get_timestamp(HeraldEvent *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->timestamp;
}

const gchar *
herald_event_get_timestamp_string(HeraldEvent *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	if (self->timestamp_string == NULL)
		self->timestamp_string = herald_timestamp_format(self->timestamp);
	return self->timestamp_string;
}

const gchar *
herald_event_get_origin(HeraldEvent *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->origin;
}

/* the compact JSON of the payload, generated once (main thread only) */
const gchar *
herald_event_get_payload_json(HeraldEvent *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	if (self->payload_json == NULL)
		self->payload_json = herald_json_to_string(self->payload);
	return self->payload_json;
}

/* a string or integer member at a dotted path of an object payload */
gchar *
herald_event_get_payload_field(HeraldEvent *self, const gchar *field)
{
	JsonNode *node = self->payload;
	g_auto(GStrv) parts = NULL;

	g_return_val_if_fail(self != NULL, NULL);
	g_return_val_if_fail(field != NULL, NULL);
	parts = g_strsplit(field, ".", -1);
	for (guint i = 0; parts[i] != NULL; i++) {
		if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
			return NULL;
		node = json_object_get_member(json_node_get_object(node), parts[i]);
	}
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node))
		return NULL;
	if (json_node_get_value_type(node) == G_TYPE_STRING)
		return g_strdup(json_node_get_string(node));
	if (json_node_get_value_type(node) == G_TYPE_INT64)
		return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
	return NULL;
}

/* a payload that is already a message: an object with a string "type" */
gboolean
herald_event_is_verbatim(HeraldEvent *self)
{
	JsonObject *obj;
	JsonNode *type;
	g_return_val_if_fail(self != NULL, FALSE);
	if (!JSON_NODE_HOLDS_OBJECT(self->payload))
		return FALSE;
	obj = json_node_get_object(self->payload);
	type = json_object_get_member(obj, "type");
	return type != NULL && JSON_NODE_HOLDS_VALUE(type) &&
	       json_node_get_value_type(type) == G_TYPE_STRING;
}

struct _HeraldDelivery {
	gint refcount;
	HeraldEvent *event;
	gchar *name;
	GPtrArray *rooms;   /* (element-type utf8) */
	GPtrArray *users;   /* (element-type utf8) */
	GPtrArray *filters; /* (element-type GStrv) */
	gboolean broadcast;
	gchar *user_scope; /* (nullable) */
};

G_DEFINE_BOXED_TYPE(HeraldDelivery, herald_delivery, herald_delivery_ref, herald_delivery_unref)

HeraldDelivery *
herald_delivery_new(HeraldEvent *event, const gchar *name)
{
	HeraldDelivery *self = g_new0(HeraldDelivery, 1);
	g_return_val_if_fail(event != NULL, NULL);
	self->refcount = 1;
	self->event = herald_event_ref(event);
	if (name != NULL)
		self->name = g_strdup(name);
	else if (herald_event_get_type_name(event) != NULL)
		self->name = g_strdup(herald_event_get_type_name(event));
	else
		self->name = g_strdup("message");
	self->rooms = g_ptr_array_new_with_free_func(g_free);
	self->users = g_ptr_array_new_with_free_func(g_free);
	self->filters = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
	return self;
}

HeraldDelivery *
herald_delivery_ref(HeraldDelivery *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	g_atomic_int_inc(&self->refcount);
	return self;
}

void
herald_delivery_unref(HeraldDelivery *self)
{
	g_return_if_fail(self != NULL);
	if (!g_atomic_int_dec_and_test(&self->refcount))
		return;
	herald_event_unref(self->event);
	g_free(self->name);
	g_ptr_array_unref(self->rooms);
	g_ptr_array_unref(self->users);
	g_ptr_array_unref(self->filters);
	g_free(self->user_scope);
	g_free(self);
}

static void
herald_delivery_add_unique(GPtrArray *array, const gchar *value)
{
	for (guint i = 0; i < array->len; i++) {
		if (g_strcmp0(g_ptr_array_index(array, i), value) == 0)
			return;
	}
	g_ptr_array_add(array, g_strdup(value));
}

void
herald_delivery_add_room(HeraldDelivery *self, const gchar *room)
{
	g_return_if_fail(self != NULL);
	g_return_if_fail(room != NULL);
	herald_delivery_add_unique(self->rooms, room);
}

void
herald_delivery_add_user(HeraldDelivery *self, const gchar *user_id)
{
	g_return_if_fail(self != NULL);
	g_return_if_fail(user_id != NULL);
	herald_delivery_add_unique(self->users, user_id);
}

/**
 * herald_delivery_add_filter:
 * @pairs: claim, value, claim, value, …, %NULL; every pair must match
 */
void
herald_delivery_add_filter(HeraldDelivery *self, const gchar *const *pairs)
{
	g_return_if_fail(self != NULL);
	g_return_if_fail(pairs != NULL);
	g_return_if_fail(g_strv_length((gchar **)pairs) % 2 == 0);
	g_ptr_array_add(self->filters, g_strdupv((gchar **)pairs));
}

void
herald_delivery_set_broadcast(HeraldDelivery *self, gboolean broadcast)
{
	g_return_if_fail(self != NULL);
	self->broadcast = broadcast;
}

/**
 * herald_delivery_set_user_scope:
 * @user_id: (nullable): a user id, or %NULL for every connection in the targets
 *
 * Narrows the delivery to the connections of @user_id inside its targets
 * (rooms, users, filters, broadcast): a room-wide message that names a user
 * reaches only that user's connections in the room, and nobody when the user
 * is not in it.
 *
 * Since: 0.2
 */
void
herald_delivery_set_user_scope(HeraldDelivery *self, const gchar *user_id)
{
	g_return_if_fail(self != NULL);
	g_free(self->user_scope);
	self->user_scope = g_strdup(user_id);
}

/**
 * herald_delivery_get_user_scope:
 *
 * Returns: (nullable): the user the delivery is narrowed to, or %NULL
 *
 * Since: 0.2
 */
const gchar *
herald_delivery_get_user_scope(HeraldDelivery *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->user_scope;
}

HeraldEvent *
herald_delivery_get_event(HeraldDelivery *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->event;
}

const gchar *
herald_delivery_get_name(HeraldDelivery *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->name;
}

GPtrArray *
herald_delivery_get_rooms(HeraldDelivery *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->rooms;
}

GPtrArray *
herald_delivery_get_users(HeraldDelivery *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->users;
}

GPtrArray *
herald_delivery_get_filters(HeraldDelivery *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->filters;
}

gboolean
herald_delivery_get_broadcast(HeraldDelivery *self)
{
	g_return_val_if_fail(self != NULL, FALSE);
	return self->broadcast;
}

gboolean
herald_delivery_is_empty(HeraldDelivery *self)
{
	g_return_val_if_fail(self != NULL, TRUE);
	return self->rooms->len == 0 && self->users->len == 0 && self->filters->len == 0 &&
	       !self->broadcast;
}
