/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Engine.IO v4 packet types (one ASCII digit) */
typedef enum {
	HERALD_EIO_OPEN = '0',
	HERALD_EIO_CLOSE = '1',
	HERALD_EIO_PING = '2',
	HERALD_EIO_PONG = '3',
	HERALD_EIO_MESSAGE = '4',
	HERALD_EIO_UPGRADE = '5',
	HERALD_EIO_NOOP = '6',
} HeraldEioType;

/* Socket.IO v5 packet types, inside an Engine.IO message */
typedef enum {
	HERALD_SIO_CONNECT = 0,
	HERALD_SIO_DISCONNECT = 1,
	HERALD_SIO_EVENT = 2,
	HERALD_SIO_ACK = 3,
	HERALD_SIO_CONNECT_ERROR = 4,
	HERALD_SIO_BINARY_EVENT = 5,
	HERALD_SIO_BINARY_ACK = 6,
} HeraldSioType;

#define HERALD_EIO_SEPARATOR '\x1e'

typedef struct {
	HeraldSioType type;
	gchar *nsp;	   /* "/" when absent */
	gint64 ack_id;	   /* -1 when absent */
	guint attachments; /* binary packets only */
	JsonNode *data;	   /* (nullable) */
	gboolean too_deep; /* parse failed: nested deeper than [host] max-json-depth */
} HeraldSioPacket;

void
herald_sio_packet_clear(HeraldSioPacket *packet);
gboolean
herald_sio_packet_parse(const gchar *text, gsize len, HeraldSioPacket *packet, GError **error);
gboolean
herald_sio_event_name_is_reserved(const gchar *name);

gboolean
herald_eio_packet_is_valid(const gchar *text, gsize len);
GPtrArray *
herald_eio_payload_split(const gchar *body, gsize len, GError **error);

/* builders */
void
herald_ws_rooms_json_append_string(GString *out, const gchar *text);
GString *
herald_sio_event_new(const gchar *name, const gchar *data_json);
GString *
herald_sio_ack_new(gint64 ack_id, const gchar *data_json);
gchar *
herald_eio_open_new(const gchar *sid,
		    gboolean can_upgrade,
		    guint64 ping_interval,
		    guint64 ping_timeout,
		    guint64 max_payload);

G_END_DECLS
