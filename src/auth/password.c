/* password.c - Argon2id hashing and verification of user passwords.
 *
 * Cost: 19 MiB of memory, 2 passes, 1 lane (the OWASP recommendation for
 * Argon2id). Each login verifies one hash, so these figures also bound what a
 * burst of logins costs the server (the throttle in throttle.h bounds the
 * burst). */
#include "auth/password.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>
#include <openssl/crypto.h>

#include "auth/secret.h"
#include "core/err.h"

#define T_COST 2
#define M_COST_KIB 19456
#define PARALLELISM 1
#define SALT_LEN 16
#define HASH_LEN 32

int vex_password_hash(const char *pwd, size_t len, char **encoded_out)
{
    if (len == 0 || len > VEX_PASSWORD_MAX)
        return VEX_EINVAL;
    uint8_t salt[SALT_LEN];
    int rc = vex_secret_random(salt, sizeof salt);
    if (rc)
        return rc;
    size_t enc_len = argon2_encodedlen(T_COST, M_COST_KIB, PARALLELISM, SALT_LEN, HASH_LEN,
                                       Argon2_id);
    char *enc = malloc(enc_len);
    if (!enc)
        return VEX_ENOMEM;
    if (argon2id_hash_encoded(T_COST, M_COST_KIB, PARALLELISM, pwd, len, salt, SALT_LEN,
                              HASH_LEN, enc, enc_len) != ARGON2_OK) {
        free(enc);
        return VEX_EIO;
    }
    *encoded_out = enc;
    return 0;
}

int vex_password_verify(const char *encoded, const char *pwd, size_t len)
{
    if (!encoded || strncmp(encoded, "$argon2id$", 10) != 0 || len > VEX_PASSWORD_MAX)
        return VEX_EAUTH;
    /* libargon2 compares the computed and stored hashes in constant time. */
    return argon2id_verify(encoded, pwd, len) == ARGON2_OK ? 0 : VEX_EAUTH;
}

void vex_password_burn(const char *pwd, size_t len)
{
    /* Hashing with the stored parameters is what a verification costs; the
     * salt need not be secret or random because the result is thrown away. */
    static const char salt[] = "vex-burn-salt-16";
    uint8_t out[HASH_LEN];
    if (len > VEX_PASSWORD_MAX)
        len = VEX_PASSWORD_MAX;
    (void)argon2id_hash_raw(T_COST, M_COST_KIB, PARALLELISM, pwd, len, salt, SALT_LEN, out,
                            HASH_LEN);
    OPENSSL_cleanse(out, sizeof out);
}
