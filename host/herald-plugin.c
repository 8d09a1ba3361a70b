/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "herald-host.h"
#include "herald-plugin-private.h"

typedef struct {
	HeraldHost *host;     /* (not owned): outlives every plugin */
	HeraldConfig *config; /* (owned) (nullable): swapped on reload */
	gchar *name;
	GPtrArray *schema; /* (element-type HeraldPluginSchema) */
	GPtrArray *rules[HERALD_PLUGIN_RULE_LAST]; /* (element-type utf8) */
	HeraldPluginState state;
	gchar *reason;
	gboolean started;
} HeraldPluginPrivate;

G_DEFINE_TYPE_WITH_PRIVATE(HeraldPlugin, herald_plugin, G_TYPE_OBJECT)
#define GET_PRIVATE(o) (herald_plugin_get_instance_private(o))

enum { PROP_0, PROP_HOST, PROP_NAME, PROP_LAST };
enum { SIGNAL_STATE_CHANGED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST] = {0};

const gchar *
herald_plugin_state_to_string(HeraldPluginState state)
{
	switch (state) {
	case HERALD_PLUGIN_STATE_LOADED:
		return "loaded";
	case HERALD_PLUGIN_STATE_RUNNING:
		return "running";
	case HERALD_PLUGIN_STATE_DEGRADED:
		return "degraded";
	case HERALD_PLUGIN_STATE_FAILED:
		return "failed";
	case HERALD_PLUGIN_STATE_STOPPED:
		return "stopped";
	default:
		return "unknown";
	}
}

static void
herald_plugin_schema_free(HeraldPluginSchema *schema)
{
	g_free(schema->group);
	g_free(schema->description);
	g_free(schema);
}

HeraldHost *
herald_plugin_get_host(HeraldPlugin *self)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	g_return_val_if_fail(HERALD_IS_PLUGIN(self), NULL);
	return priv->host;
}

HeraldBus *
herald_plugin_get_bus(HeraldPlugin *self)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	g_return_val_if_fail(HERALD_IS_PLUGIN(self), NULL);
	return priv->host != NULL ? herald_host_get_bus(priv->host) : NULL;
}

HeraldAuth *
herald_plugin_get_auth(HeraldPlugin *self)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	g_return_val_if_fail(HERALD_IS_PLUGIN(self), NULL);
	return priv->host != NULL ? herald_host_get_auth(priv->host) : NULL;
}

HeraldConfig *
herald_plugin_get_config(HeraldPlugin *self)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	g_return_val_if_fail(HERALD_IS_PLUGIN(self), NULL);
	if (priv->config != NULL)
		return priv->config;
	return priv->host != NULL ? herald_host_get_config(priv->host) : NULL;
}

void
herald_plugin_set_config(HeraldPlugin *self, HeraldConfig *config)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	g_return_if_fail(HERALD_IS_PLUGIN(self));
	g_set_object(&priv->config, config);
}

const gchar *
herald_plugin_get_name(HeraldPlugin *self)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	g_return_val_if_fail(HERALD_IS_PLUGIN(self), NULL);
	return priv->name;
}

/**
 * herald_plugin_add_config_keys:
 * @keys: (array length=n_keys): static schema of group `[name]`; must outlive the plugin
 */
void
herald_plugin_add_config_keys(HeraldPlugin *self, const HeraldConfigKey *keys, guint n_keys)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	HeraldPluginSchema *schema = g_new0(HeraldPluginSchema, 1);
	g_return_if_fail(HERALD_IS_PLUGIN(self));
	schema->keys = keys;
	schema->n_keys = n_keys;
	g_ptr_array_add(priv->schema, schema);
}

/**
 * herald_plugin_add_config_group:
 * @suffix: the group is `[name.suffix]`
 *
 * Declares a group whose keys the user chooses (e.g. role names), each value of
 * @value_type.
 */
void
herald_plugin_add_config_group(HeraldPlugin *self,
			       const gchar *suffix,
			       HeraldConfigType value_type,
			       const gchar *description)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	HeraldPluginSchema *schema = g_new0(HeraldPluginSchema, 1);
	g_return_if_fail(HERALD_IS_PLUGIN(self));
	g_return_if_fail(suffix != NULL);
	schema->group = g_strdup(suffix);
	schema->free_group = TRUE;
	schema->value_type = value_type;
	schema->description = g_strdup(description);
	g_ptr_array_add(priv->schema, schema);
}

GPtrArray *
herald_plugin_get_config_schema(HeraldPlugin *self)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	g_return_val_if_fail(HERALD_IS_PLUGIN(self), NULL);
	return priv->schema;
}

void
herald_plugin_register_schema(HeraldPlugin *self, HeraldConfig *config)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	for (guint i = 0; i < priv->schema->len; i++) {
		HeraldPluginSchema *schema = g_ptr_array_index(priv->schema, i);
		if (schema->free_group) {
			g_autofree gchar *group = g_strdup_printf("%s.%s", priv->name, schema->group);
			herald_config_add_free_group(config,
						     group,
						     schema->value_type,
						     schema->description);
		} else {
			herald_config_add_schema(config, priv->name, schema->keys, schema->n_keys);
		}
	}
}

const gchar *
herald_plugin_get_config_string(HeraldPlugin *self, const gchar *key)
{
	return herald_config_get_string(herald_plugin_get_config(self),
					herald_plugin_get_name(self),
					key);
}

gboolean
herald_plugin_get_config_boolean(HeraldPlugin *self, const gchar *key)
{
	return herald_config_get_boolean(herald_plugin_get_config(self),
					 herald_plugin_get_name(self),
					 key);
}

guint64
herald_plugin_get_config_uint64(HeraldPlugin *self, const gchar *key)
{
	return herald_config_get_uint64(herald_plugin_get_config(self),
					herald_plugin_get_name(self),
					key);
}

gchar **
herald_plugin_get_config_strv(HeraldPlugin *self, const gchar *key)
{
	return herald_config_get_strv(herald_plugin_get_config(self),
				      herald_plugin_get_name(self),
				      key);
}

gchar *
herald_plugin_get_config_secret(HeraldPlugin *self, const gchar *key, GError **error)
{
	return herald_config_get_secret(herald_plugin_get_config(self),
					herald_plugin_get_name(self),
					key,
					error);
}

void
herald_plugin_add_rule(HeraldPlugin *self, HeraldPluginRule rule, const gchar *name)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	g_return_if_fail(HERALD_IS_PLUGIN(self));
	g_return_if_fail(rule < HERALD_PLUGIN_RULE_LAST);
	g_return_if_fail(name != NULL);
	g_ptr_array_add(priv->rules[rule], g_strdup(name));
}

GPtrArray *
herald_plugin_get_rules(HeraldPlugin *self, HeraldPluginRule rule)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	g_return_val_if_fail(HERALD_IS_PLUGIN(self), NULL);
	g_return_val_if_fail(rule < HERALD_PLUGIN_RULE_LAST, NULL);
	return priv->rules[rule];
}

HeraldPluginState
herald_plugin_get_state(HeraldPlugin *self)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	g_return_val_if_fail(HERALD_IS_PLUGIN(self), HERALD_PLUGIN_STATE_UNKNOWN);
	return priv->state;
}

const gchar *
herald_plugin_get_state_reason(HeraldPlugin *self)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	g_return_val_if_fail(HERALD_IS_PLUGIN(self), NULL);
	return priv->reason;
}

/**
 * herald_plugin_set_state:
 * @reason: (nullable): why, for degraded and failed; not translated, no secrets
 *
 * Emits `state-changed` (the host forwards it to D-Bus and `/health`).
 */
void
herald_plugin_set_state(HeraldPlugin *self, HeraldPluginState state, const gchar *reason)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	g_return_if_fail(HERALD_IS_PLUGIN(self));
	if (priv->state == state && g_strcmp0(priv->reason, reason) == 0)
		return;
	/* a failed plugin stays failed */
	if (priv->state == HERALD_PLUGIN_STATE_FAILED && state != HERALD_PLUGIN_STATE_STOPPED)
		return;
	if (state == HERALD_PLUGIN_STATE_DEGRADED || state == HERALD_PLUGIN_STATE_FAILED)
		g_warning("plugin %s: %s: %s",
			  priv->name,
			  herald_plugin_state_to_string(state),
			  reason != NULL ? reason : "no reason given");
	else
		g_info("plugin %s: %s", priv->name, herald_plugin_state_to_string(state));
	priv->state = state;
	g_free(priv->reason);
	priv->reason = g_strdup(reason);
	g_signal_emit(self, signals[SIGNAL_STATE_CHANGED], 0);
}

/**
 * herald_plugin_add_config_problem:
 * @problems: (element-type HeraldConfigProblem): the array given to @check_config
 * @key: a key of group `[name]`
 * @message: translated, without the location
 *
 * Reports a bad value located where it was set (`file:group:key: message`).
 */
void
herald_plugin_add_config_problem(HeraldPlugin *self,
				 GPtrArray *problems,
				 const gchar *key,
				 const gchar *message)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	HeraldConfigProblem *problem;
	HeraldConfig *config;

	g_return_if_fail(HERALD_IS_PLUGIN(self));
	g_return_if_fail(problems != NULL);
	g_return_if_fail(key != NULL);
	g_return_if_fail(message != NULL);

	config = herald_plugin_get_config(self);
	problem = g_new0(HeraldConfigProblem, 1);
	problem->file = config != NULL ? g_strdup(herald_config_get_origin(config, priv->name, key))
				       : NULL;
	problem->group = g_strdup(priv->name);
	problem->key = g_strdup(key);
	problem->message = g_strdup(message);
	g_ptr_array_add(problems, problem);
}

/* the host calls vfuncs only through these: skip failed plugins, prefix errors */

/* @config: the configuration to check (on reload, the candidate): the config
 * getters read it while the vfunc runs */
void
herald_plugin_runner_check_config(HeraldPlugin *self, HeraldConfig *config, GPtrArray *problems)
{
	HeraldPluginClass *klass = HERALD_PLUGIN_GET_CLASS(self);
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	g_autoptr(HeraldConfig) saved = NULL;

	if (priv->state == HERALD_PLUGIN_STATE_FAILED || klass->check_config == NULL)
		return;
	saved = priv->config != NULL ? g_object_ref(priv->config) : NULL;
	g_set_object(&priv->config, config);
	klass->check_config(self, problems);
	g_set_object(&priv->config, saved);
}

gboolean
herald_plugin_runner_startup(HeraldPlugin *self, GError **error)
{
	HeraldPluginClass *klass = HERALD_PLUGIN_GET_CLASS(self);
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	g_autoptr(GError) error_local = NULL;

	if (priv->state == HERALD_PLUGIN_STATE_FAILED)
		return TRUE;
	g_debug("plugin %s: startup", priv->name);
	if (klass->startup != NULL && !klass->startup(self, &error_local)) {
		if (error_local == NULL) {
			g_critical("plugin %s returned FALSE from startup without an error",
				   priv->name);
			g_set_error_literal(&error_local,
					    HERALD_ERROR,
					    HERALD_ERROR_FAILED,
					    "startup failed without a reason");
		}
		herald_plugin_set_state(self, HERALD_PLUGIN_STATE_FAILED, error_local->message);
		g_propagate_prefixed_error(error,
					   g_steal_pointer(&error_local),
					   "plugin %s: ",
					   priv->name);
		return FALSE;
	}
	priv->started = TRUE;
	if (priv->state == HERALD_PLUGIN_STATE_LOADED)
		herald_plugin_set_state(self, HERALD_PLUGIN_STATE_RUNNING, NULL);
	return TRUE;
}

void
herald_plugin_runner_ready(HeraldPlugin *self)
{
	HeraldPluginClass *klass = HERALD_PLUGIN_GET_CLASS(self);
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	if (priv->state == HERALD_PLUGIN_STATE_FAILED || !priv->started)
		return;
	g_debug("plugin %s: ready", priv->name);
	if (klass->ready != NULL)
		klass->ready(self);
}

gboolean
herald_plugin_runner_reload(HeraldPlugin *self, GError **error)
{
	HeraldPluginClass *klass = HERALD_PLUGIN_GET_CLASS(self);
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	g_autoptr(GError) error_local = NULL;

	if (priv->state == HERALD_PLUGIN_STATE_FAILED || !priv->started)
		return TRUE;
	g_debug("plugin %s: reload", priv->name);
	if (klass->reload != NULL && !klass->reload(self, &error_local)) {
		if (error_local == NULL) {
			g_critical("plugin %s returned FALSE from reload without an error",
				   priv->name);
			g_set_error_literal(&error_local,
					    HERALD_ERROR,
					    HERALD_ERROR_FAILED,
					    "reload failed without a reason");
		}
		g_propagate_prefixed_error(error,
					   g_steal_pointer(&error_local),
					   "plugin %s: ",
					   priv->name);
		return FALSE;
	}
	return TRUE;
}

void
herald_plugin_runner_shutdown_async(HeraldPlugin *self,
				    GCancellable *cancellable,
				    GAsyncReadyCallback callback,
				    gpointer user_data)
{
	HeraldPluginClass *klass = HERALD_PLUGIN_GET_CLASS(self);
	HeraldPluginPrivate *priv = GET_PRIVATE(self);

	g_debug("plugin %s: shutdown", priv->name);
	if (!priv->started || klass->shutdown_async == NULL) {
		g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
		g_task_set_source_tag(task, herald_plugin_runner_shutdown_async);
		g_task_return_boolean(task, TRUE);
		return;
	}
	klass->shutdown_async(self, cancellable, callback, user_data);
}

gboolean
herald_plugin_runner_shutdown_finish(HeraldPlugin *self, GAsyncResult *res, GError **error)
{
	HeraldPluginClass *klass = HERALD_PLUGIN_GET_CLASS(self);
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	gboolean ret;

	if (g_task_is_valid(res, self) &&
	    g_task_get_source_tag(G_TASK(res)) == herald_plugin_runner_shutdown_async) {
		ret = g_task_propagate_boolean(G_TASK(res), error);
	} else if (klass->shutdown_finish != NULL) {
		ret = klass->shutdown_finish(self, res, error);
	} else {
		ret = g_task_propagate_boolean(G_TASK(res), error);
	}
	priv->started = FALSE;
	if (priv->state != HERALD_PLUGIN_STATE_FAILED)
		herald_plugin_set_state(self, HERALD_PLUGIN_STATE_STOPPED, NULL);
	return ret;
}

GVariant *
herald_plugin_runner_get_stats(HeraldPlugin *self)
{
	HeraldPluginClass *klass = HERALD_PLUGIN_GET_CLASS(self);
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT(NULL);

	if (klass->add_stats != NULL && priv->started)
		klass->add_stats(self, &dict);
	return g_variant_dict_end(&dict);
}

static void
herald_plugin_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(HERALD_PLUGIN(object));
	switch (prop_id) {
	case PROP_HOST:
		g_value_set_object(value, priv->host);
		break;
	case PROP_NAME:
		g_value_set_string(value, priv->name);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
		break;
	}
}

static void
herald_plugin_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(HERALD_PLUGIN(object));
	switch (prop_id) {
	case PROP_HOST:
		priv->host = g_value_get_object(value);
		break;
	case PROP_NAME:
		g_free(priv->name);
		priv->name = g_value_dup_string(value);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
		break;
	}
}

static void
herald_plugin_init(HeraldPlugin *self)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(self);
	priv->schema = g_ptr_array_new_with_free_func((GDestroyNotify)herald_plugin_schema_free);
	for (guint i = 0; i < HERALD_PLUGIN_RULE_LAST; i++)
		priv->rules[i] = g_ptr_array_new_with_free_func(g_free);
	priv->state = HERALD_PLUGIN_STATE_LOADED;
}

static void
herald_plugin_dispose(GObject *object)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(HERALD_PLUGIN(object));
	g_clear_object(&priv->config);
	G_OBJECT_CLASS(herald_plugin_parent_class)->dispose(object);
}

static void
herald_plugin_finalize(GObject *object)
{
	HeraldPluginPrivate *priv = GET_PRIVATE(HERALD_PLUGIN(object));
	g_free(priv->name);
	g_free(priv->reason);
	g_ptr_array_unref(priv->schema);
	for (guint i = 0; i < HERALD_PLUGIN_RULE_LAST; i++)
		g_ptr_array_unref(priv->rules[i]);
	G_OBJECT_CLASS(herald_plugin_parent_class)->finalize(object);
}

static void
herald_plugin_class_init(HeraldPluginClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->get_property = herald_plugin_get_property;
	object_class->set_property = herald_plugin_set_property;
	object_class->dispose = herald_plugin_dispose;
	object_class->finalize = herald_plugin_finalize;

	g_object_class_install_property(
	    object_class,
	    PROP_HOST,
	    g_param_spec_object("host",
				NULL,
				NULL,
				G_TYPE_OBJECT,
				G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));
	g_object_class_install_property(
	    object_class,
	    PROP_NAME,
	    g_param_spec_string("name",
				NULL,
				NULL,
				NULL,
				G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));
	signals[SIGNAL_STATE_CHANGED] = g_signal_new("state-changed",
						     G_TYPE_FROM_CLASS(klass),
						     G_SIGNAL_RUN_LAST,
						     0,
						     NULL,
						     NULL,
						     NULL,
						     G_TYPE_NONE,
						     0);
}
