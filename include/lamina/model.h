/**
 * @file lamina/model.h
 * @brief Layers, losses and sequential models.
 *
 * Shapes: a batch is (N, sample...) with a sample of (C, H, W) or (F), float32, row-major,
 * contiguous. Layers are created for one input sample shape and a maximum batch size; every
 * buffer a forward/backward pass needs is allocated then, so passes never allocate.
 *
 * Gradients: backward OVERWRITES the input gradient dx and ACCUMULATES (+=) parameter
 * gradients, so micro-batches can be summed; zero them with lam_layer_zero_grad() or
 * lam_model_zero_grad().
 */
#ifndef LAMINA_MODEL_H
#define LAMINA_MODEL_H

#include "lamina/core.h"
#include "lamina/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ layers */

typedef enum lam_layer_kind {
    LAM_LAYER_CONV2D = 1,  /**< out=C_out, k, stride, pad, dil, groups, bias */
    LAM_LAYER_LINEAR,      /**< out=features, bias; input must be 1-D per sample */
    LAM_LAYER_RELU,
    LAM_LAYER_LEAKY_RELU,  /**< alpha = negative slope (default 0.01) */
    LAM_LAYER_SIGMOID,
    LAM_LAYER_TANH,
    LAM_LAYER_GELU,        /**< exact (erf) GELU */
    LAM_LAYER_MAXPOOL,     /**< k, stride (default k), pad */
    LAM_LAYER_AVGPOOL,     /**< k, stride (default k), pad; padding counts in the mean */
    LAM_LAYER_GLOBAL_AVGPOOL, /**< (C, H, W) -> (C) */
    LAM_LAYER_FLATTEN,     /**< (C, H, W) -> (C*H*W) */
    LAM_LAYER_DROPOUT,     /**< alpha = drop probability p; inverted dropout (scale 1/(1-p)) */
    LAM_LAYER_BATCHNORM,   /**< over channels for (C,H,W), over features for (F); alpha = eps,
                                momentum as in PyTorch (default 0.1) */
} lam_layer_kind;

/** Describes one layer. Fill with lam_layer_desc_init(), then set the fields the kind uses. */
typedef struct lam_layer_desc {
    lam_layer_kind kind;
    int64_t out;          /**< conv: output channels; linear: output features */
    int64_t kh, kw;       /**< window (conv, pools) */
    int64_t sh, sw;       /**< stride; 0 = default (1 for conv, the window for pools) */
    int64_t ph, pw;       /**< zero padding */
    int64_t dh, dw;       /**< dilation (conv); 1 by default */
    int64_t groups;       /**< conv groups; 1 by default; = C_in for depthwise */
    int bias;             /**< conv/linear: 1 (default) adds a bias */
    float alpha;          /**< leaky slope, dropout p, or batch-norm eps */
    float momentum;       /**< batch-norm running-statistics momentum */
} lam_layer_desc;

/** Defaults for a kind: stride/dilation/groups 1, bias on, leaky 0.01, dropout 0.5,
 *  batch-norm eps 1e-5 and momentum 0.1. */
LAM_API void lam_layer_desc_init(lam_layer_desc *d, lam_layer_kind kind);

typedef struct lam_layer lam_layer;

/**
 * Create a layer for input samples of shape in_shape[0..in_ndim) ((C,H,W) or (F)) and
 * batches of at most max_batch. Parameters are initialised as PyTorch does
 * (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for conv/linear weights and biases; batch-norm
 * gamma 1, beta 0) from the context's seed and `stream`.
 * @return LAM_OK, LAM_ERR_ARG (bad desc), LAM_ERR_SHAPE (input shape does not fit the layer:
 *         message says why), LAM_ERR_RANGE (sizes too large), LAM_ERR_NOMEM.
 */
LAM_API lam_status lam_layer_create(lam_ctx *ctx, const lam_layer_desc *d, int in_ndim,
                                    const int64_t *in_shape, int64_t max_batch,
                                    uint64_t stream, lam_layer **out);
LAM_API void lam_layer_destroy(lam_layer *l);

/** Output sample shape: writes *ndim (1 or 3) and shape[0..*ndim). */
LAM_API void lam_layer_out_shape(const lam_layer *l, int *ndim, int64_t shape[3]);
/** Short name with position, e.g. "conv2d#0", valid for the layer's lifetime. */
LAM_API const char *lam_layer_name(const lam_layer *l);

/**
 * Forward pass. x is (N, in_shape), y is (N, out_shape), both contiguous, 1 <= N <= max_batch.
 * train = 1 keeps what backward needs (dropout mask, max-pool argmax, batch statistics) and
 * uses batch statistics in batch norm; train = 0 is inference (running statistics, no drop).
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_SHAPE (tensor shapes wrong), LAM_ERR_LAYOUT.
 */
LAM_API lam_status lam_layer_forward(lam_layer *l, const lam_tensor *x, lam_tensor *y,
                                     int train);

/**
 * Backward pass for the latest forward(train = 1) on the same x (and its output y).
 * dx (N, in_shape) is overwritten (NULL: skip the input gradient); parameter gradients
 * accumulate.
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_SHAPE, LAM_ERR_LAYOUT, LAM_ERR_STATE (no training
 *         forward before, or a different batch size).
 */
LAM_API lam_status lam_layer_backward(lam_layer *l, const lam_tensor *x, const lam_tensor *y,
                                      const lam_tensor *dy, lam_tensor *dx);

/**
 * Parameter views {name, w, g, n}: writes up to *count entries to out (out may be NULL to
 * query) and sets *count to the layer's number of parameters (0, 1 or 2). Views are owned by
 * the layer and valid until it is destroyed.
 */
LAM_API lam_status lam_layer_params(lam_layer *l, lam_param *out, int *count);
/** Set every parameter gradient of the layer to zero. */
LAM_API void lam_layer_zero_grad(lam_layer *l);
/** Parameters of one sample's forward pass, and its multiply-adds times 2 (FLOPs). */
LAM_API int64_t lam_layer_param_count(const lam_layer *l);
LAM_API int64_t lam_layer_flops(const lam_layer *l);
/**
 * How the layer runs, for reports ("" when there is nothing to say): a conv2d is "chunked"
 * (OpenMP over chunks of the batch, one single-threaded GEMM per image) or "batched" (images
 * folded into the GEMMs, threaded by BLAS; chosen when a pthreads OpenBLAS is loaded), with
 * "+relu" / "+maxpool" when a model folded the layers after it into it; a linear layer is
 * "split" (GEMMs cut into fixed column blocks, run by lamina's threads) or "blas" (one GEMM
 * threaded by BLAS; with a pthreads OpenBLAS), with "+relu" likewise; a folded layer says
 * "in conv2d#0". Static text owned by the layer.
 */
LAM_API const char *lam_layer_strategy(const lam_layer *l);

/* ------------------------------------------------------------------ losses */

typedef enum lam_loss_kind {
    LAM_LOSS_SOFTMAX_XENT = 1, /**< labels int32 in [0, K); optional label smoothing */
    LAM_LOSS_MSE,              /**< mean over all N*K elements of (pred - t)^2 */
    LAM_LOSS_L1,               /**< mean of |pred - t| */
    LAM_LOSS_HUBER,            /**< mean of 0.5 d^2 / delta if |d| < delta else |d| - delta/2 */
} lam_loss_kind;

typedef struct lam_loss_desc {
    lam_loss_kind kind;
    float smoothing;  /**< softmax cross-entropy label smoothing in [0, 1) */
    float delta;      /**< Huber threshold (PyTorch's SmoothL1 with beta = delta) */
} lam_loss_desc;

/**
 * Evaluate a loss on pred (N, K) and write its gradient in the same pass. Reduction is the
 * mean (over samples for cross-entropy, over all elements for MSE/L1/Huber), as PyTorch's
 * defaults. labels (N) for cross-entropy, targets (N, K) for the others; the unused one may
 * be NULL. dpred (N, K) is overwritten (may be NULL). Loss is computed in double.
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_RANGE (label out of range), LAM_ERR_NUMERIC.
 */
LAM_API lam_status lam_loss_eval(lam_ctx *ctx, const lam_loss_desc *d, int64_t n, int64_t k,
                                 const float *pred, const int32_t *labels,
                                 const float *targets, double *loss, float *dpred);

/* ------------------------------------------------------------------ models */

typedef struct lam_model lam_model;

/**
 * Build a sequential model from a spec for samples of in_shape ((C,H,W) or (F)) and batches
 * of at most max_batch. `spec` is a built-in name ("seed-cnn", "lenet5", "mlp") or a spec
 * string (see README, "Model spec language"), e.g.
 * "conv:32,3,pad=1 relu maxpool:2 flatten linear:out". The word `out` in a layer's size
 * stands for n_out (classes or regression targets).
 * Shapes are inferred once; where a layer does not fit, the status is LAM_ERR_SHAPE and the
 * message names the layer ("layer 6 (linear): input is 3-D (64x7x7), add flatten").
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_FORMAT (spec syntax), LAM_ERR_SHAPE, LAM_ERR_RANGE,
 *         LAM_ERR_NOMEM.
 */
LAM_API lam_status lam_model_create(lam_ctx *ctx, const char *spec, int in_ndim,
                                    const int64_t *in_shape, int64_t n_out, int64_t max_batch,
                                    lam_model **out);
LAM_API void lam_model_destroy(lam_model *m);

/** The spec string of a built-in model name, or NULL if `name` is not built in. */
LAM_API const char *lam_model_builtin_spec(const char *name);
/** The canonical spec the model was built from (built-in names expanded). */
LAM_API const char *lam_model_spec(const lam_model *m);

LAM_API int lam_model_layer_count(const lam_model *m);
LAM_API lam_layer *lam_model_layer(lam_model *m, int i);
LAM_API int64_t lam_model_max_batch(const lam_model *m);
/** Input and output sample shapes. */
LAM_API void lam_model_in_shape(const lam_model *m, int *ndim, int64_t shape[3]);
LAM_API void lam_model_out_shape(const lam_model *m, int *ndim, int64_t shape[3]);
LAM_API int64_t lam_model_param_count(const lam_model *m);
/** FLOPs of one sample's forward pass. */
LAM_API int64_t lam_model_flops(const lam_model *m);
/** FLOPs of one sample's training step as lam_model_backward() runs it: every layer's
 *  forward, plus the weight gradient (as much again) of each layer with parameters, plus the
 *  input gradient (as much again) of each layer after the first one with parameters. Layers
 *  before that one have no backward, and it computes no input gradient, so the step is
 *  3x the forward only when the first layer is trained (mlp: 2.5x). Divide by a step's time
 *  for the GFLOP/s that lamina-bench compares with the sgemm peak. */
LAM_API int64_t lam_model_train_flops(const lam_model *m);

/**
 * All parameter views of the model, in layer order. *params points to an array owned by the
 * model (valid for its lifetime); *count receives its length.
 */
LAM_API lam_status lam_model_params(lam_model *m, lam_param **params, int *count);
/** Non-trainable state that must be saved with the weights (batch-norm running stats),
 *  as views like lam_model_params (g is NULL). */
LAM_API lam_status lam_model_buffers(lam_model *m, lam_param **bufs, int *count);

/**
 * Forward n samples of x (n, in_shape) (1 <= n <= max_batch). *out receives the output
 * (n, out_shape), owned by the model and valid until the next forward (for a model made of
 * flatten layers only, the output is x itself: leading flattens are views, not copies).
 * x is read, never written, and must stay unchanged until backward.
 */
LAM_API lam_status lam_model_forward(lam_model *m, const float *x, int64_t n, int train,
                                     const float **out);
/**
 * Loss of the latest forward output against labels/targets; writes the output gradient
 * for lam_model_backward(). *correct (may be NULL) receives the count of argmax hits for
 * cross-entropy.
 */
LAM_API lam_status lam_model_loss(lam_model *m, const lam_loss_desc *d, const int32_t *labels,
                                  const float *targets, double *loss, int64_t *correct);
/** Backward from the gradient lam_model_loss() wrote, down to the first layer with
 *  parameters: parameter gradients accumulate. Layers before that one, and its input
 *  gradient, are skipped, since nothing could read them. */
LAM_API lam_status lam_model_backward(lam_model *m);
LAM_API void lam_model_zero_grad(lam_model *m);

/**
 * One training step on a batch: zero the gradients, forward(train=1), loss, backward,
 * optionally clip the global gradient norm to clip_norm (0 = no clipping), then
 * lam_optim_step(opt, lr) and advance the model's step counter.
 * The step is refused before the update when the loss or a gradient is not finite
 * (LAM_ERR_NUMERIC; the message names the first layer with a non-finite gradient), so the
 * weights, the optimizer state and the step counter stay as they were.
 * `opt` must have been created over lam_model_params(m). loss/correct may be NULL.
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_RANGE (label), LAM_ERR_NUMERIC.
 */
LAM_API lam_status lam_model_train_step(lam_model *m, lam_optim *opt, const lam_loss_desc *d,
                                        const float *x, const int32_t *labels,
                                        const float *targets, int64_t n, double lr,
                                        double clip_norm, double *loss, int64_t *correct);

/** Inference over any number of samples in chunks of max_batch: y (n, out_shape). */
LAM_API lam_status lam_model_predict(lam_model *m, const float *x, int64_t n, float *y);

/** Training-step counter; dropout masks are drawn from (seed, layer, step). */
LAM_API int64_t lam_model_step(const lam_model *m);
LAM_API void lam_model_set_step(lam_model *m, int64_t step);

/* ------------------------------------------------------------- checkpoints */

/**
 * Checkpoints are safetensors files (8-byte little-endian header length, JSON header, raw
 * little-endian data), so PyTorch and NumPy users can read lamina weights. Tensors:
 *  - every parameter by its view name, e.g. "conv2d#0.weight" (C_out, C_in/g, KH, KW),
 *    "linear#6.bias" (out); batch-norm running statistics "batchnorm#2.running_mean";
 *  - with an optimizer: each state array as "optim.<state name>" and "optim.t" (I64 scalar);
 *  - any extra float arrays and int64 scalars the caller adds (the CLI stores "norm.mean",
 *    "norm.std", "train.epoch", "train.cursor", ...).
 * Metadata: "lamina.format" = "1", "lamina.spec", "lamina.input" ("1x28x28"),
 * "lamina.n_out", "lamina.step", plus the caller's key/value strings.
 * The file is written to a temporary sibling, fsynced and renamed over `path`: a failed or
 * killed save never damages the previous file.
 */
typedef struct lam_ckpt_floats {
    const char *name;
    const float *data;
    int64_t n;
} lam_ckpt_floats;

typedef struct lam_ckpt_extras {
    const lam_ckpt_floats *floats; /**< extra float arrays, saved as 1-D F32 */
    int n_floats;
    const char *const *int_names;  /**< extra int64 scalars, saved as I64 */
    const int64_t *ints;
    int n_ints;
    const char *const *meta_keys;  /**< extra metadata strings */
    const char *const *meta_vals;
    int n_meta;
} lam_ckpt_extras;

/**
 * Save the model (and the optimizer state if opt is not NULL) to path, atomically.
 * Refuses to write non-finite weights (LAM_ERR_NUMERIC: a NaN never reaches a checkpoint).
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_NUMERIC, LAM_ERR_NOMEM, LAM_ERR_IO (old file intact).
 */
LAM_API lam_status lam_checkpoint_save(lam_model *m, const lam_optim *opt, const char *path,
                                       const lam_ckpt_extras *extras);

typedef struct lam_checkpoint lam_checkpoint;

/**
 * Open and validate a checkpoint. Everything malformed is LAM_ERR_FORMAT (or LAM_ERR_IO if
 * it cannot be read) with a message naming the file.
 */
LAM_API lam_status lam_checkpoint_open(lam_ctx *ctx, const char *path, lam_checkpoint **out);
LAM_API void lam_checkpoint_close(lam_checkpoint *ck);
/** A metadata value, or NULL. Valid until close. */
LAM_API const char *lam_checkpoint_meta(const lam_checkpoint *ck, const char *key);
/** Build the model the checkpoint describes (spec, input shape, n_out) for max_batch and
 *  load its weights and buffers. A spec whose parameters and buffers need far more bytes
 *  than the file's float32 tensors hold is LAM_ERR_FORMAT before anything is allocated for
 *  it; a failure to build the model keeps its status, with the file named in the message. */
LAM_API lam_status lam_checkpoint_model(lam_checkpoint *ck, int64_t max_batch,
                                        lam_model **out);
/**
 * Load weights and buffers into an existing model. Every tensor must exist with the same
 * shape: a checkpoint of another model gives LAM_ERR_SHAPE or LAM_ERR_FORMAT naming the
 * tensor, and the model is left unchanged. A NaN or Inf value is LAM_ERR_FORMAT too. Also
 * restores the model's step counter.
 */
LAM_API lam_status lam_checkpoint_load_weights(lam_checkpoint *ck, lam_model *m);
/** Restore an optimizer's state arrays and step counter (same parameters, same kind). A
 *  missing or non-finite array is LAM_ERR_FORMAT, another size LAM_ERR_SHAPE; on failure
 *  the optimizer is unchanged. */
LAM_API lam_status lam_checkpoint_load_optim(lam_checkpoint *ck, lam_optim *opt);
/** Whether the checkpoint holds optimizer state. */
LAM_API int lam_checkpoint_has_optim(const lam_checkpoint *ck);
/** Copy an extra float array of exactly n elements; LAM_ERR_FORMAT if missing. */
LAM_API lam_status lam_checkpoint_floats(lam_checkpoint *ck, const char *name, float *dst,
                                         int64_t n);
/** Length of an extra float array, or -1 if missing. */
LAM_API int64_t lam_checkpoint_floats_len(const lam_checkpoint *ck, const char *name);
/** Read an extra int64 scalar; LAM_ERR_FORMAT if missing. */
LAM_API lam_status lam_checkpoint_int(lam_checkpoint *ck, const char *name, int64_t *v);

#ifdef __cplusplus
}
#endif
#endif
