/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <herald.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "herald-ws-rooms-writers.h"

struct _HeraldWsRoomsWriters {
	GThread **threads;
	guint n_threads;
	GMutex lock;
	GCond start;	 /* a job opened, or quit */
	GCond done;	 /* the last active thread left a closed job */
	guint generation; /* (lock) bumped per job */
	gboolean open;	 /* (lock) threads may still join the job */
	guint active;	 /* (lock) threads inside the job */
	gboolean quit;	 /* (lock) */
	/* the job: written under the lock before it opens */
	guint n_items;
	HeraldWsRoomsWriteFunc func;
	gpointer user_data;
	guint next; /* (atomic) first unclaimed item */
	guint64 parallel_runs;
};

static void
herald_ws_rooms_writers_work(HeraldWsRoomsWriters *self)
{
	for (;;) {
		guint begin = (guint)g_atomic_int_add((gint *)&self->next,
						      HERALD_WS_ROOMS_WRITERS_CHUNK);
		if (begin >= self->n_items)
			return;
		self->func(begin, MIN(begin + HERALD_WS_ROOMS_WRITERS_CHUNK, self->n_items),
			   self->user_data);
	}
}

static gpointer
herald_ws_rooms_writers_thread(gpointer data)
{
	HeraldWsRoomsWriters *self = data;
	guint seen = 0;

	g_mutex_lock(&self->lock);
	for (;;) {
		while (!self->quit && !(self->open && self->generation != seen))
			g_cond_wait(&self->start, &self->lock);
		if (self->quit)
			break;
		seen = self->generation;
		self->active++;
		g_mutex_unlock(&self->lock);
		herald_ws_rooms_writers_work(self);
		g_mutex_lock(&self->lock);
		if (--self->active == 0 && !self->open)
			g_cond_signal(&self->done);
	}
	g_mutex_unlock(&self->lock);
	return NULL;
}

/**
 * herald_ws_rooms_writers_new:
 * @n_threads: threads besides the caller's (0: every run stays on the caller)
 */
HeraldWsRoomsWriters *
herald_ws_rooms_writers_new(guint n_threads)
{
	HeraldWsRoomsWriters *self = g_new0(HeraldWsRoomsWriters, 1);
	sigset_t all, old;

	g_mutex_init(&self->lock);
	g_cond_init(&self->start);
	g_cond_init(&self->done);
	n_threads = MIN(n_threads, HERALD_WS_ROOMS_WRITERS_MAX);
	self->threads = g_new0(GThread *, n_threads + 1);
	/* signals stay with the main thread (GLib's unix signal sources) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (guint i = 0; i < n_threads; i++) {
		g_autoptr(GError) error = NULL;
		GThread *thread =
		    g_thread_try_new("herald-ws-write", herald_ws_rooms_writers_thread, self, &error);
		/* a process or memory limit: fewer threads, not a dead daemon */
		if (thread == NULL) {
			g_warning("only %u of %u writer threads started: %s",
				  self->n_threads,
				  n_threads,
				  error->message);
			break;
		}
		self->threads[self->n_threads++] = thread;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return self;
}

void
herald_ws_rooms_writers_free(HeraldWsRoomsWriters *self)
{
	if (self == NULL)
		return;
	g_mutex_lock(&self->lock);
	self->quit = TRUE;
	g_cond_broadcast(&self->start);
	g_mutex_unlock(&self->lock);
	for (guint i = 0; i < self->n_threads; i++)
		g_thread_join(self->threads[i]);
	g_free(self->threads);
	g_mutex_clear(&self->lock);
	g_cond_clear(&self->start);
	g_cond_clear(&self->done);
	g_free(self);
}

guint
herald_ws_rooms_writers_get_n_threads(HeraldWsRoomsWriters *self)
{
	return self != NULL ? self->n_threads : 0;
}

/* runs that were offered to the pool's threads */
guint64
herald_ws_rooms_writers_get_parallel_runs(HeraldWsRoomsWriters *self)
{
	return self != NULL ? self->parallel_runs : 0;
}

/**
 * herald_ws_rooms_writers_run:
 * @self: (nullable): %NULL runs everything on the caller
 *
 * Calls @func for every item in [0, @n_items) exactly once, possibly from
 * several threads at the same time (on disjoint ranges), and returns when
 * every call has returned. Not reentrant: one run at a time, from one thread.
 */
void
herald_ws_rooms_writers_run(HeraldWsRoomsWriters *self,
			    guint n_items,
			    HeraldWsRoomsWriteFunc func,
			    gpointer user_data)
{
	if (n_items == 0)
		return;
	if (self == NULL || self->n_threads == 0 || n_items < 2 * HERALD_WS_ROOMS_WRITERS_CHUNK) {
		func(0, n_items, user_data);
		return;
	}
	g_mutex_lock(&self->lock);
	self->n_items = n_items;
	self->func = func;
	self->user_data = user_data;
	g_atomic_int_set((gint *)&self->next, 0);
	self->generation++;
	self->open = TRUE;
	self->parallel_runs++;
	g_cond_broadcast(&self->start);
	g_mutex_unlock(&self->lock);

	herald_ws_rooms_writers_work(self);

	/* every item is claimed: close the job to latecomers, wait for the
	 * threads still writing theirs */
	g_mutex_lock(&self->lock);
	self->open = FALSE;
	while (self->active > 0)
		g_cond_wait(&self->done, &self->lock);
	self->func = NULL;
	self->user_data = NULL;
	g_mutex_unlock(&self->lock);
}

/**
 * herald_ws_rooms_writers_parse:
 * @value: "auto" or a number of threads, 0 to %HERALD_WS_ROOMS_WRITERS_MAX
 */
gboolean
herald_ws_rooms_writers_parse(const gchar *value, guint *n_threads, GError **error)
{
	guint64 n = 0;

	if (value == NULL || value[0] == '\0' || g_strcmp0(value, "auto") == 0) {
		guint cpus = g_get_num_processors();
		*n_threads = MIN(cpus > 1 ? cpus - 1 : 0, HERALD_WS_ROOMS_WRITERS_AUTO_MAX);
		return TRUE;
	}
	if (!g_ascii_string_to_unsigned(value, 10, 0, HERALD_WS_ROOMS_WRITERS_MAX, &n, NULL)) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: %s is the configured value, %u the largest number */
			    _("“%s” is not “auto” or a number of threads from 0 to %u"),
			    value,
			    (guint)HERALD_WS_ROOMS_WRITERS_MAX);
		return FALSE;
	}
	*n_threads = (guint)n;
	return TRUE;
}
