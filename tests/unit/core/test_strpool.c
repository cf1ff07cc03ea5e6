/* test_strpool.c - interning: ids are dense and stable, strings never move,
 * lookups survive index growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/strpool.h"

static void test_basics(void **state)
{
    (void)state;
    struct vex_strpool *p;
    uint32_t id;
    assert_int_equal(vex_strpool_create(&p), 0);
    assert_int_equal(vex_strpool_count(p), 1);
    assert_string_equal(vex_strpool_get(p, 0), "");
    assert_int_equal(vex_strpool_intern(p, "", 0, &id), 0);
    assert_int_equal(id, 0);
    assert_int_equal(vex_strpool_intern(p, "cdn-a", 5, &id), 0);
    assert_int_equal(id, 1);
    assert_int_equal(vex_strpool_intern(p, "cdn-ab", 5, &id), 0); /* same 5 bytes */
    assert_int_equal(id, 1);
    assert_int_equal(vex_strpool_intern(p, "a\0b", 3, &id), 0); /* embedded NUL */
    assert_int_equal(id, 2);
    assert_int_equal(vex_strpool_len(p, 2), 3);
    assert_int_equal(vex_strpool_find(p, "a\0b", 3, &id), 0);
    assert_int_equal(id, 2);
    assert_int_equal(vex_strpool_find(p, "nope", 4, &id), VEX_ENOENT);
    assert_string_equal(vex_strpool_get(p, 99), ""); /* out of range reads as "" */
    vex_strpool_destroy(p);
}

static void test_growth_keeps_ids_and_pointers(void **state)
{
    (void)state;
    struct vex_strpool *p;
    assert_int_equal(vex_strpool_create(&p), 0);
    enum { N = 300000 };
    char buf[32];
    const char *first = NULL;
    for (uint32_t i = 0; i < N; i++) {
        int n = snprintf(buf, sizeof buf, "session-%u", i);
        uint32_t id;
        assert_int_equal(vex_strpool_intern(p, buf, (size_t)n, &id), 0);
        assert_int_equal(id, i + 1);
        if (i == 0)
            first = vex_strpool_get(p, 1);
    }
    assert_int_equal(vex_strpool_count(p), N + 1);
    assert_ptr_equal(vex_strpool_get(p, 1), first); /* never moved */
    for (uint32_t i = 0; i < N; i += 997) {
        int n = snprintf(buf, sizeof buf, "session-%u", i);
        uint32_t id;
        assert_int_equal(vex_strpool_find(p, buf, (size_t)n, &id), 0);
        assert_int_equal(id, i + 1);
        assert_string_equal(vex_strpool_strings(p)[id], buf);
    }
    vex_strpool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_growth_keeps_ids_and_pointers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
