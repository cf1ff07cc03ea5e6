/* gen.h - the realistic workload generator behind `vex gen` and the benchmarks.
 *
 * A generator makes the NDJSON events (SPEC section 2) of `sessions` viewing sessions
 * whose start times spread over `days` days ending at `end`, with diurnal traffic,
 * skewed CDN/asset shares, startup times, EBVS, failures, rebuffers, seeks, pauses,
 * bitrate changes and heartbeats (docs in gen.c). Events come session by session, each
 * session's events together and in `seq` order; sessions come in start-time order.
 *
 * Output depends only on the options: session i is made from its own random stream
 * seeded by (seed, i), so the bytes are the same whatever buffer sizes the caller uses.
 * A generator is single-threaded; two generators share nothing. */
#ifndef VEX_GEN_GEN_H
#define VEX_GEN_GEN_H

#include <stddef.h>
#include <stdint.h>

/* Longest line (one event and its newline) a generator writes; a buffer at least this
 * large always takes at least one event. */
#define VEX_GEN_LINE_MAX 1024
/* Longest --customer id: the sid "<customer>-s<seed>-<index>" must stay within the
 * 128 bytes SPEC section 2 allows. */
#define VEX_GEN_CUSTOMER_MAX 64
/* Limits on the options, checked by vex_gen_create. */
#define VEX_GEN_SESSIONS_MAX 1000000000000ULL
#define VEX_GEN_DAYS_MAX 3660
/* Latest --end (epoch seconds, year 2500): timestamps stay far below 2^53 ms. */
#define VEX_GEN_END_MAX 16725225600LL

struct vex_gen_opts {
    uint64_t sessions;    /* number of sessions, 1..VEX_GEN_SESSIONS_MAX */
    uint32_t days;        /* length of the window of start times, 1..VEX_GEN_DAYS_MAX */
    uint64_t seed;        /* any value */
    int64_t end;          /* end of the window, epoch seconds, days*86400..VEX_GEN_END_MAX */
    const char *customer; /* sid prefix, NULL or "" for none; copied; printable ASCII,
                             at most VEX_GEN_CUSTOMER_MAX bytes */
};

struct vex_gen;

/* vex_gen_opts_default fills `o` with: 0 sessions (the caller must set them), 7 days,
 * seed 1, end = now rounded down to the hour, no customer. */
void vex_gen_opts_default(struct vex_gen_opts *o);

/* vex_gen_create makes a generator (caller owns it; vex_gen_destroy frees it).
 * VEX_EINVAL: an option out of range (the message for a person is in vex_gen_check);
 * VEX_ENOMEM. */
int vex_gen_create(const struct vex_gen_opts *opts, struct vex_gen **out);

/* vex_gen_check returns NULL when `opts` is valid, else a static sentence saying
 * which option is wrong and why (for usage errors). */
const char *vex_gen_check(const struct vex_gen_opts *opts);

/* vex_gen_next writes whole event lines (each ending in '\n') into buf[0..cap) until
 * the buffer is full, `max_events` lines were written (0: no limit) or the workload is
 * exhausted. *len receives the bytes written and *events (may be NULL) the lines.
 * *len == 0 means the generator is done. VEX_EINVAL if cap < VEX_GEN_LINE_MAX. */
int vex_gen_next(struct vex_gen *g, char *buf, size_t cap, size_t max_events, size_t *len,
                 size_t *events);

/* vex_gen_counts reports the sessions begun and events handed out so far (either
 * pointer may be NULL). */
void vex_gen_counts(const struct vex_gen *g, uint64_t *sessions, uint64_t *events);

/* vex_gen_destroy frees a generator; NULL is allowed. */
void vex_gen_destroy(struct vex_gen *g);

#endif
