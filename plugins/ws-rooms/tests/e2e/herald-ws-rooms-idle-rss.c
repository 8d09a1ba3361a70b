/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Memory per idle plain connection: heraldd's RSS before and after N idle
 * plain WebSocket connections (each of its own user, as real clients are).
 * A measurement, not a test: it is built but never run by `meson test`.
 *
 *   HERALD_TEST_HERALDD=build-rel/host/heraldd \
 *   HERALD_PLUGIN_DIR=build-rel/plugins/ws-rooms \
 *   build-rel/plugins/ws-rooms/tests/e2e/herald-ws-rooms-idle-rss [N]
 *
 * Use a release build without sanitizers. N is at most 10000 and bounded by
 * RLIMIT_NOFILE, which is raised to its hard limit (heraldd inherits it).
 */
#define _GNU_SOURCE /* memmem */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "herald-test-util.h"

#define MAX_CONNECTIONS 10000

static guint64
rss_kib(GSubprocess *process)
{
	g_autofree gchar *path =
	    g_strdup_printf("/proc/%s/status", g_subprocess_get_identifier(process));
	g_autofree gchar *contents = NULL;
	const gchar *line;
	if (!g_file_get_contents(path, &contents, NULL, NULL))
		g_error("cannot read %s", path);
	line = strstr(contents, "VmRSS:");
	if (line == NULL)
		g_error("no VmRSS in %s", path);
	return g_ascii_strtoull(line + strlen("VmRSS:"), NULL, 10);
}

/* a blocking socket with the handshake done and `connected` received */
static gint
open_idle(guint16 port, guint i)
{
	g_autofree gchar *user = g_strdup_printf("idle%u", i);
	g_autofree gchar *claims = g_strdup_printf("{\"sub\":\"%s\",\"role\":\"SELLER\"}", user);
	g_autofree gchar *token = herald_test_make_token(HERALD_TEST_SECRET, claims, 3600);
	g_autofree gchar *req = NULL;
	g_autoptr(GString) in = g_string_new(NULL);
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(loopback, port);
	g_autoptr(GError) error = NULL;
	gint fd;

	socket = g_socket_new(G_SOCKET_FAMILY_IPV4,
			      G_SOCKET_TYPE_STREAM,
			      G_SOCKET_PROTOCOL_TCP,
			      &error);
	if (socket == NULL || !g_socket_connect(socket, addr, NULL, &error))
		g_error("connection %u: %s", i, error->message);
	g_socket_set_timeout(socket, 30);
	req = g_strdup_printf("GET /ws?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			      "Sec-WebSocket-Version: 13\r\n\r\n",
			      token);
	if (g_socket_send(socket, req, strlen(req), NULL, &error) != (gssize)strlen(req))
		g_error("connection %u: cannot send the handshake", i);
	/* the 101, then the `connected` message (one small unmasked frame whose
	 * header may hold a NUL byte, hence memmem) */
	while (in->len == 0 || memmem(in->str, in->len, "\"connected\"", 11) == NULL ||
	       in->str[in->len - 1] != '}') {
		gchar buf[4096];
		gssize n = g_socket_receive(socket, buf, sizeof(buf), NULL, &error);
		if (n <= 0)
			g_error("connection %u closed during the handshake: %s",
				i,
				error != NULL ? error->message : "EOF");
		g_string_append_len(in, buf, n);
	}
	if (!g_str_has_prefix(in->str, "HTTP/1.1 101"))
		g_error("connection %u refused: %.40s", i, in->str);
	fd = dup(g_socket_get_fd(socket));
	if (fd < 0)
		g_error("dup: %s", g_strerror(errno));
	return fd;
}

int
main(int argc, char **argv)
{
	guint n = argc > 1 ? (guint)g_ascii_strtoull(argv[1], NULL, 10) : MAX_CONNECTIONS;
	struct rlimit rl;
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gint *fds = NULL;
	guint64 before;
	guint64 after;
	gint64 t0;

	if (n == 0 || n > MAX_CONNECTIONS)
		g_error("N must be 1 to %u", MAX_CONNECTIONS);
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		g_error("getrlimit: %s", g_strerror(errno));
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		g_error("setrlimit: %s", g_strerror(errno));
	if (rl.rlim_cur < n + 64)
		g_error("RLIMIT_NOFILE hard limit %lu is too low for %u connections",
			(gulong)rl.rlim_cur,
			n);

	/* nothing but the connections themselves: no pings, no expiry */
	daemon = herald_test_daemon_new("[host]\nplugins=ws-rooms\n"
					"[ws-rooms]\n"
					"max-connections=20000\n"
					"idle-timeout-ms=0\n");
	if (!herald_test_daemon_start(daemon, &error))
		g_error("%s", error->message);
	fds = g_new0(gint, n);

	/* warm up the HTTP path and the allocator with one connection */
	{
		gint fd = open_idle(daemon->port, n);
		close(fd);
	}
	before = rss_kib(daemon->process);
	t0 = g_get_monotonic_time();
	for (guint i = 0; i < n; i++)
		fds[i] = open_idle(daemon->port, i);
	after = rss_kib(daemon->process);
	g_print("idle plain connections: %u (opened in %.1f s)\n",
		n,
		(gdouble)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
	g_print("heraldd RSS: %" G_GUINT64_FORMAT " KiB before, %" G_GUINT64_FORMAT
		" KiB after, delta %.1f MiB\n",
		before,
		after,
		(gdouble)(after - before) / 1024.0);
	g_print("per connection: %.2f KiB\n", (gdouble)(after - before) / n);
	for (guint i = 0; i < n; i++)
		close(fds[i]);
	if (herald_test_daemon_stop(daemon) != 0)
		g_error("heraldd did not exit cleanly");
	return EXIT_SUCCESS;
}
