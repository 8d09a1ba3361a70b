/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * notifier-whatsapp pieces without a daemon: request validation, the Cloud API
 * bodies and answers, the backoff, the rate limiter and the journal.
 */
#include "config.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <herald.h>

#include "herald-notifier-whatsapp-journal.h"
#include "herald-notifier-whatsapp-limiter.h"
#include "herald-notifier-whatsapp-provider.h"
#include "herald-notifier-whatsapp-record.h"

static const HeraldNotifyLimits limits = {256, 4000, 64};

/* warnings a test expects, caught instead of aborting the test (the tree logs
 * structured, which g_test_expect_message() does not see) */
static GPtrArray *caught_warnings = NULL;

static GLogWriterOutput
catch_warnings_writer(GLogLevelFlags level,
		      const GLogField *fields,
		      gsize n_fields,
		      gpointer user_data)
{
	if (caught_warnings != NULL && (level & G_LOG_LEVEL_WARNING) != 0) {
		for (gsize i = 0; i < n_fields; i++) {
			if (g_strcmp0(fields[i].key, "MESSAGE") == 0)
				g_ptr_array_add(caught_warnings, g_strdup(fields[i].value));
		}
		return G_LOG_WRITER_HANDLED;
	}
	return g_log_writer_default(level, fields, n_fields, user_data);
}

static JsonObject *
parse_object(const gchar *json)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	g_assert_true(json_parser_load_from_data(parser, json, -1, &error));
	g_assert_no_error(error);
	return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static HeraldNotifyRecord *
record_from(const gchar *json, GError **error)
{
	g_autoptr(JsonObject) obj = parse_object(json);
	return herald_notify_record_new_from_request(obj, &limits, error);
}

static void
expect_refused(const gchar *json, HeraldError code, const gchar *needle)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldNotifyRecord) record = record_from(json, &error);
	g_assert_null(record);
	g_assert_error(error, HERALD_ERROR, (gint)code);
	g_assert_nonnull(strstr(error->message, needle));
}

static void
test_request_valid(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldNotifyRecord) record =
	    record_from("{\"user_id\":42,\"title\":\"T\",\"message\":\"M\","
			"\"type\":\"solicitud_nueva\",\"priority\":\"high\","
			"\"data\":{\"solicitud_id\":\"sol-1\"},\"phone\":\"+5215512345678\"}",
			&error);
	g_assert_no_error(error);
	g_assert_cmpstr(record->user_id, ==, "42");
	g_assert_cmpstr(record->type, ==, "solicitud_nueva");
	g_assert_null(record->original_type);
	g_assert_cmpint(record->priority, ==, HERALD_NOTIFY_PRIORITY_HIGH);
	g_assert_cmpstr(record->phone, ==, "+5215512345678");
	g_assert_cmpint(record->status, ==, HERALD_NOTIFY_STATUS_ACCEPTED);
	g_assert_true(g_uuid_string_is_valid(record->id));
}

static void
test_request_defaults(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldNotifyRecord) record =
	    record_from("{\"user_id\":\"u1\",\"title\":\"T\",\"message\":\"M\","
			"\"type\":\"sistema_update\"}",
			&error);
	g_autofree gchar *name = NULL;
	g_assert_no_error(error);
	/* unknown types are delivered as general, the caller's type is kept */
	g_assert_cmpstr(record->type, ==, "general");
	g_assert_cmpstr(record->original_type, ==, "sistema_update");
	g_assert_cmpint(record->priority, ==, HERALD_NOTIFY_PRIORITY_NORMAL);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(record->data));
	name = herald_notify_record_event_name(record);
	g_assert_cmpstr(name, ==, "notificacion_sistema_update");
}

static void
test_request_refused(void)
{
	expect_refused("{\"title\":\"T\",\"message\":\"M\"}",
		       HERALD_ERROR_INVALID_ARGUMENT,
		       "user_id");
	expect_refused("{\"user_id\":\"u\",\"message\":\"M\"}",
		       HERALD_ERROR_INVALID_ARGUMENT,
		       "title");
	expect_refused("{\"user_id\":\"u\",\"title\":\"T\"}",
		       HERALD_ERROR_INVALID_ARGUMENT,
		       "message");
	expect_refused("{\"user_id\":\"u\",\"title\":\"\",\"message\":\"M\"}",
		       HERALD_ERROR_INVALID_ARGUMENT,
		       "title");
	expect_refused("{\"user_id\":\"u\",\"title\":\"T\",\"message\":\"M\",\"priority\":\"asap\"}",
		       HERALD_ERROR_INVALID_ARGUMENT,
		       "asap");
	expect_refused("{\"user_id\":\"u\\u0001x\",\"title\":\"T\",\"message\":\"M\"}",
		       HERALD_ERROR_INVALID_ARGUMENT,
		       "user_id");
	expect_refused("{\"user_id\":\"a b\",\"title\":\"T\",\"message\":\"M\"}",
		       HERALD_ERROR_INVALID_ARGUMENT,
		       "user_id");
	expect_refused("{\"user_id\":true,\"title\":\"T\",\"message\":\"M\"}",
		       HERALD_ERROR_INVALID_ARGUMENT,
		       "user_id");
	expect_refused("{\"user_id\":\"u\",\"title\":\"T\",\"message\":\"M\",\"phone\":\"12345\"}",
		       HERALD_ERROR_INVALID_ARGUMENT,
		       "phone");
	expect_refused("{\"user_id\":\"u\",\"title\":\"T\",\"message\":\"M\",\"data\":[1]}",
		       HERALD_ERROR_INVALID_ARGUMENT,
		       "data");
	expect_refused("{\"user_id\":\"u\",\"title\":\"T\",\"message\":\"M\","
		       "\"data\":{\"x\":\"0123456789012345678901234567890123456789012345678901234567890\"}}",
		       HERALD_ERROR_TOO_LARGE,
		       "data");
	expect_refused("{\"user_id\":\"u\",\"title\":\"T\",\"message\":\"M\",\"type\":\"a/b\"}",
		       HERALD_ERROR_INVALID_ARGUMENT,
		       "type");
	expect_refused("{\"user_id\":\"u\",\"title\":\"T\",\"message\":5}",
		       HERALD_ERROR_INVALID_ARGUMENT,
		       "message");
}

static void
test_phone(void)
{
	g_assert_true(herald_notify_phone_is_valid("+5215512345678"));
	g_assert_true(herald_notify_phone_is_valid("+16505555555"));
	g_assert_false(herald_notify_phone_is_valid("5215512345678"));
	g_assert_false(herald_notify_phone_is_valid("+0215512345678"));
	g_assert_false(herald_notify_phone_is_valid("+1234567"));
	g_assert_false(herald_notify_phone_is_valid("+1234567890123456"));
	g_assert_false(herald_notify_phone_is_valid("+52 155 1234 5678"));
	g_assert_false(herald_notify_phone_is_valid(""));
	g_assert_false(herald_notify_phone_is_valid(NULL));
}

static void
test_record_roundtrip(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldNotifyRecord) record =
	    record_from("{\"user_id\":\"u1\",\"title\":\"T\",\"message\":\"M\",\"priority\":\"urgent\","
			"\"phone\":\"+5215512345678\"}",
			&error);
	g_autoptr(JsonNode) stored = NULL;
	g_autoptr(JsonNode) shown = NULL;
	g_autoptr(HeraldNotifyRecord) back = NULL;
	g_autofree gchar *shown_text = NULL;
	JsonObject *attempt;

	g_assert_no_error(error);
	attempt = herald_notify_record_add_attempt(record, "whatsapp", "retry");
	json_object_set_int_member(attempt, "error_code", 130429);
	record->attempts = 1;
	herald_notify_record_set_status(record, HERALD_NOTIFY_STATUS_PENDING, "throttled");
	stored = herald_notify_record_to_json(record, TRUE);
	back = herald_notify_record_new_from_json(json_node_get_object(stored), &error);
	g_assert_no_error(error);
	g_assert_cmpstr(back->id, ==, record->id);
	g_assert_cmpstr(back->phone, ==, "+5215512345678");
	g_assert_cmpint(back->priority, ==, HERALD_NOTIFY_PRIORITY_URGENT);
	g_assert_cmpint(back->status, ==, HERALD_NOTIFY_STATUS_PENDING);
	g_assert_cmpuint(back->attempts, ==, 1);
	g_assert_cmpuint(json_array_get_length(back->history), ==, 1);
	/* a read-back history takes new attempts */
	herald_notify_record_add_attempt(back, "whatsapp", "sent");
	g_assert_cmpuint(json_array_get_length(back->history), ==, 2);

	/* what GET shows has no phone number */
	shown = herald_notify_record_to_json(record, FALSE);
	shown_text = json_to_string(shown, FALSE);
	g_assert_null(strstr(shown_text, "5512345678"));
	g_assert_nonnull(strstr(shown_text, "\"status\":\"pending\""));
}

static GBytes *
bytes(const gchar *text)
{
	return g_bytes_new(text, strlen(text));
}

static void
test_classify_cloud(void)
{
	HeraldNotifyResult result = {0};
	g_autoptr(GBytes) ok = bytes("{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":"
				     "\"1\",\"wa_id\":\"1\"}],\"messages\":[{\"id\":\"wamid.ABC\"}]}");
	g_autoptr(GBytes) throttled =
	    bytes("{\"error\":{\"message\":\"(#130429) Rate limit hit\",\"type\":\"OAuthException\","
		  "\"code\":130429,\"fbtrace_id\":\"x\"}}");
	g_autoptr(GBytes) undeliverable =
	    bytes("{\"error\":{\"message\":\"Message undeliverable to 5215512345678\",\"code\":131026}}");
	g_autoptr(GBytes) reengage = bytes("{\"error\":{\"message\":\"Re-engagement\",\"code\":131047}}");
	g_autoptr(GBytes) garbage = bytes("<html>oops</html>");
	g_autoptr(GError) timeout = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "timeout");

	herald_notify_classify_cloud(200, NULL, ok, &result);
	g_assert_cmpint(result.outcome, ==, HERALD_NOTIFY_OUTCOME_SENT);
	g_assert_cmpstr(result.provider_id, ==, "wamid.ABC");
	herald_notify_result_clear(&result);

	herald_notify_classify_cloud(429, NULL, throttled, &result);
	g_assert_cmpint(result.outcome, ==, HERALD_NOTIFY_OUTCOME_RETRY);
	g_assert_cmpint(result.error_code, ==, 130429);
	herald_notify_result_clear(&result);

	herald_notify_classify_cloud(400, NULL, undeliverable, &result);
	g_assert_cmpint(result.outcome, ==, HERALD_NOTIFY_OUTCOME_FAIL);
	g_assert_cmpint(result.error_code, ==, 131026);
	/* the provider's text never carries a phone number into the history */
	g_assert_null(strstr(result.reason, "5512345678"));
	herald_notify_result_clear(&result);

	herald_notify_classify_cloud(400, NULL, reengage, &result);
	g_assert_cmpint(result.outcome, ==, HERALD_NOTIFY_OUTCOME_TEMPLATE);
	herald_notify_result_clear(&result);

	herald_notify_classify_cloud(500, NULL, garbage, &result);
	g_assert_cmpint(result.outcome, ==, HERALD_NOTIFY_OUTCOME_RETRY);
	herald_notify_result_clear(&result);

	/* 200 without a message id: we cannot tell, so it is retried */
	herald_notify_classify_cloud(200, NULL, garbage, &result);
	g_assert_cmpint(result.outcome, ==, HERALD_NOTIFY_OUTCOME_RETRY);
	herald_notify_result_clear(&result);

	herald_notify_classify_cloud(400, NULL, garbage, &result);
	g_assert_cmpint(result.outcome, ==, HERALD_NOTIFY_OUTCOME_FAIL);
	herald_notify_result_clear(&result);

	herald_notify_classify_cloud(0, timeout, NULL, &result);
	g_assert_cmpint(result.outcome, ==, HERALD_NOTIFY_OUTCOME_RETRY);
	g_assert_cmpstr(result.reason, ==, "request timed out");
	herald_notify_result_clear(&result);

	/* a reply nested 200,000 deep (json-glib 1.6 overflows its stack on it)
	 * is classified like any reply that is not JSON */
	{
		guint64 before = herald_json_get_rejected_total();
		gchar *deep = g_strnfill(200000, '[');
		g_autoptr(GBytes) deep_body = g_bytes_new_take(deep, 200000);
		herald_notify_classify_cloud(500, NULL, deep_body, &result);
		g_assert_cmpint(result.outcome, ==, HERALD_NOTIFY_OUTCOME_RETRY);
		herald_notify_result_clear(&result);
		herald_notify_classify_cloud(200, NULL, deep_body, &result);
		g_assert_cmpint(result.outcome, ==, HERALD_NOTIFY_OUTCOME_RETRY);
		g_assert_null(result.provider_id);
		herald_notify_result_clear(&result);
		g_assert_cmpuint(herald_json_get_rejected_total(), ==, before + 2);
	}

	for (guint i = 0; i < 4; i++) {
		const gint64 codes[] = {4, 80007, 131056, 130429};
		g_assert_true(herald_notify_cloud_code_is_retryable(codes[i]));
	}
	g_assert_false(herald_notify_cloud_code_is_retryable(131026));
	g_assert_false(herald_notify_cloud_code_is_retryable(131047));
}

static void
test_classify_webhook(void)
{
	HeraldNotifyResult result = {0};
	herald_notify_classify_webhook(204, NULL, NULL, &result);
	g_assert_cmpint(result.outcome, ==, HERALD_NOTIFY_OUTCOME_SENT);
	herald_notify_result_clear(&result);
	herald_notify_classify_webhook(503, NULL, NULL, &result);
	g_assert_cmpint(result.outcome, ==, HERALD_NOTIFY_OUTCOME_RETRY);
	herald_notify_result_clear(&result);
	herald_notify_classify_webhook(422, NULL, NULL, &result);
	g_assert_cmpint(result.outcome, ==, HERALD_NOTIFY_OUTCOME_FAIL);
	herald_notify_result_clear(&result);
}

static void
test_bodies(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldNotifyRecord) record =
	    record_from("{\"user_id\":\"u1\",\"title\":\"Nueva\",\"message\":\"Sol 17\"}", &error);
	g_autofree gchar *text = NULL;
	g_autofree gchar *tmpl = NULL;
	g_autoptr(JsonObject) t = NULL;
	g_autoptr(JsonObject) m = NULL;
	JsonArray *params;

	g_assert_no_error(error);
	text = herald_notify_build_cloud_body(record, "+5215512345678", NULL, NULL);
	m = parse_object(text);
	g_assert_cmpstr(json_object_get_string_member(m, "messaging_product"), ==, "whatsapp");
	g_assert_cmpstr(json_object_get_string_member(m, "to"), ==, "5215512345678");
	g_assert_cmpstr(json_object_get_string_member(m, "type"), ==, "text");
	g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(m, "text"),
						      "body"),
			==,
			"*Nueva*\nSol 17");

	tmpl = herald_notify_build_cloud_body(record, "+5215512345678", "aviso", "es_MX");
	t = parse_object(tmpl);
	g_assert_cmpstr(json_object_get_string_member(t, "type"), ==, "template");
	g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(t, "template"),
						      "name"),
			==,
			"aviso");
	params = json_object_get_array_member(
	    json_array_get_object_element(
		json_object_get_array_member(json_object_get_object_member(t, "template"),
					     "components"),
		0),
	    "parameters");
	g_assert_cmpuint(json_array_get_length(params), ==, 2);
	g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(params, 1),
						      "text"),
			==,
			"Sol 17");
}

static void
test_backoff(void)
{
	for (guint i = 0; i < 50; i++) {
		gint64 first = herald_notify_backoff_us(1, 30, 3600);
		gint64 third = herald_notify_backoff_us(3, 30, 3600);
		gint64 capped = herald_notify_backoff_us(30, 30, 3600);
		g_assert_cmpint(first, >=, 15 * (gint64)G_USEC_PER_SEC);
		g_assert_cmpint(first, <=, 30 * (gint64)G_USEC_PER_SEC);
		g_assert_cmpint(third, >=, 60 * (gint64)G_USEC_PER_SEC);
		g_assert_cmpint(third, <=, 120 * (gint64)G_USEC_PER_SEC);
		g_assert_cmpint(capped, >=, 1800 * (gint64)G_USEC_PER_SEC);
		g_assert_cmpint(capped, <=, 3600 * (gint64)G_USEC_PER_SEC);
	}
}

/* several keys: counted under all of them or under none */
static void
test_limiter_all(void)
{
	g_autoptr(HeraldNotifyLimiter) limiter = herald_notify_limiter_new();
	gint64 now = 1000 * (gint64)G_USEC_PER_SEC * 3600LL;
	guint retry = 0;
	guint refused = G_MAXUINT;

	herald_notify_limiter_set_limits(limiter, 3, 100);
	/* one phone number under three user ids fills the phone's window */
	for (guint i = 0; i < 3; i++) {
		g_autofree gchar *user = g_strdup_printf("user:%u", i);
		const gchar *keys[] = {user, "phone:+5215512345678", NULL};
		g_assert_true(
		    herald_notify_limiter_check_all(limiter, keys, now + i, FALSE, &refused, &retry));
	}
	{
		const gchar *keys[] = {"user:fresh", "phone:+5215512345678", NULL};
		g_assert_false(
		    herald_notify_limiter_check_all(limiter, keys, now + 5, FALSE, &refused, &retry));
		g_assert_cmpuint(refused, ==, 1);
		g_assert_cmpuint(retry, >=, 59);
	}
	/* the refused send used up nothing of user:fresh: it still has three */
	for (guint i = 0; i < 3; i++)
		g_assert_true(herald_notify_limiter_check(limiter, "user:fresh", now + 10 + i, FALSE, &retry));
	g_assert_false(herald_notify_limiter_check(limiter, "user:fresh", now + 20, FALSE, &retry));
	/* a full first key is reported as such */
	{
		const gchar *keys[] = {"user:fresh", "phone:+15550000000", NULL};
		g_assert_false(
		    herald_notify_limiter_check_all(limiter, keys, now + 30, FALSE, &refused, &retry));
		g_assert_cmpuint(refused, ==, 0);
		g_assert_true(herald_notify_limiter_check(limiter, "phone:+15550000000", now + 31, FALSE, &retry));
	}
}

static void
test_limiter(void)
{
	g_autoptr(HeraldNotifyLimiter) limiter = herald_notify_limiter_new();
	gint64 now = 1000 * (gint64)G_USEC_PER_SEC * 3600LL;
	guint retry = 0;

	herald_notify_limiter_set_limits(limiter, 3, 5);
	for (guint i = 0; i < 3; i++)
		g_assert_true(herald_notify_limiter_check(limiter, "a", now + i, FALSE, &retry));
	g_assert_false(herald_notify_limiter_check(limiter, "a", now + 10, FALSE, &retry));
	g_assert_cmpuint(retry, >=, 59);
	g_assert_cmpuint(retry, <=, 60);
	/* another recipient has its own window */
	g_assert_true(herald_notify_limiter_check(limiter, "b", now, FALSE, &retry));
	/* urgent passes the minute limit but counts towards the hour */
	g_assert_true(herald_notify_limiter_check(limiter, "a", now + 20, TRUE, &retry));
	g_assert_true(herald_notify_limiter_check(limiter, "a", now + 30, TRUE, &retry));
	g_assert_false(herald_notify_limiter_check(limiter, "a", now + 40, TRUE, &retry));
	g_assert_cmpuint(retry, >, 3500);
	/* a minute later the minute window is free again, the hour one is not */
	g_assert_false(herald_notify_limiter_check(limiter,
						   "a",
						   now + 61 * (gint64)G_USEC_PER_SEC,
						   FALSE,
						   &retry));
	g_assert_true(herald_notify_limiter_check(limiter,
						  "a",
						  now + 3601 * (gint64)G_USEC_PER_SEC,
						  FALSE,
						  &retry));
	herald_notify_limiter_prune(limiter, now + 7300 * (gint64)G_USEC_PER_SEC);
	g_assert_cmpuint(herald_notify_limiter_get_size(limiter), ==, 0);
}

static JsonNode *
node_with_id(const gchar *id, const gchar *status)
{
	g_autofree gchar *json =
	    g_strdup_printf("{\"id\":\"%s\",\"user_id\":\"u\",\"title\":\"T\",\"message\":\"M\","
			    "\"type\":\"general\",\"status\":\"%s\"}",
			    id,
			    status);
	return json_from_string(json, NULL);
}

static void
test_journal(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("herald-journal-XXXXXX", &error);
	g_autofree gchar *path = g_build_filename(dir, "sub", "journal.jsonl", NULL);
	g_autoptr(GHashTable) records = NULL;
	g_autoptr(HeraldNotifyJournal) journal = NULL;
	g_autoptr(GPtrArray) live = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	JsonObject *obj;
	gint fd;

	g_assert_no_error(error);
	journal = herald_notify_journal_open(path, &records, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_hash_table_size(records), ==, 0);
	g_clear_pointer(&records, g_hash_table_unref);
	for (guint i = 0; i < 3; i++) {
		g_autofree gchar *id = g_strdup_printf("id-%u", i);
		g_autoptr(JsonNode) node = node_with_id(id, "pending");
		g_assert_true(herald_notify_journal_put(journal, node, &error));
		g_assert_no_error(error);
	}
	{
		g_autoptr(JsonNode) node = node_with_id("id-1", "sent");
		g_assert_true(herald_notify_journal_put(journal, node, &error));
	}
	g_assert_true(herald_notify_journal_delete(journal, "id-2", &error));
	g_clear_pointer(&journal, herald_notify_journal_free);

	/* a crash in the middle of a write: the torn line is cut off */
	fd = open(path, O_WRONLY | O_APPEND);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(write(fd, "{\"op\":\"put\",\"rec", 16), ==, 16);
	close(fd);

	journal = herald_notify_journal_open(path, &records, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_hash_table_size(records), ==, 2);
	obj = g_hash_table_lookup(records, "id-1");
	g_assert_nonnull(obj);
	g_assert_cmpstr(json_object_get_string_member(obj, "status"), ==, "sent");
	g_assert_false(g_hash_table_contains(records, "id-2"));
	/* appending after the cut gives whole lines */
	{
		g_autoptr(JsonNode) node = node_with_id("id-9", "pending");
		g_assert_true(herald_notify_journal_put(journal, node, &error));
	}
	g_clear_pointer(&records, g_hash_table_unref);
	g_clear_pointer(&journal, herald_notify_journal_free);
	journal = herald_notify_journal_open(path, &records, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_hash_table_size(records), ==, 3);

	/* compaction keeps exactly the live records */
	g_ptr_array_add(live, node_with_id("id-9", "pending"));
	g_assert_true(herald_notify_journal_compact(journal, live, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(herald_notify_journal_get_lines(journal), ==, 1);
	{
		g_autoptr(JsonNode) node = node_with_id("id-10", "held");
		g_assert_true(herald_notify_journal_put(journal, node, &error));
	}
	g_clear_pointer(&records, g_hash_table_unref);
	g_clear_pointer(&journal, herald_notify_journal_free);
	journal = herald_notify_journal_open(path, &records, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_hash_table_size(records), ==, 2);
	g_assert_true(g_hash_table_contains(records, "id-10"));
	g_clear_pointer(&journal, herald_notify_journal_free);
	g_clear_pointer(&records, g_hash_table_unref);

	/* a line nested 200,000 deep in the middle of the journal is reported
	 * like other damaged lines and replay goes on with the next one */
	{
		g_autoptr(GString) contents = g_string_new(NULL);
		guint64 before = herald_json_get_rejected_total();
		g_autoptr(JsonNode) node = node_with_id("id-11", "pending");
		g_autofree gchar *after = NULL;
		g_assert_true(g_file_get_contents(path, &after, NULL, &error));
		g_string_append(contents, after);
		g_string_append(contents, "{\"op\":\"put\",\"record\":");
		for (guint i = 0; i < 200000; i++)
			g_string_append_c(contents, '[');
		g_string_append(contents, "\n");
		g_clear_pointer(&after, g_free);
		after = json_to_string(node, FALSE);
		g_string_append_printf(contents, "{\"op\":\"put\",\"record\":%s}\n", after);
		g_assert_true(g_file_set_contents(path, contents->str, (gssize)contents->len, &error));
		caught_warnings = g_ptr_array_new_with_free_func(g_free);
		journal = herald_notify_journal_open(path, &records, &error);
		g_assert_cmpuint(caught_warnings->len, ==, 1);
		g_assert_cmpstr(g_ptr_array_index(caught_warnings, 0),
				==,
				"journal line 3 nests deeper than 64 levels, skipped");
		g_clear_pointer(&caught_warnings, g_ptr_array_unref);
		g_assert_no_error(error);
		g_assert_cmpuint(g_hash_table_size(records), ==, 3);
		g_assert_true(g_hash_table_contains(records, "id-10"));
		g_assert_true(g_hash_table_contains(records, "id-11"));
		g_assert_cmpuint(herald_json_get_rejected_total(), ==, before + 1);
		g_clear_pointer(&records, g_hash_table_unref);
		g_clear_pointer(&journal, herald_notify_journal_free);
	}

	g_unlink(path);
	{
		g_autofree gchar *sub = g_path_get_dirname(path);
		g_rmdir(sub);
	}
	g_rmdir(dir);
}

/* an older journal: a write cut short by a full disk with the next record
 * glued to it, in the middle of the file. Both whole records around it and the
 * glued one are read; the damage is reported. */
static void
test_journal_damage_inside(void)
{
	if (!g_test_subprocess()) {
		g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
		g_test_trap_assert_passed();
		g_test_trap_assert_stderr("*journal line 2 is damaged; the record after the damage "
					  "was recovered*journal line 3 nests deeper than 64 levels*");
		return;
	}
	{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("herald-journal-XXXXXX", &error);
	g_autofree gchar *path = g_build_filename(dir, "journal.jsonl", NULL);
	g_autoptr(GHashTable) records = NULL;
	g_autoptr(HeraldNotifyJournal) journal = NULL;
	const gchar *text =
	    "{\"op\":\"put\",\"record\":{\"id\":\"a\",\"status\":\"pending\"}}\n"
	    "{\"op\":\"put\",\"record\":{\"id\":\"b\",\"sta"
	    "{\"op\":\"put\",\"record\":{\"id\":\"c\",\"status\":\"pending\"}}\n"
	    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n"
	    "{\"op\":\"put\",\"record\":{\"id\":\"d\",\"status\":\"pending\"}}\n";

	/* the warnings are the report: not fatal here */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_ERROR);
	g_assert_no_error(error);
	g_assert_true(g_file_set_contents(path, text, -1, &error));
	journal = herald_notify_journal_open(path, &records, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_hash_table_size(records), ==, 3);
	g_assert_true(g_hash_table_contains(records, "a"));
	g_assert_false(g_hash_table_contains(records, "b"));
	g_assert_true(g_hash_table_contains(records, "c"));
	g_assert_true(g_hash_table_contains(records, "d"));
	g_assert_cmpuint(herald_notify_journal_get_damaged(journal), ==, 2);
	g_assert_cmpuint(herald_notify_journal_get_recovered(journal), ==, 1);
	g_clear_pointer(&journal, herald_notify_journal_free);
	g_unlink(path);
	g_rmdir(dir);
	}
}

/* A full disk in the middle of an append (here: RLIMIT_FSIZE, which cuts a
 * write short exactly like ENOSPC, without needing a mount): the append fails,
 * the partial line is cut off again, and once there is room the next record
 * is a line of its own — nothing accepted before or after is lost. */
static void
test_journal_full_disk(void)
{
	if (g_test_subprocess()) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *dir = g_dir_make_tmp("herald-journal-XXXXXX", &error);
		g_autofree gchar *path = g_build_filename(dir, "journal.jsonl", NULL);
		g_autoptr(GHashTable) records = NULL;
		g_autoptr(HeraldNotifyJournal) journal = NULL;
		g_autofree gchar *contents = NULL;
		struct rlimit limit;
		guint64 good;
		gsize len = 0;

		signal(SIGXFSZ, SIG_IGN);
		journal = herald_notify_journal_open(path, &records, &error);
		g_assert_no_error(error);
		{
			g_autoptr(JsonNode) node = node_with_id("before", "pending");
			g_assert_true(herald_notify_journal_put(journal, node, &error));
		}
		good = herald_notify_journal_get_bytes(journal);
		/* room for 10 more bytes: the next line is cut short */
		getrlimit(RLIMIT_FSIZE, &limit);
		limit.rlim_cur = (rlim_t)good + 10;
		g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &limit), ==, 0);
		{
			g_autoptr(JsonNode) node = node_with_id("refused", "pending");
			g_assert_false(herald_notify_journal_put(journal, node, &error));
			g_assert_nonnull(error);
			g_clear_error(&error);
		}
		g_assert_cmpuint(herald_notify_journal_get_rollbacks(journal), ==, 1);
		g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
		g_assert_cmpuint(len, ==, good);
		g_clear_pointer(&contents, g_free);
		/* space is back */
		limit.rlim_cur = limit.rlim_max;
		g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &limit), ==, 0);
		{
			g_autoptr(JsonNode) node = node_with_id("after", "pending");
			g_assert_true(herald_notify_journal_put(journal, node, &error));
			g_assert_no_error(error);
		}
		g_clear_pointer(&journal, herald_notify_journal_free);
		g_clear_pointer(&records, g_hash_table_unref);
		journal = herald_notify_journal_open(path, &records, &error);
		g_assert_no_error(error);
		g_assert_cmpuint(g_hash_table_size(records), ==, 2);
		g_assert_true(g_hash_table_contains(records, "before"));
		g_assert_true(g_hash_table_contains(records, "after"));
		g_assert_cmpuint(herald_notify_journal_get_damaged(journal), ==, 0);
		g_clear_pointer(&journal, herald_notify_journal_free);
		g_unlink(path);
		g_rmdir(dir);
		return;
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
}

int
main(int argc, char **argv)
{
	g_log_set_writer_func(catch_warnings_writer, NULL, NULL);
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/notifier-whatsapp/request/valid", test_request_valid);
	g_test_add_func("/notifier-whatsapp/request/defaults", test_request_defaults);
	g_test_add_func("/notifier-whatsapp/request/refused", test_request_refused);
	g_test_add_func("/notifier-whatsapp/phone", test_phone);
	g_test_add_func("/notifier-whatsapp/record/roundtrip", test_record_roundtrip);
	g_test_add_func("/notifier-whatsapp/provider/classify-cloud", test_classify_cloud);
	g_test_add_func("/notifier-whatsapp/provider/classify-webhook", test_classify_webhook);
	g_test_add_func("/notifier-whatsapp/provider/bodies", test_bodies);
	g_test_add_func("/notifier-whatsapp/backoff", test_backoff);
	g_test_add_func("/notifier-whatsapp/limiter", test_limiter);
	g_test_add_func("/notifier-whatsapp/limiter-all", test_limiter_all);
	g_test_add_func("/notifier-whatsapp/journal", test_journal);
	g_test_add_func("/notifier-whatsapp/journal/damage-inside", test_journal_damage_inside);
	g_test_add_func("/notifier-whatsapp/journal/full-disk", test_journal_full_disk);
	return g_test_run();
}
