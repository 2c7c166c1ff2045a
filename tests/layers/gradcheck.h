/* Central-difference gradient checks shared by the layer and model tests.
 * L = sum r * y with a fixed random r (avoids cancellations), accumulated in double;
 * eps = 1e-2 on inputs kept >= 2 eps away from kinks; pass if
 * |analytic - numeric| <= 1e-3 + 1e-2 |numeric| (style.md 2.7). */
#ifndef LAM_TEST_GRADCHECK_H
#define LAM_TEST_GRADCHECK_H

#include <stdint.h>

#include "lamina.h"

/* Evaluate L at the current inputs/parameters. */
typedef double (*gc_loss_fn)(void *user);

/* Compare analytic[i] with the central difference of f w.r.t. v[i], for every i (dense) or,
 * when n > max_dense, along `n_dirs` random +-1 directions. Returns 1 if all pass. */
int gc_check(const char *what, gc_loss_fn f, void *user, float *v, const float *analytic,
             int64_t n, double eps, int64_t max_dense, int n_dirs, uint64_t seed);

/* A model's loss on a fixed batch, as a gc_loss_fn (user: a gc_model_case): forward with
 * train = 1, then the loss; NaN when either fails. */
struct lam_model;
typedef struct gc_model_case {
    struct lam_model *m;
    const float *x;
    const int32_t *labels;
    int64_t n;
    lam_loss_desc loss;
} gc_model_case;
double gc_model_loss(void *user);

#endif
