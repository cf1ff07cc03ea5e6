/* table.h - the sessions of one customer: the sessionizer of SPEC section 3.
 *
 * Events go in with vex_table_apply() in the order they were received; the
 * table keeps, per session, the machine state over the contiguous seq
 * prefix 0..k and the distinct events after it, so that any delivery order,
 * split and duplication gives the record of the distinct events applied once
 * each in seq order (the first copy of a seq wins). In-order delivery costs
 * O(1) per event and keeps no event.
 *
 * Sessions are stored as columns (one array per record field, dimension
 * values as dictionary codes, narrow where the values allow: see table.c),
 * which is what queries scan, with frozen blocks of closed sessions carrying
 * pre-aggregates (vex_table_freeze). A session whose
 * events all arrived in seq order from 0 ("regular") needs nothing else; the
 * others carry an extension with the prefix machine, the pending events and
 * the seq each dimension came from, until the gaps fill.
 *
 * Not thread-safe: the owner locks. */
#ifndef VEX_SESSION_TABLE_H
#define VEX_SESSION_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "ingest/event.h"
#include "session/machine.h"
#include "session/record.h"

struct vex_table;

int vex_table_create(struct vex_table **out);
void vex_table_destroy(struct vex_table *t);

/* vex_table_apply applies one received event. `ip` is the client address of
 * the request that delivered it ("" for bulk loads); now_ms the server clock.
 * VEX_ENOMEM. */
int vex_table_apply(struct vex_table *t, const struct vex_event *ev, const char *ip,
                    int64_t now_ms);

/* vex_table_scan visits (in batches) the records of sessions whose
 * [attempt_ts, last_ts] overlaps [from_ms, to_ms), resolved at now_ms with
 * the session timeout. Returns 0 or the visitor's nonzero return. */
int vex_table_scan(struct vex_table *t, int64_t from_ms, int64_t to_ms, int64_t now_ms,
                   int64_t timeout_ms, vex_record_visit_fn fn, void *ctx);

/* vex_table_columns describes every session as column arrays (see
 * backend.h), borrowed until the table's next change. Rows too wide for
 * the narrow columns hold zeros there (vex_table_scan_columns hands them out
 * as records). */
void vex_table_columns(const struct vex_table *t, int64_t now_ms, int64_t timeout_ms,
                       struct vex_columns *out);

/* vex_table_scan_columns visits every session as column runs: rows of
 * frozen blocks (vex_table_freeze) as runs of their own that carry their
 * pre-aggregate (vex_columns.pre), the others as plain runs, in row order,
 * and last the sessions too wide for the columns as records (a run of no
 * rows with vex_columns.recs). Borrowed as vex_table_columns. Returns 0,
 * VEX_ENOMEM or the visitor's nonzero return. */
int vex_table_scan_columns(const struct vex_table *t, int64_t now_ms, int64_t timeout_ms,
                           vex_columns_visit_fn fn, void *ctx);

/* vex_table_freeze makes frozen blocks of the rows that are in none yet:
 * runs of at least min_rows consecutive rows with the same day (UTC) of
 * attempt_ts, each closed (ENDED, or silent for more than timeout_ms +
 * quiet_ms), with nothing pending and unchanged for more than quiet_ms, all
 * at server time now_ms. SPEC section 2 guarantees order independence for
 * events arriving up to 24 h after a session last changed, so quiet_ms is
 * 24 h in the server; an event for a frozen row later dissolves its block.
 * VEX_ENOMEM (the blocks made so far stay). */
int vex_table_freeze(struct vex_table *t, int64_t now_ms, int64_t timeout_ms, int64_t quiet_ms,
                     size_t min_rows);

/* vex_table_frozen_rows counts the rows in frozen blocks. */
size_t vex_table_frozen_rows(const struct vex_table *t);

size_t vex_table_count(const struct vex_table *t);

/* vex_table_reserve makes room for `more` sessions at once (loading a
 * checkpoint knows how many come). VEX_ENOMEM. */
int vex_table_reserve(struct vex_table *t, size_t more);
size_t vex_table_memory(const struct vex_table *t);

/* Where the bytes of a table go (allocated capacity, not just what is
 * used), for docs/performance.md and the memory benchmark. */
struct vex_table_mem {
    size_t rows, cap;
    size_t record_cols; /* times, durations, counters, kbps_ms, flags */
    size_t dim_cols;    /* the 13 dimension code columns */
    size_t wide;        /* sessions too wide for the narrow columns */
    size_t sessionizer; /* prefix_next, last_change, current kbps */
    size_t sid_pool;    /* the sid strings and their index */
    size_t val_pool;    /* the dimension strings and their index */
    size_t sids, vals;  /* strings in each pool */
    size_t ext;         /* extensions of irregular sessions */
    size_t frozen;      /* frozen blocks' pre-aggregates */
    size_t frozen_rows;
};

void vex_table_memory_detail(const struct vex_table *t, struct vex_table_mem *m);

/* vex_table_attempt_ts returns the attempt_ts of session i. */
int64_t vex_table_attempt_ts(const struct vex_table *t, size_t i);

/* The whole state of one session, for checkpoints. Pointers are borrowed
 * from the table until its next change. */
struct vex_session_state {
    const char *sid;
    const char *dims[VEX_DIM_COUNT];
    int64_t dim_seq[VEX_DIM_COUNT]; /* -1: no event carried it */
    const char *ip_fallback;        /* client address of the lowest-seq event */
    int64_t min_seq;
    int64_t live;                   /* -1 unknown, 0, 1 */
    int64_t live_seq;
    int64_t prefix_next;            /* events 0..prefix_next-1 are folded into `prefix` */
    int64_t last_change_ms;         /* server clock of the last change */
    struct vex_machine prefix;
    const struct vex_machine_event *pending; /* sorted by seq, distinct */
    uint32_t npending;
    int64_t attempt_ts;             /* of the full record, for partitioning */
};

/* vex_table_export views session i (0 <= i < count). */
void vex_table_export(const struct vex_table *t, size_t i, struct vex_session_state *out);

/* vex_table_import adds a session from a checkpoint. VEX_EEXIST if the sid
 * is present, VEX_ECORRUPT on inconsistent state, VEX_ENOMEM. */
int vex_table_import(struct vex_table *t, const struct vex_session_state *in);

/* vex_table_record fills the record of session i (strings borrowed from the
 * table; they never move, so they stay valid while the table lives). */
void vex_table_record(const struct vex_table *t, size_t i, int64_t now_ms, int64_t timeout_ms,
                      struct vex_record *r);
int64_t vex_table_last_change(const struct vex_table *t, size_t i);

/* Replication bookkeeping: every change marks the session "unpushed".
 * vex_table_take_unpushed appends the rows so marked to *rows (growing it)
 * and clears the mark; vex_table_mark_unpushed sets it again (after a failed
 * push, or for sessions changed since a time). */
int vex_table_take_unpushed(struct vex_table *t, size_t **rows, size_t *n, size_t *cap);
void vex_table_mark_unpushed(struct vex_table *t, const size_t *rows, size_t n);
void vex_table_mark_unpushed_since(struct vex_table *t, int64_t since_ms);

/* Checkpoint bookkeeping: each session remembers whether it changed since
 * the last checkpoint and which partition (day of attempt_ts) it was written
 * to. */
int vex_table_dirty(const struct vex_table *t, size_t i);
int64_t vex_table_saved_day(const struct vex_table *t, size_t i);
/* vex_table_mark_saved records that session i was written to the partition
 * of `day` and clears its dirty mark. It fails (VEX_ENOMEM, nothing changed)
 * only when day is not the day of the session's attempt_ts (that case keeps
 * the day in a side table). */
int vex_table_mark_saved(struct vex_table *t, size_t i, int64_t day);
/* vex_table_mark_dirty makes the next checkpoint write session i. */
void vex_table_mark_dirty(struct vex_table *t, size_t i);

#endif
