/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <herald.h>

G_BEGIN_DECLS

/* `[stats-filter.rules]`: event type → claim filters (OR), each
 * `claim=value&claim=value` (AND) where a value may hold `{field}` templates
 * filled from the event's payload */
typedef struct _HeraldStatsRules HeraldStatsRules;

HeraldStatsRules *
herald_stats_rules_new(void);
void
herald_stats_rules_free(HeraldStatsRules *rules);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldStatsRules, herald_stats_rules_free)

gboolean
herald_stats_rules_add(HeraldStatsRules *rules,
		       const gchar *type,
		       const gchar *const *filters,
		       GError **error);
void
herald_stats_rules_add_defaults(HeraldStatsRules *rules);
guint
herald_stats_rules_get_size(HeraldStatsRules *rules);

/* the filters for @event, or %NULL when its type has no rule; filters whose
 * templates lack a payload field are left out and counted in @n_missing.
 * Returns: (transfer container) (element-type GStrv) claim/value pairs */
GPtrArray *
herald_stats_rules_expand(HeraldStatsRules *rules,
			  const gchar *type,
			  HeraldEvent *event,
			  guint *n_missing);

G_END_DECLS
