/* strpool.h - string interning: equal strings share one id and one copy.
 *
 * Ids are dense from 0; id 0 is always the empty string. Strings never move,
 * so pointers from vex_strpool_get() stay valid until the pool is destroyed.
 * Not thread-safe: the owner locks. */
#ifndef VEX_CORE_STRPOOL_H
#define VEX_CORE_STRPOOL_H

#include <stddef.h>
#include <stdint.h>

struct vex_strpool;

int vex_strpool_create(struct vex_strpool **out);
void vex_strpool_destroy(struct vex_strpool *p);

/* vex_strpool_intern returns the id of s[0..len) (adding it when new) in
 * *id. VEX_ENOMEM. */
int vex_strpool_intern(struct vex_strpool *p, const char *s, size_t len, uint32_t *id);

/* vex_strpool_find returns 0 and the id when s is in the pool, VEX_ENOENT
 * otherwise. */
int vex_strpool_find(const struct vex_strpool *p, const char *s, size_t len, uint32_t *id);

/* vex_strpool_get returns the NUL-terminated string of an id (borrowed). */
const char *vex_strpool_get(const struct vex_strpool *p, uint32_t id);
uint32_t vex_strpool_len(const struct vex_strpool *p, uint32_t id);

size_t vex_strpool_count(const struct vex_strpool *p);

/* vex_strpool_strings returns the array of all strings by id (borrowed,
 * valid until the next intern). */
const char *const *vex_strpool_strings(const struct vex_strpool *p);
size_t vex_strpool_bytes(const struct vex_strpool *p);

#endif
