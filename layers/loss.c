/* Losses with their gradient in the same pass; reduction is the mean, as PyTorch's default.
 *   softmax cross-entropy: kernels/softmax_xent.c (log-sum-exp, label smoothing)
 *   MSE:   L = mean (p - t)^2,           dL/dp = 2 (p - t) / (N K)
 *   L1:    L = mean |p - t|,             dL/dp = sign(p - t) / (N K)   (0 at p == t)
 *   Huber: L = mean h(p - t), h(d) = 0.5 d^2 / delta if |d| < delta else |d| - 0.5 delta
 *          (PyTorch SmoothL1Loss with beta = delta), dL/dp = clamp(d / delta, -1, 1) / (N K) */
#include "layer_internal.h"

#include <math.h>

static double elementwise(lam_loss_kind kind, double d, double delta, double *grad)
{
    switch (kind) {
    case LAM_LOSS_MSE:
        *grad = 2.0 * d;
        return d * d;
    case LAM_LOSS_L1:
        *grad = d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0;
        return fabs(d);
    default: /* Huber */
        if (fabs(d) < delta) {
            *grad = d / delta;
            return 0.5 * d * d / delta;
        }
        *grad = d > 0 ? 1.0 : -1.0;
        return fabs(d) - 0.5 * delta;
    }
}

lam_status lam_loss_eval(lam_ctx *ctx, const lam_loss_desc *d, int64_t n, int64_t k,
                         const float *pred, const int32_t *labels, const float *targets,
                         double *loss, float *dpred)
{
    if (ctx == NULL) {
        return LAM_ERR_ARG;
    }
    if (d == NULL || pred == NULL || loss == NULL || n < 1 || k < 1) {
        return lam__error(ctx, LAM_ERR_ARG, "loss: NULL argument or empty batch");
    }
    /* per position is per row here: the caller passes N*T rows (lam_model_loss does) */
    if (d->kind == LAM_LOSS_SOFTMAX_XENT || d->kind == LAM_LOSS_SEQ_XENT) {
        if (labels == NULL || !(d->smoothing >= 0.0f && d->smoothing < 1.0f)) {
            return lam__error(ctx, LAM_ERR_ARG, "loss: cross-entropy needs labels and "
                              "smoothing in [0, 1)");
        }
        const lam_kernels *kt = lam__kernels_for(ctx->cfg.kernels);
        lam_status st = kt->softmax_xent(n, k, pred, labels, d->smoothing, loss, dpred, NULL);
        if (st == LAM_ERR_RANGE) {
            return lam__error(ctx, st, "loss: a label is outside [0, %lld)", (long long)k);
        }
        if (st != LAM_OK) {
            return lam__error(ctx, st, "loss: non-finite logits");
        }
        return LAM_OK;
    }
    if (d->kind != LAM_LOSS_MSE && d->kind != LAM_LOSS_L1 && d->kind != LAM_LOSS_HUBER) {
        return lam__error(ctx, LAM_ERR_ARG, "loss: unknown kind %d", (int)d->kind);
    }
    if (targets == NULL || (d->kind == LAM_LOSS_HUBER && !(d->delta > 0.0f))) {
        return lam__error(ctx, LAM_ERR_ARG, "loss: needs targets (and Huber delta > 0)");
    }
    double total = 0.0, inv = 1.0 / (double)(n * k);
    for (int64_t i = 0; i < n * k; i++) {
        double g;
        total += elementwise(d->kind, (double)pred[i] - targets[i], d->delta, &g);
        if (dpred != NULL) {
            dpred[i] = (float)(g * inv);
        }
    }
    *loss = total * inv;
    if (!isfinite(*loss)) {
        return lam__error(ctx, LAM_ERR_NUMERIC, "loss: non-finite value");
    }
    return LAM_OK;
}

void lam_loss_desc_init(lam_loss_desc *d, lam_loss_kind kind)
{
    if (d == NULL) {
        return;
    }
    d->kind = kind;
    d->smoothing = 0.0f;
    d->delta = 1.0f;
}
