/* table.c - per-customer session table and the order-independent
 * sessionizer, stored as columns.
 *
 * Row i of every column is session i, whose sid is the i-th string of the
 * sid arena (found by the sid index below). The record columns always hold
 * the "full" machine: the prefix plus the pending events applied. A regular
 * session (all events so far arrived in seq order from 0) has prefix ==
 * full, no pending events, and dimensions that no future event can override
 * except where still unset (every future event has a higher seq), so it
 * needs no per-session extension. An irregular session has an extension
 * (struct ext) until its gaps fill.
 *
 * Memory is what a session costs here (issue 4): columns are as narrow as
 * the values usually are (32-bit durations, 16-bit counters, 8-, 16- or
 * 24-bit dimension codes while they fit, 16- and 32-bit sessionizer
 * fields), and what does not fit goes, exactly, to a side table by row
 * (struct wide); sessions whose record does not fit are handed to scans as
 * records. Runs of sessions that can no longer change without a new event
 * form frozen blocks with pre-aggregates (vex_table_freeze, colpre.c). */
#include "session/table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hash.h"
#include "core/strpool.h"
#include "session/colpre.h"

#define SCAN_BATCH 256

/* Internal flag bits, above the VEX_COL_* bits of backend.h. */
#define F_STARTED 0x0100u
#define F_HAS_KBPS 0x0200u
#define F_LIVE_KNOWN 0x0400u
#define F_IP_EXPLICIT 0x0800u
#define F_DIRTY 0x1000u
#define F_UNPUSHED 0x2000u
#define F_WIDE 0x4000u /* the record's durations or counters are in `wides`, not the columns */
/* Checkpointed to the partition of the day of attempt_ts: what a checkpoint
 * and every loaded row set, so no column of saved days is needed. A row saved
 * to another day (its attempt_ts moved since) keeps that day in `wides`. */
#define F_SAVED 0x8000u

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

/* The last time, durations and counters of a session that does not fit the
 * narrow columns (49.7 days of play, 65,535 rebuffers, a last_ts below
 * attempt_ts or 49.7 days after it): rare, so kept aside, found by row
 * through a small hash. Once made, an entry stays with its row. */
struct wide {
    size_t row;
    int64_t last_ts;                                             /* valid with F_WIDE */
    int64_t startup_ms, play_ms, cirr_ms, vrt_ms, kbps_known_ms; /* valid with F_WIDE */
    uint32_t rebuffers, seeks, warnings;
    /* Sessionizer values that do not fit their column (which then holds its
     * sentinel, PN_SIDE, LC_SIDE, KBPS_SIDE). */
    int64_t prefix_next, last_change;
    double kbps;
    /* The day of the partition the row was checkpointed to, when it is not
     * the day of attempt_ts (valid with saved_aside, and without F_SAVED). */
    int64_t saved_day;
    int saved_aside;
};

#define PN_SIDE UINT16_MAX   /* 65,535 events or more: a week of 10 s heartbeats */
#define KBPS_SIDE UINT16_MAX /* a bitrate that is not a whole number of kbps below 65,535 */
#define LC_SIDE INT32_MIN
#define LC_ZERO (INT32_MIN + 1) /* a last change of 0: never changed */
#define LC_CHUNK_BITS 16        /* rows share a last_change base per 65,536 */

/* A dimension column. Most dimensions of a customer have few values (CDNs,
 * platforms, countries, assets), so a column starts with 8-bit codes local
 * to it (local 0 is "", global code 0) and a map to the codes of the
 * table's string pool; on its 257th value it turns into 16-bit local codes
 * (assets, titles), on its 65,537th into global codes (addresses,
 * subscriber ids), each for good: 3 bytes a row (little-endian) while every
 * code it holds is below 2^24, 32 bits after. The stage is the first of
 * c32, c24, c16 set; c8 otherwise (all are NULL before the first row). */
#define C24_LIMIT (1u << 24)
struct dcol {
    uint8_t *c8;   /* local codes, while few */
    uint16_t *c16; /* local codes, while narrow */
    uint8_t *c24;  /* global codes, 3 bytes each, once wide */
    uint32_t *c32; /* global codes, once wider */
    uint32_t *glob; /* local -> global code */
    uint32_t nloc, capglob;
    uint32_t *hash; /* local + 1 by the global code's hash, 0 empty */
    uint32_t nhash;
};

/* A frozen block: rows [lo, hi), all closed for good and quiet when it was
 * made, with the sums of every row. Any change to one of its rows dissolves
 * it (the rows stay, as ordinary rows). */
struct blk {
    size_t lo, hi;
    struct vex_colpre pre;
};

struct vex_table {
    /* Sids: NUL-terminated, in row order, in blocks that never move
     * (sblkused[b] bytes used of block b); sanchor[g] references the sid of
     * row g * VEX_SID_GROUP (VEX_SID_REF_BITS of offset, the rest the block)
     * and the others of its group follow it (vex_sid_at). Slots index them
     * by hash (row + 1, 0 empty; hashes are recomputed on growth). A sid
     * costs its bytes, half a byte of anchor and ~5-10 of index: no pointer,
     * no length. */
    char **sblocks;
    uint32_t *sblkused;
    size_t nsblocks, capsblocks, sused; /* bytes used of the last block */
    uint32_t *sanchor;
    uint32_t *sslots;
    size_t nsslots;
    struct vex_strpool *vals; /* dimension values */
    size_t n, cap;
    /* record columns (the full machine) */
    int64_t *attempt_ts;
    uint32_t *last_dt; /* last_ts - attempt_ts; see F_WIDE */
    uint32_t *startup_ms, *play_ms, *cirr_ms, *vrt_ms, *kbps_known_ms; /* see F_WIDE */
    double *kbps_ms;
    uint16_t *rebuffers, *seeks, *warnings; /* see F_WIDE */
    uint16_t *flags;
    struct dcol dims[VEX_DIM_COUNT];
    /* sessionizer bookkeeping, narrow with exact values aside (struct wide) */
    uint16_t *prefix_next;
    int32_t *last_change; /* from lc_base of the row's chunk */
    int64_t *lc_base;     /* per chunk of 1 << LC_CHUNK_BITS rows; INT64_MIN: unset */
    size_t nlc_base;
    uint16_t *kbps;       /* current bitrate of the machine, whole kbps */
    /* Irregular rows' extensions: exts[slot], found from the row through an
     * open-addressing map (row + 1 -> slot; XTOMB marks a removed entry):
     * regular rows, nearly all of them, cost nothing. */
    uint64_t *xkey;
    uint32_t *xval;
    size_t nxslots, nxused, nxlive;
    struct ext **exts;
    size_t nexts, capexts;
    uint32_t *free_exts;
    size_t nfree;
    struct blk *blks; /* sorted by lo, disjoint */
    size_t nblks, capblks;
    struct wide *wides;
    size_t nwides, capwides;
    uint32_t *wslots; /* index into wides + 1, by hash of the row; 0: empty */
    size_t nwslots;
};


/* ---- dimension columns ---- */

static size_t dslot(const struct dcol *dc, uint32_t glob)
{
    size_t j = (size_t)(((uint64_t)glob * 0x9e3779b97f4a7c15ULL) >> 23) & (dc->nhash - 1);
    while (dc->hash[j] && dc->glob[dc->hash[j] - 1] != glob)
        j = (j + 1) & (dc->nhash - 1);
    return j;
}

static int dims_init(struct vex_table *t)
{
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        struct dcol *dc = &t->dims[d];
        dc->glob = malloc(16 * sizeof *dc->glob);
        dc->hash = calloc(32, sizeof *dc->hash);
        if (!dc->glob || !dc->hash)
            return VEX_ENOMEM;
        dc->capglob = 16;
        dc->nhash = 32;
        dc->glob[0] = 0;
        dc->nloc = 1;
        dc->hash[dslot(dc, 0)] = 1;
    }
    return 0;
}

static inline uint32_t c24_get(const uint8_t *c, size_t i)
{
    return (uint32_t)c[3 * i] | (uint32_t)c[3 * i + 1] << 8 | (uint32_t)c[3 * i + 2] << 16;
}

static inline void c24_set(uint8_t *c, size_t i, uint32_t v)
{
    c[3 * i] = (uint8_t)v;
    c[3 * i + 1] = (uint8_t)(v >> 8);
    c[3 * i + 2] = (uint8_t)(v >> 16);
}

static inline uint32_t dim_get(const struct vex_table *t, int d, size_t i)
{
    const struct dcol *dc = &t->dims[d];
    if (dc->c32)
        return dc->c32[i];
    if (dc->c24)
        return c24_get(dc->c24, i);
    return dc->glob[dc->c16 ? dc->c16[i] : dc->c8[i]];
}

/* dim_widen16 turns the 8-bit local codes of column d into 16-bit ones. */
static int dim_widen16(struct vex_table *t, int d)
{
    struct dcol *dc = &t->dims[d];
    uint16_t *c16 = malloc((t->cap ? t->cap : 1) * sizeof *c16);
    if (!c16)
        return VEX_ENOMEM;
    for (size_t i = 0; i < t->n; i++)
        c16[i] = dc->c8[i];
    free(dc->c8);
    dc->c8 = NULL;
    dc->c16 = c16;
    return 0;
}

/* dim_widen turns column d (16-bit) into global codes, for good: 24-bit
 * while the pool's codes fit (every code the column will hold until then
 * is one of them). */
static int dim_widen(struct vex_table *t, int d)
{
    struct dcol *dc = &t->dims[d];
    size_t cap = t->cap ? t->cap : 1;
    if (vex_strpool_count(t->vals) <= C24_LIMIT) {
        uint8_t *c24 = malloc(3 * cap);
        if (!c24)
            return VEX_ENOMEM;
        for (size_t i = 0; i < t->n; i++)
            c24_set(c24, i, dc->glob[dc->c16[i]]);
        free(dc->c16);
        free(dc->glob);
        free(dc->hash);
        memset(dc, 0, sizeof *dc);
        dc->c24 = c24;
        return 0;
    }
    uint32_t *c32 = malloc(cap * sizeof *c32);
    if (!c32)
        return VEX_ENOMEM;
    for (size_t i = 0; i < t->n; i++)
        c32[i] = dc->glob[dc->c16[i]];
    free(dc->c16);
    free(dc->glob);
    free(dc->hash);
    memset(dc, 0, sizeof *dc);
    dc->c32 = c32;
    return 0;
}

/* dim_widen32 turns the 24-bit global codes of column d into 32-bit ones. */
static int dim_widen32(struct vex_table *t, int d)
{
    struct dcol *dc = &t->dims[d];
    uint32_t *c32 = malloc((t->cap ? t->cap : 1) * sizeof *c32);
    if (!c32)
        return VEX_ENOMEM;
    for (size_t i = 0; i < t->n; i++)
        c32[i] = c24_get(dc->c24, i);
    free(dc->c24);
    dc->c24 = NULL;
    dc->c32 = c32;
    return 0;
}

/* dim_prep makes global code `glob` storable in column d (dim_set then
 * cannot fail): a local code for it, or the column widened. VEX_ENOMEM. */
static int dim_prep(struct vex_table *t, int d, uint32_t glob)
{
    struct dcol *dc = &t->dims[d];
    if (dc->c32)
        return 0;
    if (dc->c24)
        return glob < C24_LIMIT ? 0 : dim_widen32(t, d);
    if (dc->hash[dslot(dc, glob)])
        return 0;
    if (!dc->c16 && dc->nloc > UINT8_MAX) {
        int rc = dim_widen16(t, d);
        if (rc)
            return rc;
    }
    if (dc->nloc > UINT16_MAX)
        return dim_widen(t, d);
    if (dc->nloc == dc->capglob) {
        uint32_t cap = dc->capglob * 2;
        uint32_t *g = realloc(dc->glob, cap * sizeof *g);
        if (!g)
            return VEX_ENOMEM;
        dc->glob = g;
        dc->capglob = cap;
    }
    if ((dc->nloc + 1) * 2 > dc->nhash) {
        uint32_t n = dc->nhash * 2;
        uint32_t *h = calloc(n, sizeof *h);
        if (!h)
            return VEX_ENOMEM;
        free(dc->hash);
        dc->hash = h;
        dc->nhash = n;
        for (uint32_t k = 0; k < dc->nloc; k++)
            dc->hash[dslot(dc, dc->glob[k])] = k + 1;
    }
    dc->glob[dc->nloc] = glob;
    dc->hash[dslot(dc, glob)] = ++dc->nloc;
    return 0;
}

static inline void dim_set(struct vex_table *t, int d, size_t i, uint32_t glob)
{
    struct dcol *dc = &t->dims[d];
    if (dc->c32)
        dc->c32[i] = glob;
    else if (dc->c24)
        c24_set(dc->c24, i, glob);
    else if (dc->c16)
        dc->c16[i] = (uint16_t)(dc->hash[dslot(dc, glob)] - 1);
    else
        dc->c8[i] = (uint8_t)(dc->hash[dslot(dc, glob)] - 1);
}

int vex_table_create(struct vex_table **out)
{
    struct vex_table *t = calloc(1, sizeof *t);
    if (!t)
        return VEX_ENOMEM;
    if (vex_strpool_create(&t->vals) || dims_init(t)) {
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
    for (size_t b = 0; b < t->nblks; b++)
        vex_colpre_deinit(&t->blks[b].pre);
    free(t->blks);
    free(t->wides);
    free(t->wslots);
    free(t->attempt_ts);
    free(t->last_dt);
    free(t->startup_ms);
    free(t->play_ms);
    free(t->cirr_ms);
    free(t->vrt_ms);
    free(t->kbps_known_ms);
    free(t->kbps_ms);
    free(t->kbps);
    free(t->lc_base);
    free(t->rebuffers);
    free(t->seeks);
    free(t->warnings);
    free(t->flags);
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        free(t->dims[d].c8);
        free(t->dims[d].c16);
        free(t->dims[d].c24);
        free(t->dims[d].c32);
        free(t->dims[d].glob);
        free(t->dims[d].hash);
    }
    free(t->prefix_next);
    free(t->last_change);
    free(t->xkey);
    free(t->xval);
    for (size_t b = 0; b < t->nsblocks; b++)
        free(t->sblocks[b]);
    free(t->sblocks);
    free(t->sanchor);
    free(t->sblkused);
    free(t->sslots);
    vex_strpool_destroy(t->vals);
    free(t);
}

size_t vex_table_count(const struct vex_table *t)
{
    return t->n;
}

#define ROW_BYTES                                                                      \
    (sizeof(int64_t) + 6 * sizeof(uint32_t) + sizeof(double) + 4 * sizeof(uint16_t) +     \
     VEX_DIM_COUNT * sizeof(uint16_t) + sizeof(uint32_t) + 2 * sizeof(uint16_t))

size_t vex_table_memory(const struct vex_table *t)
{
    size_t m = t->cap * ROW_BYTES + vex_strpool_bytes(t->vals) + t->nsslots * sizeof *t->sslots +
               t->nsblocks * ((size_t)1 << VEX_SID_REF_BITS);
    for (size_t i = 0; i < t->nexts; i++)
        if (t->exts[i])
            m += sizeof(struct ext) + t->exts[i]->cap * sizeof(struct vex_machine_event);
    return m;
}

void vex_table_memory_detail(const struct vex_table *t, struct vex_table_mem *m)
{
    memset(m, 0, sizeof *m);
    m->rows = t->n;
    m->cap = t->cap;
    m->record_cols = t->cap * (sizeof(int64_t) + 6 * sizeof(uint32_t) + sizeof(double) +
                               3 * sizeof(uint16_t) + sizeof(uint16_t));
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        const struct dcol *dc = &t->dims[d];
        m->dim_cols += dc->c32   ? t->cap * sizeof(uint32_t)
                       : dc->c24 ? t->cap * 3
                       : (dc->c16 ? t->cap * sizeof(uint16_t) : t->cap * sizeof(uint8_t)) +
                             dc->capglob * sizeof(uint32_t) + dc->nhash * sizeof(uint32_t);
    }
    m->wide = t->capwides * sizeof *t->wides + t->nwslots * sizeof *t->wslots;
    m->sessionizer = t->cap * (sizeof(uint16_t) + sizeof(int32_t) + sizeof(uint16_t)) +
                     t->nlc_base * sizeof(int64_t);
    m->sid_pool = t->nsblocks * ((size_t)1 << VEX_SID_REF_BITS) +
                  t->capsblocks * (sizeof *t->sblocks + sizeof *t->sblkused) +
                  t->nsslots * sizeof *t->sslots +
                  (t->cap / VEX_SID_GROUP + 1) * sizeof *t->sanchor;
    m->val_pool = vex_strpool_bytes(t->vals);
    m->sids = t->n;
    m->vals = vex_strpool_count(t->vals);
    for (size_t i = 0; i < t->nexts; i++)
        if (t->exts[i])
            m->ext += sizeof(struct ext) + t->exts[i]->cap * sizeof(struct vex_machine_event);
    m->ext += t->capexts * (sizeof *t->exts + sizeof *t->free_exts) +
              t->nxslots * (sizeof *t->xkey + sizeof *t->xval);
    m->frozen = t->capblks * sizeof *t->blks;
    for (size_t b = 0; b < t->nblks; b++) {
        m->frozen += t->blks[b].pre.nkeys * (sizeof(uint32_t) + 2 * sizeof(struct vex_colsums));
        m->frozen_rows += t->blks[b].hi - t->blks[b].lo;
    }
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
    G(last_dt);
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
    G(prefix_next);
    G(last_change);
#undef G
    if (!rc)
        rc = grow((void **)&t->sanchor, sizeof *t->sanchor, cap / VEX_SID_GROUP + 1);
    for (int d = 0; d < VEX_DIM_COUNT && !rc; d++) {
        struct dcol *dc = &t->dims[d];
        rc = dc->c32   ? grow((void **)&dc->c32, sizeof *dc->c32, cap)
             : dc->c24 ? grow((void **)&dc->c24, 3, cap)
             : dc->c16 ? grow((void **)&dc->c16, sizeof *dc->c16, cap)
                       : grow((void **)&dc->c8, sizeof *dc->c8, cap);
    }
    size_t nb = (cap >> LC_CHUNK_BITS) + 1;
    if (!rc && nb > t->nlc_base && !(rc = grow((void **)&t->lc_base, sizeof *t->lc_base, nb))) {
        for (size_t k = t->nlc_base; k < nb; k++)
            t->lc_base[k] = INT64_MIN;
        t->nlc_base = nb;
    }
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

/* ---- the sid index ---- */

#define SID_BLOCK ((size_t)1 << VEX_SID_REF_BITS)
#define SID_MAX_BLOCKS ((size_t)1 << (32 - VEX_SID_REF_BITS))

static const char *sid_of(const struct vex_table *t, size_t row)
{
    return vex_sid_at(t->sanchor, (const char *const *)t->sblocks, t->sblkused, row);
}

/* sid_slot is the index slot of sid s[0..len) with hash h: its row's, or
 * the empty one where it would go. */
static size_t sid_slot(const struct vex_table *t, const char *s, size_t len, uint64_t h)
{
    size_t j = h & (t->nsslots - 1);
    while (t->sslots[j]) {
        const char *x = sid_of(t, t->sslots[j] - 1);
        if (memcmp(x, s, len) == 0 && x[len] == '\0')
            return j;
        j = (j + 1) & (t->nsslots - 1);
    }
    return j;
}

static int sid_find(const struct vex_table *t, const char *s, size_t len, size_t *row)
{
    if (!t->nsslots)
        return VEX_ENOENT;
    size_t j = sid_slot(t, s, len, vex_hash_bytes(s, len));
    if (!t->sslots[j])
        return VEX_ENOENT;
    *row = t->sslots[j] - 1;
    return 0;
}

static int sid_grow_index(struct vex_table *t)
{
    size_t n = t->nsslots ? t->nsslots * 2 : 1024;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return VEX_ENOMEM;
    free(t->sslots);
    t->sslots = slots;
    t->nsslots = n;
    /* The arena in row order, from its start. */
    size_t b = 0, off = 0;
    for (size_t r = 0; r < t->n; r++) {
        const char *x = t->sblocks[b] + off;
        size_t len = strlen(x);
        size_t j = vex_hash_bytes(x, len) & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = (uint32_t)r + 1;
        off += len + 1;
        if (off == t->sblkused[b]) {
            b++;
            off = 0;
        }
    }
    return 0;
}

/* sid_store copies s[0..len) into the arena and returns its reference.
 * A sid longer than a block gets a block of its own. VEX_EFULL once the
 * references run out (4 GiB of sids in one customer), VEX_ENOMEM. */
static int sid_store(struct vex_table *t, const char *s, size_t len, uint32_t *ref)
{
    if (!t->nsblocks || t->sused + len + 1 > SID_BLOCK) {
        if (t->nsblocks == SID_MAX_BLOCKS)
            return VEX_EFULL;
        if (t->nsblocks == t->capsblocks) {
            size_t cap = t->capsblocks ? t->capsblocks * 2 : 16;
            char **v = realloc(t->sblocks, cap * sizeof *v);
            if (!v)
                return VEX_ENOMEM;
            t->sblocks = v;
            uint32_t *u = realloc(t->sblkused, cap * sizeof *u);
            if (!u)
                return VEX_ENOMEM;
            t->sblkused = u;
            t->capsblocks = cap;
        }
        char *b = malloc(len + 1 > SID_BLOCK ? len + 1 : SID_BLOCK);
        if (!b)
            return VEX_ENOMEM;
        t->sblocks[t->nsblocks++] = b;
        t->sused = 0;
    }
    char *dst = t->sblocks[t->nsblocks - 1] + t->sused;
    memcpy(dst, s, len);
    dst[len] = '\0';
    *ref = (uint32_t)((t->nsblocks - 1) << VEX_SID_REF_BITS | t->sused);
    t->sused += len + 1;
    t->sblkused[t->nsblocks - 1] = (uint32_t)t->sused;
    return 0;
}

/* find_or_add returns the row of a sid, creating it when new, or a
 * negative VEX_E* code (VEX_ENOMEM, VEX_EFULL). */
static long find_or_add(struct vex_table *t, const char *sid, size_t len)
{
    int rc;
    if ((rc = reserve(t)))
        return rc;
    if ((t->n + 1) * 4 > t->nsslots * 3 && (rc = sid_grow_index(t)))
        return rc;
    size_t j = sid_slot(t, sid, len, vex_hash_bytes(sid, len));
    if (t->sslots[j])
        return (long)(t->sslots[j] - 1);
    size_t i = t->n;
    uint32_t ref;
    if ((rc = sid_store(t, sid, len, &ref)))
        return rc;
    if (i % VEX_SID_GROUP == 0)
        t->sanchor[i / VEX_SID_GROUP] = ref;
    t->sslots[j] = (uint32_t)i + 1;
    t->attempt_ts[i] = 0;
    t->last_dt[i] = 0;
    t->startup_ms[i] = t->play_ms[i] = 0;
    t->cirr_ms[i] = t->vrt_ms[i] = t->kbps_known_ms[i] = 0;
    t->kbps_ms[i] = 0;
    t->kbps[i] = 0;
    t->rebuffers[i] = t->seeks[i] = t->warnings[i] = 0;
    t->flags[i] = VEX_STATE_STARTING;
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        dim_set(t, d, i, 0);
    t->prefix_next[i] = 0;
    t->last_change[i] = LC_ZERO;
    t->n++;
    return (long)i;
}

/* ---- wide rows ---- */

static size_t wslot_of(const struct vex_table *t, size_t row)
{
    size_t j = (size_t)(((uint64_t)row * 0x9e3779b97f4a7c15ULL) >> 17) & (t->nwslots - 1);
    while (t->wslots[j] && t->wides[t->wslots[j] - 1].row != row)
        j = (j + 1) & (t->nwslots - 1);
    return j;
}

static struct wide *wide_find(const struct vex_table *t, size_t row)
{
    if (!t->nwslots)
        return NULL;
    uint32_t v = t->wslots[wslot_of(t, row)];
    return v ? &t->wides[v - 1] : NULL;
}

/* wide_reserve makes room for one more entry, so that store_machine, which
 * runs after the session changed, cannot fail. */
static int wide_reserve(struct vex_table *t)
{
    if (t->nwides == t->capwides) {
        size_t cap = t->capwides ? t->capwides * 2 : 16;
        struct wide *w = realloc(t->wides, cap * sizeof *w);
        if (!w)
            return VEX_ENOMEM;
        t->wides = w;
        t->capwides = cap;
    }
    if ((t->nwides + 1) * 2 > t->nwslots) {
        size_t n = t->nwslots ? t->nwslots * 2 : 64;
        uint32_t *slots = calloc(n, sizeof *slots);
        if (!slots)
            return VEX_ENOMEM;
        free(t->wslots);
        t->wslots = slots;
        t->nwslots = n;
        for (size_t k = 0; k < t->nwides; k++)
            t->wslots[wslot_of(t, t->wides[k].row)] = (uint32_t)k + 1;
    }
    return 0;
}

static int narrow_ok(const struct vex_machine *m)
{
    return m->last_ts >= m->attempt_ts &&
           (uint64_t)m->last_ts - (uint64_t)m->attempt_ts <= UINT32_MAX &&
           m->startup_ms >= 0 && m->startup_ms <= UINT32_MAX && m->play_ms >= 0 &&
           m->play_ms <= UINT32_MAX && m->cirr_ms >= 0 && m->cirr_ms <= UINT32_MAX &&
           m->vrt_ms >= 0 && m->vrt_ms <= UINT32_MAX && m->kbps_known_ms >= 0 &&
           m->kbps_known_ms <= UINT32_MAX && m->rebuffers <= UINT16_MAX &&
           m->seeks <= UINT16_MAX && m->warnings <= UINT16_MAX;
}

/* side_of returns row i's side entry, making it (wide_reserve() made room). */
static struct wide *side_of(struct vex_table *t, size_t i)
{
    struct wide *w = wide_find(t, i);
    if (!w) {
        w = &t->wides[t->nwides];
        memset(w, 0, sizeof *w);
        w->row = i;
        t->wslots[wslot_of(t, i)] = (uint32_t)++t->nwides;
    }
    return w;
}

static int64_t pn_get(const struct vex_table *t, size_t i)
{
    uint16_t v = t->prefix_next[i];
    return v != PN_SIDE ? v : wide_find(t, i)->prefix_next;
}

/* pn_set stores prefix_next (wide_reserve() first: it may go aside). */
static void pn_set(struct vex_table *t, size_t i, int64_t v)
{
    if (v >= 0 && v < PN_SIDE) {
        t->prefix_next[i] = (uint16_t)v;
    } else {
        side_of(t, i)->prefix_next = v;
        t->prefix_next[i] = PN_SIDE;
    }
}

static int64_t lc_get(const struct vex_table *t, size_t i)
{
    int32_t v = t->last_change[i];
    if (v == LC_ZERO)
        return 0;
    if (v == LC_SIDE)
        return wide_find(t, i)->last_change;
    return t->lc_base[i >> LC_CHUNK_BITS] + v;
}

/* lc_set stores last_change as an offset from its chunk's base (the first
 * value stored in the chunk): rows made together change at close times.
 * Others go aside (wide_reserve() first). */
static void lc_set(struct vex_table *t, size_t i, int64_t v)
{
    int64_t *base = &t->lc_base[i >> LC_CHUNK_BITS];
    if (v == 0) {
        t->last_change[i] = LC_ZERO;
        return;
    }
    int sane = v > INT64_MIN / 2 && v < INT64_MAX / 2; /* no overflow below */
    if (*base == INT64_MIN && sane)
        *base = v;
    if (sane && *base != INT64_MIN && v - *base > LC_ZERO && v - *base <= INT32_MAX) {
        t->last_change[i] = (int32_t)(v - *base);
    } else {
        side_of(t, i)->last_change = v;
        t->last_change[i] = LC_SIDE;
    }
}

static double kbps_get(const struct vex_table *t, size_t i)
{
    uint16_t v = t->kbps[i];
    return v != KBPS_SIDE ? (double)v : wide_find(t, i)->kbps;
}

/* kbps_set keeps the bitrate in 16 bits when it is a whole number of kbps
 * below 65,535 (a bitrate ladder's rungs are), else aside (wide_reserve()
 * first). */
static void kbps_set(struct vex_table *t, size_t i, double v)
{
    /* -0.0 compares equal to 0 but is another value: it goes aside. */
    if (v >= 0 && v < KBPS_SIDE && v == (double)(uint16_t)v && !signbit(v)) {
        t->kbps[i] = (uint16_t)v;
    } else {
        side_of(t, i)->kbps = v;
        t->kbps[i] = KBPS_SIDE;
    }
}

/* lt_get is last_ts of row i. */
static int64_t lt_get(const struct vex_table *t, size_t i)
{
    return (t->flags[i] & F_WIDE) ? wide_find(t, i)->last_ts
                                  : t->attempt_ts[i] + (int64_t)t->last_dt[i];
}

/* The full machine of row i, from the columns. */
static void load_machine(const struct vex_table *t, size_t i, struct vex_machine *m)
{
    uint16_t f = t->flags[i];
    m->attempt_ts = t->attempt_ts[i];
    const struct wide *w = (f & F_WIDE) ? wide_find(t, i) : NULL;
    m->last_ts = w ? w->last_ts : t->attempt_ts[i] + (int64_t)t->last_dt[i];
    if (w) {
        m->startup_ms = w->startup_ms;
        m->play_ms = w->play_ms;
        m->cirr_ms = w->cirr_ms;
        m->vrt_ms = w->vrt_ms;
        m->kbps_known_ms = w->kbps_known_ms;
        m->rebuffers = w->rebuffers;
        m->seeks = w->seeks;
        m->warnings = w->warnings;
    } else {
        m->startup_ms = t->startup_ms[i];
        m->play_ms = t->play_ms[i];
        m->cirr_ms = t->cirr_ms[i];
        m->vrt_ms = t->vrt_ms[i];
        m->kbps_known_ms = t->kbps_known_ms[i];
        m->rebuffers = t->rebuffers[i];
        m->seeks = t->seeks[i];
        m->warnings = t->warnings[i];
    }
    m->kbps_ms = t->kbps_ms[i];
    m->kbps = kbps_get(t, i);
    m->state = (uint8_t)(f & VEX_COL_STATE_MASK);
    m->started = (f & F_STARTED) != 0;
    m->has_kbps = (f & F_HAS_KBPS) != 0;
    m->played = (f & VEX_COL_PLAYED) != 0;
    m->vsf = (f & VEX_COL_VSF) != 0;
    m->vpf = (f & VEX_COL_VPF) != 0;
    m->errors = (f & VEX_COL_ERRORS) != 0;
}

#define DAY_MS 86400000LL

static int64_t day_of(int64_t ms)
{
    return ms >= 0 ? ms / DAY_MS : -((-ms + DAY_MS - 1) / DAY_MS);
}

/* store_machine writes the full machine of row i. Callers made room with
 * wide_reserve() first, for a machine that may not fit the columns (or an
 * attempt_ts that leaves the day the row was checkpointed to: F_SAVED). */
static void store_machine(struct vex_table *t, size_t i, const struct vex_machine *m)
{
    if ((t->flags[i] & F_SAVED) && day_of(m->attempt_ts) != day_of(t->attempt_ts[i])) {
        struct wide *w = side_of(t, i);
        w->saved_day = day_of(t->attempt_ts[i]);
        w->saved_aside = 1;
        t->flags[i] &= (uint16_t)~F_SAVED;
    }
    t->attempt_ts[i] = m->attempt_ts;
    t->kbps_ms[i] = m->kbps_ms;
    kbps_set(t, i, m->kbps);
    uint16_t wide = 0;
    if (narrow_ok(m)) {
        t->last_dt[i] = (uint32_t)((uint64_t)m->last_ts - (uint64_t)m->attempt_ts);
        t->startup_ms[i] = (uint32_t)m->startup_ms;
        t->play_ms[i] = (uint32_t)m->play_ms;
        t->cirr_ms[i] = (uint32_t)m->cirr_ms;
        t->vrt_ms[i] = (uint32_t)m->vrt_ms;
        t->kbps_known_ms[i] = (uint32_t)m->kbps_known_ms;
        t->rebuffers[i] = (uint16_t)m->rebuffers;
        t->seeks[i] = (uint16_t)m->seeks;
        t->warnings[i] = (uint16_t)m->warnings;
    } else {
        struct wide *w = side_of(t, i);
        w->last_ts = m->last_ts;
        w->startup_ms = m->startup_ms;
        w->play_ms = m->play_ms;
        w->cirr_ms = m->cirr_ms;
        w->vrt_ms = m->vrt_ms;
        w->kbps_known_ms = m->kbps_known_ms;
        w->rebuffers = m->rebuffers;
        w->seeks = m->seeks;
        w->warnings = m->warnings;
        /* The columns hold zeros: scans hand the row out as a record. */
        t->last_dt[i] = 0;
        t->startup_ms[i] = t->play_ms[i] = t->cirr_ms[i] = t->vrt_ms[i] = 0;
        t->kbps_known_ms[i] = 0;
        t->rebuffers[i] = t->seeks[i] = t->warnings[i] = 0;
        wide = F_WIDE;
    }
    uint16_t keep = t->flags[i] & (VEX_COL_LIVE | F_LIVE_KNOWN | F_IP_EXPLICIT | F_DIRTY |
                                   F_UNPUSHED | F_SAVED);
    t->flags[i] = (uint16_t)(keep | wide | (m->state & VEX_COL_STATE_MASK) |
                             (m->started ? F_STARTED : 0) | (m->has_kbps ? F_HAS_KBPS : 0) |
                             (m->played ? VEX_COL_PLAYED : 0) | (m->vsf ? VEX_COL_VSF : 0) |
                             (m->vpf ? VEX_COL_VPF : 0) | (m->errors ? VEX_COL_ERRORS : 0));
}

#define XTOMB UINT64_MAX

/* xfind returns the map index of row i's entry, or SIZE_MAX. */
static size_t xfind(const struct vex_table *t, size_t i)
{
    if (!t->nxlive)
        return SIZE_MAX;
    uint64_t key = (uint64_t)i + 1;
    size_t j = (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 20) & (t->nxslots - 1);
    while (t->xkey[j]) {
        if (t->xkey[j] == key)
            return j;
        j = (j + 1) & (t->nxslots - 1);
    }
    return SIZE_MAX;
}

/* xput maps row i to slot (i has no entry). VEX_ENOMEM. */
static int xput(struct vex_table *t, size_t i, uint32_t slot)
{
    if ((t->nxused + 1) * 2 > t->nxslots) {
        size_t n = 64;
        while (n < (t->nxlive + 1) * 4)
            n *= 2;
        uint64_t *k = calloc(n, sizeof *k);
        uint32_t *v = malloc(n * sizeof *v);
        if (!k || !v) {
            free(k);
            free(v);
            return VEX_ENOMEM;
        }
        for (size_t j = 0; j < t->nxslots; j++) {
            if (!t->xkey[j] || t->xkey[j] == XTOMB)
                continue;
            size_t h = (size_t)((t->xkey[j] * 0x9e3779b97f4a7c15ULL) >> 20) & (n - 1);
            while (k[h])
                h = (h + 1) & (n - 1);
            k[h] = t->xkey[j];
            v[h] = t->xval[j];
        }
        free(t->xkey);
        free(t->xval);
        t->xkey = k;
        t->xval = v;
        t->nxslots = n;
        t->nxused = t->nxlive;
    }
    uint64_t key = (uint64_t)i + 1;
    size_t j = (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 20) & (t->nxslots - 1);
    while (t->xkey[j] && t->xkey[j] != XTOMB)
        j = (j + 1) & (t->nxslots - 1);
    if (!t->xkey[j])
        t->nxused++;
    t->xkey[j] = key;
    t->xval[j] = slot;
    t->nxlive++;
    return 0;
}

static struct ext *ext_of(const struct vex_table *t, size_t i)
{
    size_t j = xfind(t, i);
    return j == SIZE_MAX ? NULL : t->exts[t->xval[j]];
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
    if (xput(t, i, slot)) {
        t->free_exts[t->nfree++] = slot;
        return VEX_ENOMEM;
    }
    t->exts[slot] = x;
    return 0;
}

static void ext_detach(struct vex_table *t, size_t i)
{
    size_t j = xfind(t, i);
    uint32_t slot = t->xval[j];
    ext_free(t->exts[slot]);
    t->exts[slot] = NULL;
    t->free_exts[t->nfree++] = slot;
    t->xkey[j] = XTOMB;
    t->nxlive--;
}

/* make_irregular gives a regular row its extension, equivalent to its
 * current state: what it has was set by events below prefix_next, which no
 * future event can override. */
static struct ext *make_irregular(struct vex_table *t, size_t i)
{
    struct ext *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    int64_t below = pn_get(t, i) - 1; /* -1 when nothing was applied */
    load_machine(t, i, &x->prefix);
    uint16_t f = t->flags[i];
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        x->dim_seq[d] = (d != VEX_DIM_IP && dim_get(t, d, i)) ? below : -1;
    if (f & F_IP_EXPLICIT) {
        x->dim_seq[VEX_DIM_IP] = below;
        x->ip_explicit = dim_get(t, VEX_DIM_IP, i);
    } else {
        x->ip_fb = dim_get(t, VEX_DIM_IP, i);
    }
    x->live_seq = (f & F_LIVE_KNOWN) ? below : -1;
    x->min_seq = pn_get(t, i) > 0 ? 0 : -1;
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
    t->flags[i] =
        (uint16_t)((t->flags[i] & ~VEX_COL_LIVE) | F_LIVE_KNOWN | (live ? VEX_COL_LIVE : 0));
}

/* apply_regular: the event continues the contiguous prefix of a regular
 * session. */
static int apply_regular(struct vex_table *t, size_t i, const struct vex_event *ev, const char *ip,
                         const struct vex_machine_event *me)
{
    uint32_t codes[VEX_DIM_COUNT] = {0}, ipfb = 0;
    uint16_t f = t->flags[i];
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        int unset = d == VEX_DIM_IP ? !(f & F_IP_EXPLICIT) : dim_get(t, d, i) == 0;
        if (ev->dims[d] && unset &&
            vex_strpool_intern(t->vals, ev->dims[d], ev->dim_len[d], &codes[d]))
            return VEX_ENOMEM;
    }
    if (ev->seq == 0 && !ev->dims[VEX_DIM_IP] && ip && *ip &&
        vex_strpool_intern(t->vals, ip, strlen(ip), &ipfb))
        return VEX_ENOMEM;
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        if (codes[d] && dim_prep(t, d, codes[d]))
            return VEX_ENOMEM;
    if (dim_prep(t, VEX_DIM_IP, ipfb))
        return VEX_ENOMEM;

    struct vex_machine m;
    load_machine(t, i, &m);
    vex_machine_apply(&m, me);
    store_machine(t, i, &m);
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        if (!codes[d])
            continue;
        dim_set(t, d, i, codes[d]);
        if (d == VEX_DIM_IP)
            t->flags[i] |= F_IP_EXPLICIT;
    }
    if (ev->seq == 0 && !ev->dims[VEX_DIM_IP])
        dim_set(t, VEX_DIM_IP, i, ipfb);
    if (ev->live >= 0 && !(t->flags[i] & F_LIVE_KNOWN))
        set_live(t, i, ev->live);
    pn_set(t, i, pn_get(t, i) + 1);
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
    /* Whatever the dimension columns may get below (the address among
     * four candidates). */
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        if (codes[d] && dim_prep(t, d, codes[d]))
            return VEX_ENOMEM;
    if (dim_prep(t, VEX_DIM_IP, ipfb) || dim_prep(t, VEX_DIM_IP, x->ip_explicit) ||
        dim_prep(t, VEX_DIM_IP, x->ip_fb))
        return VEX_ENOMEM;

    int at_end = pos == x->npend;
    if (pending_insert(x, pos, me))
        return VEX_ENOMEM;
    if (at_end && ev->seq > pn_get(t, i)) {
        /* Later than everything seen: the full machine just moves on. */
        struct vex_machine m;
        load_machine(t, i, &m);
        vex_machine_apply(&m, me);
        store_machine(t, i, &m);
    } else {
        pn_set(t, i, fold(x, pn_get(t, i)));
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
            dim_set(t, d, i, codes[d]);
    }
    if (ev->live >= 0 && (x->live_seq < 0 || ev->seq < x->live_seq)) {
        x->live_seq = ev->seq;
        set_live(t, i, ev->live);
    }
    if (lowest) {
        x->min_seq = ev->seq;
        x->ip_fb = ipfb;
    }
    dim_set(t, VEX_DIM_IP, i, x->dim_seq[VEX_DIM_IP] >= 0 ? x->ip_explicit : x->ip_fb);
    maybe_regular(t, i, x);
    return 0;
}

/* thaw dissolves the frozen block holding row i, if any: the row is about
 * to change, so the block's sums no longer stand for its rows. */
static void thaw(struct vex_table *t, size_t i)
{
    if (!t->nblks || i >= t->blks[t->nblks - 1].hi)
        return;
    size_t lo = 0, hi = t->nblks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->blks[mid].hi <= i)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == t->nblks || t->blks[lo].lo > i)
        return;
    vex_colpre_deinit(&t->blks[lo].pre);
    memmove(&t->blks[lo], &t->blks[lo + 1], (t->nblks - lo - 1) * sizeof *t->blks);
    t->nblks--;
}

int vex_table_apply(struct vex_table *t, const struct vex_event *ev, const char *ip,
                    int64_t now_ms)
{
    long row = find_or_add(t, ev->sid, ev->sid_len);
    if (row < 0)
        return (int)row;
    size_t i = (size_t)row;
    /* Distinct by seq: below the prefix everything was received already. */
    if (ev->seq < pn_get(t, i))
        return 0;
    if (wide_reserve(t))
        return VEX_ENOMEM;
    thaw(t, i);
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
    if (!x && ev->seq == pn_get(t, i)) {
        rc = apply_regular(t, i, ev, ip, &me);
    } else {
        if (!x && !(x = make_irregular(t, i)))
            return VEX_ENOMEM;
        rc = apply_irregular(t, i, x, ev, ip, &me);
    }
    if (!rc) {
        /* Strictly increasing per session, even if the server clock steps
         * back: replicas keep the row with the highest version. */
        int64_t lc = lc_get(t, i);
        lc_set(t, i, now_ms > lc ? now_ms : lc + 1);
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
    c->last_dt = t->last_dt;
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
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        const struct dcol *dc = &t->dims[d];
        c->dims[d] = dc->c32;
        c->dims24[d] = dc->c24;
        c->dims16[d] = dc->c16;
        c->dims8[d] = dc->c8;
        c->dmap16[d] = dc->glob;
    }
    c->sid_anchor = t->sanchor;
    c->sid_blocks = (const char *const *)t->sblocks;
    c->sid_used = t->sblkused;
    c->sid_row0 = 0;
    c->dict = vex_strpool_strings(t->vals);
    c->dict_size = vex_strpool_count(t->vals);
    c->now_ms = now_ms;
    c->timeout_ms = timeout_ms;
}

/* run_of narrows the whole-table columns *all to rows [lo, hi). */
static void run_of(const struct vex_columns *all, size_t lo, size_t hi, struct vex_columns *c)
{
    *c = *all;
    c->rows = hi - lo;
    c->attempt_ts += lo;
    c->last_dt += lo;
    c->startup_ms += lo;
    c->play_ms += lo;
    c->cirr_ms += lo;
    c->vrt_ms += lo;
    c->kbps_known_ms += lo;
    c->kbps_ms += lo;
    c->rebuffers += lo;
    c->seeks += lo;
    c->warnings += lo;
    c->flags += lo;
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        if (c->dims[d])
            c->dims[d] += lo;
        else if (c->dims24[d])
            c->dims24[d] += 3 * lo;
        else if (c->dims16[d])
            c->dims16[d] += lo;
        else if (c->dims8[d])
            c->dims8[d] += lo;
    }
    c->sid_row0 += lo;
    c->pre = NULL;
}

static int row_cmp(const void *x, const void *y)
{
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    return (a > b) - (a < b);
}

/* plain_runs visits rows [lo, hi), none frozen, as runs cut around the
 * wide rows (sorted) wide[*k...]. */
static int plain_runs(const struct vex_columns *all, size_t lo, size_t hi, const size_t *wide,
                      size_t nwide, size_t *k, vex_columns_visit_fn fn, void *ctx)
{
    struct vex_columns c;
    while (lo < hi) {
        while (*k < nwide && wide[*k] < lo)
            (*k)++;
        size_t end = *k < nwide && wide[*k] < hi ? wide[*k] : hi;
        if (end > lo) {
            run_of(all, lo, end, &c);
            int rc = fn(ctx, &c);
            if (rc)
                return rc;
        }
        lo = end < hi ? end + 1 : hi; /* past the wide row */
    }
    return 0;
}

int vex_table_scan_columns(const struct vex_table *t, int64_t now_ms, int64_t timeout_ms,
                           vex_columns_visit_fn fn, void *ctx)
{
    struct vex_columns all, c;
    vex_table_columns(t, now_ms, timeout_ms, &all);
    /* Wide rows (rare) are handed out as records, after the runs. */
    size_t *wide = NULL, nwide = 0, k = 0;
    struct vex_record *recs = NULL;
    for (size_t w = 0; w < t->nwides; w++)
        nwide += (t->flags[t->wides[w].row] & F_WIDE) != 0;
    if (nwide) {
        wide = malloc(nwide * sizeof *wide);
        recs = malloc(nwide * sizeof *recs);
        if (!wide || !recs) {
            free(wide);
            free(recs);
            return VEX_ENOMEM;
        }
        nwide = 0;
        for (size_t w = 0; w < t->nwides; w++)
            if (t->flags[t->wides[w].row] & F_WIDE)
                wide[nwide++] = t->wides[w].row;
        qsort(wide, nwide, sizeof *wide, row_cmp);
    }
    size_t pos = 0;
    int rc = 0;
    for (size_t b = 0; b <= t->nblks && !rc; b++) {
        size_t end = b < t->nblks ? t->blks[b].lo : t->n;
        rc = plain_runs(&all, pos, end, wide, nwide, &k, fn, ctx);
        if (b == t->nblks || rc)
            break;
        run_of(&all, t->blks[b].lo, t->blks[b].hi, &c);
        c.pre = &t->blks[b].pre;
        rc = fn(ctx, &c);
        pos = t->blks[b].hi;
    }
    if (!rc && nwide) {
        for (size_t w = 0; w < nwide; w++)
            vex_table_record(t, wide[w], now_ms, timeout_ms, &recs[w]);
        run_of(&all, t->n, t->n, &c);
        c.recs = recs;
        c.nrecs = nwide;
        rc = fn(ctx, &c);
    }
    free(wide);
    free(recs);
    return rc;
}

/* frozen_ok: row i is closed whatever the clock does within quiet_ms, has
 * nothing pending and has not changed for quiet_ms. */
static int frozen_ok(const struct vex_table *t, size_t i, int64_t now_ms, int64_t timeout_ms,
                     int64_t quiet_ms)
{
    uint16_t f = t->flags[i];
    if (ext_of(t, i) || !(f & F_STARTED) || (f & F_WIDE) || now_ms - lc_get(t, i) <= quiet_ms)
        return 0;
    return (f & VEX_COL_STATE_MASK) == VEX_STATE_ENDED ||
           now_ms - lt_get(t, i) > timeout_ms + quiet_ms;
}

static int blk_cmp(const void *x, const void *y)
{
    const struct blk *a = x, *b = y;
    return (a->lo > b->lo) - (a->lo < b->lo);
}

int vex_table_freeze(struct vex_table *t, int64_t now_ms, int64_t timeout_ms, int64_t quiet_ms,
                     size_t min_rows)
{
    struct vex_columns all;
    vex_table_columns(t, now_ms, timeout_ms, &all);
    size_t nold = t->nblks, b = 0, i = 0;
    int rc = 0;
    if (min_rows == 0)
        min_rows = 1;
    while (i < t->n && !rc) {
        if (b < nold && i >= t->blks[b].lo) {
            i = t->blks[b++].hi; /* already frozen */
            continue;
        }
        size_t gap_end = b < nold ? t->blks[b].lo : t->n;
        if (!frozen_ok(t, i, now_ms, timeout_ms, quiet_ms)) {
            i++;
            continue;
        }
        /* A block holds one day of attempt_ts, so that whole days of a
         * period find theirs wholly inside it. */
        size_t j = i + 1;
        int64_t day = day_of(t->attempt_ts[i]);
        while (j < gap_end && frozen_ok(t, j, now_ms, timeout_ms, quiet_ms) &&
               day_of(t->attempt_ts[j]) == day)
            j++;
        if (j - i >= min_rows) {
            if (t->nblks == t->capblks) {
                size_t cap = t->capblks ? t->capblks * 2 : 16;
                struct blk *v = realloc(t->blks, cap * sizeof *v);
                if (!v) {
                    rc = VEX_ENOMEM;
                    break;
                }
                t->blks = v;
                t->capblks = cap;
            }
            struct blk *k = &t->blks[t->nblks];
            k->lo = i;
            k->hi = j;
            rc = vex_colpre_build(&all, i, j, VEX_DIM_CDN, &k->pre);
            if (!rc)
                t->nblks++;
        }
        i = j;
    }
    if (t->nblks != nold)
        qsort(t->blks, t->nblks, sizeof *t->blks, blk_cmp);
    return rc;
}

size_t vex_table_frozen_rows(const struct vex_table *t)
{
    size_t n = 0;
    for (size_t b = 0; b < t->nblks; b++)
        n += t->blks[b].hi - t->blks[b].lo;
    return n;
}

void vex_table_record(const struct vex_table *t, size_t i, int64_t now_ms, int64_t timeout_ms,
                      struct vex_record *r)
{
    struct vex_machine m;
    load_machine(t, i, &m);
    vex_machine_fill(&m, r);
    r->sid = sid_of(t, i);
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        r->dims[d] = vex_strpool_get(t->vals, dim_get(t, d, i));
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
        int64_t lt = lt_get(t, i);
        int64_t lo = t->attempt_ts[i] < lt ? t->attempt_ts[i] : lt;
        int64_t hi = t->attempt_ts[i] < lt ? lt : t->attempt_ts[i];
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
    out->sid = sid_of(t, i);
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        out->dims[d] = vex_strpool_get(t->vals, dim_get(t, d, i));
    out->prefix_next = pn_get(t, i);
    out->last_change_ms = lc_get(t, i);
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
    int64_t below = pn_get(t, i) - 1;
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        out->dim_seq[d] = (d != VEX_DIM_IP && dim_get(t, d, i)) ? below : -1;
    if (f & F_IP_EXPLICIT) {
        out->dim_seq[VEX_DIM_IP] = below;
        out->ip_fallback = "";
    } else {
        out->dims[VEX_DIM_IP] = "";
        out->ip_fallback = vex_strpool_get(t->vals, dim_get(t, VEX_DIM_IP, i));
    }
    out->min_seq = pn_get(t, i) > 0 ? 0 : -1;
    out->live_seq = (f & F_LIVE_KNOWN) ? below : -1;
    load_machine(t, i, &out->prefix);
}

int vex_table_import(struct vex_table *t, const struct vex_session_state *in)
{
    size_t len = strlen(in->sid), row0;
    if (len == 0 || in->prefix_next < 0)
        return VEX_ECORRUPT;
    if (sid_find(t, in->sid, len, &row0) == 0)
        return VEX_EEXIST;
    for (uint32_t k = 0; k < in->npending; k++) {
        if (in->pending[k].seq < in->prefix_next ||
            (k > 0 && in->pending[k].seq <= in->pending[k - 1].seq) ||
            in->pending[k].type >= VEX_EV_TYPE_COUNT)
            return VEX_ECORRUPT;
    }
    uint32_t vals[VEX_DIM_COUNT], ipfb;
    if (wide_reserve(t))
        return VEX_ENOMEM;
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        if (vex_strpool_intern(t->vals, in->dims[d], strlen(in->dims[d]), &vals[d]))
            return VEX_ENOMEM;
    if (vex_strpool_intern(t->vals, in->ip_fallback, strlen(in->ip_fallback), &ipfb))
        return VEX_ENOMEM;
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        if (dim_prep(t, d, vals[d]))
            return VEX_ENOMEM;
    if (dim_prep(t, VEX_DIM_IP, ipfb))
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
        return row < 0 ? (int)row : VEX_ENOMEM;
    }
    size_t i = (size_t)row;
    pn_set(t, i, in->prefix_next);
    lc_set(t, i, in->last_change_ms);
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        dim_set(t, d, i, vals[d]);
    dim_set(t, VEX_DIM_IP, i, in->dim_seq[VEX_DIM_IP] >= 0 ? vals[VEX_DIM_IP] : ipfb);
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
    if (t->flags[i] & F_SAVED)
        return day_of(t->attempt_ts[i]);
    const struct wide *w = wide_find(t, i);
    return w && w->saved_aside ? w->saved_day : INT64_MIN;
}

int vex_table_mark_saved(struct vex_table *t, size_t i, int64_t day)
{
    struct wide *w = wide_find(t, i);
    if (day == day_of(t->attempt_ts[i])) {
        if (w)
            w->saved_aside = 0;
        t->flags[i] = (uint16_t)((t->flags[i] & ~F_DIRTY) | F_SAVED);
        return 0;
    }
    if (!w) {
        if (wide_reserve(t))
            return VEX_ENOMEM;
        w = side_of(t, i);
    }
    w->saved_day = day;
    w->saved_aside = 1;
    t->flags[i] &= (uint16_t)~(F_DIRTY | F_SAVED);
    return 0;
}

int64_t vex_table_last_change(const struct vex_table *t, size_t i)
{
    return lc_get(t, i);
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
        if (lc_get(t, i) >= since_ms)
            t->flags[i] |= F_UNPUSHED;
}

void vex_table_mark_dirty(struct vex_table *t, size_t i)
{
    t->flags[i] |= F_DIRTY | F_UNPUSHED;
}
