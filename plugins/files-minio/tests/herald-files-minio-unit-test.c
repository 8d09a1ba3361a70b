/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <herald.h>
#include <string.h>

#include "herald-files-minio-multipart.h"
#include "herald-files-minio-s3.h"
#include "herald-files-minio-validate.h"

typedef struct {
	GPtrArray *names;
	GPtrArray *filenames;
	GString *data; /* every part's data, parts separated by '|' */
	guint ended;
} Collect;

static gboolean
collect_begin(const gchar *name,
	      const gchar *filename,
	      const gchar *content_type,
	      gpointer user_data,
	      GError **error)
{
	Collect *c = user_data;
	g_ptr_array_add(c->names, g_strdup(name));
	g_ptr_array_add(c->filenames, g_strdup(filename != NULL ? filename : "(none)"));
	return TRUE;
}

static gboolean
collect_data(const guint8 *data, gsize len, gpointer user_data, GError **error)
{
	Collect *c = user_data;
	g_string_append_len(c->data, (const gchar *)data, (gssize)len);
	return TRUE;
}

static gboolean
collect_end(gpointer user_data, GError **error)
{
	Collect *c = user_data;
	g_string_append_c(c->data, '|');
	c->ended++;
	return TRUE;
}

static const HeraldFilesMinioMultipartFuncs collect_funcs = {collect_begin,
							     collect_data,
							     collect_end};

static Collect *
collect_new(void)
{
	Collect *c = g_new0(Collect, 1);
	c->names = g_ptr_array_new_with_free_func(g_free);
	c->filenames = g_ptr_array_new_with_free_func(g_free);
	c->data = g_string_new(NULL);
	return c;
}

static void
collect_free(Collect *c)
{
	g_ptr_array_unref(c->names);
	g_ptr_array_unref(c->filenames);
	g_string_free(c->data, TRUE);
	g_free(c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Collect, collect_free)

/* feed @body in pieces of @step bytes: boundaries split anywhere must not matter */
static gboolean
parse_in_steps(const gchar *body, gsize step, Collect *c, GError **error)
{
	g_autoptr(HeraldFilesMinioMultipart) mp =
	    herald_files_minio_multipart_new("XyZ", &collect_funcs, c);
	gsize len = strlen(body);
	for (gsize off = 0; off < len; off += step) {
		if (!herald_files_minio_multipart_feed(
			mp, (const guint8 *)body + off, MIN(step, len - off), error))
			return FALSE;
	}
	return herald_files_minio_multipart_finish(mp, error);
}

static const gchar *good_body =
    "preamble\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"note\"\r\n\r\n"
    "hello\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"a %22b%22\\c.csv\"\r\n"
    "Content-Type: text/csv\r\n\r\n"
    "x,y\r\n--Xy,1\r\n\r\n--XY\r\n"
    "\r\n--XyZ--\r\nepilogue";

static void
test_multipart_good(void)
{
	for (gsize step = 1; step <= strlen(good_body); step++) {
		g_autoptr(Collect) c = collect_new();
		g_autoptr(GError) error = NULL;
		if (!parse_in_steps(good_body, step, c, &error))
			g_error("step %" G_GSIZE_FORMAT ": %s", step, error->message);
		g_assert_cmpuint(c->names->len, ==, 2);
		g_assert_cmpstr(g_ptr_array_index(c->names, 0), ==, "note");
		g_assert_cmpstr(g_ptr_array_index(c->filenames, 0), ==, "(none)");
		g_assert_cmpstr(g_ptr_array_index(c->names, 1), ==, "file");
		g_assert_cmpstr(g_ptr_array_index(c->filenames, 1), ==, "a %22b%22\\c.csv");
		g_assert_cmpstr(c->data->str, ==, "hello|x,y\r\n--Xy,1\r\n\r\n--XY\r\n|");
		g_assert_cmpuint(c->ended, ==, 2);
	}
}

static void
test_multipart_bad(void)
{
	const struct {
		const gchar *body;
		const gchar *message;
	} cases[] = {
	    /* truncated: no closing delimiter */
	    {"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
	     "filename=\"a.csv\"\r\n\r\nabc",
	     "truncated"},
	    /* NUL in a file name */
	    {"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
	     "filename=\"a\0b.csv\"\r\n\r\nabc\r\n--XyZ--",
	     NULL},
	    /* bare LF in a file name */
	    {"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
	     "filename=\"a\nb.csv\"\r\n\r\nabc\r\n--XyZ--",
	     "control character"},
	    {"--XyZ\r\nContent-Type: text/plain\r\n\r\nabc\r\n--XyZ--", "Content-Disposition"},
	    {"--XyZ\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--XyZ--", "field name"},
	    {"--XyZgarbage\r\n", "malformed"},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(Collect) c = collect_new();
		g_autoptr(GError) error = NULL;
		if (cases[i].message == NULL) {
			/* a NUL: strlen would stop at it, feed the real bytes */
			const gchar *body = cases[i].body;
			gsize len = strlen(body) + 1 + strlen(body + strlen(body) + 1);
			g_autoptr(HeraldFilesMinioMultipart) mp =
			    herald_files_minio_multipart_new("XyZ", &collect_funcs, c);
			g_assert_false(herald_files_minio_multipart_feed(
			    mp, (const guint8 *)body, len, &error));
			g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
			g_assert_nonnull(strstr(error->message, "control character"));
			continue;
		}
		g_assert_false(parse_in_steps(cases[i].body, 7, c, &error));
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
		if (strstr(error->message, cases[i].message) == NULL)
			g_error("case %u: '%s' lacks '%s'", i, error->message, cases[i].message);
	}
}

static void
test_boundary(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *b = herald_files_minio_multipart_get_boundary(
	    "multipart/form-data; boundary=\"----abc\"", &error);
	g_autofree gchar *none = NULL;
	g_assert_no_error(error);
	g_assert_cmpstr(b, ==, "----abc");
	none = herald_files_minio_multipart_get_boundary("multipart/form-data", &error);
	g_assert_null(none);
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_null(herald_files_minio_multipart_get_boundary("application/json", &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_UNSUPPORTED_MEDIA);
}

static void
test_filenames(void)
{
	const gchar *bad[] = {"../../etc/passwd",
			      "a/b.csv",
			      "a\\b.csv",
			      "..csv",
			      "a\nb.csv",
			      "a\rb.csv",
			      "a\x01.csv",
			      "",
			      "\xff\xfe.csv"};
	g_autofree gchar *long_name = g_strnfill(HERALD_FILES_MINIO_FILENAME_MAX + 1, 'a');
	g_autoptr(GError) error = NULL;
	g_autofree gchar *ok =
	    herald_files_minio_sanitize_filename("Ofertas año 2026 (1).XLSX", &error);
	g_autofree gchar *ext = NULL;

	g_assert_no_error(error);
	g_assert_cmpstr(ok, ==, "Ofertas_a_o_2026__1_.XLSX");
	ext = herald_files_minio_get_extension(ok);
	g_assert_cmpstr(ext, ==, ".xlsx");
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree gchar *s = herald_files_minio_sanitize_filename(bad[i], &error);
		g_assert_null(s);
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
		g_clear_error(&error);
	}
	g_assert_null(herald_files_minio_sanitize_filename(long_name, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
}

static void
test_object_names(void)
{
	const gchar *bad[] = {"..%2f..%2fetc%2fpasswd",
			      "%2e%2e%2f",
			      "a%2fb",
			      "a%00b",
			      "..",
			      ".hidden",
			      "a b",
			      "%",
			      "a/b"};
	g_autofree gchar *fresh = herald_files_minio_object_name_new("x.csv");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *parsed = herald_files_minio_object_name_parse(fresh, &error);

	g_assert_no_error(error);
	g_assert_cmpstr(parsed, ==, fresh);
	g_assert_true(herald_files_minio_object_name_is_valid(fresh));
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree gchar *s = herald_files_minio_object_name_parse(bad[i], &error);
		if (s != NULL)
			g_error("'%s' was accepted as '%s'", bad[i], s);
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
		g_clear_error(&error);
	}
}

static gboolean
sniff(const gchar *ext, const guint8 *data, gsize len, GError **error)
{
	HeraldFilesMinioSniffer s;
	g_autofree gchar *dir = g_dir_make_tmp("herald-sniff-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "f", NULL);
	gboolean ok;
	herald_files_minio_sniffer_init(&s);
	/* split anywhere, multi-byte characters included */
	for (gsize off = 0; off < len; off += 3)
		herald_files_minio_sniffer_update(&s, data + off, MIN(3, len - off));
	g_assert_true(g_file_set_contents(path, (const gchar *)data, (gssize)len, NULL));
	ok = herald_files_minio_sniffer_check(&s, ext, path, error);
	g_unlink(path);
	g_rmdir(dir);
	return ok;
}

static void
test_sniff(void)
{
	const gchar *csv = "nombre,precio\nfreno ñandú,12€\n";
	const guint8 pe[] = {'M', 'Z', 0x90, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0xff, 0xff, 0, 0};
	const guint8 ole[] = {0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0, 0, 0, 0};
	const guint8 latin1[] = {'a', ',', 0xf1, '\n'};
	g_autofree gchar *template_path = NULL;
	g_autofree gchar *xlsx = NULL;
	gsize xlsx_len = 0;
	g_autoptr(GError) error = NULL;

	g_assert_true(sniff(".csv", (const guint8 *)csv, strlen(csv), &error));
	g_assert_no_error(error);
	g_assert_false(sniff(".csv", pe, sizeof(pe), &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_UNSUPPORTED_MEDIA);
	g_clear_error(&error);
	g_assert_false(sniff(".csv", latin1, sizeof(latin1), &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_UNSUPPORTED_MEDIA);
	g_clear_error(&error);
	g_assert_true(sniff(".xls", ole, sizeof(ole), &error));
	g_assert_no_error(error);
	g_assert_false(sniff(".xls", (const guint8 *)csv, strlen(csv), &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_UNSUPPORTED_MEDIA);
	g_clear_error(&error);

	template_path =
	    g_build_filename(g_getenv("HERALD_TEST_TEMPLATES_DIR"), "ofertas.xlsx", NULL);
	g_assert_true(g_file_get_contents(template_path, &xlsx, &xlsx_len, NULL));
	g_assert_true(sniff(".xlsx", (const guint8 *)xlsx, xlsx_len, &error));
	g_assert_no_error(error);
	/* a zip renamed .xls, and an OLE2 file renamed .xlsx */
	g_assert_false(sniff(".xls", (const guint8 *)xlsx, xlsx_len, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_UNSUPPORTED_MEDIA);
	g_clear_error(&error);
	g_assert_false(sniff(".xlsx", ole, sizeof(ole), &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_UNSUPPORTED_MEDIA);
	g_clear_error(&error);
	g_assert_false(sniff(".csv", (const guint8 *)"", 0, &error));
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT);
}

/* ---------------------------------------------- multipart abort, retried */

typedef struct {
	guint deletes;
	guint fail_deletes; /* the first N aborts answer 500 */
	guint parts;
} FakeS3;

static void
fake_s3_cb(SoupServer *server,
	   SoupServerMessage *msg,
	   const char *path,
	   GHashTable *query,
	   gpointer user_data)
{
	FakeS3 *fake = user_data;
	const gchar *method = soup_server_message_get_method(msg);
	if (g_strcmp0(method, "POST") == 0 && query != NULL && g_hash_table_contains(query, "uploads")) {
		const gchar *xml = "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
				   "<UploadId>up-1</UploadId></InitiateMultipartUploadResult>";
		soup_server_message_set_status(msg, 200, NULL);
		soup_server_message_set_response(msg, "application/xml", SOUP_MEMORY_STATIC, xml, strlen(xml));
		return;
	}
	if (g_strcmp0(method, "PUT") == 0) {
		/* every part fails: the upload is given up and aborted */
		fake->parts++;
		soup_server_message_set_status(msg, 400, NULL);
		soup_server_message_set_response(msg,
						 "application/xml",
						 SOUP_MEMORY_STATIC,
						 "<Error><Code>InvalidPart</Code></Error>",
						 39);
		return;
	}
	if (g_strcmp0(method, "DELETE") == 0 && query != NULL &&
	    g_strcmp0(g_hash_table_lookup(query, "uploadId"), "up-1") == 0) {
		if (fake->deletes++ < fake->fail_deletes) {
			soup_server_message_set_status(msg, 500, NULL);
			soup_server_message_set_response(msg,
							 "application/xml",
							 SOUP_MEMORY_STATIC,
							 "<Error><Code>InternalError</Code></Error>",
							 41);
			return;
		}
		soup_server_message_set_status(msg, 204, NULL);
		return;
	}
	soup_server_message_set_status(msg, 404, NULL);
}

static void
put_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GError **error = user_data;
	g_assert_false(herald_files_minio_s3_put_file_finish(HERALD_FILES_MINIO_S3(source), res, error));
}

static guint64
s3_stat(HeraldFilesMinioS3 *s3, const gchar *key)
{
	g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT(NULL);
	guint64 t = 0;
	guint32 u = 0;
	herald_files_minio_s3_add_stats(s3, &dict);
	if (g_variant_dict_lookup(&dict, key, "t", &t))
		return t;
	g_assert_true(g_variant_dict_lookup(&dict, key, "u", &u));
	return u;
}

/* The abort of a failed multipart upload fails too (the store answers 500):
 * it is tried again with backoff until it succeeds, counted, and nothing is
 * pending afterwards. */
static void
test_multipart_abort_retried(void)
{
	FakeS3 fake = {0, 3, 0};
	g_autoptr(SoupServer) server = soup_server_new(NULL, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) put_error = NULL;
	g_autoptr(HeraldFilesMinioS3) s3 = NULL;
	g_autofree gchar *endpoint = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("herald-s3-XXXXXX", NULL);
	g_autofree gchar *path = g_build_filename(dir, "big.bin", NULL);
	g_autofree gchar *data = g_malloc0(3 * 1024);
	HeraldFilesMinioS3Options options = {0};
	gint64 deadline;
	/* the failed aborts are logged as warnings: expected here */
	GLogLevelFlags fatal = g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

	soup_server_add_handler(server, NULL, fake_s3_cb, &fake, NULL);
	/* a socket of our own: soup_server_listen_local() leaks an address in 3.2 */
	{
		g_autoptr(GSocket) socket =
		    g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, 0, &error);
		g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
		g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
		g_autoptr(GSocketAddress) bound = NULL;
		g_assert_no_error(error);
		g_assert_true(g_socket_bind(socket, any, TRUE, &error));
		g_assert_true(g_socket_listen(socket, &error));
		bound = g_socket_get_local_address(socket, &error);
		g_assert_no_error(error);
		g_assert_true(soup_server_listen_socket(server, socket, 0, &error));
		endpoint = g_strdup_printf(
		    "http://127.0.0.1:%u",
		    g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
	}
	g_assert_true(g_file_set_contents(path, data, 3 * 1024, NULL));

	options.endpoint = endpoint;
	options.region = "us-east-1";
	options.bucket = "b";
	options.access_key = "AKIDEXAMPLE";
	options.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	options.timeout_s = 5;
	options.retries = 0;
	options.multipart_threshold = 1024;
	options.part_size = 1024;
	options.max_connections = 4;
	s3 = herald_files_minio_s3_new(&options, &error);
	g_assert_no_error(error);
	herald_files_minio_s3_set_abort_retry_base_ms(s3, 10);

	herald_files_minio_s3_put_file_async(s3, "k", path, 3 * 1024, "application/octet-stream",
					     NULL, NULL, put_done_cb, &put_error);
	deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (put_error == NULL || s3_stat(s3, "s3_multipart_aborts_pending") > 0 || fake.deletes < 4) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(NULL, TRUE);
	}
	g_assert_cmpuint(fake.parts, ==, 1);
	g_assert_cmpuint(fake.deletes, ==, 4);
	g_assert_cmpuint(s3_stat(s3, "s3_multipart_abort_retries_total"), ==, 3);
	g_assert_cmpuint(s3_stat(s3, "s3_multipart_leftovers_total"), ==, 0);

	/* a store that never lets it go: given up after 10 attempts, counted */
	fake.deletes = 0;
	fake.fail_deletes = 1000;
	g_clear_error(&put_error);
	herald_files_minio_s3_put_file_async(s3, "k", path, 3 * 1024, "application/octet-stream",
					     NULL, NULL, put_done_cb, &put_error);
	deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
	while (s3_stat(s3, "s3_multipart_leftovers_total") < 1) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(NULL, TRUE);
	}
	g_assert_cmpuint(fake.deletes, ==, 11);
	g_assert_cmpuint(s3_stat(s3, "s3_multipart_aborts_pending"), ==, 0);
	g_log_set_always_fatal(fatal);
	g_unlink(path);
	g_rmdir(dir);
}

static void
test_base_url_from_listen(void)
{
	struct {
		const gchar *listen;
		const gchar *url;
		gboolean wildcard;
	} cases[] = {
	    {"127.0.0.1:8003", "http://127.0.0.1:8003", FALSE},
	    {"unix:/run/herald.sock;10.0.0.5:80", "http://10.0.0.5:80", FALSE},
	    {"[::1]:8003", "http://[::1]:8003", FALSE},
	    {"localhost:8003", "http://localhost:8003", FALSE},
	    {"*:8003", "http://127.0.0.1:8003", TRUE},
	    {"0.0.0.0:8003;127.0.0.1:9", "http://127.0.0.1:8003", TRUE},
	    {":8003", "http://127.0.0.1:8003", TRUE},
	    {"[::]:8003", "http://[::1]:8003", TRUE},
	    {"unix:/run/herald.sock", "http://localhost", FALSE},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_auto(GStrv) listen = g_strsplit(cases[i].listen, ";", -1);
		gboolean wildcard = !cases[i].wildcard;
		g_autofree gchar *url = herald_files_minio_base_url_from_listen(listen, &wildcard);
		g_assert_cmpstr(url, ==, cases[i].url);
		g_assert_cmpint(wildcard, ==, cases[i].wildcard);
	}
	g_assert_true(herald_files_minio_public_url_is_valid(""));
	g_assert_true(herald_files_minio_public_url_is_valid("https://files.example/herald/"));
	g_assert_false(herald_files_minio_public_url_is_valid("//files.example"));
	g_assert_false(herald_files_minio_public_url_is_valid("https://u:p@files.example"));
	g_assert_false(herald_files_minio_public_url_is_valid("https://files.example/#x"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/files-minio/multipart/good", test_multipart_good);
	g_test_add_func("/files-minio/s3/multipart-abort-retried", test_multipart_abort_retried);
	g_test_add_func("/files-minio/multipart/bad", test_multipart_bad);
	g_test_add_func("/files-minio/multipart/boundary", test_boundary);
	g_test_add_func("/files-minio/validate/filenames", test_filenames);
	g_test_add_func("/files-minio/validate/object-names", test_object_names);
	g_test_add_func("/files-minio/validate/sniff", test_sniff);
	g_test_add_func("/files-minio/validate/base-url", test_base_url_from_listen);
	return g_test_run();
}
