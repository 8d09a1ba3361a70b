/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RFC 6455 frame parser of ws-rooms. The same bytes are parsed twice: as
 * one buffer, and in pieces of pseudo-random sizes kept in a growing buffer
 * the way a connection reads them. Both runs must yield the same messages,
 * control frames and first error; every message must survive being framed
 * again (masked, in fragments) and parsed by a fresh parser.
 *
 * Input: byte 0 = options (bit 0: require the mask, bits 1-2: max message
 * size), byte 1 = seed of the piece sizes, then the wire bytes.
 */
#include "config.h"

#include "fuzz-common.h"
#include "herald-ws-rooms-frame.h"

static const gsize max_messages[] = {0, 125, 4096, 1 << 20};

typedef struct {
	GString *log; /* one line per result, to compare the two runs */
	GPtrArray *messages; /* (element-type GBytes) with the opcode in front */
} Run;

static void
run_record(Run *run, HeraldWsParseResult res, const HeraldWsFrame *frame)
{
	g_string_append_printf(run->log, "%d %u %u %" G_GSIZE_FORMAT "\n",
			       res, frame->opcode, frame->close_code, frame->len);
	if (res == HERALD_WS_PARSE_MESSAGE || res == HERALD_WS_PARSE_CONTROL) {
		GByteArray *copy = g_byte_array_sized_new((guint)frame->len + 1);
		g_byte_array_append(copy, &frame->opcode, 1);
		g_byte_array_append(copy, frame->payload, (guint)frame->len);
		g_ptr_array_add(run->messages, g_byte_array_free_to_bytes(copy));
	}
	if (res == HERALD_WS_PARSE_ERROR) {
		g_assert_nonnull(frame->error);
		g_assert_true(herald_ws_close_code_is_valid(frame->close_code));
	}
}

/* feeds @buf (which grows by appending) until nothing more can be parsed;
 * returns FALSE after an error, as a connection stops there */
static gboolean
run_drain(Run *run, HeraldWsParser *parser, GByteArray *buf, gsize max_message)
{
	for (;;) {
		HeraldWsFrame frame;
		gsize consumed = 0;
		gssize size = herald_ws_parser_frame_size(buf->data, buf->len);
		HeraldWsParseResult res =
		    herald_ws_parser_feed(parser, buf->data, buf->len, &consumed, &frame);

		run_record(run, res, &frame);
		if (res == HERALD_WS_PARSE_ERROR)
			return FALSE;
		if (res == HERALD_WS_PARSE_NEED_MORE) {
			g_assert_cmpuint(consumed, ==, 0);
			return TRUE;
		}
		/* what the connection sizes its read buffer with is the frame */
		g_assert_cmpint(size, ==, (gssize)consumed);
		g_assert_cmpuint(consumed, <=, buf->len);
		if (res == HERALD_WS_PARSE_MESSAGE)
			g_assert_cmpuint(frame.len, <=, max_message);
		if (res == HERALD_WS_PARSE_CONTROL)
			g_assert_cmpuint(frame.len, <=, 125);
		g_byte_array_remove_range(buf, 0, (guint)consumed);
	}
}

static void
run_clear(Run *run)
{
	g_string_free(run->log, TRUE);
	g_ptr_array_unref(run->messages);
}

static void
run_init(Run *run)
{
	run->log = g_string_new(NULL);
	run->messages = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
}

/* a message framed again by the test-side writer, in fragments of @step */
static void
check_reframe(GBytes *message, gsize max_message, gsize step)
{
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(message, &len);
	guint8 opcode = data[0];
	const guint8 *payload = data + 1;
	gsize plen = len - 1;
	g_autoptr(GByteArray) wire = g_byte_array_new();
	HeraldWsParser parser;
	HeraldWsFrame frame;
	HeraldWsParseResult res;
	gsize consumed = 0;
	gsize off = 0;

	if (opcode >= HERALD_WS_OPCODE_CLOSE || step == 0 || plen <= step) {
		g_autoptr(GBytes) f = herald_ws_frame_new_masked(opcode, TRUE, payload, plen, 0x1234abcd);
		g_byte_array_append(wire, g_bytes_get_data(f, NULL), (guint)g_bytes_get_size(f));
	} else {
		for (gsize i = 0; i < plen; i += step) {
			gsize n = MIN(step, plen - i);
			g_autoptr(GBytes) f = herald_ws_frame_new_masked(
			    i == 0 ? opcode : HERALD_WS_OPCODE_CONTINUATION,
			    i + n == plen, payload + i, n, (guint32)(0x9e3779b9u * (i + 1)));
			g_byte_array_append(wire, g_bytes_get_data(f, NULL), (guint)g_bytes_get_size(f));
		}
	}
	herald_ws_parser_init(&parser, max_message, TRUE);
	do {
		res = herald_ws_parser_feed(&parser, wire->data + off, wire->len - off, &consumed, &frame);
		off += consumed;
	} while (res == HERALD_WS_PARSE_FRAGMENT);
	g_assert_cmpint(res, ==, opcode >= HERALD_WS_OPCODE_CLOSE ? HERALD_WS_PARSE_CONTROL : HERALD_WS_PARSE_MESSAGE);
	g_assert_cmpuint(off, ==, wire->len);
	g_assert_cmpuint(frame.opcode, ==, opcode);
	g_assert_cmpmem(frame.payload, frame.len, payload, plen);
	herald_ws_parser_clear(&parser);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init_logging();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzInput in = {data, size};
	guint options = fuzz_take_byte(&in);
	guint32 rng = fuzz_take_byte(&in) * 2654435761u + 1;
	gboolean require_mask = options & 1;
	gsize max_message = max_messages[(options >> 1) & 3];
	HeraldWsParser whole_parser;
	HeraldWsParser piece_parser;
	g_autoptr(GByteArray) whole_buf = g_byte_array_new();
	g_autoptr(GByteArray) piece_buf = g_byte_array_new();
	Run whole;
	Run pieces;
	gboolean alive = TRUE;

	run_init(&whole);
	run_init(&pieces);

	herald_ws_parser_init(&whole_parser, max_message, require_mask);
	g_byte_array_append(whole_buf, in.data, (guint)in.size);
	run_drain(&whole, &whole_parser, whole_buf, max_message);

	herald_ws_parser_init(&piece_parser, max_message, require_mask);
	for (gsize off = 0; off < in.size && alive;) {
		gsize n;
		rng = rng * 1103515245u + 12345u;
		n = MIN(in.size - off, 1 + (rng >> 16) % 64);
		g_byte_array_append(piece_buf, in.data + off, (guint)n);
		off += n;
		alive = run_drain(&pieces, &piece_parser, piece_buf, max_message);
	}

	/* a piecewise run logs extra NEED_MOREs: compare what is not one */
	{
		g_auto(GStrv) a = g_strsplit(whole.log->str, "\n", -1);
		g_auto(GStrv) b = g_strsplit(pieces.log->str, "\n", -1);
		guint j = 0;
		g_autofree gchar *need_more = g_strdup_printf("%d ", HERALD_WS_PARSE_NEED_MORE);
		for (guint i = 0; a[i] != NULL; i++) {
			if (a[i][0] == '\0' || g_str_has_prefix(a[i], need_more))
				continue;
			while (b[j] != NULL && (b[j][0] == '\0' || g_str_has_prefix(b[j], need_more)))
				j++;
			g_assert_nonnull(b[j]);
			g_assert_cmpstr(a[i], ==, b[j]);
			j++;
		}
		while (b[j] != NULL && (b[j][0] == '\0' || g_str_has_prefix(b[j], need_more)))
			j++;
		g_assert_null(b[j]);
	}
	g_assert_cmpuint(whole.messages->len, ==, pieces.messages->len);
	for (guint i = 0; i < whole.messages->len; i++) {
		g_assert_true(g_bytes_equal(g_ptr_array_index(whole.messages, i),
					    g_ptr_array_index(pieces.messages, i)));
		check_reframe(g_ptr_array_index(whole.messages, i), max_message, (rng >> 8) % 7);
	}

	herald_ws_parser_clear(&whole_parser);
	herald_ws_parser_clear(&piece_parser);
	run_clear(&whole);
	run_clear(&pieces);
	return 0;
}
