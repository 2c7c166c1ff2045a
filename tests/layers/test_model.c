/* Models and layers: built-in parameter counts, spec errors that name the layer, shape and
 * state errors, inference paths, and the in-place buffers giving the same numbers as
 * separate ones. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lamina.h"

static lam_status build(lam_ctx *ctx, const char *spec, int ndim, int64_t c, int64_t h,
                        int64_t w, lam_model **m)
{
    int64_t shape[3] = {c, h, w};
    *m = NULL;
    return lam_model_create(ctx, spec, ndim, shape, 10, 8, m);
}

static void test_builtins(lam_ctx *ctx)
{
    lam_model *m;
    T_CHECK(build(ctx, "seed-cnn", 3, 1, 28, 28, &m) == LAM_OK, "seed-cnn 1x28x28");
    T_CHECK(lam_model_param_count(m) == 406270, "seed-cnn 1x28x28 has %lld params",
            (long long)lam_model_param_count(m));
    int nd;
    int64_t os[3];
    lam_model_out_shape(m, &nd, os);
    T_CHECK(nd == 1 && os[0] == 10, "10 outputs");
    lam_model_destroy(m);
    T_CHECK(build(ctx, "seed-cnn", 3, 3, 32, 32, &m) == LAM_OK, "seed-cnn 3x32x32");
    T_CHECK(lam_model_param_count(m) == 522046, "seed-cnn 3x32x32 has %lld params",
            (long long)lam_model_param_count(m));
    /* conv1: 2*32*28*28*9? no: 3x32x32 input, 27 MACs per output */
    T_CHECK(lam_layer_flops(lam_model_layer(m, 0)) == 2LL * 32 * 32 * 32 * 27, "conv1 flops");
    lam_model_destroy(m);
    T_CHECK(build(ctx, "mlp", 3, 1, 28, 28, &m) == LAM_OK, "mlp");
    T_CHECK(lam_model_param_count(m) == 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10,
            "mlp params %lld", (long long)lam_model_param_count(m));
    lam_model_destroy(m);
    T_CHECK(build(ctx, "lenet5", 3, 1, 28, 28, &m) == LAM_OK, "lenet5");
    T_CHECK(lam_model_param_count(m) == 61706, "lenet5 params %lld",
            (long long)lam_model_param_count(m));
    lam_model_destroy(m);
    T_CHECK(lam_model_builtin_spec("nope") == NULL, "unknown built-in");
}

/* The status and a fragment the message must contain. */
static void expect_error(lam_ctx *ctx, const char *spec, int ndim, int64_t c, int64_t h,
                         int64_t w, lam_status want, const char *fragment)
{
    lam_model *m;
    lam_status st = build(ctx, spec, ndim, c, h, w, &m);
    T_CHECK(st == want && m == NULL, "'%s': status %d (%s), want %d", spec, st,
            lam_ctx_errmsg(ctx), want);
    T_CHECK(strstr(lam_ctx_errmsg(ctx), fragment) != NULL, "'%s': message '%s' lacks '%s'",
            spec, lam_ctx_errmsg(ctx), fragment);
}

static void test_spec_errors(lam_ctx *ctx)
{
    expect_error(ctx, "conv:8,3 relu linear:10", 3, 1, 8, 8, LAM_ERR_SHAPE,
                 "layer 2 (linear): input is 3-D (8x6x6); add flatten");
    expect_error(ctx, "conv:8,3 maxpool:9", 3, 1, 8, 8, LAM_ERR_SHAPE,
                 "layer 1 (maxpool): window 9x9 larger than input 6x6");
    expect_error(ctx, "conv:8,11", 3, 1, 8, 8, LAM_ERR_SHAPE, "layer 0 (conv2d)");
    expect_error(ctx, "flatten conv:8,3", 3, 1, 8, 8, LAM_ERR_SHAPE, "layer 1 (conv2d)");
    expect_error(ctx, "conv:6,3,groups=4", 3, 2, 8, 8, LAM_ERR_SHAPE, "groups");
    expect_error(ctx, "conv:8,x", 3, 1, 8, 8, LAM_ERR_FORMAT, "node 0 'conv:8,x'");
    expect_error(ctx, "relu banana", 3, 1, 8, 8, LAM_ERR_FORMAT, "node 1 'banana'");
    expect_error(ctx, "conv:8,3,wat=1", 3, 1, 8, 8, LAM_ERR_FORMAT, "unknown option 'wat'");
    expect_error(ctx, "linear", 1, 5, 1, 1, LAM_ERR_FORMAT, "output size missing");
    expect_error(ctx, "dropout:1.5", 1, 5, 1, 1, LAM_ERR_FORMAT, "bad value");
    expect_error(ctx, "   # only a comment\n", 1, 5, 1, 1, LAM_ERR_FORMAT, "no layers");
    expect_error(ctx, "conv:8,3", 1, 5, 1, 1, LAM_ERR_SHAPE, "needs (C,H,W)");
    lam_model *m;
    T_CHECK(build(ctx, "conv:4,3x1,stride=2x1,pad=1x0 # comment\n; gap linear:out", 3, 2, 9,
                  5, &m) == LAM_OK, "comments, separators, pairs: %s", lam_ctx_errmsg(ctx));
    int nd;
    int64_t s[3];
    lam_layer_out_shape(lam_model_layer(m, 0), &nd, s);
    T_CHECK(nd == 3 && s[0] == 4 && s[1] == 5 && s[2] == 5, "conv 3x1 stride 2x1 pad 1x0 "
            "gives 4x5x5, got %lldx%lldx%lld", (long long)s[0], (long long)s[1],
            (long long)s[2]);
    lam_model_destroy(m);
}

static void test_layer_errors(lam_ctx *ctx)
{
    lam_layer_desc d;
    lam_layer_desc_init(&d, LAM_LAYER_LINEAR);
    d.out = 3;
    int64_t in[1] = {4};
    lam_layer *l;
    T_CHECK(lam_layer_create(ctx, &d, 1, in, 2, 0, &l) == LAM_OK, "linear");
    float xb[8] = {0}, yb[6] = {0};
    int64_t xs[2] = {2, 4}, ys[2] = {2, 3}, bad[2] = {2, 5};
    lam_tensor x, y, xbad;
    lam_tensor_wrap(&x, xb, 2, xs);
    lam_tensor_wrap(&y, yb, 2, ys);
    lam_tensor_wrap(&xbad, xb, 2, bad);
    T_CHECK(lam_layer_backward(l, &x, &y, &y, NULL) == LAM_ERR_STATE,
            "backward before forward is LAM_ERR_STATE");
    T_CHECK(lam_layer_forward(l, &xbad, &y, 1) == LAM_ERR_SHAPE, "wrong input width");
    T_CHECK(strstr(lam_ctx_errmsg(ctx), "input is 2x5, expected Nx4") != NULL, "message: %s",
            lam_ctx_errmsg(ctx));
    T_CHECK(lam_layer_forward(l, NULL, &y, 1) == LAM_ERR_ARG, "NULL input");
    x.stride[1] = 2;
    T_CHECK(lam_layer_forward(l, &x, &y, 1) == LAM_ERR_LAYOUT, "strided input");
    x.stride[1] = 1;
    T_CHECK(lam_layer_forward(l, &x, &y, 0) == LAM_OK, "inference forward");
    T_CHECK(lam_layer_backward(l, &x, &y, &y, NULL) == LAM_ERR_STATE,
            "inference forward keeps nothing for backward");
    int64_t big[2] = {3, 4};
    lam_tensor x3;
    float xb3[12] = {0};
    lam_tensor_wrap(&x3, xb3, 2, big);
    T_CHECK(lam_layer_forward(l, &x3, &y, 1) == LAM_ERR_SHAPE, "batch mismatch");
    lam_layer_destroy(l);
    lam_layer_destroy(NULL);
    d.out = 0;
    T_CHECK(lam_layer_create(ctx, &d, 1, in, 2, 0, &l) == LAM_ERR_ARG, "out 0");
    int64_t in4[4] = {1, 2, 3, 4};
    T_CHECK(lam_layer_create(ctx, &d, 4, in4, 2, 0, &l) == LAM_ERR_SHAPE, "4-D sample");
}

/* Inference: batch norm uses running statistics, dropout is the identity. */
static void test_inference(lam_ctx *ctx)
{
    lam_model *m;
    int64_t shape[1] = {4};
    T_CHECK(lam_model_create(ctx, "bn dropout:0.5", 1, shape, 0, 4, &m) == LAM_OK,
            "bn dropout: %s", lam_ctx_errmsg(ctx));
    float x[16];
    t_fill_uniform(x, 16, -3.0f, 3.0f, 5, 0);
    const float *y;
    lam_model_forward(m, x, 4, 0, &y);
    /* fresh running stats are mean 0, var 1: y = x / sqrt(1 + eps) */
    int ok = 1;
    for (int i = 0; i < 16; i++) {
        ok &= fabsf(y[i] - x[i] / sqrtf(1.0f + 1e-5f)) < 1e-6f;
    }
    T_CHECK(ok, "inference uses running statistics and no dropout");
    lam_model_forward(m, x, 4, 1, &y);
    int zeros = 0;
    for (int i = 0; i < 16; i++) {
        zeros += y[i] == 0.0f;
    }
    T_CHECK(zeros > 0 && zeros < 16, "training drops some values (%d of 16)", zeros);
    lam_param *b;
    int nb;
    lam_model_buffers(m, &b, &nb);
    T_CHECK(nb == 2 && b[0].n == 4 && b[0].w[0] != 0.0f, "running mean moved");
    lam_model_destroy(m);
}

/* The model's in-place relu and flatten must give what separate layers give. */
static void test_in_place_matches_layers(lam_ctx *ctx)
{
    const char *spec = "conv:3,3 relu flatten linear:4";
    lam_model *m;
    int64_t shape[3] = {2, 5, 5};
    T_CHECK(lam_model_create(ctx, spec, 3, shape, 0, 2, &m) == LAM_OK, "model");
    float x[100];
    t_fill_uniform(x, 100, -1.0f, 1.0f, 9, 0);
    const float *y;
    lam_model_forward(m, x, 2, 1, &y);
    /* same layers by hand through the public layer API */
    float a0[2 * 27], a1[2 * 27], out[8];
    int64_t s0[4] = {2, 2, 5, 5}, s1[4] = {2, 3, 3, 3}, s2[2] = {2, 27}, s3[2] = {2, 4};
    lam_tensor tx, t0, t1, t2, t3;
    lam_tensor_wrap(&tx, x, 4, s0);
    lam_tensor_wrap(&t0, a0, 4, s1);
    lam_tensor_wrap(&t1, a1, 4, s1);
    lam_tensor_wrap(&t2, a1, 2, s2);
    lam_tensor_wrap(&t3, out, 2, s3);
    lam_layer_forward(lam_model_layer(m, 0), &tx, &t0, 0);
    lam_layer_forward(lam_model_layer(m, 1), &t0, &t1, 0);
    lam_layer_forward(lam_model_layer(m, 3), &t2, &t3, 0);
    t_equal("in-place model forward vs separate layers", y, out, 8);
    lam_model_destroy(m);
}

/* The train step's guard on a model large enough for its parallel checks (mlp: 535,818
 * parameters, over 30 blocks on the context's threads): a gradient that overflows to inf
 * while the loss stays finite is refused with the layer named, and no weight moves. The
 * first linear layer's weights are zero (so its output is just its bias, 1), the inputs are
 * near FLT_MAX: its weight gradient sum_n dy1 * x overflows, nothing before it does. */
static void nonfinite_gradient_guard(int threads)
{
    const int64_t n = 8; /* build()'s max_batch */
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.n_threads = threads;
    lam_ctx *ctx = NULL;
    lam_model *m = NULL;
    if (!T_CHECK(lam_ctx_create(&cfg, &ctx) == LAM_OK, "context") ||
        !T_CHECK(build(ctx, "mlp", 3, 1, 28, 28, &m) == LAM_OK, "mlp")) {
        lam_ctx_destroy(ctx);
        return;
    }
    lam_param *p = NULL;
    int np = 0;
    lam_model_params(m, &p, &np);
    memset(p[0].w, 0, (size_t)p[0].n * sizeof(float));
    for (int64_t i = 0; i < p[1].n; i++) {
        p[1].w[i] = 1.0f;
    }
    for (int k = 2; k < np; k += 2) { /* larger later weights: dy1 well above 1 */
        for (int64_t i = 0; i < p[k].n; i++) {
            p[k].w[i] *= 100.0f;
        }
    }
    int64_t total = 0;
    for (int k = 0; k < np; k++) {
        total += p[k].n;
    }
    float *x = malloc((size_t)(n * 784) * sizeof(float));
    float *before = malloc((size_t)total * sizeof(float));
    lam_optim *opt = NULL;
    lam_optim_desc d;
    lam_optim_desc_init(&d, LAM_OPTIM_SGD);
    d.momentum = 0.9; /* state that a partial update would change too */
    if (x != NULL && before != NULL &&
        T_CHECK(lam_optim_create(ctx, &d, p, np, &opt) == LAM_OK, "optimizer")) {
        for (int64_t i = 0; i < n * 784; i++) {
            x[i] = 3.0e38f;
        }
        int32_t labels[8] = {0, 1, 2, 3, 4, 5, 6, 7}; /* not all the argmax: dy != 0 */
        for (int k = 0, o = 0; k < np; o += (int)p[k].n, k++) {
            memcpy(before + o, p[k].w, (size_t)p[k].n * sizeof(float));
        }
        const lam_loss_desc loss = {LAM_LOSS_SOFTMAX_XENT, 0.0f, 1.0f};
        lam_status st = lam_model_train_step(m, opt, &loss, x, labels, NULL, n, 0.1, 0.0, NULL,
                                             NULL);
        const char *msg = lam_ctx_errmsg(ctx);
        T_CHECK(st == LAM_ERR_NUMERIC && strstr(msg, "non-finite gradient in layer 1 (linear#1)"),
                "%d threads, overflowing gradient: status %s, message \"%s\"", threads,
                lam_strerror(st), msg);
        /* every weight (the later layers' gradients are finite), the state and the count */
        for (int k = 0, o = 0; k < np; o += (int)p[k].n, k++) {
            T_CHECK(memcmp(before + o, p[k].w, (size_t)p[k].n * sizeof(float)) == 0,
                    "%d threads: %s changed by the refused step", threads, p[k].name);
            float *v = NULL;
            int64_t len = 0, moved = 0;
            lam_status sg = lam_optim_state_get(opt, k, NULL, &v, &len);
            for (int64_t i = 0; sg == LAM_OK && i < len; i++) {
                moved += v[i] != 0.0f;
            }
            T_CHECK(sg == LAM_OK && len == p[k].n && moved == 0, "%d threads: momentum of %s: "
                    "%lld values changed by the refused step", threads, p[k].name,
                    (long long)moved);
        }
        T_CHECK(lam_optim_get_step(opt) == 0, "%d threads: optimizer step %lld after a refused "
                "step", threads, (long long)lam_optim_get_step(opt));
    }
    lam_optim_destroy(opt);
    free(x);
    free(before);
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
}

static void test_nonfinite_gradient_guard(void)
{
    nonfinite_gradient_guard(1);
    nonfinite_gradient_guard(2);
}

/* Dropout over 150,000 values (the size at which its forward runs in blocks on the
 * context's threads): the same mask on 1 and 2 threads, every value 0 or x * (1 / (1 - p)), and
 * about a fraction p dropped. */
static void test_dropout_threads(void)
{
    const int64_t f = 150000, shape[1] = {150000};
    float *x = malloc((size_t)f * sizeof(float)), *y[2] = {NULL, NULL};
    for (int t = 0; t < 2 && x != NULL; t++) {
        t_fill_uniform(x, f, 0.5f, 1.0f, 5, 0);
        lam_ctx_config cfg;
        lam_ctx_config_init(&cfg);
        cfg.n_threads = t + 1;
        cfg.seed = 77;
        lam_ctx *ctx = NULL;
        lam_model *m = NULL;
        const float *out = NULL;
        if (T_CHECK(lam_ctx_create(&cfg, &ctx) == LAM_OK, "context") &&
            T_CHECK(lam_model_create(ctx, "dropout:0.25", 1, shape, 0, 1, &m) == LAM_OK,
                    "dropout model") &&
            T_CHECK(lam_model_forward(m, x, 1, 1, &out) == LAM_OK, "forward")) {
            y[t] = malloc((size_t)f * sizeof(float));
            if (y[t] != NULL) {
                memcpy(y[t], out, (size_t)f * sizeof(float));
            }
        }
        lam_model_destroy(m);
        lam_ctx_destroy(ctx);
    }
    if (y[0] != NULL && y[1] != NULL) {
        t_equal("dropout, 2 threads vs 1", y[1], y[0], f);
        int64_t dropped = 0, bad = -1;
        for (int64_t i = 0; i < f; i++) {
            dropped += y[0][i] == 0.0f;
            bad = bad < 0 && y[0][i] != 0.0f && y[0][i] != x[i] * (1.0f / 0.75f) ? i : bad;
        }
        T_CHECK(bad < 0, "dropout: value %lld is neither 0 nor x * (1 / (1 - p))", (long long)bad);
        T_CHECK(dropped > f / 4 - 1000 && dropped < f / 4 + 1000,
                "dropout: %lld of %lld dropped, want about a quarter", (long long)dropped,
                (long long)f);
    }
    free(x);
    free(y[0]);
    free(y[1]);
}

int main(void)
{
    lam_ctx *ctx = NULL;
    lam_ctx_create(NULL, &ctx);
    test_builtins(ctx);
    test_spec_errors(ctx);
    test_layer_errors(ctx);
    test_inference(ctx);
    test_in_place_matches_layers(ctx);
    test_nonfinite_gradient_guard();
    test_dropout_threads();
    lam_ctx_destroy(ctx);
    return t_exit("model");
}
