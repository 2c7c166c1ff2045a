/* One training step over a batch, with the non-finite guard: a NaN or Inf in the loss or in
 * any gradient stops the step before the optimizer touches the weights. */
#include "model_internal.h"
#include "optim_internal.h"
#include "param_blocks.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

void lam_step_desc_init(lam_step_desc *d)
{
    if (d == NULL) {
        return;
    }
    memset(d, 0, sizeof *d);
    lam_loss_desc_init(&d->loss, LAM_LOSS_SOFTMAX_XENT);
    d->lr = 0.01;
}

typedef struct finite_arg {
    const lam_model *m;
    atomic_int *bad;
} finite_arg;

static void finite_block(const void *arg, int param, int64_t off, int64_t len)
{
    const finite_arg *a = arg;
    if (!lam__all_finite(a->m->params[param].g + off, len)) {
        atomic_store_explicit(a->bad, 1, memory_order_relaxed);
    }
}

/* Index of the first node whose parameter gradient holds a non-finite value, or -1. The
 * common case (all finite) is one parallel pass; only a failure scans again for the name. */
static int first_bad_node(const lam_model *m)
{
    atomic_int bad = 0;
    const finite_arg arg = {m, &bad};
    lam__param_blocks(m->ctx, m->params, m->n_params, finite_block, &arg);
    if (!atomic_load(&bad)) {
        return -1;
    }
    for (int i = 0; i < m->n_nodes; i++) {
        lam_layer *l = m->nodes[i].layer;
        for (int j = 0; j < l->n_params; j++) {
            if (!lam__all_finite(lam__param(l, j)->g, lam__param(l, j)->n)) {
                return i;
            }
        }
    }
    return -1;
}

static lam_status numeric_error(lam_model *m, const char *what, int node)
{
    if (node < 0) {
        return lam__error(m->ctx, LAM_ERR_NUMERIC, "step %lld: non-finite %s (every node's "
                          "output is finite)", (long long)m->step, what);
    }
    return lam__error(m->ctx, LAM_ERR_NUMERIC, "step %lld: non-finite %s in layer %d (%s)",
                      (long long)m->step, what, node, m->nodes[node].layer->name);
}

lam_status lam_model_train_batch(lam_model *m, lam_optim *opt, const lam_step_desc *d,
                                 lam_step_result *res)
{
    if (m == NULL) {
        return LAM_ERR_ARG;
    }
    if (opt == NULL || d == NULL || !(d->lr >= 0.0) || !(d->clip_norm >= 0.0) ||
        !lam__reserved_zero(d->reserved, (int)(sizeof d->reserved / sizeof d->reserved[0]))) {
        return lam__error(m->ctx, LAM_ERR_ARG, "train step: need an optimizer, a step "
                          "descriptor (lam_step_desc_init) with lr >= 0 and clip_norm >= 0");
    }
    double l = 0.0;
    int64_t correct = 0;
    const int ranks = lam_ctx_ranks(m->ctx);
    const int64_t global = d->global_n > 0 ? d->global_n : d->n;
    if (d->chunk < 0 || d->global_n < 0 || (ranks > 1 && d->chunk == 0) ||
        (ranks == 1 && global != d->n)) {
        return lam__error(m->ctx, LAM_ERR_ARG, "train step: chunk %lld, global_n %lld, n %lld "
                          "on %d rank%s: %s", (long long)d->chunk, (long long)d->global_n,
                          (long long)d->n, ranks, ranks == 1 ? "" : "s",
                          ranks > 1 ? "a step over several ranks needs a chunk size"
                                    : "one rank holds the whole global batch");
    }
    const int chunked = d->chunk > 0 && (d->chunk < global || ranks > 1);
    lam_model_zero_grad(m);
    lam_status st = LAM_OK;
    if (chunked) {
        if (d->x == NULL || d->n < 1) {
            return lam__error(m->ctx, LAM_ERR_ARG, "train step: no batch (x NULL or n < 1)");
        }
        st = lam__model_dp_pass(m, d, &l, &correct);
        if (st == LAM_OK && !isfinite(l)) {
            return numeric_error(m, "loss", -1);
        }
    } else {
        st = lam_model_forward(m, d->x, d->n, 1, NULL);
        if (st == LAM_OK) {
            st = lam_model_loss(m, &d->loss, d->labels, d->targets, &l, &correct);
        }
    }
    if (st == LAM_ERR_NUMERIC || (st == LAM_OK && !isfinite(l))) {
        /* name the node where the non-finite values start, not just "the loss" */
        int bad = lam__model_first_bad_output(m);
        return bad >= 0 ? numeric_error(m, "output", bad) : numeric_error(m, "loss", -1);
    }
    if (st == LAM_OK && !chunked) {
        st = lam_model_backward(m);
    }
    if (st != LAM_OK) {
        return st;
    }
    int bad = -1; /* the first node with a non-finite gradient, once one was seen */
    double norm = NAN;
    if (d->clip_norm == 0.0 && lam__optim_covers(opt, m->params, m->n_params)) {
        /* the check and the update in one region; the check's blocks are the update's */
        atomic_int stop = 0;
        const finite_arg arg = {m, &stop};
        st = lam__optim_step_guarded(opt, d->lr, finite_block, &arg, &stop);
        bad = st == LAM_ERR_NUMERIC ? first_bad_node(m) : -1;
    } else {
        bad = first_bad_node(m);
        if (bad < 0 && d->clip_norm > 0.0) {
            st = lam_clip_grad_norm(m->ctx, m->params, m->n_params, d->clip_norm, &norm);
        }
        if (bad < 0 && st == LAM_OK) {
            st = lam_optim_step(opt, d->lr);
        }
    }
    if (bad >= 0) {
        return numeric_error(m, "gradient", bad);
    }
    if (st != LAM_OK) {
        return st;
    }
    m->step++;
    if (res != NULL) {
        memset(res, 0, sizeof *res);
        res->loss = l;
        res->correct = d->labels != NULL ? correct : 0;
        res->grad_norm = norm;
    }
    return LAM_OK;
}

lam_status lam_model_train_step(lam_model *m, lam_optim *opt, const lam_loss_desc *d,
                                const float *x, const int32_t *labels, const float *targets,
                                int64_t n, double lr, double clip_norm, double *loss,
                                int64_t *correct)
{
    if (m == NULL) {
        return LAM_ERR_ARG;
    }
    if (d == NULL) {
        return lam__error(m->ctx, LAM_ERR_ARG, "train step: need a loss");
    }
    lam_step_desc s;
    lam_step_desc_init(&s);
    s.x = x;
    s.labels = labels;
    s.targets = targets;
    s.n = n;
    s.loss = *d;
    s.lr = lr;
    s.clip_norm = clip_norm;
    lam_step_result r;
    lam_status st = lam_model_train_batch(m, opt, &s, &r);
    if (st == LAM_OK) {
        if (loss != NULL) {
            *loss = r.loss;
        }
        if (correct != NULL) {
            *correct = r.correct;
        }
    }
    return st;
}
