/* Random augmentation of image batches, as torchvision's RandomCrop(size, padding=P) and
 * RandomHorizontalFlip(): each image is padded by P pixels on every side, a window of its
 * own size is taken at a random offset in [0, 2P] x [0, 2P], and it is mirrored left-right
 * with probability 1/2.
 *
 * Every draw of image i comes from lam_rng_u64(seed, AUGMENT stream, first_key + i), so a
 * batch's augmentation depends on (seed, key) alone: not on the thread count, not on how
 * many batches ran before in this process. A trainer that numbers its samples through the
 * whole run (the CLI uses step * batch + i) therefore augments a resumed run exactly as an
 * uninterrupted one. */
#include "data_internal.h"

#include <string.h>

#define LAM__STREAM_AUGMENT 0x4155474d00000000ull /* "AUGM" */

void lam_augment_desc_init(lam_augment_desc *d)
{
    if (d != NULL) {
        memset(d, 0, sizeof *d);
    }
}

/* One image: y(c, h, w) = x(c, h + oy - P, w' ) with w' the (mirrored) column, or the pad
 * value of channel c outside the image. */
static void augment_image(const float *x, float *y, int64_t c, int64_t h, int64_t w,
                          int64_t pad, int64_t oy, int64_t ox, int flip, const float *fill)
{
    for (int64_t ch = 0; ch < c; ch++) {
        const float v = fill != NULL ? fill[ch] : 0.0f;
        const float *xp = x + ch * h * w;
        float *yp = y + ch * h * w;
        for (int64_t r = 0; r < h; r++) {
            const int64_t sr = r + oy - pad;
            float *row = yp + r * w;
            if (sr < 0 || sr >= h) {
                for (int64_t q = 0; q < w; q++) {
                    row[q] = v;
                }
                continue;
            }
            const float *src = xp + sr * w;
            for (int64_t q = 0; q < w; q++) {
                /* column q of the window; mirrored, the window's last column comes first */
                const int64_t wq = flip ? w - 1 - q : q;
                const int64_t sq = wq + ox - pad;
                row[q] = sq >= 0 && sq < w ? src[sq] : v;
            }
        }
    }
}

lam_status lam_augment_batch(lam_ctx *ctx, const lam_augment_desc *d, const lam_shape *sample,
                             int64_t n, const float *x, float *y, uint64_t seed,
                             uint64_t first_key)
{
    if (ctx == NULL) {
        return LAM_ERR_ARG;
    }
    if (d == NULL || sample == NULL || x == NULL || y == NULL || n < 0 || x == y ||
        !lam__reserved_zero(d->reserved, (int)(sizeof d->reserved / sizeof d->reserved[0]))) {
        return lam__error(ctx, LAM_ERR_ARG, "augment: need a descriptor (lam_augment_desc_init), "
                          "a sample shape, and separate x and y");
    }
    if (sample->ndim != 3 && (d->crop_pad > 0 || d->flip)) {
        return lam__error(ctx, LAM_ERR_SHAPE, "augment: crop and flip need (C,H,W) images, "
                          "the samples have %d dimension%s", sample->ndim,
                          sample->ndim == 1 ? "" : "s");
    }
    const int64_t c = sample->dim[0], h = sample->ndim == 3 ? sample->dim[1] : 1,
                  w = sample->ndim == 3 ? sample->dim[2] : 1;
    if (d->crop_pad < 0 || d->crop_pad > h || d->crop_pad > w) {
        return lam__error(ctx, LAM_ERR_ARG, "augment: crop padding %lld must be in [0, %lld] "
                          "for %lldx%lld images", (long long)d->crop_pad,
                          (long long)(h < w ? h : w), (long long)h, (long long)w);
    }
    const int64_t per = c * h * w, span = 2 * d->crop_pad + 1;
    for (int64_t i = 0; i < n; i++) {
        const uint64_t u = lam_rng_u64(seed, LAM__STREAM_AUGMENT, first_key + (uint64_t)i);
        /* three draws from disjoint bits: rows, columns (16 bits each: P < 32768), flip */
        const int64_t oy = d->crop_pad > 0 ? (int64_t)((u & 0xffffu) % (uint64_t)span) : 0;
        const int64_t ox = d->crop_pad > 0 ? (int64_t)(((u >> 16) & 0xffffu) % (uint64_t)span)
                                           : 0;
        const int flip = d->flip && ((u >> 32) & 1u);
        augment_image(x + i * per, y + i * per, c, h, w, d->crop_pad, oy, ox, flip,
                      d->pad_value);
    }
    return LAM_OK;
}
