/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* the harness itself: real servers come up on free ports and go away */
#include "config.h"

#include "herald-test-util.h"

static void
test_redis(void)
{
	g_autoptr(HeraldTestServer) redis = herald_test_redis_start();
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GError) error = NULL;
	gchar buf[16] = {0};
	gsize n = 0;
	guint16 port = redis->port;

	conn = g_socket_client_connect_to_host(client, "127.0.0.1", redis->port, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)),
						"PING\r\n", 6, NULL, NULL, &error));
	g_assert_true(g_input_stream_read_all(g_io_stream_get_input_stream(G_IO_STREAM(conn)),
					      buf, 7, &n, NULL, &error));
	g_assert_cmpstr(buf, ==, "+PONG\r\n");
	g_clear_object(&conn);
	herald_test_server_stop(redis);
	g_assert_false(herald_test_port_is_open(port));
}

static void
test_free_port(void)
{
	guint16 a = herald_test_free_port();
	g_assert_cmpuint(a, >, 1024);
	g_assert_false(herald_test_port_is_open(a));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/herald/harness/free-port", test_free_port);
	g_test_add_func("/herald/harness/redis", test_redis);
	return g_test_run();
}
