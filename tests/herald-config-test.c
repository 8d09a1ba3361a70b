/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>

#include <errno.h>
#include <sys/stat.h>
#include <string.h>

#include "herald-config.h"
#include "herald-error.h"
#include "herald-uri.h"

static const HeraldConfigKey svc_keys[] = {
    {"name", HERALD_CONFIG_STRING, "anon", 0, 0, NULL, 0, "a name"},
    {"port", HERALD_CONFIG_UINT, "8003", 1, 65535, NULL, HERALD_CONFIG_FLAG_RESTART, "a port"},
    {"debug", HERALD_CONFIG_BOOLEAN, "false", 0, 0, NULL, 0, "a flag"},
    {"mode", HERALD_CONFIG_ENUM, "fast", 0, 0, "fast;safe", 0, "an enum"},
    {"items", HERALD_CONFIG_LIST, "a;b", 0, 3, NULL, 0, "a list"},
    {"token", HERALD_CONFIG_SECRET, NULL, 0, 0, NULL, 0, "a secret"},
    {"must", HERALD_CONFIG_STRING, "x", 0, 0, NULL, HERALD_CONFIG_FLAG_NOT_EMPTY, "required"},
    {"dir", HERALD_CONFIG_STRING, "/var/lib/svc", 0, 0, NULL, HERALD_CONFIG_FLAG_RESTART, "a dir"},
};

static const HeraldConfigKey route_keys[] = {
    {"channels", HERALD_CONFIG_LIST, NULL, 0, 0, NULL, HERALD_CONFIG_FLAG_NOT_EMPTY, "channels"},
    {"rooms", HERALD_CONFIG_LIST, NULL, 0, 0, NULL, 0, "rooms"},
    {"enabled", HERALD_CONFIG_BOOLEAN, "true", 0, 0, NULL, 0, "enabled"},
    {"handler", HERALD_CONFIG_STRING, NULL, 0, 0, NULL, HERALD_CONFIG_FLAG_RESTART, "handler"},
};

static const HeraldConfigKey required_keys[] = {
    {"endpoint", HERALD_CONFIG_STRING, NULL, 0, 0, NULL, HERALD_CONFIG_FLAG_NOT_EMPTY, "required"},
    {"key", HERALD_CONFIG_SECRET, NULL, 0, 0, NULL, HERALD_CONFIG_FLAG_NOT_EMPTY, "a secret"},
};

static const HeraldConfigKey late_keys[] = {
    {"level", HERALD_CONFIG_UINT, "1", 0, 10, NULL, 0, "a level"},
};

typedef struct {
	gchar *dir; /* a temporary directory, removed after each test */
} Fixture;

static void
rm_rf(const gchar *path)
{
	if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
		g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
		const gchar *name;
		while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
			g_autofree gchar *child = g_build_filename(path, name, NULL);
			rm_rf(child);
		}
		g_assert_cmpint(g_rmdir(path), ==, 0);
		return;
	}
	g_assert_cmpint(g_unlink(path), ==, 0);
}

static void
fixture_setup(Fixture *fixture, gconstpointer user_data)
{
	g_autoptr(GError) error = NULL;
	fixture->dir = g_dir_make_tmp("herald-config-test-XXXXXX", &error);
	g_assert_no_error(error);
	g_assert_nonnull(fixture->dir);
}

static void
fixture_teardown(Fixture *fixture, gconstpointer user_data)
{
	rm_rf(fixture->dir);
	g_free(fixture->dir);
}

/* writes @contents to @name below the fixture directory, creating parents */
static gchar *
write_file(Fixture *fixture, const gchar *name, const gchar *contents)
{
	g_autofree gchar *filename = g_build_filename(fixture->dir, name, NULL);
	g_autofree gchar *parent = g_path_get_dirname(filename);
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(g_mkdir_with_parents(parent, 0700), ==, 0);
	g_assert_true(g_file_set_contents(filename, contents, -1, &error));
	g_assert_no_error(error);
	return g_steal_pointer(&filename);
}

static HeraldConfig *
new_config(void)
{
	HeraldConfig *config = herald_config_new();
	herald_config_add_schema(config, "svc", svc_keys, G_N_ELEMENTS(svc_keys));
	herald_config_add_free_group(config, "svc.roles", HERALD_CONFIG_STRING, "role → room");
	herald_config_add_free_group(config, "svc.subscribe", HERALD_CONFIG_LIST, "role → rooms");
	herald_config_add_free_group(config, "svc.limits", HERALD_CONFIG_UINT, "role → limit");
	herald_config_add_group_prefix(config, "route ", route_keys, G_N_ELEMENTS(route_keys));
	return config;
}

/* every problem, one per line, warnings marked "W " */
static gchar *
problems_to_string(GPtrArray *problems)
{
	g_autoptr(GString) str = g_string_new(NULL);
	for (guint i = 0; i < problems->len; i++) {
		HeraldConfigProblem *problem = g_ptr_array_index(problems, i);
		g_autofree gchar *line = herald_config_problem_to_string(problem);
		g_string_append_printf(str, "%s%s\n", problem->warning ? "W " : "", line);
	}
	return g_string_free(g_steal_pointer(&str), FALSE);
}

static gchar *
validate_data(const gchar *data)
{
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(GPtrArray) problems = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_true(herald_config_load_data(config, data, &error));
	g_assert_no_error(error);
	problems = herald_config_validate(config);
	return problems_to_string(problems);
}

static void
test_defaults(void)
{
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(GPtrArray) problems = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) items = NULL;
	g_auto(GStrv) keys = NULL;
	g_auto(GStrv) groups = NULL;
	g_auto(GStrv) routes = NULL;
	g_autofree gchar *location = NULL;
	g_autofree gchar *keys_str = NULL;
	g_autofree gchar *groups_str = NULL;
	g_autofree gchar *secret = NULL;

	g_assert_true(herald_config_load(config, NULL, NULL, &error));
	g_assert_no_error(error);
	problems = herald_config_validate(config);
	g_assert_cmpuint(problems->len, ==, 0);
	g_assert_cmpuint(herald_config_get_files(config)->len, ==, 0);

	g_assert_cmpstr(herald_config_get_string(config, "svc", "name"), ==, "anon");
	g_assert_cmpuint(herald_config_get_uint64(config, "svc", "port"), ==, 8003);
	g_assert_false(herald_config_get_boolean(config, "svc", "debug"));
	g_assert_cmpstr(herald_config_get_string(config, "svc", "mode"), ==, "fast");
	g_assert_cmpstr(herald_config_get_string(config, "svc", "items"), ==, "a;b");
	items = herald_config_get_strv(config, "svc", "items");
	g_assert_cmpuint(g_strv_length(items), ==, 2);
	g_assert_cmpstr(items[0], ==, "a");
	g_assert_cmpstr(items[1], ==, "b");
	g_assert_null(herald_config_get_string(config, "svc", "token"));
	g_assert_null(herald_config_get_string(config, "svc", "token-file"));
	g_assert_null(herald_config_get_string(config, "svc", "nope"));
	g_assert_null(herald_config_get_string(config, "other", "nope"));
	g_assert_cmpuint(herald_config_get_uint64(config, "svc", "nope"), ==, 0);

	/* defaulted is not set */
	g_assert_false(herald_config_has_key(config, "svc", "name"));
	location = herald_config_get_location(config, "svc", "name");
	g_assert_cmpstr(location, ==, "svc:name");

	/* neither the secret nor its file: no secret, no error */
	secret = herald_config_get_secret(config, "svc", "token", &error);
	g_assert_no_error(error);
	g_assert_null(secret);

	/* schema keys with a default; token has none */
	keys = herald_config_get_keys(config, "svc");
	keys_str = g_strjoinv(",", keys);
	g_assert_cmpstr(keys_str, ==, "debug,dir,items,mode,must,name,port");
	groups = herald_config_get_groups(config, NULL);
	groups_str = g_strjoinv(",", groups);
	g_assert_cmpstr(groups_str, ==, "svc");
	routes = herald_config_get_groups(config, "route ");
	g_assert_cmpuint(g_strv_length(routes), ==, 0);
}

static void
test_dropins(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *main_fn =
	    write_file(fixture, "herald.conf", "[svc]\nname=main\nport=1\ndebug=true\nmode=safe\n");
	/* written out of order: lexical order is by name, "9-" after "20-" */
	g_autofree gchar *fn_9 =
	    write_file(fixture, "herald.conf.d/9-last.conf", "[svc]\nmode=fast\n");
	g_autofree gchar *fn_20 =
	    write_file(fixture, "herald.conf.d/20-b.conf", "[svc]\nname=from-b\n");
	g_autofree gchar *fn_10 =
	    write_file(fixture, "herald.conf.d/10-a.conf", "[svc]\nname=from-a\nport=2\n");
	g_autofree gchar *fn_bak =
	    write_file(fixture, "herald.conf.d/30-c.conf.bak", "[svc]\nname=bak\n");
	g_autofree gchar *fn_hidden =
	    write_file(fixture, "herald.conf.d/.99-hidden.conf", "[svc]\nname=hidden\n");
	g_autofree gchar *dropins = g_build_filename(fixture->dir, "herald.conf.d", NULL);
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) problems = NULL;
	g_autofree gchar *loc_name = NULL;
	g_autofree gchar *loc_port = NULL;
	g_autofree gchar *loc_debug = NULL;
	g_autofree gchar *loc_mode = NULL;
	g_autofree gchar *expect = NULL;
	GPtrArray *files;

	g_assert_true(herald_config_load(config, main_fn, dropins, &error));
	g_assert_no_error(error);
	problems = herald_config_validate(config);
	g_assert_cmpuint(problems->len, ==, 0);

	g_assert_cmpstr(herald_config_get_string(config, "svc", "name"), ==, "from-b");
	g_assert_cmpuint(herald_config_get_uint64(config, "svc", "port"), ==, 2);
	g_assert_true(herald_config_get_boolean(config, "svc", "debug"));
	g_assert_cmpstr(herald_config_get_string(config, "svc", "mode"), ==, "fast");
	g_assert_true(herald_config_has_key(config, "svc", "name"));
	g_assert_false(herald_config_has_key(config, "svc", "items"));

	loc_name = herald_config_get_location(config, "svc", "name");
	expect = g_strdup_printf("%s:svc:name", fn_20);
	g_assert_cmpstr(loc_name, ==, expect);
	g_clear_pointer(&expect, g_free);
	loc_port = herald_config_get_location(config, "svc", "port");
	expect = g_strdup_printf("%s:svc:port", fn_10);
	g_assert_cmpstr(loc_port, ==, expect);
	g_clear_pointer(&expect, g_free);
	loc_debug = herald_config_get_location(config, "svc", "debug");
	expect = g_strdup_printf("%s:svc:debug", main_fn);
	g_assert_cmpstr(loc_debug, ==, expect);
	g_clear_pointer(&expect, g_free);
	loc_mode = herald_config_get_location(config, "svc", "mode");
	expect = g_strdup_printf("%s:svc:mode", fn_9);
	g_assert_cmpstr(loc_mode, ==, expect);

	files = herald_config_get_files(config);
	g_assert_cmpuint(files->len, ==, 4);
	g_assert_cmpstr(g_ptr_array_index(files, 0), ==, main_fn);
	g_assert_cmpstr(g_ptr_array_index(files, 1), ==, fn_10);
	g_assert_cmpstr(g_ptr_array_index(files, 2), ==, fn_20);
	g_assert_cmpstr(g_ptr_array_index(files, 3), ==, fn_9);
}

static void
test_missing_files(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *main_fn = write_file(fixture, "herald.conf", "[svc]\nname=main\n");
	g_autofree gchar *missing_dir = g_build_filename(fixture->dir, "nope.d", NULL);
	g_autofree gchar *missing_fn = g_build_filename(fixture->dir, "nope.conf", NULL);
	g_autofree gchar *expect = NULL;
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(HeraldConfig) config_missing = new_config();
	g_autoptr(GError) error = NULL;

	/* no drop-in directory is fine */
	g_assert_true(herald_config_load(config, main_fn, missing_dir, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(herald_config_get_string(config, "svc", "name"), ==, "main");
	g_assert_cmpuint(herald_config_get_files(config)->len, ==, 1);

	/* a main file that does not exist is not */
	g_assert_false(herald_config_load(config_missing, missing_fn, NULL, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
	expect = g_strdup_printf("%s: %s", missing_fn, g_strerror(ENOENT));
	g_assert_cmpstr(error->message, ==, expect);
	g_assert_cmpuint(herald_config_get_files(config_missing)->len, ==, 0);
}

static void
test_env(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *main_fn = write_file(fixture,
					       "herald.conf",
					       "[svc]\nname=main\nport=1\n"
					       "[route orders]\nchannels=orders.*\n");
	g_autofree gchar *name_a = herald_config_env_name("ws-rooms.roles", "max-connections");
	g_autofree gchar *name_b = herald_config_env_name("route ws-room", "channels");
	g_autofree gchar *name_c = herald_config_env_name("auth", "secret-file");
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(HeraldConfig) config_bad = new_config();
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) problems = NULL;
	g_autoptr(GPtrArray) problems_bad = NULL;
	g_autofree gchar *loc_port = NULL;
	g_autofree gchar *loc_name = NULL;
	g_autofree gchar *loc_channels = NULL;
	g_autofree gchar *expect = NULL;
	g_autofree gchar *text = NULL;
	g_auto(GStrv) keys = NULL;
	g_auto(GStrv) channels = NULL;

	g_assert_cmpstr(name_a, ==, "HERALD_WS_ROOMS_ROLES_MAX_CONNECTIONS");
	g_assert_cmpstr(name_b, ==, "HERALD_ROUTE_WS_ROOM_CHANNELS");
	g_assert_cmpstr(name_c, ==, "HERALD_AUTH_SECRET_FILE");

	g_setenv("HERALD_SVC_PORT", "4242", TRUE);
	g_setenv("HERALD_SVC_ITEMS", "x; y ;z", TRUE);
	g_setenv("HERALD_SVC_BOGUS", "1", TRUE);
	g_setenv("HERALD_ROUTE_ORDERS_CHANNELS", "shop.*;cart.*", TRUE);
	g_setenv("HERALD_LATE_LEVEL", "7", TRUE);
	g_assert_true(herald_config_load(config, main_fn, NULL, &error));
	g_assert_no_error(error);
	/* a schema registered after loading (a plugin) still gets its override */
	herald_config_add_schema(config, "late", late_keys, G_N_ELEMENTS(late_keys));
	g_unsetenv("HERALD_SVC_PORT");
	g_unsetenv("HERALD_SVC_ITEMS");
	g_unsetenv("HERALD_SVC_BOGUS");
	g_unsetenv("HERALD_ROUTE_ORDERS_CHANNELS");
	g_unsetenv("HERALD_LATE_LEVEL");

	/* the environment wins over the file */
	g_assert_cmpuint(herald_config_get_uint64(config, "svc", "port"), ==, 4242);
	g_assert_true(herald_config_has_key(config, "svc", "port"));
	loc_port = herald_config_get_location(config, "svc", "port");
	g_assert_cmpstr(loc_port, ==, "environment(HERALD_SVC_PORT):svc:port");
	loc_name = herald_config_get_location(config, "svc", "name");
	expect = g_strdup_printf("%s:svc:name", main_fn);
	g_assert_cmpstr(loc_name, ==, expect);
	g_assert_cmpstr(herald_config_get_string(config, "svc", "items"), ==, "x; y ;z");
	g_assert_cmpuint(herald_config_get_uint64(config, "late", "level"), ==, 7);

	/* prefix groups: HERALD_ROUTE_<NAME>_<KEY> */
	channels = herald_config_get_strv(config, "route orders", "channels");
	g_assert_cmpuint(g_strv_length(channels), ==, 2);
	g_assert_cmpstr(channels[0], ==, "shop.*");
	g_assert_cmpstr(channels[1], ==, "cart.*");
	loc_channels = herald_config_get_location(config, "route orders", "channels");
	g_assert_cmpstr(loc_channels,
			==,
			"environment(HERALD_ROUTE_ORDERS_CHANNELS):route orders:channels");

	/* only declared keys are read from the environment */
	g_assert_false(herald_config_has_key(config, "svc", "bogus"));
	keys = herald_config_get_keys(config, "svc");
	g_assert_false(g_strv_contains((const gchar *const *)keys, "bogus"));
	problems = herald_config_validate(config);
	g_assert_cmpuint(problems->len, ==, 0);

	/* a bad value from the environment is located there */
	g_setenv("HERALD_SVC_PORT", "0", TRUE);
	g_assert_true(herald_config_load_data(config_bad, "[svc]\nport=80\n", &error));
	g_assert_no_error(error);
	g_unsetenv("HERALD_SVC_PORT");
	problems_bad = herald_config_validate(config_bad);
	text = problems_to_string(problems_bad);
	g_assert_cmpstr(text,
			==,
			"environment(HERALD_SVC_PORT):svc:port: 0 is out of range (1 to 65535)\n");
	/* and the getter falls back to the default, not to the file */
	g_assert_cmpuint(herald_config_get_uint64(config_bad, "svc", "port"), ==, 8003);
}

static void
test_secrets(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *secret_fn = write_file(fixture, "token", "s3cr3t\n");
	g_autofree gchar *empty_fn = write_file(fixture, "empty", "");
	g_autofree gchar *missing_fn = g_build_filename(fixture->dir, "missing", NULL);
	g_autofree gchar *data_file = g_strdup_printf("[svc]\ntoken-file=%s\n", secret_fn);
	g_autofree gchar *data_both =
	    g_strdup_printf("[svc]\ntoken=inline\ntoken-file=%s\n", missing_fn);
	g_autofree gchar *data_missing = g_strdup_printf("[svc]\ntoken-file=%s\n", missing_fn);
	g_autofree gchar *data_empty = g_strdup_printf("[svc]\ntoken-file=%s\n", empty_fn);
	g_autoptr(HeraldConfig) config_inline = new_config();
	g_autoptr(HeraldConfig) config_file = new_config();
	g_autoptr(HeraldConfig) config_env = new_config();
	g_autoptr(HeraldConfig) config_missing = new_config();
	g_autoptr(HeraldConfig) config_empty = new_config();
	g_autoptr(GPtrArray) problems = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *value = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *text_both = NULL;
	g_autofree gchar *expect = NULL;

	/* inline */
	g_assert_true(herald_config_load_data(config_inline, "[svc]\ntoken=inline\n", &error));
	g_assert_no_error(error);
	value = herald_config_get_secret(config_inline, "svc", "token", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(value, ==, "inline");
	g_clear_pointer(&value, g_free);

	/* the -file twin, trailing newline stripped */
	g_assert_true(herald_config_load_data(config_file, data_file, &error));
	g_assert_no_error(error);
	value = herald_config_get_secret(config_file, "svc", "token", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(value, ==, "s3cr3t");
	g_clear_pointer(&value, g_free);
	problems = herald_config_validate(config_file);
	g_assert_cmpuint(problems->len, ==, 0);
	g_clear_pointer(&problems, g_ptr_array_unref);

	/* an inline value wins over the file, which is still checked */
	text_both = validate_data(data_both);
	expect = g_strdup_printf("(inline):svc:token-file: cannot read secret file '%s': %s\n",
				 missing_fn,
				 g_strerror(ENOENT));
	g_assert_cmpstr(text_both, ==, expect);
	g_clear_pointer(&expect, g_free);

	/* the environment wins over the file */
	g_setenv("HERALD_SVC_TOKEN", "from-env", TRUE);
	g_assert_true(herald_config_load_data(config_env, data_file, &error));
	g_assert_no_error(error);
	g_unsetenv("HERALD_SVC_TOKEN");
	value = herald_config_get_secret(config_env, "svc", "token", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(value, ==, "from-env");
	g_clear_pointer(&value, g_free);

	/* an unreadable file: a located problem, and an error from the getter */
	g_assert_true(herald_config_load_data(config_missing, data_missing, &error));
	g_assert_no_error(error);
	value = herald_config_get_secret(config_missing, "svc", "token", &error);
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
	g_assert_null(value);
	expect = g_strdup_printf("(inline):svc:token-file: cannot read secret file '%s': %s",
				 missing_fn,
				 g_strerror(ENOENT));
	g_assert_cmpstr(error->message, ==, expect);
	g_clear_error(&error);
	problems = herald_config_validate(config_missing);
	text = problems_to_string(problems);
	g_clear_pointer(&expect, g_free);
	expect = g_strdup_printf("(inline):svc:token-file: cannot read secret file '%s': %s\n",
				 missing_fn,
				 g_strerror(ENOENT));
	g_assert_cmpstr(text, ==, expect);

	/* an empty file is an empty secret */
	g_assert_true(herald_config_load_data(config_empty, data_empty, &error));
	g_assert_no_error(error);
	value = herald_config_get_secret(config_empty, "svc", "token", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(value, ==, "");
}

/* what a secret file may not be: over 64 KiB, with a NUL byte, a FIFO
 * nobody writes to (must not hang: an empty secret); exactly 64 KiB is fine */
static void
test_secret_file_refusals(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *max = g_strnfill(64 * 1024, 's');
	g_autofree gchar *over = g_strnfill(64 * 1024 + 1, 's');
	g_autofree gchar *max_fn = write_file(fixture, "max", max);
	g_autofree gchar *over_fn = write_file(fixture, "over", over);
	g_autofree gchar *nul_fn = g_build_filename(fixture->dir, "nul", NULL);
	g_autofree gchar *fifo_fn = g_build_filename(fixture->dir, "fifo", NULL);
	struct {
		const gchar *filename;
		const gchar *value;   /* expected secret, or NULL */
		gchar *message;	      /* expected error, or NULL */
	} cases[] = {
	    {max_fn, max, NULL},
	    {over_fn, NULL, g_strdup_printf("(inline):svc:token-file: secret file '%s' is larger than 65536 bytes", over_fn)},
	    {nul_fn, NULL, g_strdup_printf("(inline):svc:token-file: secret file '%s' contains a NUL byte", nul_fn)},
	    {fifo_fn, "", NULL},
	};
	g_autoptr(GError) error = NULL;

	g_assert_true(g_file_set_contents(nul_fn, "ab\0cd", 5, &error));
	g_assert_no_error(error);
	g_assert_cmpint(mkfifo(fifo_fn, 0600), ==, 0);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(HeraldConfig) config = new_config();
		g_autofree gchar *data = g_strdup_printf("[svc]\ntoken-file=%s\n", cases[i].filename);
		g_autofree gchar *value = NULL;
		g_assert_true(herald_config_load_data(config, data, &error));
		g_assert_no_error(error);
		value = herald_config_get_secret(config, "svc", "token", &error);
		if (cases[i].message == NULL) {
			g_assert_no_error(error);
			g_assert_cmpstr(value, ==, cases[i].value);
		} else {
			g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
			g_assert_null(value);
			g_assert_cmpstr(error->message, ==, cases[i].message);
			g_clear_error(&error);
		}
		g_free(cases[i].message);
	}
}

static void
test_malformed(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *main_fn = write_file(fixture, "herald.conf", "[svc]\nname=main\n");
	g_autofree gchar *bad_fn = write_file(fixture,
					      "herald.conf.d/50-bad.conf",
					      "# comment\n[svc]\nthis is not a key\nname=x\n");
	g_autofree gchar *dropins = g_build_filename(fixture->dir, "herald.conf.d", NULL);
	g_autofree gchar *prefix = g_strdup_printf("%s:3: ", bad_fn);
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(HeraldConfig) config_data = new_config();
	g_autoptr(GError) error = NULL;

	g_assert_false(herald_config_load(config, main_fn, dropins, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
	g_test_message("%s", error->message);
	g_assert_true(g_str_has_prefix(error->message, prefix));
	g_assert_nonnull(strstr(error->message, "this is not a key"));
	g_clear_error(&error);

	/* nothing of a failed load is kept, not even the good main file */
	g_assert_cmpstr(herald_config_get_string(config, "svc", "name"), ==, "anon");
	g_assert_cmpuint(herald_config_get_files(config)->len, ==, 0);

	/* inline data: located as (inline), first line */
	g_assert_false(herald_config_load_data(config_data, "name=x\n[svc]\n", &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
	g_test_message("%s", error->message);
	g_assert_true(g_str_has_prefix(error->message, "(inline):1: "));
	g_clear_error(&error);
	g_assert_false(herald_config_load_data(config_data, "[svc]\nname=x\n\n[svc\n", &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
	g_assert_true(g_str_has_prefix(error->message, "(inline):4: "));
	g_assert_nonnull(strstr(error->message, "[svc"));
}

static void
test_types(void)
{
	const struct {
		const gchar *data;
		const gchar *expect;
	} cases[] = {
	    {"[svc]\ndebug=yes\n",
	     "(inline):svc:debug: 'yes' is not a boolean (use true or false)\n"},
	    {"[svc]\ndebug=True\n",
	     "(inline):svc:debug: 'True' is not a boolean (use true or false)\n"},
	    {"[svc]\ndebug=\n", "(inline):svc:debug: '' is not a boolean (use true or false)\n"},
	    {"[svc]\nport=abc\n",
	     "(inline):svc:port: 'abc' is not a whole number from 1 to 65535\n"},
	    {"[svc]\nport=-1\n", "(inline):svc:port: '-1' is not a whole number from 1 to 65535\n"},
	    {"[svc]\nport=12x\n",
	     "(inline):svc:port: '12x' is not a whole number from 1 to 65535\n"},
	    {"[svc]\nport=0x10\n",
	     "(inline):svc:port: '0x10' is not a whole number from 1 to 65535\n"},
	    {"[svc]\nport=80 \n",
	     "(inline):svc:port: '80 ' is not a whole number from 1 to 65535\n"},
	    {"[svc]\nport=\n", "(inline):svc:port: '' is not a whole number from 1 to 65535\n"},
	    {"[svc]\nport=99999999999999999999999\n",
	     "(inline):svc:port: 99999999999999999999999 is out of range (1 to 65535)\n"},
	    {"[svc]\nname=C:\\Users\n",
	     "(inline):svc:name: '\\U' is not a valid escape sequence (write \\\\ for a "
	     "backslash)\n"},
	    {"[svc]\nname=a\\q\n",
	     "(inline):svc:name: '\\q' is not a valid escape sequence (write \\\\ for a "
	     "backslash)\n"},
	    {"[svc]\nname=a\\\n",
	     "(inline):svc:name: the value ends with a lone backslash (write \\\\ for a "
	     "backslash)\n"},
	    {"[svc]\ndebug=true\ndebug=1\nport=1\nport=65535\n", ""},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *text = validate_data(cases[i].data);
		g_test_message("%s", cases[i].data);
		g_assert_cmpstr(text, ==, cases[i].expect);
	}
}

static void
test_range(void)
{
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(HeraldConfig) config_zero = new_config();
	g_autoptr(GPtrArray) problems = NULL;
	g_autoptr(GPtrArray) problems_zero = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *text_zero = NULL;
	HeraldConfigProblem *problem;

	g_assert_true(herald_config_load_data(config, "[svc]\nport=70000\ndebug=maybe\n", NULL));
	problems = herald_config_validate(config);
	text = problems_to_string(problems);
	g_assert_cmpstr(text,
			==,
			"(inline):svc:debug: 'maybe' is not a boolean (use true or false)\n"
			"(inline):svc:port: 70000 is out of range (1 to 65535)\n");
	problem = g_ptr_array_index(problems, 1);
	g_assert_cmpstr(problem->file, ==, "(inline)");
	g_assert_cmpstr(problem->group, ==, "svc");
	g_assert_cmpstr(problem->key, ==, "port");
	g_assert_cmpstr(problem->message, ==, "70000 is out of range (1 to 65535)");
	g_assert_false(problem->warning);

	/* the getters fall back to the default */
	g_assert_cmpuint(herald_config_get_uint64(config, "svc", "port"), ==, 8003);
	g_assert_cmpstr(herald_config_get_string(config, "svc", "port"), ==, "8003");
	g_assert_false(herald_config_get_boolean(config, "svc", "debug"));

	g_assert_true(herald_config_load_data(config_zero, "[svc]\nport=0\n", NULL));
	problems_zero = herald_config_validate(config_zero);
	text_zero = problems_to_string(problems_zero);
	g_assert_cmpstr(text_zero, ==, "(inline):svc:port: 0 is out of range (1 to 65535)\n");
}

static void
test_unknown_key(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *fn =
	    write_file(fixture, "herald.conf", "[svc]\nnmae=x\nzzzzzz=1\ntokn-file=/x\nPort=1\n");
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(GPtrArray) problems = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *expect = NULL;
	HeraldConfigProblem *problem;

	g_assert_true(herald_config_load(config, fn, NULL, &error));
	g_assert_no_error(error);
	problems = herald_config_validate(config);
	text = problems_to_string(problems);
	expect = g_strdup_printf("%s:svc:Port: unknown key (did you mean 'port'?)\n"
				 "%s:svc:nmae: unknown key (did you mean 'name'?)\n"
				 "%s:svc:tokn-file: unknown key (did you mean 'token-file'?)\n"
				 "%s:svc:zzzzzz: unknown key\n",
				 fn,
				 fn,
				 fn,
				 fn);
	g_assert_cmpstr(text, ==, expect);
	problem = g_ptr_array_index(problems, 3);
	g_assert_cmpstr(problem->file, ==, fn);
	g_assert_cmpstr(problem->group, ==, "svc");
	g_assert_cmpstr(problem->key, ==, "zzzzzz");
	g_assert_false(problem->warning);

	/* unknown keys are still readable as written */
	g_assert_cmpstr(herald_config_get_string(config, "svc", "nmae"), ==, "x");
}

static void
test_unknown_group(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *fn =
	    write_file(fixture,
		       "herald.conf",
		       "[svc]\nname=x\n[other-plugin]\nkey=1\nmore=2\n[empty]\n[route ]\n");
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(GPtrArray) problems = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *expect = NULL;
	g_auto(GStrv) routes = NULL;

	/* a runtime default without a schema (a plugin that is not enabled) */
	herald_config_set_default(config, "disabled", "key", "1");
	g_assert_true(herald_config_load(config, fn, NULL, &error));
	g_assert_no_error(error);
	problems = herald_config_validate(config);
	text = problems_to_string(problems);
	/* an empty header (the shipped file has one per plugin) is no mistake; a
	 * route header without a name is */
	expect = g_strdup_printf("W %s:other-plugin: group is not used by any enabled plugin\n"
				 "W %s:route : group is not used by any enabled plugin\n",
				 fn,
				 fn);
	g_assert_cmpstr(text, ==, expect);
	for (guint i = 0; i < problems->len; i++) {
		HeraldConfigProblem *problem = g_ptr_array_index(problems, i);
		g_assert_true(problem->warning);
		g_assert_null(problem->key);
	}
	/* `[route ]` has no name, so it is no route */
	routes = herald_config_get_groups(config, "route ");
	g_assert_cmpuint(g_strv_length(routes), ==, 0);
	/* groups without a schema are still readable */
	g_assert_cmpstr(herald_config_get_string(config, "other-plugin", "key"), ==, "1");
}

static void
test_enum(void)
{
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(HeraldConfig) config_ok = new_config();
	g_autoptr(GPtrArray) problems = NULL;
	g_autoptr(GPtrArray) problems_ok = NULL;
	g_autofree gchar *text = NULL;

	g_assert_true(herald_config_load_data(config, "[svc]\nmode=slow\n", NULL));
	problems = herald_config_validate(config);
	text = problems_to_string(problems);
	g_assert_cmpstr(text, ==, "(inline):svc:mode: 'slow' is not one of: fast, safe\n");
	g_assert_cmpstr(herald_config_get_string(config, "svc", "mode"), ==, "fast");

	/* choices are case-sensitive, like everything in GKeyFile */
	g_assert_true(herald_config_load_data(config_ok, "[svc]\nmode=safe\n", NULL));
	problems_ok = herald_config_validate(config_ok);
	g_assert_cmpuint(problems_ok->len, ==, 0);
	g_assert_cmpstr(herald_config_get_string(config_ok, "svc", "mode"), ==, "safe");
	g_clear_pointer(&text, g_free);
	text = validate_data("[svc]\nmode=Safe\n");
	g_assert_cmpstr(text, ==, "(inline):svc:mode: 'Safe' is not one of: fast, safe\n");
}

static void
test_free_groups(void)
{
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(GPtrArray) problems = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *roles_str = NULL;
	g_auto(GStrv) roles = NULL;
	g_auto(GStrv) seller = NULL;
	g_auto(GStrv) none = NULL;

	g_assert_true(
	    herald_config_load_data(config,
				    "[svc.roles]\nSUPPORT=admin\nADMIN=admin\nCLIENT=client\n"
				    "[svc.subscribe]\nSELLER= orders ; inventory;;\nADMIN=*\n"
				    "[svc.limits]\nADMIN=10\nCLIENT=lots\n",
				    NULL));
	problems = herald_config_validate(config);
	text = problems_to_string(problems);
	g_assert_cmpstr(text,
			==,
			"(inline):svc.limits:CLIENT: 'lots' is not a whole number from 0 to "
			"18446744073709551615\n");

	roles = herald_config_get_keys(config, "svc.roles");
	roles_str = g_strjoinv(",", roles);
	g_assert_cmpstr(roles_str, ==, "ADMIN,CLIENT,SUPPORT");
	g_assert_cmpstr(herald_config_get_string(config, "svc.roles", "SUPPORT"), ==, "admin");
	g_assert_cmpstr(herald_config_get_string(config, "svc.subscribe", "SELLER"),
			==,
			"orders ; inventory;;");
	seller = herald_config_get_strv(config, "svc.subscribe", "SELLER");
	g_assert_cmpuint(g_strv_length(seller), ==, 2);
	g_assert_cmpstr(seller[0], ==, "orders");
	g_assert_cmpstr(seller[1], ==, "inventory");
	g_assert_cmpuint(herald_config_get_uint64(config, "svc.limits", "ADMIN"), ==, 10);
	g_assert_cmpuint(herald_config_get_uint64(config, "svc.limits", "CLIENT"), ==, 0);

	/* a free group nobody wrote has no keys */
	none = herald_config_get_keys(config, "svc.unused");
	g_assert_nonnull(none);
	g_assert_null(none[0]);
}

static void
test_prefix_groups(void)
{
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(GPtrArray) problems = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *routes_str = NULL;
	g_autofree gchar *keys_str = NULL;
	g_autofree gchar *loc_shipped = NULL;
	g_auto(GStrv) routes = NULL;
	g_auto(GStrv) keys = NULL;
	g_auto(GStrv) shipped_channels = NULL;

	/* shipped routes are runtime defaults of groups no file names */
	herald_config_set_default(config, "route ws-room", "channels", "ws:room:*");
	herald_config_set_default(config, "route ws-room", "rooms", "{1}");
	herald_config_set_default(config, "route builtin", "channels", "b.*");
	herald_config_set_default(config, "route gone", "channels", "g.*");
	herald_config_set_default(config, "route gone", "channels", NULL);
	g_assert_true(herald_config_load_data(config,
					      "[route mine]\nchannels=m.*\nrooms=r1;r2\n"
					      "[route builtin]\nrooms=r\nenabled=false\n"
					      "[route broken]\nrooms=x\nbogus=1\n",
					      &error));
	g_assert_no_error(error);

	routes = herald_config_get_groups(config, "route ");
	routes_str = g_strjoinv(",", routes);
	g_assert_cmpstr(routes_str, ==, "route broken,route builtin,route mine,route ws-room");

	/* a file overrides the defaults key by key */
	g_assert_cmpstr(herald_config_get_string(config, "route builtin", "channels"), ==, "b.*");
	g_assert_cmpstr(herald_config_get_string(config, "route builtin", "rooms"), ==, "r");
	g_assert_false(herald_config_get_boolean(config, "route builtin", "enabled"));
	g_assert_true(herald_config_get_boolean(config, "route ws-room", "enabled"));
	shipped_channels = herald_config_get_strv(config, "route ws-room", "channels");
	g_assert_cmpuint(g_strv_length(shipped_channels), ==, 1);
	g_assert_cmpstr(shipped_channels[0], ==, "ws:room:*");
	g_assert_false(herald_config_has_key(config, "route ws-room", "channels"));
	loc_shipped = herald_config_get_location(config, "route ws-room", "channels");
	g_assert_cmpstr(loc_shipped, ==, "route ws-room:channels");
	keys = herald_config_get_keys(config, "route ws-room");
	keys_str = g_strjoinv(",", keys);
	g_assert_cmpstr(keys_str, ==, "channels,enabled,rooms");

	/* every route is checked against the prefix schema; the missing required key
	 * is blamed on the file that has the group */
	problems = herald_config_validate(config);
	text = problems_to_string(problems);
	g_assert_cmpstr(text,
			==,
			"(inline):route broken:bogus: unknown key\n"
			"(inline):route broken:channels: must not be empty\n");
}

static void
test_not_empty(void)
{
	const struct {
		const gchar *data;
		const gchar *expect;
	} cases[] = {
	    {"[svc]\nmust=\n", "(inline):svc:must: must not be empty\n"},
	    {"[svc]\nmust=   \n", "(inline):svc:must: must not be empty\n"},
	    {"[svc]\nmust=y\n", ""},
	    {"[route r]\nchannels=;;\n", "(inline):route r:channels: must not be empty\n"},
	    {"[route r]\nchannels= ; a\n", ""},
	    /* not required: empty is fine */
	    {"[svc]\nname=\nitems=\n", ""},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *text = validate_data(cases[i].data);
		g_test_message("%s", cases[i].data);
		g_assert_cmpstr(text, ==, cases[i].expect);
	}
}

/* a group no file names is still checked: its required keys are missing */
static void
test_not_empty_unset(Fixture *fixture, gconstpointer user_data)
{
	g_autofree gchar *key_fn = write_file(fixture, "key", "k\n");
	g_autofree gchar *data = g_strdup_printf("[req]\nendpoint=x\nkey-file=%s\n", key_fn);
	g_autoptr(HeraldConfig) config = herald_config_new();
	g_autoptr(HeraldConfig) config_ok = herald_config_new();
	g_autoptr(GPtrArray) problems = NULL;
	g_autoptr(GPtrArray) problems_ok = NULL;
	g_autofree gchar *text = NULL;

	herald_config_add_schema(config, "req", required_keys, G_N_ELEMENTS(required_keys));
	g_assert_true(herald_config_load(config, NULL, NULL, NULL));
	problems = herald_config_validate(config);
	text = problems_to_string(problems);
	g_assert_cmpstr(text, ==, "req:endpoint: must not be empty\nreq:key: must not be empty\n");

	/* a required secret may come from its file */
	herald_config_add_schema(config_ok, "req", required_keys, G_N_ELEMENTS(required_keys));
	g_assert_true(herald_config_load_data(config_ok, data, NULL));
	problems_ok = herald_config_validate(config_ok);
	g_assert_cmpuint(problems_ok->len, ==, 0);
}

static void
test_list_max(void)
{
	g_autoptr(HeraldConfig) config = new_config();
	g_autofree gchar *text_over = validate_data("[svc]\nitems=1;2;3;4\n");
	g_autofree gchar *text_max = validate_data("[svc]\nitems=1;2;3\n");
	g_autofree gchar *text_empty_items = validate_data("[svc]\nitems=;1;;2; ;3;\n");
	g_autofree gchar *text_unlimited = validate_data("[route r]\nchannels=1;2;3;4;5;6;7;8\n");
	g_auto(GStrv) items = NULL;

	g_assert_cmpstr(text_over, ==, "(inline):svc:items: the list has more than 3 items\n");
	g_assert_cmpstr(text_max, ==, "");
	g_assert_cmpstr(text_empty_items, ==, "");
	g_assert_cmpstr(text_unlimited, ==, "");

	/* escapes: \; is a semicolon inside an item */
	g_assert_true(herald_config_load_data(config, "[svc]\nitems=a\\;b; c\\sd ;\\\\\n", NULL));
	items = herald_config_get_strv(config, "svc", "items");
	g_assert_cmpuint(g_strv_length(items), ==, 3);
	g_assert_cmpstr(items[0], ==, "a;b");
	g_assert_cmpstr(items[1], ==, "c d");
	g_assert_cmpstr(items[2], ==, "\\");
}

static void
test_escapes(void)
{
	g_autoptr(HeraldConfig) config = new_config();
	g_autoptr(GPtrArray) problems = NULL;

	g_assert_true(herald_config_load_data(config,
					      "[svc]\nname=a\\sb\\\\c\\td\n"
					      "[route r]\nchannels=x\nhandler=h\\\\1\n",
					      NULL));
	problems = herald_config_validate(config);
	g_assert_cmpuint(problems->len, ==, 0);
	g_assert_cmpstr(herald_config_get_string(config, "svc", "name"), ==, "a b\\c\td");
	g_assert_cmpstr(herald_config_get_string(config, "route r", "handler"), ==, "h\\1");
}

static void
test_diff_restart(void)
{
	g_autoptr(HeraldConfig) a = new_config();
	g_autoptr(HeraldConfig) b = new_config();
	g_autoptr(HeraldConfig) c = new_config();
	g_autoptr(HeraldConfig) d = new_config();
	g_autoptr(GPtrArray) changed = NULL;
	g_autoptr(GPtrArray) same = NULL;
	g_autoptr(GPtrArray) defaults_only = NULL;

	g_assert_true(herald_config_load_data(a,
					      "[svc]\nport=1\nname=a\n"
					      "[route one]\nchannels=x\nhandler=h1\n",
					      NULL));
	g_assert_true(herald_config_load_data(b,
					      "[svc]\nport=2\nname=b\ndir=/var/lib/svc\n"
					      "[route one]\nchannels=y\nhandler=h2\n"
					      "[route two]\nchannels=z\nhandler=h\n",
					      NULL));
	/* port and the handlers changed; name is live; dir is the same as the default */
	changed = herald_config_diff_restart(a, b);
	g_assert_cmpuint(changed->len, ==, 3);
	g_assert_cmpstr(g_ptr_array_index(changed, 0), ==, "route one:handler");
	g_assert_cmpstr(g_ptr_array_index(changed, 1), ==, "route two:handler");
	g_assert_cmpstr(g_ptr_array_index(changed, 2), ==, "svc:port");

	same = herald_config_diff_restart(a, a);
	g_assert_cmpuint(same->len, ==, 0);

	/* an explicit value equal to the default is no change */
	g_assert_true(herald_config_load_data(c, "[svc]\nport=8003\n", NULL));
	defaults_only = herald_config_diff_restart(c, d);
	g_assert_cmpuint(defaults_only->len, ==, 0);
}

static void
test_problem_format(void)
{
	HeraldConfigProblem p1 = {"f.conf", "g", "k", "msg", FALSE};
	HeraldConfigProblem p2 = {"f.conf", "g", NULL, "msg", FALSE};
	HeraldConfigProblem p3 = {NULL, "g", "k", "msg", FALSE};
	HeraldConfigProblem p4 = {"f.conf", NULL, NULL, "msg", FALSE};
	HeraldConfigProblem p5 = {NULL, NULL, NULL, "msg", TRUE};
	g_autofree gchar *s1 = herald_config_problem_to_string(&p1);
	g_autofree gchar *s2 = herald_config_problem_to_string(&p2);
	g_autofree gchar *s3 = herald_config_problem_to_string(&p3);
	g_autofree gchar *s4 = herald_config_problem_to_string(&p4);
	g_autofree gchar *s5 = herald_config_problem_to_string(&p5);

	g_assert_cmpstr(s1, ==, "f.conf:g:k: msg");
	g_assert_cmpstr(s2, ==, "f.conf:g: msg");
	g_assert_cmpstr(s3, ==, "g:k: msg");
	g_assert_cmpstr(s4, ==, "f.conf: msg");
	g_assert_cmpstr(s5, ==, "msg");
	/* the free function copes with NULL */
	herald_config_problem_free(NULL);
}

/* configured URLs in messages: the password never, the rest for the admin */
static void
test_uri_redact(void)
{
	struct {
		const gchar *in;
		const gchar *out;
	} cases[] = {
	    {"redis://user:secret@host:notaport/0", "redis://user:***@host:notaport/0"},
	    {"redis://:secret@host:6379/0", "redis://:***@host:6379/0"},
	    {"https://tok3n@api.example/v1", "https://***@api.example/v1"},
	    /* an @ or a colon inside the password hides all of it */
	    {"redis://u:se@c:ret@host/1", "redis://u:***@host/1"},
	    {"http://u:a/b@host", "http://u:***@host"},
	    /* no scheme, or no userinfo: as written */
	    {"user:secret@host:1", "user:***@host:1"},
	    {"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
	    {"unix:/run/redis.sock?db=1", "unix:/run/redis.sock?db=1"},
	    {"", ""},
	};
	g_autofree gchar *null_uri = herald_uri_redact(NULL);

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *got = herald_uri_redact(cases[i].in);
		g_assert_cmpstr(got, ==, cases[i].out);
		g_assert_null(strstr(got, "secret"));
		g_assert_null(strstr(got, "tok3n"));
	}
	g_assert_cmpstr(null_uri, ==, "");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
#define ADD_FIXTURE(path, func)                                                                    \
	g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
	g_test_add_func("/herald/config/defaults", test_defaults);
	ADD_FIXTURE("/herald/config/dropins", test_dropins);
	ADD_FIXTURE("/herald/config/missing-files", test_missing_files);
	ADD_FIXTURE("/herald/config/env", test_env);
	ADD_FIXTURE("/herald/config/secrets", test_secrets);
	ADD_FIXTURE("/herald/config/secret-file-refusals", test_secret_file_refusals);
	ADD_FIXTURE("/herald/config/malformed", test_malformed);
	g_test_add_func("/herald/config/types", test_types);
	g_test_add_func("/herald/config/range", test_range);
	ADD_FIXTURE("/herald/config/unknown-key", test_unknown_key);
	ADD_FIXTURE("/herald/config/unknown-group", test_unknown_group);
	g_test_add_func("/herald/config/enum", test_enum);
	g_test_add_func("/herald/config/free-groups", test_free_groups);
	g_test_add_func("/herald/config/prefix-groups", test_prefix_groups);
	g_test_add_func("/herald/config/not-empty", test_not_empty);
	ADD_FIXTURE("/herald/config/not-empty-unset", test_not_empty_unset);
	g_test_add_func("/herald/config/list-max", test_list_max);
	g_test_add_func("/herald/config/escapes", test_escapes);
	g_test_add_func("/herald/config/diff-restart", test_diff_restart);
	g_test_add_func("/herald/config/problem-format", test_problem_format);
	g_test_add_func("/herald/uri/redact", test_uri_redact);
#undef ADD_FIXTURE
	return g_test_run();
}
