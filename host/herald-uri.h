/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__HERALD_H_INSIDE__) && !defined(HERALD_COMPILATION)
#error "Only <herald.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

gchar *
herald_uri_redact(const gchar *uri);

G_END_DECLS
