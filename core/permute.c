/* Fisher-Yates permutations drawn from the counter-based RNG. Shared by the data floor
 * (epoch shuffles, splits) and the model floor (lam_fit's shuffles), so both shuffle a set
 * of n samples the same way for the same (seed, stream). */
#include "core_internal.h"

/* Uniform integer in [0, range) from the counter-based RNG. Rejection sampling removes the
 * modulo bias: draws below 2^64 mod range are redrawn with the next counter. For n below
 * 2^40 a redraw happens with probability < 2^-24, so almost every i costs one draw. */
static uint64_t draw_below(uint64_t seed, uint64_t stream, uint64_t i, uint64_t range)
{
    const uint64_t threshold = (0 - range) % range; /* = 2^64 mod range */
    for (uint64_t attempt = 0; attempt < 0xffff; attempt++) {
        uint64_t v = lam_rng_u64(seed, stream, i << 16 | attempt);
        if (v >= threshold) {
            return v % range;
        }
    }
    /* unreachable in practice (probability < 2^-1000000); keeps the loop bounded */
    return lam_rng_u64(seed, stream, i << 16 | 0xffff) % range;
}

void lam__permute(uint64_t seed, uint64_t stream, int64_t n, int64_t *perm)
{
    for (int64_t i = 0; i < n; i++) {
        perm[i] = i;
    }
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)draw_below(seed, stream, (uint64_t)i, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
