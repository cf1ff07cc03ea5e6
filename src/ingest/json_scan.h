/* json_scan.h - strict, allocation-free JSON scanning primitives (RFC 8259) for
 * the event decoder.
 *
 * The scanner validates exactly what jansson 2.14 with flags 0 validates, so
 * that the fast decoder accepts and rejects the same bodies: UTF-8 is strict
 * (no overlongs, no UTF-8-encoded surrogates, nothing above U+10FFFF), strings
 * hold no raw control character, escapes are the eight of the RFC plus \uXXXX
 * with surrogates properly paired, \u0000 is refused (jansson refuses NUL
 * without JSON_ALLOW_NUL), numbers follow the RFC grammar, integers must fit in
 * int64, reals must not overflow a double, and values nest at most
 * VEX_JSON_MAX_DEPTH deep. Nothing here allocates, except a real number whose
 * text is too long for a stack buffer (which strtod needs NUL-terminated).
 *
 * A cursor walks [p, end); the text is never read past end and need not be
 * NUL-terminated. Functions return 0 or VEX_EINVAL, leaving a static
 * description of the first error in `why` and its position in `at`. */
#ifndef VEX_INGEST_JSON_SCAN_H
#define VEX_INGEST_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* jansson's JSON_PARSER_MAX_DEPTH: a value at depth 2049 (the top level is
 * depth 1) is an error. */
#define VEX_JSON_MAX_DEPTH 2048

struct vex_json_cur {
    const char *p;   /* next byte to read */
    const char *end; /* one past the last byte of the text */
    const char *why; /* static description of the first error, NULL if none */
    const char *at;  /* where that error was found */
};

/* A string as written in the text: the bytes between the quotes. */
struct vex_json_str {
    const char *raw;
    size_t raw_len;
    int escaped; /* raw holds escapes: vex_json_scan_unescape() decodes it */
};

/* A number: an integer (no fraction, no exponent) or a real. */
struct vex_json_num {
    int is_int;
    int64_t i;
    double d;
};

/* vex_json_scan_ws skips JSON whitespace (space, tab, CR, LF). */
static inline void vex_json_scan_ws(struct vex_json_cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

/* vex_json_scan_fail records the first error of a scan and returns VEX_EINVAL. */
int vex_json_scan_fail(struct vex_json_cur *c, const char *at, const char *why);

/* The general cases behind the inline fast paths below: the string that
 * starts at `start` (after its quote), read on from p; the number at c->p. */
int vex_json_scan_string_rest(struct vex_json_cur *c, const char *start, const char *p,
                              struct vex_json_str *out);
int vex_json_scan_number_rest(struct vex_json_cur *c, struct vex_json_num *out);

/* vex_json_scan_string reads the string whose opening quote is at c->p and
 * leaves c->p after its closing quote. *out points into the text.
 *
 * Inline, because it runs for every key and most values: the common string
 * (no escape, no control or non-ASCII byte) ends within the first 16-byte
 * blocks, found with SSE2 where the target has it. */
static inline int vex_json_scan_string(struct vex_json_cur *c, struct vex_json_str *out)
{
    const char *start = c->p + 1, *p = start;
#if defined(__SSE2__)
    while (c->end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned q = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
        /* A backslash, or a byte < 0x20 or >= 0x80 (both < 0x20 as signed). */
        unsigned o = (unsigned)_mm_movemask_epi8(_mm_or_si128(
            _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')), _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));
        if (q && !((q - 1) & o)) { /* the quote comes first */
            p += __builtin_ctz(q);
            out->raw = start;
            out->raw_len = (size_t)(p - start);
            out->escaped = 0;
            c->p = p + 1;
            return 0;
        }
        if (o)
            break;
        p += 16;
    }
#endif
    return vex_json_scan_string_rest(c, start, p, out);
}

/* vex_json_scan_unescape decodes the raw bytes of a string that
 * vex_json_scan_string() accepted into dst (at least n bytes: decoding never
 * grows a string) and returns the decoded length. */
size_t vex_json_scan_unescape(const char *raw, size_t n, char *dst);

/* vex_json_scan_number reads the number at c->p. Reals are correctly rounded
 * (strtod semantics); an integer outside int64 and a real that overflows are
 * errors, as in jansson.
 *
 * Inline for the common case, a non-negative integer of at most 18 digits
 * (it cannot overflow); anything else goes to vex_json_scan_number_rest(). */
static inline int vex_json_scan_number(struct vex_json_cur *c, struct vex_json_num *out)
{
    const unsigned char *p = (const unsigned char *)c->p, *end = (const unsigned char *)c->end;
    if (p < end && (unsigned)(*p - '0') <= 9) {
        uint64_t v = (uint64_t)(*p++ - '0');
        if (v) { /* a leading 0 stands alone: "01" ends after the 0 and fails later */
            const unsigned char *lim = end - p > 17 ? p + 17 : end;
            while (p < lim && (unsigned)(*p - '0') <= 9)
                v = v * 10 + (uint64_t)(*p++ - '0');
        }
        if (p == end || ((unsigned)(*p - '0') > 9 && *p != '.' && (*p | 0x20) != 'e')) {
            out->is_int = 1;
            out->i = (int64_t)v;
            out->d = (double)v;
            c->p = (const char *)p;
            return 0;
        }
    }
    return vex_json_scan_number_rest(c, out);
}

/* vex_json_scan_literal reads the word[0..n) (true, false or null) at c->p. */
int vex_json_scan_literal(struct vex_json_cur *c, const char *word, size_t n);

/* vex_json_scan_value validates and skips one value of any kind at c->p (no
 * leading whitespace), which sits at nesting depth `depth` (top level 1). */
int vex_json_scan_value(struct vex_json_cur *c, int depth);

#endif
