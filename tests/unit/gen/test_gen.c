/* test_gen.c - the workload generator: determinism, event format (SPEC section 2),
 * per-session ordering, the start-time window and the shares the brief asks for.
 *
 * Share checks use tolerances of several standard deviations around the target
 * rates, so they test the model and not one lucky seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/err.h"
#include "gen/gen.h"

/* A fixed end of window: 2024-03-04 00:00:00 UTC, a Monday. */
#define END 1709510400LL

struct out {
    char *p;
    size_t len, cap;
    uint64_t lines;
};

static void out_free(struct out *o)
{
    free(o->p);
    memset(o, 0, sizeof *o);
}

static void opts(struct vex_gen_opts *o, uint64_t sessions, uint64_t seed)
{
    vex_gen_opts_default(o);
    o->sessions = sessions;
    o->seed = seed;
    o->end = END;
}

/* gen_all runs a generator to the end with the given buffer size and event limit and
 * collects its output; it checks on the way that every call keeps to the limits. */
static void gen_all(const struct vex_gen_opts *o, size_t cap, size_t max_events, struct out *out)
{
    memset(out, 0, sizeof *out);
    struct vex_gen *g = NULL;
    assert_int_equal(vex_gen_create(o, &g), 0);
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        size_t len = 0, n = 0;
        assert_int_equal(vex_gen_next(g, buf, cap, max_events, &len, &n), 0);
        if (!len) {
            assert_int_equal(n, 0);
            break;
        }
        assert_true(len <= cap);
        assert_int_equal(buf[len - 1], '\n');
        size_t nl = 0;
        for (size_t i = 0; i < len; i++)
            nl += buf[i] == '\n';
        assert_int_equal(nl, n);
        if (max_events)
            assert_true(n <= max_events);
        if (out->len + len > out->cap) {
            out->cap = (out->len + len) * 2;
            out->p = realloc(out->p, out->cap);
            assert_non_null(out->p);
        }
        memcpy(out->p + out->len, buf, len);
        out->len += len;
        out->lines += n;
    }
    uint64_t s = 0, e = 0;
    vex_gen_counts(g, &s, &e);
    assert_int_equal(s, o->sessions);
    assert_int_equal(e, out->lines);
    vex_gen_destroy(g);
    free(buf);
}

/* next_line returns the line at *pos (without its newline, NUL-terminated in `line`). */
static int next_line(const struct out *o, size_t *pos, char *line, size_t cap)
{
    if (*pos >= o->len)
        return 0;
    const char *s = o->p + *pos;
    const char *e = memchr(s, '\n', o->len - *pos);
    assert_non_null(e);
    size_t n = (size_t)(e - s);
    assert_true(n < cap);
    memcpy(line, s, n);
    line[n] = '\0';
    *pos += n + 1;
    return 1;
}

static void test_deterministic(void **state)
{
    (void)state;
    struct vex_gen_opts o;
    opts(&o, 300, 5);
    struct out a, b, c, d;
    gen_all(&o, 1 << 20, 0, &a);
    gen_all(&o, VEX_GEN_LINE_MAX, 0, &b);
    gen_all(&o, 1 << 16, 50, &c);
    assert_true(a.lines > 300 * 10);
    /* Same options, any buffer size or event limit: the same bytes. */
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.p, b.p, a.len);
    assert_int_equal(a.len, c.len);
    assert_memory_equal(a.p, c.p, a.len);
    /* Another seed: other sessions. */
    o.seed = 6;
    gen_all(&o, 1 << 20, 0, &d);
    assert_true(d.len != a.len || memcmp(a.p, d.p, a.len) != 0);
    out_free(&a);
    out_free(&b);
    out_free(&c);
    out_free(&d);
}

static void test_max_events(void **state)
{
    (void)state;
    struct vex_gen_opts o;
    opts(&o, 40, 9);
    struct vex_gen *g = NULL;
    assert_int_equal(vex_gen_create(&o, &g), 0);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    size_t len, n, total = 0, calls = 0, last = 0;
    for (;;) {
        assert_int_equal(vex_gen_next(g, buf, 1 << 20, 50, &len, &n), 0);
        if (!len)
            break;
        /* every batch but the last is exactly 50 events: a big buffer never limits */
        if (calls)
            assert_int_equal(last, 50);
        last = n;
        total += n;
        calls++;
    }
    assert_true(last >= 1 && last <= 50);
    assert_int_equal(total, 50 * (calls - 1) + last);
    /* done stays done */
    assert_int_equal(vex_gen_next(g, buf, 1 << 20, 50, &len, &n), 0);
    assert_int_equal(len, 0);
    vex_gen_destroy(g);
    free(buf);
}

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return 1;
    return 0;
}

static const char *const types[] = {"start", "playing", "buffering", "seek", "pause",
                                    "bitrate", "error", "heartbeat", "end", NULL};
static const char *const dims[] = {"cdn", "platform", "player", "os", "browser", "device",
                                   "country", "asset", "title", "isp", "subscriberid",
                                   "subscribertag", "ip", NULL};

/* check_event checks one event against SPEC section 2 and the generator's format. */
static void check_event(json_t *e)
{
    assert_true(json_is_object(e));
    json_t *sid = json_object_get(e, "sid");
    assert_true(json_is_string(sid));
    assert_true(json_string_length(sid) >= 1 && json_string_length(sid) <= 128);
    assert_true(json_is_integer(json_object_get(e, "seq")));
    assert_true(json_integer_value(json_object_get(e, "seq")) >= 0);
    assert_true(json_is_integer(json_object_get(e, "ts")));
    json_t *type = json_object_get(e, "type");
    assert_true(json_is_string(type));
    assert_true(in_list(json_string_value(type), types));
    const char *key;
    json_t *v;
    json_object_foreach(e, key, v) {
        if (!strcmp(key, "sid") || !strcmp(key, "seq") || !strcmp(key, "ts")
            || !strcmp(key, "type"))
            continue;
        if (!strcmp(key, "kbps")) {
            static const json_int_t ladder[] = {400, 800, 1500, 3000, 4500, 6000, 8000};
            assert_true(json_is_integer(v));
            int ok = 0;
            for (int i = 0; i < 7; i++)
                ok |= json_integer_value(v) == ladder[i];
            assert_true(ok);
        } else if (!strcmp(key, "fatal") || !strcmp(key, "live")) {
            assert_true(json_is_boolean(v));
        } else if (!strcmp(key, "code") || !strcmp(key, "msg")) {
            assert_true(json_is_string(v));
            assert_true(json_string_length(v) >= 1);
            assert_string_equal(json_string_value(type), "error");
        } else {
            /* nothing but the native fields */
            assert_true(in_list(key, dims));
            assert_true(json_is_string(v));
            assert_true(json_string_length(v) >= 1 && json_string_length(v) <= 256);
        }
    }
    if (!strcmp(json_string_value(type), "error")) {
        assert_true(json_is_boolean(json_object_get(e, "fatal")));
        assert_true(json_is_string(json_object_get(e, "code")));
        assert_true(json_is_string(json_object_get(e, "msg")));
    }
}

/* What a session did, from its events. */
struct sess {
    char sid[160];
    int64_t attempt_ts;
    int played;
    int fatal_before_play;
    int fatal_after_play;
    int ended; /* has an `end` event */
    int events;
    int64_t first_playing_ts;
};

/* check_sessions parses every line, checks each event and the ordering rules, and
 * calls `visit` with each finished session and its first event. */
typedef void (*visit_fn)(const struct sess *s, json_t *first, void *ctx);

static void check_sessions(const struct out *o, visit_fn visit, void *ctx, uint64_t *nsess)
{
    char line[VEX_GEN_LINE_MAX + 1];
    size_t pos = 0;
    struct sess s;
    json_t *first = NULL;
    int64_t last_ts = 0;
    int64_t prev_start = 0;
    *nsess = 0;
    memset(&s, 0, sizeof s);
    while (next_line(o, &pos, line, sizeof line)) {
        json_error_t jerr;
        json_t *e = json_loads(line, 0, &jerr);
        assert_non_null(e);
        check_event(e);
        const char *sid = json_string_value(json_object_get(e, "sid"));
        json_int_t seq = json_integer_value(json_object_get(e, "seq"));
        json_int_t ts = json_integer_value(json_object_get(e, "ts"));
        const char *type = json_string_value(json_object_get(e, "type"));
        if (seq == 0) {
            if (first) {
                visit(&s, first, ctx);
                json_decref(first);
            }
            /* a new session: its sid is new, it opens with `start` and the dimensions */
            assert_true(strcmp(sid, s.sid) != 0);
            memset(&s, 0, sizeof s);
            snprintf(s.sid, sizeof s.sid, "%s", sid);
            s.attempt_ts = ts;
            assert_string_equal(type, "start");
            assert_true(json_is_boolean(json_object_get(e, "live")));
            assert_true(ts >= prev_start); /* sessions come in start-time order */
            prev_start = ts;
            first = json_incref(e);
            (*nsess)++;
        } else {
            /* the same session, seq contiguous, ts never going back */
            assert_non_null(first);
            assert_string_equal(sid, s.sid);
            assert_int_equal(seq, s.events);
            assert_true(ts >= last_ts);
            assert_true(strcmp(type, "start") != 0);
            assert_null(json_object_get(e, "cdn"));
            assert_null(json_object_get(e, "live"));
            assert_int_equal(s.ended, 0); /* nothing after `end` */
            assert_int_equal(s.fatal_before_play + s.fatal_after_play, 0);
        }
        last_ts = ts;
        s.events++;
        if (!strcmp(type, "playing") && !s.played) {
            s.played = 1;
            s.first_playing_ts = ts;
            /* the first `playing` says the starting bitrate */
            assert_true(json_is_integer(json_object_get(e, "kbps")));
        }
        if (!strcmp(type, "heartbeat")) {
            /* heartbeats tick every 10 s from the first `playing` */
            assert_true(s.played);
            assert_true(ts > s.first_playing_ts);
            assert_int_equal((ts - s.first_playing_ts) % 10000, 0);
        }
        if (!strcmp(type, "end"))
            s.ended = 1;
        if (!strcmp(type, "error") && json_is_true(json_object_get(e, "fatal"))) {
            if (s.played)
                s.fatal_after_play = 1;
            else
                s.fatal_before_play = 1;
        }
        json_decref(e);
    }
    if (first) {
        visit(&s, first, ctx);
        json_decref(first);
    }
}

struct tally {
    int64_t lo_ms, hi_ms;
    uint64_t ebvs, vsf, vpf, no_end, live, played;
    uint64_t startup_below_1200; /* startup time of played sessions below 1.2 s */
    char (*subs)[32];
    uint64_t nsubs;
};

static void tally_visit(const struct sess *s, json_t *first, void *ctx)
{
    struct tally *t = ctx;
    assert_true(s->attempt_ts >= t->lo_ms && s->attempt_ts < t->hi_ms);
    if (!s->played && !s->fatal_before_play)
        t->ebvs++;
    t->vsf += s->fatal_before_play;
    t->vpf += s->fatal_after_play;
    t->no_end += !s->ended && !s->fatal_before_play && !s->fatal_after_play;
    t->live += json_is_true(json_object_get(first, "live"));
    if (s->played) {
        t->played++;
        t->startup_below_1200 += s->first_playing_ts - s->attempt_ts < 1200;
    }
    /* every session carries every dimension but browser (native apps have none) */
    for (const char *const *d = dims; *d; d++)
        if (strcmp(*d, "browser"))
            assert_non_null(json_object_get(first, *d));
    if (t->subs) {
        snprintf(t->subs[t->nsubs++], 32, "%s",
                 json_string_value(json_object_get(first, "subscriberid")));
    }
}

static int cmp_str32(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_events_and_shares(void **state)
{
    (void)state;
    enum { N = 5000 };
    struct vex_gen_opts o;
    opts(&o, N, 11);
    o.days = 3;
    struct out a;
    gen_all(&o, 1 << 20, 0, &a);
    struct tally t = {.lo_ms = (END - 3 * 86400) * 1000, .hi_ms = END * 1000};
    t.subs = calloc(N, 32);
    assert_non_null(t.subs);
    uint64_t nsess;
    check_sessions(&a, tally_visit, &t, &nsess);
    assert_int_equal(nsess, N);
    /* EBVS 1-3% (target 2%, sd 0.2%) */
    assert_true(t.ebvs >= N / 100 && t.ebvs <= 3 * N / 100);
    /* start failures ~0.7% (35 expected, sd 6): 15..60 */
    assert_true(t.vsf >= 15 && t.vsf <= 60);
    /* playback failures exist but are rare (~0.4% of plays) */
    assert_true(t.vpf >= 1 && t.vpf <= N / 100);
    /* ~2% without an end event (closed by timeout): 1-3% */
    assert_true(t.no_end >= N / 100 && t.no_end <= 3 * N / 100);
    /* ~20% live (1,000 expected, sd 28) */
    assert_true(t.live >= 850 && t.live <= 1150);
    /* startup median ~1.2 s: about half of the plays start faster than 1.2 s */
    assert_true(t.startup_below_1200 > t.played * 40 / 100
                && t.startup_below_1200 < t.played * 60 / 100);
    /* viewers come back: fewer unique subscriber ids than sessions */
    qsort(t.subs, N, 32, cmp_str32);
    uint64_t unique = 0;
    for (uint64_t i = 0; i < N; i++)
        unique += i == 0 || strcmp(t.subs[i], t.subs[i - 1]) != 0;
    assert_true(unique > 100 && unique < N * 9 / 10);
    free(t.subs);
    out_free(&a);
}

/* The dimensions of a start line, counted over a large run without full parsing. */
struct counts {
    int cdn[64], platform[16], player[16], country[64];
    char cdn_names[64][32], platform_names[16][32], player_names[16][32];
    int ncdn, nplatform, nplayer, ncountry;
    uint64_t by_hour[24];
};

static void count_name(const char *v, char (*names)[32], int *counts, int *n, int max)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(names[i], v)) {
            counts[i]++;
            return;
        }
    assert_true(*n < max);
    snprintf(names[*n], 32, "%s", v);
    counts[(*n)++] = 1;
}

static void test_catalogue(void **state)
{
    (void)state;
    enum { N = 20000 };
    struct vex_gen_opts o;
    opts(&o, N, 3);
    struct out a;
    gen_all(&o, 1 << 20, 0, &a);
    static struct counts c;
    memset(&c, 0, sizeof c);
    char countries[64][32];
    char line[VEX_GEN_LINE_MAX + 1];
    size_t pos = 0;
    uint64_t starts = 0;
    /* buffering events and sessions of the worst CDN (vertex, 4x the base rebuffer
     * rate) and of a good one (velocity, 0.7x) */
    uint64_t buf_bad = 0, buf_good = 0, n_bad = 0, n_good = 0;
    int cur_cdn = 0; /* 1 bad, 2 good, 0 other */
    while (next_line(&a, &pos, line, sizeof line)) {
        if (!strstr(line, "\"seq\":0,")) {
            if (strstr(line, "\"type\":\"buffering\"")) {
                buf_bad += cur_cdn == 1;
                buf_good += cur_cdn == 2;
            }
            continue;
        }
        starts++;
        cur_cdn = strstr(line, "\"cdn\":\"vertex\"")     ? 1
                  : strstr(line, "\"cdn\":\"velocity\"") ? 2
                                                          : 0;
        n_bad += cur_cdn == 1;
        n_good += cur_cdn == 2;
        json_error_t jerr;
        json_t *e = json_loads(line, 0, &jerr);
        assert_non_null(e);
        const char *platform = json_string_value(json_object_get(e, "platform"));
        const char *os = json_string_value(json_object_get(e, "os"));
        const char *device = json_string_value(json_object_get(e, "device"));
        const char *player = json_string_value(json_object_get(e, "player"));
        json_t *browser = json_object_get(e, "browser");
        count_name(json_string_value(json_object_get(e, "cdn")), c.cdn_names, c.cdn, &c.ncdn,
                   64);
        count_name(platform, c.platform_names, c.platform, &c.nplatform, 16);
        count_name(player, c.player_names, c.player, &c.nplayer, 16);
        count_name(json_string_value(json_object_get(e, "country")), countries, c.country,
                   &c.ncountry, 64);
        /* clients fit their platform */
        if (!strcmp(platform, "web")) {
            assert_non_null(browser);
            assert_string_equal(device, "desktop");
            if (!strcmp(json_string_value(browser), "safari"))
                assert_string_equal(os, "macos");
        } else {
            assert_null(browser);
        }
        if (!strcmp(platform, "ios")) {
            assert_string_equal(os, "ios");
            assert_string_equal(player, "avplayer");
            assert_true(!strcmp(device, "phone") || !strcmp(device, "tablet"));
        }
        if (!strcmp(platform, "roku")) {
            assert_string_equal(os, "rokuos");
            assert_string_equal(player, "roku");
        }
        if (!strcmp(platform, "appletv")) {
            assert_string_equal(os, "tvos");
            assert_string_equal(device, "tv");
        }
        /* the ISP belongs to the country: "<country>-<kind>" */
        const char *country = json_string_value(json_object_get(e, "country"));
        const char *isp = json_string_value(json_object_get(e, "isp"));
        assert_int_equal(strlen(country), 2);
        assert_int_equal(strncmp(isp, country, 2), 0);
        assert_int_equal(isp[2], '-');
        int64_t ts = json_integer_value(json_object_get(e, "ts"));
        c.by_hour[(ts / 1000) % 86400 / 3600]++;
        json_decref(e);
    }
    assert_int_equal(starts, N);
    assert_int_equal(c.ncdn, 40);
    assert_int_equal(c.nplatform, 10);
    assert_int_equal(c.nplayer, 8);
    assert_int_equal(c.ncountry, 50);
    /* skewed CDN shares: the largest has over 15% (Zipf 1/H(40) = 23%), the
     * smallest under 1.5% */
    int max = 0, min = N;
    for (int i = 0; i < c.ncdn; i++) {
        max = c.cdn[i] > max ? c.cdn[i] : max;
        min = c.cdn[i] < min ? c.cdn[i] : min;
    }
    assert_true(max > N * 15 / 100);
    assert_true(min < N * 15 / 1000);
    /* diurnal: the UTC evening (19-22 h) has over twice the sessions of the morning
     * (06-09 h); the curve's ratio is about 3.9 */
    /* rebuffering depends on the CDN: per session, the bad one buffers more than
     * 1.5 times as often (startup and seek buffering included dilute the ratio) */
    assert_true(n_bad > 100 && n_good > 100);
    assert_true(2 * buf_bad * n_good > 3 * buf_good * n_bad);
    uint64_t evening = 0, morning = 0;
    for (int h = 19; h <= 22; h++)
        evening += c.by_hour[h];
    for (int h = 6; h <= 9; h++)
        morning += c.by_hour[h];
    assert_true(evening > 2 * morning);
    out_free(&a);
}

static void test_customer_prefix(void **state)
{
    (void)state;
    struct vex_gen_opts o;
    opts(&o, 20, 77);
    o.customer = "acme_1-x";
    struct out a;
    gen_all(&o, 1 << 20, 0, &a);
    char line[VEX_GEN_LINE_MAX + 1];
    size_t pos = 0;
    while (next_line(&a, &pos, line, sizeof line))
        assert_int_equal(strncmp(line, "{\"sid\":\"acme_1-x-s77-", 21), 0);
    /* the first session's first event, byte for byte up to its ts */
    assert_int_equal(strncmp(a.p, "{\"sid\":\"acme_1-x-s77-0\",\"seq\":0,\"ts\":", 37), 0);
    out_free(&a);
}

static void test_bad_options(void **state)
{
    (void)state;
    struct vex_gen_opts o;
    struct vex_gen *g = (struct vex_gen *)&o; /* must be reset to NULL on failure */
    opts(&o, 0, 1);
    assert_non_null(vex_gen_check(&o));
    assert_int_equal(vex_gen_create(&o, &g), VEX_EINVAL);
    assert_null(g);
    opts(&o, 10, 1);
    assert_null(vex_gen_check(&o));
    o.days = 0;
    assert_non_null(vex_gen_check(&o));
    o.days = VEX_GEN_DAYS_MAX + 1;
    assert_non_null(vex_gen_check(&o));
    o.days = 2;
    o.end = 2 * 86400 - 1; /* the window would start before 1970 */
    assert_non_null(vex_gen_check(&o));
    o.end = 2 * 86400;
    assert_null(vex_gen_check(&o));
    o.customer = "has space";
    assert_non_null(vex_gen_check(&o));
    o.customer = "quote\"";
    assert_non_null(vex_gen_check(&o));
    o.customer = "a123456789b123456789c123456789d123456789e123456789f123456789g1234"; /* 65 */
    assert_non_null(vex_gen_check(&o));
    o.customer = "a123456789b123456789c123456789d123456789e123456789f123456789g123"; /* 64 */
    assert_null(vex_gen_check(&o));
    /* a buffer smaller than the longest line is refused */
    assert_int_equal(vex_gen_create(&o, &g), 0);
    char small[VEX_GEN_LINE_MAX - 1];
    size_t len = 1, n = 1;
    assert_int_equal(vex_gen_next(g, small, sizeof small, 0, &len, &n), VEX_EINVAL);
    assert_int_equal(len, 0);
    assert_int_equal(n, 0);
    vex_gen_destroy(g);
    vex_gen_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_max_events),
        cmocka_unit_test(test_events_and_shares),
        cmocka_unit_test(test_catalogue),
        cmocka_unit_test(test_customer_prefix),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
