/* qcols.h - test helpers for the columnar path of the query engine: column
 * runs (struct vex_columns) built from records, a vex_source that hands them
 * out, and a comparison of two JSON answers that lets double sums differ in
 * their last bits (added in another order by two threads).
 *
 * Every run gets dictionaries of its own, filled in an order unlike the rows'
 * and holding strings no row uses, so that a code means another string in
 * each run, as it may from a real backend. `closed` and `ebvs` are not
 * columns: each run gets a server clock and timeout that derive the record's
 * values, and a run is cut where no single clock can; a record whose values
 * no clock derives (an ENDED session that is not closed, an ebvs that
 * disagrees with closed, played and vsf) fails the test, since no backend
 * could hand it out. Include after <cmocka.h>. */
#ifndef VEX_TESTS_QUERY_QCOLS_H
#define VEX_TESTS_QUERY_QCOLS_H

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strpool.h"
#include "query/query.h"
#include "query/query_int.h"

#define QC_TIMEOUT_MS 120000

struct qc_run {
    struct vex_columns c;
    struct vex_strpool *dict, *sids;
    int64_t *i64;
    uint32_t *ldt; /* last_ts - attempt_ts */
    double *kbps;
    uint32_t *u32;
    uint16_t *u16;
    uint16_t *flags;
    uint16_t *d16;  /* 16-bit dimension columns (runs with an odd salt) */
    uint8_t *d8;    /* 8-bit ones (odd salt, dimensions with <= 256 values) */
    uint32_t *dmap; /* their local -> dictionary code maps */
    uint8_t *d24;   /* 24-bit dictionary codes (odd salt), 3 bytes a row */
    struct vex_record *wide; /* records too wide for the narrow columns */
};

/* qc_narrow: the record's last_ts (0..2^32 - 1 ms after attempt_ts),
 * durations and counters fit the columns. */
static inline int qc_narrow(const struct vex_record *x)
{
    if (x->last_ts < x->attempt_ts || x->last_ts - x->attempt_ts > (int64_t)UINT32_MAX)
        return 0;
    const int64_t d[5] = {x->startup_ms, x->play_ms, x->cirr_ms, x->vrt_ms, x->kbps_known_ms};
    for (int k = 0; k < 5; k++)
        if (d[k] < 0 || d[k] > (int64_t)UINT32_MAX)
            return 0;
    return x->rebuffers <= UINT16_MAX && x->seeks <= UINT16_MAX && x->warnings <= UINT16_MAX;
}

struct qc_src {
    struct qc_run *runs;
    size_t nruns;
    size_t visits; /* runs handed out so far */
};

static inline uint32_t qc_code(struct vex_strpool *p, const char *s)
{
    uint32_t id;
    if (!s)
        s = "";
    assert_int_equal(vex_strpool_intern(p, s, strlen(s), &id), 0);
    return id;
}

/* qc_fill_run makes run r of recs[0..n) with clock now_ms: the records that
 * fit the narrow columns as rows, the others as the run's records. */
static inline void qc_fill_run(struct qc_run *r, const struct vex_record *all, size_t nall,
                               int64_t now_ms, unsigned salt)
{
    memset(r, 0, sizeof *r);
    size_t mall = nall ? nall : 1;
    struct vex_record *recs = calloc(mall, sizeof *recs);
    r->wide = calloc(mall, sizeof *r->wide);
    assert_true(recs && r->wide);
    size_t n = 0, nw = 0;
    for (size_t j = 0; j < nall; j++) {
        if (qc_narrow(&all[j]))
            recs[n++] = all[j];
        else
            r->wide[nw++] = all[j];
    }
    size_t m = n ? n : 1;
    r->i64 = calloc(m * 2, sizeof *r->i64);
    r->ldt = calloc(m, sizeof *r->ldt);
    r->kbps = calloc(m, sizeof *r->kbps);
    r->u32 = calloc(m * (6 + VEX_DIM_COUNT), sizeof *r->u32);
    r->u16 = calloc(m * 3, sizeof *r->u16);
    r->flags = calloc(m, sizeof *r->flags);
    assert_true(r->i64 && r->ldt && r->kbps && r->u32 && r->u16 && r->flags);
    assert_int_equal(vex_strpool_create(&r->dict), 0);
    assert_int_equal(vex_strpool_create(&r->sids), 0);
    /* Strings no row holds, some before the rows' strings, so that codes
     * shift from run to run. */
    char extra[32];
    for (unsigned k = 0; k < salt % 5; k++) {
        snprintf(extra, sizeof extra, "~unused-%u-%u", salt, k);
        qc_code(r->dict, extra);
        qc_code(r->sids, extra);
    }
    struct vex_columns *c = &r->c;
    uint32_t *dur[5];
    for (int k = 0; k < 5; k++)
        dur[k] = r->u32 + (size_t)k * m;
    uint32_t *sid = r->u32 + 5 * m;
    uint32_t *dims[VEX_DIM_COUNT];
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        dims[d] = r->u32 + (size_t)(6 + d) * m;
    /* Codes are given from the last row to the first, last dimension first. */
    for (size_t j = n; j-- > 0;) {
        const struct vex_record *x = &recs[j];
        for (int d = VEX_DIM_COUNT; d-- > 0;)
            dims[d][j] = qc_code(r->dict, x->dims[d]);
        sid[j] = qc_code(r->sids, x->sid);
    }
    snprintf(extra, sizeof extra, "~tail-%u", salt);
    qc_code(r->dict, extra);
    for (size_t j = 0; j < n; j++) {
        const struct vex_record *x = &recs[j];
        r->i64[j] = x->attempt_ts;
        r->i64[m + j] = x->last_ts;
        r->ldt[j] = (uint32_t)(x->last_ts - x->attempt_ts);
        dur[0][j] = (uint32_t)x->startup_ms;
        dur[1][j] = (uint32_t)x->play_ms;
        dur[2][j] = (uint32_t)x->cirr_ms;
        dur[3][j] = (uint32_t)x->vrt_ms;
        dur[4][j] = (uint32_t)x->kbps_known_ms;
        r->kbps[j] = x->kbps_ms;
        r->u16[j] = (uint16_t)x->rebuffers;
        r->u16[m + j] = (uint16_t)x->seeks;
        r->u16[2 * m + j] = (uint16_t)x->warnings;
        /* Bits above the VEX_COL_* ones are the store's own business (the
         * session table keeps some there): the engine must ignore them. */
        r->flags[j] = (uint16_t)(((j * 0x9e37u + salt * 0x3b00u) & 0xff00u) |
                                 (x->state & VEX_COL_STATE_MASK) |
                                 (x->played ? VEX_COL_PLAYED : 0) | (x->vsf ? VEX_COL_VSF : 0) |
                                 (x->vpf ? VEX_COL_VPF : 0) | (x->errors ? VEX_COL_ERRORS : 0) |
                                 (x->live ? VEX_COL_LIVE : 0));
    }
    c->rows = n;
    c->attempt_ts = r->i64;
    c->last_dt = r->ldt;
    c->startup_ms = dur[0];
    c->play_ms = dur[1];
    c->cirr_ms = dur[2];
    c->vrt_ms = dur[3];
    c->kbps_known_ms = dur[4];
    c->kbps_ms = r->kbps;
    c->rebuffers = r->u16;
    c->seeks = r->u16 + m;
    c->warnings = r->u16 + 2 * m;
    c->flags = r->flags;
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        c->dims[d] = dims[d];
    c->sid = sid;
    c->dict = vex_strpool_strings(r->dict);
    c->dict_size = vex_strpool_count(r->dict);
    c->sid_dict = vex_strpool_strings(r->sids);
    c->sid_dict_size = vex_strpool_count(r->sids);
    if (salt % 2) {
        /* As a store keeps dimensions: per dimension, by turns, 16-bit local
         * codes given in order of first use from the last row and a map to
         * the dictionary's codes, the same in 8 bits when there are at most
         * 256 of them, or the dictionary's codes in 3 bytes. */
        size_t dn = c->dict_size;
        r->d16 = calloc(m * VEX_DIM_COUNT, sizeof *r->d16);
        r->d8 = calloc(m * VEX_DIM_COUNT, sizeof *r->d8);
        r->d24 = calloc(3 * m * VEX_DIM_COUNT, sizeof *r->d24);
        r->dmap = calloc(dn * VEX_DIM_COUNT, sizeof *r->dmap);
        uint32_t *loc = calloc(dn, sizeof *loc);
        assert_true(r->d16 && r->d8 && r->d24 && r->dmap && loc);
        for (int d = 0; d < VEX_DIM_COUNT; d++) {
            uint32_t *map = r->dmap + (size_t)d * dn;
            uint16_t *col = r->d16 + (size_t)d * m;
            uint8_t *col8 = r->d8 + (size_t)d * m;
            uint8_t *col24 = r->d24 + (size_t)3 * d * m;
            unsigned form = (salt / 2 + (unsigned)d) % 3;
            c->dims[d] = NULL;
            if (form == 2) {
                for (size_t j = 0; j < n; j++) {
                    col24[3 * j] = (uint8_t)dims[d][j];
                    col24[3 * j + 1] = (uint8_t)(dims[d][j] >> 8);
                    col24[3 * j + 2] = (uint8_t)(dims[d][j] >> 16);
                }
                c->dims24[d] = col24;
                continue;
            }
            uint32_t nloc = 0;
            memset(loc, 0, dn * sizeof *loc);
            for (size_t j = n; j-- > 0;) {
                uint32_t code = dims[d][j];
                if (!loc[code]) {
                    map[nloc] = code;
                    loc[code] = ++nloc;
                }
                col[j] = (uint16_t)(loc[code] - 1);
                col8[j] = (uint8_t)(loc[code] - 1);
            }
            if (form == 1 && nloc <= 256)
                c->dims8[d] = col8;
            else
                c->dims16[d] = col;
            c->dmap16[d] = map;
        }
        free(loc);
    }
    c->now_ms = now_ms;
    c->timeout_ms = QC_TIMEOUT_MS;
    c->recs = nw ? r->wide : NULL;
    c->nrecs = nw;
    /* What the engine derives must be what the record says. */
    for (size_t j = 0; j < nall; j++) {
        const struct vex_record *x = &all[j];
        int closed = x->state == VEX_STATE_ENDED || now_ms - x->last_ts > QC_TIMEOUT_MS;
        assert_int_equal(closed, x->closed);
        assert_int_equal(closed && !x->played && !x->vsf, x->ebvs);
    }
    free(recs);
}

/* qc_build makes runs of at most max_run records (0: no limit). */
static inline void qc_build(struct qc_src *s, const struct vex_record *recs, size_t n,
                            size_t max_run)
{
    memset(s, 0, sizeof *s);
    s->runs = calloc(n + 1, sizeof *s->runs);
    assert_non_null(s->runs);
    size_t i = 0;
    do {
        /* A clock fits while every open session's last_ts is after every
         * timed-out one's: now = first open last_ts + timeout. */
        int64_t max_closed = INT64_MIN, min_open = INT64_MAX;
        size_t j = i;
        for (; j < n && (max_run == 0 || j - i < max_run); j++) {
            const struct vex_record *x = &recs[j];
            if (x->state == VEX_STATE_ENDED) {
                if (!x->closed)
                    fail_msg("record %zu is ENDED but not closed: no backend gives that", j);
                continue;
            }
            int64_t mc = max_closed, mo = min_open;
            if (x->closed && x->last_ts > mc)
                mc = x->last_ts;
            if (!x->closed && x->last_ts < mo)
                mo = x->last_ts;
            if (mc >= mo)
                break;
            max_closed = mc;
            min_open = mo;
        }
        if (j == i && j < n)
            fail_msg("record %zu cannot be put in a run", j);
        int64_t now = min_open != INT64_MAX ? min_open + QC_TIMEOUT_MS
                      : max_closed != INT64_MIN ? max_closed + QC_TIMEOUT_MS + 1
                                                : 0;
        qc_fill_run(&s->runs[s->nruns], recs + i, j - i, now, (unsigned)s->nruns + 1);
        s->nruns++;
        i = j;
    } while (i < n);
}

static inline void qc_free(struct qc_src *s)
{
    for (size_t i = 0; i < s->nruns; i++) {
        struct qc_run *r = &s->runs[i];
        vex_strpool_destroy(r->dict);
        vex_strpool_destroy(r->sids);
        free(r->i64);
        free(r->ldt);
        free(r->kbps);
        free(r->u32);
        free(r->u16);
        free(r->d16);
        free(r->d8);
        free(r->d24);
        free(r->dmap);
        free(r->flags);
        free(r->wide);
    }
    free(s->runs);
    memset(s, 0, sizeof *s);
}

static inline int qc_scan_columns(void *self, const char *customer, int64_t from_ms,
                                  int64_t to_ms, vex_columns_visit_fn fn, void *ctx)
{
    struct qc_src *s = self;
    (void)customer;
    assert_true(from_ms < to_ms);
    for (size_t i = 0; i < s->nruns; i++) {
        s->visits++;
        int rc = fn(ctx, &s->runs[i].c);
        if (rc)
            return rc;
    }
    return 0;
}

/* A source with columns must never be scanned for records. */
static inline int qc_scan_records(void *self, const char *customer, int64_t from_ms,
                                  int64_t to_ms, vex_record_visit_fn fn, void *ctx)
{
    (void)self;
    (void)customer;
    (void)from_ms;
    (void)to_ms;
    (void)fn;
    (void)ctx;
    fail_msg("the engine scanned records although the source has columns");
    return VEX_EIO;
}

/* qc_run_columns runs q over s with the two-thread threshold mt_rows and
 * returns the JSON text. */
static inline char *qc_run_columns(const struct vex_query *q, struct qc_src *s, size_t mt_rows)
{
    struct vex_source src = {.self = s, .scan_columns = qc_scan_columns,
                             .scan = qc_scan_records};
    size_t saved = vex_colscan_mt_rows;
    char *out = NULL;
    vex_colscan_mt_rows = mt_rows;
    int rc = vex_query_run(q, &src, "c", &out);
    vex_colscan_mt_rows = saved;
    assert_int_equal(rc, 0);
    assert_non_null(out);
    return out;
}

/* qc_json_diff returns NULL when x and y are the same JSON up to reals
 * within 1e-9 relative (integers and strings exact, same key order), else
 * a static description of the first difference. */
static inline const char *qc_json_diff(json_t *x, json_t *y, const char *where)
{
    static char msg[512];
    if (json_typeof(x) != json_typeof(y)) {
        snprintf(msg, sizeof msg, "%s: JSON types differ", where);
        return msg;
    }
    switch (json_typeof(x)) {
    case JSON_OBJECT: {
        if (json_object_size(x) != json_object_size(y)) {
            snprintf(msg, sizeof msg, "%s: %zu keys vs %zu", where, json_object_size(x),
                     json_object_size(y));
            return msg;
        }
        void *ix = json_object_iter(x), *iy = json_object_iter(y);
        for (; ix && iy; ix = json_object_iter_next(x, ix), iy = json_object_iter_next(y, iy)) {
            const char *kx = json_object_iter_key(ix), *ky = json_object_iter_key(iy);
            if (strcmp(kx, ky) != 0) {
                snprintf(msg, sizeof msg, "%s: key %s vs %s", where, kx, ky);
                return msg;
            }
            char sub[256];
            snprintf(sub, sizeof sub, "%.200s.%s", where, kx);
            const char *d =
                qc_json_diff(json_object_iter_value(ix), json_object_iter_value(iy), sub);
            if (d)
                return d;
        }
        return NULL;
    }
    case JSON_ARRAY:
        if (json_array_size(x) != json_array_size(y)) {
            snprintf(msg, sizeof msg, "%s: %zu items vs %zu", where, json_array_size(x),
                     json_array_size(y));
            return msg;
        }
        for (size_t i = 0; i < json_array_size(x); i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%.200s[%zu]", where, i);
            const char *d = qc_json_diff(json_array_get(x, i), json_array_get(y, i), sub);
            if (d)
                return d;
        }
        return NULL;
    case JSON_STRING:
        if (strcmp(json_string_value(x), json_string_value(y)) != 0) {
            snprintf(msg, sizeof msg, "%s: \"%.100s\" vs \"%.100s\"", where,
                     json_string_value(x), json_string_value(y));
            return msg;
        }
        return NULL;
    case JSON_INTEGER:
        if (json_integer_value(x) != json_integer_value(y)) {
            snprintf(msg, sizeof msg, "%s: %lld vs %lld", where,
                     (long long)json_integer_value(x), (long long)json_integer_value(y));
            return msg;
        }
        return NULL;
    case JSON_REAL: {
        double a = json_real_value(x), b = json_real_value(y);
        if (fabs(a - b) > 1e-9 * fmax(fabs(a), fabs(b))) {
            snprintf(msg, sizeof msg, "%s: %.17g vs %.17g", where, a, b);
            return msg;
        }
        return NULL;
    }
    default:
        return NULL;
    }
}

/* qc_assert_same fails when the JSON texts x and y differ beyond what
 * qc_json_diff allows. */
static inline void qc_assert_same(const char *what, const char *x, const char *y)
{
    json_error_t e;
    json_t *jx = json_loads(x, 0, &e), *jy = json_loads(y, 0, &e);
    if (!jx || !jy)
        fail_msg("%s: not JSON: %s / %s", what, x, y);
    const char *d = qc_json_diff(jx, jy, "$");
    if (d)
        fail_msg("%s: %s\n  records: %s\n  columns: %s", what, d, x, y);
    json_decref(jx);
    json_decref(jy);
}

#endif
