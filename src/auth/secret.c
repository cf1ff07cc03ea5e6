/* secret.c - generation, hashing and comparison of random secrets. */
#include "auth/secret.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth/b64url.h"
#include "core/err.h"

int vex_secret_random(void *buf, size_t n)
{
    if (n > (size_t)0x7fffffff || RAND_bytes(buf, (int)n) != 1)
        return VEX_EIO;
    return 0;
}

int vex_secret_random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t raw[64];
    if (nbytes > sizeof raw || vex_secret_random(raw, nbytes) != 0)
        return VEX_EIO;
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * nbytes] = '\0';
    return 0;
}

int vex_secret_generate(const char *prefix, char **out)
{
    uint8_t raw[VEX_SECRET_RANDOM_BYTES];
    int rc = vex_secret_random(raw, sizeof raw);
    if (rc)
        return rc;
    size_t plen = strlen(prefix);
    char *s = malloc(plen + vex_b64url_len(sizeof raw) + 1);
    if (!s) {
        OPENSSL_cleanse(raw, sizeof raw);
        return VEX_ENOMEM;
    }
    memcpy(s, prefix, plen);
    vex_b64url_encode(raw, sizeof raw, s + plen);
    OPENSSL_cleanse(raw, sizeof raw);
    *out = s;
    return 0;
}

int vex_secret_digest(const char *s, size_t len, uint8_t out[VEX_SECRET_DIGEST_LEN])
{
    unsigned int n = 0;
    if (EVP_Digest(s, len, out, &n, EVP_sha256(), NULL) != 1 || n != VEX_SECRET_DIGEST_LEN)
        return VEX_EIO;
    return 0;
}

int vex_secret_equal(const uint8_t a[VEX_SECRET_DIGEST_LEN],
                     const uint8_t b[VEX_SECRET_DIGEST_LEN])
{
    return CRYPTO_memcmp(a, b, VEX_SECRET_DIGEST_LEN) == 0;
}

int vex_secret_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
            return 0;
    return n >= 1 && n <= 256;
}
