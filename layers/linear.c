/* linear layer: y(rows, out) = x(rows, in) W(out, in)^T + b(out), over the last dimension of
 * the sample as PyTorch's nn.Linear: a (D) sample is one row, a (T, D) sample T rows.
 *
 * Strategy: with the OpenMP (or a sequential) OpenBLAS, lamina cuts each GEMM into column
 * blocks fixed by the shape and runs them single-threaded in its own parallel region
 * ("split", kernels/linear.c): the thread count then cannot change a single bit of the
 * result, which OpenBLAS's own threading does not promise. With a pthreads OpenBLAS, which
 * must not be called from lamina's threads, each product is one GEMM that BLAS threads
 * itself ("blas"). */
#include "layer_internal.h"

#include <stdio.h>

typedef struct linear_state {
    int64_t in, out, rows;     /* features in and out, rows per sample */
    int gemm_outside;          /* GEMMs outside lamina's regions (pthreads BLAS) */
    lam_act fuse_act;          /* relu folded in by a model */
} linear_state;

/* y = act(x W^T + b) */
static void run_forward(lam_layer *l, const float *x, float *y, int64_t n, lam_act act)
{
    const linear_state *s = l->state;
    const float *b = l->n_params > 1 ? lam__param(l, 1)->w : NULL;
    const int64_t rows = n * s->rows;
    if (s->gemm_outside) {
        l->k->linear_fwd(rows, s->in, s->out, x, lam__param(l, 0)->w, b, y);
        if (act != LAM_ACT_NONE) {
            l->k->act_fwd(act, 0.0f, rows * s->out, y, y);
        }
        return;
    }
    l->k->linear_fused_fwd(rows, s->in, s->out, act, x, lam__param(l, 0)->w, b, y,
                           lam_ctx_threads(l->ctx));
}

/* dy is masked in place by y > 0 when act is RELU, and only then written. */
static void run_backward(lam_layer *l, const float *x, const float *y, float *dy, float *dx,
                         int64_t n, lam_act act)
{
    const linear_state *s = l->state;
    float *db = l->n_params > 1 ? lam__param(l, 1)->g : NULL;
    const int64_t rows = n * s->rows;
    if (s->gemm_outside) {
        if (act != LAM_ACT_NONE) {
            l->k->act_bwd(act, 0.0f, rows * s->out, y, y, dy, dy);
        }
        l->k->linear_bwd(rows, s->in, s->out, x, lam__param(l, 0)->w, dy, dx,
                         lam__param(l, 0)->g, db);
        return;
    }
    l->k->linear_fused_bwd(rows, s->in, s->out, act, x, lam__param(l, 0)->w, y, dy, dx,
                           lam__param(l, 0)->g, db, lam_ctx_threads(l->ctx));
}

static lam_status linear_forward(lam_layer *l, const float *const *x, float *y, int64_t n,
                                 int train)
{
    (void)train;
    run_forward(l, x[0], y, n, LAM_ACT_NONE);
    return LAM_OK;
}

static lam_status linear_backward(lam_layer *l, const float *const *x, const float *y,
                                  const float *dy, float *const *dx, unsigned acc, int64_t n)
{
    (void)acc;
    /* with no activation the kernels only read dy: the cast drops nothing */
    run_backward(l, x[0], y, (float *)(uintptr_t)dy, dx[0], n, LAM_ACT_NONE);
    return LAM_OK;
}

/* relu folded in by the model: applied on y while it is in cache; backward masks dy (the
 * model's own gradient buffer) in place by y > 0, which is relu's derivative. */
static lam_status linear_forward_fused(lam_layer *l, const float *x, float *y, int64_t n,
                                       int train)
{
    (void)train;
    run_forward(l, x, y, n, ((linear_state *)l->state)->fuse_act);
    return LAM_OK;
}

static lam_status linear_backward_fused(lam_layer *l, const float *x, const float *y,
                                        float *dy, float *dx, unsigned acc, int64_t n)
{
    (void)acc; /* not LAM_KIND_ACCUMULATES: a model gives it a scratch dx */
    run_backward(l, x, y, dy, dx, n, ((linear_state *)l->state)->fuse_act);
    return LAM_OK;
}

static void describe(lam_layer *l)
{
    const linear_state *s = l->state;
    snprintf(l->strategy, sizeof l->strategy, "%s%s", s->gemm_outside ? "blas" : "split",
             s->fuse_act == LAM_ACT_RELU ? "+relu" : "");
}

static int linear_can_fuse(const lam_layer *l, lam_act act, const lam_layer *pool)
{
    (void)l;
    return act == LAM_ACT_RELU && pool == NULL;
}

static lam_status linear_fuse(lam_layer *l, lam_act act, lam_layer *pool)
{
    (void)pool;
    ((linear_state *)l->state)->fuse_act = act;
    describe(l);
    return LAM_OK;
}

static unsigned linear_reads(const lam_layer *l)
{
    const linear_state *s = l->state;
    return LAM_READS_X(0) | (s->fuse_act != LAM_ACT_NONE ? LAM_READS_Y : 0);
}

static lam_status linear_setup(lam_layer *l)
{
    const lam_shape *in = &l->in[0];
    if (in->ndim == 3) {
        char sh[64];
        return lam__layer_error(l, LAM_ERR_SHAPE, "input is 3-D (%s); add flatten or gap "
                                "before linear", lam__shape_str(in->ndim, in->dim, sh,
                                                                sizeof sh));
    }
    if (l->desc.out < 1) {
        return lam__layer_error(l, LAM_ERR_ARG, "output size %lld", (long long)l->desc.out);
    }
    linear_state *s = lam__layer_state(l, sizeof *s);
    if (s == NULL) {
        return LAM_ERR_NOMEM;
    }
    s->in = in->dim[in->ndim - 1];
    s->out = l->desc.out;
    s->rows = l->in_numel[0] / s->in;
    int64_t nw, rows;
    /* the kernels hand these sizes to BLAS, whose dimensions are int */
    if (lam__mul_i64(s->in, s->out, &nw) || lam__mul_i64(s->rows, l->max_batch, &rows) ||
        s->in > INT32_MAX || s->out > INT32_MAX || rows > INT32_MAX) {
        return lam__layer_error(l, LAM_ERR_RANGE, "%lld x %lld weights", (long long)s->in,
                                (long long)s->out);
    }
    l->out = *in;
    l->out.dim[in->ndim - 1] = s->out;
    l->flops = 2 * nw * s->rows;
    /* a pthreads OpenBLAS must not be called from lamina's threads: see the top */
    s->gemm_outside = lam__gemm_outside(l->ctx);
    describe(l);
    const int64_t wshape[2] = {s->out, s->in};
    lam_status st = lam__layer_tensor(l, "weight", 0, 2, wshape, s->in, s->out, 0);
    if (st == LAM_OK && l->desc.bias) {
        st = lam__layer_tensor(l, "bias", 0, 1, &s->out, s->in, s->out, 1);
    }
    return st;
}

const lam_kind lam__kind_linear = {
    .id = LAM_LAYER_LINEAR,
    .name = "linear",
    .min_in = 1,
    .max_in = 1,
    .setup = linear_setup,
    .init = lam__layer_init_default,
    .forward = linear_forward,
    .backward = linear_backward,
    .reads = linear_reads,
    .can_fuse = linear_can_fuse,
    .fuse = linear_fuse,
    .forward_fused = linear_forward_fused,
    .backward_fused = linear_backward_fused,
};
