/* test_machine.c - every transition of the SPEC section 3 table, and the
 * time credit rules, written out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/event.h"
#include "session/machine.h"

enum { S = VEX_STATE_STARTING, P = VEX_STATE_PLAYING, R = VEX_STATE_REBUFFERING,
       K = VEX_STATE_SEEKING, Z = VEX_STATE_PAUSED, E = VEX_STATE_ENDED };

/* Columns: playing, buffering, seek, pause, end, fatal error, start,
 * heartbeat, bitrate, non-fatal error (SPEC 3). */
static const int next_state[6][10] = {
    /* STARTING    */ {P, S, S, S, E, E, S, S, S, S},
    /* PLAYING     */ {P, R, K, Z, E, E, P, P, P, P},
    /* REBUFFERING */ {P, R, K, Z, E, E, R, R, R, R},
    /* SEEKING     */ {P, K, K, Z, E, E, K, K, K, K},
    /* PAUSED      */ {P, Z, K, Z, E, E, Z, Z, Z, Z},
    /* ENDED       */ {E, E, E, E, E, E, E, E, E, E},
};
static const struct {
    int type, fatal;
} columns[10] = {
    {VEX_EV_PLAYING, 0}, {VEX_EV_BUFFERING, 0}, {VEX_EV_SEEK, 0},  {VEX_EV_PAUSE, 0},
    {VEX_EV_END, 0},     {VEX_EV_ERROR, 1},     {VEX_EV_START, 0}, {VEX_EV_HEARTBEAT, 0},
    {VEX_EV_BITRATE, 0}, {VEX_EV_ERROR, 0},
};

static void apply(struct vex_machine *m, int type, int fatal, int64_t ts)
{
    static int64_t seq;
    struct vex_machine_event ev = {.seq = seq++, .ts = ts, .type = (uint8_t)type,
                                   .fatal = (uint8_t)fatal};
    vex_machine_apply(m, &ev);
}

/* reach puts a fresh machine in state `s` with a known history. */
static void reach(struct vex_machine *m, int s)
{
    vex_machine_init(m);
    apply(m, VEX_EV_START, 0, 1000);
    if (s == S)
        return;
    if (s == E) {
        apply(m, VEX_EV_END, 0, 1000);
        return;
    }
    apply(m, VEX_EV_PLAYING, 0, 1000);
    if (s == R)
        apply(m, VEX_EV_BUFFERING, 0, 1000);
    if (s == K)
        apply(m, VEX_EV_SEEK, 0, 1000);
    if (s == Z)
        apply(m, VEX_EV_PAUSE, 0, 1000);
}

static void test_every_transition(void **state)
{
    (void)state;
    for (int s = 0; s < 6; s++) {
        for (int c = 0; c < 10; c++) {
            struct vex_machine m;
            reach(&m, s);
            assert_int_equal(m.state, s);
            struct vex_machine before = m;
            apply(&m, columns[c].type, columns[c].fatal, 2000);
            if (m.state != next_state[s][c])
                fail_msg("state %d, column %d: got %d, want %d", s, c, m.state,
                         next_state[s][c]);
            /* Entry counters move only on entering the state. */
            assert_int_equal(m.rebuffers - before.rebuffers,
                             s == P && columns[c].type == VEX_EV_BUFFERING);
            assert_int_equal(m.seeks - before.seeks,
                             (s == P || s == R || s == Z) && columns[c].type == VEX_EV_SEEK);
            int fatal = columns[c].type == VEX_EV_ERROR && columns[c].fatal && s != E;
            assert_int_equal(m.vsf, fatal && s == S);
            assert_int_equal(m.vpf, fatal && s != S);
            assert_int_equal(m.errors, fatal);
            assert_int_equal(m.warnings - before.warnings,
                             s != E && columns[c].type == VEX_EV_ERROR && !columns[c].fatal);
            if (s == E)
                assert_int_equal(m.last_ts, before.last_ts); /* ignored: not applied */
            else
                assert_int_equal(m.last_ts, 2000);
        }
    }
}

static void test_time_credit_and_bitrate(void **state)
{
    (void)state;
    struct vex_machine m;
    vex_machine_init(&m);
    struct vex_machine_event evs[] = {
        {.seq = 0, .ts = 10000, .type = VEX_EV_START, .kbps = 1000, .has_kbps = 1},
        {.seq = 1, .ts = 11500, .type = VEX_EV_PLAYING},                            /* +1.5 s startup */
        {.seq = 2, .ts = 21500, .type = VEX_EV_BITRATE, .kbps = 0, .has_kbps = 1}, /* 10 s at 1000 */
        {.seq = 3, .ts = 31500, .type = VEX_EV_BUFFERING},                          /* 10 s at 0 */
        {.seq = 4, .ts = 29500, .type = VEX_EV_PLAYING},    /* ts goes back: 0 credited */
        {.seq = 5, .ts = 34500, .type = VEX_EV_SEEK},       /* 5 s at 0 */
        {.seq = 6, .ts = 35000, .type = VEX_EV_PAUSE},      /* 0.5 s vrt */
        {.seq = 7, .ts = 95000, .type = VEX_EV_PLAYING},    /* paused: nothing */
        {.seq = 8, .ts = 96000, .type = VEX_EV_END, .kbps = 4000, .has_kbps = 1}, /* 1 s at 0 */
        {.seq = 9, .ts = 99000, .type = VEX_EV_HEARTBEAT},  /* after END: ignored */
    };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        evs[i].fatal = 1;
        vex_machine_apply(&m, &evs[i]);
    }
    assert_int_equal(m.attempt_ts, 10000);
    assert_int_equal(m.last_ts, 96000);
    assert_int_equal(m.startup_ms, 1500);
    assert_int_equal(m.play_ms, 10000 + 10000 + 5000 + 1000);
    assert_int_equal(m.cirr_ms, 0);
    assert_int_equal(m.vrt_ms, 500);
    assert_int_equal(m.kbps_known_ms, 26000);
    assert_true(m.kbps_ms == 1000.0 * 10000);
    assert_int_equal(m.rebuffers, 1);
    assert_int_equal(m.seeks, 1);
    assert_int_equal(m.state, VEX_STATE_ENDED);
    assert_int_equal(m.played, 1);
}

static void test_first_event_playing_and_startup_floor(void **state)
{
    (void)state;
    struct vex_machine m;
    vex_machine_init(&m);
    struct vex_machine_event a = {.seq = 0, .ts = 5000, .type = VEX_EV_PLAYING};
    vex_machine_apply(&m, &a);
    assert_int_equal(m.state, VEX_STATE_PLAYING);
    assert_int_equal(m.startup_ms, 0);
    vex_machine_init(&m);
    struct vex_machine_event b = {.seq = 0, .ts = 5000, .type = VEX_EV_START};
    struct vex_machine_event c = {.seq = 1, .ts = 4000, .type = VEX_EV_PLAYING};
    vex_machine_apply(&m, &b);
    vex_machine_apply(&m, &c);
    assert_int_equal(m.startup_ms, 0); /* at least 0 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_transition),
        cmocka_unit_test(test_time_credit_and_bitrate),
        cmocka_unit_test(test_first_event_playing_and_startup_floor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
