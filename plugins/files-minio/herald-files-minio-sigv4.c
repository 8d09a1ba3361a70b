/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "herald-files-minio-sigv4.h"

typedef struct {
	gchar *name;
	gchar *value;
} HeraldSigv4Pair;

struct _HeraldFilesMinioSigv4Request {
	gchar *method;
	gchar *path;
	GPtrArray *query;   /* (element-type HeraldSigv4Pair) */
	GPtrArray *headers; /* (element-type HeraldSigv4Pair) */
};

static void
herald_sigv4_pair_free(HeraldSigv4Pair *pair)
{
	g_free(pair->name);
	g_free(pair->value);
	g_free(pair);
}

static HeraldSigv4Pair *
herald_sigv4_pair_new(const gchar *name, const gchar *value)
{
	HeraldSigv4Pair *pair = g_new0(HeraldSigv4Pair, 1);
	pair->name = g_strdup(name);
	pair->value = g_strdup(value != NULL ? value : "");
	return pair;
}

HeraldFilesMinioSigv4Request *
herald_files_minio_sigv4_request_new(const gchar *method, const gchar *path)
{
	HeraldFilesMinioSigv4Request *self = g_new0(HeraldFilesMinioSigv4Request, 1);
	self->method = g_strdup(method);
	self->path = g_strdup(path != NULL && path[0] != '\0' ? path : "/");
	self->query = g_ptr_array_new_with_free_func((GDestroyNotify)herald_sigv4_pair_free);
	self->headers = g_ptr_array_new_with_free_func((GDestroyNotify)herald_sigv4_pair_free);
	return self;
}

void
herald_files_minio_sigv4_request_free(HeraldFilesMinioSigv4Request *self)
{
	g_free(self->method);
	g_free(self->path);
	g_ptr_array_unref(self->query);
	g_ptr_array_unref(self->headers);
	g_free(self);
}

void
herald_files_minio_sigv4_request_add_query(HeraldFilesMinioSigv4Request *self,
					   const gchar *key,
					   const gchar *value)
{
	g_ptr_array_add(self->query, herald_sigv4_pair_new(key, value));
}

void
herald_files_minio_sigv4_request_add_header(HeraldFilesMinioSigv4Request *self,
					    const gchar *name,
					    const gchar *value)
{
	g_ptr_array_add(self->headers, herald_sigv4_pair_new(name, value));
}

guint
herald_files_minio_sigv4_request_get_n_headers(HeraldFilesMinioSigv4Request *self)
{
	return self->headers->len;
}

void
herald_files_minio_sigv4_request_get_header(HeraldFilesMinioSigv4Request *self,
					    guint idx,
					    const gchar **name,
					    const gchar **value)
{
	HeraldSigv4Pair *pair = g_ptr_array_index(self->headers, idx);
	*name = pair->name;
	*value = pair->value;
}

/* RFC 3986 unreserved characters stay, everything else is %XX (upper case) */
gchar *
herald_files_minio_sigv4_uri_encode(const gchar *text, gboolean encode_slash)
{
	GString *str = g_string_sized_new(strlen(text) + 16);
	for (const guchar *p = (const guchar *)text; *p != '\0'; p++) {
		if (g_ascii_isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
		    (*p == '/' && !encode_slash))
			g_string_append_c(str, (gchar)*p);
		else
			g_string_append_printf(str, "%%%02X", *p);
	}
	return g_string_free(str, FALSE);
}

gchar *
herald_files_minio_sigv4_canonical_path(HeraldFilesMinioSigv4Request *self)
{
	return herald_files_minio_sigv4_uri_encode(self->path, FALSE);
}

static gint
herald_sigv4_pair_cmp(gconstpointer a, gconstpointer b)
{
	const HeraldSigv4Pair *pa = *(const HeraldSigv4Pair **)a;
	const HeraldSigv4Pair *pb = *(const HeraldSigv4Pair **)b;
	gint rc = strcmp(pa->name, pb->name);
	if (rc != 0)
		return rc;
	return strcmp(pa->value, pb->value);
}

gchar *
herald_files_minio_sigv4_canonical_query(HeraldFilesMinioSigv4Request *self)
{
	g_autoptr(GPtrArray) encoded =
	    g_ptr_array_new_with_free_func((GDestroyNotify)herald_sigv4_pair_free);
	GString *str = g_string_new(NULL);

	for (guint i = 0; i < self->query->len; i++) {
		HeraldSigv4Pair *pair = g_ptr_array_index(self->query, i);
		HeraldSigv4Pair *enc = g_new0(HeraldSigv4Pair, 1);
		enc->name = herald_files_minio_sigv4_uri_encode(pair->name, TRUE);
		enc->value = herald_files_minio_sigv4_uri_encode(pair->value, TRUE);
		g_ptr_array_add(encoded, enc);
	}
	g_ptr_array_sort(encoded, herald_sigv4_pair_cmp);
	for (guint i = 0; i < encoded->len; i++) {
		HeraldSigv4Pair *pair = g_ptr_array_index(encoded, i);
		if (i > 0)
			g_string_append_c(str, '&');
		g_string_append_printf(str, "%s=%s", pair->name, pair->value);
	}
	return g_string_free(str, FALSE);
}

/* trim, and collapse runs of spaces into one */
static gchar *
herald_sigv4_header_value(const gchar *value)
{
	GString *str = g_string_new(NULL);
	gboolean space = FALSE;
	for (const gchar *p = value; *p != '\0'; p++) {
		if (*p == ' ' || *p == '\t') {
			space = TRUE;
			continue;
		}
		if (space && str->len > 0)
			g_string_append_c(str, ' ');
		space = FALSE;
		g_string_append_c(str, *p);
	}
	return g_string_free(str, FALSE);
}

typedef struct {
	gchar *name;
	GString *values;
	guint order;
} HeraldSigv4Header;

static void
herald_sigv4_header_free(HeraldSigv4Header *header)
{
	g_free(header->name);
	g_string_free(header->values, TRUE);
	g_free(header);
}

static gint
herald_sigv4_header_cmp(gconstpointer a, gconstpointer b)
{
	const HeraldSigv4Header *ha = *(const HeraldSigv4Header **)a;
	const HeraldSigv4Header *hb = *(const HeraldSigv4Header **)b;
	return strcmp(ha->name, hb->name);
}

gchar *
herald_files_minio_sigv4_canonical_request(HeraldFilesMinioSigv4Request *self,
					   const gchar *payload_hash,
					   gchar **signed_headers)
{
	g_autoptr(GHashTable) by_name = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GPtrArray) headers =
	    g_ptr_array_new_with_free_func((GDestroyNotify)herald_sigv4_header_free);
	g_autofree gchar *path = herald_files_minio_sigv4_canonical_path(self);
	g_autofree gchar *query = herald_files_minio_sigv4_canonical_query(self);
	GString *signed_str = g_string_new(NULL);
	GString *str = g_string_new(NULL);

	/* duplicates are joined with ',' in the order they were given */
	for (guint i = 0; i < self->headers->len; i++) {
		HeraldSigv4Pair *pair = g_ptr_array_index(self->headers, i);
		g_autofree gchar *name = g_ascii_strdown(pair->name, -1);
		g_autofree gchar *value = herald_sigv4_header_value(pair->value);
		HeraldSigv4Header *header = g_hash_table_lookup(by_name, name);
		if (header == NULL) {
			header = g_new0(HeraldSigv4Header, 1);
			header->name = g_steal_pointer(&name);
			header->values = g_string_new(value);
			g_ptr_array_add(headers, header);
			g_hash_table_insert(by_name, header->name, header);
		} else {
			g_string_append_printf(header->values, ",%s", value);
		}
	}
	g_ptr_array_sort(headers, herald_sigv4_header_cmp);

	g_string_append_printf(str, "%s\n%s\n%s\n", self->method, path, query);
	for (guint i = 0; i < headers->len; i++) {
		HeraldSigv4Header *header = g_ptr_array_index(headers, i);
		g_string_append_printf(str, "%s:%s\n", header->name, header->values->str);
		if (i > 0)
			g_string_append_c(signed_str, ';');
		g_string_append(signed_str, header->name);
	}
	g_string_append_printf(str, "\n%s\n%s", signed_str->str, payload_hash);
	if (signed_headers != NULL)
		*signed_headers = g_string_free(signed_str, FALSE);
	else
		g_string_free(signed_str, TRUE);
	return g_string_free(str, FALSE);
}

static gchar *
herald_sigv4_scope(const HeraldFilesMinioSigv4Creds *creds, const gchar *amz_date)
{
	return g_strdup_printf("%.8s/%s/%s/aws4_request", amz_date, creds->region, creds->service);
}

gchar *
herald_files_minio_sigv4_sha256_hex(const guint8 *data, gsize len)
{
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
}

gchar *
herald_files_minio_sigv4_string_to_sign(const HeraldFilesMinioSigv4Creds *creds,
					const gchar *amz_date,
					const gchar *canonical_request)
{
	g_autofree gchar *scope = herald_sigv4_scope(creds, amz_date);
	g_autofree gchar *hash = herald_files_minio_sigv4_sha256_hex(
	    (const guint8 *)canonical_request, strlen(canonical_request));
	return g_strdup_printf("AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, hash);
}

static void
herald_sigv4_hmac(const guint8 *key, gsize key_len, const gchar *data, guint8 *out, gsize *out_len)
{
	g_autoptr(GHmac) hmac = g_hmac_new(G_CHECKSUM_SHA256, key, key_len);
	g_hmac_update(hmac, (const guchar *)data, (gssize)strlen(data));
	*out_len = 32;
	g_hmac_get_digest(hmac, out, out_len);
}

gchar *
herald_files_minio_sigv4_signature(const HeraldFilesMinioSigv4Creds *creds,
				   const gchar *amz_date,
				   const gchar *string_to_sign)
{
	g_autofree gchar *secret = g_strdup_printf("AWS4%s", creds->secret_key);
	g_autofree gchar *date = g_strndup(amz_date, 8);
	guint8 k1[32], k2[32], k3[32], k4[32], sig[32];
	gsize len = 0;
	GString *hex = g_string_sized_new(64);

	herald_sigv4_hmac((const guint8 *)secret, strlen(secret), date, k1, &len);
	herald_sigv4_hmac(k1, len, creds->region, k2, &len);
	herald_sigv4_hmac(k2, len, creds->service, k3, &len);
	herald_sigv4_hmac(k3, len, "aws4_request", k4, &len);
	herald_sigv4_hmac(k4, len, string_to_sign, sig, &len);
	for (gsize i = 0; i < len; i++)
		g_string_append_printf(hex, "%02x", sig[i]);
	/* the derived keys are as sensitive as the secret */
	memset(k1, 0, sizeof(k1));
	memset(k2, 0, sizeof(k2));
	memset(k3, 0, sizeof(k3));
	memset(k4, 0, sizeof(k4));
	memset(secret, 0, strlen(secret));
	return g_string_free(hex, FALSE);
}

gchar *
herald_files_minio_sigv4_sign_headers(HeraldFilesMinioSigv4Request *self,
				      const HeraldFilesMinioSigv4Creds *creds,
				      const gchar *amz_date,
				      const gchar *payload_hash,
				      gboolean add_content_sha256)
{
	g_autofree gchar *signed_headers = NULL;
	g_autofree gchar *creq = NULL;
	g_autofree gchar *sts = NULL;
	g_autofree gchar *sig = NULL;
	g_autofree gchar *scope = herald_sigv4_scope(creds, amz_date);

	if (add_content_sha256)
		herald_files_minio_sigv4_request_add_header(
		    self, "x-amz-content-sha256", payload_hash);
	herald_files_minio_sigv4_request_add_header(self, "x-amz-date", amz_date);
	creq = herald_files_minio_sigv4_canonical_request(self, payload_hash, &signed_headers);
	sts = herald_files_minio_sigv4_string_to_sign(creds, amz_date, creq);
	sig = herald_files_minio_sigv4_signature(creds, amz_date, sts);
	return g_strdup_printf("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
			       creds->access_key,
			       scope,
			       signed_headers,
			       sig);
}

static gint
herald_sigv4_str_cmp(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const gchar **)a, *(const gchar **)b);
}

gchar *
herald_files_minio_sigv4_presign(HeraldFilesMinioSigv4Request *self,
				 const HeraldFilesMinioSigv4Creds *creds,
				 const gchar *amz_date,
				 guint64 expires_s,
				 const gchar *payload_hash)
{
	g_autofree gchar *scope = herald_sigv4_scope(creds, amz_date);
	g_autofree gchar *credential = g_strdup_printf("%s/%s", creds->access_key, scope);
	g_autofree gchar *expires = g_strdup_printf("%" G_GUINT64_FORMAT, expires_s);
	g_autofree gchar *signed_headers = NULL;
	g_autofree gchar *creq = NULL;
	g_autofree gchar *sts = NULL;
	g_autofree gchar *sig = NULL;
	g_autofree gchar *query = NULL;
	g_autoptr(GString) names = g_string_new(NULL);
	g_autoptr(GPtrArray) sorted = g_ptr_array_new();

	/* X-Amz-SignedHeaders must be known before the canonical request is built */
	for (guint i = 0; i < self->headers->len; i++) {
		HeraldSigv4Pair *pair = g_ptr_array_index(self->headers, i);
		gchar *lower = g_ascii_strdown(pair->name, -1);
		gboolean seen = FALSE;
		for (guint j = 0; j < sorted->len; j++) {
			if (g_strcmp0(g_ptr_array_index(sorted, j), lower) == 0)
				seen = TRUE;
		}
		if (seen)
			g_free(lower);
		else
			g_ptr_array_add(sorted, lower);
	}
	g_ptr_array_sort(sorted, herald_sigv4_str_cmp);
	for (guint i = 0; i < sorted->len; i++) {
		if (i > 0)
			g_string_append_c(names, ';');
		g_string_append(names, g_ptr_array_index(sorted, i));
		g_free(g_ptr_array_index(sorted, i));
	}
	herald_files_minio_sigv4_request_add_query(self, "X-Amz-Algorithm", "AWS4-HMAC-SHA256");
	herald_files_minio_sigv4_request_add_query(self, "X-Amz-Credential", credential);
	herald_files_minio_sigv4_request_add_query(self, "X-Amz-Date", amz_date);
	herald_files_minio_sigv4_request_add_query(self, "X-Amz-Expires", expires);
	herald_files_minio_sigv4_request_add_query(self, "X-Amz-SignedHeaders", names->str);
	creq = herald_files_minio_sigv4_canonical_request(self, payload_hash, &signed_headers);
	sts = herald_files_minio_sigv4_string_to_sign(creds, amz_date, creq);
	sig = herald_files_minio_sigv4_signature(creds, amz_date, sts);
	query = herald_files_minio_sigv4_canonical_query(self);
	return g_strdup_printf("%s&X-Amz-Signature=%s", query, sig);
}

gchar *
herald_files_minio_sigv4_amz_date(GDateTime *dt)
{
	g_autoptr(GDateTime) utc = g_date_time_to_utc(dt);
	return g_date_time_format(utc, "%Y%m%dT%H%M%SZ");
}
