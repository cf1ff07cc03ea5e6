/* test_columns_diff.c - the columnar path against the record path on random
 * sessions and random queries.
 *
 * Sessions: dimensions drawn from small pools (the empty value, a value with
 * a space, a shared value between dimensions), every state, played / vsf /
 * vpf / errors mixes, live and vod, open and closed sessions (one server
 * clock), attempt and last times around and across the period. Queries: a
 * grammar of valid parameters (metric subsets with companions, aliases,
 * percentiles, uniqueviewercount and Q; aggby over dimensions, streamtype,
 * timestamp and sessionid; both filter syntaxes with = != and value lists;
 * qoefilter; sessiontype, allstatus, dimension, granularity, orderby, limit
 * and offset; all five endpoints). Each query runs on the records, then on
 * the same sessions as columns: as one run on one thread, where the text must
 * be the very same; and cut into runs (each with its own dictionary) or as
 * one run, on two threads, where numbers may differ in the last bits only,
 * also with the group grid bounded so that groups are found by hashing. A
 * query the grammar made invalid is parsed and dropped; the test counts the
 * valid ones and the rows they gave so that it cannot pass on nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "qtest.h"

#define NSESS 1500
#define NQUERIES 350
#define DAY_MS 86400000LL
#define T0_MS 1709251200000LL /* 2024-03-01 00:00:00 UTC */

static uint64_t g_rng;

static uint64_t rnd(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545f4914f6cdd1dULL;
}

/* rn returns a number in [0, n). */
static uint64_t rn(uint64_t n)
{
    return rnd() % n;
}

static int chance(int percent)
{
    return (int)rn(100) < percent;
}

static const char *const cdns[] = {"", "akamai", "fastly", "cloud front", "edge"};
static const char *const platforms[] = {"", "web", "ios", "android"};
static const char *const countries[] = {"", "us", "fr", "de", "edge"};
static const char *const small[] = {"", "a", "b", "c"};
static const char *const subs[] = {"", "", "", "u1", "u2", "u3", "u4", "u5", "u6", "u7",
                                   "u8", "u9", "u10", "u11", "u12"};
static const char *const ips[] = {"", "10.0.0.1", "10.0.0.2", "192.168.1.9"};
static const char *const titles[] = {"", "Movie", "Show 1", "Show 2", "Live event"};

#define PICK(a) ((a)[rn(sizeof(a) / sizeof((a)[0]))])

static const char *dim_value(int d)
{
    switch (d) {
    case VEX_DIM_CDN:
        return PICK(cdns);
    case VEX_DIM_PLATFORM:
        return PICK(platforms);
    case VEX_DIM_COUNTRY:
        return PICK(countries);
    case VEX_DIM_SUBSCRIBERID:
        return PICK(subs);
    case VEX_DIM_IP:
        return PICK(ips);
    case VEX_DIM_TITLE:
    case VEX_DIM_ASSET:
        return PICK(titles);
    default:
        return PICK(small);
    }
}

static char g_sids[NSESS][16];

/* make_sessions fills r[0..n) and resolves them against the clock now_ms. */
static void make_sessions(struct vex_record *r, size_t n, int64_t now_ms)
{
    for (size_t i = 0; i < n; i++) {
        struct vex_record *x = &r[i];
        memset(x, 0, sizeof *x);
        snprintf(g_sids[i], sizeof g_sids[i], "s%05zu", i);
        x->sid = g_sids[i];
        for (int d = 0; d < VEX_DIM_COUNT; d++)
            x->dims[d] = dim_value(d);
        /* Over five days, some on exact second and hour boundaries. */
        x->attempt_ts = T0_MS + (int64_t)rn(5 * DAY_MS);
        if (chance(10))
            x->attempt_ts -= x->attempt_ts % 3600000;
        int64_t dur = chance(5) ? (int64_t)rn(2 * DAY_MS) : (int64_t)rn(3 * 3600000);
        if (chance(5))
            dur = 0;
        x->last_ts = x->attempt_ts + dur;
        x->state = (uint8_t)rn(6);
        x->live = chance(30);
        switch (x->state) {
        case VEX_STATE_STARTING:
            break;
        case VEX_STATE_ENDED:
            x->played = chance(80);
            if (!x->played)
                x->vsf = chance(40);
            else
                x->vpf = chance(15);
            x->errors = (x->vsf || x->vpf) && chance(90);
            break;
        default:
            x->played = 1;
        }
        if (x->played) {
            x->startup_ms = chance(10) ? 0 : (int64_t)rn(12000);
            x->play_ms = (int64_t)rn((uint64_t)dur + 1);
            x->cirr_ms = chance(50) ? (int64_t)rn(60000) : 0;
            x->vrt_ms = chance(30) ? (int64_t)rn(20000) : 0;
            x->rebuffers = x->cirr_ms ? (uint32_t)rn(8) + 1 : 0;
            x->seeks = x->vrt_ms ? (uint32_t)rn(4) + 1 : 0;
            if (chance(80)) {
                x->kbps_known_ms = (int64_t)rn((uint64_t)x->play_ms + 1);
                x->kbps_ms = (double)x->kbps_known_ms * (200.0 + (double)rn(780000) / 100.0);
            }
        }
        /* The sessionizer leaves startup_ms at 0 without play, but the
         * engine must not rely on it: latency counts played sessions only. */
        if (!x->played && chance(20))
            x->startup_ms = (int64_t)rn(5000);
        x->warnings = (uint32_t)rn(3);
        vex_record_resolve(x, now_ms, QC_TIMEOUT_MS);
    }
}

/* ---- queries ---- */

static const char *const metric_names[] = {
    "attempts", "viewercount", "endedplays", "errors", "totalstartupfailure", "ebvs",
    "buffcount", "uniqueviewercount", "concurviewavg", "startupabandonmentrate", "failurerate",
    "playbackfailurerate", "bufferingratio", "sumbuffwaitcirr", "vrtbufferingratio",
    "rebufferfrequency", "playdur", "latency", "median_latency", "p95_latency", "p99_latency",
    "avgbitrate", "qualityofexperience", "median_qualityofexperience", "avg_latency",
    "avg_qualityofexperience"};
static const char *const qdims[] = {"cdn", "platform", "player", "os", "browser", "device",
                                    "country", "asset", "title", "isp", "subscriberid",
                                    "subscribertag", "streamtype"};
static const char *const fields[] = {"ipaddress", "timestamp", "starttime", "endtime",
                                     "watchtime", "assetname", "status", "sessionid"};
static const char *const grans[] = {"minute", "5minute", "10minute", "hour", "day", "auto"};
static const char *const qoe_metrics[] = {"bufferingratio", "latency", "attempts", "playdur",
                                          "errors", "qualityofexperience", "ebvs",
                                          "concurviewavg", "median_latency", "avgbitrate",
                                          "uniqueviewercount", "endedplays", "avg_latency"};
static const char *const qoe_ops[] = {">", ">=", "<", "<=", "=", "!=", " > ", " <= "};
static const char *const qoe_nums[] = {"0", "1", "2.5", "50", "1e2", "-1", "0.5", "1000"};

struct qbuf {
    char s[4096];
    size_t n;
};

static void add(struct qbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(struct qbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
    va_end(ap);
    assert_true(k >= 0 && (size_t)k < sizeof b->s - b->n);
    b->n += (size_t)k;
}

/* add_encoded appends s percent-encoded as a filter value. */
static void add_encoded(struct qbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == ' ')
            add(b, chance(50) ? "+" : "%%20");
        else
            add(b, "%c", *s);
    }
}

static const char *filter_value(int qdim)
{
    if (qdim == VEX_QDIM_STREAMTYPE)
        return chance(50) ? "live" : "vod";
    if (chance(10))
        return "nosuchvalue";
    return dim_value(qdim);
}

static void add_filter(struct qbuf *b)
{
    int n = 1 + (int)rn(3);
    int brackets = chance(40);
    add(b, "&filter=");
    for (int i = 0; i < n; i++) {
        int d = (int)rn(sizeof qdims / sizeof qdims[0]);
        if (brackets)
            add(b, "[");
        else if (i)
            add(b, ",");
        add(b, "%s%s", qdims[d], chance(30) ? "!=" : "=");
        int nv = 1 + (int)rn(3);
        for (int v = 0; v < nv; v++) {
            if (v)
                add(b, "|");
            add_encoded(b, filter_value(vex_qdim_lookup(qdims[d], strlen(qdims[d]))));
        }
        if (brackets)
            add(b, "]");
    }
}

static void add_qoefilter(struct qbuf *b)
{
    int n = 1 + (int)rn(2);
    add(b, "&qoefilter=");
    for (int i = 0; i < n; i++) {
        if (i)
            add(b, chance(50) ? "+AND+" : ",");
        const char *op = PICK(qoe_ops);
        add(b, "%s", PICK(qoe_metrics));
        for (; *op; op++)
            add(b, *op == ' ' ? "+" : *op == '>' ? "%%3E" : "%c", *op);
        add(b, "%s", PICK(qoe_nums));
    }
}

/* make_query writes a random query string; *ep receives its endpoint. */
static void make_query(struct qbuf *b, enum vex_endpoint *ep)
{
    static const enum vex_endpoint eps[] = {VEX_EP_SESSION, VEX_EP_VOD, VEX_EP_LIVE,
                                            VEX_EP_METRICQUERY, VEX_EP_LISTSESSIONS};
    static const int64_t spans[] = {3600, 6 * 3600, 86400, 3 * 86400, 8 * 86400};
    b->n = 0;
    b->s[0] = '\0';
    *ep = eps[rn(5)];
    int64_t span = spans[rn(5)];
    int64_t start = T0_MS / 1000 - 86400 + (int64_t)rn(6 * 86400);
    if (chance(30))
        start -= start % 3600;
    add(b, "planlevel=1&period=start=%lld,end=%lld", (long long)start,
        (long long)(start + span));
    /* Keys. */
    const char *keys[4];
    int nkeys = 0;
    int sid = *ep == VEX_EP_LISTSESSIONS;
    if (*ep != VEX_EP_LISTSESSIONS && chance(75)) {
        int n = (int)rn(4);
        add(b, "&aggby=");
        for (int i = 0; i < n || i == 0; i++) {
            const char *k;
            int r = (int)rn(20);
            if (r < 3)
                k = "timestamp";
            else if (r < 4)
                k = "sessionid";
            else
                k = PICK(qdims);
            add(b, "%s%s", i ? "," : "", k);
            keys[nkeys++] = k;
            sid |= strcmp(k, "sessionid") == 0;
        }
        if (chance(70)) {
            const char *g = PICK(grans);
            /* Minutes over days would make thousands of rows for nothing. */
            if (span > 86400 && strcmp(g, "minute") == 0)
                g = "hour";
            add(b, "&granularity=%s", g);
        }
    } else if (*ep != VEX_EP_LISTSESSIONS && chance(20)) {
        add(b, "&dimension=microscope");
        sid = 1;
    }
    if (*ep != VEX_EP_LISTSESSIONS && chance(10))
        add(b, "&dimension=%s", PICK(qdims));
    /* Metrics: one to six names, sometimes a dimension, with sessionid some
     * per-session fields. */
    const char *cols[12];
    int ncols = 0;
    int nm = 1 + (int)rn(6);
    add(b, "&metrics=");
    for (int i = 0; i < nm; i++) {
        const char *m = PICK(metric_names);
        if (chance(8))
            m = PICK(qdims);
        else if (sid && chance(25))
            m = PICK(fields);
        add(b, "%s%s", i ? "," : "", m);
        cols[ncols++] = m;
    }
    if (chance(35))
        add_filter(b);
    if (chance(25))
        add_qoefilter(b);
    if (chance(30))
        add(b, "&sessiontype=%s", chance(50) ? "started" : "ended");
    if (chance(30))
        add(b, "&allstatus=%d", chance(50) ? 1 : 0);
    if (chance(50)) {
        const char *o = nkeys && chance(40) ? keys[rn((uint64_t)nkeys)] : cols[rn((uint64_t)ncols)];
        add(b, "&orderby=%s", o);
        if (chance(60))
            add(b, "&%s=%s", chance(50) ? "orderas" : "order", chance(50) ? "asc" : "DESC");
    }
    if (chance(30))
        add(b, "&limit=%d", 1 + (int)rn(20));
    if (chance(20))
        add(b, "&offset=%d", (int)rn(10));
}

/* ---- the comparison ---- */

struct tally {
    int valid, rows, split_runs;
};

static void compare_one(const char *qs, enum vex_endpoint ep, const struct vex_record *recs,
                        size_t n, struct qc_src *one, struct tally *t)
{
    struct vex_query *q = NULL;
    struct vex_query_error err;
    if (vex_query_parse(ep, qs, &q, &err) != 0)
        return;
    t->valid++;
    struct qt_src rs = {.recs = recs, .n = n, .batch = 1 + rn(700)};
    struct vex_source src = {.self = &rs, .scan = qt_scan};
    char *want = NULL;
    assert_int_equal(vex_query_run(q, &src, "c", &want), 0);

    /* One run, one thread: the same additions in the same order. */
    char *got = qc_run_columns(q, one, SIZE_MAX);
    if (strcmp(want, got) != 0)
        fail_msg("ep %d '%s': one thread differs:\n  records: %s\n  columns: %s", (int)ep, qs,
                 want, got);
    free(got);

    /* One run, two threads. */
    got = qc_run_columns(q, one, 1);
    qc_assert_same(qs, want, got);
    free(got);

    /* Runs of random length, each with its own dictionary, two threads. */
    struct qc_src cut;
    qc_build(&cut, recs, n, 1 + rn(400));
    got = qc_run_columns(q, &cut, 1 + rn(64));
    qc_assert_same(qs, want, got);
    t->split_runs += (int)cut.nruns;
    free(got);

    /* The same with a group grid of at most 2^0..2^7 cells: groups found
     * by hashing from the start or once the grid outgrows its bound. */
    int saved = vex_colscan_grid_bits;
    vex_colscan_grid_bits = (int)rn(8);
    got = qc_run_columns(q, &cut, 1 + rn(64));
    vex_colscan_grid_bits = saved;
    qc_assert_same(qs, want, got);
    free(got);
    qc_free(&cut);

    json_error_t jerr;
    json_t *j = json_loads(want, 0, &jerr);
    assert_non_null(j);
    t->rows += (int)json_array_size(json_object_get(j, "response"));
    json_decref(j);
    free(want);
    vex_query_destroy(q);
}

static void run_seed(uint64_t seed, struct tally *t)
{
    g_rng = seed;
    struct vex_record *recs = calloc(NSESS, sizeof *recs);
    assert_non_null(recs);
    /* A clock inside the data: sessions of the last days are partly open. */
    make_sessions(recs, NSESS, T0_MS + 4 * DAY_MS + (int64_t)rn(DAY_MS));
    struct qc_src one;
    qc_build(&one, recs, NSESS, 0);
    assert_int_equal(one.nruns, 1);
    for (int i = 0; i < NQUERIES; i++) {
        struct qbuf b;
        enum vex_endpoint ep;
        make_query(&b, &ep);
        compare_one(b.s, ep, recs, NSESS, &one, t);
    }
    qc_free(&one);
    free(recs);
}

static void test_random_queries(void **state)
{
    (void)state;
    struct tally t = {0};
    static const uint64_t seeds[] = {0x9e3779b97f4a7c15ULL, 12345, 0xdeadbeefcafeULL};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        run_seed(seeds[i], &t);
    /* The grammar makes mostly valid queries with rows, and the cut runs are
     * many: otherwise the comparisons above would prove little. */
    assert_true(t.valid > 3 * NQUERIES / 2);
    assert_true(t.rows > 10 * t.valid);
    assert_true(t.split_runs > 3 * t.valid);
}

/* Open and closed sessions of one group around the clock: live sessions
 * count under allstatus=1 only, endedplays and ebvs only when closed. */
static void test_open_and_closed(void **state)
{
    (void)state;
    g_rng = 77;
    enum { N = 600 };
    struct vex_record *recs = calloc(N, sizeof *recs);
    assert_non_null(recs);
    make_sessions(recs, N, T0_MS + 2 * DAY_MS);
    int open = 0, closed_timeout = 0;
    for (int i = 0; i < N; i++) {
        open += !recs[i].closed;
        closed_timeout += recs[i].closed && recs[i].state != VEX_STATE_ENDED;
    }
    assert_true(open > 20 && closed_timeout > 20);
    static const char *const qs[] = {
        "planlevel=1&period=start=1709251200,end=1709510400&metrics=attempts,ebvs,endedplays,"
        "concurviewavg,viewercount&allstatus=1",
        "planlevel=1&period=start=1709251200,end=1709510400&metrics=attempts,ebvs,endedplays,"
        "concurviewavg&allstatus=0&aggby=timestamp&granularity=hour",
        "planlevel=1&period=start=1709251200,end=1709510400&metrics=attempts,status,ebvs&"
        "aggby=sessionid&sessiontype=ended&allstatus=1&limit=10000",
    };
    struct qc_src one;
    qc_build(&one, recs, N, 0);
    struct tally t = {0};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        compare_one(qs[i], VEX_EP_SESSION, recs, N, &one, &t);
    assert_int_equal(t.valid, 3);
    qc_free(&one);
    free(recs);
}

/* Many groups: group arrays, grids and histograms grow (and move) in the
 * middle of a run, on both threads. */
static void test_many_groups(void **state)
{
    (void)state;
    g_rng = 4242;
    enum { N = 5000 };
    static char subs_big[N][16], sids_big[N][16];
    struct vex_record *recs = calloc(N, sizeof *recs);
    assert_non_null(recs);
    make_sessions(recs, N > NSESS ? NSESS : N, T0_MS + 5 * DAY_MS);
    for (int i = NSESS; i < N; i++)
        recs[i] = recs[i % NSESS];
    for (int i = 0; i < N; i++) {
        snprintf(subs_big[i], sizeof subs_big[i], "v%d", (int)rn(1200));
        recs[i].dims[VEX_DIM_SUBSCRIBERID] = subs_big[i];
        snprintf(sids_big[i], sizeof sids_big[i], "m%05d", i);
        recs[i].sid = sids_big[i];
    }
    static const char *const qs[] = {
        "planlevel=1&period=start=1709164800,end=1709769600&metrics=attempts,playdur,ebvs,"
        "latency&aggby=subscriberid&limit=10000",
        "planlevel=1&period=start=1709164800,end=1709769600&metrics=attempts,bufferingratio,"
        "buffcount,avgbitrate&aggby=subscriberid,cdn&limit=10000",
        "planlevel=1&period=start=1709164800,end=1709769600&metrics=attempts,viewercount&"
        "aggby=subscriberid,platform,country&limit=10000",
        "planlevel=1&period=start=1709164800,end=1709769600&metrics=attempts,"
        "median_latency,uniqueviewercount,endedplays&aggby=cdn,timestamp&granularity=minute&"
        "limit=10000",
    };
    struct qc_src one;
    qc_build(&one, recs, N, 0);
    struct tally t = {0};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        compare_one(qs[i], VEX_EP_SESSION, recs, N, &one, &t);
    assert_int_equal(t.valid, 4);
    assert_true(t.rows > 4000);
    qc_free(&one);
    free(recs);
}

/* A code past the dictionary (which a sound backend never gives) reads as
 * the empty value in every part of the engine, not as memory past the
 * dictionary: here every "" of the columns is written as such a code. */
static void test_codes_past_dictionary(void **state)
{
    (void)state;
    g_rng = 99;
    enum { N = 800 };
    struct vex_record *recs = calloc(N, sizeof *recs);
    assert_non_null(recs);
    make_sessions(recs, N, T0_MS + 5 * DAY_MS);
    struct qc_src cut;
    qc_build(&cut, recs, N, 150);
    size_t changed = 0;
    for (size_t r = 0; r < cut.nruns; r++) {
        struct vex_columns *c = &cut.runs[r].c;
        for (int d = 0; d < VEX_DIM_COUNT; d++) {
            uint32_t *codes = (uint32_t *)c->dims[d];
            if (c->dims24[d]) {
                /* A 24-bit column: "" written as a code past the dictionary. */
                uint8_t *x = (uint8_t *)c->dims24[d];
                for (size_t i = 0; i < c->rows; i++) {
                    if (x[3 * i] == 0 && x[3 * i + 1] == 0 && x[3 * i + 2] == 0) {
                        uint32_t v = (uint32_t)(c->dict_size + i % 7);
                        x[3 * i] = (uint8_t)v;
                        x[3 * i + 1] = (uint8_t)(v >> 8);
                        x[3 * i + 2] = (uint8_t)(v >> 16);
                        changed++;
                    }
                }
                continue;
            }
            if (!codes) {
                /* A 16- or 8-bit column: its map sends "" past the dictionary. */
                uint32_t *map = (uint32_t *)c->dmap16[d];
                for (size_t i = 0; i < c->rows; i++) {
                    uint16_t l = c->dims16[d] ? c->dims16[d][i] : c->dims8[d][i];
                    if (map[l] == 0 || map[l] >= c->dict_size) {
                        map[l] = (uint32_t)(c->dict_size + l % 7);
                        changed++;
                    }
                }
                continue;
            }
            for (size_t i = 0; i < c->rows; i++) {
                if (codes[i] == 0) {
                    codes[i] = (uint32_t)(c->dict_size + i % 7);
                    changed++;
                }
            }
        }
    }
    assert_true(changed > 1000);
    static const char *const qs[] = {
        "planlevel=1&period=start=1709164800,end=1709769600&metrics=attempts,playdur&aggby=cdn",
        "planlevel=1&period=start=1709164800,end=1709769600&metrics=attempts&aggby=cdn,platform",
        "planlevel=1&period=start=1709164800,end=1709769600&metrics=attempts,uniqueviewercount&"
        "aggby=country,timestamp&granularity=day&filter=isp=|a,cdn!=akamai",
        "planlevel=1&period=start=1709164800,end=1709769600&metrics=attempts,ipaddress,assetname&"
        "aggby=sessionid&limit=10000&filter=[subscriberid=]",
        "planlevel=1&period=start=1709164800,end=1709769600&metrics=attempts&"
        "qoefilter=uniqueviewercount=0",
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        struct vex_query *q = NULL;
        struct vex_query_error err;
        if (vex_query_parse(VEX_EP_SESSION, qs[i], &q, &err))
            fail_msg("%s: %s", qs[i], err.message);
        struct qt_src rs = {.recs = recs, .n = N, .batch = 64};
        struct vex_source src = {.self = &rs, .scan = qt_scan};
        char *want = NULL;
        assert_int_equal(vex_query_run(q, &src, "c", &want), 0);
        char *got = qc_run_columns(q, &cut, SIZE_MAX);
        if (strcmp(want, got) != 0)
            fail_msg("'%s':\n  records: %s\n  columns: %s", qs[i], want, got);
        free(got);
        got = qc_run_columns(q, &cut, 1);
        qc_assert_same(qs[i], want, got);
        free(got);
        free(want);
        vex_query_destroy(q);
    }
    qc_free(&cut);
    free(recs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_queries),
        cmocka_unit_test(test_open_and_closed),
        cmocka_unit_test(test_many_groups),
        cmocka_unit_test(test_codes_past_dictionary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
