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

/* vex_json_scan_string reads the string whose opening quote is at c->p and
 * leaves c->p after its closing quote. *out points into the text. */
int vex_json_scan_string(struct vex_json_cur *c, struct vex_json_str *out);

/* vex_json_scan_unescape decodes the raw bytes of a string that
 * vex_json_scan_string() accepted into dst (at least n bytes: decoding never
 * grows a string) and returns the decoded length. */
size_t vex_json_scan_unescape(const char *raw, size_t n, char *dst);

/* vex_json_scan_number reads the number at c->p. Reals are correctly rounded
 * (strtod semantics); an integer outside int64 and a real that overflows are
 * errors, as in jansson. */
int vex_json_scan_number(struct vex_json_cur *c, struct vex_json_num *out);

/* vex_json_scan_literal reads the word[0..n) (true, false or null) at c->p. */
int vex_json_scan_literal(struct vex_json_cur *c, const char *word, size_t n);

/* vex_json_scan_value validates and skips one value of any kind at c->p (no
 * leading whitespace), which sits at nesting depth `depth` (top level 1). */
int vex_json_scan_value(struct vex_json_cur *c, int depth);

#endif
