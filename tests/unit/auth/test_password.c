/* test_password.c - Argon2id hashing of passwords. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/password.h"
#include "core/err.h"

static void hash_and_verify(void **state)
{
    (void)state;
    const char *pwd = "correct horse battery staple";
    char *h1 = NULL, *h2 = NULL;
    assert_int_equal(vex_password_hash(pwd, strlen(pwd), &h1), 0);
    assert_int_equal(vex_password_hash(pwd, strlen(pwd), &h2), 0);
    /* PHC string with the parameters password.c documents. */
    assert_true(strncmp(h1, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    assert_null(strstr(h1, pwd));
    assert_null(strstr(h1, "horse"));
    /* A fresh salt each time. */
    assert_string_not_equal(h1, h2);
    assert_int_equal(vex_password_verify(h1, pwd, strlen(pwd)), 0);
    assert_int_equal(vex_password_verify(h2, pwd, strlen(pwd)), 0);
    assert_int_equal(vex_password_verify(h1, "correct horse battery stapl", 27), VEX_EAUTH);
    assert_int_equal(vex_password_verify(h1, "Correct horse battery staple", 28), VEX_EAUTH);
    free(h1);
    free(h2);
}

static void refuses(void **state)
{
    (void)state;
    char *h = NULL;
    assert_int_equal(vex_password_hash("", 0, &h), VEX_EINVAL);
    char big[VEX_PASSWORD_MAX + 1];
    memset(big, 'x', sizeof big);
    assert_int_equal(vex_password_hash(big, sizeof big, &h), VEX_EINVAL);
    assert_null(h);
    /* Only Argon2id hashes verify; other strings never match. */
    assert_int_equal(vex_password_verify(NULL, "x", 1), VEX_EAUTH);
    assert_int_equal(vex_password_verify("x", "x", 1), VEX_EAUTH);
    assert_int_equal(vex_password_verify("$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$"
                                         "aaaaaaaaaaaaaaaaaaaaaa",
                                         "x", 1),
                     VEX_EAUTH);
    vex_password_burn("whatever", 8); /* must simply return */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_and_verify),
        cmocka_unit_test(refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
