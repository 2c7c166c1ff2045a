/* Shared by the AVX-512 kernel files (pool_avx512.c, im2col_avx512.c): the target attribute
 * and lane masks.
 * Include only inside `#if defined(__GNUC__) && defined(__x86_64__)`. */
#ifndef LAM_KERNELS_AVX512_H
#define LAM_KERNELS_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#include "v16.h" /* first_bits */

#define AVX512 __attribute__((target("avx512f")))

/* exp(x) = 2^n e^r with n = round(x / ln 2) and |r| <= ln 2 / 2, e^r by its Taylor
 * polynomial of degree 6 (relative error below 2e-7), 2^n by vscalefps; sigmoid(x) =
 * 1 / (1 + exp(-x)) with a true division, tanh(x) = 2 sigmoid(2x) - 1 (absolute error
 * ~1e-7 near 0). Shared by the recurrent gates and the transformer kernels. */
static inline AVX512 __m512 exp16(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static inline AVX512 __m512 sigm16(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

static inline AVX512 __m512 tanh16(__m512 x)
{
    const __m512 two = _mm512_set1_ps(2.0f);
    return _mm512_fmsub_ps(two, sigm16(_mm512_mul_ps(two, x)), _mm512_set1_ps(1.0f));
}

#endif
