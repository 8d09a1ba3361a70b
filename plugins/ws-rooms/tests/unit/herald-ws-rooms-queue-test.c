/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "herald-ws-rooms-queue.h"

static gsize
drain(gint fd, GByteArray *out)
{
	gsize total = 0;
	for (;;) {
		guint8 buf[65536];
		gssize n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			break;
		g_byte_array_append(out, buf, (guint)n);
		total += (gsize)n;
	}
	return total;
}

static void
herald_ws_rooms_queue_batch_func(void)
{
	HeraldWsRoomsQueue queue = {0};
	g_autoptr(GBytes) a = g_bytes_new_static("aaa", 3);
	g_autoptr(GBytes) b = g_bytes_new_static("bb", 2);
	g_autoptr(GByteArray) out = g_byte_array_new();
	gint fds[2];
	gsize written = 0;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), ==, 0);
	g_assert_true(herald_ws_rooms_queue_is_empty(&queue));
	/* a shared frame queued for this connection several times */
	for (guint i = 0; i < 100; i++)
		herald_ws_rooms_queue_push(&queue, i % 2 == 0 ? a : b);
	g_assert_cmpuint(queue.bytes, ==, 250);
	g_assert_cmpint(herald_ws_rooms_queue_flush(&queue, fds[0], &written),
			==,
			HERALD_WS_ROOMS_FLUSH_DONE);
	g_assert_cmpuint(written, ==, 250);
	g_assert_cmpuint(queue.bytes, ==, 0);
	/* idle queues hold no memory */
	g_assert_null(queue.items);
	g_assert_cmpuint(drain(fds[1], out), ==, 250);
	g_assert_cmpmem(out->data, 5, "aaabb", 5);
	close(fds[0]);
	close(fds[1]);
}

static void
herald_ws_rooms_queue_full_func(void)
{
	HeraldWsRoomsQueue queue = {0};
	g_autofree guint8 *big = g_malloc(100000);
	g_autoptr(GBytes) frame = NULL;
	g_autoptr(GByteArray) out = g_byte_array_new();
	gint fds[2];
	gint sndbuf = 4096;
	gsize written = 0;
	gsize received = 0;
	gsize total = 0;
	HeraldWsRoomsFlush rc;

	for (guint i = 0; i < 100000; i++)
		big[i] = (guint8)(i % 251);
	frame = g_bytes_new_static(big, 100000);
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), ==, 0);
	setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	for (guint i = 0; i < 20; i++)
		herald_ws_rooms_queue_push(&queue, frame);
	/* the peer does not read: the socket fills and the rest stays queued */
	rc = herald_ws_rooms_queue_flush(&queue, fds[0], &written);
	g_assert_cmpint(rc, ==, HERALD_WS_ROOMS_FLUSH_AGAIN);
	g_assert_cmpuint(written, <, 2000000);
	g_assert_cmpuint(queue.bytes, ==, 2000000 - written);
	total = written;
	/* reading and flushing in turns delivers every byte in order */
	while (rc == HERALD_WS_ROOMS_FLUSH_AGAIN) {
		received += drain(fds[1], out);
		rc = herald_ws_rooms_queue_flush(&queue, fds[0], &written);
		g_assert_cmpint(rc, !=, HERALD_WS_ROOMS_FLUSH_ERROR);
		total += written;
	}
	received += drain(fds[1], out);
	g_assert_cmpuint(total, ==, 2000000);
	g_assert_cmpuint(received, ==, 2000000);
	for (guint i = 0; i < 20; i++)
		g_assert_cmpmem(out->data + i * 100000, 100000, big, 100000);
	close(fds[0]);
	close(fds[1]);
}

static void
herald_ws_rooms_queue_drop_func(void)
{
	HeraldWsRoomsQueue queue = {0};
	g_autofree guint8 *big = g_malloc0(200000);
	g_autoptr(GBytes) frame = g_bytes_new_static(big, 200000);
	g_autoptr(GBytes) small = g_bytes_new_static("x", 1);
	gint fds[2];
	gint sndbuf = 4096;
	gsize written = 0;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), ==, 0);
	setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	herald_ws_rooms_queue_push(&queue, frame);
	herald_ws_rooms_queue_push(&queue, small);
	herald_ws_rooms_queue_push(&queue, small);
	g_assert_cmpint(herald_ws_rooms_queue_flush(&queue, fds[0], &written),
			==,
			HERALD_WS_ROOMS_FLUSH_AGAIN);
	g_assert_cmpuint(written, >, 0);
	g_assert_cmpuint(written, <, 200000);
	/* the partly written frame must be finished; the others go */
	herald_ws_rooms_queue_drop_unstarted(&queue);
	g_assert_cmpuint(queue.len, ==, 1);
	g_assert_cmpuint(queue.bytes, ==, 200000 - written);
	herald_ws_rooms_queue_clear(&queue);
	g_assert_cmpuint(queue.len, ==, 0);
	g_assert_null(queue.items);

	/* a reset peer is an error */
	herald_ws_rooms_queue_push(&queue, small);
	close(fds[1]);
	g_assert_cmpint(herald_ws_rooms_queue_flush(&queue, fds[0], &written),
			==,
			HERALD_WS_ROOMS_FLUSH_ERROR);
	g_assert_cmpint(errno, ==, EPIPE);
	herald_ws_rooms_queue_clear(&queue);
	close(fds[0]);
}

/* on a SOCK_SEQPACKET socketpair every sendmsg() is one record, so the records
 * show how the queue batched its frames: up to 64 per system call */
static void
herald_ws_rooms_queue_one_write_func(void)
{
	HeraldWsRoomsQueue queue = {0};
	g_autoptr(GBytes) a = g_bytes_new_static("aaa", 3);
	g_autoptr(GBytes) b = g_bytes_new_static("bb", 2);
	guint8 buf[4096];
	gint fds[2];
	gsize written = 0;
	gssize n;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds), ==, 0);
	for (guint i = 0; i < 10; i++)
		herald_ws_rooms_queue_push(&queue, i % 2 == 0 ? a : b);
	g_assert_cmpint(herald_ws_rooms_queue_flush(&queue, fds[0], &written),
			==,
			HERALD_WS_ROOMS_FLUSH_DONE);
	g_assert_cmpuint(written, ==, 25);
	/* ten frames, one record */
	n = recv(fds[1], buf, sizeof(buf), MSG_DONTWAIT);
	g_assert_cmpint(n, ==, 25);
	g_assert_cmpmem(buf, 10, "aaabbaaabb", 10);
	g_assert_cmpint(recv(fds[1], buf, sizeof(buf), MSG_DONTWAIT), ==, -1);

	/* 100 frames: 64 in the first call, 36 in the second */
	for (guint i = 0; i < 100; i++)
		herald_ws_rooms_queue_push(&queue, i % 2 == 0 ? a : b);
	g_assert_cmpint(herald_ws_rooms_queue_flush(&queue, fds[0], &written),
			==,
			HERALD_WS_ROOMS_FLUSH_DONE);
	g_assert_cmpuint(written, ==, 250);
	g_assert_cmpint(recv(fds[1], buf, sizeof(buf), MSG_DONTWAIT), ==, 32 * 3 + 32 * 2);
	g_assert_cmpint(recv(fds[1], buf, sizeof(buf), MSG_DONTWAIT), ==, 18 * 3 + 18 * 2);
	g_assert_cmpint(recv(fds[1], buf, sizeof(buf), MSG_DONTWAIT), ==, -1);
	g_assert_null(queue.items);
	close(fds[0]);
	close(fds[1]);
}

/* the ring keeps its order when it grows while partly consumed */
static void
herald_ws_rooms_queue_ring_func(void)
{
	HeraldWsRoomsQueue queue = {0};
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(GString) want = g_string_new(NULL);
	g_autofree guint8 *big = g_malloc0(300000);
	g_autoptr(GBytes) head = g_bytes_new_static(big, 300000);
	gint fds[2];
	gint sndbuf = 4096;
	gsize written = 0;
	HeraldWsRoomsFlush rc;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), ==, 0);
	setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	herald_ws_rooms_queue_push(&queue, head);
	for (guint i = 0; i < 3; i++) {
		g_autoptr(GBytes) item = g_bytes_new(&"0123456789"[i], 1);
		herald_ws_rooms_queue_push(&queue, item);
	}
	/* the big head is only partly written */
	g_assert_cmpint(herald_ws_rooms_queue_flush(&queue, fds[0], &written),
			==,
			HERALD_WS_ROOMS_FLUSH_AGAIN);
	g_assert_cmpuint(queue.offset, >, 0);
	for (guint i = 3; i < 10; i++) {
		g_autoptr(GBytes) item = g_bytes_new(&"0123456789"[i], 1);
		herald_ws_rooms_queue_push(&queue, item);
	}
	g_assert_cmpuint(queue.bytes, ==, 300000 + 10 - written);
	do {
		guint8 buf[65536];
		gssize n;
		rc = herald_ws_rooms_queue_flush(&queue, fds[0], &written);
		g_assert_cmpint(rc, !=, HERALD_WS_ROOMS_FLUSH_ERROR);
		while ((n = recv(fds[1], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			g_byte_array_append(out, buf, (guint)n);
	} while (rc == HERALD_WS_ROOMS_FLUSH_AGAIN);
	g_assert_cmpuint(out->len, ==, 300010);
	g_assert_cmpmem(out->data + 300000, 10, "0123456789", 10);
	g_assert_cmpuint(queue.bytes, ==, 0);
	close(fds[0]);
	close(fds[1]);
}

/* one frame queued, the usual case, holds no allocation; a second one
 * arriving while the first is partly written moves both to a ring, in order */
static void
herald_ws_rooms_queue_single_func(void)
{
	HeraldWsRoomsQueue queue = {0};
	g_autofree guint8 *big = g_malloc(300000);
	g_autoptr(GBytes) first = NULL;
	g_autoptr(GBytes) second = g_bytes_new_static("second", 6);
	g_autoptr(GByteArray) out = g_byte_array_new();
	gint sndbuf = 4096;
	gint fds[2];
	gsize written = 0;
	gsize total = 0;
	HeraldWsRoomsFlush rc;

	for (gsize i = 0; i < 300000; i++)
		big[i] = (guint8)(i * 7);
	first = g_bytes_new(big, 300000);
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), ==, 0);

	herald_ws_rooms_queue_push(&queue, second);
	g_assert_null(queue.items);
	g_assert_true(queue.one == second);
	g_assert_true(herald_ws_rooms_queue_peek_nth(&queue, 0) == second);
	g_assert_cmpint(herald_ws_rooms_queue_flush(&queue, fds[0], &written),
			==,
			HERALD_WS_ROOMS_FLUSH_DONE);
	g_assert_cmpuint(written, ==, 6);
	g_assert_null(queue.one);
	g_assert_cmpuint(drain(fds[1], out), ==, 6);
	g_byte_array_set_size(out, 0);

	setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	herald_ws_rooms_queue_push(&queue, first);
	g_assert_null(queue.items);
	rc = herald_ws_rooms_queue_flush(&queue, fds[0], &written);
	g_assert_cmpint(rc, ==, HERALD_WS_ROOMS_FLUSH_AGAIN);
	g_assert_cmpuint(written, >, 0);
	g_assert_cmpuint(queue.offset, ==, written);
	total = written;
	herald_ws_rooms_queue_push(&queue, second);
	g_assert_nonnull(queue.items);
	g_assert_null(queue.one);
	g_assert_cmpuint(queue.len, ==, 2);
	g_assert_cmpuint(queue.bytes, ==, 300000 - written + 6);
	g_assert_true(herald_ws_rooms_queue_peek_nth(&queue, 0) == first);
	g_assert_true(herald_ws_rooms_queue_peek_nth(&queue, 1) == second);
	while (rc != HERALD_WS_ROOMS_FLUSH_DONE) {
		drain(fds[1], out);
		rc = herald_ws_rooms_queue_flush(&queue, fds[0], &written);
		g_assert_cmpint(rc, !=, HERALD_WS_ROOMS_FLUSH_ERROR);
		total += written;
	}
	drain(fds[1], out);
	g_assert_cmpuint(total, ==, 300006);
	/* the stream is the big frame, then the small one */
	g_assert_cmpuint(out->len, ==, 300006);
	g_assert_cmpmem(out->data, 300000, big, 300000);
	g_assert_cmpmem(out->data + 300000, 6, "second", 6);
	g_assert_null(queue.items);
	g_assert_null(queue.one);
	close(fds[0]);
	close(fds[1]);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/herald/ws-rooms/queue/batch", herald_ws_rooms_queue_batch_func);
	g_test_add_func("/herald/ws-rooms/queue/single", herald_ws_rooms_queue_single_func);
	g_test_add_func("/herald/ws-rooms/queue/one-write", herald_ws_rooms_queue_one_write_func);
	g_test_add_func("/herald/ws-rooms/queue/ring", herald_ws_rooms_queue_ring_func);
	g_test_add_func("/herald/ws-rooms/queue/full", herald_ws_rooms_queue_full_func);
	g_test_add_func("/herald/ws-rooms/queue/drop", herald_ws_rooms_queue_drop_func);
	return g_test_run();
}
