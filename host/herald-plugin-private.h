/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "herald-plugin.h"

G_BEGIN_DECLS

/* one entry of a plugin's config schema: keys of [name] or [name.suffix], or a
 * free group [name.suffix] whose keys are chosen by the user */
typedef struct {
	gchar *group;
	const HeraldConfigKey *keys;
	guint n_keys;
	gboolean free_group;
	HeraldConfigType value_type;
	gchar *description;
} HeraldPluginSchema;

gboolean
herald_plugin_runner_startup(HeraldPlugin *self, GError **error);
void
herald_plugin_runner_ready(HeraldPlugin *self);
gboolean
herald_plugin_runner_reload(HeraldPlugin *self, GError **error);
void
herald_plugin_runner_shutdown_async(HeraldPlugin *self,
				    GCancellable *cancellable,
				    GAsyncReadyCallback callback,
				    gpointer user_data);
gboolean
herald_plugin_runner_shutdown_finish(HeraldPlugin *self, GAsyncResult *res, GError **error);
GVariant *
herald_plugin_runner_get_stats(HeraldPlugin *self);
void
herald_plugin_runner_check_config(HeraldPlugin *self, HeraldConfig *config, GPtrArray *problems);
void
herald_plugin_register_schema(HeraldPlugin *self, HeraldConfig *config);
void
herald_plugin_set_config(HeraldPlugin *self, HeraldConfig *config);

G_END_DECLS
