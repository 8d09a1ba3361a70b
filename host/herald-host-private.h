/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "herald-host.h"

G_BEGIN_DECLS

/* exported on D-Bus as `u` */
typedef enum {
	HERALD_HOST_STATE_UNKNOWN = 0,
	HERALD_HOST_STATE_STARTING,
	HERALD_HOST_STATE_HEALTHY,
	HERALD_HOST_STATE_DEGRADED,
	HERALD_HOST_STATE_UNHEALTHY,
	HERALD_HOST_STATE_STOPPING,
} HeraldHostState;

const gchar *
herald_host_state_to_string(HeraldHostState state);

HeraldHost *
herald_host_new(void);
void
herald_host_set_strict(HeraldHost *self, gboolean strict);
gboolean
herald_host_load(HeraldHost *self,
		 const gchar *config_file,
		 GPtrArray *problems,
		 GPtrArray *plugin_problems,
		 GError **error);
gboolean
herald_host_check(HeraldHost *self, GPtrArray *problems);
gboolean
herald_host_startup(HeraldHost *self, GError **error);
void
herald_host_shutdown_async(HeraldHost *self,
			   GCancellable *cancellable,
			   GAsyncReadyCallback callback,
			   gpointer user_data);
gboolean
herald_host_shutdown_finish(HeraldHost *self, GAsyncResult *res, GError **error);
gboolean
herald_host_reload(HeraldHost *self, gchar ***needs_restart, GError **error);

GPtrArray *
herald_host_get_plugins(HeraldHost *self);
HeraldHostState
herald_host_get_state(HeraldHost *self);
guint
herald_host_get_connections(HeraldHost *self);
guint64
herald_host_get_uptime(HeraldHost *self);
GVariant *
herald_host_get_stats(HeraldHost *self);
const HeraldConfigKey *
herald_host_get_config_keys(guint *n_keys);
gchar *
herald_host_dump_config(gchar **plugin_names);
gchar *
herald_host_dump_config_man(gchar **plugin_names);

G_END_DECLS
