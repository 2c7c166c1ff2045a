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
    int32_t *argmax;           /* max-pool */
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

/* Format "layer <i> (<kind>): " + message, set the context error, return st. */
lam_status lam__layer_error(const lam_layer *l, lam_status st, const char *fmt, ...)
    LAM_PRINTF(3, 4);

/* Shape text "64x7x7" into buf. */
const char *lam__shape_str(int ndim, const int64_t *shape, char *buf, size_t size);

#endif
