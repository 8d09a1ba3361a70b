/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "herald-http.h"

G_BEGIN_DECLS

#define HERALD_TYPE_HTTP (herald_http_get_type())
G_DECLARE_FINAL_TYPE(HeraldHttp, herald_http, HERALD, HTTP, GObject)

HeraldHttp *
herald_http_new(void);
void
herald_http_set_auth(HeraldHttp *self, HeraldAuth *auth);
void
herald_http_set_max_request_bytes(HeraldHttp *self, guint64 max_request_bytes);
void
herald_http_set_timeouts(HeraldHttp *self,
			 guint64 header_ms,
			 guint64 body_idle_ms,
			 guint64 body_ms,
			 guint64 upload_idle_ms,
			 guint64 upload_ms);
void
herald_http_set_trusted_proxies(HeraldHttp *self, gchar **proxies);
GInetAddressMask *
herald_http_parse_trusted_proxy(const gchar *text, GError **error);
void
herald_http_set_shutting_down(HeraldHttp *self, gboolean shutting_down);
gboolean
herald_http_listen(HeraldHttp *self, gchar **addresses, GError **error);
GSocketAddress *
herald_http_parse_address(const gchar *address, GError **error);
void
herald_http_disconnect(HeraldHttp *self);
SoupServer *
herald_http_get_server(HeraldHttp *self);
void
herald_http_add_route(HeraldHttp *self,
		      gpointer owner,
		      const gchar *methods,
		      const gchar *path,
		      HeraldHttpRouteFlags flags,
		      HeraldHttpAuth auth,
		      HeraldHttpHandler handler,
		      gpointer user_data);
void
herald_http_remove_routes(HeraldHttp *self, gpointer owner);
void
herald_http_add_routes_json(HeraldHttp *self, JsonBuilder *builder);
void
herald_http_set_route_max_bytes(HeraldHttp *self,
				gpointer owner,
				const gchar *path,
				guint64 max_bytes);
void
herald_http_add_stats(HeraldHttp *self, GVariantDict *dict);

G_END_DECLS
