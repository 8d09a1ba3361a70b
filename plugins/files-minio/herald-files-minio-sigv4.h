/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* AWS Signature Version 4 as S3 and MinIO check it: a single URI encoding of the
 * path ('/' kept), no path normalization, query pairs sorted by encoded key then
 * value, header values trimmed with inner runs of spaces collapsed */

typedef struct {
	const gchar *access_key;
	const gchar *secret_key;
	const gchar *region;
	const gchar *service;
} HeraldFilesMinioSigv4Creds;

typedef struct _HeraldFilesMinioSigv4Request HeraldFilesMinioSigv4Request;

HeraldFilesMinioSigv4Request *
herald_files_minio_sigv4_request_new(const gchar *method, const gchar *path);
void
herald_files_minio_sigv4_request_free(HeraldFilesMinioSigv4Request *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldFilesMinioSigv4Request, herald_files_minio_sigv4_request_free)

/* @key and @value decoded; the signer encodes them */
void
herald_files_minio_sigv4_request_add_query(HeraldFilesMinioSigv4Request *self,
					   const gchar *key,
					   const gchar *value);
void
herald_files_minio_sigv4_request_add_header(HeraldFilesMinioSigv4Request *self,
					    const gchar *name,
					    const gchar *value);
guint
herald_files_minio_sigv4_request_get_n_headers(HeraldFilesMinioSigv4Request *self);
void
herald_files_minio_sigv4_request_get_header(HeraldFilesMinioSigv4Request *self,
					    guint idx,
					    const gchar **name,
					    const gchar **value);

gchar *
herald_files_minio_sigv4_uri_encode(const gchar *text, gboolean encode_slash);
gchar *
herald_files_minio_sigv4_canonical_path(HeraldFilesMinioSigv4Request *self);
gchar *
herald_files_minio_sigv4_canonical_query(HeraldFilesMinioSigv4Request *self);
gchar *
herald_files_minio_sigv4_canonical_request(HeraldFilesMinioSigv4Request *self,
					   const gchar *payload_hash,
					   gchar **signed_headers);
gchar *
herald_files_minio_sigv4_string_to_sign(const HeraldFilesMinioSigv4Creds *creds,
					const gchar *amz_date,
					const gchar *canonical_request);
gchar *
herald_files_minio_sigv4_signature(const HeraldFilesMinioSigv4Creds *creds,
				   const gchar *amz_date,
				   const gchar *string_to_sign);

/* adds `x-amz-date` (and `x-amz-content-sha256` when @add_content_sha256) to
 * @self and returns the `Authorization` header value */
gchar *
herald_files_minio_sigv4_sign_headers(HeraldFilesMinioSigv4Request *self,
				      const HeraldFilesMinioSigv4Creds *creds,
				      const gchar *amz_date,
				      const gchar *payload_hash,
				      gboolean add_content_sha256);

/* adds the X-Amz-* query parameters and returns the full canonical query string
 * including X-Amz-Signature, ready to append after '?' */
gchar *
herald_files_minio_sigv4_presign(HeraldFilesMinioSigv4Request *self,
				 const HeraldFilesMinioSigv4Creds *creds,
				 const gchar *amz_date,
				 guint64 expires_s,
				 const gchar *payload_hash);

gchar *
herald_files_minio_sigv4_amz_date(GDateTime *dt);
gchar *
herald_files_minio_sigv4_sha256_hex(const guint8 *data, gsize len);

#define HERALD_FILES_MINIO_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define HERALD_FILES_MINIO_SIGV4_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

G_END_DECLS
