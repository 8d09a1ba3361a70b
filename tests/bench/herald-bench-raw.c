/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * herald-bench-raw: the machine's own limit for fan-out over loopback TCP.
 *
 * Opens N connected loopback socket pairs, forks a reader that drains the
 * client ends with epoll, and writes the same pre-framed 120-byte WebSocket
 * text frame to every server end, round after round, with one frame per
 * write() or several frames per write(). Prints one JSON line per run:
 * frames/s and writes/s from the first write until the reader has every byte.
 */
#include <errno.h>
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

static GOptionEntry entries[] = {
    {"sockets", 'n', 0, G_OPTION_ARG_INT, &opt_sockets, "connected sockets (1000)", "N"},
    {"rounds", 'r', 0, G_OPTION_ARG_INT, &opt_rounds, "frames per socket (1000)", "R"},
    {"frames-per-write", 'f', 0, G_OPTION_ARG_STRING, &opt_batches, "list, e.g. 1,8 (1,8)", "LIST"},
    {"label", 'l', 0, G_OPTION_ARG_STRING, &opt_label, "prefix of the scenario name (raw)", "S"},
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

/* the reader: drain every socket until @expect bytes arrived, then say so on @done */
static void
reader(gint *fds, gint n, guint64 expect, gint ready, gint done)
{
	gint ep = epoll_create1(0);
	static guint8 buf[256 * 1024];
	guint64 got = 0;
	gchar c = 'r';

	for (gint i = 0; i < n; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
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
			for (;;) {
				gssize r = recv(evs[i].data.fd, buf, sizeof(buf), 0);
				if (r <= 0)
					break;
				got += (guint64)r;
				if ((gsize)r < sizeof(buf))
					break;
			}
		}
	}
	{
		gdouble cpu = cpu_seconds(RUSAGE_SELF);
		if (write(done, &cpu, sizeof(cpu)) != sizeof(cpu))
			_exit(1);
	}
	_exit(0);
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
	gdouble reader_cpu = 0, cpu0, cpu1;
	gint64 t0, t1;
	gint one = 1;
	pid_t pid;
	gchar c;
	gint status = 0;

	/* a text frame: FIN|TEXT, 7-bit length 118, JSON-ish payload */
	frame[0] = 0x81;
	frame[1] = FRAME_SIZE - 2;
	memset(frame + 2, 'x', FRAME_SIZE - 2);
	memcpy(frame + 2, "{\"type\":\"bench\",\"pad\":\"", 23);
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

	/* blocking writes: a full socket waits for the reader, as a real server
	 * would wait for EPOLLOUT */
	cpu0 = cpu_seconds(RUSAGE_SELF);
	t0 = g_get_monotonic_time();
	for (gint r = 0; r < opt_rounds; r += batch) {
		gint frames = MIN(batch, opt_rounds - r);
		gsize len = (gsize)frames * FRAME_SIZE;
		for (gint i = 0; i < opt_sockets; i++) {
			gsize off = 0;
			while (off < len) {
				gssize w = write(srv[i], out + off, len - off);
				if (w < 0) {
					if (errno == EINTR)
						continue;
					g_printerr("herald-bench-raw: write: %s\n", g_strerror(errno));
					return FALSE;
				}
				off += (gsize)w;
				writes++;
			}
		}
	}
	if (read(done[0], &reader_cpu, sizeof(reader_cpu)) != sizeof(reader_cpu)) {
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
		g_print("{\"scenario\":\"%s%d\",\"sockets\":%d,\"frame_bytes\":%d,"
			"\"frames_per_write\":%d,\"frames\":%" G_GUINT64_FORMAT
			",\"writes\":%" G_GUINT64_FORMAT ",\"duration_s\":%.3f,"
			"\"frames_per_s\":%.0f,\"writes_per_s\":%.0f,\"frames_per_cpu_s\":%.0f,"
			"\"writer_cpu_s\":%.3f,\"reader_cpu_s\":%.3f,\"nofile\":%" G_GUINT64_FORMAT
			"}\n",
			opt_label != NULL ? opt_label : "raw",
			batch,
			opt_sockets,
			FRAME_SIZE,
			batch,
			frames,
			writes,
			secs,
			(gdouble)frames / secs,
			(gdouble)writes / secs,
			cpu1 - cpu0 > 0 ? (gdouble)frames / (cpu1 - cpu0) : 0,
			cpu1 - cpu0,
			reader_cpu,
			nofile);
	}
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
	if (opt_sockets < 1 || opt_rounds < 1 || (guint64)opt_sockets * 2 + 16 > nofile) {
		g_printerr("herald-bench-raw: --sockets %d needs %d files (limit %" G_GUINT64_FORMAT ")\n",
			   opt_sockets,
			   opt_sockets * 2 + 16,
			   nofile);
		return 2;
	}
	batches = g_strsplit(opt_batches != NULL ? opt_batches : "1,8", ",", -1);
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
