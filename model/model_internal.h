/* Model floor internals. Not installed. */
#ifndef LAM_MODEL_INTERNAL_H
#define LAM_MODEL_INTERNAL_H

#include "layer_internal.h"

#define LAM_SPEC_MAX_LAYERS 256
#define LAM_SPEC_MAX_LEN 65536

/* Parse a spec string into at most `cap` descriptors. The size `out` stands for n_out.
 * Returns LAM_ERR_FORMAT with a message naming the token, or LAM_OK with *count set. */
lam_status lam__spec_parse(lam_ctx *ctx, const char *spec, int64_t n_out, lam_layer_desc *descs,
                           int cap, int *count);

struct lam_model {
    lam_ctx *ctx;
    char *spec;              /* canonical spec (built-in names expanded) */
    int n_layers;
    lam_layer **layers;
    int in_ndim;
    int64_t in_shape[3];
    int64_t n_out;
    int64_t max_batch;
    float **acts;            /* acts[i]: output of layer i (aliases acts[i-1] when in place) */
    int *in_place;           /* layer i writes its output over its input */
    int *span;               /* layers computed by layer i's call: 1 alone, 2-3 when the model
                              * folded relu/max-pool into it, 0 when folded into an earlier
                              * one (its acts[] entry is then NULL) */
    int lead_views;          /* leading flatten layers: their output is the caller's x itself,
                              * never copied (acts[] NULL); see lam__model_output */
    float *grad[2];          /* ping-pong gradient buffers, each the largest activation */
    lam_param *params;
    int n_params;
    int first_trained;       /* first layer with parameters (n_layers if none): backward stops
                              * there, and no layer up to it computes an input gradient, since
                              * nothing before it could use one */
    lam_param *bufs;
    int n_bufs;
    const float *x;          /* input of the latest forward */
    int64_t n;               /* its batch size */
    int trained;             /* latest forward was train=1 */
    int have_dout;           /* lam_model_loss wrote grad[0] for the latest forward */
    int64_t step;
    lam_arena arena;
};

/* Output of layer i in the latest forward: the caller's x for a leading view, else acts[i]
 * (NULL for a layer folded into a group). */
static inline const float *lam__model_output(const lam_model *m, int i)
{
    return i < m->lead_views ? m->x : m->acts[i];
}

#endif
