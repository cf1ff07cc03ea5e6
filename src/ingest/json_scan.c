/* json_scan.c - strict JSON scanning primitives for the event decoder.
 *
 * Strictness follows jansson 2.14 with flags 0, rule for rule, because the
 * collector must accept and reject exactly the bodies it accepted when it
 * decoded with jansson (tests/unit/ingest/test_event_diff.c checks this
 * against jansson itself). One deliberate difference: jansson 2.14 lets a
 * single NUL byte through right after a number or a literal ("[1\0]" loads
 * as [1], a quirk of its lexer's unget); RFC 8259 allows no NUL byte at all,
 * so it is refused here. Speed comes from reading strings 16 bytes at a
 * time where SSE2 exists, from parsing integers and short reals without
 * strtod, and from never allocating. */
#include "ingest/json_scan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define MAX_SAFE_MANTISSA 9007199254740992ULL /* 2^53: every integer up to it is a double */

int vex_json_scan_fail(struct vex_json_cur *c, const char *at, const char *why)
{
    if (!c->why) {
        c->why = why;
        c->at = at;
    }
    return VEX_EINVAL;
}

static inline int is_digit(unsigned char b)
{
    return b >= '0' && b <= '9';
}

static int hex_value(unsigned char b)
{
    if (b >= '0' && b <= '9')
        return b - '0';
    if (b >= 'a' && b <= 'f')
        return b - 'a' + 10;
    if (b >= 'A' && b <= 'F')
        return b - 'A' + 10;
    return -1;
}

/* Four hex digits at p (bounds checked by the caller), or -1. */
static long hex4(const unsigned char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Length of the well-formed UTF-8 sequence at p (lead byte >= 0x80), or 0.
 * The ranges of the second byte exclude overlongs (E0, F0), UTF-16 surrogates
 * (ED) and code points above U+10FFFF (F4), as RFC 3629 and jansson do. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char b = p[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (b >= 0xC2 && b <= 0xDF)
        n = 2;
    else if (b >= 0xE0 && b <= 0xEF) {
        n = 3;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        n = 4;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* Validates the escape whose backslash is at p; returns its length or 0. */
static size_t escape_len(const unsigned char *p, const unsigned char *end, const char **why)
{
    if (end - p < 2) {
        *why = "unterminated string";
        return 0;
    }
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return 2;
    case 'u':
        break;
    default:
        *why = "invalid escape in a string";
        return 0;
    }
    long cp = end - p >= 6 ? hex4(p + 2) : -1;
    if (cp < 0) {
        *why = "invalid \\u escape in a string";
        return 0;
    }
    if (cp == 0) {
        *why = "\\u0000 is not allowed in a string";
        return 0;
    }
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
        *why = "unpaired UTF-16 surrogate escape in a string";
        return 0;
    }
    if (cp < 0xD800 || cp > 0xDBFF)
        return 6;
    /* A high surrogate must be followed at once by the escape of a low one. */
    long lo = (end - p >= 12 && p[6] == '\\' && p[7] == 'u') ? hex4(p + 8) : -1;
    if (lo < 0xDC00 || lo > 0xDFFF) {
        *why = "unpaired UTF-16 surrogate escape in a string";
        return 0;
    }
    return 12;
}

int vex_json_scan_string_rest(struct vex_json_cur *c, const char *start_, const char *p_,
                              struct vex_json_str *out)
{
    const unsigned char *p = (const unsigned char *)p_;
    const unsigned char *end = (const unsigned char *)c->end;
    const unsigned char *start = (const unsigned char *)start_;
    const char *why = NULL;
    int escaped = 0;
    for (;;) {
#if defined(__SSE2__)
        /* Sixteen bytes at a time: stop at a quote, a backslash, or a byte that
         * is < 0x20 or >= 0x80 (both are < 0x20 as signed bytes). */
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
        const __m128i space = _mm_set1_epi8(0x20);
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            __m128i m =
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                             _mm_cmplt_epi8(v, space));
            unsigned mask = (unsigned)_mm_movemask_epi8(m);
            if (mask) {
                p += __builtin_ctz(mask);
                goto special;
            }
            p += 16;
        }
#endif
        while (p < end && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x80)
            p++;
        if (p == end)
            return vex_json_scan_fail(c, (const char *)start - 1, "unterminated string");
#if defined(__SSE2__)
    special:
#endif
        if (*p == '"')
            break;
        if (*p == '\\') {
            size_t n = escape_len(p, end, &why);
            if (!n)
                return vex_json_scan_fail(c, (const char *)p, why);
            escaped = 1;
            p += n;
        } else if (*p < 0x20) {
            return vex_json_scan_fail(c, (const char *)p,
                                      "control character (below 0x20) in a string");
        } else {
            size_t n = utf8_len(p, end);
            if (!n)
                return vex_json_scan_fail(c, (const char *)p, "invalid UTF-8 in a string");
            p += n;
        }
    }
    out->raw = (const char *)start;
    out->raw_len = (size_t)(p - start);
    out->escaped = escaped;
    c->p = (const char *)p + 1;
    return 0;
}

static size_t utf8_put(unsigned long cp, char *dst)
{
    unsigned char *d = (unsigned char *)dst;
    if (cp < 0x80) {
        d[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (unsigned char)(0xC0 | (cp >> 6));
        d[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (unsigned char)(0xE0 | (cp >> 12));
        d[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (unsigned char)(0xF0 | (cp >> 18));
    d[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t vex_json_scan_unescape(const char *raw, size_t n, char *dst)
{
    const unsigned char *p = (const unsigned char *)raw, *end = p + n;
    size_t o = 0;
    while (p < end) {
        if (*p != '\\') {
            dst[o++] = (char)*p++;
            continue;
        }
        unsigned char e = p[1];
        p += 2;
        switch (e) {
        case 'b':
            dst[o++] = '\b';
            break;
        case 'f':
            dst[o++] = '\f';
            break;
        case 'n':
            dst[o++] = '\n';
            break;
        case 'r':
            dst[o++] = '\r';
            break;
        case 't':
            dst[o++] = '\t';
            break;
        case 'u': {
            /* Validated already: a high surrogate has its low one next. */
            unsigned long cp = (unsigned long)hex4(p);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned long lo = (unsigned long)hex4(p + 2);
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            o += utf8_put(cp, dst + o);
            break;
        }
        default: /* '"', '\\', '/' stand for themselves */
            dst[o++] = (char)e;
            break;
        }
    }
    return o;
}

/* Powers of ten that a double holds exactly. */
static const double pow10_exact[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* strtod of the number text [s, e), which the grammar has checked already.
 * strtod needs a NUL-terminated copy: the body is not terminated and strtod
 * would read on past the number's end. */
static int slow_real(struct vex_json_cur *c, const char *s, const char *e, double *out)
{
    char small[128];
    size_t n = (size_t)(e - s);
    char *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf)
        return VEX_ENOMEM;
    memcpy(buf, s, n);
    buf[n] = '\0';
    double v = strtod(buf, NULL);
    if (buf != small)
        free(buf);
    if (isinf(v))
        return vex_json_scan_fail(c, s, "real number overflow");
    *out = v;
    return 0;
}

int vex_json_scan_number_rest(struct vex_json_cur *c, struct vex_json_num *out)
{
    const unsigned char *start = (const unsigned char *)c->p;
    const unsigned char *p = start, *end = (const unsigned char *)c->end;
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p == end || !is_digit(*p))
        return vex_json_scan_fail(c, (const char *)start, "invalid number");
    const unsigned char *int_start = p;
    if (*p == '0')
        p++; /* a leading zero stands alone: "01" ends the number after "0" */
    else
        while (p < end && is_digit(*p))
            p++;
    const unsigned char *int_end = p, *frac_start = NULL, *frac_end = NULL;
    int has_exp = 0;
    long exp = 0;
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p))
            return vex_json_scan_fail(c, (const char *)start, "invalid number: no digit after '.'");
        frac_start = p;
        while (p < end && is_digit(*p))
            p++;
        frac_end = p;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        int exp_neg = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            exp_neg = *p++ == '-';
        if (p == end || !is_digit(*p))
            return vex_json_scan_fail(c, (const char *)start, "invalid number: bad exponent");
        while (p < end && is_digit(*p)) {
            if (exp < 100000) /* beyond that only strtod decides */
                exp = exp * 10 + (*p - '0');
            p++;
        }
        exp = exp_neg ? -exp : exp;
        has_exp = 1;
    }
    c->p = (const char *)p;

    if (!frac_start && !has_exp) {
        /* An integer; jansson refuses one that strtoll cannot hold. */
        size_t nd = (size_t)(int_end - int_start);
        uint64_t v = 0;
        if (nd <= 19)
            for (const unsigned char *q = int_start; q < int_end; q++)
                v = v * 10 + (uint64_t)(*q - '0');
        if (nd > 19 || v > (uint64_t)INT64_MAX + (uint64_t)neg)
            return vex_json_scan_fail(c, (const char *)start,
                                      neg ? "too big negative integer" : "too big integer");
        out->is_int = 1;
        if (neg)
            out->i = v > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)v;
        else
            out->i = (int64_t)v;
        out->d = (double)out->i;
        return 0;
    }

    /* A real. When the significant digits make an integer that a double holds
     * exactly and the power of ten is exact too, one multiplication or
     * division rounds correctly (the classic fast path); otherwise strtod. */
    out->is_int = 0;
    out->i = 0;
    uint64_t m = 0;
    int sig = 0;
    long e10 = exp;
    for (const unsigned char *q = int_start; q < int_end && sig <= 19; q++) {
        if (m || *q != '0') {
            m = m * 10 + (uint64_t)(*q - '0');
            sig++;
        }
    }
    if (frac_start) {
        for (const unsigned char *q = frac_start; q < frac_end && sig <= 19; q++) {
            if (m || *q != '0') {
                m = m * 10 + (uint64_t)(*q - '0');
                sig++;
            }
        }
        e10 -= (long)(frac_end - frac_start);
    }
    if (sig == 0) {
        out->d = neg ? -0.0 : 0.0;
        return 0;
    }
    if (sig <= 19 && m <= MAX_SAFE_MANTISSA && e10 >= -22 && e10 <= 22) {
        double v = (double)m;
        v = e10 < 0 ? v / pow10_exact[-e10] : v * pow10_exact[e10];
        out->d = neg ? -v : v;
        return 0;
    }
    return slow_real(c, (const char *)start, (const char *)p, &out->d);
}

int vex_json_scan_literal(struct vex_json_cur *c, const char *word, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return vex_json_scan_fail(c, c->p, "invalid token");
    c->p += n;
    return 0;
}

/* Skipping is iterative: unknown fields may nest 2048 deep, and server
 * threads should not need 2048 stack frames for it. One bit per open
 * container says whether it is an object. */
int vex_json_scan_value(struct vex_json_cur *c, int depth)
{
    unsigned char is_obj[VEX_JSON_MAX_DEPTH / 8 + 1];
    const int base = depth;
    int d = depth; /* depth of the value about to be read */
    int rc;
    struct vex_json_str s;
    struct vex_json_num num;

value:
    if (d > VEX_JSON_MAX_DEPTH)
        return vex_json_scan_fail(c, c->p, "maximum nesting depth (2048) reached");
    if (c->p == c->end)
        return vex_json_scan_fail(c, c->p, "unexpected end of input");
    switch (*c->p) {
    case '{':
    case '[': {
        int obj = *c->p == '{';
        c->p++;
        vex_json_scan_ws(c);
        if (c->p < c->end && *c->p == (obj ? '}' : ']')) {
            c->p++;
            goto after;
        }
        int k = d - base;
        if (obj)
            is_obj[k / 8] |= (unsigned char)(1u << (k % 8));
        else
            is_obj[k / 8] &= (unsigned char)~(1u << (k % 8));
        d++;
        if (obj)
            goto key;
        goto value;
    }
    case '"':
        if ((rc = vex_json_scan_string(c, &s)))
            return rc;
        goto after;
    case 't':
        rc = vex_json_scan_literal(c, "true", 4);
        break;
    case 'f':
        rc = vex_json_scan_literal(c, "false", 5);
        break;
    case 'n':
        rc = vex_json_scan_literal(c, "null", 4);
        break;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        rc = vex_json_scan_number(c, &num);
        break;
    default:
        return vex_json_scan_fail(c, c->p, "invalid token");
    }
    if (rc)
        return rc;

after:
    if (d == base)
        return 0;
    vex_json_scan_ws(c);
    if (c->p == c->end)
        return vex_json_scan_fail(c, c->p, "unexpected end of input");
    {
        int k = d - 1 - base;
        int obj = (is_obj[k / 8] >> (k % 8)) & 1;
        if (*c->p == ',') {
            c->p++;
            vex_json_scan_ws(c);
            if (obj)
                goto key;
            goto value;
        }
        if (*c->p != (obj ? '}' : ']'))
            return vex_json_scan_fail(c, c->p, obj ? "',' or '}' expected" : "',' or ']' expected");
        c->p++;
        d--;
        goto after;
    }

key:
    if (c->p == c->end || *c->p != '"')
        return vex_json_scan_fail(c, c->p, "string expected as an object key");
    if ((rc = vex_json_scan_string(c, &s)))
        return rc;
    vex_json_scan_ws(c);
    if (c->p == c->end || *c->p != ':')
        return vex_json_scan_fail(c, c->p, "':' expected");
    c->p++;
    vex_json_scan_ws(c);
    goto value;
}
