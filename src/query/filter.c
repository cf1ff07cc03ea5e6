/* filter.c - the two filter languages of SPEC 4.1 and 4.7.
 *
 * `filter` selects sessions by dimension values. It is split on its
 * separators (`,` `|` `[` `]` `=` `!=`) while still percent-encoded and each
 * piece is decoded afterwards, so an encoded `%2C` is a comma inside a value
 * and an encoded `%3D` is never an operator. Two spellings:
 *
 *     cdn=a|b,country!=us,isp=          comma-separated conditions
 *     [cdn=a|b][country!=us]            bracketed conditions
 *
 * (Inside a bracket, several comma-separated conditions are accepted too, and
 * brackets may be separated by commas; mixing bare and bracketed conditions at
 * the top level is not.)
 *
 * `qoefilter` selects sessions by their own metrics. It arrives decoded:
 *
 *     bufferingratio>2 AND latency<1.45     (AND in any case, spaces around it)
 *     buffcount>=1,errors=0                 (a comma, no spaces)
 *
 * Operators > >= < <= = != with optional spaces around them; numbers are JSON
 * numbers. Nothing else is trimmed (SPEC 4.7). */
#include "query/query_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define FILTER_HELP "write dim=value, dim!=value, dim=v1|v2 (any of), dim!=v1|v2 (none of), " \
                    "comma-separated, or [dim=v1|v2][dim2!=v]"

/* parse_cond parses one raw condition s[0..len) (no brackets, no commas). */
static int parse_cond(struct vex_qmem *m, const char *s, size_t len, struct vex_filter_cond *c,
                      struct vex_query_error *err)
{
    const char *eq = memchr(s, '=', len);
    if (len == 0)
        return vex_query_seterr(err, "bad_filter", "filter has an empty condition; " FILTER_HELP);
    if (!eq)
        return vex_query_seterr(err, "bad_filter",
                                "filter condition '%.*s' has no '=' or '!=' (an encoded %%3D is "
                                "part of a value, not an operator); " FILTER_HELP,
                                (int)(len > 80 ? 80 : len), s);
    size_t nlen = (size_t)(eq - s);
    c->negate = nlen > 0 && s[nlen - 1] == '!';
    if (c->negate)
        nlen--;
    int nomem = 0;
    char *name = vex_params_decode(m, s, nlen, NULL, &nomem);
    if (!name)
        return nomem ? VEX_ENOMEM
                     : vex_query_seterr(err, "bad_filter",
                                        "filter dimension '%.*s' has a malformed %%-escape",
                                        (int)(nlen > 80 ? 80 : nlen), s);
    c->dim = vex_qdim_lookup(name, strlen(name));
    if (c->dim < 0)
        return vex_query_seterr(err, "bad_filter",
                                "filter names '%.64s', which is not a dimension; use one of cdn, "
                                "platform, player, os, browser, device, country, asset, title, "
                                "isp, subscriberid, subscribertag, streamtype",
                                name);
    const char *v = eq + 1;
    const char *end = s + len;
    c->nvals = 1;
    for (const char *p = v; p < end; p++) {
        if (*p == '|')
            c->nvals++;
        else if (*p == '=')
            return vex_query_seterr(err, "bad_filter",
                                    "filter condition '%.*s' has a second '='; encode an '=' "
                                    "inside a value as %%3D",
                                    (int)(len > 80 ? 80 : len), s);
    }
    c->vals = vex_qmem_alloc(m, c->nvals * sizeof *c->vals);
    if (!c->vals)
        return VEX_ENOMEM;
    for (size_t i = 0; i < c->nvals; i++) {
        const char *bar = memchr(v, '|', (size_t)(end - v));
        const char *vend = bar ? bar : end;
        size_t dlen = 0;
        char *val = vex_params_decode(m, v, (size_t)(vend - v), &dlen, &nomem);
        if (!val)
            return nomem ? VEX_ENOMEM
                         : vex_query_seterr(err, "bad_filter",
                                            "filter value '%.*s' has a malformed %%-escape",
                                            (int)(vend - v > 80 ? 80 : vend - v), v);
        /* Session strings are NUL-terminated: a value holding %00 could never
         * be compared exactly, so it is refused rather than truncated. */
        if (strlen(val) != dlen)
            return vex_query_seterr(err, "bad_filter", "filter values cannot contain %%00");
        c->vals[i] = val;
        v = vend + 1;
    }
    return 0;
}

/* parse_list parses comma-separated conditions s[0..len), appending to f. */
static int parse_list(struct vex_qmem *m, const char *s, size_t len, struct vex_filter *f,
                      size_t cap, struct vex_query_error *err)
{
    const char *end = s + len;
    const char *p = s;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *cend = comma ? comma : end;
        if (memchr(p, '[', (size_t)(cend - p)) || memchr(p, ']', (size_t)(cend - p)))
            return vex_query_seterr(err, "bad_filter",
                                    "filter has a misplaced '[' or ']'; " FILTER_HELP);
        if (f->n == cap)
            return vex_query_seterr(err, "bad_filter", "filter has too many conditions");
        int rc = parse_cond(m, p, (size_t)(cend - p), &f->conds[f->n], err);
        if (rc)
            return rc;
        f->n++;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

int vex_filter_parse(struct vex_qmem *m, const char *raw, size_t len, struct vex_filter **out,
                     struct vex_query_error *err)
{
    *out = NULL;
    if (len == 0)
        return 0;
    /* Every condition needs a separator before it except the first, so this
     * bounds their number. */
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += raw[i] == ',' || raw[i] == '[';
    struct vex_filter *f = vex_qmem_alloc(m, sizeof *f);
    if (!f)
        return VEX_ENOMEM;
    f->conds = vex_qmem_alloc(m, cap * sizeof *f->conds);
    if (!f->conds)
        return VEX_ENOMEM;
    int rc;
    if (raw[0] != '[') {
        rc = parse_list(m, raw, len, f, cap, err);
    } else {
        const char *p = raw, *end = raw + len;
        rc = 0;
        while (!rc && p < end) {
            if (*p != '[')
                return vex_query_seterr(err, "bad_filter",
                                        "filter has text outside its brackets; " FILTER_HELP);
            const char *close = memchr(p, ']', (size_t)(end - p));
            if (!close)
                return vex_query_seterr(err, "bad_filter",
                                        "filter has a '[' without its ']'; " FILTER_HELP);
            rc = parse_list(m, p + 1, (size_t)(close - p - 1), f, cap, err);
            p = close + 1;
            /* Brackets may also be separated by commas: [a=1],[b=2]. */
            if (p < end && *p == ',' && p + 1 < end && p[1] == '[')
                p++;
        }
    }
    if (rc)
        return rc;
    *out = f;
    return 0;
}

/* cond_ok: value v satisfies condition c. */
static int cond_ok(const struct vex_filter_cond *c, const char *v)
{
    int any = 0;
    for (size_t j = 0; j < c->nvals && !any; j++)
        any = strcmp(v, c->vals[j]) == 0;
    return any != c->negate;
}

int vex_filter_match(const struct vex_filter *f, const struct vex_record *r)
{
    for (size_t i = 0; i < f->n; i++) {
        if (!cond_ok(&f->conds[i], vex_qdim_value(r, f->conds[i].dim)))
            return 0;
    }
    return 1;
}

int vex_filter_match_dim(const struct vex_filter *f, int dim, const char *v)
{
    for (size_t i = 0; i < f->n; i++) {
        if (f->conds[i].dim == dim && !cond_ok(&f->conds[i], v))
            return 0;
    }
    return 1;
}

/* ---- qoefilter ---- */

#define QOE_HELP "write metric>number joined by ' AND ' or ',', e.g. " \
                 "bufferingratio>2 AND latency<=1.5 (operators > >= < <= = !=)"

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* json_number returns the length of the JSON number at s, 0 if none. */
static size_t json_number(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (is_digit(*p))
            p++;
    } else {
        return 0;
    }
    if (*p == '.') {
        if (!is_digit(p[1]))
            return 0;
        p++;
        while (is_digit(*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        const char *e = p + 1;
        if (*e == '+' || *e == '-')
            e++;
        if (!is_digit(*e))
            return 0;
        while (is_digit(*e))
            e++;
        p = e;
    }
    return (size_t)(p - s);
}

static size_t skip_spaces(const char *s)
{
    size_t n = 0;
    while (s[n] == ' ')
        n++;
    return n;
}

int vex_filter_qoe_parse(struct vex_qmem *m, const char *s, struct vex_qoefilter **out,
                         struct vex_query_error *err)
{
    *out = NULL;
    if (*s == '\0')
        return 0;
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',' || *p == ' ';
    struct vex_qoefilter *f = vex_qmem_alloc(m, sizeof *f);
    if (!f)
        return VEX_ENOMEM;
    f->conds = vex_qmem_alloc(m, cap * sizeof *f->conds);
    if (!f->conds)
        return VEX_ENOMEM;
    const char *p = s;
    for (;;) {
        struct vex_qoe_cond *c = &f->conds[f->n];
        size_t nlen = 0;
        while (is_name_char(p[nlen]))
            nlen++;
        if (nlen == 0)
            return vex_query_seterr(err, "bad_qoefilter",
                                    "qoefilter expects a metric name at '%.40s'; " QOE_HELP, p);
        c->metric = vex_metric_lookup(p, nlen);
        if (c->metric < 0)
            return vex_query_seterr(err, "bad_qoefilter",
                                    "qoefilter names '%.*s', which is not a metric of the API "
                                    "(see docs/metrics.md)",
                                    (int)(nlen > 64 ? 64 : nlen), p);
        p += nlen;
        p += skip_spaces(p);
        if (p[0] == '>' && p[1] == '=') {
            c->op = VEX_QOE_GE;
            p += 2;
        } else if (p[0] == '<' && p[1] == '=') {
            c->op = VEX_QOE_LE;
            p += 2;
        } else if (p[0] == '!' && p[1] == '=') {
            c->op = VEX_QOE_NE;
            p += 2;
        } else if (p[0] == '>') {
            c->op = VEX_QOE_GT;
            p++;
        } else if (p[0] == '<') {
            c->op = VEX_QOE_LT;
            p++;
        } else if (p[0] == '=') {
            c->op = VEX_QOE_EQ;
            p++;
        } else {
            return vex_query_seterr(err, "bad_qoefilter",
                                    "qoefilter expects an operator after '%.*s'; " QOE_HELP,
                                    (int)(nlen > 64 ? 64 : nlen), p - nlen);
        }
        p += skip_spaces(p);
        size_t numlen = json_number(p);
        if (numlen == 0 || numlen > 64)
            return vex_query_seterr(err, "bad_qoefilter",
                                    "qoefilter expects a number (as written in JSON) at '%.40s'; "
                                    QOE_HELP,
                                    p);
        char num[65];
        memcpy(num, p, numlen);
        num[numlen] = '\0';
        c->value = strtod(num, NULL);
        if (!isfinite(c->value))
            return vex_query_seterr(err, "bad_qoefilter", "qoefilter number '%s' is out of range",
                                    num);
        p += numlen;
        f->n++;
        if (*p == '\0')
            break;
        if (*p == ',') {
            p++;
            continue;
        }
        size_t sp = skip_spaces(p);
        if (sp > 0 && (p[sp] == 'A' || p[sp] == 'a') && (p[sp + 1] == 'N' || p[sp + 1] == 'n') &&
            (p[sp + 2] == 'D' || p[sp + 2] == 'd') && p[sp + 3] == ' ') {
            p += sp + 3;
            p += skip_spaces(p);
            continue;
        }
        return vex_query_seterr(err, "bad_qoefilter",
                                "qoefilter has unexpected text at '%.40s'; " QOE_HELP, p);
    }
    *out = f;
    return 0;
}

int vex_filter_qoe_match(const struct vex_qoefilter *f, const struct vex_record *r, int64_t s_ms,
                         int64_t e_ms)
{
    for (size_t i = 0; i < f->n; i++) {
        const struct vex_qoe_cond *c = &f->conds[i];
        double v = vex_metric_session_value(c->metric, r, s_ms, e_ms);
        int ok;
        switch (c->op) {
        case VEX_QOE_GT:
            ok = v > c->value;
            break;
        case VEX_QOE_GE:
            ok = v >= c->value;
            break;
        case VEX_QOE_LT:
            ok = v < c->value;
            break;
        case VEX_QOE_LE:
            ok = v <= c->value;
            break;
        case VEX_QOE_EQ:
            ok = v == c->value;
            break;
        default:
            ok = v != c->value;
            break;
        }
        if (!ok)
            return 0;
    }
    return 1;
}
