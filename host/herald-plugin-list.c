/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "herald-error.h"
#include "herald-plugin-list.h"

struct _HeraldPluginList {
	GObject parent_instance;
	GPtrArray *plugins; /* (element-type HeraldPlugin) in start order */
};

G_DEFINE_FINAL_TYPE(HeraldPluginList, herald_plugin_list, G_TYPE_OBJECT)

#define PLUGIN_PREFIX "libherald-plugin-"

gboolean
herald_plugin_name_is_valid(const gchar *name)
{
	if (name == NULL || name[0] == '\0' || strlen(name) > 64)
		return FALSE;
	for (const gchar *p = name; *p != '\0'; p++) {
		if (!g_ascii_islower(*p) && !g_ascii_isdigit(*p) && *p != '-')
			return FALSE;
	}
	return name[0] != '-';
}

static gchar *
herald_plugin_list_find_module(const gchar *search_path, const gchar *name)
{
	g_auto(GStrv) dirs = g_strsplit(search_path, ":", -1);
	g_autofree gchar *basename = g_strdup_printf(PLUGIN_PREFIX "%s.so", name);
	for (guint i = 0; dirs[i] != NULL; i++) {
		g_autofree gchar *fn = NULL;
		if (dirs[i][0] == '\0')
			continue;
		fn = g_build_filename(dirs[i], basename, NULL);
		if (g_file_test(fn, G_FILE_TEST_EXISTS))
			return g_steal_pointer(&fn);
	}
	return NULL;
}

/* plugin names whose module exists in the search path */
gchar **
herald_plugin_list_available(const gchar *search_path)
{
	g_auto(GStrv) dirs = g_strsplit(search_path, ":", -1);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; dirs[i] != NULL; i++) {
		g_autoptr(GDir) dir = g_dir_open(dirs[i], 0, NULL);
		const gchar *fn;
		if (dir == NULL)
			continue;
		while ((fn = g_dir_read_name(dir)) != NULL) {
			if (g_str_has_prefix(fn, PLUGIN_PREFIX) && g_str_has_suffix(fn, ".so")) {
				gsize len = strlen(fn) - strlen(PLUGIN_PREFIX) - 3;
				g_ptr_array_add(names, g_strndup(fn + strlen(PLUGIN_PREFIX), len));
			}
		}
	}
	g_ptr_array_add(names, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&names), FALSE);
}

static void
herald_plugin_list_add_problem(GPtrArray *problems, const gchar *name, const gchar *message)
{
	HeraldConfigProblem *problem;
	if (problems == NULL)
		return;
	problem = g_new0(HeraldConfigProblem, 1);
	problem->group = g_strdup("host");
	problem->key = g_strdup("plugins");
	problem->message = g_strdup_printf("%s: %s", name, message);
	g_ptr_array_add(problems, problem);
}

static HeraldPlugin *
herald_plugin_list_new_failed(GObject *host, const gchar *name, const gchar *reason)
{
	HeraldPlugin *plugin = g_object_new(HERALD_TYPE_PLUGIN, "host", host, "name", name, NULL);
	herald_plugin_set_state(plugin, HERALD_PLUGIN_STATE_FAILED, reason);
	return plugin;
}

static HeraldPlugin *
herald_plugin_list_open(GObject *host, const gchar *search_path, const gchar *name, GError **error)
{
	GModule *module;
	gpointer symbol = NULL;
	GType gtype;
	g_autofree gchar *fn = NULL;
	g_autofree gchar *basename = g_strdup_printf(PLUGIN_PREFIX "%s.so", name);

	if (!herald_plugin_name_is_valid(name)) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: a plugin name in [host] plugins */
				    _("invalid plugin name (use lowercase letters, digits and '-')"));
		return NULL;
	}
	fn = herald_plugin_list_find_module(search_path, name);
	if (fn == NULL) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_NOT_FOUND,
			    /* TRANSLATORS: %s is a file name, second %s a list of directories */
			    _("plugin module %s not found in %s"),
			    basename,
			    search_path);
		return NULL;
	}
	module = g_module_open(fn, G_MODULE_BIND_LOCAL);
	if (module == NULL) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_FAILED,
			    /* TRANSLATORS: %s is the loader's error message */
			    _("cannot load plugin module: %s"),
			    g_module_error());
		return NULL;
	}
	if (!g_module_symbol(module, HERALD_PLUGIN_QUERY_TYPE_SYMBOL, &symbol) || symbol == NULL) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_FAILED,
			    /* TRANSLATORS: %s is a file name */
			    _("%s is not a Herald plugin (no herald_plugin_query_type)"),
			    fn);
		g_module_close(module);
		return NULL;
	}
	/* types cannot be unregistered: keep the code mapped */
	g_module_make_resident(module);
	gtype = ((HeraldPluginQueryTypeFunc)symbol)();
	if (gtype == G_TYPE_INVALID || !g_type_is_a(gtype, HERALD_TYPE_PLUGIN)) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_FAILED,
			    /* TRANSLATORS: %s is a file name */
			    _("%s is not a Herald plugin (its type is not a HeraldPlugin)"),
			    fn);
		return NULL;
	}
	g_debug("loaded plugin %s from %s", name, fn);
	return g_object_new(gtype, "host", host, "name", name, NULL);
}

/**
 * herald_plugin_list_load:
 * @problems: (element-type HeraldConfigProblem): where load failures are added
 *
 * Loads every named plugin. A plugin that cannot be loaded is still listed, in
 * state FAILED with the reason, so that /health and D-Bus show it.
 */
void
herald_plugin_list_load(HeraldPluginList *self,
			GObject *host,
			gchar **names,
			const gchar *search_path,
			GPtrArray *problems)
{
	for (guint i = 0; names != NULL && names[i] != NULL; i++) {
		g_autoptr(GError) error = NULL;
		HeraldPlugin *plugin;
		if (herald_plugin_list_find(self, names[i]) != NULL)
			continue;
		plugin = herald_plugin_list_open(host, search_path, names[i], &error);
		if (plugin == NULL) {
			g_warning("plugin %s failed to load: %s", names[i], error->message);
			herald_plugin_list_add_problem(problems, names[i], error->message);
			plugin = herald_plugin_list_new_failed(host, names[i], error->message);
		}
		g_ptr_array_add(self->plugins, plugin);
	}
}

HeraldPlugin *
herald_plugin_list_find(HeraldPluginList *self, const gchar *name)
{
	for (guint i = 0; i < self->plugins->len; i++) {
		HeraldPlugin *plugin = g_ptr_array_index(self->plugins, i);
		if (g_strcmp0(herald_plugin_get_name(plugin), name) == 0)
			return plugin;
	}
	return NULL;
}

static gint
herald_plugin_list_index(GPtrArray *plugins, const gchar *name)
{
	for (guint i = 0; i < plugins->len; i++) {
		if (g_strcmp0(herald_plugin_get_name(g_ptr_array_index(plugins, i)), name) == 0)
			return (gint)i;
	}
	return -1;
}

/* order by RUN_AFTER / RUN_BEFORE (stable, loop-guarded), then apply CONFLICTS and
 * REQUIRES: the plugin that breaks a rule fails, the others keep running */
void
herald_plugin_list_depsolve(HeraldPluginList *self, GPtrArray *problems)
{
	GPtrArray *plugins = self->plugins;
	gboolean changed = TRUE;
	guint loops = 0;
	guint max_loops = plugins->len * plugins->len + 1;

	while (changed) {
		changed = FALSE;
		if (loops++ > max_loops) {
			g_warning("plugin ordering rules contain a loop; keeping the configured order");
			herald_plugin_list_add_problem(problems,
						       "run-after",
						       _("plugin ordering rules contain a loop"));
			break;
		}
		for (guint i = 0; i < plugins->len && !changed; i++) {
			HeraldPlugin *plugin = g_ptr_array_index(plugins, i);
			GPtrArray *after = herald_plugin_get_rules(plugin, HERALD_PLUGIN_RULE_RUN_AFTER);
			GPtrArray *before =
			    herald_plugin_get_rules(plugin, HERALD_PLUGIN_RULE_RUN_BEFORE);
			for (guint j = 0; j < after->len && !changed; j++) {
				gint idx = herald_plugin_list_index(plugins, g_ptr_array_index(after, j));
				if (idx > (gint)i) {
					/* move plugin just after the one it depends on */
					HeraldPlugin *tmp = g_ptr_array_steal_index(plugins, i);
					g_ptr_array_insert(plugins, idx, tmp);
					changed = TRUE;
				}
			}
			for (guint j = 0; j < before->len && !changed; j++) {
				gint idx =
				    herald_plugin_list_index(plugins, g_ptr_array_index(before, j));
				if (idx >= 0 && idx < (gint)i) {
					HeraldPlugin *tmp = g_ptr_array_steal_index(plugins, i);
					g_ptr_array_insert(plugins, idx, tmp);
					changed = TRUE;
				}
			}
		}
	}

	for (guint i = 0; i < plugins->len; i++) {
		HeraldPlugin *plugin = g_ptr_array_index(plugins, i);
		GPtrArray *conflicts = herald_plugin_get_rules(plugin, HERALD_PLUGIN_RULE_CONFLICTS);
		GPtrArray *requires = herald_plugin_get_rules(plugin, HERALD_PLUGIN_RULE_REQUIRES);
		if (herald_plugin_get_state(plugin) == HERALD_PLUGIN_STATE_FAILED)
			continue;
		for (guint j = 0; j < conflicts->len; j++) {
			const gchar *other = g_ptr_array_index(conflicts, j);
			HeraldPlugin *plugin_other = herald_plugin_list_find(self, other);
			if (plugin_other != NULL &&
			    herald_plugin_get_state(plugin_other) != HERALD_PLUGIN_STATE_FAILED) {
				g_autofree gchar *msg =
				    /* TRANSLATORS: %s is another plugin's name */
				    g_strdup_printf(_("conflicts with plugin %s"), other);
				herald_plugin_list_add_problem(problems,
							       herald_plugin_get_name(plugin),
							       msg);
				herald_plugin_set_state(plugin, HERALD_PLUGIN_STATE_FAILED, msg);
				break;
			}
		}
		for (guint j = 0; j < requires->len; j++) {
			const gchar *other = g_ptr_array_index(requires, j);
			if (herald_plugin_list_find(self, other) == NULL) {
				g_autofree gchar *msg =
				    /* TRANSLATORS: %s is another plugin's name */
				    g_strdup_printf(_("requires plugin %s, which is not enabled"),
						    other);
				herald_plugin_list_add_problem(problems,
							       herald_plugin_get_name(plugin),
							       msg);
				herald_plugin_set_state(plugin, HERALD_PLUGIN_STATE_FAILED, msg);
				break;
			}
		}
	}
}

GPtrArray *
herald_plugin_list_get_all(HeraldPluginList *self)
{
	return self->plugins;
}

HeraldPluginList *
herald_plugin_list_new(void)
{
	return g_object_new(HERALD_TYPE_PLUGIN_LIST, NULL);
}

static void
herald_plugin_list_init(HeraldPluginList *self)
{
	self->plugins = g_ptr_array_new_with_free_func(g_object_unref);
}

static void
herald_plugin_list_finalize(GObject *object)
{
	HeraldPluginList *self = HERALD_PLUGIN_LIST(object);
	g_ptr_array_unref(self->plugins);
	G_OBJECT_CLASS(herald_plugin_list_parent_class)->finalize(object);
}

static void
herald_plugin_list_class_init(HeraldPluginListClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = herald_plugin_list_finalize;
}
