/* bench_query.c - `vex-bench-query`: latency of the query engine over sessions held in
 * memory as columns, through its columnar path and through its record path (issue 4).
 *
 * Builds N sessions of one customer over a week (default 2,000,000): diurnal attempt
 * times, one column run per day sorted by attempt time (as a store partitions them),
 * 40 CDNs (Zipf), 10 platforms, 8 players, 50 countries, 5,000 assets (Zipf), live and
 * VOD, log-normal startup times, ~2 % EBVS, ~0.7 % start failures, rebuffering that
 * depends on the CDN, and a few sessions still open at the end. One dictionary holds
 * every string. Then times each query R times (median and p99, in ms) on the columnar
 * path (vex_source.scan_columns) and on the record path (vex_source.scan over the same
 * sessions as struct vex_record, made once beforehand and handed out in batches of
 * 1024, so that only the engine is timed), checks that both give the same rows, and
 * prints a table (also the median CPU time of a query, both threads together) and the
 * ratios of the medians.
 *
 * It prints figures and never passes or fails on time. */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "core/err.h"
#include "core/strpool.h"
#include "query/query.h"
#include "query/query_int.h"

#define USAGE                                                                                 \
    "usage: vex-bench-query [N sessions (default 2000000)] [--runs R (default 50)]\n"        \
    "                       [--record-runs R (default: as --runs)] [--threads 1|2]\n"        \
    "                       [--seed S] [--only I (run query I only, from 0)]\n"          \
    "                       [--one-run (the week as one column run, not one per day)]\n"

#define DAY_MS 86400000LL
#define WEEK_START_S 1709510400LL /* Monday 2024-03-04 00:00 UTC */
#define TIMEOUT_MS 120000
#define RECORD_BATCH 1024

struct store {
    size_t n;
    int64_t *attempt_ts, *last_ts;
    uint32_t *last_dt; /* last_ts - attempt_ts, as the columns give it */
    uint32_t *startup_ms, *play_ms, *cirr_ms, *vrt_ms, *kbps_known_ms;
    double *kbps_ms;
    uint16_t *rebuffers, *seeks, *warnings;
    uint16_t *flags;
    uint32_t *dims[VEX_DIM_COUNT];
    uint32_t *sid;
    struct vex_strpool *dict, *sids;
    size_t run_lo[9]; /* rows of day d: [run_lo[d], run_lo[d + 1]) */
    struct vex_record *recs; /* the same sessions as records, for the record path */
    int nruns;
    int one_run; /* hand the whole week out as one run, as the session table does */
    int64_t now_ms;
};

/* ---- random numbers ---- */

static uint64_t g_rng = 0x853c49e6748fea9bULL;

static uint64_t rnd(void)
{
    g_rng += 0x9e3779b97f4a7c15ULL;
    uint64_t z = g_rng;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double unif(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

static double normal(void)
{
    double u = unif(), v = unif();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static int chance(double p)
{
    return unif() < p;
}

/* A Zipf distribution over k items as a cumulative table. */
struct zipf {
    size_t k;
    double *cdf;
};

static int zipf_init(struct zipf *z, size_t k, double s)
{
    z->k = k;
    z->cdf = malloc(k * sizeof *z->cdf);
    if (!z->cdf)
        return -1;
    double sum = 0;
    for (size_t i = 0; i < k; i++) {
        sum += 1.0 / pow((double)(i + 1), s);
        z->cdf[i] = sum;
    }
    for (size_t i = 0; i < k; i++)
        z->cdf[i] /= sum;
    return 0;
}

static size_t zipf_draw(const struct zipf *z)
{
    double u = unif();
    size_t lo = 0, hi = z->k - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (z->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- the data ---- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* diurnal_ms draws a time of day with an evening peak about 4x the night. */
static int64_t diurnal_ms(void)
{
    for (;;) {
        double t = unif();
        double w = 0.625 + 0.375 * sin(6.283185307179586 * (t - 0.55));
        if (unif() < w)
            return (int64_t)(t * (double)DAY_MS);
    }
}

static uint32_t code_of(struct vex_strpool *p, const char *s)
{
    uint32_t id = 0;
    if (vex_strpool_intern(p, s, strlen(s), &id)) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return id;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "out of memory for %zu x %zu bytes\n", n, size);
        exit(1);
    }
    return p;
}

static void build(struct store *st, size_t n)
{
    static const char *const platforms[10] = {"web", "ios", "android", "roku", "tvos",
                                              "firetv", "tizen", "webos", "xbox", "ps5"};
    static const char *const players[8] = {"shaka", "hlsjs", "avplayer", "exoplayer",
                                           "dashjs", "bitmovin", "theo", "videojs"};
    static const char *const oses[6] = {"windows", "macos", "ios", "android", "linux", "tvos"};
    static const char *const browsers[5] = {"chrome", "safari", "firefox", "edge", "app"};
    static const char *const devices[4] = {"desktop", "mobile", "tablet", "tv"};
    static const char *const tags[3] = {"free", "premium", "trial"};
    char buf[64];
    st->n = n;
    st->attempt_ts = xcalloc(n, 8);
    st->last_ts = xcalloc(n, 8);
    st->last_dt = xcalloc(n, 4);
    st->startup_ms = xcalloc(n, 4);
    st->play_ms = xcalloc(n, 4);
    st->cirr_ms = xcalloc(n, 4);
    st->vrt_ms = xcalloc(n, 4);
    st->kbps_known_ms = xcalloc(n, 4);
    st->kbps_ms = xcalloc(n, 8);
    st->rebuffers = xcalloc(n, 2);
    st->seeks = xcalloc(n, 2);
    st->warnings = xcalloc(n, 2);
    st->flags = xcalloc(n, 2);
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        st->dims[d] = xcalloc(n, 4);
    st->sid = xcalloc(n, 4);
    if (vex_strpool_create(&st->dict) || vex_strpool_create(&st->sids)) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }

    /* Codes of the small dimensions first, as a store meets them early. */
    uint32_t cdn[40], plat[10], play[8], os[6], br[5], dev[4], ctry[50], tag[3];
    for (int i = 0; i < 40; i++) {
        snprintf(buf, sizeof buf, "cdn-%02d", i);
        cdn[i] = code_of(st->dict, buf);
    }
    for (int i = 0; i < 10; i++)
        plat[i] = code_of(st->dict, platforms[i]);
    for (int i = 0; i < 8; i++)
        play[i] = code_of(st->dict, players[i]);
    for (int i = 0; i < 6; i++)
        os[i] = code_of(st->dict, oses[i]);
    for (int i = 0; i < 5; i++)
        br[i] = code_of(st->dict, browsers[i]);
    for (int i = 0; i < 4; i++)
        dev[i] = code_of(st->dict, devices[i]);
    for (int i = 0; i < 50; i++) {
        snprintf(buf, sizeof buf, "c%c%c", 'a' + i / 26, 'a' + i % 26);
        ctry[i] = code_of(st->dict, buf);
    }
    for (int i = 0; i < 3; i++)
        tag[i] = code_of(st->dict, tags[i]);
    uint32_t *asset = xcalloc(5000, 4), *title = xcalloc(5000, 4);
    for (int i = 0; i < 5000; i++) {
        snprintf(buf, sizeof buf, "asset-%04d", i);
        asset[i] = code_of(st->dict, buf);
        snprintf(buf, sizeof buf, "Title %d", i);
        title[i] = code_of(st->dict, buf);
    }
    uint32_t isp[20];
    for (int i = 0; i < 20; i++) {
        snprintf(buf, sizeof buf, "isp-%d", i);
        isp[i] = code_of(st->dict, buf);
    }
    struct zipf zc, zctry, zasset, zplat;
    if (zipf_init(&zc, 40, 1.1) || zipf_init(&zctry, 50, 1.2) || zipf_init(&zasset, 5000, 1.0) ||
        zipf_init(&zplat, 10, 0.8)) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    /* Rebuffering depends on the CDN: a few bad ones. */
    double cdn_rebuf[40];
    for (int i = 0; i < 40; i++)
        cdn_rebuf[i] = 0.15 + 0.5 * unif() * (i % 7 == 3 ? 2.0 : 1.0);

    /* Attempt times: days in order, sorted within a day. */
    int64_t start_ms = WEEK_START_S * 1000;
    st->nruns = 7;
    size_t viewers = n / 5 + 1;
    for (int d = 0; d <= 7; d++)
        st->run_lo[d] = n * (size_t)d / 7;
    for (int d = 0; d < 7; d++) {
        for (size_t i = st->run_lo[d]; i < st->run_lo[d + 1]; i++)
            st->attempt_ts[i] = start_ms + d * DAY_MS + diurnal_ms();
        qsort(st->attempt_ts + st->run_lo[d], st->run_lo[d + 1] - st->run_lo[d], 8, cmp_i64);
    }
    st->now_ms = start_ms + 7 * DAY_MS + 60000;

    for (size_t i = 0; i < n; i++) {
        size_t c = zipf_draw(&zc);
        int live = chance(0.2);
        int64_t at = st->attempt_ts[i];
        st->dims[VEX_DIM_CDN][i] = cdn[c];
        st->dims[VEX_DIM_PLATFORM][i] = plat[zipf_draw(&zplat)];
        st->dims[VEX_DIM_PLAYER][i] = play[rnd() % 8];
        st->dims[VEX_DIM_OS][i] = os[rnd() % 6];
        st->dims[VEX_DIM_BROWSER][i] = br[rnd() % 5];
        st->dims[VEX_DIM_DEVICE][i] = dev[rnd() % 4];
        st->dims[VEX_DIM_COUNTRY][i] = ctry[zipf_draw(&zctry)];
        size_t a = zipf_draw(&zasset);
        st->dims[VEX_DIM_ASSET][i] = asset[a];
        st->dims[VEX_DIM_TITLE][i] = title[a];
        st->dims[VEX_DIM_ISP][i] = isp[rnd() % 20];
        if (chance(0.85)) {
            snprintf(buf, sizeof buf, "viewer-%zu", (size_t)(rnd() % viewers));
            st->dims[VEX_DIM_SUBSCRIBERID][i] = code_of(st->dict, buf);
        }
        st->dims[VEX_DIM_SUBSCRIBERTAG][i] = tag[rnd() % 3];
        snprintf(buf, sizeof buf, "10.%u.%u.%u", (unsigned)(rnd() % 64), (unsigned)(rnd() % 256),
                 (unsigned)(rnd() % 256));
        st->dims[VEX_DIM_IP][i] = code_of(st->dict, buf);
        snprintf(buf, sizeof buf, "%016" PRIx64 "-%zu", rnd(), i);
        st->sid[i] = code_of(st->sids, buf);

        /* Outcome: ~2 % EBVS, ~0.7 % start failures, ~0.5 % playback failures. */
        unsigned f = live ? VEX_COL_LIVE : 0;
        double u = unif();
        int played = u >= 0.027;
        int vsf = !played && u < 0.007;
        int64_t dur;
        if (played) {
            int64_t startup = (int64_t)(1000.0 * exp(0.1 + 0.6 * normal()));
            int64_t watch = (int64_t)(60000.0 * exp(2.6 + 1.1 * normal()));
            if (watch > 6 * 3600000LL)
                watch = 6 * 3600000LL;
            int64_t cirr = 0, vrt = 0;
            uint32_t reb = 0, seeks = 0;
            if (chance(cdn_rebuf[c])) {
                reb = 1 + (uint32_t)(rnd() % 5);
                cirr = (int64_t)reb * (int64_t)(500 + rnd() % 4000);
            }
            if (chance(0.2)) {
                seeks = 1 + (uint32_t)(rnd() % 3);
                vrt = (int64_t)seeks * (int64_t)(200 + rnd() % 1500);
            }
            double kbps = 800.0 + (double)(rnd() % 6000);
            st->startup_ms[i] = startup;
            st->play_ms[i] = watch;
            st->cirr_ms[i] = cirr;
            st->vrt_ms[i] = vrt;
            st->rebuffers[i] = reb;
            st->seeks[i] = seeks;
            st->kbps_known_ms[i] = watch - watch / 10;
            st->kbps_ms[i] = kbps * (double)st->kbps_known_ms[i];
            f |= VEX_COL_PLAYED;
            if (chance(0.005))
                f |= VEX_COL_VPF | VEX_COL_ERRORS;
            dur = startup + watch + cirr + vrt + (int64_t)(rnd() % 30000);
        } else {
            dur = (int64_t)(rnd() % 20000);
            if (vsf)
                f |= VEX_COL_VSF | VEX_COL_ERRORS;
        }
        st->warnings[i] = chance(0.05) ? 1 + (uint32_t)(rnd() % 3) : 0;
        int64_t last = at + dur;
        /* Sessions whose events run past `now` are still open: the last
         * event is recent and no end came. */
        if (last >= st->now_ms - 30000) {
            last = st->now_ms - (int64_t)(rnd() % 30000);
            if (last < at)
                last = at;
            f |= played ? VEX_STATE_PLAYING : VEX_STATE_STARTING;
        } else {
            /* A few sessions never send `end`: closed by the timeout. */
            f |= chance(0.03) ? (played ? VEX_STATE_PLAYING : VEX_STATE_STARTING)
                              : VEX_STATE_ENDED;
        }
        st->last_ts[i] = last;
        st->last_dt[i] = (uint32_t)(last - at);
        st->flags[i] = (uint16_t)f;
    }
    free(asset);
    free(title);
    free(zc.cdf);
    free(zctry.cdf);
    free(zasset.cdf);
    free(zplat.cdf);
}

static void run_columns(const struct store *st, size_t lo, size_t hi, struct vex_columns *c)
{
    memset(c, 0, sizeof *c);
    c->rows = hi - lo;
    c->attempt_ts = st->attempt_ts + lo;
    c->last_dt = st->last_dt + lo;
    c->startup_ms = st->startup_ms + lo;
    c->play_ms = st->play_ms + lo;
    c->cirr_ms = st->cirr_ms + lo;
    c->vrt_ms = st->vrt_ms + lo;
    c->kbps_known_ms = st->kbps_known_ms + lo;
    c->kbps_ms = st->kbps_ms + lo;
    c->rebuffers = st->rebuffers + lo;
    c->seeks = st->seeks + lo;
    c->warnings = st->warnings + lo;
    c->flags = st->flags + lo;
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        c->dims[d] = st->dims[d] + lo;
    c->sid = st->sid + lo;
    c->dict = vex_strpool_strings(st->dict);
    c->dict_size = vex_strpool_count(st->dict);
    c->sid_dict = vex_strpool_strings(st->sids);
    c->sid_dict_size = vex_strpool_count(st->sids);
    c->now_ms = st->now_ms;
    c->timeout_ms = TIMEOUT_MS;
}

/* Both scans hand out the days that overlap [from, to) (every session of a
 * day starts that day and the query's period is the week). */
static int scan_columns(void *self, const char *customer, int64_t from_ms, int64_t to_ms,
                        vex_columns_visit_fn fn, void *ctx)
{
    const struct store *st = self;
    (void)customer;
    if (st->one_run) {
        struct vex_columns c;
        run_columns(st, 0, st->n, &c);
        return fn(ctx, &c);
    }
    for (int d = 0; d < st->nruns; d++) {
        int64_t day = WEEK_START_S * 1000 + d * DAY_MS;
        if (day >= to_ms || day + 2 * DAY_MS <= from_ms)
            continue;
        struct vex_columns c;
        run_columns(st, st->run_lo[d], st->run_lo[d + 1], &c);
        int rc = fn(ctx, &c);
        if (rc)
            return rc;
    }
    return 0;
}

/* make_records fills st->recs from the columns, closed and ebvs resolved. */
static void make_records(struct store *st)
{
    const char *const *dict = vex_strpool_strings(st->dict);
    const char *const *sids = vex_strpool_strings(st->sids);
    st->recs = xcalloc(st->n, sizeof *st->recs);
    for (size_t i = 0; i < st->n; i++) {
        struct vex_record *r = &st->recs[i];
        unsigned f = st->flags[i];
        r->sid = sids[st->sid[i]];
        for (int k = 0; k < VEX_DIM_COUNT; k++)
            r->dims[k] = dict[st->dims[k][i]];
        r->attempt_ts = st->attempt_ts[i];
        r->last_ts = st->last_ts[i];
        r->startup_ms = st->startup_ms[i];
        r->play_ms = st->play_ms[i];
        r->cirr_ms = st->cirr_ms[i];
        r->vrt_ms = st->vrt_ms[i];
        r->kbps_ms = st->kbps_ms[i];
        r->kbps_known_ms = st->kbps_known_ms[i];
        r->rebuffers = st->rebuffers[i];
        r->seeks = st->seeks[i];
        r->warnings = st->warnings[i];
        r->state = (uint8_t)(f & VEX_COL_STATE_MASK);
        r->played = (f & VEX_COL_PLAYED) != 0;
        r->vsf = (f & VEX_COL_VSF) != 0;
        r->vpf = (f & VEX_COL_VPF) != 0;
        r->errors = (f & VEX_COL_ERRORS) != 0;
        r->live = (f & VEX_COL_LIVE) != 0;
        vex_record_resolve(r, st->now_ms, TIMEOUT_MS);
    }
}

static int scan_records(void *self, const char *customer, int64_t from_ms, int64_t to_ms,
                        vex_record_visit_fn fn, void *ctx)
{
    const struct store *st = self;
    (void)customer;
    for (int d = 0; d < st->nruns; d++) {
        int64_t day = WEEK_START_S * 1000 + d * DAY_MS;
        if (day >= to_ms || day + 2 * DAY_MS <= from_ms)
            continue;
        for (size_t b = st->run_lo[d]; b < st->run_lo[d + 1]; b += RECORD_BATCH) {
            size_t n = st->run_lo[d + 1] - b < RECORD_BATCH ? st->run_lo[d + 1] - b
                                                            : RECORD_BATCH;
            int rc = fn(ctx, st->recs + b, n);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- timing ---- */

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Wall-clock median and p99, and the median CPU time of the process (both
 * threads): on a machine others are using, CPU time tells what a query
 * costs when wall time also tells how long it waited for a core. */
struct timing {
    double median, p99, cpu;
};

/* time_query runs q `runs` times over src and keeps the last answer. */
static struct timing time_query(const struct vex_query *q, const struct vex_source *src,
                                int runs, char **answer)
{
    double *t = xcalloc((size_t)runs, sizeof *t);
    double *cpu = xcalloc((size_t)runs, sizeof *cpu);
    for (int r = 0; r < runs; r++) {
        char *out = NULL;
        double t0 = now_ms(), c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
        int rc = vex_query_run(q, src, "bench", &out);
        t[r] = now_ms() - t0;
        cpu[r] = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (rc) {
            fprintf(stderr, "query failed: %s\n", vex_strerror(rc));
            exit(1);
        }
        free(*answer);
        *answer = out;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_dbl);
    qsort(cpu, (size_t)runs, sizeof *cpu, cmp_dbl);
    /* Nearest rank, like the engine's percentiles. */
    size_t med = ((size_t)runs + 1) / 2 - 1;
    struct timing res = {t[med], t[((size_t)runs * 99 + 99) / 100 - 1], cpu[med]};
    free(t);
    free(cpu);
    return res;
}

/* same_rows: both answers have the same rows, numbers within 1e-9. */
static int same_json(json_t *x, json_t *y)
{
    if (json_typeof(x) != json_typeof(y))
        return 0;
    if (json_is_real(x)) {
        double a = json_real_value(x), b = json_real_value(y);
        return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
    }
    if (json_is_object(x)) {
        const char *k;
        json_t *v;
        if (json_object_size(x) != json_object_size(y))
            return 0;
        json_object_foreach(x, k, v) {
            json_t *w = json_object_get(y, k);
            if (!w || !same_json(v, w))
                return 0;
        }
        return 1;
    }
    if (json_is_array(x)) {
        if (json_array_size(x) != json_array_size(y))
            return 0;
        for (size_t i = 0; i < json_array_size(x); i++) {
            if (!same_json(json_array_get(x, i), json_array_get(y, i)))
                return 0;
        }
        return 1;
    }
    return json_equal(x, y);
}

static int same_rows(const char *a, const char *b)
{
    json_t *x = json_loads(a, 0, NULL), *y = json_loads(b, 0, NULL);
    int same = x && y && same_json(x, y);
    json_decref(x);
    json_decref(y);
    return same;
}

int main(int argc, char **argv)
{
    size_t n = 2000000;
    int runs = 50, record_runs = -1, threads = 2, only = -1, one_run = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--record-runs") == 0 && i + 1 < argc) {
            record_runs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--one-run") == 0) {
            one_run = 1;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            g_rng = strtoull(argv[++i], NULL, 0);
        } else if (argv[i][0] >= '1' && argv[i][0] <= '9') {
            n = strtoull(argv[i], NULL, 10);
        } else {
            fputs(USAGE, stderr);
            return 2;
        }
    }
    if (runs < 1 || (threads != 1 && threads != 2)) {
        fputs(USAGE, stderr);
        return 2;
    }
    if (record_runs < 0)
        record_runs = runs;
    if (threads == 1)
        vex_colscan_mt_rows = SIZE_MAX;

    static struct store st;
    double t0 = now_ms();
    build(&st, n);
    st.one_run = one_run;
    if (record_runs > 0)
        make_records(&st);
    fprintf(stderr, "built %zu sessions (%zu dictionary strings) in %.0f ms\n", n,
            vex_strpool_count(st.dict), now_ms() - t0);

#define PERIOD "period=start=1709510400,end=1710115200"
#define SIX "attempts,viewercount,ebvs,errors,bufferingratio,latency"
    static const struct {
        const char *name, *qs;
    } queries[] = {
        {"totals, 6 metrics", "planlevel=1&" PERIOD "&metrics=" SIX},
        {"totals, plays", "planlevel=1&" PERIOD "&metrics=viewercount"},
        {"aggby=cdn, 6 metrics", "planlevel=1&" PERIOD "&metrics=" SIX "&aggby=cdn"},
        {"aggby=cdn,platform", "planlevel=1&" PERIOD "&metrics=" SIX "&aggby=cdn,platform"},
        {"aggby=timestamp, hour", "planlevel=1&" PERIOD "&metrics=" SIX
                                  "&aggby=timestamp&granularity=hour"},
        {"Q by cdn", "planlevel=1&" PERIOD "&metrics=qualityofexperience&aggby=cdn"},
        {"ended plays, concurrent", "planlevel=1&" PERIOD "&metrics=endedplays,concurviewavg"},
    };
    struct vex_source cols = {.self = &st, .scan_columns = scan_columns, .scan = scan_records};
    struct vex_source recs = {.self = &st, .scan = scan_records};
    printf("vex-bench-query: %zu sessions, one customer, one week (%s); "
           "%d columnar runs, %d record runs per query; columnar path on %d thread%s\n",
           n, one_run ? "one column run" : "7 column runs, one a day", runs, record_runs, threads,
           threads == 1 ? "" : "s");
    printf("%-26s %11s %11s %11s %11s %11s %11s %8s %s\n", "query", "cols med ms",
           "cols p99 ms", "cols cpu ms", "recs med ms", "recs p99 ms", "recs cpu ms", "speed-up",
           "same");
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        struct vex_query *q = NULL;
        struct vex_query_error err;
        if (only >= 0 && (size_t)only != i)
            continue;
        if (vex_query_parse(VEX_EP_SESSION, queries[i].qs, &q, &err)) {
            fprintf(stderr, "%s: %s\n", queries[i].qs, err.message);
            return 1;
        }
        char *a = NULL, *b = NULL;
        struct timing tc = time_query(q, &cols, runs, &a);
        struct timing tr = {0, 0, 0};
        if (record_runs > 0)
            tr = time_query(q, &recs, record_runs, &b);
        printf("%-26s %11.2f %11.2f %11.2f %11.2f %11.2f %11.2f %7.1fx %s\n", queries[i].name,
               tc.median, tc.p99, tc.cpu, tr.median, tr.p99, tr.cpu,
               tc.median > 0 ? tr.median / tc.median : 0.0,
               record_runs > 0 ? (same_rows(a, b) ? "yes" : "NO") : "-");
        fflush(stdout);
        free(a);
        free(b);
        vex_query_destroy(q);
    }
    return 0;
}
