/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * heraldctl: ask a running heraldd over D-Bus.
 * Exit codes for monitoring scripts: 0 healthy, 1 degraded, 2 down or
 * unreachable, 3 usage error or failure of the command.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <locale.h>

#include "herald-dbus-generated.h"

#define HERALD_DBUS_NAME "org.herald.Host1"
#define HERALD_DBUS_PATH "/org/herald/Host1"

enum { EXIT_HEALTHY = 0, EXIT_DEGRADED = 1, EXIT_DOWN = 2, EXIT_FAILURE_ = 3 };

typedef struct {
	gboolean json;
	GBusType bus_type;
	HeraldDBusHost1 *host;
	GDBusObjectManager *manager;
} HeraldCtl;

static const gchar *
host_state_to_string(guint state)
{
	/* TRANSLATORS: daemon states */
	const gchar *names[] = {N_("unknown"),
				N_("starting"),
				N_("healthy"),
				N_("degraded"),
				N_("unhealthy"),
				N_("stopping")};
	return state < G_N_ELEMENTS(names) ? _(names[state]) : _("unknown");
}

static const gchar *
host_state_to_id(guint state)
{
	const gchar *names[] = {"unknown", "starting", "healthy", "degraded", "unhealthy", "stopping"};
	return state < G_N_ELEMENTS(names) ? names[state] : "unknown";
}

static const gchar *
plugin_state_to_id(guint state)
{
	const gchar *names[] = {"unknown", "loaded", "running", "degraded", "failed", "stopped"};
	return state < G_N_ELEMENTS(names) ? names[state] : "unknown";
}

static const gchar *
plugin_state_to_string(guint state)
{
	/* TRANSLATORS: plugin states */
	const gchar *names[] = {N_("unknown"),
				N_("loaded"),
				N_("running"),
				N_("degraded"),
				N_("failed"),
				N_("stopped")};
	return state < G_N_ELEMENTS(names) ? _(names[state]) : _("unknown");
}

static gint
exit_code_for_state(guint state)
{
	switch (state) {
	case 2:
		return EXIT_HEALTHY;
	case 1:
	case 3:
		return EXIT_DEGRADED;
	default:
		return EXIT_DOWN;
	}
}

static gchar *
format_uptime(guint64 s)
{
	if (s >= 86400)
		return g_strdup_printf("%" G_GUINT64_FORMAT "d %02uh %02um",
				       s / 86400,
				       (guint)(s % 86400 / 3600),
				       (guint)(s % 3600 / 60));
	if (s >= 3600)
		return g_strdup_printf("%uh %02um %02us",
				       (guint)(s / 3600),
				       (guint)(s % 3600 / 60),
				       (guint)(s % 60));
	if (s >= 60)
		return g_strdup_printf("%um %02us", (guint)(s / 60), (guint)(s % 60));
	return g_strdup_printf("%us", (guint)s);
}

/* the daemon must own the name: a proxy alone would read empty properties */
static gboolean
heraldctl_connect(HeraldCtl *self, GError **error)
{
	g_autoptr(GDBusConnection) connection = g_bus_get_sync(self->bus_type, NULL, error);
	g_autofree gchar *owner = NULL;
	if (connection == NULL)
		return FALSE;
	self->host = herald_dbus_host1_proxy_new_sync(connection,
						      G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
						      HERALD_DBUS_NAME,
						      HERALD_DBUS_PATH,
						      NULL,
						      error);
	if (self->host == NULL)
		return FALSE;
	owner = g_dbus_proxy_get_name_owner(G_DBUS_PROXY(self->host));
	if (owner == NULL) {
		g_set_error_literal(error,
				    G_IO_ERROR,
				    G_IO_ERROR_NOT_FOUND,
				    /* TRANSLATORS: heraldctl when the daemon is not running */
				    _("heraldd is not running (org.herald.Host1 is not on the bus)"));
		return FALSE;
	}
	self->manager = herald_dbus_object_manager_client_new_sync(
	    connection,
	    G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
	    HERALD_DBUS_NAME,
	    HERALD_DBUS_PATH,
	    NULL,
	    error);
	return self->manager != NULL;
}

/* plugins in the daemon's start order (its Plugins property) */
static GPtrArray *
heraldctl_get_plugins(HeraldCtl *self)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);
	GList *objects = g_dbus_object_manager_get_objects(self->manager);
	g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(g_object_unref);
	const gchar *const *order = herald_dbus_host1_get_plugins(self->host);

	for (GList *l = objects; l != NULL; l = l->next) {
		HeraldDBusHost1Plugin *iface = herald_dbus_object_get_host1_plugin(l->data);
		if (iface != NULL)
			g_ptr_array_add(all, iface);
	}
	g_list_free_full(objects, g_object_unref);
	for (guint i = 0; order != NULL && order[i] != NULL; i++) {
		for (guint j = 0; j < all->len; j++) {
			HeraldDBusHost1Plugin *iface = g_ptr_array_index(all, j);
			if (g_strcmp0(herald_dbus_host1_plugin_get_name(iface), order[i]) == 0)
				g_ptr_array_add(out, g_object_ref(iface));
		}
	}
	return out;
}

static void
print_json(JsonBuilder *builder)
{
	g_autoptr(JsonNode) root = json_builder_get_root(builder);
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autofree gchar *text = NULL;
	json_generator_set_pretty(gen, TRUE);
	json_generator_set_root(gen, root);
	text = json_generator_to_data(gen, NULL);
	g_print("%s\n", text);
}

static void
add_plugins_json(JsonBuilder *builder, GPtrArray *plugins)
{
	json_builder_begin_array(builder);
	for (guint i = 0; i < plugins->len; i++) {
		HeraldDBusHost1Plugin *iface = g_ptr_array_index(plugins, i);
		const gchar *error = herald_dbus_host1_plugin_get_error(iface);
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "name");
		json_builder_add_string_value(builder, herald_dbus_host1_plugin_get_name(iface));
		json_builder_set_member_name(builder, "state");
		json_builder_add_string_value(builder,
					      plugin_state_to_id(herald_dbus_host1_plugin_get_state(iface)));
		json_builder_set_member_name(builder, "error");
		if (error != NULL && error[0] != '\0')
			json_builder_add_string_value(builder, error);
		else
			json_builder_add_null_value(builder);
		json_builder_end_object(builder);
	}
	json_builder_end_array(builder);
}

static void
print_plugins_text(GPtrArray *plugins)
{
	for (guint i = 0; i < plugins->len; i++) {
		HeraldDBusHost1Plugin *iface = g_ptr_array_index(plugins, i);
		const gchar *error = herald_dbus_host1_plugin_get_error(iface);
		g_print("  %-20s %s%s%s\n",
			herald_dbus_host1_plugin_get_name(iface),
			plugin_state_to_string(herald_dbus_host1_plugin_get_state(iface)),
			error != NULL && error[0] != '\0' ? ": " : "",
			error != NULL ? error : "");
	}
}

static gint
heraldctl_status(HeraldCtl *self)
{
	g_autoptr(GPtrArray) plugins = heraldctl_get_plugins(self);
	guint state = herald_dbus_host1_get_state(self->host);
	guint64 uptime = herald_dbus_host1_get_uptime(self->host);

	if (self->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new();
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "version");
		json_builder_add_string_value(builder, herald_dbus_host1_get_version(self->host));
		json_builder_set_member_name(builder, "instance_id");
		json_builder_add_string_value(builder, herald_dbus_host1_get_instance_id(self->host));
		json_builder_set_member_name(builder, "state");
		json_builder_add_string_value(builder, host_state_to_id(state));
		json_builder_set_member_name(builder, "uptime");
		json_builder_add_int_value(builder, (gint64)uptime);
		json_builder_set_member_name(builder, "connections");
		json_builder_add_int_value(builder, herald_dbus_host1_get_connections(self->host));
		json_builder_set_member_name(builder, "plugins");
		add_plugins_json(builder, plugins);
		json_builder_end_object(builder);
		print_json(builder);
	} else {
		g_autofree gchar *up = format_uptime(uptime);
		/* TRANSLATORS: heraldctl status; keep the labels aligned */
		g_print(_("Herald %s (instance %s)\n"),
			herald_dbus_host1_get_version(self->host),
			herald_dbus_host1_get_instance_id(self->host));
		/* TRANSLATORS: heraldctl status */
		g_print(_("  State:       %s\n"), host_state_to_string(state));
		/* TRANSLATORS: heraldctl status */
		g_print(_("  Uptime:      %s\n"), up);
		/* TRANSLATORS: heraldctl status */
		g_print(_("  Connections: %u\n"), herald_dbus_host1_get_connections(self->host));
		/* TRANSLATORS: heraldctl status */
		g_print("%s\n", _("Plugins:"));
		print_plugins_text(plugins);
	}
	return exit_code_for_state(state);
}

static gint
heraldctl_plugins(HeraldCtl *self)
{
	g_autoptr(GPtrArray) plugins = heraldctl_get_plugins(self);
	if (self->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new();
		add_plugins_json(builder, plugins);
		print_json(builder);
	} else {
		print_plugins_text(plugins);
	}
	return exit_code_for_state(herald_dbus_host1_get_state(self->host));
}

static void
print_vardict(GVariant *dict, guint indent)
{
	GVariantIter iter;
	const gchar *key;
	GVariant *value;
	g_variant_iter_init(&iter, dict);
	while (g_variant_iter_loop(&iter, "{&sv}", &key, &value)) {
		if (g_variant_is_of_type(value, G_VARIANT_TYPE_VARDICT)) {
			g_print("%*s%s:\n", indent, "", key);
			print_vardict(value, indent + 2);
		} else if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING)) {
			g_print("%*s%s: %s\n", indent, "", key, g_variant_get_string(value, NULL));
		} else {
			g_autofree gchar *text = g_variant_print(value, FALSE);
			g_print("%*s%s: %s\n", indent, "", key, text);
		}
	}
}

static gint
heraldctl_stats(HeraldCtl *self, GError **error)
{
	g_autoptr(GVariant) stats = NULL;
	if (!herald_dbus_host1_call_get_stats_sync(self->host, &stats, NULL, error))
		return EXIT_FAILURE_;
	if (self->json) {
		g_autoptr(JsonNode) node = json_gvariant_serialize(stats);
		g_autoptr(JsonGenerator) gen = json_generator_new();
		g_autofree gchar *text = NULL;
		json_generator_set_pretty(gen, TRUE);
		json_generator_set_root(gen, node);
		text = json_generator_to_data(gen, NULL);
		g_print("%s\n", text);
	} else {
		print_vardict(stats, 0);
	}
	return exit_code_for_state(herald_dbus_host1_get_state(self->host));
}

static gint
heraldctl_reload(HeraldCtl *self, GError **error)
{
	g_auto(GStrv) needs_restart = NULL;
	if (!herald_dbus_host1_call_reload_sync(self->host, &needs_restart, NULL, error))
		return EXIT_FAILURE_;
	if (self->json) {
		g_autoptr(JsonBuilder) builder = json_builder_new();
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "reloaded");
		json_builder_add_boolean_value(builder, TRUE);
		json_builder_set_member_name(builder, "needs_restart");
		json_builder_begin_array(builder);
		for (guint i = 0; needs_restart != NULL && needs_restart[i] != NULL; i++)
			json_builder_add_string_value(builder, needs_restart[i]);
		json_builder_end_array(builder);
		json_builder_end_object(builder);
		print_json(builder);
	} else {
		/* TRANSLATORS: heraldctl reload succeeded */
		g_print("%s\n", _("configuration reloaded"));
		for (guint i = 0; needs_restart != NULL && needs_restart[i] != NULL; i++)
			/* TRANSLATORS: %s is group:key */
			g_print(_("  %s changed; restart heraldd to apply it\n"), needs_restart[i]);
	}
	return EXIT_HEALTHY;
}

int
main(int argc, char *argv[])
{
	gboolean json = FALSE;
	gboolean use_session = FALSE;
	gboolean use_system = FALSE;
	gboolean version = FALSE;
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	HeraldCtl self = {0};
	const gchar *bus_env = g_getenv("HERALD_BUS");
	const gchar *cmd;
	gint rc;
	const GOptionEntry options[] = {
	    /* TRANSLATORS: --help */
	    {"json", 'j', 0, G_OPTION_ARG_NONE, &json, N_("Print JSON for scripts"), NULL},
	    /* TRANSLATORS: --help */
	    {"session", 0, 0, G_OPTION_ARG_NONE, &use_session, N_("Use the session bus"), NULL},
	    /* TRANSLATORS: --help */
	    {"system", 0, 0, G_OPTION_ARG_NONE, &use_system, N_("Use the system bus (default)"), NULL},
	    /* TRANSLATORS: --help */
	    {"version", 0, 0, G_OPTION_ARG_NONE, &version, N_("Show the version and exit"), NULL},
	    {NULL}};

	setlocale(LC_ALL, "");
	bindtextdomain(GETTEXT_PACKAGE,
		       g_getenv("HERALD_LOCALEDIR") != NULL ? g_getenv("HERALD_LOCALEDIR")
							  : LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);

	/* TRANSLATORS: heraldctl usage line */
	context = g_option_context_new(_("status | plugins | stats | reload"));
	g_option_context_set_summary(
	    context,
	    /* TRANSLATORS: heraldctl --help */
	    _("Query and control a running heraldd over D-Bus.\n\n"
	      "Exit status: 0 healthy, 1 degraded, 2 down or unreachable, 3 error."));
	g_option_context_add_main_entries(context, options, GETTEXT_PACKAGE);
	g_option_context_set_translation_domain(context, GETTEXT_PACKAGE);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("%s\n", error->message);
		return EXIT_FAILURE_;
	}
	if (version) {
		g_print("heraldctl %s\n", PACKAGE_VERSION);
		return EXIT_HEALTHY;
	}
	cmd = argc > 1 ? argv[1] : "status";
	if (argc > 2 || (g_strcmp0(cmd, "status") != 0 && g_strcmp0(cmd, "plugins") != 0 &&
			 g_strcmp0(cmd, "stats") != 0 && g_strcmp0(cmd, "reload") != 0)) {
		g_autofree gchar *help = g_option_context_get_help(context, TRUE, NULL);
		/* TRANSLATORS: %s is what the user typed */
		g_printerr(_("unknown command '%s'\n"), cmd);
		g_printerr("%s", help);
		return EXIT_FAILURE_;
	}
	self.json = json;
	self.bus_type = G_BUS_TYPE_SYSTEM;
	if (use_session || (!use_system && g_strcmp0(bus_env, "session") == 0))
		self.bus_type = G_BUS_TYPE_SESSION;

	if (!heraldctl_connect(&self, &error)) {
		g_dbus_error_strip_remote_error(error);
		g_printerr("%s\n", error->message);
		g_clear_object(&self.host);
		g_clear_object(&self.manager);
		return EXIT_DOWN;
	}
	if (g_strcmp0(cmd, "plugins") == 0)
		rc = heraldctl_plugins(&self);
	else if (g_strcmp0(cmd, "stats") == 0)
		rc = heraldctl_stats(&self, &error);
	else if (g_strcmp0(cmd, "reload") == 0)
		rc = heraldctl_reload(&self, &error);
	else
		rc = heraldctl_status(&self);
	if (error != NULL) {
		g_dbus_error_strip_remote_error(error);
		g_printerr("%s\n", error->message);
	}
	g_clear_object(&self.host);
	g_clear_object(&self.manager);
	return rc;
}
