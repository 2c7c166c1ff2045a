/* Layers that reshape or reduce: flatten (any sample -> (numel); in a model a view of its
 * input, never a copy) and global average pooling ((C, H, W) or (C, L) -> (C)). */
#include "layer_internal.h"

#include <string.h>

static lam_status flatten_forward(lam_layer *l, const float *const *x, float *y, int64_t n,
                                  int train)
{
    (void)train;
    if (y != x[0]) {
        memcpy(y, x[0], (size_t)(n * l->in_numel[0]) * sizeof(float));
    }
    return LAM_OK;
}

/* dx = dy under the input's shape; added to dx when acc says so (a model's view whose input
 * has other consumers). */
static lam_status flatten_backward(lam_layer *l, const float *const *x, const float *y,
                                   const float *dy, float *const *dx, unsigned acc, int64_t n)
{
    (void)x;
    (void)y;
    const int64_t count = n * l->in_numel[0];
    if (dx[0] == NULL || dx[0] == dy) {
        return LAM_OK;
    }
    if (acc & 1u) {
        for (int64_t i = 0; i < count; i++) {
            dx[0][i] += dy[i];
        }
    } else {
        memcpy(dx[0], dy, (size_t)count * sizeof(float));
    }
    return LAM_OK;
}

static unsigned reads_nothing(const lam_layer *l)
{
    (void)l;
    return 0;
}

static lam_status flatten_setup(lam_layer *l)
{
    l->out = (lam_shape){1, {l->in_numel[0], 1, 1}};
    return LAM_OK;
}

const lam_kind lam__kind_flatten = {
    .id = LAM_LAYER_FLATTEN,
    .name = "flatten",
    .min_in = 1,
    .max_in = 1,
    .flags = LAM_KIND_VIEW | LAM_KIND_ACCUMULATES | LAM_KIND_PASSES_DY,
    .setup = flatten_setup,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .reads = reads_nothing,
};

/* ------------------------------------------------------- global average pool */

static lam_status gap_forward(lam_layer *l, const float *const *x, float *y, int64_t n,
                              int train)
{
    (void)train;
    const int64_t c = l->out.dim[0], hw = l->in_numel[0] / c;
    for (int64_t i = 0; i < n * c; i++) {
        const float *p = x[0] + i * hw;
        double s = 0.0;
        for (int64_t j = 0; j < hw; j++) {
            s += p[j];
        }
        y[i] = (float)(s / (double)hw);
    }
    return LAM_OK;
}

static lam_status gap_backward(lam_layer *l, const float *const *x, const float *y,
                               const float *dy, float *const *dx, unsigned acc, int64_t n)
{
    (void)x;
    (void)y;
    (void)acc;
    if (dx[0] == NULL) {
        return LAM_OK;
    }
    const int64_t c = l->out.dim[0], hw = l->in_numel[0] / c;
    for (int64_t i = 0; i < n * c; i++) {
        float v = dy[i] / (float)hw;
        for (int64_t j = 0; j < hw; j++) {
            dx[0][i * hw + j] = v;
        }
    }
    return LAM_OK;
}

static lam_status gap_setup(lam_layer *l)
{
    if (l->in[0].ndim < 2) {
        return lam__layer_error(l, LAM_ERR_SHAPE, "input is 1-D; global pooling needs (C,H,W) "
                                "or (C,L)");
    }
    l->out = (lam_shape){1, {l->in[0].dim[0], 1, 1}};
    l->flops = l->in_numel[0];
    return LAM_OK;
}

const lam_kind lam__kind_gap = {
    .id = LAM_LAYER_GLOBAL_AVGPOOL,
    .name = "gap",
    .min_in = 1,
    .max_in = 1,
    .setup = gap_setup,
    .forward = gap_forward,
    .backward = gap_backward,
    .reads = reads_nothing,
};
