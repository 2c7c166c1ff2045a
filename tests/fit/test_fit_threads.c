/* Suite 'fit': four host threads predict at once, each with its own context (1 or 2 lamina
 * threads) and a clone of one trained model (made concurrently from the shared source), half
 * of them on the row-major and half on the column-major copy of the inputs. Every
 * prediction, repeated, must equal the single-threaded output bit for bit. (Clones keep the
 * source's max_batch: BLAS may pick another kernel for another batch size, which can change
 * the last bits.) */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit_util.h"
#include "harness.h"

#define SEED 4242u
#define N_THREADS 4
#define ROUNDS 25

typedef struct worker {
    int id;
    lam_model *source;      /* shared, read only while the workers run */
    const fit_data *data;
    const float *want;      /* single-threaded predictions */
    pthread_barrier_t *go;
    int status;             /* 0 ok, 1 a lamina call failed, 2 a mismatch */
    char msg[160];
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.n_threads = 1 + w->id % 2;
    lam_ctx *ctx = NULL;
    lam_model *clone = NULL;
    float *out = malloc((size_t)w->data->n * sizeof(float));
    lam_status st = lam_ctx_create(&cfg, &ctx);
    if (st == LAM_OK) {
        st = lam_model_clone(ctx, w->source, 0, &clone);
    }
    /* every thread clones, then all predict at the same moment */
    pthread_barrier_wait(w->go);
    lam_array x = w->id % 2 ? fit_xc(w->data) : fit_xr(w->data);
    for (int r = 0; st == LAM_OK && r < ROUNDS && w->status == 0; r++) {
        memset(out, 0xff, (size_t)w->data->n * sizeof(float));
        st = lam_predict_array(clone, &x, out);
        if (st == LAM_OK && memcmp(out, w->want, (size_t)w->data->n * sizeof(float)) != 0) {
            w->status = 2;
            snprintf(w->msg, sizeof w->msg, "thread %d round %d: predictions differ", w->id, r);
        }
    }
    if (st != LAM_OK) {
        w->status = 1;
        snprintf(w->msg, sizeof w->msg, "thread %d: status %d: %s", w->id, (int)st,
                 ctx != NULL ? lam_ctx_errmsg(ctx) : "no context");
    }
    free(out);
    lam_model_destroy(clone);
    lam_ctx_destroy(ctx);
    return NULL;
}

int main(void)
{
    printf("seed %u\n", SEED);
    fit_data d;
    if (fit_data_make(&d, 3000, 5, 3001, SEED) != 0) {
        printf("FAIL: no memory\n");
        return 1;
    }
    lam_ctx *ctx = fit_ctx(1, SEED);
    int64_t in[1] = {4};
    lam_model *m = NULL;
    T_CHECK(lam_model_create(ctx, "linear:32 tanh linear:32 gelu linear:out", 1, in, 1, 64,
                             &m) == LAM_OK,
            "model: %s", lam_ctx_errmsg(ctx));
    /* train a little so the weights are not the initial ones */
    lam_lbfgs_desc bd;
    lam_lbfgs_desc_init(&bd);
    bd.max_iters = 10;
    lam_array x = fit_xr(&d), y = fit_yr(&d);
    T_CHECK(lam_fit_lbfgs(m, &bd, &x, &y, NULL) == LAM_OK, "lbfgs: %s", lam_ctx_errmsg(ctx));
    float *want = malloc((size_t)d.n * sizeof(float));
    T_CHECK(lam_predict_array(m, &x, want) == LAM_OK, "reference predictions");

    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N_THREADS);
    worker w[N_THREADS];
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (worker){i, m, &d, want, &go, 0, ""};
        T_CHECK(pthread_create(&th[i], NULL, work, &w[i]) == 0, "pthread_create %d", i);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        T_CHECK(w[i].status == 0, "%s", w[i].msg);
    }
    pthread_barrier_destroy(&go);
    /* the source was only read */
    float *again = malloc((size_t)d.n * sizeof(float));
    T_CHECK(lam_predict_array(m, &x, again) == LAM_OK, "source after the threads");
    t_equal("source model unchanged by its clones", again, want, d.n);
    free(again);
    free(want);
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    fit_data_free(&d);
    return t_exit("fit_threads");
}
