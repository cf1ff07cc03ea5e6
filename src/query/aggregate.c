/* aggregate.c - one pass over the scanned records into per-group sums.
 *
 * A group is one combination of group-key values: strpool ids for strings,
 * bucket start seconds for `timestamp`. Groups live in parallel arrays (key
 * values, sums, per-session info) found through an open-addressing table of
 * their key hash. Per record: decide membership (SPEC 4.1), the endpoint's
 * streamtype, `filter` and `qoefilter`; then add the record to the group of
 * its membership time, count it in `endedplays` of the group of its last_ts
 * and spread its overlap with the period over the groups (buckets) it covers
 * for `concurviewavg`. A group fed only by the last two rules exists but is
 * not a row unless a session belongs to it (envelope.c).
 *
 * Nothing is allocated per record except amortised growth: value arrays only
 * when a percentile was asked for, the distinct set only for
 * uniqueviewercount.
 *
 * The group table, value arrays and distinct set are also what colscan.c
 * fills from columns, and vex_aggregate_merge joins two of them (the halves
 * of a scan aggregated by two threads). */
#include "query/query_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint32_t key_hash(const uint64_t *key, int n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < n; i++)
        h = (h ^ key[i]) * 0x100000001b3ULL + (uint64_t)i;
    h = mix64(h);
    return (uint32_t)(h ^ (h >> 32));
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int grow_groups(struct vex_agg *a)
{
    uint32_t cap = a->cap ? a->cap * 2 : 64;
    size_t nk = a->nkeys ? (size_t)a->nkeys : 1;
    uint64_t *kv = realloc(a->keyvals, (size_t)cap * nk * sizeof *kv);
    if (!kv)
        return VEX_ENOMEM;
    a->keyvals = kv;
    uint32_t *gh = realloc(a->ghash, (size_t)cap * sizeof *gh);
    if (!gh)
        return VEX_ENOMEM;
    a->ghash = gh;
    struct vex_acc *acc = realloc(a->accs, (size_t)cap * sizeof *acc);
    if (!acc)
        return VEX_ENOMEM;
    memset(acc + a->cap, 0, (size_t)(cap - a->cap) * sizeof *acc);
    a->accs = acc;
    if (a->want_sinfo) {
        struct vex_sinfo *si = realloc(a->sinfo, (size_t)cap * sizeof *si);
        if (!si)
            return VEX_ENOMEM;
        memset(si + a->cap, 0, (size_t)(cap - a->cap) * sizeof *si);
        a->sinfo = si;
    }
    a->cap = cap;
    return 0;
}

static int grow_slots(struct vex_agg *a)
{
    uint32_t n = a->nslots ? a->nslots * 2 : 128;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return VEX_ENOMEM;
    for (uint32_t g = 0; g < a->ngroups; g++) {
        uint32_t j = a->ghash[g] & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = g + 1;
    }
    free(a->slots);
    a->slots = slots;
    a->nslots = n;
    return 0;
}

int vex_aggregate_group(struct vex_agg *a, const uint64_t *key, uint32_t *out)
{
    int nk = a->nkeys;
    if (nk == 0) {
        *out = 0;
        return 0;
    }
    uint32_t h = key_hash(key, nk);
    uint32_t mask = a->nslots - 1;
    uint32_t j = h & mask;
    while (a->slots[j]) {
        uint32_t g = a->slots[j] - 1;
        if (a->ghash[g] == h && memcmp(a->keyvals + (size_t)g * nk, key, (size_t)nk * 8) == 0) {
            *out = g;
            return 0;
        }
        j = (j + 1) & mask;
    }
    if (a->ngroups == UINT32_MAX - 1)
        return VEX_EFULL;
    if (a->ngroups == a->cap && grow_groups(a))
        return VEX_ENOMEM;
    uint32_t g = a->ngroups++;
    memcpy(a->keyvals + (size_t)g * nk, key, (size_t)nk * 8);
    a->ghash[g] = h;
    if ((uint64_t)a->ngroups * 2 > a->nslots) {
        if (grow_slots(a))
            return VEX_ENOMEM;
    } else {
        a->slots[j] = g + 1;
    }
    *out = g;
    return 0;
}

/* intern returns the strpool id of s, through the per-batch pointer cache of
 * column `col`. 0 (the empty string's id) doubles as the answer for "". */
static int intern(struct vex_agg *a, int col, const char *s, uint32_t *id)
{
    if (!s || !s[0]) {
        *id = 0;
        return 0;
    }
    struct vex_pcache *c = &a->pcache[col][((uintptr_t)s >> 3) & 63];
    if (c->gen == a->gen && c->p == s) {
        *id = c->id;
        return 0;
    }
    int rc = vex_strpool_intern(a->strs, s, strlen(s), id);
    if (rc)
        return rc;
    c->p = s;
    c->id = *id;
    c->gen = a->gen;
    return 0;
}

int vex_aggregate_pvec_push(struct vex_pvec *v, uint32_t g, double x)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        struct vex_pv *nv = realloc(v->v, cap * sizeof *nv);
        if (!nv)
            return VEX_ENOMEM;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n].g = g;
    v->v[v->n].v = x;
    v->n++;
    return 0;
}

#define USET_EMPTY UINT64_MAX

static int uset_grow(struct vex_agg *a)
{
    size_t n = a->uset_slots ? a->uset_slots * 2 : 1024;
    uint64_t *s = malloc(n * sizeof *s);
    if (!s)
        return VEX_ENOMEM;
    memset(s, 0xff, n * sizeof *s);
    for (size_t i = 0; i < a->uset_slots; i++) {
        uint64_t k = a->uset[i];
        if (k == USET_EMPTY)
            continue;
        size_t j = mix64(k) & (n - 1);
        while (s[j] != USET_EMPTY)
            j = (j + 1) & (n - 1);
        s[j] = k;
    }
    free(a->uset);
    a->uset = s;
    a->uset_slots = n;
    return 0;
}

int vex_aggregate_uniq_add(struct vex_agg *a, uint32_t g, uint32_t id)
{
    if ((a->uset_n + 1) * 2 > a->uset_slots && uset_grow(a))
        return VEX_ENOMEM;
    uint64_t k = (uint64_t)g << 32 | id;
    size_t mask = a->uset_slots - 1;
    size_t j = mix64(k) & mask;
    while (a->uset[j] != USET_EMPTY) {
        if (a->uset[j] == k)
            return 0;
        j = (j + 1) & mask;
    }
    a->uset[j] = k;
    a->uset_n++;
    a->accs[g].uniq++;
    return 0;
}

int vex_aggregate_init(struct vex_agg *a, const struct vex_query *q)
{
    memset(a, 0, sizeof *a);
    a->q = q;
    a->s_ms = q->start_s * 1000;
    a->e_ms = q->end_s * 1000;
    a->nkeys = q->nkeys;
    a->ts_key = -1;
    for (int i = 0; i < q->nkeys; i++) {
        if (q->keys[i].kind == VEX_QKEY_TIMESTAMP)
            a->ts_key = i;
        if (q->keys[i].kind == VEX_QKEY_SESSIONID)
            a->want_sinfo = 1;
    }
    uint32_t mm = q->metric_mask;
    a->want_q = (mm >> VEX_M_QOE) & 1;
    a->want_lat = (mm & (1u << VEX_M_MEDIAN_LATENCY | 1u << VEX_M_P95_LATENCY |
                         1u << VEX_M_P99_LATENCY)) != 0;
    a->want_qv = (mm >> VEX_M_MEDIAN_QOE) & 1;
    a->want_uniq = (mm >> VEX_M_UNIQUEVIEWERCOUNT) & 1;
    a->want_ended = (mm >> VEX_M_ENDEDPLAYS) & 1;
    a->want_concur = (mm >> VEX_M_CONCURVIEWAVG) & 1;
    if (vex_strpool_create(&a->strs) || vex_strpool_intern(a->strs, "live", 4, &a->id_live) ||
        vex_strpool_intern(a->strs, "vod", 3, &a->id_vod) || grow_groups(a) || grow_slots(a))
        return VEX_ENOMEM;
    if (a->nkeys == 0)
        a->ngroups = 1; /* the single row exists even when nothing belongs */
    return 0;
}

void vex_aggregate_deinit(struct vex_agg *a)
{
    vex_strpool_destroy(a->strs);
    free(a->keyvals);
    free(a->ghash);
    free(a->accs);
    free(a->sinfo);
    free(a->slots);
    free(a->lat.v);
    free(a->qv.v);
    for (int i = 0; i < VEX_PCT_COUNT; i++)
        free(a->pct[i]);
    free(a->uset);
    memset(a, 0, sizeof *a);
}

/* belong adds a belonging session to group g. */
static int belong(struct vex_agg *a, uint32_t g, const struct vex_record *r)
{
    int rc;
    vex_metric_acc_add(&a->accs[g], r, a->want_q);
    if (a->want_lat && r->played &&
        (rc = vex_aggregate_pvec_push(&a->lat, g, (double)r->startup_ms)))
        return rc;
    if (a->want_qv && (r->played || r->vsf) &&
        (rc = vex_aggregate_pvec_push(&a->qv, g, vex_record_q(r))))
        return rc;
    if (a->want_uniq) {
        const char *sub = r->dims[VEX_DIM_SUBSCRIBERID];
        uint32_t id;
        if (sub && sub[0]) {
            if ((rc = intern(a, VEX_DIM_SUBSCRIBERID, sub, &id)) ||
                (rc = vex_aggregate_uniq_add(a, g, id)))
                return rc;
        }
    }
    if (a->want_sinfo && !a->sinfo[g].set) {
        struct vex_sinfo *si = &a->sinfo[g];
        si->attempt_ts = r->attempt_ts;
        si->last_ts = r->last_ts;
        si->play_ms = r->play_ms;
        si->closed = r->closed;
        si->set = 1;
        if ((a->q->field_mask >> VEX_QF_IPADDRESS) & 1 &&
            (rc = intern(a, VEX_DIM_IP, r->dims[VEX_DIM_IP], &si->ip)))
            return rc;
        if ((a->q->field_mask >> VEX_QF_ASSETNAME) & 1 &&
            (rc = intern(a, VEX_DIM_TITLE, r->dims[VEX_DIM_TITLE], &si->title)))
            return rc;
    }
    return 0;
}

static int visit_one(struct vex_agg *a, const struct vex_record *r)
{
    const struct vex_query *q = a->q;
    if ((q->ep == VEX_EP_VOD && r->live) || (q->ep == VEX_EP_LIVE && !r->live))
        return 0;
    int64_t s_ms = a->s_ms, e_ms = a->e_ms;
    int64_t mt = q->ended ? r->last_ts : r->attempt_ts;
    int belongs = mt >= s_ms && mt < e_ms && (r->closed || q->allstatus);
    /* endedplays and concurviewavg ignore sessiontype and allstatus. */
    int ended = a->want_ended && r->played && r->closed && r->last_ts >= s_ms &&
                r->last_ts < e_ms;
    int64_t ov_lo = r->attempt_ts > s_ms ? r->attempt_ts : s_ms;
    int64_t ov_hi = r->last_ts < e_ms ? r->last_ts : e_ms;
    int concur = a->want_concur && ov_hi > ov_lo;
    if (!belongs && !ended && !concur)
        return 0;
    if (q->filter && !vex_filter_match(q->filter, r))
        return 0;
    if (q->qoe && !vex_filter_qoe_match(q->qoe, r, s_ms, e_ms))
        return 0;

    uint64_t key[VEX_Q_MAXKEYS];
    int rc;
    for (int i = 0; i < a->nkeys; i++) {
        const struct vex_qkey *k = &q->keys[i];
        uint32_t id = 0;
        if (k->kind == VEX_QKEY_DIM) {
            if (k->dim == VEX_QDIM_STREAMTYPE)
                id = r->live ? a->id_live : a->id_vod;
            else if ((rc = intern(a, k->dim, r->dims[k->dim], &id)))
                return rc;
        } else if (k->kind == VEX_QKEY_SESSIONID) {
            if ((rc = intern(a, VEX_DIM_COUNT, r->sid, &id)))
                return rc;
        }
        key[i] = id;
    }
    uint32_t g;
    if (a->ts_key < 0) {
        if ((rc = vex_aggregate_group(a, key, &g)))
            return rc;
        if (belongs && (rc = belong(a, g, r)))
            return rc;
        a->accs[g].endedplays += ended;
        if (concur)
            a->accs[g].overlap_ms += ov_hi - ov_lo;
        return 0;
    }
    int64_t size_ms = q->bucket_s * 1000;
    if (belongs) {
        key[a->ts_key] = (uint64_t)(floor_div(mt, size_ms) * q->bucket_s);
        if ((rc = vex_aggregate_group(a, key, &g)) || (rc = belong(a, g, r)))
            return rc;
    }
    if (ended) {
        key[a->ts_key] = (uint64_t)(floor_div(r->last_ts, size_ms) * q->bucket_s);
        if ((rc = vex_aggregate_group(a, key, &g)))
            return rc;
        a->accs[g].endedplays++;
    }
    if (concur) {
        /* A session is concurrent in every bucket it overlaps (SPEC 4.7). */
        for (int64_t b = floor_div(ov_lo, size_ms) * size_ms; b < ov_hi; b += size_ms) {
            int64_t lo = b > ov_lo ? b : ov_lo;
            int64_t hi = b + size_ms < ov_hi ? b + size_ms : ov_hi;
            key[a->ts_key] = (uint64_t)(b / 1000);
            if ((rc = vex_aggregate_group(a, key, &g)))
                return rc;
            a->accs[g].overlap_ms += hi - lo;
        }
    }
    return 0;
}

int vex_aggregate_visit(void *ctx, const struct vex_record *recs, size_t n)
{
    struct vex_agg *a = ctx;
    /* A new batch: pointers seen in the last one may now name other strings. */
    if (++a->gen == 0) {
        memset(a->pcache, 0, sizeof a->pcache);
        a->gen = 1;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = visit_one(a, &recs[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* remap_id gives the id in dst's pool of the string `id` names in src's. */
static int remap_id(struct vex_agg *dst, const struct vex_agg *src, uint32_t id, uint32_t *out)
{
    if (id == 0) {
        *out = 0;
        return 0;
    }
    return vex_strpool_intern(dst->strs, vex_strpool_get(src->strs, id),
                              vex_strpool_len(src->strs, id), out);
}

int vex_aggregate_merge(struct vex_agg *dst, const struct vex_agg *src)
{
    uint32_t *gmap = malloc((src->ngroups ? src->ngroups : 1) * sizeof *gmap);
    int nk = src->nkeys;
    int rc = VEX_ENOMEM;
    if (!gmap)
        return VEX_ENOMEM;
    for (uint32_t g = 0; g < src->ngroups; g++) {
        uint64_t key[VEX_Q_MAXKEYS];
        for (int k = 0; k < nk; k++) {
            uint64_t x = src->keyvals[(size_t)g * nk + k];
            uint32_t id;
            if (k != src->ts_key) {
                if ((rc = remap_id(dst, src, (uint32_t)x, &id)))
                    goto done;
                x = id;
            }
            key[k] = x;
        }
        uint32_t dg;
        if ((rc = vex_aggregate_group(dst, key, &dg)))
            goto done;
        gmap[g] = dg;
        vex_metric_acc_merge(&dst->accs[dg], &src->accs[g]);
        if (dst->want_sinfo && src->sinfo[g].set && !dst->sinfo[dg].set) {
            struct vex_sinfo si = src->sinfo[g];
            if ((rc = remap_id(dst, src, si.ip, &si.ip)) ||
                (rc = remap_id(dst, src, si.title, &si.title)))
                goto done;
            dst->sinfo[dg] = si;
        }
    }
    for (size_t i = 0; i < src->lat.n; i++) {
        if ((rc = vex_aggregate_pvec_push(&dst->lat, gmap[src->lat.v[i].g], src->lat.v[i].v)))
            goto done;
    }
    for (size_t i = 0; i < src->qv.n; i++) {
        if ((rc = vex_aggregate_pvec_push(&dst->qv, gmap[src->qv.v[i].g], src->qv.v[i].v)))
            goto done;
    }
    /* Distinct viewers are sets, not counts: a viewer seen by both sides
     * counts once, so the set is replayed rather than the counts added. */
    for (size_t i = 0; i < src->uset_slots; i++) {
        uint64_t k = src->uset[i];
        uint32_t id;
        if (k == USET_EMPTY)
            continue;
        if ((rc = remap_id(dst, src, (uint32_t)k, &id)) ||
            (rc = vex_aggregate_uniq_add(dst, gmap[k >> 32], id)))
            goto done;
    }
    rc = 0;
done:
    free(gmap);
    return rc;
}

/* select_rank rearranges v[lo..hi) so that v[k] holds the value a sort would
 * put there, everything before it <= and everything after it >=. Expected
 * linear time: the pivot is picked by a small xorshift (so crafted startup
 * times cannot force the quadratic case) and the three-way partition keeps
 * runs of equal values (startup_ms repeats a lot) from degrading it. */
static void select_rank(double *v, size_t lo, size_t hi, size_t k, uint64_t *rng)
{
    while (hi - lo > 1) {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        double p = v[lo + (size_t)(*rng % (hi - lo))];
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            double x = v[i];
            if (x < p) {
                v[i++] = v[lt];
                v[lt++] = x;
            } else if (x > p) {
                v[i] = v[--gt];
                v[gt] = x;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return;
    }
}

/* nearest_rank_index is the 0-based index of rank ceil(p/100 * n), computed
 * in integers so that e.g. 95 % of 20 is exactly rank 19. */
static size_t nearest_rank_index(size_t n, unsigned p)
{
    size_t k = (size_t)(((uint64_t)p * n + 99) / 100);
    return k < 1 ? 0 : k - 1;
}

/* percentiles groups the values of vec by group (a counting sort) and stores
 * the asked nearest-rank percentiles ps[] (ascending) of each group, divided
 * by divisor (ms to s for latency), in a->pct[which[i]]. */
static int percentiles(struct vex_agg *a, const struct vex_pvec *vec, const int *which,
                       const unsigned *ps, int nwhich, double divisor)
{
    uint32_t ng = a->ngroups;
    size_t *off = calloc((size_t)ng + 1, sizeof *off);
    double *vals = malloc((vec->n ? vec->n : 1) * sizeof *vals);
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    int rc = VEX_ENOMEM;
    if (!off || !vals)
        goto done;
    for (int i = 0; i < nwhich; i++) {
        a->pct[which[i]] = calloc(ng ? ng : 1, sizeof(double));
        if (!a->pct[which[i]])
            goto done;
    }
    for (size_t i = 0; i < vec->n; i++)
        off[vec->v[i].g + 1]++;
    for (uint32_t g = 0; g < ng; g++)
        off[g + 1] += off[g];
    for (size_t i = 0; i < vec->n; i++)
        vals[off[vec->v[i].g]++] = vec->v[i].v;
    /* off[g] is now the end of group g, which is the start of group g + 1. */
    for (uint32_t g = 0; g < ng; g++) {
        size_t start = g ? off[g - 1] : 0;
        size_t n = off[g] - start;
        size_t from = 0;
        if (n == 0)
            continue; /* a percentile over no value is 0 */
        for (int i = 0; i < nwhich; i++) {
            /* Ranks ascend, so each search continues right of the last. */
            size_t k = nearest_rank_index(n, ps[i]);
            select_rank(vals + start, from, n, k, &rng);
            a->pct[which[i]][g] = vals[start + k] / divisor;
            from = k;
        }
    }
    rc = 0;
done:
    free(off);
    free(vals);
    return rc;
}

int vex_aggregate_finish(struct vex_agg *a)
{
    int rc;
    if (a->want_lat) {
        static const int which[3] = {VEX_PCT_MEDIAN_LATENCY, VEX_PCT_P95_LATENCY,
                                     VEX_PCT_P99_LATENCY};
        static const unsigned ps[3] = {50, 95, 99};
        if ((rc = percentiles(a, &a->lat, which, ps, 3, 1000.0)))
            return rc;
    }
    if (a->want_qv) {
        static const int which[1] = {VEX_PCT_MEDIAN_QOE};
        static const unsigned ps[1] = {50};
        if ((rc = percentiles(a, &a->qv, which, ps, 1, 1.0)))
            return rc;
    }
    return 0;
}
