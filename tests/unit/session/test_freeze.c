/* test_freeze.c - frozen blocks of the session table and their
 * pre-aggregates (session/colpre.c): which sessions freeze (closed for
 * good, quiet for the whole window, one day of attempt_ts per block), the
 * sums a block carries (worked out by hand below), how the table hands
 * blocks out as column runs, and a late event for a frozen session: the
 * event is applied as to any session and the block dissolves. */
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
#include "session/colpre.h"
#include "session/table.h"

#define DAY 86400000LL
#define T0 1709510400000LL /* 2024-03-04 00:00:00 UTC */
#define TIMEOUT 120000LL
#define APPLIED (T0 + 20000) /* server clock of the first deliveries */

static void ev(struct vex_table *t, const char *sid, int64_t seq, int type, int64_t ts,
               const char *cdn, int live, int fatal, int64_t now)
{
    struct vex_event e;
    memset(&e, 0, sizeof e);
    e.sid = sid;
    e.sid_len = (uint32_t)strlen(sid);
    e.type = (uint8_t)type;
    e.fatal = (uint8_t)fatal;
    e.live = (int8_t)live;
    e.seq = seq;
    e.ts = ts;
    if (cdn) {
        e.dims[VEX_DIM_CDN] = cdn;
        e.dim_len[VEX_DIM_CDN] = (uint16_t)strlen(cdn);
    }
    assert_int_equal(vex_table_apply(t, &e, "", now), 0);
}

/* Four sessions, rows in this order:
 *   A vod  cdn x  start T0+1 s, playing T0+3 s, end T0+13 s: startup 2 s,
 *          10 s played, ENDED; Q = 100 * (1 - 0.0625 * (2 - 1)) = 93.75
 *   B live cdn y  start T0+2 s, playing T0+2.5 s, heartbeat T0+6.5 s: startup
 *          0.5 s, 4 s played, PLAYING (closed by timeout later); Q = 100
 *   C vod  cdn x  start T0+5 s, fatal error T0+6 s: a start failure (vsf),
 *          ENDED; Q = 0, counted
 *   D vod  cdn x  the next day: start T0+1d+1 s, playing +2 s, end +5 s:
 *          startup 1 s, 3 s played; Q = 100 */
static struct vex_table *make_table(void)
{
    struct vex_table *t;
    assert_int_equal(vex_table_create(&t), 0);
    ev(t, "A", 0, VEX_EV_START, T0 + 1000, "x", 0, 0, APPLIED);
    ev(t, "A", 1, VEX_EV_PLAYING, T0 + 3000, NULL, -1, 0, APPLIED);
    ev(t, "A", 2, VEX_EV_END, T0 + 13000, NULL, -1, 0, APPLIED);
    ev(t, "B", 0, VEX_EV_START, T0 + 2000, "y", 1, 0, APPLIED);
    ev(t, "B", 1, VEX_EV_PLAYING, T0 + 2500, NULL, -1, 0, APPLIED);
    ev(t, "B", 2, VEX_EV_HEARTBEAT, T0 + 6500, NULL, -1, 0, APPLIED);
    ev(t, "C", 0, VEX_EV_START, T0 + 5000, "x", 0, 0, APPLIED);
    ev(t, "C", 1, VEX_EV_ERROR, T0 + 6000, NULL, -1, 1, APPLIED);
    ev(t, "D", 0, VEX_EV_START, T0 + DAY + 1000, "x", 0, 0, APPLIED);
    ev(t, "D", 1, VEX_EV_PLAYING, T0 + DAY + 2000, NULL, -1, 0, APPLIED);
    ev(t, "D", 2, VEX_EV_END, T0 + DAY + 5000, NULL, -1, 0, APPLIED);
    assert_int_equal(vex_table_count(t), 4);
    return t;
}

/* What the table hands out: per run its first row's attempt_ts, its rows,
 * and a copy of its pre-aggregate's totals (key sums by code value). */
struct seen {
    int n;
    size_t rows[8];
    int64_t first_at[8];
    int has_pre[8];
    struct vex_colpre pre[8];
    struct vex_colsums x_vod[8], y_live[8]; /* key sums of cdn x (vod) and y (live) */
    size_t nkeys[8];
};

static int visit(void *ctx, const struct vex_columns *c)
{
    struct seen *s = ctx;
    assert_true(s->n < 8);
    int k = s->n++;
    s->rows[k] = c->rows;
    s->first_at[k] = c->attempt_ts[0];
    s->has_pre[k] = c->pre != NULL;
    memset(&s->x_vod[k], 0, sizeof s->x_vod[k]);
    memset(&s->y_live[k], 0, sizeof s->y_live[k]);
    if (c->pre) {
        s->pre[k] = *c->pre;
        s->nkeys[k] = c->pre->nkeys;
        for (size_t j = 0; j < c->pre->nkeys; j++) {
            const char *v = c->dict[c->pre->key_code[j]];
            if (!strcmp(v, "x"))
                s->x_vod[k] = c->pre->key_sums[2 * j];
            if (!strcmp(v, "y"))
                s->y_live[k] = c->pre->key_sums[2 * j + 1];
        }
    }
    return 0;
}

static void test_what_freezes(void **state)
{
    (void)state;
    struct vex_table *t = make_table();
    /* Quiet for exactly 24 h is not yet "more than": nothing. */
    assert_int_equal(vex_table_freeze(t, APPLIED + DAY, TIMEOUT, DAY, 1), 0);
    assert_int_equal(vex_table_frozen_rows(t), 0);
    /* Three days on, all four are quiet and B silent for longer than the
     * timeout and the window: two blocks, A B C (day 0) and D (day 1). */
    assert_int_equal(vex_table_freeze(t, T0 + 3 * DAY, TIMEOUT, DAY, 1), 0);
    assert_int_equal(vex_table_frozen_rows(t), 4);
    struct seen s = {0};
    assert_int_equal(vex_table_scan_columns(t, T0 + 3 * DAY, TIMEOUT, visit, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.rows[0], 3);
    assert_int_equal(s.rows[1], 1);
    assert_true(s.has_pre[0] && s.has_pre[1]);
    /* Freezing again changes nothing. */
    assert_int_equal(vex_table_freeze(t, T0 + 3 * DAY, TIMEOUT, DAY, 1), 0);
    assert_int_equal(vex_table_frozen_rows(t), 4);
    vex_table_destroy(t);

    /* Runs shorter than min_rows stay ordinary rows: day 0 has 3, day 1 one. */
    t = make_table();
    assert_int_equal(vex_table_freeze(t, T0 + 3 * DAY, TIMEOUT, DAY, 3), 0);
    assert_int_equal(vex_table_frozen_rows(t), 3);
    memset(&s, 0, sizeof s);
    assert_int_equal(vex_table_scan_columns(t, T0 + 3 * DAY, TIMEOUT, visit, &s), 0);
    assert_int_equal(s.n, 2);
    assert_true(s.has_pre[0] && !s.has_pre[1]);
    assert_int_equal(s.first_at[1], T0 + DAY + 1000);
    vex_table_destroy(t);

    /* B is silent since T0+6.5 s: at T0 + 1 day + 100 s it is closed by the
     * timeout but could still be reopened by a clock step within the quiet
     * window (silent for less than timeout + 24 h): A and C freeze around it
     * only in blocks of their own. */
    t = make_table();
    assert_int_equal(vex_table_freeze(t, T0 + DAY + 100000, TIMEOUT, DAY, 1), 0);
    assert_int_equal(vex_table_frozen_rows(t), 3); /* A, C, D */
    memset(&s, 0, sizeof s);
    assert_int_equal(vex_table_scan_columns(t, T0 + DAY + 100000, TIMEOUT, visit, &s), 0);
    assert_int_equal(s.n, 4); /* [A] [B] [C] [D] */
    assert_true(s.has_pre[0] && !s.has_pre[1] && s.has_pre[2] && s.has_pre[3]);
    vex_table_destroy(t);
}

static void test_block_sums(void **state)
{
    (void)state;
    struct vex_table *t = make_table();
    assert_int_equal(vex_table_freeze(t, T0 + 3 * DAY, TIMEOUT, DAY, 1), 0);
    struct seen s = {0};
    assert_int_equal(vex_table_scan_columns(t, T0 + 3 * DAY, TIMEOUT, visit, &s), 0);
    const struct vex_colpre *p = &s.pre[0];
    assert_int_equal(p->at_min, T0 + 1000);
    assert_int_equal(p->at_max, T0 + 5000);
    assert_int_equal(p->lt_min, T0 + 6000);
    assert_int_equal(p->lt_max, T0 + 13000);
    assert_int_equal(p->key_dim, VEX_DIM_CDN);
    /* vod: A and C. */
    const struct vex_colsums *v = &p->all[0];
    assert_int_equal(v->attempts, 2);
    assert_int_equal(v->played, 1);
    assert_int_equal(v->vsf, 1);
    assert_int_equal(v->vpf, 0);
    assert_int_equal(v->errors, 1);
    assert_int_equal(v->ebvs, 0);
    assert_int_equal(v->endedplays, 1);
    assert_int_equal(v->play_ms, 10000);
    assert_int_equal(v->startup_ms, 2000);
    assert_int_equal(v->dur_ms, 12000 + 1000);
    assert_int_equal(v->q_n, 2);
    assert_true(v->q_sum == 93.75);
    /* live: B. */
    const struct vex_colsums *l = &p->all[1];
    assert_int_equal(l->attempts, 1);
    assert_int_equal(l->played, 1);
    assert_int_equal(l->play_ms, 4000);
    assert_int_equal(l->startup_ms, 500);
    assert_int_equal(l->dur_ms, 4500);
    assert_int_equal(l->q_n, 1);
    assert_true(l->q_sum == 100.0);
    /* By cdn: x holds A and C (vod), y holds B (live). */
    assert_int_equal(s.nkeys[0], 2);
    assert_int_equal(s.x_vod[0].attempts, 2);
    assert_int_equal(s.x_vod[0].play_ms, 10000);
    assert_int_equal(s.y_live[0].attempts, 1);
    assert_int_equal(s.y_live[0].play_ms, 4000);
    /* Day 1: D. */
    assert_int_equal(s.pre[1].all[0].attempts, 1);
    assert_int_equal(s.pre[1].all[0].startup_ms, 1000);
    assert_int_equal(s.pre[1].all[0].play_ms, 3000);
    assert_true(s.pre[1].all[0].q_sum == 100.0);
    assert_int_equal(s.pre[1].all[1].attempts, 0);
    vex_table_destroy(t);
}

static int get_b(void *ctx, const struct vex_record *r, size_t n)
{
    struct vex_record *out = ctx;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(r[i].sid, "B"))
            *out = r[i];
    return 0;
}

static void test_late_event_thaws(void **state)
{
    (void)state;
    struct vex_table *t = make_table();
    assert_int_equal(vex_table_freeze(t, T0 + 3 * DAY, TIMEOUT, DAY, 1), 0);
    assert_int_equal(vex_table_frozen_rows(t), 4);
    /* A copy of a seq B already has changes nothing and keeps the block. */
    ev(t, "B", 1, VEX_EV_PLAYING, T0 + 2500, NULL, -1, 0, T0 + 3 * DAY);
    assert_int_equal(vex_table_frozen_rows(t), 4);
    /* B's next event, three days late: it ends at T0+8.5 s, 2 s more play. */
    ev(t, "B", 3, VEX_EV_END, T0 + 8500, NULL, -1, 0, T0 + 3 * DAY);
    assert_int_equal(vex_table_frozen_rows(t), 1); /* D's block stays */
    struct vex_record b;
    memset(&b, 0, sizeof b);
    assert_int_equal(vex_table_scan(t, T0, T0 + DAY, T0 + 3 * DAY, TIMEOUT, get_b, &b), 0);
    assert_string_equal(b.sid, "B");
    assert_int_equal(b.state, VEX_STATE_ENDED);
    assert_int_equal(b.play_ms, 6000);
    assert_int_equal(b.last_ts, T0 + 8500);
    struct seen s = {0};
    assert_int_equal(vex_table_scan_columns(t, T0 + 3 * DAY, TIMEOUT, visit, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.rows[0], 3);
    assert_false(s.has_pre[0]);
    assert_true(s.has_pre[1]);
    /* B just changed: freezing again takes A and C apart (min 1 row) but
     * not B, nor A and C together (they are not adjacent). */
    assert_int_equal(vex_table_freeze(t, T0 + 3 * DAY + 1000, TIMEOUT, DAY, 2), 0);
    assert_int_equal(vex_table_frozen_rows(t), 1);
    assert_int_equal(vex_table_freeze(t, T0 + 3 * DAY + 1000, TIMEOUT, DAY, 1), 0);
    assert_int_equal(vex_table_frozen_rows(t), 3);
    vex_table_destroy(t);
}

static void test_open_rows_refused(void **state)
{
    (void)state;
    /* vex_colpre_build sums closed rows only: B is open 1 minute after its
     * last event. */
    struct vex_table *t = make_table();
    struct vex_columns c;
    struct vex_colpre p;
    vex_table_columns(t, T0 + 66500, TIMEOUT, &c);
    assert_int_equal(vex_colpre_build(&c, 0, 3, VEX_DIM_CDN, &p), VEX_EINVAL);
    assert_int_equal(vex_colpre_build(&c, 0, 0, VEX_DIM_CDN, &p), VEX_EINVAL);
    assert_int_equal(vex_colpre_build(&c, 2, 4, VEX_DIM_CDN, &p), 0); /* C, D */
    assert_int_equal(p.all[0].attempts, 2);
    assert_int_equal(p.nkeys, 1);
    vex_colpre_deinit(&p);
    vex_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_what_freezes),
        cmocka_unit_test(test_block_sums),
        cmocka_unit_test(test_late_event_thaws),
        cmocka_unit_test(test_open_rows_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
