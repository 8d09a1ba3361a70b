/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The JSON depth gate (herald_json_check) against json-glib itself. Whatever
 * json-glib parses to a tree of depth D, the gate must refuse with a limit of
 * D - 1 (else a deeper document would reach json-glib's recursion); on that
 * tree written out again it must also accept with a limit of D (else valid
 * input would be turned away). herald_json_parse() must return the same tree,
 * or a refusal, and never crash whatever the nesting.
 *
 * json-glib is only called directly on inputs with few brackets, where its
 * recursion cannot exhaust the stack.
 */
#include "config.h"

#include <herald.h>

#include "fuzz-common.h"

#define RAW_PARSE_MAX_BRACKETS 2000

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init_logging();
	return 0;
}

static guint
tree_depth(JsonNode *node)
{
	guint depth = 0;
	if (JSON_NODE_HOLDS_ARRAY(node)) {
		JsonArray *array = json_node_get_array(node);
		for (guint i = 0; i < json_array_get_length(array); i++) {
			guint d = tree_depth(json_array_get_element(array, i)); /* once: MAX() repeats it */
			depth = MAX(depth, d);
		}
		return depth + 1;
	}
	if (JSON_NODE_HOLDS_OBJECT(node)) {
		JsonObjectIter iter;
		JsonNode *member;
		json_object_iter_init(&iter, json_node_get_object(node));
		while (json_object_iter_next(&iter, NULL, &member)) {
			guint d = tree_depth(member);
			depth = MAX(depth, d);
		}
		return depth + 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const gchar *text = (const gchar *)data;
	guint max_depth = herald_json_get_max_depth();
	guint brackets = 0;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) gated = herald_json_parse(text, (gssize)size, &error);
	gboolean accepted = herald_json_check(text, size, max_depth, NULL);
	g_autoptr(JsonParser) parser = NULL;
	g_autofree gchar *canonical = NULL;
	JsonNode *root;
	guint depth;
	gsize n;

	if (gated == NULL)
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	else
		g_assert_true(accepted);

	for (gsize i = 0; i < size; i++)
		if (text[i] == '[' || text[i] == '{')
			brackets++;
	if (brackets > RAW_PARSE_MAX_BRACKETS)
		return 0;
	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, text, (gssize)size, NULL) ||
	    (root = json_parser_get_root(parser)) == NULL) {
		g_assert_null(gated);
		return 0;
	}
	depth = tree_depth(root);

	/* json-glib may stop before trailing bytes the gate still counts, so on
	 * the raw input the gate may only be stricter: it must never let a tree
	 * deeper than its limit through */
	if (depth > 0)
		g_assert_false(herald_json_check(text, size, depth - 1, NULL));
	if (depth > max_depth) {
		g_assert_false(accepted);
		g_assert_null(gated);
	} else if (gated != NULL) {
		g_assert_true(json_node_equal(gated, root));
	}

	/* on the document itself the count is exact: what json-glib parses
	 * within the limit passes, whatever it looked like */
	canonical = json_to_string(root, FALSE);
	n = strlen(canonical);
	/* json-glib writes a control character it read raw back raw, which is
	 * not JSON: the gate refuses it on purpose (and so never lets such a
	 * string in); the exact count is checked on everything else */
	for (gsize i = 0; i < n; i++)
		if ((guchar)canonical[i] < 0x20)
			return 0;
	g_assert_true(herald_json_check(canonical, n, MAX(depth, 1), NULL));
	if (depth > 0)
		g_assert_false(herald_json_check(canonical, n, depth - 1, NULL));
	/* (no json-glib round trip here: its writer and reader disagree on
	 * lone surrogates and on some doubles, which is not the gate's business) */
	return 0;
}
