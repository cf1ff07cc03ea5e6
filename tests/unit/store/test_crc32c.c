/* test_crc32c.c - CRC-32C against published check values.
 *
 * "123456789" -> 0xE3069283 is the catalogued check value of CRC-32/ISCSI;
 * the 32-byte vectors are those of RFC 3720, appendix B.4. Both the CPU
 * instruction path and the table path must give them, at every alignment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/crc32c.h"
#include "store/store_int.h"

static void test_check_value(void **state)
{
    (void)state;
    assert_true(vex_crc32c_of("123456789", 9) == 0xE3069283u);
    assert_true(vex_crc32c_extend_soft(0, "123456789", 9) == 0xE3069283u);
    assert_true(vex_crc32c_of("", 0) == 0);
}

static void test_rfc3720_vectors(void **state)
{
    (void)state;
    unsigned char zeros[32], ones[32], inc[32], dec[32];
    memset(zeros, 0, 32);
    memset(ones, 0xFF, 32);
    for (int i = 0; i < 32; i++) {
        inc[i] = (unsigned char)i;
        dec[i] = (unsigned char)(31 - i);
    }
    uint32_t (*fns[2])(uint32_t, const void *, size_t) = {vex_crc32c_extend,
                                                          vex_crc32c_extend_soft};
    for (int f = 0; f < 2; f++) {
        assert_true(fns[f](0, zeros, 32) == 0x8A9136AAu);
        assert_true(fns[f](0, ones, 32) == 0x62A8AB43u);
        assert_true(fns[f](0, inc, 32) == 0x46DD794Eu);
        assert_true(fns[f](0, dec, 32) == 0x113FDB5Cu);
    }
}

/* Splitting the input anywhere, at any alignment, must not change the sum. */
static void test_extend_and_alignment(void **state)
{
    (void)state;
    unsigned char buf[64 + 9];
    for (int off = 0; off < 64; off++) {
        memset(buf, 0xA5, sizeof(buf));
        memcpy(buf + off, "123456789", 9);
        for (int cut = 0; cut <= 9; cut++) {
            uint32_t c = vex_crc32c_extend(0, buf + off, (size_t)cut);
            assert_true(vex_crc32c_extend(c, buf + off + cut, (size_t)(9 - cut)) == 0xE3069283u);
            c = vex_crc32c_extend_soft(0, buf + off, (size_t)cut);
            assert_true(vex_crc32c_extend_soft(c, buf + off + cut, (size_t)(9 - cut)) ==
                        0xE3069283u);
        }
    }
    /* 32 zero bytes split at odd places, long enough for the 8-byte loops. */
    unsigned char z[40] = {0};
    for (int off = 0; off < 8; off++)
        for (int cut = 0; cut <= 32; cut += 5)
            assert_true(vex_crc32c_extend(vex_crc32c_extend(0, z + off, (size_t)cut), z + off + cut,
                                          (size_t)(32 - cut)) == 0x8A9136AAu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_rfc3720_vectors),
        cmocka_unit_test(test_extend_and_alignment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
