/* jwt.h - JSON Web Tokens signed with RS256 (RFC 7515/7519), RSA keys, their
 * JWK form (RFC 7517) and key sets.
 *
 * Only RS256 exists here: the algorithm is pinned rather than read from the
 * token, so "alg": "none" and the HS256-with-the-public-key confusion are
 * refused by construction. Claims (exp, iss, ...) are the caller's business
 * (auth.c); this module answers "is this token well formed and signed by one
 * of these keys". */
#ifndef VEX_AUTH_JWT_H
#define VEX_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Longest token accepted, in bytes: bounds parse and verify work per request. */
#define VEX_JWT_MAX_LEN 16384

/* An RSA key (a pair, or a public key alone) with its key id. Immutable after
 * creation, so that many threads may sign or verify with it at once. */
struct vex_jwt_key;

/* vex_jwt_key_generate makes a new 2048-bit RSA pair. VEX_EIO, VEX_ENOMEM. */
int vex_jwt_key_generate(struct vex_jwt_key **out);

/* vex_jwt_key_from_pem reads a PEM private key (PKCS#8 or PKCS#1) or, failing
 * that, a PEM public key. VEX_EINVAL when it is neither, not RSA, or shorter
 * than 2048 bits. */
int vex_jwt_key_from_pem(const char *pem, size_t len, struct vex_jwt_key **out);

/* vex_jwt_key_to_pem writes the private key as PKCS#8 PEM (malloc'd, caller
 * frees). VEX_EINVAL for a public-only key. */
int vex_jwt_key_to_pem(const struct vex_jwt_key *key, char **pem_out);

/* vex_jwt_key_from_jwk builds a public key from one JWK object ("kty": "RSA",
 * "n", "e"; "kid" optional; "alg" when present must be RS256, "use" when
 * present must be "sig"). VEX_EINVAL otherwise. */
int vex_jwt_key_from_jwk(const json_t *jwk, struct vex_jwt_key **out);

/* vex_jwt_key_to_jwk returns the public JWK of key (new reference), with kty,
 * kid, use "sig", alg "RS256", n and e; NULL when out of memory. */
json_t *vex_jwt_key_to_jwk(const struct vex_jwt_key *key);

/* vex_jwt_key_kid is the key id: the one from the JWK when it had one, else
 * the RFC 7638 thumbprint of the public key. Borrowed from key. */
const char *vex_jwt_key_kid(const struct vex_jwt_key *key);

void vex_jwt_key_destroy(struct vex_jwt_key *key);

/* A set of public keys that tokens may be signed with (a JWKS). */
struct vex_jwt_keyset;

/* vex_jwt_keyset_parse reads a JWKS document ({"keys": [...]}, keys of other
 * types or uses are skipped) or a PEM public or private key. VEX_EINVAL when
 * nothing usable is in it. */
int vex_jwt_keyset_parse(const char *text, size_t len, struct vex_jwt_keyset **out);

/* vex_jwt_keyset_create_one makes a set holding only key, which the set now
 * owns (also on failure). */
int vex_jwt_keyset_create_one(struct vex_jwt_key *key, struct vex_jwt_keyset **out);

size_t vex_jwt_keyset_count(const struct vex_jwt_keyset *set);

void vex_jwt_keyset_destroy(struct vex_jwt_keyset *set);

/* vex_jwt_sign returns "<header>.<claims>.<signature>" signed with RS256 and
 * naming key's kid (malloc'd, caller frees). VEX_EINVAL for a public-only key. */
int vex_jwt_sign(const struct vex_jwt_key *key, const json_t *claims, char **token_out);

/* A parsed but not yet verified token. */
struct vex_jwt {
    json_t *header;  /* owned */
    json_t *claims;  /* owned */
    const char *kid; /* borrowed from header, NULL when absent */
    size_t signed_len; /* the signing input is token[0..signed_len) */
    uint8_t *sig;    /* owned */
    size_t sig_len;
};

/* vex_jwt_parse splits and decodes a compact token of len bytes. VEX_EINVAL
 * when it is not three base64url parts of JSON objects, when "alg" is not
 * RS256, or when the header has "crit" (no extension is understood). On
 * success the caller calls vex_jwt_deinit. Nothing in it is trusted until
 * vex_jwt_verify succeeds. */
int vex_jwt_parse(const char *token, size_t len, struct vex_jwt *out);

/* vex_jwt_verify checks the signature of a parsed token (token is the same
 * text given to vex_jwt_parse) against the keys of set whose kid matches the
 * token's, or that have no kid. 0 when one of them signed it, else
 * VEX_EAUTH. */
int vex_jwt_verify(const struct vex_jwt *jwt, const char *token,
                   const struct vex_jwt_keyset *set);

void vex_jwt_deinit(struct vex_jwt *jwt);

#endif
