/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* main loop with a timeout (fwupd fu-test.c): a test that hangs fails instead */
void
herald_test_loop_run_with_timeout(guint timeout_ms);
void
herald_test_loop_quit(void);
gboolean
herald_test_wait_until(gboolean (*cond)(gpointer), gpointer user_data, guint timeout_ms);

guint16
herald_test_free_port(void);
gchar *
herald_test_mkdtemp(void);
void
herald_test_rm_rf(const gchar *path);
gchar *
herald_test_write_file(const gchar *dir, const gchar *name, const gchar *contents);
const gchar *
herald_test_require_program(const gchar *name);

/* JWT for tests: HS256 with @secret, claims from a JSON object literal; `exp`
 * is set to now + @exp_offset_s unless the claims already have one, or unless
 * @exp_offset_s is G_MININT64 */
gchar *
herald_test_make_token(const gchar *secret, const gchar *claims_json, gint64 exp_offset_s);
/* 64 bytes and more: long enough for HS512 too (RFC 7518 section 3.2) */
#define HERALD_TEST_SECRET "test-secret-of-64-bytes-at-least-so-that-hs512-accepts-it-too!!!!"

/* a heraldd subprocess on a free port with its own config directory */
typedef struct {
	gchar *dir;
	gchar *config_file;
	guint16 port;
	gchar *base_url;
	GSubprocess *process;
	gchar *log_file;
	gboolean exited;
	gint exit_status;
} HeraldTestDaemon;

HeraldTestDaemon *
herald_test_daemon_new(const gchar *config_extra);
gboolean
herald_test_daemon_start(HeraldTestDaemon *self, GError **error);
gint
herald_test_daemon_stop(HeraldTestDaemon *self);
void
herald_test_daemon_signal(HeraldTestDaemon *self, gint signum);
gint
herald_test_daemon_wait(HeraldTestDaemon *self, guint timeout_ms);
gchar *
herald_test_daemon_get_log(HeraldTestDaemon *self);
gboolean
herald_test_daemon_wait_log(HeraldTestDaemon *self, const gchar *needle, guint timeout_ms);
void
herald_test_daemon_free(HeraldTestDaemon *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldTestDaemon, herald_test_daemon_free)

/* a real server (redis-server, clamd, node s3rver…) on a free loopback port,
 * started from @argv ("{port}" and "{dir}" are substituted) and stopped by PID */
typedef struct {
	gchar *name;
	gchar *dir;
	guint16 port;
	GSubprocess *process;
	gchar *log_file;
} HeraldTestServer;

HeraldTestServer *
herald_test_server_start(const gchar *name, const gchar *const *argv, guint timeout_ms);
void
herald_test_server_stop(HeraldTestServer *self);
void
herald_test_server_free(HeraldTestServer *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldTestServer, herald_test_server_free)
HeraldTestServer *
herald_test_redis_start(void);
gboolean
herald_test_port_is_open(guint16 port);

gint
herald_test_run_heraldd(gchar **argv_extra, gchar **out, gchar **err, const gchar *const *envp_extra);
gchar **
herald_test_environ(const gchar *const *extra);

/* HTTP against the daemon; returns the status, body in @body */
guint
herald_test_http(const gchar *method,
		 const gchar *url,
		 const gchar *token,
		 const gchar *content_type,
		 const gchar *body,
		 gsize body_len,
		 gchar **out_body,
		 SoupMessageHeaders **out_headers);
JsonNode *
herald_test_parse_json(const gchar *text);
const gchar *
herald_test_json_get_string(JsonNode *node, const gchar *path);
gint64
herald_test_json_get_int(JsonNode *node, const gchar *path);

/* clamd on a free loopback port (and a unix socket `{dir}/clamd.sock`) with only
 * a database the harness writes: EICAR by hash and by body, and the hash of
 * clamav-testfiles' clam.exe, so clam.zip, clam.7z… are detected too; ready
 * when it answers PING; @stream_max_length is clamd's StreamMaxLength ("25M") */
#define HERALD_TEST_CLAMD_EICAR_HDB "44d88612fea8a8f36de82e1278abb02f:68:Probe.EICAR.HDB"
#define HERALD_TEST_CLAMD_CLAMEXE_HDB "aa15bcf478d165efd2065190eb473bcb:544:Probe.ClamExe.HDB"
HeraldTestServer *
herald_test_clamd_start(const gchar *stream_max_length);
/* start it again on the same port and socket, with the same database */
void
herald_test_clamd_restart(HeraldTestServer *self);
gchar *
herald_test_clamd_socket_path(HeraldTestServer *self);
/* a z-command (PING, VERSION) over TCP; the reply or NULL */
gchar *
herald_test_clamd_command(guint16 port, const gchar *command);
/* the 68-byte EICAR test string, built at run time */
gchar *
herald_test_eicar(void);

/* redis-server again on the same port and directory (after a kill: the
 * subscriptions of the daemons must come back by themselves) */
void
herald_test_redis_restart(HeraldTestServer *self);
/* redis-cli against @port; the last argument is read from @stdin_data when not
 * NULL (-x, for payloads too big for argv); returns the exit status */
gint
herald_test_redis_cli(guint16 port, const gchar *stdin_data, gchar **out, ...) G_GNUC_NULL_TERMINATED;

/* a libsoup WebSocket client; every text message is parsed into @messages */
typedef struct {
	SoupSession *session;
	SoupWebsocketConnection *ws;
	GPtrArray *messages; /* (element-type JsonNode) */
	gboolean done;
	gboolean closed;
	gushort close_code;
	GError *error;
} HeraldTestWs;

/* connects (main loop runs meanwhile); %NULL with @error on failure */
HeraldTestWs *
herald_test_ws_connect(const gchar *url, guint timeout_ms, GError **error);
/* runs the main loop until @ws holds at least @n messages */
gboolean
herald_test_ws_wait(HeraldTestWs *ws, guint n, guint timeout_ms);
void
herald_test_ws_send(HeraldTestWs *ws, const gchar *text);
void
herald_test_ws_free(HeraldTestWs *ws);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldTestWs, herald_test_ws_free)

const gchar *
herald_test_node_program(void);
gchar *
herald_test_node_modules_dir(void);

G_END_DECLS
