/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* per-recipient sliding windows of one minute and one hour (in memory, this
 * instance only); a limit of 0 is unlimited */
typedef struct _HeraldNotifyLimiter HeraldNotifyLimiter;

HeraldNotifyLimiter *
herald_notify_limiter_new(void);
void
herald_notify_limiter_set_limits(HeraldNotifyLimiter *self, guint per_minute, guint per_hour);
/* TRUE and counts it when @key may send now; else FALSE and the seconds until it may */
gboolean
herald_notify_limiter_check(HeraldNotifyLimiter *self,
			    const gchar *key,
			    gint64 now_us,
			    gboolean bypass_minute,
			    guint *retry_after_s);
/* all of @keys have room: counted under each; else none is counted */
gboolean
herald_notify_limiter_check_all(HeraldNotifyLimiter *self,
				const gchar *const *keys,
				gint64 now_us,
				gboolean bypass_minute,
				guint *refused,
				guint *retry_after_s);
void
herald_notify_limiter_prune(HeraldNotifyLimiter *self, gint64 now_us);
guint
herald_notify_limiter_get_size(HeraldNotifyLimiter *self);
void
herald_notify_limiter_free(HeraldNotifyLimiter *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldNotifyLimiter, herald_notify_limiter_free)

G_END_DECLS
