/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* heraldd on a private session bus: the D-Bus monitoring contract and heraldctl */
#include "config.h"

#include <signal.h>

#include "herald-test-util.h"

static GDBusConnection *
bus_connection(void)
{
	g_autoptr(GError) error = NULL;
	GDBusConnection *connection = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error);
	g_assert_no_error(error);
	return connection;
}

static gboolean
name_has_owner(gpointer user_data)
{
	GDBusConnection *connection = user_data;
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(connection,
								 "org.freedesktop.DBus",
								 "/org/freedesktop/DBus",
								 "org.freedesktop.DBus",
								 "NameHasOwner",
								 g_variant_new("(s)", "org.herald.Host1"),
								 G_VARIANT_TYPE("(b)"),
								 G_DBUS_CALL_FLAGS_NONE,
								 -1,
								 NULL,
								 NULL);
	gboolean owned = FALSE;
	if (reply != NULL)
		g_variant_get(reply, "(b)", &owned);
	return owned;
}

static GVariant *
call(GDBusConnection *connection,
     const gchar *path,
     const gchar *iface,
     const gchar *method,
     GVariant *params,
     const gchar *reply_type,
     GError **error)
{
	return g_dbus_connection_call_sync(connection,
					   "org.herald.Host1",
					   path,
					   iface,
					   method,
					   params,
					   reply_type != NULL ? G_VARIANT_TYPE(reply_type) : NULL,
					   G_DBUS_CALL_FLAGS_NONE,
					   10000,
					   NULL,
					   error);
}

static GVariant *
get_property(GDBusConnection *connection, const gchar *path, const gchar *iface, const gchar *name)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = call(connection,
					 path,
					 "org.freedesktop.DBus.Properties",
					 "Get",
					 g_variant_new("(ss)", iface, name),
					 "(v)",
					 &error);
	GVariant *value = NULL;
	g_assert_no_error(error);
	g_variant_get(reply, "(v)", &value);
	return value;
}

static gint
run_heraldctl(const gchar *args, gchar **out)
{
	g_autofree gchar *cmd = g_strdup_printf("%s --session %s", g_getenv("HERALD_TEST_HERALDCTL"), args);
	g_autoptr(GError) error = NULL;
	gint status = 0;
	g_spawn_command_line_sync(cmd, out, NULL, &status, &error);
	g_assert_no_error(error);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

typedef struct {
	guint count;
} SignalCounter;

static void
properties_changed_cb(GDBusConnection *connection,
		      const gchar *sender,
		      const gchar *path,
		      const gchar *iface,
		      const gchar *signal,
		      GVariant *params,
		      gpointer user_data)
{
	SignalCounter *counter = user_data;
	counter->count++;
}

static void
test_dbus(void)
{
	g_autoptr(GTestDBus) bus = g_test_dbus_new(G_TEST_DBUS_NONE);
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(GDBusConnection) connection = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) version = NULL;
	g_autoptr(GVariant) state = NULL;
	g_autoptr(GVariant) plugins = NULL;
	g_autoptr(GVariant) connections = NULL;
	g_autoptr(GVariant) pstate = NULL;
	g_autoptr(GVariant) pname = NULL;
	g_autoptr(GVariant) perror = NULL;
	g_autoptr(GVariant) stats = NULL;
	g_autoptr(GVariant) stats_dict = NULL;
	g_autoptr(GVariant) plugin_stats = NULL;
	g_autoptr(GVariant) managed = NULL;
	g_autoptr(GVariant) reload = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *out_json = NULL;
	g_autofree gchar *out_plugins = NULL;
	g_autofree gchar *introspect = NULL;
	g_autofree gchar *gdbus_cmd = NULL;
	g_autoptr(JsonNode) json = NULL;
	const gchar **names;
	SignalCounter counter = {0};
	guint sub_id;
	gint64 t0;
	gint status = 0;

	g_test_dbus_up(bus);
	daemon = herald_test_daemon_new("[host]\nplugins=test-a;test-b\ndbus=session\n"
					"[test-a]\nconnections=5\n"
					"[test-b]\ndegrade=upstream is down\n");
	g_assert_true(herald_test_daemon_start(daemon, &error));
	g_assert_no_error(error);
	connection = bus_connection();
	g_assert_true(herald_test_wait_until(name_has_owner, connection, 20000));

	version = get_property(connection, "/org/herald/Host1", "org.herald.Host1", "Version");
	g_assert_cmpstr(g_variant_get_string(version, NULL), ==, PACKAGE_VERSION);
	plugins = get_property(connection, "/org/herald/Host1", "org.herald.Host1", "Plugins");
	names = g_variant_get_strv(plugins, NULL);
	g_assert_cmpstr(names[0], ==, "test-a");
	g_assert_cmpstr(names[1], ==, "test-b");
	g_assert_null(names[2]);
	g_free(names);
	state = get_property(connection, "/org/herald/Host1", "org.herald.Host1", "State");
	g_assert_cmpuint(g_variant_get_uint32(state), ==, 3); /* degraded */
	connections = get_property(connection, "/org/herald/Host1", "org.herald.Host1", "Connections");
	g_assert_cmpuint(g_variant_get_uint32(connections), ==, 5);

	pname = get_property(connection,
			     "/org/herald/Host1/Plugins/test_b",
			     "org.herald.Host1.Plugin",
			     "Name");
	g_assert_cmpstr(g_variant_get_string(pname, NULL), ==, "test-b");
	pstate = get_property(connection,
			      "/org/herald/Host1/Plugins/test_b",
			      "org.herald.Host1.Plugin",
			      "State");
	g_assert_cmpuint(g_variant_get_uint32(pstate), ==, 3);
	perror = get_property(connection,
			      "/org/herald/Host1/Plugins/test_b",
			      "org.herald.Host1.Plugin",
			      "Error");
	g_assert_cmpstr(g_variant_get_string(perror, NULL), ==, "upstream is down");

	stats = call(connection, "/org/herald/Host1", "org.herald.Host1", "GetStats", NULL, "(a{sv})", &error);
	g_assert_no_error(error);
	stats_dict = g_variant_get_child_value(stats, 0);
	plugin_stats = g_variant_lookup_value(stats_dict, "plugins", G_VARIANT_TYPE_VARDICT);
	g_assert_nonnull(plugin_stats);
	g_assert_true(g_variant_lookup(stats_dict, "uptime", "t", NULL));

	managed = g_dbus_connection_call_sync(connection,
					      "org.herald.Host1",
					      "/org/herald/Host1",
					      "org.freedesktop.DBus.ObjectManager",
					      "GetManagedObjects",
					      NULL,
					      G_VARIANT_TYPE("(a{oa{sa{sv}}})"),
					      G_DBUS_CALL_FLAGS_NONE,
					      10000,
					      NULL,
					      &error);
	g_assert_no_error(error);
	{
		g_autoptr(GVariant) objects = g_variant_get_child_value(managed, 0);
		g_assert_cmpuint(g_variant_n_children(objects), ==, 2);
	}

	/* what a monitor sees with the stock tool */
	gdbus_cmd = g_strdup_printf("%s introspect --session --dest org.herald.Host1 "
				    "--object-path /org/herald/Host1 --recurse",
				    herald_test_require_program("gdbus"));
	g_spawn_command_line_sync(gdbus_cmd, &introspect, NULL, &status, &error);
	g_assert_no_error(error);
	g_assert_nonnull(strstr(introspect, "interface org.herald.Host1 {"));
	g_assert_nonnull(strstr(introspect, "interface org.freedesktop.DBus.ObjectManager {"));
	g_assert_nonnull(strstr(introspect, "node /org/herald/Host1/Plugins/test_a {"));
	g_assert_nonnull(strstr(introspect, "interface org.herald.Host1.Plugin {"));
	g_assert_nonnull(strstr(introspect, "GetStats("));

	/* heraldctl: same state, exit 1 = degraded */
	g_assert_cmpint(run_heraldctl("status", &out), ==, 1);
	g_assert_nonnull(strstr(out, "test-a"));
	g_assert_nonnull(strstr(out, "test-b"));
	g_assert_nonnull(strstr(out, "upstream is down"));
	g_assert_cmpint(run_heraldctl("--json status", &out_json), ==, 1);
	json = herald_test_parse_json(out_json);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(json));
	g_assert_cmpint(run_heraldctl("plugins", &out_plugins), ==, 1);
	g_assert_nonnull(strstr(out_plugins, "test-a"));

	/* Reload over D-Bus reports keys that need a restart (none here) */
	reload = call(connection, "/org/herald/Host1", "org.herald.Host1", "Reload", NULL, "(as)", &error);
	g_assert_no_error(error);
	g_assert_true(herald_test_daemon_wait_log(daemon, "configuration reloaded", 5000));

	/* PropertiesChanged is rate-limited to about one per second */
	sub_id = g_dbus_connection_signal_subscribe(connection,
						    NULL,
						    "org.freedesktop.DBus.Properties",
						    "PropertiesChanged",
						    "/org/herald/Host1",
						    NULL,
						    G_DBUS_SIGNAL_FLAGS_NONE,
						    properties_changed_cb,
						    &counter,
						    NULL);
	t0 = g_get_monotonic_time();
	while (g_get_monotonic_time() - t0 < 3 * G_USEC_PER_SEC)
		g_main_context_iteration(NULL, TRUE);
	g_dbus_connection_signal_unsubscribe(connection, sub_id);
	g_assert_cmpuint(counter.count, >=, 1);
	g_assert_cmpuint(counter.count, <=, 5);

	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
	/* daemon gone: heraldctl says down */
	{
		g_autofree gchar *out_down = NULL;
		g_assert_cmpint(run_heraldctl("status", &out_down), ==, 2);
	}
	g_clear_object(&connection);
	g_test_dbus_down(bus);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/herald/dbus/monitoring", test_dbus);
	return g_test_run();
}
