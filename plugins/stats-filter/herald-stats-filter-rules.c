/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "herald-stats-filter-rules.h"

/* one claim=value pair; the value split into literal text and {field}s */
typedef struct {
	gchar *claim;
	GPtrArray *parts; /* (element-type utf8) even index literal, odd index field */
} RulePair;

typedef struct {
	GPtrArray *pairs; /* (element-type RulePair) */
} RuleFilter;

struct _HeraldStatsRules {
	GHashTable *types; /* type → GPtrArray (element-type RuleFilter) */
};

static void
rule_pair_free(RulePair *pair)
{
	g_free(pair->claim);
	g_ptr_array_unref(pair->parts);
	g_free(pair);
}

static void
rule_filter_free(RuleFilter *filter)
{
	g_ptr_array_unref(filter->pairs);
	g_free(filter);
}

HeraldStatsRules *
herald_stats_rules_new(void)
{
	HeraldStatsRules *rules = g_new0(HeraldStatsRules, 1);
	rules->types = g_hash_table_new_full(g_str_hash,
					     g_str_equal,
					     g_free,
					     (GDestroyNotify)g_ptr_array_unref);
	return rules;
}

void
herald_stats_rules_free(HeraldStatsRules *rules)
{
	if (rules == NULL)
		return;
	g_hash_table_unref(rules->types);
	g_free(rules);
}

static gboolean
rule_claim_is_valid(const gchar *claim)
{
	if (claim[0] == '\0')
		return FALSE;
	for (const gchar *p = claim; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-' && *p != '.')
			return FALSE;
	}
	return TRUE;
}

static GPtrArray *
rule_value_parse(const gchar *value)
{
	GPtrArray *parts = g_ptr_array_new_with_free_func(g_free);
	const gchar *p = value;
	while (TRUE) {
		const gchar *open = strchr(p, '{');
		const gchar *close;
		if (open == NULL) {
			if (strchr(p, '}') != NULL)
				break;
			g_ptr_array_add(parts, g_strdup(p));
			return parts;
		}
		close = strchr(open, '}');
		if (close == NULL || close == open + 1 || memchr(p, '}', open - p) != NULL ||
		    memchr(open + 1, '{', close - open - 1) != NULL)
			break;
		g_ptr_array_add(parts, g_strndup(p, open - p));
		g_ptr_array_add(parts, g_strndup(open + 1, close - open - 1));
		p = close + 1;
	}
	g_ptr_array_unref(parts);
	return NULL;
}

/**
 * herald_stats_rules_add:
 * @filters: e.g. `{"role=SELLER&seller_id={seller_id}", NULL}`
 *
 * Returns: %FALSE with %HERALD_ERROR_CONFIG (translated) on a malformed filter
 */
gboolean
herald_stats_rules_add(HeraldStatsRules *rules,
		       const gchar *type,
		       const gchar *const *filters,
		       GError **error)
{
	g_autoptr(GPtrArray) list =
	    g_ptr_array_new_with_free_func((GDestroyNotify)rule_filter_free);

	for (guint i = 0; filters != NULL && filters[i] != NULL; i++) {
		g_auto(GStrv) pairs = g_strsplit(filters[i], "&", -1);
		RuleFilter *filter = g_new0(RuleFilter, 1);
		filter->pairs = g_ptr_array_new_with_free_func((GDestroyNotify)rule_pair_free);
		g_ptr_array_add(list, filter);
		for (guint j = 0; pairs[j] != NULL; j++) {
			const gchar *eq = strchr(pairs[j], '=');
			g_autofree gchar *claim = NULL;
			g_autofree gchar *value = NULL;
			RulePair *pair;
			GPtrArray *parts;
			if (eq != NULL) {
				claim = g_strstrip(g_strndup(pairs[j], eq - pairs[j]));
				value = g_strstrip(g_strdup(eq + 1));
			}
			if (eq == NULL || !rule_claim_is_valid(claim) || value[0] == '\0') {
				g_set_error(error,
					    HERALD_ERROR,
					    HERALD_ERROR_CONFIG,
					    /* TRANSLATORS: config error; %s is a filter */
					    _("invalid filter '%s': use claim=value&claim=value"),
					    filters[i]);
				return FALSE;
			}
			parts = rule_value_parse(value);
			if (parts == NULL) {
				g_set_error(error,
					    HERALD_ERROR,
					    HERALD_ERROR_CONFIG,
					    /* TRANSLATORS: config error; %s is a filter */
					    _("invalid filter '%s': unbalanced or empty {}"),
					    filters[i]);
				return FALSE;
			}
			pair = g_new0(RulePair, 1);
			pair->claim = g_steal_pointer(&claim);
			pair->parts = parts;
			g_ptr_array_add(filter->pairs, pair);
		}
	}
	g_hash_table_replace(rules->types, g_strdup(type), g_steal_pointer(&list));
	return TRUE;
}

/* the seed's table: admins get admin stats; a seller its own stats only */
void
herald_stats_rules_add_defaults(HeraldStatsRules *rules)
{
	const gchar *admin[] = {"role=ADMIN", NULL};
	const gchar *seller[] = {"role=SELLER&seller_id={seller_id}", NULL};
	herald_stats_rules_add(rules, "ADMIN_STATS_UPDATED", admin, NULL);
	herald_stats_rules_add(rules, "SELLER_STATS_UPDATED", seller, NULL);
}

guint
herald_stats_rules_get_size(HeraldStatsRules *rules)
{
	return g_hash_table_size(rules->types);
}

GPtrArray *
herald_stats_rules_expand(HeraldStatsRules *rules,
			  const gchar *type,
			  HeraldEvent *event,
			  guint *n_missing)
{
	GPtrArray *list = g_hash_table_lookup(rules->types, type);
	GPtrArray *out;

	if (list == NULL)
		return NULL;
	out = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
	for (guint i = 0; i < list->len; i++) {
		RuleFilter *filter = g_ptr_array_index(list, i);
		g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
		gboolean ok = TRUE;
		for (guint j = 0; ok && j < filter->pairs->len; j++) {
			RulePair *pair = g_ptr_array_index(filter->pairs, j);
			g_autoptr(GString) value = g_string_new(NULL);
			for (guint k = 0; k < pair->parts->len; k++) {
				const gchar *part = g_ptr_array_index(pair->parts, k);
				g_autofree gchar *field = NULL;
				if (k % 2 == 0) {
					g_string_append(value, part);
					continue;
				}
				field = herald_event_get_payload_field(event, part);
				/* no value, no target: never a filter that matches "" */
				if (field == NULL || field[0] == '\0') {
					ok = FALSE;
					break;
				}
				g_string_append(value, field);
			}
			g_strv_builder_add(builder, pair->claim);
			g_strv_builder_add(builder, value->str);
		}
		if (!ok) {
			(*n_missing)++;
			continue;
		}
		g_ptr_array_add(out, g_strv_builder_end(builder));
	}
	return out;
}
