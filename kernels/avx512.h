/* Shared by the AVX-512 kernel files (pool_avx512.c, im2col_avx512.c): the target attribute
 * and lane masks.
 * Include only inside `#if defined(__GNUC__) && defined(__x86_64__)`. */
#ifndef LAM_KERNELS_AVX512_H
#define LAM_KERNELS_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#define AVX512 __attribute__((target("avx512f")))

/* bits [0, n) set; none for n <= 0, all 16 for n >= 16 */
static inline __mmask16 first_bits(int64_t n)
{
    return (__mmask16)(n <= 0 ? 0u : n >= 16 ? 0xffffu : (1u << n) - 1u);
}

#endif
