/*
 * Naive im2col / col2im twins, one element at a time:
 *
 *   col[(c*KH + ki)*KW + kj][oy*OW + ox] = x[c0 + c][iy][ix],
 *   iy = oy*SH - PH + ki*DH,  ix = ox*SW - PW + kj*DW,  0 outside the image.
 *
 * col2im is written as a gather (for each pixel, sum in double the column entries that
 * read it) so it shares no index arithmetic with the fast scatter.
 */
#include "kernels.h"

void lam__im2col_ref(const lam_conv_geom *g, const float *x, int64_t c0, float *col)
{
    const int64_t cig = g->c_in / g->groups;
    for (int64_t c = 0; c < cig; c++) {
        for (int64_t ki = 0; ki < g->kh; ki++) {
            for (int64_t kj = 0; kj < g->kw; kj++) {
                const int64_t row = (c * g->kh + ki) * g->kw + kj;
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    for (int64_t ox = 0; ox < g->ow; ox++) {
                        const int64_t iy = oy * g->sh - g->ph + ki * g->dh;
                        const int64_t ix = ox * g->sw - g->pw + kj * g->dw;
                        float v = 0.0f;
                        if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w) {
                            v = x[((c0 + c) * g->h + iy) * g->w + ix];
                        }
                        col[row * g->oh * g->ow + oy * g->ow + ox] = v;
                    }
                }
            }
        }
    }
}

void lam__col2im_ref(const lam_conv_geom *g, const float *col, int64_t c0, float *x)
{
    const int64_t cig = g->c_in / g->groups;
    for (int64_t c = 0; c < cig; c++) {
        for (int64_t iy = 0; iy < g->h; iy++) {
            for (int64_t ix = 0; ix < g->w; ix++) {
                double s = 0.0;
                for (int64_t ki = 0; ki < g->kh; ki++) {
                    for (int64_t kj = 0; kj < g->kw; kj++) {
                        /* Output (oy, ox) reads this pixel through tap (ki, kj) iff
                         * oy*SH = iy + PH - ki*DH exactly, likewise for x. */
                        const int64_t ny = iy + g->ph - ki * g->dh;
                        const int64_t nx = ix + g->pw - kj * g->dw;
                        if (ny < 0 || nx < 0 || ny % g->sh != 0 || nx % g->sw != 0) {
                            continue;
                        }
                        const int64_t oy = ny / g->sh, ox = nx / g->sw;
                        if (oy >= g->oh || ox >= g->ow) {
                            continue;
                        }
                        const int64_t row = (c * g->kh + ki) * g->kw + kj;
                        s += col[row * g->oh * g->ow + oy * g->ow + ox];
                    }
                }
                float *px = &x[((c0 + c) * g->h + iy) * g->w + ix];
                *px = (float)((double)*px + s);
            }
        }
    }
}
