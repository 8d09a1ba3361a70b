/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "herald-redis-bridge-sentinel.h"

#define RB_SENTINEL_WATCH_RETRY_MS 1000

typedef struct {
	gchar *host;
	guint16 port;
} RbSentinelAddr;

/* what a worker needs, copied: it may outlive the RbSentinel */
typedef struct {
	gint ref;
	RbSentinelAddr *addrs;
	guint n_addrs;
	gchar *master_name;
	gchar *password; /* (nullable) */
	guint timeout_ms;
	gint next;	 /* (atomic) the sentinel to ask first */
	gint stop;	 /* (atomic) the watcher ends */
	gint wake[2];	 /* the watcher's poll() wakes up on a write */
	gboolean alive;	 /* main context only: reports are still wanted */
	GMainContext *context;
	RbSentinelMasterFunc func;
	gpointer user_data;
} RbSentinelShared;

struct _RbSentinel {
	RbSentinelShared *shared;
	GThread *watcher;
};

static RbSentinelShared *
rb_sentinel_shared_ref(RbSentinelShared *shared)
{
	g_atomic_int_inc(&shared->ref);
	return shared;
}

static void
rb_sentinel_shared_unref(RbSentinelShared *shared)
{
	if (!g_atomic_int_dec_and_test(&shared->ref))
		return;
	for (guint i = 0; i < shared->n_addrs; i++)
		g_free(shared->addrs[i].host);
	g_free(shared->addrs);
	g_free(shared->master_name);
	if (shared->password != NULL)
		memset(shared->password, 0, strlen(shared->password));
	g_free(shared->password);
	for (guint i = 0; i < 2; i++) {
		if (shared->wake[i] >= 0)
			close(shared->wake[i]);
	}
	if (shared->context != NULL)
		g_main_context_unref(shared->context);
	g_free(shared);
}

/**
 * rb_sentinel_parse_address:
 * @address: `host:port` or `[v6]:port`
 *
 * Returns: %TRUE with @host and @port set when @address is one
 */
gboolean
rb_sentinel_parse_address(const gchar *address, gchar **host, guint16 *port, GError **error)
{
	const gchar *colon = strrchr(address, ':');
	g_autofree gchar *name = NULL;
	guint64 value = 0;

	if (colon == NULL || colon == address ||
	    !g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &value, NULL)) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "'%s' is not host:port",
			    address);
		return FALSE;
	}
	name = g_strndup(address, (gsize)(colon - address));
	if (name[0] == '[' && g_str_has_suffix(name, "]")) {
		gchar *inner = g_strndup(name + 1, strlen(name) - 2);
		g_free(name);
		name = inner;
	}
	if (name[0] == '\0' || strpbrk(name, " \t/@") != NULL) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_ARGUMENT,
			    "'%s' is not host:port",
			    address);
		return FALSE;
	}
	if (host != NULL)
		*host = g_steal_pointer(&name);
	if (port != NULL)
		*port = (guint16)value;
	return TRUE;
}

RbSentinel *
rb_sentinel_new(const gchar *const *addresses,
		const gchar *master_name,
		const gchar *password,
		guint timeout_ms)
{
	RbSentinel *self = g_new0(RbSentinel, 1);
	RbSentinelShared *shared = g_new0(RbSentinelShared, 1);
	guint n = addresses != NULL ? g_strv_length((gchar **)addresses) : 0;

	shared->ref = 1;
	shared->addrs = g_new0(RbSentinelAddr, MAX(n, 1));
	for (guint i = 0; i < n; i++) {
		if (rb_sentinel_parse_address(addresses[i],
					      &shared->addrs[shared->n_addrs].host,
					      &shared->addrs[shared->n_addrs].port,
					      NULL))
			shared->n_addrs++;
	}
	shared->master_name = g_strdup(master_name);
	shared->password = g_strdup(password != NULL && password[0] != '\0' ? password : NULL);
	shared->timeout_ms = MAX(timeout_ms, 100);
	shared->wake[0] = shared->wake[1] = -1;
	self->shared = shared;
	return self;
}

/* one blocking connection to a sentinel, authenticated; NULL with @why set */
static redisContext *
rb_sentinel_connect(RbSentinelShared *shared, const RbSentinelAddr *addr, gchar **why)
{
	struct timeval tv = {shared->timeout_ms / 1000, (shared->timeout_ms % 1000) * 1000};
	redisContext *c = redisConnectWithTimeout(addr->host, addr->port, tv);

	if (c == NULL) {
		*why = g_strdup_printf("%s:%u: out of memory", addr->host, addr->port);
		return NULL;
	}
	if (c->err != 0) {
		*why = g_strdup_printf("%s:%u: %s", addr->host, addr->port, c->errstr);
		redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	if (shared->password != NULL) {
		redisReply *reply = redisCommand(c, "AUTH %s", shared->password);
		gboolean ok = reply != NULL && reply->type != REDIS_REPLY_ERROR;
		if (!ok)
			*why = g_strdup_printf("%s:%u: AUTH: %s",
					       addr->host,
					       addr->port,
					       reply != NULL ? reply->str : c->errstr);
		if (reply != NULL)
			freeReplyObject(reply);
		if (!ok) {
			redisFree(c);
			return NULL;
		}
	}
	return c;
}

/* SENTINEL get-master-addr-by-name on an open connection */
static gboolean
rb_sentinel_ask(RbSentinelShared *shared,
		redisContext *c,
		const RbSentinelAddr *addr,
		gchar **host,
		guint16 *port,
		gchar **why)
{
	redisReply *reply =
	    redisCommand(c, "SENTINEL get-master-addr-by-name %s", shared->master_name);
	guint64 value = 0;
	gboolean ok = FALSE;

	if (reply == NULL) {
		*why = g_strdup_printf("%s:%u: %s", addr->host, addr->port, c->errstr);
		return FALSE;
	}
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
	    reply->element[0]->type == REDIS_REPLY_STRING &&
	    reply->element[1]->type == REDIS_REPLY_STRING &&
	    g_ascii_string_to_unsigned(reply->element[1]->str, 10, 1, 65535, &value, NULL)) {
		*host = g_strdup(reply->element[0]->str);
		*port = (guint16)value;
		ok = TRUE;
	} else if (reply->type == REDIS_REPLY_NIL) {
		*why = g_strdup_printf("%s:%u does not know master '%s'",
				       addr->host,
				       addr->port,
				       shared->master_name);
	} else {
		*why = g_strdup_printf("%s:%u: unexpected answer%s%s",
				       addr->host,
				       addr->port,
				       reply->type == REDIS_REPLY_ERROR ? ": " : "",
				       reply->type == REDIS_REPLY_ERROR ? reply->str : "");
	}
	freeReplyObject(reply);
	return ok;
}

typedef struct {
	gchar *host;
	guint16 port;
} RbSentinelMaster;

static void
rb_sentinel_master_free(RbSentinelMaster *master)
{
	g_free(master->host);
	g_free(master);
}

static void
rb_sentinel_lookup_thread(GTask *task,
			  gpointer source_object,
			  gpointer task_data,
			  GCancellable *cancellable)
{
	RbSentinelShared *shared = task_data;
	g_autoptr(GString) errors = g_string_new(NULL);
	guint first = (guint)g_atomic_int_get(&shared->next);

	for (guint k = 0; k < shared->n_addrs; k++) {
		guint i = (first + k) % shared->n_addrs;
		const RbSentinelAddr *addr = &shared->addrs[i];
		g_autofree gchar *why = NULL;
		g_autofree gchar *host = NULL;
		guint16 port = 0;
		redisContext *c;

		if (g_cancellable_is_cancelled(cancellable))
			break;
		c = rb_sentinel_connect(shared, addr, &why);
		if (c != NULL) {
			gboolean ok = rb_sentinel_ask(shared, c, addr, &host, &port, &why);
			redisFree(c);
			if (ok) {
				RbSentinelMaster *master = g_new0(RbSentinelMaster, 1);
				/* the one that answered is asked first next time */
				g_atomic_int_set(&shared->next, (gint)i);
				master->host = g_steal_pointer(&host);
				master->port = port;
				g_task_return_pointer(task,
						      master,
						      (GDestroyNotify)rb_sentinel_master_free);
				return;
			}
		}
		if (errors->len > 0)
			g_string_append(errors, "; ");
		g_string_append(errors, why);
	}
	if (g_task_return_error_if_cancelled(task))
		return;
	g_task_return_new_error(task,
				G_IO_ERROR,
				G_IO_ERROR_HOST_NOT_FOUND,
				"no sentinel named a master for '%s' (%s)",
				shared->master_name,
				errors->len > 0 ? errors->str : "no sentinels");
}

void
rb_sentinel_lookup_async(RbSentinel *self,
			 GCancellable *cancellable,
			 GAsyncReadyCallback callback,
			 gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
	g_task_set_source_tag(task, rb_sentinel_lookup_async);
	g_task_set_task_data(task,
			     rb_sentinel_shared_ref(self->shared),
			     (GDestroyNotify)rb_sentinel_shared_unref);
	g_task_run_in_thread(task, rb_sentinel_lookup_thread);
}

gboolean
rb_sentinel_lookup_finish(GAsyncResult *res, gchar **host, guint16 *port, GError **error)
{
	RbSentinelMaster *master = g_task_propagate_pointer(G_TASK(res), error);
	if (master == NULL)
		return FALSE;
	*host = g_steal_pointer(&master->host);
	*port = master->port;
	rb_sentinel_master_free(master);
	return TRUE;
}

/* ------------------------------------------------------------ watcher */

typedef struct {
	RbSentinelShared *shared; /* (owned) */
	gchar *host;
	guint16 port;
} RbSentinelReport;

static gboolean
rb_sentinel_report_cb(gpointer user_data)
{
	RbSentinelReport *report = user_data;
	if (report->shared->alive && report->shared->func != NULL)
		report->shared->func(report->host, report->port, report->shared->user_data);
	return G_SOURCE_REMOVE;
}

static void
rb_sentinel_report_free(RbSentinelReport *report)
{
	rb_sentinel_shared_unref(report->shared);
	g_free(report->host);
	g_free(report);
}

static void
rb_sentinel_report(RbSentinelShared *shared, const gchar *host, guint16 port)
{
	RbSentinelReport *report = g_new0(RbSentinelReport, 1);
	report->shared = rb_sentinel_shared_ref(shared);
	report->host = g_strdup(host);
	report->port = port;
	g_main_context_invoke_full(shared->context,
				   G_PRIORITY_DEFAULT,
				   rb_sentinel_report_cb,
				   report,
				   (GDestroyNotify)rb_sentinel_report_free);
}

/* `+switch-master` carries "<name> <old-ip> <old-port> <new-ip> <new-port>" */
static void
rb_sentinel_handle(RbSentinelShared *shared, redisReply *reply)
{
	g_auto(GStrv) parts = NULL;
	guint64 port = 0;

	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    g_strcmp0(reply->element[0]->str, "message") != 0 ||
	    reply->element[2]->type != REDIS_REPLY_STRING)
		return;
	parts = g_strsplit(reply->element[2]->str, " ", -1);
	if (g_strv_length(parts) != 5 || g_strcmp0(parts[0], shared->master_name) != 0 ||
	    !g_ascii_string_to_unsigned(parts[4], 10, 1, 65535, &port, NULL))
		return;
	rb_sentinel_report(shared, parts[3], (guint16)port);
}

/* waits for readable data or the stop pipe; FALSE when stopping */
static gboolean
rb_sentinel_wait(RbSentinelShared *shared, gint fd, gint timeout_ms)
{
	struct pollfd fds[2] = {{fd, POLLIN, 0}, {shared->wake[0], POLLIN, 0}};
	gint n = fd >= 0 ? 2 : 1;
	struct pollfd *p = fd >= 0 ? fds : fds + 1;
	while (poll(p, (nfds_t)n, timeout_ms) < 0 && errno == EINTR)
		;
	return !g_atomic_int_get(&shared->stop);
}

static gpointer
rb_sentinel_watch_thread(gpointer data)
{
	RbSentinelShared *shared = data;
	guint i = 0;

	while (!g_atomic_int_get(&shared->stop)) {
		const RbSentinelAddr *addr = &shared->addrs[i++ % shared->n_addrs];
		g_autofree gchar *why = NULL;
		g_autofree gchar *host = NULL;
		guint16 port = 0;
		redisContext *c = rb_sentinel_connect(shared, addr, &why);
		redisReply *reply;

		if (c == NULL) {
			g_debug("sentinel watcher: %s", why);
			rb_sentinel_wait(shared, -1, RB_SENTINEL_WATCH_RETRY_MS);
			continue;
		}
		/* what this sentinel knows now: a switch may have happened while
		 * no sentinel was watched */
		if (rb_sentinel_ask(shared, c, addr, &host, &port, &why))
			rb_sentinel_report(shared, host, port);
		reply = redisCommand(c, "SUBSCRIBE +switch-master");
		if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
			if (reply != NULL)
				freeReplyObject(reply);
			redisFree(c);
			rb_sentinel_wait(shared, -1, RB_SENTINEL_WATCH_RETRY_MS);
			continue;
		}
		freeReplyObject(reply);
		/* read without hiredis' timeout (it would end the context) */
		while (rb_sentinel_wait(shared, c->fd, -1)) {
			gboolean failed = FALSE;
			if (redisBufferRead(c) != REDIS_OK)
				break;
			for (;;) {
				void *next = NULL;
				if (redisGetReplyFromReader(c, &next) != REDIS_OK) {
					failed = TRUE;
					break;
				}
				if (next == NULL)
					break;
				rb_sentinel_handle(shared, next);
				freeReplyObject(next);
			}
			if (failed)
				break;
		}
		redisFree(c);
		if (!g_atomic_int_get(&shared->stop))
			rb_sentinel_wait(shared, -1, RB_SENTINEL_WATCH_RETRY_MS);
	}
	rb_sentinel_shared_unref(shared);
	return NULL;
}

/**
 * rb_sentinel_watch:
 * @func: called with the master's address whenever a sentinel announces a
 *   switch, and each time the watcher (re)connects to a sentinel
 *
 * Starts the watcher thread; the reports run on the caller's thread-default
 * main context.
 */
void
rb_sentinel_watch(RbSentinel *self, RbSentinelMasterFunc func, gpointer user_data)
{
	RbSentinelShared *shared = self->shared;
	g_autoptr(GError) error = NULL;

	g_return_if_fail(self->watcher == NULL);
	if (shared->n_addrs == 0 || !g_unix_open_pipe(shared->wake, FD_CLOEXEC, NULL))
		return;
	shared->context = g_main_context_ref_thread_default();
	shared->func = func;
	shared->user_data = user_data;
	shared->alive = TRUE;
	self->watcher = g_thread_try_new("herald-sentinel",
					 rb_sentinel_watch_thread,
					 rb_sentinel_shared_ref(shared),
					 &error);
	if (self->watcher == NULL) {
		g_warning("cannot start the sentinel watcher: %s", error->message);
		rb_sentinel_shared_unref(shared);
	}
}

/* stops the watcher (joined: no report runs after this returns) */
void
rb_sentinel_free(RbSentinel *self)
{
	if (self == NULL)
		return;
	self->shared->alive = FALSE;
	g_atomic_int_set(&self->shared->stop, 1);
	if (self->watcher != NULL) {
		gssize n G_GNUC_UNUSED = write(self->shared->wake[1], "x", 1);
		g_thread_join(self->watcher);
	}
	rb_sentinel_shared_unref(self->shared);
	g_free(self);
}
