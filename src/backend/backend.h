/* backend.h - what the query engine needs from a store: a scan of session
 * records. The embedded store and the ClickHouse backend both provide it.
 *
 * The query engine never includes store/ headers; it speaks to this. */
#ifndef VEX_BACKEND_BACKEND_H
#define VEX_BACKEND_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "session/record.h"

/* Called with a batch of records; the records and their strings are borrowed
 * for the duration of the call. Return 0 to go on, nonzero to stop the scan
 * (the scan then returns that value). */
typedef int (*vex_record_visit_fn)(void *ctx, const struct vex_record *recs, size_t n);

/* Sessions as column arrays (structure of arrays): row i of every array is
 * the same session. Dimension values and sids are codes into dictionaries
 * (code 0 is always ""). `closed` and `ebvs` are not stored: for row i,
 *   closed = state == VEX_STATE_ENDED || now_ms - last_ts[i] > timeout_ms
 *   ebvs   = closed && !played && !vsf
 * All pointers are borrowed for the duration of the visit. */
struct vex_columns {
    size_t rows;
    const int64_t *attempt_ts;
    const int64_t *last_ts;
    const int64_t *startup_ms;
    const int64_t *play_ms;
    const int64_t *cirr_ms;
    const int64_t *vrt_ms;
    const int64_t *kbps_known_ms;
    const double *kbps_ms;
    const uint32_t *rebuffers;
    const uint32_t *seeks;
    const uint32_t *warnings;
    const uint16_t *flags;               /* VEX_COL_* bits */
    const uint32_t *dims[VEX_DIM_COUNT]; /* codes into dict (ip: the effective address) */
    const uint32_t *sid;                 /* codes into sid_dict */
    const char *const *dict;
    size_t dict_size;
    const char *const *sid_dict;
    size_t sid_dict_size;
    int64_t now_ms;
    int64_t timeout_ms;
};

#define VEX_COL_STATE_MASK 0x0007u /* enum vex_state */
#define VEX_COL_PLAYED 0x0008u
#define VEX_COL_VSF 0x0010u
#define VEX_COL_VPF 0x0020u
#define VEX_COL_ERRORS 0x0040u
#define VEX_COL_LIVE 0x0080u

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
