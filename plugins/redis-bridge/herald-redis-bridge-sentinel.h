/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * Redis Sentinel: which server is the master now, and word when that changes.
 *
 * Both run on worker threads with hiredis' blocking API, so that a sentinel
 * that hangs never stalls the main loop: a lookup asks each configured
 * sentinel in turn `SENTINEL get-master-addr-by-name` (one connect and one
 * command timeout each); the watcher keeps one sentinel connection subscribed
 * to `+switch-master` (moving on to the next sentinel when it drops) and, on
 * every (re)connect, also reports the master that sentinel knows, so that a
 * failover missed while no sentinel was reachable is still seen.
 */
typedef struct _RbSentinel RbSentinel;

/* runs on the main context of the thread that called rb_sentinel_watch() */
typedef void (*RbSentinelMasterFunc)(const gchar *host, guint16 port, gpointer user_data);

gboolean
rb_sentinel_parse_address(const gchar *address, gchar **host, guint16 *port, GError **error);
RbSentinel *
rb_sentinel_new(const gchar *const *addresses,
		const gchar *master_name,
		const gchar *password,
		guint timeout_ms);
void
rb_sentinel_lookup_async(RbSentinel *self,
			 GCancellable *cancellable,
			 GAsyncReadyCallback callback,
			 gpointer user_data);
gboolean
rb_sentinel_lookup_finish(GAsyncResult *res, gchar **host, guint16 *port, GError **error);
void
rb_sentinel_watch(RbSentinel *self, RbSentinelMasterFunc func, gpointer user_data);
void
rb_sentinel_free(RbSentinel *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RbSentinel, rb_sentinel_free)

G_END_DECLS
