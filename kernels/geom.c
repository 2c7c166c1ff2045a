/*
 * Convolution and pooling geometry, and the GEMM/SYRK argument checks: validation and
 * output sizes. The fast kernels and their naive twins validate with the same functions, so
 * both refuse exactly the same calls with the same statuses.
 *
 *   OH = (H + 2*PH - DH*(KH-1) - 1) / SH + 1        (lam_conv_out, the one formula)
 *
 * Kernels return void and trust a geometry that passed these checks, so everything a
 * kernel can trip on is refused here: non-positive sizes and empty outputs (SHAPE), bad
 * strides/padding/dilation/groups (ARG), and any product that overflows int64 or any
 * matrix that reaches BLAS with more than INT_MAX rows, columns or elements (RANGE).
 */
#include <limits.h>

#include "core_internal.h"
#include "kernels.h"

/* a * b into *out, and refuse results that do not fit a float buffer's byte count. */
static int mul_ok(int64_t a, int64_t b, int64_t *out)
{
    return !lam__mul_i64(a, b, out) && *out <= INT64_MAX / (int64_t)sizeof(float);
}

static int mul3_ok(int64_t a, int64_t b, int64_t c, int64_t *out)
{
    int64_t t;
    return mul_ok(a, b, &t) && mul_ok(t, c, out);
}

static int mul4_ok(int64_t a, int64_t b, int64_t c, int64_t d, int64_t *out)
{
    int64_t t;
    return mul_ok(a, b, &t) && mul3_ok(t, c, d, out);
}

/* Output size of one axis with every intermediate of lam_conv_out checked first. */
static lam_status axis_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d,
                           int64_t *out)
{
    int64_t span, padded;
    if (lam__mul_i64(d, k - 1, &span) || lam__add_i64(span, 1, &span) ||
        lam__mul_i64(p, 2, &padded) || lam__add_i64(padded, in, &padded)) {
        return LAM_ERR_RANGE;
    }
    int64_t o = lam_conv_out(in, k, s, p, d);
    if (o < 1) {
        return LAM_ERR_SHAPE;
    }
    *out = o;
    return LAM_OK;
}

lam_status lam__conv_geom_init(lam_conv_geom *g)
{
    if (g == NULL) {
        return LAM_ERR_ARG;
    }
    if (g->n < 1 || g->c_in < 1 || g->h < 1 || g->w < 1 || g->c_out < 1 || g->kh < 1 ||
        g->kw < 1) {
        return LAM_ERR_SHAPE;
    }
    if (g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1 || g->ph < 0 || g->pw < 0 ||
        g->groups < 1) {
        return LAM_ERR_ARG;
    }
    if (g->c_in % g->groups != 0 || g->c_out % g->groups != 0) {
        return LAM_ERR_SHAPE;
    }
    int64_t oh, ow;
    lam_status st = axis_out(g->h, g->kh, g->sh, g->ph, g->dh, &oh);
    if (st == LAM_OK) {
        st = axis_out(g->w, g->kw, g->sw, g->pw, g->dw, &ow);
    }
    if (st != LAM_OK) {
        return st;
    }
    int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    int64_t x_n, y_n, w_n, kk, p, col, wg, yg;
    if (!mul4_ok(g->n, g->c_in, g->h, g->w, &x_n) || !mul4_ok(g->n, g->c_out, oh, ow, &y_n) ||
        !mul4_ok(g->c_out, cig, g->kh, g->kw, &w_n) || !mul3_ok(cig, g->kh, g->kw, &kk) ||
        !mul_ok(oh, ow, &p) || !mul_ok(kk, p, &col) || !mul_ok(cog, kk, &wg) ||
        !mul_ok(cog, p, &yg)) {
        return LAM_ERR_RANGE;
    }
    /* Each per-image, per-group GEMM operand must fit BLAS's int, element count included
     * (reference BLAS computes offsets in int). */
    if (col > INT_MAX || wg > INT_MAX || yg > INT_MAX) {
        return LAM_ERR_RANGE;
    }
    g->oh = oh;
    g->ow = ow;
    return LAM_OK;
}

lam_status lam__pool_geom_init(lam_pool_geom *g)
{
    if (g == NULL) {
        return LAM_ERR_ARG;
    }
    if (g->n < 1 || g->c < 1 || g->h < 1 || g->w < 1 || g->kh < 1 || g->kw < 1) {
        return LAM_ERR_SHAPE;
    }
    /* PyTorch's rule pad <= kernel/2 guarantees every window holds a real element, so a
     * max always exists and padding never wins. */
    if (g->sh < 1 || g->sw < 1 || g->ph < 0 || g->pw < 0 || g->ph > g->kh / 2 ||
        g->pw > g->kw / 2) {
        return LAM_ERR_ARG;
    }
    int64_t oh, ow;
    lam_status st = axis_out(g->h, g->kh, g->sh, g->ph, 1, &oh);
    if (st == LAM_OK) {
        st = axis_out(g->w, g->kw, g->sw, g->pw, 1, &ow);
    }
    if (st != LAM_OK) {
        return st;
    }
    int64_t x_n, y_n, plane;
    if (!mul4_ok(g->n, g->c, g->h, g->w, &x_n) || !mul4_ok(g->n, g->c, oh, ow, &y_n) ||
        !mul_ok(g->h, g->w, &plane)) {
        return LAM_ERR_RANGE;
    }
    if (plane > INT32_MAX) { /* argmax is an int32 index inside one plane */
        return LAM_ERR_RANGE;
    }
    g->oh = oh;
    g->ow = ow;
    return LAM_OK;
}

lam_status lam__gemm_check(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                           int64_t lda, int64_t ldb, int64_t ldc)
{
    if (m < 0 || n < 0 || k < 0 || lda < 0 || ldb < 0 || ldc < 0) {
        return LAM_ERR_ARG;
    }
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX || lda > INT_MAX || ldb > INT_MAX ||
        ldc > INT_MAX) {
        return LAM_ERR_RANGE;
    }
    /* Row-major: the leading dimension is at least the stored row length (and 1). */
    int64_t a_cols = trans_a ? m : k;
    int64_t b_cols = trans_b ? k : n;
    if (lda < (a_cols > 1 ? a_cols : 1) || ldb < (b_cols > 1 ? b_cols : 1) ||
        ldc < (n > 1 ? n : 1)) {
        return LAM_ERR_ARG;
    }
    return LAM_OK;
}

lam_status lam__syrk_check(int64_t n, int64_t k, int64_t lda, int64_t ldc)
{
    if (n < 0 || k < 0 || lda < (n > 1 ? n : 1) || ldc < (n > 1 ? n : 1)) {
        return LAM_ERR_ARG;
    }
    if (n > INT_MAX || k > INT_MAX || lda > INT_MAX || ldc > INT_MAX) {
        return LAM_ERR_RANGE;
    }
    return LAM_OK;
}
