/* embedding: a table of V rows of D floats, as PyTorch's nn.Embedding. Every input value is a
 * token id (an integral float: a model's input is float, and ids up to 2^24 are exact) and
 * becomes its row, so a (T) sample becomes (T, D).
 *
 * The weight gradient adds dy's rows into the rows the batch used, one position after the
 * other in batch order: a fixed order, so results do not depend on the thread count, and
 * rows no token used are not touched at all (V may be large; a step touches T*N rows). */
#include "layer_internal.h"

#include <math.h>
#include <string.h>

/* Initialisation as PyTorch's: N(0, 1), or N(0, init_std) as GPT-2's. */
static void embedding_init(lam_layer *l)
{
    lam__layer_init_std(l, 0, 1, l->desc.init_std > 0.0f ? l->desc.init_std : 1.0f);
}

/* The row of id value v, or -1 when v is not an integer in [0, V). */
static int64_t token_row(float v, int64_t vocab)
{
    if (!(v >= 0.0f && v < (float)vocab) || v != floorf(v)) {
        return -1;
    }
    return (int64_t)v;
}

static lam_status embedding_forward(lam_layer *l, const float *const *x, float *y, int64_t n,
                                    int train)
{
    (void)train;
    const int64_t count = n * l->in_numel[0], D = l->desc.out, V = l->desc.vocab;
    const float *w = lam__param(l, 0)->w;
    for (int64_t i = 0; i < count; i++) {
        const int64_t r = token_row(x[0][i], V);
        if (r < 0) {
            return lam__layer_error(l, LAM_ERR_RANGE,
                                    "input %g at position %lld is not a "
                                    "token id in [0, %lld)",
                                    (double)x[0][i], (long long)i, (long long)V);
        }
        memcpy(y + i * D, w + r * D, (size_t)D * sizeof(float));
    }
    return LAM_OK;
}

static lam_status embedding_backward(lam_layer *l, const float *const *x, const float *y,
                                     const float *dy, float *const *dx, unsigned acc, int64_t n)
{
    (void)y;
    (void)acc;
    const int64_t count = n * l->in_numel[0], D = l->desc.out, V = l->desc.vocab;
    float *g = lam__param(l, 0)->g;
    for (int64_t i = 0; g != NULL && i < count; i++) {
        const int64_t r = token_row(x[0][i], V); /* checked by forward */
        float *gr = g + r * D;
        const float *d = dy + i * D;
        for (int64_t j = 0; j < D; j++) {
            gr[j] += d[j];
        }
    }
    /* ids are not differentiable: their gradient is zero */
    if (dx[0] != NULL) {
        memset(dx[0], 0, (size_t)count * sizeof(float));
    }
    return LAM_OK;
}

static unsigned embedding_reads(const lam_layer *l)
{
    (void)l;
    return LAM_READS_X(0);
}

static lam_status embedding_setup(lam_layer *l)
{
    const lam_shape *in = &l->in[0];
    char sh[64];
    if (in->ndim > 2) {
        return lam__layer_error(l, LAM_ERR_SHAPE,
                                "input is %s; an embedding takes token ids "
                                "shaped (T) or (T, K)",
                                lam__shape_str(in->ndim, in->dim, sh, sizeof sh));
    }
    if (l->desc.vocab < 1 || l->desc.vocab > (INT64_C(1) << 24) || l->desc.out < 1) {
        return lam__layer_error(l, LAM_ERR_ARG,
                                "vocabulary %lld and width %lld (the "
                                "vocabulary must be 1..2^24: ids are floats)",
                                (long long)l->desc.vocab, (long long)l->desc.out);
    }
    l->out = *in;
    l->out.dim[in->ndim] = l->desc.out;
    l->out.ndim = in->ndim + 1;
    l->flops = 0; /* a copy */
    const int64_t shape[2] = {l->desc.vocab, l->desc.out};
    return lam__layer_tensor(l, "weight", 0, 2, shape, l->desc.out, l->desc.vocab, 0);
}

const lam_kind lam__kind_embedding = {
    .id = LAM_LAYER_EMBEDDING,
    .name = "embedding",
    .min_in = 1,
    .max_in = 1,
    .setup = embedding_setup,
    .init = embedding_init,
    .forward = embedding_forward,
    .backward = embedding_backward,
    .reads = embedding_reads,
};
