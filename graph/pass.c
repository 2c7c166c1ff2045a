/* The passes of a graph model: forward over the nodes in order, the loss, and backward in
 * reverse order. Every buffer was placed by the plan (plan.c), so a pass allocates nothing.
 *
 * A node's gradient is the sum of what its consumers send it. The last consumer (the first
 * to run backward) writes it, the others add to it, always in reverse node order, so the sum
 * is taken in one order fixed by the graph, whatever the thread count. A kind that cannot
 * add into its input gradient writes into a scratch that is then added. */
#include "model_internal.h"

#include <string.h>

/* Forward every group in node order. With bad != NULL, stop at the first node whose output
 * is not finite and report it there. */
static lam_status forward_nodes(lam_model *m, int64_t n, int train, int *bad)
{
    for (int h = 0; h < m->n_nodes; h++) {
        lam_node *nd = &m->nodes[h];
        if (nd->head != h) {
            continue;
        }
        for (int j = h; j <= nd->tail; j++) {
            m->nodes[j].layer->step = m->step;
        }
        if (lam__node_is_view(nd)) {
            continue; /* its output is its input's memory */
        }
        lam_layer *l = nd->layer;
        const float *xs[LAM_MAX_INPUTS];
        lam__node_inputs(m, nd, xs);
        float *y = m->nodes[nd->tail].out;
        lam_status st = nd->span == 1 ? l->kind->forward(l, xs, y, n, train)
                                      : l->kind->forward_fused(l, xs[0], y, n, train);
        if (st != LAM_OK) {
            return st;
        }
        if (bad != NULL && !lam__all_finite(y, n * m->nodes[nd->tail].layer->out_numel)) {
            *bad = h;
            return LAM_OK;
        }
    }
    return LAM_OK;
}

lam_status lam_model_forward(lam_model *m, const float *x, int64_t n, int train,
                             const float **out)
{
    if (m == NULL) {
        return LAM_ERR_ARG;
    }
    if (x == NULL || n < 1 || n > m->max_batch) {
        return lam__error(m->ctx, LAM_ERR_ARG, "model: batch of %lld samples (max_batch %lld)%s",
                          (long long)n, (long long)m->max_batch, x == NULL ? ", x is NULL" : "");
    }
    m->have_dout = 0;
    m->trained = 0;
    m->n = 0;
    m->x = x;
    lam_status st = forward_nodes(m, n, train, NULL);
    if (st != LAM_OK) {
        return st;
    }
    m->n = n;
    m->trained = train != 0;
    if (out != NULL) {
        *out = lam__model_output_last(m);
    }
    return LAM_OK;
}

int lam__model_first_bad_output(lam_model *m)
{
    if (m->n == 0) {
        return -1;
    }
    /* the second forward must not move the running statistics again */
    float *saved = NULL;
    if (m->bblock_n > 0) {
        saved = lam_alloc(m->ctx, (size_t)m->bblock_n * sizeof(float));
        if (saved == NULL) {
            return -1;
        }
        memcpy(saved, m->bblock, (size_t)m->bblock_n * sizeof(float));
    }
    int bad = -1;
    (void)forward_nodes(m, m->n, m->trained, &bad);
    if (saved != NULL) {
        memcpy(m->bblock, saved, (size_t)m->bblock_n * sizeof(float));
        lam_free(m->ctx, saved);
    }
    return bad;
}

lam_status lam__model_loss_range(lam_model *m, const lam_loss_desc *d, const int32_t *labels,
                                 const float *targets, int64_t s0, int64_t ns, double *loss,
                                 int64_t *correct)
{
    int64_t k = m->out_numel, per = 1; /* classes per row, rows per sample */
    if (d != NULL && d->kind == LAM_LOSS_SEQ_XENT) {
        /* per position: rows of the last dimension */
        const lam_shape *o = &m->nodes[m->n_nodes - 1].layer->out;
        k = o->dim[o->ndim - 1];
        per = m->out_numel / k;
    }
    const float *y = lam__model_output_last(m) + s0 * m->out_numel;
    const int64_t rows = ns * per;
    labels = labels != NULL ? labels + s0 * per : NULL;
    targets = targets != NULL ? targets + s0 * m->out_numel : NULL;
    lam_status st = lam_loss_eval(m->ctx, d, rows, k, y, labels, targets, loss,
                                  m->nodes[m->n_nodes - 1].grad + s0 * m->out_numel);
    if (st != LAM_OK) {
        return st;
    }
    if (correct != NULL && labels != NULL) {
        int64_t hits = 0;
        for (int64_t i = 0; i < rows; i++) {
            const float *row = y + i * k;
            int64_t best = 0;
            for (int64_t j = 1; j < k; j++) {
                best = row[j] > row[best] ? j : best;
            }
            hits += best == labels[i];
        }
        *correct = hits;
    }
    return LAM_OK;
}

lam_status lam_model_loss(lam_model *m, const lam_loss_desc *d, const int32_t *labels,
                          const float *targets, double *loss, int64_t *correct)
{
    if (m == NULL) {
        return LAM_ERR_ARG;
    }
    if (m->n == 0) {
        return lam__error(m->ctx, LAM_ERR_STATE, "model: loss before any forward");
    }
    lam_status st = lam__model_loss_range(m, d, labels, targets, 0, m->n, loss, correct);
    if (st == LAM_OK) {
        m->have_dout = 1;
    }
    return st;
}

static lam_status backward_nodes(lam_model *m)
{
    const int64_t n = m->n;
    for (int h = m->n_nodes - 1; h >= 0; h--) {
        lam_node *nd = &m->nodes[h];
        if (nd->head != h || !nd->trained) {
            continue;
        }
        lam_layer *l = nd->layer;
        const lam_node *t = &m->nodes[nd->tail];
        const float *xs[LAM_MAX_INPUTS];
        lam__node_inputs(m, nd, xs);
        const float *y = lam__node_output(m, nd->tail);
        lam_status st = nd->span == 1
                            ? l->kind->backward(l, xs, y, t->grad, nd->dx, nd->acc, n)
                            : l->kind->backward_fused(l, xs[0], y, t->grad, nd->dx[0],
                                                      nd->acc, n);
        if (st != LAM_OK) {
            return st;
        }
        for (int k = 0; k < nd->n_in; k++) {
            if (nd->add_into[k] != NULL) {
                lam__add_arrays(lam_ctx_threads(m->ctx), nd->add_into[k], nd->add_into[k],
                                nd->dx[k], n * l->in_numel[k]);
            }
        }
    }
    m->have_dout = 0;
    return LAM_OK;
}

lam_status lam_model_backward(lam_model *m)
{
    if (m == NULL) {
        return LAM_ERR_ARG;
    }
    if (!m->trained || !m->have_dout) {
        return lam__error(m->ctx, LAM_ERR_STATE,
                          "model: backward needs forward(train=1) then lam_model_loss");
    }
    return backward_nodes(m);
}

lam_status lam__model_backward_dy(lam_model *m, const float *dy)
{
    if (!m->trained || m->n == 0) {
        return lam__error(m->ctx, LAM_ERR_STATE, "model: backward needs forward(train=1)");
    }
    float *g = m->nodes[m->n_nodes - 1].grad;
    if (g != NULL) {
        memcpy(g, dy, (size_t)(m->n * m->out_numel) * sizeof(float));
    }
    return backward_nodes(m);
}

void lam_model_zero_grad(lam_model *m)
{
    if (m != NULL && m->gblock != NULL) {
        memset(m->gblock, 0, (size_t)m->wblock_n * sizeof(float));
    }
}

lam_status lam_model_predict(lam_model *m, const float *x, int64_t n, float *y)
{
    if (m == NULL) {
        return LAM_ERR_ARG;
    }
    if (x == NULL || y == NULL || n < 0) {
        return lam__error(m->ctx, LAM_ERR_ARG, "model: predict needs x and y");
    }
    for (int64_t i = 0; i < n; i += m->max_batch) {
        int64_t b = n - i < m->max_batch ? n - i : m->max_batch;
        const float *out = NULL;
        lam_status st = lam_model_forward(m, x + i * m->in_numel, b, 0, &out);
        if (st != LAM_OK) {
            return st;
        }
        memcpy(y + i * m->out_numel, out, (size_t)(b * m->out_numel) * sizeof(float));
    }
    return LAM_OK;
}
