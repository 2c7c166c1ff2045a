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

/* Elements per work item of the dropout forward, and the fewest worth a parallel region. */
#define DROPOUT_BLOCK 16384
#define DROPOUT_PARALLEL_MIN 65536

typedef struct dropout_pass {
    const float *x;
    float *y, *mask;
    float p, scale;
    uint64_t seed, stream;
    int64_t count;
} dropout_pass;

static void item_dropout(const void *arg, int64_t blk, int lane)
{
    const dropout_pass *ps = arg;
    (void)lane;
    const int64_t end = (blk + 1) * DROPOUT_BLOCK < ps->count ? (blk + 1) * DROPOUT_BLOCK
                                                              : ps->count;
    for (int64_t i = blk * DROPOUT_BLOCK; i < end; i++) {
        ps->mask[i] = lam_rng_uniform(ps->seed, ps->stream, (uint64_t)i) < ps->p ? 0.0f
                                                                                 : ps->scale;
        ps->y[i] = ps->x[i] * ps->mask[i];
    }
}

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
    const dropout_pass ps = {x, y, l->ws, p, 1.0f / (1.0f - p), lam_ctx_seed(l->ctx),
                             (l->stream << 40) ^ (uint64_t)l->step, count};
    const lam_phase ph = {item_dropout, (count + DROPOUT_BLOCK - 1) / DROPOUT_BLOCK, 1};
    lam__run_phases(count > DROPOUT_PARALLEL_MIN ? lam_ctx_threads(l->ctx) : 1, &ps, &ph, 1);
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
