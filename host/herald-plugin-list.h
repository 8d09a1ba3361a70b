/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "herald-plugin.h"

G_BEGIN_DECLS

#define HERALD_TYPE_PLUGIN_LIST (herald_plugin_list_get_type())
G_DECLARE_FINAL_TYPE(HeraldPluginList, herald_plugin_list, HERALD, PLUGIN_LIST, GObject)

HeraldPluginList *
herald_plugin_list_new(void);
void
herald_plugin_list_load(HeraldPluginList *self,
			GObject *host,
			gchar **names,
			const gchar *search_path,
			GPtrArray *problems);
void
herald_plugin_list_depsolve(HeraldPluginList *self, GPtrArray *problems);
GPtrArray *
herald_plugin_list_get_all(HeraldPluginList *self);
HeraldPlugin *
herald_plugin_list_find(HeraldPluginList *self, const gchar *name);
gboolean
herald_plugin_name_is_valid(const gchar *name);
gchar **
herald_plugin_list_available(const gchar *search_path);

G_END_DECLS
