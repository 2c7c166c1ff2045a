/* Augmentation: random crop after zero padding and horizontal flip of image batches. Every
 * output image must be its input shifted by an offset in [-P, P]^2 (padding where the window
 * leaves the image) and maybe mirrored, with every offset and both flips drawn over many
 * images; the draws depend on (seed, key) alone, so a batch cut in two gives the same result. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lamina.h"

enum { C = 2, H = 5, W = 6, N = 600, P = 2 };

/* Image i with every value distinct, so a shift or a mirror is recognised exactly. */
static void fill(float *x, int64_t n)
{
    for (int64_t i = 0; i < n * C * H * W; i++) {
        x[i] = 1.0f + (float)i;
    }
}

/* Whether y is x shifted by (dy, dx) (window offset minus P) after an optional mirror, with
 * pad[c] outside. */
static int matches(const float *x, const float *y, int dy, int dx, int flip, const float *pad)
{
    for (int c = 0; c < C; c++) {
        for (int r = 0; r < H; r++) {
            for (int q = 0; q < W; q++) {
                const int sr = r + dy, sq = (flip ? W - 1 - q : q) + dx;
                const float want = sr >= 0 && sr < H && sq >= 0 && sq < W
                                       ? x[(c * H + sr) * W + sq]
                                       : pad[c];
                if (y[(c * H + r) * W + q] != want) {
                    return 0;
                }
            }
        }
    }
    return 1;
}

int main(void)
{
    lam_ctx *ctx = NULL;
    if (lam_ctx_create(NULL, &ctx) != LAM_OK) {
        return 1;
    }
    const int64_t per = C * H * W;
    float *x = malloc((size_t)(N * per) * sizeof(float));
    float *y = malloc((size_t)(N * per) * sizeof(float));
    float *z = malloc((size_t)(N * per) * sizeof(float));
    const lam_shape img = {3, {C, H, W}};
    const float pad[C] = {-0.5f, -0.25f};
    fill(x, N);

    lam_augment_desc d;
    lam_augment_desc_init(&d);
    T_CHECK(lam_augment_batch(ctx, &d, &img, N, x, y, 7, 0) == LAM_OK, "identity");
    t_equal("no crop, no flip: a copy", y, x, N * per);

    d.crop_pad = P;
    d.flip = 1;
    d.pad_value = pad;
    T_CHECK(lam_augment_batch(ctx, &d, &img, N, x, y, 7, 100) == LAM_OK, "crop and flip: %s",
            lam_ctx_errmsg(ctx));
    int seen[2 * P + 1][2 * P + 1][2];
    memset(seen, 0, sizeof seen);
    int unexplained = 0;
    for (int64_t i = 0; i < N; i++) {
        int found = 0;
        for (int dy = -P; dy <= P && !found; dy++) {
            for (int dx = -P; dx <= P && !found; dx++) {
                for (int f = 0; f < 2 && !found; f++) {
                    if (matches(x + i * per, y + i * per, dy, dx, f, pad)) {
                        seen[dy + P][dx + P][f]++;
                        found = 1;
                    }
                }
            }
        }
        unexplained += !found;
    }
    T_CHECK(unexplained == 0, "%d of %d images are no shift and mirror of their input",
            unexplained, N);
    int flips = 0, empty = 0;
    for (int a = 0; a < 2 * P + 1; a++) {
        for (int b = 0; b < 2 * P + 1; b++) {
            flips += seen[a][b][1];
            empty += seen[a][b][0] + seen[a][b][1] == 0;
        }
    }
    /* 600 draws of 25 offsets: each is expected 24 times, none should be missing; flips are
     * binomial(600, 1/2): within 240..360 fails with probability below 1e-6 */
    T_CHECK(empty == 0, "%d of %d offsets never drawn", empty, (2 * P + 1) * (2 * P + 1));
    T_CHECK(flips > 240 && flips < 360, "%d flips of %d", flips, N);

    /* the same keys give the same draws, however the batch is cut (a resumed run) */
    T_CHECK(lam_augment_batch(ctx, &d, &img, 250, x, z, 7, 100) == LAM_OK &&
                lam_augment_batch(ctx, &d, &img, N - 250, x + 250 * per, z + 250 * per, 7,
                                  350) == LAM_OK,
            "two halves");
    t_equal("a batch cut in two", z, y, N * per);
    T_CHECK(lam_augment_batch(ctx, &d, &img, N, x, z, 8, 100) == LAM_OK &&
                memcmp(y, z, (size_t)(N * per) * sizeof(float)) != 0,
            "another seed draws otherwise");

    /* errors */
    T_CHECK(lam_augment_batch(ctx, &d, &img, N, x, x, 7, 0) == LAM_ERR_ARG, "in place refused");
    d.crop_pad = 6;
    T_CHECK(lam_augment_batch(ctx, &d, &img, N, x, y, 7, 0) == LAM_ERR_ARG,
            "padding beyond the image");
    d.crop_pad = 1;
    const lam_shape vec = {1, {per, 1, 1}};
    T_CHECK(lam_augment_batch(ctx, &d, &vec, N, x, y, 7, 0) == LAM_ERR_SHAPE &&
                strstr(lam_ctx_errmsg(ctx), "need (C,H,W) images") != NULL,
            "feature vectors: %s", lam_ctx_errmsg(ctx));
    free(x);
    free(y);
    free(z);
    lam_ctx_destroy(ctx);
    return t_exit("data_augment");
}
