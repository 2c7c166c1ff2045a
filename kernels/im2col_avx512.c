/*
 * im2col for stride-1 and stride-2 columns (SW <= 2, any SH, padding and dilation) and col2im
 * for strides 1 and 2 with AVX-512, chosen at run time like the pooling planes (kernels/isa.c).
 * im2col is bitwise the same as lam__im2col_ld (it only moves floats and writes zeros); col2im
 * sums each pixel's taps in its own fixed order (see below). Stride 2 (the down-sampling
 * convolutions of a ResNet) reads 32 input columns per 16 outputs and keeps the even ones with
 * one permute; its col2im spreads 8 outputs over 16 pixels the same way. Without them, the
 * two stride-2 convolutions of ResNet-20 ran their portable loops, 5% of its step.
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

/* One col row (tap offsets offy, offx) for output columns [ox0, ox0 + 16), column stride sw
 * (1 or 2, a constant where inlined): the lanes on image columns read them, the rest of the
 * row's lanes are zero. The geometry is copied to locals and the rows are split into zero /
 * copy / zero runs: a masked store may alias anything, so the compiler would otherwise
 * reload g and branch on every row. */
static inline AVX512 void tap_segment(const int sw, const lam_conv_geom *g, const float *xc,
                                      int64_t offy, int64_t offx, int64_t ox0, float *dst)
{
    const int64_t ow = g->ow, oh = g->oh;
    const __mmask16 mo = first_bits(ow - ox0);
    /* stride 2: lane l reads input column ix + 2l, from the 32 columns at ix */
    const int64_t ix = sw * ox0 + offx;
    int ex0, ex1 = 0;
    int64_t at0, at1 = 0;
    const __mmask16 m0 = cols_mask(g->w, ix, &ex0, &at0) & (sw == 1 ? mo : 0xffff);
    const __mmask16 m1 = sw == 1 ? 0 : cols_mask(g->w, ix + 16, &ex1, &at1);
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4,
                                          2, 0);
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
            __m512 v = load_cols(row, at0, m0, ex0);
            if (sw == 2) {
                v = _mm512_permutex2var_ps(v, even, load_cols(row, at1, m1, ex1));
            }
            _mm512_mask_storeu_ps(d + oy * ow, mo, v);
        }
    }
    for (int64_t oy = hi; oy < oh; oy++) {
        _mm512_mask_storeu_ps(d + oy * ow, mo, zero);
    }
}

static inline AVX512 void im2col_sw(const int sw, const lam_conv_geom *g, const float *x,
                                    int64_t c0, float *col, int64_t ld)
{
    const int64_t cig = g->c_in / g->groups;
    for (int64_t c = 0; c < cig; c++) {
        const float *xc = x + (c0 + c) * g->h * g->w;
        for (int64_t ki = 0; ki < g->kh; ki++) {
            const int64_t offy = ki * g->dh - g->ph;
            for (int64_t kj = 0; kj < g->kw; kj++) {
                float *dst = col + ((c * g->kh + ki) * g->kw + kj) * ld;
                for (int64_t ox0 = 0; ox0 < g->ow; ox0 += 16) {
                    tap_segment(sw, g, xc, offy, kj * g->dw - g->pw, ox0, dst);
                }
            }
        }
    }
}

AVX512 void lam__im2col_avx512(const lam_conv_geom *g, const float *x, int64_t c0, float *col,
                               int64_t ld)
{
    if (g->sw == 1) {
        im2col_sw(1, g, x, c0, col, ld);
    } else {
        im2col_sw(2, g, x, c0, col, ld);
    }
}

/* col2im for SH == SW == s, s = 1 or 2 (any padding, dilation, KW <= 16): pixel (iy, ix) of
 * image channel c gains col row (c, ki, kj) at output ((iy + PH - ki*DH) / s,
 * (ix + PW - kj*DW) / s) for every tap whose output exists (and, for s = 2, whose offsets
 * divide). All the taps of one image row are summed in a register (ki outer, kj inner) and
 * the row is read and written once, 16 columns at a time: adding each ki's sum into the image
 * in turn made every row wait for its own masked store of the previous ki (no
 * store-to-load forwarding). Taps off the output read as zero. For s = 2, a tap's 16 loaded
 * outputs from column ob feed pixel lanes of one parity: lane l takes output ob + (l + par)/2
 * when l + par is even, one permute. */
static inline AVX512 void col2im_s(const int s, const lam_conv_geom *g, const float *col,
                                   int64_t ld, int64_t c0, float *x)
{
    const int64_t cig = g->c_in / g->groups, h = g->h, w = g->w, oh = g->oh, ow = g->ow;
    const int64_t kh = g->kh, kw = g->kw, ph = g->ph, pw = g->pw, dh = g->dh, dw = g->dw;
    const __m512i half[2] = {
        _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0),
        _mm512_set_epi32(8, 7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0)};
    const __mmask16 parity_lanes[2] = {0x5555, 0xaaaa};
    for (int64_t ix0 = 0; ix0 < w; ix0 += 16) {
        /* per tap column kj: the loaded lanes whose output column exists (and for s = 2 the
         * permute and the lanes it feeds), hoisted out of the rows */
        __mmask16 m[16], sel[16];
        int ex[16], par[16];
        int64_t at[16];
        const __mmask16 mx = first_bits(w - ix0);
        for (int64_t kj = 0; kj < kw; kj++) {
            const int64_t t0 = ix0 + pw - kj * dw;
            par[kj] = s == 2 ? (int)(t0 & 1) : 0;
            const int64_t ob = s == 2 ? (t0 - par[kj]) / 2 : t0;
            m[kj] = cols_mask(ow, ob, &ex[kj], &at[kj]) & (s == 1 ? mx : 0xffff);
            sel[kj] = parity_lanes[par[kj]] & mx;
        }
        for (int64_t c = 0; c < cig; c++) {
            float *xc = x + (c0 + c) * h * w;
            const float *cc = col + c * kh * kw * ld;
            for (int64_t iy = 0; iy < h; iy++) {
                __m512 acc = _mm512_setzero_ps();
                for (int64_t ki = 0; ki < kh; ki++) {
                    const int64_t ty = iy + ph - ki * dh;
                    if (ty < 0 || ty % s != 0 || ty / s >= oh) {
                        continue;
                    }
                    const float *r = cc + ki * kw * ld + ty / s * ow;
                    for (int64_t kj = 0; kj < kw; kj++) {
                        __m512 v = load_cols(r + kj * ld, at[kj], m[kj], ex[kj]);
                        if (s == 2) {
                            v = _mm512_maskz_permutexvar_ps(sel[kj], half[par[kj]], v);
                        }
                        acc = _mm512_add_ps(acc, v);
                    }
                }
                float *xr = xc + iy * w + ix0;
                _mm512_mask_storeu_ps(xr, mx, _mm512_add_ps(_mm512_maskz_loadu_ps(mx, xr),
                                                            acc));
            }
        }
    }
}

AVX512 void lam__col2im_avx512(const lam_conv_geom *g, const float *col, int64_t ld,
                               int64_t c0, float *x)
{
    if (g->sw == 1) {
        col2im_s(1, g, col, ld, c0, x);
    } else {
        col2im_s(2, g, col, ld, c0, x);
    }
}

#else

void lam__col2im_avx512(const lam_conv_geom *g, const float *col, int64_t ld, int64_t c0,
                        float *x)
{
    (void)g;
    (void)col;
    (void)ld;
    (void)c0;
    (void)x;
}

void lam__im2col_avx512(const lam_conv_geom *g, const float *x, int64_t c0, float *col,
                        int64_t ld)
{
    (void)g;
    (void)x;
    (void)c0;
    (void)col;
    (void)ld;
}

#endif
