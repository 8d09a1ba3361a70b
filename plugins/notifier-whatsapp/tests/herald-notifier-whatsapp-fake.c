/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "herald-notifier-whatsapp-fake.h"

struct _FakeProvider {
	GThread *thread;
	GMainContext *context;
	GMainLoop *loop;
	SoupServer *server;
	guint16 port;
	GMutex lock;
	GCond cond;
	gboolean started;
	gchar *behaviour;   /* (owned) */
	GQueue script;	    /* (element-type utf8) */
	GPtrArray *bodies;  /* (element-type utf8) */
	guint violations;
	GPtrArray *hung; /* (element-type SoupServerMessage) paused, server thread only */
	guint serial;
};

static gboolean
fake_is_digits(const gchar *text, gsize min, gsize max)
{
	gsize len = text != NULL ? strlen(text) : 0;
	return len >= min && len <= max && strspn(text, "0123456789") == len;
}

static const gchar *
fake_string(JsonObject *obj, const gchar *name)
{
	JsonNode *node = obj != NULL ? json_object_get_member(obj, name) : NULL;
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

static JsonObject *
fake_object(JsonObject *obj, const gchar *name)
{
	JsonNode *node = obj != NULL ? json_object_get_member(obj, name) : NULL;
	if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
		return NULL;
	return json_node_get_object(node);
}

/* the Cloud API message shapes of reference/whatsapp-cloud-api.md */
static gboolean
fake_cloud_body_ok(JsonObject *obj, gboolean *is_text)
{
	const gchar *type = fake_string(obj, "type");
	if (g_strcmp0(fake_string(obj, "messaging_product"), "whatsapp") != 0 ||
	    g_strcmp0(fake_string(obj, "recipient_type"), "individual") != 0 ||
	    !fake_is_digits(fake_string(obj, "to"), 8, 15))
		return FALSE;
	if (g_strcmp0(type, "text") == 0) {
		JsonObject *text = fake_object(obj, "text");
		const gchar *body = fake_string(text, "body");
		*is_text = TRUE;
		return body != NULL && body[0] != '\0' && json_object_has_member(text, "preview_url");
	}
	if (g_strcmp0(type, "template") == 0) {
		JsonObject *tmpl = fake_object(obj, "template");
		JsonNode *components = tmpl != NULL ? json_object_get_member(tmpl, "components")
						    : NULL;
		JsonArray *array;
		JsonObject *body;
		JsonArray *params;
		*is_text = FALSE;
		if (fake_string(tmpl, "name") == NULL ||
		    fake_string(fake_object(tmpl, "language"), "code") == NULL || components == NULL ||
		    !JSON_NODE_HOLDS_ARRAY(components))
			return FALSE;
		array = json_node_get_array(components);
		if (json_array_get_length(array) < 1 ||
		    !JSON_NODE_HOLDS_OBJECT(json_array_get_element(array, 0)))
			return FALSE;
		body = json_array_get_object_element(array, 0);
		if (g_strcmp0(fake_string(body, "type"), "body") != 0 ||
		    !json_object_has_member(body, "parameters") ||
		    !JSON_NODE_HOLDS_ARRAY(json_object_get_member(body, "parameters")))
			return FALSE;
		params = json_object_get_array_member(body, "parameters");
		for (guint i = 0; i < json_array_get_length(params); i++) {
			JsonObject *p = JSON_NODE_HOLDS_OBJECT(json_array_get_element(params, i))
					    ? json_array_get_object_element(params, i)
					    : NULL;
			if (g_strcmp0(fake_string(p, "type"), "text") != 0 ||
			    fake_string(p, "text") == NULL)
				return FALSE;
		}
		return TRUE;
	}
	return FALSE;
}

static gboolean
fake_webhook_body_ok(JsonObject *obj)
{
	const gchar *phone = fake_string(obj, "phone");
	return fake_string(obj, "id") != NULL && fake_string(obj, "user_id") != NULL &&
	       phone != NULL && phone[0] == '+' && fake_is_digits(phone + 1, 8, 15) &&
	       fake_string(obj, "title") != NULL && fake_string(obj, "message") != NULL &&
	       fake_string(obj, "type") != NULL && fake_string(obj, "priority") != NULL &&
	       fake_object(obj, "data") != NULL;
}

static void
fake_reply(SoupServerMessage *msg, guint status, const gchar *body)
{
	/* no keep-alive: libsoup 3.2 loses a connection still open when the
	 * server is disposed (see tests/lsan.supp) */
	soup_message_headers_replace(soup_server_message_get_response_headers(msg),
				     "Connection",
				     "close");
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, body, strlen(body));
}

static void
fake_reply_error(SoupServerMessage *msg, guint status, gint code, const gchar *text)
{
	g_autofree gchar *body =
	    g_strdup_printf("{\"error\":{\"message\":\"(#%d) %s\",\"type\":\"OAuthException\","
			    "\"code\":%d,\"error_data\":{\"messaging_product\":\"whatsapp\","
			    "\"details\":\"%s\"},\"fbtrace_id\":\"AbCdEf\"}}",
			    code,
			    text,
			    code,
			    text);
	fake_reply(msg, status, body);
}

static void
fake_handler(SoupServer *server,
	     SoupServerMessage *msg,
	     const char *path,
	     GHashTable *query,
	     gpointer user_data)
{
	FakeProvider *self = user_data;
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	SoupMessageBody *request = soup_server_message_get_request_body(msg);
	g_autoptr(GBytes) bytes = soup_message_body_flatten(request);
	g_autofree gchar *text = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autofree gchar *behaviour = NULL;
	const gchar *authz = soup_message_headers_get_one(headers, "Authorization");
	const gchar *ctype = soup_message_headers_get_content_type(headers, NULL);
	gboolean webhook = g_strcmp0(path, FAKE_WEBHOOK_PATH) == 0;
	gboolean is_text = FALSE;
	gboolean ok;
	JsonObject *obj = NULL;
	guint serial;

	if (json_parser_load_from_data(parser, text, -1, NULL) &&
	    JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
		obj = json_node_get_object(json_parser_get_root(parser));
	ok = g_strcmp0(soup_server_message_get_method(msg), "POST") == 0 &&
	     g_strcmp0(authz, "Bearer " FAKE_TOKEN) == 0 &&
	     g_strcmp0(ctype, "application/json") == 0 && obj != NULL &&
	     (webhook ? fake_webhook_body_ok(obj)
		      : g_strcmp0(path, "/" FAKE_API_VERSION "/" FAKE_PHONE_ID "/messages") == 0 &&
			    fake_cloud_body_ok(obj, &is_text));

	g_mutex_lock(&self->lock);
	g_ptr_array_add(self->bodies, g_strdup(text));
	if (!ok)
		self->violations++;
	behaviour = g_queue_pop_head(&self->script);
	if (behaviour == NULL)
		behaviour = g_strdup(self->behaviour);
	serial = ++self->serial;
	g_cond_broadcast(&self->cond);
	g_mutex_unlock(&self->lock);

	if (!ok) {
		g_printerr("fake provider: bad request to %s: %s\n", path, text);
		fake_reply_error(msg, 400, 100, "Invalid parameter");
		return;
	}
	if (g_strcmp0(behaviour, "hang") == 0) {
		soup_server_message_pause(msg);
		g_ptr_array_add(self->hung, g_object_ref(msg));
		return;
	}
	if (g_strcmp0(behaviour, "500") == 0) {
		fake_reply(msg, 500, "internal error");
		return;
	}
	if (g_strcmp0(behaviour, "garbage") == 0) {
		fake_reply(msg, 200, "<html>this is not the Graph API</html>");
		return;
	}
	if (g_strcmp0(behaviour, "429") == 0) {
		fake_reply_error(msg, 429, 130429, "Rate limit hit");
		return;
	}
	if (g_strcmp0(behaviour, "131026") == 0) {
		fake_reply_error(msg, 400, 131026, "Message undeliverable");
		return;
	}
	if (g_strcmp0(behaviour, "131047-text") == 0 && is_text) {
		fake_reply_error(msg, 400, 131047, "Re-engagement message");
		return;
	}
	if (webhook) {
		g_autofree gchar *body = g_strdup_printf("{\"id\":\"agent-%u\"}", serial);
		fake_reply(msg, 200, body);
	} else {
		const gchar *to = fake_string(obj, "to");
		g_autofree gchar *body =
		    g_strdup_printf("{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":"
				    "\"%s\",\"wa_id\":\"%s\"}],\"messages\":[{\"id\":\"wamid.TEST%u\"}]}",
				    to,
				    to,
				    serial);
		fake_reply(msg, 200, body);
	}
}

static gpointer
fake_thread(gpointer user_data)
{
	FakeProvider *self = user_data;
	g_autoptr(GError) error = NULL;

	g_main_context_push_thread_default(self->context);
	self->server = soup_server_new(NULL, NULL);
	soup_server_add_handler(self->server, "/", fake_handler, self, NULL);
	{
		g_autoptr(GInetAddress) inet = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
		g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(inet, 0);
		g_autoptr(GSocketAddress) bound = NULL;
		g_autoptr(GSocket) socket = g_socket_new(G_SOCKET_FAMILY_IPV4,
							 G_SOCKET_TYPE_STREAM,
							 G_SOCKET_PROTOCOL_TCP,
							 &error);
		if (socket == NULL || !g_socket_bind(socket, addr, TRUE, &error) ||
		    !g_socket_listen(socket, &error))
			g_error("fake provider cannot listen: %s", error->message);
		bound = g_socket_get_local_address(socket, &error);
		g_assert_no_error(error);
		if (!soup_server_listen_socket(self->server, socket, 0, &error))
			g_error("fake provider cannot listen: %s", error->message);
		g_mutex_lock(&self->lock);
		self->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
		self->started = TRUE;
		g_cond_broadcast(&self->cond);
		g_mutex_unlock(&self->lock);
	}

	g_main_loop_run(self->loop);

	for (guint i = 0; i < self->hung->len; i++) {
		SoupServerMessage *msg = g_ptr_array_index(self->hung, i);
		fake_reply(msg, 503, "stopping");
		soup_server_message_unpause(msg);
	}
	g_ptr_array_set_size(self->hung, 0);
	/* let those answers go out and their connections close */
	{
		gint64 until = g_get_monotonic_time() + 300 * 1000;
		while (g_get_monotonic_time() < until) {
			if (!g_main_context_iteration(self->context, FALSE))
				g_usleep(5000);
		}
	}
	soup_server_disconnect(self->server);
	while (g_main_context_iteration(self->context, FALSE))
		;
	g_clear_object(&self->server);
	while (g_main_context_iteration(self->context, FALSE))
		;
	g_main_context_pop_thread_default(self->context);
	return NULL;
}

FakeProvider *
fake_provider_new(void)
{
	FakeProvider *self = g_new0(FakeProvider, 1);
	g_mutex_init(&self->lock);
	g_cond_init(&self->cond);
	g_queue_init(&self->script);
	self->behaviour = g_strdup("ok");
	self->bodies = g_ptr_array_new_with_free_func(g_free);
	self->hung = g_ptr_array_new_with_free_func(g_object_unref);
	self->context = g_main_context_new();
	self->loop = g_main_loop_new(self->context, FALSE);
	self->thread = g_thread_new("fake-provider", fake_thread, self);
	g_mutex_lock(&self->lock);
	while (!self->started)
		g_cond_wait(&self->cond, &self->lock);
	g_mutex_unlock(&self->lock);
	return self;
}

guint16
fake_provider_get_port(FakeProvider *self)
{
	return self->port;
}

void
fake_provider_set_default(FakeProvider *self, const gchar *behaviour)
{
	g_mutex_lock(&self->lock);
	g_free(self->behaviour);
	self->behaviour = g_strdup(behaviour);
	g_mutex_unlock(&self->lock);
}

void
fake_provider_script(FakeProvider *self, const gchar *first, ...)
{
	va_list args;
	g_mutex_lock(&self->lock);
	va_start(args, first);
	for (const gchar *b = first; b != NULL; b = va_arg(args, const gchar *))
		g_queue_push_tail(&self->script, g_strdup(b));
	va_end(args);
	g_mutex_unlock(&self->lock);
}

guint
fake_provider_get_count(FakeProvider *self)
{
	guint n;
	g_mutex_lock(&self->lock);
	n = self->bodies->len;
	g_mutex_unlock(&self->lock);
	return n;
}

guint
fake_provider_get_violations(FakeProvider *self)
{
	guint n;
	g_mutex_lock(&self->lock);
	n = self->violations;
	g_mutex_unlock(&self->lock);
	return n;
}

JsonNode *
fake_provider_get_body(FakeProvider *self, guint index)
{
	g_autofree gchar *text = NULL;
	g_mutex_lock(&self->lock);
	if (index < self->bodies->len)
		text = g_strdup(g_ptr_array_index(self->bodies, index));
	g_mutex_unlock(&self->lock);
	if (text == NULL)
		return NULL;
	return json_from_string(text, NULL);
}

gboolean
fake_provider_wait_count(FakeProvider *self, guint count, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	gboolean ok = TRUE;
	g_mutex_lock(&self->lock);
	while (self->bodies->len < count) {
		if (!g_cond_wait_until(&self->cond, &self->lock, deadline)) {
			ok = self->bodies->len >= count;
			break;
		}
	}
	g_mutex_unlock(&self->lock);
	return ok;
}

static gboolean
fake_quit_cb(gpointer user_data)
{
	g_main_loop_quit(user_data);
	return G_SOURCE_REMOVE;
}

void
fake_provider_free(FakeProvider *self)
{
	g_autoptr(GSource) source = g_idle_source_new();
	g_source_set_callback(source, fake_quit_cb, self->loop, NULL);
	g_source_attach(source, self->context);
	g_thread_join(self->thread);
	g_main_loop_unref(self->loop);
	g_main_context_unref(self->context);
	g_queue_clear_full(&self->script, g_free);
	g_ptr_array_unref(self->bodies);
	g_ptr_array_unref(self->hung);
	g_free(self->behaviour);
	g_mutex_clear(&self->lock);
	g_cond_clear(&self->cond);
	g_free(self);
}
