/* A scientific C program's use of liblamina_mpi: it splits MPI_COMM_WORLD into its own
 * communicators (ranks {0, 1} train together, rank 2 alone), attaches each context to its
 * communicator, and trains a model with batch norm on its chunks of a global batch. Every
 * rank also trains the same model alone on the whole batch (no hook) and checks that the
 * weights agree bit for bit, a step with a batch that does not divide is refused with a
 * message, and a bad label on one rank stops the step on every rank. Prints "ok ..." lines;
 * exit 0 when all hold. Run with mpirun -np 3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lamina_mpi.h"

#define GLOBAL 24
#define CHUNK 4
#define STEPS 6
#define IN 2 * 6 * 6

static int failures;

static void check(int cond, const char *what, int rank)
{
    printf("%s rank %d: %s\n", cond ? "ok  " : "FAIL", rank, what);
    failures += !cond;
}

/* Train a fresh model for STEPS steps on rows [r0, r0 + n) of the global batch; the weights
 * are copied to w (count floats). */
static lam_status train(lam_ctx *ctx, const float *x, const int32_t *y, int64_t r0, int64_t n,
                        int64_t chunk, float *w, int64_t *count)
{
    const int64_t shape[3] = {2, 6, 6};
    lam_model *m = NULL;
    lam_optim *opt = NULL;
    lam_status st = lam_model_create(ctx, "conv:4,3,pad=1 bn relu flatten linear:out", 3,
                                     shape, 3, GLOBAL, &m);
    lam_param *p = NULL;
    int np = 0;
    if (st == LAM_OK) {
        st = lam_model_params(m, &p, &np);
    }
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_SGD);
    od.lr = 0.1;
    od.momentum = 0.9;
    if (st == LAM_OK) {
        st = lam_optim_create(ctx, &od, p, np, &opt);
    }
    for (int s = 0; s < STEPS && st == LAM_OK; s++) {
        lam_step_desc d;
        lam_step_desc_init(&d);
        d.x = x + r0 * IN;
        d.labels = y + r0;
        d.n = n;
        d.lr = 0.1;
        d.chunk = chunk;
        d.global_n = GLOBAL;
        st = lam_model_train_batch(m, opt, &d, NULL);
    }
    *count = 0;
    for (int i = 0; st == LAM_OK && i < np; i++) {
        memcpy(w + *count, p[i].w, (size_t)p[i].n * sizeof(float));
        *count += p[i].n;
    }
    lam_optim_destroy(opt);
    lam_model_destroy(m);
    return st;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int world = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &world);
    MPI_Comm mine;
    MPI_Comm_split(MPI_COMM_WORLD, world < 2 ? 0 : 1, world, &mine);
    int rank = 0, size = 1;
    MPI_Comm_rank(mine, &rank);
    MPI_Comm_size(mine, &size);

    static float x[GLOBAL * IN], w_alone[4096], w_dp[4096];
    static int32_t y[GLOBAL];
    for (int i = 0; i < GLOBAL * IN; i++) {
        x[i] = lam_rng_normal(7, 1, (uint64_t)i);
    }
    for (int i = 0; i < GLOBAL; i++) {
        y[i] = i % 3;
    }
    lam_ctx_desc cd;
    lam_ctx_desc_init(&cd);
    cd.n_threads = 1;
    cd.seed = 5;
    lam_ctx *alone = NULL, *ctx = NULL;
    lam_mpi *h = NULL;
    int64_t n_alone = 0, n_dp = 0;
    lam_status st = lam_ctx_create(&cd, &alone);
    if (st == LAM_OK) {
        st = train(alone, x, y, 0, GLOBAL, CHUNK, w_alone, &n_alone);
    }
    if (st == LAM_OK) {
        st = lam_ctx_create(&cd, &ctx);
    }
    if (st == LAM_OK) {
        st = lam_mpi_attach(ctx, mine, &h);
    }
    check(st == LAM_OK && lam_ctx_ranks(ctx) == size && lam_ctx_rank(ctx) == rank,
          "attached to its own communicator", world);
    /* this rank's chunks: [k*r/R, k*(r+1)/R) of k = GLOBAL / CHUNK */
    const int64_t k = GLOBAL / CHUNK, c0 = k * rank / size, c1 = k * (rank + 1) / size;
    if (st == LAM_OK) {
        st = train(ctx, x, y, c0 * CHUNK, (c1 - c0) * CHUNK, CHUNK, w_dp, &n_dp);
    }
    check(st == LAM_OK && n_dp == n_alone && n_dp > 0 &&
              memcmp(w_alone, w_dp, (size_t)n_dp * sizeof(float)) == 0,
          size > 1 ? "weights of 2 ranks = the single process, bit for bit"
                   : "weights of 1 rank = the single process, bit for bit", world);
    /* a chunk that does not divide the global batch is refused, on every rank alike */
    float w_bad[4096];
    int64_t n_bad = 0;
    lam_status bad = train(ctx, x, y, 0, GLOBAL / size, 5, w_bad, &n_bad);
    check(bad == LAM_ERR_ARG && strstr(lam_ctx_errmsg(ctx), "does not divide") != NULL,
          lam_ctx_errmsg(ctx), world);
    /* a bad label on the last rank only: every rank stops the step, none waits forever */
    static int32_t y_bad[GLOBAL];
    memcpy(y_bad, y, sizeof y_bad);
    y_bad[GLOBAL - 1] = 99;
    bad = train(ctx, x, y_bad, c0 * CHUNK, (c1 - c0) * CHUNK, CHUNK, w_bad, &n_bad);
    const int holds_it = rank == size - 1;
    check(holds_it ? bad == LAM_ERR_RANGE : bad == LAM_ERR_NUMERIC,
          holds_it ? "the rank with a bad label: LAM_ERR_RANGE"
                   : "the other ranks: a non-finite loss, LAM_ERR_NUMERIC", world);
    lam_mpi_detach(h);
    check(lam_ctx_ranks(ctx) == 1, "detached", world);
    lam_ctx_destroy(ctx);
    lam_ctx_destroy(alone);
    MPI_Comm_free(&mine);
    MPI_Finalize();
    return failures == 0 && st == LAM_OK ? 0 : 1;
}
