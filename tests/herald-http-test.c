/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hostile HTTP clients against a real heraldd: raw sockets, no HTTP library
 * between the test and the server */
#include <string.h>

#include "herald-test-util.h"

#define HANG_GUARD_S 10

static HeraldTestDaemon *
start_daemon(const gchar *extra)
{
	g_autoptr(GError) error = NULL;
	HeraldTestDaemon *daemon = herald_test_daemon_new(extra);
	if (!herald_test_daemon_start(daemon, &error))
		g_error("%s", error->message);
	return daemon;
}

static gchar *
service_token(void)
{
	return herald_test_make_token(HERALD_TEST_SECRET,
				      "{\"sub\":\"svc\",\"role\":\"SERVICE\"}",
				      300);
}

static GSocket *
raw_connect(HeraldTestDaemon *daemon)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(lo, daemon->port);
	GSocket *socket =
	    g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
	g_assert_no_error(error);
	g_socket_set_timeout(socket, HANG_GUARD_S);
	g_assert_true(g_socket_connect(socket, addr, NULL, &error));
	g_assert_no_error(error);
	return socket;
}

static void
raw_send(GSocket *socket, const gchar *text)
{
	g_autoptr(GError) error = NULL;
	gsize len = strlen(text);
	gsize done = 0;
	while (done < len) {
		gssize n = g_socket_send(socket, text + done, len - done, NULL, &error);
		g_assert_no_error(error);
		done += (gsize)n;
	}
}

/* everything until the server closes; a read that times out fails the test */
static GString *
raw_read_to_eof(GSocket *socket)
{
	GString *data = g_string_new(NULL);
	gchar buf[8192];
	while (TRUE) {
		g_autoptr(GError) error = NULL;
		gssize n = g_socket_receive(socket, buf, sizeof(buf), NULL, &error);
		if (n < 0) {
			/* a reset after the answer also ends the connection */
			g_assert_false(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT));
			break;
		}
		if (n == 0)
			break;
		g_string_append_len(data, buf, n);
	}
	return data;
}

/* one complete response (headers and Content-Length body) */
static GString *
raw_read_response(GSocket *socket)
{
	GString *data = g_string_new(NULL);
	gchar buf[8192];
	while (TRUE) {
		g_autoptr(GError) error = NULL;
		const gchar *end = strstr(data->str, "\r\n\r\n");
		gssize n;
		if (end != NULL) {
			const gchar *cl = g_strstr_len(data->str, end - data->str, "Content-Length: ");
			gsize len = cl != NULL ? g_ascii_strtoull(cl + 16, NULL, 10) : 0;
			if (data->len >= (gsize)(end + 4 - data->str) + len)
				return data;
		}
		n = g_socket_receive(socket, buf, sizeof(buf), NULL, &error);
		g_assert_no_error(error);
		g_assert_cmpint(n, >, 0);
		g_string_append_len(data, buf, n);
	}
}

static void
assert_json_error(GString *reply, const gchar *status_line, const gchar *code)
{
	g_autofree gchar *needle = g_strdup_printf("\"error\":\"%s\"", code);
	g_assert_true(g_str_has_prefix(reply->str, status_line));
	g_assert_nonnull(strstr(reply->str, "Content-Type: application/json"));
	g_assert_nonnull(strstr(reply->str, "Connection: close"));
	g_assert_nonnull(strstr(reply->str, needle));
	g_assert_nonnull(strstr(reply->str, "\"message\":\""));
}

static gint64
stat_of(HeraldTestDaemon *daemon, const gchar *key)
{
	g_autofree gchar *url = g_strdup_printf("%s/stats", daemon->base_url);
	g_autofree gchar *body = NULL;
	g_autoptr(JsonNode) node = NULL;
	g_assert_cmpuint(herald_test_http("GET", url, NULL, NULL, NULL, 0, &body, NULL), ==, 200);
	node = herald_test_parse_json(body);
	return herald_test_json_get_int(node, key);
}

static void
test_header_timeout(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("[host]\nheader-timeout-ms=300\n");
	g_autoptr(GSocket) partial = raw_connect(daemon);
	g_autoptr(GSocket) silent = raw_connect(daemon);
	g_autoptr(GString) a = NULL;
	g_autoptr(GString) b = NULL;

	/* headers never finished, and nothing at all: both closed */
	raw_send(partial, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ");
	a = raw_read_to_eof(partial);
	b = raw_read_to_eof(silent);
	g_assert_false(g_str_has_prefix(a->str, "HTTP/1.1 200"));
	g_assert_cmpuint(b->len, ==, 0);
	g_assert_cmpint(stat_of(daemon, "http_header_timeouts_total"), >=, 2);
	g_assert_cmpint(stat_of(daemon, "http_timeouts_total"), >=, 2);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_keepalive(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("[host]\nheader-timeout-ms=300\n");
	g_autoptr(GSocket) socket = raw_connect(daemon);
	g_autoptr(GString) rest = NULL;

	/* valid requests still share one connection */
	for (guint i = 0; i < 3; i++) {
		g_autoptr(GString) reply = NULL;
		raw_send(socket, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
		reply = raw_read_response(socket);
		g_assert_true(g_str_has_prefix(reply->str, "HTTP/1.1 200"));
		g_assert_null(strstr(reply->str, "Connection: close"));
	}
	/* then idle: closed at the header deadline */
	rest = raw_read_to_eof(socket);
	g_assert_cmpuint(rest->len, ==, 0);
	g_assert_cmpint(stat_of(daemon, "http_header_timeouts_total"), >=, 1);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_idle_closed_by_client(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	gint64 closed = 0;

	/* libsoup 3.2.3 keeps these in CLOSE-WAIT; the host closes them */
	for (guint i = 0; i < 5; i++) {
		g_autoptr(GSocket) socket = raw_connect(daemon);
		g_autoptr(GString) reply = NULL;
		raw_send(socket, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
		reply = raw_read_response(socket);
		g_assert_true(g_str_has_prefix(reply->str, "HTTP/1.1 200"));
		g_socket_close(socket, NULL);
	}
	for (guint i = 0; i < HANG_GUARD_S * 10 && closed < 5; i++) {
		g_usleep(100 * 1000);
		closed = stat_of(daemon, "http_idle_closed_by_client_total");
	}
	g_assert_cmpint(closed, >=, 5);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

/* sends 16 KiB chunks until the server answers or resets, at most 8 MiB;
 * returns the bytes sent, the answer (read to EOF) in @reply */
static gsize
send_endless_chunked(GSocket *socket, GString *reply)
{
	g_autofree gchar *chunk = g_strdup_printf("4000\r\n%0*d\r\n", 0x4000, 0);
	g_autoptr(GString) tail = NULL;
	gsize sent = 0;

	g_socket_set_blocking(socket, FALSE);
	while (sent < 8 * 1024 * 1024) {
		g_autoptr(GError) error = NULL;
		gchar buf[4096];
		gssize n = g_socket_send(socket, chunk, strlen(chunk), NULL, &error);
		if (n > 0)
			sent += (gsize)n;
		else if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
			break; /* reset */
		g_clear_error(&error);
		n = g_socket_receive(socket, buf, sizeof(buf), NULL, &error);
		if (n > 0)
			g_string_append_len(reply, buf, n);
		if (n == 0 || (n < 0 && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)))
			break;
		if (n < 0)
			g_usleep(1000);
	}
	g_socket_set_blocking(socket, TRUE);
	tail = raw_read_to_eof(socket);
	g_string_append_len(reply, tail->str, tail->len);
	return sent;
}

/* a request refused before its body: an endless or oversized body is not read */
static void
test_refused_body_not_read(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autoptr(GSocket) chunked = raw_connect(daemon);
	g_autoptr(GSocket) huge = raw_connect(daemon);
	g_autoptr(GString) reply = g_string_new(NULL);
	g_autoptr(GString) reply2 = NULL;
	gsize sent;

	/* no token, endless chunked body */
	raw_send(chunked,
		 "POST /api/events HTTP/1.1\r\nHost: x\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n");
	sent = send_endless_chunked(chunked, reply);
	g_assert_cmpuint(sent, <, 8 * 1024 * 1024);
	assert_json_error(reply, "HTTP/1.1 401", "unauthorized");
	/* no such endpoint, 100 GB announced: answered without a body byte */
	raw_send(huge,
		 "POST /nowhere HTTP/1.1\r\nHost: x\r\n"
		 "Content-Length: 100000000000\r\n\r\n");
	reply2 = raw_read_to_eof(huge);
	assert_json_error(reply2, "HTTP/1.1 404", "not_found");
	g_assert_cmpint(stat_of(daemon, "http_closed_early_total"), ==, 2);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_too_large(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("[host]\nmax-request-bytes=4096\n");
	g_autofree gchar *token = service_token();
	g_autofree gchar *head = g_strdup_printf("POST /api/events HTTP/1.1\r\nHost: x\r\n"
						 "Authorization: Bearer %s\r\n"
						 "Content-Type: application/json\r\n",
						 token);
	g_autoptr(GSocket) socket = raw_connect(daemon);
	g_autoptr(GSocket) chunked = raw_connect(daemon);
	g_autofree gchar *req = g_strdup_printf("%sContent-Length: 100000000\r\n\r\n", head);
	g_autofree gchar *req2 = g_strdup_printf("%sTransfer-Encoding: chunked\r\n\r\n", head);
	g_autoptr(GString) reply = NULL;
	g_autoptr(GString) reply2 = g_string_new(NULL);
	gsize sent = 0;

	/* the answer comes without any body sent, then EOF */
	raw_send(socket, req);
	reply = raw_read_to_eof(socket);
	assert_json_error(reply, "HTTP/1.1 413", "too_large");

	/* an endless chunked body: 413 once past the limit, the rest is not read */
	raw_send(chunked, req2);
	sent = send_endless_chunked(chunked, reply2);
	g_printerr("# endless chunked body, limit 4096: %" G_GSIZE_FORMAT " bytes sent before EOF\n", sent);
	g_assert_cmpuint(sent, <, 8 * 1024 * 1024);
	assert_json_error(reply2, "HTTP/1.1 413", "too_large");
	g_assert_cmpint(stat_of(daemon, "http_too_large_total"), ==, 2);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_bad_content_length(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	const gchar *values[] = {"-1", "abc", "5\r\nContent-Length: 6", NULL};

	for (guint i = 0; values[i] != NULL; i++) {
		g_autoptr(GSocket) socket = raw_connect(daemon);
		g_autoptr(GString) reply = NULL;
		g_autofree gchar *req = g_strdup_printf("POST /api/events HTTP/1.1\r\nHost: x\r\n"
							"Content-Length: %s\r\n\r\n",
							values[i]);
		raw_send(socket, req);
		reply = raw_read_to_eof(socket);
		assert_json_error(reply, "HTTP/1.1 400", "invalid_argument");
	}
	g_assert_cmpint(stat_of(daemon, "http_bad_length_total"), >=, 1);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_body_stalls(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("[host]\nbody-idle-timeout-ms=300\n");
	g_autofree gchar *token = service_token();
	g_autoptr(GSocket) socket = raw_connect(daemon);
	g_autoptr(GString) reply = NULL;
	g_autofree gchar *req = g_strdup_printf("POST /api/events HTTP/1.1\r\nHost: x\r\n"
						"Authorization: Bearer %s\r\n"
						"Content-Type: application/json\r\n"
						"Content-Length: 100\r\n\r\n{\"ch",
						token);
	raw_send(socket, req);
	reply = raw_read_to_eof(socket);
	assert_json_error(reply, "HTTP/1.1 408", "timed_out");
	g_assert_cmpint(stat_of(daemon, "http_body_timeouts_total"), ==, 1);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

/* a body that trickles in, a byte at a time, ends at body-timeout-ms */
static void
test_body_trickles(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("[host]\nbody-idle-timeout-ms=2000\nbody-timeout-ms=500\n");
	g_autofree gchar *token = service_token();
	g_autoptr(GSocket) socket = raw_connect(daemon);
	g_autoptr(GString) reply = g_string_new(NULL);
	g_autoptr(GString) tail = NULL;
	g_autofree gchar *req = g_strdup_printf("POST /api/events HTTP/1.1\r\nHost: x\r\n"
						"Authorization: Bearer %s\r\n"
						"Content-Type: application/json\r\n"
						"Content-Length: 1000\r\n\r\n",
						token);
	guint sent = 0;

	raw_send(socket, req);
	g_socket_set_blocking(socket, FALSE);
	/* at most 10 s of trickling: the hang guard */
	for (; sent < 100; sent++) {
		g_autoptr(GError) error = NULL;
		gchar buf[4096];
		gssize n;
		if (g_socket_send(socket, " ", 1, NULL, &error) < 0)
			break;
		g_usleep(100 * 1000);
		n = g_socket_receive(socket, buf, sizeof(buf), NULL, &error);
		if (n > 0)
			g_string_append_len(reply, buf, n);
		if (n >= 0 || !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
			break;
	}
	g_socket_set_blocking(socket, TRUE);
	tail = raw_read_to_eof(socket);
	g_string_append_len(reply, tail->str, tail->len);
	g_assert_cmpuint(sent, <, 100);
	assert_json_error(reply, "HTTP/1.1 408", "timed_out");
	g_assert_cmpint(stat_of(daemon, "http_body_timeouts_total"), ==, 1);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static GString *
get_stats_raw(HeraldTestDaemon *daemon, const gchar *extra_headers)
{
	g_autoptr(GSocket) socket = raw_connect(daemon);
	g_autofree gchar *req = g_strdup_printf("GET /stats HTTP/1.1\r\nHost: x\r\n"
						"Connection: close\r\n%s\r\n",
						extra_headers);
	raw_send(socket, req);
	return raw_read_to_eof(socket);
}

static void
test_trusted_proxies(void)
{
	g_autoptr(HeraldTestDaemon) plain = start_daemon(NULL);
	g_autoptr(HeraldTestDaemon) proxied = start_daemon("[host]\ntrusted-proxies=10.0.0.0/8;127.0.0.1\n");
	const gchar *forwarded[] = {"X-Forwarded-For: 203.0.113.9\r\n",
				    "Forwarded: for=203.0.113.9\r\n",
				    "X-Real-IP: 203.0.113.9\r\n",
				    NULL};

	/* loopback without forwarding headers: local */
	{
		g_autoptr(GString) reply = get_stats_raw(plain, "");
		g_assert_true(g_str_has_prefix(reply->str, "HTTP/1.1 200"));
	}
	/* a reverse proxy on this host relays a remote client: not local */
	for (guint i = 0; forwarded[i] != NULL; i++) {
		g_autoptr(GString) a = get_stats_raw(plain, forwarded[i]);
		g_autoptr(GString) b = get_stats_raw(proxied, forwarded[i]);
		g_assert_true(g_str_has_prefix(a->str, "HTTP/1.1 401"));
		g_assert_true(g_str_has_prefix(b->str, "HTTP/1.1 401"));
	}
	/* even a loopback address forwarded by an unlisted proxy */
	{
		g_autoptr(GString) reply = get_stats_raw(plain, "X-Forwarded-For: 127.0.0.1\r\n");
		g_assert_true(g_str_has_prefix(reply->str, "HTTP/1.1 401"));
	}
	/* a listed proxy that forwards a loopback client: local */
	{
		g_autoptr(GString) a = get_stats_raw(proxied, "X-Forwarded-For: 127.0.0.1\r\n");
		g_autoptr(GString) b = get_stats_raw(proxied, "X-Forwarded-For: 127.0.0.1, 10.1.2.3\r\n");
		g_autoptr(GString) c = get_stats_raw(proxied, "X-Forwarded-For: garbage\r\n");
		g_assert_true(g_str_has_prefix(a->str, "HTTP/1.1 200"));
		g_assert_true(g_str_has_prefix(b->str, "HTTP/1.1 200"));
		g_assert_true(g_str_has_prefix(c->str, "HTTP/1.1 401"));
	}
	g_assert_cmpint(herald_test_daemon_stop(plain), ==, 0);
	g_assert_cmpint(herald_test_daemon_stop(proxied), ==, 0);
}

static void
test_trusted_proxies_check_config(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    herald_test_daemon_new("[host]\ntrusted-proxies=10.0.0.0/8;not-an-ip\n");
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	gchar *argv[] = {"--check-config", "-c", daemon->config_file, NULL};
	gint status = herald_test_run_heraldd(argv, &out, &err, NULL);
	g_assert_cmpint(status, !=, 0);
	g_assert_nonnull(strstr(err, "trusted-proxies"));
	g_assert_nonnull(strstr(err, "not-an-ip"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/herald/http/header-timeout", test_header_timeout);
	g_test_add_func("/herald/http/keepalive", test_keepalive);
	g_test_add_func("/herald/http/idle-closed-by-client", test_idle_closed_by_client);
	g_test_add_func("/herald/http/too-large", test_too_large);
	g_test_add_func("/herald/http/refused-body-not-read", test_refused_body_not_read);
	g_test_add_func("/herald/http/bad-content-length", test_bad_content_length);
	g_test_add_func("/herald/http/body-stalls", test_body_stalls);
	g_test_add_func("/herald/http/body-trickles", test_body_trickles);
	g_test_add_func("/herald/http/trusted-proxies", test_trusted_proxies);
	g_test_add_func("/herald/http/trusted-proxies-check-config",
			test_trusted_proxies_check_config);
	return g_test_run();
}
