/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <glib/gi18n-lib.h>

#include "herald-http-private.h"
#include "herald-json.h"

typedef struct {
	gpointer owner; /* (not owned) */
	gchar **methods;
	gchar *path;
	HeraldHttpRouteFlags flags;
	HeraldHttpAuth auth;
	HeraldHttpHandler handler;
	gpointer user_data;
	guint64 max_request_bytes; /* 0: the server's */
} HeraldHttpRoute;

struct _HeraldHttp {
	GObject parent_instance;
	SoupServer *server;	/* (owned) */
	HeraldAuth *auth;	/* (owned) (nullable) */
	GPtrArray *routes;	/* (element-type HeraldHttpRoute) */
	guint64 max_request_bytes;
	gboolean shutting_down;
	GPtrArray *unix_paths; /* (element-type filename): removed on disconnect */
	/* stats */
	guint64 requests;
	guint64 responses_2xx;
	guint64 responses_4xx;
	guint64 responses_5xx;
	guint64 too_large;
	guint64 unauthorized;
	guint64 not_found;
};

G_DEFINE_FINAL_TYPE(HeraldHttp, herald_http, G_TYPE_OBJECT)

#define HERALD_HTTP_KEY_ROUTE	 "herald-route"
#define HERALD_HTTP_KEY_IDENTITY "herald-identity"
#define HERALD_HTTP_KEY_RECEIVED "herald-received"

static void
herald_http_route_free(HeraldHttpRoute *route)
{
	g_strfreev(route->methods);
	g_free(route->path);
	g_free(route);
}

void
herald_http_reply_json(SoupServerMessage *msg, guint status, JsonNode *node)
{
	g_autofree gchar *body = json_to_string(node, FALSE);
	gsize len = strlen(body);
	SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);

	soup_message_headers_replace(headers, "Cache-Control", "no-store");
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg,
					 "application/json",
					 SOUP_MEMORY_TAKE,
					 g_steal_pointer(&body),
					 len);
}

void
herald_http_reply_builder(SoupServerMessage *msg, guint status, JsonBuilder *builder)
{
	g_autoptr(JsonNode) node = json_builder_get_root(builder);
	herald_http_reply_json(msg, status, node);
}

void
herald_http_reply_error_literal(SoupServerMessage *msg, HeraldError code, const gchar *message)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "error");
	json_builder_add_string_value(builder, herald_error_to_code(code));
	json_builder_set_member_name(builder, "message");
	json_builder_add_string_value(builder, message != NULL ? message : "");
	json_builder_end_object(builder);
	herald_http_reply_builder(msg, herald_error_to_http_status(code), builder);
	if (code == HERALD_ERROR_UNAUTHENTICATED || code == HERALD_ERROR_TOKEN_EXPIRED) {
		soup_message_headers_replace(soup_server_message_get_response_headers(msg),
					     "WWW-Authenticate",
					     "Bearer");
	}
}

/**
 * herald_http_reply_error:
 *
 * Answers `{"error":CODE,"message":TEXT}` with the status of the error code;
 * foreign errors are mapped with herald_error_convert().
 */
void
herald_http_reply_error(SoupServerMessage *msg, const GError *error)
{
	g_autoptr(GError) copy = g_error_copy(error);
	herald_error_convert(&copy);
	herald_http_reply_error_literal(msg, copy->code, copy->message);
}

/* the body was accumulated by the host (non-streaming routes) */
JsonNode *
herald_http_parse_json_body(SoupServerMessage *msg, GError **error)
{
	SoupMessageBody *body = soup_server_message_get_request_body(msg);
	g_autoptr(GBytes) bytes = soup_message_body_flatten(body);
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GError) error_local = NULL;
	gsize len = 0;
	const gchar *data = g_bytes_get_data(bytes, &len);

	if (len == 0) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP error */
				    _("request body is empty; a JSON object is expected"));
		return NULL;
	}
	if (!g_utf8_validate(data, len, NULL)) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP error */
				    _("request body is not valid UTF-8"));
		return NULL;
	}
	/* through the depth gate: json-glib 1.6 would recurse without a bound */
	root = herald_json_parse(data, (gssize)len, &error_local);
	if (root == NULL) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_INVALID_ARGUMENT,
			    /* TRANSLATORS: HTTP error; %s is why */
			    _("request body is not accepted: %s"),
			    error_local->message);
		return NULL;
	}
	if (!JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP error */
				    _("request body must be a JSON object"));
		return NULL;
	}
	return g_steal_pointer(&root);
}

/* Authorization: Bearer first, then ?token= */
gchar *
herald_http_get_token(SoupServerMessage *msg)
{
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	const gchar *authz = soup_message_headers_get_one(headers, "Authorization");
	const gchar *query;

	if (authz != NULL && g_ascii_strncasecmp(authz, "Bearer ", 7) == 0) {
		const gchar *token = authz + 7;
		while (*token == ' ')
			token++;
		if (*token != '\0')
			return g_strdup(token);
	}
	query = g_uri_get_query(soup_server_message_get_uri(msg));
	if (query != NULL) {
		g_autoptr(GHashTable) params = soup_form_decode(query);
		const gchar *token = g_hash_table_lookup(params, "token");
		if (token != NULL && token[0] != '\0')
			return g_strdup(token);
	}
	return NULL;
}

gboolean
herald_http_peer_is_loopback(SoupServerMessage *msg)
{
	GSocketAddress *addr = soup_server_message_get_remote_address(msg);
	if (addr == NULL)
		return FALSE;
	if (G_IS_UNIX_SOCKET_ADDRESS(addr))
		return TRUE;
	if (G_IS_INET_SOCKET_ADDRESS(addr)) {
		GInetAddress *inet = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(addr));
		return g_inet_address_get_is_loopback(inet);
	}
	return FALSE;
}

static gboolean
herald_http_route_has_method(HeraldHttpRoute *route, const gchar *method)
{
	for (guint i = 0; route->methods[i] != NULL; i++) {
		if (g_strcmp0(route->methods[i], method) == 0)
			return TRUE;
		if (g_strcmp0(method, "HEAD") == 0 && g_strcmp0(route->methods[i], "GET") == 0)
			return TRUE;
	}
	return FALSE;
}

/* longest matching path; exact routes win over prefixes of the same length */
static HeraldHttpRoute *
herald_http_lookup(HeraldHttp *self, const gchar *path)
{
	HeraldHttpRoute *best = NULL;
	gsize best_len = 0;
	for (guint i = 0; i < self->routes->len; i++) {
		HeraldHttpRoute *route = g_ptr_array_index(self->routes, i);
		gsize len = strlen(route->path);
		if (route->flags & HERALD_HTTP_ROUTE_PREFIX) {
			if (!g_str_has_prefix(path, route->path))
				continue;
			/* "/socket.io/" also serves "/socket.io" */
		} else if (g_strcmp0(path, route->path) != 0) {
			continue;
		}
		if (best == NULL || len > best_len ||
		    (len == best_len && !(route->flags & HERALD_HTTP_ROUTE_PREFIX))) {
			best = route;
			best_len = len;
		}
	}
	if (best == NULL && !g_str_has_suffix(path, "/")) {
		g_autofree gchar *slashed = g_strdup_printf("%s/", path);
		for (guint i = 0; i < self->routes->len; i++) {
			HeraldHttpRoute *route = g_ptr_array_index(self->routes, i);
			if ((route->flags & HERALD_HTTP_ROUTE_PREFIX) &&
			    g_strcmp0(route->path, slashed) == 0)
				return route;
		}
	}
	return best;
}

static void
herald_http_count_status(HeraldHttp *self, SoupServerMessage *msg)
{
	guint status = soup_server_message_get_status(msg);
	if (status >= 200 && status < 300)
		self->responses_2xx++;
	else if (status >= 400 && status < 500)
		self->responses_4xx++;
	else if (status >= 500)
		self->responses_5xx++;
}

static void
herald_http_reject_body(SoupServerMessage *msg)
{
	/* stop storing the body we are going to refuse; close afterwards */
	soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
	soup_message_headers_replace(soup_server_message_get_response_headers(msg),
				     "Connection",
				     "close");
}

static guint64
herald_http_route_max_bytes(HeraldHttp *self, HeraldHttpRoute *route)
{
	if (route != NULL && route->max_request_bytes > 0)
		return route->max_request_bytes;
	return self->max_request_bytes;
}

static void
herald_http_too_large(HeraldHttp *self, SoupServerMessage *msg)
{
	g_autofree gchar *text = NULL;
	HeraldHttpRoute *route = g_object_get_data(G_OBJECT(msg), HERALD_HTTP_KEY_ROUTE);
	g_autofree gchar *limit =
	    g_strdup_printf("%" G_GUINT64_FORMAT, herald_http_route_max_bytes(self, route));
	self->too_large++;
	/* TRANSLATORS: HTTP 413; %s is a number of bytes */
	text = g_strdup_printf(_("request body is larger than %s bytes"), limit);
	herald_http_reply_error_literal(msg, HERALD_ERROR_TOO_LARGE, text);
	herald_http_reject_body(msg);
}

static void
herald_http_got_chunk_cb(SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
	HeraldHttp *self = HERALD_HTTP(user_data);
	guint64 received = GPOINTER_TO_SIZE(g_object_get_data(G_OBJECT(msg), HERALD_HTTP_KEY_RECEIVED));

	received += g_bytes_get_size(chunk);
	g_object_set_data(G_OBJECT(msg), HERALD_HTTP_KEY_RECEIVED, GSIZE_TO_POINTER(received));
	if (received > herald_http_route_max_bytes(
			   self,
			   g_object_get_data(G_OBJECT(msg), HERALD_HTTP_KEY_ROUTE)) &&
	    soup_server_message_get_status(msg) == 0)
		herald_http_too_large(self, msg);
}

static gboolean
herald_http_authenticate(HeraldHttp *self, SoupServerMessage *msg, HeraldHttpRoute *route)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldIdentity) identity = NULL;
	g_autofree gchar *token = NULL;

	if (route->auth == HERALD_HTTP_AUTH_NONE)
		return TRUE;
	if (route->auth == HERALD_HTTP_AUTH_LOCAL_OR_ADMIN && herald_http_peer_is_loopback(msg))
		return TRUE;
	token = herald_http_get_token(msg);
	if (token == NULL) {
		self->unauthorized++;
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_UNAUTHENTICATED,
						/* TRANSLATORS: HTTP 401 */
						_("missing bearer token"));
		return FALSE;
	}
	if (self->auth == NULL) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_UNAVAILABLE,
						/* TRANSLATORS: HTTP 503 */
						_("authentication is not configured"));
		return FALSE;
	}
	identity = herald_auth_verify(self->auth, token, &error);
	if (identity == NULL) {
		self->unauthorized++;
		herald_http_reply_error(msg, error);
		return FALSE;
	}
	if (route->auth == HERALD_HTTP_AUTH_SERVICE && !herald_auth_is_service(self->auth, identity)) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_PERMISSION_DENIED,
						/* TRANSLATORS: HTTP 403 */
						_("this endpoint is for service accounts"));
		return FALSE;
	}
	if (route->auth == HERALD_HTTP_AUTH_LOCAL_OR_ADMIN &&
	    !herald_auth_is_admin(self->auth, identity)) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_PERMISSION_DENIED,
						/* TRANSLATORS: HTTP 403 */
						_("this endpoint is for administrators"));
		return FALSE;
	}
	g_object_set_data_full(G_OBJECT(msg),
			       HERALD_HTTP_KEY_IDENTITY,
			       g_steal_pointer(&identity),
			       (GDestroyNotify)herald_identity_unref);
	return TRUE;
}

/* runs when the request headers are in: route, method, limits and auth are
 * decided here so that a refused body is never stored */
static void
herald_http_early_cb(SoupServer *server,
		     SoupServerMessage *msg,
		     const char *path,
		     GHashTable *query,
		     gpointer user_data)
{
	HeraldHttp *self = HERALD_HTTP(user_data);
	HeraldHttpRoute *route;
	const gchar *method = soup_server_message_get_method(msg);
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	goffset content_length = 0;

	self->requests++;
	route = herald_http_lookup(self, path);
	if (self->shutting_down &&
	    (route == NULL || (route->flags & HERALD_HTTP_ROUTE_DURING_SHUTDOWN) == 0)) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_SHUTTING_DOWN,
						/* TRANSLATORS: HTTP 503 */
						_("the server is shutting down"));
		herald_http_reject_body(msg);
		return;
	}
	if (route == NULL) {
		self->not_found++;
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_NOT_FOUND,
						/* TRANSLATORS: HTTP 404 */
						_("no such endpoint"));
		herald_http_reject_body(msg);
		return;
	}
	if (!herald_http_route_has_method(route, method)) {
		g_autofree gchar *allow = g_strjoinv(", ", route->methods);
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_METHOD_NOT_ALLOWED,
						/* TRANSLATORS: HTTP 405 */
						_("method not allowed on this endpoint"));
		soup_message_headers_replace(soup_server_message_get_response_headers(msg),
					     "Allow",
					     allow);
		herald_http_reject_body(msg);
		return;
	}
	g_object_set_data(G_OBJECT(msg), HERALD_HTTP_KEY_ROUTE, route);

	if ((route->flags & HERALD_HTTP_ROUTE_STREAMING) == 0) {
		if (soup_message_headers_get_encoding(headers) == SOUP_ENCODING_CONTENT_LENGTH)
			content_length = soup_message_headers_get_content_length(headers);
		if (content_length < 0 ||
		    (guint64)content_length > herald_http_route_max_bytes(self, route)) {
			herald_http_too_large(self, msg);
			return;
		}
		g_signal_connect_object(msg,
					"got-chunk",
					G_CALLBACK(herald_http_got_chunk_cb),
					self,
					0);
	} else {
		soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
	}
	if (!herald_http_authenticate(self, msg, route)) {
		herald_http_reject_body(msg);
		return;
	}
	/* streaming routes take the body as it arrives */
	if (route->flags & HERALD_HTTP_ROUTE_STREAMING) {
		const gchar *subpath = path + MIN(strlen(route->path), strlen(path));
		route->handler(msg,
			       subpath,
			       g_object_get_data(G_OBJECT(msg), HERALD_HTTP_KEY_IDENTITY),
			       route->user_data);
	}
}

static void
herald_http_handler_cb(SoupServer *server,
		       SoupServerMessage *msg,
		       const char *path,
		       GHashTable *query,
		       gpointer user_data)
{
	HeraldHttpRoute *route = g_object_get_data(G_OBJECT(msg), HERALD_HTTP_KEY_ROUTE);
	const gchar *subpath;

	/* early handler already answered */
	if (route == NULL || (route->flags & HERALD_HTTP_ROUTE_STREAMING))
		return;
	subpath = path + MIN(strlen(route->path), strlen(path));
	route->handler(msg,
		       subpath,
		       g_object_get_data(G_OBJECT(msg), HERALD_HTTP_KEY_IDENTITY),
		       route->user_data);
}

/* libsoup refuses some requests itself before any handler runs (an encoded
 * '..' in the path): give those a JSON body too */
static void
herald_http_request_read_cb(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
	SoupMessageBody *body = soup_server_message_get_response_body(msg);
	if (soup_server_message_get_status(msg) == SOUP_STATUS_BAD_REQUEST &&
	    g_object_get_data(G_OBJECT(msg), HERALD_HTTP_KEY_ROUTE) == NULL && body->length == 0) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_INVALID_ARGUMENT,
						/* TRANSLATORS: HTTP 400 */
						_("malformed request (for example '..' encoded in the path)"));
	}
}

static void
herald_http_request_finished_cb(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
	herald_http_count_status(HERALD_HTTP(user_data), msg);
}

void
herald_http_add_route(HeraldHttp *self,
		      gpointer owner,
		      const gchar *methods,
		      const gchar *path,
		      HeraldHttpRouteFlags flags,
		      HeraldHttpAuth auth,
		      HeraldHttpHandler handler,
		      gpointer user_data)
{
	HeraldHttpRoute *route = g_new0(HeraldHttpRoute, 1);
	g_return_if_fail(HERALD_IS_HTTP(self));
	g_return_if_fail(path != NULL && path[0] == '/');
	g_return_if_fail(handler != NULL);
	route->owner = owner;
	route->methods = g_strsplit(methods, ";", -1);
	route->path = g_strdup(path);
	route->flags = flags;
	route->auth = auth;
	route->handler = handler;
	route->user_data = user_data;
	g_ptr_array_add(self->routes, route);
}

void
herald_http_set_route_max_bytes(HeraldHttp *self,
				gpointer owner,
				const gchar *path,
				guint64 max_bytes)
{
	g_return_if_fail(HERALD_IS_HTTP(self));
	for (guint i = 0; i < self->routes->len; i++) {
		HeraldHttpRoute *route = g_ptr_array_index(self->routes, i);
		if (route->owner == owner && g_strcmp0(route->path, path) == 0)
			route->max_request_bytes = max_bytes;
	}
}

void
herald_http_remove_routes(HeraldHttp *self, gpointer owner)
{
	g_return_if_fail(HERALD_IS_HTTP(self));
	for (guint i = self->routes->len; i > 0; i--) {
		HeraldHttpRoute *route = g_ptr_array_index(self->routes, i - 1);
		if (route->owner == owner)
			g_ptr_array_remove_index(self->routes, i - 1);
	}
}

/**
 * herald_http_parse_address:
 * @address: a `[host] listen` entry: `host:port`, `[v6]:port`, `*:port` or `unix:/path`
 * @error: set to %HERALD_ERROR_CONFIG when @address is not valid
 *
 * Parses without binding, so `--check-config` can refuse what listen would.
 *
 * Returns: (transfer full): the socket address, or %NULL
 */
GSocketAddress *
herald_http_parse_address(const gchar *address, GError **error)
{
	if (g_str_has_prefix(address, "unix:")) {
		const gchar *path = address + 5;
		if (!g_path_is_absolute(path)) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: %s is a listen address */
				    _("listen address '%s': a unix socket path must be absolute"),
				    address);
			return NULL;
		}
		return g_unix_socket_address_new(path);
	} else {
		const gchar *colon = strrchr(address, ':');
		g_autofree gchar *host = NULL;
		g_autoptr(GInetAddress) inet = NULL;
		guint64 port = 0;
		if (colon == NULL ||
		    !g_ascii_string_to_unsigned(colon + 1, 10, 0, 65535, &port, NULL)) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: %s is a listen address */
				    _("listen address '%s' is not host:port or unix:/path"),
				    address);
			return NULL;
		}
		host = g_strndup(address, colon - address);
		if (host[0] == '[' && g_str_has_suffix(host, "]")) {
			gchar *tmp = g_strndup(host + 1, strlen(host) - 2);
			g_free(host);
			host = tmp;
		}
		if (g_strcmp0(host, "localhost") == 0)
			inet = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
		else if (host[0] == '\0' || g_strcmp0(host, "*") == 0)
			inet = g_inet_address_new_any(G_SOCKET_FAMILY_IPV6);
		else
			inet = g_inet_address_new_from_string(host);
		if (inet == NULL) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: %s is a listen address */
				    _("listen address '%s': the host must be an IP address"),
				    address);
			return NULL;
		}
		return g_inet_socket_address_new(inet, (guint16)port);
	}
}

static gboolean
herald_http_listen_one(HeraldHttp *self, const gchar *address, GError **error)
{
	g_autoptr(GSocketAddress) saddr = NULL;
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GError) error_local = NULL;
	GSocketFamily family;

	saddr = herald_http_parse_address(address, error);
	if (saddr == NULL)
		return FALSE;
	family = g_socket_address_get_family(saddr);
	if (G_IS_UNIX_SOCKET_ADDRESS(saddr)) {
		const gchar *path = address + 5;
		/* a stale socket from a crashed run would make bind() fail */
		if (g_file_test(path, G_FILE_TEST_EXISTS) &&
		    !g_file_test(path, G_FILE_TEST_IS_REGULAR | G_FILE_TEST_IS_DIR))
			g_unlink(path);
		g_ptr_array_add(self->unix_paths, g_strdup(path));
	}
	socket = g_socket_new(family, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &error_local);
	if (socket == NULL ||
	    !g_socket_bind(socket, saddr, TRUE, &error_local) ||
	    !(g_socket_set_listen_backlog(socket, 1024), g_socket_listen(socket, &error_local)) ||
	    !soup_server_listen_socket(self->server, socket, 0, &error_local)) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_UNAVAILABLE,
			    /* TRANSLATORS: first %s is a listen address, second the OS error */
			    _("cannot listen on %s: %s"),
			    address,
			    error_local->message);
		return FALSE;
	}
	g_info("listening on %s", address);
	return TRUE;
}

gboolean
herald_http_listen(HeraldHttp *self, gchar **addresses, GError **error)
{
	g_return_val_if_fail(HERALD_IS_HTTP(self), FALSE);
	for (guint i = 0; addresses != NULL && addresses[i] != NULL; i++) {
		if (!herald_http_listen_one(self, addresses[i], error))
			return FALSE;
	}
	return TRUE;
}

void
herald_http_disconnect(HeraldHttp *self)
{
	g_return_if_fail(HERALD_IS_HTTP(self));
	soup_server_disconnect(self->server);
	for (guint i = 0; i < self->unix_paths->len; i++)
		g_unlink(g_ptr_array_index(self->unix_paths, i));
	g_ptr_array_set_size(self->unix_paths, 0);
}

SoupServer *
herald_http_get_server(HeraldHttp *self)
{
	g_return_val_if_fail(HERALD_IS_HTTP(self), NULL);
	return self->server;
}

void
herald_http_set_auth(HeraldHttp *self, HeraldAuth *auth)
{
	g_return_if_fail(HERALD_IS_HTTP(self));
	g_set_object(&self->auth, auth);
}

void
herald_http_set_max_request_bytes(HeraldHttp *self, guint64 max_request_bytes)
{
	g_return_if_fail(HERALD_IS_HTTP(self));
	self->max_request_bytes = max_request_bytes;
}

void
herald_http_set_shutting_down(HeraldHttp *self, gboolean shutting_down)
{
	g_return_if_fail(HERALD_IS_HTTP(self));
	self->shutting_down = shutting_down;
}

void
herald_http_add_stats(HeraldHttp *self, GVariantDict *dict)
{
	g_variant_dict_insert(dict, "http_requests_total", "t", self->requests);
	g_variant_dict_insert(dict, "http_responses_2xx_total", "t", self->responses_2xx);
	g_variant_dict_insert(dict, "http_responses_4xx_total", "t", self->responses_4xx);
	g_variant_dict_insert(dict, "http_responses_5xx_total", "t", self->responses_5xx);
	g_variant_dict_insert(dict, "http_too_large_total", "t", self->too_large);
	g_variant_dict_insert(dict, "http_unauthorized_total", "t", self->unauthorized);
	g_variant_dict_insert(dict, "http_not_found_total", "t", self->not_found);
}

HeraldHttp *
herald_http_new(void)
{
	return g_object_new(HERALD_TYPE_HTTP, NULL);
}

static void
herald_http_init(HeraldHttp *self)
{
	self->routes = g_ptr_array_new_with_free_func((GDestroyNotify)herald_http_route_free);
	self->unix_paths = g_ptr_array_new_with_free_func(g_free);
	self->max_request_bytes = 10 * 1024 * 1024;
	self->server = soup_server_new("server-header", "herald/" PACKAGE_VERSION, NULL);
	/* WebSocket handshakes are handled by plugins; no extension may be
	 * negotiated behind their back (deflate defeats size limits) */
	soup_server_remove_websocket_extension(self->server,
					       SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
	soup_server_add_early_handler(self->server, NULL, herald_http_early_cb, self, NULL);
	soup_server_add_handler(self->server, NULL, herald_http_handler_cb, self, NULL);
	g_signal_connect(self->server,
			 "request-finished",
			 G_CALLBACK(herald_http_request_finished_cb),
			 self);
	g_signal_connect(self->server,
			 "request-read",
			 G_CALLBACK(herald_http_request_read_cb),
			 self);
}

static void
herald_http_dispose(GObject *object)
{
	HeraldHttp *self = HERALD_HTTP(object);
	if (self->server != NULL) {
		herald_http_disconnect(self);
		g_signal_handlers_disconnect_by_data(self->server, self);
		soup_server_remove_handler(self->server, "/");
	}
	g_clear_object(&self->server);
	g_clear_object(&self->auth);
	G_OBJECT_CLASS(herald_http_parent_class)->dispose(object);
}

static void
herald_http_finalize(GObject *object)
{
	HeraldHttp *self = HERALD_HTTP(object);
	g_ptr_array_unref(self->routes);
	g_ptr_array_unref(self->unix_paths);
	G_OBJECT_CLASS(herald_http_parent_class)->finalize(object);
}

static void
herald_http_class_init(HeraldHttpClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = herald_http_dispose;
	object_class->finalize = herald_http_finalize;
}
