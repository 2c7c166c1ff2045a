/* Element-wise layers: the activations (math in kernels/act.c) and inverted dropout. Any
 * sample shape; the output has the input's shape. */
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
    case LAM_LAYER_GELU_TANH: return LAM_ACT_GELU_TANH;
    default: return LAM_ACT_NONE;
    }
}

/* relu and leaky relu with a slope >= 0 have y > 0 exactly where x > 0, so their backward
 * can read y instead of x: in place, x is gone; out of place, x need not stay alive. */
static int grad_from_y(const lam_layer *l)
{
    return l->desc.kind == LAM_LAYER_RELU ||
           (l->desc.kind == LAM_LAYER_LEAKY_RELU && l->desc.alpha >= 0.0f);
}

/* Elements per work item of the activation passes, and the fewest worth a parallel region
 * (a GPT's GELU runs over 0.4 million elements a layer; a CNN's relu is folded away). */
#define ACT_BLOCK 16384
#define ACT_PARALLEL_MIN (4 * ACT_BLOCK)

typedef struct act_pass {
    const lam_layer *l;
    const float *x, *y, *dy;
    float *out;
    int64_t count;
    int backward;
} act_pass;

/* One block of the pass: elementwise, so the split changes no bit. */
static void item_act(const void *arg, int64_t blk, int lane)
{
    (void)lane;
    const act_pass *ps = arg;
    const int64_t i0 = blk * ACT_BLOCK, len = ps->count - i0 < ACT_BLOCK ? ps->count - i0
                                                                      : ACT_BLOCK;
    const lam_act act = act_of(ps->l->desc.kind);
    if (ps->backward) {
        ps->l->k->act_bwd(act, ps->l->desc.alpha, len, ps->x + i0,
                          ps->y != NULL ? ps->y + i0 : NULL, ps->dy + i0, ps->out + i0);
    } else {
        ps->l->k->act_fwd(act, ps->l->desc.alpha, len, ps->x + i0, ps->out + i0);
    }
}

static void run_act(const act_pass *ps)
{
    const lam_phase ph = {item_act, (ps->count + ACT_BLOCK - 1) / ACT_BLOCK, 0};
    lam__run_phases(ps->count >= ACT_PARALLEL_MIN ? lam_ctx_threads(ps->l->ctx) : 1, ps, &ph, 1);
}

static lam_status act_forward(lam_layer *l, const float *const *x, float *y, int64_t n,
                              int train)
{
    (void)train;
    const act_pass ps = {l, x[0], NULL, NULL, y, n * l->in_numel[0], 0};
    run_act(&ps);
    return LAM_OK;
}

static lam_status act_backward(lam_layer *l, const float *const *x, const float *y,
                               const float *dy, float *const *dx, unsigned acc, int64_t n)
{
    (void)acc;
    if (dx[0] != NULL) {
        const act_pass ps = {l, grad_from_y(l) ? y : x[0], y, dy, dx[0], n * l->in_numel[0], 1};
        run_act(&ps);
    }
    return LAM_OK;
}

static unsigned act_reads(const lam_layer *l)
{
    if (grad_from_y(l)) {
        return LAM_READS_Y;
    }
    return l->desc.kind == LAM_LAYER_GELU || l->desc.kind == LAM_LAYER_GELU_TANH ||
                   l->desc.kind == LAM_LAYER_LEAKY_RELU
               ? LAM_READS_X(0)
               : LAM_READS_X(0) | LAM_READS_Y;
}

static lam_status act_setup(lam_layer *l)
{
    l->out = l->in[0];
    l->flops = l->in_numel[0];
    return LAM_OK;
}

/* The six activation kinds differ only in id and name: one table shape for all. */
#define ACT_KIND(kind_id, kind_name)                                                          \
    {                                                                                         \
        .id = kind_id, .name = kind_name, .min_in = 1, .max_in = 1,                           \
        .flags = LAM_KIND_IN_PLACE, .setup = act_setup, .forward = act_forward,               \
        .backward = act_backward, .reads = act_reads                                          \
    }
const lam_kind lam__kind_relu = ACT_KIND(LAM_LAYER_RELU, "relu");
const lam_kind lam__kind_leaky_relu = ACT_KIND(LAM_LAYER_LEAKY_RELU, "leakyrelu");
const lam_kind lam__kind_sigmoid = ACT_KIND(LAM_LAYER_SIGMOID, "sigmoid");
const lam_kind lam__kind_tanh = ACT_KIND(LAM_LAYER_TANH, "tanh");
const lam_kind lam__kind_gelu = ACT_KIND(LAM_LAYER_GELU, "gelu");
const lam_kind lam__kind_gelu_tanh = ACT_KIND(LAM_LAYER_GELU_TANH, "gelu_tanh");

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
    uint64_t first; /* RNG position of element 0: its place in the global batch */
} dropout_pass;

static void item_dropout(const void *arg, int64_t blk, int lane)
{
    const dropout_pass *ps = arg;
    (void)lane;
    const int64_t end = (blk + 1) * DROPOUT_BLOCK < ps->count ? (blk + 1) * DROPOUT_BLOCK
                                                              : ps->count;
    for (int64_t i = blk * DROPOUT_BLOCK; i < end; i++) {
        ps->mask[i] = lam_rng_uniform(ps->seed, ps->stream, ps->first + (uint64_t)i) < ps->p
                          ? 0.0f
                                                                                 : ps->scale;
        ps->y[i] = ps->x[i] * ps->mask[i];
    }
}

/* Masks come from the counter-based RNG keyed by (seed, layer stream, step), so a resumed run
 * draws the same masks as an uninterrupted one, whatever the thread count. */
static lam_status dropout_forward(lam_layer *l, const float *const *xs, float *y, int64_t n,
                                  int train)
{
    const float *x = xs[0];
    int64_t count = n * l->in_numel[0];
    float p = l->desc.alpha;
    if (!train || p == 0.0f) {
        if (y != x) {
            memcpy(y, x, (size_t)count * sizeof(float));
        }
        return LAM_OK;
    }
    const int64_t per = l->in_numel[0];
    const dropout_pass ps = {x, y, (float *)l->state + l->row0 * per, p, 1.0f / (1.0f - p),
                             lam_ctx_seed(l->ctx), (l->stream << 40) ^ (uint64_t)l->step,
                             count, (uint64_t)(l->grow0 * per)};
    const lam_phase ph = {item_dropout, (count + DROPOUT_BLOCK - 1) / DROPOUT_BLOCK, 1};
    lam__run_phases(count > DROPOUT_PARALLEL_MIN ? lam_ctx_threads(l->ctx) : 1, &ps, &ph, 1);
    return LAM_OK;
}

static lam_status dropout_backward(lam_layer *l, const float *const *x, const float *y,
                                   const float *dy, float *const *dxs, unsigned acc, int64_t n)
{
    (void)x;
    (void)y;
    (void)acc;
    float *dx = dxs[0];
    if (dx == NULL) {
        return LAM_OK;
    }
    int64_t count = n * l->in_numel[0];
    if (l->desc.alpha == 0.0f) {
        if (dx != dy) {
            memcpy(dx, dy, (size_t)count * sizeof(float));
        }
        return LAM_OK;
    }
    const float *mask = (const float *)l->state + l->row0 * l->in_numel[0];
    for (int64_t i = 0; i < count; i++) {
        dx[i] = dy[i] * mask[i];
    }
    return LAM_OK;
}

static unsigned dropout_reads(const lam_layer *l)
{
    (void)l;
    return 0; /* its own mask only */
}

static lam_status dropout_setup(lam_layer *l)
{
    if (!(l->desc.alpha >= 0.0f && l->desc.alpha < 1.0f)) {
        return lam__layer_error(l, LAM_ERR_ARG, "drop probability %g not in [0, 1)",
                                (double)l->desc.alpha);
    }
    l->out = l->in[0];
    /* the mask is the state: one float per element of the largest batch */
    l->ws_bytes = l->max_batch * l->in_numel[0] * (int64_t)sizeof(float);
    if (lam__layer_state(l, (size_t)l->ws_bytes) == NULL) {
        return LAM_ERR_NOMEM;
    }
    return LAM_OK;
}

const lam_kind lam__kind_dropout = {
    .id = LAM_LAYER_DROPOUT,
    .name = "dropout",
    .min_in = 1,
    .max_in = 1,
    .flags = LAM_KIND_IN_PLACE,
    .setup = dropout_setup,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .reads = dropout_reads,
};
