/* rng.h — small deterministic generators (splitmix64), the same on every machine. */
#ifndef G2R_RNG_H
#define G2R_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct { uint64_t s; } g2r_rng;

static inline uint64_t g2r_rng_u64(g2r_rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* uniform in [0, 1) with 24 bits */
static inline float g2r_rng_f32(g2r_rng *r) { return (float)(g2r_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

/* standard normal, Box-Muller (one value per call keeps the stream simple) */
static inline float g2r_rng_normal(g2r_rng *r) {
    double u1 = ((double)(g2r_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(g2r_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

#endif
