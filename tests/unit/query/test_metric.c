/* test_metric.c - the formulas of SPEC 4.2 and the membership rules of 4.1
 * on tiny hand-made record sets, with every expected value worked out by
 * hand in the comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "qtest.h"
#include "query/query_int.h"

#define ALL_METRICS                                                                       \
    "attempts,viewercount,endedplays,errors,totalstartupfailure,ebvs,buffcount,"          \
    "uniqueviewercount,concurviewavg,startupabandonmentrate,failurerate,"                 \
    "playbackfailurerate,bufferingratio,sumbuffwaitcirr,vrtbufferingratio,"               \
    "rebufferfrequency,playdur,latency,median_latency,p95_latency,p99_latency,avgbitrate," \
    "qualityofexperience,median_qualityofexperience"

/* Period [1000 s, 2000 s) = [1,000,000 ms, 2,000,000 ms). */
#define PERIOD "planlevel=1&period=start=1000,end=2000"

/* The name table and the enum must stay in step: every id's canonical name
 * looks up to that id, and the names are those of SPEC 4.2 in its order. */
static void test_metric_table(void **state)
{
    (void)state;
    static const char *const spec[VEX_M_COUNT] = {
        "attempts", "viewercount", "endedplays", "errors", "totalstartupfailure", "ebvs",
        "buffcount", "uniqueviewercount", "concurviewavg", "startupabandonmentrate",
        "failurerate", "playbackfailurerate", "bufferingratio", "sumbuffwaitcirr",
        "vrtbufferingratio", "rebufferfrequency", "playdur", "latency", "median_latency",
        "p95_latency", "p99_latency", "avgbitrate", "qualityofexperience",
        "median_qualityofexperience"};
    int counts = 0;
    for (int m = 0; m < VEX_M_COUNT; m++) {
        assert_string_equal(vex_metric_name(m), spec[m]);
        assert_int_equal(vex_metric_lookup(spec[m], strlen(spec[m])), m);
        counts += vex_metric_is_count(m);
    }
    assert_int_equal(counts, 8); /* attempts .. uniqueviewercount */
    assert_int_equal(vex_metric_lookup("avg_latency", 11), VEX_M_LATENCY);
    assert_int_equal(vex_metric_lookup("avg_qualityofexperience", 23), VEX_M_QOE);
    assert_int_equal(vex_metric_lookup("latenc", 6), -1);
}

static void test_nothing_belongs_single_row_of_zeros(void **state)
{
    (void)state;
    json_t *j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=" ALL_METRICS, NULL, 0);
    assert_int_equal(qt_int(j, "totalcount"), 1);
    assert_int_equal(qt_int(j, "pagecount"), 1);
    assert_int_equal(qt_int(j, "totalrecords"), 1);
    json_t *row = qt_row(j, 0);
    /* 24 metrics (their companions are among them) and totalpages. */
    assert_int_equal(json_object_size(row), 25);
    static const char *const counts[] = {"attempts", "viewercount", "endedplays", "errors",
                                         "totalstartupfailure", "ebvs", "buffcount",
                                         "uniqueviewercount"};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        assert_int_equal(qt_int(row, counts[i]), 0);
    static const char *const reals[] = {
        "concurviewavg", "startupabandonmentrate", "failurerate", "playbackfailurerate",
        "bufferingratio", "sumbuffwaitcirr", "vrtbufferingratio", "rebufferfrequency",
        "playdur", "latency", "median_latency", "p95_latency", "p99_latency", "avgbitrate",
        "qualityofexperience", "median_qualityofexperience"};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        assert_true(qt_real(row, reals[i]) == 0.0);
    assert_int_equal(qt_int(row, "totalpages"), 1);
    json_decref(j);
}

/* The set of the main formula test:
 *   A [1,000,000 .. 1,100,000] played, startup 2000, play 60000, cirr 3000,
 *     vrt 1000, 2 rebuffers, 3000 kbps over 60000 ms, subscriber u1
 *   B [1,200,000 .. 1,300,000] played, startup 500, play 30000, vpf, error, u1
 *   C [1,500,000 .. 1,510,000] vsf, error, not played, u2
 *   D [1,600,000 .. 1,605,000] ebvs, not played, no subscriber
 *   E starts at 3,000,000: outside the period
 *   F [900,000 .. 1,050,000] played, started before the period: it does not
 *     belong (sessiontype=started) but ended inside it and overlaps it. */
static size_t make_set(struct vex_record *r)
{
    r[0] = qt_rec("A", 1000000, 1100000);
    r[0].startup_ms = 2000;
    r[0].play_ms = 60000;
    r[0].cirr_ms = 3000;
    r[0].vrt_ms = 1000;
    r[0].rebuffers = 2;
    r[0].kbps_ms = 3000.0 * 60000;
    r[0].kbps_known_ms = 60000;
    r[0].dims[VEX_DIM_SUBSCRIBERID] = "u1";
    r[1] = qt_rec("B", 1200000, 1300000);
    r[1].startup_ms = 500;
    r[1].play_ms = 30000;
    r[1].vpf = 1;
    r[1].errors = 1;
    r[1].dims[VEX_DIM_SUBSCRIBERID] = "u1";
    r[2] = qt_rec("C", 1500000, 1510000);
    r[2].played = 0;
    r[2].vsf = 1;
    r[2].errors = 1;
    r[2].dims[VEX_DIM_SUBSCRIBERID] = "u2";
    r[3] = qt_rec("D", 1600000, 1605000);
    r[3].played = 0;
    r[3].ebvs = 1;
    r[4] = qt_rec("E", 3000000, 3100000);
    r[4].play_ms = 100000;
    r[5] = qt_rec("F", 900000, 1050000);
    r[5].play_ms = 100000;
    return 6;
}

static void test_formulas(void **state)
{
    (void)state;
    struct vex_record r[6];
    size_t n = make_set(r);
    json_t *j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=" ALL_METRICS, r, n);
    json_t *row = qt_row(j, 0);
    assert_int_equal(qt_int(row, "attempts"), 4);           /* A B C D */
    assert_int_equal(qt_int(row, "viewercount"), 2);        /* A B */
    assert_int_equal(qt_int(row, "endedplays"), 3);         /* A B F */
    assert_int_equal(qt_int(row, "errors"), 2);             /* B C */
    assert_int_equal(qt_int(row, "totalstartupfailure"), 1); /* C */
    assert_int_equal(qt_int(row, "ebvs"), 1);               /* D */
    assert_int_equal(qt_int(row, "buffcount"), 2);
    assert_int_equal(qt_int(row, "uniqueviewercount"), 2); /* u1 u2 */
    /* overlaps: A 100000 + B 100000 + C 10000 + D 5000 + F 50000 = 265000 */
    qt_assert_near(qt_real(row, "concurviewavg"), 265000.0 / 1000000.0);
    qt_assert_near(qt_real(row, "startupabandonmentrate"), 25.0);
    qt_assert_near(qt_real(row, "failurerate"), 25.0);
    qt_assert_near(qt_real(row, "playbackfailurerate"), 50.0);
    /* play 90000, cirr 3000, vrt 1000: 94000 */
    qt_assert_near(qt_real(row, "bufferingratio"), 100.0 * 4000 / 94000);
    qt_assert_near(qt_real(row, "sumbuffwaitcirr"), 100.0 * 3000 / 94000);
    qt_assert_near(qt_real(row, "vrtbufferingratio"), 100.0 * 1000 / 94000);
    qt_assert_near(qt_real(row, "rebufferfrequency"), 80.0); /* 2 * 3600000 / 90000 */
    qt_assert_near(qt_real(row, "playdur"), 90.0);
    qt_assert_near(qt_real(row, "latency"), 1.25);          /* (2 + 0.5) / 2 */
    qt_assert_near(qt_real(row, "median_latency"), 0.5);    /* rank ceil(1.0) of [0.5, 2] */
    qt_assert_near(qt_real(row, "p95_latency"), 2.0);       /* rank ceil(1.9) */
    qt_assert_near(qt_real(row, "p99_latency"), 2.0);
    qt_assert_near(qt_real(row, "avgbitrate"), 3000.0);
    /* Q(A) = 100 * 0.9375 * (1 - 5 * 4000/64000) * (0.6 + 0.4 * 0.5) = 51.5625;
     * Q(B) = 0 (vpf), Q(C) = 0 (vsf); D neither played nor vsf: not counted. */
    qt_assert_near(qt_real(row, "qualityofexperience"), 51.5625 / 3);
    qt_assert_near(qt_real(row, "median_qualityofexperience"), 0.0); /* [0, 0, 51.5625] */
    json_decref(j);
}

static void test_zero_denominators(void **state)
{
    (void)state;
    struct vex_record r[6];
    make_set(r);
    /* D alone: one attempt, never played, no time in any state. */
    json_t *j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=" ALL_METRICS, &r[3], 1);
    json_t *row = qt_row(j, 0);
    assert_int_equal(qt_int(row, "attempts"), 1);
    assert_int_equal(qt_int(row, "viewercount"), 0);
    qt_assert_near(qt_real(row, "startupabandonmentrate"), 100.0);
    static const char *const zeros[] = {
        "playbackfailurerate", "bufferingratio", "sumbuffwaitcirr", "vrtbufferingratio",
        "rebufferfrequency", "latency", "median_latency", "p95_latency", "avgbitrate",
        "qualityofexperience", "median_qualityofexperience"};
    for (size_t i = 0; i < sizeof zeros / sizeof zeros[0]; i++) {
        if (qt_real(row, zeros[i]) != 0.0)
            fail_msg("%s should be 0", zeros[i]);
    }
    json_decref(j);
}

static void test_ended_sessiontype(void **state)
{
    (void)state;
    struct vex_record r[6];
    size_t n = make_set(r);
    /* Under `ended` membership goes by last_ts: A B C D and F (last_ts
     * 1,050,000) belong; E does not. */
    json_t *j = qt_run(VEX_EP_METRICQUERY,
                       "period=start=1000,end=2000&metrics=attempts,viewercount,playdur", r, n);
    json_t *row = qt_row(j, 0);
    assert_int_equal(qt_int(row, "attempts"), 5);
    assert_int_equal(qt_int(row, "viewercount"), 3);
    qt_assert_near(qt_real(row, "playdur"), 190.0);
    json_decref(j);
}

/* A live (not closed) session: attempt 1,100,000, last event 1,400,000. */
static struct vex_record live_rec(void)
{
    struct vex_record r = qt_rec("L", 1100000, 1400000);
    r.state = VEX_STATE_PLAYING;
    r.closed = 0;
    r.live = 1;
    r.play_ms = 250000;
    return r;
}

static void test_allstatus_and_live_sessions(void **state)
{
    (void)state;
    struct vex_record r[2] = {live_rec(), qt_rec("V", 1200000, 1300000)};
    const char *m = "&metrics=attempts,endedplays,concurviewavg";
    char qs[256];
    /* session: started, allstatus=1 by default: the live session belongs;
     * it is never an ended play; it is concurrent for 300000 ms. */
    snprintf(qs, sizeof qs, PERIOD "%s", m);
    json_t *j = qt_run(VEX_EP_SESSION, qs, r, 2);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 2);
    assert_int_equal(qt_int(qt_row(j, 0), "endedplays"), 1);
    qt_assert_near(qt_real(qt_row(j, 0), "concurviewavg"), 400000.0 / 1000000.0);
    json_decref(j);
    /* metricquery: ended, allstatus=0: only V belongs; concurviewavg still
     * counts L whatever sessiontype and allstatus say. */
    snprintf(qs, sizeof qs, "period=start=1000,end=2000%s", m);
    j = qt_run(VEX_EP_METRICQUERY, qs, r, 2);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 1);
    qt_assert_near(qt_real(qt_row(j, 0), "concurviewavg"), 0.4);
    json_decref(j);
    /* ended with allstatus=1: L belongs by its last_ts. */
    snprintf(qs, sizeof qs, "period=start=1000,end=2000&allstatus=1%s", m);
    j = qt_run(VEX_EP_METRICQUERY, qs, r, 2);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 2);
    json_decref(j);
    /* started with allstatus=0: L is out. */
    snprintf(qs, sizeof qs, PERIOD "&sessiontype=started&allstatus=0%s", m);
    j = qt_run(VEX_EP_SESSION, qs, r, 2);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 1);
    json_decref(j);
    /* Its row says RUNNING. */
    j = qt_run(VEX_EP_LISTSESSIONS,
               "period=start=1000,end=2000&allstatus=1&metrics=status,watchtime&orderby=sessionid"
               "&order=asc",
               r, 2);
    assert_string_equal(qt_str(qt_row(j, 0), "sessionid"), "L");
    assert_string_equal(qt_str(qt_row(j, 0), "status"), "RUNNING");
    qt_assert_near(qt_real(qt_row(j, 0), "watchtime"), 250.0);
    assert_string_equal(qt_str(qt_row(j, 1), "status"), "ENDED");
    json_decref(j);
}

static void test_streamtype_endpoints(void **state)
{
    (void)state;
    struct vex_record r[3] = {live_rec(), qt_rec("V1", 1200000, 1300000),
                              qt_rec("V2", 1250000, 1300000)};
    json_t *j = qt_run(VEX_EP_VOD, PERIOD "&metrics=attempts,concurviewavg", r, 3);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 2);
    /* "filters applied" includes the endpoint's streamtype: 100000 + 50000 */
    qt_assert_near(qt_real(qt_row(j, 0), "concurviewavg"), 0.15);
    json_decref(j);
    j = qt_run(VEX_EP_LIVE, PERIOD "&metrics=attempts", r, 3);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 1);
    json_decref(j);
    j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=attempts,streamtype", r, 3);
    assert_int_equal(qt_int(j, "totalcount"), 2);
    assert_string_equal(qt_str(qt_row(j, 0), "streamtype"), "live");
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 1);
    assert_string_equal(qt_str(qt_row(j, 1), "streamtype"), "vod");
    assert_int_equal(qt_int(qt_row(j, 1), "attempts"), 2);
    json_decref(j);
    j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=attempts&filter=streamtype!=live", r, 3);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 2);
    json_decref(j);
}

/* Hour buckets over [10:00, 13:00) of 1970-01-01 (36000 s .. 46800 s):
 *   S1 [10:30 .. 12:15] played, S2 [12:10 .. 12:20] played. */
static void test_buckets_endedplays_concurrency(void **state)
{
    (void)state;
    struct vex_record r[2] = {qt_rec("S1", 37800000, 44100000), qt_rec("S2", 43800000, 44400000)};
    json_t *j = qt_run(VEX_EP_SESSION,
                       "planlevel=1&period=start=36000,end=46800&granularity=hour&aggby=timestamp"
                       "&metrics=attempts,endedplays,concurviewavg",
                       r, 2);
    /* 11:00 holds no belonging session: no row. */
    assert_int_equal(qt_int(j, "totalcount"), 2);
    json_t *row = qt_row(j, 0);
    assert_int_equal(qt_int(row, "timestamp"), 36000);
    assert_int_equal(qt_int(row, "attempts"), 1);
    assert_int_equal(qt_int(row, "endedplays"), 0);
    qt_assert_near(qt_real(row, "concurviewavg"), 0.5); /* S1: 30 of 60 min */
    row = qt_row(j, 1);
    assert_int_equal(qt_int(row, "timestamp"), 43200);
    assert_int_equal(qt_int(row, "attempts"), 1);
    assert_int_equal(qt_int(row, "endedplays"), 2);                 /* both end 12:xx */
    qt_assert_near(qt_real(row, "concurviewavg"), 1500.0 / 3600.0); /* 15 + 10 min */
    json_decref(j);

    /* A period starting at 10:30: the first bucket's part is 30 min, which S1
     * fills. */
    j = qt_run(VEX_EP_SESSION,
               "planlevel=1&period=start=37800,end=46800&granularity=hour&aggby=timestamp"
               "&metrics=concurviewavg",
               r, 2);
    assert_int_equal(qt_int(qt_row(j, 0), "timestamp"), 36000);
    qt_assert_near(qt_real(qt_row(j, 0), "concurviewavg"), 1.0);
    json_decref(j);

    /* Under `ended` S1 and S2 both belong to 12:00 by last_ts. */
    j = qt_run(VEX_EP_METRICQUERY,
               "period=start=36000,end=46800&granularity=hour&aggby=timestamp"
               "&metrics=attempts",
               r, 2);
    assert_int_equal(qt_int(j, "totalcount"), 1);
    assert_int_equal(qt_int(qt_row(j, 0), "timestamp"), 43200);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 2);
    json_decref(j);
}

static void test_percentiles_nearest_rank(void **state)
{
    (void)state;
    /* 20 plays with startup 1..20 s, fed out of order; group "x" also gets
     * 3 plays of 7, 1 and 4 s. */
    struct vex_record r[23];
    char sids[23][8];
    for (int i = 0; i < 20; i++) {
        snprintf(sids[i], sizeof sids[i], "s%d", i);
        r[i] = qt_rec(sids[i], 1000000 + i, 1000000 + i);
        r[i].startup_ms = ((i * 7) % 20 + 1) * 1000;
        r[i].dims[VEX_DIM_CDN] = "w";
    }
    static const int x[3] = {7, 1, 4};
    for (int i = 20; i < 23; i++) {
        snprintf(sids[i], sizeof sids[i], "s%d", i);
        r[i] = qt_rec(sids[i], 1000000, 1000000);
        r[i].startup_ms = x[i - 20] * 1000;
        r[i].dims[VEX_DIM_CDN] = "x";
    }
    json_t *j = qt_run(VEX_EP_SESSION,
                       PERIOD "&metrics=median_latency,p95_latency,p99_latency&aggby=cdn", r, 23);
    json_t *w = qt_row(j, 0);
    assert_string_equal(qt_str(w, "cdn"), "w");
    qt_assert_near(qt_real(w, "median_latency"), 10.0); /* rank ceil(10) */
    qt_assert_near(qt_real(w, "p95_latency"), 19.0);    /* rank ceil(19) */
    qt_assert_near(qt_real(w, "p99_latency"), 20.0);    /* rank ceil(19.8) */
    json_t *xr = qt_row(j, 1);
    qt_assert_near(qt_real(xr, "median_latency"), 4.0); /* [1 4 7], rank ceil(1.5) = 2 */
    qt_assert_near(qt_real(xr, "p95_latency"), 7.0);
    json_decref(j);
}

static void test_percentiles_with_repeats(void **state)
{
    (void)state;
    /* 1000 plays with startup (i % 10) s: 100 each of 0..9 s. Ranks: median
     * 500 -> 4, p95 950 -> 9, p99 990 -> 9. Group "e": 37 plays all 2.5 s. */
    enum { N = 1037 };
    struct vex_record *r = calloc(N, sizeof *r);
    assert_non_null(r);
    for (int i = 0; i < N; i++) {
        r[i] = qt_rec("s", 1000000, 1000000);
        r[i].startup_ms = i < 1000 ? (i * 3 % 10) * 1000 : 2500;
        r[i].dims[VEX_DIM_CDN] = i < 1000 ? "d" : "e";
    }
    json_t *j = qt_run(VEX_EP_SESSION,
                       PERIOD "&metrics=p99_latency,median_latency,p95_latency&aggby=cdn", r, N);
    json_t *d = qt_row(j, 0);
    qt_assert_near(qt_real(d, "median_latency"), 4.0);
    qt_assert_near(qt_real(d, "p95_latency"), 9.0);
    qt_assert_near(qt_real(d, "p99_latency"), 9.0);
    json_t *e = qt_row(j, 1);
    qt_assert_near(qt_real(e, "median_latency"), 2.5);
    qt_assert_near(qt_real(e, "p99_latency"), 2.5);
    json_decref(j);
    /* 7 values [5 5 5 1 1 9 9]: median rank 4 -> 5, p95 rank 7 -> 9. */
    static const int seven[7] = {5, 5, 5, 1, 1, 9, 9};
    for (int i = 0; i < 7; i++)
        r[i].startup_ms = seven[i] * 1000;
    j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=median_latency,p95_latency", r, 7);
    qt_assert_near(qt_real(qt_row(j, 0), "median_latency"), 5.0);
    qt_assert_near(qt_real(qt_row(j, 0), "p95_latency"), 9.0);
    json_decref(j);
    free(r);
}

static void test_unique_viewers_per_group(void **state)
{
    (void)state;
    struct vex_record r[6];
    const char *subs[6] = {"u1", "u1", "u2", "", "u1", "u3"};
    const char *cdns[6] = {"a", "a", "a", "a", "b", "b"};
    for (int i = 0; i < 6; i++) {
        r[i] = qt_rec("s", 1000000, 1000000);
        r[i].dims[VEX_DIM_SUBSCRIBERID] = subs[i];
        r[i].dims[VEX_DIM_CDN] = cdns[i];
    }
    json_t *j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=uniqueviewercount&aggby=cdn", r, 6);
    assert_int_equal(qt_int(qt_row(j, 0), "uniqueviewercount"), 2); /* a: u1 u2 */
    assert_int_equal(qt_int(qt_row(j, 1), "uniqueviewercount"), 2); /* b: u1 u3 */
    json_decref(j);
    j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=uniqueviewercount", r, 6);
    assert_int_equal(qt_int(qt_row(j, 0), "uniqueviewercount"), 3);
    json_decref(j);
}

static void test_per_session_fields(void **state)
{
    (void)state;
    struct vex_record r = qt_rec("sess-1", 1234567, 1300000);
    r.play_ms = 1500;
    r.dims[VEX_DIM_IP] = "192.0.2.7";
    r.dims[VEX_DIM_TITLE] = "A Title";
    r.dims[VEX_DIM_CDN] = "c1";
    json_t *j = qt_run(VEX_EP_LISTSESSIONS,
                       "period=start=1000,end=2000&metrics=ipaddress,timestamp,starttime,endtime,"
                       "watchtime,assetname,status,cdn,endedplays",
                       &r, 1);
    json_t *row = qt_row(j, 0);
    assert_string_equal(qt_str(row, "sessionid"), "sess-1");
    assert_string_equal(qt_str(row, "cdn"), "c1");
    assert_string_equal(qt_str(row, "ipaddress"), "192.0.2.7");
    assert_int_equal(qt_int(row, "timestamp"), 1234);
    assert_int_equal(qt_int(row, "starttime"), 1234567);
    assert_int_equal(qt_int(row, "endtime"), 1300000);
    qt_assert_near(qt_real(row, "watchtime"), 1.5);
    assert_string_equal(qt_str(row, "assetname"), "A Title");
    assert_string_equal(qt_str(row, "status"), "ENDED");
    assert_int_equal(qt_int(row, "endedplays"), 1);
    json_decref(j);
}

static void test_qoefilter_on_session_metrics(void **state)
{
    (void)state;
    struct vex_record r[6];
    size_t n = make_set(r);
    /* Per session bufferingratio: A 6.25 (4000/64000), others 0; latency:
     * A 2, B 0.5, C and D 0 (not played). */
    json_t *j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=attempts&qoefilter=bufferingratio>5", r,
                       n);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 1);
    json_decref(j);
    j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=attempts&qoefilter=latency<1+AND+errors=1", r, n);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 2); /* B and C */
    json_decref(j);
    j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=attempts&qoefilter=qualityofexperience%3E50", r,
               n);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 1); /* A: 51.5625 */
    json_decref(j);
    /* qoefilter applies to endedplays too: F (latency 0) is filtered out. */
    j = qt_run(VEX_EP_SESSION, PERIOD "&metrics=endedplays&qoefilter=latency>=0.5", r, n);
    assert_int_equal(qt_int(qt_row(j, 0), "endedplays"), 2); /* A B */
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metric_table),
        cmocka_unit_test(test_nothing_belongs_single_row_of_zeros),
        cmocka_unit_test(test_formulas),
        cmocka_unit_test(test_zero_denominators),
        cmocka_unit_test(test_ended_sessiontype),
        cmocka_unit_test(test_allstatus_and_live_sessions),
        cmocka_unit_test(test_streamtype_endpoints),
        cmocka_unit_test(test_buckets_endedplays_concurrency),
        cmocka_unit_test(test_percentiles_nearest_rank),
        cmocka_unit_test(test_percentiles_with_repeats),
        cmocka_unit_test(test_unique_viewers_per_group),
        cmocka_unit_test(test_per_session_fields),
        cmocka_unit_test(test_qoefilter_on_session_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
