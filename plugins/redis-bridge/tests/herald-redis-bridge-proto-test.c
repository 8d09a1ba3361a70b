/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* redis-bridge pieces without a server: URL, envelope, message kinds, replies,
 * backoff, duplicate filter */
#include "config.h"

#include <hiredis/hiredis.h>

#include "herald-redis-bridge-proto.h"

static void
test_url_tcp(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldRedisUrl) url =
	    herald_redis_url_parse("redis://:s%40cret@10.0.0.5:6380/3", &error);
	g_autoptr(HeraldRedisUrl) plain = NULL;
	g_autoptr(HeraldRedisUrl) acl = NULL;
	g_autofree gchar *shown = NULL;

	g_assert_no_error(error);
	g_assert_cmpstr(url->host, ==, "10.0.0.5");
	g_assert_cmpuint(url->port, ==, 6380);
	g_assert_cmpuint(url->db, ==, 3);
	g_assert_cmpstr(url->password, ==, "s@cret");
	g_assert_null(url->username);
	g_assert_null(url->path);
	shown = herald_redis_url_describe(url);
	g_assert_cmpstr(shown, ==, "10.0.0.5:6380");

	plain = herald_redis_url_parse("redis://localhost", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(plain->host, ==, "localhost");
	g_assert_cmpuint(plain->port, ==, 6379);
	g_assert_cmpuint(plain->db, ==, 0);
	g_assert_null(plain->password);

	acl = herald_redis_url_parse("redis://herald:pw@[::1]:7000/", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(acl->username, ==, "herald");
	g_assert_cmpstr(acl->password, ==, "pw");
	g_assert_cmpstr(acl->host, ==, "::1");
	g_assert_cmpuint(acl->port, ==, 7000);
}

static void
test_url_unix(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldRedisUrl) url =
	    herald_redis_url_parse("unix:/run/redis/redis.sock?db=2", &error);
	g_autofree gchar *shown = NULL;
	g_assert_no_error(error);
	g_assert_null(url->host);
	g_assert_cmpstr(url->path, ==, "/run/redis/redis.sock");
	g_assert_cmpuint(url->db, ==, 2);
	shown = herald_redis_url_describe(url);
	g_assert_cmpstr(shown, ==, "unix:/run/redis/redis.sock");
}

static void
test_url_invalid(void)
{
	const gchar *bad[] = {"",
			      "http://localhost:6379",
			      "redis://",
			      "redis://host:notaport",
			      "redis://host:6379/x",
			      "redis://host:6379/70000",
			      "redis://host:6379/0?x=1",
			      "unix:relative.sock",
			      "unix:/tmp/r.sock?database=1",
			      "localhost:6379"};
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(HeraldRedisUrl) url = herald_redis_url_parse(bad[i], &error);
		g_assert_null(url);
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
		g_assert_nonnull(strstr(error->message, "invalid Redis URL"));
	}
}

static void
test_url_redacted(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldRedisUrl) url =
	    herald_redis_url_parse("redis://:topsecret@host:1/x", &error);
	g_assert_null(url);
	g_assert_null(strstr(error->message, "topsecret"));
	g_assert_nonnull(strstr(error->message, "***@host:1/x"));
}

static void
test_envelope_roundtrip(void)
{
	g_autoptr(JsonNode) payload =
	    json_from_string("{\"type\":\"ADMIN_STATS_UPDATED\",\"n\":[1,2]}", NULL);
	g_autoptr(HeraldEvent) event =
	    herald_event_new_full("id-1", "t", "events", payload, 1234567, "instance-a");
	g_autofree gchar *text = herald_redis_envelope_build(event);
	g_autoptr(HeraldEvent) back = NULL;
	g_autofree gchar *json = NULL;

	g_assert_cmpint(herald_redis_message_parse("events", text, strlen(text), &back),
			==,
			HERALD_REDIS_MESSAGE_ENVELOPE);
	g_assert_cmpstr(herald_event_get_id(back), ==, "id-1");
	g_assert_cmpstr(herald_event_get_origin(back), ==, "instance-a");
	g_assert_cmpstr(herald_event_get_type_name(back), ==, "t");
	g_assert_cmpstr(herald_event_get_channel(back), ==, "events");
	g_assert_cmpint(herald_event_get_timestamp(back), ==, 1234567);
	json = json_to_string(herald_event_get_payload(back), FALSE);
	g_assert_cmpstr(json, ==, "{\"type\":\"ADMIN_STATS_UPDATED\",\"n\":[1,2]}");
}

static void
test_message_kinds(void)
{
	struct {
		const gchar *text;
		HeraldRedisMessageKind kind;
	} cases[] = {
	    {"{\"solicitud_id\":1}", HERALD_REDIS_MESSAGE_RAW},
	    {"not json", HERALD_REDIS_MESSAGE_INVALID_JSON},
	    {"", HERALD_REDIS_MESSAGE_INVALID_JSON},
	    {"{\"a\":", HERALD_REDIS_MESSAGE_INVALID_JSON},
	    {"\xff\xfe{}", HERALD_REDIS_MESSAGE_INVALID_JSON},
	    {"[1,2,3]", HERALD_REDIS_MESSAGE_NOT_OBJECT},
	    {"42", HERALD_REDIS_MESSAGE_NOT_OBJECT},
	    {"\"text\"", HERALD_REDIS_MESSAGE_NOT_OBJECT},
	    {"null", HERALD_REDIS_MESSAGE_NOT_OBJECT},
	    {"{\"_herald\":5,\"payload\":{}}", HERALD_REDIS_MESSAGE_BAD_ENVELOPE},
	    {"{\"_herald\":{\"id\":\"x\"},\"payload\":{}}", HERALD_REDIS_MESSAGE_BAD_ENVELOPE},
	    {"{\"_herald\":{\"id\":\"x\",\"origin\":\"o\"}}", HERALD_REDIS_MESSAGE_BAD_ENVELOPE},
	    {"{\"_herald\":{\"id\":\"x\",\"origin\":\"o\"},\"payload\":null}",
	     HERALD_REDIS_MESSAGE_ENVELOPE},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(HeraldEvent) event = NULL;
		HeraldRedisMessageKind kind =
		    herald_redis_message_parse("c", cases[i].text, strlen(cases[i].text), &event);
		g_assert_cmpint(kind, ==, cases[i].kind);
		if (kind == HERALD_REDIS_MESSAGE_RAW || kind == HERALD_REDIS_MESSAGE_ENVELOPE)
			g_assert_nonnull(event);
		else
			g_assert_null(event);
	}
	{
		/* 200,000 levels would overflow json-glib 1.6's stack: refused before */
		g_autoptr(HeraldEvent) event = NULL;
		g_autofree gchar *deep = g_strnfill(200000, '[');
		guint64 before = herald_json_get_rejected_total();
		g_assert_cmpint(herald_redis_message_parse("c", deep, 200000, &event),
				==,
				HERALD_REDIS_MESSAGE_TOO_DEEP);
		g_assert_null(event);
		g_assert_cmpuint(herald_json_get_rejected_total(), ==, before + 1);
	}
	{
		/* a raw event entered from Redis: not this instance's to re-publish */
		g_autoptr(HeraldEvent) event = NULL;
		herald_redis_message_parse("c", "{}", 2, &event);
		g_assert_cmpstr(herald_event_get_origin(event), ==, "redis");
	}
}

static redisReply *
make_reply(int type, const gchar *str, long long integer)
{
	redisReply *r = g_new0(redisReply, 1);
	r->type = type;
	r->integer = integer;
	if (str != NULL) {
		r->str = g_strdup(str);
		r->len = strlen(str);
	}
	return r;
}

static void
free_reply(redisReply *r)
{
	for (gsize i = 0; i < r->elements; i++)
		free_reply(r->element[i]);
	g_free(r->element);
	g_free(r->str);
	g_free(r);
}

static void
test_reply_to_json(void)
{
	redisReply *array = make_reply(REDIS_REPLY_ARRAY, NULL, 0);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	g_autofree gchar *json = NULL;
	redisReply *err = make_reply(REDIS_REPLY_ERROR, "WRONGTYPE Operation against a key", 0);

	array->elements = 4;
	array->element = g_new0(redisReply *, 4);
	array->element[0] = make_reply(REDIS_REPLY_STRING, "v", 0);
	array->element[1] = make_reply(REDIS_REPLY_INTEGER, NULL, 42);
	array->element[2] = make_reply(REDIS_REPLY_NIL, NULL, 0);
	array->element[3] = make_reply(REDIS_REPLY_STATUS, "OK", 0);
	node = herald_redis_reply_to_json(array, &error);
	g_assert_no_error(error);
	json = json_to_string(node, FALSE);
	g_assert_cmpstr(json, ==, "[\"v\",42,null,\"OK\"]");
	free_reply(array);

	g_assert_null(herald_redis_reply_to_json(err, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "WRONGTYPE"));
	free_reply(err);
}

static void
test_backoff(void)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(7);
	guint prev_max = 0;
	for (guint attempt = 0; attempt < 40; attempt++) {
		guint step = MIN(5000, 100u << MIN(attempt, 20));
		for (guint i = 0; i < 50; i++) {
			guint d = herald_redis_backoff_ms(attempt, 100, 5000, rand);
			g_assert_cmpuint(d, >=, step / 2);
			g_assert_cmpuint(d, <=, step);
		}
		g_assert_cmpuint(step, >=, prev_max);
		prev_max = step;
	}
}

static void
test_seen(void)
{
	g_autoptr(HeraldRedisSeen) seen = herald_redis_seen_new(3);
	g_assert_false(herald_redis_seen_check_and_add(seen, "a"));
	g_assert_true(herald_redis_seen_check_and_add(seen, "a"));
	g_assert_false(herald_redis_seen_check_and_add(seen, "b"));
	g_assert_false(herald_redis_seen_check_and_add(seen, "c"));
	/* capacity 3: "a" is forgotten when "d" comes */
	g_assert_false(herald_redis_seen_check_and_add(seen, "d"));
	g_assert_false(herald_redis_seen_check_and_add(seen, "a"));
	g_assert_true(herald_redis_seen_check_and_add(seen, "d"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/redis-bridge/url/tcp", test_url_tcp);
	g_test_add_func("/redis-bridge/url/unix", test_url_unix);
	g_test_add_func("/redis-bridge/url/invalid", test_url_invalid);
	g_test_add_func("/redis-bridge/url/redacted", test_url_redacted);
	g_test_add_func("/redis-bridge/envelope/roundtrip", test_envelope_roundtrip);
	g_test_add_func("/redis-bridge/message/kinds", test_message_kinds);
	g_test_add_func("/redis-bridge/reply/json", test_reply_to_json);
	g_test_add_func("/redis-bridge/backoff", test_backoff);
	g_test_add_func("/redis-bridge/seen", test_seen);
	return g_test_run();
}
