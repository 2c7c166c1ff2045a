/*
 * Naive pooling twins (nt ignored). Window of (oy, ox): iy = oy*SH - PH + ki, ix likewise,
 * ki < KH, kj < KW, taps on padding skipped.
 *
 *   max fwd: y = first maximum over real taps in (ki, kj) order (a NaN wins over numbers),
 *            argmax = iy*W + ix of that tap
 *   max bwd: dx[p] = sum of dy over the outputs whose argmax is p
 *   avg fwd: y = (sum over real taps) / (KH*KW)                 (count_include_pad = True)
 *   avg bwd: dx[iy][ix] = sum over windows holding (iy, ix) of dy / (KH*KW)
 * Backward passes are gathers summed in double, independent of the fast scatters.
 */
#include <math.h>

#include "kernels.h"

void lam__maxpool_fwd_ref(const lam_pool_geom *g, const float *x, float *y, int32_t *argmax,
                          int nt)
{
    (void)nt;
    for (int64_t pl = 0; pl < g->n * g->c; pl++) {
        for (int64_t oy = 0; oy < g->oh; oy++) {
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t bi = -1;
                float bv = 0.0f;
                for (int64_t ki = 0; ki < g->kh; ki++) {
                    for (int64_t kj = 0; kj < g->kw; kj++) {
                        const int64_t iy = oy * g->sh - g->ph + ki;
                        const int64_t ix = ox * g->sw - g->pw + kj;
                        if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) {
                            continue;
                        }
                        const float v = x[(pl * g->h + iy) * g->w + ix];
                        if (bi < 0 || v > bv || (isnan(v) && !isnan(bv))) {
                            bi = iy * g->w + ix;
                            bv = v;
                        }
                    }
                }
                y[(pl * g->oh + oy) * g->ow + ox] = bv;
                argmax[(pl * g->oh + oy) * g->ow + ox] = (int32_t)bi;
            }
        }
    }
}

void lam__maxpool_bwd_ref(const lam_pool_geom *g, const float *dy, const int32_t *argmax,
                          float *dx, int nt)
{
    (void)nt;
    for (int64_t pl = 0; pl < g->n * g->c; pl++) {
        for (int64_t iy = 0; iy < g->h; iy++) {
            for (int64_t ix = 0; ix < g->w; ix++) {
                /* Each window holding (iy, ix) is reached by exactly one tap (ki, kj). */
                double s = 0.0;
                for (int64_t ki = 0; ki < g->kh; ki++) {
                    for (int64_t kj = 0; kj < g->kw; kj++) {
                        const int64_t ny = iy + g->ph - ki, nx = ix + g->pw - kj;
                        if (ny < 0 || nx < 0 || ny % g->sh != 0 || nx % g->sw != 0) {
                            continue;
                        }
                        const int64_t oy = ny / g->sh, ox = nx / g->sw;
                        if (oy >= g->oh || ox >= g->ow) {
                            continue;
                        }
                        const int64_t o = (pl * g->oh + oy) * g->ow + ox;
                        if (argmax[o] == iy * g->w + ix) {
                            s += dy[o];
                        }
                    }
                }
                dx[(pl * g->h + iy) * g->w + ix] = (float)s;
            }
        }
    }
}

void lam__avgpool_fwd_ref(const lam_pool_geom *g, const float *x, float *y, int nt)
{
    (void)nt;
    for (int64_t pl = 0; pl < g->n * g->c; pl++) {
        for (int64_t oy = 0; oy < g->oh; oy++) {
            for (int64_t ox = 0; ox < g->ow; ox++) {
                double s = 0.0;
                for (int64_t ki = 0; ki < g->kh; ki++) {
                    for (int64_t kj = 0; kj < g->kw; kj++) {
                        const int64_t iy = oy * g->sh - g->ph + ki;
                        const int64_t ix = ox * g->sw - g->pw + kj;
                        if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w) {
                            s += x[(pl * g->h + iy) * g->w + ix];
                        }
                    }
                }
                y[(pl * g->oh + oy) * g->ow + ox] = (float)(s / (double)(g->kh * g->kw));
            }
        }
    }
}

void lam__avgpool_bwd_ref(const lam_pool_geom *g, const float *dy, float *dx, int nt)
{
    (void)nt;
    for (int64_t pl = 0; pl < g->n * g->c; pl++) {
        for (int64_t iy = 0; iy < g->h; iy++) {
            for (int64_t ix = 0; ix < g->w; ix++) {
                double s = 0.0;
                for (int64_t ki = 0; ki < g->kh; ki++) {
                    for (int64_t kj = 0; kj < g->kw; kj++) {
                        const int64_t ny = iy + g->ph - ki, nx = ix + g->pw - kj;
                        if (ny < 0 || nx < 0 || ny % g->sh != 0 || nx % g->sw != 0) {
                            continue;
                        }
                        const int64_t oy = ny / g->sh, ox = nx / g->sw;
                        if (oy < g->oh && ox < g->ow) {
                            s += dy[(pl * g->oh + oy) * g->ow + ox];
                        }
                    }
                }
                dx[(pl * g->h + iy) * g->w + ix] = (float)(s / (double)(g->kh * g->kw));
            }
        }
    }
}
