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

/* A context of `threads` threads with the fast kernels or (ref = 1) the naive twins. */
lam_ctx *gc_ctx(uint64_t seed, int threads, int ref);
/* Evaluate f (which runs m's forward and loss), backward, then gc_check every parameter of
 * m against central differences of step eps (dense up to max_dense elements, else 3
 * directions). */
void gc_check_params(const char *what, struct lam_model *m, gc_loss_fn f, void *user,
                     double eps, int64_t max_dense, uint64_t seed);
/* One forward/backward of case tc: outputs and gradients in one array (*count floats) that
 * the caller frees, or NULL. */
typedef float *(*gc_run_fn)(const void *tc, int threads, int ref, int64_t *count);
/* 1 and 2 threads bitwise the same, and the fast kernels within (1e-5, 1e-4) of the twins. */
void gc_compare_runs(const char *what, gc_run_fn run, const void *tc);

#endif
