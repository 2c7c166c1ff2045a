/* Optimizers against hand-written double-precision formulas (PyTorch 1.13 semantics),
 * bitwise resume through the state export, no allocation in the step, out-of-memory on
 * create, and argument checks. Seed 1234 for every random fill. */
#include "core_internal.h"
#include "harness.h"
#include "lamina/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SEED 1234u
#define NW 37 /* not a multiple of any vector width */
#define NB 5
#define STEPS 7

/* -------------------------------------------------------------- the model */

/* Two parameters, a weight and a bias, so decay_bias and per-parameter state are hit. */
typedef struct model {
    float w[NW], gw[NW], b[NB], gb[NB];
    lam_param p[2];
} model;

static void model_init(model *m)
{
    t_fill_uniform(m->w, NW, -1.0f, 1.0f, SEED, 1);
    t_fill_uniform(m->b, NB, -1.0f, 1.0f, SEED, 2);
    m->p[0] = (lam_param){"fc.weight", m->w, m->gw, NW, 4, 9, 0};
    m->p[1] = (lam_param){"fc.bias", m->b, m->gb, NB, 0, 0, 1};
}

/* Gradient of step k: fixed random values plus a term in w, so the trajectory feeds back. */
static void model_grad(model *m, int k)
{
    t_fill_uniform(m->gw, NW, -1.0f, 1.0f, SEED, 100 + 2 * (uint64_t)k);
    t_fill_uniform(m->gb, NB, -1.0f, 1.0f, SEED, 101 + 2 * (uint64_t)k);
    for (int i = 0; i < NW; i++) {
        m->gw[i] += 0.5f * m->w[i];
    }
}

static double lr_of(double base, int k)
{
    return base * (1.0 + 0.25 * k); /* a varying rate: the step must use the one passed */
}

/* -------------------------------------------------- double-precision reference */

typedef struct ref_state {
    double a[NW + NB], b[NW + NB], c[NW + NB]; /* m / momentum buffer, v / square_avg, gavg */
} ref_state;

/* One element, step t (1-based): the formulas of PyTorch 1.13 torch.optim, in double. */
static double ref_update(const lam_optim_desc *d, double lr, int64_t t, double w, double g,
                         int is_bias, double *s0, double *s1, double *s2)
{
    int decays = d->decay_bias || !is_bias;
    double wd = decays ? d->weight_decay : 0.0;
    switch (d->kind) {
    case LAM_OPTIM_SGD: {
        double dp = g + wd * w;
        if (d->momentum > 0) {
            *s0 = t == 1 ? dp : d->momentum * *s0 + (1.0 - d->dampening) * dp;
            dp = d->nesterov ? dp + d->momentum * *s0 : *s0;
        }
        return w - lr * dp;
    }
    case LAM_OPTIM_ADAM:
    case LAM_OPTIM_ADAMW: {
        double dp = g;
        if (d->kind == LAM_OPTIM_ADAMW) {
            w = w * (1.0 - lr * (decays ? d->decoupled_weight_decay : 0.0));
        } else {
            dp = g + wd * w;
        }
        *s0 = d->beta1 * *s0 + (1.0 - d->beta1) * dp;
        *s1 = d->beta2 * *s1 + (1.0 - d->beta2) * dp * dp;
        double mhat = *s0 / (1.0 - pow(d->beta1, (double)t));
        double vhat = *s1 / (1.0 - pow(d->beta2, (double)t));
        return w - lr * mhat / (sqrt(vhat) + d->eps);
    }
    case LAM_OPTIM_RMSPROP: {
        double dp = g + wd * w;
        *s0 = d->alpha * *s0 + (1.0 - d->alpha) * dp * dp;
        double avg;
        if (d->centered) {
            *s2 = d->alpha * *s2 + (1.0 - d->alpha) * dp;
            avg = sqrt(*s0 - *s2 * *s2) + d->eps;
        } else {
            avg = sqrt(*s0) + d->eps;
        }
        if (d->momentum > 0) {
            *s1 = d->momentum * *s1 + dp / avg;
            return w - lr * *s1;
        }
        return w - lr * dp / avg;
    }
    default:
        return NAN;
    }
}

/* Run STEPS steps of lamina and of the reference from the same start; compare each step. */
static void check_against_ref(const char *what, const lam_optim_desc *d, double base_lr)
{
    lam_ctx *ctx = t_ctx_counting_seed(NULL, SEED);
    model m;
    model_init(&m);
    double rw[NW + NB];
    static ref_state rs;
    memset(&rs, 0, sizeof rs);
    for (int i = 0; i < NW; i++) {
        rw[i] = m.w[i];
    }
    for (int i = 0; i < NB; i++) {
        rw[NW + i] = m.b[i];
    }
    lam_optim *opt = NULL;
    lam_status st = lam_optim_create(ctx, d, m.p, 2, &opt);
    if (!T_CHECK(st == LAM_OK, "%s: create: %s (%s)", what, lam_strerror(st),
                 lam_ctx_errmsg(ctx))) {
        lam_ctx_destroy(ctx);
        return;
    }
    for (int k = 0; k < STEPS; k++) {
        model_grad(&m, k);
        double lr = lr_of(base_lr, k);
        for (int i = 0; i < NW + NB; i++) {
            double g = i < NW ? m.gw[i] : m.gb[i - NW];
            rw[i] = ref_update(d, lr, k + 1, rw[i], g, i >= NW, &rs.a[i], &rs.b[i], &rs.c[i]);
        }
        T_CHECK(lam_optim_step(opt, lr) == LAM_OK, "%s: step %d", what, k);
        float want[NW + NB], got[NW + NB];
        for (int i = 0; i < NW + NB; i++) {
            want[i] = (float)rw[i];
            got[i] = i < NW ? m.w[i] : m.b[i - NW];
        }
        char label[96];
        snprintf(label, sizeof label, "%s step %d", what, k + 1);
        if (!t_close(label, got, want, NW + NB, 2e-6, 2e-5)) {
            break;
        }
    }
    T_CHECK(lam_optim_get_step(opt) == STEPS, "%s: t = %lld", what,
            (long long)lam_optim_get_step(opt));
    lam_optim_destroy(opt);
    lam_ctx_destroy(ctx);
}

static void test_formulas(void)
{
    lam_optim_desc d;

    lam_optim_desc_init(&d, LAM_OPTIM_SGD);
    d.weight_decay = 0.05;
    check_against_ref("sgd", &d, 0.1);
    d.momentum = 0.9;
    d.dampening = 0.1;
    check_against_ref("sgd momentum+dampening", &d, 0.1);
    d.dampening = 0.0;
    d.nesterov = 1;
    check_against_ref("sgd nesterov", &d, 0.1);
    d.decay_bias = 0;
    check_against_ref("sgd nesterov decay_bias=0", &d, 0.1);

    lam_optim_desc_init(&d, LAM_OPTIM_ADAM);
    check_against_ref("adam", &d, 0.05);
    d.weight_decay = 0.1;
    d.beta1 = 0.8;
    d.beta2 = 0.95;
    d.eps = 1e-3;
    check_against_ref("adam wd", &d, 0.05);

    lam_optim_desc_init(&d, LAM_OPTIM_ADAMW);
    d.decoupled_weight_decay = 0.2;
    check_against_ref("adamw", &d, 0.05);
    d.decay_bias = 0;
    check_against_ref("adamw decay_bias=0", &d, 0.05);

    lam_optim_desc_init(&d, LAM_OPTIM_RMSPROP);
    check_against_ref("rmsprop", &d, 0.01);
    d.weight_decay = 0.05;
    d.momentum = 0.9;
    d.centered = 1;
    d.alpha = 0.9;
    check_against_ref("rmsprop centered momentum wd", &d, 0.01);
    d.centered = 0;
    check_against_ref("rmsprop momentum", &d, 0.01);
}

/* A step large enough to run in parallel blocks (70,001 + 5 elements, the weight ending in
 * a partial block): on 1 and on 2 threads it must give the same bits, and both must follow
 * the double reference element by element. */
static void run_big(const lam_optim_desc *d, int threads, float *w, float *g, int64_t n,
                    double *ref, double *s)
{
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.n_threads = threads;
    lam_ctx *ctx = NULL;
    if (!T_CHECK(lam_ctx_create(&cfg, &ctx) == LAM_OK, "big: context")) {
        return;
    }
    const int64_t nb = 5;
    lam_param p[2] = {{"big.weight", w, g, n - nb, 4, 9, 0},
                      {"big.bias", w + n - nb, g + n - nb, nb, 0, 0, 1}};
    t_fill_uniform(w, n, -1.0f, 1.0f, SEED, 7);
    for (int64_t i = 0; ref != NULL && i < n; i++) {
        ref[i] = w[i];
    }
    lam_optim *opt = NULL;
    if (T_CHECK(lam_optim_create(ctx, d, p, 2, &opt) == LAM_OK, "big: create: %s",
                lam_ctx_errmsg(ctx))) {
        for (int k = 0; k < 5; k++) {
            t_fill_uniform(g, n, -1.0f, 1.0f, SEED, 200 + (uint64_t)k);
            const double lr = lr_of(0.01, k);
            for (int64_t i = 0; ref != NULL && i < n; i++) {
                ref[i] = ref_update(d, lr, k + 1, ref[i], g[i], i >= n - nb, &s[i], &s[n + i],
                                    &s[2 * n + i]);
            }
            T_CHECK(lam_optim_step(opt, lr) == LAM_OK, "big: step %d", k);
        }
    }
    lam_optim_destroy(opt);
    lam_ctx_destroy(ctx);
}

static const char *kind_label(lam_optim_kind k)
{
    return k == LAM_OPTIM_SGD    ? "sgd"
           : k == LAM_OPTIM_ADAM ? "adam"
           : k == LAM_OPTIM_ADAMW ? "adamw"
                                  : "rmsprop";
}

static void test_threads_and_blocks(void)
{
    const int64_t n = 70006;
    float *w1 = malloc((size_t)n * sizeof(float)), *w2 = malloc((size_t)n * sizeof(float));
    float *g = malloc((size_t)n * sizeof(float)), *want = malloc((size_t)n * sizeof(float));
    double *ref = malloc((size_t)n * sizeof(double));
    double *s = calloc((size_t)n * 3, sizeof(double));
    if (w1 == NULL || w2 == NULL || g == NULL || want == NULL || ref == NULL || s == NULL) {
        T_CHECK(0, "big: out of memory");
    } else {
        lam_optim_desc d[4];
        lam_optim_desc_init(&d[0], LAM_OPTIM_SGD);
        d[0].momentum = 0.9;
        d[0].nesterov = 1;
        d[0].weight_decay = 0.05;
        lam_optim_desc_init(&d[1], LAM_OPTIM_ADAM);
        d[1].weight_decay = 0.1;
        lam_optim_desc_init(&d[2], LAM_OPTIM_ADAMW);
        d[2].decay_bias = 0;
        lam_optim_desc_init(&d[3], LAM_OPTIM_RMSPROP);
        d[3].momentum = 0.9;
        d[3].centered = 1;
        for (int k = 0; k < 4; k++) {
            memset(s, 0, (size_t)n * 3 * sizeof(double));
            run_big(&d[k], 1, w1, g, n, ref, s);
            run_big(&d[k], 2, w2, g, n, NULL, NULL);
            char what[64];
            snprintf(what, sizeof what, "big %s, 2 threads vs 1", kind_label(d[k].kind));
            t_equal(what, w2, w1, n);
            for (int64_t i = 0; i < n; i++) {
                want[i] = (float)ref[i];
            }
            snprintf(what, sizeof what, "big %s vs reference", kind_label(d[k].kind));
            t_close(what, w1, want, n, 2e-6, 2e-5);
        }
    }
    free(w1);
    free(w2);
    free(g);
    free(want);
    free(ref);
    free(s);
}

/* Adam at t = 1, from the closed form rather than the reference: m_hat = g, v_hat = g^2, so
 * w1 = w0 - lr * g / (|g| + eps). Without bias correction the step would be ~3x smaller. */
static void test_adam_first_step(void)
{
    lam_ctx *ctx = t_ctx_counting_seed(NULL, SEED);
    model m;
    model_init(&m);
    model_grad(&m, 0);
    float w0[NW], want[NW];
    memcpy(w0, m.w, sizeof w0);
    lam_optim_desc d;
    lam_optim_desc_init(&d, LAM_OPTIM_ADAM);
    lam_optim *opt = NULL;
    T_CHECK(lam_optim_create(ctx, &d, m.p, 2, &opt) == LAM_OK, "adam t=1 create");
    T_CHECK(lam_optim_step(opt, 0.1) == LAM_OK, "adam t=1 step");
    for (int i = 0; i < NW; i++) {
        double g = m.gw[i];
        want[i] = (float)(w0[i] - 0.1 * g / (fabs(g) + 1e-8));
    }
    t_close("adam t=1 closed form", m.w, want, NW, 1e-6, 1e-5);
    lam_optim_destroy(opt);
    lam_ctx_destroy(ctx);
}

/* ------------------------------------------------------------------ resume */

/* Run `total` steps; when split > 0, stop after `split`, save w, state and t, destroy
 * everything, rebuild and continue. restore_t = 0 deliberately forgets t. */
static void run(const lam_optim_desc *d, int total, int split, int restore_t, model *m)
{
    lam_ctx *ctx = t_ctx_counting_seed(NULL, SEED);
    model_init(m);
    lam_optim *opt = NULL;
    if (lam_optim_create(ctx, d, m->p, 2, &opt) != LAM_OK) {
        T_CHECK(0, "resume: create: %s", lam_ctx_errmsg(ctx));
        lam_ctx_destroy(ctx);
        return;
    }
    static float saved[8][NW];
    int n_state = lam_optim_state_count(opt);
    int64_t t = 0;
    for (int k = 0; k < total; k++) {
        if (k == split && split > 0) {
            for (int i = 0; i < n_state; i++) {
                float *s;
                int64_t n;
                lam_optim_state_get(opt, i, NULL, &s, &n);
                memcpy(saved[i], s, (size_t)n * sizeof(float));
            }
            t = lam_optim_get_step(opt);
            lam_optim_destroy(opt);
            opt = NULL;
            T_CHECK(lam_optim_create(ctx, d, m->p, 2, &opt) == LAM_OK, "resume: re-create");
            for (int i = 0; i < n_state; i++) {
                float *s;
                int64_t n;
                lam_optim_state_get(opt, i, NULL, &s, &n);
                memcpy(s, saved[i], (size_t)n * sizeof(float));
            }
            if (restore_t) {
                lam_optim_set_step(opt, t);
            }
        }
        model_grad(m, k);
        lam_optim_step(opt, lr_of(0.05, k));
    }
    lam_optim_destroy(opt);
    lam_ctx_destroy(ctx);
}

static void test_resume(void)
{
    lam_optim_kind kinds[] = {LAM_OPTIM_SGD, LAM_OPTIM_ADAM, LAM_OPTIM_ADAMW, LAM_OPTIM_RMSPROP};
    const char *names[] = {"sgd", "adam", "adamw", "rmsprop"};
    for (int i = 0; i < 4; i++) {
        lam_optim_desc d;
        lam_optim_desc_init(&d, kinds[i]);
        if (kinds[i] == LAM_OPTIM_SGD || kinds[i] == LAM_OPTIM_RMSPROP) {
            d.momentum = 0.9;
            d.weight_decay = 0.01;
        }
        if (kinds[i] == LAM_OPTIM_RMSPROP) {
            d.centered = 1;
        }
        model a, b;
        run(&d, 10, 0, 1, &a);
        run(&d, 10, 4, 1, &b);
        char label[64];
        snprintf(label, sizeof label, "%s resume weight", names[i]);
        t_equal(label, b.w, a.w, NW);
        snprintf(label, sizeof label, "%s resume bias", names[i]);
        t_equal(label, b.b, a.b, NB);
        if (kinds[i] == LAM_OPTIM_ADAM) {
            /* the test can fail: forgetting t restarts the bias correction */
            model c;
            run(&d, 10, 4, 0, &c);
            T_CHECK(memcmp(c.w, a.w, sizeof a.w) != 0, "adam resume without t should differ");
        }
    }
}

static void test_state_names(void)
{
    lam_ctx *ctx = t_ctx_counting_seed(NULL, SEED);
    model m;
    model_init(&m);
    m.p[1].name = NULL;
    lam_optim_desc d;
    lam_optim_desc_init(&d, LAM_OPTIM_RMSPROP);
    d.momentum = 0.5;
    d.centered = 1;
    lam_optim *opt = NULL;
    T_CHECK(lam_optim_create(ctx, &d, m.p, 2, &opt) == LAM_OK, "names: create");
    const char *want[] = {"rmsprop.square_avg.fc.weight", "rmsprop.momentum.fc.weight",
                          "rmsprop.grad_avg.fc.weight", "rmsprop.square_avg.#1",
                          "rmsprop.momentum.#1", "rmsprop.grad_avg.#1"};
    T_CHECK(lam_optim_state_count(opt) == 6, "names: count %d", lam_optim_state_count(opt));
    for (int i = 0; i < 6 && i < lam_optim_state_count(opt); i++) {
        const char *name = NULL;
        float *s = NULL;
        int64_t n = 0;
        T_CHECK(lam_optim_state_get(opt, i, &name, &s, &n) == LAM_OK, "names: get %d", i);
        T_CHECK(name != NULL && strcmp(name, want[i]) == 0, "names: [%d] = %s, want %s", i,
                name ? name : "(null)", want[i]);
        T_CHECK(n == (i < 3 ? NW : NB), "names: [%d] n = %lld", i, (long long)n);
        T_CHECK(((uintptr_t)s % 64) == 0, "names: [%d] not 64-byte aligned", i);
    }
    T_CHECK(lam_optim_state_get(opt, 6, NULL, NULL, NULL) == LAM_ERR_ARG, "names: get 6");
    T_CHECK(lam_optim_state_get(opt, -1, NULL, NULL, NULL) == LAM_ERR_ARG, "names: get -1");
    lam_optim_destroy(opt);

    lam_optim_desc_init(&d, LAM_OPTIM_ADAMW);
    T_CHECK(lam_optim_create(ctx, &d, m.p, 2, &opt) == LAM_OK, "names: adamw create");
    const char *name = NULL;
    lam_optim_state_get(opt, 1, &name, NULL, NULL);
    T_CHECK(name != NULL && strcmp(name, "adamw.v.fc.weight") == 0, "names: adamw [1] = %s",
            name ? name : "(null)");
    T_CHECK(fabs(lam_optim_base_lr(opt) - 1e-3) < 1e-15, "base_lr %g", lam_optim_base_lr(opt));
    lam_optim_destroy(opt);

    lam_optim_desc_init(&d, LAM_OPTIM_SGD);
    T_CHECK(lam_optim_create(ctx, &d, m.p, 2, &opt) == LAM_OK, "names: sgd create");
    T_CHECK(lam_optim_state_count(opt) == 0, "plain sgd keeps no state");
    lam_optim_destroy(opt);
    lam_ctx_destroy(ctx);
}

/* ------------------------------------------------------------------ memory */

static void test_no_alloc_in_step(void)
{
    lam_optim_kind kinds[] = {LAM_OPTIM_SGD, LAM_OPTIM_ADAM, LAM_OPTIM_ADAMW, LAM_OPTIM_RMSPROP};
    for (int i = 0; i < 4; i++) {
        t_alloc c; /* fail_at stays 0: calls counts allocations */
        lam_ctx *ctx = t_ctx_counting_seed(&c, SEED);
        model m;
        model_init(&m);
        lam_optim_desc d;
        lam_optim_desc_init(&d, kinds[i]);
        if (kinds[i] != LAM_OPTIM_ADAM && kinds[i] != LAM_OPTIM_ADAMW) {
            d.momentum = 0.9;
        }
        lam_optim *opt = NULL;
        int64_t before_create = c.calls;
        T_CHECK(lam_optim_create(ctx, &d, m.p, 2, &opt) == LAM_OK, "count: create");
        T_CHECK(c.calls == before_create + 1, "create should make one allocation, made %lld",
                (long long)(c.calls - before_create));
        int64_t before = c.calls;
        for (int k = 0; k < 20; k++) {
            model_grad(&m, k);
            lam_optim_step(opt, 0.01);
        }
        T_CHECK(c.calls == before, "optimizer %d: step allocated %lld times", i,
                (long long)(c.calls - before));
        lam_optim_destroy(opt);
        lam_optim_destroy(NULL);
        lam_ctx_destroy(ctx);
        T_CHECK(c.live == 0, "optimizer %d: %lld blocks not freed", i, (long long)c.live);
    }
}

static void test_nomem(void)
{
    t_alloc c;
    lam_ctx *ctx = t_ctx_counting_seed(&c, SEED);
    c.fail_at = c.calls + 1; /* the next allocation fails */
    model m;
    model_init(&m);
    lam_optim_desc d;
    lam_optim_desc_init(&d, LAM_OPTIM_ADAM);
    lam_optim *opt = (lam_optim *)&c; /* must stay untouched */
    lam_status st = lam_optim_create(ctx, &d, m.p, 2, &opt);
    T_CHECK(st == LAM_ERR_NOMEM, "nomem: got %s", lam_strerror(st));
    T_CHECK(opt == (lam_optim *)&c, "nomem: out written on failure");
    T_CHECK(strstr(lam_ctx_errmsg(ctx), "optim_create") != NULL, "nomem: message '%s'",
            lam_ctx_errmsg(ctx));
    T_CHECK(c.live == 1, "nomem: %lld blocks outstanding besides the context",
            (long long)(c.live - 1));
    c.fail_at = 0;
    lam_ctx_destroy(ctx);
    T_CHECK(c.live == 0, "nomem: leak %lld", (long long)c.live);
}

/* ---------------------------------------------------------------- bad arguments */

/* Callers clear the message first (EXPECT_ARG), so an old one cannot satisfy the check. */
static void expect_arg(lam_ctx *ctx, lam_status st, const char *what)
{
    T_CHECK(st == LAM_ERR_ARG, "%s: got %s, want LAM_ERR_ARG", what, lam_strerror(st));
    T_CHECK(lam_ctx_errmsg(ctx)[0] != '\0', "%s: no message", what);
    printf("  %-28s -> %s\n", what, lam_ctx_errmsg(ctx));
}

#define EXPECT_ARG(ctx, call, what)                                                           \
    do {                                                                                      \
        lam__clear_error(ctx);                                                                \
        expect_arg((ctx), (call), (what));                                                    \
    } while (0)

static void bad_desc(lam_ctx *ctx, model *m, const lam_optim_desc *d, const char *what)
{
    lam_optim *opt = NULL;
    lam__clear_error(ctx);
    lam_status st = lam_optim_create(ctx, d, m->p, 2, &opt);
    expect_arg(ctx, st, what);
    T_CHECK(opt == NULL, "%s: out written", what);
    lam_optim_destroy(opt);
}

static void test_bad_args(void)
{
    lam_ctx *ctx = t_ctx_counting_seed(NULL, SEED);
    model m;
    model_init(&m);
    lam_optim_desc d, base;
    lam_optim *opt = NULL;
    lam_optim_desc_init(&base, LAM_OPTIM_ADAM);

    T_CHECK(lam_optim_create(NULL, &base, m.p, 2, &opt) == LAM_ERR_ARG, "NULL ctx");
    EXPECT_ARG(ctx, lam_optim_create(ctx, NULL, m.p, 2, &opt), "NULL desc");
    EXPECT_ARG(ctx, lam_optim_create(ctx, &base, NULL, 2, &opt), "NULL params");
    EXPECT_ARG(ctx, lam_optim_create(ctx, &base, m.p, 2, NULL), "NULL out");
    EXPECT_ARG(ctx, lam_optim_create(ctx, &base, m.p, 0, &opt), "n_params 0");
    d = base, d.lr = -0.1;
    bad_desc(ctx, &m, &d, "negative lr");
    d = base, d.lr = NAN;
    bad_desc(ctx, &m, &d, "NaN lr");
    d = base, d.beta1 = 1.0;
    bad_desc(ctx, &m, &d, "beta1 = 1");
    d = base, d.beta2 = 1.5;
    bad_desc(ctx, &m, &d, "beta2 = 1.5");
    d = base, d.eps = -1e-8;
    bad_desc(ctx, &m, &d, "negative eps");
    d = base, d.momentum = 0.9;
    bad_desc(ctx, &m, &d, "adam with momentum");
    d = base, d.kind = (lam_optim_kind)9;
    bad_desc(ctx, &m, &d, "unknown kind");
    lam_optim_desc_init(&d, LAM_OPTIM_ADAMW);
    d.weight_decay = 0.1;
    bad_desc(ctx, &m, &d, "adamw with weight_decay");
    lam_optim_desc_init(&d, LAM_OPTIM_SGD);
    d.nesterov = 1;
    bad_desc(ctx, &m, &d, "nesterov without momentum");
    d.momentum = 0.9, d.dampening = 0.1;
    bad_desc(ctx, &m, &d, "nesterov with dampening");
    lam_optim_desc_init(&d, LAM_OPTIM_SGD);
    d.weight_decay = -0.1;
    bad_desc(ctx, &m, &d, "negative weight_decay");
    lam_optim_desc_init(&d, LAM_OPTIM_RMSPROP);
    d.alpha = 1.5;
    bad_desc(ctx, &m, &d, "rmsprop alpha 1.5");

    model bad = m;
    bad.p[1].g = NULL;
    EXPECT_ARG(ctx, lam_optim_create(ctx, &base, bad.p, 2, &opt), "param without g");
    bad = m;
    bad.p[0].n = 0;
    EXPECT_ARG(ctx, lam_optim_create(ctx, &base, bad.p, 2, &opt), "param with n 0");

    T_CHECK(lam_optim_create(ctx, &base, m.p, 2, &opt) == LAM_OK, "good create");
    float w0[NW];
    memcpy(w0, m.w, sizeof w0);
    model_grad(&m, 0);
    EXPECT_ARG(ctx, lam_optim_step(opt, -0.01), "step with negative lr");
    EXPECT_ARG(ctx, lam_optim_step(opt, INFINITY), "step with infinite lr");
    t_equal("failed step leaves w", m.w, w0, NW);
    T_CHECK(lam_optim_get_step(opt) == 0, "failed step advanced t");
    EXPECT_ARG(ctx, lam_optim_set_step(opt, -1), "set_step -1");
    T_CHECK(lam_optim_step(NULL, 0.1) == LAM_ERR_ARG, "step NULL");
    T_CHECK(lam_optim_set_step(NULL, 1) == LAM_ERR_ARG, "set_step NULL");
    T_CHECK(lam_optim_state_count(NULL) == 0 && lam_optim_get_step(NULL) == 0, "NULL getters");
    T_CHECK(isnan(lam_optim_base_lr(NULL)), "base_lr NULL");
    lam_optim_destroy(opt);
    lam_ctx_destroy(ctx);
}

int main(void)
{
    printf("test_optim: seed %u\n", SEED);
    test_formulas();
    test_adam_first_step();
    test_threads_and_blocks();
    test_resume();
    test_state_names();
    test_no_alloc_in_step();
    test_nomem();
    test_bad_args();
    return t_exit("optim");
}
