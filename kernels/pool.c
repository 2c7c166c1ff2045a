/*
 * Max and average pooling, OpenMP over the N*C planes (each plane is independent, so the
 * result never depends on the thread count).
 *
 * Window of output (oy, ox): rows oy*SH - PH + [0, KH), columns ox*SW - PW + [0, KW).
 *   max:  y = max over the window's real pixels (padding never wins; ties -> the first in
 *         row-major order; a NaN wins, as in PyTorch), argmax = its index h*W + w.
 *         dx[argmax] += dy (dx zeroed first).
 *   avg:  y = sum over real pixels / (KH*KW)   (count_include_pad = True: with floor output
 *         sizes every window lies inside the padded image, so the divisor is constant).
 *         dx[pixel] += dy / (KH*KW) for every window holding it.
 */
#include <math.h>
#include <string.h>

#include "kernels.h"

static inline int clamp_threads(int nt)
{
    return nt < 1 ? 1 : nt;
}

/* Clip the window [o*s - p, o*s - p + k) to [0, in). */
static void window(int64_t o, int64_t s, int64_t p, int64_t k, int64_t in, int64_t *lo,
                   int64_t *hi)
{
    int64_t a = o * s - p, b = a + k;
    *lo = a < 0 ? 0 : a;
    *hi = b > in ? in : b;
}

void lam__maxpool_fwd(const lam_pool_geom *g, const float *x, float *y, int32_t *argmax, int nt)
{
    const int64_t planes = g->n * g->c, hw = g->h * g->w, ohw = g->oh * g->ow;
    (void)nt;
#ifdef _OPENMP
#pragma omp parallel for num_threads(clamp_threads(nt)) schedule(static)
#endif
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * hw;
        float *yp = y + pl * ohw;
        int32_t *ap = argmax + pl * ohw;
        for (int64_t oy = 0; oy < g->oh; oy++) {
            int64_t y0, y1;
            window(oy, g->sh, g->ph, g->kh, g->h, &y0, &y1);
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t x0, x1;
                window(ox, g->sw, g->pw, g->kw, g->w, &x0, &x1);
                /* The geometry guarantees a non-empty window (pad <= kernel/2). */
                int64_t best_i = y0 * g->w + x0;
                float best = xp[best_i];
                for (int64_t iy = y0; iy < y1; iy++) {
                    const float *row = xp + iy * g->w;
                    for (int64_t ix = x0; ix < x1; ix++) {
                        const float v = row[ix];
                        if (v > best || (isnan(v) && !isnan(best))) {
                            best = v;
                            best_i = iy * g->w + ix;
                        }
                    }
                }
                yp[oy * g->ow + ox] = best;
                ap[oy * g->ow + ox] = (int32_t)best_i;
            }
        }
    }
}

void lam__maxpool_bwd(const lam_pool_geom *g, const float *dy, const int32_t *argmax, float *dx,
                      int nt)
{
    const int64_t planes = g->n * g->c, hw = g->h * g->w, ohw = g->oh * g->ow;
    (void)nt;
#ifdef _OPENMP
#pragma omp parallel for num_threads(clamp_threads(nt)) schedule(static)
#endif
    for (int64_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * hw;
        const float *dyp = dy + pl * ohw;
        const int32_t *ap = argmax + pl * ohw;
        memset(dxp, 0, (size_t)hw * sizeof(float));
        for (int64_t i = 0; i < ohw; i++) {
            dxp[ap[i]] += dyp[i];
        }
    }
}

void lam__avgpool_fwd(const lam_pool_geom *g, const float *x, float *y, int nt)
{
    const int64_t planes = g->n * g->c, hw = g->h * g->w, ohw = g->oh * g->ow;
    const float inv = 1.0f / (float)(g->kh * g->kw);
    (void)nt;
#ifdef _OPENMP
#pragma omp parallel for num_threads(clamp_threads(nt)) schedule(static)
#endif
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * hw;
        float *yp = y + pl * ohw;
        for (int64_t oy = 0; oy < g->oh; oy++) {
            int64_t y0, y1;
            window(oy, g->sh, g->ph, g->kh, g->h, &y0, &y1);
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t x0, x1;
                window(ox, g->sw, g->pw, g->kw, g->w, &x0, &x1);
                float s = 0.0f;
                for (int64_t iy = y0; iy < y1; iy++) {
                    const float *row = xp + iy * g->w;
                    for (int64_t ix = x0; ix < x1; ix++) {
                        s += row[ix];
                    }
                }
                yp[oy * g->ow + ox] = s * inv;
            }
        }
    }
}

void lam__avgpool_bwd(const lam_pool_geom *g, const float *dy, float *dx, int nt)
{
    const int64_t planes = g->n * g->c, hw = g->h * g->w, ohw = g->oh * g->ow;
    const float inv = 1.0f / (float)(g->kh * g->kw);
    (void)nt;
#ifdef _OPENMP
#pragma omp parallel for num_threads(clamp_threads(nt)) schedule(static)
#endif
    for (int64_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * hw;
        const float *dyp = dy + pl * ohw;
        memset(dxp, 0, (size_t)hw * sizeof(float));
        for (int64_t oy = 0; oy < g->oh; oy++) {
            int64_t y0, y1;
            window(oy, g->sh, g->ph, g->kh, g->h, &y0, &y1);
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t x0, x1;
                window(ox, g->sw, g->pw, g->kw, g->w, &x0, &x1);
                const float d = dyp[oy * g->ow + ox] * inv;
                for (int64_t iy = y0; iy < y1; iy++) {
                    float *row = dxp + iy * g->w;
                    for (int64_t ix = x0; ix < x1; ix++) {
                        row[ix] += d;
                    }
                }
            }
        }
    }
}
