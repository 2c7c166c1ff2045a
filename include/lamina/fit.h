/**
 * @file lamina/fit.h
 * @brief Training and inference on the caller's own arrays, for scientific codes: row-major
 *        (C) or column-major (Fortran) sample matrices, never copied whole and never written;
 *        first-order training loops, Levenberg-Marquardt and L-BFGS for small full-batch
 *        regression problems; and model clones for concurrent inference.
 *
 * Batches are gathered from the caller's arrays into lamina's own buffers, so a (samples x
 * features) array in either order trains to the same weights.
 */
#ifndef LAMINA_FIT_H
#define LAMINA_FIT_H

#include "lamina/core.h"
#include "lamina/model.h"
#include "lamina/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A (rows x cols) float matrix owned by the caller: rows are samples, cols are features (or
 * targets). Row-major: element (i, j) is data[i*ld + j], ld >= cols. Column-major (Fortran):
 * element (i, j) is data[i + j*ld], ld >= rows. ld = 0 means the tight value.
 */
typedef struct lam_array {
    const float *data;
    int64_t rows;
    int64_t cols;
    int64_t ld;
    int col_major;
} lam_array;

/**
 * Copy the rows idx[0..n) of `a` into out (n x a->cols, row-major). Never allocates.
 * @return LAM_OK, LAM_ERR_ARG (NULL, bad ld, an index out of range).
 */
LAM_API lam_status lam_array_gather(const lam_array *a, const int64_t *idx, int64_t n,
                                    float *out);

/** First-order training loop over caller arrays. */
typedef struct lam_fit_desc {
    int64_t epochs;        /**< >= 1 */
    int64_t batch;         /**< samples per step, <= the model's max_batch */
    double lr;             /**< constant learning rate, or the base of `schedule` */
    const lam_schedule *schedule; /**< NULL: constant lr */
    lam_loss_desc loss;
    double clip_norm;      /**< 0: off */
    uint64_t shuffle_seed; /**< epoch e uses lam_data-style permutation of (seed, e) */
    int shuffle;           /**< 0: samples in order */
} lam_fit_desc;

/** What a fit reports. */
typedef struct lam_fit_report {
    double final_loss;     /**< mean training loss of the last epoch (or iteration) */
    int64_t steps;         /**< optimizer steps / iterations taken */
    int64_t evaluations;   /**< full-batch loss evaluations (LM, L-BFGS) */
    double seconds;
} lam_fit_report;

/**
 * Train with a first-order optimizer on x (samples x in_features) and either labels (one per
 * sample, cross-entropy) or targets y (samples x n_out). The caller's arrays are read only.
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_SHAPE (columns do not match the model), LAM_ERR_NUMERIC.
 */
LAM_API lam_status lam_fit(lam_model *m, lam_optim *opt, const lam_fit_desc *d,
                           const lam_array *x, const lam_array *y, const int32_t *labels,
                           lam_fit_report *rep);

/** Levenberg-Marquardt (full batch, sum-of-squares loss on y). */
typedef struct lam_lm_desc {
    int64_t max_iters;     /**< accepted + rejected steps, >= 1 */
    double mu0;            /**< initial damping (1e-3) */
    double mu_up, mu_down; /**< damping factors on reject/accept (10, 0.1) */
    double mu_max;         /**< give up above this damping (1e10) */
    double tol;            /**< stop when the relative loss decrease is below tol (1e-12) */
    double max_seconds;    /**< stop after this wall time (0 = no limit) */
} lam_lm_desc;

LAM_API void lam_lm_desc_init(lam_lm_desc *d);

/**
 * Levenberg-Marquardt: the Jacobian of the residuals f(x_i) - y_i comes from per-sample
 * backward passes; the damped normal equations (J^T J + mu diag(J^T J) + mu I) dw = -J^T r
 * are solved by Cholesky (LAPACKE spotrf/spotrs), falling back to a larger damping when the
 * matrix is not positive definite; mu adapts (Marquardt 1963, as MATLAB trainlm).
 * Needs LAPACKE (LAM_ERR_ARG without it). Memory: samples*outputs*params floats for J.
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_SHAPE, LAM_ERR_NOMEM, LAM_ERR_NUMERIC.
 */
LAM_API lam_status lam_fit_lm(lam_model *m, const lam_lm_desc *d, const lam_array *x,
                              const lam_array *y, lam_fit_report *rep);

/** L-BFGS with a strong-Wolfe line search (full batch, MSE loss on y). */
typedef struct lam_lbfgs_desc {
    int64_t max_iters;     /**< >= 1 */
    int history;           /**< correction pairs kept (10) */
    double c1, c2;         /**< Wolfe constants (1e-4, 0.9) */
    double tol_grad;       /**< stop when the gradient's max-norm is below (1e-7) */
    double tol_change;     /**< stop when loss changes less than this (1e-12) */
    double max_seconds;    /**< 0 = no limit */
} lam_lbfgs_desc;

LAM_API void lam_lbfgs_desc_init(lam_lbfgs_desc *d);

/** L-BFGS (Nocedal & Wright, Alg. 7.4 with the line search of Alg. 3.5/3.6). */
LAM_API lam_status lam_fit_lbfgs(lam_model *m, const lam_lbfgs_desc *d, const lam_array *x,
                                 const lam_array *y, lam_fit_report *rep);

/**
 * Inference on caller arrays: out (x->rows x n_out, row-major) = model(x). Uses the model's
 * own buffers, so one model must not run in two threads at once: give each thread a clone.
 */
LAM_API lam_status lam_predict_array(lam_model *m, const lam_array *x, float *out);

/**
 * A copy of a model (spec, weights, buffers) with its own activation buffers for max_batch,
 * made on `ctx` (which may be another thread's context). Clones never share mutable state,
 * so each may run in its own thread.
 */
LAM_API lam_status lam_model_clone(lam_ctx *ctx, lam_model *m, int64_t max_batch,
                                   lam_model **out);

#ifdef __cplusplus
}
#endif
#endif
