/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "herald-stats-filter-rules.h"

static HeraldEvent *
make_event(const gchar *json)
{
	g_autoptr(JsonNode) payload = json_from_string(json, NULL);
	g_assert_nonnull(payload);
	return herald_event_new(NULL, "events", payload, "test");
}

static gchar *
filters_to_string(GPtrArray *filters)
{
	GString *out = g_string_new(NULL);
	for (guint i = 0; i < filters->len; i++) {
		g_autofree gchar *joined = g_strjoinv(",", g_ptr_array_index(filters, i));
		g_string_append_printf(out, "%s[%s]", i > 0 ? "|" : "", joined);
	}
	return g_string_free(out, FALSE);
}

static void
test_defaults(void)
{
	g_autoptr(HeraldStatsRules) rules = herald_stats_rules_new();
	g_autoptr(HeraldEvent) admin =
	    make_event("{\"type\":\"ADMIN_STATS_UPDATED\",\"metadata\":{}}");
	g_autoptr(HeraldEvent) seller =
	    make_event("{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"123\",\"metadata\":{}}");
	g_autoptr(HeraldEvent) seller_int =
	    make_event("{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":123}");
	g_autoptr(HeraldEvent) orphan = make_event("{\"type\":\"SELLER_STATS_UPDATED\"}");
	g_autoptr(HeraldEvent) empty =
	    make_event("{\"type\":\"SELLER_STATS_UPDATED\",\"seller_id\":\"\"}");
	g_autoptr(GPtrArray) f = NULL;
	g_autofree gchar *s1 = NULL;
	g_autofree gchar *s2 = NULL;
	g_autofree gchar *s3 = NULL;
	guint missing = 0;

	herald_stats_rules_add_defaults(rules);
	g_assert_cmpuint(herald_stats_rules_get_size(rules), ==, 2);

	f = herald_stats_rules_expand(rules, "ADMIN_STATS_UPDATED", admin, &missing);
	s1 = filters_to_string(f);
	g_assert_cmpstr(s1, ==, "[role,ADMIN]");
	g_clear_pointer(&f, g_ptr_array_unref);

	f = herald_stats_rules_expand(rules, "SELLER_STATS_UPDATED", seller, &missing);
	s2 = filters_to_string(f);
	g_assert_cmpstr(s2, ==, "[role,SELLER,seller_id,123]");
	g_clear_pointer(&f, g_ptr_array_unref);

	f = herald_stats_rules_expand(rules, "SELLER_STATS_UPDATED", seller_int, &missing);
	s3 = filters_to_string(f);
	g_assert_cmpstr(s3, ==, "[role,SELLER,seller_id,123]");
	g_clear_pointer(&f, g_ptr_array_unref);
	g_assert_cmpuint(missing, ==, 0);

	/* no seller_id: no filter at all, so nobody */
	f = herald_stats_rules_expand(rules, "SELLER_STATS_UPDATED", orphan, &missing);
	g_assert_cmpuint(f->len, ==, 0);
	g_assert_cmpuint(missing, ==, 1);
	g_clear_pointer(&f, g_ptr_array_unref);
	f = herald_stats_rules_expand(rules, "SELLER_STATS_UPDATED", empty, &missing);
	g_assert_cmpuint(f->len, ==, 0);
	g_assert_cmpuint(missing, ==, 2);
	g_clear_pointer(&f, g_ptr_array_unref);

	g_assert_null(herald_stats_rules_expand(rules, "UNKNOWN", admin, &missing));
}

static void
test_custom(void)
{
	g_autoptr(HeraldStatsRules) rules = herald_stats_rules_new();
	const gchar *filters[] = {"role=ADMIN", "role = SELLER&shop=s-{shop.id}-x", NULL};
	g_autoptr(HeraldEvent) event = make_event("{\"type\":\"T\",\"shop\":{\"id\":\"9\"}}");
	g_autoptr(HeraldEvent) partial = make_event("{\"type\":\"T\"}");
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) f = NULL;
	g_autofree gchar *s = NULL;
	g_autofree gchar *s2 = NULL;
	guint missing = 0;

	g_assert_true(herald_stats_rules_add(rules, "T", filters, &error));
	g_assert_no_error(error);
	f = herald_stats_rules_expand(rules, "T", event, &missing);
	s = filters_to_string(f);
	g_assert_cmpstr(s, ==, "[role,ADMIN]|[role,SELLER,shop,s-9-x]");
	g_clear_pointer(&f, g_ptr_array_unref);
	/* the filter that lacks its field is left out, the other stays */
	f = herald_stats_rules_expand(rules, "T", partial, &missing);
	s2 = filters_to_string(f);
	g_assert_cmpstr(s2, ==, "[role,ADMIN]");
	g_assert_cmpuint(missing, ==, 1);
}

static void
test_invalid(void)
{
	const gchar *bad[] = {"role",
			      "=ADMIN",
			      "role=",
			      "ro le=ADMIN",
			      "role=ADMIN&",
			      "id={",
			      "id={}",
			      "id=}x{y}",
			      "id={a{b}}"};
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(HeraldStatsRules) rules = herald_stats_rules_new();
		g_autoptr(GError) error = NULL;
		const gchar *filters[] = {bad[i], NULL};
		g_assert_false(herald_stats_rules_add(rules, "T", filters, &error));
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
		g_assert_nonnull(strstr(error->message, bad[i]));
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/stats-filter/rules/defaults", test_defaults);
	g_test_add_func("/stats-filter/rules/custom", test_custom);
	g_test_add_func("/stats-filter/rules/invalid", test_invalid);
	return g_test_run();
}
