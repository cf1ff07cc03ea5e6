/* sqlplan.c - SPEC section 4 as ClickHouse SQL: the aggregation of a query
 * runs where the sessions are (backend.h's sql_sessions / sql_select), and
 * only the per-group sums come back, into the same struct vex_agg that
 * aggregate.c and colscan.c fill, so envelope.c writes the answer exactly as
 * for the embedded store.
 *
 * What makes the answers identical:
 * - The statements compute the plain sums of struct vex_acc (counts and
 *   integer sums exactly; kbps_ms and Q as doubles, which SPEC 4.2 lets be
 *   added in any order); the ratios are then taken here by metric.c, as for
 *   every backend.
 * - Membership, endedplays, concurviewavg, buckets, the streamtype of the
 *   endpoint, `filter` and `qoefilter` are the same integer comparisons as
 *   aggregate.c's visit_one; the per-session metrics of qoefilter and the
 *   score Q repeat metric.c's and record.c's floating-point operations in the
 *   same order (IEEE doubles on both sides give the same bits).
 * - Percentiles are nearest-rank over the sorted values of each group, rank
 *   ceil(p * n / 100) computed in integers as aggregate.c does.
 *
 * No value from the request reaches the SQL as text: strings travel as
 * unhex('...') of their bytes and qoefilter numbers as the hex of their IEEE
 * bits, so quotes, backslashes, NUL or non-UTF-8 bytes cannot change a
 * statement. Numbers the parser produced (period, bucket size) are printed
 * as integers.
 *
 * Statements (FORMAT RowBinary, decoded with bounds checks):
 *   A  the groups of the belonging sessions with every sum; without a
 *      timestamp key it also counts endedplays and the overlap of
 *      concurviewavg in the same pass (conditional aggregates).
 *   B  with a timestamp key: endedplays, grouped by the bucket of last_ts.
 *   C  with a timestamp key: concurviewavg, each session spread over the
 *      buckets it overlaps with arrayJoin.
 * Groups that only B or C feed exist but are not rows (envelope.c). Rows of
 * per-session queries (sessionid as a key) come back unordered and unpaged:
 * order and page are envelope.c's, as for the other paths. */
#include "query/query_int.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define REL_CAP 4096

/* ---- a growable SQL text ---- */

struct sqltext {
    char *p;
    size_t len, cap;
    int oom;
};

static void put(struct sqltext *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct sqltext *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = 1;
            return;
        }
        if (t->p && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap : 1024;
        while (cap - t->len <= (size_t)n)
            cap *= 2;
        char *np = realloc(t->p, cap);
        if (!np) {
            t->oom = 1;
            return;
        }
        t->p = np;
        t->cap = cap;
    }
}

/* put_hex_string writes s as unhex('..'): any bytes, no escaping to get wrong. */
static void put_hex_string(struct sqltext *t, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    put(t, "unhex('");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        put(t, "%c%c", hex[*p >> 4], hex[*p & 15]);
    put(t, "')");
}

/* put_double writes the exact double x: its IEEE bits, little-endian, as
 * ClickHouse's reinterpretAsFloat64 reads them. */
static void put_double(struct sqltext *t, double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    put(t, "reinterpretAsFloat64(unhex('");
    for (int i = 0; i < 8; i++)
        put(t, "%02X", (unsigned)(bits >> (8 * i)) & 0xffu);
    put(t, "'))");
}

/* ---- expressions over the relation of backend.h ---- */

struct plan {
    const struct vex_query *q;
    struct vex_agg *a;
    int64_t s_ms, e_ms, size_ms;
    int paged; /* per-session rows ordered and cut in SQL */
    char rel[REL_CAP];
};

static void put_dim(struct sqltext *t, int qdim)
{
    if (qdim == VEX_QDIM_STREAMTYPE)
        put(t, "if(live != 0, 'live', 'vod')");
    else
        put(t, "`%s`", vex_dim_name((enum vex_dim)qdim));
}

/* The bucket index of the ms time `col`: floor division, as floor_div in
 * aggregate.c (ClickHouse's intDiv truncates toward zero). Not with `%`:
 * ClickHouse 18.16 gets Int64 % a small constant wrong (measured:
 * toInt64(1709367757465) % 60000 = -28071). */
static void put_floor(struct sqltext *t, const char *col, int64_t size_ms)
{
    long long sz = (long long)size_ms;
    put(t, "(intDiv(%s, toInt64(%lld)) - (intDiv(%s, toInt64(%lld)) * %lld > %s))", col, sz, col,
        sz, sz, col);
}

static void put_belongs(struct sqltext *t, const struct plan *p)
{
    const char *mt = p->q->ended ? "last_ts" : "attempt_ts";
    put(t, "(%s >= %lld AND %s < %lld%s)", mt, (long long)p->s_ms, mt, (long long)p->e_ms,
        p->q->allstatus ? "" : " AND closed != 0");
}

static void put_ended(struct sqltext *t, const struct plan *p)
{
    put(t, "(played != 0 AND closed != 0 AND last_ts >= %lld AND last_ts < %lld)",
        (long long)p->s_ms, (long long)p->e_ms);
}

static void put_ovlo(struct sqltext *t, const struct plan *p)
{
    put(t, "greatest(attempt_ts, toInt64(%lld))", (long long)p->s_ms);
}

static void put_ovhi(struct sqltext *t, const struct plan *p)
{
    put(t, "least(last_ts, toInt64(%lld))", (long long)p->e_ms);
}

static void put_concur(struct sqltext *t, const struct plan *p)
{
    put(t, "(");
    put_ovhi(t, p);
    put(t, " > ");
    put_ovlo(t, p);
    put(t, ")");
}

/* The session score Q of record.c, operation by operation. */
static void put_q(struct sqltext *t)
{
    put(t, "if(vsf != 0 OR vpf != 0, 0., 100. * "
           "if(startup_ms / 1000. > 1., greatest(1. - 0.0625 * (startup_ms / 1000. - 1.), 0.5), 1.)"
           " * greatest(1. - 5. * if(toFloat64(play_ms + cirr_ms + vrt_ms) > 0, "
           "toFloat64(cirr_ms + vrt_ms) / toFloat64(play_ms + cirr_ms + vrt_ms), 0.), 0.)"
           " * if(kbps_known_ms > 0, 0.6 + 0.4 * least(kbps_ms / toFloat64(kbps_known_ms) / 6000., "
           "1.), 1.))");
}

/* put_session_metric writes metric m on one session, as
 * vex_metric_session_value computes it (a ratio over one session divides by
 * 1, which changes no double, so it is left out). */
static void put_session_metric(struct sqltext *t, const struct plan *p, int m)
{
    const char *buf = "toFloat64(play_ms + cirr_ms + vrt_ms)";
    switch (m) {
    case VEX_M_ATTEMPTS:
        put(t, "1.");
        return;
    case VEX_M_VIEWERCOUNT:
        put(t, "toFloat64(played != 0)");
        return;
    case VEX_M_ENDEDPLAYS:
        put(t, "toFloat64");
        put_ended(t, p);
        return;
    case VEX_M_ERRORS:
        put(t, "toFloat64(errors != 0)");
        return;
    case VEX_M_TOTALSTARTUPFAILURE:
        put(t, "toFloat64(vsf != 0)");
        return;
    case VEX_M_EBVS:
        put(t, "toFloat64(ebvs != 0)");
        return;
    case VEX_M_BUFFCOUNT:
        put(t, "toFloat64(rebuffers)");
        return;
    case VEX_M_UNIQUEVIEWERCOUNT:
        put(t, "toFloat64(`subscriberid` != '')");
        return;
    case VEX_M_CONCURVIEWAVG:
        put(t, "toFloat64(greatest(");
        put_ovhi(t, p);
        put(t, " - ");
        put_ovlo(t, p);
        put(t, ", toInt64(0))) / %lld.", (long long)(p->e_ms - p->s_ms));
        return;
    case VEX_M_STARTUPABANDONMENTRATE:
        put(t, "100. * (ebvs != 0)");
        return;
    case VEX_M_FAILURERATE:
        put(t, "100. * (vsf != 0)");
        return;
    case VEX_M_PLAYBACKFAILURERATE:
        put(t, "if(played != 0, 100. * (vpf != 0), 0.)");
        return;
    case VEX_M_BUFFERINGRATIO:
        put(t, "if(%s != 0, 100. * toFloat64(cirr_ms + vrt_ms) / %s, 0.)", buf, buf);
        return;
    case VEX_M_SUMBUFFWAITCIRR:
        put(t, "if(%s != 0, 100. * toFloat64(cirr_ms) / %s, 0.)", buf, buf);
        return;
    case VEX_M_VRTBUFFERINGRATIO:
        put(t, "if(%s != 0, 100. * toFloat64(vrt_ms) / %s, 0.)", buf, buf);
        return;
    case VEX_M_REBUFFERFREQUENCY:
        put(t, "if(play_ms != 0, toFloat64(rebuffers) * 3600000. / toFloat64(play_ms), 0.)");
        return;
    case VEX_M_PLAYDUR:
        put(t, "toFloat64(play_ms) / 1000.");
        return;
    case VEX_M_LATENCY:
    case VEX_M_MEDIAN_LATENCY:
    case VEX_M_P95_LATENCY:
    case VEX_M_P99_LATENCY:
        put(t, "if(played != 0, toFloat64(startup_ms) / 1000., 0.)");
        return;
    case VEX_M_AVGBITRATE:
        put(t, "if(kbps_known_ms != 0, kbps_ms / toFloat64(kbps_known_ms), 0.)");
        return;
    case VEX_M_QOE:
    case VEX_M_MEDIAN_QOE:
        put(t, "if(played != 0 OR vsf != 0, ");
        put_q(t);
        put(t, ", 0.)");
        return;
    default:
        put(t, "0.");
        return;
    }
}

/* put_selection writes the conditions every statement shares: the
 * endpoint's streamtype, `filter` and `qoefilter` (as " AND ..." terms). */
static void put_selection(struct sqltext *t, const struct plan *p)
{
    const struct vex_query *q = p->q;
    if (q->ep == VEX_EP_VOD)
        put(t, " AND live = 0");
    else if (q->ep == VEX_EP_LIVE)
        put(t, " AND live != 0");
    for (size_t i = 0; q->filter && i < q->filter->n; i++) {
        const struct vex_filter_cond *c = &q->filter->conds[i];
        put(t, " AND ");
        put_dim(t, c->dim);
        put(t, c->negate ? " NOT IN (" : " IN (");
        for (size_t j = 0; j < c->nvals; j++) {
            put(t, j ? ", " : "");
            put_hex_string(t, c->vals[j]);
        }
        put(t, ")");
    }
    static const char *const ops[] = {">", ">=", "<", "<=", "=", "!="};
    for (size_t i = 0; q->qoe && i < q->qoe->n; i++) {
        const struct vex_qoe_cond *c = &q->qoe->conds[i];
        put(t, " AND (");
        put_session_metric(t, p, c->metric);
        put(t, ") %s ", ops[c->op]);
        put_double(t, c->value);
    }
}

/* ---- the answer: RowBinary with the column types each statement asks for ---- */

enum coltype { T_STR, T_I64, T_U64, T_F64, T_U8 };

/* What a result column feeds. */
enum dest {
    D_KEY,  /* the next group key */
    D_SKIP, /* a placeholder column */
    D_ATTEMPTS,
    D_PLAYED,
    D_ERRORS,
    D_VSF,
    D_VPF,
    D_EBVS,
    D_QN,
    D_REBUFFERS,
    D_PLAY,
    D_CIRR,
    D_VRT,
    D_STARTUP,
    D_KNOWN,
    D_KBPS,
    D_QSUM,
    D_UNIQ,
    D_ENDED,
    D_OVERLAP,
    D_PCT, /* pct index in `arg` */
    D_SI_ATTEMPT,
    D_SI_LAST,
    D_SI_PLAY,
    D_SI_CLOSED,
    D_SI_IP,
    D_SI_TITLE,
    D_TOTAL, /* the number of rows of the whole answer */
};

struct rcol {
    enum coltype type;
    enum dest dest;
    int arg;
};

struct stmt {
    struct sqltext sql;
    struct rcol cols[VEX_Q_MAXKEYS + 40];
    int ncols;
};

static void add_col(struct stmt *s, enum coltype type, enum dest dest, int arg)
{
    s->cols[s->ncols].type = type;
    s->cols[s->ncols].dest = dest;
    s->cols[s->ncols].arg = arg;
    s->ncols++;
}

struct reader {
    const unsigned char *p, *end;
};

static int read_varint(struct reader *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p == r->end)
            return VEX_ECORRUPT;
        unsigned char c = *r->p++;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return VEX_ECORRUPT;
}

static int read_fixed(struct reader *r, int bytes, uint64_t *v)
{
    if (r->end - r->p < bytes)
        return VEX_ECORRUPT;
    uint64_t x = 0;
    for (int i = 0; i < bytes; i++)
        x |= (uint64_t)r->p[i] << (8 * i);
    r->p += bytes;
    *v = x;
    return 0;
}

/* A decoded cell: a string (borrowed from the answer) or a number. */
struct cell {
    const char *s;
    size_t n;
    uint64_t u;
    int64_t i;
    double d;
};

static int read_cell(struct reader *r, enum coltype type, struct cell *c)
{
    uint64_t v;
    int rc;
    switch (type) {
    case T_STR:
        if ((rc = read_varint(r, &v)))
            return rc;
        if (v > (uint64_t)(r->end - r->p))
            return VEX_ECORRUPT;
        c->s = (const char *)r->p;
        c->n = (size_t)v;
        r->p += v;
        return 0;
    case T_U8:
        if ((rc = read_fixed(r, 1, &v)))
            return rc;
        c->u = v;
        return 0;
    case T_F64:
        if ((rc = read_fixed(r, 8, &v)))
            return rc;
        memcpy(&c->d, &v, sizeof c->d);
        return 0;
    default:
        if ((rc = read_fixed(r, 8, &v)))
            return rc;
        c->u = v;
        c->i = (int64_t)v;
        return 0;
    }
}

/* Percentile values arrive per row, before every group is known: they are
 * kept by group and copied into a->pct once the statements are done. */
struct pctbuf {
    double *v[VEX_PCT_COUNT];
    size_t cap;
};

static int pct_set(struct pctbuf *pb, uint32_t g, int which, double x)
{
    if (g >= pb->cap) {
        size_t cap = pb->cap ? pb->cap : 64;
        while (cap <= g)
            cap *= 2;
        for (int i = 0; i < VEX_PCT_COUNT; i++) {
            double *nv = realloc(pb->v[i], cap * sizeof *nv);
            if (!nv)
                return VEX_ENOMEM;
            memset(nv + pb->cap, 0, (cap - pb->cap) * sizeof *nv);
            pb->v[i] = nv;
        }
        pb->cap = cap;
    }
    pb->v[which][g] = x;
    return 0;
}

static int intern_cell(struct vex_agg *a, const struct cell *c, uint32_t *id)
{
    /* Strings are compared as C strings everywhere else: stop at a NUL. */
    size_t n = strnlen(c->s, c->n);
    if (n == 0) {
        *id = 0;
        return 0;
    }
    return vex_strpool_intern(a->strs, c->s, n, id);
}

/* apply_row folds one decoded row into its group. */
static int apply_row(struct vex_agg *a, const struct stmt *s, const struct cell *cells,
                     struct pctbuf *pb)
{
    const struct vex_query *q = a->q;
    uint64_t key[VEX_Q_MAXKEYS];
    int k = 0, rc;
    if (s->ncols == 1 && s->cols[0].dest == D_TOTAL) {
        a->has_rows_total = 1;
        a->rows_total = cells[0].u;
        return 0;
    }
    for (int i = 0; i < s->ncols && s->cols[i].dest == D_KEY; i++, k++) {
        if (q->keys[k].kind == VEX_QKEY_TIMESTAMP) {
            key[k] = (uint64_t)cells[i].i;
        } else {
            uint32_t id;
            if ((rc = intern_cell(a, &cells[i], &id)))
                return rc;
            key[k] = id;
        }
    }
    uint32_t g;
    if ((rc = vex_aggregate_group(a, key, &g)))
        return rc;
    struct vex_acc *acc = &a->accs[g];
    struct vex_sinfo si;
    memset(&si, 0, sizeof si);
    for (int i = k; i < s->ncols; i++) {
        const struct cell *c = &cells[i];
        switch (s->cols[i].dest) {
        case D_KEY:
        case D_SKIP:
            break;
        case D_ATTEMPTS:
            acc->attempts += (uint32_t)c->u;
            break;
        case D_PLAYED:
            acc->played += (uint32_t)c->u;
            break;
        case D_ERRORS:
            acc->errors += (uint32_t)c->u;
            break;
        case D_VSF:
            acc->vsf += (uint32_t)c->u;
            break;
        case D_VPF:
            acc->vpf += (uint32_t)c->u;
            break;
        case D_EBVS:
            acc->ebvs += (uint32_t)c->u;
            break;
        case D_QN:
            acc->q_n += (uint32_t)c->u;
            break;
        case D_REBUFFERS:
            acc->rebuffers += c->i;
            break;
        case D_PLAY:
            acc->play_ms += c->i;
            break;
        case D_CIRR:
            acc->cirr_ms += c->i;
            break;
        case D_VRT:
            acc->vrt_ms += c->i;
            break;
        case D_STARTUP:
            acc->startup_ms += c->i;
            break;
        case D_KNOWN:
            acc->kbps_known_ms += c->i;
            break;
        case D_KBPS:
            acc->kbps_ms += c->d;
            break;
        case D_QSUM:
            acc->q_sum += c->d;
            break;
        case D_UNIQ:
            acc->uniq += (uint32_t)c->u;
            break;
        case D_ENDED:
            acc->endedplays += (uint32_t)c->u;
            break;
        case D_OVERLAP:
            acc->overlap_ms += c->i;
            break;
        case D_PCT:
            /* Latency percentiles are kept in ms and given in s, as
             * aggregate.c divides its values. */
            if ((rc = pct_set(pb, g, s->cols[i].arg,
                              s->cols[i].arg == VEX_PCT_MEDIAN_QOE ? c->d : c->d / 1000.0)))
                return rc;
            break;
        case D_SI_ATTEMPT:
            si.attempt_ts = c->i;
            break;
        case D_SI_LAST:
            si.last_ts = c->i;
            break;
        case D_SI_PLAY:
            si.play_ms = c->i;
            break;
        case D_SI_CLOSED:
            si.closed = c->u != 0;
            break;
        case D_SI_IP:
            if ((rc = intern_cell(a, c, &si.ip)))
                return rc;
            break;
        case D_SI_TITLE:
            if ((rc = intern_cell(a, c, &si.title)))
                return rc;
            break;
        case D_TOTAL:
            break; /* handled above */
        }
    }
    if (a->want_sinfo && acc->attempts > 0 && !a->sinfo[g].set) {
        si.set = 1;
        a->sinfo[g] = si;
    }
    return 0;
}

/* A statement's answer, fetched (possibly on another thread) before it is
 * decoded into the groups (always on the caller's thread, in order). */
struct fetch {
    const struct vex_source *src;
    struct stmt *s;
    unsigned char *body;
    size_t len;
    int rc;
};

static void *fetch_run(void *arg)
{
    struct fetch *f = arg;
    put(&f->s->sql, " FORMAT RowBinary");
    f->rc = f->s->sql.oom ? VEX_ENOMEM
                          : f->src->sql_select(f->src->self, f->s->sql.p, &f->body, &f->len);
    return NULL;
}

static int decode(struct plan *p, const struct stmt *s, const unsigned char *body, size_t len,
                  struct pctbuf *pb)
{
    struct reader r = {body, body + len};
    struct cell cells[VEX_Q_MAXKEYS + 40];
    int rc = 0;
    while (!rc && r.p < r.end) {
        for (int i = 0; i < s->ncols && !rc; i++)
            rc = read_cell(&r, s->cols[i].type, &cells[i]);
        if (!rc)
            rc = apply_row(p->a, s, cells, pb);
    }
    return rc;
}

/* put_keys writes the group-key expressions (and their columns); the
 * timestamp key is the bucket, in epoch seconds, of the ms time `ts_col`. */
static void put_keys(struct stmt *s, const struct plan *p, const char *ts_col)
{
    const struct vex_query *q = p->q;
    for (int i = 0; i < q->nkeys; i++) {
        const struct vex_qkey *k = &q->keys[i];
        put(&s->sql, "%s", i ? ", " : "");
        if (k->kind == VEX_QKEY_DIM) {
            put_dim(&s->sql, k->dim);
            add_col(s, T_STR, D_KEY, 0);
        } else if (k->kind == VEX_QKEY_SESSIONID) {
            put(&s->sql, "sid");
            add_col(s, T_STR, D_KEY, 0);
        } else {
            put(&s->sql, "toInt64(");
            put_floor(&s->sql, ts_col, p->size_ms);
            put(&s->sql, " * %lld)", (long long)q->bucket_s);
            add_col(s, T_I64, D_KEY, 0);
        }
        put(&s->sql, " AS vex_k%d", i);
    }
}

static void put_group_by(struct stmt *s, const struct plan *p)
{
    if (p->q->nkeys == 0)
        return;
    put(&s->sql, " GROUP BY ");
    for (int i = 0; i < p->q->nkeys; i++)
        put(&s->sql, "%svex_k%d", i ? ", " : "", i);
}

/* Conditional aggregate over the belonging sessions: fn(args..., B AND cond). */
static void put_agg(struct stmt *s, const struct plan *p, const char *fn, const char *arg,
                    const char *cond, enum coltype type, enum dest dest, int darg)
{
    put(&s->sql, ", %s(%s%s", fn, arg, arg[0] ? ", " : "");
    put_belongs(&s->sql, p);
    put(&s->sql, "%s%s)", cond[0] ? " AND " : "", cond);
    add_col(s, type, dest, darg);
}

/* put_cast_agg is put_agg with the aggregate's value cast: cast(fn(...)). */
static void put_cast_agg(struct stmt *s, const struct plan *p, const char *cast, const char *fn,
                         const char *arg, const char *cond, enum coltype type, enum dest dest,
                         int darg)
{
    char opened[64];
    snprintf(opened, sizeof opened, "%s(%s", cast, fn);
    put_agg(s, p, opened, arg, cond, type, dest, darg);
    put(&s->sql, ")");
}

/* put_pcts writes the nearest-rank percentiles ps[] of the sorted `vals`
 * (a SQL expression per session) over the belonging sessions with cond. */
static void put_pcts(struct stmt *s, const struct plan *p, const char *alias,
                     void (*vals)(struct sqltext *), const char *cond, const unsigned *ps,
                     const int *which, int n)
{
    for (int i = 0; i < n; i++) {
        put(&s->sql, ", arrayElement(");
        if (i == 0) {
            put(&s->sql, "arraySort(groupArrayIf(");
            vals(&s->sql);
            put(&s->sql, ", ");
            put_belongs(&s->sql, p);
            put(&s->sql, " AND %s)) AS %s", cond, alias);
        } else {
            put(&s->sql, "%s", alias);
        }
        put(&s->sql, ", greatest(toUInt64(1), intDiv(toUInt64(%u) * length(%s) + 99, 100)))", ps[i],
            alias);
        add_col(s, T_F64, D_PCT, which[i]);
    }
}

static void put_startup_value(struct sqltext *t)
{
    put(t, "toFloat64(startup_ms)");
}

/* put_order_value writes the SQL value of output column `col` (after the
 * keys) of a per-session row, as envelope.c's column_value has it: one
 * session per group, so any() is that session's value. */
static void put_order_value(struct sqltext *t, const struct plan *p, const struct vex_qcol *c)
{
    if (c->kind == VEX_QCOL_METRIC) {
        put(t, "any(");
        put_session_metric(t, p, c->id);
        put(t, ")");
        return;
    }
    switch (c->id) {
    case VEX_QF_IPADDRESS:
        put(t, "any(`ip`)");
        return;
    case VEX_QF_TIMESTAMP:
        put(t, "any(");
        put_floor(t, "attempt_ts", 1000);
        put(t, ")");
        return;
    case VEX_QF_STARTTIME:
        put(t, "any(attempt_ts)");
        return;
    case VEX_QF_ENDTIME:
        put(t, "any(last_ts)");
        return;
    case VEX_QF_WATCHTIME:
        put(t, "any(toFloat64(play_ms) / 1000.)");
        return;
    case VEX_QF_ASSETNAME:
        put(t, "any(`title`)");
        return;
    default: /* VEX_QF_STATUS */
        put(t, "any(if(closed != 0, 'ENDED', 'RUNNING'))");
        return;
    }
}

/* Per-session rows without time buckets are ordered and cut in ClickHouse
 * (the rows before the page and the page), so a listing over millions of
 * sessions transfers a page, not the sessions: the same order as
 * envelope.c's cmp_rows (orderby, then every key ascending; keys hold the
 * unique sid, so the order is total) and the count of all rows apart. */
static int pageable(const struct vex_agg *a)
{
    return a->want_sinfo && a->ts_key < 0;
}

static void put_order_limit(struct stmt *s, const struct plan *p)
{
    const struct vex_query *q = p->q;
    put(&s->sql, " ORDER BY ");
    if (q->order_col >= 0) {
        if (q->order_col < q->nkeys)
            put(&s->sql, "vex_k%d", q->order_col);
        else
            put_order_value(&s->sql, p, &q->cols[q->order_col - q->nkeys]);
        put(&s->sql, "%s, ", q->order_desc ? " DESC" : "");
    }
    for (int i = 0; i < q->nkeys; i++)
        put(&s->sql, "%svex_k%d", i ? ", " : "", i);
    put(&s->sql, " LIMIT %llu", (unsigned long long)q->offset + (unsigned long long)q->limit);
}

static void build_belonging(struct plan *p, struct stmt *s)
{
    const struct vex_query *q = p->q;
    struct vex_agg *a = p->a;
    int ts = a->ts_key >= 0;
    put(&s->sql, "SELECT ");
    put_keys(s, p, q->ended ? "last_ts" : "attempt_ts");
    if (q->nkeys == 0) {
        /* Keeps the select list well formed: every aggregate starts ", ". */
        put(&s->sql, "toUInt8(0)");
        add_col(s, T_U8, D_SKIP, 0);
    }
    /* Only the sums the requested metrics use (companions are columns too):
     * each one more column makes ClickHouse's FINAL merge slower. attempts
     * always, since it decides which groups are rows. */
    uint32_t mm = q->metric_mask;
#define NEED(bits) ((mm & (bits)) != 0)
#define M(x) (1u << VEX_M_##x)
    put_agg(s, p, "countIf", "", "", T_U64, D_ATTEMPTS, 0);
    if (NEED(M(VIEWERCOUNT) | M(PLAYBACKFAILURERATE) | M(LATENCY)))
        put_agg(s, p, "countIf", "", "played != 0", T_U64, D_PLAYED, 0);
    if (NEED(M(ERRORS)))
        put_agg(s, p, "countIf", "", "errors != 0", T_U64, D_ERRORS, 0);
    if (NEED(M(TOTALSTARTUPFAILURE) | M(FAILURERATE)))
        put_agg(s, p, "countIf", "", "vsf != 0", T_U64, D_VSF, 0);
    if (NEED(M(PLAYBACKFAILURERATE)))
        put_agg(s, p, "countIf", "", "vpf != 0", T_U64, D_VPF, 0);
    if (NEED(M(EBVS) | M(STARTUPABANDONMENTRATE)))
        put_agg(s, p, "countIf", "", "ebvs != 0", T_U64, D_EBVS, 0);
    if (NEED(M(QOE)))
        put_agg(s, p, "countIf", "", "(played != 0 OR vsf != 0)", T_U64, D_QN, 0);
    if (NEED(M(BUFFCOUNT) | M(REBUFFERFREQUENCY)))
        put_cast_agg(s, p, "toInt64", "sumIf", "toInt64(rebuffers)", "", T_I64, D_REBUFFERS, 0);
    uint32_t buffering = M(BUFFERINGRATIO) | M(SUMBUFFWAITCIRR) | M(VRTBUFFERINGRATIO);
    if (NEED(buffering | M(REBUFFERFREQUENCY) | M(PLAYDUR)))
        put_cast_agg(s, p, "toInt64", "sumIf", "play_ms", "", T_I64, D_PLAY, 0);
    if (NEED(buffering)) {
        put_cast_agg(s, p, "toInt64", "sumIf", "cirr_ms", "", T_I64, D_CIRR, 0);
        put_cast_agg(s, p, "toInt64", "sumIf", "vrt_ms", "", T_I64, D_VRT, 0);
    }
    if (NEED(M(LATENCY)))
        put_cast_agg(s, p, "toInt64", "sumIf", "startup_ms", "played != 0", T_I64, D_STARTUP, 0);
    if (NEED(M(AVGBITRATE))) {
        put_cast_agg(s, p, "toInt64", "sumIf", "kbps_known_ms", "", T_I64, D_KNOWN, 0);
        put_cast_agg(s, p, "toFloat64", "sumIf", "kbps_ms", "", T_F64, D_KBPS, 0);
    }
#undef NEED
#undef M
    if (a->want_q) {
        struct sqltext qx = {0};
        put_q(&qx);
        if (qx.oom) {
            s->sql.oom = 1;
            return;
        }
        put_cast_agg(s, p, "toFloat64", "sumIf", qx.p, "(played != 0 OR vsf != 0)", T_F64, D_QSUM,
                     0);
        free(qx.p);
    }
    if (a->want_uniq)
        put_agg(s, p, "uniqExactIf", "`subscriberid`", "`subscriberid` != ''", T_U64, D_UNIQ, 0);
    if (!ts && a->want_ended) {
        put(&s->sql, ", countIf");
        put_ended(&s->sql, p);
        add_col(s, T_U64, D_ENDED, 0);
    }
    if (!ts && a->want_concur) {
        put(&s->sql, ", toInt64(sumIf(");
        put_ovhi(&s->sql, p);
        put(&s->sql, " - ");
        put_ovlo(&s->sql, p);
        put(&s->sql, ", ");
        put_concur(&s->sql, p);
        put(&s->sql, "))");
        add_col(s, T_I64, D_OVERLAP, 0);
    }
    if (a->want_lat) {
        static const unsigned ps[3] = {50, 95, 99};
        static const int which[3] = {VEX_PCT_MEDIAN_LATENCY, VEX_PCT_P95_LATENCY,
                                     VEX_PCT_P99_LATENCY};
        put_pcts(s, p, "vex_lat", put_startup_value, "played != 0", ps, which, 3);
    }
    if (a->want_qv) {
        static const unsigned ps[1] = {50};
        static const int which[1] = {VEX_PCT_MEDIAN_QOE};
        put_pcts(s, p, "vex_qv", put_q, "(played != 0 OR vsf != 0)", ps, which, 1);
    }
    if (a->want_sinfo) {
        put_agg(s, p, "anyIf", "attempt_ts", "", T_I64, D_SI_ATTEMPT, 0);
        put_agg(s, p, "anyIf", "last_ts", "", T_I64, D_SI_LAST, 0);
        put_agg(s, p, "anyIf", "play_ms", "", T_I64, D_SI_PLAY, 0);
        put_cast_agg(s, p, "toUInt8", "anyIf", "closed", "", T_U8, D_SI_CLOSED, 0);
        put_agg(s, p, "anyIf", "`ip`", "", T_STR, D_SI_IP, 0);
        put_agg(s, p, "anyIf", "`title`", "", T_STR, D_SI_TITLE, 0);
    }
    put(&s->sql, " FROM %s WHERE (", p->rel);
    put_belongs(&s->sql, p);
    /* A paged answer holds belonging sessions only: each is its own group,
     * so its endedplays and overlap come from its own row. */
    if (!ts && a->want_ended && !p->paged) {
        put(&s->sql, " OR ");
        put_ended(&s->sql, p);
    }
    if (!ts && a->want_concur && !p->paged) {
        put(&s->sql, " OR ");
        put_concur(&s->sql, p);
    }
    put(&s->sql, ")");
    put_selection(&s->sql, p);
    put_group_by(s, p);
    if (p->paged)
        put_order_limit(s, p);
}

/* The rows of a paged answer: every belonging session is one row. */
static void build_row_count(struct plan *p, struct stmt *s)
{
    put(&s->sql, "SELECT count() FROM %s WHERE ", p->rel);
    put_belongs(&s->sql, p);
    put_selection(&s->sql, p);
    add_col(s, T_U64, D_TOTAL, 0);
}

static void build_ended_buckets(struct plan *p, struct stmt *s)
{
    put(&s->sql, "SELECT ");
    put_keys(s, p, "last_ts");
    put(&s->sql, ", count()");
    add_col(s, T_U64, D_ENDED, 0);
    put(&s->sql, " FROM %s WHERE ", p->rel);
    put_ended(&s->sql, p);
    put_selection(&s->sql, p);
    put_group_by(s, p);
}

/* concurviewavg with buckets: a session is concurrent in every bucket its
 * overlap with the period touches (SPEC 4.7); the inner query selects the
 * sessions, the outer one repeats each per bucket (vex_b, in ms). */
static void build_concur_buckets(struct plan *p, struct stmt *s)
{
    long long sz = (long long)p->size_ms;
    put(&s->sql, "SELECT ");
    put_keys(s, p, "vex_b");
    put(&s->sql, ", toInt64(sum(least(vex_b + %lld, vex_hi) - greatest(vex_b, vex_lo)))", sz);
    add_col(s, T_I64, D_OVERLAP, 0);
    put(&s->sql, " FROM (SELECT *, (");
    put_floor(&s->sql, "vex_lo", p->size_ms);
    put(&s->sql, " + toInt64(arrayJoin(range(toUInt64(");
    put_floor(&s->sql, "(vex_hi - 1)", p->size_ms);
    put(&s->sql, " - ");
    put_floor(&s->sql, "vex_lo", p->size_ms);
    put(&s->sql, " + 1))))) * %lld AS vex_b FROM (SELECT *, ", sz);
    put_ovlo(&s->sql, p);
    put(&s->sql, " AS vex_lo, ");
    put_ovhi(&s->sql, p);
    put(&s->sql, " AS vex_hi FROM %s WHERE ", p->rel);
    put_concur(&s->sql, p);
    put_selection(&s->sql, p);
    put(&s->sql, "))");
    put_group_by(s, p);
}

int vex_sqlplan_run(struct vex_agg *a, const struct vex_source *src, const char *customer)
{
    struct plan p;
    memset(&p, 0, sizeof p);
    p.q = a->q;
    p.a = a;
    p.s_ms = a->s_ms;
    p.e_ms = a->e_ms;
    p.size_ms = a->q->bucket_s * 1000;
    int rc = src->sql_sessions(src->self, customer, p.rel, sizeof p.rel);
    if (rc)
        return rc;
    struct stmt *st = calloc(3, sizeof *st);
    if (!st)
        return VEX_ENOMEM;
    int n = 1;
    p.paged = pageable(a);
    build_belonging(&p, &st[0]);
    if (p.paged)
        build_row_count(&p, &st[n++]);
    if (a->ts_key >= 0 && a->want_ended)
        build_ended_buckets(&p, &st[n++]);
    if (a->ts_key >= 0 && a->want_concur)
        build_concur_buckets(&p, &st[n++]);
    /* Each statement reads the customer's sessions through FINAL, which
     * ClickHouse 18.16 runs on one thread: the others go at the same time. */
    struct fetch f[3];
    pthread_t th[3];
    int started[3] = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        f[i] = (struct fetch){.src = src, .s = &st[i]};
        if (i > 0)
            started[i] = pthread_create(&th[i], NULL, fetch_run, &f[i]) == 0;
    }
    fetch_run(&f[0]);
    for (int i = 1; i < n; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            fetch_run(&f[i]);
    }
    struct pctbuf pb;
    memset(&pb, 0, sizeof pb);
    for (int i = 0; i < n; i++) {
        if (!rc)
            rc = f[i].rc ? f[i].rc : decode(&p, &st[i], f[i].body, f[i].len, &pb);
        free(f[i].body);
        free(st[i].sql.p);
    }
    free(st);
    /* Percentiles of every group, 0 where a group has none (as
     * vex_aggregate_finish leaves them). */
    int want[VEX_PCT_COUNT] = {a->want_lat, a->want_lat, a->want_lat, a->want_qv};
    for (int i = 0; !rc && i < VEX_PCT_COUNT; i++) {
        if (!want[i])
            continue;
        a->pct[i] = calloc(a->ngroups ? a->ngroups : 1, sizeof(double));
        if (!a->pct[i]) {
            rc = VEX_ENOMEM;
            break;
        }
        for (uint32_t g = 0; g < a->ngroups && g < pb.cap; g++)
            a->pct[i][g] = pb.v[i][g];
    }
    for (int i = 0; i < VEX_PCT_COUNT; i++)
        free(pb.v[i]);
    return rc;
}
