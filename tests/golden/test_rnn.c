/* Golden test against PyTorch 1.13: lamina's embedding, rnn, lstm and gru layers (and
 * linear over a sequence) give PyTorch's outputs and final states (h_n, c_n) within 1e-5
 * relative, its MSE loss, and every parameter's gradient within 1e-4 relative (each tensor
 * against its largest element), from zero or from given initial states (lam_model_states
 * with lam_model_set_carry), with the fast and the reference kernels; and the char-LSTM,
 * its PyTorch state_dict imported by name (lam_model_import, what `lamina import` rests
 * on), gives PyTorch's eval-mode logits, final states and per-position cross-entropy.
 *
 * argv[1] is rnn_golden.safetensors (every case's weights, inputs and PyTorch's results)
 * and argv[2] char_lstm_weights.safetensors (the char-LSTM's state_dict), both made by
 * gen_rnn.py next to this file, which documents them; CI needs no PyTorch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"
#include "harness.h"
#include "lamina.h"
#include "safetensors.h"

enum { N = 3, MAX_BATCH = 4 };
#define RTOL_OUT 1e-5  /* outputs, final states, losses */
#define RTOL_GRAD 1e-4 /* gradients */
#define ATOL 1e-7

/* One golden case: the fixture's prefix, the spec, the sample shapes (in_ndim 1: token
 * ids (T); 2: features (T, D)), n_out (what `out` means in the spec) and whether PyTorch
 * started from given initial states (C.init.*), which lamina takes with carry = 1. */
typedef struct rnn_case {
    const char *name;
    const char *spec;
    int in_ndim;
    int64_t in_shape[2];
    int out_ndim;
    int64_t out_shape[2];
    int64_t n_out;
    int carry;
} rnn_case;

static const rnn_case CASES[] = {
    {"emb", "embedding:11,5,name=emb", 1, {6}, 2, {6, 5}, 5, 0},
    {"emb_lstm", "embedding:11,5,name=emb lstm:6,name=lstm", 1, {6}, 2, {6, 6}, 6, 0},
    {"rnn_tanh", "rnn:6,name=rnn", 2, {5, 5}, 2, {5, 6}, 6, 0},
    {"rnn_relu2", "rnn:5,layers=2,nonlinearity=relu,name=rnn", 2, {6, 4}, 2, {6, 5}, 5, 0},
    {"rnn_bi_last_h0", "rnn:4,bidirectional=1,out=last,name=rnn", 2, {5, 3}, 1, {8}, 8, 1},
    {"lstm_bi2", "lstm:5,layers=2,bidirectional=1,name=lstm", 2, {5, 6}, 2, {5, 10}, 10, 0},
    {"lstm_bi2_h0", "lstm:5,layers=2,bidirectional=1,name=lstm", 2, {5, 6}, 2, {5, 10}, 10, 1},
    {"lstm2_last_h0", "lstm:6,layers=2,out=last,name=lstm", 2, {7, 4}, 1, {6}, 6, 1},
    {"lstm_linear", "lstm:5,name=lstm linear:out,name=head", 2, {4, 4}, 2, {4, 3}, 3, 0},
    {"gru2", "gru:6,layers=2,name=gru", 2, {6, 5}, 2, {6, 6}, 6, 0},
    {"gru_bi2_h0", "gru:4,layers=2,bidirectional=1,out=last,name=gru", 2, {4, 3}, 1, {8}, 8, 1},
};
enum { N_CASES = (int)(sizeof CASES / sizeof CASES[0]) };

/* The char-LSTM (lamina's built-in char-lstm) for a vocabulary of CHAR_V. */
#define CHAR_SPEC                                                                                  \
    "embedding:vocab,64,name=encoder lstm:256,layers=2,dropout=0.2,name=rnn "                      \
    "linear:vocab,name=decoder"
enum { CHAR_V = 20, CHAR_N = 2, CHAR_T = 5, CHAR_PARAMS = 862484, CHAR_TENSORS = 11 };

/* Worst relative error over a family of tensors. */
typedef struct worst {
    double rel;
    char name[320];
} worst;

static worst g_out, g_grad; /* over every case and kernel set, for the summary */

static void note(worst *w, double rel, const char *name)
{
    if (rel >= w->rel) {
        w->rel = rel;
        snprintf(w->name, sizeof w->name, "%s", name);
    }
}

/* PyTorch's values to rtol of the largest one (golden_util.c), the worst noted. */
static double compare(const char *what, const float *got, const float *want, int64_t n,
                      double rtol, int verbose)
{
    const double rel = golden_compare(what, got, want, n, rtol, ATOL, verbose);
    note(rtol == RTOL_GRAD ? &g_grad : &g_out, rel, what);
    return rel;
}

static const lam_st_tensor *ref_tensor(const lam_st_file *st, const char *name, int dtype)
{
    const lam_st_tensor *t = lam__st_find(st, name);
    T_CHECK(t != NULL && t->dtype == dtype, "fixture tensor '%s' missing or not %s", name,
            lam__st_dtype_name(dtype));
    return t != NULL && t->dtype == dtype ? t : NULL;
}

/* The fixture's (rows, n, H) state called key, checked against view v of (rows,
 * MAX_BATCH, H); NULL (and a failed check) when they do not fit. */
static const lam_st_tensor *state_ref(const lam_st_file *st, const char *key, int64_t n,
                                      const lam_param *v)
{
    const lam_st_tensor *t = ref_tensor(st, key, LAM_ST_F32);
    if (t == NULL ||
        !T_CHECK(t->ndim == 3 && t->shape[1] == n && v->n == t->shape[0] * MAX_BATCH * t->shape[2],
                 "%s: fixture %lldx%lldx%lld, lamina's view '%s' has %lld "
                 "values (want rows x %d x H)",
                 key, (long long)t->shape[0], (long long)t->shape[1], (long long)t->shape[2],
                 v->name, (long long)v->n, MAX_BATCH)) {
        return NULL;
    }
    return t;
}

/* Compare every state view's rows 0..n-1 with the fixture's "<prefix>.state.<name>". */
static void compare_states(const lam_st_file *st, const char *prefix, const char *label,
                           lam_model *m, int64_t n, int verbose)
{
    lam_param *sv = NULL;
    int ns = 0;
    char key[256], what[256];
    snprintf(key, sizeof key, "%s.state.", prefix);
    const int want_ns = golden_count_prefix(st, key);
    if (!T_CHECK(lam_model_states(m, &sv, &ns) == LAM_OK && ns == want_ns,
                 "%s: lamina has %d state views, PyTorch %d", prefix, ns, want_ns)) {
        return;
    }
    for (int i = 0; i < ns; i++) {
        snprintf(key, sizeof key, "%s.state.%s", prefix, sv[i].name);
        const lam_st_tensor *t = state_ref(st, key, n, &sv[i]);
        if (t == NULL) {
            continue;
        }
        const int64_t rows = t->shape[0], h = t->shape[2];
        float *got = t_alloc_floats(rows * n * h);
        for (int64_t r = 0; r < rows; r++) {
            memcpy(got + r * n * h, sv[i].w + r * MAX_BATCH * h, (size_t)(n * h) * sizeof *got);
        }
        snprintf(what, sizeof what, "%s [%s] %s", prefix, label, sv[i].name);
        compare(what, got, t->data, rows * n * h, RTOL_OUT, verbose);
        free(got);
    }
}

/* Every state view zero, then, when the case has them, the fixture's initial states in
 * rows 0..N-1: what the next forward starts from with carry = 1. */
static void load_states(const lam_st_file *st, const rnn_case *c, lam_model *m)
{
    lam_param *sv = NULL;
    int ns = 0;
    char key[256];
    if (lam_model_states(m, &sv, &ns) != LAM_OK) {
        return;
    }
    for (int i = 0; i < ns; i++) {
        memset(sv[i].w, 0, (size_t)sv[i].n * sizeof *sv[i].w);
        if (!c->carry) {
            continue;
        }
        snprintf(key, sizeof key, "%s.init.%s", c->name, sv[i].name);
        const lam_st_tensor *t = state_ref(st, key, N, &sv[i]);
        if (t == NULL) {
            continue;
        }
        const int64_t h = t->shape[2];
        const float *src = t->data;
        for (int64_t r = 0; r < t->shape[0]; r++) {
            memcpy(sv[i].w + r * MAX_BATCH * h, src + r * N * h, (size_t)(N * h) * sizeof *src);
        }
    }
    snprintf(key, sizeof key, "%s.init.", c->name);
    T_CHECK(!c->carry || golden_count_prefix(st, key) == ns,
            "%s: %d initial states for %d views", c->name, golden_count_prefix(st, key), ns);
}

static int64_t numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        n *= shape[i];
    }
    return n;
}

/* Check the model's output shape against the case's. */
static int check_out_shape(lam_model *m, const char *name, int ndim, const int64_t *want)
{
    int nd = 0;
    int64_t shape[3] = {0, 0, 0};
    lam_model_out_shape(m, &nd, shape);
    int ok = nd == ndim;
    for (int i = 0; ok && i < ndim; i++) {
        ok = shape[i] == want[i];
    }
    return T_CHECK(ok, "%s: output shape is %dd (%lld, %lld), want %dd (%lld, %lld)", name, nd,
                   (long long)shape[0], (long long)shape[1], ndim, (long long)want[0],
                   (long long)(ndim > 1 ? want[1] : 0));
}

static void run_case(const lam_st_file *st, const rnn_case *c, lam_kernel_set kernels,
                     const char *label)
{
    lam_ctx_desc cd;
    lam_ctx_desc_init(&cd);
    cd.kernels = kernels;
    lam_ctx *ctx = NULL;
    lam_model *m = NULL;
    char key[256], what[300];
    const int64_t in_n = numel(c->in_ndim, c->in_shape), out_n = numel(c->out_ndim, c->out_shape);
    printf("%s [%s]: %s\n", c->name, label, c->spec);

    snprintf(key, sizeof key, "spec.%s", c->name);
    const char *spec = lam__st_meta(st, key);
    T_CHECK(spec != NULL && strcmp(spec, c->spec) == 0, "%s: the fixture was made for '%s'",
            c->name, spec != NULL ? spec : "(no spec)");
    snprintf(key, sizeof key, "%s.x", c->name);
    const float *x = golden_f32(st, key, N * in_n);
    snprintf(key, sizeof key, "%s.target", c->name);
    const float *target = golden_f32(st, key, N * out_n);
    snprintf(key, sizeof key, "%s.y", c->name);
    const float *y_want = golden_f32(st, key, N * out_n);
    snprintf(key, sizeof key, "%s.loss", c->name);
    const float *loss_want = golden_f32(st, key, 1);
    if (x == NULL || target == NULL || y_want == NULL || loss_want == NULL ||
        !T_CHECK(lam_ctx_create(&cd, &ctx) == LAM_OK, "ctx") ||
        !T_CHECK(lam_model_create(ctx, c->spec, c->in_ndim, c->in_shape, c->n_out, MAX_BATCH, &m) ==
                     LAM_OK,
                 "%s: '%s': %s", c->name, c->spec, lam_ctx_errmsg(ctx)) ||
        !check_out_shape(m, c->name, c->out_ndim, c->out_shape)) {
        goto done;
    }

    /* PyTorch's weights, by name */
    lam_param *p = NULL;
    int np = 0;
    snprintf(key, sizeof key, "%s.param.", c->name);
    const int want_np = golden_count_prefix(st, key);
    if (!T_CHECK(lam_model_params(m, &p, &np) == LAM_OK && np == want_np,
                 "%s: lamina has %d parameter tensors, PyTorch %d", c->name, np, want_np)) {
        goto done;
    }
    int64_t total = 0;
    for (int i = 0; i < np; i++) {
        snprintf(key, sizeof key, "%s.param.%s", c->name, p[i].name);
        const float *w = golden_f32(st, key, p[i].n);
        if (w == NULL) {
            goto done;
        }
        memcpy(p[i].w, w, (size_t)p[i].n * sizeof *w);
        total += p[i].n;
    }
    T_CHECK(lam_model_param_count(m) == total, "%s: %lld parameters, the tensors hold %lld",
            c->name, (long long)lam_model_param_count(m), (long long)total);
    if (!T_CHECK(lam_model_set_carry(m, c->carry) == LAM_OK, "set_carry: %s",
                 lam_ctx_errmsg(ctx))) {
        goto done;
    }

    /* inference */
    const float *y = NULL;
    load_states(st, c, m);
    if (T_CHECK(lam_model_forward(m, x, N, 0, &y) == LAM_OK, "%s: eval forward: %s", c->name,
                lam_ctx_errmsg(ctx))) {
        snprintf(what, sizeof what, "%s [%s] output, eval", c->name, label);
        compare(what, y, y_want, N * out_n, RTOL_OUT, 1);
        compare_states(st, c->name, label, m, N, 1);
    }

    /* training: output, loss, gradients, and the states again */
    load_states(st, c, m);
    lam_model_zero_grad(m);
    lam_loss_desc ld;
    lam_loss_desc_init(&ld, LAM_LOSS_MSE);
    double loss = 0.0;
    if (!T_CHECK(lam_model_forward(m, x, N, 1, &y) == LAM_OK, "%s: train forward: %s", c->name,
                 lam_ctx_errmsg(ctx))) {
        goto done;
    }
    snprintf(what, sizeof what, "%s [%s] output, train", c->name, label);
    compare(what, y, y_want, N * out_n, RTOL_OUT, 0);
    compare_states(st, c->name, label, m, N, 0);
    if (!T_CHECK(lam_model_loss(m, &ld, NULL, target, &loss, NULL) == LAM_OK, "%s: loss: %s",
                 c->name, lam_ctx_errmsg(ctx)) ||
        !T_CHECK(lam_model_backward(m) == LAM_OK, "%s: backward: %s", c->name,
                 lam_ctx_errmsg(ctx))) {
        goto done;
    }
    const float lossf = (float)loss;
    snprintf(what, sizeof what, "%s [%s] MSE loss", c->name, label);
    compare(what, &lossf, loss_want, 1, RTOL_OUT, 1);
    worst wg = {0, ""};
    for (int i = 0; i < np; i++) {
        snprintf(key, sizeof key, "%s.grad.%s", c->name, p[i].name);
        const float *want = golden_f32(st, key, p[i].n);
        if (want != NULL) {
            snprintf(what, sizeof what, "%s [%s] grad.%s", c->name, label, p[i].name);
            note(&wg, compare(what, p[i].g, want, p[i].n, RTOL_GRAD, 0), p[i].name);
        }
    }
    printf("  worst of %d gradients %.3e (%s)\n", np, wg.rel, wg.name);
done:
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
}

/* The char-LSTM built from spec (the text, or the built-in's name), its PyTorch
 * state_dict imported by name, in eval mode. */
static void run_char_lstm(const lam_st_file *st, const char *weights, const char *spec,
                          lam_kernel_set kernels, const char *label)
{
    lam_ctx_desc cd;
    lam_ctx_desc_init(&cd);
    cd.kernels = kernels;
    lam_ctx *ctx = NULL;
    lam_model *m = NULL;
    char what[300];
    const int64_t in_shape[1] = {CHAR_T}, out_shape[2] = {CHAR_T, CHAR_V};
    printf("char_lstm [%s]: %s\n", label, spec);

    const char *fixture_spec = lam__st_meta(st, "spec.char_lstm");
    T_CHECK(fixture_spec != NULL && strcmp(fixture_spec, CHAR_SPEC) == 0,
            "char_lstm: the fixture was made for '%s'",
            fixture_spec != NULL ? fixture_spec : "(no spec)");
    const float *x = golden_f32(st, "char_lstm.x", CHAR_N * CHAR_T);
    const float *logits_want = golden_f32(st, "char_lstm.logits", CHAR_N * CHAR_T * CHAR_V);
    const float *loss_want = golden_f32(st, "char_lstm.loss", 1);
    const lam_st_tensor *lt = ref_tensor(st, "char_lstm.labels", LAM_ST_I64);
    int32_t labels[CHAR_N * CHAR_T];
    if (x == NULL || logits_want == NULL || loss_want == NULL || lt == NULL ||
        !T_CHECK(lt->numel == CHAR_N * CHAR_T, "char_lstm.labels: %lld values",
                 (long long)lt->numel) ||
        !T_CHECK(lam_ctx_create(&cd, &ctx) == LAM_OK, "ctx") ||
        !T_CHECK(lam_model_create(ctx, spec, 1, in_shape, CHAR_V, MAX_BATCH, &m) == LAM_OK,
                 "char_lstm: '%s': %s", spec, lam_ctx_errmsg(ctx)) ||
        !check_out_shape(m, "char_lstm", 2, out_shape)) {
        goto done;
    }
    for (int i = 0; i < CHAR_N * CHAR_T; i++) {
        int64_t v;
        memcpy(&v, (const char *)lt->data + 8 * i, sizeof v);
        labels[i] = (int32_t)v;
    }
    T_CHECK(lam_model_param_count(m) == CHAR_PARAMS, "char_lstm has %lld parameters, want %d",
            (long long)lam_model_param_count(m), CHAR_PARAMS);
    lam_import_report rep;
    if (!T_CHECK(lam_model_import(m, weights, NULL, &rep) == LAM_OK, "import: %s",
                 lam_ctx_errmsg(ctx))) {
        goto done;
    }
    T_CHECK(rep.tensors == CHAR_TENSORS && rep.ignored == 0 && rep.converted == 0 &&
                rep.floats == CHAR_PARAMS,
            "import report: %d tensors, %d ignored, %d converted, %lld values", rep.tensors,
            rep.ignored, rep.converted, (long long)rep.floats);

    const float *y = NULL;
    lam_model_reset_state(m);
    if (!T_CHECK(lam_model_forward(m, x, CHAR_N, 0, &y) == LAM_OK, "char_lstm forward: %s",
                 lam_ctx_errmsg(ctx))) {
        goto done;
    }
    snprintf(what, sizeof what, "char_lstm [%s] logits, eval", label);
    compare(what, y, logits_want, CHAR_N * CHAR_T * CHAR_V, RTOL_OUT, 1);
    compare_states(st, "char_lstm", label, m, CHAR_N, 1);
    lam_loss_desc ld;
    lam_loss_desc_init(&ld, LAM_LOSS_SEQ_XENT);
    double loss = 0.0;
    if (T_CHECK(lam_model_loss(m, &ld, labels, NULL, &loss, NULL) == LAM_OK, "char_lstm loss: %s",
                lam_ctx_errmsg(ctx))) {
        const float lossf = (float)loss;
        snprintf(what, sizeof what, "char_lstm [%s] per-position cross-entropy", label);
        compare(what, &lossf, loss_want, 1, RTOL_OUT, 1);
    }
done:
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_rnn GOLDEN.safetensors CHAR_LSTM_WEIGHTS.safetensors\n");
        return 2;
    }
    lam_ctx *ctx = NULL;
    lam_st_file *st = golden_open("test_rnn", argv[1], &ctx);
    if (st == NULL) {
        return 1;
    }
    const lam_kernel_set sets[2] = {LAM_KERNELS_FAST, LAM_KERNELS_REF};
    const char *labels[2] = {"fast", "ref"};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < N_CASES; i++) {
            run_case(st, &CASES[i], sets[k], labels[k]);
        }
        run_char_lstm(st, argv[2], CHAR_SPEC, sets[k], labels[k]);
        /* the built-in, when lamina has it, must be the same model */
        if (lam_model_builtin_spec("char-lstm") != NULL) {
            run_char_lstm(st, argv[2], "char-lstm", sets[k], labels[k]);
        }
    }
    /* every case of the fixture is in CASES */
    const char *listed = lam__st_meta(st, "cases");
    int n_listed = listed != NULL && *listed != '\0';
    for (const char *s = listed; s != NULL && *s != '\0'; s++) {
        n_listed += *s == ',';
    }
    T_CHECK(n_listed == N_CASES, "the fixture has %d cases (%s), the test %d", n_listed,
            listed != NULL ? listed : "none", N_CASES);
    printf("worst output/state/loss %.3e (%s)\nworst gradient %.3e (%s)\n", g_out.rel, g_out.name,
           g_grad.rel, g_grad.name);
    lam__st_close(ctx, st);
    lam_ctx_destroy(ctx);
    return t_exit("golden_rnn");
}
