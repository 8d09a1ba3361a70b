/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "herald-error.h"
#include "herald-route.h"

#define HERALD_ROOM_MAX_BYTES 128

/* the longest user id a routed message may name (userId / user_id) */
#define HERALD_ROUTE_USER_MAX_BYTES 128

/* a refused userId is logged at most once per interval */
#define HERALD_ROUTE_LOG_INTERVAL_US (60 * G_USEC_PER_SEC)

/* a template: literal text and {placeholders}, parsed once */
typedef enum {
	PART_LITERAL,
	PART_CHANNEL,
	PART_CAPTURE,
	PART_FIELD,
} HeraldTemplatePartKind;

typedef struct {
	HeraldTemplatePartKind kind;
	gchar *text; /* literal text or field path */
	guint capture;
} HeraldTemplatePart;

typedef struct {
	GPtrArray *parts; /* (element-type HeraldTemplatePart) */
} HeraldTemplate;

typedef struct {
	HeraldTemplate **filter; /* NULL-terminated pairs claim, value-template */
	gchar **claims;
} HeraldFilterTemplate;

typedef struct {
	gchar *name;
	gchar **channels;
	gboolean narrow_to_user; /* userId / user_id limit the delivery */
	GPtrArray *rooms;   /* (element-type HeraldTemplate) */
	GPtrArray *users;   /* (element-type HeraldTemplate) */
	GPtrArray *filters; /* (element-type HeraldFilterTemplate) */
	HeraldTemplate *event;
	gchar *handler;
	gboolean broadcast;
} HeraldRoute;

struct _HeraldRouter {
	GObject parent_instance;
	GPtrArray *routes; /* (element-type HeraldRoute) sorted by name */
	guint64 missing_fields;
	guint64 unrouted;
	guint64 invalid_users;
	gint64 invalid_users_logged; /* monotonic µs of the last log line */
};

G_DEFINE_FINAL_TYPE(HeraldRouter, herald_router, G_TYPE_OBJECT)

static const HeraldConfigKey route_keys[] = {
    {"channels",
     HERALD_CONFIG_LIST,
     NULL,
     0,
     64,
     NULL,
     HERALD_CONFIG_FLAG_NOT_EMPTY,
     "channel patterns this route takes (glob: * and ?)"},
    {"rooms",
     HERALD_CONFIG_LIST,
     NULL,
     0,
     64,
     NULL,
     0,
     "rooms to deliver to; {field} is a payload field, {1} what the first * matched"},
    {"users",
     HERALD_CONFIG_LIST,
     NULL,
     0,
     64,
     NULL,
     0,
     "users to deliver to (their personal rooms user_{id}), templates as in rooms"},
    {"filters",
     HERALD_CONFIG_LIST,
     NULL,
     0,
     16,
     NULL,
     0,
     "claim filters, each claim=value&claim=value (values may be templates)"},
    {"event",
     HERALD_CONFIG_STRING,
     "{channel}",
     0,
     0,
     NULL,
     0,
     "event name clients see; '.' becomes '_'"},
    {"handler",
     HERALD_CONFIG_STRING,
     NULL,
     0,
     0,
     NULL,
     0,
     "a plugin that handles these events itself instead of routing"},
    {"broadcast",
     HERALD_CONFIG_BOOLEAN,
     "false",
     0,
     0,
     NULL,
     0,
     "deliver to every connection"},
    {"enabled",
     HERALD_CONFIG_BOOLEAN,
     "true",
     0,
     0,
     NULL,
     0,
     "false switches a route (also a built-in one) off"},
    {"narrow-to-user",
     HERALD_CONFIG_BOOLEAN,
     "true",
     0,
     0,
     NULL,
     0,
     "a top-level userId / user_id of the payload limits delivery to that user's connections "
     "within the targets; false ignores them (for events whose user_id names an author, not "
     "an addressee)"},
};

const HeraldConfigKey *
herald_router_get_config_keys(guint *n_keys)
{
	*n_keys = G_N_ELEMENTS(route_keys);
	return route_keys;
}

static void
herald_template_part_free(HeraldTemplatePart *part)
{
	g_free(part->text);
	g_free(part);
}

static void
herald_template_free(HeraldTemplate *tmpl)
{
	if (tmpl == NULL)
		return;
	g_ptr_array_unref(tmpl->parts);
	g_free(tmpl);
}

static void
herald_filter_template_free(HeraldFilterTemplate *filter)
{
	for (guint i = 0; filter->filter[i] != NULL; i++)
		herald_template_free(filter->filter[i]);
	g_free(filter->filter);
	g_strfreev(filter->claims);
	g_free(filter);
}

static void
herald_route_free(HeraldRoute *route)
{
	g_free(route->name);
	g_strfreev(route->channels);
	g_ptr_array_unref(route->rooms);
	g_ptr_array_unref(route->users);
	g_ptr_array_unref(route->filters);
	herald_template_free(route->event);
	g_free(route->handler);
	g_free(route);
}

void
herald_route_match_free(HeraldRouteMatch *match)
{
	if (match == NULL)
		return;
	g_free(match->route);
	g_free(match->handler);
	if (match->delivery != NULL)
		herald_delivery_unref(match->delivery);
	g_free(match);
}

static HeraldTemplate *
herald_template_parse(const gchar *text, GError **error)
{
	HeraldTemplate *tmpl = g_new0(HeraldTemplate, 1);
	const gchar *p = text;
	tmpl->parts = g_ptr_array_new_with_free_func((GDestroyNotify)herald_template_part_free);
	while (*p != '\0') {
		HeraldTemplatePart *part = g_new0(HeraldTemplatePart, 1);
		if (*p == '{') {
			const gchar *end = strchr(p, '}');
			g_autofree gchar *name = NULL;
			guint64 capture = 0;
			if (end == NULL || end == p + 1) {
				g_set_error(error,
					    HERALD_ERROR,
					    HERALD_ERROR_CONFIG,
					    /* TRANSLATORS: %s is a route template */
					    _("invalid template '%s': unbalanced or empty {}"),
					    text);
				g_free(part);
				herald_template_free(tmpl);
				return NULL;
			}
			name = g_strndup(p + 1, end - p - 1);
			if (strchr(name, '{') != NULL) {
				g_set_error(error,
					    HERALD_ERROR,
					    HERALD_ERROR_CONFIG,
					    _("invalid template '%s': unbalanced or empty {}"),
					    text);
				g_free(part);
				herald_template_free(tmpl);
				return NULL;
			}
			if (g_strcmp0(name, "channel") == 0) {
				part->kind = PART_CHANNEL;
			} else if (g_ascii_string_to_unsigned(name, 10, 1, 9, &capture, NULL)) {
				part->kind = PART_CAPTURE;
				part->capture = (guint)capture;
			} else {
				part->kind = PART_FIELD;
				part->text = g_steal_pointer(&name);
			}
			p = end + 1;
		} else {
			const gchar *next = strchr(p, '{');
			if (strchr(p, '}') != NULL && (next == NULL || strchr(p, '}') < next)) {
				g_set_error(error,
					    HERALD_ERROR,
					    HERALD_ERROR_CONFIG,
					    _("invalid template '%s': unbalanced or empty {}"),
					    text);
				g_free(part);
				herald_template_free(tmpl);
				return NULL;
			}
			part->kind = PART_LITERAL;
			part->text = next != NULL ? g_strndup(p, next - p) : g_strdup(p);
			p = next != NULL ? next : p + strlen(p);
		}
		g_ptr_array_add(tmpl->parts, part);
	}
	return tmpl;
}

/* glob with '*' and '?', capturing what each '*' matched; iterative
 * backtracking to the last star keeps it O(n·m) */
static gboolean
herald_glob_match_capture(const gchar *pattern, const gchar *text, GPtrArray *captures)
{
	const gchar *p = pattern, *t = text;
	const gchar *star_p = NULL, *star_t = NULL;
	guint star_idx = 0;
	/* starts and ends of each star, updated on backtrack */
	g_autoptr(GArray) starts = g_array_new(FALSE, FALSE, sizeof(const gchar *));
	g_autoptr(GArray) ends = g_array_new(FALSE, FALSE, sizeof(const gchar *));

	while (*t != '\0') {
		if (*p == '*') {
			const gchar *start = t;
			star_p = ++p;
			star_t = t;
			star_idx = starts->len;
			g_array_append_val(starts, start);
			g_array_append_val(ends, start);
		} else if (*p == '?' || *p == *t) {
			p++;
			t++;
		} else if (star_p != NULL) {
			/* let the last star eat one more character */
			const gchar *end;
			g_array_set_size(starts, star_idx + 1);
			g_array_set_size(ends, star_idx + 1);
			p = star_p;
			t = ++star_t;
			end = t;
			g_array_index(ends, const gchar *, star_idx) = end;
		} else {
			return FALSE;
		}
	}
	while (*p == '*') {
		g_array_append_val(starts, t);
		g_array_append_val(ends, t);
		p++;
	}
	if (*p != '\0')
		return FALSE;
	if (captures != NULL) {
		for (guint i = 0; i < starts->len; i++) {
			const gchar *s = g_array_index(starts, const gchar *, i);
			const gchar *e = g_array_index(ends, const gchar *, i);
			g_ptr_array_add(captures, g_strndup(s, e - s));
		}
	}
	return TRUE;
}

gboolean
herald_glob_match(const gchar *pattern, const gchar *text)
{
	g_return_val_if_fail(pattern != NULL && text != NULL, FALSE);
	return herald_glob_match_capture(pattern, text, NULL);
}

gboolean
herald_room_name_is_valid(const gchar *room)
{
	gsize len;
	if (room == NULL)
		return FALSE;
	len = strlen(room);
	if (len == 0 || len > HERALD_ROOM_MAX_BYTES)
		return FALSE;
	for (const gchar *p = room; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '_' && *p != '.' && *p != ':' && *p != '@' &&
		    *p != '-')
			return FALSE;
	}
	return TRUE;
}

/**
 * herald_room_for_user:
 * @user_id: a user id, as in #HeraldIdentity
 *
 * The personal room of a user, `user_{id}`, which every connection of the user
 * joins. Plugins name personal rooms only through this function.
 *
 * Returns: (transfer full): the room name
 *
 * Since: 0.2
 */
gchar *
herald_room_for_user(const gchar *user_id)
{
	g_return_val_if_fail(user_id != NULL, NULL);
	return g_strconcat("user_", user_id, NULL);
}

/**
 * herald_role_equal:
 * @role1: (nullable): a role name
 * @role2: (nullable): another role name
 *
 * Role names compare case-insensitively (ASCII) everywhere: a token's
 * `"role":"admin"` is the role `ADMIN` of `[ws-rooms.roles]`, of a claim filter
 * `role=ADMIN` and of `[auth] admin-roles`. Two %NULL roles are not equal.
 *
 * Returns: %TRUE when both name the same role
 *
 * Since: 0.2
 */
gboolean
herald_role_equal(const gchar *role1, const gchar *role2)
{
	if (role1 == NULL || role2 == NULL)
		return FALSE;
	return g_ascii_strcasecmp(role1, role2) == 0;
}

/**
 * herald_role_in_list:
 * @roles: (nullable) (array zero-terminated=1): role names, e.g. `[auth] admin-roles`
 * @role: (nullable): a role name
 *
 * Returns: %TRUE when @role is one of @roles, compared as herald_role_equal() does
 *
 * Since: 0.2
 */
gboolean
herald_role_in_list(const gchar *const *roles, const gchar *role)
{
	for (guint i = 0; roles != NULL && roles[i] != NULL; i++) {
		if (herald_role_equal(roles[i], role))
			return TRUE;
	}
	return FALSE;
}

/**
 * herald_role_key:
 * @role: (nullable): a role name
 *
 * The form of @role that tables keyed by role use (ASCII upper case), so
 * that a lookup agrees with herald_role_equal().
 *
 * Returns: (transfer full) (nullable): the key, %NULL for a %NULL role
 *
 * Since: 0.2
 */
gchar *
herald_role_key(const gchar *role)
{
	if (role == NULL)
		return NULL;
	return g_ascii_strup(role, -1);
}

static gboolean
herald_route_user_node(JsonNode *node, const gchar *member, gchar **out, GError **error)
{
	GType type;
	const gchar *text;

	*out = NULL;
	/* absent, null and "" (what Go marshals for "no user"): no user in particular */
	if (node == NULL || JSON_NODE_HOLDS_NULL(node))
		return TRUE;
	if (!JSON_NODE_HOLDS_VALUE(node))
		goto invalid;
	type = json_node_get_value_type(node);
	if (type == G_TYPE_INT64) {
		*out = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
		return TRUE;
	}
	if (type != G_TYPE_STRING)
		goto invalid;
	text = json_node_get_string(node);
	if (text[0] == '\0')
		return TRUE;
	if (strlen(text) > HERALD_ROUTE_USER_MAX_BYTES) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_INVALID_ARGUMENT,
			    /* TRANSLATORS: %s is a JSON member name (userId), %d a byte count */
			    _("'%s' is longer than %d bytes"),
			    member,
			    HERALD_ROUTE_USER_MAX_BYTES);
		return FALSE;
	}
	for (const gchar *p = text; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == 0x7f) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: %s is a JSON member name (userId) */
				    _("'%s' has control characters"),
				    member);
			return FALSE;
		}
	}
	*out = g_strdup(text);
	return TRUE;
invalid:
	g_set_error(error,
		    HERALD_ERROR,
		    HERALD_ERROR_INVALID_ARGUMENT,
		    /* TRANSLATORS: %s is a JSON member name (userId) */
		    _("'%s' must be a string or an integer"),
		    member);
	return FALSE;
}

/**
 * herald_route_get_target_user:
 * @payload: (nullable): an event payload
 * @user_id: (out) (transfer full) (nullable): the user the message is for, or
 *   %NULL when it names none
 * @error: a #GError, or %NULL
 *
 * Reads the user a routed message is for: the payload's top-level `userId`
 * (seed 002's `Message.UserID`) or `user_id`. A string of 1 to 128 bytes
 * without control characters, or an integer (taken as its decimal text,
 * `5` is `"5"`). Absent, `null` and `""` name no user (the message goes to its
 * targets as routed; `""` is what a Go publisher marshals for "no user").
 * Both members may be given when they agree.
 *
 * Returns: %FALSE with %HERALD_ERROR_INVALID_ARGUMENT when the value cannot
 *   name a user (another JSON type, longer than 128 bytes, control
 *   characters, or `userId` and `user_id` naming different users)
 *
 * Since: 0.2
 */
gboolean
herald_route_get_target_user(JsonNode *payload, gchar **user_id, GError **error)
{
	JsonObject *obj;
	g_autofree gchar *camel = NULL;
	g_autofree gchar *snake = NULL;

	g_return_val_if_fail(user_id != NULL, FALSE);
	*user_id = NULL;
	if (payload == NULL || !JSON_NODE_HOLDS_OBJECT(payload))
		return TRUE;
	obj = json_node_get_object(payload);
	if (!herald_route_user_node(json_object_get_member(obj, "userId"),
				    "userId",
				    &camel,
				    error))
		return FALSE;
	if (!herald_route_user_node(json_object_get_member(obj, "user_id"),
				    "user_id",
				    &snake,
				    error))
		return FALSE;
	if (camel != NULL && snake != NULL && g_strcmp0(camel, snake) != 0) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: do not translate userId and user_id */
				    _("'userId' and 'user_id' name different users"));
		return FALSE;
	}
	*user_id = camel != NULL ? g_steal_pointer(&camel) : g_steal_pointer(&snake);
	return TRUE;
}

/* NULL when a placeholder has no value */
static gchar *
herald_template_expand(HeraldTemplate *tmpl,
		       HeraldEvent *event,
		       GPtrArray *captures)
{
	GString *out = g_string_new(NULL);
	for (guint i = 0; i < tmpl->parts->len; i++) {
		HeraldTemplatePart *part = g_ptr_array_index(tmpl->parts, i);
		switch (part->kind) {
		case PART_LITERAL:
			g_string_append(out, part->text);
			break;
		case PART_CHANNEL:
			g_string_append(out, herald_event_get_channel(event));
			break;
		case PART_CAPTURE:
			if (captures == NULL || part->capture > captures->len ||
			    ((const gchar *)g_ptr_array_index(captures, part->capture - 1))[0] == '\0') {
				g_string_free(out, TRUE);
				return NULL;
			}
			g_string_append(out, g_ptr_array_index(captures, part->capture - 1));
			break;
		case PART_FIELD: {
			g_autofree gchar *value = herald_event_get_payload_field(event, part->text);
			if (value == NULL || value[0] == '\0') {
				g_string_free(out, TRUE);
				return NULL;
			}
			g_string_append(out, value);
			break;
		}
		}
	}
	return g_string_free(out, FALSE);
}

static gboolean
herald_router_parse_templates(GPtrArray *dest, gchar **items, const gchar *route, const gchar *key, GError **error)
{
	for (guint i = 0; items[i] != NULL; i++) {
		g_autoptr(GError) error_local = NULL;
		HeraldTemplate *tmpl = herald_template_parse(items[i], &error_local);
		if (tmpl == NULL) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    "route %s:%s: %s",
				    route,
				    key,
				    error_local->message);
			return FALSE;
		}
		g_ptr_array_add(dest, tmpl);
	}
	return TRUE;
}

static HeraldFilterTemplate *
herald_router_parse_filter(const gchar *item, GError **error)
{
	g_auto(GStrv) pairs = g_strsplit(item, "&", -1);
	guint n = g_strv_length(pairs);
	HeraldFilterTemplate *filter = g_new0(HeraldFilterTemplate, 1);
	filter->filter = g_new0(HeraldTemplate *, n + 1);
	filter->claims = g_new0(gchar *, n + 1);
	for (guint i = 0; i < n; i++) {
		const gchar *eq = strchr(pairs[i], '=');
		if (eq == NULL || eq == pairs[i] || eq[1] == '\0') {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: %s is a route filter */
				    _("invalid filter '%s': use claim=value&claim=value"),
				    item);
			herald_filter_template_free(filter);
			return NULL;
		}
		filter->claims[i] = g_strstrip(g_strndup(pairs[i], eq - pairs[i]));
		filter->filter[i] = herald_template_parse(eq + 1, error);
		if (filter->filter[i] == NULL) {
			herald_filter_template_free(filter);
			return NULL;
		}
	}
	return filter;
}

/**
 * herald_router_load:
 *
 * Reads every `[route NAME]` group and replaces the routes in use.
 */
gboolean
herald_router_load(HeraldRouter *self, HeraldConfig *config, GError **error)
{
	g_auto(GStrv) groups = herald_config_get_groups(config, "route ");
	g_autoptr(GPtrArray) routes = g_ptr_array_new_with_free_func((GDestroyNotify)herald_route_free);

	for (guint i = 0; groups[i] != NULL; i++) {
		const gchar *group = groups[i];
		const gchar *name = group + strlen("route ");
		HeraldRoute *route;
		g_auto(GStrv) rooms = NULL;
		g_auto(GStrv) users = NULL;
		g_auto(GStrv) filters = NULL;
		const gchar *event = herald_config_get_string(config, group, "event");
		const gchar *handler = herald_config_get_string(config, group, "handler");

		if (!herald_config_get_boolean(config, group, "enabled"))
			continue;
		route = g_new0(HeraldRoute, 1);
		route->name = g_strdup(name);
		route->rooms = g_ptr_array_new_with_free_func((GDestroyNotify)herald_template_free);
		route->users = g_ptr_array_new_with_free_func((GDestroyNotify)herald_template_free);
		route->filters = g_ptr_array_new_with_free_func((GDestroyNotify)herald_filter_template_free);
		g_ptr_array_add(routes, route);
		route->channels = herald_config_get_strv(config, group, "channels");
		if (route->channels[0] == NULL) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: %s is a route name */
				    _("route %s has no channels"),
				    name);
			return FALSE;
		}
		rooms = herald_config_get_strv(config, group, "rooms");
		users = herald_config_get_strv(config, group, "users");
		filters = herald_config_get_strv(config, group, "filters");
		if (!herald_router_parse_templates(route->rooms, rooms, name, "rooms", error))
			return FALSE;
		if (!herald_router_parse_templates(route->users, users, name, "users", error))
			return FALSE;
		for (guint j = 0; filters[j] != NULL; j++) {
			g_autoptr(GError) error_local = NULL;
			HeraldFilterTemplate *filter = herald_router_parse_filter(filters[j], &error_local);
			if (filter == NULL) {
				g_set_error(error,
					    HERALD_ERROR,
					    HERALD_ERROR_CONFIG,
					    "route %s:filters: %s",
					    name,
					    error_local->message);
				return FALSE;
			}
			g_ptr_array_add(route->filters, filter);
		}
		if (event == NULL || event[0] == '\0')
			event = "{channel}";
		{
			g_autoptr(GError) error_local = NULL;
			route->event = herald_template_parse(event, &error_local);
			if (route->event == NULL) {
				g_set_error(error,
					    HERALD_ERROR,
					    HERALD_ERROR_CONFIG,
					    "route %s:event: %s",
					    name,
					    error_local->message);
				return FALSE;
			}
		}
		if (handler != NULL && handler[0] != '\0')
			route->handler = g_strdup(handler);
		route->broadcast = herald_config_get_boolean(config, group, "broadcast");
		route->narrow_to_user = herald_config_get_boolean(config, group, "narrow-to-user");
	}
	g_ptr_array_unref(self->routes);
	self->routes = g_steal_pointer(&routes);
	return TRUE;
}

static gint
herald_router_strcmp(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* sorted, de-duplicated: what redis-bridge PSUBSCRIBEs */
gchar **
herald_router_get_patterns(HeraldRouter *self)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < self->routes->len; i++) {
		HeraldRoute *route = g_ptr_array_index(self->routes, i);
		for (guint j = 0; route->channels[j] != NULL; j++) {
			if (g_hash_table_add(seen, route->channels[j]))
				g_ptr_array_add(out, g_strdup(route->channels[j]));
		}
	}
	g_ptr_array_sort(out, herald_router_strcmp);
	g_ptr_array_add(out, NULL);
	return (gchar **)g_ptr_array_free(g_steal_pointer(&out), FALSE);
}

static HeraldRoute *
herald_router_find(HeraldRouter *self, const gchar *channel, guint start, GPtrArray *captures)
{
	for (guint i = start; i < self->routes->len; i++) {
		HeraldRoute *route = g_ptr_array_index(self->routes, i);
		for (guint j = 0; route->channels[j] != NULL; j++) {
			if (herald_glob_match_capture(route->channels[j], channel, captures))
				return route;
		}
	}
	return NULL;
}

gboolean
herald_router_has_match(HeraldRouter *self, const gchar *channel)
{
	g_return_val_if_fail(HERALD_IS_ROUTER(self), FALSE);
	return herald_router_find(self, channel, 0, NULL) != NULL;
}

static gchar *
herald_router_event_name_for(HeraldRoute *route, HeraldEvent *event, GPtrArray *captures)
{
	g_autofree gchar *name = herald_template_expand(route->event, event, captures);
	if (name == NULL)
		name = g_strdup(herald_event_get_channel(event));
	g_strdelimit(name, ".", '_');
	return g_steal_pointer(&name);
}

gchar *
herald_router_event_name(HeraldRouter *self, const gchar *channel)
{
	g_autoptr(GPtrArray) captures = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(HeraldEvent) event = herald_event_new(NULL, channel, NULL, NULL);
	HeraldRoute *route = herald_router_find(self, channel, 0, captures);
	if (route == NULL)
		return NULL;
	return herald_router_event_name_for(route, event, captures);
}

static guint
herald_router_index_of(HeraldRouter *self, HeraldRoute *route)
{
	guint idx = 0;
	g_ptr_array_find(self->routes, route, &idx);
	return idx;
}

/**
 * herald_router_route:
 *
 * Returns: (transfer container) (element-type HeraldRouteMatch): every route
 * whose channel patterns match the event's channel, in name order
 */
GPtrArray *
herald_router_route(HeraldRouter *self, HeraldEvent *event)
{
	GPtrArray *matches = g_ptr_array_new_with_free_func((GDestroyNotify)herald_route_match_free);
	const gchar *channel = herald_event_get_channel(event);
	guint start = 0;
	g_autofree gchar *target_user = NULL;
	g_autoptr(GError) error_user = NULL;
	gboolean user_ok;
	gboolean dropped = FALSE;

	g_return_val_if_fail(HERALD_IS_ROUTER(self), matches);
	if (channel == NULL) {
		self->unrouted++;
		return matches;
	}
	user_ok = herald_route_get_target_user(herald_event_get_payload(event),
					       &target_user,
					       &error_user);
	for (;;) {
		g_autoptr(GPtrArray) captures = g_ptr_array_new_with_free_func(g_free);
		HeraldRoute *route = herald_router_find(self, channel, start, captures);
		HeraldRouteMatch *match;
		g_autofree gchar *name = NULL;
		if (route == NULL)
			break;
		start = herald_router_index_of(self, route) + 1;
		match = g_new0(HeraldRouteMatch, 1);
		match->route = g_strdup(route->name);
		g_ptr_array_add(matches, match);
		if (route->handler != NULL) {
			match->handler = g_strdup(route->handler);
			continue;
		}
		if (!user_ok && route->narrow_to_user) {
			/* never to the whole room: nothing at all */
			self->invalid_users++;
			dropped = TRUE;
			continue;
		}
		name = herald_router_event_name_for(route, event, captures);
		match->delivery = herald_delivery_new(event, name);
		if (route->narrow_to_user)
			herald_delivery_set_user_scope(match->delivery, target_user);
		herald_delivery_set_broadcast(match->delivery, route->broadcast);
		for (guint i = 0; i < route->rooms->len; i++) {
			g_autofree gchar *room =
			    herald_template_expand(g_ptr_array_index(route->rooms, i), event, captures);
			if (!herald_room_name_is_valid(room)) {
				self->missing_fields++;
				continue;
			}
			herald_delivery_add_room(match->delivery, room);
		}
		for (guint i = 0; i < route->users->len; i++) {
			g_autofree gchar *user =
			    herald_template_expand(g_ptr_array_index(route->users, i), event, captures);
			if (!herald_room_name_is_valid(user)) {
				self->missing_fields++;
				continue;
			}
			herald_delivery_add_user(match->delivery, user);
		}
		for (guint i = 0; i < route->filters->len; i++) {
			HeraldFilterTemplate *filter = g_ptr_array_index(route->filters, i);
			g_autoptr(GPtrArray) pairs = g_ptr_array_new_with_free_func(g_free);
			gboolean ok = TRUE;
			for (guint j = 0; filter->filter[j] != NULL; j++) {
				gchar *value = herald_template_expand(filter->filter[j], event, captures);
				if (value == NULL) {
					ok = FALSE;
					break;
				}
				g_ptr_array_add(pairs, g_strdup(filter->claims[j]));
				g_ptr_array_add(pairs, value);
			}
			if (!ok) {
				self->missing_fields++;
				continue;
			}
			g_ptr_array_add(pairs, NULL);
			herald_delivery_add_filter(match->delivery, (const gchar *const *)pairs->pdata);
		}
	}
	if (matches->len == 0)
		self->unrouted++;
	if (dropped) {
		gint64 now = g_get_monotonic_time();
		if (self->invalid_users_logged == 0 ||
		    now - self->invalid_users_logged >= HERALD_ROUTE_LOG_INTERVAL_US) {
			self->invalid_users_logged = now;
			/* TRANSLATORS: log line; %s is a channel, then the reason */
			g_message(_("event on '%s' dropped: %s"), channel, error_user->message);
		}
	}
	return matches;
}

/**
 * herald_router_get_invalid_users:
 *
 * Returns: how many route deliveries were dropped because the payload's
 *   `userId` / `user_id` could not name a user
 */
guint64
herald_router_get_invalid_users(HeraldRouter *self)
{
	g_return_val_if_fail(HERALD_IS_ROUTER(self), 0);
	return self->invalid_users;
}

guint64
herald_router_get_missing_fields(HeraldRouter *self)
{
	g_return_val_if_fail(HERALD_IS_ROUTER(self), 0);
	return self->missing_fields;
}

guint64
herald_router_get_unrouted(HeraldRouter *self)
{
	g_return_val_if_fail(HERALD_IS_ROUTER(self), 0);
	return self->unrouted;
}

HeraldRouter *
herald_router_new(void)
{
	return g_object_new(HERALD_TYPE_ROUTER, NULL);
}

static void
herald_router_init(HeraldRouter *self)
{
	self->routes = g_ptr_array_new_with_free_func((GDestroyNotify)herald_route_free);
}

static void
herald_router_finalize(GObject *object)
{
	HeraldRouter *self = HERALD_ROUTER(object);
	g_ptr_array_unref(self->routes);
	G_OBJECT_CLASS(herald_router_parent_class)->finalize(object);
}

static void
herald_router_class_init(HeraldRouterClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = herald_router_finalize;
}
