/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Channel matching and {field} templates of the host's router, with the
 * routes Herald ships, against a fuzzed channel and payload. Every delivery
 * must name only valid rooms and users, a match must agree with
 * herald_router_has_match() and with herald_glob_match() on the patterns.
 *
 * Input: the channel up to a newline, then the payload (JSON, through the
 * depth gate as redis-bridge hands it on).
 */
#include "config.h"

#include <herald.h>

#include "fuzz-common.h"

static const gchar *shipped_routes =
    "[route rooms]\nchannels=ws:room:*\nrooms={1}\nevent={type}\n"
    "[route users]\nchannels=ws:user:*\nusers={1}\nevent={type}\n"
    "[route broadcast]\nchannels=ws:broadcast\nrooms=all\nevent={type}\n"
    "[route solicitud]\nchannels=solicitud.*\nrooms=admin,advisor,solicitud_{solicitud_id}\nusers={asesor_id}\n"
    "[route oferta]\nchannels=oferta.*\nrooms=admin,solicitud_{solicitud_id}\n"
    "[route evaluacion]\nchannels=evaluacion.*\nrooms=admin,solicitud_{solicitud_id}\n"
    "[route cliente]\nchannels=cliente.*\nrooms=admin\nusers={cliente_id}\n"
    "[route notificacion]\nchannels=notificacion.*\nusers={user_id}\n"
    "[route realtime]\nchannels=realtime:*\nrooms={1}\nevent={type}\n"
    "[route stats]\nchannels=events\nhandler=stats-filter\n"
    "[route seller]\nchannels=seller.*\nfilters=role=SELLER&seller_id={seller_id}\n"
    "[route nested]\nchannels=*.*.*\nrooms={1}_{2},{channel}\nusers={data.user.id}\nevent={3}\n";

static HeraldRouter *router;
static gchar **patterns;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	g_autoptr(HeraldConfig) config = herald_config_new();
	g_autoptr(GError) error = NULL;
	guint n_keys = 0;
	const HeraldConfigKey *keys = herald_router_get_config_keys(&n_keys);

	fuzz_init_logging();
	herald_config_add_group_prefix(config, "route ", keys, n_keys);
	g_assert_true(herald_config_load_data(config, shipped_routes, &error));
	router = herald_router_new();
	if (!herald_router_load(router, config, &error))
		g_error("routes: %s", error->message);
	patterns = herald_router_get_patterns(router);
	return 0;
}

static void
check_delivery(HeraldDelivery *delivery)
{
	GPtrArray *rooms = herald_delivery_get_rooms(delivery);
	GPtrArray *users = herald_delivery_get_users(delivery);
	GPtrArray *filters = herald_delivery_get_filters(delivery);

	g_assert_nonnull(herald_delivery_get_name(delivery));
	for (guint i = 0; i < rooms->len; i++)
		g_assert_true(herald_room_name_is_valid(g_ptr_array_index(rooms, i)));
	for (guint i = 0; i < users->len; i++)
		g_assert_true(herald_room_name_is_valid(g_ptr_array_index(users, i)));
	for (guint i = 0; i < filters->len; i++) {
		gchar **pairs = g_ptr_array_index(filters, i);
		guint n = g_strv_length(pairs);
		g_assert_cmpuint(n % 2, ==, 0);
		for (guint j = 0; j < n; j++)
			g_assert_nonnull(pairs[j]);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzInput in = {data, size};
	gsize channel_len = 0;
	g_autofree gchar *channel = fuzz_take_until(&in, '\n', &channel_len);
	g_autoptr(JsonNode) payload = NULL;
	g_autoptr(HeraldEvent) event = NULL;
	g_autoptr(GPtrArray) matches = NULL;
	g_autofree gchar *event_name = NULL;
	gboolean any_pattern = FALSE;

	/* channels come from Redis as UTF-8 strings without NULs */
	if (strlen(channel) != channel_len || !g_utf8_validate(channel, -1, NULL))
		return 0;
	payload = herald_json_parse((const gchar *)in.data, (gssize)in.size, NULL);
	if (payload == NULL)
		return 0;
	event = herald_event_new(NULL, channel, payload, "fuzz");
	matches = herald_router_route(router, event);
	event_name = herald_router_event_name(router, channel);
	for (guint i = 0; patterns[i] != NULL; i++)
		any_pattern |= herald_glob_match(patterns[i], channel);
	g_assert_true(any_pattern == herald_router_has_match(router, channel));
	g_assert_true((matches->len > 0) == herald_router_has_match(router, channel));
	for (guint i = 0; i < matches->len; i++) {
		HeraldRouteMatch *match = g_ptr_array_index(matches, i);
		g_assert_nonnull(match->route);
		g_assert_true((match->handler != NULL) != (match->delivery != NULL));
		if (match->delivery != NULL) {
			g_assert_true(herald_delivery_get_event(match->delivery) == event);
			check_delivery(match->delivery);
		}
	}
	return 0;
}
