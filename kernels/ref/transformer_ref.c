/*
 * Naive transformer twins, sums in double, straight from the definitions:
 *
 *   layer norm  y = (x - mean) / sqrt(var + eps) w + b        (var biased, over the row)
 *               dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy w
 *   attention   S = Q K^T / sqrt(hd) (masked: -inf above the diagonal when causal)
 *               P = softmax(S) by rows, Y = (P keep) V
 *               dV = (P keep)^T dY, dP = (dY V^T) keep, dS = P (dP - rowsum(P dP))
 *               dQ = dS K / sqrt(hd), dK = dS^T Q / sqrt(hd)
 * Every product is a triple loop; nt and isa are unused.
 */
#include <math.h>

#include "kernels.h"

void lam__layernorm_fwd_ref(int64_t rows, int64_t D, float eps, const float *x,
                            const float *w, const float *b, float *y, float *mean, float *rstd,
                            int nt)
{
    (void)nt;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * D;
        double m = 0.0, v = 0.0;
        for (int64_t j = 0; j < D; j++) {
            m += xr[j];
        }
        m /= (double)D;
        for (int64_t j = 0; j < D; j++) {
            v += (xr[j] - m) * (xr[j] - m);
        }
        const double rs = 1.0 / sqrt(v / (double)D + eps);
        for (int64_t j = 0; j < D; j++) {
            y[r * D + j] = (float)((xr[j] - m) * rs * w[j] + b[j]);
        }
        mean[r] = (float)m;
        rstd[r] = (float)rs;
    }
}

void lam__layernorm_bwd_ref(int64_t rows, int64_t D, const float *x, const float *w,
                            const float *mean, const float *rstd, const float *dy, float *dx,
                            float *dw, float *db, float *ws, int nt)
{
    (void)ws, (void)nt;
    for (int64_t r = 0; r < rows && dx != NULL; r++) {
        double sg = 0.0, sgx = 0.0;
        for (int64_t j = 0; j < D; j++) {
            const double g = (double)dy[r * D + j] * w[j];
            sg += g;
            sgx += g * ((double)x[r * D + j] - mean[r]) * rstd[r];
        }
        for (int64_t j = 0; j < D; j++) {
            const double xh = ((double)x[r * D + j] - mean[r]) * rstd[r];
            const double g = (double)dy[r * D + j] * w[j];
            dx[r * D + j] = (float)(rstd[r] * (g - sg / (double)D - xh * sgx / (double)D));
        }
    }
    for (int64_t j = 0; j < D; j++) {
        double sw = 0.0, sb = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            sw += (double)dy[r * D + j] * ((double)x[r * D + j] - mean[r]) * rstd[r];
            sb += dy[r * D + j];
        }
        if (dw != NULL) {
            dw[j] += (float)sw;
        }
        if (db != NULL) {
            db[j] += (float)sb;
        }
    }
}

/* Entry (i, j) of the dropped weights. */
static double kept(const float *p, const float *keep, int64_t ij)
{
    return keep != NULL ? (double)p[ij] * keep[ij] : p[ij];
}

void lam__attn_head_fwd_ref(const lam_attn *a, int64_t h, const float *qkv, float *p,
                            const float *keep, float *pd, float *att, int isa)
{
    (void)pd, (void)isa;
    const int64_t T = a->T, D = a->D, hd = D / a->heads, ld = 3 * D;
    const float *q = qkv + h * hd, *k = q + D, *v = q + 2 * D;
    for (int64_t i = 0; i < T; i++) {
        const int64_t n = a->causal ? i + 1 : T;
        double s[LAM_ATTN_MAX_T], mx = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j < n; j++) {
            double d = 0.0;
            for (int64_t c = 0; c < hd; c++) {
                d += (double)q[i * ld + c] * k[j * ld + c];
            }
            s[j] = d * a->scale;
            mx = s[j] > mx ? s[j] : mx;
        }
        for (int64_t j = 0; j < n; j++) {
            s[j] = exp(s[j] - mx);
            sum += s[j];
        }
        for (int64_t j = 0; j < T; j++) {
            p[i * T + j] = j < n ? (float)(s[j] / sum) : 0.0f;
        }
    }
    for (int64_t i = 0; i < T; i++) {
        for (int64_t c = 0; c < hd; c++) {
            double y = 0.0;
            for (int64_t j = 0; j < T; j++) {
                y += kept(p, keep, i * T + j) * v[j * ld + c];
            }
            att[i * D + h * hd + c] = (float)y;
        }
    }
}

void lam__attn_head_bwd_ref(const lam_attn *a, int64_t h, const float *qkv, const float *p,
                            const float *keep, const float *datt, float *dqkv, float *dp,
                            float *pd, int isa)
{
    (void)pd, (void)isa;
    const int64_t T = a->T, D = a->D, hd = D / a->heads, ld = 3 * D;
    const float *q = qkv + h * hd, *k = q + D, *v = q + 2 * D, *dy = datt + h * hd;
    float *dq = dqkv + h * hd, *dk = dq + D, *dv = dq + 2 * D;
    for (int64_t j = 0; j < T; j++) {
        for (int64_t c = 0; c < hd; c++) {
            double s = 0.0;
            for (int64_t i = 0; i < T; i++) {
                s += kept(p, keep, i * T + j) * dy[i * D + c];
            }
            dv[j * ld + c] = (float)s;
        }
    }
    /* dp holds dS */
    for (int64_t i = 0; i < T; i++) {
        double row[LAM_ATTN_MAX_T], dot = 0.0;
        for (int64_t j = 0; j < T; j++) {
            double s = 0.0;
            for (int64_t c = 0; c < hd; c++) {
                s += (double)dy[i * D + c] * v[j * ld + c];
            }
            row[j] = keep != NULL ? s * keep[i * T + j] : s;
            dot += row[j] * p[i * T + j];
        }
        for (int64_t j = 0; j < T; j++) {
            dp[i * T + j] = (float)(p[i * T + j] * (row[j] - dot));
        }
    }
    for (int64_t i = 0; i < T; i++) {
        for (int64_t c = 0; c < hd; c++) {
            double sq = 0.0, sk = 0.0;
            for (int64_t j = 0; j < T; j++) {
                sq += (double)dp[i * T + j] * k[j * ld + c];
                sk += (double)dp[j * T + i] * q[j * ld + c];
            }
            dq[i * ld + c] = (float)(sq * a->scale);
            dk[i * ld + c] = (float)(sk * a->scale);
        }
    }
}
