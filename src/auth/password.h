/* password.h - password hashing with Argon2id (libargon2).
 *
 * The stored form is the PHC string "$argon2id$v=19$m=...,t=...,p=...$salt$hash",
 * which carries its own parameters, so that raising the cost later keeps old
 * hashes verifiable. */
#ifndef VEX_AUTH_PASSWORD_H
#define VEX_AUTH_PASSWORD_H

#include <stddef.h>

/* Longest password accepted, in bytes: bounds the work a request can cause. */
#define VEX_PASSWORD_MAX 1024

/* vex_password_hash hashes pwd[0..len) with a fresh 16-byte salt from
 * RAND_bytes and returns the PHC string (malloc'd, caller frees).
 * VEX_EINVAL for an empty or over-long password, VEX_ENOMEM, VEX_EIO. */
int vex_password_hash(const char *pwd, size_t len, char **encoded_out);

/* vex_password_verify checks pwd against a PHC string: 0 when it matches,
 * VEX_EAUTH when not (also for a malformed or non-Argon2id string). Takes
 * tens of milliseconds by design: never call it under a lock. */
int vex_password_verify(const char *encoded, const char *pwd, size_t len);

/* vex_password_burn does the work of one verification against a fixed hash
 * and discards the result, so that a login for an unknown user takes as long
 * as one with a wrong password and does not reveal which names exist. */
void vex_password_burn(const char *pwd, size_t len);

#endif
