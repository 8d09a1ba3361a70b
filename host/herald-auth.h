/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__HERALD_H_INSIDE__) && !defined(HERALD_COMPILATION)
#error "Only <herald.h> can be included directly."
#endif

#include <json-glib/json-glib.h>

#include "herald-config.h"

G_BEGIN_DECLS

/**
 * HeraldIdentity:
 *
 * Who a verified JWT says the caller is: `user_id` (from `[auth] user-claim`,
 * falling back to `user_id`), `role` (from `role-claim`), `expires` (the `exp`
 * claim in seconds since the epoch, 0 when the token has none) and every claim
 * (sealed JSON object) for claim filters such as `seller_id`.
 *
 * Since: 0.1
 */
typedef struct _HeraldIdentity HeraldIdentity;

#define HERALD_TYPE_IDENTITY (herald_identity_get_type())
GType
herald_identity_get_type(void);
HeraldIdentity *
herald_identity_new(const gchar *user_id, const gchar *role, gint64 expires, JsonObject *claims);
HeraldIdentity *
herald_identity_ref(HeraldIdentity *self);
void
herald_identity_unref(HeraldIdentity *self);
const gchar *
herald_identity_get_user_id(HeraldIdentity *self);
const gchar *
herald_identity_get_role(HeraldIdentity *self);
gint64
herald_identity_get_expires(HeraldIdentity *self);
JsonObject *
herald_identity_get_claims(HeraldIdentity *self);
gchar *
herald_identity_get_claim_string(HeraldIdentity *self, const gchar *claim);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldIdentity, herald_identity_unref)

/**
 * HeraldAuth:
 *
 * JWT verification shared by every plugin (libjwt 1.10). The algorithm is pinned
 * by `[auth] algorithms`: a token whose header `alg` is not listed is refused, so
 * neither `none` nor HS-with-the-public-key confusion can pass. `exp`/`nbf` are
 * checked with `leeway-s`; `iss`/`aud` when configured.
 *
 * Errors: %HERALD_ERROR_UNAUTHENTICATED (malformed, bad signature, alg not
 * allowed, missing claims, wrong issuer/audience, not yet valid) and
 * %HERALD_ERROR_TOKEN_EXPIRED. Messages never contain the token.
 *
 * Since: 0.1
 */
#define HERALD_TYPE_AUTH (herald_auth_get_type())
G_DECLARE_FINAL_TYPE(HeraldAuth, herald_auth, HERALD, AUTH, GObject)

HeraldAuth *
herald_auth_new(HeraldConfig *config, GError **error);
HeraldIdentity *
herald_auth_verify(HeraldAuth *self, const gchar *token, GError **error);
gboolean
herald_auth_is_service(HeraldAuth *self, HeraldIdentity *identity);
gboolean
herald_auth_has_api_keys(HeraldAuth *self);
HeraldIdentity *
herald_auth_verify_api_key(HeraldAuth *self, const gchar *key, GError **error);
gboolean
herald_auth_is_admin(HeraldAuth *self, HeraldIdentity *identity);
gint64
herald_auth_get_leeway(HeraldAuth *self);

gboolean
herald_auth_check_config(HeraldConfig *config, GPtrArray *problems);

/* the [auth] schema, registered by the host */
const HeraldConfigKey *
herald_auth_get_config_keys(guint *n_keys);

G_END_DECLS
