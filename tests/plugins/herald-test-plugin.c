/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A test-only plugin that exercises every vfunc and the bus, so host tests need
 * no real plugin. Built several times under different names (test-a, test-b…),
 * each with its own GType name (HERALD_TEST_TYPE_NAME). Behaviour comes from its
 * config group:
 *   fail-startup=true        startup returns an error
 *   degrade=REASON           startup sets state degraded with REASON
 *   run-after=NAME           ordering rule; conflicts=NAME likewise
 *   fail-reload=true         reload returns an error
 *   shutdown-delay-ms=N      shutdown completes after N ms (ignores cancellation
 *                            when hang-shutdown=true)
 *   connections=N            answer count-connections with N
 * It serves GET /test/<name> → {"name","calls":[…],"events":N,"deliveries":N,
 * "option":VALUE} and counts bus events of topic `outbound` and its own name.
 */
#include "config.h"

#include <herald.h>

typedef struct {
	HeraldPlugin parent_instance;
	GPtrArray *calls; /* (element-type utf8) vfuncs called, in order */
	guint64 events;
	guint64 deliveries;
	guint64 outbound;
	gchar *path;
	gulong deliver_id;
	gulong count_id;
	gulong event_id;
	gulong event_own_id;
} HeraldTestPlugin;

typedef struct {
	HeraldPluginClass parent_class;
} HeraldTestPluginClass;

static gpointer herald_test_plugin_parent_class = NULL;

static const HeraldConfigKey test_keys[] = {
    {"fail-startup", HERALD_CONFIG_BOOLEAN, "false", 0, 0, NULL, 0, "fail in startup"},
    {"fail-reload", HERALD_CONFIG_BOOLEAN, "false", 0, 0, NULL, 0, "fail in reload"},
    {"hang-shutdown", HERALD_CONFIG_BOOLEAN, "false", 0, 0, NULL, 0, "never finish shutdown"},
    {"degrade", HERALD_CONFIG_STRING, NULL, 0, 0, NULL, 0, "degrade with this reason"},
    {"run-after", HERALD_CONFIG_STRING, NULL, 0, 0, NULL, 0, "ordering rule"},
    {"conflicts", HERALD_CONFIG_STRING, NULL, 0, 0, NULL, 0, "conflict rule"},
    {"requires", HERALD_CONFIG_STRING, NULL, 0, 0, NULL, 0, "requires rule"},
    {"shutdown-delay-ms", HERALD_CONFIG_UINT, "0", 0, 60000, NULL, 0, "shutdown delay"},
    {"connections", HERALD_CONFIG_UINT, "0", 0, 1000000, NULL, 0, "connections to report"},
    {"option", HERALD_CONFIG_STRING, "default", 0, 0, NULL, 0, "a value shown over HTTP"},
    {"level", HERALD_CONFIG_ENUM, "low", 0, 0, "low;high", 0, "an enum"},
    {"token", HERALD_CONFIG_SECRET, NULL, 0, 0, NULL, 0, "a secret"},
};

static void
herald_test_plugin_call(HeraldTestPlugin *self, const gchar *name)
{
	g_ptr_array_add(self->calls, g_strdup(name));
}

static guint
herald_test_plugin_deliver_cb(HeraldBus *bus, HeraldDelivery *delivery, gpointer user_data)
{
	HeraldTestPlugin *self = user_data;
	self->deliveries++;
	return 0;
}

static guint
herald_test_plugin_count_cb(HeraldBus *bus, const gchar *user_id, gpointer user_data)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(user_data);
	return (guint)herald_plugin_get_config_uint64(plugin, "connections");
}

static void
herald_test_plugin_event_cb(HeraldBus *bus, HeraldEvent *event, gpointer user_data)
{
	HeraldTestPlugin *self = user_data;
	self->outbound++;
}

static void
herald_test_plugin_event_own_cb(HeraldBus *bus, HeraldEvent *event, gpointer user_data)
{
	HeraldTestPlugin *self = user_data;
	self->events++;
}

static void
herald_test_plugin_http_cb(SoupServerMessage *msg,
			   const gchar *subpath,
			   HeraldIdentity *identity,
			   gpointer user_data)
{
	HeraldTestPlugin *self = user_data;
	HeraldPlugin *plugin = HERALD_PLUGIN(self);
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(GError) error = NULL;
	g_autofree gchar *token = herald_plugin_get_config_secret(plugin, "token", &error);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "name");
	json_builder_add_string_value(builder, herald_plugin_get_name(plugin));
	json_builder_set_member_name(builder, "calls");
	json_builder_begin_array(builder);
	for (guint i = 0; i < self->calls->len; i++)
		json_builder_add_string_value(builder, g_ptr_array_index(self->calls, i));
	json_builder_end_array(builder);
	json_builder_set_member_name(builder, "events");
	json_builder_add_int_value(builder, (gint64)self->events);
	json_builder_set_member_name(builder, "outbound");
	json_builder_add_int_value(builder, (gint64)self->outbound);
	json_builder_set_member_name(builder, "deliveries");
	json_builder_add_int_value(builder, (gint64)self->deliveries);
	json_builder_set_member_name(builder, "option");
	json_builder_add_string_value(builder, herald_plugin_get_config_string(plugin, "option"));
	json_builder_set_member_name(builder, "token_length");
	json_builder_add_int_value(builder, token != NULL ? (gint64)strlen(token) : -1);
	json_builder_end_object(builder);
	herald_http_reply_builder(msg, 200, builder);
}

static gboolean
herald_test_plugin_startup(HeraldPlugin *plugin, GError **error)
{
	HeraldTestPlugin *self = (HeraldTestPlugin *)plugin;
	HeraldBus *bus = herald_plugin_get_bus(plugin);
	const gchar *degrade = herald_plugin_get_config_string(plugin, "degrade");
	g_autofree gchar *detail = g_strdup_printf("event::%s", herald_plugin_get_name(plugin));

	herald_test_plugin_call(self, "startup");
	if (herald_plugin_get_config_boolean(plugin, "fail-startup")) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNAVAILABLE,
				    "test plugin told to fail");
		return FALSE;
	}
	self->deliver_id =
	    g_signal_connect(bus, "deliver", G_CALLBACK(herald_test_plugin_deliver_cb), self);
	self->count_id = g_signal_connect(bus,
					  "count-connections",
					  G_CALLBACK(herald_test_plugin_count_cb),
					  self);
	self->event_id = g_signal_connect(bus,
					  "event::" HERALD_BUS_TOPIC_OUTBOUND,
					  G_CALLBACK(herald_test_plugin_event_cb),
					  self);
	self->event_own_id =
	    g_signal_connect(bus, detail, G_CALLBACK(herald_test_plugin_event_own_cb), self);
	self->path = g_strdup_printf("/test/%s", herald_plugin_get_name(plugin));
	herald_host_add_http_route(herald_plugin_get_host(plugin),
				   plugin,
				   "GET",
				   self->path,
				   HERALD_HTTP_ROUTE_NONE,
				   HERALD_HTTP_AUTH_NONE,
				   herald_test_plugin_http_cb,
				   self);
	if (degrade != NULL && degrade[0] != '\0')
		herald_plugin_set_state(plugin, HERALD_PLUGIN_STATE_DEGRADED, degrade);
	return TRUE;
}

static void
herald_test_plugin_ready(HeraldPlugin *plugin)
{
	herald_test_plugin_call((HeraldTestPlugin *)plugin, "ready");
}

static gboolean
herald_test_plugin_reload(HeraldPlugin *plugin, GError **error)
{
	herald_test_plugin_call((HeraldTestPlugin *)plugin, "reload");
	if (herald_plugin_get_config_boolean(plugin, "fail-reload")) {
		g_set_error_literal(error, HERALD_ERROR, HERALD_ERROR_FAILED, "told to fail reload");
		return FALSE;
	}
	return TRUE;
}

static gboolean
herald_test_plugin_shutdown_timeout_cb(gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	g_task_return_boolean(task, TRUE);
	return G_SOURCE_REMOVE;
}

static void
herald_test_plugin_shutdown_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
	/* nothing: the delay timeout finishes the task */
}

static void
herald_test_plugin_shutdown_async(HeraldPlugin *plugin,
				  GCancellable *cancellable,
				  GAsyncReadyCallback callback,
				  gpointer user_data)
{
	HeraldTestPlugin *self = (HeraldTestPlugin *)plugin;
	HeraldBus *bus = herald_plugin_get_bus(plugin);
	GTask *task = g_task_new(plugin, cancellable, callback, user_data);
	guint64 delay = herald_plugin_get_config_uint64(plugin, "shutdown-delay-ms");

	herald_test_plugin_call(self, "shutdown");
	g_clear_signal_handler(&self->deliver_id, bus);
	g_clear_signal_handler(&self->count_id, bus);
	g_clear_signal_handler(&self->event_id, bus);
	g_clear_signal_handler(&self->event_own_id, bus);
	herald_host_remove_http_routes(herald_plugin_get_host(plugin), plugin);
	if (herald_plugin_get_config_boolean(plugin, "hang-shutdown")) {
		/* a broken plugin: the host's timeout must still end the daemon */
		g_cancellable_connect(cancellable,
				      G_CALLBACK(herald_test_plugin_shutdown_cancelled_cb),
				      NULL,
				      NULL);
		g_object_set_data_full(G_OBJECT(plugin), "hung-task", task, g_object_unref);
		return;
	}
	g_timeout_add((guint)delay, herald_test_plugin_shutdown_timeout_cb, task);
}

static gboolean
herald_test_plugin_shutdown_finish(HeraldPlugin *plugin, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

static void
herald_test_plugin_add_stats(HeraldPlugin *plugin, GVariantDict *dict)
{
	HeraldTestPlugin *self = (HeraldTestPlugin *)plugin;
	g_auto(GVariantDict) by_kind = G_VARIANT_DICT_INIT(NULL);
	g_variant_dict_insert(dict, "calls", "u", self->calls->len);
	g_variant_dict_insert(dict, "events_total", "t", self->events);
	g_variant_dict_insert(dict, "deliveries_seen_total", "t", self->deliveries);
	g_variant_dict_insert(&by_kind, "outbound", "t", self->outbound);
	g_variant_dict_insert(&by_kind, "own", "t", self->events);
	g_variant_dict_insert_value(dict, "events_by_kind", g_variant_dict_end(&by_kind));
}

static void
herald_test_plugin_constructed(GObject *object)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(object);
	const gchar *name = herald_plugin_get_name(plugin);
	HeraldConfig *config = herald_plugin_get_config(plugin);
	G_OBJECT_CLASS(herald_test_plugin_parent_class)->constructed(object);

	/* rules must exist before the host depsolves; the host config is loaded */
	if (config != NULL) {
		const gchar *after = herald_config_get_string(config, name, "run-after");
		const gchar *conflicts = herald_config_get_string(config, name, "conflicts");
		const gchar *requires = herald_config_get_string(config, name, "requires");
		if (after != NULL && after[0] != '\0')
			herald_plugin_add_rule(plugin, HERALD_PLUGIN_RULE_RUN_AFTER, after);
		if (conflicts != NULL && conflicts[0] != '\0')
			herald_plugin_add_rule(plugin, HERALD_PLUGIN_RULE_CONFLICTS, conflicts);
		if (requires != NULL && requires[0] != '\0')
			herald_plugin_add_rule(plugin, HERALD_PLUGIN_RULE_REQUIRES, requires);
	}
}

static void
herald_test_plugin_finalize(GObject *object)
{
	HeraldTestPlugin *self = (HeraldTestPlugin *)object;
	g_ptr_array_unref(self->calls);
	g_free(self->path);
	G_OBJECT_CLASS(herald_test_plugin_parent_class)->finalize(object);
}

static void
herald_test_plugin_init(GTypeInstance *instance, gpointer klass)
{
	HeraldTestPlugin *self = (HeraldTestPlugin *)instance;
	self->calls = g_ptr_array_new_with_free_func(g_free);
	herald_plugin_add_config_keys(HERALD_PLUGIN(self), test_keys, G_N_ELEMENTS(test_keys));
	herald_plugin_add_config_group(HERALD_PLUGIN(self),
				       "map",
				       HERALD_CONFIG_LIST,
				       "free group of lists");
}

static void
herald_test_plugin_class_init(gpointer klass, gpointer class_data)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	HeraldPluginClass *plugin_class = (HeraldPluginClass *)klass;
	herald_test_plugin_parent_class = g_type_class_peek_parent(klass);
	object_class->constructed = herald_test_plugin_constructed;
	object_class->finalize = herald_test_plugin_finalize;
	plugin_class->startup = herald_test_plugin_startup;
	plugin_class->ready = herald_test_plugin_ready;
	plugin_class->reload = herald_test_plugin_reload;
	plugin_class->shutdown_async = herald_test_plugin_shutdown_async;
	plugin_class->shutdown_finish = herald_test_plugin_shutdown_finish;
	plugin_class->add_stats = herald_test_plugin_add_stats;
}

G_MODULE_EXPORT GType
herald_plugin_query_type(void);

G_MODULE_EXPORT GType
herald_plugin_query_type(void)
{
#ifdef HERALD_TEST_NOT_A_PLUGIN
	(void)herald_test_plugin_class_init;
	(void)herald_test_plugin_init;
	return G_TYPE_OBJECT;
#else
	static GType type = 0;
	if (type == 0) {
		type = g_type_register_static_simple(HERALD_TYPE_PLUGIN,
						     HERALD_TEST_TYPE_NAME,
						     sizeof(HeraldTestPluginClass),
						     herald_test_plugin_class_init,
						     sizeof(HeraldTestPlugin),
						     herald_test_plugin_init,
						     0);
	}
	return type;
#endif
}
