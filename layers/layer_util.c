/* What every layer kind shares: setting a layer up from its descriptor, the named list of
 * parameter and buffer tensors and how their storage is bound, PyTorch's default
 * initialisation, error messages and shape helpers. The kinds call into this file; the
 * public dispatcher (layer.c) calls the kinds through the registry. */
#include "layer_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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

lam_status lam__shape_numel(const lam_shape *s, int64_t *n)
{
    if (s->ndim < 1 || s->ndim > LAM_MAX_SAMPLE_DIM) {
        return LAM_ERR_ARG;
    }
    return lam_shape_numel(s->ndim, s->dim, n);
}

int lam__shape_eq(const lam_shape *a, const lam_shape *b)
{
    if (a->ndim != b->ndim) {
        return 0;
    }
    for (int i = 0; i < a->ndim; i++) {
        if (a->dim[i] != b->dim[i]) {
            return 0;
        }
    }
    return 1;
}

const char *lam__layer_label(const lam_layer *l, char *buf, size_t size)
{
    if (l->user_named) {
        snprintf(buf, size, "layer %d (%s %s)", l->index, l->kind->name, l->name);
    } else {
        snprintf(buf, size, "layer %d (%s)", l->index, l->kind->name);
    }
    return buf;
}

lam_status lam__layer_error(const lam_layer *l, lam_status st, const char *fmt, ...)
{
    char detail[200], label[LAM_NAME_MAX + 40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return lam__error(l->ctx, st, "%s: %s", lam__layer_label(l, label, sizeof label), detail);
}

lam_status lam__layer_tensor(lam_layer *l, const char *suffix, int buffer, int ndim,
                             const int64_t *shape, int64_t fan_in, int64_t fan_out,
                             int is_bias)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (lam__mul_i64(n, shape[i], &n)) {
            return lam__layer_error(l, LAM_ERR_RANGE, "tensor %s too large", suffix);
        }
    }
    if (n < 1 || n > INT64_MAX / 8) {
        return lam__layer_error(l, LAM_ERR_RANGE, "tensor %s has %lld elements", suffix,
                                (long long)n);
    }
    /* parameters stay in front of the buffers: a buffer is declared after the parameters */
    if (!buffer && l->n_buffers > 0) {
        return lam__layer_error(l, LAM_ERR_ARG, "parameter %s declared after a buffer", suffix);
    }
    if (l->n_params + l->n_buffers == l->cap_tensors) {
        int cap = l->cap_tensors ? 2 * l->cap_tensors : 4;
        lam_ptensor *t = lam_alloc(l->ctx, (size_t)cap * sizeof *t);
        if (t == NULL) {
            return LAM_ERR_NOMEM;
        }
        if (l->tensors != NULL) {
            memcpy(t, l->tensors, (size_t)l->cap_tensors * sizeof *t);
        }
        lam_free(l->ctx, l->tensors);
        l->tensors = t;
        l->cap_tensors = cap;
    }
    lam_ptensor *t = &l->tensors[l->n_params + l->n_buffers];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s.%s", l->name, suffix);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
    }
    t->buffer = buffer;
    t->view.n = n;
    t->view.fan_in = fan_in;
    t->view.fan_out = fan_out;
    t->view.is_bias = is_bias;
    if (buffer) {
        l->n_buffers++;
    } else {
        l->n_params++;
    }
    return LAM_OK;
}

void *lam__layer_state(lam_layer *l, size_t bytes)
{
    l->state = lam_alloc(l->ctx, bytes);
    if (l->state != NULL) {
        memset(l->state, 0, bytes);
    }
    return l->state;
}

float *lam__layer_scratch(lam_layer *l, int64_t n)
{
    float *p = lam__alloc_floats(l->ctx, n, l->name);
    if (p != NULL) {
        l->ws_bytes += n * (int64_t)sizeof(float);
    }
    return p;
}

int64_t lam__layer_param_floats(const lam_layer *l)
{
    int64_t n = 0;
    for (int i = 0; i < l->n_params; i++) {
        n += l->tensors[i].tied == NULL ? l->tensors[i].view.n : 0;
    }
    return n;
}

lam_status lam__layer_tie(lam_layer *l, const lam_layer *target)
{
    const lam_ptensor *a = l->n_params > 0 ? &l->tensors[0] : NULL;
    const lam_ptensor *b = target->n_params > 0 ? &target->tensors[0] : NULL;
    char sa[48] = "none", sb[48] = "none";
    const int named = a != NULL && b != NULL && strcmp(strrchr(a->name, '.'), ".weight") == 0 &&
                      strcmp(strrchr(b->name, '.'), ".weight") == 0;
    int same = named && a->ndim == b->ndim;
    for (int i = 0; same && i < a->ndim; i++) {
        same = a->shape[i] == b->shape[i];
    }
    if (!same) {
        if (a != NULL) {
            lam__shape_str(a->ndim, a->shape, sa, sizeof sa);
        }
        if (b != NULL) {
            lam__shape_str(b->ndim, b->shape, sb, sizeof sb);
        }
        return lam__layer_error(l, LAM_ERR_SHAPE, "tie=%s: its weight is %s but %s's is %s "
                                "(a tied linear layer's out must be the embedding's "
                                "vocabulary, its input the embedding's width)",
                                target->name, sa, target->name, sb);
    }
    l->tensors[0].tied = b;
    return LAM_OK;
}

int64_t lam__layer_buffer_floats(const lam_layer *l)
{
    int64_t n = 0;
    for (int i = 0; i < l->n_buffers; i++) {
        n += l->tensors[l->n_params + i].view.n;
    }
    return n;
}

lam_status lam__layer_bind(lam_layer *l, float *w, float *g, float *buf)
{
    int64_t off = 0;
    for (int i = 0; i < l->n_params; i++) {
        lam_param *p = lam__param(l, i);
        const lam_ptensor *tied = l->tensors[i].tied;
        p->name = l->tensors[i].name;
        if (tied != NULL) {
            p->w = tied->view.w;
            p->g = tied->view.g;
            continue;
        }
        p->w = w + off;
        p->g = g != NULL ? g + off : NULL;
        off += p->n;
    }
    off = 0;
    for (int i = 0; i < l->n_buffers; i++) {
        lam_param *p = lam__buffer(l, i);
        /* a buffer's view is named by its suffix alone ("running_mean"), as before */
        p->name = strrchr(l->tensors[l->n_params + i].name, '.') + 1;
        p->w = buf + off;
        p->g = NULL;
        off += p->n;
    }
    if (l->kind->init != NULL) {
        l->kind->init(l);
    }
    return LAM_OK;
}

int lam__gemm_outside(const lam_ctx *ctx)
{
    if (ctx->gemm_strategy != 0) {
        return ctx->gemm_strategy == 1;
    }
    return lam__blas_parallel_kind() == 1;
}

void lam__layer_init_uniform(lam_layer *l)
{
    uint64_t seed = lam_ctx_seed(l->ctx);
    for (int i = 0; i < l->n_params; i++) {
        lam_param *p = lam__param(l, i);
        float bound = p->fan_in > 0 ? 1.0f / sqrtf((float)p->fan_in) : 0.0f;
        /* each tensor draws from its own stream: 2*layer stream + tensor index */
        uint64_t stream = l->stream * 2 + (uint64_t)i;
        for (int64_t j = 0; j < p->n; j++) {
            p->w[j] = bound * (2.0f * lam_rng_uniform(seed, stream, (uint64_t)j) - 1.0f);
        }
    }
}

void lam__layer_init_std(lam_layer *l, int i0, int i1, float std)
{
    const uint64_t seed = lam_ctx_seed(l->ctx);
    for (int i = i0; i < i1; i++) {
        lam_param *p = lam__param(l, i);
        const uint64_t stream = l->stream * 2 + (uint64_t)i;
        for (int64_t j = 0; j < p->n; j++) {
            p->w[j] = p->is_bias ? 0.0f : std * lam_rng_normal(seed, stream, (uint64_t)j);
        }
    }
}

void lam__layer_init_default(lam_layer *l)
{
    if (l->desc.init_std > 0.0f) {
        lam__layer_init_std(l, 0, l->n_params, l->desc.init_std);
    } else {
        lam__layer_init_uniform(l);
    }
}

static lam_status check_inputs(lam_ctx *ctx, const lam_kind *k, int n_in, const lam_shape *in,
                               int index, int64_t max_batch, int64_t *numel)
{
    if (n_in < k->min_in || n_in > k->max_in || in == NULL) {
        if (k->min_in == k->max_in) {
            return lam__error(ctx, LAM_ERR_ARG, "layer %d (%s): takes %d input%s, not %d",
                              index, k->name, k->min_in, k->min_in > 1 ? "s" : "", n_in);
        }
        return lam__error(ctx, LAM_ERR_ARG, "layer %d (%s): takes %d to %d inputs, not %d",
                          index, k->name, k->min_in, k->max_in, n_in);
    }
    for (int j = 0; j < n_in; j++) {
        if (in[j].ndim < 1 || in[j].ndim > LAM_MAX_SAMPLE_DIM) {
            return lam__error(ctx, LAM_ERR_SHAPE, "layer %d (%s): input %d has %d dimensions; "
                              "a sample is (D), (T,D) or (C,H,W)", index, k->name, j,
                              in[j].ndim);
        }
        for (int i = 0; i < in[j].ndim; i++) {
            if (in[j].dim[i] < 1) {
                return lam__error(ctx, LAM_ERR_SHAPE, "layer %d (%s): input %d dimension %d "
                                  "is %lld", index, k->name, j, i, (long long)in[j].dim[i]);
            }
        }
        if (lam__shape_numel(&in[j], &numel[j]) != LAM_OK ||
            lam__mul_i64(numel[j], max_batch, &(int64_t){0})) {
            return lam__error(ctx, LAM_ERR_RANGE, "layer %d (%s): input too large", index,
                              k->name);
        }
    }
    return LAM_OK;
}

lam_status lam__layer_setup(lam_ctx *ctx, const lam_layer_desc *d, int n_in,
                            const lam_shape *in, int64_t max_batch, uint64_t stream, int index,
                            const char *name, lam_layer **out)
{
    if (ctx == NULL || out == NULL) {
        return LAM_ERR_ARG;
    }
    const lam_kind *k = d != NULL ? lam__kind_of(d->kind) : NULL;
    if (k == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "layer %d: unknown layer kind", index);
    }
    if (!lam__reserved_zero(d->reserved, (int)(sizeof d->reserved / sizeof d->reserved[0]))) {
        return lam__error(ctx, LAM_ERR_ARG, "layer %d (%s): reserved descriptor words are not "
                          "zero (use lam_layer_desc_init)", index, k->name);
    }
    if (max_batch < 1 || max_batch > (INT64_C(1) << 31)) {
        return lam__error(ctx, LAM_ERR_ARG, "layer %d (%s): max_batch %lld out of range", index,
                          k->name, (long long)max_batch);
    }
    int64_t numel[LAM_MAX_INPUTS];
    lam_status st = check_inputs(ctx, k, n_in, in, index, max_batch, numel);
    if (st != LAM_OK) {
        return st;
    }
    lam_layer *l = lam_alloc(ctx, sizeof *l);
    if (l == NULL) {
        return LAM_ERR_NOMEM;
    }
    memset(l, 0, sizeof *l);
    l->kind = k;
    l->ctx = ctx;
    l->k = lam__kernels_for(ctx->cfg.kernels);
    l->desc = *d;
    l->index = index;
    l->user_named = name != NULL && name[0] != '\0';
    if (l->user_named) {
        snprintf(l->name, sizeof l->name, "%s", name);
    } else {
        snprintf(l->name, sizeof l->name, "%s#%d", k->name, index);
    }
    l->n_in = n_in;
    for (int j = 0; j < n_in; j++) {
        l->in[j] = in[j];
        l->in_numel[j] = numel[j];
    }
    l->max_batch = max_batch;
    l->stream = stream;
    st = k->setup(l);
    if (st == LAM_OK) {
        int64_t on;
        if (lam__shape_numel(&l->out, &on) != LAM_OK ||
            lam__mul_i64(on, max_batch, &(int64_t){0})) {
            st = lam__layer_error(l, LAM_ERR_RANGE, "output too large");
        } else {
            l->out_numel = on;
        }
    }
    if (st != LAM_OK) {
        lam__layer_free(l);
        return st;
    }
    *out = l;
    return LAM_OK;
}

void lam__layer_free(lam_layer *l)
{
    if (l == NULL) {
        return;
    }
    lam_ctx *ctx = l->ctx;
    if (l->kind->destroy != NULL) {
        l->kind->destroy(l);
    }
    lam_free(ctx, l->state);
    lam_free(ctx, l->tensors);
    lam_free(ctx, l->own);
    lam_free(ctx, l);
}
