/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <herald.h>

#include "herald-clamav-scan-plugin.h"
#include "herald-clamav-scan-scanner.h"

struct _HeraldClamavScanPlugin {
	HeraldPlugin parent_instance;
	HeraldClamavScanScanner *scanner; /* (owned) (nullable) until startup */
	gulong request_id;
	gulong health_id;
};

G_DEFINE_FINAL_TYPE(HeraldClamavScanPlugin, herald_clamav_scan_plugin, HERALD_TYPE_PLUGIN)

/* every key has a commented line in data/herald.conf (DESIGN §2) */
static const HeraldConfigKey clamav_scan_keys[] = {
    {"address",
     HERALD_CONFIG_STRING,
     "tcp:127.0.0.1:3310",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_NOT_EMPTY,
     "clamd's socket: tcp:HOST:PORT (HOST may be [v6]) or unix:/absolute/path"},
    {"timeout-s",
     HERALD_CONFIG_UINT,
     "30",
     1,
     3600,
     NULL,
     0,
     "seconds one scan (connect, send, verdict) or health check may take; then verdict "
     "error 'timed out'"},
    {"max-stream-bytes",
     HERALD_CONFIG_UINT,
     "26214400",
     1,
     G_MAXUINT32,
     NULL,
     0,
     "largest file sent to clamd (keep it at most clamd's StreamMaxLength); larger files get "
     "verdict error"},
    {"pool-size",
     HERALD_CONFIG_UINT,
     "4",
     1,
     1024,
     NULL,
     0,
     "scans (connections to clamd) at once; keep it at most clamd's MaxThreads"},
    {"queue-size",
     HERALD_CONFIG_UINT,
     "64",
     0,
     100000,
     NULL,
     0,
     "scans waiting for a free connection, first come first served; more get verdict error "
     "'busy'"},
    {"health-interval-s",
     HERALD_CONFIG_UINT,
     "30",
     1,
     86400,
     NULL,
     0,
     "seconds between PING health checks, which move the plugin between running and "
     "degraded"},
};

static gboolean
herald_clamav_scan_plugin_read_config(HeraldClamavScanPlugin *self, GError **error)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(self);
	HeraldClamavScanScannerLimits limits = {0};
	g_autoptr(GSocketConnectable) connectable = NULL;
	g_autoptr(GError) error_local = NULL;
	const gchar *address = herald_plugin_get_config_string(plugin, "address");

	connectable = herald_clamav_scan_parse_address(address, &error_local);
	if (connectable == NULL) {
		g_autofree gchar *location = herald_config_get_location(
		    herald_plugin_get_config(plugin), herald_plugin_get_name(plugin), "address");
		g_propagate_prefixed_error(error, g_steal_pointer(&error_local), "%s: ", location);
		return FALSE;
	}
	limits.timeout_s = (guint)herald_plugin_get_config_uint64(plugin, "timeout-s");
	limits.max_stream_bytes = herald_plugin_get_config_uint64(plugin, "max-stream-bytes");
	limits.pool_size = (guint)herald_plugin_get_config_uint64(plugin, "pool-size");
	limits.queue_size = (guint)herald_plugin_get_config_uint64(plugin, "queue-size");
	limits.health_interval_s =
	    (guint)herald_plugin_get_config_uint64(plugin, "health-interval-s");
	g_debug("clamd at '%s', pool %u, queue %u, timeout %u s",
		address,
		limits.pool_size,
		limits.queue_size,
		limits.timeout_s);
	herald_clamav_scan_scanner_configure(self->scanner, connectable, &limits);
	return TRUE;
}

/* HERALD_BUS_REQUEST_SCAN */
static gboolean
herald_clamav_scan_plugin_request_cb(HeraldBus *bus, GTask *task, gpointer user_data)
{
	HeraldClamavScanPlugin *self = HERALD_CLAMAV_SCAN_PLUGIN(user_data);
	if (self->scanner == NULL)
		return FALSE;
	herald_clamav_scan_scanner_scan(self->scanner, task);
	return TRUE;
}

static void
herald_clamav_scan_plugin_health_cb(HeraldClamavScanScanner *scanner,
				    gboolean reachable,
				    const gchar *reason,
				    gpointer user_data)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(user_data);
	HeraldPluginState state = herald_plugin_get_state(plugin);
	g_autofree gchar *why = NULL;

	if (state != HERALD_PLUGIN_STATE_RUNNING && state != HERALD_PLUGIN_STATE_DEGRADED)
		return;
	/* herald_plugin_set_state() logs each change (a warning for degraded) */
	if (reachable) {
		if (state == HERALD_PLUGIN_STATE_DEGRADED)
			herald_plugin_set_state(plugin, HERALD_PLUGIN_STATE_RUNNING, NULL);
		return;
	}
	why = g_strdup_printf("clamd unreachable: %s", reason != NULL ? reason : "unknown");
	herald_plugin_set_state(plugin, HERALD_PLUGIN_STATE_DEGRADED, why);
}

static void
herald_clamav_scan_plugin_check_config(HeraldPlugin *plugin, GPtrArray *problems)
{
	const gchar *address = herald_plugin_get_config_string(plugin, "address");
	g_autoptr(GSocketConnectable) connectable = NULL;
	g_autoptr(GError) error = NULL;

	/* an empty value is reported by the host (NOT_EMPTY) */
	if (address == NULL || address[0] == '\0')
		return;
	connectable = herald_clamav_scan_parse_address(address, &error);
	if (connectable == NULL)
		herald_plugin_add_config_problem(plugin, problems, "address", error->message);
}

static gboolean
herald_clamav_scan_plugin_startup(HeraldPlugin *plugin, GError **error)
{
	HeraldClamavScanPlugin *self = HERALD_CLAMAV_SCAN_PLUGIN(plugin);
	HeraldBus *bus = herald_plugin_get_bus(plugin);

	self->scanner = herald_clamav_scan_scanner_new();
	self->health_id = g_signal_connect(
	    self->scanner, "health", G_CALLBACK(herald_clamav_scan_plugin_health_cb), self);
	if (!herald_clamav_scan_plugin_read_config(self, error))
		return FALSE;
	self->request_id = g_signal_connect(bus,
					    "request::" HERALD_BUS_REQUEST_SCAN,
					    G_CALLBACK(herald_clamav_scan_plugin_request_cb),
					    self);
	return TRUE;
}

static gboolean
herald_clamav_scan_plugin_reload(HeraldPlugin *plugin, GError **error)
{
	HeraldClamavScanPlugin *self = HERALD_CLAMAV_SCAN_PLUGIN(plugin);
	if (self->scanner == NULL)
		return TRUE;
	return herald_clamav_scan_plugin_read_config(self, error);
}

static void
herald_clamav_scan_plugin_disconnect(HeraldClamavScanPlugin *self)
{
	HeraldBus *bus = herald_plugin_get_bus(HERALD_PLUGIN(self));
	if (bus != NULL)
		g_clear_signal_handler(&self->request_id, bus);
	if (self->scanner != NULL)
		g_clear_signal_handler(&self->health_id, self->scanner);
}

static void
herald_clamav_scan_plugin_shutdown_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	g_autoptr(GError) error = NULL;
	if (!herald_clamav_scan_scanner_shutdown_finish(
		HERALD_CLAMAV_SCAN_SCANNER(source), res, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_task_return_boolean(task, TRUE);
}

/* running scans are answered "shutting down"; no connection to clamd is left */
static void
herald_clamav_scan_plugin_shutdown_async(HeraldPlugin *plugin,
					 GCancellable *cancellable,
					 GAsyncReadyCallback callback,
					 gpointer user_data)
{
	HeraldClamavScanPlugin *self = HERALD_CLAMAV_SCAN_PLUGIN(plugin);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);

	herald_clamav_scan_plugin_disconnect(self);
	if (self->scanner == NULL) {
		g_task_return_boolean(task, TRUE);
		return;
	}
	herald_clamav_scan_scanner_shutdown_async(self->scanner,
						  cancellable,
						  herald_clamav_scan_plugin_shutdown_cb,
						  g_steal_pointer(&task));
}

static gboolean
herald_clamav_scan_plugin_shutdown_finish(HeraldPlugin *plugin, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

static void
herald_clamav_scan_plugin_add_stats(HeraldPlugin *plugin, GVariantDict *dict)
{
	HeraldClamavScanPlugin *self = HERALD_CLAMAV_SCAN_PLUGIN(plugin);
	if (self->scanner != NULL)
		herald_clamav_scan_scanner_add_stats(self->scanner, dict);
}

static void
herald_clamav_scan_plugin_init(HeraldClamavScanPlugin *self)
{
	herald_plugin_add_config_keys(
	    HERALD_PLUGIN(self), clamav_scan_keys, G_N_ELEMENTS(clamav_scan_keys));
}

static void
herald_clamav_scan_plugin_dispose(GObject *object)
{
	HeraldClamavScanPlugin *self = HERALD_CLAMAV_SCAN_PLUGIN(object);
	herald_clamav_scan_plugin_disconnect(self);
	/* without a shutdown (a failed startup): stop the timer and the checks */
	if (self->scanner != NULL)
		herald_clamav_scan_scanner_shutdown_async(self->scanner, NULL, NULL, NULL);
	g_clear_object(&self->scanner);
	G_OBJECT_CLASS(herald_clamav_scan_plugin_parent_class)->dispose(object);
}

static void
herald_clamav_scan_plugin_class_init(HeraldClamavScanPluginClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	HeraldPluginClass *plugin_class = HERALD_PLUGIN_CLASS(klass);
	object_class->dispose = herald_clamav_scan_plugin_dispose;
	plugin_class->startup = herald_clamav_scan_plugin_startup;
	plugin_class->reload = herald_clamav_scan_plugin_reload;
	plugin_class->shutdown_async = herald_clamav_scan_plugin_shutdown_async;
	plugin_class->shutdown_finish = herald_clamav_scan_plugin_shutdown_finish;
	plugin_class->add_stats = herald_clamav_scan_plugin_add_stats;
	plugin_class->check_config = herald_clamav_scan_plugin_check_config;
}

/* the one symbol this module exports */
HERALD_PLUGIN_DEFINE_QUERY_TYPE(HERALD_TYPE_CLAMAV_SCAN_PLUGIN)
