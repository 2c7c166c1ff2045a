/* The transformer's transcendental loops with AVX-512 (callers check lam__best_isa()): the
 * tanh-form GELU and the attention softmax rows. glibc's scalar tanhf and expf would cost a
 * GPT step more than its attention GEMMs (a gpt-mini step takes 1.5 million GELUs and 0.8
 * million exps forward). exp16 and sigm16 are avx512.h's; as with the recurrent gates, these
 * are not the portable loops' bits, and the kernel tests hold both to the naive twins.
 *
 * GELU(x) = x (1 + tanh(u)) / 2 = x sigmoid(2u), u = c (x + k x^3), c = sqrt(2/pi),
 * k = 0.044715; with s = sigmoid(2u): GELU'(x) = s + 2 x s (1 - s) c (1 + 3 k x^2). */
#include <math.h>

#include "kernels.h"

#if defined(__GNUC__) && defined(__x86_64__)

#include "avx512.h"

#define GELU_C 0.7978845608028654f
#define GELU_K 0.044715f

/* sigmoid(2u) of x, and 2u's derivative factor's pieces */
static inline AVX512 __m512 gelu_s(__m512 x)
{
    const __m512 x2 = _mm512_mul_ps(x, x);
    const __m512 inner = _mm512_fmadd_ps(_mm512_set1_ps(GELU_K), x2, _mm512_set1_ps(1.0f));
    const __m512 u2 = _mm512_mul_ps(_mm512_set1_ps(2.0f * GELU_C), _mm512_mul_ps(x, inner));
    return sigm16(u2);
}

AVX512 void lam__gelu_tanh_fwd_avx512(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = first_bits(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(v, gelu_s(v)));
    }
}

AVX512 void lam__gelu_tanh_bwd_avx512(int64_t n, const float *x, const float *dy, float *dx)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = first_bits(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __m512 s = gelu_s(v);
        const __m512 x2 = _mm512_mul_ps(v, v);
        /* du/dx / c = 1 + 3 k x^2 */
        const __m512 du = _mm512_fmadd_ps(_mm512_set1_ps(3.0f * GELU_K), x2, one);
        const __m512 t = _mm512_mul_ps(_mm512_mul_ps(s, _mm512_sub_ps(one, s)),
                                       _mm512_mul_ps(_mm512_set1_ps(2.0f * GELU_C), v));
        const __m512 d = _mm512_fmadd_ps(t, du, s);
        _mm512_mask_storeu_ps(dx + i, m,
                              _mm512_mul_ps(d, _mm512_maskz_loadu_ps(m, dy + i)));
    }
}

AVX512 void lam__attn_softmax_row_avx512(int64_t n, float scale, const float *s, float *p)
{
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 m = first_bits(n - j);
        mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, s + j));
    }
    const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), vs = _mm512_set1_ps(scale);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 m = first_bits(n - j);
        const __m512 e =
            exp16(_mm512_mul_ps(vs, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + j), vmax)));
        _mm512_mask_storeu_ps(p + j, m, e);
        sum = _mm512_mask_add_ps(sum, m, sum, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 m = first_bits(n - j);
        _mm512_mask_storeu_ps(p + j, m, _mm512_mul_ps(inv, _mm512_maskz_loadu_ps(m, p + j)));
    }
}

AVX512 void lam__attn_softmax_bwd_row_avx512(int64_t n, float scale, const float *p,
                                             const float *dp, float *ds)
{
    __m512 dot = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 m = first_bits(n - j);
        dot = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p + j), _mm512_maskz_loadu_ps(m, dp + j),
                              dot);
    }
    const __m512 vd = _mm512_set1_ps(_mm512_reduce_add_ps(dot)), vs = _mm512_set1_ps(scale);
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 m = first_bits(n - j);
        const __m512 pv = _mm512_mul_ps(vs, _mm512_maskz_loadu_ps(m, p + j));
        const __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, dp + j), vd);
        _mm512_mask_storeu_ps(ds + j, m, _mm512_mul_ps(pv, d));
    }
}

#else

/* Never called off x86-64 (lam__best_isa() gives no AVX-512 there); defined for the link. */
void lam__gelu_tanh_fwd_avx512(int64_t n, const float *x, float *y)
{
    (void)n, (void)x, (void)y;
}
void lam__gelu_tanh_bwd_avx512(int64_t n, const float *x, const float *dy, float *dx)
{
    (void)n, (void)x, (void)dy, (void)dx;
}
void lam__attn_softmax_row_avx512(int64_t n, float scale, const float *s, float *p)
{
    (void)n, (void)scale, (void)s, (void)p;
}
void lam__attn_softmax_bwd_row_avx512(int64_t n, float scale, const float *p, const float *dp,
                                      float *ds)
{
    (void)n, (void)scale, (void)p, (void)dp, (void)ds;
}

#endif
