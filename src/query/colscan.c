/* colscan.c - the columnar path of the query engine: column runs (struct
 * vex_columns, backend.h) folded into the same struct vex_agg that
 * aggregate.c fills from records, so that envelope.c and the formulas of
 * metric.c serve both paths and the answers agree.
 *
 * Rows are taken BLOCK at a time, each stage a tight loop over plain arrays:
 *   1. candidates: membership (period, closed or allstatus, the endpoint's
 *      streamtype from the LIVE flag) and the own time rules of endedplays
 *      and concurviewavg, as bits per row;
 *   2. `filter`: one verdict per dimension and dictionary code, decided the
 *      first time the code shows up in the run and kept in a stamped map, so
 *      no string is compared per row;
 *   3. `qoefilter`: the session's own metrics (metric.c's formulas on a
 *      record rebuilt from the columns), only for the rows still in;
 *   4. groups: each key value gets a small local index (a code through a
 *      stamped map, a bucket index, the LIVE bit), and the indexes of a row,
 *      side by side in one integer, address a dense grid of groups; when the
 *      grid would pass 2^20 cells (or a key is sessionid) the group is found
 *      by hashing the indexes instead;
 *   5. sums: only the columns the requested metrics need are read; without
 *      group keys the sums are kept in locals over the block, with keys the
 *      flag counts go to a histogram of the four flags per group (one add
 *      per row instead of five), folded into the sums at the end. With one
 *      or two dimension keys and nothing but sums and Q (the usual
 *      dashboard query) stages 4 and 5 are one loop (sums_dims). Q is
 *      computed from the columns (colq.h), bit for bit as vex_record_q, in a
 *      loop of its own per block; totals of endedplays and concurviewavg
 *      alone are one loop of their own rules (ext_direct).
 * A stamped map ("cmap") holds gen << 32 | value per code: a new run bumps
 * gen, which empties every map at once, since each run brings its own
 * dictionary.
 *
 * A large scan uses both cores: runs are cut in two halves, the second one
 * aggregated into a second struct vex_agg (a "lane", with its own string
 * pool), each lane's rows taken CHUNK at a time and in order by whichever of
 * the two threads is free, and the lanes are merged at the end
 * (vex_aggregate_merge): sums add, value arrays concatenate, distinct sets
 * unite. Only the order of the double sums changes, which SPEC 4.2 allows.
 *
 * Short cuts a run may offer (backend.h):
 *   - a pre-aggregate (vex_columns.pre, the sums of every row of a run of
 *     closed sessions): when the query has no filter, value lists or keys
 *     but the pre-aggregate's dimension, and every time rule it uses puts
 *     all the run's rows on one side of the period, the sums are added and
 *     no row is read (pre_fits, run_pre);
 *   - sessions given as records (vex_columns.recs, those too wide for the
 *     narrow columns): folded by aggregate.c into an aggregation of their
 *     own, merged at the end;
 *   - 24-bit dimension columns (dims24) and 16- and 8-bit ones (dims16 or
 *     dims8, + dmap16): a block's codes are turned into dictionary codes
 *     once (dim_block) for the stages that read them. */
#include "query/query_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/err.h"
#include "query/colq.h"

size_t vex_colscan_mt_rows = 200000;
int vex_colscan_grid_bits = 20;
/* Runs added from their pre-aggregate so far (tests check that the short
 * cut is taken; declared by them, not in a header, as nothing else reads it). */
size_t vex_colscan_pre_runs;

/* Rows per block: the per-row scratch of a block stays in L1. */
#define BLOCK 512

/* Candidate bits of a row. */
#define C_BEL 1u /* belongs to the period */
#define C_END 2u /* counts in endedplays */
#define C_CON 4u /* overlaps the period (concurviewavg) */

#define F_PLAYED VEX_COL_PLAYED
#define F_VSF VEX_COL_VSF

enum { K_DIM, K_ST, K_TS, K_SID };

/* What the query asks of the rows, read-only and shared by the lanes. */
struct plan {
    const struct vex_query *q;
    int64_t s_ms, e_ms;
    uint64_t span_ms;
    int ended, allstatus;
    uint8_t st_ok[2]; /* by LIVE: the endpoint and the streamtype conditions allow it */
    int nkeys, ts_key;
    int kind[VEX_Q_MAXKEYS];
    int dim[VEX_Q_MAXKEYS];
    int64_t size_ms, bucket_s, base_idx; /* timestamp buckets */
    int ts_bits;     /* the period's buckets fit in 1 << ts_bits */
    int hist;        /* flag counts through per-group histograms */
    uint32_t idmaps; /* bit d: codes of dimension d become strpool ids (viewers, fields) */
    uint32_t fmaps;  /* bit d: `filter` has conditions on dimension d */
    int sidmap;
    int want_ended, want_concur, ext;
    int need_ebvs, need_play, need_cv, need_reb, need_startup, need_kbps;
    int want_q, want_lat, want_qv, want_uniq, want_sinfo, want_ip, want_title;
    int extras; /* any per-row work beyond the sums */
    int ext_only; /* totals of endedplays or concurviewavg alone: no C_BEL, no sums0 */
    int dims_only; /* one or two dimension keys and only sums (Q's too): sums_dims */
    int pre_ok;    /* a run's pre-aggregate can stand for its rows (pre_fits tells when) */
};

struct cmap {
    uint64_t *e; /* gen << 32 | value, by code */
    size_t cap;
    int mapped; /* e comes from mmap */
};

/* A group key's local indexes. For a dimension: codes of the run -> local
 * index (km), and the string's strpool id <-> local index (lid, lval). A
 * bucket's index is its distance from the period's first bucket, the LIVE
 * bit streamtype's, a sid's strpool id a sessionid's. */
struct lkey {
    struct cmap km;
    uint32_t *lid; /* strpool id -> local index + 1 */
    size_t lidcap;
    uint32_t *lval; /* local index -> strpool id */
    uint32_t n, valcap;
    int bits;  /* the grid holds local indexes below 1 << bits */
    int shift; /* where they sit in a grid cell number */
};

/* One thread's share of the work: its own groups and string pool. */
struct lane {
    struct vex_agg *a;
    const struct plan *p;
    uint32_t gen;
    uint64_t seq; /* the run the maps are stamped for */
    struct cmap idm[VEX_DIM_COUNT];
    struct cmap fm[VEX_DIM_COUNT];
    struct cmap sidm;
    struct lkey key[VEX_Q_MAXKEYS];
    uint32_t *grid; /* cell -> group + 1; NULL: groups are found by hashing */
    uint32_t *gidx; /* per group (grid mode): its local indexes, nkeys each */
    size_t gidxcap; /* groups */
    uint32_t *fh;   /* per group: 16 counters by PLAYED, VSF, VPF, ERRORS */
    size_t fhcap;   /* groups */
    uint32_t *g1; /* hashing, one key: local index -> group + 1 (0: none yet) */
    size_t g1cap;
    uint64_t *hk; /* hashing, two keys: the packed local indexes, with hv */
    uint32_t *hv; /* group + 1, 0 for an empty slot */
    size_t hslots, hn;
    int hbits; /* hslots == 1 << hbits */
    int64_t tlo, thi; /* the bucket of the last time turned into a bucket */
    uint32_t trel;
    uint8_t cand[BLOCK];
    uint32_t sel[BLOCK]; /* rows of the block with a candidate bit */
    uint32_t sg[BLOCK];  /* their groups */
    double qb[BLOCK];    /* Q by selected row (stage_extras) or by row (block_q) */
    uint32_t dbuf[2][BLOCK]; /* 16-bit dimension codes of a block made global (dim_block) */
};

struct colrun {
    struct plan p;
    struct lane lane[2];
    struct vex_agg agg1;
    struct vex_agg aggw; /* the runs' sessions given as records (vex_columns.recs) */
    int have_w;
    int two;    /* lane 1 and the helper thread are running */
    int solo;   /* the helper could not be started: stay on one thread */
    uint64_t seq;
    size_t seen;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* The run being split: lane l takes rows [next[l], end[l]) CHUNK at a
     * time, in order, from whichever thread is free (busy[l] while one
     * works on it); job is NULL between runs. */
    const struct vex_columns *job;
    uint64_t job_seq;
    size_t next[2], end[2];
    int busy[2];
    int quit, job_rc;
};

/* ---- the plan ---- */

#define MBIT(x) (1u << VEX_M_##x)

static void plan_init(struct plan *p, const struct vex_agg *a)
{
    const struct vex_query *q = a->q;
    memset(p, 0, sizeof *p);
    p->q = q;
    p->s_ms = a->s_ms;
    p->e_ms = a->e_ms;
    p->span_ms = (uint64_t)(a->e_ms - a->s_ms);
    p->ended = q->ended;
    p->allstatus = q->allstatus;
    for (int live = 0; live < 2; live++) {
        int ok = !(q->ep == VEX_EP_VOD && live) && !(q->ep == VEX_EP_LIVE && !live);
        if (ok && q->filter)
            ok = vex_filter_match_dim(q->filter, VEX_QDIM_STREAMTYPE, live ? "live" : "vod");
        p->st_ok[live] = (uint8_t)ok;
    }
    p->nkeys = q->nkeys;
    p->ts_key = a->ts_key;
    for (int k = 0; k < q->nkeys; k++) {
        const struct vex_qkey *key = &q->keys[k];
        p->dim[k] = key->dim;
        if (key->kind == VEX_QKEY_TIMESTAMP) {
            p->kind[k] = K_TS;
        } else if (key->kind == VEX_QKEY_SESSIONID) {
            p->kind[k] = K_SID;
            p->sidmap = 1;
        } else if (key->dim == VEX_QDIM_STREAMTYPE) {
            p->kind[k] = K_ST;
        } else {
            p->kind[k] = K_DIM;
        }
    }
    if (p->ts_key >= 0) {
        p->bucket_s = q->bucket_s;
        p->size_ms = q->bucket_s * 1000;
        p->base_idx = p->s_ms / p->size_ms;
        int64_t nb = (p->e_ms - 1) / p->size_ms - p->base_idx + 1;
        while ((INT64_C(1) << p->ts_bits) < nb)
            p->ts_bits++;
    }
    /* A histogram per group is as big as its sums; with one group per
     * session it would only cost memory. */
    p->hist = p->nkeys > 0 && !p->sidmap;
    for (size_t i = 0; q->filter && i < q->filter->n; i++) {
        if (q->filter->conds[i].dim != VEX_QDIM_STREAMTYPE)
            p->fmaps |= 1u << q->filter->conds[i].dim;
    }
    uint32_t mm = q->metric_mask;
    uint32_t buf = MBIT(BUFFERINGRATIO) | MBIT(SUMBUFFWAITCIRR) | MBIT(VRTBUFFERINGRATIO);
    p->need_ebvs = (mm & (MBIT(EBVS) | MBIT(STARTUPABANDONMENTRATE))) != 0;
    p->need_play = (mm & (buf | MBIT(REBUFFERFREQUENCY) | MBIT(PLAYDUR))) != 0;
    p->need_cv = (mm & buf) != 0;
    p->need_reb = (mm & (MBIT(BUFFCOUNT) | MBIT(REBUFFERFREQUENCY))) != 0;
    p->need_startup = (mm & MBIT(LATENCY)) != 0;
    p->need_kbps = (mm & MBIT(AVGBITRATE)) != 0;
    p->want_ended = a->want_ended;
    p->want_concur = a->want_concur;
    p->ext = p->want_ended || p->want_concur;
    p->want_q = a->want_q;
    p->want_lat = a->want_lat;
    p->want_qv = a->want_qv;
    p->want_uniq = a->want_uniq;
    p->want_sinfo = a->want_sinfo;
    p->want_ip = a->want_sinfo && ((q->field_mask >> VEX_QF_IPADDRESS) & 1);
    p->want_title = a->want_sinfo && ((q->field_mask >> VEX_QF_ASSETNAME) & 1);
    if (p->want_uniq)
        p->idmaps |= 1u << VEX_DIM_SUBSCRIBERID;
    if (p->want_ip)
        p->idmaps |= 1u << VEX_DIM_IP;
    if (p->want_title)
        p->idmaps |= 1u << VEX_DIM_TITLE;
    p->extras = p->want_q || p->want_lat || p->want_qv || p->want_uniq || p->want_sinfo;
    /* Those two have their own membership and no companions, so a totals
     * query of nothing else needs neither the period's membership nor the
     * flag counts (which no column of its answer shows). */
    p->ext_only = p->nkeys == 0 && p->ext && !p->extras &&
                  (mm & ~(MBIT(ENDEDPLAYS) | MBIT(CONCURVIEWAVG))) == 0;
    /* Pre-aggregates hold plain sums only, split by streamtype, and per
     * value of one dimension: no filter, no value lists, no distinct
     * viewers, and keys only that dimension's (with sums only). */
    p->pre_ok = !q->filter && !q->qoe && !p->want_lat && !p->want_qv && !p->want_uniq &&
                !p->want_sinfo &&
                (p->nkeys == 0 || (p->nkeys == 1 && p->kind[0] == K_DIM && !p->ext));
    p->dims_only = p->nkeys >= 1 && p->nkeys <= 2 && p->kind[0] == K_DIM &&
                   (p->nkeys == 1 || p->kind[1] == K_DIM) && p->hist && !p->ext &&
                   !(p->want_lat || p->want_qv || p->want_uniq || p->want_sinfo);
}

/* ---- stamped maps ---- */

/* Maps of at least this many bytes come from mmap. */
#define CMAP_MMAP_BYTES (256 * 1024)

static void cmap_free(struct cmap *m)
{
    if (m->mapped)
        munmap(m->e, m->cap * sizeof *m->e);
    else
        free(m->e);
    memset(m, 0, sizeof *m);
}

/* cmap_fit makes room for codes [0, n) at the start of a run. The old
 * entries are all stamped for earlier runs, so growing starts afresh. A
 * dictionary shared by every dimension can hold millions of strings (viewer
 * ids, addresses) while a column uses forty of its codes: large maps are
 * anonymous mappings, zero pages the kernel provides only where a code is
 * looked up, so a query pays for the codes it meets, not for the
 * dictionary. */
static int cmap_fit(struct cmap *m, size_t n)
{
    if (n == 0)
        n = 1; /* code 0 ("") is looked up even in an empty dictionary */
    if (m->cap >= n)
        return 0;
    size_t cap = 64;
    while (cap < n)
        cap *= 2;
    cmap_free(m);
    size_t bytes = cap * sizeof *m->e;
    if (bytes >= CMAP_MMAP_BYTES) {
        void *e = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (e == MAP_FAILED)
            return VEX_ENOMEM;
        m->e = e;
        m->mapped = 1;
    } else {
        /* Stamp 0 is never a live gen, so zeroed entries are empty. */
        m->e = calloc(cap, sizeof *m->e);
        if (!m->e)
            return VEX_ENOMEM;
    }
    m->cap = cap;
    return 0;
}

static void cmap_clear(struct cmap *m)
{
    if (m->e)
        memset(m->e, 0, m->cap * sizeof *m->e);
}

static inline const char *dstr(const char *const *dict, size_t n, uint32_t code)
{
    const char *s = code < n ? dict[code] : NULL;
    return s ? s : "";
}

/* idm_get gives the strpool id of dictionary string `code`. A code past
 * the dictionary (which a sound backend never hands out) reads as "". */
static inline int idm_get(struct lane *L, struct cmap *m, const char *const *dict, size_t n,
                          uint32_t code, uint32_t *id)
{
    if (code >= n)
        code = 0;
    uint64_t e = m->e[code];
    if ((uint32_t)(e >> 32) == L->gen) {
        *id = (uint32_t)e;
        return 0;
    }
    const char *s = dstr(dict, n, code);
    int rc = vex_strpool_intern(L->a->strs, s, strlen(s), id);
    if (rc)
        return rc;
    m->e[code] = (uint64_t)L->gen << 32 | *id;
    return 0;
}

/* run_start stamps the lane's maps for a new run and sizes them for its
 * dictionaries. */
static int run_start(struct lane *L, const struct vex_columns *c, uint64_t seq)
{
    const struct plan *p = L->p;
    if (L->seq == seq)
        return 0;
    L->seq = seq;
    if (++L->gen == 0) {
        for (int d = 0; d < VEX_DIM_COUNT; d++) {
            cmap_clear(&L->idm[d]);
            cmap_clear(&L->fm[d]);
        }
        for (int j = 0; j < VEX_Q_MAXKEYS; j++)
            cmap_clear(&L->key[j].km);
        cmap_clear(&L->sidm);
        L->gen = 1;
    }
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        if (((p->idmaps >> d) & 1) && cmap_fit(&L->idm[d], c->dict_size))
            return VEX_ENOMEM;
        if (((p->fmaps >> d) & 1) && cmap_fit(&L->fm[d], c->dict_size))
            return VEX_ENOMEM;
    }
    for (int j = 0; j < p->nkeys; j++) {
        if (p->kind[j] == K_DIM && cmap_fit(&L->key[j].km, c->dict_size))
            return VEX_ENOMEM;
    }
    if (p->sidmap && cmap_fit(&L->sidm, c->sid_dict_size))
        return VEX_ENOMEM;
    return 0;
}

/* ---- rows ---- */

static inline int closed_at(const struct vex_columns *c, size_t i)
{
    return (c->flags[i] & VEX_COL_STATE_MASK) == VEX_STATE_ENDED ||
           c->now_ms - vex_columns_last_ts(c, i) > c->timeout_ms;
}

/* has_sids: the run names its sessions; sid_code gives row i's code. */
static inline int has_sids(const struct vex_columns *c)
{
    return c->sid || c->sid_dict || c->sid_anchor;
}

static inline uint32_t sid_code(const struct vex_columns *c, size_t i)
{
    return c->sid ? c->sid[i] : c->sid_base + (uint32_t)i;
}

/* sid_str is row i's sid (has_sids(c)). */
static inline const char *sid_str(const struct vex_columns *c, size_t i)
{
    if (c->sid_anchor)
        return vex_sid_at(c->sid_anchor, c->sid_blocks, c->sid_used, c->sid_row0 + i);
    return dstr(c->sid_dict, c->sid_dict_size, sid_code(c, i));
}

/* row_record rebuilds the record of row i, for what only a record tells:
 * qoefilter's per-session metrics. */
static void row_record(const struct vex_columns *c, size_t i, struct vex_record *r)
{
    uint16_t f = c->flags[i];
    memset(r, 0, sizeof *r);
    r->sid = has_sids(c) ? sid_str(c, i) : "";
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        r->dims[d] = dstr(c->dict, c->dict_size, vex_columns_dim(c, d, i));
    r->attempt_ts = c->attempt_ts[i];
    r->last_ts = vex_columns_last_ts(c, i);
    r->startup_ms = c->startup_ms[i];
    r->play_ms = c->play_ms[i];
    r->cirr_ms = c->cirr_ms[i];
    r->vrt_ms = c->vrt_ms[i];
    r->kbps_ms = c->kbps_ms[i];
    r->kbps_known_ms = c->kbps_known_ms[i];
    r->rebuffers = c->rebuffers[i];
    r->seeks = c->seeks[i];
    r->warnings = c->warnings[i];
    r->state = (uint8_t)(f & VEX_COL_STATE_MASK);
    r->played = (f & VEX_COL_PLAYED) != 0;
    r->vsf = (f & VEX_COL_VSF) != 0;
    r->vpf = (f & VEX_COL_VPF) != 0;
    r->errors = (f & VEX_COL_ERRORS) != 0;
    r->live = (f & VEX_COL_LIVE) != 0;
    r->closed = (uint8_t)closed_at(c, i);
    r->ebvs = r->closed && !r->played && !r->vsf;
}

/* ts_rel is the bucket of time t (ms, t >= S * 1000) as an index from the
 * period's first bucket; consecutive rows mostly share a bucket. */
static inline uint32_t ts_rel(struct lane *L, int64_t t)
{
    if (t >= L->tlo && t < L->thi)
        return L->trel;
    int64_t size = L->p->size_ms;
    int64_t idx = t / size;
    L->tlo = idx * size;
    L->thi = L->tlo + size;
    L->trel = (uint32_t)(idx - L->p->base_idx);
    return L->trel;
}

/* key_miss gives the local index of dictionary string `code` for
 * dimension key j the first time the run shows the code. */
static int key_miss(struct lane *L, const struct vex_columns *c, int j, uint32_t code,
                    uint32_t *out)
{
    struct lkey *k = &L->key[j];
    const char *s = dstr(c->dict, c->dict_size, code);
    uint32_t id;
    int rc = vex_strpool_intern(L->a->strs, s, strlen(s), &id);
    if (rc)
        return rc;
    if (id >= k->lidcap) {
        size_t cap = k->lidcap ? k->lidcap : 64;
        while (cap <= id)
            cap *= 2;
        uint32_t *n = realloc(k->lid, cap * sizeof *n);
        if (!n)
            return VEX_ENOMEM;
        memset(n + k->lidcap, 0, (cap - k->lidcap) * sizeof *n);
        k->lid = n;
        k->lidcap = cap;
    }
    if (!k->lid[id]) {
        if (k->n == k->valcap) {
            uint32_t cap = k->valcap ? k->valcap * 2 : 64;
            uint32_t *n = realloc(k->lval, cap * sizeof *n);
            if (!n)
                return VEX_ENOMEM;
            k->lval = n;
            k->valcap = cap;
        }
        k->lval[k->n] = id;
        k->lid[id] = ++k->n;
    }
    *out = k->lid[id] - 1;
    k->km.e[code] = (uint64_t)L->gen << 32 | *out;
    return 0;
}

/* key_idx gives the local index of non-timestamp key j for row i. */
static inline int key_idx(struct lane *L, const struct vex_columns *c, size_t i, int j,
                          uint32_t *out)
{
    const struct plan *p = L->p;
    switch (p->kind[j]) {
    case K_DIM: {
        uint32_t code = vex_columns_dim(c, p->dim[j], i);
        if (code >= c->dict_size)
            code = 0;
        uint64_t e = L->key[j].km.e[code];
        if ((uint32_t)(e >> 32) == L->gen) {
            *out = (uint32_t)e;
            return 0;
        }
        return key_miss(L, c, j, code, out);
    }
    case K_ST:
        *out = (c->flags[i] & VEX_COL_LIVE) != 0;
        return 0;
    case K_SID:
        if (!has_sids(c)) {
            *out = 0;
            return 0;
        }
        if (c->sid_anchor) {
            /* One session a row: nothing to cache. */
            const char *s = sid_str(c, i);
            return vex_strpool_intern(L->a->strs, s, strlen(s), out);
        }
        return idm_get(L, &L->sidm, c->sid_dict, c->sid_dict_size, sid_code(c, i), out);
    default:
        *out = 0;
        return 0;
    }
}

/* key_value turns local index x of key j into the group table's key value:
 * a strpool id, or a bucket's start in seconds. */
static inline uint64_t key_value(const struct lane *L, int j, uint32_t x)
{
    const struct plan *p = L->p;
    switch (p->kind[j]) {
    case K_DIM:
        return L->key[j].lval[x];
    case K_ST:
        return x ? L->a->id_live : L->a->id_vod;
    case K_TS:
        return (uint64_t)(((int64_t)x + p->base_idx) * p->bucket_s);
    default:
        return x;
    }
}

/* table_group finds or adds the group of local indexes idx in the group
 * table. */
static int table_group(struct lane *L, const uint32_t *idx, uint32_t *g)
{
    uint64_t key[VEX_Q_MAXKEYS];
    for (int j = 0; j < L->p->nkeys; j++)
        key[j] = key_value(L, j, idx[j]);
    return vex_aggregate_group(L->a, key, g);
}

/* ---- groups by hashing, when the grid does not fit ---- */

static int g1_put(struct lane *L, uint32_t x, uint32_t g)
{
    if (x >= L->g1cap) {
        size_t cap = L->g1cap ? L->g1cap : 256;
        while (cap <= x)
            cap *= 2;
        uint32_t *n = realloc(L->g1, cap * sizeof *n);
        if (!n)
            return VEX_ENOMEM;
        memset(n + L->g1cap, 0, (cap - L->g1cap) * sizeof *n);
        L->g1 = n;
        L->g1cap = cap;
    }
    L->g1[x] = g + 1;
    return 0;
}

/* hslot: the top bits of a multiplicative hash, which depend on every bit
 * of both packed indexes. */
static inline size_t hslot(uint64_t key, int bits)
{
    return (size_t)((key * 0x9e3779b97f4a7c15ULL) >> (64 - bits));
}

static int h_grow(struct lane *L)
{
    size_t n = L->hslots ? L->hslots * 2 : 256;
    int bits = L->hslots ? L->hbits + 1 : 8;
    uint64_t *hk = malloc(n * sizeof *hk);
    uint32_t *hv = calloc(n, sizeof *hv);
    if (!hk || !hv) {
        free(hk);
        free(hv);
        return VEX_ENOMEM;
    }
    for (size_t i = 0; i < L->hslots; i++) {
        if (!L->hv[i])
            continue;
        size_t j = hslot(L->hk[i], bits);
        while (hv[j])
            j = (j + 1) & (n - 1);
        hk[j] = L->hk[i];
        hv[j] = L->hv[i];
    }
    free(L->hk);
    free(L->hv);
    L->hk = hk;
    L->hv = hv;
    L->hslots = n;
    L->hbits = bits;
    return 0;
}

static int hashed_group(struct lane *L, const uint32_t *idx, uint32_t *g)
{
    int rc;
    if (L->p->nkeys == 1) {
        uint32_t x = idx[0];
        if (x < L->g1cap && L->g1[x]) {
            *g = L->g1[x] - 1;
            return 0;
        }
        if ((rc = table_group(L, idx, g)))
            return rc;
        return g1_put(L, x, *g);
    }
    if (L->p->nkeys == 2) {
        if (!L->hslots && (rc = h_grow(L)))
            return rc;
        uint64_t key = idx[0] | (uint64_t)idx[1] << 32;
        size_t mask = L->hslots - 1;
        size_t j = hslot(key, L->hbits);
        while (L->hv[j]) {
            if (L->hk[j] == key) {
                *g = L->hv[j] - 1;
                return 0;
            }
            j = (j + 1) & mask;
        }
        if ((rc = table_group(L, idx, g)))
            return rc;
        L->hk[j] = key;
        L->hv[j] = *g + 1;
        if (++L->hn * 2 > L->hslots)
            return h_grow(L);
        return 0;
    }
    return table_group(L, idx, g);
}

/* ---- the grid ---- */

/* grid_build lays the grid out for the keys' current bits and files every
 * group in it, or leaves grid mode for good when it would be too big. */
static int grid_build(struct lane *L)
{
    const struct plan *p = L->p;
    int total = 0;
    for (int j = 0; j < p->nkeys; j++) {
        L->key[j].shift = total;
        total += L->key[j].bits;
    }
    free(L->grid);
    L->grid = NULL;
    if (total > vex_colscan_grid_bits)
        return 0;
    L->grid = calloc((size_t)1 << total, sizeof *L->grid);
    if (!L->grid)
        return VEX_ENOMEM;
    for (uint32_t g = 0; g < L->a->ngroups; g++) {
        uint32_t cell = 0;
        for (int j = 0; j < p->nkeys; j++)
            cell |= L->gidx[(size_t)g * p->nkeys + j] << L->key[j].shift;
        L->grid[cell] = g + 1;
    }
    return 0;
}

/* grid_new files a new group of local indexes idx in grid cell `cell`. */
static int grid_new(struct lane *L, const uint32_t *idx, uint32_t cell, uint32_t *g)
{
    int nk = L->p->nkeys;
    int rc = table_group(L, idx, g);
    if (rc)
        return rc;
    if (*g >= L->gidxcap) {
        size_t cap = L->gidxcap ? L->gidxcap * 2 : 64;
        while (cap <= *g)
            cap *= 2;
        uint32_t *n = realloc(L->gidx, cap * (size_t)nk * sizeof *n);
        if (!n)
            return VEX_ENOMEM;
        L->gidx = n;
        L->gidxcap = cap;
    }
    memcpy(L->gidx + (size_t)*g * nk, idx, (size_t)nk * sizeof *idx);
    L->grid[cell] = *g + 1;
    return 0;
}

/* group_idx finds or adds the group of a row's local indexes. */
static int group_idx(struct lane *L, const uint32_t *idx, uint32_t *g)
{
    const struct plan *p = L->p;
    int rc;
    while (L->grid) {
        uint32_t cell = 0;
        int fits = 1;
        for (int j = 0; j < p->nkeys; j++) {
            if (idx[j] >> L->key[j].bits) {
                /* A key with more values than its room: widen it. */
                while (idx[j] >> L->key[j].bits)
                    L->key[j].bits++;
                fits = 0;
            }
            cell |= idx[j] << L->key[j].shift;
        }
        if (!fits) {
            if ((rc = grid_build(L)))
                return rc;
            continue;
        }
        if (L->grid[cell]) {
            *g = L->grid[cell] - 1;
            return 0;
        }
        return grid_new(L, idx, cell, g);
    }
    return hashed_group(L, idx, g);
}

/* ---- the stages of a block [lo, lo + n) ---- */

/* dim_block gives the dictionary codes of dimension d for rows [lo, lo + n)
 * of a block: the column itself, or, for a 24-, 16- or 8-bit column, its
 * codes unpacked or mapped into the lane's buffer `slot`. */
static const uint32_t *dim_block(struct lane *L, const struct vex_columns *c, int d, size_t lo,
                                 size_t n, int slot)
{
    if (c->dims[d])
        return c->dims[d] + lo;
    const uint32_t *map = c->dmap16[d];
    uint32_t *out = L->dbuf[slot];
    if (c->dims24[d]) {
        const uint8_t *x = c->dims24[d] + 3 * lo;
        for (size_t i = 0; i < n; i++)
            out[i] = (uint32_t)x[3 * i] | (uint32_t)x[3 * i + 1] << 8 |
                     (uint32_t)x[3 * i + 2] << 16;
    } else if (c->dims16[d]) {
        const uint16_t *x = c->dims16[d] + lo;
        for (size_t i = 0; i < n; i++)
            out[i] = map[x[i]];
    } else {
        const uint8_t *x = c->dims8[d] + lo;
        for (size_t i = 0; i < n; i++)
            out[i] = map[x[i]];
    }
    return out;
}

static void stage_cand(struct lane *L, const struct vex_columns *c, size_t lo, size_t n)
{
    const struct plan *p = L->p;
    const uint16_t *fl = c->flags + lo;
    const int64_t *at = c->attempt_ts + lo;
    const uint32_t *dt = c->last_dt + lo;
    /* Membership by last_ts (ended) or attempt_ts: the offset or none. */
    const uint32_t mdt = p->ended ? UINT32_MAX : 0;
    uint8_t *cand = L->cand;
    const uint64_t s = (uint64_t)p->s_ms, span = p->span_ms;
    const unsigned ok0 = p->st_ok[0], ok1 = p->st_ok[1];
    if (p->ext_only) {
        memset(cand, 0, n);
    } else {
        /* The unsigned difference is below span exactly when S <= t < E. */
        for (size_t i = 0; i < n; i++) {
            unsigned ok = (fl[i] & VEX_COL_LIVE) ? ok1 : ok0;
            uint64_t t = (uint64_t)(at[i] + (int64_t)(dt[i] & mdt));
            cand[i] = (uint8_t)(ok & (t - s < span));
        }
        if (!p->allstatus) {
            /* closed_at as arithmetic: no branch on the row's values. */
            const int64_t now = c->now_ms, timeout = c->timeout_ms;
            for (size_t i = 0; i < n; i++) {
                unsigned closed = ((fl[i] & VEX_COL_STATE_MASK) == VEX_STATE_ENDED) |
                                  (now - (at[i] + (int64_t)dt[i]) > timeout);
                cand[i] &= (uint8_t)closed;
            }
        }
    }
    if (!p->ext)
        return;
    /* Locals: stores through cand (a char pointer) may alias anything. */
    const int64_t s_ms = p->s_ms, e_ms = p->e_ms, now = c->now_ms, timeout = c->timeout_ms;
    const unsigned want_end = p->want_ended ? C_END : 0, want_con = p->want_concur ? C_CON : 0;
    for (size_t i = 0; i < n; i++) {
        unsigned f = fl[i];
        unsigned ok = (f & VEX_COL_LIVE) ? ok1 : ok0;
        int64_t t = at[i] + (int64_t)dt[i];
        unsigned closed = (f & VEX_COL_STATE_MASK) == VEX_STATE_ENDED || now - t > timeout;
        unsigned end = (f & F_PLAYED) && (uint64_t)t - s < span && closed;
        int64_t ov_lo = at[i] > s_ms ? at[i] : s_ms;
        int64_t ov_hi = t < e_ms ? t : e_ms;
        unsigned bits = ((end ? C_END : 0) & want_end) | ((ov_hi > ov_lo ? C_CON : 0) & want_con);
        cand[i] |= (uint8_t)(ok ? bits : 0);
    }
}

static void stage_filter(struct lane *L, const struct vex_columns *c, size_t lo, size_t n)
{
    const struct vex_filter *f = L->p->q->filter;
    const size_t dn = c->dict_size;
    const uint32_t gen = L->gen;
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        if (!((L->p->fmaps >> d) & 1))
            continue;
        const uint32_t *codes = dim_block(L, c, d, lo, n, 0);
        uint64_t *e = L->fm[d].e;
        for (size_t i = 0; i < n; i++) {
            if (!L->cand[i])
                continue;
            uint32_t code = codes[i] < dn ? codes[i] : 0;
            uint64_t x = e[code];
            if ((uint32_t)(x >> 32) != gen) {
                x = (uint64_t)gen << 32 |
                    (uint64_t)vex_filter_match_dim(f, d, dstr(c->dict, dn, code));
                e[code] = x;
            }
            if (!(x & 1))
                L->cand[i] = 0;
        }
    }
}

static void stage_qoe(struct lane *L, const struct vex_columns *c, size_t lo, size_t n)
{
    const struct plan *p = L->p;
    for (size_t i = 0; i < n; i++) {
        struct vex_record r;
        if (!L->cand[i])
            continue;
        row_record(c, lo + i, &r);
        if (!vex_filter_qoe_match(p->q->qoe, &r, p->s_ms, p->e_ms))
            L->cand[i] = 0;
    }
}

/* sums0: the sums of a block without group keys, in locals. The double sum
 * keeps the row order, so one thread adds exactly as the record path. */
static void sums0(struct lane *L, const struct vex_columns *c, size_t lo, size_t n)
{
    const struct plan *p = L->p;
    const uint8_t *cand = L->cand;
    const uint16_t *fl = c->flags + lo;
    struct vex_acc *acc = &L->a->accs[0];
    uint32_t att = 0, pl = 0, vsf = 0, vpf = 0, er = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned m = cand[i] & C_BEL, f = fl[i];
        att += m;
        pl += m & (f >> 3);
        vsf += m & (f >> 4);
        vpf += m & (f >> 5);
        er += m & (f >> 6);
    }
    acc->attempts += att;
    acc->played += pl;
    acc->vsf += vsf;
    acc->vpf += vpf;
    acc->errors += er;
    if (p->need_ebvs) {
        uint32_t eb = 0;
        for (size_t i = 0; i < n; i++) {
            if ((cand[i] & C_BEL) && !(fl[i] & (F_PLAYED | F_VSF)))
                eb += (uint32_t)closed_at(c, lo + i);
        }
        acc->ebvs += eb;
    }
    if (p->need_play) {
        const uint32_t *x = c->play_ms + lo;
        int64_t sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += x[i] & -(int64_t)(cand[i] & C_BEL);
        acc->play_ms += sum;
    }
    if (p->need_cv) {
        const uint32_t *x = c->cirr_ms + lo, *y = c->vrt_ms + lo;
        int64_t sx = 0, sy = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t m = -(int64_t)(cand[i] & C_BEL);
            sx += x[i] & m;
            sy += y[i] & m;
        }
        acc->cirr_ms += sx;
        acc->vrt_ms += sy;
    }
    if (p->need_reb) {
        const uint16_t *x = c->rebuffers + lo;
        int64_t sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += (int64_t)(x[i] & -(uint32_t)(cand[i] & C_BEL));
        acc->rebuffers += sum;
    }
    if (p->need_startup) {
        const uint32_t *x = c->startup_ms + lo;
        int64_t sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += x[i] & -(int64_t)(cand[i] & (fl[i] >> 3) & 1);
        acc->startup_ms += sum;
    }
    if (p->need_kbps) {
        const double *x = c->kbps_ms + lo;
        const uint32_t *y = c->kbps_known_ms + lo;
        double sx = acc->kbps_ms;
        int64_t sy = 0;
        for (size_t i = 0; i < n; i++) {
            if (cand[i] & C_BEL) {
                sx += x[i];
                sy += y[i];
            }
        }
        acc->kbps_ms = sx;
        acc->kbps_known_ms += sy;
    }
}

/* fh_fit makes room in the flag histograms for every group. */
static int fh_fit(struct lane *L)
{
    size_t n = L->a->ngroups;
    if (n <= L->fhcap)
        return 0;
    size_t cap = L->fhcap ? L->fhcap : 64;
    while (cap < n)
        cap *= 2;
    uint32_t *fh = realloc(L->fh, cap * 16 * sizeof *fh);
    if (!fh)
        return VEX_ENOMEM;
    memset(fh + L->fhcap * 16, 0, (cap - L->fhcap) * 16 * sizeof *fh);
    L->fh = fh;
    L->fhcap = cap;
    return 0;
}

/* fold_hist adds the flag histograms to the sums: bit 0 of a histogram slot
 * is PLAYED, bit 1 VSF, bit 2 VPF, bit 3 ERRORS (the flags >> 3). */
static void fold_hist(struct lane *L)
{
    size_t n = L->a->ngroups < L->fhcap ? L->a->ngroups : L->fhcap;
    for (size_t g = 0; g < n; g++) {
        struct vex_acc *a = &L->a->accs[g];
        const uint32_t *h = L->fh + g * 16;
        for (unsigned v = 0; v < 16; v++) {
            a->attempts += h[v];
            a->played += (v & 1) ? h[v] : 0;
            a->vsf += (v & 2) ? h[v] : 0;
            a->vpf += (v & 4) ? h[v] : 0;
            a->errors += (v & 8) ? h[v] : 0;
        }
    }
    free(L->fh);
    L->fh = NULL;
    L->fhcap = 0;
}

/* What the sums of a row read: the plan's needs and the columns, copied
 * into a value (from row `lo` on) so that stores into the sums cannot make
 * the compiler read them again. */
struct sumsrc {
    int ebvs, play, cv, reb, startup, kbps;
    const int64_t *at;
    const uint32_t *dt;
    const uint32_t *play_ms, *cirr_ms, *vrt_ms, *startup_ms, *known_ms;
    const double *kbps_ms;
    const uint16_t *rebuffers;
    int64_t now_ms, timeout_ms;
};

static inline struct sumsrc sumsrc_of(const struct plan *p, const struct vex_columns *c,
                                      size_t lo)
{
    struct sumsrc s = {p->need_ebvs,     p->need_play,         p->need_cv,
                       p->need_reb,      p->need_startup,      p->need_kbps,
                       c->attempt_ts + lo, c->last_dt + lo,    c->play_ms + lo,
                       c->cirr_ms + lo,  c->vrt_ms + lo,       c->startup_ms + lo,
                       c->kbps_known_ms + lo, c->kbps_ms + lo, c->rebuffers + lo,
                       c->now_ms,        c->timeout_ms};
    return s;
}

/* add_sums adds row r (flags f) to the sums a, all but the flag counts:
 * vex_metric_acc_add's sums, for the columns the query needs. */
static inline void add_sums(struct vex_acc *a, const struct sumsrc s, size_t r, unsigned f)
{
    /* ebvs = closed && !played && !vsf, closed as in closed_at. */
    if (s.ebvs && !(f & (F_PLAYED | F_VSF)))
        a->ebvs += (f & VEX_COL_STATE_MASK) == VEX_STATE_ENDED ||
                   s.now_ms - (s.at[r] + (int64_t)s.dt[r]) > s.timeout_ms;
    if (s.play)
        a->play_ms += s.play_ms[r];
    if (s.cv) {
        a->cirr_ms += s.cirr_ms[r];
        a->vrt_ms += s.vrt_ms[r];
    }
    if (s.reb)
        a->rebuffers += s.rebuffers[r];
    if (s.startup && (f & F_PLAYED))
        a->startup_ms += s.startup_ms[r];
    if (s.kbps) {
        a->kbps_ms += s.kbps_ms[r];
        a->kbps_known_ms += s.known_ms[r];
    }
}

/* sums_grouped: the same sums into each row's group. */
static int sums_grouped(struct lane *L, const struct vex_columns *c, size_t lo, size_t ns)
{
    const struct plan *p = L->p;
    const struct sumsrc src = sumsrc_of(p, c, lo);
    const int hist = p->hist;
    if (hist && fh_fit(L))
        return VEX_ENOMEM;
    struct vex_acc *accs = L->a->accs;
    uint32_t *fh = L->fh;
    const uint8_t *cand = L->cand;
    const uint32_t *sel = L->sel, *sg = L->sg;
    for (size_t k = 0; k < ns; k++) {
        if (!(cand[sel[k]] & C_BEL))
            continue;
        size_t i = lo + sel[k];
        struct vex_acc *a = &accs[sg[k]];
        unsigned f = c->flags[i];
        if (hist) {
            fh[(size_t)sg[k] * 16 + ((f >> 3) & 15)]++;
        } else {
            a->attempts++;
            a->played += (f >> 3) & 1;
            a->vsf += (f >> 4) & 1;
            a->vpf += (f >> 5) & 1;
            a->errors += (f >> 6) & 1;
        }
        add_sums(a, src, sel[k], f);
    }
    return 0;
}

/* block_q sets qb[r] to the Q of every row r of the block [lo, lo + n), in
 * a loop that stores nothing else, so the rows overlap (colq.h has no
 * branches). Rows Q does not count get a value that is never read. */
static void block_q(struct lane *L, const struct vex_columns *c, size_t lo, size_t n)
{
    const uint16_t *fl = c->flags + lo;
    const uint32_t *st = c->startup_ms + lo, *pm = c->play_ms + lo, *cm = c->cirr_ms + lo;
    const uint32_t *vm = c->vrt_ms + lo, *km = c->kbps_known_ms + lo;
    const double *kb = c->kbps_ms + lo;
    double *qb = L->qb;
    for (size_t r = 0; r < n; r++)
        qb[r] = vex_colq_score(fl[r], st[r], pm[r], cm[r], vm[r], kb[r], km[r]);
}

/* sums_dims is stage_groups and sums_grouped in one pass for the most
 * common queries, one or two dimension keys and nothing but sums: a row's
 * codes, its grid cell and its sums without the selection arrays in
 * between. */
static inline __attribute__((always_inline)) int
sums_dims_k(struct lane *L, const struct vex_columns *c, size_t lo, size_t n, const int two,
            const int want_q)
{
    const struct plan *p = L->p;
    const uint8_t *cand = L->cand;
    const uint32_t *codes = dim_block(L, c, p->dim[0], lo, n, 0);
    const uint32_t *codes1 = two ? dim_block(L, c, p->dim[1], lo, n, 1) : codes;
    const uint16_t *fl = c->flags + lo;
    const uint64_t *km = L->key[0].km.e, *km1 = L->key[two].km.e;
    const size_t dn = c->dict_size;
    const uint32_t gen = L->gen;
    const struct sumsrc src = sumsrc_of(p, c, lo);
    int rc;
    if ((rc = fh_fit(L)))
        return rc;
    struct vex_acc *accs = L->a->accs;
    uint32_t *fh = L->fh;
    if (want_q)
        block_q(L, c, lo, n);
    for (size_t r = 0; r < n; r++) {
        if (!(cand[r] & C_BEL))
            continue;
        uint32_t code = codes[r] < dn ? codes[r] : 0;
        uint32_t code1 = two && codes1[r] < dn ? codes1[r] : 0;
        uint64_t e = km[code], e1 = two ? km1[code1] : (uint64_t)gen << 32;
        uint32_t idx[2] = {(uint32_t)e, (uint32_t)e1}, g, v;
        const uint32_t *grid = L->grid;
        if ((uint32_t)(e >> 32) == gen && (uint32_t)(e1 >> 32) == gen && grid &&
            !(idx[0] >> L->key[0].bits) && !(two && (idx[1] >> L->key[1].bits)) &&
            (v = grid[idx[0] << L->key[0].shift | (two ? idx[1] << L->key[1].shift : 0)]) != 0) {
            g = v - 1;
        } else {
            /* A new code or group: the slow way, after which the group
             * arrays may have moved. */
            if ((uint32_t)(e >> 32) != gen && (rc = key_miss(L, c, 0, code, &idx[0])))
                return rc;
            if (two && (uint32_t)(e1 >> 32) != gen && (rc = key_miss(L, c, 1, code1, &idx[1])))
                return rc;
            if ((rc = group_idx(L, idx, &g)) || (rc = fh_fit(L)))
                return rc;
            accs = L->a->accs;
            fh = L->fh;
        }
        unsigned f = fl[r];
        fh[(size_t)g * 16 + ((f >> 3) & 15)]++;
        add_sums(&accs[g], src, r, f);
        if (want_q && (f & (F_PLAYED | F_VSF))) {
            /* In row order per group, as stage_extras adds it. */
            accs[g].q_sum += L->qb[r];
            accs[g].q_n++;
        }
    }
    return 0;
}

/* The four forms of sums_dims, each compiled for its number of keys and
 * with or without Q. */
static int sums_dims(struct lane *L, const struct vex_columns *c, size_t lo, size_t n)
{
    if (L->p->want_q)
        return L->p->nkeys == 2 ? sums_dims_k(L, c, lo, n, 1, 1) : sums_dims_k(L, c, lo, n, 0, 1);
    return L->p->nkeys == 2 ? sums_dims_k(L, c, lo, n, 1, 0) : sums_dims_k(L, c, lo, n, 0, 0);
}

/* stage_groups sets sg[] for the selected rows: the group of the row's
 * membership time, and with no timestamp key the one group every rule of the
 * row feeds. Rows that only feed endedplays or concurviewavg under a
 * timestamp key get theirs in stage_ext. */
static int stage_groups(struct lane *L, const struct vex_columns *c, size_t lo, size_t ns)
{
    const struct plan *p = L->p;
    uint32_t *sg = L->sg;
    const uint32_t *sel = L->sel;
    int rc;
    if (p->nkeys == 0) {
        memset(sg, 0, ns * sizeof *sg);
        return 0;
    }
    if (p->nkeys <= 2 && p->kind[0] == K_DIM && (p->nkeys == 1 || p->kind[1] == K_DIM)) {
        /* The common cases: a code or two, through their maps to local
         * indexes and the grid cell, all array reads. */
        const int two = p->nkeys == 2;
        size_t n = ns ? (size_t)sel[ns - 1] + 1 : 0; /* rows of the block read */
        const uint32_t *c0 = dim_block(L, c, p->dim[0], lo, n, 0);
        const uint32_t *c1 = two ? dim_block(L, c, p->dim[1], lo, n, 1) : c0;
        const size_t dn = c->dict_size;
        const uint32_t gen = L->gen;
        for (size_t k = 0; k < ns; k++) {
            uint32_t idx[2], code0 = c0[sel[k]], code1 = c1[sel[k]];
            code0 = code0 < dn ? code0 : 0;
            code1 = code1 < dn ? code1 : 0;
            uint64_t e0 = L->key[0].km.e[code0];
            uint64_t e1 = two ? L->key[1].km.e[code1] : 0;
            idx[0] = (uint32_t)e0;
            idx[1] = (uint32_t)e1;
            if ((uint32_t)(e0 >> 32) != gen && (rc = key_miss(L, c, 0, code0, &idx[0])))
                return rc;
            if (two && (uint32_t)(e1 >> 32) != gen && (rc = key_miss(L, c, 1, code1, &idx[1])))
                return rc;
            const uint32_t *grid = L->grid;
            if (grid && !(idx[0] >> L->key[0].bits) &&
                !(two && (idx[1] >> L->key[1].bits))) {
                uint32_t v = grid[idx[0] << L->key[0].shift |
                                  (two ? idx[1] << L->key[1].shift : 0)];
                if (v) {
                    sg[k] = v - 1;
                    continue;
                }
            }
            if ((rc = group_idx(L, idx, &sg[k])))
                return rc;
        }
        return 0;
    }
    /* Membership time: last_ts (ended) or attempt_ts. */
    const int64_t *at = c->attempt_ts;
    const uint32_t *dt = c->last_dt, mdt = p->ended ? UINT32_MAX : 0;
#define MT(i) (at[i] + (int64_t)(dt[i] & mdt))
    if (p->nkeys == 1 && p->kind[0] == K_TS && L->grid) {
        /* Time buckets alone: the bucket index is the grid cell. */
        for (size_t k = 0; k < ns; k++) {
            if (!(L->cand[sel[k]] & C_BEL)) {
                sg[k] = UINT32_MAX;
                continue;
            }
            uint32_t idx = ts_rel(L, MT(lo + sel[k]));
            uint32_t v = L->grid[idx];
            if (v)
                sg[k] = v - 1;
            else if ((rc = group_idx(L, &idx, &sg[k])))
                return rc;
        }
        return 0;
    }
    for (size_t k = 0; k < ns; k++) {
        uint32_t idx[VEX_Q_MAXKEYS];
        size_t i = lo + sel[k];
        if (p->ts_key >= 0 && !(L->cand[sel[k]] & C_BEL)) {
            sg[k] = UINT32_MAX;
            continue;
        }
        for (int j = 0; j < p->nkeys; j++) {
            if (j == p->ts_key)
                idx[j] = ts_rel(L, MT(i));
            else if ((rc = key_idx(L, c, i, j, &idx[j])))
                return rc;
        }
        if ((rc = group_idx(L, idx, &sg[k])))
            return rc;
    }
#undef MT
    return 0;
}

/* stage_extras: per-row work for value arrays, Q, distinct viewers and the
 * per-session fields, in row order like the record path. */
static int stage_extras(struct lane *L, const struct vex_columns *c, size_t lo, size_t ns)
{
    const struct plan *p = L->p;
    struct vex_agg *a = L->a;
    int rc;
    if (p->want_q || p->want_qv) {
        /* Q of every selected row first, in a loop of its own: nothing is
         * stored but qb, so the rows overlap (colq.h has no branches).
         * Rows Q does not count get a value that is never read. */
        const uint32_t *sel = L->sel;
        const uint16_t *fl = c->flags + lo;
        const uint32_t *st = c->startup_ms + lo, *pm = c->play_ms + lo, *cm = c->cirr_ms + lo;
        const uint32_t *vm = c->vrt_ms + lo, *km = c->kbps_known_ms + lo;
        const double *kb = c->kbps_ms + lo;
        double *qb = L->qb;
        for (size_t k = 0; k < ns; k++) {
            uint32_t r = sel[k];
            qb[k] = vex_colq_score(fl[r], st[r], pm[r], cm[r], vm[r], kb[r], km[r]);
        }
    }
    for (size_t k = 0; k < ns; k++) {
        if (!(L->cand[L->sel[k]] & C_BEL))
            continue;
        size_t i = lo + L->sel[k];
        uint32_t g = L->sg[k];
        unsigned f = c->flags[i];
        if (p->want_lat && (f & F_PLAYED) &&
            (rc = vex_aggregate_pvec_push(&a->lat, g, (double)c->startup_ms[i])))
            return rc;
        if ((p->want_q || p->want_qv) && (f & (F_PLAYED | F_VSF))) {
            /* Q (SPEC 4.2) straight from the columns, bit for bit
             * vex_record_q's (colq.h). */
            double qv = L->qb[k];
            if (p->want_q) {
                a->accs[g].q_sum += qv;
                a->accs[g].q_n++;
            }
            if (p->want_qv && (rc = vex_aggregate_pvec_push(&a->qv, g, qv)))
                return rc;
        }
        if (p->want_uniq) {
            uint32_t id;
            if ((rc = idm_get(L, &L->idm[VEX_DIM_SUBSCRIBERID], c->dict, c->dict_size,
                              vex_columns_dim(c, VEX_DIM_SUBSCRIBERID, i), &id)))
                return rc;
            if (id != 0 && (rc = vex_aggregate_uniq_add(a, g, id)))
                return rc;
        }
        if (p->want_sinfo && !a->sinfo[g].set) {
            struct vex_sinfo *si = &a->sinfo[g];
            si->attempt_ts = c->attempt_ts[i];
            si->last_ts = vex_columns_last_ts(c, i);
            si->play_ms = c->play_ms[i];
            si->closed = (uint8_t)closed_at(c, i);
            si->set = 1;
            if (p->want_ip && (rc = idm_get(L, &L->idm[VEX_DIM_IP], c->dict, c->dict_size,
                                            vex_columns_dim(c, VEX_DIM_IP, i), &si->ip)))
                return rc;
            if (p->want_title && (rc = idm_get(L, &L->idm[VEX_DIM_TITLE], c->dict, c->dict_size,
                                               vex_columns_dim(c, VEX_DIM_TITLE, i),
                                               &si->title)))
                return rc;
        }
    }
    return 0;
}

/* stage_ext0: endedplays and concurviewavg without group keys, over every
 * row of the block (a row without C_END or C_CON adds 0), in locals. */
static void stage_ext0(struct lane *L, const struct vex_columns *c, size_t lo, size_t n)
{
    const struct plan *p = L->p;
    const uint8_t *cand = L->cand;
    const int64_t *at = c->attempt_ts + lo;
    const uint32_t *dt = c->last_dt + lo;
    const int64_t s_ms = p->s_ms, e_ms = p->e_ms;
    uint32_t ended = 0;
    int64_t overlap = 0;
    for (size_t r = 0; r < n; r++) {
        unsigned bits = cand[r];
        int64_t lt = at[r] + (int64_t)dt[r];
        int64_t ov_lo = at[r] > s_ms ? at[r] : s_ms;
        int64_t ov_hi = lt < e_ms ? lt : e_ms;
        ended += (bits & C_END) >> 1;
        overlap += (ov_hi - ov_lo) & -(int64_t)((bits & C_CON) >> 2);
    }
    L->a->accs[0].endedplays += ended;
    L->a->accs[0].overlap_ms += overlap;
}

/* ext_direct is stage_cand's rules of endedplays and concurviewavg and
 * stage_ext0 in one loop without branches, for an ext_only query that no
 * `filter` or `qoefilter` narrows: nothing per row is kept. */
static void ext_direct(struct lane *L, const struct vex_columns *c, size_t lo, size_t n)
{
    const struct plan *p = L->p;
    const uint16_t *fl = c->flags + lo;
    const int64_t *at = c->attempt_ts + lo;
    const uint32_t *dt = c->last_dt + lo;
    const uint64_t s = (uint64_t)p->s_ms, span = p->span_ms;
    const int64_t s_ms = p->s_ms, e_ms = p->e_ms, now = c->now_ms, timeout = c->timeout_ms;
    const unsigned ok0 = p->st_ok[0], ok1 = p->st_ok[1];
    const unsigned want_end = p->want_ended != 0, want_con = p->want_concur != 0;
    uint32_t ended = 0;
    int64_t overlap = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned f = fl[i];
        unsigned ok = (f & VEX_COL_LIVE) ? ok1 : ok0;
        int64_t t = at[i] + (int64_t)dt[i];
        unsigned closed = ((f & VEX_COL_STATE_MASK) == VEX_STATE_ENDED) | (now - t > timeout);
        unsigned played = (f & F_PLAYED) != 0;
        unsigned end = played & ((uint64_t)t - s < span) & closed;
        int64_t ov_lo = at[i] > s_ms ? at[i] : s_ms;
        int64_t ov_hi = t < e_ms ? t : e_ms;
        unsigned con = ov_hi > ov_lo;
        ended += ok & end & want_end;
        overlap += (ov_hi - ov_lo) & -(int64_t)(ok & con & want_con);
    }
    L->a->accs[0].endedplays += ended;
    L->a->accs[0].overlap_ms += overlap;
}

/* stage_ext: endedplays and concurviewavg, each by its own time rule, with
 * group keys. */
static int stage_ext(struct lane *L, const struct vex_columns *c, size_t lo, size_t ns)
{
    const struct plan *p = L->p;
    int rc;
    for (size_t k = 0; k < ns; k++) {
        unsigned bits = L->cand[L->sel[k]];
        if (!(bits & (C_END | C_CON)))
            continue;
        size_t i = lo + L->sel[k];
        int64_t at = c->attempt_ts[i], lt = vex_columns_last_ts(c, i);
        int64_t ov_lo = at > p->s_ms ? at : p->s_ms;
        int64_t ov_hi = lt < p->e_ms ? lt : p->e_ms;
        if (p->ts_key < 0) {
            struct vex_acc *a = &L->a->accs[L->sg[k]];
            if (bits & C_END)
                a->endedplays++;
            if (bits & C_CON)
                a->overlap_ms += ov_hi - ov_lo;
            continue;
        }
        uint32_t idx[VEX_Q_MAXKEYS], g;
        for (int j = 0; j < p->nkeys; j++) {
            if (j != p->ts_key && (rc = key_idx(L, c, i, j, &idx[j])))
                return rc;
        }
        if (bits & C_END) {
            idx[p->ts_key] = ts_rel(L, lt);
            if ((rc = group_idx(L, idx, &g)))
                return rc;
            L->a->accs[g].endedplays++;
        }
        if (bits & C_CON) {
            /* A session is concurrent in every bucket it overlaps (SPEC 4.7). */
            int64_t size = p->size_ms;
            for (int64_t b = ov_lo / size * size; b < ov_hi; b += size) {
                int64_t blo = b > ov_lo ? b : ov_lo;
                int64_t bhi = b + size < ov_hi ? b + size : ov_hi;
                idx[p->ts_key] = (uint32_t)(b / size - p->base_idx);
                if ((rc = group_idx(L, idx, &g)))
                    return rc;
                L->a->accs[g].overlap_ms += bhi - blo;
            }
        }
    }
    return 0;
}

/* lane_rows aggregates rows [lo, hi) of run `seq` into the lane. */
static int lane_rows(struct lane *L, const struct vex_columns *c, size_t lo, size_t hi,
                     uint64_t seq)
{
    const struct plan *p = L->p;
    int rc = run_start(L, c, seq);
    if (rc)
        return rc;
    for (size_t b = lo; b < hi; b += BLOCK) {
        size_t n = hi - b < BLOCK ? hi - b : BLOCK;
        if (p->ext_only && !p->fmaps && !p->q->qoe) {
            ext_direct(L, c, b, n);
            continue;
        }
        stage_cand(L, c, b, n);
        if (p->fmaps)
            stage_filter(L, c, b, n);
        if (p->q->qoe)
            stage_qoe(L, c, b, n);
        if (p->nkeys == 0) {
            if (!p->ext_only)
                sums0(L, c, b, n);
            if (p->ext)
                stage_ext0(L, c, b, n);
            if (!p->extras)
                continue;
        }
        if (p->dims_only) {
            if ((rc = sums_dims(L, c, b, n)))
                return rc;
            continue;
        }
        size_t ns = 0;
        for (size_t r = 0; r < n; r++) {
            L->sel[ns] = (uint32_t)r;
            ns += L->cand[r] != 0;
        }
        if ((rc = stage_groups(L, c, b, ns)))
            return rc;
        if (p->nkeys > 0 && (rc = sums_grouped(L, c, b, ns)))
            return rc;
        if (p->extras && (rc = stage_extras(L, c, b, ns)))
            return rc;
        if (p->ext && p->nkeys > 0 && (rc = stage_ext(L, c, b, ns)))
            return rc;
    }
    return 0;
}

static void lane_init(struct lane *L, struct vex_agg *a, const struct plan *p)
{
    memset(L, 0, sizeof *L);
    L->a = a;
    L->p = p;
}

/* lane_ready starts the grid: a few values per dimension, every bucket of
 * the period, both streamtypes. sessionid keys hash from the start. */
static int lane_ready(struct lane *L)
{
    const struct plan *p = L->p;
    if (p->nkeys == 0 || p->sidmap)
        return 0;
    for (int j = 0; j < p->nkeys; j++)
        L->key[j].bits = p->kind[j] == K_TS ? p->ts_bits : p->kind[j] == K_ST ? 1 : 3;
    return grid_build(L);
}

static void lane_deinit(struct lane *L)
{
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        cmap_free(&L->idm[d]);
        cmap_free(&L->fm[d]);
    }
    cmap_free(&L->sidm);
    for (int j = 0; j < VEX_Q_MAXKEYS; j++) {
        cmap_free(&L->key[j].km);
        free(L->key[j].lid);
        free(L->key[j].lval);
    }
    free(L->grid);
    free(L->gidx);
    free(L->fh);
    free(L->g1);
    free(L->hk);
    free(L->hv);
}

/* ---- two threads ---- */

/* Rows a thread takes of a lane at a time: a multiple of BLOCK, so a lane
 * sees the same blocks whichever thread runs them. */
#define CHUNK (64 * BLOCK)

static int claimable(const struct colrun *R, int l)
{
    return R->job && !R->job_rc && !R->busy[l] && R->next[l] < R->end[l];
}

/* work_on runs chunks of the current run, of lane `me` first, then of the
 * other one, until none is left to take; called and returns with mu held.
 * A lane's rows are still added in their order and by one thread at a
 * time, so the answer is the same whoever runs them; but a helper the
 * machine is slow to wake (two shared cores, virtual CPUs) no longer holds
 * the query up by a whole half. */
static void work_on(struct colrun *R, int me)
{
    for (;;) {
        int l = claimable(R, me) ? me : claimable(R, !me) ? !me : -1;
        if (l < 0)
            return;
        size_t lo = R->next[l];
        size_t hi = R->end[l] - lo > CHUNK ? lo + CHUNK : R->end[l];
        const struct vex_columns *c = R->job;
        uint64_t seq = R->job_seq;
        R->next[l] = hi;
        R->busy[l] = 1;
        pthread_mutex_unlock(&R->mu);
        int rc = lane_rows(&R->lane[l], c, lo, hi, seq);
        pthread_mutex_lock(&R->mu);
        R->busy[l] = 0;
        if (rc && !R->job_rc)
            R->job_rc = rc;
        pthread_cond_broadcast(&R->cv);
    }
}

static void *helper_main(void *arg)
{
    struct colrun *R = arg;
    pthread_mutex_lock(&R->mu);
    for (;;) {
        while (!R->quit && !claimable(R, 1) && !claimable(R, 0))
            pthread_cond_wait(&R->cv, &R->mu);
        if (R->quit)
            break;
        work_on(R, 1);
    }
    pthread_mutex_unlock(&R->mu);
    return NULL;
}

/* start_helper readies lane 1 and its thread; when that fails the scan goes
 * on with one thread, which gives the same answer. */
static void start_helper(struct colrun *R, const struct vex_query *q)
{
    R->solo = 1;
    if (vex_aggregate_init(&R->agg1, q)) {
        vex_aggregate_deinit(&R->agg1);
        return;
    }
    lane_init(&R->lane[1], &R->agg1, &R->p);
    if (lane_ready(&R->lane[1]))
        goto fail;
    if (pthread_mutex_init(&R->mu, NULL))
        goto fail;
    if (pthread_cond_init(&R->cv, NULL)) {
        pthread_mutex_destroy(&R->mu);
        goto fail;
    }
    if (pthread_create(&R->th, NULL, helper_main, R)) {
        pthread_cond_destroy(&R->cv);
        pthread_mutex_destroy(&R->mu);
        goto fail;
    }
    R->two = 1;
    R->solo = 0;
    return;
fail:
    lane_deinit(&R->lane[1]);
    vex_aggregate_deinit(&R->agg1);
}

static void stop_helper(struct colrun *R)
{
    pthread_mutex_lock(&R->mu);
    R->quit = 1;
    pthread_cond_broadcast(&R->cv);
    pthread_mutex_unlock(&R->mu);
    pthread_join(R->th, NULL);
    pthread_cond_destroy(&R->cv);
    pthread_mutex_destroy(&R->mu);
}

/* ---- pre-aggregated runs ---- */

/* side tells where the rows of a run whose times span [lo, hi] stand
 * against [s, e): 1 all inside, 0 all outside, -1 some of each. */
static int side(int64_t lo, int64_t hi, int64_t s, int64_t e)
{
    if (lo >= s && hi < e)
        return 1;
    if (hi < s || lo >= e)
        return 0;
    return -1;
}

/* pre_fits tells whether run c can be added from its pre-aggregate: every
 * time rule the query uses puts all of its rows on the same side. */
static int pre_fits(const struct plan *p, const struct vex_columns *c, int *bel, int *end,
                    int *con)
{
    const struct vex_colpre *pre = c->pre;
    if (!pre || !p->pre_ok || (p->nkeys == 1 && pre->key_dim != p->dim[0]))
        return 0;
    *bel = *end = *con = 0;
    if (!p->ext_only) {
        *bel = p->ended ? side(pre->lt_min, pre->lt_max, p->s_ms, p->e_ms)
                        : side(pre->at_min, pre->at_max, p->s_ms, p->e_ms);
        if (*bel < 0)
            return 0;
    }
    if (p->want_ended && (*end = side(pre->lt_min, pre->lt_max, p->s_ms, p->e_ms)) < 0)
        return 0;
    if (p->want_concur) {
        /* Overlap is last_ts - attempt_ts (when positive) for a session
         * inside [S, E], none for one that ends by S or starts from E. */
        if (pre->at_min >= p->s_ms && pre->lt_max <= p->e_ms)
            *con = 1;
        else if (pre->lt_max <= p->s_ms || pre->at_min >= p->e_ms)
            *con = 0;
        else
            return 0;
    }
    return 1;
}

/* pre_add adds the sums s of one streamtype as the scan adds rows: the
 * period's sums when bel, endedplays when end, the overlap when con. */
static void pre_add(const struct plan *p, struct vex_acc *a, const struct vex_colsums *s,
                    int bel, int end, int con)
{
    if (bel) {
        a->attempts += s->attempts;
        a->played += s->played;
        a->vsf += s->vsf;
        a->vpf += s->vpf;
        a->errors += s->errors;
        a->ebvs += s->ebvs;
        a->rebuffers += s->rebuffers;
        a->play_ms += s->play_ms;
        a->cirr_ms += s->cirr_ms;
        a->vrt_ms += s->vrt_ms;
        a->startup_ms += s->startup_ms;
        a->kbps_known_ms += s->kbps_known_ms;
        a->kbps_ms += s->kbps_ms;
        if (p->want_q) {
            a->q_sum += s->q_sum;
            a->q_n += s->q_n;
        }
    }
    if (end)
        a->endedplays += s->endedplays;
    if (con)
        a->overlap_ms += s->dur_ms;
}

/* run_pre adds run c from its pre-aggregate (pre_fits said it may). */
static int run_pre(struct lane *L, const struct vex_columns *c, uint64_t seq, int bel, int end,
                   int con)
{
    const struct plan *p = L->p;
    const struct vex_colpre *pre = c->pre;
    if (p->nkeys == 0) {
        for (int live = 0; live < 2; live++)
            if (p->st_ok[live])
                pre_add(p, &L->a->accs[0], &pre->all[live], bel, end, con);
        return 0;
    }
    /* One dimension key, sums only (no endedplays, no overlap): a group
     * exists for a value once one of its sessions belongs to the period. */
    if (!bel)
        return 0;
    int rc = run_start(L, c, seq);
    if (rc)
        return rc;
    const size_t dn = c->dict_size;
    for (size_t k = 0; k < pre->nkeys; k++) {
        const struct vex_colsums *s = &pre->key_sums[2 * k];
        if (!((p->st_ok[0] && s[0].attempts) || (p->st_ok[1] && s[1].attempts)))
            continue;
        uint32_t code = pre->key_code[k] < dn ? pre->key_code[k] : 0, idx, g;
        uint64_t e = L->key[0].km.e[code];
        idx = (uint32_t)e;
        if ((uint32_t)(e >> 32) != L->gen && (rc = key_miss(L, c, 0, code, &idx)))
            return rc;
        if ((rc = group_idx(L, &idx, &g)))
            return rc;
        for (int live = 0; live < 2; live++)
            if (p->st_ok[live])
                pre_add(p, &L->a->accs[g], &s[live], 1, 0, 0);
    }
    return 0;
}

static int visit_columns(void *ctx, const struct vex_columns *c)
{
    struct colrun *R = ctx;
    size_t n = c->rows;
    int bel, end, con;
    if (c->nrecs) {
        /* Sessions too wide for the columns go through the record path, into
         * an aggregation of their own, merged at the end. */
        if (!R->have_w) {
            int rc = vex_aggregate_init(&R->aggw, R->p.q);
            if (rc) {
                vex_aggregate_deinit(&R->aggw);
                return rc;
            }
            R->have_w = 1;
        }
        int rc = vex_aggregate_visit(&R->aggw, c->recs, c->nrecs);
        if (rc)
            return rc;
    }
    if (n == 0)
        return 0;
    if (pre_fits(&R->p, c, &bel, &end, &con)) {
        __atomic_fetch_add(&vex_colscan_pre_runs, 1, __ATOMIC_RELAXED);
        return run_pre(&R->lane[0], c, ++R->seq, bel, end, con);
    }
    size_t th = vex_colscan_mt_rows;
    R->seq++;
    R->seen += n;
    int split = n >= 2 && th != SIZE_MAX && R->seen >= th && n >= th / 16;
    if (split && !R->two && !R->solo)
        start_helper(R, R->p.q);
    if (!split || !R->two)
        return lane_rows(&R->lane[0], c, 0, n, R->seq);
    /* Lane 0 takes the first half, lane 1 the second. */
    size_t mid = n / 2;
    pthread_mutex_lock(&R->mu);
    R->job = c;
    R->job_seq = R->seq;
    R->next[0] = 0;
    R->end[0] = mid;
    R->next[1] = mid;
    R->end[1] = n;
    R->job_rc = 0;
    pthread_cond_broadcast(&R->cv);
    for (;;) {
        work_on(R, 0);
        /* Nothing left to take: done once nobody is still working. */
        if (!R->busy[0] && !R->busy[1])
            break;
        pthread_cond_wait(&R->cv, &R->mu);
    }
    int rc = R->job_rc;
    R->job = NULL;
    pthread_mutex_unlock(&R->mu);
    return rc;
}

int vex_colscan_run(struct vex_agg *a, const struct vex_source *src, const char *customer,
                    int64_t from_ms, int64_t to_ms)
{
    struct colrun *R = calloc(1, sizeof *R);
    if (!R)
        return VEX_ENOMEM;
    plan_init(&R->p, a);
    lane_init(&R->lane[0], a, &R->p);
    int rc = lane_ready(&R->lane[0]);
    if (!rc)
        rc = src->scan_columns(src->self, customer, from_ms, to_ms, visit_columns, R);
    fold_hist(&R->lane[0]);
    if (R->two) {
        stop_helper(R);
        fold_hist(&R->lane[1]);
        if (!rc)
            rc = vex_aggregate_merge(a, &R->agg1);
        lane_deinit(&R->lane[1]);
        vex_aggregate_deinit(&R->agg1);
    }
    if (R->have_w) {
        if (!rc)
            rc = vex_aggregate_merge(a, &R->aggw);
        vex_aggregate_deinit(&R->aggw);
    }
    lane_deinit(&R->lane[0]);
    free(R);
    return rc;
}
