/* tokens.c - HTTP face of auth/: Keycloak's token and certs endpoints, the
 * legacy /generateOAuthToken and /planLevelByCustId/.
 *
 * Error bodies of the token endpoints carry both OAuth's error_description
 * (what Keycloak clients read) and the "message" of SPEC section 6. The
 * server marks every response Cache-Control: no-store, as RFC 6749 section
 * 5.1 asks of responses that hold tokens. */
#include "api/tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/auth.h"
#include "core/err.h"

#define REALM_MAX 255

/* The fields of a token request: a form-encoded body, or for the legacy
 * endpoint a JSON object too. */
struct form {
    const char *body;
    size_t len;
    json_t *json; /* owned; NULL for a form */
};

static char *field(const struct form *f, const char *name)
{
    if (f->json) {
        const char *s = json_string_value(json_object_get(f->json, name));
        return s ? strdup(s) : NULL;
    }
    return vex_http_form_get(f->body, f->len, name);
}

static void free_secret(char *s)
{
    if (s)
        OPENSSL_clear_free(s, strlen(s));
}

static void token_error(struct vex_http_response *resp, int status, const char *error,
                        const char *description)
{
    vex_http_reply_json(resp, status,
                        json_pack("{s:s,s:s,s:s}", "error", error, "error_description",
                                  description, "message", description));
}

/* path_realm decodes the <realm> of "/realms/<realm>/..." into out; 0 when
 * it is missing, malformed or too long. */
static int path_realm(const char *path, char out[REALM_MAX + 1])
{
    const char *p = strstr(path, "/realms/");
    if (!p)
        return 0;
    p += 8;
    size_t n = strcspn(p, "/");
    size_t dlen;
    char *realm = n ? vex_http_url_decode(p, n, 0, &dlen) : NULL;
    int ok = realm && dlen >= 1 && dlen <= REALM_MAX && strlen(realm) == dlen;
    for (size_t i = 0; ok && i < dlen; i++)
        if ((unsigned char)realm[i] < 0x20 || realm[i] == '/' || realm[i] == 0x7f)
            ok = 0;
    if (ok)
        memcpy(out, realm, dlen + 1);
    free(realm);
    return ok;
}

/* grant runs the grant a token request asks for. On success *g holds the
 * tokens; otherwise resp holds the error and the result is nonzero. */
static int grant(struct vex_app *app, const struct vex_http_request *req,
                 struct vex_http_response *resp, const char *realm, int legacy,
                 struct vex_auth_grant *g)
{
    struct form f = {req->body ? req->body : "", req->body ? req->body_len : 0, NULL};
    if (legacy && f.len > 0 && f.body[strspn(f.body, " \t\r\n")] == '{') {
        f.json = json_loadb(f.body, f.len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(f.json)) {
            json_decref(f.json);
            token_error(resp, 400, "invalid_request", "the body is not a JSON object");
            return -1;
        }
    }
    char *grant_type = field(&f, "grant_type");
    char *client_id = field(&f, "client_id");
    char *username = field(&f, "username");
    char *password = field(&f, "password");
    char *scope = field(&f, "scope");
    char *refresh = field(&f, "refresh_token");
    const char *type = grant_type ? grant_type : legacy ? "password" : NULL;
    int rc = -1;
    /* client_id may be left out (the client is public and has no secret),
     * but one that is given must be ours. */
    if (client_id && strcmp(client_id, vex_auth_client_id(app->auth)) != 0) {
        token_error(resp, 401, "invalid_client", "Invalid client or Invalid client credentials");
    } else if (!type) {
        token_error(resp, 400, "invalid_request", "Missing form parameter: grant_type");
    } else if (strcmp(type, "password") == 0) {
        int64_t wait = 0;
        rc = username && password && *username
                 ? vex_auth_grant_password(app->auth, realm, req->client_ip, username, password,
                                           scope, g, &wait)
                 : VEX_EAUTH;
        if (rc == VEX_ETHROTTLE) {
            snprintf(resp->retry_after, sizeof resp->retry_after, "%lld", (long long)wait);
            token_error(resp, 429, "too_many_requests",
                        "Too many failed logins; try again after the Retry-After delay");
        } else if (rc == VEX_EAUTH) {
            token_error(resp, 401, "invalid_grant", "Invalid user credentials");
        } else if (rc) {
            token_error(resp, 500, "server_error", "the login could not be completed");
        }
    } else if (strcmp(type, "refresh_token") == 0) {
        if (!refresh || !*refresh) {
            token_error(resp, 400, "invalid_request", "Missing parameter: refresh_token");
        } else {
            rc = vex_auth_grant_refresh(app->auth, realm, refresh, g);
            if (rc == VEX_EAUTH)
                token_error(resp, 401, "invalid_grant",
                            "Invalid refresh token: it is unknown, expired or already used");
            else if (rc)
                token_error(resp, 500, "server_error", "the refresh could not be completed");
        }
    } else {
        token_error(resp, 400, "unsupported_grant_type", "Unsupported grant_type");
    }
    free(grant_type);
    free(client_id);
    free(username);
    free_secret(password);
    free(scope);
    free_secret(refresh);
    json_decref(f.json);
    return rc;
}

void vex_api_token(struct vex_app *app, const struct vex_http_request *req,
                   struct vex_http_response *resp)
{
    char realm[REALM_MAX + 1];
    struct vex_auth_grant g;
    memset(&g, 0, sizeof g);
    if (!path_realm(req->path, realm)) {
        vex_http_reply_error(resp, 404, "not_found", "the path must be /realms/<realm>/...");
        return;
    }
    if (grant(app, req, resp, realm, 0, &g) != 0)
        return;
    vex_http_reply_json(resp, 200,
                        json_pack("{s:s,s:I,s:I,s:s,s:s,s:i,s:s}", "access_token",
                                  g.access_token, "expires_in", (json_int_t)g.expires_in,
                                  "refresh_expires_in", (json_int_t)g.refresh_expires_in,
                                  "refresh_token", g.refresh_token, "token_type", "Bearer",
                                  "not-before-policy", 0, "scope", g.scope));
    vex_auth_grant_deinit(&g);
}

void vex_api_legacy_token(struct vex_app *app, const struct vex_http_request *req,
                          struct vex_http_response *resp)
{
    struct vex_auth_grant g;
    memset(&g, 0, sizeof g);
    if (grant(app, req, resp, vex_auth_default_realm(app->auth), 1, &g) != 0)
        return;
    vex_http_reply_json(resp, 201,
                        json_pack("{s:s,s:s,s:s,s:I,s:s}", "access_token", g.access_token,
                                  "token_type", "bearer", "refresh_token", g.refresh_token,
                                  "expires_in", (json_int_t)g.expires_in, "scope", g.scope));
    vex_auth_grant_deinit(&g);
}

void vex_api_certs(struct vex_app *app, const struct vex_http_request *req,
                   struct vex_http_response *resp)
{
    (void)req;
    json_t *jwks = vex_auth_jwks(app->auth);
    if (!jwks) {
        vex_http_reply_error(resp, 500, "internal", "out of memory");
        return;
    }
    vex_http_reply_json(resp, 200, jwks);
}

void vex_api_planlevel(struct vex_app *app, const struct vex_http_request *req,
                       struct vex_http_response *resp)
{
    static const char prefix[] = "/planLevelByCustId/";
    const char *p = strncmp(req->path, prefix, sizeof prefix - 1) == 0
                        ? req->path + sizeof prefix - 1
                        : "";
    size_t n = strlen(p);
    while (n > 0 && p[n - 1] == '/')
        n--;
    /* A malformed escape cannot spell a customer id: the raw text then goes
     * to the check, which answers it like any unknown customer (SPEC 4.6
     * puts credentials before everything else). */
    char *customer = vex_http_url_decode(p, n, 0, NULL);
    if (!customer)
        customer = strndup(p, n);
    if (!customer) {
        vex_http_reply_error(resp, 500, "internal", "out of memory");
        return;
    }
    int64_t plan = 0;
    if (vex_auth_check_customer(app->auth, req, customer, &plan, resp) == 0)
        vex_http_reply_json(resp, 200,
                            json_pack("{s:s,s:I}", "customerid", customer, "planlevel",
                                      (json_int_t)plan));
    free(customer);
}
