/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "herald-files-minio-sigv4.h"

/* ---- published vectors (sigv4-vectors/ORIGIN.md) ---- */

typedef struct {
	gchar *method;
	gchar *path;
	GPtrArray *query;   /* key, value, … (decoded) */
	GPtrArray *headers; /* name, value, … */
	GBytes *body;
} TestRequest;

static void
test_request_free(TestRequest *req)
{
	g_free(req->method);
	g_free(req->path);
	g_ptr_array_unref(req->query);
	g_ptr_array_unref(req->headers);
	g_bytes_unref(req->body);
	g_free(req);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestRequest, test_request_free)

static gchar *
test_read(const gchar *dir, const gchar *name)
{
	g_autofree gchar *path = g_build_filename(dir, name, NULL);
	g_autoptr(GError) error = NULL;
	gchar *contents = NULL;
	g_file_get_contents(path, &contents, NULL, &error);
	g_assert_no_error(error);
	return contents;
}

static TestRequest *
test_request_parse(const gchar *text)
{
	TestRequest *req = g_new0(TestRequest, 1);
	gssize body_off = -1;
	g_autofree gchar *head = NULL;
	g_auto(GStrv) lines = NULL;
	g_auto(GStrv) first = NULL;
	const gchar *q;

	/* the body starts after the first empty line */
	for (gssize i = 0; text[i] != '\0'; i++) {
		if (text[i] == '\n' && text[i + 1] == '\n') {
			body_off = i + 2;
			break;
		}
	}
	head = body_off >= 0 ? g_strndup(text, body_off - 2) : g_strdup(text);
	lines = g_strsplit(head, "\n", -1);
	first = g_strsplit(lines[0], " ", 3);

	req->query = g_ptr_array_new_with_free_func(g_free);
	req->headers = g_ptr_array_new_with_free_func(g_free);
	req->method = g_strdup(first[0]);
	q = strchr(first[1], '?');
	req->path = q != NULL ? g_strndup(first[1], q - first[1]) : g_strdup(first[1]);
	if (q != NULL && q[1] != '\0') {
		g_auto(GStrv) pairs = g_strsplit(q + 1, "&", -1);
		for (guint i = 0; pairs[i] != NULL; i++) {
			const gchar *eq = strchr(pairs[i], '=');
			g_autofree gchar *k = eq != NULL ? g_strndup(pairs[i], eq - pairs[i])
							 : g_strdup(pairs[i]);
			g_ptr_array_add(req->query, g_uri_unescape_string(k, NULL));
			g_ptr_array_add(req->query,
					g_uri_unescape_string(eq != NULL ? eq + 1 : "", NULL));
		}
	}
	for (guint i = 1; lines[i] != NULL; i++) {
		const gchar *colon = strchr(lines[i], ':');
		if (lines[i][0] == '\0')
			continue;
		g_assert_nonnull(colon);
		g_ptr_array_add(req->headers, g_strndup(lines[i], colon - lines[i]));
		g_ptr_array_add(req->headers, g_strdup(colon + 1));
	}
	req->body = body_off >= 0 ? g_bytes_new(text + body_off, strlen(text + body_off))
				  : g_bytes_new(NULL, 0);
	return req;
}

static HeraldFilesMinioSigv4Request *
test_request_to_sigv4(TestRequest *req)
{
	HeraldFilesMinioSigv4Request *s =
	    herald_files_minio_sigv4_request_new(req->method, req->path);
	for (guint i = 0; i + 1 < req->query->len; i += 2)
		herald_files_minio_sigv4_request_add_query(
		    s, g_ptr_array_index(req->query, i), g_ptr_array_index(req->query, i + 1));
	for (guint i = 0; i + 1 < req->headers->len; i += 2)
		herald_files_minio_sigv4_request_add_header(
		    s, g_ptr_array_index(req->headers, i), g_ptr_array_index(req->headers, i + 1));
	return s;
}

static gchar *
test_strip(gchar *text)
{
	return g_strchomp(text);
}

static void
test_vector(gconstpointer data)
{
	const gchar *dir = data;
	g_autofree gchar *ctx_text = test_read(dir, "context.json");
	g_autofree gchar *req_text = test_read(dir, "request.txt");
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(TestRequest) req = NULL;
	g_autoptr(GDateTime) when = NULL;
	g_autofree gchar *amz_date = NULL;
	g_autofree gchar *payload = NULL;
	g_autofree gchar *header_file = g_build_filename(dir, "header-signature.txt", NULL);
	JsonObject *ctx, *creds_obj;
	HeraldFilesMinioSigv4Creds creds;
	gboolean sign_body, unsigned_payload;

	json_parser_load_from_data(parser, ctx_text, -1, &error);
	g_assert_no_error(error);
	ctx = json_node_get_object(json_parser_get_root(parser));
	creds_obj = json_object_get_object_member(ctx, "credentials");
	creds.access_key = json_object_get_string_member(creds_obj, "access_key_id");
	creds.secret_key = json_object_get_string_member(creds_obj, "secret_access_key");
	creds.region = json_object_get_string_member(ctx, "region");
	creds.service = json_object_get_string_member(ctx, "service");
	sign_body = json_object_get_boolean_member(ctx, "sign_body");
	unsigned_payload =
	    json_object_get_boolean_member_with_default(ctx, "unsigned_payload", FALSE);
	when = g_date_time_new_from_iso8601(json_object_get_string_member(ctx, "timestamp"), NULL);
	g_assert_nonnull(when);
	amz_date = herald_files_minio_sigv4_amz_date(when);
	req = test_request_parse(req_text);
	payload = unsigned_payload
		      ? g_strdup(HERALD_FILES_MINIO_SIGV4_UNSIGNED_PAYLOAD)
		      : herald_files_minio_sigv4_sha256_hex(g_bytes_get_data(req->body, NULL),
							    g_bytes_get_size(req->body));

	/* header signing */
	if (g_file_test(header_file, G_FILE_TEST_EXISTS)) {
		g_autoptr(HeraldFilesMinioSigv4Request) s = test_request_to_sigv4(req);
		g_autofree gchar *authz =
		    herald_files_minio_sigv4_sign_headers(s, &creds, amz_date, payload, sign_body);
		g_autofree gchar *creq =
		    herald_files_minio_sigv4_canonical_request(s, payload, NULL);
		g_autofree gchar *want_creq =
		    test_strip(test_read(dir, "header-canonical-request.txt"));
		g_autofree gchar *want_sig = test_strip(test_read(dir, "header-signature.txt"));
		g_autofree gchar *want_tail = g_strdup_printf("Signature=%s", want_sig);
		g_assert_cmpstr(creq, ==, want_creq);
		g_assert_true(g_str_has_suffix(authz, want_tail));
	}
	/* query signing: the presigned-URL variant */
	{
		g_autoptr(HeraldFilesMinioSigv4Request) s = test_request_to_sigv4(req);
		guint64 expires = (guint64)json_object_get_int_member(ctx, "expiration_in_seconds");
		g_autofree gchar *query =
		    herald_files_minio_sigv4_presign(s, &creds, amz_date, expires, payload);
		g_autofree gchar *creq =
		    herald_files_minio_sigv4_canonical_request(s, payload, NULL);
		g_autofree gchar *want_creq =
		    test_strip(test_read(dir, "query-canonical-request.txt"));
		g_autofree gchar *want_sig = test_strip(test_read(dir, "query-signature.txt"));
		g_autofree gchar *want_tail = g_strdup_printf("&X-Amz-Signature=%s", want_sig);
		g_assert_cmpstr(creq, ==, want_creq);
		g_assert_true(g_str_has_suffix(query, want_tail));
	}
}

static void
test_uri_encode(void)
{
	g_autofree gchar *a = herald_files_minio_sigv4_uri_encode("/a b/ñ~._-+=&", FALSE);
	g_autofree gchar *b = herald_files_minio_sigv4_uri_encode("a/b", TRUE);
	g_assert_cmpstr(a, ==, "/a%20b/%C3%B1~._-%2B%3D%26");
	g_assert_cmpstr(b, ==, "a%2Fb");
}

/* ---- random requests against Debian's botocore ---- */

static gchar *
test_random_text(GRand *rand, gboolean allow_slash)
{
	/* unreserved, reserved, space, non-ASCII: everything a key may hold */
	static const gchar *pieces[] = {"a", "Z", "0", "-", "_", ".", "~", " ", "+",	"=",
					"&", "%", "!", "*", "'", "(", ")", ",", ";",	":",
					"@", "$", "ñ", "ü", "€", "ሴ", "x", "y", "file", "/"};
	GString *str = g_string_new(NULL);
	guint n = (guint)g_rand_int_range(rand, 1, 12);
	for (guint i = 0; i < n; i++) {
		const gchar *p =
		    pieces[g_rand_int_range(rand, 0, G_N_ELEMENTS(pieces) - (allow_slash ? 0 : 1))];
		g_string_append(str, p);
	}
	return g_string_free(str, FALSE);
}

static void
test_botocore(void)
{
	const gchar *python = "/usr/bin/python3";
	g_autofree gchar *script = g_test_build_filename(G_TEST_DIST, "botocore-sign.py", NULL);
	g_autoptr(GRand) rand = g_rand_new_with_seed(20260101);
	g_autoptr(GString) input = g_string_new(NULL);
	g_autoptr(GPtrArray) expected = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;
	g_auto(GStrv) lines = NULL;
	const guint n = 200;
	guint checked = 0;

	if (!g_file_test(python, G_FILE_TEST_IS_EXECUTABLE))
		g_error("%s is required (python3-botocore)", python);
	for (guint i = 0; i < n; i++) {
		g_autofree gchar *bucket =
		    g_strdup_printf("bucket-%u", g_rand_int_range(rand, 0, 100));
		g_autofree gchar *key = test_random_text(rand, TRUE);
		g_autofree gchar *path = g_strdup_printf("/%s/%s", bucket, key);
		g_autofree gchar *epath = herald_files_minio_sigv4_uri_encode(path, FALSE);
		const gchar *methods[] = {"GET", "PUT", "HEAD", "DELETE", "POST"};
		const gchar *method = methods[g_rand_int_range(rand, 0, G_N_ELEMENTS(methods))];
		const gchar *region = g_rand_boolean(rand) ? "us-east-1" : "eu-west-3";
		gboolean presign = g_rand_boolean(rand);
		guint64 expires = (guint64)g_rand_int_range(rand, 1, 604801);
		guint n_query = (guint)g_rand_int_range(rand, 0, 4);
		g_autofree gchar *secret = test_random_text(rand, TRUE);
		g_autoptr(GDateTime) when = g_date_time_new_from_unix_utc(
		    1400000000 + g_rand_int_range(rand, 0, 400000000));
		g_autofree gchar *amz_date = herald_files_minio_sigv4_amz_date(when);
		g_autoptr(HeraldFilesMinioSigv4Request) req = NULL;
		g_autoptr(GString) url = g_string_new("http://127.0.0.1:9000");
		g_autoptr(JsonBuilder) builder = json_builder_new();
		g_autoptr(JsonNode) root = NULL;
		g_autofree gchar *line = NULL;
		HeraldFilesMinioSigv4Creds creds = {"AKIDEXAMPLE", secret, region, "s3"};

		if (presign)
			method = "GET";
		req = herald_files_minio_sigv4_request_new(method, path);
		g_string_append(url, epath);
		for (guint j = 0; j < n_query; j++) {
			g_autofree gchar *k = test_random_text(rand, TRUE);
			g_autofree gchar *v = g_rand_boolean(rand) ? test_random_text(rand, TRUE)
								   : g_strdup("");
			g_autofree gchar *ek = herald_files_minio_sigv4_uri_encode(k, TRUE);
			g_autofree gchar *ev = herald_files_minio_sigv4_uri_encode(v, TRUE);
			g_string_append_printf(url, "%c%s=%s", j == 0 ? '?' : '&', ek, ev);
			herald_files_minio_sigv4_request_add_query(req, k, v);
		}
		herald_files_minio_sigv4_request_add_header(req, "host", "127.0.0.1:9000");
		if (presign) {
			g_autofree gchar *q = herald_files_minio_sigv4_presign(
			    req,
			    &creds,
			    amz_date,
			    expires,
			    HERALD_FILES_MINIO_SIGV4_UNSIGNED_PAYLOAD);
			const gchar *sig = strstr(q, "X-Amz-Signature=");
			g_assert_nonnull(sig);
			g_ptr_array_add(expected, g_strdup(sig + strlen("X-Amz-Signature=")));
		} else {
			g_autofree gchar *authz = herald_files_minio_sigv4_sign_headers(
			    req, &creds, amz_date, HERALD_FILES_MINIO_SIGV4_EMPTY_SHA256, TRUE);
			g_ptr_array_add(expected, g_strdup(strstr(authz, "Signature=") + 10));
		}
		json_builder_begin_object(builder);
		json_builder_set_member_name(builder, "method");
		json_builder_add_string_value(builder, method);
		json_builder_set_member_name(builder, "url");
		json_builder_add_string_value(builder, url->str);
		json_builder_set_member_name(builder, "region");
		json_builder_add_string_value(builder, region);
		json_builder_set_member_name(builder, "access_key");
		json_builder_add_string_value(builder, "AKIDEXAMPLE");
		json_builder_set_member_name(builder, "secret_key");
		json_builder_add_string_value(builder, secret);
		json_builder_set_member_name(builder, "timestamp");
		json_builder_add_string_value(builder, amz_date);
		json_builder_set_member_name(builder, "expires");
		json_builder_add_int_value(builder, presign ? (gint64)expires : 0);
		json_builder_end_object(builder);
		root = json_builder_get_root(builder);
		line = json_to_string(root, FALSE);
		g_string_append_printf(input, "%s\n", line);
	}
	proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
				&error,
				python,
				script,
				NULL);
	g_assert_no_error(error);
	g_subprocess_communicate_utf8(proc, input->str, NULL, &out, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(g_subprocess_get_if_exited(proc));
	g_assert_cmpint(g_subprocess_get_exit_status(proc), ==, 0);
	lines = g_strsplit(out, "\n", -1);
	for (guint i = 0; i < n; i++) {
		g_autoptr(JsonParser) parser = json_parser_new();
		JsonObject *obj;
		const gchar *sig;
		g_assert_nonnull(lines[i]);
		json_parser_load_from_data(parser, lines[i], -1, &error);
		g_assert_no_error(error);
		obj = json_node_get_object(json_parser_get_root(parser));
		if (json_object_has_member(obj, "url"))
			sig =
			    strstr(json_object_get_string_member(obj, "url"), "X-Amz-Signature=") +
			    16;
		else
			sig = strstr(json_object_get_string_member(obj, "authorization"),
				     "Signature=") +
			      10;
		if (g_strcmp0(sig, g_ptr_array_index(expected, i)) != 0) {
			g_auto(GStrv) in_lines = g_strsplit(input->str, "\n", -1);
			g_error("request %u differs from botocore: %s\n%s vs %s",
				i,
				in_lines[i],
				sig,
				(const gchar *)g_ptr_array_index(expected, i));
		}
		checked++;
	}
	g_assert_cmpuint(checked, ==, n);
}

static gint
test_name_cmp(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const gchar **)a, *(const gchar **)b);
}

int
main(int argc, char **argv)
{
	g_autofree gchar *vectors = NULL;
	g_autoptr(GDir) dir = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
	const gchar *name;

	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	vectors = g_test_build_filename(G_TEST_DIST, "sigv4-vectors", NULL);
	dir = g_dir_open(vectors, 0, NULL);
	g_assert_nonnull(dir);
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename(vectors, name, NULL);
		if (g_file_test(path, G_FILE_TEST_IS_DIR))
			g_ptr_array_add(names, g_strdup(name));
	}
	g_ptr_array_sort(names, test_name_cmp);
	for (guint i = 0; i < names->len; i++) {
		g_autofree gchar *test = g_strdup_printf(
		    "/files-minio/sigv4/vector/%s", (const gchar *)g_ptr_array_index(names, i));
		gchar *path = g_build_filename(vectors, g_ptr_array_index(names, i), NULL);
		g_ptr_array_add(paths, path);
		g_test_add_data_func(test, path, test_vector);
	}
	g_test_add_func("/files-minio/sigv4/uri-encode", test_uri_encode);
	g_test_add_func("/files-minio/sigv4/botocore-random", test_botocore);
	return g_test_run();
}
