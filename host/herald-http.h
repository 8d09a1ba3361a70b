/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__HERALD_H_INSIDE__) && !defined(HERALD_COMPILATION)
#error "Only <herald.h> can be included directly."
#endif

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "herald-auth.h"
#include "herald-error.h"

G_BEGIN_DECLS

/**
 * HeraldHttpAuth:
 * @HERALD_HTTP_AUTH_NONE: anyone
 * @HERALD_HTTP_AUTH_USER: any valid JWT (`Authorization: Bearer` or `?token=`)
 * @HERALD_HTTP_AUTH_SERVICE: a JWT whose role is in `[auth] service-roles`
 * @HERALD_HTTP_AUTH_LOCAL_OR_ADMIN: local callers (herald_http_client_is_local(): a
 *   loopback peer without forwarding headers, or a loopback client forwarded by one
 *   of `[host] trusted-proxies`), else a JWT whose role is in `[auth] admin-roles`
 *
 * Since: 0.1
 */
typedef enum {
	HERALD_HTTP_AUTH_NONE,
	HERALD_HTTP_AUTH_USER,
	HERALD_HTTP_AUTH_SERVICE,
	HERALD_HTTP_AUTH_LOCAL_OR_ADMIN,
} HeraldHttpAuth;

/**
 * HeraldHttpRouteFlags:
 * @HERALD_HTTP_ROUTE_PREFIX: the path is a prefix (`/v1/files/download/`); the handler
 *   gets the rest in @subpath
 * @HERALD_HTTP_ROUTE_STREAMING: the body is not accumulated by the host and is not
 *   subject to `[host] max-request-bytes`; the handler owns the limits (uploads)
 * @HERALD_HTTP_ROUTE_DURING_SHUTDOWN: still served while the plugins shut down (other
 *   routes then get 503), so that existing sessions can finish (Socket.IO long-polling
 *   fetches its last packets); the handler refuses new work itself
 *
 * Since: 0.1
 */
typedef enum {
	HERALD_HTTP_ROUTE_NONE = 0,
	HERALD_HTTP_ROUTE_PREFIX = 1 << 0,
	HERALD_HTTP_ROUTE_STREAMING = 1 << 1,
	HERALD_HTTP_ROUTE_DURING_SHUTDOWN = 1 << 2,
} HeraldHttpRouteFlags;

/**
 * HeraldHttpHandler:
 * @msg: the request; pause it (soup_server_message_pause()) to answer later
 * @subpath: for prefix routes, the rest of the path (still percent-encoded)
 * @identity: (nullable): the verified caller for authenticated routes
 */
typedef void (*HeraldHttpHandler)(SoupServerMessage *msg,
				  const gchar *subpath,
				  HeraldIdentity *identity,
				  gpointer user_data);

void
herald_http_reply_json(SoupServerMessage *msg, guint status, JsonNode *node);
void
herald_http_reply_builder(SoupServerMessage *msg, guint status, JsonBuilder *builder);
void
herald_http_reply_error(SoupServerMessage *msg, const GError *error);
void
herald_http_reply_error_literal(SoupServerMessage *msg, HeraldError code, const gchar *message);
JsonNode *
herald_http_parse_json_body(SoupServerMessage *msg, GError **error);
gchar *
herald_http_get_token(SoupServerMessage *msg);
gboolean
herald_http_peer_is_loopback(SoupServerMessage *msg);
gboolean
herald_http_client_is_local(SoupServerMessage *msg);
gchar *
herald_http_get_client_address(SoupServerMessage *msg);

G_END_DECLS
