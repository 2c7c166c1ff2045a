/* posembed: learned positions, GPT's wpe. A (rows, D) table; position t of a (T, D) sample
 * gets row t added, for T up to the table's rows (desc.out), so y = x + W[0:T] as nanoGPT's
 * tok_emb + pos_emb. The table is `weight`, the shape of PyTorch's nn.Embedding(rows, D),
 * so a wpe tensor imports by name. Initialised as nn.Embedding: N(0, 1), or N(0, init_std).
 *
 * It runs in place (y over x) and passes the gradient on (dx may be dy), so it costs the
 * model no buffer. The table's gradient sums the batch's samples in order: one thread, a
 * fixed order. */
#include "layer_internal.h"

#include <string.h>

static void posembed_init(lam_layer *l)
{
    lam__layer_init_std(l, 0, 1, l->desc.init_std > 0.0f ? l->desc.init_std : 1.0f);
}

static lam_status posembed_forward(lam_layer *l, const float *const *x, float *y, int64_t n,
                                   int train)
{
    (void)train;
    const int64_t per = l->in_numel[0];
    const float *w = lam__param(l, 0)->w;
    for (int64_t s = 0; s < n; s++) {
        const float *xs = x[0] + s * per;
        float *ys = y + s * per;
        for (int64_t i = 0; i < per; i++) {
            ys[i] = xs[i] + w[i];
        }
    }
    return LAM_OK;
}

static lam_status posembed_backward(lam_layer *l, const float *const *x, const float *y,
                                    const float *dy, float *const *dx, unsigned acc, int64_t n)
{
    (void)x;
    (void)y;
    (void)acc;
    const int64_t per = l->in_numel[0];
    float *g = lam__param(l, 0)->g;
    for (int64_t s = 0; g != NULL && s < n; s++) {
        const float *d = dy + s * per;
        for (int64_t i = 0; i < per; i++) {
            g[i] += d[i];
        }
    }
    if (dx[0] != NULL && dx[0] != dy) {
        memcpy(dx[0], dy, (size_t)(n * per) * sizeof(float));
    }
    return LAM_OK;
}

static unsigned posembed_reads(const lam_layer *l)
{
    (void)l;
    return 0;
}

static lam_status posembed_setup(lam_layer *l)
{
    const lam_shape *in = &l->in[0];
    char sh[64];
    if (in->ndim != 2) {
        return lam__layer_error(l, LAM_ERR_SHAPE, "input is %s; posembed takes (T, D)",
                                lam__shape_str(in->ndim, in->dim, sh, sizeof sh));
    }
    if (l->desc.out < 1) {
        return lam__layer_error(l, LAM_ERR_ARG, "the table needs at least one position "
                                "(posembed:T)");
    }
    if (in->dim[0] > l->desc.out) {
        return lam__layer_error(l, LAM_ERR_SHAPE, "the context is %lld positions, longer than "
                                "its table of %lld (posembed:%lld): shorten the sequence "
                                "(--bptt) or grow the table",
                                (long long)in->dim[0], (long long)l->desc.out,
                                (long long)l->desc.out);
    }
    l->out = *in;
    l->flops = l->in_numel[0];
    const int64_t shape[2] = {l->desc.out, in->dim[1]};
    return lam__layer_tensor(l, "weight", 0, 2, shape, in->dim[1], l->desc.out, 0);
}

const lam_kind lam__kind_posembed = {
    .id = LAM_LAYER_POSEMBED,
    .name = "posembed",
    .min_in = 1,
    .max_in = 1,
    .flags = LAM_KIND_IN_PLACE | LAM_KIND_PASSES_DY,
    .setup = posembed_setup,
    .init = posembed_init,
    .forward = posembed_forward,
    .backward = posembed_backward,
    .reads = posembed_reads,
};
