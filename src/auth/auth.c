/* auth.c - access tokens: issuing (password and refresh_token grants),
 * verifying (ours and an external issuer's), API keys, and the per-request
 * check of SPEC 4.6.
 *
 * Our tokens are RS256 JWTs signed with one RSA key kept in the data dir; the
 * key is made on first start and published as a JWKS. Their claims:
 *   iss  "<issuer base>/realms/<realm>", realm as requested (any name)
 *   sub  the user's UUID; preferred_username its name; azp the client_id
 *   iat, nbf, exp, jti; typ "Bearer"; scope
 *   customers           the ids the user may read ([] for an admin)
 *   realm_access.roles  ["admin"] for an admin, else []
 * What a token allows is fixed when it is issued: a change to the user shows
 * in tokens issued afterwards (at the latest on the next refresh). */
#include "auth/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "auth/accounts.h"
#include "auth/jwt.h"
#include "auth/secret.h"
#include "auth/throttle.h"
#include "core/err.h"

#define DEFAULT_CLIENT_ID "smartsight-backend"
#define DEFAULT_REALM "vex"
#define DEFAULT_CLAIM "customers"
#define DEFAULT_SCOPE "openid"
#define DEFAULT_ACCESS_TTL_S 900
#define DEFAULT_REFRESH_TTL_S 1800
/* Clock skew tolerated on nbf, for an external issuer's clock; exp gets none,
 * so that a token's lifetime is what its issuer said. */
#define NBF_LEEWAY_S 5
#define MAX_KEY_FILE (1 << 20)
/* An external JWKS URL is fetched again at most this often when a token names
 * a key it does not have (key rotation), and in any case after REFETCH. */
#define URL_RETRY_MS 30000
#define URL_REFETCH_MS 600000
#define URL_TIMEOUT_S 5

/* Failed logins: per user name, few before a lockout, since one person types
 * one password; per client address, more, since many users may share one
 * address (a NAT, an office). Lockouts double up to 15 minutes. */
static const struct vex_throttle_policy user_policy = {
    .max_failures = 5,
    .window_ms = 300000,
    .lock_ms = 30000,
    .lock_max_ms = 900000,
    .capacity = 4096,
};
static const struct vex_throttle_policy addr_policy = {
    .max_failures = 20,
    .window_ms = 300000,
    .lock_ms = 60000,
    .lock_max_ms = 900000,
    .capacity = 4096,
};

/* The key set of an external issuer. `keys` is swapped under the write lock
 * when the file changes or the URL is fetched again. */
struct external {
    char issuer[512];
    char source[1024];
    int is_url;
    char claim[64];
    pthread_rwlock_t lock;
    struct vex_jwt_keyset *keys;
    pthread_mutex_t reload_lock; /* one reload at a time */
    struct stat file_stat;       /* of the file `keys` came from */
    int64_t fetched_ms;          /* last URL fetch attempt */
};

struct vex_auth {
    struct vex_accounts *acc;
    char issuer_base[300];
    char client_id[128];
    char realm_default[64];
    int64_t access_ttl_s, refresh_ttl_s;
    struct vex_jwt_key *key;
    struct vex_jwt_keyset *own;
    struct external *ext; /* NULL when no external issuer is trusted */
    struct vex_throttle *user_throttle, *addr_throttle;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void copy_str(char *dst, size_t cap, const char *src, const char *fallback)
{
    snprintf(dst, cap, "%s", src && *src ? src : fallback);
}

/* strip_slashes drops trailing '/', so that "http://h/" and "http://h" name
 * one issuer. */
static void strip_slashes(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
}

/* read_file reads a whole small file into a malloc'd NUL-terminated buffer. */
static int read_file(const char *path, size_t max, char **out, size_t *len_out,
                     struct stat *st_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? VEX_ENOENT : VEX_EIO;
    struct stat st;
    int rc = VEX_EIO;
    char *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        goto fail;
    rc = VEX_ETOOBIG;
    if ((size_t)st.st_size > max)
        goto fail;
    rc = VEX_ENOMEM;
    if (!(buf = malloc((size_t)st.st_size + 1)))
        goto fail;
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = VEX_EIO;
            goto fail;
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
    close(fd);
    *out = buf;
    *len_out = got;
    if (st_out)
        *st_out = st;
    return 0;
fail:
    free(buf);
    close(fd);
    return rc;
}

/* ---- the signing key ---- */

/* write_new_key stores a fresh key at path without ever exposing a partial
 * or world-readable file: written to a private temporary file, synced, then
 * linked into place. link() fails when another process got there first, and
 * then that process's key is the one to use. */
static int write_new_key(const char *path, struct vex_jwt_key *key)
{
    char tmp[1100];
    char *pem = NULL;
    int rc = vex_jwt_key_to_pem(key, &pem);
    if (rc)
        return rc;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        OPENSSL_clear_free(pem, strlen(pem));
        return VEX_EIO;
    }
    size_t len = strlen(pem), done = 0;
    rc = 0;
    while (done < len && rc == 0) {
        ssize_t w = write(fd, pem + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = VEX_EIO;
        else
            done += (size_t)w;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = VEX_EIO;
    close(fd);
    OPENSSL_clear_free(pem, len);
    if (rc == 0 && link(tmp, path) != 0)
        rc = errno == EEXIST ? VEX_EEXIST : VEX_EIO;
    unlink(tmp);
    return rc;
}

static int load_signing_key(const char *data_dir, struct vex_jwt_key **out)
{
    char path[1100];
    char *pem = NULL;
    size_t len = 0;
    if (snprintf(path, sizeof path, "%s/%s", data_dir, VEX_AUTH_KEY_FILE) >= (int)sizeof path)
        return VEX_EINVAL;
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = read_file(path, MAX_KEY_FILE, &pem, &len, NULL);
        if (rc == 0) {
            rc = vex_jwt_key_from_pem(pem, len, out);
            OPENSSL_clear_free(pem, len);
            return rc;
        }
        if (rc != VEX_ENOENT)
            return rc;
        struct vex_jwt_key *key;
        if ((rc = vex_jwt_key_generate(&key)) != 0)
            return rc;
        rc = write_new_key(path, key);
        if (rc == 0) {
            *out = key;
            return 0;
        }
        vex_jwt_key_destroy(key);
        if (rc != VEX_EEXIST)
            return rc;
        /* Lost the race to another process: read its key. */
    }
    return VEX_EIO;
}

/* ---- an external issuer's keys ---- */

struct fetch_buf {
    char *data;
    size_t len;
};

static size_t fetch_write(char *ptr, size_t size, size_t n, void *ctx)
{
    struct fetch_buf *b = ctx;
    size_t add = size * n;
    if (b->len + add > MAX_KEY_FILE)
        return 0;
    char *p = realloc(b->data, b->len + add + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, ptr, add);
    b->len += add;
    p[b->len] = '\0';
    b->data = p;
    return add;
}

static int fetch_url(const char *url, char **out, size_t *len_out)
{
    struct fetch_buf b = {NULL, 0};
    CURL *c = curl_easy_init();
    if (!c)
        return VEX_ENOMEM;
    long status = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)URL_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (cc != CURLE_OK || status != 200 || !b.data) {
        free(b.data);
        return VEX_EUNAVAIL;
    }
    *out = b.data;
    *len_out = b.len;
    return 0;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* ext_reload reads the key set again when its file changed, or fetches the
 * URL when it is due (force: a token named a key we lack). A failed reload
 * keeps the keys we had: a half-written file must not lock everyone out. */
static int ext_reload(struct external *ext, int force)
{
    char *text = NULL;
    size_t len = 0;
    struct stat st;
    int rc = 0;
    pthread_mutex_lock(&ext->reload_lock);
    if (ext->is_url) {
        int64_t now = mono_ms();
        int due = !ext->keys || now - ext->fetched_ms >= URL_REFETCH_MS ||
                  (force && now - ext->fetched_ms >= URL_RETRY_MS);
        if (ext->fetched_ms && !due)
            goto out;
        ext->fetched_ms = now;
        rc = fetch_url(ext->source, &text, &len);
    } else {
        if (stat(ext->source, &st) == 0 && ext->keys && same_file(&st, &ext->file_stat))
            goto out;
        rc = read_file(ext->source, MAX_KEY_FILE, &text, &len, &st);
    }
    struct vex_jwt_keyset *keys = NULL;
    if (rc == 0)
        rc = vex_jwt_keyset_parse(text, len, &keys);
    if (rc == 0) {
        pthread_rwlock_wrlock(&ext->lock);
        vex_jwt_keyset_destroy(ext->keys);
        ext->keys = keys;
        if (!ext->is_url)
            ext->file_stat = st;
        pthread_rwlock_unlock(&ext->lock);
    }
out:
    pthread_mutex_unlock(&ext->reload_lock);
    free(text);
    return rc;
}

static int ext_verify(struct external *ext, const struct vex_jwt *jwt, const char *token)
{
    int rc = VEX_EAUTH;
    for (int attempt = 0; attempt < 2 && rc; attempt++) {
        (void)ext_reload(ext, attempt > 0);
        pthread_rwlock_rdlock(&ext->lock);
        rc = ext->keys ? vex_jwt_verify(jwt, token, ext->keys) : VEX_EAUTH;
        pthread_rwlock_unlock(&ext->lock);
        if (!ext->is_url)
            break;
    }
    return rc;
}

static void ext_destroy(struct external *ext)
{
    if (!ext)
        return;
    vex_jwt_keyset_destroy(ext->keys);
    pthread_rwlock_destroy(&ext->lock);
    pthread_mutex_destroy(&ext->reload_lock);
    free(ext);
}

static int ext_create(const struct vex_config *cfg, struct external **out)
{
    if (!cfg->external_jwks[0])
        return VEX_EINVAL;
    struct external *ext = calloc(1, sizeof *ext);
    if (!ext)
        return VEX_ENOMEM;
    pthread_rwlock_init(&ext->lock, NULL);
    pthread_mutex_init(&ext->reload_lock, NULL);
    copy_str(ext->issuer, sizeof ext->issuer, cfg->external_issuer, "");
    strip_slashes(ext->issuer);
    copy_str(ext->source, sizeof ext->source, cfg->external_jwks, "");
    copy_str(ext->claim, sizeof ext->claim, cfg->external_claim, DEFAULT_CLAIM);
    ext->is_url = !strncasecmp(ext->source, "http://", 7) ||
                  !strncasecmp(ext->source, "https://", 8);
    /* A file is read now so that a wrong path stops the server at start; a
     * URL may belong to a server that starts later. */
    int rc = ext->is_url ? 0 : ext_reload(ext, 0);
    if (rc) {
        ext_destroy(ext);
        return rc == VEX_ENOENT || rc == VEX_ETOOBIG ? VEX_EINVAL : rc;
    }
    *out = ext;
    return 0;
}

/* ---- creation ---- */

int vex_auth_create(const struct vex_config *cfg, struct vex_accounts *acc,
                    struct vex_auth **out)
{
    struct vex_auth *auth = calloc(1, sizeof *auth);
    if (!auth)
        return VEX_ENOMEM;
    auth->acc = acc;
    if (cfg->issuer_base[0]) {
        copy_str(auth->issuer_base, sizeof auth->issuer_base, cfg->issuer_base, "");
    } else {
        const char *host = cfg->listen_host[0] ? cfg->listen_host : "127.0.0.1";
        snprintf(auth->issuer_base, sizeof auth->issuer_base,
                 strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d", host,
                 cfg->listen_port > 0 ? cfg->listen_port : 8080);
    }
    strip_slashes(auth->issuer_base);
    copy_str(auth->client_id, sizeof auth->client_id, cfg->client_id, DEFAULT_CLIENT_ID);
    copy_str(auth->realm_default, sizeof auth->realm_default, cfg->realm_default,
             DEFAULT_REALM);
    auth->access_ttl_s = cfg->access_ttl_s > 0 ? cfg->access_ttl_s : DEFAULT_ACCESS_TTL_S;
    auth->refresh_ttl_s = cfg->refresh_ttl_s > 0 ? cfg->refresh_ttl_s : DEFAULT_REFRESH_TTL_S;

    int rc = load_signing_key(cfg->data_dir, &auth->key);
    if (rc)
        goto fail;
    struct vex_jwt_key *pub = NULL;
    char *pem = NULL;
    /* The verification set holds its own copy of the key, so that the set
     * owns everything in it. */
    rc = vex_jwt_key_to_pem(auth->key, &pem);
    if (rc == 0) {
        rc = vex_jwt_key_from_pem(pem, strlen(pem), &pub);
        OPENSSL_clear_free(pem, strlen(pem));
    }
    if (rc == 0)
        rc = vex_jwt_keyset_create_one(pub, &auth->own);
    if (rc == 0 && cfg->external_issuer[0])
        rc = ext_create(cfg, &auth->ext);
    if (rc == 0)
        rc = vex_throttle_create(&user_policy, &auth->user_throttle);
    if (rc == 0)
        rc = vex_throttle_create(&addr_policy, &auth->addr_throttle);
    if (rc)
        goto fail;
    *out = auth;
    return 0;
fail:
    vex_auth_destroy(auth);
    return rc;
}

void vex_auth_destroy(struct vex_auth *auth)
{
    if (!auth)
        return;
    vex_jwt_key_destroy(auth->key);
    vex_jwt_keyset_destroy(auth->own);
    ext_destroy(auth->ext);
    vex_throttle_destroy(auth->user_throttle);
    vex_throttle_destroy(auth->addr_throttle);
    free(auth);
}

const char *vex_auth_client_id(const struct vex_auth *auth)
{
    return auth->client_id;
}

const char *vex_auth_default_realm(const struct vex_auth *auth)
{
    return auth->realm_default;
}

json_t *vex_auth_jwks(struct vex_auth *auth)
{
    json_t *jwk = vex_jwt_key_to_jwk(auth->key);
    return jwk ? json_pack("{s:[o]}", "keys", jwk) : NULL;
}

/* ---- verification ---- */

/* is_our_issuer: iss is "<issuer base>/realms/<realm>" for a realm name
 * without '/'. */
static int is_our_issuer(const struct vex_auth *auth, const char *iss)
{
    size_t n = strlen(auth->issuer_base);
    if (strncmp(iss, auth->issuer_base, n) != 0 || strncmp(iss + n, "/realms/", 8) != 0)
        return 0;
    const char *realm = iss + n + 8;
    return *realm && !strchr(realm, '/');
}

static int is_external_issuer(const struct vex_auth *auth, const char *iss)
{
    if (!auth->ext)
        return 0;
    size_t n = strlen(iss);
    while (n > 0 && iss[n - 1] == '/')
        n--;
    return n == strlen(auth->ext->issuer) && strncmp(iss, auth->ext->issuer, n) == 0;
}

/* claim_at follows a dotted path ("resource_access.vex.customers"). */
static json_t *claim_at(json_t *claims, const char *path)
{
    char part[64];
    json_t *v = claims;
    while (v && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof part)
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        v = json_object_get(v, part);
        path += n + (dot ? 1 : 0);
    }
    return v;
}

/* customers_from makes the customers array from a claim: an array (its
 * strings count) or one string of ids separated by spaces or commas. */
static json_t *customers_from(json_t *claim)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    if (json_is_array(claim)) {
        size_t i;
        json_t *v;
        json_array_foreach(claim, i, v)
            if (json_is_string(v))
                json_array_append(arr, v);
    } else if (json_is_string(claim)) {
        const char *s = json_string_value(claim);
        while (*s) {
            size_t n = strcspn(s, " ,");
            if (n > 0)
                json_array_append_new(arr, json_stringn(s, n));
            s += n + (s[n] ? 1 : 0);
        }
    }
    return arr;
}

static int has_admin_role(json_t *claims)
{
    size_t i;
    json_t *v;
    json_array_foreach(claim_at(claims, "realm_access.roles"), i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), "admin") == 0)
            return 1;
    return 0;
}

int vex_auth_verify_token(struct vex_auth *auth, const char *token, struct vex_identity *out)
{
    struct vex_jwt jwt;
    memset(out, 0, sizeof *out);
    if (vex_jwt_parse(token, strlen(token), &jwt) != 0)
        return VEX_EAUTH;
    int rc = VEX_EAUTH;
    const char *iss = json_string_value(json_object_get(jwt.claims, "iss"));
    json_t *exp = json_object_get(jwt.claims, "exp");
    json_t *nbf = json_object_get(jwt.claims, "nbf");
    double now = (double)time(NULL);
    int ours = iss && is_our_issuer(auth, iss);
    if (!iss || (!ours && !is_external_issuer(auth, iss)))
        goto out;
    /* The signature first: nothing else in the token means anything before. */
    if (ours ? vex_jwt_verify(&jwt, token, auth->own) != 0
             : ext_verify(auth->ext, &jwt, token) != 0)
        goto out;
    if (!json_is_number(exp) || now >= json_number_value(exp))
        goto out;
    if (nbf && (!json_is_number(nbf) || now + NBF_LEEWAY_S < json_number_value(nbf)))
        goto out;
    out->admin = has_admin_role(jwt.claims);
    out->customers =
        customers_from(claim_at(jwt.claims, ours ? DEFAULT_CLAIM : auth->ext->claim));
    rc = out->customers ? 0 : VEX_ENOMEM;
out:
    vex_jwt_deinit(&jwt);
    return rc;
}

int vex_identity_may_read(const struct vex_identity *id, const char *customer)
{
    if (id->admin)
        return 1;
    size_t i;
    json_t *v;
    json_array_foreach(id->customers, i, v)
        if (strcmp(json_string_value(v), customer) == 0)
            return 1;
    return 0;
}

void vex_identity_deinit(struct vex_identity *id)
{
    json_decref(id->customers);
    memset(id, 0, sizeof *id);
}

/* bearer_token returns the token of an "Authorization: Bearer <token>"
 * value (scheme case-insensitive, RFC 7235), or NULL. */
static const char *bearer_token(const char *authz)
{
    if (strncasecmp(authz, "Bearer", 6) != 0 || (authz[6] != ' ' && authz[6] != '\t'))
        return NULL;
    const char *t = authz + 6;
    while (*t == ' ' || *t == '\t')
        t++;
    return *t ? t : NULL;
}

static int reply_unauthorized(struct vex_http_response *resp, const char *challenge,
                              const char *msg)
{
    vex_http_add_header(resp, "WWW-Authenticate", challenge);
    vex_http_reply_error(resp, 401, "unauthorized", "%s", msg);
    return VEX_EAUTH;
}

/* reply_denied answers a refusal after authentication: VEX_EPERM 403,
 * VEX_ENOENT 404, anything else 500 (503 when the database is busy). */
static int reply_denied(struct vex_http_response *resp, int rc, const char *customer)
{
    if (rc == VEX_EPERM)
        vex_http_reply_error(resp, 403, "forbidden",
                             "these credentials may not read customer '%s'", customer);
    else if (rc == VEX_ENOENT)
        vex_http_reply_error(resp, 404, "not_found", "there is no customer '%s'", customer);
    else
        vex_http_reply_error(resp, rc == VEX_EBUSY ? 503 : 500,
                             rc == VEX_EBUSY ? "unavailable" : "internal",
                             "the accounts database cannot be read (%s); try again",
                             vex_strerror(rc));
    return rc;
}

/* decide answers for a token's holder, in the order of SPEC 4.6. */
static int decide(struct vex_auth *auth, const struct vex_identity *id, const char *customer,
                  int64_t *plan_out, struct vex_http_response *resp)
{
    if (!vex_identity_may_read(id, customer))
        return reply_denied(resp, VEX_EPERM, customer);
    int rc = vex_accounts_customer_get(auth->acc, customer, plan_out);
    /* A user who may read a customer that does not exist is told 403 like
     * anyone else: only an admin learns which customers exist. */
    if (rc == VEX_ENOENT && !id->admin)
        rc = VEX_EPERM;
    return rc ? reply_denied(resp, rc, customer) : 0;
}

int vex_auth_check_customer(struct vex_auth *auth, const struct vex_http_request *req,
                            const char *customer, int64_t *plan_out,
                            struct vex_http_response *resp)
{
    const char *authz = vex_http_header(req, "Authorization");
    const char *apikey = vex_http_header(req, "X-API-Key");
    const char *token = authz ? bearer_token(authz) : NULL;
    if (!token && apikey && *apikey) {
        int rc = vex_accounts_apikey_access(auth->acc, apikey, customer, plan_out);
        if (rc == VEX_EAUTH)
            return reply_unauthorized(resp, "Bearer realm=\"vex\"",
                                      "the API key is unknown or revoked");
        return rc ? reply_denied(resp, rc, customer) : 0;
    }
    if (!authz)
        return reply_unauthorized(resp, "Bearer realm=\"vex\"",
                                  "credentials are missing: send 'Authorization: Bearer "
                                  "<access token>' or 'X-API-Key: <key>'");
    if (!token)
        return reply_unauthorized(resp, "Bearer realm=\"vex\", error=\"invalid_request\"",
                                  "the Authorization header must be 'Bearer <access token>'");
    struct vex_identity id;
    if (vex_auth_verify_token(auth, token, &id) != 0)
        return reply_unauthorized(resp, "Bearer realm=\"vex\", error=\"invalid_token\"",
                                  "the access token is malformed, expired or not signed by a "
                                  "trusted issuer; get a new one from the token endpoint");
    int rc = decide(auth, &id, customer, plan_out, resp);
    vex_identity_deinit(&id);
    return rc;
}

/* ---- issuing ---- */

void vex_auth_grant_deinit(struct vex_auth_grant *g)
{
    if (g->access_token)
        OPENSSL_clear_free(g->access_token, strlen(g->access_token));
    if (g->refresh_token)
        OPENSSL_clear_free(g->refresh_token, strlen(g->refresh_token));
    free(g->scope);
    memset(g, 0, sizeof *g);
}

static int sign_access(struct vex_auth *auth, const char *realm, const struct vex_principal *p,
                       const char *scope, char **token_out)
{
    char jti[33];
    int rc = vex_secret_random_hex(jti, 16);
    if (rc)
        return rc;
    size_t len = strlen(auth->issuer_base) + strlen(realm) + 16;
    char *iss = malloc(len);
    json_t *customers = json_array();
    json_t *roles = json_array();
    json_t *claims = NULL;
    rc = VEX_ENOMEM;
    if (!iss || !customers || !roles)
        goto out;
    snprintf(iss, len, "%s/realms/%s", auth->issuer_base, realm);
    for (size_t i = 0; i < p->ncustomers; i++)
        if (json_array_append_new(customers, json_string(p->customers[i])) != 0)
            goto out;
    if (p->admin && json_array_append_new(roles, json_string("admin")) != 0)
        goto out;
    json_int_t now = (json_int_t)time(NULL);
    claims = json_pack("{s:I,s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:{s:O}}", "exp",
                       now + (json_int_t)auth->access_ttl_s, "iat", now, "nbf", now, "jti", jti,
                       "iss", iss, "sub", p->sub, "typ", "Bearer", "azp", auth->client_id,
                       "preferred_username", p->name, "scope", scope, "customers", customers,
                       "realm_access", "roles", roles);
    if (claims)
        rc = vex_jwt_sign(auth->key, claims, token_out);
out:
    json_decref(claims);
    json_decref(customers);
    json_decref(roles);
    free(iss);
    return rc;
}

int vex_auth_grant_password(struct vex_auth *auth, const char *realm, const char *client_ip,
                            const char *username, const char *password, const char *scope,
                            struct vex_auth_grant *out, int64_t *retry_after_s)
{
    char ukey[VEX_USER_NAME_MAX + 8], akey[80];
    struct vex_principal p;
    memset(out, 0, sizeof *out);
    *retry_after_s = 0;
    snprintf(ukey, sizeof ukey, "u:%s", username);
    snprintf(akey, sizeof akey, "a:%s", client_ip ? client_ip : "");
    int64_t now = mono_ms();
    int64_t wait_u = vex_throttle_check(auth->user_throttle, ukey, now);
    int64_t wait_a = vex_throttle_check(auth->addr_throttle, akey, now);
    if (wait_u || wait_a) {
        /* Refused before the password is looked at, so a locked-out guesser
         * learns nothing, not even from a right guess. */
        *retry_after_s = wait_u > wait_a ? wait_u : wait_a;
        return VEX_ETHROTTLE;
    }
    int rc = vex_accounts_user_login(auth->acc, username, password, strlen(password), &p);
    if (rc == VEX_EAUTH) {
        now = mono_ms();
        vex_throttle_fail(auth->user_throttle, ukey, now);
        vex_throttle_fail(auth->addr_throttle, akey, now);
        return rc;
    }
    if (rc)
        return rc;
    vex_throttle_forget(auth->user_throttle, ukey);
    if (!scope || !*scope)
        scope = DEFAULT_SCOPE;
    if (!(out->scope = strdup(scope)))
        rc = VEX_ENOMEM;
    if (rc == 0)
        rc = vex_accounts_refresh_issue(auth->acc, p.name, scope, auth->refresh_ttl_s,
                                        &out->refresh_token);
    if (rc == 0)
        rc = sign_access(auth, realm, &p, scope, &out->access_token);
    vex_principal_deinit(&p);
    if (rc) {
        vex_auth_grant_deinit(out);
        return rc == VEX_ENOENT ? VEX_EAUTH : rc;
    }
    out->expires_in = auth->access_ttl_s;
    out->refresh_expires_in = auth->refresh_ttl_s;
    return 0;
}

int vex_auth_grant_refresh(struct vex_auth *auth, const char *realm, const char *refresh_token,
                           struct vex_auth_grant *out)
{
    struct vex_principal p;
    memset(out, 0, sizeof *out);
    int rc = vex_accounts_refresh_rotate(auth->acc, refresh_token, auth->refresh_ttl_s, &p,
                                         &out->scope, &out->refresh_token);
    if (rc)
        return rc;
    rc = sign_access(auth, realm, &p, out->scope, &out->access_token);
    vex_principal_deinit(&p);
    if (rc) {
        vex_auth_grant_deinit(out);
        return rc;
    }
    out->expires_in = auth->access_ttl_s;
    out->refresh_expires_in = auth->refresh_ttl_s;
    return 0;
}
