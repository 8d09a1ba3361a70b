/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "herald-notifier-whatsapp-limiter.h"

#define MINUTE_US (60 * (gint64)G_USEC_PER_SEC)
#define HOUR_US	  (3600 * (gint64)G_USEC_PER_SEC)

struct _HeraldNotifyLimiter {
	GHashTable *keys; /* (element-type utf8 GQueue of gint64 µs, oldest first) */
	guint per_minute;
	guint per_hour;
};

static void
herald_notify_limiter_queue_free(GQueue *queue)
{
	g_queue_free_full(queue, g_free);
}

HeraldNotifyLimiter *
herald_notify_limiter_new(void)
{
	HeraldNotifyLimiter *self = g_new0(HeraldNotifyLimiter, 1);
	self->keys = g_hash_table_new_full(g_str_hash,
					   g_str_equal,
					   g_free,
					   (GDestroyNotify)herald_notify_limiter_queue_free);
	return self;
}

void
herald_notify_limiter_set_limits(HeraldNotifyLimiter *self, guint per_minute, guint per_hour)
{
	self->per_minute = per_minute;
	self->per_hour = per_hour;
}

static void
herald_notify_limiter_expire(GQueue *queue, gint64 now_us)
{
	while (queue->length > 0 && *(gint64 *)g_queue_peek_head(queue) <= now_us - HOUR_US)
		g_free(g_queue_pop_head(queue));
}

static guint
herald_notify_limiter_seconds_until(gint64 stamp, gint64 window, gint64 now_us)
{
	gint64 wait = stamp + window - now_us;
	if (wait <= 0)
		return 1;
	return (guint)((wait + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
}

static GQueue *
herald_notify_limiter_get_queue(HeraldNotifyLimiter *self, const gchar *key, gint64 now_us)
{
	GQueue *queue = g_hash_table_lookup(self->keys, key);
	if (queue == NULL) {
		queue = g_queue_new();
		g_hash_table_insert(self->keys, g_strdup(key), queue);
	}
	herald_notify_limiter_expire(queue, now_us);
	return queue;
}

/* whether @queue has room now, without counting anything */
static gboolean
herald_notify_limiter_allows(HeraldNotifyLimiter *self,
			     GQueue *queue,
			     gint64 now_us,
			     gboolean bypass_minute,
			     guint *retry_after_s)
{
	if (self->per_hour > 0 && queue->length >= self->per_hour) {
		/* the oldest of the last hour has to leave the window */
		gint64 oldest = *(gint64 *)g_queue_peek_nth(queue, queue->length - self->per_hour);
		*retry_after_s = herald_notify_limiter_seconds_until(oldest, HOUR_US, now_us);
		return FALSE;
	}
	if (self->per_minute > 0 && !bypass_minute && queue->length >= self->per_minute) {
		gint64 nth = *(gint64 *)g_queue_peek_nth(queue, queue->length - self->per_minute);
		if (nth > now_us - MINUTE_US) {
			*retry_after_s = herald_notify_limiter_seconds_until(nth, MINUTE_US, now_us);
			return FALSE;
		}
	}
	return TRUE;
}

static void
herald_notify_limiter_count(GQueue *queue, gint64 now_us)
{
	gint64 *stamp = g_new(gint64, 1);
	*stamp = now_us;
	g_queue_push_tail(queue, stamp);
}

gboolean
herald_notify_limiter_check(HeraldNotifyLimiter *self,
			    const gchar *key,
			    gint64 now_us,
			    gboolean bypass_minute,
			    guint *retry_after_s)
{
	const gchar *keys[] = {key, NULL};
	return herald_notify_limiter_check_all(self,
					       keys,
					       now_us,
					       bypass_minute,
					       NULL,
					       retry_after_s);
}

/**
 * herald_notify_limiter_check_all:
 * @keys: (array zero-terminated=1): keys that must all have room
 * @refused: (out) (optional): the index in @keys of the first full one
 *
 * Counts the send under every key of @keys when each of them has room, and
 * under none when one is full: a refused send uses up no one's allowance.
 *
 * Returns: %TRUE when counted
 */
gboolean
herald_notify_limiter_check_all(HeraldNotifyLimiter *self,
				const gchar *const *keys,
				gint64 now_us,
				gboolean bypass_minute,
				guint *refused,
				guint *retry_after_s)
{
	for (guint i = 0; keys[i] != NULL; i++) {
		GQueue *queue = herald_notify_limiter_get_queue(self, keys[i], now_us);
		if (!herald_notify_limiter_allows(self,
						  queue,
						  now_us,
						  bypass_minute,
						  retry_after_s)) {
			if (refused != NULL)
				*refused = i;
			return FALSE;
		}
	}
	for (guint i = 0; keys[i] != NULL; i++)
		herald_notify_limiter_count(g_hash_table_lookup(self->keys, keys[i]), now_us);
	return TRUE;
}

void
herald_notify_limiter_prune(HeraldNotifyLimiter *self, gint64 now_us)
{
	GHashTableIter iter;
	gpointer value;
	g_hash_table_iter_init(&iter, self->keys);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		herald_notify_limiter_expire(value, now_us);
		if (((GQueue *)value)->length == 0)
			g_hash_table_iter_remove(&iter);
	}
}

guint
herald_notify_limiter_get_size(HeraldNotifyLimiter *self)
{
	return g_hash_table_size(self->keys);
}

void
herald_notify_limiter_free(HeraldNotifyLimiter *self)
{
	if (self == NULL)
		return;
	g_hash_table_unref(self->keys);
	g_free(self);
}
