/**
 * @file lamina/fit.h
 * @brief Training and inference on the caller's own arrays, for scientific codes: row-major
 *        (C) or column-major (Fortran) sample matrices, never copied whole and never written;
 *        first-order training loops, Levenberg-Marquardt and L-BFGS for small full-batch
 *        regression problems; and model clones for concurrent inference.
 *
 * Batches are gathered from the caller's arrays into lamina's own buffers, so a (samples x
 * features) array in either order trains to the same weights (bitwise).
 *
 * Memory: every function here allocates its buffers through the model's context allocator
 * (lam_alloc) once per call, sized from the model's max_batch and parameter count (never
 * from a copy of the data), and frees them before returning. The caller's arrays are read
 * only and only while the call runs.
 *
 * Threads: as everywhere in lamina, one model (and its context) must not be used by two
 * threads at once. For concurrent inference give each thread its own context and a
 * lam_model_clone() of the trained model. The library never changes the host's OpenMP or
 * BLAS thread settings.
 *
 * Reproducibility: with the same BLAS build, thread counts and max_batch, every function here
 * gives bitwise the same result on every run, and row-major and column-major inputs give
 * the same results. lam_fit and lam_fit_lbfgs use lamina's fixed chunking, so lamina's thread
 * count does not change them; lam_fit_lm also calls BLAS syrk and LAPACK's Cholesky, whose
 * threaded versions round differently, so its trajectory depends on the BLAS thread count.
 * Predictions are computed in chunks of max_batch; another max_batch may change the last
 * bits (BLAS picks kernels by matrix size).
 *
 * Example (Fortran-ordered data, LM):
 * @code
 * lam_array x = {xdata, n, 4, n, 1}, y = {ydata, n, 1, n, 1};  // column-major, ld = n
 * lam_model *m;
 * int64_t in[1] = {4};
 * lam_model_create(ctx, "linear:32 tanh linear:32 tanh linear:out", 1, in, 1, 256, &m);
 * lam_lm_desc d;
 * lam_lm_desc_init(&d);
 * lam_fit_report rep;
 * if (lam_fit_lm(m, &d, &x, &y, &rep) != LAM_OK) { ... lam_ctx_errmsg(ctx) ... }
 * lam_predict_array(m, &x, pred);                              // pred: n x 1, row-major
 * @endcode
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
 * element (i, j) is data[i + j*ld], ld >= rows. ld = 0 means the tight value. col_major is
 * 0 (row-major) or nonzero (column-major). lamina only reads `data`.
 */
typedef struct lam_array {
    const float *data;
    int64_t rows;
    int64_t cols;
    int64_t ld;
    int col_major;
} lam_array;

/**
 * Copy the rows idx[0..n) of `a` into out (n x a->cols, row-major). Never allocates and has
 * no context, so a failure carries no message. Thread-safe (reads `a`, writes `out`).
 * @param[in]  a    the caller's matrix.
 * @param[in]  idx  n row indices in [0, a->rows), in any order, repeats allowed.
 * @param[in]  n    >= 0.
 * @param[out] out  n * a->cols floats, caller-owned.
 * @return LAM_OK, LAM_ERR_ARG (NULL, rows < 0, cols < 1, ld below the tight value, an index
 *         past INT64, an index out of range; out is then untouched).
 */
LAM_API lam_status lam_array_gather(const lam_array *a, const int64_t *idx, int64_t n,
                                    float *out);

/** First-order training loop over caller arrays. Fill with lam_fit_desc_init(). */
typedef struct lam_fit_desc {
    int64_t epochs;        /**< >= 1 */
    int64_t batch;         /**< samples per step, <= the model's max_batch */
    double lr;             /**< constant learning rate, or the base of `schedule` */
    const lam_schedule *schedule; /**< NULL: constant lr. Else the rate of each step is
                                       lam_schedule_lr(schedule, lam_optim_get_step(opt)), so
                                       a second call continues the schedule. */
    lam_loss_desc loss;
    double clip_norm;      /**< 0: off */
    uint64_t shuffle_seed; /**< epoch e (0-based, per call) visits the samples in the order
                                lam_data_permutation(shuffle_seed, e) gives */
    int shuffle;           /**< 0: samples in order */
    /** Data-parallel fit (lam_step_desc.chunk): every rank passes the same arrays, and each
     *  step trains on this rank's chunks of the global batch `batch`, the gradients summed
     *  over the ranks (lam_ctx_set_comm, liblamina_mpi) in one tree over the chunks: the
     *  weights are the same bits on any number of ranks. Only whole batches are used. 0 =
     *  the whole batch is one chunk. */
    int64_t chunk;
} lam_fit_desc;

/**
 * Defaults for lam_fit: 1 epoch, batch 32, lr 1e-3, no schedule, MSE loss (Huber delta 1),
 * no clipping, shuffle on with seed 0. NULL is a no-op. (Added with the implementation.)
 */
LAM_API void lam_fit_desc_init(lam_fit_desc *d);

/** What a fit reports. */
typedef struct lam_fit_report {
    double final_loss;     /**< mean training loss of the last epoch (lam_fit: mean of the
                                batch losses weighted by batch size, in training mode), or
                                the full-batch MSE at the returned weights (LM, L-BFGS) */
    int64_t steps;         /**< optimizer steps (lam_fit), LM iterations (accepted and
                                rejected trial steps), or L-BFGS iterations */
    int64_t evaluations;   /**< full-batch loss evaluations (LM, L-BFGS); 0 for lam_fit */
    double seconds;        /**< wall time of the call */
} lam_fit_report;

/**
 * Train with a first-order optimizer on x (samples x in_features) and either labels (one per
 * sample, cross-entropy) or targets y (samples x n_out). The caller's arrays are read only,
 * batch by batch (rows gathered through the epoch's permutation). Each batch is one
 * lam_model_train_step(): weights, the optimizer state and the model's step counter advance.
 * in_features is the model's input sample size (C*H*W for images, in NCHW order per row).
 * @param[in,out] m       the model; max_batch >= d->batch.
 * @param[in,out] opt     an optimizer created over lam_model_params(m).
 * @param[in]     d       the loop's settings.
 * @param[in]     x       x->rows >= 1 samples, x->cols = in_features.
 * @param[in]     y       targets (rows = x->rows, cols = n_out) for MSE/L1/Huber; NULL for
 *                        cross-entropy.
 * @param[in]     labels  x->rows labels in [0, n_out) for cross-entropy; NULL otherwise.
 * @param[out]    rep     may be NULL; filled also on failure with what was done.
 * @return LAM_OK, LAM_ERR_ARG (NULL, bad desc, a bad array, y/labels not matching the loss),
 *         LAM_ERR_SHAPE (columns do not match the model, rows of x and y differ),
 *         LAM_ERR_RANGE (a label), LAM_ERR_NOMEM, LAM_ERR_NUMERIC (a step met a non-finite
 *         loss or gradient: that step was not applied, the loop stops).
 */
LAM_API lam_status lam_fit(lam_model *m, lam_optim *opt, const lam_fit_desc *d,
                           const lam_array *x, const lam_array *y, const int32_t *labels,
                           lam_fit_report *rep);

/** Levenberg-Marquardt (full batch, sum-of-squares loss on y). */
typedef struct lam_lm_desc {
    int64_t max_iters;     /**< accepted + rejected steps, >= 1 (100) */
    double mu0;            /**< initial damping (1e-3) */
    double mu_up, mu_down; /**< damping factors on reject/accept (2, 1/3: Transtrum & Sethna
                                2012; MATLAB trainlm uses 10, 0.1) */
    double mu_max;         /**< give up above this damping (1e10) */
    double tol;            /**< stop when the relative loss decrease is below tol (1e-12) */
    double max_seconds;    /**< stop after this wall time (0 = no limit) */
} lam_lm_desc;

/** Fill `d` with the defaults in parentheses above (max_seconds 0). NULL is a no-op. */
LAM_API void lam_lm_desc_init(lam_lm_desc *d);

/**
 * Levenberg-Marquardt: the Jacobian of the residuals f(x_i) - y_i comes from per-sample
 * backward passes; the damped normal equations (J^T J + mu diag(J^T J) + mu I) dw = -J^T r
 * are solved by Cholesky (LAPACKE spotrf/spotrs), falling back to a larger damping when the
 * matrix is not positive definite; mu adapts (Marquardt 1963, as MATLAB trainlm): it is
 * multiplied by mu_down after a step that lowers the loss and by mu_up after one that does
 * not (the weights are then restored). J^T J and J^T r are accumulated in double. As
 * LAPACK's dsposv, the float Cholesky factor drives iterative refinement in double; when
 * spotrf fails or refinement cannot converge, the system is factorised in double (dpotrf),
 * and when that fails too, mu grows. The loss is the MSE over all samples and outputs
 * (computed in double).
 *
 * Stops after max_iters trial steps, when an accepted step lowers the loss by less than
 * tol (relative), when mu exceeds mu_max, when the loss reaches 0, or after max_seconds
 * (checked between iterations). Returns the best weights found, in the model's parameters.
 * Model: every layer but dropout and batch norm (LAM_ERR_ARG: they make the loss random).
 * Memory: 2 P^2 doubles + P^2 floats + 256 P doubles for P parameters (J itself is never
 * stored whole), plus batch buffers for max_batch samples. Cost per iteration: N*K batch-1
 * backward passes and N*K*P^2 flops for J^T J (N samples, K outputs), P^3/3 for the
 * Cholesky, so it suits networks of up to a few thousand parameters.
 * Needs LAPACKE (LAM_ERR_ARG without it).
 * @param[in,out] m    the model (weights are updated in place).
 * @param[in]     d    settings from lam_lm_desc_init().
 * @param[in]     x    samples x in_features, >= 1 row.
 * @param[in]     y    samples x n_out targets, same rows as x.
 * @param[out]    rep  may be NULL.
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_SHAPE, LAM_ERR_RANGE (P above LAPACK's int),
 *         LAM_ERR_NOMEM, LAM_ERR_NUMERIC (non-finite loss at the start or Jacobian).
 */
LAM_API lam_status lam_fit_lm(lam_model *m, const lam_lm_desc *d, const lam_array *x,
                              const lam_array *y, lam_fit_report *rep);

/** L-BFGS with a strong-Wolfe line search (full batch, MSE loss on y). */
typedef struct lam_lbfgs_desc {
    int64_t max_iters;     /**< >= 1 (100) */
    int history;           /**< correction pairs kept, 1..1000 (10) */
    double c1, c2;         /**< Wolfe constants, 0 < c1 < c2 < 1 (1e-4, 0.9) */
    double tol_grad;       /**< stop when the gradient's max-norm is below (1e-7) */
    double tol_change;     /**< stop when loss changes less than this (1e-12) */
    double max_seconds;    /**< 0 = no limit */
} lam_lbfgs_desc;

/** Fill `d` with the defaults in parentheses above (max_seconds 0). NULL is a no-op. */
LAM_API void lam_lbfgs_desc_init(lam_lbfgs_desc *d);

/**
 * L-BFGS (Nocedal & Wright, Alg. 7.4 with the line search of Alg. 3.5/3.6). The loss is the
 * MSE over all samples and outputs; each evaluation is one forward and backward over the
 * whole set in chunks of the model's max_batch, each chunk's gradient weighted by its size
 * / N and summed in double, so the gradient is the exact full-batch mean. The first step is
 * scaled to at most 1 in l1 norm; a line search gets 25 evaluations. Stops after max_iters,
 * on a small gradient or loss change, when no decrease is found along the search direction,
 * or after max_seconds. Returns the last accepted weights in the model's parameters.
 * Model: every layer but dropout and batch norm (LAM_ERR_ARG).
 * Memory: (2 history + 5) P floats + 2 P doubles, plus batch buffers.
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_SHAPE, LAM_ERR_NOMEM, LAM_ERR_NUMERIC (non-finite
 *         loss at the start).
 */
LAM_API lam_status lam_fit_lbfgs(lam_model *m, const lam_lbfgs_desc *d, const lam_array *x,
                                 const lam_array *y, lam_fit_report *rep);

/**
 * Inference on caller arrays: out (x->rows x n_out, row-major) = model(x), in inference
 * mode (batch norm running statistics, no dropout), in chunks of max_batch. A contiguous
 * row-major x is read in place; other layouts are gathered chunk by chunk. Uses the model's
 * own buffers, so one model must not run in two threads at once: give each thread a clone.
 * Results do not depend on the layout of x or on which clone runs them.
 * @param[in,out] m    the model (its activation buffers are overwritten).
 * @param[in]     x    samples x in_features (rows may be 0).
 * @param[out]    out  x->rows * n_out floats, caller-owned.
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_SHAPE (columns), LAM_ERR_NOMEM.
 */
LAM_API lam_status lam_predict_array(lam_model *m, const lam_array *x, float *out);

/**
 * A copy of a model (spec, weights, buffers) with its own activation buffers for max_batch,
 * made on `ctx` (which may be another thread's context). Clones never share mutable state,
 * so each may run in its own thread. The clone takes the step counter of `m`, zero
 * gradients, and runs the kernels `ctx` selects; its input shape and n_out are those of m.
 * `m` is only read, but must not be changed by another thread during the call.
 * Destroy the clone with lam_model_destroy() before destroying `ctx`.
 * @param[in]  ctx        the clone's context.
 * @param[in]  m          the source model.
 * @param[in]  max_batch  >= 1, or 0 for m's max_batch.
 * @param[out] out        the new model, written only on success.
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_NOMEM, or a lam_model_create() status.
 */
LAM_API lam_status lam_model_clone(lam_ctx *ctx, lam_model *m, int64_t max_batch,
                                   lam_model **out);

#ifdef __cplusplus
}
#endif
#endif
