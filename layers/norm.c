/* Batch normalisation (Ioffe & Szegedy 2015), as torch.nn.BatchNorm1d/2d:
 *   train:     y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta, var_B biased;
 *              running = (1 - momentum) * running + momentum * stat_B (var unbiased)
 *   inference: the running statistics replace the batch ones.
 * Over channels for (C,H,W) samples (statistics over N*H*W), over features for (F) (over N).
 * Backward with xhat = (x - mean) * invstd and M = N*H*W values per channel:
 *   dgamma += sum dy*xhat, dbeta += sum dy,
 *   dx = gamma * invstd / M * (M*dy - sum dy - xhat * sum dy*xhat). */
#include "layer_internal.h"

#include <math.h>

/* ws layout: saved mean (C), saved invstd (C), running mean (C), running var (C) */

static void plane_dims(const lam_layer *l, int64_t *c, int64_t *hw)
{
    *c = l->in_shape[0];
    *hw = l->in_ndim == 3 ? l->in_shape[1] * l->in_shape[2] : 1;
}

/* One channel of the forward. */
static void bn_forward_channel(lam_layer *l, const float *x, float *y, int64_t n, int train,
                               int64_t ch)
{
    int64_t c, hw;
    plane_dims(l, &c, &hw);
    const float *gamma = l->params[0].w, *beta = l->params[1].w;
    float *mean = l->ws, *invstd = l->ws + c, *rmean = l->ws + 2 * c, *rvar = l->ws + 3 * c;
    double eps = l->desc.alpha, mom = l->desc.momentum;
    double m = (double)(n * hw);
    {
        double mu, istd;
        if (train) {
            double s = 0.0, s2 = 0.0;
            for (int64_t i = 0; i < n; i++) {
                const float *p = x + (i * c + ch) * hw;
                for (int64_t j = 0; j < hw; j++) {
                    s += p[j];
                }
            }
            mu = s / m;
            for (int64_t i = 0; i < n; i++) {
                const float *p = x + (i * c + ch) * hw;
                for (int64_t j = 0; j < hw; j++) {
                    double d = p[j] - mu;
                    s2 += d * d;
                }
            }
            double var = s2 / m;
            istd = 1.0 / sqrt(var + eps);
            mean[ch] = (float)mu;
            invstd[ch] = (float)istd;
            double unbiased = m > 1 ? s2 / (m - 1) : var;
            rmean[ch] = (float)((1.0 - mom) * rmean[ch] + mom * mu);
            rvar[ch] = (float)((1.0 - mom) * rvar[ch] + mom * unbiased);
        } else {
            mu = rmean[ch];
            istd = 1.0 / sqrt((double)rvar[ch] + eps);
        }
        float a = (float)(gamma[ch] * istd), b = (float)(beta[ch] - gamma[ch] * istd * mu);
        for (int64_t i = 0; i < n; i++) {
            const float *p = x + (i * c + ch) * hw;
            float *q = y + (i * c + ch) * hw;
            for (int64_t j = 0; j < hw; j++) {
                q[j] = a * p[j] + b;
            }
        }
    }
}

static lam_status bn_forward(lam_layer *l, const float *x, float *y, int64_t n, int train)
{
    int64_t c, hw;
    plane_dims(l, &c, &hw);
    const int nt = lam_ctx_threads(l->ctx);
    /* one thread: no OpenMP region (libgomp allocates a team for a region of one thread) */
    if (nt <= 1) {
        for (int64_t ch = 0; ch < c; ch++) {
            bn_forward_channel(l, x, y, n, train, ch);
        }
        return LAM_OK;
    }
#ifdef LAM_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (int64_t ch = 0; ch < c; ch++) {
        bn_forward_channel(l, x, y, n, train, ch);
    }
    return LAM_OK;
}

/* One channel of the backward. */
static void bn_backward_channel(lam_layer *l, const float *x, const float *dy, float *dx,
                                int64_t n, int64_t ch)
{
    int64_t c, hw;
    plane_dims(l, &c, &hw);
    const float *gamma = l->params[0].w;
    float *dgamma = l->params[0].g, *dbeta = l->params[1].g;
    const float *mean = l->ws, *invstd = l->ws + c;
    double m = (double)(n * hw);
    {
        double sdy = 0.0, sdyx = 0.0;
        double mu = mean[ch], istd = invstd[ch];
        for (int64_t i = 0; i < n; i++) {
            const float *p = x + (i * c + ch) * hw, *g = dy + (i * c + ch) * hw;
            for (int64_t j = 0; j < hw; j++) {
                sdy += g[j];
                sdyx += g[j] * (p[j] - mu) * istd;
            }
        }
        dgamma[ch] += (float)sdyx;
        dbeta[ch] += (float)sdy;
        if (dx == NULL) {
            return;
        }
        double k = gamma[ch] * istd / m;
        for (int64_t i = 0; i < n; i++) {
            const float *p = x + (i * c + ch) * hw, *g = dy + (i * c + ch) * hw;
            float *q = dx + (i * c + ch) * hw;
            for (int64_t j = 0; j < hw; j++) {
                double xhat = (p[j] - mu) * istd;
                q[j] = (float)(k * (m * g[j] - sdy - xhat * sdyx));
            }
        }
    }
}

static lam_status bn_backward(lam_layer *l, const float *x, const float *y, const float *dy,
                              float *dx, int64_t n)
{
    (void)y;
    int64_t c, hw;
    plane_dims(l, &c, &hw);
    const int nt = lam_ctx_threads(l->ctx);
    if (nt <= 1) {
        for (int64_t ch = 0; ch < c; ch++) {
            bn_backward_channel(l, x, dy, dx, n, ch);
        }
        return LAM_OK;
    }
#ifdef LAM_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (int64_t ch = 0; ch < c; ch++) {
        bn_backward_channel(l, x, dy, dx, n, ch);
    }
    return LAM_OK;
}

static const lam_layer_ops bn_ops = {"batchnorm", bn_forward, bn_backward};

lam_status lam__batchnorm_setup(lam_layer *l)
{
    l->ops = &bn_ops;
    if (!(l->desc.alpha > 0.0f) || !(l->desc.momentum >= 0.0f && l->desc.momentum <= 1.0f)) {
        return lam__layer_error(l, LAM_ERR_ARG, "eps %g must be > 0, momentum %g in [0, 1]",
                                (double)l->desc.alpha, (double)l->desc.momentum);
    }
    int64_t c = l->in_shape[0];
    l->out_ndim = l->in_ndim;
    for (int i = 0; i < l->in_ndim; i++) {
        l->out_shape[i] = l->in_shape[i];
    }
    l->flops = 2 * l->in_numel;
    lam_status st = lam__layer_alloc_params(l, c, c, 0, 0);
    if (st != LAM_OK) {
        return st;
    }
    for (int64_t i = 0; i < c; i++) {
        l->params[0].w[i] = 1.0f; /* gamma */
    }
    l->params[0].is_bias = 1; /* a scale, not a matrix: exempt from fan-based init */
    l->ws = lam__alloc_floats(l->ctx, 4 * c, l->name);
    if (l->ws == NULL) {
        return LAM_ERR_NOMEM;
    }
    for (int64_t i = 0; i < c; i++) {
        l->ws[3 * c + i] = 1.0f; /* running var */
    }
    static const char *const names[2] = {"running_mean", "running_var"};
    for (int i = 0; i < 2; i++) {
        l->buffers[i].name = names[i];
        l->buffers[i].w = l->ws + (2 + i) * c;
        l->buffers[i].g = NULL;
        l->buffers[i].n = c;
    }
    l->n_buffers = 2;
    return LAM_OK;
}
