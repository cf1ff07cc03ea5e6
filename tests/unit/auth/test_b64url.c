/* test_b64url.c - base64url against the RFC 4648 test vectors, and the
 * strictness of the decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/b64url.h"
#include "core/err.h"

static void encode_vectors(void **state)
{
    (void)state;
    /* RFC 4648 section 10, without the padding. */
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char buf[16];
        size_t n = vex_b64url_encode((const uint8_t *)in[i], strlen(in[i]), buf);
        assert_int_equal(n, strlen(out[i]));
        assert_int_equal(vex_b64url_len(strlen(in[i])), strlen(out[i]));
        assert_string_equal(buf, out[i]);
    }
}

static void url_alphabet(void **state)
{
    (void)state;
    /* 0xfb 0xff is "+/8" in standard base64 and "-_8" in base64url. */
    const uint8_t raw[] = {0xfb, 0xff};
    char buf[8];
    vex_b64url_encode(raw, 2, buf);
    assert_string_equal(buf, "-_8");
    uint8_t *dec;
    size_t n;
    assert_int_equal(vex_b64url_decode("-_8", 3, &dec, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(dec[0], 0xfb);
    assert_int_equal(dec[1], 0xff);
    assert_int_equal(dec[2], 0); /* the extra NUL */
    free(dec);
}

static void decode_vectors(void **state)
{
    (void)state;
    uint8_t *dec;
    size_t n;
    assert_int_equal(vex_b64url_decode("Zm9vYmFy", 8, &dec, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(dec, "foobar", 6);
    free(dec);
    assert_int_equal(vex_b64url_decode("Zm9vYg", 6, &dec, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal((char *)dec, "foob");
    free(dec);
    assert_int_equal(vex_b64url_decode("", 0, &dec, &n), 0);
    assert_int_equal(n, 0);
    free(dec);
}

static void decode_rejects(void **state)
{
    (void)state;
    uint8_t *dec = NULL;
    size_t n;
    assert_int_equal(vex_b64url_decode("Zg==", 4, &dec, &n), VEX_EINVAL); /* padding */
    assert_int_equal(vex_b64url_decode("+/8", 3, &dec, &n), VEX_EINVAL);  /* base64 */
    assert_int_equal(vex_b64url_decode("Zm9vY", 5, &dec, &n), VEX_EINVAL); /* 4k+1 */
    assert_int_equal(vex_b64url_decode("Zm 9v", 5, &dec, &n), VEX_EINVAL);
    /* "Zh": 'h' leaves non-zero bits after the byte, another spelling of "f". */
    assert_int_equal(vex_b64url_decode("Zh", 2, &dec, &n), VEX_EINVAL);
    assert_null(dec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_vectors),
        cmocka_unit_test(url_alphabet),
        cmocka_unit_test(decode_vectors),
        cmocka_unit_test(decode_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
