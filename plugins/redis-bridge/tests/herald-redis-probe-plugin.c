/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test-only plugin `redis-probe`: a producer of the bus requests redis-bridge
 * serves (HERALD_BUS_REQUEST_PRESENCE, HERALD_BUS_REQUEST_REDIS), exactly as
 * notifier-whatsapp uses them, reachable over HTTP so that the end-to-end test
 * can drive them:
 *
 *   GET  /test/probe/presence/{user} → {"handled":B,"present":B} or
 * {"handled":true,"error":CODE,"message"} POST /test/probe/redis  {"argv":["CMD","arg",…]} →
 * {"handled":B,"result":JSON} or {"handled":true,"error","message"}
 */
#include "config.h"

#include <herald.h>

#define HERALD_TYPE_REDIS_PROBE_PLUGIN (herald_redis_probe_plugin_get_type())
G_DECLARE_FINAL_TYPE(HeraldRedisProbePlugin,
		     herald_redis_probe_plugin,
		     HERALD,
		     REDIS_PROBE_PLUGIN,
		     HeraldPlugin)

struct _HeraldRedisProbePlugin {
	HeraldPlugin parent_instance;
};

G_DEFINE_FINAL_TYPE(HeraldRedisProbePlugin, herald_redis_probe_plugin, HERALD_TYPE_PLUGIN)

static void
probe_reply(SoupServerMessage *msg, gboolean handled, JsonNode *result, const GError *error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "handled");
	json_builder_add_boolean_value(builder, handled);
	if (error != NULL) {
		json_builder_set_member_name(builder, "error");
		json_builder_add_string_value(builder,
					      error->domain == HERALD_ERROR
						  ? herald_error_to_code(error->code)
						  : "foreign");
		json_builder_set_member_name(builder, "message");
		json_builder_add_string_value(builder, error->message);
	} else if (result != NULL) {
		json_builder_set_member_name(builder, "result");
		json_builder_add_value(builder, json_node_copy(result));
	}
	json_builder_end_object(builder);
	herald_http_reply_builder(msg, 200, builder);
}

static void
probe_presence_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
	SoupServerMessage *msg = user_data;
	g_autoptr(GError) error = NULL;
	gboolean present = g_task_propagate_boolean(G_TASK(res), &error);
	g_autoptr(JsonNode) node = json_node_new(JSON_NODE_VALUE);
	json_node_set_boolean(node, present);
	probe_reply(msg, TRUE, error == NULL ? node : NULL, error);
	soup_server_message_unpause(msg);
	g_object_unref(msg);
}

static void
probe_presence_cb(SoupServerMessage *msg,
		  const gchar *subpath,
		  HeraldIdentity *identity,
		  gpointer user_data)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(user_data);
	GTask *task = g_task_new(plugin, NULL, probe_presence_done, g_object_ref(msg));
	g_task_set_task_data(task, g_uri_unescape_string(subpath, NULL), g_free);
	soup_server_message_pause(msg);
	if (!herald_bus_request(herald_plugin_get_bus(plugin), HERALD_BUS_REQUEST_PRESENCE, task)) {
		probe_reply(msg, FALSE, NULL, NULL);
		soup_server_message_unpause(msg);
		g_object_unref(msg);
	}
	g_object_unref(task);
}

static void
probe_redis_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
	SoupServerMessage *msg = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = g_task_propagate_pointer(G_TASK(res), &error);
	probe_reply(msg, TRUE, node, error);
	soup_server_message_unpause(msg);
	g_object_unref(msg);
}

static void
probe_redis_cb(SoupServerMessage *msg,
	       const gchar *subpath,
	       HeraldIdentity *identity,
	       gpointer user_data)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(user_data);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) root = herald_http_parse_json_body(msg, &error);
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
	GTask *task;
	JsonArray *array;

	if (root == NULL ||
	    !JSON_NODE_HOLDS_ARRAY(json_object_get_member(json_node_get_object(root), "argv"))) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_INVALID_ARGUMENT,
						"want {\"argv\":[…]}");
		return;
	}
	array = json_object_get_array_member(json_node_get_object(root), "argv");
	for (guint i = 0; i < json_array_get_length(array); i++)
		g_strv_builder_add(builder, json_array_get_string_element(array, i));
	task = g_task_new(plugin, NULL, probe_redis_done, g_object_ref(msg));
	g_task_set_task_data(task, g_strv_builder_end(builder), (GDestroyNotify)g_strfreev);
	soup_server_message_pause(msg);
	if (!herald_bus_request(herald_plugin_get_bus(plugin), HERALD_BUS_REQUEST_REDIS, task)) {
		probe_reply(msg, FALSE, NULL, NULL);
		soup_server_message_unpause(msg);
		g_object_unref(msg);
	}
	g_object_unref(task);
}

static gboolean
herald_redis_probe_plugin_startup(HeraldPlugin *plugin, GError **error)
{
	HeraldHost *host = herald_plugin_get_host(plugin);
	herald_host_add_http_route(host,
				   plugin,
				   "GET",
				   "/test/probe/presence/",
				   HERALD_HTTP_ROUTE_PREFIX,
				   HERALD_HTTP_AUTH_NONE,
				   probe_presence_cb,
				   plugin);
	herald_host_add_http_route(host,
				   plugin,
				   "POST",
				   "/test/probe/redis",
				   HERALD_HTTP_ROUTE_NONE,
				   HERALD_HTTP_AUTH_NONE,
				   probe_redis_cb,
				   plugin);
	return TRUE;
}

static void
herald_redis_probe_plugin_init(HeraldRedisProbePlugin *self)
{
}

static void
herald_redis_probe_plugin_class_init(HeraldRedisProbePluginClass *klass)
{
	HERALD_PLUGIN_CLASS(klass)->startup = herald_redis_probe_plugin_startup;
}

/* the one symbol this module exports */
HERALD_PLUGIN_DEFINE_QUERY_TYPE(HERALD_TYPE_REDIS_PROBE_PLUGIN)
