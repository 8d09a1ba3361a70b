/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib-unix.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "herald-ws-rooms-hub.h"
#include "herald-ws-rooms-packet.h"
#include "herald-ws-rooms-writers.h"

#define HERALD_WS_ROOMS_SCRATCH_SIZE	(64 * 1024)
#define HERALD_WS_ROOMS_EPOLL_BATCH	256
#define HERALD_WS_ROOMS_READS_PER_EVENT 4
/* a closing peer that keeps reading may take up to 1 + this many
 * close-timeout-ms to reach the close frame */
#define HERALD_WS_ROOMS_CLOSE_EXTENSIONS 4
/* the flush source waits while other sources are ready, so a burst of events
 * leaves with several frames per sendmsg(); never longer than this */
#define HERALD_WS_ROOMS_FLUSH_PRIORITY	   (G_PRIORITY_DEFAULT + 10)
#define HERALD_WS_ROOMS_FLUSH_MAX_DELAY_US 2000
/* a write pass is shared with the writer threads only when the loop was
 * idle since the last pass large enough to be shared for at least as long as
 * that pass took, and at least this long: a lone event to many connections.
 * Passes that follow each other (a burst, a main thread busy most of the
 * time) stay on the main thread: there a writer thread preempted by another
 * process would hold up the whole pass, and the other cores are better left
 * to whatever else runs on the machine */
#define HERALD_WS_ROOMS_SPREAD_AFTER_IDLE_US 1000

typedef struct {
	gchar *name;
	GHashTable *members; /* (element-type HeraldWsRoomsClient) set */
} HeraldWsRoomsRoom;

typedef struct {
	guint count;
	gchar *role_room;  /* (nullable) for the seed's per-role counters */
	GHashTable *rooms; /* (nullable) subscribed room → the user's connections in it */
} HeraldWsRoomsUser;

typedef struct {
	GSource source;
	HeraldWsRoomsHub *hub;
} HeraldWsRoomsSource;

/* one connection's flush in a write pass, written by whichever thread did it */
typedef struct {
	gsize written;
	HeraldWsRoomsFlush rc;
} HeraldWsRoomsPassResult;

struct _HeraldWsRoomsHub {
	HeraldBus *bus;		     /* (owned) */
	HeraldAuth *auth;	     /* (owned) (nullable) */
	HeraldWsRoomsPolicy *policy; /* (owned) */
	HeraldWsRoomsLimits limits;
	gint epfd;
	guint epoll_id;
	GSource *source; /* flush + reap */
	guint sweep_id;
	guint sweep_ms;
	HeraldWsRoomsTimers *timers; /* (owned) Engine.IO session deadlines */
	GQueue clients;	   /* (element-type HeraldWsRoomsClient) via client->link */
	GHashTable *sids;  /* id → HeraldWsRoomsClient (Socket.IO) */
	GHashTable *ended_sids; /* id → ended at (monotonic µs), see lookup_ended */
	GQueue ended_order;	/* (element-type utf8) ids in the order they ended */
	GHashTable *rooms; /* name → HeraldWsRoomsRoom */
	GHashTable *users; /* user id → HeraldWsRoomsUser */
	GPtrArray *dirty;  /* (element-type HeraldWsRoomsConn) to flush */
	HeraldWsRoomsWriters *writers; /* (owned) (nullable) threads of the write pass */
	guint writers_wanted;	       /* writer-threads as configured */
	HeraldWsRoomsConn **pass;      /* the write pass: connections… */
	HeraldWsRoomsPassResult *results; /* …and what their flush returned */
	guint pass_cap;
	gint64 last_pass_end; /* monotonic µs, of the last pass of 2 chunks or more */
	gint64 last_pass_us;  /* how long that pass took */
	gint64 dirty_since; /* monotonic time of the first dirty connection */
	gboolean flush_urgent; /* the flush source runs at default priority */
	GPtrArray *dead_conns;
	GPtrArray *dead_clients;
	GPtrArray *orphans; /* (element-type HeraldWsRoomsConn) closing, owner gone */
	guint64 delivery_serial;
	guint8 *scratch;
	gboolean shutting_down;
	guint n_registered[HERALD_WS_ROOMS_PROTO_LAST];
	/* stats */
	guint64 messages_in;
	guint64 messages_out;
	guint64 bytes_out;
	guint64 close_timeouts; /* closing handshakes cut at their deadline */
	guint64 deliveries;
	guint64 delivered;
	guint64 subscribes;
	guint64 subscribes_refused;
	guint64 users_left; /* user_left announcements */
	guint64 refreshes;	    /* accepted `refresh` */
	guint64 refreshes_refused;  /* any refusal: missing, invalid, expired, another user */
	guint64 refresh_rooms_left; /* rooms a refresh made a connection leave */
	guint64 drops_reserved;
	guint64 closes[HERALD_WS_ROOMS_REASON_LAST];
	guint64 accepted[HERALD_WS_ROOMS_PROTO_LAST];
	GHashTable *rejects; /* reason → guint64* */
	HeraldWsRoomsBudget *budget; /* pending sessions, per-address counts */
};

static const gchar *reason_names[HERALD_WS_ROOMS_REASON_LAST] = {
    [HERALD_WS_ROOMS_REASON_CLIENT] = "client",
    [HERALD_WS_ROOMS_REASON_SHUTDOWN] = "shutdown",
    [HERALD_WS_ROOMS_REASON_SLOW_CONSUMER] = "slow_consumer",
    [HERALD_WS_ROOMS_REASON_TOO_BIG] = "too_big",
    [HERALD_WS_ROOMS_REASON_RATE_LIMITED] = "rate_limited",
    [HERALD_WS_ROOMS_REASON_TOKEN_EXPIRED] = "token_expired",
    [HERALD_WS_ROOMS_REASON_UNAUTHORIZED] = "unauthorized",
    [HERALD_WS_ROOMS_REASON_PROTOCOL] = "protocol_error",
    [HERALD_WS_ROOMS_REASON_TIMEOUT] = "timeout",
    [HERALD_WS_ROOMS_REASON_IO_ERROR] = "io_error",
    [HERALD_WS_ROOMS_REASON_SERVER_FULL] = "server_full",
};

const gchar *
herald_ws_rooms_reason_to_string(HeraldWsRoomsReason reason)
{
	if (reason >= HERALD_WS_ROOMS_REASON_LAST)
		return "unknown";
	return reason_names[reason];
}

void
herald_ws_rooms_limits_clear(HeraldWsRoomsLimits *limits)
{
	g_clear_pointer(&limits->broadcast_room, g_free);
	g_clear_pointer(&limits->allowed_origins, g_strfreev);
}

/**
 * herald_ws_rooms_send_buffer_parse:
 * @value: `auto`, 0 (the kernel's own buffer, autotuned) or a number of bytes
 *   from %HERALD_WS_ROOMS_SEND_BUFFER_MIN to %HERALD_WS_ROOMS_SEND_BUFFER_MAX
 * @outgoing_buffer_bytes: the queue bound `auto` is derived from
 * @bytes: (out): the SO_SNDBUF to set, 0 for none
 *
 * `auto` is outgoing-buffer-bytes / 4, at least 16 KiB and at most 256 KiB
 * (256 KiB with the default 1 MiB). Linux doubles the value for its own
 * bookkeeping, so a socket then holds at most about 512 KiB that the client
 * has not read yet: a client reading 200 KB/s reaches the close frame 4008
 * behind it in about 3 s, within the deadline a closing connection that
 * keeps reading gets (see herald_ws_rooms_conn_tick()). Without a bound,
 * loopback and fast links autotune the buffer to several MiB, which a slow
 * reader does not drain before the close deadline: it got a reset instead.
 */
gboolean
herald_ws_rooms_send_buffer_parse(const gchar *value,
				  guint64 outgoing_buffer_bytes,
				  guint64 *bytes,
				  GError **error)
{
	guint64 n = 0;

	if (value == NULL || value[0] == '\0' || g_strcmp0(value, "auto") == 0) {
		*bytes = CLAMP(outgoing_buffer_bytes / 4, 16 * 1024, 256 * 1024);
		return TRUE;
	}
	if (!g_ascii_string_to_unsigned(value, 10, 0, HERALD_WS_ROOMS_SEND_BUFFER_MAX, &n, NULL) ||
	    (n != 0 && n < HERALD_WS_ROOMS_SEND_BUFFER_MIN)) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: %s is the configured value, %u the smallest and
			     * largest number of bytes */
			    _("“%s” is not “auto”, 0 or a number of bytes from %u to %u"),
			    value,
			    (guint)HERALD_WS_ROOMS_SEND_BUFFER_MIN,
			    (guint)HERALD_WS_ROOMS_SEND_BUFFER_MAX);
		return FALSE;
	}
	*bytes = n;
	return TRUE;
}

/* unguessable ids: an Engine.IO sid is the only credential of a polling request */
static void
herald_ws_rooms_random_id(gchar *buf, gsize size)
{
	static const gchar alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	guint8 raw[32];
	gsize n = MIN(size - 1, sizeof(raw));
	gssize got = getrandom(raw, n, 0);

	for (gsize i = got > 0 ? (gsize)got : 0; i < n; i++)
		raw[i] = (guint8)g_random_int();
	for (gsize i = 0; i < n; i++)
		buf[i] = alphabet[raw[i] & 63];
	buf[n] = '\0';
}

/* the flush source runs in the next iteration whatever else is ready */
static void
herald_ws_rooms_hub_urge_flush(HeraldWsRoomsHub *self)
{
	if (self->flush_urgent || self->source == NULL)
		return;
	self->flush_urgent = TRUE;
	g_source_set_priority(self->source, G_PRIORITY_DEFAULT);
}

/* queued frames waited long enough: flush even if other sources stay ready */
static void
herald_ws_rooms_hub_check_overdue(HeraldWsRoomsHub *self)
{
	if (self->flush_urgent || self->dirty->len == 0)
		return;
	if (g_get_monotonic_time() - self->dirty_since >= HERALD_WS_ROOMS_FLUSH_MAX_DELAY_US)
		herald_ws_rooms_hub_urge_flush(self);
}

static void
herald_ws_rooms_hub_mark_dirty(HeraldWsRoomsHub *self, HeraldWsRoomsConn *conn)
{
	if (conn->dirty)
		return;
	conn->dirty = 1;
	if (self->dirty->len == 0)
		self->dirty_since = g_get_monotonic_time();
	else if ((self->dirty->len & 63) == 0)
		herald_ws_rooms_hub_check_overdue(self);
	g_ptr_array_add(self->dirty, conn);
}

void
herald_ws_rooms_hub_wake(HeraldWsRoomsHub *self)
{
	g_main_context_wakeup(g_source_get_context(self->source));
}

void
herald_ws_rooms_hub_count_reject(HeraldWsRoomsHub *self, const gchar *reason)
{
	guint64 *count = g_hash_table_lookup(self->rejects, reason);
	if (count == NULL) {
		count = g_new0(guint64, 1);
		g_hash_table_insert(self->rejects, g_strdup(reason), count);
	}
	(*count)++;
}

void
herald_ws_rooms_hub_count_close(HeraldWsRoomsHub *self, HeraldWsRoomsReason why)
{
	if (why < HERALD_WS_ROOMS_REASON_LAST)
		self->closes[why]++;
}

void
herald_ws_rooms_hub_count_message_in(HeraldWsRoomsHub *self)
{
	self->messages_in++;
}

void
herald_ws_rooms_hub_count_out(HeraldWsRoomsHub *self, gsize frames)
{
	self->messages_out += frames;
}

/* ------------------------------------------------------------------ conn */

void
herald_ws_rooms_conn_set_handlers(HeraldWsRoomsConn *conn,
				  HeraldWsRoomsConnMessageFunc message_func,
				  HeraldWsRoomsConnClosedFunc closed_func,
				  gpointer user_data)
{
	conn->message_func = message_func;
	conn->closed_func = closed_func;
	conn->user_data = user_data;
}

gboolean
herald_ws_rooms_conn_is_open(HeraldWsRoomsConn *conn)
{
	return conn != NULL && conn->state == HERALD_WS_ROOMS_CONN_OPEN;
}

static void
herald_ws_rooms_conn_notify_closed(HeraldWsRoomsConn *conn)
{
	if (conn->notified)
		return;
	conn->notified = 1;
	if (conn->closed_func != NULL)
		conn->closed_func(conn, conn->user_data);
}

static void
herald_ws_rooms_conn_epoll(HeraldWsRoomsConn *conn, gboolean want_out)
{
	struct epoll_event ev = {0};
	if (conn->state == HERALD_WS_ROOMS_CONN_DEAD || conn->want_out == (guint8)want_out)
		return;
	ev.events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0);
	ev.data.ptr = conn;
	if (epoll_ctl(conn->hub->epfd, EPOLL_CTL_MOD, conn->fd, &ev) == 0)
		conn->want_out = want_out;
}

void
herald_ws_rooms_conn_abort(HeraldWsRoomsConn *conn, HeraldWsRoomsReason why)
{
	HeraldWsRoomsHub *hub = conn->hub;
	if (conn->state == HERALD_WS_ROOMS_CONN_DEAD)
		return;
	if (conn->state == HERALD_WS_ROOMS_CONN_OPEN)
		herald_ws_rooms_hub_count_close(hub, why);
	epoll_ctl(hub->epfd, EPOLL_CTL_DEL, conn->fd, NULL);
	close(conn->fd);
	conn->fd = -1;
	conn->state = HERALD_WS_ROOMS_CONN_DEAD;
	herald_ws_rooms_queue_clear(&conn->queue);
	herald_ws_parser_clear(&conn->parser);
	g_clear_pointer(&conn->rbuf, g_free);
	conn->rlen = conn->rcap = 0;
	g_ptr_array_add(hub->dead_conns, conn);
	/* closed connections are reaped without waiting for a quiet loop */
	herald_ws_rooms_hub_urge_flush(hub);
	herald_ws_rooms_conn_notify_closed(conn);
}

/* the owner is gone; a closing handshake still in flight finishes on its own */
void
herald_ws_rooms_conn_orphan(HeraldWsRoomsConn *conn)
{
	herald_ws_rooms_conn_set_handlers(conn, NULL, NULL, NULL);
	if (conn->state == HERALD_WS_ROOMS_CONN_OPEN)
		herald_ws_rooms_conn_close(conn,
					   HERALD_WS_CLOSE_NORMAL,
					   NULL,
					   HERALD_WS_ROOMS_REASON_CLIENT);
	if (conn->state != HERALD_WS_ROOMS_CONN_DEAD)
		g_ptr_array_add(conn->hub->orphans, conn);
}

/* bytes the kernel holds for the peer (not acknowledged yet) */
static gint64
herald_ws_rooms_conn_unsent(HeraldWsRoomsConn *conn)
{
	gint outq = 0;
	if (conn->fd < 0 || ioctl(conn->fd, SIOCOUTQ, &outq) != 0)
		return 0;
	return outq;
}

/**
 * herald_ws_rooms_conn_close:
 *
 * Starts the closing handshake: the close frame goes out after what is queued
 * (a slow consumer's queue is dropped instead), and the socket is closed when the peer answers or
 * after `close_timeout_ms`.
 */
void
herald_ws_rooms_conn_close(HeraldWsRoomsConn *conn,
			   guint16 code,
			   const gchar *reason,
			   HeraldWsRoomsReason why)
{
	herald_ws_rooms_conn_close_full(conn, NULL, code, reason, why);
}

/* like herald_ws_rooms_conn_close() with one last data frame before the close
 * frame (Socket.IO's `41`) */
void
herald_ws_rooms_conn_close_full(HeraldWsRoomsConn *conn,
				GBytes *last_frame,
				guint16 code,
				const gchar *reason,
				HeraldWsRoomsReason why)
{
	HeraldWsRoomsHub *hub = conn->hub;
	g_autoptr(GBytes) frame = NULL;

	if (conn->state != HERALD_WS_ROOMS_CONN_OPEN)
		return;
	herald_ws_rooms_hub_count_close(hub, why);
	g_debug("closing connection fd %d: %u %s", conn->fd, code, reason != NULL ? reason : "");
	conn->state = HERALD_WS_ROOMS_CONN_CLOSING;
	conn->deadline = g_get_monotonic_time() + (gint64)hub->limits.close_timeout_ms * 1000;
	conn->close_written = 0;
	conn->close_taken = -herald_ws_rooms_conn_unsent(conn);
	/* a slow consumer's backlog goes; otherwise replies already queued (an
	 * error explaining the close) still go out before the close frame */
	if (why == HERALD_WS_ROOMS_REASON_SLOW_CONSUMER)
		herald_ws_rooms_queue_drop_unstarted(&conn->queue);
	if (last_frame != NULL)
		herald_ws_rooms_queue_push(&conn->queue, last_frame);
	frame = herald_ws_frame_new_close(code, reason);
	herald_ws_rooms_queue_push(&conn->queue, frame);
	herald_ws_rooms_hub_mark_dirty(hub, conn);
	herald_ws_rooms_conn_notify_closed(conn);
}

gboolean
herald_ws_rooms_conn_send(HeraldWsRoomsConn *conn, GBytes *frame)
{
	HeraldWsRoomsHub *hub = conn->hub;
	gsize size = g_bytes_get_size(frame);

	if (conn->state != HERALD_WS_ROOMS_CONN_OPEN)
		return FALSE;
	/* never grow memory for a client that does not read */
	if (conn->queue.len > 0 && conn->queue.bytes + size > hub->limits.outgoing_buffer_bytes) {
		herald_ws_rooms_conn_close(conn,
					   HERALD_WS_CLOSE_SLOW_CONSUMER,
					   "slow consumer",
					   HERALD_WS_ROOMS_REASON_SLOW_CONSUMER);
		return FALSE;
	}
	herald_ws_rooms_queue_push(&conn->queue, frame);
	herald_ws_rooms_hub_mark_dirty(hub, conn);
	return TRUE;
}

/* a reply of its own (not a frame shared by a fan-out): its allocations
 * count in outgoing-buffer-bytes, and so does each item already queued,
 * so that many small replies to a client that does not read cannot hold
 * much more memory than the bound says (the fan-out's conn_send() keeps its
 * plain byte count: its frames are shared by every recipient) */
gboolean
herald_ws_rooms_conn_send_text(HeraldWsRoomsConn *conn, const gchar *text, gsize len)
{
	g_autoptr(GBytes) frame = NULL;

	if (conn->state == HERALD_WS_ROOMS_CONN_OPEN && conn->queue.len > 0 &&
	    conn->queue.bytes + (gsize)(conn->queue.len + 1) * HERALD_WS_ROOMS_ITEM_COST + len >
		conn->hub->limits.outgoing_buffer_bytes) {
		herald_ws_rooms_conn_close(conn,
					   HERALD_WS_CLOSE_SLOW_CONSUMER,
					   "slow consumer",
					   HERALD_WS_ROOMS_REASON_SLOW_CONSUMER);
		return FALSE;
	}
	frame = herald_ws_frame_new(HERALD_WS_OPCODE_TEXT, (const guint8 *)text, len);
	if (!herald_ws_rooms_conn_send(conn, frame))
		return FALSE;
	herald_ws_rooms_hub_count_out(conn->hub, 1);
	return TRUE;
}

/* main thread, after the queue was flushed (here or by a write pass) */
static void
herald_ws_rooms_conn_flushed(HeraldWsRoomsConn *conn, HeraldWsRoomsFlush rc, gsize written)
{
	conn->hub->bytes_out += written;
	if (conn->state == HERALD_WS_ROOMS_CONN_CLOSING)
		conn->close_written += written;
	if (rc == HERALD_WS_ROOMS_FLUSH_ERROR) {
		herald_ws_rooms_conn_abort(conn, HERALD_WS_ROOMS_REASON_IO_ERROR);
		return;
	}
	if (rc == HERALD_WS_ROOMS_FLUSH_AGAIN) {
		herald_ws_rooms_conn_epoll(conn, TRUE);
		return;
	}
	herald_ws_rooms_conn_epoll(conn, FALSE);
	if (conn->state == HERALD_WS_ROOMS_CONN_CLOSING) {
		/* our close frame is out: done if the peer already closed, else
		 * half-close and wait for its close frame until the deadline */
		if (conn->close_received)
			herald_ws_rooms_conn_abort(conn, HERALD_WS_ROOMS_REASON_CLIENT);
		else
			shutdown(conn->fd, SHUT_WR);
	}
}

static void
herald_ws_rooms_conn_flush(HeraldWsRoomsConn *conn)
{
	HeraldWsRoomsFlush rc;
	gsize written = 0;

	if (conn->state == HERALD_WS_ROOMS_CONN_DEAD)
		return;
	rc = herald_ws_rooms_queue_flush(&conn->queue, conn->fd, &written);
	herald_ws_rooms_conn_flushed(conn, rc, written);
}

static void
herald_ws_rooms_conn_control(HeraldWsRoomsConn *conn, HeraldWsFrame *frame)
{
	switch (frame->opcode) {
	case HERALD_WS_OPCODE_PING:
		if (conn->state == HERALD_WS_ROOMS_CONN_OPEN) {
			g_autoptr(GBytes) pong =
			    herald_ws_frame_new(HERALD_WS_OPCODE_PONG, frame->payload, frame->len);
			herald_ws_rooms_conn_send(conn, pong);
		}
		break;
	case HERALD_WS_OPCODE_PONG:
		break;
	case HERALD_WS_OPCODE_CLOSE:
		conn->close_received = 1;
		if (conn->state == HERALD_WS_ROOMS_CONN_OPEN) {
			guint16 code = frame->close_code;
			/* echo the code, as RFC 6455 §5.5.1 suggests */
			if (code == HERALD_WS_CLOSE_NO_STATUS)
				code = HERALD_WS_CLOSE_NORMAL;
			herald_ws_rooms_conn_close(conn, code, NULL, HERALD_WS_ROOMS_REASON_CLIENT);
		} else if (conn->state == HERALD_WS_ROOMS_CONN_CLOSING &&
			   herald_ws_rooms_queue_is_empty(&conn->queue)) {
			herald_ws_rooms_conn_abort(conn, HERALD_WS_ROOMS_REASON_CLIENT);
		}
		break;
	default:
		break;
	}
}

/* parses complete frames out of @data; returns the bytes used */
static gsize
herald_ws_rooms_conn_process(HeraldWsRoomsConn *conn, guint8 *data, gsize len)
{
	gsize off = 0;
	while (off < len && conn->state != HERALD_WS_ROOMS_CONN_DEAD) {
		HeraldWsFrame frame;
		gsize consumed = 0;
		HeraldWsParseResult res;

		/* after the peer's close frame nothing more is expected; after a
		 * broken frame nothing can be parsed */
		if (conn->close_received || conn->discard_input)
			return len;
		res =
		    herald_ws_parser_feed(&conn->parser, data + off, len - off, &consumed, &frame);
		if (res == HERALD_WS_PARSE_NEED_MORE)
			break;
		if (res == HERALD_WS_PARSE_ERROR) {
			herald_ws_rooms_conn_close(conn,
						   frame.close_code,
						   frame.error,
						   frame.close_code == HERALD_WS_CLOSE_TOO_BIG
						       ? HERALD_WS_ROOMS_REASON_TOO_BIG
						       : HERALD_WS_ROOMS_REASON_PROTOCOL);
			/* nothing after a broken frame can be trusted, but it is
			 * still read (and dropped) until the peer closes or the close
			 * deadline: closing a socket with unread input sends a reset,
			 * which can destroy our close frame before the peer reads it
			 * (a client still writing a huge message) */
			conn->discard_input = 1;
			return len;
		}
		off += consumed;
		if (res == HERALD_WS_PARSE_CONTROL) {
			herald_ws_rooms_conn_control(conn, &frame);
			continue;
		}
		if (res == HERALD_WS_PARSE_MESSAGE && conn->state == HERALD_WS_ROOMS_CONN_OPEN &&
		    conn->message_func != NULL)
			conn->message_func(conn,
					   frame.opcode,
					   frame.payload,
					   frame.len,
					   conn->user_data);
	}
	return off;
}

/* keep the unparsed tail; the buffer is sized for the frame it starts */
static void
herald_ws_rooms_conn_keep_tail(HeraldWsRoomsConn *conn, const guint8 *tail, gsize len)
{
	gssize need;
	gsize cap;

	if (len == 0) {
		g_clear_pointer(&conn->rbuf, g_free);
		conn->rlen = conn->rcap = 0;
		return;
	}
	need = herald_ws_parser_frame_size(tail, len);
	cap = need < 0 ? 14 : (gsize)need;
	cap = MAX(cap, len);
	if (conn->rbuf == NULL) {
		conn->rbuf = g_malloc(cap);
		memcpy(conn->rbuf, tail, len);
	} else {
		if (tail != conn->rbuf)
			memmove(conn->rbuf, tail, len);
		if (cap > conn->rcap)
			conn->rbuf = g_realloc(conn->rbuf, cap);
	}
	conn->rcap = MAX(cap, len);
	conn->rlen = len;
}

static void
herald_ws_rooms_conn_process_buffered(HeraldWsRoomsConn *conn)
{
	gsize used = herald_ws_rooms_conn_process(conn, conn->rbuf, conn->rlen);
	if (conn->state == HERALD_WS_ROOMS_CONN_DEAD)
		return;
	herald_ws_rooms_conn_keep_tail(conn, conn->rbuf + used, conn->rlen - used);
}

static void
herald_ws_rooms_conn_read(HeraldWsRoomsConn *conn)
{
	HeraldWsRoomsHub *hub = conn->hub;
	for (guint iter = 0; iter < HERALD_WS_ROOMS_READS_PER_EVENT; iter++) {
		guint8 *buf;
		gsize avail;
		gssize n;

		if (conn->state == HERALD_WS_ROOMS_CONN_DEAD)
			return;
		if (conn->rbuf != NULL) {
			gssize need = herald_ws_parser_frame_size(conn->rbuf, conn->rlen);
			gsize cap = need < 0 ? conn->rlen + 14 : (gsize)need;
			if (cap <= conn->rlen)
				cap = conn->rlen + 14;
			if (cap > conn->rcap) {
				conn->rbuf = g_realloc(conn->rbuf, cap);
				conn->rcap = cap;
			}
			buf = conn->rbuf + conn->rlen;
			avail = conn->rcap - conn->rlen;
		} else {
			buf = hub->scratch;
			avail = HERALD_WS_ROOMS_SCRATCH_SIZE;
		}
		n = recv(conn->fd, buf, avail, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			herald_ws_rooms_conn_abort(conn, HERALD_WS_ROOMS_REASON_IO_ERROR);
			return;
		}
		if (n == 0) {
			herald_ws_rooms_conn_abort(conn,
						   conn->close_received
						       ? HERALD_WS_ROOMS_REASON_CLIENT
						       : HERALD_WS_ROOMS_REASON_IO_ERROR);
			return;
		}
		conn->last_rx = g_get_monotonic_time();
		conn->ping_sent = 0;
		if (conn->rbuf != NULL) {
			conn->rlen += (gsize)n;
			herald_ws_rooms_conn_process_buffered(conn);
		} else {
			gsize used = herald_ws_rooms_conn_process(conn, buf, (gsize)n);
			if (conn->state != HERALD_WS_ROOMS_CONN_DEAD)
				herald_ws_rooms_conn_keep_tail(conn, buf + used, (gsize)n - used);
		}
		if ((gsize)n < avail)
			return;
	}
}

static gboolean
herald_ws_rooms_hub_epoll_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	HeraldWsRoomsHub *self = user_data;
	struct epoll_event events[HERALD_WS_ROOMS_EPOLL_BATCH];
	gint n;

	herald_ws_rooms_hub_check_overdue(self);
	/* one batch per dispatch keeps the other sources of the loop running */
	do {
		n = epoll_wait(self->epfd, events, HERALD_WS_ROOMS_EPOLL_BATCH, 0);
	} while (n < 0 && errno == EINTR);
	for (gint i = 0; i < n; i++) {
		HeraldWsRoomsConn *conn = events[i].data.ptr;
		guint32 ev = events[i].events;
		if (conn->state == HERALD_WS_ROOMS_CONN_DEAD)
			continue;
		if (ev & EPOLLOUT)
			herald_ws_rooms_conn_flush(conn);
		if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			herald_ws_rooms_conn_read(conn);
	}
	return G_SOURCE_CONTINUE;
}

/**
 * herald_ws_rooms_hub_adopt:
 * @stream: the connection stolen from libsoup right after the 101
 *
 * Takes the socket over: bytes libsoup already read ahead are kept, the fd is
 * duplicated and @stream can be dropped by the caller.
 */
HeraldWsRoomsConn *
herald_ws_rooms_hub_adopt(HeraldWsRoomsHub *self,
			  GIOStream *stream,
			  HeraldWsRoomsProto proto,
			  GError **error)
{
	GSocket *socket = g_object_get_data(G_OBJECT(stream), "GSocket");
	GInputStream *input = g_io_stream_get_input_stream(stream);
	g_autoptr(GByteArray) ahead = g_byte_array_new();
	struct epoll_event ev = {0};
	HeraldWsRoomsConn *conn;
	gint one = 1;
	gint fd;

	if (socket == NULL && G_IS_SOCKET_CONNECTION(stream))
		socket = g_socket_connection_get_socket(G_SOCKET_CONNECTION(stream));
	if (socket == NULL) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_FAILED,
				    "stolen stream has no socket");
		return NULL;
	}
	/* libsoup's stream wrappers may hold bytes read past the request headers */
	while (G_IS_POLLABLE_INPUT_STREAM(input) &&
	       ahead->len <= self->limits.max_message_bytes + 14) {
		guint8 buf[4096];
		g_autoptr(GError) error_local = NULL;
		gssize n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(input),
								    buf,
								    sizeof(buf),
								    NULL,
								    &error_local);
		if (n <= 0)
			break;
		g_byte_array_append(ahead, buf, (guint)n);
	}
	fd = fcntl(g_socket_get_fd(socket), F_DUPFD_CLOEXEC, 3);
	if (fd < 0) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_UNAVAILABLE,
			    "cannot duplicate the socket: %s",
			    g_strerror(errno));
		return NULL;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* what the kernel holds ahead of a close frame is bounded, so a slow
	 * reader gets the close before the close deadline */
	if (self->limits.socket_send_buffer_bytes > 0) {
		gint sndbuf = (gint)self->limits.socket_send_buffer_bytes;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	}
	g_io_stream_close(stream, NULL, NULL);

	conn = g_new0(HeraldWsRoomsConn, 1);
	conn->hub = self;
	conn->fd = fd;
	conn->proto = proto;
	conn->state = HERALD_WS_ROOMS_CONN_OPEN;
	conn->last_rx = g_get_monotonic_time();
	herald_ws_parser_init(&conn->parser, self->limits.max_message_bytes, TRUE);
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.ptr = conn;
	if (epoll_ctl(self->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_UNAVAILABLE,
			    "cannot watch the socket: %s",
			    g_strerror(errno));
		close(fd);
		g_free(conn);
		return NULL;
	}
	if (ahead->len > 0) {
		g_debug("kept %u bytes read ahead by libsoup", ahead->len);
		conn->rlen = conn->rcap = ahead->len;
		conn->rbuf = g_byte_array_free(g_steal_pointer(&ahead), FALSE);
		conn->pending_input = 1;
		herald_ws_rooms_hub_mark_dirty(self, conn);
	}
	self->accepted[proto]++;
	return conn;
}

typedef struct {
	HeraldWsRoomsHub *hub;
	HeraldWsRoomsProto proto;
	HeraldWsRoomsAdoptFunc func;
	gpointer user_data;
	GDestroyNotify destroy;
	gboolean done;
} HeraldWsRoomsUpgrade;

static void
herald_ws_rooms_upgrade_free(gpointer data, GClosure *closure)
{
	HeraldWsRoomsUpgrade *up = data;
	if (up->destroy != NULL)
		up->destroy(up->user_data);
	g_free(up);
}

/* the 101 is on the wire: take the connection away from libsoup (as its own
 * complete_websocket_upgrade() does) */
static void
herald_ws_rooms_upgrade_wrote_cb(SoupServerMessage *msg, gpointer user_data)
{
	HeraldWsRoomsUpgrade *up = user_data;
	g_autoptr(GIOStream) stream = NULL;
	g_autoptr(GError) error = NULL;
	HeraldWsRoomsConn *conn;

	if (up->done || soup_server_message_get_status(msg) != SOUP_STATUS_SWITCHING_PROTOCOLS)
		return;
	up->done = TRUE;
	g_object_ref(msg);
	stream = soup_server_message_steal_connection(msg);
	if (stream == NULL) {
		g_warning("cannot take over the WebSocket connection");
		g_object_unref(msg);
		return;
	}
	conn = herald_ws_rooms_hub_adopt(up->hub, stream, up->proto, &error);
	if (conn == NULL)
		g_warning("cannot take over the WebSocket connection: %s", error->message);
	else
		up->func(up->hub, conn, up->user_data);
	g_object_unref(msg);
}

/**
 * herald_ws_rooms_hub_upgrade:
 * @func: called with the new connection once the 101 has been written
 *
 * Validates the handshake and answers 101 without any extension (so no
 * permessage-deflate and its unbounded inflation).
 */
gboolean
herald_ws_rooms_hub_upgrade(HeraldWsRoomsHub *self,
			    SoupServerMessage *msg,
			    HeraldWsRoomsProto proto,
			    HeraldWsRoomsAdoptFunc func,
			    gpointer user_data,
			    GDestroyNotify destroy,
			    GError **error)
{
	HeraldWsRoomsUpgrade *up;
	g_autoptr(GError) error_local = NULL;
	const gchar *scheme = g_uri_get_scheme(soup_server_message_get_uri(msg));

	/* the takeover works on the raw socket: TLS belongs to a proxy in front */
	if (g_strcmp0(scheme, "http") != 0) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNAVAILABLE,
				    /* TRANSLATORS: HTTP 503 */
				    _("WebSocket is only served on plain HTTP listeners"));
		if (destroy != NULL)
			destroy(user_data);
		return FALSE;
	}
	if (!soup_websocket_server_check_handshake(msg, NULL, NULL, NULL, &error_local)) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_INVALID_ARGUMENT,
			    /* TRANSLATORS: HTTP 400; %s is libsoup's reason */
			    _("invalid WebSocket handshake: %s"),
			    error_local->message);
		if (destroy != NULL)
			destroy(user_data);
		return FALSE;
	}
	if (!soup_websocket_server_process_handshake(msg, NULL, NULL, NULL, NULL)) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400 */
				    _("invalid WebSocket handshake"));
		if (destroy != NULL)
			destroy(user_data);
		return FALSE;
	}
	up = g_new0(HeraldWsRoomsUpgrade, 1);
	up->hub = self;
	up->proto = proto;
	up->func = func;
	up->user_data = user_data;
	up->destroy = destroy;
	g_signal_connect_data(msg,
			      "wrote-informational",
			      G_CALLBACK(herald_ws_rooms_upgrade_wrote_cb),
			      up,
			      herald_ws_rooms_upgrade_free,
			      0);
	return TRUE;
}

/* ---------------------------------------------------------------- rooms */

static void
herald_ws_rooms_room_free(HeraldWsRoomsRoom *room)
{
	g_hash_table_unref(room->members);
	g_free(room->name);
	g_free(room);
}

static gboolean
herald_ws_rooms_client_in_room(HeraldWsRoomsClient *client, const gchar *name)
{
	for (guint i = 0; client->rooms != NULL && i < client->rooms->len; i++) {
		HeraldWsRoomsRoom *room = g_ptr_array_index(client->rooms, i);
		if (g_strcmp0(room->name, name) == 0)
			return TRUE;
	}
	return FALSE;
}

static void
herald_ws_rooms_client_join(HeraldWsRoomsClient *client, const gchar *name)
{
	HeraldWsRoomsHub *hub = client->hub;
	HeraldWsRoomsRoom *room;

	if (name == NULL || herald_ws_rooms_client_in_room(client, name))
		return;
	room = g_hash_table_lookup(hub->rooms, name);
	if (room == NULL) {
		room = g_new0(HeraldWsRoomsRoom, 1);
		room->name = g_strdup(name);
		room->members = g_hash_table_new(NULL, NULL);
		g_hash_table_insert(hub->rooms, room->name, room);
	}
	g_hash_table_add(room->members, client);
	if (client->rooms == NULL)
		client->rooms = g_ptr_array_sized_new(2);
	g_ptr_array_add(client->rooms, room);
}

static void
herald_ws_rooms_client_leave_room(HeraldWsRoomsClient *client, HeraldWsRoomsRoom *room)
{
	HeraldWsRoomsHub *hub = client->hub;
	g_hash_table_remove(room->members, client);
	g_ptr_array_remove_fast(client->rooms, room);
	if (g_hash_table_size(room->members) == 0)
		g_hash_table_remove(hub->rooms, room->name);
}

static HeraldWsRoomsRoom *
herald_ws_rooms_client_find_room(HeraldWsRoomsClient *client, const gchar *name)
{
	for (guint i = 0; client->rooms != NULL && i < client->rooms->len; i++) {
		HeraldWsRoomsRoom *room = g_ptr_array_index(client->rooms, i);
		if (g_strcmp0(room->name, name) == 0)
			return room;
	}
	return NULL;
}

/* --------------------------------------------------------------- clients */

static void
herald_ws_rooms_user_free(HeraldWsRoomsUser *user)
{
	g_clear_pointer(&user->rooms, g_hash_table_unref);
	g_free(user->role_room);
	g_free(user);
}

HeraldWsRoomsClient *
herald_ws_rooms_client_new(HeraldWsRoomsHub *hub, HeraldWsRoomsProto proto)
{
	HeraldWsRoomsClient *client = g_new0(HeraldWsRoomsClient, 1);
	client->hub = hub;
	client->proto = proto;
	client->link.data = client;
	client->budget.pending_link.data = client;
	client->budget.address_link.data = client;
	do {
		herald_ws_rooms_random_id(client->id, 21);
	} while (g_hash_table_contains(hub->sids, client->id));
	client->tokens = (gdouble)hub->limits.rate_burst;
	client->tokens_at = g_get_monotonic_time();
	g_queue_push_tail_link(&hub->clients, &client->link);
	if (proto == HERALD_WS_ROOMS_PROTO_SIO)
		g_hash_table_insert(hub->sids, client->id, client);
	return client;
}

/* the Engine.IO sid authenticates polling requests: it never leaves the
 * session; Socket.IO clients are known by their socket id instead */
const gchar *
herald_ws_rooms_client_get_public_id(HeraldWsRoomsClient *client)
{
	if (client->proto == HERALD_WS_ROOMS_PROTO_SIO)
		return herald_ws_rooms_eio_get_socket_id(client);
	return client->id;
}

/* a polling client may still have a request in flight when its session ends
 * (its GET crosses the `1` it sent, or a close the server initiated): like the
 * reference server it gets "Session ID unknown", but it is no client error, so
 * it is not counted as one. Bounded: 4096 ids, for a minute. */
#define HERALD_WS_ROOMS_ENDED_SIDS_MAX 4096
#define HERALD_WS_ROOMS_ENDED_SIDS_US  (60 * G_USEC_PER_SEC)

static void
herald_ws_rooms_hub_prune_ended(HeraldWsRoomsHub *self, gint64 now)
{
	while (!g_queue_is_empty(&self->ended_order)) {
		const gchar *id = g_queue_peek_head(&self->ended_order);
		gint64 *at = g_hash_table_lookup(self->ended_sids, id);
		if (at != NULL && now - *at < HERALD_WS_ROOMS_ENDED_SIDS_US &&
		    g_queue_get_length(&self->ended_order) <= HERALD_WS_ROOMS_ENDED_SIDS_MAX)
			break;
		g_hash_table_remove(self->ended_sids, id);
		g_free(g_queue_pop_head(&self->ended_order));
	}
}

static void
herald_ws_rooms_hub_remember_ended(HeraldWsRoomsHub *self, const gchar *sid)
{
	gint64 now = g_get_monotonic_time();
	gint64 *at;
	gchar *id;

	if (self->ended_sids == NULL || g_hash_table_contains(self->ended_sids, sid))
		return;
	id = g_strdup(sid);
	at = g_new(gint64, 1);
	*at = now;
	g_hash_table_insert(self->ended_sids, id, at);
	g_queue_push_tail(&self->ended_order, g_strdup(sid));
	herald_ws_rooms_hub_prune_ended(self, now);
}

/* %TRUE when @sid belonged to a session that ended in the last minute */
gboolean
herald_ws_rooms_hub_sid_recently_ended(HeraldWsRoomsHub *self, const gchar *sid)
{
	HeraldWsRoomsClient *client;
	if (sid == NULL)
		return FALSE;
	client = g_hash_table_lookup(self->sids, sid);
	if (client != NULL && client->closed)
		return TRUE;
	herald_ws_rooms_hub_prune_ended(self, g_get_monotonic_time());
	return g_hash_table_contains(self->ended_sids, sid);
}

HeraldWsRoomsClient *
herald_ws_rooms_hub_lookup_sid(HeraldWsRoomsHub *self, const gchar *sid)
{
	HeraldWsRoomsClient *client;
	if (sid == NULL)
		return NULL;
	client = g_hash_table_lookup(self->sids, sid);
	if (client == NULL || client->closed)
		return NULL;
	return client;
}

static gchar *
herald_ws_rooms_presence_json(HeraldWsRoomsClient *client)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) node = NULL;
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "user_id");
	json_builder_add_string_value(builder, herald_identity_get_user_id(client->identity));
	json_builder_set_member_name(builder, "role");
	json_builder_add_string_value(builder, herald_identity_get_role(client->identity));
	json_builder_set_member_name(builder, "connection_id");
	json_builder_add_string_value(builder, herald_ws_rooms_client_get_public_id(client));
	json_builder_set_member_name(builder, "protocol");
	json_builder_add_string_value(builder,
				      client->proto == HERALD_WS_ROOMS_PROTO_SIO ? "socket.io"
										 : "plain");
	json_builder_end_object(builder);
	node = json_builder_get_root(builder);
	return herald_json_to_string(node);
}

static void
herald_ws_rooms_hub_emit_presence(HeraldWsRoomsHub *self,
				  HeraldWsRoomsClient *client,
				  const gchar *topic)
{
	g_autofree gchar *json = herald_ws_rooms_presence_json(client);
	/* built above from a user id and rooms, but through the gate all the same */
	g_autoptr(JsonNode) payload = herald_json_parse(json, -1, NULL);
	g_autoptr(HeraldEvent) event =
	    herald_event_new(topic, topic, payload, herald_bus_get_instance_id(self->bus));
	herald_bus_emit_event(self->bus, topic, event);
}

/* rooms joined by `subscribe` are announced on the bus (room-joined /
 * room-left) once per (user, room) on this instance; the personal room and the
 * connection's role room are not (redis-bridge derives them) */
static gboolean
herald_ws_rooms_client_room_is_announced(HeraldWsRoomsClient *client,
					 const gchar *personal,
					 const gchar *room)
{
	return g_strcmp0(room, client->role_room) != 0 && g_strcmp0(room, personal) != 0;
}

static void
herald_ws_rooms_hub_emit_membership(HeraldWsRoomsHub *self,
				    const gchar *user_id,
				    const gchar *room,
				    const gchar *topic)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) payload = NULL;
	g_autoptr(HeraldEvent) event = NULL;
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "user_id");
	json_builder_add_string_value(builder, user_id);
	json_builder_set_member_name(builder, "room");
	json_builder_add_string_value(builder, room);
	json_builder_end_object(builder);
	payload = json_builder_get_root(builder);
	event = herald_event_new(topic, topic, payload, herald_bus_get_instance_id(self->bus));
	herald_bus_emit_event(self->bus, topic, event);
}

/* @delta: +1 when a connection of the user joined @room by subscribe, -1
 * when it left it */
static void
herald_ws_rooms_client_count_room(HeraldWsRoomsClient *client, const gchar *room, gint delta)
{
	HeraldWsRoomsHub *hub = client->hub;
	const gchar *user_id = herald_identity_get_user_id(client->identity);
	HeraldWsRoomsUser *user = g_hash_table_lookup(hub->users, user_id);
	guint n;

	if (user == NULL)
		return;
	if (user->rooms == NULL)
		user->rooms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	n = GPOINTER_TO_UINT(g_hash_table_lookup(user->rooms, room));
	if (delta > 0) {
		g_hash_table_replace(user->rooms, g_strdup(room), GUINT_TO_POINTER(n + 1));
		if (n == 0)
			herald_ws_rooms_hub_emit_membership(hub,
							    user_id,
							    room,
							    HERALD_BUS_TOPIC_ROOM_JOINED);
	} else if (n > 1) {
		g_hash_table_replace(user->rooms, g_strdup(room), GUINT_TO_POINTER(n - 1));
	} else if (n == 1) {
		g_hash_table_remove(user->rooms, room);
		herald_ws_rooms_hub_emit_membership(hub, user_id, room, HERALD_BUS_TOPIC_ROOM_LEFT);
	}
}

void
herald_ws_rooms_client_set_expiry(HeraldWsRoomsClient *client, HeraldIdentity *identity)
{
	gint64 exp = herald_identity_get_expires(identity);
	gint64 leeway = client->hub->auth != NULL ? herald_auth_get_leeway(client->hub->auth) : 0;
	/* ten years is as good as never and keeps the arithmetic in range */
	const gint64 horizon_s = (gint64)10 * 365 * 24 * 3600;
	gint64 now_us = g_get_real_time();
	gint64 left_us;
	if (exp <= 0) {
		client->expires = 0;
		return;
	}
	/* `exp` is the issuer's number, anything up to G_MAXINT64: compare in
	 * seconds before converting, or (exp + leeway) * 10⁶ overflows */
	if (exp - now_us / G_USEC_PER_SEC > horizon_s - leeway)
		left_us = horizon_s * G_USEC_PER_SEC;
	else
		left_us = (exp + leeway) * G_USEC_PER_SEC - now_us;
	client->expires = MAX(g_get_monotonic_time() + left_us, 1);
}

gboolean
herald_ws_rooms_hub_check_admission(HeraldWsRoomsHub *self, const gchar *user_id, GError **error)
{
	if (self->shutting_down) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_SHUTTING_DOWN,
				    /* TRANSLATORS: HTTP 503 before a WebSocket upgrade */
				    _("the server is shutting down"));
		return FALSE;
	}
	/* pending Socket.IO sessions have their own budget (max-pending) */
	if (self->clients.length - herald_ws_rooms_budget_get_n_pending(self->budget) >=
	    self->limits.max_connections) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_SERVER_FULL,
				    /* TRANSLATORS: HTTP 503 before a WebSocket upgrade */
				    _("too many connections; try again later"));
		return FALSE;
	}
	if (user_id != NULL) {
		HeraldWsRoomsUser *user = g_hash_table_lookup(self->users, user_id);
		if (user != NULL && user->count >= self->limits.max_connections_per_user) {
			g_set_error_literal(error,
					    HERALD_ERROR,
					    HERALD_ERROR_SERVER_FULL,
					    /* TRANSLATORS: HTTP 503 / WebSocket error */
					    _("too many connections for this user"));
			return FALSE;
		}
	}
	return TRUE;
}

HeraldWsRoomsBudget *
herald_ws_rooms_hub_get_budget(HeraldWsRoomsHub *self)
{
	return self->budget;
}

/* max-connections-per-address, for authenticated connections; counted */
gboolean
herald_ws_rooms_hub_check_address(HeraldWsRoomsHub *self, const gchar *address, GError **error)
{
	if (herald_ws_rooms_budget_address_allows(self->budget,
						  address,
						  self->limits.max_connections_per_address))
		return TRUE;
	herald_ws_rooms_budget_count_refused(self->budget);
	g_set_error_literal(error,
			    HERALD_ERROR,
			    HERALD_ERROR_SERVER_FULL,
			    /* TRANSLATORS: HTTP 503 / Socket.IO connect_error */
			    _("too many connections from this address"));
	return FALSE;
}

gboolean
herald_ws_rooms_hub_origin_allowed(HeraldWsRoomsHub *self, const gchar *origin)
{
	gchar **allowed = self->limits.allowed_origins;
	if (allowed == NULL || allowed[0] == NULL || origin == NULL)
		return TRUE;
	for (guint i = 0; allowed[i] != NULL; i++) {
		if (g_strcmp0(allowed[i], "*") == 0 || g_ascii_strcasecmp(allowed[i], origin) == 0)
			return TRUE;
	}
	return FALSE;
}

/**
 * herald_ws_rooms_client_register:
 *
 * The client is authenticated: it counts as a connection of its user and joins
 * its role room and personal room.
 */
gboolean
herald_ws_rooms_client_register(HeraldWsRoomsClient *client,
				HeraldIdentity *identity,
				GError **error)
{
	HeraldWsRoomsHub *hub = client->hub;
	const gchar *user_id = herald_identity_get_user_id(identity);
	g_autofree gchar *personal = herald_ws_rooms_personal_room(user_id);
	HeraldWsRoomsUser *user;

	g_return_val_if_fail(!client->registered, FALSE);
	/* pending sessions were not counted at their handshake: count now (a
	 * plain connection is in hub->clients already, not pending) */
	if (hub->clients.length - herald_ws_rooms_budget_get_n_pending(hub->budget) -
		(client->budget.pending ? 0 : 1) >=
	    hub->limits.max_connections) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_SERVER_FULL,
				    /* TRANSLATORS: WebSocket error */
				    _("too many connections; try again later"));
		return FALSE;
	}
	if (client->budget.address != NULL &&
	    !herald_ws_rooms_hub_check_address(hub,
					       herald_ws_rooms_budget_entry_get_address(&client->budget),
					       error))
		return FALSE;
	user = g_hash_table_lookup(hub->users, user_id);
	if (user != NULL && user->count >= hub->limits.max_connections_per_user) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_SERVER_FULL,
				    /* TRANSLATORS: WebSocket error */
				    _("too many connections for this user"));
		return FALSE;
	}
	client->identity = herald_identity_ref(identity);
	client->role_room = g_strdup(
	    herald_ws_rooms_policy_get_role_room(hub->policy, herald_identity_get_role(identity)));
	herald_ws_rooms_client_set_expiry(client, identity);
	herald_ws_rooms_client_join(client, client->role_room);
	herald_ws_rooms_client_join(client, personal);
	client->registered = TRUE;
	hub->n_registered[client->proto]++;
	herald_ws_rooms_budget_remove_pending(hub->budget, &client->budget);
	herald_ws_rooms_budget_add_connection(hub->budget, &client->budget);
	if (user == NULL) {
		user = g_new0(HeraldWsRoomsUser, 1);
		user->role_room = g_strdup(client->role_room);
		g_hash_table_insert(hub->users, g_strdup(user_id), user);
	}
	user->count++;
	if (user->count == 1)
		herald_ws_rooms_hub_emit_presence(hub, client, HERALD_BUS_TOPIC_CONNECTED);
	return TRUE;
}

void
herald_ws_rooms_client_close(HeraldWsRoomsClient *client)
{
	if (client->closed)
		return;
	client->closed = TRUE;
	herald_ws_rooms_budget_remove_pending(client->hub->budget, &client->budget);
	if (client->conn != NULL && client->conn->state == HERALD_WS_ROOMS_CONN_OPEN)
		herald_ws_rooms_conn_close(client->conn,
					   HERALD_WS_CLOSE_NORMAL,
					   NULL,
					   HERALD_WS_ROOMS_REASON_CLIENT);
	g_ptr_array_add(client->hub->dead_clients, client);
	herald_ws_rooms_hub_urge_flush(client->hub);
}

static void
herald_ws_rooms_client_announce_left(HeraldWsRoomsClient *client, const gchar *name);

static void
herald_ws_rooms_client_reap(HeraldWsRoomsClient *client)
{
	HeraldWsRoomsHub *hub = client->hub;
	g_autofree gchar *personal = NULL;

	if (client->registered) {
		const gchar *user_id = herald_identity_get_user_id(client->identity);
		personal = herald_ws_rooms_personal_room(user_id);
	}
	while (client->rooms != NULL && client->rooms->len > 0) {
		HeraldWsRoomsRoom *room = g_ptr_array_index(client->rooms, 0);
		g_autofree gchar *name = g_strdup(room->name);
		/* room-left before user-disconnected */
		if (personal != NULL &&
		    herald_ws_rooms_client_room_is_announced(client, personal, name))
			herald_ws_rooms_client_count_room(client, name, -1);
		herald_ws_rooms_client_leave_room(client, room);
		/* a disconnect (by the client, expiry, 4008, a server close) is a
		 * leave like an unsubscribe */
		if (client->registered)
			herald_ws_rooms_client_announce_left(client, name);
	}
	g_clear_pointer(&client->rooms, g_ptr_array_unref);
	if (client->registered) {
		const gchar *user_id = herald_identity_get_user_id(client->identity);
		HeraldWsRoomsUser *user = g_hash_table_lookup(hub->users, user_id);
		hub->n_registered[client->proto]--;
		if (user != NULL && --user->count == 0) {
			herald_ws_rooms_hub_emit_presence(hub,
							  client,
							  HERALD_BUS_TOPIC_DISCONNECTED);
			g_hash_table_remove(hub->users, user_id);
		}
	}
	if (client->conn != NULL) {
		herald_ws_rooms_conn_orphan(client->conn);
		client->conn = NULL;
	}
	if (client->eio != NULL)
		g_clear_pointer(&client->eio, herald_ws_rooms_eio_free);
	if (client->proto == HERALD_WS_ROOMS_PROTO_SIO) {
		g_hash_table_remove(hub->sids, client->id);
		herald_ws_rooms_hub_remember_ended(hub, client->id);
	}
	herald_ws_rooms_budget_release(hub->budget, &client->budget);
	g_queue_unlink(&hub->clients, &client->link);
	g_clear_pointer(&client->identity, herald_identity_unref);
	g_free(client->role_room);
	g_free(client);
}

gboolean
herald_ws_rooms_client_rate_ok(HeraldWsRoomsClient *client)
{
	HeraldWsRoomsLimits *limits = &client->hub->limits;
	gint64 now = g_get_monotonic_time();
	if (limits->rate_limit == 0)
		return TRUE;
	client->tokens +=
	    (gdouble)(now - client->tokens_at) * (gdouble)limits->rate_limit / G_USEC_PER_SEC;
	client->tokens = MIN(client->tokens, (gdouble)MAX(limits->rate_burst, 1));
	client->tokens_at = now;
	if (client->tokens < 1.0)
		return FALSE;
	client->tokens -= 1.0;
	return TRUE;
}

static gboolean
herald_ws_rooms_room_is_presence(const gchar *room)
{
	/* the seed announces joins and leaves in solicitud rooms only */
	return g_str_has_prefix(room, "solicitud_");
}

static gchar *
herald_ws_rooms_client_presence_payload(HeraldWsRoomsClient *client, const gchar *room)
{
	GString *out = g_string_new("{\"user_id\":");
	herald_ws_rooms_json_append_string(out, herald_identity_get_user_id(client->identity));
	g_string_append(out, ",\"role\":");
	herald_ws_rooms_json_append_string(out, herald_identity_get_role(client->identity));
	g_string_append(out, ",\"room\":");
	herald_ws_rooms_json_append_string(out, room);
	g_string_append_c(out, '}');
	return g_string_free(out, FALSE);
}

/* another connection of @client's user is in @room (closed ones not reaped yet
 * count too: they announce their own leave when they are reaped), so joins and
 * leaves are announced once per user, not once per connection */
static gboolean
herald_ws_rooms_room_has_other_of_user(HeraldWsRoomsHub *hub,
				       const gchar *name,
				       HeraldWsRoomsClient *client)
{
	HeraldWsRoomsRoom *room = g_hash_table_lookup(hub->rooms, name);
	const gchar *user_id = herald_identity_get_user_id(client->identity);
	g_autofree gchar *personal = NULL;
	GHashTableIter iter;
	gpointer key;

	if (room == NULL)
		return FALSE;
	/* a subscribed room: the (user, room) count of room-joined / room-left,
	 * already updated for @client, answers in O(1) */
	personal = herald_ws_rooms_personal_room(user_id);
	if (client->registered && herald_ws_rooms_client_room_is_announced(client, personal, name)) {
		HeraldWsRoomsUser *user = g_hash_table_lookup(hub->users, user_id);
		return user != NULL && user->rooms != NULL &&
		       g_hash_table_lookup(user->rooms, name) != NULL;
	}
	/* the role room of another role, say: look at the members */
	g_hash_table_iter_init(&iter, room->members);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		HeraldWsRoomsClient *other = key;
		if (other != client && other->identity != NULL &&
		    g_strcmp0(herald_identity_get_user_id(other->identity), user_id) == 0)
			return TRUE;
	}
	return FALSE;
}

/* @client left the announcing room @name (or is about to be gone from it):
 * `user_left` to the other members, unless the user is still in the room
 * through another connection */
static void
herald_ws_rooms_client_announce_left(HeraldWsRoomsClient *client, const gchar *name)
{
	g_autofree gchar *payload = NULL;

	if (!herald_ws_rooms_room_is_presence(name) || client->identity == NULL)
		return;
	if (herald_ws_rooms_room_has_other_of_user(client->hub, name, client))
		return;
	payload = herald_ws_rooms_client_presence_payload(client, name);
	client->hub->users_left++;
	herald_ws_rooms_hub_emit_room(client->hub, name, client, "user_left", payload);
}

gboolean
herald_ws_rooms_client_subscribe(HeraldWsRoomsClient *client, const gchar *room, GError **error)
{
	HeraldWsRoomsHub *hub = client->hub;
	guint n_subscribed;
	gboolean announce;

	if (!herald_ws_rooms_policy_check_subscribe(hub->policy, client->identity, room, error)) {
		hub->subscribes_refused++;
		return FALSE;
	}
	if (herald_ws_rooms_client_in_room(client, room))
		return TRUE;
	/* the role room and the personal room do not count, even after the
	 * client left its role room (subtracting 2 from the total would then
	 * grant one subscription too many) */
	n_subscribed = 0;
	if (client->rooms != NULL) {
		g_autofree gchar *personal =
		    herald_ws_rooms_personal_room(herald_identity_get_user_id(client->identity));
		for (guint i = 0; i < client->rooms->len; i++) {
			HeraldWsRoomsRoom *joined = g_ptr_array_index(client->rooms, i);
			if (g_strcmp0(joined->name, client->role_room) != 0 &&
			    g_strcmp0(joined->name, personal) != 0)
				n_subscribed++;
		}
	}
	if (n_subscribed >= hub->limits.max_subscriptions) {
		hub->subscribes_refused++;
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_TOO_LARGE,
			    /* TRANSLATORS: WebSocket error; %u is the limit */
			    _("too many subscriptions (at most %u per connection)"),
			    (guint)hub->limits.max_subscriptions);
		return FALSE;
	}
	hub->subscribes++;
	announce = herald_ws_rooms_room_is_presence(room) &&
		   !herald_ws_rooms_room_has_other_of_user(hub, room, client);
	herald_ws_rooms_client_join(client, room);
	if (client->registered) {
		g_autofree gchar *personal =
		    herald_ws_rooms_personal_room(herald_identity_get_user_id(client->identity));
		if (herald_ws_rooms_client_room_is_announced(client, personal, room))
			herald_ws_rooms_client_count_room(client, room, +1);
	}
	if (announce) {
		g_autofree gchar *payload = herald_ws_rooms_client_presence_payload(client, room);
		herald_ws_rooms_hub_emit_room(hub, room, client, "user_joined", payload);
	}
	return TRUE;
}

void
herald_ws_rooms_client_unsubscribe(HeraldWsRoomsClient *client, const gchar *name)
{
	g_autofree gchar *personal = NULL;
	HeraldWsRoomsRoom *room = herald_ws_rooms_client_find_room(client, name);

	if (room == NULL)
		return;
	/* the personal room carries messages to the user; it stays */
	personal = herald_ws_rooms_personal_room(herald_identity_get_user_id(client->identity));
	if (g_strcmp0(name, personal) == 0)
		return;
	if (client->registered && herald_ws_rooms_client_room_is_announced(client, personal, name))
		herald_ws_rooms_client_count_room(client, name, -1);
	herald_ws_rooms_client_leave_room(client, room);
	herald_ws_rooms_client_announce_left(client, name);
}

/* a room the connection leaves because its refreshed identity may not be in
 * it: the same bookkeeping as an unsubscribe, under the identity it was in the
 * room with */
static void
herald_ws_rooms_client_drop_room(HeraldWsRoomsClient *client,
				 HeraldWsRoomsRoom *room,
				 const gchar *personal)
{
	g_autofree gchar *name = g_strdup(room->name);

	if (herald_ws_rooms_client_room_is_announced(client, personal, name))
		herald_ws_rooms_client_count_room(client, name, -1);
	herald_ws_rooms_client_leave_room(client, room);
	herald_ws_rooms_client_announce_left(client, name);
}

/**
 * herald_ws_rooms_client_refresh:
 * @client: a registered client
 * @token: the new JWT
 * @left: (out) (transfer full) (optional) (element-type utf8): the rooms the
 *   client left, when the call succeeds
 * @error: a #GError, or %NULL
 *
 * A new token of the same user extends the connection and re-authorizes it,
 * exactly as if it had connected with that token: the role room follows the
 * new role (the old one is left, the new one joined), every subscribed room
 * the new role may not join under `[ws-rooms.subscribe]` is left (with
 * `user_left` and `room-left` as for an unsubscribe), the per-role counters
 * follow, and claim filters see the new claims from the next delivery on.
 * A token that does not verify or belongs to another user changes nothing.
 *
 * Returns: %TRUE if the connection now runs under the new token
 */
gboolean
herald_ws_rooms_client_refresh(HeraldWsRoomsClient *client,
			       const gchar *token,
			       GPtrArray **left,
			       GError **error)
{
	HeraldWsRoomsHub *hub = client->hub;
	g_autoptr(HeraldIdentity) identity = NULL;
	g_autoptr(GPtrArray) dropped = g_ptr_array_new_with_free_func(g_free);
	g_autofree gchar *personal = NULL;
	g_autofree gchar *old_role_room = NULL;
	g_autofree gchar *old_role = NULL;
	const gchar *new_role_room;
	const gchar *user_id; /* the same string in both identities */
	HeraldWsRoomsUser *user;
	gboolean role_room_changed;

	g_return_val_if_fail(client->registered, FALSE);
	if (token == NULL || token[0] == '\0') {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: WebSocket error */
				    _("'token' is missing"));
		hub->refreshes_refused++;
		return FALSE;
	}
	if (hub->auth == NULL) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNAVAILABLE,
				    /* TRANSLATORS: WebSocket error */
				    _("authentication is not configured"));
		hub->refreshes_refused++;
		return FALSE;
	}
	identity = herald_auth_verify(hub->auth, token, error);
	if (identity == NULL) {
		hub->refreshes_refused++;
		return FALSE;
	}
	user_id = herald_identity_get_user_id(client->identity);
	if (g_strcmp0(herald_identity_get_user_id(identity), user_id) != 0) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_PERMISSION_DENIED,
				    /* TRANSLATORS: WebSocket error */
				    _("the new token belongs to another user"));
		hub->refreshes_refused++;
		return FALSE;
	}

	/* the rooms the new identity may not be in, left under the old one
	 * (its user_left names the role it was in the room with); backwards,
	 * since leaving moves the last room into the freed slot */
	personal = herald_ws_rooms_personal_room(user_id);
	old_role_room = g_strdup(client->role_room);
	new_role_room =
	    herald_ws_rooms_policy_get_role_room(hub->policy, herald_identity_get_role(identity));
	role_room_changed = g_strcmp0(old_role_room, new_role_room) != 0;
	for (guint i = client->rooms != NULL ? client->rooms->len : 0; i > 0; i--) {
		HeraldWsRoomsRoom *room = g_ptr_array_index(client->rooms, i - 1);
		if (g_strcmp0(room->name, personal) == 0)
			continue;
		if (g_strcmp0(room->name, old_role_room) == 0) {
			/* the old role's room is swapped for the new one's */
			if (role_room_changed) {
				g_ptr_array_add(dropped, g_strdup(room->name));
				herald_ws_rooms_client_drop_room(client, room, personal);
			}
			continue;
		}
		if (g_strcmp0(room->name, new_role_room) == 0) {
			/* a subscribed room that is now the role room: no longer
			 * announced as a subscription (role rooms never are) */
			herald_ws_rooms_client_count_room(client, room->name, -1);
			continue;
		}
		if (!herald_ws_rooms_policy_check_subscribe(hub->policy,
							    identity,
							    room->name,
							    NULL)) {
			g_ptr_array_add(dropped, g_strdup(room->name));
			herald_ws_rooms_client_drop_room(client, room, personal);
		}
	}

	/* from here on the connection is the new identity's */
	old_role = g_strdup(herald_identity_get_role(client->identity));
	herald_ws_rooms_client_set_expiry(client, identity);
	herald_identity_unref(client->identity);
	client->identity = g_steal_pointer(&identity);
	g_free(client->role_room);
	client->role_room = g_strdup(new_role_room);
	if (role_room_changed && client->role_room != NULL &&
	    !herald_ws_rooms_client_in_room(client, client->role_room))
		herald_ws_rooms_client_join(client, client->role_room);
	/* the seed's per-role counters count a user by the role of its latest
	 * connection or refresh */
	user_id = herald_identity_get_user_id(client->identity);
	user = g_hash_table_lookup(hub->users, user_id);
	if (user != NULL && g_strcmp0(user->role_room, client->role_room) != 0) {
		g_free(user->role_room);
		user->role_room = g_strdup(client->role_room);
	}
	/* cluster presence keeps one role per user: the latest */
	if (g_strcmp0(old_role, herald_identity_get_role(client->identity)) != 0)
		herald_ws_rooms_hub_emit_presence(hub, client, HERALD_BUS_TOPIC_USER_UPDATED);
	hub->refreshes++;
	hub->refresh_rooms_left += dropped->len;
	if (left != NULL)
		*left = g_steal_pointer(&dropped);
	return TRUE;
}

/**
 * herald_ws_rooms_client_refreshed_json:
 * @client: a client after a successful refresh
 * @left: (element-type utf8): the rooms it left
 * @ok: start with `"ok":true` (a Socket.IO ack)
 *
 * Returns: (transfer full): `{"expires":EXP,"role":R,"rooms":[…],"left":[…]}`
 */
gchar *
herald_ws_rooms_client_refreshed_json(HeraldWsRoomsClient *client, GPtrArray *left, gboolean ok)
{
	const gchar *role = herald_identity_get_role(client->identity);
	GString *out = g_string_new(ok ? "{\"ok\":true," : "{");
	g_string_append_printf(out,
			       "\"expires\":%" G_GINT64_FORMAT ",\"role\":",
			       herald_identity_get_expires(client->identity));
	if (role != NULL)
		herald_ws_rooms_json_append_string(out, role);
	else
		g_string_append(out, "null");
	g_string_append(out, ",\"rooms\":[");
	for (guint i = 0; client->rooms != NULL && i < client->rooms->len; i++) {
		HeraldWsRoomsRoom *room = g_ptr_array_index(client->rooms, i);
		if (i > 0)
			g_string_append_c(out, ',');
		herald_ws_rooms_json_append_string(out, room->name);
	}
	g_string_append(out, "],\"left\":[");
	for (guint i = 0; left != NULL && i < left->len; i++) {
		if (i > 0)
			g_string_append_c(out, ',');
		herald_ws_rooms_json_append_string(out, g_ptr_array_index(left, i));
	}
	g_string_append(out, "]}");
	return g_string_free(out, FALSE);
}

gchar *
herald_ws_rooms_client_connected_json(HeraldWsRoomsClient *client)
{
	GString *out = g_string_new("{\"user_id\":");
	herald_ws_rooms_json_append_string(out, herald_identity_get_user_id(client->identity));
	g_string_append(out, ",\"role\":");
	if (herald_identity_get_role(client->identity) != NULL)
		herald_ws_rooms_json_append_string(out, herald_identity_get_role(client->identity));
	else
		g_string_append(out, "null");
	g_string_append(out, ",\"rooms\":[");
	for (guint i = 0; client->rooms != NULL && i < client->rooms->len; i++) {
		HeraldWsRoomsRoom *room = g_ptr_array_index(client->rooms, i);
		if (i > 0)
			g_string_append_c(out, ',');
		herald_ws_rooms_json_append_string(out, room->name);
	}
	g_string_append(out, "],\"connection_id\":");
	herald_ws_rooms_json_append_string(out, herald_ws_rooms_client_get_public_id(client));
	g_string_append_c(out, '}');
	return g_string_free(out, FALSE);
}

/* {"type":T,"room":R,"payload":P,"timestamp":TS} */
static GString *
herald_ws_rooms_plain_message(const gchar *name,
			      const gchar *room,
			      const gchar *payload_json,
			      const gchar *timestamp)
{
	GString *out = g_string_sized_new(64 + (payload_json != NULL ? strlen(payload_json) : 0));
	g_string_append(out, "{\"type\":");
	herald_ws_rooms_json_append_string(out, name);
	if (room != NULL) {
		g_string_append(out, ",\"room\":");
		herald_ws_rooms_json_append_string(out, room);
	}
	if (payload_json != NULL) {
		g_string_append(out, ",\"payload\":");
		g_string_append(out, payload_json);
	}
	if (timestamp != NULL) {
		g_string_append(out, ",\"timestamp\":");
		herald_ws_rooms_json_append_string(out, timestamp);
	}
	g_string_append_c(out, '}');
	return out;
}

static gchar *
herald_ws_rooms_now_string(void)
{
	return herald_timestamp_format(g_get_real_time());
}

static GBytes *
herald_ws_rooms_frame_for(HeraldWsRoomsProto proto,
			  const gchar *name,
			  const gchar *room,
			  const gchar *payload_json,
			  const gchar *timestamp,
			  gsize *header_len)
{
	GString *text;
	if (proto == HERALD_WS_ROOMS_PROTO_SIO)
		text = herald_sio_event_new(name, payload_json);
	else
		text = herald_ws_rooms_plain_message(name, room, payload_json, timestamp);
	return herald_ws_frame_new_text_take(text, header_len);
}

static void
herald_ws_rooms_client_send_frame(HeraldWsRoomsClient *client, GBytes *frame, gsize header_len)
{
	if (client->closed)
		return;
	if (client->proto == HERALD_WS_ROOMS_PROTO_SIO) {
		herald_ws_rooms_eio_send(client, frame, header_len);
		return;
	}
	if (client->conn != NULL && herald_ws_rooms_conn_send(client->conn, frame))
		client->hub->messages_out++;
}

/* one message to one client, in its protocol */
void
herald_ws_rooms_client_emit(HeraldWsRoomsClient *client,
			    const gchar *name,
			    const gchar *room,
			    const gchar *payload_json)
{
	g_autofree gchar *ts = herald_ws_rooms_now_string();
	gsize header_len = 0;
	g_autoptr(GBytes) frame =
	    herald_ws_rooms_frame_for(client->proto, name, room, payload_json, ts, &header_len);
	herald_ws_rooms_client_send_frame(client, frame, header_len);
}

/* one message to the members of a room (but @except), each frame built once */
void
herald_ws_rooms_hub_emit_room(HeraldWsRoomsHub *self,
			      const gchar *room_name,
			      HeraldWsRoomsClient *except,
			      const gchar *name,
			      const gchar *payload_json)
{
	HeraldWsRoomsRoom *room = g_hash_table_lookup(self->rooms, room_name);
	g_autofree gchar *ts = NULL;
	GBytes *frames[HERALD_WS_ROOMS_PROTO_LAST] = {NULL};
	gsize header_lens[HERALD_WS_ROOMS_PROTO_LAST] = {0};
	GHashTableIter iter;
	gpointer key;

	if (room == NULL)
		return;
	ts = herald_ws_rooms_now_string();
	g_hash_table_iter_init(&iter, room->members);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		HeraldWsRoomsClient *client = key;
		if (client == except || client->closed || client->identity == NULL)
			continue;
		if (frames[client->proto] == NULL)
			frames[client->proto] =
			    herald_ws_rooms_frame_for(client->proto,
						      name,
						      room_name,
						      payload_json,
						      ts,
						      &header_lens[client->proto]);
		herald_ws_rooms_client_send_frame(client,
						  frames[client->proto],
						  header_lens[client->proto]);
	}
	for (guint i = 0; i < HERALD_WS_ROOMS_PROTO_LAST; i++)
		g_clear_pointer(&frames[i], g_bytes_unref);
}

/* -------------------------------------------------------------- delivery */

#define HERALD_WS_ROOMS_FRAME_CACHE 8

typedef struct {
	HeraldWsRoomsHub *hub;
	HeraldDelivery *delivery;
	HeraldEvent *event;
	const gchar *user_scope; /* (nullable): only this user's connections */
	guint64 serial;
	guint reached;
	gboolean verbatim;
	const gchar *payload_json;
	/* Socket.IO: one frame per delivery; plain: one per room (or one when verbatim) */
	GBytes *sio_frame;
	gsize sio_header;
	gboolean sio_refused;
	gchar *plain_rooms[HERALD_WS_ROOMS_FRAME_CACHE];
	GBytes *plain_frames[HERALD_WS_ROOMS_FRAME_CACHE];
	guint n_plain;
	GBytes *plain_verbatim;
} HeraldWsRoomsDeliverCtx;

static GBytes *
herald_ws_rooms_ctx_plain_frame(HeraldWsRoomsDeliverCtx *ctx, const gchar *room)
{
	GString *text;
	GBytes *frame;

	if (ctx->verbatim) {
		if (ctx->plain_verbatim == NULL)
			ctx->plain_verbatim = herald_ws_frame_new(HERALD_WS_OPCODE_TEXT,
								  (const guint8 *)ctx->payload_json,
								  strlen(ctx->payload_json));
		return ctx->plain_verbatim;
	}
	for (guint i = 0; i < ctx->n_plain; i++) {
		if (g_strcmp0(ctx->plain_rooms[i], room) == 0)
			return ctx->plain_frames[i];
	}
	text = herald_ws_rooms_plain_message(herald_delivery_get_name(ctx->delivery),
					     room,
					     ctx->payload_json,
					     herald_event_get_timestamp_string(ctx->event));
	frame = herald_ws_frame_new_text_take(text, NULL);
	if (ctx->n_plain == HERALD_WS_ROOMS_FRAME_CACHE) {
		/* rarely many rooms: recycle the oldest slot */
		g_free(ctx->plain_rooms[0]);
		g_bytes_unref(ctx->plain_frames[0]);
		memmove(ctx->plain_rooms,
			ctx->plain_rooms + 1,
			sizeof(gpointer) * (ctx->n_plain - 1));
		memmove(ctx->plain_frames,
			ctx->plain_frames + 1,
			sizeof(gpointer) * (ctx->n_plain - 1));
		ctx->n_plain--;
	}
	ctx->plain_rooms[ctx->n_plain] = g_strdup(room);
	ctx->plain_frames[ctx->n_plain] = frame;
	ctx->n_plain++;
	return frame;
}

static void
herald_ws_rooms_ctx_clear(HeraldWsRoomsDeliverCtx *ctx)
{
	for (guint i = 0; i < ctx->n_plain; i++) {
		g_free(ctx->plain_rooms[i]);
		g_bytes_unref(ctx->plain_frames[i]);
	}
	g_clear_pointer(&ctx->plain_verbatim, g_bytes_unref);
	g_clear_pointer(&ctx->sio_frame, g_bytes_unref);
}

static void
herald_ws_rooms_deliver_one(HeraldWsRoomsDeliverCtx *ctx,
			    HeraldWsRoomsClient *client,
			    const gchar *room)
{
	if (client->delivery_serial == ctx->serial || client->closed || client->identity == NULL)
		return;
	if (ctx->user_scope != NULL &&
	    g_strcmp0(herald_identity_get_user_id(client->identity), ctx->user_scope) != 0)
		return;
	client->delivery_serial = ctx->serial;
	if (client->proto == HERALD_WS_ROOMS_PROTO_SIO) {
		if (ctx->sio_frame == NULL && !ctx->sio_refused) {
			const gchar *name = herald_delivery_get_name(ctx->delivery);
			/* socket.io-client rejects packets carrying reserved names */
			if (herald_sio_event_name_is_reserved(name)) {
				ctx->sio_refused = TRUE;
			} else {
				GString *text = herald_sio_event_new(name, ctx->payload_json);
				ctx->sio_frame =
				    herald_ws_frame_new_text_take(text, &ctx->sio_header);
			}
		}
		if (ctx->sio_refused) {
			ctx->hub->drops_reserved++;
			return;
		}
		if (!herald_ws_rooms_eio_send(client, ctx->sio_frame, ctx->sio_header))
			return;
	} else {
		GBytes *frame = herald_ws_rooms_ctx_plain_frame(ctx, room);
		if (client->conn == NULL || !herald_ws_rooms_conn_send(client->conn, frame))
			return;
		ctx->hub->messages_out++;
	}
	ctx->reached++;
}

static void
herald_ws_rooms_deliver_room(HeraldWsRoomsDeliverCtx *ctx, const gchar *name)
{
	HeraldWsRoomsRoom *room = g_hash_table_lookup(ctx->hub->rooms, name);
	GHashTableIter iter;
	gpointer key;
	if (room == NULL)
		return;
	g_hash_table_iter_init(&iter, room->members);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		herald_ws_rooms_deliver_one(ctx, key, name);
}

static gboolean
herald_ws_rooms_filter_matches(HeraldWsRoomsClient *client, gchar **pairs)
{
	for (guint i = 0; pairs[i] != NULL && pairs[i + 1] != NULL; i += 2) {
		g_autofree gchar *value = NULL;
		/* role compares with the identity's role (whatever claim carries it),
		 * case-insensitively as everywhere */
		if (g_strcmp0(pairs[i], "role") == 0) {
			if (!herald_role_equal(herald_identity_get_role(client->identity),
					       pairs[i + 1]))
				return FALSE;
			continue;
		}
		value = herald_identity_get_claim_string(client->identity, pairs[i]);
		if (g_strcmp0(value, pairs[i + 1]) != 0)
			return FALSE;
	}
	return TRUE;
}

/**
 * herald_ws_rooms_hub_deliver:
 *
 * Writes the event to every live client in the delivery's targets, each at
 * most once. Frames are built once per protocol (and per room for the plain
 * protocol's `room` field) and shared by reference; they go out from the
 * flush source, batched per connection.
 */
guint
herald_ws_rooms_hub_deliver(HeraldWsRoomsHub *self, HeraldDelivery *delivery)
{
	HeraldWsRoomsDeliverCtx ctx = {0};
	GPtrArray *rooms = herald_delivery_get_rooms(delivery);
	GPtrArray *users = herald_delivery_get_users(delivery);
	GPtrArray *filters = herald_delivery_get_filters(delivery);
	gboolean broadcast = herald_delivery_get_broadcast(delivery);
	const gchar *broadcast_room = NULL;

	herald_ws_rooms_hub_check_overdue(self);
	ctx.hub = self;
	ctx.delivery = delivery;
	ctx.event = herald_delivery_get_event(delivery);
	ctx.user_scope = herald_delivery_get_user_scope(delivery);
	ctx.serial = ++self->delivery_serial;
	ctx.verbatim = herald_event_is_verbatim(ctx.event);
	ctx.payload_json = herald_event_get_payload_json(ctx.event);
	if (ctx.payload_json == NULL)
		ctx.payload_json = "null";
	self->deliveries++;

	for (guint i = 0; i < rooms->len; i++) {
		const gchar *room = g_ptr_array_index(rooms, i);
		if (self->limits.broadcast_room != NULL &&
		    g_strcmp0(room, self->limits.broadcast_room) == 0) {
			broadcast = TRUE;
			broadcast_room = room;
			continue;
		}
		herald_ws_rooms_deliver_room(&ctx, room);
	}
	for (guint i = 0; i < users->len; i++) {
		g_autofree gchar *room = herald_ws_rooms_personal_room(g_ptr_array_index(users, i));
		herald_ws_rooms_deliver_room(&ctx, room);
	}
	if (filters->len > 0 || broadcast) {
		for (GList *l = self->clients.head; l != NULL; l = l->next) {
			HeraldWsRoomsClient *client = l->data;
			if (client->identity == NULL || client->closed)
				continue;
			if (broadcast) {
				herald_ws_rooms_deliver_one(&ctx, client, broadcast_room);
				continue;
			}
			for (guint i = 0; i < filters->len; i++) {
				if (herald_ws_rooms_filter_matches(client,
								   g_ptr_array_index(filters, i))) {
					herald_ws_rooms_deliver_one(&ctx, client, NULL);
					break;
				}
			}
		}
	}
	herald_ws_rooms_ctx_clear(&ctx);
	self->delivered += ctx.reached;
	return ctx.reached;
}

guint
herald_ws_rooms_hub_count(HeraldWsRoomsHub *self, const gchar *user_id)
{
	HeraldWsRoomsUser *user;
	if (user_id == NULL)
		return self->n_registered[HERALD_WS_ROOMS_PROTO_PLAIN] +
		       self->n_registered[HERALD_WS_ROOMS_PROTO_SIO];
	user = g_hash_table_lookup(self->users, user_id);
	return user != NULL ? user->count : 0;
}

/* ----------------------------------------------------------------- plain */

static void
herald_ws_rooms_plain_reply_error(HeraldWsRoomsClient *client,
				  const gchar *code,
				  const gchar *message,
				  const gchar *room)
{
	GString *payload = g_string_new("{\"code\":");
	g_autofree gchar *json = NULL;
	herald_ws_rooms_json_append_string(payload, code);
	g_string_append(payload, ",\"message\":");
	herald_ws_rooms_json_append_string(payload, message);
	if (room != NULL) {
		g_string_append(payload, ",\"room\":");
		herald_ws_rooms_json_append_string(payload, room);
	}
	g_string_append_c(payload, '}');
	json = g_string_free(payload, FALSE);
	herald_ws_rooms_client_emit(client, "error", NULL, json);
}

static void
herald_ws_rooms_plain_reply_gerror(HeraldWsRoomsClient *client,
				   const GError *error,
				   const gchar *room)
{
	const gchar *code = error->domain == HERALD_ERROR ? herald_error_to_code(error->code)
							  : "internal";
	herald_ws_rooms_plain_reply_error(client, code, error->message, room);
}

static void
herald_ws_rooms_plain_reply_room(HeraldWsRoomsClient *client, const gchar *type, const gchar *room)
{
	g_autofree gchar *ts = herald_ws_rooms_now_string();
	GString *text = g_string_new("{\"type\":");
	g_autoptr(GBytes) frame = NULL;
	herald_ws_rooms_json_append_string(text, type);
	g_string_append(text, ",\"room\":");
	herald_ws_rooms_json_append_string(text, room);
	g_string_append(text, ",\"timestamp\":");
	herald_ws_rooms_json_append_string(text, ts);
	g_string_append_c(text, '}');
	frame = herald_ws_frame_new_text_take(text, NULL);
	herald_ws_rooms_client_send_frame(client, frame, 0);
}

/* a string member of the message or of its payload object */
static const gchar *
herald_ws_rooms_plain_get_arg(JsonObject *obj, const gchar *name)
{
	JsonNode *node = json_object_get_member(obj, name);
	JsonNode *payload = json_object_get_member(obj, "payload");
	if (node == NULL && payload != NULL && JSON_NODE_HOLDS_OBJECT(payload))
		node = json_object_get_member(json_node_get_object(payload), name);
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

static void
herald_ws_rooms_plain_message_cb(HeraldWsRoomsConn *conn,
				 guint8 opcode,
				 const guint8 *data,
				 gsize len,
				 gpointer user_data)
{
	HeraldWsRoomsClient *client = user_data;
	HeraldWsRoomsHub *hub = client->hub;
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GError) error = NULL;
	JsonObject *obj;
	JsonNode *type_node;
	const gchar *type;

	if (opcode != HERALD_WS_OPCODE_TEXT) {
		herald_ws_rooms_conn_close(conn,
					   HERALD_WS_CLOSE_UNSUPPORTED,
					   "binary frames are not supported",
					   HERALD_WS_ROOMS_REASON_PROTOCOL);
		return;
	}
	hub->messages_in++;
	if (!herald_ws_rooms_client_rate_ok(client)) {
		herald_ws_rooms_conn_close(conn,
					   HERALD_WS_CLOSE_RATE_LIMITED,
					   "rate limited",
					   HERALD_WS_ROOMS_REASON_RATE_LIMITED);
		return;
	}
	/* through the depth gate: json-glib 1.6 recurses once per level */
	root = herald_json_parse((const gchar *)data, (gssize)len, NULL);
	if (root == NULL &&
	    !herald_json_check((const gchar *)data, len, herald_json_get_max_depth(), NULL)) {
		herald_ws_rooms_hub_count_reject(hub, "json_too_deep");
		herald_ws_rooms_conn_close(conn,
					   HERALD_WS_CLOSE_BAD_DATA,
					   "JSON nested too deep",
					   HERALD_WS_ROOMS_REASON_PROTOCOL);
		return;
	}
	if (root == NULL) {
		herald_ws_rooms_plain_reply_error(client,
						  "invalid_json",
						  /* TRANSLATORS: WebSocket error */
						  _("the message is not valid JSON"),
						  NULL);
		return;
	}
	if (!JSON_NODE_HOLDS_OBJECT(root)) {
		herald_ws_rooms_plain_reply_error(client,
						  "invalid_message",
						  /* TRANSLATORS: WebSocket error */
						  _("the message must be a JSON object"),
						  NULL);
		return;
	}
	obj = json_node_get_object(root);
	type_node = json_object_get_member(obj, "type");
	if (type_node == NULL || !JSON_NODE_HOLDS_VALUE(type_node) ||
	    json_node_get_value_type(type_node) != G_TYPE_STRING) {
		herald_ws_rooms_plain_reply_error(client,
						  "invalid_message",
						  /* TRANSLATORS: WebSocket error */
						  _("the message has no string 'type'"),
						  NULL);
		return;
	}
	type = json_node_get_string(type_node);
	if (g_strcmp0(type, "subscribe") == 0) {
		const gchar *room = herald_ws_rooms_plain_get_arg(obj, "room");
		if (!herald_ws_rooms_client_subscribe(client, room, &error)) {
			herald_ws_rooms_plain_reply_gerror(client, error, room);
			return;
		}
		herald_ws_rooms_plain_reply_room(client, "subscribed", room);
		return;
	}
	if (g_strcmp0(type, "unsubscribe") == 0) {
		const gchar *room = herald_ws_rooms_plain_get_arg(obj, "room");
		if (!herald_ws_rooms_room_check(room, &error)) {
			herald_ws_rooms_plain_reply_gerror(client, error, room);
			return;
		}
		herald_ws_rooms_client_unsubscribe(client, room);
		herald_ws_rooms_plain_reply_room(client, "unsubscribed", room);
		return;
	}
	if (g_strcmp0(type, "ping") == 0) {
		herald_ws_rooms_client_emit(client, "pong", NULL, NULL);
		return;
	}
	if (g_strcmp0(type, "refresh") == 0) {
		const gchar *token = herald_ws_rooms_plain_get_arg(obj, "token");
		g_autofree gchar *payload = NULL;
		g_autoptr(GPtrArray) left = NULL;
		if (!herald_ws_rooms_client_refresh(client, token, &left, &error)) {
			herald_ws_rooms_plain_reply_gerror(client, error, NULL);
			/* a token that does not verify ends the connection (DESIGN §4) */
			if (g_error_matches(error, HERALD_ERROR, HERALD_ERROR_UNAUTHENTICATED))
				herald_ws_rooms_conn_close(conn,
							   HERALD_WS_CLOSE_UNAUTHORIZED,
							   "invalid token",
							   HERALD_WS_ROOMS_REASON_UNAUTHORIZED);
			return;
		}
		payload = herald_ws_rooms_client_refreshed_json(client, left, FALSE);
		herald_ws_rooms_client_emit(client, "refreshed", NULL, payload);
		return;
	}
	{
		g_autofree gchar *msg =
		    /* TRANSLATORS: WebSocket error; %s is a message type */
		    g_strdup_printf(_("unknown message type '%s'"), type);
		herald_ws_rooms_plain_reply_error(client, "unknown_type", msg, NULL);
	}
}

static void
herald_ws_rooms_plain_closed_cb(HeraldWsRoomsConn *conn, gpointer user_data)
{
	HeraldWsRoomsClient *client = user_data;
	herald_ws_rooms_client_close(client);
}

/**
 * herald_ws_rooms_plain_start:
 *
 * A plain-protocol connection after the 101: register, join, say `connected`.
 */
void
herald_ws_rooms_plain_start(HeraldWsRoomsHub *self,
			    HeraldWsRoomsConn *conn,
			    HeraldIdentity *identity,
			    const gchar *address)
{
	herald_ws_rooms_plain_start_full(self, conn, identity, address, NULL);
}

/**
 * herald_ws_rooms_plain_start_full:
 * @job_room: (nullable): `job_{id}` of a `?job_id=` query, joined under the
 *   subscribe rules (refused: an error message after `connected`)
 *
 * herald_ws_rooms_plain_start() with a room joined before `connected`.
 */
void
herald_ws_rooms_plain_start_full(HeraldWsRoomsHub *self,
				 HeraldWsRoomsConn *conn,
				 HeraldIdentity *identity,
				 const gchar *address,
				 const gchar *job_room)
{
	g_autoptr(GError) job_error = NULL;
	HeraldWsRoomsClient *client = herald_ws_rooms_client_new(self, HERALD_WS_ROOMS_PROTO_PLAIN);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *payload = NULL;

	herald_ws_rooms_budget_set_address(self->budget, &client->budget, client, address);

	client->conn = conn;
	herald_ws_rooms_conn_set_handlers(conn,
					  herald_ws_rooms_plain_message_cb,
					  herald_ws_rooms_plain_closed_cb,
					  client);
	/* a race with another connection of the same user (or address) since the
	 * HTTP check */
	if (!herald_ws_rooms_client_register(client, identity, &error)) {
		herald_ws_rooms_conn_close(conn,
					   HERALD_WS_CLOSE_TRY_AGAIN_LATER,
					   error->message,
					   HERALD_WS_ROOMS_REASON_SERVER_FULL);
		return;
	}
	if (job_room != NULL)
		herald_ws_rooms_client_subscribe(client, job_room, &job_error);
	payload = herald_ws_rooms_client_connected_json(client);
	herald_ws_rooms_client_emit(client, "connected", NULL, payload);
	if (job_error != NULL)
		herald_ws_rooms_plain_reply_gerror(client, job_error, job_room);
}

/* ------------------------------------------------------------ flush, sweep */

static void
herald_ws_rooms_hub_reap(HeraldWsRoomsHub *self)
{
	/* clients first: they detach from their connections */
	while (self->dead_clients->len > 0) {
		HeraldWsRoomsClient *client = g_ptr_array_steal_index_fast(self->dead_clients, 0);
		herald_ws_rooms_client_reap(client);
	}
	for (guint i = 0; i < self->dead_conns->len; i++) {
		HeraldWsRoomsConn *conn = g_ptr_array_index(self->dead_conns, i);
		if (conn->dirty)
			g_ptr_array_remove_fast(self->dirty, conn);
		g_ptr_array_remove_fast(self->orphans, conn);
		g_free(conn);
	}
	g_ptr_array_set_size(self->dead_conns, 0);
}

/* any thread of the write pass: only the queues and sockets of its range */
static void
herald_ws_rooms_hub_write_range(guint begin, guint end, gpointer user_data)
{
	HeraldWsRoomsHub *self = user_data;
	for (guint i = begin; i < end; i++) {
		HeraldWsRoomsConn *conn = self->pass[i];
		HeraldWsRoomsPassResult *result = &self->results[i];
		result->written = 0;
		result->rc = herald_ws_rooms_queue_flush(&conn->queue, conn->fd, &result->written);
	}
}

/*
 * The write pass. Input that libsoup read ahead is handled first, on this
 * thread (it may queue, close, abort). Then every live connection's queue
 * goes out, spread over the writer threads; only the queues and the
 * sockets are touched there, and this thread waits inside the pass, so no
 * other code can see a half-written queue. The results (errors, EPOLLOUT,
 * closing handshakes) are applied back here.
 */
static void
herald_ws_rooms_hub_flush_all(HeraldWsRoomsHub *self)
{
	/* connections marked while flushing land in the next round */
	g_autoptr(GPtrArray) dirty = self->dirty;
	gint64 pass_start, idle;
	guint n = 0;

	self->dirty = g_ptr_array_sized_new(MAX(dirty->len, 16));
	for (guint i = 0; i < dirty->len; i++) {
		HeraldWsRoomsConn *conn = g_ptr_array_index(dirty, i);
		conn->dirty = 0;
	}
	for (guint i = 0; i < dirty->len; i++) {
		HeraldWsRoomsConn *conn = g_ptr_array_index(dirty, i);
		if (conn->state != HERALD_WS_ROOMS_CONN_DEAD && conn->pending_input) {
			conn->pending_input = 0;
			herald_ws_rooms_conn_process_buffered(conn);
		}
	}
	if (dirty->len > self->pass_cap) {
		self->pass_cap = MAX(dirty->len, 2 * self->pass_cap);
		self->pass = g_renew(HeraldWsRoomsConn *, self->pass, self->pass_cap);
		self->results = g_renew(HeraldWsRoomsPassResult, self->results, self->pass_cap);
	}
	for (guint i = 0; i < dirty->len; i++) {
		HeraldWsRoomsConn *conn = g_ptr_array_index(dirty, i);
		if (conn->state != HERALD_WS_ROOMS_CONN_DEAD)
			self->pass[n++] = conn;
	}
	pass_start = g_get_monotonic_time();
	idle = pass_start - self->last_pass_end;
	herald_ws_rooms_writers_run(idle >= MAX(self->last_pass_us,
						HERALD_WS_ROOMS_SPREAD_AFTER_IDLE_US)
					? self->writers
					: NULL,
				    n,
				    herald_ws_rooms_hub_write_range,
				    self);
	/* small passes (a pong, a reply) say nothing about a busy loop */
	if (n >= 2 * HERALD_WS_ROOMS_WRITERS_CHUNK) {
		self->last_pass_end = g_get_monotonic_time();
		self->last_pass_us = self->last_pass_end - pass_start;
	}
	for (guint i = 0; i < n; i++) {
		HeraldWsRoomsConn *conn = self->pass[i];
		if (conn->state != HERALD_WS_ROOMS_CONN_DEAD)
			herald_ws_rooms_conn_flushed(conn, self->results[i].rc, self->results[i].written);
	}
}

static gboolean
herald_ws_rooms_source_prepare(GSource *source, gint *timeout)
{
	HeraldWsRoomsHub *self = ((HeraldWsRoomsSource *)source)->hub;
	*timeout = -1;
	return self->dirty->len > 0 || self->dead_conns->len > 0 || self->dead_clients->len > 0;
}

static gboolean
herald_ws_rooms_source_check(GSource *source)
{
	gint timeout;
	return herald_ws_rooms_source_prepare(source, &timeout);
}

static gboolean
herald_ws_rooms_source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	HeraldWsRoomsHub *self = ((HeraldWsRoomsSource *)source)->hub;
	gboolean was_urgent = self->flush_urgent;

	self->flush_urgent = FALSE;
	herald_ws_rooms_hub_flush_all(self);
	herald_ws_rooms_hub_reap(self);
	/* back to waiting for a quiet loop, unless urged again meanwhile */
	if (was_urgent && !self->flush_urgent)
		g_source_set_priority(source, HERALD_WS_ROOMS_FLUSH_PRIORITY);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs herald_ws_rooms_source_funcs = {
    .prepare = herald_ws_rooms_source_prepare,
    .check = herald_ws_rooms_source_check,
    .dispatch = herald_ws_rooms_source_dispatch,
};

void
herald_ws_rooms_conn_tick(HeraldWsRoomsConn *conn, gint64 now, gboolean plain)
{
	HeraldWsRoomsLimits *limits = &conn->hub->limits;
	if (conn->state == HERALD_WS_ROOMS_CONN_CLOSING && now >= conn->deadline) {
		struct linger reset = {.l_onoff = 1, .l_linger = 0};
		gint64 taken = (gint64)conn->close_written - herald_ws_rooms_conn_unsent(conn);
		/* a peer still reading what is ahead of our close frame (a slow
		 * consumer at a few hundred KB/s) gets more time, at most
		 * HERALD_WS_ROOMS_CLOSE_EXTENSIONS times, so that it reads the
		 * close instead of a reset */
		if (taken > conn->close_taken &&
		    conn->close_extensions < HERALD_WS_ROOMS_CLOSE_EXTENSIONS) {
			conn->close_taken = taken;
			conn->close_extensions++;
			conn->deadline = now + (gint64)limits->close_timeout_ms * 1000;
			return;
		}
		/* a peer that does not read: a reset frees what the kernel still
		 * holds for it now, instead of an orphan socket probing a zero
		 * window for minutes */
		setsockopt(conn->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
		conn->hub->close_timeouts++;
		herald_ws_rooms_conn_abort(conn, HERALD_WS_ROOMS_REASON_TIMEOUT);
		return;
	}
	if (!plain || conn->state != HERALD_WS_ROOMS_CONN_OPEN || limits->idle_timeout_ms == 0)
		return;
	/* dead peers: ping after half the idle timeout, give up after all of it */
	if (now - conn->last_rx >= (gint64)limits->idle_timeout_ms * 1000) {
		herald_ws_rooms_conn_close(conn,
					   HERALD_WS_CLOSE_GOING_AWAY,
					   "idle timeout",
					   HERALD_WS_ROOMS_REASON_TIMEOUT);
		return;
	}
	if (!conn->ping_sent && now - conn->last_rx >= (gint64)limits->idle_timeout_ms * 500) {
		g_autoptr(GBytes) ping = herald_ws_frame_new(HERALD_WS_OPCODE_PING, NULL, 0);
		conn->ping_sent = 1;
		herald_ws_rooms_conn_send(conn, ping);
	}
}

static gboolean
herald_ws_rooms_hub_sweep_cb(gpointer user_data)
{
	HeraldWsRoomsHub *self = user_data;
	gint64 now = g_get_monotonic_time();

	for (guint i = 0; i < self->orphans->len; i++)
		herald_ws_rooms_conn_tick(g_ptr_array_index(self->orphans, i), now, FALSE);
	for (GList *l = self->clients.head; l != NULL; l = l->next) {
		HeraldWsRoomsClient *client = l->data;
		if (client->closed) {
			/* a closing transport still needs its deadline */
			if (client->conn != NULL)
				herald_ws_rooms_conn_tick(client->conn, now, FALSE);
			continue;
		}
		if (client->expires != 0 && now >= client->expires) {
			if (client->proto == HERALD_WS_ROOMS_PROTO_SIO) {
				herald_ws_rooms_eio_close(client,
							  HERALD_WS_CLOSE_TOKEN_EXPIRED,
							  "token expired",
							  HERALD_WS_ROOMS_REASON_TOKEN_EXPIRED);
			} else if (client->conn != NULL) {
				herald_ws_rooms_conn_close(client->conn,
							   HERALD_WS_CLOSE_TOKEN_EXPIRED,
							   "token expired",
							   HERALD_WS_ROOMS_REASON_TOKEN_EXPIRED);
			}
			continue;
		}
		if (client->proto == HERALD_WS_ROOMS_PROTO_SIO)
			herald_ws_rooms_eio_tick(client, now);
		else if (client->conn != NULL)
			herald_ws_rooms_conn_tick(client->conn, now, TRUE);
	}
	return G_SOURCE_CONTINUE;
}

static void
herald_ws_rooms_hub_restart_sweep(HeraldWsRoomsHub *self)
{
	/* Engine.IO deadlines (pings, ping timeouts, connect, upgrade and close
	 * timeouts) are exact in self->timers; the sweep also calls
	 * herald_ws_rooms_eio_tick() but only as a fallback, so its period does
	 * not follow ping-interval-ms */
	guint64 base = self->limits.close_timeout_ms;
	guint tick;
	if (self->limits.idle_timeout_ms > 0)
		base = MIN(base, self->limits.idle_timeout_ms / 2);
	tick = (guint)CLAMP(base / 4, 20, 1000);
	if (tick == self->sweep_ms && self->sweep_id != 0)
		return;
	g_clear_handle_id(&self->sweep_id, g_source_remove);
	self->sweep_ms = tick;
	self->sweep_id = g_timeout_add(tick, herald_ws_rooms_hub_sweep_cb, self);
}

/* ------------------------------------------------------------------- hub */

HeraldWsRoomsHub *
herald_ws_rooms_hub_new(HeraldBus *bus, HeraldAuth *auth, GError **error)
{
	g_autoptr(HeraldWsRoomsHub) self = g_new0(HeraldWsRoomsHub, 1);

	self->epfd = -1;
	self->budget = herald_ws_rooms_budget_new();
	self->bus = g_object_ref(bus);
	if (auth != NULL)
		self->auth = g_object_ref(auth);
	self->policy = herald_ws_rooms_policy_new();
	self->timers = herald_ws_rooms_timers_new(herald_ws_rooms_eio_timer_cb, self);
	self->sids = g_hash_table_new(g_str_hash, g_str_equal);
	self->ended_sids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_queue_init(&self->ended_order);
	self->rooms = g_hash_table_new_full(g_str_hash,
					    g_str_equal,
					    NULL,
					    (GDestroyNotify)herald_ws_rooms_room_free);
	self->users = g_hash_table_new_full(g_str_hash,
					    g_str_equal,
					    g_free,
					    (GDestroyNotify)herald_ws_rooms_user_free);
	self->rejects = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->dirty = g_ptr_array_new();
	self->dead_conns = g_ptr_array_new();
	self->dead_clients = g_ptr_array_new();
	self->orphans = g_ptr_array_new();
	self->scratch = g_malloc(HERALD_WS_ROOMS_SCRATCH_SIZE);
	/* defaults until the plugin sets its configuration */
	self->limits.max_connections = 10000;
	self->limits.max_connections_per_user = 10;
	self->limits.max_subscriptions = 50;
	self->limits.max_message_bytes = 65536;
	self->limits.rate_limit = 20;
	self->limits.rate_burst = 40;
	self->limits.outgoing_buffer_bytes = 1024 * 1024;
	self->limits.socket_send_buffer_bytes = 256 * 1024;
	self->limits.idle_timeout_ms = 60000;
	self->limits.ping_interval_ms = 25000;
	self->limits.ping_timeout_ms = 20000;
	self->limits.max_payload = 1000000;
	self->limits.upgrade_timeout_ms = 10000;
	self->limits.connect_timeout_ms = 45000;
	self->limits.close_timeout_ms = 2000;
	self->limits.max_packets_per_payload = 100;
	self->limits.max_pending = 1000;
	self->limits.max_pending_per_address = 32;
	self->limits.max_connections_per_address = 1000;

	self->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (self->epfd < 0) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_FAILED,
			    "epoll_create1: %s",
			    g_strerror(errno));
		return NULL;
	}
	self->epoll_id = g_unix_fd_add(self->epfd, G_IO_IN, herald_ws_rooms_hub_epoll_cb, self);
	self->source = g_source_new(&herald_ws_rooms_source_funcs, sizeof(HeraldWsRoomsSource));
	((HeraldWsRoomsSource *)self->source)->hub = self;
	g_source_set_priority(self->source, HERALD_WS_ROOMS_FLUSH_PRIORITY);
	g_source_set_static_name(self->source, "herald-ws-rooms-flush");
	g_source_attach(self->source, NULL);
	herald_ws_rooms_hub_restart_sweep(self);
	return g_steal_pointer(&self);
}

void
herald_ws_rooms_hub_set_limits(HeraldWsRoomsHub *self, const HeraldWsRoomsLimits *limits)
{
	/* @limits may be a copy of the current ones: duplicate before freeing */
	gchar *broadcast_room = g_strdup(limits->broadcast_room);
	gchar **allowed_origins = g_strdupv(limits->allowed_origins);
	herald_ws_rooms_limits_clear(&self->limits);
	self->limits = *limits;
	self->limits.broadcast_room = broadcast_room;
	self->limits.allowed_origins = allowed_origins;
	herald_ws_rooms_hub_restart_sweep(self);
}

/* threads that share the write pass with the main thread (0: none) */
void
herald_ws_rooms_hub_set_writer_threads(HeraldWsRoomsHub *self, guint n_threads)
{
	/* compared with what was asked for: a pool that could start fewer
	 * threads is not restarted on every reload */
	if (n_threads == self->writers_wanted && (self->writers != NULL || n_threads == 0))
		return;
	self->writers_wanted = n_threads;
	/* no pass is running: they only run inside the flush source */
	g_clear_pointer(&self->writers, herald_ws_rooms_writers_free);
	if (n_threads > 0)
		self->writers = herald_ws_rooms_writers_new(n_threads);
	g_debug("write pass on %u threads", herald_ws_rooms_writers_get_n_threads(self->writers) + 1);
}

const HeraldWsRoomsLimits *
herald_ws_rooms_hub_get_limits(HeraldWsRoomsHub *self)
{
	return &self->limits;
}

void
herald_ws_rooms_hub_set_policy(HeraldWsRoomsHub *self, HeraldWsRoomsPolicy *policy)
{
	herald_ws_rooms_policy_free(self->policy);
	self->policy = policy;
}

HeraldAuth *
herald_ws_rooms_hub_get_auth(HeraldWsRoomsHub *self)
{
	return self->auth;
}

void
herald_ws_rooms_hub_set_auth(HeraldWsRoomsHub *self, HeraldAuth *auth)
{
	g_set_object(&self->auth, auth);
}

/* graceful shutdown (SIGTERM, a restart): 1012 to plain clients, the
 * Engine.IO transport closed without `41` for Socket.IO clients, so that
 * both reconnect (to this address's next instance) by themselves */
void
herald_ws_rooms_hub_shutdown(HeraldWsRoomsHub *self)
{
	self->shutting_down = TRUE;
	for (GList *l = self->clients.head; l != NULL; l = l->next) {
		HeraldWsRoomsClient *client = l->data;
		if (client->proto == HERALD_WS_ROOMS_PROTO_SIO) {
			herald_ws_rooms_eio_shutdown(client);
		} else if (client->conn != NULL) {
			herald_ws_rooms_conn_close(client->conn,
						   HERALD_WS_CLOSE_SERVICE_RESTART,
						   "service restart",
						   HERALD_WS_ROOMS_REASON_SHUTDOWN);
		}
	}
}

/* clients not yet reaped, including those whose close is still going out */
guint
herald_ws_rooms_hub_get_n_open(HeraldWsRoomsHub *self)
{
	return self->clients.length + self->orphans->len;
}

/* (nullable) while the hub is being freed */
HeraldWsRoomsTimers *
herald_ws_rooms_hub_get_timers(HeraldWsRoomsHub *self)
{
	return self->timers;
}

void
herald_ws_rooms_hub_free(HeraldWsRoomsHub *self)
{
	if (self == NULL)
		return;
	for (GList *l = self->clients.head; l != NULL; l = l->next) {
		HeraldWsRoomsClient *client = l->data;
		if (client->conn != NULL)
			herald_ws_rooms_conn_abort(client->conn, HERALD_WS_ROOMS_REASON_SHUTDOWN);
		if (client->proto == HERALD_WS_ROOMS_PROTO_SIO)
			herald_ws_rooms_eio_close(client, 0, NULL, HERALD_WS_ROOMS_REASON_SHUTDOWN);
		herald_ws_rooms_client_close(client);
	}
	if (self->dirty != NULL)
		herald_ws_rooms_hub_reap(self);
	while (self->orphans != NULL && self->orphans->len > 0) {
		herald_ws_rooms_conn_abort(g_ptr_array_index(self->orphans, 0),
					   HERALD_WS_ROOMS_REASON_SHUTDOWN);
		herald_ws_rooms_hub_reap(self);
	}
	g_clear_handle_id(&self->sweep_id, g_source_remove);
	g_clear_pointer(&self->timers, herald_ws_rooms_timers_free);
	g_clear_handle_id(&self->epoll_id, g_source_remove);
	if (self->source != NULL) {
		g_source_destroy(self->source);
		g_source_unref(self->source);
	}
	if (self->epfd >= 0)
		close(self->epfd);
	g_clear_pointer(&self->writers, herald_ws_rooms_writers_free);
	g_clear_pointer(&self->pass, g_free);
	g_clear_pointer(&self->results, g_free);
	g_clear_pointer(&self->dirty, g_ptr_array_unref);
	g_clear_pointer(&self->dead_conns, g_ptr_array_unref);
	g_clear_pointer(&self->dead_clients, g_ptr_array_unref);
	g_clear_pointer(&self->orphans, g_ptr_array_unref);
	g_clear_pointer(&self->sids, g_hash_table_unref);
	g_clear_pointer(&self->ended_sids, g_hash_table_unref);
	g_queue_clear_full(&self->ended_order, g_free);
	g_clear_pointer(&self->rooms, g_hash_table_unref);
	g_clear_pointer(&self->users, g_hash_table_unref);
	g_clear_pointer(&self->rejects, g_hash_table_unref);
	g_clear_pointer(&self->budget, herald_ws_rooms_budget_free);
	herald_ws_rooms_policy_free(self->policy);
	herald_ws_rooms_limits_clear(&self->limits);
	g_clear_object(&self->bus);
	g_clear_object(&self->auth);
	g_free(self->scratch);
	g_free(self);
}

void
herald_ws_rooms_hub_add_stats(HeraldWsRoomsHub *self, GVariantDict *dict)
{
	g_auto(GVariantDict) by_role = G_VARIANT_DICT_INIT(NULL);
	g_auto(GVariantDict) by_proto = G_VARIANT_DICT_INIT(NULL);
	g_auto(GVariantDict) closes = G_VARIANT_DICT_INIT(NULL);
	g_auto(GVariantDict) rejects = G_VARIANT_DICT_INIT(NULL);
	g_autoptr(GHashTable) roles = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	guint admins = 0, advisors = 0, clients = 0;
	GHashTableIter iter;
	gpointer key, value;

	/* the seed's /stats keys count users, by the room of their role */
	g_hash_table_iter_init(&iter, self->users);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		HeraldWsRoomsUser *user = value;
		if (g_strcmp0(user->role_room, "admin") == 0)
			admins++;
		else if (g_strcmp0(user->role_room, "advisor") == 0)
			advisors++;
		else if (g_strcmp0(user->role_room, "client") == 0)
			clients++;
	}
	g_variant_dict_insert(dict, "connected_users", "u", g_hash_table_size(self->users));
	g_variant_dict_insert(dict, "admins_connected", "u", admins);
	g_variant_dict_insert(dict, "advisors_connected", "u", advisors);
	g_variant_dict_insert(dict, "clients_connected", "u", clients);
	g_variant_dict_insert(dict, "connections", "u", herald_ws_rooms_hub_count(self, NULL));

	for (GList *l = self->clients.head; l != NULL; l = l->next) {
		HeraldWsRoomsClient *client = l->data;
		const gchar *role;
		guint n;
		if (!client->registered || client->closed)
			continue;
		role = herald_identity_get_role(client->identity);
		if (role == NULL)
			role = "none";
		/* one key per role, however the tokens spell it */
		key = herald_role_key(role);
		n = GPOINTER_TO_UINT(g_hash_table_lookup(roles, key));
		g_hash_table_replace(roles, key, GUINT_TO_POINTER(n + 1));
	}
	g_hash_table_iter_init(&iter, roles);
	while (g_hash_table_iter_next(&iter, &key, &value))
		g_variant_dict_insert(&by_role, key, "u", GPOINTER_TO_UINT(value));
	g_variant_dict_insert_value(dict, "connections_by_role", g_variant_dict_end(&by_role));
	g_variant_dict_insert(&by_proto,
			      "plain",
			      "u",
			      self->n_registered[HERALD_WS_ROOMS_PROTO_PLAIN]);
	g_variant_dict_insert(&by_proto,
			      "socketio",
			      "u",
			      self->n_registered[HERALD_WS_ROOMS_PROTO_SIO]);
	g_variant_dict_insert_value(dict, "connections_by_protocol", g_variant_dict_end(&by_proto));
	g_variant_dict_insert(dict, "sessions", "u", self->clients.length);
	herald_ws_rooms_budget_add_stats(self->budget, dict);
	g_variant_dict_insert(dict, "rooms", "u", g_hash_table_size(self->rooms));
	g_variant_dict_insert(dict,
			      "accepted_plain_total",
			      "t",
			      self->accepted[HERALD_WS_ROOMS_PROTO_PLAIN]);
	g_variant_dict_insert(dict,
			      "accepted_socketio_websocket_total",
			      "t",
			      self->accepted[HERALD_WS_ROOMS_PROTO_SIO]);
	g_variant_dict_insert(dict, "messages_in_total", "t", self->messages_in);
	g_variant_dict_insert(dict, "messages_out_total", "t", self->messages_out);
	g_variant_dict_insert(dict, "bytes_out_total", "t", self->bytes_out);
	g_variant_dict_insert(dict,
			      "writer_threads",
			      "u",
			      herald_ws_rooms_writers_get_n_threads(self->writers));
	g_variant_dict_insert(dict,
			      "parallel_write_passes_total",
			      "t",
			      herald_ws_rooms_writers_get_parallel_runs(self->writers));
	g_variant_dict_insert(dict, "deliveries_total", "t", self->deliveries);
	g_variant_dict_insert(dict, "delivered_total", "t", self->delivered);
	g_variant_dict_insert(dict, "subscribes_total", "t", self->subscribes);
	g_variant_dict_insert(dict, "subscribes_refused_total", "t", self->subscribes_refused);
	g_variant_dict_insert(dict, "user_left_total", "t", self->users_left);
	g_variant_dict_insert(dict, "refreshes_total", "t", self->refreshes);
	g_variant_dict_insert(dict, "refreshes_refused_total", "t", self->refreshes_refused);
	g_variant_dict_insert(dict, "refresh_rooms_left_total", "t", self->refresh_rooms_left);
	g_variant_dict_insert(dict, "drops_reserved_name_total", "t", self->drops_reserved);
	g_variant_dict_insert(dict, "close_timeouts_total", "t", self->close_timeouts);
	g_variant_dict_insert(dict,
			      "socket_send_buffer_bytes",
			      "t",
			      self->limits.socket_send_buffer_bytes);
	g_variant_dict_insert(dict,
			      "drops_slow_consumer_total",
			      "t",
			      self->closes[HERALD_WS_ROOMS_REASON_SLOW_CONSUMER]);
	for (guint i = 0; i < HERALD_WS_ROOMS_REASON_LAST; i++)
		g_variant_dict_insert(&closes, reason_names[i], "t", self->closes[i]);
	g_variant_dict_insert_value(dict, "closes_total", g_variant_dict_end(&closes));
	g_hash_table_iter_init(&iter, self->rejects);
	while (g_hash_table_iter_next(&iter, &key, &value))
		g_variant_dict_insert(&rejects, key, "t", *(guint64 *)value);
	g_variant_dict_insert_value(dict, "rejected_total", g_variant_dict_end(&rejects));
}
