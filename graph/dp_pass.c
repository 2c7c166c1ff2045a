/* The training pass of a data-parallel step (lam_step_desc.chunk): forward, loss and
 * backward over this rank's chunks of the global batch, chunk by chunk, so every chunk is
 * computed by the same calls (with the same n, so the same kernels and splits) whatever
 * rank holds it and however many chunks a rank holds. What crosses chunks is summed in the
 * chunk tree of core/dp.h:
 *   - a layer's parameter gradients: each chunk's gradient is taken apart (the layer's
 *     gradients are zeroed before the chunk and packed after it), summed locally, then
 *     exchanged while backward goes on through the earlier layers;
 *   - batch norm's statistics: the kind runs once over the rank's batch and sums its
 *     chunks' statistics with the other ranks itself (LAM_KIND_GLOBAL_BATCH, layers/norm.c);
 *   - the loss and the hit count.
 * Everything here is sized once, at the first step of a layout: a steady step allocates
 * nothing.
 *
 * Layers share a bucket until it holds LAM_DP_BUCKET_FLOATS: every exchange costs each rank
 * 2(R-1) messages whatever its size, so at scale one bucket per layer is latency-bound
 * (resnet20 has 22 layers with weights, most of a few thousand floats). Buckets still start
 * as soon as their last layer is done, so the big ones overlap with backward. */
#include "dp.h"
#include "model_internal.h"

#include <math.h>
#include <string.h>

#define LAM_DP_BUCKET_FLOATS (1 << 16) /* 256 KiB */

typedef struct lam_model_dp {
    lam_dp lay;
    int64_t n, chunk;           /* what the layout was made for */
    int rank, size;
    lam_dp_bucket *buckets;     /* per node: len > 0 at the last node (lowest index) of a
                                 * group of layers that exchange together */
    int *group;                 /* per node: the node holding its bucket, or -1 */
    int64_t *offset;            /* per node: where its gradients sit in that bucket */
    float *mem;                 /* the buckets' floats */
    int64_t *counts;            /* their exchanges' count arrays */
} lam_model_dp;

/* Floats of the parameter gradients of node h's layer, packed in parameter order (a tied
 * weight counts: its gradient here is this layer's part). 0 when it exchanges none. */
static int64_t bucket_len(const lam_model *m, int h)
{
    const lam_node *nd = &m->nodes[h];
    lam_layer *l = nd->layer;
    if (nd->head != h || !nd->trained || (l->kind->flags & LAM_KIND_GLOBAL_BATCH)) {
        return 0;
    }
    int64_t len = 0;
    for (int j = 0; j < l->n_params; j++) {
        len += lam__param(l, j)->n;
    }
    return len;
}

void lam__model_dp_free(lam_model *m)
{
    if (m == NULL || m->dp == NULL) {
        return;
    }
    lam_ctx *ctx = m->ctx;
    lam__dp_free(&m->dp->lay);
    lam_free(ctx, m->dp->buckets);
    lam_free(ctx, m->dp->group);
    lam_free(ctx, m->dp->offset);
    lam_free(ctx, m->dp->mem);
    lam_free(ctx, m->dp->counts);
    lam_free(ctx, m->dp);
    m->dp = NULL;
}

void lam__model_dp_stats(const lam_model *m, double *wait_s, int64_t *bytes)
{
    const lam_dp *dp = m != NULL && m->dp != NULL ? &m->dp->lay : NULL;
    *wait_s = dp != NULL ? (double)dp->wait_ns * 1e-9 : 0.0;
    *bytes = dp != NULL ? dp->comm_bytes : 0;
}

lam_status lam__model_dp_exchange_alone(lam_model *m, double *seconds)
{
    *seconds = 0.0;
    if (m == NULL || m->dp == NULL) {
        return LAM_OK;
    }
    const double t0 = lam_time_now();
    for (int h = m->n_nodes - 1; h >= 0; h--) {
        lam_dp_bucket *b = &m->dp->buckets[h];
        lam_status st = b->len > 0 ? lam__dp_bucket_start(&m->dp->lay, b) : LAM_OK;
        if (st == LAM_OK && b->len > 0) {
            st = lam__dp_bucket_finish(&m->dp->lay, b);
        }
        if (st != LAM_OK) {
            return st;
        }
    }
    *seconds = lam_time_now() - t0;
    return LAM_OK;
}

/* Refuse what cannot run in chunks, before anything is sized. */
static lam_status check_model(lam_model *m)
{
    for (int h = 0; h < m->n_nodes; h++) {
        const lam_layer *l = m->nodes[h].layer;
        if (l->kind->flags & LAM_KIND_WHOLE_BATCH) {
            return lam__error(m->ctx, LAM_ERR_ARG, "data-parallel step: layer %d (%s) keeps "
                              "state of every row of the batch (attention and recurrent "
                              "layers do), so it cannot run in chunks: train it without "
                              "chunks and on one rank", h, l->name);
        }
    }
    return LAM_OK;
}

/* Make (or keep) the layout and buckets for a global batch n in chunks of `chunk`. */
static lam_status prepare(lam_model *m, int64_t n, int64_t chunk)
{
    lam_ctx *ctx = m->ctx;
    lam_model_dp *s = m->dp;
    if (s != NULL && s->n == n && s->chunk == chunk && s->rank == ctx->comm.rank &&
        s->size == ctx->comm.size) {
        return LAM_OK;
    }
    lam__model_dp_free(m);
    lam_status st = check_model(m);
    if (st != LAM_OK) {
        return st;
    }
    int64_t cap = 2; /* the loss and the hits; batch norm: (mean, M2) per channel */
    for (int h = 0; h < m->n_nodes; h++) {
        const lam_layer *l = m->nodes[h].layer;
        if ((l->kind->flags & LAM_KIND_GLOBAL_BATCH) && 2 * l->in[0].dim[0] > cap) {
            cap = 2 * l->in[0].dim[0];
        }
    }
    s = lam_alloc(ctx, sizeof *s);
    if (s == NULL) {
        return LAM_ERR_NOMEM;
    }
    memset(s, 0, sizeof *s);
    m->dp = s;
    if ((st = lam__dp_init(ctx, &s->lay, n, chunk, cap)) != LAM_OK) {
        lam__model_dp_free(m);
        return st;
    }
    s->buckets = lam_alloc(ctx, (size_t)m->n_nodes * sizeof *s->buckets);
    s->group = lam_alloc(ctx, (size_t)m->n_nodes * sizeof *s->group);
    s->offset = lam_alloc(ctx, (size_t)m->n_nodes * sizeof *s->offset);
    if (s->buckets == NULL || s->group == NULL || s->offset == NULL) {
        lam__model_dp_free(m);
        return LAM_ERR_NOMEM;
    }
    memset(s->buckets, 0, (size_t)m->n_nodes * sizeof *s->buckets);
    /* groups in backward order; a group's bucket sits at its last node (lowest index),
     * closed when full or when no layer with weights comes after it */
    int64_t floats = 0, total = 0;
    int nb = 0, open = -1, last = -1; /* the open group's first and latest member */
    for (int h = m->n_nodes - 1; h >= -1; h--) {
        const int64_t len = h >= 0 ? bucket_len(m, h) : 0;
        if (h >= 0) {
            s->group[h] = -1;
        }
        if (len > 0) {
            open = open < 0 ? h : open;
            s->offset[h] = total;
            total += len;
            last = h;
        }
        if (open >= 0 && (h < 0 || total >= LAM_DP_BUCKET_FLOATS)) {
            for (int e = open; e >= last; e--) {
                s->group[e] = bucket_len(m, e) > 0 ? last : -1;
            }
            s->buckets[last].len = total;
            floats += lam__dp_bucket_floats(&s->lay, total);
            nb++;
            open = -1;
            total = 0;
        }
    }
    s->mem = floats > 0 ? lam__alloc_floats(ctx, floats, "data-parallel buckets") : NULL;
    s->counts = lam_alloc(ctx, (size_t)(4 * ctx->comm.size * (nb > 0 ? nb : 1)) *
                                   sizeof(int64_t));
    if ((floats > 0 && s->mem == NULL) || s->counts == NULL) {
        lam__model_dp_free(m);
        return LAM_ERR_NOMEM;
    }
    float *at = s->mem;
    int b = 0;
    for (int h = m->n_nodes - 1; h >= 0; h--) {
        const int64_t len = s->buckets[h].len;
        if (len > 0) {
            lam__dp_bucket_bind(&s->lay, &s->buckets[h], len, at,
                                s->counts + 4 * ctx->comm.size * b++);
            at += lam__dp_bucket_floats(&s->lay, len);
        }
    }
    s->n = n;
    s->chunk = chunk;
    s->rank = ctx->comm.rank;
    s->size = ctx->comm.size;
    return LAM_OK;
}

/* Point the layers of node h's group at chunk j (row0 in the rank's batch) or at the
 * layout (batch norm). */
static void aim_group(lam_model *m, const lam_node *nd, const lam_dp *dp, int64_t j)
{
    for (int i = nd->head; i <= nd->tail; i++) {
        lam_layer *l = m->nodes[i].layer;
        l->row0 = j * dp->chunk;
        l->grow0 = (dp->first + j) * dp->chunk;
        l->dp = (struct lam_dp *)dp;
        l->step = m->step;
    }
}

static void release_layers(lam_model *m)
{
    for (int i = 0; i < m->n_nodes; i++) {
        m->nodes[i].layer->row0 = 0;
        m->nodes[i].layer->grow0 = 0;
        m->nodes[i].layer->dp = NULL;
    }
}

static lam_status forward_chunks(lam_model *m, lam_dp *dp)
{
    for (int h = 0; h < m->n_nodes; h++) {
        lam_node *nd = &m->nodes[h];
        if (nd->head != h || lam__node_is_view(nd)) {
            continue;
        }
        lam_layer *l = nd->layer;
        const int whole = (l->kind->flags & LAM_KIND_GLOBAL_BATCH) != 0;
        const int64_t out_per = m->nodes[nd->tail].layer->out_numel;
        for (int64_t j = 0; j < (whole ? 1 : dp->count); j++) {
            aim_group(m, nd, dp, j);
            const int64_t r0 = j * dp->chunk, rows = whole ? m->n : dp->chunk;
            const float *xs[LAM_MAX_INPUTS];
            lam__node_inputs(m, nd, xs);
            for (int k = 0; k < nd->n_in; k++) {
                xs[k] += r0 * l->in_numel[k];
            }
            float *y = m->nodes[nd->tail].out + r0 * out_per;
            lam_status st = nd->span == 1 ? l->kind->forward(l, xs, y, rows, 1)
                                          : l->kind->forward_fused(l, xs[0], y, rows, 1);
            if (st != LAM_OK) {
                return st;
            }
        }
    }
    return LAM_OK;
}

/* The loss and hits of every chunk, summed over the global batch. A chunk's gradient is
 * its mean's, scaled by 1/k, so the sum over chunks is the gradient of the global mean.
 * A chunk that fails (a bad label, non-finite logits) still takes part in the sum, as NaN:
 * every rank then stops this step together instead of leaving the others waiting. */
static lam_status loss_chunks(lam_model *m, lam_dp *dp, const lam_step_desc *d, double *loss,
                              int64_t *correct)
{
    const float scale = (float)(1.0 / (double)dp->k);
    float *g = m->nodes[m->n_nodes - 1].grad;
    lam_status bad = LAM_OK;
    for (int64_t j = 0; j < dp->count; j++) {
        int64_t hits = 0;
        lam_status st = bad != LAM_OK ? bad
                                      : lam__model_loss_range(m, &d->loss, d->labels,
                                                              d->targets, j * dp->chunk,
                                                              dp->chunk, &dp->leaves[2 * j],
                                                              &hits);
        if (st != LAM_OK) {
            bad = st;
            dp->leaves[2 * j] = (double)NAN;
        }
        dp->leaves[2 * j + 1] = (double)hits;
        if (dp->k > 1 && g != NULL) {
            float *gj = g + j * dp->chunk * m->out_numel;
            for (int64_t i = 0; i < dp->chunk * m->out_numel; i++) {
                gj[i] *= scale;
            }
        }
    }
    double sum[2];
    lam_status st = lam__dp_allreduce(dp, dp->leaves, 2, lam__dp_add_f64, NULL, sum);
    *loss = sum[0] / (double)dp->k;
    *correct = (int64_t)sum[1];
    return bad != LAM_OK ? bad : st;
}

/* Backward of node h over chunk j: its parameter gradients of this chunk alone. */
static lam_status backward_chunk(lam_model *m, lam_node *nd, lam_dp *dp, int64_t j,
                                 lam_dp_bucket *b, int64_t off)
{
    lam_layer *l = nd->layer;
    const int whole = (l->kind->flags & LAM_KIND_GLOBAL_BATCH) != 0;
    const int64_t r0 = j * dp->chunk, rows = whole ? m->n : dp->chunk;
    if (b != NULL) {
        for (int p = 0; p < l->n_params; p++) {
            memset(lam__param(l, p)->g, 0, (size_t)lam__param(l, p)->n * sizeof(float));
        }
    }
    aim_group(m, nd, dp, j);
    const lam_node *t = &m->nodes[nd->tail];
    const int64_t out_per = t->layer->out_numel;
    const float *xs[LAM_MAX_INPUTS];
    float *dx[LAM_MAX_INPUTS];
    lam__node_inputs(m, nd, xs);
    for (int k = 0; k < nd->n_in; k++) {
        xs[k] += r0 * l->in_numel[k];
        dx[k] = nd->dx[k] != NULL ? nd->dx[k] + r0 * l->in_numel[k] : NULL;
    }
    const float *y = lam__node_output(m, nd->tail) + r0 * out_per;
    float *dy = t->grad + r0 * out_per;
    lam_status st = nd->span == 1 ? l->kind->backward(l, xs, y, dy, dx, nd->acc, rows)
                                  : l->kind->backward_fused(l, xs[0], y, dy, dx[0], nd->acc,
                                                            rows);
    if (st != LAM_OK || b == NULL) {
        return st;
    }
    float *leaf = b->leaves + j * b->len + off;
    for (int p = 0; p < l->n_params; p++) {
        const lam_param *q = lam__param(l, p);
        memcpy(leaf, q->g, (size_t)q->n * sizeof(float));
        leaf += q->n;
    }
    return LAM_OK;
}

/* Let every running exchange progress without blocking (MPI moves data only inside its
 * calls), between two layers' backward. */
static lam_status poll_all(lam_model *m)
{
    for (int h = m->n_nodes - 1; h >= 0; h--) {
        lam_dp_bucket *b = &m->dp->buckets[h];
        lam_status st = b->len > 0 ? lam__dp_bucket_poll(&m->dp->lay, b) : LAM_OK;
        if (st != LAM_OK) {
            return st;
        }
    }
    return LAM_OK;
}

/* The exchanged sums become the parameters' gradients: owned tensors are written, then a
 * tied weight adds what its second user contributed (one addition of two terms). */
static void write_gradients(lam_model *m)
{
    for (int pass = 0; pass < 2; pass++) {
        for (int h = m->n_nodes - 1; h >= 0; h--) {
            if (m->dp->group[h] < 0) {
                continue;
            }
            lam_layer *l = m->nodes[h].layer;
            const float *src = m->dp->buckets[m->dp->group[h]].out + m->dp->offset[h];
            for (int p = 0; p < l->n_params; p++) {
                const lam_param *q = lam__param(l, p);
                const int tied = l->tensors[p].tied != NULL;
                if (pass == 0 && !tied) {
                    memcpy(q->g, src, (size_t)q->n * sizeof(float));
                } else if (pass == 1 && tied) {
                    lam__add_arrays(lam_ctx_threads(m->ctx), q->g, q->g, src, q->n);
                }
                src += q->n;
            }
        }
    }
}

/* Buckets are started in backward order; the previous one moves to its second stage when
 * the next starts (it had the layer in between to arrive), a point the same on every rank. */
static lam_status backward_chunks(lam_model *m, lam_dp *dp)
{
    lam_dp_bucket *prev = NULL;
    for (int h = m->n_nodes - 1; h >= 0; h--) {
        lam_node *nd = &m->nodes[h];
        if (nd->head != h || !nd->trained) {
            continue;
        }
        lam_status st = poll_all(m);
        const int g = m->dp->group[h];
        lam_dp_bucket *gb = g >= 0 ? &m->dp->buckets[g] : NULL;
        lam_dp_bucket *b = g == h ? gb : NULL; /* its group's last layer: it starts */
        const int whole = (nd->layer->kind->flags & LAM_KIND_GLOBAL_BATCH) != 0;
        for (int64_t j = 0; st == LAM_OK && j < (whole ? 1 : dp->count); j++) {
            st = backward_chunk(m, nd, dp, j, gb, g >= 0 ? m->dp->offset[h] : 0);
        }
        for (int k = 0; st == LAM_OK && k < nd->n_in; k++) {
            if (nd->add_into[k] != NULL) {
                lam__add_arrays(lam_ctx_threads(m->ctx), nd->add_into[k], nd->add_into[k],
                                nd->dx[k], m->n * nd->layer->in_numel[k]);
            }
        }
        if (st == LAM_OK && b != NULL && prev != NULL) {
            st = lam__dp_bucket_advance(dp, prev);
        }
        if (st == LAM_OK && b != NULL) {
            st = lam__dp_bucket_start(dp, b);
            prev = b;
        }
        if (st != LAM_OK) {
            return st;
        }
    }
    for (int h = m->n_nodes - 1; h >= 0; h--) {
        lam_dp_bucket *b = &m->dp->buckets[h];
        lam_status st = b->len > 0 ? lam__dp_bucket_finish(dp, b) : LAM_OK;
        if (st != LAM_OK) {
            return st;
        }
    }
    write_gradients(m);
    return LAM_OK;
}

lam_status lam__model_dp_pass(lam_model *m, const lam_step_desc *d, double *loss,
                              int64_t *correct)
{
    lam_ctx *ctx = m->ctx;
    const int64_t global = d->global_n > 0 ? d->global_n : d->n;
    lam_status st = prepare(m, global, d->chunk);
    if (st != LAM_OK) {
        return st;
    }
    lam_dp *dp = &m->dp->lay;
    if (d->n != dp->count * dp->chunk || d->n > m->max_batch) {
        return lam__error(ctx, LAM_ERR_ARG, "data-parallel step: rank %d of %d holds chunks "
                          "%lld..%lld of %lld (chunk %lld), so %lld samples, not %lld (max_batch "
                          "%lld)", dp->rank, dp->size, (long long)dp->first,
                          (long long)(dp->first + dp->count - 1), (long long)dp->k,
                          (long long)dp->chunk, (long long)(dp->count * dp->chunk),
                          (long long)d->n, (long long)m->max_batch);
    }
    m->have_dout = 0;
    m->trained = 0;
    m->x = d->x;
    m->n = d->n;
    st = forward_chunks(m, dp);
    if (st == LAM_OK) {
        m->trained = 1;
        st = loss_chunks(m, dp, d, loss, correct);
    }
    /* a non-finite global loss (one rank's bad label is a NaN there) stops every rank
     * before backward alike: a rank that went on would wait for the others' exchanges */
    if (st == LAM_OK && isfinite(*loss)) {
        m->have_dout = 1;
        st = backward_chunks(m, dp);
        m->have_dout = 0;
    }
    release_layers(m);
    return st;
}
