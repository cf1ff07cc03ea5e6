/* qtest.h - helpers shared by the query unit tests: hand-made records, a
 * vex_source over an array of them, and running a query string to a parsed
 * JSON answer. Every query also runs through the columnar path (qcols.h):
 * once as one column run on one thread, which must give the very same text,
 * and once cut in runs of three rows on two threads, which must give the same
 * answer up to the order of double additions. Include after <cmocka.h>. */
#ifndef VEX_TESTS_QUERY_QTEST_H
#define VEX_TESTS_QUERY_QTEST_H

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "query/query.h"
#include "qcols.h"

/* qt_rec returns a closed, played, ENDED vod session with empty dimensions
 * and no time in any state; tests set what they need. */
static inline struct vex_record qt_rec(const char *sid, int64_t attempt_ts, int64_t last_ts)
{
    struct vex_record r;
    memset(&r, 0, sizeof r);
    r.sid = sid;
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        r.dims[d] = "";
    r.attempt_ts = attempt_ts;
    r.last_ts = last_ts;
    r.state = VEX_STATE_ENDED;
    r.played = 1;
    r.closed = 1;
    return r;
}

struct qt_src {
    const struct vex_record *recs;
    size_t n;
    size_t batch; /* records per callback; 0 means all at once */
    int64_t from_ms, to_ms; /* what the engine asked for */
};

static inline int qt_scan(void *self, const char *customer, int64_t from_ms, int64_t to_ms,
                          vex_record_visit_fn fn, void *ctx)
{
    struct qt_src *s = self;
    (void)customer;
    s->from_ms = from_ms;
    s->to_ms = to_ms;
    size_t b = s->batch ? s->batch : (s->n ? s->n : 1);
    for (size_t i = 0; i < s->n; i += b) {
        size_t n = s->n - i < b ? s->n - i : b;
        int rc = fn(ctx, s->recs + i, n);
        if (rc)
            return rc;
    }
    return 0;
}

/* qt_run_raw parses and runs qs over recs and returns the JSON text. */
static inline char *qt_run_raw(enum vex_endpoint ep, const char *qs, const struct vex_record *recs,
                               size_t n)
{
    struct vex_query *q = NULL;
    struct vex_query_error err;
    int rc = vex_query_parse(ep, qs, &q, &err);
    if (rc)
        fail_msg("parse of '%s' failed: %s: %s", qs, err.code, err.message);
    struct qt_src s = {.recs = recs, .n = n, .batch = 2};
    struct vex_source src = {.self = &s, .scan = qt_scan};
    char *out = NULL;
    assert_int_equal(vex_query_run(q, &src, "c", &out), 0);
    assert_non_null(out);

    struct qc_src cs;
    qc_build(&cs, recs, n, 0);
    char *one = qc_run_columns(q, &cs, SIZE_MAX);
    if (strcmp(out, one) != 0)
        fail_msg("'%s': columns on one thread differ:\n  records: %s\n  columns: %s", qs, out,
                 one);
    free(one);
    qc_free(&cs);
    qc_build(&cs, recs, n, 3);
    char *two = qc_run_columns(q, &cs, 1);
    qc_assert_same(qs, out, two);
    free(two);
    qc_free(&cs);

    vex_query_destroy(q);
    return out;
}

/* qt_run returns the parsed answer (caller decrefs). */
static inline json_t *qt_run(enum vex_endpoint ep, const char *qs, const struct vex_record *recs,
                             size_t n)
{
    char *out = qt_run_raw(ep, qs, recs, n);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    if (!j)
        fail_msg("not JSON: %s", out);
    free(out);
    return j;
}

static inline json_t *qt_row(json_t *answer, size_t i)
{
    json_t *row = json_array_get(json_object_get(answer, "response"), i);
    assert_non_null(row);
    return row;
}

/* qt_int returns an integer field, failing when it is not a JSON integer. */
static inline int64_t qt_int(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        fail_msg("%s is missing or not a JSON integer", k);
    return (int64_t)json_integer_value(v);
}

/* qt_real returns a real field, failing when it is not a JSON real. */
static inline double qt_real(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_real(v))
        fail_msg("%s is missing or not a JSON real", k);
    return json_real_value(v);
}

static inline const char *qt_str(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v))
        fail_msg("%s is missing or not a JSON string", k);
    return json_string_value(v);
}

#define qt_assert_near(got, exp)                                                       \
    do {                                                                               \
        double g_ = (got), e_ = (exp);                                                 \
        if (fabs(g_ - e_) > fmax(1e-12, 1e-12 * fabs(e_)))                             \
            fail_msg("%s = %.17g, expected %.17g", #got, g_, e_);                      \
    } while (0)

/* qt_parse_err parses qs and returns the error code ("" when it parsed). */
static inline const char *qt_parse_err(enum vex_endpoint ep, const char *qs)
{
    static struct vex_query_error err;
    struct vex_query *q = NULL;
    memset(&err, 0, sizeof err);
    int rc = vex_query_parse(ep, qs, &q, &err);
    if (rc == 0) {
        vex_query_destroy(q);
        return "";
    }
    assert_int_equal(rc, VEX_EINVAL);
    assert_null(q);
    assert_true(strlen(err.message) > 10);
    return err.code;
}

#endif
