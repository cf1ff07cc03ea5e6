/* test_wide.c - sessions whose durations or counters do not fit the narrow
 * columns of the session table (32-bit milliseconds: 49.7 days; 16-bit
 * counters: 65,535): their records stay exact, scans of columns hand them
 * out as records instead of rows, and a session that shrinks back (an
 * out-of-order event changes what its time was spent in) returns to the
 * columns. Every expected value is worked out in the comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "core/err.h"
#include "ingest/event.h"
#include "session/table.h"

#define T0 1709510400000LL /* 2024-03-04 00:00:00 UTC */
#define DAY 86400000LL
#define NOW (T0 + 400 * DAY)
#define TIMEOUT 120000LL

static void ev(struct vex_table *t, const char *sid, int64_t seq, int type, int64_t ts, int fatal)
{
    struct vex_event e;
    memset(&e, 0, sizeof e);
    e.sid = sid;
    e.sid_len = (uint32_t)strlen(sid);
    e.type = (uint8_t)type;
    e.fatal = (uint8_t)fatal;
    e.live = -1;
    e.seq = seq;
    e.ts = ts;
    assert_int_equal(vex_table_apply(t, &e, "", T0), 0);
}

struct got {
    size_t rows, runs, nrecs;
    struct vex_record rec[4];
    int64_t play_sum; /* play_ms over the rows */
    int64_t last_ts;  /* of the last row seen */
};

static int visit(void *ctx, const struct vex_columns *c)
{
    struct got *g = ctx;
    g->runs++;
    g->rows += c->rows;
    for (size_t i = 0; i < c->rows; i++) {
        g->play_sum += c->play_ms[i];
        g->last_ts = vex_columns_last_ts(c, i);
    }
    for (size_t k = 0; k < c->nrecs && g->nrecs < 4; k++)
        g->rec[g->nrecs++] = c->recs[k];
    return 0;
}

static int find(void *ctx, const struct vex_record *r, size_t n)
{
    struct vex_record *out = ctx;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(r[i].sid, out->sid))
            *out = r[i];
    return 0;
}

static struct vex_record record_of(struct vex_table *t, const char *sid)
{
    struct vex_record r;
    memset(&r, 0, sizeof r);
    r.sid = sid;
    r.state = 99;
    assert_int_equal(vex_table_scan(t, INT64_MIN / 2, INT64_MAX / 2, NOW, TIMEOUT, find, &r), 0);
    assert_int_not_equal(r.state, 99);
    return r;
}

/* Rows: a (1 s of play), w (60 days of play: 5,184,000,000 ms > 2^32),
 * b (2 s of play). */
static void test_long_play(void **state)
{
    (void)state;
    struct vex_table *t;
    assert_int_equal(vex_table_create(&t), 0);
    ev(t, "a", 0, VEX_EV_PLAYING, T0, 0);
    ev(t, "a", 1, VEX_EV_END, T0 + 1000, 0);
    ev(t, "w", 0, VEX_EV_PLAYING, T0, 0);
    ev(t, "w", 1, VEX_EV_END, T0 + 60 * DAY, 0);
    ev(t, "b", 0, VEX_EV_PLAYING, T0, 0);
    ev(t, "b", 1, VEX_EV_END, T0 + 2000, 0);
    struct vex_record w = record_of(t, "w");
    assert_int_equal(w.play_ms, 5184000000LL);
    assert_int_equal(w.state, VEX_STATE_ENDED);
    /* Columns: a and b as rows (two runs around w), w as a record. */
    struct got g = {0};
    assert_int_equal(vex_table_scan_columns(t, NOW, TIMEOUT, visit, &g), 0);
    assert_int_equal(g.rows, 2);
    assert_int_equal(g.play_sum, 3000);
    assert_int_equal(g.runs, 3);
    assert_int_equal(g.nrecs, 1);
    assert_string_equal(g.rec[0].sid, "w");
    assert_int_equal(g.rec[0].play_ms, 5184000000LL);
    assert_int_equal(g.rec[0].closed, 1);
    /* Export keeps the exact value (checkpoints write it). */
    struct vex_session_state st;
    vex_table_export(t, 1, &st);
    assert_string_equal(st.sid, "w");
    assert_int_equal(st.prefix.play_ms, 5184000000LL);
    /* And an import of it into another table is wide there too. */
    struct vex_table *t2;
    assert_int_equal(vex_table_create(&t2), 0);
    assert_int_equal(vex_table_import(t2, &st), 0);
    assert_int_equal(record_of(t2, "w").play_ms, 5184000000LL);
    memset(&g, 0, sizeof g);
    assert_int_equal(vex_table_scan_columns(t2, NOW, TIMEOUT, visit, &g), 0);
    assert_int_equal(g.rows, 0);
    assert_int_equal(g.nrecs, 1);
    vex_table_destroy(t2);
    vex_table_destroy(t);
}

/* s: playing at T0, then (out of order) a pause at T0 + 1 s arrives after a
 * heartbeat at T0 + 60 days: first 60 days of play (wide), then 1 s of play
 * and the rest paused, still wide (last_ts is 60 days after attempt_ts, more
 * than the 49.7 days of the 32-bit column), exact. c: its clock goes back
 * (seq 1 playing at T0 + 10 s, seq 2 at T0 + 5 s: last_ts below attempt_ts,
 * wide), then seq 0 starts it at T0: attempt_ts T0, last_ts T0 + 5 s,
 * startup 10 s, no play (the heartbeat's time step is negative): narrow. */
static void test_shrinks_back(void **state)
{
    (void)state;
    struct vex_table *t;
    assert_int_equal(vex_table_create(&t), 0);
    ev(t, "s", 0, VEX_EV_PLAYING, T0, 0);
    ev(t, "s", 2, VEX_EV_HEARTBEAT, T0 + 60 * DAY, 0);
    assert_int_equal(record_of(t, "s").play_ms, 5184000000LL);
    struct got g = {0};
    assert_int_equal(vex_table_scan_columns(t, NOW, TIMEOUT, visit, &g), 0);
    assert_int_equal(g.rows, 0);
    assert_int_equal(g.nrecs, 1);
    ev(t, "s", 1, VEX_EV_PAUSE, T0 + 1000, 0);
    struct vex_record r = record_of(t, "s");
    assert_int_equal(r.play_ms, 1000);
    assert_int_equal(r.state, VEX_STATE_PAUSED);
    assert_int_equal(r.last_ts, T0 + 60 * DAY);
    memset(&g, 0, sizeof g);
    assert_int_equal(vex_table_scan_columns(t, NOW, TIMEOUT, visit, &g), 0);
    assert_int_equal(g.rows, 0);
    assert_int_equal(g.nrecs, 1);
    assert_int_equal(g.rec[0].play_ms, 1000);
    assert_int_equal(g.rec[0].last_ts, T0 + 60 * DAY);
    vex_table_destroy(t);

    assert_int_equal(vex_table_create(&t), 0);
    ev(t, "c", 1, VEX_EV_PLAYING, T0 + 10000, 0);
    ev(t, "c", 2, VEX_EV_HEARTBEAT, T0 + 5000, 0);
    r = record_of(t, "c");
    assert_int_equal(r.attempt_ts, T0 + 10000);
    assert_int_equal(r.last_ts, T0 + 5000);
    memset(&g, 0, sizeof g);
    assert_int_equal(vex_table_scan_columns(t, NOW, TIMEOUT, visit, &g), 0);
    assert_int_equal(g.rows, 0);
    assert_int_equal(g.nrecs, 1);
    assert_int_equal(g.rec[0].last_ts, T0 + 5000);
    ev(t, "c", 0, VEX_EV_START, T0, 0);
    r = record_of(t, "c");
    assert_int_equal(r.attempt_ts, T0);
    assert_int_equal(r.last_ts, T0 + 5000);
    assert_int_equal(r.startup_ms, 10000);
    assert_int_equal(r.play_ms, 0);
    memset(&g, 0, sizeof g);
    assert_int_equal(vex_table_scan_columns(t, NOW, TIMEOUT, visit, &g), 0);
    assert_int_equal(g.rows, 1);
    assert_int_equal(g.nrecs, 0);
    assert_int_equal(g.last_ts, T0 + 5000);
    vex_table_destroy(t);
}

/* 70,000 non-fatal errors: warnings 70,000 > 65,535. */
static void test_many_warnings(void **state)
{
    (void)state;
    struct vex_table *t;
    assert_int_equal(vex_table_create(&t), 0);
    ev(t, "n", 0, VEX_EV_PLAYING, T0, 0);
    for (int k = 1; k <= 70000; k++)
        ev(t, "n", k, VEX_EV_ERROR, T0 + k, 0);
    struct vex_record r = record_of(t, "n");
    assert_int_equal(r.warnings, 70000);
    assert_int_equal(r.play_ms, 70000);
    struct got g = {0};
    assert_int_equal(vex_table_scan_columns(t, NOW, TIMEOUT, visit, &g), 0);
    assert_int_equal(g.rows, 0);
    assert_int_equal(g.nrecs, 1);
    assert_int_equal(g.rec[0].warnings, 70000);
    vex_table_destroy(t);
}

/* Sessionizer values that do not fit their narrow columns go aside and
 * come back exact: a prefix of 5,000,000,000 events (more than 2^32), a last
 * change 30 days after its chunk's first one (more than 2^31 ms), and a
 * bitrate that no float holds (1234.567). */
static void test_sessionizer_aside(void **state)
{
    (void)state;
    struct vex_table *t;
    assert_int_equal(vex_table_create(&t), 0);
    struct vex_session_state in;
    memset(&in, 0, sizeof in);
    for (int d = 0; d < VEX_DIM_COUNT; d++) {
        in.dims[d] = "";
        in.dim_seq[d] = -1;
    }
    in.ip_fallback = "";
    in.live = -1;
    in.live_seq = -1;
    in.min_seq = 0;
    in.sid = "first";
    in.prefix_next = 3;
    in.last_change_ms = T0;
    in.prefix.started = 1;
    in.prefix.attempt_ts = T0;
    in.prefix.last_ts = T0;
    in.prefix.state = VEX_STATE_PLAYING;
    in.prefix.played = 1;
    assert_int_equal(vex_table_import(t, &in), 0);
    in.sid = "big";
    in.prefix_next = 5000000000LL;
    in.last_change_ms = T0 + 30 * DAY;
    in.prefix.has_kbps = 1;
    in.prefix.kbps = 1234.567;
    assert_int_equal(vex_table_import(t, &in), 0);
    struct vex_session_state out;
    vex_table_export(t, 1, &out);
    assert_string_equal(out.sid, "big");
    assert_int_equal(out.prefix_next, 5000000000LL);
    assert_int_equal(out.last_change_ms, T0 + 30 * DAY);
    assert_true(out.prefix.kbps == 1234.567);
    vex_table_export(t, 0, &out);
    assert_int_equal(out.prefix_next, 3);
    assert_int_equal(out.last_change_ms, T0);
    /* The next event of "big" is seq 5,000,000,000: in order, it continues
     * the prefix; 1 s of play at 1234.567 kbps. A copy of seq 4,999,999,999
     * is below the prefix: a duplicate. */
    ev(t, "big", 4999999999LL, VEX_EV_END, T0 + 500, 0);
    ev(t, "big", 5000000000LL, VEX_EV_HEARTBEAT, T0 + 1000, 0);
    vex_table_export(t, 1, &out);
    assert_int_equal(out.prefix_next, 5000000001LL);
    assert_int_equal(out.npending, 0);
    assert_int_equal(out.prefix.state, VEX_STATE_PLAYING);
    assert_int_equal(out.prefix.play_ms, 1000);
    assert_int_equal(out.prefix.kbps_known_ms, 1000);
    assert_true(out.prefix.kbps_ms == 1234.567 * 1000.0);
    /* ev() applies at server time T0: the last change moves on by 1 ms. */
    assert_int_equal(out.last_change_ms, T0 + 30 * DAY + 1);
    vex_table_destroy(t);
}

/* Dimension columns start with 8-bit local codes, turn into 16-bit ones on
 * their 257th distinct value and into 24-bit dictionary codes on their
 * 65,537th (the table's dictionary has far fewer than 2^24 values): 70,000
 * sessions with a cdn each ("c-0" to "c-69999") and one platform ("web"). */
struct dimseen {
    size_t rows;
    int cdn_bits, platform_bits;
    const char *cdn_first, *cdn_last, *platform_last;
};

static int dim_bits(const struct vex_columns *c, int d)
{
    int n = (c->dims[d] != NULL) + (c->dims24[d] != NULL) + (c->dims16[d] != NULL) +
            (c->dims8[d] != NULL);
    assert_int_equal(n, 1); /* exactly one form */
    return c->dims[d] ? 32 : c->dims24[d] ? 24 : c->dims16[d] ? 16 : 8;
}

static int visit_dims(void *ctx, const struct vex_columns *c)
{
    struct dimseen *g = ctx;
    if (!c->rows)
        return 0;
    g->rows += c->rows;
    g->cdn_bits = dim_bits(c, VEX_DIM_CDN);
    g->platform_bits = dim_bits(c, VEX_DIM_PLATFORM);
    g->cdn_first = c->dict[vex_columns_dim(c, VEX_DIM_CDN, 0)];
    g->cdn_last = c->dict[vex_columns_dim(c, VEX_DIM_CDN, c->rows - 1)];
    g->platform_last = c->dict[vex_columns_dim(c, VEX_DIM_PLATFORM, c->rows - 1)];
    return 0;
}

static void test_dimension_widens(void **state)
{
    (void)state;
    struct vex_table *t;
    assert_int_equal(vex_table_create(&t), 0);
    char sid[32], cdn[32];
    for (int k = 0; k < 70000; k++) {
        snprintf(sid, sizeof sid, "s%d", k);
        snprintf(cdn, sizeof cdn, "c-%d", k);
        struct vex_event e;
        memset(&e, 0, sizeof e);
        e.sid = sid;
        e.sid_len = (uint32_t)strlen(sid);
        e.type = VEX_EV_START;
        e.live = -1;
        e.ts = T0 + k;
        e.dims[VEX_DIM_CDN] = cdn;
        e.dim_len[VEX_DIM_CDN] = (uint16_t)strlen(cdn);
        e.dims[VEX_DIM_PLATFORM] = "web";
        e.dim_len[VEX_DIM_PLATFORM] = 3;
        assert_int_equal(vex_table_apply(t, &e, "", T0), 0);
        /* 256 values: "" and c-0..c-254; c-255 is the 257th. */
        if (k == 254 || k == 255 || k == 1000 || k == 65534 || k == 65535) {
            struct dimseen g = {0};
            assert_int_equal(vex_table_scan_columns(t, NOW, TIMEOUT, visit_dims, &g), 0);
            assert_int_equal(g.cdn_bits, k == 254 ? 8 : k < 65535 ? 16 : 24);
            assert_int_equal(g.platform_bits, 8);
            assert_string_equal(g.cdn_first, "c-0");
            snprintf(cdn, sizeof cdn, "c-%d", k);
            assert_string_equal(g.cdn_last, cdn);
        }
    }
    struct dimseen g = {0};
    assert_int_equal(vex_table_scan_columns(t, NOW, TIMEOUT, visit_dims, &g), 0);
    assert_int_equal(g.rows, 70000);
    assert_int_equal(g.cdn_bits, 24);
    assert_int_equal(g.platform_bits, 8);
    assert_string_equal(g.cdn_first, "c-0");
    assert_string_equal(g.cdn_last, "c-69999");
    assert_string_equal(g.platform_last, "web");
    struct vex_session_state st;
    vex_table_export(t, 254, &st);
    assert_string_equal(st.dims[VEX_DIM_CDN], "c-254");
    vex_table_export(t, 255, &st);
    assert_string_equal(st.dims[VEX_DIM_CDN], "c-255");
    vex_table_export(t, 65535, &st);
    assert_string_equal(st.dims[VEX_DIM_CDN], "c-65535");
    vex_table_export(t, 65536, &st);
    assert_string_equal(st.dims[VEX_DIM_CDN], "c-65536");
    assert_string_equal(st.dims[VEX_DIM_PLATFORM], "web");
    vex_table_destroy(t);
}

/* The sessionizer's own fields aside: prefix_next is 16 bits in the table
 * and a session of 70,000 events in order (seq 0..69,999, one a second)
 * has prefix_next 70,000; the current bitrate is 16 bits of whole kbps, and
 * 2500.5, 70000, 65535 and -0.0 go aside, exactly. */
static void bitrate(struct vex_table *t, const char *sid, int64_t seq, double kbps, int64_t ts)
{
    struct vex_event e;
    memset(&e, 0, sizeof e);
    e.sid = sid;
    e.sid_len = (uint32_t)strlen(sid);
    e.type = VEX_EV_BITRATE;
    e.live = -1;
    e.seq = seq;
    e.ts = ts;
    e.has_kbps = 1;
    e.kbps = kbps;
    assert_int_equal(vex_table_apply(t, &e, "", T0), 0);
}

static void test_narrow_sessionizer(void **state)
{
    (void)state;
    struct vex_table *t;
    assert_int_equal(vex_table_create(&t), 0);
    ev(t, "long", 0, VEX_EV_START, T0, 0);
    for (int64_t k = 1; k < 70000; k++)
        ev(t, "long", k, VEX_EV_HEARTBEAT, T0 + k * 1000, 0);
    struct vex_session_state st;
    vex_table_export(t, 0, &st);
    assert_int_equal(st.prefix_next, 70000);
    assert_int_equal(st.npending, 0);
    assert_int_equal(st.prefix.last_ts, T0 + 69999 * 1000);
    /* Seq 65,535 again (the 16-bit sentinel's value): a duplicate. */
    ev(t, "long", 65535, VEX_EV_HEARTBEAT, T0 + 90000000, 0);
    vex_table_export(t, 0, &st);
    assert_int_equal(st.prefix_next, 70000);
    assert_int_equal(st.prefix.last_ts, T0 + 69999 * 1000);
    ev(t, "long", 70000, VEX_EV_HEARTBEAT, T0 + 70000 * 1000, 0);
    vex_table_export(t, 0, &st);
    assert_int_equal(st.prefix_next, 70001);
    assert_int_equal(st.prefix.last_ts, T0 + 70000 * 1000);

    ev(t, "b", 0, VEX_EV_START, T0, 0);
    static const double rates[] = {2500, 2500.5, 70000, 65535, 65534, -0.0, 0, 3000};
    for (size_t k = 0; k < sizeof rates / sizeof *rates; k++) {
        bitrate(t, "b", (int64_t)k + 1, rates[k], T0 + (int64_t)k + 1);
        vex_table_export(t, 1, &st);
        assert_int_equal(st.prefix.has_kbps, 1);
        assert_true(st.prefix.kbps == rates[k]);
        assert_int_equal(signbit(st.prefix.kbps) != 0, k == 5);
    }
    vex_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_play),        cmocka_unit_test(test_shrinks_back),
        cmocka_unit_test(test_many_warnings),    cmocka_unit_test(test_sessionizer_aside),
        cmocka_unit_test(test_dimension_widens),
        cmocka_unit_test(test_narrow_sessionizer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
