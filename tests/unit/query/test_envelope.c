/* test_envelope.c - rows, order, paging and the exact JSON of SPEC 4.5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "qtest.h"

#define PERIOD "planlevel=1&period=start=1000,end=2000"

/* make_cdns gives group "cdn" values[i] counts[i] sessions. */
static size_t make_cdns(struct vex_record *r, const char *const *values, const int *counts,
                        size_t nvalues)
{
    size_t n = 0;
    for (size_t i = 0; i < nvalues; i++) {
        for (int k = 0; k < counts[i]; k++) {
            r[n] = qt_rec("s", 1000000, 1000000);
            r[n].dims[VEX_DIM_CDN] = values[i];
            n++;
        }
    }
    return n;
}

static void test_exact_text_and_key_order(void **state)
{
    (void)state;
    struct vex_record r = qt_rec("s", 1000000, 1001000);
    r.startup_ms = 1500;
    r.dims[VEX_DIM_CDN] = "a";
    char *out = qt_run_raw(VEX_EP_SESSION, PERIOD "&metrics=latency,cdn", &r, 1);
    /* group key, requested metric, its companion, totalpages; 1.5 a real. */
    assert_string_equal(out, "{\"totalcount\":1,\"pagecount\":1,\"totalrecords\":1,\"response\":"
                             "[{\"cdn\":\"a\",\"latency\":1.5,\"viewercount\":1,"
                             "\"totalpages\":1}]}");
    free(out);
    /* A companion already requested is not repeated and keeps its place. */
    out = qt_run_raw(VEX_EP_SESSION, PERIOD "&metrics=viewercount,startupabandonmentrate", &r, 1);
    assert_string_equal(out, "{\"totalcount\":1,\"pagecount\":1,\"totalrecords\":1,\"response\":"
                             "[{\"viewercount\":1,\"startupabandonmentrate\":0.0,\"attempts\":1,"
                             "\"failurerate\":0.0,\"totalpages\":1}]}");
    free(out);
}

static void test_default_order_is_keys_ascending_bytewise(void **state)
{
    (void)state;
    struct vex_record r[8];
    static const char *const v[] = {"b", "a", "B", "\xc3\xa9", ""};
    static const int c[] = {1, 1, 1, 1, 1};
    size_t n = make_cdns(r, v, c, 5);
    json_t *j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=attempts&aggby=cdn", r, n);
    static const char *const want[] = {"", "B", "a", "b", "\xc3\xa9"};
    assert_int_equal(qt_int(j, "totalcount"), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(qt_str(qt_row(j, i), "cdn"), want[i]);
    json_decref(j);
}

static void test_orderby_ties_broken_by_keys(void **state)
{
    (void)state;
    struct vex_record r[16];
    static const char *const v[] = {"d", "c", "b", "a"};
    static const int c[] = {2, 3, 2, 3};
    size_t n = make_cdns(r, v, c, 4);
    /* DESC by default: 3 (a, c), then 2 (b, d); ties ascending by cdn. */
    json_t *j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=attempts&aggby=cdn&orderby=attempts", r,
                       n);
    static const char *const desc[] = {"a", "c", "b", "d"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(qt_str(qt_row(j, i), "cdn"), desc[i]);
    json_decref(j);
    j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=attempts&aggby=cdn&orderby=attempts&orderas=asc",
               r, n);
    static const char *const asc[] = {"b", "d", "a", "c"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(qt_str(qt_row(j, i), "cdn"), asc[i]);
    json_decref(j);
    /* orderby a string key, DESC. */
    j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=attempts&aggby=cdn&orderby=cdn&order=DESC", r, n);
    static const char *const byname[] = {"d", "c", "b", "a"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(qt_str(qt_row(j, i), "cdn"), byname[i]);
    json_decref(j);
}

static void test_orderby_real_metric(void **state)
{
    (void)state;
    struct vex_record r[3];
    static const char *const v[] = {"x", "y", "z"};
    static const int64_t play[] = {1500, 250, 99000};
    for (int i = 0; i < 3; i++) {
        r[i] = qt_rec("s", 1000000, 1000000);
        r[i].dims[VEX_DIM_CDN] = v[i];
        r[i].play_ms = play[i];
    }
    json_t *j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=playdur&aggby=cdn&orderby=playdur", r, 3);
    assert_string_equal(qt_str(qt_row(j, 0), "cdn"), "z");
    assert_string_equal(qt_str(qt_row(j, 1), "cdn"), "x");
    assert_string_equal(qt_str(qt_row(j, 2), "cdn"), "y");
    qt_assert_near(qt_real(qt_row(j, 2), "playdur"), 0.25);
    json_decref(j);
}

static void test_paging(void **state)
{
    (void)state;
    struct vex_record r[7];
    static const char *const v[] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6"};
    static const int c[] = {1, 1, 1, 1, 1, 1, 1};
    size_t n = make_cdns(r, v, c, 7);
    json_t *j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=attempts&aggby=cdn&limit=3&offset=2", r,
                       n);
    assert_int_equal(qt_int(j, "totalcount"), 7);
    assert_int_equal(qt_int(j, "totalrecords"), 7);
    assert_int_equal(qt_int(j, "pagecount"), 3);
    assert_string_equal(qt_str(qt_row(j, 0), "cdn"), "c2");
    assert_string_equal(qt_str(qt_row(j, 2), "cdn"), "c4");
    assert_int_equal(qt_int(qt_row(j, 0), "totalpages"), 3); /* ceil(7 / 3) */
    json_decref(j);
    j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=attempts&aggby=cdn&limit=3&offset=6", r, n);
    assert_int_equal(qt_int(j, "pagecount"), 1);
    assert_string_equal(qt_str(qt_row(j, 0), "cdn"), "c6");
    json_decref(j);
    /* Past the end: an empty page, the totals still right. */
    char *out = qt_run_raw(VEX_EP_SESSION, PERIOD "&metrics=attempts&aggby=cdn&offset=7", r, n);
    assert_string_equal(out,
                        "{\"totalcount\":7,\"pagecount\":0,\"totalrecords\":7,\"response\":[]}");
    free(out);
    /* limit 10000 and a huge offset are fine. */
    out = qt_run_raw(VEX_EP_SESSION,
                     PERIOD "&metrics=attempts&aggby=cdn&limit=10000&offset=4611686018427387904",
                     r, n);
    assert_string_equal(out,
                        "{\"totalcount\":7,\"pagecount\":0,\"totalrecords\":7,\"response\":[]}");
    free(out);
}

static void test_grouped_nothing_belongs_has_no_rows(void **state)
{
    (void)state;
    struct vex_record r = qt_rec("s", 5000000, 5000000); /* after the period */
    r.dims[VEX_DIM_CDN] = "a";
    char *out = qt_run_raw(VEX_EP_SESSION, PERIOD "&metrics=attempts,endedplays&aggby=cdn", &r, 1);
    assert_string_equal(out,
                        "{\"totalcount\":0,\"pagecount\":0,\"totalrecords\":0,\"response\":[]}");
    free(out);
}

static void test_rows_need_a_belonging_session(void **state)
{
    (void)state;
    /* "b" only has a session that ended in the period after starting before
     * it: it feeds endedplays but makes no row of its own. */
    struct vex_record r[2] = {qt_rec("s1", 1500000, 1600000), qt_rec("s2", 500000, 1100000)};
    r[0].dims[VEX_DIM_CDN] = "a";
    r[1].dims[VEX_DIM_CDN] = "b";
    json_t *j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=endedplays&aggby=cdn", r, 2);
    assert_int_equal(qt_int(j, "totalcount"), 1);
    assert_string_equal(qt_str(qt_row(j, 0), "cdn"), "a");
    assert_int_equal(qt_int(qt_row(j, 0), "endedplays"), 1);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_text_and_key_order),
        cmocka_unit_test(test_default_order_is_keys_ascending_bytewise),
        cmocka_unit_test(test_orderby_ties_broken_by_keys),
        cmocka_unit_test(test_orderby_real_metric),
        cmocka_unit_test(test_paging),
        cmocka_unit_test(test_grouped_nothing_belongs_has_no_rows),
        cmocka_unit_test(test_rows_need_a_belonging_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
