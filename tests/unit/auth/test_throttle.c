/* test_throttle.c - failed-login lockouts, with a clock the test drives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/throttle.h"
#include "core/err.h"

/* 3 failures within 10 s lock a key for 2 s, then 4 s, capped at 5 s. */
static const struct vex_throttle_policy policy = {
    .max_failures = 3,
    .window_ms = 10000,
    .lock_ms = 2000,
    .lock_max_ms = 5000,
    .capacity = 2,
};

static void locks_after_max_failures(void **state)
{
    (void)state;
    struct vex_throttle *t;
    assert_int_equal(vex_throttle_create(&policy, &t), 0);
    assert_int_equal(vex_throttle_check(t, "u:a", 1000), 0);
    assert_int_equal(vex_throttle_fail(t, "u:a", 1000), 0);
    assert_int_equal(vex_throttle_fail(t, "u:a", 1100), 0);
    /* The third failure locks until 3200 ms: 2 s to wait. */
    assert_int_equal(vex_throttle_fail(t, "u:a", 1200), 2);
    assert_int_equal(vex_throttle_check(t, "u:a", 1200), 2);
    /* 1 ms left still counts as a second (Retry-After is whole seconds). */
    assert_int_equal(vex_throttle_check(t, "u:a", 3199), 1);
    assert_int_equal(vex_throttle_check(t, "u:a", 3200), 0);
    /* Other keys are not affected. */
    assert_int_equal(vex_throttle_check(t, "u:b", 1200), 0);
    /* Three more failures earn a doubled lockout: 4 s from 3400. */
    assert_int_equal(vex_throttle_fail(t, "u:a", 3200), 0);
    assert_int_equal(vex_throttle_fail(t, "u:a", 3300), 0);
    assert_int_equal(vex_throttle_fail(t, "u:a", 3400), 4);
    assert_int_equal(vex_throttle_check(t, "u:a", 7399), 1);
    assert_int_equal(vex_throttle_check(t, "u:a", 7400), 0);
    /* The next would be 8 s, capped at 5 s. */
    vex_throttle_fail(t, "u:a", 7400);
    vex_throttle_fail(t, "u:a", 7400);
    assert_int_equal(vex_throttle_fail(t, "u:a", 7400), 5);
    /* Forgetting (a successful login) clears everything. */
    vex_throttle_forget(t, "u:a");
    assert_int_equal(vex_throttle_check(t, "u:a", 7400), 0);
    assert_int_equal(vex_throttle_fail(t, "u:a", 7400), 0);
    vex_throttle_destroy(t);
}

static void window_forgets_old_failures(void **state)
{
    (void)state;
    struct vex_throttle *t;
    assert_int_equal(vex_throttle_create(&policy, &t), 0);
    assert_int_equal(vex_throttle_fail(t, "a:1.2.3.4", 0), 0);
    assert_int_equal(vex_throttle_fail(t, "a:1.2.3.4", 5000), 0);
    /* 10.001 s after the window opened: a new window, count 1. */
    assert_int_equal(vex_throttle_fail(t, "a:1.2.3.4", 10001), 0);
    assert_int_equal(vex_throttle_fail(t, "a:1.2.3.4", 10002), 0);
    assert_int_equal(vex_throttle_fail(t, "a:1.2.3.4", 10003), 2);
    /* Quiet for longer than window + longest lockout (15 s): the next
     * lockout is the first one again, 2 s rather than 4 s. */
    assert_int_equal(vex_throttle_fail(t, "a:1.2.3.4", 25004), 0);
    assert_int_equal(vex_throttle_fail(t, "a:1.2.3.4", 25005), 0);
    assert_int_equal(vex_throttle_fail(t, "a:1.2.3.4", 25006), 2);
    vex_throttle_destroy(t);
}

static void capacity_drops_stalest(void **state)
{
    (void)state;
    struct vex_throttle *t;
    assert_int_equal(vex_throttle_create(&policy, &t), 0);
    for (int i = 0; i < 3; i++)
        vex_throttle_fail(t, "old", 100);
    for (int i = 0; i < 3; i++)
        vex_throttle_fail(t, "new", 200);
    assert_int_equal(vex_throttle_check(t, "old", 300), 2);
    /* A third key takes the slot of the one seen least recently. */
    vex_throttle_fail(t, "third", 300);
    assert_int_equal(vex_throttle_check(t, "old", 300), 0);
    assert_int_equal(vex_throttle_check(t, "new", 300), 2);
    vex_throttle_destroy(t);
}

static void bad_policy(void **state)
{
    (void)state;
    struct vex_throttle *t;
    struct vex_throttle_policy p = policy;
    p.max_failures = 0;
    assert_int_equal(vex_throttle_create(&p, &t), VEX_EINVAL);
    p = policy;
    p.lock_max_ms = p.lock_ms - 1;
    assert_int_equal(vex_throttle_create(&p, &t), VEX_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(locks_after_max_failures),
        cmocka_unit_test(window_forgets_old_failures),
        cmocka_unit_test(capacity_drops_stalest),
        cmocka_unit_test(bad_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
