/* test_rng.c - the generator's PRNG against the published reference sequences.
 *
 * The expected values come from the reference definitions of splitmix64 and
 * xoshiro256** (worked out independently, not with this code): if they change, every
 * seed's workload changes and `vex gen` output is no longer reproducible. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gen/rng.h"

static void test_splitmix64_reference(void **state)
{
    (void)state;
    uint64_t x = 0;
    assert_true(vex_rng_splitmix64(&x) == 0xe220a8397b1dcdafULL);
    assert_true(vex_rng_splitmix64(&x) == 0x6e789e6aa1b965f4ULL);
    assert_true(vex_rng_splitmix64(&x) == 0x06c45d188009454fULL);
    assert_true(x == 3 * 0x9e3779b97f4a7c15ULL);
}

static void test_xoshiro_reference(void **state)
{
    (void)state;
    struct vex_rng r = {{1, 2, 3, 4}};
    assert_true(vex_rng_next(&r) == 11520ULL);
    assert_true(vex_rng_next(&r) == 0ULL);
    assert_true(vex_rng_next(&r) == 1509978240ULL);
    assert_true(vex_rng_next(&r) == 1215971899390074240ULL);
}

static void test_seed_is_splitmix(void **state)
{
    (void)state;
    struct vex_rng r;
    vex_rng_seed(&r, 0);
    assert_true(r.s[0] == 0xe220a8397b1dcdafULL);
    assert_true(r.s[1] == 0x6e789e6aa1b965f4ULL);
    assert_true(r.s[2] == 0x06c45d188009454fULL);
}

static void test_ranges(void **state)
{
    (void)state;
    struct vex_rng r;
    vex_rng_seed(&r, 42);
    int seen[7] = {0};
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        double u = vex_rng_unit(&r);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
        uint32_t k = vex_rng_below(&r, 7);
        assert_true(k < 7);
        seen[k]++;
        assert_true(vex_rng_exp(&r, 5.0) >= 0.0);
        assert_true(vex_rng_lognormal(&r, 1200.0, 0.5) > 0.0);
    }
    /* mean of 100,000 uniforms: 0.5 with a standard error of 0.0009 */
    assert_true(sum / 100000 > 0.49 && sum / 100000 < 0.51);
    /* each of 7 values: 14,286 expected, standard deviation about 111 */
    for (int k = 0; k < 7; k++)
        assert_true(seen[k] > 13500 && seen[k] < 15100);
}

static void test_lognormal_median(void **state)
{
    (void)state;
    struct vex_rng r;
    vex_rng_seed(&r, 7);
    int below = 0;
    for (int i = 0; i < 20000; i++)
        below += vex_rng_lognormal(&r, 1200.0, 0.6) < 1200.0;
    /* half below the median: 10,000 with a standard deviation of 71 */
    assert_true(below > 9600 && below < 10400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splitmix64_reference),
        cmocka_unit_test(test_xoshiro_reference),
        cmocka_unit_test(test_seed_is_splitmix),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_lognormal_median),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
