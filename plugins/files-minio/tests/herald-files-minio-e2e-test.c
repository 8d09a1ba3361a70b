/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "herald-files-minio-sigv4.h"
#include "herald-test-util.h"

#define MiB (1024 * 1024)

static JsonNode *
get_stats(HeraldTestDaemon *daemon);

static gchar *
user_token(const gchar *sub, const gchar *role)
{
	g_autofree gchar *claims = g_strdup_printf("{\"sub\":\"%s\",\"role\":\"%s\"}", sub, role);
	return herald_test_make_token(HERALD_TEST_SECRET, claims, 3600);
}

static HeraldTestDaemon *
start_daemon(const gchar *extra)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *config =
	    g_strdup_printf("[host]\nplugins=files-minio\n[files-minio]\ntemplates-dir=%s\n%s",
			    g_getenv("HERALD_TEST_TEMPLATES_DIR"),
			    extra != NULL ? extra : "");
	HeraldTestDaemon *daemon = herald_test_daemon_new(config);
	if (!herald_test_daemon_start(daemon, &error))
		g_error("%s", error->message);
	return daemon;
}

static HeraldTestServer *
start_s3rver(void)
{
	g_autofree gchar *script = g_test_build_filename(G_TEST_DIST, "s3rver.js", NULL);
	const gchar *argv[] = {"node", script, "{port}", "{dir}/data", NULL};
	return herald_test_server_start("s3rver", argv, 20000);
}

static gchar *
s3_config(HeraldTestServer *s3, const gchar *bucket, const gchar *secret)
{
	return g_strdup_printf("backend=s3\nendpoint=http://127.0.0.1:%u\nbucket=%s\n"
			       "access-key=S3RVER\nsecret-key=%s\nretries=0\n",
			       s3->port,
			       bucket,
			       secret);
}

static gchar *
url_of(HeraldTestDaemon *daemon, const gchar *path)
{
	return g_strdup_printf("%s%s", daemon->base_url, path);
}

static GString *
multipart_body(const gchar *boundary,
	       const gchar *field,
	       const gchar *filename,
	       const gchar *data,
	       gsize len)
{
	GString *body = g_string_new(NULL);
	g_string_append_printf(body,
			       "--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"",
			       boundary,
			       field);
	/* the name goes in raw: NULs and line breaks included */
	g_string_append_len(body, filename, (gssize)strlen(filename));
	g_string_append(body, "\"\r\nContent-Type: application/octet-stream\r\n\r\n");
	g_string_append_len(body, data, (gssize)len);
	g_string_append_printf(body, "\r\n--%s--\r\n", boundary);
	return body;
}

static guint
post_body(HeraldTestDaemon *daemon,
	  const gchar *token,
	  const gchar *content_type,
	  GString *body,
	  JsonNode **out)
{
	g_autofree gchar *url = url_of(daemon, "/v1/files/upload");
	g_autofree gchar *reply = NULL;
	guint status =
	    herald_test_http("POST", url, token, content_type, body->str, body->len, &reply, NULL);
	if (out != NULL)
		*out = reply != NULL && reply[0] != '\0' ? herald_test_parse_json(reply) : NULL;
	return status;
}

static guint
upload(HeraldTestDaemon *daemon,
       const gchar *token,
       const gchar *filename,
       const gchar *data,
       gsize len,
       JsonNode **out)
{
	g_autoptr(GString) body =
	    multipart_body("herald-test-boundary", "file", filename, data, len);
	return post_body(
	    daemon, token, "multipart/form-data; boundary=herald-test-boundary", body, out);
}

static void
assert_error(JsonNode *node, const gchar *code)
{
	const gchar *got;
	g_assert_nonnull(node);
	got = herald_test_json_get_string(node, "error");
	if (g_strcmp0(got, code) != 0) {
		g_autofree gchar *text = json_to_string(node, FALSE);
		g_error("expected error '%s', got %s", code, text);
	}
	g_assert_nonnull(herald_test_json_get_string(node, "message"));
	g_assert_cmpstr(herald_test_json_get_string(node, "message"), !=, "");
}

static gchar *
csv_data(gsize len)
{
	gchar *data = g_malloc(len + 1);
	for (gsize i = 0; i < len; i++)
		data[i] = (i % 64 == 63) ? '\n' : (gchar)('a' + (i % 26));
	data[len] = '\0';
	return data;
}

static guint
get(const gchar *url, const gchar *token, gchar **body, SoupMessageHeaders **headers)
{
	return herald_test_http("GET", url, token, NULL, NULL, 0, body, headers);
}

static guint
get_bytes(const gchar *url, const gchar *token, GBytes **out)
{
	g_autoptr(SoupSession) session = soup_session_new_with_options("timeout", 60, NULL);
	g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
	g_autoptr(GError) error = NULL;
	GBytes *bytes;
	if (token != NULL) {
		g_autofree gchar *authz = g_strdup_printf("Bearer %s", token);
		soup_message_headers_replace(
		    soup_message_get_request_headers(msg), "Authorization", authz);
	}
	bytes = soup_session_send_and_read(session, msg, NULL, &error);
	g_assert_no_error(error);
	*out = bytes;
	return soup_message_get_status(msg);
}

static guint
count_files(const gchar *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	guint n = 0;
	if (d == NULL)
		return 0;
	while (g_dir_read_name(d) != NULL)
		n++;
	return n;
}

static gchar *
state_path(HeraldTestDaemon *daemon, const gchar *name)
{
	return g_build_filename(daemon->dir, "state", name, NULL);
}

/* a raw HTTP request; the whole response (the server closes) */
static gchar *
raw_http(guint16 port, const gchar *request, gsize len)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) reply = g_string_new(NULL);
	GInputStream *in;
	gchar buf[4096];
	gssize n;

	g_socket_client_set_timeout(client, 30);
	conn = g_socket_client_connect_to_host(client, "127.0.0.1", port, NULL, &error);
	g_assert_no_error(error);
	g_output_stream_write_all(
	    g_io_stream_get_output_stream(G_IO_STREAM(conn)), request, len, NULL, NULL, &error);
	g_assert_no_error(error);
	in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
	while ((n = g_input_stream_read(in, buf, sizeof(buf), NULL, NULL)) > 0)
		g_string_append_len(reply, buf, n);
	return g_string_free(g_steal_pointer(&reply), FALSE);
}

static JsonNode *
raw_json(const gchar *response, guint *status)
{
	const gchar *body = strstr(response, "\r\n\r\n");
	g_assert_true(g_str_has_prefix(response, "HTTP/1.1 "));
	*status = (guint)g_ascii_strtoull(response + 9, NULL, 10);
	g_assert_nonnull(body);
	return herald_test_parse_json(body + 4);
}

/* ---- local backend ---- */

static void
test_local_round_trip(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("url-secret=links-secret\n");
	g_autofree gchar *token = user_token("42", "ADVISOR");
	g_autofree gchar *data = csv_data(1024);
	g_autofree gchar *sha =
	    g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, 1024);
	g_autoptr(JsonNode) reply = NULL;
	g_autoptr(JsonNode) url_reply = NULL;
	g_autoptr(GBytes) got = NULL;
	g_autoptr(GBytes) signed_got = NULL;
	g_autoptr(SoupMessageHeaders) headers = NULL;
	g_autofree gchar *objects = state_path(daemon, "files");
	g_autofree gchar *obj = NULL;
	g_autofree gchar *download = NULL;
	g_autofree gchar *url_path = NULL;
	g_autofree gchar *url_body = NULL;
	g_autofree gchar *dl_body = NULL;
	g_autofree gchar *stored = NULL;
	g_autofree gchar *tampered = NULL;
	g_autofree gchar *expired = NULL;
	g_autofree gchar *expired_sig = NULL;
	g_autofree gchar *delete_url = NULL;
	g_autofree gchar *del_body = NULL;
	g_autoptr(JsonNode) err = NULL;
	gchar *contents = NULL;
	gsize contents_len = 0;
	const gchar *link;
	gint64 past = g_get_real_time() / G_USEC_PER_SEC - 10;

	g_assert_cmpuint(upload(daemon, token, "precios.csv", data, 1024, &reply), ==, 201);
	g_assert_cmpint(herald_test_json_get_int(reply, "size"), ==, 1024);
	g_assert_cmpstr(herald_test_json_get_string(reply, "sha256"), ==, sha);
	g_assert_cmpstr(herald_test_json_get_string(reply, "content_type"), ==, "text/csv");
	g_assert_true(
	    g_str_has_suffix(herald_test_json_get_string(reply, "object_name"), "-precios.csv"));
	/* no clamav-scan: stored, not scanned */
	g_assert_false(json_object_get_boolean_member(json_node_get_object(reply), "scanned"));
	obj = g_strdup(herald_test_json_get_string(reply, "object_name"));
	stored = g_build_filename(objects, obj, NULL);
	g_assert_true(g_file_get_contents(stored, &contents, &contents_len, NULL));
	g_assert_cmpmem(contents, contents_len, data, 1024);
	g_free(contents);

	/* download: the same bytes, as an attachment */
	download = g_strdup_printf("%s/v1/files/download/%s", daemon->base_url, obj);
	g_assert_cmpuint(get(download, token, &dl_body, &headers), ==, 200);
	g_assert_cmpstr(dl_body, ==, data);
	g_assert_nonnull(
	    strstr(soup_message_headers_get_one(headers, "Content-Disposition"), "precios.csv"));
	g_assert_cmpint(soup_message_headers_get_content_length(headers), ==, 1024);
	g_assert_cmpuint(get_bytes(download, NULL, &got), ==, 401);
	/* HEAD: the headers only */
	{
		g_autoptr(SoupMessageHeaders) head_headers = NULL;
		g_autofree gchar *head_body = NULL;
		g_assert_cmpuint(
		    herald_test_http(
			"HEAD", download, token, NULL, NULL, 0, &head_body, &head_headers),
		    ==,
		    200);
		g_assert_true(head_body == NULL || head_body[0] == '\0');
		g_assert_cmpint(soup_message_headers_get_content_length(head_headers), ==, 1024);
	}

	/* a signed link that Herald serves itself, without a token */
	url_path = g_strdup_printf("%s/v1/files/url/%s?expires=120", daemon->base_url, obj);
	g_assert_cmpuint(get(url_path, token, &url_body, NULL), ==, 200);
	url_reply = herald_test_parse_json(url_body);
	link = herald_test_json_get_string(url_reply, "url");
	g_assert_nonnull(link);
	g_assert_nonnull(herald_test_json_get_string(url_reply, "expires_at"));
	g_assert_true(g_str_has_prefix(link, daemon->base_url));
	g_assert_cmpuint(get_bytes(link, NULL, &signed_got), ==, 200);
	g_assert_cmpmem(
	    g_bytes_get_data(signed_got, NULL), g_bytes_get_size(signed_got), data, 1024);
	/* tampered: one hex digit of the signature changed */
	tampered = g_strdup(link);
	tampered[strlen(tampered) - 1] = tampered[strlen(tampered) - 1] == '0' ? '1' : '0';
	{
		g_autofree gchar *body = NULL;
		g_autoptr(JsonNode) node = NULL;
		g_assert_cmpuint(get(tampered, NULL, &body, NULL), ==, 403);
		node = herald_test_parse_json(body);
		assert_error(node, "forbidden");
	}
	/* expired: a correctly signed link whose time is over */
	{
		g_autoptr(GHmac) hmac =
		    g_hmac_new(G_CHECKSUM_SHA256, (const guchar *)"links-secret", 12);
		g_autofree gchar *msg = g_strdup_printf("GET\n%s\n%" G_GINT64_FORMAT, obj, past);
		g_autofree gchar *body = NULL;
		g_autoptr(JsonNode) node = NULL;
		g_hmac_update(hmac, (const guchar *)msg, -1);
		expired_sig = g_strdup(g_hmac_get_string(hmac));
		expired = g_strdup_printf("%s/v1/files/signed/%s?expires=%" G_GINT64_FORMAT
					  "&signature=%s",
					  daemon->base_url,
					  obj,
					  past,
					  expired_sig);
		g_assert_cmpuint(get(expired, NULL, &body, NULL), ==, 403);
		node = herald_test_parse_json(body);
		assert_error(node, "forbidden");
		g_assert_nonnull(strstr(herald_test_json_get_string(node, "message"), "expired"));
	}

	/* delete: 204, then it is gone */
	delete_url = g_strdup_printf("%s/v1/files/%s", daemon->base_url, obj);
	g_assert_cmpuint(
	    herald_test_http("DELETE", delete_url, token, NULL, NULL, 0, &del_body, NULL), ==, 204);
	g_assert_false(g_file_test(stored, G_FILE_TEST_EXISTS));
	{
		g_autofree gchar *body = NULL;
		g_assert_cmpuint(get(download, token, &body, NULL), ==, 404);
		err = herald_test_parse_json(body);
		assert_error(err, "not_found");
	}
	{
		g_autofree gchar *body = NULL;
		g_assert_cmpuint(
		    herald_test_http("DELETE", delete_url, token, NULL, NULL, 0, &body, NULL),
		    ==,
		    404);
	}
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

/* the link a client gets for a local object: its host never comes from the
 * request (Host, X-Forwarded-Host, Forwarded), which the client chooses */
static gchar *
link_with_headers(HeraldTestDaemon *daemon, const gchar *token, const gchar *obj, const gchar *headers)
{
	g_autofree gchar *req = g_strdup_printf("GET /v1/files/url/%s HTTP/1.1\r\n%s"
						"Authorization: Bearer %s\r\n"
						"Connection: close\r\n\r\n",
						obj,
						headers,
						token);
	g_autofree gchar *resp = raw_http(daemon->port, req, strlen(req));
	guint status = 0;
	g_autoptr(JsonNode) node = raw_json(resp, &status);
	g_assert_cmpuint(status, ==, 200);
	return g_strdup(herald_test_json_get_string(node, "url"));
}

static void
test_local_link_host(void)
{
	const gchar *hostile[] = {
	    "Host: evil.example\r\n",
	    "Host: evil.example:8003\r\nX-Forwarded-Host: evil.example\r\n",
	    "Host: 127.0.0.1\r\nForwarded: host=evil.example;proto=https\r\n",
	    "Host: evil.example@127.0.0.1\r\nX-Forwarded-Proto: https\r\n",
	};
	g_autofree gchar *token = user_token("42", "ADVISOR");
	g_autofree gchar *data = csv_data(64);
	g_autofree gchar *obj = NULL;

	/* public-url empty: the [host] listen address */
	{
		g_autoptr(HeraldTestDaemon) daemon = start_daemon("url-secret=links-secret\n");
		g_autoptr(JsonNode) reply = NULL;
		g_autofree gchar *prefix = g_strdup_printf("%s/v1/files/", daemon->base_url);
		g_autofree gchar *log = NULL;
		g_assert_cmpuint(upload(daemon, token, "a.csv", data, 64, &reply), ==, 201);
		obj = g_strdup(herald_test_json_get_string(reply, "object_name"));
		for (guint i = 0; i < G_N_ELEMENTS(hostile); i++) {
			g_autofree gchar *link = link_with_headers(daemon, token, obj, hostile[i]);
			g_autoptr(GBytes) got = NULL;
			if (!g_str_has_prefix(link, prefix))
				g_error("link '%s' for '%s' does not start with %s", link, hostile[i], prefix);
			g_assert_null(strstr(link, "evil"));
			/* and it works */
			g_assert_cmpuint(get_bytes(link, NULL, &got), ==, 200);
			g_assert_cmpmem(g_bytes_get_data(got, NULL), g_bytes_get_size(got), data, 64);
		}
		log = herald_test_daemon_get_log(daemon);
		g_assert_null(strstr(log, "public-url is empty"));
		g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
	}
	/* public-url set: that, with its path, whatever the request says */
	{
		g_autoptr(HeraldTestDaemon) daemon = start_daemon(
		    "url-secret=links-secret\npublic-url=https://files.example.org/herald/\n");
		g_autoptr(JsonNode) reply = NULL;
		g_autofree gchar *name = NULL;
		g_assert_cmpuint(upload(daemon, token, "b.csv", data, 64, &reply), ==, 201);
		name = g_strdup(herald_test_json_get_string(reply, "object_name"));
		for (guint i = 0; i < G_N_ELEMENTS(hostile); i++) {
			g_autofree gchar *link = link_with_headers(daemon, token, name, hostile[i]);
			g_assert_true(g_str_has_prefix(link, "https://files.example.org/herald/v1/files/"));
			g_assert_null(strstr(link, "evil"));
		}
		g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
	}
	/* a wildcard listen address: the loopback, and a warning once at start */
	{
		g_autoptr(HeraldTestDaemon) daemon = herald_test_daemon_new(NULL);
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonNode) reply = NULL;
		g_autofree gchar *config = NULL;
		g_autofree gchar *name = NULL;
		g_autofree gchar *link = NULL;
		g_autofree gchar *log = NULL;
		g_autofree gchar *prefix = NULL;
		g_assert_true(g_file_get_contents(daemon->config_file, &config, NULL, NULL));
		{
			g_autofree gchar *more = g_strdup_printf(
			    "%s\n[host]\nlisten=*:%u\nplugins=files-minio\n"
			    "[files-minio]\ntemplates-dir=%s\nurl-secret=links-secret\n",
			    config,
			    daemon->port,
			    g_getenv("HERALD_TEST_TEMPLATES_DIR"));
			g_assert_true(g_file_set_contents(daemon->config_file, more, -1, NULL));
		}
		if (!herald_test_daemon_start(daemon, &error))
			g_error("%s", error->message);
		g_assert_cmpuint(upload(daemon, token, "c.csv", data, 64, &reply), ==, 201);
		name = g_strdup(herald_test_json_get_string(reply, "object_name"));
		link = link_with_headers(daemon, token, name, hostile[0]);
		prefix = g_strdup_printf("http://127.0.0.1:%u/v1/files/", daemon->port);
		g_assert_true(g_str_has_prefix(link, prefix));
		log = herald_test_daemon_get_log(daemon);
		g_assert_nonnull(strstr(log, "set [files-minio] public-url"));
		g_assert_null(strstr(strstr(log, "set [files-minio] public-url") + 1,
				     "set [files-minio] public-url"));
		g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
	}
}

static void
test_local_limits(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *token = user_token("7", "ADVISOR");
	g_autofree gchar *data = csv_data(5 * MiB + 1);
	g_autofree gchar *objects = state_path(daemon, "files");
	g_autofree gchar *tmp = state_path(daemon, "files-minio-tmp");
	g_autoptr(JsonNode) ok = NULL;
	g_autoptr(JsonNode) big = NULL;
	g_autofree gchar *sha =
	    g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, 5 * MiB);

	/* exactly the limit */
	g_assert_cmpuint(upload(daemon, token, "limit.csv", data, 5 * MiB, &ok), ==, 201);
	g_assert_cmpint(herald_test_json_get_int(ok, "size"), ==, 5 * MiB);
	g_assert_cmpstr(herald_test_json_get_string(ok, "sha256"), ==, sha);
	g_assert_cmpuint(count_files(objects), ==, 1);
	/* one byte more */
	g_assert_cmpuint(upload(daemon, token, "over.csv", data, 5 * MiB + 1, &big), ==, 413);
	assert_error(big, "too_large");
	g_assert_cmpuint(count_files(objects), ==, 1);
	/* an absurd Content-Length is answered before any body is sent */
	{
		g_autofree gchar *req =
		    g_strdup_printf("POST /v1/files/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				    "Authorization: Bearer %s\r\n"
				    "Content-Type: multipart/form-data; boundary=b\r\n"
				    "Content-Length: 99999999999999\r\n\r\n--b\r\n",
				    token);
		g_autofree gchar *resp = raw_http(daemon->port, req, strlen(req));
		guint status = 0;
		g_autoptr(JsonNode) node = raw_json(resp, &status);
		g_assert_cmpuint(status, ==, 413);
		assert_error(node, "too_large");
	}
	/* and a chunked body that never ends is cut off at the limit */
	{
		g_autoptr(GString) req = g_string_new(NULL);
		g_autofree gchar *resp = NULL;
		guint status = 0;
		g_autoptr(JsonNode) node = NULL;
		g_string_append_printf(req,
				       "POST /v1/files/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				       "Authorization: Bearer %s\r\n"
				       "Content-Type: multipart/form-data; boundary=b\r\n"
				       "Transfer-Encoding: chunked\r\n\r\n",
				       token);
		g_string_append(req,
				"4a\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; "
				"filename=\"x.csv\"\r\n\r\n\r\n");
		for (guint i = 0; i < 6 * 16; i++) {
			g_string_append_printf(req, "10000\r\n");
			g_string_append_len(req, data, 0x10000);
			g_string_append(req, "\r\n");
		}
		resp = raw_http(daemon->port, req->str, req->len);
		node = raw_json(resp, &status);
		g_assert_cmpuint(status, ==, 413);
		assert_error(node, "too_large");
	}
	g_assert_cmpuint(count_files(objects), ==, 1);
	/* each refusal is counted */
	{
		g_autoptr(JsonNode) stats = get_stats(daemon);
		g_assert_cmpint(herald_test_json_get_int(
				    stats, "plugins.files-minio.uploads_rejected_total.too_large"),
				==,
				3);
		g_assert_cmpint(
		    herald_test_json_get_int(stats, "plugins.files-minio.uploads_total"), ==, 1);
	}
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
	g_assert_cmpuint(count_files(tmp), ==, 0);
}

static gint64
uploads_in_progress(HeraldTestDaemon *daemon)
{
	g_autoptr(JsonNode) stats = get_stats(daemon);
	return herald_test_json_get_int(stats, "plugins.files-minio.uploads_in_progress");
}

/* uploads that stall after two bytes hold their user's slots only until
 * [host] upload-idle-timeout-ms */
static void
test_upload_slots(void)
{
	g_autoptr(HeraldTestDaemon) daemon =
	    start_daemon("max-uploads-per-user=2\n[host]\nupload-idle-timeout-ms=500\n");
	g_autofree gchar *token = user_token("7", "ADVISOR");
	g_autofree gchar *other = user_token("8", "ADVISOR");
	g_autofree gchar *data = csv_data(1000);
	g_autofree gchar *req = g_strdup_printf("POST /v1/files/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
						"Authorization: Bearer %s\r\n"
						"Content-Type: multipart/form-data; boundary=b\r\n"
						"Content-Length: 100000\r\n\r\n--",
						token);
	g_autoptr(GSocketClient) client = g_socket_client_new();
	GSocketConnection *stalled[2] = {NULL, NULL};
	g_autoptr(JsonNode) busy = NULL;
	g_autoptr(JsonNode) ok = NULL;
	g_autoptr(JsonNode) ok2 = NULL;
	g_autoptr(JsonNode) stats = NULL;

	g_socket_client_set_timeout(client, 10);
	for (guint i = 0; i < 2; i++) {
		g_autoptr(GError) error = NULL;
		stalled[i] = g_socket_client_connect_to_host(client, "127.0.0.1", daemon->port, NULL, &error);
		g_assert_no_error(error);
		g_assert_true(g_output_stream_write_all(
		    g_io_stream_get_output_stream(G_IO_STREAM(stalled[i])), req, strlen(req), NULL, NULL, &error));
		g_assert_no_error(error);
	}
	for (guint i = 0; i < 100 && uploads_in_progress(daemon) < 2; i++)
		g_usleep(50 * 1000);
	g_assert_cmpint(uploads_in_progress(daemon), ==, 2);
	/* a third upload of the same user is refused; another user's goes through */
	g_assert_cmpuint(upload(daemon, token, "third.csv", data, 1000, &busy), ==, 503);
	assert_error(busy, "unavailable");
	g_assert_cmpuint(upload(daemon, other, "other.csv", data, 1000, &ok2), ==, 201);
	/* the stalled ones are cut: 408, then EOF */
	for (guint i = 0; i < 2; i++) {
		g_autoptr(GString) reply = g_string_new(NULL);
		GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(stalled[i]));
		gchar buf[4096];
		while (TRUE) {
			g_autoptr(GError) error = NULL;
			gssize n = g_input_stream_read(in, buf, sizeof(buf), NULL, &error);
			g_assert_false(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT));
			if (n <= 0)
				break;
			g_string_append_len(reply, buf, n);
		}
		g_assert_true(g_str_has_prefix(reply->str, "HTTP/1.1 408"));
		g_assert_nonnull(strstr(reply->str, "\"error\":\"timed_out\""));
		g_clear_object(&stalled[i]);
	}
	for (guint i = 0; i < 100 && uploads_in_progress(daemon) > 0; i++)
		g_usleep(50 * 1000);
	g_assert_cmpint(uploads_in_progress(daemon), ==, 0);
	/* the slots are free again */
	g_assert_cmpuint(upload(daemon, token, "later.csv", data, 1000, &ok), ==, 201);
	stats = get_stats(daemon);
	g_assert_cmpint(herald_test_json_get_int(stats, "plugins.files-minio.uploads_rejected_total.busy_user"),
			==,
			1);
	g_assert_cmpint(herald_test_json_get_int(stats, "http_body_timeouts_total"), ==, 2);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_bad_input(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *token = user_token("9", "ADVISOR");
	g_autofree gchar *objects = state_path(daemon, "files");
	g_autofree gchar *xlsx = NULL;
	gsize xlsx_len = 0;
	g_autofree gchar *template_path =
	    g_build_filename(g_getenv("HERALD_TEST_TEMPLATES_DIR"), "ofertas.xlsx", NULL);
	const gchar pe[] = "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00PE\x00\x00";
	const gchar *bad_names[] = {"../../etc/passwd", "../x.csv", "a/b.csv", "a\\b.csv"};
	const struct {
		const gchar *name;
		gsize len;
	} ctl_names[] = {{"a\0b.csv", 7}, {"a\nb.csv", 7}, {"a\rb.csv", 7}};

	g_assert_true(g_file_get_contents(template_path, &xlsx, &xlsx_len, NULL));

	/* wrong extension */
	{
		g_autoptr(JsonNode) node = NULL;
		g_assert_cmpuint(
		    upload(daemon, token, "virus.exe", pe, sizeof(pe), &node), ==, 415);
		assert_error(node, "unsupported_media_type");
	}
	/* extension and content disagree: a PE renamed .csv, a zip renamed .xls */
	{
		g_autoptr(JsonNode) node = NULL;
		g_assert_cmpuint(upload(daemon, token, "data.csv", pe, sizeof(pe), &node), ==, 415);
		assert_error(node, "unsupported_media_type");
	}
	{
		g_autoptr(JsonNode) node = NULL;
		g_assert_cmpuint(upload(daemon, token, "book.xls", xlsx, xlsx_len, &node), ==, 415);
		assert_error(node, "unsupported_media_type");
	}
	/* a real workbook is accepted */
	{
		g_autoptr(JsonNode) node = NULL;
		g_assert_cmpuint(
		    upload(daemon, token, "ofertas.xlsx", xlsx, xlsx_len, &node), ==, 201);
	}
	/* path tricks in the file name */
	for (guint i = 0; i < G_N_ELEMENTS(bad_names); i++) {
		g_autoptr(JsonNode) node = NULL;
		g_assert_cmpuint(upload(daemon, token, bad_names[i], "a,b\n", 4, &node), ==, 400);
		assert_error(node, "invalid_argument");
	}
	/* NUL, newline, CR inside the file name */
	for (guint i = 0; i < G_N_ELEMENTS(ctl_names); i++) {
		g_autoptr(GString) body = g_string_new(
		    "--bb\r\nContent-Disposition: form-data; name=\"file\"; filename=\"");
		g_autoptr(JsonNode) node = NULL;
		g_string_append_len(body, ctl_names[i].name, (gssize)ctl_names[i].len);
		g_string_append(body, "\"\r\n\r\na,b\n\r\n--bb--\r\n");
		g_assert_cmpuint(
		    post_body(daemon, token, "multipart/form-data; boundary=bb", body, &node),
		    ==,
		    400);
		assert_error(node, "invalid_argument");
		g_assert_nonnull(
		    strstr(herald_test_json_get_string(node, "message"), "control character"));
	}
	/* missing file field, several file fields, truncated body */
	{
		g_autoptr(GString) body =
		    g_string_new("--bb\r\nContent-Disposition: form-data; name=\"other\"; "
				 "filename=\"a.csv\"\r\n\r\na,b\r\n--bb--\r\n");
		g_autoptr(JsonNode) node = NULL;
		g_assert_cmpuint(
		    post_body(daemon, token, "multipart/form-data; boundary=bb", body, &node),
		    ==,
		    400);
		assert_error(node, "invalid_argument");
		g_assert_nonnull(strstr(herald_test_json_get_string(node, "message"), "'file'"));
	}
	{
		g_autoptr(GString) body =
		    g_string_new("--bb\r\nContent-Disposition: form-data; name=\"file\"; "
				 "filename=\"a.csv\"\r\n\r\na,b\r\n"
				 "--bb\r\nContent-Disposition: form-data; name=\"file\"; "
				 "filename=\"b.csv\"\r\n\r\nc,d\r\n--bb--\r\n");
		g_autoptr(JsonNode) node = NULL;
		g_assert_cmpuint(
		    post_body(daemon, token, "multipart/form-data; boundary=bb", body, &node),
		    ==,
		    400);
		assert_error(node, "invalid_argument");
		g_assert_nonnull(strstr(herald_test_json_get_string(node, "message"), "only one"));
	}
	{
		g_autoptr(GString) body =
		    g_string_new("--bb\r\nContent-Disposition: form-data; name=\"file\"; "
				 "filename=\"a.csv\"\r\n\r\na,b,c\n1,2");
		g_autoptr(JsonNode) node = NULL;
		g_assert_cmpuint(
		    post_body(daemon, token, "multipart/form-data; boundary=bb", body, &node),
		    ==,
		    400);
		assert_error(node, "invalid_argument");
		g_assert_nonnull(strstr(herald_test_json_get_string(node, "message"), "truncated"));
	}
	/* no boundary; not multipart at all */
	{
		g_autoptr(GString) body = g_string_new("a,b\n");
		g_autoptr(JsonNode) node = NULL;
		g_autoptr(JsonNode) node2 = NULL;
		g_assert_cmpuint(
		    post_body(daemon, token, "multipart/form-data", body, &node), ==, 400);
		assert_error(node, "invalid_argument");
		g_assert_nonnull(strstr(herald_test_json_get_string(node, "message"), "boundary"));
		g_assert_cmpuint(post_body(daemon, token, "text/csv", body, &node2), ==, 415);
		assert_error(node2, "unsupported_media_type");
	}
	/* unauthenticated, and a token signed with another key */
	{
		g_autoptr(JsonNode) node = NULL;
		g_autoptr(JsonNode) node2 = NULL;
		g_autofree gchar *forged = herald_test_make_token(
		    "another-secret-of-32-bytes-long!!", "{\"sub\":\"9\"}", 3600);
		g_assert_cmpuint(upload(daemon, NULL, "a.csv", "a,b\n", 4, &node), ==, 401);
		assert_error(node, "unauthorized");
		g_assert_cmpuint(upload(daemon, forged, "a.csv", "a,b\n", 4, &node2), ==, 401);
		assert_error(node2, "unauthorized");
	}
	/* object names that try to leave the directory */
	{
		const gchar *paths[] = {"/v1/files/download/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
					"/v1/files/download/..%2f..%2fetc%2fpasswd",
					"/v1/files/download/%2e%2e",
					"/v1/files/download/a%2fb",
					"/v1/files/url/%2e%2e%2fpasswd",
					"/v1/files/%2e%2e%2fpasswd"};
		for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
			g_autofree gchar *req =
			    g_strdup_printf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
					    "Authorization: Bearer %s\r\nConnection: close\r\n\r\n",
					    i == 5 ? "DELETE" : "GET",
					    paths[i],
					    token);
			g_autofree gchar *resp = raw_http(daemon->port, req, strlen(req));
			guint status = 0;
			g_autoptr(JsonNode) node = raw_json(resp, &status);
			/* "download/%2e%2e" collapses to "/v1/files/": DELETE only */
			if (i == 2) {
				g_assert_cmpuint(status, ==, 405);
				assert_error(node, "method_not_allowed");
				continue;
			}
			if (status != 400)
				g_error("%s: %s", paths[i], resp);
			assert_error(node, "invalid_argument");
		}
		/* unencoded dots are resolved by the URL parser: no such endpoint */
		{
			g_autofree gchar *req =
			    g_strdup_printf("GET /v1/files/download/../../etc/passwd HTTP/1.1\r\n"
					    "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
					    "Connection: close\r\n\r\n",
					    token);
			g_autofree gchar *resp = raw_http(daemon->port, req, strlen(req));
			guint status = 0;
			g_autoptr(JsonNode) node = raw_json(resp, &status);
			g_assert_cmpuint(status, ==, 404);
			assert_error(node, "not_found");
		}
	}
	/* presign expiry out of range */
	{
		const gchar *values[] = {"0", "-1", "604801", "abc", ""};
		for (guint i = 0; i < G_N_ELEMENTS(values); i++) {
			g_autofree gchar *url = g_strdup_printf(
			    "%s/v1/files/url/x.csv?expires=%s", daemon->base_url, values[i]);
			g_autofree gchar *body = NULL;
			g_autoptr(JsonNode) node = NULL;
			g_assert_cmpuint(get(url, token, &body, NULL), ==, 400);
			node = herald_test_parse_json(body);
			assert_error(node, "invalid_argument");
			g_assert_nonnull(
			    strstr(herald_test_json_get_string(node, "message"), "604800"));
		}
	}
	/* only the workbook was stored */
	g_assert_cmpuint(count_files(objects), ==, 1);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_rate_limit(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon("upload-rate-limit=2\n");
	g_autofree gchar *token = user_token("5", "ADVISOR");
	g_autofree gchar *other = user_token("6", "ADVISOR");
	g_autoptr(JsonNode) node = NULL;
	g_assert_cmpuint(upload(daemon, token, "a.csv", "a\n", 2, NULL), ==, 201);
	g_assert_cmpuint(upload(daemon, token, "a.csv", "a\n", 2, NULL), ==, 201);
	g_assert_cmpuint(upload(daemon, token, "a.csv", "a\n", 2, &node), ==, 429);
	assert_error(node, "rate_limited");
	/* per user */
	g_assert_cmpuint(upload(daemon, other, "a.csv", "a\n", 2, NULL), ==, 201);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_template(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *token = user_token("1", "ADVISOR");
	g_autofree gchar *url = url_of(daemon, "/v1/files/templates/ofertas");
	g_autoptr(GBytes) bytes = NULL;
	g_autofree gchar *dir = herald_test_mkdtemp();
	g_autofree gchar *path = g_build_filename(dir, "ofertas.xlsx", NULL);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;
	gint status = 0;
	const gchar *argv[] = {
	    "/usr/bin/python3",
	    "-c",
	    "import sys, openpyxl\n"
	    "wb = openpyxl.load_workbook(sys.argv[1])\n"
	    "print(wb.active.title + ':' + ','.join(c.value for c in wb.active[1]))\n",
	    path,
	    NULL};

	g_assert_cmpuint(get_bytes(url, token, &bytes), ==, 200);
	g_assert_true(g_file_set_contents(
	    path, g_bytes_get_data(bytes, NULL), (gssize)g_bytes_get_size(bytes), NULL));
	g_spawn_sync(
	    NULL, (gchar **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error);
	g_assert_no_error(error);
	if (!g_spawn_check_wait_status(status, NULL))
		g_error("openpyxl could not read the template: %s", err);
	g_assert_cmpstr(
	    out,
	    ==,
	    "ofertas:codigo_solicitud,referencia_repuesto,descripcion,marca,cantidad,"
	    "precio_unitario,moneda,garantia_meses,tiempo_entrega_dias,observaciones\n");
	{
		g_autoptr(GBytes) anon = NULL;
		g_assert_cmpuint(get_bytes(url, NULL, &anon), ==, 401);
	}
	herald_test_rm_rf(dir);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

/* ---- S3 through s3rver 5 (it verifies SigV4) ---- */

static gboolean
plugin_state_is(HeraldTestDaemon *daemon, const gchar *state)
{
	g_autofree gchar *url = url_of(daemon, "/health");
	g_autofree gchar *body = NULL;
	g_autoptr(JsonNode) node = NULL;
	herald_test_http("GET", url, NULL, NULL, NULL, 0, &body, NULL);
	node = herald_test_parse_json(body);
	return g_strcmp0(herald_test_json_get_string(node, "plugins.files-minio"), state) == 0;
}

typedef struct {
	HeraldTestDaemon *daemon;
	const gchar *state;
} StateWait;

static gboolean
state_wait_cb(gpointer user_data)
{
	StateWait *w = user_data;
	return plugin_state_is(w->daemon, w->state);
}

static void
wait_state(HeraldTestDaemon *daemon, const gchar *state)
{
	StateWait w = {daemon, state};
	if (!herald_test_wait_until(state_wait_cb, &w, 30000)) {
		g_autofree gchar *url = url_of(daemon, "/health");
		g_autofree gchar *body = NULL;
		herald_test_http("GET", url, NULL, NULL, NULL, 0, &body, NULL);
		g_error("files-minio never became %s: %s", state, body);
	}
}

static void
test_s3_round_trip(void)
{
	g_autoptr(HeraldTestServer) s3 = start_s3rver();
	g_autofree gchar *cfg = s3_config(s3, "herald-test", "S3RVER");
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(cfg);
	g_autofree gchar *token = user_token("42", "ADVISOR");
	g_autofree gchar *data = csv_data(1024);
	g_autofree gchar *bucket_dir = g_build_filename(s3->dir, "data", "herald-test", NULL);
	g_autoptr(JsonNode) reply = NULL;
	g_autofree gchar *obj = NULL;
	g_autofree gchar *download = NULL;
	g_autofree gchar *url_path = NULL;
	g_autofree gchar *url_body = NULL;
	g_autoptr(JsonNode) url_reply = NULL;
	g_autoptr(GBytes) got = NULL;
	g_autoptr(GBytes) presigned_got = NULL;
	g_autofree gchar *tampered = NULL;
	g_autofree gchar *delete_url = NULL;
	const gchar *link;

	/* the bucket is created at start-up */
	wait_state(daemon, "running");
	g_assert_true(herald_test_daemon_wait_log(daemon, "bucket 'herald-test' created", 10000));
	g_assert_true(g_file_test(bucket_dir, G_FILE_TEST_IS_DIR));

	g_assert_cmpuint(upload(daemon, token, "lista.csv", data, 1024, &reply), ==, 201);
	obj = g_strdup(herald_test_json_get_string(reply, "object_name"));
	g_assert_nonnull(obj);
	download = g_strdup_printf("%s/v1/files/download/%s", daemon->base_url, obj);
	g_assert_cmpuint(get_bytes(download, token, &got), ==, 200);
	g_assert_cmpmem(g_bytes_get_data(got, NULL), g_bytes_get_size(got), data, 1024);

	/* presigned by Herald, verified by s3rver */
	url_path = g_strdup_printf("%s/v1/files/url/%s?expires=300", daemon->base_url, obj);
	g_assert_cmpuint(get(url_path, token, &url_body, NULL), ==, 200);
	url_reply = herald_test_parse_json(url_body);
	link = herald_test_json_get_string(url_reply, "url");
	g_assert_true(g_str_has_prefix(link, "http://127.0.0.1:"));
	g_assert_nonnull(strstr(link, "X-Amz-Signature="));
	g_assert_cmpuint(get_bytes(link, NULL, &presigned_got), ==, 200);
	g_assert_cmpmem(
	    g_bytes_get_data(presigned_got, NULL), g_bytes_get_size(presigned_got), data, 1024);
	tampered = g_strdup(link);
	tampered[strlen(tampered) - 1] = tampered[strlen(tampered) - 1] == '0' ? '1' : '0';
	{
		g_autofree gchar *body = NULL;
		g_assert_cmpuint(get(tampered, NULL, &body, NULL), ==, 403);
		g_assert_nonnull(strstr(body, "SignatureDoesNotMatch"));
	}
	/* expired: signed correctly two hours ago for one minute */
	{
		HeraldFilesMinioSigv4Creds creds = {"S3RVER", "S3RVER", "us-east-1", "s3"};
		g_autofree gchar *path = g_strdup_printf("/herald-test/%s", obj);
		g_autofree gchar *host = g_strdup_printf("127.0.0.1:%u", s3->port);
		g_autoptr(HeraldFilesMinioSigv4Request) req =
		    herald_files_minio_sigv4_request_new("GET", path);
		g_autoptr(GDateTime) now = g_date_time_new_now_utc();
		g_autoptr(GDateTime) then = g_date_time_add_hours(now, -2);
		g_autofree gchar *amz = herald_files_minio_sigv4_amz_date(then);
		g_autofree gchar *query = NULL;
		g_autofree gchar *url = NULL;
		g_autofree gchar *body = NULL;
		herald_files_minio_sigv4_request_add_header(req, "host", host);
		query = herald_files_minio_sigv4_presign(
		    req, &creds, amz, 60, HERALD_FILES_MINIO_SIGV4_UNSIGNED_PAYLOAD);
		url = g_strdup_printf("http://%s%s?%s", host, path, query);
		g_assert_cmpuint(get(url, NULL, &body, NULL), ==, 403);
		g_assert_nonnull(strstr(body, "xpired"));
	}
	/* delete; then 404 for download, presign and delete */
	delete_url = g_strdup_printf("%s/v1/files/%s", daemon->base_url, obj);
	g_assert_cmpuint(
	    herald_test_http("DELETE", delete_url, token, NULL, NULL, 0, NULL, NULL), ==, 204);
	{
		g_autofree gchar *body = NULL;
		g_autoptr(JsonNode) node = NULL;
		g_assert_cmpuint(get(download, token, &body, NULL), ==, 404);
		node = herald_test_parse_json(body);
		assert_error(node, "not_found");
	}
	g_assert_cmpuint(
	    herald_test_http("DELETE", delete_url, token, NULL, NULL, 0, NULL, NULL), ==, 404);
	{
		g_autofree gchar *body = NULL;
		g_assert_cmpuint(get(url_path, token, &body, NULL), ==, 404);
	}
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_s3_multipart(void)
{
	g_autoptr(HeraldTestServer) s3 = start_s3rver();
	g_autofree gchar *base = s3_config(s3, "herald-mp", "S3RVER");
	g_autofree gchar *cfg = g_strdup_printf("%smax-file-size-mb=12\nmultipart-threshold-mb=5\n"
						"multipart-part-size-mb=5\n",
						base);
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(cfg);
	g_autofree gchar *token = user_token("42", "ADVISOR");
	gsize len = 11 * MiB + 123;
	g_autofree gchar *data = csv_data(len);
	g_autoptr(JsonNode) reply = NULL;
	g_autoptr(GBytes) got = NULL;
	g_autofree gchar *download = NULL;

	wait_state(daemon, "running");
	g_assert_cmpuint(upload(daemon, token, "big.csv", data, len, &reply), ==, 201);
	download = g_strdup_printf("%s/v1/files/download/%s",
				   daemon->base_url,
				   herald_test_json_get_string(reply, "object_name"));
	g_assert_cmpuint(get_bytes(download, token, &got), ==, 200);
	g_assert_cmpuint(g_bytes_get_size(got), ==, len);
	g_assert_true(memcmp(g_bytes_get_data(got, NULL), data, len) == 0);
	g_assert_true(herald_test_daemon_wait_log(daemon, "stored", 1000));
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_s3_wrong_secret(void)
{
	g_autoptr(HeraldTestServer) s3 = start_s3rver();
	g_autofree gchar *cfg = s3_config(s3, "herald-ws", "not-the-secret");
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(cfg);
	g_autofree gchar *token = user_token("42", "ADVISOR");
	g_autoptr(JsonNode) node = NULL;

	/* refused at start-up: degraded, with the reason on /health's D-Bus twin and the log */
	wait_state(daemon, "degraded");
	g_assert_true(
	    herald_test_daemon_wait_log(daemon, "bucket 'herald-ws' cannot be checked", 10000));
	g_assert_cmpuint(upload(daemon, token, "a.csv", "a,b\n", 4, &node), ==, 502);
	assert_error(node, "bad_gateway");
	g_assert_nonnull(strstr(herald_test_json_get_string(node, "message"), "credentials"));
	g_assert_nonnull(
	    strstr(herald_test_json_get_string(node, "message"), "SignatureDoesNotMatch"));
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_s3_unreachable(void)
{
	guint16 port = herald_test_free_port();
	g_autofree gchar *cfg =
	    g_strdup_printf("backend=s3\nendpoint=http://127.0.0.1:%u\n"
			    "access-key=a\nsecret-key=b\nretries=0\nbucket-retry-s=1\n",
			    port);
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(cfg);
	g_autofree gchar *token = user_token("42", "ADVISOR");
	g_autoptr(JsonNode) node = NULL;
	wait_state(daemon, "degraded");
	g_assert_cmpuint(upload(daemon, token, "a.csv", "a,b\n", 4, &node), ==, 503);
	assert_error(node, "unavailable");
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

/* ---- 50 concurrent 5 MiB uploads: memory stays flat ---- */

typedef struct {
	guint done;
	guint created;
} Concurrent;

static void
concurrent_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	Concurrent *c = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes =
	    soup_session_send_and_read_finish(SOUP_SESSION(source), res, &error);
	SoupMessage *msg = soup_session_get_async_result_message(SOUP_SESSION(source), res);
	g_assert_no_error(error);
	if (soup_message_get_status(msg) == 201)
		c->created++;
	else
		g_printerr("upload failed: %u %.*s\n",
			   soup_message_get_status(msg),
			   (int)g_bytes_get_size(bytes),
			   (const gchar *)g_bytes_get_data(bytes, NULL));
	c->done++;
}

static gboolean
concurrent_done_cb(gpointer user_data)
{
	Concurrent *c = user_data;
	return c->done == 50;
}

static guint64
proc_status_kib(GPid pid, const gchar *field)
{
	g_autofree gchar *path = g_strdup_printf("/proc/%d/status", pid);
	g_autofree gchar *contents = NULL;
	const gchar *p;
	g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
	p = strstr(contents, field);
	g_assert_nonnull(p);
	return g_ascii_strtoull(p + strlen(field) + 1, NULL, 10);
}

static void
test_concurrent(void)
{
	g_autoptr(HeraldTestServer) s3 = start_s3rver();
	g_autofree gchar *base = s3_config(s3, "herald-load", "S3RVER");
	g_autofree gchar *cfg =
	    g_strdup_printf("%supload-rate-limit=0\nmax-uploads-per-user=50\nrequest-timeout-s=120\n",
			    base);
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autofree gchar *token = user_token("42", "ADVISOR");
	g_autofree gchar *data = csv_data(5 * MiB);
	g_autoptr(GString) body = multipart_body("cc", "file", "load.csv", data, 5 * MiB);
	g_autoptr(GBytes) bytes = g_bytes_new(body->str, body->len);
	g_autoptr(SoupSession) session = soup_session_new_with_options(
	    "timeout", 300, "max-conns", 100, "max-conns-per-host", 100, NULL);
	g_autofree gchar *url = NULL;
	g_autofree gchar *authz = g_strdup_printf("Bearer %s", token);
	Concurrent c = {0};
	guint64 before, peak;
	gint64 start;
	gdouble secs;
	GPid pid;
	const gchar *asan = g_getenv("ASAN_OPTIONS");
	g_autofree gchar *asan_saved = g_strdup(asan);

	/* ASan keeps freed blocks in a quarantine (256 MiB by default) that would
	 * count as RSS: keep it small so that the figure means live memory */
	if (asan != NULL) {
		g_autofree gchar *opts = g_strdup_printf("%s:quarantine_size_mb=8", asan);
		g_setenv("ASAN_OPTIONS", opts, TRUE);
	}
	daemon = start_daemon(cfg);
	if (asan_saved != NULL)
		g_setenv("ASAN_OPTIONS", asan_saved, TRUE);
	pid = (GPid)g_ascii_strtoll(g_subprocess_get_identifier(daemon->process), NULL, 10);
	url = url_of(daemon, "/v1/files/upload");
	wait_state(daemon, "running");
	before = proc_status_kib(pid, "VmRSS:");
	start = g_get_monotonic_time();
	for (guint i = 0; i < 50; i++) {
		g_autoptr(SoupMessage) msg = soup_message_new("POST", url);
		soup_message_headers_replace(
		    soup_message_get_request_headers(msg), "Authorization", authz);
		soup_message_set_request_body_from_bytes(
		    msg, "multipart/form-data; boundary=cc", bytes);
		soup_session_send_and_read_async(
		    session, msg, G_PRIORITY_DEFAULT, NULL, concurrent_cb, &c);
	}
	g_assert_true(herald_test_wait_until(concurrent_done_cb, &c, 600000));
	secs = (gdouble)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
	peak = proc_status_kib(pid, "VmHWM:");
	g_test_message("50 x 5 MiB: RSS before %" G_GUINT64_FORMAT " KiB, peak %" G_GUINT64_FORMAT
		       " KiB, %.1f s (%.1f MiB/s)",
		       before,
		       peak,
		       secs,
		       250.0 / secs);
	g_printerr("# files-minio: 50 x 5 MiB uploads: heraldd RSS before %" G_GUINT64_FORMAT
		   " KiB, peak %" G_GUINT64_FORMAT " KiB, %.1f s\n",
		   before,
		   peak,
		   secs);
	g_assert_cmpuint(c.created, ==, 50);
	/* a generous ceiling for ASan (its shadow memory included); the point is
	 * that 250 MiB of uploads in flight do not show up in memory */
	g_assert_cmpuint(peak, <, 200 * 1024);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

/* ---- file.uploaded reaches WebSocket clients through routing ---- */

static void
test_events(void)
{
	g_autoptr(HeraldTestDaemon) daemon = NULL;
	g_autofree gchar *admin = user_token("1", "ADMIN");
	g_autofree gchar *token = user_token("42", "ADVISOR");
	g_autofree gchar *ws_url = NULL;
	g_autoptr(HeraldTestWs) ws = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) reply = NULL;
	gboolean seen = FALSE;
	g_autoptr(HeraldTestDaemon) d = NULL;
	g_autofree gchar *config = g_strdup_printf("[host]\nplugins=ws-rooms;files-minio\n"
						   "[route files]\nchannels=file.*\nrooms=admin\n"
						   /* user_id of file.* is the uploader, not an
						    * addressee: admins get every upload */
						   "narrow-to-user=false\n"
						   "[files-minio]\ntemplates-dir=%s\n",
						   g_getenv("HERALD_TEST_TEMPLATES_DIR"));

	d = herald_test_daemon_new(config);
	if (!herald_test_daemon_start(d, &error))
		g_error("%s", error->message);
	daemon = g_steal_pointer(&d);
	ws_url = g_strdup_printf("ws://127.0.0.1:%u/ws?token=%s", daemon->port, admin);
	ws = herald_test_ws_connect(ws_url, 10000, &error);
	g_assert_no_error(error);
	g_assert_true(herald_test_ws_wait(ws, 1, 10000)); /* connected */
	g_assert_cmpuint(upload(daemon, token, "ev.csv", "a,b\n", 4, &reply), ==, 201);
	g_assert_true(herald_test_ws_wait(ws, 2, 10000));
	for (guint i = 0; i < ws->messages->len; i++) {
		JsonNode *m = g_ptr_array_index(ws->messages, i);
		if (g_strcmp0(herald_test_json_get_string(m, "type"), "file_uploaded") == 0) {
			g_assert_cmpstr(herald_test_json_get_string(m, "payload.object_name"),
					==,
					herald_test_json_get_string(reply, "object_name"));
			g_assert_cmpstr(
			    herald_test_json_get_string(m, "payload.user_id"), ==, "42");
			seen = TRUE;
		}
	}
	g_assert_true(seen);
	g_clear_pointer(&ws, herald_test_ws_free);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

/* ---- with clamav-scan and a real clamd ---- */

static HeraldTestDaemon *
start_scanning_daemon(HeraldTestServer *clamd, const gchar *extra)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *config =
	    g_strdup_printf("[host]\nplugins=ws-rooms;clamav-scan;files-minio\n"
			    "[route files]\nchannels=file.*\nrooms=admin\n"
						   /* user_id of file.* is the uploader, not an
						    * addressee: admins get every upload */
						   "narrow-to-user=false\n"
			    "[clamav-scan]\naddress=tcp:127.0.0.1:%u\ntimeout-s=10\n"
			    "[files-minio]\ntemplates-dir=%s\n%s",
			    clamd->port,
			    g_getenv("HERALD_TEST_TEMPLATES_DIR"),
			    extra != NULL ? extra : "");
	HeraldTestDaemon *daemon = herald_test_daemon_new(config);
	if (!herald_test_daemon_start(daemon, &error))
		g_error("%s", error->message);
	return daemon;
}

static JsonNode *
ws_find(HeraldTestWs *ws, const gchar *type)
{
	for (guint i = 0; i < ws->messages->len; i++) {
		JsonNode *m = g_ptr_array_index(ws->messages, i);
		if (g_strcmp0(herald_test_json_get_string(m, "type"), type) == 0)
			return m;
	}
	return NULL;
}

static void
test_scan_infected(void)
{
	g_autoptr(HeraldTestServer) clamd = herald_test_clamd_start("25M");
	g_autoptr(HeraldTestDaemon) daemon = start_scanning_daemon(clamd, NULL);
	g_autofree gchar *token = user_token("42", "ADVISOR");
	g_autofree gchar *eicar = herald_test_eicar();
	g_autofree gchar *objects = state_path(daemon, "files");
	g_autoptr(JsonNode) clean = NULL;
	g_autoptr(JsonNode) infected = NULL;
	g_autofree gchar *admin = user_token("1", "ADMIN");
	g_autofree gchar *ws_url = NULL;
	g_autoptr(HeraldTestWs) ws = NULL;
	g_autoptr(GError) error = NULL;
	JsonNode *rejected;

	/* a clean file is scanned and stored */
	g_assert_cmpuint(upload(daemon, token, "ok.csv", "a,b\n1,2\n", 8, &clean), ==, 201);
	g_assert_true(json_object_get_boolean_member(json_node_get_object(clean), "scanned"));
	g_assert_cmpuint(count_files(objects), ==, 1);
	/* EICAR: 422 with the signature, nothing stored, file.rejected published */
	ws_url = g_strdup_printf("ws://127.0.0.1:%u/ws?token=%s", daemon->port, admin);
	ws = herald_test_ws_connect(ws_url, 10000, &error);
	g_assert_no_error(error);
	g_assert_true(herald_test_ws_wait(ws, 1, 10000));
	g_assert_cmpuint(
	    upload(daemon, token, "eicar.csv", eicar, strlen(eicar), &infected), ==, 422);
	assert_error(infected, "infected");
	g_assert_nonnull(strstr(herald_test_json_get_string(infected, "signature"), "EICAR"));
	g_assert_cmpuint(count_files(objects), ==, 1);
	g_assert_true(herald_test_daemon_wait_log(daemon, "is infected", 5000));
	g_assert_true(herald_test_ws_wait(ws, 2, 10000));
	rejected = ws_find(ws, "file_rejected");
	g_assert_nonnull(rejected);
	g_assert_cmpstr(herald_test_json_get_string(rejected, "payload.reason"), ==, "infected");
	g_assert_cmpstr(herald_test_json_get_string(rejected, "payload.filename"), ==, "eicar.csv");
	g_assert_nonnull(
	    strstr(herald_test_json_get_string(rejected, "payload.signature"), "EICAR"));
	g_assert_null(ws_find(ws, "file_uploaded"));
	g_clear_pointer(&ws, herald_test_ws_free);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static void
test_scan_error_policy(void)
{
	g_autoptr(HeraldTestServer) clamd = herald_test_clamd_start("25M");
	g_autoptr(HeraldTestDaemon) allow = start_scanning_daemon(clamd, "on-scan-error=allow\n");
	g_autoptr(HeraldTestDaemon) reject = start_scanning_daemon(clamd, "on-scan-error=reject\n");
	g_autofree gchar *token = user_token("42", "ADVISOR");
	g_autofree gchar *allow_objects = state_path(allow, "files");
	g_autofree gchar *reject_objects = state_path(reject, "files");
	g_autoptr(JsonNode) a = NULL;
	g_autoptr(JsonNode) r = NULL;

	herald_test_server_stop(clamd);
	/* allow: stored, but not scanned */
	g_assert_cmpuint(upload(allow, token, "a.csv", "a,b\n", 4, &a), ==, 201);
	g_assert_false(json_object_get_boolean_member(json_node_get_object(a), "scanned"));
	g_assert_cmpuint(count_files(allow_objects), ==, 1);
	/* reject: 503, nothing stored */
	g_assert_cmpuint(upload(reject, token, "a.csv", "a,b\n", 4, &r), ==, 503);
	assert_error(r, "unavailable");
	g_assert_cmpuint(count_files(reject_objects), ==, 0);
	g_assert_cmpint(herald_test_daemon_stop(allow), ==, 0);
	g_assert_cmpint(herald_test_daemon_stop(reject), ==, 0);
}

static void
test_check_config(void)
{
	const struct {
		const gchar *extra;
		const gchar *needle;
	} cases[] = {
	    {"max-file-sise-mb=5\n", "files-minio:max-file-sise-mb"},
	    {"presign-max-s=604801\n", "files-minio:presign-max-s"},
	    {"backend=ftp\n", "files-minio:backend"},
	    {"on-scan-error=maybe\n", "files-minio:on-scan-error"},
	    {"backend=s3\nsecret-key=x\n",
	     "files-minio:access-key: backend=s3 needs an access key"},
	    {"backend=s3\naccess-key=a\nsecret-key=x\nendpoint=ftp://x\n", "files-minio:endpoint"},
	    {"presign-max-s=3600\npresign-default-s=7200\n", "files-minio:presign-default-s"},
	    {"public-url=ftp://files.example\n", "files-minio:public-url: "},
	    {"public-url=files.example\n", "files-minio:public-url: "},
	    {"public-url=https://files.example/?x=1\n", "files-minio:public-url: "},
	    {"public-url=https://u:pa55word@files.example/\n", "files-minio:public-url: "},
	    {"backend=s3\naccess-key=a\nsecret-key=x\nendpoint=http://u:pa55word@h/p\n",
	     "files-minio:endpoint: endpoint 'http://u:***@h/p'"},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *config = g_strdup_printf(
		    "[host]\nplugins=files-minio\n[files-minio]\n%s", cases[i].extra);
		g_autoptr(HeraldTestDaemon) daemon = herald_test_daemon_new(config);
		gchar *argv[] = {"--check-config", "--config", daemon->config_file, NULL};
		g_autofree gchar *out = NULL;
		g_autofree gchar *err = NULL;
		g_autofree gchar *all = NULL;
		g_assert_cmpint(herald_test_run_heraldd(argv, &out, &err, NULL), ==, 1);
		all = g_strconcat(out, err, NULL);
		if (strstr(all, cases[i].needle) == NULL)
			g_error("'%s' not in: %s", cases[i].needle, all);
		g_assert_null(strstr(all, "pa55word"));
	}
	/* s3 without a secret (it may come from a file): the plugin fails, saying why,
	 * and the daemon serves on */
	{
		g_autoptr(HeraldTestDaemon) daemon = start_daemon("backend=s3\naccess-key=a\n");
		wait_state(daemon, "failed");
		g_assert_true(
		    herald_test_daemon_wait_log(daemon, "access-key and secret-key", 5000));
		g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
	}
}

/* ---- retries: idempotent requests only ---- */

static JsonNode *
flaky_counts(HeraldTestServer *s3)
{
	g_autofree gchar *url = g_strdup_printf("http://127.0.0.1:%u/__counts", s3->port);
	g_autofree gchar *body = NULL;
	g_assert_cmpuint(get(url, NULL, &body, NULL), ==, 200);
	return herald_test_parse_json(body);
}

static void
test_s3_retries(void)
{
	g_autofree gchar *script = g_test_build_filename(G_TEST_DIST, "flaky-s3.js", NULL);
	const gchar *argv[] = {"node", script, "{port}", "1", NULL};
	g_autoptr(HeraldTestServer) s3 = herald_test_server_start("flaky-s3", argv, 20000);
	g_autofree gchar *token = user_token("42", "ADVISOR");
	g_autofree gchar *cfg = g_strdup_printf("backend=s3\nendpoint=http://127.0.0.1:%u\n"
						"access-key=a\nsecret-key=b\nretries=2\n"
						"max-file-size-mb=12\nmultipart-threshold-mb=5\n"
						"multipart-part-size-mb=5\n",
						s3->port);
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(cfg);
	g_autoptr(JsonNode) ok = NULL;
	g_autoptr(JsonNode) refused = NULL;
	g_autoptr(JsonNode) counts = NULL;
	g_autoptr(JsonNode) counts2 = NULL;
	gsize len = 6 * MiB;
	g_autofree gchar *data = csv_data(len);

	wait_state(daemon, "running");
	/* the first PUT gets 503 SlowDown: PUT is idempotent, retried, stored */
	g_assert_cmpuint(upload(daemon, token, "a.csv", "a,b\n", 4, &ok), ==, 201);
	counts = flaky_counts(s3);
	g_assert_cmpint(herald_test_json_get_int(counts, "PUT"), ==, 2);
	/* a multipart upload starts with a POST: not idempotent, not retried */
	g_assert_cmpuint(upload(daemon, token, "big.csv", data, len, &refused), ==, 503);
	assert_error(refused, "unavailable");
	g_assert_nonnull(strstr(herald_test_json_get_string(refused, "message"), "SlowDown"));
	counts2 = flaky_counts(s3);
	g_assert_cmpint(herald_test_json_get_int(counts2, "POST"), ==, 1);
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
}

static JsonNode *
get_stats(HeraldTestDaemon *daemon)
{
	g_autofree gchar *url = url_of(daemon, "/stats");
	g_autofree gchar *body = NULL;
	g_assert_cmpuint(get(url, NULL, &body, NULL), ==, 200);
	return herald_test_parse_json(body);
}

static gboolean
upload_in_progress_cb(gpointer user_data)
{
	g_autoptr(JsonNode) stats = get_stats(user_data);
	return herald_test_json_get_int(stats, "plugins.files-minio.uploads_in_progress") == 1;
}

/* SIGTERM while a body is half sent: the daemon stops cleanly (LeakSanitizer
 * runs at exit) and leaves no temporary file */
static void
test_shutdown_mid_upload(void)
{
	g_autoptr(HeraldTestDaemon) daemon = start_daemon(NULL);
	g_autofree gchar *token = user_token("3", "ADVISOR");
	g_autofree gchar *tmp = state_path(daemon, "files-minio-tmp");
	g_autofree gchar *data = csv_data(300 * 1024);
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) stats = NULL;
	g_autoptr(GString) req = g_string_new(NULL);

	g_string_append_printf(req,
			       "POST /v1/files/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			       "Authorization: Bearer %s\r\n"
			       "Content-Type: multipart/form-data; boundary=b\r\n"
			       "Content-Length: 4000000\r\n\r\n"
			       "--b\r\nContent-Disposition: form-data; name=\"file\"; "
			       "filename=\"half.csv\"\r\n\r\n",
			       token);
	g_string_append_len(req, data, 300 * 1024);
	conn = g_socket_client_connect_to_host(client, "127.0.0.1", daemon->port, NULL, &error);
	g_assert_no_error(error);
	g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)),
				  req->str,
				  req->len,
				  NULL,
				  NULL,
				  &error);
	g_assert_no_error(error);
	g_assert_true(herald_test_wait_until(upload_in_progress_cb, daemon, 20000));
	g_assert_cmpint(herald_test_daemon_stop(daemon), ==, 0);
	g_assert_cmpuint(count_files(tmp), ==, 0);
	/* the client was told */
	{
		GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
		g_autoptr(GString) reply = g_string_new(NULL);
		gchar buf[4096];
		gssize n;
		while ((n = g_input_stream_read(in, buf, sizeof(buf), NULL, NULL)) > 0)
			g_string_append_len(reply, buf, n);
		g_assert_true(g_str_has_prefix(reply->str, "HTTP/1.1 503"));
		g_assert_nonnull(strstr(reply->str, "\"shutting_down\""));
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/files-minio/local/round-trip", test_local_round_trip);
	g_test_add_func("/files-minio/local/limits", test_local_limits);
	g_test_add_func("/files-minio/local/link-host", test_local_link_host);
	g_test_add_func("/files-minio/local/bad-input", test_bad_input);
	g_test_add_func("/files-minio/local/upload-slots", test_upload_slots);
	g_test_add_func("/files-minio/local/rate-limit", test_rate_limit);
	g_test_add_func("/files-minio/local/shutdown-mid-upload", test_shutdown_mid_upload);
	g_test_add_func("/files-minio/template", test_template);
	g_test_add_func("/files-minio/check-config", test_check_config);
	g_test_add_func("/files-minio/events", test_events);
	g_test_add_func("/files-minio/s3/round-trip", test_s3_round_trip);
	g_test_add_func("/files-minio/s3/multipart", test_s3_multipart);
	g_test_add_func("/files-minio/s3/wrong-secret", test_s3_wrong_secret);
	g_test_add_func("/files-minio/s3/unreachable", test_s3_unreachable);
	g_test_add_func("/files-minio/s3/retries", test_s3_retries);
	g_test_add_func("/files-minio/s3/concurrent", test_concurrent);
	/* only when clamav-scan is built (-Dplugins=…,clamav-scan) */
	if (g_getenv("HERALD_TEST_HAVE_CLAMAV_SCAN") != NULL) {
		g_test_add_func("/files-minio/scan/infected", test_scan_infected);
		g_test_add_func("/files-minio/scan/error-policy", test_scan_error_policy);
	}
	return g_test_run();
}
