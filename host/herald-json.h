/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__HERALD_H_INSIDE__) && !defined(HERALD_COMPILATION)
#error "Only <herald.h> can be included directly."
#endif

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * HERALD_JSON_DEFAULT_MAX_DEPTH:
 *
 * The built-in `[host] max-json-depth`: objects and arrays nested deeper than this
 * are refused before json-glib sees the document.
 *
 * Since: 0.2
 */
#define HERALD_JSON_DEFAULT_MAX_DEPTH 64

gboolean
herald_json_check(const gchar *data, gsize len, guint max_depth, GError **error);
JsonNode *
herald_json_parse(const gchar *data, gssize len, GError **error);
JsonObject *
herald_json_parse_object(const gchar *data, gssize len, GError **error);
void
herald_json_set_max_depth(guint max_depth);
guint
herald_json_get_max_depth(void);
guint64
herald_json_get_rejected_total(void);
gchar *
herald_json_to_string(JsonNode *node);

G_END_DECLS
