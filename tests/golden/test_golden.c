/* Golden test against PyTorch 1.13: the seed CNN started from the same weights on the same
 * batches gives the same logits, loss and gradients of the first step, and the same weights
 * after 10 SGD-momentum steps, within 1e-4 relative (per tensor, of its largest element),
 * with the fast and the reference kernels.
 *
 * The dump (argv[1], seed_cnn_golden.safetensors) is made by gen_golden.py next to this
 * file, which documents the model (seed-cnn on 2x10x10, batch 8) and the formulas for the
 * initial weights and the batches repeated here; CI reads the committed file and needs no
 * PyTorch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"
#include "harness.h"
#include "lamina.h"
#include "safetensors.h"

enum { C_IN = 2, H_IN = 10, W_IN = 10, N_OUT = 10, BATCH = 8, STEPS = 10 };
enum { SAMPLE = C_IN * H_IN * W_IN };
#define LR 0.01
#define MOMENTUM 0.9
#define RTOL 1e-4
#define ATOL 1e-7 /* floor for a tensor whose reference is all zeros */
/* The weight change over the 10 steps (final - initial) is 0.2 % to 7 % of the weights, so
 * the 1e-4 check on the weights alone would let an update off by a few percent pass. The
 * change is checked too, relative to its own largest element. It carries the rounding of
 * the weights: one ulp of conv2d#0.weight (|w| 0.23) is 3e-5 of its change (5e-4), so the
 * bound leaves room for ~30 ulp of drift between BLAS builds; measured: 1.5e-5. */
#define DTOL 1e-3

/* u(k, i) in [0, 1) with 24 bits, as gen_golden.py's unif(). */
static double unif(uint64_t k, uint64_t i)
{
    uint64_t h = (i + 1) * 0x9E3779B97F4A7C15ull + k * 0xD1B54A32D192ED03ull;
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return (double)(h >> 40) / (double)(1u << 24);
}

static void make_batch(int s, float *x, int32_t *y)
{
    for (int64_t i = 0; i < (int64_t)BATCH * SAMPLE; i++) {
        x[i] = (float)(2.0 * unif(100 + (uint64_t)s, (uint64_t)i) - 1.0);
    }
    for (int j = 0; j < BATCH; j++) {
        y[j] = (3 * j + s) % 10;
    }
}

/* Worst errors of one category over its tensors. */
typedef struct worst {
    double rel;
    char name[64];
} worst;

static void note(worst *w, double rel, const char *name)
{
    if (rel > w->rel || w->name[0] == '\0') {
        w->rel = rel;
        snprintf(w->name, sizeof w->name, "%s", name);
    }
}

/* Compare got[0..n) with the reference to tol of its largest value (golden_util.c); prints
 * the tensor's relative error and returns it. */
static double compare(const char *what, const char *name, const float *got, const float *want,
                      int64_t n, double tol)
{
    char label[96];
    snprintf(label, sizeof label, "%s %s", what, name);
    return golden_compare(label, got, want, n, tol, ATOL, 1);
}

/* The reference tensor `name`, checked to be F32 with n elements; NULL (and a failure) if
 * not. */
static const float *ref_tensor(const lam_st_file *st, const char *name, int64_t n,
                               const lam_st_tensor **out)
{
    const lam_st_tensor *t = lam__st_find(st, name);
    if (!T_CHECK(t != NULL, "dump has no tensor '%s'", name) ||
        !T_CHECK(t->dtype == LAM_ST_F32 && t->numel == n,
                 "'%s': dtype %d, %lld elements, "
                 "want F32 and %lld",
                 name, t->dtype, (long long)t->numel, (long long)n)) {
        return NULL;
    }
    if (out != NULL) {
        *out = t;
    }
    return (const float *)t->data;
}

/* PyTorch's name for a lamina parameter: "conv2d#0.weight" -> "0.weight" (the layer
 * indices of lamina's model and of PyTorch's nn.Sequential agree). */
static const char *torch_name(const char *name)
{
    const char *h = strchr(name, '#');
    return h != NULL ? h + 1 : name;
}

/* Set every parameter from gen_golden.py's formula; copies the initial weights to w0. */
static int init_params(const lam_st_file *st, lam_param *p, int np, float **w0, int verbose)
{
    char key[96];
    double fan_in = 0.0;
    for (int t = 0; t < np; t++) {
        snprintf(key, sizeof key, "final.%s", torch_name(p[t].name));
        const lam_st_tensor *ref = NULL;
        if (ref_tensor(st, key, p[t].n, &ref) == NULL) {
            return 0;
        }
        if (!p[t].is_bias) {
            /* fan_in from PyTorch's shape: (C_out, C_in, KH, KW) or (out, in) */
            fan_in = (double)(ref->numel / ref->shape[0]);
            T_CHECK(p[t].fan_in == (int64_t)fan_in, "%s: fan_in %lld, PyTorch's %.0f", p[t].name,
                    (long long)p[t].fan_in, fan_in);
        }
        if (verbose) {
            printf("  param %d: %-16s <-> %-10s %lld floats, fan_in %.0f\n", t, p[t].name,
                   torch_name(p[t].name), (long long)p[t].n, fan_in);
        }
        double scale = 1.0 / sqrt(fan_in);
        for (int64_t i = 0; i < p[t].n; i++) {
            p[t].w[i] = (float)((2.0 * unif((uint64_t)t, (uint64_t)i) - 1.0) * scale);
        }
        memcpy(w0[t], p[t].w, sizeof(float) * (size_t)p[t].n);
    }
    return 1;
}

static void run(const lam_st_file *st, lam_kernel_set kernels, const char *label)
{
    printf("%s kernels\n", label);
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.kernels = kernels;
    lam_ctx *ctx = NULL;
    lam_model *m = NULL;
    lam_optim *opt = NULL;
    lam_param *p = NULL;
    int np = 0;
    float *w0[16] = {0};
    float *x = malloc(sizeof(float) * BATCH * SAMPLE), *delta = NULL;
    int32_t y[BATCH];
    const int64_t in_shape[3] = {C_IN, H_IN, W_IN};
    const lam_loss_desc ld = {LAM_LOSS_SOFTMAX_XENT, 0.0f, 0.0f};
    worst wl = {0}, wg = {0}, ww = {0}, wd = {0}, wloss = {0};
    char key[96];

    if (!T_CHECK(x != NULL, "out of memory") ||
        !T_CHECK(lam_ctx_create(&cfg, &ctx) == LAM_OK, "ctx") ||
        !T_CHECK(lam_model_create(ctx, "seed-cnn", 3, in_shape, N_OUT, BATCH, &m) == LAM_OK,
                 "seed-cnn: %s", lam_ctx_errmsg(ctx)) ||
        !T_CHECK(lam_model_params(m, &p, &np) == LAM_OK && np == 10,
                 "seed-cnn has %d parameters, want 10", np)) {
        goto done;
    }
    int64_t nmax = 0;
    for (int t = 0; t < np; t++) {
        w0[t] = malloc(sizeof(float) * (size_t)p[t].n);
        nmax = p[t].n > nmax ? p[t].n : nmax;
        if (!T_CHECK(w0[t] != NULL, "out of memory")) {
            goto done;
        }
    }
    delta = malloc(sizeof(float) * (size_t)nmax * 2);
    if (!T_CHECK(delta != NULL, "out of memory") ||
        !init_params(st, p, np, w0, kernels == LAM_KERNELS_FAST)) {
        goto done;
    }

    /* First step by hand: logits, loss, gradients. */
    const float *logits = NULL;
    double loss = 0.0;
    make_batch(0, x, y);
    lam_model_zero_grad(m);
    if (!T_CHECK(lam_model_forward(m, x, BATCH, 1, &logits) == LAM_OK, "forward: %s",
                 lam_ctx_errmsg(ctx)) ||
        !T_CHECK(lam_model_loss(m, &ld, y, NULL, &loss, NULL) == LAM_OK, "loss: %s",
                 lam_ctx_errmsg(ctx)) ||
        !T_CHECK(lam_model_backward(m) == LAM_OK, "backward: %s", lam_ctx_errmsg(ctx))) {
        goto done;
    }
    const float *r = ref_tensor(st, "logits", BATCH * N_OUT, NULL);
    if (r != NULL) {
        note(&wl, compare("logits", "(8, 10)", logits, r, BATCH * N_OUT, RTOL), "logits");
    }
    const float *rl = ref_tensor(st, "loss", 1, NULL);
    if (rl != NULL) {
        float lf = (float)loss;
        note(&wloss, compare("loss", "", &lf, rl, 1, RTOL), "loss");
    }
    for (int t = 0; t < np; t++) {
        snprintf(key, sizeof key, "grad.%s", torch_name(p[t].name));
        r = ref_tensor(st, key, p[t].n, NULL);
        if (r != NULL) {
            note(&wg, compare("grad", p[t].name, p[t].g, r, p[t].n, RTOL), p[t].name);
        }
    }

    /* 10 SGD-momentum steps, the first on the same batch (gradients recomputed). */
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_SGD);
    od.lr = LR;
    od.momentum = MOMENTUM;
    if (!T_CHECK(lam_optim_create(ctx, &od, p, np, &opt) == LAM_OK, "optim: %s",
                 lam_ctx_errmsg(ctx))) {
        goto done;
    }
    float losses[STEPS];
    for (int s = 0; s < STEPS; s++) {
        make_batch(s, x, y);
        double l = 0.0;
        if (!T_CHECK(lam_model_train_step(m, opt, &ld, x, y, NULL, BATCH, LR, 0.0, &l, NULL) ==
                         LAM_OK,
                     "step %d: %s", s, lam_ctx_errmsg(ctx))) {
            goto done;
        }
        losses[s] = (float)l;
    }
    r = ref_tensor(st, "losses", STEPS, NULL);
    if (r != NULL) {
        note(&wloss, compare("losses", "(10)", losses, r, STEPS, RTOL), "losses");
    }
    for (int t = 0; t < np; t++) {
        snprintf(key, sizeof key, "final.%s", torch_name(p[t].name));
        r = ref_tensor(st, key, p[t].n, NULL);
        if (r == NULL) {
            continue;
        }
        note(&ww, compare("weight", p[t].name, p[t].w, r, p[t].n, RTOL), p[t].name);
        float *dg = delta, *dr = delta + p[t].n;
        for (int64_t i = 0; i < p[t].n; i++) {
            dg[i] = p[t].w[i] - w0[t][i];
            dr[i] = r[i] - w0[t][i];
        }
        note(&wd, compare("change", p[t].name, dg, dr, p[t].n, DTOL), p[t].name);
    }
    printf("%s kernels: worst relative error  logits %.2e  loss %.2e  grads %.2e (%s)  "
           "weights %.2e (%s)  weight change %.2e (%s)\n",
           label, wl.rel, wloss.rel, wg.rel, wg.name, ww.rel, ww.name, wd.rel, wd.name);

done:
    lam_optim_destroy(opt);
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    for (int t = 0; t < 16; t++) {
        free(w0[t]);
    }
    free(delta);
    free(x);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_golden seed_cnn_golden.safetensors\n");
        return 1;
    }
    lam_ctx *ctx = NULL;
    lam_st_file *st = NULL;
    if (!T_CHECK(lam_ctx_create(NULL, &ctx) == LAM_OK, "ctx")) {
        return t_exit("golden");
    }
    if (T_CHECK(lam__st_open(ctx, argv[1], &st) == LAM_OK, "%s", lam_ctx_errmsg(ctx))) {
        printf("golden dump %s (torch %s)\n", argv[1],
               lam__st_meta(st, "torch") != NULL ? lam__st_meta(st, "torch") : "?");
        run(st, LAM_KERNELS_FAST, "fast");
        run(st, LAM_KERNELS_REF, "ref");
    }
    lam__st_close(ctx, st);
    lam_ctx_destroy(ctx);
    return t_exit("golden");
}
