/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "herald-ws-rooms-frame.h"

void
herald_ws_parser_init(HeraldWsParser *parser, gsize max_message, gboolean require_mask)
{
	memset(parser, 0, sizeof(*parser));
	parser->max_message = max_message;
	parser->require_mask = require_mask;
}

void
herald_ws_parser_clear(HeraldWsParser *parser)
{
	g_clear_pointer(&parser->message, g_byte_array_unref);
	parser->message_opcode = 0;
}

/* total size of the frame starting at @data, or -1 if the header is incomplete */
gssize
herald_ws_parser_frame_size(const guint8 *data, gsize len)
{
	guint64 payload_len;
	gsize header = 2;

	if (len < 2)
		return -1;
	payload_len = data[1] & 0x7f;
	if (payload_len == 126) {
		header += 2;
		if (len < header)
			return -1;
		payload_len = ((guint64)data[2] << 8) | data[3];
	} else if (payload_len == 127) {
		header += 8;
		if (len < header)
			return -1;
		payload_len = 0;
		for (guint i = 0; i < 8; i++)
			payload_len = (payload_len << 8) | data[2 + i];
	}
	if (data[1] & 0x80)
		header += 4;
	if (payload_len > G_MAXSSIZE - header)
		return G_MAXSSIZE;
	return (gssize)(header + payload_len);
}

static HeraldWsParseResult
herald_ws_parser_fail(HeraldWsFrame *frame, guint16 code, const gchar *reason)
{
	frame->close_code = code;
	frame->error = reason;
	return HERALD_WS_PARSE_ERROR;
}

gboolean
herald_ws_close_code_is_valid(guint code)
{
	/* RFC 6455 §7.4.1; 1004-1006 and 1015 must never be sent on the wire */
	if (code >= 1000 && code <= 1003)
		return TRUE;
	if (code >= 1007 && code <= 1014)
		return TRUE;
	return code >= 3000 && code <= 4999;
}

static void
herald_ws_unmask(guint8 *payload, gsize len, const guint8 *mask)
{
	gsize i = 0;
	guint32 mask32;

	/* word-at-a-time for the bulk, bytes for the tail */
	memcpy(&mask32, mask, 4);
	for (; i + 4 <= len; i += 4) {
		guint32 word;
		memcpy(&word, payload + i, 4);
		word ^= mask32;
		memcpy(payload + i, &word, 4);
	}
	for (; i < len; i++)
		payload[i] ^= mask[i % 4];
}

/**
 * herald_ws_parser_feed:
 * @data: buffered input; payloads are unmasked in place
 * @consumed: (out): bytes of @data used by the returned frame (0 for NEED_MORE)
 *
 * Parses at most one frame. Oversized frames are refused as soon as their
 * header is complete, before their payload is buffered.
 */
HeraldWsParseResult
herald_ws_parser_feed(HeraldWsParser *parser,
		      guint8 *data,
		      gsize len,
		      gsize *consumed,
		      HeraldWsFrame *frame)
{
	gboolean fin;
	gboolean masked;
	guint8 opcode;
	guint64 payload_len;
	gsize header = 2;
	guint8 *payload;
	const guint8 *mask = NULL;

	*consumed = 0;
	memset(frame, 0, sizeof(*frame));

	/* a reassembled message handed out by the previous call is done with */
	if (parser->message_opcode == 0 && parser->message != NULL)
		g_clear_pointer(&parser->message, g_byte_array_unref);

	if (len < 2)
		return HERALD_WS_PARSE_NEED_MORE;
	fin = (data[0] & 0x80) != 0;
	opcode = data[0] & 0x0f;
	masked = (data[1] & 0x80) != 0;
	payload_len = data[1] & 0x7f;

	if (data[0] & 0x70)
		return herald_ws_parser_fail(frame,
					     HERALD_WS_CLOSE_PROTOCOL_ERROR,
					     "reserved bits set without an extension");
	if (opcode != HERALD_WS_OPCODE_CONTINUATION && opcode != HERALD_WS_OPCODE_TEXT &&
	    opcode != HERALD_WS_OPCODE_BINARY && opcode != HERALD_WS_OPCODE_CLOSE &&
	    opcode != HERALD_WS_OPCODE_PING && opcode != HERALD_WS_OPCODE_PONG)
		return herald_ws_parser_fail(frame,
					     HERALD_WS_CLOSE_PROTOCOL_ERROR,
					     "unknown opcode");
	if (parser->require_mask && !masked)
		return herald_ws_parser_fail(frame,
					     HERALD_WS_CLOSE_PROTOCOL_ERROR,
					     "client frames must be masked");
	if (opcode >= HERALD_WS_OPCODE_CLOSE) {
		if (!fin)
			return herald_ws_parser_fail(frame,
						     HERALD_WS_CLOSE_PROTOCOL_ERROR,
						     "fragmented control frame");
		if (payload_len > 125)
			return herald_ws_parser_fail(frame,
						     HERALD_WS_CLOSE_PROTOCOL_ERROR,
						     "control frame too long");
	} else if (opcode == HERALD_WS_OPCODE_CONTINUATION) {
		if (parser->message_opcode == 0)
			return herald_ws_parser_fail(frame,
						     HERALD_WS_CLOSE_PROTOCOL_ERROR,
						     "continuation without a message");
	} else if (parser->message_opcode != 0) {
		return herald_ws_parser_fail(frame,
					     HERALD_WS_CLOSE_PROTOCOL_ERROR,
					     "new message inside a fragmented one");
	}

	if (payload_len == 126) {
		header += 2;
		if (len < header)
			return HERALD_WS_PARSE_NEED_MORE;
		payload_len = ((guint64)data[2] << 8) | data[3];
	} else if (payload_len == 127) {
		header += 8;
		if (len < header)
			return HERALD_WS_PARSE_NEED_MORE;
		if (data[2] & 0x80)
			return herald_ws_parser_fail(frame,
						     HERALD_WS_CLOSE_PROTOCOL_ERROR,
						     "frame length has the top bit set");
		payload_len = 0;
		for (guint i = 0; i < 8; i++)
			payload_len = (payload_len << 8) | data[2 + i];
	}

	/* the bound is on the whole message, checked before buffering anything */
	if (opcode < HERALD_WS_OPCODE_CLOSE) {
		gsize so_far = parser->message != NULL ? parser->message->len : 0;
		if (payload_len > parser->max_message || so_far + payload_len > parser->max_message)
			return herald_ws_parser_fail(frame,
						     HERALD_WS_CLOSE_TOO_BIG,
						     "message too big");
	}

	if (masked) {
		if (len < header + 4)
			return HERALD_WS_PARSE_NEED_MORE;
		mask = data + header;
		header += 4;
	}
	if (len - header < payload_len)
		return HERALD_WS_PARSE_NEED_MORE;

	payload = data + header;
	if (mask != NULL)
		herald_ws_unmask(payload, (gsize)payload_len, mask);
	*consumed = header + (gsize)payload_len;

	/* control frames may arrive between fragments */
	if (opcode >= HERALD_WS_OPCODE_CLOSE) {
		frame->opcode = opcode;
		frame->payload = payload;
		frame->len = (gsize)payload_len;
		if (opcode == HERALD_WS_OPCODE_CLOSE) {
			if (payload_len == 1)
				return herald_ws_parser_fail(frame,
							     HERALD_WS_CLOSE_PROTOCOL_ERROR,
							     "close frame with a one-byte payload");
			if (payload_len >= 2) {
				guint code = ((guint)payload[0] << 8) | payload[1];
				if (!herald_ws_close_code_is_valid(code))
					return herald_ws_parser_fail(frame,
								     HERALD_WS_CLOSE_PROTOCOL_ERROR,
								     "invalid close code");
				if (!g_utf8_validate_len((const gchar *)payload + 2,
							 (gsize)payload_len - 2,
							 NULL))
					return herald_ws_parser_fail(frame,
								     HERALD_WS_CLOSE_BAD_DATA,
								     "close reason is not UTF-8");
				frame->close_code = (guint16)code;
			} else {
				frame->close_code = HERALD_WS_CLOSE_NO_STATUS;
			}
		}
		return HERALD_WS_PARSE_CONTROL;
	}

	/* the common case: a whole message in one frame, handed out in place */
	if (fin && opcode != HERALD_WS_OPCODE_CONTINUATION) {
		if (opcode == HERALD_WS_OPCODE_TEXT &&
		    !g_utf8_validate_len((const gchar *)payload, (gsize)payload_len, NULL))
			return herald_ws_parser_fail(frame,
						     HERALD_WS_CLOSE_BAD_DATA,
						     "text message is not UTF-8");
		frame->opcode = opcode;
		frame->payload = payload;
		frame->len = (gsize)payload_len;
		return HERALD_WS_PARSE_MESSAGE;
	}

	/* fragments */
	if (opcode != HERALD_WS_OPCODE_CONTINUATION) {
		parser->message_opcode = opcode;
		parser->message = g_byte_array_sized_new((guint)MIN(payload_len * 2, 4096));
	}
	g_byte_array_append(parser->message, payload, (guint)payload_len);
	if (!fin)
		return HERALD_WS_PARSE_FRAGMENT;
	frame->opcode = parser->message_opcode;
	frame->payload = parser->message->data;
	frame->len = parser->message->len;
	parser->message_opcode = 0;
	if (frame->opcode == HERALD_WS_OPCODE_TEXT &&
	    !g_utf8_validate_len((const gchar *)frame->payload, frame->len, NULL))
		return herald_ws_parser_fail(frame,
					     HERALD_WS_CLOSE_BAD_DATA,
					     "text message is not UTF-8");
	return HERALD_WS_PARSE_MESSAGE;
}

gsize
herald_ws_frame_header_size(gsize payload_len)
{
	if (payload_len < 126)
		return 2;
	if (payload_len <= G_MAXUINT16)
		return 4;
	return 10;
}

gsize
herald_ws_frame_write_header(guint8 *buf, guint8 opcode, gsize payload_len)
{
	buf[0] = 0x80 | (opcode & 0x0f);
	if (payload_len < 126) {
		buf[1] = (guint8)payload_len;
		return 2;
	}
	if (payload_len <= G_MAXUINT16) {
		buf[1] = 126;
		buf[2] = (guint8)(payload_len >> 8);
		buf[3] = (guint8)payload_len;
		return 4;
	}
	buf[1] = 127;
	for (guint i = 0; i < 8; i++)
		buf[2 + i] = (guint8)((guint64)payload_len >> (56 - 8 * i));
	return 10;
}

/* one allocation holding header and payload, shared read-only afterwards */
GBytes *
herald_ws_frame_new(guint8 opcode, const guint8 *payload, gsize len)
{
	gsize header = herald_ws_frame_header_size(len);
	guint8 *buf = g_malloc(header + len);
	herald_ws_frame_write_header(buf, opcode, len);
	if (len > 0)
		memcpy(buf + header, payload, len);
	return g_bytes_new_take(buf, header + len);
}

/**
 * herald_ws_frame_new_text_take:
 * @text: (transfer full): the payload
 * @header_len: (out) (optional): where the payload starts in the frame
 *
 * Frames @text as one text frame.
 */
GBytes *
herald_ws_frame_new_text_take(GString *text, gsize *header_len)
{
	gsize len = text->len;
	gsize header = herald_ws_frame_header_size(len);
	guint8 hdr[10];
	gchar *data;

	herald_ws_frame_write_header(hdr, HERALD_WS_OPCODE_TEXT, len);
	g_string_prepend_len(text, (const gchar *)hdr, (gssize)header);
	if (header_len != NULL)
		*header_len = header;
	len = text->len;
	data = g_string_free(text, FALSE);
	return g_bytes_new_take(data, len);
}

GBytes *
herald_ws_frame_new_close(guint16 code, const gchar *reason)
{
	guint8 payload[125];
	gsize len = 0;

	if (code != 0 && code != HERALD_WS_CLOSE_NO_STATUS) {
		payload[0] = (guint8)(code >> 8);
		payload[1] = (guint8)code;
		len = 2;
		if (reason != NULL) {
			gsize rlen = strlen(reason);
			const gchar *end = NULL;
			/* truncate on a character boundary */
			if (rlen > sizeof(payload) - 2) {
				rlen = sizeof(payload) - 2;
				g_utf8_validate_len(reason, rlen, &end);
				rlen = end - reason;
			}
			memcpy(payload + 2, reason, rlen);
			len += rlen;
		}
	}
	return herald_ws_frame_new(HERALD_WS_OPCODE_CLOSE, payload, len);
}

GBytes *
herald_ws_frame_new_masked(guint8 opcode,
			   gboolean fin,
			   const guint8 *payload,
			   gsize len,
			   guint32 mask_key)
{
	gsize header = herald_ws_frame_header_size(len);
	guint8 *buf = g_malloc(header + 4 + len);
	guint8 mask[4] = {mask_key >> 24, mask_key >> 16, mask_key >> 8, mask_key};

	herald_ws_frame_write_header(buf, opcode, len);
	if (!fin)
		buf[0] &= 0x7f;
	buf[1] |= 0x80;
	memcpy(buf + header, mask, 4);
	for (gsize i = 0; i < len; i++)
		buf[header + 4 + i] = payload[i] ^ mask[i % 4];
	return g_bytes_new_take(buf, header + 4 + len);
}
