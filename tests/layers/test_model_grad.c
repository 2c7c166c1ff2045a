/* End-to-end gradient check of a whole model: the loss after forward through conv, relu (in
 * place), pooling, batch norm, tanh, flatten, linear, gelu, dropout and linear, against
 * central differences along random directions of every parameter tensor. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "harness.h"
#include "lamina.h"


static void check_model(const char *spec, int64_t n, uint64_t seed)
{
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.seed = seed;
    lam_ctx *ctx = NULL;
    lam_ctx_create(&cfg, &ctx);
    int64_t in_shape[3] = {2, 9, 8};
    gc_model_case c = {NULL, NULL, NULL, n, {LAM_LOSS_SOFTMAX_XENT, 0.0f, 0.0f}};
    if (!T_CHECK(lam_model_create(ctx, spec, 3, in_shape, 5, n, &c.m) == LAM_OK,
                 "create '%s': %s", spec, lam_ctx_errmsg(ctx))) {
        lam_ctx_destroy(ctx);
        return;
    }
    int64_t nx = n * 2 * 9 * 8;
    float *x = malloc((size_t)nx * sizeof(float));
    int32_t *labels = malloc((size_t)n * sizeof(int32_t));
    t_fill_uniform(x, nx, -1.0f, 1.0f, seed, 1);
    for (int64_t i = 0; i < n; i++) {
        labels[i] = (int32_t)(lam_rng_u64(seed, 2, (uint64_t)i) % 5);
    }
    c.x = x;
    c.labels = labels;
    lam_model_set_step(c.m, 7);
    /* small eps: a +-eps step on every weight moves many ReLU/max-pool inputs at once, and at
     * 1e-3 some cross a kink (seen: 0.0037 vs 0.027); 3e-4 stays clear while float32
     * rounding of the loss (~1e-7) is still far below the 1e-3 tolerance */
    gc_check_params("model", c.m, gc_model_loss, &c, 3e-4, 0, seed);
    free(x);
    free(labels);
    lam_model_destroy(c.m);
    lam_ctx_destroy(ctx);
}

int main(void)
{
    check_model("conv:4,3,pad=1 relu maxpool:2 conv:6,3 bn tanh flatten linear:7 gelu "
                "dropout:0.25 linear:out", 6, 101);
    check_model("conv:3,3,stride=2 leakyrelu:0.1 avgpool:2,stride=1 flatten linear:6 sigmoid "
                "linear:out", 4, 102);
    return t_exit("model_grad");
}
