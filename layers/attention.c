/* Multi-head self-attention on a (T, D) sample, as nanoGPT's CausalSelfAttention (and
 * PyTorch's nn.MultiheadAttention with one packed in-projection):
 *
 *   qkv = x c_attn.weight^T + c_attn.bias          (T, 3D): Q, K, V side by side
 *   per head h (hd = D / heads columns of each):
 *     P_h = softmax(Q_h K_h^T / sqrt(hd))          causal: position t sees positions <= t
 *     Y_h = dropout(P_h) V_h
 *   y = Y c_proj.weight^T + c_proj.bias
 *
 * The two projections are one GEMM each over all N*T rows (the linear kernels: column
 * blocks on lamina's threads, so no thread count changes a bit). The heads run as
 * (sample, head) items in parallel, each with its own GEMMs (kernels/transformer.c).
 *
 * Backward keeps, from the forward: qkv (N, T, 3D), the attention weights P (N, heads, T,
 * T), the heads' output Y (N, T, D) and, with dropout, its scale per weight. That is what
 * `lamina info` counts as the layer's workspace; recomputing P instead would save the
 * N*heads*T*T floats at the price of one more QK^T and softmax per head. */
#include "layer_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct attn_state {
    lam_attn a;
    int threads;                 /* of the head phase */
    int64_t tt;                  /* T*T */
    float *qkv, *p, *keep, *att; /* kept from the latest training forward */
    float *datt, *dqkv;          /* backward's intermediates */
    float *lanes;                /* per thread: dp and pd, T*T each */
} attn_state;

typedef struct head_pass {
    const lam_layer *l;
    const attn_state *s;
    const float *keep;  /* the dropout scales of this pass, or NULL: no dropout */
    const float *datt;
    int isa;
} head_pass;

static void item_head_fwd(const void *arg, int64_t item, int lane)
{
    const head_pass *ps = arg;
    const attn_state *s = ps->s;
    const int64_t n = item / s->a.heads, h = item % s->a.heads, T = s->a.T, D = s->a.D;
    const int64_t pi = item * s->tt;
    ps->l->k->attn_head_fwd(&s->a, h, s->qkv + n * T * 3 * D, s->p + pi,
                            ps->keep != NULL ? ps->keep + pi : NULL,
                            s->lanes + (int64_t)lane * 2 * s->tt, s->att + n * T * D, ps->isa);
}

static void item_head_bwd(const void *arg, int64_t item, int lane)
{
    const head_pass *ps = arg;
    const attn_state *s = ps->s;
    const int64_t n = item / s->a.heads, h = item % s->a.heads, T = s->a.T, D = s->a.D;
    const int64_t pi = item * s->tt;
    float *scratch = s->lanes + (int64_t)lane * 2 * s->tt;
    ps->l->k->attn_head_bwd(&s->a, h, s->qkv + n * T * 3 * D, s->p + pi,
                            ps->keep != NULL ? ps->keep + pi : NULL, ps->datt + n * T * D,
                            s->dqkv + n * T * 3 * D, scratch, scratch + s->tt, ps->isa);
}

/* Dropout scales per work item (a multiple of 4: the RNG gives four values per call). */
#define KEEP_BLOCK 16384

typedef struct keep_pass {
    float *keep;
    float p, scale;
    uint64_t seed, stream;
    int64_t count;
} keep_pass;

static void item_keep(const void *arg, int64_t blk, int lane)
{
    (void)lane;
    const keep_pass *k = arg;
    const int64_t i1 = (blk + 1) * KEEP_BLOCK < k->count ? (blk + 1) * KEEP_BLOCK : k->count;
    for (int64_t i = blk * KEEP_BLOCK; i < i1; i += 4) {
        float u[4];
        lam__rng_uniform4(k->seed, k->stream, (uint64_t)i / 4, u);
        for (int64_t c = 0; c < 4 && i + c < i1; c++) {
            k->keep[i + c] = u[c] < k->p ? 0.0f : k->scale;
        }
    }
}

/* The dropout scales of the attention weights, from the counter-based RNG keyed by (seed,
 * layer stream, step) as the dropout layer's: the same on any thread count and on resume.
 * gpt-6x384 with dropout draws 4.7 million a layer and step: in parallel blocks. */
static void draw_keep(lam_layer *l, int64_t count)
{
    attn_state *s = l->state;
    const float p = l->desc.alpha;
    const keep_pass k = {s->keep, p, 1.0f / (1.0f - p), lam_ctx_seed(l->ctx),
                         (l->stream << 40) ^ (uint64_t)l->step, count};
    const lam_phase ph = {item_keep, (count + KEEP_BLOCK - 1) / KEEP_BLOCK, 0};
    lam__run_phases(lam_ctx_threads(l->ctx), &k, &ph, 1);
}

static int pass_threads(const lam_layer *l)
{
    /* without AVX-512 the head GEMMs are BLAS calls, which a pthreads OpenBLAS must not
     * get from lamina's threads */
    return lam__gemm_outside(l->ctx) ? 1 : lam_ctx_threads(l->ctx);
}

/* y (rows, out) = x W^T + b: the linear layer's kernels, split on lamina's threads, or one
 * GEMM that a pthreads OpenBLAS threads itself (as layers/linear.c decides). */
static void proj_fwd(const lam_layer *l, int64_t rows, int64_t in, int64_t out, const float *x,
                     int wi, float *y)
{
    const float *w = lam__param((lam_layer *)l, wi)->w;
    const float *b = l->desc.bias ? lam__param((lam_layer *)l, wi + 1)->w : NULL;
    if (lam__gemm_outside(l->ctx)) {
        l->k->linear_fwd(rows, in, out, x, w, b, y);
    } else {
        l->k->linear_fused_fwd(rows, in, out, LAM_ACT_NONE, x, w, b, y, lam_ctx_threads(l->ctx));
    }
}

/* dx = dy W (NULL: skip), dW += dy^T x, db += sum dy */
static void proj_bwd(const lam_layer *l, int64_t rows, int64_t in, int64_t out, const float *x,
                     int wi, const float *dy, float *dx)
{
    lam_param *w = lam__param((lam_layer *)l, wi);
    float *db = l->desc.bias ? lam__param((lam_layer *)l, wi + 1)->g : NULL;
    if (lam__gemm_outside(l->ctx)) {
        l->k->linear_bwd(rows, in, out, x, w->w, dy, dx, w->g, db);
    } else {
        /* with no activation the kernel only reads dy: the cast drops nothing */
        l->k->linear_fused_bwd(rows, in, out, LAM_ACT_NONE, x, w->w, NULL, (float *)(uintptr_t)dy,
                               dx, w->g, db, lam_ctx_threads(l->ctx));
    }
}

static void run_heads(lam_layer *l, lam_item_fn fn, const float *keep, const float *datt,
                      int64_t n)
{
    const attn_state *s = l->state;
    const head_pass ps = {l, s, keep, datt, lam__best_isa()};
    const lam_phase ph = {fn, n * s->a.heads, 0};
    lam__run_phases(s->threads, &ps, &ph, 1);
}

static lam_status attn_forward(lam_layer *l, const float *const *x, float *y, int64_t n,
                               int train)
{
    attn_state *s = l->state;
    const int64_t D = s->a.D, rows = n * s->a.T;
    const int drop = train && l->desc.alpha > 0.0f;
    if (drop) {
        draw_keep(l, n * s->a.heads * s->tt);
    }
    proj_fwd(l, rows, D, 3 * D, x[0], 0, s->qkv);
    run_heads(l, item_head_fwd, drop ? s->keep : NULL, NULL, n);
    proj_fwd(l, rows, D, D, s->att, l->desc.bias ? 2 : 1, y);
    return LAM_OK;
}

static lam_status attn_backward(lam_layer *l, const float *const *x, const float *y,
                                const float *dy, float *const *dx, unsigned acc, int64_t n)
{
    (void)y;
    (void)acc;
    attn_state *s = l->state;
    const int64_t D = s->a.D, rows = n * s->a.T;
    proj_bwd(l, rows, D, D, s->att, l->desc.bias ? 2 : 1, dy, s->datt);
    /* keep is NULL without dropout (setup allocates it only with dropout) */
    run_heads(l, item_head_bwd, s->keep, s->datt, n);
    proj_bwd(l, rows, D, 3 * D, x[0], 0, s->dqkv, dx[0]);
    return LAM_OK;
}

static unsigned attn_reads(const lam_layer *l)
{
    (void)l;
    return LAM_READS_X(0);
}

static void attn_init(lam_layer *l)
{
    if (l->desc.init_std <= 0.0f) {
        lam__layer_init_uniform(l);
        return;
    }
    const int split = l->desc.bias ? 2 : 1; /* c_attn's tensors, then c_proj's */
    const float out_std = l->desc.init_std_out > 0.0f ? l->desc.init_std_out : l->desc.init_std;
    lam__layer_init_std(l, 0, split, l->desc.init_std);
    lam__layer_init_std(l, split, l->n_params, out_std);
}

static void attn_destroy(lam_layer *l)
{
    attn_state *s = l->state;
    if (s != NULL) {
        lam_free(l->ctx, s->qkv);
        lam_free(l->ctx, s->lanes);
    }
}

static lam_status declare(lam_layer *l, const char *module, int64_t out, int64_t in)
{
    char name[32];
    const int64_t shape[2] = {out, in};
    lam_status st;
    snprintf(name, sizeof name, "%s.weight", module);
    if ((st = lam__layer_tensor(l, name, 0, 2, shape, in, out, 0)) != LAM_OK) {
        return st;
    }
    snprintf(name, sizeof name, "%s.bias", module);
    return l->desc.bias ? lam__layer_tensor(l, name, 0, 1, &out, in, out, 1) : LAM_OK;
}

static lam_status attn_setup(lam_layer *l)
{
    const lam_shape *in = &l->in[0];
    const lam_layer_desc *d = &l->desc;
    char sh[64];
    if (in->ndim != 2) {
        return lam__layer_error(l, LAM_ERR_SHAPE, "input is %s; attention takes (T, D)",
                                lam__shape_str(in->ndim, in->dim, sh, sizeof sh));
    }
    const int64_t T = in->dim[0], D = in->dim[1];
    if (d->heads < 1 || D % d->heads != 0) {
        return lam__layer_error(l, LAM_ERR_SHAPE, "%d heads do not divide the width %lld",
                                (int)d->heads, (long long)D);
    }
    if (T > LAM_ATTN_MAX_T) {
        return lam__layer_error(l, LAM_ERR_RANGE, "%lld positions; attention takes at most %d",
                                (long long)T, LAM_ATTN_MAX_T);
    }
    if (!(d->alpha >= 0.0f && d->alpha < 1.0f) || d->causal < 0 || d->causal > 1) {
        return lam__layer_error(l, LAM_ERR_ARG, "dropout %g must be in [0, 1), causal %d 0 or 1",
                                (double)d->alpha, (int)d->causal);
    }
    l->out = *in;
    /* multiply-adds x 2: the projections (4 D^2 per position), and QK^T and PV (2 D per
     * query-key pair): all T^2 pairs, or the T(T+1)/2 a causal head computes */
    const int64_t pairs = d->causal ? T * (T + 1) / 2 : T * T;
    l->flops = 2 * (4 * T * D * D + 2 * pairs * D);
    lam_status st;
    if ((st = declare(l, "c_attn", 3 * D, D)) != LAM_OK ||
        (st = declare(l, "c_proj", D, D)) != LAM_OK) {
        return st;
    }
    attn_state *s = lam__layer_state(l, sizeof *s);
    if (s == NULL) {
        return LAM_ERR_NOMEM;
    }
    s->a = (lam_attn){T, D, d->heads, d->causal, 1.0f / sqrtf((float)(D / d->heads))};
    s->tt = T * T;
    s->threads = pass_threads(l);
    const int64_t N = l->max_batch, drop = d->alpha > 0.0f;
    /* one block: qkv, dqkv (3D each per position), att, datt (D each), P and keep */
    const int64_t rows = N * T, np = N * d->heads * s->tt;
    s->qkv = lam__layer_scratch(l, 8 * rows * D + (1 + drop) * np);
    s->lanes = lam__layer_scratch(l, (int64_t)s->threads * 2 * s->tt);
    if (s->qkv == NULL || s->lanes == NULL) {
        return LAM_ERR_NOMEM;
    }
    s->dqkv = s->qkv + 3 * rows * D;
    s->att = s->dqkv + 3 * rows * D;
    s->datt = s->att + rows * D;
    s->p = s->datt + rows * D;
    s->keep = drop ? s->p + np : NULL;
    /* what backward keeps, at the largest batch: shown by lamina info */
    snprintf(l->strategy, sizeof l->strategy, "%d heads%s, %.1f MiB for backward", (int)d->heads,
             d->causal ? ", causal" : "", (double)l->ws_bytes / (1024.0 * 1024.0));
    return LAM_OK;
}

const lam_kind lam__kind_attention = {
    .id = LAM_LAYER_ATTENTION,
    .name = "attention",
    .min_in = 1,
    .max_in = 1,
    .flags = LAM_KIND_WHOLE_BATCH, /* qkv, P and the dropout scales of every row */
    .setup = attn_setup,
    .init = attn_init,
    .forward = attn_forward,
    .backward = attn_backward,
    .reads = attn_reads,
    .destroy = attn_destroy,
};
