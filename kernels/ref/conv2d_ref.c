/*
 * Direct convolution twins (no im2col, no GEMM), sums in double. With g = co / (C_out/G)
 * the group of output channel co, Cg = C_in/G, iy = oy*SH - PH + ki*DH, ix = ox*SW - PW + kj*DW:
 *
 *   y[n][co][oy][ox]  = b[co] + sum_{ci<Cg, ki, kj} w[co][ci][ki][kj] x[n][g*Cg + ci][iy][ix]
 *   dx[n][c][iy][ix]  = sum_{co in group of c, ki, kj} w[co][c - g*Cg][ki][kj] dy[n][co][oy][ox]
 *                       over the (oy, ox) with oy*SH = iy + PH - ki*DH (likewise for x)
 *   dw[co][ci][ki][kj] += sum_{n, oy, ox} dy[n][co][oy][ox] x[n][g*Cg + ci][iy][ix]
 *   db[co]             += sum_{n, oy, ox} dy[n][co][oy][ox]
 *
 * Taps that fall on padding contribute zero. ws and nt are ignored.
 */
#include "kernels.h"

static int64_t x_at(const lam_conv_geom *g, int64_t n, int64_t c, int64_t iy, int64_t ix)
{
    return ((n * g->c_in + c) * g->h + iy) * g->w + ix;
}

static int64_t y_at(const lam_conv_geom *g, int64_t n, int64_t c, int64_t oy, int64_t ox)
{
    return ((n * g->c_out + c) * g->oh + oy) * g->ow + ox;
}

static int64_t w_at(const lam_conv_geom *g, int64_t co, int64_t ci, int64_t ki, int64_t kj)
{
    return ((co * (g->c_in / g->groups) + ci) * g->kh + ki) * g->kw + kj;
}

void lam__conv2d_fwd_ref(const lam_conv_geom *g, const float *x, const float *w, const float *b,
                         float *y, float *ws, int nt)
{
    (void)ws;
    (void)nt;
    const int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    for (int64_t n = 0; n < g->n; n++) {
        for (int64_t co = 0; co < g->c_out; co++) {
            const int64_t c0 = co / cog * cig;
            for (int64_t oy = 0; oy < g->oh; oy++) {
                for (int64_t ox = 0; ox < g->ow; ox++) {
                    double s = b != NULL ? b[co] : 0.0;
                    for (int64_t ci = 0; ci < cig; ci++) {
                        for (int64_t ki = 0; ki < g->kh; ki++) {
                            for (int64_t kj = 0; kj < g->kw; kj++) {
                                const int64_t iy = oy * g->sh - g->ph + ki * g->dh;
                                const int64_t ix = ox * g->sw - g->pw + kj * g->dw;
                                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) {
                                    continue;
                                }
                                s += (double)w[w_at(g, co, ci, ki, kj)] *
                                     x[x_at(g, n, c0 + ci, iy, ix)];
                            }
                        }
                    }
                    y[y_at(g, n, co, oy, ox)] = (float)s;
                }
            }
        }
    }
}

void lam__conv2d_bwd_data_ref(const lam_conv_geom *g, const float *dy, const float *w, float *dx,
                              float *ws, int nt)
{
    (void)ws;
    (void)nt;
    lam__conv2d_bwd_data_acc_ref(g, dy, w, dx, 0);
}

void lam__conv2d_bwd_data_acc_ref(const lam_conv_geom *g, const float *dy, const float *w,
                                  float *dx, int acc)
{
    const int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    for (int64_t n = 0; n < g->n; n++) {
        for (int64_t c = 0; c < g->c_in; c++) {
            const int64_t gr = c / cig, ci = c - gr * cig;
            for (int64_t iy = 0; iy < g->h; iy++) {
                for (int64_t ix = 0; ix < g->w; ix++) {
                    double s = 0.0;
                    for (int64_t co = gr * cog; co < (gr + 1) * cog; co++) {
                        for (int64_t ki = 0; ki < g->kh; ki++) {
                            for (int64_t kj = 0; kj < g->kw; kj++) {
                                const int64_t ny = iy + g->ph - ki * g->dh;
                                const int64_t nx = ix + g->pw - kj * g->dw;
                                if (ny < 0 || nx < 0 || ny % g->sh != 0 || nx % g->sw != 0) {
                                    continue;
                                }
                                const int64_t oy = ny / g->sh, ox = nx / g->sw;
                                if (oy >= g->oh || ox >= g->ow) {
                                    continue;
                                }
                                s += (double)w[w_at(g, co, ci, ki, kj)] *
                                     dy[y_at(g, n, co, oy, ox)];
                            }
                        }
                    }
                    float *d = &dx[x_at(g, n, c, iy, ix)];
                    *d = acc ? (float)((double)*d + s) : (float)s;
                }
            }
        }
    }
}

void lam__conv2d_bwd_weight_ref(const lam_conv_geom *g, const float *x, const float *dy,
                                float *dw, float *db, float *ws, int nt)
{
    (void)ws;
    (void)nt;
    const int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    for (int64_t co = 0; co < g->c_out; co++) {
        const int64_t c0 = co / cog * cig;
        for (int64_t ci = 0; ci < cig; ci++) {
            for (int64_t ki = 0; ki < g->kh; ki++) {
                for (int64_t kj = 0; kj < g->kw; kj++) {
                    double s = 0.0;
                    for (int64_t n = 0; n < g->n; n++) {
                        for (int64_t oy = 0; oy < g->oh; oy++) {
                            for (int64_t ox = 0; ox < g->ow; ox++) {
                                const int64_t iy = oy * g->sh - g->ph + ki * g->dh;
                                const int64_t ix = ox * g->sw - g->pw + kj * g->dw;
                                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) {
                                    continue;
                                }
                                s += (double)dy[y_at(g, n, co, oy, ox)] *
                                     x[x_at(g, n, c0 + ci, iy, ix)];
                            }
                        }
                    }
                    float *p = &dw[w_at(g, co, ci, ki, kj)];
                    *p = (float)((double)*p + s);
                }
            }
        }
        if (db != NULL) {
            double s = 0.0;
            for (int64_t n = 0; n < g->n; n++) {
                for (int64_t i = 0; i < g->oh * g->ow; i++) {
                    s += dy[y_at(g, n, co, 0, 0) + i];
                }
            }
            db[co] = (float)((double)db[co] + s);
        }
    }
}
