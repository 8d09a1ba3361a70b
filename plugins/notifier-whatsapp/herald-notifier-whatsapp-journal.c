/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "herald-notifier-whatsapp-journal.h"
#include "herald.h"

struct _HeraldNotifyJournal {
	gchar *path;
	gint fd;
	guint64 lines;
	guint64 bytes;	    /* the file's length up to the last durable line */
	gboolean torn;	    /* a failed append may have left bytes after @bytes */
	guint64 damaged;    /* lines replay could not read */
	guint64 recovered;  /* records replay found after damage in a line */
	guint64 rollbacks;  /* failed appends cut off again */
};

static gboolean
herald_notify_journal_write_all(gint fd, const gchar *data, gsize len, GError **error)
{
	while (len > 0) {
		gssize n = write(fd, data, len);
		if (n < 0) {
			gint saved = errno;
			if (saved == EINTR)
				continue;
			g_set_error(error,
				    G_IO_ERROR,
				    g_io_error_from_errno(saved),
				    "write: %s",
				    g_strerror(saved));
			return FALSE;
		}
		data += n;
		len -= (gsize)n;
	}
	return TRUE;
}

static gboolean
herald_notify_journal_sync(gint fd, GError **error)
{
	if (fdatasync(fd) != 0) {
		gint saved = errno;
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(saved),
			    "fdatasync: %s",
			    g_strerror(saved));
		return FALSE;
	}
	return TRUE;
}

static gboolean
herald_notify_journal_sync_dir(const gchar *path, GError **error)
{
	g_autofree gchar *dir = g_path_get_dirname(path);
	gint fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	gboolean ok;
	if (fd < 0) {
		gint saved = errno;
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(saved),
			    "open %s: %s",
			    dir,
			    g_strerror(saved));
		return FALSE;
	}
	ok = fsync(fd) == 0;
	close(fd);
	if (!ok) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "fsync %s failed", dir);
		return FALSE;
	}
	return TRUE;
}

/* a string member, or NULL (json-glib's _with_default() getters complain
 * about a member that is an object or an array) */
static const gchar *
herald_notify_journal_string(JsonObject *obj, const gchar *name)
{
	JsonNode *node = json_object_get_member(obj, name);
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

/* one `{"op":…}` object; FALSE when it is not one */
static gboolean
herald_notify_journal_apply(GHashTable *records, const gchar *text, gsize len)
{
	g_autoptr(JsonObject) obj = herald_json_parse_object(text, (gssize)len, NULL);
	const gchar *op;

	if (obj == NULL)
		return FALSE;
	op = herald_notify_journal_string(obj, "op");
	if (g_strcmp0(op, "put") == 0 && json_object_has_member(obj, "record") &&
	    JSON_NODE_HOLDS_OBJECT(json_object_get_member(obj, "record"))) {
		JsonObject *record = json_object_get_object_member(obj, "record");
		const gchar *id = herald_notify_journal_string(record, "id");
		if (id == NULL)
			return FALSE;
		g_hash_table_replace(records, g_strdup(id), json_object_ref(record));
		return TRUE;
	}
	if (g_strcmp0(op, "del") == 0) {
		const gchar *id = herald_notify_journal_string(obj, "id");
		if (id == NULL)
			return FALSE;
		g_hash_table_remove(records, id);
		return TRUE;
	}
	return FALSE;
}

/* Damage can sit anywhere, not only at the end: a journal written by an older
 * Herald could hold a write cut short by a full disk with the next record
 * glued to it on the same line. Such a line is reported, and every complete
 * record that starts later in it is still applied. */
static void
herald_notify_journal_replay_line(HeraldNotifyJournal *self,
				  GHashTable *records,
				  const gchar *line,
				  gsize len,
				  guint64 lineno)
{
	static const gchar marker[] = "{\"op\":";
	guint found = 0;

	if (herald_notify_journal_apply(records, line, len))
		return;
	self->damaged++;
	for (const gchar *p = line + 1; p < line + len;) {
		const gchar *next = g_strstr_len(p, (gssize)(line + len - p), marker);
		if (next == NULL)
			break;
		if (herald_notify_journal_apply(records, next, (gsize)(line + len - next))) {
			found++;
			break; /* the rest of the line was that record */
		}
		p = next + 1;
	}
	self->recovered += found;
	if (found > 0)
		g_warning("journal line %" G_GUINT64_FORMAT
			  " is damaged; the record after the damage was recovered",
			  lineno);
	else if (!herald_json_check(line, len, herald_json_get_max_depth(), NULL))
		g_warning("journal line %" G_GUINT64_FORMAT " nests deeper than %u levels, skipped",
			  lineno,
			  herald_json_get_max_depth());
	else
		g_warning("journal line %" G_GUINT64_FORMAT
			  " is not a notification record (%" G_GSIZE_FORMAT " bytes), skipped",
			  lineno,
			  len);
}

HeraldNotifyJournal *
herald_notify_journal_open(const gchar *path, GHashTable **records, GError **error)
{
	g_autoptr(HeraldNotifyJournal) self = g_new0(HeraldNotifyJournal, 1);
	g_autoptr(GHashTable) table =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)json_object_unref);
	g_autofree gchar *contents = NULL;
	g_autofree gchar *dir = g_path_get_dirname(path);
	g_autoptr(GError) error_local = NULL;
	gsize len = 0;
	gsize good = 0;

	self->fd = -1;
	self->path = g_strdup(path);
	if (g_mkdir_with_parents(dir, 0700) != 0) {
		gint saved = errno;
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(saved),
			    "cannot create %s: %s",
			    dir,
			    g_strerror(saved));
		return NULL;
	}
	/* a compaction that crashed before its rename leaves a temporary file */
	{
		g_autofree gchar *tmp = g_strdup_printf("%s.tmp", path);
		g_unlink(tmp);
	}
	if (!g_file_get_contents(path, &contents, &len, &error_local)) {
		if (!g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return NULL;
		}
	}
	for (gsize start = 0; contents != NULL && start < len;) {
		const gchar *nl = memchr(contents + start, '\n', len - start);
		if (nl == NULL)
			break; /* torn write: cut below */
		contents[nl - contents] = '\0';
		self->lines++;
		if (nl - contents > (gssize)start)
			herald_notify_journal_replay_line(self,
							  table,
							  contents + start,
							  (gsize)(nl - contents) - start,
							  self->lines);
		start = (gsize)(nl - contents) + 1;
		good = start;
	}
	self->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (self->fd < 0) {
		gint saved = errno;
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(saved),
			    "cannot open %s: %s",
			    path,
			    g_strerror(saved));
		return NULL;
	}
	if (good < len) {
		g_message("journal ends with a torn line of %" G_GSIZE_FORMAT " bytes, cut off",
			  len - good);
		if (ftruncate(self->fd, (off_t)good) != 0 ||
		    !herald_notify_journal_sync(self->fd, error))
			return NULL;
	}
	self->bytes = good;
	*records = g_steal_pointer(&table);
	return g_steal_pointer(&self);
}

/* cut what a failed append left after the last durable line, so that the
 * next record never starts in the middle of a torn one */
static gboolean
herald_notify_journal_roll_back(HeraldNotifyJournal *self, GError **error)
{
	if (ftruncate(self->fd, (off_t)self->bytes) != 0) {
		gint saved = errno;
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(saved),
			    "ftruncate: %s",
			    g_strerror(saved));
		return FALSE;
	}
	if (!herald_notify_journal_sync(self->fd, error))
		return FALSE;
	self->torn = FALSE;
	self->rollbacks++;
	return TRUE;
}

/* one line, durable before this returns TRUE; on FALSE the file is as it was
 * before the call (or, when even the roll-back failed, the next append rolls
 * back first and fails while it cannot) */
static gboolean
herald_notify_journal_append(HeraldNotifyJournal *self, JsonNode *line, GError **error)
{
	g_autofree gchar *text = herald_json_to_string(line);
	g_autofree gchar *with_nl = g_strconcat(text, "\n", NULL);
	gsize len = strlen(with_nl);

	if (self->torn && !herald_notify_journal_roll_back(self, error))
		return FALSE;
	if (!herald_notify_journal_write_all(self->fd, with_nl, len, error) ||
	    !herald_notify_journal_sync(self->fd, error)) {
		self->torn = TRUE;
		herald_notify_journal_roll_back(self, NULL);
		return FALSE;
	}
	self->lines++;
	self->bytes += len;
	return TRUE;
}

gboolean
herald_notify_journal_put(HeraldNotifyJournal *self, JsonNode *record, GError **error)
{
	g_autoptr(JsonNode) line = json_node_new(JSON_NODE_OBJECT);
	JsonObject *obj = json_object_new();
	json_object_set_string_member(obj, "op", "put");
	json_object_set_member(obj, "record", json_node_copy(record));
	json_node_take_object(line, obj);
	return herald_notify_journal_append(self, line, error);
}

gboolean
herald_notify_journal_delete(HeraldNotifyJournal *self, const gchar *id, GError **error)
{
	g_autoptr(JsonNode) line = json_node_new(JSON_NODE_OBJECT);
	JsonObject *obj = json_object_new();
	json_object_set_string_member(obj, "op", "del");
	json_object_set_string_member(obj, "id", id);
	json_node_take_object(line, obj);
	return herald_notify_journal_append(self, line, error);
}

gboolean
herald_notify_journal_compact(HeraldNotifyJournal *self, GPtrArray *records, GError **error)
{
	g_autofree gchar *tmp = g_strdup_printf("%s.tmp", self->path);
	GString *out = g_string_new(NULL);
	g_autofree gchar *data = NULL;
	gsize len;
	gint fd;
	gboolean ok;

	for (guint i = 0; i < records->len; i++) {
		g_autoptr(JsonNode) line = json_node_new(JSON_NODE_OBJECT);
		JsonObject *obj = json_object_new();
		g_autofree gchar *text = NULL;
		json_object_set_string_member(obj, "op", "put");
		json_object_set_member(obj, "record", json_node_copy(g_ptr_array_index(records, i)));
		json_node_take_object(line, obj);
		text = herald_json_to_string(line);
		g_string_append(out, text);
		g_string_append_c(out, '\n');
	}
	len = out->len;
	data = g_string_free(out, FALSE);

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		gint saved = errno;
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(saved),
			    "cannot create %s: %s",
			    tmp,
			    g_strerror(saved));
		return FALSE;
	}
	ok = herald_notify_journal_write_all(fd, data, len, error) &&
	     herald_notify_journal_sync(fd, error);
	close(fd);
	if (!ok) {
		g_unlink(tmp);
		return FALSE;
	}
	if (g_rename(tmp, self->path) != 0) {
		gint saved = errno;
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(saved),
			    "rename %s: %s",
			    tmp,
			    g_strerror(saved));
		g_unlink(tmp);
		return FALSE;
	}
	if (!herald_notify_journal_sync_dir(self->path, error))
		return FALSE;
	/* append to the new file from now on */
	close(self->fd);
	self->fd = open(self->path, O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
	if (self->fd < 0) {
		gint saved = errno;
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(saved),
			    "cannot open %s: %s",
			    self->path,
			    g_strerror(saved));
		return FALSE;
	}
	self->lines = records->len;
	self->bytes = len;
	return TRUE;
}

guint64
herald_notify_journal_get_damaged(HeraldNotifyJournal *self)
{
	return self->damaged;
}

guint64
herald_notify_journal_get_recovered(HeraldNotifyJournal *self)
{
	return self->recovered;
}

guint64
herald_notify_journal_get_rollbacks(HeraldNotifyJournal *self)
{
	return self->rollbacks;
}

guint64
herald_notify_journal_get_lines(HeraldNotifyJournal *self)
{
	return self->lines;
}

guint64
herald_notify_journal_get_bytes(HeraldNotifyJournal *self)
{
	return self->bytes;
}

const gchar *
herald_notify_journal_get_path(HeraldNotifyJournal *self)
{
	return self->path;
}

void
herald_notify_journal_free(HeraldNotifyJournal *self)
{
	if (self == NULL)
		return;
	if (self->fd >= 0)
		close(self->fd);
	g_free(self->path);
	g_free(self);
}
