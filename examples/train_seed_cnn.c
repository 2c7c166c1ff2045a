/* Train the seed CNN on the caller's own arrays through the public API only: the ~30 lines a
 * scientific code needs. The data are synthetic 1x28x28 images, where class c is a bright
 * 6x6 square at a class-specific position plus noise, so the run needs no files.
 * Exits 0 when the mean loss of the last 20 steps is below 0.3 (from ln 10 = 2.30). */
#include <stdio.h>
#include <stdlib.h>

#include <lamina.h>

enum { N = 2048, B = 32, STEPS = 300, PIX = 28 * 28 };

static void make_data(float *x, int32_t *y)
{
    for (int i = 0; i < N; i++) {
        int c = (int)(lam_rng_u64(1, 0, (uint64_t)i) % 10);
        int r0 = 3 + (c / 5) * 13, c0 = 2 + (c % 5) * 5;
        y[i] = c;
        for (int p = 0; p < PIX; p++) {
            int r = p / 28, col = p % 28;
            int inside = r >= r0 && r < r0 + 6 && col >= c0 && col < c0 + 6;
            x[(size_t)i * PIX + (size_t)p] =
                (float)inside + 0.3f * lam_rng_normal(1, 1, (uint64_t)i * PIX + (uint64_t)p);
        }
    }
}

int main(void)
{
    float *x = malloc(sizeof(float) * N * PIX);
    int32_t *y = malloc(sizeof(int32_t) * N);
    make_data(x, y);

    lam_ctx *ctx = NULL;
    lam_model *model = NULL;
    lam_optim *opt = NULL;
    lam_param *params;
    int n_params;
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_SGD);
    od.lr = 0.01;
    od.momentum = 0.9;
    const int64_t in_shape[3] = {1, 28, 28};
    lam_loss_desc loss = {LAM_LOSS_SOFTMAX_XENT, 0.0f, 0.0f};
    lam_status st = lam_ctx_create(NULL, &ctx);
    if (st == LAM_OK) {
        st = lam_model_create(ctx, "seed-cnn", 3, in_shape, 10, B, &model);
    }
    if (st == LAM_OK) {
        st = lam_model_params(model, &params, &n_params);
    }
    if (st == LAM_OK) {
        st = lam_optim_create(ctx, &od, params, n_params, &opt);
    }
    double tail = 0.0;
    for (int s = 0; st == LAM_OK && s < STEPS; s++) {
        int64_t first = (int64_t)(s * B) % N; /* the caller's arrays, used in place */
        double l = 0.0;
        st = lam_model_train_step(model, opt, &loss, x + first * PIX, y + first, NULL, B,
                                  od.lr, 0.0, &l, NULL);
        if (s % 50 == 0) {
            printf("step %3d  loss %.4f\n", s, l);
        }
        tail += s >= STEPS - 20 ? l / 20 : 0.0;
    }
    if (st != LAM_OK) {
        fprintf(stderr, "train_seed_cnn: %s: %s\n", lam_strerror(st), lam_ctx_errmsg(ctx));
    } else {
        printf("mean loss of the last 20 steps: %.4f\n", tail);
    }
    lam_optim_destroy(opt);
    lam_model_destroy(model);
    lam_ctx_destroy(ctx);
    free(x);
    free(y);
    return st == LAM_OK && tail < 0.3 ? 0 : 1;
}
