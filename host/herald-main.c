/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <sys/resource.h>

#include "herald-host-private.h"
#include "herald-plugin-list.h"

typedef struct {
	GMainLoop *loop;
	HeraldHost *host;
	gboolean stopping;
	gint exit_code;
} HeraldDaemon;

static void
herald_main_shutdown_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldDaemon *daemon = user_data;
	g_autoptr(GError) error = NULL;
	if (!herald_host_shutdown_finish(HERALD_HOST(source), res, &error))
		g_warning("shutdown: %s", error->message);
	g_main_loop_quit(daemon->loop);
}

static gboolean
herald_main_sigterm_cb(gpointer user_data)
{
	HeraldDaemon *daemon = user_data;
	if (daemon->stopping) {
		g_message("second signal: exiting now");
		g_main_loop_quit(daemon->loop);
		return G_SOURCE_CONTINUE;
	}
	daemon->stopping = TRUE;
	herald_host_shutdown_async(daemon->host, NULL, herald_main_shutdown_cb, daemon);
	return G_SOURCE_CONTINUE;
}

static gboolean
herald_main_sighup_cb(gpointer user_data)
{
	HeraldDaemon *daemon = user_data;
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) needs_restart = NULL;
	if (!herald_host_reload(daemon->host, &needs_restart, &error))
		g_warning("SIGHUP: %s", error->message);
	return G_SOURCE_CONTINUE;
}

/* many sockets are the point of this daemon */
static void
herald_main_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		g_debug("cannot raise RLIMIT_NOFILE: %s", g_strerror(errno));
}

static void
herald_main_print_problems(GPtrArray *problems, gboolean *has_errors)
{
	for (guint i = 0; i < problems->len; i++) {
		HeraldConfigProblem *problem = g_ptr_array_index(problems, i);
		g_autofree gchar *str = herald_config_problem_to_string(problem);
		if (problem->warning) {
			/* TRANSLATORS: prefix of a configuration warning */
			g_printerr("%s %s\n", _("warning:"), str);
		} else {
			g_printerr("%s\n", str);
			*has_errors = TRUE;
		}
	}
}

static gint
herald_main_strv_cmp(gconstpointer a, gconstpointer b, gpointer user_data)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

int
main(int argc, char *argv[])
{
	gboolean check_config = FALSE;
	gboolean strict = FALSE;
	gboolean verbose = FALSE;
	gboolean version = FALSE;
	gboolean dump_config = FALSE;
	gboolean dump_config_man = FALSE;
	gboolean has_errors = FALSE;
	g_autofree gchar *config_file = NULL;
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldHost) host = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	g_autoptr(GPtrArray) problems =
	    g_ptr_array_new_with_free_func((GDestroyNotify)herald_config_problem_free);
	g_autoptr(GPtrArray) plugin_problems =
	    g_ptr_array_new_with_free_func((GDestroyNotify)herald_config_problem_free);
	HeraldDaemon daemon = {0};
	const GOptionEntry options[] = {
	    {"config",
	     'c',
	     0,
	     G_OPTION_ARG_FILENAME,
	     &config_file,
	     /* TRANSLATORS: --help */
	     N_("Configuration file (default: /etc/herald/herald.conf)"),
	     N_("FILE")},
	    {"check-config",
	     0,
	     0,
	     G_OPTION_ARG_NONE,
	     &check_config,
	     /* TRANSLATORS: --help */
	     N_("Load the configuration and plugins, report every problem, and exit"),
	     NULL},
	    {"strict",
	     0,
	     0,
	     G_OPTION_ARG_NONE,
	     &strict,
	     /* TRANSLATORS: --help */
	     N_("Treat a secret set inline in a file that others can read as an error"),
	     NULL},
	    {"verbose",
	     'v',
	     0,
	     G_OPTION_ARG_NONE,
	     &verbose,
	     /* TRANSLATORS: --help */
	     N_("Log debugging messages"),
	     NULL},
	    {"dump-config",
	     0,
	     G_OPTION_FLAG_HIDDEN,
	     G_OPTION_ARG_NONE,
	     &dump_config,
	     "Print the annotated default configuration of every available plugin",
	     NULL},
	    {"dump-config-man",
	     0,
	     G_OPTION_FLAG_HIDDEN,
	     G_OPTION_ARG_NONE,
	     &dump_config_man,
	     "Print herald.conf(5) as roff, from the same schema as --dump-config",
	     NULL},
	    {"version",
	     0,
	     0,
	     G_OPTION_ARG_NONE,
	     &version,
	     /* TRANSLATORS: --help */
	     N_("Show the version and exit"),
	     NULL},
	    {NULL}};

	setlocale(LC_ALL, "");
	/* HERALD_LOCALEDIR: translations from the build tree (tests) */
	bindtextdomain(GETTEXT_PACKAGE,
		       g_getenv("HERALD_LOCALEDIR") != NULL ? g_getenv("HERALD_LOCALEDIR")
							  : LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);

	/* TRANSLATORS: one-line summary in --help */
	context = g_option_context_new(NULL);
	g_option_context_set_summary(context, _("Herald realtime service host"));
	g_option_context_add_main_entries(context, options, GETTEXT_PACKAGE);
	g_option_context_set_translation_domain(context, GETTEXT_PACKAGE);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("%s\n", error->message);
		return 2;
	}
	if (version) {
		g_print("heraldd %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (verbose)
		g_log_set_debug_enabled(TRUE);
	if (dump_config || dump_config_man) {
		const gchar *env = g_getenv("HERALD_PLUGIN_DIR");
		g_auto(GStrv) names = herald_plugin_list_available(
		    env != NULL && env[0] != '\0' ? env : HERALD_PLUGIN_DIR);
		g_autofree gchar *text = NULL;
		g_qsort_with_data(names,
				  (gint)g_strv_length(names),
				  sizeof(gchar *),
				  herald_main_strv_cmp,
				  NULL);
		text = dump_config_man ? herald_host_dump_config_man(names)
				       : herald_host_dump_config(names);
		g_print("%s", text);
		return 0;
	}

	host = herald_host_new();
	herald_host_set_strict(host, strict);
	if (!herald_host_load(host, config_file, problems, plugin_problems, &error)) {
		g_printerr("%s\n", error->message);
		return 1;
	}
	herald_main_print_problems(problems, &has_errors);
	if (check_config) {
		herald_main_print_problems(plugin_problems, &has_errors);
		if (has_errors)
			return 1;
		/* TRANSLATORS: --check-config succeeded */
		g_print("%s\n", _("configuration OK"));
		return 0;
	}
	if (has_errors) {
		/* TRANSLATORS: the daemon refuses to start */
		g_printerr("%s\n", _("invalid configuration; not starting"));
		return 1;
	}

	herald_main_raise_nofile();
	loop = g_main_loop_new(NULL, FALSE);
	daemon.loop = loop;
	daemon.host = host;
	g_unix_signal_add(SIGTERM, herald_main_sigterm_cb, &daemon);
	g_unix_signal_add(SIGINT, herald_main_sigterm_cb, &daemon);
	g_unix_signal_add(SIGHUP, herald_main_sighup_cb, &daemon);
	if (!herald_host_startup(host, &error)) {
		g_printerr("%s\n", error->message);
		return 1;
	}
	g_main_loop_run(loop);
	/* let closed client connections finish their teardown */
	while (g_main_context_iteration(NULL, FALSE))
		;
	return daemon.exit_code;
}
