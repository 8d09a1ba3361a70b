/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* RFC 6455 opcodes */
typedef enum {
	HERALD_WS_OPCODE_CONTINUATION = 0x0,
	HERALD_WS_OPCODE_TEXT = 0x1,
	HERALD_WS_OPCODE_BINARY = 0x2,
	HERALD_WS_OPCODE_CLOSE = 0x8,
	HERALD_WS_OPCODE_PING = 0x9,
	HERALD_WS_OPCODE_PONG = 0xa,
} HeraldWsOpcode;

/* close codes used by ws-rooms (RFC 6455 §7.4 and DESIGN §4) */
#define HERALD_WS_CLOSE_NORMAL		1000
#define HERALD_WS_CLOSE_GOING_AWAY	1001
#define HERALD_WS_CLOSE_PROTOCOL_ERROR	1002
#define HERALD_WS_CLOSE_UNSUPPORTED	1003
#define HERALD_WS_CLOSE_NO_STATUS	1005
#define HERALD_WS_CLOSE_BAD_DATA	1007
#define HERALD_WS_CLOSE_POLICY		1008
#define HERALD_WS_CLOSE_TOO_BIG		1009
#define HERALD_WS_CLOSE_SERVICE_RESTART 1012
#define HERALD_WS_CLOSE_TRY_AGAIN_LATER 1013
#define HERALD_WS_CLOSE_SLOW_CONSUMER	4008
#define HERALD_WS_CLOSE_UNAUTHORIZED	4401
#define HERALD_WS_CLOSE_FORBIDDEN	4403
#define HERALD_WS_CLOSE_TOKEN_EXPIRED	4408
#define HERALD_WS_CLOSE_RATE_LIMITED	4429

typedef enum {
	HERALD_WS_PARSE_NEED_MORE, /* no complete frame in the input yet */
	HERALD_WS_PARSE_FRAGMENT,  /* a data fragment was consumed; nothing to hand out */
	HERALD_WS_PARSE_MESSAGE,   /* a complete data message */
	HERALD_WS_PARSE_CONTROL,   /* a control frame (close, ping, pong) */
	HERALD_WS_PARSE_ERROR,	   /* the peer broke the protocol: close with close_code */
} HeraldWsParseResult;

/**
 * HeraldWsParser:
 *
 * Incremental parser for client→server frames. Frames must be masked; no
 * extension is negotiated so RSV bits must be clear. Fragments are reassembled
 * into @message (allocated only while a fragmented message is in flight) and the
 * total is bounded by @max_message (→ 1009) as is every single frame.
 */
typedef struct {
	GByteArray *message;   /* (nullable) (owned) fragments so far */
	guint8 message_opcode; /* 0 when no fragmented message is in flight */
	gboolean require_mask;
	gsize max_message;
} HeraldWsParser;

typedef struct {
	guint8 opcode;
	const guint8 *payload; /* valid until the next call on the same input */
	gsize len;
	guint16 close_code; /* for PARSE_ERROR, and for received CLOSE frames (1005 if none) */
	const gchar *error; /* static reason for PARSE_ERROR */
} HeraldWsFrame;

void
herald_ws_parser_init(HeraldWsParser *parser, gsize max_message, gboolean require_mask);
void
herald_ws_parser_clear(HeraldWsParser *parser);
gssize
herald_ws_parser_frame_size(const guint8 *data, gsize len);
HeraldWsParseResult
herald_ws_parser_feed(HeraldWsParser *parser,
		      guint8 *data,
		      gsize len,
		      gsize *consumed,
		      HeraldWsFrame *frame);

/* server→client frames (never masked) */
gsize
herald_ws_frame_header_size(gsize payload_len);
gsize
herald_ws_frame_write_header(guint8 *buf, guint8 opcode, gsize payload_len);
GBytes *
herald_ws_frame_new(guint8 opcode, const guint8 *payload, gsize len);
GBytes *
herald_ws_frame_new_text_take(GString *text, gsize *header_len);
GBytes *
herald_ws_frame_new_close(guint16 code, const gchar *reason);
gboolean
herald_ws_close_code_is_valid(guint code);

/* client→server frames for tests (masked with @mask_key) */
GBytes *
herald_ws_frame_new_masked(guint8 opcode,
			   gboolean fin,
			   const guint8 *payload,
			   gsize len,
			   guint32 mask_key);

G_END_DECLS
