/**
 * @file lamina/model.h
 * @brief Models: directed acyclic graphs of layers, built from a spec, trained in steps.
 *
 * A model is a list of nodes in topological order. Each node runs one layer
 * (lamina/layer.h) on the outputs of earlier nodes (or on the model's input); the last node
 * is the model's output. Specs describe the graph in text (README, "Model spec language"):
 *
 *     conv:16,3,pad=1,name=stem bn relu conv:16,3,pad=1 bn add(., stem) relu gap linear:out
 *
 * Shapes are inferred once, at build time, for the input sample shape (rank 1 to 3); every
 * activation, gradient and scratch buffer is sized then for max_batch, with buffers shared
 * between values whose lifetimes do not overlap, so no pass allocates. Parameters and
 * their gradients are one contiguous block each (lam_model_param_block).
 *
 * Gradients: backward ACCUMULATES (+=) parameter gradients; lam_model_zero_grad() clears
 * them. The gradient of a node that feeds several consumers is the sum of their
 * contributions, added in a fixed order, so results never depend on the thread count. A
 * tied weight (`tie=NAME`: a GPT's LM head sharing its token embedding) is one parameter
 * whose gradient sums both uses; lam_model_params lists it once, under its owner's name.
 */
#ifndef LAMINA_MODEL_H
#define LAMINA_MODEL_H

#include "lamina/core.h"
#include "lamina/layer.h"
#include "lamina/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lam_model lam_model;

/**
 * Build a model from a spec for samples of in_shape[0..in_ndim) ((D), (T,D) or (C,H,W)) and
 * batches of at most max_batch. `spec` is a built-in name ("seed-cnn", "lenet5", "mlp",
 * "resnet20", "char-lstm", "char-gru", "gpt-mini", "gpt-6x384"; lam_model_builtin_name()
 * lists them) or a spec text. The word `out` in a layer's size stands for n_out (classes or
 * regression targets).
 * A node that does not fit its inputs gives LAM_ERR_SHAPE with a message naming the node
 * and the shapes ("layer 2 (add): input 1 is 4x4x4 but input 0 is 4x6x6"); spec errors
 * (syntax, an unknown name, a name defined only later, which would make a cycle) give
 * LAM_ERR_FORMAT naming the node and the token ("model spec: node 5 'add(., nope)': input
 * 'nope' is not an earlier node ...").
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_FORMAT, LAM_ERR_SHAPE, LAM_ERR_RANGE, LAM_ERR_NOMEM.
 */
LAM_API lam_status lam_model_create(lam_ctx *ctx, const char *spec, int in_ndim,
                                    const int64_t *in_shape, int64_t n_out, int64_t max_batch,
                                    lam_model **out);
/** Destroy a model and its layers. NULL is a no-op. */
LAM_API void lam_model_destroy(lam_model *m);

/** The spec text of a built-in model name, or NULL if `name` is not built in. */
LAM_API const char *lam_model_builtin_spec(const char *name);
/** The i-th built-in model name (0-based), or NULL past the last: for listing them. */
LAM_API const char *lam_model_builtin_name(int i);
/** The spec the model was built from (a built-in name expanded to its text); "" for NULL. */
LAM_API const char *lam_model_spec(const lam_model *m);

/** Number of nodes (0 for NULL). */
LAM_API int lam_model_layer_count(const lam_model *m);
/** The layer of node i (0 <= i < count), or NULL. Owned by the model. */
LAM_API lam_layer *lam_model_layer(lam_model *m, int i);
/** The inputs of node i: writes up to LAM_MAX_INPUTS node indices to inputs (-1 = the
 *  model's input) and returns how many there are (0 when m or i is invalid). */
LAM_API int lam_model_layer_inputs(const lam_model *m, int i, int *inputs);
/** The index of the node called `name` (lam_layer_name), or -1. */
LAM_API int lam_model_find(const lam_model *m, const char *name);

LAM_API int64_t lam_model_max_batch(const lam_model *m);
/** Input and output sample shapes ({0} for NULL). */
LAM_API lam_shape lam_model_input_shape(const lam_model *m);
LAM_API lam_shape lam_model_output_shape(const lam_model *m);
/** The same as (*ndim, shape[0..*ndim)); *ndim is 0 for NULL. */
LAM_API void lam_model_in_shape(const lam_model *m, int *ndim, int64_t shape[3]);
LAM_API void lam_model_out_shape(const lam_model *m, int *ndim, int64_t shape[3]);
/** Number of parameters (0 for NULL). */
LAM_API int64_t lam_model_param_count(const lam_model *m);
/** FLOPs of one sample's forward pass. */
LAM_API int64_t lam_model_flops(const lam_model *m);
/** FLOPs of one sample's training step as lam_model_backward() runs it: every node's
 *  forward, plus the weight gradient (as much again) of each node with parameters, plus the
 *  input gradient (as much again) of each node with an input that needs one (an input that
 *  has, or comes after, a node with parameters). Divide by a step's time for the GFLOP/s
 *  that lamina-bench compares with the sgemm peak. */
LAM_API int64_t lam_model_train_flops(const lam_model *m);

/** Memory a model holds, in bytes, for reports (lamina info). */
typedef struct lam_model_memory {
    int64_t activations_per_sample; /**< every node's output for one sample, each counted
                                         once (views and in-place outputs share memory) */
    int64_t planned;        /**< the one block of activations, gradients and merge
                                 scratch for max_batch, after reuse: the peak of a step */
    int64_t unshared;       /**< what those buffers would take if none shared memory */
    int64_t parameters;     /**< weights, their gradients and buffers (running stats) */
    int64_t workspace;      /**< the layers' own scratch (im2col columns, dropout masks,
                                 max-pool argmax, saved batch statistics) */
    uint64_t reserved[4];
} lam_model_memory;
/** Fill *out. @return LAM_OK, LAM_ERR_ARG (NULL). */
LAM_API lam_status lam_model_memory_info(const lam_model *m, lam_model_memory *out);

/**
 * All parameter views of the model, in node order. *params points to an array owned by the
 * model (valid for its lifetime); *count receives its length.
 */
LAM_API lam_status lam_model_params(lam_model *m, lam_param **params, int *count);
/**
 * The parameters as one block: *w and *g each point to n floats (weights and gradients),
 * owned by the model, holding every parameter of lam_model_params in its order (each view's
 * w and g point into them). Passes over all parameters (a reduction across processes, a
 * norm) can walk the two arrays. Entries between tensors, if any, are zero.
 */
LAM_API lam_status lam_model_param_block(lam_model *m, float **w, float **g, int64_t *n);
/** Non-trainable state that must be saved with the weights (batch-norm running stats),
 *  as views like lam_model_params (g is NULL). */
LAM_API lam_status lam_model_buffers(lam_model *m, lam_param **bufs, int *count);

/**
 * Forward n samples of x (n, in_shape) (1 <= n <= max_batch). *out receives the output
 * (n, out_shape), owned by the model and valid until the next forward (for a model made of
 * flatten layers only, the output is x itself: flattens are views, not copies).
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
/** Backward from the gradient lam_model_loss() wrote: parameter gradients accumulate.
 *  Nodes that neither hold parameters nor follow a node that does are skipped (nothing
 *  could read their input gradients). */
LAM_API lam_status lam_model_backward(lam_model *m);
LAM_API void lam_model_zero_grad(lam_model *m);

/** One training step's inputs. Fill with lam_step_desc_init(), then set the batch. */
typedef struct lam_step_desc {
    const float *x;          /**< (n, in_shape), the caller's array; read only */
    const int32_t *labels;   /**< (n) class labels for cross-entropy, else NULL */
    const float *targets;    /**< (n, out_shape) for the regression losses, else NULL */
    int64_t n;               /**< 1 <= n <= max_batch */
    lam_loss_desc loss;
    double lr;               /**< learning rate of this step, >= 0 */
    double clip_norm;        /**< clip the global gradient norm to this; 0 = no clipping */
    /** Data-parallel steps: the global batch is cut into chunks of this many samples, and
     *  every sum over the batch (gradients, batch-norm statistics, the loss) is taken in one
     *  fixed tree over the chunks, so the weights depend on the chunk size only, never on
     *  the thread or rank count. With a hook (lam_ctx_set_comm) of R ranks, rank r passes
     *  its run of the chunks, [k*r/R, k*(r+1)/R) of k = global_n / chunk, as x (n samples;
     *  lam_ctx_batch_share gives them).
     *  0 = one chunk, the whole batch (the single-process step). Attention and recurrent
     *  layers cannot run in chunks. */
    int64_t chunk;
    int64_t global_n;        /**< the global batch, all ranks; 0 = n */
    uint64_t reserved[6];    /**< must be zero */
} lam_step_desc;

/** Defaults: no batch, softmax cross-entropy, lr 0.01, no clipping. NULL is a no-op. */
LAM_API void lam_step_desc_init(lam_step_desc *d);

/** What a training step reports. */
typedef struct lam_step_result {
    double loss;             /**< the batch's loss (before the update) */
    int64_t correct;         /**< argmax hits (cross-entropy), else 0 */
    double grad_norm;        /**< global gradient norm before clipping; NaN when the step
                                  did not compute it (clip_norm == 0) */
    uint64_t reserved[4];
} lam_step_result;

/**
 * One training step on a batch: zero the gradients, forward(train=1), loss, backward,
 * optionally clip the global gradient norm, then lam_optim_step(opt, lr) and advance the
 * model's step counter.
 * The step is refused before the update when the loss or a gradient is not finite
 * (LAM_ERR_NUMERIC; the message names the first node with a non-finite output or
 * gradient), so the weights, the optimizer state and the step counter stay as they were.
 * `opt` must have been created over lam_model_params(m). `res` may be NULL.
 * @return LAM_OK, LAM_ERR_ARG, LAM_ERR_RANGE (label), LAM_ERR_NUMERIC.
 */
LAM_API lam_status lam_model_train_batch(lam_model *m, lam_optim *opt, const lam_step_desc *d,
                                         lam_step_result *res);

/** lam_model_train_batch() with positional arguments, as lamina 0.1 had it; kept for
 *  existing callers. loss and correct may be NULL. */
LAM_API lam_status lam_model_train_step(lam_model *m, lam_optim *opt, const lam_loss_desc *d,
                                        const float *x, const int32_t *labels,
                                        const float *targets, int64_t n, double lr,
                                        double clip_norm, double *loss, int64_t *correct);

/** Inference over any number of samples in chunks of max_batch: y (n, out_shape). */
LAM_API lam_status lam_model_predict(lam_model *m, const float *x, int64_t n, float *y);

/* ------------------------------------------------------------ recurrent state */

/**
 * The recurrent state of the model: for every rnn/lstm/gru node, its last hidden state
 * "<name>.h_n" and, for an LSTM, its cell state "<name>.c_n", each laid out as PyTorch
 * returns them, (layers * dirs, max_batch, H). Views like lam_model_buffers (g is NULL),
 * owned by the model; *count is 0 for a model without recurrent layers.
 * Every forward writes the final state of its rows 0..n-1 there (PyTorch's h_n, c_n).
 */
LAM_API lam_status lam_model_states(lam_model *m, lam_param **states, int *count);
/**
 * carry = 1: every forward starts its recurrent layers from the state views (rows 0..n-1)
 * instead of zeros, so consecutive batches continue each row's sequence: truncated
 * backpropagation through time, and generation one token at a time. The state is detached:
 * no gradient flows into it. A bidirectional layer carries its reverse direction's final
 * state too (the state after step 0, as PyTorch's h_n holds it), which a reverse pass over
 * the next window rarely wants: carry suits unidirectional layers. carry = 0 (the default):
 * every forward starts from zeros.
 * @return LAM_OK, LAM_ERR_ARG.
 */
LAM_API lam_status lam_model_set_carry(lam_model *m, int carry);
/** Set the recurrent state to zero (a new sequence). NULL is a no-op. */
LAM_API void lam_model_reset_state(lam_model *m);

/** Training-step counter; dropout masks are drawn from (seed, node, step). */
LAM_API int64_t lam_model_step(const lam_model *m);
LAM_API void lam_model_set_step(lam_model *m, int64_t step);

#ifdef __cplusplus
}
#endif

#endif
