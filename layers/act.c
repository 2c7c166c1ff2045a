/* Element-wise layers: the activations (math in kernels/act.c) and inverted dropout. */
#include "layer_internal.h"

#include <string.h>

static lam_act act_of(lam_layer_kind kind)
{
    switch (kind) {
    case LAM_LAYER_RELU: return LAM_ACT_RELU;
    case LAM_LAYER_LEAKY_RELU: return LAM_ACT_LEAKY_RELU;
    case LAM_LAYER_SIGMOID: return LAM_ACT_SIGMOID;
    case LAM_LAYER_TANH: return LAM_ACT_TANH;
    case LAM_LAYER_GELU: return LAM_ACT_GELU;
    default: return LAM_ACT_NONE;
    }
}

static lam_status act_forward(lam_layer *l, const float *x, float *y, int64_t n, int train)
{
    (void)train;
    l->k->act_fwd(act_of(l->desc.kind), l->desc.alpha, n * l->in_numel, x, y);
    return LAM_OK;
}

static lam_status act_backward(lam_layer *l, const float *x, const float *y, const float *dy,
                               float *dx, int64_t n)
{
    if (dx != NULL) {
        l->k->act_bwd(act_of(l->desc.kind), l->desc.alpha, n * l->in_numel, x, y, dy, dx);
    }
    return LAM_OK;
}

static const lam_layer_ops act_ops[] = {
    {"relu", act_forward, act_backward},   {"leakyrelu", act_forward, act_backward},
    {"sigmoid", act_forward, act_backward}, {"tanh", act_forward, act_backward},
    {"gelu", act_forward, act_backward},
};

static void same_shape(lam_layer *l)
{
    l->out_ndim = l->in_ndim;
    for (int i = 0; i < l->in_ndim; i++) {
        l->out_shape[i] = l->in_shape[i];
    }
}

lam_status lam__act_setup(lam_layer *l)
{
    l->ops = &act_ops[act_of(l->desc.kind) - LAM_ACT_RELU];
    same_shape(l);
    l->flops = l->in_numel;
    return LAM_OK;
}

/* ----------------------------------------------------------------- dropout */

/* Masks come from the counter-based RNG keyed by (seed, layer stream, step), so a resumed run
 * draws the same masks as an uninterrupted one, whatever the thread count. */
static lam_status dropout_forward(lam_layer *l, const float *x, float *y, int64_t n, int train)
{
    int64_t count = n * l->in_numel;
    float p = l->desc.alpha;
    if (!train || p == 0.0f) {
        if (y != x) {
            memcpy(y, x, (size_t)count * sizeof(float));
        }
        return LAM_OK;
    }
    uint64_t seed = lam_ctx_seed(l->ctx);
    uint64_t stream = (l->stream << 40) ^ (uint64_t)l->step;
    float scale = 1.0f / (1.0f - p);
    float *mask = l->ws;
    const int nt = lam_ctx_threads(l->ctx);
    /* small or one thread: no OpenMP region at all (libgomp allocates a team for a region
     * of one thread, and a training step must not allocate) */
    if (nt <= 1 || count <= 65536) {
        for (int64_t i = 0; i < count; i++) {
            mask[i] = lam_rng_uniform(seed, stream, (uint64_t)i) < p ? 0.0f : scale;
            y[i] = x[i] * mask[i];
        }
        return LAM_OK;
    }
#ifdef LAM_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (int64_t i = 0; i < count; i++) {
        mask[i] = lam_rng_uniform(seed, stream, (uint64_t)i) < p ? 0.0f : scale;
        y[i] = x[i] * mask[i];
    }
    return LAM_OK;
}

static lam_status dropout_backward(lam_layer *l, const float *x, const float *y,
                                   const float *dy, float *dx, int64_t n)
{
    (void)x;
    (void)y;
    if (dx == NULL) {
        return LAM_OK;
    }
    int64_t count = n * l->in_numel;
    if (l->desc.alpha == 0.0f) {
        memcpy(dx, dy, (size_t)count * sizeof(float));
        return LAM_OK;
    }
    for (int64_t i = 0; i < count; i++) {
        dx[i] = dy[i] * l->ws[i];
    }
    return LAM_OK;
}

static const lam_layer_ops dropout_ops = {"dropout", dropout_forward, dropout_backward};

lam_status lam__dropout_setup(lam_layer *l)
{
    l->ops = &dropout_ops;
    if (!(l->desc.alpha >= 0.0f && l->desc.alpha < 1.0f)) {
        return lam__layer_error(l, LAM_ERR_ARG, "drop probability %g not in [0, 1)",
                                (double)l->desc.alpha);
    }
    same_shape(l);
    l->ws = lam__alloc_floats(l->ctx, l->max_batch * l->in_numel, l->name);
    return l->ws != NULL ? LAM_OK : LAM_ERR_NOMEM;
}
