/**
 * @file lamina/optim.h
 * @brief Optimizers, learning-rate schedules, gradient clipping and initializers.
 *
 * Everything here works on ::lam_param views ({name, w, g, n, fan_in, fan_out, is_bias}):
 * flat float arrays owned by layers or models. The optimizer never owns parameters; it
 * owns its state (momentum buffers, Adam moments, the step counter t).
 *
 * The update rules follow PyTorch 1.13 `torch.optim` (SGD, Adam, AdamW, RMSprop) in
 * semantics and in the order of float operations: scalar factors such as 1 - beta1 or the
 * bias corrections are computed in double and rounded to float once, like Python scalars
 * handed to float tensors. PyTorch's vectorised kernels may fuse multiply-adds, so the two
 * agree to about 1e-6 relative per step, not bitwise (tests/optim/gen_torch_optim.py
 * measures it). Learning-rate schedules are pure functions of the step number,
 * so a run resumed from a checkpoint continues bitwise identically once the optimizer
 * state (lam_optim_state_get()) and the step counter (lam_optim_get_step()) are restored.
 *
 * Typical loop:
 * @code
 * lam_optim_desc od;
 * lam_optim_desc_init(&od, LAM_OPTIM_SGD);
 * od.lr = 0.01;
 * od.momentum = 0.9;
 * lam_optim *opt = NULL;
 * if (lam_optim_create(ctx, &od, params, n_params, &opt) != LAM_OK) { ... }
 * lam_schedule sch;
 * lam_schedule_init(&sch, LAM_SCHED_COSINE, od.lr);
 * sch.total_steps = 10000;
 * sch.warmup_steps = 500;
 * for (int64_t step = 0; step < sch.total_steps; step++) {
 *     ... zero grads, forward, backward ...
 *     double norm;
 *     lam_clip_grad_norm(ctx, params, n_params, 1.0, &norm);
 *     lam_optim_step(opt, lam_schedule_lr(&sch, step));
 * }
 * lam_optim_destroy(opt);
 * @endcode
 *
 * Thread safety: as everywhere in lamina, one optimizer must not be used by two threads at
 * once; lam_schedule_lr() and lam_init_gain() are pure and thread-safe.
 */
#ifndef LAMINA_OPTIM_H
#define LAMINA_OPTIM_H

#include "lamina/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- optimizers */

/** Optimizer algorithms. */
typedef enum lam_optim_kind {
    LAM_OPTIM_SGD = 0,     /**< SGD with optional momentum, dampening, Nesterov */
    LAM_OPTIM_ADAM = 1,    /**< Adam with L2 weight decay added to the gradient */
    LAM_OPTIM_ADAMW = 2,   /**< Adam with decoupled weight decay (Loshchilov & Hutter) */
    LAM_OPTIM_RMSPROP = 3, /**< RMSprop, optionally centered, optional momentum */
} lam_optim_kind;

/**
 * Hyper-parameters of an optimizer. Fill with lam_optim_desc_init(), then change fields.
 * Fields an algorithm does not use must keep their default (0); lam_optim_create()
 * rejects, for example, a momentum given to Adam, so a typo does not pass silently.
 */
typedef struct lam_optim_desc {
    lam_optim_kind kind;
    /** Nominal learning rate (>= 0). lam_optim_step() takes the rate of each step (from a
     *  schedule); this value is kept for lam_optim_base_lr(), e.g. as a schedule's base. */
    double lr;
    double momentum;     /**< SGD, RMSprop: >= 0; 0 = no momentum buffer */
    double dampening;    /**< SGD: >= 0; must be 0 with nesterov */
    int nesterov;        /**< SGD: 0 or 1; needs momentum > 0 */
    /** L2 penalty added to the gradient, g += weight_decay * w (SGD, Adam, RMSprop).
     *  Must be 0 for AdamW, which decays through decoupled_weight_decay. */
    double weight_decay;
    /** AdamW only: decoupled decay, w -= lr * decoupled_weight_decay * w before the Adam
     *  update. PyTorch's AdamW calls it weight_decay; default 0.01. */
    double decoupled_weight_decay;
    double beta1;        /**< Adam, AdamW: in [0, 1) */
    double beta2;        /**< Adam, AdamW: in [0, 1) */
    double eps;          /**< Adam, AdamW, RMSprop: >= 0, added to the denominator */
    double alpha;        /**< RMSprop: smoothing constant of square_avg, in [0, 1] */
    int centered;        /**< RMSprop: 0 or 1; divide by an estimate of the variance */
    /** 1 (default, as PyTorch): weight decay applies to every parameter. 0: parameters
     *  with is_bias = 1 get no weight decay (coupled or decoupled). */
    int decay_bias;
} lam_optim_desc;

/**
 * Fill `desc` with PyTorch 1.13's defaults for `kind`:
 *  - SGD: lr 0.01 (PyTorch has none), momentum 0, dampening 0, nesterov 0, weight_decay 0;
 *  - Adam: lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8, weight_decay 0;
 *  - AdamW: as Adam, with decoupled_weight_decay 0.01;
 *  - RMSprop: lr 0.01, alpha 0.99, eps 1e-8, momentum 0, centered 0, weight_decay 0;
 *  - decay_bias 1 for all. Unused fields are 0. NULL is a no-op; an unknown kind is
 *    stored as is and rejected by lam_optim_create().
 */
LAM_API void lam_optim_desc_init(lam_optim_desc *desc, lam_optim_kind kind);

typedef struct lam_optim lam_optim;

/**
 * Create an optimizer for a fixed list of parameters and allocate all of its state
 * (zeroed) in one block from the context's allocator; lam_optim_step() never allocates.
 *
 * The `params` array is copied (the views, not the data). The arrays the views point to,
 * and the name strings, must stay valid and keep their size while the optimizer is used.
 * The context must outlive the optimizer.
 *
 * @param[in]  ctx       context: allocator and error message.
 * @param[in]  desc      hyper-parameters; copied.
 * @param[in]  params    n_params views; each needs w and g non-NULL and n > 0.
 * @param[in]  n_params  >= 1.
 * @param[out] out       the new optimizer, written only on success.
 * @return LAM_OK; LAM_ERR_ARG (NULL pointer, n_params < 1, a bad view, an unknown kind, a
 *         negative or non-finite hyper-parameter, beta outside [0, 1), alpha outside
 *         [0, 1], nesterov without momentum or with dampening, a field the kind does not
 *         use set to nonzero); LAM_ERR_RANGE (state too large); LAM_ERR_NOMEM (nothing
 *         is leaked). The context's message names the field or parameter.
 */
LAM_API lam_status lam_optim_create(lam_ctx *ctx, const lam_optim_desc *desc,
                                    const lam_param *params, int n_params, lam_optim **out);

/**
 * One update of every parameter with learning rate `lr`, then t += 1. Reads each g, writes
 * each w and the state; makes no heap allocation. Per element, in float, with scalars
 * rounded from double (wd = weight_decay, 0 for biases when decay_bias = 0; t is the step
 * number counting this one, starting at 1):
 *
 * SGD:      d = g + wd*w
 *           if momentum > 0:  b = (t == 1) ? d : momentum*b + (1 - dampening)*d
 *                             d = nesterov ? d + momentum*b : b
 *           w = w - lr*d
 *
 * Adam:     d = g + wd*w
 * AdamW:    d = g;  w = w * (1 - lr*decoupled_weight_decay)
 * both:     m = beta1*m + (1 - beta1)*d
 *           v = beta2*v + (1 - beta2)*d*d
 *           w = w - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *
 * RMSprop:  d = g + wd*w
 *           s = alpha*s + (1 - alpha)*d*d
 *           centered: a = alpha*a + (1 - alpha)*d;  den = sqrt(s - a*a) + eps
 *           else:     den = sqrt(s) + eps
 *           momentum > 0: b = momentum*b + d/den;  w = w - lr*b   (b starts at 0)
 *           else:         w = w - lr*d/den
 *
 * @param[in,out] opt  optimizer from lam_optim_create().
 * @param[in]     lr   learning rate of this step, finite and >= 0.
 * @return LAM_OK; LAM_ERR_ARG (opt NULL, lr negative or not finite; nothing is changed).
 */
LAM_API lam_status lam_optim_step(lam_optim *opt, double lr);

/** Destroy an optimizer and free its state. NULL is a no-op. Parameters are untouched. */
LAM_API void lam_optim_destroy(lam_optim *opt);

/** The desc.lr the optimizer was created with (NaN if opt is NULL). */
LAM_API double lam_optim_base_lr(const lam_optim *opt);

/**
 * Number of state arrays (0 for plain SGD or if opt is NULL). They are ordered parameter
 * by parameter, in the order of the `params` given to lam_optim_create(); per parameter:
 * SGD "sgd.momentum.<name>" (momentum > 0); Adam/AdamW "adam.m.<name>", "adam.v.<name>"
 * (resp. "adamw.m.", "adamw.v."); RMSprop "rmsprop.square_avg.<name>", then
 * "rmsprop.momentum.<name>" (momentum > 0), then "rmsprop.grad_avg.<name>" (centered).
 * A parameter without a name is called "#<index>".
 */
LAM_API int lam_optim_state_count(const lam_optim *opt);

/**
 * View of state array i (0 <= i < lam_optim_state_count()). The array has as many floats
 * as its parameter. Writing through `*data` (e.g. restoring a checkpoint) is allowed.
 * @param[out] name  NUL-terminated name owned by the optimizer (may be NULL to skip).
 * @param[out] data  the state floats, owned by the optimizer (may be NULL to skip).
 * @param[out] n     element count (may be NULL to skip).
 * Pointers stay valid until lam_optim_destroy().
 * @return LAM_OK; LAM_ERR_ARG (opt NULL or i out of range).
 */
LAM_API lam_status lam_optim_state_get(lam_optim *opt, int i, const char **name, float **data,
                                       int64_t *n);

/** Steps taken so far, t (0 after create). 0 if opt is NULL. */
LAM_API int64_t lam_optim_get_step(const lam_optim *opt);

/**
 * Set the step counter, e.g. when resuming from a checkpoint: restoring every state array
 * and t makes the continued run bitwise identical to an uninterrupted one. t feeds Adam's
 * bias correction; SGD's momentum buffer is initialised from the gradient when t == 0.
 * @return LAM_OK; LAM_ERR_ARG (opt NULL or t < 0).
 */
LAM_API lam_status lam_optim_set_step(lam_optim *opt, int64_t t);

/* ------------------------------------------------------------------ schedules */

/** Shapes of a learning-rate schedule (after the optional warm-up). */
typedef enum lam_schedule_kind {
    LAM_SCHED_CONSTANT = 0, /**< base_lr */
    LAM_SCHED_STEP = 1,     /**< base_lr * gamma^floor(s / step_size) (PyTorch StepLR) */
    LAM_SCHED_COSINE = 2,   /**< cosine from base_lr to min_lr over the remaining steps */
} lam_schedule_kind;

/**
 * A learning-rate schedule: plain data, fill with lam_schedule_init(). Let w =
 * warmup_steps, f = warmup_start_factor. For step < w the rate rises linearly (PyTorch
 * LinearLR): lr = base_lr * (f + (1 - f) * step / w). From step w on, with s = step - w:
 *  - CONSTANT: base_lr
 *  - STEP:     base_lr * gamma^floor(s / step_size)
 *  - COSINE:   min_lr + (base_lr - min_lr) * (1 + cos(pi * min(s, T) / T)) / 2,
 *              T = total_steps - w (PyTorch CosineAnnealingLR's closed form; min_lr after).
 */
typedef struct lam_schedule {
    lam_schedule_kind kind;
    double base_lr;        /**< finite, >= 0 */
    int64_t step_size;     /**< STEP: > 0 (default 1) */
    double gamma;          /**< STEP: > 0 (default 0.1) */
    int64_t total_steps;   /**< COSINE: > warmup_steps; counts the warm-up too */
    double min_lr;         /**< COSINE: in [0, base_lr] (default 0) */
    int64_t warmup_steps;  /**< >= 0 (default 0: no warm-up) */
    double warmup_start_factor; /**< in [0, 1] (default 0: warm up from 0) */
} lam_schedule;

/** Fill `s`: the given kind and base_lr, step_size 1, gamma 0.1, total_steps 0, min_lr 0, no
 *  warm-up. NULL is a no-op. COSINE still needs total_steps. */
LAM_API void lam_schedule_init(lam_schedule *s, lam_schedule_kind kind, double base_lr);

/**
 * Validate a schedule.
 * @param[in] ctx  receives the message (may be NULL).
 * @return LAM_OK; LAM_ERR_ARG (s NULL, unknown kind, or a field out of the range above).
 */
LAM_API lam_status lam_schedule_check(lam_ctx *ctx, const lam_schedule *s);

/**
 * Learning rate at `step` (0-based: the rate the step-th lam_optim_step() uses). A pure
 * function of (s, step), computed in double; steps < 0 count as 0. Thread-safe.
 * @return the rate, or NaN if s is NULL or fails lam_schedule_check().
 */
LAM_API double lam_schedule_lr(const lam_schedule *s, int64_t step);

/* ------------------------------------------------------------------- clipping */

/**
 * Clip gradients by their global L2 norm, as PyTorch's clip_grad_norm_: norm = sqrt of
 * the sum of g^2 over all gradients, accumulated in double in parameter then element
 * order (so the result does not depend on threads). If c = max_norm / (norm + 1e-6) < 1,
 * every g is multiplied by (float)c; otherwise nothing changes.
 * @param[in] ctx       receives the message (may be NULL).
 * @param[in,out] params n_params views; their g arrays are scaled in place.
 * @param[in] n_params  >= 0 (0: norm 0, nothing to do).
 * @param[in] max_norm  > 0 and finite.
 * @param[out] norm_out the norm before clipping (may be NULL); written also on
 *                      LAM_ERR_NUMERIC (then Inf or NaN).
 * @return LAM_OK; LAM_ERR_ARG (NULL params with n_params > 0, a view without g or with
 *         n < 0, bad max_norm); LAM_ERR_NUMERIC (the norm is not finite: nothing scaled).
 */
LAM_API lam_status lam_clip_grad_norm(lam_ctx *ctx, const lam_param *params, int n_params,
                                      double max_norm, double *norm_out);

/* ---------------------------------------------------------------- initializers */

/** Nonlinearities for lam_init_gain() (torch.nn.init.calculate_gain). */
typedef enum lam_nonlinearity {
    LAM_NL_LINEAR = 0,     /**< also identity, conv, sigmoid: gain 1 */
    LAM_NL_SIGMOID = 1,    /**< 1 */
    LAM_NL_TANH = 2,       /**< 5/3 */
    LAM_NL_RELU = 3,       /**< sqrt(2) */
    LAM_NL_LEAKY_RELU = 4, /**< sqrt(2 / (1 + slope^2)) */
    LAM_NL_SELU = 5,       /**< 3/4 */
} lam_nonlinearity;

/** Recommended gain for a nonlinearity; `param` is the negative slope of leaky ReLU
 *  (ignored otherwise). NaN for an unknown value. Thread-safe. */
LAM_API double lam_init_gain(lam_nonlinearity nl, double param);

/** Initializer families. */
typedef enum lam_init_kind {
    LAM_INIT_CONSTANT = 0,        /**< w = value (zero: value 0) */
    LAM_INIT_UNIFORM = 1,         /**< U(a, b) */
    LAM_INIT_NORMAL = 2,          /**< N(mean a, std b) */
    LAM_INIT_KAIMING_UNIFORM = 3, /**< U(-bound, bound), bound = gain * sqrt(3 / fan) */
    LAM_INIT_KAIMING_NORMAL = 4,  /**< N(0, std^2), std = gain / sqrt(fan) */
    LAM_INIT_XAVIER_UNIFORM = 5,  /**< U(-bound, bound), bound = gain*sqrt(6/(fan_in+fan_out)) */
    LAM_INIT_XAVIER_NORMAL = 6,   /**< N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)) */
    LAM_INIT_ORTHOGONAL = 7,      /**< gain * Q from the QR of a Gaussian matrix (needs LAPACKE) */
} lam_init_kind;

/** Which fan Kaiming initializers scale by. */
typedef enum lam_fan_mode {
    LAM_FAN_IN = 0,  /**< preserves the forward variance (PyTorch's default) */
    LAM_FAN_OUT = 1, /**< preserves the backward variance */
} lam_fan_mode;

/** How to initialize an array. Fill with lam_init_desc_init(). */
typedef struct lam_init_desc {
    lam_init_kind kind;
    /** Kaiming, Xavier, orthogonal: scale. Defaults: Kaiming sqrt(2) (ReLU), Xavier and
     *  orthogonal 1. For leaky ReLU use lam_init_gain(LAM_NL_LEAKY_RELU, slope). */
    double gain;
    lam_fan_mode mode; /**< Kaiming only */
    double a;          /**< CONSTANT: the value; UNIFORM: low; NORMAL: mean */
    double b;          /**< UNIFORM: high (default 1); NORMAL: std (default 1) */
} lam_init_desc;

/** Fill `d` with kind's defaults (gain above, mode LAM_FAN_IN, a 0, b 1). NULL: no-op. */
LAM_API void lam_init_desc_init(lam_init_desc *d, lam_init_kind kind);

/**
 * Fill `w` (n floats) from the desc. Random draws come from the counter-based stream
 * (lam_ctx_seed(ctx), stream): element i uses index i, so the result depends only on
 * (seed, stream, desc, shape). Give every parameter its own stream id.
 *
 * Orthogonal treats w as a row-major (rows = n / fan_in) x (cols = fan_in) matrix, like
 * PyTorch (conv weights [C_out][C_in*KH*KW]): it fills it with N(0, 1), takes the QR
 * factorisation of it (of its transpose when rows < cols) with LAPACKE sgeqrf/sorgqr,
 * multiplies column j of Q by sign(R[j][j]) (+1 when R[j][j] = 0), transposes back and
 * scales by gain, so rows (or columns, whichever are fewer) are orthonormal. Its workspace
 * comes from lam_alloc() and is freed before return.
 *
 * @param[in]  ctx      seed, allocator, message.
 * @param[in]  d        the initializer.
 * @param[out] w        n floats, caller-owned.
 * @param[in]  n        >= 1.
 * @param[in]  fan_in   Kaiming (mode FAN_IN), Xavier: > 0; orthogonal: > 0, divides n.
 * @param[in]  fan_out  Kaiming (mode FAN_OUT), Xavier: > 0. Ignored otherwise.
 * @param[in]  stream   random stream id.
 * @return LAM_OK; LAM_ERR_ARG (NULL, n < 1, a fan out of range, gain/std negative or not
 *         finite, uniform a > b, orthogonal without LAPACKE); LAM_ERR_RANGE (orthogonal
 *         matrix larger than LAPACK's int); LAM_ERR_NOMEM; LAM_ERR_NUMERIC (LAPACK failed).
 *         On error w may be partly written.
 */
LAM_API lam_status lam_init_fill(lam_ctx *ctx, const lam_init_desc *d, float *w, int64_t n,
                                 int64_t fan_in, int64_t fan_out, uint64_t stream);

/** lam_init_fill() on p->w with p->n, p->fan_in and p->fan_out. Same statuses (p NULL:
 *  LAM_ERR_ARG). */
LAM_API lam_status lam_init_param(lam_ctx *ctx, const lam_init_desc *d, const lam_param *p,
                                  uint64_t stream);

/**
 * PyTorch's default for nn.Linear and nn.Conv2d: weights kaiming_uniform(a = sqrt(5)),
 * which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and biases U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)) with the fan_in of the layer's weight.
 * @param[in] fan_in  the layer's weight fan_in (C_in*KH*KW, or in_features), > 0. Passed
 *                    explicitly because a bias view has fan_in 0.
 * @return as lam_init_fill().
 */
LAM_API lam_status lam_init_torch_default(lam_ctx *ctx, const lam_param *p, int64_t fan_in,
                                          uint64_t stream);

#ifdef __cplusplus
}
#endif
#endif
