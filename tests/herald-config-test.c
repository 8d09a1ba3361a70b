/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>

#include "herald-config.h"
#include "herald-error.h"
#include "herald-test-util.h"

static const HeraldConfigKey keys[] = {
    {"name", HERALD_CONFIG_STRING, "anon", 0, 0, NULL, 0, "a name"},
    {"port", HERALD_CONFIG_UINT, "8003", 1, 65535, NULL, HERALD_CONFIG_FLAG_RESTART, "a port"},
    {"debug", HERALD_CONFIG_BOOLEAN, "false", 0, 0, NULL, 0, "a flag"},
    {"mode", HERALD_CONFIG_ENUM, "fast", 0, 0, "fast;safe", 0, "an enum"},
    {"items", HERALD_CONFIG_LIST, "a;b", 0, 3, NULL, 0, "a list"},
    {"token", HERALD_CONFIG_SECRET, NULL, 0, 0, NULL, 0, "a secret"},
    {"must", HERALD_CONFIG_STRING, "x", 0, 0, NULL, HERALD_CONFIG_FLAG_NOT_EMPTY, "required"},
};

static const HeraldConfigKey route_keys[] = {
    {"channels", HERALD_CONFIG_LIST, NULL, 0, 0, NULL, HERALD_CONFIG_FLAG_NOT_EMPTY, "channels"},
    {"rooms", HERALD_CONFIG_LIST, NULL, 0, 0, NULL, 0, "rooms"},
};

static HeraldConfig *
new_config(void)
{
	HeraldConfig *config = herald_config_new();
	herald_config_add_schema(config, "svc", keys, G_N_ELEMENTS(keys));
	herald_config_add_free_group(config, "svc.roles", HERALD_CONFIG_LIST, "role lists");
	herald_config_add_group_prefix(config, "route ", route_keys, G_N_ELEMENTS(route_keys));
	return config;
}

static gchar *
problems_to_string(GPtrArray *problems)
{
	GString *str = g_string_new(NULL);
	for (guint i = 0; i < problems->len; i++) {
		g_autofree gchar *line = herald_config_problem_to_string(g_ptr_array_index(problems, i));
		g_string_append_printf(str, "%s%s\n", ((HeraldConfigProblem *)g_ptr_array_index(problems, i))->warning ? "W " : "", line);
	}
	return g_string_free(str, FALSE);
}

static void
test_defaults(void)
{
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(GPtrArray) problems = NULL;
	g_auto(GStrv) items = NULL;
	g_assert_true(herald_config_load(config, NULL, NULL, NULL));
	problems = herald_config_validate(config);
	g_assert_cmpuint(problems->len, ==, 0);
	g_assert_cmpstr(herald_config_get_string(config, "svc", "name"), ==, "anon");
	g_assert_cmpuint(herald_config_get_uint64(config, "svc", "port"), ==, 8003);
	g_assert_false(herald_config_get_boolean(config, "svc", "debug"));
	items = herald_config_get_strv(config, "svc", "items");
	g_assert_cmpuint(g_strv_length(items), ==, 2);
	g_assert_false(herald_config_has_key(config, "svc", "name"));
	g_assert_null(herald_config_get_secret(config, "svc", "token", NULL));
}

static void
test_dropins_and_env(void)
{
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *main_fn = herald_test_write_file(dir, "herald.conf", "[svc]\nname=main\nport=1\ndebug=true\n");
	g_autofree gchar *d1 = herald_test_write_file(dir, "herald.conf.d/20-b.conf", "[svc]\nname=from-b\n");
	g_autofree gchar *d0 = herald_test_write_file(dir, "herald.conf.d/10-a.conf", "[svc]\nname=from-a\nport=2\n");
	g_autofree gchar *ignored = herald_test_write_file(dir, "herald.conf.d/30-c.conf.bak", "[svc]\nname=bak\n");
	g_autofree gchar *dropins = g_build_filename(dir, "herald.conf.d", NULL);
	g_autoptr(HeraldConfig) config = new_config();
	g_autofree gchar *loc_name = NULL;
	g_autofree gchar *loc_port = NULL;
	g_autofree gchar *loc_items = NULL;
	g_autofree gchar *env_name = herald_config_env_name("ws-rooms.roles", "max-connections");

	g_assert_cmpstr(env_name, ==, "HERALD_WS_ROOMS_ROLES_MAX_CONNECTIONS");
	g_setenv("HERALD_SVC_ITEMS", "x;y;z", TRUE);
	g_assert_true(herald_config_load(config, main_fn, dropins, NULL));
	g_unsetenv("HERALD_SVC_ITEMS");
	/* later drop-ins win, in lexical order; *.bak is not a drop-in */
	g_assert_cmpstr(herald_config_get_string(config, "svc", "name"), ==, "from-b");
	g_assert_cmpuint(herald_config_get_uint64(config, "svc", "port"), ==, 2);
	g_assert_true(herald_config_get_boolean(config, "svc", "debug"));
	g_assert_cmpstr(herald_config_get_string(config, "svc", "items"), ==, "x;y;z");
	loc_name = herald_config_get_location(config, "svc", "name");
	g_assert_true(g_str_has_prefix(loc_name, d1));
	g_assert_true(g_str_has_suffix(loc_name, ".conf:svc:name"));
	loc_port = herald_config_get_location(config, "svc", "port");
	g_assert_true(g_str_has_prefix(loc_port, d0));
	loc_items = herald_config_get_location(config, "svc", "items");
	g_assert_cmpstr(loc_items, ==, "environment(HERALD_SVC_ITEMS):svc:items");
	g_assert_cmpuint(herald_config_get_files(config)->len, ==, 3);
	herald_test_rm_rf(dir);
}

static void
test_secrets(void)
{
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *secret_fn = herald_test_write_file(dir, "tok", "s3cr3t\n");
	g_autofree gchar *cfg = g_strdup_printf("[svc]\ntoken-file=%s\n", secret_fn);
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(HeraldConfig) inline_config = new_config();
	g_autoptr(HeraldConfig) bad = new_config();
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) problems = NULL;
	g_autofree gchar *value = NULL;
	g_autofree gchar *value_inline = NULL;
	g_autofree gchar *missing = NULL;
	g_autofree gchar *text = NULL;

	g_assert_true(herald_config_load_data(config, cfg, NULL));
	value = herald_config_get_secret(config, "svc", "token", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(value, ==, "s3cr3t");
	g_assert_true(herald_config_load_data(inline_config, "[svc]\ntoken=inline\n", NULL));
	value_inline = herald_config_get_secret(inline_config, "svc", "token", NULL);
	g_assert_cmpstr(value_inline, ==, "inline");

	g_assert_true(herald_config_load_data(bad, "[svc]\ntoken-file=/nonexistent/secret\n", NULL));
	missing = herald_config_get_secret(bad, "svc", "token", &error);
	g_assert_null(missing);
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
	g_assert_nonnull(strstr(error->message, "(inline):svc:token-file: "));
	problems = herald_config_validate(bad);
	text = problems_to_string(problems);
	g_assert_nonnull(strstr(text, "(inline):svc:token-file: cannot read secret: "));
	herald_test_rm_rf(dir);
}

static void
test_malformed(void)
{
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *fn = herald_test_write_file(dir, "herald.conf", "[svc]\nname=a\nthis is not a key\n");
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(GError) error = NULL;
	g_assert_false(herald_config_load(config, fn, NULL, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
	g_assert_true(g_str_has_prefix(error->message, fn));
	g_assert_nonnull(strstr(error->message, "this is not a key"));
	herald_test_rm_rf(dir);
}

static void
test_validation(void)
{
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(GPtrArray) problems = NULL;
	g_autofree gchar *text = NULL;
	g_assert_true(herald_config_load_data(config,
					      "[svc]\nport=70000\ndebug=yes\nmode=slow\nitems=1;2;3;4\n"
					      "nmae=x\nmust=\n"
					      "[svc.roles]\nADMIN=admin;all\n"
					      "[other-plugin]\nkey=1\n"
					      "[route r1]\nrooms=a\n"
					      "[route r2]\nchannels=x\nbogus=1\n",
					      NULL));
	problems = herald_config_validate(config);
	text = problems_to_string(problems);
	g_test_message("%s", text);
	g_assert_nonnull(strstr(text, "(inline):svc:port: 70000 is out of range (1 to 65535)\n"));
	g_assert_nonnull(strstr(text, "(inline):svc:debug: 'yes' is not a boolean"));
	g_assert_nonnull(strstr(text, "(inline):svc:mode: 'slow' is not one of: fast, safe\n"));
	g_assert_nonnull(strstr(text, "(inline):svc:items: the list has more than 3 items\n"));
	g_assert_nonnull(strstr(text, "(inline):svc:nmae: unknown key (did you mean 'name'?)\n"));
	g_assert_nonnull(strstr(text, "(inline):svc:must: must not be empty\n"));
	g_assert_nonnull(strstr(text, "W (inline):other-plugin: group is not used by any enabled plugin\n"));
	g_assert_nonnull(strstr(text, "route r1:channels: must not be empty\n"));
	g_assert_nonnull(strstr(text, "(inline):route r2:bogus: unknown key\n"));
	g_assert_null(strstr(text, "svc.roles"));
	/* invalid values fall back to the default for the getters */
	g_assert_cmpuint(herald_config_get_uint64(config, "svc", "port"), ==, 8003);
	g_assert_false(herald_config_get_boolean(config, "svc", "debug"));
	g_assert_cmpuint(problems->len, ==, 9);
}

static void
test_number_parsing(void)
{
	const gchar *bad[] = {"abc", "-1", "12x", "0x10", "99999999999999999999999", ""};
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(HeraldConfig) config = new_config();
		g_autoptr(GPtrArray) problems = NULL;
		g_autofree gchar *data = g_strdup_printf("[svc]\nport=%s\n", bad[i]);
		g_assert_true(herald_config_load_data(config, data, NULL));
		problems = herald_config_validate(config);
		g_assert_cmpuint(problems->len, ==, 1);
		g_assert_cmpstr(((HeraldConfigProblem *)g_ptr_array_index(problems, 0))->key, ==, "port");
	}
}

static void
test_groups_and_defaults(void)
{
	g_autoptr(HeraldConfig) config = new_config();
	g_auto(GStrv) routes = NULL;
	g_auto(GStrv) keys_r1 = NULL;
	g_auto(GStrv) roles = NULL;
	g_auto(GStrv) admin = NULL;
	herald_config_set_default(config, "route builtin", "channels", "b.*");
	g_assert_true(herald_config_load_data(config,
					      "[route mine]\nchannels=m\n[route builtin]\nrooms=r\n"
					      "[svc.roles]\nADMIN=admin;all\n",
					      NULL));
	routes = herald_config_get_groups(config, "route ");
	g_assert_cmpuint(g_strv_length(routes), ==, 2);
	g_assert_cmpstr(routes[0], ==, "route builtin");
	g_assert_cmpstr(herald_config_get_string(config, "route builtin", "channels"), ==, "b.*");
	g_assert_cmpstr(herald_config_get_string(config, "route builtin", "rooms"), ==, "r");
	keys_r1 = herald_config_get_keys(config, "route builtin");
	g_assert_cmpuint(g_strv_length(keys_r1), ==, 2);
	roles = herald_config_get_keys(config, "svc.roles");
	g_assert_cmpstr(roles[0], ==, "ADMIN");
	admin = herald_config_get_strv(config, "svc.roles", "ADMIN");
	g_assert_cmpstr(admin[1], ==, "all");
}

static void
test_diff_restart(void)
{
	g_autoptr(HeraldConfig) a = new_config();
	g_autoptr(HeraldConfig) b = new_config();
	g_autoptr(GPtrArray) changed = NULL;
	g_autoptr(GPtrArray) same = NULL;
	g_assert_true(herald_config_load_data(a, "[svc]\nport=1\nname=a\n", NULL));
	g_assert_true(herald_config_load_data(b, "[svc]\nport=2\nname=b\n", NULL));
	changed = herald_config_diff_restart(a, b);
	g_assert_cmpuint(changed->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(changed, 0), ==, "svc:port");
	same = herald_config_diff_restart(a, a);
	g_assert_cmpuint(same->len, ==, 0);
}

static void
test_problem_format(void)
{
	HeraldConfigProblem p1 = {"f.conf", "g", "k", "msg", FALSE};
	HeraldConfigProblem p2 = {"f.conf", "g", NULL, "msg", FALSE};
	HeraldConfigProblem p3 = {NULL, "g", "k", "msg", FALSE};
	HeraldConfigProblem p4 = {NULL, NULL, NULL, "msg", FALSE};
	g_autofree gchar *s1 = herald_config_problem_to_string(&p1);
	g_autofree gchar *s2 = herald_config_problem_to_string(&p2);
	g_autofree gchar *s3 = herald_config_problem_to_string(&p3);
	g_autofree gchar *s4 = herald_config_problem_to_string(&p4);
	g_assert_cmpstr(s1, ==, "f.conf:g:k: msg");
	g_assert_cmpstr(s2, ==, "f.conf:g: msg");
	g_assert_cmpstr(s3, ==, "g:k: msg");
	g_assert_cmpstr(s4, ==, "msg");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/herald/config/defaults", test_defaults);
	g_test_add_func("/herald/config/dropins-and-env", test_dropins_and_env);
	g_test_add_func("/herald/config/secrets", test_secrets);
	g_test_add_func("/herald/config/malformed", test_malformed);
	g_test_add_func("/herald/config/validation", test_validation);
	g_test_add_func("/herald/config/number-parsing", test_number_parsing);
	g_test_add_func("/herald/config/groups-and-defaults", test_groups_and_defaults);
	g_test_add_func("/herald/config/diff-restart", test_diff_restart);
	g_test_add_func("/herald/config/problem-format", test_problem_format);
	return g_test_run();
}
