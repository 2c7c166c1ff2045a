/* The public layer calls: creation of standalone layers, argument and tensor checks, and
 * dispatch to the kind's ops through the registry. Kind-specific math lives in conv2d.c,
 * linear.c, act.c, pool.c, shape.c, norm.c and merge.c. */
#include "layer_internal.h"

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
    d->axis = -1;
    d->layers = 1;
    switch (kind) {
    case LAM_LAYER_LEAKY_RELU: d->alpha = 0.01f; break;
    case LAM_LAYER_DROPOUT: d->alpha = 0.5f; break;
    case LAM_LAYER_BATCHNORM:
        d->alpha = 1e-5f;
        d->momentum = 0.1f;
        break;
    case LAM_LAYER_LAYERNORM: d->alpha = 1e-5f; break;
    case LAM_LAYER_ATTENTION: d->heads = 1; break;
    default: break;
    }
}

lam_status lam_layer_create_inputs(lam_ctx *ctx, const lam_layer_desc *d, int n_in,
                                   const lam_shape *in, int64_t max_batch, uint64_t stream,
                                   lam_layer **out)
{
    lam_layer *l = NULL;
    lam_status st = lam__layer_setup(ctx, d, n_in, in, max_batch, stream, 0, NULL, &l);
    if (st != LAM_OK) {
        return st;
    }
    /* a standalone layer owns one block: weights, gradients, buffers */
    const int64_t np = lam__layer_param_floats(l), nb = lam__layer_buffer_floats(l);
    if (np + nb > 0) {
        l->own = lam__alloc_floats(ctx, 2 * np + nb, l->name);
        if (l->own == NULL) {
            lam__layer_free(l);
            return LAM_ERR_NOMEM;
        }
    }
    lam__layer_bind(l, l->own, l->own != NULL ? l->own + np : NULL,
                    l->own != NULL ? l->own + 2 * np : NULL);
    *out = l;
    return LAM_OK;
}

lam_status lam_layer_create(lam_ctx *ctx, const lam_layer_desc *d, int in_ndim,
                            const int64_t *in_shape, int64_t max_batch, uint64_t stream,
                            lam_layer **out)
{
    if (ctx == NULL || out == NULL) {
        return LAM_ERR_ARG;
    }
    if (in_shape == NULL || in_ndim < 1 || in_ndim > LAM_MAX_SAMPLE_DIM) {
        return lam__error(ctx, LAM_ERR_SHAPE, "layer 0 (%s): input must be (D), (T,D) or "
                          "(C,H,W), not %d-D", d != NULL ? lam__kind_name(d->kind) : "?",
                          in_ndim);
    }
    lam_shape s = {in_ndim, {1, 1, 1}};
    for (int i = 0; i < in_ndim; i++) {
        s.dim[i] = in_shape[i];
    }
    return lam_layer_create_inputs(ctx, d, 1, &s, max_batch, stream, out);
}

void lam_layer_destroy(lam_layer *l)
{
    if (l != NULL && !l->in_model) {
        lam__layer_free(l);
    }
}

lam_shape lam_layer_output_shape(const lam_layer *l)
{
    lam_shape none = {0, {0, 0, 0}};
    return l != NULL ? l->out : none;
}

void lam_layer_out_shape(const lam_layer *l, int *ndim, int64_t shape[3])
{
    lam_shape s = lam_layer_output_shape(l);
    *ndim = s.ndim;
    for (int i = 0; i < s.ndim; i++) {
        shape[i] = s.dim[i];
    }
}

int lam_layer_input_count(const lam_layer *l)
{
    return l != NULL ? l->n_in : 0;
}

const char *lam_layer_name(const lam_layer *l)
{
    return l != NULL ? l->name : "";
}

const char *lam_layer_kind_name(const lam_layer *l)
{
    return l != NULL ? l->kind->name : "";
}

/* The batch size of a (N, sample) tensor, or -1 if it is not that shape and contiguous
 * (-2: not contiguous). */
static int64_t batch_of(const lam_layer *l, const lam_tensor *t, const lam_shape *s,
                        const char *what, int which)
{
    char want[64], got[64], nm[48];
    if (which >= 0) {
        snprintf(nm, sizeof nm, "%s %d", what, which);
    } else {
        snprintf(nm, sizeof nm, "%s", what);
    }
    if (t == NULL || t->data == NULL) {
        lam__layer_error(l, LAM_ERR_ARG, "%s is NULL", nm);
        return -1;
    }
    int ok = t->ndim == s->ndim + 1;
    for (int i = 0; ok && i < s->ndim; i++) {
        ok = t->shape[i + 1] == s->dim[i];
    }
    if (!ok) {
        lam__shape_str(s->ndim, s->dim, want, sizeof want);
        lam__shape_str(t->ndim, t->shape, got, sizeof got);
        lam__layer_error(l, LAM_ERR_SHAPE, "%s is %s, expected Nx%s", nm, got, want);
        return -1;
    }
    if (!lam_tensor_is_contiguous(t)) {
        lam__layer_error(l, LAM_ERR_LAYOUT, "%s is not contiguous", nm);
        return -2;
    }
    return t->shape[0];
}

static lam_status batch_status(const lam_tensor *t, int64_t n)
{
    if (t == NULL || t->data == NULL) {
        return LAM_ERR_ARG;
    }
    return n == -2 ? LAM_ERR_LAYOUT : LAM_ERR_SHAPE;
}

/* Check the inputs (and, with dy, the output gradient) and return their common batch. */
static lam_status check_batch(lam_layer *l, int n_in, const lam_tensor *x, const lam_tensor *y,
                              const lam_tensor *dy, int64_t *n_out)
{
    if (n_in != l->n_in || x == NULL) {
        return lam__layer_error(l, LAM_ERR_ARG, "called with %d input%s, the layer has %d%s",
                                n_in, n_in == 1 ? "" : "s", l->n_in,
                                l->n_in > 1 && n_in == 1 ? " (use the *_inputs calls)" : "");
    }
    int64_t n = -1;
    for (int i = 0; i < n_in; i++) {
        int64_t b = batch_of(l, &x[i], &l->in[i], "input", n_in > 1 ? i : -1);
        if (b < 0) {
            return batch_status(&x[i], b);
        }
        if (n >= 0 && b != n) {
            return lam__layer_error(l, LAM_ERR_SHAPE, "inputs have batches %lld and %lld",
                                    (long long)n, (long long)b);
        }
        n = b;
    }
    const lam_tensor *outs[2] = {y, dy};
    const char *names[2] = {"output", "output gradient"};
    for (int k = 0; k < 2; k++) {
        if (k == 1 && dy == NULL) {
            break;
        }
        int64_t b = batch_of(l, outs[k], &l->out, names[k], -1);
        if (b < 0) {
            return batch_status(outs[k], b);
        }
        if (b != n) {
            return lam__layer_error(l, LAM_ERR_SHAPE, "batch %lld, %s batch %lld",
                                    (long long)n, names[k], (long long)b);
        }
    }
    if (n < 1 || n > l->max_batch) {
        return lam__layer_error(l, LAM_ERR_SHAPE, "batch %lld, max_batch %lld", (long long)n,
                                (long long)l->max_batch);
    }
    *n_out = n;
    return LAM_OK;
}

lam_status lam_layer_forward_inputs(lam_layer *l, int n_in, const lam_tensor *x, lam_tensor *y,
                                    int train)
{
    if (l == NULL) {
        return LAM_ERR_ARG;
    }
    int64_t n = 0;
    lam_status st = check_batch(l, n_in, x, y, NULL, &n);
    if (st != LAM_OK) {
        return st;
    }
    const float *xs[LAM_MAX_INPUTS];
    for (int i = 0; i < n_in; i++) {
        xs[i] = x[i].data;
    }
    st = l->kind->forward(l, xs, y->data, n, train);
    l->last_train_n = st == LAM_OK && train ? n : 0;
    return st;
}

lam_status lam_layer_forward(lam_layer *l, const lam_tensor *x, lam_tensor *y, int train)
{
    return lam_layer_forward_inputs(l, 1, x, y, train);
}

lam_status lam_layer_backward_inputs(lam_layer *l, int n_in, const lam_tensor *x,
                                     const lam_tensor *y, const lam_tensor *dy, lam_tensor *dx)
{
    if (l == NULL) {
        return LAM_ERR_ARG;
    }
    int64_t n = 0;
    lam_status st = check_batch(l, n_in, x, y, dy, &n);
    if (st != LAM_OK) {
        return st;
    }
    const float *xs[LAM_MAX_INPUTS];
    float *dxs[LAM_MAX_INPUTS];
    for (int i = 0; i < n_in; i++) {
        xs[i] = x[i].data;
        dxs[i] = NULL;
        if (dx != NULL && dx[i].data != NULL) {
            int64_t b = batch_of(l, &dx[i], &l->in[i], "input gradient", n_in > 1 ? i : -1);
            if (b < 0) {
                return batch_status(&dx[i], b);
            }
            if (b != n) {
                return lam__layer_error(l, LAM_ERR_SHAPE, "batch sizes differ");
            }
            dxs[i] = dx[i].data;
        }
    }
    if (l->last_train_n != n) {
        return lam__layer_error(l, LAM_ERR_STATE,
                                "backward of batch %lld needs a forward(train=1) on it first",
                                (long long)n);
    }
    return l->kind->backward(l, xs, y->data, dy->data, dxs, 0, n);
}

lam_status lam_layer_backward(lam_layer *l, const lam_tensor *x, const lam_tensor *y,
                              const lam_tensor *dy, lam_tensor *dx)
{
    return lam_layer_backward_inputs(l, 1, x, y, dy, dx);
}

lam_status lam_layer_params(lam_layer *l, lam_param *out, int *count)
{
    if (l == NULL || count == NULL) {
        return LAM_ERR_ARG;
    }
    if (out != NULL) {
        int n = *count < l->n_params ? *count : l->n_params;
        for (int i = 0; i < n; i++) {
            out[i] = *lam__param(l, i);
        }
    }
    *count = l->n_params;
    return LAM_OK;
}

void lam_layer_zero_grad(lam_layer *l)
{
    for (int i = 0; l != NULL && i < l->n_params; i++) {
        const lam_param *p = lam__param(l, i);
        if (p->g != NULL) {
            memset(p->g, 0, (size_t)p->n * sizeof(float));
        }
    }
}

int64_t lam_layer_param_count(const lam_layer *l)
{
    return l != NULL ? lam__layer_param_floats(l) : 0;
}

int64_t lam_layer_flops(const lam_layer *l)
{
    return l != NULL ? l->flops : 0;
}

const char *lam_layer_strategy(const lam_layer *l)
{
    return l != NULL ? l->strategy : "";
}
