/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__HERALD_H_INSIDE__) && !defined(HERALD_COMPILATION)
#error "Only <herald.h> can be included directly."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * HeraldConfigType:
 * @HERALD_CONFIG_STRING: free text
 * @HERALD_CONFIG_BOOLEAN: `true` / `false`
 * @HERALD_CONFIG_UINT: unsigned integer within [min, max]
 * @HERALD_CONFIG_ENUM: one of the `;`-separated `choices`
 * @HERALD_CONFIG_LIST: `;`-separated list of strings; `max` (when non-zero) caps the count
 * @HERALD_CONFIG_SECRET: a secret string; it has a twin key `<key>-file` naming a
 *   file that holds it (trailing newline stripped) and is never logged
 *
 * Since: 0.1
 */
typedef enum {
	HERALD_CONFIG_STRING,
	HERALD_CONFIG_BOOLEAN,
	HERALD_CONFIG_UINT,
	HERALD_CONFIG_ENUM,
	HERALD_CONFIG_LIST,
	HERALD_CONFIG_SECRET,
} HeraldConfigType;

/**
 * HeraldConfigFlags:
 * @HERALD_CONFIG_FLAG_RESTART: the value cannot change on reload; a changed value is
 *   reported as "needs restart" and the old one stays in force
 * @HERALD_CONFIG_FLAG_NOT_EMPTY: an empty value is an error
 *
 * Since: 0.1
 */
typedef enum {
	HERALD_CONFIG_FLAG_NONE = 0,
	HERALD_CONFIG_FLAG_RESTART = 1 << 0,
	HERALD_CONFIG_FLAG_NOT_EMPTY = 1 << 1,
} HeraldConfigFlags;

/**
 * HeraldConfigKey:
 *
 * One key of a group's schema. Every key has a default in code (`default_value`,
 * written as in the file; %NULL means empty) and a one-line English description
 * used for `herald.conf(5)` and `--check-config`.
 *
 * Since: 0.1
 */
typedef struct {
	const gchar *key;
	HeraldConfigType type;
	const gchar *default_value;
	guint64 min;
	guint64 max;
	const gchar *choices;
	HeraldConfigFlags flags;
	const gchar *description;
} HeraldConfigKey;

/**
 * HeraldConfigProblem:
 *
 * One located configuration error: `file` (a path, or `environment` for
 * `HERALD_*` overrides), `group`, `key` (either may be %NULL) and a translated
 * `message`. herald_config_problem_to_string() formats it as `file:group:key: message`.
 *
 * Since: 0.1
 */
typedef struct {
	gchar *file;
	gchar *group;
	gchar *key;
	gchar *message;
	gboolean warning;
} HeraldConfigProblem;

void
herald_config_problem_free(HeraldConfigProblem *problem);
gchar *
herald_config_problem_to_string(const HeraldConfigProblem *problem);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldConfigProblem, herald_config_problem_free)

#define HERALD_TYPE_CONFIG (herald_config_get_type())
G_DECLARE_FINAL_TYPE(HeraldConfig, herald_config, HERALD, CONFIG, GObject)

HeraldConfig *
herald_config_new(void);

/* schema: call before herald_config_load() */
void
herald_config_add_schema(HeraldConfig *self,
			 const gchar *group,
			 const HeraldConfigKey *keys,
			 guint n_keys);
void
herald_config_add_free_group(HeraldConfig *self,
			     const gchar *group,
			     HeraldConfigType value_type,
			     const gchar *description);
void
herald_config_add_group_prefix(HeraldConfig *self,
			       const gchar *prefix,
			       const HeraldConfigKey *keys,
			       guint n_keys);
void
herald_config_set_default(HeraldConfig *self,
			  const gchar *group,
			  const gchar *key,
			  const gchar *value);

/* loading: main file, then drop-ins (*.conf in lexical order), then HERALD_<GROUP>_<KEY> */
gboolean
herald_config_load(HeraldConfig *self,
		   const gchar *main_file,
		   const gchar *dropin_dir,
		   GError **error);
gboolean
herald_config_load_data(HeraldConfig *self, const gchar *data, GError **error);
void
herald_config_set_strict(HeraldConfig *self, gboolean strict);
GPtrArray *
herald_config_validate(HeraldConfig *self);
GPtrArray *
herald_config_get_files(HeraldConfig *self);

/* typed getters; values were validated, so they return the default on bad input */
const gchar *
herald_config_get_string(HeraldConfig *self, const gchar *group, const gchar *key);
gboolean
herald_config_get_boolean(HeraldConfig *self, const gchar *group, const gchar *key);
guint64
herald_config_get_uint64(HeraldConfig *self, const gchar *group, const gchar *key);
gchar **
herald_config_get_strv(HeraldConfig *self, const gchar *group, const gchar *key);
gchar *
herald_config_get_secret(HeraldConfig *self,
			 const gchar *group,
			 const gchar *key,
			 GError **error);
gboolean
herald_config_has_key(HeraldConfig *self, const gchar *group, const gchar *key);
gchar *
herald_config_get_location(HeraldConfig *self, const gchar *group, const gchar *key);
const gchar *
herald_config_get_origin(HeraldConfig *self, const gchar *group, const gchar *key);
gchar **
herald_config_get_groups(HeraldConfig *self, const gchar *prefix);
gchar **
herald_config_get_keys(HeraldConfig *self, const gchar *group);
GPtrArray *
herald_config_diff_restart(HeraldConfig *self, HeraldConfig *other);
gchar *
herald_config_env_name(const gchar *group, const gchar *key);

G_END_DECLS
