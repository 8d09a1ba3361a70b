/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <herald.h>

#include "herald-ws-rooms-budget.h"
#include "herald-ws-rooms-frame.h"
#include "herald-ws-rooms-policy.h"
#include "herald-ws-rooms-queue.h"
#include "herald-ws-rooms-timers.h"

G_BEGIN_DECLS

/*
 * The hub owns every WebSocket connection taken over from libsoup after the 101
 * (RFC 6455 framing is done here, on the raw fd, driven by one epoll set that
 * sits in the GLib main loop as a single source), every client (a plain
 * connection or a Socket.IO session), the rooms and the delivery path.
 *
 * Lifetimes: closing a client or a connection only marks it; rooms, users and
 * memory are cleaned up by the reaper, which runs from the hub's own source
 * after the current dispatch. So iterating a room is never disturbed by a close.
 */

typedef struct _HeraldWsRoomsHub HeraldWsRoomsHub;
typedef struct _HeraldWsRoomsConn HeraldWsRoomsConn;
typedef struct _HeraldWsRoomsClient HeraldWsRoomsClient;
typedef struct _HeraldWsRoomsEio HeraldWsRoomsEio;

typedef enum {
	HERALD_WS_ROOMS_PROTO_PLAIN,
	HERALD_WS_ROOMS_PROTO_SIO,
	HERALD_WS_ROOMS_PROTO_LAST
} HeraldWsRoomsProto;

/* reasons a connection ended or a frame was dropped, for stats */
typedef enum {
	HERALD_WS_ROOMS_REASON_CLIENT,	      /* the client closed */
	HERALD_WS_ROOMS_REASON_SHUTDOWN,      /* 1012 */
	HERALD_WS_ROOMS_REASON_SLOW_CONSUMER, /* 4008 */
	HERALD_WS_ROOMS_REASON_TOO_BIG,	      /* 1009 */
	HERALD_WS_ROOMS_REASON_RATE_LIMITED,  /* 4429 */
	HERALD_WS_ROOMS_REASON_TOKEN_EXPIRED, /* 4408 */
	HERALD_WS_ROOMS_REASON_UNAUTHORIZED,  /* 4401 */
	HERALD_WS_ROOMS_REASON_PROTOCOL,      /* 1002, 1003, 1007, bad packets */
	HERALD_WS_ROOMS_REASON_TIMEOUT,	      /* idle, ping, connect and upgrade timeouts */
	HERALD_WS_ROOMS_REASON_IO_ERROR,      /* reset, broken pipe */
	HERALD_WS_ROOMS_REASON_SERVER_FULL,   /* 1013 */
	HERALD_WS_ROOMS_REASON_LAST
} HeraldWsRoomsReason;

const gchar *
herald_ws_rooms_reason_to_string(HeraldWsRoomsReason reason);

/* limits and options, read from [ws-rooms] by the plugin (reloadable) */
typedef struct {
	guint64 max_connections;
	guint64 max_connections_per_user;
	guint64 max_subscriptions;
	guint64 max_message_bytes;
	guint64 rate_limit; /* messages per second */
	guint64 rate_burst;
	guint64 outgoing_buffer_bytes;
	/* SO_SNDBUF of each adopted socket, 0 = the kernel's own (autotuned);
	 * herald_ws_rooms_send_buffer_parse() resolves `auto` */
	guint64 socket_send_buffer_bytes;
	guint64 idle_timeout_ms;  /* plain: ping after half of it, close after it */
	guint64 ping_interval_ms; /* Engine.IO */
	guint64 ping_timeout_ms;
	guint64 max_payload; /* Engine.IO polling */
	guint64 upgrade_timeout_ms;
	guint64 connect_timeout_ms;
	guint64 close_timeout_ms;
	guint64 max_packets_per_payload; /* Engine.IO polling POST */
	guint64 max_pending;		 /* Socket.IO sessions before CONNECT */
	guint64 max_pending_per_address;
	guint64 max_connections_per_address; /* 0 = unlimited */
	gchar *broadcast_room; /* (nullable) a room everyone is in */
	gchar **allowed_origins;
} HeraldWsRoomsLimits;

void
herald_ws_rooms_limits_clear(HeraldWsRoomsLimits *limits);

#define HERALD_WS_ROOMS_SEND_BUFFER_MIN (4 * 1024)
#define HERALD_WS_ROOMS_SEND_BUFFER_MAX (64 * 1024 * 1024)
gboolean
herald_ws_rooms_send_buffer_parse(const gchar *value,
				  guint64 outgoing_buffer_bytes,
				  guint64 *bytes,
				  GError **error);

/* the memory a queued packet of its own holds besides its bytes, counted in
 * outgoing-buffer-bytes: the GBytes (40 bytes on 64-bit) and its payload,
 * each with malloc's 16-byte header, and a list node (24 + 16), rounded up */
#define HERALD_WS_ROOMS_ITEM_COST 128

/* ------------------------------------------------------------------ conn */

typedef void (*HeraldWsRoomsConnMessageFunc)(HeraldWsRoomsConn *conn,
					     guint8 opcode,
					     const guint8 *data,
					     gsize len,
					     gpointer user_data);
typedef void (*HeraldWsRoomsConnClosedFunc)(HeraldWsRoomsConn *conn, gpointer user_data);

typedef enum {
	HERALD_WS_ROOMS_CONN_OPEN,
	HERALD_WS_ROOMS_CONN_CLOSING, /* our close frame is queued or sent */
	HERALD_WS_ROOMS_CONN_DEAD,    /* fd closed; freed by the reaper */
} HeraldWsRoomsConnState;

struct _HeraldWsRoomsConn {
	HeraldWsRoomsHub *hub; /* (not owned) */
	gint fd;
	guint8 state;
	guint8 close_received : 1;
	guint8 want_out : 1; /* EPOLLOUT is armed */
	guint8 dirty : 1;    /* in the flush list */
	guint8 ping_sent : 1;
	guint8 notified : 1;	  /* closed callback ran */
	guint8 pending_input : 1; /* rbuf holds bytes read ahead by libsoup */
	guint8 discard_input : 1; /* after a broken frame: read and drop until EOF */
	guint8 close_extensions;  /* closing: times the deadline moved */
	HeraldWsRoomsProto proto;
	HeraldWsRoomsQueue queue;
	HeraldWsParser parser;
	guint8 *rbuf; /* (nullable) only while a frame is partly received */
	gsize rlen;
	gsize rcap;
	gint64 last_rx;	 /* monotonic µs */
	gint64 deadline; /* closing: force-close at this monotonic time */
	/* closing: bytes written to the socket since the close began, and
	 * what the peer had taken at the last deadline (written minus what
	 * the kernel still holds), to tell a slow reader from a dead one */
	guint64 close_written;
	gint64 close_taken;
	HeraldWsRoomsConnMessageFunc message_func;
	HeraldWsRoomsConnClosedFunc closed_func;
	gpointer user_data;
};

void
herald_ws_rooms_conn_set_handlers(HeraldWsRoomsConn *conn,
				  HeraldWsRoomsConnMessageFunc message_func,
				  HeraldWsRoomsConnClosedFunc closed_func,
				  gpointer user_data);
gboolean
herald_ws_rooms_conn_send(HeraldWsRoomsConn *conn, GBytes *frame);
gboolean
herald_ws_rooms_conn_send_text(HeraldWsRoomsConn *conn, const gchar *text, gsize len);
void
herald_ws_rooms_conn_close(HeraldWsRoomsConn *conn,
			   guint16 code,
			   const gchar *reason,
			   HeraldWsRoomsReason why);
void
herald_ws_rooms_conn_close_full(HeraldWsRoomsConn *conn,
				GBytes *last_frame,
				guint16 code,
				const gchar *reason,
				HeraldWsRoomsReason why);
void
herald_ws_rooms_conn_tick(HeraldWsRoomsConn *conn, gint64 now, gboolean idle_check);
void
herald_ws_rooms_conn_abort(HeraldWsRoomsConn *conn, HeraldWsRoomsReason why);
void
herald_ws_rooms_conn_orphan(HeraldWsRoomsConn *conn);
gboolean
herald_ws_rooms_conn_is_open(HeraldWsRoomsConn *conn);

/* ---------------------------------------------------------------- client */

struct _HeraldWsRoomsClient {
	GList link; /* in hub->clients */
	HeraldWsRoomsHub *hub;
	HeraldWsRoomsProto proto;
	gchar id[24]; /* connection id (plain) or Engine.IO sid */
	gboolean closed;
	gboolean registered;	  /* counted in users and connection totals */
	HeraldIdentity *identity; /* (nullable) until authenticated */
	gchar *role_room;	  /* (nullable) */
	GPtrArray *rooms;	  /* (nullable) (element-type HeraldWsRoomsRoom) */
	guint64 delivery_serial;
	HeraldWsRoomsConn *conn; /* (nullable) WebSocket transport */
	gint64 expires;		 /* monotonic µs, 0 = never */
	gdouble tokens;		 /* rate limit bucket */
	gint64 tokens_at;
	HeraldWsRoomsEio *eio; /* (nullable) Socket.IO state */
	HeraldWsRoomsBudgetEntry budget; /* source address, pending state */
};

HeraldWsRoomsClient *
herald_ws_rooms_client_new(HeraldWsRoomsHub *hub, HeraldWsRoomsProto proto);
gboolean
herald_ws_rooms_client_register(HeraldWsRoomsClient *client,
				HeraldIdentity *identity,
				GError **error);
void
herald_ws_rooms_client_close(HeraldWsRoomsClient *client);
gboolean
herald_ws_rooms_client_rate_ok(HeraldWsRoomsClient *client);
gboolean
herald_ws_rooms_client_subscribe(HeraldWsRoomsClient *client, const gchar *room, GError **error);
void
herald_ws_rooms_client_unsubscribe(HeraldWsRoomsClient *client, const gchar *room);
gboolean
herald_ws_rooms_client_refresh(HeraldWsRoomsClient *client,
			       const gchar *token,
			       GPtrArray **left,
			       GError **error);
gchar *
herald_ws_rooms_client_refreshed_json(HeraldWsRoomsClient *client, GPtrArray *left, gboolean ok);
const gchar *
herald_ws_rooms_client_get_public_id(HeraldWsRoomsClient *client);
gchar *
herald_ws_rooms_client_connected_json(HeraldWsRoomsClient *client);
void
herald_ws_rooms_client_emit(HeraldWsRoomsClient *client,
			    const gchar *name,
			    const gchar *room,
			    const gchar *payload_json);
void
herald_ws_rooms_client_set_expiry(HeraldWsRoomsClient *client, HeraldIdentity *identity);

/* ------------------------------------------------------------------- hub */

HeraldWsRoomsHub *
herald_ws_rooms_hub_new(HeraldBus *bus, HeraldAuth *auth, GError **error);
void
herald_ws_rooms_hub_free(HeraldWsRoomsHub *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldWsRoomsHub, herald_ws_rooms_hub_free)

void
herald_ws_rooms_hub_set_limits(HeraldWsRoomsHub *self, const HeraldWsRoomsLimits *limits);
void
herald_ws_rooms_hub_set_writer_threads(HeraldWsRoomsHub *self, guint n_threads);
const HeraldWsRoomsLimits *
herald_ws_rooms_hub_get_limits(HeraldWsRoomsHub *self);
void
herald_ws_rooms_hub_set_policy(HeraldWsRoomsHub *self, HeraldWsRoomsPolicy *policy);
HeraldAuth *
herald_ws_rooms_hub_get_auth(HeraldWsRoomsHub *self);
void
herald_ws_rooms_hub_set_auth(HeraldWsRoomsHub *self, HeraldAuth *auth);

typedef void (*HeraldWsRoomsAdoptFunc)(HeraldWsRoomsHub *hub,
				       HeraldWsRoomsConn *conn,
				       gpointer user_data);
gboolean
herald_ws_rooms_hub_upgrade(HeraldWsRoomsHub *self,
			    SoupServerMessage *msg,
			    HeraldWsRoomsProto proto,
			    HeraldWsRoomsAdoptFunc func,
			    gpointer user_data,
			    GDestroyNotify destroy,
			    GError **error);
HeraldWsRoomsConn *
herald_ws_rooms_hub_adopt(HeraldWsRoomsHub *self,
			  GIOStream *stream,
			  HeraldWsRoomsProto proto,
			  GError **error);
gboolean
herald_ws_rooms_hub_check_admission(HeraldWsRoomsHub *self, const gchar *user_id, GError **error);
gboolean
herald_ws_rooms_hub_origin_allowed(HeraldWsRoomsHub *self, const gchar *origin);
guint
herald_ws_rooms_hub_deliver(HeraldWsRoomsHub *self, HeraldDelivery *delivery);
guint
herald_ws_rooms_hub_count(HeraldWsRoomsHub *self, const gchar *user_id);
void
herald_ws_rooms_hub_emit_room(HeraldWsRoomsHub *self,
			      const gchar *room,
			      HeraldWsRoomsClient *except,
			      const gchar *name,
			      const gchar *payload_json);
void
herald_ws_rooms_hub_shutdown(HeraldWsRoomsHub *self);
guint
herald_ws_rooms_hub_get_n_open(HeraldWsRoomsHub *self);
void
herald_ws_rooms_hub_add_stats(HeraldWsRoomsHub *self, GVariantDict *dict);
void
herald_ws_rooms_hub_count_reject(HeraldWsRoomsHub *self, const gchar *reason);
void
herald_ws_rooms_hub_count_close(HeraldWsRoomsHub *self, HeraldWsRoomsReason why);
void
herald_ws_rooms_hub_count_message_in(HeraldWsRoomsHub *self);
void
herald_ws_rooms_hub_count_out(HeraldWsRoomsHub *self, gsize frames);
HeraldWsRoomsClient *
herald_ws_rooms_hub_lookup_sid(HeraldWsRoomsHub *self, const gchar *sid);
gboolean
herald_ws_rooms_hub_sid_recently_ended(HeraldWsRoomsHub *self, const gchar *sid);
void
herald_ws_rooms_hub_wake(HeraldWsRoomsHub *self);
HeraldWsRoomsBudget *
herald_ws_rooms_hub_get_budget(HeraldWsRoomsHub *self);
gboolean
herald_ws_rooms_hub_check_address(HeraldWsRoomsHub *self, const gchar *address, GError **error);
HeraldWsRoomsTimers *
herald_ws_rooms_hub_get_timers(HeraldWsRoomsHub *self);

/* hooks implemented by herald-ws-rooms-eio.c */
void
herald_ws_rooms_eio_free(HeraldWsRoomsEio *eio);
void
herald_ws_rooms_eio_tick(HeraldWsRoomsClient *client, gint64 now);
void
herald_ws_rooms_eio_timer_cb(HeraldWsRoomsTimer *timer, gpointer user_data);
gboolean
herald_ws_rooms_eio_send(HeraldWsRoomsClient *client, GBytes *frame, gsize header_len);
void
herald_ws_rooms_eio_close(HeraldWsRoomsClient *client,
			  guint16 code,
			  const gchar *reason,
			  HeraldWsRoomsReason why);
void
herald_ws_rooms_eio_shutdown(HeraldWsRoomsClient *client);
const gchar *
herald_ws_rooms_eio_get_socket_id(HeraldWsRoomsClient *client);

/* plain protocol */
void
herald_ws_rooms_plain_start(HeraldWsRoomsHub *self,
			    HeraldWsRoomsConn *conn,
			    HeraldIdentity *identity,
			    const gchar *address);
void
herald_ws_rooms_plain_start_full(HeraldWsRoomsHub *self,
				 HeraldWsRoomsConn *conn,
				 HeraldIdentity *identity,
				 const gchar *address,
				 const gchar *job_room);

G_END_DECLS
