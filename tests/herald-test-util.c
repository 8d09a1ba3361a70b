/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <jwt.h>
#include <signal.h>
#include <sys/prctl.h>

#include "herald-test-util.h"

static GMainLoop *_test_loop = NULL;
static guint _test_loop_timeout_id = 0;

static gboolean
herald_test_loop_timeout_cb(gpointer user_data)
{
	_test_loop_timeout_id = 0;
	g_main_loop_quit(_test_loop);
	g_assert_not_reached();
	return G_SOURCE_REMOVE;
}

void
herald_test_loop_run_with_timeout(guint timeout_ms)
{
	g_assert_null(_test_loop);
	_test_loop = g_main_loop_new(NULL, FALSE);
	_test_loop_timeout_id = g_timeout_add(timeout_ms, herald_test_loop_timeout_cb, NULL);
	g_main_loop_run(_test_loop);
	g_clear_handle_id(&_test_loop_timeout_id, g_source_remove);
	g_clear_pointer(&_test_loop, g_main_loop_unref);
}

void
herald_test_loop_quit(void)
{
	if (_test_loop != NULL)
		g_main_loop_quit(_test_loop);
}

/* iterate the default context until @cond holds; FALSE on timeout */
gboolean
herald_test_wait_until(gboolean (*cond)(gpointer), gpointer user_data, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	while (!cond(user_data)) {
		if (g_get_monotonic_time() > deadline)
			return FALSE;
		if (!g_main_context_iteration(NULL, FALSE))
			g_usleep(5000);
	}
	return TRUE;
}

guint16
herald_test_free_port(void)
{
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GInetAddress) inet = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(inet, 0);
	g_autoptr(GSocketAddress) bound = NULL;
	g_autoptr(GError) error = NULL;

	socket = g_socket_new(G_SOCKET_FAMILY_IPV4,
			      G_SOCKET_TYPE_STREAM,
			      G_SOCKET_PROTOCOL_TCP,
			      &error);
	g_assert_no_error(error);
	g_assert_true(g_socket_bind(socket, addr, FALSE, &error));
	g_assert_no_error(error);
	bound = g_socket_get_local_address(socket, &error);
	g_assert_no_error(error);
	return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

gchar *
herald_test_mkdtemp(void)
{
	g_autoptr(GError) error = NULL;
	gchar *dir = g_dir_make_tmp("herald-test-XXXXXX", &error);
	g_assert_no_error(error);
	return dir;
}

void
herald_test_rm_rf(const gchar *path)
{
	g_autoptr(GFile) file = NULL;
	g_autoptr(GFileEnumerator) enumerator = NULL;
	if (path == NULL)
		return;
	file = g_file_new_for_path(path);
	enumerator = g_file_enumerate_children(file,
					       G_FILE_ATTRIBUTE_STANDARD_NAME,
					       G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS,
					       NULL,
					       NULL);
	if (enumerator != NULL) {
		GFileInfo *info;
		while ((info = g_file_enumerator_next_file(enumerator, NULL, NULL)) != NULL) {
			g_autoptr(GFileInfo) info_owned = info;
			g_autofree gchar *child =
			    g_build_filename(path, g_file_info_get_name(info_owned), NULL);
			if (g_file_test(child, G_FILE_TEST_IS_DIR) &&
			    !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
				herald_test_rm_rf(child);
			else
				g_unlink(child);
		}
	}
	g_rmdir(path);
}

gchar *
herald_test_write_file(const gchar *dir, const gchar *name, const gchar *contents)
{
	g_autoptr(GError) error = NULL;
	gchar *fn = g_build_filename(dir, name, NULL);
	g_autofree gchar *parent = g_path_get_dirname(fn);
	g_mkdir_with_parents(parent, 0700);
	g_assert_true(g_file_set_contents(fn, contents, -1, &error));
	g_assert_no_error(error);
	return fn;
}

/* a missing server or client fails the test loudly, never skips it */
const gchar *
herald_test_require_program(const gchar *name)
{
	static GHashTable *cache = NULL;
	gchar *path;
	if (cache == NULL)
		cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	path = g_hash_table_lookup(cache, name);
	if (path != NULL)
		return path;
	path = g_find_program_in_path(name);
	if (path == NULL)
		g_error("required program '%s' is not installed (see README: test set-up)", name);
	g_hash_table_insert(cache, g_strdup(name), path);
	return path;
}

gchar *
herald_test_make_token(const gchar *secret, const gchar *claims_json, gint64 exp_offset_s)
{
	jwt_t *jwt = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	JsonObject *obj;
	gchar *out;
	gchar *tmp;

	g_assert_true(json_parser_load_from_data(parser, claims_json, -1, &error));
	g_assert_no_error(error);
	obj = json_node_get_object(json_parser_get_root(parser));
	if (!json_object_has_member(obj, "exp") && exp_offset_s != G_MININT64)
		json_object_set_int_member(obj, "exp", g_get_real_time() / G_USEC_PER_SEC + exp_offset_s);
	tmp = json_to_string(json_parser_get_root(parser), FALSE);
	g_assert_cmpint(jwt_new(&jwt), ==, 0);
	g_assert_cmpint(jwt_add_grants_json(jwt, tmp), ==, 0);
	g_assert_cmpint(jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, strlen(secret)),
			==,
			0);
	out = jwt_encode_str(jwt);
	g_assert_nonnull(out);
	jwt_free(jwt);
	g_free(tmp);
	tmp = g_strdup(out);
	free(out);
	return tmp;
}

static const gchar *
herald_test_heraldd_path(void)
{
	const gchar *env = g_getenv("HERALD_TEST_HERALDD");
	if (env != NULL)
		return env;
	g_error("HERALD_TEST_HERALDD is not set; run the tests with meson test");
	return NULL;
}

gchar **
herald_test_environ(const gchar *const *extra)
{
	gchar **envp = g_get_environ();
	for (guint i = 0; extra != NULL && extra[i] != NULL; i++) {
		g_auto(GStrv) kv = g_strsplit(extra[i], "=", 2);
		envp = g_environ_setenv(envp, kv[0], kv[1] != NULL ? kv[1] : "", TRUE);
	}
	return envp;
}

/* run heraldd to completion (e.g. --check-config); returns its exit status */
gint
herald_test_run_heraldd(gchar **argv_extra,
			gchar **out,
			gchar **err,
			const gchar *const *envp_extra)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_auto(GStrv) envp = herald_test_environ(envp_extra);
	g_autoptr(GError) error = NULL;
	gint status = 0;

	g_ptr_array_add(argv, (gpointer)herald_test_heraldd_path());
	for (guint i = 0; argv_extra != NULL && argv_extra[i] != NULL; i++)
		g_ptr_array_add(argv, argv_extra[i]);
	g_ptr_array_add(argv, NULL);
	g_spawn_sync(NULL,
		     (gchar **)argv->pdata,
		     envp,
		     G_SPAWN_DEFAULT,
		     NULL,
		     NULL,
		     out,
		     err,
		     &status,
		     &error);
	g_assert_no_error(error);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

HeraldTestDaemon *
herald_test_daemon_new(const gchar *config_extra)
{
	HeraldTestDaemon *self = g_new0(HeraldTestDaemon, 1);
	g_autofree gchar *secret_file = NULL;
	g_autofree gchar *state_dir = NULL;
	g_autofree gchar *config = NULL;

	self->dir = herald_test_mkdtemp();
	self->port = herald_test_free_port();
	self->base_url = g_strdup_printf("http://127.0.0.1:%u", self->port);
	secret_file = herald_test_write_file(self->dir, "jwt.secret", HERALD_TEST_SECRET "\n");
	state_dir = g_build_filename(self->dir, "state", NULL);
	g_mkdir_with_parents(state_dir, 0700);
	self->log_file = g_build_filename(self->dir, "heraldd.log", NULL);
	config = g_strdup_printf("[host]\n"
				 "listen=127.0.0.1:%u\n"
				 "dbus=none\n"
				 "state-dir=%s\n"
				 "instance-id=test-%u\n"
				 "shutdown-timeout-s=5\n"
				 "[auth]\n"
				 "algorithms=HS256\n"
				 "secret-file=%s\n"
				 "service-roles=SERVICE\n"
				 "%s\n",
				 self->port,
				 state_dir,
				 self->port,
				 secret_file,
				 config_extra != NULL ? config_extra : "");
	self->config_file = herald_test_write_file(self->dir, "herald.conf", config);
	return self;
}

static gboolean
herald_test_daemon_health_ok(HeraldTestDaemon *self)
{
	g_autofree gchar *url = g_strdup_printf("%s/health", self->base_url);
	g_autoptr(SoupSession) session = soup_session_new_with_options("timeout", 2, NULL);
	g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
	g_autoptr(GBytes) bytes = soup_session_send_and_read(session, msg, NULL, NULL);
	return bytes != NULL && soup_message_get_status(msg) != 0;
}

static void
herald_test_daemon_wait_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldTestDaemon *self = user_data;
	g_subprocess_wait_finish(G_SUBPROCESS(source), res, NULL);
	self->exited = TRUE;
	if (g_subprocess_get_if_exited(G_SUBPROCESS(source)))
		self->exit_status = g_subprocess_get_exit_status(G_SUBPROCESS(source));
	else
		self->exit_status = 128 + g_subprocess_get_term_sig(G_SUBPROCESS(source));
}

/* in the child: a test that aborts must not leave its servers behind */
static void
herald_test_child_setup_pdeathsig(gpointer user_data)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

gboolean
herald_test_daemon_start(HeraldTestDaemon *self, GError **error)
{
	g_autoptr(GSubprocessLauncher) launcher =
	    g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
	gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

	g_subprocess_launcher_set_stdout_file_path(launcher, self->log_file);
	g_subprocess_launcher_set_flags(launcher, G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_subprocess_launcher_set_child_setup(launcher, herald_test_child_setup_pdeathsig, NULL, NULL);
	self->exited = FALSE;
	self->process = g_subprocess_launcher_spawn(launcher,
						    error,
						    herald_test_heraldd_path(),
						    "--verbose",
						    "--config",
						    self->config_file,
						    NULL);
	if (self->process == NULL)
		return FALSE;
	g_subprocess_wait_async(self->process, NULL, herald_test_daemon_wait_cb, self);
	while (g_get_monotonic_time() < deadline) {
		while (g_main_context_iteration(NULL, FALSE))
			;
		if (self->exited) {
			g_autofree gchar *log = herald_test_daemon_get_log(self);
			g_set_error(error,
				    G_IO_ERROR,
				    G_IO_ERROR_FAILED,
				    "heraldd exited with %d during start-up:\n%s",
				    self->exit_status,
				    log);
			return FALSE;
		}
		if (herald_test_daemon_health_ok(self))
			return TRUE;
		g_usleep(20000);
	}
	g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "heraldd did not start");
	return FALSE;
}

void
herald_test_daemon_signal(HeraldTestDaemon *self, gint signum)
{
	g_assert_nonnull(self->process);
	g_subprocess_send_signal(self->process, signum);
}

gint
herald_test_daemon_wait(HeraldTestDaemon *self, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	while (!self->exited && g_get_monotonic_time() < deadline) {
		if (!g_main_context_iteration(NULL, FALSE))
			g_usleep(5000);
	}
	if (!self->exited)
		return -1;
	return self->exit_status;
}

/* SIGTERM and wait; the exit status includes LeakSanitizer's verdict */
gint
herald_test_daemon_stop(HeraldTestDaemon *self)
{
	gint status;
	if (self->process == NULL || self->exited)
		return self->exit_status;
	herald_test_daemon_signal(self, SIGTERM);
	status = herald_test_daemon_wait(self, 60000);
	if (status != 0) {
		g_autofree gchar *log = herald_test_daemon_get_log(self);
		g_printerr("heraldd exited with %d; log:\n%s\n", status, log);
	}
	return status;
}

gchar *
herald_test_daemon_get_log(HeraldTestDaemon *self)
{
	gchar *contents = NULL;
	if (!g_file_get_contents(self->log_file, &contents, NULL, NULL))
		return g_strdup("");
	return contents;
}

gboolean
herald_test_daemon_wait_log(HeraldTestDaemon *self, const gchar *needle, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	do {
		g_autofree gchar *log = herald_test_daemon_get_log(self);
		if (strstr(log, needle) != NULL)
			return TRUE;
		while (g_main_context_iteration(NULL, FALSE))
			;
		g_usleep(10000);
	} while (g_get_monotonic_time() < deadline);
	return FALSE;
}

void
herald_test_daemon_free(HeraldTestDaemon *self)
{
	if (self->process != NULL && !self->exited) {
		g_subprocess_force_exit(self->process);
		herald_test_daemon_wait(self, 10000);
	}
	g_clear_object(&self->process);
	if (g_getenv("HERALD_TEST_KEEP") == NULL)
		herald_test_rm_rf(self->dir);
	g_free(self->dir);
	g_free(self->config_file);
	g_free(self->base_url);
	g_free(self->log_file);
	g_free(self);
}

guint
herald_test_http(const gchar *method,
		 const gchar *url,
		 const gchar *token,
		 const gchar *content_type,
		 const gchar *body,
		 gsize body_len,
		 gchar **out_body,
		 SoupMessageHeaders **out_headers)
{
	g_autoptr(SoupSession) session = soup_session_new_with_options("timeout", 30, NULL);
	g_autoptr(SoupMessage) msg = soup_message_new(method, url);
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_nonnull(msg);
	if (token != NULL) {
		g_autofree gchar *authz = g_strdup_printf("Bearer %s", token);
		soup_message_headers_replace(soup_message_get_request_headers(msg),
					     "Authorization",
					     authz);
	}
	if (body != NULL) {
		g_autoptr(GBytes) req = g_bytes_new(body, body_len);
		soup_message_set_request_body_from_bytes(msg,
							 content_type != NULL ? content_type
									      : "application/json",
							 req);
	}
	bytes = soup_session_send_and_read(session, msg, NULL, &error);
	g_assert_no_error(error);
	if (out_body != NULL)
		*out_body = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	if (out_headers != NULL)
		*out_headers = soup_message_headers_ref(soup_message_get_response_headers(msg));
	return soup_message_get_status(msg);
}

JsonNode *
herald_test_parse_json(const gchar *text)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	if (!json_parser_load_from_data(parser, text, -1, &error))
		g_error("not JSON (%s): %s", error->message, text);
	return json_parser_steal_root(parser);
}

static JsonNode *
herald_test_json_lookup(JsonNode *node, const gchar *path)
{
	g_auto(GStrv) parts = g_strsplit(path, ".", -1);
	for (guint i = 0; parts[i] != NULL; i++) {
		if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
			return NULL;
		node = json_object_get_member(json_node_get_object(node), parts[i]);
	}
	return node;
}

const gchar *
herald_test_json_get_string(JsonNode *node, const gchar *path)
{
	JsonNode *member = herald_test_json_lookup(node, path);
	if (member == NULL || json_node_get_value_type(member) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(member);
}

gint64
herald_test_json_get_int(JsonNode *node, const gchar *path)
{
	JsonNode *member = herald_test_json_lookup(node, path);
	if (member == NULL || !JSON_NODE_HOLDS_VALUE(member))
		return -1;
	return json_node_get_int(member);
}

gboolean
herald_test_port_is_open(guint16 port)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_socket_client_set_timeout(client, 1);
	conn = g_socket_client_connect_to_host(client, "127.0.0.1", port, NULL, NULL);
	return conn != NULL;
}

static gchar *
herald_test_substitute(const gchar *arg, guint16 port, const gchar *dir)
{
	g_autofree gchar *port_str = g_strdup_printf("%u", port);
	g_auto(GStrv) a = g_strsplit(arg, "{port}", -1);
	g_autofree gchar *with_port = g_strjoinv(port_str, a);
	g_auto(GStrv) b = g_strsplit(with_port, "{dir}", -1);
	return g_strjoinv(dir, b);
}

HeraldTestServer *
herald_test_server_start(const gchar *name, const gchar *const *argv, guint timeout_ms)
{
	HeraldTestServer *self = g_new0(HeraldTestServer, 1);
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
	g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	self->name = g_strdup(name);
	self->dir = herald_test_mkdtemp();
	self->port = herald_test_free_port();
	self->log_file = g_build_filename(self->dir, "server.log", NULL);
	g_ptr_array_add(args, g_strdup(herald_test_require_program(argv[0])));
	for (guint i = 1; argv[i] != NULL; i++)
		g_ptr_array_add(args, herald_test_substitute(argv[i], self->port, self->dir));
	g_ptr_array_add(args, NULL);
	g_subprocess_launcher_set_stdout_file_path(launcher, self->log_file);
	g_subprocess_launcher_set_flags(launcher, G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_subprocess_launcher_set_cwd(launcher, self->dir);
	g_subprocess_launcher_set_child_setup(launcher, herald_test_child_setup_pdeathsig, NULL, NULL);
	self->process = g_subprocess_launcher_spawnv(launcher, (const gchar *const *)args->pdata, &error);
	if (self->process == NULL)
		g_error("cannot start %s: %s", name, error->message);
	while (!herald_test_port_is_open(self->port)) {
		if (g_get_monotonic_time() > deadline) {
			g_autofree gchar *log = NULL;
			g_file_get_contents(self->log_file, &log, NULL, NULL);
			g_error("%s did not open port %u:\n%s", name, self->port, log != NULL ? log : "");
		}
		g_usleep(20000);
	}
	return self;
}

void
herald_test_server_stop(HeraldTestServer *self)
{
	if (self->process == NULL)
		return;
	g_subprocess_send_signal(self->process, SIGTERM);
	g_subprocess_wait(self->process, NULL, NULL);
	g_clear_object(&self->process);
}

void
herald_test_server_free(HeraldTestServer *self)
{
	herald_test_server_stop(self);
	if (g_getenv("HERALD_TEST_KEEP") == NULL)
		herald_test_rm_rf(self->dir);
	g_free(self->dir);
	g_free(self->name);
	g_free(self->log_file);
	g_free(self);
}

/* redis-server with no persistence, on loopback only */
HeraldTestServer *
herald_test_redis_start(void)
{
	const gchar *argv[] = {"redis-server",
			       "--port", "{port}",
			       "--bind", "127.0.0.1",
			       "--save", "",
			       "--appendonly", "no",
			       "--daemonize", "no",
			       "--dir", "{dir}",
			       NULL};
	return herald_test_server_start("redis-server", argv, 10000);
}

/* clamd */

gchar *
herald_test_eicar(void)
{
	/* in two halves, so that this source file is not itself a test virus */
	return g_strconcat("X5O!P%@AP[4\\PZX54(P^)7CC)7}$",
			   "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
			   NULL);
}

gchar *
herald_test_clamd_command(guint16 port, const gchar *command)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_autofree gchar *cmd = g_strdup_printf("z%s", command);
	gchar buf[512];
	gsize len = 0;

	g_socket_client_set_timeout(client, 5);
	g_socket_client_set_enable_proxy(client, FALSE);
	conn = g_socket_client_connect_to_host(client, "127.0.0.1", port, NULL, NULL);
	if (conn == NULL)
		return NULL;
	if (!g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)),
				       cmd,
				       strlen(cmd) + 1,
				       NULL,
				       NULL,
				       NULL))
		return NULL;
	while (len < sizeof(buf) - 1) {
		gssize n = g_input_stream_read(g_io_stream_get_input_stream(G_IO_STREAM(conn)),
					       buf + len,
					       sizeof(buf) - 1 - len,
					       NULL,
					       NULL);
		if (n <= 0)
			break;
		len += (gsize)n;
		if (memchr(buf, '\0', len) != NULL)
			break;
	}
	if (len == 0)
		return NULL;
	return g_strndup(buf, len);
}

gchar *
herald_test_clamd_socket_path(HeraldTestServer *self)
{
	return g_build_filename(self->dir, "clamd.sock", NULL);
}

/* in the child: a test that aborts must not leave clamd behind */
static void
herald_test_clamd_child_setup(gpointer user_data)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

static void
herald_test_clamd_spawn(HeraldTestServer *self)
{
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
	g_autofree gchar *conf = g_build_filename(self->dir, "clamd.conf", NULL);
	g_autofree gchar *conf_arg = g_strdup_printf("--config-file=%s", conf);
	g_autoptr(GError) error = NULL;
	gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

	g_subprocess_launcher_set_stdout_file_path(launcher, self->log_file);
	g_subprocess_launcher_set_flags(launcher, G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_subprocess_launcher_set_cwd(launcher, self->dir);
	g_subprocess_launcher_set_child_setup(launcher, herald_test_clamd_child_setup, NULL, NULL);
	self->process = g_subprocess_launcher_spawn(launcher,
						    &error,
						    herald_test_require_program("clamd"),
						    conf_arg,
						    NULL);
	if (self->process == NULL)
		g_error("cannot start clamd: %s", error->message);
	for (;;) {
		g_autofree gchar *reply = herald_test_clamd_command(self->port, "PING");
		if (g_strcmp0(reply, "PONG") == 0)
			break;
		if (g_get_monotonic_time() > deadline ||
		    g_subprocess_get_identifier(self->process) == NULL) {
			g_autofree gchar *log = NULL;
			g_file_get_contents(self->log_file, &log, NULL, NULL);
			g_error("clamd does not answer PING on port %u:\n%s",
				self->port,
				log != NULL ? log : "");
		}
		g_usleep(50000);
	}
}

HeraldTestServer *
herald_test_clamd_start(const gchar *stream_max_length)
{
	HeraldTestServer *self = g_new0(HeraldTestServer, 1);
	g_autofree gchar *db_dir = NULL;
	g_autofree gchar *conf = NULL;
	g_autofree gchar *eicar = herald_test_eicar();
	g_autofree gchar *eicar_hex = NULL;
	g_autofree gchar *ndb = NULL;
	g_autofree gchar *fn = NULL;
	GString *hex = g_string_new(NULL);
	const gchar *body = strstr(eicar, "EICAR-STANDARD-ANTIVIRUS-TEST-FILE");

	self->name = g_strdup("clamd");
	self->dir = herald_test_mkdtemp();
	self->port = herald_test_free_port();
	self->log_file = g_build_filename(self->dir, "server.log", NULL);
	db_dir = g_build_filename(self->dir, "db", NULL);

	/* an empty database directory makes clamd exit: write our own signatures */
	fn = herald_test_write_file(db_dir,
				    "test.hdb",
				    HERALD_TEST_CLAMD_EICAR_HDB "\n" HERALD_TEST_CLAMD_CLAMEXE_HDB "\n");
	for (gsize i = 0; i < strlen("EICAR-STANDARD-ANTIVIRUS-TEST-FILE"); i++)
		g_string_append_printf(hex, "%02x", (guchar)body[i]);
	eicar_hex = g_string_free(hex, FALSE);
	ndb = g_strdup_printf("Probe.EICAR.NDB:0:*:%s\n", eicar_hex);
	g_free(fn);
	fn = herald_test_write_file(db_dir, "test.ndb", ndb);

	conf = g_strdup_printf("Foreground yes\n"
			       "TCPSocket %u\n"
			       "TCPAddr 127.0.0.1\n"
			       "LocalSocket %s/clamd.sock\n"
			       "DatabaseDirectory %s\n"
			       "PidFile %s/clamd.pid\n"
			       "LogFile %s/clamd.log\n"
			       "StreamMaxLength %s\n"
			       "MaxThreads 12\n",
			       self->port,
			       self->dir,
			       db_dir,
			       self->dir,
			       self->dir,
			       stream_max_length != NULL ? stream_max_length : "25M");
	g_free(fn);
	fn = herald_test_write_file(self->dir, "clamd.conf", conf);
	herald_test_clamd_spawn(self);
	return self;
}

void
herald_test_clamd_restart(HeraldTestServer *self)
{
	g_autofree gchar *sock = herald_test_clamd_socket_path(self);
	herald_test_server_stop(self);
	g_unlink(sock);
	herald_test_clamd_spawn(self);
}

/* ------------------------------------------------------------ redis helpers */

void
herald_test_redis_restart(HeraldTestServer *self)
{
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *port = g_strdup_printf("%u", self->port);
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	const gchar *argv[] = {herald_test_require_program("redis-server"),
			       "--port", port,
			       "--bind", "127.0.0.1",
			       "--save", "",
			       "--appendonly", "no",
			       "--daemonize", "no",
			       "--dir", self->dir,
			       NULL};

	herald_test_server_stop(self);
	g_subprocess_launcher_set_stdout_file_path(launcher, self->log_file);
	g_subprocess_launcher_set_flags(launcher, G_SUBPROCESS_FLAGS_STDERR_MERGE);
	g_subprocess_launcher_set_cwd(launcher, self->dir);
	/* the old socket may linger a moment: retry the bind */
	while (TRUE) {
		gint64 attempt_deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
		self->process = g_subprocess_launcher_spawnv(launcher, argv, &error);
		if (self->process == NULL)
			g_error("cannot start redis-server: %s", error->message);
		while (!herald_test_port_is_open(self->port) &&
		       g_get_monotonic_time() < attempt_deadline)
			g_usleep(20000);
		if (herald_test_port_is_open(self->port))
			return;
		if (g_get_monotonic_time() > deadline)
			g_error("redis-server did not come back on port %u", self->port);
		g_subprocess_force_exit(self->process);
		g_subprocess_wait(self->process, NULL, NULL);
		g_clear_object(&self->process);
	}
}

gint
herald_test_redis_cli(guint16 port, const gchar *stdin_data, gchar **out, ...)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *stdout_buf = NULL;
	const gchar *arg;
	va_list ap;

	g_ptr_array_add(args, g_strdup(herald_test_require_program("redis-cli")));
	g_ptr_array_add(args, g_strdup("-p"));
	g_ptr_array_add(args, g_strdup_printf("%u", port));
	if (stdin_data != NULL)
		g_ptr_array_add(args, g_strdup("-x"));
	va_start(ap, out);
	while ((arg = va_arg(ap, const gchar *)) != NULL)
		g_ptr_array_add(args, g_strdup(arg));
	va_end(ap);
	g_ptr_array_add(args, NULL);
	proc = g_subprocess_newv((const gchar *const *)args->pdata,
				 G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
				     G_SUBPROCESS_FLAGS_STDERR_MERGE,
				 &error);
	g_assert_no_error(error);
	if (!g_subprocess_communicate_utf8(proc, stdin_data, NULL, &stdout_buf, NULL, &error))
		g_error("redis-cli: %s", error->message);
	if (out != NULL)
		*out = g_steal_pointer(&stdout_buf);
	return g_subprocess_get_exit_status(proc);
}

/* --------------------------------------------------------- WebSocket client */

static void
herald_test_ws_message_cb(SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer user_data)
{
	HeraldTestWs *ws = user_data;
	gsize len = 0;
	const gchar *data = g_bytes_get_data(message, &len);
	g_autofree gchar *text = g_strndup(data, len);
	JsonNode *node = json_from_string(text, NULL);
	if (node == NULL) {
		node = json_node_new(JSON_NODE_VALUE);
		json_node_set_string(node, text);
	}
	g_ptr_array_add(ws->messages, node);
}

static void
herald_test_ws_closed_cb(SoupWebsocketConnection *conn, gpointer user_data)
{
	HeraldTestWs *ws = user_data;
	ws->closed = TRUE;
	ws->close_code = soup_websocket_connection_get_close_code(conn);
}

static void
herald_test_ws_connect_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	HeraldTestWs *ws = user_data;
	ws->ws = soup_session_websocket_connect_finish(SOUP_SESSION(source), res, &ws->error);
	ws->done = TRUE;
	if (ws->ws == NULL)
		return;
	soup_websocket_connection_set_max_incoming_payload_size(ws->ws, 64 * 1024 * 1024);
	g_signal_connect(ws->ws, "message", G_CALLBACK(herald_test_ws_message_cb), ws);
	g_signal_connect(ws->ws, "closed", G_CALLBACK(herald_test_ws_closed_cb), ws);
}

static gboolean
herald_test_ws_is_done(gpointer user_data)
{
	return ((HeraldTestWs *)user_data)->done;
}

HeraldTestWs *
herald_test_ws_connect(const gchar *url, guint timeout_ms, GError **error)
{
	HeraldTestWs *ws = g_new0(HeraldTestWs, 1);
	g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
	ws->session = soup_session_new();
	ws->messages = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	soup_session_websocket_connect_async(ws->session,
					     msg,
					     NULL,
					     NULL,
					     G_PRIORITY_DEFAULT,
					     NULL,
					     herald_test_ws_connect_cb,
					     ws);
	if (!herald_test_wait_until(herald_test_ws_is_done, ws, timeout_ms)) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "websocket connect timed out");
		herald_test_ws_free(ws);
		return NULL;
	}
	if (ws->ws == NULL) {
		g_propagate_error(error, g_steal_pointer(&ws->error));
		herald_test_ws_free(ws);
		return NULL;
	}
	return ws;
}

typedef struct {
	HeraldTestWs *ws;
	guint n;
} HeraldTestWsWait;

static gboolean
herald_test_ws_has_n(gpointer user_data)
{
	HeraldTestWsWait *wait = user_data;
	return wait->ws->messages->len >= wait->n || wait->ws->closed;
}

gboolean
herald_test_ws_wait(HeraldTestWs *ws, guint n, guint timeout_ms)
{
	HeraldTestWsWait wait = {ws, n};
	return herald_test_wait_until(herald_test_ws_has_n, &wait, timeout_ms) &&
	       ws->messages->len >= n;
}

void
herald_test_ws_send(HeraldTestWs *ws, const gchar *text)
{
	soup_websocket_connection_send_text(ws->ws, text);
}

void
herald_test_ws_free(HeraldTestWs *ws)
{
	if (ws == NULL)
		return;
	if (ws->ws != NULL) {
		g_signal_handlers_disconnect_by_data(ws->ws, ws);
		if (soup_websocket_connection_get_state(ws->ws) == SOUP_WEBSOCKET_STATE_OPEN)
			soup_websocket_connection_close(ws->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
		g_object_unref(ws->ws);
	}
	g_clear_error(&ws->error);
	g_ptr_array_unref(ws->messages);
	g_object_unref(ws->session);
	g_free(ws);
}

/* node and the npm clients of tests/node (ws, socket.io-client): a missing
 * piece fails loudly, never skips */
const gchar *
herald_test_node_program(void)
{
	static gchar *node = NULL;
	if (node == NULL)
		node = g_find_program_in_path("node");
	if (node == NULL)
		g_error("node is not installed: run tests/run-suite (it installs nodejs and "
			"the npm clients of tests/node/package.json)");
	return node;
}

gchar *
herald_test_node_modules_dir(void)
{
	const gchar *dir = g_getenv("HERALD_TEST_NODE_DIR");
	const gchar *needed[] = {"ws", "socket.io-client"};
	gchar *modules;

	if (dir == NULL)
		g_error("HERALD_TEST_NODE_DIR is not set; run the tests with meson test");
	modules = g_build_filename(dir, "node_modules", NULL);
	for (guint i = 0; i < G_N_ELEMENTS(needed); i++) {
		g_autofree gchar *pkg = g_build_filename(modules, needed[i], "package.json", NULL);
		if (!g_file_test(pkg, G_FILE_TEST_EXISTS))
			g_error("%s is missing: run tests/run-suite (or npm install in %s)", pkg, dir);
	}
	return modules;
}
