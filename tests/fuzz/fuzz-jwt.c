/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Token verification (host/herald-auth.c) with a pinned HS256 and a 64-byte
 * secret. Three kinds of input, chosen by the first byte:
 *  0: a token as a client sends it: it can never be accepted (no input can
 *     carry a valid HMAC by chance);
 *  1: a header and claims (JSON, fuzzed) signed with the real secret: the
 *     header and claims handling runs in full; an accepted token must have
 *     said HS256, the configured issuer and audience, and give the identity
 *     its claims;
 *  2: the same token with its header's alg or its signature altered: refused.
 *
 * Input: kind byte, then the token (0) or header JSON, a newline, claims JSON.
 */
#include "config.h"

#include <herald.h>

#include "fuzz-common.h"
#include "herald-auth.h"

#define SECRET "fuzz-secret-0123456789abcdef0123456789abcdef0123456789abcdef0123"

static HeraldAuth *auth;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	g_autoptr(HeraldConfig) config = herald_config_new();
	g_autoptr(GError) error = NULL;
	guint n_keys = 0;
	const HeraldConfigKey *keys = herald_auth_get_config_keys(&n_keys);

	G_STATIC_ASSERT(sizeof(SECRET) - 1 == 64);
	fuzz_init_logging();
	herald_config_add_schema(config, "auth", keys, n_keys);
	g_assert_true(herald_config_load_data(config,
					      "[auth]\nalgorithms=HS256\nsecret=" SECRET "\n"
					      "issuer=herald-fuzz\naudience=herald\n",
					      &error));
	auth = herald_auth_new(config, &error);
	if (auth == NULL)
		g_error("auth: %s", error->message);
	return 0;
}

static gchar *
b64url(const guint8 *data, gsize len)
{
	gchar *text = g_base64_encode(data, len);
	gchar *end = strchr(text, '=');
	if (end != NULL)
		*end = '\0';
	g_strdelimit(text, "+", '-');
	g_strdelimit(text, "/", '_');
	return text;
}

static gchar *
sign(const gchar *header, gsize header_len, const gchar *claims, gsize claims_len)
{
	g_autofree gchar *h = b64url((const guint8 *)header, header_len);
	g_autofree gchar *c = b64url((const guint8 *)claims, claims_len);
	g_autofree gchar *input = g_strdup_printf("%s.%s", h, c);
	g_autoptr(GHmac) hmac = g_hmac_new(G_CHECKSUM_SHA256, (const guchar *)SECRET, strlen(SECRET));
	guint8 digest[32];
	gsize digest_len = sizeof(digest);
	g_autofree gchar *s = NULL;

	g_hmac_update(hmac, (const guchar *)input, (gssize)strlen(input));
	g_hmac_get_digest(hmac, digest, &digest_len);
	s = b64url(digest, digest_len);
	return g_strdup_printf("%s.%s", input, s);
}

static gboolean
node_is_string(JsonObject *obj, const gchar *member, const gchar *value)
{
	JsonNode *node = json_object_get_member(obj, member);
	return node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
	       json_node_get_value_type(node) == G_TYPE_STRING &&
	       g_strcmp0(json_node_get_string(node), value) == 0;
}

static gboolean
audience_ok(JsonObject *claims)
{
	JsonNode *aud = json_object_get_member(claims, "aud");
	if (aud == NULL)
		return FALSE;
	if (JSON_NODE_HOLDS_ARRAY(aud)) {
		JsonArray *array = json_node_get_array(aud);
		for (guint i = 0; i < json_array_get_length(array); i++) {
			JsonNode *el = json_array_get_element(array, i);
			if (JSON_NODE_HOLDS_VALUE(el) && json_node_get_value_type(el) == G_TYPE_STRING &&
			    g_str_equal(json_node_get_string(el), "herald"))
				return TRUE;
		}
		return FALSE;
	}
	return node_is_string(claims, "aud", "herald");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzInput in = {data, size};
	guint kind = fuzz_take_byte(&in) % 3;
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldIdentity) identity = NULL;

	if (kind == 0) {
		g_autofree gchar *token = fuzz_strndup(in.data, in.size);
		identity = herald_auth_verify(auth, token, &error);
		g_assert_null(identity);
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_UNAUTHENTICATED);
		return 0;
	}

	{
		gsize header_len = 0;
		g_autofree gchar *header = fuzz_take_until(&in, '\n', &header_len);
		g_autofree gchar *claims = fuzz_strndup(in.data, in.size);
		g_autofree gchar *token = sign(header, header_len, claims, in.size);

		if (kind == 2) {
			/* a flipped signature byte, or the header swapped for alg none */
			gchar *sig = strrchr(token, '.') + 1;
			g_autofree gchar *none_token = NULL;
			if (*sig != '\0') {
				sig[0] = sig[0] == 'A' ? 'B' : 'A';
				identity = herald_auth_verify(auth, token, &error);
				g_assert_null(identity);
				g_clear_error(&error);
			}
			{
				static const gchar none[] = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
				g_autofree gchar *h = b64url((const guint8 *)none, sizeof(none) - 1);
				g_autofree gchar *c = b64url((const guint8 *)claims, in.size);
				none_token = g_strdup_printf("%s.%s.", h, c);
			}
			identity = herald_auth_verify(auth, none_token, &error);
			g_assert_null(identity);
			g_assert_error(error, HERALD_ERROR, HERALD_ERROR_UNAUTHENTICATED);
			return 0;
		}

		identity = herald_auth_verify(auth, token, &error);
		if (identity == NULL) {
			/* unauthenticated, expired, ...: a refusal with a reason */
			g_assert_nonnull(error);
			g_assert_true(error->domain == HERALD_ERROR);
			return 0;
		}
		g_assert_no_error(error);
		{
			/* accepted: the header said HS256 and the claims are what was signed */
			g_autoptr(JsonObject) h = herald_json_parse_object(header, (gssize)header_len, NULL);
			/* as libjwt read them: up to the first NUL of the decoded claims */
			g_autoptr(JsonObject) c = herald_json_parse_object(claims, -1, NULL);
			JsonObject *got = herald_identity_get_claims(identity);
			g_assert_nonnull(h);
			g_assert_true(node_is_string(h, "alg", "HS256"));
			g_assert_false(json_object_has_member(h, "crit"));
			g_assert_nonnull(c);
			g_assert_true(node_is_string(c, "iss", "herald-fuzz"));
			g_assert_true(audience_ok(c));
			g_assert_nonnull(got);
			g_assert_true(node_is_string(got, "iss", "herald-fuzz"));
			g_assert_nonnull(herald_identity_get_user_id(identity));
			g_assert_cmpstr(herald_identity_get_user_id(identity), !=, "");
			g_assert_nonnull(herald_identity_get_role(identity));
		}
	}
	return 0;
}
