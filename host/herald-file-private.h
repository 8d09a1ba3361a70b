/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

G_GNUC_INTERNAL GBytes *
herald_file_read_bounded(const gchar *filename, gsize max, gboolean *too_big, gint *errsv);

G_END_DECLS
