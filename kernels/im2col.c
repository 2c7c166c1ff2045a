/*
 * im2col / col2im for one image and one group (Chellapilla et al. 2006; Caffe's layout).
 *
 *   col[(c*KH + ki)*KW + kj][oy*OW + ox] = x[c0 + c][oy*SH - PH + ki*DH][ox*SW - PW + kj*DW]
 *
 * for c in [0, C_in/groups), zero where the tap falls on padding. Then a convolution is the
 * GEMM w(C_out/g, K) * col(K, OH*OW) with K = C_in/g * KH * KW. col2im is the adjoint: it
 * scatter-adds every column entry back onto the input pixel it was read from.
 *
 * Speed: for each (c, ki, kj) row the range of output positions whose tap is inside the
 * image is computed once (two divisions per row, none per element), so the inner loops
 * are branch-free copies (memcpy when SW == 1) and zero fills; stride-1 'same' rows are
 * one block copy per (c, ki, kj). With AVX-512 (kernels/im2col_avx512.c), stride-1 and
 * stride-2 columns are masked vector copies (and permutes) instead, and the stride-1 and
 * stride-2 col2im sums its taps in 16-lane registers.
 */
#include <string.h>

#include "kernels.h"

/* One im2col row when input and output rows have the same pitch (stride 1, OW == W: the
 * 'same' convolutions of most CNNs): the valid block is a single shifted copy. Entries that
 * wrap around from the neighbouring input row land exactly in the padding columns
 * [0, xlo) and [xhi, ow), which are zeroed afterwards. src is the input of (ylo, xlo). */
static void im2col_row_block(float *restrict dst, const float *restrict src, int64_t ow,
                             int64_t p, int64_t ylo, int64_t yhi, int64_t xlo, int64_t xhi)
{
    const int64_t first = ylo * ow + xlo, last = (yhi - 1) * ow + xhi;
    memset(dst, 0, (size_t)first * sizeof(float));
    memcpy(dst + first, src, (size_t)(last - first) * sizeof(float));
    memset(dst + last, 0, (size_t)(p - last) * sizeof(float));
    if (xlo == 0 && xhi == ow) {
        return;
    }
    for (int64_t oy = ylo; oy < yhi; oy++) {
        float *d = dst + oy * ow;
        for (int64_t ox = 0; ox < xlo; ox++) {
            d[ox] = 0.0f;
        }
        for (int64_t ox = xhi; ox < ow; ox++) {
            d[ox] = 0.0f;
        }
    }
}

void lam__im2col(const lam_conv_geom *g, const float *x, int64_t c0, float *col)
{
    lam__im2col_ld(g, x, c0, col, g->oh * g->ow);
}

void lam__im2col_ld(const lam_conv_geom *g, const float *x, int64_t c0, float *col, int64_t ld)
{
    lam__im2col_ld_isa(g, x, c0, col, ld, LAM_ISA_AUTO);
}

void lam__im2col_ld_isa(const lam_conv_geom *g, const float *x, int64_t c0, float *col,
                        int64_t ld, int isa)
{
    isa = isa == LAM_ISA_AUTO ? lam__best_isa() : isa;
    if (isa == LAM_ISA_AVX512 && g->sw <= 2) {
        lam__im2col_avx512(g, x, c0, col, ld);
        return;
    }
    const int64_t cig = g->c_in / g->groups;
    const int64_t h = g->h, w = g->w, oh = g->oh, ow = g->ow, sw = g->sw;
    const int64_t p = oh * ow;
    const int same_pitch = sw == 1 && g->sh == 1 && ow == w;
    for (int64_t c = 0; c < cig; c++) {
        const float *xc = x + (c0 + c) * h * w;
        for (int64_t ki = 0; ki < g->kh; ki++) {
            const int64_t offy = ki * g->dh - g->ph;
            int64_t ylo, yhi;
            lam__valid_range(oh, h, g->sh, offy, &ylo, &yhi);
            for (int64_t kj = 0; kj < g->kw; kj++) {
                const int64_t offx = kj * g->dw - g->pw;
                int64_t xlo, xhi;
                lam__valid_range(ow, w, sw, offx, &xlo, &xhi);
                float *restrict dst = col + ((c * g->kh + ki) * g->kw + kj) * ld;
                if (same_pitch && yhi > ylo && xhi > xlo) {
                    im2col_row_block(dst, xc + (ylo + offy) * w + xlo + offx, ow, p, ylo, yhi,
                                     xlo, xhi);
                    continue;
                }
                memset(dst, 0, (size_t)(ylo * ow) * sizeof(float));
                for (int64_t oy = ylo; oy < yhi; oy++) {
                    float *restrict d = dst + oy * ow;
                    const int64_t cnt = xhi - xlo;
                    for (int64_t ox = 0; ox < xlo; ox++) {
                        d[ox] = 0.0f;
                    }
                    if (cnt > 0) {
                        const float *restrict s =
                            xc + (oy * g->sh + offy) * w + xlo * sw + offx;
                        if (sw == 1) {
                            memcpy(d + xlo, s, (size_t)cnt * sizeof(float));
                        } else {
                            for (int64_t i = 0; i < cnt; i++) {
                                d[xlo + i] = s[i * sw];
                            }
                        }
                    }
                    for (int64_t ox = xhi; ox < ow; ox++) {
                        d[ox] = 0.0f;
                    }
                }
                memset(dst + yhi * ow, 0, (size_t)((oh - yhi) * ow) * sizeof(float));
            }
        }
    }
}

void lam__col2im(const lam_conv_geom *g, const float *col, int64_t c0, float *x)
{
    lam__col2im_ld(g, col, g->oh * g->ow, c0, x);
}

/* col2im of a stride-1, undilated, 3-wide kernel, row by row of x: the three taps kj of one
 * (c, ki) land on the same x row shifted by one, so they are summed in registers and the x
 * row is read and written once instead of three times, in one loop the compiler vectorises
 * (the tap-by-tap loops ran 12-14 elements each: 15 us per image on the seed CNN's conv2).
 * x[iy][ix] += sum over ki, kj of col[(c,ki,kj)][oy][ox], oy = iy + PH - ki, ox = ix + PW - kj. */
static void col2im_s1_k3(const lam_conv_geom *g, const float *col, int64_t ld, int64_t c0,
                         float *x)
{
    const int64_t cig = g->c_in / g->groups;
    const int64_t h = g->h, w = g->w, oh = g->oh, ow = g->ow, pw = g->pw;
    /* x columns where all three taps have an output column: ox = ix + pw - kj in [0, ow) */
    int64_t ilo = 2 - pw > 0 ? 2 - pw : 0;
    int64_t ihi = ow - pw < w ? ow - pw : w;
    if (ihi < ilo) {
        ihi = ilo;
    }
    for (int64_t c = 0; c < cig; c++) {
        float *xc = x + (c0 + c) * h * w;
        for (int64_t ki = 0; ki < g->kh; ki++) {
            const float *r = col + (c * g->kh + ki) * 3 * ld;
            for (int64_t iy = 0; iy < h; iy++) {
                const int64_t oy = iy + g->ph - ki;
                if (oy < 0 || oy >= oh) {
                    continue;
                }
                float *restrict xr = xc + iy * w;
                /* s_kj[ix] = col[(c, ki, kj)][oy][ix + pw - kj] */
                const float *s0 = r + oy * ow + pw, *s1 = r + ld + oy * ow + pw - 1;
                const float *s2 = r + 2 * ld + oy * ow + pw - 2;
                for (int64_t ix = 0; ix < ilo && ix < w; ix++) {
                    float acc = 0.0f;
                    acc += ix + pw < ow ? s0[ix] : 0.0f;
                    acc += ix + pw - 1 >= 0 && ix + pw - 1 < ow ? s1[ix] : 0.0f;
                    acc += ix + pw - 2 >= 0 && ix + pw - 2 < ow ? s2[ix] : 0.0f;
                    xr[ix] += acc;
                }
                for (int64_t ix = ilo; ix < ihi; ix++) {
                    xr[ix] += (s0[ix] + s1[ix]) + s2[ix];
                }
                for (int64_t ix = ihi > ilo ? ihi : ilo; ix < w; ix++) {
                    float acc = 0.0f;
                    acc += ix + pw >= 0 && ix + pw < ow ? s0[ix] : 0.0f;
                    acc += ix + pw - 1 >= 0 && ix + pw - 1 < ow ? s1[ix] : 0.0f;
                    acc += ix + pw - 2 >= 0 && ix + pw - 2 < ow ? s2[ix] : 0.0f;
                    xr[ix] += acc;
                }
            }
        }
    }
}

void lam__col2im_ld(const lam_conv_geom *g, const float *col, int64_t ld, int64_t c0, float *x)
{
    lam__col2im_ld_isa(g, col, ld, c0, x, LAM_ISA_AUTO);
}

void lam__col2im_ld_isa(const lam_conv_geom *g, const float *col, int64_t ld, int64_t c0,
                        float *x, int isa)
{
    const int64_t cig = g->c_in / g->groups;
    const int64_t h = g->h, w = g->w, oh = g->oh, ow = g->ow, sw = g->sw;
    isa = isa == LAM_ISA_AUTO ? lam__best_isa() : isa;
    if (isa == LAM_ISA_AVX512 && g->sh == sw && sw <= 2 && g->kw <= 16) {
        lam__col2im_avx512(g, col, ld, c0, x);
        return;
    }
    if (g->sh == 1 && sw == 1 && g->dh == 1 && g->dw == 1 && g->kw == 3) {
        col2im_s1_k3(g, col, ld, c0, x);
        return;
    }
    for (int64_t c = 0; c < cig; c++) {
        float *xc = x + (c0 + c) * h * w;
        for (int64_t ki = 0; ki < g->kh; ki++) {
            const int64_t offy = ki * g->dh - g->ph;
            int64_t ylo, yhi;
            lam__valid_range(oh, h, g->sh, offy, &ylo, &yhi);
            for (int64_t kj = 0; kj < g->kw; kj++) {
                const int64_t offx = kj * g->dw - g->pw;
                int64_t xlo, xhi;
                lam__valid_range(ow, w, sw, offx, &xlo, &xhi);
                const float *src = col + ((c * g->kh + ki) * g->kw + kj) * ld;
                const int64_t cnt = xhi - xlo;
                if (cnt == 0) {
                    continue;
                }
                for (int64_t oy = ylo; oy < yhi; oy++) {
                    const float *restrict s = src + oy * ow + xlo;
                    float *restrict d = xc + (oy * g->sh + offy) * w + xlo * sw + offx;
                    if (sw == 1) {
                        for (int64_t i = 0; i < cnt; i++) {
                            d[i] += s[i];
                        }
                    } else {
                        for (int64_t i = 0; i < cnt; i++) {
                            d[i * sw] += s[i];
                        }
                    }
                }
            }
        }
    }
}
