/* linear layer: y(n, out) = x(n, in) W(out, in)^T + b(out), one GEMM over the whole batch. */
#include "layer_internal.h"

#include <stdio.h>

static lam_status linear_forward(lam_layer *l, const float *x, float *y, int64_t n, int train)
{
    (void)train;
    const float *b = l->n_params > 1 ? l->params[1].w : NULL;
    l->k->linear_fwd(n, l->in_numel, l->out_numel, x, l->params[0].w, b, y);
    return LAM_OK;
}

static lam_status linear_backward(lam_layer *l, const float *x, const float *y, const float *dy,
                                  float *dx, int64_t n)
{
    (void)y;
    float *db = l->n_params > 1 ? l->params[1].g : NULL;
    l->k->linear_bwd(n, l->in_numel, l->out_numel, x, l->params[0].w, dy, dx, l->params[0].g,
                     db);
    return LAM_OK;
}

static const lam_layer_ops linear_ops = {"linear", linear_forward, linear_backward};

/* relu folded in by the model: applied on y while it is in cache; backward masks dy (the
 * model's own gradient buffer) in place by y > 0, which is relu's derivative. */
lam_status lam__linear_forward_fused(lam_layer *l, const float *x, float *y, int64_t n,
                                     int train)
{
    lam_status st = linear_forward(l, x, y, n, train);
    if (st == LAM_OK && l->fuse_act != LAM_ACT_NONE) {
        l->k->act_fwd(l->fuse_act, 0.0f, n * l->out_numel, y, y);
    }
    return st;
}

lam_status lam__linear_backward_fused(lam_layer *l, const float *x, const float *y, float *dy,
                                      float *dx, int64_t n)
{
    if (l->fuse_act != LAM_ACT_NONE) {
        l->k->act_bwd(l->fuse_act, 0.0f, n * l->out_numel, y, y, dy, dy);
    }
    return linear_backward(l, x, y, dy, dx, n);
}

lam_status lam__linear_setup(lam_layer *l)
{
    l->ops = &linear_ops;
    if (l->in_ndim != 1) {
        char s[64];
        return lam__layer_error(l, LAM_ERR_SHAPE, "input is 3-D (%s); add flatten before linear",
                                lam__shape_str(l->in_ndim, l->in_shape, s, sizeof s));
    }
    if (l->desc.out < 1) {
        return lam__layer_error(l, LAM_ERR_ARG, "output size %lld", (long long)l->desc.out);
    }
    int64_t in = l->in_shape[0], out = l->desc.out, nw;
    /* the kernels hand these sizes to BLAS, whose dimensions are int */
    if (lam__mul_i64(in, out, &nw) || in > INT32_MAX || out > INT32_MAX ||
        l->max_batch > INT32_MAX) {
        return lam__layer_error(l, LAM_ERR_RANGE, "%lld x %lld weights", (long long)in,
                                (long long)out);
    }
    l->out_ndim = 1;
    l->out_shape[0] = out;
    l->flops = 2 * nw;
    /* one GEMM over the whole batch per product; BLAS threads it outside our regions */
    snprintf(l->strategy, sizeof l->strategy, "gemm");
    lam_status st = lam__layer_alloc_params(l, nw, l->desc.bias ? out : 0, in, out);
    if (st == LAM_OK) {
        lam__layer_init_uniform(l);
    }
    return st;
}
