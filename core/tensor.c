/* Tensors: float32, row-major, contiguous unless the caller says otherwise. Every size goes
 * through lam_shape_numel, which refuses products that overflow (the GGUF/TFLite bug class). */
#include "core_internal.h"

#include <string.h>

int lam__mul_i64(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0) {
        return 1;
    }
    if (a != 0 && b > INT64_MAX / a) {
        return 1;
    }
    *out = a * b;
    return 0;
}

int lam__add_i64(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0 || a > INT64_MAX - b) {
        return 1;
    }
    *out = a + b;
    return 0;
}

int64_t lam__sat_mul(int64_t a, int64_t b)
{
    int64_t r;
    return lam__mul_i64(a, b, &r) ? INT64_MAX : r;
}

int64_t lam__sat_add(int64_t a, int64_t b)
{
    int64_t r;
    return lam__add_i64(a, b, &r) ? INT64_MAX : r;
}

/* Whether x[0..n) is free of NaN and Inf: one multiply-add per element poisons a sum. Eight
 * independent sums so the loop vectorises without reassociation (one running sum was a
 * 4-cycle dependency chain per element: 0.4 ms per seed-CNN step). */
int lam__all_finite(const float *x, int64_t n)
{
    float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; j++) {
            acc[j] += x[i + j] * 0.0f;
        }
    }
    for (; i < n; i++) {
        acc[0] += x[i] * 0.0f;
    }
    float all = 0.0f;
    for (int j = 0; j < 8; j++) {
        all += acc[j];
    }
    return all == 0.0f;
}

lam_status lam_shape_numel(int ndim, const int64_t *shape, int64_t *out)
{
    if (shape == NULL || out == NULL || ndim < 1 || ndim > LAM_MAX_DIM) {
        return LAM_ERR_ARG;
    }
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            return LAM_ERR_ARG;
        }
        if (lam__mul_i64(n, shape[i], &n)) {
            return LAM_ERR_RANGE;
        }
    }
    if (n > INT64_MAX / (int64_t)sizeof(float)) {
        return LAM_ERR_RANGE;
    }
    *out = n;
    return LAM_OK;
}

static void set_contiguous(lam_tensor *t, int ndim, const int64_t *shape)
{
    t->ndim = ndim;
    for (int i = 0; i < LAM_MAX_DIM; i++) {
        t->shape[i] = i < ndim ? shape[i] : 1;
    }
    int64_t s = 1;
    for (int i = LAM_MAX_DIM - 1; i >= 0; i--) {
        t->stride[i] = s;
        s *= t->shape[i];
    }
}

lam_status lam_tensor_wrap(lam_tensor *t, float *data, int ndim, const int64_t *shape)
{
    int64_t n;
    if (t == NULL) {
        return LAM_ERR_ARG;
    }
    lam_status st = lam_shape_numel(ndim, shape, &n);
    if (st != LAM_OK) {
        return st;
    }
    if (data == NULL && n > 0) {
        return LAM_ERR_ARG;
    }
    memset(t, 0, sizeof *t);
    set_contiguous(t, ndim, shape);
    t->data = data;
    return LAM_OK;
}

lam_status lam_tensor_alloc(lam_ctx *ctx, lam_tensor *t, int ndim, const int64_t *shape)
{
    int64_t n;
    if (ctx == NULL || t == NULL) {
        return LAM_ERR_ARG;
    }
    lam_status st = lam_shape_numel(ndim, shape, &n);
    if (st != LAM_OK) {
        return lam__error(ctx, st, "tensor_alloc: bad shape");
    }
    float *data = NULL;
    if (n > 0) {
        data = lam__alloc_floats(ctx, n, "tensor_alloc");
        if (data == NULL) {
            return LAM_ERR_NOMEM;
        }
    }
    memset(t, 0, sizeof *t);
    set_contiguous(t, ndim, shape);
    t->data = data;
    t->flags = LAM_TENSOR_OWNED;
    return LAM_OK;
}

void lam_tensor_free(lam_ctx *ctx, lam_tensor *t)
{
    if (t == NULL) {
        return;
    }
    if (t->flags & LAM_TENSOR_OWNED) {
        lam_free(ctx, t->data);
    }
    memset(t, 0, sizeof *t);
}

int64_t lam_tensor_numel(const lam_tensor *t)
{
    if (t == NULL || t->ndim < 1 || t->ndim > LAM_MAX_DIM) {
        return 0;
    }
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        n *= t->shape[i];
    }
    return n;
}

int lam_tensor_is_contiguous(const lam_tensor *t)
{
    if (t == NULL || t->ndim < 1 || t->ndim > LAM_MAX_DIM) {
        return 0;
    }
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) {
            return 0;
        }
        s *= t->shape[i];
    }
    return 1;
}

int64_t lam_conv_out(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil)
{
    if (in <= 0 || k <= 0 || stride <= 0 || pad < 0 || dil <= 0) {
        return 0;
    }
    /* sizes come from user specs and files: products of 12-digit values overflow int64, and
     * a window or padding that large cannot give a usable output anyway */
    int64_t span, room;
    if (lam__mul_i64(dil, k - 1, &span) || lam__mul_i64(pad, 2, &room) ||
        lam__add_i64(in, room, &room)) {
        return 0;
    }
    room = room - span - 1; /* room, span >= 0: cannot overflow in this order */
    if (room < 0) {
        return 0;
    }
    return room / stride + 1;
}
