/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <herald.h>

G_BEGIN_DECLS

#define HERALD_TYPE_REDIS_BRIDGE_PLUGIN (herald_redis_bridge_plugin_get_type())
G_DECLARE_FINAL_TYPE(HeraldRedisBridgePlugin,
		     herald_redis_bridge_plugin,
		     HERALD,
		     REDIS_BRIDGE_PLUGIN,
		     HeraldPlugin)

G_END_DECLS
