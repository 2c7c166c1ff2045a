/*
 * Naive fully connected twins, sums in double:
 *
 *   y[i][o]   = b[o] + sum_j x[i][j] w[o][j]
 *   dx[i][j]  = sum_o dy[i][o] w[o][j]          (overwritten; skipped if dx is NULL)
 *   dw[o][j] += sum_i dy[i][o] x[i][j]          (skipped if dw is NULL)
 *   db[o]    += sum_i dy[i][o]                  (skipped if db is NULL)
 */
#include "kernels.h"

void lam__linear_fwd_ref(int64_t n, int64_t in, int64_t out, const float *x, const float *w,
                         const float *b, float *y)
{
    for (int64_t i = 0; i < n; i++) {
        for (int64_t o = 0; o < out; o++) {
            double s = b != NULL ? b[o] : 0.0;
            for (int64_t j = 0; j < in; j++) {
                s += (double)x[i * in + j] * w[o * in + j];
            }
            y[i * out + o] = (float)s;
        }
    }
}

void lam__linear_bwd_ref(int64_t n, int64_t in, int64_t out, const float *x, const float *w,
                         const float *dy, float *dx, float *dw, float *db)
{
    if (dx != NULL) {
        for (int64_t i = 0; i < n; i++) {
            for (int64_t j = 0; j < in; j++) {
                double s = 0.0;
                for (int64_t o = 0; o < out; o++) {
                    s += (double)dy[i * out + o] * w[o * in + j];
                }
                dx[i * in + j] = (float)s;
            }
        }
    }
    for (int64_t o = 0; o < out; o++) {
        if (dw != NULL) {
            for (int64_t j = 0; j < in; j++) {
                double s = 0.0;
                for (int64_t i = 0; i < n; i++) {
                    s += (double)dy[i * out + o] * x[i * in + j];
                }
                dw[o * in + j] = (float)((double)dw[o * in + j] + s);
            }
        }
        if (db != NULL) {
            double s = 0.0;
            for (int64_t i = 0; i < n; i++) {
                s += dy[i * out + o];
            }
            db[o] = (float)((double)db[o] + s);
        }
    }
}

/* The fused passes: the plain twins plus the activation (forward) and its mask on dy. */
void lam__linear_fused_fwd_ref(int64_t n, int64_t in, int64_t out, lam_act act,
                               const float *x, const float *w, const float *b, float *y, int nt)
{
    (void)nt;
    lam__linear_fwd_ref(n, in, out, x, w, b, y);
    lam__act_fwd_ref(act, 0.0f, n * out, y, y);
}

void lam__linear_fused_bwd_ref(int64_t n, int64_t in, int64_t out, lam_act act,
                               const float *x, const float *w, const float *y, float *dy,
                               float *dx, float *dw, float *db, int nt)
{
    (void)nt;
    if (act != LAM_ACT_NONE) {
        lam__act_bwd_ref(act, 0.0f, n * out, y, y, dy, dy);
    }
    lam__linear_bwd_ref(n, in, out, x, w, dy, dx, dw, db);
}
