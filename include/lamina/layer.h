/**
 * @file lamina/layer.h
 * @brief Layers (the operations a model's nodes run) and losses.
 *
 * Shapes: a batch is (N, sample...), float32, row-major, contiguous, with a sample of rank
 * 1 to 3: (D), (T, D) or (C, H, W) (::lam_shape). A layer is created for the sample shapes of
 * its inputs and a maximum batch size; every buffer its passes need is allocated then, so
 * passes never allocate.
 *
 * Most layers have one input. `add`, `concat` and `mul` have several: the *_inputs calls
 * take one tensor per input, in order.
 *
 * Gradients: backward OVERWRITES the input gradients and ACCUMULATES (+=) parameter
 * gradients, so micro-batches can be summed; zero them with lam_layer_zero_grad() (or
 * lam_model_zero_grad() for a model).
 *
 * Models (lamina/model.h) are graphs of these layers; most programs never create a layer
 * themselves. Standalone layers are for tests, benchmarks and hand-written pipelines.
 */
#ifndef LAMINA_LAYER_H
#define LAMINA_LAYER_H

#include "lamina/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ layers */

/** Layer kinds. Values are never reused or renumbered. */
typedef enum lam_layer_kind {
    LAM_LAYER_CONV2D = 1,  /**< out = C_out, k, stride, pad, dil, groups, bias; (C,H,W) in */
    LAM_LAYER_LINEAR,      /**< out = features, bias; applies to the last dimension, as
                                PyTorch's nn.Linear: (D) -> (OUT), (T, D) -> (T, OUT) */
    LAM_LAYER_RELU,
    LAM_LAYER_LEAKY_RELU,  /**< alpha = negative slope (default 0.01) */
    LAM_LAYER_SIGMOID,
    LAM_LAYER_TANH,
    LAM_LAYER_GELU,        /**< exact (erf) GELU */
    LAM_LAYER_MAXPOOL,     /**< k, stride (default k), pad */
    LAM_LAYER_AVGPOOL,     /**< k, stride (default k), pad; padding counts in the mean */
    LAM_LAYER_GLOBAL_AVGPOOL, /**< (C, H, W) or (C, L) -> (C) */
    LAM_LAYER_FLATTEN,     /**< any sample -> (numel) */
    LAM_LAYER_DROPOUT,     /**< alpha = drop probability p; inverted dropout (scale 1/(1-p)) */
    LAM_LAYER_BATCHNORM,   /**< per channel: over H*W for (C,H,W), over L for (C,L) (PyTorch's
                                BatchNorm1d on (N,C,L)), over the batch for (D); alpha = eps,
                                momentum as in PyTorch (default 0.1) */
    LAM_LAYER_ADD,         /**< elementwise sum of 2..8 inputs of one shape (ResNet shortcut) */
    LAM_LAYER_CONCAT,      /**< 2..8 inputs joined along `axis` (the others equal) */
    LAM_LAYER_MUL,         /**< elementwise product of 2 inputs of one shape (gates) */
    LAM_LAYER_EMBEDDING,   /**< vocab = rows V, out = width D: every input value is a token
                                id in [0, V) (an integral float) and becomes its row of the
                                table, so (T) -> (T, D); PyTorch's nn.Embedding */
    LAM_LAYER_RNN,         /**< Elman RNN, out = hidden H; (T, D) -> (T, dirs*H), or
                                (dirs*H) with last_only; nonlinearity tanh (default) or
                                relu; layers, alpha = dropout between layers, bidirectional.
                                PyTorch's nn.RNN(batch_first=True) */
    LAM_LAYER_LSTM,        /**< LSTM (gates i, f, g, o), options as LAM_LAYER_RNN; nn.LSTM */
    LAM_LAYER_GRU,         /**< GRU (gates r, z, n; b_hn inside the reset product), options
                                as LAM_LAYER_RNN; nn.GRU */
    LAM_LAYER_LAYERNORM,   /**< over the last dimension, affine (weight, bias), alpha = eps
                                (default 1e-5); nn.LayerNorm(D) */
    LAM_LAYER_GELU_TANH,   /**< GELU with the tanh approximation, PyTorch's
                                nn.GELU(approximate='tanh') */
    LAM_LAYER_POSEMBED,    /**< learned positions: adds row t of a (out, D) table to position
                                t of a (T, D) sample, T <= out (GPT's wpe) */
    LAM_LAYER_ATTENTION,   /**< multi-head self-attention on (T, D): heads, causal, alpha =
                                dropout on the attention weights, bias; a fused QKV
                                projection `c_attn` (3D, D) and an output projection `c_proj`
                                (D, D), named as nanoGPT's CausalSelfAttention */
} lam_layer_kind;

/** Most inputs a layer takes. */
#define LAM_MAX_INPUTS 8

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
    int axis;             /**< concat: the sample dimension to join along; -1 (default) is
                               the channels of (C,H,W) and the last dimension otherwise */
    int64_t vocab;        /**< embedding: rows of the table (the vocabulary size V) */
    int32_t layers;       /**< rnn/lstm/gru: stacked layers (default 1) */
    int32_t bidirectional;/**< rnn/lstm/gru: 1 adds a reverse direction (dirs = 2) */
    int32_t last_only;    /**< rnn/lstm/gru: 1 outputs only the last step's output,
                               output[:, T-1, :] in PyTorch (`out=last`); 0 every step */
    int32_t relu;         /**< rnn: 1 uses relu instead of tanh */
    int32_t heads;        /**< attention: heads, dividing the width (default 1) */
    int32_t causal;       /**< attention: 1 lets position t attend to positions <= t only */
    float init_std;       /**< linear, embedding, posembed, attention: > 0 initialises the
                               weights from N(0, init_std) and the biases to 0, as GPT-2 and
                               nanoGPT do; 0 (default) is PyTorch's default initialisation */
    float init_std_out;   /**< attention: the same for the output projection c_proj (0:
                               init_std), nanoGPT's 0.02/sqrt(2 * layers) */
    uint64_t reserved[1]; /**< must be zero */
} lam_layer_desc;

/** Defaults for a kind: stride/dilation/groups 1, bias on, leaky 0.01, dropout 0.5 (0 for
 *  the recurrent kinds and attention), batch-norm and layer-norm eps 1e-5, batch-norm
 *  momentum 0.1, concat axis -1, 1 recurrent layer, 1 attention head, reserved words zero. */
LAM_API void lam_layer_desc_init(lam_layer_desc *d, lam_layer_kind kind);

typedef struct lam_layer lam_layer;

/**
 * Create a layer with one input of sample shape in_shape[0..in_ndim) and batches of at most
 * max_batch. Parameters are initialised as PyTorch does (U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 * for conv/linear weights and biases; batch-norm gamma 1, beta 0) from the context's seed
 * and `stream`.
 * @return LAM_OK, LAM_ERR_ARG (bad desc, or a kind with several inputs), LAM_ERR_SHAPE
 *         (input shape does not fit the layer: message says why), LAM_ERR_RANGE (sizes too
 *         large), LAM_ERR_NOMEM.
 */
LAM_API lam_status lam_layer_create(lam_ctx *ctx, const lam_layer_desc *d, int in_ndim,
                                    const int64_t *in_shape, int64_t max_batch,
                                    uint64_t stream, lam_layer **out);
/** The same for a layer of n_in inputs (1..LAM_MAX_INPUTS) of sample shapes in[0..n_in). */
LAM_API lam_status lam_layer_create_inputs(lam_ctx *ctx, const lam_layer_desc *d, int n_in,
                                           const lam_shape *in, int64_t max_batch,
                                           uint64_t stream, lam_layer **out);
/** Destroy a layer; NULL is a no-op. A layer that belongs to a model is destroyed with it. */
LAM_API void lam_layer_destroy(lam_layer *l);

/** The sample shape of the output ({0} for NULL). */
LAM_API lam_shape lam_layer_output_shape(const lam_layer *l);
/** Output sample shape as (*ndim, shape[0..*ndim)); *ndim is 0 for NULL. */
LAM_API void lam_layer_out_shape(const lam_layer *l, int *ndim, int64_t shape[3]);
/** Number of inputs (0 for NULL). */
LAM_API int lam_layer_input_count(const lam_layer *l);
/** The name: the spec's `name=` (e.g. "layer1.0.conv1"), else the kind with the node's
 *  index ("conv2d#0"). Valid for the layer's lifetime; "" for NULL. */
LAM_API const char *lam_layer_name(const lam_layer *l);
/** The kind's name ("conv2d", "add", ...); "" for NULL. */
LAM_API const char *lam_layer_kind_name(const lam_layer *l);

/**
 * Forward pass of a one-input layer. x is (N, in_shape), y is (N, out_shape), both
 * contiguous, 1 <= N <= max_batch. train = 1 keeps what backward needs (dropout mask,
 * max-pool argmax, batch statistics) and uses batch statistics in batch norm; train = 0 is
 * inference (running statistics, no drop).
 * @return LAM_OK, LAM_ERR_ARG (also for a layer with several inputs), LAM_ERR_SHAPE
 *         (tensor shapes wrong), LAM_ERR_LAYOUT.
 */
LAM_API lam_status lam_layer_forward(lam_layer *l, const lam_tensor *x, lam_tensor *y,
                                     int train);
/** Forward pass with the layer's n_in inputs x[0..n_in). Same rules and statuses. */
LAM_API lam_status lam_layer_forward_inputs(lam_layer *l, int n_in, const lam_tensor *x,
                                            lam_tensor *y, int train);

/**
 * Backward pass for the latest forward(train = 1) on the same x (and its output y).
 * dx (N, in_shape) is overwritten (NULL: skip the input gradient); parameter gradients
 * accumulate.
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_SHAPE, LAM_ERR_LAYOUT, LAM_ERR_STATE (no training
 *         forward before, or a different batch size).
 */
LAM_API lam_status lam_layer_backward(lam_layer *l, const lam_tensor *x, const lam_tensor *y,
                                      const lam_tensor *dy, lam_tensor *dx);
/** Backward with n_in inputs: dx[i] is overwritten with the gradient of input i; dx may be
 *  NULL, and an entry whose data is NULL skips that input. Same statuses. */
LAM_API lam_status lam_layer_backward_inputs(lam_layer *l, int n_in, const lam_tensor *x,
                                             const lam_tensor *y, const lam_tensor *dy,
                                             lam_tensor *dx);

/**
 * Parameter views {name, w, g, n}: writes up to *count entries to out (out may be NULL to
 * query) and sets *count to the layer's number of parameter tensors. Views are owned by the
 * layer (or its model) and valid until it is destroyed.
 */
LAM_API lam_status lam_layer_params(lam_layer *l, lam_param *out, int *count);
/** Set every parameter gradient of the layer to zero. NULL is a no-op. */
LAM_API void lam_layer_zero_grad(lam_layer *l);
/** Parameters of the layer, and the FLOPs (multiply-adds times 2) of one sample's forward. */
LAM_API int64_t lam_layer_param_count(const lam_layer *l);
LAM_API int64_t lam_layer_flops(const lam_layer *l);
/**
 * How the layer runs, for reports ("" when there is nothing to say): a conv2d is "chunked"
 * (OpenMP over chunks of the batch, one single-threaded GEMM per image) or "batched" (images
 * folded into the GEMMs, threaded by BLAS; chosen when a pthreads OpenBLAS is loaded), with
 * "+relu" / "+maxpool" when a model folded the layers after it into it; a linear layer is
 * "split" (GEMMs cut into fixed column blocks, run by lamina's threads) or "blas" (one GEMM
 * threaded by BLAS; with a pthreads OpenBLAS), with "+relu" likewise; a folded layer says
 * "in conv2d#0"; a model adds "in place" or "view" where an output shares its input's
 * memory. Static text owned by the layer.
 */
LAM_API const char *lam_layer_strategy(const lam_layer *l);

/* ------------------------------------------------------------------ losses */

typedef enum lam_loss_kind {
    LAM_LOSS_SOFTMAX_XENT = 1, /**< labels int32 in [0, K); optional label smoothing */
    LAM_LOSS_MSE,              /**< mean over all N*K elements of (pred - t)^2 */
    LAM_LOSS_L1,               /**< mean of |pred - t| */
    LAM_LOSS_HUBER,            /**< mean of 0.5 d^2 / delta if |d| < delta else |d| - delta/2 */
    LAM_LOSS_SEQ_XENT,         /**< per position: softmax cross-entropy over the last
                                    dimension of a (T, V) output, labels (N, T), the mean over
                                    all N*T positions (a language model's loss) */
} lam_loss_kind;

/** A loss. Fill with lam_loss_desc_init(). */
typedef struct lam_loss_desc {
    lam_loss_kind kind;
    float smoothing;  /**< softmax cross-entropy label smoothing in [0, 1) */
    float delta;      /**< Huber threshold (PyTorch's SmoothL1 with beta = delta) */
} lam_loss_desc;

/** Defaults for a kind: smoothing 0, Huber delta 1. NULL is a no-op. */
LAM_API void lam_loss_desc_init(lam_loss_desc *d, lam_loss_kind kind);

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

#ifdef __cplusplus
}
#endif
#endif
