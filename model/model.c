/* Sequential models: shape inference once, all activation and gradient buffers in one arena
 * sized for max_batch, forward/loss/backward without allocation.
 *
 * Fusion: a conv2d followed by relu and/or max-pool, and a linear followed by relu, run as
 * one call of the first layer (lam__layer_forward_fused): the activation and the pooling
 * happen while the GEMM's output is in cache, the un-pooled conv output is never written to
 * memory, and each block takes one parallel region per pass instead of three. The folded
 * layers stay in the model (names, checkpoints, lamina info) but do no work of their own.
 *
 * In-place layers: relu, leaky relu (slope >= 0), dropout and flatten write their output over
 * their input when that input is a buffer of ours (not the caller's x) and the layer before
 * does not need its own output in backward. This halves the activation traffic of conv+relu
 * when fusion does not apply.
 *
 * Leading views: flatten layers at the start of the model read the caller's x, which is
 * const, so they cannot run in place; instead their output *is* x (no buffer, no copy). For
 * `flatten linear ...` the copy was 60 us of a 3.5 ms MLP step at batch 256. A layer right
 * after them is never in place, since that would write over the caller's x. */
#include "model_internal.h"
#include "param_blocks.h"

#include <stdint.h>
#include <string.h>

/* First layer of the group that computes layer i's output. */
static int head_of(const lam_model *m, int i)
{
    while (i > 0 && m->span[i] == 0) {
        i--;
    }
    return i;
}

/* Whether the backward of the group ending at layer `end` reads that group's output. */
static int needs_own_output(const lam_model *m, int end)
{
    lam_layer_kind k = m->layers[end]->desc.kind;
    if (k == LAM_LAYER_SIGMOID || k == LAM_LAYER_TANH || k == LAM_LAYER_GELU) {
        return 1;
    }
    const lam_layer *h = m->layers[head_of(m, end)];
    return m->span[head_of(m, end)] > 1 && h->fuse_act != LAM_ACT_NONE; /* relu mask */
}

static int can_run_in_place(const lam_model *m, int i)
{
    const lam_layer_desc *d = &m->layers[i]->desc;
    if (i <= m->lead_views || m->span[i] != 1) {
        return 0;
    }
    if (d->kind == LAM_LAYER_FLATTEN) {
        return 1; /* changes no value */
    }
    int kind_ok = d->kind == LAM_LAYER_RELU || d->kind == LAM_LAYER_DROPOUT ||
                  (d->kind == LAM_LAYER_LEAKY_RELU && d->alpha >= 0.0f);
    return kind_ok && !needs_own_output(m, i - 1);
}

/* Decide the groups (m->span) and size the heads' workspaces for them. */
static lam_status plan_fusion(lam_model *m)
{
    const int n = m->n_layers;
    m->span = lam_alloc(m->ctx, (size_t)n * sizeof *m->span);
    if (m->span == NULL) {
        return LAM_ERR_NOMEM;
    }
    for (int i = 0; i < n;) {
        lam_layer *l = m->layers[i];
        lam_layer *a = i + 1 < n && m->layers[i + 1]->desc.kind == LAM_LAYER_RELU
                           ? m->layers[i + 1]
                           : NULL;
        const int pi = i + 1 + (a != NULL);
        lam_layer *p = pi < n && m->layers[pi]->desc.kind == LAM_LAYER_MAXPOOL ? m->layers[pi]
                                                                               : NULL;
        const lam_act act = a != NULL ? LAM_ACT_RELU : LAM_ACT_NONE;
        int span = 1;
        if (l->desc.kind == LAM_LAYER_CONV2D && (a != NULL || p != NULL) &&
            lam__layer_can_fuse(l, act, p)) {
            span = 1 + (a != NULL) + (p != NULL);
        } else if (l->desc.kind == LAM_LAYER_LINEAR && a != NULL &&
                   lam__layer_can_fuse(l, act, NULL)) {
            span = 2;
            p = NULL;
        }
        if (span > 1) {
            lam_status st = lam__layer_fuse(l, act, p, a);
            if (st != LAM_OK) {
                return st;
            }
        }
        m->span[i] = span;
        for (int j = i + 1; j < i + span; j++) {
            m->span[j] = 0;
        }
        i += span;
    }
    return LAM_OK;
}

static char *dup_string(lam_ctx *ctx, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = lam_alloc(ctx, n);
    if (p != NULL) {
        memcpy(p, s, n);
    }
    return p;
}

static lam_status build_layers(lam_model *m, const lam_layer_desc *descs, int count)
{
    int ndim = m->in_ndim;
    int64_t shape[3] = {m->in_shape[0], m->in_shape[1], m->in_shape[2]};
    for (int i = 0; i < count; i++) {
        lam_status st = lam__layer_create_at(m->ctx, &descs[i], ndim, shape, m->max_batch,
                                             (uint64_t)i + 1, i, &m->layers[i]);
        if (st != LAM_OK) {
            return st;
        }
        m->n_layers = i + 1;
        lam_layer_out_shape(m->layers[i], &ndim, shape);
    }
    return LAM_OK;
}

static lam_status collect_params(lam_model *m)
{
    int np = 0, nb = 0;
    m->first_trained = 0;
    while (m->first_trained < m->n_layers && m->layers[m->first_trained]->n_params == 0) {
        m->first_trained++;
    }
    for (int i = 0; i < m->n_layers; i++) {
        np += m->layers[i]->n_params;
        nb += m->layers[i]->n_buffers;
    }
    if (np > 0) {
        m->params = lam_alloc(m->ctx, (size_t)np * sizeof *m->params);
    }
    if (nb > 0) {
        m->bufs = lam_alloc(m->ctx, (size_t)nb * sizeof *m->bufs);
    }
    if ((np > 0 && m->params == NULL) || (nb > 0 && m->bufs == NULL)) {
        return LAM_ERR_NOMEM;
    }
    for (int i = 0; i < m->n_layers; i++) {
        const lam_layer *l = m->layers[i];
        for (int j = 0; j < l->n_params; j++) {
            m->params[m->n_params++] = l->params[j];
        }
        for (int j = 0; j < l->n_buffers; j++) {
            m->bufs[m->n_bufs++] = l->buffers[j];
        }
    }
    return LAM_OK;
}

/* Reserve every group output and the two gradient buffers, then commit the arena once. */
static lam_status plan_buffers(lam_model *m)
{
    size_t nl = (size_t)m->n_layers;
    m->acts = lam_alloc(m->ctx, nl * sizeof *m->acts);
    m->in_place = lam_alloc(m->ctx, nl * sizeof *m->in_place);
    size_t *offs = lam_alloc(m->ctx, nl * sizeof *offs);
    if (m->acts == NULL || m->in_place == NULL || offs == NULL) {
        lam_free(m->ctx, offs);
        return LAM_ERR_NOMEM;
    }
    int64_t biggest = m->in_shape[0] * m->in_shape[1] * m->in_shape[2];
    for (int i = 0; i < m->n_layers; i++) {
        offs[i] = SIZE_MAX; /* not materialised: folded into a group */
        m->in_place[i] = 0;
    }
    m->lead_views = 0;
    while (m->lead_views < m->n_layers && m->span[m->lead_views] == 1 &&
           m->layers[m->lead_views]->desc.kind == LAM_LAYER_FLATTEN) {
        m->lead_views++;
    }
    for (int i = m->lead_views; i < m->n_layers; i += m->span[i]) {
        const int end = i + m->span[i] - 1;
        const lam_layer *l = m->layers[end];
        m->in_place[i] = can_run_in_place(m, i);
        size_t bytes = (size_t)(m->max_batch * l->out_numel) * sizeof(float);
        offs[end] = m->in_place[i] ? offs[i - 1] : lam__arena_reserve(&m->arena, bytes);
        biggest = l->out_numel > biggest ? l->out_numel : biggest;
    }
    size_t gbytes = (size_t)(m->max_batch * biggest) * sizeof(float);
    size_t g0 = lam__arena_reserve(&m->arena, gbytes);
    size_t g1 = lam__arena_reserve(&m->arena, gbytes);
    lam_status st = lam__arena_commit(m->ctx, &m->arena);
    if (st == LAM_OK) {
        for (int i = 0; i < m->n_layers; i++) {
            m->acts[i] = offs[i] == SIZE_MAX ? NULL : lam__arena_at(&m->arena, offs[i]);
        }
        m->grad[0] = lam__arena_at(&m->arena, g0);
        m->grad[1] = lam__arena_at(&m->arena, g1);
    }
    lam_free(m->ctx, offs);
    return st;
}

lam_status lam_model_create(lam_ctx *ctx, const char *spec, int in_ndim,
                            const int64_t *in_shape, int64_t n_out, int64_t max_batch,
                            lam_model **out)
{
    if (ctx == NULL || out == NULL) {
        return LAM_ERR_ARG;
    }
    if (spec == NULL || in_shape == NULL || (in_ndim != 1 && in_ndim != 3) || n_out < 0 ||
        max_batch < 1) {
        return lam__error(ctx, LAM_ERR_ARG, "model: need a spec, a (C,H,W) or (F) input shape, "
                          "n_out >= 0 and max_batch >= 1");
    }
    const char *builtin = lam_model_builtin_spec(spec);
    const char *text = builtin != NULL ? builtin : spec;
    lam_layer_desc *descs = lam_alloc(ctx, LAM_SPEC_MAX_LAYERS * sizeof *descs);
    if (descs == NULL) {
        return LAM_ERR_NOMEM;
    }
    int count = 0;
    lam_status st = lam__spec_parse(ctx, text, n_out, descs, LAM_SPEC_MAX_LAYERS, &count);
    if (st != LAM_OK) {
        lam_free(ctx, descs);
        return st;
    }
    lam_model *m = lam_alloc(ctx, sizeof *m);
    if (m == NULL) {
        lam_free(ctx, descs);
        return LAM_ERR_NOMEM;
    }
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
    m->in_ndim = in_ndim;
    m->in_shape[0] = m->in_shape[1] = m->in_shape[2] = 1;
    for (int i = 0; i < in_ndim; i++) {
        m->in_shape[i] = in_shape[i];
    }
    m->n_out = n_out;
    m->max_batch = max_batch;
    m->spec = dup_string(ctx, text);
    m->layers = lam_alloc(ctx, (size_t)count * sizeof *m->layers);
    if (m->spec == NULL || m->layers == NULL) {
        st = LAM_ERR_NOMEM;
    } else {
        st = build_layers(m, descs, count);
    }
    lam_free(ctx, descs);
    if (st == LAM_OK) {
        st = collect_params(m);
    }
    if (st == LAM_OK) {
        st = plan_fusion(m);
    }
    if (st == LAM_OK) {
        st = plan_buffers(m);
    }
    if (st != LAM_OK) {
        lam_model_destroy(m);
        return st;
    }
    *out = m;
    return LAM_OK;
}

void lam_model_destroy(lam_model *m)
{
    if (m == NULL) {
        return;
    }
    lam_ctx *ctx = m->ctx;
    for (int i = 0; i < m->n_layers; i++) {
        lam_layer_destroy(m->layers[i]);
    }
    lam__arena_release(ctx, &m->arena);
    lam_free(ctx, m->layers);
    lam_free(ctx, m->acts);
    lam_free(ctx, m->in_place);
    lam_free(ctx, m->span);
    lam_free(ctx, m->params);
    lam_free(ctx, m->bufs);
    lam_free(ctx, m->spec);
    lam_free(ctx, m);
}

const char *lam_model_spec(const lam_model *m)
{
    return m != NULL ? m->spec : "";
}

int lam_model_layer_count(const lam_model *m)
{
    return m != NULL ? m->n_layers : 0;
}

lam_layer *lam_model_layer(lam_model *m, int i)
{
    return m != NULL && i >= 0 && i < m->n_layers ? m->layers[i] : NULL;
}

int64_t lam_model_max_batch(const lam_model *m)
{
    return m != NULL ? m->max_batch : 0;
}

void lam_model_in_shape(const lam_model *m, int *ndim, int64_t shape[3])
{
    *ndim = m->in_ndim;
    for (int i = 0; i < 3; i++) {
        shape[i] = m->in_shape[i];
    }
}

void lam_model_out_shape(const lam_model *m, int *ndim, int64_t shape[3])
{
    lam_layer_out_shape(m->layers[m->n_layers - 1], ndim, shape);
}

int64_t lam_model_param_count(const lam_model *m)
{
    int64_t n = 0;
    for (int i = 0; m != NULL && i < m->n_params; i++) {
        n += m->params[i].n;
    }
    return n;
}

int64_t lam_model_flops(const lam_model *m)
{
    int64_t f = 0;
    for (int i = 0; m != NULL && i < m->n_layers; i++) {
        f += m->layers[i]->flops;
    }
    return f;
}

int64_t lam_model_train_flops(const lam_model *m)
{
    int64_t f = 0;
    for (int i = 0; m != NULL && i < m->n_layers; i++) {
        const int64_t times = i < m->first_trained ? 1 : i == m->first_trained ? 2 : 3;
        f += times * m->layers[i]->flops;
    }
    return f;
}

lam_status lam_model_params(lam_model *m, lam_param **params, int *count)
{
    if (m == NULL || params == NULL || count == NULL) {
        return LAM_ERR_ARG;
    }
    *params = m->params;
    *count = m->n_params;
    return LAM_OK;
}

lam_status lam_model_buffers(lam_model *m, lam_param **bufs, int *count)
{
    if (m == NULL || bufs == NULL || count == NULL) {
        return LAM_ERR_ARG;
    }
    *bufs = m->bufs;
    *count = m->n_bufs;
    return LAM_OK;
}

static int64_t out_numel(const lam_model *m)
{
    return m->layers[m->n_layers - 1]->out_numel;
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
    m->x = x;
    const float *in = x;
    for (int i = 0; i < m->n_layers; i += m->span[i]) {
        const int end = i + m->span[i] - 1;
        lam_layer *l = m->layers[i];
        for (int j = i; j <= end; j++) {
            m->layers[j]->step = m->step;
        }
        if (i < m->lead_views) {
            l->last_train_n = train ? n : 0;
            continue; /* its output is x */
        }
        lam_status st = m->span[i] == 1 ? l->ops->forward(l, in, m->acts[end], n, train)
                                        : lam__layer_forward_fused(l, in, m->acts[end], n, train);
        for (int j = i; j <= end; j++) {
            m->layers[j]->last_train_n = st == LAM_OK && train ? n : 0;
        }
        if (st != LAM_OK) {
            return st;
        }
        in = m->acts[end];
    }
    m->n = n;
    m->trained = train != 0;
    if (out != NULL) {
        *out = lam__model_output(m, m->n_layers - 1);
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
    const float *y = lam__model_output(m, m->n_layers - 1);
    int64_t k = out_numel(m);
    lam_status st = lam_loss_eval(m->ctx, d, m->n, k, y, labels, targets, loss, m->grad[0]);
    if (st != LAM_OK) {
        return st;
    }
    if (correct != NULL && labels != NULL) {
        int64_t hits = 0;
        for (int64_t i = 0; i < m->n; i++) {
            const float *row = y + i * k;
            int64_t best = 0;
            for (int64_t j = 1; j < k; j++) {
                best = row[j] > row[best] ? j : best;
            }
            hits += best == labels[i];
        }
        *correct = hits;
    }
    m->have_dout = 1;
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
    float *dy = m->grad[0];
    /* Groups before the first trained layer hold no parameters, so their backward and the
     * trained layer's input gradient would only be thrown away (for `flatten linear ...` that
     * input gradient is a quarter of the step). */
    for (int end = m->n_layers - 1; end >= m->first_trained;) {
        const int i = head_of(m, end);
        lam_layer *l = m->layers[i];
        const float *in = i > 0 ? lam__model_output(m, i - 1) : m->x;
        float *dx = NULL;
        if (i > m->first_trained) {
            dx = m->in_place[i] ? dy : (dy == m->grad[0] ? m->grad[1] : m->grad[0]);
        }
        lam_status st = m->span[i] == 1
                            ? l->ops->backward(l, in, m->acts[end], dy, dx, m->n)
                            : lam__layer_backward_fused(l, in, m->acts[end], dy, dx, m->n);
        if (st != LAM_OK) {
            return st;
        }
        dy = dx;
        end = i - 1;
    }
    m->have_dout = 0;
    return LAM_OK;
}

static void zero_block(const void *arg, int param, int64_t off, int64_t len)
{
    const lam_model *m = arg;
    memset(m->params[param].g + off, 0, (size_t)len * sizeof(float));
}

void lam_model_zero_grad(lam_model *m)
{
    if (m != NULL) {
        lam__param_blocks(m->ctx, m->params, m->n_params, zero_block, m);
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
    int64_t in_numel = m->in_shape[0] * m->in_shape[1] * m->in_shape[2], k = out_numel(m);
    for (int64_t i = 0; i < n; i += m->max_batch) {
        int64_t b = n - i < m->max_batch ? n - i : m->max_batch;
        const float *out = NULL;
        lam_status st = lam_model_forward(m, x + i * in_numel, b, 0, &out);
        if (st != LAM_OK) {
            return st;
        }
        memcpy(y + i * k, out, (size_t)(b * k) * sizeof(float));
    }
    return LAM_OK;
}

int64_t lam_model_step(const lam_model *m)
{
    return m != NULL ? m->step : 0;
}

void lam_model_set_step(lam_model *m, int64_t step)
{
    if (m != NULL) {
        m->step = step;
    }
}
