/* Shared by the fit suite: the driven damped oscillator data set (the README's example,
 * computed in C) in row-major and column-major copies, and small helpers. */
#ifndef LAM_TEST_FIT_UTIL_H
#define LAM_TEST_FIT_UTIL_H

#include <stdint.h>

#include "lamina.h"

/* n samples of (m, k, c, w) in [0.5, 2]^4 standardised to zero mean, unit variance, and the
 * amplitude 1 / sqrt((k - m w^2)^2 + (c w)^2). xr (n, 4) and yr (n, 1) are row-major with
 * leading dimensions ldr (>= 4) and 1; xc and yc the same values column-major with leading
 * dimension ldc (>= n). Padding holds NaN, so reading it poisons the results. All arrays come
 * from malloc. */
typedef struct fit_data {
    int64_t n, ldr, ldc;
    float *xr, *yr, *xc, *yc;
} fit_data;

int fit_data_make(fit_data *d, int64_t n, int64_t ldr, int64_t ldc, uint64_t seed);
void fit_data_free(fit_data *d);
/* The lam_array views of the four arrays. */
lam_array fit_xr(const fit_data *d);
lam_array fit_yr(const fit_data *d);
lam_array fit_xc(const fit_data *d);
lam_array fit_yc(const fit_data *d);

/* A context with n_threads and seed; NULL on failure (message printed). */
lam_ctx *fit_ctx(int n_threads, uint64_t seed);
/* All parameters of m, flat (malloc'd; *n receives the count). */
float *fit_weights(lam_model *m, int64_t *n);
/* Full-batch MSE of m on (x rows, y) computed from lam_predict_array in double. */
double fit_mse(lam_model *m, const lam_array *x, const float *y_rowmajor);

#endif
