/* conv2d layer: y = conv(x, W) + b with stride, padding, dilation and groups.
 * Weight (C_out, C_in/groups, KH, KW), bias (C_out). The math and the batch-parallel im2col +
 * GEMM strategies live in kernels/conv2d.c; this file owns shapes, parameters, workspace and
 * the choice of strategy.
 *
 * Strategy rule (measured on the dev machine, see bench/NOTES-engine.md): with the OpenMP
 * (or a sequential) build of OpenBLAS, one single-threaded GEMM per image inside lamina's
 * chunk loop is fastest: the seed CNN's per-image GEMMs run at 95-105 GFLOP/s per core while
 * batch-folded GEMMs fall to 40-60 (their operands leave the caches). A pthreads OpenBLAS
 * called from OpenMP threads oversubscribes the cores (59 vs 163 GFLOP/s on conv2), so with
 * it the GEMMs run batched, outside lamina's parallel regions, threaded by BLAS. */
#include "layer_internal.h"

#include <stdio.h>

static lam_conv_fusion fusion_of(const lam_layer *l, int fused)
{
    lam_conv_fusion f = {LAM_ACT_NONE, NULL, l->conv_strategy};
    if (fused) {
        f.act = l->fuse_act;
        f.pool = l->fuse_pool != NULL ? &l->fuse_pool->pool : NULL;
    }
    return f;
}

static lam_status conv_forward(lam_layer *l, const float *x, float *y, int64_t n, int train)
{
    (void)train;
    lam_conv_geom g = l->conv;
    g.n = n;
    const float *b = l->n_params > 1 ? l->params[1].w : NULL;
    lam_conv_fusion f = fusion_of(l, 0);
    l->k->conv2d_fused_fwd(&g, &f, x, l->params[0].w, b, y, NULL, l->ws,
                           lam_ctx_threads(l->ctx));
    return LAM_OK;
}

static lam_status conv_backward(lam_layer *l, const float *x, const float *y, const float *dy,
                                float *dx, int64_t n)
{
    (void)y;
    lam_conv_geom g = l->conv;
    g.n = n;
    float *db = l->n_params > 1 ? l->params[1].g : NULL;
    lam_conv_fusion f = fusion_of(l, 0);
    /* weight and input gradients in one pass: one parallel region, dy read once per image */
    l->k->conv2d_fused_bwd(&g, &f, x, l->params[0].w, NULL, NULL, dy, dx, l->params[0].g, db,
                           l->ws, lam_ctx_threads(l->ctx));
    return LAM_OK;
}

lam_status lam__conv2d_forward_fused(lam_layer *l, const float *x, float *y, int64_t n)
{
    lam_conv_geom g = l->conv;
    g.n = n;
    const float *b = l->n_params > 1 ? l->params[1].w : NULL;
    lam_conv_fusion f = fusion_of(l, 1);
    int32_t *am = l->fuse_pool != NULL ? l->fuse_pool->argmax : NULL;
    l->k->conv2d_fused_fwd(&g, &f, x, l->params[0].w, b, y, am, l->ws,
                           lam_ctx_threads(l->ctx));
    return LAM_OK;
}

lam_status lam__conv2d_backward_fused(lam_layer *l, const float *x, const float *y,
                                      const float *dy, float *dx, int64_t n)
{
    lam_conv_geom g = l->conv;
    g.n = n;
    float *db = l->n_params > 1 ? l->params[1].g : NULL;
    lam_conv_fusion f = fusion_of(l, 1);
    const int32_t *am = l->fuse_pool != NULL ? l->fuse_pool->argmax : NULL;
    l->k->conv2d_fused_bwd(&g, &f, x, l->params[0].w, y, am, dy, dx, l->params[0].g, db, l->ws,
                           lam_ctx_threads(l->ctx));
    return LAM_OK;
}

static void describe(lam_layer *l)
{
    const char *base = l->conv_strategy == LAM_CONV_BATCHED ? "batched" : "chunked";
    snprintf(l->strategy, sizeof l->strategy, "%s%s%s", base,
             l->fuse_act == LAM_ACT_RELU ? "+relu" : "", l->fuse_pool != NULL ? "+maxpool" : "");
}

/* (Re)size the workspace for the current fusion; called at create and by the model. */
static lam_status size_workspace(lam_layer *l)
{
    lam_conv_fusion f = fusion_of(l, 1);
    int64_t need = l->k->conv2d_fused_workspace(&l->conv, &f, lam_ctx_threads(l->ctx));
    if (need < 0) {
        return lam__layer_error(l, LAM_ERR_RANGE, "workspace too large");
    }
    if (need <= l->ws_n) {
        return LAM_OK;
    }
    float *ws = lam__alloc_floats(l->ctx, need, l->name);
    if (ws == NULL) {
        return LAM_ERR_NOMEM;
    }
    lam_free(l->ctx, l->ws);
    l->ws = ws;
    l->ws_n = need;
    return LAM_OK;
}

lam_status lam__conv2d_fuse(lam_layer *l)
{
    describe(l);
    return size_workspace(l);
}

static const lam_layer_ops conv_ops = {"conv2d", conv_forward, conv_backward};

lam_status lam__conv2d_setup(lam_layer *l)
{
    const lam_layer_desc *d = &l->desc;
    l->ops = &conv_ops;
    if (l->in_ndim != 3) {
        return lam__layer_error(l, LAM_ERR_SHAPE,
                                "input is 1-D (%lld features); conv2d needs (C,H,W)",
                                (long long)l->in_shape[0]);
    }
    if (d->out < 1 || d->kh < 1 || d->kw < 1 || d->sh < 0 || d->sw < 0 || d->ph < 0 ||
        d->pw < 0 || d->dh < 1 || d->dw < 1 || d->groups < 1) {
        return lam__layer_error(l, LAM_ERR_ARG, "bad descriptor (out %lld, kernel %lldx%lld)",
                                (long long)d->out, (long long)d->kh, (long long)d->kw);
    }
    lam_conv_geom *g = &l->conv;
    g->n = l->max_batch;
    g->c_in = l->in_shape[0];
    g->h = l->in_shape[1];
    g->w = l->in_shape[2];
    g->c_out = d->out;
    g->kh = d->kh;
    g->kw = d->kw;
    g->sh = d->sh ? d->sh : 1;
    g->sw = d->sw ? d->sw : 1;
    g->ph = d->ph;
    g->pw = d->pw;
    g->dh = d->dh;
    g->dw = d->dw;
    g->groups = d->groups;
    if (g->c_in % g->groups != 0 || g->c_out % g->groups != 0) {
        return lam__layer_error(l, LAM_ERR_SHAPE, "groups %lld must divide C_in %lld and C_out "
                                "%lld", (long long)g->groups, (long long)g->c_in,
                                (long long)g->c_out);
    }
    int64_t oh = lam_conv_out(g->h, g->kh, g->sh, g->ph, g->dh);
    int64_t ow = lam_conv_out(g->w, g->kw, g->sw, g->pw, g->dw);
    if (oh < 1 || ow < 1) {
        return lam__layer_error(l, LAM_ERR_SHAPE, "kernel %lldx%lld (dilation %lld) does not "
                                "fit input %lldx%lld with padding %lld",
                                (long long)g->kh, (long long)g->kw, (long long)g->dh,
                                (long long)g->h, (long long)g->w, (long long)g->ph);
    }
    lam_status st = lam__conv_geom_init(g);
    if (st != LAM_OK) {
        return lam__layer_error(l, st, "geometry rejected by the kernels");
    }
    l->out_ndim = 3;
    l->out_shape[0] = g->c_out;
    l->out_shape[1] = g->oh;
    l->out_shape[2] = g->ow;
    int64_t k_per_out = g->c_in / g->groups * g->kh * g->kw;
    l->flops = 2 * g->c_out * g->oh * g->ow * k_per_out;
    st = lam__layer_alloc_params(l, g->c_out * k_per_out, d->bias ? g->c_out : 0, k_per_out,
                                 g->c_out / g->groups * g->kh * g->kw);
    if (st != LAM_OK) {
        return st;
    }
    lam__layer_init_uniform(l);
    /* a pthreads OpenBLAS must not be called from lamina's threads: see the rule above */
    l->conv_strategy = lam__blas_parallel_kind() == 1 ? LAM_CONV_BATCHED : LAM_CONV_CHUNKED;
    describe(l);
    return size_workspace(l);
}
