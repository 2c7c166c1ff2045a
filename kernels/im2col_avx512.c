/*
 * im2col for stride-1 columns (SW == 1, any SH, padding and dilation) with AVX-512, chosen
 * at run time like the pooling planes (kernels/isa.c). Bitwise the same as lam__im2col_ld: it
 * only moves floats and writes zeros.
 *
 * Why: on the seed CNN's first layer (C_in = 1, 28x28, 3x3) the portable loops cost as much
 * as a third of the layer's GEMMs, in memset/memcpy calls of one row each and scalar stores
 * for the padding columns. Here every 16 output columns of a row are one masked load (the
 * lanes that fall on padding load nothing and read as zero) and one masked store, with the
 * masks computed once per column segment and tap.
 */
#include "kernels.h"

#if defined(__GNUC__) && defined(__x86_64__)

#include "avx512.h"

/* One col row (tap offsets offy, offx) for output columns [ox0, ox0 + 16): lanes [lo, hi)
 * read the image, the rest of the cnt lanes are zero. An expand-load places the first
 * image column in lane lo without forming a pointer before the row. */
static inline AVX512 void tap_segment(const lam_conv_geom *g, const float *xc, int64_t offy,
                                      int64_t offx, int64_t ox0, float *dst)
{
    const int64_t cnt = g->ow - ox0 < 16 ? g->ow - ox0 : 16;
    int64_t lo = -offx - ox0, hi = g->w - offx - ox0;
    lo = lo < 0 ? 0 : lo;
    hi = hi > cnt ? cnt : hi;
    const __mmask16 mo = first_bits(cnt);
    const __mmask16 mv = (__mmask16)(first_bits(hi) & ~first_bits(lo));
    const int64_t first = ox0 + offx + lo; /* image column of lane lo */
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t oy = 0; oy < g->oh; oy++) {
        const int64_t iy = oy * g->sh + offy;
        float *d = dst + oy * g->ow + ox0;
        if (iy < 0 || iy >= g->h || mv == 0) {
            _mm512_mask_storeu_ps(d, mo, zero);
            continue;
        }
        const float *src = xc + iy * g->w + first;
        const __m512 v = lo > 0 ? _mm512_maskz_expandloadu_ps(mv, src)
                                : _mm512_maskz_loadu_ps(mv, src);
        _mm512_mask_storeu_ps(d, mo, v);
    }
}

AVX512 void lam__im2col_sw1_avx512(const lam_conv_geom *g, const float *x, int64_t c0,
                                   float *col, int64_t ld)
{
    const int64_t cig = g->c_in / g->groups;
    for (int64_t c = 0; c < cig; c++) {
        const float *xc = x + (c0 + c) * g->h * g->w;
        for (int64_t ki = 0; ki < g->kh; ki++) {
            const int64_t offy = ki * g->dh - g->ph;
            for (int64_t kj = 0; kj < g->kw; kj++) {
                float *dst = col + ((c * g->kh + ki) * g->kw + kj) * ld;
                for (int64_t ox0 = 0; ox0 < g->ow; ox0 += 16) {
                    tap_segment(g, xc, offy, kj * g->dw - g->pw, ox0, dst);
                }
            }
        }
    }
}

#else

void lam__im2col_sw1_avx512(const lam_conv_geom *g, const float *x, int64_t c0, float *col,
                            int64_t ld)
{
    (void)g;
    (void)x;
    (void)c0;
    (void)col;
    (void)ld;
}

#endif
