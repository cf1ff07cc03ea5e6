/* test_jwt.c - RS256 signing and verification, JWK/JWKS/PEM keys, and the
 * forgeries a verifier must refuse (tampered claims, alg none, HS256 keyed
 * with the public key, another key, a key too small). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth/jwt.h"
#include "core/err.h"
#include "unit/auth/test_util.h"

/* The RSA key of RFC 7517 appendix A.1, whose RFC 7638 thumbprint is given
 * in RFC 7638 section 3.1. */
static const char rfc_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
    "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
    "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
static const char rfc_thumbprint[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

static struct vex_jwt_key *key_a, *key_b;

static int setup(void **state)
{
    (void)state;
    if (vex_jwt_key_generate(&key_a) || vex_jwt_key_generate(&key_b))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vex_jwt_key_destroy(key_a);
    vex_jwt_key_destroy(key_b);
    return 0;
}

/* public_set makes a key set holding the public half of key, as a server
 * that only has the JWKS would. */
static struct vex_jwt_keyset *public_set(const struct vex_jwt_key *key)
{
    json_t *jwks = json_pack("{s:[o]}", "keys", vex_jwt_key_to_jwk(key));
    char *text = json_dumps(jwks, 0);
    struct vex_jwt_keyset *set = NULL;
    assert_int_equal(vex_jwt_keyset_parse(text, strlen(text), &set), 0);
    free(text);
    json_decref(jwks);
    return set;
}

static char *sign(const struct vex_jwt_key *key, const char *claims_json)
{
    json_t *claims = json_loads(claims_json, 0, NULL);
    assert_non_null(claims);
    char *token = NULL;
    assert_int_equal(vex_jwt_sign(key, claims, &token), 0);
    json_decref(claims);
    return token;
}

/* verify parses and verifies; returns 0, or the first failure. */
static int verify(const char *token, const struct vex_jwt_keyset *set)
{
    struct vex_jwt jwt;
    int rc = vex_jwt_parse(token, strlen(token), &jwt);
    if (rc)
        return rc;
    rc = vex_jwt_verify(&jwt, token, set);
    vex_jwt_deinit(&jwt);
    return rc;
}

static void round_trip(void **state)
{
    (void)state;
    struct vex_jwt_keyset *set = public_set(key_a);
    char *token = sign(key_a, "{\"sub\":\"alice\",\"n\":42}");
    struct vex_jwt jwt;
    assert_int_equal(vex_jwt_parse(token, strlen(token), &jwt), 0);
    assert_int_equal(vex_jwt_verify(&jwt, token, set), 0);
    assert_string_equal(json_string_value(json_object_get(jwt.header, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(jwt.header, "typ")), "JWT");
    assert_string_equal(jwt.kid, vex_jwt_key_kid(key_a));
    assert_string_equal(json_string_value(json_object_get(jwt.claims, "sub")), "alice");
    assert_int_equal(json_integer_value(json_object_get(jwt.claims, "n")), 42);
    assert_int_equal(jwt.sig_len, 256); /* 2048-bit key */
    vex_jwt_deinit(&jwt);
    /* The header is exactly {"alg":"RS256","typ":"JWT","kid":...}. */
    char expect[200];
    snprintf(expect, sizeof expect, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             vex_jwt_key_kid(key_a));
    char *h64 = tu_b64(expect);
    assert_memory_equal(token, h64, strlen(h64));
    assert_int_equal(token[strlen(h64)], '.');
    free(h64);
    free(token);
    vex_jwt_keyset_destroy(set);
}

static void tampered_rejected(void **state)
{
    (void)state;
    struct vex_jwt_keyset *set = public_set(key_a);
    char *token = sign(key_a, "{\"sub\":\"alice\",\"customers\":[\"a\"]}");
    char *d1 = strchr(token, '.'), *d2 = strrchr(token, '.');
    *d1 = *d2 = '\0';
    char *evil = tu_b64("{\"sub\":\"alice\",\"customers\":[\"b\"]}");
    char *forged = tu_join(token, evil, d2 + 1);
    assert_int_equal(verify(forged, set), VEX_EAUTH);
    /* One flipped signature character. */
    *d1 = *d2 = '.';
    size_t last = strlen(token) - 2;
    token[last] = token[last] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(token, set), VEX_EAUTH);
    free(forged);
    free(evil);
    free(token);
    vex_jwt_keyset_destroy(set);
}

static void alg_none_rejected(void **state)
{
    (void)state;
    struct vex_jwt_keyset *set = public_set(key_a);
    char *h = tu_b64("{\"alg\":\"none\",\"typ\":\"JWT\"}");
    char *c = tu_b64("{\"sub\":\"alice\"}");
    char *t1 = tu_join(h, c, "");
    char *t2 = tu_join(h, c, "c2ln");
    assert_int_equal(verify(t1, set), VEX_EINVAL);
    assert_int_equal(verify(t2, set), VEX_EINVAL);
    /* "None" or a missing alg are no better. */
    char *h2 = tu_b64("{\"typ\":\"JWT\"}");
    char *t3 = tu_join(h2, c, "c2ln");
    assert_int_equal(verify(t3, set), VEX_EINVAL);
    free(h);
    free(h2);
    free(c);
    free(t1);
    free(t2);
    free(t3);
    vex_jwt_keyset_destroy(set);
}

/* hs256 makes header.claims.HMAC-SHA256(secret) as an attacker would who
 * uses the server's public key as the MAC secret. */
static char *hs256(const char *header, const char *claims, const char *secret)
{
    char *h = tu_b64(header), *c = tu_b64(claims);
    char *input = tu_join(h, c, "");
    input[strlen(input) - 1] = '\0'; /* drop the last '.' */
    uint8_t mac[32];
    unsigned int n = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const uint8_t *)input, strlen(input), mac,
         &n);
    assert_int_equal(n, 32);
    char *s = vex_b64url_encode_alloc(mac, n);
    char *token = tu_join(h, c, s);
    free(h);
    free(c);
    free(s);
    free(input);
    return token;
}

static void hs256_with_public_key_rejected(void **state)
{
    (void)state;
    struct vex_jwt_keyset *set = public_set(key_a);
    json_t *jwk = vex_jwt_key_to_jwk(key_a);
    char *pub = json_dumps(jwk, JSON_COMPACT);
    char *t1 = hs256("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"sub\":\"alice\"}", pub);
    assert_int_equal(verify(t1, set), VEX_EINVAL);
    /* Claiming RS256 while carrying a MAC does not help either. */
    char *t2 = hs256("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "{\"sub\":\"alice\"}", pub);
    assert_int_equal(verify(t2, set), VEX_EAUTH);
    free(t1);
    free(t2);
    free(pub);
    json_decref(jwk);
    vex_jwt_keyset_destroy(set);
}

static void other_key_rejected(void **state)
{
    (void)state;
    struct vex_jwt_keyset *set_a = public_set(key_a);
    struct vex_jwt_keyset *set_b = public_set(key_b);
    char *token = sign(key_b, "{\"sub\":\"mallory\"}");
    assert_int_equal(verify(token, set_a), VEX_EAUTH);
    assert_int_equal(verify(token, set_b), 0);
    free(token);
    vex_jwt_keyset_destroy(set_a);
    vex_jwt_keyset_destroy(set_b);
}

static void malformed_rejected(void **state)
{
    (void)state;
    struct vex_jwt jwt;
    static const char *const bad[] = {"", "abc", "a.b", "a.b.c.d", "..", "!.!.!"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(vex_jwt_parse(bad[i], strlen(bad[i]), &jwt), VEX_EINVAL);
    /* A header that is JSON but not an object; one with a duplicate key;
     * one with "crit". */
    static const char *const headers[] = {
        "[\"RS256\"]",
        "{\"alg\":\"RS256\",\"alg\":\"none\"}",
        "{\"alg\":\"RS256\",\"crit\":[\"exp\"]}",
    };
    char *c = tu_b64("{}");
    for (size_t i = 0; i < 3; i++) {
        char *h = tu_b64(headers[i]);
        char *t = tu_join(h, c, "c2ln");
        assert_int_equal(vex_jwt_parse(t, strlen(t), &jwt), VEX_EINVAL);
        free(h);
        free(t);
    }
    free(c);
    char *huge = malloc(VEX_JWT_MAX_LEN + 2);
    memset(huge, 'A', VEX_JWT_MAX_LEN + 1);
    huge[10] = huge[20] = '.';
    huge[VEX_JWT_MAX_LEN + 1] = '\0';
    assert_int_equal(vex_jwt_parse(huge, strlen(huge), &jwt), VEX_EINVAL);
    free(huge);
}

static void jwk_thumbprint(void **state)
{
    (void)state;
    json_t *jwk = json_pack("{s:s,s:s,s:s}", "kty", "RSA", "n", rfc_n, "e", "AQAB");
    struct vex_jwt_key *key;
    assert_int_equal(vex_jwt_key_from_jwk(jwk, &key), 0);
    assert_string_equal(vex_jwt_key_kid(key), rfc_thumbprint);
    json_t *back = vex_jwt_key_to_jwk(key);
    assert_string_equal(json_string_value(json_object_get(back, "n")), rfc_n);
    assert_string_equal(json_string_value(json_object_get(back, "e")), "AQAB");
    assert_string_equal(json_string_value(json_object_get(back, "kty")), "RSA");
    assert_string_equal(json_string_value(json_object_get(back, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(back, "use")), "sig");
    assert_string_equal(json_string_value(json_object_get(back, "kid")), rfc_thumbprint);
    json_decref(back);
    vex_jwt_key_destroy(key);
    /* A public key cannot sign. */
    json_object_set_new(jwk, "kid", json_string("k1"));
    assert_int_equal(vex_jwt_key_from_jwk(jwk, &key), 0);
    assert_string_equal(vex_jwt_key_kid(key), "k1");
    char *token = NULL;
    json_t *claims = json_object();
    assert_int_equal(vex_jwt_sign(key, claims, &token), VEX_EINVAL);
    assert_null(token);
    json_decref(claims);
    vex_jwt_key_destroy(key);
    /* Refused: another alg, an encryption key, not RSA. */
    json_object_set_new(jwk, "alg", json_string("RS512"));
    assert_int_equal(vex_jwt_key_from_jwk(jwk, &key), VEX_EINVAL);
    json_object_set_new(jwk, "alg", json_string("RS256"));
    json_object_set_new(jwk, "use", json_string("enc"));
    assert_int_equal(vex_jwt_key_from_jwk(jwk, &key), VEX_EINVAL);
    json_object_del(jwk, "use");
    json_object_set_new(jwk, "kty", json_string("EC"));
    assert_int_equal(vex_jwt_key_from_jwk(jwk, &key), VEX_EINVAL);
    json_decref(jwk);
}

static void keyset_skips_and_matches_kid(void **state)
{
    (void)state;
    json_t *b = vex_jwt_key_to_jwk(key_b);
    json_object_set_new(b, "kid", json_string("key-b"));
    json_t *jwks = json_pack("{s:[{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s},O]}", "keys", "kty", "EC",
                             "crv", "P-256", "x", "AA", "y", "AA", "kty", "RSA", "use", "enc",
                             "n", rfc_n, "e", "AQAB", b);
    char *text = json_dumps(jwks, 0);
    struct vex_jwt_keyset *set;
    assert_int_equal(vex_jwt_keyset_parse(text, strlen(text), &set), 0);
    assert_int_equal(vex_jwt_keyset_count(set), 1);
    /* key_b signs with its thumbprint as kid, which names no key of the set
     * (the set calls it "key-b"): refused, the kid decides. */
    char *token = sign(key_b, "{}");
    assert_int_equal(verify(token, set), VEX_EAUTH);
    vex_jwt_keyset_destroy(set);
    free(text);
    /* Under its thumbprint it is found. */
    json_object_set_new(b, "kid", json_string(vex_jwt_key_kid(key_b)));
    text = json_dumps(jwks, 0);
    assert_int_equal(vex_jwt_keyset_parse(text, strlen(text), &set), 0);
    assert_int_equal(verify(token, set), 0);
    vex_jwt_keyset_destroy(set);
    free(text);
    free(token);
    json_decref(b);
    json_decref(jwks);
    assert_int_equal(vex_jwt_keyset_parse("{\"keys\":[]}", 11, &set), VEX_EINVAL);
    assert_int_equal(vex_jwt_keyset_parse("not json", 8, &set), VEX_EINVAL);
}

static void pem_keys(void **state)
{
    (void)state;
    char *pem = NULL;
    assert_int_equal(vex_jwt_key_to_pem(key_a, &pem), 0);
    assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
    struct vex_jwt_key *copy;
    assert_int_equal(vex_jwt_key_from_pem(pem, strlen(pem), &copy), 0);
    assert_string_equal(vex_jwt_key_kid(copy), vex_jwt_key_kid(key_a));
    /* A token the copy signs verifies with the original's public set. */
    struct vex_jwt_keyset *set = public_set(key_a);
    char *token = sign(copy, "{\"x\":1}");
    assert_int_equal(verify(token, set), 0);
    free(token);
    vex_jwt_key_destroy(copy);
    vex_jwt_keyset_destroy(set);
    free(pem);

    /* A 1024-bit key is refused. */
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, small), 1);
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    assert_int_equal(vex_jwt_key_from_pem(data, (size_t)n, &copy), VEX_EINVAL);
    assert_int_equal(vex_jwt_key_from_pem("junk", 4, &copy), VEX_EINVAL);
    BIO_free(bio);
    EVP_PKEY_free(small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(tampered_rejected),
        cmocka_unit_test(alg_none_rejected),
        cmocka_unit_test(hs256_with_public_key_rejected),
        cmocka_unit_test(other_key_rejected),
        cmocka_unit_test(malformed_rejected),
        cmocka_unit_test(jwk_thumbprint),
        cmocka_unit_test(keyset_skips_and_matches_kid),
        cmocka_unit_test(pem_keys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
