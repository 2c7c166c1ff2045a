/* lamina-bench-dp: the data-parallel training step, timed under mpirun (or alone).
 *   mpirun -np R lamina-bench-dp --model seed-cnn --batch 128 --chunk 64 --threads 1
 * Every rank trains on its chunks of a global batch of random data; rank 0 prints one JSON
 * line: the median step, images per second of the global batch, and how much of the step
 * was spent blocked on exchanges (the communication that backward did not hide) with the
 * bytes each rank sent per step. Built with MPI only (meson -Dmpi). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "lamina_mpi.h"
#include "model_internal.h" /* lam__model_dp_stats */

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *model = "seed-cnn";
    int64_t batch = 128, chunk = 0, steps = 30, warmup = 5, c = 1, h = 28, w = 28;
    int threads = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--model") == 0) {
            model = argv[i + 1];
        } else if (strcmp(argv[i], "--batch") == 0) {
            batch = atoll(argv[i + 1]);
        } else if (strcmp(argv[i], "--chunk") == 0) {
            chunk = atoll(argv[i + 1]);
        } else if (strcmp(argv[i], "--threads") == 0) {
            threads = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--steps") == 0) {
            steps = atoll(argv[i + 1]);
        } else if (strcmp(argv[i], "--input") == 0 &&
                   sscanf(argv[i + 1], "%ldx%ldx%ld", &c, &h, &w) == 3) {
            continue;
        } else {
            fprintf(stderr, "usage: lamina-bench-dp [--model M] [--input CxHxW] [--batch N] "
                            "[--chunk C] [--threads T] [--steps S]\n");
            return 2;
        }
    }
    /* a host program: BLAS outside lamina's regions follows OpenMP's default, which would
     * give every rank all the cores */
    omp_set_num_threads(threads);
    MPI_Init(&argc, &argv);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (chunk == 0) {
        chunk = batch / size;
    }
    const int64_t in = c * h * w, shape[3] = {c, h, w};
    lam_ctx_desc cd;
    lam_ctx_desc_init(&cd);
    cd.n_threads = threads;
    cd.seed = 1;
    lam_ctx *ctx = NULL;
    lam_mpi *hd = NULL;
    lam_model *m = NULL;
    lam_optim *opt = NULL;
    lam_param *p = NULL;
    int np = 0;
    float *x = NULL;
    int32_t *y = NULL;
    int64_t first = 0, n = 0; /* this rank's samples of the global batch */
    lam_status st = lam_ctx_create(&cd, &ctx);
    if (st == LAM_OK && size > 1) {
        st = lam_mpi_attach(ctx, MPI_COMM_WORLD, &hd);
    }
    if (st == LAM_OK) {
        st = lam_ctx_batch_share(ctx, batch, chunk, &first, &n);
    }
    if (st == LAM_OK) {
        x = malloc((size_t)(n * in) * sizeof(float));
        y = malloc((size_t)n * sizeof(int32_t));
        st = x != NULL && y != NULL ? LAM_OK : LAM_ERR_NOMEM;
    }
    const char *spec = lam_model_builtin_spec(model) != NULL ? lam_model_builtin_spec(model)
                                                             : model;
    if (st == LAM_OK) {
        st = lam_model_create(ctx, spec, 3, shape, 10, n, &m);
    }
    if (st == LAM_OK) {
        st = lam_model_params(m, &p, &np);
    }
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_SGD);
    od.lr = 0.01;
    od.momentum = 0.9;
    if (st == LAM_OK) {
        st = lam_optim_create(ctx, &od, p, np, &opt);
    }
    for (int64_t i = 0; st == LAM_OK && i < n * in; i++) {
        x[i] = lam_rng_normal(3, 0, (uint64_t)(first * in + i));
    }
    for (int64_t i = 0; st == LAM_OK && i < n; i++) {
        y[i] = (int32_t)((first + i) % 10);
    }
    double *t = calloc((size_t)steps, sizeof(double)), wait0 = 0.0, wait1 = 0.0;
    int64_t bytes0 = 0, bytes1 = 0;
    for (int64_t s = 0; st == LAM_OK && s < warmup + steps; s++) {
        if (s == warmup) {
            lam__model_dp_stats(m, &wait0, &bytes0);
        }
        lam_step_desc d;
        lam_step_desc_init(&d);
        d.x = x;
        d.labels = y;
        d.n = n;
        d.lr = 0.01;
        d.chunk = chunk;
        d.global_n = batch;
        MPI_Barrier(MPI_COMM_WORLD); /* steps start together: the slowest rank sets the pace */
        const double t0 = lam_time_now();
        st = lam_model_train_batch(m, opt, &d, NULL);
        if (s >= warmup) {
            t[s - warmup] = lam_time_now() - t0;
        }
    }
    lam__model_dp_stats(m, &wait1, &bytes1);
    /* the same exchanges with no backward to hide behind, median of 9 */
    double alone[9] = {0};
    for (int i = 0; st == LAM_OK && i < 9; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        st = lam__model_dp_exchange_alone(m, &alone[i]);
    }
    qsort(alone, 9, sizeof *alone, cmp_double);
    if (st != LAM_OK) {
        fprintf(stderr, "lamina-bench-dp: rank %d: %s: %s\n", rank, lam_strerror(st),
                lam_ctx_errmsg(ctx));
    } else if (rank == 0) {
        double med[1];
        qsort(t, (size_t)steps, sizeof *t, cmp_double);
        med[0] = t[steps / 2];
        printf("{\"model\": \"%s\", \"ranks\": %d, \"threads\": %d, \"batch\": %lld, "
               "\"chunk\": %lld, \"median_step_s\": %.6f, \"min_step_s\": %.6f, "
               "\"images_per_second\": %.1f, \"blocked_on_exchanges_s\": %.6f, "
               "\"bytes_sent_per_step\": %lld, \"exchanges_alone_s\": %.6f}\n",
               model, size, threads, (long long)batch, (long long)chunk, med[0], t[0],
               (double)batch / med[0], (wait1 - wait0) / (double)steps,
               (long long)((bytes1 - bytes0) / steps), alone[4]);
    }
    free(t);
    lam_optim_destroy(opt);
    lam_model_destroy(m);
    lam_mpi_detach(hd);
    lam_ctx_destroy(ctx);
    free(x);
    free(y);
    MPI_Finalize();
    return st == LAM_OK ? 0 : 1;
}
