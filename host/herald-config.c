/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "herald-config.h"
#include "herald-error.h"
#include "herald-file-private.h"

/* where values of herald_config_load_data() come from */
#define HERALD_CONFIG_ORIGIN_INLINE "(inline)"

/* a secret is a key or a password, never a document */
#define HERALD_CONFIG_SECRET_MAX_BYTES (64 * 1024)

/* "did you mean" only for near misses */
#define HERALD_CONFIG_SUGGEST_MAX_DISTANCE 2

typedef struct {
	gchar *group;		     /* (nullable): NULL for a prefix schema */
	gchar *prefix;		     /* (nullable) */
	const HeraldConfigKey *keys; /* (unowned) (array length=n_keys): static tables */
	guint n_keys;
	gboolean free_group;
	HeraldConfigType value_type;
	gchar *description; /* (nullable) */
} HeraldConfigSchema;

typedef struct {
	gchar *raw;	     /* as written: GKeyFile escapes intact unless @literal */
	gchar *str;	     /* (nullable): unescaped; NULL when @raw has a bad escape */
	gchar *escape_error; /* (nullable): why @str is NULL, translated */
	gchar *origin;	     /* (nullable): a path, "(inline)" or "environment(VAR)";
				NULL for defaults */
	gboolean literal;    /* from the environment: no escapes at all */
} HeraldConfigValue;

/* what the schemas say about one group:key */
typedef struct {
	const HeraldConfigKey *def;	       /* (nullable) */
	gboolean is_file;		       /* @def is the secret whose `<key>-file` this is */
	const HeraldConfigSchema *free_schema; /* (nullable): any key allowed */
} HeraldConfigLookup;

struct _HeraldConfig {
	GObject parent_instance;
	GPtrArray *schemas; /* (element-type HeraldConfigSchema) in registration order */
	/* each of these maps group → (key → HeraldConfigValue) */
	GHashTable *file_values;     /* main file, then drop-ins: later files win */
	GHashTable *env_values;	     /* HERALD_<GROUP>_<KEY>, rebuilt by apply_env() */
	GHashTable *defaults;	     /* herald_config_set_default() */
	GHashTable *schema_defaults; /* cache of HeraldConfigKey.default_value, parsed */
	GHashTable *file_groups;     /* (element-type utf8 utf8): group → first file naming it */
	GPtrArray *files;	     /* (element-type filename) in load order */
	gboolean strict;	     /* inline secrets in files others can read are errors */
};

G_DEFINE_FINAL_TYPE(HeraldConfig, herald_config, G_TYPE_OBJECT)

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
	g_free(value->raw);
	g_free(value->str);
	g_free(value->escape_error);
	g_free(value->origin);
	g_free(value);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldConfigValue, herald_config_value_free)

/**
 * herald_config_problem_free:
 * @problem: (nullable): a problem
 *
 * Frees a problem returned by herald_config_validate().
 *
 * Since: 0.1
 */
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

/**
 * herald_config_problem_to_string:
 * @problem: a problem
 *
 * Formats @problem as `file:group:key: message`, leaving out the parts that are
 * not known: `file:group: message`, `group:key: message`, `file: message`.
 *
 * Returns: (transfer full): a single line
 *
 * Since: 0.1
 */
gchar *
herald_config_problem_to_string(const HeraldConfigProblem *problem)
{
	const gchar *parts[3];
	g_autoptr(GString) str = g_string_new(NULL);

	g_return_val_if_fail(problem != NULL, NULL);

	parts[0] = problem->file;
	parts[1] = problem->group;
	parts[2] = problem->key;
	for (guint i = 0; i < G_N_ELEMENTS(parts); i++) {
		if (parts[i] == NULL)
			continue;
		if (str->len > 0)
			g_string_append_c(str, ':');
		g_string_append(str, parts[i]);
	}
	if (str->len > 0)
		g_string_append(str, ": ");
	g_string_append(str, problem->message != NULL ? problem->message : "");
	return g_string_free(g_steal_pointer(&str), FALSE);
}

/* escapes and lists */

/* GKeyFile's escapes: \s \n \t \r \\, and \; inside a list item */
static gboolean
herald_config_unescape_char(gchar c, gboolean in_list, gchar *out)
{
	switch (c) {
	case 's':
		*out = ' ';
		return TRUE;
	case 'n':
		*out = '\n';
		return TRUE;
	case 't':
		*out = '\t';
		return TRUE;
	case 'r':
		*out = '\r';
		return TRUE;
	case '\\':
		*out = '\\';
		return TRUE;
	case ';':
		*out = ';';
		return in_list;
	default:
		return FALSE;
	}
}

/* @p points at the backslash of a sequence herald_config_unescape_char() refused */
static void
herald_config_set_escape_error(const gchar *p, GError **error)
{
	g_autofree gchar *sequence = NULL;
	gint len = 2;

	if (p[1] == '\0') {
		g_set_error_literal(
		    error,
		    HERALD_ERROR,
		    HERALD_ERROR_CONFIG,
		    /* TRANSLATORS: config value error */
		    _("the value ends with a lone backslash (write \\\\ for a backslash)"));
		return;
	}
	/* show the whole character after the backslash, not half of it */
	while (len < 5 && ((guchar)p[len] & 0xC0) == 0x80)
		len++;
	sequence = g_strndup(p, len);
	g_set_error(error,
		    HERALD_ERROR,
		    HERALD_ERROR_CONFIG,
		    /* TRANSLATORS: config value error; %s is e.g. \q */
		    _("'%s' is not a valid escape sequence (write \\\\ for a backslash)"),
		    sequence);
}

static gchar *
herald_config_unescape(const gchar *raw, GError **error)
{
	g_autoptr(GString) str = g_string_sized_new(strlen(raw));

	for (const gchar *p = raw; *p != '\0'; p++) {
		gchar c = '\0';
		if (*p != '\\') {
			g_string_append_c(str, *p);
			continue;
		}
		if (!herald_config_unescape_char(p[1], FALSE, &c)) {
			herald_config_set_escape_error(p, error);
			return NULL;
		}
		g_string_append_c(str, c);
		p++;
	}
	return g_string_free(g_steal_pointer(&str), FALSE);
}

static void
herald_config_list_add_item(GPtrArray *items, GString *item)
{
	g_autofree gchar *text = g_strstrip(g_strdup(item->str));
	if (text[0] != '\0')
		g_ptr_array_add(items, g_steal_pointer(&text));
	g_string_truncate(item, 0);
}

/* the items of a `;` list: escapes resolved (none for @literal values), whitespace
 * around items trimmed, empty items dropped; without @error a bad escape is kept
 * as written */
static gchar **
herald_config_split_list(const gchar *raw, gboolean literal, GError **error)
{
	g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GString) item = g_string_new(NULL);

	for (const gchar *p = raw != NULL ? raw : ""; TRUE; p++) {
		gchar c = '\0';
		if (*p == '\0') {
			herald_config_list_add_item(items, item);
			break;
		}
		if (*p == ';') {
			herald_config_list_add_item(items, item);
			continue;
		}
		if (*p == '\\' && !literal) {
			if (herald_config_unescape_char(p[1], TRUE, &c)) {
				g_string_append_c(item, c);
				p++;
				continue;
			}
			if (error != NULL) {
				herald_config_set_escape_error(p, error);
				return NULL;
			}
		}
		g_string_append_c(item, *p);
	}
	g_ptr_array_add(items, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&items), FALSE);
}

static HeraldConfigValue *
herald_config_value_new(const gchar *raw, const gchar *origin, gboolean literal)
{
	g_autoptr(HeraldConfigValue) value = g_new0(HeraldConfigValue, 1);

	value->raw = g_strdup(raw);
	value->origin = g_strdup(origin);
	value->literal = literal;
	if (literal) {
		value->str = g_strdup(raw);
	} else {
		g_autoptr(GError) error_local = NULL;
		value->str = herald_config_unescape(raw, &error_local);
		if (value->str == NULL)
			value->escape_error = g_strdup(error_local->message);
	}
	return g_steal_pointer(&value);
}

/* the text a getter hands out: lists keep their separators and escapes */
static const gchar *
herald_config_value_get_text(const HeraldConfigValue *value, HeraldConfigType type)
{
	if (type == HERALD_CONFIG_LIST || value->str == NULL)
		return value->raw;
	return value->str;
}

/* group → key → value tables */

static GHashTable *
herald_config_values_new(void)
{
	return g_hash_table_new_full(g_str_hash,
				     g_str_equal,
				     g_free,
				     (GDestroyNotify)g_hash_table_unref);
}

static HeraldConfigValue *
herald_config_values_lookup(GHashTable *values, const gchar *group, const gchar *key)
{
	GHashTable *keys = g_hash_table_lookup(values, group);
	if (keys == NULL)
		return NULL;
	return g_hash_table_lookup(keys, key);
}

static void
herald_config_values_insert(GHashTable *values,
			    const gchar *group,
			    const gchar *key,
			    HeraldConfigValue *value /* (transfer full) */)
{
	GHashTable *keys = g_hash_table_lookup(values, group);
	if (keys == NULL) {
		keys = g_hash_table_new_full(g_str_hash,
					     g_str_equal,
					     g_free,
					     (GDestroyNotify)herald_config_value_free);
		g_hash_table_insert(values, g_strdup(group), keys);
	}
	g_hash_table_insert(keys, g_strdup(key), value);
}

/* adds the keys of @group in @values to the set @keys */
static void
herald_config_values_collect_keys(GHashTable *values, const gchar *group, GHashTable *keys)
{
	GHashTable *table = g_hash_table_lookup(values, group);
	GHashTableIter iter;
	gpointer key = NULL;

	if (table == NULL)
		return;
	g_hash_table_iter_init(&iter, table);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_hash_table_add(keys, g_strdup(key));
}

/* adds the groups of @table (keyed by group name) to the set @groups */
static void
herald_config_collect_table_keys(GHashTable *table, GHashTable *groups)
{
	GHashTableIter iter;
	gpointer group = NULL;

	g_hash_table_iter_init(&iter, table);
	while (g_hash_table_iter_next(&iter, &group, NULL))
		g_hash_table_add(groups, g_strdup(group));
}

static gint
herald_config_strcmp(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* the members of a string set, sorted, as a %NULL-terminated array */
static gchar **
herald_config_set_to_strv(GHashTable *set)
{
	g_autoptr(GPtrArray) array = g_ptr_array_new_with_free_func(g_free);
	GHashTableIter iter;
	gpointer member = NULL;

	g_hash_table_iter_init(&iter, set);
	while (g_hash_table_iter_next(&iter, &member, NULL))
		g_ptr_array_add(array, g_strdup(member));
	g_ptr_array_sort(array, herald_config_strcmp);
	g_ptr_array_add(array, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&array), FALSE);
}

/* schemas */

static gboolean
herald_config_schema_covers(const HeraldConfigSchema *schema, const gchar *group)
{
	/* `[route ]` has no name, so it is not a route */
	if (schema->prefix != NULL)
		return g_str_has_prefix(group, schema->prefix) &&
		       group[strlen(schema->prefix)] != '\0';
	return g_strcmp0(schema->group, group) == 0;
}

static gboolean
herald_config_group_is_known(HeraldConfig *self, const gchar *group)
{
	for (guint i = 0; i < self->schemas->len; i++) {
		if (herald_config_schema_covers(g_ptr_array_index(self->schemas, i), group))
			return TRUE;
	}
	return FALSE;
}

static gboolean
herald_config_key_is_file_twin(const HeraldConfigKey *def, const gchar *key)
{
	gsize len = strlen(def->key);
	return def->type == HERALD_CONFIG_SECRET && strncmp(key, def->key, len) == 0 &&
	       g_strcmp0(key + len, "-file") == 0;
}

/* what the schemas covering @group say about @key; FALSE when the key is unknown */
static gboolean
herald_config_find(HeraldConfig *self,
		   const gchar *group,
		   const gchar *key,
		   HeraldConfigLookup *lookup)
{
	memset(lookup, 0, sizeof(*lookup));

	/* exact names first, so a schema may declare its own key ending in -file */
	for (guint i = 0; i < self->schemas->len; i++) {
		const HeraldConfigSchema *schema = g_ptr_array_index(self->schemas, i);
		if (schema->free_group || !herald_config_schema_covers(schema, group))
			continue;
		for (guint j = 0; j < schema->n_keys; j++) {
			if (g_strcmp0(schema->keys[j].key, key) == 0) {
				lookup->def = &schema->keys[j];
				return TRUE;
			}
		}
	}
	for (guint i = 0; i < self->schemas->len; i++) {
		const HeraldConfigSchema *schema = g_ptr_array_index(self->schemas, i);
		if (schema->free_group || !herald_config_schema_covers(schema, group))
			continue;
		for (guint j = 0; j < schema->n_keys; j++) {
			if (herald_config_key_is_file_twin(&schema->keys[j], key)) {
				lookup->def = &schema->keys[j];
				lookup->is_file = TRUE;
				return TRUE;
			}
		}
	}
	for (guint i = 0; i < self->schemas->len; i++) {
		const HeraldConfigSchema *schema = g_ptr_array_index(self->schemas, i);
		if (schema->free_group && herald_config_schema_covers(schema, group)) {
			lookup->free_schema = schema;
			return TRUE;
		}
	}
	return FALSE;
}

static HeraldConfigType
herald_config_lookup_get_type(const HeraldConfigLookup *lookup)
{
	if (lookup->is_file)
		return HERALD_CONFIG_STRING;
	if (lookup->def != NULL)
		return lookup->def->type;
	if (lookup->free_schema != NULL)
		return lookup->free_schema->value_type;
	return HERALD_CONFIG_STRING;
}

/* typed values: a bad one falls back to the default in the getters */
static gboolean
herald_config_type_is_scalar(HeraldConfigType type)
{
	return type == HERALD_CONFIG_BOOLEAN || type == HERALD_CONFIG_UINT ||
	       type == HERALD_CONFIG_ENUM;
}

/* like GKeyFile, which also takes 1 and 0 */
static gboolean
herald_config_parse_boolean(const gchar *text, gboolean *out)
{
	if (g_strcmp0(text, "true") == 0 || g_strcmp0(text, "1") == 0) {
		*out = TRUE;
		return TRUE;
	}
	if (g_strcmp0(text, "false") == 0 || g_strcmp0(text, "0") == 0) {
		*out = FALSE;
		return TRUE;
	}
	return FALSE;
}

/* max = 0 means no upper limit, as for lists */
static guint64
herald_config_key_get_max(const HeraldConfigKey *def)
{
	if (def == NULL || def->max == 0)
		return G_MAXUINT64;
	return def->max;
}

/* NULL when @text suits a scalar @type, else a translated reason */
static gchar *
herald_config_check_scalar(HeraldConfigType type, const HeraldConfigKey *def, const gchar *text)
{
	switch (type) {
	case HERALD_CONFIG_BOOLEAN: {
		gboolean flag = FALSE;
		if (!herald_config_parse_boolean(text, &flag))
			/* TRANSLATORS: config value error; %s is the value */
			return g_strdup_printf(_("'%s' is not a boolean (use true or false)"),
					       text);
		return NULL;
	}
	case HERALD_CONFIG_UINT: {
		guint64 min = def != NULL ? def->min : 0;
		guint64 max = herald_config_key_get_max(def);
		guint64 number = 0;
		g_autoptr(GError) error_local = NULL;
		g_autofree gchar *min_str = NULL;
		g_autofree gchar *max_str = NULL;

		if (g_ascii_string_to_unsigned(text, 10, min, max, &number, &error_local))
			return NULL;
		min_str = g_strdup_printf("%" G_GUINT64_FORMAT, min);
		max_str = g_strdup_printf("%" G_GUINT64_FORMAT, max);
		if (g_error_matches(error_local,
				    G_NUMBER_PARSER_ERROR,
				    G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS)) {
			/* TRANSLATORS: config value error; the value, the minimum, the maximum */
			return g_strdup_printf(_("%s is out of range (%s to %s)"),
					       text,
					       min_str,
					       max_str);
		}
		/* TRANSLATORS: config value error; the value, the minimum, the maximum */
		return g_strdup_printf(_("'%s' is not a whole number from %s to %s"),
				       text,
				       min_str,
				       max_str);
	}
	case HERALD_CONFIG_ENUM: {
		const gchar *choices_str = def != NULL && def->choices != NULL ? def->choices : "";
		g_auto(GStrv) choices = g_strsplit(choices_str, ";", -1);
		g_autofree gchar *list = NULL;

		if (g_strv_contains((const gchar *const *)choices, text))
			return NULL;
		list = g_strjoinv(", ", choices);
		/* TRANSLATORS: config value error; the value, then the allowed values */
		return g_strdup_printf(_("'%s' is not one of: %s"), text, list);
	}
	default:
		return NULL;
	}
}

static gboolean
herald_config_value_is_valid(const HeraldConfigValue *value,
			     HeraldConfigType type,
			     const HeraldConfigKey *def)
{
	g_autofree gchar *reason = NULL;
	if (value->str == NULL)
		return FALSE;
	reason = herald_config_check_scalar(type, def, value->str);
	return reason == NULL;
}

/* environment */

/**
 * herald_config_env_name:
 * @group: a group, e.g. `ws-rooms` or `route solicitud`
 * @key: a key, e.g. `max-connections`
 *
 * The environment variable that overrides @group:@key: `HERALD_<GROUP>_<KEY>` in
 * upper case, with every character other than a letter or a digit (`-`, `.`,
 * space…) replaced by `_`, e.g. `HERALD_ROUTE_SOLICITUD_CHANNELS`.
 *
 * Returns: (transfer full): the variable name
 *
 * Since: 0.1
 */
gchar *
herald_config_env_name(const gchar *group, const gchar *key)
{
	g_autofree gchar *name = NULL;

	g_return_val_if_fail(group != NULL, NULL);
	g_return_val_if_fail(key != NULL, NULL);

	name = g_strdup_printf("HERALD_%s_%s", group, key);
	for (gchar *p = name; *p != '\0'; p++)
		*p = g_ascii_isalnum(*p) ? g_ascii_toupper(*p) : '_';
	return g_steal_pointer(&name);
}

static void
herald_config_apply_env_key(HeraldConfig *self, const gchar *group, const gchar *key)
{
	g_autofree gchar *name = herald_config_env_name(group, key);
	g_autofree gchar *origin = NULL;
	const gchar *text = g_getenv(name);

	if (text == NULL)
		return;
	origin = g_strdup_printf("environment(%s)", name);
	herald_config_values_insert(self->env_values,
				    group,
				    key,
				    herald_config_value_new(text, origin, TRUE));
}

static void
herald_config_apply_env_schema(HeraldConfig *self,
			       const gchar *group,
			       const HeraldConfigSchema *schema)
{
	for (guint i = 0; i < schema->n_keys; i++) {
		const HeraldConfigKey *def = &schema->keys[i];
		herald_config_apply_env_key(self, group, def->key);
		if (def->type == HERALD_CONFIG_SECRET) {
			g_autofree gchar *twin = g_strdup_printf("%s-file", def->key);
			herald_config_apply_env_key(self, group, twin);
		}
	}
}

/* rebuilds the environment layer: every declared key of every fixed group, and of
 * every group (from files or runtime defaults) that a prefix schema covers; it
 * runs after each change of schemas, defaults or files, so it always wins */
static void
herald_config_apply_env(HeraldConfig *self)
{
	g_autoptr(GHashTable) set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_auto(GStrv) groups = NULL;

	herald_config_collect_table_keys(self->file_groups, set);
	herald_config_collect_table_keys(self->defaults, set);
	groups = herald_config_set_to_strv(set);

	g_hash_table_remove_all(self->env_values);
	for (guint i = 0; i < self->schemas->len; i++) {
		const HeraldConfigSchema *schema = g_ptr_array_index(self->schemas, i);
		if (schema->free_group)
			continue;
		if (schema->group != NULL) {
			herald_config_apply_env_schema(self, schema->group, schema);
			continue;
		}
		for (guint j = 0; groups[j] != NULL; j++) {
			if (herald_config_schema_covers(schema, groups[j]))
				herald_config_apply_env_schema(self, groups[j], schema);
		}
	}
}

/* schema registration */

/**
 * herald_config_add_schema:
 * @group: a group name, e.g. `host` or a plugin name
 * @keys: (array length=n_keys): the keys; not copied, so normally a static table
 * @n_keys: the number of @keys
 *
 * Declares the keys of @group. A key of type %HERALD_CONFIG_SECRET also declares
 * its `<key>-file` twin. Environment overrides of the declared keys apply from
 * now on, also when the files were loaded before.
 *
 * Since: 0.1
 */
void
herald_config_add_schema(HeraldConfig *self,
			 const gchar *group,
			 const HeraldConfigKey *keys,
			 guint n_keys)
{
	HeraldConfigSchema *schema;

	g_return_if_fail(HERALD_IS_CONFIG(self));
	g_return_if_fail(group != NULL);
	g_return_if_fail(keys != NULL || n_keys == 0);

	schema = g_new0(HeraldConfigSchema, 1);
	schema->group = g_strdup(group);
	schema->keys = keys;
	schema->n_keys = n_keys;
	g_ptr_array_add(self->schemas, schema);
	herald_config_apply_env(self);
}

/**
 * herald_config_add_free_group:
 * @group: a group name, e.g. `ws-rooms.roles`
 * @value_type: the type every value must have
 * @description: (nullable): one line of English for the documentation
 *
 * Declares a group whose keys are chosen by the user (a table such as role →
 * room); each value is checked against @value_type.
 *
 * Since: 0.1
 */
void
herald_config_add_free_group(HeraldConfig *self,
			     const gchar *group,
			     HeraldConfigType value_type,
			     const gchar *description)
{
	HeraldConfigSchema *schema;

	g_return_if_fail(HERALD_IS_CONFIG(self));
	g_return_if_fail(group != NULL);

	schema = g_new0(HeraldConfigSchema, 1);
	schema->group = g_strdup(group);
	schema->free_group = TRUE;
	schema->value_type = value_type;
	schema->description = g_strdup(description);
	g_ptr_array_add(self->schemas, schema);
}

/**
 * herald_config_add_group_prefix:
 * @prefix: the start of the group names, e.g. `"route "`
 * @keys: (array length=n_keys): the keys; not copied, so normally a static table
 * @n_keys: the number of @keys
 *
 * Declares the keys of every group named @prefix followed by at least one
 * character, such as `[route solicitud]`.
 *
 * Since: 0.1
 */
void
herald_config_add_group_prefix(HeraldConfig *self,
			       const gchar *prefix,
			       const HeraldConfigKey *keys,
			       guint n_keys)
{
	HeraldConfigSchema *schema;

	g_return_if_fail(HERALD_IS_CONFIG(self));
	g_return_if_fail(prefix != NULL && prefix[0] != '\0');
	g_return_if_fail(keys != NULL || n_keys == 0);

	schema = g_new0(HeraldConfigSchema, 1);
	schema->prefix = g_strdup(prefix);
	schema->keys = keys;
	schema->n_keys = n_keys;
	g_ptr_array_add(self->schemas, schema);
	herald_config_apply_env(self);
}

/**
 * herald_config_set_default:
 * @group: a group
 * @key: a key
 * @value: (nullable): the new default, written as in the file; %NULL goes back
 *   to the schema's default
 *
 * Replaces the default of @group:@key at runtime; files and the environment still
 * win. A default in a group that only a prefix schema covers makes that group
 * exist, so herald_config_get_groups() lists it (shipped routes).
 *
 * Since: 0.1
 */
void
herald_config_set_default(HeraldConfig *self,
			  const gchar *group,
			  const gchar *key,
			  const gchar *value)
{
	g_return_if_fail(HERALD_IS_CONFIG(self));
	g_return_if_fail(group != NULL);
	g_return_if_fail(key != NULL);

	if (value == NULL) {
		GHashTable *keys = g_hash_table_lookup(self->defaults, group);
		if (keys != NULL) {
			g_hash_table_remove(keys, key);
			if (g_hash_table_size(keys) == 0)
				g_hash_table_remove(self->defaults, group);
		}
	} else {
		herald_config_values_insert(self->defaults,
					    group,
					    key,
					    herald_config_value_new(value, NULL, FALSE));
	}
	herald_config_apply_env(self);
}

/* loading */

/* GKeyFile quotes the offending line but not its number: find the shortest run
 * of whole lines that fails to parse (parse errors are sticky, so bisect) */
static guint
herald_config_find_error_line(const gchar *contents, gsize len)
{
	g_autoptr(GArray) ends = g_array_new(FALSE, FALSE, sizeof(gsize));
	guint lo = 0;
	guint hi;

	for (gsize i = 0; i < len; i++) {
		if (contents[i] == '\n') {
			gsize end = i + 1;
			g_array_append_val(ends, end);
		}
	}
	if (len > 0 && contents[len - 1] != '\n')
		g_array_append_val(ends, len);
	if (ends->len == 0)
		return 0;

	/* invariant: the first hi + 1 lines fail */
	hi = ends->len - 1;
	{
		g_autoptr(GKeyFile) kf = g_key_file_new();
		if (g_key_file_load_from_data(kf, contents, len, G_KEY_FILE_NONE, NULL))
			return 0;
	}
	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		g_autoptr(GKeyFile) kf = g_key_file_new();
		if (g_key_file_load_from_data(kf,
					      contents,
					      g_array_index(ends, gsize, mid),
					      G_KEY_FILE_NONE,
					      NULL))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo + 1;
}

static void
herald_config_set_parse_error(GError **error, const gchar *origin, guint line, const gchar *reason)
{
	if (line > 0) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    "%s:%u: %s",
			    origin,
			    line,
			    reason);
		return;
	}
	g_set_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG, "%s: %s", origin, reason);
}

static GKeyFile *
herald_config_parse_file(const gchar *filename, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) error_local = NULL;
	guint line = 0;

	if (g_key_file_load_from_file(kf, filename, G_KEY_FILE_NONE, &error_local))
		return g_steal_pointer(&kf);
	if (error_local->domain == G_KEY_FILE_ERROR) {
		g_autofree gchar *contents = NULL;
		gsize len = 0;
		if (g_file_get_contents(filename, &contents, &len, NULL))
			line = herald_config_find_error_line(contents, len);
	}
	herald_config_set_parse_error(error, filename, line, error_local->message);
	return NULL;
}

/* `*.conf` in @dirname, in lexical order; a missing directory has none */
static gboolean
herald_config_add_dropins(const gchar *dirname, GPtrArray *filenames, GError **error)
{
	g_autoptr(GDir) dir = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const gchar *name;

	dir = g_dir_open(dirname, 0, &error_local);
	if (dir == NULL) {
		if (g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return TRUE;
		/* GLib's message names the directory */
		g_set_error_literal(error, HERALD_ERROR, HERALD_ERROR_CONFIG, error_local->message);
		return FALSE;
	}
	while ((name = g_dir_read_name(dir)) != NULL) {
		/* editors and package managers leave .swp, .dpkg-old… beside them */
		if (name[0] == '.' || !g_str_has_suffix(name, ".conf"))
			continue;
		g_ptr_array_add(names, g_strdup(name));
	}
	g_ptr_array_sort(names, herald_config_strcmp);
	for (guint i = 0; i < names->len; i++)
		g_ptr_array_add(filenames,
				g_build_filename(dirname, g_ptr_array_index(names, i), NULL));
	return TRUE;
}

static void
herald_config_merge(HeraldConfig *self, GKeyFile *kf, const gchar *origin)
{
	g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);

	for (guint i = 0; groups[i] != NULL; i++) {
		g_auto(GStrv) keys = g_key_file_get_keys(kf, groups[i], NULL, NULL);
		if (!g_hash_table_contains(self->file_groups, groups[i]))
			g_hash_table_insert(self->file_groups,
					    g_strdup(groups[i]),
					    g_strdup(origin));
		for (guint j = 0; keys != NULL && keys[j] != NULL; j++) {
			g_autofree gchar *raw = g_key_file_get_value(kf, groups[i], keys[j], NULL);
			if (raw == NULL)
				continue;
			herald_config_values_insert(self->file_values,
						    groups[i],
						    keys[j],
						    herald_config_value_new(raw, origin, FALSE));
		}
	}
}

/**
 * herald_config_load:
 * @main_file: (nullable): the main file; %NULL for the defaults only
 * @dropin_dir: (nullable): a directory whose `*.conf` files are read after
 *   @main_file in lexical order (later keys win); it may be missing
 * @error: a #GError, or %NULL
 *
 * Reads the files, then applies the `HERALD_<GROUP>_<KEY>` environment
 * overrides. Nothing changes unless every file parses. Values are not checked
 * here: see herald_config_validate().
 *
 * Returns: %FALSE with %HERALD_ERROR_CONFIG when a file cannot be read or
 *   parsed; the message starts with `path:line: ` (or `path: `)
 *
 * Since: 0.1
 */
gboolean
herald_config_load(HeraldConfig *self,
		   const gchar *main_file,
		   const gchar *dropin_dir,
		   GError **error)
{
	g_autoptr(GPtrArray) filenames = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) keyfiles =
	    g_ptr_array_new_with_free_func((GDestroyNotify)g_key_file_unref);

	g_return_val_if_fail(HERALD_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (main_file != NULL)
		g_ptr_array_add(filenames, g_strdup(main_file));
	if (dropin_dir != NULL && !herald_config_add_dropins(dropin_dir, filenames, error))
		return FALSE;

	/* parse everything before touching anything */
	for (guint i = 0; i < filenames->len; i++) {
		GKeyFile *kf = herald_config_parse_file(g_ptr_array_index(filenames, i), error);
		if (kf == NULL)
			return FALSE;
		g_ptr_array_add(keyfiles, kf);
	}
	for (guint i = 0; i < filenames->len; i++) {
		const gchar *filename = g_ptr_array_index(filenames, i);
		herald_config_merge(self, g_ptr_array_index(keyfiles, i), filename);
		g_ptr_array_add(self->files, g_strdup(filename));
	}
	herald_config_apply_env(self);
	return TRUE;
}

/**
 * herald_config_load_data:
 * @data: the text of a configuration file
 * @error: a #GError, or %NULL
 *
 * Like herald_config_load() with @data as the main file, located as `(inline)`.
 *
 * Returns: %FALSE with %HERALD_ERROR_CONFIG when @data cannot be parsed
 *
 * Since: 0.1
 */
gboolean
herald_config_load_data(HeraldConfig *self, const gchar *data, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) error_local = NULL;

	g_return_val_if_fail(HERALD_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(data != NULL, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	if (!g_key_file_load_from_data(kf, data, -1, G_KEY_FILE_NONE, &error_local)) {
		herald_config_set_parse_error(error,
					      HERALD_CONFIG_ORIGIN_INLINE,
					      herald_config_find_error_line(data, strlen(data)),
					      error_local->message);
		return FALSE;
	}
	herald_config_merge(self, kf, HERALD_CONFIG_ORIGIN_INLINE);
	herald_config_apply_env(self);
	return TRUE;
}

/**
 * herald_config_get_files:
 *
 * Returns: (transfer none) (element-type filename): the files read, in order
 *
 * Since: 0.1
 */
GPtrArray *
herald_config_get_files(HeraldConfig *self)
{
	g_return_val_if_fail(HERALD_IS_CONFIG(self), NULL);
	return self->files;
}

/* values */

/* set in a file or the environment, the environment winning */
static HeraldConfigValue *
herald_config_get_explicit(HeraldConfig *self, const gchar *group, const gchar *key)
{
	HeraldConfigValue *value = herald_config_values_lookup(self->env_values, group, key);
	if (value != NULL)
		return value;
	return herald_config_values_lookup(self->file_values, group, key);
}

static HeraldConfigValue *
herald_config_get_schema_default(HeraldConfig *self,
				 const gchar *group,
				 const gchar *key,
				 const HeraldConfigLookup *lookup)
{
	HeraldConfigValue *value;

	if (lookup->def == NULL || lookup->is_file || lookup->def->default_value == NULL)
		return NULL;
	value = herald_config_values_lookup(self->schema_defaults, group, key);
	if (value == NULL) {
		value = herald_config_value_new(lookup->def->default_value, NULL, FALSE);
		herald_config_values_insert(self->schema_defaults, group, key, value);
	}
	return value;
}

/* in order of precedence: explicit, runtime default, schema default */
static void
herald_config_get_candidates(HeraldConfig *self,
			     const gchar *group,
			     const gchar *key,
			     const HeraldConfigLookup *lookup,
			     HeraldConfigValue *candidates[3])
{
	candidates[0] = herald_config_get_explicit(self, group, key);
	candidates[1] = herald_config_values_lookup(self->defaults, group, key);
	candidates[2] = herald_config_get_schema_default(self, group, key, lookup);
}

/* the value in force, valid for its type where a valid one exists */
static const HeraldConfigValue *
herald_config_get_effective(HeraldConfig *self,
			    const gchar *group,
			    const gchar *key,
			    HeraldConfigType *type)
{
	HeraldConfigLookup lookup;
	HeraldConfigValue *candidates[3];

	herald_config_find(self, group, key, &lookup);
	*type = herald_config_lookup_get_type(&lookup);
	herald_config_get_candidates(self, group, key, &lookup, candidates);
	for (guint i = 0; i < G_N_ELEMENTS(candidates); i++) {
		if (candidates[i] == NULL)
			continue;
		if (herald_config_type_is_scalar(*type) &&
		    !herald_config_value_is_valid(candidates[i], *type, lookup.def))
			continue;
		return candidates[i];
	}
	return NULL;
}

/**
 * herald_config_get_string:
 * @group: a group
 * @key: a key
 *
 * The value in force: the environment, else the files, else the runtime default,
 * else the schema's default. A boolean, number or enum that is not valid is
 * skipped in favour of the next one (herald_config_validate() reports it). Lists
 * come back as written, `;` and all. Keys of groups without a schema are returned
 * as written too.
 *
 * Returns: (nullable): the value, owned by @self until it is finalized; %NULL
 *   when the key is not set and has no default
 *
 * Since: 0.1
 */
const gchar *
herald_config_get_string(HeraldConfig *self, const gchar *group, const gchar *key)
{
	const HeraldConfigValue *value;
	HeraldConfigType type = HERALD_CONFIG_STRING;

	g_return_val_if_fail(HERALD_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL, NULL);
	g_return_val_if_fail(key != NULL, NULL);

	value = herald_config_get_effective(self, group, key, &type);
	if (value == NULL)
		return NULL;
	return herald_config_value_get_text(value, type);
}

/**
 * herald_config_get_boolean:
 * @group: a group
 * @key: a key
 *
 * Returns: the value in force (`true`/`1` or `false`/`0`), the default when the
 *   set value is not a boolean, %FALSE when there is none
 *
 * Since: 0.1
 */
gboolean
herald_config_get_boolean(HeraldConfig *self, const gchar *group, const gchar *key)
{
	gboolean flag = FALSE;
	const gchar *text;

	g_return_val_if_fail(HERALD_IS_CONFIG(self), FALSE);

	text = herald_config_get_string(self, group, key);
	if (text == NULL || !herald_config_parse_boolean(text, &flag))
		return FALSE;
	return flag;
}

/**
 * herald_config_get_uint64:
 * @group: a group
 * @key: a key
 *
 * Returns: the value in force, the default when the set value is not a number
 *   within the key's range, 0 when there is none
 *
 * Since: 0.1
 */
guint64
herald_config_get_uint64(HeraldConfig *self, const gchar *group, const gchar *key)
{
	guint64 number = 0;
	const gchar *text;

	g_return_val_if_fail(HERALD_IS_CONFIG(self), 0);

	text = herald_config_get_string(self, group, key);
	if (text == NULL || !g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, &number, NULL))
		return 0;
	return number;
}

/**
 * herald_config_get_strv:
 * @group: a group
 * @key: a key
 *
 * The value in force split at `;` (`\;` is a literal semicolon), each item
 * trimmed of surrounding whitespace, empty items dropped.
 *
 * Returns: (transfer full): the items, possibly none
 *
 * Since: 0.1
 */
gchar **
herald_config_get_strv(HeraldConfig *self, const gchar *group, const gchar *key)
{
	HeraldConfigLookup lookup;
	HeraldConfigValue *candidates[3];

	g_return_val_if_fail(HERALD_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL, NULL);
	g_return_val_if_fail(key != NULL, NULL);

	herald_config_find(self, group, key, &lookup);
	herald_config_get_candidates(self, group, key, &lookup, candidates);
	for (guint i = 0; i < G_N_ELEMENTS(candidates); i++) {
		if (candidates[i] != NULL)
			return herald_config_split_list(candidates[i]->raw,
							candidates[i]->literal,
							NULL);
	}
	return g_new0(gchar *, 1);
}

/* the contents of a secret file without trailing whitespace (the newline editors
 * and `echo` add); bounded, and refusing NUL bytes that would cut it short */
static gchar *
herald_config_read_secret_file(const gchar *filename, GError **error)
{
	gboolean too_big = FALSE;
	gint errsv = 0;
	g_autoptr(GBytes) bytes =
	    herald_file_read_bounded(filename, HERALD_CONFIG_SECRET_MAX_BYTES, &too_big, &errsv);
	const gchar *data;
	gsize len = 0;

	if (bytes == NULL && too_big) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: config error; a path, then a size */
			    _("secret file '%s' is larger than %u bytes"),
			    filename,
			    (guint)HERALD_CONFIG_SECRET_MAX_BYTES);
		return NULL;
	}
	if (bytes == NULL) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: config error; a path, then the OS reason */
			    _("cannot read secret file '%s': %s"),
			    filename,
			    g_strerror(errsv));
		return NULL;
	}
	data = g_bytes_get_data(bytes, &len);
	if (len > 0 && memchr(data, '\0', len) != NULL) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: config error; %s is a path */
			    _("secret file '%s' contains a NUL byte"),
			    filename);
		return NULL;
	}
	while (len > 0 && g_ascii_isspace(data[len - 1]))
		len--;
	/* an empty file is an empty secret (reported by the caller), not NULL */
	return len > 0 ? g_strndup(data, len) : g_strdup("");
}

/**
 * herald_config_get_secret:
 * @group: a group
 * @key: a key of type %HERALD_CONFIG_SECRET
 * @error: a #GError, or %NULL
 *
 * The secret: @key itself when it is set and not empty (inline or from the
 * environment), else the contents of the file named by `<key>-file`, trailing
 * whitespace removed.
 *
 * Returns: (transfer full) (nullable): the secret; %NULL without an error when
 *   neither is set, %NULL with %HERALD_ERROR_CONFIG (`file:group:key-file: reason`)
 *   when the file cannot be read
 *
 * Since: 0.1
 */
gchar *
herald_config_get_secret(HeraldConfig *self, const gchar *group, const gchar *key, GError **error)
{
	g_autofree gchar *twin = NULL;
	g_autofree gchar *secret = NULL;
	g_autoptr(GError) error_local = NULL;
	const gchar *value;
	const gchar *filename;

	g_return_val_if_fail(HERALD_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL, NULL);
	g_return_val_if_fail(key != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	value = herald_config_get_string(self, group, key);
	if (value != NULL && value[0] != '\0')
		return g_strdup(value);
	twin = g_strdup_printf("%s-file", key);
	filename = herald_config_get_string(self, group, twin);
	if (filename == NULL || filename[0] == '\0')
		return NULL;
	secret = herald_config_read_secret_file(filename, &error_local);
	if (secret == NULL) {
		g_autofree gchar *location = herald_config_get_location(self, group, twin);
		g_propagate_prefixed_error(error, g_steal_pointer(&error_local), "%s: ", location);
		return NULL;
	}
	return g_steal_pointer(&secret);
}

/**
 * herald_config_has_key:
 * @group: a group
 * @key: a key
 *
 * Returns: %TRUE when @group:@key is set in a file or the environment, not
 *   merely defaulted
 *
 * Since: 0.1
 */
gboolean
herald_config_has_key(HeraldConfig *self, const gchar *group, const gchar *key)
{
	g_return_val_if_fail(HERALD_IS_CONFIG(self), FALSE);
	g_return_val_if_fail(group != NULL, FALSE);
	g_return_val_if_fail(key != NULL, FALSE);
	return herald_config_get_explicit(self, group, key) != NULL;
}

/**
 * herald_config_get_location:
 * @group: a group
 * @key: a key
 *
 * Where the value in force was set: `file:group:key`, the file being a path,
 * `(inline)` for herald_config_load_data(), or `environment(HERALD_GROUP_KEY)`;
 * just `group:key` for a default.
 *
 * Returns: (transfer full): the location
 *
 * Since: 0.1
 */
gchar *
herald_config_get_location(HeraldConfig *self, const gchar *group, const gchar *key)
{
	HeraldConfigValue *value;

	g_return_val_if_fail(HERALD_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL, NULL);
	g_return_val_if_fail(key != NULL, NULL);

	value = herald_config_get_explicit(self, group, key);
	if (value == NULL || value->origin == NULL)
		return g_strdup_printf("%s:%s", group, key);
	return g_strdup_printf("%s:%s:%s", value->origin, group, key);
}

static const gchar *
herald_config_problem_file(HeraldConfig *self,
			   const gchar *group,
			   const HeraldConfigValue *explicit_value);

/**
 * herald_config_get_origin:
 * @group: a group
 * @key: a key
 *
 * The file (or `environment(HERALD_GROUP_KEY)`) that set the value in force,
 * else the file that holds @group; the `file` of a #HeraldConfigProblem.
 *
 * Returns: (nullable): the origin, %NULL for a default in a group no file has
 *
 * Since: 0.1
 */
const gchar *
herald_config_get_origin(HeraldConfig *self, const gchar *group, const gchar *key)
{
	g_return_val_if_fail(HERALD_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL, NULL);
	g_return_val_if_fail(key != NULL, NULL);
	return herald_config_problem_file(self, group, herald_config_get_explicit(self, group, key));
}

/* groups in files, the environment or runtime defaults, and fixed groups with
 * schema defaults */
static GHashTable *
herald_config_collect_groups(HeraldConfig *self)
{
	GHashTable *set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	herald_config_collect_table_keys(self->file_groups, set);
	herald_config_collect_table_keys(self->env_values, set);
	herald_config_collect_table_keys(self->defaults, set);
	for (guint i = 0; i < self->schemas->len; i++) {
		const HeraldConfigSchema *schema = g_ptr_array_index(self->schemas, i);
		if (schema->group == NULL || schema->free_group)
			continue;
		for (guint j = 0; j < schema->n_keys; j++) {
			if (schema->keys[j].default_value != NULL) {
				g_hash_table_add(set, g_strdup(schema->group));
				break;
			}
		}
	}
	return set;
}

/**
 * herald_config_get_groups:
 * @prefix: (nullable): only groups whose name is @prefix followed by at least one
 *   character, e.g. `"route "`
 *
 * The groups that exist: named in a file, set from the environment, given a
 * runtime default (herald_config_set_default()) or a fixed group with schema
 * defaults.
 *
 * Returns: (transfer full): the group names, sorted
 *
 * Since: 0.1
 */
gchar **
herald_config_get_groups(HeraldConfig *self, const gchar *prefix)
{
	g_autoptr(GHashTable) set = NULL;
	g_auto(GStrv) all = NULL;
	g_autoptr(GPtrArray) groups = g_ptr_array_new_with_free_func(g_free);

	g_return_val_if_fail(HERALD_IS_CONFIG(self), NULL);

	set = herald_config_collect_groups(self);
	all = herald_config_set_to_strv(set);
	for (guint i = 0; all[i] != NULL; i++) {
		if (prefix != NULL &&
		    (!g_str_has_prefix(all[i], prefix) || all[i][strlen(prefix)] == '\0'))
			continue;
		g_ptr_array_add(groups, g_strdup(all[i]));
	}
	g_ptr_array_add(groups, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&groups), FALSE);
}

/* keys set in files or the environment, or with a runtime default */
static void
herald_config_collect_set_keys(HeraldConfig *self, const gchar *group, GHashTable *keys)
{
	herald_config_values_collect_keys(self->file_values, group, keys);
	herald_config_values_collect_keys(self->env_values, group, keys);
	herald_config_values_collect_keys(self->defaults, group, keys);
}

/**
 * herald_config_get_keys:
 * @group: a group
 *
 * Returns: (transfer full): the keys of @group that are set in a file or the
 *   environment or have a default, sorted
 *
 * Since: 0.1
 */
gchar **
herald_config_get_keys(HeraldConfig *self, const gchar *group)
{
	g_autoptr(GHashTable) set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	g_return_val_if_fail(HERALD_IS_CONFIG(self), NULL);
	g_return_val_if_fail(group != NULL, NULL);

	herald_config_collect_set_keys(self, group, set);
	for (guint i = 0; i < self->schemas->len; i++) {
		const HeraldConfigSchema *schema = g_ptr_array_index(self->schemas, i);
		if (schema->free_group || !herald_config_schema_covers(schema, group))
			continue;
		for (guint j = 0; j < schema->n_keys; j++) {
			if (schema->keys[j].default_value != NULL)
				g_hash_table_add(set, g_strdup(schema->keys[j].key));
		}
	}
	return herald_config_set_to_strv(set);
}

/* validation */

static void
herald_config_add_problem(GPtrArray *problems,
			  const gchar *file,
			  const gchar *group,
			  const gchar *key,
			  gboolean warning,
			  gchar *message /* (transfer full) */)
{
	HeraldConfigProblem *problem = g_new0(HeraldConfigProblem, 1);
	problem->file = g_strdup(file);
	problem->group = g_strdup(group);
	problem->key = g_strdup(key);
	problem->message = message;
	problem->warning = warning;
	g_ptr_array_add(problems, problem);
}

/* the file to blame for group:key: where it was set, else where the group is */
static const gchar *
herald_config_problem_file(HeraldConfig *self,
			   const gchar *group,
			   const HeraldConfigValue *explicit_value)
{
	if (explicit_value != NULL)
		return explicit_value->origin;
	return g_hash_table_lookup(self->file_groups, group);
}

/* optimal string alignment: a swap of two letters is one typo */
static guint
herald_config_edit_distance(const gchar *a, const gchar *b)
{
	gsize la = strlen(a);
	gsize lb = strlen(b);
	g_autofree guint *d = g_new0(guint, (la + 1) * (lb + 1));

#define D(i, j) d[(i) * (lb + 1) + (j)]
	for (gsize i = 0; i <= la; i++)
		D(i, 0) = i;
	for (gsize j = 0; j <= lb; j++)
		D(0, j) = j;
	for (gsize i = 1; i <= la; i++) {
		for (gsize j = 1; j <= lb; j++) {
			guint cost = a[i - 1] == b[j - 1] ? 0 : 1;
			guint best =
			    MIN(MIN(D(i - 1, j) + 1, D(i, j - 1) + 1), D(i - 1, j - 1) + cost);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
				best = MIN(best, D(i - 2, j - 2) + 1);
			D(i, j) = best;
		}
	}
	return D(la, lb);
#undef D
}

static void
herald_config_suggest_consider(const gchar *key,
			       const gchar *candidate,
			       gchar **best,
			       guint *best_distance)
{
	guint distance = herald_config_edit_distance(key, candidate);
	if (distance > HERALD_CONFIG_SUGGEST_MAX_DISTANCE || distance >= strlen(candidate) ||
	    distance >= *best_distance)
		return;
	g_free(*best);
	*best = g_strdup(candidate);
	*best_distance = distance;
}

/* the declared key closest to a mistyped @key, if it is close */
static gchar *
herald_config_suggest_key(HeraldConfig *self, const gchar *group, const gchar *key)
{
	g_autofree gchar *best = NULL;
	guint best_distance = G_MAXUINT;

	for (guint i = 0; i < self->schemas->len; i++) {
		const HeraldConfigSchema *schema = g_ptr_array_index(self->schemas, i);
		if (schema->free_group || !herald_config_schema_covers(schema, group))
			continue;
		for (guint j = 0; j < schema->n_keys; j++) {
			const HeraldConfigKey *def = &schema->keys[j];
			herald_config_suggest_consider(key, def->key, &best, &best_distance);
			if (def->type == HERALD_CONFIG_SECRET) {
				g_autofree gchar *twin = g_strdup_printf("%s-file", def->key);
				herald_config_suggest_consider(key, twin, &best, &best_distance);
			}
		}
	}
	return g_steal_pointer(&best);
}

static void
herald_config_validate_unknown_key(HeraldConfig *self,
				   const gchar *group,
				   const gchar *key,
				   const HeraldConfigValue *value,
				   GPtrArray *problems)
{
	g_autofree gchar *suggestion = herald_config_suggest_key(self, group, key);
	gchar *message;

	if (suggestion != NULL) {
		/* TRANSLATORS: config error; %s is the closest valid key */
		message = g_strdup_printf(_("unknown key (did you mean '%s'?)"), suggestion);
	} else {
		/* TRANSLATORS: config error */
		message = g_strdup(_("unknown key"));
	}
	herald_config_add_problem(problems,
				  herald_config_problem_file(self, group, value),
				  group,
				  key,
				  FALSE,
				  message);
}

/* a set `<key>-file` must name a readable file */
static void
herald_config_validate_secret_file(HeraldConfig *self,
				   const gchar *group,
				   const gchar *key,
				   const HeraldConfigValue *value,
				   GPtrArray *problems)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *secret = NULL;
	const gchar *file = herald_config_problem_file(self, group, value);

	if (value == NULL)
		return;
	if (value->str == NULL) {
		herald_config_add_problem(problems,
					  file,
					  group,
					  key,
					  FALSE,
					  g_strdup(value->escape_error));
		return;
	}
	if (value->str[0] == '\0')
		return;
	secret = herald_config_read_secret_file(value->str, &error_local);
	if (secret == NULL) {
		herald_config_add_problem(problems,
					  file,
					  group,
					  key,
					  FALSE,
					  g_strdup(error_local->message));
	}
}

/* an inline secret in a file that every local user can read: the secret is no
 * longer one (a `-file` twin or mode 0640 keeps it between root and herald) */
static void
herald_config_validate_secret_mode(HeraldConfig *self,
				   const gchar *group,
				   const gchar *key,
				   GPtrArray *problems)
{
	HeraldConfigValue *value = herald_config_values_lookup(self->file_values, group, key);
	GStatBuf st;

	if (value == NULL || value->origin == NULL || value->raw == NULL || value->raw[0] == '\0' ||
	    g_strcmp0(value->origin, HERALD_CONFIG_ORIGIN_INLINE) == 0)
		return;
	if (g_stat(value->origin, &st) != 0 || (st.st_mode & S_IROTH) == 0)
		return;
	herald_config_add_problem(
	    problems,
	    value->origin,
	    group,
	    key,
	    !self->strict,
	    g_strdup_printf(
		/* TRANSLATORS: config warning; %04o is a file mode such as 0644, %s a key */
		_("a secret set inline in a file that every user can read (mode %04o): use "
		  "%s-file=, or chmod o-r the file"),
		(guint)(st.st_mode & 07777),
		key));
}

static gboolean
herald_config_is_empty(HeraldConfig *self,
		       const gchar *group,
		       const gchar *key,
		       HeraldConfigType type,
		       const HeraldConfigValue *value)
{
	if (type == HERALD_CONFIG_LIST) {
		g_auto(GStrv) items =
		    value != NULL ? herald_config_split_list(value->raw, value->literal, NULL)
				  : NULL;
		return items == NULL || items[0] == NULL;
	}
	if (type == HERALD_CONFIG_SECRET) {
		g_autofree gchar *twin = g_strdup_printf("%s-file", key);
		const gchar *filename = herald_config_get_string(self, group, twin);
		if (filename != NULL && filename[0] != '\0')
			return FALSE;
	}
	return value == NULL || herald_config_value_get_text(value, type)[0] == '\0';
}

static void
herald_config_validate_key(HeraldConfig *self,
			   const gchar *group,
			   const gchar *key,
			   const HeraldConfigLookup *lookup,
			   GPtrArray *problems)
{
	const HeraldConfigKey *def = lookup->def;
	HeraldConfigType type = herald_config_lookup_get_type(lookup);
	HeraldConfigValue *candidates[3];
	HeraldConfigValue *value = NULL;
	const gchar *file;
	gchar *reason;

	/* the value in force, valid or not: a bad default is a bug worth reporting */
	herald_config_get_candidates(self, group, key, lookup, candidates);
	for (guint i = 0; i < G_N_ELEMENTS(candidates) && value == NULL; i++)
		value = candidates[i];
	file = herald_config_problem_file(self, group, candidates[0]);

	/* an empty required value is one problem, not also a type error */
	if (def != NULL && (def->flags & HERALD_CONFIG_FLAG_NOT_EMPTY) != 0 &&
	    herald_config_is_empty(self, group, key, type, value)) {
		herald_config_add_problem(problems,
					  file,
					  group,
					  key,
					  FALSE,
					  /* TRANSLATORS: config error */
					  g_strdup(_("must not be empty")));
		return;
	}
	if (value == NULL)
		return;

	if (type == HERALD_CONFIG_LIST) {
		g_autoptr(GError) error_local = NULL;
		g_auto(GStrv) items =
		    herald_config_split_list(value->raw, value->literal, &error_local);
		if (items == NULL) {
			herald_config_add_problem(problems,
						  file,
						  group,
						  key,
						  FALSE,
						  g_strdup(error_local->message));
			return;
		}
		if (def != NULL && def->max != 0 && g_strv_length(items) > def->max) {
			g_autofree gchar *max_str = g_strdup_printf("%" G_GUINT64_FORMAT, def->max);
			herald_config_add_problem(
			    problems,
			    file,
			    group,
			    key,
			    FALSE,
			    /* TRANSLATORS: config value error; %s is the largest count allowed */
			    g_strdup_printf(_("the list has more than %s items"), max_str));
		}
		return;
	}
	if (value->str == NULL) {
		herald_config_add_problem(problems,
					  file,
					  group,
					  key,
					  FALSE,
					  g_strdup(value->escape_error));
		return;
	}
	reason = herald_config_check_scalar(type, def, value->str);
	if (reason != NULL)
		herald_config_add_problem(problems, file, group, key, FALSE, reason);
}

static void
herald_config_validate_group(HeraldConfig *self, const gchar *group, GPtrArray *problems)
{
	g_autoptr(GHashTable) set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_auto(GStrv) keys = NULL;

	/* what is written, and everything declared (required keys may be missing) */
	herald_config_values_collect_keys(self->file_values, group, set);
	herald_config_values_collect_keys(self->env_values, group, set);
	for (guint i = 0; i < self->schemas->len; i++) {
		const HeraldConfigSchema *schema = g_ptr_array_index(self->schemas, i);
		if (schema->free_group || !herald_config_schema_covers(schema, group))
			continue;
		for (guint j = 0; j < schema->n_keys; j++)
			g_hash_table_add(set, g_strdup(schema->keys[j].key));
	}
	keys = herald_config_set_to_strv(set);

	for (guint i = 0; keys[i] != NULL; i++) {
		HeraldConfigLookup lookup;
		HeraldConfigValue *value = herald_config_get_explicit(self, group, keys[i]);

		if (!herald_config_find(self, group, keys[i], &lookup)) {
			herald_config_validate_unknown_key(self, group, keys[i], value, problems);
			continue;
		}
		if (lookup.is_file) {
			herald_config_validate_secret_file(self, group, keys[i], value, problems);
			continue;
		}
		herald_config_validate_key(self, group, keys[i], &lookup, problems);
		if (herald_config_lookup_get_type(&lookup) == HERALD_CONFIG_SECRET)
			herald_config_validate_secret_mode(self, group, keys[i], problems);
	}
}

/**
 * herald_config_set_strict:
 * @strict: whether warnings about exposed secrets are errors
 *
 * In strict mode (`heraldd --strict`), herald_config_validate() reports a
 * secret set inline in a file that others can read as an error, not a warning.
 *
 * Since: 0.1
 */
void
herald_config_set_strict(HeraldConfig *self, gboolean strict)
{
	g_return_if_fail(HERALD_IS_CONFIG(self));
	self->strict = strict;
}

/**
 * herald_config_validate:
 *
 * Checks every group: unknown keys, values of the wrong type or out of range,
 * empty required values, over-long lists and unreadable `*-file` secrets are
 * errors, located where they were set; a group in a file that no schema covers
 * (a disabled plugin's) is a warning, and so is a secret key (one with a
 * `-file` twin) set inline in a file that others can read (an error when
 * strict, see herald_config_set_strict()). Problems come sorted by group, then
 * key.
 *
 * Returns: (transfer container) (element-type HeraldConfigProblem): the
 *   problems, empty when there is none
 *
 * Since: 0.1
 */
GPtrArray *
herald_config_validate(HeraldConfig *self)
{
	g_autoptr(GPtrArray) problems =
	    g_ptr_array_new_with_free_func((GDestroyNotify)herald_config_problem_free);
	g_autoptr(GHashTable) set = NULL;
	g_auto(GStrv) groups = NULL;

	g_return_val_if_fail(HERALD_IS_CONFIG(self), NULL);

	/* every fixed group too, even without defaults: its required keys may be unset */
	set = herald_config_collect_groups(self);
	for (guint i = 0; i < self->schemas->len; i++) {
		const HeraldConfigSchema *schema = g_ptr_array_index(self->schemas, i);
		if (schema->group != NULL && !schema->free_group)
			g_hash_table_add(set, g_strdup(schema->group));
	}
	groups = herald_config_set_to_strv(set);
	for (guint i = 0; groups[i] != NULL; i++) {
		const gchar *file = g_hash_table_lookup(self->file_groups, groups[i]);
		if (herald_config_group_is_known(self, groups[i])) {
			herald_config_validate_group(self, groups[i], problems);
			continue;
		}
		/* runtime defaults for a plugin that is not enabled are nobody's mistake,
		 * and so is an empty group header (the shipped herald.conf has one per
		 * plugin, every key commented out) */
		if (file != NULL &&
		    (g_str_has_prefix(groups[i], "route ") ||
		     (g_hash_table_lookup(self->file_values, groups[i]) != NULL &&
		      g_hash_table_size(g_hash_table_lookup(self->file_values, groups[i])) > 0))) {
			herald_config_add_problem(
			    problems,
			    file,
			    groups[i],
			    NULL,
			    TRUE,
			    /* TRANSLATORS: config warning */
			    g_strdup(_("group is not used by any enabled plugin")));
		}
	}
	return g_steal_pointer(&problems);
}

/**
 * herald_config_diff_restart:
 * @other: the configuration that would replace @self
 *
 * The keys flagged %HERALD_CONFIG_FLAG_RESTART (in @self's schemas) whose values
 * in force differ between @self and @other, in every group either one has.
 *
 * Returns: (transfer container) (element-type utf8): `group:key` strings, sorted
 *
 * Since: 0.1
 */
GPtrArray *
herald_config_diff_restart(HeraldConfig *self, HeraldConfig *other)
{
	g_autoptr(GPtrArray) changed = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) set = NULL;
	g_autoptr(GHashTable) set_other = NULL;
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	g_auto(GStrv) groups = NULL;

	g_return_val_if_fail(HERALD_IS_CONFIG(self), NULL);
	g_return_val_if_fail(HERALD_IS_CONFIG(other), NULL);

	set = herald_config_collect_groups(self);
	set_other = herald_config_collect_groups(other);
	herald_config_collect_table_keys(set_other, set);
	groups = herald_config_set_to_strv(set);

	for (guint i = 0; groups[i] != NULL; i++) {
		for (guint j = 0; j < self->schemas->len; j++) {
			const HeraldConfigSchema *schema = g_ptr_array_index(self->schemas, j);
			if (schema->free_group || !herald_config_schema_covers(schema, groups[i]))
				continue;
			for (guint k = 0; k < schema->n_keys; k++) {
				const HeraldConfigKey *def = &schema->keys[k];
				g_autofree gchar *name = NULL;
				if ((def->flags & HERALD_CONFIG_FLAG_RESTART) == 0)
					continue;
				if (g_strcmp0(
					herald_config_get_string(self, groups[i], def->key),
					herald_config_get_string(other, groups[i], def->key)) == 0)
					continue;
				name = g_strdup_printf("%s:%s", groups[i], def->key);
				if (g_hash_table_contains(seen, name))
					continue;
				g_hash_table_add(seen, name);
				g_ptr_array_add(changed, g_steal_pointer(&name));
			}
		}
	}
	g_ptr_array_sort(changed, herald_config_strcmp);
	return g_steal_pointer(&changed);
}

/**
 * herald_config_new:
 *
 * Returns: (transfer full): an empty configuration; add schemas, then load
 *
 * Since: 0.1
 */
HeraldConfig *
herald_config_new(void)
{
	return g_object_new(HERALD_TYPE_CONFIG, NULL);
}

static void
herald_config_init(HeraldConfig *self)
{
	self->schemas = g_ptr_array_new_with_free_func((GDestroyNotify)herald_config_schema_free);
	self->file_values = herald_config_values_new();
	self->env_values = herald_config_values_new();
	self->defaults = herald_config_values_new();
	self->schema_defaults = herald_config_values_new();
	self->file_groups = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->files = g_ptr_array_new_with_free_func(g_free);
}

static void
herald_config_finalize(GObject *object)
{
	HeraldConfig *self = HERALD_CONFIG(object);

	g_clear_pointer(&self->schemas, g_ptr_array_unref);
	g_clear_pointer(&self->file_values, g_hash_table_unref);
	g_clear_pointer(&self->env_values, g_hash_table_unref);
	g_clear_pointer(&self->defaults, g_hash_table_unref);
	g_clear_pointer(&self->schema_defaults, g_hash_table_unref);
	g_clear_pointer(&self->file_groups, g_hash_table_unref);
	g_clear_pointer(&self->files, g_ptr_array_unref);

	G_OBJECT_CLASS(herald_config_parent_class)->finalize(object);
}

static void
herald_config_class_init(HeraldConfigClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->finalize = herald_config_finalize;
}
