/* Layer normalisation (Ba et al. 2016) over the last dimension, as torch.nn.LayerNorm(D):
 * y = (x - mean) / sqrt(var + eps) * weight + bias per row of D, var biased, eps = alpha
 * (1e-5 by default). The same in training and inference: no running statistics. A (D)
 * sample is one row, a (T, D) sample T rows. The passes are kernels/transformer.c; this
 * file owns weight (1) and bias (0), and the per-row mean and 1/std of the latest forward,
 * which backward reads. Both are in the no-decay group (is_bias), as nanoGPT leaves every
 * 1-D tensor out of weight decay. */
#include "layer_internal.h"

typedef struct ln_state {
    int64_t rows, d;      /* rows per sample, width */
    float *mean, *rstd;   /* per row of the largest batch */
    float *ws;            /* backward's partial sums (lam__layernorm_workspace) */
} ln_state;

static void ln_init(lam_layer *l)
{
    lam_param *w = lam__param(l, 0), *b = lam__param(l, 1);
    for (int64_t j = 0; j < w->n; j++) {
        w->w[j] = 1.0f;
        b->w[j] = 0.0f;
    }
}

static lam_status ln_forward(lam_layer *l, const float *const *x, float *y, int64_t n,
                             int train)
{
    (void)train;
    const ln_state *s = l->state;
    const int64_t r0 = l->row0 * s->rows; /* a chunk's rows keep their statistics apart */
    l->k->layernorm_fwd(n * s->rows, s->d, l->desc.alpha, x[0], lam__param(l, 0)->w,
                        lam__param(l, 1)->w, y, s->mean + r0, s->rstd + r0,
                        lam_ctx_threads(l->ctx));
    return LAM_OK;
}

static lam_status ln_backward(lam_layer *l, const float *const *x, const float *y,
                              const float *dy, float *const *dx, unsigned acc, int64_t n)
{
    (void)y;
    (void)acc;
    const ln_state *s = l->state;
    const int64_t r0 = l->row0 * s->rows;
    l->k->layernorm_bwd(n * s->rows, s->d, x[0], lam__param(l, 0)->w, s->mean + r0,
                        s->rstd + r0, dy, dx[0], lam__param(l, 0)->g, lam__param(l, 1)->g, s->ws,
                        lam_ctx_threads(l->ctx));
    return LAM_OK;
}

static unsigned ln_reads(const lam_layer *l)
{
    (void)l;
    return LAM_READS_X(0);
}

static void ln_destroy(lam_layer *l)
{
    ln_state *s = l->state;
    if (s != NULL) {
        lam_free(l->ctx, s->mean);
    }
}

static lam_status ln_setup(lam_layer *l)
{
    if (!(l->desc.alpha > 0.0f)) {
        return lam__layer_error(l, LAM_ERR_ARG, "eps %g must be > 0", (double)l->desc.alpha);
    }
    const lam_shape *in = &l->in[0];
    const int64_t d = in->dim[in->ndim - 1];
    l->out = *in;
    l->flops = 8 * l->in_numel[0];
    lam_status st;
    if ((st = lam__layer_tensor(l, "weight", 0, 1, &d, d, d, 1)) != LAM_OK ||
        (st = lam__layer_tensor(l, "bias", 0, 1, &d, 0, 0, 1)) != LAM_OK) {
        return st;
    }
    ln_state *s = lam__layer_state(l, sizeof *s);
    if (s == NULL) {
        return LAM_ERR_NOMEM;
    }
    s->d = d;
    s->rows = l->in_numel[0] / d;
    const int64_t rows = l->max_batch * s->rows;
    s->mean = lam__layer_scratch(l, 2 * rows + lam__layernorm_workspace(rows, d));
    if (s->mean == NULL) {
        return LAM_ERR_NOMEM;
    }
    s->rstd = s->mean + rows;
    s->ws = s->rstd + rows;
    return LAM_OK;
}

const lam_kind lam__kind_layernorm = {
    .id = LAM_LAYER_LAYERNORM,
    .name = "layernorm",
    .min_in = 1,
    .max_in = 1,
    .setup = ln_setup,
    .init = ln_init,
    .forward = ln_forward,
    .backward = ln_backward,
    .reads = ln_reads,
    .destroy = ln_destroy,
};
