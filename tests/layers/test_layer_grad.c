/* Gradient checks for every layer kind and loss: analytic backward vs central differences,
 * every element on small shapes, random directions on larger ones. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "harness.h"
#include "lamina.h"

typedef struct layer_case {
    lam_layer *l;
    lam_tensor x, y;
    float *r;
    int64_t n_out;
} layer_case;

static double layer_loss(void *user)
{
    layer_case *c = user;
    if (lam_layer_forward(c->l, &c->x, &c->y, 1) != LAM_OK) {
        return NAN;
    }
    double s = 0.0;
    for (int64_t i = 0; i < c->n_out; i++) {
        s += (double)c->r[i] * c->y.data[i];
    }
    return s;
}

/* Fill x in [-1, 1] and keep it away from the kinks of `kind`. */
static void fill_input(lam_layer_kind kind, float *x, int64_t n, uint64_t seed)
{
    if (kind == LAM_LAYER_MAXPOOL) {
        /* distinct values 0.05 apart in a shuffled order: no ties within 2 eps */
        for (int64_t i = 0; i < n; i++) {
            x[i] = (float)(i - n / 2) * 0.05f;
        }
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)(lam_rng_u64(seed, 9, (uint64_t)i) % (uint64_t)(i + 1));
            float t = x[i];
            x[i] = x[j];
            x[j] = t;
        }
        return;
    }
    t_fill_uniform(x, n, -1.0f, 1.0f, seed, 1);
    if (kind == LAM_LAYER_RELU || kind == LAM_LAYER_LEAKY_RELU) {
        for (int64_t i = 0; i < n; i++) {
            if (fabsf(x[i]) < 0.05f) {
                x[i] = x[i] < 0 ? x[i] - 0.05f : x[i] + 0.05f;
            }
        }
    }
}

/* Forward, backward with dy = r, then check dx and every parameter gradient. */
static void check_layer(const char *what, const lam_layer_desc *d, int in_ndim,
                        const int64_t *in_shape, int64_t n, uint64_t seed)
{
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.seed = seed;
    lam_ctx *ctx = NULL;
    lam_ctx_create(&cfg, &ctx);
    layer_case c = {0};
    if (!T_CHECK(lam_layer_create(ctx, d, in_ndim, in_shape, n, 3, &c.l) == LAM_OK,
                 "%s: create: %s", what, lam_ctx_errmsg(ctx))) {
        lam_ctx_destroy(ctx);
        return;
    }
    int out_ndim;
    int64_t out_shape[3], xs[4] = {n, 1, 1, 1}, ys[4] = {n, 1, 1, 1};
    lam_layer_out_shape(c.l, &out_ndim, out_shape);
    int64_t in_numel = 1, out_numel = 1;
    for (int i = 0; i < in_ndim; i++) {
        xs[i + 1] = in_shape[i];
        in_numel *= in_shape[i];
    }
    for (int i = 0; i < out_ndim; i++) {
        ys[i + 1] = out_shape[i];
        out_numel *= out_shape[i];
    }
    float *x = calloc((size_t)(n * in_numel), sizeof(float));
    float *y = calloc((size_t)(n * out_numel), sizeof(float));
    float *dx = calloc((size_t)(n * in_numel), sizeof(float));
    c.r = calloc((size_t)(n * out_numel), sizeof(float));
    c.n_out = n * out_numel;
    fill_input(d->kind, x, n * in_numel, seed);
    t_fill_uniform(c.r, c.n_out, -1.0f, 1.0f, seed, 2);
    lam_tensor_wrap(&c.x, x, in_ndim + 1, xs);
    lam_tensor_wrap(&c.y, y, out_ndim + 1, ys);
    lam_tensor tdx, tdy;
    lam_tensor_wrap(&tdx, dx, in_ndim + 1, xs);
    lam_tensor_wrap(&tdy, c.r, out_ndim + 1, ys);

    layer_loss(&c);
    lam_layer_zero_grad(c.l);
    T_CHECK(lam_layer_backward(c.l, &c.x, &c.y, &tdy, &tdx) == LAM_OK, "%s: backward: %s",
            what, lam_ctx_errmsg(ctx));
    char name[96];
    snprintf(name, sizeof name, "%s dx", what);
    gc_check(name, layer_loss, &c, x, dx, n * in_numel, 1e-2, 400, 6, seed);

    lam_param p[2];
    int np = 2;
    lam_layer_params(c.l, p, &np);
    for (int i = 0; i < np; i++) {
        float *g = malloc((size_t)p[i].n * sizeof(float));
        memcpy(g, p[i].g, (size_t)p[i].n * sizeof(float));
        snprintf(name, sizeof name, "%s d(%s)", what, p[i].name);
        gc_check(name, layer_loss, &c, p[i].w, g, p[i].n, 1e-2, 400, 6, seed + 1);

        /* parameter gradients accumulate: a second backward doubles them */
        layer_loss(&c);
        lam_layer_backward(c.l, &c.x, &c.y, &tdy, NULL);
        int doubled = 1;
        for (int64_t j = 0; j < p[i].n; j++) {
            float want = 2.0f * g[j];
            doubled &= fabsf(p[i].g[j] - want) <= 1e-5f * (1.0f + fabsf(want));
        }
        T_CHECK(doubled, "%s: second backward doubles %s", what, p[i].name);
        lam_layer_zero_grad(c.l);
        layer_loss(&c);
        lam_layer_backward(c.l, &c.x, &c.y, &tdy, &tdx);
        free(g);
    }
    free(x);
    free(y);
    free(dx);
    free(c.r);
    lam_layer_destroy(c.l);
    lam_ctx_destroy(ctx);
}

static lam_layer_desc desc(lam_layer_kind kind)
{
    lam_layer_desc d;
    lam_layer_desc_init(&d, kind);
    return d;
}

static void test_layers(void)
{
    int64_t img[3] = {3, 7, 6}, img4[3] = {4, 5, 5}, feat[1] = {11};
    lam_layer_desc d = desc(LAM_LAYER_CONV2D);
    d.out = 4;
    d.kh = d.kw = 3;
    d.ph = d.pw = 1;
    check_layer("conv 3x3 pad 1", &d, 3, img, 2, 11);
    d.sh = d.sw = 2;
    d.dh = d.dw = 2;
    d.ph = 2;
    d.pw = 0;
    check_layer("conv stride 2 dilation 2", &d, 3, img, 3, 12);
    d = desc(LAM_LAYER_CONV2D);
    d.out = 6;
    d.kh = 1;
    d.kw = 3;
    d.groups = 2;
    d.bias = 0;
    check_layer("conv groups 2 no bias", &d, 3, img4, 2, 13);
    d.out = 4;
    d.kh = d.kw = 3;
    d.groups = 4;
    d.bias = 1;
    check_layer("conv depthwise", &d, 3, img4, 2, 14);
    d = desc(LAM_LAYER_LINEAR);
    d.out = 5;
    check_layer("linear", &d, 1, feat, 3, 15);

    lam_layer_kind acts[] = {LAM_LAYER_RELU, LAM_LAYER_LEAKY_RELU, LAM_LAYER_SIGMOID,
                             LAM_LAYER_TANH, LAM_LAYER_GELU};
    const char *act_names[] = {"relu", "leakyrelu", "sigmoid", "tanh", "gelu"};
    for (int i = 0; i < 5; i++) {
        d = desc(acts[i]);
        if (acts[i] == LAM_LAYER_LEAKY_RELU) {
            d.alpha = 0.2f;
        }
        check_layer(act_names[i], &d, 3, img, 2, 20 + (uint64_t)i);
    }
    d = desc(LAM_LAYER_MAXPOOL);
    d.kh = d.kw = 2;
    check_layer("maxpool 2", &d, 3, img, 2, 30);
    d.kh = d.kw = 3;
    d.sh = d.sw = 2;
    d.ph = d.pw = 1;
    check_layer("maxpool 3 stride 2 pad 1", &d, 3, img, 2, 31);
    d.kind = LAM_LAYER_AVGPOOL;
    check_layer("avgpool 3 stride 2 pad 1", &d, 3, img, 2, 32);
    d = desc(LAM_LAYER_GLOBAL_AVGPOOL);
    check_layer("global avgpool", &d, 3, img, 2, 33);
    d = desc(LAM_LAYER_FLATTEN);
    check_layer("flatten", &d, 3, img, 2, 34);
    d = desc(LAM_LAYER_DROPOUT);
    d.alpha = 0.3f;
    check_layer("dropout", &d, 3, img, 2, 35);
    d = desc(LAM_LAYER_BATCHNORM);
    check_layer("batchnorm channels", &d, 3, img, 3, 36);
    check_layer("batchnorm features", &d, 1, feat, 5, 37);
}

/* ------------------------------------------------------------------ losses */

typedef struct loss_case {
    lam_ctx *ctx;
    lam_loss_desc d;
    int64_t n, k;
    float *pred, *targets;
    int32_t *labels;
} loss_case;

static double loss_value(void *user)
{
    loss_case *c = user;
    double l = NAN;
    lam_loss_eval(c->ctx, &c->d, c->n, c->k, c->pred, c->labels, c->targets, &l, NULL);
    return l;
}

static void check_loss(lam_ctx *ctx, const char *what, lam_loss_kind kind, uint64_t seed)
{
    loss_case c = {ctx, {kind, 0.0f, 0.0f}, 4, 5, NULL, NULL, NULL};
    int64_t nk = c.n * c.k;
    float pred[20], targets[20], grad[20];
    int32_t labels[4] = {0, 4, 2, 2};
    c.pred = pred;
    c.targets = targets;
    c.labels = labels;
    c.d.smoothing = kind == LAM_LOSS_SOFTMAX_XENT ? 0.1f : 0.0f;
    c.d.delta = 0.5f;
    t_fill_uniform(pred, nk, -2.0f, 2.0f, seed, 1);
    t_fill_uniform(targets, nk, -2.0f, 2.0f, seed, 2);
    for (int64_t i = 0; i < nk; i++) {
        /* keep pred - t away from the kinks of L1 (0) and Huber (+-delta) */
        float dlt = pred[i] - targets[i];
        if (fabsf(dlt) < 0.05f || fabsf(fabsf(dlt) - 0.5f) < 0.05f) {
            pred[i] += 0.15f;
        }
    }
    double l;
    T_CHECK(lam_loss_eval(ctx, &c.d, c.n, c.k, pred, labels, targets, &l, grad) == LAM_OK,
            "%s: eval", what);
    gc_check(what, loss_value, &c, pred, grad, nk, 1e-2, 100, 0, seed);
}

static void test_losses(void)
{
    lam_ctx *ctx = NULL;
    lam_ctx_create(NULL, &ctx);
    check_loss(ctx, "softmax xent smoothing 0.1", LAM_LOSS_SOFTMAX_XENT, 40);
    check_loss(ctx, "mse", LAM_LOSS_MSE, 41);
    check_loss(ctx, "l1", LAM_LOSS_L1, 42);
    check_loss(ctx, "huber", LAM_LOSS_HUBER, 43);
    /* values against hand-computed ones */
    float p[2] = {1.0f, -1.0f}, t[2] = {0.0f, 1.0f};
    double l;
    lam_loss_desc d = {LAM_LOSS_MSE, 0.0f, 1.0f};
    lam_loss_eval(ctx, &d, 1, 2, p, NULL, t, &l, NULL);
    T_CHECK(fabs(l - 2.5) < 1e-12, "mse value %g", l);
    d.kind = LAM_LOSS_HUBER;
    lam_loss_eval(ctx, &d, 1, 2, p, NULL, t, &l, NULL);
    T_CHECK(fabs(l - (0.5 + 1.5) / 2) < 1e-12, "huber value %g", l);
    int32_t bad[1] = {7};
    d.kind = LAM_LOSS_SOFTMAX_XENT;
    T_CHECK(lam_loss_eval(ctx, &d, 1, 2, p, bad, NULL, &l, NULL) == LAM_ERR_RANGE,
            "label out of range");
    lam_ctx_destroy(ctx);
}

int main(void)
{
    test_layers();
    test_losses();
    return t_exit("layer_grad");
}
