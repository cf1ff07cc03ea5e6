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

struct vex_source {
    void *self;
    /* Visits every session of `customer` whose [attempt_ts, last_ts] overlaps
     * [from_ms, to_ms) (it may visit more; each session at most once), with
     * `closed` and `ebvs` resolved against the server clock. Returns 0, a
     * VEX_E* code, or the visitor's nonzero return. */
    int (*scan)(void *self, const char *customer, int64_t from_ms, int64_t to_ms,
                vex_record_visit_fn fn, void *ctx);
};

#endif
