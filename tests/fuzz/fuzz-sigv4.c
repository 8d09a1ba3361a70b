/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * AWS Signature Version 4 as files-minio builds it: URI encoding, the
 * canonical query and request, and presigned URLs, from fuzzed paths, query
 * parameters and headers. URI encoding must decode back to its input with
 * nothing but unreserved characters left bare; the canonical forms must not
 * depend on the order parameters were added in; and a presigned URL must
 * verify the way S3 checks it: its query, decoded and signed again without
 * X-Amz-Signature, gives the same signature.
 *
 * Input: method, path, then query "name=value" and header "name:value" lines
 * until an empty line, one line each; fields up to a newline.
 */
#include "config.h"

#include "fuzz-common.h"
#include "herald-files-minio-sigv4.h"

static const HeraldFilesMinioSigv4Creds creds = {
	"AKIAFUZZ", "fuzz-secret-key-0123456789abcdef0123456789", "us-east-1", "s3",
};
static const gchar amz_date[] = "20261208T013000Z";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init_logging();
	return 0;
}

static void
check_uri_encode(const gchar *text, gboolean encode_slash)
{
	g_autofree gchar *enc = herald_files_minio_sigv4_uri_encode(text, encode_slash);
	g_autofree gchar *dec = NULL;
	for (const gchar *p = enc; *p != '\0'; p++) {
		if (*p == '%') {
			g_assert_true(g_ascii_isxdigit(p[1]) && g_ascii_isxdigit(p[2]));
			g_assert_false(g_ascii_islower(p[1]) || g_ascii_islower(p[2]));
			continue;
		}
		g_assert_true(g_ascii_isalnum(*p) || strchr("-_.~%", *p) != NULL ||
			      (*p == '/' && !encode_slash));
	}
	dec = g_uri_unescape_string(enc, NULL);
	g_assert_cmpstr(dec, ==, text);
}

typedef struct {
	gchar *name;
	gchar *value;
} Pair;

static void
pair_free(Pair *pair)
{
	g_free(pair->name);
	g_free(pair->value);
	g_free(pair);
}

static HeraldFilesMinioSigv4Request *
request_new(const gchar *method, const gchar *path, GPtrArray *query, GPtrArray *headers, gboolean reverse_query)
{
	HeraldFilesMinioSigv4Request *req = herald_files_minio_sigv4_request_new(method, path);
	for (guint k = 0; k < query->len; k++) {
		Pair *pair = g_ptr_array_index(query, reverse_query ? query->len - 1 - k : k);
		herald_files_minio_sigv4_request_add_query(req, pair->name, pair->value);
	}
	for (guint k = 0; k < headers->len; k++) {
		Pair *pair = g_ptr_array_index(headers, k);
		herald_files_minio_sigv4_request_add_header(req, pair->name, pair->value);
	}
	return req;
}

/* what S3 does with a presigned URL: decode its query, drop the signature,
 * sign again, compare */
static void
check_presigned(const gchar *method, const gchar *path, const gchar *query, GPtrArray *headers)
{
	g_auto(GStrv) params = g_strsplit(query, "&", -1);
	g_autoptr(HeraldFilesMinioSigv4Request) req = herald_files_minio_sigv4_request_new(method, path);
	g_autofree gchar *signature = NULL;
	g_autofree gchar *creq = NULL;
	g_autofree gchar *sts = NULL;
	g_autofree gchar *again = NULL;

	for (guint i = 0; params[i] != NULL; i++) {
		gchar *eq = strchr(params[i], '=');
		g_autofree gchar *name = NULL;
		g_autofree gchar *value = NULL;
		g_assert_nonnull(eq);
		g_assert_null(strchr(eq + 1, '='));
		*eq = '\0';
		name = g_uri_unescape_string(params[i], NULL);
		value = g_uri_unescape_string(eq + 1, NULL);
		g_assert_nonnull(name);
		g_assert_nonnull(value);
		if (g_str_equal(name, "X-Amz-Signature")) {
			g_assert_null(signature);
			signature = g_steal_pointer(&value);
			continue;
		}
		herald_files_minio_sigv4_request_add_query(req, name, value);
	}
	g_assert_nonnull(signature);
	g_assert_cmpuint(strlen(signature), ==, 64);
	for (guint k = 0; k < headers->len; k++) {
		Pair *pair = g_ptr_array_index(headers, k);
		herald_files_minio_sigv4_request_add_header(req, pair->name, pair->value);
	}
	creq = herald_files_minio_sigv4_canonical_request(req, HERALD_FILES_MINIO_SIGV4_UNSIGNED_PAYLOAD, NULL);
	sts = herald_files_minio_sigv4_string_to_sign(&creds, amz_date, creq);
	again = herald_files_minio_sigv4_signature(&creds, amz_date, sts);
	g_assert_cmpstr(again, ==, signature);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzInput in = {data, size};
	g_autofree gchar *method = fuzz_take_until(&in, '\n', NULL);
	g_autofree gchar *path = fuzz_take_until(&in, '\n', NULL);
	g_autoptr(GPtrArray) query = g_ptr_array_new_with_free_func((GDestroyNotify)pair_free);
	g_autoptr(GPtrArray) headers = g_ptr_array_new_with_free_func((GDestroyNotify)pair_free);
	g_autoptr(HeraldFilesMinioSigv4Request) forward = NULL;
	g_autoptr(HeraldFilesMinioSigv4Request) backward = NULL;
	g_autofree gchar *q1 = NULL;
	g_autofree gchar *q2 = NULL;
	g_autofree gchar *c1 = NULL;
	g_autofree gchar *c2 = NULL;
	g_autofree gchar *signed1 = NULL;
	g_autofree gchar *presigned = NULL;
	gboolean duplicate_query = FALSE;

	if (method[0] == '\0' || path[0] != '/')
		return 0;
	while (in.size > 0) {
		g_autofree gchar *line = fuzz_take_until(&in, '\n', NULL);
		gchar *sep;
		Pair *pair;
		if (line[0] == '\0')
			break;
		sep = strpbrk(line, "=:");
		if (sep == NULL)
			continue;
		pair = g_new0(Pair, 1);
		pair->value = g_strdup(sep + 1);
		pair->name = g_strndup(line, sep - line);
		g_ptr_array_add(*sep == '=' ? query : headers, pair);
	}

	check_uri_encode(path, FALSE);
	check_uri_encode(path, TRUE);
	for (guint i = 0; i < query->len; i++) {
		Pair *pair = g_ptr_array_index(query, i);
		check_uri_encode(pair->name, TRUE);
		check_uri_encode(pair->value, TRUE);
		for (guint j = 0; j < i; j++)
			duplicate_query |= g_str_equal(pair->name, ((Pair *)g_ptr_array_index(query, j))->name);
	}

	/* the order of query parameters never matters (they are sorted) */
	forward = request_new(method, path, query, headers, FALSE);
	backward = request_new(method, path, query, headers, TRUE);
	q1 = herald_files_minio_sigv4_canonical_query(forward);
	q2 = herald_files_minio_sigv4_canonical_query(backward);
	g_assert_cmpstr(q1, ==, q2);
	c1 = herald_files_minio_sigv4_canonical_request(forward, HERALD_FILES_MINIO_SIGV4_EMPTY_SHA256, &signed1);
	c2 = herald_files_minio_sigv4_canonical_request(backward, HERALD_FILES_MINIO_SIGV4_EMPTY_SHA256, NULL);
	g_assert_cmpstr(c1, ==, c2);
	g_assert_true(g_str_has_prefix(c1, method));
	g_assert_true(g_str_has_suffix(c1, HERALD_FILES_MINIO_SIGV4_EMPTY_SHA256));
	{
		g_autofree gchar *sts = herald_files_minio_sigv4_string_to_sign(&creds, amz_date, c1);
		g_autofree gchar *sig = herald_files_minio_sigv4_signature(&creds, amz_date, sts);
		g_assert_cmpuint(strlen(sig), ==, 64);
	}

	/* a presigned URL carries its own X-Amz-* parameters: ones the caller
	 * added would be duplicates S3 refuses */
	for (guint i = 0; i < query->len; i++)
		if (g_ascii_strncasecmp(((Pair *)g_ptr_array_index(query, i))->name, "X-Amz-", 6) == 0)
			return 0;
	presigned = herald_files_minio_sigv4_presign(forward, &creds, amz_date, 3600,
						     HERALD_FILES_MINIO_SIGV4_UNSIGNED_PAYLOAD);
	g_assert_true(g_str_has_prefix(presigned, "") && strstr(presigned, "X-Amz-Signature=") != NULL);
	if (!duplicate_query)
		check_presigned(method, path, presigned, headers);
	return 0;
}
