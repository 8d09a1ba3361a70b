/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "herald-files-minio-s3.h"
#include "herald-files-minio-sigv4.h"

#define HERALD_S3_MAX_ERROR_BODY (64 * 1024)
#define HERALD_S3_MAX_XML_BODY (1024 * 1024)

struct _HeraldFilesMinioS3 {
	GObject parent_instance;
	SoupSession *session;
	gchar *base; /* scheme://host[:port] */
	gchar *host; /* the Host header: host[:port] */
	gchar *region;
	gchar *bucket;
	gchar *access_key;
	gchar *secret_key;
	guint retries;
	guint64 multipart_threshold;
	guint64 part_size;
	/* stats */
	guint64 requests;
	guint64 request_errors;
	guint64 request_retries;
	guint64 multipart_uploads;
	/* multipart uploads whose abort failed: tried again with backoff, so
	 * that their parts are not left in the bucket */
	GQueue aborts; /* (element-type HeraldS3Abort) */
	guint abort_retry_id;
	guint abort_retry_base_ms;
	gboolean abort_in_flight;
	guint64 aborts_retried;
	guint64 aborts_given_up;
};

#define HERALD_S3_ABORT_ATTEMPTS 10
#define HERALD_S3_ABORT_RETRY_MAX_MS (10 * 60 * 1000)

typedef struct {
	gchar *key;
	gchar *upload_id;
	guint attempts;
} HeraldS3Abort;

static void
herald_s3_abort_free(HeraldS3Abort *abort)
{
	g_free(abort->key);
	g_free(abort->upload_id);
	g_free(abort);
}

G_DEFINE_FINAL_TYPE(HeraldFilesMinioS3, herald_files_minio_s3, G_TYPE_OBJECT)

/* one S3 request, retried when idempotent */
typedef struct {
	gchar *method;
	gchar *key;	  /* (nullable): the bucket itself */
	GPtrArray *query; /* (element-type utf8): key, value, key, value… */
	gchar *body_path; /* (nullable): PUT the whole file */
	guint64 body_len;
	GBytes *body_bytes; /* (nullable) */
	gchar *content_type;
	gchar *payload_hash;
	gboolean idempotent;
	gboolean want_stream;
	guint attempt;
	SoupMessage *msg;
	GInputStream *stream;
	GByteArray *body;
	guint retry_id;
} HeraldS3Op;

typedef struct {
	SoupMessage *msg;
	GInputStream *stream; /* (nullable) when the body was read */
	GBytes *body;	      /* (nullable) */
} HeraldS3Response;

static void
herald_s3_response_free(HeraldS3Response *resp)
{
	g_clear_object(&resp->msg);
	g_clear_object(&resp->stream);
	g_clear_pointer(&resp->body, g_bytes_unref);
	g_free(resp);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldS3Response, herald_s3_response_free)

static void
herald_s3_op_free(HeraldS3Op *op)
{
	g_free(op->method);
	g_free(op->key);
	g_ptr_array_unref(op->query);
	g_free(op->body_path);
	g_clear_pointer(&op->body_bytes, g_bytes_unref);
	g_free(op->content_type);
	g_free(op->payload_hash);
	g_clear_object(&op->msg);
	g_clear_object(&op->stream);
	g_clear_pointer(&op->body, g_byte_array_unref);
	g_clear_handle_id(&op->retry_id, g_source_remove);
	g_free(op);
}

static HeraldS3Op *
herald_s3_op_new(const gchar *method, const gchar *key, gboolean idempotent)
{
	HeraldS3Op *op = g_new0(HeraldS3Op, 1);
	op->method = g_strdup(method);
	op->key = g_strdup(key);
	op->query = g_ptr_array_new_with_free_func(g_free);
	op->idempotent = idempotent;
	op->payload_hash = g_strdup(HERALD_FILES_MINIO_SIGV4_EMPTY_SHA256);
	return op;
}

static void
herald_s3_op_add_query(HeraldS3Op *op, const gchar *key, const gchar *value)
{
	g_ptr_array_add(op->query, g_strdup(key));
	g_ptr_array_add(op->query, g_strdup(value));
}

static gchar *
herald_s3_path(HeraldFilesMinioS3 *self, const gchar *key)
{
	if (key == NULL)
		return g_strdup_printf("/%s", self->bucket);
	return g_strdup_printf("/%s/%s", self->bucket, key);
}

/* <Error><Code>…</Code><Message>…</Message></Error> */
static gchar *
herald_s3_xml_element(const gchar *xml, const gchar *name)
{
	g_autofree gchar *open = g_strdup_printf("<%s>", name);
	g_autofree gchar *close = g_strdup_printf("</%s>", name);
	const gchar *start = xml != NULL ? strstr(xml, open) : NULL;
	const gchar *end;
	if (start == NULL)
		return NULL;
	start += strlen(open);
	end = strstr(start, close);
	if (end == NULL)
		return NULL;
	return g_strndup(start, end - start);
}

static GError *
herald_s3_error_from_response(SoupMessage *msg, GBytes *body)
{
	guint status = soup_message_get_status(msg);
	g_autofree gchar *xml = NULL;
	g_autofree gchar *code = NULL;
	g_autofree gchar *message = NULL;
	HeraldError herr = HERALD_ERROR_BAD_GATEWAY;

	if (body != NULL)
		xml = g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
	code = herald_s3_xml_element(xml, "Code");
	message = herald_s3_xml_element(xml, "Message");
	if (code == NULL)
		code = g_strdup_printf("HTTP %u", status);
	/* a missing bucket is the server's problem, not the caller's */
	if (g_strcmp0(code, "NoSuchKey") == 0 || (status == 404 && xml == NULL))
		herr = HERALD_ERROR_NOT_FOUND;
	else if (g_strcmp0(code, "NoSuchBucket") == 0)
		herr = HERALD_ERROR_UNAVAILABLE;
	else if (g_strcmp0(code, "EntityTooLarge") == 0)
		herr = HERALD_ERROR_TOO_LARGE;
	else if (g_strcmp0(code, "SlowDown") == 0 || g_strcmp0(code, "ServiceUnavailable") == 0 ||
		 status == 503)
		herr = HERALD_ERROR_UNAVAILABLE;
	else if (g_strcmp0(code, "RequestTimeout") == 0)
		herr = HERALD_ERROR_TIMED_OUT;
	if (g_strcmp0(code, "SignatureDoesNotMatch") == 0 ||
	    g_strcmp0(code, "InvalidAccessKeyId") == 0 || g_strcmp0(code, "AccessDenied") == 0) {
		return g_error_new(
		    HERALD_ERROR,
		    HERALD_ERROR_BAD_GATEWAY,
		    /* TRANSLATORS: HTTP 502; first %s is an S3 error code, second
		     * its message */
		    _("the object store refused Herald's credentials (%s: %s); check "
		      "access-key and secret-key"),
		    code,
		    message != NULL ? message : "");
	}
	return g_error_new(HERALD_ERROR,
			   herr,
			   /* TRANSLATORS: first %s is an S3 error code, second its message */
			   _("object store error %s: %s"),
			   code,
			   message != NULL ? message : soup_message_get_reason_phrase(msg));
}

static void
herald_s3_op_start(GTask *task);

static gboolean
herald_s3_op_retry_cb(gpointer user_data)
{
	GTask *task = G_TASK(user_data);
	HeraldS3Op *op = g_task_get_task_data(task);
	op->retry_id = 0;
	herald_s3_op_start(task);
	return G_SOURCE_REMOVE;
}

/* only idempotent requests, only for network errors and 5xx */
static gboolean
herald_s3_op_maybe_retry(GTask *task, const GError *error)
{
	HeraldFilesMinioS3 *self = g_task_get_source_object(task);
	HeraldS3Op *op = g_task_get_task_data(task);
	if (!op->idempotent || op->attempt > self->retries ||
	    g_task_return_error_if_cancelled(task))
		return FALSE;
	self->request_retries++;
	g_debug("%s %s failed (%s), retry %u of %u",
		op->method,
		op->key != NULL ? op->key : self->bucket,
		error->message,
		op->attempt,
		self->retries);
	g_clear_object(&op->msg);
	g_clear_object(&op->stream);
	g_clear_pointer(&op->body, g_byte_array_unref);
	/* ref held by the source; dropped when it fires */
	op->retry_id = g_timeout_add_full(G_PRIORITY_DEFAULT,
					  100u << MIN(op->attempt, 5u),
					  herald_s3_op_retry_cb,
					  g_object_ref(task),
					  g_object_unref);
	return TRUE;
}

static void
herald_s3_op_fail(GTask *task, GError *error)
{
	HeraldFilesMinioS3 *self = g_task_get_source_object(task);
	self->request_errors++;
	g_task_return_error(task, error);
}

static void
herald_s3_op_read_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	HeraldS3Op *op = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) chunk =
	    g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), res, &error);
	guint status = soup_message_get_status(op->msg);
	gsize cap = SOUP_STATUS_IS_SUCCESSFUL(status) ? HERALD_S3_MAX_XML_BODY
						      : HERALD_S3_MAX_ERROR_BODY;

	if (chunk == NULL) {
		if (!herald_s3_op_maybe_retry(task, error))
			herald_s3_op_fail(task, g_steal_pointer(&error));
		return;
	}
	if (g_bytes_get_size(chunk) > 0 && op->body->len < cap) {
		g_byte_array_append(
		    op->body, g_bytes_get_data(chunk, NULL), (guint)g_bytes_get_size(chunk));
		g_input_stream_read_bytes_async(op->stream,
						16384,
						G_PRIORITY_DEFAULT,
						g_task_get_cancellable(task),
						herald_s3_op_read_cb,
						g_object_ref(task));
		return;
	}
	/* the whole (bounded) body is in */
	{
		g_autoptr(GBytes) body = g_byte_array_free_to_bytes(g_steal_pointer(&op->body));
		HeraldS3Response *resp;
		if (!SOUP_STATUS_IS_SUCCESSFUL(status)) {
			GError *s3error = herald_s3_error_from_response(op->msg, body);
			if ((status >= 500 || status == 429) &&
			    herald_s3_op_maybe_retry(task, s3error)) {
				g_error_free(s3error);
				return;
			}
			herald_s3_op_fail(task, s3error);
			return;
		}
		resp = g_new0(HeraldS3Response, 1);
		resp->msg = g_steal_pointer(&op->msg);
		resp->body = g_steal_pointer(&body);
		g_task_return_pointer(task, resp, (GDestroyNotify)herald_s3_response_free);
	}
}

static void
herald_s3_op_send_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	HeraldS3Op *op = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	guint status;

	op->stream = soup_session_send_finish(SOUP_SESSION(source), res, &error);
	if (op->stream == NULL) {
		GError *wrapped;
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			g_task_return_error(task, g_steal_pointer(&error));
			return;
		}
		if (herald_s3_op_maybe_retry(task, error))
			return;
		wrapped = g_error_new(HERALD_ERROR,
				      g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)
					  ? HERALD_ERROR_TIMED_OUT
					  : HERALD_ERROR_UNAVAILABLE,
				      /* TRANSLATORS: %s is a network error */
				      _("the object store cannot be reached: %s"),
				      error->message);
		herald_s3_op_fail(task, wrapped);
		return;
	}
	status = soup_message_get_status(op->msg);
	if (SOUP_STATUS_IS_SUCCESSFUL(status) && op->want_stream) {
		HeraldS3Response *resp = g_new0(HeraldS3Response, 1);
		resp->msg = g_steal_pointer(&op->msg);
		resp->stream = g_steal_pointer(&op->stream);
		g_task_return_pointer(task, resp, (GDestroyNotify)herald_s3_response_free);
		return;
	}
	op->body = g_byte_array_new();
	g_input_stream_read_bytes_async(op->stream,
					16384,
					G_PRIORITY_DEFAULT,
					g_task_get_cancellable(task),
					herald_s3_op_read_cb,
					g_object_ref(task));
}

static void
herald_s3_sign(HeraldFilesMinioS3 *self, HeraldS3Op *op, SoupMessage *msg, const gchar *path)
{
	HeraldFilesMinioSigv4Creds creds = {self->access_key, self->secret_key, self->region, "s3"};
	g_autoptr(HeraldFilesMinioSigv4Request) req =
	    herald_files_minio_sigv4_request_new(op->method, path);
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree gchar *amz_date = herald_files_minio_sigv4_amz_date(now);
	g_autofree gchar *authz = NULL;
	SoupMessageHeaders *headers = soup_message_get_request_headers(msg);

	for (guint i = 0; i + 1 < op->query->len; i += 2)
		herald_files_minio_sigv4_request_add_query(
		    req, g_ptr_array_index(op->query, i), g_ptr_array_index(op->query, i + 1));
	herald_files_minio_sigv4_request_add_header(req, "host", self->host);
	authz =
	    herald_files_minio_sigv4_sign_headers(req, &creds, amz_date, op->payload_hash, TRUE);
	for (guint i = 0; i < herald_files_minio_sigv4_request_get_n_headers(req); i++) {
		const gchar *name, *value;
		herald_files_minio_sigv4_request_get_header(req, i, &name, &value);
		if (g_ascii_strcasecmp(name, "host") != 0)
			soup_message_headers_replace(headers, name, value);
	}
	soup_message_headers_replace(headers, "Authorization", authz);
}

static void
herald_s3_op_start(GTask *task)
{
	HeraldFilesMinioS3 *self = g_task_get_source_object(task);
	HeraldS3Op *op = g_task_get_task_data(task);
	g_autofree gchar *path = herald_s3_path(self, op->key);
	g_autofree gchar *epath = herald_files_minio_sigv4_uri_encode(path, FALSE);
	g_autoptr(GString) url = g_string_new(self->base);
	g_autoptr(GError) error = NULL;

	op->attempt++;
	self->requests++;
	g_string_append(url, epath);
	if (op->query->len > 0) {
		g_autoptr(HeraldFilesMinioSigv4Request) q =
		    herald_files_minio_sigv4_request_new("GET", "/");
		g_autofree gchar *query = NULL;
		for (guint i = 0; i + 1 < op->query->len; i += 2)
			herald_files_minio_sigv4_request_add_query(
			    q,
			    g_ptr_array_index(op->query, i),
			    g_ptr_array_index(op->query, i + 1));
		query = herald_files_minio_sigv4_canonical_query(q);
		g_string_append_printf(url, "?%s", query);
	}
	g_clear_object(&op->msg);
	op->msg = soup_message_new(op->method, url->str);
	if (op->msg == NULL) {
		herald_s3_op_fail(task,
				  g_error_new_literal(HERALD_ERROR,
						      HERALD_ERROR_CONFIG,
						      "invalid object store URL"));
		return;
	}
	if (op->body_path != NULL) {
		g_autoptr(GFile) file = g_file_new_for_path(op->body_path);
		g_autoptr(GFileInputStream) stream = g_file_read(file, NULL, &error);
		if (stream == NULL) {
			herald_s3_op_fail(task, g_steal_pointer(&error));
			return;
		}
		soup_message_set_request_body(
		    op->msg, op->content_type, G_INPUT_STREAM(stream), (gssize)op->body_len);
	} else if (op->body_bytes != NULL) {
		soup_message_set_request_body_from_bytes(op->msg, op->content_type, op->body_bytes);
	}
	herald_s3_sign(self, op, op->msg, path);
	soup_session_send_async(self->session,
				op->msg,
				G_PRIORITY_DEFAULT,
				g_task_get_cancellable(task),
				herald_s3_op_send_cb,
				g_object_ref(task));
}

static void
herald_s3_op_run(HeraldFilesMinioS3 *self,
		 HeraldS3Op *op,
		 GCancellable *cancellable,
		 GAsyncReadyCallback callback,
		 gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	g_task_set_task_data(task, op, (GDestroyNotify)herald_s3_op_free);
	herald_s3_op_start(task);
}

static HeraldS3Response *
herald_s3_op_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

/* bucket: HEAD, and PUT when it is missing */
static void
herald_s3_bucket_put_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldS3Response) resp = herald_s3_op_finish(res, &error);
	if (resp == NULL) {
		/* another instance created it in between */
		if (g_strstr_len(error->message, -1, "BucketAlreadyOwnedByYou") != NULL) {
			g_task_return_int(task, 0);
			return;
		}
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_task_return_int(task, 1);
}

static void
herald_s3_bucket_head_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	HeraldFilesMinioS3 *self = g_task_get_source_object(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldS3Response) resp = herald_s3_op_finish(res, &error);
	HeraldS3Op *op;

	if (resp != NULL) {
		g_task_return_int(task, 0);
		return;
	}
	if (!g_error_matches(error, HERALD_ERROR, HERALD_ERROR_NOT_FOUND)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	op = herald_s3_op_new("PUT", NULL, TRUE);
	herald_s3_op_run(
	    self, op, g_task_get_cancellable(task), herald_s3_bucket_put_cb, g_object_ref(task));
}

void
herald_files_minio_s3_ensure_bucket_async(HeraldFilesMinioS3 *self,
					  GCancellable *cancellable,
					  GAsyncReadyCallback callback,
					  gpointer user_data)
{
	GTask *task = g_task_new(self, cancellable, callback, user_data);
	HeraldS3Op *op = herald_s3_op_new("HEAD", NULL, TRUE);
	herald_s3_op_run(self, op, cancellable, herald_s3_bucket_head_cb, task);
}

gboolean
herald_files_minio_s3_ensure_bucket_finish(HeraldFilesMinioS3 *self,
					   GAsyncResult *res,
					   gboolean *created,
					   GError **error)
{
	gssize rc = g_task_propagate_int(G_TASK(res), error);
	if (rc < 0)
		return FALSE;
	if (created != NULL)
		*created = rc == 1;
	return TRUE;
}

/* multipart upload: initiate, parts one at a time (one part in memory), complete;
 * abort on any failure */
typedef struct {
	gchar *key;
	gchar *path;
	guint64 size;
	gchar *content_type;
	gchar *upload_id;
	GFileInputStream *file;
	guint part;
	guint64 offset;
	GString *complete;
	GError *error; /* (nullable): set while aborting */
} HeraldS3Multipart;

static void
herald_s3_multipart_free(HeraldS3Multipart *mp)
{
	g_free(mp->key);
	g_free(mp->path);
	g_free(mp->content_type);
	g_free(mp->upload_id);
	g_clear_object(&mp->file);
	g_string_free(mp->complete, TRUE);
	g_clear_error(&mp->error);
	g_free(mp);
}

static void
herald_s3_multipart_next(GTask *task);

static void
herald_s3_abort_schedule(HeraldFilesMinioS3 *self);

static void
herald_s3_abort_retry_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldFilesMinioS3 *self = HERALD_FILES_MINIO_S3(user_data);
	HeraldS3Abort *abort = g_queue_peek_head(&self->aborts);
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldS3Response) resp = herald_s3_op_finish(res, &error);

	self->abort_in_flight = FALSE;
	if (abort != NULL) {
		/* 404 NoSuchUpload: gone already, as wanted */
		if (resp != NULL ||
		    g_strstr_len(error->message, -1, "NoSuchUpload") != NULL) {
			g_info("multipart upload of '%s' aborted after %u attempts",
			       abort->key,
			       abort->attempts + 1);
			herald_s3_abort_free(g_queue_pop_head(&self->aborts));
		} else if (++abort->attempts >= HERALD_S3_ABORT_ATTEMPTS) {
			self->aborts_given_up++;
			g_warning("giving up aborting the multipart upload of '%s' (upload id %s) "
				  "after %u attempts: %s; its parts stay in the bucket until a "
				  "lifecycle rule (AbortIncompleteMultipartUpload) removes them",
				  abort->key,
				  abort->upload_id,
				  abort->attempts,
				  error->message);
			herald_s3_abort_free(g_queue_pop_head(&self->aborts));
		} else {
			/* the next one gets its turn; this one goes to the back */
			g_queue_push_tail(&self->aborts, g_queue_pop_head(&self->aborts));
		}
	}
	herald_s3_abort_schedule(self);
	g_object_unref(self);
}

static gboolean
herald_s3_abort_retry_cb(gpointer user_data)
{
	HeraldFilesMinioS3 *self = HERALD_FILES_MINIO_S3(user_data);
	HeraldS3Abort *abort = g_queue_peek_head(&self->aborts);
	HeraldS3Op *op;

	self->abort_retry_id = 0;
	if (abort == NULL)
		return G_SOURCE_REMOVE;
	self->aborts_retried++;
	self->abort_in_flight = TRUE;
	op = herald_s3_op_new("DELETE", abort->key, TRUE);
	herald_s3_op_add_query(op, "uploadId", abort->upload_id);
	herald_s3_op_run(self, op, NULL, herald_s3_abort_retry_done_cb, g_object_ref(self));
	return G_SOURCE_REMOVE;
}

/* backoff per attempt of the one at the head: base, 2×base … 10 min */
static void
herald_s3_abort_schedule(HeraldFilesMinioS3 *self)
{
	HeraldS3Abort *abort = g_queue_peek_head(&self->aborts);
	guint64 delay;
	if (abort == NULL || self->abort_retry_id != 0 || self->abort_in_flight ||
	    self->session == NULL)
		return;
	delay = (guint64)self->abort_retry_base_ms << MIN(abort->attempts, 16u);
	self->abort_retry_id = g_timeout_add((guint)MIN(delay, HERALD_S3_ABORT_RETRY_MAX_MS),
					     herald_s3_abort_retry_cb,
					     self);
}

static void
herald_s3_multipart_abort_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	HeraldFilesMinioS3 *self = g_task_get_source_object(task);
	HeraldS3Multipart *mp = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldS3Response) resp = herald_s3_op_finish(res, &error);
	if (resp == NULL) {
		HeraldS3Abort *abort = g_new0(HeraldS3Abort, 1);
		g_warning("aborting multipart upload of '%s' failed: %s; trying again later",
			  mp->key,
			  error->message);
		abort->key = g_strdup(mp->key);
		abort->upload_id = g_strdup(mp->upload_id);
		g_queue_push_tail(&self->aborts, abort);
		herald_s3_abort_schedule(self);
	}
	g_task_return_error(task, g_steal_pointer(&mp->error));
}

static void
herald_s3_multipart_fail(GTask *task, GError *error)
{
	HeraldFilesMinioS3 *self = g_task_get_source_object(task);
	HeraldS3Multipart *mp = g_task_get_task_data(task);
	HeraldS3Op *op;
	if (mp->upload_id == NULL) {
		g_task_return_error(task, error);
		return;
	}
	mp->error = error;
	op = herald_s3_op_new("DELETE", mp->key, TRUE);
	herald_s3_op_add_query(op, "uploadId", mp->upload_id);
	/* not cancellable: the parts must not be left behind */
	herald_s3_op_run(self, op, NULL, herald_s3_multipart_abort_cb, g_object_ref(task));
}

static void
herald_s3_multipart_complete_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldS3Response) resp = herald_s3_op_finish(res, &error);
	if (resp == NULL) {
		herald_s3_multipart_fail(task, g_steal_pointer(&error));
		return;
	}
	/* S3 may answer 200 with an <Error> body */
	if (resp->body != NULL && g_strstr_len(g_bytes_get_data(resp->body, NULL),
					       (gssize)g_bytes_get_size(resp->body),
					       "<Error>") != NULL) {
		herald_s3_multipart_fail(task,
					 herald_s3_error_from_response(resp->msg, resp->body));
		return;
	}
	g_task_return_boolean(task, TRUE);
}

static void
herald_s3_multipart_part_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	HeraldS3Multipart *mp = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldS3Response) resp = herald_s3_op_finish(res, &error);
	const gchar *etag;

	if (resp == NULL) {
		herald_s3_multipart_fail(task, g_steal_pointer(&error));
		return;
	}
	etag = soup_message_headers_get_one(soup_message_get_response_headers(resp->msg), "ETag");
	if (etag == NULL) {
		herald_s3_multipart_fail(
		    task,
		    g_error_new_literal(HERALD_ERROR,
					HERALD_ERROR_BAD_GATEWAY,
					_("the object store sent no ETag for a part")));
		return;
	}
	g_string_append_printf(mp->complete,
			       "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag></Part>",
			       mp->part,
			       etag);
	herald_s3_multipart_next(task);
}

static void
herald_s3_multipart_read_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	HeraldFilesMinioS3 *self = g_task_get_source_object(task);
	HeraldS3Multipart *mp = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes =
	    g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), res, &error);
	g_autofree gchar *part = NULL;
	HeraldS3Op *op;

	if (bytes == NULL) {
		herald_s3_multipart_fail(task, g_steal_pointer(&error));
		return;
	}
	if (g_bytes_get_size(bytes) == 0) {
		herald_s3_multipart_fail(
		    task,
		    g_error_new_literal(
			HERALD_ERROR, HERALD_ERROR_FAILED, "the upload's temporary file is short"));
		return;
	}
	mp->part++;
	mp->offset += g_bytes_get_size(bytes);
	part = g_strdup_printf("%u", mp->part);
	op = herald_s3_op_new("PUT", mp->key, TRUE);
	herald_s3_op_add_query(op, "partNumber", part);
	herald_s3_op_add_query(op, "uploadId", mp->upload_id);
	g_free(op->payload_hash);
	op->payload_hash = herald_files_minio_sigv4_sha256_hex(g_bytes_get_data(bytes, NULL),
							       g_bytes_get_size(bytes));
	op->content_type = g_strdup("application/octet-stream");
	op->body_bytes = g_steal_pointer(&bytes);
	herald_s3_op_run(self,
			 op,
			 g_task_get_cancellable(task),
			 herald_s3_multipart_part_cb,
			 g_object_ref(task));
}

static void
herald_s3_multipart_next(GTask *task)
{
	HeraldFilesMinioS3 *self = g_task_get_source_object(task);
	HeraldS3Multipart *mp = g_task_get_task_data(task);
	HeraldS3Op *op;

	if (mp->offset < mp->size) {
		/* read_bytes may return less than asked: read_all into one part */
		guint64 want = MIN(self->part_size, mp->size - mp->offset);
		g_input_stream_read_bytes_async(G_INPUT_STREAM(mp->file),
						(gsize)want,
						G_PRIORITY_DEFAULT,
						g_task_get_cancellable(task),
						herald_s3_multipart_read_cb,
						g_object_ref(task));
		return;
	}
	g_string_append(mp->complete, "</CompleteMultipartUpload>");
	op = herald_s3_op_new("POST", mp->key, FALSE);
	herald_s3_op_add_query(op, "uploadId", mp->upload_id);
	op->content_type = g_strdup("application/xml");
	g_free(op->payload_hash);
	op->payload_hash = herald_files_minio_sigv4_sha256_hex((const guint8 *)mp->complete->str,
							       mp->complete->len);
	op->body_bytes = g_bytes_new(mp->complete->str, mp->complete->len);
	herald_s3_op_run(self,
			 op,
			 g_task_get_cancellable(task),
			 herald_s3_multipart_complete_cb,
			 g_object_ref(task));
}

static void
herald_s3_multipart_init_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	HeraldS3Multipart *mp = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldS3Response) resp = herald_s3_op_finish(res, &error);
	g_autofree gchar *xml = NULL;
	g_autoptr(GFile) file = NULL;

	if (resp == NULL) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	xml = g_strndup(g_bytes_get_data(resp->body, NULL), g_bytes_get_size(resp->body));
	mp->upload_id = herald_s3_xml_element(xml, "UploadId");
	if (mp->upload_id == NULL || mp->upload_id[0] == '\0') {
		g_clear_pointer(&mp->upload_id, g_free);
		g_task_return_new_error(task,
					HERALD_ERROR,
					HERALD_ERROR_BAD_GATEWAY,
					"%s",
					_("the object store sent no UploadId"));
		return;
	}
	file = g_file_new_for_path(mp->path);
	mp->file = g_file_read(file, NULL, &error);
	if (mp->file == NULL) {
		herald_s3_multipart_fail(task, g_steal_pointer(&error));
		return;
	}
	herald_s3_multipart_next(task);
}

void
herald_files_minio_s3_put_file_async(HeraldFilesMinioS3 *self,
				     const gchar *key,
				     const gchar *path,
				     guint64 size,
				     const gchar *content_type,
				     const gchar *sha256_hex,
				     GCancellable *cancellable,
				     GAsyncReadyCallback callback,
				     gpointer user_data)
{
	GTask *task = g_task_new(self, cancellable, callback, user_data);
	HeraldS3Op *op;

	if (size > self->multipart_threshold) {
		HeraldS3Multipart *mp = g_new0(HeraldS3Multipart, 1);
		mp->key = g_strdup(key);
		mp->path = g_strdup(path);
		mp->size = size;
		mp->content_type = g_strdup(content_type);
		mp->complete = g_string_new("<CompleteMultipartUpload>");
		g_task_set_task_data(task, mp, (GDestroyNotify)herald_s3_multipart_free);
		self->multipart_uploads++;
		op = herald_s3_op_new("POST", key, FALSE);
		herald_s3_op_add_query(op, "uploads", "");
		op->content_type = g_strdup(content_type);
		herald_s3_op_run(self, op, cancellable, herald_s3_multipart_init_cb, task);
		return;
	}
	op = herald_s3_op_new("PUT", key, TRUE);
	op->body_path = g_strdup(path);
	op->body_len = size;
	op->content_type = g_strdup(content_type);
	g_free(op->payload_hash);
	op->payload_hash =
	    g_strdup(sha256_hex != NULL ? sha256_hex : HERALD_FILES_MINIO_SIGV4_UNSIGNED_PAYLOAD);
	herald_s3_op_run(self, op, cancellable, herald_s3_bucket_put_cb, task);
}

gboolean
herald_files_minio_s3_put_file_finish(HeraldFilesMinioS3 *self, GAsyncResult *res, GError **error)
{
	GTask *task = G_TASK(res);
	if (g_task_get_task_data(task) != NULL)
		return g_task_propagate_boolean(task, error);
	return g_task_propagate_int(task, error) >= 0;
}

static void
herald_s3_get_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	GError *error = NULL;
	HeraldS3Response *resp = herald_s3_op_finish(res, &error);
	if (resp == NULL) {
		g_task_return_error(task, error);
		return;
	}
	g_task_return_pointer(task, resp, (GDestroyNotify)herald_s3_response_free);
}

void
herald_files_minio_s3_get_async(HeraldFilesMinioS3 *self,
				const gchar *method,
				const gchar *key,
				GCancellable *cancellable,
				GAsyncReadyCallback callback,
				gpointer user_data)
{
	GTask *task = g_task_new(self, cancellable, callback, user_data);
	HeraldS3Op *op = herald_s3_op_new(method, key, TRUE);
	op->want_stream = TRUE;
	herald_s3_op_run(self, op, cancellable, herald_s3_get_cb, task);
}

GInputStream *
herald_files_minio_s3_get_finish(HeraldFilesMinioS3 *self,
				 GAsyncResult *res,
				 goffset *size,
				 gchar **content_type,
				 GError **error)
{
	g_autoptr(HeraldS3Response) resp = g_task_propagate_pointer(G_TASK(res), error);
	SoupMessageHeaders *headers;
	if (resp == NULL)
		return NULL;
	headers = soup_message_get_response_headers(resp->msg);
	if (size != NULL)
		*size = soup_message_headers_get_content_length(headers);
	if (content_type != NULL)
		*content_type = g_strdup(soup_message_headers_get_content_type(headers, NULL));
	if (resp->stream == NULL)
		return g_memory_input_stream_new();
	return g_steal_pointer(&resp->stream);
}

void
herald_files_minio_s3_delete_async(HeraldFilesMinioS3 *self,
				   const gchar *key,
				   GCancellable *cancellable,
				   GAsyncReadyCallback callback,
				   gpointer user_data)
{
	GTask *task = g_task_new(self, cancellable, callback, user_data);
	HeraldS3Op *op = herald_s3_op_new("DELETE", key, TRUE);
	herald_s3_op_run(self, op, cancellable, herald_s3_bucket_put_cb, task);
}

gboolean
herald_files_minio_s3_delete_finish(HeraldFilesMinioS3 *self, GAsyncResult *res, GError **error)
{
	return g_task_propagate_int(G_TASK(res), error) >= 0;
}

gchar *
herald_files_minio_s3_presign_get(HeraldFilesMinioS3 *self,
				  const gchar *key,
				  guint64 expires_s,
				  GDateTime *now)
{
	HeraldFilesMinioSigv4Creds creds = {self->access_key, self->secret_key, self->region, "s3"};
	g_autofree gchar *path = herald_s3_path(self, key);
	g_autofree gchar *epath = herald_files_minio_sigv4_uri_encode(path, FALSE);
	g_autoptr(HeraldFilesMinioSigv4Request) req =
	    herald_files_minio_sigv4_request_new("GET", path);
	g_autofree gchar *amz_date = herald_files_minio_sigv4_amz_date(now);
	g_autofree gchar *query = NULL;

	herald_files_minio_sigv4_request_add_header(req, "host", self->host);
	query = herald_files_minio_sigv4_presign(
	    req, &creds, amz_date, expires_s, HERALD_FILES_MINIO_SIGV4_UNSIGNED_PAYLOAD);
	return g_strdup_printf("%s%s?%s", self->base, epath, query);
}

void
herald_files_minio_s3_add_stats(HeraldFilesMinioS3 *self, GVariantDict *dict)
{
	g_variant_dict_insert(dict, "s3_requests_total", "t", self->requests);
	g_variant_dict_insert(dict, "s3_request_errors_total", "t", self->request_errors);
	g_variant_dict_insert(dict, "s3_request_retries_total", "t", self->request_retries);
	g_variant_dict_insert(dict, "s3_multipart_uploads_total", "t", self->multipart_uploads);
	g_variant_dict_insert(dict,
			      "s3_multipart_aborts_pending",
			      "u",
			      g_queue_get_length(&self->aborts));
	g_variant_dict_insert(dict, "s3_multipart_abort_retries_total", "t", self->aborts_retried);
	g_variant_dict_insert(dict, "s3_multipart_leftovers_total", "t", self->aborts_given_up);
}

/* an http(s) URL without a path: S3 is addressed path-style below it */
static GUri *
herald_s3_parse_endpoint(const gchar *endpoint, GError **error)
{
	g_autoptr(GUri) uri = g_uri_parse(endpoint != NULL ? endpoint : "", G_URI_FLAGS_NONE, NULL);
	if (uri == NULL || g_uri_get_host(uri) == NULL || g_uri_get_host(uri)[0] == '\0' ||
	    (g_strcmp0(g_uri_get_scheme(uri), "http") != 0 &&
	     g_strcmp0(g_uri_get_scheme(uri), "https") != 0) ||
	    (g_uri_get_path(uri)[0] != '\0' && g_strcmp0(g_uri_get_path(uri), "/") != 0) ||
	    g_uri_get_query(uri) != NULL) {
		/* the URL as shown in messages: never with its password */
		g_autofree gchar *shown = herald_uri_redact(endpoint);
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: config error; %s is a URL without its password */
			    _("endpoint '%s' is not an http:// or https:// URL without a path"),
			    shown);
		return NULL;
	}
	return g_steal_pointer(&uri);
}

gboolean
herald_files_minio_s3_check_endpoint(const gchar *endpoint, GError **error)
{
	g_autoptr(GUri) uri = herald_s3_parse_endpoint(endpoint, error);
	return uri != NULL;
}

HeraldFilesMinioS3 *
herald_files_minio_s3_new(const HeraldFilesMinioS3Options *options, GError **error)
{
	g_autoptr(HeraldFilesMinioS3) self = NULL;
	g_autoptr(GUri) uri = herald_s3_parse_endpoint(options->endpoint, error);
	const gchar *scheme;
	gint port;

	if (uri == NULL)
		return NULL;
	self = g_object_new(HERALD_TYPE_FILES_MINIO_S3, NULL);
	scheme = g_uri_get_scheme(uri);
	port = g_uri_get_port(uri);
	if (port == -1 || (port == 80 && g_strcmp0(scheme, "http") == 0) ||
	    (port == 443 && g_strcmp0(scheme, "https") == 0))
		self->host = g_strdup(g_uri_get_host(uri));
	else
		self->host = g_strdup_printf("%s:%d", g_uri_get_host(uri), port);
	self->base = g_strdup_printf("%s://%s", scheme, self->host);
	self->region = g_strdup(options->region);
	self->bucket = g_strdup(options->bucket);
	self->access_key = g_strdup(options->access_key);
	self->secret_key = g_strdup(options->secret_key);
	self->retries = options->retries;
	self->multipart_threshold = options->multipart_threshold;
	self->part_size = options->part_size;
	self->session = soup_session_new_with_options("timeout",
						      options->timeout_s,
						      "max-conns",
						      (gint)options->max_connections,
						      "max-conns-per-host",
						      (gint)options->max_connections,
						      "user-agent",
						      "herald/" PACKAGE_VERSION,
						      NULL);
	return g_steal_pointer(&self);
}

static void
herald_files_minio_s3_init(HeraldFilesMinioS3 *self)
{
	g_queue_init(&self->aborts);
	self->abort_retry_base_ms = 1000;
}

/* tests: the first delay before an abort is tried again (then doubling) */
void
herald_files_minio_s3_set_abort_retry_base_ms(HeraldFilesMinioS3 *self, guint base_ms)
{
	self->abort_retry_base_ms = MAX(base_ms, 1);
}

static void
herald_files_minio_s3_dispose(GObject *object)
{
	HeraldFilesMinioS3 *self = HERALD_FILES_MINIO_S3(object);
	g_clear_handle_id(&self->abort_retry_id, g_source_remove);
	if (self->aborts.length > 0)
		g_warning("%u multipart uploads could not be aborted before stopping; their parts "
			  "stay in the bucket until a lifecycle rule removes them",
			  self->aborts.length);
	g_queue_clear_full(&self->aborts, (GDestroyNotify)herald_s3_abort_free);
	if (self->session != NULL)
		soup_session_abort(self->session);
	g_clear_object(&self->session);
	G_OBJECT_CLASS(herald_files_minio_s3_parent_class)->dispose(object);
}

static void
herald_files_minio_s3_finalize(GObject *object)
{
	HeraldFilesMinioS3 *self = HERALD_FILES_MINIO_S3(object);
	g_free(self->base);
	g_free(self->host);
	g_free(self->region);
	g_free(self->bucket);
	g_free(self->access_key);
	if (self->secret_key != NULL)
		memset(self->secret_key, 0, strlen(self->secret_key));
	g_free(self->secret_key);
	G_OBJECT_CLASS(herald_files_minio_s3_parent_class)->finalize(object);
}

static void
herald_files_minio_s3_class_init(HeraldFilesMinioS3Class *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = herald_files_minio_s3_dispose;
	object_class->finalize = herald_files_minio_s3_finalize;
}
