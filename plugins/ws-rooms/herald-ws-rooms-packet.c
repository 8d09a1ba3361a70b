/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <herald.h>
#include <string.h>

#include "herald-ws-rooms-packet.h"

void
herald_sio_packet_clear(HeraldSioPacket *packet)
{
	g_clear_pointer(&packet->nsp, g_free);
	g_clear_pointer(&packet->data, json_node_unref);
}

/* socket.io-parser RESERVED_EVENTS: the client refuses packets carrying them */
gboolean
herald_sio_event_name_is_reserved(const gchar *name)
{
	const gchar *reserved[] = {"connect",
				   "connect_error",
				   "disconnect",
				   "disconnecting",
				   "newListener",
				   "removeListener"};
	for (guint i = 0; i < G_N_ELEMENTS(reserved); i++) {
		if (g_strcmp0(name, reserved[i]) == 0)
			return TRUE;
	}
	return FALSE;
}

static gboolean
herald_sio_packet_fail(GError **error, const gchar *message)
{
	g_set_error_literal(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT, message);
	return FALSE;
}

/* socket.io-parser isPayloadValid() */
static gboolean
herald_sio_payload_is_valid(HeraldSioPacket *packet)
{
	JsonNode *data = packet->data;
	switch (packet->type) {
	case HERALD_SIO_CONNECT:
		return data == NULL || JSON_NODE_HOLDS_OBJECT(data);
	case HERALD_SIO_DISCONNECT:
		return data == NULL;
	case HERALD_SIO_CONNECT_ERROR:
		return data != NULL && (JSON_NODE_HOLDS_OBJECT(data) ||
					json_node_get_value_type(data) == G_TYPE_STRING);
	case HERALD_SIO_EVENT:
	case HERALD_SIO_BINARY_EVENT: {
		JsonArray *array;
		JsonNode *first;
		if (data == NULL || !JSON_NODE_HOLDS_ARRAY(data))
			return FALSE;
		array = json_node_get_array(data);
		if (json_array_get_length(array) == 0)
			return FALSE;
		first = json_array_get_element(array, 0);
		if (!JSON_NODE_HOLDS_VALUE(first))
			return FALSE;
		if (json_node_get_value_type(first) == G_TYPE_INT64 ||
		    json_node_get_value_type(first) == G_TYPE_DOUBLE)
			return TRUE;
		return json_node_get_value_type(first) == G_TYPE_STRING &&
		       !herald_sio_event_name_is_reserved(json_node_get_string(first));
	}
	case HERALD_SIO_ACK:
	case HERALD_SIO_BINARY_ACK:
		return data != NULL && JSON_NODE_HOLDS_ARRAY(data);
	default:
		return FALSE;
	}
}

/**
 * herald_sio_packet_parse:
 * @text: a Socket.IO packet, i.e. an Engine.IO message without its leading `4`
 *
 * `<type>[<#attachments>-][<nsp>,][<ackId>][JSON]` as socket.io-parser decodes it.
 */
gboolean
herald_sio_packet_parse(const gchar *text, gsize len, HeraldSioPacket *packet, GError **error)
{
	gsize i = 1;

	memset(packet, 0, sizeof(*packet));
	packet->ack_id = -1;
	if (len == 0 || text[0] < '0' || text[0] > '6')
		return herald_sio_packet_fail(error, "unknown Socket.IO packet type");
	packet->type = text[0] - '0';

	if (packet->type == HERALD_SIO_BINARY_EVENT || packet->type == HERALD_SIO_BINARY_ACK) {
		guint64 n = 0;
		gsize start = i;
		while (i < len && g_ascii_isdigit(text[i]) && i - start < 6)
			n = n * 10 + (guint64)(text[i++] - '0');
		if (i == start || i >= len || text[i] != '-')
			return herald_sio_packet_fail(error, "illegal attachments");
		packet->attachments = (guint)n;
		i++;
	}
	if (i < len && text[i] == '/') {
		gsize start = i;
		while (i < len && text[i] != ',')
			i++;
		packet->nsp = g_strndup(text + start, i - start);
		if (i < len)
			i++;
	} else {
		packet->nsp = g_strdup("/");
	}
	if (i < len && g_ascii_isdigit(text[i])) {
		gint64 id = 0;
		gsize start = i;
		while (i < len && g_ascii_isdigit(text[i])) {
			if (i - start >= 15)
				return herald_sio_packet_fail(error, "ack id too large");
			id = id * 10 + (text[i++] - '0');
		}
		packet->ack_id = id;
	}
	if (i < len) {
		/* through the depth gate: json-glib 1.6 recurses once per level */
		packet->data = herald_json_parse(text + i, (gssize)(len - i), NULL);
		if (packet->data == NULL) {
			if (!herald_json_check(text + i, len - i, herald_json_get_max_depth(), NULL)) {
				packet->too_deep = TRUE;
				return herald_sio_packet_fail(error, "JSON payload nested too deep");
			}
			return herald_sio_packet_fail(error, "invalid JSON payload");
		}
	}
	if (!herald_sio_payload_is_valid(packet))
		return herald_sio_packet_fail(error, "invalid payload");
	return TRUE;
}

/* one Engine.IO text packet: a known type digit and UTF-8 */
gboolean
herald_eio_packet_is_valid(const gchar *text, gsize len)
{
	if (len == 0 || text[0] < '0' || text[0] > '6')
		return FALSE;
	if (memchr(text, '\0', len) != NULL)
		return FALSE;
	return g_utf8_validate_len(text, len, NULL);
}

/**
 * herald_eio_payload_split:
 *
 * Splits a polling body at `\x1e` into Engine.IO packets (#GBytes each).
 * Binary (`b…`) and malformed packets are errors: the session is closed.
 */
GPtrArray *
herald_eio_payload_split(const gchar *body, gsize len, GError **error)
{
	g_autoptr(GPtrArray) packets =
	    g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	gsize start = 0;

	if (len == 0) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    "empty payload");
		return NULL;
	}
	for (gsize i = 0; i <= len; i++) {
		if (i < len && body[i] != HERALD_EIO_SEPARATOR)
			continue;
		if (i - start > 0 && body[start] == 'b') {
			g_set_error_literal(error,
					    HERALD_ERROR,
					    HERALD_ERROR_UNSUPPORTED_MEDIA,
					    "binary packets are not supported");
			return NULL;
		}
		if (!herald_eio_packet_is_valid(body + start, i - start)) {
			g_set_error_literal(error,
					    HERALD_ERROR,
					    HERALD_ERROR_INVALID_ARGUMENT,
					    "invalid Engine.IO packet");
			return NULL;
		}
		g_ptr_array_add(packets, g_bytes_new(body + start, i - start));
		start = i + 1;
	}
	return g_steal_pointer(&packets);
}

void
herald_ws_rooms_json_append_string(GString *out, const gchar *text)
{
	g_string_append_c(out, '"');
	for (const guchar *p = (const guchar *)text; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			g_string_append(out, "\\\"");
			break;
		case '\\':
			g_string_append(out, "\\\\");
			break;
		case '\n':
			g_string_append(out, "\\n");
			break;
		case '\r':
			g_string_append(out, "\\r");
			break;
		case '\t':
			g_string_append(out, "\\t");
			break;
		default:
			if (*p < 0x20)
				g_string_append_printf(out, "\\u%04x", *p);
			else
				g_string_append_c(out, (gchar)*p);
		}
	}
	g_string_append_c(out, '"');
}

/* `42["name",data]`: an Engine.IO message carrying a Socket.IO event */
GString *
herald_sio_event_new(const gchar *name, const gchar *data_json)
{
	GString *out =
	    g_string_sized_new(16 + strlen(name) + (data_json != NULL ? strlen(data_json) : 0));
	g_string_append(out, "42[");
	herald_ws_rooms_json_append_string(out, name);
	if (data_json != NULL) {
		g_string_append_c(out, ',');
		g_string_append(out, data_json);
	}
	g_string_append_c(out, ']');
	return out;
}

/* `43<id>[data]`: @data_json is the content of the ack array */
GString *
herald_sio_ack_new(gint64 ack_id, const gchar *data_json)
{
	GString *out = g_string_new(NULL);
	g_string_append_printf(out, "43%" G_GINT64_FORMAT "[", ack_id);
	if (data_json != NULL)
		g_string_append(out, data_json);
	g_string_append_c(out, ']');
	return out;
}

gchar *
herald_eio_open_new(const gchar *sid,
		    gboolean can_upgrade,
		    guint64 ping_interval,
		    guint64 ping_timeout,
		    guint64 max_payload)
{
	return g_strdup_printf(
	    "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%" G_GUINT64_FORMAT
	    ",\"pingTimeout\":%" G_GUINT64_FORMAT ",\"maxPayload\":%" G_GUINT64_FORMAT "}",
	    sid,
	    can_upgrade ? "\"websocket\"" : "",
	    ping_interval,
	    ping_timeout,
	    max_payload);
}
