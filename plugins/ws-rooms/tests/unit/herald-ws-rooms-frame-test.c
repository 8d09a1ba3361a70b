/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "herald-ws-rooms-frame.h"

/* a growing input buffer, as the connection keeps it */
typedef struct {
	GByteArray *in;
	HeraldWsParser parser;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
	fx->in = g_byte_array_new();
	herald_ws_parser_init(&fx->parser, 1024, TRUE);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
	g_byte_array_unref(fx->in);
	herald_ws_parser_clear(&fx->parser);
}

static void
fixture_add(Fixture *fx, GBytes *bytes)
{
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(bytes, &len);
	g_byte_array_append(fx->in, data, (guint)len);
}

static void
fixture_add_frame(Fixture *fx, guint8 opcode, gboolean fin, const gchar *payload, gsize len)
{
	g_autoptr(GBytes) frame =
	    herald_ws_frame_new_masked(opcode, fin, (const guint8 *)payload, len, 0x12345678);
	fixture_add(fx, frame);
}

/* feed once; consumed bytes are removed from the input */
static HeraldWsParseResult
fixture_feed(Fixture *fx, HeraldWsFrame *frame, GByteArray *out)
{
	gsize consumed = 0;
	HeraldWsParseResult res =
	    herald_ws_parser_feed(&fx->parser, fx->in->data, fx->in->len, &consumed, frame);
	g_byte_array_set_size(out, 0);
	if (frame->payload != NULL)
		g_byte_array_append(out, frame->payload, (guint)frame->len);
	g_byte_array_remove_range(fx->in, 0, (guint)consumed);
	return res;
}

static void
herald_ws_rooms_frame_single_func(Fixture *fx, gconstpointer data)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	HeraldWsFrame frame;

	fixture_add_frame(fx, HERALD_WS_OPCODE_TEXT, TRUE, "{\"type\":\"ping\"}", 15);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_MESSAGE);
	g_assert_cmpint(frame.opcode, ==, HERALD_WS_OPCODE_TEXT);
	g_assert_cmpmem(out->data, out->len, "{\"type\":\"ping\"}", 15);
	g_assert_cmpuint(fx->in->len, ==, 0);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_NEED_MORE);
}

static void
herald_ws_rooms_frame_bytewise_func(Fixture *fx, gconstpointer data)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autofree gchar *payload = g_strnfill(300, 'x');
	g_autoptr(GBytes) bytes = herald_ws_frame_new_masked(HERALD_WS_OPCODE_TEXT,
							     TRUE,
							     (guint8 *)payload,
							     300,
							     0xdeadbeef);
	gsize len = 0;
	const guint8 *raw = g_bytes_get_data(bytes, &len);
	HeraldWsFrame frame;

	/* 16-bit length header, arriving one byte at a time */
	for (gsize i = 0; i + 1 < len; i++) {
		g_byte_array_append(fx->in, raw + i, 1);
		g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_NEED_MORE);
		g_assert_cmpuint(fx->in->len, ==, i + 1);
	}
	g_assert_cmpint(herald_ws_parser_frame_size(fx->in->data, fx->in->len), ==, (gssize)len);
	g_byte_array_append(fx->in, raw + len - 1, 1);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_MESSAGE);
	g_assert_cmpmem(out->data, out->len, payload, 300);
}

static void
herald_ws_rooms_frame_fragments_func(Fixture *fx, gconstpointer data)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	HeraldWsFrame frame;

	fixture_add_frame(fx, HERALD_WS_OPCODE_TEXT, FALSE, "hel", 3);
	fixture_add_frame(fx, HERALD_WS_OPCODE_PING, TRUE, "p", 1);
	fixture_add_frame(fx, HERALD_WS_OPCODE_CONTINUATION, FALSE, "lo ", 3);
	fixture_add_frame(fx, HERALD_WS_OPCODE_CONTINUATION, TRUE, "world", 5);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_FRAGMENT);
	/* a control frame between fragments is handed out at once */
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_CONTROL);
	g_assert_cmpint(frame.opcode, ==, HERALD_WS_OPCODE_PING);
	g_assert_cmpmem(out->data, out->len, "p", 1);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_FRAGMENT);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_MESSAGE);
	g_assert_cmpint(frame.opcode, ==, HERALD_WS_OPCODE_TEXT);
	g_assert_cmpmem(out->data, out->len, "hello world", 11);
	/* the parser is ready for the next message */
	fixture_add_frame(fx, HERALD_WS_OPCODE_BINARY, TRUE, "\x01\x02", 2);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_MESSAGE);
	g_assert_cmpint(frame.opcode, ==, HERALD_WS_OPCODE_BINARY);
	g_assert_null(fx->parser.message);
}

static void
herald_ws_rooms_frame_oversize_func(Fixture *fx, gconstpointer data)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	guint8 header[] = {0x81, 0xff, 0, 0, 0, 0, 0x40, 0, 0, 0}; /* 1 GiB, masked */
	HeraldWsFrame frame;

	/* refused from the header alone, before any payload is buffered */
	g_byte_array_append(fx->in, header, sizeof(header));
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_ERROR);
	g_assert_cmpuint(frame.close_code, ==, HERALD_WS_CLOSE_TOO_BIG);
}

static void
herald_ws_rooms_frame_oversize_fragments_func(Fixture *fx, gconstpointer data)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autofree gchar *chunk = g_strnfill(400, 'a');
	HeraldWsFrame frame;

	/* each fragment is under the 1024 limit, the message is not */
	fixture_add_frame(fx, HERALD_WS_OPCODE_TEXT, FALSE, chunk, 400);
	fixture_add_frame(fx, HERALD_WS_OPCODE_CONTINUATION, FALSE, chunk, 400);
	fixture_add_frame(fx, HERALD_WS_OPCODE_CONTINUATION, TRUE, chunk, 400);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_FRAGMENT);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_FRAGMENT);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_ERROR);
	g_assert_cmpuint(frame.close_code, ==, HERALD_WS_CLOSE_TOO_BIG);
}

static void
herald_ws_rooms_frame_errors_func(void)
{
	struct {
		const guint8 data[16];
		gsize len;
		guint16 code;
	} cases[] = {
	    /* unmasked client frame */
	    {{0x81, 0x02, 'h', 'i'}, 4, HERALD_WS_CLOSE_PROTOCOL_ERROR},
	    /* RSV1 without permessage-deflate */
	    {{0xc1, 0x80, 0, 0, 0, 0}, 6, HERALD_WS_CLOSE_PROTOCOL_ERROR},
	    /* reserved opcode 3 */
	    {{0x83, 0x80, 0, 0, 0, 0}, 6, HERALD_WS_CLOSE_PROTOCOL_ERROR},
	    /* fragmented ping */
	    {{0x09, 0x80, 0, 0, 0, 0}, 6, HERALD_WS_CLOSE_PROTOCOL_ERROR},
	    /* control frame of 126 bytes */
	    {{0x89, 0xfe, 0, 126}, 4, HERALD_WS_CLOSE_PROTOCOL_ERROR},
	    /* continuation without a message */
	    {{0x80, 0x80, 0, 0, 0, 0}, 6, HERALD_WS_CLOSE_PROTOCOL_ERROR},
	    /* 64-bit length with the top bit set */
	    {{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1}, 10, HERALD_WS_CLOSE_PROTOCOL_ERROR},
	    /* text that is not UTF-8 (mask 0) */
	    {{0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28}, 8, HERALD_WS_CLOSE_BAD_DATA},
	    /* close with a one-byte payload */
	    {{0x88, 0x81, 0, 0, 0, 0, 0x03}, 7, HERALD_WS_CLOSE_PROTOCOL_ERROR},
	    /* close with code 1005, which must not be sent */
	    {{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xed}, 8, HERALD_WS_CLOSE_PROTOCOL_ERROR},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		HeraldWsParser parser;
		HeraldWsFrame frame;
		gsize consumed = 0;
		guint8 buf[16];
		memcpy(buf, cases[i].data, sizeof(buf));
		herald_ws_parser_init(&parser, 1024, TRUE);
		g_assert_cmpint(
		    herald_ws_parser_feed(&parser, buf, cases[i].len, &consumed, &frame),
		    ==,
		    HERALD_WS_PARSE_ERROR);
		g_assert_cmpuint(frame.close_code, ==, cases[i].code);
		g_assert_nonnull(frame.error);
		herald_ws_parser_clear(&parser);
	}
}

static void
herald_ws_rooms_frame_new_message_inside_fragments_func(Fixture *fx, gconstpointer data)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	HeraldWsFrame frame;
	fixture_add_frame(fx, HERALD_WS_OPCODE_TEXT, FALSE, "a", 1);
	fixture_add_frame(fx, HERALD_WS_OPCODE_TEXT, TRUE, "b", 1);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_FRAGMENT);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_ERROR);
	g_assert_cmpuint(frame.close_code, ==, HERALD_WS_CLOSE_PROTOCOL_ERROR);
}

static void
herald_ws_rooms_frame_close_func(Fixture *fx, gconstpointer data)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	HeraldWsFrame frame;

	fixture_add_frame(fx,
			  HERALD_WS_OPCODE_CLOSE,
			  TRUE,
			  "\x0f\xa0"
			  "bye",
			  5); /* 4000 */
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_CONTROL);
	g_assert_cmpint(frame.opcode, ==, HERALD_WS_OPCODE_CLOSE);
	g_assert_cmpuint(frame.close_code, ==, 4000);
	fixture_add_frame(fx, HERALD_WS_OPCODE_CLOSE, TRUE, "", 0);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_CONTROL);
	g_assert_cmpuint(frame.close_code, ==, HERALD_WS_CLOSE_NO_STATUS);
}

/* UTF-8 is checked on the whole message: a character may straddle fragments,
 * but a message that is not UTF-8 once reassembled is refused with 1007 */
static void
herald_ws_rooms_frame_utf8_fragments_func(Fixture *fx, gconstpointer data)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	HeraldWsFrame frame;

	/* "ñ" is c3 b1 */
	fixture_add_frame(fx, HERALD_WS_OPCODE_TEXT, FALSE, "a\xc3", 2);
	fixture_add_frame(fx, HERALD_WS_OPCODE_CONTINUATION, TRUE, "\xb1z", 2);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_FRAGMENT);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_MESSAGE);
	g_assert_cmpmem(out->data, out->len, "a\xc3\xb1z", 4);

	fixture_add_frame(fx, HERALD_WS_OPCODE_TEXT, FALSE, "b\xc3", 2);
	fixture_add_frame(fx, HERALD_WS_OPCODE_CONTINUATION, TRUE, "(", 1);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_FRAGMENT);
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_ERROR);
	g_assert_cmpuint(frame.close_code, ==, HERALD_WS_CLOSE_BAD_DATA);
	g_assert_nonnull(frame.error);
}

/* several frames in one read, payload lengths in every encoding, the mask
 * applied to payloads whose length is not a multiple of 4 */
static void
herald_ws_rooms_frame_lengths_func(Fixture *fx, gconstpointer data)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	gsize sizes[] = {0, 1, 3, 125, 126, 127, 1000, 1023};
	guint8 long_form[] = {0x81, 0xff, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 'o', 'k'};
	HeraldWsFrame frame;

	for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
		g_autofree gchar *payload = g_malloc(sizes[i] + 1);
		for (gsize j = 0; j < sizes[i]; j++)
			payload[j] = (gchar)('a' + (i + j) % 26);
		fixture_add_frame(fx, HERALD_WS_OPCODE_TEXT, TRUE, payload, sizes[i]);
	}
	for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
		g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_MESSAGE);
		g_assert_cmpuint(out->len, ==, sizes[i]);
		for (gsize j = 0; j < sizes[i]; j++)
			g_assert_cmpint(out->data[j], ==, 'a' + (i + j) % 26);
	}
	g_assert_cmpuint(fx->in->len, ==, 0);

	/* a 64-bit length for a short payload is accepted */
	g_byte_array_append(fx->in, long_form, sizeof(long_form));
	g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_MESSAGE);
	g_assert_cmpmem(out->data, out->len, "ok", 2);

	/* exactly the limit passes, one byte more does not */
	{
		g_autofree gchar *max = g_strnfill(1025, 'm');
		fixture_add_frame(fx, HERALD_WS_OPCODE_TEXT, TRUE, max, 1024);
		g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_MESSAGE);
		g_assert_cmpuint(out->len, ==, 1024);
		fixture_add_frame(fx, HERALD_WS_OPCODE_BINARY, TRUE, max, 1025);
		g_assert_cmpint(fixture_feed(fx, &frame, out), ==, HERALD_WS_PARSE_ERROR);
		g_assert_cmpuint(frame.close_code, ==, HERALD_WS_CLOSE_TOO_BIG);
	}
}

static void
herald_ws_rooms_frame_close_codes_func(void)
{
	guint valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4000, 4999};
	guint invalid[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535};

	for (guint i = 0; i < G_N_ELEMENTS(valid); i++)
		g_assert_true(herald_ws_close_code_is_valid(valid[i]));
	for (guint i = 0; i < G_N_ELEMENTS(invalid); i++) {
		HeraldWsParser parser;
		HeraldWsFrame frame;
		gsize consumed = 0;
		guint8 payload[2] = {invalid[i] >> 8, invalid[i] & 0xff};
		g_autoptr(GBytes) bytes = herald_ws_frame_new_masked(HERALD_WS_OPCODE_CLOSE,
								     TRUE,
								     payload,
								     2,
								     0x0badf00d);
		g_autofree guint8 *buf =
		    g_memdup2(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));

		g_assert_false(herald_ws_close_code_is_valid(invalid[i]));
		herald_ws_parser_init(&parser, 1024, TRUE);
		g_assert_cmpint(herald_ws_parser_feed(&parser,
						      buf,
						      g_bytes_get_size(bytes),
						      &consumed,
						      &frame),
				==,
				HERALD_WS_PARSE_ERROR);
		g_assert_cmpuint(frame.close_code, ==, HERALD_WS_CLOSE_PROTOCOL_ERROR);
		herald_ws_parser_clear(&parser);
	}
	{
		/* a close reason must be UTF-8 */
		HeraldWsParser parser;
		HeraldWsFrame frame;
		gsize consumed = 0;
		const guint8 reason[] = {0x03, 0xe8, 0xff, 0xfe}; /* 1000, not UTF-8 */
		g_autoptr(GBytes) bytes =
		    herald_ws_frame_new_masked(HERALD_WS_OPCODE_CLOSE, TRUE, reason, 4, 0x01020304);
		g_autofree guint8 *buf =
		    g_memdup2(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
		herald_ws_parser_init(&parser, 1024, TRUE);
		g_assert_cmpint(herald_ws_parser_feed(&parser,
						      buf,
						      g_bytes_get_size(bytes),
						      &consumed,
						      &frame),
				==,
				HERALD_WS_PARSE_ERROR);
		g_assert_cmpuint(frame.close_code, ==, HERALD_WS_CLOSE_BAD_DATA);
		herald_ws_parser_clear(&parser);
	}
}

static void
herald_ws_rooms_frame_build_func(void)
{
	gsize sizes[] = {0, 125, 126, 65535, 65536};
	gsize header_len = 0;
	g_autoptr(GBytes) close = NULL;
	g_autoptr(GBytes) text = NULL;
	g_autofree gchar *long_reason = g_strnfill(200, 'r');
	const guint8 *raw;
	gsize len = 0;

	for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
		g_autofree guint8 *payload = g_malloc0(sizes[i] + 1);
		g_autoptr(GBytes) frame =
		    herald_ws_frame_new(HERALD_WS_OPCODE_TEXT, payload, sizes[i]);
		gsize header = sizes[i] < 126 ? 2 : sizes[i] <= 65535 ? 4 : 10;
		raw = g_bytes_get_data(frame, &len);
		g_assert_cmpuint(len, ==, header + sizes[i]);
		g_assert_cmpuint(raw[0], ==, 0x81);
		g_assert_cmpuint(raw[1] & 0x80, ==, 0); /* servers never mask */
		g_assert_cmpint(herald_ws_parser_frame_size(raw, len), ==, (gssize)len);
	}

	/* close reasons are cut to fit the 125-byte control payload */
	close = herald_ws_frame_new_close(4008, long_reason);
	raw = g_bytes_get_data(close, &len);
	g_assert_cmpuint(len, ==, 2 + 125);
	g_assert_cmpuint(raw[0], ==, 0x88);
	g_assert_cmpuint(raw[2], ==, 4008 >> 8);
	g_assert_cmpuint(raw[3], ==, 4008 & 0xff);

	text = herald_ws_frame_new_text_take(g_string_new("hello"), &header_len);
	raw = g_bytes_get_data(text, &len);
	g_assert_cmpuint(header_len, ==, 2);
	g_assert_cmpmem(raw + header_len, len - header_len, "hello", 5);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add("/herald/ws-rooms/frame/single",
		   Fixture,
		   NULL,
		   fixture_setup,
		   herald_ws_rooms_frame_single_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/frame/bytewise",
		   Fixture,
		   NULL,
		   fixture_setup,
		   herald_ws_rooms_frame_bytewise_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/frame/fragments",
		   Fixture,
		   NULL,
		   fixture_setup,
		   herald_ws_rooms_frame_fragments_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/frame/oversize",
		   Fixture,
		   NULL,
		   fixture_setup,
		   herald_ws_rooms_frame_oversize_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/frame/oversize-fragments",
		   Fixture,
		   NULL,
		   fixture_setup,
		   herald_ws_rooms_frame_oversize_fragments_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/frame/new-message-inside-fragments",
		   Fixture,
		   NULL,
		   fixture_setup,
		   herald_ws_rooms_frame_new_message_inside_fragments_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/frame/close",
		   Fixture,
		   NULL,
		   fixture_setup,
		   herald_ws_rooms_frame_close_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/frame/utf8-fragments",
		   Fixture,
		   NULL,
		   fixture_setup,
		   herald_ws_rooms_frame_utf8_fragments_func,
		   fixture_teardown);
	g_test_add("/herald/ws-rooms/frame/lengths",
		   Fixture,
		   NULL,
		   fixture_setup,
		   herald_ws_rooms_frame_lengths_func,
		   fixture_teardown);
	g_test_add_func("/herald/ws-rooms/frame/errors", herald_ws_rooms_frame_errors_func);
	g_test_add_func("/herald/ws-rooms/frame/close-codes",
			herald_ws_rooms_frame_close_codes_func);
	g_test_add_func("/herald/ws-rooms/frame/build", herald_ws_rooms_frame_build_func);
	return g_test_run();
}
