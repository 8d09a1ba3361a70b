/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "herald-config.h"
#include "herald-error.h"

typedef struct {
	gchar *group;  /* (nullable): NULL for a prefix schema */
	gchar *prefix; /* (nullable) */
	const HeraldConfigKey *keys;
	guint n_keys;
	gboolean free_group;
	HeraldConfigType value_type;
	gchar *description;
} HeraldConfigSchema;

typedef struct {
	gchar *value;
	gchar *origin; /* a file path, or "environment" */
	gchar *env;    /* (nullable) the variable, for environment values */
} HeraldConfigValue;

struct _HeraldConfig {
	GObject parent_instance;
	GPtrArray *schemas;  /* (element-type HeraldConfigSchema) */
	GHashTable *values;  /* "group\x1fkey" → HeraldConfigValue */
	GHashTable *defaults; /* "group\x1fkey" → gchar*: set at runtime */
	GPtrArray *files;    /* (element-type filename) in load order */
};

G_DEFINE_FINAL_TYPE(HeraldConfig, herald_config, G_TYPE_OBJECT)

#define SEP "\x1f"

static void
herald_config_schema_free(HeraldConfigSchema *schema)
{
	g_free(schema->group);
	g_free(schema->prefix);
	g_free(schema->description);
	g_free(schema);
}

static void
herald_config_value_free(HeraldConfigValue *value)
{
	g_free(value->value);
	g_free(value->origin);
	g_free(value->env);
	g_free(value);
}

void
herald_config_problem_free(HeraldConfigProblem *problem)
{
	if (problem == NULL)
		return;
	g_free(problem->file);
	g_free(problem->group);
	g_free(problem->key);
	g_free(problem->message);
	g_free(problem);
}

/* file:group:key: message, leaving out what is unknown */
gchar *
herald_config_problem_to_string(const HeraldConfigProblem *problem)
{
	GString *str = g_string_new(NULL);
	if (problem->file != NULL)
		g_string_append(str, problem->file);
	if (problem->group != NULL) {
		if (str->len > 0)
			g_string_append_c(str, ':');
		g_string_append(str, problem->group);
	}
	if (problem->key != NULL) {
		if (str->len > 0)
			g_string_append_c(str, ':');
		g_string_append(str, problem->key);
	}
	if (str->len > 0)
		g_string_append(str, ": ");
	g_string_append(str, problem->message);
	return g_string_free(str, FALSE);
}

static gchar *
herald_config_hash_key(const gchar *group, const gchar *key)
{
	return g_strconcat(group, SEP, key, NULL);
}

void
herald_config_add_schema(HeraldConfig *self,
			 const gchar *group,
			 const HeraldConfigKey *keys,
			 guint n_keys)
{
	HeraldConfigSchema *schema = g_new0(HeraldConfigSchema, 1);
	g_return_if_fail(HERALD_IS_CONFIG(self));
	g_return_if_fail(group != NULL);
	schema->group = g_strdup(group);
	schema->keys = keys;
	schema->n_keys = n_keys;
	g_ptr_array_add(self->schemas, schema);
}

void
herald_config_add_free_group(HeraldConfig *self,
			     const gchar *group,
			     HeraldConfigType value_type,
			     const gchar *description)
{
	HeraldConfigSchema *schema = g_new0(HeraldConfigSchema, 1);
	g_return_if_fail(HERALD_IS_CONFIG(self));
	g_return_if_fail(group != NULL);
	schema->group = g_strdup(group);
	schema->free_group = TRUE;
	schema->value_type = value_type;
	schema->description = g_strdup(description);
	g_ptr_array_add(self->schemas, schema);
}

void
herald_config_add_group_prefix(HeraldConfig *self,
			       const gchar *prefix,
			       const HeraldConfigKey *keys,
			       guint n_keys)
{
	HeraldConfigSchema *schema = g_new0(HeraldConfigSchema, 1);
	g_return_if_fail(HERALD_IS_CONFIG(self));
	g_return_if_fail(prefix != NULL);
	schema->prefix = g_strdup(prefix);
	schema->keys = keys;
	schema->n_keys = n_keys;
	g_ptr_array_add(self->schemas, schema);
}

void
herald_config_set_default(HeraldConfig *self,
			  const gchar *group,
			  const gchar *key,
			  const gchar *value)
{
	g_return_if_fail(HERALD_IS_CONFIG(self));
	g_hash_table_insert(self->defaults, herald_config_hash_key(group, key), g_strdup(value));
}

static gboolean
herald_config_schema_covers(HeraldConfigSchema *schema, const gchar *group)
{
	if (schema->prefix != NULL)
		return g_str_has_prefix(group, schema->prefix) && group[strlen(schema->prefix)] != '\0';
	return g_strcmp0(schema->group, group) == 0;
}

static gboolean
herald_config_group_known(HeraldConfig *self, const gchar *group)
{
	for (guint i = 0; i < self->schemas->len; i++) {
		if (herald_config_schema_covers(g_ptr_array_index(self->schemas, i), group))
			return TRUE;
	}
	return FALSE;
}

/* the definition of group:key; a "-file" twin of a secret comes back as
 * the secret's definition with *is_file set */
static const HeraldConfigKey *
herald_config_find_key(HeraldConfig *self,
		       const gchar *group,
		       const gchar *key,
		       gboolean *is_file,
		       HeraldConfigSchema **free_schema)
{
	if (is_file != NULL)
		*is_file = FALSE;
	if (free_schema != NULL)
		*free_schema = NULL;
	for (guint i = 0; i < self->schemas->len; i++) {
		HeraldConfigSchema *schema = g_ptr_array_index(self->schemas, i);
		if (!herald_config_schema_covers(schema, group))
			continue;
		if (schema->free_group) {
			if (free_schema != NULL)
				*free_schema = schema;
			continue;
		}
		for (guint j = 0; j < schema->n_keys; j++) {
			const HeraldConfigKey *def = &schema->keys[j];
			if (g_strcmp0(def->key, key) == 0)
				return def;
			if (def->type == HERALD_CONFIG_SECRET && g_str_has_prefix(key, def->key) &&
			    g_strcmp0(key + strlen(def->key), "-file") == 0) {
				if (is_file != NULL)
					*is_file = TRUE;
				return def;
			}
		}
	}
	return NULL;
}

static void
herald_config_set_value(HeraldConfig *self,
			const gchar *group,
			const gchar *key,
			const gchar *value,
			const gchar *origin,
			const gchar *env)
{
	HeraldConfigValue *v = g_new0(HeraldConfigValue, 1);
	v->value = g_strdup(value);
	v->origin = g_strdup(origin);
	v->env = g_strdup(env);
	g_hash_table_insert(self->values, herald_config_hash_key(group, key), v);
}

static gboolean
herald_config_merge_keyfile(HeraldConfig *self, GKeyFile *kf, const gchar *origin, GError **error)
{
	g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
	for (guint i = 0; groups[i] != NULL; i++) {
		g_auto(GStrv) keys = g_key_file_get_keys(kf, groups[i], NULL, NULL);
		for (guint j = 0; keys != NULL && keys[j] != NULL; j++) {
			g_autofree gchar *value = g_key_file_get_string(kf, groups[i], keys[j], NULL);
			if (value == NULL)
				value = g_key_file_get_value(kf, groups[i], keys[j], NULL);
			herald_config_set_value(self, groups[i], keys[j], value, origin, NULL);
		}
	}
	return TRUE;
}

static gboolean
herald_config_load_file(HeraldConfig *self, const gchar *fn, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) error_local = NULL;
	if (!g_key_file_load_from_file(kf, fn, G_KEY_FILE_NONE, &error_local)) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    "%s: %s",
			    fn,
			    error_local->message);
		return FALSE;
	}
	g_ptr_array_add(self->files, g_strdup(fn));
	return herald_config_merge_keyfile(self, kf, fn, error);
}

gchar *
herald_config_env_name(const gchar *group, const gchar *key)
{
	g_autofree gchar *raw = g_strdup_printf("HERALD_%s_%s", group, key);
	for (gchar *p = raw; *p != '\0'; p++) {
		if (*p == '-' || *p == '.' || *p == ' ')
			*p = '_';
		else
			*p = g_ascii_toupper(*p);
	}
	return g_steal_pointer(&raw);
}

static void
herald_config_apply_env_key(HeraldConfig *self, const gchar *group, const gchar *key)
{
	g_autofree gchar *name = herald_config_env_name(group, key);
	const gchar *value = g_getenv(name);
	if (value != NULL)
		herald_config_set_value(self, group, key, value, "environment", name);
}

static void
herald_config_apply_env_keys(HeraldConfig *self, const gchar *group, HeraldConfigSchema *schema)
{
	for (guint j = 0; j < schema->n_keys; j++) {
		const HeraldConfigKey *def = &schema->keys[j];
		herald_config_apply_env_key(self, group, def->key);
		if (def->type == HERALD_CONFIG_SECRET) {
			g_autofree gchar *twin = g_strdup_printf("%s-file", def->key);
			herald_config_apply_env_key(self, group, twin);
		}
	}
}

/* HERALD_<GROUP>_<KEY> for every declared key, including each [route NAME] */
static void
herald_config_apply_env(HeraldConfig *self)
{
	g_auto(GStrv) groups = herald_config_get_groups(self, NULL);
	for (guint i = 0; i < self->schemas->len; i++) {
		HeraldConfigSchema *schema = g_ptr_array_index(self->schemas, i);
		if (schema->free_group)
			continue;
		if (schema->group != NULL) {
			herald_config_apply_env_keys(self, schema->group, schema);
			continue;
		}
		for (guint k = 0; groups[k] != NULL; k++) {
			if (herald_config_schema_covers(schema, groups[k]))
				herald_config_apply_env_keys(self, groups[k], schema);
		}
	}
}

static gint
herald_config_strcmp(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/**
 * herald_config_load:
 * @main_file: (nullable): %NULL for the built-in defaults only
 * @dropin_dir: (nullable): `*.conf` files read in lexical order after @main_file
 *
 * Fails only when a file cannot be read or parsed; values are checked by
 * herald_config_validate().
 */
gboolean
herald_config_load(HeraldConfig *self,
		   const gchar *main_file,
		   const gchar *dropin_dir,
		   GError **error)
{
	g_return_val_if_fail(HERALD_IS_CONFIG(self), FALSE);
	if (main_file != NULL && !herald_config_load_file(self, main_file, error))
		return FALSE;
	if (dropin_dir != NULL && g_file_test(dropin_dir, G_FILE_TEST_IS_DIR)) {
		g_autoptr(GDir) dir = g_dir_open(dropin_dir, 0, error);
		g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
		const gchar *name;
		if (dir == NULL)
			return FALSE;
		while ((name = g_dir_read_name(dir)) != NULL) {
			if (g_str_has_suffix(name, ".conf") && name[0] != '.')
				g_ptr_array_add(names, g_build_filename(dropin_dir, name, NULL));
		}
		g_ptr_array_sort(names, herald_config_strcmp);
		for (guint i = 0; i < names->len; i++) {
			if (!herald_config_load_file(self, g_ptr_array_index(names, i), error))
				return FALSE;
		}
	}
	herald_config_apply_env(self);
	return TRUE;
}

gboolean
herald_config_load_data(HeraldConfig *self, const gchar *data, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) error_local = NULL;
	g_return_val_if_fail(HERALD_IS_CONFIG(self), FALSE);
	if (!g_key_file_load_from_data(kf, data, -1, G_KEY_FILE_NONE, &error_local)) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    "(inline): %s",
			    error_local->message);
		return FALSE;
	}
	herald_config_merge_keyfile(self, kf, "(inline)", error);
	herald_config_apply_env(self);
	return TRUE;
}

GPtrArray *
herald_config_get_files(HeraldConfig *self)
{
	g_return_val_if_fail(HERALD_IS_CONFIG(self), NULL);
	return self->files;
}

static HeraldConfigValue *
herald_config_lookup(HeraldConfig *self, const gchar *group, const gchar *key)
{
	g_autofree gchar *hkey = herald_config_hash_key(group, key);
	return g_hash_table_lookup(self->values, hkey);
}

/* the effective value: files/env, else a runtime default, else the schema's */
const gchar *
herald_config_get_string(HeraldConfig *self, const gchar *group, const gchar *key)
{
	HeraldConfigValue *value;
	g_autofree gchar *hkey = NULL;
	const gchar *def_value;
	const HeraldConfigKey *def;
	gboolean is_file = FALSE;

	g_return_val_if_fail(HERALD_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL && key != NULL, NULL);
	value = herald_config_lookup(self, group, key);
	if (value != NULL)
		return value->value;
	hkey = herald_config_hash_key(group, key);
	def_value = g_hash_table_lookup(self->defaults, hkey);
	if (def_value != NULL)
		return def_value;
	def = herald_config_find_key(self, group, key, &is_file, NULL);
	if (def != NULL && !is_file)
		return def->default_value;
	return NULL;
}

static gboolean
herald_config_parse_boolean(const gchar *value, gboolean *out)
{
	if (g_strcmp0(value, "true") == 0 || g_strcmp0(value, "1") == 0) {
		*out = TRUE;
		return TRUE;
	}
	if (g_strcmp0(value, "false") == 0 || g_strcmp0(value, "0") == 0) {
		*out = FALSE;
		return TRUE;
	}
	return FALSE;
}

gboolean
herald_config_get_boolean(HeraldConfig *self, const gchar *group, const gchar *key)
{
	gboolean ret = FALSE;
	const gchar *value = herald_config_get_string(self, group, key);
	if (value != NULL && herald_config_parse_boolean(value, &ret))
		return ret;
	/* invalid: validation reported it, fall back to the default */
	{
		const HeraldConfigKey *def = herald_config_find_key(self, group, key, NULL, NULL);
		if (def != NULL && def->default_value != NULL)
			herald_config_parse_boolean(def->default_value, &ret);
	}
	return ret;
}

guint64
herald_config_get_uint64(HeraldConfig *self, const gchar *group, const gchar *key)
{
	const gchar *value = herald_config_get_string(self, group, key);
	const HeraldConfigKey *def = herald_config_find_key(self, group, key, NULL, NULL);
	guint64 ret = 0;
	guint64 min = def != NULL ? def->min : 0;
	guint64 max = def != NULL ? def->max : G_MAXUINT64;

	if (value != NULL && g_ascii_string_to_unsigned(value, 10, min, max, &ret, NULL))
		return ret;
	if (def != NULL && def->default_value != NULL &&
	    g_ascii_string_to_unsigned(def->default_value, 10, 0, G_MAXUINT64, &ret, NULL))
		return ret;
	return 0;
}

static gchar **
herald_config_split_list(const gchar *value)
{
	g_auto(GStrv) parts = NULL;
	g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_free);
	if (value == NULL)
		return g_new0(gchar *, 1);
	parts = g_strsplit(value, ";", -1);
	for (guint i = 0; parts[i] != NULL; i++) {
		gchar *item = g_strstrip(parts[i]);
		if (item[0] != '\0')
			g_ptr_array_add(items, g_strdup(item));
	}
	g_ptr_array_add(items, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&items), FALSE);
}

gchar **
herald_config_get_strv(HeraldConfig *self, const gchar *group, const gchar *key)
{
	return herald_config_split_list(herald_config_get_string(self, group, key));
}

static gchar *
herald_config_read_secret_file(const gchar *fn, GError **error)
{
	gchar *contents = NULL;
	if (!g_file_get_contents(fn, &contents, NULL, error))
		return NULL;
	g_strchomp(contents);
	return contents;
}

/**
 * herald_config_get_secret:
 *
 * The inline (or environment) value, else the contents of the `<key>-file` file
 * with trailing whitespace removed; %NULL without error when neither is set.
 */
gchar *
herald_config_get_secret(HeraldConfig *self,
			 const gchar *group,
			 const gchar *key,
			 GError **error)
{
	g_autofree gchar *twin = g_strdup_printf("%s-file", key);
	const gchar *value = herald_config_get_string(self, group, key);
	const gchar *fn;
	g_autoptr(GError) error_local = NULL;
	gchar *secret;

	if (value != NULL && value[0] != '\0')
		return g_strdup(value);
	fn = herald_config_get_string(self, group, twin);
	if (fn == NULL || fn[0] == '\0')
		return NULL;
	secret = herald_config_read_secret_file(fn, &error_local);
	if (secret == NULL) {
		g_autofree gchar *location = herald_config_get_location(self, group, twin);
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    "%s: %s",
			    location,
			    error_local->message);
		return NULL;
	}
	return secret;
}

gboolean
herald_config_has_key(HeraldConfig *self, const gchar *group, const gchar *key)
{
	g_return_val_if_fail(HERALD_IS_CONFIG(self), FALSE);
	return herald_config_lookup(self, group, key) != NULL;
}

gchar *
herald_config_get_location(HeraldConfig *self, const gchar *group, const gchar *key)
{
	HeraldConfigValue *value = herald_config_lookup(self, group, key);
	if (value == NULL)
		return g_strdup_printf("%s:%s", group, key);
	if (value->env != NULL)
		return g_strdup_printf("%s(%s):%s:%s", value->origin, value->env, group, key);
	return g_strdup_printf("%s:%s:%s", value->origin, group, key);
}

static void
herald_config_collect_groups(GHashTable *table, GHashTable *set)
{
	GHashTableIter iter;
	gpointer hkey;
	g_hash_table_iter_init(&iter, table);
	while (g_hash_table_iter_next(&iter, &hkey, NULL)) {
		const gchar *sep = strchr(hkey, SEP[0]);
		g_hash_table_add(set, g_strndup(hkey, sep - (const gchar *)hkey));
	}
}

static gchar **
herald_config_sorted_keys(GHashTable *set)
{
	g_autoptr(GPtrArray) array = g_ptr_array_new_with_free_func(g_free);
	GHashTableIter iter;
	gpointer key;
	g_hash_table_iter_init(&iter, set);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_ptr_array_add(array, g_strdup(key));
	g_ptr_array_sort(array, herald_config_strcmp);
	g_ptr_array_add(array, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&array), FALSE);
}

/* groups present in files, environment or runtime defaults, sorted */
gchar **
herald_config_get_groups(HeraldConfig *self, const gchar *prefix)
{
	g_autoptr(GHashTable) set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_auto(GStrv) all = NULL;
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);

	g_return_val_if_fail(HERALD_IS_CONFIG(self), NULL);
	herald_config_collect_groups(self->values, set);
	herald_config_collect_groups(self->defaults, set);
	all = herald_config_sorted_keys(set);
	for (guint i = 0; all[i] != NULL; i++) {
		if (prefix == NULL || g_str_has_prefix(all[i], prefix))
			g_ptr_array_add(out, g_strdup(all[i]));
	}
	g_ptr_array_add(out, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&out), FALSE);
}

gchar **
herald_config_get_keys(HeraldConfig *self, const gchar *group)
{
	g_autoptr(GHashTable) set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GHashTable *tables[] = {self->values, self->defaults};
	g_return_val_if_fail(HERALD_IS_CONFIG(self), NULL);
	for (guint t = 0; t < G_N_ELEMENTS(tables); t++) {
		GHashTableIter iter;
		gpointer hkey;
		g_hash_table_iter_init(&iter, tables[t]);
		while (g_hash_table_iter_next(&iter, &hkey, NULL)) {
			const gchar *sep = strchr(hkey, SEP[0]);
			if (strncmp(hkey, group, sep - (const gchar *)hkey) == 0 &&
			    group[sep - (const gchar *)hkey] == '\0')
				g_hash_table_add(set, g_strdup(sep + 1));
		}
	}
	for (guint i = 0; i < self->schemas->len; i++) {
		HeraldConfigSchema *schema = g_ptr_array_index(self->schemas, i);
		if (schema->free_group || !herald_config_schema_covers(schema, group))
			continue;
		for (guint j = 0; j < schema->n_keys; j++) {
			if (schema->keys[j].default_value != NULL)
				g_hash_table_add(set, g_strdup(schema->keys[j].key));
		}
	}
	return herald_config_sorted_keys(set);
}

static void
herald_config_add_problem(GPtrArray *problems,
			  HeraldConfigValue *value,
			  const gchar *group,
			  const gchar *key,
			  gboolean warning,
			  gchar *message /* (transfer full) */)
{
	HeraldConfigProblem *problem = g_new0(HeraldConfigProblem, 1);
	if (value != NULL) {
		problem->file = value->env != NULL ? g_strdup_printf("%s(%s)", value->origin, value->env)
						   : g_strdup(value->origin);
	}
	problem->group = g_strdup(group);
	problem->key = g_strdup(key);
	problem->message = message;
	problem->warning = warning;
	g_ptr_array_add(problems, problem);
}

static guint
herald_config_edit_distance(const gchar *a, const gchar *b)
{
	gsize la = strlen(a), lb = strlen(b);
	g_autofree guint *prev = g_new0(guint, lb + 1);
	g_autofree guint *cur = g_new0(guint, lb + 1);
	for (gsize j = 0; j <= lb; j++)
		prev[j] = j;
	for (gsize i = 1; i <= la; i++) {
		cur[0] = i;
		for (gsize j = 1; j <= lb; j++) {
			guint cost = a[i - 1] == b[j - 1] ? 0 : 1;
			cur[j] = MIN(MIN(prev[j] + 1, cur[j - 1] + 1), prev[j - 1] + cost);
		}
		memcpy(prev, cur, (lb + 1) * sizeof(guint));
	}
	return prev[lb];
}

static const gchar *
herald_config_suggest(HeraldConfig *self, const gchar *group, const gchar *key)
{
	const gchar *best = NULL;
	guint best_dist = 3;
	for (guint i = 0; i < self->schemas->len; i++) {
		HeraldConfigSchema *schema = g_ptr_array_index(self->schemas, i);
		if (schema->free_group || !herald_config_schema_covers(schema, group))
			continue;
		for (guint j = 0; j < schema->n_keys; j++) {
			guint dist = herald_config_edit_distance(key, schema->keys[j].key);
			if (dist < best_dist) {
				best = schema->keys[j].key;
				best_dist = dist;
			}
		}
	}
	return best;
}

/* NULL when @value suits @type, else a translated reason */
static gchar *
herald_config_check_value(const HeraldConfigKey *def,
			  HeraldConfigType type,
			  const gchar *value)
{
	g_autoptr(GError) error = NULL;
	guint64 number = 0;
	gboolean flag = FALSE;
	guint64 min = def != NULL ? def->min : 0;
	guint64 max = def != NULL ? def->max : 0;

	switch (type) {
	case HERALD_CONFIG_BOOLEAN:
		if (!herald_config_parse_boolean(value, &flag))
			/* TRANSLATORS: config value error; %s is the value */
			return g_strdup_printf(_("'%s' is not a boolean (use true or false)"), value);
		break;
	case HERALD_CONFIG_UINT:
		if (!g_ascii_string_to_unsigned(value, 10, min, max, &number, &error)) {
			g_autofree gchar *smin = g_strdup_printf("%" G_GUINT64_FORMAT, min);
			g_autofree gchar *smax = g_strdup_printf("%" G_GUINT64_FORMAT, max);
			if (g_error_matches(error,
					    G_NUMBER_PARSER_ERROR,
					    G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS))
				/* TRANSLATORS: config value error; value, minimum, maximum */
				return g_strdup_printf(_("%s is out of range (%s to %s)"),
						       value,
						       smin,
						       smax);
			/* TRANSLATORS: config value error; value, minimum, maximum */
			return g_strdup_printf(_("'%s' is not a whole number from %s to %s"),
					       value,
					       smin,
					       smax);
		}
		break;
	case HERALD_CONFIG_ENUM: {
		g_auto(GStrv) choices = g_strsplit(def != NULL && def->choices != NULL ? def->choices : "", ";", -1);
		if (!g_strv_contains((const gchar *const *)choices, value)) {
			g_autofree gchar *list = g_strjoinv(", ", choices);
			/* TRANSLATORS: config value error; value, then the allowed values */
			return g_strdup_printf(_("'%s' is not one of: %s"), value, list);
		}
		break;
	}
	case HERALD_CONFIG_LIST:
		if (max > 0) {
			g_auto(GStrv) items = herald_config_split_list(value);
			if (g_strv_length(items) > max) {
				g_autofree gchar *smax = g_strdup_printf("%" G_GUINT64_FORMAT, max);
				/* TRANSLATORS: config value error; %s is a count */
				return g_strdup_printf(_("the list has more than %s items"), smax);
			}
		}
		break;
	default:
		break;
	}
	return NULL;
}

/**
 * herald_config_validate:
 *
 * Returns: (transfer container) (element-type HeraldConfigProblem): every
 * problem, located; warnings have `warning` set
 */
GPtrArray *
herald_config_validate(HeraldConfig *self)
{
	GPtrArray *problems =
	    g_ptr_array_new_with_free_func((GDestroyNotify)herald_config_problem_free);
	g_autoptr(GHashTable) warned = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GPtrArray) hkeys = g_ptr_array_new();
	g_auto(GStrv) groups = NULL;
	GHashTableIter iter;
	gpointer hkey;

	g_return_val_if_fail(HERALD_IS_CONFIG(self), NULL);

	/* deterministic order: sorted by group then key */
	g_hash_table_iter_init(&iter, self->values);
	while (g_hash_table_iter_next(&iter, &hkey, NULL))
		g_ptr_array_add(hkeys, hkey);
	g_ptr_array_sort(hkeys, herald_config_strcmp);

	for (guint i = 0; i < hkeys->len; i++) {
		const gchar *hk = g_ptr_array_index(hkeys, i);
		const gchar *sep = strchr(hk, SEP[0]);
		g_autofree gchar *group = g_strndup(hk, sep - hk);
		const gchar *key = sep + 1;
		HeraldConfigValue *value = g_hash_table_lookup(self->values, hk);
		HeraldConfigSchema *free_schema = NULL;
		gboolean is_file = FALSE;
		const HeraldConfigKey *def;
		gchar *reason;

		if (!herald_config_group_known(self, group)) {
			if (!g_hash_table_contains(warned, group)) {
				g_hash_table_add(warned, (gpointer)g_intern_string(group));
				herald_config_add_problem(
				    problems,
				    value,
				    group,
				    NULL,
				    TRUE,
				    /* TRANSLATORS: config warning */
				    g_strdup(_("group is not used by any enabled plugin")));
			}
			continue;
		}
		def = herald_config_find_key(self, group, key, &is_file, &free_schema);
		if (def == NULL && free_schema == NULL) {
			const gchar *suggestion = herald_config_suggest(self, group, key);
			herald_config_add_problem(
			    problems,
			    value,
			    group,
			    key,
			    FALSE,
			    suggestion != NULL
				/* TRANSLATORS: config error; %s is the closest valid key */
				? g_strdup_printf(_("unknown key (did you mean '%s'?)"), suggestion)
				/* TRANSLATORS: config error */
				: g_strdup(_("unknown key")));
			continue;
		}
		if (is_file) {
			g_autoptr(GError) error = NULL;
			g_autofree gchar *secret = NULL;
			if (value->value[0] == '\0')
				continue;
			secret = herald_config_read_secret_file(value->value, &error);
			if (secret == NULL)
				herald_config_add_problem(problems,
							  value,
							  group,
							  key,
							  FALSE,
							  /* TRANSLATORS: config error; the OS reason */
							  g_strdup_printf(_("cannot read secret: %s"),
									  error->message));
			continue;
		}
		reason = herald_config_check_value(def,
						   def != NULL ? def->type : free_schema->value_type,
						   value->value);
		if (reason != NULL)
			herald_config_add_problem(problems, value, group, key, FALSE, reason);
	}

	/* keys that must not be empty, wherever their group comes from */
	groups = herald_config_get_groups(self, NULL);
	for (guint i = 0; i < self->schemas->len; i++) {
		HeraldConfigSchema *schema = g_ptr_array_index(self->schemas, i);
		if (schema->free_group)
			continue;
		for (guint g = 0; groups[g] != NULL; g++) {
			if (!herald_config_schema_covers(schema, groups[g]))
				continue;
			for (guint j = 0; j < schema->n_keys; j++) {
				const HeraldConfigKey *def = &schema->keys[j];
				g_auto(GStrv) items = NULL;
				if ((def->flags & HERALD_CONFIG_FLAG_NOT_EMPTY) == 0)
					continue;
				items = herald_config_get_strv(self, groups[g], def->key);
				if (items[0] == NULL)
					herald_config_add_problem(
					    problems,
					    herald_config_lookup(self, groups[g], def->key),
					    groups[g],
					    def->key,
					    FALSE,
					    /* TRANSLATORS: config error */
					    g_strdup(_("must not be empty")));
			}
		}
	}
	return problems;
}

/* `group:key` of restart-only keys whose effective values differ */
GPtrArray *
herald_config_diff_restart(HeraldConfig *self, HeraldConfig *other)
{
	GPtrArray *changed = g_ptr_array_new_with_free_func(g_free);
	g_return_val_if_fail(HERALD_IS_CONFIG(self), changed);
	g_return_val_if_fail(HERALD_IS_CONFIG(other), changed);
	for (guint i = 0; i < self->schemas->len; i++) {
		HeraldConfigSchema *schema = g_ptr_array_index(self->schemas, i);
		if (schema->free_group || schema->group == NULL)
			continue;
		for (guint j = 0; j < schema->n_keys; j++) {
			const HeraldConfigKey *def = &schema->keys[j];
			if ((def->flags & HERALD_CONFIG_FLAG_RESTART) == 0)
				continue;
			if (g_strcmp0(herald_config_get_string(self, schema->group, def->key),
				      herald_config_get_string(other, schema->group, def->key)) != 0)
				g_ptr_array_add(changed,
						g_strdup_printf("%s:%s", schema->group, def->key));
		}
	}
	return changed;
}

HeraldConfig *
herald_config_new(void)
{
	return g_object_new(HERALD_TYPE_CONFIG, NULL);
}

static void
herald_config_init(HeraldConfig *self)
{
	self->schemas = g_ptr_array_new_with_free_func((GDestroyNotify)herald_config_schema_free);
	self->values = g_hash_table_new_full(g_str_hash,
					     g_str_equal,
					     g_free,
					     (GDestroyNotify)herald_config_value_free);
	self->defaults = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->files = g_ptr_array_new_with_free_func(g_free);
}

static void
herald_config_finalize(GObject *object)
{
	HeraldConfig *self = HERALD_CONFIG(object);
	g_ptr_array_unref(self->schemas);
	g_hash_table_unref(self->values);
	g_hash_table_unref(self->defaults);
	g_ptr_array_unref(self->files);
	G_OBJECT_CLASS(herald_config_parent_class)->finalize(object);
}

static void
herald_config_class_init(HeraldConfigClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = herald_config_finalize;
}
