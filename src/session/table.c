/* table.c - per-customer session table and the order-independent
 * sessionizer, stored as columns.
 *
 * Row i of every column is session i (sid id i + 1 in `sids`). The record
 * columns always hold the "full" machine: the prefix plus the pending events
 * applied. A regular session (all events so far arrived in seq order from 0)
 * has prefix == full, no pending events, and dimensions that no future event
 * can override except where still unset (every future event has a higher
 * seq), so it needs no per-session extension. An irregular session has an
 * extension (struct ext) until its gaps fill. */
#include "session/table.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/strpool.h"

#define SCAN_BATCH 256

/* Internal flag bits, above the VEX_COL_* bits of backend.h. */
#define F_STARTED 0x0100u
#define F_HAS_KBPS 0x0200u
#define F_LIVE_KNOWN 0x0400u
#define F_IP_EXPLICIT 0x0800u
#define F_DIRTY 0x1000u
#define F_UNPUSHED 0x2000u

struct ext {
    struct vex_machine prefix;
    struct vex_machine_event *pending; /* sorted by seq, distinct */
    uint32_t npend, cap;
    int64_t dim_seq[VEX_DIM_COUNT]; /* -1: unset */
    int64_t live_seq;
    int64_t min_seq;
    uint32_t ip_explicit; /* code of the explicit ip (valid when dim_seq[IP] >= 0) */
    uint32_t ip_fb;       /* code of the client address of the lowest-seq event */
};

struct vex_table {
    struct vex_strpool *sids; /* sid id k <-> row k - 1 (id 0 is "") */
    struct vex_strpool *vals; /* dimension values */
    size_t n, cap;
    /* record columns (the full machine) */
    int64_t *attempt_ts, *last_ts, *startup_ms, *play_ms, *cirr_ms, *vrt_ms, *kbps_known_ms;
    double *kbps_ms, *kbps;
    uint32_t *rebuffers, *seeks, *warnings;
    uint16_t *flags;
    uint32_t *dims[VEX_DIM_COUNT];
    uint32_t *sid;
    /* sessionizer bookkeeping */
    int64_t *prefix_next;
    int64_t *last_change;
    int32_t *saved_day;
    uint32_t *ext; /* 0: regular, else index + 1 into exts */
    struct ext **exts;
    size_t nexts, capexts;
    uint32_t *free_exts;
    size_t nfree;
};

#define SAVED_NEVER INT32_MIN

int vex_table_create(struct vex_table **out)
{
    struct vex_table *t = calloc(1, sizeof *t);
    if (!t)
        return VEX_ENOMEM;
    if (vex_strpool_create(&t->sids) || vex_strpool_create(&t->vals)) {
        vex_table_destroy(t);
        return VEX_ENOMEM;
    }
    *out = t;
    return 0;
}

static void ext_free(struct ext *x)
{
    if (x) {
        free(x->pending);
        free(x);
    }
}

void vex_table_destroy(struct vex_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nexts; i++)
        ext_free(t->exts[i]);
    free(t->exts);
    free(t->free_exts);
    free(t->attempt_ts);
    free(t->last_ts);
    free(t->startup_ms);
    free(t->play_ms);
    free(t->cirr_ms);
    free(t->vrt_ms);
    free(t->kbps_known_ms);
    free(t->kbps_ms);
    free(t->kbps);
    free(t->rebuffers);
    free(t->seeks);
    free(t->warnings);
    free(t->flags);
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        free(t->dims[d]);
    free(t->sid);
    free(t->prefix_next);
    free(t->last_change);
    free(t->saved_day);
    free(t->ext);
    vex_strpool_destroy(t->sids);
    vex_strpool_destroy(t->vals);
    free(t);
}

size_t vex_table_count(const struct vex_table *t)
{
    return t->n;
}

#define ROW_BYTES                                                                        \
    (7 * sizeof(int64_t) + 2 * sizeof(double) + 3 * sizeof(uint32_t) + sizeof(uint16_t) + \
     VEX_DIM_COUNT * sizeof(uint32_t) + sizeof(uint32_t) + 2 * sizeof(int64_t) +          \
     sizeof(int32_t) + sizeof(uint32_t))

size_t vex_table_memory(const struct vex_table *t)
{
    size_t m = t->cap * ROW_BYTES + vex_strpool_bytes(t->sids) + vex_strpool_bytes(t->vals);
    for (size_t i = 0; i < t->nexts; i++)
        if (t->exts[i])
            m += sizeof(struct ext) + t->exts[i]->cap * sizeof(struct vex_machine_event);
    return m;
}

static int grow(void **p, size_t elem, size_t cap)
{
    void *q = realloc(*p, elem * cap);
    if (!q)
        return VEX_ENOMEM;
    *p = q;
    return 0;
}

/* reserve_rows makes room for `want` rows in every column. On failure
 * nothing changed that matters: arrays that grew keep their old contents. */
static int reserve_rows(struct vex_table *t, size_t cap)
{
    if (cap <= t->cap)
        return 0;
    int rc = 0;
#define G(field) rc = rc ? rc : grow((void **)&t->field, sizeof *t->field, cap)
    G(attempt_ts);
    G(last_ts);
    G(startup_ms);
    G(play_ms);
    G(cirr_ms);
    G(vrt_ms);
    G(kbps_known_ms);
    G(kbps_ms);
    G(kbps);
    G(rebuffers);
    G(seeks);
    G(warnings);
    G(flags);
    G(sid);
    G(prefix_next);
    G(last_change);
    G(saved_day);
    G(ext);
#undef G
    for (int d = 0; d < VEX_DIM_COUNT && !rc; d++)
        rc = grow((void **)&t->dims[d], sizeof *t->dims[d], cap);
    if (!rc)
        t->cap = cap;
    return rc;
}

/* reserve makes room for one more row. Large tables grow by a quarter
 * (realloc moves big blocks by remapping pages, so growing often is cheap,
 * and doubling would leave up to half of every column unused). */
static int reserve(struct vex_table *t)
{
    if (t->n < t->cap)
        return 0;
    size_t cap = t->cap < 1024 ? 1024 : t->cap < (1u << 20) ? t->cap * 2 : t->cap + t->cap / 4;
    return reserve_rows(t, cap);
}

int vex_table_reserve(struct vex_table *t, size_t more)
{
    return reserve_rows(t, t->n + more);
}

/* find_or_add returns the row of a sid, creating it when new (-1 on
 * allocation failure). */
static long find_or_add(struct vex_table *t, const char *sid, size_t len)
{
    if (reserve(t))
        return -1;
    uint32_t id;
    if (vex_strpool_intern(t->sids, sid, len, &id))
        return -1;
    size_t i = id - 1;
    if (i < t->n)
        return (long)i;
    /* New sids get the next id, so the new row is t->n. */
    t->attempt_ts[i] = t->last_ts[i] = t->startup_ms[i] = t->play_ms[i] = 0;
    t->cirr_ms[i] = t->vrt_ms[i] = t->kbps_known_ms[i] = 0;
    t->kbps_ms[i] = t->kbps[i] = 0;
    t->rebuffers[i] = t->seeks[i] = t->warnings[i] = 0;
    t->flags[i] = VEX_STATE_STARTING;
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        t->dims[d][i] = 0;
    t->sid[i] = id;
    t->prefix_next[i] = 0;
    t->last_change[i] = 0;
    t->saved_day[i] = SAVED_NEVER;
    t->ext[i] = 0;
    t->n++;
    return (long)i;
}

/* The full machine of row i, from the columns. */
static void load_machine(const struct vex_table *t, size_t i, struct vex_machine *m)
{
    uint16_t f = t->flags[i];
    m->attempt_ts = t->attempt_ts[i];
    m->last_ts = t->last_ts[i];
    m->startup_ms = t->startup_ms[i];
    m->play_ms = t->play_ms[i];
    m->cirr_ms = t->cirr_ms[i];
    m->vrt_ms = t->vrt_ms[i];
    m->kbps_ms = t->kbps_ms[i];
    m->kbps_known_ms = t->kbps_known_ms[i];
    m->kbps = t->kbps[i];
    m->rebuffers = t->rebuffers[i];
    m->seeks = t->seeks[i];
    m->warnings = t->warnings[i];
    m->state = (uint8_t)(f & VEX_COL_STATE_MASK);
    m->started = (f & F_STARTED) != 0;
    m->has_kbps = (f & F_HAS_KBPS) != 0;
    m->played = (f & VEX_COL_PLAYED) != 0;
    m->vsf = (f & VEX_COL_VSF) != 0;
    m->vpf = (f & VEX_COL_VPF) != 0;
    m->errors = (f & VEX_COL_ERRORS) != 0;
}

static void store_machine(struct vex_table *t, size_t i, const struct vex_machine *m)
{
    t->attempt_ts[i] = m->attempt_ts;
    t->last_ts[i] = m->last_ts;
    t->startup_ms[i] = m->startup_ms;
    t->play_ms[i] = m->play_ms;
    t->cirr_ms[i] = m->cirr_ms;
    t->vrt_ms[i] = m->vrt_ms;
    t->kbps_ms[i] = m->kbps_ms;
    t->kbps_known_ms[i] = m->kbps_known_ms;
    t->kbps[i] = m->kbps;
    t->rebuffers[i] = m->rebuffers;
    t->seeks[i] = m->seeks;
    t->warnings[i] = m->warnings;
    uint16_t keep =
        t->flags[i] & (VEX_COL_LIVE | F_LIVE_KNOWN | F_IP_EXPLICIT | F_DIRTY | F_UNPUSHED);
    t->flags[i] = (uint16_t)(keep | (m->state & VEX_COL_STATE_MASK) | (m->started ? F_STARTED : 0) |
                             (m->has_kbps ? F_HAS_KBPS : 0) | (m->played ? VEX_COL_PLAYED : 0) |
                             (m->vsf ? VEX_COL_VSF : 0) | (m->vpf ? VEX_COL_VPF : 0) |
                             (m->errors ? VEX_COL_ERRORS : 0));
}

static struct ext *ext_of(const struct vex_table *t, size_t i)
{
    return t->ext[i] ? t->exts[t->ext[i] - 1] : NULL;
}

static int ext_attach(struct vex_table *t, size_t i, struct ext *x)
{
    uint32_t slot;
    if (t->nfree) {
        slot = t->free_exts[--t->nfree];
    } else {
        if (t->nexts == t->capexts) {
            size_t cap = t->capexts ? t->capexts * 2 : 64;
            if (grow((void **)&t->exts, sizeof *t->exts, cap) ||
                grow((void **)&t->free_exts, sizeof *t->free_exts, cap))
                return VEX_ENOMEM;
            t->capexts = cap;
        }
        slot = (uint32_t)t->nexts++;
    }
    t->exts[slot] = x;
    t->ext[i] = slot + 1;
    return 0;
}

static void ext_detach(struct vex_table *t, size_t i)
{
    uint32_t slot = t->ext[i] - 1;
    ext_free(t->exts[slot]);
    t->exts[slot] = NULL;
    t->free_exts[t->nfree++] = slot;
    t->ext[i] = 0;
}

/* make_irregular gives a regular row its extension, equivalent to its
 * current state: what it has was set by events below prefix_next, which no
 * future event can override. */
static struct ext *make_irregular(struct vex_table *t, size_t i)
{
    struct ext *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    int64_t below = t->prefix_next[i] - 1; /* -1 when nothing was applied */
    load_machine(t, i, &x->prefix);
    uint16_t f = t->flags[i];
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        x->dim_seq[d] = (d != VEX_DIM_IP && t->dims[d][i]) ? below : -1;
    if (f & F_IP_EXPLICIT) {
        x->dim_seq[VEX_DIM_IP] = below;
        x->ip_explicit = t->dims[VEX_DIM_IP][i];
    } else {
        x->ip_fb = t->dims[VEX_DIM_IP][i];
    }
    x->live_seq = (f & F_LIVE_KNOWN) ? below : -1;
    x->min_seq = t->prefix_next[i] > 0 ? 0 : -1;
    if (ext_attach(t, i, x)) {
        free(x);
        return NULL;
    }
    return x;
}

/* maybe_regular drops the extension once every event received is in the
 * contiguous prefix from seq 0 again. */
static void maybe_regular(struct vex_table *t, size_t i, struct ext *x)
{
    if (x->npend || x->min_seq != 0)
        return;
    uint16_t f = t->flags[i] & (uint16_t) ~(F_IP_EXPLICIT | F_LIVE_KNOWN);
    if (x->dim_seq[VEX_DIM_IP] >= 0)
        f |= F_IP_EXPLICIT;
    if (x->live_seq >= 0)
        f |= F_LIVE_KNOWN;
    t->flags[i] = f;
    ext_detach(t, i);
}

static uint32_t pending_find(const struct ext *x, int64_t seq, int *found)
{
    uint32_t lo = 0, hi = x->npend;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (x->pending[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < x->npend && x->pending[lo].seq == seq;
    return lo;
}

static int pending_insert(struct ext *x, uint32_t pos, const struct vex_machine_event *me)
{
    if (x->npend == x->cap) {
        uint32_t cap = x->cap ? x->cap * 2 : 4;
        if (grow((void **)&x->pending, sizeof *x->pending, cap))
            return VEX_ENOMEM;
        x->cap = cap;
    }
    memmove(&x->pending[pos + 1], &x->pending[pos], (x->npend - pos) * sizeof *x->pending);
    x->pending[pos] = *me;
    x->npend++;
    return 0;
}

static int64_t fold(struct ext *x, int64_t prefix_next)
{
    uint32_t k = 0;
    while (k < x->npend && x->pending[k].seq == prefix_next) {
        vex_machine_apply(&x->prefix, &x->pending[k]);
        prefix_next++;
        k++;
    }
    if (k) {
        memmove(x->pending, x->pending + k, (x->npend - k) * sizeof *x->pending);
        x->npend -= k;
    }
    return prefix_next;
}

static void set_live(struct vex_table *t, size_t i, int live)
{
    t->flags[i] = (uint16_t)((t->flags[i] & ~VEX_COL_LIVE) | F_LIVE_KNOWN | (live ? VEX_COL_LIVE : 0));
}

/* apply_regular: the event continues the contiguous prefix of a regular
 * session. */
static int apply_regular(struct vex_table *t, size_t i, const struct vex_event *ev, const char *ip,
                         const struct vex_machine_event *me)
{
    uint32_t codes[VEX_DIM_COUNT] = {0}, ipfb = 0;
    uint16_t f = t->flags[i];
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        int unset = d == VEX_DIM_IP ? !(f & F_IP_EXPLICIT) : t->dims[d][i] == 0;
        if (ev->dims[d] && unset &&
            vex_strpool_intern(t->vals, ev->dims[d], ev->dim_len[d], &codes[d]))
            return VEX_ENOMEM;
    }
    if (ev->seq == 0 && !ev->dims[VEX_DIM_IP] && ip && *ip &&
        vex_strpool_intern(t->vals, ip, strlen(ip), &ipfb))
        return VEX_ENOMEM;

    struct vex_machine m;
    load_machine(t, i, &m);
    vex_machine_apply(&m, me);
    store_machine(t, i, &m);
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        if (!codes[d])
            continue;
        t->dims[d][i] = codes[d];
        if (d == VEX_DIM_IP)
            t->flags[i] |= F_IP_EXPLICIT;
    }
    if (ev->seq == 0 && !ev->dims[VEX_DIM_IP])
        t->dims[VEX_DIM_IP][i] = ipfb;
    if (ev->live >= 0 && !(t->flags[i] & F_LIVE_KNOWN))
        set_live(t, i, ev->live);
    t->prefix_next[i]++;
    return 0;
}

static int apply_irregular(struct vex_table *t, size_t i, struct ext *x,
                           const struct vex_event *ev, const char *ip,
                           const struct vex_machine_event *me)
{
    int found;
    uint32_t pos = pending_find(x, ev->seq, &found);
    if (found)
        return 0; /* a later copy of a seq: the first one received wins */

    uint32_t codes[VEX_DIM_COUNT] = {0}, ipfb = 0;
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        if (ev->dims[d] && (x->dim_seq[d] < 0 || ev->seq < x->dim_seq[d]) &&
            vex_strpool_intern(t->vals, ev->dims[d], ev->dim_len[d], &codes[d]))
            return VEX_ENOMEM;
    }
    int lowest = x->min_seq < 0 || ev->seq < x->min_seq;
    if (lowest && ip && *ip && vex_strpool_intern(t->vals, ip, strlen(ip), &ipfb))
        return VEX_ENOMEM;

    int at_end = pos == x->npend;
    if (pending_insert(x, pos, me))
        return VEX_ENOMEM;
    if (at_end && ev->seq > t->prefix_next[i]) {
        /* Later than everything seen: the full machine just moves on. */
        struct vex_machine m;
        load_machine(t, i, &m);
        vex_machine_apply(&m, me);
        store_machine(t, i, &m);
    } else {
        t->prefix_next[i] = fold(x, t->prefix_next[i]);
        struct vex_machine m = x->prefix;
        for (uint32_t k = 0; k < x->npend; k++)
            vex_machine_apply(&m, &x->pending[k]);
        store_machine(t, i, &m);
    }

    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        if (!ev->dims[d] || !(x->dim_seq[d] < 0 || ev->seq < x->dim_seq[d]))
            continue;
        x->dim_seq[d] = ev->seq;
        if (d == VEX_DIM_IP)
            x->ip_explicit = codes[d];
        else
            t->dims[d][i] = codes[d];
    }
    if (ev->live >= 0 && (x->live_seq < 0 || ev->seq < x->live_seq)) {
        x->live_seq = ev->seq;
        set_live(t, i, ev->live);
    }
    if (lowest) {
        x->min_seq = ev->seq;
        x->ip_fb = ipfb;
    }
    t->dims[VEX_DIM_IP][i] = x->dim_seq[VEX_DIM_IP] >= 0 ? x->ip_explicit : x->ip_fb;
    maybe_regular(t, i, x);
    return 0;
}

int vex_table_apply(struct vex_table *t, const struct vex_event *ev, const char *ip,
                    int64_t now_ms)
{
    long row = find_or_add(t, ev->sid, ev->sid_len);
    if (row < 0)
        return VEX_ENOMEM;
    size_t i = (size_t)row;
    /* Distinct by seq: below the prefix everything was received already. */
    if (ev->seq < t->prefix_next[i])
        return 0;
    struct vex_machine_event me = {
        .seq = ev->seq,
        .ts = ev->ts,
        .kbps = ev->kbps,
        .type = ev->type,
        .fatal = ev->fatal,
        .has_kbps = ev->has_kbps,
    };
    struct ext *x = ext_of(t, i);
    int rc;
    if (!x && ev->seq == t->prefix_next[i]) {
        rc = apply_regular(t, i, ev, ip, &me);
    } else {
        if (!x && !(x = make_irregular(t, i)))
            return VEX_ENOMEM;
        rc = apply_irregular(t, i, x, ev, ip, &me);
    }
    if (!rc) {
        /* Strictly increasing per session, even if the server clock steps
         * back: replicas keep the row with the highest version. */
        t->last_change[i] = now_ms > t->last_change[i] ? now_ms : t->last_change[i] + 1;
        t->flags[i] |= F_DIRTY | F_UNPUSHED;
    }
    return rc;
}

void vex_table_columns(const struct vex_table *t, int64_t now_ms, int64_t timeout_ms,
                       struct vex_columns *c)
{
    memset(c, 0, sizeof *c);
    c->rows = t->n;
    c->attempt_ts = t->attempt_ts;
    c->last_ts = t->last_ts;
    c->startup_ms = t->startup_ms;
    c->play_ms = t->play_ms;
    c->cirr_ms = t->cirr_ms;
    c->vrt_ms = t->vrt_ms;
    c->kbps_known_ms = t->kbps_known_ms;
    c->kbps_ms = t->kbps_ms;
    c->rebuffers = t->rebuffers;
    c->seeks = t->seeks;
    c->warnings = t->warnings;
    c->flags = t->flags;
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        c->dims[d] = t->dims[d];
    c->sid = t->sid;
    c->dict = vex_strpool_strings(t->vals);
    c->dict_size = vex_strpool_count(t->vals);
    c->sid_dict = vex_strpool_strings(t->sids);
    c->sid_dict_size = vex_strpool_count(t->sids);
    c->now_ms = now_ms;
    c->timeout_ms = timeout_ms;
}

void vex_table_record(const struct vex_table *t, size_t i, int64_t now_ms, int64_t timeout_ms,
                      struct vex_record *r)
{
    struct vex_machine m;
    load_machine(t, i, &m);
    vex_machine_fill(&m, r);
    r->sid = vex_strpool_get(t->sids, t->sid[i]);
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        r->dims[d] = vex_strpool_get(t->vals, t->dims[d][i]);
    r->live = (t->flags[i] & VEX_COL_LIVE) != 0;
    vex_record_resolve(r, now_ms, timeout_ms);
}

int vex_table_scan(struct vex_table *t, int64_t from_ms, int64_t to_ms, int64_t now_ms,
                   int64_t timeout_ms, vex_record_visit_fn fn, void *ctx)
{
    struct vex_record batch[SCAN_BATCH];
    size_t nb = 0;
    for (size_t i = 0; i < t->n; i++) {
        /* A client clock may go back: last_ts can be below attempt_ts. */
        int64_t lo = t->attempt_ts[i] < t->last_ts[i] ? t->attempt_ts[i] : t->last_ts[i];
        int64_t hi = t->attempt_ts[i] < t->last_ts[i] ? t->last_ts[i] : t->attempt_ts[i];
        if (!(t->flags[i] & F_STARTED) || hi < from_ms || lo >= to_ms)
            continue;
        vex_table_record(t, i, now_ms, timeout_ms, &batch[nb++]);
        if (nb == SCAN_BATCH) {
            int rc = fn(ctx, batch, nb);
            if (rc)
                return rc;
            nb = 0;
        }
    }
    return nb ? fn(ctx, batch, nb) : 0;
}

int64_t vex_table_attempt_ts(const struct vex_table *t, size_t i)
{
    return t->attempt_ts[i];
}

void vex_table_export(const struct vex_table *t, size_t i, struct vex_session_state *out)
{
    const struct ext *x = ext_of(t, i);
    uint16_t f = t->flags[i];
    memset(out, 0, sizeof *out);
    out->sid = vex_strpool_get(t->sids, t->sid[i]);
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        out->dims[d] = vex_strpool_get(t->vals, t->dims[d][i]);
    out->prefix_next = t->prefix_next[i];
    out->last_change_ms = t->last_change[i];
    out->attempt_ts = t->attempt_ts[i];
    out->live = (f & F_LIVE_KNOWN) ? ((f & VEX_COL_LIVE) ? 1 : 0) : -1;
    if (x) {
        memcpy(out->dim_seq, x->dim_seq, sizeof out->dim_seq);
        out->dims[VEX_DIM_IP] =
            vex_strpool_get(t->vals, x->dim_seq[VEX_DIM_IP] >= 0 ? x->ip_explicit : 0);
        out->ip_fallback = vex_strpool_get(t->vals, x->ip_fb);
        out->min_seq = x->min_seq;
        out->live_seq = x->live_seq;
        out->prefix = x->prefix;
        out->pending = x->pending;
        out->npending = x->npend;
        return;
    }
    int64_t below = t->prefix_next[i] - 1;
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        out->dim_seq[d] = (d != VEX_DIM_IP && t->dims[d][i]) ? below : -1;
    if (f & F_IP_EXPLICIT) {
        out->dim_seq[VEX_DIM_IP] = below;
        out->ip_fallback = "";
    } else {
        out->dims[VEX_DIM_IP] = "";
        out->ip_fallback = vex_strpool_get(t->vals, t->dims[VEX_DIM_IP][i]);
    }
    out->min_seq = t->prefix_next[i] > 0 ? 0 : -1;
    out->live_seq = (f & F_LIVE_KNOWN) ? below : -1;
    load_machine(t, i, &out->prefix);
}

int vex_table_import(struct vex_table *t, const struct vex_session_state *in)
{
    uint32_t id;
    size_t len = strlen(in->sid);
    if (len == 0 || in->prefix_next < 0)
        return VEX_ECORRUPT;
    if (vex_strpool_find(t->sids, in->sid, len, &id) == 0 && id - 1 < t->n)
        return VEX_EEXIST;
    for (uint32_t k = 0; k < in->npending; k++) {
        if (in->pending[k].seq < in->prefix_next ||
            (k > 0 && in->pending[k].seq <= in->pending[k - 1].seq) ||
            in->pending[k].type >= VEX_EV_TYPE_COUNT)
            return VEX_ECORRUPT;
    }
    uint32_t vals[VEX_DIM_COUNT], ipfb;
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        if (vex_strpool_intern(t->vals, in->dims[d], strlen(in->dims[d]), &vals[d]))
            return VEX_ENOMEM;
    if (vex_strpool_intern(t->vals, in->ip_fallback, strlen(in->ip_fallback), &ipfb))
        return VEX_ENOMEM;
    struct ext *x = calloc(1, sizeof *x);
    if (!x)
        return VEX_ENOMEM;
    if (in->npending) {
        x->pending = malloc(in->npending * sizeof *x->pending);
        if (!x->pending) {
            free(x);
            return VEX_ENOMEM;
        }
        memcpy(x->pending, in->pending, in->npending * sizeof *x->pending);
    }
    x->npend = x->cap = in->npending;
    memcpy(x->dim_seq, in->dim_seq, sizeof x->dim_seq);
    x->live_seq = in->live_seq;
    x->min_seq = in->min_seq;
    x->ip_explicit = vals[VEX_DIM_IP];
    x->ip_fb = ipfb;
    x->prefix = in->prefix;
    long row = find_or_add(t, in->sid, len);
    if (row < 0 || ext_attach(t, (size_t)row, x)) {
        ext_free(x);
        return VEX_ENOMEM;
    }
    size_t i = (size_t)row;
    t->prefix_next[i] = in->prefix_next;
    t->last_change[i] = in->last_change_ms;
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        t->dims[d][i] = vals[d];
    t->dims[VEX_DIM_IP][i] = in->dim_seq[VEX_DIM_IP] >= 0 ? vals[VEX_DIM_IP] : ipfb;
    t->flags[i] = 0;
    if (in->live >= 0)
        set_live(t, i, (int)in->live);
    struct vex_machine m = x->prefix;
    for (uint32_t k = 0; k < x->npend; k++)
        vex_machine_apply(&m, &x->pending[k]);
    store_machine(t, i, &m);
    maybe_regular(t, i, x);
    return 0;
}

int vex_table_dirty(const struct vex_table *t, size_t i)
{
    return (t->flags[i] & F_DIRTY) != 0;
}

int64_t vex_table_saved_day(const struct vex_table *t, size_t i)
{
    return t->saved_day[i] == SAVED_NEVER ? INT64_MIN : t->saved_day[i];
}

void vex_table_mark_saved(struct vex_table *t, size_t i, int64_t day)
{
    t->flags[i] &= (uint16_t)~F_DIRTY;
    t->saved_day[i] = (int32_t)day;
}

int64_t vex_table_last_change(const struct vex_table *t, size_t i)
{
    return t->last_change[i];
}

int vex_table_take_unpushed(struct vex_table *t, size_t **rows, size_t *n, size_t *cap)
{
    for (size_t i = 0; i < t->n; i++) {
        if (!(t->flags[i] & F_UNPUSHED))
            continue;
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 1024;
            if (grow((void **)rows, sizeof **rows, c))
                return VEX_ENOMEM;
            *cap = c;
        }
        (*rows)[(*n)++] = i;
        t->flags[i] &= (uint16_t)~F_UNPUSHED;
    }
    return 0;
}

void vex_table_mark_unpushed(struct vex_table *t, const size_t *rows, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (rows[k] < t->n)
            t->flags[rows[k]] |= F_UNPUSHED;
}

void vex_table_mark_unpushed_since(struct vex_table *t, int64_t since_ms)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->last_change[i] >= since_ms)
            t->flags[i] |= F_UNPUSHED;
}

void vex_table_mark_dirty(struct vex_table *t, size_t i)
{
    t->flags[i] |= F_DIRTY | F_UNPUSHED;
}
