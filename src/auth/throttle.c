/* throttle.c - failed-login counters in a fixed-size table.
 *
 * The table is a plain array searched linearly: it is consulted once per
 * login, next to an Argon2id verification that costs milliseconds, so a scan
 * of a few thousand short keys does not show; and a fixed capacity means a
 * flood of distinct names or addresses cannot make it grow. */
#include "auth/throttle.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define KEY_MAX 160

struct entry {
    char key[KEY_MAX]; /* "" when the slot is free */
    int fails;         /* failures in the current window */
    int locks;         /* lockouts earned so far, for the doubling */
    int64_t window_start;
    int64_t locked_until;
    int64_t last_seen;
};

struct vex_throttle {
    struct vex_throttle_policy policy;
    pthread_mutex_t lock;
    struct entry *entries;
};

int vex_throttle_create(const struct vex_throttle_policy *policy, struct vex_throttle **out)
{
    if (policy->max_failures < 1 || policy->window_ms < 1 || policy->lock_ms < 1 ||
        policy->lock_max_ms < policy->lock_ms || policy->capacity < 1)
        return VEX_EINVAL;
    struct vex_throttle *t = calloc(1, sizeof *t);
    if (!t)
        return VEX_ENOMEM;
    t->entries = calloc(policy->capacity, sizeof *t->entries);
    if (!t->entries || pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t->entries);
        free(t);
        return VEX_ENOMEM;
    }
    t->policy = *policy;
    *out = t;
    return 0;
}

void vex_throttle_destroy(struct vex_throttle *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t->entries);
    free(t);
}

/* Keys longer than KEY_MAX - 1 share their entry with every key of the same
 * prefix; that only makes throttling stricter for such names. */
static struct entry *find(struct vex_throttle *t, const char *key)
{
    for (size_t i = 0; i < t->policy.capacity; i++)
        if (t->entries[i].key[0] && strncmp(t->entries[i].key, key, KEY_MAX - 1) == 0)
            return &t->entries[i];
    return NULL;
}

static int64_t wait_s(const struct entry *e, int64_t now_ms)
{
    if (!e || e->locked_until <= now_ms)
        return 0;
    return (e->locked_until - now_ms + 999) / 1000;
}

int64_t vex_throttle_check(struct vex_throttle *t, const char *key, int64_t now_ms)
{
    pthread_mutex_lock(&t->lock);
    int64_t w = wait_s(find(t, key), now_ms);
    pthread_mutex_unlock(&t->lock);
    return w;
}

int64_t vex_throttle_fail(struct vex_throttle *t, const char *key, int64_t now_ms)
{
    const struct vex_throttle_policy *p = &t->policy;
    pthread_mutex_lock(&t->lock);
    struct entry *e = find(t, key);
    if (!e) {
        /* A free slot, else the one seen least recently. */
        e = &t->entries[0];
        for (size_t i = 0; i < p->capacity && e->key[0]; i++)
            if (!t->entries[i].key[0] || t->entries[i].last_seen < e->last_seen)
                e = &t->entries[i];
        memset(e, 0, sizeof *e);
        strncpy(e->key, key, KEY_MAX - 1);
        e->window_start = now_ms;
    }
    /* A key that stayed quiet for a whole window after its last lockout
     * starts over, so an old lockout does not weigh forever. */
    if (now_ms - e->last_seen > p->window_ms + p->lock_max_ms)
        e->locks = 0;
    if (now_ms - e->window_start > p->window_ms) {
        e->fails = 0;
        e->window_start = now_ms;
    }
    e->last_seen = now_ms;
    if (++e->fails >= p->max_failures) {
        int64_t lock = p->lock_ms;
        for (int i = 0; i < e->locks && lock < p->lock_max_ms; i++)
            lock *= 2;
        if (lock > p->lock_max_ms)
            lock = p->lock_max_ms;
        e->locks++;
        e->fails = 0;
        e->window_start = now_ms;
        e->locked_until = now_ms + lock;
    }
    int64_t w = wait_s(e, now_ms);
    pthread_mutex_unlock(&t->lock);
    return w;
}

void vex_throttle_forget(struct vex_throttle *t, const char *key)
{
    pthread_mutex_lock(&t->lock);
    struct entry *e = find(t, key);
    if (e)
        memset(e, 0, sizeof *e);
    pthread_mutex_unlock(&t->lock);
}
