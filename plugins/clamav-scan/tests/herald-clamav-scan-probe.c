/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test-only plugin `clamav-scan-probe`: lets a test issue the bus scan request
 * (HERALD_BUS_REQUEST_SCAN) from outside heraldd, as files-minio does inside.
 *   POST /test/clamav-scan {"path": "/abs/file", "count": N}
 * sends N requests for the file at once and, when all are answered, replies
 *   {"handled": true, "results": [{"verdict","signature","reason"}…]}
 * in request order, or {"handled": false} when no plugin serves the topic.
 */
#include "config.h"

#include <herald.h>

#define HERALD_TYPE_CLAMAV_SCAN_PROBE (herald_clamav_scan_probe_get_type())
G_DECLARE_FINAL_TYPE(HeraldClamavScanProbe,
		     herald_clamav_scan_probe,
		     HERALD,
		     CLAMAV_SCAN_PROBE,
		     HeraldPlugin)

struct _HeraldClamavScanProbe {
	HeraldPlugin parent_instance;
};

G_DEFINE_FINAL_TYPE(HeraldClamavScanProbe, herald_clamav_scan_probe, HERALD_TYPE_PLUGIN)

typedef struct {
	SoupServerMessage *msg; /* (owned) */
	GPtrArray *results; /* (element-type GVariant) (owned) */
	guint pending;
} HeraldClamavScanProbeBatch;

static void
herald_clamav_scan_probe_variant_free(gpointer data)
{
	if (data != NULL)
		g_variant_unref(data);
}

static void
herald_clamav_scan_probe_batch_free(HeraldClamavScanProbeBatch *batch)
{
	g_object_unref(batch->msg);
	g_ptr_array_unref(batch->results);
	g_free(batch);
}

static void
herald_clamav_scan_probe_reply(HeraldClamavScanProbeBatch *batch)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "handled");
	json_builder_add_boolean_value(builder, TRUE);
	json_builder_set_member_name(builder, "results");
	json_builder_begin_array(builder);
	for (guint i = 0; i < batch->results->len; i++) {
		GVariant *result = g_ptr_array_index(batch->results, i);
		json_builder_add_value(builder, json_gvariant_serialize(result));
	}
	json_builder_end_array(builder);
	json_builder_end_object(builder);
	herald_http_reply_builder(batch->msg, 200, builder);
	soup_server_message_unpause(batch->msg);
	herald_clamav_scan_probe_batch_free(batch);
}

static void
herald_clamav_scan_probe_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldClamavScanProbeBatch *batch = user_data;
	g_autoptr(GError) error = NULL;
	GVariant *result = g_task_propagate_pointer(G_TASK(res), &error);
	guint index = GPOINTER_TO_UINT(g_task_get_source_tag(G_TASK(res)));

	/* the contract: a verdict, never a task error */
	if (result == NULL) {
		g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT(NULL);
		g_autofree gchar *text = g_strdup_printf("TASK ERROR: %s", error->message);
		g_variant_dict_insert(&dict, "verdict", "s", "task-error");
		g_variant_dict_insert(&dict, "reason", "s", text);
		result = g_variant_ref_sink(g_variant_dict_end(&dict));
	} else if (g_variant_is_floating(result) ||
		   !g_variant_is_of_type(result, G_VARIANT_TYPE_VARDICT)) {
		g_error("the scan result must be a non-floating a{sv}");
	}
	g_ptr_array_index(batch->results, index) = result;
	if (--batch->pending == 0)
		herald_clamav_scan_probe_reply(batch);
}

static void
herald_clamav_scan_probe_cb(SoupServerMessage *msg,
			    const gchar *subpath,
			    HeraldIdentity *identity,
			    gpointer user_data)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(user_data);
	HeraldBus *bus = herald_plugin_get_bus(plugin);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) root = herald_http_parse_json_body(msg, &error);
	HeraldClamavScanProbeBatch *batch;
	JsonObject *obj;
	const gchar *path;
	gint64 count;

	if (root == NULL) {
		herald_http_reply_error(msg, error);
		return;
	}
	obj = json_node_get_object(root);
	path = json_object_get_string_member_with_default(obj, "path", NULL);
	count = json_object_get_int_member_with_default(obj, "count", 1);
	if (path == NULL || count < 1 || count > 1000) {
		herald_http_reply_error_literal(
		    msg, HERALD_ERROR_INVALID_ARGUMENT, "need path and 1 <= count <= 1000");
		return;
	}
	batch = g_new0(HeraldClamavScanProbeBatch, 1);
	batch->msg = g_object_ref(msg);
	batch->results = g_ptr_array_new_with_free_func(herald_clamav_scan_probe_variant_free);
	g_ptr_array_set_size(batch->results, (guint)count);
	batch->pending = (guint)count;
	soup_server_message_pause(msg);
	for (guint i = 0; i < (guint)count; i++) {
		g_autoptr(GTask) task =
		    g_task_new(NULL, NULL, herald_clamav_scan_probe_done_cb, batch);
		g_task_set_source_tag(task, GUINT_TO_POINTER(i));
		g_task_set_task_data(task, g_strdup(path), g_free);
		if (!herald_bus_request(bus, HERALD_BUS_REQUEST_SCAN, task)) {
			g_autoptr(JsonBuilder) builder = json_builder_new();
			/* nobody serves it: only possible for all requests or none */
			g_assert_cmpuint(i, ==, 0);
			json_builder_begin_object(builder);
			json_builder_set_member_name(builder, "handled");
			json_builder_add_boolean_value(builder, FALSE);
			json_builder_end_object(builder);
			herald_http_reply_builder(msg, 200, builder);
			soup_server_message_unpause(msg);
			herald_clamav_scan_probe_batch_free(batch);
			return;
		}
	}
}

static gboolean
herald_clamav_scan_probe_startup(HeraldPlugin *plugin, GError **error)
{
	herald_host_add_http_route(herald_plugin_get_host(plugin),
				   plugin,
				   "POST",
				   "/test/clamav-scan",
				   HERALD_HTTP_ROUTE_NONE,
				   HERALD_HTTP_AUTH_NONE,
				   herald_clamav_scan_probe_cb,
				   plugin);
	return TRUE;
}

static void
herald_clamav_scan_probe_init(HeraldClamavScanProbe *self)
{
}

static void
herald_clamav_scan_probe_class_init(HeraldClamavScanProbeClass *klass)
{
	HERALD_PLUGIN_CLASS(klass)->startup = herald_clamav_scan_probe_startup;
}

/* the one symbol this module exports */
HERALD_PLUGIN_DEFINE_QUERY_TYPE(HERALD_TYPE_CLAMAV_SCAN_PROBE)
