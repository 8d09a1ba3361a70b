/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "herald-ws-rooms-queue.h"

/* frames per sendmsg(); the kernel caps iovecs at IOV_MAX (1024) */
#define HERALD_WS_ROOMS_QUEUE_IOV 64

/* the @n-th unwritten item, 0 being the one being written */
GBytes *
herald_ws_rooms_queue_peek_nth(HeraldWsRoomsQueue *queue, guint n)
{
	g_assert(n < queue->len);
	if (queue->cap == 0)
		return queue->one;
	return queue->items[(queue->head + n) % queue->cap];
}

void
herald_ws_rooms_queue_push(HeraldWsRoomsQueue *queue, GBytes *bytes)
{
	queue->bytes += g_bytes_get_size(bytes);
	if (queue->len == 0 && queue->cap == 0) {
		queue->one = g_bytes_ref(bytes);
		queue->len = 1;
		return;
	}
	if (queue->len == queue->cap || queue->cap == 0) {
		guint cap = queue->cap == 0 ? 4 : queue->cap * 2;
		GBytes **items = g_new(GBytes *, cap);
		for (guint i = 0; i < queue->len; i++)
			items[i] = herald_ws_rooms_queue_peek_nth(queue, i);
		g_free(queue->items);
		queue->items = items;
		queue->one = NULL;
		queue->cap = cap;
		queue->head = 0;
	}
	queue->items[(queue->head + queue->len) % queue->cap] = g_bytes_ref(bytes);
	queue->len++;
}

static void
herald_ws_rooms_queue_pop(HeraldWsRoomsQueue *queue)
{
	queue->offset = 0;
	if (queue->cap == 0) {
		g_clear_pointer(&queue->one, g_bytes_unref);
		queue->len = 0;
		return;
	}
	g_bytes_unref(queue->items[queue->head]);
	queue->head = (queue->head + 1) % queue->cap;
	queue->len--;
	/* idle connections keep nothing allocated */
	if (queue->len == 0) {
		g_clear_pointer(&queue->items, g_free);
		queue->cap = 0;
		queue->head = 0;
	}
}

void
herald_ws_rooms_queue_clear(HeraldWsRoomsQueue *queue)
{
	while (queue->len > 0)
		herald_ws_rooms_queue_pop(queue);
	queue->bytes = 0;
	queue->offset = 0;
}

/* drop everything but a partly written frame, which must be completed to keep
 * the stream framed (used before a close frame) */
void
herald_ws_rooms_queue_drop_unstarted(HeraldWsRoomsQueue *queue)
{
	GBytes *started = NULL;
	gsize offset = queue->offset;
	if (queue->len > 0 && queue->offset > 0)
		started = g_bytes_ref(herald_ws_rooms_queue_peek_nth(queue, 0));
	herald_ws_rooms_queue_clear(queue);
	if (started != NULL) {
		herald_ws_rooms_queue_push(queue, started);
		queue->offset = offset;
		queue->bytes -= offset;
		g_bytes_unref(started);
	}
}

gboolean
herald_ws_rooms_queue_is_empty(HeraldWsRoomsQueue *queue)
{
	return queue->len == 0;
}

/**
 * herald_ws_rooms_queue_flush:
 * @written: (out): bytes written
 *
 * Writes queued frames, several per system call, until the queue is empty or
 * the socket is full.
 */
HeraldWsRoomsFlush
herald_ws_rooms_queue_flush(HeraldWsRoomsQueue *queue, gint fd, gsize *written)
{
	*written = 0;
	while (queue->len > 0) {
		struct iovec iov[HERALD_WS_ROOMS_QUEUE_IOV];
		struct msghdr msg = {0};
		guint n = MIN(queue->len, HERALD_WS_ROOMS_QUEUE_IOV);
		gssize rc;
		gsize left;
		gsize total = 0;

		for (guint i = 0; i < n; i++) {
			GBytes *bytes = herald_ws_rooms_queue_peek_nth(queue, i);
			gsize size = 0;
			const guint8 *data = g_bytes_get_data(bytes, &size);
			gsize skip = i == 0 ? queue->offset : 0;
			iov[i].iov_base = (gpointer)(data + skip);
			iov[i].iov_len = size - skip;
			total += iov[i].iov_len;
		}
		msg.msg_iov = iov;
		msg.msg_iovlen = n;
		do {
			rc = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		} while (rc < 0 && errno == EINTR);
		if (rc < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return HERALD_WS_ROOMS_FLUSH_AGAIN;
			return HERALD_WS_ROOMS_FLUSH_ERROR;
		}
		*written += (gsize)rc;
		queue->bytes -= (gsize)rc;
		left = (gsize)rc;
		for (guint i = 0; i < n && left > 0; i++) {
			if (left >= iov[i].iov_len) {
				left -= iov[i].iov_len;
				herald_ws_rooms_queue_pop(queue);
			} else {
				queue->offset += left;
				left = 0;
			}
		}
		/* a short write means the socket buffer is full */
		if ((gsize)rc < total)
			return HERALD_WS_ROOMS_FLUSH_AGAIN;
	}
	return HERALD_WS_ROOMS_FLUSH_DONE;
}
