/* query_int.h - what the files of the query module share and nobody else
 * sees: the parsed query, the metric table, filters, the group table.
 *
 * The module is a pipeline: params.c turns the query string into a struct
 * vex_query; aggregate.c folds the records of one scan into per-group plain
 * sums (one pass, one hash lookup per record and row it feeds), or, when the
 * backend hands out columns, colscan.c folds column runs into the same
 * struct vex_agg (dictionary codes, per-code filter results, both cores);
 * envelope.c turns the groups into rows, sorts, pages and writes the SPEC
 * 4.5 JSON. metric.c owns the names, companions and formulas of SPEC 4.2;
 * filter.c the `filter` and `qoefilter` languages. */
#ifndef VEX_QUERY_QUERY_INT_H
#define VEX_QUERY_QUERY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/strpool.h"
#include "query/query.h"
#include "session/record.h"

/* ---- qmem.c: a bump arena for everything a parsed query owns ---- */

struct vex_qmem;

int vex_qmem_create(struct vex_qmem **out);
/* vex_qmem_alloc returns n zeroed bytes aligned for any scalar, NULL when out
 * of memory. They live until vex_qmem_destroy. */
void *vex_qmem_alloc(struct vex_qmem *m, size_t n);
/* vex_qmem_strndup copies s[0..n) and a NUL; NULL when out of memory. */
char *vex_qmem_strndup(struct vex_qmem *m, const char *s, size_t n);
void vex_qmem_destroy(struct vex_qmem *m);

/* ---- dimensions of SPEC 4.4 ----
 * The record's enum vex_dim plus `streamtype`, which is derived from `live`.
 * VEX_DIM_IP is a record field but not a 4.4 dimension (it is reached as the
 * per-session field `ipaddress`). */
#define VEX_QDIM_STREAMTYPE VEX_DIM_COUNT

/* vex_qdim_lookup returns the 4.4 dimension named s[0..len), or -1. */
int vex_qdim_lookup(const char *s, size_t len);
const char *vex_qdim_name(int qdim);

static inline const char *vex_qdim_value(const struct vex_record *r, int qdim)
{
    if (qdim == VEX_QDIM_STREAMTYPE)
        return r->live ? "live" : "vod";
    return r->dims[qdim] ? r->dims[qdim] : "";
}

/* ---- metric.c: the metrics of SPEC 4.2 ---- */

enum vex_metric {
    VEX_M_ATTEMPTS,
    VEX_M_VIEWERCOUNT,
    VEX_M_ENDEDPLAYS,
    VEX_M_ERRORS,
    VEX_M_TOTALSTARTUPFAILURE,
    VEX_M_EBVS,
    VEX_M_BUFFCOUNT,
    VEX_M_UNIQUEVIEWERCOUNT,
    VEX_M_CONCURVIEWAVG,
    VEX_M_STARTUPABANDONMENTRATE,
    VEX_M_FAILURERATE,
    VEX_M_PLAYBACKFAILURERATE,
    VEX_M_BUFFERINGRATIO,
    VEX_M_SUMBUFFWAITCIRR,
    VEX_M_VRTBUFFERINGRATIO,
    VEX_M_REBUFFERFREQUENCY,
    VEX_M_PLAYDUR,
    VEX_M_LATENCY,
    VEX_M_MEDIAN_LATENCY,
    VEX_M_P95_LATENCY,
    VEX_M_P99_LATENCY,
    VEX_M_AVGBITRATE,
    VEX_M_QOE,
    VEX_M_MEDIAN_QOE,
    VEX_M_COUNT
};

/* Percentile metrics keep value arrays; these index them. */
enum vex_pct { VEX_PCT_MEDIAN_LATENCY, VEX_PCT_P95_LATENCY, VEX_PCT_P99_LATENCY,
               VEX_PCT_MEDIAN_QOE, VEX_PCT_COUNT };

/* Per-group plain sums over the sessions that belong to the group, plus the
 * two metrics with their own time rule (endedplays, overlap_ms). */
struct vex_acc {
    uint32_t attempts;
    uint32_t played;
    uint32_t endedplays;
    uint32_t errors;
    uint32_t vsf;
    uint32_t vpf;
    uint32_t ebvs;
    uint32_t q_n;  /* sessions with played or vsf: the Q denominator */
    uint32_t uniq; /* distinct non-empty subscriberids, counted as they come */
    uint32_t pad_;
    int64_t rebuffers;
    int64_t play_ms;
    int64_t cirr_ms;
    int64_t vrt_ms;
    int64_t startup_ms; /* over played sessions */
    int64_t kbps_known_ms;
    int64_t overlap_ms; /* concurviewavg numerator */
    double kbps_ms;
    double q_sum;
};

/* vex_metric_lookup returns the metric named s[0..len) (aliases included),
 * or -1. */
int vex_metric_lookup(const char *s, size_t len);
/* vex_metric_name returns the canonical name of a metric. */
const char *vex_metric_name(int m);
/* vex_metric_is_count: 1 when the metric is written as a JSON integer. */
int vex_metric_is_count(int m);
/* vex_metric_pct returns the enum vex_pct of a percentile metric, else -1. */
int vex_metric_pct(int m);
/* vex_metric_companions stores the companions of m (SPEC 4.2) in out[] (room
 * for 3) and returns their number. */
int vex_metric_companions(int m, int out[3]);
/* vex_metric_acc_add adds a belonging session to the sums (not endedplays,
 * overlap_ms, uniq). Q is computed only when want_q. */
void vex_metric_acc_add(struct vex_acc *a, const struct vex_record *r, int want_q);
/* vex_metric_acc_merge adds the sums of b to a (not uniq: distinct counts
 * do not add; aggregate.c merges their sets). */
void vex_metric_acc_merge(struct vex_acc *a, const struct vex_acc *b);
/* vex_metric_value computes a non-percentile metric from sums; window_ms is
 * the concurviewavg divisor. */
double vex_metric_value(int m, const struct vex_acc *a, double window_ms);
/* vex_metric_session_value computes metric m (any, percentiles included) on
 * the single session r for the period [s_ms, e_ms): what qoefilter tests. */
double vex_metric_session_value(int m, const struct vex_record *r, int64_t s_ms, int64_t e_ms);

/* ---- filter.c: `filter` and `qoefilter` ---- */

struct vex_filter_cond {
    int dim;    /* a 4.4 dimension */
    int negate; /* != */
    size_t nvals;
    const char **vals; /* decoded, compared exactly */
};

struct vex_filter {
    size_t n;
    struct vex_filter_cond *conds;
};

enum vex_qoe_op { VEX_QOE_GT, VEX_QOE_GE, VEX_QOE_LT, VEX_QOE_LE, VEX_QOE_EQ, VEX_QOE_NE };

struct vex_qoe_cond {
    int metric;
    int op;
    double value;
};

struct vex_qoefilter {
    size_t n;
    struct vex_qoe_cond *conds;
};

/* vex_filter_parse parses the still percent-encoded `filter` value raw[0..len)
 * (split on its separators first, then each piece decoded). *out is NULL for
 * an empty filter. Memory comes from m. VEX_EINVAL with *err filled, or
 * VEX_ENOMEM. */
int vex_filter_parse(struct vex_qmem *m, const char *raw, size_t len, struct vex_filter **out,
                     struct vex_query_error *err);
/* vex_filter_match returns 1 when r satisfies every condition. */
int vex_filter_match(const struct vex_filter *f, const struct vex_record *r);

/* vex_filter_match_dim returns 1 when the value v of dimension dim satisfies
 * every condition on dim (1 when there is none): the per-dictionary-code
 * form of vex_filter_match. */
int vex_filter_match_dim(const struct vex_filter *f, int dim, const char *v);

/* vex_filter_qoe_parse parses an already decoded `qoefilter` value. *out is
 * NULL when s is empty. VEX_EINVAL with *err filled, or VEX_ENOMEM. */
int vex_filter_qoe_parse(struct vex_qmem *m, const char *s, struct vex_qoefilter **out,
                         struct vex_query_error *err);
/* vex_filter_qoe_match returns 1 when the session's own metrics satisfy
 * every condition (period [s_ms, e_ms) for endedplays and concurviewavg). */
int vex_filter_qoe_match(const struct vex_qoefilter *f, const struct vex_record *r, int64_t s_ms,
                         int64_t e_ms);

/* ---- the parsed query (params.c) ---- */

enum vex_qkey_kind { VEX_QKEY_DIM, VEX_QKEY_TIMESTAMP, VEX_QKEY_SESSIONID };

struct vex_qkey {
    int kind;
    int dim; /* for VEX_QKEY_DIM */
};

/* Per-session fields of SPEC 4.3 that are not dimensions. */
enum vex_qfield {
    VEX_QF_IPADDRESS,
    VEX_QF_TIMESTAMP, /* floor(attempt_ts / 1000) */
    VEX_QF_STARTTIME,
    VEX_QF_ENDTIME,
    VEX_QF_WATCHTIME,
    VEX_QF_ASSETNAME,
    VEX_QF_STATUS,
    VEX_QF_COUNT
};

enum vex_qcol_kind { VEX_QCOL_METRIC, VEX_QCOL_FIELD };

/* An output column after the group keys: a requested metric or field, or a
 * companion. `name` is the key written in the row (an alias stays an
 * alias); it points into a static table. */
struct vex_qcol {
    const char *name;
    int kind;
    int id; /* enum vex_metric or enum vex_qfield */
};

#define VEX_Q_MAXKEYS 16
#define VEX_Q_MAXCOLS 64

struct vex_query {
    enum vex_endpoint ep;
    int has_planlevel;
    int64_t planlevel;
    int64_t start_s, end_s; /* [S, E) */
    int ended;              /* sessiontype=ended */
    int allstatus;
    int64_t bucket_s; /* timestamp bucket size when timestamp is a key */
    int nkeys;
    struct vex_qkey keys[VEX_Q_MAXKEYS];
    int ncols;
    struct vex_qcol cols[VEX_Q_MAXCOLS];
    int order_col; /* -1: none; < nkeys: a key; else cols[order_col - nkeys] */
    int order_desc;
    int64_t limit, offset;
    struct vex_filter *filter;  /* NULL: none */
    struct vex_qoefilter *qoe;  /* NULL: none */
    uint32_t metric_mask;       /* 1 << enum vex_metric of every metric column */
    uint32_t field_mask;        /* 1 << enum vex_qfield of every field column */
    struct vex_qmem *mem;
};

/* vex_params_parse fills q (whose mem is set) from the query string. */
int vex_params_parse(struct vex_query *q, const char *qs, struct vex_query_error *err);

/* vex_params_decode percent-decodes s[0..len) ('+' is a space) into m and
 * stores its length in *out_len (when not NULL); NULL on a malformed escape
 * or out of memory (*nomem tells which). */
char *vex_params_decode(struct vex_qmem *m, const char *s, size_t len, size_t *out_len,
                        int *nomem);

/* vex_query_seterr fills err (printf-style message). Returns VEX_EINVAL. */
int vex_query_seterr(struct vex_query_error *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- aggregate.c: the group table ---- */

/* What a per-session row (sessionid as a key) needs besides its sums. */
struct vex_sinfo {
    int64_t attempt_ts;
    int64_t last_ts;
    int64_t play_ms;
    uint32_t ip;    /* strpool ids */
    uint32_t title;
    uint8_t closed;
    uint8_t set;
};

struct vex_pv {
    uint32_t g;
    double v;
};

struct vex_pvec {
    struct vex_pv *v;
    size_t n, cap;
};

struct vex_agg {
    const struct vex_query *q;
    int64_t s_ms, e_ms;
    struct vex_strpool *strs;
    uint32_t id_live, id_vod; /* streamtype values, interned once */
    int nkeys;
    int ts_key;      /* index of the timestamp key, or -1 */
    int want_q;      /* Q sums */
    int want_lat;    /* latency percentile values */
    int want_qv;     /* Q percentile values */
    int want_uniq;
    int want_ended;  /* endedplays */
    int want_concur; /* concurviewavg */
    int want_sinfo;  /* sessionid is a key */
    /* Set by a backend that handed over only the rows of the page and those
     * before it (sqlplan.c): the number of rows of the whole answer. */
    int has_rows_total;
    uint64_t rows_total;
    uint32_t ngroups, cap;
    uint64_t *keyvals; /* ngroups * nkeys: strpool ids or bucket seconds */
    uint32_t *ghash;
    struct vex_acc *accs;
    struct vex_sinfo *sinfo;
    uint32_t *slots; /* group + 1, 0 empty */
    uint32_t nslots;
    struct vex_pvec lat, qv;
    double *pct[VEX_PCT_COUNT]; /* per group, after vex_aggregate_finish */
    uint64_t *uset; /* (group << 32 | subscriberid id) + 1, 0 empty */
    size_t uset_n, uset_slots;
    /* Strings repeat (dictionary-coded columns hand out the same pointer), so
     * a direct-mapped cache from pointer to id skips most hashing. It is
     * valid for one batch only: pointers are borrowed per batch. */
    uint32_t gen;
    struct vex_pcache {
        const char *p;
        uint32_t id;
        uint32_t gen;
    } pcache[VEX_DIM_COUNT + 1][64];
};

int vex_aggregate_init(struct vex_agg *a, const struct vex_query *q);
/* vex_aggregate_visit is a vex_record_visit_fn over a struct vex_agg. */
int vex_aggregate_visit(void *ctx, const struct vex_record *recs, size_t n);
/* vex_aggregate_group finds or adds the group of key values key[0..nkeys)
 * (strpool ids, bucket start seconds for the timestamp key) in *g. Group
 * arrays may move. VEX_ENOMEM, VEX_EFULL. */
int vex_aggregate_group(struct vex_agg *a, const uint64_t *key, uint32_t *g);
/* vex_aggregate_pvec_push appends value x of group g. VEX_ENOMEM. */
int vex_aggregate_pvec_push(struct vex_pvec *v, uint32_t g, double x);
/* vex_aggregate_uniq_add counts subscriberid strpool id `id` (not 0) in
 * group g once. VEX_ENOMEM. */
int vex_aggregate_uniq_add(struct vex_agg *a, uint32_t g, uint32_t id);
/* vex_aggregate_merge adds everything src gathered (another part of the
 * same scan, aggregated for the same query) into dst, group by group;
 * strings are matched by value, so the two may have their own pools. Call
 * before vex_aggregate_finish. VEX_ENOMEM, VEX_EFULL. */
int vex_aggregate_merge(struct vex_agg *dst, const struct vex_agg *src);
/* vex_aggregate_finish computes the percentiles. */
int vex_aggregate_finish(struct vex_agg *a);
void vex_aggregate_deinit(struct vex_agg *a);

/* ---- colscan.c: the columnar path ---- */

/* vex_colscan_run aggregates a's query over src->scan_columns (which must be
 * set) into a, initialised by the caller, and ready for
 * vex_aggregate_finish after. It gives the same groups and sums as feeding
 * the same sessions as records to vex_aggregate_visit (double sums may be
 * added in another order when both cores are used). Returns 0, VEX_ENOMEM,
 * VEX_EFULL or the scan's error. */
int vex_colscan_run(struct vex_agg *a, const struct vex_source *src, const char *customer,
                    int64_t from_ms, int64_t to_ms);

/* Rows from which a scan uses a second thread: a column run is split in two
 * halves once the rows seen so far (this run included) reach it and the run
 * holds at least 1/16 of it. Tests lower it to force the split; SIZE_MAX
 * keeps every query on one thread. Set it only while no query runs. */
extern size_t vex_colscan_mt_rows;

/* Column runs whose pre-aggregate (struct vex_colpre) a scan added instead
 * of reading their rows, counted since start (tests read it). */
extern size_t vex_colscan_pre_runs;

/* The group grid of the columnar path holds at most 1 << this many cells
 * (default 20); past that, groups are found by hashing. Tests lower it to
 * exercise the hashing. Set it only while no query runs. */
extern int vex_colscan_grid_bits;

/* ---- sqlplan.c: the aggregation sent to a SQL backend ---- */

/* vex_sqlplan_run aggregates a's query through src->sql_sessions and
 * src->sql_select (both set) into a, initialised by the caller: the same
 * groups and sums as vex_aggregate_visit over the same sessions, and the
 * percentiles too (do not call vex_aggregate_finish after it). Returns 0,
 * VEX_ENOMEM, VEX_EFULL, VEX_ECORRUPT (an answer that does not decode) or
 * the backend's error. */
int vex_sqlplan_run(struct vex_agg *a, const struct vex_source *src, const char *customer);

/* ---- envelope.c ---- */

/* vex_envelope_build writes the SPEC 4.5 envelope of a finished aggregation
 * to a malloc'd NUL-terminated string. VEX_ENOMEM. */
int vex_envelope_build(const struct vex_agg *a, char **json_out);

#endif
