/*
 * Batch-norm twins, in double, one channel at a time. x(n, c, hw); M = n*hw values per
 * channel (torch.nn.BatchNorm1d/2d):
 *
 *   mean = sum x / M,  var = sum (x - mean)^2 / M          (two passes; biased)
 *   invstd = 1 / sqrt(var + eps),  var_unbiased = var * M / (M - 1)  (var when M == 1)
 *   y = gamma * (x - mean) * invstd + beta                 (gamma NULL: 1, beta NULL: 0)
 *   affine: y = scale * x + shift
 *   relu (a folded ReLU): y = y < 0 ? 0 : y; its backward counts dy only where y > 0
 *   backward, xhat = (x - mean) * invstd with the float mean and invstd saved by forward:
 *     dgamma += sum dy*xhat,  dbeta += sum dy
 *     dx = gamma * invstd / M * (M*dy - sum dy - xhat * sum dy*xhat)
 *   chunk pieces: stats (mean, M2 = sum (x - mean)^2), norm y = (x - mf) * a + s,
 *     bwd_sums (sum dy, sum dy*(x - mean)), bwd_dx = a * ((dy - md) - b*(x - mean))
 * The workspace and thread count are ignored. Each channel is read completely before any of
 * its outputs is written, so y may equal x and dx may equal dy.
 */
#include <math.h>

#include "kernels.h"

static float relu_of(double v, int relu)
{
    const float f = (float)v;
    return relu && f < 0.0f ? 0.0f : f;
}

/* dy[k], or 0 where the folded ReLU's output is not positive */
static double grad_at(const float *dy, const float *ymask, int64_t k)
{
    return ymask == NULL || ymask[k] > 0.0f ? (double)dy[k] : 0.0;
}

/* Channel j's mean and M2 = sum (x - mean)^2 over its m values, two passes (0, 0 when empty). */
static void channel_stats(int64_t n, int64_t c, int64_t hw, const float *x, int64_t j,
                          double *mean, double *m2)
{
    const double m = (double)(n * hw);
    double s = 0.0, s2 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t p = 0; p < hw; p++) {
            s += x[(i * c + j) * hw + p];
        }
    }
    const double mu = m > 0.0 ? s / m : 0.0;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t p = 0; p < hw; p++) {
            const double d = x[(i * c + j) * hw + p] - mu;
            s2 += d * d;
        }
    }
    *mean = mu;
    *m2 = s2;
}

int64_t lam__bn_workspace_ref(int64_t n, int64_t c, int64_t hw, int nt)
{
    (void)n, (void)c, (void)hw, (void)nt;
    return 0;
}

void lam__bn_fwd_train_ref(int64_t n, int64_t c, int64_t hw, const float *x, const float *gamma,
                           const float *beta, float eps, float *mean, float *invstd,
                           float *var_unbiased, float *y, int relu, float *ws, int nt)
{
    (void)ws, (void)nt;
    const double m = (double)(n * hw);
    for (int64_t j = 0; j < c; j++) {
        double mu, s2;
        channel_stats(n, c, hw, x, j, &mu, &s2);
        const double var = s2 / m, istd = 1.0 / sqrt(var + (double)eps);
        const double g = gamma != NULL ? gamma[j] : 1.0, b = beta != NULL ? beta[j] : 0.0;
        mean[j] = (float)mu;
        invstd[j] = (float)istd;
        var_unbiased[j] = (float)(m > 1.0 ? s2 / (m - 1.0) : var);
        for (int64_t i = 0; i < n; i++) {
            for (int64_t p = 0; p < hw; p++) {
                const int64_t k = (i * c + j) * hw + p;
                y[k] = relu_of(g * ((double)x[k] - mu) * istd + b, relu);
            }
        }
    }
}

void lam__bn_fwd_affine_ref(int64_t n, int64_t c, int64_t hw, const float *x, const float *scale,
                            const float *shift, float *y, int relu, int nt)
{
    (void)nt;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < c; j++) {
            for (int64_t p = 0; p < hw; p++) {
                const int64_t k = (i * c + j) * hw + p;
                y[k] = relu_of((double)scale[j] * x[k] + (double)shift[j], relu);
            }
        }
    }
}

void lam__bn_bwd_ref(int64_t n, int64_t c, int64_t hw, const float *x, const float *dy,
                     const float *ymask, const float *gamma, const float *mean,
                     const float *invstd, float *dgamma, float *dbeta, float *dx, float *ws,
                     int nt)
{
    (void)ws, (void)nt;
    const double m = (double)(n * hw);
    for (int64_t j = 0; j < c; j++) {
        const double mu = mean[j], istd = invstd[j], g = gamma != NULL ? gamma[j] : 1.0;
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t i = 0; i < n; i++) {
            for (int64_t p = 0; p < hw; p++) {
                const int64_t k = (i * c + j) * hw + p;
                sdy += grad_at(dy, ymask, k);
                sdyx += grad_at(dy, ymask, k) * ((x[k] - mu) * istd);
            }
        }
        if (dgamma != NULL) {
            dgamma[j] = (float)((double)dgamma[j] + sdyx);
        }
        if (dbeta != NULL) {
            dbeta[j] = (float)((double)dbeta[j] + sdy);
        }
        if (dx == NULL) {
            continue;
        }
        const double k0 = g * istd / m;
        for (int64_t i = 0; i < n; i++) {
            for (int64_t p = 0; p < hw; p++) {
                const int64_t k = (i * c + j) * hw + p;
                const double xhat = (x[k] - mu) * istd;
                dx[k] = (float)(k0 * (m * grad_at(dy, ymask, k) - sdy - xhat * sdyx));
            }
        }
    }
}

/* Chunk-level pieces. stats: mean and M2 (two passes); bwd_sums: sum g and sum g*(x - mean)
 * with the difference in double; an empty chunk (n or hw == 0) gives zeros. */
void lam__bn_stats_ref(int64_t n, int64_t c, int64_t hw, const float *x, double *stats,
                       float *ws, int nt)
{
    (void)ws, (void)nt;
    for (int64_t j = 0; j < c; j++) {
        channel_stats(n, c, hw, x, j, &stats[2 * j], &stats[2 * j + 1]);
    }
}

void lam__bn_norm_ref(int64_t n, int64_t c, int64_t hw, const float *x, const float *mf,
                      const float *a, const float *s, float *y, int relu, int nt)
{
    (void)nt;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < c; j++) {
            const double mu = mf != NULL ? mf[j] : 0.0;
            for (int64_t p = 0; p < hw; p++) {
                const int64_t k = (i * c + j) * hw + p;
                y[k] = relu_of(((double)x[k] - mu) * a[j] + (double)s[j], relu);
            }
        }
    }
}

void lam__bn_bwd_sums_ref(int64_t n, int64_t c, int64_t hw, const float *x, const float *dy,
                          const float *ymask, const float *mean, double *sums, float *ws,
                          int nt)
{
    (void)ws, (void)nt;
    for (int64_t j = 0; j < c; j++) {
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t i = 0; i < n; i++) {
            for (int64_t p = 0; p < hw; p++) {
                const int64_t k = (i * c + j) * hw + p;
                sdy += grad_at(dy, ymask, k);
                sdyx += grad_at(dy, ymask, k) * ((double)x[k] - mean[j]);
            }
        }
        sums[2 * j] = sdy;
        sums[2 * j + 1] = sdyx;
    }
}

void lam__bn_bwd_dx_ref(int64_t n, int64_t c, int64_t hw, const float *x, const float *dy,
                        const float *ymask, const float *mean, const float *a, const float *md,
                        const float *b, float *dx, int nt)
{
    (void)nt;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < c; j++) {
            for (int64_t p = 0; p < hw; p++) {
                const int64_t k = (i * c + j) * hw + p;
                const double g = grad_at(dy, ymask, k);
                dx[k] = (float)((double)a[j] *
                                ((g - md[j]) - (double)b[j] * ((double)x[k] - mean[j])));
            }
        }
    }
}
