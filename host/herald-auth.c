/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include <errno.h>
#include <fcntl.h>
#include <jwt.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "herald-auth.h"
#include "herald-route.h"
#include "herald-error.h"
#include "herald-file-private.h"
#include "herald-json.h"

/* libjwt 1.10 has no autoptr support of its own */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(jwt_t, jwt_free)

/* a PEM public key is a few KiB at most; anything larger is a wrong path */
#define HERALD_AUTH_PUBLIC_KEY_MAX_BYTES (64 * 1024)

/* fallbacks when the [auth] schema was not registered */
#define HERALD_AUTH_DEFAULT_MAX_TOKEN_BYTES 8192
#define HERALD_AUTH_DEFAULT_USER_CLAIM	    "sub;user_id"
#define HERALD_AUTH_DEFAULT_ROLE_CLAIM	    "role"

/* at most this many user claims are tried, in order */
#define HERALD_AUTH_USER_CLAIMS_MAX 8

/* [auth] api-key-file: how many keys, and how long each may be */
#define HERALD_AUTH_API_KEYS_MAX	 64
#define HERALD_AUTH_API_KEY_MIN_BYTES 32
#define HERALD_AUTH_API_KEY_MAX_BYTES 256

/* how much of a refused header alg is shown back to the client */
#define HERALD_AUTH_ALG_SHOWN_MAX 16

/* HeraldIdentity */

struct _HeraldIdentity {
	gint refcount;
	gchar *user_id;	    /* (nullable) */
	gchar *role;	    /* (nullable) */
	gint64 expires;	    /* exp in seconds since the epoch, 0 when none */
	JsonObject *claims; /* (owned): sealed */
};

G_DEFINE_BOXED_TYPE(HeraldIdentity, herald_identity, herald_identity_ref, herald_identity_unref)

/**
 * herald_identity_new:
 * @user_id: (nullable): the user id
 * @role: (nullable): the role
 * @expires: the `exp` claim in seconds since the epoch, or 0
 * @claims: (nullable): every claim; a reference is taken and the object is sealed
 *
 * Creates an identity; herald_auth_verify() is the usual source, tests and
 * plugins may build their own.
 *
 * Returns: (transfer full): a new #HeraldIdentity
 *
 * Since: 0.1
 */
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

/**
 * herald_identity_ref:
 * @self: a #HeraldIdentity
 *
 * Returns: (transfer full): @self
 *
 * Since: 0.1
 */
HeraldIdentity *
herald_identity_ref(HeraldIdentity *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	g_atomic_int_inc(&self->refcount);
	return self;
}

/**
 * herald_identity_unref:
 * @self: a #HeraldIdentity
 *
 * Drops a reference; the last one frees @self.
 *
 * Since: 0.1
 */
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

/**
 * herald_identity_get_user_id:
 * @self: a #HeraldIdentity
 *
 * Returns: (nullable): the user id, e.g. `42`
 *
 * Since: 0.1
 */
const gchar *
herald_identity_get_user_id(HeraldIdentity *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->user_id;
}

/**
 * herald_identity_get_role:
 * @self: a #HeraldIdentity
 *
 * Returns: (nullable): the role, e.g. `SELLER`
 *
 * Since: 0.1
 */
const gchar *
herald_identity_get_role(HeraldIdentity *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->role;
}

/**
 * herald_identity_get_expires:
 * @self: a #HeraldIdentity
 *
 * Returns: the `exp` claim in seconds since the epoch, 0 when the token had none
 *
 * Since: 0.1
 */
gint64
herald_identity_get_expires(HeraldIdentity *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->expires;
}

/**
 * herald_identity_get_claims:
 * @self: a #HeraldIdentity
 *
 * Returns: (transfer none): every claim of the token, sealed
 *
 * Since: 0.1
 */
JsonObject *
herald_identity_get_claims(HeraldIdentity *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->claims;
}

/* strings as they are, integers in decimal, booleans true/false; NULL otherwise */
static gchar *
herald_auth_scalar_to_string(JsonNode *node)
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

/**
 * herald_identity_get_claim_string:
 * @self: a #HeraldIdentity
 * @claim: a claim name, e.g. `seller_id`
 *
 * A claim as text, for claim filters: strings as they are, integers in
 * decimal, booleans as `true` or `false`.
 *
 * Returns: (transfer full) (nullable): the text, or %NULL when @claim is
 *   missing, `null`, a fraction, an array or an object
 *
 * Since: 0.1
 */
gchar *
herald_identity_get_claim_string(HeraldIdentity *self, const gchar *claim)
{
	g_return_val_if_fail(self != NULL, NULL);
	g_return_val_if_fail(claim != NULL, NULL);
	return herald_auth_scalar_to_string(json_object_get_member(self->claims, claim));
}

/* HeraldAuth */

/* what verifies an algorithm: the shared secret, or a public key of one kind */
typedef enum {
	HERALD_AUTH_KEY_SECRET,
	HERALD_AUTH_KEY_RSA,
	HERALD_AUTH_KEY_EC_P256,
	HERALD_AUTH_KEY_EC_P384,
	HERALD_AUTH_KEY_EC_P521,
	HERALD_AUTH_KEY_UNKNOWN,
} HeraldAuthKeyKind;

typedef struct {
	const gchar *name;
	jwt_alg_t alg;
	HeraldAuthKeyKind key_kind;
} HeraldAuthAlg;

/* every algorithm [auth] algorithms may list; never none */
static const HeraldAuthAlg herald_auth_algs[] = {
    {"HS256", JWT_ALG_HS256, HERALD_AUTH_KEY_SECRET},
    {"HS384", JWT_ALG_HS384, HERALD_AUTH_KEY_SECRET},
    {"HS512", JWT_ALG_HS512, HERALD_AUTH_KEY_SECRET},
    {"RS256", JWT_ALG_RS256, HERALD_AUTH_KEY_RSA},
    {"RS384", JWT_ALG_RS384, HERALD_AUTH_KEY_RSA},
    {"RS512", JWT_ALG_RS512, HERALD_AUTH_KEY_RSA},
    {"ES256", JWT_ALG_ES256, HERALD_AUTH_KEY_EC_P256},
    {"ES384", JWT_ALG_ES384, HERALD_AUTH_KEY_EC_P384},
    {"ES512", JWT_ALG_ES512, HERALD_AUTH_KEY_EC_P521},
};

struct _HeraldAuth {
	GObject parent_instance;
	GPtrArray *algs;      /* (element-type HeraldAuthAlg) (unowned): allowed header algs */
	GBytes *secret;	      /* (nullable): HS* key, only when an HS alg is allowed */
	GBytes *public_key;   /* (nullable): PEM text without NUL, for RS* and ES* */
	gchar *issuer;	      /* (nullable): checked when set */
	gchar *audience;      /* (nullable): checked when set */
	gint64 leeway;	      /* seconds of clock skew for exp and nbf */
	gboolean require_exp; /* a token without exp is refused */
	gchar **user_claims; /* tried in order, the first holding an id wins */
	gchar *role_claim;
	gchar **service_roles;
	gchar **admin_roles;
	gsize max_token_bytes;
	GByteArray *api_key_digests; /* (nullable): SHA-256 of each API key, 32 bytes each */
};

G_DEFINE_FINAL_TYPE(HeraldAuth, herald_auth, G_TYPE_OBJECT)

/* the order is the order of `heraldd --dump-config` and data/herald.conf */
static const HeraldConfigKey herald_auth_keys[] = {
    {"algorithms",
     HERALD_CONFIG_LIST,
     "HS256",
     0,
     G_N_ELEMENTS(herald_auth_algs),
     NULL,
     HERALD_CONFIG_FLAG_NOT_EMPTY,
     "accepted token algorithms: HS256 HS384 HS512 RS256 RS384 RS512 ES256 ES384 ES512"},
    {"secret",
     HERALD_CONFIG_SECRET,
     NULL,
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "shared secret for HS* tokens: at least 32 bytes for HS256, 48 for HS384, 64 for HS512"},
    {"public-key-file",
     HERALD_CONFIG_STRING,
     NULL,
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "PEM public key for RS* and ES* tokens"},
    {"issuer",
     HERALD_CONFIG_STRING,
     NULL,
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "required iss claim, when set"},
    {"audience",
     HERALD_CONFIG_STRING,
     NULL,
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "required aud claim, when set"},
    {"leeway-s",
     HERALD_CONFIG_UINT,
     "30",
     0,
     3600,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "clock skew allowed for exp and nbf"},
    {"require-exp",
     HERALD_CONFIG_BOOLEAN,
     "true",
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "refuse tokens without exp"},
    {"user-claim",
     HERALD_CONFIG_LIST,
     HERALD_AUTH_DEFAULT_USER_CLAIM,
     1,
     HERALD_AUTH_USER_CLAIMS_MAX,
     NULL,
     HERALD_CONFIG_FLAG_NOT_EMPTY,
     "claims holding the user id, tried in order: the first present wins"},
    {"role-claim",
     HERALD_CONFIG_STRING,
     HERALD_AUTH_DEFAULT_ROLE_CLAIM,
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_NOT_EMPTY,
     "claim holding the role"},
    {"service-roles",
     HERALD_CONFIG_LIST,
     "SERVICE",
     0,
     32,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "roles allowed on the publish and notification APIs"},
    {"admin-roles",
     HERALD_CONFIG_LIST,
     "ADMIN",
     0,
     32,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "roles allowed on /stats and /metrics from outside loopback"},
    {"max-token-bytes",
     HERALD_CONFIG_UINT,
     "8192",
     256,
     65536,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "longer tokens are refused before parsing"},
    {"api-key",
     HERALD_CONFIG_SECRET,
     NULL,
     0,
     0,
     NULL,
     HERALD_CONFIG_FLAG_NONE,
     "API keys for the service endpoints (X-API-Key: or Authorization: apikey), "
     "one per line of api-key-file, at most 64, each 32 to 256 printable characters "
     "without spaces; they grant a service role only"},
};

/**
 * herald_auth_get_config_keys:
 * @n_keys: (out): the number of keys
 *
 * The schema of the `[auth]` group, registered by the host. `secret` is a
 * %HERALD_CONFIG_SECRET, so `secret-file` exists too.
 *
 * Returns: (array length=n_keys) (transfer none): a static table
 *
 * Since: 0.1
 */
const HeraldConfigKey *
herald_auth_get_config_keys(guint *n_keys)
{
	g_return_val_if_fail(n_keys != NULL, NULL);
	*n_keys = G_N_ELEMENTS(herald_auth_keys);
	return herald_auth_keys;
}

static const HeraldAuthAlg *
herald_auth_alg_find(const gchar *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(herald_auth_algs); i++) {
		if (g_strcmp0(herald_auth_algs[i].name, name) == 0)
			return &herald_auth_algs[i];
	}
	return NULL;
}

/* configuration */

static gboolean
herald_auth_load_algorithms(HeraldAuth *self, HeraldConfig *config, GError **error)
{
	g_auto(GStrv) names = herald_config_get_strv(config, "auth", "algorithms");

	for (guint i = 0; names != NULL && names[i] != NULL; i++) {
		const HeraldAuthAlg *alg = herald_auth_alg_find(names[i]);
		if (alg == NULL) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: configuration error; %s is what the user wrote */
				    _("[auth] algorithms: '%s' is not supported (use HS256, HS384, "
				      "HS512, RS256, RS384, RS512, ES256, ES384 or ES512)"),
				    names[i]);
			return FALSE;
		}
		if (!g_ptr_array_find(self->algs, alg, NULL))
			g_ptr_array_add(self->algs, (gpointer)alg);
	}
	if (self->algs->len == 0) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: configuration error */
				    _("[auth] algorithms lists no algorithm"));
		return FALSE;
	}
	return TRUE;
}

/* the first allowed algorithm verified with the secret, else NULL */
static const HeraldAuthAlg *
herald_auth_find_alg_for_secret(HeraldAuth *self)
{
	for (guint i = 0; i < self->algs->len; i++) {
		const HeraldAuthAlg *alg = g_ptr_array_index(self->algs, i);
		if (alg->key_kind == HERALD_AUTH_KEY_SECRET)
			return alg;
	}
	return NULL;
}

/* the first allowed algorithm verified with the public key, else NULL */
static const HeraldAuthAlg *
herald_auth_find_alg_for_public_key(HeraldAuth *self)
{
	for (guint i = 0; i < self->algs->len; i++) {
		const HeraldAuthAlg *alg = g_ptr_array_index(self->algs, i);
		if (alg->key_kind != HERALD_AUTH_KEY_SECRET)
			return alg;
	}
	return NULL;
}

/* RFC 7518 section 3.2: a key of the same size as the hash output or larger */
static gsize
herald_auth_alg_min_secret_bytes(const HeraldAuthAlg *alg)
{
	switch (alg->alg) {
	case JWT_ALG_HS256:
		return 32;
	case JWT_ALG_HS384:
		return 48;
	case JWT_ALG_HS512:
		return 64;
	default:
		return 0;
	}
}

/* the allowed HS algorithm that needs the longest secret, else NULL */
static const HeraldAuthAlg *
herald_auth_find_alg_longest_secret(GPtrArray *algs)
{
	const HeraldAuthAlg *best = NULL;
	for (guint i = 0; i < algs->len; i++) {
		const HeraldAuthAlg *alg = g_ptr_array_index(algs, i);
		if (alg->key_kind != HERALD_AUTH_KEY_SECRET)
			continue;
		if (best == NULL ||
		    herald_auth_alg_min_secret_bytes(alg) > herald_auth_alg_min_secret_bytes(best))
			best = alg;
	}
	return best;
}

static gchar *
herald_auth_secret_too_short_message(gsize len, const HeraldAuthAlg *alg)
{
	g_autofree gchar *len_str = g_strdup_printf("%" G_GSIZE_FORMAT, len);
	g_autofree gchar *min_str =
	    g_strdup_printf("%" G_GSIZE_FORMAT, herald_auth_alg_min_secret_bytes(alg));
	/* TRANSLATORS: configuration error; a number of bytes, an algorithm (HS256),
	 * and the smallest number of bytes it allows */
	return g_strdup_printf(_("the secret is %s bytes long; %s needs at least %s bytes "
				 "(RFC 7518 section 3.2)"),
			       len_str,
			       alg->name,
			       min_str);
}

/* the secret is only read (and kept in memory) when an HS algorithm needs it */
static gboolean
herald_auth_load_secret(HeraldAuth *self, HeraldConfig *config, GError **error)
{
	const HeraldAuthAlg *alg = herald_auth_find_alg_for_secret(self);
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *secret = NULL;
	gsize len;

	if (alg == NULL)
		return TRUE;
	secret = herald_config_get_secret(config, "auth", "secret", &error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (secret == NULL || secret[0] == '\0') {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: configuration error; %s is an algorithm, e.g. HS256 */
			    _("[auth] algorithms lists %s but neither secret nor secret-file is set"),
			    alg->name);
		return FALSE;
	}
	len = strlen(secret);
	/* a short HMAC key is guessed offline from any one token */
	alg = herald_auth_find_alg_longest_secret(self->algs);
	if (len < herald_auth_alg_min_secret_bytes(alg)) {
		g_autofree gchar *message = herald_auth_secret_too_short_message(len, alg);
		memset(secret, 0, len);
		g_set_error_literal(error, HERALD_ERROR, HERALD_ERROR_CONFIG, message);
		return FALSE;
	}
	self->secret = g_bytes_new_take(g_steal_pointer(&secret), len);
	return TRUE;
}

/* API keys */

/* one line of api-key-file: 32 to 256 printable ASCII characters, no spaces */
static gboolean
herald_auth_api_key_is_valid(const gchar *key, gsize len)
{
	if (len < HERALD_AUTH_API_KEY_MIN_BYTES || len > HERALD_AUTH_API_KEY_MAX_BYTES)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (key[i] <= ' ' || key[i] > '~')
			return FALSE;
	}
	return TRUE;
}

static void
herald_auth_api_key_digest(const gchar *key, gsize len, guint8 digest[32])
{
	g_autoptr(GChecksum) checksum = g_checksum_new(G_CHECKSUM_SHA256);
	gsize digest_len = 32;
	g_checksum_update(checksum, (const guchar *)key, len);
	g_checksum_get_digest(checksum, digest, &digest_len);
}

/* the SHA-256 digests of the keys in @text (one per line, blank lines and
 * surrounding whitespace ignored), or NULL with a message naming the line */
static GByteArray *
herald_auth_parse_api_keys(gchar *text, gchar **message)
{
	g_autoptr(GByteArray) digests = g_byte_array_new();
	guint n = 0;
	guint line = 0;
	gchar *next;

	for (gchar *p = text; p != NULL; p = next) {
		gchar *key;
		gsize len;
		guint8 digest[32];

		next = strchr(p, '\n');
		if (next != NULL)
			*next++ = '\0';
		line++;
		key = g_strstrip(p);
		len = strlen(key);
		if (len == 0)
			continue;
		if (!herald_auth_api_key_is_valid(key, len)) {
			/* TRANSLATORS: configuration error; %u is a line number of
			 * api-key-file; the key itself is never shown */
			*message = g_strdup_printf(_("API key on line %u must be 32 to 256 printable "
						     "characters without spaces"),
						   line);
			return NULL;
		}
		if (++n > HERALD_AUTH_API_KEYS_MAX) {
			/* TRANSLATORS: configuration error; %u is a number of keys */
			*message = g_strdup_printf(_("more than %u API keys"),
						   (guint)HERALD_AUTH_API_KEYS_MAX);
			return NULL;
		}
		herald_auth_api_key_digest(key, len, digest);
		memset(key, 0, len);
		g_byte_array_append(digests, digest, sizeof(digest));
	}
	if (n == 0) {
		/* TRANSLATORS: configuration error */
		*message = g_strdup(_("no API key in it (one key per line)"));
		return NULL;
	}
	return g_steal_pointer(&digests);
}

/* the key that set the API keys, for located problems */
static const gchar *
herald_auth_api_key_config_key(HeraldConfig *config)
{
	const gchar *inline_key = herald_config_get_string(config, "auth", "api-key");
	return inline_key != NULL && inline_key[0] != '\0' ? "api-key" : "api-key-file";
}

static gboolean
herald_auth_load_api_keys(HeraldAuth *self, HeraldConfig *config, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *message = NULL;

	text = herald_config_get_secret(config, "auth", "api-key", &error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (text == NULL)
		return TRUE;
	self->api_key_digests = herald_auth_parse_api_keys(text, &message);
	memset(text, 0, strlen(text));
	if (self->api_key_digests == NULL) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    "[auth] %s: %s",
			    herald_auth_api_key_config_key(config),
			    message);
		return FALSE;
	}
	return TRUE;
}

/* --check-config: a located problem when the API keys do not parse */
static gboolean
herald_auth_check_api_keys(HeraldConfig *config, GPtrArray *problems)
{
	g_autoptr(GByteArray) digests = NULL;
	g_autofree gchar *text = NULL;
	g_autofree gchar *message = NULL;
	const gchar *key;
	HeraldConfigProblem *problem;

	/* unreadable: reported by the host with the file's location */
	text = herald_config_get_secret(config, "auth", "api-key", NULL);
	if (text == NULL)
		return TRUE;
	digests = herald_auth_parse_api_keys(text, &message);
	memset(text, 0, strlen(text));
	if (digests != NULL)
		return TRUE;
	key = herald_auth_api_key_config_key(config);
	problem = g_new0(HeraldConfigProblem, 1);
	problem->file = g_strdup(herald_config_get_origin(config, "auth", key));
	problem->group = g_strdup("auth");
	problem->key = g_strdup(key);
	problem->message = g_steal_pointer(&message);
	g_ptr_array_add(problems, problem);
	return FALSE;
}

/**
 * herald_auth_has_api_keys:
 * @self: a #HeraldAuth
 *
 * Returns: %TRUE when `[auth] api-key` or `api-key-file` set at least one key
 *
 * Since: 0.1
 */
gboolean
herald_auth_has_api_keys(HeraldAuth *self)
{
	g_return_val_if_fail(HERALD_IS_AUTH(self), FALSE);
	return self->api_key_digests != NULL && self->api_key_digests->len > 0;
}

/**
 * herald_auth_verify_api_key:
 * @self: a #HeraldAuth
 * @key: (nullable): the key the caller sent
 * @error: a #GError, or %NULL
 *
 * Checks @key against every configured API key: both sides are hashed with
 * SHA-256 and every digest is compared in full with a loop that does not stop
 * at the first difference nor at the first match, so the time taken does not
 * tell how close a guess was. The key is never logged nor put in @error.
 *
 * Returns: (transfer full): an identity whose role is the first of `[auth]
 *   service-roles` (user id `api-key`), or %NULL with
 *   %HERALD_ERROR_UNAUTHENTICATED
 *
 * Since: 0.1
 */
HeraldIdentity *
herald_auth_verify_api_key(HeraldAuth *self, const gchar *key, GError **error)
{
	guint8 digest[32];
	guint8 found = 0;
	gsize len;

	g_return_val_if_fail(HERALD_IS_AUTH(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	len = key != NULL ? strnlen(key, HERALD_AUTH_API_KEY_MAX_BYTES + 1) : 0;
	herald_auth_api_key_digest(key != NULL ? key : "", len, digest);
	for (guint i = 0; self->api_key_digests != NULL && i + 32 <= self->api_key_digests->len;
	     i += 32) {
		const guint8 *stored = self->api_key_digests->data + i;
		guint8 diff = 0;
		for (guint j = 0; j < 32; j++)
			diff |= (guint8)(stored[j] ^ digest[j]);
		/* 1 when diff is 0, without a branch on it */
		found |= (guint8)(1 & ((diff - 1) >> 8));
	}
	if (!found || len == 0 || len > HERALD_AUTH_API_KEY_MAX_BYTES || self->service_roles == NULL ||
	    self->service_roles[0] == NULL) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNAUTHENTICATED,
				    /* TRANSLATORS: authentication error (HTTP 401) */
				    _("invalid API key"));
		return NULL;
	}
	return herald_identity_new("api-key", self->service_roles[0], 0, NULL);
}

/**
 * herald_auth_check_config:
 * @config: a validated configuration
 * @problems: (element-type HeraldConfigProblem): where to add problems
 *
 * The `[auth]` problems herald_auth_new() can only report without a location,
 * located for `--check-config`: an HS* secret shorter than its algorithm's
 * hash (32 bytes for HS256, 48 for HS384, 64 for HS512), reported at the
 * `secret` or `secret-file` that set it; API keys in `api-key` or
 * `api-key-file` that are not one key per line of 32 to 256 printable
 * characters (at most 64). The messages are the ones herald_auth_new() sets,
 * so that a caller reporting both can drop the repeat.
 *
 * Returns: %FALSE when a problem was added
 *
 * Since: 0.1
 */
gboolean
herald_auth_check_config(HeraldConfig *config, GPtrArray *problems)
{
	g_auto(GStrv) names = NULL;
	g_autoptr(GPtrArray) algs = g_ptr_array_new();
	g_autofree gchar *secret = NULL;
	const HeraldAuthAlg *alg;
	const gchar *inline_secret;
	const gchar *key;
	HeraldConfigProblem *problem;
	gboolean ok = TRUE;
	gsize len;

	g_return_val_if_fail(HERALD_IS_CONFIG(config), FALSE);
	g_return_val_if_fail(problems != NULL, FALSE);

	if (!herald_auth_check_api_keys(config, problems))
		ok = FALSE;
	names = herald_config_get_strv(config, "auth", "algorithms");
	for (guint i = 0; names != NULL && names[i] != NULL; i++) {
		for (guint j = 0; j < G_N_ELEMENTS(herald_auth_algs); j++) {
			if (g_strcmp0(names[i], herald_auth_algs[j].name) == 0)
				g_ptr_array_add(algs, (gpointer)&herald_auth_algs[j]);
		}
	}
	alg = herald_auth_find_alg_longest_secret(algs);
	if (alg == NULL)
		return ok;
	/* unreadable or missing: reported elsewhere */
	secret = herald_config_get_secret(config, "auth", "secret", NULL);
	if (secret == NULL || secret[0] == '\0')
		return ok;
	len = strlen(secret);
	memset(secret, 0, len);
	if (len >= herald_auth_alg_min_secret_bytes(alg))
		return ok;
	inline_secret = herald_config_get_string(config, "auth", "secret");
	key = inline_secret != NULL && inline_secret[0] != '\0' ? "secret" : "secret-file";
	problem = g_new0(HeraldConfigProblem, 1);
	problem->file = g_strdup(herald_config_get_origin(config, "auth", key));
	problem->group = g_strdup("auth");
	problem->key = g_strdup(key);
	problem->message = herald_auth_secret_too_short_message(len, alg);
	g_ptr_array_add(problems, problem);
	return FALSE;
}


/* DER encodings of the OIDs (tag, length, value) that say what a SPKI key is */
static const guint8 herald_auth_oid_rsa[] =
    {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const guint8 herald_auth_oid_ec[] = {0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const guint8 herald_auth_oid_p256[] =
    {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const guint8 herald_auth_oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const guint8 herald_auth_oid_p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};

static gboolean
herald_auth_der_has(const guint8 *der, gsize der_len, const guint8 *oid, gsize oid_len)
{
	for (gsize i = 0; i + oid_len <= der_len; i++) {
		if (memcmp(der + i, oid, oid_len) == 0)
			return TRUE;
	}
	return FALSE;
}

/* what the first PEM public key block of @pem holds; UNKNOWN when it is no
 * public key at all (a private key, a certificate, garbage) */
static HeraldAuthKeyKind
herald_auth_pem_get_key_kind(const gchar *pem)
{
	const gchar *begin = strstr(pem, "-----BEGIN ");
	const gchar *label;
	const gchar *label_end;
	const gchar *body;
	const gchar *end;
	g_autofree gchar *label_str = NULL;
	g_autofree gchar *b64 = NULL;
	g_autofree guint8 *der = NULL;
	gsize der_len = 0;

	if (begin == NULL)
		return HERALD_AUTH_KEY_UNKNOWN;
	label = begin + strlen("-----BEGIN ");
	label_end = strstr(label, "-----");
	if (label_end == NULL)
		return HERALD_AUTH_KEY_UNKNOWN;
	label_str = g_strndup(label, label_end - label);
	body = label_end + strlen("-----");
	end = strstr(body, "-----END ");
	if (end == NULL)
		return HERALD_AUTH_KEY_UNKNOWN;
	/* PKCS#1 says what it is in its label */
	if (g_strcmp0(label_str, "RSA PUBLIC KEY") == 0)
		return HERALD_AUTH_KEY_RSA;
	if (g_strcmp0(label_str, "PUBLIC KEY") != 0)
		return HERALD_AUTH_KEY_UNKNOWN;

	/* SubjectPublicKeyInfo: the algorithm OID, and the curve for EC */
	b64 = g_strndup(body, end - body);
	/* g_base64_decode() skips the line breaks */
	der = g_base64_decode(b64, &der_len);
	if (der == NULL || der_len == 0)
		return HERALD_AUTH_KEY_UNKNOWN;
	if (herald_auth_der_has(der, der_len, herald_auth_oid_rsa, sizeof(herald_auth_oid_rsa)))
		return HERALD_AUTH_KEY_RSA;
	if (!herald_auth_der_has(der, der_len, herald_auth_oid_ec, sizeof(herald_auth_oid_ec)))
		return HERALD_AUTH_KEY_UNKNOWN;
	if (herald_auth_der_has(der, der_len, herald_auth_oid_p256, sizeof(herald_auth_oid_p256)))
		return HERALD_AUTH_KEY_EC_P256;
	if (herald_auth_der_has(der, der_len, herald_auth_oid_p384, sizeof(herald_auth_oid_p384)))
		return HERALD_AUTH_KEY_EC_P384;
	if (herald_auth_der_has(der, der_len, herald_auth_oid_p521, sizeof(herald_auth_oid_p521)))
		return HERALD_AUTH_KEY_EC_P521;
	return HERALD_AUTH_KEY_UNKNOWN;
}

/* read once here, so that verifying does no file I/O; every RS and ES algorithm
 * listed must match the kind of key (and curve) in the file */
static gboolean
herald_auth_load_public_key(HeraldAuth *self, HeraldConfig *config, GError **error)
{
	const HeraldAuthAlg *alg = herald_auth_find_alg_for_public_key(self);
	const gchar *filename = herald_config_get_string(config, "auth", "public-key-file");
	g_autoptr(GBytes) blob = NULL;
	g_autofree gchar *pem = NULL;
	HeraldAuthKeyKind kind;
	gsize len = 0;
	const gchar *data = NULL;
	gboolean too_big = FALSE;
	gint errsv = 0;

	if (alg == NULL)
		return TRUE;
	if (filename == NULL || filename[0] == '\0') {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: configuration error; %s is an algorithm, e.g. RS256 */
			    _("[auth] algorithms lists %s but public-key-file is not set"),
			    alg->name);
		return FALSE;
	}
	blob = herald_file_read_bounded(filename, HERALD_AUTH_PUBLIC_KEY_MAX_BYTES, &too_big, &errsv);
	if (blob == NULL && !too_big) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: configuration error; a path, then the OS reason */
			    _("[auth] cannot read public-key-file '%s': %s"),
			    filename,
			    g_strerror(errsv));
		return FALSE;
	}
	if (blob != NULL)
		data = g_bytes_get_data(blob, &len);
	if (blob == NULL || len == 0 || memchr(data, '\0', len) != NULL) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: configuration error; %s is a path */
			    _("[auth] public-key-file '%s' is not a PEM public key"),
			    filename);
		return FALSE;
	}
	pem = g_strndup(data, len);
	kind = herald_auth_pem_get_key_kind(pem);
	if (kind == HERALD_AUTH_KEY_UNKNOWN) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: configuration error; %s is a path */
			    _("[auth] public-key-file '%s' is not a PEM public key"),
			    filename);
		return FALSE;
	}
	for (guint i = 0; i < self->algs->len; i++) {
		const HeraldAuthAlg *listed = g_ptr_array_index(self->algs, i);
		if (listed->key_kind == HERALD_AUTH_KEY_SECRET || listed->key_kind == kind)
			continue;
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: configuration error; an algorithm, then a path */
			    _("[auth] algorithms lists %s but public-key-file '%s' is not a key "
			      "for it"),
			    listed->name,
			    filename);
		return FALSE;
	}
	self->public_key = g_bytes_new_take(g_steal_pointer(&pem), len);
	return TRUE;
}

static gchar *
herald_auth_dup_config_string(HeraldConfig *config, const gchar *key, const gchar *fallback)
{
	const gchar *value = herald_config_get_string(config, "auth", key);
	if (value == NULL || value[0] == '\0')
		return g_strdup(fallback);
	return g_strdup(value);
}

static void
herald_auth_load_claims(HeraldAuth *self, HeraldConfig *config)
{
	guint64 max_token_bytes = herald_config_get_uint64(config, "auth", "max-token-bytes");

	self->issuer = herald_auth_dup_config_string(config, "issuer", NULL);
	self->audience = herald_auth_dup_config_string(config, "audience", NULL);
	self->leeway = (gint64)MIN(herald_config_get_uint64(config, "auth", "leeway-s"), 3600);
	self->require_exp = herald_config_get_boolean(config, "auth", "require-exp");
	self->user_claims = herald_config_get_strv(config, "auth", "user-claim");
	if (self->user_claims == NULL || self->user_claims[0] == NULL) {
		g_strfreev(self->user_claims);
		self->user_claims = g_strsplit(HERALD_AUTH_DEFAULT_USER_CLAIM, ";", -1);
	}
	self->role_claim =
	    herald_auth_dup_config_string(config, "role-claim", HERALD_AUTH_DEFAULT_ROLE_CLAIM);
	self->service_roles = herald_config_get_strv(config, "auth", "service-roles");
	self->admin_roles = herald_config_get_strv(config, "auth", "admin-roles");
	if (max_token_bytes == 0 || max_token_bytes > G_MAXINT)
		max_token_bytes = HERALD_AUTH_DEFAULT_MAX_TOKEN_BYTES;
	self->max_token_bytes = (gsize)max_token_bytes;
}

/**
 * herald_auth_new:
 * @config: a #HeraldConfig with the `[auth]` schema registered and loaded
 * @error: a #GError, or %NULL
 *
 * Reads `[auth]`: the allowed algorithms, the secret (only when an HS algorithm
 * is listed) and the public key (only when an RS or ES one is), once, so that
 * herald_auth_verify() does no file I/O.
 *
 * Returns: (transfer full): a new #HeraldAuth, or %NULL with %HERALD_ERROR_CONFIG
 *   when an algorithm is unknown, a listed algorithm has no key, or a key file
 *   cannot be read or does not suit the algorithms
 *
 * Since: 0.1
 */
HeraldAuth *
herald_auth_new(HeraldConfig *config, GError **error)
{
	g_autoptr(HeraldAuth) self = NULL;

	g_return_val_if_fail(HERALD_IS_CONFIG(config), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	self = g_object_new(HERALD_TYPE_AUTH, NULL);
	if (!herald_auth_load_algorithms(self, config, error))
		return NULL;
	if (!herald_auth_load_secret(self, config, error))
		return NULL;
	if (!herald_auth_load_public_key(self, config, error))
		return NULL;
	herald_auth_load_claims(self, config);
	if (!herald_auth_load_api_keys(self, config, error))
		return NULL;
	return g_steal_pointer(&self);
}

/* verification */

static void
herald_auth_set_malformed(GError **error)
{
	g_set_error_literal(error,
			    HERALD_ERROR,
			    HERALD_ERROR_UNAUTHENTICATED,
			    /* TRANSLATORS: authentication error */
			    _("malformed token"));
}

static void
herald_auth_set_bad_signature(GError **error)
{
	g_set_error_literal(error,
			    HERALD_ERROR,
			    HERALD_ERROR_UNAUTHENTICATED,
			    /* TRANSLATORS: authentication error */
			    _("token signature is invalid"));
}

static gboolean
herald_auth_is_b64url_char(gchar c)
{
	return g_ascii_isalnum(c) || c == '-' || c == '_';
}

/* unpadded base64url, as RFC 7515 §2 has it; a length of 4n+1 cannot be */
static gboolean
herald_auth_b64url_is_valid(const gchar *data, gsize len)
{
	if (len % 4 == 1)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!herald_auth_is_b64url_char(data[i]))
			return FALSE;
	}
	return TRUE;
}

/* @data must have passed herald_auth_b64url_is_valid() */
static GBytes *
herald_auth_b64url_decode(const gchar *data, gsize len)
{
	g_autoptr(GString) b64 = g_string_sized_new(len + 4);
	guchar *raw;
	gsize raw_len = 0;

	for (gsize i = 0; i < len; i++) {
		if (data[i] == '-')
			g_string_append_c(b64, '+');
		else if (data[i] == '_')
			g_string_append_c(b64, '/');
		else
			g_string_append_c(b64, data[i]);
	}
	while (b64->len % 4 != 0)
		g_string_append_c(b64, '=');
	raw = g_base64_decode(b64->str, &raw_len);
	return g_bytes_new_take(raw, raw_len);
}

/* exactly three base64url segments, the first two not empty; the signature is
 * empty only for alg none, which the header check refuses */
static gboolean
herald_auth_split(const gchar *token, gsize token_len, gsize *header_len)
{
	const gchar *dot1 = memchr(token, '.', token_len);
	const gchar *dot2;
	const gchar *end = token + token_len;

	if (dot1 == NULL || dot1 == token)
		return FALSE;
	dot2 = memchr(dot1 + 1, '.', end - (dot1 + 1));
	if (dot2 == NULL || dot2 == dot1 + 1)
		return FALSE;
	if (memchr(dot2 + 1, '.', end - (dot2 + 1)) != NULL)
		return FALSE;
	if (!herald_auth_b64url_is_valid(token, dot1 - token) ||
	    !herald_auth_b64url_is_valid(dot1 + 1, dot2 - (dot1 + 1)) ||
	    !herald_auth_b64url_is_valid(dot2 + 1, end - (dot2 + 1)))
		return FALSE;
	*header_len = dot1 - token;
	return TRUE;
}

/* the header's alg, read before any key is touched; NULL when the header is
 * not a JSON object with a non-empty string alg */
static gchar *
herald_auth_read_header_alg(const gchar *segment, gsize len)
{
	g_autoptr(GBytes) raw = herald_auth_b64url_decode(segment, len);
	g_autoptr(JsonObject) header = NULL;
	const gchar *data;
	gsize data_len = 0;
	JsonNode *alg;

	data = g_bytes_get_data(raw, &data_len);
	if (data_len == 0 || !g_utf8_validate(data, (gssize)data_len, NULL))
		return NULL;
	/* through the depth gate, though max-token-bytes bounds it already */
	header = herald_json_parse_object(data, (gssize)data_len, NULL);
	if (header == NULL)
		return NULL;
	/* critical extensions are ones we would have to understand (RFC 7515 §4.1.11) */
	if (json_object_has_member(header, "crit"))
		return NULL;
	alg = json_object_get_member(header, "alg");
	if (alg == NULL || !JSON_NODE_HOLDS_VALUE(alg) ||
	    json_node_get_value_type(alg) != G_TYPE_STRING)
		return NULL;
	if (json_node_get_string(alg)[0] == '\0')
		return NULL;
	return g_strdup(json_node_get_string(alg));
}

/* the allowed entry for @name; none is never allowed, whatever the list says */
static const HeraldAuthAlg *
herald_auth_get_allowed_alg(HeraldAuth *self, const gchar *name)
{
	if (g_ascii_strcasecmp(name, "none") == 0)
		return NULL;
	for (guint i = 0; i < self->algs->len; i++) {
		const HeraldAuthAlg *alg = g_ptr_array_index(self->algs, i);
		if (g_strcmp0(alg->name, name) == 0)
			return alg;
	}
	return NULL;
}

static void
herald_auth_set_alg_not_allowed(GError **error, const gchar *name)
{
	/* the client wrote it: show a short, harmless copy */
	g_autofree gchar *shown = g_strndup(name, HERALD_AUTH_ALG_SHOWN_MAX);
	g_strcanon(shown, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", '?');
	g_set_error(error,
		    HERALD_ERROR,
		    HERALD_ERROR_UNAUTHENTICATED,
		    /* TRANSLATORS: authentication error; %s is an algorithm, e.g. HS384 */
		    _("token algorithm '%s' is not allowed"),
		    shown);
}

/* verifies the signature with the one key of @alg's family and returns the
 * claims, sealed */
static JsonObject *
herald_auth_decode(HeraldAuth *self, const gchar *token, const HeraldAuthAlg *alg, GError **error)
{
	g_autoptr(jwt_t) jwt = NULL;
	g_autofree gchar *grants = NULL;
	GBytes *key = alg->key_kind == HERALD_AUTH_KEY_SECRET ? self->secret : self->public_key;
	const guchar *key_data;
	gsize key_len = 0;
	JsonObject *claims;

	/* never NULL: libjwt would skip verification; herald_auth_new() makes this
	 * unreachable, so it is a refusal, not a crash */
	if (key == NULL) {
		herald_auth_set_bad_signature(error);
		return NULL;
	}
	key_data = g_bytes_get_data(key, &key_len);
	if (key_data == NULL || key_len == 0 || key_len > G_MAXINT) {
		herald_auth_set_bad_signature(error);
		return NULL;
	}
	if (jwt_decode(&jwt, token, key_data, (gint)key_len) != 0 || jwt == NULL) {
		herald_auth_set_bad_signature(error);
		return NULL;
	}
	/* what libjwt verified with must be what we allowed: defeats alg confusion */
	if (jwt_get_alg(jwt) != alg->alg) {
		herald_auth_set_bad_signature(error);
		return NULL;
	}

	/* malloc()ed by jansson; g_free() is free() since GLib 2.46 */
	grants = jwt_get_grants_json(jwt, NULL);
	claims = grants != NULL ? herald_json_parse_object(grants, -1, NULL) : NULL;
	if (claims == NULL) {
		herald_auth_set_malformed(error);
		return NULL;
	}
	return claims;
}

/* a NumericDate claim; absent is fine, any other type is not */
static gboolean
herald_auth_get_time_claim(JsonObject *claims,
			   const gchar *name,
			   gint64 *value,
			   gboolean *present,
			   GError **error)
{
	JsonNode *node = json_object_get_member(claims, name);

	*present = FALSE;
	if (node == NULL)
		return TRUE;
	if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_INT64) {
		*value = json_node_get_int(node);
		*present = TRUE;
		return TRUE;
	}
	if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_DOUBLE &&
	    isfinite(json_node_get_double(node))) {
		/* clamped: a cast out of range is undefined behaviour */
		gdouble number = json_node_get_double(node);
		*value = (gint64)CLAMP(number, (gdouble)(G_MININT64 / 2), (gdouble)(G_MAXINT64 / 2));
		*present = TRUE;
		return TRUE;
	}
	g_set_error(error,
		    HERALD_ERROR,
		    HERALD_ERROR_UNAUTHENTICATED,
		    /* TRANSLATORS: authentication error; %s is a claim name, e.g. exp */
		    _("token claim '%s' is not a number"),
		    name);
	return FALSE;
}

static void
herald_auth_set_missing_claim(GError **error, const gchar *name)
{
	g_set_error(error,
		    HERALD_ERROR,
		    HERALD_ERROR_UNAUTHENTICATED,
		    /* TRANSLATORS: authentication error; %s is a claim name, e.g. sub */
		    _("token has no '%s' claim"),
		    name);
}

/* exp (required unless require-exp=false), nbf and iat, with the leeway */
static gboolean
herald_auth_check_times(HeraldAuth *self, JsonObject *claims, gint64 *expires, GError **error)
{
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	gint64 exp = 0;
	gint64 nbf = 0;
	gint64 iat = 0;
	gboolean has_exp = FALSE;
	gboolean has_nbf = FALSE;
	gboolean has_iat = FALSE;

	if (!herald_auth_get_time_claim(claims, "exp", &exp, &has_exp, error))
		return FALSE;
	if (!herald_auth_get_time_claim(claims, "nbf", &nbf, &has_nbf, error))
		return FALSE;
	if (!herald_auth_get_time_claim(claims, "iat", &iat, &has_iat, error))
		return FALSE;
	if (!has_exp && self->require_exp) {
		herald_auth_set_missing_claim(error, "exp");
		return FALSE;
	}
	/* written so that nothing a client sends can overflow */
	if (has_exp && exp <= now - self->leeway) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_TOKEN_EXPIRED,
				    /* TRANSLATORS: authentication error */
				    _("token expired"));
		return FALSE;
	}
	if (has_nbf && nbf > now + self->leeway) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNAUTHENTICATED,
				    /* TRANSLATORS: authentication error */
				    _("token not yet valid"));
		return FALSE;
	}
	*expires = has_exp ? exp : 0;
	return TRUE;
}

static gboolean
herald_auth_node_is_string(JsonNode *node, const gchar *value)
{
	return node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
	       json_node_get_value_type(node) == G_TYPE_STRING &&
	       g_strcmp0(json_node_get_string(node), value) == 0;
}

/* aud is a string or an array of strings (RFC 7519 §4.1.3) */
static gboolean
herald_auth_audience_is_accepted(HeraldAuth *self, JsonNode *aud)
{
	JsonArray *array;

	if (aud == NULL)
		return FALSE;
	if (!JSON_NODE_HOLDS_ARRAY(aud))
		return herald_auth_node_is_string(aud, self->audience);
	array = json_node_get_array(aud);
	for (guint i = 0; i < json_array_get_length(array); i++) {
		if (herald_auth_node_is_string(json_array_get_element(array, i), self->audience))
			return TRUE;
	}
	return FALSE;
}

static gboolean
herald_auth_check_issuer_audience(HeraldAuth *self, JsonObject *claims, GError **error)
{
	if (self->issuer != NULL &&
	    !herald_auth_node_is_string(json_object_get_member(claims, "iss"), self->issuer)) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNAUTHENTICATED,
				    /* TRANSLATORS: authentication error */
				    _("token issuer is not accepted"));
		return FALSE;
	}
	if (self->audience != NULL &&
	    !herald_auth_audience_is_accepted(self, json_object_get_member(claims, "aud"))) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNAUTHENTICATED,
				    /* TRANSLATORS: authentication error */
				    _("token audience is not accepted"));
		return FALSE;
	}
	return TRUE;
}

/* a non-empty string, or an integer in decimal */
static gchar *
herald_auth_id_from_node(JsonNode *node)
{
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node))
		return NULL;
	if (json_node_get_value_type(node) == G_TYPE_INT64)
		return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
	if (json_node_get_value_type(node) == G_TYPE_STRING &&
	    json_node_get_string(node)[0] != '\0')
		return g_strdup(json_node_get_string(node));
	return NULL;
}

/* `[auth] user-claim` in order: the first claim holding an id wins */
static gchar *
herald_auth_get_user_id(HeraldAuth *self, JsonObject *claims, GError **error)
{
	g_autofree gchar *user_id = NULL;

	for (guint i = 0; user_id == NULL && self->user_claims[i] != NULL; i++) {
		JsonNode *node = json_object_get_member(claims, self->user_claims[i]);
		user_id = herald_auth_id_from_node(node);
	}
	if (user_id == NULL) {
		g_autofree gchar *names = g_strjoinv("' / '", self->user_claims);
		herald_auth_set_missing_claim(error, names);
		return NULL;
	}
	/* it names rooms and lands in logs: no newlines or escapes */
	for (const gchar *p = user_id; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == 0x7f) {
			g_set_error_literal(error,
					    HERALD_ERROR,
					    HERALD_ERROR_UNAUTHENTICATED,
					    /* TRANSLATORS: authentication error */
					    _("token user id has control characters"));
			return NULL;
		}
	}
	return g_steal_pointer(&user_id);
}

static gchar *
herald_auth_get_role(HeraldAuth *self, JsonObject *claims, GError **error)
{
	JsonNode *node = json_object_get_member(claims, self->role_claim);

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING ||
	    json_node_get_string(node)[0] == '\0') {
		herald_auth_set_missing_claim(error, self->role_claim);
		return NULL;
	}
	return g_strdup(json_node_get_string(node));
}

/**
 * herald_auth_verify:
 * @self: a #HeraldAuth
 * @token: (nullable): a compact JWS, as sent by the client
 * @error: a #GError, or %NULL
 *
 * Checks the size and shape of @token, reads the header's `alg` and refuses it
 * unless `[auth] algorithms` lists it, verifies the signature with that
 * algorithm's key only (the secret for HS*, the public key for RS* and ES*),
 * then checks `exp`, `nbf`, `iat`, `iss`, `aud` and reads the user and role
 * claims. Error messages never contain the token.
 *
 * Returns: (transfer full): the identity, or %NULL with
 *   %HERALD_ERROR_TOKEN_EXPIRED when `exp` has passed (beyond the leeway) or
 *   %HERALD_ERROR_UNAUTHENTICATED for every other reason
 *
 * Since: 0.1
 */
HeraldIdentity *
herald_auth_verify(HeraldAuth *self, const gchar *token, GError **error)
{
	g_autofree gchar *header_alg = NULL;
	g_autoptr(JsonObject) claims = NULL;
	g_autofree gchar *user_id = NULL;
	g_autofree gchar *role = NULL;
	const HeraldAuthAlg *alg;
	gint64 expires = 0;
	gsize token_len;
	gsize header_len = 0;

	g_return_val_if_fail(HERALD_IS_AUTH(self), NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (token == NULL || token[0] == '\0') {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNAUTHENTICATED,
				    /* TRANSLATORS: authentication error */
				    _("missing token"));
		return NULL;
	}
	/* never walk further than the limit into what a client sent */
	token_len = strnlen(token, self->max_token_bytes + 1);
	if (token_len > self->max_token_bytes) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNAUTHENTICATED,
				    /* TRANSLATORS: authentication error */
				    _("token is too large"));
		return NULL;
	}
	if (!herald_auth_split(token, token_len, &header_len)) {
		herald_auth_set_malformed(error);
		return NULL;
	}
	header_alg = herald_auth_read_header_alg(token, header_len);
	if (header_alg == NULL) {
		herald_auth_set_malformed(error);
		return NULL;
	}
	alg = herald_auth_get_allowed_alg(self, header_alg);
	if (alg == NULL) {
		herald_auth_set_alg_not_allowed(error, header_alg);
		return NULL;
	}
	claims = herald_auth_decode(self, token, alg, error);
	if (claims == NULL)
		return NULL;
	if (!herald_auth_check_times(self, claims, &expires, error))
		return NULL;
	if (!herald_auth_check_issuer_audience(self, claims, error))
		return NULL;
	user_id = herald_auth_get_user_id(self, claims, error);
	if (user_id == NULL)
		return NULL;
	role = herald_auth_get_role(self, claims, error);
	if (role == NULL)
		return NULL;
	return herald_identity_new(user_id, role, expires, claims);
}

/**
 * herald_auth_is_service:
 * @self: a #HeraldAuth
 * @identity: (nullable): a verified identity
 *
 * Returns: %TRUE when the role of @identity is one of `[auth] service-roles`
 *
 * Since: 0.1
 */
gboolean
herald_auth_is_service(HeraldAuth *self, HeraldIdentity *identity)
{
	g_return_val_if_fail(HERALD_IS_AUTH(self), FALSE);
	if (identity == NULL || identity->role == NULL || self->service_roles == NULL)
		return FALSE;
	return herald_role_in_list((const gchar *const *)self->service_roles, identity->role);
}

/**
 * herald_auth_is_admin:
 * @self: a #HeraldAuth
 * @identity: (nullable): a verified identity
 *
 * Returns: %TRUE when the role of @identity is one of `[auth] admin-roles`
 *
 * Since: 0.1
 */
gboolean
herald_auth_is_admin(HeraldAuth *self, HeraldIdentity *identity)
{
	g_return_val_if_fail(HERALD_IS_AUTH(self), FALSE);
	if (identity == NULL || identity->role == NULL || self->admin_roles == NULL)
		return FALSE;
	return herald_role_in_list((const gchar *const *)self->admin_roles, identity->role);
}

/**
 * herald_auth_get_leeway:
 * @self: a #HeraldAuth
 *
 * Returns: `[auth] leeway-s`, the clock skew allowed for `exp` and `nbf`, in seconds
 *
 * Since: 0.1
 */
gint64
herald_auth_get_leeway(HeraldAuth *self)
{
	g_return_val_if_fail(HERALD_IS_AUTH(self), 0);
	return self->leeway;
}

static void
herald_auth_init(HeraldAuth *self)
{
	self->algs = g_ptr_array_new();
}

static void
herald_auth_finalize(GObject *object)
{
	HeraldAuth *self = HERALD_AUTH(object);

	g_clear_pointer(&self->algs, g_ptr_array_unref);
	g_clear_pointer(&self->secret, g_bytes_unref);
	g_clear_pointer(&self->public_key, g_bytes_unref);
	g_clear_pointer(&self->issuer, g_free);
	g_clear_pointer(&self->audience, g_free);
	g_clear_pointer(&self->user_claims, g_strfreev);
	g_clear_pointer(&self->role_claim, g_free);
	g_clear_pointer(&self->service_roles, g_strfreev);
	g_clear_pointer(&self->admin_roles, g_strfreev);
	if (self->api_key_digests != NULL)
		memset(self->api_key_digests->data, 0, self->api_key_digests->len);
	g_clear_pointer(&self->api_key_digests, g_byte_array_unref);

	G_OBJECT_CLASS(herald_auth_parent_class)->finalize(object);
}

static void
herald_auth_class_init(HeraldAuthClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->finalize = herald_auth_finalize;
}
