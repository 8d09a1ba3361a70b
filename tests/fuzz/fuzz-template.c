/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Route templates and channel globs as an administrator writes them: one
 * route is built from fuzzed `channels`, `rooms`, `users`, `event` and
 * `filters` values, loaded (or refused with an error), then used on a fuzzed
 * channel and payload. herald_glob_match() is compared with a plain recursive
 * glob on the side.
 *
 * Input: channels, rooms, users, event, filters, channel, each up to a
 * newline, then the payload (JSON).
 */
#include "config.h"

#include <herald.h>

#include "fuzz-common.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init_logging();
	return 0;
}

/* the obvious exponential glob: '*' any run of bytes, '?' any one byte */
static gboolean
reference_glob(const gchar *p, const gchar *t, guint budget)
{
	if (*p == '\0')
		return *t == '\0';
	if (*p == '*') {
		for (const gchar *s = t;; s++) {
			if (reference_glob(p + 1, s, budget))
				return TRUE;
			if (*s == '\0')
				return FALSE;
		}
	}
	if (*t == '\0')
		return FALSE;
	if (*p == '?' || *p == *t)
		return reference_glob(p + 1, t + 1, budget);
	return FALSE;
}

static guint
count_stars(const gchar *p)
{
	guint n = 0;
	for (; *p != '\0'; p++)
		n += *p == '*';
	return n;
}

static gboolean
is_config_value(const gchar *text)
{
	/* one line of a key file; a leading space would be trimmed */
	return strchr(text, '\r') == NULL && text[0] != ' ' && g_utf8_validate(text, -1, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzInput in = {data, size};
	gsize lens[6];
	g_autofree gchar *channels = fuzz_take_until(&in, '\n', &lens[0]);
	g_autofree gchar *rooms = fuzz_take_until(&in, '\n', &lens[1]);
	g_autofree gchar *users = fuzz_take_until(&in, '\n', &lens[2]);
	g_autofree gchar *event_tmpl = fuzz_take_until(&in, '\n', &lens[3]);
	g_autofree gchar *filters = fuzz_take_until(&in, '\n', &lens[4]);
	g_autofree gchar *channel = fuzz_take_until(&in, '\n', &lens[5]);
	const gchar *values[] = {channels, rooms, users, event_tmpl, filters, channel};
	g_autoptr(HeraldConfig) config = herald_config_new();
	g_autoptr(HeraldRouter) router = herald_router_new();
	g_autoptr(GString) text = g_string_new("[route fuzz]\n");
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) payload = NULL;
	g_autoptr(HeraldEvent) event = NULL;
	g_autoptr(GPtrArray) matches = NULL;
	guint n_keys = 0;
	const HeraldConfigKey *keys = herald_router_get_config_keys(&n_keys);

	for (guint i = 0; i < G_N_ELEMENTS(values); i++)
		if (strlen(values[i]) != lens[i] || !is_config_value(values[i]))
			return 0;

	/* the glob against the reference, on short inputs (it is exponential) */
	if (lens[0] <= 64 && lens[5] <= 64 && count_stars(channels) <= 6)
		g_assert_true(herald_glob_match(channels, channel) == reference_glob(channels, channel, 0));

	g_string_append_printf(text, "channels=%s\n", channels);
	if (lens[1] > 0)
		g_string_append_printf(text, "rooms=%s\n", rooms);
	if (lens[2] > 0)
		g_string_append_printf(text, "users=%s\n", users);
	if (lens[3] > 0)
		g_string_append_printf(text, "event=%s\n", event_tmpl);
	if (lens[4] > 0)
		g_string_append_printf(text, "filters=%s\n", filters);
	herald_config_add_group_prefix(config, "route ", keys, n_keys);
	if (!herald_config_load_data(config, text->str, NULL))
		return 0;
	if (!herald_router_load(router, config, &error)) {
		g_assert_nonnull(error);
		g_assert_nonnull(error->message);
		return 0;
	}
	g_assert_no_error(error);
	if (!g_utf8_validate(channel, -1, NULL))
		return 0;
	payload = herald_json_parse((const gchar *)in.data, (gssize)in.size, NULL);
	if (payload == NULL)
		return 0;
	event = herald_event_new(NULL, channel, payload, "fuzz");
	matches = herald_router_route(router, event);
	g_assert_true((matches->len > 0) == herald_router_has_match(router, channel));
	for (guint i = 0; i < matches->len; i++) {
		HeraldRouteMatch *match = g_ptr_array_index(matches, i);
		HeraldDelivery *delivery = match->delivery;
		GPtrArray *list;
		if (delivery == NULL)
			continue;
		g_assert_nonnull(herald_delivery_get_name(delivery));
		g_assert_null(strchr(herald_delivery_get_name(delivery), '.'));
		list = herald_delivery_get_rooms(delivery);
		for (guint j = 0; j < list->len; j++)
			g_assert_true(herald_room_name_is_valid(g_ptr_array_index(list, j)));
		list = herald_delivery_get_users(delivery);
		for (guint j = 0; j < list->len; j++)
			g_assert_true(herald_room_name_is_valid(g_ptr_array_index(list, j)));
	}
	{
		g_autofree gchar *name = herald_router_event_name(router, channel);
		(void)name;
	}
	return 0;
}
