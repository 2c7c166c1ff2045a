/* Model clones for concurrent inference: the same spec, input shape and outputs rebuilt on
 * another context, then the weights, the non-trainable buffers and the step counter copied.
 * A clone shares nothing mutable with its source (layers, activations, scratch and the
 * context's error message are its own), so clones on different contexts may run in
 * different host threads at once. */
#include "fit_internal.h"

#include <string.h>

lam_status lam_model_clone(lam_ctx *ctx, lam_model *m, int64_t max_batch, lam_model **out)
{
    if (ctx == NULL || m == NULL || out == NULL) {
        return ctx != NULL ? lam__error(ctx, LAM_ERR_ARG, "clone: NULL model or out")
                           : LAM_ERR_ARG;
    }
    if (max_batch < 0) {
        return lam__error(ctx, LAM_ERR_ARG, "clone: max_batch %lld < 0", (long long)max_batch);
    }
    lam_model *c = NULL;
    lam_status st = lam_model_create(ctx, m->spec, m->in.ndim, m->in.dim, m->n_out,
                                     max_batch > 0 ? max_batch : m->max_batch, &c);
    if (st != LAM_OK) {
        return st;
    }
    /* Same spec and shapes give the same parameter and buffer lists; the check guards
     * against a spec whose layers depend on something else. */
    if (c->n_params != m->n_params || c->n_bufs != m->n_bufs) {
        lam_model_destroy(c);
        return lam__error(ctx, LAM_ERR_STATE, "clone: rebuilt model differs from the source");
    }
    for (int i = 0; i < m->n_params; i++) {
        if (c->params[i].n != m->params[i].n) {
            lam_model_destroy(c);
            return lam__error(ctx, LAM_ERR_STATE, "clone: parameter %s differs in size",
                              m->params[i].name);
        }
        memcpy(c->params[i].w, m->params[i].w, (size_t)m->params[i].n * sizeof(float));
    }
    for (int i = 0; i < m->n_bufs; i++) {
        if (c->bufs[i].n != m->bufs[i].n) {
            lam_model_destroy(c);
            return lam__error(ctx, LAM_ERR_STATE, "clone: buffer %s differs in size",
                              m->bufs[i].name);
        }
        memcpy(c->bufs[i].w, m->bufs[i].w, (size_t)m->bufs[i].n * sizeof(float));
    }
    c->step = m->step;
    *out = c;
    return LAM_OK;
}
