/* Layer objects: creation from a descriptor, argument checks, and dispatch to the ops table of
 * the kind. Kind-specific math lives in conv2d.c, linear.c, act.c, pool.c, norm.c. */
#include "layer_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void lam_layer_desc_init(lam_layer_desc *d, lam_layer_kind kind)
{
    if (d == NULL) {
        return;
    }
    memset(d, 0, sizeof *d);
    d->kind = kind;
    d->dh = d->dw = 1;
    d->groups = 1;
    d->bias = 1;
    switch (kind) {
    case LAM_LAYER_LEAKY_RELU: d->alpha = 0.01f; break;
    case LAM_LAYER_DROPOUT: d->alpha = 0.5f; break;
    case LAM_LAYER_BATCHNORM:
        d->alpha = 1e-5f;
        d->momentum = 0.1f;
        break;
    default: break;
    }
}

const char *lam__shape_str(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && used < size; i++) {
        int w = snprintf(buf + used, size - used, i ? "x%lld" : "%lld", (long long)shape[i]);
        if (w < 0) {
            break;
        }
        used += (size_t)w;
    }
    return buf;
}

lam_status lam__layer_error(const lam_layer *l, lam_status st, const char *fmt, ...)
{
    char detail[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return lam__error(l->ctx, st, "layer %d (%s): %s", l->index, l->ops->name, detail);
}

lam_status lam__layer_alloc_params(lam_layer *l, int64_t n_w, int64_t n_b, int64_t fan_in,
                                   int64_t fan_out)
{
    int64_t n = n_w + n_b;
    l->block = lam__alloc_floats(l->ctx, 2 * n, l->name);
    if (l->block == NULL) {
        return LAM_ERR_NOMEM;
    }
    const char *suffix[2] = {"weight", "bias"};
    int64_t sizes[2] = {n_w, n_b};
    int64_t off = 0;
    l->n_params = 0;
    for (int i = 0; i < 2; i++) {
        if (sizes[i] == 0) {
            continue;
        }
        lam_param *p = &l->params[l->n_params];
        snprintf(l->param_names[l->n_params], sizeof l->param_names[0], "%s.%s", l->name,
                 suffix[i]);
        p->name = l->param_names[l->n_params];
        p->w = l->block + off;
        p->g = l->block + n + off;
        p->n = sizes[i];
        p->fan_in = fan_in;
        p->fan_out = fan_out;
        p->is_bias = i == 1;
        off += sizes[i];
        l->n_params++;
    }
    return LAM_OK;
}

void lam__layer_init_uniform(lam_layer *l)
{
    uint64_t seed = lam_ctx_seed(l->ctx);
    for (int i = 0; i < l->n_params; i++) {
        lam_param *p = &l->params[i];
        float bound = p->fan_in > 0 ? 1.0f / sqrtf((float)p->fan_in) : 0.0f;
        /* each tensor draws from its own stream: 2*layer stream + tensor index */
        uint64_t stream = l->stream * 2 + (uint64_t)i;
        for (int64_t j = 0; j < p->n; j++) {
            p->w[j] = bound * (2.0f * lam_rng_uniform(seed, stream, (uint64_t)j) - 1.0f);
        }
    }
}

static lam_status (*setup_for(lam_layer_kind kind))(lam_layer *)
{
    switch (kind) {
    case LAM_LAYER_CONV2D: return lam__conv2d_setup;
    case LAM_LAYER_LINEAR: return lam__linear_setup;
    case LAM_LAYER_RELU:
    case LAM_LAYER_LEAKY_RELU:
    case LAM_LAYER_SIGMOID:
    case LAM_LAYER_TANH:
    case LAM_LAYER_GELU: return lam__act_setup;
    case LAM_LAYER_MAXPOOL:
    case LAM_LAYER_AVGPOOL: return lam__pool_setup;
    case LAM_LAYER_GLOBAL_AVGPOOL:
    case LAM_LAYER_FLATTEN: return lam__shape_setup;
    case LAM_LAYER_DROPOUT: return lam__dropout_setup;
    case LAM_LAYER_BATCHNORM: return lam__batchnorm_setup;
    }
    return NULL;
}

static const char *kind_name(lam_layer_kind kind)
{
    switch (kind) {
    case LAM_LAYER_CONV2D: return "conv2d";
    case LAM_LAYER_LINEAR: return "linear";
    case LAM_LAYER_RELU: return "relu";
    case LAM_LAYER_LEAKY_RELU: return "leakyrelu";
    case LAM_LAYER_SIGMOID: return "sigmoid";
    case LAM_LAYER_TANH: return "tanh";
    case LAM_LAYER_GELU: return "gelu";
    case LAM_LAYER_MAXPOOL: return "maxpool";
    case LAM_LAYER_AVGPOOL: return "avgpool";
    case LAM_LAYER_GLOBAL_AVGPOOL: return "gap";
    case LAM_LAYER_FLATTEN: return "flatten";
    case LAM_LAYER_DROPOUT: return "dropout";
    case LAM_LAYER_BATCHNORM: return "batchnorm";
    }
    return "?";
}

lam_status lam__layer_create_at(lam_ctx *ctx, const lam_layer_desc *d, int in_ndim,
                                const int64_t *in_shape, int64_t max_batch, uint64_t stream,
                                int index, lam_layer **out)
{
    if (ctx == NULL || out == NULL) {
        return LAM_ERR_ARG;
    }
    if (d == NULL || setup_for(d->kind) == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "layer %d: unknown layer kind", index);
    }
    if ((in_ndim != 1 && in_ndim != 3) || in_shape == NULL) {
        return lam__error(ctx, LAM_ERR_SHAPE, "layer %d (%s): input must be (C,H,W) or (F)",
                          index, kind_name(d->kind));
    }
    if (max_batch < 1 || max_batch > (INT64_C(1) << 31)) {
        return lam__error(ctx, LAM_ERR_ARG, "layer %d (%s): max_batch %lld out of range", index,
                          kind_name(d->kind), (long long)max_batch);
    }
    lam_layer *l = lam_alloc(ctx, sizeof *l);
    if (l == NULL) {
        return LAM_ERR_NOMEM;
    }
    memset(l, 0, sizeof *l);
    static const lam_layer_ops placeholder = {"?", NULL, NULL};
    l->ops = &placeholder;
    l->ctx = ctx;
    l->k = lam__kernels_for(ctx->cfg.kernels);
    l->desc = *d;
    l->index = index;
    snprintf(l->name, sizeof l->name, "%s#%d", kind_name(d->kind), index);
    l->in_ndim = in_ndim;
    for (int i = 0; i < in_ndim; i++) {
        if (in_shape[i] < 1) {
            lam_free(ctx, l);
            return lam__error(ctx, LAM_ERR_SHAPE, "layer %d (%s): input dimension %d is %lld",
                              index, kind_name(d->kind), i, (long long)in_shape[i]);
        }
        l->in_shape[i] = in_shape[i];
    }
    if (lam_shape_numel(in_ndim, in_shape, &l->in_numel) != LAM_OK ||
        lam__mul_i64(l->in_numel, max_batch, &(int64_t){0})) {
        lam_free(ctx, l);
        return lam__error(ctx, LAM_ERR_RANGE, "layer %d (%s): input too large", index,
                          kind_name(d->kind));
    }
    l->max_batch = max_batch;
    l->stream = stream;
    lam_status st = setup_for(d->kind)(l);
    if (st == LAM_OK) {
        int64_t on;
        if (lam_shape_numel(l->out_ndim, l->out_shape, &on) != LAM_OK ||
            lam__mul_i64(on, max_batch, &(int64_t){0})) {
            st = lam__layer_error(l, LAM_ERR_RANGE, "output too large");
        } else {
            l->out_numel = on;
        }
    }
    if (st != LAM_OK) {
        lam_layer_destroy(l);
        return st;
    }
    *out = l;
    return LAM_OK;
}

lam_status lam_layer_create(lam_ctx *ctx, const lam_layer_desc *d, int in_ndim,
                            const int64_t *in_shape, int64_t max_batch, uint64_t stream,
                            lam_layer **out)
{
    return lam__layer_create_at(ctx, d, in_ndim, in_shape, max_batch, stream, 0, out);
}

void lam_layer_destroy(lam_layer *l)
{
    if (l == NULL) {
        return;
    }
    lam_free(l->ctx, l->block);
    lam_free(l->ctx, l->ws);
    lam_free(l->ctx, l->argmax);
    lam_free(l->ctx, l);
}

void lam_layer_out_shape(const lam_layer *l, int *ndim, int64_t shape[3])
{
    *ndim = l->out_ndim;
    for (int i = 0; i < l->out_ndim; i++) {
        shape[i] = l->out_shape[i];
    }
}

const char *lam_layer_name(const lam_layer *l)
{
    return l != NULL ? l->name : "";
}

/* The batch size of a (N, sample) tensor, or -1 if it is not that shape and contiguous. */
static int64_t batch_of(const lam_layer *l, const lam_tensor *t, int ndim, const int64_t *shape,
                        const char *what)
{
    char want[64], got[64];
    if (t == NULL || t->data == NULL) {
        lam__layer_error(l, LAM_ERR_ARG, "%s is NULL", what);
        return -1;
    }
    int ok = t->ndim == ndim + 1;
    for (int i = 0; ok && i < ndim; i++) {
        ok = t->shape[i + 1] == shape[i];
    }
    if (!ok) {
        lam__shape_str(ndim, shape, want, sizeof want);
        lam__shape_str(t->ndim, t->shape, got, sizeof got);
        lam__layer_error(l, LAM_ERR_SHAPE, "%s is %s, expected Nx%s", what, got, want);
        return -1;
    }
    if (!lam_tensor_is_contiguous(t)) {
        lam__layer_error(l, LAM_ERR_LAYOUT, "%s is not contiguous", what);
        return -2;
    }
    return t->shape[0];
}

static lam_status batch_status(int64_t n)
{
    return n == -2 ? LAM_ERR_LAYOUT : LAM_ERR_SHAPE;
}

lam_status lam_layer_forward(lam_layer *l, const lam_tensor *x, lam_tensor *y, int train)
{
    if (l == NULL) {
        return LAM_ERR_ARG;
    }
    int64_t n = batch_of(l, x, l->in_ndim, l->in_shape, "input");
    if (n < 0) {
        return x == NULL || x->data == NULL ? LAM_ERR_ARG : batch_status(n);
    }
    int64_t ny = batch_of(l, y, l->out_ndim, l->out_shape, "output");
    if (ny < 0) {
        return y == NULL || y->data == NULL ? LAM_ERR_ARG : batch_status(ny);
    }
    if (n != ny || n < 1 || n > l->max_batch) {
        return lam__layer_error(l, LAM_ERR_SHAPE, "batch %lld (output %lld), max_batch %lld",
                                (long long)n, (long long)ny, (long long)l->max_batch);
    }
    lam_status st = l->ops->forward(l, x->data, y->data, n, train);
    l->last_train_n = st == LAM_OK && train ? n : 0;
    return st;
}

lam_status lam_layer_backward(lam_layer *l, const lam_tensor *x, const lam_tensor *y,
                              const lam_tensor *dy, lam_tensor *dx)
{
    if (l == NULL) {
        return LAM_ERR_ARG;
    }
    int64_t n = batch_of(l, x, l->in_ndim, l->in_shape, "input");
    int64_t ny = n < 0 ? n : batch_of(l, y, l->out_ndim, l->out_shape, "output");
    int64_t nd = ny < 0 ? ny : batch_of(l, dy, l->out_ndim, l->out_shape, "output gradient");
    int64_t nx = n;
    if (nd >= 0 && dx != NULL) {
        nx = batch_of(l, dx, l->in_ndim, l->in_shape, "input gradient");
    }
    if (n < 0 || ny < 0 || nd < 0 || nx < 0) {
        int64_t bad = n < 0 ? n : ny < 0 ? ny : nd < 0 ? nd : nx;
        return batch_status(bad);
    }
    if (ny != n || nd != n || nx != n) {
        return lam__layer_error(l, LAM_ERR_SHAPE, "batch sizes differ");
    }
    if (l->last_train_n != n) {
        return lam__layer_error(l, LAM_ERR_STATE,
                                "backward of batch %lld needs a forward(train=1) on it first",
                                (long long)n);
    }
    return l->ops->backward(l, x->data, y->data, dy->data, dx != NULL ? dx->data : NULL, n);
}

lam_status lam_layer_params(lam_layer *l, lam_param *out, int *count)
{
    if (l == NULL || count == NULL) {
        return LAM_ERR_ARG;
    }
    if (out != NULL) {
        int n = *count < l->n_params ? *count : l->n_params;
        for (int i = 0; i < n; i++) {
            out[i] = l->params[i];
        }
    }
    *count = l->n_params;
    return LAM_OK;
}

void lam_layer_zero_grad(lam_layer *l)
{
    if (l == NULL) {
        return;
    }
    for (int i = 0; i < l->n_params; i++) {
        memset(l->params[i].g, 0, (size_t)l->params[i].n * sizeof(float));
    }
}

int64_t lam_layer_param_count(const lam_layer *l)
{
    int64_t n = 0;
    for (int i = 0; l != NULL && i < l->n_params; i++) {
        n += l->params[i].n;
    }
    return n;
}

int64_t lam_layer_flops(const lam_layer *l)
{
    return l != NULL ? l->flops : 0;
}

const char *lam_layer_strategy(const lam_layer *l)
{
    return l != NULL ? l->strategy : "";
}

/* ------------------------------------------------------------ model fusion */

int lam__layer_can_fuse(const lam_layer *l, lam_act act, const lam_layer *pool)
{
    if (l == NULL || (act != LAM_ACT_NONE && act != LAM_ACT_RELU)) {
        return 0;
    }
    if (l->desc.kind == LAM_LAYER_CONV2D) {
        return pool == NULL || pool->desc.kind == LAM_LAYER_MAXPOOL;
    }
    return l->desc.kind == LAM_LAYER_LINEAR && pool == NULL && act == LAM_ACT_RELU;
}

lam_status lam__layer_fuse(lam_layer *l, lam_act act, lam_layer *pool, lam_layer *act_layer)
{
    if (!lam__layer_can_fuse(l, act, pool)) {
        return lam__layer_error(l, LAM_ERR_ARG, "cannot fuse");
    }
    l->fuse_act = act;
    l->fuse_pool = pool;
    lam_layer *absorbed[2] = {act_layer, pool};
    for (int i = 0; i < 2; i++) {
        if (absorbed[i] != NULL) {
            snprintf(absorbed[i]->strategy, sizeof absorbed[i]->strategy, "in %s", l->name);
        }
    }
    if (l->desc.kind == LAM_LAYER_CONV2D) {
        return lam__conv2d_fuse(l);
    }
    lam__linear_describe(l);
    return LAM_OK;
}

lam_status lam__layer_forward_fused(lam_layer *l, const float *x, float *y, int64_t n,
                                    int train)
{
    if (l->desc.kind == LAM_LAYER_CONV2D) {
        return lam__conv2d_forward_fused(l, x, y, n);
    }
    return lam__linear_forward_fused(l, x, y, n, train);
}

lam_status lam__layer_backward_fused(lam_layer *l, const float *x, const float *y, float *dy,
                                     float *dx, int64_t n)
{
    if (l->desc.kind == LAM_LAYER_CONV2D) {
        return lam__conv2d_backward_fused(l, x, y, dy, dx, n);
    }
    return lam__linear_backward_fused(l, x, y, dy, dx, n);
}
