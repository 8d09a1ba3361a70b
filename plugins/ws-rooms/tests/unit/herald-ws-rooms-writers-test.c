/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The write pass's thread pool: every item exactly once, whatever the number
 * of threads and items; the work really is shared; bad configuration values.
 */
#include "config.h"

#include <herald.h>

#include "herald-ws-rooms-writers.h"

typedef struct {
	guint n_items;
	gint *count;	 /* (atomic) per item */
	GThread **by;	 /* which thread ran the item */
	gint ranges;	 /* (atomic) calls of the function */
	GThread *caller; /* the thread that called run() */
	/* shared: the caller's first range waits until another thread ran one */
	gboolean wait_for_helper;
	gint helper_ranges; /* (atomic) */
	gint timed_out;	    /* (atomic) */
} Job;

static void
count_range(guint begin, guint end, gpointer user_data)
{
	Job *job = user_data;
	GThread *self = g_thread_self();

	g_assert_cmpuint(begin, <, end);
	g_assert_cmpuint(end, <=, job->n_items);
	/* chunks, or everything at once when the run stays on the caller */
	if (begin != 0 || end != job->n_items)
		g_assert_cmpuint(end - begin, <=, HERALD_WS_ROOMS_WRITERS_CHUNK);
	g_atomic_int_inc(&job->ranges);
	if (self != job->caller)
		g_atomic_int_inc(&job->helper_ranges);
	if (job->wait_for_helper && self == job->caller && begin == 0) {
		gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
		while (g_atomic_int_get(&job->helper_ranges) == 0) {
			if (g_get_monotonic_time() > deadline) {
				g_atomic_int_set(&job->timed_out, 1);
				break;
			}
			g_usleep(100);
		}
	}
	for (guint i = begin; i < end; i++) {
		g_atomic_int_inc(&job->count[i]);
		job->by[i] = self;
	}
}

static void
run_job(HeraldWsRoomsWriters *writers, Job *job, guint n_items)
{
	job->n_items = n_items;
	job->count = g_new0(gint, MAX(n_items, 1));
	job->by = g_new0(GThread *, MAX(n_items, 1));
	job->caller = g_thread_self();
	herald_ws_rooms_writers_run(writers, n_items, count_range, job);
	for (guint i = 0; i < n_items; i++)
		g_assert_cmpint(job->count[i], ==, 1);
}

static void
job_clear(Job *job)
{
	g_free(job->count);
	g_free(job->by);
	memset(job, 0, sizeof(*job));
}

/* every item once, for pool sizes and item counts around the chunk size */
static void
writers_every_item_once_func(void)
{
	const guint threads[] = {0, 1, 3};
	const guint C = HERALD_WS_ROOMS_WRITERS_CHUNK;
	const guint items[] = {0, 1, C - 1, C, 2 * C - 1, 2 * C, 2 * C + 1, 1000, 4097};

	for (guint t = 0; t < G_N_ELEMENTS(threads); t++) {
		g_autoptr(HeraldWsRoomsWriters) writers = herald_ws_rooms_writers_new(threads[t]);
		g_assert_cmpuint(herald_ws_rooms_writers_get_n_threads(writers), ==, threads[t]);
		for (guint round = 0; round < 20; round++) {
			for (guint i = 0; i < G_N_ELEMENTS(items); i++) {
				Job job = {0};
				run_job(writers, &job, items[i]);
				/* below two chunks the caller does it all in one call */
				if (items[i] > 0 && items[i] < 2 * HERALD_WS_ROOMS_WRITERS_CHUNK)
					g_assert_cmpint(job.ranges, ==, 1);
				if (threads[t] == 0)
					g_assert_cmpint(job.helper_ranges, ==, 0);
				job_clear(&job);
			}
		}
		/* only runs of two chunks or more were offered to the threads */
		g_assert_cmpuint(herald_ws_rooms_writers_get_parallel_runs(writers),
				 ==,
				 threads[t] > 0 ? 20 * 4 : 0);
	}
	/* no pool: everything on the caller */
	{
		Job job = {0};
		run_job(NULL, &job, 1000);
		g_assert_cmpint(job.helper_ranges, ==, 0);
		g_assert_cmpint(job.ranges, ==, 1);
		job_clear(&job);
	}
}

/* the work is shared: the caller's first chunk cannot finish until one of
 * the pool's threads has written a chunk of its own */
static void
writers_shared_func(void)
{
	g_autoptr(HeraldWsRoomsWriters) writers = herald_ws_rooms_writers_new(2);

	for (guint round = 0; round < 10; round++) {
		Job job = {0};
		gboolean helped = FALSE;
		job.wait_for_helper = TRUE;
		run_job(writers, &job, 1000);
		g_assert_cmpint(job.timed_out, ==, 0);
		g_assert_cmpint(job.helper_ranges, >, 0);
		for (guint i = 0; i < 1000; i++)
			helped |= job.by[i] != job.caller;
		g_assert_true(helped);
		job_clear(&job);
	}
}

/* a pool that never ran, and one freed right after a run, stop cleanly */
static void
writers_free_func(void)
{
	for (guint i = 0; i < 50; i++) {
		HeraldWsRoomsWriters *writers = herald_ws_rooms_writers_new(1 + i % 4);
		if (i % 2 == 1) {
			Job job = {0};
			run_job(writers, &job, 500);
			job_clear(&job);
		}
		herald_ws_rooms_writers_free(writers);
	}
	herald_ws_rooms_writers_free(NULL);
}

static void
writers_parse_func(void)
{
	const gchar *bad[] = {"-1", "65", "two", "1.5", " 2", "2 ", "0x2", "auto;1", "99999999999999999999"};
	guint cpus = g_get_num_processors();
	guint n = 99;

	g_assert_true(herald_ws_rooms_writers_parse("auto", &n, NULL));
	g_assert_cmpuint(n, ==, MIN(cpus > 1 ? cpus - 1 : 0, HERALD_WS_ROOMS_WRITERS_AUTO_MAX));
	g_assert_true(herald_ws_rooms_writers_parse("0", &n, NULL));
	g_assert_cmpuint(n, ==, 0);
	g_assert_true(herald_ws_rooms_writers_parse("3", &n, NULL));
	g_assert_cmpuint(n, ==, 3);
	g_assert_true(herald_ws_rooms_writers_parse("64", &n, NULL));
	g_assert_cmpuint(n, ==, 64);
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		n = 7;
		g_assert_false(herald_ws_rooms_writers_parse(bad[i], &n, &error));
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
		g_assert_nonnull(strstr(error->message, bad[i]));
		g_assert_cmpuint(n, ==, 7);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/herald/ws-rooms/writers/every-item-once", writers_every_item_once_func);
	g_test_add_func("/herald/ws-rooms/writers/shared", writers_shared_func);
	g_test_add_func("/herald/ws-rooms/writers/free", writers_free_func);
	g_test_add_func("/herald/ws-rooms/writers/parse", writers_parse_func);
	return g_test_run();
}
