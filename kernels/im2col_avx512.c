/*
 * im2col for stride-1 columns (SW == 1, any SH, padding and dilation) and col2im for stride 1
 * with AVX-512, chosen at run time like the pooling planes (kernels/isa.c). im2col is bitwise
 * the same as lam__im2col_ld (it only moves floats and writes zeros); col2im sums each
 * pixel's taps in its own fixed order (see below).
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

/* A 16-float window starting at image column ix of a row of width w: returns the lanes on
 * columns inside the row, one run [lo, hi). *expand is set when the window starts left of
 * the row (then an expand-load puts column 0 in lane lo), and *at is where a plain masked
 * load starts: ix, or 0 when the run is empty or expanded, so that no pointer outside the
 * row is ever formed (the loads touch only the mask's lanes). */
static inline AVX512 __mmask16 cols_mask(int64_t w, int64_t ix, int *expand, int64_t *at)
{
    const int64_t lo = ix < 0 ? -ix : 0;
    const __mmask16 m = (__mmask16)(first_bits(w - ix) & ~first_bits(lo));
    *expand = lo > 0 && m != 0;
    *at = m != 0 && lo == 0 ? ix : 0;
    return m;
}

/* The window of cols_mask: lanes outside the row read as zero. */
static inline AVX512 __m512 load_cols(const float *row, int64_t at, __mmask16 m, int expand)
{
    return expand ? _mm512_maskz_expandloadu_ps(m, row) : _mm512_maskz_loadu_ps(m, row + at);
}

/* One col row (tap offsets offy, offx) for output columns [ox0, ox0 + 16): the lanes on
 * image columns read them, the rest of the row's lanes are zero. The geometry is copied to
 * locals and the rows are split into zero / copy / zero runs: a masked store may alias
 * anything, so the compiler would otherwise reload g and branch on every row. */
static inline AVX512 void tap_segment(const lam_conv_geom *g, const float *xc, int64_t offy,
                                      int64_t offx, int64_t ox0, float *dst)
{
    const int64_t ow = g->ow, oh = g->oh;
    const __mmask16 mo = first_bits(ow - ox0);
    int ex;
    int64_t at;
    const __mmask16 mv = cols_mask(g->w, ox0 + offx, &ex, &at) & mo;
    const __m512 zero = _mm512_setzero_ps();
    int64_t lo, hi;
    lam__valid_range(oh, g->h, g->sh, offy, &lo, &hi);
    float *d = dst + ox0;
    for (int64_t oy = 0; oy < lo; oy++) {
        _mm512_mask_storeu_ps(d + oy * ow, mo, zero);
    }
    if (hi > lo) {
        const int64_t step = g->sh * g->w;
        const float *row = xc + (lo * g->sh + offy) * g->w; /* inside the image */
        for (int64_t oy = lo; oy < hi; oy++, row += step) {
            _mm512_mask_storeu_ps(d + oy * ow, mo, load_cols(row, at, mv, ex));
        }
    }
    for (int64_t oy = hi; oy < oh; oy++) {
        _mm512_mask_storeu_ps(d + oy * ow, mo, zero);
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

/* col2im for SH == SW == 1 (any padding, dilation, KW <= 16): pixel (iy, ix) of image
 * channel c gains col row (c, ki, kj) at output (iy + PH - ki*DH, ix + PW - kj*DW) for every
 * tap whose output exists. All the taps of one image row are summed in a register (ki
 * outer, kj inner) and the row is read and written once, 16 columns at a time: adding each
 * ki's sum into the image in turn made every row wait for its own masked store of the
 * previous ki (no store-to-load forwarding). Taps off the output read as zero. */
AVX512 void lam__col2im_s1_avx512(const lam_conv_geom *g, const float *col, int64_t ld,
                                  int64_t c0, float *x)
{
    const int64_t cig = g->c_in / g->groups, h = g->h, w = g->w, oh = g->oh, ow = g->ow;
    const int64_t kh = g->kh, kw = g->kw, ph = g->ph, pw = g->pw, dh = g->dh, dw = g->dw;
    for (int64_t ix0 = 0; ix0 < w; ix0 += 16) {
        /* per tap column kj: the lanes whose output column exists, hoisted out of the rows */
        __mmask16 m[16];
        int ex[16];
        int64_t at[16];
        const __mmask16 mx = first_bits(w - ix0);
        for (int64_t kj = 0; kj < kw; kj++) {
            m[kj] = cols_mask(ow, ix0 + pw - kj * dw, &ex[kj], &at[kj]) & mx;
        }
        for (int64_t c = 0; c < cig; c++) {
            float *xc = x + (c0 + c) * h * w;
            const float *cc = col + c * kh * kw * ld;
            for (int64_t iy = 0; iy < h; iy++) {
                __m512 acc = _mm512_setzero_ps();
                for (int64_t ki = 0; ki < kh; ki++) {
                    const int64_t oy = iy + ph - ki * dh;
                    if (oy < 0 || oy >= oh) {
                        continue;
                    }
                    const float *r = cc + ki * kw * ld + oy * ow;
                    for (int64_t kj = 0; kj < kw; kj++) {
                        acc = _mm512_add_ps(acc, load_cols(r + kj * ld, at[kj], m[kj],
                                                           ex[kj]));
                    }
                }
                float *xr = xc + iy * w + ix0;
                _mm512_mask_storeu_ps(xr, mx, _mm512_add_ps(_mm512_maskz_loadu_ps(mx, xr),
                                                            acc));
            }
        }
    }
}

#else

void lam__col2im_s1_avx512(const lam_conv_geom *g, const float *col, int64_t ld, int64_t c0,
                           float *x)
{
    (void)g;
    (void)col;
    (void)ld;
    (void)c0;
    (void)x;
}

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
