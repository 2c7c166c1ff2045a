/* Golden test against PyTorch 1.13: lamina's built-in resnet20 takes a PyTorch ResNet-20's
 * state_dict by name (lam_model_import, what `lamina import` rests on) and then gives the
 * same logits with batch norm in eval mode (running statistics) and in train mode (batch
 * statistics), the same loss and gradients, and the same weights and running statistics
 * after one SGD step with momentum and weight decay, each within 1e-4 relative (per
 * tensor, of its largest element), with the fast and the reference kernels.
 *
 * argv[1] is resnet20_weights.safetensors (the state_dict) and argv[2]
 * resnet20_golden.safetensors (the batch and PyTorch's results), both made by
 * gen_resnet20.py next to this file, which documents them; CI needs no PyTorch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"
#include "harness.h"
#include "lamina.h"
#include "safetensors.h"

enum { BATCH = 2, N_OUT = 10 };
#define RTOL 1e-4
#define ATOL 1e-7
#define LR 0.1
#define MOMENTUM 0.9
#define WEIGHT_DECAY 5e-4

/* PyTorch's values to RTOL of the largest one (golden_util.c). */
static double compare(const char *what, const float *got, const float *want, int64_t n,
                      int verbose)
{
    return golden_compare(what, got, want, n, RTOL, ATOL, verbose);
}

static const float *ref_f32(const lam_st_file *st, const char *name, int64_t n)
{
    const lam_st_tensor *t = lam__st_find(st, name);
    if (!T_CHECK(t != NULL && t->dtype == LAM_ST_F32 && t->numel == n,
                 "fixture tensor '%s' missing or not F32 of %lld", name, (long long)n)) {
        return NULL;
    }
    return t->data;
}

/* Worst relative error over a family of tensors, printed once. */
typedef struct worst {
    double rel;
    char name[200];
} worst;

static void note(worst *w, double rel, const char *name)
{
    if (rel >= w->rel) {
        w->rel = rel;
        snprintf(w->name, sizeof w->name, "%s", name);
    }
}

static void run(const char *weights, const lam_st_file *st, lam_kernel_set kernels,
                const char *label)
{
    printf("%s kernels\n", label);
    lam_ctx_desc cd;
    lam_ctx_desc_init(&cd);
    cd.kernels = kernels;
    lam_ctx *ctx = NULL;
    lam_model *m = NULL;
    lam_optim *opt = NULL;
    const int64_t shape[3] = {3, 32, 32};
    const float *x = ref_f32(st, "x", BATCH * 3 * 32 * 32);
    const lam_st_tensor *lt = lam__st_find(st, "labels");
    int32_t labels[BATCH];
    if (x == NULL || !T_CHECK(lt != NULL && lt->dtype == LAM_ST_I64 && lt->numel == BATCH,
                              "labels") ||
        !T_CHECK(lam_ctx_create(&cd, &ctx) == LAM_OK, "ctx") ||
        !T_CHECK(lam_model_create(ctx, "resnet20", 3, shape, N_OUT, BATCH, &m) == LAM_OK,
                 "resnet20: %s", lam_ctx_errmsg(ctx))) {
        goto done;
    }
    for (int i = 0; i < BATCH; i++) {
        int64_t v;
        memcpy(&v, (const char *)lt->data + 8 * i, sizeof v);
        labels[i] = (int32_t)v;
    }
    T_CHECK(lam_model_param_count(m) == 272474, "resnet20 has %lld parameters, want 272474",
            (long long)lam_model_param_count(m));
    lam_import_report rep;
    if (!T_CHECK(lam_model_import(m, weights, NULL, &rep) == LAM_OK, "import: %s",
                 lam_ctx_errmsg(ctx))) {
        goto done;
    }
    /* 65 parameters and 42 running statistics of 21 batch norms (19 in the blocks' main
     * paths, 2 in projections); their 21 num_batches_tracked are ignored */
    T_CHECK(rep.tensors == 107 && rep.ignored == 21 && rep.converted == 0,
            "import report: %d tensors, %d ignored, %d converted", rep.tensors, rep.ignored,
            rep.converted);

    const float *out = NULL, *want;
    if (T_CHECK(lam_model_forward(m, x, BATCH, 0, &out) == LAM_OK, "eval forward: %s",
                lam_ctx_errmsg(ctx)) &&
        (want = ref_f32(st, "logits_eval", BATCH * N_OUT)) != NULL) {
        compare("logits, eval-mode batch norm", out, want, BATCH * N_OUT, 1);
    }

    lam_param *p = NULL;
    int np = 0;
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_SGD);
    od.momentum = MOMENTUM;
    od.weight_decay = WEIGHT_DECAY;
    const lam_loss_desc ld = {LAM_LOSS_SOFTMAX_XENT, 0.0f, 0.0f};
    double loss = 0.0;
    if (!T_CHECK(lam_model_params(m, &p, &np) == LAM_OK && np == 65, "%d parameters", np) ||
        !T_CHECK(lam_optim_create(ctx, &od, p, np, &opt) == LAM_OK, "optimizer: %s",
                 lam_ctx_errmsg(ctx))) {
        goto done;
    }
    lam_model_zero_grad(m);
    if (!T_CHECK(lam_model_forward(m, x, BATCH, 1, &out) == LAM_OK, "train forward: %s",
                 lam_ctx_errmsg(ctx)) ||
        (want = ref_f32(st, "logits_train", BATCH * N_OUT)) == NULL) {
        goto done;
    }
    compare("logits, train-mode batch norm", out, want, BATCH * N_OUT, 1);
    if (!T_CHECK(lam_model_loss(m, &ld, labels, NULL, &loss, NULL) == LAM_OK, "loss: %s",
                 lam_ctx_errmsg(ctx)) ||
        !T_CHECK(lam_model_backward(m) == LAM_OK, "backward: %s", lam_ctx_errmsg(ctx))) {
        goto done;
    }
    const float lossf = (float)loss;
    if ((want = ref_f32(st, "loss", 1)) != NULL) {
        compare("loss", &lossf, want, 1, 1);
    }
    char key[160];
    worst wg = {0, ""}, ww = {0, ""}, wb = {0, ""};
    for (int i = 0; i < np; i++) {
        snprintf(key, sizeof key, "grad.%s", p[i].name);
        if ((want = ref_f32(st, key, p[i].n)) != NULL) {
            note(&wg, compare(key, p[i].g, want, p[i].n, 0), key);
        }
    }
    T_CHECK(lam_optim_step(opt, LR) == LAM_OK, "step: %s", lam_ctx_errmsg(ctx));
    for (int i = 0; i < np; i++) {
        snprintf(key, sizeof key, "final.%s", p[i].name);
        if ((want = ref_f32(st, key, p[i].n)) != NULL) {
            note(&ww, compare(key, p[i].w, want, p[i].n, 0), key);
        }
    }
    lam_param *b = NULL;
    int nb = 0;
    lam_model_buffers(m, &b, &nb);
    /* the buffers follow the layers' order: two per batch norm */
    for (int i = 0, j = 0; i < lam_model_layer_count(m) && j + 1 < nb; i++) {
        lam_layer *l = lam_model_layer(m, i);
        if (strcmp(lam_layer_kind_name(l), "batchnorm") != 0) {
            continue;
        }
        for (int k = 0; k < 2; k++, j++) {
            snprintf(key, sizeof key, "final.%s.%s", lam_layer_name(l), b[j].name);
            if ((want = ref_f32(st, key, b[j].n)) != NULL) {
                note(&wb, compare(key, b[j].w, want, b[j].n, 0), key);
            }
        }
    }
    printf("  worst gradient %.3e (%s)\n  worst weight after the step %.3e (%s)\n"
           "  worst running statistic %.3e (%s)\n", wg.rel, wg.name, ww.rel, ww.name, wb.rel,
           wb.name);
done:
    lam_optim_destroy(opt);
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_resnet20 WEIGHTS.safetensors GOLDEN.safetensors\n");
        return 2;
    }
    lam_ctx *ctx = NULL;
    lam_st_file *st = golden_open("test_resnet20", argv[2], &ctx);
    if (st == NULL) {
        return 1;
    }
    run(argv[1], st, LAM_KERNELS_FAST, "fast");
    run(argv[1], st, LAM_KERNELS_REF, "reference");
    lam__st_close(ctx, st);
    lam_ctx_destroy(ctx);
    return t_exit("golden_resnet20");
}
