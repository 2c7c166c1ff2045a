/* Pooling and reshaping layers: max-pool (keeps its argmax for backward), average pool,
 * global average pool (C,H,W) -> (C), and flatten (C,H,W) -> (C*H*W). */
#include "layer_internal.h"

#include <string.h>

static lam_status maxpool_forward(lam_layer *l, const float *x, float *y, int64_t n, int train)
{
    (void)train;
    lam_pool_geom g = l->pool;
    g.n = n;
    l->k->maxpool_fwd(&g, x, y, l->argmax, lam_ctx_threads(l->ctx));
    return LAM_OK;
}

static lam_status maxpool_backward(lam_layer *l, const float *x, const float *y,
                                   const float *dy, float *dx, int64_t n)
{
    (void)x;
    (void)y;
    if (dx != NULL) {
        lam_pool_geom g = l->pool;
        g.n = n;
        l->k->maxpool_bwd(&g, dy, l->argmax, dx, lam_ctx_threads(l->ctx));
    }
    return LAM_OK;
}

static lam_status avgpool_forward(lam_layer *l, const float *x, float *y, int64_t n, int train)
{
    (void)train;
    lam_pool_geom g = l->pool;
    g.n = n;
    l->k->avgpool_fwd(&g, x, y, lam_ctx_threads(l->ctx));
    return LAM_OK;
}

static lam_status avgpool_backward(lam_layer *l, const float *x, const float *y,
                                   const float *dy, float *dx, int64_t n)
{
    (void)x;
    (void)y;
    if (dx != NULL) {
        lam_pool_geom g = l->pool;
        g.n = n;
        l->k->avgpool_bwd(&g, dy, dx, lam_ctx_threads(l->ctx));
    }
    return LAM_OK;
}

static const lam_layer_ops maxpool_ops = {"maxpool", maxpool_forward, maxpool_backward};
static const lam_layer_ops avgpool_ops = {"avgpool", avgpool_forward, avgpool_backward};

lam_status lam__pool_setup(lam_layer *l)
{
    const lam_layer_desc *d = &l->desc;
    int is_max = d->kind == LAM_LAYER_MAXPOOL;
    l->ops = is_max ? &maxpool_ops : &avgpool_ops;
    if (l->in_ndim != 3) {
        return lam__layer_error(l, LAM_ERR_SHAPE, "input is 1-D; pooling needs (C,H,W)");
    }
    if (d->kh < 1 || d->kw < 1 || d->sh < 0 || d->sw < 0 || d->ph < 0 || d->pw < 0) {
        return lam__layer_error(l, LAM_ERR_ARG, "bad window %lldx%lld", (long long)d->kh,
                                (long long)d->kw);
    }
    if (2 * d->ph > d->kh || 2 * d->pw > d->kw) {
        return lam__layer_error(l, LAM_ERR_ARG, "padding %lld exceeds half the window %lld",
                                (long long)d->ph, (long long)d->kh);
    }
    lam_pool_geom *g = &l->pool;
    g->n = l->max_batch;
    g->c = l->in_shape[0];
    g->h = l->in_shape[1];
    g->w = l->in_shape[2];
    g->kh = d->kh;
    g->kw = d->kw;
    g->sh = d->sh ? d->sh : d->kh;
    g->sw = d->sw ? d->sw : d->kw;
    g->ph = d->ph;
    g->pw = d->pw;
    if (g->kh > g->h + 2 * g->ph || g->kw > g->w + 2 * g->pw) {
        return lam__layer_error(l, LAM_ERR_SHAPE, "window %lldx%lld larger than input %lldx%lld",
                                (long long)g->kh, (long long)g->kw, (long long)g->h,
                                (long long)g->w);
    }
    lam_status st = lam__pool_geom_init(g);
    if (st != LAM_OK) {
        return lam__layer_error(l, st, "geometry rejected by the kernels");
    }
    l->out_ndim = 3;
    l->out_shape[0] = g->c;
    l->out_shape[1] = g->oh;
    l->out_shape[2] = g->ow;
    l->flops = g->c * g->oh * g->ow * g->kh * g->kw;
    if (is_max) {
        int64_t count = l->max_batch * g->c * g->oh * g->ow;
        l->argmax = lam_alloc(l->ctx, (size_t)count * sizeof(int32_t));
        if (l->argmax == NULL) {
            return LAM_ERR_NOMEM;
        }
        memset(l->argmax, 0, (size_t)count * sizeof(int32_t));
    }
    return LAM_OK;
}

/* ------------------------------------------------ flatten and global pooling */

static lam_status flatten_forward(lam_layer *l, const float *x, float *y, int64_t n, int train)
{
    (void)train;
    if (y != x) {
        memcpy(y, x, (size_t)(n * l->in_numel) * sizeof(float));
    }
    return LAM_OK;
}

static lam_status flatten_backward(lam_layer *l, const float *x, const float *y,
                                   const float *dy, float *dx, int64_t n)
{
    (void)x;
    (void)y;
    if (dx != NULL && dx != dy) {
        memcpy(dx, dy, (size_t)(n * l->in_numel) * sizeof(float));
    }
    return LAM_OK;
}

static lam_status gap_forward(lam_layer *l, const float *x, float *y, int64_t n, int train)
{
    (void)train;
    int64_t c = l->in_shape[0], hw = l->in_shape[1] * l->in_shape[2];
    for (int64_t i = 0; i < n * c; i++) {
        const float *p = x + i * hw;
        double s = 0.0;
        for (int64_t j = 0; j < hw; j++) {
            s += p[j];
        }
        y[i] = (float)(s / (double)hw);
    }
    return LAM_OK;
}

static lam_status gap_backward(lam_layer *l, const float *x, const float *y, const float *dy,
                               float *dx, int64_t n)
{
    (void)x;
    (void)y;
    if (dx == NULL) {
        return LAM_OK;
    }
    int64_t c = l->in_shape[0], hw = l->in_shape[1] * l->in_shape[2];
    for (int64_t i = 0; i < n * c; i++) {
        float v = dy[i] / (float)hw;
        for (int64_t j = 0; j < hw; j++) {
            dx[i * hw + j] = v;
        }
    }
    return LAM_OK;
}

static const lam_layer_ops flatten_ops = {"flatten", flatten_forward, flatten_backward};
static const lam_layer_ops gap_ops = {"gap", gap_forward, gap_backward};

lam_status lam__shape_setup(lam_layer *l)
{
    int is_gap = l->desc.kind == LAM_LAYER_GLOBAL_AVGPOOL;
    l->ops = is_gap ? &gap_ops : &flatten_ops;
    if (is_gap && l->in_ndim != 3) {
        return lam__layer_error(l, LAM_ERR_SHAPE, "input is 1-D; global pooling needs (C,H,W)");
    }
    l->out_ndim = 1;
    l->out_shape[0] = is_gap ? l->in_shape[0] : l->in_numel;
    l->flops = is_gap ? l->in_numel : 0;
    return LAM_OK;
}
