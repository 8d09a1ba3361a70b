/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <herald.h>

G_BEGIN_DECLS

#define HERALD_TYPE_STATS_FILTER_PLUGIN (herald_stats_filter_plugin_get_type())
G_DECLARE_FINAL_TYPE(HeraldStatsFilterPlugin,
		     herald_stats_filter_plugin,
		     HERALD,
		     STATS_FILTER_PLUGIN,
		     HeraldPlugin)

G_END_DECLS
