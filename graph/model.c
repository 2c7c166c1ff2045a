/* Models as graphs: build the nodes of a spec, infer every shape once, fold activations into
 * the layer before them, put all parameters in one block, and plan the memory (plan.c).
 * The passes are in pass.c.
 *
 * Folding: a conv2d followed by relu and/or max pool, and a linear or batch norm followed
 * by relu, run as one call of the first node when each node of the group feeds only the
 * next: the activation and the pooling happen while the first node's output is in cache,
 * the un-pooled conv output is never written to memory, and the group takes one parallel
 * region per pass instead of three. The folded nodes stay in the model (names,
 * checkpoints, lamina info) but do no work of their own. */
#include "model_internal.h"

#include <stdio.h>
#include <string.h>

static char *dup_string(lam_ctx *ctx, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = lam_alloc(ctx, n);
    if (p != NULL) {
        memcpy(p, s, n);
    }
    return p;
}

/* The one consumer of node i, or -1 when it has none or several. */
static int only_consumer(const lam_model *m, int i)
{
    if (m->nodes[i].n_consumers != 1) {
        return -1;
    }
    for (int c = i + 1; c < m->n_nodes; c++) {
        for (int k = 0; k < m->nodes[c].n_in; k++) {
            if (m->nodes[c].in[k] == i) {
                return c;
            }
        }
    }
    return -1;
}

static int is_kind(const lam_model *m, int i, lam_layer_kind k)
{
    return i >= 0 && m->nodes[i].layer->desc.kind == k && m->nodes[i].n_in == 1;
}

/* Decide the groups and size the heads' workspaces for them. */
static lam_status plan_folding(lam_model *m)
{
    for (int i = 0; i < m->n_nodes; i++) {
        m->nodes[i].head = i;
        m->nodes[i].span = 1;
        m->nodes[i].tail = i;
    }
    for (int i = 0; i < m->n_nodes; i++) {
        lam_node *nd = &m->nodes[i];
        lam_layer *l = nd->layer;
        const lam_layer_kind k = l->desc.kind;
        if (nd->head != i || l->kind->can_fuse == NULL) {
            continue;
        }
        int a = only_consumer(m, i);
        a = is_kind(m, a, LAM_LAYER_RELU) ? a : -1;
        int p = k == LAM_LAYER_CONV2D ? only_consumer(m, a >= 0 ? a : i) : -1;
        p = is_kind(m, p, LAM_LAYER_MAXPOOL) ? p : -1;
        const lam_act act = a >= 0 ? LAM_ACT_RELU : LAM_ACT_NONE;
        lam_layer *pool = p >= 0 ? m->nodes[p].layer : NULL;
        if (pool != NULL && !l->kind->can_fuse(l, act, pool)) {
            p = -1; /* the relu alone, then */
            pool = NULL;
        }
        if ((a < 0 && p < 0) || !l->kind->can_fuse(l, act, pool)) {
            continue;
        }
        lam_status st = l->kind->fuse(l, act, pool);
        if (st != LAM_OK) {
            return st;
        }
        const int group[2] = {a, p};
        nd->tail = i;
        for (int j = 0; j < 2; j++) {
            if (group[j] >= 0) {
                lam_node *f = &m->nodes[group[j]];
                f->head = i;
                f->span = 0;
                nd->tail = group[j];
                nd->span++;
                snprintf(f->layer->strategy, sizeof f->layer->strategy, "in %s", l->name);
            }
        }
    }
    return LAM_OK;
}

/* A node's shapes, its layer, and the consumer counts of its inputs. */
static lam_status build_nodes(lam_model *m, const lam_spec_node *spec, int count)
{
    for (int i = 0; i < count; i++) {
        const lam_spec_node *s = &spec[i];
        lam_node *nd = &m->nodes[i];
        lam_shape in[LAM_MAX_INPUTS];
        nd->n_in = s->n_in;
        for (int k = 0; k < s->n_in; k++) {
            nd->in[k] = s->in[k];
            in[k] = s->in[k] < 0 ? m->in : m->nodes[s->in[k]].layer->out;
            if (s->in[k] >= 0) {
                m->nodes[s->in[k]].n_consumers++;
            }
        }
        lam_status st = lam__layer_setup(m->ctx, &s->desc, s->n_in, in, m->max_batch,
                                         (uint64_t)i + 1, i, s->name, &nd->layer);
        if (st != LAM_OK) {
            return st;
        }
        nd->layer->in_model = 1;
        m->layers[i] = nd->layer;
        m->n_nodes = i + 1;
        if (s->tie >= 0 && (st = lam__layer_tie(nd->layer, m->nodes[s->tie].layer)) != LAM_OK) {
            return st;
        }
    }
    for (int i = 0; i + 1 < count; i++) {
        if (m->nodes[i].n_consumers == 0) {
            char label[LAM_NAME_MAX + 40];
            return lam__error(m->ctx, LAM_ERR_SHAPE, "model: %s: its output is never used (the "
                              "model's output is the last node's; give it as an input of a "
                              "later node, or remove it)",
                              lam__layer_label(m->nodes[i].layer, label, sizeof label));
        }
    }
    return LAM_OK;
}

/* Which nodes run backward: those with parameters, and everything after one. */
static void mark_trained(lam_model *m)
{
    for (int i = 0; i < m->n_nodes; i++) {
        lam_node *nd = &m->nodes[i];
        nd->trained = nd->layer->n_params > 0;
        for (int k = 0; k < nd->n_in; k++) {
            nd->trained |= nd->in[k] >= 0 && m->nodes[nd->in[k]].trained;
        }
    }
    /* a group runs backward as one call: its head's flag is the group's */
    for (int i = 0; i < m->n_nodes; i++) {
        m->nodes[i].trained = m->nodes[m->nodes[i].head].trained;
    }
}

static int64_t align16(int64_t n)
{
    return (n + 15) / 16 * 16;
}

/* One block for the weights, one for the gradients, one for the buffers; each layer's
 * tensors start on a 64-byte boundary. */
static lam_status bind_params(lam_model *m)
{
    int np = 0, nb = 0;
    int64_t wn = 0, bn = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const lam_layer *l = m->nodes[i].layer;
        for (int j = 0; j < l->n_params; j++) {
            np += l->tensors[j].tied == NULL;
        }
        nb += l->n_buffers;
        wn += align16(lam__layer_param_floats(l));
        bn += align16(lam__layer_buffer_floats(l));
    }
    m->params = np > 0 ? lam_alloc(m->ctx, (size_t)np * sizeof *m->params) : NULL;
    m->bufs = nb > 0 ? lam_alloc(m->ctx, (size_t)nb * sizeof *m->bufs) : NULL;
    m->wblock = wn > 0 ? lam__alloc_floats(m->ctx, 2 * wn, "model parameters") : NULL;
    m->bblock = bn > 0 ? lam__alloc_floats(m->ctx, bn, "model buffers") : NULL;
    if ((np > 0 && m->params == NULL) || (nb > 0 && m->bufs == NULL) ||
        (wn > 0 && m->wblock == NULL) || (bn > 0 && m->bblock == NULL)) {
        return LAM_ERR_NOMEM;
    }
    int ns = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        lam_layer *l = m->nodes[i].layer;
        ns += l->kind->states != NULL ? l->kind->states(l, (lam_param[2]){{0}}) : 0;
    }
    if (ns > 0 && (m->states = lam_alloc(m->ctx, (size_t)ns * sizeof *m->states)) == NULL) {
        return LAM_ERR_NOMEM;
    }
    for (int i = 0; i < m->n_nodes; i++) {
        lam_layer *l = m->nodes[i].layer;
        if (l->kind->states != NULL) {
            m->n_states += l->kind->states(l, m->states + m->n_states);
        }
    }
    m->gblock = m->wblock != NULL ? m->wblock + wn : NULL;
    m->wblock_n = wn;
    m->bblock_n = bn;
    int64_t wo = 0, bo = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        lam_layer *l = m->nodes[i].layer;
        lam__layer_bind(l, m->wblock != NULL ? m->wblock + wo : NULL,
                        m->gblock != NULL ? m->gblock + wo : NULL,
                        m->bblock != NULL ? m->bblock + bo : NULL);
        wo += align16(lam__layer_param_floats(l));
        bo += align16(lam__layer_buffer_floats(l));
        for (int j = 0; j < l->n_params; j++) {
            /* a tied weight is its owner's parameter: listed (and updated) once */
            if (l->tensors[j].tied == NULL) {
                m->params[m->n_params++] = *lam__param(l, j);
            }
        }
        for (int j = 0; j < l->n_buffers; j++) {
            m->bufs[m->n_bufs++] = *lam__buffer(l, j);
        }
    }
    return LAM_OK;
}

static lam_status check_input_shape(lam_ctx *ctx, int in_ndim, const int64_t *in_shape,
                                    lam_shape *s, int64_t *numel)
{
    if (in_shape == NULL || in_ndim < 1 || in_ndim > LAM_MAX_SAMPLE_DIM) {
        return lam__error(ctx, LAM_ERR_ARG, "model: the input is (D), (T,D) or (C,H,W), not "
                          "%d-D", in_ndim);
    }
    *s = (lam_shape){in_ndim, {1, 1, 1}};
    for (int i = 0; i < in_ndim; i++) {
        if (in_shape[i] < 1) {
            return lam__error(ctx, LAM_ERR_ARG, "model: input dimension %d is %lld", i,
                              (long long)in_shape[i]);
        }
        s->dim[i] = in_shape[i];
    }
    if (lam__shape_numel(s, numel) != LAM_OK) {
        return lam__error(ctx, LAM_ERR_RANGE, "model: input too large");
    }
    return LAM_OK;
}

static lam_status build(lam_model *m, const lam_spec_node *spec, int count)
{
    m->nodes = lam_alloc(m->ctx, (size_t)count * sizeof *m->nodes);
    m->layers = lam_alloc(m->ctx, (size_t)count * sizeof *m->layers);
    if (m->nodes == NULL || m->layers == NULL) {
        return LAM_ERR_NOMEM;
    }
    memset(m->nodes, 0, (size_t)count * sizeof *m->nodes);
    lam_status st = build_nodes(m, spec, count);
    if (st == LAM_OK) {
        m->out_numel = m->nodes[count - 1].layer->out_numel;
        st = bind_params(m);
    }
    if (st == LAM_OK) {
        st = plan_folding(m);
    }
    if (st == LAM_OK) {
        mark_trained(m);
        st = lam__model_plan(m);
    }
    return st;
}

lam_status lam_model_create(lam_ctx *ctx, const char *spec, int in_ndim,
                            const int64_t *in_shape, int64_t n_out, int64_t max_batch,
                            lam_model **out)
{
    if (ctx == NULL || out == NULL) {
        return LAM_ERR_ARG;
    }
    lam_shape in;
    int64_t in_numel = 0;
    if (spec == NULL || n_out < 0 || max_batch < 1) {
        return lam__error(ctx, LAM_ERR_ARG, "model: need a spec, n_out >= 0 and max_batch >= 1");
    }
    lam_status st = check_input_shape(ctx, in_ndim, in_shape, &in, &in_numel);
    if (st != LAM_OK) {
        return st;
    }
    const char *builtin = lam_model_builtin_spec(spec);
    const char *text = builtin != NULL ? builtin : spec;
    lam_spec_node *nodes = NULL;
    int count = 0;
    st = lam__spec_parse(ctx, text, n_out, &nodes, &count);
    lam_model *m = NULL;
    if (st == LAM_OK && (m = lam_alloc(ctx, sizeof *m)) == NULL) {
        st = LAM_ERR_NOMEM;
    }
    if (st == LAM_OK) {
        memset(m, 0, sizeof *m);
        m->ctx = ctx;
        m->in = in;
        m->in_numel = in_numel;
        m->n_out = n_out;
        m->max_batch = max_batch;
        m->spec = dup_string(ctx, text);
        st = m->spec == NULL ? LAM_ERR_NOMEM : build(m, nodes, count);
    }
    lam_free(ctx, nodes);
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
    lam__model_dp_free(m);
    for (int i = 0; i < m->n_nodes; i++) {
        lam__layer_free(m->nodes[i].layer);
    }
    lam__arena_release(ctx, &m->arena);
    lam_free(ctx, m->nodes);
    lam_free(ctx, m->layers);
    lam_free(ctx, m->params);
    lam_free(ctx, m->bufs);
    lam_free(ctx, m->states);
    lam_free(ctx, m->wblock);
    lam_free(ctx, m->bblock);
    lam_free(ctx, m->spec);
    lam_free(ctx, m);
}

/* ------------------------------------------------------------ accessors */

const char *lam_model_spec(const lam_model *m)
{
    return m != NULL ? m->spec : "";
}

int lam_model_layer_count(const lam_model *m)
{
    return m != NULL ? m->n_nodes : 0;
}

lam_layer *lam_model_layer(lam_model *m, int i)
{
    return m != NULL && i >= 0 && i < m->n_nodes ? m->nodes[i].layer : NULL;
}

int lam_model_layer_inputs(const lam_model *m, int i, int *inputs)
{
    if (m == NULL || i < 0 || i >= m->n_nodes) {
        return 0;
    }
    for (int k = 0; inputs != NULL && k < m->nodes[i].n_in; k++) {
        inputs[k] = m->nodes[i].in[k];
    }
    return m->nodes[i].n_in;
}

int lam_model_find(const lam_model *m, const char *name)
{
    for (int i = 0; m != NULL && name != NULL && i < m->n_nodes; i++) {
        if (strcmp(m->nodes[i].layer->name, name) == 0) {
            return i;
        }
    }
    return -1;
}

int64_t lam_model_max_batch(const lam_model *m)
{
    return m != NULL ? m->max_batch : 0;
}

lam_shape lam_model_input_shape(const lam_model *m)
{
    lam_shape none = {0, {0, 0, 0}};
    return m != NULL ? m->in : none;
}

lam_shape lam_model_output_shape(const lam_model *m)
{
    lam_shape none = {0, {0, 0, 0}};
    return m != NULL ? m->nodes[m->n_nodes - 1].layer->out : none;
}

static void shape_out(lam_shape s, int *ndim, int64_t shape[3])
{
    *ndim = s.ndim;
    for (int i = 0; i < LAM_MAX_SAMPLE_DIM; i++) {
        shape[i] = i < s.ndim ? s.dim[i] : 1;
    }
}

void lam_model_in_shape(const lam_model *m, int *ndim, int64_t shape[3])
{
    shape_out(lam_model_input_shape(m), ndim, shape);
}

void lam_model_out_shape(const lam_model *m, int *ndim, int64_t shape[3])
{
    shape_out(lam_model_output_shape(m), ndim, shape);
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
    for (int i = 0; m != NULL && i < m->n_nodes; i++) {
        f += m->nodes[i].layer->flops;
    }
    return f;
}

int64_t lam_model_train_flops(const lam_model *m)
{
    int64_t f = 0;
    for (int i = 0; m != NULL && i < m->n_nodes; i++) {
        const lam_node *nd = &m->nodes[i];
        int times = 1;
        if (nd->trained) {
            const lam_node *h = &m->nodes[nd->head];
            times += nd->layer->n_params > 0;
            for (int k = 0; k < h->n_in; k++) {
                if (h->in[k] >= 0 && m->nodes[h->in[k]].trained) {
                    times++; /* the input gradient, once however many inputs need it */
                    break;
                }
            }
        }
        f += times * nd->layer->flops;
    }
    return f;
}

lam_status lam_model_memory_info(const lam_model *m, lam_model_memory *out)
{
    if (m == NULL || out == NULL) {
        return LAM_ERR_ARG;
    }
    memset(out, 0, sizeof *out);
    out->activations_per_sample = m->plan.act_floats_per_sample * (int64_t)sizeof(float);
    out->planned = m->plan.planned_floats * (int64_t)sizeof(float);
    out->unshared = m->plan.unshared_floats * (int64_t)sizeof(float);
    out->parameters = (2 * m->wblock_n + m->bblock_n) * (int64_t)sizeof(float);
    for (int i = 0; i < m->n_nodes; i++) {
        out->workspace += m->nodes[i].layer->ws_bytes;
    }
    return LAM_OK;
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

lam_status lam_model_param_block(lam_model *m, float **w, float **g, int64_t *n)
{
    if (m == NULL || w == NULL || g == NULL || n == NULL) {
        return LAM_ERR_ARG;
    }
    *w = m->wblock;
    *g = m->gblock;
    *n = m->wblock_n;
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

lam_status lam_model_states(lam_model *m, lam_param **states, int *count)
{
    if (m == NULL || states == NULL || count == NULL) {
        return LAM_ERR_ARG;
    }
    *states = m->states;
    *count = m->n_states;
    return LAM_OK;
}

lam_status lam_model_set_carry(lam_model *m, int carry)
{
    if (m == NULL || (carry != 0 && carry != 1)) {
        return LAM_ERR_ARG;
    }
    m->carry = carry;
    for (int i = 0; i < m->n_nodes; i++) {
        m->nodes[i].layer->carry = carry;
    }
    return LAM_OK;
}

void lam_model_reset_state(lam_model *m)
{
    for (int i = 0; m != NULL && i < m->n_states; i++) {
        memset(m->states[i].w, 0, (size_t)m->states[i].n * sizeof(float));
    }
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
