/* trust: embedding hygiene that needs a running library.
 *  1. Two contexts used from two threads at once give bitwise the same weights as when the
 *     same two trainings run one after the other: a small CNN (with batch norm, leaky ReLU
 *     and dropout, on a context with 2 threads) and an MLP (Adam, 1 thread). Repeated, so
 *     different interleavings are tried.
 *  2. Under a comma-decimal locale (de_DE.UTF-8, built with localedef into a temporary
 *     directory when it is not installed) the model-spec parser ("dropout:0.25",
 *     "leakyrelu:0.1", "bn:eps=1e-3,momentum=0.25") and the CSV reader give the same values
 *     as in the C locale, and the two trainings of part 1 still give the same weights.
 *     Skipped with a note when no such locale can be had. */
#define _POSIX_C_SOURCE 200809L
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lamina.h"
#include "model_internal.h" /* lam__spec_parse: the parsed values themselves */

#define N_SAMPLES 32
#define BATCH 8
#define STEPS 12

typedef struct job {
    const char *name;
    const char *spec;
    int ndim;
    int64_t shape[3];
    int threads;
    lam_optim_kind optim;
    uint64_t seed;
    /* results */
    lam_status st;
    char msg[256];
    float *w;      /* every parameter, concatenated (malloc) */
    int64_t n_w;
    double loss;
} job;

static void *train(void *arg)
{
    job *j = arg;
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.n_threads = j->threads;
    cfg.seed = j->seed;
    lam_ctx *ctx = NULL;
    lam_model *m = NULL;
    lam_optim *opt = NULL;
    float *x = NULL;
    j->st = lam_ctx_create(&cfg, &ctx);
    if (j->st == LAM_OK) {
        j->st = lam_model_create(ctx, j->spec, j->ndim, j->shape, 3, BATCH, &m);
    }
    if (j->st == LAM_OK) {
        lam_param *p;
        int np;
        lam_model_params(m, &p, &np);
        lam_optim_desc od;
        lam_optim_desc_init(&od, j->optim);
        od.momentum = j->optim == LAM_OPTIM_SGD ? 0.9 : 0.0;
        j->st = lam_optim_create(ctx, &od, p, np, &opt);
    }
    const int64_t numel = j->shape[0] * (j->ndim == 3 ? j->shape[1] * j->shape[2] : 1);
    x = malloc((size_t)(N_SAMPLES * numel) * sizeof *x);
    int32_t labels[N_SAMPLES];
    for (int i = 0; i < N_SAMPLES; i++) {
        labels[i] = i % 3;
    }
    if (x == NULL) {
        j->st = LAM_ERR_NOMEM;
    } else {
        t_fill_uniform(x, N_SAMPLES * numel, -1.0f, 1.0f, j->seed, 9);
    }
    const lam_loss_desc ld = {LAM_LOSS_SOFTMAX_XENT, 0.0f, 1.0f};
    for (int s = 0; j->st == LAM_OK && s < STEPS; s++) {
        int64_t first = (int64_t)(s * BATCH) % N_SAMPLES;
        j->st = lam_model_train_step(m, opt, &ld, x + first * numel, labels + first, NULL,
                                     BATCH, 0.05, 0.0, &j->loss, NULL);
    }
    if (j->st == LAM_OK) {
        lam_param *p;
        int np;
        lam_model_params(m, &p, &np);
        j->n_w = 0;
        for (int i = 0; i < np; i++) {
            j->n_w += p[i].n;
        }
        j->w = malloc((size_t)j->n_w * sizeof *j->w);
        for (int64_t i = 0, k = 0; j->w != NULL && i < np; k += p[i].n, i++) {
            memcpy(j->w + k, p[i].w, (size_t)p[i].n * sizeof *j->w);
        }
    }
    snprintf(j->msg, sizeof j->msg, "%s", ctx != NULL ? lam_ctx_errmsg(ctx) : "no context");
    free(x);
    lam_optim_destroy(opt);
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    return NULL;
}

static void init_jobs(job *j)
{
    memset(j, 0, 2 * sizeof *j);
    j[0].name = "cnn (2 threads)";
    j[0].spec = "conv:4,3,pad=1 bn:eps=1e-3,momentum=0.25 leakyrelu:0.1 dropout:0.25 "
                "maxpool:2 flatten linear:out";
    j[0].ndim = 3;
    j[0].shape[0] = 1, j[0].shape[1] = 8, j[0].shape[2] = 8;
    j[0].threads = 2;
    j[0].optim = LAM_OPTIM_SGD;
    j[0].seed = 11;
    j[1].name = "mlp (1 thread)";
    j[1].spec = "flatten linear:16 gelu linear:out";
    j[1].ndim = 3;
    j[1].shape[0] = 1, j[1].shape[1] = 8, j[1].shape[2] = 8;
    j[1].threads = 1;
    j[1].optim = LAM_OPTIM_ADAM;
    j[1].seed = 12;
}

static void free_jobs(job *j)
{
    free(j[0].w);
    free(j[1].w);
}

/* Run both jobs concurrently and compare with the sequential reference. */
static void concurrent(const job *ref, const char *label)
{
    job j[2];
    init_jobs(j);
    pthread_t th[2];
    int started[2];
    for (int i = 0; i < 2; i++) {
        started[i] = pthread_create(&th[i], NULL, train, &j[i]) == 0;
        T_CHECK(started[i], "pthread_create");
    }
    for (int i = 0; i < 2; i++) {
        if (started[i]) {
            pthread_join(th[i], NULL);
        }
        T_CHECK(j[i].st == LAM_OK, "%s %s: %s", label, j[i].name, j[i].msg);
        if (j[i].st == LAM_OK && ref[i].w != NULL) {
            char what[128];
            snprintf(what, sizeof what, "%s: %s weights vs one after the other", label,
                     j[i].name);
            T_CHECK(j[i].n_w == ref[i].n_w, "%s: parameter count", what);
            t_equal(what, j[i].w, ref[i].w, j[i].n_w);
        }
    }
    free_jobs(j);
}

typedef struct parsed {
    lam_layer_desc d[8];
    int n;
} parsed;

static void parse(const char *spec, parsed *p)
{
    lam_ctx *ctx = NULL;
    memset(p, 0, sizeof *p);
    if (lam_ctx_create(NULL, &ctx) != LAM_OK) {
        T_CHECK(0, "context");
        return;
    }
    lam_spec_node *nodes = NULL;
    int n = 0;
    lam_status st = lam__spec_parse(ctx, spec, 3, &nodes, &n);
    T_CHECK(st == LAM_OK && n <= 8, "parse '%s': %s", spec, lam_ctx_errmsg(ctx));
    for (int i = 0; st == LAM_OK && i < n && i < 8; i++) {
        p->d[i] = nodes[i].desc;
    }
    p->n = st == LAM_OK ? n : 0;
    lam_free(ctx, nodes);
    lam_ctx_destroy(ctx);
}

static int same_desc(const lam_layer_desc *a, const lam_layer_desc *b)
{
    return a->kind == b->kind && a->out == b->out && a->kh == b->kh && a->kw == b->kw &&
           a->sh == b->sh && a->sw == b->sw && a->ph == b->ph && a->pw == b->pw &&
           a->dh == b->dh && a->dw == b->dw && a->groups == b->groups && a->bias == b->bias &&
           memcmp(&a->alpha, &b->alpha, sizeof a->alpha) == 0 &&
           memcmp(&a->momentum, &b->momentum, sizeof a->momentum) == 0;
}

static const char *SPEC = "bn:eps=1e-3,momentum=0.25 leakyrelu:0.1 dropout:0.25 flatten "
                          "linear:out";
static const char *CSV = "a,b,c,label\n1.5,-2.25,3e-2,0\n\"0.125\", 1e1 ,-.5,1\n";

/* CSV values in the current locale; returns a malloc'd copy of x (6 floats) or NULL. */
static float *load_csv(const char *path)
{
    lam_ctx *ctx = NULL;
    lam_dataset *ds = NULL;
    float *x = NULL;
    if (lam_ctx_create(NULL, &ctx) == LAM_OK &&
        T_CHECK(lam_dataset_load_csv(ctx, path, NULL, &ds) == LAM_OK, "csv: %s",
                lam_ctx_errmsg(ctx)) &&
        T_CHECK(ds->n == 2 && ds->sample_numel == 3, "csv shape")) {
        x = malloc(6 * sizeof *x);
        memcpy(x, ds->x, 6 * sizeof *x);
    }
    lam_dataset_destroy(ds);
    lam_ctx_destroy(ctx);
    return x;
}

int main(void)
{
    setlocale(LC_ALL, "C");
    /* part 1: reference one after the other, then concurrently */
    job ref[2];
    init_jobs(ref);
    for (int i = 0; i < 2; i++) {
        train(&ref[i]);
        T_CHECK(ref[i].st == LAM_OK, "reference %s: %s", ref[i].name, ref[i].msg);
        printf("%-16s %lld weights, loss after %d steps %.6f\n", ref[i].name,
               (long long)ref[i].n_w, STEPS, ref[i].loss);
    }
    for (int r = 0; r < 3; r++) {
        concurrent(ref, "two threads");
    }

    /* part 2: C-locale values, then the same under de_DE */
    parsed pc, pd;
    parse(SPEC, &pc);
    T_CHECK(pc.n == 5, "spec has %d layers", pc.n);
    T_CHECK(fabsf(pc.d[0].alpha - 1e-3f) < 1e-9f && fabsf(pc.d[0].momentum - 0.25f) < 1e-7f &&
            fabsf(pc.d[1].alpha - 0.1f) < 1e-8f && fabsf(pc.d[2].alpha - 0.25f) < 1e-8f,
            "C locale: bn eps %g momentum %g, leaky %g, dropout %g", pc.d[0].alpha,
            pc.d[0].momentum, pc.d[1].alpha, pc.d[2].alpha);
    char dir[256], path[300], cmd[700];
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/lamina-locale-XXXXXX",
             base != NULL && base[0] != '\0' ? base : "/tmp");
    if (!T_CHECK(mkdtemp(dir) != NULL, "mkdtemp")) {
        return t_exit("trust/threads");
    }
    snprintf(path, sizeof path, "%s/values.csv", dir);
    FILE *f = fopen(path, "w");
    T_CHECK(f != NULL && fputs(CSV, f) >= 0 && fclose(f) == 0, "write %s", path);
    float *xc = load_csv(path);
    const float want[6] = {1.5f, -2.25f, 3e-2f, 0.125f, 10.0f, -0.5f};
    if (xc != NULL) {
        t_equal("csv in the C locale", xc, want, 6);
    }

    const char *have = setlocale(LC_ALL, "de_DE.UTF-8");
    if (have == NULL) {
        snprintf(cmd, sizeof cmd, "localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1",
                 dir);
        if (system(cmd) == 0) {
            setenv("LOCPATH", dir, 1);
            have = setlocale(LC_ALL, "de_DE.UTF-8");
        }
    }
    char probe[16];
    snprintf(probe, sizeof probe, "%.1f", 1.5);
    if (have == NULL || strcmp(probe, "1,5") != 0) {
        printf("note: no comma-decimal locale (de_DE.UTF-8) available; locale part skipped\n");
    } else {
        printf("locale part under %s (printf gives %s)\n", have, probe);
        parse(SPEC, &pd);
        T_CHECK(pd.n == pc.n, "de_DE: %d layers, C: %d", pd.n, pc.n);
        for (int i = 0; i < pc.n && i < pd.n; i++) {
            T_CHECK(same_desc(&pc.d[i], &pd.d[i]), "de_DE: layer %d parses differently (alpha "
                    "%g vs %g)", i, pd.d[i].alpha, pc.d[i].alpha);
        }
        float *xd = load_csv(path);
        if (xd != NULL) {
            t_equal("csv under de_DE", xd, want, 6);
        }
        free(xd);
        concurrent(ref, "two threads under de_DE");
        setlocale(LC_ALL, "C");
    }
    free(xc);
    free_jobs(ref);
    unlink(path);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    T_CHECK(system(cmd) == 0, "remove %s", dir);
    return t_exit("trust/threads");
}
