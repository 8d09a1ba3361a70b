/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <herald.h>
#include <string.h>

#include "herald-notifier-whatsapp-provider.h"

void
herald_notify_result_clear(HeraldNotifyResult *result)
{
	g_clear_pointer(&result->provider_id, g_free);
	g_clear_pointer(&result->reason, g_free);
}

/* rate limits and transient provider errors (reference/whatsapp-cloud-api.md) */
gboolean
herald_notify_cloud_code_is_retryable(gint64 code)
{
	switch (code) {
	case 4:	      /* app API call rate limit */
	case 80007:   /* WABA rate limit */
	case 130429:  /* throughput reached */
	case 131056:  /* (business, consumer) pair rate limit */
	case 131000:  /* unknown error */
	case 131016:  /* service unavailable */
	case 133016:  /* registration throttled */
		return TRUE;
	default:
		return FALSE;
	}
}

/* provider texts may quote numbers: runs of 6+ digits become "…" and the text is cut */
gchar *
herald_notify_scrub_digits(const gchar *text, gsize max_len)
{
	GString *out = g_string_new(NULL);
	for (const gchar *p = text; *p != '\0' && out->len < max_len;) {
		gsize run = 0;
		while (g_ascii_isdigit(p[run]))
			run++;
		if (run >= 6) {
			g_string_append(out, "…");
			p += run;
			continue;
		}
		if (run > 0) {
			g_string_append_len(out, p, run);
			p += run;
			continue;
		}
		if ((guchar)*p < 0x20)
			g_string_append_c(out, ' ');
		else
			g_string_append_c(out, *p);
		p++;
	}
	/* never cut inside a UTF-8 sequence */
	while (out->len > 0 && !g_utf8_validate(out->str, out->len, NULL))
		g_string_truncate(out, out->len - 1);
	return g_string_free(out, FALSE);
}

static JsonNode *
herald_notify_parse_bytes(GBytes *body)
{
	gsize len = 0;
	const gchar *data;
	if (body == NULL)
		return NULL;
	data = g_bytes_get_data(body, &len);
	if (len == 0 || !g_utf8_validate(data, len, NULL))
		return NULL;
	/* the provider's reply is outside data: a nested one is "not JSON" */
	return herald_json_parse(data, (gssize)len, NULL);
}

static void
herald_notify_set_transport(HeraldNotifyResult *result, const GError *error)
{
	result->outcome = HERALD_NOTIFY_OUTCOME_RETRY;
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
		result->reason = g_strdup("request timed out");
	else
		result->reason = g_strdup_printf("request failed: %s", error->message);
}

void
herald_notify_classify_cloud(guint http_status,
			     const GError *transport_error,
			     GBytes *body,
			     HeraldNotifyResult *result)
{
	g_autoptr(JsonNode) root = NULL;
	JsonObject *obj = NULL;

	memset(result, 0, sizeof(*result));
	result->http_status = http_status;
	if (transport_error != NULL) {
		herald_notify_set_transport(result, transport_error);
		return;
	}
	root = herald_notify_parse_bytes(body);
	if (root != NULL && JSON_NODE_HOLDS_OBJECT(root))
		obj = json_node_get_object(root);

	if (http_status >= 200 && http_status < 300) {
		JsonArray *messages = NULL;
		JsonObject *first = NULL;
		const gchar *id = NULL;
		if (obj != NULL && json_object_has_member(obj, "messages") &&
		    JSON_NODE_HOLDS_ARRAY(json_object_get_member(obj, "messages")))
			messages = json_object_get_array_member(obj, "messages");
		if (messages != NULL && json_array_get_length(messages) > 0 &&
		    JSON_NODE_HOLDS_OBJECT(json_array_get_element(messages, 0)))
			first = json_array_get_object_element(messages, 0);
		if (first != NULL && json_object_has_member(first, "id") &&
		    JSON_NODE_HOLDS_VALUE(json_object_get_member(first, "id")) &&
		    json_node_get_value_type(json_object_get_member(first, "id")) == G_TYPE_STRING)
			id = json_object_get_string_member(first, "id");
		if (id == NULL || id[0] == '\0') {
			/* we cannot tell whether it went out: try again (at-least-once) */
			result->outcome = HERALD_NOTIFY_OUTCOME_RETRY;
			result->reason =
			    g_strdup_printf("provider answered HTTP %u without a message id",
					    http_status);
			return;
		}
		result->outcome = HERALD_NOTIFY_OUTCOME_SENT;
		result->provider_id = g_strdup(id);
		return;
	}

	/* the Graph API error envelope: branch on error.code, not on the status */
	if (obj != NULL && json_object_has_member(obj, "error") &&
	    JSON_NODE_HOLDS_OBJECT(json_object_get_member(obj, "error"))) {
		JsonObject *err = json_object_get_object_member(obj, "error");
		JsonNode *code = json_object_get_member(err, "code");
		JsonNode *message = json_object_get_member(err, "message");
		if (code != NULL && JSON_NODE_HOLDS_VALUE(code) &&
		    json_node_get_value_type(code) == G_TYPE_INT64)
			result->error_code = json_node_get_int(code);
		if (message != NULL && JSON_NODE_HOLDS_VALUE(message) &&
		    json_node_get_value_type(message) == G_TYPE_STRING)
			result->reason = herald_notify_scrub_digits(json_node_get_string(message), 200);
	}
	if (result->reason == NULL) {
		result->reason = result->error_code != 0 || obj != NULL
				     ? g_strdup_printf("provider answered HTTP %u", http_status)
				     : g_strdup_printf("provider answered HTTP %u with a body that "
						       "is not the Graph API error envelope",
						       http_status);
	}
	if (result->error_code == 131047) {
		result->outcome = HERALD_NOTIFY_OUTCOME_TEMPLATE;
		return;
	}
	if (herald_notify_cloud_code_is_retryable(result->error_code) || http_status >= 500 ||
	    http_status == 429 || http_status == 408) {
		result->outcome = HERALD_NOTIFY_OUTCOME_RETRY;
		return;
	}
	result->outcome = HERALD_NOTIFY_OUTCOME_FAIL;
}

void
herald_notify_classify_webhook(guint http_status,
			       const GError *transport_error,
			       GBytes *body,
			       HeraldNotifyResult *result)
{
	memset(result, 0, sizeof(*result));
	result->http_status = http_status;
	if (transport_error != NULL) {
		herald_notify_set_transport(result, transport_error);
		return;
	}
	if (http_status >= 200 && http_status < 300) {
		g_autoptr(JsonNode) root = herald_notify_parse_bytes(body);
		result->outcome = HERALD_NOTIFY_OUTCOME_SENT;
		if (root != NULL && JSON_NODE_HOLDS_OBJECT(root)) {
			JsonObject *obj = json_node_get_object(root);
			JsonNode *id = json_object_get_member(obj, "id");
			if (id != NULL && JSON_NODE_HOLDS_VALUE(id) &&
			    json_node_get_value_type(id) == G_TYPE_STRING)
				result->provider_id = herald_notify_scrub_digits(json_node_get_string(id), 128);
		}
		return;
	}
	result->reason = g_strdup_printf("webhook answered HTTP %u", http_status);
	if (http_status >= 500 || http_status == 429 || http_status == 408)
		result->outcome = HERALD_NOTIFY_OUTCOME_RETRY;
	else
		result->outcome = HERALD_NOTIFY_OUTCOME_FAIL;
}

static void
herald_notify_add_param(JsonBuilder *builder, const gchar *text)
{
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "type");
	json_builder_add_string_value(builder, "text");
	json_builder_set_member_name(builder, "text");
	json_builder_add_string_value(builder, text);
	json_builder_end_object(builder);
}

/* body parameters: data.template_params (strings or numbers) when given, else title, message */
static void
herald_notify_add_params(JsonBuilder *builder, HeraldNotifyRecord *record)
{
	JsonObject *data = json_node_get_object(record->data);
	JsonNode *params = json_object_get_member(data, "template_params");
	if (params != NULL && JSON_NODE_HOLDS_ARRAY(params)) {
		JsonArray *array = json_node_get_array(params);
		for (guint i = 0; i < json_array_get_length(array); i++) {
			JsonNode *node = json_array_get_element(array, i);
			g_autofree gchar *text = NULL;
			if (!JSON_NODE_HOLDS_VALUE(node))
				continue;
			if (json_node_get_value_type(node) == G_TYPE_STRING)
				text = g_strdup(json_node_get_string(node));
			else if (json_node_get_value_type(node) == G_TYPE_INT64)
				text = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
			else if (json_node_get_value_type(node) == G_TYPE_DOUBLE)
				text = g_strdup_printf("%g", json_node_get_double(node));
			if (text != NULL)
				herald_notify_add_param(builder, text);
		}
		return;
	}
	herald_notify_add_param(builder, record->title);
	herald_notify_add_param(builder, record->message);
}

gchar *
herald_notify_build_cloud_body(HeraldNotifyRecord *record,
			       const gchar *phone,
			       const gchar *template_name,
			       const gchar *template_language)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "messaging_product");
	json_builder_add_string_value(builder, "whatsapp");
	json_builder_set_member_name(builder, "recipient_type");
	json_builder_add_string_value(builder, "individual");
	json_builder_set_member_name(builder, "to");
	/* the wa_id form: digits only */
	json_builder_add_string_value(builder, phone[0] == '+' ? phone + 1 : phone);
	if (template_name != NULL) {
		json_builder_set_member_name(builder, "type");
		json_builder_add_string_value(builder, "template");
		json_builder_set_member_name(builder, "template");
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "name");
		json_builder_add_string_value(builder, template_name);
		json_builder_set_member_name(builder, "language");
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "policy");
		json_builder_add_string_value(builder, "deterministic");
		json_builder_set_member_name(builder, "code");
		json_builder_add_string_value(builder, template_language);
		json_builder_end_object(builder);
		json_builder_set_member_name(builder, "components");
		json_builder_begin_array(builder);
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "type");
		json_builder_add_string_value(builder, "body");
		json_builder_set_member_name(builder, "parameters");
		json_builder_begin_array(builder);
		herald_notify_add_params(builder, record);
		json_builder_end_array(builder);
		json_builder_end_object(builder);
		json_builder_end_array(builder);
		json_builder_end_object(builder);
	} else {
		g_autofree gchar *text = g_strdup_printf("*%s*\n%s", record->title, record->message);
		json_builder_set_member_name(builder, "type");
		json_builder_add_string_value(builder, "text");
		json_builder_set_member_name(builder, "text");
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "preview_url");
		json_builder_add_boolean_value(builder, FALSE);
		json_builder_set_member_name(builder, "body");
		json_builder_add_string_value(builder, text);
		json_builder_end_object(builder);
	}
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	return herald_json_to_string(root);
}

gchar *
herald_notify_build_webhook_body(HeraldNotifyRecord *record, const gchar *phone)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *created = herald_notify_format_time(record->created_at);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "id");
	json_builder_add_string_value(builder, record->id);
	json_builder_set_member_name(builder, "user_id");
	json_builder_add_string_value(builder, record->user_id);
	json_builder_set_member_name(builder, "phone");
	json_builder_add_string_value(builder, phone);
	json_builder_set_member_name(builder, "type");
	json_builder_add_string_value(builder, record->type);
	if (record->original_type != NULL) {
		json_builder_set_member_name(builder, "original_type");
		json_builder_add_string_value(builder, record->original_type);
	}
	json_builder_set_member_name(builder, "priority");
	json_builder_add_string_value(builder, herald_notify_priority_to_string(record->priority));
	json_builder_set_member_name(builder, "title");
	json_builder_add_string_value(builder, record->title);
	json_builder_set_member_name(builder, "message");
	json_builder_add_string_value(builder, record->message);
	json_builder_set_member_name(builder, "data");
	json_builder_add_value(builder, json_node_copy(record->data));
	json_builder_set_member_name(builder, "created_at");
	json_builder_add_string_value(builder, created);
	json_builder_set_member_name(builder, "attempt");
	json_builder_add_int_value(builder, record->attempts + 1);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	return herald_json_to_string(root);
}

gint64
herald_notify_backoff_us(guint attempts, guint64 base_s, guint64 cap_s)
{
	gdouble delay = (gdouble)base_s;
	gdouble half;
	for (guint i = 1; i < attempts && delay < (gdouble)cap_s; i++)
		delay *= 2;
	if (delay > (gdouble)cap_s)
		delay = (gdouble)cap_s;
	half = delay / 2;
	return (gint64)((half + g_random_double() * half) * G_USEC_PER_SEC);
}
