/* Pooling layers on (C, H, W) samples: max pool (keeps its argmax for backward) and average
 * pool (padding counted in the divisor, as PyTorch's count_include_pad=True). */
#include "layer_internal.h"

#include <string.h>

typedef struct pool_state {
    lam_pool_geom g;
    int32_t *argmax;           /* max pool: (N, C, OH, OW) flat indices in each plane */
} pool_state;

lam_pool_geom *lam__maxpool_geom(lam_layer *pool)
{
    return &((pool_state *)pool->state)->g;
}

int32_t *lam__maxpool_argmax(lam_layer *pool)
{
    const pool_state *s = pool->state;
    return s->argmax + pool->row0 * s->g.c * s->g.oh * s->g.ow;
}

static lam_pool_geom geom_for(const lam_layer *l, int64_t n)
{
    lam_pool_geom g = ((const pool_state *)l->state)->g;
    g.n = n;
    return g;
}

static lam_status maxpool_forward(lam_layer *l, const float *const *x, float *y, int64_t n,
                                  int train)
{
    (void)train;
    lam_pool_geom g = geom_for(l, n);
    l->k->maxpool_fwd(&g, x[0], y, lam__maxpool_argmax(l), lam_ctx_threads(l->ctx));
    return LAM_OK;
}

static lam_status maxpool_backward(lam_layer *l, const float *const *x, const float *y,
                                   const float *dy, float *const *dx, unsigned acc, int64_t n)
{
    (void)x;
    (void)y;
    (void)acc;
    if (dx[0] != NULL) {
        lam_pool_geom g = geom_for(l, n);
        l->k->maxpool_bwd(&g, dy, lam__maxpool_argmax(l), dx[0], lam_ctx_threads(l->ctx));
    }
    return LAM_OK;
}

static lam_status avgpool_forward(lam_layer *l, const float *const *x, float *y, int64_t n,
                                  int train)
{
    (void)train;
    lam_pool_geom g = geom_for(l, n);
    l->k->avgpool_fwd(&g, x[0], y, lam_ctx_threads(l->ctx));
    return LAM_OK;
}

static lam_status avgpool_backward(lam_layer *l, const float *const *x, const float *y,
                                   const float *dy, float *const *dx, unsigned acc, int64_t n)
{
    (void)x;
    (void)y;
    (void)acc;
    if (dx[0] != NULL) {
        lam_pool_geom g = geom_for(l, n);
        l->k->avgpool_bwd(&g, dy, dx[0], lam_ctx_threads(l->ctx));
    }
    return LAM_OK;
}

static unsigned pool_reads(const lam_layer *l)
{
    (void)l;
    return 0; /* max pool routes dy by its argmax; average pool needs nothing */
}

static void pool_destroy(lam_layer *l)
{
    pool_state *s = l->state;
    if (s != NULL) {
        lam_free(l->ctx, s->argmax);
    }
}

static lam_status pool_setup(lam_layer *l)
{
    const lam_layer_desc *d = &l->desc;
    const int is_max = d->kind == LAM_LAYER_MAXPOOL;
    if (l->in[0].ndim != 3) {
        return lam__layer_error(l, LAM_ERR_SHAPE, "input is %d-D; pooling needs (C,H,W)",
                                l->in[0].ndim);
    }
    if (d->kh < 1 || d->kw < 1 || d->sh < 0 || d->sw < 0 || d->ph < 0 || d->pw < 0) {
        return lam__layer_error(l, LAM_ERR_ARG, "bad window %lldx%lld", (long long)d->kh,
                                (long long)d->kw);
    }
    if (2 * d->ph > d->kh || 2 * d->pw > d->kw) {
        return lam__layer_error(l, LAM_ERR_ARG, "padding %lld exceeds half the window %lld",
                                (long long)d->ph, (long long)d->kh);
    }
    pool_state *s = lam__layer_state(l, sizeof *s);
    if (s == NULL) {
        return LAM_ERR_NOMEM;
    }
    lam_pool_geom *g = &s->g;
    g->n = l->max_batch;
    g->c = l->in[0].dim[0];
    g->h = l->in[0].dim[1];
    g->w = l->in[0].dim[2];
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
    l->out = (lam_shape){3, {g->c, g->oh, g->ow}};
    l->flops = g->c * g->oh * g->ow * g->kh * g->kw;
    if (is_max) {
        int64_t count = l->max_batch * g->c * g->oh * g->ow;
        s->argmax = lam_alloc(l->ctx, (size_t)count * sizeof(int32_t));
        if (s->argmax == NULL) {
            return LAM_ERR_NOMEM;
        }
        memset(s->argmax, 0, (size_t)count * sizeof(int32_t));
        l->ws_bytes = count * (int64_t)sizeof(int32_t);
    }
    return LAM_OK;
}

const lam_kind lam__kind_maxpool = {
    .id = LAM_LAYER_MAXPOOL,
    .name = "maxpool",
    .min_in = 1,
    .max_in = 1,
    .setup = pool_setup,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .reads = pool_reads,
    .destroy = pool_destroy,
};

const lam_kind lam__kind_avgpool = {
    .id = LAM_LAYER_AVGPOOL,
    .name = "avgpool",
    .min_in = 1,
    .max_in = 1,
    .setup = pool_setup,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
    .reads = pool_reads,
    .destroy = pool_destroy,
};
