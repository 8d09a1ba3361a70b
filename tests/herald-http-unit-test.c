/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* herald_http_get_client_address() and herald_http_client_is_local() against a
 * HeraldHttp served in this process, asked over a raw loopback socket */
#include "config.h"

#include <string.h>

#include "herald-http-private.h"
#include "herald-test-util.h"

typedef struct {
	guint16 port;
	gchar *request;
	gchar *reply;
} Exchange;

static gpointer
client_thread(gpointer user_data)
{
	Exchange *ex = user_data;
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GString) reply = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	gchar buf[4096];
	gssize n;

	g_socket_client_set_timeout(client, 10);
	conn = g_socket_client_connect_to_host(client, "127.0.0.1", ex->port, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)),
						ex->request,
						strlen(ex->request),
						NULL,
						NULL,
						&error));
	while ((n = g_input_stream_read(g_io_stream_get_input_stream(G_IO_STREAM(conn)),
					buf,
					sizeof(buf),
					NULL,
					&error)) > 0)
		g_string_append_len(reply, buf, n);
	g_assert_no_error(error);
	ex->reply = g_string_free(g_steal_pointer(&reply), FALSE);
	herald_test_loop_quit();
	return NULL;
}

static void
addr_cb(SoupServerMessage *msg, const gchar *subpath, HeraldIdentity *identity, gpointer user_data)
{
	g_autofree gchar *addr = herald_http_get_client_address(msg);
	g_autofree gchar *text =
	    g_strdup_printf("%s %s", addr, herald_http_client_is_local(msg) ? "local" : "remote");
	gsize len = strlen(text);
	soup_server_message_set_status(msg, 200, NULL);
	soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_TAKE, g_steal_pointer(&text), len);
}

/* the body of the answer to GET /addr with @headers */
static gchar *
ask(guint16 port, const gchar *headers)
{
	Exchange ex = {port, NULL, NULL};
	GThread *thread;
	const gchar *body;
	gchar *result;

	ex.request = g_strdup_printf("GET /addr HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n",
				     headers);
	thread = g_thread_new("client", client_thread, &ex);
	herald_test_loop_run_with_timeout(10000);
	g_thread_join(thread);
	g_assert_nonnull(ex.reply);
	body = strstr(ex.reply, "\r\n\r\n");
	g_assert_nonnull(body);
	result = g_strdup(body + 4);
	g_free(ex.request);
	g_free(ex.reply);
	return result;
}

static void
test_client_address(void)
{
	g_autoptr(HeraldHttp) http = herald_http_new();
	g_autoptr(GError) error = NULL;
	guint16 port = herald_test_free_port();
	g_autofree gchar *listen = g_strdup_printf("127.0.0.1:%u", port);
	gchar *addresses[] = {listen, NULL};
	gchar *none[] = {NULL};
	gchar *proxies[] = {"127.0.0.1", "10.0.0.0/8", NULL};
	struct {
		gchar **proxies;
		const gchar *headers;
		const gchar *expected;
	} cases[] = {
	    /* no trusted proxy: the peer, and forwarding headers make it remote */
	    {none, "", "127.0.0.1 local"},
	    {none, "X-Forwarded-For: 203.0.113.9\r\n", "127.0.0.1 remote"},
	    {none, "X-Real-IP: 127.0.0.1\r\n", "127.0.0.1 remote"},
	    /* behind trusted proxies: the first untrusted hop from the right */
	    {proxies, "X-Forwarded-For: 203.0.113.9\r\n", "203.0.113.9 remote"},
	    {proxies, "X-Forwarded-For: 198.51.100.1, 203.0.113.9, 10.0.0.2\r\n", "203.0.113.9 remote"},
	    {proxies, "X-Forwarded-For: 127.0.0.1\r\n", "127.0.0.1 local"},
	    {proxies, "X-Forwarded-For: 1.2.3.4, 127.0.0.1\r\n", "1.2.3.4 remote"},
	    {proxies, "Forwarded: for=\"[2001:db8::1]:4711\";proto=https\r\n", "2001:db8::1 remote"},
	    {proxies, "Forwarded: for=192.0.2.60;by=10.0.0.1\r\n", "192.0.2.60 remote"},
	    {proxies, "X-Real-IP: 192.0.2.7\r\n", "192.0.2.7 remote"},
	    /* an unreadable hop: never local, the address stays the proxy's */
	    {proxies, "X-Forwarded-For: garbage\r\n", "127.0.0.1 remote"},
	    {proxies, "", "127.0.0.1 local"},
	};

	herald_http_add_route(http, NULL, "GET", "/addr", HERALD_HTTP_ROUTE_NONE, HERALD_HTTP_AUTH_NONE, addr_cb, NULL);
	g_assert_true(herald_http_listen(http, addresses, &error));
	g_assert_no_error(error);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *got = NULL;
		herald_http_set_trusted_proxies(http, cases[i].proxies);
		got = ask(port, cases[i].headers);
		g_assert_cmpstr(got, ==, cases[i].expected);
	}
	herald_http_set_trusted_proxies(http, none);
}

static void
test_parse_trusted_proxy(void)
{
	const gchar *good[] = {"127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32", NULL};
	const gchar *bad[] = {"", "localhost", "10.0.0.0/33", "1.2.3", "10.0.0.0/x", NULL};
	for (guint i = 0; good[i] != NULL; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GInetAddressMask) mask = herald_http_parse_trusted_proxy(good[i], &error);
		g_assert_no_error(error);
		g_assert_nonnull(mask);
	}
	for (guint i = 0; bad[i] != NULL; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GInetAddressMask) mask = herald_http_parse_trusted_proxy(bad[i], &error);
		g_assert_null(mask);
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/herald/http/client-address", test_client_address);
	g_test_add_func("/herald/http/parse-trusted-proxy", test_parse_trusted_proxy);
	return g_test_run();
}
