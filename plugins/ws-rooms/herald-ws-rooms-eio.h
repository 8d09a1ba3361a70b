/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "herald-ws-rooms-hub.h"

G_BEGIN_DECLS

/* everything under the Socket.IO path: polling, websocket and the upgrade */
void
herald_ws_rooms_eio_handle(HeraldWsRoomsHub *hub, SoupServerMessage *msg);
guint
herald_ws_rooms_eio_get_n_responses(void);

G_END_DECLS
