/* health.c - GET /healthz and GET /metrics (Prometheus text format). */
#include <stdio.h>
#include <stdlib.h>

#include "api/routes.h"
#include "backend/embedded.h"

void vex_api_health(struct vex_app *app, const struct vex_http_request *req,
                    struct vex_http_response *resp)
{
    (void)app;
    (void)req;
    vex_http_reply_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

void vex_api_prometheus(struct vex_app *app, const struct vex_http_request *req,
                        struct vex_http_response *resp)
{
    (void)req;
    struct vex_engine_stats st;
    vex_engine_stats(app->engine, &st);
    char *buf = malloc(2048);
    if (!buf) {
        vex_http_reply_error(resp, 500, "internal", "out of memory");
        return;
    }
    int n = snprintf(buf, 2048,
                     "# TYPE vex_customers gauge\nvex_customers %zu\n"
                     "# TYPE vex_sessions gauge\nvex_sessions %zu\n"
                     "# TYPE vex_session_memory_bytes gauge\nvex_session_memory_bytes %zu\n"
                     "# TYPE vex_ingest_batches_total counter\nvex_ingest_batches_total %llu\n"
                     "# TYPE vex_ingest_events_total counter\nvex_ingest_events_total %llu\n"
                     "# TYPE vex_checkpoints_total counter\nvex_checkpoints_total %llu\n"
                     "# TYPE vex_wal_bytes_since_checkpoint gauge\n"
                     "vex_wal_bytes_since_checkpoint %llu\n"
                     "# TYPE vex_replica_backlog_bytes gauge\nvex_replica_backlog_bytes %llu\n"
                     "# TYPE vex_replica_pushes_total counter\nvex_replica_pushes_total %llu\n"
                     "# TYPE vex_replica_push_failures_total counter\n"
                     "vex_replica_push_failures_total %llu\n",
                     st.customers, st.sessions, st.memory_bytes,
                     (unsigned long long)st.batches, (unsigned long long)st.events,
                     (unsigned long long)st.checkpoints,
                     (unsigned long long)st.wal_bytes_since_checkpoint,
                     (unsigned long long)st.replica_backlog_bytes,
                     (unsigned long long)st.replica_pushes,
                     (unsigned long long)st.replica_failures);
    vex_http_reply_raw(resp, 200, "text/plain; version=0.0.4", buf, (size_t)n);
}
