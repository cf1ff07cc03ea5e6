/* secret.h - the random secrets vex hands out (ingest keys, API keys, refresh
 * tokens) and how they are kept: only their SHA-256 is stored, and stored
 * digests are compared in constant time. */
#ifndef VEX_AUTH_SECRET_H
#define VEX_AUTH_SECRET_H

#include <stddef.h>
#include <stdint.h>

#define VEX_SECRET_DIGEST_LEN 32
/* Random bytes in a generated secret: 256 bits, beyond any guessing. */
#define VEX_SECRET_RANDOM_BYTES 32

/* vex_secret_generate returns a new secret "<prefix><43 base64url chars>"
 * drawn from RAND_bytes, as a malloc'd string (caller frees). The prefix
 * (e.g. "vik_") tells a person which kind of secret they hold. VEX_ENOMEM,
 * VEX_EIO when the random generator fails. */
int vex_secret_generate(const char *prefix, char **out);

/* vex_secret_random fills buf with n bytes from RAND_bytes; VEX_EIO on failure. */
int vex_secret_random(void *buf, size_t n);

/* vex_secret_random_hex writes 2 * nbytes random lowercase hex digits and a
 * NUL into out (an id such as a token's jti); VEX_EIO on failure. */
int vex_secret_random_hex(char *out, size_t nbytes);

/* vex_secret_digest stores SHA-256(s[0..len)) in out; VEX_EIO on failure.
 * SHA-256 without salt or stretching is enough for generated secrets, whose
 * 256 random bits make a dictionary useless; passwords use password.h. */
int vex_secret_digest(const char *s, size_t len, uint8_t out[VEX_SECRET_DIGEST_LEN]);

/* vex_secret_equal compares two digests in constant time: 1 when equal. */
int vex_secret_equal(const uint8_t a[VEX_SECRET_DIGEST_LEN],
                     const uint8_t b[VEX_SECRET_DIGEST_LEN]);

/* vex_secret_valid tells whether s can be a key a person supplies (--key):
 * 1..256 printable ASCII characters without spaces, so that it survives
 * headers, query strings and shell quoting. */
int vex_secret_valid(const char *s);

#endif
