/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <herald.h>

G_BEGIN_DECLS

#define HERALD_TYPE_WS_ROOMS_PLUGIN (herald_ws_rooms_plugin_get_type())
G_DECLARE_FINAL_TYPE(HeraldWsRoomsPlugin,
		     herald_ws_rooms_plugin,
		     HERALD,
		     WS_ROOMS_PLUGIN,
		     HeraldPlugin)

G_END_DECLS
