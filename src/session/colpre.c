/* colpre.c - pre-aggregates of column runs of closed sessions.
 *
 * The sums are those of the query engine's scan (query/colscan.c, which
 * adds them per row): a row's flags give the counts, its record fields the
 * sums, and Q comes from vex_record_q, which the columnar Q reproduces bit
 * for bit. Double sums are added in row order; the engine may add whole
 * pre-aggregates in another order (SPEC: sums may be added in any order). */
#include "session/colpre.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "session/record.h"

/* add_row adds row i of c to s. */
static void add_row(struct vex_colsums *s, const struct vex_columns *c, size_t i)
{
    unsigned f = c->flags[i];
    unsigned played = (f & VEX_COL_PLAYED) != 0, vsf = (f & VEX_COL_VSF) != 0;
    s->attempts++;
    s->played += played;
    s->vsf += vsf;
    s->vpf += (f & VEX_COL_VPF) != 0;
    s->errors += (f & VEX_COL_ERRORS) != 0;
    s->ebvs += !played && !vsf; /* every row is closed */
    s->endedplays += played;
    s->rebuffers += c->rebuffers[i];
    s->play_ms += c->play_ms[i];
    s->cirr_ms += c->cirr_ms[i];
    s->vrt_ms += c->vrt_ms[i];
    if (played)
        s->startup_ms += c->startup_ms[i];
    s->kbps_known_ms += c->kbps_known_ms[i];
    s->kbps_ms += c->kbps_ms[i];
    s->dur_ms += c->last_dt[i]; /* last_ts - attempt_ts, never negative in a row */
    if (played || vsf) {
        struct vex_record r;
        memset(&r, 0, sizeof r);
        r.startup_ms = c->startup_ms[i];
        r.play_ms = c->play_ms[i];
        r.cirr_ms = c->cirr_ms[i];
        r.vrt_ms = c->vrt_ms[i];
        r.kbps_ms = c->kbps_ms[i];
        r.kbps_known_ms = c->kbps_known_ms[i];
        r.vsf = (uint8_t)vsf;
        r.vpf = (f & VEX_COL_VPF) != 0;
        s->q_sum += vex_record_q(&r);
        s->q_n++;
    }
}

/* A small open-addressing map from dictionary code to key index. */
struct kmap {
    uint32_t *slot; /* code + 1, 0: empty */
    uint32_t *idx;
    size_t cap, n;
};

static size_t kslot(const struct kmap *m, uint32_t code)
{
    size_t j = ((uint64_t)code * 0x9e3779b97f4a7c15ULL >> 20) & (m->cap - 1);
    while (m->slot[j] && m->slot[j] != code + 1)
        j = (j + 1) & (m->cap - 1);
    return j;
}

static int kmap_grow(struct kmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct kmap n = {calloc(cap, sizeof *n.slot), calloc(cap, sizeof *n.idx), cap, m->n};
    if (!n.slot || !n.idx) {
        free(n.slot);
        free(n.idx);
        return VEX_ENOMEM;
    }
    for (size_t j = 0; j < m->cap; j++) {
        if (!m->slot[j])
            continue;
        size_t k = kslot(&n, m->slot[j] - 1);
        n.slot[k] = m->slot[j];
        n.idx[k] = m->idx[j];
    }
    free(m->slot);
    free(m->idx);
    *m = n;
    return 0;
}

int vex_colpre_build(const struct vex_columns *c, size_t lo, size_t hi, int key_dim,
                     struct vex_colpre *out)
{
    memset(out, 0, sizeof *out);
    out->key_dim = key_dim;
    if (lo >= hi || hi > c->rows || key_dim < 0 || key_dim >= VEX_DIM_COUNT)
        return VEX_EINVAL;
    struct kmap m = {0};
    uint32_t *codes = NULL;
    struct vex_colsums *ks = NULL;
    size_t kcap = 0;
    int rc = VEX_EINVAL;
    out->at_min = out->lt_min = INT64_MAX;
    out->at_max = out->lt_max = INT64_MIN;
    for (size_t i = lo; i < hi; i++) {
        int closed = (c->flags[i] & VEX_COL_STATE_MASK) == VEX_STATE_ENDED ||
                     c->now_ms - vex_columns_last_ts(c, i) > c->timeout_ms;
        if (!closed) {
            rc = VEX_EINVAL;
            goto fail;
        }
        int64_t at = c->attempt_ts[i], lt = vex_columns_last_ts(c, i);
        out->at_min = at < out->at_min ? at : out->at_min;
        out->at_max = at > out->at_max ? at : out->at_max;
        out->lt_min = lt < out->lt_min ? lt : out->lt_min;
        out->lt_max = lt > out->lt_max ? lt : out->lt_max;
        unsigned live = (c->flags[i] & VEX_COL_LIVE) != 0;
        add_row(&out->all[live], c, i);

        uint32_t code = vex_columns_dim(c, key_dim, i);
        if ((m.n + 1) * 2 > m.cap && (rc = kmap_grow(&m)))
            goto fail;
        size_t j = kslot(&m, code);
        if (!m.slot[j]) {
            if (out->nkeys == kcap) {
                size_t cap = kcap ? kcap * 2 : 16;
                uint32_t *nc = realloc(codes, cap * sizeof *nc);
                if (nc)
                    codes = nc;
                struct vex_colsums *ns = realloc(ks, 2 * cap * sizeof *ns);
                if (ns)
                    ks = ns;
                rc = VEX_ENOMEM;
                if (!nc || !ns)
                    goto fail;
                kcap = cap;
            }
            m.slot[j] = code + 1;
            m.idx[j] = (uint32_t)out->nkeys;
            m.n++;
            codes[out->nkeys] = code;
            memset(&ks[2 * out->nkeys], 0, 2 * sizeof *ks);
            out->nkeys++;
        }
        add_row(&ks[2 * (size_t)m.idx[j] + live], c, i);
    }
    free(m.slot);
    free(m.idx);
    out->key_code = codes;
    out->key_sums = ks;
    return 0;
fail:
    free(m.slot);
    free(m.idx);
    free(codes);
    free(ks);
    out->nkeys = 0;
    return rc;
}

void vex_colpre_deinit(struct vex_colpre *p)
{
    if (!p)
        return;
    free((void *)p->key_code);
    free((void *)p->key_sums);
    p->key_code = NULL;
    p->key_sums = NULL;
    p->nkeys = 0;
}
