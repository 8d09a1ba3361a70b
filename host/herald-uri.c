/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "herald-uri.h"

/**
 * herald_uri_redact:
 * @uri: (nullable): a configured URL, valid or not
 *
 * The URL as it may appear in an error or a log line: the password of its
 * userinfo is replaced by `***` (`redis://user:***@host:6379/0`), and a
 * userinfo without a colon, which is often a token, is replaced whole
 * (`https://***@host/`). The URL is not parsed, so that an invalid one (the
 * one an error is about) is redacted too: everything up to the last `@` after
 * the scheme counts as userinfo, which hides too much rather than too little.
 *
 * Returns: (transfer full): the redacted URL; "" for %NULL
 *
 * Since: 0.1
 */
gchar *
herald_uri_redact(const gchar *uri)
{
	const gchar *scheme_end;
	const gchar *start;
	const gchar *at;
	const gchar *colon;

	if (uri == NULL)
		return g_strdup("");
	scheme_end = strstr(uri, "://");
	start = scheme_end != NULL ? scheme_end + 3 : uri;
	at = strrchr(start, '@');
	if (at == NULL)
		return g_strdup(uri);
	colon = memchr(start, ':', at - start);
	if (colon == NULL)
		return g_strdup_printf("%.*s***%s", (gint)(start - uri), uri, at);
	return g_strdup_printf("%.*s:***%s", (gint)(colon - uri), uri, at);
}
