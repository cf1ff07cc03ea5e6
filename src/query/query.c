/* query.c - the public face of the query engine: parse, plan-level check,
 * scan range, run. The work is done by params.c (parse), aggregate.c or
 * colscan.c (one pass over the scan's records or columns) and envelope.c
 * (rows, order, page, JSON); a backend that speaks SQL gets the aggregation
 * itself (sqlplan.c). */
#include "query/query.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "query/query_int.h"

int vex_query_parse(enum vex_endpoint ep, const char *qs, struct vex_query **out,
                    struct vex_query_error *err)
{
    struct vex_query_error scratch;
    if (!err)
        err = &scratch;
    memset(err, 0, sizeof *err);
    *out = NULL;
    struct vex_query *q = calloc(1, sizeof *q);
    if (!q || vex_qmem_create(&q->mem)) {
        free(q);
        vex_query_seterr(err, "internal", "out of memory while parsing the query");
        return VEX_ENOMEM;
    }
    q->ep = ep;
    q->order_col = -1;
    int rc = vex_params_parse(q, qs ? qs : "", err);
    if (rc) {
        if (rc == VEX_ENOMEM)
            vex_query_seterr(err, "internal", "out of memory while parsing the query");
        vex_query_destroy(q);
        return rc;
    }
    *out = q;
    return 0;
}

int vex_query_planlevel_ok(const struct vex_query *q, int64_t plan)
{
    return !q->has_planlevel || q->planlevel == plan;
}

void vex_query_time_range(const struct vex_query *q, int64_t *from_ms, int64_t *to_ms)
{
    /* Every session that can matter overlaps the period: belonging ones by
     * attempt_ts or last_ts, endedplays by last_ts, concurviewavg by overlap. */
    *from_ms = q->start_s * 1000;
    *to_ms = q->end_s * 1000;
}

int vex_query_run(const struct vex_query *q, const struct vex_source *src, const char *customer,
                  char **json_out)
{
    int64_t from, to;
    *json_out = NULL;
    struct vex_agg *a = malloc(sizeof *a);
    if (!a)
        return VEX_ENOMEM;
    int rc = vex_aggregate_init(a, q);
    if (rc)
        goto done;
    /* Every path fills the same groups and sums. A SQL backend aggregates
     * where the sessions are (sqlplan.c) and hands back finished groups,
     * percentiles included; columns are much cheaper to fold (colscan.c)
     * than records, which are what every other backend can give. */
    if (src->sql_select && src->sql_sessions) {
        rc = vex_sqlplan_run(a, src, customer);
    } else {
        vex_query_time_range(q, &from, &to);
        if (src->scan_columns)
            rc = vex_colscan_run(a, src, customer, from, to);
        else
            rc = src->scan(src->self, customer, from, to, vex_aggregate_visit, a);
        if (!rc)
            rc = vex_aggregate_finish(a);
    }
    if (rc)
        goto done;
    rc = vex_envelope_build(a, json_out);
done:
    vex_aggregate_deinit(a);
    free(a);
    /* A visitor's nonzero return comes back as is; ours are VEX_E* codes. */
    return rc > 0 ? VEX_EIO : rc;
}

void vex_query_destroy(struct vex_query *q)
{
    if (!q)
        return;
    vex_qmem_destroy(q->mem);
    free(q);
}
