/*
 * What lam_model_backward computes, counted at the GEMM: the test is linked with
 * -Wl,--wrap=lam__sgemm,--wrap=lam__conv_gemm, so every GEMM the engine issues (to BLAS, or
 * the convolutions' to lamina's own kernels) passes through the counters below.
 * Layers before the first layer with parameters get no backward, and that layer computes no
 * input gradient: for `flatten linear:5` the backward is the weight-gradient GEMM alone. The
 * expected multiply-add counts are written out from the layer shapes, so computing a dropped
 * input gradient again (or skipping a needed one) changes the count and fails.
 *
 * The forward's side of the same promise: flatten layers at the start of a model are views
 * of the caller's x (no copy), and the layer after them never runs in place over that x.
 */
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "kernels.h"
#include "lamina.h"

static int64_t g_macs;  /* multiply-adds issued through lam__sgemm since the last reset */
static int64_t g_calls;
static int g_in_conv;   /* inside lam__conv_gemm, which may hand its product to lam__sgemm */

/* Declared here: these names exist only through the linker's --wrap. */
lam_status __real_lam__sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                             float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                             float beta, float *c, int64_t ldc);
lam_status __wrap_lam__sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                             float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                             float beta, float *c, int64_t ldc);

lam_status __wrap_lam__sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                             float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                             float beta, float *c, int64_t ldc)
{
    /* the tests run the model on one thread, so plain counters are enough */
    if (!g_in_conv) {
        g_macs += m * n * k;
        g_calls++;
    }
    return __real_lam__sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

lam_status __real_lam__conv_gemm(int isa, int trans_a, int trans_b, int64_t m, int64_t n,
                                 int64_t k, const float *a, int64_t lda, const float *b,
                                 int64_t ldb, float beta, float *c, int64_t ldc);
lam_status __wrap_lam__conv_gemm(int isa, int trans_a, int trans_b, int64_t m, int64_t n,
                                 int64_t k, const float *a, int64_t lda, const float *b,
                                 int64_t ldb, float beta, float *c, int64_t ldc);

lam_status __wrap_lam__conv_gemm(int isa, int trans_a, int trans_b, int64_t m, int64_t n,
                                 int64_t k, const float *a, int64_t lda, const float *b,
                                 int64_t ldb, float beta, float *c, int64_t ldc)
{
    g_macs += m * n * k;
    g_calls++;
    g_in_conv = 1;
    lam_status st = __real_lam__conv_gemm(isa, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta,
                                          c, ldc);
    g_in_conv = 0;
    return st;
}

static lam_model *build(lam_ctx *ctx, const char *spec, int ndim, const int64_t *shape, int64_t n)
{
    lam_model *m = NULL;
    lam_status st = lam_model_create(ctx, spec, ndim, shape, 3, n, &m);
    T_CHECK(st == LAM_OK, "%s: create: %s", spec, lam_strerror(st));
    return m;
}

/* Forward + loss on random input, then count the backward's multiply-adds. */
static int64_t backward_macs(lam_model *m, const float *x, int64_t n)
{
    static const int32_t labels[4] = {0, 2, 1, 2};
    const lam_loss_desc d = {LAM_LOSS_SOFTMAX_XENT, 0.0f, 1.0f};
    const float *out = NULL;
    double loss = 0.0;
    lam_model_zero_grad(m);
    T_CHECK(lam_model_forward(m, x, n, 1, &out) == LAM_OK, "forward");
    T_CHECK(lam_model_loss(m, &d, labels, NULL, &loss, NULL) == LAM_OK, "loss");
    g_macs = 0;
    g_calls = 0;
    T_CHECK(lam_model_backward(m) == LAM_OK, "backward");
    return g_macs;
}

static void check_count(lam_ctx *ctx, const char *spec, int ndim, const int64_t *shape,
                        int64_t want)
{
    const int64_t n = 4;
    float x[4 * 2 * 6 * 6];
    t_fill_uniform(x, (int64_t)(sizeof x / sizeof x[0]), -1.0f, 1.0f, 7, 0);
    lam_model *m = build(ctx, spec, ndim, shape, n);
    if (m == NULL) {
        return;
    }
    const int64_t got = backward_macs(m, x, n);
    T_CHECK(got == want, "%s: backward issued %lld multiply-adds in %lld GEMMs, want %lld", spec,
            (long long)got, (long long)g_calls, (long long)want);
    lam_model_destroy(m);
}

/* lam_model_train_flops counts what the step runs: for linear layers with nothing but
 * parameter-free layers before the first one, the forward plus two FLOPs per backward
 * multiply-add seen at the GEMM. */
static void check_train_flops(lam_ctx *ctx, const char *spec, int ndim, const int64_t *shape)
{
    const int64_t n = 4;
    float x[4 * 16];
    t_fill_uniform(x, 64, -1.0f, 1.0f, 13, 0);
    lam_model *m = build(ctx, spec, ndim, shape, n);
    if (m == NULL) {
        return;
    }
    const int64_t macs = backward_macs(m, x, n);
    const int64_t want = n * lam_model_flops(m) + 2 * macs;
    T_CHECK(n * lam_model_train_flops(m) == want, "%s: train flops %lld per sample, the step "
            "ran %lld", spec, (long long)lam_model_train_flops(m), (long long)(want / n));
    lam_model_destroy(m);
}

/* A model on 1x4x4 images that starts with flatten, and its twin without the flatten on the
 * 16 flattened inputs, same weights: the same weight gradients and outputs, bit for bit (the
 * skipped backward work and the leading view change nothing that is kept), and the caller's
 * x untouched (a relu after the flatten runs in place over a buffer of ours, never over x). */
static void check_flatten_twin(lam_ctx *ctx, const char *with, const char *without, uint64_t seed)
{
    const int64_t img[3] = {1, 4, 4}, flat[1] = {16}, n = 4;
    float x[4 * 16], keep[4 * 16];
    t_fill_uniform(x, 64, -1.0f, 1.0f, seed, 0);
    memcpy(keep, x, sizeof x);
    lam_model *a = build(ctx, with, 3, img, n);
    lam_model *b = build(ctx, without, 1, flat, n);
    if (a == NULL || b == NULL) {
        lam_model_destroy(a);
        lam_model_destroy(b);
        return;
    }
    lam_param *pa = NULL, *pb = NULL;
    int na = 0, nb = 0;
    lam_model_params(a, &pa, &na);
    lam_model_params(b, &pb, &nb);
    T_CHECK(na == nb, "%s: parameter count %d vs %d", with, na, nb);
    for (int i = 0; i < na && i < nb; i++) {
        memcpy(pb[i].w, pa[i].w, (size_t)pa[i].n * sizeof(float));
    }
    backward_macs(a, x, n);
    backward_macs(b, x, n);
    for (int i = 0; i < na && i < nb; i++) {
        t_equal(pa[i].name, pa[i].g, pb[i].g, pa[i].n);
    }
    t_equal(with, x, keep, 64);
    const float *ya = NULL, *yb = NULL;
    T_CHECK(lam_model_forward(a, x, n, 0, &ya) == LAM_OK, "%s: forward", with);
    T_CHECK(lam_model_forward(b, x, n, 0, &yb) == LAM_OK, "%s: forward", without);
    if (ya != NULL && yb != NULL) {
        t_equal(with, ya, yb, n * 3);
    }
    lam_model_destroy(a);
    lam_model_destroy(b);
}

/* A model's leading flatten is a view: its output is the caller's x, not a copy. */
static void check_leading_view(lam_ctx *ctx)
{
    const int64_t img[3] = {1, 4, 4}, n = 4;
    float x[4 * 16];
    t_fill_uniform(x, 64, -1.0f, 1.0f, 17, 0);
    lam_model *v = build(ctx, "flatten", 3, img, n);
    const float *out = NULL;
    if (v != NULL) {
        T_CHECK(lam_model_forward(v, x, n, 0, &out) == LAM_OK, "flatten: forward");
        T_CHECK(out == x, "flatten: the output is a copy, not the caller's x");
        lam_model_destroy(v);
    }
}

int main(void)
{
    lam_ctx *ctx = NULL;
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.n_threads = 1;
    if (lam_ctx_create(&cfg, &ctx) != LAM_OK) {
        return 1;
    }
    const int64_t img[3] = {1, 4, 4}, flat[1] = {16}, two[3] = {2, 6, 6}, n = 4;
    /* dW of linear:5 over 16 inputs, nothing else */
    check_count(ctx, "flatten linear:5", 3, img, n * 5 * 16);
    check_count(ctx, "relu linear:5", 1, flat, n * 5 * 16);
    /* second linear: dW (3x5) and dx (5 from 3); first: dW only */
    check_count(ctx, "flatten linear:5 relu linear:out", 3, img, n * (3 * 5 * 2 + 5 * 16));
    check_count(ctx, "linear:5 relu linear:out", 1, flat, n * (3 * 5 * 2 + 5 * 16));
    /* conv 2->4 channels, 3x3 on 6x6 (4x4 out): dW (4 x 18 x 16 per image) and the bias
     * gradient as a GEMV against ones (4 x 16), no input-gradient GEMM; linear 64 -> 3: dW, dx */
    check_count(ctx, "relu conv:4,3 flatten linear:out", 3, two,
                n * (4 * 18 * 16 + 4 * 16 + 3 * 64 * 2));
    check_count(ctx, "conv:4,3 relu flatten linear:out", 3, two,
                n * (4 * 18 * 16 + 4 * 16 + 3 * 64 * 2));
    /* no parameters at all: nothing to compute */
    check_count(ctx, "flatten relu", 3, img, 0);
    check_flatten_twin(ctx, "flatten linear:5 relu linear:out", "linear:5 relu linear:out", 11);
    check_flatten_twin(ctx, "flatten relu linear:out", "relu linear:out", 17);
    check_leading_view(ctx);
    check_train_flops(ctx, "flatten linear:5,bias=0", 3, img);
    check_train_flops(ctx, "relu linear:5,bias=0 linear:out,bias=0", 1, flat);
    check_train_flops(ctx, "linear:5,bias=0 linear:7,bias=0 linear:out,bias=0", 1, flat);
    lam_ctx_destroy(ctx);
    return t_exit("backward_work");
}
