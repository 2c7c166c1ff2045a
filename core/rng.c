/* Counter-based RNG: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3", SC'11). The output is a pure function of (seed, stream, index), so dropout masks,
 * initial weights and shuffles never depend on thread count or call order. */
#include "core_internal.h"

#include <math.h>

static void philox(uint32_t ctr[4], const uint32_t key_in[2])
{
    uint32_t k0 = key_in[0], k1 = key_in[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * ctr[0];
        uint64_t p1 = (uint64_t)0xCD9E8D57u * ctr[2];
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        uint32_t n0 = hi1 ^ ctr[1] ^ k0;
        uint32_t n2 = hi0 ^ ctr[3] ^ k1;
        ctr[0] = n0;
        ctr[1] = lo1;
        ctr[2] = n2;
        ctr[3] = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

static void block(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4])
{
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    out[0] = (uint32_t)index;
    out[1] = (uint32_t)(index >> 32);
    out[2] = (uint32_t)stream;
    out[3] = (uint32_t)(stream >> 32);
    philox(out, key);
}

uint64_t lam_rng_u64(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint32_t o[4];
    block(seed, stream, index, o);
    return ((uint64_t)o[0] << 32) | o[1];
}

float lam_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint32_t o[4];
    block(seed, stream, index, o);
    return (float)(o[0] >> 8) * (1.0f / 16777216.0f);
}

void lam__rng_uniform4(uint64_t seed, uint64_t stream, uint64_t index, float out[4])
{
    uint32_t o[4];
    block(seed, stream, index, o);
    for (int i = 0; i < 4; i++) {
        out[i] = (float)(o[i] >> 8) * (1.0f / 16777216.0f);
    }
}

float lam_rng_normal(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint32_t o[4];
    block(seed, stream, index, o);
    /* u1 in (0, 1]: never log(0) */
    double u1 = ((double)o[0] + 1.0) / 4294967296.0;
    double u2 = (double)o[1] / 4294967296.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
