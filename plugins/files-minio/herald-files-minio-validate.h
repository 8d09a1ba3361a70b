/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define HERALD_FILES_MINIO_FILENAME_MAX 200
#define HERALD_FILES_MINIO_SNIFF_BYTES 4096

gchar *
herald_files_minio_sanitize_filename(const gchar *raw, GError **error);
gchar *
herald_files_minio_get_extension(const gchar *filename);
gboolean
herald_files_minio_extension_allowed(const gchar *ext, gchar **allowed);
const gchar *
herald_files_minio_content_type_for(const gchar *ext);
gchar *
herald_files_minio_object_name_new(const gchar *safe_filename);
gchar *
herald_files_minio_object_name_parse(const gchar *encoded, GError **error);
gboolean
herald_files_minio_object_name_is_valid(const gchar *name);

/* incremental checks over the whole content: valid UTF-8, no NUL */
typedef struct {
	gboolean text_ok;
	guint8 pending[4];
	gsize n_pending;
	guint8 head[HERALD_FILES_MINIO_SNIFF_BYTES];
	gsize head_len;
} HeraldFilesMinioSniffer;

void
herald_files_minio_sniffer_init(HeraldFilesMinioSniffer *self);
void
herald_files_minio_sniffer_update(HeraldFilesMinioSniffer *self, const guint8 *data, gsize len);
gboolean
herald_files_minio_sniffer_check(HeraldFilesMinioSniffer *self,
				 const gchar *ext,
				 const gchar *path,
				 GError **error);

gchar *
herald_files_minio_base_url_from_listen(gchar **listen, gboolean *wildcard);
gboolean
herald_files_minio_public_url_is_valid(const gchar *url);

gboolean
herald_files_minio_zip_has_entries(const gchar *path, const gchar *const *names, GError **error);

G_END_DECLS
