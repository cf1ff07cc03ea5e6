/* test_sids.c - the session table's own indexes: the sid index (an arena
 * of sid bytes and a hash of rows, no per-sid pointer): many sids across
 * index growth and arena blocks, sids that share prefixes, a sid longer than
 * an arena block, every row's sid found from its group's anchor (within
 * and across blocks), an import of a sid already present; and the map from row
 * to the extension of an irregular session, through growth and removals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "ingest/event.h"
#include "session/table.h"
#include "table_test.h"

#define T0 1709510400000LL
#define PAD "0123456789abcdef0123456789ab"

static void start(struct vex_table *t, const char *sid, size_t len, int64_t ts)
{
    struct vex_event e;
    memset(&e, 0, sizeof e);
    e.sid = sid;
    e.sid_len = (uint32_t)len;
    e.type = VEX_EV_START;
    e.live = -1;
    e.ts = ts;
    assert_int_equal(vex_table_apply(t, &e, "", T0), 0);
}

static void test_many(void **state)
{
    (void)state;
    struct vex_table *t;
    assert_int_equal(vex_table_create(&t), 0);
    /* 60,000 sids of ~40 bytes: several index doublings, three arena
     * blocks of 1 MiB. "s-1-..." shares a prefix with "s-10-..." etc. */
    char sid[64];
    for (int k = 0; k < 60000; k++) {
        snprintf(sid, sizeof sid, "s-%d-%s", k, PAD);
        start(t, sid, strlen(sid), T0 + k);
    }
    assert_int_equal(vex_table_count(t), 60000);
    /* Each again: no new row, and row k is still sid "s-k" with its ts. */
    for (int k = 0; k < 60000; k += 7) {
        snprintf(sid, sizeof sid, "s-%d-%s", k, PAD);
        start(t, sid, strlen(sid), 0); /* seq 0 again: a duplicate */
    }
    assert_int_equal(vex_table_count(t), 60000);
    struct vex_session_state st;
    vex_table_export(t, 12345, &st);
    assert_string_equal(st.sid, "s-12345-" PAD);
    assert_int_equal(st.attempt_ts, T0 + 12345);
    /* A sid is matched whole: "s-1-" PAD "x" is new. */
    snprintf(sid, sizeof sid, "s-1-%sx", PAD);
    start(t, sid, strlen(sid), T0);
    assert_int_equal(vex_table_count(t), 60001);
    /* The sid of a length, not up to a NUL: "s-2-" PAD from a longer one. */
    snprintf(sid, sizeof sid, "s-2-%szzz", PAD);
    start(t, sid, strlen(sid) - 3, T0);
    assert_int_equal(vex_table_count(t), 60001);
    vex_table_destroy(t);
}

static void test_long_sid(void **state)
{
    (void)state;
    struct vex_table *t;
    assert_int_equal(vex_table_create(&t), 0);
    size_t len = 1500000; /* longer than an arena block (1 MiB) */
    char *big = malloc(len + 1);
    assert_non_null(big);
    memset(big, 'x', len);
    big[len] = '\0';
    start(t, "a", 1, T0);
    start(t, big, len, T0 + 1);
    start(t, "b", 1, T0 + 2);
    start(t, big, len, T0 + 3); /* the same session */
    assert_int_equal(vex_table_count(t), 3);
    struct vex_session_state st;
    vex_table_export(t, 1, &st);
    assert_int_equal(strlen(st.sid), len);
    assert_int_equal(st.attempt_ts, T0 + 1);
    vex_table_export(t, 2, &st);
    assert_string_equal(st.sid, "b");
    /* Importing a sid that is there already. */
    vex_table_export(t, 0, &st);
    assert_int_equal(vex_table_import(t, &st), VEX_EEXIST);
    free(big);
    vex_table_destroy(t);
}

/* Row k's sid in test_every_row: "r-<k>-" and the first (k * 7) % 29
 * bytes of PAD; row 13 is 1,100,000 'y's (longer than a block, in the
 * middle of a group of 8 rows). */
#define LONG_ROW 13
#define LONG_LEN 1100000

static size_t row_sid(int k, char *buf, size_t cap)
{
    if (k == LONG_ROW) {
        memset(buf, 'y', LONG_LEN);
        buf[LONG_LEN] = '\0';
        return LONG_LEN;
    }
    int n = snprintf(buf, cap, "r-%d-%.*s", k, (k * 7) % 29, PAD);
    return (size_t)n;
}

struct sidseen {
    size_t rows, bad;
    char *buf;
};

static int visit_sids(void *ctx, const struct vex_columns *c)
{
    struct sidseen *g = ctx;
    for (size_t i = 0; i < c->rows; i++) {
        size_t row = c->sid_row0 + i;
        row_sid((int)row, g->buf, LONG_LEN + 1);
        if (strcmp(vex_sid_at(c->sid_anchor, c->sid_blocks, c->sid_used, row), g->buf))
            g->bad++;
    }
    g->rows += c->rows;
    return 0;
}

/* Sids are found from their row by walking from the group's anchor, across
 * arena blocks (~1.5 MiB of short sids: breaks inside groups) and past a
 * sid longer than a block: every row, by export and as the columns give
 * them to queries, and every sid again through the index. */
static void test_every_row(void **state)
{
    (void)state;
    enum { N = 60000 };
    struct vex_table *t;
    assert_int_equal(vex_table_create(&t), 0);
    char *buf = malloc(LONG_LEN + 1);
    assert_non_null(buf);
    for (int k = 0; k < N; k++) {
        size_t len = row_sid(k, buf, LONG_LEN + 1);
        start(t, buf, len, T0 + k);
    }
    assert_int_equal(vex_table_count(t), N);
    for (int k = 0; k < N; k++) {
        row_sid(k, buf, LONG_LEN + 1);
        struct vex_session_state st;
        vex_table_export(t, (size_t)k, &st);
        if (strcmp(st.sid, buf))
            fail_msg("row %d: sid %.40s", k, st.sid);
        assert_int_equal(st.attempt_ts, T0 + k);
    }
    struct sidseen g = {0, 0, buf};
    assert_int_equal(vex_table_scan_columns(t, T0 + N, 120000, visit_sids, &g), 0);
    assert_int_equal(g.rows, N);
    assert_int_equal(g.bad, 0);
    /* Every sid again (seq 0 once more): found, no new row. */
    for (int k = N; k-- > 0;) {
        size_t len = row_sid(k, buf, LONG_LEN + 1);
        start(t, buf, len, 0);
    }
    assert_int_equal(vex_table_count(t), N);
    free(buf);
    vex_table_destroy(t);
}

static void ev2(struct vex_table *t, const char *sid, int64_t seq, int type, int64_t ts)
{
    tt_apply(t, sid, seq, type, ts, T0);
}

/* 3,000 sessions get their `end` (seq 2) first: each becomes irregular (an
 * extension in the map). Then `start` (seq 0) for all, still irregular
 * (seq 1 missing), then `playing` (seq 1) for the even ones, which become
 * regular again (their entries removed), then for the odd ones. Every
 * session: start at T0 + k, playing 1 s later, end 10 s after that: startup
 * 1,000 ms, 10,000 ms of play, ENDED, nothing pending. */
static void test_irregular_map(void **state)
{
    (void)state;
    struct vex_table *t;
    assert_int_equal(vex_table_create(&t), 0);
    char sid[32];
    const int n = 3000;
    for (int k = 0; k < n; k++) {
        snprintf(sid, sizeof sid, "x%d", k);
        ev2(t, sid, 2, VEX_EV_END, T0 + k + 11000);
    }
    for (int k = 0; k < n; k++) {
        snprintf(sid, sizeof sid, "x%d", k);
        ev2(t, sid, 0, VEX_EV_START, T0 + k);
    }
    struct vex_session_state st;
    vex_table_export(t, 7, &st);
    assert_int_equal(st.npending, 1); /* seq 2 waits for seq 1 */
    assert_int_equal(st.prefix_next, 1);
    for (int pass = 0; pass < 2; pass++) {
        for (int k = pass; k < n; k += 2) {
            snprintf(sid, sizeof sid, "x%d", k);
            ev2(t, sid, 1, VEX_EV_PLAYING, T0 + k + 1000);
        }
        vex_table_export(t, 7, &st); /* odd: regular only after the second pass */
        assert_int_equal(st.npending, pass == 0 ? 1 : 0);
        vex_table_export(t, 8, &st);
        assert_int_equal(st.npending, 0);
    }
    for (int k = 0; k < n; k += 499) {
        vex_table_export(t, (size_t)k, &st);
        assert_int_equal(st.prefix_next, 3);
        assert_int_equal(st.npending, 0);
        assert_int_equal(st.min_seq, 0);
        assert_int_equal(st.prefix.state, VEX_STATE_ENDED);
        assert_int_equal(st.prefix.startup_ms, 1000);
        assert_int_equal(st.prefix.play_ms, 10000);
        assert_int_equal(st.attempt_ts, T0 + k);
    }
    vex_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_long_sid),
        cmocka_unit_test(test_every_row),
        cmocka_unit_test(test_irregular_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
