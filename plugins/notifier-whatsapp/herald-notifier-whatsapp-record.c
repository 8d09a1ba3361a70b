/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <herald.h>
#include <string.h>

#include "herald-notifier-whatsapp-record.h"

static const gchar *priority_names[] = {"low", "normal", "high", "urgent"};
static const gchar *status_names[] = {"accepted",
				      "pending",
				      "sending",
				      "held",
				      "delivered",
				      "sent",
				      "failed",
				      "dead",
				      "expired"};
/* the seed's notification types (DESIGN §5) */
static const gchar *known_types[] = {"solicitud_nueva",
				     "oferta_resultado",
				     "evaluacion_completada",
				     "general",
				     NULL};

const gchar *
herald_notify_priority_to_string(HeraldNotifyPriority priority)
{
	if (priority >= HERALD_NOTIFY_PRIORITY_LAST)
		return "normal";
	return priority_names[priority];
}

gboolean
herald_notify_priority_from_string(const gchar *text, HeraldNotifyPriority *out)
{
	for (guint i = 0; i < HERALD_NOTIFY_PRIORITY_LAST; i++) {
		if (g_strcmp0(text, priority_names[i]) == 0) {
			*out = i;
			return TRUE;
		}
	}
	return FALSE;
}

const gchar *
herald_notify_status_to_string(HeraldNotifyStatus status)
{
	if (status >= HERALD_NOTIFY_STATUS_LAST)
		return "pending";
	return status_names[status];
}

HeraldNotifyStatus
herald_notify_status_from_string(const gchar *text)
{
	for (guint i = 0; i < HERALD_NOTIFY_STATUS_LAST; i++) {
		if (g_strcmp0(text, status_names[i]) == 0)
			return i;
	}
	return HERALD_NOTIFY_STATUS_PENDING;
}

gboolean
herald_notify_status_is_final(HeraldNotifyStatus status)
{
	return status == HERALD_NOTIFY_STATUS_DELIVERED || status == HERALD_NOTIFY_STATUS_SENT ||
	       status == HERALD_NOTIFY_STATUS_FAILED || status == HERALD_NOTIFY_STATUS_DEAD ||
	       status == HERALD_NOTIFY_STATUS_EXPIRED;
}

gboolean
herald_notify_type_is_known(const gchar *type)
{
	return g_strv_contains(known_types, type);
}

/* E.164: '+', a non-zero country digit, 8 to 15 digits in all */
gboolean
herald_notify_phone_is_valid(const gchar *phone)
{
	gsize n = 0;
	if (phone == NULL || phone[0] != '+' || phone[1] < '1' || phone[1] > '9')
		return FALSE;
	for (const gchar *p = phone + 1; *p != '\0'; p++) {
		if (!g_ascii_isdigit(*p))
			return FALSE;
		n++;
	}
	return n >= 8 && n <= 15;
}

gchar *
herald_notify_format_time(gint64 us)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(us / G_USEC_PER_SEC);
	g_autofree gchar *base = NULL;
	if (dt == NULL)
		return g_strdup("");
	base = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S");
	return g_strdup_printf("%s.%03dZ", base, (gint)((us % G_USEC_PER_SEC) / 1000));
}

static gboolean
herald_notify_name_is_valid(const gchar *text, gsize max)
{
	gsize len = strlen(text);
	if (len == 0 || len > max)
		return FALSE;
	for (const gchar *p = text; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-' && *p != '.')
			return FALSE;
	}
	return TRUE;
}

/* a member that must be a string when present; NULL without error when absent */
static const gchar *
herald_notify_get_string(JsonObject *obj, const gchar *name, gboolean required, GError **error)
{
	JsonNode *node = json_object_get_member(obj, name);
	if (node == NULL || JSON_NODE_HOLDS_NULL(node)) {
		if (required) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400; %s is a JSON field name */
				    _("missing field '%s'"),
				    name);
		}
		return NULL;
	}
	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_INVALID_ARGUMENT,
			    /* TRANSLATORS: HTTP 400; %s is a JSON field name */
			    _("field '%s' must be a string"),
			    name);
		return NULL;
	}
	return json_node_get_string(node);
}

static gboolean
herald_notify_check_text(const gchar *name, const gchar *text, gsize max, GError **error)
{
	if (text[0] == '\0') {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_INVALID_ARGUMENT,
			    /* TRANSLATORS: HTTP 400; %s is a JSON field name */
			    _("field '%s' must not be empty"),
			    name);
		return FALSE;
	}
	if (strlen(text) > max) {
		g_autofree gchar *limit = g_strdup_printf("%" G_GSIZE_FORMAT, max);
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_TOO_LARGE,
			    /* TRANSLATORS: HTTP 413; a JSON field name, then a number of bytes */
			    _("field '%s' is longer than %s bytes"),
			    name,
			    limit);
		return FALSE;
	}
	return TRUE;
}

/* the members a notification request may have: Herald's own, seed 002's
 * `{userId, type, payload, timestamp}`, seed 004's `notification_type` */
static const gchar *const herald_notify_request_fields[] = {
    "user_id", "title", "message", "type", "data", "priority", "phone", "language",
    "userId", "payload", "timestamp", "notification_type", NULL};

/* @request with seed 002's and seed 004's names mapped to Herald's: `userId`
 * is `user_id`, `payload` is `data` (its `title` and `message`, when strings,
 * fill missing ones; else the type does), `notification_type` is `type`,
 * `timestamp` is ignored (the notification gets its own). Any other member is
 * refused by name: a field the caller thinks does something must not be
 * dropped silently. */
static JsonObject *
herald_notify_normalize_request(JsonObject *request, GError **error)
{
	g_autoptr(JsonObject) out = json_object_new();
	g_autoptr(GList) members = json_object_get_members(request);
	static const gchar *const aliases[][2] = {
	    {"userId", "user_id"}, {"payload", "data"}, {"notification_type", "type"}};
	JsonNode *payload;

	for (GList *l = members; l != NULL; l = l->next) {
		const gchar *name = l->data;
		if (g_strcmp0(name, "webhook_url") == 0) {
			g_set_error_literal(
			    error,
			    HERALD_ERROR,
			    HERALD_ERROR_INVALID_ARGUMENT,
			    /* TRANSLATORS: HTTP 400; webhook_url is a JSON field name */
			    _("field 'webhook_url': webhooks per notification are not available"));
			return NULL;
		}
		if (!g_strv_contains(herald_notify_request_fields, name)) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400; %s is a JSON field name */
				    _("unknown field '%s'"),
				    name);
			return NULL;
		}
	}
	for (GList *l = members; l != NULL; l = l->next) {
		const gchar *name = l->data;
		const gchar *target = name;
		if (g_strcmp0(name, "timestamp") == 0)
			continue;
		for (guint i = 0; i < G_N_ELEMENTS(aliases); i++) {
			if (g_strcmp0(name, aliases[i][0]) == 0)
				target = aliases[i][1];
		}
		if (target != name && json_object_has_member(request, target)) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400; two JSON field names that mean the same */
				    _("fields '%s' and '%s' mean the same: send one"),
				    name,
				    target);
			return NULL;
		}
		json_object_set_member(out, target, json_node_copy(json_object_get_member(request, name)));
	}
	/* seed 002 has no title nor message: the payload's, else the type */
	payload = json_object_get_member(request, "payload");
	if (payload != NULL) {
		JsonObject *obj = JSON_NODE_HOLDS_OBJECT(payload) ? json_node_get_object(payload) : NULL;
		const gchar *fill[] = {"title", "message"};
		JsonNode *type = json_object_get_member(out, "type");
		for (guint i = 0; i < G_N_ELEMENTS(fill); i++) {
			JsonNode *value = obj != NULL ? json_object_get_member(obj, fill[i]) : NULL;
			if (json_object_has_member(out, fill[i]))
				continue;
			if (value != NULL && JSON_NODE_HOLDS_VALUE(value) &&
			    json_node_get_value_type(value) == G_TYPE_STRING)
				json_object_set_member(out, fill[i], json_node_copy(value));
			else if (type != NULL && JSON_NODE_HOLDS_VALUE(type) &&
				 json_node_get_value_type(type) == G_TYPE_STRING)
				json_object_set_member(out, fill[i], json_node_copy(type));
		}
	}
	return g_steal_pointer(&out);
}

/* the body of POST /api/notifications/send, or of a `notify` bus request */
HeraldNotifyRecord *
herald_notify_record_new_from_request(JsonObject *original,
				      const HeraldNotifyLimits *limits,
				      GError **error)
{
	g_autoptr(HeraldNotifyRecord) self = g_new0(HeraldNotifyRecord, 1);
	g_autoptr(JsonObject) request = herald_notify_normalize_request(original, error);
	JsonNode *user_node;
	JsonNode *data_node;
	const gchar *title;
	const gchar *message;
	const gchar *type;
	const gchar *priority;
	const gchar *phone;
	const gchar *language;
	g_autofree gchar *room = NULL;

	if (request == NULL)
		return NULL;
	user_node = json_object_get_member(request, "user_id");
	data_node = json_object_get_member(request, "data");
	/* user_id: a string, or an integer as core APIs often send */
	if (user_node == NULL || JSON_NODE_HOLDS_NULL(user_node)) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_INVALID_ARGUMENT,
			    /* TRANSLATORS: HTTP 400; %s is a JSON field name */
			    _("missing field '%s'"),
			    json_object_has_member(original, "payload") ? "userId" : "user_id");
		return NULL;
	}
	if (JSON_NODE_HOLDS_VALUE(user_node) && json_node_get_value_type(user_node) == G_TYPE_INT64)
		self->user_id = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(user_node));
	else if (JSON_NODE_HOLDS_VALUE(user_node) &&
		 json_node_get_value_type(user_node) == G_TYPE_STRING)
		self->user_id = g_strdup(json_node_get_string(user_node));
	if (self->user_id == NULL) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400 */
				    _("field 'user_id' must be a string or an integer"));
		return NULL;
	}
	room = herald_room_for_user(self->user_id);
	if (self->user_id[0] == '\0' || !herald_room_name_is_valid(room)) {
		g_set_error_literal(
		    error,
		    HERALD_ERROR,
		    HERALD_ERROR_INVALID_ARGUMENT,
		    /* TRANSLATORS: HTTP 400 */
		    _("field 'user_id' must be 1 to 123 characters of A-Z a-z 0-9 _ . : @ -"));
		return NULL;
	}

	title = herald_notify_get_string(request, "title", TRUE, error);
	if (title == NULL || !herald_notify_check_text("title", title, limits->max_title_bytes, error))
		return NULL;
	message = herald_notify_get_string(request, "message", TRUE, error);
	if (message == NULL ||
	    !herald_notify_check_text("message", message, limits->max_message_bytes, error))
		return NULL;

	type = herald_notify_get_string(request, "type", FALSE, error);
	if (type == NULL && error != NULL && *error != NULL)
		return NULL;
	if (type == NULL)
		type = "general";
	if (!herald_notify_name_is_valid(type, 64)) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400 */
				    _("field 'type' must be 1 to 64 characters of A-Z a-z 0-9 _ . -"));
		return NULL;
	}
	if (herald_notify_type_is_known(type)) {
		self->type = g_strdup(type);
	} else {
		/* unknown types are delivered as `general`; the caller's type is kept */
		self->type = g_strdup("general");
		self->original_type = g_strdup(type);
	}

	priority = herald_notify_get_string(request, "priority", FALSE, error);
	if (priority == NULL && error != NULL && *error != NULL)
		return NULL;
	self->priority = HERALD_NOTIFY_PRIORITY_NORMAL;
	if (priority != NULL && !herald_notify_priority_from_string(priority, &self->priority)) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_INVALID_ARGUMENT,
			    /* TRANSLATORS: HTTP 400; %s is the value the caller sent */
			    _("unknown priority '%s': use low, normal, high or urgent"),
			    priority);
		return NULL;
	}

	phone = herald_notify_get_string(request, "phone", FALSE, error);
	if (phone == NULL && error != NULL && *error != NULL)
		return NULL;
	if (phone != NULL && phone[0] != '\0') {
		if (!herald_notify_phone_is_valid(phone)) {
			g_set_error_literal(
			    error,
			    HERALD_ERROR,
			    HERALD_ERROR_INVALID_ARGUMENT,
			    /* TRANSLATORS: HTTP 400 */
			    _("field 'phone' must be an E.164 number such as +5215512345678"));
			return NULL;
		}
		self->phone = g_strdup(phone);
	}

	language = herald_notify_get_string(request, "language", FALSE, error);
	if (language == NULL && error != NULL && *error != NULL)
		return NULL;
	if (language != NULL) {
		if (!herald_notify_name_is_valid(language, 16)) {
			g_set_error_literal(error,
					    HERALD_ERROR,
					    HERALD_ERROR_INVALID_ARGUMENT,
					    /* TRANSLATORS: HTTP 400 */
					    _("field 'language' must be a language code such as es_MX"));
			return NULL;
		}
		self->language = g_strdup(language);
	}

	if (data_node == NULL || JSON_NODE_HOLDS_NULL(data_node)) {
		self->data = json_node_init_object(json_node_alloc(), json_object_new());
		json_object_unref(json_node_get_object(self->data));
	} else if (JSON_NODE_HOLDS_OBJECT(data_node)) {
		g_autofree gchar *text = herald_json_to_string(data_node);
		if (strlen(text) > limits->max_data_bytes) {
			g_autofree gchar *limit =
			    g_strdup_printf("%" G_GSIZE_FORMAT, limits->max_data_bytes);
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_TOO_LARGE,
				    /* TRANSLATORS: HTTP 413; a JSON field name, then a number of bytes */
				    _("field '%s' is longer than %s bytes"),
				    "data",
				    limit);
			return NULL;
		}
		self->data = json_node_copy(data_node);
	} else {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400 */
				    _("field 'data' must be a JSON object"));
		return NULL;
	}

	self->title = g_strdup(title);
	self->message = g_strdup(message);
	self->id = g_uuid_string_random();
	self->created_at = g_get_real_time();
	self->updated_at = self->created_at;
	self->status = HERALD_NOTIFY_STATUS_ACCEPTED;
	self->history = json_array_new();
	return g_steal_pointer(&self);
}

static const gchar *
herald_notify_obj_string(JsonObject *obj, const gchar *name)
{
	JsonNode *node = json_object_get_member(obj, name);
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

static gint64
herald_notify_obj_int(JsonObject *obj, const gchar *name)
{
	JsonNode *node = json_object_get_member(obj, name);
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_INT64)
		return 0;
	return json_node_get_int(node);
}

/* a record as the store wrote it */
HeraldNotifyRecord *
herald_notify_record_new_from_json(JsonObject *obj, GError **error)
{
	g_autoptr(HeraldNotifyRecord) self = g_new0(HeraldNotifyRecord, 1);
	JsonNode *data = json_object_get_member(obj, "data");
	JsonNode *history = json_object_get_member(obj, "history");
	const gchar *id = herald_notify_obj_string(obj, "id");
	const gchar *user_id = herald_notify_obj_string(obj, "user_id");
	const gchar *title = herald_notify_obj_string(obj, "title");
	const gchar *message = herald_notify_obj_string(obj, "message");
	const gchar *type = herald_notify_obj_string(obj, "type");

	if (id == NULL || user_id == NULL || title == NULL || message == NULL || type == NULL) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    "stored notification lacks id, user_id, title, message or type");
		return NULL;
	}
	self->id = g_strdup(id);
	self->user_id = g_strdup(user_id);
	self->title = g_strdup(title);
	self->message = g_strdup(message);
	self->type = g_strdup(type);
	self->original_type = g_strdup(herald_notify_obj_string(obj, "original_type"));
	self->language = g_strdup(herald_notify_obj_string(obj, "language"));
	self->phone = g_strdup(herald_notify_obj_string(obj, "phone"));
	self->reason = g_strdup(herald_notify_obj_string(obj, "reason"));
	if (!herald_notify_priority_from_string(herald_notify_obj_string(obj, "priority"),
						&self->priority))
		self->priority = HERALD_NOTIFY_PRIORITY_NORMAL;
	self->status = herald_notify_status_from_string(herald_notify_obj_string(obj, "status"));
	self->created_at = herald_notify_obj_int(obj, "created_us");
	self->updated_at = herald_notify_obj_int(obj, "updated_us");
	self->next_attempt_at = herald_notify_obj_int(obj, "next_attempt_us");
	self->expires_at = herald_notify_obj_int(obj, "expires_us");
	self->attempts = (guint)herald_notify_obj_int(obj, "attempts");
	self->use_template = json_object_get_boolean_member_with_default(obj, "use_template", FALSE);
	self->ws_delivered = json_object_get_boolean_member_with_default(obj, "ws_delivered", FALSE);
	if (data != NULL && JSON_NODE_HOLDS_OBJECT(data)) {
		self->data = json_node_copy(data);
	} else {
		self->data = json_node_init_object(json_node_alloc(), json_object_new());
		json_object_unref(json_node_get_object(self->data));
	}
	/* a copy: what the parser gave is sealed, and attempts are appended */
	self->history = json_array_new();
	if (history != NULL && JSON_NODE_HOLDS_ARRAY(history)) {
		JsonArray *array = json_node_get_array(history);
		for (guint i = 0; i < json_array_get_length(array); i++)
			json_array_add_element(self->history,
					       json_node_copy(json_array_get_element(array, i)));
	}
	return g_steal_pointer(&self);
}

static void
herald_notify_add_time(JsonBuilder *builder, const gchar *name, gint64 us)
{
	g_autofree gchar *text = NULL;
	if (us <= 0)
		return;
	text = herald_notify_format_time(us);
	json_builder_set_member_name(builder, name);
	json_builder_add_string_value(builder, text);
}

static void
herald_notify_add_string(JsonBuilder *builder, const gchar *name, const gchar *value)
{
	if (value == NULL)
		return;
	json_builder_set_member_name(builder, name);
	json_builder_add_string_value(builder, value);
}

/* @for_store: everything, with µs times (the phone too); else what
 * GET /api/notifications/{id} shows (no phone number) */
JsonNode *
herald_notify_record_to_json(HeraldNotifyRecord *self, gboolean for_store)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	JsonNode *history = json_node_alloc();

	json_builder_begin_object(builder);
	herald_notify_add_string(builder, "id", self->id);
	herald_notify_add_string(builder, "user_id", self->user_id);
	herald_notify_add_string(builder, "type", self->type);
	herald_notify_add_string(builder, "original_type", self->original_type);
	herald_notify_add_string(builder, "priority",
				 herald_notify_priority_to_string(self->priority));
	herald_notify_add_string(builder, "status", herald_notify_status_to_string(self->status));
	herald_notify_add_string(builder, "reason", self->reason);
	herald_notify_add_string(builder, "title", self->title);
	herald_notify_add_string(builder, "message", self->message);
	herald_notify_add_string(builder, "language", self->language);
	json_builder_set_member_name(builder, "data");
	json_builder_add_value(builder, json_node_copy(self->data));
	json_builder_set_member_name(builder, "attempts");
	json_builder_add_int_value(builder, self->attempts);
	json_builder_set_member_name(builder, "websocket_delivered");
	json_builder_add_boolean_value(builder, self->ws_delivered);
	if (for_store) {
		herald_notify_add_string(builder, "phone", self->phone);
		json_builder_set_member_name(builder, "created_us");
		json_builder_add_int_value(builder, self->created_at);
		json_builder_set_member_name(builder, "updated_us");
		json_builder_add_int_value(builder, self->updated_at);
		json_builder_set_member_name(builder, "next_attempt_us");
		json_builder_add_int_value(builder, self->next_attempt_at);
		json_builder_set_member_name(builder, "expires_us");
		json_builder_add_int_value(builder, self->expires_at);
		json_builder_set_member_name(builder, "use_template");
		json_builder_add_boolean_value(builder, self->use_template);
		json_builder_set_member_name(builder, "ws_delivered");
		json_builder_add_boolean_value(builder, self->ws_delivered);
	} else {
		herald_notify_add_time(builder, "created_at", self->created_at);
		herald_notify_add_time(builder, "updated_at", self->updated_at);
		if (self->status == HERALD_NOTIFY_STATUS_PENDING)
			herald_notify_add_time(builder, "next_attempt_at", self->next_attempt_at);
		if (self->status == HERALD_NOTIFY_STATUS_HELD)
			herald_notify_add_time(builder, "expires_at", self->expires_at);
	}
	json_node_init_array(history, self->history);
	json_builder_set_member_name(builder, "history");
	json_builder_add_value(builder, history);
	json_builder_end_object(builder);
	return json_builder_get_root(builder);
}

void
herald_notify_record_set_status(HeraldNotifyRecord *self,
				HeraldNotifyStatus status,
				const gchar *reason)
{
	self->status = status;
	g_free(self->reason);
	self->reason = g_strdup(reason);
	self->updated_at = g_get_real_time();
}

/* the returned object belongs to the history; the caller adds details */
JsonObject *
herald_notify_record_add_attempt(HeraldNotifyRecord *self,
				 const gchar *channel,
				 const gchar *result)
{
	JsonObject *obj = json_object_new();
	g_autofree gchar *at = herald_notify_format_time(g_get_real_time());
	json_object_set_string_member(obj, "at", at);
	json_object_set_string_member(obj, "channel", channel);
	json_object_set_string_member(obj, "result", result);
	json_array_add_object_element(self->history, obj);
	return obj;
}

/* what a WebSocket client gets as the event payload; no `type` member, so
 * ws-rooms wraps it (`{"type":"notificacion_…","room","payload","timestamp"}`) */
JsonNode *
herald_notify_record_ws_payload(HeraldNotifyRecord *self)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	json_builder_begin_object(builder);
	herald_notify_add_string(builder, "id", self->id);
	herald_notify_add_string(builder, "user_id", self->user_id);
	herald_notify_add_string(builder, "notification_type", self->type);
	herald_notify_add_string(builder, "original_type", self->original_type);
	herald_notify_add_string(builder, "title", self->title);
	herald_notify_add_string(builder, "message", self->message);
	herald_notify_add_string(builder, "priority",
				 herald_notify_priority_to_string(self->priority));
	json_builder_set_member_name(builder, "data");
	json_builder_add_value(builder, json_node_copy(self->data));
	herald_notify_add_time(builder, "created_at", self->created_at);
	json_builder_end_object(builder);
	return json_builder_get_root(builder);
}

/* `notificacion_<type>` with the caller's own type, also a custom one, '.'
 * made '_' as the `notificacion.*` route does on the other instances */
gchar *
herald_notify_record_event_name(HeraldNotifyRecord *self)
{
	gchar *name = g_strdup_printf("notificacion_%s",
				      self->original_type != NULL ? self->original_type : self->type);
	return g_strdelimit(name, ".", '_');
}

void
herald_notify_record_free(HeraldNotifyRecord *self)
{
	if (self == NULL)
		return;
	g_free(self->id);
	g_free(self->user_id);
	g_free(self->title);
	g_free(self->message);
	g_free(self->type);
	g_free(self->original_type);
	g_free(self->language);
	g_free(self->phone);
	g_free(self->resolved_phone);
	g_free(self->reason);
	g_clear_pointer(&self->data, json_node_unref);
	g_clear_pointer(&self->history, json_array_unref);
	g_free(self);
}
