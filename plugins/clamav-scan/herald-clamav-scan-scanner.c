/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "herald-clamav-scan-scanner.h"

#define HERALD_CLAMAV_SCAN_REPLY_MAX 1024

/* why a scan ended with verdict error; a stats dimension */
typedef enum {
	HERALD_CLAMAV_SCAN_ERROR_NONE,
	HERALD_CLAMAV_SCAN_ERROR_UNREACHABLE, /* connect failed or connection lost */
	HERALD_CLAMAV_SCAN_ERROR_TIMED_OUT,
	HERALD_CLAMAV_SCAN_ERROR_BUSY, /* pool and queue full */
	HERALD_CLAMAV_SCAN_ERROR_CLAMD, /* clamd answered `... ERROR` */
	HERALD_CLAMAV_SCAN_ERROR_FILE, /* the file cannot be read */
	HERALD_CLAMAV_SCAN_ERROR_TOO_LARGE, /* over max-stream-bytes */
	HERALD_CLAMAV_SCAN_ERROR_PROTOCOL, /* a reply clamd should not send */
	HERALD_CLAMAV_SCAN_ERROR_SHUTDOWN,
	HERALD_CLAMAV_SCAN_ERROR_CANCELLED, /* by the requester */
	HERALD_CLAMAV_SCAN_ERROR_LAST
} HeraldClamavScanError;

static const gchar *error_names[] = {
    "none",
    "unreachable",
    "timed_out",
    "busy",
    "clamd",
    "file",
    "too_large",
    "protocol",
    "shutting_down",
    "cancelled",
};
G_STATIC_ASSERT(G_N_ELEMENTS(error_names) == HERALD_CLAMAV_SCAN_ERROR_LAST);

struct _HeraldClamavScanScanner {
	GObject parent_instance;
	GSocketClient *client; /* (owned) */
	GSocketConnectable *connectable; /* (owned) (nullable) until configured */
	HeraldClamavScanScannerLimits limits;
	GQueue *queue; /* (element-type HeraldClamavScanJob) (owned) */
	GHashTable *running; /* (element-type HeraldClamavScanJob) set */
	guint health_id;
	gboolean command_running;
	GCancellable *command_cancellable; /* (owned) */
	gboolean stopping;
	GTask *shutdown_task; /* (owned) (nullable) */
	/* stats */
	guint64 scans[3];
	guint64 errors[HERALD_CLAMAV_SCAN_ERROR_LAST];
	guint64 bytes_sent;
	guint64 health_failed;
	gchar *last_error;
	gchar *version;
	gboolean reachable_known;
	gboolean reachable;
};

G_DEFINE_FINAL_TYPE(HeraldClamavScanScanner, herald_clamav_scan_scanner, G_TYPE_OBJECT)

enum { SIGNAL_HEALTH, SIGNAL_LAST };
static guint signals[SIGNAL_LAST] = {0};

typedef struct {
	HeraldClamavScanScanner *scanner; /* (owned) */
	GTask *task; /* (owned) the bus request */
	const gchar *path; /* task data */
	GCancellable *cancellable; /* (owned) */
	GCancellable *caller_cancellable; /* (owned) (nullable) */
	gulong caller_cancel_id;
	GInputStream *file; /* (owned) (nullable) */
	GSocketConnection *conn; /* (owned) (nullable) */
	guint8 *buf; /* 4-byte length, then one chunk */
	guint64 sent;
	guint64 max_stream_bytes;
	guint timeout_s;
	guint timeout_id;
	/* set before cancelling: what the cancelled operation means */
	HeraldClamavScanError abort_category;
	gchar *send_error; /* (nullable) clamd may close early and still answer */
	gchar reply[HERALD_CLAMAV_SCAN_REPLY_MAX];
	gsize reply_len;
} HeraldClamavScanJob;

static void
herald_clamav_scan_scanner_dispatch(HeraldClamavScanScanner *self);
static void
herald_clamav_scan_job_read_chunk(HeraldClamavScanJob *job);

static void
herald_clamav_scan_scanner_set_reachable(HeraldClamavScanScanner *self,
					 gboolean reachable,
					 const gchar *reason)
{
	if (!reachable)
		self->health_failed++;
	if (reachable && self->reachable_known && self->reachable)
		return;
	/* clamd may have been upgraded while it was away: ask again */
	if (reachable && self->reachable_known && !self->reachable)
		g_clear_pointer(&self->version, g_free);
	self->reachable_known = TRUE;
	self->reachable = reachable;
	g_signal_emit(self, signals[SIGNAL_HEALTH], 0, reachable, reason);
	if (reachable && self->version == NULL)
		herald_clamav_scan_scanner_check_health(self);
}

static void
herald_clamav_scan_job_free(HeraldClamavScanJob *job)
{
	g_clear_handle_id(&job->timeout_id, g_source_remove);
	if (job->caller_cancel_id != 0)
		g_cancellable_disconnect(job->caller_cancellable, job->caller_cancel_id);
	g_clear_object(&job->caller_cancellable);
	g_clear_object(&job->cancellable);
	g_clear_object(&job->file);
	g_clear_object(&job->conn);
	g_clear_object(&job->task);
	g_clear_object(&job->scanner);
	g_free(job->send_error);
	g_free(job->buf);
	g_free(job);
}

static void
herald_clamav_scan_scanner_maybe_finish_shutdown(HeraldClamavScanScanner *self)
{
	g_autoptr(GTask) task = NULL;
	if (self->shutdown_task == NULL || g_hash_table_size(self->running) > 0 ||
	    self->command_running)
		return;
	task = g_steal_pointer(&self->shutdown_task);
	g_task_return_boolean(task, TRUE);
}

static void
herald_clamav_scan_scanner_count(HeraldClamavScanScanner *self,
				 HeraldClamavScanVerdict verdict,
				 HeraldClamavScanError category,
				 const gchar *detail)
{
	self->scans[verdict]++;
	if (verdict != HERALD_CLAMAV_SCAN_VERDICT_ERROR)
		return;
	self->errors[category]++;
	g_free(self->last_error);
	self->last_error = g_strdup(detail);
}

/* completes the bus task (its callback may run right here), then starts the
 * next queued scan */
static void
herald_clamav_scan_job_finish(HeraldClamavScanJob *job,
			      HeraldClamavScanVerdict verdict,
			      HeraldClamavScanError category,
			      const gchar *detail)
{
	g_autoptr(HeraldClamavScanScanner) self = g_object_ref(job->scanner);
	g_autoptr(GTask) task = g_steal_pointer(&job->task);

	g_hash_table_remove(self->running, job);
	herald_clamav_scan_scanner_count(self, verdict, category, detail);
	if (verdict == HERALD_CLAMAV_SCAN_VERDICT_ERROR)
		g_debug("scan of '%s': error: %s", job->path, detail);
	else
		g_debug("scan of '%s': %s%s%s",
			job->path,
			herald_clamav_scan_verdict_to_string(verdict),
			detail != NULL ? " " : "",
			detail != NULL ? detail : "");
	herald_clamav_scan_job_free(job);
	herald_clamav_scan_scanner_dispatch(self);
	g_task_return_pointer(
	    task, herald_clamav_scan_verdict_new(verdict, detail), (GDestroyNotify)g_variant_unref);
	herald_clamav_scan_scanner_maybe_finish_shutdown(self);
}

static void
herald_clamav_scan_job_fail(HeraldClamavScanJob *job,
			    HeraldClamavScanError category,
			    const gchar *reason)
{
	herald_clamav_scan_job_finish(job, HERALD_CLAMAV_SCAN_VERDICT_ERROR, category, reason);
}

/* an operation failed: a cancellation means what the canceller said */
static void
herald_clamav_scan_job_fail_io(HeraldClamavScanJob *job,
			       const GError *error,
			       HeraldClamavScanError category,
			       const gchar *prefix)
{
	g_autofree gchar *reason = NULL;

	if (job->abort_category != HERALD_CLAMAV_SCAN_ERROR_NONE) {
		HeraldClamavScanError abort_category = job->abort_category;
		if (abort_category == HERALD_CLAMAV_SCAN_ERROR_TIMED_OUT) {
			g_autofree gchar *why =
			    g_strdup_printf("timed out after %u s", job->timeout_s);
			herald_clamav_scan_scanner_set_reachable(job->scanner, FALSE, why);
			herald_clamav_scan_job_fail(job, abort_category, "timed out");
		} else if (abort_category == HERALD_CLAMAV_SCAN_ERROR_SHUTDOWN) {
			herald_clamav_scan_job_fail(job, abort_category, "shutting down");
		} else {
			herald_clamav_scan_job_fail(job, abort_category, "cancelled");
		}
		return;
	}
	reason = g_strdup_printf("%s%s", prefix, error->message);
	if (category == HERALD_CLAMAV_SCAN_ERROR_UNREACHABLE)
		herald_clamav_scan_scanner_set_reachable(job->scanner, FALSE, error->message);
	herald_clamav_scan_job_fail(job, category, reason);
}

static gboolean
herald_clamav_scan_job_timeout_cb(gpointer user_data)
{
	HeraldClamavScanJob *job = user_data;
	job->timeout_id = 0;
	if (job->abort_category == HERALD_CLAMAV_SCAN_ERROR_NONE)
		job->abort_category = HERALD_CLAMAV_SCAN_ERROR_TIMED_OUT;
	g_cancellable_cancel(job->cancellable);
	return G_SOURCE_REMOVE;
}

/* runs inside g_cancellable_cancel(): only flag and cancel, never finish here */
static void
herald_clamav_scan_job_caller_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
	HeraldClamavScanJob *job = user_data;
	if (job->abort_category == HERALD_CLAMAV_SCAN_ERROR_NONE)
		job->abort_category = HERALD_CLAMAV_SCAN_ERROR_CANCELLED;
	g_cancellable_cancel(job->cancellable);
}

static void
herald_clamav_scan_job_reply_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldClamavScanJob *job = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *detail = NULL;
	HeraldClamavScanVerdict verdict;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, &error);

	if (n < 0) {
		if (job->send_error != NULL &&
		    job->abort_category == HERALD_CLAMAV_SCAN_ERROR_NONE) {
			g_autofree gchar *reason =
			    g_strdup_printf("connection to clamd lost: %s", job->send_error);
			herald_clamav_scan_scanner_set_reachable(job->scanner, FALSE, reason);
			herald_clamav_scan_job_fail(
			    job, HERALD_CLAMAV_SCAN_ERROR_UNREACHABLE, reason);
			return;
		}
		herald_clamav_scan_job_fail_io(
		    job, error, HERALD_CLAMAV_SCAN_ERROR_UNREACHABLE, "connection to clamd lost: ");
		return;
	}
	job->reply_len += (gsize)n;
	if (n > 0 && memchr(job->reply, '\0', job->reply_len) == NULL) {
		if (job->reply_len >= sizeof(job->reply) - 1) {
			herald_clamav_scan_job_fail(
			    job, HERALD_CLAMAV_SCAN_ERROR_PROTOCOL, "reply from clamd too long");
			return;
		}
		g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(job->conn)),
					  job->reply + job->reply_len,
					  sizeof(job->reply) - 1 - job->reply_len,
					  G_PRIORITY_DEFAULT,
					  job->cancellable,
					  herald_clamav_scan_job_reply_cb,
					  job);
		return;
	}
	if (job->reply_len == 0) {
		g_autofree gchar *reason =
		    job->send_error != NULL
			? g_strdup_printf("connection to clamd lost: %s", job->send_error)
			: g_strdup("clamd closed the connection without a verdict");
		herald_clamav_scan_scanner_set_reachable(job->scanner, FALSE, reason);
		herald_clamav_scan_job_fail(job, HERALD_CLAMAV_SCAN_ERROR_UNREACHABLE, reason);
		return;
	}
	verdict = herald_clamav_scan_parse_reply(job->reply, job->reply_len, &detail);
	herald_clamav_scan_scanner_set_reachable(job->scanner, TRUE, NULL);
	herald_clamav_scan_job_finish(job,
				      verdict,
				      g_str_has_prefix(detail != NULL ? detail : "", "unexpected")
					  ? HERALD_CLAMAV_SCAN_ERROR_PROTOCOL
					  : HERALD_CLAMAV_SCAN_ERROR_CLAMD,
				      detail);
}

static void
herald_clamav_scan_job_read_reply(HeraldClamavScanJob *job)
{
	g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(job->conn)),
				  job->reply,
				  sizeof(job->reply) - 1,
				  G_PRIORITY_DEFAULT,
				  job->cancellable,
				  herald_clamav_scan_job_reply_cb,
				  job);
}

static void
herald_clamav_scan_job_write_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldClamavScanJob *job = user_data;
	g_autoptr(GError) error = NULL;
	gboolean last = job->file == NULL;

	if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), res, NULL, &error)) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			herald_clamav_scan_job_fail_io(
			    job, error, HERALD_CLAMAV_SCAN_ERROR_UNREACHABLE, "");
			return;
		}
		/* over StreamMaxLength clamd stops reading, answers and closes */
		g_debug("sending '%s' to clamd failed after %" G_GUINT64_FORMAT
			" bytes (%s); reading its answer",
			job->path,
			job->sent,
			error->message);
		job->send_error = g_strdup(error->message);
		herald_clamav_scan_job_read_reply(job);
		return;
	}
	if (last) {
		herald_clamav_scan_job_read_reply(job);
		return;
	}
	herald_clamav_scan_job_read_chunk(job);
}

static void
herald_clamav_scan_job_write(HeraldClamavScanJob *job, const void *data, gsize len)
{
	g_output_stream_write_all_async(g_io_stream_get_output_stream(G_IO_STREAM(job->conn)),
					data,
					len,
					G_PRIORITY_DEFAULT,
					job->cancellable,
					herald_clamav_scan_job_write_cb,
					job);
}

static void
herald_clamav_scan_job_chunk_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldClamavScanJob *job = user_data;
	g_autoptr(GError) error = NULL;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, &error);

	if (n < 0) {
		herald_clamav_scan_job_fail_io(
		    job, error, HERALD_CLAMAV_SCAN_ERROR_FILE, "cannot read file: ");
		return;
	}
	if (n == 0) {
		/* the zero-length chunk ends the stream */
		g_clear_object(&job->file);
		memset(job->buf, 0, 4);
		herald_clamav_scan_job_write(job, job->buf, 4);
		return;
	}
	if (job->sent + (guint64)n > job->max_stream_bytes) {
		g_autofree gchar *reason =
		    g_strdup_printf("file larger than max-stream-bytes (%" G_GUINT64_FORMAT ")",
				    job->max_stream_bytes);
		herald_clamav_scan_job_fail(job, HERALD_CLAMAV_SCAN_ERROR_TOO_LARGE, reason);
		return;
	}
	job->sent += (guint64)n;
	job->scanner->bytes_sent += (guint64)n;
	job->buf[0] = (guint8)((guint32)n >> 24);
	job->buf[1] = (guint8)((guint32)n >> 16);
	job->buf[2] = (guint8)((guint32)n >> 8);
	job->buf[3] = (guint8)(guint32)n;
	herald_clamav_scan_job_write(job, job->buf, 4 + (gsize)n);
}

static void
herald_clamav_scan_job_read_chunk(HeraldClamavScanJob *job)
{
	g_input_stream_read_async(job->file,
				  job->buf + 4,
				  HERALD_CLAMAV_SCAN_CHUNK_SIZE,
				  G_PRIORITY_DEFAULT,
				  job->cancellable,
				  herald_clamav_scan_job_chunk_cb,
				  job);
}

static void
herald_clamav_scan_job_connect_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldClamavScanJob *job = user_data;
	g_autoptr(GError) error = NULL;
	static const gchar cmd[] = "zINSTREAM";

	job->conn = g_socket_client_connect_finish(G_SOCKET_CLIENT(source), res, &error);
	if (job->conn == NULL) {
		herald_clamav_scan_job_fail_io(
		    job, error, HERALD_CLAMAV_SCAN_ERROR_UNREACHABLE, "clamd unreachable: ");
		return;
	}
	/* the command with its terminating NUL; chunks follow once it is written */
	g_clear_pointer(&job->send_error, g_free);
	g_output_stream_write_all_async(g_io_stream_get_output_stream(G_IO_STREAM(job->conn)),
					cmd,
					sizeof(cmd),
					G_PRIORITY_DEFAULT,
					job->cancellable,
					herald_clamav_scan_job_write_cb,
					job);
}

static void
herald_clamav_scan_job_open_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldClamavScanJob *job = user_data;
	g_autoptr(GError) error = NULL;

	job->file = G_INPUT_STREAM(g_file_read_finish(G_FILE(source), res, &error));
	if (job->file == NULL) {
		herald_clamav_scan_job_fail_io(
		    job, error, HERALD_CLAMAV_SCAN_ERROR_FILE, "cannot open file: ");
		return;
	}
	g_socket_client_connect_async(job->scanner->client,
				      job->scanner->connectable,
				      job->cancellable,
				      herald_clamav_scan_job_connect_cb,
				      job);
}

/* a FIFO or a device could block a reader thread forever: regular files only,
 * and one over max-stream-bytes is refused before clamd is bothered */
static void
herald_clamav_scan_job_info_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldClamavScanJob *job = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GFileInfo) info = g_file_query_info_finish(G_FILE(source), res, &error);

	if (info == NULL) {
		herald_clamav_scan_job_fail_io(
		    job, error, HERALD_CLAMAV_SCAN_ERROR_FILE, "cannot open file: ");
		return;
	}
	if (g_file_info_get_file_type(info) != G_FILE_TYPE_REGULAR) {
		herald_clamav_scan_job_fail(
		    job, HERALD_CLAMAV_SCAN_ERROR_FILE, "not a regular file");
		return;
	}
	if ((guint64)g_file_info_get_size(info) > job->max_stream_bytes) {
		g_autofree gchar *reason =
		    g_strdup_printf("file larger than max-stream-bytes (%" G_GUINT64_FORMAT ")",
				    job->max_stream_bytes);
		herald_clamav_scan_job_fail(job, HERALD_CLAMAV_SCAN_ERROR_TOO_LARGE, reason);
		return;
	}
	g_file_read_async(G_FILE(source),
			  G_PRIORITY_DEFAULT,
			  job->cancellable,
			  herald_clamav_scan_job_open_cb,
			  job);
}

static void
herald_clamav_scan_job_start(HeraldClamavScanJob *job)
{
	HeraldClamavScanScanner *self = job->scanner;
	g_autoptr(GFile) file = g_file_new_for_path(job->path);

	g_hash_table_add(self->running, job);
	job->buf = g_malloc(4 + HERALD_CLAMAV_SCAN_CHUNK_SIZE);
	job->timeout_s = self->limits.timeout_s;
	job->max_stream_bytes = self->limits.max_stream_bytes;
	job->timeout_id =
	    g_timeout_add_seconds(job->timeout_s, herald_clamav_scan_job_timeout_cb, job);
	g_file_query_info_async(file,
				G_FILE_ATTRIBUTE_STANDARD_TYPE "," G_FILE_ATTRIBUTE_STANDARD_SIZE,
				G_FILE_QUERY_INFO_NONE,
				G_PRIORITY_DEFAULT,
				job->cancellable,
				herald_clamav_scan_job_info_cb,
				job);
}

static void
herald_clamav_scan_scanner_dispatch(HeraldClamavScanScanner *self)
{
	while (!self->stopping && !g_queue_is_empty(self->queue) &&
	       g_hash_table_size(self->running) < self->limits.pool_size)
		herald_clamav_scan_job_start(g_queue_pop_head(self->queue));
}

typedef struct {
	GTask *task;
	GVariant *verdict;
} HeraldClamavScanLater;

static gboolean
herald_clamav_scan_later_cb(gpointer user_data)
{
	HeraldClamavScanLater *later = user_data;
	g_task_return_pointer(
	    later->task, g_steal_pointer(&later->verdict), (GDestroyNotify)g_variant_unref);
	return G_SOURCE_REMOVE;
}

static void
herald_clamav_scan_later_free(gpointer user_data)
{
	HeraldClamavScanLater *later = user_data;
	g_clear_pointer(&later->verdict, g_variant_unref);
	g_object_unref(later->task);
	g_free(later);
}

/* a verdict known at once still completes the task later, as the bus promises */
static void
herald_clamav_scan_scanner_answer_later(HeraldClamavScanScanner *self,
					GTask *task,
					HeraldClamavScanError category,
					const gchar *reason)
{
	HeraldClamavScanLater *later = g_new0(HeraldClamavScanLater, 1);
	herald_clamav_scan_scanner_count(self, HERALD_CLAMAV_SCAN_VERDICT_ERROR, category, reason);
	g_debug("scan of '%s': error: %s", (const gchar *)g_task_get_task_data(task), reason);
	later->task = g_object_ref(task);
	later->verdict = herald_clamav_scan_verdict_new(HERALD_CLAMAV_SCAN_VERDICT_ERROR, reason);
	g_idle_add_full(
	    G_PRIORITY_DEFAULT, herald_clamav_scan_later_cb, later, herald_clamav_scan_later_free);
}

/**
 * herald_clamav_scan_scanner_scan:
 * @task: a HERALD_BUS_REQUEST_SCAN task (task data: the absolute path)
 *
 * Takes a reference on @task and completes it later, exactly once, with the
 * verdict; never with a task error (unless the requester cancels it).
 */
void
herald_clamav_scan_scanner_scan(HeraldClamavScanScanner *self, GTask *task)
{
	const gchar *path = g_task_get_task_data(task);
	HeraldClamavScanJob *job;
	GCancellable *caller_cancellable = g_task_get_cancellable(task);

	g_return_if_fail(HERALD_IS_CLAMAV_SCAN_SCANNER(self));
	g_return_if_fail(G_IS_TASK(task));

	if (self->stopping) {
		herald_clamav_scan_scanner_answer_later(
		    self, task, HERALD_CLAMAV_SCAN_ERROR_SHUTDOWN, "shutting down");
		return;
	}
	if (path == NULL || !g_path_is_absolute(path)) {
		herald_clamav_scan_scanner_answer_later(
		    self, task, HERALD_CLAMAV_SCAN_ERROR_FILE, "not an absolute path");
		return;
	}
	if (g_hash_table_size(self->running) >= self->limits.pool_size &&
	    g_queue_get_length(self->queue) >= self->limits.queue_size) {
		herald_clamav_scan_scanner_answer_later(
		    self, task, HERALD_CLAMAV_SCAN_ERROR_BUSY, "busy");
		return;
	}

	job = g_new0(HeraldClamavScanJob, 1);
	job->scanner = g_object_ref(self);
	job->task = g_object_ref(task);
	job->path = path;
	job->cancellable = g_cancellable_new();
	if (caller_cancellable != NULL) {
		job->caller_cancellable = g_object_ref(caller_cancellable);
		job->caller_cancel_id =
		    g_cancellable_connect(caller_cancellable,
					  G_CALLBACK(herald_clamav_scan_job_caller_cancelled_cb),
					  job,
					  NULL);
	}
	g_queue_push_tail(self->queue, job);
	herald_clamav_scan_scanner_dispatch(self);
}

/* commands without data (PING, VERSION): connect, send, read to NUL or EOF */

typedef struct {
	HeraldClamavScanScanner *scanner; /* (owned) */
	GSocketConnection *conn; /* (owned) (nullable) */
	gchar cmd[16];
	gsize cmd_len;
	gchar reply[256];
	gsize reply_len;
	guint timeout_id;
	guint timeout_s;
	gboolean timed_out;
	GCancellable *cancellable; /* (owned) */
	gulong cancel_id;
	GCancellable *parent_cancellable; /* (owned) */
} HeraldClamavScanCommand;

static void
herald_clamav_scan_command_free(HeraldClamavScanCommand *cmd)
{
	g_clear_handle_id(&cmd->timeout_id, g_source_remove);
	if (cmd->cancel_id != 0)
		g_cancellable_disconnect(cmd->parent_cancellable, cmd->cancel_id);
	g_clear_object(&cmd->parent_cancellable);
	g_clear_object(&cmd->cancellable);
	g_clear_object(&cmd->conn);
	g_clear_object(&cmd->scanner);
	g_free(cmd);
}

static void
herald_clamav_scan_command_return_error(GTask *task, GError *error)
{
	HeraldClamavScanCommand *cmd = g_task_get_task_data(task);
	if (cmd->timed_out) {
		g_error_free(error);
		g_task_return_new_error(
		    task, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "timed out after %u s", cmd->timeout_s);
		return;
	}
	g_task_return_error(task, error);
}

static void
herald_clamav_scan_command_read_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	HeraldClamavScanCommand *cmd = g_task_get_task_data(task);
	GError *error = NULL;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, &error);

	if (n < 0) {
		herald_clamav_scan_command_return_error(task, error);
		return;
	}
	cmd->reply_len += (gsize)n;
	if (n > 0 && memchr(cmd->reply, '\0', cmd->reply_len) == NULL &&
	    cmd->reply_len < sizeof(cmd->reply) - 1) {
		g_input_stream_read_async(G_INPUT_STREAM(source),
					  cmd->reply + cmd->reply_len,
					  sizeof(cmd->reply) - 1 - cmd->reply_len,
					  G_PRIORITY_DEFAULT,
					  cmd->cancellable,
					  herald_clamav_scan_command_read_cb,
					  g_steal_pointer(&task));
		return;
	}
	if (cmd->reply_len == 0) {
		g_task_return_new_error(task,
					G_IO_ERROR,
					G_IO_ERROR_CONNECTION_CLOSED,
					"clamd closed the connection without a reply");
		return;
	}
	g_task_return_pointer(
	    task,
	    herald_clamav_scan_printable(cmd->reply, strnlen(cmd->reply, cmd->reply_len), 200),
	    g_free);
}

static void
herald_clamav_scan_command_write_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	HeraldClamavScanCommand *cmd = g_task_get_task_data(task);
	GError *error = NULL;

	if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), res, NULL, &error)) {
		herald_clamav_scan_command_return_error(task, error);
		return;
	}
	g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(cmd->conn)),
				  cmd->reply,
				  sizeof(cmd->reply) - 1,
				  G_PRIORITY_DEFAULT,
				  cmd->cancellable,
				  herald_clamav_scan_command_read_cb,
				  g_steal_pointer(&task));
}

static void
herald_clamav_scan_command_connect_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = G_TASK(user_data);
	HeraldClamavScanCommand *cmd = g_task_get_task_data(task);
	GError *error = NULL;

	cmd->conn = g_socket_client_connect_finish(G_SOCKET_CLIENT(source), res, &error);
	if (cmd->conn == NULL) {
		herald_clamav_scan_command_return_error(task, error);
		return;
	}
	g_output_stream_write_all_async(g_io_stream_get_output_stream(G_IO_STREAM(cmd->conn)),
					cmd->cmd,
					cmd->cmd_len,
					G_PRIORITY_DEFAULT,
					cmd->cancellable,
					herald_clamav_scan_command_write_cb,
					g_steal_pointer(&task));
}

static gboolean
herald_clamav_scan_command_timeout_cb(gpointer user_data)
{
	HeraldClamavScanCommand *cmd = user_data;
	cmd->timeout_id = 0;
	cmd->timed_out = TRUE;
	g_cancellable_cancel(cmd->cancellable);
	return G_SOURCE_REMOVE;
}

static void
herald_clamav_scan_command_parent_cancelled_cb(GCancellable *parent, gpointer user_data)
{
	HeraldClamavScanCommand *cmd = user_data;
	g_cancellable_cancel(cmd->cancellable);
}

/* @name without the `z` prefix and the NUL, e.g. "PING" */
static void
herald_clamav_scan_scanner_command_async(HeraldClamavScanScanner *self,
					 const gchar *name,
					 GAsyncReadyCallback callback,
					 gpointer user_data)
{
	HeraldClamavScanCommand *cmd = g_new0(HeraldClamavScanCommand, 1);
	g_autoptr(GTask) task = g_task_new(self, NULL, callback, user_data);

	cmd->scanner = g_object_ref(self);
	cmd->cmd_len = (gsize)g_snprintf(cmd->cmd, sizeof(cmd->cmd), "z%s", name) + 1;
	cmd->timeout_s = self->limits.timeout_s;
	cmd->cancellable = g_cancellable_new();
	cmd->parent_cancellable = g_object_ref(self->command_cancellable);
	cmd->cancel_id =
	    g_cancellable_connect(cmd->parent_cancellable,
				  G_CALLBACK(herald_clamav_scan_command_parent_cancelled_cb),
				  cmd,
				  NULL);
	cmd->timeout_id =
	    g_timeout_add_seconds(cmd->timeout_s, herald_clamav_scan_command_timeout_cb, cmd);
	g_task_set_task_data(task, cmd, (GDestroyNotify)herald_clamav_scan_command_free);
	g_socket_client_connect_async(self->client,
				      self->connectable,
				      cmd->cancellable,
				      herald_clamav_scan_command_connect_cb,
				      g_steal_pointer(&task));
}

static gchar *
herald_clamav_scan_scanner_command_finish(HeraldClamavScanScanner *self,
					  GAsyncResult *res,
					  GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}

static void
herald_clamav_scan_scanner_version_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldClamavScanScanner *self = HERALD_CLAMAV_SCAN_SCANNER(source);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = herald_clamav_scan_scanner_command_finish(self, res, &error);

	self->command_running = FALSE;
	if (reply == NULL) {
		g_debug("VERSION failed: %s", error->message);
	} else if (g_str_has_prefix(reply, "ClamAV ")) {
		if (g_strcmp0(self->version, reply) != 0)
			g_info("clamd is %s", reply);
		g_free(self->version);
		self->version = g_steal_pointer(&reply);
	}
	herald_clamav_scan_scanner_maybe_finish_shutdown(self);
}

static void
herald_clamav_scan_scanner_ping_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldClamavScanScanner *self = HERALD_CLAMAV_SCAN_SCANNER(source);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *reply = herald_clamav_scan_scanner_command_finish(self, res, &error);
	gboolean need_version;

	if (self->stopping) {
		self->command_running = FALSE;
		herald_clamav_scan_scanner_maybe_finish_shutdown(self);
		return;
	}
	if (reply == NULL) {
		self->command_running = FALSE;
		herald_clamav_scan_scanner_set_reachable(self, FALSE, error->message);
		return;
	}
	if (g_strcmp0(reply, "PONG") != 0) {
		g_autofree gchar *reason = g_strdup_printf("unexpected reply to PING: '%s'", reply);
		self->command_running = FALSE;
		herald_clamav_scan_scanner_set_reachable(self, FALSE, reason);
		return;
	}
	need_version = !self->reachable_known || !self->reachable || self->version == NULL;
	herald_clamav_scan_scanner_set_reachable(self, TRUE, NULL);
	if (need_version) {
		/* the version may have changed while clamd was away */
		herald_clamav_scan_scanner_command_async(
		    self, "VERSION", herald_clamav_scan_scanner_version_cb, NULL);
		return;
	}
	self->command_running = FALSE;
}

/**
 * herald_clamav_scan_scanner_check_health:
 *
 * PING now (then VERSION when it is unknown), unless a check is running.
 */
void
herald_clamav_scan_scanner_check_health(HeraldClamavScanScanner *self)
{
	g_return_if_fail(HERALD_IS_CLAMAV_SCAN_SCANNER(self));
	if (self->command_running || self->stopping || self->connectable == NULL)
		return;
	self->command_running = TRUE;
	herald_clamav_scan_scanner_command_async(
	    self, "PING", herald_clamav_scan_scanner_ping_cb, NULL);
}

static gboolean
herald_clamav_scan_scanner_health_cb(gpointer user_data)
{
	herald_clamav_scan_scanner_check_health(HERALD_CLAMAV_SCAN_SCANNER(user_data));
	return G_SOURCE_CONTINUE;
}

/**
 * herald_clamav_scan_scanner_configure:
 *
 * New scans use @connectable and @limits; running ones keep theirs. Checks
 * health at once.
 */
void
herald_clamav_scan_scanner_configure(HeraldClamavScanScanner *self,
				     GSocketConnectable *connectable,
				     const HeraldClamavScanScannerLimits *limits)
{
	g_return_if_fail(HERALD_IS_CLAMAV_SCAN_SCANNER(self));
	g_return_if_fail(G_IS_SOCKET_CONNECTABLE(connectable));
	g_set_object(&self->connectable, connectable);
	self->limits = *limits;
	g_clear_handle_id(&self->health_id, g_source_remove);
	if (!self->stopping) {
		self->health_id = g_timeout_add_seconds(
		    self->limits.health_interval_s, herald_clamav_scan_scanner_health_cb, self);
	}
	herald_clamav_scan_scanner_dispatch(self);
	herald_clamav_scan_scanner_check_health(self);
}

guint
herald_clamav_scan_scanner_get_in_flight(HeraldClamavScanScanner *self)
{
	g_return_val_if_fail(HERALD_IS_CLAMAV_SCAN_SCANNER(self), 0);
	return g_hash_table_size(self->running);
}

void
herald_clamav_scan_scanner_add_stats(HeraldClamavScanScanner *self, GVariantDict *dict)
{
	g_auto(GVariantDict) scans = G_VARIANT_DICT_INIT(NULL);
	g_auto(GVariantDict) errors = G_VARIANT_DICT_INIT(NULL);

	g_return_if_fail(HERALD_IS_CLAMAV_SCAN_SCANNER(self));
	for (guint i = 0; i < G_N_ELEMENTS(self->scans); i++)
		g_variant_dict_insert(
		    &scans, herald_clamav_scan_verdict_to_string(i), "t", self->scans[i]);
	for (guint i = HERALD_CLAMAV_SCAN_ERROR_NONE + 1; i < HERALD_CLAMAV_SCAN_ERROR_LAST; i++)
		g_variant_dict_insert(&errors, error_names[i], "t", self->errors[i]);
	g_variant_dict_insert_value(dict, "scans_total", g_variant_dict_end(&scans));
	g_variant_dict_insert_value(dict, "scan_errors_total", g_variant_dict_end(&errors));
	g_variant_dict_insert(dict, "scans_in_flight", "u", g_hash_table_size(self->running));
	g_variant_dict_insert(dict, "scan_queue_depth", "u", g_queue_get_length(self->queue));
	g_variant_dict_insert(dict, "scan_bytes_total", "t", self->bytes_sent);
	g_variant_dict_insert(dict, "clamd_health_failures_total", "t", self->health_failed);
	g_variant_dict_insert(
	    dict, "scan_last_error", "s", self->last_error != NULL ? self->last_error : "");
	g_variant_dict_insert(
	    dict, "clamd_version", "s", self->version != NULL ? self->version : "");
}

static void
herald_clamav_scan_scanner_stop(HeraldClamavScanScanner *self)
{
	GList *running;
	HeraldClamavScanJob *job;

	self->stopping = TRUE;
	g_clear_handle_id(&self->health_id, g_source_remove);
	g_cancellable_cancel(self->command_cancellable);
	while ((job = g_queue_pop_head(self->queue)) != NULL) {
		/* not started: complete it like a running one, from the main loop */
		herald_clamav_scan_scanner_answer_later(
		    self, job->task, HERALD_CLAMAV_SCAN_ERROR_SHUTDOWN, "shutting down");
		herald_clamav_scan_job_free(job);
	}
	running = g_hash_table_get_keys(self->running);
	for (GList *l = running; l != NULL; l = l->next) {
		job = l->data;
		if (job->abort_category == HERALD_CLAMAV_SCAN_ERROR_NONE)
			job->abort_category = HERALD_CLAMAV_SCAN_ERROR_SHUTDOWN;
		g_cancellable_cancel(job->cancellable);
	}
	g_list_free(running);
}

/**
 * herald_clamav_scan_scanner_shutdown_async:
 *
 * Refuses new scans, answers queued and running ones with verdict error
 * "shutting down" and completes when no connection to clamd is left.
 */
void
herald_clamav_scan_scanner_shutdown_async(HeraldClamavScanScanner *self,
					  GCancellable *cancellable,
					  GAsyncReadyCallback callback,
					  gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
	if (self->shutdown_task != NULL) {
		g_task_return_boolean(task, TRUE);
		return;
	}
	self->shutdown_task = g_steal_pointer(&task);
	herald_clamav_scan_scanner_stop(self);
	herald_clamav_scan_scanner_maybe_finish_shutdown(self);
}

gboolean
herald_clamav_scan_scanner_shutdown_finish(HeraldClamavScanScanner *self,
					   GAsyncResult *res,
					   GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}

HeraldClamavScanScanner *
herald_clamav_scan_scanner_new(void)
{
	return g_object_new(HERALD_TYPE_CLAMAV_SCAN_SCANNER, NULL);
}

static void
herald_clamav_scan_scanner_init(HeraldClamavScanScanner *self)
{
	self->client = g_socket_client_new();
	/* clamd is a local service: never through an HTTP or SOCKS proxy */
	g_socket_client_set_enable_proxy(self->client, FALSE);
	self->queue = g_queue_new();
	self->running = g_hash_table_new(g_direct_hash, g_direct_equal);
	self->command_cancellable = g_cancellable_new();
	self->limits.timeout_s = 30;
	self->limits.max_stream_bytes = 26214400;
	self->limits.pool_size = 4;
	self->limits.queue_size = 64;
	self->limits.health_interval_s = 30;
}

/* jobs and commands hold a reference, so nothing is running here */
static void
herald_clamav_scan_scanner_dispose(GObject *object)
{
	HeraldClamavScanScanner *self = HERALD_CLAMAV_SCAN_SCANNER(object);
	g_clear_handle_id(&self->health_id, g_source_remove);
	if (self->shutdown_task != NULL) {
		g_task_return_boolean(self->shutdown_task, TRUE);
		g_clear_object(&self->shutdown_task);
	}
	g_clear_object(&self->connectable);
	g_clear_object(&self->client);
	g_clear_object(&self->command_cancellable);
	G_OBJECT_CLASS(herald_clamav_scan_scanner_parent_class)->dispose(object);
}

static void
herald_clamav_scan_scanner_finalize(GObject *object)
{
	HeraldClamavScanScanner *self = HERALD_CLAMAV_SCAN_SCANNER(object);
	g_queue_free(self->queue);
	g_hash_table_unref(self->running);
	g_free(self->last_error);
	g_free(self->version);
	G_OBJECT_CLASS(herald_clamav_scan_scanner_parent_class)->finalize(object);
}

static void
herald_clamav_scan_scanner_class_init(HeraldClamavScanScannerClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = herald_clamav_scan_scanner_dispose;
	object_class->finalize = herald_clamav_scan_scanner_finalize;
	signals[SIGNAL_HEALTH] = g_signal_new("health",
					      G_TYPE_FROM_CLASS(klass),
					      G_SIGNAL_RUN_LAST,
					      0,
					      NULL,
					      NULL,
					      NULL,
					      G_TYPE_NONE,
					      2,
					      G_TYPE_BOOLEAN,
					      G_TYPE_STRING);
}
