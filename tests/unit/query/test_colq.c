/* test_colq.c - the columnar path's session score (query/colq.h) against
 * vex_record_q: the same double, bit for bit, on hand-made edge cases (whose
 * values are also worked out by hand below) and on many random sessions,
 * since the differential tests compare the two paths' answers exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "query/colq.h"
#include "session/record.h"

struct sess {
    unsigned flags; /* VEX_COL_PLAYED, VEX_COL_VSF, VEX_COL_VPF */
    int64_t startup_ms, play_ms, cirr_ms, vrt_ms;
    double kbps_ms;
    int64_t kbps_known_ms;
};

static double record_q(const struct sess *s)
{
    struct vex_record r;
    memset(&r, 0, sizeof r);
    r.played = (s->flags & VEX_COL_PLAYED) != 0;
    r.vsf = (s->flags & VEX_COL_VSF) != 0;
    r.vpf = (s->flags & VEX_COL_VPF) != 0;
    r.startup_ms = s->startup_ms;
    r.play_ms = s->play_ms;
    r.cirr_ms = s->cirr_ms;
    r.vrt_ms = s->vrt_ms;
    r.kbps_ms = s->kbps_ms;
    r.kbps_known_ms = s->kbps_known_ms;
    return vex_record_q(&r);
}

static double col_q(const struct sess *s)
{
    return vex_colq_score(s->flags, s->startup_ms, s->play_ms, s->cirr_ms, s->vrt_ms, s->kbps_ms,
                          s->kbps_known_ms);
}

static uint64_t bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* check: both scores have the same bits, and (unless want is NaN, meaning
 * "not worked out by hand") are within 1e-9 of the hand value. */
static void check(const struct sess *s, double want)
{
    double a = col_q(s), b = record_q(s);
    assert_int_equal(bits(a), bits(b));
    if (want == want)
        assert_true(a - want < 1e-9 && want - a < 1e-9);
}

static void test_edge_cases(void **state)
{
    (void)state;
    const double any = __builtin_nan("");
    const unsigned P = VEX_COL_PLAYED;
    /* Startup exactly 1 s, no stall, no bitrate: 100 * 1 * 1 * 1. */
    struct sess s1 = {P, 1000, 60000, 0, 0, 0.0, 0};
    check(&s1, 100.0);
    /* Startup 1.001 s: s_start = 1 - 0.0625 * 0.001 = 0.9999375. */
    struct sess s2 = {P, 1001, 60000, 0, 0, 0.0, 0};
    check(&s2, 99.99375);
    /* Startup 3 s: 0.875; stalls 1000 of 10000 ms: 1 - 5 * 0.1 = 0.5;
     * 3000 kbps on average: 0.6 + 0.4 * 0.5 = 0.8. 100 * .875 * .5 * .8 = 35. */
    struct sess s3 = {P, 3000, 9000, 600, 400, 3000.0 * 1000, 1000};
    check(&s3, 35.0);
    /* A very large startup (1000 s): s_start clamps at 0.5. */
    struct sess s4 = {P, 1000000, 60000, 0, 0, 0.0, 0};
    check(&s4, 50.0);
    /* Startup 9 s: 1 - 0.0625 * 8 = 0.5 exactly, not clamped. */
    struct sess s5 = {P, 9000, 60000, 0, 0, 0.0, 0};
    check(&s5, 50.0);
    /* Zero denominators: nothing played, no bitrate time: ratio 0, Q 100. */
    struct sess s6 = {P, 0, 0, 0, 0, 0.0, 0};
    check(&s6, 100.0);
    /* kbps_known_ms 0 with a stray kbps sum: s_quality stays 1. */
    struct sess s7 = {P, 500, 1000, 0, 0, 12345.0, 0};
    check(&s7, 100.0);
    /* Stalls of 30 % of the time: 1 - 1.5 < 0, clamped to 0: Q 0. */
    struct sess s8 = {P, 500, 7000, 2000, 1000, 1e6, 1000};
    check(&s8, 0.0);
    /* Stalls of exactly 20 %: s_smooth 0. */
    struct sess s9 = {P, 500, 8000, 2000, 0, 0.0, 0};
    check(&s9, 0.0);
    /* Average 9000 kbps, above 6000: s_quality 1. */
    struct sess s10 = {P, 500, 1000, 0, 0, 9000.0 * 2000, 2000};
    check(&s10, 100.0);
    /* Exactly 6000 kbps: 0.6 + 0.4 * 1 = 1. */
    struct sess s11 = {P, 500, 1000, 0, 0, 6000.0 * 2000, 2000};
    check(&s11, 100.0);
    /* A start failure and a playback failure score 0 whatever else. */
    struct sess s12 = {VEX_COL_VSF, 0, 0, 0, 0, 0.0, 0};
    check(&s12, 0.0);
    struct sess s13 = {P | VEX_COL_VPF, 1000, 60000, 0, 0, 5000.0, 1};
    check(&s13, 0.0);
    /* Only VRT waiting (no play time): ratio 1, s_smooth clamped. */
    struct sess s14 = {P, 2000, 0, 0, 5000, 0.0, 0};
    check(&s14, 0.0);
    /* Negative zero must not appear where vex_record_q gives +0 and the
     * other way round: compared by bits above; a few more shapes. */
    struct sess s15 = {P, 1500, 123457, 17, 3, 4321.5 * 777, 777};
    check(&s15, any);
    struct sess s16 = {P, INT64_C(1) << 50, INT64_C(1) << 40, 1, 0, 1.0, 1};
    check(&s16, any);
}

static uint64_t g_rng = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* A value that is often 0 or on a threshold, else spread over several
 * magnitudes. */
static int64_t rnd_ms(int64_t edge)
{
    switch (rnd() % 8) {
    case 0:
        return 0;
    case 1:
        return edge;
    case 2:
        return edge + (int64_t)(rnd() % 3) - 1;
    case 3:
        return (int64_t)(rnd() % 100);
    case 4:
        return (int64_t)(rnd() % 100000);
    case 5:
        return (int64_t)(rnd() % 100000000);
    case 6:
        return (int64_t)(rnd() % (UINT64_C(1) << 40));
    default:
        return (int64_t)(rnd() % 20000);
    }
}

static void test_random_sessions(void **state)
{
    (void)state;
    static const unsigned fl[] = {VEX_COL_PLAYED, VEX_COL_PLAYED, VEX_COL_PLAYED, VEX_COL_VSF,
                                  VEX_COL_PLAYED | VEX_COL_VPF, 0};
    int nonzero = 0;
    for (int i = 0; i < 200000; i++) {
        struct sess s;
        s.flags = fl[rnd() % 6];
        s.startup_ms = rnd_ms(1000);
        s.play_ms = rnd_ms(60000);
        s.cirr_ms = rnd_ms(1000);
        s.vrt_ms = rnd() % 2 ? 0 : rnd_ms(500);
        s.kbps_known_ms = rnd_ms(s.play_ms);
        /* Averages around 6000 kbps, exact multiples and not. */
        double avg = 6000.0;
        if (rnd() % 4 != 0)
            avg = (double)(rnd() % 12000) + (double)(rnd() % 1000) / 997.0;
        s.kbps_ms = avg * (double)s.kbps_known_ms;
        if (rnd() % 16 == 0)
            s.kbps_ms = (double)(rnd() % 1000000);
        double a = col_q(&s), b = record_q(&s);
        assert_int_equal(bits(a), bits(b));
        assert_true(a >= 0.0 && a <= 100.0);
        nonzero += a > 0.0 && a < 100.0;
    }
    /* The draw reaches the interesting middle, not only 0 and 100. */
    assert_true(nonzero > 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_random_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
