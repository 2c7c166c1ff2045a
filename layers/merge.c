/* Layers of several inputs: add (the ResNet shortcut: the elementwise sum of 2..8 inputs of
 * one shape), concat (2..8 inputs joined along one sample dimension) and mul (the elementwise
 * product of two inputs, for gates). Sums run over the inputs in their order, so a result
 * never depends on the thread count. Each honours the accumulate mask: a model that feeds an
 * input's gradient from several consumers lets these add into it directly. */
#include "layer_internal.h"

#include <stdio.h>
#include <string.h>

/* dst = src, or dst += src when accumulate is set (dst == src: nothing to do). */
static void put(const lam_layer *l, float *dst, const float *src, int64_t count,
                int accumulate)
{
    if (dst == src) {
        return;
    }
    if (accumulate) {
        lam__add_arrays(lam_ctx_threads(l->ctx), dst, dst, src, count);
    } else {
        memcpy(dst, src, (size_t)count * sizeof(float));
    }
}

static lam_status same_shapes(lam_layer *l)
{
    char a[48], b[48];
    for (int j = 1; j < l->n_in; j++) {
        if (!lam__shape_eq(&l->in[j], &l->in[0])) {
            return lam__layer_error(l, LAM_ERR_SHAPE, "input %d is %s but input 0 is %s", j,
                                    lam__shape_str(l->in[j].ndim, l->in[j].dim, a, sizeof a),
                                    lam__shape_str(l->in[0].ndim, l->in[0].dim, b, sizeof b));
        }
    }
    l->out = l->in[0];
    return LAM_OK;
}

static unsigned reads_nothing(const lam_layer *l)
{
    (void)l;
    return 0;
}

/* -------------------------------------------------------------------- add */

static lam_status add_setup(lam_layer *l)
{
    l->flops = (l->n_in - 1) * l->in_numel[0];
    return same_shapes(l);
}

static lam_status add_forward(lam_layer *l, const float *const *x, float *y, int64_t n,
                              int train)
{
    (void)train;
    const int64_t count = n * l->in_numel[0];
    /* y may be x[0] (in place): x[0] is read before y is written, element by element */
    if (l->n_in == 2) {
        /* the shortcut's case: a vectorised loop, in parallel blocks when large */
        lam__add_arrays(lam_ctx_threads(l->ctx), y, x[0], x[1], count);
        return LAM_OK;
    }
    for (int64_t i = 0; i < count; i++) {
        float s = x[0][i];
        for (int j = 1; j < l->n_in; j++) {
            s += x[j][i];
        }
        y[i] = s;
    }
    return LAM_OK;
}

static lam_status add_backward(lam_layer *l, const float *const *x, const float *y,
                               const float *dy, float *const *dx, unsigned acc, int64_t n)
{
    (void)x;
    (void)y;
    for (int j = 0; j < l->n_in; j++) {
        if (dx[j] != NULL) {
            put(l, dx[j], dy, n * l->in_numel[0], (acc >> j) & 1u);
        }
    }
    return LAM_OK;
}

const lam_kind lam__kind_add = {
    .id = LAM_LAYER_ADD,
    .name = "add",
    .min_in = 2,
    .max_in = LAM_MAX_INPUTS,
    .flags = LAM_KIND_IN_PLACE | LAM_KIND_ACCUMULATES | LAM_KIND_PASSES_DY,
    .setup = add_setup,
    .forward = add_forward,
    .backward = add_backward,
    .reads = reads_nothing,
};

/* -------------------------------------------------------------------- mul */

static lam_status mul_setup(lam_layer *l)
{
    l->flops = l->in_numel[0];
    return same_shapes(l);
}

static lam_status mul_forward(lam_layer *l, const float *const *x, float *y, int64_t n,
                              int train)
{
    (void)train;
    const int64_t count = n * l->in_numel[0];
    for (int64_t i = 0; i < count; i++) {
        y[i] = x[0][i] * x[1][i];
    }
    return LAM_OK;
}

/* d a = dy * b, d b = dy * a */
static lam_status mul_backward(lam_layer *l, const float *const *x, const float *y,
                               const float *dy, float *const *dx, unsigned acc, int64_t n)
{
    (void)y;
    const int64_t count = n * l->in_numel[0];
    for (int j = 0; j < 2; j++) {
        float *d = dx[j];
        const float *other = x[1 - j];
        if (d == NULL) {
            continue;
        }
        if ((acc >> j) & 1u) {
            for (int64_t i = 0; i < count; i++) {
                d[i] += dy[i] * other[i];
            }
        } else {
            for (int64_t i = 0; i < count; i++) {
                d[i] = dy[i] * other[i];
            }
        }
    }
    return LAM_OK;
}

static unsigned mul_reads(const lam_layer *l)
{
    (void)l;
    return LAM_READS_X(0) | LAM_READS_X(1);
}

const lam_kind lam__kind_mul = {
    .id = LAM_LAYER_MUL,
    .name = "mul",
    .min_in = 2,
    .max_in = 2,
    .flags = LAM_KIND_ACCUMULATES,
    .setup = mul_setup,
    .forward = mul_forward,
    .backward = mul_backward,
    .reads = mul_reads,
};

/* ----------------------------------------------------------------- concat */

/* A sample is outer blocks of (dim[axis] * inner) floats per input. */
typedef struct concat_state {
    int64_t outer, inner;
    int64_t len[LAM_MAX_INPUTS]; /* input j's dim[axis] * inner */
    int64_t out_len;
} concat_state;

static lam_status concat_setup(lam_layer *l)
{
    const lam_shape *s0 = &l->in[0];
    int axis = l->desc.axis < 0 ? (s0->ndim == 3 ? 0 : s0->ndim - 1) : l->desc.axis;
    if (axis >= s0->ndim) {
        return lam__layer_error(l, LAM_ERR_ARG, "axis %d but the inputs have %d dimensions",
                                l->desc.axis, s0->ndim);
    }
    l->out = *s0;
    for (int j = 1; j < l->n_in; j++) {
        const lam_shape *s = &l->in[j];
        int ok = s->ndim == s0->ndim;
        for (int i = 0; ok && i < s0->ndim; i++) {
            ok = i == axis || s->dim[i] == s0->dim[i];
        }
        if (!ok) {
            char a[48], b[48];
            return lam__layer_error(l, LAM_ERR_SHAPE, "input %d is %s, input 0 is %s: only "
                                    "dimension %d may differ", j,
                                    lam__shape_str(s->ndim, s->dim, a, sizeof a),
                                    lam__shape_str(s0->ndim, s0->dim, b, sizeof b), axis);
        }
        l->out.dim[axis] += s->dim[axis];
    }
    concat_state *st = lam__layer_state(l, sizeof *st);
    if (st == NULL) {
        return LAM_ERR_NOMEM;
    }
    st->outer = 1;
    st->inner = 1;
    for (int i = 0; i < axis; i++) {
        st->outer *= s0->dim[i];
    }
    for (int i = axis + 1; i < s0->ndim; i++) {
        st->inner *= s0->dim[i];
    }
    for (int j = 0; j < l->n_in; j++) {
        st->len[j] = l->in[j].dim[axis] * st->inner;
        st->out_len += st->len[j];
    }
    return LAM_OK;
}

static lam_status concat_forward(lam_layer *l, const float *const *x, float *y, int64_t n,
                                 int train)
{
    (void)train;
    const concat_state *s = l->state;
    for (int64_t b = 0; b < n * s->outer; b++) {
        float *dst = y + b * s->out_len;
        for (int j = 0; j < l->n_in; j++) {
            memcpy(dst, x[j] + b * s->len[j], (size_t)s->len[j] * sizeof(float));
            dst += s->len[j];
        }
    }
    return LAM_OK;
}

static lam_status concat_backward(lam_layer *l, const float *const *x, const float *y,
                                  const float *dy, float *const *dx, unsigned acc, int64_t n)
{
    (void)x;
    (void)y;
    const concat_state *s = l->state;
    for (int64_t b = 0; b < n * s->outer; b++) {
        const float *src = dy + b * s->out_len;
        for (int j = 0; j < l->n_in; j++) {
            if (dx[j] != NULL) {
                put(l, dx[j] + b * s->len[j], src, s->len[j], (acc >> j) & 1u);
            }
            src += s->len[j];
        }
    }
    return LAM_OK;
}

const lam_kind lam__kind_concat = {
    .id = LAM_LAYER_CONCAT,
    .name = "concat",
    .min_in = 2,
    .max_in = LAM_MAX_INPUTS,
    .flags = LAM_KIND_ACCUMULATES,
    .setup = concat_setup,
    .forward = concat_forward,
    .backward = concat_backward,
    .reads = reads_nothing,
};
