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

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/herald/ws-rooms/queue/batch", herald_ws_rooms_queue_batch_func);
	g_test_add_func("/herald/ws-rooms/queue/full", herald_ws_rooms_queue_full_func);
	g_test_add_func("/herald/ws-rooms/queue/drop", herald_ws_rooms_queue_drop_func);
	return g_test_run();
}
