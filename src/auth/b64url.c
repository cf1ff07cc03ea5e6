/* b64url.c - base64url without padding, strict on decode.
 *
 * Decoding is strict because the bytes of a JWT are signed as text: a decoder
 * that accepted several spellings of one signature or payload would let a
 * token be altered without breaking it, which makes token blacklists and
 * logs unreliable. */
#include "auth/b64url.h"

#include <stdlib.h>

#include "core/err.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t vex_b64url_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t vex_b64url_encode(const uint8_t *src, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)src[i] << 16;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

char *vex_b64url_encode_alloc(const uint8_t *src, size_t n)
{
    char *out = malloc(vex_b64url_len(n) + 1);
    if (out)
        vex_b64url_encode(src, n, out);
    return out;
}

static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int vex_b64url_decode(const char *src, size_t len, uint8_t **out, size_t *out_len)
{
    if (len % 4 == 1)
        return VEX_EINVAL;
    size_t n = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    uint8_t *buf = malloc(n + 1);
    if (!buf)
        return VEX_ENOMEM;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int s = sextet((unsigned char)src[i]);
        if (s < 0)
            goto fail;
        acc = acc << 6 | (uint32_t)s;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* What is left over is padding bits of the last character; an encoder
     * always writes them as zero. */
    if (acc != 0)
        goto fail;
    buf[o] = 0;
    *out = buf;
    *out_len = o;
    return 0;
fail:
    free(buf);
    return VEX_EINVAL;
}
