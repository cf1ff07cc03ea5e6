/* rng.h - the small deterministic random number generator of the workload generator.
 *
 * `vex gen` must print byte-identical output for the same arguments on every run, so it
 * cannot use rand() (whose sequence differs between C libraries) nor any shared state.
 * This is xoshiro256** (Blackman and Vigna), seeded through splitmix64, both written from
 * their published definitions. Everything is static inline: the generator draws a few
 * dozen numbers per session and the call overhead would show in the profile. */
#ifndef VEX_GEN_RNG_H
#define VEX_GEN_RNG_H

#include <math.h>
#include <stdint.h>

/* State of one stream; any value except all-zero is valid (seeding never makes it). */
struct vex_rng {
    uint64_t s[4];
};

/* vex_rng_splitmix64 advances `*x` by the golden-ratio increment and returns a
 * well-mixed 64-bit value of it. Also used as a stateless hash (vex_rng_mix). */
static inline uint64_t vex_rng_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* vex_rng_mix hashes two words into one: independent streams are seeded from
 * (seed, index) pairs with it, so that any session can be made on its own. */
static inline uint64_t vex_rng_mix(uint64_t a, uint64_t b)
{
    uint64_t x = a;
    uint64_t h = vex_rng_splitmix64(&x);
    x = h ^ b;
    return vex_rng_splitmix64(&x);
}

/* vex_rng_seed fills the four state words from splitmix64(seed), as the xoshiro
 * authors recommend; the state is never all zero because splitmix64 is a bijection
 * of a counter that takes four distinct values. */
static inline void vex_rng_seed(struct vex_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = vex_rng_splitmix64(&x);
}

static inline uint64_t vex_rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* vex_rng_next returns the next 64 random bits (xoshiro256**). */
static inline uint64_t vex_rng_next(struct vex_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = vex_rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = vex_rng_rotl(s[3], 45);
    return result;
}

/* vex_rng_unit returns a uniform double in [0, 1) with 53 random bits. */
static inline double vex_rng_unit(struct vex_rng *r)
{
    return (double)(vex_rng_next(r) >> 11) * 0x1.0p-53;
}

/* vex_rng_below returns a uniform integer in [0, n) for n >= 1. The multiply-shift
 * map has a bias below 2^-32 for the small n used here, which no test could see. */
static inline uint32_t vex_rng_below(struct vex_rng *r, uint32_t n)
{
    return (uint32_t)(((vex_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* vex_rng_chance returns 1 with probability p. */
static inline int vex_rng_chance(struct vex_rng *r, double p)
{
    return vex_rng_unit(r) < p;
}

/* vex_rng_normal returns a standard normal deviate (Box-Muller, one of the pair). */
static inline double vex_rng_normal(struct vex_rng *r)
{
    double u = 1.0 - vex_rng_unit(r); /* (0, 1], so log() stays finite */
    double v = vex_rng_unit(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* vex_rng_lognormal returns exp(N(log(median), sigma^2)): durations such as startup
 * times are skewed to the right, which a log-normal models with two readable knobs. */
static inline double vex_rng_lognormal(struct vex_rng *r, double median, double sigma)
{
    return median * exp(sigma * vex_rng_normal(r));
}

/* vex_rng_exp returns an exponential deviate of the given mean (time to the next
 * event of a Poisson process). */
static inline double vex_rng_exp(struct vex_rng *r, double mean)
{
    return -mean * log(1.0 - vex_rng_unit(r));
}

#endif
