/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <herald.h>
#include <hiredis/adapters/glib.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "herald-redis-bridge-plugin.h"
#include "herald-redis-bridge-proto.h"
#include "herald-redis-bridge-sentinel.h"

/* keys and channels this plugin owns (README: "Keys") */
#define RB_CONTROL_CHANNEL "herald:control"
#define RB_INSTANCES_KEY "herald:presence:instances"
#define RB_INSTANCE_KEY_PREFIX "herald:presence:instance:"
#define RB_SEEN_MIN 16384
#define RB_HSET_CHUNK 256

/* one hiredis async context and its reconnect state */
typedef struct {
	HeraldRedisBridgePlugin *self;
	const gchar *role; /* "subscriber" or "command" */
	redisAsyncContext *ac;
	GSource *source;
	GCancellable *resolve_cancellable;
	gboolean connected;
	gboolean ready;
	gboolean lost; /* was ready once and went down: the next ready is a reconnect */
	guint attempt;
	guint n_resolved; /* rotates over the addresses of a host name */
	guint retry_id;
	guint timeout_id;
	const gchar *abort_reason; /* (nullable): set while rb_conn_abort() frees */
	gboolean role_checked;	   /* sentinels: ROLE said master on this connection */
	gchar *peer_host;	   /* (nullable) where this connection goes (sentinels) */
	guint16 peer_port;
	gchar *error;		   /* (nullable): why it is down */
} RbConn;

typedef enum {
	RB_REJECT_INVALID_JSON,
	RB_REJECT_NOT_OBJECT,
	RB_REJECT_TOO_LARGE,
	RB_REJECT_BAD_ENVELOPE,
	RB_REJECT_NO_ROUTE,
	RB_REJECT_BAD_CHANNEL,
	RB_REJECT_JSON_TOO_DEEP,
	RB_REJECT_LAST
} RbReject;

static const gchar *rb_reject_names[RB_REJECT_LAST] =
    {"invalid_json",
     "not_object",
     "too_large",
     "bad_envelope",
     "no_route",
     "bad_channel",
     "json_too_deep"};
static const gchar *rb_reject_texts[RB_REJECT_LAST] =
    {"not JSON",
     "JSON but not an object",
     "larger than max-message-bytes",
     "a malformed Herald envelope",
     "no route for the channel",
     "a channel name that is not printable UTF-8",
     "JSON nested deeper than [host] max-json-depth"};

typedef struct {
	gchar *channel;
	gchar *data;
	gsize len;
	gint64 flushed; /* monotonic µs when sent after an outage (replay window) */
	gint64 created; /* wall clock ms when the event went out here */
	gboolean from_queue;
} RbPublish;

/* a user with a connection on this instance */
typedef struct {
	gchar *role;	   /* (nullable) */
	GHashTable *rooms; /* rooms joined by subscribe (room-joined / room-left), a set */
	gchar *value;	   /* the hash value: {"role","rooms"} */
} RbUser;

static void
rb_user_free(RbUser *user)
{
	g_free(user->role);
	g_hash_table_unref(user->rooms);
	g_free(user->value);
	g_free(user);
}

struct _HeraldRedisBridgePlugin {
	HeraldPlugin parent_instance;
	HeraldRedisUrl *url; /* (owned) (nullable) until startup */
	gchar *password;     /* (owned) (nullable) */
	gchar *url_shown;    /* (owned) (nullable) no password */
	RbSentinel *sentinel; /* (owned) (nullable): [redis-bridge] sentinels */
	gchar *master_host;   /* (owned) (nullable): the master sentinels named last */
	guint16 master_port;
	guint64 failovers;    /* switches of the master followed */
	RbConn sub;
	RbConn cmd;
	GRand *rand;
	gchar **patterns; /* (owned) sorted route patterns, without the control channel */
	guint n_confirmed;
	GHashTable *in_by_pattern;  /* pattern → guint64* */
	GHashTable *out_by_pattern; /* pattern → guint64* */
	GQueue queue;		    /* (element-type RbPublish) outage queue, oldest first */
	GQueue replay;		    /* (element-type RbPublish) flushed after an outage */
	HeraldRedisSeen *seen;
	GHashTable *users; /* user id → RbUser */
	guint refresh_id;
	gboolean ping_outstanding;
	gulong outbound_id;
	gulong connected_id;
	gulong disconnected_id;
	gulong updated_id;
	gulong room_joined_id;
	gulong room_left_id;
	gulong presence_id;
	gulong redis_id;
	gboolean shutting_down;
	GTask *shutdown_task;
	guint shutdown_timeout_id;
	guint shutdown_idle_id;
	guint requeue_n;     /* messages lost in flight, put back at the queue's head in order */
	gint64 outage_since; /* monotonic µs, 0 when up */
	gboolean was_running;
	/* config */
	guint connect_timeout_ms;
	guint reconnect_min_ms;
	guint reconnect_max_ms;
	guint queue_max;
	guint replay_window_s;
	guint64 max_message_bytes;
	guint presence_ttl_s;
	guint presence_refresh_s;
	guint log_interval_s;
	/* stats */
	guint64 messages_in;
	guint64 messages_out;
	guint64 reconnects;
	guint64 self_skipped;
	guint64 duplicates;
	guint64 overlap_skipped;
	guint64 queued;
	guint64 queue_dropped;
	guint64 replayed;
	guint64 publish_errors;
	guint64 requests;
	guint64 request_errors;
	guint64 rejected[RB_REJECT_LAST];
	guint64 rejected_unlogged[RB_REJECT_LAST];
	gint64 rejected_logged_at[RB_REJECT_LAST];
	guint64 queue_dropped_unlogged;
	gint64 queue_dropped_logged_at;
	guint64 last_outage_ms;
	gchar *last_error;
};

G_DEFINE_FINAL_TYPE(HeraldRedisBridgePlugin, herald_redis_bridge_plugin, HERALD_TYPE_PLUGIN)

static const HeraldConfigKey redis_bridge_keys[] = {
    {"url",
     HERALD_CONFIG_STRING,
     "redis://127.0.0.1:6379/0",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART | HERALD_CONFIG_FLAG_NOT_EMPTY,
     "redis://[[user]:password@]host:port/db or unix:/path[?db=N]"},
    {"password",
     HERALD_CONFIG_SECRET,
     NULL,
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "Redis password (AUTH); overrides one in url; prefer password-file"},
    {"sentinels",
     HERALD_CONFIG_LIST,
     NULL,
     0,
     16,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "Redis Sentinel addresses host:port; when set, the master is asked of them (the host and "
     "port of url are not used, its user, password and db are) and failovers are followed"},
    {"master-name",
     HERALD_CONFIG_STRING,
     "mymaster",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "with sentinels: the name the sentinels monitor the master by"},
    {"sentinel-password",
     HERALD_CONFIG_SECRET,
     NULL,
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "with sentinels: the sentinels' own password (requirepass of the sentinels), when they have one"},
    {"connect-timeout-ms",
     HERALD_CONFIG_UINT,
     "2000",
     100,
     600000,
     NULL,
     0,
     "a connection (connect, AUTH, SELECT, PSUBSCRIBE) not ready after this is retried"},
    {"reconnect-min-ms",
     HERALD_CONFIG_UINT,
     "100",
     10,
     600000,
     NULL,
     0,
     "first reconnect delay; doubles per failed attempt (with jitter)"},
    {"reconnect-max-ms",
     HERALD_CONFIG_UINT,
     "5000",
     10,
     3600000,
     NULL,
     0,
     "cap of the reconnect delay"},
    {"queue-max",
     HERALD_CONFIG_UINT,
     "10000",
     0,
     10000000,
     NULL,
     0,
     "events for other instances held while Redis is down; above it the oldest is dropped"},
    {"replay-window-s",
     HERALD_CONFIG_UINT,
     "30",
     0,
     3600,
     NULL,
     0,
     "after an outage, events sent from the queue are re-sent when another instance "
     "re-subscribes within this time (receivers drop duplicates by event id)"},
    {"max-message-bytes",
     HERALD_CONFIG_UINT,
     "262144",
     1024,
     536870912,
     NULL,
     0,
     "larger Redis messages are dropped and counted (too_large)"},
    {"presence-ttl-s",
     HERALD_CONFIG_UINT,
     "30",
     2,
     86400,
     NULL,
     0,
     "lifetime of this instance's presence keys; a crashed instance's users vanish after it"},
    {"presence-refresh-s",
     HERALD_CONFIG_UINT,
     "10",
     1,
     86400,
     NULL,
     0,
     "how often the presence keys are refreshed and Redis is pinged; less than presence-ttl-s"},
    {"log-interval-s",
     HERALD_CONFIG_UINT,
     "60",
     1,
     86400,
     NULL,
     0,
     "dropped messages and queue overflows are logged at most once per interval"},
};

static void
rb_publish_free(RbPublish *pub)
{
	g_free(pub->channel);
	g_free(pub->data);
	g_free(pub);
}

static void
rb_set_last_error(HeraldRedisBridgePlugin *self, const gchar *error)
{
	g_free(self->last_error);
	self->last_error = g_strdup(error);
}

static gboolean
rb_is_up(HeraldRedisBridgePlugin *self)
{
	return self->sub.ready && self->cmd.ready;
}

static const gchar *
rb_first_pattern(HeraldRedisBridgePlugin *self, const gchar *channel)
{
	for (guint i = 0; self->patterns != NULL && self->patterns[i] != NULL; i++) {
		if (herald_glob_match(self->patterns[i], channel))
			return self->patterns[i];
	}
	return NULL;
}

static void
rb_count_pattern(GHashTable *table, const gchar *pattern)
{
	guint64 *count;
	if (pattern == NULL)
		pattern = "(none)";
	count = g_hash_table_lookup(table, pattern);
	if (count == NULL) {
		count = g_new0(guint64, 1);
		g_hash_table_insert(table, g_strdup(pattern), count);
	}
	(*count)++;
}

static gchar *
rb_instance_key(HeraldRedisBridgePlugin *self)
{
	return g_strdup_printf(RB_INSTANCE_KEY_PREFIX "%s",
			       herald_bus_get_instance_id(
				   herald_plugin_get_bus(HERALD_PLUGIN(self))));
}

static void
rb_command_argv(RbConn *conn, redisCallbackFn *fn, gpointer privdata, GPtrArray *args)
{
	g_autofree size_t *lens = g_new0(size_t, args->len);
	for (guint i = 0; i < args->len; i++)
		lens[i] = strlen(g_ptr_array_index(args, i));
	redisAsyncCommandArgv(conn->ac,
			      fn,
			      privdata,
			      (int)args->len,
			      (const char **)args->pdata,
			      lens);
}

/* ------------------------------------------------------------------ state */

static void
rb_update_state(HeraldRedisBridgePlugin *self)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(self);
	g_autofree gchar *reason = NULL;
	RbConn *down;

	if (self->shutting_down)
		return;
	if (rb_is_up(self)) {
		herald_plugin_set_state(plugin, HERALD_PLUGIN_STATE_RUNNING, NULL);
		return;
	}
	down = !self->sub.ready ? &self->sub : &self->cmd;
	if (down->error != NULL)
		reason = g_strdup_printf("redis %s connection to %s: %s; reconnecting",
					 down->role,
					 self->url_shown,
					 down->error);
	else
		reason = g_strdup_printf("connecting to redis at %s", self->url_shown);
	herald_plugin_set_state(plugin, HERALD_PLUGIN_STATE_DEGRADED, reason);
}

/* ------------------------------------------------------------ connections */

static void
rb_conn_connect(RbConn *conn);
static void
rb_conn_ready(RbConn *conn);
static void
rb_on_up(HeraldRedisBridgePlugin *self);

static void
rb_conn_schedule(RbConn *conn);

static gboolean
rb_conn_retry_cb(gpointer user_data)
{
	RbConn *conn = user_data;
	conn->retry_id = 0;
	rb_conn_connect(conn);
	return G_SOURCE_REMOVE;
}

static gboolean
rb_source_reap_cb(gpointer user_data)
{
	g_source_destroy(user_data);
	return G_SOURCE_REMOVE;
}

/* the context is gone (hiredis frees it): forget it and try again later */
static void
rb_conn_forget(RbConn *conn, const gchar *error)
{
	HeraldRedisBridgePlugin *self = conn->self;
	gboolean was_ready = conn->ready;

	if (conn->source != NULL) {
		RedisSource *rs = (RedisSource *)conn->source;
		/* hiredis may free the context inside a write; the adapter's
		 * dispatch must not go on to read from it */
		rs->poll_fd.revents = 0;
		if (rs->poll_fd.fd < 0) {
			g_source_destroy(conn->source);
			g_clear_pointer(&conn->source, g_source_unref);
		} else {
			/* a failed connect: hiredis calls the adapter's cleanup (which
			 * needs the source alive) only after this callback */
			g_idle_add_full(G_PRIORITY_HIGH,
					rb_source_reap_cb,
					g_steal_pointer(&conn->source),
					(GDestroyNotify)g_source_unref);
		}
	}
	g_clear_handle_id(&conn->timeout_id, g_source_remove);
	conn->ac = NULL;
	conn->connected = FALSE;
	conn->role_checked = FALSE;
	conn->ready = FALSE;
	if (conn == &self->sub)
		self->n_confirmed = 0;
	if (conn == &self->cmd)
		self->ping_outstanding = FALSE;
	if (self->shutting_down)
		return;
	if (error != NULL && g_strcmp0(conn->error, error) != 0) {
		g_free(conn->error);
		conn->error = g_strdup(error);
		rb_set_last_error(self, error);
	}
	if (was_ready) {
		conn->lost = TRUE;
		if (self->outage_since == 0)
			self->outage_since = g_get_monotonic_time();
		g_warning("redis %s connection to %s lost: %s; reconnecting with backoff",
			  conn->role,
			  self->url_shown,
			  error != NULL ? error : "closed");
	}
	rb_update_state(self);
	rb_conn_schedule(conn);
}

static void
rb_conn_schedule(RbConn *conn)
{
	HeraldRedisBridgePlugin *self = conn->self;
	guint delay;
	if (self->shutting_down || conn->retry_id != 0)
		return;
	delay = herald_redis_backoff_ms(conn->attempt,
					self->reconnect_min_ms,
					MAX(self->reconnect_max_ms, self->reconnect_min_ms),
					self->rand);
	conn->attempt++;
	g_debug("redis %s: next attempt in %u ms", conn->role, delay);
	conn->retry_id = g_timeout_add(delay, rb_conn_retry_cb, conn);
}

/* close now, from outside hiredis callbacks (timers, shutdown) */
static void
rb_conn_abort(RbConn *conn, const gchar *error)
{
	redisAsyncContext *ac = conn->ac;
	if (ac == NULL)
		return;
	if (error != NULL && g_strcmp0(conn->error, error) != 0 && !conn->self->shutting_down) {
		g_free(conn->error);
		conn->error = g_strdup(error);
		rb_set_last_error(conn->self, error);
	}
	/* a connected context calls the disconnect callback (rb_conn_forget); one
	 * still connecting calls nothing */
	conn->abort_reason = error;
	redisAsyncFree(ac);
	conn->abort_reason = NULL;
	if (conn->ac == ac)
		rb_conn_forget(conn, error);
}

static gboolean
rb_conn_timeout_cb(gpointer user_data)
{
	RbConn *conn = user_data;
	conn->timeout_id = 0;
	if (conn->resolve_cancellable != NULL) {
		g_cancellable_cancel(conn->resolve_cancellable);
		g_clear_object(&conn->resolve_cancellable);
		rb_conn_forget(conn,
			       conn->self->sentinel != NULL
				   ? "timed out asking the sentinels for the master"
				   : "timed out resolving the host name");
		return G_SOURCE_REMOVE;
	}
	rb_conn_abort(conn, "timed out");
	return G_SOURCE_REMOVE;
}

static void
rb_disconnect_cb(const redisAsyncContext *ac, int status)
{
	RbConn *conn = ac->data;
	const gchar *why = ac->errstr[0] != '\0' ? ac->errstr : "connection closed";
	if (conn == NULL || conn->ac != ac)
		return;
	if (conn->abort_reason != NULL)
		why = conn->abort_reason;
	/* a disconnect we asked for (AUTH refused…) keeps the reason we recorded */
	else if (status == REDIS_OK && conn->error != NULL)
		why = NULL;
	rb_conn_forget(conn, status == REDIS_OK && conn->self->shutting_down ? NULL : why);
}

/* a reply says this connection is no good (AUTH refused, SELECT failed…):
 * close it from inside hiredis (the disconnect callback reconnects); no new
 * command goes to it meanwhile */
static void
rb_conn_fail(RbConn *conn, redisAsyncContext *ac, const gchar *what, redisReply *reply)
{
	HeraldRedisBridgePlugin *self = conn->self;
	g_free(conn->error);
	conn->error = g_strdup_printf("%s: %.*s", what, (gint)MIN(reply->len, 200), reply->str);
	rb_set_last_error(self, conn->error);
	if (conn->ready) {
		conn->ready = FALSE;
		conn->lost = TRUE;
		if (self->outage_since == 0)
			self->outage_since = g_get_monotonic_time();
		g_warning("redis %s connection to %s: %s; reconnecting with backoff",
			  conn->role,
			  self->url_shown,
			  conn->error);
		rb_update_state(self);
	}
	redisAsyncDisconnect(ac);
}

static void
rb_conn_session_start(RbConn *conn);

static void
rb_auth_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	RbConn *conn = privdata;
	redisReply *reply = r;
	if (reply == NULL || conn->ac != ac)
		return;
	if (reply->type == REDIS_REPLY_ERROR) {
		rb_conn_fail(conn, ac, "authentication failed", reply);
		return;
	}
	rb_conn_session_start(conn);
}

static void
rb_connect_cb(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	RbConn *conn = ac->data;
	HeraldRedisBridgePlugin *self;

	if (conn == NULL || conn->ac != ac)
		return;
	self = conn->self;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback */
		rb_conn_forget(conn, ac->errstr[0] != '\0' ? ac->errstr : "connect failed");
		return;
	}
	conn->connected = TRUE;
	/* a peer that vanishes without a FIN (TCP only; it fails on unix sockets) */
	if (self->url->path == NULL && redisEnableKeepAlive(&ac->c) != REDIS_OK)
		g_debug("redis %s: no TCP keepalive: %s", conn->role, ac->c.errstr);
	if (self->password != NULL) {
		g_autoptr(GPtrArray) args = g_ptr_array_new();
		g_ptr_array_add(args, (gpointer) "AUTH");
		if (self->url->username != NULL)
			g_ptr_array_add(args, self->url->username);
		g_ptr_array_add(args, self->password);
		rb_command_argv(conn, rb_auth_cb, conn, args);
		return;
	}
	rb_conn_session_start(conn);
}

static void
rb_conn_resolved(RbConn *conn, const gchar *host, guint16 port)
{
	HeraldRedisBridgePlugin *self = conn->self;
	redisAsyncContext *ac;

	g_free(conn->peer_host);
	conn->peer_host = g_strdup(host);
	conn->peer_port = port;
	if (self->url->path != NULL && self->sentinel == NULL)
		ac = redisAsyncConnectUnix(self->url->path);
	else
		ac = redisAsyncConnect(host, port);
	if (ac == NULL) {
		rb_conn_forget(conn, "out of memory");
		return;
	}
	if (ac->err != 0) {
		g_autofree gchar *msg = g_strdup(ac->errstr);
		redisAsyncFree(ac);
		rb_conn_forget(conn, msg);
		return;
	}
	ac->data = conn;
	conn->ac = ac;
	/* attach before setting the connect callback (it arms the write event) */
	conn->source = redis_source_new(ac);
	g_source_attach(conn->source, NULL);
	redisAsyncSetDisconnectCallback(ac, rb_disconnect_cb);
	redisAsyncSetConnectCallback(ac, rb_connect_cb);
}

typedef struct {
	HeraldRedisBridgePlugin *self; /* (owned) */
	RbConn *conn;
	GCancellable *cancellable; /* (owned) */
} RbResolve;

static void
rb_resolve_free(RbResolve *req)
{
	g_object_unref(req->cancellable);
	g_object_unref(req->self);
	g_free(req);
}

/* the master the sentinels name; a change from a known one is a failover
 * followed (logged and counted once, whichever path saw it first) */
static gboolean
rb_master_set(HeraldRedisBridgePlugin *self, const gchar *host, guint16 port)
{
	const gchar *name = herald_plugin_get_config_string(HERALD_PLUGIN(self), "master-name");

	if (g_strcmp0(self->master_host, host) == 0 && self->master_port == port)
		return FALSE;
	if (self->master_host != NULL) {
		self->failovers++;
		g_warning("redis master '%s' moved from %s:%u to %s:%u; following it",
			  name,
			  self->master_host,
			  self->master_port,
			  host,
			  port);
	}
	g_free(self->master_host);
	self->master_host = g_strdup(host);
	self->master_port = port;
	g_free(self->url_shown);
	self->url_shown = g_strdup_printf("%s:%u (master '%s' of the sentinels)", host, port, name);
	return TRUE;
}

static guint16
rb_url_port(RbConn *conn)
{
	return (guint16)conn->self->url->port;
}

/* with sentinels: connect to the master they name now */
static void
rb_sentinel_lookup_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	RbResolve *req = user_data;
	RbConn *conn = req->conn;
	HeraldRedisBridgePlugin *self = req->self;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *host = NULL;
	guint16 port = 0;
	gboolean ok = rb_sentinel_lookup_finish(res, &host, &port, &error);

	if (g_cancellable_is_cancelled(req->cancellable) ||
	    conn->resolve_cancellable != req->cancellable) {
		rb_resolve_free(req);
		return;
	}
	g_clear_object(&conn->resolve_cancellable);
	if (!ok) {
		rb_resolve_free(req);
		rb_conn_forget(conn, error->message);
		return;
	}
	rb_master_set(self, host, port);
	rb_resolve_free(req);
	rb_conn_resolved(conn, host, port);
}

static void
rb_resolve_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	RbResolve *req = user_data;
	RbConn *conn = req->conn;
	g_autoptr(GError) error = NULL;
	GList *addresses = g_resolver_lookup_by_name_finish(G_RESOLVER(source), res, &error);
	g_autofree gchar *host = NULL;

	/* stopped or timed out meanwhile: that attempt is over */
	if (g_cancellable_is_cancelled(req->cancellable) ||
	    conn->resolve_cancellable != req->cancellable) {
		g_resolver_free_addresses(addresses);
		rb_resolve_free(req);
		return;
	}
	g_clear_object(&conn->resolve_cancellable);
	rb_resolve_free(req);
	if (addresses == NULL) {
		rb_conn_forget(conn, error != NULL ? error->message : "host not found");
		return;
	}
	/* each attempt takes the next address (IPv6 and IPv4 of one name) */
	host = g_inet_address_to_string(
	    g_list_nth_data(addresses, conn->n_resolved++ % g_list_length(addresses)));
	g_resolver_free_addresses(addresses);
	rb_conn_resolved(conn, host, rb_url_port(conn));
}

static void
rb_conn_connect(RbConn *conn)
{
	HeraldRedisBridgePlugin *self = conn->self;
	if (self->shutting_down || conn->ac != NULL || conn->resolve_cancellable != NULL)
		return;
	g_clear_handle_id(&conn->timeout_id, g_source_remove);
	conn->timeout_id = g_timeout_add(self->connect_timeout_ms, rb_conn_timeout_cb, conn);
	if (self->sentinel != NULL) {
		RbResolve *req = g_new0(RbResolve, 1);
		conn->resolve_cancellable = g_cancellable_new();
		req->self = g_object_ref(self);
		req->conn = conn;
		req->cancellable = g_object_ref(conn->resolve_cancellable);
		rb_sentinel_lookup_async(self->sentinel,
					 conn->resolve_cancellable,
					 rb_sentinel_lookup_cb,
					 req);
		return;
	}
	/* hiredis resolves names with a blocking getaddrinfo(): do it here instead */
	if (self->url->path == NULL && !g_hostname_is_ip_address(self->url->host)) {
		g_autoptr(GResolver) resolver = g_resolver_get_default();
		RbResolve *req = g_new0(RbResolve, 1);
		conn->resolve_cancellable = g_cancellable_new();
		req->self = g_object_ref(self);
		req->conn = conn;
		req->cancellable = g_object_ref(conn->resolve_cancellable);
		g_resolver_lookup_by_name_async(resolver,
						self->url->host,
						conn->resolve_cancellable,
						rb_resolve_cb,
						req);
		return;
	}
	rb_conn_resolved(conn, self->url->host, (guint16)self->url->port);
}

/* ----------------------------------------------------------- subscriber */

static void
rb_reject(HeraldRedisBridgePlugin *self, RbReject reason, const gchar *channel)
{
	gint64 now = g_get_monotonic_time();
	self->rejected[reason]++;
	self->rejected_unlogged[reason]++;
	if (self->rejected_logged_at[reason] != 0 &&
	    now - self->rejected_logged_at[reason] < (gint64)self->log_interval_s * G_USEC_PER_SEC)
		return;
	{
		g_autofree gchar *shown = g_strndup(channel, 64);
		g_autofree gchar *escaped = g_strescape(shown, NULL);
		g_warning("dropped %" G_GUINT64_FORMAT " message(s) from redis (%s), the latest on "
			  "channel '%s'; next report in %us at the earliest",
			  self->rejected_unlogged[reason],
			  rb_reject_texts[reason],
			  escaped,
			  self->log_interval_s);
	}
	self->rejected_unlogged[reason] = 0;
	self->rejected_logged_at[reason] = now;
}

static gboolean
rb_publish_send(HeraldRedisBridgePlugin *self, RbPublish *pub);

/* another instance re-subscribed after an outage: send it what we queued */
static void
rb_handle_control(HeraldRedisBridgePlugin *self, const gchar *data, gsize len)
{
	g_autoptr(JsonObject) obj = NULL;
	const gchar *mine = herald_bus_get_instance_id(herald_plugin_get_bus(HERALD_PLUGIN(self)));
	const gchar *type;
	const gchar *origin;
	gint64 since;
	guint n = 0;
	gint64 horizon = g_get_monotonic_time() - (gint64)self->replay_window_s * G_USEC_PER_SEC;

	if (!g_utf8_validate(data, (gssize)len, NULL))
		return;
	obj = herald_json_parse_object(data, (gssize)len, NULL);
	if (obj == NULL) {
		if (!herald_json_check(data, len, herald_json_get_max_depth(), NULL))
			rb_reject(self, RB_REJECT_JSON_TOO_DEEP, RB_CONTROL_CHANNEL);
		return;
	}
	type = json_object_get_string_member_with_default(obj, "type", NULL);
	origin = json_object_get_string_member_with_default(obj, "origin", NULL);
	/* when it lost Redis (or started): older events were not missed by it;
	 * 5 s of tolerance for clocks that disagree */
	since = json_object_get_int_member_with_default(obj, "since", 0) - 5000;
	if (g_strcmp0(type, "hello") != 0 || origin == NULL || g_strcmp0(origin, mine) == 0)
		return;
	while (self->replay.length > 0 &&
	       ((RbPublish *)g_queue_peek_head(&self->replay))->flushed < horizon)
		rb_publish_free(g_queue_pop_head(&self->replay));
	if (self->replay.length == 0 || !rb_is_up(self))
		return;
	for (GList *l = self->replay.head; l != NULL; l = l->next) {
		RbPublish *orig = l->data;
		RbPublish *copy;
		if (orig->created < since)
			continue;
		copy = g_new0(RbPublish, 1);
		copy->channel = g_strdup(orig->channel);
		copy->data = g_memdup2(orig->data, orig->len + 1);
		copy->len = orig->len;
		copy->created = orig->created;
		self->replayed++;
		n++;
		rb_publish_send(self, copy);
	}
	if (n > 0)
		g_info("instance '%s' re-subscribed: re-sent %u event(s) queued during the outage",
		       origin,
		       n);
}

static gboolean
rb_channel_is_valid(const gchar *channel)
{
	gsize len = strlen(channel);
	if (len == 0 || len > 256 || !g_utf8_validate(channel, (gssize)len, NULL))
		return FALSE;
	for (const gchar *p = channel; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == 0x7f)
			return FALSE;
	}
	return TRUE;
}

static void
rb_handle_message(HeraldRedisBridgePlugin *self,
		  const gchar *pattern,
		  const gchar *channel,
		  const gchar *data,
		  gsize len)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(self);
	HeraldBus *bus = herald_plugin_get_bus(plugin);
	HeraldRouter *router = herald_host_get_router(herald_plugin_get_host(plugin));
	g_autoptr(HeraldEvent) event = NULL;
	HeraldRedisMessageKind kind;
	const gchar *first;

	if (g_strcmp0(channel, RB_CONTROL_CHANNEL) == 0) {
		rb_handle_control(self, data, len);
		return;
	}
	/* Redis sends one pmessage per matching pattern: take the first only */
	first = rb_first_pattern(self, channel);
	if (first != NULL && g_strcmp0(first, pattern) != 0) {
		self->overlap_skipped++;
		return;
	}
	self->messages_in++;
	rb_count_pattern(self->in_by_pattern, pattern);
	/* channel names reach clients as event names: printable UTF-8 only */
	if (!rb_channel_is_valid(channel)) {
		rb_reject(self, RB_REJECT_BAD_CHANNEL, "");
		return;
	}
	if (len > self->max_message_bytes) {
		rb_reject(self, RB_REJECT_TOO_LARGE, channel);
		return;
	}
	kind = herald_redis_message_parse(channel, data, len, &event);
	switch (kind) {
	case HERALD_REDIS_MESSAGE_INVALID_JSON:
		rb_reject(self, RB_REJECT_INVALID_JSON, channel);
		return;
	case HERALD_REDIS_MESSAGE_NOT_OBJECT:
		rb_reject(self, RB_REJECT_NOT_OBJECT, channel);
		return;
	case HERALD_REDIS_MESSAGE_BAD_ENVELOPE:
		rb_reject(self, RB_REJECT_BAD_ENVELOPE, channel);
		return;
	case HERALD_REDIS_MESSAGE_TOO_DEEP:
		rb_reject(self, RB_REJECT_JSON_TOO_DEEP, channel);
		return;
	case HERALD_REDIS_MESSAGE_ENVELOPE:
		/* this instance delivered it when it entered here */
		if (g_strcmp0(herald_event_get_origin(event), herald_bus_get_instance_id(bus)) ==
		    0) {
			self->self_skipped++;
			return;
		}
		if (herald_redis_seen_check_and_add(self->seen, herald_event_get_id(event))) {
			self->duplicates++;
			return;
		}
		break;
	case HERALD_REDIS_MESSAGE_RAW:
	default:
		break;
	}
	if (router == NULL || !herald_router_has_match(router, channel)) {
		rb_reject(self, RB_REJECT_NO_ROUTE, channel);
		return;
	}
	herald_bus_publish(bus, event);
}

static void
rb_sub_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	RbConn *conn = privdata;
	HeraldRedisBridgePlugin *self = conn->self;
	redisReply *reply = r;
	const gchar *kind;

	if (reply == NULL || conn->ac != ac || self->shutting_down)
		return;
	if (reply->type == REDIS_REPLY_ERROR) {
		rb_conn_fail(conn, ac, "PSUBSCRIBE failed", reply);
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
	    reply->element[0]->type != REDIS_REPLY_STRING)
		return;
	kind = reply->element[0]->str;
	if (g_strcmp0(kind, "pmessage") == 0 && reply->elements == 4) {
		rb_handle_message(self,
				  reply->element[1]->str,
				  reply->element[2]->str,
				  reply->element[3]->str != NULL ? reply->element[3]->str : "",
				  reply->element[3]->len);
		return;
	}
	if (g_strcmp0(kind, "psubscribe") == 0) {
		guint n = g_strv_length(self->patterns) + 1;
		self->n_confirmed++;
		if (!conn->ready && self->n_confirmed >= n)
			rb_conn_ready(conn);
	}
}

static void
rb_sub_psubscribe(HeraldRedisBridgePlugin *self,
		  const gchar *verb,
		  gchar **patterns,
		  gboolean control)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_ptr_array_add(args, (gpointer)verb);
	if (control)
		g_ptr_array_add(args, (gpointer)RB_CONTROL_CHANNEL);
	for (guint i = 0; patterns != NULL && patterns[i] != NULL; i++)
		g_ptr_array_add(args, patterns[i]);
	if (args->len == 1)
		return;
	rb_command_argv(&self->sub, rb_sub_cb, &self->sub, args);
}

/* -------------------------------------------------------------- command */

static void
rb_select_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	RbConn *conn = privdata;
	redisReply *reply = r;
	if (reply == NULL || conn->ac != ac)
		return;
	if (reply->type == REDIS_REPLY_ERROR) {
		rb_conn_fail(conn, ac, "SELECT failed", reply);
	}
}

static void
rb_ping_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	RbConn *conn = privdata;
	redisReply *reply = r;
	if (reply == NULL || conn->ac != ac)
		return;
	conn->self->ping_outstanding = FALSE;
	if (reply->type == REDIS_REPLY_ERROR) {
		rb_conn_fail(conn, ac, "PING failed", reply);
		return;
	}
	if (!conn->ready)
		rb_conn_ready(conn);
}

/* with sentinels: the server they named must still be the master (a
 * demoted one keeps accepting connections as a replica) */
static void
rb_role_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	RbConn *conn = privdata;
	redisReply *reply = r;
	if (reply == NULL || conn->ac != ac)
		return;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    g_strcmp0(reply->element[0]->str, "master") != 0) {
		redisReply shown = {.type = REDIS_REPLY_STRING,
				    .str = (char *)"the server the sentinels named is not a master",
				    .len = 46};
		rb_conn_fail(conn, ac, "ROLE", reply->type == REDIS_REPLY_ERROR ? reply : &shown);
		return;
	}
	conn->role_checked = TRUE;
	rb_conn_session_start(conn);
}

static void
rb_conn_session_start(RbConn *conn)
{
	HeraldRedisBridgePlugin *self = conn->self;
	if (self->sentinel != NULL && !conn->role_checked) {
		redisAsyncCommand(conn->ac, rb_role_cb, conn, "ROLE");
		return;
	}
	if (conn == &self->sub) {
		self->n_confirmed = 0;
		rb_sub_psubscribe(self, "PSUBSCRIBE", self->patterns, TRUE);
		return;
	}
	if (self->url->db != 0) {
		g_autofree gchar *db = g_strdup_printf("%u", self->url->db);
		redisAsyncCommand(conn->ac, rb_select_cb, conn, "SELECT %s", db);
	}
	self->ping_outstanding = TRUE;
	redisAsyncCommand(conn->ac, rb_ping_cb, conn, "PING");
}

/* ------------------------------------------------------------- presence */

static void
rb_presence_write_user(HeraldRedisBridgePlugin *self, const gchar *user_id, const gchar *value)
{
	g_autofree gchar *key = rb_instance_key(self);
	g_autofree gchar *ttl = g_strdup_printf("%u", self->presence_ttl_s);
	if (!self->cmd.ready)
		return;
	if (value != NULL)
		redisAsyncCommand(self->cmd.ac, NULL, NULL, "HSET %s %s %s", key, user_id, value);
	else
		redisAsyncCommand(self->cmd.ac, NULL, NULL, "HDEL %s %s", key, user_id);
	redisAsyncCommand(self->cmd.ac, NULL, NULL, "EXPIRE %s %s", key, ttl);
}

static void
rb_presence_register(HeraldRedisBridgePlugin *self)
{
	const gchar *mine = herald_bus_get_instance_id(herald_plugin_get_bus(HERALD_PLUGIN(self)));
	g_autofree gchar *key = rb_instance_key(self);
	g_autofree gchar *ttl = g_strdup_printf("%u", self->presence_ttl_s);
	gint64 now_ms = g_get_real_time() / 1000;
	g_autofree gchar *until =
	    g_strdup_printf("%" G_GINT64_FORMAT, now_ms + (gint64)self->presence_ttl_s * 1000);
	g_autofree gchar *stale = g_strdup_printf("(%" G_GINT64_FORMAT, now_ms);

	redisAsyncCommand(self->cmd.ac, NULL, NULL, "EXPIRE %s %s", key, ttl);
	redisAsyncCommand(self->cmd.ac, NULL, NULL, "ZADD %s %s %s", RB_INSTANCES_KEY, until, mine);
	redisAsyncCommand(self->cmd.ac,
			  NULL,
			  NULL,
			  "ZREMRANGEBYSCORE %s -inf %s",
			  RB_INSTANCES_KEY,
			  stale);
}

/* after (re)connecting: replace this instance's entries with the local truth */
static void
rb_presence_sync(HeraldRedisBridgePlugin *self)
{
	g_autofree gchar *key = rb_instance_key(self);
	g_autoptr(GPtrArray) args = NULL;
	GHashTableIter iter;
	gpointer k, v;

	redisAsyncCommand(self->cmd.ac, NULL, NULL, "MULTI");
	redisAsyncCommand(self->cmd.ac, NULL, NULL, "DEL %s", key);
	g_hash_table_iter_init(&iter, self->users);
	while (g_hash_table_iter_next(&iter, &k, &v)) {
		if (args == NULL) {
			args = g_ptr_array_new();
			g_ptr_array_add(args, (gpointer) "HSET");
			g_ptr_array_add(args, key);
		}
		g_ptr_array_add(args, k);
		g_ptr_array_add(args, ((RbUser *)v)->value);
		if (args->len >= 2 + 2 * RB_HSET_CHUNK) {
			rb_command_argv(&self->cmd, NULL, NULL, args);
			g_clear_pointer(&args, g_ptr_array_unref);
		}
	}
	if (args != NULL)
		rb_command_argv(&self->cmd, NULL, NULL, args);
	rb_presence_register(self);
	redisAsyncCommand(self->cmd.ac, NULL, NULL, "EXEC");
}

/* the rooms a user is in for GET /api/presence/{room}: the personal room, the
 * room of the role (ws-rooms' [ws-rooms.roles], else its built-in table), the
 * broadcast room and the rooms joined by subscribe (sorted) */
static gchar *
rb_presence_value(HeraldRedisBridgePlugin *self,
		  const gchar *user_id,
		  const gchar *role,
		  GHashTable *subscribed)
{
	g_autoptr(GList) extra = g_hash_table_get_keys(subscribed);
	HeraldConfig *config = herald_plugin_get_config(HERALD_PLUGIN(self));
	g_auto(GStrv) roles = herald_config_get_keys(config, "ws-rooms.roles");
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *personal = herald_room_for_user(user_id);
	const gchar *role_room = NULL;
	const gchar *broadcast = NULL;

	if (roles != NULL && roles[0] != NULL) {
		/* role names compare as ws-rooms compares them */
		for (guint i = 0; role != NULL && roles[i] != NULL; i++) {
			if (herald_role_equal(roles[i], role))
				role_room = herald_config_get_string(config,
								     "ws-rooms.roles",
								     roles[i]);
		}
	} else if (role != NULL) {
		static const gchar *table[][2] = {{"ADMIN", "admin"},
						  {"ANALYST", "admin"},
						  {"SUPPORT", "admin"},
						  {"ADVISOR", "advisor"},
						  {"CLIENT", "client"},
						  {"SELLER", "seller"},
						  {"DELIVERY", "delivery"}};
		for (guint i = 0; i < G_N_ELEMENTS(table); i++) {
			if (herald_role_equal(table[i][0], role))
				role_room = table[i][1];
		}
	}
	broadcast = herald_config_get_string(config, "ws-rooms", "broadcast-room");
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "role");
	json_builder_add_string_value(builder, role);
	json_builder_set_member_name(builder, "rooms");
	json_builder_begin_array(builder);
	json_builder_add_string_value(builder, personal);
	if (role_room != NULL && role_room[0] != '\0')
		json_builder_add_string_value(builder, role_room);
	if (broadcast != NULL && broadcast[0] != '\0')
		json_builder_add_string_value(builder, broadcast);
	extra = g_list_sort(extra, (GCompareFunc)g_strcmp0);
	for (GList *l = extra; l != NULL; l = l->next) {
		if (g_strcmp0(l->data, personal) != 0 && g_strcmp0(l->data, role_room) != 0 &&
		    g_strcmp0(l->data, broadcast) != 0)
			json_builder_add_string_value(builder, l->data);
	}
	json_builder_end_array(builder);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	return herald_json_to_string(root);
}

static void
rb_user_connected_cb(HeraldBus *bus, HeraldEvent *event, gpointer user_data)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(user_data);
	g_autofree gchar *user_id = herald_event_get_payload_field(event, "user_id");
	g_autofree gchar *role = herald_event_get_payload_field(event, "role");
	RbUser *user;
	if (user_id == NULL)
		return;
	user = g_new0(RbUser, 1);
	user->role = g_steal_pointer(&role);
	user->rooms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	user->value = rb_presence_value(self, user_id, user->role, user->rooms);
	g_hash_table_replace(self->users, g_strdup(user_id), user);
	rb_presence_write_user(self, user_id, user->value);
}

/* room-joined / room-left: the user's hash value is rewritten with its rooms */
static void
rb_room_changed_cb(HeraldBus *bus, HeraldEvent *event, gpointer user_data)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(user_data);
	g_autofree gchar *user_id = herald_event_get_payload_field(event, "user_id");
	g_autofree gchar *room = herald_event_get_payload_field(event, "room");
	gboolean joined =
	    g_strcmp0(herald_event_get_type_name(event), HERALD_BUS_TOPIC_ROOM_JOINED) == 0;
	RbUser *user = user_id != NULL ? g_hash_table_lookup(self->users, user_id) : NULL;
	gboolean changed;

	if (user == NULL || room == NULL)
		return;
	if (joined)
		changed = g_hash_table_add(user->rooms, g_steal_pointer(&room));
	else
		changed = g_hash_table_remove(user->rooms, room);
	if (!changed)
		return;
	g_free(user->value);
	user->value = rb_presence_value(self, user_id, user->role, user->rooms);
	rb_presence_write_user(self, user_id, user->value);
}

/* user-updated: a refresh changed the user's role, and so its role room */
static void
rb_user_updated_cb(HeraldBus *bus, HeraldEvent *event, gpointer user_data)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(user_data);
	g_autofree gchar *user_id = herald_event_get_payload_field(event, "user_id");
	g_autofree gchar *role = herald_event_get_payload_field(event, "role");
	RbUser *user = user_id != NULL ? g_hash_table_lookup(self->users, user_id) : NULL;

	if (user == NULL || g_strcmp0(user->role, role) == 0)
		return;
	g_free(user->role);
	user->role = g_steal_pointer(&role);
	g_free(user->value);
	user->value = rb_presence_value(self, user_id, user->role, user->rooms);
	rb_presence_write_user(self, user_id, user->value);
}

static void
rb_user_disconnected_cb(HeraldBus *bus, HeraldEvent *event, gpointer user_data)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(user_data);
	g_autofree gchar *user_id = herald_event_get_payload_field(event, "user_id");
	if (user_id == NULL || !g_hash_table_remove(self->users, user_id))
		return;
	rb_presence_write_user(self, user_id, NULL);
}

static gboolean
rb_refresh_cb(gpointer user_data)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(user_data);
	gint64 horizon = g_get_monotonic_time() - (gint64)self->replay_window_s * G_USEC_PER_SEC;

	while (self->replay.length > 0 &&
	       ((RbPublish *)g_queue_peek_head(&self->replay))->flushed < horizon)
		rb_publish_free(g_queue_pop_head(&self->replay));
	if (!self->cmd.ready)
		return G_SOURCE_CONTINUE;
	/* a Redis that stopped answering without closing the socket */
	if (self->ping_outstanding) {
		/* the server (or the path to it) is gone: the subscriber too */
		rb_conn_abort(&self->cmd, "no answer to PING");
		rb_conn_abort(&self->sub, "no answer to PING on the command connection");
		return G_SOURCE_CONTINUE;
	}
	rb_presence_register(self);
	self->ping_outstanding = TRUE;
	redisAsyncCommand(self->cmd.ac, rb_ping_cb, &self->cmd, "PING");
	return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------- outbound */

static void
rb_publish_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	RbPublish *pub = privdata;
	HeraldRedisBridgePlugin *self;
	redisReply *reply = r;

	/* the owner is found through the context; privdata is only the message */
	self = ac->data != NULL ? ((RbConn *)ac->data)->self : NULL;
	if (self == NULL) {
		rb_publish_free(pub);
		return;
	}
	if (reply == NULL) {
		/* lost with the connection: it may or may not have gone out; send it
		 * again after the reconnect (receivers drop duplicates by id) */
		if (!self->shutting_down && self->queue_max > 0) {
			pub->from_queue = TRUE;
			g_queue_push_nth(&self->queue, pub, (gint)self->requeue_n++);
			return;
		}
		rb_publish_free(pub);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		self->publish_errors++;
		rb_set_last_error(self, reply->str);
	} else {
		self->messages_out++;
		rb_count_pattern(self->out_by_pattern, rb_first_pattern(self, pub->channel));
	}
	if (pub->from_queue && self->replay_window_s > 0) {
		pub->from_queue = FALSE;
		pub->flushed = g_get_monotonic_time();
		g_queue_push_tail(&self->replay, pub);
		while (self->replay.length > MAX(self->queue_max, 1))
			rb_publish_free(g_queue_pop_head(&self->replay));
		return;
	}
	rb_publish_free(pub);
}

/* %FALSE when the connection is closing: @pub waits in the queue again */
static gboolean
rb_publish_send(HeraldRedisBridgePlugin *self, RbPublish *pub)
{
	const char *argv[] = {"PUBLISH", pub->channel, pub->data};
	size_t lens[] = {7, strlen(pub->channel), pub->len};
	if (self->cmd.ac != NULL &&
	    redisAsyncCommandArgv(self->cmd.ac, rb_publish_cb, pub, 3, argv, lens) == REDIS_OK)
		return TRUE;
	/* the connection is closing: keep it for after the reconnect */
	pub->from_queue = TRUE;
	g_queue_push_nth(&self->queue, pub, (gint)self->requeue_n++);
	return FALSE;
}

static void
rb_queue_push(HeraldRedisBridgePlugin *self, RbPublish *pub)
{
	gint64 now = g_get_monotonic_time();
	if (self->queue_max == 0) {
		self->queue_dropped++;
		self->queue_dropped_unlogged++;
		rb_publish_free(pub);
	} else {
		pub->from_queue = TRUE;
		g_queue_push_tail(&self->queue, pub);
		self->queued++;
		while (self->queue.length > self->queue_max) {
			rb_publish_free(g_queue_pop_head(&self->queue));
			self->queue_dropped++;
			self->queue_dropped_unlogged++;
		}
	}
	if (self->queue_dropped_unlogged == 0)
		return;
	if (self->queue_dropped_logged_at != 0 &&
	    now - self->queue_dropped_logged_at < (gint64)self->log_interval_s * G_USEC_PER_SEC)
		return;
	g_warning("redis unavailable and the outbound queue is full (queue-max=%u): dropped "
		  "%" G_GUINT64_FORMAT " event(s) for other instances, oldest first",
		  self->queue_max,
		  self->queue_dropped_unlogged);
	self->queue_dropped_unlogged = 0;
	self->queue_dropped_logged_at = now;
}

static void
rb_outbound_cb(HeraldBus *bus, HeraldEvent *event, gpointer user_data)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(user_data);
	RbPublish *pub;
	if (herald_event_get_channel(event) == NULL || self->shutting_down)
		return;
	pub = g_new0(RbPublish, 1);
	pub->channel = g_strdup(herald_event_get_channel(event));
	pub->data = herald_redis_envelope_build(event);
	pub->len = strlen(pub->data);
	pub->created = g_get_real_time() / 1000;
	/* keep the order: nothing overtakes what waits in the queue */
	if (rb_is_up(self) && self->queue.length == 0) {
		rb_publish_send(self, pub);
		return;
	}
	rb_queue_push(self, pub);
}

static void
rb_queue_flush(HeraldRedisBridgePlugin *self)
{
	guint n = self->queue.length;
	self->requeue_n = 0;
	if (n == 0)
		return;
	g_message("redis available again: sending %u queued event(s) to the other instances", n);
	while (self->queue.length > 0) {
		if (!rb_publish_send(self, g_queue_pop_head(&self->queue)))
			break;
	}
}

/* both connections ready: announce, flush, resume */
static void
rb_on_up(HeraldRedisBridgePlugin *self)
{
	const gchar *mine = herald_bus_get_instance_id(herald_plugin_get_bus(HERALD_PLUGIN(self)));
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *hello = NULL;
	gint64 since = g_get_real_time() / 1000;

	if (self->outage_since != 0) {
		since -= (g_get_monotonic_time() - self->outage_since) / 1000;
		self->last_outage_ms =
		    (guint64)(g_get_monotonic_time() - self->outage_since) / 1000;
		g_message("redis connection to %s restored after %" G_GUINT64_FORMAT
			  " ms; %u pattern(s) subscribed again",
			  self->url_shown,
			  self->last_outage_ms,
			  g_strv_length(self->patterns));
		self->outage_since = 0;
	} else {
		g_message("connected to redis at %s; %u pattern(s) subscribed",
			  self->url_shown,
			  g_strv_length(self->patterns));
	}
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "type");
	json_builder_add_string_value(builder, "hello");
	json_builder_set_member_name(builder, "origin");
	json_builder_add_string_value(builder, mine);
	json_builder_set_member_name(builder, "since");
	json_builder_add_int_value(builder, since);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	hello = herald_json_to_string(root);
	redisAsyncCommand(self->cmd.ac, NULL, NULL, "PUBLISH %s %s", RB_CONTROL_CHANNEL, hello);
	rb_queue_flush(self);
	rb_update_state(self);
}

static void
rb_conn_ready(RbConn *conn)
{
	HeraldRedisBridgePlugin *self = conn->self;
	g_clear_handle_id(&conn->timeout_id, g_source_remove);
	conn->ready = TRUE;
	conn->attempt = 0;
	g_clear_pointer(&conn->error, g_free);
	if (conn->lost) {
		self->reconnects++;
		conn->lost = FALSE;
	}
	if (conn == &self->cmd)
		rb_presence_sync(self);
	/* Redis is evidently back: the other connection need not wait out its
	 * backoff */
	{
		RbConn *other = conn == &self->sub ? &self->cmd : &self->sub;
		if (other->retry_id != 0) {
			g_clear_handle_id(&other->retry_id, g_source_remove);
			other->attempt = 0;
			rb_conn_connect(other);
		}
	}
	if (rb_is_up(self))
		rb_on_up(self);
	else
		rb_update_state(self);
}

/* ------------------------------------------------------------- requests */

static gboolean
rb_command_allowed(gchar **argv)
{
	/* these would break the command connection's request/reply stream, or
	 * block it (and every PUBLISH behind them) */
	const gchar *refused[] = {"subscribe",	  "psubscribe",	  "ssubscribe", "unsubscribe",
				  "punsubscribe", "sunsubscribe", "monitor",	"quit",
				  "reset",	  "select",	  "auth",	"hello",
				  "client",	  "multi",	  "exec",	"discard",
				  "watch",	  "unwatch",	  "blpop",	"brpop",
				  "brpoplpush",	  "blmove",	  "blmpop",	"bzpopmin",
				  "bzpopmax",	  "bzmpop",	  "wait",	"waitaof"};
	for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
		if (g_ascii_strcasecmp(argv[0], refused[i]) == 0)
			return FALSE;
	}
	if (g_ascii_strcasecmp(argv[0], "xread") == 0 ||
	    g_ascii_strcasecmp(argv[0], "xreadgroup") == 0) {
		for (guint i = 1; argv[i] != NULL; i++) {
			if (g_ascii_strcasecmp(argv[i], "block") == 0)
				return FALSE;
		}
	}
	return TRUE;
}

static void
rb_request_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	g_autoptr(GTask) task = privdata;
	redisReply *reply = r;
	GError *error = NULL;
	JsonNode *node;

	if (reply == NULL) {
		g_task_return_new_error(task,
					HERALD_ERROR,
					HERALD_ERROR_UNAVAILABLE,
					"redis connection lost before the reply");
		return;
	}
	node = herald_redis_reply_to_json(reply, &error);
	if (node == NULL) {
		g_task_return_error(task, error);
		return;
	}
	g_task_return_pointer(task, node, (GDestroyNotify)json_node_unref);
}

static gboolean
rb_request_redis_cb(HeraldBus *bus, GTask *task, gpointer user_data)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(user_data);
	gchar **argv = g_task_get_task_data(task);
	guint argc = argv != NULL ? g_strv_length(argv) : 0;
	g_autofree size_t *lens = NULL;

	self->requests++;
	if (argc == 0) {
		self->request_errors++;
		g_task_return_new_error(task,
					HERALD_ERROR,
					HERALD_ERROR_INVALID_ARGUMENT,
					"empty redis command");
		return TRUE;
	}
	if (!rb_command_allowed(argv)) {
		self->request_errors++;
		g_task_return_new_error(task,
					HERALD_ERROR,
					HERALD_ERROR_INVALID_ARGUMENT,
					"redis command '%s' is not allowed on the shared "
					"connection",
					argv[0]);
		return TRUE;
	}
	if (!self->cmd.ready) {
		self->request_errors++;
		g_task_return_new_error(task,
					HERALD_ERROR,
					HERALD_ERROR_UNAVAILABLE,
					"redis is not connected");
		return TRUE;
	}
	lens = g_new0(size_t, argc);
	for (guint i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if (redisAsyncCommandArgv(self->cmd.ac,
				  rb_request_cb,
				  g_object_ref(task),
				  (int)argc,
				  (const char **)argv,
				  lens) != REDIS_OK) {
		self->request_errors++;
		g_object_unref(task);
		g_task_return_new_error(task,
					HERALD_ERROR,
					HERALD_ERROR_UNAVAILABLE,
					"redis connection is closing");
	}
	return TRUE;
}

/* one round trip: live instances (score = until when) and their hashes */
static const gchar *rb_script_user =
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf') "
    "for _, id in ipairs(ids) do "
    "if redis.call('HEXISTS', ARGV[2] .. id, ARGV[3]) == 1 then return 1 end "
    "end return 0";
static const gchar *rb_script_all =
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf') "
    "local out = {} "
    "for _, id in ipairs(ids) do "
    "local h = redis.call('HGETALL', ARGV[2] .. id) "
    "for i = 1, #h, 2 do out[#out + 1] = id; out[#out + 1] = h[i]; out[#out + 1] = h[i + 1] end "
    "end return out";

static void
rb_presence_user_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	g_autoptr(GTask) task = privdata;
	redisReply *reply = r;
	if (reply == NULL) {
		g_task_return_new_error(task,
					HERALD_ERROR,
					HERALD_ERROR_UNAVAILABLE,
					"redis connection lost before the reply");
		return;
	}
	if (reply->type != REDIS_REPLY_INTEGER) {
		g_task_return_new_error(task,
					HERALD_ERROR,
					HERALD_ERROR_UNAVAILABLE,
					"redis presence lookup failed: %s",
					reply->type == REDIS_REPLY_ERROR ? reply->str
									 : "bad reply");
		return;
	}
	g_task_return_boolean(task, reply->integer == 1);
}

static gboolean
rb_request_presence_cb(HeraldBus *bus, GTask *task, gpointer user_data)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(user_data);
	const gchar *user_id = g_task_get_task_data(task);
	g_autofree gchar *now = g_strdup_printf("%" G_GINT64_FORMAT, g_get_real_time() / 1000);

	self->requests++;
	if (user_id == NULL || user_id[0] == '\0') {
		self->request_errors++;
		g_task_return_new_error(task,
					HERALD_ERROR,
					HERALD_ERROR_INVALID_ARGUMENT,
					"no user id");
		return TRUE;
	}
	/* connected here: no need to ask */
	if (g_hash_table_contains(self->users, user_id) ||
	    herald_bus_count_connections(bus, user_id) > 0) {
		g_task_return_boolean(task, TRUE);
		return TRUE;
	}
	if (!self->cmd.ready) {
		self->request_errors++;
		g_task_return_new_error(task,
					HERALD_ERROR,
					HERALD_ERROR_UNAVAILABLE,
					"redis is not connected: cluster presence unknown");
		return TRUE;
	}
	if (redisAsyncCommand(self->cmd.ac,
			      rb_presence_user_cb,
			      g_object_ref(task),
			      "EVAL %s 1 %s %s %s %s",
			      rb_script_user,
			      RB_INSTANCES_KEY,
			      now,
			      RB_INSTANCE_KEY_PREFIX,
			      user_id) != REDIS_OK) {
		self->request_errors++;
		g_object_unref(task);
		g_task_return_new_error(task,
					HERALD_ERROR,
					HERALD_ERROR_UNAVAILABLE,
					"redis connection is closing");
	}
	return TRUE;
}

/* ----------------------------------------------------- GET /api/presence */

typedef struct {
	SoupServerMessage *msg;
	gchar *room;
} RbPresenceHttp;

static void
rb_presence_http_free(RbPresenceHttp *req)
{
	g_object_unref(req->msg);
	g_free(req->room);
	g_free(req);
}

static gboolean
rb_json_array_contains(JsonArray *array, const gchar *text)
{
	for (guint i = 0; array != NULL && i < json_array_get_length(array); i++) {
		JsonNode *node = json_array_get_element(array, i);
		if (JSON_NODE_HOLDS_VALUE(node) &&
		    json_node_get_value_type(node) == G_TYPE_STRING &&
		    g_strcmp0(json_node_get_string(node), text) == 0)
			return TRUE;
	}
	return FALSE;
}

typedef struct {
	gchar *role;
	GPtrArray *instances; /* (element-type utf8) */
} RbPresenceUser;

static void
rb_presence_user_free(RbPresenceUser *user)
{
	g_free(user->role);
	g_ptr_array_unref(user->instances);
	g_free(user);
}

static void
rb_presence_http_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	RbPresenceHttp *req = privdata;
	redisReply *reply = r;
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(GHashTable) users = NULL;
	g_autoptr(GList) ids = NULL;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		herald_http_reply_error_literal(req->msg,
						HERALD_ERROR_UNAVAILABLE,
						/* TRANSLATORS: HTTP 503 */
						_("Redis is not available: cluster presence "
						  "unknown"));
		soup_server_message_unpause(req->msg);
		rb_presence_http_free(req);
		return;
	}
	users = g_hash_table_new_full(g_str_hash,
				      g_str_equal,
				      g_free,
				      (GDestroyNotify)rb_presence_user_free);
	for (gsize i = 0; i + 2 < reply->elements; i += 3) {
		const gchar *instance = reply->element[i]->str;
		const gchar *user_id = reply->element[i + 1]->str;
		const gchar *value = reply->element[i + 2]->str;
		g_autoptr(JsonNode) node = NULL;
		JsonObject *obj;
		RbPresenceUser *user;
		if (instance == NULL || user_id == NULL || value == NULL)
			continue;
		node = herald_json_parse(value, -1, NULL);
		if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
			continue;
		obj = json_node_get_object(node);
		if (!json_object_has_member(obj, "rooms") ||
		    !JSON_NODE_HOLDS_ARRAY(json_object_get_member(obj, "rooms")) ||
		    !rb_json_array_contains(json_object_get_array_member(obj, "rooms"), req->room))
			continue;
		user = g_hash_table_lookup(users, user_id);
		if (user == NULL) {
			user = g_new0(RbPresenceUser, 1);
			user->role =
			    g_strdup(json_object_get_string_member_with_default(obj, "role", NULL));
			user->instances = g_ptr_array_new_with_free_func(g_free);
			g_hash_table_insert(users, g_strdup(user_id), user);
		}
		g_ptr_array_add(user->instances, g_strdup(instance));
	}
	ids = g_hash_table_get_keys(users);
	ids = g_list_sort(ids, (GCompareFunc)g_strcmp0);
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "room");
	json_builder_add_string_value(builder, req->room);
	json_builder_set_member_name(builder, "count");
	json_builder_add_int_value(builder, g_hash_table_size(users));
	json_builder_set_member_name(builder, "users");
	json_builder_begin_array(builder);
	for (GList *l = ids; l != NULL; l = l->next) {
		RbPresenceUser *user = g_hash_table_lookup(users, l->data);
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "user_id");
		json_builder_add_string_value(builder, l->data);
		json_builder_set_member_name(builder, "role");
		json_builder_add_string_value(builder, user->role);
		json_builder_set_member_name(builder, "instances");
		json_builder_begin_array(builder);
		g_ptr_array_sort(user->instances, (GCompareFunc)g_strcmp0);
		for (guint j = 0; j < user->instances->len; j++)
			json_builder_add_string_value(builder,
						      g_ptr_array_index(user->instances, j));
		json_builder_end_array(builder);
		json_builder_end_object(builder);
	}
	json_builder_end_array(builder);
	json_builder_end_object(builder);
	herald_http_reply_builder(req->msg, 200, builder);
	soup_server_message_unpause(req->msg);
	rb_presence_http_free(req);
}

static void
rb_presence_http_handler(SoupServerMessage *msg,
			 const gchar *subpath,
			 HeraldIdentity *identity,
			 gpointer user_data)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(user_data);
	g_autofree gchar *room = subpath != NULL ? g_uri_unescape_string(subpath, NULL) : NULL;
	g_autofree gchar *now = g_strdup_printf("%" G_GINT64_FORMAT, g_get_real_time() / 1000);
	RbPresenceHttp *req;

	if (!herald_room_name_is_valid(room)) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_INVALID_ARGUMENT,
						/* TRANSLATORS: HTTP 400 */
						_("the room must be 1 to 128 characters of A-Z a-z "
						  "0-9 _ . : @ -"));
		return;
	}
	if (!self->cmd.ready) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_UNAVAILABLE,
						_("Redis is not available: cluster presence "
						  "unknown"));
		return;
	}
	req = g_new0(RbPresenceHttp, 1);
	req->msg = g_object_ref(msg);
	req->room = g_steal_pointer(&room);
	soup_server_message_pause(msg);
	if (redisAsyncCommand(self->cmd.ac,
			      rb_presence_http_cb,
			      req,
			      "EVAL %s 1 %s %s %s",
			      rb_script_all,
			      RB_INSTANCES_KEY,
			      now,
			      RB_INSTANCE_KEY_PREFIX) != REDIS_OK)
		rb_presence_http_cb(self->cmd.ac, NULL, req);
}

/* --------------------------------------------------------------- plugin */

static gchar **
rb_route_patterns(HeraldRedisBridgePlugin *self)
{
	HeraldRouter *router = herald_host_get_router(herald_plugin_get_host(HERALD_PLUGIN(self)));
	return router != NULL ? herald_router_get_patterns(router) : g_new0(gchar *, 1);
}

static void
rb_read_live_config(HeraldRedisBridgePlugin *self)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(self);
	self->connect_timeout_ms =
	    (guint)herald_plugin_get_config_uint64(plugin, "connect-timeout-ms");
	self->reconnect_min_ms = (guint)herald_plugin_get_config_uint64(plugin, "reconnect-min-ms");
	self->reconnect_max_ms = (guint)herald_plugin_get_config_uint64(plugin, "reconnect-max-ms");
	self->queue_max = (guint)herald_plugin_get_config_uint64(plugin, "queue-max");
	self->replay_window_s = (guint)herald_plugin_get_config_uint64(plugin, "replay-window-s");
	self->max_message_bytes = herald_plugin_get_config_uint64(plugin, "max-message-bytes");
	self->presence_ttl_s = (guint)herald_plugin_get_config_uint64(plugin, "presence-ttl-s");
	self->presence_refresh_s =
	    (guint)herald_plugin_get_config_uint64(plugin, "presence-refresh-s");
	self->log_interval_s = (guint)herald_plugin_get_config_uint64(plugin, "log-interval-s");
}

static void
herald_redis_bridge_plugin_check_config(HeraldPlugin *plugin, GPtrArray *problems)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldRedisUrl) url = NULL;
	const gchar *text = herald_plugin_get_config_string(plugin, "url");

	g_auto(GStrv) sentinels = herald_plugin_get_config_strv(plugin, "sentinels");

	url = herald_redis_url_parse(text != NULL ? text : "", &error);
	if (url == NULL)
		herald_plugin_add_config_problem(plugin, problems, "url", error->message);
	for (guint i = 0; sentinels != NULL && sentinels[i] != NULL; i++) {
		g_autoptr(GError) error_addr = NULL;
		if (!rb_sentinel_parse_address(sentinels[i], NULL, NULL, &error_addr))
			herald_plugin_add_config_problem(plugin,
							 problems,
							 "sentinels",
							 error_addr->message);
	}
	if (sentinels != NULL && sentinels[0] != NULL) {
		const gchar *name = herald_plugin_get_config_string(plugin, "master-name");
		if (name == NULL || name[0] == '\0' || strpbrk(name, " \t\r\n") != NULL)
			herald_plugin_add_config_problem(plugin,
							 problems,
							 "master-name",
							 /* TRANSLATORS: config error */
							 _("with sentinels, the master's name is needed (no "
							   "spaces)"));
	}
	if (herald_plugin_get_config_uint64(plugin, "presence-refresh-s") >=
	    herald_plugin_get_config_uint64(plugin, "presence-ttl-s")) {
		herald_plugin_add_config_problem(plugin,
						 problems,
						 "presence-refresh-s",
						 /* TRANSLATORS: config error */
						 _("must be less than presence-ttl-s, or presence "
						   "entries expire between refreshes"));
	}
	if (herald_plugin_get_config_uint64(plugin, "reconnect-min-ms") >
	    herald_plugin_get_config_uint64(plugin, "reconnect-max-ms")) {
		herald_plugin_add_config_problem(plugin,
						 problems,
						 "reconnect-min-ms",
						 /* TRANSLATORS: config error */
						 _("must not be greater than reconnect-max-ms"));
	}
}

/* a sentinel announced the master (a switch, or what it knows when the
 * watcher connects): connections to another server are dropped and made
 * again to the new master at once */
static void
rb_master_switched_cb(const gchar *host, guint16 port, gpointer user_data)
{
	HeraldRedisBridgePlugin *self = user_data;
	RbConn *conns[] = {&self->sub, &self->cmd};

	if (self->shutting_down)
		return;
	/* not connected through sentinels yet: the first lookup decides */
	if (self->master_host == NULL)
		return;
	rb_master_set(self, host, port);
	/* every connection that goes elsewhere is made again to the master,
	 * at once (a lookup may already have moved one of them) */
	for (guint i = 0; i < G_N_ELEMENTS(conns); i++) {
		RbConn *conn = conns[i];
		if (conn->peer_host == NULL ||
		    (g_strcmp0(conn->peer_host, host) == 0 && conn->peer_port == port))
			continue;
		conn->attempt = 0;
		if (conn->ac != NULL) {
			rb_conn_abort(conn, "the sentinels moved the master");
		} else if (conn->resolve_cancellable == NULL) {
			g_clear_handle_id(&conn->retry_id, g_source_remove);
			rb_conn_connect(conn);
		}
	}
}

static gboolean
herald_redis_bridge_plugin_startup(HeraldPlugin *plugin, GError **error)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(plugin);
	HeraldHost *host = herald_plugin_get_host(plugin);
	HeraldBus *bus = herald_plugin_get_bus(plugin);
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *password = NULL;
	const gchar *text = herald_plugin_get_config_string(plugin, "url");

	self->url = herald_redis_url_parse(text != NULL ? text : "", error);
	if (self->url == NULL)
		return FALSE;
	password = herald_plugin_get_config_secret(plugin, "password", &error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (password != NULL && password[0] != '\0')
		self->password = g_steal_pointer(&password);
	else if (self->url->password != NULL)
		self->password = g_strdup(self->url->password);
	self->url_shown = herald_redis_url_describe(self->url);
	rb_read_live_config(self);
	{
		g_auto(GStrv) sentinels = herald_plugin_get_config_strv(plugin, "sentinels");
		if (sentinels != NULL && sentinels[0] != NULL) {
			g_autofree gchar *sentinel_password =
			    herald_plugin_get_config_secret(plugin, "sentinel-password", &error_local);
			if (error_local != NULL) {
				g_propagate_error(error, g_steal_pointer(&error_local));
				return FALSE;
			}
			self->sentinel =
			    rb_sentinel_new((const gchar *const *)sentinels,
					    herald_plugin_get_config_string(plugin, "master-name"),
					    sentinel_password,
					    self->connect_timeout_ms);
			g_free(self->url_shown);
			self->url_shown = g_strdup_printf(
			    "the master '%s' of the sentinels",
			    herald_plugin_get_config_string(plugin, "master-name"));
			rb_sentinel_watch(self->sentinel, rb_master_switched_cb, self);
		}
	}
	self->seen = herald_redis_seen_new(MAX(RB_SEEN_MIN, 2 * self->queue_max));
	g_strfreev(self->patterns);
	self->patterns = rb_route_patterns(self);

	self->outbound_id = g_signal_connect(bus,
					     "event::" HERALD_BUS_TOPIC_OUTBOUND,
					     G_CALLBACK(rb_outbound_cb),
					     self);
	self->connected_id = g_signal_connect(bus,
					      "event::" HERALD_BUS_TOPIC_CONNECTED,
					      G_CALLBACK(rb_user_connected_cb),
					      self);
	self->disconnected_id = g_signal_connect(bus,
						 "event::" HERALD_BUS_TOPIC_DISCONNECTED,
						 G_CALLBACK(rb_user_disconnected_cb),
						 self);
	self->updated_id = g_signal_connect(bus,
					    "event::" HERALD_BUS_TOPIC_USER_UPDATED,
					    G_CALLBACK(rb_user_updated_cb),
					    self);
	self->room_joined_id = g_signal_connect(bus,
						"event::" HERALD_BUS_TOPIC_ROOM_JOINED,
						G_CALLBACK(rb_room_changed_cb),
						self);
	self->room_left_id = g_signal_connect(bus,
					      "event::" HERALD_BUS_TOPIC_ROOM_LEFT,
					      G_CALLBACK(rb_room_changed_cb),
					      self);
	self->presence_id = g_signal_connect(bus,
					     "request::" HERALD_BUS_REQUEST_PRESENCE,
					     G_CALLBACK(rb_request_presence_cb),
					     self);
	self->redis_id = g_signal_connect(bus,
					  "request::" HERALD_BUS_REQUEST_REDIS,
					  G_CALLBACK(rb_request_redis_cb),
					  self);
	herald_host_add_http_route(host,
				   plugin,
				   "GET",
				   "/api/presence/",
				   HERALD_HTTP_ROUTE_PREFIX,
				   HERALD_HTTP_AUTH_SERVICE,
				   rb_presence_http_handler,
				   self);
	self->refresh_id = g_timeout_add_seconds(self->presence_refresh_s, rb_refresh_cb, self);
	rb_update_state(self);
	rb_conn_connect(&self->sub);
	rb_conn_connect(&self->cmd);
	return TRUE;
}

/* routes changed: subscribe to new patterns, drop old ones, no gap */
static gboolean
herald_redis_bridge_plugin_reload(HeraldPlugin *plugin, GError **error)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(plugin);
	g_auto(GStrv) patterns = NULL;
	g_autoptr(GPtrArray) added = g_ptr_array_new();
	g_autoptr(GPtrArray) removed = g_ptr_array_new();
	guint refresh_s = self->presence_refresh_s;

	if (self->url == NULL)
		return TRUE;
	rb_read_live_config(self);
	if (refresh_s != self->presence_refresh_s && self->refresh_id != 0) {
		g_source_remove(self->refresh_id);
		self->refresh_id =
		    g_timeout_add_seconds(self->presence_refresh_s, rb_refresh_cb, self);
	}
	patterns = rb_route_patterns(self);
	for (guint i = 0; patterns[i] != NULL; i++) {
		if (!g_strv_contains((const gchar *const *)self->patterns, patterns[i]))
			g_ptr_array_add(added, patterns[i]);
	}
	for (guint i = 0; self->patterns[i] != NULL; i++) {
		if (!g_strv_contains((const gchar *const *)patterns, self->patterns[i]))
			g_ptr_array_add(removed, self->patterns[i]);
	}
	if (added->len == 0 && removed->len == 0)
		return TRUE;
	g_ptr_array_add(added, NULL);
	g_ptr_array_add(removed, NULL);
	if (self->sub.ready) {
		rb_sub_psubscribe(self, "PSUBSCRIBE", (gchar **)added->pdata, FALSE);
		rb_sub_psubscribe(self, "PUNSUBSCRIBE", (gchar **)removed->pdata, FALSE);
	}
	g_info("routes changed: %u pattern(s) added, %u removed", added->len - 1, removed->len - 1);
	g_strfreev(self->patterns);
	self->patterns = g_steal_pointer(&patterns);
	/* a subscriber that is not ready subscribes to the new list when it is */
	if (self->sub.ready)
		self->n_confirmed = g_strv_length(self->patterns) + 1;
	return TRUE;
}

static void
rb_disconnect_bus(HeraldRedisBridgePlugin *self)
{
	HeraldBus *bus = herald_plugin_get_bus(HERALD_PLUGIN(self));
	if (bus == NULL)
		return;
	g_clear_signal_handler(&self->outbound_id, bus);
	g_clear_signal_handler(&self->connected_id, bus);
	g_clear_signal_handler(&self->disconnected_id, bus);
	g_clear_signal_handler(&self->updated_id, bus);
	g_clear_signal_handler(&self->room_joined_id, bus);
	g_clear_signal_handler(&self->room_left_id, bus);
	g_clear_signal_handler(&self->presence_id, bus);
	g_clear_signal_handler(&self->redis_id, bus);
}

static void
rb_conn_stop(RbConn *conn)
{
	g_clear_handle_id(&conn->retry_id, g_source_remove);
	if (conn->resolve_cancellable != NULL) {
		g_cancellable_cancel(conn->resolve_cancellable);
		g_clear_object(&conn->resolve_cancellable);
	}
	rb_conn_abort(conn, NULL);
	g_clear_handle_id(&conn->timeout_id, g_source_remove);
}

static void
rb_shutdown_done(HeraldRedisBridgePlugin *self)
{
	g_clear_handle_id(&self->shutdown_timeout_id, g_source_remove);
	g_clear_handle_id(&self->shutdown_idle_id, g_source_remove);
	rb_conn_stop(&self->cmd);
	rb_conn_stop(&self->sub);
	if (self->queue.length > 0)
		g_warning("stopping with %u event(s) for other instances not sent to redis",
			  self->queue.length);
	if (self->shutdown_task != NULL) {
		g_task_return_boolean(self->shutdown_task, TRUE);
		g_clear_object(&self->shutdown_task);
	}
}

static gboolean
rb_shutdown_timeout_cb(gpointer user_data)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(user_data);
	self->shutdown_timeout_id = 0;
	rb_shutdown_done(self);
	return G_SOURCE_REMOVE;
}

static gboolean
rb_shutdown_idle_cb(gpointer user_data)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(user_data);
	self->shutdown_idle_id = 0;
	rb_shutdown_done(self);
	return G_SOURCE_REMOVE;
}

static void
rb_shutdown_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
	HeraldRedisBridgePlugin *self = privdata;
	/* the presence entries are gone (or the connection is): stop, outside
	 * hiredis' callback */
	if (self->shutdown_task != NULL && self->shutdown_idle_id == 0)
		self->shutdown_idle_id = g_idle_add(rb_shutdown_idle_cb, self);
}

/* remove this instance's presence entries (others must not wait for the TTL),
 * then close both connections */
static void
herald_redis_bridge_plugin_shutdown_async(HeraldPlugin *plugin,
					  GCancellable *cancellable,
					  GAsyncReadyCallback callback,
					  gpointer user_data)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(plugin);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	const gchar *mine = herald_bus_get_instance_id(herald_plugin_get_bus(plugin));
	g_autofree gchar *key = rb_instance_key(self);

	rb_disconnect_bus(self);
	g_clear_handle_id(&self->refresh_id, g_source_remove);
	if (self->shutdown_task != NULL || self->shutting_down) {
		g_task_return_boolean(task, TRUE);
		return;
	}
	self->shutting_down = TRUE;
	self->shutdown_task = g_steal_pointer(&task);
	rb_conn_stop(&self->sub);
	if (!self->cmd.ready) {
		rb_shutdown_done(self);
		return;
	}
	redisAsyncCommand(self->cmd.ac, NULL, NULL, "DEL %s", key);
	if (redisAsyncCommand(self->cmd.ac,
			      rb_shutdown_reply_cb,
			      self,
			      "ZREM %s %s",
			      RB_INSTANCES_KEY,
			      mine) != REDIS_OK) {
		rb_shutdown_done(self);
		return;
	}
	self->shutdown_timeout_id = g_timeout_add(2000, rb_shutdown_timeout_cb, self);
}

static gboolean
herald_redis_bridge_plugin_shutdown_finish(HeraldPlugin *plugin, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

static GVariant *
rb_pattern_dict(GHashTable *table)
{
	g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT(NULL);
	GHashTableIter iter;
	gpointer key, value;
	g_hash_table_iter_init(&iter, table);
	while (g_hash_table_iter_next(&iter, &key, &value))
		g_variant_dict_insert(&dict, key, "t", *(guint64 *)value);
	return g_variant_dict_end(&dict);
}

static void
herald_redis_bridge_plugin_add_stats(HeraldPlugin *plugin, GVariantDict *dict)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(plugin);
	g_auto(GVariantDict) rejected = G_VARIANT_DICT_INIT(NULL);
	guint64 rejected_total = 0;

	for (guint i = 0; i < RB_REJECT_LAST; i++) {
		g_variant_dict_insert(&rejected, rb_reject_names[i], "t", self->rejected[i]);
		rejected_total += self->rejected[i];
	}
	g_variant_dict_insert(dict, "subscriber_connected", "u", (guint)self->sub.ready);
	g_variant_dict_insert(dict, "command_connected", "u", (guint)self->cmd.ready);
	g_variant_dict_insert(dict, "patterns", "u", g_strv_length(self->patterns));
	g_variant_dict_insert(dict, "messages_in_total", "t", self->messages_in);
	g_variant_dict_insert_value(dict,
				    "messages_in_by_pattern_total",
				    rb_pattern_dict(self->in_by_pattern));
	g_variant_dict_insert(dict, "messages_out_total", "t", self->messages_out);
	g_variant_dict_insert_value(dict,
				    "messages_out_by_pattern_total",
				    rb_pattern_dict(self->out_by_pattern));
	g_variant_dict_insert(dict, "rejected_total", "t", rejected_total);
	g_variant_dict_insert_value(dict,
				    "rejected_by_reason_total",
				    g_variant_dict_end(&rejected));
	g_variant_dict_insert(dict, "self_skipped_total", "t", self->self_skipped);
	g_variant_dict_insert(dict, "duplicates_total", "t", self->duplicates);
	g_variant_dict_insert(dict, "overlap_skipped_total", "t", self->overlap_skipped);
	g_variant_dict_insert(dict, "reconnects_total", "t", self->reconnects);
	g_variant_dict_insert(dict, "queue_depth", "u", self->queue.length);
	g_variant_dict_insert(dict, "queue_max", "u", self->queue_max);
	g_variant_dict_insert(dict, "queued_total", "t", self->queued);
	g_variant_dict_insert(dict, "queue_dropped_total", "t", self->queue_dropped);
	g_variant_dict_insert(dict, "replayed_total", "t", self->replayed);
	g_variant_dict_insert(dict, "publish_errors_total", "t", self->publish_errors);
	g_variant_dict_insert(dict, "presence_users", "u", g_hash_table_size(self->users));
	g_variant_dict_insert(dict, "requests_total", "t", self->requests);
	g_variant_dict_insert(dict, "request_errors_total", "t", self->request_errors);
	g_variant_dict_insert(dict, "last_outage_ms", "t", self->last_outage_ms);
	if (self->sentinel != NULL) {
		g_autofree gchar *master =
		    self->master_host != NULL
			? g_strdup_printf("%s:%u", self->master_host, self->master_port)
			: g_strdup("");
		g_variant_dict_insert(dict, "sentinel_master", "s", master);
		g_variant_dict_insert(dict, "sentinel_failovers_total", "t", self->failovers);
	}
	g_variant_dict_insert(dict,
			      "last_error",
			      "s",
			      self->last_error != NULL ? self->last_error : "");
}

static void
rb_conn_init(HeraldRedisBridgePlugin *self, RbConn *conn, const gchar *role)
{
	conn->self = self;
	conn->role = role;
}

static void
herald_redis_bridge_plugin_init(HeraldRedisBridgePlugin *self)
{
	herald_plugin_add_config_keys(HERALD_PLUGIN(self),
				      redis_bridge_keys,
				      G_N_ELEMENTS(redis_bridge_keys));
	rb_conn_init(self, &self->sub, "subscriber");
	rb_conn_init(self, &self->cmd, "command");
	self->rand = g_rand_new();
	self->in_by_pattern = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->out_by_pattern = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->users =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)rb_user_free);
	self->patterns = g_new0(gchar *, 1);
	g_queue_init(&self->queue);
	g_queue_init(&self->replay);
}

static void
herald_redis_bridge_plugin_dispose(GObject *object)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(object);
	rb_disconnect_bus(self);
	self->shutting_down = TRUE;
	g_clear_handle_id(&self->refresh_id, g_source_remove);
	g_clear_handle_id(&self->shutdown_timeout_id, g_source_remove);
	g_clear_handle_id(&self->shutdown_idle_id, g_source_remove);
	rb_conn_stop(&self->sub);
	rb_conn_stop(&self->cmd);
	g_clear_pointer(&self->sentinel, rb_sentinel_free);
	if (self->shutdown_task != NULL) {
		g_task_return_boolean(self->shutdown_task, TRUE);
		g_clear_object(&self->shutdown_task);
	}
	G_OBJECT_CLASS(herald_redis_bridge_plugin_parent_class)->dispose(object);
}

static void
herald_redis_bridge_plugin_finalize(GObject *object)
{
	HeraldRedisBridgePlugin *self = HERALD_REDIS_BRIDGE_PLUGIN(object);
	g_queue_clear_full(&self->queue, (GDestroyNotify)rb_publish_free);
	g_queue_clear_full(&self->replay, (GDestroyNotify)rb_publish_free);
	g_clear_pointer(&self->url, herald_redis_url_free);
	if (self->password != NULL)
		memset(self->password, 0, strlen(self->password));
	g_free(self->password);
	g_free(self->url_shown);
	g_free(self->master_host);
	g_free(self->sub.error);
	g_free(self->cmd.error);
	g_free(self->sub.peer_host);
	g_free(self->cmd.peer_host);
	g_free(self->last_error);
	g_strfreev(self->patterns);
	g_hash_table_unref(self->in_by_pattern);
	g_hash_table_unref(self->out_by_pattern);
	g_hash_table_unref(self->users);
	g_clear_pointer(&self->seen, herald_redis_seen_free);
	g_rand_free(self->rand);
	G_OBJECT_CLASS(herald_redis_bridge_plugin_parent_class)->finalize(object);
}

static void
herald_redis_bridge_plugin_class_init(HeraldRedisBridgePluginClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	HeraldPluginClass *plugin_class = HERALD_PLUGIN_CLASS(klass);
	object_class->dispose = herald_redis_bridge_plugin_dispose;
	object_class->finalize = herald_redis_bridge_plugin_finalize;
	plugin_class->startup = herald_redis_bridge_plugin_startup;
	plugin_class->reload = herald_redis_bridge_plugin_reload;
	plugin_class->shutdown_async = herald_redis_bridge_plugin_shutdown_async;
	plugin_class->shutdown_finish = herald_redis_bridge_plugin_shutdown_finish;
	plugin_class->add_stats = herald_redis_bridge_plugin_add_stats;
	plugin_class->check_config = herald_redis_bridge_plugin_check_config;
}

/* the one symbol this module exports */
HERALD_PLUGIN_DEFINE_QUERY_TYPE(HERALD_TYPE_REDIS_BRIDGE_PLUGIN)
