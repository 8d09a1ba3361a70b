/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* the pending budget and the per-address counts, without a hub */
#include "config.h"

#include "herald-ws-rooms-budget.h"

typedef struct {
	HeraldWsRoomsBudgetEntry budget;
	guint n;
} FakeClient;

static guint64
stat_u64(GVariantDict *dict, const gchar *key)
{
	g_autoptr(GVariant) value = g_variant_dict_lookup_value(dict, key, NULL);
	g_assert_nonnull(value);
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT32))
		return g_variant_get_uint32(value);
	return g_variant_get_uint64(value);
}

/* the oldest pending session goes first, per address before the total */
static void
test_evict_oldest(void)
{
	HeraldWsRoomsBudget *budget = herald_ws_rooms_budget_new();
	FakeClient clients[6] = {0};
	const gchar *addresses[] = {"10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3", NULL};
	g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT(NULL);

	for (guint i = 0; i < 6; i++) {
		clients[i].n = i;
		herald_ws_rooms_budget_set_address(budget, &clients[i].budget, &clients[i], addresses[i]);
	}
	/* nothing to evict while under both limits */
	g_assert_null(herald_ws_rooms_budget_pick_victim(budget, "10.0.0.1", 4, 2));
	herald_ws_rooms_budget_add_pending(budget, &clients[0].budget);
	herald_ws_rooms_budget_add_pending(budget, &clients[1].budget);
	herald_ws_rooms_budget_add_pending(budget, &clients[2].budget);
	g_assert_cmpuint(herald_ws_rooms_budget_get_n_pending(budget), ==, 3);
	/* 10.0.0.1 has 2 of 2: its oldest */
	g_assert_true(herald_ws_rooms_budget_pick_victim(budget, "10.0.0.1", 4, 2) == &clients[0]);
	/* another address under its limit, total under 4: none */
	g_assert_null(herald_ws_rooms_budget_pick_victim(budget, "10.0.0.3", 4, 2));
	/* total full: the oldest of all */
	g_assert_true(herald_ws_rooms_budget_pick_victim(budget, "10.0.0.3", 3, 2) == &clients[0]);
	g_assert_true(herald_ws_rooms_budget_pick_victim(budget, NULL, 3, 2) == &clients[0]);
	herald_ws_rooms_budget_remove_pending(budget, &clients[0].budget);
	herald_ws_rooms_budget_count_evicted(budget);
	g_assert_true(herald_ws_rooms_budget_pick_victim(budget, "10.0.0.3", 2, 2) == &clients[1]);
	/* removing twice is harmless; an authenticated client is no longer pending */
	herald_ws_rooms_budget_remove_pending(budget, &clients[0].budget);
	herald_ws_rooms_budget_remove_pending(budget, &clients[1].budget);
	g_assert_cmpuint(herald_ws_rooms_budget_get_n_pending(budget), ==, 1);
	g_assert_true(herald_ws_rooms_budget_pick_victim(budget, NULL, 1, 2) == &clients[2]);
	/* a client without address counts in the total only */
	herald_ws_rooms_budget_add_pending(budget, &clients[5].budget);
	g_assert_true(herald_ws_rooms_budget_pick_victim(budget, NULL, 2, 1) == &clients[2]);
	g_assert_true(herald_ws_rooms_budget_pick_victim(budget, "10.0.0.2", 3, 1) == &clients[2]);
	herald_ws_rooms_budget_add_stats(budget, &dict);
	{
		GVariant *stats = g_variant_ref_sink(g_variant_dict_end(&dict));
		g_auto(GVariantDict) out = G_VARIANT_DICT_INIT(stats);
		g_assert_cmpuint(stat_u64(&out, "pending_sessions"), ==, 2);
		g_assert_cmpuint(stat_u64(&out, "pending_evicted_total"), ==, 1);
		g_variant_unref(stats);
	}
	for (guint i = 0; i < 6; i++)
		herald_ws_rooms_budget_release(budget, &clients[i].budget);
	g_assert_cmpuint(herald_ws_rooms_budget_get_n_pending(budget), ==, 0);
	g_assert_cmpuint(herald_ws_rooms_budget_get_n_addresses(budget), ==, 0);
	herald_ws_rooms_budget_free(budget);
}

/* connections per address; entries go when their last client goes */
static void
test_per_address(void)
{
	HeraldWsRoomsBudget *budget = herald_ws_rooms_budget_new();
	FakeClient a = {0}, b = {0}, c = {0};

	herald_ws_rooms_budget_set_address(budget, &a.budget, &a, "192.0.2.1");
	herald_ws_rooms_budget_set_address(budget, &b.budget, &b, "192.0.2.1");
	herald_ws_rooms_budget_set_address(budget, &c.budget, &c, "192.0.2.2");
	g_assert_cmpuint(herald_ws_rooms_budget_get_n_addresses(budget), ==, 2);
	g_assert_cmpstr(herald_ws_rooms_budget_entry_get_address(&a.budget), ==, "192.0.2.1");
	g_assert_true(herald_ws_rooms_budget_address_allows(budget, "192.0.2.1", 2));
	herald_ws_rooms_budget_add_connection(budget, &a.budget);
	herald_ws_rooms_budget_add_connection(budget, &a.budget); /* once per client */
	g_assert_true(herald_ws_rooms_budget_address_allows(budget, "192.0.2.1", 2));
	herald_ws_rooms_budget_add_connection(budget, &b.budget);
	g_assert_false(herald_ws_rooms_budget_address_allows(budget, "192.0.2.1", 2));
	/* 0 = unlimited; other addresses and unknown ones are free */
	g_assert_true(herald_ws_rooms_budget_address_allows(budget, "192.0.2.1", 0));
	g_assert_true(herald_ws_rooms_budget_address_allows(budget, "192.0.2.2", 2));
	g_assert_true(herald_ws_rooms_budget_address_allows(budget, "198.51.100.7", 1));
	g_assert_true(herald_ws_rooms_budget_address_allows(budget, NULL, 1));
	herald_ws_rooms_budget_release(budget, &a.budget);
	g_assert_true(herald_ws_rooms_budget_address_allows(budget, "192.0.2.1", 2));
	herald_ws_rooms_budget_release(budget, &a.budget); /* twice: harmless */
	herald_ws_rooms_budget_release(budget, &b.budget);
	g_assert_cmpuint(herald_ws_rooms_budget_get_n_addresses(budget), ==, 1);
	herald_ws_rooms_budget_release(budget, &c.budget);
	g_assert_cmpuint(herald_ws_rooms_budget_get_n_addresses(budget), ==, 0);
	herald_ws_rooms_budget_free(budget);
}

/* 100,000 pending sessions from 1,000 addresses come and go: the table
 * holds no entry afterwards */
static void
test_many(void)
{
	HeraldWsRoomsBudget *budget = herald_ws_rooms_budget_new();
	guint n = 100000;
	FakeClient *clients = g_new0(FakeClient, n);

	for (guint i = 0; i < n; i++) {
		g_autofree gchar *address = g_strdup_printf("10.1.%u.%u", (i % 1000) / 250, i % 250);
		FakeClient *victim;
		while ((victim = herald_ws_rooms_budget_pick_victim(budget, address, 500, 8)) != NULL) {
			herald_ws_rooms_budget_remove_pending(budget, &victim->budget);
			herald_ws_rooms_budget_release(budget, &victim->budget);
		}
		herald_ws_rooms_budget_set_address(budget, &clients[i].budget, &clients[i], address);
		herald_ws_rooms_budget_add_pending(budget, &clients[i].budget);
		g_assert_cmpuint(herald_ws_rooms_budget_get_n_pending(budget), <=, 500);
	}
	for (guint i = 0; i < n; i++)
		herald_ws_rooms_budget_release(budget, &clients[i].budget);
	g_assert_cmpuint(herald_ws_rooms_budget_get_n_pending(budget), ==, 0);
	g_assert_cmpuint(herald_ws_rooms_budget_get_n_addresses(budget), ==, 0);
	g_free(clients);
	herald_ws_rooms_budget_free(budget);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/herald/ws-rooms/budget/evict-oldest", test_evict_oldest);
	g_test_add_func("/herald/ws-rooms/budget/per-address", test_per_address);
	g_test_add_func("/herald/ws-rooms/budget/many", test_many);
	return g_test_run();
}
