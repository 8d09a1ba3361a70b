/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <fcntl.h>
#include <gio/gunixoutputstream.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <herald.h>
#include <errno.h>
#include <string.h>

#include "herald-files-minio-multipart.h"
#include "herald-files-minio-plugin.h"
#include "herald-files-minio-s3.h"
#include "herald-files-minio-validate.h"

/* bytes of multipart framing and small fields allowed beyond the file limit */
#define HERALD_FILES_MINIO_OVERHEAD (64 * 1024)
/* file bytes buffered before an asynchronous write to the temporary file */
#define HERALD_FILES_MINIO_WRITE_CHUNK (256 * 1024)
#define HERALD_FILES_MINIO_READ_CHUNK (64 * 1024)

typedef enum {
	HERALD_FILES_MINIO_BACKEND_LOCAL,
	HERALD_FILES_MINIO_BACKEND_S3,
} HeraldFilesMinioBackend;

typedef struct {
	gdouble tokens;
	gint64 last_us;
} HeraldFilesMinioBucket;

struct _HeraldFilesMinioPlugin {
	HeraldPlugin parent_instance;
	HeraldFilesMinioBackend backend;
	HeraldFilesMinioS3 *s3; /* (owned) (nullable) */
	gchar *local_dir;
	gchar *tmp_dir;
	gchar *templates_dir;
	gchar *public_url; /* `public-url`, else from `[host] listen`: never a request header */
	gboolean public_url_wildcard; /* derived from a wildcard listen address */
	GBytes *url_key; /* (owned): HMAC key of local signed URLs */
	guint64 max_file_size;
	gchar **allowed_extensions;
	guint64 presign_max_s;
	guint64 presign_default_s;
	gboolean scan_error_reject;
	guint64 rate_limit;
	guint64 max_concurrent;
	guint64 max_per_user;
	guint64 bucket_retry_s;
	GHashTable *rate;   /* user id → HeraldFilesMinioBucket */
	GHashTable *active; /* (element-type HeraldFilesMinioUpload): in progress, not owned */
	GHashTable *per_user; /* user id → uploads in progress (GUINT_TO_POINTER) */
	GCancellable *cancellable;
	guint bucket_retry_id;
	gboolean bucket_ready;
	guint active_uploads;
	/* stats */
	guint64 uploads;
	guint64 upload_bytes;
	guint64 rejected_too_large;
	guint64 rejected_invalid;
	guint64 rejected_type;
	guint64 rejected_infected;
	guint64 rejected_rate;
	guint64 rejected_busy;
	guint64 rejected_busy_user;
	guint64 scan_errors;
	guint64 not_scanned;
	guint64 store_errors;
	guint64 downloads;
	guint64 download_bytes;
	guint64 presigned;
	guint64 deletes;
};

G_DEFINE_FINAL_TYPE(HeraldFilesMinioPlugin, herald_files_minio_plugin, HERALD_TYPE_PLUGIN)

static const HeraldConfigKey files_minio_keys[] = {
    {"backend",
     HERALD_CONFIG_ENUM,
     "local",
     0,
     0,
     "local;s3",
     HERALD_CONFIG_FLAG_RESTART,
     "where objects live: local (a directory under [host] state-dir) or s3 (S3/MinIO)"},
    {"endpoint",
     HERALD_CONFIG_STRING,
     "http://127.0.0.1:9000",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "s3: base URL of the S3/MinIO server (path-style addressing); presigned URLs use it"},
    {"region",
     HERALD_CONFIG_STRING,
     "us-east-1",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "s3: the SigV4 signing region"},
    {"bucket",
     HERALD_CONFIG_STRING,
     "herald-files",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART | HERALD_CONFIG_FLAG_NOT_EMPTY,
     "s3: the bucket, created at start-up when it does not exist"},
    {"access-key",
     HERALD_CONFIG_STRING,
     NULL,
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "s3: access key id"},
    {"secret-key",
     HERALD_CONFIG_SECRET,
     NULL,
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "s3: secret access key; prefer secret-key-file"},
    {"local-dir",
     HERALD_CONFIG_STRING,
     NULL,
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "local: the object directory (empty = <state-dir>/files)"},
    {"max-file-size-mb",
     HERALD_CONFIG_UINT,
     "5",
     1,
     4096,
     NULL,
     0,
     "largest upload in MiB; a larger one is refused with 413 while it is being read"},
    {"allowed-extensions",
     HERALD_CONFIG_LIST,
     ".xlsx;.xls;.csv",
     0,
     64,
     NULL,
     HERALD_CONFIG_FLAG_NOT_EMPTY,
     "file name extensions accepted for upload"},
    {"presign-max-s",
     HERALD_CONFIG_UINT,
     "604800",
     1,
     604800,
     NULL,
     0,
     "longest lifetime of a download link in seconds (S3/MinIO refuse more than 7 days)"},
    {"presign-default-s",
     HERALD_CONFIG_UINT,
     "3600",
     1,
     604800,
     NULL,
     0,
     "lifetime of a download link when ?expires= is not given"},
    {"on-scan-error",
     HERALD_CONFIG_ENUM,
     "allow",
     0,
     0,
     "allow;reject",
     0,
     "when the virus scanner fails: allow (store, scanned:false) or reject (503)"},
    {"upload-rate-limit",
     HERALD_CONFIG_UINT,
     "30",
     0,
     100000,
     NULL,
     0,
     "uploads per minute per user (0 = unlimited); more get 429"},
    {"max-concurrent-uploads",
     HERALD_CONFIG_UINT,
     "64",
     1,
     100000,
     NULL,
     0,
     "uploads in progress at once; more get 503"},
    {"max-uploads-per-user",
     HERALD_CONFIG_UINT,
     "4",
     1,
     100000,
     NULL,
     0,
     "uploads in progress at once per user; more get 503 (a stalled upload frees its slot at [host] upload-idle-timeout-ms)"},
    {"request-timeout-s",
     HERALD_CONFIG_UINT,
     "30",
     1,
     3600,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "s3: a request without progress for this long fails"},
    {"retries",
     HERALD_CONFIG_UINT,
     "2",
     0,
     10,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "s3: retries of idempotent requests (GET, HEAD, PUT, DELETE) after network errors or 5xx"},
    {"multipart-threshold-mb",
     HERALD_CONFIG_UINT,
     "16",
     5,
     4096,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "s3: objects larger than this (MiB) are sent as a multipart upload"},
    {"multipart-part-size-mb",
     HERALD_CONFIG_UINT,
     "8",
     5,
     512,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "s3: part size of multipart uploads (MiB); one part is in memory per upload"},
    {"bucket-retry-s",
     HERALD_CONFIG_UINT,
     "10",
     1,
     3600,
     NULL,
     0,
     "s3: while the bucket cannot be checked (state degraded), try again this often"},
    {"templates-dir",
     HERALD_CONFIG_STRING,
     HERALD_DATADIR "/templates",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_NOT_EMPTY,
     "directory of the downloadable templates (ofertas.xlsx)"},
    {"public-url",
     HERALD_CONFIG_STRING,
     NULL,
     0,
     0,
     NULL,
     0,
     "local: base URL of Herald in signed links, http(s)://host[:port][/path] (empty = the "
     "first TCP [host] listen address, loopback for a wildcard one)"},
    {"url-secret",
     HERALD_CONFIG_SECRET,
     NULL,
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_RESTART,
     "local: HMAC key of signed links (empty = a random key kept in state-dir)"},
};

/* ---- shared helpers ---- */

static void
herald_files_minio_reply_error(SoupServerMessage *msg, const GError *error)
{
	herald_http_reply_error(msg, error);
}

static void
herald_files_minio_reply_infected(SoupServerMessage *msg, const gchar *signature)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "error");
	json_builder_add_string_value(builder, herald_error_to_code(HERALD_ERROR_INFECTED));
	json_builder_set_member_name(builder, "message");
	/* TRANSLATORS: HTTP 422 */
	json_builder_add_string_value(builder, _("the file is infected and was not stored"));
	json_builder_set_member_name(builder, "signature");
	json_builder_add_string_value(builder, signature);
	json_builder_end_object(builder);
	herald_http_reply_builder(msg, herald_error_to_http_status(HERALD_ERROR_INFECTED), builder);
}

static gboolean
herald_files_minio_rate_allow(HeraldFilesMinioPlugin *self, const gchar *user_id)
{
	HeraldFilesMinioBucket *bucket;
	gint64 now = g_get_monotonic_time();
	gdouble capacity = (gdouble)self->rate_limit;

	if (self->rate_limit == 0)
		return TRUE;
	bucket = g_hash_table_lookup(self->rate, user_id);
	if (bucket == NULL) {
		/* forget full buckets when the table grows */
		if (g_hash_table_size(self->rate) > 10000)
			g_hash_table_remove_all(self->rate);
		bucket = g_new0(HeraldFilesMinioBucket, 1);
		bucket->tokens = capacity;
		bucket->last_us = now;
		g_hash_table_insert(self->rate, g_strdup(user_id), bucket);
	}
	bucket->tokens =
	    MIN(capacity, bucket->tokens + (gdouble)(now - bucket->last_us) * capacity / 60e6);
	bucket->last_us = now;
	if (bucket->tokens < 1.0)
		return FALSE;
	bucket->tokens -= 1.0;
	return TRUE;
}

/* the connection is taken from libsoup: answer now, stop reading, close after a
 * bounded drain so that the client sees the answer and not a reset */
typedef struct {
	GIOStream *stream;
	guint8 buf[16384];
	guint64 drained;
	guint timeout_id;
	gchar *response;
} HeraldFilesMinioAbort;

static void
herald_files_minio_abort_free(HeraldFilesMinioAbort *abort)
{
	g_clear_handle_id(&abort->timeout_id, g_source_remove);
	g_clear_object(&abort->stream);
	g_free(abort->response);
	g_free(abort);
}

static void
herald_files_minio_abort_close(HeraldFilesMinioAbort *abort)
{
	g_io_stream_close(abort->stream, NULL, NULL);
	herald_files_minio_abort_free(abort);
}

static gboolean
herald_files_minio_abort_timeout_cb(gpointer user_data)
{
	HeraldFilesMinioAbort *abort = user_data;
	abort->timeout_id = 0;
	/* the pending read ends with an error and frees it */
	g_io_stream_close(abort->stream, NULL, NULL);
	return G_SOURCE_REMOVE;
}

static void
herald_files_minio_abort_read_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldFilesMinioAbort *abort = user_data;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, NULL);
	if (n <= 0 || abort->drained > 64 * 1024 * 1024) {
		herald_files_minio_abort_close(abort);
		return;
	}
	abort->drained += (guint64)n;
	g_input_stream_read_async(G_INPUT_STREAM(source),
				  abort->buf,
				  sizeof(abort->buf),
				  G_PRIORITY_DEFAULT,
				  NULL,
				  herald_files_minio_abort_read_cb,
				  abort);
}

static void
herald_files_minio_abort_write_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldFilesMinioAbort *abort = user_data;
	GSocket *socket = g_object_get_data(G_OBJECT(abort->stream), "GSocket");
	if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), res, NULL, NULL)) {
		herald_files_minio_abort_close(abort);
		return;
	}
	if (socket != NULL)
		g_socket_shutdown(socket, FALSE, TRUE, NULL);
	abort->timeout_id = g_timeout_add_seconds(5, herald_files_minio_abort_timeout_cb, abort);
	g_input_stream_read_async(g_io_stream_get_input_stream(abort->stream),
				  abort->buf,
				  sizeof(abort->buf),
				  G_PRIORITY_DEFAULT,
				  NULL,
				  herald_files_minio_abort_read_cb,
				  abort);
}

static void
herald_files_minio_abort_now(SoupServerMessage *msg, HeraldError code, const gchar *message)
{
	HeraldFilesMinioAbort *abort;
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *body = NULL;
	guint status = herald_error_to_http_status(code);
	GIOStream *stream;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "error");
	json_builder_add_string_value(builder, herald_error_to_code(code));
	json_builder_set_member_name(builder, "message");
	json_builder_add_string_value(builder, message);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	body = herald_json_to_string(root);
	stream = soup_server_message_steal_connection(msg);
	if (stream == NULL)
		return;
	abort = g_new0(HeraldFilesMinioAbort, 1);
	abort->stream = stream;
	abort->response = g_strdup_printf("HTTP/1.1 %u %s\r\n"
					  "Content-Type: application/json\r\n"
					  "Content-Length: %" G_GSIZE_FORMAT "\r\n"
					  "Cache-Control: no-store\r\n"
					  "Connection: close\r\n\r\n%s",
					  status,
					  soup_status_get_phrase(status),
					  strlen(body),
					  body);
	g_output_stream_write_all_async(g_io_stream_get_output_stream(stream),
					abort->response,
					strlen(abort->response),
					G_PRIORITY_DEFAULT,
					NULL,
					herald_files_minio_abort_write_cb,
					abort);
}

/* ---- upload ---- */

typedef struct {
	HeraldFilesMinioPlugin *plugin; /* (owned) */
	SoupServerMessage *msg;		/* (owned) */
	HeraldIdentity *identity;	/* (owned) */
	HeraldFilesMinioMultipart *parser;
	GCancellable *cancellable;
	guint64 received;
	gint64 content_length; /* -1: chunked */
	gboolean have_file;
	gboolean in_file;
	gchar *filename;
	gchar *safe_name;
	gchar *ext;
	gchar *tmp_path;
	GOutputStream *out;
	GByteArray *pending;
	gboolean writing;
	GChecksum *sha256;
	HeraldFilesMinioSniffer sniffer;
	guint64 size;
	guint64 other_bytes;
	gboolean rejected;  /* an answer is set; the rest of the body is drained */
	gboolean aborted;   /* the connection was taken over */
	gboolean body_done; /* got-body: the pipeline runs */
	gboolean finished;  /* libsoup is done with the message */
	gboolean counted;   /* in active_uploads */
	gboolean paused;    /* by us */
	gulong cancel_id;   /* on the plugin's cancellable */
	gulong chunk_id;
	gulong body_id;
	gulong finished_id;
	gchar *object_name;
	gchar *sha256_hex;
	gboolean scanned;
} HeraldFilesMinioUpload;

/* whose upload slot: the user id ("" when the token has none) */
static const gchar *
herald_files_minio_slot_user(HeraldIdentity *identity)
{
	const gchar *user = herald_identity_get_user_id(identity);
	return user != NULL ? user : "";
}

static HeraldFilesMinioUpload *
herald_files_minio_upload_ref(HeraldFilesMinioUpload *up)
{
	return g_rc_box_acquire(up);
}

static void
herald_files_minio_upload_pause(HeraldFilesMinioUpload *up)
{
	if (up->paused || up->finished || up->aborted)
		return;
	up->paused = TRUE;
	soup_server_message_pause(up->msg);
}

static void
herald_files_minio_upload_unpause(HeraldFilesMinioUpload *up)
{
	if (!up->paused || up->finished || up->aborted)
		return;
	up->paused = FALSE;
	soup_server_message_unpause(up->msg);
}

/* shutting down cancels the uploads in flight too */
static void
herald_files_minio_upload_cancel_cb(GCancellable *plugin_cancellable, gpointer user_data)
{
	g_cancellable_cancel(G_CANCELLABLE(user_data));
}

static void
herald_files_minio_upload_clear(HeraldFilesMinioUpload *up)
{
	if (up->cancel_id != 0)
		g_cancellable_disconnect(up->plugin->cancellable, up->cancel_id);
	g_hash_table_remove(up->plugin->active, up);
	if (up->counted) {
		const gchar *user = herald_files_minio_slot_user(up->identity);
		guint n = GPOINTER_TO_UINT(g_hash_table_lookup(up->plugin->per_user, user));
		up->plugin->active_uploads--;
		if (n <= 1)
			g_hash_table_remove(up->plugin->per_user, user);
		else
			g_hash_table_replace(up->plugin->per_user, g_strdup(user), GUINT_TO_POINTER(n - 1));
	}
	g_clear_object(&up->out);
	if (up->tmp_path != NULL)
		g_unlink(up->tmp_path);
	g_free(up->tmp_path);
	g_clear_pointer(&up->parser, herald_files_minio_multipart_free);
	g_clear_pointer(&up->pending, g_byte_array_unref);
	g_clear_pointer(&up->sha256, g_checksum_free);
	g_clear_object(&up->cancellable);
	g_free(up->filename);
	g_free(up->safe_name);
	g_free(up->ext);
	g_free(up->object_name);
	g_free(up->sha256_hex);
	g_clear_pointer(&up->identity, herald_identity_unref);
	g_clear_object(&up->msg);
	g_clear_object(&up->plugin);
}

static void
herald_files_minio_upload_unref(HeraldFilesMinioUpload *up)
{
	g_rc_box_release_full(up, (GDestroyNotify)herald_files_minio_upload_clear);
}

static void
herald_files_minio_upload_disconnect(HeraldFilesMinioUpload *up)
{
	if (up->msg == NULL)
		return;
	g_clear_signal_handler(&up->chunk_id, up->msg);
	g_clear_signal_handler(&up->body_id, up->msg);
	g_clear_signal_handler(&up->finished_id, up->msg);
}

static void
herald_files_minio_upload_drop_file(HeraldFilesMinioUpload *up)
{
	if (up->out != NULL && !up->writing) {
		g_output_stream_close(up->out, NULL, NULL);
		g_clear_object(&up->out);
	}
	/* once the pipeline runs, a stage may still read the file: the last
	 * reference removes it */
	if (up->tmp_path != NULL && !up->writing && !up->body_done) {
		g_unlink(up->tmp_path);
		g_clear_pointer(&up->tmp_path, g_free);
	}
}

static void
herald_files_minio_upload_count_reject(HeraldFilesMinioUpload *up, const GError *error)
{
	HeraldFilesMinioPlugin *self = up->plugin;
	if (g_error_matches(error, HERALD_ERROR, HERALD_ERROR_TOO_LARGE))
		self->rejected_too_large++;
	else if (g_error_matches(error, HERALD_ERROR, HERALD_ERROR_UNSUPPORTED_MEDIA))
		self->rejected_type++;
	else if (g_error_matches(error, HERALD_ERROR, HERALD_ERROR_INVALID_ARGUMENT))
		self->rejected_invalid++;
}

/* refuse while the body is still arriving: the answer waits for the rest of the
 * (bounded) body, which is read and discarded */
static void
herald_files_minio_upload_reject(HeraldFilesMinioUpload *up, const GError *error)
{
	if (up->rejected || up->finished)
		return;
	up->rejected = TRUE;
	herald_files_minio_upload_count_reject(up, error);
	g_cancellable_cancel(up->cancellable);
	herald_files_minio_upload_drop_file(up);
	herald_files_minio_reply_error(up->msg, error);
	soup_message_headers_replace(
	    soup_server_message_get_response_headers(up->msg), "Connection", "close");
	herald_files_minio_upload_unpause(up);
}

/* the same, but for a body that is too large to drain: answer and close now */
static void
herald_files_minio_upload_abort(HeraldFilesMinioUpload *up, const GError *error)
{
	if (up->aborted || up->finished)
		return;
	up->rejected = TRUE;
	up->aborted = TRUE;
	g_cancellable_cancel(up->cancellable);
	herald_files_minio_upload_drop_file(up);
	herald_files_minio_upload_disconnect(up);
	herald_files_minio_abort_now(up->msg, error->code, error->message);
	/* "finished" never comes for a stolen connection */
	up->finished = TRUE;
	herald_files_minio_upload_unref(up);
}

static gboolean
herald_files_minio_abort_idle_cb(gpointer user_data);

/* libsoup is inside its read loop here: take the connection from an idle */
static void
herald_files_minio_upload_abort_later(HeraldFilesMinioUpload *up, const GError *error)
{
	if (up->aborted || up->finished ||
	    g_object_get_data(G_OBJECT(up->msg), "herald-abort-error"))
		return;
	if (!up->rejected)
		herald_files_minio_upload_count_reject(up, error);
	up->rejected = TRUE;
	herald_files_minio_upload_pause(up);
	g_object_set_data_full(G_OBJECT(up->msg),
			       "herald-abort-error",
			       g_error_copy(error),
			       (GDestroyNotify)g_error_free);
	g_idle_add_full(G_PRIORITY_DEFAULT,
			herald_files_minio_abort_idle_cb,
			herald_files_minio_upload_ref(up),
			(GDestroyNotify)herald_files_minio_upload_unref);
}

static void
herald_files_minio_upload_reply_done(HeraldFilesMinioUpload *up)
{
	herald_files_minio_upload_unpause(up);
}

static void
herald_files_minio_upload_fail(HeraldFilesMinioUpload *up, const GError *error)
{
	if (up->finished)
		return;
	herald_files_minio_upload_count_reject(up, error);
	herald_files_minio_reply_error(up->msg, error);
	herald_files_minio_upload_reply_done(up);
}

static void
herald_files_minio_upload_flush(HeraldFilesMinioUpload *up);

static void
herald_files_minio_upload_write_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldFilesMinioUpload *up = user_data;
	g_autoptr(GError) error = NULL;
	GBytes *bytes = g_object_get_data(G_OBJECT(source), "herald-writing");

	up->writing = FALSE;
	if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), res, NULL, &error)) {
		if (!up->rejected && !up->finished) {
			g_autoptr(GError) wrapped = NULL;
			g_warning(
			    "writing upload to '%s' failed: %s", up->tmp_path, error->message);
			wrapped = g_error_new_literal(HERALD_ERROR,
						      HERALD_ERROR_UNAVAILABLE,
						      /* TRANSLATORS: HTTP 503 */
						      _("the upload cannot be buffered on disk"));
			if (up->body_done)
				herald_files_minio_upload_fail(up, wrapped);
			else
				herald_files_minio_upload_reject(up, wrapped);
		}
	}
	(void)bytes;
	g_object_set_data(G_OBJECT(source), "herald-writing", NULL);
	if (up->rejected || up->finished) {
		herald_files_minio_upload_drop_file(up);
		if (up->rejected && !up->body_done)
			herald_files_minio_upload_unpause(up);
	} else if (up->body_done) {
		herald_files_minio_upload_flush(up);
	} else {
		herald_files_minio_upload_unpause(up);
	}
	herald_files_minio_upload_unref(up);
}

/* hand the buffered bytes to an asynchronous write; the message stays paused
 * until it is done so that memory per upload stays bounded */
static void
herald_files_minio_upload_write(HeraldFilesMinioUpload *up)
{
	GBytes *bytes = g_byte_array_free_to_bytes(g_steal_pointer(&up->pending));
	up->pending = g_byte_array_sized_new(HERALD_FILES_MINIO_WRITE_CHUNK + 16384);
	up->writing = TRUE;
	g_object_set_data_full(
	    G_OBJECT(up->out), "herald-writing", bytes, (GDestroyNotify)g_bytes_unref);
	g_output_stream_write_all_async(up->out,
					g_bytes_get_data(bytes, NULL),
					g_bytes_get_size(bytes),
					G_PRIORITY_DEFAULT,
					NULL,
					herald_files_minio_upload_write_cb,
					herald_files_minio_upload_ref(up));
}

static gboolean
herald_files_minio_part_begin(const gchar *name,
			      const gchar *filename,
			      const gchar *content_type,
			      gpointer user_data,
			      GError **error)
{
	HeraldFilesMinioUpload *up = user_data;
	HeraldFilesMinioPlugin *self = up->plugin;
	g_autofree gchar *tmpl = NULL;
	gint fd;

	if (g_strcmp0(name, "file") != 0) {
		up->in_file = FALSE;
		return TRUE;
	}
	if (up->have_file) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400 */
				    _("only one 'file' field is allowed per upload"));
		return FALSE;
	}
	up->have_file = TRUE;
	up->safe_name = herald_files_minio_sanitize_filename(filename, error);
	if (up->safe_name == NULL)
		return FALSE;
	up->filename = g_strdup(filename);
	up->ext = herald_files_minio_get_extension(up->safe_name);
	if (!herald_files_minio_extension_allowed(up->ext, self->allowed_extensions)) {
		g_autofree gchar *list = g_strjoinv(", ", self->allowed_extensions);
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_UNSUPPORTED_MEDIA,
			    /* TRANSLATORS: HTTP 415; %s is a list of extensions */
			    _("this file type is not accepted; allowed: %s"),
			    list);
		return FALSE;
	}
	tmpl = g_build_filename(self->tmp_dir, "upload-XXXXXX", NULL);
	fd = g_mkstemp_full(tmpl, O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		g_warning(
		    "cannot create a temporary file in '%s': %s", self->tmp_dir, g_strerror(errno));
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNAVAILABLE,
				    /* TRANSLATORS: HTTP 503 */
				    _("the upload cannot be buffered on disk"));
		return FALSE;
	}
	up->tmp_path = g_steal_pointer(&tmpl);
	up->out = g_unix_output_stream_new(fd, TRUE);
	up->pending = g_byte_array_sized_new(HERALD_FILES_MINIO_WRITE_CHUNK + 16384);
	up->sha256 = g_checksum_new(G_CHECKSUM_SHA256);
	herald_files_minio_sniffer_init(&up->sniffer);
	up->in_file = TRUE;
	return TRUE;
}

static gboolean
herald_files_minio_part_data(const guint8 *data, gsize len, gpointer user_data, GError **error)
{
	HeraldFilesMinioUpload *up = user_data;
	HeraldFilesMinioPlugin *self = up->plugin;

	if (!up->in_file) {
		up->other_bytes += len;
		if (up->other_bytes > HERALD_FILES_MINIO_OVERHEAD / 2) {
			g_set_error_literal(error,
					    HERALD_ERROR,
					    HERALD_ERROR_TOO_LARGE,
					    /* TRANSLATORS: HTTP 413 */
					    _("the form fields besides 'file' are too large"));
			return FALSE;
		}
		return TRUE;
	}
	if (up->size + len > self->max_file_size) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_TOO_LARGE,
			    /* TRANSLATORS: HTTP 413; %u is a number of MiB */
			    _("the file is larger than %u MiB"),
			    (guint)(self->max_file_size / (1024 * 1024)));
		return FALSE;
	}
	up->size += len;
	g_checksum_update(up->sha256, data, (gssize)len);
	herald_files_minio_sniffer_update(&up->sniffer, data, len);
	g_byte_array_append(up->pending, data, (guint)len);
	return TRUE;
}

static gboolean
herald_files_minio_part_end(gpointer user_data, GError **error)
{
	HeraldFilesMinioUpload *up = user_data;
	up->in_file = FALSE;
	return TRUE;
}

static const HeraldFilesMinioMultipartFuncs herald_files_minio_multipart_funcs = {
    herald_files_minio_part_begin,
    herald_files_minio_part_data,
    herald_files_minio_part_end,
};

static void
herald_files_minio_upload_got_chunk_cb(SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
	HeraldFilesMinioUpload *up = user_data;
	HeraldFilesMinioPlugin *self = up->plugin;
	g_autoptr(GError) error = NULL;
	gsize len = g_bytes_get_size(chunk);

	up->received += len;
	/* a chunked body that keeps coming after a refusal is cut off */
	if (up->received > self->max_file_size + HERALD_FILES_MINIO_OVERHEAD) {
		g_autoptr(GError) too_large = NULL;
		too_large = g_error_new(HERALD_ERROR,
					HERALD_ERROR_TOO_LARGE,
					/* TRANSLATORS: HTTP 413; %u is a number of MiB */
					_("the file is larger than %u MiB"),
					(guint)(self->max_file_size / (1024 * 1024)));
		if (up->rejected || up->content_length < 0)
			herald_files_minio_upload_abort_later(up, too_large);
		else
			herald_files_minio_upload_reject(up, too_large);
		return;
	}
	if (up->rejected)
		return;
	if (!herald_files_minio_multipart_feed(
		up->parser, g_bytes_get_data(chunk, NULL), len, &error)) {
		herald_files_minio_upload_reject(up, error);
		return;
	}
	if (up->pending != NULL && up->pending->len >= HERALD_FILES_MINIO_WRITE_CHUNK &&
	    !up->writing) {
		herald_files_minio_upload_pause(up);
		herald_files_minio_upload_write(up);
	}
}

/* ---- after the body: sniff, scan, store, publish, answer ---- */

static void
herald_files_minio_upload_publish(HeraldFilesMinioUpload *up,
				  const gchar *channel,
				  const gchar *reason,
				  const gchar *signature)
{
	HeraldBus *bus = herald_plugin_get_bus(HERALD_PLUGIN(up->plugin));
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) payload = NULL;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "user_id");
	json_builder_add_string_value(builder, herald_identity_get_user_id(up->identity));
	json_builder_set_member_name(builder, "filename");
	json_builder_add_string_value(builder, up->filename != NULL ? up->filename : "");
	json_builder_set_member_name(builder, "size");
	json_builder_add_int_value(builder, (gint64)up->size);
	if (up->sha256_hex != NULL) {
		json_builder_set_member_name(builder, "sha256");
		json_builder_add_string_value(builder, up->sha256_hex);
	}
	if (up->object_name != NULL && reason == NULL) {
		json_builder_set_member_name(builder, "object_name");
		json_builder_add_string_value(builder, up->object_name);
		json_builder_set_member_name(builder, "content_type");
		json_builder_add_string_value(builder,
					      herald_files_minio_content_type_for(up->ext));
		json_builder_set_member_name(builder, "scanned");
		json_builder_add_boolean_value(builder, up->scanned);
	}
	if (reason != NULL) {
		json_builder_set_member_name(builder, "reason");
		json_builder_add_string_value(builder, reason);
	}
	if (signature != NULL) {
		json_builder_set_member_name(builder, "signature");
		json_builder_add_string_value(builder, signature);
	}
	json_builder_end_object(builder);
	payload = json_builder_get_root(builder);
	herald_bus_publish_json(bus, channel, payload);
}

static void
herald_files_minio_notify_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *id = g_task_propagate_pointer(G_TASK(res), &error);
	if (id == NULL)
		g_debug("rejected-upload notification not sent: %s", error->message);
}

/* tell the uploader why, through notifier-whatsapp when it is enabled */
static void
herald_files_minio_upload_notify(HeraldFilesMinioUpload *up, const gchar *signature)
{
	HeraldBus *bus = herald_plugin_get_bus(HERALD_PLUGIN(up->plugin));
	g_autoptr(GTask) task = g_task_new(NULL, NULL, herald_files_minio_notify_cb, NULL);
	JsonObject *obj = json_object_new();
	JsonObject *data = json_object_new();

	json_object_set_string_member(obj, "user_id", herald_identity_get_user_id(up->identity));
	/* TRANSLATORS: notification title */
	json_object_set_string_member(obj, "title", _("File rejected"));
	json_object_set_string_member(obj,
				      "message",
				      /* TRANSLATORS: notification text */
				      _("Your upload was rejected by the virus scanner."));
	json_object_set_string_member(obj, "type", "file_rejected");
	json_object_set_string_member(obj, "priority", "high");
	json_object_set_string_member(data, "filename", up->filename != NULL ? up->filename : "");
	json_object_set_string_member(data, "signature", signature);
	json_object_set_object_member(obj, "data", data);
	g_task_set_task_data(task, obj, (GDestroyNotify)json_object_unref);
	if (!herald_bus_request(bus, HERALD_BUS_REQUEST_NOTIFY, task))
		g_task_return_new_error(
		    task, HERALD_ERROR, HERALD_ERROR_UNAVAILABLE, "no notifier is enabled");
}

static void
herald_files_minio_upload_stored(HeraldFilesMinioUpload *up)
{
	HeraldFilesMinioPlugin *self = up->plugin;
	g_autoptr(JsonBuilder) builder = json_builder_new();

	self->uploads++;
	self->upload_bytes += up->size;
	g_info("stored '%s' (%" G_GUINT64_FORMAT " bytes, scanned: %s) for user '%s'",
	       up->object_name,
	       up->size,
	       up->scanned ? "yes" : "no",
	       herald_identity_get_user_id(up->identity));
	herald_files_minio_upload_publish(up, "file.uploaded", NULL, NULL);
	if (up->finished)
		return;
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "object_name");
	json_builder_add_string_value(builder, up->object_name);
	json_builder_set_member_name(builder, "size");
	json_builder_add_int_value(builder, (gint64)up->size);
	json_builder_set_member_name(builder, "content_type");
	json_builder_add_string_value(builder, herald_files_minio_content_type_for(up->ext));
	json_builder_set_member_name(builder, "sha256");
	json_builder_add_string_value(builder, up->sha256_hex);
	json_builder_set_member_name(builder, "scanned");
	json_builder_add_boolean_value(builder, up->scanned);
	json_builder_end_object(builder);
	herald_http_reply_builder(up->msg, SOUP_STATUS_CREATED, builder);
	herald_files_minio_upload_reply_done(up);
}

static gboolean
herald_files_minio_plugin_bucket_retry_cb(gpointer user_data);

static void
herald_files_minio_upload_store_error(HeraldFilesMinioUpload *up, GError *error)
{
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		g_autoptr(GError) down = g_error_new_literal(HERALD_ERROR,
							     HERALD_ERROR_SHUTTING_DOWN,
							     /* TRANSLATORS: HTTP 503 */
							     _("the server is shutting down"));
		herald_files_minio_upload_fail(up, down);
		return;
	}
	up->plugin->store_errors++;
	g_warning("storing '%s' failed: %s", up->object_name, error->message);
	/* the bucket may have gone: check it again unless a check is due anyway */
	if (up->plugin->backend == HERALD_FILES_MINIO_BACKEND_S3 &&
	    g_strstr_len(error->message, -1, "NoSuchBucket") != NULL &&
	    up->plugin->bucket_retry_id == 0) {
		up->plugin->bucket_retry_id =
		    g_idle_add(herald_files_minio_plugin_bucket_retry_cb, up->plugin);
	}
	herald_files_minio_upload_fail(up, error);
}

static void
herald_files_minio_upload_s3_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldFilesMinioUpload *up = user_data;
	g_autoptr(GError) error = NULL;
	if (!herald_files_minio_s3_put_file_finish(HERALD_FILES_MINIO_S3(source), res, &error))
		herald_files_minio_upload_store_error(up, error);
	else
		herald_files_minio_upload_stored(up);
	herald_files_minio_upload_unref(up);
}

static void
herald_files_minio_upload_move_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldFilesMinioUpload *up = user_data;
	g_autoptr(GError) error = NULL;
	if (!g_file_move_finish(G_FILE(source), res, &error)) {
		herald_files_minio_upload_store_error(up, error);
	} else {
		/* the file is the object now */
		g_clear_pointer(&up->tmp_path, g_free);
		herald_files_minio_upload_stored(up);
	}
	herald_files_minio_upload_unref(up);
}

static void
herald_files_minio_upload_store(HeraldFilesMinioUpload *up)
{
	HeraldFilesMinioPlugin *self = up->plugin;
	up->object_name = herald_files_minio_object_name_new(up->safe_name);
	if (self->backend == HERALD_FILES_MINIO_BACKEND_S3) {
		herald_files_minio_s3_put_file_async(self->s3,
						     up->object_name,
						     up->tmp_path,
						     up->size,
						     herald_files_minio_content_type_for(up->ext),
						     up->sha256_hex,
						     up->cancellable,
						     herald_files_minio_upload_s3_cb,
						     herald_files_minio_upload_ref(up));
	} else {
		g_autoptr(GFile) src = g_file_new_for_path(up->tmp_path);
		g_autofree gchar *dest_path =
		    g_build_filename(self->local_dir, up->object_name, NULL);
		g_autoptr(GFile) dest = g_file_new_for_path(dest_path);
		g_file_move_async(src,
				  dest,
				  G_FILE_COPY_NOFOLLOW_SYMLINKS,
				  G_PRIORITY_DEFAULT,
				  up->cancellable,
				  NULL,
				  NULL,
				  herald_files_minio_upload_move_cb,
				  herald_files_minio_upload_ref(up));
	}
}

static void
herald_files_minio_upload_scan_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldFilesMinioUpload *up = user_data;
	HeraldFilesMinioPlugin *self = up->plugin;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) result = g_task_propagate_pointer(G_TASK(res), &error);
	const gchar *verdict = NULL;
	const gchar *signature = NULL;
	const gchar *reason = NULL;
	gboolean no_scanner =
	    GPOINTER_TO_INT(g_object_get_data(G_OBJECT(res), "herald-no-scanner"));

	if (up->finished || up->rejected) {
		herald_files_minio_upload_unref(up);
		return;
	}
	if (result != NULL) {
		g_variant_lookup(result, "verdict", "&s", &verdict);
		g_variant_lookup(result, "signature", "&s", &signature);
		g_variant_lookup(result, "reason", "&s", &reason);
	} else if (!no_scanner) {
		reason = error != NULL ? error->message : "no verdict";
		verdict = "error";
	}
	if (g_strcmp0(verdict, "clean") == 0) {
		up->scanned = TRUE;
	} else if (g_strcmp0(verdict, "infected") == 0) {
		self->rejected_infected++;
		g_info("upload '%s' of user '%s' is infected (%s); not stored",
		       up->safe_name,
		       herald_identity_get_user_id(up->identity),
		       signature != NULL ? signature : "unknown");
		herald_files_minio_upload_publish(
		    up, "file.rejected", "infected", signature != NULL ? signature : "unknown");
		herald_files_minio_upload_notify(up, signature != NULL ? signature : "unknown");
		herald_files_minio_reply_infected(up->msg,
						  signature != NULL ? signature : "unknown");
		herald_files_minio_upload_reply_done(up);
		herald_files_minio_upload_unref(up);
		return;
	} else if (no_scanner) {
		self->not_scanned++;
	} else {
		self->scan_errors++;
		g_warning("scanning upload of user '%s' failed: %s",
			  herald_identity_get_user_id(up->identity),
			  reason != NULL    ? reason
			  : verdict != NULL ? verdict
					    : "no verdict");
		if (self->scan_error_reject) {
			g_autoptr(GError) unavailable = g_error_new_literal(
			    HERALD_ERROR,
			    HERALD_ERROR_UNAVAILABLE,
			    /* TRANSLATORS: HTTP 503 */
			    _("the virus scanner is unavailable; try again later"));
			herald_files_minio_upload_publish(up, "file.rejected", "scan_error", NULL);
			herald_files_minio_upload_fail(up, unavailable);
			herald_files_minio_upload_unref(up);
			return;
		}
		self->not_scanned++;
	}
	herald_files_minio_upload_store(up);
	herald_files_minio_upload_unref(up);
}

static void
herald_files_minio_upload_scan(HeraldFilesMinioUpload *up)
{
	HeraldBus *bus = herald_plugin_get_bus(HERALD_PLUGIN(up->plugin));
	g_autoptr(GTask) task = g_task_new(NULL,
					   up->cancellable,
					   herald_files_minio_upload_scan_cb,
					   herald_files_minio_upload_ref(up));
	g_task_set_task_data(task, g_strdup(up->tmp_path), g_free);
	if (!herald_bus_request(bus, HERALD_BUS_REQUEST_SCAN, task)) {
		/* nobody scans: the file counts as not scanned */
		g_object_set_data(G_OBJECT(task), "herald-no-scanner", GINT_TO_POINTER(TRUE));
		g_task_return_pointer(task, NULL, NULL);
	}
}

typedef struct {
	HeraldFilesMinioSniffer sniffer;
	gchar *ext;
	gchar *path;
} HeraldFilesMinioSniffJob;

static void
herald_files_minio_sniff_job_free(HeraldFilesMinioSniffJob *job)
{
	g_free(job->ext);
	g_free(job->path);
	g_free(job);
}

/* content sniffing reads the zip directory of .xlsx files: off the main thread,
 * on copies */
static void
herald_files_minio_sniff_thread(GTask *task,
				gpointer source_object,
				gpointer task_data,
				GCancellable *cancellable)
{
	HeraldFilesMinioSniffJob *job = task_data;
	g_autoptr(GError) error = NULL;
	if (!herald_files_minio_sniffer_check(&job->sniffer, job->ext, job->path, &error))
		g_task_return_error(task, g_steal_pointer(&error));
	else
		g_task_return_boolean(task, TRUE);
}

static void
herald_files_minio_sniff_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldFilesMinioUpload *up = user_data;
	g_autoptr(GError) error = NULL;
	if (up->finished) {
		herald_files_minio_upload_unref(up);
		return;
	}
	if (!g_task_propagate_boolean(G_TASK(res), &error)) {
		herald_files_minio_upload_fail(up, error);
		herald_files_minio_upload_unref(up);
		return;
	}
	herald_files_minio_upload_scan(up);
	herald_files_minio_upload_unref(up);
}

static void
herald_files_minio_upload_close_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldFilesMinioUpload *up = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GTask) task = NULL;
	HeraldFilesMinioSniffJob *job;

	if (!g_output_stream_close_finish(G_OUTPUT_STREAM(source), res, &error)) {
		g_autoptr(GError) wrapped = NULL;
		g_warning("closing upload '%s' failed: %s", up->tmp_path, error->message);
		wrapped = g_error_new_literal(HERALD_ERROR,
					      HERALD_ERROR_UNAVAILABLE,
					      _("the upload cannot be buffered on disk"));
		herald_files_minio_upload_fail(up, wrapped);
		herald_files_minio_upload_unref(up);
		return;
	}
	g_clear_object(&up->out);
	if (up->finished) {
		herald_files_minio_upload_unref(up);
		return;
	}
	up->sha256_hex = g_strdup(g_checksum_get_string(up->sha256));
	job = g_new0(HeraldFilesMinioSniffJob, 1);
	job->sniffer = up->sniffer;
	job->ext = g_strdup(up->ext);
	job->path = g_strdup(up->tmp_path);
	task = g_task_new(NULL, NULL, herald_files_minio_sniff_cb, up);
	g_task_set_task_data(task, job, (GDestroyNotify)herald_files_minio_sniff_job_free);
	g_task_run_in_thread(task, herald_files_minio_sniff_thread);
	/* the callback's reference is the one taken for the close */
}

/* after got-body: write what is buffered, then close and go on */
static void
herald_files_minio_upload_flush(HeraldFilesMinioUpload *up)
{
	if (up->pending != NULL && up->pending->len > 0) {
		herald_files_minio_upload_write(up);
		return;
	}
	g_output_stream_close_async(up->out,
				    G_PRIORITY_DEFAULT,
				    NULL,
				    herald_files_minio_upload_close_cb,
				    herald_files_minio_upload_ref(up));
}

static void
herald_files_minio_upload_got_body_cb(SoupServerMessage *msg, gpointer user_data)
{
	HeraldFilesMinioUpload *up = user_data;
	g_autoptr(GError) error = NULL;

	if (up->rejected)
		return;
	up->body_done = TRUE;
	/* the answer comes later */
	herald_files_minio_upload_pause(up);
	if (!herald_files_minio_multipart_finish(up->parser, &error)) {
		herald_files_minio_upload_fail(up, error);
		return;
	}
	if (!up->have_file) {
		g_autoptr(GError) missing = g_error_new_literal(HERALD_ERROR,
								HERALD_ERROR_INVALID_ARGUMENT,
								/* TRANSLATORS: HTTP 400 */
								_("the form has no 'file' field"));
		herald_files_minio_upload_fail(up, missing);
		return;
	}
	if (up->writing)
		return; /* the write callback flushes */
	herald_files_minio_upload_flush(up);
}

static void
herald_files_minio_upload_finished_cb(SoupServerMessage *msg, gpointer user_data)
{
	HeraldFilesMinioUpload *up = user_data;
	up->finished = TRUE;
	g_cancellable_cancel(up->cancellable);
	herald_files_minio_upload_disconnect(up);
	herald_files_minio_upload_drop_file(up);
	herald_files_minio_upload_unref(up);
}

static gboolean
herald_files_minio_abort_idle_cb(gpointer user_data)
{
	HeraldFilesMinioUpload *up = user_data;
	GError *error = g_object_get_data(G_OBJECT(up->msg), "herald-abort-error");
	if (!up->finished && error != NULL)
		herald_files_minio_upload_abort(up, error);
	return G_SOURCE_REMOVE;
}

/* POST /v1/files/upload: called with the request headers; the body streams in */
static void
herald_files_minio_upload_cb(SoupServerMessage *msg,
			     const gchar *subpath,
			     HeraldIdentity *identity,
			     gpointer user_data)
{
	HeraldFilesMinioPlugin *self = HERALD_FILES_MINIO_PLUGIN(user_data);
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *boundary = NULL;
	HeraldFilesMinioUpload *up;
	goffset length = -1;

	if (!herald_files_minio_rate_allow(self, herald_identity_get_user_id(identity))) {
		self->rejected_rate++;
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_RATE_LIMITED,
						/* TRANSLATORS: HTTP 429 */
						_("too many uploads; try again in a minute"));
		return;
	}
	if (self->active_uploads >= self->max_concurrent) {
		self->rejected_busy++;
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_UNAVAILABLE,
						/* TRANSLATORS: HTTP 503 */
						_("too many uploads in progress; try again later"));
		return;
	}
	if (GPOINTER_TO_UINT(g_hash_table_lookup(self->per_user,
						 herald_files_minio_slot_user(identity))) >=
	    self->max_per_user) {
		self->rejected_busy_user++;
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_UNAVAILABLE,
						/* TRANSLATORS: HTTP 503 */
						_("too many uploads of yours in progress; try again later"));
		return;
	}
	boundary = herald_files_minio_multipart_get_boundary(
	    soup_message_headers_get_one(headers, "Content-Type"), &error);
	if (boundary == NULL) {
		if (error->code == HERALD_ERROR_UNSUPPORTED_MEDIA)
			self->rejected_type++;
		else
			self->rejected_invalid++;
		herald_http_reply_error(msg, error);
		return;
	}

	up = g_rc_box_new0(HeraldFilesMinioUpload);
	up->plugin = g_object_ref(self);
	up->msg = g_object_ref(msg);
	up->identity = herald_identity_ref(identity);
	up->cancellable = g_cancellable_new();
	up->cancel_id = g_cancellable_connect(self->cancellable,
					      G_CALLBACK(herald_files_minio_upload_cancel_cb),
					      up->cancellable,
					      NULL);
	up->parser =
	    herald_files_minio_multipart_new(boundary, &herald_files_minio_multipart_funcs, up);
	g_hash_table_add(self->active, up);
	up->counted = TRUE;
	self->active_uploads++;
	g_hash_table_replace(
	    self->per_user,
	    g_strdup(herald_files_minio_slot_user(identity)),
	    GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(
				 self->per_user, herald_files_minio_slot_user(identity))) +
			     1));
	if (soup_message_headers_get_encoding(headers) == SOUP_ENCODING_CONTENT_LENGTH)
		length = soup_message_headers_get_content_length(headers);
	up->content_length = length;
	/* the reference of the message's signal handlers, dropped on "finished" */
	up->chunk_id = g_signal_connect(
	    msg, "got-chunk", G_CALLBACK(herald_files_minio_upload_got_chunk_cb), up);
	up->body_id = g_signal_connect(
	    msg, "got-body", G_CALLBACK(herald_files_minio_upload_got_body_cb), up);
	up->finished_id = g_signal_connect(
	    msg, "finished", G_CALLBACK(herald_files_minio_upload_finished_cb), up);
	if (length >= 0 && (guint64)length > self->max_file_size + HERALD_FILES_MINIO_OVERHEAD) {
		g_autoptr(GError) too_large = NULL;
		too_large = g_error_new(HERALD_ERROR,
					HERALD_ERROR_TOO_LARGE,
					/* TRANSLATORS: HTTP 413; %u is a number of MiB */
					_("the file is larger than %u MiB"),
					(guint)(self->max_file_size / (1024 * 1024)));
		/* never read it */
		herald_files_minio_upload_abort_later(up, too_large);
	}
}

/* ---- downloads: chunks go out as they come in, one chunk in memory ---- */

typedef struct {
	HeraldFilesMinioPlugin *plugin; /* (owned) */
	SoupServerMessage *msg;		/* (owned) */
	GInputStream *stream;		/* (owned) */
	GCancellable *cancellable;
	gulong wrote_id;
	gulong finished_id;
	gboolean finished;
} HeraldFilesMinioSend;

static void
herald_files_minio_send_clear(HeraldFilesMinioSend *send)
{
	if (send->msg != NULL) {
		g_clear_signal_handler(&send->wrote_id, send->msg);
		g_clear_signal_handler(&send->finished_id, send->msg);
	}
	if (send->stream != NULL)
		g_input_stream_close_async(send->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
	g_clear_object(&send->stream);
	g_clear_object(&send->cancellable);
	g_clear_object(&send->msg);
	g_clear_object(&send->plugin);
}

static void
herald_files_minio_send_unref(HeraldFilesMinioSend *send)
{
	g_rc_box_release_full(send, (GDestroyNotify)herald_files_minio_send_clear);
}

static void
herald_files_minio_send_read_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldFilesMinioSend *send = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes =
	    g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), res, &error);
	SoupMessageBody *body;

	if (send->finished) {
		herald_files_minio_send_unref(send);
		return;
	}
	body = soup_server_message_get_response_body(send->msg);
	if (bytes == NULL) {
		/* the status line is out: all we can do is cut the response short */
		g_warning("download interrupted: %s", error->message);
		g_clear_signal_handler(&send->wrote_id, send->msg);
		{
			g_autoptr(GIOStream) conn = soup_server_message_steal_connection(send->msg);
			if (conn != NULL)
				g_io_stream_close(conn, NULL, NULL);
		}
		herald_files_minio_send_unref(send);
		return;
	}
	if (g_bytes_get_size(bytes) == 0) {
		soup_message_body_complete(body);
	} else {
		send->plugin->download_bytes += g_bytes_get_size(bytes);
		soup_message_body_append_bytes(body, bytes);
	}
	soup_server_message_unpause(send->msg);
	herald_files_minio_send_unref(send);
}

static void
herald_files_minio_send_next(HeraldFilesMinioSend *send)
{
	g_input_stream_read_bytes_async(send->stream,
					HERALD_FILES_MINIO_READ_CHUNK,
					G_PRIORITY_DEFAULT,
					send->cancellable,
					herald_files_minio_send_read_cb,
					g_rc_box_acquire(send));
}

static void
herald_files_minio_send_wrote_chunk_cb(SoupServerMessage *msg, gpointer user_data)
{
	herald_files_minio_send_next(user_data);
}

static void
herald_files_minio_send_finished_cb(SoupServerMessage *msg, gpointer user_data)
{
	HeraldFilesMinioSend *send = user_data;
	send->finished = TRUE;
	g_cancellable_cancel(send->cancellable);
	g_clear_signal_handler(&send->wrote_id, send->msg);
	g_clear_signal_handler(&send->finished_id, send->msg);
	herald_files_minio_send_unref(send);
}

/* answer a paused message with @stream as its body */
static void
herald_files_minio_send_stream(HeraldFilesMinioPlugin *self,
			       SoupServerMessage *msg,
			       GInputStream *stream,
			       goffset size,
			       const gchar *content_type,
			       const gchar *filename)
{
	SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
	HeraldFilesMinioSend *send;

	soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
	soup_message_headers_replace(headers, "Content-Type", content_type);
	soup_message_headers_replace(headers, "Cache-Control", "no-store");
	soup_message_headers_replace(headers, "X-Content-Type-Options", "nosniff");
	if (filename != NULL) {
		g_autoptr(GHashTable) params = g_hash_table_new(g_str_hash, g_str_equal);
		g_hash_table_insert(params, (gpointer) "filename", (gpointer)filename);
		soup_message_headers_set_content_disposition(headers, "attachment", params);
	}
	if (size >= 0)
		soup_message_headers_set_content_length(headers, size);
	else
		soup_message_headers_set_encoding(headers, SOUP_ENCODING_CHUNKED);
	if (g_strcmp0(soup_server_message_get_method(msg), "HEAD") == 0) {
		soup_server_message_unpause(msg);
		return;
	}
	self->downloads++;
	soup_message_body_set_accumulate(soup_server_message_get_response_body(msg), FALSE);
	send = g_rc_box_new0(HeraldFilesMinioSend);
	send->plugin = g_object_ref(self);
	send->msg = g_object_ref(msg);
	send->stream = g_object_ref(stream);
	send->cancellable = g_cancellable_new();
	send->wrote_id = g_signal_connect(
	    msg, "wrote-chunk", G_CALLBACK(herald_files_minio_send_wrote_chunk_cb), send);
	/* the handlers' reference */
	send->finished_id = g_signal_connect(
	    msg, "finished", G_CALLBACK(herald_files_minio_send_finished_cb), send);
	herald_files_minio_send_next(send);
}

/* a paused request waiting for the backend */
typedef struct {
	HeraldFilesMinioPlugin *plugin;
	SoupServerMessage *msg;
	gchar *object_name;
	guint64 expires_s;
	gchar *base_url;
} HeraldFilesMinioRequest;

static HeraldFilesMinioRequest *
herald_files_minio_request_new(HeraldFilesMinioPlugin *self,
			       SoupServerMessage *msg,
			       const gchar *object_name)
{
	HeraldFilesMinioRequest *req = g_new0(HeraldFilesMinioRequest, 1);
	req->plugin = g_object_ref(self);
	req->msg = g_object_ref(msg);
	req->object_name = g_strdup(object_name);
	soup_server_message_pause(msg);
	return req;
}

static void
herald_files_minio_request_free(HeraldFilesMinioRequest *req)
{
	g_object_unref(req->plugin);
	g_object_unref(req->msg);
	g_free(req->object_name);
	g_free(req->base_url);
	g_free(req);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldFilesMinioRequest, herald_files_minio_request_free)

static void
herald_files_minio_request_fail(HeraldFilesMinioRequest *req, GError *error)
{
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
		g_autoptr(GError) nf = g_error_new_literal(HERALD_ERROR,
							   HERALD_ERROR_NOT_FOUND,
							   /* TRANSLATORS: HTTP 404 */
							   _("no such object"));
		herald_files_minio_reply_error(req->msg, nf);
	} else if (g_error_matches(error, HERALD_ERROR, HERALD_ERROR_NOT_FOUND)) {
		g_autoptr(GError) nf =
		    g_error_new_literal(HERALD_ERROR, HERALD_ERROR_NOT_FOUND, _("no such object"));
		herald_files_minio_reply_error(req->msg, nf);
	} else {
		if (error->domain == HERALD_ERROR)
			g_warning("object store request for '%s' failed: %s",
				  req->object_name,
				  error->message);
		herald_files_minio_reply_error(req->msg, error);
	}
	soup_server_message_unpause(req->msg);
}

static gchar *
herald_files_minio_local_path(HeraldFilesMinioPlugin *self, const gchar *object_name)
{
	return g_build_filename(self->local_dir, object_name, NULL);
}

/* the part of an object name after the uuid, for Content-Disposition */
static const gchar *
herald_files_minio_display_name(const gchar *object_name)
{
	if (strlen(object_name) > 37 && object_name[36] == '-')
		return object_name + 37;
	return object_name;
}

static void
herald_files_minio_download_s3_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(HeraldFilesMinioRequest) req = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *content_type = NULL;
	goffset size = -1;
	g_autoptr(GInputStream) stream = herald_files_minio_s3_get_finish(
	    HERALD_FILES_MINIO_S3(source), res, &size, &content_type, &error);
	if (stream == NULL) {
		herald_files_minio_request_fail(req, error);
		return;
	}
	herald_files_minio_send_stream(req->plugin,
				       req->msg,
				       stream,
				       size,
				       content_type != NULL ? content_type
							    : "application/octet-stream",
				       herald_files_minio_display_name(req->object_name));
}

static void
herald_files_minio_download_local_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(HeraldFilesMinioRequest) req = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GFileInputStream) stream = g_file_read_finish(G_FILE(source), res, &error);
	g_autoptr(GFileInfo) info = NULL;
	g_autofree gchar *ext = NULL;

	if (stream != NULL)
		info = g_file_input_stream_query_info(
		    stream, G_FILE_ATTRIBUTE_STANDARD_SIZE, NULL, &error);
	if (info == NULL) {
		herald_files_minio_request_fail(req, error);
		return;
	}
	ext = herald_files_minio_get_extension(req->object_name);
	herald_files_minio_send_stream(req->plugin,
				       req->msg,
				       G_INPUT_STREAM(stream),
				       g_file_info_get_size(info),
				       herald_files_minio_content_type_for(ext),
				       herald_files_minio_display_name(req->object_name));
}

static void
herald_files_minio_start_download(HeraldFilesMinioPlugin *self,
				  SoupServerMessage *msg,
				  const gchar *object_name)
{
	HeraldFilesMinioRequest *req = herald_files_minio_request_new(self, msg, object_name);
	if (self->backend == HERALD_FILES_MINIO_BACKEND_S3) {
		herald_files_minio_s3_get_async(self->s3,
						soup_server_message_get_method(msg),
						object_name,
						self->cancellable,
						herald_files_minio_download_s3_cb,
						req);
	} else {
		g_autofree gchar *path = herald_files_minio_local_path(self, object_name);
		g_autoptr(GFile) file = g_file_new_for_path(path);
		g_file_read_async(file,
				  G_PRIORITY_DEFAULT,
				  self->cancellable,
				  herald_files_minio_download_local_cb,
				  req);
	}
}

static void
herald_files_minio_download_cb(SoupServerMessage *msg,
			       const gchar *subpath,
			       HeraldIdentity *identity,
			       gpointer user_data)
{
	HeraldFilesMinioPlugin *self = HERALD_FILES_MINIO_PLUGIN(user_data);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *name = herald_files_minio_object_name_parse(subpath, &error);
	if (name == NULL) {
		herald_files_minio_reply_error(msg, error);
		return;
	}
	herald_files_minio_start_download(self, msg, name);
}

/* ---- signed links of the local backend ---- */

static gchar *
herald_files_minio_local_signature(HeraldFilesMinioPlugin *self,
				   const gchar *object_name,
				   gint64 expires_at)
{
	g_autoptr(GHmac) hmac = g_hmac_new(G_CHECKSUM_SHA256,
					   g_bytes_get_data(self->url_key, NULL),
					   g_bytes_get_size(self->url_key));
	g_autofree gchar *data =
	    g_strdup_printf("GET\n%s\n%" G_GINT64_FORMAT, object_name, expires_at);
	g_hmac_update(hmac, (const guchar *)data, (gssize)strlen(data));
	return g_strdup(g_hmac_get_string(hmac));
}

static gboolean
herald_files_minio_equal_const_time(const gchar *a, const gchar *b)
{
	gsize la = strlen(a), lb = strlen(b);
	guint8 diff = la != lb;
	for (gsize i = 0; i < la && i < lb; i++)
		diff |= (guint8)(a[i] ^ b[i]);
	return diff == 0;
}

static void
herald_files_minio_signed_cb(SoupServerMessage *msg,
			     const gchar *subpath,
			     HeraldIdentity *identity,
			     gpointer user_data)
{
	HeraldFilesMinioPlugin *self = HERALD_FILES_MINIO_PLUGIN(user_data);
	const gchar *query = g_uri_get_query(soup_server_message_get_uri(msg));
	g_autoptr(GHashTable) params = query != NULL ? soup_form_decode(query) : NULL;
	const gchar *expires = params != NULL ? g_hash_table_lookup(params, "expires") : NULL;
	const gchar *sig = params != NULL ? g_hash_table_lookup(params, "signature") : NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *name = herald_files_minio_object_name_parse(subpath, &error);
	g_autofree gchar *expected = NULL;
	guint64 expires_at = 0;

	if (name == NULL) {
		herald_files_minio_reply_error(msg, error);
		return;
	}
	if (expires == NULL || sig == NULL ||
	    !g_ascii_string_to_unsigned(expires, 10, 1, G_MAXINT64, &expires_at, NULL)) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_PERMISSION_DENIED,
						/* TRANSLATORS: HTTP 403 */
						_("the link is not signed"));
		return;
	}
	expected = herald_files_minio_local_signature(self, name, (gint64)expires_at);
	if (!herald_files_minio_equal_const_time(expected, sig)) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_PERMISSION_DENIED,
						/* TRANSLATORS: HTTP 403 */
						_("the link's signature is not valid"));
		return;
	}
	if ((gint64)expires_at < g_get_real_time() / G_USEC_PER_SEC) {
		herald_http_reply_error_literal(msg,
						HERALD_ERROR_PERMISSION_DENIED,
						/* TRANSLATORS: HTTP 403 */
						_("the link has expired"));
		return;
	}
	herald_files_minio_start_download(self, msg, name);
}

/* ---- presigned URLs ---- */

static void
herald_files_minio_url_reply(HeraldFilesMinioRequest *req)
{
	HeraldFilesMinioPlugin *self = req->plugin;
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autoptr(GDateTime) expires = g_date_time_add_seconds(now, (gdouble)req->expires_s);
	g_autofree gchar *expires_str = g_date_time_format_iso8601(expires);
	g_autofree gchar *url = NULL;
	g_autoptr(JsonBuilder) builder = json_builder_new();

	if (self->backend == HERALD_FILES_MINIO_BACKEND_S3) {
		url = herald_files_minio_s3_presign_get(
		    self->s3, req->object_name, req->expires_s, now);
	} else {
		gint64 at = g_date_time_to_unix(expires);
		g_autofree gchar *sig =
		    herald_files_minio_local_signature(self, req->object_name, at);
		url = g_strdup_printf("%s/v1/files/signed/%s?expires=%" G_GINT64_FORMAT
				      "&signature=%s",
				      req->base_url,
				      req->object_name,
				      at,
				      sig);
	}
	self->presigned++;
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "url");
	json_builder_add_string_value(builder, url);
	json_builder_set_member_name(builder, "expires_at");
	json_builder_add_string_value(builder, expires_str);
	json_builder_end_object(builder);
	herald_http_reply_builder(req->msg, SOUP_STATUS_OK, builder);
	soup_server_message_unpause(req->msg);
}

static void
herald_files_minio_url_head_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(HeraldFilesMinioRequest) req = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GInputStream) stream = herald_files_minio_s3_get_finish(
	    HERALD_FILES_MINIO_S3(source), res, NULL, NULL, &error);
	if (stream == NULL) {
		herald_files_minio_request_fail(req, error);
		return;
	}
	herald_files_minio_url_reply(req);
}

static void
herald_files_minio_url_info_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(HeraldFilesMinioRequest) req = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GFileInfo) info = g_file_query_info_finish(G_FILE(source), res, &error);
	if (info == NULL) {
		herald_files_minio_request_fail(req, error);
		return;
	}
	herald_files_minio_url_reply(req);
}

static void
herald_files_minio_url_cb(SoupServerMessage *msg,
			  const gchar *subpath,
			  HeraldIdentity *identity,
			  gpointer user_data)
{
	HeraldFilesMinioPlugin *self = HERALD_FILES_MINIO_PLUGIN(user_data);
	const gchar *query = g_uri_get_query(soup_server_message_get_uri(msg));
	g_autoptr(GHashTable) params = query != NULL ? soup_form_decode(query) : NULL;
	const gchar *expires = params != NULL ? g_hash_table_lookup(params, "expires") : NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *name = herald_files_minio_object_name_parse(subpath, &error);
	guint64 expires_s = self->presign_default_s;
	HeraldFilesMinioRequest *req;

	if (name == NULL) {
		herald_files_minio_reply_error(msg, error);
		return;
	}
	if (expires != NULL &&
	    !g_ascii_string_to_unsigned(expires, 10, 1, self->presign_max_s, &expires_s, NULL)) {
		g_autofree gchar *text =
		    /* TRANSLATORS: HTTP 400; %u is a number of seconds */
		    g_strdup_printf(_("expires must be a whole number of seconds from 1 to %u"),
				    (guint)self->presign_max_s);
		herald_http_reply_error_literal(msg, HERALD_ERROR_INVALID_ARGUMENT, text);
		return;
	}
	expires_s = MIN(expires_s, self->presign_max_s);
	req = herald_files_minio_request_new(self, msg, name);
	req->expires_s = expires_s;
	if (self->backend == HERALD_FILES_MINIO_BACKEND_S3) {
		herald_files_minio_s3_get_async(
		    self->s3, "HEAD", name, self->cancellable, herald_files_minio_url_head_cb, req);
	} else {
		g_autofree gchar *path = herald_files_minio_local_path(self, name);
		g_autoptr(GFile) file = g_file_new_for_path(path);
		/* never from Host, X-Forwarded-Host or Forwarded: the client would
		 * choose where the link it hands to others points */
		req->base_url = g_strdup(self->public_url);
		g_file_query_info_async(file,
					G_FILE_ATTRIBUTE_STANDARD_SIZE,
					G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS,
					G_PRIORITY_DEFAULT,
					self->cancellable,
					herald_files_minio_url_info_cb,
					req);
	}
}

/* ---- delete ---- */

static void
herald_files_minio_deleted(HeraldFilesMinioRequest *req)
{
	req->plugin->deletes++;
	g_info("deleted '%s'", req->object_name);
	soup_server_message_set_status(req->msg, SOUP_STATUS_NO_CONTENT, NULL);
	soup_server_message_unpause(req->msg);
}

static void
herald_files_minio_delete_s3_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(HeraldFilesMinioRequest) req = user_data;
	g_autoptr(GError) error = NULL;
	if (!herald_files_minio_s3_delete_finish(HERALD_FILES_MINIO_S3(source), res, &error)) {
		herald_files_minio_request_fail(req, error);
		return;
	}
	herald_files_minio_deleted(req);
}

static void
herald_files_minio_delete_head_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldFilesMinioRequest *req = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GInputStream) stream = herald_files_minio_s3_get_finish(
	    HERALD_FILES_MINIO_S3(source), res, NULL, NULL, &error);
	if (stream == NULL) {
		herald_files_minio_request_fail(req, error);
		herald_files_minio_request_free(req);
		return;
	}
	herald_files_minio_s3_delete_async(req->plugin->s3,
					   req->object_name,
					   req->plugin->cancellable,
					   herald_files_minio_delete_s3_cb,
					   req);
}

static void
herald_files_minio_delete_local_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(HeraldFilesMinioRequest) req = user_data;
	g_autoptr(GError) error = NULL;
	if (!g_file_delete_finish(G_FILE(source), res, &error)) {
		herald_files_minio_request_fail(req, error);
		return;
	}
	herald_files_minio_deleted(req);
}

static void
herald_files_minio_delete_cb(SoupServerMessage *msg,
			     const gchar *subpath,
			     HeraldIdentity *identity,
			     gpointer user_data)
{
	HeraldFilesMinioPlugin *self = HERALD_FILES_MINIO_PLUGIN(user_data);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *name = herald_files_minio_object_name_parse(subpath, &error);
	HeraldFilesMinioRequest *req;

	if (name == NULL) {
		herald_files_minio_reply_error(msg, error);
		return;
	}
	req = herald_files_minio_request_new(self, msg, name);
	if (self->backend == HERALD_FILES_MINIO_BACKEND_S3) {
		/* S3 deletes what is not there without complaint; callers want 404 */
		herald_files_minio_s3_get_async(self->s3,
						"HEAD",
						name,
						self->cancellable,
						herald_files_minio_delete_head_cb,
						req);
	} else {
		g_autofree gchar *path = herald_files_minio_local_path(self, name);
		g_autoptr(GFile) file = g_file_new_for_path(path);
		g_file_delete_async(file,
				    G_PRIORITY_DEFAULT,
				    self->cancellable,
				    herald_files_minio_delete_local_cb,
				    req);
	}
}

/* ---- templates ---- */

static void
herald_files_minio_template_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(HeraldFilesMinioRequest) req = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GFileInputStream) stream = g_file_read_finish(G_FILE(source), res, &error);
	g_autoptr(GFileInfo) info = NULL;

	if (stream != NULL)
		info = g_file_input_stream_query_info(
		    stream, G_FILE_ATTRIBUTE_STANDARD_SIZE, NULL, &error);
	if (info == NULL) {
		g_autoptr(GError) missing = NULL;
		g_warning("template '%s' cannot be read: %s", req->object_name, error->message);
		missing = g_error_new_literal(HERALD_ERROR,
					      HERALD_ERROR_UNAVAILABLE,
					      /* TRANSLATORS: HTTP 503 */
					      _("the template is not installed"));
		herald_files_minio_reply_error(req->msg, missing);
		soup_server_message_unpause(req->msg);
		return;
	}
	herald_files_minio_send_stream(req->plugin,
				       req->msg,
				       G_INPUT_STREAM(stream),
				       g_file_info_get_size(info),
				       herald_files_minio_content_type_for(".xlsx"),
				       "ofertas.xlsx");
}

static void
herald_files_minio_templates_cb(SoupServerMessage *msg,
				const gchar *subpath,
				HeraldIdentity *identity,
				gpointer user_data)
{
	HeraldFilesMinioPlugin *self = HERALD_FILES_MINIO_PLUGIN(user_data);
	g_autofree gchar *path = g_build_filename(self->templates_dir, "ofertas.xlsx", NULL);
	g_autoptr(GFile) file = g_file_new_for_path(path);
	HeraldFilesMinioRequest *req = herald_files_minio_request_new(self, msg, path);
	g_file_read_async(
	    file, G_PRIORITY_DEFAULT, self->cancellable, herald_files_minio_template_cb, req);
}

/* ---- life cycle ---- */

static void
herald_files_minio_plugin_check_bucket(HeraldFilesMinioPlugin *self);

static gboolean
herald_files_minio_plugin_bucket_retry_cb(gpointer user_data)
{
	HeraldFilesMinioPlugin *self = HERALD_FILES_MINIO_PLUGIN(user_data);
	self->bucket_retry_id = 0;
	herald_files_minio_plugin_check_bucket(self);
	return G_SOURCE_REMOVE;
}

static void
herald_files_minio_plugin_bucket_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldFilesMinioPlugin *self = HERALD_FILES_MINIO_PLUGIN(user_data);
	g_autoptr(GError) error = NULL;
	gboolean created = FALSE;
	const gchar *bucket = herald_plugin_get_config_string(HERALD_PLUGIN(self), "bucket");

	if (!herald_files_minio_s3_ensure_bucket_finish(
		HERALD_FILES_MINIO_S3(source), res, &created, &error)) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			g_object_unref(self);
			return;
		}
		g_warning("bucket '%s' cannot be checked, retrying in %us: %s",
			  bucket,
			  (guint)self->bucket_retry_s,
			  error->message);
		herald_plugin_set_state(
		    HERALD_PLUGIN(self), HERALD_PLUGIN_STATE_DEGRADED, error->message);
		self->bucket_retry_id = g_timeout_add_seconds(
		    (guint)self->bucket_retry_s, herald_files_minio_plugin_bucket_retry_cb, self);
		g_object_unref(self);
		return;
	}
	if (created)
		g_info("bucket '%s' created", bucket);
	else
		g_info("bucket '%s' is ready", bucket);
	self->bucket_ready = TRUE;
	herald_plugin_set_state(HERALD_PLUGIN(self), HERALD_PLUGIN_STATE_RUNNING, NULL);
	g_object_unref(self);
}

static void
herald_files_minio_plugin_check_bucket(HeraldFilesMinioPlugin *self)
{
	herald_files_minio_s3_ensure_bucket_async(
	    self->s3, self->cancellable, herald_files_minio_plugin_bucket_cb, g_object_ref(self));
}

static void
herald_files_minio_plugin_read_limits(HeraldFilesMinioPlugin *self)
{
	HeraldPlugin *plugin = HERALD_PLUGIN(self);
	self->max_file_size =
	    herald_plugin_get_config_uint64(plugin, "max-file-size-mb") * 1024 * 1024;
	g_strfreev(self->allowed_extensions);
	self->allowed_extensions = herald_plugin_get_config_strv(plugin, "allowed-extensions");
	self->presign_max_s = herald_plugin_get_config_uint64(plugin, "presign-max-s");
	self->presign_default_s = herald_plugin_get_config_uint64(plugin, "presign-default-s");
	self->scan_error_reject =
	    g_strcmp0(herald_plugin_get_config_string(plugin, "on-scan-error"), "reject") == 0;
	self->rate_limit = herald_plugin_get_config_uint64(plugin, "upload-rate-limit");
	self->max_concurrent = herald_plugin_get_config_uint64(plugin, "max-concurrent-uploads");
	self->max_per_user = herald_plugin_get_config_uint64(plugin, "max-uploads-per-user");
	self->bucket_retry_s = herald_plugin_get_config_uint64(plugin, "bucket-retry-s");
	g_free(self->templates_dir);
	self->templates_dir = g_strdup(herald_plugin_get_config_string(plugin, "templates-dir"));
	g_free(self->public_url);
	self->public_url = g_strdup(herald_plugin_get_config_string(plugin, "public-url"));
	if (self->public_url == NULL || self->public_url[0] == '\0') {
		g_auto(GStrv) listen =
		    herald_config_get_strv(herald_plugin_get_config(plugin), "host", "listen");
		gboolean wildcard = FALSE;
		g_free(self->public_url);
		self->public_url = herald_files_minio_base_url_from_listen(listen, &wildcard);
		self->public_url_wildcard = wildcard;
	} else {
		self->public_url_wildcard = FALSE;
	}
	while (g_str_has_suffix(self->public_url, "/"))
		self->public_url[strlen(self->public_url) - 1] = '\0';
}

/* a random key kept next to the objects, so that links survive a restart */
static GBytes *
herald_files_minio_plugin_load_url_key(HeraldFilesMinioPlugin *self, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *secret =
	    herald_plugin_get_config_secret(HERALD_PLUGIN(self), "url-secret", &error_local);
	g_autofree gchar *path = NULL;
	gchar *contents = NULL;
	gsize len = 0;
	guint8 key[32];

	/* unset is not an error */
	if (secret == NULL && error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return NULL;
	}
	if (secret != NULL && secret[0] != '\0') {
		gsize secret_len = strlen(secret);
		return g_bytes_new_take(g_steal_pointer(&secret), secret_len);
	}
	path =
	    g_build_filename(herald_host_get_state_dir(herald_plugin_get_host(HERALD_PLUGIN(self))),
			     "files-minio-url.key",
			     NULL);
	if (g_file_get_contents(path, &contents, &len, NULL) && len >= 32)
		return g_bytes_new_take(contents, len);
	g_free(contents);
	for (guint i = 0; i < sizeof(key); i += 4) {
		guint32 r = g_random_int();
		memcpy(key + i, &r, 4);
	}
	if (!g_file_set_contents_full(path,
				      (const gchar *)key,
				      sizeof(key),
				      G_FILE_SET_CONTENTS_CONSISTENT,
				      0600,
				      error)) {
		g_prefix_error(error, "cannot keep the signed-link key: ");
		return NULL;
	}
	return g_bytes_new(key, sizeof(key));
}

/* temporary files of uploads that a crash left behind */
static void
herald_files_minio_plugin_clean_tmp(HeraldFilesMinioPlugin *self)
{
	g_autoptr(GDir) dir = g_dir_open(self->tmp_dir, 0, NULL);
	const gchar *name;
	if (dir == NULL)
		return;
	while ((name = g_dir_read_name(dir)) != NULL) {
		if (g_str_has_prefix(name, "upload-")) {
			g_autofree gchar *path = g_build_filename(self->tmp_dir, name, NULL);
			g_unlink(path);
		}
	}
}

/* for --check-config and reloads: what the schema cannot say; no I/O */
static void
herald_files_minio_plugin_check_config(HeraldPlugin *plugin, GPtrArray *problems)
{
	const gchar *backend = herald_plugin_get_config_string(plugin, "backend");
	const gchar *access_key = herald_plugin_get_config_string(plugin, "access-key");
	g_autoptr(GError) error = NULL;

	if (herald_plugin_get_config_uint64(plugin, "presign-default-s") >
	    herald_plugin_get_config_uint64(plugin, "presign-max-s")) {
		herald_plugin_add_config_problem(plugin,
						 problems,
						 "presign-default-s",
						 /* TRANSLATORS: config error */
						 _("must not be larger than presign-max-s"));
	}
	if (!herald_files_minio_public_url_is_valid(
		herald_plugin_get_config_string(plugin, "public-url"))) {
		herald_plugin_add_config_problem(
		    plugin,
		    problems,
		    "public-url",
		    /* TRANSLATORS: config error */
		    _("public-url must be an http:// or https:// URL without credentials, "
		      "query or fragment"));
	}
	if (g_strcmp0(backend, "s3") != 0)
		return;
	if (!herald_files_minio_s3_check_endpoint(
		herald_plugin_get_config_string(plugin, "endpoint"), &error))
		herald_plugin_add_config_problem(plugin, problems, "endpoint", error->message);
	if (access_key == NULL || access_key[0] == '\0') {
		herald_plugin_add_config_problem(plugin,
						 problems,
						 "access-key",
						 /* TRANSLATORS: config error */
						 _("backend=s3 needs an access key"));
	}
}

static gboolean
herald_files_minio_plugin_startup(HeraldPlugin *plugin, GError **error)
{
	HeraldFilesMinioPlugin *self = HERALD_FILES_MINIO_PLUGIN(plugin);
	HeraldHost *host = herald_plugin_get_host(plugin);
	const gchar *state_dir = herald_host_get_state_dir(host);
	const gchar *backend = herald_plugin_get_config_string(plugin, "backend");
	const gchar *local_dir = herald_plugin_get_config_string(plugin, "local-dir");

	herald_files_minio_plugin_read_limits(self);
	self->tmp_dir = g_build_filename(state_dir, "files-minio-tmp", NULL);
	if (g_mkdir_with_parents(self->tmp_dir, 0700) != 0) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: %s is a directory, %s an OS error */
			    _("cannot create '%s': %s"),
			    self->tmp_dir,
			    g_strerror(errno));
		return FALSE;
	}
	herald_files_minio_plugin_clean_tmp(self);
	self->cancellable = g_cancellable_new();

	if (g_strcmp0(backend, "s3") == 0) {
		HeraldFilesMinioS3Options options = {0};
		g_autoptr(GError) error_local = NULL;
		g_autofree gchar *secret =
		    herald_plugin_get_config_secret(plugin, "secret-key", &error_local);
		const gchar *access_key = herald_plugin_get_config_string(plugin, "access-key");
		if (secret == NULL && error_local != NULL) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		if (access_key == NULL || access_key[0] == '\0' || secret == NULL ||
		    secret[0] == '\0') {
			g_set_error_literal(
			    error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: config error */
			    _("backend=s3 needs access-key and secret-key (or secret-key-file)"));
			return FALSE;
		}
		self->backend = HERALD_FILES_MINIO_BACKEND_S3;
		options.endpoint = herald_plugin_get_config_string(plugin, "endpoint");
		options.region = herald_plugin_get_config_string(plugin, "region");
		options.bucket = herald_plugin_get_config_string(plugin, "bucket");
		options.access_key = access_key;
		options.secret_key = secret;
		options.timeout_s =
		    (guint)herald_plugin_get_config_uint64(plugin, "request-timeout-s");
		options.retries = (guint)herald_plugin_get_config_uint64(plugin, "retries");
		options.multipart_threshold =
		    herald_plugin_get_config_uint64(plugin, "multipart-threshold-mb") * 1024 * 1024;
		options.part_size =
		    herald_plugin_get_config_uint64(plugin, "multipart-part-size-mb") * 1024 * 1024;
		options.max_connections = 32;
		self->s3 = herald_files_minio_s3_new(&options, error);
		memset(secret, 0, strlen(secret));
		if (self->s3 == NULL)
			return FALSE;
	} else {
		self->backend = HERALD_FILES_MINIO_BACKEND_LOCAL;
		/* once, at start: listen does not change on reload */
		if (self->public_url_wildcard)
			g_warning("public-url is empty and [host] listen is a wildcard address: "
				  "signed links point at %s, which only this machine can reach; "
				  "set [files-minio] public-url",
				  self->public_url);
		self->local_dir = local_dir != NULL && local_dir[0] != '\0'
				      ? g_strdup(local_dir)
				      : g_build_filename(state_dir, "files", NULL);
		if (g_mkdir_with_parents(self->local_dir, 0700) != 0) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    _("cannot create '%s': %s"),
				    self->local_dir,
				    g_strerror(errno));
			return FALSE;
		}
		self->url_key = herald_files_minio_plugin_load_url_key(self, error);
		if (self->url_key == NULL)
			return FALSE;
	}

	herald_host_add_http_route(host,
				   plugin,
				   "POST",
				   "/v1/files/upload",
				   HERALD_HTTP_ROUTE_STREAMING,
				   HERALD_HTTP_AUTH_USER,
				   herald_files_minio_upload_cb,
				   self);
	herald_host_add_http_route(host,
				   plugin,
				   "GET",
				   "/v1/files/download/",
				   HERALD_HTTP_ROUTE_PREFIX,
				   HERALD_HTTP_AUTH_USER,
				   herald_files_minio_download_cb,
				   self);
	herald_host_add_http_route(host,
				   plugin,
				   "GET",
				   "/v1/files/url/",
				   HERALD_HTTP_ROUTE_PREFIX,
				   HERALD_HTTP_AUTH_USER,
				   herald_files_minio_url_cb,
				   self);
	herald_host_add_http_route(host,
				   plugin,
				   "DELETE",
				   "/v1/files/",
				   HERALD_HTTP_ROUTE_PREFIX,
				   HERALD_HTTP_AUTH_USER,
				   herald_files_minio_delete_cb,
				   self);
	herald_host_add_http_route(host,
				   plugin,
				   "GET",
				   "/v1/files/templates/ofertas",
				   HERALD_HTTP_ROUTE_NONE,
				   HERALD_HTTP_AUTH_USER,
				   herald_files_minio_templates_cb,
				   self);
	if (self->backend == HERALD_FILES_MINIO_BACKEND_LOCAL) {
		/* the signature is the credential */
		herald_host_add_http_route(host,
					   plugin,
					   "GET",
					   "/v1/files/signed/",
					   HERALD_HTTP_ROUTE_PREFIX,
					   HERALD_HTTP_AUTH_NONE,
					   herald_files_minio_signed_cb,
					   self);
	}
	if (self->backend == HERALD_FILES_MINIO_BACKEND_S3)
		herald_files_minio_plugin_check_bucket(self);
	return TRUE;
}

static gboolean
herald_files_minio_plugin_reload(HeraldPlugin *plugin, GError **error)
{
	herald_files_minio_plugin_read_limits(HERALD_FILES_MINIO_PLUGIN(plugin));
	return TRUE;
}

static void
herald_files_minio_plugin_shutdown_async(HeraldPlugin *plugin,
					 GCancellable *cancellable,
					 GAsyncReadyCallback callback,
					 gpointer user_data)
{
	HeraldFilesMinioPlugin *self = HERALD_FILES_MINIO_PLUGIN(plugin);
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_autoptr(GList) uploads = g_hash_table_get_keys(self->active);
	g_autoptr(GError) down = g_error_new_literal(HERALD_ERROR,
						     HERALD_ERROR_SHUTTING_DOWN,
						     /* TRANSLATORS: HTTP 503 */
						     _("the server is shutting down"));

	g_clear_handle_id(&self->bucket_retry_id, g_source_remove);
	if (self->cancellable != NULL)
		g_cancellable_cancel(self->cancellable);
	/* uploads still receiving or waiting: answer 503 now and remove their
	 * temporary files, whatever stage they are in */
	for (GList *l = uploads; l != NULL; l = l->next) {
		HeraldFilesMinioUpload *up = herald_files_minio_upload_ref(l->data);
		herald_files_minio_upload_abort(up, down);
		if (up->tmp_path != NULL)
			g_unlink(up->tmp_path);
		herald_files_minio_upload_unref(up);
	}
	g_task_return_boolean(task, TRUE);
}

static gboolean
herald_files_minio_plugin_shutdown_finish(HeraldPlugin *plugin, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

static void
herald_files_minio_plugin_add_stats(HeraldPlugin *plugin, GVariantDict *dict)
{
	HeraldFilesMinioPlugin *self = HERALD_FILES_MINIO_PLUGIN(plugin);
	GVariantBuilder rejected;

	g_variant_dict_insert(dict, "uploads_total", "t", self->uploads);
	g_variant_dict_insert(dict, "upload_bytes_total", "t", self->upload_bytes);
	g_variant_dict_insert(dict, "uploads_in_progress", "u", self->active_uploads);
	g_variant_builder_init(&rejected, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(
	    &rejected, "{sv}", "too_large", g_variant_new_uint64(self->rejected_too_large));
	g_variant_builder_add(
	    &rejected, "{sv}", "invalid", g_variant_new_uint64(self->rejected_invalid));
	g_variant_builder_add(&rejected, "{sv}", "type", g_variant_new_uint64(self->rejected_type));
	g_variant_builder_add(
	    &rejected, "{sv}", "infected", g_variant_new_uint64(self->rejected_infected));
	g_variant_builder_add(
	    &rejected, "{sv}", "rate_limited", g_variant_new_uint64(self->rejected_rate));
	g_variant_builder_add(&rejected, "{sv}", "busy", g_variant_new_uint64(self->rejected_busy));
	g_variant_builder_add(&rejected,
			      "{sv}",
			      "busy_user",
			      g_variant_new_uint64(self->rejected_busy_user));
	g_variant_dict_insert_value(
	    dict, "uploads_rejected_total", g_variant_builder_end(&rejected));
	g_variant_dict_insert(dict, "scan_errors_total", "t", self->scan_errors);
	g_variant_dict_insert(dict, "uploads_not_scanned_total", "t", self->not_scanned);
	g_variant_dict_insert(dict, "store_errors_total", "t", self->store_errors);
	g_variant_dict_insert(dict, "downloads_total", "t", self->downloads);
	g_variant_dict_insert(dict, "download_bytes_total", "t", self->download_bytes);
	g_variant_dict_insert(dict, "presigned_urls_total", "t", self->presigned);
	g_variant_dict_insert(dict, "deletes_total", "t", self->deletes);
	if (self->s3 != NULL)
		herald_files_minio_s3_add_stats(self->s3, dict);
}

static void
herald_files_minio_plugin_init(HeraldFilesMinioPlugin *self)
{
	herald_plugin_add_config_keys(
	    HERALD_PLUGIN(self), files_minio_keys, G_N_ELEMENTS(files_minio_keys));
	self->rate = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->active = g_hash_table_new(NULL, NULL);
	self->per_user = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

static void
herald_files_minio_plugin_dispose(GObject *object)
{
	HeraldFilesMinioPlugin *self = HERALD_FILES_MINIO_PLUGIN(object);
	g_clear_handle_id(&self->bucket_retry_id, g_source_remove);
	if (self->cancellable != NULL)
		g_cancellable_cancel(self->cancellable);
	g_clear_object(&self->s3);
	G_OBJECT_CLASS(herald_files_minio_plugin_parent_class)->dispose(object);
}

static void
herald_files_minio_plugin_finalize(GObject *object)
{
	HeraldFilesMinioPlugin *self = HERALD_FILES_MINIO_PLUGIN(object);
	g_clear_object(&self->cancellable);
	g_clear_pointer(&self->url_key, g_bytes_unref);
	g_hash_table_unref(self->rate);
	g_hash_table_unref(self->active);
	g_hash_table_unref(self->per_user);
	g_strfreev(self->allowed_extensions);
	g_free(self->local_dir);
	g_free(self->tmp_dir);
	g_free(self->templates_dir);
	g_free(self->public_url);
	G_OBJECT_CLASS(herald_files_minio_plugin_parent_class)->finalize(object);
}

static void
herald_files_minio_plugin_class_init(HeraldFilesMinioPluginClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	HeraldPluginClass *plugin_class = HERALD_PLUGIN_CLASS(klass);
	object_class->dispose = herald_files_minio_plugin_dispose;
	object_class->finalize = herald_files_minio_plugin_finalize;
	plugin_class->startup = herald_files_minio_plugin_startup;
	plugin_class->reload = herald_files_minio_plugin_reload;
	plugin_class->shutdown_async = herald_files_minio_plugin_shutdown_async;
	plugin_class->shutdown_finish = herald_files_minio_plugin_shutdown_finish;
	plugin_class->add_stats = herald_files_minio_plugin_add_stats;
	plugin_class->check_config = herald_files_minio_plugin_check_config;
}

/* the one symbol this module exports */
HERALD_PLUGIN_DEFINE_QUERY_TYPE(HERALD_TYPE_FILES_MINIO_PLUGIN)
