/*
 * Results do not depend on the thread count: train for 100 steps on synthetic data with
 * contexts of 1 and 2 threads and require bitwise-identical weights, for
 *  - seed-cnn on 1x28x28 at batch 30 (a partial last chunk): the fused conv + relu + max-pool
 *    blocks and the fused linear + relu layers;
 *  - a small CNN + MLP with a conv + relu block without pool, a conv + pool block without
 *    relu, an unfused relu-less conv and dropout, at batch 20;
 *  - the mlp at batch 128: a leading flatten that is a view of x, and linear passes large
 *    enough to run in parallel, the 10-wide classifier's forward split over rows;
 *  - resnet20 on 3x8x8 at batch 8 (a graph: shortcuts, projections, batch norm), and on
 *    1x28x28 at batch 6, where the same-size convolutions run as implicit GEMMs;
 *  - a transformer block on (12, 8) samples at batch 20 (positions, layer norm, attention
 *    with dropout, a residual add, tanh GELU);
 * each under both conv strategies (resnet20 on 1x28x28: chunked, the implicit GEMM's only):
 *  - chunked (the OpenMP OpenBLAS): the host's OpenMP thread count follows the context's, as
 *    `lamina --threads` sets it, so with 1 thread the BLAS calls lamina makes outside any
 *    region are single-threaded too, like the ones inside its regions with 2;
 *  - batched (picked with a pthreads OpenBLAS, whose thread count does not follow OpenMP):
 *    its GEMMs run outside lamina's regions on BLAS's own threads, so the host's thread
 *    count stays fixed and only the context's changes.
 * The strategies differ from each other in rounding, never between thread counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* gcc defines __SANITIZE_ADDRESS__ under -fsanitize=address; clang answers __has_feature */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#include "harness.h"
#include "lamina.h"
#include "model_internal.h"

#define STEPS 100
#define SEED 4242u

typedef struct run_result {
    float *w;     /* every parameter, concatenated */
    int64_t n;
    double loss;  /* last step's */
    double first; /* the first step's, on batch 0 of the pool */
    double again; /* the last step's on batch 0 again (steps 4, 8, ...) */
} run_result;


static run_result train(const char *spec, const int64_t shape[3], int64_t batch, int threads,
                        lam_conv_strategy strategy, int steps)
{
    run_result r = {NULL, 0, 0.0, 0.0, 0.0};
#ifdef _OPENMP
    /* the host's choice: as `lamina --threads` makes it, or BLAS's own (batched) */
    omp_set_num_threads(strategy == LAM_CONV_BATCHED ? 2 : threads);
#endif
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.n_threads = threads;
    cfg.seed = SEED;
    lam_ctx *ctx = NULL;
    lam_model *m = NULL;
    lam_optim *opt = NULL;
    lam_param *p = NULL;
    int np = 0;
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_SGD);
    od.lr = 0.02;
    od.momentum = 0.9;
    lam_status st = lam_ctx_create(&cfg, &ctx);
    if (st == LAM_OK) {
        /* force the strategies a BLAS build picks (the rule picks them at create): conv
         * layers chunked or batched, linear layers split or one BLAS-threaded GEMM alike */
        ctx->gemm_strategy = strategy == LAM_CONV_BATCHED ? 1 : 2;
        st = lam_model_create(ctx, spec, shape[2] > 0 ? 3 : 2, shape, 10, batch, &m);
    }
    if (st == LAM_OK) {
        st = lam_model_params(m, &p, &np);
    }
    if (st == LAM_OK) {
        st = lam_optim_create(ctx, &od, p, np, &opt);
    }
    const int64_t per = shape[0] * shape[1] * (shape[2] > 0 ? shape[2] : 1), pool = 4 * batch;
    float *x = malloc((size_t)(pool * per) * sizeof(float));
    int32_t *y = malloc((size_t)pool * sizeof(int32_t));
    if (x == NULL || y == NULL) {
        st = LAM_ERR_NOMEM;
    } else {
        t_fill_uniform(x, pool * per, -1.0f, 1.0f, SEED, 1);
        for (int64_t i = 0; i < pool; i++) {
            y[i] = (int32_t)(lam_rng_u64(SEED, 2, (uint64_t)i) % 10);
        }
    }
    const lam_loss_desc loss = {LAM_LOSS_SOFTMAX_XENT, 0.0f, 0.0f};
    for (int s = 0; st == LAM_OK && s < steps; s++) {
        const int64_t first = (s % 4) * batch;
        st = lam_model_train_step(m, opt, &loss, x + first * per, y + first, NULL, batch,
                                  od.lr, 0.0, &r.loss, NULL);
        if (s == 0) {
            r.first = r.loss;
        } else if (s % 4 == 0) {
            r.again = r.loss;
        }
    }
    if (!T_CHECK(st == LAM_OK, "'%s' threads %d: %s (%s)", spec, threads, lam_strerror(st),
                 ctx != NULL ? lam_ctx_errmsg(ctx) : "")) {
        np = 0;
    }
    for (int i = 0; i < np; i++) {
        r.n += p[i].n;
    }
    r.w = malloc((size_t)(r.n > 0 ? r.n : 1) * sizeof(float));
    int64_t off = 0;
    for (int i = 0; r.w != NULL && i < np; i++) {
        memcpy(r.w + off, p[i].w, (size_t)p[i].n * sizeof(float));
        off += p[i].n;
    }
    free(x);
    free(y);
    lam_optim_destroy(opt);
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    return r;
}

static void compare_steps(const char *spec, const int64_t shape[3], int64_t batch,
                          lam_conv_strategy strategy, int steps)
{
    const char *sname = strategy == LAM_CONV_BATCHED ? "batched" : "chunked";
    run_result a = train(spec, shape, batch, 1, strategy, steps);
    run_result b = train(spec, shape, batch, 2, strategy, steps);
    char what[200];
    snprintf(what, sizeof what, "%s (%s, batch %lld): weights after %d steps, 1 vs 2 threads",
             spec, sname, (long long)batch, steps);
    if (T_CHECK(a.n > 0 && a.n == b.n, "%s: parameter counts %lld / %lld", what,
                (long long)a.n, (long long)b.n)) {
        t_equal(what, b.w, a.w, a.n);
    }
    /* the run must have learnt something, or identical weights prove little: its loss on
     * the first batch, seen again, fell (the last step's loss alone moves with its batch: a
     * ResNet-20 run had fallen from 2.86 to 1.27 on batch 0 by step 8, and was 2.31 on
     * batch 1 at step 9) */
    T_CHECK(steps > 4 && a.again < a.first, "%s: loss on batch 0 %.4f at the start, %.4f later",
            what, a.first, a.again);
    printf("%s: final loss %.6f / %.6f\n", what, a.loss, b.loss);
    free(a.w);
    free(b.w);
}

static void compare_threads(const char *spec, const int64_t shape[3], int64_t batch,
                            lam_conv_strategy strategy)
{
    compare_steps(spec, shape, batch, strategy, STEPS);
}

int main(void)
{
    printf("test_determinism: seed %u, %d steps\n", SEED, STEPS);
    const int64_t fmnist[3] = {1, 28, 28}, small[3] = {3, 12, 12}, tiny[3] = {3, 8, 8};
    const int64_t seq[3] = {12, 8, 0}; /* (T, D): a 0 ends a shape of rank 2 */
    const char *mixed = "conv:6,3,pad=1 relu conv:8,3 maxpool:2 conv:8,1 dropout:0.2 flatten "
                        "linear:24 relu linear:out";
    for (int s = 0; s <= 1; s++) {
        lam_conv_strategy st = s ? LAM_CONV_BATCHED : LAM_CONV_CHUNKED;
        compare_threads("seed-cnn", fmnist, 30, st);
        compare_threads(mixed, small, 20, st);
        compare_threads("mlp", fmnist, 128, st);
        /* a graph: shortcuts, projections, batch norm, gradients summed over consumers */
        compare_threads("resnet20", tiny, 8, st);
        /* a transformer block on (T, D) samples: attention's projections split or on BLAS */
        compare_threads("linear:16 posembed:12,name=p layernorm attention:4,causal=1,"
                        "dropout=0.1 add(p, .) gelu:approx=tanh flatten linear:out", seq, 20, st);
    }
    /* ResNet-20 at full size, where every same-size convolution but the first runs its
     * forward and input gradient by Winograd, and its weight gradient by Winograd (14 and 7
     * wide) or the implicit GEMM (28 wide) (the chunked strategy only), with a short last
     * chunk (6 = 4 + 2); 20 steps, 10 in the sanitizer build, which runs it at a fraction of
     * the speed (it was most of CI's 20 minutes) */
    compare_steps("resnet20", fmnist, 6, LAM_CONV_CHUNKED, SANITIZED ? 10 : 20);
    return t_exit("determinism");
}
