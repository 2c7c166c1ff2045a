/* Per-epoch shuffles, mini-batch gathering, and input normalization statistics. */
#include "data_internal.h"

#include <math.h>
#include <string.h>

lam_status lam_data_permutation(uint64_t seed, uint64_t epoch, int64_t n, int64_t *perm)
{
    if (n < 0 || (perm == NULL && n > 0)) {
        return LAM_ERR_ARG;
    }
    lam__permute(seed, LAM__STREAM_SHUFFLE + epoch, n, perm);
    return LAM_OK;
}

lam_status lam_dataset_gather(const lam_dataset *ds, const int64_t *idx, int64_t n,
                              float *x_out, int32_t *labels_out, float *targets_out)
{
    if (ds == NULL || (idx == NULL && n > 0) || n < 0) {
        return lam__error(ds != NULL ? ds->ctx : NULL, LAM_ERR_ARG,
                          "lam_dataset_gather: NULL dataset or indices, or n < 0");
    }
    if ((labels_out != NULL && ds->task != LAM_DATA_CLASSIFY) ||
        (targets_out != NULL && ds->task != LAM_DATA_REGRESS)) {
        return lam__error(ds->ctx, LAM_ERR_ARG,
                          "lam_dataset_gather: asked for %s but the dataset has %s",
                          labels_out != NULL ? "labels" : "targets",
                          ds->task == LAM_DATA_CLASSIFY  ? "labels"
                          : ds->task == LAM_DATA_REGRESS ? "targets"
                                                         : "no outputs");
    }
    const int64_t row = ds->sample_numel, trow = ds->n_targets;
    for (int64_t i = 0; i < n; i++) {
        const int64_t k = idx[i];
        if (k < 0 || k >= ds->n) {
            return lam__error(ds->ctx, LAM_ERR_RANGE,
                              "lam_dataset_gather: index %lld at %lld is outside [0, %lld)",
                              (long long)k, (long long)i, (long long)ds->n);
        }
        if (x_out != NULL) {
            memcpy(x_out + i * row, ds->x + k * row, (size_t)row * sizeof(float));
        }
        if (labels_out != NULL) {
            labels_out[i] = ds->labels[k];
        }
        if (targets_out != NULL) {
            memcpy(targets_out + i * trow, ds->targets + k * trow, (size_t)trow * sizeof(float));
        }
    }
    return LAM_OK;
}

/* Groups of a sample: channels of (C, H, W), each `inner` = H*W contiguous floats, or the
 * F features of (F), each one float. */
static void groups_of(const lam_dataset *ds, int64_t *groups, int64_t *inner)
{
    if (ds->sample_ndim == 3) {
        *groups = ds->sample_shape[0];
        *inner = ds->sample_shape[1] * ds->sample_shape[2];
    } else {
        *groups = ds->sample_shape[0];
        *inner = 1;
    }
}

lam_status lam_norm_stats_compute(lam_ctx *ctx, const lam_dataset *ds, lam_norm_stats *out)
{
    const char *what = "lam_norm_stats_compute";
    if (ctx == NULL || ds == NULL || out == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "%s: NULL argument", what);
    }
    int64_t g_n = 0, inner = 0;
    groups_of(ds, &g_n, &inner);
    float *mean = lam__data_alloc(ctx, g_n * (int64_t)sizeof(float), what);
    float *sd = mean != NULL ? lam__data_alloc(ctx, g_n * (int64_t)sizeof(float), what) : NULL;
    /* double accumulators: a channel of Fashion-MNIST sums 47 million values */
    double *acc = sd != NULL ? lam__data_alloc(ctx, g_n * (int64_t)sizeof(double), what) : NULL;
    if (acc == NULL) {
        lam_free(ctx, mean);
        lam_free(ctx, sd);
        return LAM_ERR_NOMEM;
    }
    const double count = (double)ds->n * (double)inner;
    memset(acc, 0, (size_t)g_n * sizeof(double));
    for (int64_t i = 0; i < ds->n; i++) {
        const float *xi = ds->x + i * ds->sample_numel;
        for (int64_t g = 0; g < g_n; g++) {
            double s = 0.0;
            for (int64_t p = 0; p < inner; p++) {
                s += xi[g * inner + p];
            }
            acc[g] += s;
        }
    }
    for (int64_t g = 0; g < g_n; g++) {
        mean[g] = (float)(acc[g] / count);
        acc[g] = 0.0;
    }
    /* second pass around the mean: sum of squares minus square of sums cancels badly */
    for (int64_t i = 0; i < ds->n; i++) {
        const float *xi = ds->x + i * ds->sample_numel;
        for (int64_t g = 0; g < g_n; g++) {
            double s = 0.0, m = mean[g];
            for (int64_t p = 0; p < inner; p++) {
                double d = xi[g * inner + p] - m;
                s += d * d;
            }
            acc[g] += s;
        }
    }
    for (int64_t g = 0; g < g_n; g++) {
        double s = sqrt(acc[g] / count);
        sd[g] = s < 1e-12 ? 1.0f : (float)s;
    }
    lam_free(ctx, acc);
    out->n = g_n;
    out->mean = mean;
    out->std = sd;
    return LAM_OK;
}

void lam_norm_stats_free(lam_ctx *ctx, lam_norm_stats *st)
{
    if (st == NULL) {
        return;
    }
    lam_free(ctx, st->mean);
    lam_free(ctx, st->std);
    st->n = 0;
    st->mean = NULL;
    st->std = NULL;
}

lam_status lam_dataset_normalize(lam_dataset *ds, const lam_norm_stats *st)
{
    const char *what = "lam_dataset_normalize";
    if (ds == NULL || st == NULL || st->mean == NULL || st->std == NULL) {
        return lam__error(ds != NULL ? ds->ctx : NULL, LAM_ERR_ARG, "%s: NULL argument", what);
    }
    int64_t g_n = 0, inner = 0;
    groups_of(ds, &g_n, &inner);
    if (st->n != g_n) {
        return lam__error(ds->ctx, LAM_ERR_SHAPE,
                          "%s: statistics have %lld groups, the dataset's samples have %lld",
                          what, (long long)st->n, (long long)g_n);
    }
    for (int64_t g = 0; g < g_n; g++) {
        if (!(st->std[g] > 0.0f) || !isfinite(st->std[g]) || !isfinite(st->mean[g])) {
            return lam__error(ds->ctx, LAM_ERR_ARG, "%s: group %lld has mean %g, std %g", what,
                              (long long)g, (double)st->mean[g], (double)st->std[g]);
        }
    }
    for (int64_t i = 0; i < ds->n; i++) {
        float *xi = ds->x + i * ds->sample_numel;
        for (int64_t g = 0; g < g_n; g++) {
            const float m = st->mean[g], inv = (float)(1.0 / st->std[g]);
            for (int64_t p = 0; p < inner; p++) {
                xi[g * inner + p] = (xi[g * inner + p] - m) * inv;
            }
        }
    }
    return LAM_OK;
}
