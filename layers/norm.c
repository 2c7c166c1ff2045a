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

/* A pass over the channels: each is independent, so they run as the items of one
 * lam__run_phases phase (no OpenMP region at all on one thread). */
typedef struct bn_pass {
    lam_layer *l;
    const float *x, *dy;
    float *y, *dx;
    int64_t n;
    int train;
} bn_pass;

static void item_forward(const void *arg, int64_t ch, int lane)
{
    const bn_pass *ps = arg;
    (void)lane;
    bn_forward_channel(ps->l, ps->x, ps->y, ps->n, ps->train, ch);
}

static void run_channels(const bn_pass *ps, lam_item_fn fn)
{
    int64_t c, hw;
    plane_dims(ps->l, &c, &hw);
    const lam_phase ph = {fn, c, 1};
    lam__run_phases(lam_ctx_threads(ps->l->ctx), ps, &ph, 1);
}

static lam_status bn_forward(lam_layer *l, const float *x, float *y, int64_t n, int train)
{
    const bn_pass ps = {.l = l, .x = x, .y = y, .n = n, .train = train};
    run_channels(&ps, item_forward);
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

static void item_backward(const void *arg, int64_t ch, int lane)
{
    const bn_pass *ps = arg;
    (void)lane;
    bn_backward_channel(ps->l, ps->x, ps->dy, ps->dx, ps->n, ch);
}

static lam_status bn_backward(lam_layer *l, const float *x, const float *y, const float *dy,
                              float *dx, int64_t n)
{
    (void)y;
    const bn_pass ps = {.l = l, .x = x, .dy = dy, .dx = dx, .n = n};
    run_channels(&ps, item_backward);
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
