/* clickhouse.h - the ClickHouse backend for scale-out (docs/scale-out.md).
 *
 * A node keeps sessionizing in memory with its own write-ahead log (the
 * embedded engine); this backend is the engine's replica and the query
 * engine's source:
 *   - writes: vex_clickhouse_replica() INSERTs every changed session (whole
 *     record + version) over ClickHouse's HTTP interface into a
 *     ReplacingMergeTree(version) table, one INSERT per push call, in
 *     RowBinary, so no value needs escaping and a repeated push is harmless;
 *   - reads: vex_clickhouse_source() SELECTs a customer's sessions FINAL (the
 *     newest version of each) and hands them to the query engine as records,
 *     with `closed` and `ebvs` resolved against this node's clock, so every
 *     query answers as the embedded store does.
 *
 * Schema (version VEX_CLICKHOUSE_SCHEMA), in database DB of the store URL:
 *   sessions       ReplacingMergeTree(version), PARTITION BY day of attempt_ts,
 *                  ORDER BY (customer, sid); one row per session version
 *   sessions_dist  Distributed(CLUSTER, DB, sessions, cityHash64(customer, sid)),
 *                  only when a cluster is configured; then reads and writes go
 *                  through it
 *   vex_meta       (key, value): key 'schema' holds the schema version
 * vex creates what is missing and refuses an existing table whose columns,
 * engine or schema version it does not know. */
#ifndef VEX_BACKEND_CLICKHOUSE_H
#define VEX_BACKEND_CLICKHOUSE_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "backend/embedded.h"
#include "session/record.h"

#define VEX_CLICKHOUSE_SCHEMA 1

/* What a store URL says:
 *   http://[USER:PASSWORD@]HOST:PORT[/DB][?cluster=NAME&push_interval_ms=N
 *                                           &max_backlog_bytes=N]
 * DB defaults to "vex". */
struct vex_clickhouse_config {
    char base[512];           /* scheme://[userinfo@]host[:port], no trailing '/' */
    char db[65];              /* [A-Za-z0-9_], 1..64 */
    char cluster[65];         /* "" when none */
    int64_t push_interval_ms; /* 0: the engine's default */
    size_t max_backlog_bytes; /* 0: the engine's default */
};

/* vex_clickhouse_parse_url fills *cfg from a store URL. VEX_EINVAL with a
 * message in err on anything it does not understand. */
int vex_clickhouse_parse_url(const char *url, struct vex_clickhouse_config *cfg, char *err,
                             size_t errlen);

struct vex_clickhouse;

/* vex_clickhouse_create makes a backend for cfg (copied); nothing is sent to
 * ClickHouse yet. session_timeout_ms resolves `closed` at query time. The
 * caller has called curl_global_init(). VEX_ENOMEM. */
int vex_clickhouse_create(const struct vex_clickhouse_config *cfg, int64_t session_timeout_ms,
                          struct vex_clickhouse **out);

/* vex_clickhouse_prepare creates the database and the missing tables and
 * checks the existing ones. Returns 0; VEX_EUNAVAIL when ClickHouse cannot
 * be reached (the backend is still usable: the first push or scan prepares
 * again); VEX_ECORRUPT when a table's schema is not the one this vex knows;
 * VEX_EIO when ClickHouse refused a statement. err says what and how to fix
 * it. Thread-safe. */
int vex_clickhouse_prepare(struct vex_clickhouse *ch, char *err, size_t errlen);

/* The replica for vex_engine_options.replica; push returns 0 once
 * ClickHouse answered 200 to the INSERT, VEX_EUNAVAIL when it cannot be
 * reached, VEX_EIO when it refused, VEX_EINVAL for a customer id outside
 * [A-Za-z0-9_-]{1,64}. Borrows ch. */
struct vex_replica vex_clickhouse_replica(struct vex_clickhouse *ch);

/* The query engine's source (scan_columns is NULL). scan returns 0, the
 * visitor's nonzero return, VEX_EUNAVAIL (ClickHouse unreachable), VEX_EIO
 * (ClickHouse answered an error), VEX_ECORRUPT (unreadable answer),
 * VEX_EINVAL (bad customer id), VEX_ENOMEM. Safe from several threads.
 * Borrows ch. */
struct vex_source vex_clickhouse_source(struct vex_clickhouse *ch);

/* vex_clickhouse_destroy frees the backend; NULL is fine. */
void vex_clickhouse_destroy(struct vex_clickhouse *ch);

/* The RowBinary codec of the sessions table, exposed for tests.
 *
 * vex_clickhouse_encode appends n rows (customer, the records, versions) to
 * a malloc'd buffer *buf of *len bytes (*buf NULL and *len 0 to start; *cap
 * its capacity). VEX_ENOMEM. */
int vex_clickhouse_encode(const char *customer, const struct vex_record *recs,
                          const int64_t *versions, size_t n, unsigned char **buf, size_t *len,
                          size_t *cap);

/* vex_clickhouse_decode visits the rows of a complete RowBinary answer in
 * batches, resolved at now_ms with timeout_ms. Returns 0, the visitor's
 * nonzero return, VEX_ECORRUPT (bad or truncated row), VEX_ENOMEM. */
int vex_clickhouse_decode(const void *data, size_t len, int64_t now_ms, int64_t timeout_ms,
                          vex_record_visit_fn fn, void *ctx);

/* vex_clickhouse_quote writes s as a ClickHouse string literal ('...' with
 * \\ and \' and control bytes escaped) into out; VEX_EFULL when it does not
 * fit in cap bytes with its NUL. */
int vex_clickhouse_quote(const char *s, char *out, size_t cap);

#endif
