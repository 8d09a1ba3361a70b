/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <hiredis/hiredis.h>

#include "herald-redis-bridge-proto.h"

#define HERALD_REDIS_DEFAULT_PORT 6379
#define HERALD_REDIS_MAX_DB 65535

void
herald_redis_url_free(HeraldRedisUrl *url)
{
	if (url == NULL)
		return;
	g_free(url->host);
	g_free(url->path);
	g_free(url->username);
	if (url->password != NULL)
		memset(url->password, 0, strlen(url->password));
	g_free(url->password);
	g_free(url);
}

static gboolean
herald_redis_url_parse_db(const gchar *text, const gchar *value, guint *db, GError **error)
{
	guint64 n = 0;
	if (value == NULL || value[0] == '\0') {
		*db = 0;
		return TRUE;
	}
	if (!g_ascii_string_to_unsigned(value, 10, 0, HERALD_REDIS_MAX_DB, &n, NULL)) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: config error; %s is a Redis URL without its password */
			    _("invalid Redis URL '%s': the database must be a number from 0 to "
			      "65535"),
			    text);
		return FALSE;
	}
	*db = (guint)n;
	return TRUE;
}

/**
 * herald_redis_url_parse:
 * @text: `redis://[[user]:password@]host[:port][/db]` or `unix:/path[?db=N]`
 *
 * Returns: (transfer full): the parsed URL, or %NULL with %HERALD_ERROR_CONFIG
 */
HeraldRedisUrl *
herald_redis_url_parse(const gchar *text, GError **error)
{
	g_autoptr(HeraldRedisUrl) url = g_new0(HeraldRedisUrl, 1);
	g_autofree gchar *shown = NULL;
	g_autoptr(GUri) uri = NULL;
	g_autoptr(GError) error_local = NULL;
	const gchar *path;

	g_return_val_if_fail(text != NULL, NULL);
	/* the URL as shown in messages: never with its password */
	shown = herald_uri_redact(text);
	if (g_str_has_prefix(text, "unix:")) {
		const gchar *rest = text + 5;
		const gchar *query = strchr(rest, '?');
		g_autofree gchar *sock = query != NULL ? g_strndup(rest, query - rest)
						       : g_strdup(rest);
		if (!g_path_is_absolute(sock)) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: config error; %s is a Redis URL */
				    _("invalid Redis URL '%s': unix: needs an absolute path"),
				    shown);
			return NULL;
		}
		if (query != NULL) {
			if (!g_str_has_prefix(query, "?db=")) {
				g_set_error(error,
					    HERALD_ERROR,
					    HERALD_ERROR_CONFIG,
					    /* TRANSLATORS: config error; %s is a Redis URL */
					    _("invalid Redis URL '%s': the only option is ?db=N"),
					    shown);
				return NULL;
			}
			if (!herald_redis_url_parse_db(shown, query + 4, &url->db, error))
				return NULL;
		}
		url->path = g_steal_pointer(&sock);
		return g_steal_pointer(&url);
	}
	if (!g_str_has_prefix(text, "redis://")) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: config error; %s is a Redis URL */
			    _("invalid Redis URL '%s': use redis://[:password@]host:port/db or "
			      "unix:/path"),
			    shown);
		return NULL;
	}
	uri = g_uri_parse(text, G_URI_FLAGS_HAS_PASSWORD | G_URI_FLAGS_NON_DNS, &error_local);
	if (uri == NULL || g_uri_get_host(uri) == NULL || g_uri_get_host(uri)[0] == '\0' ||
	    g_uri_get_query(uri) != NULL || g_uri_get_fragment(uri) != NULL) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: config error; %s is a Redis URL */
			    _("invalid Redis URL '%s': use redis://[:password@]host:port/db or "
			      "unix:/path"),
			    shown);
		return NULL;
	}
	url->host = g_strdup(g_uri_get_host(uri));
	url->port = g_uri_get_port(uri) > 0 ? (guint16)g_uri_get_port(uri)
					    : HERALD_REDIS_DEFAULT_PORT;
	if (g_uri_get_user(uri) != NULL && g_uri_get_user(uri)[0] != '\0')
		url->username = g_strdup(g_uri_get_user(uri));
	if (g_uri_get_password(uri) != NULL && g_uri_get_password(uri)[0] != '\0')
		url->password = g_strdup(g_uri_get_password(uri));
	path = g_uri_get_path(uri);
	if (path[0] == '/')
		path++;
	if (!herald_redis_url_parse_db(shown, path, &url->db, error))
		return NULL;
	return g_steal_pointer(&url);
}

/* for logs and state reasons: no password */
gchar *
herald_redis_url_describe(const HeraldRedisUrl *url)
{
	if (url->path != NULL)
		return g_strdup_printf("unix:%s", url->path);
	if (strchr(url->host, ':') != NULL)
		return g_strdup_printf("[%s]:%u", url->host, url->port);
	return g_strdup_printf("%s:%u", url->host, url->port);
}

gchar *
herald_redis_envelope_build(HeraldEvent *event)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();
	g_autoptr(JsonNode) root = NULL;
	const gchar *type = herald_event_get_type_name(event);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, HERALD_REDIS_ENVELOPE_MEMBER);
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "v");
	json_builder_add_int_value(builder, 1);
	json_builder_set_member_name(builder, "id");
	json_builder_add_string_value(builder, herald_event_get_id(event));
	json_builder_set_member_name(builder, "origin");
	json_builder_add_string_value(builder, herald_event_get_origin(event));
	json_builder_set_member_name(builder, "ts");
	json_builder_add_int_value(builder, herald_event_get_timestamp(event));
	if (type != NULL) {
		json_builder_set_member_name(builder, "type");
		json_builder_add_string_value(builder, type);
	}
	json_builder_end_object(builder);
	json_builder_set_member_name(builder, "payload");
	json_builder_add_value(builder, json_node_ref(herald_event_get_payload(event)));
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	return herald_json_to_string(root);
}

static const gchar *
herald_redis_object_get_string(JsonObject *obj, const gchar *name)
{
	JsonNode *node = json_object_get_member(obj, name);
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

HeraldRedisMessageKind
herald_redis_message_parse(const gchar *channel, const gchar *data, gsize len, HeraldEvent **event)
{
	g_autoptr(JsonNode) root = NULL;
	JsonObject *obj;
	JsonNode *meta_node;
	JsonObject *meta;
	JsonNode *payload;
	const gchar *id;
	const gchar *origin;
	const gchar *type;
	gint64 ts = 0;

	*event = NULL;
	if (len == 0 || !g_utf8_validate(data, (gssize)len, NULL))
		return HERALD_REDIS_MESSAGE_INVALID_JSON;
	/* through the depth gate: one deep message must not overflow the stack of
	 * every instance subscribed to the channel */
	root = herald_json_parse(data, (gssize)len, NULL);
	if (root == NULL) {
		if (!herald_json_check(data, len, herald_json_get_max_depth(), NULL))
			return HERALD_REDIS_MESSAGE_TOO_DEEP;
		return HERALD_REDIS_MESSAGE_INVALID_JSON;
	}
	if (!JSON_NODE_HOLDS_OBJECT(root))
		return HERALD_REDIS_MESSAGE_NOT_OBJECT;
	obj = json_node_get_object(root);
	meta_node = json_object_get_member(obj, HERALD_REDIS_ENVELOPE_MEMBER);
	if (meta_node == NULL) {
		*event = herald_event_new(NULL, channel, root, "redis");
		return HERALD_REDIS_MESSAGE_RAW;
	}
	if (!JSON_NODE_HOLDS_OBJECT(meta_node))
		return HERALD_REDIS_MESSAGE_BAD_ENVELOPE;
	meta = json_node_get_object(meta_node);
	id = herald_redis_object_get_string(meta, "id");
	origin = herald_redis_object_get_string(meta, "origin");
	type = herald_redis_object_get_string(meta, "type");
	payload = json_object_get_member(obj, "payload");
	if (id == NULL || id[0] == '\0' || origin == NULL || origin[0] == '\0' || payload == NULL)
		return HERALD_REDIS_MESSAGE_BAD_ENVELOPE;
	if (json_object_has_member(meta, "ts")) {
		JsonNode *ts_node = json_object_get_member(meta, "ts");
		if (JSON_NODE_HOLDS_VALUE(ts_node) &&
		    json_node_get_value_type(ts_node) == G_TYPE_INT64)
			ts = json_node_get_int(ts_node);
	}
	*event = herald_event_new_full(id, type, channel, payload, ts, origin);
	return HERALD_REDIS_MESSAGE_ENVELOPE;
}

JsonNode *
herald_redis_reply_to_json(gpointer reply_ptr, GError **error)
{
	redisReply *reply = reply_ptr;
	JsonNode *node;

	switch (reply->type) {
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS: {
		/* JSON strings must be UTF-8; binary values are not part of the contract */
		g_autofree gchar *text = g_utf8_make_valid(reply->str, (gssize)reply->len);
		node = json_node_new(JSON_NODE_VALUE);
		json_node_set_string(node, text);
		return node;
	}
	case REDIS_REPLY_INTEGER:
		node = json_node_new(JSON_NODE_VALUE);
		json_node_set_int(node, reply->integer);
		return node;
	case REDIS_REPLY_NIL:
		return json_node_new(JSON_NODE_NULL);
	case REDIS_REPLY_ARRAY: {
		g_autoptr(JsonArray) array = json_array_sized_new((guint)reply->elements);
		for (gsize i = 0; i < reply->elements; i++) {
			JsonNode *child = herald_redis_reply_to_json(reply->element[i], error);
			if (child == NULL)
				return NULL;
			json_array_add_element(array, child);
		}
		node = json_node_new(JSON_NODE_ARRAY);
		json_node_set_array(node, array);
		return node;
	}
	case REDIS_REPLY_ERROR:
	default:
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_FAILED,
			    "redis: %.*s",
			    (gint)reply->len,
			    reply->str != NULL ? reply->str : "error");
		return NULL;
	}
}

guint
herald_redis_backoff_ms(guint attempt, guint min_ms, guint max_ms, GRand *rand)
{
	guint64 delay = MAX(min_ms, 1);
	for (guint i = 0; i < attempt && delay < max_ms; i++)
		delay *= 2;
	delay = MIN(delay, max_ms);
	/* full jitter in the upper half: instances that lost Redis together do not
	 * reconnect in lockstep, and no attempt comes sooner than half the step */
	return (guint)(delay / 2 + (guint64)g_rand_int_range(rand, 0, (gint32)(delay / 2 + 1)));
}

struct _HeraldRedisSeen {
	guint capacity;
	GHashTable *set; /* id → GList link in order */
	GQueue order;	 /* (element-type utf8) oldest first */
};

HeraldRedisSeen *
herald_redis_seen_new(guint capacity)
{
	HeraldRedisSeen *seen = g_new0(HeraldRedisSeen, 1);
	seen->capacity = MAX(capacity, 1);
	seen->set = g_hash_table_new(g_str_hash, g_str_equal);
	g_queue_init(&seen->order);
	return seen;
}

void
herald_redis_seen_free(HeraldRedisSeen *seen)
{
	if (seen == NULL)
		return;
	g_hash_table_unref(seen->set);
	g_queue_clear_full(&seen->order, g_free);
	g_free(seen);
}

/* %TRUE when @id was seen before (a duplicate); otherwise remembers it */
gboolean
herald_redis_seen_check_and_add(HeraldRedisSeen *seen, const gchar *id)
{
	gchar *copy;
	if (g_hash_table_contains(seen->set, id))
		return TRUE;
	if (seen->order.length >= seen->capacity) {
		gchar *oldest = g_queue_pop_head(&seen->order);
		g_hash_table_remove(seen->set, oldest);
		g_free(oldest);
	}
	copy = g_strdup(id);
	g_queue_push_tail(&seen->order, copy);
	g_hash_table_add(seen->set, copy);
	return FALSE;
}
