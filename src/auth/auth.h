/* auth.h - who may read which customer: issuing access tokens (Keycloak's
 * password and refresh_token grants), verifying them and API keys on every
 * metrics request (SPEC sections 4.6 and 5), and the signing key behind them.
 *
 * One vex_auth per server; every function is thread-safe. */
#ifndef VEX_AUTH_AUTH_H
#define VEX_AUTH_AUTH_H

#include <stdint.h>

#include <jansson.h>

#include "api/app.h"
#include "http/http.h"

struct vex_accounts;
struct vex_auth;

/* Name of the signing key's file in the data dir (PKCS#8 PEM, mode 0600). */
#define VEX_AUTH_KEY_FILE "jwt-signing-key.pem"

/* vex_auth_create loads the RSA signing key from cfg->data_dir, generating
 * it on first start, and, when cfg->external_issuer is set, the key set of
 * that issuer from cfg->external_jwks (a JWKS or PEM file, read again when it
 * changes; or an http(s) URL, fetched when first needed). acc is borrowed and
 * must outlive the result. VEX_EIO when the key file cannot be read or
 * written, VEX_EINVAL when it or the external key set is unusable. */
int vex_auth_create(const struct vex_config *cfg, struct vex_accounts *acc,
                    struct vex_auth **out);

void vex_auth_destroy(struct vex_auth *auth);

/* vex_auth_check_customer checks the credentials of a /mm-apis/ or
 * /planLevelByCustId/ request for `customer` (Authorization: Bearer <jwt>,
 * or X-API-Key: <key>) in the order of SPEC 4.6: 401 missing, malformed,
 * expired or badly signed; 403 may not read this customer (also when it does
 * not exist, unless admin); 404 unknown customer (admin). Returns 0 when
 * allowed, with the customer's plan level in *plan_out (may be NULL);
 * otherwise fills resp with the JSON error and returns a negative VEX_E*
 * code (VEX_EAUTH, VEX_EPERM, VEX_ENOENT; VEX_EIO/VEX_EBUSY answered 500/503). */
int vex_auth_check_customer(struct vex_auth *auth, const struct vex_http_request *req,
                            const char *customer, int64_t *plan_out,
                            struct vex_http_response *resp);

/* What an access token allows. */
struct vex_identity {
    int admin;         /* may read every customer */
    json_t *customers; /* array of customer id strings (owned) */
};

/* vex_auth_verify_token verifies a bearer token: compact JWS, alg RS256, a
 * signature by our key (iss "<issuer base>/realms/<any realm>") or by the
 * configured external issuer's keys (iss equal to it), exp in the future,
 * nbf (when present) not in the future. On success *out says what it allows
 * (caller calls vex_identity_deinit). VEX_EAUTH otherwise. */
int vex_auth_verify_token(struct vex_auth *auth, const char *token, struct vex_identity *out);

/* vex_identity_may_read: 1 when the identity may read customer id. */
int vex_identity_may_read(const struct vex_identity *id, const char *customer);

void vex_identity_deinit(struct vex_identity *id);

/* What a successful grant hands out. */
struct vex_auth_grant {
    char *access_token;  /* malloc'd */
    char *refresh_token; /* malloc'd */
    char *scope;         /* malloc'd */
    int64_t expires_in;  /* seconds */
    int64_t refresh_expires_in;
};

void vex_auth_grant_deinit(struct vex_auth_grant *g);

/* vex_auth_grant_password logs `username` in (realm names the issuer in the
 * token; client_ip keys the throttle; scope may be NULL). VEX_EAUTH for
 * wrong credentials; VEX_ETHROTTLE when the user or the address failed too
 * often lately, with the seconds to wait in *retry_after_s. */
int vex_auth_grant_password(struct vex_auth *auth, const char *realm, const char *client_ip,
                            const char *username, const char *password, const char *scope,
                            struct vex_auth_grant *out, int64_t *retry_after_s);

/* vex_auth_grant_refresh redeems a refresh token for a new access token and
 * a new refresh token (the old one stops working). VEX_EAUTH when the token
 * is unknown, expired, already used or its user is gone. */
int vex_auth_grant_refresh(struct vex_auth *auth, const char *realm, const char *refresh_token,
                           struct vex_auth_grant *out);

/* vex_auth_jwks returns the JWKS document of the signing key (new reference),
 * NULL when out of memory. */
json_t *vex_auth_jwks(struct vex_auth *auth);

/* vex_auth_client_id is the client_id that token requests must name. */
const char *vex_auth_client_id(const struct vex_auth *auth);

/* vex_auth_default_realm is the realm of the legacy token endpoint. */
const char *vex_auth_default_realm(const struct vex_auth *auth);

#endif
