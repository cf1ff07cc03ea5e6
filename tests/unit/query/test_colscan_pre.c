/* test_colscan_pre.c - the columnar path adding whole column runs from their
 * pre-aggregates (struct vex_colpre, session/colpre.c) instead of scanning
 * their rows.
 *
 * First by hand, with the rows of a run poisoned after its pre-aggregate
 * was made: the answer shows which one the engine read, so a period that
 * holds the whole run must give the pre-aggregate's sums and a period that
 * cuts it must give the (poisoned) rows'. Then on random closed sessions
 * sorted by attempt time and cut into short runs, each with its
 * pre-aggregate: totals, endedplays, concurviewavg, Q, aggby=cdn, ended
 * sessions, allstatus=0, the VOD and live endpoints, over periods that hold
 * whole runs and periods that cut them, must give the record path's answer
 * (up to the order of double sums), and the short cut must have been taken;
 * queries a pre-aggregate cannot serve (filters, other keys, distinct
 * viewers, percentiles) must still be right. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "qtest.h"
#include "query/query_int.h"
#include "session/colpre.h"


#define DAY_MS 86400000LL
#define T0_MS 1709510400000LL /* 2024-03-04 00:00:00 UTC */
#define T0_S 1709510400LL

/* pre_attach gives every run of s whose rows are all closed its
 * pre-aggregate (by cdn); returns how many got one. pres has s->nruns. */
static size_t pre_attach(struct qc_src *s, struct vex_colpre *pres)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nruns; i++) {
        struct vex_columns *c = &s->runs[i].c;
        int rc = vex_colpre_build(c, 0, c->rows, VEX_DIM_CDN, &pres[i]);
        assert_true(rc == 0 || rc == VEX_EINVAL);
        if (rc == 0) {
            c->pre = &pres[i];
            n++;
        }
    }
    return n;
}

static void pre_free(struct qc_src *s, struct vex_colpre *pres)
{
    for (size_t i = 0; i < s->nruns; i++)
        if (s->runs[i].c.pre)
            vex_colpre_deinit(&pres[i]);
    qc_free(s);
}

static char *run_q(enum vex_endpoint ep, const char *qs, struct qc_src *s, size_t mt_rows)
{
    struct vex_query *q = NULL;
    struct vex_query_error err;
    if (vex_query_parse(ep, qs, &q, &err))
        fail_msg("parse of '%s' failed: %s", qs, err.message);
    char *out = qc_run_columns(q, s, mt_rows);
    vex_query_destroy(q);
    return out;
}

/* Three closed vod sessions of day 0, cdn a, a, b, played 1, 2 and 3 s,
 * started at 01:00, 02:00 and 03:00. After the pre-aggregate is made the
 * run's play_ms column is set to 1,000 s for every row. */
static void test_poisoned_rows(void **state)
{
    (void)state;
    struct vex_record r[3];
    for (int i = 0; i < 3; i++) {
        r[i] = qt_rec("s", T0_MS + (i + 1) * 3600000LL, T0_MS + (i + 1) * 3600000LL + 60000);
        r[i].dims[VEX_DIM_CDN] = i < 2 ? "a" : "b";
        r[i].play_ms = (i + 1) * 1000;
    }
    struct qc_src s;
    struct vex_colpre pres[1];
    qc_build(&s, r, 3, 0);
    assert_int_equal(s.nruns, 1);
    assert_int_equal(pre_attach(&s, pres), 1);
    uint32_t *pm = (uint32_t *)s.runs[0].c.play_ms;
    for (int i = 0; i < 3; i++)
        pm[i] = 1000000;
    char qs[256];

    /* [00:00, 24:00): the whole run, from its sums: 1 + 2 + 3 = 6 s. */
    size_t before = vex_colscan_pre_runs;
    snprintf(qs, sizeof qs, "planlevel=1&period=start=%lld,end=%lld&metrics=playdur,attempts", T0_S,
             T0_S + 86400);
    char *out = run_q(VEX_EP_SESSION, qs, &s, SIZE_MAX);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 3);
    qt_assert_near(qt_real(qt_row(j, 0), "playdur"), 6.0);
    assert_int_equal(vex_colscan_pre_runs, before + 1);
    json_decref(j);
    free(out);

    /* By cdn: a 1 + 2 = 3 s, b 3 s. */
    snprintf(qs, sizeof qs,
             "planlevel=1&period=start=%lld,end=%lld&metrics=playdur&aggby=cdn&orderby=cdn"
             "&order=asc",
             T0_S, T0_S + 86400);
    out = run_q(VEX_EP_SESSION, qs, &s, SIZE_MAX);
    j = json_loads(out, 0, NULL);
    assert_string_equal(qt_str(qt_row(j, 0), "cdn"), "a");
    qt_assert_near(qt_real(qt_row(j, 0), "playdur"), 3.0);
    assert_string_equal(qt_str(qt_row(j, 1), "cdn"), "b");
    qt_assert_near(qt_real(qt_row(j, 1), "playdur"), 3.0);
    json_decref(j);
    free(out);

    /* [01:30, 24:00) cuts the run: the rows are read, two of them at the
     * poisoned 1,000 s: 2,000 s. */
    before = vex_colscan_pre_runs;
    snprintf(qs, sizeof qs, "planlevel=1&period=start=%lld,end=%lld&metrics=playdur,attempts",
             T0_S + 5400, T0_S + 86400);
    out = run_q(VEX_EP_SESSION, qs, &s, SIZE_MAX);
    j = json_loads(out, 0, NULL);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 2);
    qt_assert_near(qt_real(qt_row(j, 0), "playdur"), 2000.0);
    assert_int_equal(vex_colscan_pre_runs, before);
    json_decref(j);
    free(out);

    /* [00:00, 03:00): the last session starts at E exactly, outside: the
     * run is cut, its rows are read: 2 attempts, 2 x 1,000 s. */
    snprintf(qs, sizeof qs, "planlevel=1&period=start=%lld,end=%lld&metrics=playdur,attempts", T0_S,
             T0_S + 3 * 3600);
    out = run_q(VEX_EP_SESSION, qs, &s, SIZE_MAX);
    j = json_loads(out, 0, NULL);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 2);
    qt_assert_near(qt_real(qt_row(j, 0), "playdur"), 2000.0);
    json_decref(j);
    free(out);

    /* A period after the run: nothing, and nothing read either (the rows
     * are all outside): 0 attempts. */
    snprintf(qs, sizeof qs, "planlevel=1&period=start=%lld,end=%lld&metrics=playdur,attempts",
             T0_S + 86400, T0_S + 2 * 86400);
    out = run_q(VEX_EP_SESSION, qs, &s, SIZE_MAX);
    j = json_loads(out, 0, NULL);
    assert_int_equal(qt_int(qt_row(j, 0), "attempts"), 0);
    json_decref(j);
    free(out);

    /* A filter cannot use the sums: rows again (a: 2 x 1,000 s). */
    snprintf(qs, sizeof qs, "planlevel=1&period=start=%lld,end=%lld&metrics=playdur&filter=cdn=a",
             T0_S, T0_S + 86400);
    out = run_q(VEX_EP_SESSION, qs, &s, SIZE_MAX);
    j = json_loads(out, 0, NULL);
    qt_assert_near(qt_real(qt_row(j, 0), "playdur"), 2000.0);
    json_decref(j);
    free(out);
    pre_free(&s, pres);
}

/* Sessions too wide for the narrow columns come as records beside the
 * rows (vex_columns.recs): r1 played 5,000,000,000 ms (more than 2^32) and
 * has 70,000 rebuffers (more than 2^16). playdur: (1,000 + 5,000,000,000 +
 * 2,000) / 1,000 = 5,000,003 s; by cdn: a (r0, r1) 5,000,001 s, b 2 s;
 * buffcount 70,000 + 1 + 0 = 70,001. qt_run checks the columnar answers
 * (one run, one thread; runs of three, two threads) against the records'. */
static void test_wide_records(void **state)
{
    (void)state;
    struct vex_record r[3];
    for (int i = 0; i < 3; i++) {
        r[i] = qt_rec("s", T0_MS + (i + 1) * 3600000LL, T0_MS + (i + 1) * 3600000LL + 60000);
        r[i].dims[VEX_DIM_CDN] = i < 2 ? "a" : "b";
    }
    r[0].play_ms = 1000;
    r[0].rebuffers = 1;
    r[1].play_ms = 5000000000LL;
    r[1].rebuffers = 70000;
    r[2].play_ms = 2000;
    char qs[256];
    snprintf(qs, sizeof qs, "planlevel=1&period=start=%lld,end=%lld&metrics=playdur,buffcount",
             T0_S, T0_S + 86400);
    json_t *j = qt_run(VEX_EP_SESSION, qs, r, 3);
    qt_assert_near(qt_real(qt_row(j, 0), "playdur"), 5000003.0);
    assert_int_equal(qt_int(qt_row(j, 0), "buffcount"), 70001);
    json_decref(j);
    snprintf(qs, sizeof qs,
             "planlevel=1&period=start=%lld,end=%lld&metrics=playdur&aggby=cdn&orderby=cdn"
             "&order=asc",
             T0_S, T0_S + 86400);
    j = qt_run(VEX_EP_SESSION, qs, r, 3);
    assert_string_equal(qt_str(qt_row(j, 0), "cdn"), "a");
    qt_assert_near(qt_real(qt_row(j, 0), "playdur"), 5000001.0);
    qt_assert_near(qt_real(qt_row(j, 1), "playdur"), 2.0);
    json_decref(j);
}

/* ---- random sessions ---- */

static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rn(uint64_t n)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (g_rng * 0x2545f4914f6cdd1dULL) % n;
}

static const char *const cdns[] = {"", "a", "b", "c"};
static const char *const plats[] = {"web", "tv"};
static const char *const subs[] = {"", "u1", "u2", "u3"};

static int by_attempt(const void *x, const void *y)
{
    const struct vex_record *a = x, *b = y;
    return (a->attempt_ts > b->attempt_ts) - (a->attempt_ts < b->attempt_ts);
}

#define NREC 3000
#define NOW_MS (T0_MS + 4 * DAY_MS)

static void make_random(struct vex_record *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t at = T0_MS + (int64_t)rn(3 * DAY_MS);
        int64_t lt = at + (int64_t)rn(2 * 3600000);
        if (rn(20) == 0)
            lt = at - (int64_t)rn(60000); /* a client clock that went back */
        r[i] = qt_rec("s", at, lt);
        r[i].dims[VEX_DIM_CDN] = cdns[rn(4)];
        r[i].dims[VEX_DIM_PLATFORM] = plats[rn(2)];
        r[i].dims[VEX_DIM_SUBSCRIBERID] = subs[rn(4)];
        r[i].live = rn(5) == 0;
        r[i].state = rn(5) ? VEX_STATE_ENDED : VEX_STATE_PLAYING;
        r[i].played = rn(100) < 85;
        r[i].vsf = !r[i].played && rn(10) < 3;
        r[i].vpf = r[i].played && rn(20) == 0;
        r[i].errors = r[i].vsf || r[i].vpf;
        if (r[i].vsf || r[i].vpf)
            r[i].state = VEX_STATE_ENDED;
        r[i].startup_ms = r[i].played ? (int64_t)rn(10000) : 0;
        r[i].play_ms = (int64_t)rn(3600000);
        r[i].cirr_ms = (int64_t)rn(60000);
        r[i].vrt_ms = (int64_t)rn(30000);
        r[i].kbps_known_ms = r[i].play_ms / 2;
        r[i].kbps_ms = (double)r[i].kbps_known_ms * (double)(500 + rn(7500));
        r[i].rebuffers = (uint32_t)rn(5);
        /* Every session is closed at NOW_MS (silent for a day at least). */
        r[i].closed = 1;
        r[i].ebvs = !r[i].played && !r[i].vsf;
    }
    qsort(r, n, sizeof *r, by_attempt);
}

static const char *const metric_sets[] = {
    "metrics=attempts",
    "metrics=viewercount,attempts,failurerate,startupabandonmentrate",
    "metrics=bufferingratio,playdur",
    "metrics=sumbuffwaitcirr,vrtbufferingratio,rebufferfrequency,buffcount",
    "metrics=latency,viewercount,errors,playbackfailurerate,ebvs",
    "metrics=endedplays",
    "metrics=concurviewavg",
    "metrics=endedplays,concurviewavg,attempts",
    "metrics=qualityofexperience,avgbitrate",
    "metrics=qualityofexperience,bufferingratio,latency,failurerate,playdur&aggby=cdn",
    "metrics=attempts,viewercount&aggby=cdn",
    /* What pre-aggregates cannot serve: */
    "metrics=attempts,playdur&filter=cdn=a",
    "metrics=attempts,playdur&aggby=platform",
    "metrics=uniqueviewercount",
    "metrics=median_latency,attempts",
    "metrics=endedplays,attempts&aggby=cdn",
};

static const char *const extras[] = {"", "&sessiontype=ended", "&allstatus=0"};

static void test_random_against_records(void **state)
{
    (void)state;
    struct vex_record *r = calloc(NREC, sizeof *r);
    assert_non_null(r);
    make_random(r, NREC);
    struct qc_src s;
    qc_build(&s, r, NREC, 40);
    struct vex_colpre *pres = calloc(s.nruns, sizeof *pres);
    assert_non_null(pres);
    assert_int_equal(pre_attach(&s, pres), s.nruns);
    /* Periods: whole days, days cut at an hour, everything, the first day
     * from before the data. */
    const int64_t periods[][2] = {
        {T0_S, T0_S + 2 * 86400},
        {T0_S + 86400, T0_S + 3 * 86400},
        {T0_S + 5 * 3600, T0_S + 53 * 3600},
        {T0_S - 86400, T0_S + 5 * 86400},
        {T0_S - 3600, T0_S + 86400},
    };
    const enum vex_endpoint eps[] = {VEX_EP_SESSION, VEX_EP_VOD, VEX_EP_LIVE};
    size_t before = vex_colscan_pre_runs, checked = 0;
    for (size_t p = 0; p < sizeof periods / sizeof *periods; p++) {
        for (size_t m = 0; m < sizeof metric_sets / sizeof *metric_sets; m++) {
            for (size_t x = 0; x < sizeof extras / sizeof *extras; x++) {
                enum vex_endpoint ep = eps[(p + m + x) % 3];
                char qs[512];
                snprintf(qs, sizeof qs, "planlevel=1&period=start=%lld,end=%lld&%s%s",
                         (long long)periods[p][0], (long long)periods[p][1], metric_sets[m],
                         extras[x]);
                struct vex_query *q = NULL;
                struct vex_query_error err;
                if (vex_query_parse(ep, qs, &q, &err))
                    fail_msg("parse of '%s' failed: %s", qs, err.message);
                struct qt_src rs = {.recs = r, .n = NREC, .batch = 64};
                struct vex_source src = {.self = &rs, .scan = qt_scan};
                char *want = NULL;
                assert_int_equal(vex_query_run(q, &src, "c", &want), 0);
                char *one = qc_run_columns(q, &s, SIZE_MAX);
                qc_assert_same(qs, want, one);
                char *two = qc_run_columns(q, &s, 1);
                qc_assert_same(qs, want, two);
                free(one);
                free(two);
                free(want);
                vex_query_destroy(q);
                checked++;
            }
        }
    }
    assert_int_equal(checked, 5 * 16 * 3);
    /* The short cut served many runs (whole days hold dozens of runs). */
    assert_true(vex_colscan_pre_runs - before > 1000);
    pre_free(&s, pres);
    free(pres);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poisoned_rows),
        cmocka_unit_test(test_wide_records),
        cmocka_unit_test(test_random_against_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
