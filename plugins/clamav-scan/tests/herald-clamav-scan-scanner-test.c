/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * HeraldClamavScanScanner in-process against a fake clamd (a GThreadedSocketService
 * in this test) that checks the INSTREAM framing and answers what each case
 * needs, including the replies a real clamd cannot be made to send.
 */
#include "config.h"

#include <glib/gstdio.h>

#include "herald-clamav-scan-scanner.h"

/* iterate the default context until @cond holds (30 s at most) */
static gboolean
herald_test_wait(gboolean (*cond)(gpointer), gpointer user_data)
{
	gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
	while (!cond(user_data)) {
		if (g_get_monotonic_time() > deadline)
			return FALSE;
		g_main_context_iteration(NULL, TRUE);
	}
	return TRUE;
}

/* a loopback port with no listener (bound, read, released) */
static guint16
herald_test_free_port_for_unit(void)
{
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(lo, 0);
	g_autoptr(GSocketAddress) bound = NULL;
	socket =
	    g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
	g_assert_true(g_socket_bind(socket, addr, FALSE, NULL));
	bound = g_socket_get_local_address(socket, NULL);
	return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

typedef enum {
	FAKE_OK, /* parse the stream, answer stream: OK */
	FAKE_FOUND, /* stream: Fake.Sig FOUND */
	FAKE_OK_NO_NUL, /* stream: OK without the NUL, then close */
	FAKE_CLOSE, /* close right after the command */
	FAKE_GARBAGE, /* HELLO */
	FAKE_LONG, /* 2000 bytes without a NUL */
	FAKE_SILENT, /* read everything, never answer */
} FakeMode;

static struct {
	GThreadedSocketService *service;
	guint16 port;
	gint mode; /* FakeMode, atomic */
	GMutex lock;
	/* the last INSTREAM seen */
	guint64 bytes;
	guint chunks;
	guint max_chunk;
	gchar *checksum;
	gboolean framing_ok;
	guint instreams;
} fake;

static gboolean
fake_read_exact(GInputStream *in, void *buf, gsize len)
{
	gsize n = 0;
	return g_input_stream_read_all(in, buf, len, &n, NULL, NULL) && n == len;
}

static gboolean
fake_run_cb(GThreadedSocketService *service,
	    GSocketConnection *connection,
	    GObject *source_object,
	    gpointer user_data)
{
	GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(connection));
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(connection));
	FakeMode mode = (FakeMode)g_atomic_int_get(&fake.mode);
	g_autoptr(GChecksum) checksum = g_checksum_new(G_CHECKSUM_SHA256);
	g_autofree guint8 *buf = g_malloc(1 << 20);
	gchar cmd[32] = {0};
	gsize len = 0;
	guint64 bytes = 0;
	guint chunks = 0;
	guint max_chunk = 0;
	gboolean framing_ok = TRUE;
	const gchar *reply = NULL;

	/* the command, up to its NUL */
	while (len < sizeof(cmd) - 1) {
		if (!fake_read_exact(in, cmd + len, 1))
			return TRUE;
		if (cmd[len] == '\0')
			break;
		len++;
	}
	if (g_strcmp0(cmd, "zPING") == 0) {
		g_output_stream_write_all(out, "PONG", 5, NULL, NULL, NULL);
		return TRUE;
	}
	if (g_strcmp0(cmd, "zVERSION") == 0) {
		g_output_stream_write_all(out, "ClamAV 9.9.9/fake", 18, NULL, NULL, NULL);
		return TRUE;
	}
	if (g_strcmp0(cmd, "zINSTREAM") != 0)
		return TRUE;
	if (mode == FAKE_CLOSE)
		return TRUE;
	for (;;) {
		guint8 hdr[4];
		guint32 size;
		if (!fake_read_exact(in, hdr, 4)) {
			framing_ok = FALSE;
			break;
		}
		size = ((guint32)hdr[0] << 24) | ((guint32)hdr[1] << 16) | ((guint32)hdr[2] << 8) |
		       (guint32)hdr[3];
		if (size == 0)
			break;
		if (size > (1 << 20) || !fake_read_exact(in, buf, size)) {
			framing_ok = FALSE;
			break;
		}
		g_checksum_update(checksum, buf, size);
		bytes += size;
		chunks++;
		max_chunk = MAX(max_chunk, size);
	}
	g_mutex_lock(&fake.lock);
	fake.bytes = bytes;
	fake.chunks = chunks;
	fake.max_chunk = max_chunk;
	fake.framing_ok = framing_ok;
	g_free(fake.checksum);
	fake.checksum = g_strdup(g_checksum_get_string(checksum));
	fake.instreams++;
	g_mutex_unlock(&fake.lock);

	switch (mode) {
	case FAKE_OK:
		reply = "stream: OK";
		g_output_stream_write_all(out, reply, strlen(reply) + 1, NULL, NULL, NULL);
		break;
	case FAKE_FOUND:
		reply = "stream: Fake.Sig FOUND";
		g_output_stream_write_all(out, reply, strlen(reply) + 1, NULL, NULL, NULL);
		break;
	case FAKE_OK_NO_NUL:
		g_output_stream_write_all(out, "stream: OK", 10, NULL, NULL, NULL);
		break;
	case FAKE_GARBAGE:
		g_output_stream_write_all(out, "HELLO", 6, NULL, NULL, NULL);
		break;
	case FAKE_LONG: {
		g_autofree gchar *junk = g_strnfill(2000, 'A');
		g_output_stream_write_all(out, junk, 2000, NULL, NULL, NULL);
		break;
	}
	case FAKE_SILENT:
		/* until the scanner gives up and closes */
		while (g_input_stream_read(in, buf, 1 << 20, NULL, NULL) > 0)
			;
		break;
	default:
		break;
	}
	return TRUE;
}

static void
fake_start(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(lo, 0);
	g_autoptr(GSocketAddress) bound = NULL;

	fake.service = G_THREADED_SOCKET_SERVICE(g_threaded_socket_service_new(16));
	g_assert_true(g_socket_listener_add_address(G_SOCKET_LISTENER(fake.service),
						    addr,
						    G_SOCKET_TYPE_STREAM,
						    G_SOCKET_PROTOCOL_TCP,
						    NULL,
						    &bound,
						    &error));
	g_assert_no_error(error);
	fake.port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
	g_signal_connect(fake.service, "run", G_CALLBACK(fake_run_cb), NULL);
	g_socket_service_start(G_SOCKET_SERVICE(fake.service));
}

typedef HeraldClamavScanScanner *ScannerRef;

typedef struct {
	GVariant *result;
	GError *error;
	gboolean done;
} ScanResult;

static void
scan_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	ScanResult *r = user_data;
	r->result = g_task_propagate_pointer(G_TASK(res), &r->error);
	r->done = TRUE;
}

static HeraldClamavScanScanner *
scanner_new(guint16 port, guint pool_size, guint queue_size, guint timeout_s)
{
	HeraldClamavScanScanner *scanner = herald_clamav_scan_scanner_new();
	g_autoptr(GSocketConnectable) connectable = g_network_address_new("127.0.0.1", port);
	HeraldClamavScanScannerLimits limits = {
	    .timeout_s = timeout_s,
	    .max_stream_bytes = 100 * 1024 * 1024,
	    .pool_size = pool_size,
	    .queue_size = queue_size,
	    .health_interval_s = 3600,
	};
	herald_clamav_scan_scanner_configure(scanner, connectable, &limits);
	return scanner;
}

static void
shutdown_flag_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_assert_true(herald_clamav_scan_scanner_shutdown_finish(
	    HERALD_CLAMAV_SCAN_SCANNER(source), res, NULL));
	*(gboolean *)user_data = TRUE;
}

static gboolean
flag_is_set(gpointer user_data)
{
	return *(gboolean *)user_data;
}

/* shut down (no health check left running), then drop */
static void
scanner_release(HeraldClamavScanScanner *scanner)
{
	gboolean shut = FALSE;
	herald_clamav_scan_scanner_shutdown_async(scanner, NULL, shutdown_flag_cb, &shut);
	g_assert_true(herald_test_wait(flag_is_set, &shut));
	g_object_unref(scanner);
}
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(ScannerRef, scanner_release, NULL)

static GTask *
scan_start(HeraldClamavScanScanner *scanner,
	   const gchar *path,
	   GCancellable *cancellable,
	   ScanResult *r)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancellable, scan_done_cb, r);
	g_task_set_task_data(task, g_strdup(path), g_free);
	herald_clamav_scan_scanner_scan(scanner, task);
	return g_steal_pointer(&task);
}

static gboolean
scan_is_done(gpointer user_data)
{
	return ((ScanResult *)user_data)->done;
}

static void
scan_wait(ScanResult *r)
{
	g_assert_true(herald_test_wait(scan_is_done, r));
}

static const gchar *
lookup(GVariant *v, const gchar *key)
{
	const gchar *s = NULL;
	if (!g_variant_lookup(v, key, "&s", &s))
		return NULL;
	return s;
}

static void
scan_result_clear(ScanResult *r)
{
	g_clear_pointer(&r->result, g_variant_unref);
	g_clear_error(&r->error);
	r->done = FALSE;
}

static gchar *
write_random(const gchar *dir, const gchar *name, gsize size, gchar **checksum)
{
	g_autofree gchar *fn = g_build_filename(dir, name, NULL);
	g_autofree guint8 *data = g_malloc(size + 1);
	g_autoptr(GRand) rand = g_rand_new_with_seed((guint32)size);
	g_autoptr(GError) error = NULL;
	for (gsize i = 0; i < size; i++)
		data[i] = (guint8)g_rand_int(rand);
	g_assert_true(g_file_set_contents(fn, (const gchar *)data, (gssize)size, &error));
	g_assert_no_error(error);
	*checksum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, size);
	return g_steal_pointer(&fn);
}

/* the bytes arrive unchanged, in length-prefixed chunks of at most 64 KiB */
static void
test_framing(void)
{
	g_auto(ScannerRef) scanner = scanner_new(fake.port, 4, 4, 30);
	g_autofree gchar *dir = g_dir_make_tmp("herald-clamav-XXXXXX", NULL);
	gsize sizes[] = {0, 1, 65535, 65536, 65537, 200000, 1000003};

	g_atomic_int_set(&fake.mode, FAKE_OK);
	for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
		g_autofree gchar *sum = NULL;
		g_autofree gchar *name = g_strdup_printf("f%u", i);
		g_autofree gchar *fn = write_random(dir, name, sizes[i], &sum);
		ScanResult r = {0};
		g_autoptr(GTask) task = scan_start(scanner, fn, NULL, &r);
		scan_wait(&r);
		g_assert_no_error(r.error);
		g_assert_cmpstr(lookup(r.result, "verdict"), ==, "clean");
		g_mutex_lock(&fake.lock);
		g_assert_true(fake.framing_ok);
		g_assert_cmpuint(fake.bytes, ==, sizes[i]);
		g_assert_cmpuint(fake.max_chunk, <=, HERALD_CLAMAV_SCAN_CHUNK_SIZE);
		g_assert_cmpuint(fake.chunks,
				 ==,
				 (sizes[i] + HERALD_CLAMAV_SCAN_CHUNK_SIZE - 1) /
				     HERALD_CLAMAV_SCAN_CHUNK_SIZE);
		g_assert_cmpstr(fake.checksum, ==, sum);
		g_mutex_unlock(&fake.lock);
		scan_result_clear(&r);
		g_unlink(fn);
	}
	g_rmdir(dir);
}

static void
test_replies(void)
{
	struct {
		FakeMode mode;
		const gchar *verdict;
		const gchar *key;
		const gchar *value;
	} cases[] = {
	    {FAKE_FOUND, "infected", "signature", "Fake.Sig"},
	    {FAKE_OK_NO_NUL, "clean", NULL, NULL},
	    /* depending on timing the send fails first or the read sees EOF */
	    {FAKE_CLOSE,
	     "error",
	     "reason",
	     "clamd closed the connection without a verdict|connection to clamd lost: "},
	    {FAKE_GARBAGE, "error", "reason", "unexpected reply from clamd: 'HELLO'"},
	    {FAKE_LONG, "error", "reason", "reply from clamd too long"},
	};
	g_auto(ScannerRef) scanner = scanner_new(fake.port, 4, 4, 30);
	g_autofree gchar *dir = g_dir_make_tmp("herald-clamav-XXXXXX", NULL);
	g_autofree gchar *sum = NULL;
	g_autofree gchar *fn = write_random(dir, "f", 1000, &sum);

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		ScanResult r = {0};
		g_autoptr(GTask) task = NULL;
		g_atomic_int_set(&fake.mode, cases[i].mode);
		task = scan_start(scanner, fn, NULL, &r);
		scan_wait(&r);
		g_assert_no_error(r.error);
		g_assert_cmpstr(lookup(r.result, "verdict"), ==, cases[i].verdict);
		if (cases[i].key != NULL) {
			g_auto(GStrv) alternatives = g_strsplit(cases[i].value, "|", -1);
			const gchar *got = lookup(r.result, cases[i].key);
			gboolean match = FALSE;
			g_assert_nonnull(got);
			for (guint j = 0; alternatives[j] != NULL; j++)
				match = match || g_str_has_prefix(got, alternatives[j]);
			if (!match)
				g_error("%s '%s' is not '%s'", cases[i].key, got, cases[i].value);
		}
		scan_result_clear(&r);
	}
	g_unlink(fn);
	g_rmdir(dir);
}

static void
health_cb(HeraldClamavScanScanner *scanner,
	  gboolean reachable,
	  const gchar *reason,
	  gpointer user_data)
{
	gint *state = user_data;
	*state = reachable ? 1 : 2;
}

static gboolean
state_is_set(gpointer user_data)
{
	return *(gint *)user_data != 0;
}

static gboolean
version_known(gpointer user_data)
{
	g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT(NULL);
	const gchar *version = NULL;
	g_autoptr(GVariant) v = NULL;
	herald_clamav_scan_scanner_add_stats(HERALD_CLAMAV_SCAN_SCANNER(user_data), &dict);
	v = g_variant_ref_sink(g_variant_dict_end(&dict));
	g_assert_true(g_variant_lookup(v, "clamd_version", "&s", &version));
	return g_strcmp0(version, "ClamAV 9.9.9/fake") == 0;
}

/* PING then VERSION; a refused port reports unreachable */
static void
test_health(void)
{
	g_auto(ScannerRef) scanner = herald_clamav_scan_scanner_new();
	g_auto(ScannerRef) down = herald_clamav_scan_scanner_new();
	g_autoptr(GSocketConnectable) connectable = g_network_address_new("127.0.0.1", fake.port);
	g_autoptr(GSocketConnectable) nowhere =
	    g_network_address_new("127.0.0.1", herald_test_free_port_for_unit());
	HeraldClamavScanScannerLimits limits = {30, 1000, 1, 1, 3600};
	gint state = 0;
	gint down_state = 0;

	g_signal_connect(scanner, "health", G_CALLBACK(health_cb), &state);
	g_signal_connect(down, "health", G_CALLBACK(health_cb), &down_state);
	herald_clamav_scan_scanner_configure(scanner, connectable, &limits);
	herald_clamav_scan_scanner_configure(down, nowhere, &limits);
	g_assert_true(herald_test_wait(state_is_set, &state));
	g_assert_cmpint(state, ==, 1);
	g_assert_true(herald_test_wait(version_known, scanner));
	g_assert_true(herald_test_wait(state_is_set, &down_state));
	g_assert_cmpint(down_state, ==, 2);
}

static gboolean
cancel_cb(gpointer user_data)
{
	g_cancellable_cancel(G_CANCELLABLE(user_data));
	return G_SOURCE_REMOVE;
}

/* the requester's cancellable aborts the scan and frees its slot */
static void
test_caller_cancel(void)
{
	g_auto(ScannerRef) scanner = scanner_new(fake.port, 1, 4, 60);
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	g_autofree gchar *dir = g_dir_make_tmp("herald-clamav-XXXXXX", NULL);
	g_autofree gchar *sum = NULL;
	g_autofree gchar *fn = write_random(dir, "f", 1000, &sum);
	ScanResult r = {0};
	ScanResult r2 = {0};
	g_autoptr(GTask) task = NULL;
	g_autoptr(GTask) task2 = NULL;

	g_atomic_int_set(&fake.mode, FAKE_SILENT);
	task = scan_start(scanner, fn, cancellable, &r);
	g_timeout_add(200, cancel_cb, cancellable);
	scan_wait(&r);
	g_assert_error(r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_cmpuint(herald_clamav_scan_scanner_get_in_flight(scanner), ==, 0);

	/* the slot is free again */
	g_atomic_int_set(&fake.mode, FAKE_OK);
	task2 = scan_start(scanner, fn, NULL, &r2);
	scan_wait(&r2);
	g_assert_cmpstr(lookup(r2.result, "verdict"), ==, "clean");
	scan_result_clear(&r);
	scan_result_clear(&r2);
	g_unlink(fn);
	g_rmdir(dir);
}

/* queued and running scans are answered, later ones too, and nothing is left */
static void
test_shutdown(void)
{
	g_auto(ScannerRef) scanner = scanner_new(fake.port, 1, 2, 60);
	g_autofree gchar *dir = g_dir_make_tmp("herald-clamav-XXXXXX", NULL);
	g_autofree gchar *sum = NULL;
	g_autofree gchar *fn = write_random(dir, "f", 1000, &sum);
	ScanResult r[4] = {0};
	GTask *tasks[4];
	gboolean shut = FALSE;

	g_atomic_int_set(&fake.mode, FAKE_SILENT);
	for (guint i = 0; i < 3; i++)
		tasks[i] = scan_start(scanner, fn, NULL, &r[i]);
	/* the fourth finds pool and queue full: busy, and only later */
	tasks[3] = scan_start(scanner, fn, NULL, &r[3]);
	g_assert_false(r[3].done);
	scan_wait(&r[3]);
	g_assert_cmpstr(lookup(r[3].result, "reason"), ==, "busy");
	g_assert_cmpuint(herald_clamav_scan_scanner_get_in_flight(scanner), ==, 1);

	herald_clamav_scan_scanner_shutdown_async(scanner, NULL, shutdown_flag_cb, &shut);
	g_assert_true(herald_test_wait(flag_is_set, &shut));
	for (guint i = 0; i < 3; i++) {
		scan_wait(&r[i]);
		g_assert_cmpstr(lookup(r[i].result, "verdict"), ==, "error");
		g_assert_cmpstr(lookup(r[i].result, "reason"), ==, "shutting down");
	}
	g_assert_cmpuint(herald_clamav_scan_scanner_get_in_flight(scanner), ==, 0);
	for (guint i = 0; i < 4; i++) {
		scan_result_clear(&r[i]);
		g_object_unref(tasks[i]);
	}
	/* after shutdown */
	tasks[0] = scan_start(scanner, fn, NULL, &r[0]);
	scan_wait(&r[0]);
	g_assert_cmpstr(lookup(r[0].result, "reason"), ==, "shutting down");
	scan_result_clear(&r[0]);
	g_object_unref(tasks[0]);
	g_unlink(fn);
	g_rmdir(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_mutex_init(&fake.lock);
	fake_start();
	g_test_add_func("/herald/clamav-scan/scanner/framing", test_framing);
	g_test_add_func("/herald/clamav-scan/scanner/replies", test_replies);
	g_test_add_func("/herald/clamav-scan/scanner/health", test_health);
	g_test_add_func("/herald/clamav-scan/scanner/caller-cancel", test_caller_cancel);
	g_test_add_func("/herald/clamav-scan/scanner/shutdown", test_shutdown);
	return g_test_run();
}
