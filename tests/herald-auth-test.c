/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>

#include <jwt.h>
#include <string.h>
#include <sys/stat.h>

#include "herald-auth.h"
#include "herald-config.h"
#include "herald-error.h"
#include "herald-json.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(jwt_t, jwt_free)

#define SECRET	     "unit-test-secret-0123456789abcdef-0123456789abcdef-0123456789abcdef"
#define OTHER_SECRET "another-secret-entirely-0123456789-0123456789abcdef-0123456789abcdef"

/* keys made by openssl once per run, in a temporary directory */
typedef struct {
	gchar *dir;
	gchar *rsa_private;	  /* (owned): PEM text */
	gchar *rsa_public_fn;	  /* SPKI */
	gchar *rsa_public;	  /* (owned): PEM text */
	gchar *rsa_pkcs1_fn;	  /* -----BEGIN RSA PUBLIC KEY----- */
	gchar *rsa_private_fn;	  /* a private key where a public one belongs */
	gchar *other_rsa_private; /* (owned): signs tokens the config does not trust */
	gchar *ec_private;	  /* (owned): prime256v1 */
	gchar *ec_public_fn;
	gchar *ec384_public_fn; /* secp384r1 */
} TestKeys;

static TestKeys keys = {NULL};

static gchar *
read_text(const gchar *filename)
{
	g_autoptr(GError) error = NULL;
	gchar *contents = NULL;
	g_assert_true(g_file_get_contents(filename, &contents, NULL, &error));
	g_assert_no_error(error);
	return contents;
}

static gchar *
write_text(const gchar *name, const gchar *contents)
{
	g_autoptr(GError) error = NULL;
	gchar *filename = g_build_filename(keys.dir, name, NULL);
	g_assert_true(g_file_set_contents(filename, contents, -1, &error));
	g_assert_no_error(error);
	return filename;
}

/* a missing openssl fails the test run, it never skips it */
static void
openssl(const gchar *const *args)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) argv = g_ptr_array_new_null_terminated(8, NULL, TRUE);
	g_autoptr(GSubprocess) proc = NULL;
	g_autofree gchar *path = g_find_program_in_path("openssl");
	g_autofree gchar *out = NULL;
	g_autofree gchar *err = NULL;

	if (path == NULL)
		g_test_message("openssl is required to make the test keys; install it");
	g_assert_nonnull(path);
	g_ptr_array_add(argv, path);
	for (guint i = 0; args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	proc = g_subprocess_newv((const gchar *const *)argv->pdata,
				 G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
				 &error);
	g_assert_no_error(error);
	g_assert_true(g_subprocess_communicate_utf8(proc, NULL, NULL, &out, &err, &error));
	g_assert_no_error(error);
	if (!g_subprocess_get_successful(proc))
		g_test_message("openssl %s failed: %s", args[0], err);
	g_assert_true(g_subprocess_get_successful(proc));
}

static gchar *
key_path(const gchar *name)
{
	return g_build_filename(keys.dir, name, NULL);
}

static void
keys_ensure(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *other_fn = NULL;
	g_autofree gchar *ec_fn = NULL;
	g_autofree gchar *ec384_fn = NULL;

	if (keys.dir != NULL)
		return;
	keys.dir = g_dir_make_tmp("herald-auth-test-XXXXXX", &error);
	g_assert_no_error(error);
	keys.rsa_private_fn = key_path("rsa.pem");
	keys.rsa_public_fn = key_path("rsa.pub");
	keys.rsa_pkcs1_fn = key_path("rsa-pkcs1.pub");
	other_fn = key_path("other.pem");
	ec_fn = key_path("ec.pem");
	keys.ec_public_fn = key_path("ec.pub");
	ec384_fn = key_path("ec384.pem");
	keys.ec384_public_fn = key_path("ec384.pub");
	{
		const gchar *a1[] = {"genrsa", "-out", keys.rsa_private_fn, "2048", NULL};
		const gchar *a2[] =
		    {"rsa", "-in", keys.rsa_private_fn, "-pubout", "-out", keys.rsa_public_fn, NULL};
		const gchar *a3[] = {"rsa",
				     "-in",
				     keys.rsa_private_fn,
				     "-RSAPublicKey_out",
				     "-out",
				     keys.rsa_pkcs1_fn,
				     NULL};
		const gchar *a4[] = {"genrsa", "-out", other_fn, "2048", NULL};
		const gchar *a5[] =
		    {"ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", ec_fn, NULL};
		const gchar *a6[] = {"ec", "-in", ec_fn, "-pubout", "-out", keys.ec_public_fn, NULL};
		const gchar *a7[] =
		    {"ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", ec384_fn, NULL};
		const gchar *a8[] =
		    {"ec", "-in", ec384_fn, "-pubout", "-out", keys.ec384_public_fn, NULL};
		const gchar *const *all[] = {a1, a2, a3, a4, a5, a6, a7, a8};
		for (guint i = 0; i < G_N_ELEMENTS(all); i++)
			openssl(all[i]);
	}
	keys.rsa_private = read_text(keys.rsa_private_fn);
	keys.rsa_public = read_text(keys.rsa_public_fn);
	keys.other_rsa_private = read_text(other_fn);
	keys.ec_private = read_text(ec_fn);
}

static void
keys_clear(void)
{
	g_autoptr(GDir) dir = NULL;
	const gchar *name;

	if (keys.dir == NULL)
		return;
	dir = g_dir_open(keys.dir, 0, NULL);
	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *fn = g_build_filename(keys.dir, name, NULL);
		g_unlink(fn);
	}
	g_rmdir(keys.dir);
	g_clear_pointer(&keys.dir, g_free);
	g_clear_pointer(&keys.rsa_private, g_free);
	g_clear_pointer(&keys.rsa_public_fn, g_free);
	g_clear_pointer(&keys.rsa_public, g_free);
	g_clear_pointer(&keys.rsa_pkcs1_fn, g_free);
	g_clear_pointer(&keys.rsa_private_fn, g_free);
	g_clear_pointer(&keys.other_rsa_private, g_free);
	g_clear_pointer(&keys.ec_private, g_free);
	g_clear_pointer(&keys.ec_public_fn, g_free);
	g_clear_pointer(&keys.ec384_public_fn, g_free);
}

static gint64
now_s(void)
{
	return g_get_real_time() / G_USEC_PER_SEC;
}

/* a token signed by libjwt; @claims_json is a JSON object */
static gchar *
sign(jwt_alg_t alg, const gchar *key, const gchar *claims_json)
{
	g_autoptr(jwt_t) jwt = NULL;
	g_autofree gchar *out = NULL;

	g_assert_cmpint(jwt_new(&jwt), ==, 0);
	g_assert_cmpint(jwt_add_grants_json(jwt, claims_json), ==, 0);
	g_assert_cmpint(jwt_set_alg(jwt, alg, (const guchar *)key, (gint)strlen(key)), ==, 0);
	/* malloc()ed; g_free() is free() since GLib 2.46 */
	out = jwt_encode_str(jwt);
	g_assert_nonnull(out);
	return g_steal_pointer(&out);
}

/* the usual claims: sub, role and an exp @exp_offset seconds from now, then @extra */
static gchar *
claims(const gchar *extra, gint64 exp_offset)
{
	return g_strdup_printf("{\"sub\":\"42\",\"role\":\"SELLER\",\"exp\":%" G_GINT64_FORMAT "%s%s}",
			       now_s() + exp_offset,
			       extra != NULL ? "," : "",
			       extra != NULL ? extra : "");
}

static gchar *
b64url(const guint8 *data, gsize len)
{
	gchar *b64 = g_base64_encode(data, len);
	gsize n = strlen(b64);
	while (n > 0 && b64[n - 1] == '=')
		b64[--n] = '\0';
	g_strdelimit(b64, "+", '-');
	g_strdelimit(b64, "/", '_');
	return b64;
}

static gchar *
b64url_str(const gchar *text)
{
	return b64url((const guint8 *)text, strlen(text));
}

static gchar *
hs256_signature(const gchar *key, gsize key_len, const gchar *signing_input)
{
	g_autoptr(GHmac) hmac = g_hmac_new(G_CHECKSUM_SHA256, (const guchar *)key, key_len);
	guint8 digest[32];
	gsize len = sizeof(digest);
	g_hmac_update(hmac, (const guchar *)signing_input, -1);
	g_hmac_get_digest(hmac, digest, &len);
	return b64url(digest, len);
}

/* a hand-built token: any header, any payload, HMAC-SHA256 with @hmac_key or an
 * empty signature when it is NULL */
static gchar *
forge(const gchar *header, const gchar *payload, const gchar *hmac_key)
{
	g_autofree gchar *h = b64url_str(header);
	g_autofree gchar *p = b64url_str(payload);
	g_autofree gchar *input = g_strdup_printf("%s.%s", h, p);
	g_autofree gchar *sig = NULL;

	if (hmac_key != NULL)
		sig = hs256_signature(hmac_key, strlen(hmac_key), input);
	return g_strdup_printf("%s.%s", input, sig != NULL ? sig : "");
}

static HeraldConfig *
config_new(const gchar *data)
{
	g_autoptr(HeraldConfig) config = herald_config_new();
	g_autoptr(GError) error = NULL;
	const HeraldConfigKey *auth_keys;
	guint n_keys = 0;
	g_autofree gchar *text = g_strdup_printf("[auth]\n%s\n", data);

	auth_keys = herald_auth_get_config_keys(&n_keys);
	herald_config_add_schema(config, "auth", auth_keys, n_keys);
	g_assert_true(herald_config_load_data(config, text, &error));
	g_assert_no_error(error);
	return g_steal_pointer(&config);
}

/* a HeraldAuth from a configuration that must also pass validation */
static HeraldAuth *
auth_new(const gchar *data)
{
	g_autoptr(HeraldConfig) config = config_new(data);
	g_autoptr(GPtrArray) problems = herald_config_validate(config);
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldAuth) auth = NULL;

	for (guint i = 0; problems != NULL && i < problems->len; i++) {
		g_autofree gchar *str = herald_config_problem_to_string(g_ptr_array_index(problems, i));
		g_test_message("unexpected problem: %s", str);
	}
	g_assert_cmpuint(problems != NULL ? problems->len : 0, ==, 0);
	auth = herald_auth_new(config, &error);
	g_assert_no_error(error);
	g_assert_nonnull(auth);
	return g_steal_pointer(&auth);
}

static void
assert_config_error(const gchar *data, const gchar *message_part)
{
	g_autoptr(HeraldConfig) config = config_new(data);
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldAuth) auth = herald_auth_new(config, &error);

	g_assert_null(auth);
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
	g_test_message("%s", error->message);
	if (strstr(error->message, message_part) == NULL)
		g_test_message("expected '%s' in '%s'", message_part, error->message);
	g_assert_nonnull(strstr(error->message, message_part));
}

static HeraldIdentity *
assert_accepted(HeraldAuth *auth, const gchar *token)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldIdentity) identity = herald_auth_verify(auth, token, &error);
	g_assert_no_error(error);
	g_assert_nonnull(identity);
	return g_steal_pointer(&identity);
}

/* refused with @code and exactly @message, which holds no part of the token */
static void
assert_refused(HeraldAuth *auth, const gchar *token, HeraldError code, const gchar *message)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldIdentity) identity = herald_auth_verify(auth, token, &error);
	g_auto(GStrv) segments = NULL;

	g_assert_null(identity);
	g_assert_error(error, HERALD_ERROR, (gint)code);
	g_assert_cmpstr(error->message, ==, message);
	/* short garbage may well be part of a message: look for real tokens only */
	if (token == NULL || strlen(token) < 8)
		return;
	g_assert_null(strstr(error->message, token));
	segments = g_strsplit(token, ".", -1);
	for (guint i = 0; segments[i] != NULL; i++) {
		if (strlen(segments[i]) >= 8)
			g_assert_null(strstr(error->message, segments[i]));
	}
}

static void
test_schema(void)
{
	guint n_keys = 0;
	const HeraldConfigKey *auth_keys = herald_auth_get_config_keys(&n_keys);
	struct {
		const gchar *key;
		HeraldConfigType type;
		const gchar *default_value;
	} expected[] = {
	    {"algorithms", HERALD_CONFIG_LIST, "HS256"},
	    {"secret", HERALD_CONFIG_SECRET, NULL},
	    {"public-key-file", HERALD_CONFIG_STRING, NULL},
	    {"issuer", HERALD_CONFIG_STRING, NULL},
	    {"audience", HERALD_CONFIG_STRING, NULL},
	    {"leeway-s", HERALD_CONFIG_UINT, "30"},
	    {"require-exp", HERALD_CONFIG_BOOLEAN, "true"},
	    {"user-claim", HERALD_CONFIG_LIST, "sub;user_id"},
	    {"role-claim", HERALD_CONFIG_STRING, "role"},
	    {"service-roles", HERALD_CONFIG_LIST, "SERVICE"},
	    {"admin-roles", HERALD_CONFIG_LIST, "ADMIN"},
	    {"max-token-bytes", HERALD_CONFIG_UINT, "8192"},
	    {"api-key", HERALD_CONFIG_SECRET, NULL},
	};
	g_autoptr(HeraldConfig) config = config_new("");

	g_assert_cmpuint(n_keys, ==, G_N_ELEMENTS(expected));
	for (guint i = 0; i < n_keys; i++) {
		g_assert_cmpstr(auth_keys[i].key, ==, expected[i].key);
		g_assert_cmpint(auth_keys[i].type, ==, expected[i].type);
		g_assert_cmpstr(auth_keys[i].default_value, ==, expected[i].default_value);
		g_assert_nonnull(auth_keys[i].description);
	}
	g_assert_cmpuint(auth_keys[5].min, ==, 0);
	g_assert_cmpuint(auth_keys[5].max, ==, 3600);
	g_assert_cmpuint(auth_keys[7].max, ==, 8);
	g_assert_cmpuint(auth_keys[11].min, ==, 256);
	g_assert_cmpuint(auth_keys[11].max, ==, 65536);

	/* the getters see the defaults, and secret-file is the secret's twin */
	g_assert_cmpuint(herald_config_get_uint64(config, "auth", "leeway-s"), ==, 30);
	g_assert_cmpuint(herald_config_get_uint64(config, "auth", "max-token-bytes"), ==, 8192);
	g_assert_true(herald_config_get_boolean(config, "auth", "require-exp"));
	g_assert_null(herald_config_get_string(config, "auth", "secret-file"));
}

static void
test_hs_valid(void)
{
	g_autoptr(HeraldAuth) auth = auth_new("algorithms=HS256;HS384;HS512\n"
					      "secret=" SECRET "\n"
					      "leeway-s=45\n"
					      "service-roles=SERVICE;WORKER\n");
	g_autofree gchar *c = claims("\"seller_id\":123,\"name\":\"x\"", 300);
	jwt_alg_t algs[] = {JWT_ALG_HS256, JWT_ALG_HS384, JWT_ALG_HS512};
	g_autofree gchar *c_service = g_strdup_printf(
	    "{\"sub\":\"svc\",\"role\":\"WORKER\",\"exp\":%" G_GINT64_FORMAT "}", now_s() + 60);
	g_autofree gchar *t_service = sign(JWT_ALG_HS256, SECRET, c_service);
	g_autoptr(HeraldIdentity) service = assert_accepted(auth, t_service);

	for (guint i = 0; i < G_N_ELEMENTS(algs); i++) {
		g_autofree gchar *token = sign(algs[i], SECRET, c);
		g_autoptr(HeraldIdentity) id = assert_accepted(auth, token);
		JsonObject *all = herald_identity_get_claims(id);

		g_assert_cmpstr(herald_identity_get_user_id(id), ==, "42");
		g_assert_cmpstr(herald_identity_get_role(id), ==, "SELLER");
		g_assert_cmpint(herald_identity_get_expires(id), >, now_s() + 200);
		g_assert_cmpint(herald_identity_get_expires(id), <=, now_s() + 300);
		g_assert_true(json_object_is_immutable(all));
		g_assert_cmpint(json_object_get_int_member(all, "seller_id"), ==, 123);
		g_assert_cmpstr(json_object_get_string_member(all, "name"), ==, "x");
		g_assert_false(herald_auth_is_admin(auth, id));
		g_assert_false(herald_auth_is_service(auth, id));
	}
	g_assert_true(herald_auth_is_service(auth, service));
	g_assert_false(herald_auth_is_admin(auth, service));
	g_assert_false(herald_auth_is_service(auth, NULL));
	/* roles compare case-insensitively, service roles too (seed 002's
	 * lowercase roles) */
	{
		g_autofree gchar *c_lower = g_strdup_printf(
		    "{\"sub\":\"svc\",\"role\":\"worker\",\"exp\":%" G_GINT64_FORMAT "}",
		    now_s() + 60);
		g_autofree gchar *t_lower = sign(JWT_ALG_HS256, SECRET, c_lower);
		g_autoptr(HeraldIdentity) lower = assert_accepted(auth, t_lower);
		g_assert_true(herald_auth_is_service(auth, lower));
	}
	g_assert_cmpint(herald_auth_get_leeway(auth), ==, 45);
}

static void
test_rs256_valid(void)
{
	g_autofree gchar *cfg = NULL;
	g_autofree gchar *cfg_pkcs1 = NULL;
	g_autoptr(HeraldAuth) auth = NULL;
	g_autoptr(HeraldAuth) auth_pkcs1 = NULL;
	g_autofree gchar *c = g_strdup_printf(
	    "{\"sub\":\"7\",\"role\":\"ADMIN\",\"exp\":%" G_GINT64_FORMAT "}", now_s() + 300);
	g_autofree gchar *token = NULL;
	g_autoptr(HeraldIdentity) id = NULL;
	g_autoptr(HeraldIdentity) id_pkcs1 = NULL;

	keys_ensure();
	cfg = g_strdup_printf("algorithms=RS256\npublic-key-file=%s", keys.rsa_public_fn);
	cfg_pkcs1 = g_strdup_printf("algorithms=RS256\npublic-key-file=%s", keys.rsa_pkcs1_fn);
	auth = auth_new(cfg);
	auth_pkcs1 = auth_new(cfg_pkcs1);
	token = sign(JWT_ALG_RS256, keys.rsa_private, c);
	id = assert_accepted(auth, token);
	g_assert_cmpstr(herald_identity_get_user_id(id), ==, "7");
	g_assert_cmpstr(herald_identity_get_role(id), ==, "ADMIN");
	g_assert_true(herald_auth_is_admin(auth, id));
	/* a PKCS#1 public key works as well as SPKI */
	id_pkcs1 = assert_accepted(auth_pkcs1, token);
	g_assert_cmpstr(herald_identity_get_user_id(id_pkcs1), ==, "7");
}

static void
test_es256_valid(void)
{
	g_autofree gchar *cfg = NULL;
	g_autoptr(HeraldAuth) auth = NULL;
	g_autofree gchar *c = claims(NULL, 300);
	g_autofree gchar *token = NULL;
	g_autofree gchar *rs = NULL;
	g_autoptr(HeraldIdentity) id = NULL;

	keys_ensure();
	cfg = g_strdup_printf("algorithms=ES256\npublic-key-file=%s", keys.ec_public_fn);
	auth = auth_new(cfg);
	token = sign(JWT_ALG_ES256, keys.ec_private, c);
	id = assert_accepted(auth, token);
	g_assert_cmpstr(herald_identity_get_user_id(id), ==, "42");
	rs = sign(JWT_ALG_RS256, keys.rsa_private, c);
	assert_refused(auth, rs, HERALD_ERROR_UNAUTHENTICATED, "token algorithm 'RS256' is not allowed");
}

static void
test_malformed(void)
{
	g_autoptr(HeraldAuth) auth = auth_new("secret=" SECRET);
	g_autofree gchar *c = claims(NULL, 300);
	g_autofree gchar *good = sign(JWT_ALG_HS256, SECRET, c);
	g_autofree gchar *not_json = forge("{\"alg\":\"HS256\"", c, SECRET);
	g_autofree gchar *array = forge("[\"HS256\"]", c, SECRET);
	g_autofree gchar *no_alg = forge("{\"typ\":\"JWT\"}", c, SECRET);
	g_autofree gchar *num_alg = forge("{\"alg\":256}", c, SECRET);
	g_autofree gchar *empty_alg = forge("{\"alg\":\"\"}", c, SECRET);
	g_autofree gchar *crit = forge("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", c, SECRET);
	g_autofree gchar *payload_array = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "[1]", SECRET);
	g_autofree gchar *padded = NULL;
	g_autofree gchar *four_parts = g_strdup_printf("%s.x", good);
	g_autofree gchar *bad_char = NULL;
	g_autofree gchar *spaced = g_strdup_printf(" %s", good);
	g_autofree gchar *no_payload = NULL;
	g_auto(GStrv) parts = g_strsplit(good, ".", -1);
	/* e30 is {}: a header without alg; e30AB cannot be base64url (4n+1 long) */
	const gchar *garbage[] = {"abc",
				  "a.b",
				  "..",
				  "a..c",
				  ".b.c",
				  "!!.??.##",
				  "e30.e30",
				  "e30.e30.c2ln",
				  "e30AB.e30.c2ln",
				  "eyJhbGciOiJIUzI1NiJ9.e30AB.c2ln",
				  NULL};

	assert_refused(auth, NULL, HERALD_ERROR_UNAUTHENTICATED, "missing token");
	assert_refused(auth, "", HERALD_ERROR_UNAUTHENTICATED, "missing token");
	for (guint i = 0; garbage[i] != NULL; i++)
		assert_refused(auth, garbage[i], HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	assert_refused(auth, four_parts, HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	assert_refused(auth, spaced, HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	/* base64url has no padding, and no + or / */
	padded = g_strdup_printf("%s=.%s.%s", parts[0], parts[1], parts[2]);
	assert_refused(auth, padded, HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	bad_char = g_strdup_printf("%s.%s+.%s", parts[0], parts[1], parts[2]);
	assert_refused(auth, bad_char, HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	no_payload = g_strdup_printf("%s..%s", parts[0], parts[2]);
	assert_refused(auth, no_payload, HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	/* the header must be a JSON object with a string alg, and no crit */
	assert_refused(auth, not_json, HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	assert_refused(auth, array, HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	assert_refused(auth, no_alg, HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	assert_refused(auth, num_alg, HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	assert_refused(auth, empty_alg, HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	assert_refused(auth, crit, HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	/* well signed, but the claims are not an object */
	assert_refused(auth, payload_array, HERALD_ERROR_UNAUTHENTICATED, "malformed token");
}

static void
test_bad_signature(void)
{
	g_autofree gchar *cfg = NULL;
	g_autoptr(HeraldAuth) auth = NULL;
	g_autofree gchar *c = claims(NULL, 300);
	g_autofree gchar *other_hs = sign(JWT_ALG_HS256, OTHER_SECRET, c);
	g_autofree gchar *other_rs = NULL;
	g_autofree gchar *good = sign(JWT_ALG_HS256, SECRET, c);
	g_autofree gchar *no_sig = NULL;
	g_autofree gchar *hand = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", c, SECRET);
	g_autoptr(HeraldIdentity) id = NULL;
	g_auto(GStrv) parts = g_strsplit(good, ".", -1);

	keys_ensure();
	cfg = g_strdup_printf("algorithms=HS256;RS256\nsecret=%s\npublic-key-file=%s",
			      SECRET,
			      keys.rsa_public_fn);
	auth = auth_new(cfg);
	other_rs = sign(JWT_ALG_RS256, keys.other_rsa_private, c);

	/* the hand-built HS256 token is right, so forge() is */
	id = assert_accepted(auth, hand);
	assert_refused(auth, other_hs, HERALD_ERROR_UNAUTHENTICATED, "token signature is invalid");
	assert_refused(auth, other_rs, HERALD_ERROR_UNAUTHENTICATED, "token signature is invalid");
	no_sig = g_strdup_printf("%s.%s.", parts[0], parts[1]);
	assert_refused(auth, no_sig, HERALD_ERROR_UNAUTHENTICATED, "token signature is invalid");
}

static void
test_tampered(void)
{
	g_autoptr(HeraldAuth) auth = auth_new("secret=" SECRET);
	g_autofree gchar *c = claims(NULL, 300);
	g_autofree gchar *good = sign(JWT_ALG_HS256, SECRET, c);
	g_auto(GStrv) parts = g_strsplit(good, ".", -1);
	g_autofree gchar *c_admin = g_strdup_printf(
	    "{\"sub\":\"42\",\"role\":\"ADMIN\",\"exp\":%" G_GINT64_FORMAT "}", now_s() + 300);
	g_autofree gchar *payload = NULL;
	g_autofree gchar *tampered = NULL;
	g_autofree gchar *flipped = g_strdup(good);
	gchar *p = strchr(flipped, '.') + 5;

	/* a new payload under the old signature */
	payload = b64url_str(c_admin);
	tampered = g_strdup_printf("%s.%s.%s", parts[0], payload, parts[2]);
	assert_refused(auth, tampered, HERALD_ERROR_UNAUTHENTICATED, "token signature is invalid");

	/* one character of the payload changed */
	*p = *p == 'A' ? 'B' : 'A';
	g_assert_null(herald_auth_verify(auth, flipped, NULL));
}

static void
test_expiry(void)
{
	g_autoptr(HeraldAuth) auth = auth_new("secret=" SECRET "\nleeway-s=30");
	g_autoptr(HeraldAuth) strict = auth_new("secret=" SECRET "\nleeway-s=0");
	g_autoptr(HeraldAuth) lax = auth_new("secret=" SECRET "\nrequire-exp=false");
	g_autofree gchar *c_expired = claims(NULL, -3600);
	g_autofree gchar *c_leeway = claims(NULL, -10);
	g_autofree gchar *expired = sign(JWT_ALG_HS256, SECRET, c_expired);
	g_autofree gchar *in_leeway = sign(JWT_ALG_HS256, SECRET, c_leeway);
	g_autofree gchar *no_exp = sign(JWT_ALG_HS256, SECRET, "{\"sub\":\"1\",\"role\":\"R\"}");
	g_autofree gchar *str_exp =
	    sign(JWT_ALG_HS256, SECRET, "{\"sub\":\"1\",\"role\":\"R\",\"exp\":\"tomorrow\"}");
	g_autofree gchar *huge_exp = sign(
	    JWT_ALG_HS256, SECRET, "{\"sub\":\"1\",\"role\":\"R\",\"exp\":9223372036854775807}");
	gint64 float_exp_s = now_s() + 300;
	g_autofree gchar *c_float = g_strdup_printf(
	    "{\"sub\":\"1\",\"role\":\"R\",\"exp\":%" G_GINT64_FORMAT ".5}", float_exp_s);
	g_autofree gchar *float_exp = sign(JWT_ALG_HS256, SECRET, c_float);
	g_autofree gchar *c_iat = claims("\"iat\":\"now\"", 300);
	g_autofree gchar *str_iat = sign(JWT_ALG_HS256, SECRET, c_iat);
	g_autoptr(HeraldIdentity) id_leeway = NULL;
	g_autoptr(HeraldIdentity) id_no_exp = NULL;
	g_autoptr(HeraldIdentity) id_huge = NULL;
	g_autoptr(HeraldIdentity) id_float = NULL;

	assert_refused(auth, expired, HERALD_ERROR_TOKEN_EXPIRED, "token expired");
	id_leeway = assert_accepted(auth, in_leeway);
	g_assert_cmpint(herald_identity_get_expires(id_leeway), <, now_s());
	assert_refused(strict, in_leeway, HERALD_ERROR_TOKEN_EXPIRED, "token expired");

	/* exp is required unless require-exp=false, and always a number */
	assert_refused(auth, no_exp, HERALD_ERROR_UNAUTHENTICATED, "token has no 'exp' claim");
	id_no_exp = assert_accepted(lax, no_exp);
	g_assert_cmpint(herald_identity_get_expires(id_no_exp), ==, 0);
	assert_refused(auth, str_exp, HERALD_ERROR_UNAUTHENTICATED, "token claim 'exp' is not a number");
	assert_refused(lax, str_exp, HERALD_ERROR_UNAUTHENTICATED, "token claim 'exp' is not a number");
	assert_refused(auth, str_iat, HERALD_ERROR_UNAUTHENTICATED, "token claim 'iat' is not a number");

	/* extreme values neither overflow nor wrap */
	id_huge = assert_accepted(auth, huge_exp);
	g_assert_cmpint(herald_identity_get_expires(id_huge), ==, G_MAXINT64);
	id_float = assert_accepted(auth, float_exp);
	g_assert_cmpint(herald_identity_get_expires(id_float), ==, float_exp_s);
}

static void
test_not_before(void)
{
	g_autoptr(HeraldAuth) auth = auth_new("secret=" SECRET "\nleeway-s=30");
	g_autofree gchar *c_future = NULL;
	g_autofree gchar *c_skew = NULL;
	g_autofree gchar *c_past = NULL;
	g_autofree gchar *c_str = claims("\"nbf\":\"soon\"", 300);
	g_autofree gchar *future = NULL;
	g_autofree gchar *skew = NULL;
	g_autofree gchar *past = NULL;
	g_autofree gchar *str = sign(JWT_ALG_HS256, SECRET, c_str);
	g_autoptr(HeraldIdentity) id_skew = NULL;
	g_autoptr(HeraldIdentity) id_past = NULL;
	g_autofree gchar *extra_future = g_strdup_printf("\"nbf\":%" G_GINT64_FORMAT, now_s() + 600);
	g_autofree gchar *extra_skew = g_strdup_printf("\"nbf\":%" G_GINT64_FORMAT, now_s() + 10);
	g_autofree gchar *extra_past = g_strdup_printf("\"nbf\":%" G_GINT64_FORMAT ",\"iat\":%"
						       G_GINT64_FORMAT,
						       now_s() - 60,
						       now_s() - 60);

	c_future = claims(extra_future, 900);
	c_skew = claims(extra_skew, 900);
	c_past = claims(extra_past, 900);
	future = sign(JWT_ALG_HS256, SECRET, c_future);
	skew = sign(JWT_ALG_HS256, SECRET, c_skew);
	past = sign(JWT_ALG_HS256, SECRET, c_past);
	assert_refused(auth, future, HERALD_ERROR_UNAUTHENTICATED, "token not yet valid");
	id_skew = assert_accepted(auth, skew);
	id_past = assert_accepted(auth, past);
	assert_refused(auth, str, HERALD_ERROR_UNAUTHENTICATED, "token claim 'nbf' is not a number");
}

static void
test_alg_none(void)
{
	g_autoptr(HeraldAuth) auth = auth_new("secret=" SECRET);
	g_autofree gchar *c = claims(NULL, 300);
	const gchar *headers[] = {
	    "{\"alg\":\"none\",\"typ\":\"JWT\"}",
	    "{\"alg\":\"none\"}",
	};
	g_autofree gchar *upper = forge("{\"alg\":\"NONE\"}", c, NULL);
	g_autofree gchar *with_sig = forge("{\"alg\":\"none\"}", c, SECRET);

	for (guint i = 0; i < G_N_ELEMENTS(headers); i++) {
		g_autofree gchar *token = forge(headers[i], c, NULL);
		g_autoptr(jwt_t) naive = NULL;

		/* libjwt without a key would take it: the danger is real */
		g_assert_cmpint(jwt_decode(&naive, token, NULL, 0), ==, 0);
		assert_refused(auth,
			       token,
			       HERALD_ERROR_UNAUTHENTICATED,
			       "token algorithm 'none' is not allowed");
	}
	assert_refused(auth, upper, HERALD_ERROR_UNAUTHENTICATED, "token algorithm 'NONE' is not allowed");
	assert_refused(auth,
		       with_sig,
		       HERALD_ERROR_UNAUTHENTICATED,
		       "token algorithm 'none' is not allowed");
}

/* HS256 keyed with the RSA public key, which an attacker can download */
static void
test_alg_confusion(void)
{
	g_autofree gchar *cfg_rs = NULL;
	g_autofree gchar *cfg_mixed = NULL;
	g_autoptr(HeraldAuth) auth_rs = NULL;
	g_autoptr(HeraldAuth) auth_mixed = NULL;
	g_autofree gchar *c = g_strdup_printf(
	    "{\"sub\":\"mallory\",\"role\":\"ADMIN\",\"exp\":%" G_GINT64_FORMAT "}", now_s() + 300);
	g_autofree gchar *confused = NULL;
	g_autofree gchar *hs = NULL;
	g_autoptr(jwt_t) naive = NULL;
	g_autoptr(HeraldIdentity) id = NULL;

	keys_ensure();
	cfg_rs = g_strdup_printf("algorithms=RS256\npublic-key-file=%s", keys.rsa_public_fn);
	cfg_mixed = g_strdup_printf("algorithms=HS256;RS256\nsecret=%s\npublic-key-file=%s",
				    SECRET,
				    keys.rsa_public_fn);
	auth_rs = auth_new(cfg_rs);
	auth_mixed = auth_new(cfg_mixed);
	confused = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", c, keys.rsa_public);
	hs = sign(JWT_ALG_HS256, SECRET, c);

	/* naive libjwt use (the public key for every token) accepts it */
	g_assert_cmpint(jwt_decode(&naive,
				   confused,
				   (const guchar *)keys.rsa_public,
				   (gint)strlen(keys.rsa_public)),
			==,
			0);
	g_assert_cmpint(jwt_get_alg(naive), ==, JWT_ALG_HS256);

	assert_refused(auth_rs,
		       confused,
		       HERALD_ERROR_UNAUTHENTICATED,
		       "token algorithm 'HS256' is not allowed");
	/* with HS256 allowed too, HS256 is checked with the secret only */
	assert_refused(auth_mixed, confused, HERALD_ERROR_UNAUTHENTICATED, "token signature is invalid");
	id = assert_accepted(auth_mixed, hs);
	g_assert_cmpstr(herald_identity_get_user_id(id), ==, "mallory");
}

static void
test_alg_not_allowed(void)
{
	g_autoptr(HeraldAuth) auth = auth_new("algorithms=HS256\nsecret=" SECRET);
	g_autofree gchar *c = claims(NULL, 300);
	g_autofree gchar *t384 = sign(JWT_ALG_HS384, SECRET, c);
	g_autofree gchar *t512 = sign(JWT_ALG_HS512, SECRET, c);
	g_autofree gchar *lower = forge("{\"alg\":\"hs256\"}", c, SECRET);
	g_autofree gchar *hostile = forge("{\"alg\":\"HS256\\n<b>x</b> and a long tail\"}", c, SECRET);
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldIdentity) id = NULL;

	assert_refused(auth, t384, HERALD_ERROR_UNAUTHENTICATED, "token algorithm 'HS384' is not allowed");
	assert_refused(auth, t512, HERALD_ERROR_UNAUTHENTICATED, "token algorithm 'HS512' is not allowed");
	assert_refused(auth, lower, HERALD_ERROR_UNAUTHENTICATED, "token algorithm 'hs256' is not allowed");
	/* what the client wrote comes back short and harmless */
	id = herald_auth_verify(auth, hostile, &error);
	g_assert_null(id);
	g_assert_error(error, HERALD_ERROR, HERALD_ERROR_UNAUTHENTICATED);
	g_assert_cmpstr(error->message, ==, "token algorithm 'HS256??b?x??b??a' is not allowed");
}

static void
test_user_claim(void)
{
	g_autoptr(HeraldAuth) auth = auth_new("secret=" SECRET);
	g_autoptr(HeraldAuth) custom = auth_new("secret=" SECRET "\nuser-claim=uid\nrole-claim=kind");
	gint64 exp = now_s() + 300;
	struct {
		const gchar *claims;
		const gchar *user_id; /* NULL: refused with @message */
		const gchar *message;
	} cases[] = {
	    {"\"sub\":\"abc\",\"user_id\":\"7\"", "abc", NULL},
	    {"\"user_id\":\"7\"", "7", NULL},
	    {"\"user_id\":7", "7", NULL},
	    {"\"sub\":42", "42", NULL},
	    {"\"sub\":-3", "-3", NULL},
	    {"\"sub\":\"\",\"user_id\":9", "9", NULL},
	    {"\"sub\":true,\"user_id\":\"u\"", "u", NULL},
	    {"", NULL, "token has no 'sub' / 'user_id' claim"},
	    {"\"sub\":\"\"", NULL, "token has no 'sub' / 'user_id' claim"},
	    {"\"sub\":1.5", NULL, "token has no 'sub' / 'user_id' claim"},
	    {"\"sub\":null", NULL, "token has no 'sub' / 'user_id' claim"},
	    {"\"sub\":[\"1\"]", NULL, "token has no 'sub' / 'user_id' claim"},
	    {"\"userID\":\"8\"", NULL, "token has no 'sub' / 'user_id' claim"},
	    {"\"sub\":\"a\\nb\"", NULL, "token user id has control characters"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *c = g_strdup_printf("{%s%s\"role\":\"R\",\"exp\":%" G_GINT64_FORMAT "}",
						      cases[i].claims,
						      cases[i].claims[0] != '\0' ? "," : "",
						      exp);
		g_autofree gchar *token = sign(JWT_ALG_HS256, SECRET, c);
		g_test_message("claims %s", c);
		if (cases[i].user_id != NULL) {
			g_autoptr(HeraldIdentity) id = assert_accepted(auth, token);
			g_assert_cmpstr(herald_identity_get_user_id(id), ==, cases[i].user_id);
		} else {
			assert_refused(auth, token, HERALD_ERROR_UNAUTHENTICATED, cases[i].message);
		}
	}

	/* a single other claim: exactly that one, no implicit user_id fallback */
	{
		g_autofree gchar *c1 = g_strdup_printf(
		    "{\"uid\":5,\"sub\":\"x\",\"kind\":\"ADMIN\",\"exp\":%" G_GINT64_FORMAT "}", exp);
		g_autofree gchar *c2 = g_strdup_printf(
		    "{\"user_id\":6,\"kind\":\"ADMIN\",\"exp\":%" G_GINT64_FORMAT "}", exp);
		g_autofree gchar *c3 = g_strdup_printf(
		    "{\"sub\":\"x\",\"kind\":\"ADMIN\",\"exp\":%" G_GINT64_FORMAT "}", exp);
		g_autofree gchar *t1 = sign(JWT_ALG_HS256, SECRET, c1);
		g_autofree gchar *t2 = sign(JWT_ALG_HS256, SECRET, c2);
		g_autofree gchar *t3 = sign(JWT_ALG_HS256, SECRET, c3);
		g_autoptr(HeraldIdentity) id1 = assert_accepted(custom, t1);

		g_assert_cmpstr(herald_identity_get_user_id(id1), ==, "5");
		g_assert_cmpstr(herald_identity_get_role(id1), ==, "ADMIN");
		assert_refused(custom, t2, HERALD_ERROR_UNAUTHENTICATED, "token has no 'uid' claim");
		assert_refused(custom, t3, HERALD_ERROR_UNAUTHENTICATED, "token has no 'uid' claim");
	}

	/* an ordered list: the first claim holding an id wins */
	{
		g_autoptr(HeraldAuth) list =
		    auth_new("secret=" SECRET "\nuser-claim=sub;user_id;userID");
		struct {
			const gchar *claims;
			const gchar *user_id;
		} list_cases[] = {
		    {"\"userID\":\"c\",\"user_id\":\"b\",\"sub\":\"a\"", "a"},
		    {"\"userID\":\"c\",\"user_id\":\"b\"", "b"},
		    {"\"userID\":\"c\"", "c"},
		    {"\"userID\":12", "12"},
		    {"\"sub\":\"\",\"user_id\":null,\"userID\":\"c\"", "c"},
		    {"\"sub\":{},\"userID\":\"c\"", "c"},
		};
		for (guint i = 0; i < G_N_ELEMENTS(list_cases); i++) {
			g_autofree gchar *c = g_strdup_printf(
			    "{%s,\"role\":\"R\",\"exp\":%" G_GINT64_FORMAT "}", list_cases[i].claims, exp);
			g_autofree gchar *token = sign(JWT_ALG_HS256, SECRET, c);
			g_autoptr(HeraldIdentity) id = assert_accepted(list, token);
			g_assert_cmpstr(herald_identity_get_user_id(id), ==, list_cases[i].user_id);
		}
		{
			g_autofree gchar *c = g_strdup_printf(
			    "{\"uid\":1,\"role\":\"R\",\"exp\":%" G_GINT64_FORMAT "}", exp);
			g_autofree gchar *token = sign(JWT_ALG_HS256, SECRET, c);
			assert_refused(list,
				       token,
				       HERALD_ERROR_UNAUTHENTICATED,
				       "token has no 'sub' / 'user_id' / 'userID' claim");
		}
	}
}

static void
test_role_claim(void)
{
	g_autoptr(HeraldAuth) auth = auth_new("secret=" SECRET "\nadmin-roles=ADMIN;ROOT");
	g_autoptr(HeraldAuth) custom = auth_new("secret=" SECRET "\nrole-claim=kind");
	gint64 exp = now_s() + 300;
	const gchar *refused[] = {
	    "",
	    ",\"role\":\"\"",
	    ",\"role\":1",
	    ",\"role\":[\"ADMIN\"]",
	    ",\"role\":null",
	};
	g_autofree gchar *c_root =
	    g_strdup_printf("{\"sub\":\"1\",\"role\":\"ROOT\",\"exp\":%" G_GINT64_FORMAT "}", exp);
	g_autofree gchar *root = sign(JWT_ALG_HS256, SECRET, c_root);
	g_autoptr(HeraldIdentity) id = assert_accepted(auth, root);

	g_assert_true(herald_auth_is_admin(auth, id));
	g_assert_false(herald_auth_is_service(auth, id));
	assert_refused(custom, root, HERALD_ERROR_UNAUTHENTICATED, "token has no 'kind' claim");
	for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
		g_autofree gchar *c =
		    g_strdup_printf("{\"sub\":\"1\"%s,\"exp\":%" G_GINT64_FORMAT "}", refused[i], exp);
		g_autofree gchar *token = sign(JWT_ALG_HS256, SECRET, c);
		assert_refused(auth, token, HERALD_ERROR_UNAUTHENTICATED, "token has no 'role' claim");
	}
}

static void
test_issuer_audience(void)
{
	g_autoptr(HeraldAuth) auth = auth_new("secret=" SECRET "\nissuer=core-api\naudience=herald");
	g_autoptr(HeraldAuth) open = auth_new("secret=" SECRET);
	struct {
		const gchar *extra;
		const gchar *message; /* NULL: accepted */
	} cases[] = {
	    {"\"iss\":\"core-api\",\"aud\":\"herald\"", NULL},
	    {"\"iss\":\"core-api\",\"aud\":[\"other\",\"herald\"]", NULL},
	    {"\"iss\":\"evil\",\"aud\":\"herald\"", "token issuer is not accepted"},
	    {"\"iss\":\"Core-API\",\"aud\":\"herald\"", "token issuer is not accepted"},
	    {"\"aud\":\"herald\"", "token issuer is not accepted"},
	    {"\"iss\":[\"core-api\"],\"aud\":\"herald\"", "token issuer is not accepted"},
	    {"\"iss\":\"core-api\",\"aud\":\"other\"", "token audience is not accepted"},
	    {"\"iss\":\"core-api\",\"aud\":[\"other\"]", "token audience is not accepted"},
	    {"\"iss\":\"core-api\",\"aud\":[]", "token audience is not accepted"},
	    {"\"iss\":\"core-api\",\"aud\":[[\"herald\"]]", "token audience is not accepted"},
	    {"\"iss\":\"core-api\",\"aud\":1", "token audience is not accepted"},
	    {"\"iss\":\"core-api\"", "token audience is not accepted"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *c = claims(cases[i].extra, 300);
		g_autofree gchar *token = sign(JWT_ALG_HS256, SECRET, c);
		g_autoptr(HeraldIdentity) id_open = NULL;

		g_test_message("claims %s", c);
		if (cases[i].message == NULL) {
			g_autoptr(HeraldIdentity) id = assert_accepted(auth, token);
			g_assert_cmpstr(herald_identity_get_user_id(id), ==, "42");
		} else {
			assert_refused(auth, token, HERALD_ERROR_UNAUTHENTICATED, cases[i].message);
		}
		/* without issuer= and audience=, neither is looked at */
		id_open = assert_accepted(open, token);
	}
}

/* JSON nested deeper than [host] max-json-depth in the header or the claims
 * (within max-token-bytes) never reaches json-glib: a malformed token */
static void
test_too_deep(void)
{
	const gchar *secret = "unit-test-secret-of-64-bytes-0123456789abcdef0123456789abcdef0123";
	g_autofree gchar *cfg = g_strdup_printf("secret=%s", secret);
	g_autoptr(HeraldAuth) auth = NULL;
	g_autofree gchar *open = g_strnfill(1000, '[');
	g_autofree gchar *close = g_strnfill(1000, ']');
	g_autofree gchar *deep_header =
	    g_strdup_printf("{\"alg\":\"HS256\",\"x\":%s%s}", open, close);
	g_autofree gchar *extra = g_strdup_printf("\"x\":%s%s", open, close);
	g_autofree gchar *deep_claims = claims(extra, 300);
	g_autofree gchar *ok_claims = claims(NULL, 300);
	g_autofree gchar *token_header = NULL;
	g_autofree gchar *token_claims = NULL;
	g_autofree gchar *token_ok = NULL;
	g_autoptr(HeraldIdentity) id = NULL;
	guint64 before = herald_json_get_rejected_total();

	g_assert_cmpuint(strlen(secret), >=, 64);
	auth = auth_new(cfg);
	token_header = forge(deep_header, ok_claims, secret);
	/* signed by libjwt, whose parser (jansson) allows 2048 levels */
	token_claims = sign(JWT_ALG_HS256, secret, deep_claims);
	token_ok = sign(JWT_ALG_HS256, secret, ok_claims);
	g_assert_cmpuint(strlen(token_claims), <=, 8192);
	assert_refused(auth, token_header, HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	assert_refused(auth, token_claims, HERALD_ERROR_UNAUTHENTICATED, "malformed token");
	g_assert_cmpuint(herald_json_get_rejected_total(), ==, before + 2);
	id = assert_accepted(auth, token_ok);
}

static void
test_too_large(void)
{
	g_autoptr(HeraldAuth) auth = auth_new("secret=" SECRET);
	g_autofree gchar *huge = g_strnfill(8193, 'a');
	g_autofree gchar *pad = g_strnfill(400, 'p');
	g_autofree gchar *extra = g_strdup_printf("\"pad\":\"%s\"", pad);
	g_autofree gchar *c = claims(extra, 300);
	g_autofree gchar *token = sign(JWT_ALG_HS256, SECRET, c);
	g_autofree gchar *cfg_exact =
	    g_strdup_printf("secret=%s\nmax-token-bytes=%zu", SECRET, strlen(token));
	g_autofree gchar *cfg_short =
	    g_strdup_printf("secret=%s\nmax-token-bytes=%zu", SECRET, strlen(token) - 1);
	g_autoptr(HeraldAuth) exact = NULL;
	g_autoptr(HeraldAuth) too_short = NULL;
	g_autoptr(HeraldIdentity) id = NULL;
	g_autoptr(HeraldIdentity) id_exact = NULL;
	g_autofree gchar *big_pad = g_strnfill(9000, 'q');
	g_autofree gchar *big_extra = g_strdup_printf("\"pad\":\"%s\"", big_pad);
	g_autofree gchar *big_claims = claims(big_extra, 300);
	g_autofree gchar *big = sign(JWT_ALG_HS256, SECRET, big_claims);

	g_assert_cmpuint(strlen(token), >, 256);
	exact = auth_new(cfg_exact);
	too_short = auth_new(cfg_short);
	assert_refused(auth, huge, HERALD_ERROR_UNAUTHENTICATED, "token is too large");
	/* a well-signed token over the limit is refused all the same */
	g_assert_cmpuint(strlen(big), >, 8192);
	assert_refused(auth, big, HERALD_ERROR_UNAUTHENTICATED, "token is too large");
	id = assert_accepted(auth, token);
	/* the limit is inclusive */
	id_exact = assert_accepted(exact, token);
	assert_refused(too_short, token, HERALD_ERROR_UNAUTHENTICATED, "token is too large");
}

static void
test_claim_string(void)
{
	g_autoptr(HeraldAuth) auth = auth_new("secret=" SECRET);
	struct {
		const gchar *value;
		const gchar *text; /* NULL: no text */
	} cases[] = {
	    {"\"123\"", "123"},
	    {"123", "123"},
	    {"-5", "-5"},
	    {"true", "true"},
	    {"false", "false"},
	    {"\"\"", ""},
	    {"1.5", NULL},
	    {"null", NULL},
	    {"[1]", NULL},
	    {"{\"a\":1}", NULL},
	};
	g_autofree gchar *c_none = claims(NULL, 300);
	g_autofree gchar *t_none = sign(JWT_ALG_HS256, SECRET, c_none);
	g_autoptr(HeraldIdentity) id_none = assert_accepted(auth, t_none);
	g_autofree gchar *missing = herald_identity_get_claim_string(id_none, "seller_id");
	g_autofree gchar *sub = herald_identity_get_claim_string(id_none, "sub");

	g_assert_null(missing);
	g_assert_cmpstr(sub, ==, "42");
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *extra = g_strdup_printf("\"seller_id\":%s", cases[i].value);
		g_autofree gchar *c = claims(extra, 300);
		g_autofree gchar *token = sign(JWT_ALG_HS256, SECRET, c);
		g_autoptr(HeraldIdentity) id = assert_accepted(auth, token);
		g_autofree gchar *text = herald_identity_get_claim_string(id, "seller_id");

		g_assert_cmpstr(text, ==, cases[i].text);
	}
}

static void
test_identity(void)
{
	g_autoptr(JsonObject) obj = json_object_new();
	g_autoptr(HeraldIdentity) id = NULL;
	g_autoptr(HeraldIdentity) empty = herald_identity_new(NULL, NULL, 0, NULL);
	HeraldIdentity *copy;
	g_autofree gchar *seller = NULL;

	json_object_set_int_member(obj, "seller_id", 9);
	id = herald_identity_new("u1", "SELLER", 1234, obj);
	g_assert_true(json_object_is_immutable(herald_identity_get_claims(id)));
	g_assert_cmpstr(herald_identity_get_user_id(id), ==, "u1");
	g_assert_cmpstr(herald_identity_get_role(id), ==, "SELLER");
	g_assert_cmpint(herald_identity_get_expires(id), ==, 1234);
	seller = herald_identity_get_claim_string(id, "seller_id");
	g_assert_cmpstr(seller, ==, "9");

	/* a boxed type whose copy is a reference */
	g_assert_true(G_TYPE_IS_BOXED(HERALD_TYPE_IDENTITY));
	copy = g_boxed_copy(HERALD_TYPE_IDENTITY, id);
	g_assert_true(copy == id);
	g_boxed_free(HERALD_TYPE_IDENTITY, copy);

	g_assert_null(herald_identity_get_user_id(empty));
	g_assert_cmpuint(json_object_get_size(herald_identity_get_claims(empty)), ==, 0);
}

static void
test_mixed_algorithms(void)
{
	g_autofree gchar *cfg = NULL;
	g_autoptr(HeraldAuth) auth = NULL;
	g_autofree gchar *c = claims(NULL, 300);
	g_autofree gchar *hs = sign(JWT_ALG_HS512, SECRET, c);
	g_autofree gchar *rs = NULL;
	g_autofree gchar *rs_other = NULL;
	g_autoptr(HeraldIdentity) id_hs = NULL;
	g_autoptr(HeraldIdentity) id_rs = NULL;

	keys_ensure();
	cfg = g_strdup_printf("algorithms=HS512;RS256;RS512\nsecret=%s\npublic-key-file=%s",
			      SECRET,
			      keys.rsa_public_fn);
	auth = auth_new(cfg);
	rs = sign(JWT_ALG_RS512, keys.rsa_private, c);
	/* an allowed alg signed by a key nobody configured */
	rs_other = sign(JWT_ALG_RS256, keys.other_rsa_private, c);
	id_hs = assert_accepted(auth, hs);
	id_rs = assert_accepted(auth, rs);
	assert_refused(auth, rs_other, HERALD_ERROR_UNAUTHENTICATED, "token signature is invalid");
}

/* keys are read once: verifying needs no file */
static void
test_keys_in_memory(void)
{
	g_autofree gchar *secret_fn = NULL;
	g_autofree gchar *pub_fn = NULL;
	g_autofree gchar *pub = NULL;
	g_autofree gchar *cfg = NULL;
	g_autoptr(HeraldAuth) auth = NULL;
	g_autofree gchar *c = claims(NULL, 300);
	g_autofree gchar *hs = sign(JWT_ALG_HS256, SECRET, c);
	g_autofree gchar *rs = NULL;

	keys_ensure();
	/* the trailing newline of a secret file is not part of the secret */
	secret_fn = write_text("in-memory.secret", SECRET "\n");
	pub = read_text(keys.rsa_public_fn);
	pub_fn = write_text("in-memory.pub", pub);
	cfg = g_strdup_printf("algorithms=HS256;RS256\nsecret-file=%s\npublic-key-file=%s",
			      secret_fn,
			      pub_fn);
	auth = auth_new(cfg);
	g_assert_cmpint(g_unlink(secret_fn), ==, 0);
	g_assert_cmpint(g_unlink(pub_fn), ==, 0);
	rs = sign(JWT_ALG_RS256, keys.rsa_private, c);
	for (guint i = 0; i < 100; i++) {
		g_autoptr(HeraldIdentity) id_hs = assert_accepted(auth, hs);
		g_autoptr(HeraldIdentity) id_rs = assert_accepted(auth, rs);
	}
}

static void
test_config_errors(void)
{
	g_autofree gchar *missing_fn = NULL;
	g_autofree gchar *empty_fn = NULL;
	g_autofree gchar *garbage_fn = NULL;
	g_autofree gchar *big_fn = NULL;
	g_autofree gchar *big = g_strnfill(64 * 1024 + 1, '-');
	g_autofree gchar *fifo_fn = NULL;
	g_autofree gchar *msg = NULL;
	struct {
		gchar *data;
		gchar *message;
	} cases[17];
	guint n = 0;

	keys_ensure();
	missing_fn = g_build_filename(keys.dir, "does-not-exist", NULL);
	empty_fn = write_text("empty.secret", "\n");
	garbage_fn = write_text("garbage.pem", "not a key\n");
	/* over the 64 KiB bound; a FIFO nobody writes to must not hang the daemon */
	big_fn = write_text("big.pem", big);
	fifo_fn = g_build_filename(keys.dir, "fifo.pem", NULL);
	g_remove(fifo_fn);
	g_assert_cmpint(mkfifo(fifo_fn, 0600), ==, 0);

	cases[n].data = g_strdup("algorithms=RS256");
	cases[n++].message = g_strdup("[auth] algorithms lists RS256 but public-key-file is not set");
	cases[n].data = g_strdup("algorithms=HS256;ES384\nsecret=" SECRET);
	cases[n++].message = g_strdup("[auth] algorithms lists ES384 but public-key-file is not set");
	cases[n].data = g_strdup("algorithms=HS256;XY999\nsecret=" SECRET);
	cases[n++].message = g_strdup("[auth] algorithms: 'XY999' is not supported");
	cases[n].data = g_strdup("algorithms=none\nsecret=" SECRET);
	cases[n++].message = g_strdup("[auth] algorithms: 'none' is not supported");
	cases[n].data = g_strdup("algorithms=hs256\nsecret=" SECRET);
	cases[n++].message = g_strdup("[auth] algorithms: 'hs256' is not supported");
	cases[n].data = g_strdup("algorithms=\nsecret=" SECRET);
	cases[n++].message = g_strdup("[auth] algorithms lists no algorithm");
	cases[n].data = g_strdup("algorithms=HS384");
	cases[n++].message =
	    g_strdup("[auth] algorithms lists HS384 but neither secret nor secret-file is set");
	cases[n].data = g_strdup_printf("secret-file=%s", empty_fn);
	cases[n++].message =
	    g_strdup("[auth] algorithms lists HS256 but neither secret nor secret-file is set");
	cases[n].data = g_strdup_printf("secret-file=%s", missing_fn);
	cases[n++].message = g_strdup(missing_fn);
	cases[n].data = g_strdup_printf("algorithms=ES256\npublic-key-file=%s", missing_fn);
	cases[n++].message = g_strdup_printf("[auth] cannot read public-key-file '%s': ", missing_fn);
	cases[n].data = g_strdup_printf("algorithms=RS256\npublic-key-file=%s", garbage_fn);
	cases[n++].message =
	    g_strdup_printf("[auth] public-key-file '%s' is not a PEM public key", garbage_fn);
	cases[n].data = g_strdup_printf("algorithms=RS256\npublic-key-file=%s", big_fn);
	cases[n++].message =
	    g_strdup_printf("[auth] public-key-file '%s' is not a PEM public key", big_fn);
	cases[n].data = g_strdup_printf("algorithms=RS256\npublic-key-file=%s", fifo_fn);
	cases[n++].message =
	    g_strdup_printf("[auth] public-key-file '%s' is not a PEM public key", fifo_fn);
	cases[n].data = g_strdup_printf("algorithms=RS256\npublic-key-file=%s", keys.rsa_private_fn);
	cases[n++].message = g_strdup_printf("[auth] public-key-file '%s' is not a PEM public key",
					     keys.rsa_private_fn);
	cases[n].data = g_strdup_printf("algorithms=ES256\npublic-key-file=%s", keys.rsa_public_fn);
	cases[n++].message =
	    g_strdup_printf("[auth] algorithms lists ES256 but public-key-file '%s' is not a key "
			    "for it",
			    keys.rsa_public_fn);
	cases[n].data = g_strdup_printf("algorithms=RS256;ES256\npublic-key-file=%s", keys.ec_public_fn);
	cases[n++].message =
	    g_strdup_printf("[auth] algorithms lists RS256 but public-key-file '%s' is not a key "
			    "for it",
			    keys.ec_public_fn);
	cases[n].data = g_strdup_printf("algorithms=ES384\npublic-key-file=%s", keys.ec_public_fn);
	cases[n++].message =
	    g_strdup_printf("[auth] algorithms lists ES384 but public-key-file '%s' is not a key "
			    "for it",
			    keys.ec_public_fn);
	g_assert_cmpuint(n, ==, G_N_ELEMENTS(cases));

	for (guint i = 0; i < n; i++) {
		g_test_message("config: %s", cases[i].data);
		assert_config_error(cases[i].data, cases[i].message);
		g_free(cases[i].data);
		g_free(cases[i].message);
	}
}

/* what is not needed is not read */
static void
test_config_unused_keys(void)
{
	g_autofree gchar *missing_fn = NULL;
	g_autofree gchar *cfg_rs = NULL;
	g_autofree gchar *cfg_ec384 = NULL;
	g_autoptr(HeraldConfig) config_rs = NULL;
	g_autoptr(HeraldConfig) config_hs = NULL;
	g_autoptr(HeraldAuth) auth_rs = NULL;
	g_autoptr(HeraldAuth) auth_hs = NULL;
	g_autoptr(HeraldAuth) auth_ec384 = NULL;
	g_autofree gchar *cfg_hs = NULL;
	g_autoptr(GError) error = NULL;

	keys_ensure();
	missing_fn = g_build_filename(keys.dir, "does-not-exist", NULL);
	/* an RS-only config does not read the secret, an HS-only one not the key */
	cfg_rs = g_strdup_printf("algorithms=RS256\npublic-key-file=%s\nsecret-file=%s",
				 keys.rsa_public_fn,
				 missing_fn);
	config_rs = config_new(cfg_rs);
	auth_rs = herald_auth_new(config_rs, &error);
	g_assert_no_error(error);
	g_assert_nonnull(auth_rs);

	cfg_hs = g_strdup_printf("secret=%s\npublic-key-file=%s", SECRET, missing_fn);
	config_hs = config_new(cfg_hs);
	auth_hs = herald_auth_new(config_hs, &error);
	g_assert_no_error(error);
	g_assert_nonnull(auth_hs);

	/* each curve goes with its own ES algorithm */
	cfg_ec384 = g_strdup_printf("algorithms=ES384\npublic-key-file=%s", keys.ec384_public_fn);
	auth_ec384 = auth_new(cfg_ec384);
}

/* environment overrides must not leak into this test */
static void
clear_environment(void)
{
	g_auto(GStrv) names = g_listenv();
	for (guint i = 0; names[i] != NULL; i++) {
		if (g_str_has_prefix(names[i], "HERALD_AUTH_"))
			g_unsetenv(names[i]);
	}
}

/* RFC 7518 section 3.2: an HS* key at least as long as the hash */
static void
test_secret_length(void)
{
	struct {
		const gchar *algorithms;
		guint len;
		const gchar *message; /* NULL: accepted */
	} cases[] = {
	    {"HS256", 0, "[auth] algorithms lists HS256 but neither secret nor secret-file is set"},
	    {"HS256", 1, "the secret is 1 bytes long; HS256 needs at least 32 bytes (RFC 7518 section 3.2)"},
	    {"HS256", 31, "the secret is 31 bytes long; HS256 needs at least 32 bytes (RFC 7518 section 3.2)"},
	    {"HS256", 32, NULL},
	    {"HS384", 47, "the secret is 47 bytes long; HS384 needs at least 48 bytes (RFC 7518 section 3.2)"},
	    {"HS384", 48, NULL},
	    {"HS512", 63, "the secret is 63 bytes long; HS512 needs at least 64 bytes (RFC 7518 section 3.2)"},
	    {"HS512", 64, NULL},
	    {"HS512;HS256", 48, "the secret is 48 bytes long; HS512 needs at least 64 bytes (RFC 7518 section 3.2)"},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *secret = g_strnfill(cases[i].len, 'k');
		g_autofree gchar *data =
		    g_strdup_printf("algorithms=%s\nsecret=%s", cases[i].algorithms, secret);
		g_autoptr(HeraldConfig) config = config_new(data);
		g_autoptr(GError) error = NULL;
		g_autoptr(HeraldAuth) auth = herald_auth_new(config, &error);
		g_autoptr(GPtrArray) problems =
		    g_ptr_array_new_with_free_func((GDestroyNotify)herald_config_problem_free);
		gboolean ok = herald_auth_check_config(config, problems);
		g_test_message("%s/%u: %s", cases[i].algorithms, cases[i].len, error != NULL ? error->message : "ok");
		if (cases[i].message == NULL) {
			g_assert_no_error(error);
			g_assert_nonnull(auth);
			g_assert_true(ok);
			g_assert_cmpuint(problems->len, ==, 0);
			continue;
		}
		g_assert_null(auth);
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
		g_assert_cmpstr(error->message, ==, cases[i].message);
		if (cases[i].len == 0)
			continue;
		/* the same message, located at [auth] secret */
		g_assert_false(ok);
		g_assert_cmpuint(problems->len, ==, 1);
		g_assert_cmpstr(((HeraldConfigProblem *)problems->pdata[0])->group, ==, "auth");
		g_assert_cmpstr(((HeraldConfigProblem *)problems->pdata[0])->key, ==, "secret");
		g_assert_cmpstr(((HeraldConfigProblem *)problems->pdata[0])->message, ==, cases[i].message);
	}
	/* without an HS algorithm no secret is read, however short */
	{
		g_autoptr(HeraldConfig) config = config_new("algorithms=RS256\nsecret=x");
		g_autoptr(GPtrArray) problems =
		    g_ptr_array_new_with_free_func((GDestroyNotify)herald_config_problem_free);
		g_assert_true(herald_auth_check_config(config, problems));
		g_assert_cmpuint(problems->len, ==, 0);
	}
}

#define TEST_API_KEY_1 "first-api-key-0123456789abcdefghijklmnop"
#define TEST_API_KEY_2 "second-api-key-0123456789abcdefghijklmno"

static gchar *
write_file_in(const gchar *dir, const gchar *name, const gchar *contents)
{
	g_autoptr(GError) error = NULL;
	gchar *filename = g_build_filename(dir, name, NULL);
	g_assert_true(g_file_set_contents(filename, contents, -1, &error));
	g_assert_no_error(error);
	return filename;
}

/* [auth] api-key-file: one key per line, SHA-256 compared, service role only */
static void
test_api_keys(void)
{
	g_autofree gchar *dir = g_dir_make_tmp("herald-auth-test-XXXXXX", NULL);
	g_autofree gchar *key_file = write_file_in(dir, "keys", "\n" TEST_API_KEY_1 "\n\t" TEST_API_KEY_2 " \n");
	g_autofree gchar *data = g_strdup_printf("secret=%s\nservice-roles=SVC;SERVICE\napi-key-file=%s",
						 SECRET, key_file);
	g_autoptr(HeraldConfig) config = config_new(data);
	g_autoptr(GError) error = NULL;
	g_autoptr(HeraldAuth) auth = herald_auth_new(config, &error);
	g_autoptr(HeraldIdentity) one = NULL;
	g_autoptr(HeraldIdentity) two = NULL;
	const gchar *wrong[] = {"", "x", TEST_API_KEY_1 "x", "first-api-key-0123456789abcdefghijklmno",
				" " TEST_API_KEY_1};
	struct {
		const gchar *contents;
		const gchar *needle;
	} bad[] = {
	    {"", "no API key"},
	    {"\n\n", "no API key"},
	    {TEST_API_KEY_1 "\nshort\n", "line 2"},
	    {"has a space in the middle of it 0123456789\n", "line 1"},
	};

	g_assert_no_error(error);
	g_assert_true(herald_auth_has_api_keys(auth));
	one = herald_auth_verify_api_key(auth, TEST_API_KEY_1, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(herald_identity_get_role(one), ==, "SVC");
	g_assert_cmpstr(herald_identity_get_user_id(one), ==, "api-key");
	g_assert_true(herald_auth_is_service(auth, one));
	g_assert_false(herald_auth_is_admin(auth, one));
	two = herald_auth_verify_api_key(auth, TEST_API_KEY_2, &error);
	g_assert_no_error(error);
	g_assert_nonnull(two);
	for (guint i = 0; i < G_N_ELEMENTS(wrong); i++) {
		g_autoptr(HeraldIdentity) none = herald_auth_verify_api_key(auth, wrong[i], &error);
		g_assert_null(none);
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_UNAUTHENTICATED);
		g_assert_cmpstr(error->message, ==, "invalid API key");
		g_clear_error(&error);
	}
	{
		g_autoptr(HeraldIdentity) none = herald_auth_verify_api_key(auth, NULL, &error);
		g_assert_null(none);
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_UNAUTHENTICATED);
		g_clear_error(&error);
	}
	/* refused files, located by --check-config; the keys are never quoted */
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree gchar *file = write_file_in(dir, "bad", bad[i].contents);
		g_autofree gchar *text = g_strdup_printf("secret=%s\napi-key-file=%s", SECRET, file);
		g_autoptr(HeraldConfig) bad_config = config_new(text);
		g_autoptr(HeraldAuth) bad_auth = herald_auth_new(bad_config, &error);
		g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func((GDestroyNotify)herald_config_problem_free);
		HeraldConfigProblem *problem;
		g_assert_null(bad_auth);
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_CONFIG);
		if (strstr(error->message, bad[i].needle) == NULL)
			g_error("'%s' does not say '%s'", error->message, bad[i].needle);
		g_assert_null(strstr(error->message, TEST_API_KEY_1));
		g_assert_null(strstr(error->message, "space in the middle"));
		g_clear_error(&error);
		g_assert_false(herald_auth_check_config(bad_config, problems));
		g_assert_cmpuint(problems->len, ==, 1);
		problem = g_ptr_array_index(problems, 0);
		g_assert_cmpstr(problem->key, ==, "api-key-file");
		g_assert_cmpstr(problem->group, ==, "auth");
		g_remove(file);
	}
	/* no key configured: every key is refused */
	{
		g_autofree gchar *text = g_strdup_printf("secret=%s", SECRET);
		g_autoptr(HeraldConfig) plain = config_new(text);
		g_autoptr(HeraldAuth) plain_auth = herald_auth_new(plain, &error);
		g_autoptr(HeraldIdentity) none = NULL;
		g_assert_no_error(error);
		g_assert_false(herald_auth_has_api_keys(plain_auth));
		none = herald_auth_verify_api_key(plain_auth, TEST_API_KEY_1, &error);
		g_assert_null(none);
		g_assert_error(error, HERALD_ERROR, HERALD_ERROR_UNAUTHENTICATED);
		g_clear_error(&error);
	}
	g_remove(key_file);
	g_remove(dir);
}

int
main(int argc, char **argv)
{
	gint rc;

	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	clear_environment();
	g_test_add_func("/herald/auth/schema", test_schema);
	g_test_add_func("/herald/auth/secret-length", test_secret_length);
	g_test_add_func("/herald/auth/api-keys", test_api_keys);
	g_test_add_func("/herald/auth/hs-valid", test_hs_valid);
	g_test_add_func("/herald/auth/rs256-valid", test_rs256_valid);
	g_test_add_func("/herald/auth/es256-valid", test_es256_valid);
	g_test_add_func("/herald/auth/malformed", test_malformed);
	g_test_add_func("/herald/auth/bad-signature", test_bad_signature);
	g_test_add_func("/herald/auth/tampered", test_tampered);
	g_test_add_func("/herald/auth/expiry", test_expiry);
	g_test_add_func("/herald/auth/not-before", test_not_before);
	g_test_add_func("/herald/auth/alg-none", test_alg_none);
	g_test_add_func("/herald/auth/alg-confusion", test_alg_confusion);
	g_test_add_func("/herald/auth/alg-not-allowed", test_alg_not_allowed);
	g_test_add_func("/herald/auth/user-claim", test_user_claim);
	g_test_add_func("/herald/auth/role-claim", test_role_claim);
	g_test_add_func("/herald/auth/issuer-audience", test_issuer_audience);
	g_test_add_func("/herald/auth/too-large", test_too_large);
	g_test_add_func("/herald/auth/too-deep", test_too_deep);
	g_test_add_func("/herald/auth/claim-string", test_claim_string);
	g_test_add_func("/herald/auth/identity", test_identity);
	g_test_add_func("/herald/auth/mixed-algorithms", test_mixed_algorithms);
	g_test_add_func("/herald/auth/keys-in-memory", test_keys_in_memory);
	g_test_add_func("/herald/auth/config-errors", test_config_errors);
	g_test_add_func("/herald/auth/config-unused-keys", test_config_unused_keys);
	rc = g_test_run();
	keys_clear();
	return rc;
}
