/* How many floats of parameters and buffers a spec needs on an input, found by the layers'
 * shape rules alone, without building anything: a checkpoint's spec is checked against the
 * tensors its file holds before any model (sized by the spec alone) is allocated, so a
 * 200-byte file cannot make lamina allocate gigabytes. */
#include "model_internal.h"

/* The output shape of one node and its floats of parameters and buffers; 0 when the node
 * does not fit its inputs (lam_model_create then says why). */
static int node_size(const lam_layer_desc *d, const lam_shape *in, int n_in, lam_shape *out,
                     int64_t *floats)
{
    const lam_shape *s = &in[0];
    const int64_t lim = INT64_C(1) << 30; /* lam_conv_out() cannot overflow below this */
    *out = *s;
    *floats = 0;
    switch (d->kind) {
    case LAM_LAYER_CONV2D:
    case LAM_LAYER_MAXPOOL:
    case LAM_LAYER_AVGPOOL: {
        const int pool = d->kind != LAM_LAYER_CONV2D;
        const int64_t sh = d->sh ? d->sh : pool ? d->kh : 1, sw = d->sw ? d->sw : pool ? d->kw : 1;
        const int64_t dh = pool ? 1 : d->dh, dw = pool ? 1 : d->dw;
        if (s->ndim != 3 || d->kh > lim || d->kw > lim || dh > lim || dw > lim || d->ph > lim ||
            d->pw > lim || s->dim[1] > lim || s->dim[2] > lim) {
            return 0;
        }
        const int64_t oh = lam_conv_out(s->dim[1], d->kh, sh, d->ph, dh);
        const int64_t ow = lam_conv_out(s->dim[2], d->kw, sw, d->pw, dw);
        if (oh < 1 || ow < 1 || (!pool && (d->groups < 1 || s->dim[0] % d->groups != 0))) {
            return 0;
        }
        if (!pool) {
            const int64_t k = lam__sat_mul(s->dim[0] / d->groups, lam__sat_mul(d->kh, d->kw));
            *floats = lam__sat_add(lam__sat_mul(d->out, k), d->bias ? d->out : 0);
            out->dim[0] = d->out;
        }
        out->dim[1] = oh;
        out->dim[2] = ow;
        return 1;
    }
    case LAM_LAYER_LINEAR: {
        if (s->ndim == 3) {
            return 0;
        }
        const int64_t last = s->dim[s->ndim - 1];
        *floats = lam__sat_add(lam__sat_mul(d->out, last), d->bias ? d->out : 0);
        out->dim[s->ndim - 1] = d->out;
        return 1;
    }
    case LAM_LAYER_FLATTEN:
        *out = (lam_shape){1, {lam__sat_mul(s->dim[0], lam__sat_mul(s->ndim > 1 ? s->dim[1] : 1,
                                                          s->ndim > 2 ? s->dim[2] : 1)),
                               1, 1}};
        return 1;
    case LAM_LAYER_GLOBAL_AVGPOOL:
        *out = (lam_shape){1, {s->dim[0], 1, 1}};
        return s->ndim >= 2;
    case LAM_LAYER_BATCHNORM:
        *floats = lam__sat_mul(4, s->dim[0]); /* gamma, beta, running mean and var */
        return 1;
    case LAM_LAYER_CONCAT: {
        const int axis = d->axis < 0 ? (s->ndim == 3 ? 0 : s->ndim - 1) : d->axis;
        if (axis >= s->ndim) {
            return 0;
        }
        for (int k = 1; k < n_in; k++) {
            out->dim[axis] = lam__sat_add(out->dim[axis], in[k].dim[axis]);
        }
        return 1;
    }
    case LAM_LAYER_EMBEDDING:
        if (s->ndim > 2) {
            return 0;
        }
        *floats = lam__sat_mul(d->vocab, d->out);
        out->dim[s->ndim] = d->out;
        out->ndim = s->ndim + 1;
        return 1;
    case LAM_LAYER_RNN:
    case LAM_LAYER_LSTM:
    case LAM_LAYER_GRU: {
        if (s->ndim != 2 || d->layers > LAM_RNN_MAX_LAYERS) {
            return 0;
        }
        const int64_t dirs = d->bidirectional ? 2 : 1, layers = d->layers > 0 ? d->layers : 1;
        const int64_t gh = lam__sat_mul(lam__cell_gates(lam__cell_of(d)), d->out);
        for (int64_t l = 0; l < layers; l++) {
            const int64_t width = l == 0 ? s->dim[1] : lam__sat_mul(dirs, d->out);
            int64_t one = lam__sat_mul(gh, lam__sat_add(width, d->out));
            one = lam__sat_add(one, d->bias ? lam__sat_mul(2, gh) : 0);
            *floats = lam__sat_add(*floats, lam__sat_mul(dirs, one));
        }
        if (d->last_only) {
            *out = (lam_shape){1, {lam__sat_mul(dirs, d->out), 1, 1}};
        } else {
            out->dim[1] = lam__sat_mul(dirs, d->out);
        }
        return 1;
    }
    case LAM_LAYER_LAYERNORM:
        *floats = lam__sat_mul(2, s->dim[s->ndim - 1]);
        return 1;
    case LAM_LAYER_POSEMBED:
        *floats = lam__sat_mul(d->out, s->dim[s->ndim - 1]);
        return s->ndim == 2 && s->dim[0] <= d->out;
    case LAM_LAYER_ATTENTION: {
        const int64_t D = s->dim[s->ndim - 1];
        /* c_attn (3D, D) and c_proj (D, D), with their biases */
        *floats = lam__sat_add(lam__sat_mul(4 * D, D), d->bias ? 4 * D : 0);
        return s->ndim == 2 && D < lim && d->heads > 0 && D % d->heads == 0;
    }
    default:
        return 1;
    }
}

lam_status lam__spec_param_floats(lam_ctx *ctx, const char *spec, int ndim,
                                  const int64_t *shape, int64_t n_out, int64_t *floats)
{
    *floats = -1;
    if (ndim < 1 || ndim > LAM_MAX_SAMPLE_DIM) {
        return LAM_OK;
    }
    const char *builtin = lam_model_builtin_spec(spec);
    lam_spec_node *nodes = NULL;
    lam_shape *shapes = NULL;
    int count = 0;
    lam_status st = lam__spec_parse(ctx, builtin != NULL ? builtin : spec, n_out, &nodes, &count);
    if (st == LAM_OK && (shapes = lam_alloc(ctx, (size_t)count * sizeof *shapes)) == NULL) {
        st = LAM_ERR_NOMEM;
    }
    if (st == LAM_OK) {
        lam_shape input = {ndim, {shape[0], ndim > 1 ? shape[1] : 1, ndim > 2 ? shape[2] : 1}};
        int64_t total = 0;
        int ok = 1;
        for (int i = 0; ok && i < count; i++) {
            lam_shape in[LAM_MAX_INPUTS];
            for (int k = 0; k < nodes[i].n_in; k++) {
                in[k] = nodes[i].in[k] < 0 ? input : shapes[nodes[i].in[k]];
            }
            int64_t f = 0;
            ok = node_size(&nodes[i].desc, in, nodes[i].n_in, &shapes[i], &f);
            if (nodes[i].tie >= 0) {
                /* the shared weight (V, D) is its owner's: only the bias is this node's */
                f = nodes[i].desc.bias ? nodes[i].desc.out : 0;
            }
            total = lam__sat_add(total, f);
        }
        *floats = ok ? total : -1;
    }
    lam_free(ctx, shapes);
    lam_free(ctx, nodes);
    return st == LAM_ERR_NOMEM ? st : LAM_OK;
}
