/* test_colscan_fast.c - the short cuts of the columnar path (colscan.c):
 * totals of endedplays and concurviewavg alone (their own membership, no
 * flag counts), and Q folded into the one- and two-dimension loop. Small
 * sets with every expected value worked out by hand in the comments, then
 * the same queries on a few thousand random sessions, where qt_run_raw
 * checks that the columnar answer (one thread, and two threads over short
 * runs) equals the record path's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "qtest.h"
#include "query/query_int.h"

/* Period [1000 s, 2000 s) = [1,000,000 ms, 2,000,000 ms). */
#define PERIOD "planlevel=1&period=start=1000,end=2000"

/* Six sessions against the period [1,000,000, 2,000,000):
 *   a  vod  900,000-1,500,000 ENDED played  cdn x: ended; overlap 500,000
 *   b  vod 1,200,000-1,300,000 PLAYING played, open: not ended; overlap 100,000
 *   c  vod 1,800,000-2,500,000 ENDED played  cdn x: last_ts past E: not ended;
 *      overlap 200,000
 *   d  vod 1,100,000-1,400,000 ENDED not played (ebvs): not ended; overlap 300,000
 *   e  vod   100,000-  500,000 ENDED played: before S, nothing
 *   f  live 1,500,000-1,600,000 ENDED played cdn x: ended; overlap 100,000 */
static void make_ext_set(struct vex_record r[6])
{
    r[0] = qt_rec("a", 900000, 1500000);
    r[0].dims[VEX_DIM_CDN] = "x";
    r[1] = qt_rec("b", 1200000, 1300000);
    r[1].state = VEX_STATE_PLAYING;
    r[1].closed = 0;
    r[2] = qt_rec("c", 1800000, 2500000);
    r[2].dims[VEX_DIM_CDN] = "x";
    r[3] = qt_rec("d", 1100000, 1400000);
    r[3].played = 0;
    r[3].ebvs = 1;
    r[4] = qt_rec("e", 100000, 500000);
    r[5] = qt_rec("f", 1500000, 1600000);
    r[5].live = 1;
    r[5].dims[VEX_DIM_CDN] = "x";
}

static void test_ended_and_concurrent_totals(void **state)
{
    (void)state;
    struct vex_record r[6];
    make_ext_set(r);
    /* endedplays: a and f. */
    json_t *j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=endedplays", r, 6);
    assert_int_equal(qt_int(qt_row(j, 0), "endedplays"), 2);
    assert_null(json_object_get(qt_row(j, 0), "attempts"));
    json_decref(j);
    /* concurviewavg: (500 + 100 + 200 + 300 + 100) k ms over 1,000 k ms = 1.2. */
    j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=concurviewavg", r, 6);
    qt_assert_near(qt_real(qt_row(j, 0), "concurviewavg"), 1.2);
    json_decref(j);
    /* Both, on the VOD endpoint: f (live) drops out: 1 and 1.1. */
    j = qt_run(VEX_EP_VOD, PERIOD "&metrics=endedplays,concurviewavg", r, 6);
    assert_int_equal(qt_int(qt_row(j, 0), "endedplays"), 1);
    qt_assert_near(qt_real(qt_row(j, 0), "concurviewavg"), 1.1);
    json_decref(j);
    /* On the live endpoint: f only: 1 and 0.1. */
    j = qt_run(VEX_EP_LIVE, PERIOD "&metrics=endedplays,concurviewavg", r, 6);
    assert_int_equal(qt_int(qt_row(j, 0), "endedplays"), 1);
    qt_assert_near(qt_real(qt_row(j, 0), "concurviewavg"), 0.1);
    json_decref(j);
    /* filter cdn=x: a, c, f: ended a and f (2); overlap 500 + 200 + 100 k = 0.8. */
    j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=endedplays,concurviewavg&filter=cdn=x", r, 6);
    assert_int_equal(qt_int(qt_row(j, 0), "endedplays"), 2);
    qt_assert_near(qt_real(qt_row(j, 0), "concurviewavg"), 0.8);
    json_decref(j);
    /* streamtype as a filter: vod only, as the VOD endpoint. */
    j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=endedplays&filter=streamtype=vod", r, 6);
    assert_int_equal(qt_int(qt_row(j, 0), "endedplays"), 1);
    json_decref(j);
    /* qoefilter on the session's own concurviewavg (its overlap over the
     * period): > 0.25 keeps a (0.5) and d (0.3): 0.8; no ended play but a. */
    j = qt_run(VEX_EP_SESSION,
               PERIOD "&metrics=endedplays,concurviewavg&qoefilter=concurviewavg%3E0.25", r, 6);
    assert_int_equal(qt_int(qt_row(j, 0), "endedplays"), 1);
    qt_assert_near(qt_real(qt_row(j, 0), "concurviewavg"), 0.8);
    json_decref(j);
    /* With attempts beside them the membership counts as usual: started in
     * the period, open ones too on this endpoint (allstatus=1): b, c, d, f
     * (a and e started before). */
    j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=endedplays,attempts", r, 6);
    assert_int_equal(qt_int(qt_row(j, 0), "endedplays"), 2);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 4);
    json_decref(j);
    /* allstatus=0: closed ones only, b drops out; endedplays is unmoved. */
    j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=endedplays,attempts&allstatus=0", r, 6);
    assert_int_equal(qt_int(qt_row(j, 0), "endedplays"), 2);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 3);
    json_decref(j);
}

/* Q by dimension (SPEC 4.2):
 *   cdn p, platform web: startup 1 s, no stall, no bitrate: 100
 *   cdn p, platform tv:  startup 3 s (0.875), stalls 1,000 of 10,000 ms
 *                        (0.5), 3,000 kbps (0.8): 35
 *   cdn q, platform web: start failure (vsf): 0, counted
 *   cdn q, platform web: startup 9 s: s_start 0.5: 50
 *   cdn q, platform tv:  neither played nor vsf (ebvs): not counted
 * By cdn: p (100 + 35) / 2 = 67.5, q (0 + 50) / 2 = 25. */
static void make_q_set(struct vex_record r[5])
{
    for (int i = 0; i < 5; i++) {
        r[i] = qt_rec("s", 1100000 + i * 1000, 1500000);
        r[i].dims[VEX_DIM_CDN] = i < 2 ? "p" : "q";
        r[i].dims[VEX_DIM_PLATFORM] = (i == 1 || i == 4) ? "tv" : "web";
    }
    r[0].startup_ms = 1000;
    r[0].play_ms = 60000;
    r[1].startup_ms = 3000;
    r[1].play_ms = 9000;
    r[1].cirr_ms = 600;
    r[1].vrt_ms = 400;
    r[1].kbps_ms = 3000.0 * 1000;
    r[1].kbps_known_ms = 1000;
    r[2].played = 0;
    r[2].vsf = 1;
    r[3].startup_ms = 9000;
    r[3].play_ms = 1000;
    r[4].played = 0;
    r[4].ebvs = 1;
}

static void test_q_by_dimensions(void **state)
{
    (void)state;
    struct vex_record r[5];
    make_q_set(r);
    json_t *j = qt_run(VEX_EP_SESSION,
                       PERIOD "&metrics=qualityofexperience&aggby=cdn&orderby=cdn&order=asc", r, 5);
    assert_string_equal(qt_str(qt_row(j, 0), "cdn"), "p");
    qt_assert_near(qt_real(qt_row(j, 0), "qualityofexperience"), 67.5);
    assert_string_equal(qt_str(qt_row(j, 1), "cdn"), "q");
    qt_assert_near(qt_real(qt_row(j, 1), "qualityofexperience"), 25.0);
    json_decref(j);
    /* By cdn and platform: p/web 100, p/tv 35, q/web (0 + 50) / 2 = 25,
     * q/tv has no Q session: 0. */
    j = qt_run(VEX_EP_SESSION,
               PERIOD "&metrics=qualityofexperience,attempts&aggby=cdn,platform", r, 5);
    size_t n = json_array_size(json_object_get(j, "response"));
    assert_int_equal(n, 4);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *row = qt_row(j, i);
        const char *cdn = qt_str(row, "cdn"), *pf = qt_str(row, "platform");
        double qv = qt_real(row, "qualityofexperience");
        if (!strcmp(cdn, "p") && !strcmp(pf, "web")) {
            qt_assert_near(qv, 100.0);
            seen |= 1;
        } else if (!strcmp(cdn, "p") && !strcmp(pf, "tv")) {
            qt_assert_near(qv, 35.0);
            seen |= 2;
        } else if (!strcmp(cdn, "q") && !strcmp(pf, "web")) {
            qt_assert_near(qv, 25.0);
            assert_int_equal(qt_int(row, "attempts"), 2);
            seen |= 4;
        } else if (!strcmp(cdn, "q") && !strcmp(pf, "tv")) {
            qt_assert_near(qv, 0.0);
            seen |= 8;
        }
    }
    assert_int_equal(seen, 15);
    json_decref(j);
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rn(uint64_t n)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng % n;
}

/* Random sessions around the period, more than a block (512 rows) of
 * them. Sessions that are not ENDED are closed (timed out) exactly when
 * their last_ts is before 1,900,000, so one clock fits every run. */
static void test_random_against_records(void **state)
{
    (void)state;
    enum { N = 3000 };
    static const char *const cdns[] = {"p", "q", "r", "s", "t"};
    static const char *const pfs[] = {"web", "tv", "ios"};
    struct vex_record *r = calloc(N, sizeof *r);
    assert_non_null(r);
    for (int i = 0; i < N; i++) {
        int64_t at = 700000 + (int64_t)rn(1500000);
        r[i] = qt_rec("s", at, at + (int64_t)rn(400000));
        r[i].dims[VEX_DIM_CDN] = cdns[rn(5)];
        r[i].dims[VEX_DIM_PLATFORM] = pfs[rn(3)];
        r[i].live = rn(3) == 0;
        r[i].startup_ms = (int64_t)rn(12000);
        r[i].play_ms = (int64_t)rn(200000);
        r[i].cirr_ms = rn(2) ? 0 : (int64_t)rn(30000);
        r[i].vrt_ms = rn(3) ? 0 : (int64_t)rn(5000);
        r[i].kbps_known_ms = rn(4) ? (int64_t)rn(100000) : 0;
        r[i].kbps_ms = (double)rn(9000) * (double)r[i].kbps_known_ms;
        r[i].errors = rn(10) == 0;
        int kind = (int)rn(20);
        r[i].played = kind >= 2;
        r[i].vsf = kind == 0;
        r[i].vpf = kind == 19;
        if (rn(5) == 0)
            r[i].state = VEX_STATE_PLAYING;
        r[i].closed = r[i].state == VEX_STATE_ENDED || r[i].last_ts < 1900000;
        r[i].ebvs = r[i].closed && !r[i].played && !r[i].vsf;
    }
    static const struct {
        enum vex_endpoint ep;
        const char *qs;
    } qs[] = {
        {VEX_EP_SESSION, PERIOD "&metrics=endedplays"},
        {VEX_EP_SESSION, PERIOD "&metrics=concurviewavg"},
        {VEX_EP_VOD, PERIOD "&metrics=endedplays,concurviewavg"},
        {VEX_EP_LIVE, PERIOD "&metrics=concurviewavg&allstatus=1"},
        {VEX_EP_SESSION, PERIOD "&metrics=endedplays&sessiontype=ended"},
        {VEX_EP_SESSION, PERIOD "&metrics=endedplays,concurviewavg&filter=cdn!=p|q"},
        {VEX_EP_SESSION, PERIOD "&metrics=concurviewavg&qoefilter=latency%3E3"},
        {VEX_EP_SESSION, PERIOD "&metrics=attempts,errors,endedplays"},
        {VEX_EP_SESSION, PERIOD "&metrics=qualityofexperience&aggby=cdn"},
        {VEX_EP_SESSION, PERIOD "&metrics=qualityofexperience,bufferingratio,latency,"
                         "failurerate,playdur,cdn&dimension=cdn&aggby=cdn"},
        {VEX_EP_VOD, PERIOD "&metrics=qualityofexperience,attempts&aggby=cdn,platform"},
        {VEX_EP_SESSION, PERIOD "&metrics=qualityofexperience&aggby=platform&allstatus=1"
                         "&filter=cdn=r"},
        {VEX_EP_SESSION, PERIOD "&metrics=qualityofexperience,endedplays&aggby=cdn"},
        {VEX_EP_SESSION, PERIOD "&metrics=qualityofexperience"},
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        /* qt_run_raw fails unless both column forms equal the records'. */
        char *out = qt_run_raw(qs[i].ep, qs[i].qs, r, N);
        assert_non_null(strstr(out, "\"response\""));
        free(out);
    }
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ended_and_concurrent_totals),
        cmocka_unit_test(test_q_by_dimensions),
        cmocka_unit_test(test_random_against_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
