/* test_aggregate.c - the group table: borrowed strings that change between
 * batches, many groups (table growth), sessions spread over many buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "qtest.h"

#define PERIOD "planlevel=1&period=start=1000,end=2000"

/* A source that hands out every record with its cdn and sid in one buffer
 * reused for every batch of one record: the same pointer names a different
 * string each time, as a store decoding into a scratch buffer would do. */
struct reuse_src {
    const char *const *cdns;
    size_t n;
};

static int reuse_scan(void *self, const char *customer, int64_t from_ms, int64_t to_ms,
                      vex_record_visit_fn fn, void *ctx)
{
    struct reuse_src *s = self;
    (void)customer;
    (void)from_ms;
    (void)to_ms;
    static char cdn[32], sid[32];
    for (size_t i = 0; i < s->n; i++) {
        snprintf(cdn, sizeof cdn, "%s", s->cdns[i]);
        snprintf(sid, sizeof sid, "sid-%zu", i);
        struct vex_record r = qt_rec(sid, 1000000, 1000000);
        r.dims[VEX_DIM_CDN] = cdn;
        r.dims[VEX_DIM_SUBSCRIBERID] = cdn;
        int rc = fn(ctx, &r, 1);
        memset(cdn, 'Z', sizeof cdn - 1);
        if (rc)
            return rc;
    }
    return 0;
}

static json_t *run_src(const struct vex_source *src, const char *qs)
{
    struct vex_query *q = NULL;
    struct vex_query_error err;
    assert_int_equal(vex_query_parse(VEX_EP_SESSION, qs, &q, &err), 0);
    char *out = NULL;
    assert_int_equal(vex_query_run(q, src, "c", &out), 0);
    vex_query_destroy(q);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    free(out);
    return j;
}

static void test_reused_buffers_between_batches(void **state)
{
    (void)state;
    static const char *const cdns[] = {"a", "b", "a", "c", "b", "a"};
    struct reuse_src rs = {cdns, 6};
    struct vex_source src = {.self = &rs, .scan = reuse_scan};
    json_t *j = run_src(&src, PERIOD "&metrics=attempts,uniqueviewercount&aggby=cdn");
    assert_int_equal(qt_int(j, "totalcount"), 3);
    assert_string_equal(qt_str(qt_row(j, 0), "cdn"), "a");
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 3);
    assert_int_equal(qt_int(qt_row(j, 0), "uniqueviewercount"), 1);
    assert_string_equal(qt_str(qt_row(j, 1), "cdn"), "b");
    assert_int_equal(qt_int(qt_row(j, 1), "attempts"), 2);
    assert_string_equal(qt_str(qt_row(j, 2), "cdn"), "c");
    assert_int_equal(qt_int(qt_row(j, 2), "attempts"), 1);
    json_decref(j);
    /* One row per session, each keeping its own sid. */
    j = run_src(&src, PERIOD "&metrics=cdn&aggby=sessionid");
    assert_int_equal(qt_int(j, "totalcount"), 6);
    assert_string_equal(qt_str(qt_row(j, 3), "sessionid"), "sid-3");
    assert_string_equal(qt_str(qt_row(j, 3), "cdn"), "c");
    json_decref(j);
}

static void test_many_groups(void **state)
{
    (void)state;
    /* 20000 sessions over 5000 cdn values, 4 each, fed in mixed order. */
    enum { N = 20000, G = 5000 };
    struct vex_record *r = calloc(N, sizeof *r);
    char(*names)[16] = calloc(G, sizeof *names);
    assert_non_null(r);
    assert_non_null(names);
    for (int g = 0; g < G; g++)
        snprintf(names[g], sizeof names[g], "cdn-%05d", g);
    for (int i = 0; i < N; i++) {
        r[i] = qt_rec("s", 1000000, 1000000 + i % 7);
        r[i].dims[VEX_DIM_CDN] = names[(i * 7919) % G];
        r[i].play_ms = 1000;
    }
    json_t *j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=attempts,playdur&aggby=cdn&limit=10000",
                       r, N);
    assert_int_equal(qt_int(j, "totalcount"), G);
    assert_int_equal(qt_int(j, "pagecount"), G);
    for (int g = 0; g < G; g += 499) {
        json_t *row = qt_row(j, (size_t)g);
        assert_string_equal(qt_str(row, "cdn"), names[g]);
        assert_int_equal(qt_int(row, "attempts"), 4);
        qt_assert_near(qt_real(row, "playdur"), 4.0);
    }
    json_decref(j);
    free(r);
    free(names);
}

static void test_session_over_many_buckets(void **state)
{
    (void)state;
    /* One session from 00:00:30 to 02:00:00 with minute buckets over
     * [0, 3 h): it belongs to bucket 0 only but is concurrent in 120. */
    struct vex_record r = qt_rec("long", 30000, 7200000);
    json_t *j = qt_run(VEX_EP_SESSION,
                       "planlevel=1&period=start=0,end=10800&aggby=timestamp&granularity=minute"
                       "&metrics=attempts,concurviewavg,endedplays",
                       &r, 1);
    assert_int_equal(qt_int(j, "totalcount"), 1);
    json_t *row = qt_row(j, 0);
    assert_int_equal(qt_int(row, "timestamp"), 0);
    assert_int_equal(qt_int(row, "endedplays"), 0); /* ended in bucket 7200 */
    qt_assert_near(qt_real(row, "concurviewavg"), 0.5); /* 30 of 60 s */
    json_decref(j);
    /* Under `ended` it belongs to bucket 7200, where it ended; it overlaps
     * that bucket by nothing (it ends at its first instant). */
    j = qt_run(VEX_EP_METRICQUERY,
               "period=start=0,end=10800&aggby=timestamp&granularity=minute"
               "&metrics=attempts,concurviewavg,endedplays",
               &r, 1);
    row = qt_row(j, 0);
    assert_int_equal(qt_int(row, "timestamp"), 7200);
    assert_int_equal(qt_int(row, "endedplays"), 1);
    qt_assert_near(qt_real(row, "concurviewavg"), 0.0);
    json_decref(j);
}

static int failing_scan(void *self, const char *customer, int64_t from_ms, int64_t to_ms,
                        vex_record_visit_fn fn, void *ctx)
{
    (void)self;
    (void)customer;
    (void)from_ms;
    (void)to_ms;
    struct vex_record r = qt_rec("s", 1000000, 1000000);
    assert_int_equal(fn(ctx, &r, 1), 0);
    return VEX_EIO;
}

static void test_scan_error_is_returned(void **state)
{
    (void)state;
    struct vex_source src = {.self = NULL, .scan = failing_scan};
    struct vex_query *q = NULL;
    struct vex_query_error err;
    assert_int_equal(vex_query_parse(VEX_EP_SESSION, PERIOD "&metrics=attempts", &q, &err), 0);
    char *out = (char *)"untouched";
    assert_int_equal(vex_query_run(q, &src, "c", &out), VEX_EIO);
    assert_null(out);
    vex_query_destroy(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reused_buffers_between_batches),
        cmocka_unit_test(test_many_groups),
        cmocka_unit_test(test_session_over_many_buckets),
        cmocka_unit_test(test_scan_error_is_returned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
