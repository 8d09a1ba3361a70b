/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <glib/gi18n-lib.h>

#include <sys/socket.h>

#include "herald-http-private.h"
#include "herald-json.h"

/* one sweep over the open connections enforces every deadline */
#define HERALD_HTTP_SWEEP_MS 250

/* where a connection is in its current request */
typedef enum {
	HERALD_HTTP_PHASE_HEADERS, /* accepted, or idle after a response: headers are due */
	HERALD_HTTP_PHASE_BODY,	   /* headers in, the body is arriving */
	HERALD_HTTP_PHASE_HANDLER, /* the request is read; the handler answers in its time */
} HeraldHttpPhase;

/* an accepted connection, keyed by its socket */
typedef struct {
	GSocket *socket;	/* (owned) */
	SoupServerMessage *msg; /* (owned) (nullable): only while the body arrives */
	HeraldHttpPhase phase;
	gboolean idle;		/* between requests of a keep-alive connection */
	gboolean streaming;	/* the body goes to a streaming route (uploads) */
	gint64 phase_start;	/* monotonic µs */
	gint64 last_progress;	/* last body bytes */
	gint64 closing_since;	/* shut down (by us or, while idle, by the client) */
	GWeakRef soup_conn;	/* libsoup < 3.3: its connection object, see below */
} HeraldHttpConn;

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
	GHashTable *conns; /* (element-type GSocket HeraldHttpConn) */
	guint sweep_id;
	guint64 header_timeout_ms;
	guint64 body_idle_timeout_ms;
	guint64 body_timeout_ms;
	guint64 upload_idle_timeout_ms;
	guint64 upload_timeout_ms;
	GPtrArray *unix_paths; /* (element-type filename): removed on disconnect */
	/* stats */
	guint64 requests;
	guint64 responses_2xx;
	guint64 responses_4xx;
	guint64 responses_5xx;
	guint64 too_large;
	guint64 unauthorized;
	guint64 api_key_rejected;
	guint64 not_found;
	guint64 header_timeouts;
	guint64 body_timeouts;
	guint64 bad_length;
	guint64 idle_closed_by_client;
	guint64 closed_early;
};

G_DEFINE_FINAL_TYPE(HeraldHttp, herald_http, G_TYPE_OBJECT)

#define HERALD_HTTP_KEY_ROUTE	 "herald-route"
#define HERALD_HTTP_KEY_IDENTITY "herald-identity"
#define HERALD_HTTP_KEY_RECEIVED "herald-received"
#define HERALD_HTTP_KEY_CLOSED	 "herald-closed" /* the status we answered before closing */

/* trusted reverse proxies, `[host] trusted-proxies`: one list per process, like
 * the JSON depth gate */
static GPtrArray *herald_http_trusted_proxies = NULL; /* (element-type GInetAddressMask) */

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
	g_autofree gchar *body = herald_json_to_string(node);
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

static JsonBuilder *
herald_http_error_builder(HeraldError code, const gchar *message)
{
	JsonBuilder *builder = json_builder_new();
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "error");
	json_builder_add_string_value(builder, herald_error_to_code(code));
	json_builder_set_member_name(builder, "message");
	json_builder_add_string_value(builder, message != NULL ? message : "");
	json_builder_end_object(builder);
	return builder;
}

void
herald_http_reply_error_literal(SoupServerMessage *msg, HeraldError code, const gchar *message)
{
	g_autoptr(JsonBuilder) builder = herald_http_error_builder(code, message);
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

/**
 * herald_http_peer_is_loopback:
 * @msg: a request
 *
 * Whether the TCP peer is loopback (or a unix socket). This says nothing about
 * the client behind a reverse proxy on the same host: to trust a local caller,
 * use herald_http_client_is_local().
 *
 * Returns: %TRUE for a loopback or unix socket peer
 *
 * Since: 0.1
 */
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

/* ::ffff:a.b.c.d (a dual-stack listener) counts as a.b.c.d */
static GInetAddress *
herald_http_normalize_address(GInetAddress *inet)
{
	if (g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV6) {
		const guint8 *bytes = g_inet_address_to_bytes(inet);
		static const guint8 mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(bytes, mapped, sizeof(mapped)) == 0)
			return g_inet_address_new_from_bytes(bytes + 12, G_SOCKET_FAMILY_IPV4);
	}
	return g_object_ref(inet);
}

/* a forwarded hop: `1.2.3.4`, `[v6]`, `[v6]:port`, `1.2.3.4:port`, `"…"` */
static GInetAddress *
herald_http_parse_hop(const gchar *text)
{
	g_autofree gchar *hop = g_strstrip(g_strdup(text));
	g_autoptr(GInetAddress) inet = NULL;
	gchar *start = hop;
	gsize len;

	if (start[0] == '"') {
		start++;
		len = strlen(start);
		if (len > 0 && start[len - 1] == '"')
			start[len - 1] = '\0';
	}
	if (start[0] == '[') {
		gchar *end = strchr(start, ']');
		if (end == NULL)
			return NULL;
		*end = '\0';
		start++;
	} else if (strchr(start, ':') == strrchr(start, ':') && strchr(start, ':') != NULL) {
		/* one colon: IPv4 with a port */
		*strchr(start, ':') = '\0';
	}
	inet = g_inet_address_new_from_string(start);
	if (inet == NULL)
		return NULL;
	return herald_http_normalize_address(inet);
}

static gboolean
herald_http_is_trusted_proxy(GInetAddress *inet)
{
	if (inet == NULL || herald_http_trusted_proxies == NULL)
		return FALSE;
	for (guint i = 0; i < herald_http_trusted_proxies->len; i++) {
		GInetAddressMask *mask = g_ptr_array_index(herald_http_trusted_proxies, i);
		if (g_inet_address_mask_get_family(mask) == g_inet_address_get_family(inet) &&
		    g_inet_address_mask_matches(mask, inet))
			return TRUE;
	}
	return FALSE;
}

/**
 * herald_http_parse_trusted_proxy:
 * @text: an entry of `[host] trusted-proxies`: an IP address or a CIDR block
 * @error: set to %HERALD_ERROR_CONFIG when @text is neither
 *
 * Returns: (transfer full): the mask, or %NULL
 */
GInetAddressMask *
herald_http_parse_trusted_proxy(const gchar *text, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	GInetAddressMask *mask = g_inet_address_mask_new_from_string(text, &error_local);
	if (mask == NULL) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: %s is a [host] trusted-proxies entry */
			    _("trusted proxy '%s' is not an IP address or a CIDR block (10.0.0.0/8)"),
			    text);
		return NULL;
	}
	return mask;
}

void
herald_http_set_trusted_proxies(HeraldHttp *self, gchar **proxies)
{
	GPtrArray *masks = g_ptr_array_new_with_free_func(g_object_unref);
	g_return_if_fail(HERALD_IS_HTTP(self));
	for (guint i = 0; proxies != NULL && proxies[i] != NULL; i++) {
		GInetAddressMask *mask = herald_http_parse_trusted_proxy(proxies[i], NULL);
		/* --check-config refused the bad ones already */
		if (mask != NULL)
			g_ptr_array_add(masks, mask);
	}
	g_clear_pointer(&herald_http_trusted_proxies, g_ptr_array_unref);
	herald_http_trusted_proxies = masks;
}

static GInetAddress *
herald_http_get_peer_inet(SoupServerMessage *msg)
{
	GSocketAddress *addr = soup_server_message_get_remote_address(msg);
	if (addr == NULL || !G_IS_INET_SOCKET_ADDRESS(addr))
		return NULL;
	return herald_http_normalize_address(
	    g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(addr)));
}

static gboolean
herald_http_has_forwarding_header(SoupServerMessage *msg)
{
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	return soup_message_headers_get_one(headers, "Forwarded") != NULL ||
	       soup_message_headers_get_one(headers, "X-Forwarded-For") != NULL ||
	       soup_message_headers_get_one(headers, "X-Real-IP") != NULL;
}

/* the hops a trusted proxy reports, nearest last */
static GPtrArray *
herald_http_get_forwarded_hops(SoupServerMessage *msg)
{
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	GPtrArray *hops = g_ptr_array_new_with_free_func(g_free);
	const gchar *value = soup_message_headers_get_list(headers, "X-Forwarded-For");

	if (value != NULL) {
		g_auto(GStrv) parts = g_strsplit(value, ",", -1);
		for (guint i = 0; parts[i] != NULL; i++)
			g_ptr_array_add(hops, g_strstrip(g_strdup(parts[i])));
		return hops;
	}
	value = soup_message_headers_get_list(headers, "Forwarded");
	if (value != NULL) {
		g_auto(GStrv) elements = g_strsplit(value, ",", -1);
		for (guint i = 0; elements[i] != NULL; i++) {
			g_auto(GStrv) pairs = g_strsplit(elements[i], ";", -1);
			for (guint j = 0; pairs[j] != NULL; j++) {
				const gchar *pair = pairs[j];
				while (*pair == ' ' || *pair == '\t')
					pair++;
				if (g_ascii_strncasecmp(pair, "for=", 4) == 0)
					g_ptr_array_add(hops, g_strstrip(g_strdup(pair + 4)));
			}
		}
		return hops;
	}
	value = soup_message_headers_get_one(headers, "X-Real-IP");
	if (value != NULL)
		g_ptr_array_add(hops, g_strstrip(g_strdup(value)));
	return hops;
}

/* NULL: unix socket peer; with a trusted proxy in front, the first hop left of
 * the trusted ones (an unreadable hop stops the walk at the last trusted one) */
static GInetAddress *
herald_http_get_client_inet(SoupServerMessage *msg)
{
	g_autoptr(GInetAddress) client = herald_http_get_peer_inet(msg);
	g_autoptr(GPtrArray) hops = NULL;

	if (!herald_http_is_trusted_proxy(client))
		return g_steal_pointer(&client);
	hops = herald_http_get_forwarded_hops(msg);
	for (guint i = hops->len; i > 0; i--) {
		g_autoptr(GInetAddress) hop = herald_http_parse_hop(g_ptr_array_index(hops, i - 1));
		if (hop == NULL)
			break;
		g_set_object(&client, hop);
		if (!herald_http_is_trusted_proxy(hop))
			break;
	}
	return g_steal_pointer(&client);
}

/**
 * herald_http_get_client_address:
 * @msg: a request
 *
 * The address of the client: the TCP peer, or, when the peer is one of
 * `[host] trusted-proxies`, the forwarded address left of the trusted proxies
 * (`X-Forwarded-For`, else `Forwarded: for=`, else `X-Real-IP`). Forwarding
 * headers from any other peer are ignored.
 *
 * Returns: (transfer full): the address as text (`203.0.113.9`, `2001:db8::1`),
 *   or `unix` for a peer on a unix socket
 *
 * Since: 0.2
 */
gchar *
herald_http_get_client_address(SoupServerMessage *msg)
{
	g_autoptr(GInetAddress) inet = NULL;
	g_return_val_if_fail(SOUP_IS_SERVER_MESSAGE(msg), NULL);
	inet = herald_http_get_client_inet(msg);
	if (inet == NULL)
		return g_strdup("unix");
	return g_inet_address_to_string(inet);
}

/**
 * herald_http_client_is_local:
 * @msg: a request
 *
 * Whether the request comes from this host, for the endpoints that trust local
 * callers (%HERALD_HTTP_AUTH_LOCAL_OR_ADMIN): a loopback or unix socket peer
 * that sends no forwarding header (`Forwarded`, `X-Forwarded-For`,
 * `X-Real-IP`: a reverse proxy on this host relays others), or a peer in
 * `[host] trusted-proxies` whose forwarded client is loopback.
 *
 * Returns: %TRUE for a local client
 *
 * Since: 0.2
 */
gboolean
herald_http_client_is_local(SoupServerMessage *msg)
{
	g_autoptr(GInetAddress) peer = NULL;

	g_return_val_if_fail(SOUP_IS_SERVER_MESSAGE(msg), FALSE);
	peer = herald_http_get_peer_inet(msg);
	if (herald_http_is_trusted_proxy(peer) && herald_http_has_forwarding_header(msg)) {
		g_autoptr(GPtrArray) hops = herald_http_get_forwarded_hops(msg);
		/* strict: every hop readable, the first untrusted one loopback */
		for (guint i = hops->len; i > 0; i--) {
			g_autoptr(GInetAddress) hop =
			    herald_http_parse_hop(g_ptr_array_index(hops, i - 1));
			if (hop == NULL)
				return FALSE;
			if (!herald_http_is_trusted_proxy(hop) || i == 1)
				return g_inet_address_get_is_loopback(hop);
		}
		return FALSE;
	}
	return herald_http_peer_is_loopback(msg) && !herald_http_has_forwarding_header(msg);
}

static gboolean
herald_http_route_has_method(HeraldHttpRoute *route, const gchar *method)
{
	for (guint i = 0; route->methods[i] != NULL; i++) {
		/* "*": the handler answers every method itself (Engine.IO's 400) */
		if (g_strcmp0(route->methods[i], "*") == 0 ||
		    g_strcmp0(route->methods[i], method) == 0)
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
	gpointer closed = g_object_get_data(G_OBJECT(msg), HERALD_HTTP_KEY_CLOSED);
	if (closed != NULL)
		status = GPOINTER_TO_UINT(closed);
	if (status >= 200 && status < 300)
		self->responses_2xx++;
	else if (status >= 400 && status < 500)
		self->responses_4xx++;
	else if (status >= 500)
		self->responses_5xx++;
}

/* ---- connections and their deadlines ---- */

static guint64
herald_http_route_max_bytes(HeraldHttp *self, HeraldHttpRoute *route);
static void
herald_http_too_large(HeraldHttp *self, SoupServerMessage *msg);
static void
herald_http_reject_body(SoupServerMessage *msg);

static void
herald_http_conn_free(HeraldHttpConn *conn)
{
	g_weak_ref_clear(&conn->soup_conn);
	g_clear_object(&conn->msg);
	g_object_unref(conn->socket);
	g_free(conn);
}

static HeraldHttpConn *
herald_http_lookup_conn(HeraldHttp *self, SoupServerMessage *msg)
{
	GSocket *socket = soup_server_message_get_socket(msg);
	if (socket == NULL)
		return NULL;
	return g_hash_table_lookup(self->conns, socket);
}

/* Answers now and closes, without reading the rest of the request: libsoup
 * would read the whole body before writing any status. The answer is written
 * straight to the socket (nothing else is being written on it while a request
 * is read), then both directions are shut down: libsoup reads EOF, gives up
 * the request and closes its connection itself, so nothing is taken over and
 * nothing leaks; the kernel resets the connection if the client keeps sending. */
static void
herald_http_close_now(HeraldHttp *self, SoupServerMessage *msg)
{
	GSocket *socket = soup_server_message_get_socket(msg);
	SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
	guint status = soup_server_message_get_status(msg);
	g_autoptr(GBytes) body = NULL;
	g_autoptr(GString) reply = NULL;
	SoupMessageHeadersIter iter;
	const gchar *name;
	const gchar *value;
	HeraldHttpConn *conn;
	gsize body_len = 0;
	const gchar *body_data;

	if (g_object_get_data(G_OBJECT(msg), HERALD_HTTP_KEY_CLOSED) != NULL)
		return;
	g_object_set_data(G_OBJECT(msg), HERALD_HTTP_KEY_CLOSED, GUINT_TO_POINTER(status));
	self->closed_early++;
	/* what the kernel still holds is read by libsoup, and dropped */
	soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
	if (socket == NULL || g_socket_is_closed(socket))
		return;
	conn = g_hash_table_lookup(self->conns, socket);
	if (conn != NULL && conn->closing_since == 0)
		conn->closing_since = g_get_monotonic_time();

	body = soup_message_body_flatten(soup_server_message_get_response_body(msg));
	body_data = g_bytes_get_data(body, &body_len);
	soup_message_headers_replace(headers, "Connection", "close");
	soup_message_headers_remove(headers, "Content-Length");
	soup_message_headers_remove(headers, "Transfer-Encoding");
	reply = g_string_new(NULL);
	g_string_append_printf(reply, "HTTP/1.1 %u %s\r\n", status, soup_status_get_phrase(status));
	soup_message_headers_iter_init(&iter, headers);
	while (soup_message_headers_iter_next(&iter, &name, &value))
		g_string_append_printf(reply, "%s: %s\r\n", name, value);
	g_string_append_printf(reply, "Content-Length: %" G_GSIZE_FORMAT "\r\n\r\n", body_len);
	if (body_len > 0)
		g_string_append_len(reply, body_data, (gssize)body_len);
	/* best effort: a client that does not read gets the close only */
	(void)g_socket_send_with_blocking(socket, reply->str, reply->len, FALSE, NULL, NULL);
	(void)g_socket_shutdown(socket, TRUE, TRUE, NULL);
}

/* the request declares a body (chunked, or a Content-Length that is not 0);
 * @out_length: the declared length, -1 for chunked */
static gboolean
herald_http_has_body(SoupServerMessage *msg, gint64 *out_length)
{
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	SoupEncoding encoding = soup_message_headers_get_encoding(headers);
	gint64 length = -1;

	if (encoding == SOUP_ENCODING_NONE)
		return FALSE;
	if (encoding == SOUP_ENCODING_CONTENT_LENGTH)
		length = soup_message_headers_get_content_length(headers);
	if (out_length != NULL)
		*out_length = length;
	return length != 0;
}

/* every Content-Length value decimal digits, all of them the same */
static gboolean
herald_http_content_length_valid(SoupServerMessage *msg)
{
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	const gchar *value = soup_message_headers_get_list(headers, "Content-Length");
	g_auto(GStrv) parts = NULL;
	const gchar *first = NULL;

	if (value == NULL)
		return TRUE;
	parts = g_strsplit(value, ",", -1);
	for (guint i = 0; parts[i] != NULL; i++) {
		const gchar *part = g_strstrip(parts[i]);
		guint64 number = 0;
		if (part[0] == '\0' || strlen(part) > 18 ||
		    !g_ascii_string_to_unsigned(part, 10, 0, G_MAXINT64, &number, NULL))
			return FALSE;
		for (const gchar *p = part; *p != '\0'; p++) {
			if (!g_ascii_isdigit(*p))
				return FALSE;
		}
		if (first != NULL && g_ascii_strtoull(first, NULL, 10) != number)
			return FALSE;
		first = part;
	}
	return TRUE;
}

/* A request whose headers cannot be parsed never reaches got-headers; libsoup
 * answers it itself with an empty body. Every request starts with this JSON
 * answer in place; the early handler, which runs for every request that has
 * headers, takes it away again. */
static void
herald_http_prefill(SoupServerMessage *msg)
{
	g_autoptr(JsonBuilder) builder =
	    herald_http_error_builder(HERALD_ERROR_INVALID_ARGUMENT,
				      /* TRANSLATORS: HTTP 400 */
				      _("malformed request line or headers"));
	g_autoptr(JsonNode) node = json_builder_get_root(builder);
	g_autofree gchar *text = herald_json_to_string(node);
	gsize len = strlen(text);
	SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);

	soup_message_headers_replace(headers, "Cache-Control", "no-store");
	soup_message_headers_replace(headers, "Connection", "close");
	soup_server_message_set_response(msg,
					 "application/json",
					 SOUP_MEMORY_TAKE,
					 g_steal_pointer(&text),
					 len);
}

static void
herald_http_unprefill(SoupServerMessage *msg)
{
	SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
	soup_message_headers_remove(headers, "Cache-Control");
	soup_message_headers_remove(headers, "Connection");
	soup_message_headers_remove(headers, "Content-Type");
	soup_message_body_truncate(soup_server_message_get_response_body(msg));
}

static void
herald_http_timed_out(HeraldHttp *self, SoupServerMessage *msg)
{
	/* a response that is already set (a refusal whose body is drained) goes
	 * out as it is; else 408 */
	if (soup_server_message_get_status(msg) == 0) {
		g_autoptr(JsonBuilder) builder =
		    herald_http_error_builder(HERALD_ERROR_TIMED_OUT,
					      /* TRANSLATORS: HTTP 408 */
					      _("the request body did not arrive in time"));
		herald_http_reply_builder(msg, SOUP_STATUS_REQUEST_TIMEOUT, builder);
	}
	herald_http_close_now(self, msg);
}

/* Client closed an idle keep-alive connection: libsoup 3.2.3 leaves its socket
 * open in CLOSE-WAIT (fixed in 3.3.0 by "server: do not leak idle connections
 * closed by the client"). */
static gboolean
herald_http_peer_closed(GSocket *socket)
{
	gchar byte;
	gssize n = recv(g_socket_get_fd(socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0;
}

/*
 * libsoup before 3.3.0 never lets go of a keep-alive connection that the
 * client closes between two requests (upstream d20c6601 "server: do not leak
 * idle connections closed by the client"): the message waiting for the next
 * request has no completion callback, so on EOF nothing disconnects the
 * connection, and SoupServer keeps it in its client list until it is
 * disposed — about 1.8 KiB per connection, also after the host closed the
 * socket (heraldd: +9 MB per 5,000 such connections).
 *
 * The connection object is private to libsoup, but its "request-started"
 * signal carries it: an emission hook (public GObject API) notes it on the
 * message, and once the host has seen the idle connection end (EOF or its own
 * idle deadline, one sweep after the shutdown, so libsoup has read the EOF and
 * holds no message on it) it emits the connection's own "disconnected", which
 * is exactly what the upstream fix does (soup_server_connection_disconnect()
 * ends in that signal): SoupServer drops the connection and it is finalized.
 * Only on libsoup < 3.3.0, and only for connections idle between requests.
 */
static GQuark herald_http_soup_conn_quark;

static gboolean
herald_http_soup_conn_hook(GSignalInvocationHint *ihint,
			   guint n_params,
			   const GValue *params,
			   gpointer user_data)
{
	GObject *soup_conn = n_params > 0 ? g_value_get_object(&params[0]) : NULL;
	GObject *msg = n_params > 1 ? g_value_get_object(&params[1]) : NULL;
	if (soup_conn != NULL && msg != NULL)
		g_object_set_qdata(msg, herald_http_soup_conn_quark, soup_conn);
	return TRUE;
}

static void
herald_http_watch_soup_conns(void)
{
	static gboolean installed = FALSE;
	GType type;
	guint signal_id;

	if (installed || soup_check_version(3, 3, 0))
		return;
	/* registered when libsoup made its first connection object */
	type = g_type_from_name("SoupServerConnection");
	if (type == 0)
		return;
	signal_id = g_signal_lookup("request-started", type);
	if (signal_id == 0 || g_signal_lookup("disconnected", type) == 0)
		return;
	installed = TRUE;
	herald_http_soup_conn_quark = g_quark_from_static_string("herald-http-soup-conn");
	g_signal_add_emission_hook(signal_id, 0, herald_http_soup_conn_hook, NULL, NULL);
}

static void
herald_http_drop_idle_soup_conn(HeraldHttpConn *conn)
{
	g_autoptr(GObject) soup_conn = g_weak_ref_get(&conn->soup_conn);
	if (soup_conn == NULL)
		return;
	g_weak_ref_set(&conn->soup_conn, NULL);
	g_signal_emit_by_name(soup_conn, "disconnected");
}

static gboolean
herald_http_sweep_cb(gpointer user_data)
{
	HeraldHttp *self = HERALD_HTTP(user_data);
	gint64 now = g_get_monotonic_time();
	GHashTableIter iter;
	HeraldHttpConn *conn;

	g_hash_table_iter_init(&iter, self->conns);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&conn)) {
		if (g_socket_is_closed(conn->socket)) {
			g_hash_table_iter_remove(&iter);
			continue;
		}
		if (conn->closing_since != 0) {
			/* between requests libsoup 3.2.3 reads the EOF but never
			 * closes: close the socket once it had a sweep to do so */
			if (conn->idle && now - conn->closing_since >= HERALD_HTTP_SWEEP_MS * 1000) {
				g_socket_close(conn->socket, NULL);
				herald_http_drop_idle_soup_conn(conn);
				g_hash_table_iter_remove(&iter);
			}
			continue;
		}
		switch (conn->phase) {
		case HERALD_HTTP_PHASE_HEADERS:
			if (conn->idle && herald_http_peer_closed(conn->socket)) {
				self->idle_closed_by_client++;
				conn->closing_since = now;
				break;
			}
			if (now - conn->phase_start > (gint64)self->header_timeout_ms * 1000) {
				self->header_timeouts++;
				conn->closing_since = now;
				/* libsoup reads EOF and drops the connection */
				g_socket_shutdown(conn->socket, TRUE, TRUE, NULL);
			}
			break;
		case HERALD_HTTP_PHASE_BODY: {
			guint64 idle_ms = conn->streaming ? self->upload_idle_timeout_ms
							  : self->body_idle_timeout_ms;
			guint64 total_ms =
			    conn->streaming ? self->upload_timeout_ms : self->body_timeout_ms;
			if (conn->msg != NULL &&
			    (now - conn->last_progress > (gint64)idle_ms * 1000 ||
			     now - conn->phase_start > (gint64)total_ms * 1000)) {
				g_autoptr(SoupServerMessage) msg = g_object_ref(conn->msg);
				self->body_timeouts++;
				herald_http_timed_out(self, msg);
			}
			break;
		}
		case HERALD_HTTP_PHASE_HANDLER:
		default:
			break;
		}
	}
	if (g_hash_table_size(self->conns) == 0) {
		self->sweep_id = 0;
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static void
herald_http_got_headers_cb(SoupServerMessage *msg, gpointer user_data)
{
	HeraldHttp *self = HERALD_HTTP(user_data);
	HeraldHttpConn *conn = herald_http_lookup_conn(self, msg);
	HeraldHttpRoute *route = g_object_get_data(G_OBJECT(msg), HERALD_HTTP_KEY_ROUTE);
	gint64 length = 0;

	guint status = soup_server_message_get_status(msg);

	if (conn != NULL) {
		conn->phase = HERALD_HTTP_PHASE_BODY;
		conn->idle = FALSE;
		conn->phase_start = conn->last_progress = g_get_monotonic_time();
		/* a refused upload's body is only drained: the ordinary deadlines */
		conn->streaming =
		    status == 0 && route != NULL && (route->flags & HERALD_HTTP_ROUTE_STREAMING);
		g_set_object(&conn->msg, msg);
	}
	/* Refused before the body (by the early handler, or by libsoup: an
	 * encoded '..'). A declared body up to [host] max-request-bytes is read
	 * and dropped, so that an ordinary client, which sends its body before it
	 * reads, gets the answer; an endless (chunked) or larger one is not read. */
	if (status != 0 && herald_http_has_body(msg, &length) &&
	    (length < 0 || (guint64)length > self->max_request_bytes ||
	     status == SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE || status == SOUP_STATUS_BAD_REQUEST))
		herald_http_close_now(self, msg);
}

static void
herald_http_got_chunk_cb(SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
	HeraldHttp *self = HERALD_HTTP(user_data);
	HeraldHttpConn *conn = herald_http_lookup_conn(self, msg);
	HeraldHttpRoute *route = g_object_get_data(G_OBJECT(msg), HERALD_HTTP_KEY_ROUTE);
	guint64 received;

	if (conn != NULL)
		conn->last_progress = g_get_monotonic_time();
	if (route == NULL || (route->flags & HERALD_HTTP_ROUTE_STREAMING) ||
	    g_object_get_data(G_OBJECT(msg), HERALD_HTTP_KEY_CLOSED) != NULL)
		return;
	received = GPOINTER_TO_SIZE(g_object_get_data(G_OBJECT(msg), HERALD_HTTP_KEY_RECEIVED));
	received += g_bytes_get_size(chunk);
	g_object_set_data(G_OBJECT(msg), HERALD_HTTP_KEY_RECEIVED, GSIZE_TO_POINTER(received));
	if (received > herald_http_route_max_bytes(self, route)) {
		if (soup_server_message_get_status(msg) == 0)
			herald_http_too_large(self, msg);
		/* chunked past the limit: stop here */
		herald_http_close_now(self, msg);
	}
}

static void
herald_http_got_body_cb(SoupServerMessage *msg, gpointer user_data)
{
	HeraldHttp *self = HERALD_HTTP(user_data);
	HeraldHttpConn *conn = herald_http_lookup_conn(self, msg);
	if (conn == NULL)
		return;
	conn->phase = HERALD_HTTP_PHASE_HANDLER;
	g_clear_object(&conn->msg);
}

static void
herald_http_finished_cb(SoupServerMessage *msg, gpointer user_data)
{
	HeraldHttp *self = HERALD_HTTP(user_data);
	HeraldHttpConn *conn = herald_http_lookup_conn(self, msg);
	if (conn == NULL)
		return;
	/* headers of the next request are due from now on (libsoup closes the
	 * connection right after this when it is not kept alive) */
	conn->phase = HERALD_HTTP_PHASE_HEADERS;
	conn->idle = TRUE;
	conn->phase_start = g_get_monotonic_time();
	g_clear_object(&conn->msg);
}

/* libsoup before 3.4.0 keeps the reference g_socket_accept() gave its
 * listener on every accepted socket (soup-listener.c listen_watch(): fixed
 * upstream by "soup-listener: Plug a leak", b545d5f0, in 3.4.0): one GSocket,
 * 336 bytes, leaked per connection ever accepted, WebSocket or not. The first
 * request of a connection is announced right after the accept, before libsoup
 * made its GSocketConnection: then the socket has exactly three references —
 * the lost one, the connection's and ours — where a fixed libsoup has two.
 * Only in that case is the lost one given back, so a distribution libsoup
 * carrying the fix is never under-referenced. */
static void
herald_http_balance_accept_ref(GSocket *socket)
{
	static gint fixed = -1;

	if (fixed < 0)
		fixed = soup_check_version(3, 4, 0) ? 1 : 0;
	if (fixed)
		return;
	if (g_atomic_int_get(&G_OBJECT(socket)->ref_count) == 3)
		g_object_unref(socket);
}

/* a new request on a connection: at accept, or with the first bytes of the
 * next request of a keep-alive connection */
static void
herald_http_request_started_cb(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
	HeraldHttp *self = HERALD_HTTP(user_data);
	GSocket *socket = soup_server_message_get_socket(msg);
	HeraldHttpConn *conn;

	herald_http_prefill(msg);
	g_signal_connect_object(msg, "got-headers", G_CALLBACK(herald_http_got_headers_cb), self, 0);
	g_signal_connect_object(msg, "got-chunk", G_CALLBACK(herald_http_got_chunk_cb), self, 0);
	g_signal_connect_object(msg, "got-body", G_CALLBACK(herald_http_got_body_cb), self, 0);
	g_signal_connect_object(msg, "finished", G_CALLBACK(herald_http_finished_cb), self, 0);
	if (socket == NULL)
		return;
	herald_http_watch_soup_conns();
	conn = g_hash_table_lookup(self->conns, socket);
	if (conn == NULL) {
		conn = g_new0(HeraldHttpConn, 1);
		conn->socket = g_object_ref(socket);
		conn->phase_start = g_get_monotonic_time();
		g_hash_table_insert(self->conns, socket, conn);
		herald_http_balance_accept_ref(socket);
	}
	if (herald_http_soup_conn_quark != 0) {
		GObject *soup_conn = g_object_get_qdata(G_OBJECT(msg), herald_http_soup_conn_quark);
		if (soup_conn != NULL)
			g_weak_ref_set(&conn->soup_conn, soup_conn);
	}
	/* the header deadline of a kept-alive connection runs from its last
	 * response, not from the first byte of the next request */
	conn->phase = HERALD_HTTP_PHASE_HEADERS;
	conn->idle = FALSE;
	if (self->sweep_id == 0)
		self->sweep_id = g_timeout_add(HERALD_HTTP_SWEEP_MS, herald_http_sweep_cb, self);
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

/* `X-API-Key: KEY`, else `Authorization: apikey KEY`; NULL when neither */
static const gchar *
herald_http_get_api_key(SoupServerMessage *msg)
{
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	const gchar *key = soup_message_headers_get_one(headers, "X-API-Key");
	const gchar *authz;

	if (key != NULL)
		return key;
	authz = soup_message_headers_get_one(headers, "Authorization");
	if (authz != NULL && g_ascii_strncasecmp(authz, "apikey ", 7) == 0) {
		key = authz + 7;
		while (*key == ' ')
			key++;
		return key;
	}
	return NULL;
}

/* an API key ([auth] api-key-file) stands for a service account: it opens
 * HERALD_HTTP_AUTH_SERVICE routes only, never the admin ones nor user ones */
static gboolean
herald_http_authenticate_api_key(HeraldHttp *self, SoupServerMessage *msg, HeraldHttpRoute *route)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldIdentity) identity = NULL;

	if (self->auth == NULL) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_UNAVAILABLE,
						/* TRANSLATORS: HTTP 503 */
						_("authentication is not configured"));
		return FALSE;
	}
	/* every key is checked the same way, configured or not, so that a
	 * refusal takes the same time whatever was sent */
	identity = herald_auth_verify_api_key(self->auth, herald_http_get_api_key(msg), &error);
	if (identity == NULL) {
		self->unauthorized++;
		self->api_key_rejected++;
		herald_http_reply_error(msg, error);
		return FALSE;
	}
	if (route->auth != HERALD_HTTP_AUTH_SERVICE) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_PERMISSION_DENIED,
						/* TRANSLATORS: HTTP 403 */
						_("an API key only opens the service endpoints"));
		return FALSE;
	}
	g_object_set_data_full(G_OBJECT(msg),
			       HERALD_HTTP_KEY_IDENTITY,
			       g_steal_pointer(&identity),
			       (GDestroyNotify)herald_identity_unref);
	return TRUE;
}

static gboolean
herald_http_authenticate(HeraldHttp *self, SoupServerMessage *msg, HeraldHttpRoute *route)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldIdentity) identity = NULL;
	g_autofree gchar *token = NULL;

	if (route->auth == HERALD_HTTP_AUTH_NONE)
		return TRUE;
	if (route->auth == HERALD_HTTP_AUTH_LOCAL_OR_ADMIN && herald_http_client_is_local(msg))
		return TRUE;
	if (herald_http_get_api_key(msg) != NULL)
		return herald_http_authenticate_api_key(self, msg, route);
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

/* libsoup closes the connection after this request: `Connection: close`, or
 * any HTTP/1.0 request (libsoup keeps those only when the response says
 * `Connection: Keep-Alive`, which we never do) */
static gboolean
herald_http_client_wants_close(SoupServerMessage *msg)
{
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	return soup_server_message_get_http_version(msg) == SOUP_HTTP_1_0 ||
	       soup_message_headers_header_contains(headers, "Connection", "close");
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
	herald_http_unprefill(msg);
	/* libsoup closes after this response: say so, or a keep-alive client
	 * (Node's agent) sends its next request on the dead socket */
	if (herald_http_client_wants_close(msg)) {
		soup_message_headers_replace(soup_server_message_get_response_headers(msg),
					     "Connection",
					     "close");
	} else if (self->header_timeout_ms >= 2000 &&
		   soup_message_headers_get_one(headers, "Upgrade") == NULL) {
		g_autofree gchar *keep_alive =
		    g_strdup_printf("timeout=%" G_GUINT64_FORMAT, self->header_timeout_ms / 1000 - 1);
		soup_message_headers_replace(soup_server_message_get_response_headers(msg),
					     "Keep-Alive",
					     keep_alive);
	}
	if (!herald_http_content_length_valid(msg)) {
		self->bad_length++;
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_INVALID_ARGUMENT,
						/* TRANSLATORS: HTTP 400 */
						_("invalid Content-Length"));
		herald_http_reject_body(msg);
		return;
	}
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

/* libsoup gives up a request it could not finish: counted when we answered it
 * before closing */
static void
herald_http_request_aborted_cb(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
	if (g_object_get_data(G_OBJECT(msg), HERALD_HTTP_KEY_CLOSED) != NULL)
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

/* the routes as a JSON array of {path, methods, auth} for `GET /`; a
 * prefix route's path ends with '*' */
void
herald_http_add_routes_json(HeraldHttp *self, JsonBuilder *builder)
{
	static const gchar *const auths[] = {
	    [HERALD_HTTP_AUTH_NONE] = "none",
	    [HERALD_HTTP_AUTH_USER] = "user",
	    [HERALD_HTTP_AUTH_SERVICE] = "service",
	    [HERALD_HTTP_AUTH_LOCAL_OR_ADMIN] = "local_or_admin",
	};
	json_builder_begin_array(builder);
	for (guint i = 0; i < self->routes->len; i++) {
		HeraldHttpRoute *route = g_ptr_array_index(self->routes, i);
		g_autofree gchar *path = (route->flags & HERALD_HTTP_ROUTE_PREFIX)
					     ? g_strdup_printf("%s*", route->path)
					     : g_strdup(route->path);
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "path");
		json_builder_add_string_value(builder, path);
		json_builder_set_member_name(builder, "methods");
		json_builder_begin_array(builder);
		for (guint j = 0; route->methods[j] != NULL; j++)
			json_builder_add_string_value(builder, route->methods[j]);
		json_builder_end_array(builder);
		json_builder_set_member_name(builder, "auth");
		json_builder_add_string_value(builder,
					      (guint)route->auth < G_N_ELEMENTS(auths)
						  ? auths[route->auth]
						  : "none");
		json_builder_end_object(builder);
	}
	json_builder_end_array(builder);
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
herald_http_set_timeouts(HeraldHttp *self,
			 guint64 header_ms,
			 guint64 body_idle_ms,
			 guint64 body_ms,
			 guint64 upload_idle_ms,
			 guint64 upload_ms)
{
	g_return_if_fail(HERALD_IS_HTTP(self));
	self->header_timeout_ms = header_ms;
	self->body_idle_timeout_ms = body_idle_ms;
	self->body_timeout_ms = body_ms;
	self->upload_idle_timeout_ms = upload_idle_ms;
	self->upload_timeout_ms = upload_ms;
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
	g_variant_dict_insert(dict, "http_api_key_rejected_total", "t", self->api_key_rejected);
	g_variant_dict_insert(dict, "http_not_found_total", "t", self->not_found);
	g_variant_dict_insert(dict,
			      "http_timeouts_total",
			      "t",
			      self->header_timeouts + self->body_timeouts);
	g_variant_dict_insert(dict, "http_header_timeouts_total", "t", self->header_timeouts);
	g_variant_dict_insert(dict, "http_body_timeouts_total", "t", self->body_timeouts);
	g_variant_dict_insert(dict, "http_bad_length_total", "t", self->bad_length);
	g_variant_dict_insert(dict, "http_closed_early_total", "t", self->closed_early);
	g_variant_dict_insert(dict,
			      "http_idle_closed_by_client_total",
			      "t",
			      self->idle_closed_by_client);
	g_variant_dict_insert(dict, "http_connections", "t", (guint64)g_hash_table_size(self->conns));
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
	self->conns = g_hash_table_new_full(g_direct_hash,
					    g_direct_equal,
					    NULL,
					    (GDestroyNotify)herald_http_conn_free);
	self->header_timeout_ms = 10000;
	self->body_idle_timeout_ms = 10000;
	self->body_timeout_ms = 60000;
	self->upload_idle_timeout_ms = 30000;
	self->upload_timeout_ms = 3600000;
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
			 "request-aborted",
			 G_CALLBACK(herald_http_request_aborted_cb),
			 self);
	g_signal_connect(self->server,
			 "request-started",
			 G_CALLBACK(herald_http_request_started_cb),
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
	g_clear_handle_id(&self->sweep_id, g_source_remove);
	g_hash_table_remove_all(self->conns);
	G_OBJECT_CLASS(herald_http_parent_class)->dispose(object);
}

static void
herald_http_finalize(GObject *object)
{
	HeraldHttp *self = HERALD_HTTP(object);
	g_ptr_array_unref(self->routes);
	g_ptr_array_unref(self->unix_paths);
	g_hash_table_unref(self->conns);
	G_OBJECT_CLASS(herald_http_parent_class)->finalize(object);
}

static void
herald_http_class_init(HeraldHttpClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = herald_http_dispose;
	object_class->finalize = herald_http_finalize;
}
