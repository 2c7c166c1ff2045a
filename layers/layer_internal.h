/* Layers: a small ops table per kind. Not installed. */
#ifndef LAM_LAYER_INTERNAL_H
#define LAM_LAYER_INTERNAL_H

#include "core_internal.h"
#include "kernels.h"
#include "lamina/model.h"

typedef struct lam_layer_ops {
    const char *name; /* "conv2d", "linear", ... */
    /* y (n, out) from x (n, in). */
    lam_status (*forward)(lam_layer *l, const float *x, float *y, int64_t n, int train);
    /* dx (n, in) overwritten (NULL: skip), parameter grads accumulate. */
    lam_status (*backward)(lam_layer *l, const float *x, const float *y, const float *dy,
                           float *dx, int64_t n);
} lam_layer_ops;

struct lam_layer {
    const lam_layer_ops *ops;
    lam_ctx *ctx;
    const lam_kernels *k;
    lam_layer_desc desc;
    int index;                 /* position in a model (0 standalone), used in names */
    char name[32];             /* "conv2d#3" */
    int in_ndim, out_ndim;     /* 1 or 3 */
    int64_t in_shape[3], out_shape[3];
    int64_t in_numel, out_numel; /* per sample */
    int64_t max_batch;
    uint64_t stream;           /* RNG stream for init and dropout */
    int64_t step;              /* dropout draws from (seed, stream, step) */
    int64_t last_train_n;      /* batch of the latest forward(train=1); 0 = none */

    float *block;              /* parameters then their gradients, one allocation */
    lam_param params[2];
    char param_names[2][48];
    int n_params;
    lam_param buffers[2];      /* batch-norm running mean/var (g = NULL) */
    int n_buffers;
    int64_t flops;             /* per sample, forward */

    /* kind-specific scratch, sized for max_batch at create */
    lam_conv_geom conv;
    lam_pool_geom pool;
    float *ws;                 /* conv workspace; bn saved mean/invstd; dropout mask */
    int64_t ws_n;              /* floats in ws */
    int32_t *argmax;           /* max-pool */

    /* How the layer runs (lam_layer_strategy). A model may fold the activation and max
     * pool after a conv or linear layer into it (lam__layer_fuse); the folded layers then
     * do no work of their own in the model's step, and the public per-layer calls keep
     * their unfused meaning. */
    lam_conv_strategy conv_strategy;
    int gemm_outside;          /* linear: GEMMs outside lamina's regions (pthreads BLAS) */
    lam_act fuse_act;          /* activation folded into this layer, LAM_ACT_NONE if none */
    struct lam_layer *fuse_pool; /* max pool folded into this conv, or NULL */
    char strategy[64];
};

/* Per-kind setup: check the input shape, fill out_shape/flops, and say how many parameter
 * floats the block needs (weights then bias). Returns LAM_ERR_SHAPE with a message. */
lam_status lam__conv2d_setup(lam_layer *l);
lam_status lam__linear_setup(lam_layer *l);
lam_status lam__act_setup(lam_layer *l);
lam_status lam__pool_setup(lam_layer *l);
lam_status lam__shape_setup(lam_layer *l); /* flatten, global average pool */
lam_status lam__dropout_setup(lam_layer *l);
lam_status lam__batchnorm_setup(lam_layer *l);

/* Allocate the parameter block with n_w weights and n_b biases (n_b may be 0) and fill
 * l->params; names are "<layer name>.weight" / ".bias". Used by setups. */
lam_status lam__layer_alloc_params(lam_layer *l, int64_t n_w, int64_t n_b, int64_t fan_in,
                                   int64_t fan_out);
/* Initialise weights and biases as PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
void lam__layer_init_uniform(lam_layer *l);

/* Create with the layer's position in a model (used in its name and messages). */
lam_status lam__layer_create_at(lam_ctx *ctx, const lam_layer_desc *d, int in_ndim,
                                const int64_t *in_shape, int64_t max_batch, uint64_t stream,
                                int index, lam_layer **out);

/* Model-level fusion. lam__layer_can_fuse: whether l (conv2d or linear) can absorb `act`
 * (LAM_ACT_RELU or NONE) and, for conv2d, the max-pool layer `pool` (may be NULL) that
 * follows. lam__layer_fuse sizes the workspace for it (create time, may fail with NOMEM)
 * and marks the absorbed layers; lam__layer_forward_fused / backward_fused then compute the
 * whole group: y is the output of the group's last layer, dy its gradient (a linear layer
 * masks it in place), x and dx the group's input and its gradient. */
int lam__layer_can_fuse(const lam_layer *l, lam_act act, const lam_layer *pool);
lam_status lam__layer_fuse(lam_layer *l, lam_act act, lam_layer *pool, lam_layer *act_layer);
lam_status lam__layer_forward_fused(lam_layer *l, const float *x, float *y, int64_t n,
                                    int train);
lam_status lam__layer_backward_fused(lam_layer *l, const float *x, const float *y, float *dy,
                                     float *dx, int64_t n);
/* Kind-specific halves of the above (conv2d.c, linear.c). */
lam_status lam__conv2d_fuse(lam_layer *l);
lam_status lam__conv2d_forward_fused(lam_layer *l, const float *x, float *y, int64_t n);
lam_status lam__conv2d_backward_fused(lam_layer *l, const float *x, const float *y,
                                      const float *dy, float *dx, int64_t n);
void lam__linear_describe(lam_layer *l); /* l->strategy from gemm_outside and fuse_act */
lam_status lam__linear_forward_fused(lam_layer *l, const float *x, float *y, int64_t n,
                                     int train);
lam_status lam__linear_backward_fused(lam_layer *l, const float *x, const float *y, float *dy,
                                      float *dx, int64_t n);

/* Format "layer <i> (<kind>): " + message, set the context error, return st. */
lam_status lam__layer_error(const lam_layer *l, lam_status st, const char *fmt, ...)
    LAM_PRINTF(3, 4);

/* Shape text "64x7x7" into buf. */
const char *lam__shape_str(int ndim, const int64_t *shape, char *buf, size_t size);

#endif
