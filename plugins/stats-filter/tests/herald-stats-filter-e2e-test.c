/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stats-filter end to end: heraldd (ws-rooms + stats-filter), libsoup WebSocket
 * clients with real JWTs, events through the HTTP publish API on channel
 * `events` (the Redis path is in the redis-bridge end-to-end test). A barrier
 * broadcast after each event makes "nobody else got it" checkable without sleeps.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "herald-test-util.h"

#define WAIT_MS 20000

enum { ADMIN, SELLER_123, SELLER_456, CLIENT, ANALYST, N_CLIENTS };
static const gchar *names[N_CLIENTS] = {"admin", "seller 123", "seller 456", "client", "analyst"};

static gchar *
make_token(const gchar *user, const gchar *role, const gchar *extra_claims)
{
	g_autofree gchar *claims = g_strdup_printf("{\"sub\":\"%s\",\"role\":\"%s\"%s%s}",
						   user,
						   role,
						   extra_claims != NULL ? "," : "",
						   extra_claims != NULL ? extra_claims : "");
	return herald_test_make_token(HERALD_TEST_SECRET, claims, 3600);
}

static HeraldTestDaemon *
daemon_start(const gchar *extra)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *config = g_strdup_printf("[host]\nplugins=ws-rooms;stats-filter\n%s\n",
						   extra != NULL ? extra : "");
	HeraldTestDaemon *daemon = herald_test_daemon_new(config);
	if (!herald_test_daemon_start(daemon, &error))
		g_error("%s", error->message);
	return daemon;
}

static gint64
publish(HeraldTestDaemon *daemon, const gchar *channel, const gchar *payload)
{
	g_autofree gchar *token = make_token("core-api", "SERVICE", NULL);
	g_autofree gchar *url = g_strdup_printf("%s/api/events", daemon->base_url);
	g_autofree gchar *body =
	    g_strdup_printf("{\"channel\":\"%s\",\"payload\":%s}", channel, payload);
	g_autofree gchar *out = NULL;
	g_autoptr(JsonNode) node = NULL;
	guint status = herald_test_http("POST", url, token, NULL, body, strlen(body), &out, NULL);
	g_assert_cmpuint(status, ==, 202);
	node = herald_test_parse_json(out);
	return herald_test_json_get_int(node, "delivered");
}

static HeraldTestWs *
connect_client(HeraldTestDaemon *daemon, const gchar *user, const gchar *role, const gchar *claims)
{
	g_autofree gchar *token = make_token(user, role, claims);
	g_autofree gchar *url =
	    g_strdup_printf("ws://127.0.0.1:%u/ws?token=%s", daemon->port, token);
	g_autoptr(GError) error = NULL;
	HeraldTestWs *ws = herald_test_ws_connect(url, WAIT_MS, &error);
	g_assert_no_error(error);
	g_assert_true(herald_test_ws_wait(ws, 1, WAIT_MS));
	return ws;
}

/* the roles as tokens spell them: seed 003's ADMIN/SELLER, seed 002's admin/seller */
static void
connect_all_as(HeraldTestDaemon *daemon, HeraldTestWs **clients, const gchar *const *roles)
{
	clients[ADMIN] = connect_client(daemon, "1", roles[ADMIN], NULL);
	clients[SELLER_123] = connect_client(daemon, "2", roles[SELLER_123], "\"seller_id\":\"123\"");
	clients[SELLER_456] = connect_client(daemon, "3", roles[SELLER_456], "\"seller_id\":\"456\"");
	clients[CLIENT] = connect_client(daemon, "4", roles[CLIENT], "\"seller_id\":\"123\"");
	/* ANALYST shares the admin room but is not role ADMIN */
	clients[ANALYST] = connect_client(daemon, "5", roles[ANALYST], NULL);
}

static void
connect_all(HeraldTestDaemon *daemon, HeraldTestWs **clients)
{
	const gchar *roles[N_CLIENTS] = {"ADMIN", "SELLER", "SELLER", "CLIENT", "ANALYST"};
	connect_all_as(daemon, clients, roles);
}

static const gchar *
marker_of(JsonNode *node)
{
	const gchar *m = herald_test_json_get_string(node, "m");
	return m != NULL ? m : herald_test_json_get_string(node, "payload.m");
}

static GPtrArray *
messages_with(HeraldTestWs *ws, const gchar *marker)
{
	GPtrArray *out = g_ptr_array_new();
	for (guint i = 0; i < ws->messages->len; i++) {
		JsonNode *node = g_ptr_array_index(ws->messages, i);
		if (g_strcmp0(marker_of(node), marker) == 0)
			g_ptr_array_add(out, node);
	}
	return out;
}

typedef struct {
	HeraldTestWs **clients;
	const gchar *marker;
} BarrierWait;

static gboolean
all_have(gpointer user_data)
{
	BarrierWait *wait = user_data;
	for (guint i = 0; i < N_CLIENTS; i++) {
		g_autoptr(GPtrArray) found = messages_with(wait->clients[i], wait->marker);
		if (found->len == 0)
			return FALSE;
	}
	return TRUE;
}

static void
barrier(HeraldTestDaemon *daemon, HeraldTestWs **clients)
{
	static guint serial = 0;
	g_autofree gchar *marker = g_strdup_printf("barrier-%u", ++serial);
	g_autofree gchar *payload = g_strdup_printf("{\"type\":\"barrier\",\"m\":\"%s\"}", marker);
	BarrierWait wait = {clients, marker};
	g_assert_cmpint(publish(daemon, "realtime:broadcasts", payload), ==, N_CLIENTS);
	g_assert_true(herald_test_wait_until(all_have, &wait, WAIT_MS));
}

/* publish, then check exactly who got it (once) and that it came verbatim */
static void
check_event(HeraldTestDaemon *daemon,
	    HeraldTestWs **clients,
	    const gchar *payload,
	    const gchar *marker,
	    guint mask)
{
	g_autoptr(JsonNode) sent = herald_test_parse_json(payload);
	g_autofree gchar *sent_text = json_to_string(sent, FALSE);

	/* `delivered` counts only the host's own deliveries, not a handler's */
	publish(daemon, "events", payload);

	barrier(daemon, clients);
	for (guint i = 0; i < N_CLIENTS; i++) {
		g_autoptr(GPtrArray) found = messages_with(clients[i], marker);
		guint want = (mask >> i) & 1;
		if (found->len != want)
			g_error("%s: %s got it %u times, want %u",
				marker,
				names[i],
				found->len,
				want);
		if (want) {
			/* verbatim: what the backend published, nothing added */
			g_autofree gchar *got = json_to_string(g_ptr_array_index(found, 0), FALSE);
			g_assert_cmpstr(got, ==, sent_text);
		}
	}
}

static gint64
stat(HeraldTestDaemon *daemon, const gchar *key)
{
	g_autofree gchar *url = g_strdup_printf("%s/stats", daemon->base_url);
	g_autofree gchar *out = NULL;
	g_autofree gchar *path = g_strdup_printf("plugins.stats-filter.%s", key);
	g_autoptr(JsonNode) node = NULL;
	g_assert_cmpuint(herald_test_http("GET", url, NULL, NULL, NULL, 0, &out, NULL), ==, 200);
	node = herald_test_parse_json(out);
	return herald_test_json_get_int(node, path);
}

/* the seed's table with the shipped rules */
static void
test_table(void)
{
	HeraldTestDaemon *daemon = daemon_start(NULL);
	HeraldTestWs *clients[N_CLIENTS];

	connect_all(daemon, clients);
	check_event(daemon,
		    clients,
		    "{\"type\":\"ADMIN_STATS_UPDATED\",\"metadata\":{\"total\":7},\"m\":\"t1\"}",
		    "t1",
		    1 << ADMIN);
	check_event(daemon,
		    clients,
		    "{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"123\",\"metadata\":{"
		    "\"orders\":4},\"m\":\"t2\"}",
		    "t2",
		    1 << SELLER_123);
	check_event(daemon,
		    clients,
		    "{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":456,\"metadata\":{},\"m\":"
		    "\"t3\"}",
		    "t3",
		    1 << SELLER_456);
	/* no seller_id: nobody, not every seller */
	check_event(daemon,
		    clients,
		    "{\"type\":\"SELLER_STATS_UPDATED\",\"metadata\":{},\"m\":\"t4\"}",
		    "t4",
		    0);
	check_event(daemon,
		    clients,
		    "{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"\",\"m\":\"t5\"}",
		    "t5",
		    0);
	check_event(daemon,
		    clients,
		    "{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"999\",\"m\":\"t6\"}",
		    "t6",
		    0);
	/* unknown types and payloads without a type are dropped and counted */
	check_event(daemon, clients, "{\"type\":\"CLIENT_STATS_UPDATED\",\"m\":\"t7\"}", "t7", 0);
	check_event(daemon, clients, "{\"m\":\"t8\"}", "t8", 0);
	check_event(daemon, clients, "{\"type\":7,\"m\":\"t9\"}", "t9", 0);

	g_assert_cmpint(stat(daemon, "stats_events_total"), ==, 9);
	g_assert_cmpint(stat(daemon, "stats_delivered_total"), ==, 4);
	g_assert_cmpint(stat(daemon, "stats_connections_reached_total"), ==, 3);
	g_assert_cmpint(stat(daemon, "stats_dropped_unknown_type_total"), ==, 1);
	g_assert_cmpint(stat(daemon, "stats_dropped_invalid_total"), ==, 2);
	g_assert_cmpint(stat(daemon, "stats_dropped_no_target_total"), ==, 2);
	g_assert_cmpint(stat(daemon, "stats_delivered_by_type_total.SELLER_STATS_UPDATED"), ==, 3);
	g_assert_cmpint(stat(daemon, "rules"), ==, 2);
	g_assert_true(
	    herald_test_daemon_wait_log(daemon,
					"dropped 1 stats event(s), the latest lacked the "
					"fields its rule needs (type 'SELLER_STATS_UPDATED')",
					WAIT_MS));

	for (guint i = 0; i < N_CLIENTS; i++)
		herald_test_ws_free(clients[i]);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
	herald_test_daemon_free(daemon);
}

/* seed 003's hooks, as the frontend runs them on what it receives:
 * AdminDashboard refetches on ADMIN_STATS_UPDATED, SellerAnalytics on
 * SELLER_STATS_UPDATED whose seller_id is its own */
static guint
hook_refetches(HeraldTestWs *ws, const gchar *own_seller_id)
{
	guint n = 0;
	for (guint i = 0; i < ws->messages->len; i++) {
		JsonNode *event = g_ptr_array_index(ws->messages, i);
		const gchar *type = herald_test_json_get_string(event, "type");
		if (own_seller_id == NULL && g_strcmp0(type, "ADMIN_STATS_UPDATED") == 0)
			n++;
		if (own_seller_id != NULL && g_strcmp0(type, "SELLER_STATS_UPDATED") == 0 &&
		    g_strcmp0(herald_test_json_get_string(event, "seller_id"), own_seller_id) == 0)
			n++;
	}
	return n;
}

static guint
count_type(HeraldTestWs *ws, const gchar *type)
{
	guint n = 0;
	for (guint i = 0; i < ws->messages->len; i++) {
		if (g_strcmp0(herald_test_json_get_string(g_ptr_array_index(ws->messages, i), "type"),
			      type) == 0)
			n++;
	}
	return n;
}

/* role names compare case-insensitively: seed 002's lowercase roles (and any
 * other spelling) get exactly what the seed's uppercase table gives */
static void
test_role_case(void)
{
	const gchar *spellings[][N_CLIENTS] = {
	    {"admin", "seller", "seller", "client", "analyst"},
	    {"ADMIN", "SELLER", "SELLER", "CLIENT", "ANALYST"},
	    {"Admin", "Seller", "sELLER", "Client", "Analyst"},
	};

	for (guint s = 0; s < G_N_ELEMENTS(spellings); s++) {
		HeraldTestDaemon *daemon = daemon_start(NULL);
		HeraldTestWs *clients[N_CLIENTS];

		g_test_message("roles spelled %s/%s", spellings[s][ADMIN], spellings[s][SELLER_123]);
		connect_all_as(daemon, clients, spellings[s]);
		check_event(daemon,
			    clients,
			    "{\"type\":\"ADMIN_STATS_UPDATED\",\"metadata\":{\"order_id\":456,"
			    "\"action\":\"order_created\"},\"m\":\"c1\"}",
			    "c1",
			    1 << ADMIN);
		check_event(daemon,
			    clients,
			    "{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"123\",\"metadata\":{"
			    "\"order_id\":456,\"status\":\"payment_confirmed\"},\"m\":\"c2\"}",
			    "c2",
			    1 << SELLER_123);
		check_event(daemon,
			    clients,
			    "{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"456\",\"m\":\"c3\"}",
			    "c3",
			    1 << SELLER_456);
		/* the hooks refetch exactly once per event meant for them */
		g_assert_cmpuint(hook_refetches(clients[ADMIN], NULL), ==, 1);
		g_assert_cmpuint(hook_refetches(clients[SELLER_123], "123"), ==, 1);
		g_assert_cmpuint(hook_refetches(clients[SELLER_456], "456"), ==, 1);
		for (guint i = 0; i < N_CLIENTS; i++) {
			guint admin_events = count_type(clients[i], "ADMIN_STATS_UPDATED");
			guint seller_events = count_type(clients[i], "SELLER_STATS_UPDATED");
			g_assert_cmpuint(admin_events, ==, i == ADMIN ? 1 : 0);
			g_assert_cmpuint(seller_events,
					 ==,
					 i == SELLER_123 || i == SELLER_456 ? 1 : 0);
		}
		g_assert_cmpint(stat(daemon, "stats_connections_reached_total"), ==, 3);
		for (guint i = 0; i < N_CLIENTS; i++)
			herald_test_ws_free(clients[i]);
		g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
		herald_test_daemon_free(daemon);
	}
}

/* ws-rooms' plain `refresh` with a token of the same user and new claims */
static void
refresh_client(HeraldTestWs *ws, const gchar *user, const gchar *role, const gchar *claims)
{
	g_autofree gchar *token = make_token(user, role, claims);
	g_autofree gchar *text =
	    g_strdup_printf("{\"type\":\"refresh\",\"token\":\"%s\"}", token);
	guint n = ws->messages->len;
	herald_test_ws_send(ws, text);
	g_assert_true(herald_test_ws_wait(ws, n + 1, WAIT_MS));
	g_assert_cmpstr(herald_test_json_get_string(g_ptr_array_index(ws->messages, n), "type"),
			==,
			"refreshed");
}

/* the rules match the claims a connection has now: a SELLER refreshed to
 * another seller_id gets that seller's stats only, an ADMIN refreshed as
 * CLIENT no more admin stats */
static void
test_refresh(void)
{
	HeraldTestDaemon *daemon = daemon_start(NULL);
	HeraldTestWs *clients[N_CLIENTS];

	connect_all(daemon, clients);
	refresh_client(clients[SELLER_123], "2", "SELLER", "\"seller_id\":\"789\"");
	refresh_client(clients[ADMIN], "1", "CLIENT", NULL);
	check_event(daemon,
		    clients,
		    "{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"123\",\"m\":\"r1\"}",
		    "r1",
		    0);
	check_event(daemon,
		    clients,
		    "{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"789\",\"m\":\"r2\"}",
		    "r2",
		    1 << SELLER_123);
	check_event(daemon,
		    clients,
		    "{\"type\":\"ADMIN_STATS_UPDATED\",\"metadata\":{},\"m\":\"r3\"}",
		    "r3",
		    0);
	g_assert_cmpint(stat(daemon, "stats_connections_reached_total"), ==, 1);

	for (guint i = 0; i < N_CLIENTS; i++)
		herald_test_ws_free(clients[i]);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
	herald_test_daemon_free(daemon);
}

/* [stats-filter.rules] replaces the table: OR of filters, templates */
static void
test_custom_rules(void)
{
	HeraldTestDaemon *daemon =
	    daemon_start("[stats-filter.rules]\n"
			 "ORDER_STATS_UPDATED=role=SELLER&seller_id={shop.seller};role=ADMIN\n");
	HeraldTestWs *clients[N_CLIENTS];

	connect_all(daemon, clients);
	check_event(daemon,
		    clients,
		    "{\"type\":\"ORDER_STATS_UPDATED\",\"shop\":{\"seller\":\"456\"},\"m\":\"c1\"}",
		    "c1",
		    1 << ADMIN | 1 << SELLER_456);
	/* the shipped rules are gone with a configured group */
	check_event(daemon, clients, "{\"type\":\"ADMIN_STATS_UPDATED\",\"m\":\"c2\"}", "c2", 0);
	g_assert_cmpint(stat(daemon, "rules"), ==, 1);

	/* without the group again (reload): the shipped table is back */
	{
		g_autofree gchar *config = NULL;
		g_auto(GStrv) parts = NULL;
		g_autoptr(GError) error = NULL;
		g_assert_true(g_file_get_contents(daemon->config_file, &config, NULL, &error));
		parts = g_strsplit(config, "[stats-filter.rules]", 2);
		g_assert_true(g_file_set_contents(daemon->config_file, parts[0], -1, &error));
		herald_test_daemon_signal(daemon, SIGHUP);
		g_assert_true(
		    herald_test_daemon_wait_log(daemon, "configuration reloaded", WAIT_MS));
	}
	g_assert_cmpint(stat(daemon, "rules"), ==, 2);
	check_event(daemon,
		    clients,
		    "{\"type\":\"ADMIN_STATS_UPDATED\",\"m\":\"c3\"}",
		    "c3",
		    1 << ADMIN);
	for (guint i = 0; i < N_CLIENTS; i++)
		herald_test_ws_free(clients[i]);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
	herald_test_daemon_free(daemon);
}

static void
test_check_config(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    herald_test_daemon_new("[host]\nplugins=ws-rooms;stats-filter\n"
				   "[stats-filter.rules]\nX_UPDATED=role\nY_UPDATED=id={a\n");
	gchar *argv[] = {(gchar *)"--check-config", (gchar *)"--config", daemon->config_file, NULL};
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	g_autofree gchar *x =
	    g_strdup_printf("%s:stats-filter.rules:X_UPDATED: invalid filter 'role'",
			    daemon->config_file);
	g_autofree gchar *y =
	    g_strdup_printf("%s:stats-filter.rules:Y_UPDATED: invalid filter 'id={a'",
			    daemon->config_file);
	g_assert_cmpint(herald_test_run_heraldd(argv, &out, &err, NULL), ==, 1);
	g_assert_nonnull(strstr(err, x));
	g_assert_nonnull(strstr(err, y));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/stats-filter/e2e/table", test_table);
	g_test_add_func("/stats-filter/e2e/role-case", test_role_case);
	g_test_add_func("/stats-filter/e2e/custom-rules", test_custom_rules);
	g_test_add_func("/stats-filter/e2e/refresh", test_refresh);
	g_test_add_func("/stats-filter/e2e/check-config", test_check_config);
	return g_test_run();
}
