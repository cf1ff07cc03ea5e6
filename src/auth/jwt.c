/* jwt.c - RS256 JSON Web Tokens on OpenSSL 3 EVP, RSA keys as PEM and JWK.
 *
 * A token is base64url(header) "." base64url(claims) "." base64url(signature),
 * where the signature is RSASSA-PKCS1-v1_5 with SHA-256 over the first two
 * parts as they appear in the text. */
#include "auth/jwt.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "auth/b64url.h"
#include "auth/secret.h"
#include "core/err.h"

#define MIN_BITS 2048
#define MAX_BITS 8192
#define GEN_BITS 2048
#define MAX_KEYS 64

struct vex_jwt_key {
    EVP_PKEY *pkey;
    char *kid;
    int kid_explicit; /* the kid came with the key (JWK), not computed */
    int has_private;
};

struct vex_jwt_keyset {
    struct vex_jwt_key **keys;
    size_t n;
};

/* bn_b64url returns the big-endian magnitude of an RSA parameter in base64url. */
static char *param_b64url(const EVP_PKEY *pkey, const char *name)
{
    BIGNUM *bn = NULL;
    char *out = NULL;
    if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1)
        return NULL;
    int n = BN_num_bytes(bn);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf) {
        BN_bn2bin(bn, buf);
        out = vex_b64url_encode_alloc(buf, (size_t)n);
        free(buf);
    }
    BN_free(bn);
    return out;
}

/* thumbprint computes the RFC 7638 key id: SHA-256 over the required members
 * of the JWK in lexical order, without spaces. */
static char *thumbprint(const EVP_PKEY *pkey)
{
    char *n = param_b64url(pkey, OSSL_PKEY_PARAM_RSA_N);
    char *e = param_b64url(pkey, OSSL_PKEY_PARAM_RSA_E);
    char *kid = NULL;
    if (n && e) {
        size_t len = strlen(n) + strlen(e) + 32;
        char *canon = malloc(len);
        if (canon) {
            int w = snprintf(canon, len, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, n);
            uint8_t digest[VEX_SECRET_DIGEST_LEN];
            if (w > 0 && vex_secret_digest(canon, (size_t)w, digest) == 0)
                kid = vex_b64url_encode_alloc(digest, sizeof digest);
            free(canon);
        }
    }
    free(n);
    free(e);
    return kid;
}

/* key_wrap takes ownership of pkey, checks it is a usable RSA key and gives it
 * a kid. */
static int key_wrap(EVP_PKEY *pkey, int has_private, const char *kid,
                    struct vex_jwt_key **out)
{
    int rc = VEX_EINVAL;
    struct vex_jwt_key *key = NULL;
    if (!EVP_PKEY_is_a(pkey, "RSA"))
        goto fail;
    int bits = EVP_PKEY_get_bits(pkey);
    if (bits < MIN_BITS || bits > MAX_BITS)
        goto fail;
    rc = VEX_ENOMEM;
    key = calloc(1, sizeof *key);
    if (!key)
        goto fail;
    key->kid = kid ? strdup(kid) : thumbprint(pkey);
    if (!key->kid)
        goto fail;
    key->pkey = pkey;
    key->kid_explicit = kid != NULL;
    key->has_private = has_private;
    *out = key;
    return 0;
fail:
    if (key)
        free(key->kid);
    free(key);
    EVP_PKEY_free(pkey);
    return rc;
}

int vex_jwt_key_generate(struct vex_jwt_key **out)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)GEN_BITS);
    if (!pkey)
        return VEX_EIO;
    return key_wrap(pkey, 1, NULL, out);
}

int vex_jwt_key_from_pem(const char *pem, size_t len, struct vex_jwt_key **out)
{
    if (len > (size_t)1 << 20)
        return VEX_EINVAL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return VEX_ENOMEM;
    int priv = 1;
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (!pkey) {
        priv = 0;
        (void)BIO_reset(bio);
        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    }
    BIO_free(bio);
    if (!pkey) {
        /* Leave no failure behind in this thread's OpenSSL error queue, where
         * it would be mistaken for the cause of a later error. */
        ERR_clear_error();
        return VEX_EINVAL;
    }
    ERR_clear_error();
    return key_wrap(pkey, priv, NULL, out);
}

int vex_jwt_key_to_pem(const struct vex_jwt_key *key, char **pem_out)
{
    if (!key->has_private)
        return VEX_EINVAL;
    int rc = VEX_EIO;
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        return VEX_ENOMEM;
    if (PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL) == 1) {
        char *data;
        long n = BIO_get_mem_data(bio, &data);
        char *pem = n > 0 ? malloc((size_t)n + 1) : NULL;
        if (pem) {
            memcpy(pem, data, (size_t)n);
            pem[n] = '\0';
            *pem_out = pem;
            rc = 0;
        } else {
            rc = VEX_ENOMEM;
        }
    }
    BIO_free(bio);
    return rc;
}

static BIGNUM *jwk_bn(const json_t *jwk, const char *name)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    uint8_t *raw;
    size_t n;
    if (!s || vex_b64url_decode(s, strlen(s), &raw, &n) != 0)
        return NULL;
    BIGNUM *bn = n > 0 && n <= MAX_BITS / 8 ? BN_bin2bn(raw, (int)n, NULL) : NULL;
    free(raw);
    return bn;
}

int vex_jwt_key_from_jwk(const json_t *jwk, struct vex_jwt_key **out)
{
    int rc = VEX_EINVAL;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const json_t *alg = json_object_get(jwk, "alg");
    const json_t *use = json_object_get(jwk, "use");
    const json_t *kid = json_object_get(jwk, "kid");
    if (!json_is_object(jwk) || !kty || strcmp(kty, "RSA") != 0)
        goto fail;
    if (alg && (!json_is_string(alg) || strcmp(json_string_value(alg), "RS256") != 0))
        goto fail;
    if (use && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0))
        goto fail;
    if (kid && !json_is_string(kid))
        goto fail;
    n = jwk_bn(jwk, "n");
    e = jwk_bn(jwk, "e");
    if (!n || !e)
        goto fail;
    rc = VEX_EIO;
    bld = OSSL_PARAM_BLD_new();
    if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
        goto fail;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        ERR_clear_error();
        rc = VEX_EINVAL;
        goto fail;
    }
    rc = key_wrap(pkey, 0, kid ? json_string_value(kid) : NULL, out);
    pkey = NULL;
fail:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return rc;
}

json_t *vex_jwt_key_to_jwk(const struct vex_jwt_key *key)
{
    char *n = param_b64url(key->pkey, OSSL_PKEY_PARAM_RSA_N);
    char *e = param_b64url(key->pkey, OSSL_PKEY_PARAM_RSA_E);
    json_t *jwk = NULL;
    if (n && e)
        jwk = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "kid", key->kid, "kty", "RSA", "alg",
                        "RS256", "use", "sig", "n", n, "e", e);
    free(n);
    free(e);
    return jwk;
}

const char *vex_jwt_key_kid(const struct vex_jwt_key *key)
{
    return key->kid;
}

void vex_jwt_key_destroy(struct vex_jwt_key *key)
{
    if (!key)
        return;
    EVP_PKEY_free(key->pkey);
    free(key->kid);
    free(key);
}

static int keyset_add(struct vex_jwt_keyset *set, struct vex_jwt_key *key)
{
    if (set->n >= MAX_KEYS) {
        vex_jwt_key_destroy(key);
        return VEX_EFULL;
    }
    struct vex_jwt_key **keys = realloc(set->keys, (set->n + 1) * sizeof *keys);
    if (!keys) {
        vex_jwt_key_destroy(key);
        return VEX_ENOMEM;
    }
    keys[set->n++] = key;
    set->keys = keys;
    return 0;
}

int vex_jwt_keyset_create_one(struct vex_jwt_key *key, struct vex_jwt_keyset **out)
{
    struct vex_jwt_keyset *set = calloc(1, sizeof *set);
    if (!set) {
        vex_jwt_key_destroy(key);
        return VEX_ENOMEM;
    }
    int rc = keyset_add(set, key);
    if (rc) {
        free(set);
        return rc;
    }
    *out = set;
    return 0;
}

int vex_jwt_keyset_parse(const char *text, size_t len, struct vex_jwt_keyset **out)
{
    struct vex_jwt_keyset *set = calloc(1, sizeof *set);
    if (!set)
        return VEX_ENOMEM;
    int rc = 0;
    if (memmem(text, len, "-----BEGIN", 10)) {
        struct vex_jwt_key *key;
        rc = vex_jwt_key_from_pem(text, len, &key);
        if (rc == 0)
            rc = keyset_add(set, key);
    } else {
        json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        json_t *keys = json_object_get(doc, "keys");
        size_t i;
        json_t *jwk;
        json_array_foreach(keys, i, jwk) {
            struct vex_jwt_key *key;
            /* Keys for other algorithms or encryption are normal in a JWKS
             * (Keycloak publishes an RSA-OAEP key too): skip them. */
            if (vex_jwt_key_from_jwk(jwk, &key) != 0)
                continue;
            if ((rc = keyset_add(set, key)) != 0)
                break;
        }
        json_decref(doc);
    }
    if (rc == 0 && set->n == 0)
        rc = VEX_EINVAL;
    if (rc) {
        vex_jwt_keyset_destroy(set);
        return rc;
    }
    *out = set;
    return 0;
}

size_t vex_jwt_keyset_count(const struct vex_jwt_keyset *set)
{
    return set->n;
}

void vex_jwt_keyset_destroy(struct vex_jwt_keyset *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        vex_jwt_key_destroy(set->keys[i]);
    free(set->keys);
    free(set);
}

/* b64url_json encodes the compact serialisation of a JSON value. */
static char *b64url_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    if (!s)
        return NULL;
    char *enc = vex_b64url_encode_alloc((const uint8_t *)s, strlen(s));
    free(s);
    return enc;
}

int vex_jwt_sign(const struct vex_jwt_key *key, const json_t *claims, char **token_out)
{
    if (!key->has_private)
        return VEX_EINVAL;
    int rc = VEX_ENOMEM;
    char *h64 = NULL, *c64 = NULL, *token = NULL;
    uint8_t *sig = NULL;
    EVP_MD_CTX *md = NULL;
    json_t *header = json_pack("{s:s,s:s,s:s}", "alg", "RS256", "typ", "JWT", "kid", key->kid);
    if (!header)
        goto fail;
    h64 = b64url_json(header);
    c64 = b64url_json(claims);
    if (!h64 || !c64)
        goto fail;
    size_t hlen = strlen(h64), clen = strlen(c64);
    size_t sig_len = (size_t)EVP_PKEY_get_size(key->pkey);
    token = malloc(hlen + 1 + clen + 1 + vex_b64url_len(sig_len) + 1);
    sig = malloc(sig_len);
    md = EVP_MD_CTX_new();
    if (!token || !sig || !md)
        goto fail;
    memcpy(token, h64, hlen);
    token[hlen] = '.';
    memcpy(token + hlen + 1, c64, clen);
    size_t signed_len = hlen + 1 + clen;
    rc = VEX_EIO;
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key->pkey) != 1 ||
        EVP_DigestSign(md, sig, &sig_len, (const uint8_t *)token, signed_len) != 1)
        goto fail;
    token[signed_len] = '.';
    vex_b64url_encode(sig, sig_len, token + signed_len + 1);
    *token_out = token;
    token = NULL;
    rc = 0;
fail:
    EVP_MD_CTX_free(md);
    free(sig);
    free(token);
    free(h64);
    free(c64);
    json_decref(header);
    return rc;
}

/* decode_object decodes a base64url part that must hold one JSON object. */
static json_t *decode_object(const char *s, size_t len)
{
    uint8_t *raw;
    size_t n;
    if (vex_b64url_decode(s, len, &raw, &n) != 0)
        return NULL;
    json_t *v = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

int vex_jwt_parse(const char *token, size_t len, struct vex_jwt *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0 || len > VEX_JWT_MAX_LEN)
        return VEX_EINVAL;
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(token + len - d1 - 1)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', (size_t)(token + len - d2 - 1)))
        return VEX_EINVAL;
    out->header = decode_object(token, (size_t)(d1 - token));
    if (!out->header)
        goto fail;
    /* The algorithm is pinned: whatever else the header says, only RS256 is
     * verified, so a token cannot choose "none" or a MAC keyed with our
     * public key. */
    const char *alg = json_string_value(json_object_get(out->header, "alg"));
    if (!alg || strcmp(alg, "RS256") != 0 || json_object_get(out->header, "crit"))
        goto fail;
    const json_t *kid = json_object_get(out->header, "kid");
    if (kid && !json_is_string(kid))
        goto fail;
    out->kid = json_string_value(kid);
    out->claims = decode_object(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!out->claims)
        goto fail;
    if (vex_b64url_decode(d2 + 1, (size_t)(token + len - d2 - 1), &out->sig, &out->sig_len) != 0)
        goto fail;
    if (out->sig_len == 0)
        goto fail;
    out->signed_len = (size_t)(d2 - token);
    return 0;
fail:
    vex_jwt_deinit(out);
    return VEX_EINVAL;
}

static int verify_one(const struct vex_jwt_key *key, const struct vex_jwt *jwt, const char *token)
{
    if ((size_t)EVP_PKEY_get_size(key->pkey) != jwt->sig_len)
        return 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return 0;
    int ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key->pkey) == 1 &&
             EVP_DigestVerify(md, jwt->sig, jwt->sig_len, (const uint8_t *)token,
                              jwt->signed_len) == 1;
    EVP_MD_CTX_free(md);
    if (!ok)
        ERR_clear_error();
    return ok;
}

int vex_jwt_verify(const struct vex_jwt *jwt, const char *token,
                   const struct vex_jwt_keyset *set)
{
    if (!jwt->claims || !set)
        return VEX_EAUTH;
    for (size_t i = 0; i < set->n; i++) {
        const struct vex_jwt_key *key = set->keys[i];
        if (jwt->kid && key->kid_explicit && strcmp(jwt->kid, key->kid) != 0)
            continue;
        if (verify_one(key, jwt, token))
            return 0;
    }
    return VEX_EAUTH;
}

void vex_jwt_deinit(struct vex_jwt *jwt)
{
    json_decref(jwt->header);
    json_decref(jwt->claims);
    free(jwt->sig);
    memset(jwt, 0, sizeof *jwt);
}
