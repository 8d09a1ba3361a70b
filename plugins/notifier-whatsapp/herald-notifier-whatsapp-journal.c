/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "herald-notifier-whatsapp-journal.h"

struct _HeraldNotifyJournal {
	gchar *path;
	gint fd;
	guint64 lines;
	guint64 bytes;
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

static void
herald_notify_journal_replay_line(GHashTable *records, const gchar *line, guint64 lineno)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	JsonObject *obj;
	const gchar *op;

	/* a blank line parses to no root at all */
	if (!json_parser_load_from_data(parser, line, -1, NULL) ||
	    json_parser_get_root(parser) == NULL ||
	    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
		g_warning("journal line %" G_GUINT64_FORMAT " is not a JSON object, skipped",
			  lineno);
		return;
	}
	obj = json_node_get_object(json_parser_get_root(parser));
	op = json_object_get_string_member_with_default(obj, "op", "");
	if (g_strcmp0(op, "put") == 0 && json_object_has_member(obj, "record") &&
	    JSON_NODE_HOLDS_OBJECT(json_object_get_member(obj, "record"))) {
		JsonObject *record = json_object_get_object_member(obj, "record");
		const gchar *id = json_object_get_string_member_with_default(record, "id", NULL);
		if (id != NULL)
			g_hash_table_replace(records, g_strdup(id), json_object_ref(record));
		return;
	}
	if (g_strcmp0(op, "del") == 0) {
		const gchar *id = json_object_get_string_member_with_default(obj, "id", NULL);
		if (id != NULL)
			g_hash_table_remove(records, id);
		return;
	}
	g_warning("journal line %" G_GUINT64_FORMAT " has an unknown op, skipped", lineno);
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
			herald_notify_journal_replay_line(table, contents + start, self->lines);
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

static gboolean
herald_notify_journal_append(HeraldNotifyJournal *self, JsonNode *line, GError **error)
{
	g_autofree gchar *text = json_to_string(line, FALSE);
	g_autofree gchar *with_nl = g_strconcat(text, "\n", NULL);
	gsize len = strlen(with_nl);
	if (!herald_notify_journal_write_all(self->fd, with_nl, len, error))
		return FALSE;
	if (!herald_notify_journal_sync(self->fd, error))
		return FALSE;
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
		text = json_to_string(line, FALSE);
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
