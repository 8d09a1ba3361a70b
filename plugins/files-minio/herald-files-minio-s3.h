/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <herald.h>

G_BEGIN_DECLS

/* a small S3 client on libsoup: path-style addressing, SigV4 header signing,
 * query signing for presigned URLs; S3 XML errors become HERALD_ERROR codes */
#define HERALD_TYPE_FILES_MINIO_S3 (herald_files_minio_s3_get_type())
G_DECLARE_FINAL_TYPE(HeraldFilesMinioS3, herald_files_minio_s3, HERALD, FILES_MINIO_S3, GObject)

typedef struct {
	const gchar *endpoint; /* http(s)://host:port */
	const gchar *region;
	const gchar *bucket;
	const gchar *access_key;
	const gchar *secret_key;
	guint timeout_s;
	guint retries;
	guint64 multipart_threshold;
	guint64 part_size;
	guint max_connections;
} HeraldFilesMinioS3Options;

gboolean
herald_files_minio_s3_check_endpoint(const gchar *endpoint, GError **error);
void
herald_files_minio_s3_set_abort_retry_base_ms(HeraldFilesMinioS3 *self, guint base_ms);
HeraldFilesMinioS3 *
herald_files_minio_s3_new(const HeraldFilesMinioS3Options *options, GError **error);

void
herald_files_minio_s3_ensure_bucket_async(HeraldFilesMinioS3 *self,
					  GCancellable *cancellable,
					  GAsyncReadyCallback callback,
					  gpointer user_data);
gboolean
herald_files_minio_s3_ensure_bucket_finish(HeraldFilesMinioS3 *self,
					   GAsyncResult *res,
					   gboolean *created,
					   GError **error);

void
herald_files_minio_s3_put_file_async(HeraldFilesMinioS3 *self,
				     const gchar *key,
				     const gchar *path,
				     guint64 size,
				     const gchar *content_type,
				     const gchar *sha256_hex,
				     GCancellable *cancellable,
				     GAsyncReadyCallback callback,
				     gpointer user_data);
gboolean
herald_files_minio_s3_put_file_finish(HeraldFilesMinioS3 *self, GAsyncResult *res, GError **error);

void
herald_files_minio_s3_get_async(HeraldFilesMinioS3 *self,
				const gchar *method,
				const gchar *key,
				GCancellable *cancellable,
				GAsyncReadyCallback callback,
				gpointer user_data);
/* the body stream (HEAD: an empty one); @size and @content_type from the headers */
GInputStream *
herald_files_minio_s3_get_finish(HeraldFilesMinioS3 *self,
				 GAsyncResult *res,
				 goffset *size,
				 gchar **content_type,
				 GError **error);

void
herald_files_minio_s3_delete_async(HeraldFilesMinioS3 *self,
				   const gchar *key,
				   GCancellable *cancellable,
				   GAsyncReadyCallback callback,
				   gpointer user_data);
gboolean
herald_files_minio_s3_delete_finish(HeraldFilesMinioS3 *self, GAsyncResult *res, GError **error);

gchar *
herald_files_minio_s3_presign_get(HeraldFilesMinioS3 *self,
				  const gchar *key,
				  guint64 expires_s,
				  GDateTime *now);

void
herald_files_minio_s3_add_stats(HeraldFilesMinioS3 *self, GVariantDict *dict);

G_END_DECLS
