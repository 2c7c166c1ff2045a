#include "fit_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float amplitude(const double v[4])
{
    double a = v[1] - v[0] * v[3] * v[3], b = v[2] * v[3];
    return (float)(1.0 / sqrt(a * a + b * b));
}

int fit_data_make(fit_data *d, int64_t n, int64_t ldr, int64_t ldc, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->ldr = ldr;
    d->ldc = ldc;
    d->xr = malloc((size_t)(n * ldr) * sizeof(float));
    d->yr = malloc((size_t)n * sizeof(float));
    d->xc = malloc((size_t)(4 * ldc) * sizeof(float));
    d->yc = malloc((size_t)ldc * sizeof(float));
    if (d->xr == NULL || d->yr == NULL || d->xc == NULL || d->yc == NULL) {
        fit_data_free(d);
        return -1;
    }
    for (int64_t i = 0; i < n * ldr; i++) {
        d->xr[i] = NAN;
    }
    for (int64_t i = 0; i < 4 * ldc; i++) {
        d->xc[i] = NAN;
    }
    for (int64_t i = 0; i < ldc; i++) {
        d->yc[i] = NAN;
    }
    /* uniform [0.5, 2]: mean 1.25, std 1.5 / sqrt(12) */
    const double mean = 1.25, std = 1.5 / sqrt(12.0);
    for (int64_t i = 0; i < n; i++) {
        double v[4];
        for (int j = 0; j < 4; j++) {
            v[j] = 0.5 + 1.5 * (double)lam_rng_uniform(seed, (uint64_t)j, (uint64_t)i);
            float s = (float)((v[j] - mean) / std);
            d->xr[i * ldr + j] = s;
            d->xc[i + j * ldc] = s;
        }
        d->yr[i] = amplitude(v);
        d->yc[i] = d->yr[i];
    }
    return 0;
}

void fit_data_free(fit_data *d)
{
    free(d->xr);
    free(d->yr);
    free(d->xc);
    free(d->yc);
    memset(d, 0, sizeof *d);
}

lam_array fit_xr(const fit_data *d)
{
    return (lam_array){d->xr, d->n, 4, d->ldr, 0};
}

lam_array fit_yr(const fit_data *d)
{
    return (lam_array){d->yr, d->n, 1, 1, 0};
}

lam_array fit_xc(const fit_data *d)
{
    return (lam_array){d->xc, d->n, 4, d->ldc, 1};
}

lam_array fit_yc(const fit_data *d)
{
    return (lam_array){d->yc, d->n, 1, d->ldc, 1};
}

lam_ctx *fit_ctx(int n_threads, uint64_t seed)
{
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.n_threads = n_threads;
    cfg.seed = seed;
    lam_ctx *ctx = NULL;
    if (lam_ctx_create(&cfg, &ctx) != LAM_OK) {
        printf("FAIL: lam_ctx_create\n");
        return NULL;
    }
    return ctx;
}

float *fit_weights(lam_model *m, int64_t *n)
{
    lam_param *p;
    int np;
    lam_model_params(m, &p, &np);
    *n = lam_model_param_count(m);
    float *w = malloc((size_t)*n * sizeof(float) + 1);
    float *at = w;
    for (int i = 0; w != NULL && i < np; i++) {
        memcpy(at, p[i].w, (size_t)p[i].n * sizeof(float));
        at += p[i].n;
    }
    return w;
}

double fit_mse(lam_model *m, const lam_array *x, const float *y_rowmajor)
{
    float *pred = malloc((size_t)x->rows * sizeof(float));
    if (pred == NULL || lam_predict_array(m, x, pred) != LAM_OK) {
        free(pred);
        return NAN;
    }
    double s = 0.0;
    for (int64_t i = 0; i < x->rows; i++) {
        double d = (double)pred[i] - (double)y_rowmajor[i];
        s += d * d;
    }
    free(pred);
    return s / (double)x->rows;
}
