/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * herald-bench-raw: the machine's own limit for fan-out over loopback TCP.
 *
 * Opens N connected loopback socket pairs, forks a reader that drains the
 * client ends with epoll, and writes the same pre-framed 120-byte WebSocket
 * text frame to every server end, round after round, with one frame per
 * write() or several frames per write(). Prints one JSON line per run:
 * frames/s and writes/s from the first write until the reader has every byte.
 *
 * --threads T splits the sockets over T writer threads. --paced R writes one
 * round (one frame to every socket) R times per second instead, each frame
 * carrying the round's scheduled start time, and the reader reports the
 * latency of every frame (p50/p90/p99/max) and of each round's last frame:
 * what this machine allows for one isolated event to N sockets (scenario b20).
 */
#include <errno.h>
#include <math.h>
#include <time.h>
#include <fcntl.h>
#include <glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define FRAME_SIZE 120

static gint opt_sockets = 1000;
static gint opt_rounds = 1000;
static gchar *opt_batches = NULL;
static gchar *opt_label = NULL;
static gint opt_threads = 1;
static gint opt_paced = 0;

static GOptionEntry entries[] = {
    {"sockets", 'n', 0, G_OPTION_ARG_INT, &opt_sockets, "connected sockets (1000)", "N"},
    {"rounds", 'r', 0, G_OPTION_ARG_INT, &opt_rounds, "frames per socket (1000)", "R"},
    {"frames-per-write", 'f', 0, G_OPTION_ARG_STRING, &opt_batches, "list, e.g. 1,8 (1,8)", "LIST"},
    {"label", 'l', 0, G_OPTION_ARG_STRING, &opt_label, "prefix of the scenario name (raw)", "S"},
    {"threads", 't', 0, G_OPTION_ARG_INT, &opt_threads, "writer threads (1)", "T"},
    {"paced", 'p', 0, G_OPTION_ARG_INT, &opt_paced, "rounds per second, latency per frame (0: as fast as possible)", "R"},
    {NULL},
};

static guint64
raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur;
}

static gdouble
cpu_seconds(gint who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return (gdouble)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (gdouble)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* what the reader sends back on @done */
typedef struct {
	gdouble cpu;
	gdouble p50_ms, p90_ms, p99_ms, max_ms; /* paced: per frame */
	gdouble last_p50_ms, last_p99_ms;	/* paced: each round's last frame */
} ReaderResult;

static gint64
mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (gint64)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static gint
cmp_i64(gconstpointer a, gconstpointer b)
{
	gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;
	return x < y ? -1 : x > y;
}

static gdouble
pct_ms(gint64 *v, guint64 n, gdouble q)
{
	if (n == 0)
		return 0;
	return (gdouble)v[MIN(n - 1, (guint64)ceil(q * (gdouble)n) - (q > 0 ? 1 : 0))] / 1000.0;
}

/* the paced frame carries its round's start time (µs) in decimal at this offset */
#define T_OFFSET 6
#define T_DIGITS 16

/* the reader: drain every socket until @expect bytes arrived, then say so on @done */
static void
reader(gint *fds, gint n, guint64 expect, gint ready, gint done)
{
	gint ep = epoll_create1(0);
	static guint8 buf[256 * 1024];
	guint64 got = 0;
	gchar c = 'r';
	guint64 n_frames = opt_paced > 0 ? expect / FRAME_SIZE : 0;
	gint64 *lat = opt_paced > 0 ? g_new(gint64, n_frames) : NULL;
	gint64 *last = opt_paced > 0 ? g_new0(gint64, opt_rounds) : NULL;
	guint8 *carry = opt_paced > 0 ? g_new0(guint8, (gsize)n * FRAME_SIZE) : NULL;
	guint16 *carry_len = opt_paced > 0 ? g_new0(guint16, n) : NULL;
	guint64 n_lat = 0;
	ReaderResult result = {0};

	for (gint i = 0; i < n; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (guint32)i};
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
	}
	if (write(ready, &c, 1) != 1)
		_exit(1);
	while (got < expect) {
		struct epoll_event evs[256];
		gint k = epoll_wait(ep, evs, 256, 10000);
		if (k <= 0)
			_exit(2);
		for (gint i = 0; i < k; i++) {
			guint32 idx = evs[i].data.u32;
			for (;;) {
				gssize r = recv(fds[idx], buf, sizeof(buf), 0);
				gint64 now;
				if (r <= 0)
					break;
				got += (guint64)r;
				if (lat != NULL) {
					/* whole frames, the partial one carried to the next read */
					guint8 *cb = carry + (gsize)idx * FRAME_SIZE;
					gsize off = 0;
					now = mono_us();
					while (off < (gsize)r) {
						gsize take = MIN(FRAME_SIZE - carry_len[idx], (gsize)r - off);
						memcpy(cb + carry_len[idx], buf + off, take);
						carry_len[idx] += (guint16)take;
						off += take;
						if (carry_len[idx] == FRAME_SIZE) {
							gint64 t = g_ascii_strtoll((const gchar *)cb + 2 + T_OFFSET, NULL, 10);
							gint64 round = g_ascii_strtoll((const gchar *)cb + 2 + T_OFFSET + T_DIGITS + 1, NULL, 10);
							if (n_lat < n_frames)
								lat[n_lat++] = now - t;
							if (round >= 0 && round < opt_rounds && now - t > last[round])
								last[round] = now - t;
							carry_len[idx] = 0;
						}
					}
				}
				if ((gsize)r < sizeof(buf))
					break;
			}
		}
	}
	result.cpu = cpu_seconds(RUSAGE_SELF);
	if (lat != NULL) {
		qsort(lat, n_lat, sizeof(gint64), cmp_i64);
		qsort(last, opt_rounds, sizeof(gint64), cmp_i64);
		result.p50_ms = pct_ms(lat, n_lat, 0.50);
		result.p90_ms = pct_ms(lat, n_lat, 0.90);
		result.p99_ms = pct_ms(lat, n_lat, 0.99);
		result.max_ms = pct_ms(lat, n_lat, 1.0);
		result.last_p50_ms = pct_ms(last, (guint64)opt_rounds, 0.50);
		result.last_p99_ms = pct_ms(last, (guint64)opt_rounds, 0.99);
	}
	if (write(done, &result, sizeof(result)) != sizeof(result))
		_exit(1);
	_exit(0);
}

/* one writer thread: sockets [begin, end) */
typedef struct {
	gint *fds;
	gint begin, end;
	gint batch;
	guint8 *out;
	gint64 t0; /* paced: round r starts at t0 + r * period */
	guint64 writes;
	gboolean failed;
	GThread *thread;
} Writer;

static gboolean
write_all(gint fd, const guint8 *data, gsize len, guint64 *writes)
{
	gsize off = 0;
	while (off < len) {
		gssize w = write(fd, data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			g_printerr("herald-bench-raw: write: %s\n", g_strerror(errno));
			return FALSE;
		}
		off += (gsize)w;
		(*writes)++;
	}
	return TRUE;
}

static gpointer
writer_thread(gpointer data)
{
	Writer *w = data;

	if (opt_paced > 0) {
		gint64 period = 1000000 / opt_paced;
		guint8 frame[FRAME_SIZE];
		memcpy(frame, w->out, FRAME_SIZE);
		for (gint r = 0; r < opt_rounds; r++) {
			gint64 start = w->t0 + (gint64)r * period;
			struct timespec ts = {.tv_sec = start / 1000000, .tv_nsec = (start % 1000000) * 1000};
			gchar digits[T_DIGITS + 1 + 8 + 1];
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
				;
			g_snprintf(digits, sizeof(digits), "%0*" G_GINT64_FORMAT ",%08d", T_DIGITS, start, r);
			memcpy(frame + 2 + T_OFFSET, digits, T_DIGITS + 1 + 8);
			for (gint i = w->begin; i < w->end; i++)
				if (!write_all(w->fds[i], frame, FRAME_SIZE, &w->writes)) {
					w->failed = TRUE;
					return NULL;
				}
		}
		return NULL;
	}
	/* blocking writes: a full socket waits for the reader, as a real server
	 * would wait for EPOLLOUT */
	for (gint r = 0; r < opt_rounds; r += w->batch) {
		gint frames = MIN(w->batch, opt_rounds - r);
		for (gint i = w->begin; i < w->end; i++)
			if (!write_all(w->fds[i], w->out, (gsize)frames * FRAME_SIZE, &w->writes)) {
				w->failed = TRUE;
				return NULL;
			}
	}
	return NULL;
}

static gboolean
run_once(gint batch, guint64 nofile)
{
	gint lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(addr);
	gint *srv = g_new0(gint, opt_sockets);
	gint *cli = g_new0(gint, opt_sockets);
	guint8 frame[FRAME_SIZE];
	guint8 *out = g_malloc((gsize)FRAME_SIZE * (gsize)batch);
	gint ready[2], done[2];
	guint64 writes = 0;
	guint64 total = (guint64)opt_sockets * (guint64)opt_rounds * FRAME_SIZE;
	ReaderResult result = {0};
	Writer *writers = g_new0(Writer, opt_threads);
	gboolean failed = FALSE;
	gdouble cpu0, cpu1;
	gint64 t0, t1;
	gint one = 1;
	pid_t pid;
	gchar c;
	gint status = 0;

	/* a text frame: FIN|TEXT, 7-bit length 118, JSON-ish payload */
	frame[0] = 0x81;
	frame[1] = FRAME_SIZE - 2;
	memset(frame + 2, 'x', FRAME_SIZE - 2);
	if (opt_paced > 0) {
		/* {"t":"TTTTTTTTTTTTTTTT,RRRRRRRR","pad":"xx…"}: time and round */
		memcpy(frame + 2, "{\"t\":\"", T_OFFSET);
		memcpy(frame + 2 + T_OFFSET + T_DIGITS + 1 + 8, "\",\"pad\":\"", 9);
	} else {
		memcpy(frame + 2, "{\"type\":\"bench\",\"pad\":\"", 23);
	}
	memcpy(frame + FRAME_SIZE - 2, "\"}", 2);
	for (gint i = 0; i < batch; i++)
		memcpy(out + (gsize)i * FRAME_SIZE, frame, FRAME_SIZE);

	bind(lfd, (struct sockaddr *)&addr, sizeof(addr));
	listen(lfd, 4096);
	getsockname(lfd, (struct sockaddr *)&addr, &alen);
	for (gint i = 0; i < opt_sockets; i++) {
		cli[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (cli[i] < 0 || connect(cli[i], (struct sockaddr *)&addr, sizeof(addr)) != 0) {
			g_printerr("herald-bench-raw: connect %d: %s (RLIMIT_NOFILE %" G_GUINT64_FORMAT ")\n",
				   i,
				   g_strerror(errno),
				   nofile);
			return FALSE;
		}
		srv[i] = accept(lfd, NULL, NULL);
		if (srv[i] < 0) {
			g_printerr("herald-bench-raw: accept: %s\n", g_strerror(errno));
			return FALSE;
		}
		setsockopt(srv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	close(lfd);
	if (pipe(ready) != 0 || pipe(done) != 0)
		return FALSE;
	pid = fork();
	if (pid == 0) {
		for (gint i = 0; i < opt_sockets; i++)
			close(srv[i]);
		reader(cli, opt_sockets, total, ready[1], done[1]);
	}
	for (gint i = 0; i < opt_sockets; i++)
		close(cli[i]);
	if (read(ready[0], &c, 1) != 1)
		return FALSE;

	cpu0 = cpu_seconds(RUSAGE_SELF);
	t0 = mono_us();
	for (gint k = 0; k < opt_threads; k++) {
		Writer *w = &writers[k];
		w->fds = srv;
		w->begin = (gint)((gint64)opt_sockets * k / opt_threads);
		w->end = (gint)((gint64)opt_sockets * (k + 1) / opt_threads);
		w->batch = batch;
		w->out = out;
		w->t0 = t0 + 20000;
		w->thread = g_thread_new("writer", writer_thread, w);
	}
	for (gint k = 0; k < opt_threads; k++) {
		g_thread_join(writers[k].thread);
		writes += writers[k].writes;
		failed |= writers[k].failed;
	}
	if (failed)
		return FALSE;
	if (read(done[0], &result, sizeof(result)) != sizeof(result)) {
		g_printerr("herald-bench-raw: the reader did not get every byte\n");
		return FALSE;
	}
	t1 = g_get_monotonic_time();
	cpu1 = cpu_seconds(RUSAGE_SELF);
	waitpid(pid, &status, 0);
	for (gint i = 0; i < opt_sockets; i++)
		close(srv[i]);
	close(ready[0]);
	close(ready[1]);
	close(done[0]);
	close(done[1]);
	{
		gdouble secs = (gdouble)(t1 - t0) / 1e6;
		guint64 frames = (guint64)opt_sockets * (guint64)opt_rounds;
		/* raw1, raw8, raw1-t2, raw-paced20, raw-paced20-t2 */
		g_autofree gchar *suffix = opt_threads > 1 ? g_strdup_printf("-t%d", opt_threads) : g_strdup("");
		g_autofree gchar *name = opt_paced > 0
		    ? g_strdup_printf("%s-paced%d%s", opt_label != NULL ? opt_label : "raw", opt_paced, suffix)
		    : g_strdup_printf("%s%d%s", opt_label != NULL ? opt_label : "raw", batch, suffix);
		if (opt_paced > 0)
			g_print("{\"scenario\":\"%s\",\"sockets\":%d,\"threads\":%d,\"rate\":%d,"
				"\"rounds\":%d,\"frames\":%" G_GUINT64_FORMAT ",\"lat_p50_ms\":%.3f,"
				"\"lat_p90_ms\":%.3f,\"lat_p99_ms\":%.3f,\"lat_max_ms\":%.3f,"
				"\"last_p50_ms\":%.3f,\"last_p99_ms\":%.3f,\"writer_cpu_s\":%.3f,"
				"\"reader_cpu_s\":%.3f}\n",
				name, opt_sockets, opt_threads, opt_paced, opt_rounds,
				(guint64)opt_sockets * (guint64)opt_rounds, result.p50_ms, result.p90_ms,
				result.p99_ms, result.max_ms, result.last_p50_ms, result.last_p99_ms,
				cpu1 - cpu0, result.cpu);
		else
		g_print("{\"scenario\":\"%s\",\"sockets\":%d,\"threads\":%d,\"frame_bytes\":%d,"
			"\"frames_per_write\":%d,\"frames\":%" G_GUINT64_FORMAT
			",\"writes\":%" G_GUINT64_FORMAT ",\"duration_s\":%.3f,"
			"\"frames_per_s\":%.0f,\"writes_per_s\":%.0f,\"frames_per_cpu_s\":%.0f,"
			"\"writer_cpu_s\":%.3f,\"reader_cpu_s\":%.3f,\"nofile\":%" G_GUINT64_FORMAT
			"}\n",
			name,
			opt_sockets,
			opt_threads,
			FRAME_SIZE,
			batch,
			frames,
			writes,
			secs,
			(gdouble)frames / secs,
			(gdouble)writes / secs,
			cpu1 - cpu0 > 0 ? (gdouble)frames / (cpu1 - cpu0) : 0,
			cpu1 - cpu0,
			result.cpu,
			nofile);
	}
	g_free(writers);
	g_free(srv);
	g_free(cli);
	g_free(out);
	return TRUE;
}

int
main(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new("- raw loopback fan-out limit");
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) batches = NULL;
	guint64 nofile;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		g_printerr("herald-bench-raw: %s\n", error->message);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	nofile = raise_nofile();
	if (opt_threads < 1 || opt_threads > 64 || opt_threads > opt_sockets || opt_paced < 0 ||
	    opt_paced > 1000) {
		g_printerr("herald-bench-raw: --threads 1..64 (at most --sockets), --paced 0..1000\n");
		return 2;
	}
	if (opt_sockets < 1 || opt_rounds < 1 || (guint64)opt_sockets * 2 + 16 > nofile) {
		g_printerr("herald-bench-raw: --sockets %d needs %d files (limit %" G_GUINT64_FORMAT ")\n",
			   opt_sockets,
			   opt_sockets * 2 + 16,
			   nofile);
		return 2;
	}
	/* paced: one frame per write, one run */
	batches = g_strsplit(opt_paced > 0 ? "1" : opt_batches != NULL ? opt_batches : "1,8", ",", -1);
	for (guint i = 0; batches[i] != NULL; i++) {
		gint batch = (gint)g_ascii_strtoll(batches[i], NULL, 10);
		if (batch < 1 || batch > 1024) {
			g_printerr("herald-bench-raw: bad --frames-per-write %s\n", batches[i]);
			return 2;
		}
		if (!run_once(batch, nofile))
			return 1;
	}
	return 0;
}
