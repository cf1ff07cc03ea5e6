/* backend.h - what the query engine needs from a store: a scan of session
 * records. The embedded store and the ClickHouse backend both provide it.
 *
 * The query engine never includes store/ headers; it speaks to this. */
#ifndef VEX_BACKEND_BACKEND_H
#define VEX_BACKEND_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "session/record.h"

/* Called with a batch of records; the records and their strings are borrowed
 * for the duration of the call. Return 0 to go on, nonzero to stop the scan
 * (the scan then returns that value). */
typedef int (*vex_record_visit_fn)(void *ctx, const struct vex_record *recs, size_t n);

/* Plain sums over a set of closed sessions, what the query engine adds per
 * session for the SPEC 4.2 metrics (its struct vex_acc, minus what cannot be
 * summed ahead: distinct viewers, value lists). Every session counted is
 * closed, so `ebvs` and `endedplays` need no clock. */
struct vex_colsums {
    uint32_t attempts, played, vsf, vpf, errors, ebvs;
    uint32_t q_n;         /* sessions with played or vsf */
    uint32_t endedplays;  /* played (all are closed) */
    int64_t rebuffers, play_ms, cirr_ms, vrt_ms;
    int64_t startup_ms;   /* over played sessions */
    int64_t kbps_known_ms;
    int64_t dur_ms;       /* sum of max(0, last_ts - attempt_ts): concurviewavg's overlap */
    double kbps_ms;
    double q_sum;         /* Q (vex_record_q) over the q_n sessions */
};

/* A pre-aggregate of a whole column run (session/colpre.h makes them):
 * every session of the run is closed for good (it can only change by a new
 * event, and the store then stops handing the pre-aggregate out), so the
 * query engine may add these sums instead of scanning the rows when every
 * row is on the same side of each time rule of the query (all inside the
 * period or all outside). Sums are split by `live` (index 1: live). */
struct vex_colpre {
    int64_t at_min, at_max; /* attempt_ts over the rows */
    int64_t lt_min, lt_max; /* last_ts over the rows */
    struct vex_colsums all[2];
    int key_dim;            /* enum vex_dim of the per-value sums */
    size_t nkeys;
    const uint32_t *key_code;        /* dictionary codes of that dimension */
    const struct vex_colsums *key_sums; /* [2 * k + live] */
};

/* Sessions as column arrays (structure of arrays): row i of every array is
 * the same session. Dimension values and sids are codes into dictionaries
 * (code 0 is always ""). `closed` and `ebvs` are not stored: for row i,
 *   closed = state == VEX_STATE_ENDED || now_ms - last_ts > timeout_ms
 * (last_ts = attempt_ts[i] + last_dt[i], vex_columns_last_ts)
 *   ebvs   = closed && !played && !vsf
 * All pointers are borrowed for the duration of the visit. */
struct vex_columns {
    size_t rows;
    const int64_t *attempt_ts;
    /* last_ts - attempt_ts: a row keeps it within 0..2^32 - 1 ms (49.7
     * days; other sessions are `recs`), half the bytes of a time. */
    const uint32_t *last_dt;
    /* Durations and counters are narrow (memory bandwidth is what a scan
     * costs): a session whose values do not fit is not a row but one of
     * `recs` below. */
    const uint32_t *startup_ms;
    const uint32_t *play_ms;
    const uint32_t *cirr_ms;
    const uint32_t *vrt_ms;
    const uint32_t *kbps_known_ms;
    const double *kbps_ms;
    const uint16_t *rebuffers;
    const uint16_t *seeks;
    const uint16_t *warnings;
    const uint16_t *flags;               /* VEX_COL_* bits */
    /* Dimension values: codes into dict (ip: the effective address), from
     * the first of these that is set (vex_columns_dim):
     *   dims[d][i];
     *   dims24[d]: bytes 3i..3i+2, the code little-endian;
     *   dmap16[d][dims16[d][i]], dmap16[d][dims8[d][i]]: a dimension with
     *   few values is stored in 16 or 8 bits of codes local to the column,
     *   which dmap16 maps to dict's. */
    const uint32_t *dims[VEX_DIM_COUNT];
    const uint8_t *dims24[VEX_DIM_COUNT];
    const uint16_t *dims16[VEX_DIM_COUNT];
    const uint8_t *dims8[VEX_DIM_COUNT];
    const uint32_t *dmap16[VEX_DIM_COUNT];
    /* Sids: codes into sid_dict (sid set; with sid NULL and sid_dict set,
     * row i's code is sid_base + i), or, with sid_anchor set, row i's sid is
     * vex_sid_at(sid_anchor, sid_blocks, sid_used, sid_row0 + i). */
    const uint32_t *sid;
    uint32_t sid_base;
    const uint32_t *sid_anchor;
    const char *const *sid_blocks;
    const uint32_t *sid_used;
    size_t sid_row0;
    const char *const *dict;
    size_t dict_size;
    const char *const *sid_dict;
    size_t sid_dict_size;
    int64_t now_ms;
    int64_t timeout_ms;
    /* NULL, or the sums of every row of this run (see struct vex_colpre). */
    const struct vex_colpre *pre;
    /* Sessions of this run given as whole records (closed and ebvs
     * resolved) rather than rows: those whose durations or counters do not
     * fit the narrow columns. They are not among the rows. */
    const struct vex_record *recs;
    size_t nrecs;
};

#define VEX_SID_REF_BITS 20
#define VEX_SID_REF_MASK ((1u << VEX_SID_REF_BITS) - 1)
#define VEX_SID_GROUP 8

/* vex_sid_at is the sid of row `row` of a table whose sids lie
 * NUL-terminated, in row order, in blocks (used[b] bytes of blocks[b]),
 * with anchor[g] the reference (block << VEX_SID_REF_BITS | offset) of the
 * sid of row g * VEX_SID_GROUP: a reference for every row would cost 4
 * bytes a session, walking at most 7 short strings costs little. */
static inline const char *vex_sid_at(const uint32_t *anchor, const char *const *blocks,
                                     const uint32_t *used, size_t row)
{
    uint32_t ref = anchor[row / VEX_SID_GROUP];
    size_t b = ref >> VEX_SID_REF_BITS, off = ref & VEX_SID_REF_MASK;
    for (size_t k = row % VEX_SID_GROUP; k > 0; k--) {
        off += strlen(blocks[b] + off) + 1;
        if (off == used[b]) {
            b++;
            off = 0;
        }
    }
    return blocks[b] + off;
}

#define VEX_COL_STATE_MASK 0x0007u /* enum vex_state */
#define VEX_COL_PLAYED 0x0008u
#define VEX_COL_VSF 0x0010u
#define VEX_COL_VPF 0x0020u
#define VEX_COL_ERRORS 0x0040u
#define VEX_COL_LIVE 0x0080u

/* vex_columns_last_ts is last_ts of row i. */
static inline int64_t vex_columns_last_ts(const struct vex_columns *c, size_t i)
{
    return c->attempt_ts[i] + (int64_t)c->last_dt[i];
}

/* vex_columns_dim is the dictionary code of dimension d in row i. */
static inline uint32_t vex_columns_dim(const struct vex_columns *c, int d, size_t i)
{
    if (c->dims[d])
        return c->dims[d][i];
    if (c->dims24[d]) {
        const uint8_t *x = c->dims24[d] + 3 * i;
        return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16;
    }
    return c->dmap16[d][c->dims16[d] ? c->dims16[d][i] : c->dims8[d][i]];
}

/* Called with column runs; return 0 to go on, nonzero to stop. */
typedef int (*vex_columns_visit_fn)(void *ctx, const struct vex_columns *cols);

struct vex_source {
    void *self;
    /* Optional (NULL when the backend has no columnar form): visits column
     * runs holding at least every session of `customer` whose
     * [attempt_ts, last_ts] overlaps [from_ms, to_ms) (they may hold more;
     * each session appears once). Same returns as scan. */
    int (*scan_columns)(void *self, const char *customer, int64_t from_ms, int64_t to_ms,
                        vex_columns_visit_fn fn, void *ctx);
    /* Visits every session of `customer` whose [min, max] of attempt_ts and
     * last_ts overlaps [from_ms, to_ms) (a client clock may put last_ts below
     * attempt_ts; it may visit more; each session at most once), with
     * `closed` and `ebvs` resolved against the server clock. Returns 0, a
     * VEX_E* code, or the visitor's nonzero return. */
    int (*scan)(void *self, const char *customer, int64_t from_ms, int64_t to_ms,
                vex_record_visit_fn fn, void *ctx);
    /* Optional (both or neither), for backends that answer SQL in the
     * ClickHouse dialect: the query engine then sends its aggregation there
     * (query/sqlplan.c) instead of scanning.
     * sql_sessions writes to out (cap bytes, NUL-terminated) a parenthesised
     * relation holding the newest version of every session of `customer`,
     * one row per session, with the columns `sid`, the dimensions named by
     * vex_dim_name (`ip` included, the effective address), `live`,
     * `attempt_ts`, `last_ts`, `startup_ms`, `play_ms`, `cirr_ms`, `vrt_ms`,
     * `kbps_known_ms` (Int64), `kbps_ms` (Float64), `rebuffers`, `seeks`,
     * `warnings` (UInt32), `state`, `played`, `vsf`, `vpf`, `errors` (UInt8),
     * and `closed`, `ebvs` (UInt8) resolved against the backend's clock and
     * session timeout as in record.h. VEX_EINVAL, VEX_ETOOBIG.
     * sql_select runs stmt (a SELECT ending in FORMAT RowBinary) and hands
     * its whole answer back in *body (malloc'd, the caller frees) and *len.
     * VEX_E* codes. */
    int (*sql_sessions)(void *self, const char *customer, char *out, size_t cap);
    int (*sql_select)(void *self, const char *stmt, unsigned char **body, size_t *len);
};

#endif
