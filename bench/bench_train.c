/*
 * End-to-end section: whole training steps through the public API (lam_model_train_step,
 * SGD momentum 0.9, lr 0.01, softmax cross-entropy) on synthetic data, thread scaling, the
 * --model mode, and the GEMM share of each conv layer of the seed CNN (the issue asks GEMM
 * >= 75% of a conv layer's forward + backward time). The share replays, on the model's own
 * layers, both the public per-layer calls and the internal fused calls a training step makes.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <jansson.h>

#include "bench.h"
#ifdef LAM_BENCH_HAVE_FUSED
#include "layer_internal.h" /* lam__layer_{forward,backward}_fused: the model's block calls */
#endif

#define N_CLASSES 10
/* The vocabulary of the language-model benchmarks: about what fortunes has (a byte-level
 * text's distinct bytes), the same in compare_pytorch.py. */
#define N_TOKENS 96

int bench_parse_input(const char *s, int64_t shape[3])
{
    int n = 0;
    const char *p = s;
    for (;;) {
        char *end = NULL;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 1 || n == 3) {
            return 0;
        }
        shape[n++] = v;
        if (*end == '\0') {
            break;
        }
        if (*end != 'x' && *end != 'X') {
            return 0;
        }
        p = end + 1;
    }
    return n == 1 || n == 3 ? n : 0;
}

/* A spec argument names a built-in, a file holding a spec, or is the spec itself. */
static char *read_spec(const char *arg)
{
    FILE *f = lam_model_builtin_spec(arg) == NULL ? fopen(arg, "r") : NULL;
    if (f == NULL) {
        char *s = malloc(strlen(arg) + 1);
        if (s != NULL) {
            strcpy(s, arg);
        }
        return s;
    }
    char *s = malloc(65536);
    size_t n = s != NULL ? fread(s, 1, 65535, f) : 0;
    fclose(f);
    if (s != NULL) {
        s[n] = '\0';
    }
    return s;
}

/* One model, optimizer and batch of synthetic data, ready to step. */
typedef struct trainer {
    lam_ctx *ctx;
    lam_model *m;
    lam_optim *opt;
    lam_loss_desc loss;
    float *x;
    int32_t *labels;
    int64_t batch;
    lam_status st; /* first failure of a step */
} trainer;

static void trainer_free(trainer *t)
{
    lam_optim_destroy(t->opt);
    lam_model_destroy(t->m);
    lam_ctx_destroy(t->ctx);
    free(t->x);
    free(t->labels);
    memset(t, 0, sizeof *t);
}

/* Build; on failure print one line naming the model and return the status. */
static lam_status trainer_init(trainer *t, const char *spec, int ndim, const int64_t *shape,
                               int64_t batch, int threads)
{
    memset(t, 0, sizeof *t);
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.n_threads = threads;
    cfg.seed = 1;
    /* BLAS calls outside lamina's loops (linear layers) use the process default */
    bench_set_threads(threads);
    lam_status st = lam_ctx_create(&cfg, &t->ctx);
    /* a model of a (T) input with an embedding reads token ids: a language model, trained
     * with one label per position */
    const char *text = lam_model_builtin_spec(spec) != NULL ? lam_model_builtin_spec(spec) : spec;
    const int lm = ndim == 1 && strstr(text, "embedding:") != NULL;
    const int64_t classes = lm ? N_TOKENS : N_CLASSES;
    if (st == LAM_OK) {
        st = lam_model_create(t->ctx, spec, ndim, shape, classes, batch, &t->m);
    }
    lam_param *params = NULL;
    int np = 0;
    if (st == LAM_OK) {
        st = lam_model_params(t->m, &params, &np);
    }
    if (st == LAM_OK) {
        lam_optim_desc od;
        lam_optim_desc_init(&od, LAM_OPTIM_SGD);
        od.lr = 0.01;
        od.momentum = 0.9;
        st = lam_optim_create(t->ctx, &od, params, np, &t->opt);
    }
    if (st != LAM_OK) {
        fprintf(stderr, "lamina-bench: error: model '%.60s': %s%s%s\n", spec, lam_strerror(st),
                t->ctx != NULL ? ": " : "", t->ctx != NULL ? lam_ctx_errmsg(t->ctx) : "");
        trainer_free(t);
        return st;
    }
    int64_t per = 1;
    for (int i = 0; i < ndim; i++) {
        per *= shape[i];
    }
    const int64_t n_labels = lm ? batch * per : batch;
    t->batch = batch;
    t->x = bench_floats(per * batch);
    t->labels = malloc((size_t)n_labels * sizeof(int32_t));
    if (t->labels == NULL) {
        trainer_free(t);
        return LAM_ERR_NOMEM;
    }
    bench_fill(t->x, per * batch, 51);
    for (int64_t i = 0; i < n_labels; i++) {
        t->labels[i] = (int32_t)(lam_rng_u64(20261129u, 52, (uint64_t)i) % classes);
    }
    for (int64_t i = 0; lm && i < per * batch; i++) {
        t->x[i] = (float)(lam_rng_u64(20261129u, 53, (uint64_t)i) % N_TOKENS);
    }
    t->loss.kind = lm ? LAM_LOSS_SEQ_XENT : LAM_LOSS_SOFTMAX_XENT;
    return LAM_OK;
}

static void trainer_step(void *p)
{
    trainer *t = p;
    double loss = 0.0;
    lam_status st = lam_model_train_step(t->m, t->opt, &t->loss, t->x, t->labels, NULL, t->batch,
                                         0.01, 0.0, &loss, NULL);
    if (st != LAM_OK && t->st == LAM_OK) {
        t->st = st;
    }
}

static void strategy_of(lam_model *m, char *dst, size_t size)
{
    dst[0] = '\0';
#ifdef LAM_BENCH_HAVE_STRATEGY
    size_t used = 0;
    for (int i = 0; i < lam_model_layer_count(m); i++) {
        const lam_layer *l = lam_model_layer(m, i);
        const char *s = lam_layer_strategy(l);
        /* layers folded into another ("in conv2d#0") are implied by its "+relu+maxpool" */
        if (s == NULL || s[0] == '\0' || strncmp(s, "in ", 3) == 0 || used >= size) {
            continue;
        }
        int w = snprintf(dst + used, size - used, "%s%s=%s", used ? " " : "", lam_layer_name(l), s);
        used += w > 0 ? (size_t)w : 0;
    }
#else
    (void)m;
    (void)size;
#endif
}

/* Time one configuration; fills *out. Returns a lam_status. */
static lam_status time_config(const char *model, const char *input, int64_t batch, int threads,
                              int warmup, int reps, int share, train_result *out)
{
    int64_t shape[3];
    int ndim = bench_parse_input(input, shape);
    if (ndim == 0) {
        fprintf(stderr, "lamina-bench: error: --input '%.40s' is not CxHxW or F\n", input);
        return LAM_ERR_ARG;
    }
    char *spec = read_spec(model);
    if (spec == NULL) {
        return LAM_ERR_NOMEM;
    }
    trainer t;
    lam_status st = trainer_init(&t, spec, ndim, shape, batch, threads);
    free(spec);
    if (st != LAM_OK) {
        return st;
    }
    memset(out, 0, sizeof *out);
    snprintf(out->model, sizeof out->model, "%s", model);
    snprintf(out->input, sizeof out->input, "%s", input);
    out->batch = batch;
    out->threads = threads;
    out->step = bench_time(trainer_step, &t, warmup, reps);
    out->ips = (double)batch / out->step.med;
    out->gflops = (double)lam_model_train_flops(t.m) * (double)batch / out->step.med * 1e-9;
    strategy_of(t.m, out->strategy, sizeof out->strategy);
    /* the GEMM share of the step: a few more steps with the GEMM probe on (bench_probe.c),
     * the probe's GEMM time over their wall time */
    out->gemm_share = NAN;
    if (share && probe_available()) {
        const int n = reps < 5 ? reps : 5;
        double gs = 0.0, gf = 0.0, t0 = bench_now();
        probe_start();
        for (int i = 0; i < n; i++) {
            trainer_step(&t);
        }
        probe_stop(&gs, &gf);
        out->gemm_share = gs / (bench_now() - t0);
    }
    st = t.st;
    if (st != LAM_OK) {
        fprintf(stderr, "lamina-bench: error: training step of '%.60s' failed: %s: %s\n", model,
                lam_strerror(st), lam_ctx_errmsg(t.ctx));
    }
    trainer_free(&t);
    return st;
}

/* Fold one round's measurement of a configuration into its running result. */
static void add_round(train_result *acc, const train_result *t)
{
    if (acc->rounds == 0) {
        *acc = *t;
        acc->rounds = 1;
        acc->round_ips[0] = t->ips;
        return;
    }
    acc->step.min = t->step.min < acc->step.min ? t->step.min : acc->step.min;
    acc->step.max = t->step.max > acc->step.max ? t->step.max : acc->step.max;
    acc->step.reps += t->step.reps;
    if (acc->rounds < BENCH_MAX_ROUNDS) {
        acc->round_ips[acc->rounds++] = t->ips;
    }
}

/* Median over rounds: the configuration's figure is the median round, so a minute of
 * contention from outside (which the load average does not show) spoils one round only. */
static void finish_rounds(train_result *t)
{
    double per_image[BENCH_MAX_ROUNDS];
    for (int i = 0; i < t->rounds; i++) {
        per_image[i] = 1.0 / t->round_ips[i];
    }
    double work = t->gflops * ((double)t->batch / t->ips); /* GFLOP per step */
    double med = bench_summarize(per_image, t->rounds).med * (double)t->batch;
    t->step.med = med;
    t->ips = (double)t->batch / med;
    t->gflops = work / med;
}

int bench_train(bench_run *r, const bench_opts *o)
{
    /* resnet20, char-lstm and gpt-mini only at the batch of their issues' configurations (a
     * step of any costs what 40 seed-cnn steps do); 0 sweeps the batches */
    static const struct {
        const char *model, *input;
        int64_t batch;
    } nets[] = {
        {"seed-cnn", "1x28x28", 0}, {"seed-cnn", "3x32x32", 0}, {"mlp", "1x28x28", 0},
        {"resnet20", "1x28x28", 64}, {"resnet20", "3x32x32", 64}, {"char-lstm", "64", 64},
        {"gpt-mini", "64", 12},
    };
    static const int64_t batches[] = {32, 64, 256};
    int warmup = o->quick ? 1 : 5;
    int failures = 0;
    const int first = r->n_train;
    for (int round = 0; round < o->rounds; round++) {
        int k = first;
        for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
            for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
                /* the quick mode keeps one configuration per network at full threads */
                const int64_t batch = nets[i].batch > 0 ? nets[i].batch : batches[b];
                if ((o->quick || nets[i].batch > 0) && batches[b] != 64) {
                    continue;
                }
                for (int th = o->quick ? r->env.threads : 1; th <= r->env.threads; th++) {
                    if (k >= BENCH_MAX_TRAIN) {
                        break;
                    }
                    train_result t;
                    if (round == 0) {
                        r->train[k].rounds = 0; /* no successful round yet */
                    }
                    /* configurations come in the same order every round: slot k is this one */
                    if (time_config(nets[i].model, nets[i].input, batch, th, warmup, o->reps,
                                    0, &t) == LAM_OK) {
                        add_round(&r->train[k], &t);
                    } else {
                        failures++;
                    }
                    k++;
                }
            }
        }
        r->n_train = k > r->n_train ? k : r->n_train;
    }
    int n = first;
    for (int i = first; i < r->n_train; i++) {
        if (r->train[i].rounds > 0) { /* drop configurations that never ran */
            finish_rounds(&r->train[i]);
            r->train[n++] = r->train[i];
        }
    }
    r->n_train = n;
    bench_set_threads(r->env.threads);
    return failures;
}

int bench_model_mode(const bench_opts *o)
{
    int threads = o->threads;
    if (threads < 1) {
#ifdef _OPENMP
        threads = omp_get_max_threads();
#else
        threads = 1;
#endif
    }
    const char *input = o->input != NULL ? o->input : "1x28x28";
    int64_t batch = o->batch > 0 ? o->batch : 64;
    train_result tr;
    int warmup = o->quick ? 1 : 5;
    if (time_config(o->model, input, batch, threads, warmup, o->reps, 1, &tr) != LAM_OK) {
        return 1;
    }
    if (o->json) {
        json_t *j = json_pack(
            "{s:s, s:s, s:I, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f, "
            "s:i, s:s, s:f}",
            "model", o->model, "input", input, "batch", (json_int_t)batch, "threads", threads,
            "warmup", warmup, "reps", tr.step.reps, "median_ms", tr.step.med * 1e3, "min_ms",
            tr.step.min * 1e3, "max_ms", tr.step.max * 1e3, "images_per_second", tr.ips,
            "images_per_second_best", (double)batch / tr.step.min, "train_gflops", tr.gflops,
            "blas_parallel", lam__blas_parallel_kind(), "strategy", tr.strategy, "gemm_share",
            isnan(tr.gemm_share) ? -1.0 : tr.gemm_share);
        if (j == NULL || json_dumpf(j, stdout, JSON_REAL_PRECISION(6)) != 0) {
            fprintf(stderr, "lamina-bench: error: cannot write JSON\n");
            json_decref(j);
            return 1;
        }
        json_decref(j);
        printf("\n");
    } else {
        printf("%s %s batch %lld threads %d: %.1f images/s (median step %.3f ms, min %.3f, "
               "max %.3f over %d steps), %.1f GFLOP/s, GEMM share of the step %.0f%%\n",
               o->model, input, (long long)batch, threads, tr.ips, tr.step.med * 1e3,
               tr.step.min * 1e3, tr.step.max * 1e3, tr.step.reps, tr.gflops,
               100.0 * tr.gemm_share);
    }
    return 0;
}

/* ------------------------------------------------------------- GEMM share */

#define MAX_BLOCK 4

static void wrap_batch(lam_tensor *t, int64_t n, int nd, const int64_t s[3], uint64_t stream)
{
    int64_t shape[4] = {n, s[0], nd == 3 ? s[1] : 1, nd == 3 ? s[2] : 1};
    int64_t numel = n * s[0] * shape[2] * shape[3];
    float *d = bench_floats(numel);
    bench_fill(d, numel, stream);
    (void)lam_tensor_wrap(t, d, nd + 1, shape);
}

/* The conv layer at ci and the activation/pooling layers right after it: the "block" whose
 * extra cost the issue bounds (im2col, col2im, pooling and activations). */
static int block_of(lam_model *m, int ci, lam_layer **blk)
{
    int nb = 0;
    blk[nb++] = lam_model_layer(m, ci);
    for (int i = ci + 1; i < lam_model_layer_count(m) && nb < MAX_BLOCK; i++) {
        const char *name = lam_layer_name(lam_model_layer(m, i));
        if (strncmp(name, "relu", 4) != 0 && strncmp(name, "maxpool", 7) != 0) {
            break;
        }
        blk[nb++] = lam_model_layer(m, i);
        if (strncmp(name, "maxpool", 7) == 0) {
            break;
        }
    }
    return nb;
}

/* Whether the model folded blk[1..nb) into blk[0]: their strategy reads "in <conv name>". */
static int block_fused(lam_layer **blk, int nb)
{
#if defined(LAM_BENCH_HAVE_STRATEGY) && defined(LAM_BENCH_HAVE_FUSED)
    char want[64];
    snprintf(want, sizeof want, "in %s", lam_layer_name(blk[0]));
    for (int i = 1; i < nb; i++) {
        if (strcmp(lam_layer_strategy(blk[i]), want) != 0) {
            return 0;
        }
    }
    return nb > 1;
#else
    (void)blk;
    (void)nb;
    return 0;
#endif
}

typedef struct block_run {
    lam_layer *blk[MAX_BLOCK];
    int nb, first, fused;
    lam_tensor act[MAX_BLOCK + 1], grad[MAX_BLOCK + 1]; /* [0] input, [i + 1] layer i out */
} block_run;

/* One forward + backward of the conv alone (whole = 0) or of the whole block as the model
 * runs it (whole = 1); *seconds is its wall time. */
static int block_pass(block_run *b, int whole, double *seconds)
{
    lam_tensor *dx0 = b->first ? NULL : &b->grad[0]; /* the model's first layer: no dx */
    int st = LAM_OK;
    double t0 = bench_now();
    if (!whole) {
        st |= lam_layer_forward(b->blk[0], &b->act[0], &b->act[1], 1);
        st |= lam_layer_backward(b->blk[0], &b->act[0], &b->act[1], &b->grad[1], dx0);
    } else if (b->fused) {
#ifdef LAM_BENCH_HAVE_FUSED
        /* exactly the calls lam_model_forward/backward make for a folded group */
        const lam_tensor *x = &b->act[0], *y = &b->act[b->nb];
        st |= lam__layer_forward_fused(b->blk[0], x->data, y->data, x->shape[0], 1);
        st |= lam__layer_backward_fused(b->blk[0], x->data, y->data, b->grad[b->nb].data,
                                        dx0 != NULL ? dx0->data : NULL, x->shape[0]);
#endif
    } else {
        for (int i = 0; i < b->nb; i++) {
            st |= lam_layer_forward(b->blk[i], &b->act[i], &b->act[i + 1], 1);
        }
        for (int i = b->nb - 1; i >= 0; i--) {
            st |= lam_layer_backward(b->blk[i], &b->act[i], &b->act[i + 1], &b->grad[i + 1],
                                     i == 0 ? dx0 : &b->grad[i]);
        }
    }
    *seconds = bench_now() - t0;
    return st;
}

/* Median time, GEMM time, per-rep GEMM share and GEMM FLOPs of `reps` passes. */
static int time_passes(block_run *b, int whole, int reps, double *t, double *g, double *share,
                       double *flops)
{
    double *tt = malloc(3 * (size_t)reps * sizeof(double)), *tg = tt + reps, *ts = tg + reps;
    int st = LAM_OK;
    for (int r = -2; r < reps; r++) { /* two warm-up passes */
        double sec, gs, gf;
        probe_start();
        st |= block_pass(b, whole, &sec);
        probe_stop(&gs, &gf);
        if (r >= 0) {
            tt[r] = sec;
            tg[r] = gs;
            ts[r] = gs / sec;
            *flops = gf;
        }
    }
    *t = bench_summarize(tt, reps).med;
    *g = bench_summarize(tg, reps).med;
    *share = bench_summarize(ts, reps).med;
    free(tt);
    return st;
}

/* GEMM share of one conv block of a built model, on the model's own layer objects. */
static int share_block(lam_model *m, int ci, int64_t batch, int reps, share_result *out)
{
    block_run b;
    memset(&b, 0, sizeof b);
    b.nb = block_of(m, ci, b.blk);
    b.first = ci == 0;
    b.fused = block_fused(b.blk, b.nb);
    int64_t shape[3];
    int nd;
    if (ci == 0) {
        lam_model_in_shape(m, &nd, shape);
    } else {
        lam_layer_out_shape(lam_model_layer(m, ci - 1), &nd, shape);
    }
    wrap_batch(&b.act[0], batch, nd, shape, 61);
    wrap_batch(&b.grad[0], batch, nd, shape, 62);
    for (int i = 0; i < b.nb; i++) {
        lam_layer_out_shape(b.blk[i], &nd, shape);
        wrap_batch(&b.act[i + 1], batch, nd, shape, 63 + (uint64_t)i);
        wrap_batch(&b.grad[i + 1], batch, nd, shape, 70 + (uint64_t)i);
    }
    double conv_flops = 0.0, block_flops = 0.0;
    int st = time_passes(&b, 0, reps, &out->layer_s, &out->gemm_s, &out->share, &conv_flops);
    st |= time_passes(&b, 1, reps, &out->block_s, &out->block_gemm_s, &out->block_share,
                      &block_flops);
    double expect = (double)lam_layer_flops(b.blk[0]) * (double)batch * (b.first ? 2.0 : 3.0);
    out->batch = batch;
    snprintf(out->layer, sizeof out->layer, "%s", lam_layer_name(b.blk[0]));
    out->block_layers = b.nb;
    out->block_fused = b.fused;
    out->coverage = conv_flops / expect;
    out->block_coverage = block_flops / expect;
    for (int i = 0; i <= b.nb; i++) {
        free(b.act[i].data);
        free(b.grad[i].data);
    }
    return st == LAM_OK ? 0 : -1;
}

int bench_share(bench_run *r, const bench_opts *o)
{
    static const char *const inputs[] = {"1x28x28", "3x32x32"};
    const int64_t batch = 64;
    int reps = o->reps < 5 ? 5 : o->reps;
    int failures = 0;
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        if (o->quick && i > 0) {
            break;
        }
        for (int th = 1; th <= r->env.threads;
             th += (r->env.threads > 1 ? r->env.threads - 1 : 1)) {
            int64_t shape[3];
            int nd = bench_parse_input(inputs[i], shape);
            trainer t;
            if (trainer_init(&t, "seed-cnn", nd, shape, batch, th) != LAM_OK) {
                failures++;
                continue;
            }
            for (int li = 0; li < lam_model_layer_count(t.m); li++) {
                const char *name = lam_layer_name(lam_model_layer(t.m, li));
                if (strncmp(name, "conv2d", 6) != 0 || r->n_share >= BENCH_MAX_SHARE) {
                    continue;
                }
                share_result *s = &r->share[r->n_share];
                memset(s, 0, sizeof *s);
                snprintf(s->model, sizeof s->model, "seed-cnn");
                snprintf(s->input, sizeof s->input, "%s", inputs[i]);
                s->threads = th;
                if (share_block(t.m, li, batch, reps, s) == 0) {
                    r->n_share++;
                } else {
                    failures++;
                }
            }
            trainer_free(&t);
        }
    }
    bench_set_threads(r->env.threads);
    return failures;
}
