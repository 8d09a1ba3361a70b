/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <jwt.h>

#include "herald-auth.h"
#include "herald-error.h"

struct _HeraldIdentity {
	gint refcount;
	gchar *user_id;
	gchar *role;
	gint64 expires;
	JsonObject *claims; /* (owned) sealed */
};

G_DEFINE_BOXED_TYPE(HeraldIdentity, herald_identity, herald_identity_ref, herald_identity_unref)

HeraldIdentity *
herald_identity_new(const gchar *user_id, const gchar *role, gint64 expires, JsonObject *claims)
{
	HeraldIdentity *self = g_new0(HeraldIdentity, 1);
	self->refcount = 1;
	self->user_id = g_strdup(user_id);
	self->role = g_strdup(role);
	self->expires = expires;
	self->claims = claims != NULL ? json_object_ref(claims) : json_object_new();
	json_object_seal(self->claims);
	return self;
}

HeraldIdentity *
herald_identity_ref(HeraldIdentity *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	g_atomic_int_inc(&self->refcount);
	return self;
}

void
herald_identity_unref(HeraldIdentity *self)
{
	g_return_if_fail(self != NULL);
	if (!g_atomic_int_dec_and_test(&self->refcount))
		return;
	g_free(self->user_id);
	g_free(self->role);
	json_object_unref(self->claims);
	g_free(self);
}

const gchar *
herald_identity_get_user_id(HeraldIdentity *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->user_id;
}

const gchar *
herald_identity_get_role(HeraldIdentity *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->role;
}

gint64
herald_identity_get_expires(HeraldIdentity *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->expires;
}

JsonObject *
herald_identity_get_claims(HeraldIdentity *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->claims;
}

static gchar *
herald_json_scalar_to_string(JsonNode *node)
{
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node))
		return NULL;
	switch (json_node_get_value_type(node)) {
	case G_TYPE_STRING:
		return g_strdup(json_node_get_string(node));
	case G_TYPE_INT64:
		return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
	case G_TYPE_BOOLEAN:
		return g_strdup(json_node_get_boolean(node) ? "true" : "false");
	default:
		return NULL;
	}
}

/* strings as they are, integers in decimal, booleans true/false */
gchar *
herald_identity_get_claim_string(HeraldIdentity *self, const gchar *claim)
{
	g_return_val_if_fail(self != NULL, NULL);
	return herald_json_scalar_to_string(json_object_get_member(self->claims, claim));
}

struct _HeraldAuth {
	GObject parent_instance;
	GPtrArray *algs; /* (element-type utf8) allowed header algs */
	GBytes *secret;	 /* (nullable) HS* key */
	gchar *public_key; /* (nullable) PEM for RS and ES algorithms */
	gchar *issuer;
	gchar *audience;
	gint64 leeway;
	gchar *user_claim;
	gchar *role_claim;
	gchar **service_roles;
	gchar **admin_roles;
	guint64 max_token_bytes;
	gboolean require_exp;
};

G_DEFINE_FINAL_TYPE(HeraldAuth, herald_auth, G_TYPE_OBJECT)

static const HeraldConfigKey auth_keys[] = {
    {"algorithms",
     HERALD_CONFIG_LIST,
     "HS256",
     0,
     9,
     NULL,
     HERALD_CONFIG_FLAG_NOT_EMPTY,
     "accepted token algorithms: HS256 HS384 HS512 RS256 RS384 RS512 ES256 ES384 ES512"},
    {"secret", HERALD_CONFIG_SECRET, NULL, 0, 0, NULL, 0, "shared secret for HS* tokens"},
    {"public-key-file",
     HERALD_CONFIG_STRING,
     NULL,
     0,
     0,
     NULL,
     0,
     "PEM public key for RS* and ES* tokens"},
    {"issuer", HERALD_CONFIG_STRING, NULL, 0, 0, NULL, 0, "required iss claim, when set"},
    {"audience", HERALD_CONFIG_STRING, NULL, 0, 0, NULL, 0, "required aud claim, when set"},
    {"leeway-s", HERALD_CONFIG_UINT, "30", 0, 3600, NULL, 0, "clock skew allowed for exp and nbf"},
    {"require-exp", HERALD_CONFIG_BOOLEAN, "true", 0, 0, NULL, 0, "refuse tokens without exp"},
    {"user-claim", HERALD_CONFIG_STRING, "sub", 0, 0, NULL, HERALD_CONFIG_FLAG_NOT_EMPTY,
     "claim holding the user id (falls back to user_id)"},
    {"role-claim", HERALD_CONFIG_STRING, "role", 0, 0, NULL, HERALD_CONFIG_FLAG_NOT_EMPTY,
     "claim holding the role"},
    {"service-roles", HERALD_CONFIG_LIST, "SERVICE", 0, 32, NULL, 0,
     "roles allowed on the publish and notification APIs"},
    {"admin-roles", HERALD_CONFIG_LIST, "ADMIN", 0, 32, NULL, 0,
     "roles allowed on /stats and /metrics from outside loopback"},
    {"max-token-bytes", HERALD_CONFIG_UINT, "8192", 256, 65536, NULL, 0,
     "longer tokens are refused before parsing"},
};

const HeraldConfigKey *
herald_auth_get_config_keys(guint *n_keys)
{
	*n_keys = G_N_ELEMENTS(auth_keys);
	return auth_keys;
}

static const gchar *const known_algs[] =
    {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", NULL};

static gboolean
herald_auth_alg_is_hmac(const gchar *alg)
{
	return g_str_has_prefix(alg, "HS");
}

HeraldAuth *
herald_auth_new(HeraldConfig *config, GError **error)
{
	g_autoptr(HeraldAuth) self = g_object_new(HERALD_TYPE_AUTH, NULL);
	g_auto(GStrv) algs = herald_config_get_strv(config, "auth", "algorithms");
	g_autofree gchar *secret = NULL;
	const gchar *pubkey_fn = herald_config_get_string(config, "auth", "public-key-file");
	gboolean need_secret = FALSE;
	gboolean need_pubkey = FALSE;

	for (guint i = 0; algs[i] != NULL; i++) {
		if (!g_strv_contains(known_algs, algs[i])) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: %s is an algorithm name */
				    _("[auth] algorithms: '%s' is not supported (use HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384 or ES512)"),
				    algs[i]);
			return NULL;
		}
		if (herald_auth_alg_is_hmac(algs[i]))
			need_secret = TRUE;
		else
			need_pubkey = TRUE;
		g_ptr_array_add(self->algs, g_strdup(algs[i]));
	}
	secret = herald_config_get_secret(config, "auth", "secret", error);
	if (secret == NULL && error != NULL && *error != NULL)
		return NULL;
	if (need_secret && (secret == NULL || secret[0] == '\0')) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: configuration error */
			    _("[auth] algorithms lists an HS algorithm but neither secret nor secret-file is set"));
		return NULL;
	}
	if (secret != NULL) {
		gsize len = strlen(secret);
		self->secret = g_bytes_new_take(g_steal_pointer(&secret), len);
	}
	if (need_pubkey) {
		g_autoptr(GError) error_local = NULL;
		if (pubkey_fn == NULL || pubkey_fn[0] == '\0') {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: configuration error */
				    _("[auth] algorithms lists an RS or ES algorithm but public-key-file is not set"));
			return NULL;
		}
		if (!g_file_get_contents(pubkey_fn, &self->public_key, NULL, &error_local)) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    "[auth] public-key-file: %s",
				    error_local->message);
			return NULL;
		}
	}
	self->issuer = g_strdup(herald_config_get_string(config, "auth", "issuer"));
	self->audience = g_strdup(herald_config_get_string(config, "auth", "audience"));
	self->leeway = (gint64)herald_config_get_uint64(config, "auth", "leeway-s");
	self->require_exp = herald_config_get_boolean(config, "auth", "require-exp");
	self->user_claim = g_strdup(herald_config_get_string(config, "auth", "user-claim"));
	self->role_claim = g_strdup(herald_config_get_string(config, "auth", "role-claim"));
	self->service_roles = herald_config_get_strv(config, "auth", "service-roles");
	self->admin_roles = herald_config_get_strv(config, "auth", "admin-roles");
	self->max_token_bytes = herald_config_get_uint64(config, "auth", "max-token-bytes");
	return g_steal_pointer(&self);
}

static gboolean
herald_auth_fail(GError **error, HeraldError code, const gchar *message)
{
	g_set_error_literal(error, HERALD_ERROR, code, message);
	return FALSE;
}

/* the header's alg, read before any key is used */
static gchar *
herald_auth_header_alg(const gchar *token)
{
	const gchar *dot = strchr(token, '.');
	g_autofree gchar *b64 = NULL;
	g_autofree guchar *raw = NULL;
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	gsize len = 0;
	gsize b64_len;
	JsonNode *root;
	JsonNode *alg;

	if (dot == NULL || dot == token)
		return NULL;
	/* base64url → base64 with padding */
	b64_len = dot - token;
	b64 = g_malloc0(b64_len + 4);
	for (gsize i = 0; i < b64_len; i++) {
		gchar c = token[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!g_ascii_isalnum(c))
			return NULL;
		b64[i] = c;
	}
	while (b64_len % 4 != 0)
		b64[b64_len++] = '=';
	raw = g_base64_decode(b64, &len);
	if (raw == NULL || len == 0 || !g_utf8_validate((const gchar *)raw, (gssize)len, NULL))
		return NULL;
	if (!json_parser_load_from_data(parser, (const gchar *)raw, (gssize)len, NULL))
		return NULL;
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		return NULL;
	alg = json_object_get_member(json_node_get_object(root), "alg");
	if (alg == NULL || json_node_get_value_type(alg) != G_TYPE_STRING)
		return g_strdup("");
	return g_strdup(json_node_get_string(alg));
}

static gboolean
herald_auth_token_is_wellformed(const gchar *token)
{
	guint dots = 0;
	for (const gchar *p = token; *p != '\0'; p++) {
		if (*p == '.')
			dots++;
		else if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '=')
			return FALSE;
	}
	return dots == 2;
}

static gboolean
herald_auth_number_claim(JsonObject *claims, const gchar *name, gint64 *out, gboolean *present)
{
	JsonNode *node = json_object_get_member(claims, name);
	*present = node != NULL;
	if (node == NULL)
		return TRUE;
	if (!JSON_NODE_HOLDS_VALUE(node))
		return FALSE;
	if (json_node_get_value_type(node) == G_TYPE_INT64) {
		*out = json_node_get_int(node);
		return TRUE;
	}
	if (json_node_get_value_type(node) == G_TYPE_DOUBLE) {
		*out = (gint64)json_node_get_double(node);
		return TRUE;
	}
	return FALSE;
}

static gboolean
herald_auth_audience_ok(HeraldAuth *self, JsonObject *claims)
{
	JsonNode *aud = json_object_get_member(claims, "aud");
	if (aud == NULL)
		return FALSE;
	if (JSON_NODE_HOLDS_VALUE(aud) && json_node_get_value_type(aud) == G_TYPE_STRING)
		return g_strcmp0(json_node_get_string(aud), self->audience) == 0;
	if (JSON_NODE_HOLDS_ARRAY(aud)) {
		JsonArray *array = json_node_get_array(aud);
		for (guint i = 0; i < json_array_get_length(array); i++) {
			JsonNode *item = json_array_get_element(array, i);
			if (JSON_NODE_HOLDS_VALUE(item) &&
			    json_node_get_value_type(item) == G_TYPE_STRING &&
			    g_strcmp0(json_node_get_string(item), self->audience) == 0)
				return TRUE;
		}
	}
	return FALSE;
}

/**
 * herald_auth_verify:
 *
 * Verifies @token with the pinned algorithms and keys and checks its claims.
 * Error messages never contain the token.
 */
HeraldIdentity *
herald_auth_verify(HeraldAuth *self, const gchar *token, GError **error)
{
	g_autofree gchar *header_alg = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autofree gchar *user_id = NULL;
	g_autofree gchar *role = NULL;
	JsonObject *claims;
	jwt_t *jwt = NULL;
	const guchar *key;
	gsize key_len;
	gchar *grants;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	gint64 exp = 0;
	gint64 nbf = 0;
	gint64 iat = 0;
	gboolean present = FALSE;
	gint rc;

	g_return_val_if_fail(HERALD_IS_AUTH(self), NULL);
	if (token == NULL || token[0] == '\0') {
		/* TRANSLATORS: authentication error */
		herald_auth_fail(error, HERALD_ERROR_UNAUTHENTICATED, _("missing token"));
		return NULL;
	}
	if (strlen(token) > self->max_token_bytes) {
		/* TRANSLATORS: authentication error */
		herald_auth_fail(error, HERALD_ERROR_UNAUTHENTICATED, _("token is too large"));
		return NULL;
	}
	if (!herald_auth_token_is_wellformed(token)) {
		/* TRANSLATORS: authentication error */
		herald_auth_fail(error, HERALD_ERROR_UNAUTHENTICATED, _("malformed token"));
		return NULL;
	}
	header_alg = herald_auth_header_alg(token);
	if (header_alg == NULL) {
		herald_auth_fail(error, HERALD_ERROR_UNAUTHENTICATED, _("malformed token"));
		return NULL;
	}
	if (!g_strv_contains((const gchar *const *)self->algs->pdata, header_alg)) {
		g_autofree gchar *shown = g_strndup(header_alg, 16);
		g_strcanon(shown, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", '?');
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_UNAUTHENTICATED,
			    /* TRANSLATORS: authentication error; %s is an algorithm */
			    _("token algorithm '%s' is not allowed"),
			    shown);
		return NULL;
	}
	if (herald_auth_alg_is_hmac(header_alg)) {
		key = self->secret != NULL ? g_bytes_get_data(self->secret, &key_len) : NULL;
		if (self->secret == NULL)
			key_len = 0;
	} else {
		key = (const guchar *)self->public_key;
		key_len = self->public_key != NULL ? strlen(self->public_key) : 0;
	}
	if (key == NULL || key_len == 0) {
		/* never call jwt_decode without a key: it would skip verification */
		herald_auth_fail(error, HERALD_ERROR_UNAUTHENTICATED, _("token signature is invalid"));
		return NULL;
	}
	rc = jwt_decode(&jwt, token, key, (int)key_len);
	if (rc != 0 || jwt == NULL) {
		if (jwt != NULL)
			jwt_free(jwt);
		/* TRANSLATORS: authentication error */
		herald_auth_fail(error, HERALD_ERROR_UNAUTHENTICATED, _("token signature is invalid"));
		return NULL;
	}
	/* the alg libjwt verified with must be the one we allowed */
	if (g_strcmp0(jwt_alg_str(jwt_get_alg(jwt)), header_alg) != 0) {
		jwt_free(jwt);
		herald_auth_fail(error, HERALD_ERROR_UNAUTHENTICATED, _("token signature is invalid"));
		return NULL;
	}
	grants = jwt_get_grants_json(jwt, NULL);
	jwt_free(jwt);
	if (grants == NULL || !json_parser_load_from_data(parser, grants, -1, NULL) ||
	    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
		free(grants);
		herald_auth_fail(error, HERALD_ERROR_UNAUTHENTICATED, _("malformed token"));
		return NULL;
	}
	free(grants);
	claims = json_node_get_object(json_parser_get_root(parser));

	if (!herald_auth_number_claim(claims, "exp", &exp, &present)) {
		/* TRANSLATORS: authentication error; %s is a claim name */
		g_set_error(error, HERALD_ERROR, HERALD_ERROR_UNAUTHENTICATED, _("token claim '%s' is not a number"), "exp");
		return NULL;
	}
	if (!present && self->require_exp) {
		/* TRANSLATORS: authentication error; %s is a claim name */
		g_set_error(error, HERALD_ERROR, HERALD_ERROR_UNAUTHENTICATED, _("token has no '%s' claim"), "exp");
		return NULL;
	}
	if (present && now >= exp + self->leeway) {
		/* TRANSLATORS: authentication error */
		herald_auth_fail(error, HERALD_ERROR_TOKEN_EXPIRED, _("token expired"));
		return NULL;
	}
	if (!present)
		exp = 0;
	if (!herald_auth_number_claim(claims, "nbf", &nbf, &present)) {
		g_set_error(error, HERALD_ERROR, HERALD_ERROR_UNAUTHENTICATED, _("token claim '%s' is not a number"), "nbf");
		return NULL;
	}
	if (present && nbf > now + self->leeway) {
		/* TRANSLATORS: authentication error */
		herald_auth_fail(error, HERALD_ERROR_UNAUTHENTICATED, _("token not yet valid"));
		return NULL;
	}
	if (!herald_auth_number_claim(claims, "iat", &iat, &present)) {
		g_set_error(error, HERALD_ERROR, HERALD_ERROR_UNAUTHENTICATED, _("token claim '%s' is not a number"), "iat");
		return NULL;
	}
	if (self->issuer != NULL && self->issuer[0] != '\0') {
		JsonNode *iss = json_object_get_member(claims, "iss");
		if (iss == NULL || json_node_get_value_type(iss) != G_TYPE_STRING ||
		    g_strcmp0(json_node_get_string(iss), self->issuer) != 0) {
			/* TRANSLATORS: authentication error */
			herald_auth_fail(error, HERALD_ERROR_UNAUTHENTICATED, _("token issuer is not accepted"));
			return NULL;
		}
	}
	if (self->audience != NULL && self->audience[0] != '\0' && !herald_auth_audience_ok(self, claims)) {
		/* TRANSLATORS: authentication error */
		herald_auth_fail(error, HERALD_ERROR_UNAUTHENTICATED, _("token audience is not accepted"));
		return NULL;
	}
	user_id = herald_json_scalar_to_string(json_object_get_member(claims, self->user_claim));
	if (user_id == NULL || user_id[0] == '\0') {
		g_free(user_id);
		user_id = herald_json_scalar_to_string(json_object_get_member(claims, "user_id"));
	}
	if (user_id == NULL || user_id[0] == '\0' || strlen(user_id) > 128 ||
	    !g_utf8_validate(user_id, -1, NULL)) {
		g_set_error(error, HERALD_ERROR, HERALD_ERROR_UNAUTHENTICATED, _("token has no '%s' claim"), self->user_claim);
		return NULL;
	}
	for (const gchar *p = user_id; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == 0x7f) {
			/* TRANSLATORS: authentication error */
			herald_auth_fail(error, HERALD_ERROR_UNAUTHENTICATED, _("token user id has control characters"));
			return NULL;
		}
	}
	{
		JsonNode *node = json_object_get_member(claims, self->role_claim);
		if (node == NULL || json_node_get_value_type(node) != G_TYPE_STRING ||
		    json_node_get_string(node)[0] == '\0') {
			g_set_error(error, HERALD_ERROR, HERALD_ERROR_UNAUTHENTICATED, _("token has no '%s' claim"), self->role_claim);
			return NULL;
		}
		role = g_strdup(json_node_get_string(node));
	}
	return herald_identity_new(user_id, role, exp, claims);
}

gboolean
herald_auth_is_service(HeraldAuth *self, HeraldIdentity *identity)
{
	g_return_val_if_fail(HERALD_IS_AUTH(self), FALSE);
	return identity != NULL &&
	       g_strv_contains((const gchar *const *)self->service_roles, identity->role);
}

gboolean
herald_auth_is_admin(HeraldAuth *self, HeraldIdentity *identity)
{
	g_return_val_if_fail(HERALD_IS_AUTH(self), FALSE);
	return identity != NULL &&
	       g_strv_contains((const gchar *const *)self->admin_roles, identity->role);
}

gint64
herald_auth_get_leeway(HeraldAuth *self)
{
	g_return_val_if_fail(HERALD_IS_AUTH(self), 0);
	return self->leeway;
}

static void
herald_auth_init(HeraldAuth *self)
{
	self->algs = g_ptr_array_new_null_terminated(0, g_free, TRUE);
}

static void
herald_auth_finalize(GObject *object)
{
	HeraldAuth *self = HERALD_AUTH(object);
	g_ptr_array_unref(self->algs);
	g_clear_pointer(&self->secret, g_bytes_unref);
	g_free(self->public_key);
	g_free(self->issuer);
	g_free(self->audience);
	g_free(self->user_claim);
	g_free(self->role_claim);
	g_strfreev(self->service_roles);
	g_strfreev(self->admin_roles);
	G_OBJECT_CLASS(herald_auth_parent_class)->finalize(object);
}

static void
herald_auth_class_init(HeraldAuthClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = herald_auth_finalize;
}
