/* test_saved.c - the checkpoint bookkeeping of the session table: the day of
 * the partition a session was last written to. The table keeps no column of
 * it (a flag says "the day of attempt_ts"), so these tests move attempt_ts
 * to another day after a save (an out-of-order event with a lower seq and an
 * earlier time) and check that the partition written before is still the
 * one reported, as a checkpoint needs it to rewrite that partition without
 * the session. Every expected value is worked out in the comments. */
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

#define T0 1709510400000LL /* 2024-03-04 00:00:00 UTC: day 19786 since the epoch */
#define HOUR 3600000LL
#define DAY 86400000LL
#define DAY0 19786

static void ev(struct vex_table *t, const char *sid, int64_t seq, int type, int64_t ts)
{
    tt_apply(t, sid, seq, type, ts, T0);
}

static void test_saved_day_follows_partition(void **state)
{
    (void)state;
    struct vex_table *t;
    assert_int_equal(vex_table_create(&t), 0);
    /* Seq 1 first, at 01:00 of day DAY0 + 1: attempt_ts is its time. */
    ev(t, "a", 1, VEX_EV_PLAYING, T0 + DAY + HOUR);
    ev(t, "b", 0, VEX_EV_START, T0 + 2 * HOUR);
    assert_int_equal(vex_table_attempt_ts(t, 0), T0 + DAY + HOUR);
    /* Never written: no partition, both dirty. */
    assert_true(vex_table_saved_day(t, 0) == INT64_MIN);
    assert_true(vex_table_saved_day(t, 1) == INT64_MIN);
    assert_int_equal(vex_table_dirty(t, 0), 1);

    assert_int_equal(vex_table_mark_saved(t, 0, DAY0 + 1), 0);
    assert_int_equal(vex_table_saved_day(t, 0), DAY0 + 1);
    assert_int_equal(vex_table_dirty(t, 0), 0);

    /* Seq 0 arrives, at 23:00 of day DAY0: attempt_ts moves a day back, the
     * session is dirty and was written to day DAY0 + 1, still. */
    ev(t, "a", 0, VEX_EV_START, T0 + 23 * HOUR);
    assert_int_equal(vex_table_attempt_ts(t, 0), T0 + 23 * HOUR);
    assert_int_equal(vex_table_dirty(t, 0), 1);
    assert_int_equal(vex_table_saved_day(t, 0), DAY0 + 1);
    /* Session b is untouched: still never written. */
    assert_true(vex_table_saved_day(t, 1) == INT64_MIN);

    /* The checkpoint writes it to its new day. */
    assert_int_equal(vex_table_mark_saved(t, 0, DAY0), 0);
    assert_int_equal(vex_table_saved_day(t, 0), DAY0);
    assert_int_equal(vex_table_dirty(t, 0), 0);

    /* A later event (seq 2, same day) keeps the partition and dirties. */
    ev(t, "a", 2, VEX_EV_HEARTBEAT, T0 + 23 * HOUR + 10000);
    assert_int_equal(vex_table_saved_day(t, 0), DAY0);
    assert_int_equal(vex_table_dirty(t, 0), 1);

    /* A day that is not attempt_ts's is kept as given, and replaced. */
    assert_int_equal(vex_table_mark_saved(t, 1, DAY0 + 5), 0);
    assert_int_equal(vex_table_saved_day(t, 1), DAY0 + 5);
    assert_int_equal(vex_table_mark_saved(t, 1, DAY0), 0);
    assert_int_equal(vex_table_saved_day(t, 1), DAY0);
    /* ... and an event moving b's attempt_ts (it has seq 0 already: it
     * cannot) leaves it: a heartbeat on the next day. */
    ev(t, "b", 1, VEX_EV_HEARTBEAT, T0 + DAY + 2 * HOUR);
    assert_int_equal(vex_table_attempt_ts(t, 1), T0 + 2 * HOUR);
    assert_int_equal(vex_table_saved_day(t, 1), DAY0);
    vex_table_destroy(t);
}

/* A session moved back twice after one save reports the day it was saved
 * to, not the day in between (02:00 of day DAY0 + 2, saved; then seq 1 at
 * 05:00 of DAY0 + 1; then seq 0 at 12:00 of DAY0). */
static void test_saved_day_moves_twice(void **state)
{
    (void)state;
    struct vex_table *t;
    assert_int_equal(vex_table_create(&t), 0);
    ev(t, "x", 2, VEX_EV_PLAYING, T0 + 2 * DAY + 2 * HOUR);
    assert_int_equal(vex_table_mark_saved(t, 0, DAY0 + 2), 0);
    ev(t, "x", 1, VEX_EV_PLAYING, T0 + DAY + 5 * HOUR);
    assert_int_equal(vex_table_attempt_ts(t, 0), T0 + DAY + 5 * HOUR);
    assert_int_equal(vex_table_saved_day(t, 0), DAY0 + 2);
    ev(t, "x", 0, VEX_EV_START, T0 + 12 * HOUR);
    assert_int_equal(vex_table_attempt_ts(t, 0), T0 + 12 * HOUR);
    assert_int_equal(vex_table_saved_day(t, 0), DAY0 + 2);
    /* Exported and imported, as a restart would (no saved day comes with
     * the state: the loader marks it). */
    struct vex_session_state st;
    vex_table_export(t, 0, &st);
    struct vex_table *u;
    assert_int_equal(vex_table_create(&u), 0);
    assert_int_equal(vex_table_import(u, &st), 0);
    assert_true(vex_table_saved_day(u, 0) == INT64_MIN);
    assert_int_equal(vex_table_mark_saved(u, 0, DAY0), 0);
    assert_int_equal(vex_table_saved_day(u, 0), DAY0);
    vex_table_destroy(u);
    vex_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_saved_day_follows_partition),
        cmocka_unit_test(test_saved_day_moves_twice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
