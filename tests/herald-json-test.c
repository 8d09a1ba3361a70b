/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "herald-error.h"
#include "herald-json.h"

static gchar *
nested(guint depth, gchar open, gchar close)
{
	GString *s = g_string_new(NULL);
	for (guint i = 0; i < depth; i++)
		g_string_append_c(s, open);
	for (guint i = 0; i < depth; i++)
		g_string_append_c(s, close);
	return g_string_free(s, FALSE);
}

static void
test_json_depth_limit(void)
{
	g_autofree gchar *ok = nested(64, '[', ']');
	g_autofree gchar *deep = nested(65, '[', ']');
	g_autoptr(GError) error = NULL;

	g_assert_true(herald_json_check(ok, strlen(ok), 64, NULL));
	g_assert_false(herald_json_check(deep, strlen(deep), 64, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull(strstr(error->message, "64"));
	/* objects count like arrays, mixed */
	g_assert_true(herald_json_check("{\"a\":[{\"b\":[1]}]}", 17, 4, NULL));
	g_assert_false(herald_json_check("{\"a\":[{\"b\":[1]}]}", 17, 3, NULL));
	/* the scan stops at len */
	g_assert_true(herald_json_check("[[[[", 2, 2, NULL));
}

static void
test_json_strings_do_not_count(void)
{
	/* brackets inside strings, escaped quotes and backslashes */
	const gchar *doc = "{\"a\":\"[[[[{{{{\",\"b\":\"\\\"[[[[\",\"c\":\"\\\\\",\"d\":[1]}";
	g_assert_true(herald_json_check(doc, strlen(doc), 2, NULL));
	/* an escaped quote does not end the string: the '[' after it is inside */
	g_assert_true(herald_json_check("[\"\\\"[[[\"]", 9, 1, NULL));
	/* a trailing backslash at the very end: refused without reading past len */
	g_assert_false(herald_json_check("\"\\", 2, 1, NULL));
}

static void
test_json_parse_refuses_the_crash(void)
{
	/* 200,000 levels crash json-glib 1.6 (stack overflow); the gate refuses them
	 * without recursion and counts the refusal */
	g_autofree gchar *bomb = nested(200000, '[', ']');
	g_autofree gchar *obj_bomb = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	guint64 before = herald_json_get_rejected_total();
	GString *s = g_string_new("42");

	node = herald_json_parse(bomb, -1, &error);
	g_assert_null(node);
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	g_assert_cmpuint(herald_json_get_rejected_total(), ==, before + 1);
	g_clear_error(&error);

	/* unbalanced, never closed: still refused at the limit */
	for (guint i = 0; i < 200000; i++)
		g_string_append_c(s, '[');
	g_assert_null(herald_json_parse(s->str + 2, -1, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_string_free(s, TRUE);

	obj_bomb = g_strnfill(100000, '{');
	g_assert_null(herald_json_parse_object(obj_bomb, -1, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	g_assert_cmpuint(herald_json_get_rejected_total(), ==, before + 3);
}

static void
test_json_parse_valid_and_invalid(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = herald_json_parse("{\"a\":[1,2]}", -1, &error);
	g_autoptr(JsonObject) obj = NULL;
	guint64 before = herald_json_get_rejected_total();

	g_assert_no_error(error);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
	/* not JSON: refused, but not counted as too deep */
	g_assert_null(herald_json_parse("{\"a\":", -1, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_null(herald_json_parse("", 0, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_null(herald_json_parse_object("[1]", -1, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	obj = herald_json_parse_object("{\"x\":\"y\"}", 9, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(json_object_get_string_member(obj, "x"), ==, "y");
	g_assert_cmpuint(herald_json_get_rejected_total(), ==, before);
}

/* found by tests/fuzz/fuzz-json-gate: json-glib reads around a '/' (comments
 * and more), so a quote there hid every bracket after it from the count */
static void
test_json_slash_cannot_hide_depth(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) doc = g_string_new("/*\"*/");
	g_autoptr(JsonNode) node = NULL;

	for (guint i = 0; i < 100000; i++)
		g_string_append_c(doc, '[');
	g_string_append_c(doc, '"');
	g_assert_false(herald_json_check(doc->str, doc->len, 64, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	node = herald_json_parse(doc->str, (gssize)doc->len, &error);
	g_assert_null(node);
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(herald_json_check("/\"*/{}", 6, 64, NULL));
	/* json-glib reads four bytes after \\u whatever they are, and on past a
	 * lone surrogate: either would end its string elsewhere than the count's */
	g_assert_false(herald_json_check("[\"\\ud80\"]", 10, 64, NULL));
	g_assert_false(herald_json_check("[\"\\ud800\"]", 11, 64, NULL));
	g_assert_false(herald_json_check("[\"\\udc00\"]", 11, 64, NULL));
	g_assert_true(herald_json_check("[\"\\ud83d\\ude00 \\u00e9\"]", 24, 64, NULL));
	/* inside strings a '/' is just a character */
	g_assert_true(herald_json_check("{\"url\":\"http://a/b\"}", 21, 64, NULL));
}

static void
test_json_configured_depth(void)
{
	g_autoptr(GError) error = NULL;
	guint saved = herald_json_get_max_depth();

	g_assert_cmpuint(saved, ==, HERALD_JSON_DEFAULT_MAX_DEPTH);
	herald_json_set_max_depth(2);
	/* "{{{}}}" is not valid JSON anyway, but the depth is refused first */
	g_assert_null(herald_json_parse("[[[1]]]", -1, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull(strstr(error->message, "2 levels"));
	g_clear_error(&error);
	herald_json_set_max_depth(saved);
	{
		g_autoptr(JsonNode) node = herald_json_parse("[[[1]]]", -1, &error);
		g_assert_no_error(error);
		g_assert_nonnull(node);
	}
}

/* json-glib reads 1e999 as infinity and writes it back as "inf": refused */
static void
test_json_numbers_out_of_range(void)
{
	const gchar *refused[] = {"1e999", "[-1e400]", "{\"a\":21e308}", "[1.0E+309,1]"};
	const gchar *accepted[] = {"1.5e308", "[-1.7976931348623157e308]", "[1e-400]", "[0.5,-2,3E2]",
				   "{\"s\":\"1e999\"}", "[123456789012345678]"};
	g_autofree gchar *zeros = g_strnfill(200, '0');
	g_autofree gchar *long_ok = g_strdup_printf("[1%s.5]", zeros);
	g_autofree gchar *long_bad = g_strdup_printf("[1%s.5e200]", zeros);

	for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_false(herald_json_check(refused[i], strlen(refused[i]), 64, &error));
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	}
	for (guint i = 0; i < G_N_ELEMENTS(accepted); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonNode) node = herald_json_parse(accepted[i], -1, &error);
		g_assert_no_error(error);
		g_assert_nonnull(node);
	}
	g_assert_true(herald_json_check(long_ok, strlen(long_ok), 64, NULL));
	g_assert_false(herald_json_check(long_bad, strlen(long_bad), 64, NULL));
}

/* only JSON's escapes, no raw control characters in strings: json-glib's
 * scanner takes octal escapes and more, and makes strings that are not UTF-8 */
static void
test_json_strict_strings(void)
{
	const gchar *refused[] = {"[\"\\6043\"]", "[\"\\a\"]", "[\"\\x41\"]", "[\"a\nb\"]",
				  "[\"tab\there\"]", "[\"\\"};
	const gchar *accepted[] = {"[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\"]", "[\"caf\u00e9\"]"};

	for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
		g_autoptr(GError) error = NULL;
		g_test_message("refused: %s", refused[i]);
		g_assert_false(herald_json_check(refused[i], strlen(refused[i]), 64, &error));
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	}
	for (guint i = 0; i < G_N_ELEMENTS(accepted); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonNode) node = herald_json_parse(accepted[i], -1, &error);
		g_test_message("accepted: %s", accepted[i]);
		g_assert_no_error(error);
		g_assert_nonnull(node);
	}
}

/* json-glib 1.6 writes 1e30 as "1e+30.0": herald_json_to_string() does not */
static void
test_json_to_string_numbers(void)
{
	const gchar *docs[] = {"{\"x\":[1e30,2,-1e-7,1.5e30,0.25,100,\"1e+30.0\"]}", "1e300", "[-2e-300]"};
	for (guint i = 0; i < G_N_ELEMENTS(docs); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonNode) node = herald_json_parse(docs[i], -1, &error);
		g_autofree gchar *text = NULL;
		g_autoptr(JsonNode) again = NULL;
		g_assert_no_error(error);
		text = herald_json_to_string(node);
		g_test_message("%s -> %s", docs[i], text);
		g_assert_null(strstr(text, "e+30.0,"));
		again = herald_json_parse(text, -1, &error);
		g_assert_no_error(error);
		g_assert_true(json_node_equal(node, again));
	}
	{
		/* strings are left alone */
		g_autoptr(JsonNode) node = herald_json_parse("[\"1e+30.0\"]", -1, NULL);
		g_autofree gchar *text = herald_json_to_string(node);
		g_assert_cmpstr(text, ==, "[\"1e+30.0\"]");
	}
	{
		/* a control character json-glib would write raw is escaped, so that
		 * the gate (and any JSON parser) reads it back */
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonNode) node = herald_json_parse("{\"a\":\"x\\u001fy\\u0001\\n\"}", -1, &error);
		g_autofree gchar *text = NULL;
		g_autoptr(JsonNode) again = NULL;
		g_assert_no_error(error);
		text = herald_json_to_string(node);
		g_test_message("control characters: %s", text);
		again = herald_json_parse(text, -1, &error);
		g_assert_no_error(error);
		g_assert_true(json_node_equal(node, again));
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/herald/json/depth-limit", test_json_depth_limit);
	g_test_add_func("/herald/json/strings-do-not-count", test_json_strings_do_not_count);
	g_test_add_func("/herald/json/parse-refuses-the-crash", test_json_parse_refuses_the_crash);
	g_test_add_func("/herald/json/parse-valid-and-invalid", test_json_parse_valid_and_invalid);
	g_test_add_func("/herald/json/configured-depth", test_json_configured_depth);
	g_test_add_func("/herald/json/numbers-out-of-range", test_json_numbers_out_of_range);
	g_test_add_func("/herald/json/strict-strings", test_json_strict_strings);
	g_test_add_func("/herald/json/to-string-numbers", test_json_to_string_numbers);
	g_test_add_func("/herald/json/slash-cannot-hide-depth", test_json_slash_cannot_hide_depth);
	return g_test_run();
}
