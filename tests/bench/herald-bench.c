/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * herald-bench: load generator for heraldd's WebSocket fan-out (ws-rooms).
 *
 * Opens N WebSocket connections (plain protocol or Socket.IO websocket-only),
 * each with its own HS256 JWT minted here, subscribes them to rooms, publishes
 * events through POST /api/events (or Redis PUBLISH), and measures
 * deliveries/s, end-to-end latency (a CLOCK_MONOTONIC timestamp travels in
 * the payload), losses, connect rate, heraldd's RSS and CPU time, and its own
 * CPU time. One JSON line per run on stdout; `--summarize FILE` turns JSON
 * lines (several runs) into a table of medians.
 *
 * One thread runs every client socket with epoll; a second thread publishes.
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <hiredis/hiredis.h>
#include <json-glib/json-glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SCRATCH_SIZE (256 * 1024)
#define WS_KEY	     "dGhlIHNhbXBsZSBub25jZQ=="

/* ---------------------------------------------------------------- options */

static gchar *opt_host = NULL;
static gint opt_port = 8003;
static gchar *opt_secret_file = NULL;
static gint opt_clients = 1000;
static gint opt_rooms = 1;
static gchar *opt_protocol = NULL;
static gint opt_events = 0;
static gdouble opt_rate = 0;
static gdouble opt_duration = 0;
static gchar *opt_publish = NULL;
static gint opt_redis_port = 6379;
static gint opt_http_conns = 8;
static gint opt_pad = 69;
static gboolean opt_idle = FALSE;
static gint opt_idle_wait = 2;
static gint opt_pid = 0;
static gchar *opt_scenario = NULL;
static gint opt_parallel = 200;
static gint opt_broadcast_every = 0;
static gdouble opt_client_pings = 0;
static gint opt_per_address = 0;
static gint opt_drain_timeout = 10;
static gint opt_connect_timeout = 120;
static gchar *opt_summarize = NULL;
static gboolean opt_free_port = FALSE;

static GOptionEntry entries[] = {
    {"host", 0, 0, G_OPTION_ARG_STRING, &opt_host, "heraldd address (127.0.0.1)", "IP"},
    {"port", 'p', 0, G_OPTION_ARG_INT, &opt_port, "heraldd port (8003)", "PORT"},
    {"secret-file", 's', 0, G_OPTION_ARG_FILENAME, &opt_secret_file, "HS256 secret", "FILE"},
    {"clients", 'n', 0, G_OPTION_ARG_INT, &opt_clients, "connections (1000)", "N"},
    {"rooms", 'r', 0, G_OPTION_ARG_INT, &opt_rooms, "rooms bench_0..R-1, clients round-robin (1)", "R"},
    {"protocol", 0, 0, G_OPTION_ARG_STRING, &opt_protocol, "plain | sio (plain)", "P"},
    {"events", 'e', 0, G_OPTION_ARG_INT, &opt_events, "events to publish", "E"},
    {"rate", 0, 0, G_OPTION_ARG_DOUBLE, &opt_rate, "events per second (0: as fast as possible)", "R"},
    {"duration", 'd', 0, G_OPTION_ARG_DOUBLE, &opt_duration, "seconds of publishing at --rate", "S"},
    {"publish", 0, 0, G_OPTION_ARG_STRING, &opt_publish, "http | redis (http)", "HOW"},
    {"redis-port", 0, 0, G_OPTION_ARG_INT, &opt_redis_port, "Redis port on 127.0.0.1 (6379)", "PORT"},
    {"http-conns", 0, 0, G_OPTION_ARG_INT, &opt_http_conns, "parallel publish connections (8)", "K"},
    {"pad", 0, 0, G_OPTION_ARG_INT, &opt_pad, "padding bytes in each payload (69: 120-byte plain frames)", "B"},
    {"idle", 0, 0, G_OPTION_ARG_NONE, &opt_idle, "connect only, measure memory per connection", NULL},
    {"idle-wait", 0, 0, G_OPTION_ARG_INT, &opt_idle_wait, "seconds to hold idle connections (2)", "S"},
    {"pid", 0, 0, G_OPTION_ARG_INT, &opt_pid, "heraldd's PID (RSS and CPU)", "PID"},
    {"scenario", 0, 0, G_OPTION_ARG_STRING, &opt_scenario, "name in the JSON line", "NAME"},
    {"parallel", 0, 0, G_OPTION_ARG_INT, &opt_parallel, "handshakes in flight (200)", "N"},
    {"broadcast-every", 0, 0, G_OPTION_ARG_INT, &opt_broadcast_every, "every Nth event to ws:room:all", "N"},
    {"client-pings", 0, 0, G_OPTION_ARG_DOUBLE, &opt_client_pings, "client pings per second in total", "R"},
    {"per-address", 0, 0, G_OPTION_ARG_INT, &opt_per_address, "connections per source 127.0.0.x", "N"},
    {"drain-timeout", 0, 0, G_OPTION_ARG_INT, &opt_drain_timeout, "seconds to wait for late deliveries (10)", "S"},
    {"connect-timeout", 0, 0, G_OPTION_ARG_INT, &opt_connect_timeout, "seconds for all handshakes (120)", "S"},
    {"summarize", 0, 0, G_OPTION_ARG_FILENAME, &opt_summarize, "print the table of a JSON-lines file", "FILE"},
    {"free-port", 0, 0, G_OPTION_ARG_NONE, &opt_free_port, "print a free loopback port and exit", NULL},
    {NULL},
};

/* ---------------------------------------------------------------- clients */

typedef enum {
	ST_NEW,
	ST_CONNECTING,
	ST_HANDSHAKE,
	ST_WAIT_OPEN,	   /* sio: Engine.IO open packet */
	ST_WAIT_SIO,	   /* sio: 40{"sid"} */
	ST_WAIT_CONNECTED, /* the "connected" message */
	ST_WAIT_SUBSCRIBED,
	ST_READY,
	ST_DEAD,
} ClientState;

typedef struct {
	gint fd;
	guint8 state;
	guint8 sio;
	guint16 room;
	guint32 tail_len;
	guint8 *tail; /* (nullable) unparsed bytes */
	guint32 received;
} Client;

typedef struct {
	Client *clients;
	gint n;
	gint ep;
	guint8 *scratch;
	gchar *secret;
	gsize secret_len;
	gchar *host;
	struct sockaddr_in server;
	guint per_address;
	/* connect phase */
	gint next;
	gint in_flight;
	gint ready;
	gint dead;
	gint failed_handshakes;
	gint connect_errors;
	gchar *first_error;
	/* events */
	gint n_events;
	gint16 *event_room; /* -1: broadcast */
	guint32 *expected;  /* per event */
	guint32 *got;	    /* per event */
	gint64 *ev_first;   /* per event: first and last delivery, minus the send time */
	gint64 *ev_last;
	guint64 expected_total;
	guint64 delivered;
	guint64 dups;
	guint64 bytes_in;
	guint64 frames_in;
	guint32 *lat; /* µs, one per delivery */
	guint64 n_lat;
	guint64 lat_cap;
	gint64 first_rx;
	gint64 last_rx;
	guint64 pongs;
	guint64 pings_sent;
	gint closed_during_run;
	/* publisher (written by its thread) */
	gint published;	     /* atomic */
	gint publish_errors; /* atomic */
	gint publish_done;   /* atomic */
	gint64 publish_start;
	gint64 publish_end;
	gint publish_lag_max_us;
	gchar *publish_first_error;
} Bench;

static Bench B;

static gint
bench_fail(const gchar *fmt, ...) G_GNUC_PRINTF(1, 2);

static gint
bench_fail(const gchar *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree gchar *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_printerr("herald-bench: %s\n", msg);
	return 1;
}

static guint64
raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur;
}

static gdouble
self_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (gdouble)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (gdouble)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* VmRSS of @pid in KiB, 0 if unknown */
static guint64
proc_rss_kib(gint pid)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%d/status", pid);
	g_autofree gchar *text = NULL;
	const gchar *p;
	if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	p = strstr(text, "VmRSS:");
	return p != NULL ? g_ascii_strtoull(p + 6, NULL, 10) : 0;
}

/* the soft RLIMIT_NOFILE of @pid, 0 if unknown */
static guint64
proc_nofile(gint pid)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%d/limits", pid);
	g_autofree gchar *text = NULL;
	const gchar *p;
	if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	p = strstr(text, "Max open files");
	return p != NULL ? g_ascii_strtoull(p + 14, NULL, 10) : 0;
}

/* utime + stime of @pid in seconds, -1 if unknown */
static gdouble
proc_cpu(gint pid)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%d/stat", pid);
	g_autofree gchar *text = NULL;
	g_auto(GStrv) fields = NULL;
	const gchar *p;
	if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
		return -1;
	/* skip "pid (comm) ": comm may hold spaces */
	p = strrchr(text, ')');
	if (p == NULL)
		return -1;
	fields = g_strsplit(p + 2, " ", 0);
	/* fields[0] is field 3 (state): utime is field 14, stime 15 */
	if (g_strv_length(fields) < 13)
		return -1;
	return (gdouble)(g_ascii_strtoull(fields[11], NULL, 10) +
			 g_ascii_strtoull(fields[12], NULL, 10)) /
	       (gdouble)sysconf(_SC_CLK_TCK);
}

/* ------------------------------------------------------------------- JWT */

static gchar *
b64url(const guint8 *data, gsize len)
{
	gchar *s = g_base64_encode(data, len);
	gsize j = 0;
	for (gsize i = 0; s[i] != '\0'; i++) {
		if (s[i] == '=')
			break;
		s[j++] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
	}
	s[j] = '\0';
	return s;
}

static gchar *
make_token(const gchar *sub, const gchar *role)
{
	static const gchar header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	g_autofree gchar *claims = g_strdup_printf("{\"sub\":\"%s\",\"role\":\"%s\",\"exp\":%" G_GINT64_FORMAT "}",
						   sub,
						   role,
						   g_get_real_time() / G_USEC_PER_SEC + 6 * 3600);
	g_autofree gchar *h = b64url((const guint8 *)header, strlen(header));
	g_autofree gchar *c = b64url((const guint8 *)claims, strlen(claims));
	g_autofree gchar *input = g_strdup_printf("%s.%s", h, c);
	g_autoptr(GHmac) hmac = g_hmac_new(G_CHECKSUM_SHA256, (const guchar *)B.secret, B.secret_len);
	guint8 digest[32];
	gsize dlen = sizeof(digest);
	g_autofree gchar *sig = NULL;

	g_hmac_update(hmac, (const guchar *)input, -1);
	g_hmac_get_digest(hmac, digest, &dlen);
	sig = b64url(digest, dlen);
	return g_strdup_printf("%s.%s", input, sig);
}

/* -------------------------------------------------------------- frames */

/* client→server text frame, masked with a zero key (RFC 6455 requires the
 * mask bit, not a random key for correctness) */
static void
client_send_text(Client *c, const gchar *text)
{
	gsize len = strlen(text);
	guint8 buf[1024];
	gsize h = 0;
	if (len + 14 > sizeof(buf))
		return;
	buf[h++] = 0x81;
	if (len < 126) {
		buf[h++] = 0x80 | (guint8)len;
	} else {
		buf[h++] = 0x80 | 126;
		buf[h++] = (guint8)(len >> 8);
		buf[h++] = (guint8)len;
	}
	memset(buf + h, 0, 4);
	h += 4;
	memcpy(buf + h, text, len);
	if (send(c->fd, buf, h + len, MSG_NOSIGNAL) < 0)
		g_debug("send: %s", g_strerror(errno));
}

static void
client_send_control(Client *c, guint8 opcode, const guint8 *payload, gsize len)
{
	guint8 buf[6 + 125];
	len = MIN(len, 125);
	buf[0] = 0x80 | opcode;
	buf[1] = 0x80 | (guint8)len;
	memset(buf + 2, 0, 4);
	if (len > 0)
		memcpy(buf + 6, payload, len);
	if (send(c->fd, buf, 6 + len, MSG_NOSIGNAL) < 0)
		g_debug("send: %s", g_strerror(errno));
}

static void
client_die(Client *c)
{
	if (c->state == ST_DEAD)
		return;
	if (c->state == ST_READY) {
		B.ready--;
		B.closed_during_run++;
	} else {
		B.in_flight--;
	}
	c->state = ST_DEAD;
	B.dead++;
	if (c->fd >= 0) {
		epoll_ctl(B.ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	g_clear_pointer(&c->tail, g_free);
	c->tail_len = 0;
}

static void
client_became_ready(Client *c)
{
	c->state = ST_READY;
	B.in_flight--;
	B.ready++;
}

static void
client_subscribe(Client *c)
{
	g_autofree gchar *msg = NULL;
	if (c->sio)
		msg = g_strdup_printf("42[\"subscribe\",{\"room\":\"bench_%u\"}]", c->room);
	else
		msg = g_strdup_printf("{\"type\":\"subscribe\",\"room\":\"bench_%u\"}", c->room);
	client_send_text(c, msg);
	c->state = ST_WAIT_SUBSCRIBED;
}

static gboolean
has(const guint8 *p, gsize len, const gchar *needle)
{
	return memmem(p, len, needle, strlen(needle)) != NULL;
}

static gboolean
parse_uint(const guint8 *p, const guint8 *end, guint64 *out)
{
	guint64 v = 0;
	const guint8 *s = p;
	while (p < end && *p >= '0' && *p <= '9')
		v = v * 10 + (guint64)(*p++ - '0');
	*out = v;
	return p > s;
}

/* a benchmark event: {"type":"bench","seq":N,"t":T,...} somewhere in the message */
static gboolean
record_delivery(Client *c, const guint8 *p, gsize len, gint64 now)
{
	const guint8 *end = p + len;
	const guint8 *s = memmem(p, len, "\"seq\":", 6);
	const guint8 *t;
	guint64 seq, ts;

	if (s == NULL)
		return FALSE;
	if (!parse_uint(s + 6, end, &seq))
		return FALSE;
	t = memmem(s, (gsize)(end - s), "\"t\":", 4);
	if (t == NULL || !parse_uint(t + 4, end, &ts))
		return FALSE;
	if (seq >= (guint64)B.n_events)
		return TRUE;
	if (B.got[seq] >= B.expected[seq])
		B.dups++;
	if (B.got[seq] == 0)
		B.ev_first[seq] = now - (gint64)ts;
	B.ev_last[seq] = now - (gint64)ts;
	B.got[seq]++;
	B.delivered++;
	c->received++;
	if (B.first_rx == 0)
		B.first_rx = now;
	B.last_rx = now;
	if (B.n_lat < B.lat_cap) {
		gint64 d = now - (gint64)ts;
		B.lat[B.n_lat++] = d < 0 ? 0 : (guint32)MIN(d, (gint64)G_MAXUINT32);
	}
	return TRUE;
}

/* the server refused the handshake or the subscription: count it, keep the first */
static void
client_refused(Client *c, const guint8 *p, gsize len)
{
	B.failed_handshakes++;
	if (B.first_error == NULL)
		B.first_error = g_strndup((const gchar *)p, MIN(len, 200));
	client_die(c);
}

/* the same replies in the two protocols' framing */
typedef struct {
	const gchar *connected, *subscribed, *error, *pong;
} Replies;

static const Replies plain_replies = {
    "\"type\":\"connected\"", "\"type\":\"subscribed\"", "\"type\":\"error\"", "\"type\":\"pong\""};
static const Replies sio_replies = {
    "42[\"connected\"", "42[\"subscribed\"", "42[\"error\"", "42[\"pong\""};

static void
client_text(Client *c, const guint8 *p, gsize len, gint64 now)
{
	const Replies *replies = c->sio ? &sio_replies : &plain_replies;

	if (c->sio) {
		/* Engine.IO: '2' ping, '0' open, '4' message; Socket.IO '40', '42', '44' */
		if (len >= 1 && p[0] == '2') {
			client_send_text(c, "3");
			return;
		}
		if (c->state == ST_WAIT_OPEN) {
			if (len >= 1 && p[0] == '0') {
				g_autofree gchar *sub = g_strdup_printf("bench-%ld", (long)(c - B.clients));
				g_autofree gchar *tok = make_token(sub, "BENCH");
				g_autofree gchar *msg = g_strdup_printf("40{\"token\":\"%s\"}", tok);
				client_send_text(c, msg);
				c->state = ST_WAIT_SIO;
			}
			return;
		}
		if (c->state == ST_WAIT_SIO) {
			if (len >= 2 && p[0] == '4' && p[1] == '4')
				client_refused(c, p, len);
			else if (len >= 2 && p[0] == '4' && p[1] == '0')
				c->state = ST_WAIT_CONNECTED;
			return;
		}
	}
	switch (c->state) {
	case ST_WAIT_CONNECTED:
		if (has(p, len, replies->connected)) {
			if (opt_idle)
				client_became_ready(c);
			else
				client_subscribe(c);
		}
		return;
	case ST_WAIT_SUBSCRIBED:
		if (has(p, len, replies->subscribed))
			client_became_ready(c);
		else if (has(p, len, replies->error))
			client_refused(c, p, len);
		return;
	case ST_READY:
		if (!record_delivery(c, p, len, now) && has(p, len, replies->pong))
			B.pongs++;
		return;
	default:
		return;
	}
}

/* parses server frames; returns the bytes used */
static gsize
client_frames(Client *c, const guint8 *buf, gsize len, gint64 now)
{
	gsize off = 0;
	while (off + 2 <= len && c->state != ST_DEAD) {
		const guint8 *f = buf + off;
		guint8 opcode = f[0] & 0x0f;
		guint64 plen = f[1] & 0x7f;
		gsize h = 2;
		if (plen == 126) {
			if (off + 4 > len)
				break;
			plen = ((guint64)f[2] << 8) | f[3];
			h = 4;
		} else if (plen == 127) {
			if (off + 10 > len)
				break;
			plen = 0;
			for (gint i = 0; i < 8; i++)
				plen = (plen << 8) | f[2 + i];
			h = 10;
		}
		if (off + h + plen > len)
			break;
		B.frames_in++;
		switch (opcode) {
		case 0x1:
			client_text(c, f + h, (gsize)plen, now);
			break;
		case 0x8:
			client_die(c);
			return len;
		case 0x9:
			client_send_control(c, 0xa, f + h, (gsize)plen);
			break;
		default:
			break;
		}
		off += h + (gsize)plen;
	}
	return off;
}

static void
client_keep_tail(Client *c, const guint8 *p, gsize len)
{
	g_clear_pointer(&c->tail, g_free);
	c->tail_len = (guint32)len;
	if (len > 0)
		c->tail = g_memdup2(p, len);
}

static void
client_readable(Client *c)
{
	for (;;) {
		gint64 now;
		gsize off = 0;
		gssize n;
		gsize total, used;

		if (c->state == ST_DEAD)
			return;
		if (c->tail_len > 0) {
			if (c->tail_len > SCRATCH_SIZE / 2) {
				client_die(c);
				return;
			}
			memcpy(B.scratch, c->tail, c->tail_len);
			off = c->tail_len;
		}
		n = recv(c->fd, B.scratch + off, SCRATCH_SIZE - off, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_die(c);
			return;
		}
		if (n == 0) {
			client_die(c);
			return;
		}
		/* the time of this read, not of the epoll batch: a late read is late */
		now = g_get_monotonic_time();
		B.bytes_in += (guint64)n;
		total = off + (gsize)n;
		used = 0;
		if (c->state == ST_HANDSHAKE) {
			const guint8 *end = memmem(B.scratch, total, "\r\n\r\n", 4);
			if (end == NULL) {
				client_keep_tail(c, B.scratch, total);
				if (total > 8192)
					client_die(c);
				continue;
			}
			if (total < 12 || memcmp(B.scratch + 9, "101", 3) != 0) {
				client_refused(c, B.scratch, total);
				return;
			}
			used = (gsize)(end + 4 - B.scratch);
			c->state = c->sio ? ST_WAIT_OPEN : ST_WAIT_CONNECTED;
		}
		used += client_frames(c, B.scratch + used, total - used, now);
		if (c->state == ST_DEAD)
			return;
		client_keep_tail(c, B.scratch + used, total - used);
		if ((gsize)n < SCRATCH_SIZE - off)
			return;
	}
}

static void
client_connected(Client *c)
{
	gint err = 0;
	socklen_t len = sizeof(err);
	g_autofree gchar *req = NULL;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err != 0) {
		B.connect_errors++;
		if (B.first_error == NULL)
			B.first_error = g_strdup_printf("connect: %s", g_strerror(err));
		client_die(c);
		return;
	}
	if (c->sio) {
		req = g_strdup_printf("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
				      "Host: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
				      "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
				      B.host,
				      opt_port);
	} else {
		g_autofree gchar *sub = g_strdup_printf("bench-%ld", (long)(c - B.clients));
		g_autofree gchar *tok = make_token(sub, "BENCH");
		req = g_strdup_printf("GET /ws?token=%s HTTP/1.1\r\n"
				      "Host: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
				      "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
				      tok,
				      B.host,
				      opt_port);
	}
	if (send(c->fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
		B.connect_errors++;
		client_die(c);
		return;
	}
	c->state = ST_HANDSHAKE;
	epoll_ctl(B.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
client_start(Client *c, gint idx)
{
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
	gint one = 1;
	gint fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	B.in_flight++;
	c->fd = fd;
	if (fd < 0) {
		B.connect_errors++;
		if (B.first_error == NULL)
			B.first_error = g_strdup_printf("socket: %s", g_strerror(errno));
		client_die(c);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* one source address has only so many ephemeral ports */
	if ((guint)opt_clients > B.per_address) {
		struct sockaddr_in src = {.sin_family = AF_INET};
		guint a = 1 + (guint)idx / B.per_address;
		src.sin_addr.s_addr = htonl((127u << 24) | MIN(a, 254u));
#ifdef IP_BIND_ADDRESS_NO_PORT
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
			B.connect_errors++;
			if (B.first_error == NULL)
				B.first_error = g_strdup_printf("bind: %s", g_strerror(errno));
			client_die(c);
			return;
		}
	}
	c->state = ST_CONNECTING;
	if (connect(fd, (struct sockaddr *)&B.server, sizeof(B.server)) != 0 && errno != EINPROGRESS) {
		B.connect_errors++;
		if (B.first_error == NULL)
			B.first_error = g_strdup_printf("connect: %s", g_strerror(errno));
		client_die(c);
		return;
	}
	epoll_ctl(B.ep, EPOLL_CTL_ADD, fd, &ev);
}

static void
poll_clients(gint timeout_ms)
{
	struct epoll_event evs[512];
	gint n = epoll_wait(B.ep, evs, G_N_ELEMENTS(evs), timeout_ms);
	for (gint i = 0; i < n; i++) {
		Client *c = evs[i].data.ptr;
		if (c->state == ST_CONNECTING) {
			client_connected(c);
			continue;
		}
		client_readable(c);
	}
}

/* ------------------------------------------------------------ publisher */

typedef struct {
	gint fd;
	gboolean busy;
	GByteArray *in;
} PubConn;

static gchar *pub_token = NULL;

static gchar *
event_payload(gint seq, gint64 t)
{
	/* verbatim for plain clients (an object with a string "type") */
	return g_strdup_printf("{\"type\":\"bench\",\"seq\":%d,\"t\":%" G_GINT64_FORMAT ",\"pad\":\"%.*s\"}",
			       seq,
			       t,
			       opt_pad,
			       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
}

static gchar *
event_channel(gint seq)
{
	if (B.event_room[seq] < 0)
		return g_strdup("ws:room:all");
	return g_strdup_printf("ws:room:bench_%d", B.event_room[seq]);
}

static void
publish_error(const gchar *what)
{
	g_atomic_int_inc(&B.publish_errors);
	if (B.publish_first_error == NULL)
		B.publish_first_error = g_strdup(what);
}

static gint
pub_connect(void)
{
	gint one = 1;
	gint fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&B.server, sizeof(B.server)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* a complete HTTP response in @in? consumes it and returns its status */
static gint
http_take_response(GByteArray *in)
{
	const guint8 *end = memmem(in->data, in->len, "\r\n\r\n", 4);
	g_autofree gchar *head = NULL;
	const gchar *cl;
	gsize hlen, body = 0;
	gint status;

	if (end == NULL)
		return 0;
	hlen = (gsize)(end + 4 - in->data);
	head = g_ascii_strdown((const gchar *)in->data, (gssize)hlen);
	cl = strstr(head, "\r\ncontent-length:");
	if (cl != NULL) {
		body = g_ascii_strtoull(cl + 17, NULL, 10);
	} else if (strstr(head, "transfer-encoding: chunked") != NULL) {
		const guint8 *z = memmem(in->data + hlen, in->len - hlen, "0\r\n\r\n", 5);
		if (z == NULL)
			return 0;
		body = (gsize)(z + 5 - (in->data + hlen));
	}
	if (in->len < hlen + body)
		return 0;
	status = (gint)g_ascii_strtoll(head + 9, NULL, 10);
	g_byte_array_remove_range(in, 0, (guint)(hlen + body));
	return status > 0 ? status : -1;
}

static gboolean
pub_send_http(PubConn *pc, gint seq)
{
	g_autofree gchar *channel = event_channel(seq);
	g_autofree gchar *payload = event_payload(seq, g_get_monotonic_time());
	g_autofree gchar *body = g_strdup_printf("{\"channel\":\"%s\",\"payload\":%s}", channel, payload);
	g_autofree gchar *req = g_strdup_printf("POST /api/events HTTP/1.1\r\nHost: %s:%d\r\n"
						"Authorization: Bearer %s\r\n"
						"Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
						B.host,
						opt_port,
						pub_token,
						strlen(body),
						body);
	gsize len = strlen(req), off = 0;
	while (off < len) {
		gssize w = send(pc->fd, req + off, len - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return FALSE;
		}
		off += (gsize)w;
	}
	pc->busy = TRUE;
	return TRUE;
}

static void
sleep_until(gint64 t)
{
	gint64 now = g_get_monotonic_time();
	if (t > now)
		g_usleep((gulong)(t - now));
}

static void
publisher_http(void)
{
	gint k = MAX(1, opt_http_conns);
	PubConn *pcs = g_new0(PubConn, k);
	struct pollfd *pfds = g_new0(struct pollfd, k);
	gint seq = 0, outstanding = 0;

	for (gint i = 0; i < k; i++) {
		pcs[i].fd = pub_connect();
		pcs[i].in = g_byte_array_new();
		if (pcs[i].fd < 0) {
			publish_error("cannot connect the publisher");
			goto out;
		}
	}
	B.publish_start = g_get_monotonic_time();
	while (seq < B.n_events || outstanding > 0) {
		gint64 now = g_get_monotonic_time();
		gint timeout = 1000;
		/* start requests that are due, on idle connections */
		for (gint i = 0; i < k && seq < B.n_events; i++) {
			gint64 due;
			if (pcs[i].busy)
				continue;
			due = opt_rate > 0 ? B.publish_start + (gint64)((gdouble)seq * 1e6 / opt_rate) : now;
			if (due > now) {
				timeout = (gint)MIN((due - now + 999) / 1000, 1000);
				break;
			}
			B.publish_lag_max_us = (gint)MAX(B.publish_lag_max_us, now - due);
			if (!pub_send_http(&pcs[i], seq)) {
				publish_error("send failed");
				goto out;
			}
			seq++;
			outstanding++;
		}
		/* wait for the next due time if a connection is free, else for a response */
		if (opt_rate > 0 && seq < B.n_events && outstanding < k) {
			gint64 due = B.publish_start + (gint64)((gdouble)seq * 1e6 / opt_rate);
			timeout = (gint)CLAMP((due - g_get_monotonic_time() + 999) / 1000, 0, 1000);
		} else if (seq < B.n_events && outstanding < k && opt_rate <= 0) {
			timeout = 0;
		} else {
			timeout = 1000;
		}
		for (gint i = 0; i < k; i++) {
			pfds[i].fd = pcs[i].busy ? pcs[i].fd : -1;
			pfds[i].events = POLLIN;
			pfds[i].revents = 0;
		}
		if (outstanding == 0) {
			if (timeout > 0)
				g_usleep((gulong)timeout * 1000);
			continue;
		}
		if (poll(pfds, (nfds_t)k, timeout) < 0 && errno != EINTR)
			break;
		for (gint i = 0; i < k; i++) {
			guint8 buf[4096];
			gssize r;
			gint status;
			if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = recv(pcs[i].fd, buf, sizeof(buf), 0);
			if (r <= 0) {
				publish_error("publisher connection closed");
				goto out;
			}
			g_byte_array_append(pcs[i].in, buf, (guint)r);
			while ((status = http_take_response(pcs[i].in)) != 0) {
				pcs[i].busy = FALSE;
				outstanding--;
				g_atomic_int_inc(&B.published);
				if (status < 200 || status >= 300) {
					g_autofree gchar *what = g_strdup_printf("HTTP %d", status);
					publish_error(what);
				}
			}
		}
	}
out:
	B.publish_end = g_get_monotonic_time();
	for (gint i = 0; i < k; i++) {
		if (pcs[i].fd >= 0)
			close(pcs[i].fd);
		if (pcs[i].in != NULL)
			g_byte_array_unref(pcs[i].in);
	}
	g_free(pcs);
	g_free(pfds);
}

static void
publisher_redis(void)
{
	struct timeval tv = {5, 0};
	redisContext *rc = redisConnectWithTimeout("127.0.0.1", opt_redis_port, tv);
	gint pending = 0;

	if (rc == NULL || rc->err) {
		publish_error(rc != NULL ? rc->errstr : "cannot connect to Redis");
		goto out;
	}
	B.publish_start = g_get_monotonic_time();
	for (gint seq = 0; seq < B.n_events; seq++) {
		g_autofree gchar *channel = NULL;
		g_autofree gchar *payload = NULL;
		if (opt_rate > 0) {
			gint64 due = B.publish_start + (gint64)((gdouble)seq * 1e6 / opt_rate);
			sleep_until(due);
			B.publish_lag_max_us = (gint)MAX(B.publish_lag_max_us, g_get_monotonic_time() - due);
		}
		channel = event_channel(seq);
		payload = event_payload(seq, g_get_monotonic_time());
		redisAppendCommand(rc, "PUBLISH %s %s", channel, payload);
		pending++;
		/* a burst is pipelined 64 deep; a paced run sends each at once */
		if (opt_rate > 0 || pending == 64 || seq + 1 == B.n_events) {
			while (pending > 0) {
				redisReply *reply = NULL;
				if (redisGetReply(rc, (void **)&reply) != REDIS_OK) {
					publish_error(rc->errstr);
					goto out;
				}
				if (reply->type == REDIS_REPLY_ERROR)
					publish_error(reply->str);
				freeReplyObject(reply);
				pending--;
				g_atomic_int_inc(&B.published);
			}
		}
	}
out:
	B.publish_end = g_get_monotonic_time();
	if (rc != NULL)
		redisFree(rc);
}

static gpointer
publisher_thread(gpointer data)
{
	if (g_strcmp0(opt_publish, "redis") == 0)
		publisher_redis();
	else
		publisher_http();
	g_atomic_int_set(&B.publish_done, 1);
	return NULL;
}

/* ------------------------------------------------------------- results */

static gint
cmp_u32(gconstpointer a, gconstpointer b)
{
	guint32 x = *(const guint32 *)a, y = *(const guint32 *)b;
	return x < y ? -1 : x > y;
}

static gdouble
pct_ms(gdouble p)
{
	guint64 i;
	if (B.n_lat == 0)
		return -1;
	i = (guint64)(p * (gdouble)(B.n_lat - 1) + 0.5);
	return B.lat[MIN(i, B.n_lat - 1)] / 1000.0;
}

static void
client_pings(gint64 *next_ping, gint64 now)
{
	if (opt_client_pings <= 0 || B.ready == 0)
		return;
	while (*next_ping <= now) {
		Client *c = &B.clients[g_random_int_range(0, B.n)];
		*next_ping += (gint64)(1e6 / opt_client_pings);
		if (c->state != ST_READY)
			continue;
		client_send_text(c, c->sio ? "42[\"ping\"]" : "{\"type\":\"ping\"}");
		B.pings_sent++;
	}
}

/* ------------------------------------------------------------ summary */

typedef struct {
	const gchar *name;
	GPtrArray *runs; /* JsonObject */
} Scenario;

/* sorts @v; %FALSE when it is empty */
static gboolean
median_of_values(GArray *v, gdouble *median)
{
	if (v->len == 0)
		return FALSE;
	for (guint i = 1; i < v->len; i++) {
		for (guint j = i; j > 0 && g_array_index(v, gdouble, j - 1) > g_array_index(v, gdouble, j); j--) {
			gdouble t = g_array_index(v, gdouble, j);
			g_array_index(v, gdouble, j) = g_array_index(v, gdouble, j - 1);
			g_array_index(v, gdouble, j - 1) = t;
		}
	}
	if (v->len % 2 == 1)
		*median = g_array_index(v, gdouble, v->len / 2);
	else
		*median = (g_array_index(v, gdouble, v->len / 2 - 1) + g_array_index(v, gdouble, v->len / 2)) / 2;
	return TRUE;
}

static gdouble
median_of(GPtrArray *runs, const gchar *key, gboolean *found)
{
	g_autoptr(GArray) v = g_array_new(FALSE, FALSE, sizeof(gdouble));
	gdouble median = 0;
	for (guint i = 0; i < runs->len; i++) {
		JsonObject *o = g_ptr_array_index(runs, i);
		JsonNode *n = json_object_get_member(o, key);
		gdouble d;
		if (n == NULL || json_node_get_node_type(n) != JSON_NODE_VALUE)
			continue;
		d = json_node_get_double(n);
		g_array_append_val(v, d);
	}
	*found = median_of_values(v, &median);
	return median;
}

static gchar *
fmt(GPtrArray *runs, const gchar *key, gint digits)
{
	gboolean found;
	gdouble v = median_of(runs, key, &found);
	if (!found || v < 0)
		return g_strdup("-");
	return g_strdup_printf("%.*f", digits, v);
}

static Scenario *
find_scenario(GPtrArray *list, const gchar *name)
{
	for (guint i = 0; i < list->len; i++) {
		Scenario *s = g_ptr_array_index(list, i);
		if (g_strcmp0(s->name, name) == 0)
			return s;
	}
	return NULL;
}

static gdouble
scenario_median(GPtrArray *list, const gchar *name, const gchar *key)
{
	Scenario *s = find_scenario(list, name);
	gboolean found = FALSE;
	gdouble v = s != NULL ? median_of(s->runs, key, &found) : 0;
	return found ? v : -1;
}

/* the median over runs of @num's k-th run / @den's k-th run: scenarios that
 * ran next to each other, so that both saw the same machine */
static gdouble
paired_ratio(GPtrArray *list, const gchar *num, const gchar *num_key, const gchar *den, const gchar *den_key)
{
	Scenario *n = find_scenario(list, num);
	Scenario *d = find_scenario(list, den);
	g_autoptr(GArray) ratios = g_array_new(FALSE, FALSE, sizeof(gdouble));
	gdouble median = -1;

	if (n == NULL || d == NULL)
		return -1;
	for (guint i = 0; i < MIN(n->runs->len, d->runs->len); i++) {
		gdouble x = json_object_get_double_member_with_default(g_ptr_array_index(n->runs, i), num_key, -1);
		gdouble y = json_object_get_double_member_with_default(g_ptr_array_index(d->runs, i), den_key, -1);
		gdouble r = x / y;
		if (x >= 0 && y > 0)
			g_array_append_val(ratios, r);
	}
	return median_of_values(ratios, &median) ? median : -1;
}

/* targets are defined at the issue's sizes; other runs (--quick) get none */
static const gchar *
verdict(gboolean full_size, gboolean met)
{
	if (!full_size)
		return "-";
	return met ? "MET" : "MISSED";
}

static gint
summarize(const gchar *path)
{
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;
	g_autoptr(GPtrArray) parsers = g_ptr_array_new_with_free_func(g_object_unref);
	g_autoptr(GPtrArray) list = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	gdouble raw8, a, sio, v;
	gboolean full_size;

	if (!g_file_get_contents(path, &text, NULL, &error))
		return bench_fail("%s", error->message);
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		JsonParser *parser;
		JsonObject *o;
		const gchar *name;
		Scenario *s;
		if (lines[i][0] != '{')
			continue;
		parser = json_parser_new();
		g_ptr_array_add(parsers, parser);
		if (!json_parser_load_from_data(parser, lines[i], -1, NULL) ||
		    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
			continue;
		o = json_node_get_object(json_parser_get_root(parser));
		name = json_object_get_string_member_with_default(o, "scenario", NULL);
		if (name == NULL)
			continue;
		s = find_scenario(list, name);
		if (s == NULL) {
			s = g_new0(Scenario, 1);
			s->name = name;
			s->runs = g_ptr_array_new();
			g_ptr_array_add(list, s);
		}
		g_ptr_array_add(s->runs, o);
	}
	g_print("%-14s %4s %6s %6s %9s %10s %7s %7s %7s %7s %7s %6s %7s %7s %7s %7s %5s\n",
		"scenario", "runs", "conns", "events", "delivered", "deliv/s", "lost", "p50ms",
		"p90ms", "p99ms", "maxms", "conn/s", "KiB/cn", "srvCPUs", "genCPU%", "frm/sc", "load");
	for (guint i = 0; i < list->len; i++) {
		Scenario *s = g_ptr_array_index(list, i);
		g_autofree gchar *conns = fmt(s->runs, "clients", 0);
		g_autofree gchar *events = fmt(s->runs, "events", 0);
		g_autofree gchar *delivered = fmt(s->runs, "delivered", 0);
		g_autofree gchar *rate = NULL;
		g_autofree gchar *lost = fmt(s->runs, "lost", 0);
		g_autofree gchar *p50 = fmt(s->runs, "lat_p50_ms", 2);
		g_autofree gchar *p90 = fmt(s->runs, "lat_p90_ms", 2);
		g_autofree gchar *p99 = fmt(s->runs, "lat_p99_ms", 2);
		g_autofree gchar *max = fmt(s->runs, "lat_max_ms", 1);
		g_autofree gchar *cps = fmt(s->runs, "connect_per_s", 0);
		g_autofree gchar *kib = fmt(s->runs, "kib_per_conn", 2);
		g_autofree gchar *scpu = fmt(s->runs, "heraldd_cpu_s", 2);
		g_autofree gchar *gcpu = fmt(s->runs, "gen_cpu_pct", 0);
		g_autofree gchar *fps = NULL;
		g_autofree gchar *load = fmt(s->runs, "load1", 1);
		gboolean f1 = FALSE, f2 = FALSE;
		gdouble dl = median_of(s->runs, "delivered", &f1);
		gdouble sc = median_of(s->runs, "heraldd_sendmsg", &f2);
		fps = f1 && f2 && sc > 0 ? g_strdup_printf("%.1f", dl / sc) : g_strdup("-");
		if (g_str_has_prefix(s->name, "raw")) {
			g_clear_pointer(&conns, g_free);
			conns = fmt(s->runs, "sockets", 0);
			g_clear_pointer(&delivered, g_free);
			delivered = fmt(s->runs, "frames", 0);
			rate = fmt(s->runs, "frames_per_s", 0);
		} else {
			rate = fmt(s->runs, "deliveries_per_s", 0);
		}
		g_print("%-14s %4u %6s %6s %9s %10s %7s %7s %7s %7s %7s %6s %7s %7s %7s %7s %5s\n",
			s->name, s->runs->len, conns, events, delivered, rate, lost, p50, p90, p99,
			max, cps, kib, scpu, gcpu, fps, load);
	}
	/* the targets of issue #7, as ratios within this run */
	g_print("\ntargets (medians):\n");
	/* the targets are defined for 1,000 clients (10,000 for c); a --quick run is a smoke test */
	full_size = scenario_median(list, "a", "clients") == 1000 || scenario_median(list, "b20", "clients") == 1000;
	if (!full_size)
		g_print("  (not the issue's sizes, e.g. --quick: no verdicts)\n");
	raw8 = scenario_median(list, "raw8", "frames_per_s");
	a = scenario_median(list, "a", "deliveries_per_s");
	v = paired_ratio(list, "a", "deliveries_per_s", "raw8", "frames_per_s");
	if (raw8 > 0 && a > 0 && v > 0)
		g_print("  (a)   deliveries/s / raw 8-per-write = %.0f / %.0f (medians); median of the runs' "
			"ratios %.0f%% (target >= 50%%, lost %.0f): %s\n",
			a, raw8, 100 * v, scenario_median(list, "a", "lost"),
			verdict(full_size, v >= 0.5 && scenario_median(list, "a", "lost") == 0));
	raw8 = scenario_median(list, "raw8", "frames_per_cpu_s");
	v = scenario_median(list, "a", "deliveries_per_cpu_s");
	if (raw8 > 0 && v > 0)
		g_print("  (a)   per CPU-second: heraldd %.0f deliveries / raw writer %.0f frames = %.0f%%\n",
			v, raw8, 100 * v / raw8);
	v = scenario_median(list, "a-redis", "deliveries_per_cpu_s");
	if (raw8 > 0 && v > 0)
		g_print("  (a)   per CPU-second over Redis: %.0f / %.0f = %.0f%%\n", v, raw8, 100 * v / raw8);
	raw8 = scenario_median(list, "raw8", "frames_per_s");
	v = scenario_median(list, "a-redis", "deliveries_per_s");
	if (raw8 > 0 && v > 0)
		g_print("  (a)   over Redis: %.0f / %.0f = %.0f%% of raw 8-per-write (lost %.0f)\n", v, raw8,
			100 * v / raw8, scenario_median(list, "a-redis", "lost"));
	v = scenario_median(list, "b", "lat_p99_ms");
	if (v >= 0) {
		gdouble ratio = scenario_median(list, "b", "delivered_ratio");
		gdouble offered = scenario_median(list, "b", "rate");
		gdouble pub = scenario_median(list, "b", "publish_per_s");
		gdouble tail = scenario_median(list, "b", "duration_s") - scenario_median(list, "b", "publish_s");
		gboolean keeps_up = ratio >= 0.9999 && pub >= 0.97 * offered && tail < 1.0;
		g_print("  (b)   200/s: published %.0f/s, delivered/expected %.4f, last delivery %.2f s after the "
			"last publish (%s); p99 = %.2f ms (target <= 50): %s\n",
			pub, ratio, tail, keeps_up ? "keeps up" : "falls behind", v,
			verdict(full_size, keeps_up && v <= 50));
	}
	v = scenario_median(list, "b20", "lat_p99_ms");
	if (v >= 0)
		g_print("  (b20) 20/s p99 = %.2f ms (target <= 10): %s\n", v, verdict(full_size, v <= 10));
	/* the same fan-out without Herald: bare write()s, 20 rounds a second */
	for (guint i = 0; v >= 0 && i < list->len; i++) {
		Scenario *s = g_ptr_array_index(list, i);
		gboolean found = FALSE;
		gdouble raw_p99;
		if (!g_str_has_prefix(s->name, "raw-paced20"))
			continue;
		raw_p99 = median_of(s->runs, "lat_p99_ms", &found);
		if (found)
			g_print("  (b20) the machine's own limit, %s: bare write()s from %.0f thread(s), "
				"p99 = %.2f ms; heraldd's p99 / its p99, median of the runs' ratios: %.0f%%\n",
				s->name, median_of(s->runs, "threads", &found), raw_p99,
				100 * paired_ratio(list, "b20", "lat_p99_ms", s->name, "lat_p99_ms"));
	}
	v = scenario_median(list, "c", "kib_per_conn");
	if (v >= 0)
		g_print("  (c)   %.2f KiB RSS per idle plain connection (target <= 6): %s\n", v, verdict(full_size, v <= 6));
	sio = scenario_median(list, "e", "deliveries_per_s");
	v = paired_ratio(list, "e", "deliveries_per_s", "a", "deliveries_per_s");
	if (sio > 0 && a > 0 && v > 0)
		g_print("  (e)   Socket.IO / plain deliveries/s = %.0f / %.0f (medians); median of the runs' "
			"ratios %.0f%% (target >= 80%%): %s\n",
			sio, a, 100 * v, verdict(full_size, v >= 0.8));
	sio = scenario_median(list, "e-redis", "deliveries_per_s");
	v = scenario_median(list, "a-redis", "deliveries_per_s");
	if (sio > 0 && v > 0)
		g_print("  (e)   over Redis: Socket.IO / plain = %.0f / %.0f = %.0f%%\n", sio, v, 100 * sio / v);
	for (guint i = 0; i < list->len; i++) {
		Scenario *s = g_ptr_array_index(list, i);
		g_ptr_array_unref(s->runs);
		g_free(s);
	}
	return 0;
}

/* ---------------------------------------------------------------- main */

static gint
free_port(void)
{
	gint fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		return bench_fail("no free port");
	g_print("%u\n", ntohs(a.sin_port));
	close(fd);
	return 0;
}

static guint
ephemeral_ports(void)
{
	g_autofree gchar *text = NULL;
	guint lo = 32768, hi = 60999;
	if (g_file_get_contents("/proc/sys/net/ipv4/ip_local_port_range", &text, NULL, NULL))
		sscanf(text, "%u %u", &lo, &hi);
	return hi > lo ? hi - lo + 1 : 1000;
}

int
main(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new("- load generator for heraldd (ws-rooms)");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *secret = NULL;
	GThread *pub = NULL;
	guint64 nofile, rss_before, rss_after = 0;
	gdouble srv_cpu0, srv_cpu1, gen_cpu0, gen_cpu1;
	gint64 t_connect0, t_connect1, t_run0, t_run1, next_ping, last_progress;
	guint64 last_delivered = 0;
	gboolean sio;
	GString *json;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error))
		return bench_fail("%s", error->message);
	if (opt_summarize != NULL)
		return summarize(opt_summarize);
	if (opt_free_port)
		return free_port();
	signal(SIGPIPE, SIG_IGN);
	nofile = raise_nofile();

	if (opt_secret_file == NULL || !g_file_get_contents(opt_secret_file, &secret, NULL, &error))
		return bench_fail("--secret-file: %s", error != NULL ? error->message : "missing");
	g_strchomp(secret);
	B.secret = secret;
	B.secret_len = strlen(secret);
	B.host = opt_host != NULL ? opt_host : "127.0.0.1";
	B.server.sin_family = AF_INET;
	B.server.sin_port = htons((guint16)opt_port);
	if (inet_pton(AF_INET, B.host, &B.server.sin_addr) != 1)
		return bench_fail("--host must be an IPv4 address");
	sio = g_strcmp0(opt_protocol, "sio") == 0;
	if (opt_protocol != NULL && !sio && g_strcmp0(opt_protocol, "plain") != 0)
		return bench_fail("--protocol is plain or sio");
	if (opt_clients < 1 || opt_rooms < 1 || opt_rooms > 30000)
		return bench_fail("bad --clients or --rooms");
	if ((guint64)opt_clients + 64 > nofile)
		return bench_fail("%d connections need more than RLIMIT_NOFILE %" G_GUINT64_FORMAT,
				  opt_clients, nofile);
	B.per_address = opt_per_address > 0 ? (guint)opt_per_address : ephemeral_ports() - 1000;
	if (opt_events <= 0 && opt_rate > 0 && opt_duration > 0)
		opt_events = (gint)(opt_rate * opt_duration + 0.5);
	if (opt_idle)
		opt_events = 0;

	/* who gets what, decided up front */
	B.n = opt_clients;
	B.clients = g_new0(Client, B.n);
	B.n_events = opt_events;
	B.event_room = g_new0(gint16, MAX(1, B.n_events));
	B.expected = g_new0(guint32, MAX(1, B.n_events));
	B.got = g_new0(guint32, MAX(1, B.n_events));
	B.ev_first = g_new0(gint64, MAX(1, B.n_events));
	B.ev_last = g_new0(gint64, MAX(1, B.n_events));
	{
		g_autofree guint32 *members = g_new0(guint32, opt_rooms);
		g_autoptr(GRand) rand = g_rand_new_with_seed(7);
		for (gint i = 0; i < B.n; i++) {
			B.clients[i].fd = -1;
			B.clients[i].sio = sio;
			B.clients[i].room = (guint16)(i % opt_rooms);
			members[i % opt_rooms]++;
		}
		for (gint e = 0; e < B.n_events; e++) {
			gboolean bc = opt_broadcast_every > 0 && e % opt_broadcast_every == opt_broadcast_every - 1;
			B.event_room[e] = bc ? -1 : opt_rooms == 1 ? 0 : (gint16)g_rand_int_range(rand, 0, opt_rooms);
			B.expected[e] = bc ? (guint32)B.n : members[B.event_room[e]];
			B.expected_total += B.expected[e];
		}
	}
	B.lat_cap = B.expected_total;
	B.lat = g_new(guint32, MAX(1, B.lat_cap));
	B.scratch = g_malloc(SCRATCH_SIZE);
	B.ep = epoll_create1(EPOLL_CLOEXEC);
	pub_token = make_token("bench-publisher", "SERVICE");

	/* connect */
	rss_before = proc_rss_kib(opt_pid);
	srv_cpu0 = proc_cpu(opt_pid);
	gen_cpu0 = self_cpu();
	t_connect0 = g_get_monotonic_time();
	while (B.ready + B.dead < B.n) {
		while (B.next < B.n && B.in_flight < opt_parallel) {
			client_start(&B.clients[B.next], B.next);
			B.next++;
		}
		poll_clients(100);
		if (g_get_monotonic_time() - t_connect0 > (gint64)opt_connect_timeout * G_USEC_PER_SEC)
			break;
	}
	t_connect1 = g_get_monotonic_time();
	if (B.ready == 0)
		return bench_fail("no client connected: %s", B.first_error != NULL ? B.first_error : "timeout");
	if (B.ready < B.n)
		g_printerr("herald-bench: %d of %d clients connected (%s)\n",
			   B.ready, B.n, B.first_error != NULL ? B.first_error : "timeout");

	if (opt_idle) {
		gint64 until = g_get_monotonic_time() + (gint64)opt_idle_wait * G_USEC_PER_SEC;
		while (g_get_monotonic_time() < until)
			poll_clients(100);
		rss_after = proc_rss_kib(opt_pid);
	} else {
		rss_after = proc_rss_kib(opt_pid);
	}

	/* publish and receive */
	srv_cpu1 = proc_cpu(opt_pid);
	gen_cpu1 = self_cpu();
	t_run0 = g_get_monotonic_time();
	if (B.n_events > 0) {
		srv_cpu0 = srv_cpu1;
		gen_cpu0 = gen_cpu1;
		pub = g_thread_new("publisher", publisher_thread, NULL);
		next_ping = g_get_monotonic_time();
		last_progress = g_get_monotonic_time();
		for (;;) {
			gint64 now;
			poll_clients(5);
			now = g_get_monotonic_time();
			client_pings(&next_ping, now);
			if (B.delivered != last_delivered) {
				last_delivered = B.delivered;
				last_progress = now;
			}
			if (!g_atomic_int_get(&B.publish_done)) {
				last_progress = MAX(last_progress, now - G_USEC_PER_SEC);
				continue;
			}
			if (B.delivered >= B.expected_total)
				break;
			if (now - last_progress > (gint64)opt_drain_timeout * G_USEC_PER_SEC)
				break;
		}
		g_thread_join(pub);
		/* late pongs */
		if (opt_client_pings > 0) {
			gint64 until = g_get_monotonic_time() + 200000;
			while (g_get_monotonic_time() < until && B.pongs < B.pings_sent)
				poll_clients(10);
		}
		srv_cpu1 = proc_cpu(opt_pid);
		gen_cpu1 = self_cpu();
	}
	t_run1 = g_get_monotonic_time();
	if (B.n_lat > 0)
		qsort(B.lat, B.n_lat, sizeof(guint32), cmp_u32);

	json = g_string_new("{");
	g_string_append_printf(json, "\"scenario\":\"%s\"", opt_scenario != NULL ? opt_scenario : "custom");
	g_string_append_printf(json, ",\"protocol\":\"%s\",\"publish\":\"%s\"", sio ? "sio" : "plain",
			       g_strcmp0(opt_publish, "redis") == 0 ? "redis" : "http");
	g_string_append_printf(json, ",\"clients\":%d,\"connected\":%d,\"rooms\":%d", B.n, B.ready + B.closed_during_run,
			       opt_rooms);
	g_string_append_printf(json, ",\"connect_s\":%.3f,\"connect_per_s\":%.0f",
			       (t_connect1 - t_connect0) / 1e6,
			       (B.ready + B.closed_during_run) / ((t_connect1 - t_connect0) / 1e6));
	g_string_append_printf(json, ",\"connect_errors\":%d,\"handshake_errors\":%d", B.connect_errors,
			       B.failed_handshakes);
	if (B.first_error != NULL) {
		g_autofree gchar *e = g_strescape(B.first_error, NULL);
		g_string_append_printf(json, ",\"first_error\":\"%s\"", e);
	}
	g_string_append_printf(json, ",\"nofile\":%" G_GUINT64_FORMAT, nofile);
	if (opt_pid > 0) {
		g_string_append_printf(json, ",\"heraldd_nofile\":%" G_GUINT64_FORMAT, proc_nofile(opt_pid));
		g_string_append_printf(json, ",\"rss_before_kib\":%" G_GUINT64_FORMAT ",\"rss_after_kib\":%" G_GUINT64_FORMAT,
				       rss_before, rss_after);
		if (B.ready > 0 && rss_after >= rss_before)
			g_string_append_printf(json, ",\"kib_per_conn\":%.2f",
					       (gdouble)(rss_after - rss_before) / (B.ready + B.closed_during_run));
	}
	if (B.n_events > 0) {
		gdouble run_s = (t_run1 - t_run0) / 1e6;
		gdouble pub_s = (B.publish_end - B.publish_start) / 1e6;
		gdouble span = B.last_rx > B.publish_start ? (B.last_rx - B.publish_start) / 1e6 : run_s;
		guint64 lost = 0;
		for (gint e = 0; e < B.n_events; e++)
			lost += B.got[e] < B.expected[e] ? B.expected[e] - B.got[e] : 0;
		g_string_append_printf(json, ",\"events\":%d,\"rate\":%.1f,\"published\":%d,\"publish_errors\":%d",
				       B.n_events, opt_rate, g_atomic_int_get(&B.published),
				       g_atomic_int_get(&B.publish_errors));
		if (B.publish_first_error != NULL) {
			g_autofree gchar *e = g_strescape(B.publish_first_error, NULL);
			g_string_append_printf(json, ",\"publish_first_error\":\"%s\"", e);
		}
		g_string_append_printf(json, ",\"publish_s\":%.3f,\"publish_per_s\":%.0f,\"publish_lag_max_ms\":%.2f",
				       pub_s, pub_s > 0 ? B.n_events / pub_s : 0, B.publish_lag_max_us / 1000.0);
		g_string_append_printf(json, ",\"expected\":%" G_GUINT64_FORMAT ",\"delivered\":%" G_GUINT64_FORMAT
				       ",\"lost\":%" G_GUINT64_FORMAT ",\"duplicates\":%" G_GUINT64_FORMAT
				       ",\"delivered_ratio\":%.6f",
				       B.expected_total, B.delivered, lost, B.dups,
				       B.expected_total > 0 ? (gdouble)B.delivered / B.expected_total : 0);
		g_string_append_printf(json, ",\"duration_s\":%.3f,\"deliveries_per_s\":%.0f", span,
				       span > 0 ? B.delivered / span : 0);
		g_string_append_printf(json, ",\"bytes_per_delivery\":%.1f",
				       B.delivered > 0 ? (gdouble)B.bytes_in / (gdouble)B.frames_in : 0);
		{
			/* per event: publish → first client, and first → last client (the fan-out pass) */
			g_autoptr(GArray) first = g_array_new(FALSE, FALSE, sizeof(guint32));
			g_autoptr(GArray) spread = g_array_new(FALSE, FALSE, sizeof(guint32));
			for (gint e = 0; e < B.n_events; e++) {
				guint32 f, d;
				if (B.got[e] == 0)
					continue;
				f = (guint32)CLAMP(B.ev_first[e], 0, G_MAXUINT32);
				d = (guint32)CLAMP(B.ev_last[e] - B.ev_first[e], 0, G_MAXUINT32);
				g_array_append_val(first, f);
				g_array_append_val(spread, d);
			}
			if (first->len > 0) {
				g_array_sort(first, cmp_u32);
				g_array_sort(spread, cmp_u32);
				g_string_append_printf(json, ",\"first_p50_ms\":%.3f,\"fanout_p50_ms\":%.3f,\"fanout_p99_ms\":%.3f",
						       g_array_index(first, guint32, first->len / 2) / 1000.0,
						       g_array_index(spread, guint32, spread->len / 2) / 1000.0,
						       g_array_index(spread, guint32, (guint)(0.99 * (spread->len - 1))) / 1000.0);
			}
		}
		g_string_append_printf(json, ",\"lat_p50_ms\":%.3f,\"lat_p90_ms\":%.3f,\"lat_p99_ms\":%.3f,\"lat_max_ms\":%.3f",
				       pct_ms(0.50), pct_ms(0.90), pct_ms(0.99), pct_ms(1.0));
		if (opt_client_pings > 0)
			g_string_append_printf(json, ",\"client_pings\":%" G_GUINT64_FORMAT ",\"pongs\":%" G_GUINT64_FORMAT,
					       B.pings_sent, B.pongs);
		g_string_append_printf(json, ",\"closed_during_run\":%d", B.closed_during_run);
		if (opt_pid > 0 && srv_cpu0 >= 0) {
			g_string_append_printf(json, ",\"heraldd_cpu_s\":%.2f,\"heraldd_cpu_pct\":%.0f",
					       srv_cpu1 - srv_cpu0, 100 * (srv_cpu1 - srv_cpu0) / run_s);
			/* what one core of heraldd delivers, whatever else the machine runs */
			if (srv_cpu1 - srv_cpu0 > 0)
				g_string_append_printf(json, ",\"deliveries_per_cpu_s\":%.0f",
						       B.delivered / (srv_cpu1 - srv_cpu0));
		}
		g_string_append_printf(json, ",\"gen_cpu_s\":%.2f,\"gen_cpu_pct\":%.0f", gen_cpu1 - gen_cpu0,
				       100 * (gen_cpu1 - gen_cpu0) / run_s);
	} else if (opt_pid > 0 && srv_cpu0 >= 0) {
		g_string_append_printf(json, ",\"heraldd_cpu_s\":%.2f,\"gen_cpu_s\":%.2f", srv_cpu1 - srv_cpu0,
				       gen_cpu1 - gen_cpu0);
	}
	g_string_append(json, "}");
	g_print("%s\n", json->str);
	g_string_free(json, TRUE);

	for (gint i = 0; i < B.n; i++) {
		if (B.clients[i].fd >= 0)
			close(B.clients[i].fd);
		g_free(B.clients[i].tail);
	}
	return 0;
}
