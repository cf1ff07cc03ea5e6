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

struct vex_engine;

struct vex_engine_options {
    const char *data_dir;
    int fsync_policy;               /* enum vex_wal_sync */
    int64_t session_timeout_ms;     /* default 120000 */
    int64_t checkpoint_interval_ms; /* 0: no background checkpoints */
    size_t checkpoint_wal_bytes;    /* checkpoint once this much log accrued (0: never) */
};

struct vex_engine_stats {
    size_t customers;
    size_t sessions;
    size_t memory_bytes;
    uint64_t batches;
    uint64_t events;
    uint64_t checkpoints;
    uint64_t wal_bytes_since_checkpoint;
};

/* vex_engine_open loads the store under data_dir/store (creating it). */
int vex_engine_open(const struct vex_engine_options *opt, struct vex_engine **out);

/* vex_engine_ingest stores a validated batch for `customer`, applies it to
 * the sessions, and returns once it is durable. `ip` is the client address
 * ("" for bulk loads). VEX_EIO (log write failed: nothing acknowledged),
 * VEX_ENOMEM. */
int vex_engine_ingest(struct vex_engine *e, const char *customer, const struct vex_event *evs,
                      size_t n, const char *ip);

/* vex_engine_source returns the scan interface over this engine. */
struct vex_source vex_engine_source(struct vex_engine *e);

/* vex_engine_checkpoint writes changed partitions and truncates the log. */
int vex_engine_checkpoint(struct vex_engine *e);

void vex_engine_stats(struct vex_engine *e, struct vex_engine_stats *st);

/* vex_engine_close checkpoints and frees everything. */
void vex_engine_close(struct vex_engine *e);

#endif
