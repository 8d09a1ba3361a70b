/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <herald.h>

#include "herald-stats-filter-plugin.h"
#include "herald-stats-filter-rules.h"

#define SF_RULES_GROUP "stats-filter.rules"

struct _HeraldStatsFilterPlugin {
	HeraldPlugin parent_instance;
	HeraldStatsRules *rules; /* (owned) (nullable) until startup */
	gulong event_id;
	guint log_interval_s;
	GHashTable *events_by_type;    /* type → guint64* */
	GHashTable *delivered_by_type; /* type → guint64* */
	guint64 events;
	guint64 delivered;
	guint64 reached;
	guint64 unknown;
	guint64 invalid;
	guint64 no_target;
	guint64 missing_fields;
	guint64 unlogged;
	gint64 logged_at;
};

G_DEFINE_FINAL_TYPE(HeraldStatsFilterPlugin, herald_stats_filter_plugin, HERALD_TYPE_PLUGIN)

static const HeraldConfigKey stats_filter_keys[] = {
    {"log-interval-s",
     HERALD_CONFIG_UINT,
     "60",
     1,
     86400,
     NULL,
     0,
     "dropped events (unknown type, not an object, nobody to send to) are logged at most "
     "once per interval"},
};

/* [stats-filter.rules] if present (it replaces the built-in table), else the defaults */
static HeraldStatsRules *
sf_rules_load(HeraldConfig *config, GPtrArray *problems, GError **error)
{
	g_autoptr(HeraldStatsRules) rules = herald_stats_rules_new();
	g_auto(GStrv) types = herald_config_get_keys(config, SF_RULES_GROUP);

	if (types == NULL || types[0] == NULL) {
		herald_stats_rules_add_defaults(rules);
		return g_steal_pointer(&rules);
	}
	for (guint i = 0; types[i] != NULL; i++) {
		g_auto(GStrv) filters = herald_config_get_strv(config, SF_RULES_GROUP, types[i]);
		g_autoptr(GError) error_local = NULL;
		if (herald_stats_rules_add(rules,
					   types[i],
					   (const gchar *const *)filters,
					   &error_local))
			continue;
		if (problems != NULL) {
			HeraldConfigProblem *problem = g_new0(HeraldConfigProblem, 1);
			problem->file =
			    g_strdup(herald_config_get_origin(config, SF_RULES_GROUP, types[i]));
			problem->group = g_strdup(SF_RULES_GROUP);
			problem->key = g_strdup(types[i]);
			problem->message = g_strdup(error_local->message);
			g_ptr_array_add(problems, problem);
			continue;
		}
		g_propagate_prefixed_error(error,
					   g_steal_pointer(&error_local),
					   "%s:%s: ",
					   SF_RULES_GROUP,
					   types[i]);
		return NULL;
	}
	return g_steal_pointer(&rules);
}

static void
sf_count(GHashTable *table, const gchar *type)
{
	guint64 *count = g_hash_table_lookup(table, type);
	if (count == NULL) {
		/* bounded: only types with a rule get their own counter */
		count = g_new0(guint64, 1);
		g_hash_table_insert(table, g_strdup(type), count);
	}
	(*count)++;
}

static void
sf_drop(HeraldStatsFilterPlugin *self, guint64 *counter, const gchar *why, const gchar *type)
{
	gint64 now = g_get_monotonic_time();
	(*counter)++;
	self->unlogged++;
	if (self->logged_at != 0 &&
	    now - self->logged_at < (gint64)self->log_interval_s * G_USEC_PER_SEC)
		return;
	{
		g_autofree gchar *shown = g_strndup(type != NULL ? type : "", 64);
		g_autofree gchar *escaped = g_strescape(shown, NULL);
		g_info("dropped %" G_GUINT64_FORMAT " stats event(s), the latest %s (type '%s')",
		       self->unlogged,
		       why,
		       escaped);
	}
	self->unlogged = 0;
	self->logged_at = now;
}

/* events routed to us (route `stats`, channel `events`): deliver verbatim to
 * the connections whose claims match the rule of the event's type */
static void
sf_event_cb(HeraldBus *bus, HeraldEvent *event, gpointer user_data)
{
	HeraldStatsFilterPlugin *self = HERALD_STATS_FILTER_PLUGIN(user_data);
	g_autoptr(GPtrArray) filters = NULL;
	g_autoptr(HeraldDelivery) delivery = NULL;
	g_autofree gchar *type = NULL;
	guint n_missing = 0;
	guint reached;

	self->events++;
	if (!herald_event_is_verbatim(event)) {
		sf_drop(self, &self->invalid, "was not an object with a string 'type'", NULL);
		return;
	}
	type = herald_event_get_payload_field(event, "type");
	filters = herald_stats_rules_expand(self->rules, type, event, &n_missing);
	if (filters == NULL) {
		sf_drop(self, &self->unknown, "had a type without a rule", type);
		return;
	}
	sf_count(self->events_by_type, type);
	self->missing_fields += n_missing;
	if (filters->len == 0) {
		sf_drop(self, &self->no_target, "lacked the fields its rule needs", type);
		return;
	}
	delivery = herald_delivery_new(event, type);
	for (guint i = 0; i < filters->len; i++)
		herald_delivery_add_filter(delivery, g_ptr_array_index(filters, i));
	reached = herald_bus_deliver(bus, delivery);
	self->delivered++;
	self->reached += reached;
	sf_count(self->delivered_by_type, type);
}

static void
herald_stats_filter_plugin_check_config(HeraldPlugin *plugin, GPtrArray *problems)
{
	g_autoptr(HeraldStatsRules) rules =
	    sf_rules_load(herald_plugin_get_config(plugin), problems, NULL);
}

static gboolean
sf_read_config(HeraldStatsFilterPlugin *self, GError **error)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(self);
	HeraldStatsRules *rules = sf_rules_load(herald_plugin_get_config(plugin), NULL, error);
	if (rules == NULL)
		return FALSE;
	g_clear_pointer(&self->rules, herald_stats_rules_free);
	self->rules = rules;
	self->log_interval_s = (guint)herald_plugin_get_config_uint64(plugin, "log-interval-s");
	return TRUE;
}

static gboolean
herald_stats_filter_plugin_startup(HeraldPlugin *plugin, GError **error)
{
	HeraldStatsFilterPlugin *self = HERALD_STATS_FILTER_PLUGIN(plugin);
	HeraldBus *bus = herald_plugin_get_bus(plugin);
	g_autofree gchar *detailed = g_strdup_printf("event::%s", herald_plugin_get_name(plugin));

	if (!sf_read_config(self, error))
		return FALSE;
	self->event_id = g_signal_connect(bus, detailed, G_CALLBACK(sf_event_cb), self);
	return TRUE;
}

static gboolean
herald_stats_filter_plugin_reload(HeraldPlugin *plugin, GError **error)
{
	HeraldStatsFilterPlugin *self = HERALD_STATS_FILTER_PLUGIN(plugin);
	if (self->rules == NULL)
		return TRUE;
	return sf_read_config(self, error);
}

static void
sf_disconnect_bus(HeraldStatsFilterPlugin *self)
{
	HeraldBus *bus = herald_plugin_get_bus(HERALD_PLUGIN(self));
	if (bus != NULL)
		g_clear_signal_handler(&self->event_id, bus);
}

static void
herald_stats_filter_plugin_shutdown_async(HeraldPlugin *plugin,
					  GCancellable *cancellable,
					  GAsyncReadyCallback callback,
					  gpointer user_data)
{
	HeraldStatsFilterPlugin *self = HERALD_STATS_FILTER_PLUGIN(plugin);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	sf_disconnect_bus(self);
	g_task_return_boolean(task, TRUE);
}

static gboolean
herald_stats_filter_plugin_shutdown_finish(HeraldPlugin *plugin, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

static GVariant *
sf_type_dict(GHashTable *table)
{
	g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT(NULL);
	GHashTableIter iter;
	gpointer key, value;
	g_hash_table_iter_init(&iter, table);
	while (g_hash_table_iter_next(&iter, &key, &value))
		g_variant_dict_insert(&dict, key, "t", *(guint64 *)value);
	return g_variant_dict_end(&dict);
}

static void
herald_stats_filter_plugin_add_stats(HeraldPlugin *plugin, GVariantDict *dict)
{
	HeraldStatsFilterPlugin *self = HERALD_STATS_FILTER_PLUGIN(plugin);
	g_variant_dict_insert(dict,
			      "rules",
			      "u",
			      self->rules != NULL ? herald_stats_rules_get_size(self->rules) : 0);
	g_variant_dict_insert(dict, "stats_events_total", "t", self->events);
	g_variant_dict_insert_value(dict,
				    "stats_events_by_type_total",
				    sf_type_dict(self->events_by_type));
	g_variant_dict_insert(dict, "stats_delivered_total", "t", self->delivered);
	g_variant_dict_insert_value(dict,
				    "stats_delivered_by_type_total",
				    sf_type_dict(self->delivered_by_type));
	g_variant_dict_insert(dict, "stats_connections_reached_total", "t", self->reached);
	g_variant_dict_insert(dict, "stats_dropped_unknown_type_total", "t", self->unknown);
	g_variant_dict_insert(dict, "stats_dropped_invalid_total", "t", self->invalid);
	g_variant_dict_insert(dict, "stats_dropped_no_target_total", "t", self->no_target);
	g_variant_dict_insert(dict, "stats_missing_fields_total", "t", self->missing_fields);
}

static void
herald_stats_filter_plugin_init(HeraldStatsFilterPlugin *self)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(self);
	herald_plugin_add_config_keys(plugin, stats_filter_keys, G_N_ELEMENTS(stats_filter_keys));
	herald_plugin_add_config_group(
	    plugin,
	    "rules",
	    HERALD_CONFIG_LIST,
	    "event type = ';'-list of claim filters (any may match), each claim=value&claim=value "
	    "(all must match the connection's JWT; {field} is a payload field); a type without a "
	    "rule is dropped; without this group: ADMIN_STATS_UPDATED=role=ADMIN, "
	    "SELLER_STATS_UPDATED=role=SELLER&seller_id={seller_id}");
	self->events_by_type = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->delivered_by_type = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

static void
herald_stats_filter_plugin_dispose(GObject *object)
{
	HeraldStatsFilterPlugin *self = HERALD_STATS_FILTER_PLUGIN(object);
	sf_disconnect_bus(self);
	G_OBJECT_CLASS(herald_stats_filter_plugin_parent_class)->dispose(object);
}

static void
herald_stats_filter_plugin_finalize(GObject *object)
{
	HeraldStatsFilterPlugin *self = HERALD_STATS_FILTER_PLUGIN(object);
	g_clear_pointer(&self->rules, herald_stats_rules_free);
	g_hash_table_unref(self->events_by_type);
	g_hash_table_unref(self->delivered_by_type);
	G_OBJECT_CLASS(herald_stats_filter_plugin_parent_class)->finalize(object);
}

static void
herald_stats_filter_plugin_class_init(HeraldStatsFilterPluginClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	HeraldPluginClass *plugin_class = HERALD_PLUGIN_CLASS(klass);
	object_class->dispose = herald_stats_filter_plugin_dispose;
	object_class->finalize = herald_stats_filter_plugin_finalize;
	plugin_class->startup = herald_stats_filter_plugin_startup;
	plugin_class->reload = herald_stats_filter_plugin_reload;
	plugin_class->shutdown_async = herald_stats_filter_plugin_shutdown_async;
	plugin_class->shutdown_finish = herald_stats_filter_plugin_shutdown_finish;
	plugin_class->add_stats = herald_stats_filter_plugin_add_stats;
	plugin_class->check_config = herald_stats_filter_plugin_check_config;
}

/* the one symbol this module exports */
HERALD_PLUGIN_DEFINE_QUERY_TYPE(HERALD_TYPE_STATS_FILTER_PLUGIN)
