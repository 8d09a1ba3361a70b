/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "herald-error.h"
#include "herald-json.h"

/* json-glib 1.6 recurses once per nesting level and has no limit of its own:
 * ~75,000 levels of '[' overflow an 8 MiB stack. Every document from outside
 * goes through this gate first (the json-glib 1.7.1 parser gained a depth
 * limit upstream; Debian 12 ships 1.6.6). */

static guint herald_json_max_depth = HERALD_JSON_DEFAULT_MAX_DEPTH;
static guint64 herald_json_rejected = 0;

/**
 * herald_json_set_max_depth:
 * @max_depth: deepest nesting of objects and arrays accepted, at least 1
 *
 * Sets the process-wide limit used by herald_json_parse() (`[host]
 * max-json-depth`; the host applies it at start and on reload).
 *
 * Since: 0.2
 */
void
herald_json_set_max_depth(guint max_depth)
{
	g_return_if_fail(max_depth >= 1);
	g_atomic_int_set(&herald_json_max_depth, max_depth);
}

/**
 * herald_json_get_max_depth:
 *
 * Returns: the limit herald_json_parse() applies
 *
 * Since: 0.2
 */
guint
herald_json_get_max_depth(void)
{
	return (guint)g_atomic_int_get(&herald_json_max_depth);
}

/**
 * herald_json_get_rejected_total:
 *
 * Returns: how many documents herald_json_parse() refused for their nesting
 * since the process started (`/stats` `json_too_deep_total`)
 *
 * Since: 0.2
 */
guint64
herald_json_get_rejected_total(void)
{
	return __atomic_load_n(&herald_json_rejected, __ATOMIC_RELAXED);
}

/* a float token as json-glib reads it (g_ascii_strtod) is finite */
static gboolean
herald_json_number_is_finite(const gchar *token, gsize len)
{
	gchar buf[64];
	g_autofree gchar *copy = NULL;
	const gchar *text = buf;
	gdouble value;

	if (len < sizeof(buf)) {
		memcpy(buf, token, len);
		buf[len] = '\0';
	} else {
		copy = g_strndup(token, len);
		text = copy;
	}
	value = g_ascii_strtod(text, NULL);
	return isfinite(value);
}

/* at @at: "uD" then one of @third and two more hex digits */
static gboolean
herald_json_is_surrogate(const gchar *data, gsize len, gsize at, const gchar *third)
{
	if (at + 5 > len || data[at] != 'u' || (data[at + 1] != 'd' && data[at + 1] != 'D') ||
	    data[at + 2] == '\0' || strchr(third, data[at + 2]) == NULL)
		return FALSE;
	return g_ascii_isxdigit(data[at + 3]) && g_ascii_isxdigit(data[at + 4]);
}

/**
 * herald_json_check:
 * @data: the document (need not be NUL-terminated)
 * @len: its length in bytes
 * @max_depth: deepest nesting of objects and arrays accepted
 * @error: set to %HERALD_ERROR_INVALID_ARGUMENT when the document nests deeper
 *
 * One linear pass, no recursion: counts `[` and `{` outside of strings
 * (escapes honoured). It also refuses what would make json-glib 1.6 end a
 * string elsewhere than this scan (a `/` outside strings, which its scanner
 * takes for a comment; a broken `\u` escape; a lone UTF-16 surrogate) and
 * numbers a double cannot hold (json-glib reads them as infinity and writes
 * back `inf`). It does not validate the document otherwise; a malformed one
 * that passes is refused by the parser afterwards.
 *
 * Returns: %TRUE when the nesting is within @max_depth
 *
 * Since: 0.2
 */
gboolean
herald_json_check(const gchar *data, gsize len, guint max_depth, GError **error)
{
	guint depth = 0;
	gboolean in_string = FALSE;

	for (gsize i = 0; i < len; i++) {
		gchar c = data[i];
		if (in_string) {
			/* json-glib 1.6 reads on past a lone UTF-16 surrogate escape,
			 * so the string would not end where this scan thinks: only
			 * a high surrogate followed by a low one is taken */
			if (c == '\\' && herald_json_is_surrogate(data, len, i + 1, "89abAB")) {
				if (!herald_json_is_surrogate(data, len, i + 7, "cdefCDEF") || data[i + 6] != '\\') {
					g_set_error_literal(error,
							    HERALD_ERROR,
							    HERALD_ERROR_INVALID_ARGUMENT,
							    /* TRANSLATORS: JSON error */
							    _("not valid JSON: a lone UTF-16 surrogate"));
					return FALSE;
				}
				i += 11;
				continue;
			}
			if (c == '\\' && herald_json_is_surrogate(data, len, i + 1, "cdefCDEF")) {
				g_set_error_literal(error,
						    HERALD_ERROR,
						    HERALD_ERROR_INVALID_ARGUMENT,
						    /* TRANSLATORS: JSON error */
						    _("not valid JSON: a lone UTF-16 surrogate"));
				return FALSE;
			}
			if (c == '\\' && i + 1 < len && data[i + 1] == 'u') {
				/* json-glib takes the next four bytes whatever they are */
				if (i + 5 >= len || !g_ascii_isxdigit(data[i + 2]) ||
				    !g_ascii_isxdigit(data[i + 3]) || !g_ascii_isxdigit(data[i + 4]) ||
				    !g_ascii_isxdigit(data[i + 5])) {
					g_set_error_literal(error,
							    HERALD_ERROR,
							    HERALD_ERROR_INVALID_ARGUMENT,
							    /* TRANSLATORS: JSON error */
							    _("not valid JSON: a broken \\u escape"));
					return FALSE;
				}
				i += 5;
				continue;
			}
			if (c == '\\') {
				/* JSON's escapes only: json-glib's scanner also takes
				 * octal and others, and makes strings of them that are
				 * not UTF-8 */
				if (i + 1 >= len || strchr("\"\\/bfnrt", data[i + 1]) == NULL ||
				    data[i + 1] == '\0') {
					g_set_error_literal(error,
							    HERALD_ERROR,
							    HERALD_ERROR_INVALID_ARGUMENT,
							    /* TRANSLATORS: JSON error */
							    _("not valid JSON: an unknown escape in a string"));
					return FALSE;
				}
				i++; /* the escaped byte cannot end the string */
			} else if (c == '"') {
				in_string = FALSE;
			} else if ((guchar)c < 0x20) {
				g_set_error_literal(error,
						    HERALD_ERROR,
						    HERALD_ERROR_INVALID_ARGUMENT,
						    /* TRANSLATORS: JSON error */
						    _("not valid JSON: a control character in a string"));
				return FALSE;
			}
			continue;
		}
		switch (c) {
		case '"':
			in_string = TRUE;
			break;
		case '/':
			/* json-glib's scanner takes comments and more around a '/', so
			 * a quote there would hide the brackets after it from this
			 * count: JSON has no '/' outside strings, refuse it */
			g_set_error_literal(error,
					    HERALD_ERROR,
					    HERALD_ERROR_INVALID_ARGUMENT,
					    /* TRANSLATORS: JSON error */
					    _("not valid JSON: '/' outside a string"));
			return FALSE;
		case '[':
		case '{':
			if (++depth > max_depth) {
				g_set_error(error,
					    HERALD_ERROR,
					    HERALD_ERROR_INVALID_ARGUMENT,
					    /* TRANSLATORS: %u is a number of levels */
					    _("JSON nested deeper than %u levels"),
					    max_depth);
				return FALSE;
			}
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		case '-':
		case '0' ... '9': {
			/* json-glib reads 1e999 as infinity and writes it back as
			 * "inf", which no JSON parser reads: an event relayed to the
			 * other instances, or a record written to the journal, would
			 * be lost there. Refuse numbers a double cannot hold. */
			gsize end = i;
			gboolean is_float = FALSE;
			while (end < len && (g_ascii_isdigit(data[end]) || data[end] == '-' ||
					     data[end] == '+' || data[end] == '.' || data[end] == 'e' ||
					     data[end] == 'E')) {
				if (data[end] == '.' || data[end] == 'e' || data[end] == 'E')
					is_float = TRUE;
				end++;
			}
			if (is_float && !herald_json_number_is_finite(data + i, end - i)) {
				g_set_error_literal(error,
						    HERALD_ERROR,
						    HERALD_ERROR_INVALID_ARGUMENT,
						    /* TRANSLATORS: JSON error */
						    _("not valid JSON: a number out of range"));
				return FALSE;
			}
			i = end - 1;
			break;
		}
		default:
			break;
		}
	}
	return TRUE;
}

/**
 * herald_json_parse:
 * @data: untrusted JSON text
 * @len: its length, or -1 when NUL-terminated
 * @error: %HERALD_ERROR_INVALID_ARGUMENT when too deep or not JSON
 *
 * The one way Herald parses JSON from outside: herald_json_check() with the
 * configured depth, then json-glib.
 *
 * Returns: (transfer full): the root node, or %NULL
 *
 * Since: 0.2
 */
JsonNode *
herald_json_parse(const gchar *data, gssize len, GError **error)
{
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) error_local = NULL;
	gsize n;

	g_return_val_if_fail(data != NULL || len == 0, NULL);
	n = len < 0 ? strlen(data) : (gsize)len;
	if (!herald_json_check(data, n, herald_json_get_max_depth(), error)) {
		__atomic_add_fetch(&herald_json_rejected, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, data, (gssize)n, &error_local)) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_INVALID_ARGUMENT,
			    /* TRANSLATORS: %s is the parser's message */
			    _("not valid JSON: %s"),
			    error_local->message);
		return NULL;
	}
	if (json_parser_get_root(parser) == NULL) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: JSON error */
				    _("empty JSON document"));
		return NULL;
	}
	return json_parser_steal_root(parser);
}

/**
 * herald_json_parse_object:
 * @data: untrusted JSON text
 * @len: its length, or -1 when NUL-terminated
 * @error: %HERALD_ERROR_INVALID_ARGUMENT when too deep, not JSON or not an object
 *
 * herald_json_parse() for documents that must be an object.
 *
 * Returns: (transfer full): the object, or %NULL
 *
 * Since: 0.2
 */
JsonObject *
herald_json_parse_object(const gchar *data, gssize len, GError **error)
{
	g_autoptr(JsonNode) root = herald_json_parse(data, len, error);
	if (root == NULL)
		return NULL;
	if (!JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: JSON error */
				    _("JSON document is not an object"));
		return NULL;
	}
	return json_object_ref(json_node_get_object(root));
}

/**
 * herald_json_to_string:
 * @node: a JSON tree
 *
 * json_to_string() without json-glib 1.6's number bug: its generator writes
 * a double whose shortest form has an exponent and no point (1e30, 1e-07) as
 * `1e+30.0`, which no JSON parser reads — an event relayed to the other
 * instances, a journal line or a WebSocket frame carrying it would be lost
 * there. The `.0` after such an exponent is dropped (outside strings only).
 * Every document Herald writes from data it did not make goes through here.
 *
 * Returns: (transfer full): the compact JSON text
 *
 * Since: 0.2
 */
gchar *
herald_json_to_string(JsonNode *node)
{
	g_autofree gchar *text = json_to_string(node, FALSE);
	gsize len = strlen(text);
	GString *out = g_string_sized_new(len + 16);
	gboolean in_string = FALSE;

	for (gsize i = 0; i < len; i++) {
		gchar c = text[i];
		if (in_string) {
			if (c == '\\' && i + 1 < len) {
				g_string_append_c(out, c);
				g_string_append_c(out, text[++i]);
			} else if (c == '"') {
				g_string_append_c(out, c);
				in_string = FALSE;
			} else if ((guchar)c < 0x20) {
				/* json-glib writes some control characters raw */
				g_string_append_printf(out, "\\u%04x", (guint)(guchar)c);
			} else {
				g_string_append_c(out, c);
			}
			continue;
		}
		if (c == '"') {
			in_string = TRUE;
			g_string_append_c(out, c);
			continue;
		}
		if (c == '-' || g_ascii_isdigit(c)) {
			gsize end = i;
			gboolean exponent = FALSE;
			gboolean point = FALSE;
			while (end < len && (g_ascii_isdigit(text[end]) || text[end] == '-' ||
					     text[end] == '+' || text[end] == '.' || text[end] == 'e' ||
					     text[end] == 'E')) {
				if (text[end] == 'e' || text[end] == 'E')
					exponent = TRUE;
				else if (text[end] == '.' && !exponent)
					point = TRUE;
				end++;
			}
			/* "1e+30.0" → "1e+30" */
			if (exponent && !point && end - i >= 2 && text[end - 2] == '.' &&
			    text[end - 1] == '0')
				g_string_append_len(out, text + i, (gssize)(end - i - 2));
			else
				g_string_append_len(out, text + i, (gssize)(end - i));
			i = end - 1;
			continue;
		}
		g_string_append_c(out, c);
	}
	return g_string_free(out, FALSE);
}
