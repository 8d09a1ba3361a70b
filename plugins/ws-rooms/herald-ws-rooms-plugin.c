/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <herald.h>

#include "herald-ws-rooms-eio.h"
#include "herald-ws-rooms-hub.h"
#include "herald-ws-rooms-plugin.h"
#include "herald-ws-rooms-writers.h"

struct _HeraldWsRoomsPlugin {
	HeraldPlugin parent_instance;
	HeraldWsRoomsHub *hub; /* (owned) (nullable) until startup */
	gulong deliver_id;
	gulong count_id;
	gulong pending_id;
	gchar *sio_prefix;    /* (nullable) the Socket.IO route */
	GTask *shutdown_task; /* (owned) (nullable) */
	guint shutdown_poll_id;
	gint64 shutdown_deadline;
};

G_DEFINE_FINAL_TYPE(HeraldWsRoomsPlugin, herald_ws_rooms_plugin, HERALD_TYPE_PLUGIN)

/* every key has a commented line in data/herald.conf (DESIGN §2) */
static const HeraldConfigKey ws_rooms_keys[] = {
    {"path",
     HERALD_CONFIG_STRING,
     "/ws",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART | HERALD_CONFIG_FLAG_NOT_EMPTY,
     "URL path of the plain WebSocket protocol"},
    {"alias-paths",
     HERALD_CONFIG_LIST,
     "/ws/notifications",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "more URL paths of the plain WebSocket protocol (same token rules as path; ?job_id=ID joins job_ID when the role may subscribe to it); empty = none"},
    {"status-path",
     HERALD_CONFIG_STRING,
     "/ws/status",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "URL path of GET connection statistics (local callers or an admin token, like /stats); empty disables it"},
    {"socketio-path",
     HERALD_CONFIG_STRING,
     "/socket.io/",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "URL path prefix of Socket.IO v4 (Engine.IO v4); empty disables Socket.IO"},
    {"max-connections",
     HERALD_CONFIG_UINT,
     "10000",
     1,
     10000000,
     NULL,
     0,
     "authenticated connections (plain and Socket.IO) in total; more get HTTP 503 (Socket.IO sessions before their CONNECT count in max-pending instead)"},
    {"max-connections-per-user",
     HERALD_CONFIG_UINT,
     "10",
     1,
     100000,
     NULL,
     0,
     "connections of one user; more get HTTP 503 (Socket.IO: a refused CONNECT)"},
    {"max-subscriptions",
     HERALD_CONFIG_UINT,
     "50",
     0,
     100000,
     NULL,
     0,
     "rooms one connection may subscribe to, besides its role and personal rooms"},
    {"max-message-bytes",
     HERALD_CONFIG_UINT,
     "65536",
     128,
     16777216,
     NULL,
     0,
     "largest client message after reassembly of fragments; larger closes with 1009"},
    {"rate-limit",
     HERALD_CONFIG_UINT,
     "20",
     0,
     1000000,
     NULL,
     0,
     "client messages per second per connection (0 = unlimited); more closes with 4429"},
    {"rate-burst",
     HERALD_CONFIG_UINT,
     "40",
     1,
     1000000,
     NULL,
     0,
     "client messages allowed in a burst above rate-limit"},
    {"outgoing-buffer-bytes",
     HERALD_CONFIG_UINT,
     "1048576",
     4096,
     1073741824,
     NULL,
     0,
     "unsent bytes queued per connection (Socket.IO polling: plus one max-payload); a client that does not read is closed with 4008"},
    {"socket-send-buffer-bytes",
     HERALD_CONFIG_STRING,
     "auto",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_NOT_EMPTY,
     "SO_SNDBUF of each WebSocket (new connections): auto (outgoing-buffer-bytes/4, 16-256 KiB, so that little sits ahead of a slow consumer's 4008 close frame), 0 (the kernel's autotuned buffer) or 4096-67108864"},
    {"idle-timeout-ms",
     HERALD_CONFIG_UINT,
     "60000",
     0,
     86400000,
     NULL,
     0,
     "plain protocol: ping after half of it without traffic, close after all of it (0 = off)"},
    {"ping-interval-ms",
     HERALD_CONFIG_UINT,
     "25000",
     50,
     3600000,
     NULL,
     0,
     "Engine.IO: the server pings this often"},
    {"ping-timeout-ms",
     HERALD_CONFIG_UINT,
     "20000",
     50,
     3600000,
     NULL,
     0,
     "Engine.IO: a session whose pong is this late is closed"},
    {"max-payload",
     HERALD_CONFIG_UINT,
     "1000000",
     1024,
     104857600,
     NULL,
     0,
     "Engine.IO: largest polling POST body (413 as soon as it passes it) and polling response"},
    {"max-packets-per-payload",
     HERALD_CONFIG_UINT,
     "100",
     1,
     100000,
     NULL,
     0,
     "Engine.IO: packets in one polling POST; more get HTTP 400 (code 3) and end the session"},
    {"max-pending",
     HERALD_CONFIG_UINT,
     "1000",
     1,
     10000000,
     NULL,
     0,
     "Socket.IO sessions without a successful CONNECT yet; one more evicts the oldest of them"},
    {"max-pending-per-address",
     HERALD_CONFIG_UINT,
     "32",
     1,
     10000000,
     NULL,
     0,
     "Socket.IO sessions without a successful CONNECT from one source address; one more evicts that address's oldest"},
    {"max-connections-per-address",
     HERALD_CONFIG_UINT,
     "1000",
     0,
     10000000,
     NULL,
     0,
     "authenticated connections from one source address (0 = unlimited); more get HTTP 503 (Socket.IO: a refused CONNECT); leaves room for an office or carrier NAT"},
    {"upgrade-timeout-ms",
     HERALD_CONFIG_UINT,
     "10000",
     100,
     600000,
     NULL,
     0,
     "Engine.IO: time for a polling→websocket upgrade to complete"},
    {"connect-timeout-ms",
     HERALD_CONFIG_UINT,
     "45000",
     100,
     600000,
     NULL,
     0,
     "Socket.IO: a session without a CONNECT packet after this is closed"},
    {"close-timeout-ms",
     HERALD_CONFIG_UINT,
     "2000",
     10,
     600000,
     NULL,
     0,
     "how long a closing handshake may take before the socket is dropped; a peer still reading what is ahead of the close frame gets it again, up to 5 times it in all"},
    {"writer-threads",
     HERALD_CONFIG_STRING,
     "auto",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_NOT_EMPTY,
     "threads that write a fan-out to the sockets besides the main thread: auto (one per CPU beyond the first, at most 4) or 0-64"},
    {"allowed-origins",
     HERALD_CONFIG_LIST,
     NULL,
     0,
     0,
     NULL,
     0,
     "browser Origins allowed to connect (exact, e.g. https://app.example.com); empty = any"},
    {"broadcast-room",
     HERALD_CONFIG_STRING,
     "all",
     0,
     0,
     NULL,
     0,
     "a room every connection is in without joining it (empty = none)"},
};

static gboolean
herald_ws_rooms_plugin_read_config(HeraldWsRoomsPlugin *self, GError **error)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(self);
	g_autoptr(HeraldWsRoomsPolicy) policy = herald_ws_rooms_policy_new();
	HeraldWsRoomsLimits limits = {0};
	const gchar *broadcast = herald_plugin_get_config_string(plugin, "broadcast-room");
	const gchar *sndbuf = herald_plugin_get_config_string(plugin, "socket-send-buffer-bytes");
	guint writer_threads = 0;

	if (!herald_ws_rooms_policy_load(policy,
					 herald_plugin_get_config(plugin),
					 herald_plugin_get_name(plugin),
					 error))
		return FALSE;
	limits.max_connections = herald_plugin_get_config_uint64(plugin, "max-connections");
	limits.max_connections_per_user =
	    herald_plugin_get_config_uint64(plugin, "max-connections-per-user");
	limits.max_subscriptions = herald_plugin_get_config_uint64(plugin, "max-subscriptions");
	limits.max_message_bytes = herald_plugin_get_config_uint64(plugin, "max-message-bytes");
	limits.rate_limit = herald_plugin_get_config_uint64(plugin, "rate-limit");
	limits.rate_burst = herald_plugin_get_config_uint64(plugin, "rate-burst");
	limits.outgoing_buffer_bytes =
	    herald_plugin_get_config_uint64(plugin, "outgoing-buffer-bytes");
	if (!herald_ws_rooms_send_buffer_parse(sndbuf,
					       limits.outgoing_buffer_bytes,
					       &limits.socket_send_buffer_bytes,
					       error))
		return FALSE;
	limits.idle_timeout_ms = herald_plugin_get_config_uint64(plugin, "idle-timeout-ms");
	limits.ping_interval_ms = herald_plugin_get_config_uint64(plugin, "ping-interval-ms");
	limits.ping_timeout_ms = herald_plugin_get_config_uint64(plugin, "ping-timeout-ms");
	limits.max_payload = herald_plugin_get_config_uint64(plugin, "max-payload");
	limits.upgrade_timeout_ms = herald_plugin_get_config_uint64(plugin, "upgrade-timeout-ms");
	limits.connect_timeout_ms = herald_plugin_get_config_uint64(plugin, "connect-timeout-ms");
	limits.close_timeout_ms = herald_plugin_get_config_uint64(plugin, "close-timeout-ms");
	limits.max_packets_per_payload =
	    herald_plugin_get_config_uint64(plugin, "max-packets-per-payload");
	limits.max_pending = herald_plugin_get_config_uint64(plugin, "max-pending");
	limits.max_pending_per_address =
	    herald_plugin_get_config_uint64(plugin, "max-pending-per-address");
	limits.max_connections_per_address =
	    herald_plugin_get_config_uint64(plugin, "max-connections-per-address");
	limits.allowed_origins = herald_plugin_get_config_strv(plugin, "allowed-origins");
	limits.broadcast_room = broadcast != NULL && broadcast[0] != '\0' ? g_strdup(broadcast)
									  : NULL;
	if (!herald_ws_rooms_writers_parse(herald_plugin_get_config_string(plugin, "writer-threads"),
					   &writer_threads,
					   error))
		return FALSE;
	herald_ws_rooms_hub_set_limits(self->hub, &limits);
	herald_ws_rooms_limits_clear(&limits);
	herald_ws_rooms_hub_set_writer_threads(self->hub, writer_threads);
	herald_ws_rooms_hub_set_policy(self->hub, g_steal_pointer(&policy));
	/* a polling POST is refused by the host as soon as it passes max-payload,
	 * before more of it is buffered */
	if (self->sio_prefix != NULL)
		herald_host_set_http_route_max_bytes(herald_plugin_get_host(plugin),
						     plugin,
						     self->sio_prefix,
						     herald_ws_rooms_hub_get_limits(self->hub)
							 ->max_payload);
	return TRUE;
}

typedef struct {
	HeraldIdentity *identity;
	gchar *address;	 /* (nullable) */
	gchar *job_room; /* (nullable) `job_{id}` of `?job_id=` */
} HeraldWsRoomsPlainUpgrade;

static void
herald_ws_rooms_plugin_plain_upgrade_free(gpointer data)
{
	HeraldWsRoomsPlainUpgrade *up = data;
	herald_identity_unref(up->identity);
	g_free(up->address);
	g_free(up->job_room);
	g_free(up);
}

static void
herald_ws_rooms_plugin_adopt_plain_cb(HeraldWsRoomsHub *hub,
				      HeraldWsRoomsConn *conn,
				      gpointer user_data)
{
	HeraldWsRoomsPlainUpgrade *up = user_data;
	herald_ws_rooms_plain_start_full(hub, conn, up->identity, up->address, up->job_room);
}

/* GET /ws: authenticate, check Origin and limits, then 101 and take over */
static void
herald_ws_rooms_plugin_plain_cb(SoupServerMessage *msg,
				const gchar *subpath,
				HeraldIdentity *unused,
				gpointer user_data)
{
	HeraldWsRoomsPlugin *self = HERALD_WS_ROOMS_PLUGIN(user_data);
	HeraldAuth *auth = herald_plugin_get_auth(HERALD_PLUGIN(self));
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	const gchar *origin = soup_message_headers_get_one(headers, "Origin");
	g_autofree gchar *token = herald_http_get_token(msg);
	g_autoptr(HeraldIdentity) identity = NULL;
	g_autoptr(GError) error = NULL;
	/* behind [host] trusted-proxies: the forwarded client */
	g_autofree gchar *address = herald_http_get_client_address(msg);
	const gchar *query = g_uri_get_query(soup_server_message_get_uri(msg));
	g_autoptr(GHashTable) params = query != NULL ? soup_form_decode(query) : NULL;
	const gchar *job_id = params != NULL ? g_hash_table_lookup(params, "job_id") : NULL;
	g_autofree gchar *job_room = NULL;
	HeraldWsRoomsPlainUpgrade *up;

	/* `?job_id=` (the notification endpoint's filter): a job's room, whose
	 * name must be a valid room name; whether the role may join it is
	 * decided by the subscribe rules once connected */
	if (job_id != NULL) {
		job_room = g_strdup_printf("job_%s", job_id);
		if (job_id[0] == '\0' || !herald_ws_rooms_room_check(job_room, &error)) {
			herald_ws_rooms_hub_count_reject(self->hub, "invalid_job_id");
			herald_http_reply_error_literal(
			    msg,
			    HERALD_ERROR_INVALID_ARGUMENT,
			    /* TRANSLATORS: HTTP 400 before a WebSocket upgrade */
			    _("invalid 'job_id': it must make a valid room name job_ID"));
			return;
		}
	}
	if (token == NULL) {
		herald_ws_rooms_hub_count_reject(self->hub, "missing_token");
		herald_http_reply_error_literal(
		    msg,
		    HERALD_ERROR_UNAUTHENTICATED,
		    /* TRANSLATORS: HTTP 401 before a WebSocket upgrade */
		    _("missing token: use ?token= or Authorization: Bearer"));
		return;
	}
	if (auth == NULL) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_UNAVAILABLE,
						/* TRANSLATORS: HTTP 503 */
						_("authentication is not configured"));
		return;
	}
	identity = herald_auth_verify(auth, token, &error);
	if (identity == NULL) {
		herald_ws_rooms_hub_count_reject(
		    self->hub,
		    g_error_matches(error, HERALD_ERROR, HERALD_ERROR_TOKEN_EXPIRED)
			? "token_expired"
			: "invalid_token");
		herald_http_reply_error(msg, error);
		return;
	}
	if (!herald_ws_rooms_hub_origin_allowed(self->hub, origin)) {
		herald_ws_rooms_hub_count_reject(self->hub, "origin");
		herald_http_reply_error_literal(
		    msg,
		    HERALD_ERROR_PERMISSION_DENIED,
		    /* TRANSLATORS: HTTP 403 before a WebSocket upgrade */
		    _("this Origin is not allowed"));
		return;
	}
	if (!herald_ws_rooms_hub_check_admission(self->hub,
						 herald_identity_get_user_id(identity),
						 &error)) {
		herald_ws_rooms_hub_count_reject(self->hub, "server_full");
		herald_http_reply_error(msg, error);
		return;
	}
	if (!herald_ws_rooms_hub_check_address(self->hub, address, &error)) {
		herald_http_reply_error(msg, error);
		return;
	}
	up = g_new0(HeraldWsRoomsPlainUpgrade, 1);
	up->identity = herald_identity_ref(identity);
	up->address = g_strdup(address);
	up->job_room = g_steal_pointer(&job_room);
	if (!herald_ws_rooms_hub_upgrade(self->hub,
					 msg,
					 HERALD_WS_ROOMS_PROTO_PLAIN,
					 herald_ws_rooms_plugin_adopt_plain_cb,
					 up,
					 herald_ws_rooms_plugin_plain_upgrade_free,
					 &error)) {
		herald_ws_rooms_hub_count_reject(self->hub, "bad_handshake");
		herald_http_reply_error(msg, error);
		return;
	}
}

/* GET /ws/status: the connection statistics of this plugin (what /stats
 * shows under plugins.ws-rooms), with the paths it serves */
static void
herald_ws_rooms_plugin_status_cb(SoupServerMessage *msg,
				 const gchar *subpath,
				 HeraldIdentity *identity,
				 gpointer user_data)
{
	HeraldWsRoomsPlugin *self = HERALD_WS_ROOMS_PLUGIN(user_data);
	HeraldPlugin *plugin = HERALD_PLUGIN(self);
	g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT(NULL);
	g_autoptr(GVariant) variant = NULL;
	g_autoptr(JsonNode) stats = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_auto(GStrv) aliases = herald_plugin_get_config_strv(plugin, "alias-paths");
	g_autoptr(JsonBuilder) paths = json_builder_new();
	JsonObject *obj;

	herald_ws_rooms_hub_add_stats(self->hub, &dict);
	variant = g_variant_ref_sink(g_variant_dict_end(&dict));
	stats = json_gvariant_serialize(variant);
	json_builder_begin_array(paths);
	json_builder_add_string_value(paths, herald_plugin_get_config_string(plugin, "path"));
	for (guint i = 0; aliases != NULL && aliases[i] != NULL; i++)
		json_builder_add_string_value(paths, aliases[i]);
	json_builder_end_array(paths);

	root = json_node_new(JSON_NODE_OBJECT);
	obj = json_object_new();
	json_object_set_boolean_member(obj, "enabled", TRUE);
	json_object_set_member(obj, "paths", json_builder_get_root(paths));
	if (self->sio_prefix != NULL)
		json_object_set_string_member(obj, "socketio_path", self->sio_prefix);
	json_object_set_member(obj, "stats", g_steal_pointer(&stats));
	json_node_take_object(root, obj);
	herald_http_reply_json(msg, SOUP_STATUS_OK, root);
}

/* alias-paths and status-path: absolute, and none of them another route of
 * ws-rooms (the first problem) */
static gboolean
herald_ws_rooms_plugin_check_paths(HeraldPlugin *plugin, const gchar **out_key, GError **error)
{
	const gchar *path = herald_plugin_get_config_string(plugin, "path");
	const gchar *status = herald_plugin_get_config_string(plugin, "status-path");
	const gchar *sio = herald_plugin_get_config_string(plugin, "socketio-path");
	g_auto(GStrv) aliases = herald_plugin_get_config_strv(plugin, "alias-paths");
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

	if (path != NULL)
		g_hash_table_add(seen, (gpointer)path);
	if (status != NULL && status[0] != '\0') {
		*out_key = "status-path";
		if (status[0] != '/') {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: config error; %s is a URL path */
				    _("status-path '%s' must start with '/'"),
				    status);
			return FALSE;
		}
		if (!g_hash_table_add(seen, (gpointer)status)) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: config error; %s is a URL path */
				    _("status-path '%s' is also the WebSocket path"),
				    status);
			return FALSE;
		}
	}
	*out_key = "alias-paths";
	for (guint i = 0; aliases != NULL && aliases[i] != NULL; i++) {
		const gchar *alias = aliases[i];
		if (alias[0] != '/') {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: config error; %s is a URL path */
				    _("alias path '%s' must start with '/'"),
				    alias);
			return FALSE;
		}
		if ((sio != NULL && sio[0] != '\0' && g_str_has_prefix(alias, sio)) ||
		    !g_hash_table_add(seen, (gpointer)alias)) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: config error; %s is a URL path */
				    _("alias path '%s' is already served (path, status-path, "
				      "socketio-path or another alias)"),
				    alias);
			return FALSE;
		}
	}
	return TRUE;
}

static void
herald_ws_rooms_plugin_sio_cb(SoupServerMessage *msg,
			      const gchar *subpath,
			      HeraldIdentity *unused,
			      gpointer user_data)
{
	HeraldWsRoomsPlugin *self = HERALD_WS_ROOMS_PLUGIN(user_data);
	herald_ws_rooms_eio_handle(self->hub, msg);
}

static guint
herald_ws_rooms_plugin_deliver_cb(HeraldBus *bus, HeraldDelivery *delivery, gpointer user_data)
{
	HeraldWsRoomsPlugin *self = HERALD_WS_ROOMS_PLUGIN(user_data);
	return herald_ws_rooms_hub_deliver(self->hub, delivery);
}

static guint
herald_ws_rooms_plugin_count_cb(HeraldBus *bus, const gchar *user_id, gpointer user_data)
{
	HeraldWsRoomsPlugin *self = HERALD_WS_ROOMS_PLUGIN(user_data);
	return herald_ws_rooms_hub_count(self->hub, user_id);
}

static guint
herald_ws_rooms_plugin_count_pending_cb(HeraldBus *bus, gpointer user_data)
{
	HeraldWsRoomsPlugin *self = HERALD_WS_ROOMS_PLUGIN(user_data);
	return herald_ws_rooms_budget_get_n_pending(herald_ws_rooms_hub_get_budget(self->hub));
}

static gboolean
herald_ws_rooms_plugin_startup(HeraldPlugin *plugin, GError **error)
{
	HeraldWsRoomsPlugin *self = HERALD_WS_ROOMS_PLUGIN(plugin);
	HeraldHost *host = herald_plugin_get_host(plugin);
	HeraldBus *bus = herald_plugin_get_bus(plugin);
	const gchar *path = herald_plugin_get_config_string(plugin, "path");
	const gchar *sio_path = herald_plugin_get_config_string(plugin, "socketio-path");

	if (path == NULL || path[0] != '/') {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: config error; %s is a URL path */
			    _("path '%s' must start with '/'"),
			    path != NULL ? path : "");
		return FALSE;
	}
	if (sio_path != NULL && sio_path[0] != '\0' && sio_path[0] != '/') {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: config error; %s is a URL path */
			    _("socketio-path '%s' must start with '/'"),
			    sio_path);
		return FALSE;
	}
	{
		const gchar *key = NULL;
		if (!herald_ws_rooms_plugin_check_paths(plugin, &key, error))
			return FALSE;
	}
	self->hub = herald_ws_rooms_hub_new(bus, herald_plugin_get_auth(plugin), error);
	if (self->hub == NULL)
		return FALSE;
	if (!herald_ws_rooms_plugin_read_config(self, error))
		return FALSE;

	herald_host_add_http_route(host,
				   plugin,
				   "GET",
				   path,
				   HERALD_HTTP_ROUTE_NONE,
				   HERALD_HTTP_AUTH_NONE,
				   herald_ws_rooms_plugin_plain_cb,
				   self);
	{
		g_auto(GStrv) aliases = herald_plugin_get_config_strv(plugin, "alias-paths");
		const gchar *status = herald_plugin_get_config_string(plugin, "status-path");
		for (guint i = 0; aliases != NULL && aliases[i] != NULL; i++)
			herald_host_add_http_route(host,
						   plugin,
						   "GET",
						   aliases[i],
						   HERALD_HTTP_ROUTE_NONE,
						   HERALD_HTTP_AUTH_NONE,
						   herald_ws_rooms_plugin_plain_cb,
						   self);
		if (status != NULL && status[0] != '\0')
			herald_host_add_http_route(host,
						   plugin,
						   "GET",
						   status,
						   HERALD_HTTP_ROUTE_NONE,
						   HERALD_HTTP_AUTH_LOCAL_OR_ADMIN,
						   herald_ws_rooms_plugin_status_cb,
						   self);
	}
	if (sio_path != NULL && sio_path[0] != '\0') {
		g_autofree gchar *prefix = g_str_has_suffix(sio_path, "/")
					       ? g_strdup(sio_path)
					       : g_strdup_printf("%s/", sio_path);
		/* during shutdown polling sessions still fetch their `41`; new
		 * sessions are refused by the admission check. Every method: a
		 * PUT gets Engine.IO's 400 "Bad handshake method", not a 405 */
		herald_host_add_http_route(host,
					   plugin,
					   "*",
					   prefix,
					   HERALD_HTTP_ROUTE_PREFIX | HERALD_HTTP_ROUTE_DURING_SHUTDOWN,
					   HERALD_HTTP_AUTH_NONE,
					   herald_ws_rooms_plugin_sio_cb,
					   self);
		self->sio_prefix = g_steal_pointer(&prefix);
		herald_host_set_http_route_max_bytes(host,
						     plugin,
						     self->sio_prefix,
						     herald_ws_rooms_hub_get_limits(self->hub)
							 ->max_payload);
	}
	self->deliver_id =
	    g_signal_connect(bus, "deliver", G_CALLBACK(herald_ws_rooms_plugin_deliver_cb), self);
	self->count_id = g_signal_connect(bus,
					  "count-connections",
					  G_CALLBACK(herald_ws_rooms_plugin_count_cb),
					  self);
	self->pending_id = g_signal_connect(bus,
					    "count-pending",
					    G_CALLBACK(herald_ws_rooms_plugin_count_pending_cb),
					    self);
	return TRUE;
}

static gboolean
herald_ws_rooms_plugin_reload(HeraldPlugin *plugin, GError **error)
{
	HeraldWsRoomsPlugin *self = HERALD_WS_ROOMS_PLUGIN(plugin);
	if (self->hub == NULL)
		return TRUE;
	herald_ws_rooms_hub_set_auth(self->hub, herald_plugin_get_auth(plugin));
	return herald_ws_rooms_plugin_read_config(self, error);
}

static void
herald_ws_rooms_plugin_disconnect_bus(HeraldWsRoomsPlugin *self)
{
	HeraldBus *bus = herald_plugin_get_bus(HERALD_PLUGIN(self));
	if (bus == NULL)
		return;
	g_clear_signal_handler(&self->deliver_id, bus);
	g_clear_signal_handler(&self->count_id, bus);
	g_clear_signal_handler(&self->pending_id, bus);
}

static gboolean
herald_ws_rooms_plugin_shutdown_poll_cb(gpointer user_data)
{
	HeraldWsRoomsPlugin *self = HERALD_WS_ROOMS_PLUGIN(user_data);
	GCancellable *cancellable = g_task_get_cancellable(self->shutdown_task);

	/* closing handshakes and the last long-poll answers still going out */
	if ((herald_ws_rooms_hub_get_n_open(self->hub) > 0 ||
	     herald_ws_rooms_eio_get_n_responses() > 0) &&
	    g_get_monotonic_time() < self->shutdown_deadline &&
	    !g_cancellable_is_cancelled(cancellable))
		return G_SOURCE_CONTINUE;
	self->shutdown_poll_id = 0;
	g_task_return_boolean(self->shutdown_task, TRUE);
	g_clear_object(&self->shutdown_task);
	return G_SOURCE_REMOVE;
}

/* 1001 to plain clients and `41` to Socket.IO clients, then wait (bounded) for
 * the close frames to go out */
static void
herald_ws_rooms_plugin_shutdown_async(HeraldPlugin *plugin,
				      GCancellable *cancellable,
				      GAsyncReadyCallback callback,
				      gpointer user_data)
{
	HeraldWsRoomsPlugin *self = HERALD_WS_ROOMS_PLUGIN(plugin);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);

	herald_ws_rooms_plugin_disconnect_bus(self);
	if (self->hub == NULL || self->shutdown_task != NULL) {
		g_task_return_boolean(task, TRUE);
		return;
	}
	herald_ws_rooms_hub_shutdown(self->hub);
	self->shutdown_task = g_steal_pointer(&task);
	self->shutdown_deadline =
	    g_get_monotonic_time() +
	    (gint64)herald_ws_rooms_hub_get_limits(self->hub)->close_timeout_ms * 1000 + 100 * 1000;
	self->shutdown_poll_id = g_timeout_add(20, herald_ws_rooms_plugin_shutdown_poll_cb, self);
}

static gboolean
herald_ws_rooms_plugin_shutdown_finish(HeraldPlugin *plugin, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

static void
herald_ws_rooms_plugin_add_stats(HeraldPlugin *plugin, GVariantDict *dict)
{
	HeraldWsRoomsPlugin *self = HERALD_WS_ROOMS_PLUGIN(plugin);
	if (self->hub != NULL)
		herald_ws_rooms_hub_add_stats(self->hub, dict);
}

static void
herald_ws_rooms_plugin_init(HeraldWsRoomsPlugin *self)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(self);
	herald_plugin_add_config_keys(plugin, ws_rooms_keys, G_N_ELEMENTS(ws_rooms_keys));
	herald_plugin_add_config_group(
	    plugin,
	    "roles",
	    HERALD_CONFIG_STRING,
	    "role = the room its connections join; without this group: ADMIN, ANALYST, "
	    "SUPPORT=admin, ADVISOR=advisor, CLIENT=client, SELLER=seller, DELIVERY=delivery");
	herald_plugin_add_config_group(
	    plugin,
	    "subscribe",
	    HERALD_CONFIG_LIST,
	    "role = ';'-list of room globs it may subscribe to; without this group: "
	    "ADMIN=*, ADVISOR=solicitud_*, SELLER=orders;inventory;products;notifications, "
	    "CLIENT=notifications;cart;myOrders, DELIVERY=deliveries;orders, "
	    "ANALYST=solicitud_*;orders;inventory;products;notifications, "
	    "SUPPORT=solicitud_*;orders;deliveries;notifications");
}

static void
herald_ws_rooms_plugin_dispose(GObject *object)
{
	HeraldWsRoomsPlugin *self = HERALD_WS_ROOMS_PLUGIN(object);
	herald_ws_rooms_plugin_disconnect_bus(self);
	g_clear_handle_id(&self->shutdown_poll_id, g_source_remove);
	if (self->shutdown_task != NULL) {
		g_task_return_boolean(self->shutdown_task, TRUE);
		g_clear_object(&self->shutdown_task);
	}
	g_clear_pointer(&self->hub, herald_ws_rooms_hub_free);
	g_clear_pointer(&self->sio_prefix, g_free);
	G_OBJECT_CLASS(herald_ws_rooms_plugin_parent_class)->dispose(object);
}

static void
herald_ws_rooms_plugin_check_config(HeraldPlugin *plugin, GPtrArray *problems)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) error_sndbuf = NULL;
	guint n_threads = 0;
	guint64 sndbuf = 0;

	if (!herald_ws_rooms_writers_parse(herald_plugin_get_config_string(plugin, "writer-threads"),
					   &n_threads,
					   &error))
		herald_plugin_add_config_problem(plugin, problems, "writer-threads", error->message);
	if (!herald_ws_rooms_send_buffer_parse(
		    herald_plugin_get_config_string(plugin, "socket-send-buffer-bytes"),
		    herald_plugin_get_config_uint64(plugin, "outgoing-buffer-bytes"),
		    &sndbuf,
		    &error_sndbuf))
		herald_plugin_add_config_problem(plugin,
						 problems,
						 "socket-send-buffer-bytes",
						 error_sndbuf->message);
	g_clear_error(&error);
	{
		const gchar *key = NULL;
		if (!herald_ws_rooms_plugin_check_paths(plugin, &key, &error))
			herald_plugin_add_config_problem(plugin, problems, key, error->message);
	}
}

static void
herald_ws_rooms_plugin_class_init(HeraldWsRoomsPluginClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	HeraldPluginClass *plugin_class = HERALD_PLUGIN_CLASS(klass);
	object_class->dispose = herald_ws_rooms_plugin_dispose;
	plugin_class->startup = herald_ws_rooms_plugin_startup;
	plugin_class->reload = herald_ws_rooms_plugin_reload;
	plugin_class->shutdown_async = herald_ws_rooms_plugin_shutdown_async;
	plugin_class->shutdown_finish = herald_ws_rooms_plugin_shutdown_finish;
	plugin_class->add_stats = herald_ws_rooms_plugin_add_stats;
	plugin_class->check_config = herald_ws_rooms_plugin_check_config;
}

/* the one symbol this module exports */
HERALD_PLUGIN_DEFINE_QUERY_TYPE(HERALD_TYPE_WS_ROOMS_PLUGIN)
