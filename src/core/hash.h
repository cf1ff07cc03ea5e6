/* hash.h - a fast non-cryptographic hash for in-memory tables. */
#ifndef VEX_CORE_HASH_H
#define VEX_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* vex_hash_bytes hashes len bytes (64-bit FNV-1a with a final mix). Not for
 * anything an attacker must not be able to collide on purpose beyond
 * slowing a table down. */
uint64_t vex_hash_bytes(const void *p, size_t len);

#endif
