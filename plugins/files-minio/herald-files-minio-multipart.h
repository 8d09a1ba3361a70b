/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* a streaming multipart/form-data (RFC 7578) parser: bytes in, parts out; it
 * never holds more than one chunk plus the delimiter and one part's headers */

typedef struct {
	/* @filename is %NULL for plain fields; @content_type may be %NULL */
	gboolean (*part_begin)(const gchar *name,
			       const gchar *filename,
			       const gchar *content_type,
			       gpointer user_data,
			       GError **error);
	gboolean (*part_data)(const guint8 *data, gsize len, gpointer user_data, GError **error);
	gboolean (*part_end)(gpointer user_data, GError **error);
} HeraldFilesMinioMultipartFuncs;

typedef struct _HeraldFilesMinioMultipart HeraldFilesMinioMultipart;

gchar *
herald_files_minio_multipart_get_boundary(const gchar *content_type, GError **error);
HeraldFilesMinioMultipart *
herald_files_minio_multipart_new(const gchar *boundary,
				 const HeraldFilesMinioMultipartFuncs *funcs,
				 gpointer user_data);
void
herald_files_minio_multipart_free(HeraldFilesMinioMultipart *self);
gboolean
herald_files_minio_multipart_feed(HeraldFilesMinioMultipart *self,
				  const guint8 *data,
				  gsize len,
				  GError **error);
gboolean
herald_files_minio_multipart_finish(HeraldFilesMinioMultipart *self, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldFilesMinioMultipart, herald_files_minio_multipart_free)

#define HERALD_FILES_MINIO_MULTIPART_MAX_HEADERS 8192

G_END_DECLS
