/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "herald-dbus-generated.h"
#include "herald-dbus.h"
#include "herald-error.h"
#include "herald-plugin-private.h"

#define HERALD_DBUS_NAME	"org.herald.Host1"
#define HERALD_DBUS_PATH	"/org/herald/Host1"
#define HERALD_DBUS_PLUGIN_PATH "/org/herald/Host1/Plugins"

struct _HeraldDbus {
	GObject parent_instance;
	HeraldHost *host;			/* (not owned): the host owns us */
	GDBusConnection *connection;		/* (owned) (nullable) */
	HeraldDBusHost1 *skeleton;		/* (owned) */
	GDBusObjectManagerServer *manager;	/* (owned) (nullable) */
	GHashTable *plugin_skeletons;		/* name → HeraldDBusHost1Plugin (owned) */
	guint owner_id;
	guint refresh_id;
};

G_DEFINE_FINAL_TYPE(HeraldDbus, herald_dbus, G_TYPE_OBJECT)

static gchar *
herald_dbus_plugin_path(const gchar *name)
{
	g_autofree gchar *escaped = g_strdup(name);
	g_strdelimit(escaped, "-.", '_');
	return g_strdup_printf(HERALD_DBUS_PLUGIN_PATH "/%s", escaped);
}

static HeraldPlugin *
herald_dbus_find_plugin(HeraldDbus *self, const gchar *name)
{
	GPtrArray *plugins = herald_host_get_plugins(self->host);
	for (guint i = 0; i < plugins->len; i++) {
		HeraldPlugin *plugin = g_ptr_array_index(plugins, i);
		if (g_strcmp0(herald_plugin_get_name(plugin), name) == 0)
			return plugin;
	}
	return NULL;
}

static void
herald_dbus_update_plugin(HeraldDbus *self, HeraldPlugin *plugin)
{
	HeraldDBusHost1Plugin *iface =
	    g_hash_table_lookup(self->plugin_skeletons, herald_plugin_get_name(plugin));
	const gchar *reason = herald_plugin_get_state_reason(plugin);
	if (iface == NULL)
		return;
	herald_dbus_host1_plugin_set_state(iface, herald_plugin_get_state(plugin));
	herald_dbus_host1_plugin_set_error(iface, reason != NULL ? reason : "");
}

/* values that change all the time are refreshed at most once a second, which
 * also bounds PropertiesChanged to one per second */
void
herald_dbus_refresh(HeraldDbus *self)
{
	herald_dbus_host1_set_state(self->skeleton, herald_host_get_state(self->host));
	herald_dbus_host1_set_uptime(self->skeleton, herald_host_get_uptime(self->host));
	herald_dbus_host1_set_connections(self->skeleton, herald_host_get_connections(self->host));
}

static gboolean
herald_dbus_refresh_cb(gpointer user_data)
{
	herald_dbus_refresh(HERALD_DBUS(user_data));
	return G_SOURCE_CONTINUE;
}

static void
herald_dbus_plugin_state_changed_cb(HeraldHost *host, HeraldPlugin *plugin, gpointer user_data)
{
	HeraldDbus *self = HERALD_DBUS(user_data);
	const gchar *reason = herald_plugin_get_state_reason(plugin);
	herald_dbus_update_plugin(self, plugin);
	herald_dbus_host1_emit_plugin_state_changed(self->skeleton,
						    herald_plugin_get_name(plugin),
						    herald_plugin_get_state(plugin),
						    reason != NULL ? reason : "");
}

static gboolean
herald_dbus_handle_get_stats(HeraldDBusHost1 *skeleton,
			     GDBusMethodInvocation *invocation,
			     gpointer user_data)
{
	HeraldDbus *self = HERALD_DBUS(user_data);
	herald_dbus_host1_complete_get_stats(skeleton, invocation, herald_host_get_stats(self->host));
	return TRUE;
}

static gboolean
herald_dbus_handle_reload(HeraldDBusHost1 *skeleton,
			  GDBusMethodInvocation *invocation,
			  gpointer user_data)
{
	HeraldDbus *self = HERALD_DBUS(user_data);
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) needs_restart = NULL;

	if (!herald_host_reload(self->host, &needs_restart, &error)) {
		g_warning("reload over D-Bus failed: %s", error->message);
		g_dbus_method_invocation_return_gerror(invocation, error);
		return TRUE;
	}
	herald_dbus_host1_complete_reload(skeleton,
					  invocation,
					  (const gchar *const *)needs_restart);
	return TRUE;
}

static gboolean
herald_dbus_handle_plugin_get_stats(HeraldDBusHost1Plugin *iface,
				    GDBusMethodInvocation *invocation,
				    gpointer user_data)
{
	HeraldDbus *self = HERALD_DBUS(user_data);
	HeraldPlugin *plugin =
	    herald_dbus_find_plugin(self, herald_dbus_host1_plugin_get_name(iface));
	GVariant *stats;
	if (plugin == NULL) {
		g_dbus_method_invocation_return_error_literal(invocation,
							      HERALD_ERROR,
							      HERALD_ERROR_NOT_FOUND,
							      "plugin is gone");
		return TRUE;
	}
	stats = herald_plugin_runner_get_stats(plugin);
	herald_dbus_host1_plugin_complete_get_stats(iface, invocation, stats);
	return TRUE;
}

static void
herald_dbus_export(HeraldDbus *self, GDBusConnection *connection)
{
	GPtrArray *plugins = herald_host_get_plugins(self->host);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new();

	for (guint i = 0; i < plugins->len; i++)
		g_ptr_array_add(names, (gpointer)herald_plugin_get_name(g_ptr_array_index(plugins, i)));
	g_ptr_array_add(names, NULL);
	herald_dbus_host1_set_version(self->skeleton, PACKAGE_VERSION);
	herald_dbus_host1_set_instance_id(self->skeleton, herald_host_get_instance_id(self->host));
	herald_dbus_host1_set_plugins(self->skeleton, (const gchar *const *)names->pdata);
	herald_dbus_refresh(self);
	if (!g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(self->skeleton),
					      connection,
					      HERALD_DBUS_PATH,
					      &error)) {
		g_warning("cannot export %s: %s", HERALD_DBUS_PATH, error->message);
		return;
	}

	self->manager = g_dbus_object_manager_server_new(HERALD_DBUS_PATH);
	for (guint i = 0; i < plugins->len; i++) {
		HeraldPlugin *plugin = g_ptr_array_index(plugins, i);
		g_autofree gchar *path = herald_dbus_plugin_path(herald_plugin_get_name(plugin));
		g_autoptr(HeraldDBusObjectSkeleton) object = herald_dbus_object_skeleton_new(path);
		HeraldDBusHost1Plugin *iface = herald_dbus_host1_plugin_skeleton_new();
		herald_dbus_host1_plugin_set_name(iface, herald_plugin_get_name(plugin));
		g_signal_connect(iface,
				 "handle-get-stats",
				 G_CALLBACK(herald_dbus_handle_plugin_get_stats),
				 self);
		herald_dbus_object_skeleton_set_host1_plugin(object, iface);
		g_hash_table_insert(self->plugin_skeletons,
				    g_strdup(herald_plugin_get_name(plugin)),
				    iface);
		herald_dbus_update_plugin(self, plugin);
		g_dbus_object_manager_server_export(self->manager, G_DBUS_OBJECT_SKELETON(object));
	}
	g_dbus_object_manager_server_set_connection(self->manager, connection);
}

static void
herald_dbus_bus_acquired_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	HeraldDbus *self = HERALD_DBUS(user_data);
	g_set_object(&self->connection, connection);
	herald_dbus_export(self, connection);
}

static void
herald_dbus_name_acquired_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	g_info("acquired D-Bus name %s", name);
}

static void
herald_dbus_name_lost_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	if (connection == NULL)
		g_warning("no D-Bus connection: monitoring over D-Bus is unavailable");
	else
		g_warning("could not own D-Bus name %s (another heraldd, or policy): "
			  "monitoring over D-Bus is unavailable",
			  name);
}

void
herald_dbus_start(HeraldDbus *self, GBusType bus_type)
{
	g_return_if_fail(HERALD_IS_DBUS(self));
	self->owner_id = g_bus_own_name(bus_type,
					HERALD_DBUS_NAME,
					G_BUS_NAME_OWNER_FLAGS_NONE,
					herald_dbus_bus_acquired_cb,
					herald_dbus_name_acquired_cb,
					herald_dbus_name_lost_cb,
					self,
					NULL);
	self->refresh_id = g_timeout_add_seconds(1, herald_dbus_refresh_cb, self);
}

void
herald_dbus_stop(HeraldDbus *self)
{
	g_return_if_fail(HERALD_IS_DBUS(self));
	g_clear_handle_id(&self->refresh_id, g_source_remove);
	herald_dbus_refresh(self);
	if (self->manager != NULL)
		g_dbus_object_manager_server_set_connection(self->manager, NULL);
	if (self->connection != NULL &&
	    g_dbus_interface_skeleton_has_connection(G_DBUS_INTERFACE_SKELETON(self->skeleton),
						     self->connection))
		g_dbus_interface_skeleton_unexport(G_DBUS_INTERFACE_SKELETON(self->skeleton));
	if (self->connection != NULL)
		g_dbus_connection_flush_sync(self->connection, NULL, NULL);
	g_clear_handle_id(&self->owner_id, g_bus_unown_name);
}

HeraldDbus *
herald_dbus_new(HeraldHost *host)
{
	HeraldDbus *self = g_object_new(HERALD_TYPE_DBUS, NULL);
	self->host = host;
	g_signal_connect_object(host,
				"plugin-state-changed",
				G_CALLBACK(herald_dbus_plugin_state_changed_cb),
				self,
				0);
	g_signal_connect_object(host,
				"state-changed",
				G_CALLBACK(herald_dbus_refresh),
				self,
				G_CONNECT_SWAPPED);
	return self;
}

static void
herald_dbus_init(HeraldDbus *self)
{
	self->skeleton = herald_dbus_host1_skeleton_new();
	self->plugin_skeletons = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
	g_signal_connect(self->skeleton,
			 "handle-get-stats",
			 G_CALLBACK(herald_dbus_handle_get_stats),
			 self);
	g_signal_connect(self->skeleton, "handle-reload", G_CALLBACK(herald_dbus_handle_reload), self);
	/* make sure org.herald.Host1.Error.* names are registered */
	(void)herald_error_quark();
}

static void
herald_dbus_dispose(GObject *object)
{
	HeraldDbus *self = HERALD_DBUS(object);
	g_clear_handle_id(&self->refresh_id, g_source_remove);
	g_clear_handle_id(&self->owner_id, g_bus_unown_name);
	g_clear_object(&self->manager);
	g_clear_object(&self->skeleton);
	g_clear_object(&self->connection);
	g_clear_pointer(&self->plugin_skeletons, g_hash_table_unref);
	G_OBJECT_CLASS(herald_dbus_parent_class)->dispose(object);
}

static void
herald_dbus_class_init(HeraldDbusClass *klass)
{
	G_OBJECT_CLASS(klass)->dispose = herald_dbus_dispose;
}
