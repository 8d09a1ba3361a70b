/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "herald-bus-topics.h"
#include "herald-dbus.h"
#include "herald-host-private.h"
#include "herald-http-private.h"
#include "herald-json.h"
#include "herald-plugin-list.h"
#include "herald-plugin-private.h"
#include "herald-route.h"

struct _HeraldHost {
	GObject parent_instance;
	HeraldConfig *config;	   /* (owned) */
	gchar *config_file;	   /* (nullable) */
	gchar *dropin_dir;	   /* (nullable) */
	HeraldAuth *auth;	   /* (owned) (nullable): NULL when [auth] has no usable key */
	HeraldBus *bus;		   /* (owned) */
	HeraldRouter *router;	   /* (owned) */
	HeraldHttp *http;	   /* (owned) */
	HeraldPluginList *plugins; /* (owned) */
	HeraldDbus *dbus;	   /* (owned) (nullable) */
	gchar *instance_id;
	gchar *state_dir;
	gint64 start_time; /* monotonic µs */
	HeraldHostState state;
	gboolean started;
	gboolean shutting_down;
	gboolean strict; /* --strict: exposed inline secrets are errors */
	guint64 events_api_total;
	guint64 events_api_invalid_user_total;
};

G_DEFINE_FINAL_TYPE(HeraldHost, herald_host, G_TYPE_OBJECT)

enum { SIGNAL_STATE_CHANGED, SIGNAL_PLUGIN_STATE_CHANGED, SIGNAL_LAST };
static guint signals[SIGNAL_LAST] = {0};

#define HERALD_MAX_CHANNEL_BYTES 256

static const HeraldConfigKey host_keys[] = {
    {"listen",
     HERALD_CONFIG_LIST,
     "127.0.0.1:8003",
     0,
     16,
     NULL,
     HERALD_CONFIG_FLAG_RESTART | HERALD_CONFIG_FLAG_NOT_EMPTY,
     "addresses to serve HTTP and WebSocket on: host:port or unix:/path"},
    {"plugins",
     HERALD_CONFIG_LIST,
     HERALD_DEFAULT_PLUGINS,
     0,
     64,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "enabled plugins, started in dependency order"},
    {"instance-id",
     HERALD_CONFIG_STRING,
     NULL,
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "origin id of events from this instance; default: hostname and a random suffix"},
    {"dbus",
     HERALD_CONFIG_ENUM,
     "system",
     0,
     0,
     "system;session;none",
     HERALD_CONFIG_FLAG_RESTART,
     "bus to export org.herald.Host1 on"},
    {"state-dir",
     HERALD_CONFIG_STRING,
     HERALD_STATE_DIR,
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART | HERALD_CONFIG_FLAG_NOT_EMPTY,
     "directory for durable state (queues, local files)"},
    {"max-request-bytes",
     HERALD_CONFIG_UINT,
     "10485760",
     1024,
     G_GUINT64_CONSTANT(1073741824),
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "largest accepted HTTP request body, except uploads (their own limit)"},
    {"header-timeout-ms",
     HERALD_CONFIG_UINT,
     "10000",
     50,
     3600000,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "an HTTP connection must deliver complete request headers this long after it was accepted or after its previous response; then it is closed (this also closes idle keep-alive connections)"},
    {"body-idle-timeout-ms",
     HERALD_CONFIG_UINT,
     "10000",
     50,
     3600000,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "an HTTP request body (except uploads) that sends nothing for this long gets 408 and the connection is closed"},
    {"body-timeout-ms",
     HERALD_CONFIG_UINT,
     "60000",
     50,
     86400000,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "an HTTP request body (except uploads) not complete this long after its headers gets 408 and the connection is closed"},
    {"upload-idle-timeout-ms",
     HERALD_CONFIG_UINT,
     "30000",
     50,
     3600000,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "an upload (streaming route) that sends nothing for this long gets 408 and the connection is closed; its upload slot is freed"},
    {"upload-timeout-ms",
     HERALD_CONFIG_UINT,
     "3600000",
     50,
     86400000,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "an upload (streaming route) not complete this long after its headers gets 408 and the connection is closed"},
    {"trusted-proxies",
     HERALD_CONFIG_LIST,
     "",
     0,
     256,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "reverse proxies (IP addresses or CIDR blocks) whose X-Forwarded-For / Forwarded / X-Real-IP name the client; a loopback peer that sends such a header is not a local caller for /stats and /metrics unless it is listed here and the forwarded client is loopback"},
    {"shutdown-timeout-s",
     HERALD_CONFIG_UINT,
     "10",
     1,
     300,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "how long plugins get to stop on SIGTERM before the daemon exits anyway"},
    {"max-json-depth",
     HERALD_CONFIG_UINT,
     G_STRINGIFY(HERALD_JSON_DEFAULT_MAX_DEPTH),
     2,
     4096,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "JSON from outside (HTTP bodies, WebSocket and Socket.IO packets, Redis messages, journal lines) nested deeper than this is refused before it is parsed"},
};

/* shipped routes (DESIGN §3); data/herald.conf documents the same values */
typedef struct {
	const gchar *name;
	const gchar *channels;
	const gchar *rooms;
	const gchar *users;
	const gchar *event;
	const gchar *handler;
} HeraldDefaultRoute;

static const HeraldDefaultRoute default_routes[] = {
    {"ws-room", "ws:room:*", "{1}", NULL, "{type}", NULL},
    {"ws-user", "ws:user:*", NULL, "{1}", "{type}", NULL},
    {"solicitud", "solicitud.*", "admin;advisor;solicitud_{solicitud_id}", "{asesor_id}", NULL, NULL},
    {"oferta", "oferta.*", "admin;solicitud_{solicitud_id}", "{asesor_id}", NULL, NULL},
    {"evaluacion", "evaluacion.*", "admin;solicitud_{solicitud_id}", "{asesor_id}", NULL, NULL},
    {"cliente", "cliente.*", "admin", "{cliente_id}", NULL, NULL},
    {"notificacion", "notificacion.*", NULL, "{user_id}", NULL, NULL},
    {"realtime-notifications", "realtime:notifications", "notifications", NULL, "{type}", NULL},
    {"realtime-orders", "realtime:orders", "orders", NULL, "{type}", NULL},
    {"realtime-inventory", "realtime:inventory", "inventory", NULL, "{type}", NULL},
    {"realtime-broadcasts", "realtime:broadcasts", "all", NULL, "{type}", NULL},
    {"stats", "events", NULL, NULL, NULL, "stats-filter"},
    /* notifier-whatsapp: broadcasts that entered another instance */
    {"notify-broadcast", "herald:notify:broadcast", NULL, NULL, NULL, "notifier-whatsapp"},
    /* files-minio: file.uploaded / file.rejected to the uploader only */
    {"file", "file.*", NULL, "{user_id}", NULL, NULL},
};

const HeraldConfigKey *
herald_host_get_config_keys(guint *n_keys)
{
	*n_keys = G_N_ELEMENTS(host_keys);
	return host_keys;
}

const gchar *
herald_host_state_to_string(HeraldHostState state)
{
	switch (state) {
	case HERALD_HOST_STATE_STARTING:
		return "starting";
	case HERALD_HOST_STATE_HEALTHY:
		return "healthy";
	case HERALD_HOST_STATE_DEGRADED:
		return "degraded";
	case HERALD_HOST_STATE_UNHEALTHY:
		return "unhealthy";
	case HERALD_HOST_STATE_STOPPING:
		return "stopping";
	default:
		return "unknown";
	}
}

HeraldBus *
herald_host_get_bus(HeraldHost *self)
{
	g_return_val_if_fail(HERALD_IS_HOST(self), NULL);
	return self->bus;
}

HeraldConfig *
herald_host_get_config(HeraldHost *self)
{
	g_return_val_if_fail(HERALD_IS_HOST(self), NULL);
	return self->config;
}

HeraldAuth *
herald_host_get_auth(HeraldHost *self)
{
	g_return_val_if_fail(HERALD_IS_HOST(self), NULL);
	return self->auth;
}

/**
 * herald_host_get_router:
 *
 * The routes in force (replaced by a reload: ask again after #HeraldPluginClass.reload,
 * do not keep the pointer), e.g. for herald_router_get_patterns().
 *
 * Returns: (transfer none): the router
 *
 * Since: 0.1
 */
HeraldRouter *
herald_host_get_router(HeraldHost *self)
{
	g_return_val_if_fail(HERALD_IS_HOST(self), NULL);
	return self->router;
}

const gchar *
herald_host_get_instance_id(HeraldHost *self)
{
	g_return_val_if_fail(HERALD_IS_HOST(self), NULL);
	return self->instance_id;
}

const gchar *
herald_host_get_state_dir(HeraldHost *self)
{
	g_return_val_if_fail(HERALD_IS_HOST(self), NULL);
	return self->state_dir;
}

SoupServer *
herald_host_get_soup_server(HeraldHost *self)
{
	g_return_val_if_fail(HERALD_IS_HOST(self), NULL);
	return herald_http_get_server(self->http);
}

gint64
herald_host_get_start_time(HeraldHost *self)
{
	g_return_val_if_fail(HERALD_IS_HOST(self), 0);
	return self->start_time;
}

gboolean
herald_host_is_shutting_down(HeraldHost *self)
{
	g_return_val_if_fail(HERALD_IS_HOST(self), FALSE);
	return self->shutting_down;
}

GPtrArray *
herald_host_get_plugins(HeraldHost *self)
{
	return herald_plugin_list_get_all(self->plugins);
}

HeraldHostState
herald_host_get_state(HeraldHost *self)
{
	return self->state;
}

guint
herald_host_get_connections(HeraldHost *self)
{
	return herald_bus_count_connections(self->bus, NULL);
}

guint64
herald_host_get_uptime(HeraldHost *self)
{
	return (guint64)((g_get_monotonic_time() - self->start_time) / G_USEC_PER_SEC);
}

void
herald_host_add_http_route(HeraldHost *self,
			   HeraldPlugin *owner,
			   const gchar *methods,
			   const gchar *path,
			   HeraldHttpRouteFlags flags,
			   HeraldHttpAuth auth,
			   HeraldHttpHandler handler,
			   gpointer user_data)
{
	g_return_if_fail(HERALD_IS_HOST(self));
	herald_http_add_route(self->http, owner, methods, path, flags, auth, handler, user_data);
}

/**
 * herald_host_set_http_route_max_bytes:
 * @self: the host
 * @owner: the plugin that added the route
 * @path: the route's path, as given to herald_host_add_http_route()
 * @max_bytes: largest request body of this route; 0 = `[host] max-request-bytes`
 *
 * A tighter (or looser) body limit for one non-streaming route, enforced like
 * `[host] max-request-bytes`: a larger `Content-Length` is refused before the
 * body is read, a chunked body as soon as it passes the limit.
 *
 * Since: 0.2
 */
void
herald_host_set_http_route_max_bytes(HeraldHost *self,
				     HeraldPlugin *owner,
				     const gchar *path,
				     guint64 max_bytes)
{
	g_return_if_fail(HERALD_IS_HOST(self));
	herald_http_set_route_max_bytes(self->http, owner, path, max_bytes);
}

void
herald_host_remove_http_routes(HeraldHost *self, HeraldPlugin *owner)
{
	g_return_if_fail(HERALD_IS_HOST(self));
	herald_http_remove_routes(self->http, owner);
}

/* healthy: every plugin runs; degraded: some plugin degraded or failed;
 * unhealthy: every plugin failed, or stopping */
static void
herald_host_update_state(HeraldHost *self)
{
	GPtrArray *plugins = herald_plugin_list_get_all(self->plugins);
	HeraldHostState state = HERALD_HOST_STATE_HEALTHY;
	guint failed = 0;

	if (self->shutting_down) {
		state = HERALD_HOST_STATE_STOPPING;
	} else if (!self->started) {
		state = HERALD_HOST_STATE_STARTING;
	} else {
		for (guint i = 0; i < plugins->len; i++) {
			HeraldPluginState pstate = herald_plugin_get_state(g_ptr_array_index(plugins, i));
			if (pstate == HERALD_PLUGIN_STATE_FAILED)
				failed++;
			if (pstate == HERALD_PLUGIN_STATE_FAILED ||
			    pstate == HERALD_PLUGIN_STATE_DEGRADED)
				state = HERALD_HOST_STATE_DEGRADED;
		}
		if (plugins->len > 0 && failed == plugins->len)
			state = HERALD_HOST_STATE_UNHEALTHY;
	}
	if (state == self->state)
		return;
	g_info("state: %s", herald_host_state_to_string(state));
	self->state = state;
	g_signal_emit(self, signals[SIGNAL_STATE_CHANGED], 0);
}

static void
herald_host_plugin_state_changed_cb(HeraldPlugin *plugin, gpointer user_data)
{
	HeraldHost *self = HERALD_HOST(user_data);
	g_signal_emit(self, signals[SIGNAL_PLUGIN_STATE_CHANGED], 0, plugin);
	herald_host_update_state(self);
}

static GPtrArray *
herald_host_route_cb(HeraldEvent *event, gpointer user_data)
{
	HeraldHost *self = HERALD_HOST(user_data);
	return herald_router_route(self->router, event);
}

static void
herald_host_add_problem(GPtrArray *problems, const gchar *group, const gchar *key, const gchar *msg)
{
	HeraldConfigProblem *problem;

	/* a key already reported by validation is not reported again by a later check
	 * whose message embeds that one (auth repeats the secret-file error) */
	for (guint i = 0; i < problems->len; i++) {
		HeraldConfigProblem *other = g_ptr_array_index(problems, i);
		if (other->message != NULL && g_str_has_suffix(msg, other->message))
			return;
	}
	problem = g_new0(HeraldConfigProblem, 1);
	problem->group = g_strdup(group);
	problem->key = g_strdup(key);
	problem->message = g_strdup(msg);
	g_ptr_array_add(problems, problem);
}

static gchar *
herald_host_default_instance_id(void)
{
	return g_strdup_printf("%s-%08x", g_get_host_name(), g_random_int());
}

static const gchar *
herald_host_plugin_search_path(void)
{
	const gchar *env = g_getenv("HERALD_PLUGIN_DIR");
	return (env != NULL && env[0] != '\0') ? env : HERALD_PLUGIN_DIR;
}

static gboolean
herald_host_auth_configured(HeraldConfig *config)
{
	const gchar *keys[] = {"secret", "secret-file", "public-key-file"};
	for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
		const gchar *value = herald_config_get_string(config, "auth", keys[i]);
		if (value != NULL && value[0] != '\0')
			return TRUE;
	}
	return FALSE;
}

/* a config with every schema the host knows (plugins add theirs later) */
static HeraldConfig *
herald_host_new_config(void)
{
	HeraldConfig *config = herald_config_new();
	const HeraldConfigKey *keys;
	guint n_keys = 0;

	herald_config_add_schema(config, "host", host_keys, G_N_ELEMENTS(host_keys));
	keys = herald_auth_get_config_keys(&n_keys);
	herald_config_add_schema(config, "auth", keys, n_keys);
	keys = herald_router_get_config_keys(&n_keys);
	herald_config_add_group_prefix(config, "route ", keys, n_keys);
	for (guint i = 0; i < G_N_ELEMENTS(default_routes); i++) {
		const HeraldDefaultRoute *route = &default_routes[i];
		g_autofree gchar *group = g_strdup_printf("route %s", route->name);
		herald_config_set_default(config, group, "channels", route->channels);
		if (route->rooms != NULL)
			herald_config_set_default(config, group, "rooms", route->rooms);
		if (route->users != NULL)
			herald_config_set_default(config, group, "users", route->users);
		if (route->event != NULL)
			herald_config_set_default(config, group, "event", route->event);
		if (route->handler != NULL)
			herald_config_set_default(config, group, "handler", route->handler);
	}
	return config;
}

static gboolean
herald_host_load_files(HeraldHost *self, HeraldConfig *config, GError **error)
{
	if (self->config_file == NULL)
		return TRUE;
	return herald_config_load(config, self->config_file, self->dropin_dir, error);
}

/**
 * herald_host_set_strict:
 * @strict: whether a secret set inline in a file others can read is an error
 *
 * `heraldd --strict`: applies to herald_host_load() and every reload.
 */
void
herald_host_set_strict(HeraldHost *self, gboolean strict)
{
	g_return_if_fail(HERALD_IS_HOST(self));
	self->strict = strict;
}

/**
 * herald_host_load:
 * @config_file: (nullable): the main file; %NULL means the installed
 *   `herald.conf` if present, else the embedded defaults
 * @problems: (element-type HeraldConfigProblem): configuration problems
 * @plugin_problems: (element-type HeraldConfigProblem): plugins that cannot load
 *
 * Reads the configuration, loads the enabled plugins and validates every key.
 * Returns %FALSE only when a file cannot be read or parsed.
 */
gboolean
herald_host_load(HeraldHost *self,
		 const gchar *config_file,
		 GPtrArray *problems,
		 GPtrArray *plugin_problems,
		 GError **error)
{
	g_autoptr(GPtrArray) config_problems = NULL;
	g_auto(GStrv) names = NULL;
	g_autoptr(GError) error_local = NULL;
	GPtrArray *plugins;

	if (config_file != NULL) {
		self->config_file = g_strdup(config_file);
	} else {
		g_autofree gchar *fn = g_build_filename(HERALD_SYSCONFDIR, "herald.conf", NULL);
		if (g_file_test(fn, G_FILE_TEST_EXISTS))
			self->config_file = g_steal_pointer(&fn);
	}
	if (self->config_file != NULL) {
		g_autofree gchar *dir = g_path_get_dirname(self->config_file);
		self->dropin_dir = g_build_filename(dir, "herald.conf.d", NULL);
	}
	g_clear_object(&self->config);
	self->config = herald_host_new_config();
	herald_config_set_strict(self->config, self->strict);
	if (!herald_host_load_files(self, self->config, error))
		return FALSE;

	/* plugins declare their schema, so load them before validating */
	names = herald_config_get_strv(self->config, "host", "plugins");
	herald_plugin_list_load(self->plugins,
				G_OBJECT(self),
				names,
				herald_host_plugin_search_path(),
				plugin_problems);
	plugins = herald_plugin_list_get_all(self->plugins);
	for (guint i = 0; i < plugins->len; i++)
		herald_plugin_register_schema(g_ptr_array_index(plugins, i), self->config);
	/* load failures are about the plugins key: locate them there */
	for (guint i = 0; i < plugin_problems->len; i++) {
		HeraldConfigProblem *problem = g_ptr_array_index(plugin_problems, i);
		if (problem->file == NULL)
			problem->file =
			    g_strdup(herald_config_get_origin(self->config, "host", "plugins"));
	}
	config_problems = herald_config_validate(self->config);
	for (guint i = 0; i < config_problems->len; i++)
		g_ptr_array_add(problems, g_steal_pointer(&g_ptr_array_index(config_problems, i)));
	for (guint i = 0; i < plugins->len; i++)
		herald_plugin_runner_check_config(g_ptr_array_index(plugins, i), self->config, problems);

	/* auth and routes are checked here so --check-config sees their errors */
	if (!herald_host_check(self, problems))
		return TRUE;
	return TRUE;
}

/* auth keys, route templates and plugin ordering: beyond per-key validation */
gboolean
herald_host_check(HeraldHost *self, GPtrArray *problems)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldAuth) auth = NULL;
	g_autoptr(HeraldRouter) router = herald_router_new();
	gboolean ok = TRUE;

	/* listen addresses are parsed here, bound only at startup */
	{
		g_auto(GStrv) listen = herald_config_get_strv(self->config, "host", "listen");
		for (guint i = 0; listen != NULL && listen[i] != NULL; i++) {
			g_autoptr(GSocketAddress) saddr = herald_http_parse_address(listen[i], &error);
			if (saddr == NULL) {
				herald_host_add_problem(problems, "host", "listen", error->message);
				((HeraldConfigProblem *)g_ptr_array_index(problems, problems->len - 1))
				    ->file = g_strdup(herald_config_get_origin(self->config, "host", "listen"));
				g_clear_error(&error);
				ok = FALSE;
			}
		}
	}
	{
		g_auto(GStrv) proxies = herald_config_get_strv(self->config, "host", "trusted-proxies");
		for (guint i = 0; proxies != NULL && proxies[i] != NULL; i++) {
			g_autoptr(GInetAddressMask) mask =
			    herald_http_parse_trusted_proxy(proxies[i], &error);
			if (mask == NULL) {
				herald_host_add_problem(problems, "host", "trusted-proxies", error->message);
				((HeraldConfigProblem *)g_ptr_array_index(problems, problems->len - 1))
				    ->file = g_strdup(
				    herald_config_get_origin(self->config, "host", "trusted-proxies"));
				g_clear_error(&error);
				ok = FALSE;
			}
		}
	}
	/* located problems first: the same message from herald_auth_new() is dropped */
	if (!herald_auth_check_config(self->config, problems))
		ok = FALSE;
	auth = herald_auth_new(self->config, &error);
	if (auth == NULL && !herald_host_auth_configured(self->config)) {
		/* the embedded defaults run without keys: nobody can authenticate */
		herald_host_add_problem(problems, "auth", NULL, error->message);
		((HeraldConfigProblem *)g_ptr_array_index(problems, problems->len - 1))->warning =
		    TRUE;
		g_clear_error(&error);
	} else if (auth == NULL) {
		herald_host_add_problem(problems, "auth", NULL, error->message);
		g_clear_error(&error);
		ok = FALSE;
	}
	if (!herald_router_load(router, self->config, &error)) {
		herald_host_add_problem(problems, "route", NULL, error->message);
		g_clear_error(&error);
		ok = FALSE;
	}
	return ok;
}

static void
herald_host_health_cb(SoupServerMessage *msg,
		      const gchar *subpath,
		      HeraldIdentity *identity,
		      gpointer user_data)
{
	HeraldHost *self = HERALD_HOST(user_data);
	GPtrArray *plugins = herald_plugin_list_get_all(self->plugins);
	g_autoptr(JsonBuilder) builder = json_builder_new();
	const gchar *status = "healthy";

	if (self->state == HERALD_HOST_STATE_DEGRADED)
		status = "degraded";
	else if (self->state == HERALD_HOST_STATE_UNHEALTHY ||
		 self->state == HERALD_HOST_STATE_STOPPING)
		status = "unhealthy";
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "status");
	json_builder_add_string_value(builder, status);
	json_builder_set_member_name(builder, "connections");
	json_builder_add_int_value(builder, herald_host_get_connections(self));
	json_builder_set_member_name(builder, "pending");
	json_builder_add_int_value(builder, herald_bus_count_pending(self->bus));
	json_builder_set_member_name(builder, "uptime");
	json_builder_add_int_value(builder, (gint64)herald_host_get_uptime(self));
	json_builder_set_member_name(builder, "version");
	json_builder_add_string_value(builder, PACKAGE_VERSION);
	json_builder_set_member_name(builder, "instance_id");
	json_builder_add_string_value(builder, self->instance_id);
	json_builder_set_member_name(builder, "plugins");
	json_builder_begin_object(builder);
	for (guint i = 0; i < plugins->len; i++) {
		HeraldPlugin *plugin = g_ptr_array_index(plugins, i);
		json_builder_set_member_name(builder, herald_plugin_get_name(plugin));
		json_builder_add_string_value(
		    builder,
		    herald_plugin_state_to_string(herald_plugin_get_state(plugin)));
	}
	json_builder_end_object(builder);
	json_builder_set_member_name(builder, "errors");
	json_builder_begin_object(builder);
	for (guint i = 0; i < plugins->len; i++) {
		HeraldPlugin *plugin = g_ptr_array_index(plugins, i);
		if (herald_plugin_get_state_reason(plugin) == NULL)
			continue;
		json_builder_set_member_name(builder, herald_plugin_get_name(plugin));
		json_builder_add_string_value(builder, herald_plugin_get_state_reason(plugin));
	}
	json_builder_end_object(builder);
	json_builder_end_object(builder);
	herald_http_reply_builder(msg, g_strcmp0(status, "unhealthy") == 0 ? 503 : 200, builder);
}

GVariant *
herald_host_get_stats(HeraldHost *self)
{
	GPtrArray *plugins = herald_plugin_list_get_all(self->plugins);
	g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT(NULL);
	g_auto(GVariantDict) dict_plugins = G_VARIANT_DICT_INIT(NULL);
	HeraldBusStats bus_stats = {0};

	herald_bus_get_stats(self->bus, &bus_stats);
	g_variant_dict_insert(&dict, "uptime", "t", herald_host_get_uptime(self));
	g_variant_dict_insert(&dict, "connections", "u", herald_host_get_connections(self));
	g_variant_dict_insert(&dict, "events_published_total", "t", bus_stats.published);
	g_variant_dict_insert(&dict, "events_local_total", "t", bus_stats.published_local);
	g_variant_dict_insert(&dict, "events_unrouted_total", "t", bus_stats.unrouted);
	g_variant_dict_insert(&dict, "deliveries_total", "t", bus_stats.deliveries);
	g_variant_dict_insert(&dict, "deliveries_reached_total", "t", bus_stats.reached);
	g_variant_dict_insert(&dict, "deliveries_unreached_total", "t", bus_stats.unreached);
	g_variant_dict_insert(&dict,
			      "route_missing_fields_total",
			      "t",
			      herald_router_get_missing_fields(self->router));
	g_variant_dict_insert(&dict,
			      "route_invalid_user_total",
			      "t",
			      herald_router_get_invalid_users(self->router) +
				  self->events_api_invalid_user_total);
	g_variant_dict_insert(&dict, "events_api_total", "t", self->events_api_total);
	g_variant_dict_insert(&dict, "json_too_deep_total", "t", herald_json_get_rejected_total());
	herald_http_add_stats(self->http, &dict);
	for (guint i = 0; i < plugins->len; i++) {
		HeraldPlugin *plugin = g_ptr_array_index(plugins, i);
		g_variant_dict_insert_value(&dict_plugins,
					    herald_plugin_get_name(plugin),
					    herald_plugin_runner_get_stats(plugin));
	}
	g_variant_dict_insert_value(&dict, "plugins", g_variant_dict_end(&dict_plugins));
	return g_variant_dict_end(&dict);
}

static void
herald_host_stats_cb(SoupServerMessage *msg,
		     const gchar *subpath,
		     HeraldIdentity *identity,
		     gpointer user_data)
{
	HeraldHost *self = HERALD_HOST(user_data);
	g_autoptr(GVariant) stats = g_variant_ref_sink(herald_host_get_stats(self));
	g_autoptr(JsonNode) node = json_gvariant_serialize(stats);
	JsonObject *root = json_node_get_object(node);
	JsonObject *plugins = json_object_get_object_member(root, "plugins");
	g_autoptr(GList) names = json_object_get_members(plugins);

	/* plugin keys are also promoted to the top level (the seed's /stats keys,
	 * such as connected_users, live in ws-rooms) */
	for (GList *l = names; l != NULL; l = l->next) {
		JsonObject *plugin = json_object_get_object_member(plugins, l->data);
		g_autoptr(GList) keys = NULL;
		if (plugin == NULL)
			continue;
		keys = json_object_get_members(plugin);
		for (GList *k = keys; k != NULL; k = k->next) {
			if (json_object_has_member(root, k->data))
				continue;
			json_object_set_member(root,
					       k->data,
					       json_node_copy(json_object_get_member(plugin, k->data)));
		}
	}
	herald_http_reply_json(msg, 200, node);
}

static gchar *
herald_host_metric_name(const gchar *prefix, const gchar *key)
{
	GString *str = g_string_new("herald_");
	if (prefix != NULL) {
		g_string_append(str, prefix);
		g_string_append_c(str, '_');
	}
	g_string_append(str, key);
	for (gsize i = 0; i < str->len; i++) {
		if (!g_ascii_isalnum(str->str[i]) && str->str[i] != '_')
			str->str[i] = '_';
	}
	return g_string_free(str, FALSE);
}

static gboolean
herald_host_variant_to_double(GVariant *value, gdouble *out)
{
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT64))
		*out = (gdouble)g_variant_get_uint64(value);
	else if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT32))
		*out = g_variant_get_uint32(value);
	else if (g_variant_is_of_type(value, G_VARIANT_TYPE_INT64))
		*out = (gdouble)g_variant_get_int64(value);
	else if (g_variant_is_of_type(value, G_VARIANT_TYPE_INT32))
		*out = g_variant_get_int32(value);
	else if (g_variant_is_of_type(value, G_VARIANT_TYPE_DOUBLE))
		*out = g_variant_get_double(value);
	else if (g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN))
		*out = g_variant_get_boolean(value) ? 1 : 0;
	else
		return FALSE;
	return TRUE;
}

static void
herald_host_metrics_append(GString *out, const gchar *prefix, GVariant *dict)
{
	GVariantIter iter;
	const gchar *key;
	GVariant *value;

	g_variant_iter_init(&iter, dict);
	while (g_variant_iter_loop(&iter, "{&sv}", &key, &value)) {
		g_autofree gchar *name = herald_host_metric_name(prefix, key);
		const gchar *type = g_str_has_suffix(key, "_total") ? "counter" : "gauge";
		gdouble number = 0;
		if (g_strcmp0(key, "plugins") == 0 && prefix == NULL)
			continue;
		if (g_variant_is_of_type(value, G_VARIANT_TYPE_VARDICT)) {
			GVariantIter iter2;
			const gchar *label;
			GVariant *value2;
			g_string_append_printf(out, "# TYPE %s %s\n", name, type);
			g_variant_iter_init(&iter2, value);
			while (g_variant_iter_loop(&iter2, "{&sv}", &label, &value2)) {
				g_autofree gchar *escaped = g_strescape(label, NULL);
				if (!herald_host_variant_to_double(value2, &number))
					continue;
				g_string_append_printf(out,
						       "%s{key=\"%s\"} %.17g\n",
						       name,
						       escaped,
						       number);
			}
			continue;
		}
		if (!herald_host_variant_to_double(value, &number))
			continue;
		g_string_append_printf(out, "# TYPE %s %s\n%s %.17g\n", name, type, name, number);
	}
}

static void
herald_host_metrics_cb(SoupServerMessage *msg,
		       const gchar *subpath,
		       HeraldIdentity *identity,
		       gpointer user_data)
{
	HeraldHost *self = HERALD_HOST(user_data);
	GPtrArray *plugins = herald_plugin_list_get_all(self->plugins);
	g_autoptr(GVariant) stats = g_variant_ref_sink(herald_host_get_stats(self));
	g_autoptr(GVariant) plugin_stats = g_variant_lookup_value(stats, "plugins", NULL);
	GString *out = g_string_new(NULL);
	gsize len;

	g_string_append_printf(out,
			       "# TYPE herald_info gauge\nherald_info{version=\"%s\"} 1\n",
			       PACKAGE_VERSION);
	g_string_append_printf(out, "# TYPE herald_state gauge\nherald_state %u\n", self->state);
	herald_host_metrics_append(out, NULL, stats);
	g_string_append(out, "# TYPE herald_plugin_state gauge\n");
	for (guint i = 0; i < plugins->len; i++) {
		HeraldPlugin *plugin = g_ptr_array_index(plugins, i);
		g_string_append_printf(
		    out,
		    "herald_plugin_state{plugin=\"%s\",state=\"%s\"} %u\n",
		    herald_plugin_get_name(plugin),
		    herald_plugin_state_to_string(herald_plugin_get_state(plugin)),
		    (guint)herald_plugin_get_state(plugin));
	}
	for (guint i = 0; plugin_stats != NULL && i < plugins->len; i++) {
		const gchar *name = herald_plugin_get_name(g_ptr_array_index(plugins, i));
		g_autoptr(GVariant) dict = g_variant_lookup_value(plugin_stats, name, NULL);
		if (dict != NULL)
			herald_host_metrics_append(out, name, dict);
	}
	len = out->len;
	soup_server_message_set_status(msg, 200, NULL);
	soup_server_message_set_response(msg,
					 "text/plain; version=0.0.4; charset=utf-8",
					 SOUP_MEMORY_TAKE,
					 g_string_free(out, FALSE),
					 len);
}

static gboolean
herald_host_channel_is_valid(const gchar *channel)
{
	gsize len = strlen(channel);
	if (len == 0 || len > HERALD_MAX_CHANNEL_BYTES || !g_utf8_validate(channel, -1, NULL))
		return FALSE;
	for (const gchar *p = channel; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == 0x7f || *p == ' ' || *p == '*' || *p == '?' ||
		    *p == '[')
			return FALSE;
	}
	return TRUE;
}

/* POST /api/events {"channel","payload"}: same routing as a Redis publish */
static void
herald_host_events_cb(SoupServerMessage *msg,
		      const gchar *subpath,
		      HeraldIdentity *identity,
		      gpointer user_data)
{
	HeraldHost *self = HERALD_HOST(user_data);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) root = herald_http_parse_json_body(msg, &error);
	g_autoptr(HeraldEvent) event = NULL;
	g_autoptr(JsonBuilder) builder = json_builder_new();
	JsonObject *obj;
	JsonNode *channel_node;
	JsonNode *payload;
	const gchar *channel;
	guint reached;

	if (root == NULL) {
		herald_http_reply_error(msg, error);
		return;
	}
	obj = json_node_get_object(root);
	channel_node = json_object_get_member(obj, "channel");
	if (channel_node == NULL || json_node_get_value_type(channel_node) != G_TYPE_STRING) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_INVALID_ARGUMENT,
						/* TRANSLATORS: HTTP 400 */
						_("'channel' must be a string"));
		return;
	}
	channel = json_node_get_string(channel_node);
	if (!herald_host_channel_is_valid(channel)) {
		herald_http_reply_error_literal(
		    msg,
		    HERALD_ERROR_INVALID_ARGUMENT,
		    /* TRANSLATORS: HTTP 400 */
		    _("'channel' must be 1 to 256 printable characters without spaces or wildcards"));
		return;
	}
	payload = json_object_get_member(obj, "payload");
	if (payload == NULL) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_INVALID_ARGUMENT,
						/* TRANSLATORS: HTTP 400 */
						_("'payload' is missing"));
		return;
	}
	if (!herald_router_has_match(self->router, channel)) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_NOT_FOUND,
						/* TRANSLATORS: HTTP 404 */
						_("no route matches this channel"));
		return;
	}
	/* a userId that names no user would be dropped by routing: say so */
	{
		g_autofree gchar *target_user = NULL;
		if (!herald_route_get_target_user(payload, &target_user, &error)) {
			self->events_api_invalid_user_total++;
			herald_http_reply_error(msg, error);
			return;
		}
	}
	event = herald_event_new(NULL, channel, payload, self->instance_id);
	reached = herald_bus_publish(self->bus, event);
	self->events_api_total++;
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "id");
	json_builder_add_string_value(builder, herald_event_get_id(event));
	json_builder_set_member_name(builder, "delivered");
	json_builder_add_int_value(builder, reached);
	json_builder_end_object(builder);
	herald_http_reply_builder(msg, 202, builder);
}

/* GET /: what this service is and what it serves (like the seed services'
 * service-information document) */
static void
herald_host_info_cb(SoupServerMessage *msg,
		    const gchar *subpath,
		    HeraldIdentity *identity,
		    gpointer user_data)
{
	HeraldHost *self = HERALD_HOST(user_data);
	g_autoptr(JsonBuilder) builder = json_builder_new();

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "name");
	json_builder_add_string_value(builder, PACKAGE_NAME);
	json_builder_set_member_name(builder, "version");
	json_builder_add_string_value(builder, PACKAGE_VERSION);
	json_builder_set_member_name(builder, "status");
	json_builder_add_string_value(builder,
				      self->state == HERALD_HOST_STATE_STOPPING ? "stopping"
										: "running");
	json_builder_set_member_name(builder, "endpoints");
	herald_http_add_routes_json(self->http, builder);
	json_builder_end_object(builder);
	herald_http_reply_builder(msg, SOUP_STATUS_OK, builder);
}

static void
herald_host_setup_routes(HeraldHost *self)
{
	herald_http_add_route(self->http,
			      self,
			      "GET",
			      "/",
			      HERALD_HTTP_ROUTE_NONE,
			      HERALD_HTTP_AUTH_NONE,
			      herald_host_info_cb,
			      self);
	herald_http_add_route(self->http,
			      self,
			      "GET",
			      "/health",
			      HERALD_HTTP_ROUTE_NONE,
			      HERALD_HTTP_AUTH_NONE,
			      herald_host_health_cb,
			      self);
	herald_http_add_route(self->http,
			      self,
			      "GET",
			      "/stats",
			      HERALD_HTTP_ROUTE_NONE,
			      HERALD_HTTP_AUTH_LOCAL_OR_ADMIN,
			      herald_host_stats_cb,
			      self);
	herald_http_add_route(self->http,
			      self,
			      "GET",
			      "/metrics",
			      HERALD_HTTP_ROUTE_NONE,
			      HERALD_HTTP_AUTH_LOCAL_OR_ADMIN,
			      herald_host_metrics_cb,
			      self);
	herald_http_add_route(self->http,
			      self,
			      "POST",
			      "/api/events",
			      HERALD_HTTP_ROUTE_NONE,
			      HERALD_HTTP_AUTH_SERVICE,
			      herald_host_events_cb,
			      self);
}

static void
herald_host_apply_live_config(HeraldHost *self)
{
	herald_http_set_max_request_bytes(
	    self->http,
	    herald_config_get_uint64(self->config, "host", "max-request-bytes"));
	herald_json_set_max_depth(
	    (guint)herald_config_get_uint64(self->config, "host", "max-json-depth"));
	herald_http_set_timeouts(
	    self->http,
	    herald_config_get_uint64(self->config, "host", "header-timeout-ms"),
	    herald_config_get_uint64(self->config, "host", "body-idle-timeout-ms"),
	    herald_config_get_uint64(self->config, "host", "body-timeout-ms"),
	    herald_config_get_uint64(self->config, "host", "upload-idle-timeout-ms"),
	    herald_config_get_uint64(self->config, "host", "upload-timeout-ms"));
	{
		g_auto(GStrv) proxies = herald_config_get_strv(self->config, "host", "trusted-proxies");
		herald_http_set_trusted_proxies(self->http, proxies);
	}
}

gboolean
herald_host_startup(HeraldHost *self, GError **error)
{
	GPtrArray *plugins = herald_plugin_list_get_all(self->plugins);
	g_auto(GStrv) listen = NULL;
	g_autoptr(GError) error_auth = NULL;
	const gchar *instance_id = herald_config_get_string(self->config, "host", "instance-id");
	const gchar *dbus = herald_config_get_string(self->config, "host", "dbus");

	self->instance_id = (instance_id != NULL && instance_id[0] != '\0')
				? g_strdup(instance_id)
				: herald_host_default_instance_id();
	self->state_dir = g_strdup(herald_config_get_string(self->config, "host", "state-dir"));
	self->bus = herald_bus_new(self->instance_id);
	herald_bus_set_router(self->bus, herald_host_route_cb, self);

	/* a config without keys still runs: the authenticated routes answer 503 */
	self->auth = herald_auth_new(self->config, &error_auth);
	if (self->auth == NULL)
		g_warning("authentication disabled: %s", error_auth->message);
	if (!herald_router_load(self->router, self->config, error))
		return FALSE;
	herald_http_set_auth(self->http, self->auth);
	herald_host_apply_live_config(self);
	herald_host_setup_routes(self);

	listen = herald_config_get_strv(self->config, "host", "listen");
	if (!herald_http_listen(self->http, listen, error))
		return FALSE;

	herald_plugin_list_depsolve(self->plugins, NULL);
	for (guint i = 0; i < plugins->len; i++) {
		HeraldPlugin *plugin = g_ptr_array_index(plugins, i);
		g_autoptr(GError) error_local = NULL;
		g_signal_connect(plugin,
				 "state-changed",
				 G_CALLBACK(herald_host_plugin_state_changed_cb),
				 self);
		if (!herald_plugin_runner_startup(plugin, &error_local)) {
			g_warning("%s", error_local->message);
			herald_http_remove_routes(self->http, plugin);
		}
	}
	self->started = TRUE;
	for (guint i = 0; i < plugins->len; i++)
		herald_plugin_runner_ready(g_ptr_array_index(plugins, i));
	herald_host_update_state(self);

	if (g_strcmp0(dbus, "none") != 0) {
		self->dbus = herald_dbus_new(self);
		herald_dbus_start(self->dbus,
				  g_strcmp0(dbus, "session") == 0 ? G_BUS_TYPE_SESSION
								  : G_BUS_TYPE_SYSTEM);
	}
	g_message("herald %s started as %s with %u plugins",
		  PACKAGE_VERSION,
		  self->instance_id,
		  plugins->len);
	return TRUE;
}

/* shutdown: plugins stop in reverse start order, one after the other, all
 * bounded by [host] shutdown-timeout-s */
typedef struct {
	HeraldHost *host;
	guint idx;
	guint timeout_id;
	GCancellable *cancellable;
	gboolean done;
} HeraldHostShutdownHelper;

static void
herald_host_shutdown_helper_free(HeraldHostShutdownHelper *helper)
{
	g_clear_handle_id(&helper->timeout_id, g_source_remove);
	g_object_unref(helper->cancellable);
	g_object_unref(helper->host);
	g_free(helper);
}

static void
herald_host_shutdown_next(GTask *task);

static void
herald_host_shutdown_plugin_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	HeraldHostShutdownHelper *helper = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;

	/* the timeout already gave up on this plugin */
	if (helper->done)
		return;
	if (!herald_plugin_runner_shutdown_finish(HERALD_PLUGIN(source), res, &error))
		g_warning("plugin %s: shutdown: %s",
			  herald_plugin_get_name(HERALD_PLUGIN(source)),
			  error->message);
	herald_http_remove_routes(helper->host->http, source);
	helper->idx--;
	herald_host_shutdown_next(task);
}

static void
herald_host_shutdown_done(GTask *task)
{
	HeraldHostShutdownHelper *helper = g_task_get_task_data(task);
	HeraldHost *self = helper->host;
	helper->done = TRUE;
	g_clear_handle_id(&helper->timeout_id, g_source_remove);
	herald_http_disconnect(self->http);
	if (self->dbus != NULL)
		herald_dbus_stop(self->dbus);
	g_task_return_boolean(task, TRUE);
	g_object_unref(task);
}

static void
herald_host_shutdown_next(GTask *task)
{
	HeraldHostShutdownHelper *helper = g_task_get_task_data(task);
	GPtrArray *plugins = herald_plugin_list_get_all(helper->host->plugins);
	if (helper->idx == 0) {
		herald_host_shutdown_done(task);
		return;
	}
	herald_plugin_runner_shutdown_async(g_ptr_array_index(plugins, helper->idx - 1),
					    helper->cancellable,
					    herald_host_shutdown_plugin_cb,
					    g_object_ref(task));
}

/* a plugin that does not stop in time must not keep the daemon alive */
static gboolean
herald_host_shutdown_timeout_cb(gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	HeraldHostShutdownHelper *helper = g_task_get_task_data(task);
	GPtrArray *plugins = herald_plugin_list_get_all(helper->host->plugins);
	if (helper->idx > 0) {
		HeraldPlugin *plugin = g_ptr_array_index(plugins, helper->idx - 1);
		g_warning("plugin %s did not stop within the shutdown timeout; exiting anyway",
			  herald_plugin_get_name(plugin));
	}
	helper->timeout_id = 0;
	g_cancellable_cancel(helper->cancellable);
	herald_host_shutdown_done(task);
	return G_SOURCE_REMOVE;
}

void
herald_host_shutdown_async(HeraldHost *self,
			   GCancellable *cancellable,
			   GAsyncReadyCallback callback,
			   gpointer user_data)
{
	GTask *task = g_task_new(self, cancellable, callback, user_data);
	HeraldHostShutdownHelper *helper = g_new0(HeraldHostShutdownHelper, 1);
	GPtrArray *plugins = herald_plugin_list_get_all(self->plugins);

	helper->host = g_object_ref(self);
	helper->idx = plugins->len;
	helper->cancellable = g_cancellable_new();
	helper->timeout_id =
	    g_timeout_add_seconds((guint)herald_config_get_uint64(self->config,
								  "host",
								  "shutdown-timeout-s"),
				  herald_host_shutdown_timeout_cb,
				  task);
	g_task_set_task_data(task, helper, (GDestroyNotify)herald_host_shutdown_helper_free);
	g_message("shutting down");
	self->shutting_down = TRUE;
	herald_http_set_shutting_down(self->http, TRUE);
	herald_host_update_state(self);
	if (!self->started)
		helper->idx = 0;
	herald_host_shutdown_next(task);
}

gboolean
herald_host_shutdown_finish(HeraldHost *self, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

/**
 * herald_host_reload:
 * @needs_restart: (out) (transfer full): `group:key` of changed keys that need a restart
 *
 * Re-reads the files. An invalid configuration is refused and the old one stays.
 */
gboolean
herald_host_reload(HeraldHost *self, gchar ***needs_restart, GError **error)
{
	g_autoptr(HeraldConfig) config = herald_host_new_config();
	g_autoptr(GPtrArray) problems = NULL;
	g_autoptr(GPtrArray) changed = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autoptr(HeraldAuth) auth = NULL;
	g_autoptr(HeraldRouter) router = herald_router_new();
	g_autoptr(GString) summary = g_string_new(NULL);
	GPtrArray *plugins = herald_plugin_list_get_all(self->plugins);
	gboolean ok = TRUE;

	herald_config_set_strict(config, self->strict);
	if (!herald_host_load_files(self, config, &error_local)) {
		g_propagate_prefixed_error(error,
					   g_steal_pointer(&error_local),
					   "%s",
					   /* TRANSLATORS: reload refused */
					   _("configuration not reloaded: "));
		return FALSE;
	}
	for (guint i = 0; i < plugins->len; i++)
		herald_plugin_register_schema(g_ptr_array_index(plugins, i), config);
	problems = herald_config_validate(config);
	for (guint i = 0; i < plugins->len; i++)
		herald_plugin_runner_check_config(g_ptr_array_index(plugins, i), config, problems);
	for (guint i = 0; i < problems->len; i++) {
		HeraldConfigProblem *problem = g_ptr_array_index(problems, i);
		g_autofree gchar *str = herald_config_problem_to_string(problem);
		if (problem->warning)
			continue;
		g_string_append_printf(summary, "%s%s", summary->len > 0 ? "; " : "", str);
	}
	if (summary->len > 0) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: reload refused; %s lists the problems */
			    _("configuration not reloaded: %s"),
			    summary->str);
		return FALSE;
	}
	{
		g_auto(GStrv) proxies = herald_config_get_strv(config, "host", "trusted-proxies");
		for (guint i = 0; proxies != NULL && proxies[i] != NULL; i++) {
			g_autoptr(GInetAddressMask) mask =
			    herald_http_parse_trusted_proxy(proxies[i], &error_local);
			if (mask == NULL) {
				g_set_error(error,
					    HERALD_ERROR,
					    HERALD_ERROR_CONFIG,
					    /* TRANSLATORS: reload refused; %s is the reason */
					    _("configuration not reloaded: %s"),
					    error_local->message);
				return FALSE;
			}
		}
	}
	auth = herald_auth_new(config, &error_local);
	if (auth == NULL && herald_host_auth_configured(config)) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: reload refused; %s is the reason */
			    _("configuration not reloaded: %s"),
			    error_local->message);
		return FALSE;
	}
	if (!herald_router_load(router, config, &error_local)) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: reload refused; %s is the reason */
			    _("configuration not reloaded: %s"),
			    error_local->message);
		return FALSE;
	}

	/* accepted: swap, then let plugins pick up their new values */
	changed = herald_config_diff_restart(self->config, config);
	for (guint i = 0; i < changed->len; i++)
		g_warning("reload: %s changed but needs a restart to take effect",
			  (const gchar *)g_ptr_array_index(changed, i));
	g_set_object(&self->config, config);
	g_set_object(&self->auth, auth);
	g_set_object(&self->router, router);
	herald_http_set_auth(self->http, self->auth);
	herald_host_apply_live_config(self);
	for (guint i = 0; i < plugins->len; i++) {
		g_autoptr(GError) error_plugin = NULL;
		if (!herald_plugin_runner_reload(g_ptr_array_index(plugins, i), &error_plugin)) {
			g_warning("reload: %s", error_plugin->message);
			ok = FALSE;
			if (error != NULL && *error == NULL)
				g_propagate_error(error, g_steal_pointer(&error_plugin));
		}
	}
	g_message("configuration reloaded");
	if (needs_restart != NULL) {
		g_ptr_array_add(changed, NULL);
		*needs_restart = (gchar **)g_ptr_array_free(g_steal_pointer(&changed), FALSE);
	}
	return ok;
}

static const gchar *
herald_host_type_hint(const HeraldConfigKey *key)
{
	switch (key->type) {
	case HERALD_CONFIG_BOOLEAN:
		return "true or false";
	case HERALD_CONFIG_LIST:
		return "list separated by ';'";
	case HERALD_CONFIG_SECRET:
		return "secret; prefer the -file twin";
	default:
		return NULL;
	}
}

static void
herald_host_dump_keys(GString *out, const HeraldConfigKey *keys, guint n_keys)
{
	for (guint i = 0; i < n_keys; i++) {
		const HeraldConfigKey *key = &keys[i];
		const gchar *hint = herald_host_type_hint(key);
		g_string_append_printf(out, "# %s", key->description != NULL ? key->description : "");
		if (key->type == HERALD_CONFIG_UINT)
			g_string_append_printf(out,
					       " (%" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT ")",
					       key->min,
					       key->max);
		else if (key->type == HERALD_CONFIG_ENUM)
			g_string_append_printf(out, " (one of: %s)", key->choices);
		else if (hint != NULL)
			g_string_append_printf(out, " (%s)", hint);
		if (key->flags & HERALD_CONFIG_FLAG_RESTART)
			g_string_append(out, " [restart]");
		g_string_append_c(out, '\n');
		g_string_append_printf(out,
				       "#%s=%s\n",
				       key->key,
				       key->default_value != NULL ? key->default_value : "");
		if (key->type == HERALD_CONFIG_SECRET)
			g_string_append_printf(out, "#%s-file=\n", key->key);
	}
}

/**
 * herald_host_dump_config:
 * @plugin_names: plugins whose sections to include
 *
 * The annotated configuration file with every key commented out at its default:
 * the source of `data/herald.conf` and of herald.conf(5), so the three never drift.
 */
gchar *
herald_host_dump_config(gchar **plugin_names)
{
	GString *out = g_string_new(NULL);
	g_autoptr(HeraldPluginList) list = herald_plugin_list_new();
	const HeraldConfigKey *keys;
	guint n_keys = 0;
	GPtrArray *plugins;

	g_string_append(out,
			"# Herald configuration: /etc/herald/herald.conf (see herald.conf(5)).\n"
			"# Generated by 'heraldd --dump-config': every key is shown commented out\n"
			"# at its built-in default. Files in herald.conf.d/*.conf are read after\n"
			"# this one in lexical order (later keys win), then the environment:\n"
			"# HERALD_<GROUP>_<KEY> (upper case, '-' and '.' as '_').\n"
			"# Lists are separated by ';'. Secrets have a *-file twin; never put\n"
			"# them inline in a world-readable file.\n\n");
	g_string_append(out, "[host]\n");
	herald_host_dump_keys(out, host_keys, G_N_ELEMENTS(host_keys));
	g_string_append(out, "\n[auth]\n");
	keys = herald_auth_get_config_keys(&n_keys);
	herald_host_dump_keys(out, keys, n_keys);

	g_string_append(out,
			"\n# Routes turn a channel (Redis, POST /api/events, plugins) into\n"
			"# targets. A payload's userId (or user_id) narrows every route to that\n"
			"# user's connections in the targets; a userId that is not a string or an\n"
			"# integer, longer than 128 bytes or with control characters drops the\n"
			"# event (route_invalid_user_total). Built in, and overridable key by\n"
			"# key:\n");
	for (guint i = 0; i < G_N_ELEMENTS(default_routes); i++) {
		const HeraldDefaultRoute *route = &default_routes[i];
		g_string_append_printf(out, "#[route %s]\n#channels=%s\n", route->name, route->channels);
		if (route->rooms != NULL)
			g_string_append_printf(out, "#rooms=%s\n", route->rooms);
		if (route->users != NULL)
			g_string_append_printf(out, "#users=%s\n", route->users);
		if (route->event != NULL)
			g_string_append_printf(out, "#event=%s\n", route->event);
		if (route->handler != NULL)
			g_string_append_printf(out, "#handler=%s\n", route->handler);
	}
	g_string_append(out, "# Keys of a [route NAME] group:\n#[route NAME]\n");
	keys = herald_router_get_config_keys(&n_keys);
	herald_host_dump_keys(out, keys, n_keys);

	herald_plugin_list_load(list, NULL, plugin_names, herald_host_plugin_search_path(), NULL);
	plugins = herald_plugin_list_get_all(list);
	for (guint i = 0; i < plugins->len; i++) {
		HeraldPlugin *plugin = g_ptr_array_index(plugins, i);
		GPtrArray *schema = herald_plugin_get_config_schema(plugin);
		if (herald_plugin_get_state(plugin) == HERALD_PLUGIN_STATE_FAILED)
			continue;
		g_string_append_printf(out, "\n[%s]\n", herald_plugin_get_name(plugin));
		for (guint j = 0; j < schema->len; j++) {
			HeraldPluginSchema *entry = g_ptr_array_index(schema, j);
			if (!entry->free_group)
				herald_host_dump_keys(out, entry->keys, entry->n_keys);
		}
		for (guint j = 0; j < schema->len; j++) {
			HeraldPluginSchema *entry = g_ptr_array_index(schema, j);
			if (entry->free_group)
				g_string_append_printf(out,
						       "\n# %s\n#[%s.%s]\n",
						       entry->description != NULL ? entry->description : "",
						       herald_plugin_get_name(plugin),
						       entry->group);
		}
	}
	return g_string_free(out, FALSE);
}

/* roff text: backslashes and hyphens escaped, no control character at a line start */
static void
herald_host_man_append(GString *out, const gchar *text)
{
	if (text == NULL)
		return;
	if (text[0] == '.' || text[0] == '\'')
		g_string_append(out, "\\&");
	for (const gchar *p = text; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (c == '\\')
			g_string_append(out, "\\e");
		else if (c == '-')
			g_string_append(out, "\\-");
		else if (c == '\n')
			g_string_append_c(out, ' ');
		else if (c >= 0x80)
			/* roff input is ASCII: \[uXXXX] names any other character */
			g_string_append_printf(out, "\\[u%04X]", c);
		else
			g_string_append_c(out, (gchar)c);
	}
}

/* a description as a sentence: capital first letter, one final period */
static void
herald_host_man_sentence(GString *out, const gchar *text)
{
	g_autofree gchar *copy = g_strdup(text != NULL ? text : "");
	if (copy[0] != '\0')
		copy[0] = g_ascii_toupper(copy[0]);
	herald_host_man_append(out, copy);
	if (copy[0] != '\0' && !g_str_has_suffix(copy, "."))
		g_string_append_c(out, '.');
	g_string_append_c(out, '\n');
}

static void
herald_host_man_keys(GString *out, const HeraldConfigKey *keys, guint n_keys)
{
	for (guint i = 0; i < n_keys; i++) {
		const HeraldConfigKey *key = &keys[i];
		g_string_append(out, ".TP\n\\fB");
		herald_host_man_append(out, key->key);
		g_string_append(out, "=\\fP");
		if (key->default_value != NULL && key->default_value[0] != '\0') {
			g_string_append(out, "\\fI");
			herald_host_man_append(out, key->default_value);
			g_string_append(out, "\\fP");
		} else {
			g_string_append(out, " (default: empty)");
		}
		g_string_append_c(out, '\n');
		herald_host_man_sentence(out, key->description);
		switch (key->type) {
		case HERALD_CONFIG_UINT:
			g_string_append_printf(out,
					       "An integer from %" G_GUINT64_FORMAT
					       " to %" G_GUINT64_FORMAT ".\n",
					       key->min,
					       key->max);
			break;
		case HERALD_CONFIG_ENUM: {
			g_auto(GStrv) choices = g_strsplit(key->choices, ";", -1);
			g_string_append(out, "One of:");
			for (guint j = 0; choices[j] != NULL; j++) {
				g_string_append(out, j == 0 ? " \\fB" : ", \\fB");
				herald_host_man_append(out, choices[j]);
				g_string_append(out, "\\fP");
			}
			g_string_append(out, ".\n");
			break;
		}
		case HERALD_CONFIG_BOOLEAN:
			g_string_append(out, "\\fBtrue\\fP or \\fBfalse\\fP.\n");
			break;
		case HERALD_CONFIG_LIST:
			if (key->max > 0)
				g_string_append_printf(out,
						       "A list separated by \\(oq;\\(cq, at most "
						       "%" G_GUINT64_FORMAT " items.\n",
						       key->max);
			else
				g_string_append(out, "A list separated by \\(oq;\\(cq.\n");
			break;
		case HERALD_CONFIG_SECRET:
			g_string_append(out, "A secret: prefer \\fB");
			herald_host_man_append(out, key->key);
			g_string_append(out,
					"\\-file=\\fP\\fIPATH\\fP, which reads it from a file.\n");
			break;
		default:
			break;
		}
		if (key->flags & HERALD_CONFIG_FLAG_NOT_EMPTY)
			g_string_append(out, "It must not be empty.\n");
		if (key->flags & HERALD_CONFIG_FLAG_RESTART)
			g_string_append(out, "A change takes effect only after a restart.\n");
		if (key->type == HERALD_CONFIG_SECRET) {
			g_string_append(out, ".TP\n\\fB");
			herald_host_man_append(out, key->key);
			g_string_append(out,
					"\\-file=\\fP (default: empty)\n"
					"A file holding \\fB");
			herald_host_man_append(out, key->key);
			g_string_append(out,
					"\\fP, trailing whitespace removed; used when \\fB");
			herald_host_man_append(out, key->key);
			g_string_append(out, "\\fP is empty. The file must be readable.\n");
		}
	}
}

/**
 * herald_host_dump_config_man:
 * @plugin_names: plugins whose sections to include
 *
 * herald.conf(5) as roff, from the same schema as herald_host_dump_config()
 * (`heraldd --dump-config-man`, run by meson at build time).
 */
gchar *
herald_host_dump_config_man(gchar **plugin_names)
{
	GString *out = g_string_new(NULL);
	g_autoptr(HeraldPluginList) list = herald_plugin_list_new();
	const HeraldConfigKey *keys;
	guint n_keys = 0;
	GPtrArray *plugins;

	g_string_append(out,
			".\\\" SPDX-License-Identifier: LGPL-2.1-or-later\n"
			".\\\" Generated by 'heraldd --dump-config-man' from the built-in "
			"schema.\n");
	g_string_append_printf(out,
			       ".TH HERALD.CONF 5 \"\" \"herald %s\" \"File Formats\"\n",
			       PACKAGE_VERSION);
	g_string_append(out,
			".SH NAME\n"
			"herald.conf \\- configuration of heraldd, the Herald realtime service "
			"host\n"
			".SH SYNOPSIS\n"
			"\\fI" HERALD_SYSCONFDIR "/herald.conf\\fP\n"
			".br\n"
			"\\fI" HERALD_SYSCONFDIR "/herald.conf.d/*.conf\\fP\n"
			".SH DESCRIPTION\n"
			"\\fBheraldd\\fP(8) reads the main file (or the one given with "
			"\\fB\\-\\-config\\fP), then every \\fI*.conf\\fP file of "
			"\\fIherald.conf.d/\\fP beside it in lexical order; a key set in a later "
			"file replaces the earlier value, lists included (there is no append: a "
			"drop-in that sets \\fBplugins=\\fP names every plugin to run). Files "
			"whose "
			"name starts with a dot or does not end in \\fI.conf\\fP (editor and "
			"package manager leftovers) are skipped. Last come environment overrides "
			"\\fBHERALD_\\fP\\fIGROUP\\fP\\fB_\\fP\\fIKEY\\fP (upper case, "
			"\\(oq\\-\\(cq and \\(oq.\\(cq as \\(oq_\\(cq).\n"
			".PP\n"
			"The format is a GLib key file: \\fB[group]\\fP lines and "
			"\\fIkey\\fP\\fB=\\fP\\fIvalue\\fP lines; \\(oq#\\(cq starts a comment. "
			"Lists are separated by \\(oq;\\(cq. Every key has a built-in default, "
			"shown below; an unknown key in a known group is an error, and a group "
			"of a plugin that is not enabled is ignored. Secrets are never needed "
			"inline: each secret key has a \\fI*\\-file\\fP twin.\n"
			".PP\n"
			"\\fBheraldd \\-\\-check\\-config\\fP reports every problem as "
			"\\fIfile\\fP:\\fIgroup\\fP:\\fIkey\\fP: \\fImessage\\fP and exits 1 "
			"if there is any. \\fBSIGHUP\\fP, \\fBheraldctl reload\\fP or the D-Bus "
			"method \\fBReload()\\fP re-read the files; an invalid file is refused "
			"and the running configuration stays. Keys marked below as taking effect "
			"after a restart are reported as \"needs restart\" on reload.\n"
			".SH \"[host]\"\n"
			"The daemon itself.\n");
	herald_host_man_keys(out, host_keys, G_N_ELEMENTS(host_keys));
	g_string_append(out,
			".SH \"[auth]\"\n"
			"Verification of the JSON Web Tokens of clients and services.\n");
	keys = herald_auth_get_config_keys(&n_keys);
	herald_host_man_keys(out, keys, n_keys);

	g_string_append(out,
			".SH \"[route NAME]\"\n"
			"A route turns a channel (a Redis publish, \\fBPOST /api/events\\fP, or "
			"a plugin) into targets: rooms, users or a handler plugin. Each key is "
			"optional and overrides the built-in route of that name key by key. "
			"A payload whose \\fBuserId\\fP (or \\fBuser_id\\fP) names a user "
			"reaches only that user's connections in the targets; one that cannot "
			"name a user (not a string or an integer, over 128 bytes, control "
			"characters) drops the event.\n");
	keys = herald_router_get_config_keys(&n_keys);
	herald_host_man_keys(out, keys, n_keys);
	g_string_append(out, ".PP\nThe built-in routes:\n");
	for (guint i = 0; i < G_N_ELEMENTS(default_routes); i++) {
		const HeraldDefaultRoute *route = &default_routes[i];
		g_string_append(out, ".TP\n\\fB[route ");
		herald_host_man_append(out, route->name);
		g_string_append(out, "]\\fP\nchannels=");
		herald_host_man_append(out, route->channels);
		if (route->rooms != NULL) {
			g_string_append(out, "\n.br\nrooms=");
			herald_host_man_append(out, route->rooms);
		}
		if (route->users != NULL) {
			g_string_append(out, "\n.br\nusers=");
			herald_host_man_append(out, route->users);
		}
		if (route->event != NULL) {
			g_string_append(out, "\n.br\nevent=");
			herald_host_man_append(out, route->event);
		}
		if (route->handler != NULL) {
			g_string_append(out, "\n.br\nhandler=");
			herald_host_man_append(out, route->handler);
		}
		g_string_append_c(out, '\n');
	}

	herald_plugin_list_load(list, NULL, plugin_names, herald_host_plugin_search_path(), NULL);
	plugins = herald_plugin_list_get_all(list);
	for (guint i = 0; i < plugins->len; i++) {
		HeraldPlugin *plugin = g_ptr_array_index(plugins, i);
		GPtrArray *schema = herald_plugin_get_config_schema(plugin);
		if (herald_plugin_get_state(plugin) == HERALD_PLUGIN_STATE_FAILED)
			continue;
		g_string_append(out, ".SH \"[");
		herald_host_man_append(out, herald_plugin_get_name(plugin));
		g_string_append(out, "]\"\nThe plugin \\fI");
		herald_host_man_append(out, herald_plugin_get_name(plugin));
		g_string_append(out,
				"\\fP; read only when it is listed in \\fB[host] plugins\\fP.\n");
		for (guint j = 0; j < schema->len; j++) {
			HeraldPluginSchema *entry = g_ptr_array_index(schema, j);
			if (!entry->free_group)
				herald_host_man_keys(out, entry->keys, entry->n_keys);
		}
		for (guint j = 0; j < schema->len; j++) {
			HeraldPluginSchema *entry = g_ptr_array_index(schema, j);
			if (!entry->free_group)
				continue;
			g_string_append(out, ".TP\n\\fB[");
			herald_host_man_append(out, herald_plugin_get_name(plugin));
			g_string_append_c(out, '.');
			herald_host_man_append(out, entry->group);
			g_string_append(out, "]\\fP\n");
			herald_host_man_sentence(out, entry->description);
		}
	}

	g_string_append(out,
			".SH FILES\n"
			".TP\n\\fI" HERALD_SYSCONFDIR "/herald.conf\\fP\n"
			"The main file: every key commented out at its default.\n"
			".TP\n\\fI" HERALD_SYSCONFDIR "/herald.conf.d/\\fP\n"
			"Drop-ins, read in lexical order after the main file; plugin packages put "
			"a commented one here.\n"
			".SH \"SEE ALSO\"\n"
			"\\fBheraldd\\fP(8), \\fBheraldctl\\fP(1)\n");
	return g_string_free(out, FALSE);
}

HeraldHost *
herald_host_new(void)
{
	return g_object_new(HERALD_TYPE_HOST, NULL);
}

static void
herald_host_init(HeraldHost *self)
{
	self->start_time = g_get_monotonic_time();
	self->plugins = herald_plugin_list_new();
	self->router = herald_router_new();
	self->http = herald_http_new();
	self->config = herald_config_new();
	self->state = HERALD_HOST_STATE_STARTING;
}

static void
herald_host_dispose(GObject *object)
{
	HeraldHost *self = HERALD_HOST(object);
	if (self->plugins != NULL) {
		GPtrArray *plugins = herald_plugin_list_get_all(self->plugins);
		for (guint i = 0; i < plugins->len; i++)
			g_signal_handlers_disconnect_by_data(g_ptr_array_index(plugins, i), self);
	}
	g_clear_object(&self->dbus);
	g_clear_object(&self->plugins);
	g_clear_object(&self->http);
	g_clear_object(&self->router);
	g_clear_object(&self->bus);
	g_clear_object(&self->auth);
	g_clear_object(&self->config);
	G_OBJECT_CLASS(herald_host_parent_class)->dispose(object);
}

static void
herald_host_finalize(GObject *object)
{
	HeraldHost *self = HERALD_HOST(object);
	g_free(self->config_file);
	g_free(self->dropin_dir);
	g_free(self->instance_id);
	g_free(self->state_dir);
	G_OBJECT_CLASS(herald_host_parent_class)->finalize(object);
}

static void
herald_host_class_init(HeraldHostClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = herald_host_dispose;
	object_class->finalize = herald_host_finalize;
	signals[SIGNAL_STATE_CHANGED] = g_signal_new("state-changed",
						     G_TYPE_FROM_CLASS(klass),
						     G_SIGNAL_RUN_LAST,
						     0,
						     NULL,
						     NULL,
						     NULL,
						     G_TYPE_NONE,
						     0);
	signals[SIGNAL_PLUGIN_STATE_CHANGED] = g_signal_new("plugin-state-changed",
							    G_TYPE_FROM_CLASS(klass),
							    G_SIGNAL_RUN_LAST,
							    0,
							    NULL,
							    NULL,
							    NULL,
							    G_TYPE_NONE,
							    1,
							    HERALD_TYPE_PLUGIN);
}
