/* gen.c - the realistic workload generator (see gen.h for the contract).
 *
 * The model, per session i (all draws from a stream seeded by (seed, i)):
 *
 * - Start time: the window [end - days*86400, end) is cut into hour bins weighted by
 *   a diurnal curve (trough 08:30 UTC, peak 20:30 UTC, four to one) and a weekend
 *   bonus. Session i starts at the inverse of that distribution at (i + u) / sessions,
 *   u uniform: a stratified sample, so sessions come out in start-time order (kind to
 *   a time-partitioned store) and the hourly shape holds even for small runs.
 * - Viewer: drawn from a pool of max(50, sessions/4) subscribers, heavy viewers first
 *   (index = pool * u^2), so unique viewers are fewer than sessions. A subscriber's
 *   country, ISP, address, tier, bandwidth and usual platform are a hash of its number
 *   (not of the seed): the same viewer looks the same in every run. 75% of sessions use
 *   the viewer's usual platform; os/browser/device/player follow from the platform.
 * - CDN and asset: Zipf shares by rank (CDNs s = 1 over 40; VOD s = 1 over 4,800,
 *   live s = 0.8 over 200 channels); 20% of sessions are live.
 * - Start: startup time log-normal, median 1.2 s times the CDN and platform factors
 *   (normalised to a mean of 1). 0.7% start failures (a fatal error before playing),
 *   2% EBVS (a quarter of them just stop sending: closed by timeout), both scaled by
 *   the CDN's factors.
 * - Playback: watch time log-normal (VOD median 8 min up to 70 min; live median 20 min
 *   up to 4 h). Incidents arrive as a Poisson process in playback time: rebuffers
 *   (0.08/min times the CDN and platform factors), seeks with restart buffering, pauses,
 *   bitrate moves and non-fatal errors. The bitrate ramps up the ladder after start and
 *   after a rebuffer, up to what the device and the viewer's bandwidth allow. 0.4% of
 *   played sessions end in a playback failure. Heartbeats every 10 s of playing.
 * - End: an `end` event, except for 1.5% of played sessions that just stop (closed by
 *   the server's timeout). Long stalls and long pauses sometimes end a session early.
 *
 * Speed: each session is written into a private buffer, lines formatted by hand (no
 * printf), then copied out in whole lines; heartbeats, most of the volume, cost a few
 * dozen byte stores each. */
#include "gen/gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "gen/dist.h"
#include "gen/rng.h"
#include "gen/world.h"

/* At most this many events per session: the cap keeps the session buffer fixed. The
 * longest sessions (4 h live) need about 1,700. */
#define MAX_EVENTS 4096
/* Events other than the first (which carries the dimensions) fit in this many bytes:
 * prefix and sid (<= 120), seq, ts, type, kbps, fatal, code and msg (<= 120). */
#define LINE_SMALL 320
/* Room kept at the end of a session for its ending: a rebuffer, a restart, a bitrate
 * change and the end take four events. */
#define END_RESERVE 16

#define HEARTBEAT_MS 10000
#define MINUTE_MS 60000.0

/* Shares of the outcomes (see the header comment). */
#define P_START_FAIL 0.007
#define P_EBVS 0.02
#define P_EBVS_SILENT 0.25
#define P_PLAY_FAIL 0.004
#define P_NO_END 0.015
#define P_LIVE 0.20
#define P_HOME_PLATFORM 0.75

/* Salts: streams that must not depend on the seed. */
#define SALT_SUBSCRIBER 0x5375627363726962ULL
#define SALT_CATALOGUE 0x436174616c6f6775ULL
#define SALT_SESSION 0x53657373696f6e73ULL

struct asset_str {
    char id[16];
    char title[VEX_WORLD_TITLE_MAX + 1];
    uint8_t id_len;
    uint8_t title_len;
};

struct vex_gen {
    struct vex_gen_opts o;
    char customer[VEX_GEN_CUSTOMER_MAX + 1];
    uint64_t pool;
    struct vex_traffic traffic; /* start-time distribution */

    /* Cumulative shares, each ending at exactly 1. */
    double cdn_cum[VEX_WORLD_NCDN];
    double platform_cum[VEX_WORLD_NPLATFORM];
    double country_cum[VEX_WORLD_NCOUNTRY];
    double isp_cum[VEX_WORLD_NISPKIND];
    double tag_cum[VEX_WORLD_NTAG];
    /* Factors normalised so that their share-weighted mean is 1. */
    double cdn_startup[VEX_WORLD_NCDN];
    double cdn_fail[VEX_WORLD_NCDN];
    double platform_startup[VEX_WORLD_NPLATFORM];

    /* Assets by popularity rank: vod_rank[r] is the asset of rank r. */
    uint32_t nvod, nlive;
    uint32_t *vod_rank, *live_rank;
    double *vod_cum, *live_cum;
    struct asset_str *assets;

    /* The current session: its lines in sbuf, line_end[k] = end offset of line k. */
    char *sbuf;
    uint32_t *line_end;
    uint32_t nlines;
    uint32_t cur; /* next line to hand out */

    uint64_t next_session;
    uint64_t events_out;
};

/* ---- number formatting ------------------------------------------------------------ */

static const char digits2[201] = "00010203040506070809101112131415161718192021222324"
                                 "25262728293031323334353637383940414243444546474849"
                                 "50515253545556575859606162636465666768697071727374"
                                 "75767778798081828384858687888990919293949596979899";

/* put_u64 writes v in decimal, two digits per step from the right. */
static inline char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    char *e = tmp + sizeof tmp;
    char *q = e;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        *--q = digits2[d + 1];
        *--q = digits2[d];
    }
    if (v >= 10) {
        *--q = digits2[v * 2 + 1];
        *--q = digits2[v * 2];
    } else {
        *--q = (char)('0' + v);
    }
    size_t n = (size_t)(e - q);
    memcpy(p, q, n);
    return p + n;
}

/* put_u64_w writes v in decimal with leading zeros up to `width` digits. */
static char *put_u64_w(char *p, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width)
        tmp[n++] = '0';
    while (n)
        *p++ = tmp[--n];
    return p;
}

static inline char *put_mem(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static inline char *put_str(char *p, const char *s)
{
    return put_mem(p, s, strlen(s));
}

/* PUT_LIT appends a string literal without strlen. */
#define PUT_LIT(p, lit) put_mem((p), (lit), sizeof(lit) - 1)

/* ---- weighted choices ------------------------------------------------------------- */

static void make_cum_f(double *cum, const float *w, uint32_t n)
{
    double tmp[64];
    for (uint32_t i = 0; i < n; i++)
        tmp[i] = w[i];
    vex_dist_make_cum(cum, tmp, n);
}

/* ---- options ---------------------------------------------------------------------- */

void vex_gen_opts_default(struct vex_gen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->days = 7;
    o->seed = 1;
    o->end = (int64_t)time(NULL) / 3600 * 3600;
    o->customer = NULL;
}

const char *vex_gen_check(const struct vex_gen_opts *o)
{
    if (o->sessions < 1 || o->sessions > VEX_GEN_SESSIONS_MAX)
        return "--sessions must be an integer from 1 to 1000000000000";
    if (o->days < 1 || o->days > VEX_GEN_DAYS_MAX)
        return "--days must be an integer from 1 to 3660";
    if (o->end < (int64_t)o->days * 86400 || o->end > VEX_GEN_END_MAX)
        return "--end must be epoch seconds after the start of the window and before 2500";
    if (o->customer && o->customer[0]) {
        size_t n = strlen(o->customer);
        if (n > VEX_GEN_CUSTOMER_MAX)
            return "--customer must be at most 64 characters";
        for (size_t i = 0; i < n; i++) {
            char c = o->customer[i];
            int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                     || c == '_' || c == '-';
            if (!ok)
                return "--customer may only hold letters, digits, '_' and '-'";
        }
    }
    return NULL;
}

/* ---- set-up ----------------------------------------------------------------------- */

static int build_assets(struct vex_gen *g)
{
    g->assets = calloc(VEX_WORLD_NASSET, sizeof *g->assets);
    g->vod_rank = malloc(VEX_WORLD_NASSET * sizeof *g->vod_rank);
    g->live_rank = malloc(VEX_WORLD_NASSET * sizeof *g->live_rank);
    g->vod_cum = malloc(VEX_WORLD_NASSET * sizeof *g->vod_cum);
    g->live_cum = malloc(VEX_WORLD_NASSET * sizeof *g->live_cum);
    if (!g->assets || !g->vod_rank || !g->live_rank || !g->vod_cum || !g->live_cum)
        return VEX_ENOMEM;
    for (uint32_t a = 0; a < VEX_WORLD_NASSET; a++) {
        struct asset_str *s = &g->assets[a];
        s->id_len = (uint8_t)vex_world_asset_id(a, s->id);
        s->title_len = (uint8_t)vex_world_title(a, s->title);
        if (vex_world_asset_live(a))
            g->live_rank[g->nlive++] = a;
        else
            g->vod_rank[g->nvod++] = a;
    }
    /* Popularity must not follow the asset number: shuffle the ranks (Fisher-Yates)
     * with a fixed stream, the catalogue being the same in every run. */
    struct vex_rng r;
    vex_rng_seed(&r, SALT_CATALOGUE);
    for (uint32_t i = g->nvod - 1; i > 0; i--) {
        uint32_t j = vex_rng_below(&r, i + 1);
        uint32_t t = g->vod_rank[i];
        g->vod_rank[i] = g->vod_rank[j];
        g->vod_rank[j] = t;
    }
    for (uint32_t i = g->nlive - 1; i > 0; i--) {
        uint32_t j = vex_rng_below(&r, i + 1);
        uint32_t t = g->live_rank[i];
        g->live_rank[i] = g->live_rank[j];
        g->live_rank[j] = t;
    }
    vex_dist_make_zipf(g->vod_cum, g->nvod, 1.0);
    vex_dist_make_zipf(g->live_cum, g->nlive, 0.8);
    return 0;
}

int vex_gen_create(const struct vex_gen_opts *opts, struct vex_gen **out)
{
    *out = NULL;
    if (vex_gen_check(opts))
        return VEX_EINVAL;
    int rc = VEX_ENOMEM;
    struct vex_gen *g = calloc(1, sizeof *g);
    if (!g)
        return VEX_ENOMEM;
    g->o = *opts;
    if (opts->customer && opts->customer[0])
        strcpy(g->customer, opts->customer);
    g->o.customer = g->customer;
    g->pool = opts->sessions / 4 > 50 ? opts->sessions / 4 : 50;

    if ((rc = vex_traffic_init(&g->traffic, opts->days, opts->end)) < 0 ||
        (rc = build_assets(g)) < 0)
        goto fail;

    vex_dist_make_zipf(g->cdn_cum, VEX_WORLD_NCDN, 1.0);
    double w[VEX_WORLD_NCOUNTRY];
    for (int i = 0; i < VEX_WORLD_NPLATFORM; i++)
        w[i] = vex_world_platforms[i].share;
    vex_dist_make_cum(g->platform_cum, w, VEX_WORLD_NPLATFORM);
    for (int i = 0; i < VEX_WORLD_NCOUNTRY; i++)
        w[i] = vex_world_countries[i].share;
    vex_dist_make_cum(g->country_cum, w, VEX_WORLD_NCOUNTRY);
    make_cum_f(g->isp_cum, vex_world_isp_shares, VEX_WORLD_NISPKIND);
    make_cum_f(g->tag_cum, vex_world_tag_shares, VEX_WORLD_NTAG);
    for (int i = 0; i < VEX_WORLD_NCDN; i++) {
        g->cdn_startup[i] = vex_world_cdns[i].startup;
        g->cdn_fail[i] = vex_world_cdns[i].fail;
    }
    for (int i = 0; i < VEX_WORLD_NPLATFORM; i++)
        g->platform_startup[i] = vex_world_platforms[i].startup;
    vex_dist_normalise(g->cdn_startup, g->cdn_cum, VEX_WORLD_NCDN);
    vex_dist_normalise(g->cdn_fail, g->cdn_cum, VEX_WORLD_NCDN);
    vex_dist_normalise(g->platform_startup, g->platform_cum, VEX_WORLD_NPLATFORM);

    rc = VEX_ENOMEM;
    g->sbuf = malloc((size_t)MAX_EVENTS * LINE_SMALL + VEX_GEN_LINE_MAX);
    g->line_end = malloc(MAX_EVENTS * sizeof *g->line_end);
    if (!g->sbuf || !g->line_end)
        goto fail;
    *out = g;
    return 0;
fail:
    vex_gen_destroy(g);
    return rc;
}

void vex_gen_destroy(struct vex_gen *g)
{
    if (!g)
        return;
    vex_traffic_deinit(&g->traffic);
    free(g->assets);
    free(g->vod_rank);
    free(g->live_rank);
    free(g->vod_cum);
    free(g->live_cum);
    free(g->sbuf);
    free(g->line_end);
    free(g);
}

void vex_gen_counts(const struct vex_gen *g, uint64_t *sessions, uint64_t *events)
{
    if (sessions)
        *sessions = g->next_session;
    if (events)
        *events = g->events_out;
}

/* ---- one session ------------------------------------------------------------------ */

/* The writer of a session's lines. Each line starts with `pre` ({"sid":"...","seq":). */
struct writer {
    struct vex_gen *g;
    char *p;
    uint32_t n; /* lines written = seq of the next one */
    char pre[160];
    size_t pre_len;
};

/* ev_open writes the common head of an event: sid, seq, ts and type. */
static inline char *ev_open(struct writer *w, int64_t ts, const char *type, size_t type_len)
{
    char *p = put_mem(w->p, w->pre, w->pre_len);
    p = put_u64(p, w->n);
    p = PUT_LIT(p, ",\"ts\":");
    p = put_u64(p, (uint64_t)ts);
    p = PUT_LIT(p, ",\"type\":\"");
    p = put_mem(p, type, type_len);
    *p++ = '"';
    return p;
}

/* ev_close ends the line opened by ev_open at p. */
static inline void ev_close(struct writer *w, char *p)
{
    *p++ = '}';
    *p++ = '\n';
    w->p = p;
    w->g->line_end[w->n++] = (uint32_t)(p - w->g->sbuf);
}

#define EV(w, ts, lit) ev_close((w), ev_open((w), (ts), (lit), sizeof(lit) - 1))

static void ev_kbps(struct writer *w, int64_t ts, const char *type, size_t type_len,
                    uint32_t kbps)
{
    char *p = ev_open(w, ts, type, type_len);
    p = PUT_LIT(p, ",\"kbps\":");
    p = put_u64(p, kbps);
    ev_close(w, p);
}

static void ev_error(struct writer *w, int64_t ts, int fatal, const struct vex_world_error *e)
{
    char *p = ev_open(w, ts, "error", 5);
    if (fatal)
        p = PUT_LIT(p, ",\"fatal\":true,\"code\":\"");
    else
        p = PUT_LIT(p, ",\"fatal\":false,\"code\":\"");
    p = put_str(p, e->code);
    p = PUT_LIT(p, "\",\"msg\":\"");
    p = put_str(p, e->msg);
    *p++ = '"';
    ev_close(w, p);
}

static inline char *put_field(char *p, const char *name, size_t name_len, const char *v)
{
    *p++ = ',';
    *p++ = '"';
    p = put_mem(p, name, name_len);
    p = PUT_LIT(p, "\":\"");
    p = put_str(p, v);
    *p++ = '"';
    return p;
}

#define FIELD(p, lit, v) put_field((p), (lit), sizeof(lit) - 1, (v))

/* What a subscriber always is, whatever the session. */
struct subscriber {
    uint64_t index;
    uint64_t hash;
    uint32_t country;
    uint32_t isp;
    uint32_t tag;
    uint32_t platform;
    int bandwidth; /* highest ladder rung the connection sustains */
    uint8_t ip[4];
};

static void make_subscriber(const struct vex_gen *g, uint64_t index, struct subscriber *s)
{
    struct vex_rng r;
    s->index = index;
    s->hash = vex_rng_mix(SALT_SUBSCRIBER, index);
    vex_rng_seed(&r, s->hash);
    s->country = vex_dist_pick(g->country_cum, VEX_WORLD_NCOUNTRY, vex_rng_unit(&r));
    s->isp = vex_dist_pick(g->isp_cum, VEX_WORLD_NISPKIND, vex_rng_unit(&r));
    s->tag = vex_dist_pick(g->tag_cum, VEX_WORLD_NTAG, vex_rng_unit(&r));
    s->platform = vex_dist_pick(g->platform_cum, VEX_WORLD_NPLATFORM, vex_rng_unit(&r));
    static const double bw_cum[] = {0.05, 0.15, 0.35, 0.65, 1.0};
    s->bandwidth = 2 + (int)vex_dist_pick(bw_cum, 5, vex_rng_unit(&r));
    s->ip[0] = vex_world_countries[s->country].ip_octet;
    s->ip[1] = (uint8_t)vex_rng_below(&r, 256);
    s->ip[2] = (uint8_t)vex_rng_below(&r, 256);
    s->ip[3] = (uint8_t)(1 + vex_rng_below(&r, 254));
}

static int64_t clamp_ms(double v, double lo, double hi)
{
    return (int64_t)(v < lo ? lo : v > hi ? hi : v);
}

/* write_start writes event 0: the dimensions of the session, all on the first event. */
static void write_start(struct writer *w, int64_t ts, const struct subscriber *s, uint32_t cdn,
                        uint32_t platform, const struct vex_world_client *c, uint32_t asset,
                        int live)
{
    const struct asset_str *a = &w->g->assets[asset];
    char *p = ev_open(w, ts, "start", 5);
    p = live ? PUT_LIT(p, ",\"live\":true") : PUT_LIT(p, ",\"live\":false");
    p = FIELD(p, "cdn", vex_world_cdns[cdn].name);
    p = FIELD(p, "platform", vex_world_platforms[platform].name);
    p = FIELD(p, "player", c->player);
    p = FIELD(p, "os", c->os);
    if (c->browser)
        p = FIELD(p, "browser", c->browser);
    p = FIELD(p, "device", c->device);
    p = FIELD(p, "country", vex_world_countries[s->country].code);
    p = PUT_LIT(p, ",\"asset\":\"");
    p = put_mem(p, a->id, a->id_len);
    p = PUT_LIT(p, "\",\"title\":\"");
    p = put_mem(p, a->title, a->title_len);
    p = PUT_LIT(p, "\",\"isp\":\"");
    p = put_str(p, vex_world_countries[s->country].code);
    *p++ = '-';
    p = put_str(p, vex_world_isp_kinds[s->isp]);
    p = PUT_LIT(p, "\",\"subscriberid\":\"sub-");
    p = put_u64_w(p, s->index, 7);
    p = PUT_LIT(p, "\",\"subscribertag\":\"");
    p = put_str(p, vex_world_tags[s->tag]);
    p = PUT_LIT(p, "\",\"ip\":\"");
    for (int k = 0; k < 4; k++) {
        if (k)
            *p++ = '.';
        p = put_u64(p, s->ip[k]);
    }
    *p++ = '"';
    ev_close(w, p);
}

/* The playing part of a session. Heartbeat ticks keep one phase (every 10 s after
 * the first `playing`) and are only sent while the state is PLAYING. */
struct play {
    struct writer *w;
    struct vex_rng *r;
    int64_t t;       /* time of the last event */
    int64_t next_hb; /* next heartbeat tick */
    int level;       /* current ladder rung */
    int top;         /* highest rung for this device and viewer */
    int64_t ramp_at; /* next step up the ladder, or INT64_MAX */
};

/* play_until plays from p->t to `until`, sending the heartbeats that fall in between. */
static void play_until(struct play *p, int64_t until)
{
    while (p->next_hb <= until) {
        /* Past the cap the ticks are dropped; the caller then ends the session. */
        if (p->w->n < MAX_EVENTS - END_RESERVE)
            EV(p->w, p->next_hb, "heartbeat");
        p->next_hb += HEARTBEAT_MS;
    }
    p->t = until;
}

/* pause_until moves time on without playing: the ticks in between are skipped. */
static void pause_until(struct play *p, int64_t until)
{
    p->t = until;
    while (p->next_hb <= until)
        p->next_hb += HEARTBEAT_MS;
}

static void set_level(struct play *p, int level)
{
    if (level == p->level)
        return;
    p->level = level;
    ev_kbps(p->w, p->t, "bitrate", 7, vex_world_ladder[level]);
}

/* schedule_ramp plans the next step up the ladder, as an ABR algorithm does once its
 * buffer is healthy. */
static void schedule_ramp(struct play *p, double min_ms, double max_ms)
{
    if (p->level >= p->top)
        p->ramp_at = INT64_MAX;
    else
        p->ramp_at = p->t + (int64_t)(min_ms + (max_ms - min_ms) * vex_rng_unit(p->r));
}

/* make_session writes all events of session i into g->sbuf. */
static void make_session(struct vex_gen *g, uint64_t i)
{
    struct vex_rng r;
    vex_rng_seed(&r, vex_rng_mix(vex_rng_mix(SALT_SESSION, g->o.seed), i));

    struct writer w = {.g = g, .p = g->sbuf, .n = 0};
    char *q = PUT_LIT(w.pre, "{\"sid\":\"");
    if (g->customer[0]) {
        q = put_str(q, g->customer);
        *q++ = '-';
    }
    *q++ = 's';
    q = put_u64(q, g->o.seed);
    *q++ = '-';
    q = put_u64(q, i);
    q = PUT_LIT(q, "\",\"seq\":");
    w.pre_len = (size_t)(q - w.pre);

    int64_t t = vex_traffic_start_ms(&g->traffic, i, g->o.sessions, vex_rng_unit(&r));

    /* Who watches what, where and how. */
    struct subscriber sub;
    double us = vex_rng_unit(&r);
    make_subscriber(g, (uint64_t)((double)g->pool * us * us), &sub);
    uint32_t platform = vex_rng_chance(&r, P_HOME_PLATFORM)
                            ? sub.platform
                            : vex_dist_pick(g->platform_cum, VEX_WORLD_NPLATFORM, vex_rng_unit(&r));
    struct vex_world_client client;
    vex_world_client((int)platform, vex_rng_mix(sub.hash, platform), &client);
    uint32_t cdn = vex_dist_pick(g->cdn_cum, VEX_WORLD_NCDN, vex_rng_unit(&r));
    int live = vex_rng_chance(&r, P_LIVE);
    uint32_t asset = live ? g->live_rank[vex_dist_pick(g->live_cum, g->nlive, vex_rng_unit(&r))]
                          : g->vod_rank[vex_dist_pick(g->vod_cum, g->nvod, vex_rng_unit(&r))];
    const struct vex_world_cdn *c = &vex_world_cdns[cdn];
    const struct vex_world_platform *pf = &vex_world_platforms[platform];

    write_start(&w, t, &sub, cdn, platform, &client, asset, live);

    /* Startup. */
    double startup = vex_rng_lognormal(&r, 1200.0 * g->cdn_startup[cdn]
                                               * g->platform_startup[platform], 0.5);
    int64_t startup_ms = clamp_ms(startup, 150, 30000);
    double u = vex_rng_unit(&r);
    double p_fail = P_START_FAIL * g->cdn_fail[cdn];
    double p_ebvs = P_EBVS * g->cdn_startup[cdn];
    size_t nerr;
    if (u < p_fail) {
        /* Start failure: the player gives up after retries. */
        const struct vex_world_error *errs = vex_world_start_errors(&nerr);
        int64_t fail = t + clamp_ms(vex_rng_lognormal(&r, 3000, 0.7), 300, 30000);
        if (vex_rng_chance(&r, 0.6))
            EV(&w, t + 100 + vex_rng_below(&r, 200), "buffering");
        ev_error(&w, fail, 1, &errs[vex_rng_below(&r, (uint32_t)nerr)]);
        goto done;
    }
    if (u < p_fail + p_ebvs) {
        /* Exit before video start: the viewer leaves while it loads. */
        int64_t quit = t + clamp_ms(vex_rng_lognormal(&r, 2500, 0.8), 200, 60000);
        if (quit - t > 400 && vex_rng_chance(&r, 0.5))
            EV(&w, t + 100 + vex_rng_below(&r, 200), "buffering");
        if (!vex_rng_chance(&r, P_EBVS_SILENT))
            EV(&w, quit, "end");
        goto done;
    }
    if (startup_ms > 400 && vex_rng_chance(&r, 0.5))
        EV(&w, t + 50 + vex_rng_below(&r, 200), "buffering");
    t += startup_ms;

    struct play p = {.w = &w, .r = &r, .t = t, .next_hb = t + HEARTBEAT_MS};
    p.top = client.max_level < sub.bandwidth ? client.max_level : sub.bandwidth;
    p.level = p.top < 2 ? p.top : 2;
    ev_kbps(&w, t, "playing", 7, vex_world_ladder[p.level]);
    schedule_ramp(&p, 2000, 6000);

    double watch = live ? clamp_ms(vex_rng_lognormal(&r, 20 * MINUTE_MS, 0.9), MINUTE_MS,
                                   240 * MINUTE_MS)
                        : clamp_ms(vex_rng_lognormal(&r, 8 * MINUTE_MS, 0.8), 20000,
                                   70 * MINUTE_MS);
    double vpf_at = vex_rng_chance(&r, P_PLAY_FAIL * g->cdn_fail[cdn])
                        ? watch * (0.05 + 0.9 * vex_rng_unit(&r))
                        : INFINITY;
    int silent_end = vex_rng_chance(&r, P_NO_END);

    /* Incident rates per ms of playback. */
    double r_rebuf = 0.08 * c->rebuf * pf->rebuf / MINUTE_MS;
    double r_seek = (live ? 0.01 : 0.10) / MINUTE_MS;
    double r_pause = (live ? 0.015 : 0.04) / MINUTE_MS;
    double r_abr = 0.12 / MINUTE_MS;
    double r_warn = 0.015 / MINUTE_MS;
    double r_all = r_rebuf + r_seek + r_pause + r_abr + r_warn;

    double played = 0; /* ms of playback so far */
    double next_incident = vex_rng_exp(&r, 1.0 / r_all);
    for (;;) {
        if (w.n >= MAX_EVENTS - END_RESERVE)
            break;
        /* The next thing to happen, in playback time from now. */
        double until_end = watch - played;
        double until_fail = vpf_at - played;
        double until_incident = next_incident - played;
        double until_ramp = p.ramp_at == INT64_MAX ? INFINITY : (double)(p.ramp_at - p.t);
        double step = until_end;
        int what = 0; /* 0 end, 1 failure, 2 incident, 3 ramp */
        if (until_fail < step) {
            step = until_fail;
            what = 1;
        }
        if (until_incident < step) {
            step = until_incident;
            what = 2;
        }
        if (until_ramp < step) {
            step = until_ramp;
            what = 3;
        }
        /* A ramp planned before a pause may be due already. */
        int64_t step_ms = step > 0 ? (int64_t)step : 0;
        play_until(&p, p.t + step_ms);
        played += (double)step_ms;
        if (what == 0)
            break;
        if (what == 1) {
            const struct vex_world_error *errs = vex_world_play_errors(&nerr);
            if (vex_rng_chance(&r, 0.5)) { /* the stall that the failure ends */
                EV(&w, p.t, "buffering");
                pause_until(&p, p.t + 2000 + vex_rng_below(&r, 8000));
            }
            ev_error(&w, p.t, 1, &errs[vex_rng_below(&r, (uint32_t)nerr)]);
            goto done;
        }
        if (what == 3) {
            /* A bitrate move since the ramp was planned may have reached the top. */
            if (p.level < p.top)
                set_level(&p, p.level + 1);
            schedule_ramp(&p, 3000, 9000);
            continue;
        }
        /* An incident: which one, in proportion to the rates. */
        next_incident = played + vex_rng_exp(&r, 1.0 / r_all);
        double k = vex_rng_unit(&r) * r_all;
        if ((k -= r_rebuf) < 0) {
            EV(&w, p.t, "buffering");
            int64_t stall = clamp_ms(vex_rng_lognormal(&r, 1500 * (0.5 + 0.5 * c->rebuf), 0.8),
                                     150, 45000);
            if (stall > 15000 && vex_rng_chance(&r, 0.4)) {
                /* The viewer gives up during a long stall. */
                pause_until(&p, p.t + stall * 7 / 10);
                break;
            }
            pause_until(&p, p.t + stall);
            EV(&w, p.t, "playing");
            if (p.level > 0 && vex_rng_chance(&r, 0.6))
                set_level(&p, p.level - 1);
            schedule_ramp(&p, 10000, 30000);
        } else if ((k -= r_seek) < 0) {
            EV(&w, p.t, "seek");
            pause_until(&p, p.t + 20 + vex_rng_below(&r, 100));
            EV(&w, p.t, "buffering");
            pause_until(&p, p.t + clamp_ms(vex_rng_lognormal(&r, 600 * g->cdn_startup[cdn], 0.6),
                                           80, 20000));
            EV(&w, p.t, "playing");
        } else if ((k -= r_pause) < 0) {
            EV(&w, p.t, "pause");
            int64_t pause = clamp_ms(vex_rng_lognormal(&r, 25000, 1.1), 500, 1200000);
            pause_until(&p, p.t + pause);
            if (pause >= 1200000)
                break; /* never came back: the session ends paused */
            EV(&w, p.t, "playing");
        } else if ((k -= r_abr) < 0) {
            int up = vex_rng_chance(&r, 0.5);
            if (up && p.level < p.top)
                set_level(&p, p.level + 1);
            else if (!up && p.level > 0)
                set_level(&p, p.level - 1);
        } else {
            const struct vex_world_error *errs = vex_world_warnings(&nerr);
            ev_error(&w, p.t, 0, &errs[vex_rng_below(&r, (uint32_t)nerr)]);
        }
    }
    if (!silent_end)
        EV(&w, p.t, "end");
done:
    g->nlines = w.n;
    g->cur = 0;
}

/* ---- output ----------------------------------------------------------------------- */

int vex_gen_next(struct vex_gen *g, char *buf, size_t cap, size_t max_events, size_t *len,
                 size_t *events)
{
    *len = 0;
    if (events)
        *events = 0;
    if (cap < VEX_GEN_LINE_MAX)
        return VEX_EINVAL;
    size_t used = 0, n = 0;
    for (;;) {
        if (max_events && n == max_events)
            break;
        if (g->cur == g->nlines) {
            if (g->next_session >= g->o.sessions)
                break;
            make_session(g, g->next_session++);
        }
        uint32_t from = g->cur ? g->line_end[g->cur - 1] : 0;
        uint32_t last = g->nlines; /* one past the last line we may take */
        if (max_events && last - g->cur > max_events - n)
            last = g->cur + (uint32_t)(max_events - n);
        /* The most lines from cur that fit: the largest k <= last with
         * line_end[k - 1] - from <= room. */
        size_t room = cap - used;
        uint32_t k = last;
        if (g->line_end[k - 1] - from > room) {
            uint32_t lo = g->cur, hi = last - 1; /* answer in [cur, last - 1] */
            while (lo < hi) {
                uint32_t mid = lo + (hi - lo + 1) / 2;
                if (g->line_end[mid - 1] - from <= room)
                    lo = mid;
                else
                    hi = mid - 1;
            }
            k = lo;
        }
        if (k == g->cur)
            break; /* the buffer is full */
        size_t bytes = g->line_end[k - 1] - from;
        memcpy(buf + used, g->sbuf + from, bytes);
        used += bytes;
        n += k - g->cur;
        g->cur = k;
    }
    g->events_out += n;
    *len = used;
    if (events)
        *events = n;
    return 0;
}
