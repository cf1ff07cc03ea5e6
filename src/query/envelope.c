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

/* json_str makes a JSON string; bytes that are not UTF-8 (which jansson
 * refuses) become '?', so a bad dimension value cannot fail the answer. */
static json_t *json_str(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++) {
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    }
    j = json_string(copy);
    free(copy);
    return j;
}

static json_t *cval_json(const struct cval *v)
{
    switch (v->type) {
    case CV_INT:
        return json_integer(v->i);
    case CV_REAL:
        return json_real(v->d);
    default:
        return json_str(v->s);
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
    json_t *root = NULL;
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

    uint64_t total = n;
    uint64_t limit = (uint64_t)q->limit;
    uint64_t first = (uint64_t)q->offset < total ? (uint64_t)q->offset : total;
    uint64_t count = total - first < limit ? total - first : limit;
    int64_t pages = (int64_t)((total + limit - 1) / limit);
    if (pages < 1)
        pages = 1;

    root = json_object();
    json_t *resp = json_array();
    if (!root || !resp) {
        json_decref(resp);
        goto done;
    }
    if (json_object_set_new(root, "totalcount", json_integer((json_int_t)total)) ||
        json_object_set_new(root, "pagecount", json_integer((json_int_t)count)) ||
        json_object_set_new(root, "totalrecords", json_integer((json_int_t)total))) {
        json_decref(resp);
        goto done;
    }
    if (json_object_set_new(root, "response", resp)) /* steals resp, also on failure */
        goto done;
    int ncol = a->nkeys + q->ncols;
    for (uint64_t i = first; i < first + count; i++) {
        json_t *obj = json_object();
        if (!obj || json_array_append_new(resp, obj))
            goto done;
        for (int c = 0; c < ncol; c++) {
            struct cval v;
            memset(&v, 0, sizeof v);
            column_value(a, rows[i].g, c, &v);
            if (json_object_set_new(obj, column_name(a, c), cval_json(&v)))
                goto done;
        }
        if (json_object_set_new(obj, "totalpages", json_integer(pages)))
            goto done;
    }
    *json_out = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (*json_out)
        rc = 0;
done:
    json_decref(root);
    free(rows);
    return rc;
}
