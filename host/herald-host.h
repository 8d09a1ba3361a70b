/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__HERALD_H_INSIDE__) && !defined(HERALD_COMPILATION)
#error "Only <herald.h> can be included directly."
#endif

#include "herald-http.h"
#include "herald-plugin.h"
#include "herald-route.h"

G_BEGIN_DECLS

#define HERALD_TYPE_HOST (herald_host_get_type())
G_DECLARE_FINAL_TYPE(HeraldHost, herald_host, HERALD, HOST, GObject)

HeraldBus *
herald_host_get_bus(HeraldHost *self);
HeraldConfig *
herald_host_get_config(HeraldHost *self);
HeraldAuth *
herald_host_get_auth(HeraldHost *self);
HeraldRouter *
herald_host_get_router(HeraldHost *self);
const gchar *
herald_host_get_instance_id(HeraldHost *self);
const gchar *
herald_host_get_state_dir(HeraldHost *self);
SoupServer *
herald_host_get_soup_server(HeraldHost *self);
gint64
herald_host_get_start_time(HeraldHost *self);
gboolean
herald_host_is_shutting_down(HeraldHost *self);

/* HTTP routes: the host records @owner, applies auth and body limits uniformly,
 * answers 404/405 as JSON, and drops the route when @owner shuts down.
 * @methods is `;`-separated ("GET;HEAD"); "*" hands every method to @handler,
 * which then answers the ones it does not serve itself. */
void
herald_host_add_http_route(HeraldHost *self,
			   HeraldPlugin *owner,
			   const gchar *methods,
			   const gchar *path,
			   HeraldHttpRouteFlags flags,
			   HeraldHttpAuth auth,
			   HeraldHttpHandler handler,
			   gpointer user_data);
void
herald_host_set_http_route_max_bytes(HeraldHost *self,
				     HeraldPlugin *owner,
				     const gchar *path,
				     guint64 max_bytes);
void
herald_host_remove_http_routes(HeraldHost *self, HeraldPlugin *owner);

G_END_DECLS
