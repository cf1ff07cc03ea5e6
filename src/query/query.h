/* query.h - the metrics API of SPEC section 4: parse a request's query string,
 * run it over a vex_source, and produce the JSON envelope. */
#ifndef VEX_QUERY_QUERY_H
#define VEX_QUERY_QUERY_H

#include <stdint.h>

#include "backend/backend.h"

enum vex_endpoint {
    VEX_EP_SESSION,      /* /mm-apis/session/<id> */
    VEX_EP_VOD,          /* /mm-apis/qbrData/vod/<id> */
    VEX_EP_LIVE,         /* /mm-apis/qbrData/live/<id> */
    VEX_EP_METRICQUERY,  /* /mm-apis/metricquery/<id> */
    VEX_EP_LISTSESSIONS, /* /mm-apis/listsessions/<id> */
};

/* A parse failure: `code` is the short JSON error code (the list is in
 * params.c: unknown_parameter, duplicate_parameter, missing_parameter,
 * bad_parameter, bad_planlevel, bad_period, bad_granularity, bad_aggby,
 * bad_dimension, unknown_metric, bad_metrics, bad_orderby, bad_order,
 * bad_limit, bad_offset, bad_filter, bad_qoefilter; "internal" for
 * VEX_ENOMEM), `message` says what was wrong and how to fix it. */
struct vex_query_error {
    char code[32];
    char message[256];
};

struct vex_query; /* opaque, parsed request */

/* vex_query_parse parses the raw (still percent-encoded) query string `qs`
 * (without '?', may be "") for endpoint `ep`. On success *out is a new query
 * the caller destroys. Returns VEX_EINVAL with *err filled for anything SPEC
 * 4.1/4.7 calls a bad parameter (status 400), VEX_ENOMEM. */
int vex_query_parse(enum vex_endpoint ep, const char *qs, struct vex_query **out,
                    struct vex_query_error *err);

/* vex_query_planlevel_ok returns 1 when the query carries no planlevel or
 * one equal to `plan`, 0 otherwise (then the API answers 403). */
int vex_query_planlevel_ok(const struct vex_query *q, int64_t plan);

/* vex_query_time_range gives the interval the scan must cover (ms): the
 * period [S*1000, E*1000); the scan must deliver every session whose
 * [attempt_ts, last_ts] overlaps it. */
void vex_query_time_range(const struct vex_query *q, int64_t *from_ms, int64_t *to_ms);

/* vex_query_run scans `customer` through `src` and writes the response
 * envelope (SPEC 4.5) as a NUL-terminated JSON string to *json_out (caller
 * frees with free()). The query is only read, so one parsed query may run on
 * several threads. Returns 0, VEX_ENOMEM, or the scan's error (a visitor's
 * positive return becomes VEX_EIO). */
int vex_query_run(const struct vex_query *q, const struct vex_source *src, const char *customer,
                  char **json_out);

/* vex_query_destroy frees a parsed query; NULL is fine. */
void vex_query_destroy(struct vex_query *q);

#endif
