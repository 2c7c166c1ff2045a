/* Layers inside the library: the kind registry, the layer object, and the helpers every kind
 * calls back into (layer_util.c). Not installed.
 *
 * A layer kind is one lam_kind entry in the registry (registry.c): its name, how many inputs
 * it takes, and its ops. setup checks the input shapes, sets the output shape and FLOPs,
 * declares the parameter and buffer tensors (a named list: a convolution has two, an LSTM
 * will have four per layer) and allocates the kind's private state. The storage of the
 * tensors is bound afterwards by whoever owns it: a model binds every layer's tensors into
 * its one parameter block and one gradient block, a standalone layer gets its own. Then init
 * fills the parameters.
 *
 * The dispatcher (layer.c, the public calls) and the kinds (conv2d.c, linear.c, ...) never
 * include each other's code: both sit on this header and layer_util.c. */
#ifndef LAM_LAYER_INTERNAL_H
#define LAM_LAYER_INTERNAL_H

#include "core_internal.h"
#include "kernels.h"
#include "lamina/layer.h"

#define LAM_NAME_MAX 96
/* Most stacked layers of one rnn/lstm/gru node. */
#define LAM_RNN_MAX_LAYERS 16

/* The cell (lam_cell) of a recurrent layer's descriptor: its kind, and relu for rnn. */
static inline int lam__cell_of(const lam_layer_desc *d)
{
    return d->kind == LAM_LAYER_LSTM ? LAM_CELL_LSTM
           : d->kind == LAM_LAYER_GRU ? LAM_CELL_GRU
           : d->relu                  ? LAM_CELL_RELU
                                      : LAM_CELL_TANH;
}

/* What a kind's backward reads besides dy (for the memory plan: a value read in backward
 * lives until then). Bit i: input i's forward value; LAM_READS_Y: the layer's own output. */
#define LAM_READS_Y (1u << 16)
#define LAM_READS_X(i) (1u << (i))
#define LAM_READS_ALL_X 0xffffu

/* Kind flags. */
enum {
    /* The output is input 0's values under another shape (flatten): a model passes the same
     * memory on, never copies. */
    LAM_KIND_VIEW = 1,
    /* forward may write its output over input 0 (y == x) and backward its input gradient
     * over dy (dx == dy); a model does so when nothing else needs input 0. */
    LAM_KIND_IN_PLACE = 2,
    /* backward honours an accumulate mask: dx[i] += instead of = for the bits set. Other
     * kinds get scratch buffers that the model adds in itself. */
    LAM_KIND_ACCUMULATES = 4,
    /* backward may be called with dx[i] == dy for one input (add: an alias of the gradient) */
    LAM_KIND_PASSES_DY = 8,
    /* keeps state of every row of the batch between calls (saved tensors, a carried
     * recurrent state) from row 0, so it cannot run in chunks (lam_step_desc.chunk) */
    LAM_KIND_WHOLE_BATCH = 16,
    /* its statistics span the whole global batch (batch norm): a data-parallel step runs it
     * once over the rank's batch with the chunk layout in l->dp, and it sums its chunks'
     * statistics with the other ranks itself */
    LAM_KIND_GLOBAL_BATCH = 32,
};

/* One parameter or buffer tensor: the public view and the shape PyTorch gives it. */
typedef struct lam_ptensor {
    lam_param view;            /* name points at .name; w/g bound by the owner */
    char name[LAM_NAME_MAX + 32]; /* "<layer name>.<suffix>" */
    int ndim;
    int64_t shape[4];
    int buffer;                /* 1: a buffer (running statistics), no gradient */
    const struct lam_ptensor *tied; /* tie=: the earlier layer's tensor whose storage (and
                                     * gradient) this one shares; it takes no floats of its
                                     * own, and a model lists it among its parameters once,
                                     * under the owner's name */
} lam_ptensor;

typedef struct lam_kind lam_kind;

struct lam_layer {
    const lam_kind *kind;
    lam_ctx *ctx;
    const lam_kernels *k;
    lam_layer_desc desc;
    int index;                 /* node index in a model (0 standalone), used in names */
    char name[LAM_NAME_MAX];   /* the spec's name=, else "<kind>#<index>" */
    int user_named;            /* name came from the spec */
    int in_model;              /* owned by a model: lam_layer_destroy leaves it alone */
    int n_in;
    lam_shape in[LAM_MAX_INPUTS];
    int64_t in_numel[LAM_MAX_INPUTS]; /* per sample */
    lam_shape out;
    int64_t out_numel;
    int64_t max_batch;
    uint64_t stream;           /* RNG stream for init and dropout */
    int64_t step;              /* dropout draws from (seed, stream, step) */
    int64_t last_train_n;      /* batch of the latest forward(train=1); 0 = none */
    int carry;                 /* recurrent kinds: start from the carried state (set by the
                                * model, lam_model_set_carry) instead of zeros */
    /* A data-parallel step (graph/dp_pass.c) runs a layer chunk by chunk: row0 is this
     * call's first row in the rank's batch (per-row state is kept from there), grow0 its
     * first row in the global batch (where its random draws start). Both 0 otherwise. */
    int64_t row0, grow0;
    struct lam_dp *dp;         /* batch norm in a data-parallel step: the chunk layout its
                                * statistics are summed over; NULL otherwise */

    lam_ptensor *tensors;      /* parameters first, then buffers */
    int n_params, n_buffers, cap_tensors;
    float *own;                /* a standalone layer's weights, gradients and buffers */
    int64_t flops;             /* per sample, forward */
    int64_t ws_bytes;          /* bytes of the kind's private scratch (reports) */
    void *state;               /* the kind's private state (lam__layer_state) */
    char strategy[LAM_NAME_MAX + 32]; /* how it runs (lam_layer_strategy) */
};

struct lam_kind {
    lam_layer_kind id;
    const char *name;          /* "conv2d", "add", ... */
    int min_in, max_in;
    unsigned flags;            /* LAM_KIND_* */
    /* Check inputs, set out/out_numel/flops, declare tensors, allocate state. */
    lam_status (*setup)(lam_layer *l);
    /* Fill the parameters once their storage is bound (NULL: they stay zero). */
    void (*init)(lam_layer *l);
    /* y (n, out) from x[i] (n, in[i]). */
    lam_status (*forward)(lam_layer *l, const float *const *x, float *y, int64_t n, int train);
    /* dx[i] (n, in[i]) overwritten (NULL: skip), or added to for the bits of acc (kinds with
     * LAM_KIND_ACCUMULATES only); parameter gradients accumulate. */
    lam_status (*backward)(lam_layer *l, const float *const *x, const float *y,
                           const float *dy, float *const *dx, unsigned acc, int64_t n);
    /* LAM_READS_* of backward (NULL: every input and the output). */
    unsigned (*reads)(const lam_layer *l);
    /* Folding: whether l can absorb the activation `act` (NONE or RELU) and the max pool
     * layer `pool` (NULL: none) that follow it; fuse records it and sizes the workspace;
     * forward_fused / backward_fused then compute the whole group (y the group's output,
     * dy its gradient, which a linear layer masks in place; acc bit 0 as in backward, for
     * kinds with LAM_KIND_ACCUMULATES). NULL: the kind does not fold. */
    int (*can_fuse)(const lam_layer *l, lam_act act, const lam_layer *pool);
    lam_status (*fuse)(lam_layer *l, lam_act act, lam_layer *pool);
    lam_status (*forward_fused)(lam_layer *l, const float *x, float *y, int64_t n, int train);
    lam_status (*backward_fused)(lam_layer *l, const float *x, const float *y, float *dy,
                                 float *dx, unsigned acc, int64_t n);
    /* Recurrent kinds: the views of the carried state (h_n, and c_n for an LSTM) into
     * out[0..2); returns how many (NULL: the kind has none). */
    int (*states)(lam_layer *l, lam_param *out);
    /* Free what state points to (NULL: state is one block, freed by the dispatcher). */
    void (*destroy)(lam_layer *l);
};

/* ------------------------------------------------------------------ registry */

/* The kind of a public kind id, or NULL. */
const lam_kind *lam__kind_of(lam_layer_kind id);
/* Short kind name ("conv2d"), "?" when unknown. */
const char *lam__kind_name(lam_layer_kind id);

/* Every kind's table entry (one per file that implements it). */
extern const lam_kind lam__kind_conv2d, lam__kind_linear, lam__kind_relu, lam__kind_leaky_relu,
    lam__kind_sigmoid, lam__kind_tanh, lam__kind_gelu, lam__kind_maxpool, lam__kind_avgpool,
    lam__kind_gap, lam__kind_flatten, lam__kind_dropout, lam__kind_batchnorm, lam__kind_add,
    lam__kind_concat, lam__kind_mul, lam__kind_embedding, lam__kind_rnn, lam__kind_lstm,
    lam__kind_gru, lam__kind_layernorm, lam__kind_gelu_tanh, lam__kind_posembed,
    lam__kind_attention;

/* ------------------------------------------------------------- layer_util.c */

/* Set up a layer (no storage bound yet): checks, the kind's setup. `name` NULL gives
 * "<kind>#<index>". On failure the layer is destroyed and *out untouched. */
lam_status lam__layer_setup(lam_ctx *ctx, const lam_layer_desc *d, int n_in,
                            const lam_shape *in, int64_t max_batch, uint64_t stream, int index,
                            const char *name, lam_layer **out);
/* Floats of parameters (weights or gradients) and of buffers the layer declared. */
int64_t lam__layer_param_floats(const lam_layer *l);
int64_t lam__layer_buffer_floats(const lam_layer *l);
/* Point the tensors at caller storage: w and g hold lam__layer_param_floats() floats each
 * (g may be NULL for inference-only owners), buf lam__layer_buffer_floats(). Then init.
 * Returns LAM_OK. */
lam_status lam__layer_bind(lam_layer *l, float *w, float *g, float *buf);
/* Share `target`'s weight (its tensor 0) as l's tensor 0, as a GPT's LM head shares the
 * token embedding: both must be "weight" tensors of one shape. Before binding; target is
 * bound first. Returns LAM_OK or LAM_ERR_SHAPE naming both layers. */
lam_status lam__layer_tie(lam_layer *l, const lam_layer *target);
/* Free the layer's own things (state, tensors, views, own storage) and the layer. */
void lam__layer_free(lam_layer *l);

/* Declare a parameter (buffer = 0) or buffer (1) tensor "<layer name>.<suffix>" of shape
 * shape[0..ndim). fan_in/fan_out feed initializers; is_bias exempts from weight decay when
 * asked. Returns LAM_ERR_NOMEM or LAM_ERR_RANGE (too large). */
lam_status lam__layer_tensor(lam_layer *l, const char *suffix, int buffer, int ndim,
                             const int64_t *shape, int64_t fan_in, int64_t fan_out,
                             int is_bias);
/* Allocate the kind's private state of `bytes` (zeroed) into l->state. */
void *lam__layer_state(lam_layer *l, size_t bytes);
/* A float scratch array of n floats (zeroed) counted in l->ws_bytes; the kind frees it
 * with lam_free in its destroy op. */
float *lam__layer_scratch(lam_layer *l, int64_t n);
/* Parameter i's view (after bind); buffer i's view. */
static inline lam_param *lam__param(lam_layer *l, int i)
{
    return &l->tensors[i].view;
}
static inline lam_param *lam__buffer(lam_layer *l, int i)
{
    return &l->tensors[l->n_params + i].view;
}

/* PyTorch's default initialisation of every parameter: U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
 * tensor i drawing from stream 2*stream + i. */
void lam__layer_init_uniform(lam_layer *l);

/* GPT-2's initialisation of tensors [i0, i1): weights from N(0, std), biases (is_bias) zero;
 * tensor i draws from stream 2*stream + i, as lam__layer_init_uniform. */
void lam__layer_init_std(lam_layer *l, int i0, int i1, float std);
/* lam__layer_init_std over every parameter when desc.init_std > 0, else PyTorch's uniform
 * (the init op of linear and conv2d). */
void lam__layer_init_default(lam_layer *l);

/* Format "layer <i> (<kind>[ <name>]): " + message, set the context error, return st. */
lam_status lam__layer_error(const lam_layer *l, lam_status st, const char *fmt, ...)
    LAM_PRINTF(3, 4);
/* "layer <i> (<kind>[ <name>])" into buf, for messages of the model. */
const char *lam__layer_label(const lam_layer *l, char *buf, size_t size);

/* Shape text "64x7x7" into buf. */
const char *lam__shape_str(int ndim, const int64_t *shape, char *buf, size_t size);
/* Elements of a sample shape (checked: LAM_ERR_RANGE on overflow). */
lam_status lam__shape_numel(const lam_shape *s, int64_t *n);
/* 1 when two sample shapes are equal. */
int lam__shape_eq(const lam_shape *a, const lam_shape *b);

/* Whether GEMMs must run outside lamina's parallel regions, threaded by BLAS: with a
 * pthreads OpenBLAS, which oversubscribes the cores when called from OpenMP threads (or as
 * a test forced it with ctx->gemm_strategy). */
int lam__gemm_outside(const lam_ctx *ctx);

/* Max pool geometry and argmax of a max-pool layer, for the convolution that folds it. */
lam_pool_geom *lam__maxpool_geom(lam_layer *pool);
int32_t *lam__maxpool_argmax(lam_layer *pool);

#endif
