/* conv2d layer: y = conv(x, W) + b with stride, padding, dilation and groups.
 * Weight (C_out, C_in/groups, KH, KW), bias (C_out). The math and the batch-parallel im2col +
 * GEMM strategy live in kernels/conv2d.c; this file owns shapes, parameters and workspace. */
#include "layer_internal.h"

static lam_status conv_forward(lam_layer *l, const float *x, float *y, int64_t n, int train)
{
    (void)train;
    lam_conv_geom g = l->conv;
    g.n = n;
    const float *b = l->n_params > 1 ? l->params[1].w : NULL;
    l->k->conv2d_fwd(&g, x, l->params[0].w, b, y, l->ws, lam_ctx_threads(l->ctx));
    return LAM_OK;
}

static lam_status conv_backward(lam_layer *l, const float *x, const float *y, const float *dy,
                                float *dx, int64_t n)
{
    (void)y;
    lam_conv_geom g = l->conv;
    g.n = n;
    int nt = lam_ctx_threads(l->ctx);
    float *db = l->n_params > 1 ? l->params[1].g : NULL;
    l->k->conv2d_bwd_weight(&g, x, dy, l->params[0].g, db, l->ws, nt);
    if (dx != NULL) {
        l->k->conv2d_bwd_data(&g, dy, l->params[0].w, dx, l->ws, nt);
    }
    return LAM_OK;
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
    int64_t ws = lam__conv2d_workspace(g, lam_ctx_threads(l->ctx));
    if (ws > 0) {
        l->ws = lam__alloc_floats(l->ctx, ws, l->name);
        if (l->ws == NULL) {
            return LAM_ERR_NOMEM;
        }
    }
    return LAM_OK;
}
