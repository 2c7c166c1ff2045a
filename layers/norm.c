/* Batch normalisation (Ioffe & Szegedy 2015), as torch.nn.BatchNorm1d/2d:
 *   train:     y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta, var_B biased;
 *              running = (1 - momentum) * running + momentum * stat_B (var unbiased)
 *   inference: the running statistics replace the batch ones.
 * Per channel: over N*H*W for (C,H,W), over N*L for (C,L), over N for (D). The passes are
 * kernels/bn.c (blocks fixed by the shape, so bitwise the same on any thread count); this
 * file owns the parameters (weight = gamma, bias = beta), the buffers running_mean and
 * running_var (PyTorch's names) and the statistics backward needs.
 *
 * A model folds a ReLU that follows it (as ResNets have it): the normalisation pass writes
 * max(y, 0) and backward reads dy through relu's mask (y > 0) on the fly, so the ReLU costs
 * no pass of its own either way. */
#include "dp.h"
#include "layer_internal.h"

#include <math.h>
#include <stdio.h>

typedef struct bn_state {
    int64_t c, hw;
    float *mean, *invstd, *var_unbiased; /* of the latest training forward */
    float *scale, *shift;                /* inference: running statistics folded in; the
                                          * normalisation's a and s in a chunked step */
    float *ba, *bmd, *bb;                /* a chunked backward's coefficients */
    double *sums;                        /* (c, 2): statistics summed over the global batch */
    float *ws;                           /* kernel workspace for the largest batch */
    int64_t ws_n;
    int relu;                            /* a ReLU folded in by the model */
} bn_state;

/* Chan et al.'s pairwise merge of (mean, M2) per channel; arg: values per chunk. */
static void merge_stats(void *left, const void *right, int64_t len, int64_t nl, int64_t nr,
                        const void *arg)
{
    double *a = left;
    const double *b = right;
    const double per = *(const double *)arg, na = (double)nl * per, nb = (double)nr * per;
    const double n = na + nb;
    for (int64_t i = 0; i < len; i += 2) {
        const double d = b[i] - a[i];
        a[i] += d * nb / n;
        a[i + 1] += b[i + 1] + d * d * na * nb / n;
    }
}

/* Synchronised batch norm in a data-parallel step (l->dp): every chunk's statistics come
 * from the same blocks wherever it runs; the chunks are merged in the chunk tree over all
 * ranks, and the rank's batch is normalised with the global statistics. */
static lam_status bn_forward_global(lam_layer *l, const float *x, float *y, int relu)
{
    bn_state *s = l->state;
    lam_dp *dp = l->dp;
    const int nt = lam_ctx_threads(l->ctx);
    const int64_t per = dp->chunk * s->c * s->hw;
    for (int64_t j = 0; j < dp->count; j++) {
        l->k->bn_stats(dp->chunk, s->c, s->hw, x + j * per, dp->leaves + j * 2 * s->c, s->ws,
                       nt);
    }
    const double vals = (double)(dp->chunk * s->hw);
    lam_status st = lam__dp_allreduce(dp, dp->leaves, 2 * s->c, merge_stats, &vals, s->sums);
    if (st != LAM_OK) {
        return st;
    }
    lam__bn_fwd_coefs(s->c, s->sums, (double)(dp->global_n * s->hw), lam__param(l, 0)->w,
                      lam__param(l, 1)->w, l->desc.alpha, s->mean, s->invstd, s->var_unbiased,
                      s->scale, s->shift);
    l->k->bn_norm(dp->count * dp->chunk, s->c, s->hw, x, s->mean, s->scale, s->shift, y, relu,
                  nt);
    return LAM_OK;
}

static lam_status bn_backward_global(lam_layer *l, const float *x, const float *ymask,
                                     const float *dy, float *dx)
{
    bn_state *s = l->state;
    lam_dp *dp = l->dp;
    const int nt = lam_ctx_threads(l->ctx);
    const int64_t per = dp->chunk * s->c * s->hw;
    for (int64_t j = 0; j < dp->count; j++) {
        l->k->bn_bwd_sums(dp->chunk, s->c, s->hw, x + j * per, dy + j * per,
                          ymask != NULL ? ymask + j * per : NULL, s->mean,
                          dp->leaves + j * 2 * s->c, s->ws, nt);
    }
    lam_status st = lam__dp_allreduce(dp, dp->leaves, 2 * s->c, lam__dp_add_f64, NULL, s->sums);
    if (st != LAM_OK) {
        return st;
    }
    lam__bn_bwd_coefs(s->c, s->sums, (double)(dp->global_n * s->hw), lam__param(l, 0)->w,
                      s->invstd, s->ba, s->bmd, s->bb, lam__param(l, 0)->g,
                      lam__param(l, 1)->g);
    if (dx != NULL) {
        l->k->bn_bwd_dx(dp->count * dp->chunk, s->c, s->hw, x, dy, ymask, s->mean, s->ba,
                        s->bmd, s->bb, dx, nt);
    }
    return LAM_OK;
}

static lam_status bn_run_forward(lam_layer *l, const float *const *x, float *y, int64_t n,
                                 int train, int relu)
{
    bn_state *s = l->state;
    const float *gamma = lam__param(l, 0)->w, *beta = lam__param(l, 1)->w;
    float *rmean = lam__buffer(l, 0)->w, *rvar = lam__buffer(l, 1)->w;
    const int nt = lam_ctx_threads(l->ctx);
    if (train) {
        if (l->dp != NULL) {
            lam_status st = bn_forward_global(l, x[0], y, relu); /* the global batch's */
            if (st != LAM_OK) {
                return st;
            }
        } else if (l->k->bn_workspace(n, s->c, s->hw, nt) > s->ws_n) {
            return lam__layer_error(l, LAM_ERR_STATE, "batch %lld needs more workspace",
                                    (long long)n);
        } else {
            l->k->bn_fwd_train(n, s->c, s->hw, x[0], gamma, beta, l->desc.alpha, s->mean,
                               s->invstd, s->var_unbiased, y, relu, s->ws, nt);
        }
        const double mom = l->desc.momentum;
        for (int64_t ch = 0; ch < s->c; ch++) {
            rmean[ch] = (float)((1.0 - mom) * rmean[ch] + mom * s->mean[ch]);
            rvar[ch] = (float)((1.0 - mom) * rvar[ch] + mom * s->var_unbiased[ch]);
        }
        return LAM_OK;
    }
    for (int64_t ch = 0; ch < s->c; ch++) {
        double istd = 1.0 / sqrt((double)rvar[ch] + l->desc.alpha);
        s->scale[ch] = (float)(gamma[ch] * istd);
        s->shift[ch] = (float)(beta[ch] - gamma[ch] * istd * rmean[ch]);
    }
    l->k->bn_fwd_affine(n, s->c, s->hw, x[0], s->scale, s->shift, y, relu, nt);
    return LAM_OK;
}

static lam_status bn_forward(lam_layer *l, const float *const *x, float *y, int64_t n,
                             int train)
{
    return bn_run_forward(l, x, y, n, train, 0);
}

/* ymask: the folded ReLU's output, through which dy counts (NULL: none folded) */
static lam_status bn_run_backward(lam_layer *l, const float *x, const float *ymask,
                                  const float *dy, float *dx, int64_t n)
{
    bn_state *s = l->state;
    if (l->dp != NULL) {
        return bn_backward_global(l, x, ymask, dy, dx);
    }
    l->k->bn_bwd(n, s->c, s->hw, x, dy, ymask, lam__param(l, 0)->w, s->mean, s->invstd,
                 lam__param(l, 0)->g, lam__param(l, 1)->g, dx, s->ws, lam_ctx_threads(l->ctx));
    return LAM_OK;
}

static lam_status bn_backward(lam_layer *l, const float *const *x, const float *y,
                              const float *dy, float *const *dx, unsigned acc, int64_t n)
{
    (void)y;
    (void)acc;
    return bn_run_backward(l, x[0], NULL, dy, dx[0], n);
}

static int bn_can_fuse(const lam_layer *l, lam_act act, const lam_layer *pool)
{
    (void)l;
    return act == LAM_ACT_RELU && pool == NULL;
}

static lam_status bn_fuse(lam_layer *l, lam_act act, lam_layer *pool)
{
    (void)pool;
    ((bn_state *)l->state)->relu = act == LAM_ACT_RELU;
    snprintf(l->strategy, sizeof l->strategy, "+relu");
    return LAM_OK;
}

static lam_status bn_forward_fused(lam_layer *l, const float *x, float *y, int64_t n, int train)
{
    const float *xs[1] = {x};
    return bn_run_forward(l, xs, y, n, train, ((bn_state *)l->state)->relu);
}

/* y is the folded ReLU's output: dy counts where y > 0; dy itself is not written */
static lam_status bn_backward_fused(lam_layer *l, const float *x, const float *y, float *dy,
                                    float *dx, unsigned acc, int64_t n)
{
    (void)acc;
    return bn_run_backward(l, x, ((bn_state *)l->state)->relu ? y : NULL, dy, dx, n);
}

static unsigned bn_reads(const lam_layer *l)
{
    return LAM_READS_X(0) | (((const bn_state *)l->state)->relu ? LAM_READS_Y : 0);
}

static void bn_init(lam_layer *l)
{
    const bn_state *s = l->state;
    for (int64_t ch = 0; ch < s->c; ch++) {
        lam__param(l, 0)->w[ch] = 1.0f;  /* gamma */
        lam__param(l, 1)->w[ch] = 0.0f;  /* beta */
        lam__buffer(l, 0)->w[ch] = 0.0f; /* running mean */
        lam__buffer(l, 1)->w[ch] = 1.0f; /* running var */
    }
}

static void bn_destroy(lam_layer *l)
{
    bn_state *s = l->state;
    if (s != NULL) {
        lam_free(l->ctx, s->mean);
        lam_free(l->ctx, s->ws);
    }
}

/* The kernels' workspace is fixed by the shape; take the most any batch up to max_batch
 * needs, so a short last batch never finds it too small. */
static int64_t workspace_floats(const lam_layer *l, int64_t c, int64_t hw)
{
    int64_t most = 0;
    for (int64_t n = 1; n <= l->max_batch; n++) {
        int64_t w = l->k->bn_workspace(n, c, hw, lam_ctx_threads(l->ctx));
        most = w > most ? w : most;
    }
    return most;
}

static lam_status bn_setup(lam_layer *l)
{
    if (!(l->desc.alpha > 0.0f) || !(l->desc.momentum >= 0.0f && l->desc.momentum <= 1.0f)) {
        return lam__layer_error(l, LAM_ERR_ARG, "eps %g must be > 0, momentum %g in [0, 1]",
                                (double)l->desc.alpha, (double)l->desc.momentum);
    }
    const int64_t c = l->in[0].dim[0], hw = l->in_numel[0] / c;
    l->out = l->in[0];
    l->flops = 2 * l->in_numel[0];
    lam_status st;
    if ((st = lam__layer_tensor(l, "weight", 0, 1, &c, c, c, 1)) != LAM_OK ||
        (st = lam__layer_tensor(l, "bias", 0, 1, &c, 0, 0, 1)) != LAM_OK ||
        (st = lam__layer_tensor(l, "running_mean", 1, 1, &c, 0, 0, 0)) != LAM_OK ||
        (st = lam__layer_tensor(l, "running_var", 1, 1, &c, 0, 0, 0)) != LAM_OK) {
        return st;
    }
    bn_state *s = lam__layer_state(l, sizeof *s);
    if (s == NULL) {
        return LAM_ERR_NOMEM;
    }
    s->c = c;
    s->hw = hw;
    s->mean = lam__layer_scratch(l, 8 * c + 2 * c * 2); /* 8 float rows, 2c doubles */
    s->ws_n = workspace_floats(l, c, hw);
    s->ws = s->ws_n > 0 ? lam__layer_scratch(l, s->ws_n) : NULL;
    if (s->mean == NULL || (s->ws_n > 0 && s->ws == NULL)) {
        return LAM_ERR_NOMEM;
    }
    s->invstd = s->mean + c;
    s->var_unbiased = s->mean + 2 * c;
    s->scale = s->mean + 3 * c;
    s->shift = s->mean + 4 * c;
    s->ba = s->mean + 5 * c;
    s->bmd = s->mean + 6 * c;
    s->bb = s->mean + 7 * c;
    s->sums = (double *)(void *)(s->mean + 8 * c); /* 32c bytes in: 8-byte aligned */
    return LAM_OK;
}

const lam_kind lam__kind_batchnorm = {
    .id = LAM_LAYER_BATCHNORM,
    .name = "batchnorm",
    .min_in = 1,
    .max_in = 1,
    .flags = LAM_KIND_GLOBAL_BATCH,
    .setup = bn_setup,
    .init = bn_init,
    .forward = bn_forward,
    .backward = bn_backward,
    .reads = bn_reads,
    .can_fuse = bn_can_fuse,
    .fuse = bn_fuse,
    .forward_fused = bn_forward_fused,
    .backward_fused = bn_backward_fused,
    .destroy = bn_destroy,
};
