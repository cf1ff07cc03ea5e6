/* embedded.h - the embedded store: write-ahead log + per-customer session
 * tables in memory + columnar checkpoint segments partitioned by customer
 * and day. It needs nothing but a data directory.
 *
 * Durability: vex_engine_ingest() returns once the batch's WAL record is
 * durable per the fsync policy. On open, the latest checkpoint is loaded and
 * the log after it replayed, discarding a torn tail. */
#ifndef VEX_BACKEND_EMBEDDED_H
#define VEX_BACKEND_EMBEDDED_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "ingest/event.h"
#include "session/table.h"

struct vex_engine;

/* A replica receives every changed session (its whole record and a
 * version that grows with each change of that session), e.g. ClickHouse for
 * scale-out. push returns 0 once the replica holds the rows durably; until
 * then the write-ahead log keeps the events they came from. */
struct vex_replica {
    void *self;
    int (*push)(void *self, const char *customer, const struct vex_record *recs,
                const int64_t *versions, size_t n);
};

struct vex_engine_options {
    const char *data_dir;
    int fsync_policy;               /* enum vex_wal_sync */
    int64_t session_timeout_ms;     /* default 120000 */
    int64_t checkpoint_interval_ms; /* 0: no background checkpoints */
    size_t checkpoint_wal_bytes;    /* checkpoint once this much log accrued (0: never) */
    const struct vex_replica *replica; /* NULL: embedded only */
    int64_t replica_interval_ms;       /* push period, default 1000 */
    size_t replica_backlog_bytes;      /* log not yet pushed past which ingest is refused
                                          (VEX_EUNAVAIL -> 503); default 1 GiB */
    int64_t freeze_after_ms; /* closed sessions unchanged this long go into frozen blocks
                                (vex_table_freeze); 0: 24 h (SPEC 2), < 0: never */
};

struct vex_engine_stats {
    size_t customers;
    size_t sessions;
    size_t memory_bytes;
    uint64_t batches;
    uint64_t events;
    uint64_t checkpoints;
    uint64_t wal_bytes_since_checkpoint;
    uint64_t replica_backlog_bytes; /* log bytes whose sessions are not pushed yet */
    uint64_t replica_pushes;
    uint64_t replica_failures;
};

/* vex_engine_push sends every changed session to the replica now (the
 * background thread also does it every replica_interval_ms). */
int vex_engine_push(struct vex_engine *e);

/* vex_engine_open loads the store under data_dir/store (creating it). */
int vex_engine_open(const struct vex_engine_options *opt, struct vex_engine **out);

/* vex_engine_ingest stores a validated batch for `customer`, applies it to
 * the sessions, and returns once it is durable. `ip` is the client address
 * ("" for bulk loads). VEX_EIO (log write failed: nothing acknowledged),
 * VEX_EUNAVAIL (the replica is too far behind), VEX_ENOMEM. */
int vex_engine_ingest(struct vex_engine *e, const char *customer, const struct vex_event *evs,
                      size_t n, const char *ip);

/* vex_engine_import adds whole sessions (as a checkpoint holds them) to
 * `customer` without going through events or the log; the next checkpoint
 * writes them. For tools that build stores (benchmarks). VEX_EEXIST when a
 * sid is present, VEX_ECORRUPT, VEX_ENOMEM. */
int vex_engine_import(struct vex_engine *e, const char *customer,
                      const struct vex_session_state *states, size_t n);

/* vex_engine_source returns the scan interface over this engine. */
struct vex_source vex_engine_source(struct vex_engine *e);

/* vex_engine_freeze puts the sessions that can no longer change (closed,
 * quiet for freeze_after_ms) into frozen blocks with pre-aggregates, which
 * totals queries add instead of scanning. The server does it after loading
 * and after each background checkpoint. VEX_ENOMEM. */
int vex_engine_freeze(struct vex_engine *e);

/* vex_engine_checkpoint writes changed partitions and truncates the log. */
int vex_engine_checkpoint(struct vex_engine *e);

void vex_engine_stats(struct vex_engine *e, struct vex_engine_stats *st);

/* vex_engine_memory sums the memory breakdown of every customer's table. */
void vex_engine_memory(struct vex_engine *e, struct vex_table_mem *m);

/* vex_engine_close checkpoints and frees everything. */
void vex_engine_close(struct vex_engine *e);

#endif
