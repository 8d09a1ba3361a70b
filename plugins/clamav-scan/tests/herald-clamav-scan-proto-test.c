/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gunixsocketaddress.h>

#include "herald-clamav-scan-proto.h"

static void
test_address_tcp(void)
{
	g_autoptr(GSocketConnectable) c = NULL;
	g_autoptr(GError) error = NULL;

	c = herald_clamav_scan_parse_address("tcp:127.0.0.1:3310", &error);
	g_assert_no_error(error);
	g_assert_true(G_IS_NETWORK_ADDRESS(c));
	g_assert_cmpstr(g_network_address_get_hostname(G_NETWORK_ADDRESS(c)), ==, "127.0.0.1");
	g_assert_cmpuint(g_network_address_get_port(G_NETWORK_ADDRESS(c)), ==, 3310);
	g_clear_object(&c);

	c = herald_clamav_scan_parse_address("tcp:[::1]:65535", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(g_network_address_get_hostname(G_NETWORK_ADDRESS(c)), ==, "::1");
	g_assert_cmpuint(g_network_address_get_port(G_NETWORK_ADDRESS(c)), ==, 65535);
	g_clear_object(&c);

	c = herald_clamav_scan_parse_address("tcp:clamd.internal:1", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(g_network_address_get_hostname(G_NETWORK_ADDRESS(c)), ==, "clamd.internal");
}

static void
test_address_unix(void)
{
	g_autoptr(GSocketConnectable) c = NULL;
	g_autoptr(GError) error = NULL;

	c = herald_clamav_scan_parse_address("unix:/run/clamav/clamd.ctl", &error);
	g_assert_no_error(error);
	g_assert_true(G_IS_UNIX_SOCKET_ADDRESS(c));
	g_assert_cmpstr(
	    g_unix_socket_address_get_path(G_UNIX_SOCKET_ADDRESS(c)), ==, "/run/clamav/clamd.ctl");
}

static void
test_address_bad(void)
{
	struct {
		const gchar *address;
		const gchar *needle;
	} cases[] = {
	    {"127.0.0.1:3310", "must start with tcp: or unix:"},
	    {"TCP:127.0.0.1:3310", "must start with tcp: or unix:"},
	    {"http://127.0.0.1:3310", "must start with tcp: or unix:"},
	    {"tcp:127.0.0.1", "is not tcp:HOST:PORT"},
	    {"tcp:localhost", "is not tcp:HOST:PORT"},
	    {"tcp:127.0.0.1:0", "port '0' is not a number from 1 to 65535"},
	    {"tcp:127.0.0.1:65536", "port '65536' is not a number from 1 to 65535"},
	    {"tcp:127.0.0.1:-1", "port '-1'"},
	    {"tcp:127.0.0.1:33x", "port '33x'"},
	    {"tcp:127.0.0.1:", "port ''"},
	    {"tcp::3310", "has no valid host"},
	    {"tcp:[::1]3310", "is not tcp:HOST:PORT"},
	    {"tcp:a/b:3310", "has no valid host"},
	    {"unix:clamd.ctl", "needs an absolute socket path"},
	    {"unix:", "needs an absolute socket path"},
	    {"", "must not be empty"},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GSocketConnectable) c =
		    herald_clamav_scan_parse_address(cases[i].address, &error);
		g_assert_null(c);
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
		if (strstr(error->message, cases[i].needle) == NULL)
			g_error("'%s': '%s' lacks '%s'",
				cases[i].address,
				error->message,
				cases[i].needle);
	}
	{
		g_autofree gchar *long_path = g_strnfill(120, 'a');
		g_autofree gchar *address = g_strdup_printf("unix:/%s", long_path);
		g_autoptr(GError) error = NULL;
		g_autoptr(GSocketConnectable) c = herald_clamav_scan_parse_address(address, &error);
		g_assert_null(c);
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
	}
}

static void
test_reply(void)
{
	struct {
		const gchar *reply;
		gsize len; /* 0: strlen + 1 (with the NUL) */
		HeraldClamavScanVerdict verdict;
		const gchar *detail;
	} cases[] = {
	    {"stream: OK", 0, HERALD_CLAMAV_SCAN_VERDICT_CLEAN, NULL},
	    {"stream: OK\n", 0, HERALD_CLAMAV_SCAN_VERDICT_CLEAN, NULL},
	    {"stream: OK", 10, HERALD_CLAMAV_SCAN_VERDICT_CLEAN, NULL},
	    {"1: stream: OK", 0, HERALD_CLAMAV_SCAN_VERDICT_CLEAN, NULL},
	    {"stream: Probe.EICAR.NDB.UNOFFICIAL FOUND",
	     0,
	     HERALD_CLAMAV_SCAN_VERDICT_INFECTED,
	     "Probe.EICAR.NDB.UNOFFICIAL"},
	    {"stream: Win.Test.EICAR_HDB-1 FOUND",
	     0,
	     HERALD_CLAMAV_SCAN_VERDICT_INFECTED,
	     "Win.Test.EICAR_HDB-1"},
	    {"INSTREAM size limit exceeded. ERROR",
	     0,
	     HERALD_CLAMAV_SCAN_VERDICT_ERROR,
	     "INSTREAM size limit exceeded."},
	    {"stream: Can't allocate memory ERROR",
	     0,
	     HERALD_CLAMAV_SCAN_VERDICT_ERROR,
	     "Can't allocate memory"},
	    {"stream:  FOUND",
	     0,
	     HERALD_CLAMAV_SCAN_VERDICT_ERROR,
	     "unexpected reply from clamd: 'stream:  FOUND'"},
	    {"UNKNOWN COMMAND",
	     0,
	     HERALD_CLAMAV_SCAN_VERDICT_ERROR,
	     "unexpected reply from clamd: 'UNKNOWN COMMAND'"},
	    {"", 0, HERALD_CLAMAV_SCAN_VERDICT_ERROR, "unexpected reply from clamd: ''"},
	    {"stream: FOUND",
	     0,
	     HERALD_CLAMAV_SCAN_VERDICT_ERROR,
	     "unexpected reply from clamd: 'stream: FOUND'"},
	    {"stream: \x01\x02 FOUND", 0, HERALD_CLAMAV_SCAN_VERDICT_INFECTED, "??"},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *detail = NULL;
		gsize len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].reply) + 1;
		HeraldClamavScanVerdict verdict =
		    herald_clamav_scan_parse_reply(cases[i].reply, len, &detail);
		g_assert_cmpint(verdict, ==, cases[i].verdict);
		g_assert_cmpstr(detail, ==, cases[i].detail);
	}
}

static void
test_reply_long(void)
{
	g_autofree gchar *name = g_strnfill(1000, 'A');
	g_autofree gchar *reply = g_strdup_printf("stream: %s FOUND", name);
	g_autofree gchar *detail = NULL;
	g_assert_cmpint(herald_clamav_scan_parse_reply(reply, strlen(reply), &detail),
			==,
			HERALD_CLAMAV_SCAN_VERDICT_INFECTED);
	/* bounded: 256 characters and an ellipsis */
	g_assert_cmpuint(strlen(detail), ==, 259);
	g_assert_true(g_str_has_suffix(detail, "..."));
}

static void
test_verdict_variant(void)
{
	g_autoptr(GVariant) clean =
	    herald_clamav_scan_verdict_new(HERALD_CLAMAV_SCAN_VERDICT_CLEAN, NULL);
	g_autoptr(GVariant) infected =
	    herald_clamav_scan_verdict_new(HERALD_CLAMAV_SCAN_VERDICT_INFECTED, "Eicar");
	g_autoptr(GVariant) error =
	    herald_clamav_scan_verdict_new(HERALD_CLAMAV_SCAN_VERDICT_ERROR, "busy");
	const gchar *s = NULL;

	g_assert_false(g_variant_is_floating(clean));
	g_assert_true(g_variant_is_of_type(clean, G_VARIANT_TYPE_VARDICT));
	g_assert_true(g_variant_lookup(clean, "verdict", "&s", &s));
	g_assert_cmpstr(s, ==, "clean");
	g_assert_cmpuint(g_variant_n_children(clean), ==, 1);
	g_assert_true(g_variant_lookup(infected, "verdict", "&s", &s));
	g_assert_cmpstr(s, ==, "infected");
	g_assert_true(g_variant_lookup(infected, "signature", "&s", &s));
	g_assert_cmpstr(s, ==, "Eicar");
	g_assert_false(g_variant_lookup(infected, "reason", "&s", &s));
	g_assert_true(g_variant_lookup(error, "verdict", "&s", &s));
	g_assert_cmpstr(s, ==, "error");
	g_assert_true(g_variant_lookup(error, "reason", "&s", &s));
	g_assert_cmpstr(s, ==, "busy");
	g_assert_false(g_variant_lookup(error, "signature", "&s", &s));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/herald/clamav-scan/address/tcp", test_address_tcp);
	g_test_add_func("/herald/clamav-scan/address/unix", test_address_unix);
	g_test_add_func("/herald/clamav-scan/address/bad", test_address_bad);
	g_test_add_func("/herald/clamav-scan/reply", test_reply);
	g_test_add_func("/herald/clamav-scan/reply/long", test_reply_long);
	g_test_add_func("/herald/clamav-scan/verdict", test_verdict_variant);
	return g_test_run();
}
