/* envelope.c - groups into rows, rows into the SPEC 4.5 answer.
 *
 * A group is a row when a session belongs to it (or when there are no group
 * keys: the single row always exists). Rows are sorted by `orderby` (numbers
 * numerically, strings bytewise; DESC by default) with ties broken by the
 * group keys ascending, paged by offset/limit, and written with jansson:
 * counts and the integer keys of SPEC 4.2 as JSON integers, every other
 * number as a real printed with 17 significant digits so it reads back to
 * the same double. Row keys come in the order: group keys, requested names,
 * companions, totalpages. */
#include "query/query_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/err.h"

enum { CV_INT, CV_REAL, CV_STR };

struct cval {
    int type;
    int64_t i;
    double d;
    const char *s;
};

struct row {
    uint32_t g;
    struct cval ov; /* the orderby value */
};

/* window_ms is the concurviewavg divisor of group g: the period, or the
 * bucket's part of it [max(S, b), min(E, b + size)). */
static double window_ms(const struct vex_agg *a, uint32_t g)
{
    const struct vex_query *q = a->q;
    if (a->ts_key < 0)
        return (double)(q->end_s - q->start_s) * 1000.0;
    int64_t b = (int64_t)a->keyvals[(size_t)g * a->nkeys + a->ts_key];
    int64_t lo = b > q->start_s ? b : q->start_s;
    int64_t hi = b + q->bucket_s < q->end_s ? b + q->bucket_s : q->end_s;
    return (double)(hi - lo) * 1000.0;
}

static void key_value(const struct vex_agg *a, uint32_t g, int k, struct cval *v)
{
    uint64_t x = a->keyvals[(size_t)g * a->nkeys + k];
    if (a->q->keys[k].kind == VEX_QKEY_TIMESTAMP) {
        v->type = CV_INT;
        v->i = (int64_t)x;
    } else {
        v->type = CV_STR;
        v->s = vex_strpool_get(a->strs, (uint32_t)x);
    }
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void col_value(const struct vex_agg *a, uint32_t g, const struct vex_qcol *c,
                      struct cval *v)
{
    if (c->kind == VEX_QCOL_METRIC) {
        int p = vex_metric_pct(c->id);
        double d = p >= 0 ? (a->pct[p] ? a->pct[p][g] : 0.0)
                          : vex_metric_value(c->id, &a->accs[g], window_ms(a, g));
        if (vex_metric_is_count(c->id)) {
            v->type = CV_INT;
            v->i = (int64_t)d;
        } else {
            v->type = CV_REAL;
            v->d = isfinite(d) ? d : 0.0;
        }
        return;
    }
    static const struct vex_sinfo none;
    const struct vex_sinfo *si = a->sinfo ? &a->sinfo[g] : &none;
    switch (c->id) {
    case VEX_QF_IPADDRESS:
        v->type = CV_STR;
        v->s = vex_strpool_get(a->strs, si->ip);
        break;
    case VEX_QF_TIMESTAMP:
        v->type = CV_INT;
        v->i = floor_div(si->attempt_ts, 1000);
        break;
    case VEX_QF_STARTTIME:
        v->type = CV_INT;
        v->i = si->attempt_ts;
        break;
    case VEX_QF_ENDTIME:
        v->type = CV_INT;
        v->i = si->last_ts;
        break;
    case VEX_QF_WATCHTIME:
        v->type = CV_REAL;
        v->d = (double)si->play_ms / 1000.0;
        break;
    case VEX_QF_ASSETNAME:
        v->type = CV_STR;
        v->s = vex_strpool_get(a->strs, si->title);
        break;
    default: /* VEX_QF_STATUS */
        v->type = CV_STR;
        v->s = si->closed ? "ENDED" : "RUNNING";
        break;
    }
}

static void column_value(const struct vex_agg *a, uint32_t g, int col, struct cval *v)
{
    if (col < a->nkeys)
        key_value(a, g, col, v);
    else
        col_value(a, g, &a->q->cols[col - a->nkeys], v);
}

static int cmp_cval(const struct cval *x, const struct cval *y)
{
    if (x->type == CV_STR || y->type == CV_STR) {
        /* A column holds one type; strcmp compares bytes as unsigned. */
        int c = strcmp(x->type == CV_STR ? x->s : "", y->type == CV_STR ? y->s : "");
        return (c > 0) - (c < 0);
    }
    if (x->type == CV_INT && y->type == CV_INT)
        return (x->i > y->i) - (x->i < y->i);
    double a = x->type == CV_INT ? (double)x->i : x->d;
    double b = y->type == CV_INT ? (double)y->i : y->d;
    return (a > b) - (a < b);
}

static int cmp_rows(const void *px, const void *py, void *ctx)
{
    const struct vex_agg *a = ctx;
    const struct row *x = px, *y = py;
    if (a->q->order_col >= 0) {
        int c = cmp_cval(&x->ov, &y->ov);
        if (c)
            return a->q->order_desc ? -c : c;
    }
    for (int k = 0; k < a->nkeys; k++) {
        struct cval kx, ky;
        key_value(a, x->g, k, &kx);
        key_value(a, y->g, k, &ky);
        int c = cmp_cval(&kx, &ky);
        if (c)
            return c;
    }
    return (x->g > y->g) - (x->g < y->g);
}

/* The answer is written by hand rather than through jansson, so that every
 * real is printed in its shortest form that reads back to the same double
 * (0.65, not 0.65000000000000002), and integral reals keep a fraction
 * (30.0): SPEC 4.2 makes the JSON type part of the answer. */
struct out {
    char *p;
    size_t n, cap;
    int oom;
};

static void out_put(struct out *o, const char *s, size_t len)
{
    if (o->oom)
        return;
    if (o->n + len + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->n + len + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->oom = 1;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->n, s, len);
    o->n += len;
    o->p[o->n] = '\0';
}

static void out_str(struct out *o, const char *s)
{
    out_put(o, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        out_put(o, run, (size_t)(s - run));
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else
            snprintf(esc, sizeof esc, "\\u%04x", c);
        out_put(o, esc, strlen(esc));
        run = s + 1;
    }
    out_put(o, run, (size_t)(s - run));
    out_put(o, "\"", 1);
}

static void out_int(struct out *o, int64_t v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", (long long)v);
    out_put(o, b, (size_t)n);
}

/* out_real prints the shortest %g form (15 to 17 significant digits) that
 * reads back to v exactly. Ratios with a zero denominator are 0, so v is
 * always finite; a non-finite value would not be JSON and prints as 0.0. */
static void out_real(struct out *o, double v)
{
    char b[40];
    int n = 0;
    if (!isfinite(v)) {
        out_put(o, "0.0", 3);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(b, sizeof b, "%.*g", prec, v);
        if (strtod(b, NULL) == v)
            break;
    }
    if (!strpbrk(b, ".eEn"))
        n += snprintf(b + n, sizeof b - (size_t)n, ".0");
    out_put(o, b, (size_t)n);
}

static void out_cval(struct out *o, const struct cval *v)
{
    switch (v->type) {
    case CV_INT:
        out_int(o, v->i);
        break;
    case CV_REAL:
        out_real(o, v->d);
        break;
    default:
        out_str(o, v->s ? v->s : "");
        break;
    }
}

static const char *column_name(const struct vex_agg *a, int col)
{
    if (col >= a->nkeys)
        return a->q->cols[col - a->nkeys].name;
    const struct vex_qkey *k = &a->q->keys[col];
    if (k->kind == VEX_QKEY_TIMESTAMP)
        return "timestamp";
    if (k->kind == VEX_QKEY_SESSIONID)
        return "sessionid";
    return vex_qdim_name(k->dim);
}

int vex_envelope_build(const struct vex_agg *a, char **json_out)
{
    const struct vex_query *q = a->q;
    int rc = VEX_ENOMEM;
    struct row *rows = malloc((a->ngroups ? a->ngroups : 1) * sizeof *rows);
    if (!rows)
        return VEX_ENOMEM;
    size_t n = 0;
    for (uint32_t g = 0; g < a->ngroups; g++) {
        if (a->nkeys > 0 && a->accs[g].attempts == 0)
            continue;
        rows[n].g = g;
        memset(&rows[n].ov, 0, sizeof rows[n].ov);
        if (q->order_col >= 0)
            column_value(a, g, q->order_col, &rows[n].ov);
        n++;
    }
    if (n > 1)
        qsort_r(rows, n, sizeof *rows, cmp_rows, (void *)a);

    /* Usually every row is here; a SQL backend may send only the first
     * offset + limit of them (in this order) and their total. */
    uint64_t total = a->has_rows_total ? a->rows_total : n;
    uint64_t limit = (uint64_t)q->limit;
    uint64_t first = (uint64_t)q->offset < n ? (uint64_t)q->offset : n;
    uint64_t count = n - first < limit ? n - first : limit;
    int64_t pages = (int64_t)((total + limit - 1) / limit);
    if (pages < 1)
        pages = 1;

    struct out o = {0};
    out_put(&o, "{\"totalcount\":", 14);
    out_int(&o, (int64_t)total);
    out_put(&o, ",\"pagecount\":", 13);
    out_int(&o, (int64_t)count);
    out_put(&o, ",\"totalrecords\":", 16);
    out_int(&o, (int64_t)total);
    out_put(&o, ",\"response\":[", 13);
    int ncol = a->nkeys + q->ncols;
    for (uint64_t i = first; i < first + count && !o.oom; i++) {
        out_put(&o, i == first ? "{" : ",{", i == first ? 1 : 2);
        for (int c = 0; c < ncol; c++) {
            struct cval v;
            memset(&v, 0, sizeof v);
            column_value(a, rows[i].g, c, &v);
            if (c)
                out_put(&o, ",", 1);
            out_str(&o, column_name(a, c));
            out_put(&o, ":", 1);
            out_cval(&o, &v);
        }
        out_put(&o, ncol ? ",\"totalpages\":" : "\"totalpages\":", ncol ? 14 : 13);
        out_int(&o, pages);
        out_put(&o, "}", 1);
    }
    out_put(&o, "]}", 2);
    if (o.oom) {
        free(o.p);
        goto done;
    }
    *json_out = o.p;
    rc = 0;
done:
    free(rows);
    return rc;
}
