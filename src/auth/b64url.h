/* b64url.h - base64url without padding (RFC 4648 section 5), the encoding of
 * JWT segments, JWK numbers and the random secrets that vex hands out. */
#ifndef VEX_AUTH_B64URL_H
#define VEX_AUTH_B64URL_H

#include <stddef.h>
#include <stdint.h>

/* vex_b64url_len is the length of the encoding of n bytes (no padding, no NUL). */
size_t vex_b64url_len(size_t n);

/* vex_b64url_encode writes the encoding of src[0..n) and a NUL into out, which
 * must hold vex_b64url_len(n) + 1 bytes. Returns the encoded length. */
size_t vex_b64url_encode(const uint8_t *src, size_t n, char *out);

/* vex_b64url_encode_alloc returns the encoding as a malloc'd string (caller
 * frees), or NULL when out of memory. */
char *vex_b64url_encode_alloc(const uint8_t *src, size_t n);

/* vex_b64url_decode decodes src[0..len) into a malloc'd buffer (caller frees;
 * one extra NUL byte follows the data so that text can be used as a string).
 * Padding ('='), characters outside the url-safe alphabet, a length that no
 * encoding has (len % 4 == 1) and non-zero unused trailing bits are
 * VEX_EINVAL, so that one byte string has exactly one accepted encoding.
 * VEX_ENOMEM when out of memory. */
int vex_b64url_decode(const char *src, size_t len, uint8_t **out, size_t *out_len);

#endif
