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

typedef struct conv_state {
    lam_conv_geom g;
    lam_conv_strategy strategy;
    lam_act fuse_act;          /* relu folded in by a model, LAM_ACT_NONE if none */
    lam_layer *fuse_pool;      /* max pool folded in by a model, or NULL */
    float *ws;                 /* im2col columns and per-chunk gradient partials */
    int64_t ws_n;
} conv_state;

static lam_conv_fusion fusion_of(const lam_layer *l, int fused)
{
    const conv_state *s = l->state;
    lam_conv_fusion f = {LAM_ACT_NONE, NULL, s->strategy, 0, LAM_CONV_PATH_AUTO, 0};
    if (fused) {
        f.act = s->fuse_act;
        f.pool = s->fuse_pool != NULL ? lam__maxpool_geom(s->fuse_pool) : NULL;
    }
    return f;
}

static const float *bias_of(lam_layer *l)
{
    return l->n_params > 1 ? lam__param(l, 1)->w : NULL;
}

static void run_forward(lam_layer *l, const float *x, float *y, int64_t n, int fused)
{
    conv_state *s = l->state;
    lam_conv_geom g = s->g;
    g.n = n;
    lam_conv_fusion f = fusion_of(l, fused);
    int32_t *am = fused && s->fuse_pool != NULL ? lam__maxpool_argmax(s->fuse_pool) : NULL;
    l->k->conv2d_fused_fwd(&g, &f, x, lam__param(l, 0)->w, bias_of(l), y, am, s->ws,
                           lam_ctx_threads(l->ctx));
}

/* Weight and input gradients in one pass: one parallel region, dy read once per image. */
static void run_backward(lam_layer *l, const float *x, const float *y, const float *dy,
                         float *dx, unsigned acc, int64_t n, int fused)
{
    conv_state *s = l->state;
    lam_conv_geom g = s->g;
    g.n = n;
    float *db = l->n_params > 1 ? lam__param(l, 1)->g : NULL;
    lam_conv_fusion f = fusion_of(l, fused);
    f.dx_acc = (int)(acc & 1u);
    const int32_t *am = fused && s->fuse_pool != NULL ? lam__maxpool_argmax(s->fuse_pool)
                                                      : NULL;
    l->k->conv2d_fused_bwd(&g, &f, x, lam__param(l, 0)->w, fused ? y : NULL, am, dy, dx,
                           lam__param(l, 0)->g, db, s->ws, lam_ctx_threads(l->ctx));
}

static lam_status conv_forward(lam_layer *l, const float *const *x, float *y, int64_t n,
                               int train)
{
    (void)train;
    run_forward(l, x[0], y, n, 0);
    return LAM_OK;
}

static lam_status conv_backward(lam_layer *l, const float *const *x, const float *y,
                                const float *dy, float *const *dx, unsigned acc, int64_t n)
{
    run_backward(l, x[0], y, dy, dx[0], acc, n, 0);
    return LAM_OK;
}

static lam_status conv_forward_fused(lam_layer *l, const float *x, float *y, int64_t n,
                                     int train)
{
    (void)train;
    run_forward(l, x, y, n, 1);
    return LAM_OK;
}

static lam_status conv_backward_fused(lam_layer *l, const float *x, const float *y, float *dy,
                                      float *dx, unsigned acc, int64_t n)
{
    run_backward(l, x, y, dy, dx, acc, n, 1);
    return LAM_OK;
}

static void describe(lam_layer *l)
{
    const conv_state *s = l->state;
    const char *base = s->strategy == LAM_CONV_BATCHED ? "batched" : "chunked";
    snprintf(l->strategy, sizeof l->strategy, "%s%s%s", base,
             s->fuse_act == LAM_ACT_RELU ? "+relu" : "", s->fuse_pool != NULL ? "+maxpool" : "");
}

/* (Re)size the workspace for the current fusion; called at setup and by the model. */
static lam_status size_workspace(lam_layer *l)
{
    conv_state *s = l->state;
    lam_conv_fusion f = fusion_of(l, 1);
    int64_t need = l->k->conv2d_fused_workspace(&s->g, &f, lam_ctx_threads(l->ctx));
    if (need < 0) {
        return lam__layer_error(l, LAM_ERR_RANGE, "workspace too large");
    }
    if (need <= s->ws_n) {
        return LAM_OK;
    }
    float *ws = lam__layer_scratch(l, need);
    if (ws == NULL) {
        return LAM_ERR_NOMEM;
    }
    lam_free(l->ctx, s->ws);
    l->ws_bytes -= s->ws_n * (int64_t)sizeof(float);
    s->ws = ws;
    s->ws_n = need;
    return LAM_OK;
}

static int conv_can_fuse(const lam_layer *l, lam_act act, const lam_layer *pool)
{
    (void)l;
    return (act == LAM_ACT_NONE || act == LAM_ACT_RELU) &&
           (pool == NULL || pool->desc.kind == LAM_LAYER_MAXPOOL);
}

static lam_status conv_fuse(lam_layer *l, lam_act act, lam_layer *pool)
{
    conv_state *s = l->state;
    s->fuse_act = act;
    s->fuse_pool = pool;
    describe(l);
    return size_workspace(l);
}

static unsigned conv_reads(const lam_layer *l)
{
    const conv_state *s = l->state;
    /* x for the weight gradient; a folded relu masks dy by the group's output */
    return LAM_READS_X(0) | (s->fuse_act != LAM_ACT_NONE || s->fuse_pool ? LAM_READS_Y : 0);
}

static void conv_destroy(lam_layer *l)
{
    conv_state *s = l->state;
    if (s != NULL) {
        lam_free(l->ctx, s->ws);
    }
}

static lam_status conv_setup(lam_layer *l)
{
    const lam_layer_desc *d = &l->desc;
    if (l->in[0].ndim != 3) {
        char sh[64];
        return lam__layer_error(l, LAM_ERR_SHAPE, "input is %s; conv2d needs (C,H,W)",
                                lam__shape_str(l->in[0].ndim, l->in[0].dim, sh, sizeof sh));
    }
    if (d->out < 1 || d->kh < 1 || d->kw < 1 || d->sh < 0 || d->sw < 0 || d->ph < 0 ||
        d->pw < 0 || d->dh < 1 || d->dw < 1 || d->groups < 1) {
        return lam__layer_error(l, LAM_ERR_ARG, "bad descriptor (out %lld, kernel %lldx%lld)",
                                (long long)d->out, (long long)d->kh, (long long)d->kw);
    }
    conv_state *s = lam__layer_state(l, sizeof *s);
    if (s == NULL) {
        return LAM_ERR_NOMEM;
    }
    lam_conv_geom *g = &s->g;
    g->n = l->max_batch;
    g->c_in = l->in[0].dim[0];
    g->h = l->in[0].dim[1];
    g->w = l->in[0].dim[2];
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
    l->out = (lam_shape){3, {g->c_out, g->oh, g->ow}};
    const int64_t k_per_out = g->c_in / g->groups * g->kh * g->kw;
    l->flops = 2 * g->c_out * g->oh * g->ow * k_per_out;
    const int64_t wshape[4] = {g->c_out, g->c_in / g->groups, g->kh, g->kw};
    const int64_t fan_out = g->c_out / g->groups * g->kh * g->kw;
    st = lam__layer_tensor(l, "weight", 0, 4, wshape, k_per_out, fan_out, 0);
    if (st == LAM_OK && d->bias) {
        st = lam__layer_tensor(l, "bias", 0, 1, &g->c_out, k_per_out, fan_out, 1);
    }
    if (st != LAM_OK) {
        return st;
    }
    /* a pthreads OpenBLAS must not be called from lamina's threads: see the rule above */
    s->strategy = lam__gemm_outside(l->ctx) ? LAM_CONV_BATCHED : LAM_CONV_CHUNKED;
    describe(l);
    return size_workspace(l);
}

const lam_kind lam__kind_conv2d = {
    .id = LAM_LAYER_CONV2D,
    .name = "conv2d",
    .min_in = 1,
    .max_in = 1,
    .flags = LAM_KIND_ACCUMULATES, /* col2im adds into dx (kernels' dx_acc) */
    .setup = conv_setup,
    .init = lam__layer_init_uniform,
    .forward = conv_forward,
    .backward = conv_backward,
    .reads = conv_reads,
    .can_fuse = conv_can_fuse,
    .fuse = conv_fuse,
    .forward_fused = conv_forward_fused,
    .backward_fused = conv_backward_fused,
    .destroy = conv_destroy,
};
