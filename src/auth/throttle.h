/* throttle.h - counts failed logins per key (a user name, a client address)
 * and locks a key out for a while after too many, with a lockout that doubles
 * each time it is earned again. Thread-safe. */
#ifndef VEX_AUTH_THROTTLE_H
#define VEX_AUTH_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

struct vex_throttle_policy {
    int max_failures;    /* failures within window_ms that earn a lockout */
    int64_t window_ms;   /* failures older than this are forgotten */
    int64_t lock_ms;     /* first lockout; each further one doubles it */
    int64_t lock_max_ms; /* longest lockout */
    size_t capacity;     /* keys remembered at most; the stalest is dropped */
};

struct vex_throttle;

/* vex_throttle_create copies the policy. VEX_EINVAL for a nonsensical
 * policy, VEX_ENOMEM. */
int vex_throttle_create(const struct vex_throttle_policy *policy, struct vex_throttle **out);

void vex_throttle_destroy(struct vex_throttle *t);

/* vex_throttle_check returns 0 when key may try now, else the number of
 * seconds (rounded up, at least 1) until it may. now_ms is a monotonic clock. */
int64_t vex_throttle_check(struct vex_throttle *t, const char *key, int64_t now_ms);

/* vex_throttle_fail records a failed attempt of key and returns what
 * vex_throttle_check would return right after it. */
int64_t vex_throttle_fail(struct vex_throttle *t, const char *key, int64_t now_ms);

/* vex_throttle_forget drops what is known of key (after a success). */
void vex_throttle_forget(struct vex_throttle *t, const char *key);

#endif
