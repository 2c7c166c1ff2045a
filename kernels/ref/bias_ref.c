/*
 * Bias twins:
 *   y[i][c][p] = act(y[i][c][p] + b[c])              (b may be NULL)
 *   db[c]     += sum_{i, p} dy[i][c][p]              (sum in double)
 * The activation goes through lam__act_fwd_ref one element at a time.
 */
#include "kernels.h"

void lam__bias_act_ref(int64_t n, int64_t c, int64_t hw, const float *b, lam_act act,
                       float param, float *y)
{
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < c; j++) {
            for (int64_t p = 0; p < hw; p++) {
                float *v = &y[(i * c + j) * hw + p];
                float t = b != NULL ? *v + b[j] : *v;
                lam__act_fwd_ref(act, param, 1, &t, v);
            }
        }
    }
}

void lam__bias_grad_ref(int64_t n, int64_t c, int64_t hw, const float *dy, float *db)
{
    for (int64_t j = 0; j < c; j++) {
        double s = 0.0;
        for (int64_t i = 0; i < n; i++) {
            for (int64_t p = 0; p < hw; p++) {
                s += dy[(i * c + j) * hw + p];
            }
        }
        db[j] = (float)((double)db[j] + s);
    }
}
