/* Golden test against PyTorch 1.13, in the manner of llm.c's test_gpt2.c: lamina's built-in
 * gpt-mini, nanoGPT's state_dict imported by name (lam_model_import), gives PyTorch's
 * logits (1e-4 relative) and loss (1e-4) on a batch of 4 x 64 tokens, every parameter's
 * gradient (1e-3 relative, each tensor against its largest element; the tied embedding's
 * summed over the embedding and the head), and the losses of 10 AdamW steps on that batch
 * (1e-4), with the fast and the reference kernels.
 *
 * argv[1] is gpt_weights.safetensors (the state_dict) and argv[2] gpt_golden.safetensors
 * (the batch and PyTorch's results), both made by gen_gpt.py next to this file, which
 * documents them; CI needs no PyTorch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"
#include "harness.h"
#include "lamina.h"
#include "safetensors.h"

enum { V = 65, N = 4, T = 64, STEPS = 10 };
/* parameters, and the state_dict's tensors: lm_head.weight besides the 52 parameters */
enum { PARAMS = 809856, FILE_TENSORS = 53 };
#define RTOL_OUT 1e-4  /* logits, losses */
#define RTOL_GRAD 1e-3 /* gradients */
#define ATOL 1e-7
#define LR 1e-3
#define BETA2 0.99
#define WEIGHT_DECAY 0.1

typedef struct worst {
    double rel;
    char name[320];
} worst;

static worst g_logits, g_loss, g_grad; /* over both kernel sets, for the summary */

static double compare(worst *w, const char *what, const float *got, const float *want, int64_t n,
                      double rtol, int verbose)
{
    const double rel = golden_compare(what, got, want, n, rtol, ATOL, verbose);
    if (rel >= w->rel) {
        w->rel = rel;
        snprintf(w->name, sizeof w->name, "%s", what);
    }
    return rel;
}

static void run(const lam_st_file *st, const char *weights, lam_kernel_set kernels,
                const char *label)
{
    lam_ctx_desc cd;
    lam_ctx_desc_init(&cd);
    cd.kernels = kernels;
    lam_ctx *ctx = NULL;
    lam_model *m = NULL;
    lam_optim *opt = NULL;
    char key[256], what[320];
    printf("gpt-mini [%s]\n", label);

    const float *x = golden_f32(st, "x", N * T);
    const float *logits_want = golden_f32(st, "logits", N * T * V);
    const float *loss_want = golden_f32(st, "loss", 1);
    const float *losses_want = golden_f32(st, "losses", STEPS);
    const float *final_want = golden_f32(st, "loss_final", 1);
    const lam_st_tensor *yt = lam__st_find(st, "y");
    int32_t labels[N * T];
    if (x == NULL || logits_want == NULL || loss_want == NULL || losses_want == NULL ||
        final_want == NULL ||
        !T_CHECK(yt != NULL && yt->dtype == LAM_ST_I64 && yt->numel == N * T,
                 "fixture tensor 'y' missing or not I64 of %d", N * T) ||
        !T_CHECK(lam_ctx_create(&cd, &ctx) == LAM_OK, "ctx") ||
        !T_CHECK(lam_model_create(ctx, "gpt-mini", 1, (int64_t[]){T}, V, N, &m) == LAM_OK,
                 "gpt-mini: %s", lam_ctx_errmsg(ctx))) {
        goto done;
    }
    for (int i = 0; i < N * T; i++) {
        int64_t v;
        memcpy(&v, (const char *)yt->data + 8 * i, sizeof v);
        labels[i] = (int32_t)v;
    }
    int nd = 0;
    int64_t shape[3] = {0, 0, 0};
    lam_model_out_shape(m, &nd, shape);
    T_CHECK(nd == 2 && shape[0] == T && shape[1] == V, "output is %dd %lldx%lld, want %dx%d", nd,
            (long long)shape[0], (long long)shape[1], T, V);
    T_CHECK(lam_model_param_count(m) == PARAMS, "gpt-mini has %lld parameters, want %d",
            (long long)lam_model_param_count(m), PARAMS);

    /* PyTorch's state_dict, by name; lm_head.weight lands in the tied embedding matrix */
    lam_import_report rep;
    if (!T_CHECK(lam_model_import(m, weights, NULL, &rep) == LAM_OK, "import: %s",
                 lam_ctx_errmsg(ctx))) {
        goto done;
    }
    T_CHECK(rep.tensors == FILE_TENSORS && rep.ignored == 0 && rep.converted == 0 &&
                rep.floats == PARAMS + (int64_t)V * 128,
            "import report: %d tensors, %d ignored, %d converted, %lld values", rep.tensors,
            rep.ignored, rep.converted, (long long)rep.floats);

    /* forward, loss, gradients */
    lam_param *p = NULL;
    int np = 0;
    const int want_np = golden_count_prefix(st, "grad.");
    if (!T_CHECK(lam_model_params(m, &p, &np) == LAM_OK && np == want_np,
                 "lamina has %d parameter tensors, PyTorch %d", np, want_np)) {
        goto done;
    }
    const float *y = NULL;
    lam_model_zero_grad(m);
    if (!T_CHECK(lam_model_forward(m, x, N, 1, &y) == LAM_OK, "forward: %s", lam_ctx_errmsg(ctx))) {
        goto done;
    }
    snprintf(what, sizeof what, "[%s] logits", label);
    compare(&g_logits, what, y, logits_want, N * T * V, RTOL_OUT, 1);
    lam_loss_desc ld;
    lam_loss_desc_init(&ld, LAM_LOSS_SEQ_XENT);
    double loss = 0.0;
    if (!T_CHECK(lam_model_loss(m, &ld, labels, NULL, &loss, NULL) == LAM_OK, "loss: %s",
                 lam_ctx_errmsg(ctx)) ||
        !T_CHECK(lam_model_backward(m) == LAM_OK, "backward: %s", lam_ctx_errmsg(ctx))) {
        goto done;
    }
    float lossf = (float)loss;
    snprintf(what, sizeof what, "[%s] loss", label);
    compare(&g_loss, what, &lossf, loss_want, 1, RTOL_OUT, 1);
    worst wg = {0, ""};
    int64_t total = 0;
    for (int i = 0; i < np; i++) {
        snprintf(key, sizeof key, "grad.%s", p[i].name);
        const float *want = golden_f32(st, key, p[i].n);
        if (want != NULL) {
            snprintf(what, sizeof what, "[%s] %s", label, key);
            compare(&wg, what, p[i].g, want, p[i].n, RTOL_GRAD, 0);
        }
        total += p[i].n;
    }
    T_CHECK(total == PARAMS, "the parameter views hold %lld values, want %d", (long long)total,
            PARAMS);
    printf("  worst of %d gradients %.3e (%s)\n", np, wg.rel, wg.name);
    if (wg.rel >= g_grad.rel) {
        g_grad = wg;
    }

    /* 10 AdamW steps on the same batch: nanoGPT's two groups (decay on dim >= 2 only) are
     * lamina's decay_bias = 0 (biases and LayerNorm tensors are is_bias) */
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_ADAMW);
    od.lr = LR;
    od.beta2 = BETA2;
    od.decoupled_weight_decay = WEIGHT_DECAY;
    od.decay_bias = 0;
    if (!T_CHECK(lam_optim_create(ctx, &od, p, np, &opt) == LAM_OK, "adamw: %s",
                 lam_ctx_errmsg(ctx))) {
        goto done;
    }
    lam_step_desc sd;
    lam_step_desc_init(&sd);
    sd.x = x;
    sd.labels = labels;
    sd.n = N;
    sd.loss = ld;
    sd.lr = LR;
    worst ws = {0, ""};
    for (int s = 0; s < STEPS; s++) {
        lam_step_result res;
        if (!T_CHECK(lam_model_train_batch(m, opt, &sd, &res) == LAM_OK, "step %d: %s", s + 1,
                     lam_ctx_errmsg(ctx))) {
            goto done;
        }
        lossf = (float)res.loss;
        snprintf(what, sizeof what, "[%s] loss of step %d", label, s + 1);
        compare(&ws, what, &lossf, &losses_want[s], 1, RTOL_OUT, 0);
        printf("  step %2d  loss %.6f  PyTorch %.6f\n", s + 1, res.loss, (double)losses_want[s]);
    }
    if (T_CHECK(lam_model_forward(m, x, N, 0, &y) == LAM_OK, "forward: %s", lam_ctx_errmsg(ctx)) &&
        T_CHECK(lam_model_loss(m, &ld, labels, NULL, &loss, NULL) == LAM_OK, "loss: %s",
                lam_ctx_errmsg(ctx))) {
        lossf = (float)loss;
        snprintf(what, sizeof what, "[%s] loss after step %d", label, STEPS);
        compare(&ws, what, &lossf, final_want, 1, RTOL_OUT, 1);
    }
    printf("  worst of %d step losses %.3e (%s)\n", STEPS + 1, ws.rel, ws.name);
    if (ws.rel >= g_loss.rel) {
        g_loss = ws;
    }
done:
    lam_optim_destroy(opt);
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_gpt GPT_WEIGHTS.safetensors GPT_GOLDEN.safetensors\n");
        return 2;
    }
    lam_ctx *ctx = NULL;
    lam_st_file *st = golden_open("test_gpt", argv[2], &ctx);
    if (st == NULL) {
        return 1;
    }
    const char *vocab = lam__st_meta(st, "vocab");
    const char *model = lam__st_meta(st, "model");
    T_CHECK(vocab != NULL && atoi(vocab) == V && model != NULL && strcmp(model, "gpt-mini") == 0,
            "the fixture was made for %s with a vocabulary of %s", model ? model : "(no model)",
            vocab ? vocab : "(none)");
    const lam_kernel_set sets[2] = {LAM_KERNELS_FAST, LAM_KERNELS_REF};
    const char *labels[2] = {"fast", "ref"};
    for (int k = 0; k < 2; k++) {
        run(st, argv[1], sets[k], labels[k]);
    }
    printf("worst logits %.3e (%s)\nworst loss %.3e (%s)\nworst gradient %.3e (%s)\n", g_logits.rel,
           g_logits.name, g_loss.rel, g_loss.name, g_grad.rel, g_grad.name);
    lam__st_close(ctx, st);
    lam_ctx_destroy(ctx);
    return t_exit("golden_gpt");
}
