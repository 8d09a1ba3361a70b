/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <herald.h>
#include <string.h>

#include "herald-notifier-whatsapp-journal.h"
#include "herald-notifier-whatsapp-limiter.h"
#include "herald-notifier-whatsapp-plugin.h"
#include "herald-notifier-whatsapp-provider.h"
#include "herald-notifier-whatsapp-record.h"

#define REDIS_PREFIX_STATUS "herald:notify:status:"
#define REDIS_KEY_QUEUE	    "herald:notify:queue"
#define REDIS_KEY_DEAD	    "herald:notify:dead"
#define REDIS_KEY_PHONES    "herald:phones"
#define REDIS_PREFIX_LOCK   "herald:notify:lock:"

typedef enum {
	HERALD_NOTIFY_STORE_FILE,
	HERALD_NOTIFY_STORE_REDIS,
} HeraldNotifyStoreKind;

struct _HeraldNotifierWhatsappPlugin {
	HeraldPlugin parent_instance;

	/* configuration */
	HeraldNotifyMode mode;
	gchar *api_base;
	gchar *api_version;
	gchar *phone_number_id;
	gchar *token; /* (nullable) never logged */
	gchar *webhook_url;
	gchar *template_language;
	GHashTable *templates; /* (element-type utf8 utf8): type → "name" or "name:lang" */
	gboolean text_first;
	guint64 retry_interval_s;
	guint64 batch_size;
	guint64 max_attempts;
	guint64 backoff_base_s;
	guint64 backoff_cap_s;
	guint64 low_ttl_s;
	guint64 status_retention_s;
	guint64 request_timeout_s;
	guint64 max_in_flight;
	guint64 max_queued;
	HeraldNotifyLimits limits;
	GHashTable *phones; /* (element-type utf8 utf8) from phones-file; never logged */

	/* state */
	HeraldNotifyStoreKind store_kind;
	HeraldNotifyJournal *journal; /* (owned) (nullable): file store */
	GHashTable *records; /* (element-type utf8 HeraldNotifyRecord) (owned) */
	HeraldNotifyLimiter *limiter;
	SoupSession *session;
	GCancellable *cancellable;
	GQueue ready; /* (element-type utf8): ids waiting for an HTTP slot */
	guint in_flight;
	guint pending_tasks; /* bus requests not completed yet */
	guint job_id;
	gulong notify_id;
	gulong connected_id;
	gulong broadcast_id; /* event::notifier-whatsapp: broadcasts from other instances */
	gboolean loaded; /* redis: the queue was read back */
	gboolean store_failing; /* the last store write failed: degraded */
	guint load_retry_id;	/* redis: reading the queue back again soon */
	gboolean shutting_down;
	GTask *shutdown_task;
	guint shutdown_poll_id;
	gint64 shutdown_deadline;

	/* stats */
	guint64 accepted;
	guint64 sent_websocket;
	guint64 sent_whatsapp;
	guint64 fallbacks;
	guint64 retries;
	guint64 dead_letters;
	guint64 failed;
	guint64 expired;
	guint64 rate_limited;
	guint64 rate_limited_phone;	 /* 429: the request's phone number was over its limit */
	guint64 whatsapp_phone_deferred; /* WhatsApp attempts put off: the looked-up number was */
	guint64 rejected;
	guint64 template_switches;
	guint64 store_errors;
	guint64 broadcasts;
	guint64 broadcasts_remote;	     /* delivered here for another instance */
	guint64 broadcasts_remote_rejected; /* routed here but not a broadcast */
	guint64 job_runs;
};

/* broadcasts travel to the other instances on this channel; the shipped route
 * `notify-broadcast` hands it to this plugin there */
#define HERALD_NOTIFY_BROADCAST_CHANNEL "herald:notify:broadcast"

G_DEFINE_FINAL_TYPE(HeraldNotifierWhatsappPlugin,
		    herald_notifier_whatsapp_plugin,
		    HERALD_TYPE_PLUGIN)

/* every key has a commented line in data/herald.conf (DESIGN §2) */
static const HeraldConfigKey notifier_keys[] = {
    {"mode",
     HERALD_CONFIG_ENUM,
     "none",
     0,
     0,
     "cloud-api;webhook;none",
     0,
     "WhatsApp fallback: the Cloud API, a JSON POST to webhook-url, or none (WebSocket only)"},
    {"api-base",
     HERALD_CONFIG_STRING,
     "https://graph.facebook.com",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_NOT_EMPTY,
     "cloud-api: base URL of the Graph API"},
    {"api-version",
     HERALD_CONFIG_STRING,
     "v21.0",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_NOT_EMPTY,
     "cloud-api: Graph API version in the path"},
    {"phone-number-id",
     HERALD_CONFIG_STRING,
     NULL,
     0,
     0,
     NULL,
     0,
     "cloud-api: the sender's phone number id (required with mode=cloud-api)"},
    {"token",
     HERALD_CONFIG_SECRET,
     NULL,
     0,
     0,
     NULL,
     0,
     "Bearer token (cloud-api: required; webhook: sent when set)"},
    {"webhook-url",
     HERALD_CONFIG_STRING,
     NULL,
     0,
     0,
     NULL,
     0,
     "webhook: URL that gets a JSON POST per WhatsApp message (required with mode=webhook)"},
    {"template-language",
     HERALD_CONFIG_STRING,
     "es",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_NOT_EMPTY,
     "language code of templates whose [notifier-whatsapp.templates] entry names none"},
    {"text-first",
     HERALD_CONFIG_BOOLEAN,
     "false",
     0,
     0,
     NULL,
     0,
     "cloud-api: send free text first and switch to the template on error 131047"},
    {"retry-interval-s",
     HERALD_CONFIG_UINT,
     "300",
     1,
     86400,
     NULL,
     0,
     "how often the retry queue is processed"},
    {"batch-size",
     HERALD_CONFIG_UINT,
     "100",
     1,
     100000,
     NULL,
     0,
     "notifications the retry queue processes per run at most"},
    {"max-attempts",
     HERALD_CONFIG_UINT,
     "5",
     1,
     1000,
     NULL,
     0,
     "WhatsApp attempts before a notification goes to the dead-letter list"},
    {"backoff-base-s",
     HERALD_CONFIG_UINT,
     "30",
     1,
     86400,
     NULL,
     0,
     "delay after the first failed attempt; doubles per attempt, with jitter"},
    {"backoff-cap-s",
     HERALD_CONFIG_UINT,
     "3600",
     1,
     604800,
     NULL,
     0,
     "longest delay between attempts"},
    {"rate-per-minute",
     HERALD_CONFIG_UINT,
     "60",
     0,
     1000000,
     NULL,
     0,
     "notifications per recipient (user id, and phone number) per minute (0 = unlimited); "
     "more get HTTP 429"},
    {"rate-per-hour",
     HERALD_CONFIG_UINT,
     "500",
     0,
     10000000,
     NULL,
     0,
     "notifications per recipient (user id, and phone number) per hour (0 = unlimited); "
     "more get HTTP 429"},
    {"low-ttl-s",
     HERALD_CONFIG_UINT,
     "86400",
     1,
     2592000,
     NULL,
     0,
     "how long a low-priority notification waits for its user to connect"},
    {"status-retention-s",
     HERALD_CONFIG_UINT,
     "604800",
     60,
     31536000,
     NULL,
     0,
     "how long the status and delivery log of a finished notification are kept"},
    {"request-timeout-s",
     HERALD_CONFIG_UINT,
     "20",
     1,
     600,
     NULL,
     0,
     "timeout of one request to the WhatsApp provider"},
    {"max-in-flight",
     HERALD_CONFIG_UINT,
     "8",
     1,
     1000,
     NULL,
     0,
     "concurrent requests to the WhatsApp provider"},
    {"max-queued",
     HERALD_CONFIG_UINT,
     "100000",
     1,
     10000000,
     NULL,
     0,
     "unfinished notifications kept at most; more get HTTP 503"},
    {"max-title-bytes",
     HERALD_CONFIG_UINT,
     "256",
     1,
     65536,
     NULL,
     0,
     "longest title; longer gets HTTP 413"},
    {"max-message-bytes",
     HERALD_CONFIG_UINT,
     "4000",
     1,
     65536,
     NULL,
     0,
     "longest message; longer gets HTTP 413"},
    {"max-data-bytes",
     HERALD_CONFIG_UINT,
     "16384",
     2,
     1048576,
     NULL,
     0,
     "largest data object (as JSON); larger gets HTTP 413"},
    {"phones-file",
     HERALD_CONFIG_STRING,
     NULL,
     0,
     0,
     NULL,
     0,
     "without Redis: a key file whose [phones] group maps user ids to E.164 numbers"},
    {"store",
     HERALD_CONFIG_ENUM,
     "auto",
     0,
     0,
     "auto;redis;file",
     HERALD_CONFIG_FLAG_RESTART,
     "durable queue: Redis via redis-bridge, the journal in [host] state-dir, or auto"},
};

static void
herald_notifier_process(HeraldNotifierWhatsappPlugin *self, HeraldNotifyRecord *record);
static void
herald_notifier_whatsapp_start(HeraldNotifierWhatsappPlugin *self, HeraldNotifyRecord *record);
static void
herald_notifier_pump(HeraldNotifierWhatsappPlugin *self);
static void
herald_notifier_claim(HeraldNotifierWhatsappPlugin *self, HeraldNotifyRecord *record);
static void
herald_notifier_schedule_load(HeraldNotifierWhatsappPlugin *self);
static void
herald_notifier_load_redis(HeraldNotifierWhatsappPlugin *self);

/* ------------------------------------------------------------------ store */

/* The store's health is the plugin's: while writes fail (a full disk, Redis
 * gone) the plugin is degraded on /health, D-Bus and heraldctl with the
 * reason, and it is running again after the next write that succeeds. One
 * state change per outage, not one warning per failed write. */
static void
herald_notifier_store_failed(HeraldNotifierWhatsappPlugin *self, const gchar *message)
{
	HeraldPluginState state = herald_plugin_get_state(HERALD_PLUGIN(self));
	g_autofree gchar *why = NULL;

	self->store_errors++;
	if (self->store_failing)
		return;
	self->store_failing = TRUE;
	if (state != HERALD_PLUGIN_STATE_RUNNING && state != HERALD_PLUGIN_STATE_DEGRADED &&
	    state != HERALD_PLUGIN_STATE_LOADED)
		return;
	why = g_strdup_printf("notification store: %s", message != NULL ? message : "unknown error");
	herald_plugin_set_state(HERALD_PLUGIN(self), HERALD_PLUGIN_STATE_DEGRADED, why);
}

static void
herald_notifier_store_ok(HeraldNotifierWhatsappPlugin *self)
{
	if (!self->store_failing)
		return;
	self->store_failing = FALSE;
	if (herald_plugin_get_state(HERALD_PLUGIN(self)) == HERALD_PLUGIN_STATE_DEGRADED)
		herald_plugin_set_state(HERALD_PLUGIN(self), HERALD_PLUGIN_STATE_RUNNING, NULL);
}

static void
herald_notifier_redis_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(source);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = g_task_propagate_pointer(G_TASK(res), &error);
	self->pending_tasks--;
	if (node == NULL && error != NULL) {
		if (!self->store_failing)
			g_warning("redis command for the notification store failed: %s",
				  error->message);
		herald_notifier_store_failed(self, error->message);
	} else if (node != NULL) {
		herald_notifier_store_ok(self);
	}
}

/* fire and forget (ordered on redis-bridge's command connection) */
static void
herald_notifier_redis(HeraldNotifierWhatsappPlugin *self,
		      GStrv argv,
		      GAsyncReadyCallback callback,
		      gpointer user_data)
{
	HeraldBus *bus = herald_plugin_get_bus(HERALD_PLUGIN(self));
	g_autoptr(GTask) task =
	    g_task_new(self,
		       NULL,
		       callback != NULL ? callback : herald_notifier_redis_done_cb,
		       user_data);
	g_task_set_task_data(task, argv, (GDestroyNotify)g_strfreev);
	self->pending_tasks++;
	if (!herald_bus_request(bus, HERALD_BUS_REQUEST_REDIS, task)) {
		g_task_return_new_error(task,
					HERALD_ERROR,
					HERALD_ERROR_UNAVAILABLE,
					"redis-bridge does not serve redis requests");
	}
}

static GStrv
herald_notifier_argv(const gchar *first, ...) G_GNUC_NULL_TERMINATED;

static GStrv
herald_notifier_argv(const gchar *first, ...)
{
	GPtrArray *argv = g_ptr_array_new();
	va_list args;
	va_start(args, first);
	for (const gchar *arg = first; arg != NULL; arg = va_arg(args, const gchar *))
		g_ptr_array_add(argv, g_strdup(arg));
	va_end(args);
	g_ptr_array_add(argv, NULL);
	return (GStrv)g_ptr_array_free(argv, FALSE);
}

/* the record as it is now, durable before this returns (file store) or
 * queued in order on the Redis command connection */
static gboolean
herald_notifier_store_put(HeraldNotifierWhatsappPlugin *self,
			  HeraldNotifyRecord *record,
			  GError **error)
{
	g_autoptr(JsonNode) node = herald_notify_record_to_json(record, TRUE);

	if (self->store_kind == HERALD_NOTIFY_STORE_FILE) {
		if (self->journal == NULL)
			return TRUE;
		if (!herald_notify_journal_put(self->journal, node, error)) {
			herald_notifier_store_failed(self, (*error)->message);
			return FALSE;
		}
		herald_notifier_store_ok(self);
		return TRUE;
	} else {
		g_autofree gchar *json = herald_json_to_string(node);
		g_autofree gchar *key = g_strconcat(REDIS_PREFIX_STATUS, record->id, NULL);
		if (herald_notify_status_is_final(record->status)) {
			g_autofree gchar *ttl =
			    g_strdup_printf("%" G_GUINT64_FORMAT, self->status_retention_s);
			herald_notifier_redis(self,
					      herald_notifier_argv("SET", key, json, "EX", ttl, NULL),
					      NULL,
					      NULL);
			herald_notifier_redis(
			    self,
			    herald_notifier_argv("ZREM", REDIS_KEY_QUEUE, record->id, NULL),
			    NULL,
			    NULL);
		} else {
			g_autofree gchar *score = g_strdup_printf(
			    "%" G_GINT64_FORMAT,
			    (record->status == HERALD_NOTIFY_STATUS_HELD ? record->expires_at
									  : record->next_attempt_at) /
				1000);
			herald_notifier_redis(self,
					      herald_notifier_argv("SET", key, json, NULL),
					      NULL,
					      NULL);
			herald_notifier_redis(
			    self,
			    herald_notifier_argv("ZADD", REDIS_KEY_QUEUE, score, record->id, NULL),
			    NULL,
			    NULL);
		}
		return TRUE;
	}
}

static void
herald_notifier_store_delete(HeraldNotifierWhatsappPlugin *self, const gchar *id)
{
	g_autoptr(GError) error = NULL;
	if (self->store_kind == HERALD_NOTIFY_STORE_REDIS)
		return; /* the status key expires by itself (EX status-retention-s) */
	if (self->journal != NULL && !herald_notify_journal_delete(self->journal, id, &error)) {
		herald_notifier_store_failed(self, error->message);
		g_warning("cannot record the removal of notification %s: %s", id, error->message);
	}
}

/* store failures after acceptance are logged once; the record stays in memory */
static void
herald_notifier_save(HeraldNotifierWhatsappPlugin *self, HeraldNotifyRecord *record)
{
	g_autoptr(GError) error = NULL;
	if (!herald_notifier_store_put(self, record, &error))
		g_warning("cannot store notification %s: %s", record->id, error->message);
}

static void
herald_notifier_compact(HeraldNotifierWhatsappPlugin *self)
{
	g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	g_autoptr(GError) error = NULL;
	GHashTableIter iter;
	gpointer value;

	if (self->journal == NULL)
		return;
	if (herald_notify_journal_get_lines(self->journal) < 1024 ||
	    herald_notify_journal_get_lines(self->journal) < 4 * (guint64)g_hash_table_size(self->records))
		return;
	g_hash_table_iter_init(&iter, self->records);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		g_ptr_array_add(nodes, herald_notify_record_to_json(value, TRUE));
	if (!herald_notify_journal_compact(self->journal, nodes, &error)) {
		herald_notifier_store_failed(self, error->message);
		g_warning("journal compaction failed: %s", error->message);
	}
}

/* a record read back from a store: what was under way is due again now */
static void
herald_notifier_adopt(HeraldNotifierWhatsappPlugin *self, HeraldNotifyRecord *record)
{
	if (record->status == HERALD_NOTIFY_STATUS_ACCEPTED ||
	    record->status == HERALD_NOTIFY_STATUS_SENDING) {
		record->status = HERALD_NOTIFY_STATUS_PENDING;
		record->next_attempt_at = 0;
	}
	g_hash_table_replace(self->records, record->id, record);
}

static gboolean
herald_notifier_open_journal(HeraldNotifierWhatsappPlugin *self, GError **error)
{
	HeraldHost *host = herald_plugin_get_host(HERALD_PLUGIN(self));
	const gchar *state_dir = herald_host_get_state_dir(host);
	g_autofree gchar *path = NULL;
	g_autoptr(GHashTable) stored = NULL;
	GHashTableIter iter;
	gpointer value;
	guint n = 0;

	if (state_dir == NULL || state_dir[0] == '\0') {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: startup error */
				    _("[host] state-dir is empty: the notification queue needs it"));
		return FALSE;
	}
	path = g_build_filename(state_dir, "notifier-whatsapp", "journal.jsonl", NULL);
	self->journal = herald_notify_journal_open(path, &stored, error);
	if (self->journal == NULL)
		return FALSE;
	g_hash_table_iter_init(&iter, stored);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		g_autoptr(GError) error_local = NULL;
		HeraldNotifyRecord *record = herald_notify_record_new_from_json(value, &error_local);
		if (record == NULL) {
			g_warning("journal record skipped: %s", error_local->message);
			continue;
		}
		herald_notifier_adopt(self, record);
		n++;
	}
	g_debug("journal %s: %u notifications", path, n);
	return TRUE;
}

static void
herald_notifier_load_get_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(source);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = g_task_propagate_pointer(G_TASK(res), &error);
	g_autoptr(JsonObject) obj = NULL;
	g_autoptr(HeraldNotifyRecord) record = NULL;

	self->pending_tasks--;
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return;
	/* a record in Redis is outside data: through the depth gate */
	obj = herald_json_parse_object(json_node_get_string(node), -1, NULL);
	if (obj == NULL)
		return;
	record = herald_notify_record_new_from_json(obj, NULL);
	if (record == NULL || g_hash_table_contains(self->records, record->id))
		return;
	herald_notifier_adopt(self, g_steal_pointer(&record));
}

static void
herald_notifier_load_queue_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(source);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = g_task_propagate_pointer(G_TASK(res), &error);
	JsonArray *ids;

	self->pending_tasks--;
	if (node == NULL) {
		/* Redis not reachable: degraded (sends get 503 meanwhile), and the
		 * queue is read again in a few seconds, not at the next job run */
		g_debug("cannot read the notification queue yet: %s",
			error != NULL ? error->message : "no reply");
		herald_notifier_store_failed(self, error != NULL ? error->message : "no reply");
		herald_notifier_schedule_load(self);
		return;
	}
	self->loaded = TRUE;
	herald_notifier_store_ok(self);
	if (!JSON_NODE_HOLDS_ARRAY(node))
		return;
	ids = json_node_get_array(node);
	for (guint i = 0; i < json_array_get_length(ids); i++) {
		const gchar *id = json_array_get_string_element(ids, i);
		g_autofree gchar *key = NULL;
		if (id == NULL || g_hash_table_contains(self->records, id))
			continue;
		key = g_strconcat(REDIS_PREFIX_STATUS, id, NULL);
		herald_notifier_redis(self,
				      herald_notifier_argv("GET", key, NULL),
				      herald_notifier_load_get_cb,
				      NULL);
	}
}

static gboolean
herald_notifier_load_retry_cb(gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(user_data);
	self->load_retry_id = 0;
	if (!self->loaded && !self->shutting_down)
		herald_notifier_load_redis(self);
	return G_SOURCE_REMOVE;
}

static void
herald_notifier_schedule_load(HeraldNotifierWhatsappPlugin *self)
{
	if (self->load_retry_id != 0 || self->shutting_down)
		return;
	self->load_retry_id = g_timeout_add_seconds(2, herald_notifier_load_retry_cb, self);
}

static void
herald_notifier_load_redis(HeraldNotifierWhatsappPlugin *self)
{
	herald_notifier_redis(self,
			      herald_notifier_argv("ZRANGE", REDIS_KEY_QUEUE, "0", "-1", NULL),
			      herald_notifier_load_queue_cb,
			      NULL);
}

/* ----------------------------------------------------------------- config */

static gboolean
herald_notifier_read_phones(HeraldNotifierWhatsappPlugin *self, GError **error)
{
	const gchar *path = herald_plugin_get_config_string(HERALD_PLUGIN(self), "phones-file");
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_auto(GStrv) keys = NULL;
	g_autoptr(GHashTable) phones = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

	if (path == NULL || path[0] == '\0') {
		g_clear_pointer(&self->phones, g_hash_table_unref);
		self->phones = g_steal_pointer(&phones);
		return TRUE;
	}
	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, error)) {
		g_prefix_error(error, "phones-file %s: ", path);
		return FALSE;
	}
	keys = g_key_file_get_keys(kf, "phones", NULL, NULL);
	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		g_autofree gchar *value = g_key_file_get_string(kf, "phones", keys[i], NULL);
		if (value == NULL)
			continue;
		g_strstrip(value);
		/* an invalid number is kept: the attempt then fails with a clear reason */
		g_hash_table_replace(phones, g_strdup(keys[i]), g_steal_pointer(&value));
	}
	g_clear_pointer(&self->phones, g_hash_table_unref);
	self->phones = g_steal_pointer(&phones);
	return TRUE;
}

static gboolean
herald_notifier_url_is_valid(const gchar *url)
{
	g_autoptr(GUri) uri = NULL;
	if (url == NULL || url[0] == '\0')
		return FALSE;
	uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
	if (uri == NULL || g_uri_get_host(uri) == NULL || g_uri_get_host(uri)[0] == '\0')
		return FALSE;
	return g_strcmp0(g_uri_get_scheme(uri), "http") == 0 ||
	       g_strcmp0(g_uri_get_scheme(uri), "https") == 0;
}

static gboolean
herald_notifier_read_config(HeraldNotifierWhatsappPlugin *self, GError **error)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(self);
	HeraldConfig *config = herald_plugin_get_config(plugin);
	const gchar *mode = herald_plugin_get_config_string(plugin, "mode");
	g_autofree gchar *group = g_strdup_printf("%s.templates", herald_plugin_get_name(plugin));
	g_auto(GStrv) template_keys = herald_config_get_keys(config, group);
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *token = NULL;

	if (g_strcmp0(mode, "cloud-api") == 0)
		self->mode = HERALD_NOTIFY_MODE_CLOUD_API;
	else if (g_strcmp0(mode, "webhook") == 0)
		self->mode = HERALD_NOTIFY_MODE_WEBHOOK;
	else
		self->mode = HERALD_NOTIFY_MODE_NONE;

	token = herald_plugin_get_config_secret(plugin, "token", &error_local);
	if (token == NULL && error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (self->mode == HERALD_NOTIFY_MODE_CLOUD_API && (token == NULL || token[0] == '\0')) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: startup error */
				    _("mode=cloud-api needs token or token-file"));
		return FALSE;
	}
	if (!herald_notifier_read_phones(self, error))
		return FALSE;

	g_free(self->token);
	self->token = token != NULL && token[0] != '\0' ? g_steal_pointer(&token) : NULL;
	g_free(self->api_base);
	self->api_base = g_strdup(herald_plugin_get_config_string(plugin, "api-base"));
	while (g_str_has_suffix(self->api_base, "/"))
		self->api_base[strlen(self->api_base) - 1] = '\0';
	g_free(self->api_version);
	self->api_version = g_strdup(herald_plugin_get_config_string(plugin, "api-version"));
	g_free(self->phone_number_id);
	self->phone_number_id = g_strdup(herald_plugin_get_config_string(plugin, "phone-number-id"));
	g_free(self->webhook_url);
	self->webhook_url = g_strdup(herald_plugin_get_config_string(plugin, "webhook-url"));
	g_free(self->template_language);
	self->template_language =
	    g_strdup(herald_plugin_get_config_string(plugin, "template-language"));
	self->text_first = herald_plugin_get_config_boolean(plugin, "text-first");
	self->retry_interval_s = herald_plugin_get_config_uint64(plugin, "retry-interval-s");
	self->batch_size = herald_plugin_get_config_uint64(plugin, "batch-size");
	self->max_attempts = herald_plugin_get_config_uint64(plugin, "max-attempts");
	self->backoff_base_s = herald_plugin_get_config_uint64(plugin, "backoff-base-s");
	self->backoff_cap_s = herald_plugin_get_config_uint64(plugin, "backoff-cap-s");
	self->low_ttl_s = herald_plugin_get_config_uint64(plugin, "low-ttl-s");
	self->status_retention_s = herald_plugin_get_config_uint64(plugin, "status-retention-s");
	self->request_timeout_s = herald_plugin_get_config_uint64(plugin, "request-timeout-s");
	self->max_in_flight = herald_plugin_get_config_uint64(plugin, "max-in-flight");
	self->max_queued = herald_plugin_get_config_uint64(plugin, "max-queued");
	self->limits.max_title_bytes = herald_plugin_get_config_uint64(plugin, "max-title-bytes");
	self->limits.max_message_bytes =
	    herald_plugin_get_config_uint64(plugin, "max-message-bytes");
	self->limits.max_data_bytes = herald_plugin_get_config_uint64(plugin, "max-data-bytes");
	herald_notify_limiter_set_limits(self->limiter,
					 herald_plugin_get_config_uint64(plugin, "rate-per-minute"),
					 herald_plugin_get_config_uint64(plugin, "rate-per-hour"));

	g_hash_table_remove_all(self->templates);
	for (guint i = 0; template_keys != NULL && template_keys[i] != NULL; i++) {
		const gchar *value = herald_config_get_string(config, group, template_keys[i]);
		if (value != NULL && value[0] != '\0')
			g_hash_table_replace(self->templates,
					     g_strdup(template_keys[i]),
					     g_strdup(value));
	}
	if (self->session != NULL)
		g_object_set(self->session, "timeout", (guint)self->request_timeout_s, NULL);
	return TRUE;
}

static void
herald_notifier_whatsapp_plugin_check_config(HeraldPlugin *plugin, GPtrArray *problems)
{
	const gchar *mode = herald_plugin_get_config_string(plugin, "mode");
	const gchar *api_base = herald_plugin_get_config_string(plugin, "api-base");
	const gchar *pnid = herald_plugin_get_config_string(plugin, "phone-number-id");
	const gchar *webhook = herald_plugin_get_config_string(plugin, "webhook-url");
	const gchar *version = herald_plugin_get_config_string(plugin, "api-version");

	if (g_strcmp0(mode, "cloud-api") == 0) {
		if (pnid == NULL || pnid[0] == '\0')
			herald_plugin_add_config_problem(
			    plugin,
			    problems,
			    "phone-number-id",
			    /* TRANSLATORS: config error */
			    _("mode=cloud-api needs the sender's phone-number-id"));
		else if (strspn(pnid, "0123456789") != strlen(pnid))
			herald_plugin_add_config_problem(plugin,
							 problems,
							 "phone-number-id",
							 /* TRANSLATORS: config error */
							 _("phone-number-id must be digits only"));
		if (!herald_notifier_url_is_valid(api_base))
			herald_plugin_add_config_problem(plugin,
							 problems,
							 "api-base",
							 /* TRANSLATORS: config error */
							 _("api-base must be an http:// or https:// URL"));
		if (version != NULL && (strchr(version, '/') != NULL || strchr(version, '?') != NULL))
			herald_plugin_add_config_problem(plugin,
							 problems,
							 "api-version",
							 /* TRANSLATORS: config error */
							 _("api-version must be one path segment, such as v21.0"));
	}
	if (g_strcmp0(mode, "webhook") == 0 && !herald_notifier_url_is_valid(webhook))
		herald_plugin_add_config_problem(
		    plugin,
		    problems,
		    "webhook-url",
		    /* TRANSLATORS: config error */
		    _("mode=webhook needs webhook-url, an http:// or https:// URL"));
}

/* the template for @type: its own entry, else the `general` one; NULL when none */
static gchar *
herald_notifier_template_for(HeraldNotifierWhatsappPlugin *self,
			     HeraldNotifyRecord *record,
			     gchar **language)
{
	const gchar *value = g_hash_table_lookup(self->templates, record->type);
	const gchar *colon;
	if (value == NULL)
		value = g_hash_table_lookup(self->templates, "general");
	if (value == NULL)
		return NULL;
	colon = strchr(value, ':');
	if (record->language != NULL)
		*language = g_strdup(record->language);
	else if (colon != NULL && colon[1] != '\0')
		*language = g_strdup(colon + 1);
	else
		*language = g_strdup(self->template_language);
	return colon != NULL ? g_strndup(value, colon - value) : g_strdup(value);
}

/* --------------------------------------------------------------- delivery */

/* after the record is stored: the DEL is ordered after its SET */
static void
herald_notifier_release(HeraldNotifierWhatsappPlugin *self, HeraldNotifyRecord *record)
{
	g_autofree gchar *key = NULL;
	if (!record->claimed)
		return;
	record->claimed = FALSE;
	key = g_strconcat(REDIS_PREFIX_LOCK, record->id, NULL);
	herald_notifier_redis(self, herald_notifier_argv("DEL", key, NULL), NULL, NULL);
}

static void
herald_notifier_finish(HeraldNotifierWhatsappPlugin *self,
		       HeraldNotifyRecord *record,
		       HeraldNotifyStatus status,
		       const gchar *reason)
{
	herald_notify_record_set_status(record, status, reason);
	record->busy = FALSE;
	g_clear_pointer(&record->resolved_phone, g_free);
	if (status == HERALD_NOTIFY_STATUS_FAILED)
		self->failed++;
	if (status == HERALD_NOTIFY_STATUS_DEAD) {
		self->dead_letters++;
		if (self->store_kind == HERALD_NOTIFY_STORE_REDIS)
			herald_notifier_redis(
			    self,
			    herald_notifier_argv("LPUSH", REDIS_KEY_DEAD, record->id, NULL),
			    NULL,
			    NULL);
		g_message("notification %s for user '%s' is dead after %u attempts: %s",
			  record->id,
			  record->user_id,
			  record->attempts,
			  reason != NULL ? reason : "");
	}
	herald_notifier_save(self, record);
	herald_notifier_release(self, record);
}

/* WhatsApp did not work out: a user reached over WebSocket still got it */
static void
herald_notifier_fail(HeraldNotifierWhatsappPlugin *self,
		     HeraldNotifyRecord *record,
		     HeraldNotifyStatus status,
		     const gchar *reason)
{
	if (status == HERALD_NOTIFY_STATUS_FAILED && record->ws_delivered)
		status = HERALD_NOTIFY_STATUS_DELIVERED;
	herald_notifier_finish(self, record, status, reason);
}

/* local connections through ws-rooms; the other instances through redis-bridge */
static guint
herald_notifier_deliver_ws(HeraldNotifierWhatsappPlugin *self,
			   HeraldNotifyRecord *record,
			   gboolean cluster)
{
	HeraldBus *bus = herald_plugin_get_bus(HERALD_PLUGIN(self));
	g_autoptr(JsonNode) payload = herald_notify_record_ws_payload(record);
	g_autofree gchar *name = herald_notify_record_event_name(record);
	g_autofree gchar *channel = g_strdup_printf(
	    "notificacion.%s", record->original_type != NULL ? record->original_type : record->type);
	g_autoptr(HeraldEvent) event =
	    herald_event_new(name, channel, payload, herald_bus_get_instance_id(bus));
	g_autoptr(HeraldDelivery) delivery = herald_delivery_new(event, name);
	guint reached;

	herald_delivery_add_user(delivery, record->user_id);
	reached = herald_bus_deliver(bus, delivery);
	/* the user is connected elsewhere: the shipped `notificacion.*` route of
	 * the other instances (users={user_id}) delivers the same event there */
	if (cluster)
		herald_bus_emit_event(bus, HERALD_BUS_TOPIC_OUTBOUND, event);
	return reached;
}

static void
herald_notifier_ws_step(HeraldNotifierWhatsappPlugin *self,
			HeraldNotifyRecord *record,
			gboolean presence_known,
			gboolean present)
{
	guint local = herald_notifier_deliver_ws(self, record, presence_known && present);
	gboolean reached = local > 0 || (presence_known && present);
	JsonObject *attempt =
	    herald_notify_record_add_attempt(record,
					     "websocket",
					     reached ? "delivered" : "not_connected");

	json_object_set_int_member(attempt, "connections", local);
	if (presence_known)
		json_object_set_boolean_member(attempt, "cluster_presence", present);
	if (reached) {
		record->ws_delivered = TRUE;
		self->sent_websocket++;
	}

	switch (record->priority) {
	case HERALD_NOTIFY_PRIORITY_LOW:
		if (reached) {
			herald_notifier_finish(self, record, HERALD_NOTIFY_STATUS_DELIVERED, NULL);
			return;
		}
		/* never WhatsApp: wait for the user's next connection */
		record->expires_at = g_get_real_time() + (gint64)self->low_ttl_s * G_USEC_PER_SEC;
		herald_notifier_finish(self,
				       record,
				       HERALD_NOTIFY_STATUS_HELD,
				       "user not connected; delivered on the next connection");
		return;
	case HERALD_NOTIFY_PRIORITY_NORMAL:
	case HERALD_NOTIFY_PRIORITY_HIGH:
		if (reached) {
			herald_notifier_finish(self, record, HERALD_NOTIFY_STATUS_DELIVERED, NULL);
			return;
		}
		if (!record->counted_fallback) {
			record->counted_fallback = TRUE;
			self->fallbacks++;
		}
		herald_notifier_whatsapp_start(self, record);
		return;
	case HERALD_NOTIFY_PRIORITY_URGENT:
	default:
		herald_notifier_whatsapp_start(self, record);
		return;
	}
}

typedef struct {
	HeraldNotifierWhatsappPlugin *self; /* (not owned): the task holds a ref */
	gchar *id;
} HeraldNotifierStep;

static HeraldNotifierStep *
herald_notifier_step_new(HeraldNotifierWhatsappPlugin *self, const gchar *id)
{
	HeraldNotifierStep *step = g_new0(HeraldNotifierStep, 1);
	step->self = self;
	step->id = g_strdup(id);
	return step;
}

static void
herald_notifier_step_free(HeraldNotifierStep *step)
{
	g_free(step->id);
	g_free(step);
}

static void
herald_notifier_presence_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(source);
	HeraldNotifierStep *step = user_data;
	g_autoptr(GError) error = NULL;
	gboolean present = g_task_propagate_boolean(G_TASK(res), &error);
	HeraldNotifyRecord *record = g_hash_table_lookup(self->records, step->id);

	self->pending_tasks--;
	if (record == NULL || self->shutting_down) {
		herald_notifier_step_free(step);
		return;
	}
	if (error != NULL && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
		g_debug("cluster presence unknown, using local connections: %s", error->message);
	herald_notifier_ws_step(self, record, error == NULL, present);
	herald_notifier_step_free(step);
}

/* one delivery round: presence → WebSocket → (by priority) WhatsApp */
static void
herald_notifier_process(HeraldNotifierWhatsappPlugin *self, HeraldNotifyRecord *record)
{
	HeraldBus *bus = herald_plugin_get_bus(HERALD_PLUGIN(self));
	g_autoptr(GTask) task = NULL;

	record->busy = TRUE;
	/* urgent already reached over WebSocket: only WhatsApp is left */
	if (record->priority == HERALD_NOTIFY_PRIORITY_URGENT && record->ws_delivered) {
		herald_notifier_whatsapp_start(self, record);
		return;
	}
	task = g_task_new(self,
			  NULL,
			  herald_notifier_presence_cb,
			  herald_notifier_step_new(self, record->id));
	g_task_set_task_data(task, g_strdup(record->user_id), g_free);
	self->pending_tasks++;
	if (!herald_bus_request(bus, HERALD_BUS_REQUEST_PRESENCE, task))
		g_task_return_new_error(task,
					G_IO_ERROR,
					G_IO_ERROR_NOT_SUPPORTED,
					"no cluster presence");
}

/* priority first, then the order they arrived in */
static gint
herald_notifier_ready_cmp(gconstpointer a, gconstpointer b, gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = user_data;
	HeraldNotifyRecord *ra = g_hash_table_lookup(self->records, a);
	HeraldNotifyRecord *rb = g_hash_table_lookup(self->records, b);
	/* g_queue_insert_sorted() walks past entries for which this is < 0: past
	 * every entry of the same or a higher priority, so equal ones stay FIFO */
	if (ra == NULL || rb == NULL)
		return -1;
	return ra->priority >= rb->priority ? -1 : 1;
}

static void
herald_notifier_have_phone(HeraldNotifierWhatsappPlugin *self,
			   HeraldNotifyRecord *record,
			   const gchar *phone)
{
	if (phone == NULL || phone[0] == '\0') {
		JsonObject *attempt = herald_notify_record_add_attempt(record, "whatsapp", "failed");
		json_object_set_string_member(attempt, "reason", "no phone number for this user");
		herald_notifier_fail(self,
				     record,
				     HERALD_NOTIFY_STATUS_FAILED,
				     "no phone number for this user");
		return;
	}
	if (!herald_notify_phone_is_valid(phone)) {
		JsonObject *attempt = herald_notify_record_add_attempt(record, "whatsapp", "failed");
		json_object_set_string_member(attempt, "reason", "invalid phone number (not E.164)");
		herald_notifier_fail(self,
				     record,
				     HERALD_NOTIFY_STATUS_FAILED,
				     "invalid phone number (not E.164)");
		return;
	}
	/* a number looked up now (not in the request) was not counted at accept
	 * time: count it before the first message to it, and when it is over its
	 * limit put the attempt off until it has room, using no attempt up */
	if (!record->phone_counted) {
		g_autofree gchar *phone_key = g_strconcat("phone:", phone, NULL);
		guint retry_after_s = 0;
		if (!herald_notify_limiter_check(self->limiter,
						 phone_key,
						 g_get_real_time(),
						 record->priority == HERALD_NOTIFY_PRIORITY_URGENT,
						 &retry_after_s)) {
			JsonObject *attempt =
			    herald_notify_record_add_attempt(record, "whatsapp", "deferred");
			json_object_set_string_member(attempt,
						      "reason",
						      "phone number over its rate limit");
			self->whatsapp_phone_deferred++;
			record->next_attempt_at =
			    g_get_real_time() + (gint64)MAX(retry_after_s, 1) * G_USEC_PER_SEC;
			herald_notifier_finish(self,
					       record,
					       HERALD_NOTIFY_STATUS_PENDING,
					       "phone number over its rate limit");
			return;
		}
		record->phone_counted = TRUE;
	}
	g_free(record->resolved_phone);
	record->resolved_phone = g_strdup(phone);
	g_queue_insert_sorted(&self->ready,
			      g_strdup(record->id),
			      herald_notifier_ready_cmp,
			      self);
	herald_notifier_pump(self);
}

static void
herald_notifier_phone_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(source);
	HeraldNotifierStep *step = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = g_task_propagate_pointer(G_TASK(res), &error);
	HeraldNotifyRecord *record = g_hash_table_lookup(self->records, step->id);

	self->pending_tasks--;
	if (record == NULL || self->shutting_down) {
		herald_notifier_step_free(step);
		return;
	}
	if (node == NULL) {
		/* redis unreachable: a transient failure, retried like one */
		JsonObject *attempt = herald_notify_record_add_attempt(record, "whatsapp", "retry");
		json_object_set_string_member(attempt, "reason", "phone number lookup failed");
		g_warning("phone lookup for notification %s failed: %s",
			  record->id,
			  error != NULL ? error->message : "no reply");
		record->next_attempt_at =
		    g_get_real_time() +
		    herald_notify_backoff_us(record->attempts + 1, self->backoff_base_s, self->backoff_cap_s);
		self->retries++;
		herald_notifier_finish(self, record, HERALD_NOTIFY_STATUS_PENDING,
				       "phone number lookup failed");
		herald_notifier_step_free(step);
		return;
	}
	herald_notifier_have_phone(self,
				   record,
				   JSON_NODE_HOLDS_VALUE(node) &&
					   json_node_get_value_type(node) == G_TYPE_STRING
				       ? json_node_get_string(node)
				       : NULL);
	herald_notifier_step_free(step);
}

/* another instance is on it: look again later, without touching its record */
static void
herald_notifier_claim_lost(HeraldNotifierWhatsappPlugin *self, HeraldNotifyRecord *record)
{
	record->busy = FALSE;
	if (record->status != HERALD_NOTIFY_STATUS_PENDING)
		record->status = HERALD_NOTIFY_STATUS_PENDING;
	record->next_attempt_at =
	    g_get_real_time() + (gint64)self->backoff_base_s * G_USEC_PER_SEC;
}

static void
herald_notifier_claim_get_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(source);
	HeraldNotifierStep *step = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = g_task_propagate_pointer(G_TASK(res), &error);
	g_autoptr(JsonObject) obj = NULL;
	g_autoptr(HeraldNotifyRecord) stored = NULL;
	HeraldNotifyRecord *record = g_hash_table_lookup(self->records, step->id);

	self->pending_tasks--;
	if (record == NULL || self->shutting_down) {
		herald_notifier_step_free(step);
		return;
	}
	if (node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
	    json_node_get_value_type(node) == G_TYPE_STRING &&
	    (obj = herald_json_parse_object(json_node_get_string(node), -1, NULL)) != NULL)
		stored = herald_notify_record_new_from_json(obj, NULL);
	if (stored != NULL && stored->updated_at > record->updated_at) {
		/* another instance moved it on: take its state, attempt nothing now */
		g_debug("notification %s was updated elsewhere (%s)",
			record->id,
			herald_notify_status_to_string(stored->status));
		herald_notifier_release(self, record);
		if (stored->status == HERALD_NOTIFY_STATUS_ACCEPTED ||
		    stored->status == HERALD_NOTIFY_STATUS_SENDING)
			stored->status = HERALD_NOTIFY_STATUS_PENDING;
		g_hash_table_replace(self->records, stored->id, stored);
		stored = NULL;
		herald_notifier_step_free(step);
		return;
	}
	herald_notifier_whatsapp_start(self, record);
	herald_notifier_step_free(step);
}

/* a lock with our own instance id is left from before a restart: ours again */
static void
herald_notifier_claim_owner_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(source);
	HeraldNotifierStep *step = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = g_task_propagate_pointer(G_TASK(res), &error);
	HeraldNotifyRecord *record = g_hash_table_lookup(self->records, step->id);
	const gchar *instance = herald_bus_get_instance_id(herald_plugin_get_bus(HERALD_PLUGIN(self)));
	g_autofree gchar *key = NULL;

	self->pending_tasks--;
	if (record == NULL || self->shutting_down) {
		herald_notifier_step_free(step);
		return;
	}
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING ||
	    g_strcmp0(json_node_get_string(node), instance) != 0) {
		herald_notifier_claim_lost(self, record);
		herald_notifier_step_free(step);
		return;
	}
	record->claimed = TRUE;
	key = g_strconcat(REDIS_PREFIX_STATUS, record->id, NULL);
	herald_notifier_redis(self,
			      herald_notifier_argv("GET", key, NULL),
			      herald_notifier_claim_get_cb,
			      step);
}

static void
herald_notifier_claim_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(source);
	HeraldNotifierStep *step = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = g_task_propagate_pointer(G_TASK(res), &error);
	HeraldNotifyRecord *record = g_hash_table_lookup(self->records, step->id);
	g_autofree gchar *key = NULL;

	self->pending_tasks--;
	if (record == NULL || self->shutting_down) {
		herald_notifier_step_free(step);
		return;
	}
	if (node == NULL) {
		g_debug("cannot claim notification %s: %s",
			record->id,
			error != NULL ? error->message : "no reply");
		herald_notifier_claim_lost(self, record);
		herald_notifier_step_free(step);
		return;
	}
	if (!JSON_NODE_HOLDS_VALUE(node)) {
		/* held: by another instance, or by this one before a crash */
		key = g_strconcat(REDIS_PREFIX_LOCK, record->id, NULL);
		herald_notifier_redis(self,
				      herald_notifier_argv("GET", key, NULL),
				      herald_notifier_claim_owner_cb,
				      step);
		return;
	}
	record->claimed = TRUE;
	key = g_strconcat(REDIS_PREFIX_STATUS, record->id, NULL);
	herald_notifier_redis(self,
			      herald_notifier_argv("GET", key, NULL),
			      herald_notifier_claim_get_cb,
			      step);
}

static void
herald_notifier_claim(HeraldNotifierWhatsappPlugin *self, HeraldNotifyRecord *record)
{
	g_autofree gchar *key = g_strconcat(REDIS_PREFIX_LOCK, record->id, NULL);
	g_autofree gchar *ttl = g_strdup_printf("%" G_GUINT64_FORMAT, self->request_timeout_s + 30);
	herald_notifier_redis(
	    self,
	    herald_notifier_argv("SET",
				 key,
				 herald_bus_get_instance_id(herald_plugin_get_bus(HERALD_PLUGIN(self))),
				 "NX",
				 "EX",
				 ttl,
				 NULL),
	    herald_notifier_claim_cb,
	    herald_notifier_step_new(self, record->id));
}

static void
herald_notifier_whatsapp_start(HeraldNotifierWhatsappPlugin *self, HeraldNotifyRecord *record)
{
	record->busy = TRUE;
	if (self->mode == HERALD_NOTIFY_MODE_NONE) {
		JsonObject *attempt = herald_notify_record_add_attempt(record, "whatsapp", "failed");
		json_object_set_string_member(attempt, "reason", "WhatsApp is disabled (mode=none)");
		herald_notifier_fail(self,
				     record,
				     HERALD_NOTIFY_STATUS_FAILED,
				     "not connected and WhatsApp is disabled (mode=none)");
		return;
	}
	/* several instances read the same queue: one attempt at a time, on the
	 * latest stored state */
	if (self->store_kind == HERALD_NOTIFY_STORE_REDIS && !record->claimed) {
		herald_notifier_claim(self, record);
		return;
	}
	if (record->phone != NULL) {
		herald_notifier_have_phone(self, record, record->phone);
		return;
	}
	if (self->store_kind == HERALD_NOTIFY_STORE_REDIS) {
		HeraldBus *bus = herald_plugin_get_bus(HERALD_PLUGIN(self));
		g_autoptr(GTask) task = g_task_new(self,
						   NULL,
						   herald_notifier_phone_cb,
						   herald_notifier_step_new(self, record->id));
		g_task_set_task_data(task,
				     herald_notifier_argv("HGET", REDIS_KEY_PHONES, record->user_id, NULL),
				     (GDestroyNotify)g_strfreev);
		self->pending_tasks++;
		if (!herald_bus_request(bus, HERALD_BUS_REQUEST_REDIS, task))
			g_task_return_new_error(task,
						HERALD_ERROR,
						HERALD_ERROR_UNAVAILABLE,
						"redis-bridge does not serve redis requests");
		return;
	}
	herald_notifier_have_phone(self,
				   record,
				   g_hash_table_lookup(self->phones, record->user_id));
}

typedef struct {
	HeraldNotifierWhatsappPlugin *self; /* (owned) */
	gchar *id;
	SoupMessage *msg; /* (owned) */
	gchar *template_name; /* (nullable) */
} HeraldNotifierSend;

static void
herald_notifier_send_free(HeraldNotifierSend *send)
{
	g_object_unref(send->self);
	g_free(send->id);
	g_object_unref(send->msg);
	g_free(send->template_name);
	g_free(send);
}

static void
herald_notifier_retry_later(HeraldNotifierWhatsappPlugin *self,
			    HeraldNotifyRecord *record,
			    const gchar *reason)
{
	if (record->attempts >= self->max_attempts) {
		herald_notifier_finish(self, record, HERALD_NOTIFY_STATUS_DEAD, reason);
		return;
	}
	self->retries++;
	record->next_attempt_at =
	    g_get_real_time() +
	    herald_notify_backoff_us(record->attempts, self->backoff_base_s, self->backoff_cap_s);
	herald_notifier_finish(self, record, HERALD_NOTIFY_STATUS_PENDING, reason);
}

static void
herald_notifier_send_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldNotifierSend *send = user_data;
	HeraldNotifierWhatsappPlugin *self = send->self;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) body = soup_session_send_and_read_finish(SOUP_SESSION(source), res, &error);
	HeraldNotifyRecord *record = g_hash_table_lookup(self->records, send->id);
	HeraldNotifyResult result = {0};
	JsonObject *attempt;
	const gchar *outcome_name;

	self->in_flight--;
	if (record == NULL || g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
	    self->shutting_down) {
		/* shutting down: the stored state still says pending, a restart retries */
		herald_notifier_send_free(send);
		return;
	}
	if (self->mode == HERALD_NOTIFY_MODE_WEBHOOK)
		herald_notify_classify_webhook(soup_message_get_status(send->msg),
					       error,
					       body,
					       &result);
	else
		herald_notify_classify_cloud(soup_message_get_status(send->msg),
					     error,
					     body,
					     &result);
	record->attempts++;
	switch (result.outcome) {
	case HERALD_NOTIFY_OUTCOME_SENT:
		outcome_name = "sent";
		break;
	case HERALD_NOTIFY_OUTCOME_RETRY:
		outcome_name = record->attempts >= self->max_attempts ? "dead" : "retry";
		break;
	case HERALD_NOTIFY_OUTCOME_TEMPLATE:
		outcome_name = "template_required";
		break;
	case HERALD_NOTIFY_OUTCOME_FAIL:
	default:
		outcome_name = "failed";
		break;
	}
	attempt = herald_notify_record_add_attempt(record, "whatsapp", outcome_name);
	json_object_set_int_member(attempt, "attempt", record->attempts);
	json_object_set_string_member(attempt,
				      "mode",
				      self->mode == HERALD_NOTIFY_MODE_WEBHOOK ? "webhook"
									   : "cloud-api");
	if (self->mode == HERALD_NOTIFY_MODE_CLOUD_API)
		json_object_set_string_member(attempt,
					      "message_type",
					      send->template_name != NULL ? "template" : "text");
	if (send->template_name != NULL)
		json_object_set_string_member(attempt, "template", send->template_name);
	if (result.http_status != 0)
		json_object_set_int_member(attempt, "http_status", result.http_status);
	if (result.error_code != 0)
		json_object_set_int_member(attempt, "error_code", result.error_code);
	if (result.provider_id != NULL)
		json_object_set_string_member(attempt,
					      self->mode == HERALD_NOTIFY_MODE_CLOUD_API
						  ? "wamid"
						  : "provider_id",
					      result.provider_id);
	if (result.reason != NULL)
		json_object_set_string_member(attempt, "reason", result.reason);

	switch (result.outcome) {
	case HERALD_NOTIFY_OUTCOME_SENT:
		self->sent_whatsapp++;
		herald_notifier_finish(self, record, HERALD_NOTIFY_STATUS_SENT, NULL);
		break;
	case HERALD_NOTIFY_OUTCOME_RETRY:
		g_debug("notification %s: attempt %u failed, %s",
			record->id,
			record->attempts,
			result.reason != NULL ? result.reason : "");
		herald_notifier_retry_later(self, record, result.reason);
		break;
	case HERALD_NOTIFY_OUTCOME_TEMPLATE: {
		g_autofree gchar *language = NULL;
		g_autofree gchar *name = herald_notifier_template_for(self, record, &language);
		if (!record->use_template && name != NULL &&
		    record->attempts < self->max_attempts) {
			/* outside the 24 h window: the same message as a template, now */
			record->use_template = TRUE;
			self->template_switches++;
			herald_notifier_save(self, record);
			g_queue_push_head(&self->ready, g_strdup(record->id));
			break;
		}
		herald_notifier_fail(self,
				     record,
				     HERALD_NOTIFY_STATUS_FAILED,
				     "free text is not allowed (131047) and no template is configured");
		break;
	}
	case HERALD_NOTIFY_OUTCOME_FAIL:
	default:
		herald_notifier_fail(self, record, HERALD_NOTIFY_STATUS_FAILED, result.reason);
		break;
	}
	herald_notify_result_clear(&result);
	herald_notifier_send_free(send);
	herald_notifier_pump(self);
}


static void
herald_notifier_send(HeraldNotifierWhatsappPlugin *self, HeraldNotifyRecord *record)
{
	HeraldNotifierSend *send;
	g_autofree gchar *body = NULL;
	g_autofree gchar *url = NULL;
	g_autofree gchar *template_name = NULL;
	g_autoptr(SoupMessage) msg = NULL;
	g_autoptr(GBytes) bytes = NULL;
	SoupMessageHeaders *headers;
	gsize len;

	if (self->mode == HERALD_NOTIFY_MODE_WEBHOOK) {
		url = g_strdup(self->webhook_url);
		body = herald_notify_build_webhook_body(record, record->resolved_phone);
	} else {
		g_autofree gchar *language = NULL;
		g_autofree gchar *name = herald_notifier_template_for(self, record, &language);
		url = g_strdup_printf("%s/%s/%s/messages",
				      self->api_base,
				      self->api_version,
				      self->phone_number_id);
		if (name != NULL && (!self->text_first || record->use_template))
			template_name = g_steal_pointer(&name);
		body = herald_notify_build_cloud_body(record,
						      record->resolved_phone,
						      template_name,
						      language);
	}
	msg = soup_message_new("POST", url);
	if (msg == NULL) {
		/* check_config validated the URL; a last line of defence */
		JsonObject *attempt = herald_notify_record_add_attempt(record, "whatsapp", "failed");
		json_object_set_string_member(attempt, "reason", "the provider URL is invalid");
		herald_notifier_fail(self,
				     record,
				     HERALD_NOTIFY_STATUS_FAILED,
				     "the provider URL is invalid");
		return;
	}
	headers = soup_message_get_request_headers(msg);
	if (self->token != NULL) {
		g_autofree gchar *authz = g_strdup_printf("Bearer %s", self->token);
		soup_message_headers_replace(headers, "Authorization", authz);
	}
	soup_message_headers_replace(headers, "Accept", "application/json");
	len = strlen(body);
	bytes = g_bytes_new_take(g_steal_pointer(&body), len);
	soup_message_set_request_body_from_bytes(msg, "application/json", bytes);

	send = g_new0(HeraldNotifierSend, 1);
	send->self = g_object_ref(self);
	send->id = g_strdup(record->id);
	send->msg = g_steal_pointer(&msg);
	send->template_name = g_steal_pointer(&template_name);
	record->status = HERALD_NOTIFY_STATUS_SENDING;
	self->in_flight++;
	soup_session_send_and_read_async(self->session,
					 send->msg,
					 G_PRIORITY_DEFAULT,
					 self->cancellable,
					 herald_notifier_send_cb,
					 send);
}

/* start queued sends while there is a free slot */
static void
herald_notifier_pump(HeraldNotifierWhatsappPlugin *self)
{
	while (!self->shutting_down && self->in_flight < self->max_in_flight &&
	       self->ready.length > 0) {
		g_autofree gchar *id = g_queue_pop_head(&self->ready);
		HeraldNotifyRecord *record = g_hash_table_lookup(self->records, id);
		if (record == NULL || herald_notify_status_is_final(record->status))
			continue;
		herald_notifier_send(self, record);
	}
}

/* ------------------------------------------------------------ queue job */

static gint
herald_notifier_due_cmp(gconstpointer a, gconstpointer b)
{
	const HeraldNotifyRecord *ra = *(HeraldNotifyRecord *const *)a;
	const HeraldNotifyRecord *rb = *(HeraldNotifyRecord *const *)b;
	if (ra->priority != rb->priority)
		return ra->priority > rb->priority ? -1 : 1;
	if (ra->next_attempt_at != rb->next_attempt_at)
		return ra->next_attempt_at < rb->next_attempt_at ? -1 : 1;
	return ra->created_at < rb->created_at ? -1 : ra->created_at > rb->created_at;
}

static void
herald_notifier_run_job(HeraldNotifierWhatsappPlugin *self)
{
	g_autoptr(GPtrArray) due = g_ptr_array_new();
	g_autoptr(GPtrArray) expired = g_ptr_array_new();
	g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(g_free);
	gint64 now = g_get_real_time();
	gint64 retention = (gint64)self->status_retention_s * G_USEC_PER_SEC;
	GHashTableIter iter;
	gpointer value;

	if (self->shutting_down)
		return;
	/* with Redis the finished records live there (EX status-retention-s) and
	 * GET falls back to it: keep them in memory only for a minute */
	if (self->store_kind == HERALD_NOTIFY_STORE_REDIS)
		retention = MIN(retention, 60 * (gint64)G_USEC_PER_SEC);
	self->job_runs++;
	if (self->store_kind == HERALD_NOTIFY_STORE_REDIS && !self->loaded)
		herald_notifier_load_redis(self);
	g_hash_table_iter_init(&iter, self->records);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		HeraldNotifyRecord *record = value;
		if (record->busy)
			continue;
		if (record->status == HERALD_NOTIFY_STATUS_PENDING && record->next_attempt_at <= now)
			g_ptr_array_add(due, record);
		else if (record->status == HERALD_NOTIFY_STATUS_HELD && record->expires_at <= now)
			g_ptr_array_add(expired, record);
		else if (herald_notify_status_is_final(record->status) &&
			 record->updated_at + retention <= now)
			g_ptr_array_add(gone, g_strdup(record->id));
	}
	for (guint i = 0; i < expired->len; i++) {
		HeraldNotifyRecord *record = g_ptr_array_index(expired, i);
		self->expired++;
		herald_notifier_finish(self,
				       record,
				       HERALD_NOTIFY_STATUS_EXPIRED,
				       "the user did not connect within low-ttl-s");
	}
	for (guint i = 0; i < gone->len; i++) {
		const gchar *id = g_ptr_array_index(gone, i);
		herald_notifier_store_delete(self, id);
		g_hash_table_remove(self->records, id);
	}
	g_ptr_array_sort(due, herald_notifier_due_cmp);
	for (guint i = 0; i < due->len && i < self->batch_size; i++)
		herald_notifier_process(self, g_ptr_array_index(due, i));
	herald_notify_limiter_prune(self->limiter, now);
	herald_notifier_compact(self);
}

static gboolean
herald_notifier_job_cb(gpointer user_data)
{
	herald_notifier_run_job(HERALD_NOTIFIER_WHATSAPP_PLUGIN(user_data));
	return G_SOURCE_CONTINUE;
}

static void
herald_notifier_start_job(HeraldNotifierWhatsappPlugin *self)
{
	g_clear_handle_id(&self->job_id, g_source_remove);
	self->job_id = g_timeout_add_seconds((guint)self->retry_interval_s,
					     herald_notifier_job_cb,
					     self);
}

/* ------------------------------------------------------------ bus events */

static gint
herald_notifier_held_cmp(gconstpointer a, gconstpointer b)
{
	const HeraldNotifyRecord *ra = *(HeraldNotifyRecord *const *)a;
	const HeraldNotifyRecord *rb = *(HeraldNotifyRecord *const *)b;
	if (ra->priority != rb->priority)
		return ra->priority > rb->priority ? -1 : 1;
	return ra->created_at < rb->created_at ? -1 : ra->created_at > rb->created_at;
}

typedef struct {
	HeraldNotifierWhatsappPlugin *self; /* (owned) */
	gchar *user_id;
} HeraldNotifierHeld;

static void
herald_notifier_held_free(gpointer data)
{
	HeraldNotifierHeld *held = data;
	g_object_unref(held->self);
	g_free(held->user_id);
	g_free(held);
}

/* after the connection's greeting has been queued */
static gboolean
herald_notifier_deliver_held_cb(gpointer data)
{
	HeraldNotifierHeld *ctx = data;
	HeraldNotifierWhatsappPlugin *self = ctx->self;
	const gchar *user_id = ctx->user_id;
	g_autoptr(GPtrArray) held = g_ptr_array_new();
	GHashTableIter iter;
	gpointer value;

	if (self->shutting_down)
		return G_SOURCE_REMOVE;
	g_hash_table_iter_init(&iter, self->records);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		HeraldNotifyRecord *record = value;
		if (record->status == HERALD_NOTIFY_STATUS_HELD && !record->busy &&
		    g_strcmp0(record->user_id, user_id) == 0)
			g_ptr_array_add(held, record);
	}
	g_ptr_array_sort(held, herald_notifier_held_cmp);
	for (guint i = 0; i < held->len; i++) {
		HeraldNotifyRecord *record = g_ptr_array_index(held, i);
		guint reached = herald_notifier_deliver_ws(self, record, FALSE);
		JsonObject *attempt;
		if (reached == 0)
			continue;
		attempt = herald_notify_record_add_attempt(record, "websocket", "delivered");
		json_object_set_int_member(attempt, "connections", reached);
		json_object_set_boolean_member(attempt, "on_connect", TRUE);
		record->ws_delivered = TRUE;
		self->sent_websocket++;
		herald_notifier_finish(self, record, HERALD_NOTIFY_STATUS_DELIVERED, NULL);
	}
	return G_SOURCE_REMOVE;
}

/* a user's first connection on this instance: hand over what was held */
static void
herald_notifier_connected_cb(HeraldBus *bus, HeraldEvent *event, gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(user_data);
	g_autofree gchar *user_id = herald_event_get_payload_field(event, "user_id");
	HeraldNotifierHeld *ctx;

	if (user_id == NULL || self->shutting_down)
		return;
	ctx = g_new0(HeraldNotifierHeld, 1);
	ctx->self = g_object_ref(self);
	ctx->user_id = g_steal_pointer(&user_id);
	g_idle_add_full(G_PRIORITY_DEFAULT,
			herald_notifier_deliver_held_cb,
			ctx,
			herald_notifier_held_free);
}

static guint
herald_notifier_count_unfinished(HeraldNotifierWhatsappPlugin *self, guint *held, guint *dead)
{
	GHashTableIter iter;
	gpointer value;
	guint n = 0;
	g_hash_table_iter_init(&iter, self->records);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		HeraldNotifyRecord *record = value;
		if (record->status == HERALD_NOTIFY_STATUS_HELD) {
			if (held != NULL)
				(*held)++;
		} else if (record->status == HERALD_NOTIFY_STATUS_DEAD) {
			if (dead != NULL)
				(*dead)++;
		} else if (!herald_notify_status_is_final(record->status)) {
			n++;
		}
	}
	return n;
}

typedef void (*HeraldNotifierAcceptFunc)(HeraldNotifierWhatsappPlugin *self,
					 const gchar *id,
					 const GError *error,
					 guint retry_after_s,
					 gpointer user_data);

/* stored: now it may be delivered */
static void
herald_notifier_commit(HeraldNotifierWhatsappPlugin *self, HeraldNotifyRecord *record)
{
	self->accepted++;
	g_hash_table_replace(self->records, record->id, record);
	g_debug("notification %s for user '%s' accepted (%s, %s)",
		record->id,
		record->user_id,
		record->type,
		herald_notify_priority_to_string(record->priority));
	herald_notifier_process(self, record);
}

typedef struct {
	HeraldNotifierWhatsappPlugin *self; /* (owned) */
	HeraldNotifyRecord *record;	    /* (owned) until committed */
	HeraldNotifierAcceptFunc done;
	gpointer user_data;
	guint remaining;
	GError *error;
} HeraldNotifierAccept;

static void
herald_notifier_accept_stored_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldNotifierAccept *ctx = user_data;
	HeraldNotifierWhatsappPlugin *self = ctx->self;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = g_task_propagate_pointer(G_TASK(res), &error);

	self->pending_tasks--;
	if (node == NULL && ctx->error == NULL)
		ctx->error = error != NULL ? g_steal_pointer(&error)
					   : g_error_new_literal(HERALD_ERROR,
								 HERALD_ERROR_FAILED,
								 "no reply");
	if (--ctx->remaining > 0)
		return;
	if (ctx->error != NULL || self->shutting_down) {
		g_autoptr(GError) refused = NULL;
		herald_notifier_store_failed(self,
					     ctx->error != NULL ? ctx->error->message : "shutting down");
		g_warning("cannot store a new notification in redis: %s",
			  ctx->error != NULL ? ctx->error->message : "shutting down");
		g_set_error_literal(&refused,
				    HERALD_ERROR,
				    HERALD_ERROR_UNAVAILABLE,
				    /* TRANSLATORS: HTTP 503 */
				    _("the notification could not be stored; try again later"));
		ctx->done(self, NULL, refused, 0, ctx->user_data);
		herald_notify_record_free(ctx->record);
	} else {
		HeraldNotifyRecord *record = ctx->record;
		herald_notifier_store_ok(self);
		herald_notifier_commit(self, record);
		ctx->done(self, record->id, NULL, 0, ctx->user_data);
	}
	g_clear_error(&ctx->error);
	g_object_unref(ctx->self);
	g_free(ctx);
}

/* the user and, when the request names it, the phone number (already strict
 * E.164): 70 user ids with one number must not flood that number. Counted under
 * both or neither */
static gboolean
herald_notifier_accept_limits(HeraldNotifierWhatsappPlugin *self,
			      HeraldNotifyRecord *record,
			      guint *retry_after_s)
{
	g_autofree gchar *user_key = g_strconcat("user:", record->user_id, NULL);
	g_autofree gchar *phone_key =
	    record->phone != NULL ? g_strconcat("phone:", record->phone, NULL) : NULL;
	const gchar *keys[] = {user_key, phone_key, NULL};
	guint refused = 0;

	if (!herald_notify_limiter_check_all(self->limiter,
					     keys,
					     g_get_real_time(),
					     record->priority == HERALD_NOTIFY_PRIORITY_URGENT,
					     &refused,
					     retry_after_s)) {
		if (refused == 1)
			self->rate_limited_phone++;
		return FALSE;
	}
	record->phone_counted = record->phone != NULL;
	return TRUE;
}

/* validation, limits and durability; the delivery itself runs afterwards.
 * @done is called exactly once: at once (file store, refusals) or when Redis
 * has acknowledged the record */
static void
herald_notifier_accept(HeraldNotifierWhatsappPlugin *self,
		       JsonObject *request,
		       HeraldNotifierAcceptFunc done,
		       gpointer user_data)
{
	g_autoptr(HeraldNotifyRecord) record = NULL;
	g_autoptr(GError) error = NULL;
	guint held = 0;
	guint retry_after_s = 0;

	if (self->shutting_down) {
		g_set_error_literal(&error,
				    HERALD_ERROR,
				    HERALD_ERROR_SHUTTING_DOWN,
				    /* TRANSLATORS: HTTP 503 */
				    _("the server is shutting down"));
		done(self, NULL, error, 0, user_data);
		return;
	}
	record = herald_notify_record_new_from_request(request, &self->limits, &error);
	if (record == NULL) {
		self->rejected++;
		done(self, NULL, error, 0, user_data);
		return;
	}
	if (herald_notifier_count_unfinished(self, &held, NULL) + held >= self->max_queued) {
		g_set_error_literal(&error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNAVAILABLE,
				    /* TRANSLATORS: HTTP 503 */
				    _("the notification queue is full; try again later"));
		done(self, NULL, error, 0, user_data);
		return;
	}
	/* the user and, when the request names it, the phone number: 70 user ids
	 * with one number must not flood that number */
	if (!herald_notifier_accept_limits(self, record, &retry_after_s)) {
		self->rate_limited++;
		g_set_error_literal(&error,
				    HERALD_ERROR,
				    HERALD_ERROR_RATE_LIMITED,
				    /* TRANSLATORS: HTTP 429 */
				    _("too many notifications for this recipient; see Retry-After"));
		done(self, NULL, error, retry_after_s, user_data);
		return;
	}
	if (self->store_kind == HERALD_NOTIFY_STORE_REDIS) {
		HeraldNotifierAccept *ctx = g_new0(HeraldNotifierAccept, 1);
		g_autoptr(JsonNode) node = herald_notify_record_to_json(record, TRUE);
		g_autofree gchar *json = herald_json_to_string(node);
		g_autofree gchar *key = g_strconcat(REDIS_PREFIX_STATUS, record->id, NULL);
		g_autofree gchar *score = g_strdup_printf("%" G_GINT64_FORMAT, record->created_at / 1000);
		ctx->self = g_object_ref(self);
		ctx->done = done;
		ctx->user_data = user_data;
		ctx->remaining = 2;
		ctx->record = g_steal_pointer(&record);
		herald_notifier_redis(self,
				      herald_notifier_argv("SET", key, json, NULL),
				      herald_notifier_accept_stored_cb,
				      ctx);
		herald_notifier_redis(self,
				      herald_notifier_argv("ZADD", REDIS_KEY_QUEUE, score, ctx->record->id, NULL),
				      herald_notifier_accept_stored_cb,
				      ctx);
		return;
	}
	if (!herald_notifier_store_put(self, record, &error)) {
		g_autoptr(GError) refused = NULL;
		g_warning("cannot store a new notification: %s", error->message);
		g_set_error_literal(&refused,
				    HERALD_ERROR,
				    HERALD_ERROR_UNAVAILABLE,
				    /* TRANSLATORS: HTTP 503 */
				    _("the notification could not be stored; try again later"));
		done(self, NULL, refused, 0, user_data);
		return;
	}
	{
		HeraldNotifyRecord *committed = g_steal_pointer(&record);
		herald_notifier_commit(self, committed);
		done(self, committed->id, NULL, 0, user_data);
	}
}

static void
herald_notifier_notify_done(HeraldNotifierWhatsappPlugin *self,
			    const gchar *id,
			    const GError *error,
			    guint retry_after_s,
			    gpointer user_data)
{
	GTask *task = user_data;
	if (id != NULL)
		g_task_return_pointer(task, g_strdup(id), g_free);
	else
		g_task_return_error(task, g_error_copy(error));
	g_object_unref(task);
}

static gboolean
herald_notifier_request_notify_cb(HeraldBus *bus, GTask *task, gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(user_data);
	JsonObject *request = g_task_get_task_data(task);

	if (request == NULL) {
		g_task_return_new_error(task,
					HERALD_ERROR,
					HERALD_ERROR_INVALID_ARGUMENT,
					"notify request without a JSON object");
		return TRUE;
	}
	herald_notifier_accept(self, request, herald_notifier_notify_done, g_object_ref(task));
	return TRUE;
}

/* ------------------------------------------------------------------ HTTP */

static void
herald_notifier_reply_error(SoupServerMessage *msg, const GError *error, guint retry_after_s)
{
	herald_http_reply_error(msg, error);
	if (g_error_matches(error, HERALD_ERROR, HERALD_ERROR_RATE_LIMITED)) {
		g_autofree gchar *value = g_strdup_printf("%u", MAX(retry_after_s, 1));
		soup_message_headers_replace(soup_server_message_get_response_headers(msg),
					     "Retry-After",
					     value);
	}
}

typedef struct {
	SoupServerMessage *msg; /* (owned) */
	gboolean paused;
	gboolean done;
	gint refs;
} HeraldNotifierReply;

static void
herald_notifier_reply_unref(HeraldNotifierReply *reply)
{
	if (--reply->refs > 0)
		return;
	g_object_unref(reply->msg);
	g_free(reply);
}

static void
herald_notifier_send_done(HeraldNotifierWhatsappPlugin *self,
			  const gchar *id,
			  const GError *error,
			  guint retry_after_s,
			  gpointer user_data)
{
	HeraldNotifierReply *reply = user_data;
	if (id == NULL) {
		herald_notifier_reply_error(reply->msg, error, retry_after_s);
	} else {
		g_autoptr(JsonBuilder) builder = json_builder_new();
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "id");
		json_builder_add_string_value(builder, id);
		json_builder_set_member_name(builder, "status");
		json_builder_add_string_value(builder, "accepted");
		json_builder_end_object(builder);
		herald_http_reply_builder(reply->msg, SOUP_STATUS_ACCEPTED, builder);
	}
	reply->done = TRUE;
	if (reply->paused)
		soup_server_message_unpause(reply->msg);
	herald_notifier_reply_unref(reply);
}

/* POST /api/notifications/send */
static void
herald_notifier_send_http_cb(SoupServerMessage *msg,
			     const gchar *subpath,
			     HeraldIdentity *identity,
			     gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(user_data);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) body = herald_http_parse_json_body(msg, &error);
	HeraldNotifierReply *reply;

	if (body == NULL) {
		self->rejected++;
		herald_http_reply_error(msg, error);
		return;
	}
	reply = g_new0(HeraldNotifierReply, 1);
	reply->msg = g_object_ref(msg);
	reply->refs = 2;
	herald_notifier_accept(self, json_node_get_object(body), herald_notifier_send_done, reply);
	if (!reply->done) {
		/* Redis has not acknowledged the record yet */
		soup_server_message_pause(msg);
		reply->paused = TRUE;
	}
	herald_notifier_reply_unref(reply);
}

static gboolean
herald_notifier_role_is_valid(const gchar *role)
{
	gsize len = strlen(role);
	if (len == 0 || len > 64)
		return FALSE;
	for (const gchar *p = role; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-')
			return FALSE;
	}
	return TRUE;
}

/* a broadcast event (payload with `room` or `role`) to this instance's
 * connections; G_MAXUINT when the payload names neither, validly */
static guint
herald_notifier_deliver_broadcast(HeraldEvent *event, HeraldBus *bus)
{
	g_autoptr(HeraldDelivery) delivery = NULL;
	g_autofree gchar *room = herald_event_get_payload_field(event, "room");
	g_autofree gchar *role = herald_event_get_payload_field(event, "role");
	const gchar *name = herald_event_get_type_name(event);

	if (name == NULL || !g_str_has_prefix(name, "notificacion_") || strlen(name) > 128 ||
	    (room == NULL) == (role == NULL) ||
	    (room != NULL && !herald_room_name_is_valid(room)) ||
	    (role != NULL && !herald_notifier_role_is_valid(role)))
		return G_MAXUINT;
	delivery = herald_delivery_new(event, name);
	if (room != NULL) {
		herald_delivery_add_room(delivery, room);
	} else {
		const gchar *pairs[] = {"role", role, NULL};
		herald_delivery_add_filter(delivery, pairs);
	}
	return herald_bus_deliver(bus, delivery);
}

/* route `notify-broadcast`: a broadcast that entered another instance (through
 * redis-bridge), or an event published on its channel; the connections of
 * this instance get it */
static void
herald_notifier_remote_broadcast_cb(HeraldBus *bus, HeraldEvent *event, gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(user_data);
	if (herald_notifier_deliver_broadcast(event, bus) == G_MAXUINT) {
		self->broadcasts_remote_rejected++;
		g_debug("dropped an event on %s that is not a broadcast",
			herald_event_get_channel(event));
		return;
	}
	self->broadcasts_remote++;
}

/* POST /api/notifications/broadcast: WebSocket only, to a room or a role on
 * this instance's connections and, through redis-bridge, the other instances';
 * there is no recipient list, so no WhatsApp */
static void
herald_notifier_broadcast_http_cb(SoupServerMessage *msg,
				  const gchar *subpath,
				  HeraldIdentity *identity,
				  gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(user_data);
	HeraldBus *bus = herald_plugin_get_bus(HERALD_PLUGIN(self));
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) body = herald_http_parse_json_body(msg, &error);
	g_autoptr(JsonObject) request = NULL;
	g_autoptr(HeraldNotifyRecord) record = NULL;
	g_autoptr(JsonNode) payload = NULL;
	g_autoptr(HeraldEvent) event = NULL;
	g_autoptr(JsonBuilder) builder = NULL;
	g_autofree gchar *name = NULL;
	g_autofree gchar *key = NULL;
	JsonObject *obj;
	JsonNode *room_node;
	JsonNode *role_node;
	const gchar *room = NULL;
	const gchar *role = NULL;
	guint retry_after = 0;
	guint reached;

	if (body == NULL) {
		self->rejected++;
		herald_http_reply_error(msg, error);
		return;
	}
	obj = json_node_get_object(body);
	room_node = json_object_get_member(obj, "room");
	role_node = json_object_get_member(obj, "role");
	if (room_node != NULL && JSON_NODE_HOLDS_VALUE(room_node) &&
	    json_node_get_value_type(room_node) == G_TYPE_STRING)
		room = json_node_get_string(room_node);
	if (role_node != NULL && JSON_NODE_HOLDS_VALUE(role_node) &&
	    json_node_get_value_type(role_node) == G_TYPE_STRING)
		role = json_node_get_string(role_node);
	if ((room == NULL) == (role == NULL)) {
		self->rejected++;
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_INVALID_ARGUMENT,
						/* TRANSLATORS: HTTP 400 */
						_("give exactly one of 'room' or 'role' (strings)"));
		return;
	}
	if (room != NULL && !herald_room_name_is_valid(room)) {
		self->rejected++;
		herald_http_reply_error_literal(
		    msg,
		    HERALD_ERROR_INVALID_ARGUMENT,
		    /* TRANSLATORS: HTTP 400 */
		    _("field 'room' must be 1 to 128 characters of A-Z a-z 0-9 _ . : @ -"));
		return;
	}
	if (role != NULL && !herald_notifier_role_is_valid(role)) {
		self->rejected++;
		herald_http_reply_error_literal(
		    msg,
		    HERALD_ERROR_INVALID_ARGUMENT,
		    /* TRANSLATORS: HTTP 400 */
		    _("field 'role' must be 1 to 64 characters of A-Z a-z 0-9 _ -"));
		return;
	}
	/* the same checks as /send, for everything but the recipient */
	request = json_object_new();
	{
		g_autoptr(GList) members = json_object_get_members(obj);
		for (GList *l = members; l != NULL; l = l->next)
			json_object_set_member(request,
					       l->data,
					       json_node_copy(json_object_get_member(obj, l->data)));
	}
	/* the recipient is the room or role; a phone has no meaning here */
	json_object_remove_member(request, "room");
	json_object_remove_member(request, "role");
	json_object_remove_member(request, "phone");
	if (json_object_has_member(request, "user_id") || json_object_has_member(request, "userId")) {
		self->rejected++;
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_INVALID_ARGUMENT,
						/* TRANSLATORS: HTTP 400 */
						_("a broadcast has no user: use /api/notifications/send"));
		return;
	}
	json_object_set_string_member(request, "user_id", "broadcast");
	record = herald_notify_record_new_from_request(request, &self->limits, &error);
	if (record == NULL) {
		self->rejected++;
		herald_http_reply_error(msg, error);
		return;
	}
	key = g_strdup_printf("%s:%s", room != NULL ? "room" : "role", room != NULL ? room : role);
	if (!herald_notify_limiter_check(self->limiter,
					 key,
					 g_get_real_time(),
					 record->priority == HERALD_NOTIFY_PRIORITY_URGENT,
					 &retry_after)) {
		self->rate_limited++;
		g_set_error_literal(&error,
				    HERALD_ERROR,
				    HERALD_ERROR_RATE_LIMITED,
				    /* TRANSLATORS: HTTP 429 */
				    _("too many notifications for this recipient; see Retry-After"));
		herald_notifier_reply_error(msg, error, retry_after);
		return;
	}

	payload = herald_notify_record_ws_payload(record);
	json_object_remove_member(json_node_get_object(payload), "user_id");
	json_object_set_string_member(json_node_get_object(payload),
				      room != NULL ? "room" : "role",
				      room != NULL ? room : role);
	name = herald_notify_record_event_name(record);
	event = herald_event_new(name,
				 HERALD_NOTIFY_BROADCAST_CHANNEL,
				 payload,
				 herald_bus_get_instance_id(bus));
	reached = herald_notifier_deliver_broadcast(event, bus);
	/* the other instances' connections: redis-bridge publishes it, their
	 * route `notify-broadcast` hands it to this plugin there (once: the
	 * envelope carries the event id and this instance as origin) */
	herald_bus_emit_event(bus, HERALD_BUS_TOPIC_OUTBOUND, event);
	self->broadcasts++;

	builder = json_builder_new();
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "id");
	json_builder_add_string_value(builder, record->id);
	json_builder_set_member_name(builder, "status");
	json_builder_add_string_value(builder, reached > 0 ? "delivered" : "not_connected");
	json_builder_set_member_name(builder, "connections");
	json_builder_add_int_value(builder, reached);
	json_builder_end_object(builder);
	herald_http_reply_builder(msg, SOUP_STATUS_ACCEPTED, builder);
}

typedef struct {
	HeraldNotifierWhatsappPlugin *self; /* (not owned): the task holds a ref */
	SoupServerMessage *msg; /* (owned) paused */
} HeraldNotifierLookup;

static void
herald_notifier_reply_record(SoupServerMessage *msg, HeraldNotifyRecord *record)
{
	g_autoptr(JsonNode) node = herald_notify_record_to_json(record, FALSE);
	herald_http_reply_json(msg, SOUP_STATUS_OK, node);
}

static void
herald_notifier_reply_not_found(SoupServerMessage *msg)
{
	herald_http_reply_error_literal(msg,
					HERALD_ERROR_NOT_FOUND,
					/* TRANSLATORS: HTTP 404 */
					_("no such notification (or its status has expired)"));
}

static void
herald_notifier_lookup_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(source);
	HeraldNotifierLookup *lookup = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = g_task_propagate_pointer(G_TASK(res), &error);
	g_autoptr(JsonObject) obj = NULL;
	g_autoptr(HeraldNotifyRecord) record = NULL;

	self->pending_tasks--;
	if (node == NULL) {
		herald_http_reply_error_literal(lookup->msg,
						HERALD_ERROR_UNAVAILABLE,
						/* TRANSLATORS: HTTP 503 */
						_("the notification store is not reachable"));
	} else if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING &&
		   (obj = herald_json_parse_object(json_node_get_string(node), -1, NULL)) != NULL &&
		   (record = herald_notify_record_new_from_json(obj, NULL)) != NULL) {
		herald_notifier_reply_record(lookup->msg, record);
	} else {
		herald_notifier_reply_not_found(lookup->msg);
	}
	soup_server_message_unpause(lookup->msg);
	g_object_unref(lookup->msg);
	g_free(lookup);
}

/* GET /api/notifications/{id} */
static void
herald_notifier_status_http_cb(SoupServerMessage *msg,
			       const gchar *subpath,
			       HeraldIdentity *identity,
			       gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(user_data);
	HeraldNotifyRecord *record;
	HeraldNotifierLookup *lookup;
	g_autoptr(GTask) task = NULL;
	g_autofree gchar *key = NULL;

	if (subpath == NULL || subpath[0] == '\0' || strlen(subpath) > 64 ||
	    strspn(subpath, "0123456789abcdefABCDEF-") != strlen(subpath)) {
		herald_notifier_reply_not_found(msg);
		return;
	}
	record = g_hash_table_lookup(self->records, subpath);
	if (record != NULL) {
		herald_notifier_reply_record(msg, record);
		return;
	}
	if (self->store_kind != HERALD_NOTIFY_STORE_REDIS) {
		herald_notifier_reply_not_found(msg);
		return;
	}
	/* another instance's notification */
	lookup = g_new0(HeraldNotifierLookup, 1);
	lookup->self = self;
	lookup->msg = g_object_ref(msg);
	soup_server_message_pause(msg);
	key = g_strconcat(REDIS_PREFIX_STATUS, subpath, NULL);
	herald_notifier_redis(self, herald_notifier_argv("GET", key, NULL), herald_notifier_lookup_cb,
			      lookup);
}

/* ------------------------------------------------------------ lifecycle */

static guint
herald_notifier_request_signal_id(void)
{
	return g_signal_lookup("request", HERALD_TYPE_BUS);
}

static gboolean
herald_notifier_whatsapp_plugin_startup(HeraldPlugin *plugin, GError **error)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(plugin);
	HeraldHost *host = herald_plugin_get_host(plugin);
	HeraldBus *bus = herald_plugin_get_bus(plugin);
	const gchar *store = herald_plugin_get_config_string(plugin, "store");
	gboolean have_redis = g_signal_has_handler_pending(bus,
							   herald_notifier_request_signal_id(),
							   g_quark_from_string(HERALD_BUS_REQUEST_REDIS),
							   FALSE);

	if (!herald_notifier_read_config(self, error))
		return FALSE;
	if (g_strcmp0(store, "redis") == 0 && !have_redis) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: startup error */
				    _("store=redis needs the redis-bridge plugin"));
		return FALSE;
	}
	if (g_strcmp0(store, "file") == 0 || !have_redis) {
		self->store_kind = HERALD_NOTIFY_STORE_FILE;
		if (!herald_notifier_open_journal(self, error))
			return FALSE;
	} else {
		self->store_kind = HERALD_NOTIFY_STORE_REDIS;
	}
	self->session = soup_session_new_with_options("timeout",
						      (guint)self->request_timeout_s,
						      "max-conns",
						      (gint)self->max_in_flight + 2,
						      "max-conns-per-host",
						      (gint)self->max_in_flight + 2,
						      "user-agent",
						      "heraldd/" PACKAGE_VERSION,
						      NULL);
	self->cancellable = g_cancellable_new();

	herald_host_add_http_route(host,
				   plugin,
				   "POST",
				   "/api/notifications/send",
				   HERALD_HTTP_ROUTE_NONE,
				   HERALD_HTTP_AUTH_SERVICE,
				   herald_notifier_send_http_cb,
				   self);
	herald_host_add_http_route(host,
				   plugin,
				   "POST",
				   "/api/notifications/broadcast",
				   HERALD_HTTP_ROUTE_NONE,
				   HERALD_HTTP_AUTH_SERVICE,
				   herald_notifier_broadcast_http_cb,
				   self);
	herald_host_add_http_route(host,
				   plugin,
				   "GET",
				   "/api/notifications/",
				   HERALD_HTTP_ROUTE_PREFIX,
				   HERALD_HTTP_AUTH_SERVICE,
				   herald_notifier_status_http_cb,
				   self);
	self->notify_id = g_signal_connect(bus,
					   "request::" HERALD_BUS_REQUEST_NOTIFY,
					   G_CALLBACK(herald_notifier_request_notify_cb),
					   self);
	self->connected_id = g_signal_connect(bus,
					      "event::" HERALD_BUS_TOPIC_CONNECTED,
					      G_CALLBACK(herald_notifier_connected_cb),
					      self);
	{
		g_autofree gchar *detailed =
		    g_strdup_printf("event::%s", herald_plugin_get_name(plugin));
		self->broadcast_id = g_signal_connect(bus,
						      detailed,
						      G_CALLBACK(herald_notifier_remote_broadcast_cb),
						      self);
	}
	g_debug("store: %s, mode: %s",
		self->store_kind == HERALD_NOTIFY_STORE_REDIS ? "redis" : "file",
		herald_plugin_get_config_string(plugin, "mode"));
	return TRUE;
}

static void
herald_notifier_whatsapp_plugin_ready(HeraldPlugin *plugin)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(plugin);
	/* what a previous run left queued is due now */
	herald_notifier_run_job(self);
	herald_notifier_start_job(self);
}

static gboolean
herald_notifier_whatsapp_plugin_reload(HeraldPlugin *plugin, GError **error)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(plugin);
	if (!herald_notifier_read_config(self, error))
		return FALSE;
	if (self->job_id != 0)
		herald_notifier_start_job(self);
	return TRUE;
}

static void
herald_notifier_disconnect_bus(HeraldNotifierWhatsappPlugin *self)
{
	HeraldBus *bus = herald_plugin_get_bus(HERALD_PLUGIN(self));
	if (bus == NULL)
		return;
	g_clear_signal_handler(&self->notify_id, bus);
	g_clear_signal_handler(&self->connected_id, bus);
	g_clear_signal_handler(&self->broadcast_id, bus);
}

static gboolean
herald_notifier_shutdown_poll_cb(gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(user_data);
	if ((self->in_flight > 0 || self->pending_tasks > 0) &&
	    g_get_monotonic_time() < self->shutdown_deadline)
		return G_SOURCE_CONTINUE;
	self->shutdown_poll_id = 0;
	g_task_return_boolean(self->shutdown_task, TRUE);
	g_clear_object(&self->shutdown_task);
	return G_SOURCE_REMOVE;
}

/* in-flight requests are cancelled; their stored state (accepted or pending)
 * makes the next start send them again */
static void
herald_notifier_whatsapp_plugin_shutdown_async(HeraldPlugin *plugin,
					       GCancellable *cancellable,
					       GAsyncReadyCallback callback,
					       gpointer user_data)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(plugin);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);

	herald_notifier_disconnect_bus(self);
	g_clear_handle_id(&self->job_id, g_source_remove);
	g_clear_handle_id(&self->load_retry_id, g_source_remove);
	if (self->shutting_down) {
		g_task_return_boolean(task, TRUE);
		return;
	}
	self->shutting_down = TRUE;
	if (self->cancellable != NULL)
		g_cancellable_cancel(self->cancellable);
	self->shutdown_task = g_steal_pointer(&task);
	self->shutdown_deadline = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
	self->shutdown_poll_id = g_timeout_add(10, herald_notifier_shutdown_poll_cb, self);
}

static gboolean
herald_notifier_whatsapp_plugin_shutdown_finish(HeraldPlugin *plugin,
						GAsyncResult *res,
						GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

static void
herald_notifier_whatsapp_plugin_add_stats(HeraldPlugin *plugin, GVariantDict *dict)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(plugin);
	g_auto(GVariantDict) sent = G_VARIANT_DICT_INIT(NULL);
	guint held = 0;
	guint dead = 0;
	guint depth = herald_notifier_count_unfinished(self, &held, &dead);

	g_variant_dict_insert(&sent, "websocket", "t", self->sent_websocket);
	g_variant_dict_insert(&sent, "whatsapp", "t", self->sent_whatsapp);
	g_variant_dict_insert_value(dict, "notifications_sent", g_variant_dict_end(&sent));
	g_variant_dict_insert(dict, "notifications_accepted", "t", self->accepted);
	g_variant_dict_insert(dict, "notifications_fallbacks", "t", self->fallbacks);
	g_variant_dict_insert(dict, "notifications_retries", "t", self->retries);
	g_variant_dict_insert(dict, "notifications_dead_letters", "t", self->dead_letters);
	g_variant_dict_insert(dict, "notifications_failed", "t", self->failed);
	g_variant_dict_insert(dict, "notifications_expired", "t", self->expired);
	g_variant_dict_insert(dict, "notifications_rate_limited", "t", self->rate_limited);
	g_variant_dict_insert(dict,
			      "notifications_rate_limited_phone",
			      "t",
			      self->rate_limited_phone);
	g_variant_dict_insert(dict,
			      "whatsapp_deferred_phone_rate",
			      "t",
			      self->whatsapp_phone_deferred);
	g_variant_dict_insert(dict, "notifications_rejected", "t", self->rejected);
	g_variant_dict_insert(dict, "notifications_template_switches", "t", self->template_switches);
	g_variant_dict_insert(dict, "notifications_store_errors", "t", self->store_errors);
	if (self->journal != NULL) {
		g_variant_dict_insert(dict,
				      "journal_rollbacks_total",
				      "t",
				      herald_notify_journal_get_rollbacks(self->journal));
		g_variant_dict_insert(dict,
				      "journal_damaged_lines",
				      "t",
				      herald_notify_journal_get_damaged(self->journal));
		g_variant_dict_insert(dict,
				      "journal_recovered_records",
				      "t",
				      herald_notify_journal_get_recovered(self->journal));
	}
	g_variant_dict_insert(dict, "notifications_broadcasts", "t", self->broadcasts);
	g_variant_dict_insert(dict,
			      "notifications_broadcasts_remote",
			      "t",
			      self->broadcasts_remote);
	g_variant_dict_insert(dict,
			      "notifications_broadcasts_remote_rejected",
			      "t",
			      self->broadcasts_remote_rejected);
	g_variant_dict_insert(dict, "notifications_job_runs", "t", self->job_runs);
	g_variant_dict_insert(dict, "notifications_queue_depth", "u", depth);
	g_variant_dict_insert(dict, "notifications_held", "u", held);
	g_variant_dict_insert(dict, "notifications_dead", "u", dead);
	g_variant_dict_insert(dict, "notifications_in_flight", "u", self->in_flight);
}

static void
herald_notifier_whatsapp_plugin_init(HeraldNotifierWhatsappPlugin *self)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(self);
	herald_plugin_add_config_keys(plugin, notifier_keys, G_N_ELEMENTS(notifier_keys));
	herald_plugin_add_config_group(
	    plugin,
	    "templates",
	    HERALD_CONFIG_STRING,
	    "notification type = WhatsApp template name, optionally name:language "
	    "(e.g. solicitud_nueva=nueva_solicitud:es_MX); `general` serves types without "
	    "their own; without any, messages go out as text");
	herald_plugin_add_rule(plugin, HERALD_PLUGIN_RULE_RUN_AFTER, "ws-rooms");
	herald_plugin_add_rule(plugin, HERALD_PLUGIN_RULE_RUN_AFTER, "redis-bridge");
	self->records = g_hash_table_new_full(g_str_hash,
					      g_str_equal,
					      NULL,
					      (GDestroyNotify)herald_notify_record_free);
	self->templates = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->phones = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->limiter = herald_notify_limiter_new();
	g_queue_init(&self->ready);
}

static void
herald_notifier_whatsapp_plugin_dispose(GObject *object)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(object);
	herald_notifier_disconnect_bus(self);
	g_clear_handle_id(&self->job_id, g_source_remove);
	g_clear_handle_id(&self->load_retry_id, g_source_remove);
	g_clear_handle_id(&self->shutdown_poll_id, g_source_remove);
	if (self->shutdown_task != NULL) {
		g_task_return_boolean(self->shutdown_task, TRUE);
		g_clear_object(&self->shutdown_task);
	}
	if (self->cancellable != NULL)
		g_cancellable_cancel(self->cancellable);
	g_clear_object(&self->session);
	g_clear_object(&self->cancellable);
	G_OBJECT_CLASS(herald_notifier_whatsapp_plugin_parent_class)->dispose(object);
}

static void
herald_notifier_whatsapp_plugin_finalize(GObject *object)
{
	HeraldNotifierWhatsappPlugin *self = HERALD_NOTIFIER_WHATSAPP_PLUGIN(object);
	g_queue_clear_full(&self->ready, g_free);
	g_clear_pointer(&self->records, g_hash_table_unref);
	g_clear_pointer(&self->templates, g_hash_table_unref);
	g_clear_pointer(&self->phones, g_hash_table_unref);
	g_clear_pointer(&self->limiter, herald_notify_limiter_free);
	g_clear_pointer(&self->journal, herald_notify_journal_free);
	g_free(self->api_base);
	g_free(self->api_version);
	g_free(self->phone_number_id);
	g_free(self->token);
	g_free(self->webhook_url);
	g_free(self->template_language);
	G_OBJECT_CLASS(herald_notifier_whatsapp_plugin_parent_class)->finalize(object);
}

static void
herald_notifier_whatsapp_plugin_class_init(HeraldNotifierWhatsappPluginClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	HeraldPluginClass *plugin_class = HERALD_PLUGIN_CLASS(klass);
	object_class->dispose = herald_notifier_whatsapp_plugin_dispose;
	object_class->finalize = herald_notifier_whatsapp_plugin_finalize;
	plugin_class->startup = herald_notifier_whatsapp_plugin_startup;
	plugin_class->ready = herald_notifier_whatsapp_plugin_ready;
	plugin_class->reload = herald_notifier_whatsapp_plugin_reload;
	plugin_class->shutdown_async = herald_notifier_whatsapp_plugin_shutdown_async;
	plugin_class->shutdown_finish = herald_notifier_whatsapp_plugin_shutdown_finish;
	plugin_class->add_stats = herald_notifier_whatsapp_plugin_add_stats;
	plugin_class->check_config = herald_notifier_whatsapp_plugin_check_config;
}

/* the one symbol this module exports */
HERALD_PLUGIN_DEFINE_QUERY_TYPE(HERALD_TYPE_NOTIFIER_WHATSAPP_PLUGIN)
