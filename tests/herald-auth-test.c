/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <jwt.h>

#include "herald-auth.h"
#include "herald-error.h"
#include "herald-test-util.h"

#define SECRET "unit-test-secret-0123456789abcdef"

typedef struct {
	gchar *dir;
	gchar *rsa_private;
	gchar *rsa_public;
	gchar *ec_private;
	gchar *ec_public;
} Keys;

static Keys keys = {0};

static void
run(const gchar *cmd)
{
	g_autoptr(GError) error = NULL;
	gint status = 0;
	g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, &status, &error));
	g_assert_no_error(error);
	g_assert_cmpint(status, ==, 0);
}

static void
keys_init(void)
{
	const gchar *openssl = herald_test_require_program("openssl");
	g_autofree gchar *c1 = NULL, *c2 = NULL, *c3 = NULL, *c4 = NULL;
	keys.dir = herald_test_mkdtemp();
	keys.rsa_private = g_build_filename(keys.dir, "rsa.pem", NULL);
	keys.rsa_public = g_build_filename(keys.dir, "rsa.pub", NULL);
	keys.ec_private = g_build_filename(keys.dir, "ec.pem", NULL);
	keys.ec_public = g_build_filename(keys.dir, "ec.pub", NULL);
	c1 = g_strdup_printf("%s genrsa -out %s 2048", openssl, keys.rsa_private);
	c2 = g_strdup_printf("%s rsa -in %s -pubout -out %s", openssl, keys.rsa_private, keys.rsa_public);
	c3 = g_strdup_printf("%s ecparam -name prime256v1 -genkey -noout -out %s", openssl, keys.ec_private);
	c4 = g_strdup_printf("%s ec -in %s -pubout -out %s", openssl, keys.ec_private, keys.ec_public);
	run(c1);
	run(c2);
	run(c3);
	run(c4);
}

static gchar *
read_file(const gchar *fn)
{
	gchar *contents = NULL;
	g_assert_true(g_file_get_contents(fn, &contents, NULL, NULL));
	return contents;
}

/* a token signed with libjwt; @claims is a JSON object */
static gchar *
sign(jwt_alg_t alg, const gchar *key, gsize key_len, const gchar *claims)
{
	jwt_t *jwt = NULL;
	gchar *out;
	gchar *ret;
	g_assert_cmpint(jwt_new(&jwt), ==, 0);
	g_assert_cmpint(jwt_add_grants_json(jwt, claims), ==, 0);
	g_assert_cmpint(jwt_set_alg(jwt, alg, (const guchar *)key, (int)key_len), ==, 0);
	out = jwt_encode_str(jwt);
	g_assert_nonnull(out);
	ret = g_strdup(out);
	free(out);
	jwt_free(jwt);
	return ret;
}

static gchar *
claims(const gchar *extra, gint64 exp_offset)
{
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	return g_strdup_printf("{\"sub\":\"42\",\"role\":\"ADMIN\",\"exp\":%" G_GINT64_FORMAT "%s%s}",
			       now + exp_offset,
			       extra != NULL ? "," : "",
			       extra != NULL ? extra : "");
}

static gchar *
b64url(const gchar *data, gsize len)
{
	gchar *b64 = g_base64_encode((const guchar *)data, len);
	gsize n = strlen(b64);
	while (n > 0 && b64[n - 1] == '=')
		b64[--n] = '\0';
	g_strdelimit(b64, "+", '-');
	g_strdelimit(b64, "/", '_');
	return b64;
}

/* hand-built tokens: any header, any signature */
static gchar *
forge(const gchar *header, const gchar *payload, const gchar *hmac_key)
{
	g_autofree gchar *h = b64url(header, strlen(header));
	g_autofree gchar *p = b64url(payload, strlen(payload));
	g_autofree gchar *input = g_strdup_printf("%s.%s", h, p);
	g_autofree gchar *sig = NULL;
	if (hmac_key != NULL) {
		g_autoptr(GHmac) hmac = g_hmac_new(G_CHECKSUM_SHA256, (const guchar *)hmac_key, strlen(hmac_key));
		guint8 digest[32];
		gsize len = sizeof(digest);
		g_hmac_update(hmac, (const guchar *)input, -1);
		g_hmac_get_digest(hmac, digest, &len);
		sig = b64url((const gchar *)digest, len);
	} else {
		sig = g_strdup("");
	}
	return g_strdup_printf("%s.%s", input, sig);
}

static HeraldAuth *
new_auth(const gchar *extra, GError **error)
{
	g_autoptr(HeraldConfig) config = herald_config_new();
	guint n_keys = 0;
	const HeraldConfigKey *k = herald_auth_get_config_keys(&n_keys);
	g_autofree gchar *data = g_strdup_printf("[auth]\n%s\n", extra);
	herald_config_add_schema(config, "auth", k, n_keys);
	g_assert_true(herald_config_load_data(config, data, NULL));
	return herald_auth_new(config, error);
}

static void
expect_refused(HeraldAuth *auth, const gchar *token, HeraldError code, const gchar *message)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldIdentity) identity = herald_auth_verify(auth, token, &error);
	g_assert_null(identity);
	g_assert_error(error, HERALD_ERROR, (gint)code);
	if (message != NULL)
		g_assert_cmpstr(error->message, ==, message);
	/* the token never appears in an error */
	if (token != NULL && strlen(token) > 8)
		g_assert_null(strstr(error->message, token));
}

static void
test_hs256(void)
{
	g_autoptr(HeraldAuth) auth = new_auth("algorithms=HS256;HS384;HS512\nsecret=" SECRET, NULL);
	g_autofree gchar *c = claims("\"seller_id\":123,\"name\":\"x\"", 300);
	g_autofree gchar *t256 = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), c);
	g_autofree gchar *t384 = sign(JWT_ALG_HS384, SECRET, strlen(SECRET), c);
	g_autofree gchar *t512 = sign(JWT_ALG_HS512, SECRET, strlen(SECRET), c);
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldIdentity) id = herald_auth_verify(auth, t256, &error);
	g_autoptr(HeraldIdentity) id384 = herald_auth_verify(auth, t384, NULL);
	g_autoptr(HeraldIdentity) id512 = herald_auth_verify(auth, t512, NULL);
	g_autofree gchar *seller = NULL;
	g_autofree gchar *name = NULL;
	g_autofree gchar *none = NULL;

	g_assert_no_error(error);
	g_assert_nonnull(id);
	g_assert_nonnull(id384);
	g_assert_nonnull(id512);
	g_assert_cmpstr(herald_identity_get_user_id(id), ==, "42");
	g_assert_cmpstr(herald_identity_get_role(id), ==, "ADMIN");
	g_assert_cmpint(herald_identity_get_expires(id), >, g_get_real_time() / G_USEC_PER_SEC);
	seller = herald_identity_get_claim_string(id, "seller_id");
	name = herald_identity_get_claim_string(id, "name");
	none = herald_identity_get_claim_string(id, "nope");
	g_assert_cmpstr(seller, ==, "123");
	g_assert_cmpstr(name, ==, "x");
	g_assert_null(none);
	g_assert_true(herald_auth_is_admin(auth, id));
	g_assert_false(herald_auth_is_service(auth, id));
}

static void
test_hs_refusals(void)
{
	g_autoptr(HeraldAuth) auth = new_auth("algorithms=HS256\nsecret=" SECRET "\nleeway-s=30", NULL);
	g_autofree gchar *c = claims(NULL, 300);
	g_autofree gchar *good = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), c);
	g_autofree gchar *other_key = sign(JWT_ALG_HS256, "another-secret-entirely-xxxxxxxx", 32, c);
	g_autofree gchar *c_expired = claims(NULL, -3600);
	g_autofree gchar *expired = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), c_expired);
	g_autofree gchar *c_leeway = claims(NULL, -10);
	g_autofree gchar *in_leeway = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), c_leeway);
	g_autofree gchar *c_nbf = g_strdup_printf("{\"sub\":\"1\",\"role\":\"R\",\"exp\":%" G_GINT64_FORMAT ",\"nbf\":%" G_GINT64_FORMAT "}",
						  g_get_real_time() / G_USEC_PER_SEC + 600,
						  g_get_real_time() / G_USEC_PER_SEC + 300);
	g_autofree gchar *nbf = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), c_nbf);
	g_autofree gchar *t384 = sign(JWT_ALG_HS384, SECRET, strlen(SECRET), c);
	g_autofree gchar *alg_none = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", c, NULL);
	g_autofree gchar *no_alg = forge("{\"typ\":\"JWT\"}", c, SECRET);
	g_autofree gchar *hand_ok = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", c, SECRET);
	g_autofree gchar *c_nosub = g_strdup_printf("{\"role\":\"R\",\"exp\":%" G_GINT64_FORMAT "}", g_get_real_time() / G_USEC_PER_SEC + 60);
	g_autofree gchar *nosub = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), c_nosub);
	g_autofree gchar *c_uid = g_strdup_printf("{\"user_id\":7,\"role\":\"R\",\"exp\":%" G_GINT64_FORMAT "}", g_get_real_time() / G_USEC_PER_SEC + 60);
	g_autofree gchar *uid = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), c_uid);
	g_autofree gchar *c_norole = g_strdup_printf("{\"sub\":\"1\",\"exp\":%" G_GINT64_FORMAT "}", g_get_real_time() / G_USEC_PER_SEC + 60);
	g_autofree gchar *norole = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), c_norole);
	g_autofree gchar *noexp = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), "{\"sub\":\"1\",\"role\":\"R\"}");
	g_autofree gchar *strexp = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), "{\"sub\":\"1\",\"role\":\"R\",\"exp\":\"soon\"}");
	g_autofree gchar *c_ctrl = g_strdup_printf("{\"sub\":\"a\\nb\",\"role\":\"R\",\"exp\":%" G_GINT64_FORMAT "}", g_get_real_time() / G_USEC_PER_SEC + 60);
	g_autofree gchar *ctrl = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), c_ctrl);
	g_autofree gchar *tampered = g_strdup(good);
	g_autofree gchar *huge = g_strnfill(9000, 'a');
	g_autoptr(HeraldIdentity) ok = herald_auth_verify(auth, good, NULL);
	g_autoptr(HeraldIdentity) ok_leeway = herald_auth_verify(auth, in_leeway, NULL);
	g_autoptr(HeraldIdentity) ok_hand = herald_auth_verify(auth, hand_ok, NULL);
	g_autoptr(HeraldIdentity) ok_uid = herald_auth_verify(auth, uid, NULL);
	gchar *dot;

	g_assert_nonnull(ok);
	g_assert_nonnull(ok_leeway);
	g_assert_nonnull(ok_hand);
	g_assert_nonnull(ok_uid);
	g_assert_cmpstr(herald_identity_get_user_id(ok_uid), ==, "7");

	/* flip one character of the payload */
	dot = strchr(tampered, '.');
	dot[3] = dot[3] == 'A' ? 'B' : 'A';

	expect_refused(auth, NULL, HERALD_ERROR_UNAUTHENTICATED, "missing token");
	expect_refused(auth, "", HERALD_ERROR_UNAUTHENTICATED, "missing token");
	expect_refused(auth, "abc", HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	expect_refused(auth, "a.b", HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	expect_refused(auth, "!!.??.##", HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	expect_refused(auth, "eyJub3QganNvbg.e30.sig", HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	expect_refused(auth, huge, HERALD_ERROR_UNAUTHENTICATED, "token is too large");
	expect_refused(auth, other_key, HERALD_ERROR_UNAUTHENTICATED, "token signature is invalid");
	expect_refused(auth, tampered, HERALD_ERROR_UNAUTHENTICATED, NULL);
	expect_refused(auth, expired, HERALD_ERROR_TOKEN_EXPIRED, "token expired");
	expect_refused(auth, nbf, HERALD_ERROR_UNAUTHENTICATED, "token not yet valid");
	expect_refused(auth, t384, HERALD_ERROR_UNAUTHENTICATED, "token algorithm 'HS384' is not allowed");
	expect_refused(auth, alg_none, HERALD_ERROR_UNAUTHENTICATED, "token algorithm 'none' is not allowed");
	expect_refused(auth, no_alg, HERALD_ERROR_UNAUTHENTICATED, "token algorithm '' is not allowed");
	expect_refused(auth, nosub, HERALD_ERROR_UNAUTHENTICATED, "token has no 'sub' claim");
	expect_refused(auth, norole, HERALD_ERROR_UNAUTHENTICATED, "token has no 'role' claim");
	expect_refused(auth, noexp, HERALD_ERROR_UNAUTHENTICATED, "token has no 'exp' claim");
	expect_refused(auth, strexp, HERALD_ERROR_UNAUTHENTICATED, "token claim 'exp' is not a number");
	expect_refused(auth, ctrl, HERALD_ERROR_UNAUTHENTICATED, "token user id has control characters");
}

static void
test_rs256_and_confusion(void)
{
	g_autofree gchar *cfg = g_strdup_printf("algorithms=RS256\npublic-key-file=%s", keys.rsa_public);
	g_autoptr(HeraldAuth) auth = new_auth(cfg, NULL);
	g_autofree gchar *priv = read_file(keys.rsa_private);
	g_autofree gchar *pub = read_file(keys.rsa_public);
	g_autofree gchar *c = claims(NULL, 300);
	g_autofree gchar *good = sign(JWT_ALG_RS256, priv, strlen(priv), c);
	/* HS256 keyed with the public PEM: accepted by naive libjwt use */
	g_autofree gchar *confused = sign(JWT_ALG_HS256, pub, strlen(pub), c);
	g_autofree gchar *hs = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), c);
	g_autofree gchar *ec_priv = read_file(keys.ec_private);
	g_autofree gchar *es = sign(JWT_ALG_ES256, ec_priv, strlen(ec_priv), c);
	g_autoptr(HeraldIdentity) id = herald_auth_verify(auth, good, NULL);

	g_assert_nonnull(id);
	expect_refused(auth, confused, HERALD_ERROR_UNAUTHENTICATED, "token algorithm 'HS256' is not allowed");
	expect_refused(auth, hs, HERALD_ERROR_UNAUTHENTICATED, "token algorithm 'HS256' is not allowed");
	expect_refused(auth, es, HERALD_ERROR_UNAUTHENTICATED, "token algorithm 'ES256' is not allowed");
}

static void
test_mixed_algorithms(void)
{
	/* HS and RS both allowed: each alg is verified with its own key only */
	g_autofree gchar *cfg = g_strdup_printf("algorithms=HS256;RS256;ES256\nsecret=%s\npublic-key-file=%s",
						SECRET,
						keys.rsa_public);
	g_autoptr(HeraldAuth) auth = new_auth(cfg, NULL);
	g_autofree gchar *pub = read_file(keys.rsa_public);
	g_autofree gchar *c = claims(NULL, 300);
	g_autofree gchar *confused = sign(JWT_ALG_HS256, pub, strlen(pub), c);
	g_autofree gchar *hs = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), c);
	g_autoptr(HeraldIdentity) id = herald_auth_verify(auth, hs, NULL);
	g_assert_nonnull(id);
	expect_refused(auth, confused, HERALD_ERROR_UNAUTHENTICATED, "token signature is invalid");
}

static void
test_es256(void)
{
	g_autofree gchar *cfg = g_strdup_printf("algorithms=ES256\npublic-key-file=%s", keys.ec_public);
	g_autoptr(HeraldAuth) auth = new_auth(cfg, NULL);
	g_autofree gchar *priv = read_file(keys.ec_private);
	g_autofree gchar *c = claims(NULL, 300);
	g_autofree gchar *good = sign(JWT_ALG_ES256, priv, strlen(priv), c);
	g_autoptr(HeraldIdentity) id = herald_auth_verify(auth, good, NULL);
	g_assert_nonnull(id);
}

static void
test_issuer_audience(void)
{
	g_autoptr(HeraldAuth) auth = new_auth("secret=" SECRET "\nissuer=core-api\naudience=herald", NULL);
	g_autofree gchar *c_ok = claims("\"iss\":\"core-api\",\"aud\":[\"x\",\"herald\"]", 300);
	g_autofree gchar *c_ok2 = claims("\"iss\":\"core-api\",\"aud\":\"herald\"", 300);
	g_autofree gchar *c_iss = claims("\"iss\":\"evil\",\"aud\":\"herald\"", 300);
	g_autofree gchar *c_aud = claims("\"iss\":\"core-api\",\"aud\":[\"x\"]", 300);
	g_autofree gchar *c_none = claims(NULL, 300);
	g_autofree gchar *ok = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), c_ok);
	g_autofree gchar *ok2 = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), c_ok2);
	g_autofree gchar *bad_iss = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), c_iss);
	g_autofree gchar *bad_aud = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), c_aud);
	g_autofree gchar *none = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), c_none);
	g_autoptr(HeraldIdentity) id = herald_auth_verify(auth, ok, NULL);
	g_autoptr(HeraldIdentity) id2 = herald_auth_verify(auth, ok2, NULL);
	g_assert_nonnull(id);
	g_assert_nonnull(id2);
	expect_refused(auth, bad_iss, HERALD_ERROR_UNAUTHENTICATED, "token issuer is not accepted");
	expect_refused(auth, bad_aud, HERALD_ERROR_UNAUTHENTICATED, "token audience is not accepted");
	expect_refused(auth, none, HERALD_ERROR_UNAUTHENTICATED, "token issuer is not accepted");
}

static void
test_config_errors(void)
{
	const gchar *bad[] = {
	    "algorithms=RS256",
	    "algorithms=none\nsecret=x",
	    "algorithms=HS256;XY999\nsecret=x",
	    "algorithms=HS256",
	    "secret-file=/nonexistent/jwt.secret",
	    "algorithms=ES256\npublic-key-file=/nonexistent/key.pem",
	};
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(HeraldAuth) auth = new_auth(bad[i], &error);
		g_test_message("%s → %s", bad[i], error != NULL ? error->message : "(none)");
		g_assert_null(auth);
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
	}
}

int
main(int argc, char **argv)
{
	gint rc;
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	keys_init();
	g_test_add_func("/herald/auth/hs256", test_hs256);
	g_test_add_func("/herald/auth/hs-refusals", test_hs_refusals);
	g_test_add_func("/herald/auth/rs256-and-confusion", test_rs256_and_confusion);
	g_test_add_func("/herald/auth/mixed-algorithms", test_mixed_algorithms);
	g_test_add_func("/herald/auth/es256", test_es256);
	g_test_add_func("/herald/auth/issuer-audience", test_issuer_audience);
	g_test_add_func("/herald/auth/config-errors", test_config_errors);
	rc = g_test_run();
	herald_test_rm_rf(keys.dir);
	g_free(keys.dir);
	g_free(keys.rsa_private);
	g_free(keys.rsa_public);
	g_free(keys.ec_private);
	g_free(keys.ec_public);
	return rc;
}
