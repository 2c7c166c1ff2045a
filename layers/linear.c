/* linear layer: y(n, out) = x(n, in) W(out, in)^T + b(out).
 *
 * Strategy: with the OpenMP (or a sequential) OpenBLAS, lamina cuts each GEMM into column
 * blocks fixed by the shape and runs them single-threaded in its own parallel region
 * ("split", kernels/linear.c): the thread count then cannot change a single bit of the
 * result, which OpenBLAS's own threading does not promise. With a pthreads OpenBLAS, which
 * must not be called from lamina's threads, each product is one GEMM that BLAS threads
 * itself ("blas"). */
#include "layer_internal.h"

#include <stdio.h>

/* y = act(x W^T + b) */
static void run_forward(lam_layer *l, const float *x, float *y, int64_t n, lam_act act)
{
    const float *b = l->n_params > 1 ? l->params[1].w : NULL;
    if (l->gemm_outside) {
        l->k->linear_fwd(n, l->in_numel, l->out_numel, x, l->params[0].w, b, y);
        if (act != LAM_ACT_NONE) {
            l->k->act_fwd(act, 0.0f, n * l->out_numel, y, y);
        }
        return;
    }
    l->k->linear_fused_fwd(n, l->in_numel, l->out_numel, act, x, l->params[0].w, b, y,
                           lam_ctx_threads(l->ctx));
}

/* dy is masked in place by y > 0 when act is RELU, and only then written. */
static void run_backward(lam_layer *l, const float *x, const float *y, float *dy, float *dx,
                         int64_t n, lam_act act)
{
    float *db = l->n_params > 1 ? l->params[1].g : NULL;
    if (l->gemm_outside) {
        if (act != LAM_ACT_NONE) {
            l->k->act_bwd(act, 0.0f, n * l->out_numel, y, y, dy, dy);
        }
        l->k->linear_bwd(n, l->in_numel, l->out_numel, x, l->params[0].w, dy, dx,
                         l->params[0].g, db);
        return;
    }
    l->k->linear_fused_bwd(n, l->in_numel, l->out_numel, act, x, l->params[0].w, y, dy, dx,
                           l->params[0].g, db, lam_ctx_threads(l->ctx));
}

static lam_status linear_forward(lam_layer *l, const float *x, float *y, int64_t n, int train)
{
    (void)train;
    run_forward(l, x, y, n, LAM_ACT_NONE);
    return LAM_OK;
}

static lam_status linear_backward(lam_layer *l, const float *x, const float *y, const float *dy,
                                  float *dx, int64_t n)
{
    /* with no activation the kernels only read dy: the cast drops nothing */
    run_backward(l, x, y, (float *)(uintptr_t)dy, dx, n, LAM_ACT_NONE);
    return LAM_OK;
}

static const lam_layer_ops linear_ops = {"linear", linear_forward, linear_backward};

/* relu folded in by the model: applied on y while it is in cache; backward masks dy (the
 * model's own gradient buffer) in place by y > 0, which is relu's derivative. */
lam_status lam__linear_forward_fused(lam_layer *l, const float *x, float *y, int64_t n,
                                     int train)
{
    (void)train;
    run_forward(l, x, y, n, l->fuse_act);
    return LAM_OK;
}

lam_status lam__linear_backward_fused(lam_layer *l, const float *x, const float *y, float *dy,
                                      float *dx, int64_t n)
{
    run_backward(l, x, y, dy, dx, n, l->fuse_act);
    return LAM_OK;
}

void lam__linear_describe(lam_layer *l)
{
    snprintf(l->strategy, sizeof l->strategy, "%s%s", l->gemm_outside ? "blas" : "split",
             l->fuse_act == LAM_ACT_RELU ? "+relu" : "");
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
    /* a pthreads OpenBLAS must not be called from lamina's threads: see the top */
    l->gemm_outside = lam__blas_parallel_kind() == 1;
    lam__linear_describe(l);
    lam_status st = lam__layer_alloc_params(l, nw, l->desc.bias ? out : 0, in, out);
    if (st == LAM_OK) {
        lam__layer_init_uniform(l);
    }
    return st;
}
