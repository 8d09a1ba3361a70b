/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The attack suite: each finding of the "hostile clients" review replayed
 * against a real heraldd (started by the test harness on loopback, with
 * redis-server where needed). Every subtest asserts the decided refusal
 * (HTTP status, JSON `error` or Engine.IO `code`, WebSocket close code),
 * that heraldd's PID is still alive at the end, that its memory (VmRSS) or
 * file descriptors stay under a stated bound, and that a valid user still
 * connects and receives an event while the attack runs.
 *
 * Attacks run on a thread of their own with blocking raw sockets (no main
 * context); the main thread meanwhile drives the valid clients (libsoup's
 * WebSocket client, and node with the unmodified `ws` / `socket.io-client`).
 *
 * Sizes are scaled down by default (the suite runs under ASan);
 * HERALD_ATTACK_SCALE=full uses the sizes of the findings — see
 * docs/security.md, "Attack suite".
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "herald-test-util.h"

/* HS256 secret of the suite: 64 bytes or more */
#define ATTACK_SECRET "herald-attack-suite-hs256-secret:0123456789abcdef0123456789abcdef!"
G_STATIC_ASSERT(sizeof(ATTACK_SECRET) - 1 >= 64);

#define MiB (1024 * 1024)

/* ------------------------------------------------------------ sizes */

typedef struct {
	const gchar *name;
	guint json_depth;	   /* `[` of the JSON bombs */
	guint ping_sessions;	   /* Engine.IO sessions of the ping flood */
	guint ping_posts;	   /* POSTs per session */
	guint pings_per_post;	   /* `2` packets per POST */
	guint64 ping_rss_bound_kib; /* VmRSS growth allowed during the ping flood */
	guint handshakes;	   /* tokenless polling handshakes */
	guint stalled_uploads;	   /* uploads that stop after 2 bytes */
	guint stalled_headers;	   /* connections that never finish their headers */
	guint64 chunked_cap;	   /* the endless chunked body stops here at the latest */
} AttackScale;

static const AttackScale scale_default = {
    .name = "default",
    .json_depth = 200000,
    .ping_sessions = 3,
    .ping_posts = 4,
    .pings_per_post = 500000,
    .ping_rss_bound_kib = 32 * 1024,
    .handshakes = 2000,
    .stalled_uploads = 8,
    .stalled_headers = 200,
    .chunked_cap = 128 * (guint64)MiB,
};

static const AttackScale scale_full = {
    .name = "full",
    .json_depth = 200000,
    .ping_sessions = 3,
    .ping_posts = 4,
    .pings_per_post = 500000,
    .ping_rss_bound_kib = 32 * 1024,
    .handshakes = 10000,
    .stalled_uploads = 64,
    .stalled_headers = 8000,
    .chunked_cap = 4096 * (guint64)MiB,
};

static const AttackScale *
attack_scale(void)
{
	const gchar *env = g_getenv("HERALD_ATTACK_SCALE");
	if (g_strcmp0(env, "full") == 0)
		return &scale_full;
	if (env != NULL && env[0] != '\0' && g_strcmp0(env, "default") != 0)
		g_error("HERALD_ATTACK_SCALE must be 'default' or 'full', not '%s'", env);
	return &scale_default;
}

/* ------------------------------------------------------------ daemon */

static gchar *
make_token(const gchar *sub, const gchar *role)
{
	g_autofree gchar *claims = g_strdup_printf("{\"sub\":\"%s\",\"role\":\"%s\"}", sub, role);
	return herald_test_make_token(ATTACK_SECRET, claims, 3600);
}

static HeraldTestDaemon *
start_daemon(const gchar *config)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *secret = NULL;
	HeraldTestDaemon *daemon = herald_test_daemon_new(config);
	/* the harness's own secret is shorter than this suite wants: replace the
	 * file its config points to */
	secret = herald_test_write_file(daemon->dir, "jwt.secret", ATTACK_SECRET "\n");
	if (!herald_test_daemon_start(daemon, &error))
		g_error("%s", error->message);
	return daemon;
}

static GPid
daemon_pid(HeraldTestDaemon *daemon)
{
	const gchar *id = g_subprocess_get_identifier(daemon->process);
	g_assert_nonnull(id);
	return (GPid)g_ascii_strtoll(id, NULL, 10);
}

/* heraldd is still the same running process, and it answers /health */
static void
assert_alive(HeraldTestDaemon *daemon, GPid pid)
{
	g_autofree gchar *url = g_strdup_printf("%s/health", daemon->base_url);
	g_autofree gchar *body = NULL;
	g_autofree gchar *status_file = g_strdup_printf("/proc/%d/status", (gint)pid);
	g_autofree gchar *status = NULL;
	guint code;

	while (g_main_context_iteration(NULL, FALSE))
		;
	if (daemon->exited) {
		g_autofree gchar *log = herald_test_daemon_get_log(daemon);
		g_printerr("heraldd log:\n%s\n", log);
		g_error("heraldd (PID %d) died with status %d", (gint)pid, daemon->exit_status);
	}
	g_assert_true(g_file_get_contents(status_file, &status, NULL, NULL));
	g_assert_null(strstr(status, "State:\tZ"));
	code = herald_test_http("GET", url, NULL, NULL, NULL, 0, &body, NULL);
	g_assert_cmpuint(code, ==, 200);
}

static guint64
proc_status_kib(GPid pid, const gchar *field)
{
	g_autofree gchar *fn = g_strdup_printf("/proc/%d/status", (gint)pid);
	g_autofree gchar *contents = NULL;
	const gchar *p;
	g_assert_true(g_file_get_contents(fn, &contents, NULL, NULL));
	p = strstr(contents, field);
	g_assert_nonnull(p);
	return g_ascii_strtoull(p + strlen(field), NULL, 10);
}

static guint
proc_fd_count(GPid pid)
{
	g_autofree gchar *fn = g_strdup_printf("/proc/%d/fd", (gint)pid);
	g_autoptr(GDir) dir = g_dir_open(fn, 0, NULL);
	guint n = 0;
	g_assert_nonnull(dir);
	while (g_dir_read_name(dir) != NULL)
		n++;
	return n;
}

static JsonNode *
get_json(HeraldTestDaemon *daemon, const gchar *path, guint *status)
{
	g_autofree gchar *url = g_strdup_printf("%s%s", daemon->base_url, path);
	g_autofree gchar *body = NULL;
	*status = herald_test_http("GET", url, NULL, NULL, NULL, 0, &body, NULL);
	return herald_test_parse_json(body);
}

/* the first member called @name anywhere in @node (counters whose group is
 * not decided), -1 when there is none */
static gint64
json_find_int(JsonNode *node, const gchar *name)
{
	if (node == NULL)
		return -1;
	if (JSON_NODE_HOLDS_OBJECT(node)) {
		JsonObject *obj = json_node_get_object(node);
		g_autoptr(GList) members = json_object_get_members(obj);
		JsonNode *direct = json_object_get_member(obj, name);
		if (direct != NULL && JSON_NODE_HOLDS_VALUE(direct))
			return json_node_get_int(direct);
		for (GList *l = members; l != NULL; l = l->next) {
			gint64 v = json_find_int(json_object_get_member(obj, l->data), name);
			if (v >= 0)
				return v;
		}
	}
	return -1;
}

/* POST /api/events as a service; returns `delivered` */
static gint64
publish(HeraldTestDaemon *daemon, const gchar *channel, const gchar *payload_json)
{
	g_autofree gchar *url = g_strdup_printf("%s/api/events", daemon->base_url);
	g_autofree gchar *token = make_token("attack-svc", "SERVICE");
	g_autofree gchar *body =
	    g_strdup_printf("{\"channel\":\"%s\",\"payload\":%s}", channel, payload_json);
	g_autofree gchar *reply = NULL;
	g_autoptr(JsonNode) node = NULL;
	guint status = herald_test_http(
	    "POST", url, token, "application/json", body, strlen(body), &reply, NULL);
	if (status != 202)
		g_error("publish %s: HTTP %u %s", channel, status, reply);
	node = herald_test_parse_json(reply);
	return herald_test_json_get_int(node, "delivered");
}

/* ------------------------------------------------------------ plain clients */

static HeraldTestWs *
plain_connect(HeraldTestDaemon *daemon, const gchar *sub, const gchar *role)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *token = make_token(sub, role);
	g_autofree gchar *url =
	    g_strdup_printf("ws://127.0.0.1:%u/ws?token=%s", daemon->port, token);
	HeraldTestWs *ws = herald_test_ws_connect(url, 30000, &error);
	if (ws == NULL)
		g_error("plain client %s could not connect: %s", sub, error->message);
	if (!herald_test_ws_wait(ws, 1, 30000))
		g_error("plain client %s: no `connected` (closed %d, code %u)",
			sub,
			ws->closed,
			ws->close_code);
	g_assert_cmpstr(herald_test_json_get_string(g_ptr_array_index(ws->messages, 0), "type"),
			==,
			"connected");
	return ws;
}

/* waits for the first message of @type from index *@from on; its index */
static JsonNode *
ws_take(HeraldTestWs *ws, guint *from, const gchar *type, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	for (;;) {
		for (guint i = *from; i < ws->messages->len; i++) {
			JsonNode *m = g_ptr_array_index(ws->messages, i);
			if (g_strcmp0(herald_test_json_get_string(m, "type"), type) == 0) {
				*from = i + 1;
				return m;
			}
		}
		if (ws->closed || g_get_monotonic_time() > deadline)
			return NULL;
		if (!g_main_context_iteration(NULL, FALSE))
			g_usleep(2000);
	}
}

static gboolean
ws_has_type(HeraldTestWs *ws, const gchar *type)
{
	for (guint i = 0; i < ws->messages->len; i++) {
		if (g_strcmp0(herald_test_json_get_string(g_ptr_array_index(ws->messages, i),
							  "type"),
			      type) == 0)
			return TRUE;
	}
	return FALSE;
}

/* a valid user: a new plain connection that receives an event published to it */
static void
witness(HeraldTestDaemon *daemon, const gchar *label)
{
	static guint n = 0;
	g_autofree gchar *sub = g_strdup_printf("witness%u", ++n);
	g_autofree gchar *channel = g_strdup_printf("ws:user:%s", sub);
	g_autofree gchar *payload =
	    g_strdup_printf("{\"type\":\"witness\",\"label\":\"%s\",\"n\":%u}", label, n);
	g_autoptr(HeraldTestWs) ws = plain_connect(daemon, sub, "ADVISOR");
	guint from = 1;
	JsonNode *m;

	g_assert_cmpint(publish(daemon, channel, payload), ==, 1);
	m = ws_take(ws, &from, "witness", 30000);
	if (m == NULL)
		g_error("%s: the valid client got no event", label);
	g_assert_cmpstr(herald_test_json_get_string(m, "label"), ==, label);
	g_test_message("%s: a valid plain client connected and received its event", label);
}

/* ------------------------------------------------------------ raw sockets */

/* a blocking TCP connection to 127.0.0.1:@port from @source (another
 * loopback address such as "127.0.0.2", or NULL) */
static GSocket *
raw_connect_from(guint16 port, const gchar *source, guint timeout_s)
{
	g_autoptr(GInetAddress) inet = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(inet, port);
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) sock = g_socket_new(G_SOCKET_FAMILY_IPV4,
					       G_SOCKET_TYPE_STREAM,
					       G_SOCKET_PROTOCOL_TCP,
					       &error);
	if (sock == NULL)
		return NULL;
	g_socket_set_timeout(sock, timeout_s);
	if (source != NULL) {
		g_autoptr(GSocketAddress) local = g_inet_socket_address_new_from_string(source, 0);
		if (local == NULL || !g_socket_bind(sock, local, FALSE, &error))
			return NULL;
	}
	if (!g_socket_connect(sock, addr, NULL, &error))
		return NULL;
	return g_steal_pointer(&sock);
}

static GSocket *
raw_connect(guint16 port, guint timeout_s)
{
	return raw_connect_from(port, NULL, timeout_s);
}

static gboolean
raw_send_all(GSocket *sock, const gchar *data, gsize len)
{
	while (len > 0) {
		gssize n = g_socket_send(sock, data, len, NULL, NULL);
		if (n <= 0)
			return FALSE;
		data += n;
		len -= (gsize)n;
	}
	return TRUE;
}

/* one response from @sock: FALSE when no complete header arrived (timeout,
 * reset before anything); the body per Content-Length, chunked, or to EOF */
typedef struct {
	guint status;
	gchar *body;
	gboolean connection_close; /* `Connection: close` */
} RawResponse;

static void
raw_response_clear(RawResponse *r)
{
	g_clear_pointer(&r->body, g_free);
}

static gssize
raw_recv(GSocket *sock, gchar *buf, gsize len)
{
	return g_socket_receive(sock, buf, len, NULL, NULL);
}

static gboolean
raw_read_response(GSocket *sock, RawResponse *r)
{
	g_autoptr(GString) buf = g_string_new(NULL);
	g_autoptr(GString) body = g_string_new(NULL);
	gchar tmp[16384];
	const gchar *end;
	gsize head_len;
	g_autofree gchar *head = NULL;
	gint64 content_length = -1;
	gboolean chunked = FALSE;
	g_auto(GStrv) lines = NULL;

	memset(r, 0, sizeof(*r));
	while ((end = strstr(buf->str, "\r\n\r\n")) == NULL) {
		gssize n = raw_recv(sock, tmp, sizeof(tmp));
		if (n <= 0)
			return FALSE;
		g_string_append_len(buf, tmp, n);
		if (buf->len > 65536)
			return FALSE;
	}
	head_len = (gsize)(end - buf->str) + 4;
	head = g_strndup(buf->str, head_len);
	if (!g_str_has_prefix(head, "HTTP/1.1 ") && !g_str_has_prefix(head, "HTTP/1.0 "))
		return FALSE;
	r->status = (guint)g_ascii_strtoull(head + 9, NULL, 10);
	lines = g_strsplit(head, "\r\n", -1);
	for (guint i = 1; lines[i] != NULL; i++) {
		gchar *colon = strchr(lines[i], ':');
		g_autofree gchar *value = NULL;
		if (colon == NULL)
			continue;
		*colon = '\0';
		value = g_strstrip(g_strdup(colon + 1));
		if (g_ascii_strcasecmp(lines[i], "Content-Length") == 0)
			content_length = g_ascii_strtoll(value, NULL, 10);
		else if (g_ascii_strcasecmp(lines[i], "Transfer-Encoding") == 0 &&
			 g_ascii_strcasecmp(value, "chunked") == 0)
			chunked = TRUE;
		else if (g_ascii_strcasecmp(lines[i], "Connection") == 0 &&
			 g_ascii_strcasecmp(value, "close") == 0)
			r->connection_close = TRUE;
	}
	g_string_erase(buf, 0, (gssize)head_len);
	if (chunked) {
		/* decode until the last chunk */
		for (;;) {
			const gchar *crlf = strstr(buf->str, "\r\n");
			gsize size;
			if (crlf != NULL) {
				size = (gsize)g_ascii_strtoull(buf->str, NULL, 16);
				if (size == 0)
					break;
				if (buf->len >= (gsize)(crlf - buf->str) + 2 + size + 2) {
					g_string_append_len(body, crlf + 2, (gssize)size);
					g_string_erase(buf,
						       0,
						       (gssize)((crlf - buf->str) + 2 + size + 2));
					continue;
				}
			}
			{
				gssize n = raw_recv(sock, tmp, sizeof(tmp));
				if (n <= 0)
					break;
				g_string_append_len(buf, tmp, n);
			}
		}
	} else if (content_length >= 0) {
		while ((gint64)buf->len < content_length) {
			gssize n = raw_recv(sock, tmp, sizeof(tmp));
			if (n <= 0)
				break;
			g_string_append_len(buf, tmp, n);
		}
		g_string_append_len(body, buf->str, MIN((gssize)buf->len, content_length));
	} else {
		for (;;) {
			gssize n = raw_recv(sock, tmp, sizeof(tmp));
			if (n <= 0)
				break;
			g_string_append_len(buf, tmp, n);
		}
		g_string_append_len(body, buf->str, (gssize)buf->len);
	}
	r->body = g_string_free(g_steal_pointer(&body), FALSE);
	return TRUE;
}

/* the server closed the connection (EOF or reset) before the socket's
 * timeout; whatever else it sent is discarded */
static gboolean
raw_wait_closed(GSocket *sock)
{
	gchar tmp[4096];
	for (guint i = 0; i < 100000; i++) {
		g_autoptr(GError) error = NULL;
		gssize n = g_socket_receive(sock, tmp, sizeof(tmp), NULL, &error);
		if (n == 0)
			return TRUE;
		if (n < 0)
			return !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
	}
	return FALSE;
}

/* the response's body is JSON with a string member @member equal to
 * @expected (NULL: any string) */
static void
assert_json_string(const gchar *body, const gchar *member, const gchar *expected)
{
	g_autoptr(JsonNode) node = herald_test_parse_json(body);
	const gchar *got = herald_test_json_get_string(node, member);
	if (got == NULL || (expected != NULL && g_strcmp0(got, expected) != 0))
		g_error("expected \"%s\":\"%s\" in %s", member, expected ? expected : "…", body);
}

/* an Engine.IO polling handshake without a token: the sid, or NULL */
static gchar *
eio_handshake(GSocket *sock, guint *status)
{
	static const gchar req[] = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n"
				   "Host: 127.0.0.1\r\n\r\n";
	RawResponse r;
	g_autoptr(JsonParser) parser = NULL;
	gchar *sid = NULL;

	*status = 0;
	if (!raw_send_all(sock, req, sizeof(req) - 1) || !raw_read_response(sock, &r))
		return NULL;
	*status = r.status;
	if (r.status == 200 && r.body[0] == '0') {
		parser = json_parser_new();
		if (json_parser_load_from_data(parser, r.body + 1, -1, NULL) &&
		    JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
			JsonObject *obj = json_node_get_object(json_parser_get_root(parser));
			if (json_object_has_member(obj, "sid"))
				sid = g_strdup(json_object_get_string_member(obj, "sid"));
		}
	}
	raw_response_clear(&r);
	return sid;
}

/* sends @total bytes (@pattern repeated) while the server has not answered:
 * stops as soon as there is something to read (an answer, EOF, a reset),
 * when a write fails, or when the socket stays unwritable for 10 s; the
 * bytes handed to the kernel */
static guint64
raw_send_unanswered(GSocket *sock, const gchar *pattern, gsize pattern_len, guint64 total)
{
	gint fd = g_socket_get_fd(sock);
	guint64 sent = 0;
	while (sent < total) {
		struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
		gsize off = (gsize)(sent % pattern_len);
		gsize n = (gsize)MIN((guint64)(pattern_len - off), total - sent);
		gssize w;
		if (poll(&p, 1, 10000) <= 0)
			break;
		if (p.revents & (POLLIN | POLLHUP | POLLERR))
			break;
		w = send(fd, pattern + off, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			break;
		}
		sent += (guint64)w;
	}
	return sent;
}

/* a request whose body may be refused while it is sent (see
 * raw_send_unanswered); @sent: body bytes handed to the kernel */
static gboolean
raw_request_early(GSocket *sock,
		  const gchar *head,
		  const gchar *body,
		  gsize len,
		  RawResponse *r,
		  gsize *sent)
{
	*sent = 0;
	if (!raw_send_all(sock, head, strlen(head)))
		return FALSE;
	*sent = (gsize)raw_send_unanswered(sock, body, len, len);
	return raw_read_response(sock, r);
}

/* ------------------------------------------------------------ attack threads */

typedef struct {
	GThread *thread;
	gint done;
	gint stop;
	gpointer data;
} Attack;

static void
attack_start(Attack *a, GThreadFunc func, gpointer data)
{
	a->data = data;
	g_atomic_int_set(&a->done, 0);
	g_atomic_int_set(&a->stop, 0);
	a->thread = g_thread_new("attack", func, a);
}

static gboolean
attack_is_done(gpointer user_data)
{
	return g_atomic_int_get(&((Attack *)user_data)->done) != 0;
}

/* keeps the main context running until the attack thread ends */
static void
attack_join(Attack *a, guint timeout_ms)
{
	if (!herald_test_wait_until(attack_is_done, a, timeout_ms))
		g_error("the attack thread did not end within %u ms", timeout_ms);
	g_thread_join(a->thread);
	a->thread = NULL;
}

/* ================================================================ 1. JSON bomb */

typedef struct {
	guint16 port;
	guint depth;
	guint status;
	gchar *body;
	guint later_status;
	gchar *later_body;
	guint close_packets; /* polls answered with the close packet `1` */
} JsonBombPolling;

/* an Engine.IO polling payload that carries the close packet */
static gboolean
eio_payload_has_close(const gchar *payload)
{
	g_auto(GStrv) packets = g_strsplit(payload, "\x1e", -1);
	for (guint i = 0; packets[i] != NULL; i++) {
		if (g_strcmp0(packets[i], "1") == 0)
			return TRUE;
	}
	return FALSE;
}

static gpointer
json_bomb_polling_thread(gpointer user_data)
{
	Attack *a = user_data;
	JsonBombPolling *t = a->data;
	g_autoptr(GSocket) sock = raw_connect(t->port, 30);
	g_autoptr(GString) body = g_string_new("42");
	g_autofree gchar *sid = NULL;
	g_autofree gchar *head = NULL;
	RawResponse r;
	gsize sent = 0;
	guint hs = 0;

	if (sock == NULL)
		goto out;
	sid = eio_handshake(sock, &hs);
	if (sid == NULL)
		goto out;
	for (guint i = 0; i < t->depth; i++)
		g_string_append_c(body, '[');
	head = g_strdup_printf("POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"
			       "Host: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\n"
			       "Content-Length: %" G_GSIZE_FORMAT "\r\n\r\n",
			       sid,
			       body->len);
	g_clear_object(&sock);
	sock = raw_connect(t->port, 30);
	if (sock != NULL && raw_request_early(sock, head, body->str, body->len, &r, &sent)) {
		t->status = r.status;
		t->body = g_steal_pointer(&r.body);
	}
	/* the session is gone: its next poll is "Session ID unknown" — or, when
	 * the server kept the close packet `1` for the client's next GET, the
	 * one after it */
	for (guint i = 0; i < 2; i++) {
		g_autofree gchar *get =
		    g_strdup_printf("GET /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"
				    "Host: 127.0.0.1\r\n\r\n",
				    sid);
		g_clear_object(&sock);
		sock = raw_connect(t->port, 30);
		if (sock == NULL || !raw_send_all(sock, get, strlen(get)) ||
		    !raw_read_response(sock, &r))
			break;
		t->later_status = r.status;
		g_free(t->later_body);
		t->later_body = g_steal_pointer(&r.body);
		if (t->later_status != 200 || !eio_payload_has_close(t->later_body))
			break;
		t->close_packets++;
	}
out:
	g_atomic_int_set(&a->done, 1);
	return NULL;
}

static void
redis_publish(HeraldTestServer *redis, const gchar *channel, const gchar *message)
{
	g_autofree gchar *out = NULL;
	/* -x: the message from stdin (the bomb is too big for argv) */
	g_assert_cmpint(herald_test_redis_cli(redis->port, message, &out, "PUBLISH", channel, NULL),
			==,
			0);
}

static void
test_json_bomb(void)
{
	const AttackScale *s = attack_scale();
	g_autoptr(HeraldTestServer) redis = herald_test_redis_start();
	g_autofree gchar *config = NULL;
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(HeraldTestWs) sub = NULL;
	g_autoptr(HeraldTestWs) bomber = NULL;
	g_autoptr(JsonNode) stats = NULL;
	g_autoptr(GString) bomb = g_string_new(NULL);
	JsonBombPolling polling = {0};
	Attack a = {0};
	guint from = 1;
	guint status;
	GPid pid;

	config = g_strdup_printf("[host]\nplugins=ws-rooms;redis-bridge;notifier-whatsapp\n"
				 "[ws-rooms]\nmax-message-bytes=1048576\n"
				 "[redis-bridge]\nurl=redis://127.0.0.1:%u/0\n"
				 "[notifier-whatsapp]\nmode=none\nstore=file\n",
				 redis->port);
	daemon = start_daemon(config);
	pid = daemon_pid(daemon);
	for (guint i = 0; i < s->json_depth; i++)
		g_string_append_c(bomb, '[');

	/* a subscriber of room x, fed through Redis once the bridge listens */
	sub = plain_connect(daemon, "bomb-admin", "ADMIN");
	herald_test_ws_send(sub, "{\"type\":\"subscribe\",\"room\":\"x\"}");
	g_assert_nonnull(ws_take(sub, &from, "subscribed", 30000));
	for (guint i = 0; i < 100; i++) {
		redis_publish(redis, "ws:room:x", "{\"type\":\"bridge_ready\"}");
		if (ws_take(sub, &from, "bridge_ready", 200) != NULL)
			break;
		g_assert_cmpuint(i, <, 99);
	}

	/* a) Socket.IO over polling: `42` + [[[[… → 400 code 3, session closed */
	polling.port = daemon->port;
	polling.depth = s->json_depth;
	attack_start(&a, json_bomb_polling_thread, &polling);
	witness(daemon, "json-bomb/polling");
	attack_join(&a, 60000);
	g_test_message("polling bomb: HTTP %u %s; %u poll(s) got the close packet, then HTTP %u %s",
		       polling.status,
		       polling.body,
		       polling.close_packets,
		       polling.later_status,
		       polling.later_body);
	assert_alive(daemon, pid);
	g_assert_cmpuint(polling.status, ==, 400);
	{
		g_autoptr(JsonNode) node = herald_test_parse_json(polling.body);
		g_assert_cmpint(herald_test_json_get_int(node, "code"), ==, 3);
	}
	g_assert_cmpuint(polling.later_status, ==, 400);
	{
		g_autoptr(JsonNode) node = herald_test_parse_json(polling.later_body);
		g_assert_cmpint(herald_test_json_get_int(node, "code"), ==, 1);
	}

	/* b) plain /ws with max-message-bytes 1 MiB → close 1007 */
	bomber = plain_connect(daemon, "bomb-plain", "ADMIN");
	herald_test_ws_send(bomber, bomb->str);
	herald_test_ws_wait(bomber, G_MAXUINT, 30000);
	g_test_message("plain bomb: closed %d, code %u", bomber->closed, bomber->close_code);
	assert_alive(daemon, pid);
	g_assert_true(bomber->closed);
	g_assert_cmpuint(bomber->close_code, ==, 1007);

	/* c) POST /api/notifications/send with a service token → 400 invalid_argument */
	{
		g_autofree gchar *url =
		    g_strdup_printf("%s/api/notifications/send", daemon->base_url);
		g_autofree gchar *token = make_token("bomb-svc", "SERVICE");
		g_autofree gchar *reply = NULL;
		g_autoptr(GString) body =
		    g_string_new("{\"user_id\":\"u1\",\"title\":\"t\",\"message\":\"m\",\"data\":");
		g_string_append_len(body, bomb->str, (gssize)bomb->len);
		status = herald_test_http(
		    "POST", url, token, "application/json", body->str, body->len, &reply, NULL);
		g_test_message("notification bomb: HTTP %u %s", status, reply);
		assert_alive(daemon, pid);
		g_assert_cmpuint(status, ==, 400);
		assert_json_string(reply, "error", "invalid_argument");
	}

	/* d) Redis PUBLISH on a routed channel → dropped; the next event still
	 * reaches the subscriber */
	redis_publish(redis, "ws:room:x", bomb->str);
	redis_publish(redis, "ws:room:x", "{\"type\":\"after_bomb\"}");
	g_assert_nonnull(ws_take(sub, &from, "after_bomb", 30000));
	assert_alive(daemon, pid);

	witness(daemon, "json-bomb/after");
	stats = get_json(daemon, "/stats", &status);
	g_assert_cmpuint(status, ==, 200);
	/* polling packet, plain frame, HTTP body, Redis message */
	g_test_message("json_too_deep_total = %" G_GINT64_FORMAT,
		       json_find_int(stats, "json_too_deep_total"));
	g_assert_cmpint(json_find_int(stats, "json_too_deep_total"), >=, 4);
	assert_alive(daemon, pid);
	g_free(polling.body);
	g_free(polling.later_body);
	g_clear_pointer(&sub, herald_test_ws_free);
	g_clear_pointer(&bomber, herald_test_ws_free);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

/* ================================================================ 2. ping flood */

typedef struct {
	guint16 port;
	const AttackScale *s;
	GArray *statuses; /* guint per POST; 0 = no answer */
	gsize body_len;
} PingFlood;

static gpointer
ping_flood_thread(gpointer user_data)
{
	Attack *a = user_data;
	PingFlood *t = a->data;
	g_autoptr(GString) body = g_string_sized_new(2 * (gsize)t->s->pings_per_post);

	for (guint i = 0; i < t->s->pings_per_post; i++) {
		if (i > 0)
			g_string_append_c(body, '\x1e');
		g_string_append_c(body, '2');
	}
	t->body_len = body->len;
	for (guint sess = 0; sess < t->s->ping_sessions; sess++) {
		g_autoptr(GSocket) hs_sock = raw_connect(t->port, 30);
		g_autofree gchar *sid = NULL;
		guint hs = 0;
		if (hs_sock != NULL)
			sid = eio_handshake(hs_sock, &hs);
		for (guint p = 0; p < t->s->ping_posts; p++) {
			g_autoptr(GSocket) sock = raw_connect(t->port, 30);
			g_autofree gchar *head = NULL;
			RawResponse r;
			gsize sent = 0;
			guint status = 0;
			if (sid != NULL && sock != NULL) {
				head = g_strdup_printf(
				    "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"
				    "Host: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\n"
				    "Content-Length: %" G_GSIZE_FORMAT "\r\n\r\n",
				    sid,
				    body->len);
				if (raw_request_early(
					sock, head, body->str, body->len, &r, &sent)) {
					status = r.status;
					raw_response_clear(&r);
				}
			}
			g_array_append_val(t->statuses, status);
		}
	}
	g_atomic_int_set(&a->done, 1);
	return NULL;
}

static void
test_ping_flood(void)
{
	const AttackScale *s = attack_scale();
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(HeraldTestWs) before_ws = NULL;
	g_autofree gchar *asan_saved = g_strdup(g_getenv("ASAN_OPTIONS"));
	PingFlood flood = {0};
	Attack a = {0};
	guint64 rss_before, rss_after, hwm_after;
	guint from = 1;
	GPid pid;

	/* ASan keeps freed memory in quarantine (256 MiB by default), which would
	 * show up as growth: a small quarantine for this daemon */
	if (asan_saved != NULL) {
		g_autofree gchar *opts = g_strdup_printf("%s:quarantine_size_mb=4", asan_saved);
		g_setenv("ASAN_OPTIONS", opts, TRUE);
	}
	daemon = start_daemon("[host]\nplugins=ws-rooms\n[ws-rooms]\nmax-payload=1000000\n");
	if (asan_saved != NULL)
		g_setenv("ASAN_OPTIONS", asan_saved, TRUE);
	pid = daemon_pid(daemon);

	/* warm up (first connections, first events), then the baseline; a user
	 * connected before the attack */
	witness(daemon, "ping-flood/warm-up");
	before_ws = plain_connect(daemon, "ping-before", "CLIENT");
	rss_before = proc_status_kib(pid, "VmRSS:");

	flood.port = daemon->port;
	flood.s = s;
	flood.statuses = g_array_new(FALSE, TRUE, sizeof(guint));
	attack_start(&a, ping_flood_thread, &flood);
	witness(daemon, "ping-flood/during");
	attack_join(&a, 120000);
	rss_after = proc_status_kib(pid, "VmRSS:");
	hwm_after = proc_status_kib(pid, "VmHWM:");
	g_test_message("ping flood (%s): %u sessions x %u POSTs of %u pings (%" G_GSIZE_FORMAT
		       " bytes): VmRSS %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT
		       " KiB (growth %" G_GINT64_FORMAT " KiB, bound %" G_GUINT64_FORMAT
		       " KiB), VmHWM %" G_GUINT64_FORMAT " KiB",
		       s->name,
		       s->ping_sessions,
		       s->ping_posts,
		       s->pings_per_post,
		       flood.body_len,
		       rss_before,
		       rss_after,
		       (gint64)rss_after - (gint64)rss_before,
		       s->ping_rss_bound_kib,
		       hwm_after);
	g_printerr("# attack ping-flood (%s): VmRSS growth %" G_GINT64_FORMAT
		   " KiB (before %" G_GUINT64_FORMAT " KiB, peak %" G_GUINT64_FORMAT " KiB)\n",
		   s->name,
		   (gint64)rss_after - (gint64)rss_before,
		   rss_before,
		   hwm_after);
	assert_alive(daemon, pid);
	g_assert_cmpuint(flood.statuses->len, ==, s->ping_sessions * s->ping_posts);
	for (guint i = 0; i < flood.statuses->len; i++) {
		guint st = g_array_index(flood.statuses, guint, i);
		g_test_message("ping POST %u: HTTP %u", i, st);
		g_assert_cmpuint(st, >=, 400);
		g_assert_cmpuint(st, <, 500);
	}
	g_assert_cmpuint(rss_after, <, rss_before + s->ping_rss_bound_kib);

	/* the user connected before still gets events, a new one too */
	g_assert_cmpint(publish(daemon, "ws:user:ping-before", "{\"type\":\"still_here\"}"), ==, 1);
	g_assert_nonnull(ws_take(before_ws, &from, "still_here", 30000));
	witness(daemon, "ping-flood/after");
	assert_alive(daemon, pid);
	g_array_unref(flood.statuses);
	g_clear_pointer(&before_ws, herald_test_ws_free);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

/* ================================================================ 3. handshake flood */

#define HANDSHAKE_MAX_PENDING 100

/* the flood comes from 127.0.0.1 (where the valid clients are too) and three
 * more loopback addresses: 4 x max-pending-per-address (32) is more than
 * max-pending, so the global budget is what holds */
static const gchar *const flood_sources[] = {"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"};

typedef struct {
	guint16 port;
	guint min_count;
	gint count;   /* handshakes answered */
	gint ok;      /* … with 200 and a sid */
	gint refused; /* … with anything else (503 …) */
	gint failed;  /* no answer */
	gint64 elapsed_us;
} HandshakeFlood;

static gpointer
handshake_flood_thread(gpointer user_data)
{
	Attack *a = user_data;
	HandshakeFlood *t = a->data;
	gint64 start = g_get_monotonic_time();
	gint64 deadline = start + 90 * G_USEC_PER_SEC;
	guint cap = t->min_count * 20;

	GSocket *socks[G_N_ELEMENTS(flood_sources)] = {NULL};

	/* at least min_count; more while the main thread is not done, bounded;
	 * round-robin over the source addresses, on kept-alive connections (a
	 * new one when the server closed it) */
	for (guint i = 0; i < cap; i++) {
		g_autofree gchar *sid = NULL;
		guint status = 0;
		guint j = i % G_N_ELEMENTS(flood_sources);
		if (i >= t->min_count && g_atomic_int_get(&a->stop))
			break;
		if (g_get_monotonic_time() > deadline)
			break;
		if (socks[j] != NULL)
			sid = eio_handshake(socks[j], &status);
		if (sid == NULL && status == 0) {
			g_clear_object(&socks[j]);
			socks[j] = raw_connect_from(t->port, flood_sources[j], 10);
			if (socks[j] != NULL)
				sid = eio_handshake(socks[j], &status);
		}
		if (sid != NULL)
			g_atomic_int_inc(&t->ok);
		else if (status != 0)
			g_atomic_int_inc(&t->refused);
		else
			g_atomic_int_inc(&t->failed);
		g_atomic_int_inc(&t->count);
	}
	t->elapsed_us = g_get_monotonic_time() - start;
	for (guint j = 0; j < G_N_ELEMENTS(flood_sources); j++)
		g_clear_object(&socks[j]);
	g_atomic_int_set(&a->done, 1);
	return NULL;
}

static gboolean
handshake_flood_started(gpointer user_data)
{
	Attack *a = user_data;
	HandshakeFlood *t = a->data;
	return g_atomic_int_get(&t->count) >= 3 * HANDSHAKE_MAX_PENDING ||
	       g_atomic_int_get(&a->done);
}



/* node valid-clients.js against @daemon; its JSON summary */
static JsonNode *
run_valid_clients(HeraldTestDaemon *daemon, const gchar *tag)
{
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
	    G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *modules = herald_test_node_modules_dir();
	g_autofree gchar *script = g_test_build_filename(G_TEST_DIST, "valid-clients.js", NULL);
	g_autofree gchar *out = NULL;
	g_auto(GStrv) lines = NULL;
	const gchar *last = NULL;

	g_subprocess_launcher_setenv(launcher, "HERALD_BASE_URL", daemon->base_url, TRUE);
	g_subprocess_launcher_setenv(launcher, "HERALD_SECRET", ATTACK_SECRET, TRUE);
	g_subprocess_launcher_setenv(launcher, "HERALD_TEST_NODE_MODULES", modules, TRUE);
	g_subprocess_launcher_setenv(launcher, "HERALD_NODE_TIMEOUT_MS", "60000", TRUE);
	proc = g_subprocess_launcher_spawn(launcher, &error, herald_test_node_program(), script, tag, NULL);
	g_assert_no_error(error);
	/* the script ends itself after HERALD_NODE_TIMEOUT_MS at the latest */
	g_subprocess_communicate_utf8(proc, NULL, NULL, &out, NULL, &error);
	g_assert_no_error(error);
	lines = g_strsplit(out != NULL ? out : "", "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (lines[i][0] != '\0') {
			g_test_message("valid-clients.js: %s", lines[i]);
			last = lines[i];
		}
	}
	if (!g_subprocess_get_if_exited(proc) || g_subprocess_get_exit_status(proc) != 0 ||
	    last == NULL)
		g_error("node valid-clients.js failed:\n%s", out);
	return herald_test_parse_json(last);
}

static void
test_handshake_flood(void)
{
	const AttackScale *s = attack_scale();
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(JsonNode) summary = NULL;
	g_autoptr(JsonNode) stats = NULL;
	g_autoptr(JsonNode) health = NULL;
	g_autofree gchar *config = NULL;
	g_autofree gchar *health_text = NULL;
	HandshakeFlood flood = {0};
	Attack a = {0};
	guint status;
	gint64 pending, evicted;
	GPid pid;

	/* node and its clients first: nothing to start when they are missing */
	g_free(herald_test_node_modules_dir());
	herald_test_node_program();
	/* max-connections at half the flood, so that the finding (sessions
	 * without CONNECT filling max-connections) replays at this size too */
	config = g_strdup_printf("[host]\nplugins=ws-rooms\n"
				 "[ws-rooms]\nmax-pending=%u\nmax-connections=%u\n",
				 HANDSHAKE_MAX_PENDING,
				 s->handshakes / 2);
	daemon = start_daemon(config);
	pid = daemon_pid(daemon);

	flood.port = daemon->port;
	flood.min_count = s->handshakes;
	attack_start(&a, handshake_flood_thread, &flood);
	g_assert_true(herald_test_wait_until(handshake_flood_started, &a, 60000));

	/* while the flood runs: the official clients and a libsoup plain client */
	summary = run_valid_clients(daemon, "flood");
	g_assert_true(json_node_get_boolean(
	    json_object_get_member(json_node_get_object(summary), "sio_event")));
	g_assert_true(json_node_get_boolean(
	    json_object_get_member(json_node_get_object(summary), "plain_event")));
	witness(daemon, "handshake-flood/during");

	/* the pending budget, seen while the flood still runs */
	stats = get_json(daemon, "/stats", &status);
	g_assert_cmpuint(status, ==, 200);
	pending = herald_test_json_get_int(stats, "plugins.ws-rooms.pending_sessions");
	evicted = herald_test_json_get_int(stats, "plugins.ws-rooms.pending_evicted_total");
	{
		g_autofree gchar *url = g_strdup_printf("%s/health", daemon->base_url);
		status = herald_test_http("GET", url, NULL, NULL, NULL, 0, &health_text, NULL);
		g_assert_cmpuint(status, ==, 200);
	}
	g_atomic_int_set(&a.stop, 1);
	attack_join(&a, 120000);
	g_test_message("handshake flood (%s): %d handshakes in %.1f s (%d with a sid, %d "
		       "refused, %d unanswered) while %" G_GINT64_FORMAT
		       " sio attempt(s) connected; pending_sessions %" G_GINT64_FORMAT
		       ", pending_evicted_total %" G_GINT64_FORMAT "; /health %s",
		       s->name,
		       flood.count,
		       (gdouble)flood.elapsed_us / G_USEC_PER_SEC,
		       flood.ok,
		       flood.refused,
		       flood.failed,
		       herald_test_json_get_int(summary, "sio_attempts"),
		       pending,
		       evicted,
		       health_text);
	assert_alive(daemon, pid);
	g_assert_cmpint(flood.count, >=, (gint)s->handshakes);
	/* a flood never refuses new handshakes: it evicts the oldest pending */
	g_assert_cmpint(flood.ok, ==, flood.count);
	g_assert_cmpint(pending, >=, 0);
	g_assert_cmpint(pending, <=, HANDSHAKE_MAX_PENDING);
	g_assert_cmpint(evicted, >, 0);
	/* /health shows the pending count (its place is documented there) */
	health = herald_test_parse_json(health_text);
	g_assert_cmpint(json_find_int(health, "pending"), >=, 0);
	g_assert_cmpint(json_find_int(health, "pending"), <=, HANDSHAKE_MAX_PENDING);
	g_assert_cmpint(json_find_int(stats, "pending_sessions"), <=, HANDSHAKE_MAX_PENDING);

	/* after the flood: still at most max-pending, and users are served */
	g_clear_pointer(&stats, json_node_unref);
	stats = get_json(daemon, "/stats", &status);
	g_assert_cmpint(herald_test_json_get_int(stats, "plugins.ws-rooms.pending_sessions"),
			<=,
			HANDSHAKE_MAX_PENDING);
	witness(daemon, "handshake-flood/after");
	assert_alive(daemon, pid);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

/* ================================================================ 4. refresh */

static gboolean
json_array_has(JsonNode *node, const gchar *path, const gchar *value)
{
	g_auto(GStrv) parts = g_strsplit(path, ".", -1);
	JsonArray *array;
	for (guint i = 0; parts[i] != NULL; i++) {
		if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
			return FALSE;
		node = json_object_get_member(json_node_get_object(node), parts[i]);
	}
	if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
		return FALSE;
	array = json_node_get_array(node);
	for (guint i = 0; i < json_array_get_length(array); i++) {
		if (g_strcmp0(json_array_get_string_element(array, i), value) == 0)
			return TRUE;
	}
	return FALSE;
}

static void
test_refresh(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("[host]\nplugins=ws-rooms\n");
	g_autoptr(HeraldTestWs) ws = plain_connect(daemon, "1", "ADMIN");
	g_autoptr(HeraldTestWs) other = NULL;
	g_autofree gchar *client_token = make_token("1", "CLIENT");
	g_autofree gchar *foreign_token = make_token("2", "CLIENT");
	g_autofree gchar *msg = NULL;
	g_autofree gchar *text = NULL;
	JsonNode *connected = g_ptr_array_index(ws->messages, 0);
	JsonNode *refreshed;
	guint from = 1;
	GPid pid = daemon_pid(daemon);

	/* ADMIN: in `admin` on connect, and (`*`) another user's personal room */
	g_assert_true(json_array_has(connected, "payload.rooms", "admin"));
	herald_test_ws_send(ws, "{\"type\":\"subscribe\",\"room\":\"user_999\"}");
	g_assert_nonnull(ws_take(ws, &from, "subscribed", 30000));
	g_assert_cmpint(publish(daemon, "ws:user:999", "{\"type\":\"spy_before\"}"), ==, 1);
	g_assert_nonnull(ws_take(ws, &from, "spy_before", 30000));

	/* the same user's CLIENT token: re-authorized, the ADMIN rooms left */
	msg = g_strdup_printf("{\"type\":\"refresh\",\"token\":\"%s\"}", client_token);
	herald_test_ws_send(ws, msg);
	refreshed = ws_take(ws, &from, "refreshed", 30000);
	g_assert_nonnull(refreshed);
	text = json_to_string(refreshed, FALSE);
	g_test_message("refreshed: %s", text);
	g_assert_cmpstr(herald_test_json_get_string(refreshed, "payload.role"), ==, "CLIENT");
	g_assert_true(json_array_has(refreshed, "payload.rooms", "client"));
	g_assert_true(json_array_has(refreshed, "payload.rooms", "user_1"));
	g_assert_false(json_array_has(refreshed, "payload.rooms", "admin"));
	g_assert_false(json_array_has(refreshed, "payload.rooms", "user_999"));
	g_assert_true(json_array_has(refreshed, "payload.left", "admin"));
	g_assert_true(json_array_has(refreshed, "payload.left", "user_999"));

	/* events to the old rooms no longer arrive; one to `client` does */
	g_assert_cmpint(publish(daemon, "ws:room:admin", "{\"type\":\"to_admin\"}"), ==, 0);
	g_assert_cmpint(publish(daemon, "ws:user:999", "{\"type\":\"to_999\"}"), ==, 0);
	g_assert_cmpint(publish(daemon, "ws:room:client", "{\"type\":\"to_client\"}"), ==, 1);
	g_assert_nonnull(ws_take(ws, &from, "to_client", 30000));
	herald_test_ws_send(ws, "{\"type\":\"ping\"}");
	g_assert_nonnull(ws_take(ws, &from, "pong", 30000));
	g_assert_false(ws_has_type(ws, "to_admin"));
	g_assert_false(ws_has_type(ws, "to_999"));
	/* the personal room stays */
	g_assert_cmpint(publish(daemon, "ws:user:1", "{\"type\":\"to_me\"}"), ==, 1);
	g_assert_nonnull(ws_take(ws, &from, "to_me", 30000));

	/* a token of another user is refused: no `refreshed` (an error, or the
	 * connection ends) */
	g_free(msg);
	msg = g_strdup_printf("{\"type\":\"refresh\",\"token\":\"%s\"}", foreign_token);
	herald_test_ws_send(ws, msg);
	{
		guint before = ws->messages->len;
		JsonNode *reply = ws_take(ws, &from, "error", 30000);
		if (reply == NULL)
			g_assert_true(ws->closed);
		for (guint i = before; i < ws->messages->len; i++)
			g_assert_cmpstr(herald_test_json_get_string(
					    g_ptr_array_index(ws->messages, i), "type"),
					!=,
					"refreshed");
	}
	if (!ws->closed) {
		/* and it gave the connection no rooms of user 2 */
		g_assert_cmpint(publish(daemon, "ws:user:2", "{\"type\":\"to_2\"}"), ==, 0);
	}

	/* another ADMIN, who never refreshed, keeps its rooms */
	other = plain_connect(daemon, "998", "ADMIN");
	g_assert_cmpint(publish(daemon, "ws:room:admin", "{\"type\":\"to_admin2\"}"), ==, 1);
	{
		guint ofrom = 1;
		g_assert_nonnull(ws_take(other, &ofrom, "to_admin2", 30000));
	}
	witness(daemon, "refresh/after");
	assert_alive(daemon, pid);
	g_clear_pointer(&ws, herald_test_ws_free);
	g_clear_pointer(&other, herald_test_ws_free);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

/* ================================================================ 5. HTTP */

typedef struct {
	guint16 port;
	const AttackScale *s;
	gchar *service_token;
	GPtrArray *upload_tokens;
	/* stalls */
	gint holding;
	guint headers_cut;
	guint uploads_cut;
	guint uploads_408;
	/* one-shot requests */
	guint big_cl_status;
	gchar *big_cl_body;
	gboolean big_cl_closed;
	guint chunked_status;
	gchar *chunked_body;
	guint64 chunked_sent;
	gboolean chunked_closed;
	guint neg_cl_status;
	gchar *neg_cl_body;
	gboolean neg_cl_closed;
	guint polling_status;
	gsize polling_sent;
	gsize polling_total;
	gint64 ms[4]; /* how long each one-shot attack took */
} HttpAttack;

/* waits until every socket of @socks was closed by the server (EOF or
 * reset); returns how many were, at the latest at @timeout_ms */
static guint
wait_all_closed(GPtrArray *socks, guint timeout_ms, guint *got_408)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	g_autofree struct pollfd *fds = g_new0(struct pollfd, socks->len);
	g_autofree gboolean *closed = g_new0(gboolean, socks->len);
	g_autoptr(GPtrArray) received = g_ptr_array_new_with_free_func((GDestroyNotify)g_free);
	guint n_closed = 0;

	for (guint i = 0; i < socks->len; i++)
		g_ptr_array_add(received, g_strdup(""));
	while (n_closed < socks->len && g_get_monotonic_time() < deadline) {
		guint nfds = 0;
		g_autofree guint *index = g_new0(guint, socks->len);
		for (guint i = 0; i < socks->len; i++) {
			if (closed[i])
				continue;
			fds[nfds].fd = g_socket_get_fd(g_ptr_array_index(socks, i));
			fds[nfds].events = POLLIN;
			fds[nfds].revents = 0;
			index[nfds++] = i;
		}
		if (poll(fds, nfds, 200) <= 0)
			continue;
		for (guint j = 0; j < nfds; j++) {
			gchar buf[4096];
			gssize n;
			guint i = index[j];
			if (fds[j].revents == 0)
				continue;
			n = recv(fds[j].fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
			if (n > 0) {
				gchar *prev = g_ptr_array_index(received, i);
				if (strlen(prev) < 64) {
					buf[n] = '\0';
					received->pdata[i] = g_strconcat(prev, buf, NULL);
					g_free(prev);
				}
				continue;
			}
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			closed[i] = TRUE;
			n_closed++;
			if (got_408 != NULL &&
			    g_str_has_prefix(g_ptr_array_index(received, i), "HTTP/1.1 408"))
				(*got_408)++;
		}
	}
	return n_closed;
}

static gpointer
http_stall_thread(gpointer user_data)
{
	Attack *a = user_data;
	HttpAttack *t = a->data;
	g_autoptr(GPtrArray) headers = g_ptr_array_new_with_free_func(g_object_unref);
	g_autoptr(GPtrArray) uploads = g_ptr_array_new_with_free_func(g_object_unref);
	static const gchar partial[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

	/* M connections that never finish their headers */
	for (guint i = 0; i < t->s->stalled_headers; i++) {
		GSocket *sock = raw_connect(t->port, 10);
		if (sock == NULL)
			break;
		g_ptr_array_add(headers, sock);
		raw_send_all(sock, partial, sizeof(partial) - 1);
	}
	/* K uploads (one user each) that stop after 2 bytes of body */
	for (guint i = 0; i < t->upload_tokens->len; i++) {
		g_autofree gchar *req =
		    g_strdup_printf("POST /v1/files/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				    "Authorization: Bearer %s\r\n"
				    "Content-Type: multipart/form-data; boundary=b\r\n"
				    "Content-Length: 4096\r\n\r\n--",
				    (const gchar *)g_ptr_array_index(t->upload_tokens, i));
		GSocket *sock = raw_connect(t->port, 10);
		if (sock == NULL)
			break;
		g_ptr_array_add(uploads, sock);
		raw_send_all(sock, req, strlen(req));
	}
	g_atomic_int_set(&t->holding, 1);
	t->headers_cut = headers->len == t->s->stalled_headers
			     ? wait_all_closed(headers, 60000, NULL)
			     : 0;
	t->uploads_cut = uploads->len == t->upload_tokens->len
			     ? wait_all_closed(uploads, 60000, &t->uploads_408)
			     : 0;
	g_atomic_int_set(&a->done, 1);
	return NULL;
}

static gpointer
http_oneshot_thread(gpointer user_data)
{
	Attack *a = user_data;
	HttpAttack *t = a->data;
	RawResponse r;
	gint64 start = g_get_monotonic_time();

	/* Content-Length: 100 MB, no body → 413 at once, then EOF */
	{
		g_autoptr(GSocket) sock = raw_connect(t->port, 10);
		g_autofree gchar *req =
		    g_strdup_printf("POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
				    "Content-Length: 104857600\r\n\r\n",
				    t->service_token);
		if (sock != NULL && raw_send_all(sock, req, strlen(req)) &&
		    raw_read_response(sock, &r)) {
			t->big_cl_status = r.status;
			t->big_cl_body = g_steal_pointer(&r.body);
			t->big_cl_closed = raw_wait_closed(sock);
		}
	}
	t->ms[0] = (g_get_monotonic_time() - start) / 1000;
	start = g_get_monotonic_time();
	/* an endless chunked body → 413 and EOF after a bounded amount */
	{
		g_autoptr(GSocket) sock = raw_connect(t->port, 10);
		g_autofree gchar *req =
		    g_strdup_printf("POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
				    "Transfer-Encoding: chunked\r\n\r\n",
				    t->service_token);
		g_autoptr(GString) chunk = g_string_new("10000\r\n");
		for (guint i = 0; i < 65536; i++)
			g_string_append_c(chunk, ' ');
		g_string_append(chunk, "\r\n");
		/* 64 KiB chunks until the server answers, stops reading for 10 s
		 * or closes (or the cap) */
		if (sock != NULL && raw_send_all(sock, req, strlen(req))) {
			guint64 cap = t->s->chunked_cap / chunk->len * chunk->len;
			t->chunked_sent = raw_send_unanswered(sock, chunk->str, chunk->len, cap);
			if (raw_read_response(sock, &r)) {
				t->chunked_status = r.status;
				t->chunked_body = g_steal_pointer(&r.body);
				t->chunked_closed = raw_wait_closed(sock);
			}
		}
	}
	t->ms[1] = (g_get_monotonic_time() - start) / 1000;
	start = g_get_monotonic_time();
	/* Content-Length: -1 → 400 and close, no hang */
	{
		g_autoptr(GSocket) sock = raw_connect(t->port, 10);
		g_autofree gchar *req =
		    g_strdup_printf("POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
				    "Content-Length: -1\r\n\r\n{}",
				    t->service_token);
		if (sock != NULL && raw_send_all(sock, req, strlen(req)) &&
		    raw_read_response(sock, &r)) {
			t->neg_cl_status = r.status;
			t->neg_cl_body = g_steal_pointer(&r.body);
			t->neg_cl_closed = raw_wait_closed(sock);
		}
	}
	t->ms[2] = (g_get_monotonic_time() - start) / 1000;
	start = g_get_monotonic_time();
	/* 10 MB POST to an Engine.IO session → 413 before it is all sent */
	{
		g_autoptr(GSocket) hs_sock = raw_connect(t->port, 10);
		g_autoptr(GSocket) sock = NULL;
		g_autofree gchar *sid = NULL;
		g_autofree gchar *head = NULL;
		g_autofree gchar *body = NULL;
		guint hs = 0;
		t->polling_total = 10000000;
		if (hs_sock != NULL)
			sid = eio_handshake(hs_sock, &hs);
		if (sid != NULL)
			sock = raw_connect(t->port, 10);
		if (sock != NULL) {
			body = g_malloc(t->polling_total);
			memset(body, '2', t->polling_total);
			head = g_strdup_printf(
			    "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"
			    "Host: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\n"
			    "Content-Length: %" G_GSIZE_FORMAT "\r\n\r\n",
			    sid,
			    t->polling_total);
			if (raw_request_early(
				sock, head, body, t->polling_total, &r, &t->polling_sent)) {
				t->polling_status = r.status;
				raw_response_clear(&r);
			}
		}
	}
	t->ms[3] = (g_get_monotonic_time() - start) / 1000;
	g_atomic_int_set(&a->done, 1);
	return NULL;
}

static gboolean
http_holding(gpointer user_data)
{
	Attack *a = user_data;
	return g_atomic_int_get(&((HttpAttack *)a->data)->holding) ||
	       g_atomic_int_get(&a->done);
}

typedef struct {
	GPid pid;
	guint bound;
} FdWait;

static gboolean
fds_back(gpointer user_data)
{
	FdWait *w = user_data;
	return proc_fd_count(w->pid) <= w->bound;
}

static void
test_http(void)
{
	const AttackScale *s = attack_scale();
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(JsonNode) stats = NULL;
	g_autofree gchar *config = NULL;
	g_autofree gchar *upload_token = make_token("uploader", "CLIENT");
	HttpAttack t = {0};
	Attack a = {0};
	guint fd_base, fd_peak = 0, status;
	FdWait fw;
	GPid pid;

	config = g_strdup_printf("[host]\nplugins=ws-rooms;files-minio\n"
				 "max-request-bytes=1048576\n"
				 "header-timeout-ms=1500\n"
				 "upload-idle-timeout-ms=1000\n"
				 "[files-minio]\nbackend=local\ntemplates-dir=%s\n",
				 g_getenv("HERALD_TEST_TEMPLATES_DIR"));
	daemon = start_daemon(config);
	pid = daemon_pid(daemon);
	witness(daemon, "http/warm-up");
	fd_base = proc_fd_count(pid);

	t.port = daemon->port;
	t.s = s;
	t.service_token = make_token("attack-svc", "SERVICE");
	t.upload_tokens = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < s->stalled_uploads; i++) {
		g_autofree gchar *sub = g_strdup_printf("staller%u", i);
		g_ptr_array_add(t.upload_tokens, make_token(sub, "CLIENT"));
	}

	/* stalled headers and uploads, held while a valid user connects */
	attack_start(&a, http_stall_thread, &t);
	g_assert_true(herald_test_wait_until(http_holding, &a, 60000));
	fd_peak = proc_fd_count(pid);
	witness(daemon, "http/stalls");
	attack_join(&a, 150000);
	g_test_message("stalls (%s): %u/%u header connections and %u/%u uploads closed by the "
		       "server (%u uploads answered 408); heraldd fds %u -> %u",
		       s->name,
		       t.headers_cut,
		       s->stalled_headers,
		       t.uploads_cut,
		       s->stalled_uploads,
		       t.uploads_408,
		       fd_base,
		       fd_peak);
	assert_alive(daemon, pid);
	g_assert_cmpuint(t.headers_cut, ==, s->stalled_headers);
	g_assert_cmpuint(t.uploads_cut, ==, s->stalled_uploads);
	/* every slot is free again: a valid upload succeeds */
	{
		g_autofree gchar *url = g_strdup_printf("%s/v1/files/upload", daemon->base_url);
		g_autofree gchar *reply = NULL;
		static const gchar body[] =
		    "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"ok.csv\"\r\n"
		    "Content-Type: text/csv\r\n\r\na,b\n1,2\n\r\n--b--\r\n";
		status = herald_test_http("POST",
					  url,
					  upload_token,
					  "multipart/form-data; boundary=b",
					  body,
					  sizeof(body) - 1,
					  &reply,
					  NULL);
		g_test_message("valid upload after the stalls: HTTP %u %s", status, reply);
		g_assert_cmpuint(status, ==, 201);
	}
	/* heraldd's descriptors are back near the baseline */
	fw.pid = pid;
	fw.bound = fd_base + 8;
	if (!herald_test_wait_until(fds_back, &fw, 15000))
		g_error("heraldd holds %u fds, baseline %u", proc_fd_count(pid), fd_base);

	/* one-shot body attacks */
	memset(&a, 0, sizeof(a));
	attack_start(&a, http_oneshot_thread, &t);
	witness(daemon, "http/bodies");
	attack_join(&a, 150000);
	g_test_message("Content-Length 100 MB: HTTP %u %s, closed %d (%" G_GINT64_FORMAT " ms)",
		       t.big_cl_status,
		       t.big_cl_body,
		       t.big_cl_closed,
		       t.ms[0]);
	g_test_message("endless chunked: HTTP %u %s after %" G_GUINT64_FORMAT
		       " bytes sent, closed %d (%" G_GINT64_FORMAT " ms)",
		       t.chunked_status,
		       t.chunked_body,
		       t.chunked_sent,
		       t.chunked_closed,
		       t.ms[1]);
	g_test_message("Content-Length -1: HTTP %u %s, closed %d (%" G_GINT64_FORMAT " ms)",
		       t.neg_cl_status,
		       t.neg_cl_body,
		       t.neg_cl_closed,
		       t.ms[2]);
	g_test_message("10 MB polling POST: HTTP %u after %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
		       " bytes (%" G_GINT64_FORMAT " ms)",
		       t.polling_status,
		       t.polling_sent,
		       t.polling_total,
		       t.ms[3]);
	assert_alive(daemon, pid);
	g_assert_cmpuint(t.big_cl_status, ==, 413);
	assert_json_string(t.big_cl_body, "error", "too_large");
	g_assert_true(t.big_cl_closed);
	g_assert_cmpuint(t.chunked_status, ==, 413);
	assert_json_string(t.chunked_body, "error", "too_large");
	g_assert_true(t.chunked_closed);
	/* the limit (1 MiB) plus what loopback socket buffers absorb */
	g_assert_cmpuint(t.chunked_sent, <=, 1 * MiB + 16 * MiB);
	g_assert_cmpuint(t.neg_cl_status, ==, 400);
	assert_json_string(t.neg_cl_body, "error", NULL);
	g_assert_true(t.neg_cl_closed);
	g_assert_cmpuint(t.polling_status, ==, 413);
	g_assert_cmpuint(t.polling_sent, <, t.polling_total);

	/* counted */
	stats = get_json(daemon, "/stats", &status);
	g_assert_cmpuint(status, ==, 200);
	g_assert_cmpint(json_find_int(stats, "http_header_timeouts_total"),
			>=,
			(gint64)s->stalled_headers);
	g_assert_cmpint(json_find_int(stats, "http_body_timeouts_total"),
			>=,
			(gint64)s->stalled_uploads);

	witness(daemon, "http/after");
	assert_alive(daemon, pid);
	g_free(t.service_token);
	g_free(t.big_cl_body);
	g_free(t.chunked_body);
	g_free(t.neg_cl_body);
	g_ptr_array_unref(t.upload_tokens);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

/* ------------------------------------------------------------ main */

int
main(int argc, char **argv)
{
	struct rlimit rl;

	/* the full-size header flood needs 8,000 descriptors here and in heraldd,
	 * which inherits this limit */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);
	g_test_message("scale: %s (HERALD_ATTACK_SCALE)", attack_scale()->name);
	g_test_add_func("/attack/json-bomb", test_json_bomb);
	g_test_add_func("/attack/ping-flood", test_ping_flood);
	g_test_add_func("/attack/handshake-flood", test_handshake_flood);
	g_test_add_func("/attack/refresh", test_refresh);
	g_test_add_func("/attack/http", test_http);
	return g_test_run();
}
