/* The graph floor's internals: the parsed spec, the model's nodes and its memory plan.
 * Not installed. */
#ifndef LAM_MODEL_INTERNAL_H
#define LAM_MODEL_INTERNAL_H

#include "lamina/model.h"
#include "layer_internal.h"

#define LAM_SPEC_MAX_NODES 4096
#define LAM_SPEC_MAX_LEN 65536
#define LAM_SPEC_NAME_MAX 64

/* One node as the spec describes it: what it computes, its name, and its inputs. */
typedef struct lam_spec_node {
    lam_layer_desc desc;
    char name[LAM_SPEC_NAME_MAX]; /* "" when the spec gave none */
    int n_in;
    int in[LAM_MAX_INPUTS];       /* earlier node indices; -1 is the model's input */
    int tie;                      /* tie=NAME: the earlier node whose `weight` this one
                                   * shares (a GPT's LM head and its embedding); -1 none */
} lam_spec_node;

/* Parse a spec (graph/spec.c) into its nodes in topological order (*nodes, *count; the
 * array is the caller's to lam_free, and grows with the spec, so a short spec costs little).
 * The word `out` stands for n_out. Returns LAM_ERR_FORMAT with a message naming the token,
 * LAM_ERR_NOMEM, or LAM_OK. */
lam_status lam__spec_parse(lam_ctx *ctx, const char *spec, int64_t n_out, lam_spec_node **nodes,
                           int *count);

/* Floats of parameters and buffers the spec (or built-in name) needs on an input of shape
 * shape[0..ndim), found by shape rules without building anything (graph/spec_size.c);
 * *floats is -1 when the spec does not parse or a node does not fit its inputs. Returns
 * LAM_OK or LAM_ERR_NOMEM. */
lam_status lam__spec_param_floats(lam_ctx *ctx, const char *spec, int ndim,
                                  const int64_t *shape, int64_t n_out, int64_t *floats);

/* A node of a built model. Nodes keep the spec's order, which is topological. A conv2d or
 * linear node may compute the relu (and max pool) after it in the same call: the group's
 * head does the work and the folded nodes do none (head < i, span 0). */
typedef struct lam_node {
    lam_layer *layer;
    int n_in;
    int in[LAM_MAX_INPUTS];     /* node indices; -1 is the model's input */
    int n_consumers;            /* inputs of later nodes that name this one */
    int head;                   /* the node whose call computes this one (itself if alone) */
    int span;                   /* head: nodes its call computes (1 alone, 2-3 folded); else 0 */
    int tail;                   /* head: the last node of its group */
    int trained;                /* backward runs: it, or a node it depends on, has parameters */
    /* The memory plan (graph/plan.c), resolved to pointers into the model's arena. */
    int out_is_x;               /* the output is the caller's x (a view of the input) */
    float *out;                 /* this node's output when it has one of its own: a group's
                                 * tail (or a node alone); NULL for the folded rest */
    float *grad;                /* gradient of the output (trained tails) */
    float *dx[LAM_MAX_INPUTS];  /* where backward writes input k's gradient (NULL: none) */
    unsigned acc;               /* bit k: backward adds into dx[k] instead of writing it */
    float *add_into[LAM_MAX_INPUTS]; /* non-NULL: after backward, add dx[k] (a scratch) here */
} lam_node;

/* What the plan reports (lam_model_memory). */
typedef struct lam_plan_stats {
    int64_t act_floats_per_sample; /* distinct activation values, one sample */
    int64_t planned_floats;        /* the arena */
    int64_t unshared_floats;       /* every buffer on its own */
} lam_plan_stats;

struct lam_model {
    lam_ctx *ctx;
    char *spec;              /* the spec text (a built-in name expanded) */
    int n_nodes;
    lam_node *nodes;
    lam_layer **layers;      /* nodes[i].layer, for callers that walk layers */
    lam_shape in;            /* sample shape of the input */
    int64_t in_numel, out_numel;
    int64_t n_out;
    int64_t max_batch;
    lam_param *params;       /* every parameter view, node order */
    int n_params;
    lam_param *bufs;         /* every buffer view (running statistics) */
    int n_bufs;
    lam_param *states;       /* every recurrent state view (h_n, c_n), node order */
    int n_states;
    int carry;               /* recurrent layers start from the carried state */
    float *wblock, *gblock, *bblock; /* weights, gradients, buffers: one block each */
    int64_t wblock_n, bblock_n;
    lam_plan_stats plan;
    const float *x;          /* input of the latest forward */
    int64_t n;               /* its batch size */
    int trained;             /* latest forward was train=1 */
    int have_dout;           /* the output gradient is set for the latest forward */
    int64_t step;
    lam_arena arena;
    struct lam_model_dp *dp; /* data-parallel steps (graph/dp_pass.c); NULL until the first */
};

/* The memory plan: decide in-place outputs and gradient aliases, then place every buffer
 * in m->arena (graph/plan.c). Fills the nodes' pointers and m->plan. */
lam_status lam__model_plan(lam_model *m);

/* Output of node i in the latest forward (NULL for a folded node). */
static inline const float *lam__node_output(const lam_model *m, int i)
{
    const lam_node *nd = &m->nodes[i];
    if (nd->out_is_x) {
        return m->x;
    }
    return nd->out;
}

/* The model's output (the last node's). */
static inline const float *lam__model_output_last(const lam_model *m)
{
    return lam__node_output(m, m->n_nodes - 1);
}

/* The inputs of node nd in the latest forward. */
static inline void lam__node_inputs(const lam_model *m, const lam_node *nd, const float **xs)
{
    for (int k = 0; k < nd->n_in; k++) {
        xs[k] = nd->in[k] < 0 ? m->x : lam__node_output(m, nd->in[k]);
    }
}

/* A view node (flatten): its output is its input's memory, no call. */
static inline int lam__node_is_view(const lam_node *nd)
{
    return nd->span == 1 && (nd->layer->kind->flags & LAM_KIND_VIEW);
}

/* The loss over samples [s0, s0 + ns) of the latest forward, its gradient into the last
 * node's grad rows (graph/pass.c); lam_model_loss is the whole batch. */
lam_status lam__model_loss_range(lam_model *m, const lam_loss_desc *d, const int32_t *labels,
                                 const float *targets, int64_t s0, int64_t ns, double *loss,
                                 int64_t *correct);

/* forward, loss and backward of a data-parallel step (graph/dp_pass.c): chunk by chunk,
 * with the gradients, batch-norm statistics and loss summed over the global batch in the
 * chunk tree (core/dp.h). The gradients are then the same on every rank. */
lam_status lam__model_dp_pass(lam_model *m, const lam_step_desc *d, double *loss,
                              int64_t *correct);
void lam__model_dp_free(lam_model *m);
/* Seconds this model's steps have waited on exchanges, and bytes sent (lamina-bench). */
void lam__model_dp_stats(const lam_model *m, double *wait_s, int64_t *bytes);
/* The latest step's gradient exchanges once more, one after the other with nothing to hide
 * behind (the gradients are left as they are): what communication alone costs, against
 * which lamina-bench-dp shows how much of it a step hid. Every rank must call it. */
lam_status lam__model_dp_exchange_alone(lam_model *m, double *seconds);

/* Backward from an output gradient the caller chose: dy (n, out) for the latest
 * lam_model_forward(train = 1) of n samples. Parameter gradients accumulate. */
lam_status lam__model_backward_dy(lam_model *m, const float *dy);

/* Forward the latest batch again, node by node, and return the first node whose output
 * holds a NaN or Inf (-1: none). Used after a non-finite loss to name the culprit; the
 * model's buffers (running statistics) are restored as the first forward left them. */
int lam__model_first_bad_output(lam_model *m);

#endif
