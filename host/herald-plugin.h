/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__HERALD_H_INSIDE__) && !defined(HERALD_COMPILATION)
#error "Only <herald.h> can be included directly."
#endif

#include <gio/gio.h>
#include <gmodule.h>

#include "herald-auth.h"
#include "herald-bus.h"
#include "herald-config.h"

G_BEGIN_DECLS

typedef struct _HeraldHost HeraldHost;

/**
 * HeraldPluginState:
 *
 * Exported on D-Bus as `u`; 0 means unknown.
 *
 * Since: 0.1
 */
typedef enum {
	HERALD_PLUGIN_STATE_UNKNOWN = 0,
	HERALD_PLUGIN_STATE_LOADED,
	HERALD_PLUGIN_STATE_RUNNING,
	HERALD_PLUGIN_STATE_DEGRADED,
	HERALD_PLUGIN_STATE_FAILED,
	HERALD_PLUGIN_STATE_STOPPED,
	HERALD_PLUGIN_STATE_LAST
} HeraldPluginState;

const gchar *
herald_plugin_state_to_string(HeraldPluginState state);

/**
 * HeraldPluginRule:
 * @HERALD_PLUGIN_RULE_RUN_AFTER: start after the named plugin (when it is enabled)
 * @HERALD_PLUGIN_RULE_RUN_BEFORE: start before the named plugin
 * @HERALD_PLUGIN_RULE_CONFLICTS: refuse to run together with the named plugin
 * @HERALD_PLUGIN_RULE_REQUIRES: fail when the named plugin is not enabled
 *
 * Since: 0.1
 */
typedef enum {
	HERALD_PLUGIN_RULE_RUN_AFTER,
	HERALD_PLUGIN_RULE_RUN_BEFORE,
	HERALD_PLUGIN_RULE_CONFLICTS,
	HERALD_PLUGIN_RULE_REQUIRES,
	HERALD_PLUGIN_RULE_LAST
} HeraldPluginRule;

#define HERALD_TYPE_PLUGIN (herald_plugin_get_type())
G_DECLARE_DERIVABLE_TYPE(HeraldPlugin, herald_plugin, HERALD, PLUGIN, GObject)

/**
 * HeraldPluginClass:
 * @startup: read config, register routes, connect to the bus; no blocking I/O
 * @ready: every enabled plugin has started
 * @reload: the configuration changed (SIGHUP, D-Bus Reload); the new values are
 *   already visible through the config getters
 * @shutdown_async: stop: close connections, flush queues; bounded by the host's timeout
 * @shutdown_finish: finish @shutdown_async
 * @add_stats: add counters to @dict (`t` counters, `u` gauges, `d`, `s`, or an
 *   `a{sv}` of one label dimension); shown on D-Bus, `/stats` and `/metrics`
 * @check_config: check values beyond their type and range (an address's syntax…)
 *   once the configuration is loaded, also for `--check-config`; report each bad
 *   value with herald_plugin_add_config_problem(); no I/O
 *
 * All optional; called on the main thread in depsolved order.
 *
 * Since: 0.1
 */
struct _HeraldPluginClass {
	GObjectClass parent_class;
	gboolean (*startup)(HeraldPlugin *self, GError **error);
	void (*ready)(HeraldPlugin *self);
	gboolean (*reload)(HeraldPlugin *self, GError **error);
	void (*shutdown_async)(HeraldPlugin *self,
			       GCancellable *cancellable,
			       GAsyncReadyCallback callback,
			       gpointer user_data);
	gboolean (*shutdown_finish)(HeraldPlugin *self, GAsyncResult *res, GError **error);
	void (*add_stats)(HeraldPlugin *self, GVariantDict *dict);
	void (*check_config)(HeraldPlugin *self, GPtrArray *problems);
	/*< private >*/
	gpointer padding[7];
};

/**
 * herald_plugin_query_type:
 *
 * The one symbol every plugin module exports.
 */
typedef GType (*HeraldPluginQueryTypeFunc)(void);
#define HERALD_PLUGIN_QUERY_TYPE_SYMBOL "herald_plugin_query_type"

HeraldHost *
herald_plugin_get_host(HeraldPlugin *self);
HeraldBus *
herald_plugin_get_bus(HeraldPlugin *self);
HeraldConfig *
herald_plugin_get_config(HeraldPlugin *self);
HeraldAuth *
herald_plugin_get_auth(HeraldPlugin *self);
const gchar *
herald_plugin_get_name(HeraldPlugin *self);

/* schema of group [name] (and [name.suffix]); call from init or constructed */
void
herald_plugin_add_config_keys(HeraldPlugin *self, const HeraldConfigKey *keys, guint n_keys);
void
herald_plugin_add_config_group(HeraldPlugin *self,
			       const gchar *suffix,
			       HeraldConfigType value_type,
			       const gchar *description);
GPtrArray *
herald_plugin_get_config_schema(HeraldPlugin *self);

const gchar *
herald_plugin_get_config_string(HeraldPlugin *self, const gchar *key);
gboolean
herald_plugin_get_config_boolean(HeraldPlugin *self, const gchar *key);
guint64
herald_plugin_get_config_uint64(HeraldPlugin *self, const gchar *key);
gchar **
herald_plugin_get_config_strv(HeraldPlugin *self, const gchar *key);
gchar *
herald_plugin_get_config_secret(HeraldPlugin *self, const gchar *key, GError **error);
void
herald_plugin_add_config_problem(HeraldPlugin *self,
				 GPtrArray *problems,
				 const gchar *key,
				 const gchar *message);

void
herald_plugin_add_rule(HeraldPlugin *self, HeraldPluginRule rule, const gchar *name);
GPtrArray *
herald_plugin_get_rules(HeraldPlugin *self, HeraldPluginRule rule);

HeraldPluginState
herald_plugin_get_state(HeraldPlugin *self);
const gchar *
herald_plugin_get_state_reason(HeraldPlugin *self);
void
herald_plugin_set_state(HeraldPlugin *self, HeraldPluginState state, const gchar *reason);

/**
 * HERALD_PLUGIN_DEFINE_QUERY_TYPE:
 * @type: the plugin's #GType expression, e.g. `HERALD_TYPE_WS_ROOMS_PLUGIN`
 *
 * Defines herald_plugin_query_type(), the one symbol a plugin module exports
 * and the loader looks up. Use it once, at file scope, in the module's main file.
 *
 * Since: 0.1
 */
#define HERALD_PLUGIN_DEFINE_QUERY_TYPE(type)                                                      \
	G_MODULE_EXPORT GType herald_plugin_query_type(void);                                      \
	G_MODULE_EXPORT GType herald_plugin_query_type(void)                                       \
	{                                                                                          \
		return (type);                                                                     \
	}

G_END_DECLS
