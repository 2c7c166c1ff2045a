/*
 * 2x2 stride-2 max pool planes with AVX-512, chosen at run time when the CPU has it (the
 * library is built for baseline x86-64). Same results as the SSE2/scalar loops in pool.c,
 * bit for bit: the same compare chain ("ties -> first, a NaN wins") on 16 windows at once.
 *
 * The gain is in the layout: each row of 16 windows needs 32 consecutive inputs of two image
 * rows, which two masked loads and two two-source permutes split into the four taps
 * (even/odd columns of each row), so one iteration covers a whole output row of the seed
 * CNN (14 or 7 windows) where SSE2 needs four. On the first conv block this pooling was half
 * the block's time.
 */
#include "kernels.h"

#if defined(__GNUC__) && defined(__x86_64__)

#include <string.h>

#include "avx512.h"

/* v wins over best (masks): !(v <= best) && best is a number, as in pool.c */
static inline AVX512 __mmask16 takes16(__m512 v, __m512 best)
{
    return _mm512_cmp_ps_mask(v, best, _CMP_NLE_UQ) & _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q);
}

/* One segment of up to 16 windows of one output row: taps a b / c d from the two input rows
 * (even and odd columns), reduced as a tree (a vs b, c vs d, then the pairs): the same
 * first-NaN / first-maximum winner as the sequential a, b, c, d chain, one compare shorter. */
static inline AVX512 void fwd_segment(const float *r0, const float *r1, int32_t i0, int32_t w,
                                      __mmask16 mlo, __mmask16 mhi, __mmask16 mo, int relu,
                                      float *y, int32_t *am)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                           28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512 p0 = _mm512_maskz_loadu_ps(mlo, r0), p1 = _mm512_maskz_loadu_ps(mhi, r0 + 16);
    const __m512 q0 = _mm512_maskz_loadu_ps(mlo, r1), q1 = _mm512_maskz_loadu_ps(mhi, r1 + 16);
    const __m512 a = _mm512_permutex2var_ps(p0, even, p1), b = _mm512_permutex2var_ps(p0, odd, p1);
    const __m512 c = _mm512_permutex2var_ps(q0, even, q1), d = _mm512_permutex2var_ps(q0, odd, q1);
    const __m512i ia = _mm512_add_epi32(_mm512_set1_epi32(i0), even);
    const __m512i ic = _mm512_add_epi32(ia, _mm512_set1_epi32(w));
    const __mmask16 kab = takes16(b, a), kcd = takes16(d, c);
    const __m512 mab = _mm512_mask_mov_ps(a, kab, b), mcd = _mm512_mask_mov_ps(c, kcd, d);
    const __m512i one = _mm512_set1_epi32(1);
    const __m512i iab = _mm512_mask_add_epi32(ia, kab, ia, one);
    const __m512i icd = _mm512_mask_add_epi32(ic, kcd, ic, one);
    const __mmask16 k = takes16(mcd, mab);
    __m512 best = _mm512_mask_mov_ps(mab, k, mcd);
    const __m512i bi = _mm512_mask_mov_epi32(iab, k, icd);
    if (relu) {
        const __m512 zero = _mm512_setzero_ps();
        best = _mm512_mask_mov_ps(best, _mm512_cmp_ps_mask(best, zero, _CMP_LT_OQ), zero);
    }
    _mm512_mask_storeu_ps(y, mo, best);
    _mm512_mask_storeu_epi32(am, mo, bi);
}

AVX512 void lam__maxpool_2x2_fwd_avx512(const lam_pool_geom *g, const float *x, int relu,
                                         float *y, int32_t *argmax)
{
    const int64_t w = g->w, ow = g->ow;
    for (int64_t ox = 0; ox < ow; ox += 16) {
        /* masks per column segment, hoisted out of the row loop */
        const int64_t cnt = ow - ox < 16 ? ow - ox : 16;
        const __mmask16 mlo = first_bits(2 * cnt), mhi = first_bits(2 * cnt - 16);
        const __mmask16 mo = first_bits(cnt);
        for (int64_t oy = 0; oy < g->oh; oy++) {
            const float *r0 = x + 2 * oy * w + 2 * ox;
            fwd_segment(r0, r0 + w, (int32_t)(2 * oy * w + 2 * ox), (int32_t)w, mlo, mhi, mo,
                        relu, y + oy * ow + ox, argmax + oy * ow + ox);
        }
    }
}

/* One segment of the backward: dy routed to its window's argmax tap (masked by ymask > 0),
 * zeros on the other three, interleaved back into the two input rows. */
static inline AVX512 void bwd_segment(const float *dy, const int32_t *am, const float *ym,
                                      int32_t i0, int32_t w, __mmask16 mlo, __mmask16 mhi,
                                      __mmask16 mo, float *d0, float *d1)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                           28, 30);
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7,
                                         23);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    const __m512i one = _mm512_set1_epi32(1), wv = _mm512_set1_epi32(w);
    __m512 v = _mm512_maskz_loadu_ps(mo, dy);
    if (ym != NULL) {
        const __m512 m = _mm512_maskz_loadu_ps(mo, ym);
        v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(m, _mm512_setzero_ps(), _CMP_GT_OQ), v);
    }
    const __m512i a = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(mo, am),
                                       _mm512_add_epi32(_mm512_set1_epi32(i0), even));
    const __m512 v0 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a, _mm512_setzero_si512()), v);
    const __m512 v1 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a, one), v);
    const __m512 v2 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a, wv), v);
    const __m512 v3 =
        _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(a, _mm512_add_epi32(wv, one)), v);
    _mm512_mask_storeu_ps(d0, mlo, _mm512_permutex2var_ps(v0, lo, v1));
    _mm512_mask_storeu_ps(d0 + 16, mhi, _mm512_permutex2var_ps(v0, hi, v1));
    _mm512_mask_storeu_ps(d1, mlo, _mm512_permutex2var_ps(v2, lo, v3));
    _mm512_mask_storeu_ps(d1 + 16, mhi, _mm512_permutex2var_ps(v2, hi, v3));
}

AVX512 void lam__maxpool_2x2_bwd_avx512(const lam_pool_geom *g, const float *dy,
                                         const int32_t *argmax, const float *ymask, float *dx)
{
    const int64_t w = g->w, ow = g->ow;
    for (int64_t ox = 0; ox < ow; ox += 16) {
        const int64_t cnt = ow - ox < 16 ? ow - ox : 16;
        const __mmask16 mlo = first_bits(2 * cnt), mhi = first_bits(2 * cnt - 16);
        const __mmask16 mo = first_bits(cnt);
        for (int64_t oy = 0; oy < g->oh; oy++) {
            float *d0 = dx + 2 * oy * w + 2 * ox;
            const int64_t o = oy * ow + ox;
            bwd_segment(dy + o, argmax + o, ymask != NULL ? ymask + o : NULL,
                        (int32_t)(2 * oy * w + 2 * ox), (int32_t)w, mlo, mhi, mo, d0, d0 + w);
        }
    }
    /* columns and rows no window covers */
    for (int64_t iy = 0; iy < 2 * g->oh; iy++) {
        for (int64_t ix = 2 * ow; ix < w; ix++) {
            dx[iy * w + ix] = 0.0f;
        }
    }
    if (2 * g->oh < g->h) {
        memset(dx + 2 * g->oh * w, 0, (size_t)((g->h - 2 * g->oh) * w) * sizeof(float));
    }
}

#else

void lam__maxpool_2x2_fwd_avx512(const lam_pool_geom *g, const float *x, int relu, float *y,
                                 int32_t *argmax)
{
    (void)g;
    (void)x;
    (void)relu;
    (void)y;
    (void)argmax;
}

void lam__maxpool_2x2_bwd_avx512(const lam_pool_geom *g, const float *dy, const int32_t *argmax,
                                 const float *ymask, float *dx)
{
    (void)g;
    (void)dy;
    (void)argmax;
    (void)ymask;
    (void)dx;
}

#endif
