/* test_auth.c - issuing and checking access: the signing key's life, the
 * password and refresh grants, the SPEC 4.6 answers of
 * vex_auth_check_customer for tokens and API keys, forged tokens, login
 * throttling, and trust in an external issuer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "api/app.h"
#include "auth/accounts.h"
#include "auth/auth.h"
#include "auth/jwt.h"
#include "core/err.h"
#include "unit/auth/test_util.h"

#define ISSUER_BASE "http://vex.test:8080"

struct fixture {
    char *dir;
    struct vex_config cfg;
    struct vex_accounts *acc;
    struct vex_auth *auth;
    struct vex_jwt_key *server_key; /* read back from the key file */
    char *alice_key;                /* API key of alice */
};

static void config(struct vex_config *cfg, const char *dir)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", dir);
    snprintf(cfg->issuer_base, sizeof cfg->issuer_base, "%s/", ISSUER_BASE);
    /* client_id, realm, lifetimes left empty/zero: the documented defaults. */
}

static struct vex_jwt_key *read_key(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    struct vex_jwt_key *key;
    assert_int_equal(vex_jwt_key_from_pem(buf, n, &key), 0);
    return key;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    config(&f->cfg, f->dir);
    const char *acme[] = {"acme", "zeta"};
    if (vex_accounts_open(f->dir, &f->acc) || vex_auth_create(&f->cfg, f->acc, &f->auth) ||
        vex_accounts_customer_add(f->acc, "acme", 3, NULL, NULL) ||
        vex_accounts_customer_add(f->acc, "beta", 2, NULL, NULL) ||
        vex_accounts_user_add(f->acc, "alice", "alice-pw", 8, 0, acme, 2) ||
        vex_accounts_user_add(f->acc, "root", "root-pw", 7, 1, NULL, 0) ||
        vex_accounts_apikey_add(f->acc, "alice", &f->alice_key))
        return -1;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", f->dir, VEX_AUTH_KEY_FILE);
    f->server_key = read_key(path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    vex_jwt_key_destroy(f->server_key);
    vex_auth_destroy(f->auth);
    vex_accounts_close(f->acc);
    free(f->alice_key);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

static char *login(struct fixture *f, const char *user, const char *pwd)
{
    struct vex_auth_grant g;
    int64_t wait = 0;
    assert_int_equal(vex_auth_grant_password(f->auth, "vex", "10.0.0.1", user, pwd, NULL, &g,
                                             &wait),
                     0);
    char *t = strdup(g.access_token);
    vex_auth_grant_deinit(&g);
    return t;
}

/* check runs vex_auth_check_customer with one header and returns the HTTP
 * status it answers (200 when allowed); *plan gets the plan level. */
static int check(struct fixture *f, const char *header, const char *value, const char *customer,
                 int64_t *plan, char **body)
{
    struct tu_request r;
    struct vex_http_response resp;
    memset(&resp, 0, sizeof resp);
    tu_request_init(&r, "GET", "/mm-apis/session/x", NULL, header, value);
    int64_t p = -1;
    int rc = vex_auth_check_customer(f->auth, &r.req, customer, &p, &resp);
    if (plan)
        *plan = p;
    int status = rc == 0 ? 200 : resp.status;
    assert_true(rc == 0 ? resp.body == NULL : resp.body != NULL);
    if (status == 401)
        assert_string_equal(resp.headers[0].name, "WWW-Authenticate");
    if (body)
        *body = resp.body;
    else
        free(resp.body);
    return status;
}

static int check_bearer(struct fixture *f, const char *token, const char *customer)
{
    char value[20000];
    snprintf(value, sizeof value, "Bearer %s", token);
    return check(f, "Authorization", value, customer, NULL, NULL);
}

/* forge signs the given claims with `key` (the server's own, or another). */
static char *forge(const struct vex_jwt_key *key, json_t *claims)
{
    char *token = NULL;
    assert_int_equal(vex_jwt_sign(key, claims, &token), 0);
    json_decref(claims);
    return token;
}

static json_t *claims_for(const char *iss, json_int_t exp, const char *customer)
{
    return json_pack("{s:s,s:I,s:I,s:[s]}", "iss", iss, "exp", exp, "iat", exp - 100,
                     "customers", customer);
}

static void signing_key_made_once(void **state)
{
    struct fixture *f = *state;
    char path[1200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", f->dir, VEX_AUTH_KEY_FILE);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    json_t *jwks = vex_auth_jwks(f->auth);
    json_t *jwk = json_array_get(json_object_get(jwks, "keys"), 0);
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
    assert_string_equal(json_string_value(json_object_get(jwk, "kid")),
                        vex_jwt_key_kid(f->server_key));
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "RSA");
    assert_string_equal(json_string_value(json_object_get(jwk, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(jwk, "use")), "sig");
    assert_string_equal(json_string_value(json_object_get(jwk, "e")), "AQAB");
    /* A restart loads the same key. */
    struct vex_auth *again;
    assert_int_equal(vex_auth_create(&f->cfg, f->acc, &again), 0);
    json_t *jwks2 = vex_auth_jwks(again);
    assert_true(json_equal(jwks, jwks2));
    json_decref(jwks2);
    vex_auth_destroy(again);
    json_decref(jwks);
    assert_string_equal(vex_auth_client_id(f->auth), "smartsight-backend");
    assert_string_equal(vex_auth_default_realm(f->auth), "vex");
}

static void password_grant_claims(void **state)
{
    struct fixture *f = *state;
    struct vex_auth_grant g;
    int64_t wait = 0;
    assert_int_equal(vex_auth_grant_password(f->auth, "my-realm", "10.0.0.1", "alice",
                                             "alice-pw", "openid profile", &g, &wait),
                     0);
    assert_int_equal(g.expires_in, 900);
    assert_int_equal(g.refresh_expires_in, 1800);
    assert_string_equal(g.scope, "openid profile");
    struct vex_jwt jwt;
    assert_int_equal(vex_jwt_parse(g.access_token, strlen(g.access_token), &jwt), 0);
    json_t *c = jwt.claims;
    assert_string_equal(json_string_value(json_object_get(c, "iss")),
                        ISSUER_BASE "/realms/my-realm");
    assert_string_equal(json_string_value(json_object_get(c, "preferred_username")), "alice");
    assert_string_equal(json_string_value(json_object_get(c, "azp")), "smartsight-backend");
    assert_string_equal(json_string_value(json_object_get(c, "scope")), "openid profile");
    assert_string_equal(json_string_value(json_object_get(c, "typ")), "Bearer");
    assert_int_equal(json_string_length(json_object_get(c, "sub")), 36);
    json_int_t iat = json_integer_value(json_object_get(c, "iat"));
    json_int_t now = (json_int_t)time(NULL);
    assert_true(iat <= now && iat >= now - 60);
    assert_int_equal(json_integer_value(json_object_get(c, "exp")), iat + 900);
    assert_int_equal(json_integer_value(json_object_get(c, "nbf")), iat);
    json_t *cust = json_object_get(c, "customers");
    assert_int_equal(json_array_size(cust), 2);
    assert_string_equal(json_string_value(json_array_get(cust, 0)), "acme");
    assert_string_equal(json_string_value(json_array_get(cust, 1)), "zeta");
    assert_int_equal(json_array_size(json_object_get(json_object_get(c, "realm_access"),
                                                     "roles")),
                     0);
    vex_jwt_deinit(&jwt);

    struct vex_identity id;
    assert_int_equal(vex_auth_verify_token(f->auth, g.access_token, &id), 0);
    assert_int_equal(id.admin, 0);
    assert_true(vex_identity_may_read(&id, "acme"));
    assert_false(vex_identity_may_read(&id, "beta"));
    vex_identity_deinit(&id);
    vex_auth_grant_deinit(&g);

    /* No scope asked: "openid". Wrong password, unknown user: EAUTH. */
    assert_int_equal(vex_auth_grant_password(f->auth, "vex", "10.0.0.1", "root", "root-pw", "",
                                             &g, &wait),
                     0);
    assert_string_equal(g.scope, "openid");
    assert_int_equal(vex_auth_verify_token(f->auth, g.access_token, &id), 0);
    assert_int_equal(id.admin, 1);
    vex_identity_deinit(&id);
    vex_auth_grant_deinit(&g);
    assert_int_equal(vex_auth_grant_password(f->auth, "vex", "10.0.0.1", "root", "root-PW",
                                             NULL, &g, &wait),
                     VEX_EAUTH);
    assert_null(g.access_token);
    assert_int_equal(vex_auth_grant_password(f->auth, "vex", "10.0.0.1", "nobody", "root-pw",
                                             NULL, &g, &wait),
                     VEX_EAUTH);
}

static void check_order_with_tokens(void **state)
{
    struct fixture *f = *state;
    char *alice = login(f, "alice", "alice-pw");
    char *root = login(f, "root", "root-pw");
    char value[4096];
    int64_t plan = 0;
    char *body = NULL;
    snprintf(value, sizeof value, "Bearer %s", alice);
    assert_int_equal(check(f, "Authorization", value, "acme", &plan, NULL), 200);
    assert_int_equal(plan, 3);
    /* The scheme is case-insensitive. */
    snprintf(value, sizeof value, "bearer  %s", alice);
    assert_int_equal(check(f, "authorization", value, "acme", &plan, NULL), 200);
    /* Another customer: 403; one alice may read but that does not exist:
     * 403 too; one nobody knows: 403. */
    assert_int_equal(check(f, "Authorization", value, "beta", NULL, &body), 403);
    assert_string_equal(body, "{\"error\":\"forbidden\",\"message\":\"these credentials may "
                              "not read customer 'beta'\"}");
    free(body);
    assert_int_equal(check_bearer(f, alice, "zeta"), 403);
    assert_int_equal(check_bearer(f, alice, "nobody"), 403);
    /* An admin reads everyone and learns what does not exist. */
    snprintf(value, sizeof value, "Bearer %s", root);
    assert_int_equal(check(f, "Authorization", value, "beta", &plan, NULL), 200);
    assert_int_equal(plan, 2);
    assert_int_equal(check(f, "Authorization", value, "zeta", NULL, &body), 404);
    assert_string_equal(body, "{\"error\":\"not_found\",\"message\":\"there is no customer "
                              "'zeta'\"}");
    free(body);
    /* Customer created later: the admin's token reads it at once. */
    assert_int_equal(vex_accounts_customer_add(f->acc, "zeta", 9, NULL, NULL), 0);
    assert_int_equal(check(f, "Authorization", value, "zeta", &plan, NULL), 200);
    assert_int_equal(plan, 9);
    assert_int_equal(check_bearer(f, alice, "zeta"), 200);
    free(alice);
    free(root);
}

static void missing_or_malformed_401(void **state)
{
    struct fixture *f = *state;
    char *body = NULL;
    assert_int_equal(check(f, NULL, NULL, "acme", NULL, &body), 401);
    assert_non_null(strstr(body, "\"error\":\"unauthorized\""));
    free(body);
    assert_int_equal(check(f, "Authorization", "Basic YWxpY2U6YWxpY2UtcHc=", "acme", NULL, NULL),
                     401);
    assert_int_equal(check(f, "Authorization", "Bearer", "acme", NULL, NULL), 401);
    assert_int_equal(check(f, "Authorization", "Bearer ", "acme", NULL, NULL), 401);
    assert_int_equal(check(f, "Authorization", "Bearertoken", "acme", NULL, NULL), 401);
    assert_int_equal(check(f, "Authorization", "Bearer a.b.c", "acme", NULL, NULL), 401);
    assert_int_equal(check(f, "X-API-Key", "", "acme", NULL, NULL), 401);
}

static void forged_tokens_401(void **state)
{
    struct fixture *f = *state;
    json_int_t now = (json_int_t)time(NULL);
    const char *iss = ISSUER_BASE "/realms/vex";
    struct vex_jwt_key *other;
    assert_int_equal(vex_jwt_key_generate(&other), 0);

    /* The server's key and good claims: accepted (the baseline). */
    char *good = forge(f->server_key, claims_for(iss, now + 60, "acme"));
    assert_int_equal(check_bearer(f, good, "acme"), 200);
    /* Any realm of our issuer. */
    char *t = forge(f->server_key, claims_for(ISSUER_BASE "/realms/other", now + 60, "acme"));
    assert_int_equal(check_bearer(f, t, "acme"), 200);
    free(t);

    /* Expired (exp is now: no grace), not yet valid, missing exp. */
    t = forge(f->server_key, claims_for(iss, now, "acme"));
    assert_int_equal(check_bearer(f, t, "acme"), 401);
    free(t);
    json_t *c = claims_for(iss, now + 60, "acme");
    json_object_set_new(c, "nbf", json_integer(now + 3600));
    t = forge(f->server_key, c);
    assert_int_equal(check_bearer(f, t, "acme"), 401);
    free(t);
    c = claims_for(iss, now + 60, "acme");
    json_object_del(c, "exp");
    t = forge(f->server_key, c);
    assert_int_equal(check_bearer(f, t, "acme"), 401);
    free(t);
    c = claims_for(iss, now + 60, "acme");
    json_object_set_new(c, "exp", json_string("9999999999"));
    t = forge(f->server_key, c);
    assert_int_equal(check_bearer(f, t, "acme"), 401);
    free(t);

    /* Issuers that are not ours. */
    static const char *const bad_iss[] = {
        "http://evil.test/realms/vex", ISSUER_BASE "/realms/", ISSUER_BASE "/realms/a/b",
        ISSUER_BASE "x/realms/vex", ISSUER_BASE,
    };
    for (size_t i = 0; i < sizeof bad_iss / sizeof bad_iss[0]; i++) {
        t = forge(f->server_key, claims_for(bad_iss[i], now + 60, "acme"));
        assert_int_equal(check_bearer(f, t, "acme"), 401);
        free(t);
    }

    /* Our claims, someone else's key. */
    t = forge(other, claims_for(iss, now + 60, "acme"));
    assert_int_equal(check_bearer(f, t, "acme"), 401);
    free(t);

    /* The good token with its claims changed to another customer. */
    char *copy = strdup(good);
    char *d1 = strchr(copy, '.'), *d2 = strrchr(copy, '.');
    *d1 = *d2 = '\0';
    json_t *evil = claims_for(iss, now + 60, "beta");
    char *evil_json = json_dumps(evil, JSON_COMPACT);
    char *evil64 = tu_b64(evil_json);
    t = tu_join(copy, evil64, d2 + 1);
    assert_int_equal(check_bearer(f, t, "beta"), 401);
    free(t);

    /* alg none, and HS256 keyed with the published JWKS. */
    char *none = tu_b64("{\"alg\":\"none\",\"typ\":\"JWT\"}");
    t = tu_join(none, evil64, "");
    assert_int_equal(check_bearer(f, t, "beta"), 401);
    free(t);
    char *hs = tu_b64("{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
    char *input = tu_join(hs, evil64, "");
    input[strlen(input) - 1] = '\0';
    json_t *jwks = vex_auth_jwks(f->auth);
    char *pub = json_dumps(jwks, JSON_COMPACT);
    uint8_t mac[32];
    unsigned int n = 0;
    HMAC(EVP_sha256(), pub, (int)strlen(pub), (const uint8_t *)input, strlen(input), mac, &n);
    char *mac64 = vex_b64url_encode_alloc(mac, n);
    t = tu_join(hs, evil64, mac64);
    assert_int_equal(check_bearer(f, t, "beta"), 401);
    free(t);

    free(mac64);
    free(pub);
    json_decref(jwks);
    free(input);
    free(hs);
    free(none);
    free(evil64);
    free(evil_json);
    json_decref(evil);
    free(copy);
    free(good);
    vex_jwt_key_destroy(other);
}

static void api_key_checks(void **state)
{
    struct fixture *f = *state;
    int64_t plan = 0;
    char *root_key = NULL;
    assert_int_equal(check(f, "X-API-Key", f->alice_key, "acme", &plan, NULL), 200);
    assert_int_equal(plan, 3);
    assert_int_equal(check(f, "X-API-Key", f->alice_key, "beta", NULL, NULL), 403);
    assert_int_equal(check(f, "X-API-Key", f->alice_key, "zeta", NULL, NULL), 403);
    assert_int_equal(vex_accounts_apikey_add(f->acc, "root", &root_key), 0);
    assert_int_equal(check(f, "X-API-Key", root_key, "zeta", NULL, NULL), 404);
    assert_int_equal(check(f, "X-API-Key", root_key, "beta", &plan, NULL), 200);
    assert_int_equal(plan, 2);
    assert_int_equal(check(f, "X-API-Key", "vak_guess", "acme", NULL, NULL), 401);
    assert_int_equal(vex_accounts_apikey_revoke(f->acc, f->alice_key), 0);
    assert_int_equal(check(f, "X-API-Key", f->alice_key, "acme", NULL, NULL), 401);
    free(root_key);
}

static void refresh_grant_rotates(void **state)
{
    struct fixture *f = *state;
    struct vex_auth_grant g1, g2, g3;
    int64_t wait = 0;
    assert_int_equal(vex_auth_grant_password(f->auth, "vex", "10.0.0.1", "alice", "alice-pw",
                                             "openid email", &g1, &wait),
                     0);
    assert_int_equal(vex_auth_grant_refresh(f->auth, "vex", g1.refresh_token, &g2), 0);
    assert_string_equal(g2.scope, "openid email");
    assert_string_not_equal(g2.refresh_token, g1.refresh_token);
    assert_int_equal(check_bearer(f, g2.access_token, "acme"), 200);
    /* The first refresh token is used up. */
    assert_int_equal(vex_auth_grant_refresh(f->auth, "vex", g1.refresh_token, &g3), VEX_EAUTH);
    assert_int_equal(vex_auth_grant_refresh(f->auth, "vex", "vrt_nothing", &g3), VEX_EAUTH);
    vex_auth_grant_deinit(&g1);
    vex_auth_grant_deinit(&g2);
    /* A refresh reflects the user as it is now: alice loses acme. */
    assert_int_equal(vex_auth_grant_password(f->auth, "vex", "10.0.0.1", "alice", "alice-pw",
                                             NULL, &g1, &wait),
                     0);
    assert_int_equal(vex_accounts_user_remove(f->acc, "alice"), 0);
    assert_int_equal(vex_auth_grant_refresh(f->auth, "vex", g1.refresh_token, &g3), VEX_EAUTH);
    vex_auth_grant_deinit(&g1);
}

static void login_throttled(void **state)
{
    struct fixture *f = *state;
    struct vex_auth_grant g;
    int64_t wait = 0;
    for (int i = 0; i < 5; i++)
        assert_int_equal(vex_auth_grant_password(f->auth, "vex", "10.0.0.9", "alice", "guess",
                                                 NULL, &g, &wait),
                         VEX_EAUTH);
    /* Locked for 30 s: even the right password is refused, from anywhere. */
    assert_int_equal(vex_auth_grant_password(f->auth, "vex", "10.0.0.9", "alice", "alice-pw",
                                             NULL, &g, &wait),
                     VEX_ETHROTTLE);
    assert_true(wait >= 29 && wait <= 30);
    assert_int_equal(vex_auth_grant_password(f->auth, "vex", "10.0.0.7", "alice", "alice-pw",
                                             NULL, &g, &wait),
                     VEX_ETHROTTLE);
    /* Another user from the same address is not locked (5 < 20 failures). */
    assert_int_equal(vex_auth_grant_password(f->auth, "vex", "10.0.0.9", "root", "root-pw",
                                             NULL, &g, &wait),
                     0);
    vex_auth_grant_deinit(&g);
}

static void address_throttled(void **state)
{
    struct fixture *f = *state;
    struct vex_auth_grant g;
    int64_t wait = 0;
    char name[32];
    /* 20 failures from one address, spread over names never locked alone. */
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "user%d", i % 5);
        assert_int_equal(vex_auth_grant_password(f->auth, "vex", "10.9.9.9", name, "x", NULL,
                                                 &g, &wait),
                         VEX_EAUTH);
    }
    assert_int_equal(vex_auth_grant_password(f->auth, "vex", "10.9.9.9", "root", "root-pw",
                                             NULL, &g, &wait),
                     VEX_ETHROTTLE);
    assert_true(wait >= 59 && wait <= 60);
    assert_int_equal(vex_auth_grant_password(f->auth, "vex", "10.9.9.8", "root", "root-pw",
                                             NULL, &g, &wait),
                     0);
    vex_auth_grant_deinit(&g);
}

static void write_file(const char *path, const char *text)
{
    /* Through a new file and rename, as an operator's tool would; the new
     * inode tells the server the file changed. */
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    FILE *fp = fopen(tmp, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(rename(tmp, path), 0);
}

static char *jwks_of(const struct vex_jwt_key *key)
{
    json_t *jwks = json_pack("{s:[o]}", "keys", vex_jwt_key_to_jwk(key));
    char *s = json_dumps(jwks, 0);
    json_decref(jwks);
    return s;
}

static void external_issuer(void **state)
{
    struct fixture *f = *state;
    const char *ext_iss = "https://kc.example/realms/corp";
    json_int_t now = (json_int_t)time(NULL);
    struct vex_jwt_key *kx, *ky;
    assert_int_equal(vex_jwt_key_generate(&kx), 0);
    assert_int_equal(vex_jwt_key_generate(&ky), 0);

    /* Before it is configured, its tokens are refused. */
    json_t *c = json_pack("{s:s,s:I,s:s}", "iss", ext_iss, "exp", now + 60, "tenants",
                          "acme beta");
    char *tx = forge(kx, json_incref(c));
    assert_int_equal(check_bearer(f, tx, "acme"), 401);

    struct vex_config cfg = f->cfg;
    snprintf(cfg.external_issuer, sizeof cfg.external_issuer, "%s/", ext_iss);
    snprintf(cfg.external_jwks, sizeof cfg.external_jwks, "%s/nowhere.json", f->dir);
    snprintf(cfg.external_claim, sizeof cfg.external_claim, "tenants");
    struct vex_auth *auth;
    assert_int_equal(vex_auth_create(&cfg, f->acc, &auth), VEX_EINVAL);
    snprintf(cfg.external_jwks, sizeof cfg.external_jwks, "%s/corp.json", f->dir);
    char *text = jwks_of(kx);
    write_file(cfg.external_jwks, text);
    free(text);
    assert_int_equal(vex_auth_create(&cfg, f->acc, &auth), 0);
    vex_auth_destroy(f->auth);
    f->auth = auth;

    /* The claim named in the config, as a space-separated string. */
    assert_int_equal(check_bearer(f, tx, "acme"), 200);
    assert_int_equal(check_bearer(f, tx, "beta"), 200);
    assert_int_equal(check_bearer(f, tx, "zeta"), 403);
    /* Its key does not make our issuer's tokens, nor ours its. */
    char *t = forge(kx, claims_for(ISSUER_BASE "/realms/vex", now + 60, "acme"));
    assert_int_equal(check_bearer(f, t, "acme"), 401);
    free(t);
    t = forge(f->server_key, json_incref(c));
    assert_int_equal(check_bearer(f, t, "acme"), 401);
    free(t);
    /* Our own tokens still work, "customers" claim and all. */
    char *alice = login(f, "alice", "alice-pw");
    assert_int_equal(check_bearer(f, alice, "acme"), 200);
    free(alice);
    /* Array form of the claim; the admin role. */
    t = forge(kx, json_pack("{s:s,s:I,s:[s]}", "iss", ext_iss, "exp", now + 60, "tenants",
                            "beta"));
    assert_int_equal(check_bearer(f, t, "beta"), 200);
    assert_int_equal(check_bearer(f, t, "acme"), 403);
    free(t);
    t = forge(kx, json_pack("{s:s,s:I,s:{s:[s]}}", "iss", ext_iss, "exp", now + 60,
                            "realm_access", "roles", "admin"));
    assert_int_equal(check_bearer(f, t, "zeta"), 404);
    free(t);
    /* Expired is expired, whoever issued it. */
    t = forge(kx, json_pack("{s:s,s:I,s:s}", "iss", ext_iss, "exp", now - 1, "tenants", "acme"));
    assert_int_equal(check_bearer(f, t, "acme"), 401);
    free(t);

    /* The issuer rotates to key y: the file is read again. */
    text = jwks_of(ky);
    write_file(cfg.external_jwks, text);
    free(text);
    char *ty = forge(ky, json_incref(c));
    assert_int_equal(check_bearer(f, ty, "acme"), 200);
    assert_int_equal(check_bearer(f, tx, "acme"), 401);
    /* A broken file keeps the last good keys. */
    write_file(cfg.external_jwks, "{\"keys\": [");
    assert_int_equal(check_bearer(f, ty, "acme"), 200);
    /* A PEM public key works as well. */
    char *pem = NULL;
    assert_int_equal(vex_jwt_key_to_pem(kx, &pem), 0);
    write_file(cfg.external_jwks, pem);
    free(pem);
    assert_int_equal(check_bearer(f, tx, "acme"), 200);

    free(tx);
    free(ty);
    json_decref(c);
    vex_jwt_key_destroy(kx);
    vex_jwt_key_destroy(ky);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(signing_key_made_once, setup, teardown),
        cmocka_unit_test_setup_teardown(password_grant_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(check_order_with_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_or_malformed_401, setup, teardown),
        cmocka_unit_test_setup_teardown(forged_tokens_401, setup, teardown),
        cmocka_unit_test_setup_teardown(api_key_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(refresh_grant_rotates, setup, teardown),
        cmocka_unit_test_setup_teardown(login_throttled, setup, teardown),
        cmocka_unit_test_setup_teardown(address_throttled, setup, teardown),
        cmocka_unit_test_setup_teardown(external_issuer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
