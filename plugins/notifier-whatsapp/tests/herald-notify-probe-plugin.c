/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test-only plugin `notify-probe`: `POST /test/notify` (service token) hands its
 * JSON body to the bus request `notify`, as another plugin (files-minio on a
 * rejected upload) would, and answers 202 {"id"} or the error it got back.
 */
#include "config.h"

#include <herald.h>

#define HERALD_TYPE_NOTIFY_PROBE_PLUGIN (herald_notify_probe_plugin_get_type())
G_DECLARE_FINAL_TYPE(HeraldNotifyProbePlugin,
		     herald_notify_probe_plugin,
		     HERALD,
		     NOTIFY_PROBE_PLUGIN,
		     HeraldPlugin)

struct _HeraldNotifyProbePlugin {
	HeraldPlugin parent_instance;
};

G_DEFINE_FINAL_TYPE(HeraldNotifyProbePlugin, herald_notify_probe_plugin, HERALD_TYPE_PLUGIN)

static void
herald_notify_probe_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	SoupServerMessage *msg = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *id = g_task_propagate_pointer(G_TASK(res), &error);

	if (id == NULL) {
		herald_http_reply_error(msg, error);
	} else {
		g_autoptr(JsonBuilder) builder = json_builder_new();
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "id");
		json_builder_add_string_value(builder, id);
		json_builder_end_object(builder);
		herald_http_reply_builder(msg, SOUP_STATUS_ACCEPTED, builder);
	}
	soup_server_message_unpause(msg);
	g_object_unref(msg);
}

static void
herald_notify_probe_http_cb(SoupServerMessage *msg,
			    const gchar *subpath,
			    HeraldIdentity *identity,
			    gpointer user_data)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(user_data);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) body = herald_http_parse_json_body(msg, &error);
	g_autoptr(GTask) task = NULL;

	if (body == NULL) {
		herald_http_reply_error(msg, error);
		return;
	}
	soup_server_message_pause(msg);
	task = g_task_new(plugin, NULL, herald_notify_probe_done_cb, g_object_ref(msg));
	g_task_set_task_data(task,
			     json_object_ref(json_node_get_object(body)),
			     (GDestroyNotify)json_object_unref);
	if (!herald_bus_request(herald_plugin_get_bus(plugin), HERALD_BUS_REQUEST_NOTIFY, task))
		g_task_return_new_error(task,
					HERALD_ERROR,
					HERALD_ERROR_UNAVAILABLE,
					"nobody serves notify requests");
}

static gboolean
herald_notify_probe_plugin_startup(HeraldPlugin *plugin, GError **error)
{
	herald_host_add_http_route(herald_plugin_get_host(plugin),
				   plugin,
				   "POST",
				   "/test/notify",
				   HERALD_HTTP_ROUTE_NONE,
				   HERALD_HTTP_AUTH_SERVICE,
				   herald_notify_probe_http_cb,
				   plugin);
	return TRUE;
}

static void
herald_notify_probe_plugin_init(HeraldNotifyProbePlugin *self)
{
	herald_plugin_add_rule(HERALD_PLUGIN(self), HERALD_PLUGIN_RULE_RUN_AFTER, "notifier-whatsapp");
}

static void
herald_notify_probe_plugin_class_init(HeraldNotifyProbePluginClass *klass)
{
	HERALD_PLUGIN_CLASS(klass)->startup = herald_notify_probe_plugin_startup;
}

/* the one symbol this module exports */
HERALD_PLUGIN_DEFINE_QUERY_TYPE(HERALD_TYPE_NOTIFY_PROBE_PLUGIN)
