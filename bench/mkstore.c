/* mkstore.c - `vex-bench-mkstore`: a ready data dir of N realistic closed sessions of one
 * customer, for the query and disk benchmarks (issue 4), made without events.
 *
 * Ten million sessions of `vex gen` output are about a billion events (70 GB of NDJSON);
 * running them through the HTTP collector or `vex load` would measure ingest, not
 * queries, and take longer than the benchmark itself. So each session's record is drawn
 * here directly from the same catalogue (src/gen/world.h) and roughly the same model as
 * the generator: start times stratified over a diurnal week, subscribers from a pool
 * with heavy viewers, 75% on their usual platform, CDNs and assets by Zipf share,
 * startup log-normal scaled by CDN and platform, ~0.7% start failures and ~2% EBVS
 * scaled by the CDN, Poisson counts of rebuffers (rate by CDN and platform), seeks,
 * pauses, warnings and bitrate moves over a log-normal watch time, 0.4% playback
 * failures and 1.5% sessions that just stop. The result is a sessionizer state as a
 * checkpoint holds it (struct vex_session_state: the machine over events 0..k-1 with
 * k = the number of events the session would have had, nothing pending), imported with
 * vex_engine_import() and written as segments by the engine's own checkpoint, so the
 * store is byte for byte what `vex serve` writes and reads.
 *
 * `--tsv FILE` writes the same sessions as TabSeparated rows for ClickHouse; the
 * column order is TSV_COLUMNS below, the table schema is in bench/run.
 *
 * Output depends only on the options: session i draws from its own stream seeded by
 * (seed, i). A summary is printed as one JSON object on stdout. It prints figures and
 * never passes or fails on time. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/embedded.h"
#include "core/err.h"
#include "gen/dist.h"
#include "gen/rng.h"
#include "gen/world.h"
#include "ingest/event.h"
#include "session/table.h"
#include "store/wal.h"

#define USAGE                                                                                 \
    "usage: vex-bench-mkstore --data DIR --customer ID --sessions N [--days D (default 7)]\n"  \
    "                         [--seed S (default 1)] [--end EPOCH (default: this hour)]\n"      \
    "                         [--tsv FILE] [--no-store]\n"                                      \
    "Writes N sessions of customer ID starting in the D days before END into the vex data\n" \
    "dir DIR (its store/ part; run `vex customer add` for the accounts), and with --tsv\n"  \
    "the same sessions as TabSeparated rows (columns: " TSV_COLUMNS ").\n"                    \
    "Prints one JSON summary object.\n"

/* The TSV columns, in order (bench/run creates the ClickHouse table to match). */
#define TSV_COLUMNS                                                                        \
    "customer sid attempt_ts last_ts cdn platform player os browser device country asset " \
    "title isp subscriberid subscribertag ip live state played vsf vpf errors startup_ms " \
    "play_ms cirr_ms vrt_ms kbps_ms kbps_known_ms rebuffers seeks warnings"

#define CHUNK 8192
#define ROW_MAX 2048 /* bytes of one TSV row, at most */
#define MINUTE_MS 60000.0
#define HEARTBEAT_MS 10000
#define TIMEOUT_MS 120000

/* Shares of outcomes, as in src/gen/gen.c's header comment. */
#define P_START_FAIL 0.007
#define P_EBVS 0.02
#define P_EBVS_SILENT 0.25
#define P_PLAY_FAIL 0.004
#define P_NO_END 0.015
#define P_LIVE 0.20
#define P_HOME_PLATFORM 0.75

/* Salts that keep the streams of this tool apart from each other. */
#define SALT_SESS 0x6d6b73746f726531ULL
#define SALT_SUB 0x6d6b73746f726532ULL
#define SALT_RANK 0x6d6b73746f726533ULL

struct opts {
    const char *data;
    const char *customer;
    const char *tsv;
    uint64_t sessions;
    uint32_t days;
    uint64_t seed;
    int64_t end;
    int no_store;
};

/* What every session draws from: cumulative shares and normalised factors. */
struct model {
    struct opts o;
    uint64_t pool;
    struct vex_traffic traffic; /* start-time distribution */
    double cdn_cum[VEX_WORLD_NCDN];
    double cdn_startup[VEX_WORLD_NCDN], cdn_fail[VEX_WORLD_NCDN];
    double platform_cum[VEX_WORLD_NPLATFORM];
    double platform_startup[VEX_WORLD_NPLATFORM];
    double country_cum[VEX_WORLD_NCOUNTRY];
    double isp_cum[VEX_WORLD_NISPKIND];
    double tag_cum[VEX_WORLD_NTAG];
    uint32_t nvod, nlive;
    uint32_t vod[VEX_WORLD_NASSET], live[VEX_WORLD_NASSET]; /* assets by popularity rank */
    double vod_cum[VEX_WORLD_NASSET], live_cum[VEX_WORLD_NASSET];
    char asset_id[VEX_WORLD_NASSET][16];
    char title[VEX_WORLD_NASSET][VEX_WORLD_TITLE_MAX + 1];
    char isp[VEX_WORLD_NCOUNTRY][VEX_WORLD_NISPKIND][48];
};

/* Strings of one session that are not in the catalogue. */
struct sess_str {
    char sid[128];
    char subscriber[24];
    char ip[16];
};

struct totals {
    uint64_t events, played, vsf, vpf, ebvs, open;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the model -------------------------------------------------------------------- */

static int model_init(struct model *m, const struct opts *o)
{
    memset(m, 0, sizeof *m);
    m->o = *o;
    m->pool = o->sessions / 4 > 50 ? o->sessions / 4 : 50;
    if (vex_traffic_init(&m->traffic, o->days, o->end))
        return VEX_ENOMEM;

    double w[VEX_WORLD_NCOUNTRY];
    vex_dist_make_zipf(m->cdn_cum, VEX_WORLD_NCDN, 1.0);
    for (uint32_t i = 0; i < VEX_WORLD_NCDN; i++) {
        m->cdn_startup[i] = vex_world_cdns[i].startup;
        m->cdn_fail[i] = vex_world_cdns[i].fail;
    }
    vex_dist_normalise(m->cdn_startup, m->cdn_cum, VEX_WORLD_NCDN);
    vex_dist_normalise(m->cdn_fail, m->cdn_cum, VEX_WORLD_NCDN);
    for (uint32_t i = 0; i < VEX_WORLD_NPLATFORM; i++) {
        w[i] = vex_world_platforms[i].share;
        m->platform_startup[i] = vex_world_platforms[i].startup;
    }
    vex_dist_make_cum(m->platform_cum, w, VEX_WORLD_NPLATFORM);
    vex_dist_normalise(m->platform_startup, m->platform_cum, VEX_WORLD_NPLATFORM);
    for (uint32_t i = 0; i < VEX_WORLD_NCOUNTRY; i++)
        w[i] = vex_world_countries[i].share;
    vex_dist_make_cum(m->country_cum, w, VEX_WORLD_NCOUNTRY);
    for (uint32_t i = 0; i < VEX_WORLD_NISPKIND; i++)
        w[i] = vex_world_isp_shares[i];
    vex_dist_make_cum(m->isp_cum, w, VEX_WORLD_NISPKIND);
    for (uint32_t i = 0; i < VEX_WORLD_NTAG; i++)
        w[i] = vex_world_tag_shares[i];
    vex_dist_make_cum(m->tag_cum, w, VEX_WORLD_NTAG);
    for (uint32_t c = 0; c < VEX_WORLD_NCOUNTRY; c++)
        for (uint32_t k = 0; k < VEX_WORLD_NISPKIND; k++)
            snprintf(m->isp[c][k], sizeof m->isp[c][k], "%s-%s", vex_world_countries[c].code,
                     vex_world_isp_kinds[k]);

    for (uint32_t a = 0; a < VEX_WORLD_NASSET; a++) {
        vex_world_asset_id(a, m->asset_id[a]);
        vex_world_title(a, m->title[a]);
        if (vex_world_asset_live(a))
            m->live[m->nlive++] = a;
        else
            m->vod[m->nvod++] = a;
    }
    /* Popularity must not follow the asset number: shuffle the ranks with a fixed
     * stream, so that every run (and every seed) has the same hits. */
    struct vex_rng r;
    vex_rng_seed(&r, SALT_RANK);
    for (uint32_t i = m->nvod - 1; i > 0; i--) {
        uint32_t j = vex_rng_below(&r, i + 1), t = m->vod[i];
        m->vod[i] = m->vod[j];
        m->vod[j] = t;
    }
    for (uint32_t i = m->nlive - 1; i > 0; i--) {
        uint32_t j = vex_rng_below(&r, i + 1), t = m->live[i];
        m->live[i] = m->live[j];
        m->live[j] = t;
    }
    vex_dist_make_zipf(m->vod_cum, m->nvod, 1.0);
    vex_dist_make_zipf(m->live_cum, m->nlive, 0.8);
    return 0;
}

static void model_deinit(struct model *m)
{
    vex_traffic_deinit(&m->traffic);
}

static int64_t clamp(double v, double lo, double hi)
{
    return (int64_t)(v < lo ? lo : v > hi ? hi : v);
}

/* poisson draws a count of mean `mean` (small means: Knuth's product of uniforms;
 * large ones, which the model never has for incidents, a rounded normal). */
static uint32_t poisson(struct vex_rng *r, double mean)
{
    if (mean <= 0)
        return 0;
    if (mean > 60) {
        double v = mean + sqrt(mean) * vex_rng_normal(r);
        return v < 0 ? 0 : (uint32_t)(v + 0.5);
    }
    double limit = exp(-mean), p = 1.0;
    uint32_t k = 0;
    for (;;) {
        p *= vex_rng_unit(r);
        if (p <= limit)
            return k;
        k++;
    }
}

/* make_session fills the state of session i (strings into *ss or the catalogue). */
static void make_session(const struct model *m, uint64_t i, int64_t now_ms,
                         struct vex_session_state *st, struct sess_str *ss, struct totals *tot)
{
    struct vex_rng r;
    vex_rng_seed(&r, vex_rng_mix(vex_rng_mix(SALT_SESS, m->o.seed), i));
    memset(st, 0, sizeof *st);
    snprintf(ss->sid, sizeof ss->sid, "%s-m%" PRIu64 "-%" PRIu64, m->o.customer, m->o.seed, i);
    int64_t t0 = vex_traffic_start_ms(&m->traffic, i, m->o.sessions, vex_rng_unit(&r));

    /* The viewer: a subscriber is the same person whatever the seed. */
    double us = vex_rng_unit(&r);
    uint64_t sub = (uint64_t)((double)m->pool * us * us);
    uint64_t subh = vex_rng_mix(SALT_SUB, sub);
    struct vex_rng sr;
    vex_rng_seed(&sr, subh);
    uint32_t country = vex_dist_pick(m->country_cum, VEX_WORLD_NCOUNTRY, vex_rng_unit(&sr));
    uint32_t isp = vex_dist_pick(m->isp_cum, VEX_WORLD_NISPKIND, vex_rng_unit(&sr));
    uint32_t tag = vex_dist_pick(m->tag_cum, VEX_WORLD_NTAG, vex_rng_unit(&sr));
    uint32_t home = vex_dist_pick(m->platform_cum, VEX_WORLD_NPLATFORM, vex_rng_unit(&sr));
    int bandwidth = 2 + (int)vex_rng_below(&sr, 5);
    snprintf(ss->ip, sizeof ss->ip, "%u.%u.%u.%u", vex_world_countries[country].ip_octet,
             vex_rng_below(&sr, 256), vex_rng_below(&sr, 256), 1 + vex_rng_below(&sr, 254));
    snprintf(ss->subscriber, sizeof ss->subscriber, "sub-%07" PRIu64, sub);

    uint32_t platform = vex_rng_chance(&r, P_HOME_PLATFORM)
                            ? home
                            : vex_dist_pick(m->platform_cum, VEX_WORLD_NPLATFORM, vex_rng_unit(&r));
    struct vex_world_client client;
    vex_world_client((int)platform, vex_rng_mix(subh, platform), &client);
    uint32_t cdn = vex_dist_pick(m->cdn_cum, VEX_WORLD_NCDN, vex_rng_unit(&r));
    int live = vex_rng_chance(&r, P_LIVE);
    uint32_t asset = live ? m->live[vex_dist_pick(m->live_cum, m->nlive, vex_rng_unit(&r))]
                          : m->vod[vex_dist_pick(m->vod_cum, m->nvod, vex_rng_unit(&r))];

    st->sid = ss->sid;
    st->dims[VEX_DIM_CDN] = vex_world_cdns[cdn].name;
    st->dims[VEX_DIM_PLATFORM] = vex_world_platforms[platform].name;
    st->dims[VEX_DIM_PLAYER] = client.player;
    st->dims[VEX_DIM_OS] = client.os;
    st->dims[VEX_DIM_BROWSER] = client.browser ? client.browser : "";
    st->dims[VEX_DIM_DEVICE] = client.device;
    st->dims[VEX_DIM_COUNTRY] = vex_world_countries[country].code;
    st->dims[VEX_DIM_ASSET] = m->asset_id[asset];
    st->dims[VEX_DIM_TITLE] = m->title[asset];
    st->dims[VEX_DIM_ISP] = m->isp[country][isp];
    st->dims[VEX_DIM_SUBSCRIBERID] = ss->subscriber;
    st->dims[VEX_DIM_SUBSCRIBERTAG] = vex_world_tags[tag];
    st->dims[VEX_DIM_IP] = ss->ip;
    /* Every dimension came with event 0, as `vex gen` sends them. */
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        st->dim_seq[d] = st->dims[d][0] ? 0 : -1;
    st->ip_fallback = "";
    st->min_seq = 0;
    st->live = live;
    st->live_seq = 0;

    struct vex_machine *mc = &st->prefix;
    vex_machine_init(mc);
    mc->started = 1;
    mc->attempt_ts = t0;
    int64_t events = 1; /* start */

    double startup =
        vex_rng_lognormal(&r, 1200.0 * m->cdn_startup[cdn] * m->platform_startup[platform], 0.5);
    int64_t startup_ms = clamp(startup, 150, 30000);
    double u = vex_rng_unit(&r);
    double p_fail = P_START_FAIL * m->cdn_fail[cdn];
    double p_ebvs = P_EBVS * m->cdn_startup[cdn];
    int64_t t = t0;
    if (u < p_fail) {
        /* Start failure: a fatal error while loading. */
        events += vex_rng_chance(&r, 0.6) + 1;
        t = t0 + clamp(vex_rng_lognormal(&r, 3000, 0.7), 300, 30000);
        mc->state = VEX_STATE_ENDED;
        mc->vsf = 1;
        mc->errors = 1;
        tot->vsf++;
    } else if (u < p_fail + p_ebvs) {
        /* Exit before video start; a quarter just stop sending (closed by timeout). */
        int64_t quit = clamp(vex_rng_lognormal(&r, 2500, 0.8), 200, 60000);
        int64_t buf_at = 100 + vex_rng_below(&r, 200);
        int buffered = quit > 400 && vex_rng_chance(&r, 0.5);
        if (vex_rng_chance(&r, P_EBVS_SILENT)) {
            t = t0 + (buffered ? buf_at : 0);
            mc->state = VEX_STATE_STARTING;
        } else {
            t = t0 + quit;
            mc->state = VEX_STATE_ENDED;
            events++;
        }
        events += buffered;
        tot->ebvs++;
    } else {
        events += (startup_ms > 400 && vex_rng_chance(&r, 0.5)) + 1; /* buffering, playing */
        mc->played = 1;
        mc->startup_ms = startup_ms;
        tot->played++;
        const struct vex_world_cdn *c = &vex_world_cdns[cdn];
        const struct vex_world_platform *pf = &vex_world_platforms[platform];
        double watch = live ? clamp(vex_rng_lognormal(&r, 20 * MINUTE_MS, 0.9), MINUTE_MS,
                                    240 * MINUTE_MS)
                            : clamp(vex_rng_lognormal(&r, 8 * MINUTE_MS, 0.8), 20000,
                                    70 * MINUTE_MS);
        int vpf = vex_rng_chance(&r, P_PLAY_FAIL * m->cdn_fail[cdn]);
        if (vpf)
            watch *= 0.05 + 0.9 * vex_rng_unit(&r);
        int64_t play = (int64_t)watch;
        /* Incidents over the playback time, Poisson with the generator's rates. */
        uint32_t nrebuf = poisson(&r, 0.08 * c->rebuf * pf->rebuf * watch / MINUTE_MS);
        uint32_t nseek = poisson(&r, (live ? 0.01 : 0.10) * watch / MINUTE_MS);
        uint32_t npause = poisson(&r, (live ? 0.015 : 0.04) * watch / MINUTE_MS);
        uint32_t nabr = poisson(&r, 0.12 * watch / MINUTE_MS);
        uint32_t nwarn = poisson(&r, 0.015 * watch / MINUTE_MS);
        int64_t cirr = 0, vrt = 0, paused = 0;
        for (uint32_t k = 0; k < nrebuf; k++)
            cirr += clamp(vex_rng_lognormal(&r, 1500 * (0.5 + 0.5 * c->rebuf), 0.8), 150, 45000);
        for (uint32_t k = 0; k < nseek; k++)
            vrt += 20 + vex_rng_below(&r, 100)
                   + clamp(vex_rng_lognormal(&r, 600 * m->cdn_startup[cdn], 0.6), 80, 20000);
        for (uint32_t k = 0; k < npause; k++)
            paused += clamp(vex_rng_lognormal(&r, 25000, 1.1), 500, 1200000);
        /* Bitrate: start at rung 2 (or the top if lower), ramp up every ~6 s, step down
         * after most rebuffers for ~20 s; every known-bitrate ms of PLAYING counts. */
        int top = client.max_level < bandwidth ? client.max_level : bandwidth;
        int first = top < 2 ? top : 2;
        int64_t ramp = (int64_t)(top - first) * 6000;
        ramp = ramp < play ? ramp : play;
        uint32_t downs = top > 0 ? (uint32_t)floor(nrebuf * 0.6 + vex_rng_unit(&r)) : 0;
        int64_t down = (int64_t)downs * 20000;
        down = down < play - ramp ? down : play - ramp;
        double mid = (vex_world_ladder[first] + vex_world_ladder[top]) / 2.0;
        double below = top > 0 ? vex_world_ladder[top - 1] : vex_world_ladder[top];
        mc->kbps_ms = mid * (double)ramp + below * (double)down
                      + (double)vex_world_ladder[top] * (double)(play - ramp - down);
        mc->kbps_known_ms = play;
        mc->kbps = vex_world_ladder[top];
        mc->has_kbps = 1;
        mc->play_ms = play;
        mc->cirr_ms = cirr;
        mc->vrt_ms = vrt;
        mc->rebuffers = nrebuf;
        mc->seeks = nseek;
        mc->warnings = nwarn;
        t = t0 + startup_ms + play + cirr + vrt + paused;
        events += play / HEARTBEAT_MS + 2 * nrebuf + 3 * nseek + 2 * npause + nwarn + nabr
                  + (top - first) + 2 * downs;
        if (vpf) {
            if (vex_rng_chance(&r, 0.5)) { /* the stall that the failure ends */
                int64_t stall = 2000 + vex_rng_below(&r, 8000);
                mc->rebuffers++;
                mc->cirr_ms += stall;
                t += stall;
                events++;
            }
            mc->state = VEX_STATE_ENDED;
            mc->vpf = 1;
            mc->errors = 1;
            events++;
            tot->vpf++;
        } else if (vex_rng_chance(&r, P_NO_END)) {
            mc->state = VEX_STATE_PLAYING; /* stopped sending: closed by timeout */
        } else {
            mc->state = VEX_STATE_ENDED;
            events++;
        }
    }
    mc->last_ts = t;
    st->prefix_next = events;
    st->attempt_ts = t0;
    st->last_change_ms = t + 500 < now_ms ? t + 500 : now_ms;
    if (mc->state != VEX_STATE_ENDED && now_ms - t <= TIMEOUT_MS)
        tot->open++;
    tot->events += (uint64_t)events;
}

/* ---- TSV -------------------------------------------------------------------------- */

/* put_str appends s with TabSeparated escaping (backslash, tab, newline). */
static char *put_str(char *p, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '\t' || *s == '\n') {
            *p++ = '\\';
            *p++ = *s == '\t' ? 't' : *s == '\n' ? 'n' : '\\';
        } else {
            *p++ = *s;
        }
    }
    *p++ = '\t';
    return p;
}

static char *put_i64(char *p, int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t x = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    if (v < 0)
        *p++ = '-';
    while (n)
        *p++ = tmp[--n];
    *p++ = '\t';
    return p;
}

/* tsv_row writes one session and returns the bytes written: less than ROW_MAX, since
 * every string comes from the catalogue (short, nothing to escape) or from the
 * fixed-size buffers of struct sess_str, and the customer id is at most 64 bytes. */
static size_t tsv_row(char *buf, const char *customer, const struct vex_session_state *st)
{
    const struct vex_machine *mc = &st->prefix;
    char *p = buf;
    p = put_str(p, customer);
    p = put_str(p, st->sid);
    p = put_i64(p, mc->attempt_ts);
    p = put_i64(p, mc->last_ts);
    for (int d = 0; d < VEX_DIM_COUNT; d++)
        p = put_str(p, st->dims[d]);
    p = put_i64(p, st->live > 0);
    p = put_i64(p, mc->state);
    p = put_i64(p, mc->played);
    p = put_i64(p, mc->vsf);
    p = put_i64(p, mc->vpf);
    p = put_i64(p, mc->errors);
    p = put_i64(p, mc->startup_ms);
    p = put_i64(p, mc->play_ms);
    p = put_i64(p, mc->cirr_ms);
    p = put_i64(p, mc->vrt_ms);
    /* kbps_ms is a whole number here (ladder kbps times whole ms, halves at most
     * from the ramp's midpoint); %.17g keeps it exact either way. */
    p += sprintf(p, "%.17g\t", mc->kbps_ms);
    p = put_i64(p, mc->kbps_known_ms);
    p = put_i64(p, mc->rebuffers);
    p = put_i64(p, mc->seeks);
    p = put_i64(p, mc->warnings);
    p[-1] = '\n';
    return (size_t)(p - buf);
}

/* ---- main ------------------------------------------------------------------------- */

static int usage_fail(const char *msg, const char *arg)
{
    fprintf(stderr, "vex-bench-mkstore: %s%s%s\n%s", msg, arg ? " " : "", arg ? arg : "", USAGE);
    return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || *s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int valid_customer(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->days = 7;
    o->seed = 1;
    o->end = (int64_t)time(NULL) / 3600 * 3600;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(USAGE, stdout);
            exit(0);
        }
        if (!strcmp(a, "--no-store")) {
            o->no_store = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        uint64_t x = 0;
        if (!v)
            return usage_fail("missing value after", a);
        if (!strcmp(a, "--data")) {
            o->data = v;
        } else if (!strcmp(a, "--customer")) {
            if (!valid_customer(v))
                return usage_fail("--customer wants 1..64 of [A-Za-z0-9_-], not", v);
            o->customer = v;
        } else if (!strcmp(a, "--tsv")) {
            o->tsv = v;
        } else if (!strcmp(a, "--sessions")) {
            if (parse_u64(v, &x) || x < 1 || x > 4000000000ULL)
                return usage_fail("--sessions wants 1..4000000000, not", v);
            o->sessions = x;
        } else if (!strcmp(a, "--days")) {
            if (parse_u64(v, &x) || x < 1 || x > 3660)
                return usage_fail("--days wants 1..3660, not", v);
            o->days = (uint32_t)x;
        } else if (!strcmp(a, "--seed")) {
            if (parse_u64(v, &x))
                return usage_fail("--seed wants a non-negative integer, not", v);
            o->seed = x;
        } else if (!strcmp(a, "--end")) {
            if (parse_u64(v, &x) || x > 16725225600ULL)
                return usage_fail("--end wants epoch seconds before 2500, not", v);
            o->end = (int64_t)x;
        } else {
            return usage_fail("unknown argument", a);
        }
    }
    if (!o->customer || !o->sessions)
        return usage_fail("--customer and --sessions are required", NULL);
    if (!o->data && !o->no_store)
        return usage_fail("--data is required (or --no-store with --tsv)", NULL);
    if (o->no_store && !o->tsv)
        return usage_fail("--no-store makes sense only with --tsv", NULL);
    if (o->end < (int64_t)o->days * 86400)
        return usage_fail("--end must come after the start of the window", NULL);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    int status = 1;
    struct model *m = malloc(sizeof *m);
    struct vex_session_state *states = calloc(CHUNK, sizeof *states);
    struct sess_str *strs = calloc(CHUNK, sizeof *strs);
    char *rowbuf = malloc((size_t)CHUNK * ROW_MAX);
    struct vex_engine *e = NULL;
    FILE *tsv = NULL;
    struct totals tot = {0};
    if (!m || !states || !strs || !rowbuf || model_init(m, &o)) {
        fprintf(stderr, "vex-bench-mkstore: out of memory\n");
        goto out;
    }
    if (o.tsv && !(tsv = fopen(o.tsv, "w"))) {
        fprintf(stderr, "vex-bench-mkstore: cannot write %s: %s\n", o.tsv, strerror(errno));
        goto out;
    }
    if (!o.no_store) {
        struct vex_engine_options eo = {
            .data_dir = o.data,
            .fsync_policy = VEX_WAL_SYNC_ALWAYS,
            .session_timeout_ms = TIMEOUT_MS,
        };
        if ((rc = vex_engine_open(&eo, &e))) {
            fprintf(stderr, "vex-bench-mkstore: cannot open the store in %s: %s\n", o.data,
                    vex_strerror(rc));
            goto out;
        }
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t now_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    double t0 = now_s(), t_tsv = 0, t_import = 0;
    uint64_t tsv_bytes = 0;
    for (uint64_t base = 0; base < o.sessions; base += CHUNK) {
        size_t n = o.sessions - base < CHUNK ? (size_t)(o.sessions - base) : CHUNK;
        for (size_t k = 0; k < n; k++)
            make_session(m, base + k, now_ms, &states[k], &strs[k], &tot);
        if (tsv) {
            double ts = now_s();
            size_t len = 0;
            for (size_t k = 0; k < n; k++)
                len += tsv_row(rowbuf + len, o.customer, &states[k]);
            if (fwrite(rowbuf, 1, len, tsv) != len) {
                fprintf(stderr, "vex-bench-mkstore: cannot write %s: %s\n", o.tsv,
                        strerror(errno));
                goto out;
            }
            tsv_bytes += len;
            t_tsv += now_s() - ts;
        }
        if (e) {
            double ti = now_s();
            if ((rc = vex_engine_import(e, o.customer, states, n))) {
                fprintf(stderr, "vex-bench-mkstore: import failed at session %" PRIu64 ": %s\n",
                        base, vex_strerror(rc));
                goto out;
            }
            t_import += now_s() - ti;
        }
    }
    double t_make = now_s() - t0 - t_tsv - t_import;
    if (tsv) {
        int bad = fclose(tsv);
        tsv = NULL;
        if (bad) {
            fprintf(stderr, "vex-bench-mkstore: cannot write %s\n", o.tsv);
            goto out;
        }
    }
    double tc = now_s(), t_ckpt = 0;
    if (e) {
        if ((rc = vex_engine_checkpoint(e))) {
            fprintf(stderr, "vex-bench-mkstore: checkpoint failed: %s\n", vex_strerror(rc));
            goto out;
        }
        vex_engine_close(e);
        e = NULL;
        t_ckpt = now_s() - tc;
    }
    printf("{\"customer\":\"%s\",\"sessions\":%" PRIu64 ",\"events\":%" PRIu64
           ",\"played\":%" PRIu64 ",\"ebvs\":%" PRIu64 ",\"vsf\":%" PRIu64 ",\"vpf\":%" PRIu64
           ",\"open\":%" PRIu64 ",\"start\":%" PRId64 ",\"end\":%" PRId64
           ",\"tsv_bytes\":%" PRIu64 ",\"make_s\":%.3f,\"import_s\":%.3f,\"tsv_s\":%.3f"
           ",\"checkpoint_s\":%.3f}\n",
           o.customer, o.sessions, tot.events, tot.played, tot.ebvs, tot.vsf, tot.vpf, tot.open,
           m->traffic.w0, o.end, tsv_bytes, t_make, t_import, t_tsv, t_ckpt);
    status = 0;
out:
    if (tsv)
        fclose(tsv);
    if (e)
        vex_engine_close(e);
    if (m)
        model_deinit(m);
    free(m);
    free(states);
    free(strs);
    free(rowbuf);
    return status;
}
