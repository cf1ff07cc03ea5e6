/* table.c - per-customer session table and the order-independent
 * sessionizer. */
#include "session/table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/strpool.h"

#define SCAN_BATCH 256

struct sess {
    uint32_t dim[VEX_DIM_COUNT];
    int64_t dim_seq[VEX_DIM_COUNT];
    uint32_t ip_fb;
    int8_t live;
    uint8_t dirty;
    int64_t min_seq;
    int64_t live_seq;
    int64_t prefix_next;
    int64_t last_change;
    int64_t saved_day; /* INT64_MIN: never saved */
    struct vex_machine prefix;
    struct vex_machine full; /* prefix + pending applied */
    struct vex_machine_event *pending;
    uint32_t npend, cap;
};

struct vex_table {
    struct vex_strpool *sids; /* sid id k <-> sessions[k - 1] (id 0 is "") */
    struct vex_strpool *vals; /* dimension values */
    struct sess *s;
    size_t n, cap;
};

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

void vex_table_destroy(struct vex_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->s[i].pending);
    free(t->s);
    vex_strpool_destroy(t->sids);
    vex_strpool_destroy(t->vals);
    free(t);
}

size_t vex_table_count(const struct vex_table *t)
{
    return t->n;
}

size_t vex_table_memory(const struct vex_table *t)
{
    size_t m = t->cap * sizeof *t->s + vex_strpool_bytes(t->sids) + vex_strpool_bytes(t->vals);
    for (size_t i = 0; i < t->n; i++)
        m += t->s[i].cap * sizeof(struct vex_machine_event);
    return m;
}

/* find_or_add returns the session of a sid, creating it when new. */
static struct sess *find_or_add(struct vex_table *t, const char *sid, size_t len)
{
    uint32_t id;
    if (vex_strpool_intern(t->sids, sid, len, &id))
        return NULL;
    size_t i = id - 1;
    if (i < t->n)
        return &t->s[i];
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        struct sess *s = realloc(t->s, cap * sizeof *s);
        if (!s)
            return NULL; /* the sid stays interned; a retry finds it and adds the slot */
        t->s = s;
        t->cap = cap;
    }
    struct sess *s = &t->s[t->n++];
    memset(s, 0, sizeof *s);
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        s->dim_seq[d] = -1;
    s->min_seq = -1;
    s->live = -1;
    s->live_seq = -1;
    s->saved_day = INT64_MIN;
    vex_machine_init(&s->prefix);
    vex_machine_init(&s->full);
    return s;
}

/* pending_find returns the position of seq in the sorted pending events (or
 * where it would go) and whether it is there. */
static uint32_t pending_find(const struct sess *s, int64_t seq, int *found)
{
    uint32_t lo = 0, hi = s->npend;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->pending[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < s->npend && s->pending[lo].seq == seq;
    return lo;
}

static int pending_insert(struct sess *s, uint32_t pos, const struct vex_machine_event *me)
{
    if (s->npend == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 4;
        struct vex_machine_event *p = realloc(s->pending, cap * sizeof *p);
        if (!p)
            return VEX_ENOMEM;
        s->pending = p;
        s->cap = cap;
    }
    memmove(&s->pending[pos + 1], &s->pending[pos], (s->npend - pos) * sizeof *s->pending);
    s->pending[pos] = *me;
    s->npend++;
    return 0;
}

/* fold moves pending events that continue the contiguous prefix into it. */
static void fold(struct sess *s)
{
    uint32_t k = 0;
    while (k < s->npend && s->pending[k].seq == s->prefix_next) {
        vex_machine_apply(&s->prefix, &s->pending[k]);
        s->prefix_next++;
        k++;
    }
    if (k) {
        memmove(s->pending, s->pending + k, (s->npend - k) * sizeof *s->pending);
        s->npend -= k;
    }
    if (s->npend == 0 && s->cap > 4) {
        free(s->pending);
        s->pending = NULL;
        s->cap = 0;
    }
}

static void recompute_full(struct sess *s)
{
    s->full = s->prefix;
    for (uint32_t k = 0; k < s->npend; k++)
        vex_machine_apply(&s->full, &s->pending[k]);
}

int vex_table_apply(struct vex_table *t, const struct vex_event *ev, const char *ip,
                    int64_t now_ms)
{
    struct sess *s = find_or_add(t, ev->sid, ev->sid_len);
    if (!s)
        return VEX_ENOMEM;
    /* Distinct by seq: the first copy received wins, later ones change nothing. */
    if (ev->seq < s->prefix_next)
        return 0;
    int found;
    uint32_t pos = pending_find(s, ev->seq, &found);
    if (found)
        return 0;

    /* Intern everything before changing the session so that a failed
     * allocation leaves it as it was. */
    uint32_t vals[VEX_DIM_COUNT];
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        vals[d] = 0;
        if (ev->dims[d] && (s->dim_seq[d] < 0 || ev->seq < s->dim_seq[d]) &&
            vex_strpool_intern(t->vals, ev->dims[d], ev->dim_len[d], &vals[d]))
            return VEX_ENOMEM;
    }
    uint32_t ipid = 0;
    if (s->min_seq < 0 || ev->seq < s->min_seq) {
        if (ip && *ip && vex_strpool_intern(t->vals, ip, strlen(ip), &ipid))
            return VEX_ENOMEM;
    }

    struct vex_machine_event me = {
        .seq = ev->seq,
        .ts = ev->ts,
        .kbps = ev->kbps,
        .type = ev->type,
        .fatal = ev->fatal,
        .has_kbps = ev->has_kbps,
    };
    if (s->npend == 0 && ev->seq == s->prefix_next) {
        vex_machine_apply(&s->prefix, &me);
        s->prefix_next++;
        s->full = s->prefix;
    } else {
        int at_end = pos == s->npend;
        if (pending_insert(s, pos, &me))
            return VEX_ENOMEM;
        if (at_end && ev->seq > s->prefix_next) {
            /* Later than everything seen: the full state just moves on. */
            vex_machine_apply(&s->full, &me);
        } else {
            fold(s);
            recompute_full(s);
        }
    }

    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        if (ev->dims[d] && (s->dim_seq[d] < 0 || ev->seq < s->dim_seq[d])) {
            s->dim[d] = vals[d];
            s->dim_seq[d] = ev->seq;
        }
    }
    if (ev->live >= 0 && (s->live_seq < 0 || ev->seq < s->live_seq)) {
        s->live = ev->live;
        s->live_seq = ev->seq;
    }
    if (s->min_seq < 0 || ev->seq < s->min_seq) {
        s->min_seq = ev->seq;
        s->ip_fb = ipid;
    }
    s->last_change = now_ms;
    s->dirty = 1;
    return 0;
}

static void fill_record(const struct vex_table *t, size_t i, struct vex_record *r,
                        int64_t now_ms, int64_t timeout_ms)
{
    const struct sess *s = &t->s[i];
    vex_machine_fill(&s->full, r);
    r->sid = vex_strpool_get(t->sids, (uint32_t)i + 1);
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        r->dims[d] = vex_strpool_get(t->vals, s->dim[d]);
    if (s->dim_seq[VEX_DIM_IP] < 0)
        r->dims[VEX_DIM_IP] = vex_strpool_get(t->vals, s->ip_fb);
    r->live = s->live == 1;
    vex_record_resolve(r, now_ms, timeout_ms);
}

int vex_table_scan(struct vex_table *t, int64_t from_ms, int64_t to_ms, int64_t now_ms,
                   int64_t timeout_ms, vex_record_visit_fn fn, void *ctx)
{
    struct vex_record batch[SCAN_BATCH];
    size_t nb = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct vex_machine *m = &t->s[i].full;
        if (!m->started || m->last_ts < from_ms || m->attempt_ts >= to_ms)
            continue;
        fill_record(t, i, &batch[nb++], now_ms, timeout_ms);
        if (nb == SCAN_BATCH) {
            int rc = fn(ctx, batch, nb);
            if (rc)
                return rc;
            nb = 0;
        }
    }
    return nb ? fn(ctx, batch, nb) : 0;
}

void vex_table_export(const struct vex_table *t, size_t i, struct vex_session_state *out)
{
    const struct sess *s = &t->s[i];
    out->sid = vex_strpool_get(t->sids, (uint32_t)i + 1);
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        out->dims[d] = vex_strpool_get(t->vals, s->dim[d]);
        out->dim_seq[d] = s->dim_seq[d];
    }
    out->ip_fallback = vex_strpool_get(t->vals, s->ip_fb);
    out->min_seq = s->min_seq;
    out->live = s->live;
    out->live_seq = s->live_seq;
    out->prefix_next = s->prefix_next;
    out->last_change_ms = s->last_change;
    out->prefix = s->prefix;
    out->pending = s->pending;
    out->npending = s->npend;
    out->attempt_ts = s->full.attempt_ts;
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
            (k > 0 && in->pending[k].seq <= in->pending[k - 1].seq))
            return VEX_ECORRUPT;
    }
    uint32_t vals[VEX_DIM_COUNT], ipid;
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        if (vex_strpool_intern(t->vals, in->dims[d], strlen(in->dims[d]), &vals[d]))
            return VEX_ENOMEM;
    if (vex_strpool_intern(t->vals, in->ip_fallback, strlen(in->ip_fallback), &ipid))
        return VEX_ENOMEM;
    struct vex_machine_event *pend = NULL;
    if (in->npending) {
        pend = malloc(in->npending * sizeof *pend);
        if (!pend)
            return VEX_ENOMEM;
        memcpy(pend, in->pending, in->npending * sizeof *pend);
    }
    struct sess *s = find_or_add(t, in->sid, len);
    if (!s) {
        free(pend);
        return VEX_ENOMEM;
    }
    memcpy(s->dim, vals, sizeof vals);
    memcpy(s->dim_seq, in->dim_seq, sizeof s->dim_seq);
    s->ip_fb = ipid;
    s->min_seq = in->min_seq;
    s->live = (int8_t)in->live;
    s->live_seq = in->live_seq;
    s->prefix_next = in->prefix_next;
    s->last_change = in->last_change_ms;
    s->prefix = in->prefix;
    s->pending = pend;
    s->npend = s->cap = in->npending;
    recompute_full(s);
    s->dirty = 0;
    return 0;
}

int vex_table_dirty(const struct vex_table *t, size_t i)
{
    return t->s[i].dirty;
}

int64_t vex_table_saved_day(const struct vex_table *t, size_t i)
{
    return t->s[i].saved_day;
}

void vex_table_mark_saved(struct vex_table *t, size_t i, int64_t day)
{
    t->s[i].dirty = 0;
    t->s[i].saved_day = day;
}
