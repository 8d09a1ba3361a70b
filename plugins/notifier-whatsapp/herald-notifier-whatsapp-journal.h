/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * The local durable store (when redis-bridge is not enabled): an append-only
 * journal of JSON lines, `{"op":"put","record":{…}}` or `{"op":"del","id":…}`,
 * each written with one write() and made durable with fdatasync() before the
 * call returns. An append that fails (ENOSPC, EIO) is cut off again before
 * anything else is written, so an accepted record never shares a line with a
 * torn one. Replay keeps the last line per id; a torn last line (a crash in
 * the middle of a write) is cut off, a damaged line elsewhere is reported and
 * a complete record glued after the damage is still read. Compaction writes the live records to
 * a temporary file, fsyncs it and renames it over the journal.
 */
typedef struct _HeraldNotifyJournal HeraldNotifyJournal;

/* @records: (out) (element-type utf8 JsonObject): the live records by id */
HeraldNotifyJournal *
herald_notify_journal_open(const gchar *path, GHashTable **records, GError **error);
gboolean
herald_notify_journal_put(HeraldNotifyJournal *self, JsonNode *record, GError **error);
gboolean
herald_notify_journal_delete(HeraldNotifyJournal *self, const gchar *id, GError **error);
/* rewrite with only @records (element-type JsonNode) */
gboolean
herald_notify_journal_compact(HeraldNotifyJournal *self, GPtrArray *records, GError **error);
guint64
herald_notify_journal_get_lines(HeraldNotifyJournal *self);
guint64
herald_notify_journal_get_damaged(HeraldNotifyJournal *self);
guint64
herald_notify_journal_get_recovered(HeraldNotifyJournal *self);
guint64
herald_notify_journal_get_rollbacks(HeraldNotifyJournal *self);
guint64
herald_notify_journal_get_bytes(HeraldNotifyJournal *self);
const gchar *
herald_notify_journal_get_path(HeraldNotifyJournal *self);
void
herald_notify_journal_free(HeraldNotifyJournal *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldNotifyJournal, herald_notify_journal_free)

G_END_DECLS
