/* The memory plan of a model: which outputs and gradients share memory, and where every
 * buffer of a training step lives in the one arena.
 *
 * A step is a timeline: the forward call of each group head h at t = h, the loss at t = n,
 * the backward call of h at t = 2n - h, and the end at 2n + 1. On it live values:
 *   A(i)    the output of node i (a view's output is its input's value itself);
 *   G(i)    the gradient of node i's output, defined by its last consumer's backward (the
 *           first to run) and added to by the others in reverse node order;
 *   S(h,k)  scratch for input k's gradient when h's kind cannot add into it.
 * Every value has events: a write (defining or adding), a read, or an alias definition (the
 * value starts as another value's bytes: add passes dy on as the gradient of an input).
 *
 * Sharing is decided greedily, each candidate checked on the whole timeline: an in-place
 * forward (relu over its input), an in-place backward (relu's dx over its dy), a gradient
 * alias (add, flatten). A buffer is valid when no write to one of its values happens while
 * another of its values is still to be read, except the one read and write of an op that
 * runs in place. Then every buffer lives from its first definition to its last use, and
 * buffers are placed first-fit by decreasing size at the lowest offset free over their
 * lifetime, so values that never coexist reuse the same bytes. */
#include "model_internal.h"

#include <stdio.h>
#include <string.h>

enum { EV_READ, EV_WRITE, EV_DEF_WRITE, EV_DEF_ALIAS };

typedef struct pval {
    int64_t floats;    /* for max_batch, rounded to 16 (64 bytes) */
    int buf;           /* union-find parent */
    int def, last;
    int is_act;
} pval;

typedef struct pev {
    int t, v, type;
    int inplace_with;  /* the value this write may overwrite in the same op, or -1 */
} pev;

typedef struct planner {
    lam_model *m;
    int nv, cap_v, ne, cap_e;
    pval *v;
    pev *e;
    int *act;          /* node -> A value (-1: the caller's x; -2: none) */
    int *grad;         /* node -> G value (-1: none) */
    int *scratch;      /* node * LAM_MAX_INPUTS + k -> S value (-1) */
    int *alias;        /* node * LAM_MAX_INPUTS + k: 1 when G(in_k) aliases G(tail) */
    int *inplace_fwd;  /* node: output written over input 0 */
    int *inplace_bwd;  /* node: dx written over dy */
    int *fc, *fc_slot; /* node -> its first contributor and the input slot there */
    int *members;      /* scratch of buffer_valid */
} planner;

static int64_t round16(int64_t n)
{
    return (n + 15) / 16 * 16;
}

static int new_value(planner *p, int64_t floats, int is_act)
{
    if (p->nv == p->cap_v) {
        return -1;
    }
    pval *v = &p->v[p->nv];
    v->floats = round16(floats);
    v->buf = p->nv;
    v->def = -1;
    v->last = -1;
    v->is_act = is_act;
    return p->nv++;
}

static int event(planner *p, int t, int v, int type, int inplace_with)
{
    if (v < 0) {
        return 0; /* the caller's x: not ours */
    }
    if (p->ne == p->cap_e) {
        return -1;
    }
    p->e[p->ne++] = (pev){t, v, type, inplace_with};
    return 0;
}

static int root(planner *p, int v)
{
    while (p->v[v].buf != v) {
        v = p->v[v].buf;
    }
    return v;
}

/* Lifetimes from the events: definition and last use. */
static void lifetimes(planner *p)
{
    for (int i = 0; i < p->nv; i++) {
        p->v[i].def = -1;
        p->v[i].last = -1;
    }
    for (int i = 0; i < p->ne; i++) {
        pval *v = &p->v[p->e[i].v];
        if (p->e[i].type == EV_DEF_WRITE || p->e[i].type == EV_DEF_ALIAS) {
            v->def = v->def < 0 || p->e[i].t < v->def ? p->e[i].t : v->def;
        }
        v->last = p->e[i].t > v->last ? p->e[i].t : v->last;
    }
}

/* Whether buffer r's values never overwrite each other while still needed. */
static int buffer_valid(planner *p, int r)
{
    int nm = 0;
    for (int u = 0; u < p->nv; u++) {
        if (root(p, u) == r) {
            p->members[nm++] = u;
        }
    }
    for (int i = 0; i < p->ne; i++) {
        const pev *w = &p->e[i];
        if ((w->type != EV_WRITE && w->type != EV_DEF_WRITE) || root(p, w->v) != r) {
            continue;
        }
        for (int j = 0; j < nm; j++) {
            const int u = p->members[j];
            const pval *pu = &p->v[u];
            if (u == w->v || pu->def < 0 || pu->def > w->t || pu->last < w->t) {
                continue; /* not alive at the write */
            }
            if (pu->last == w->t && w->inplace_with == u && pu->def < w->t) {
                continue; /* the op reads u and writes w->v in place */
            }
            return 0;
        }
    }
    return 1;
}

/* Put a's and b's buffers together if that stays valid; 1 when done. */
static int try_share(planner *p, int a, int b)
{
    if (a < 0 || b < 0) {
        return 0;
    }
    int ra = root(p, a), rb = root(p, b);
    if (ra == rb) {
        return 1;
    }
    p->v[rb].buf = ra;
    if (buffer_valid(p, ra)) {
        return 1;
    }
    p->v[rb].buf = rb;
    return 0;
}

static int t_bwd(const lam_model *m, int h)
{
    return 2 * m->n_nodes - h;
}

/* The first contributor to node i's gradient: its last consumer (in node order), at the
 * first input slot that names i (-1: none). Folded nodes are skipped: their only input is
 * their own group's. */
static void find_contributors(const lam_model *m, int *fc, int *fc_slot)
{
    for (int i = 0; i < m->n_nodes; i++) {
        fc[i] = -1;
        fc_slot[i] = -1;
    }
    for (int c = 0; c < m->n_nodes; c++) {
        const lam_node *nd = &m->nodes[c];
        for (int k = nd->n_in - 1; nd->head == c && k >= 0; k--) {
            if (nd->in[k] >= 0) {
                fc[nd->in[k]] = c;
                fc_slot[nd->in[k]] = k;
            }
        }
    }
}

static int is_first(const planner *p, int src, int h, int k)
{
    return p->fc[src] == h && p->fc_slot[src] == k;
}

static int dup_input(const lam_node *nd, int k)
{
    for (int j = 0; j < nd->n_in; j++) {
        if (j != k && nd->in[j] == nd->in[k]) {
            return 1;
        }
    }
    return 0;
}

static unsigned reads_of(const lam_layer *l)
{
    return l->kind->reads != NULL ? l->kind->reads(l) : (LAM_READS_ALL_X | LAM_READS_Y);
}

/* Create the values of every node. */
static int make_values(planner *p)
{
    lam_model *m = p->m;
    const int64_t b = m->max_batch;
    for (int i = 0; i < m->n_nodes; i++) {
        const lam_node *nd = &m->nodes[i];
        p->act[i] = -2;
        p->grad[i] = -1;
        const lam_layer *l = nd->layer;
        if (nd->head == i && nd->span == 1 && (l->kind->flags & LAM_KIND_VIEW)) {
            p->act[i] = nd->in[0] >= 0 ? p->act[nd->in[0]] : -1;
        } else if (m->nodes[nd->head].tail == i) {
            if ((p->act[i] = new_value(p, b * l->out_numel, 1)) < 0) {
                return -1;
            }
        }
        if (nd->trained && m->nodes[nd->head].tail == i) {
            if ((p->grad[i] = new_value(p, b * l->out_numel, 0)) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* The events of one step; the alias and in-place choices so far decide the gradient ones. */
static int make_events(planner *p)
{
    lam_model *m = p->m;
    const int n = m->n_nodes, end = 2 * n + 1;
    p->ne = 0;
    int bad = 0;
    for (int h = 0; h < n; h++) {
        const lam_node *nd = &m->nodes[h];
        if (nd->head != h || p->act[nd->tail] == (nd->in[0] >= 0 ? p->act[nd->in[0]] : -1)) {
            continue; /* folded, or a view */
        }
        for (int k = 0; k < nd->n_in; k++) {
            bad |= event(p, h, nd->in[k] >= 0 ? p->act[nd->in[k]] : -1, EV_READ, -1);
        }
        const int with = p->inplace_fwd[h] && nd->in[0] >= 0 ? p->act[nd->in[0]] : -1;
        bad |= event(p, h, p->act[nd->tail], EV_DEF_WRITE, with);
    }
    /* the loss reads the output and defines its gradient; the output stays valid to the end */
    bad |= event(p, n, p->act[n - 1], EV_READ, -1);
    bad |= event(p, end, p->act[n - 1], EV_READ, -1);
    bad |= event(p, n, p->grad[n - 1], EV_DEF_WRITE, -1);
    for (int h = n - 1; h >= 0; h--) {
        const lam_node *nd = &m->nodes[h];
        if (nd->head != h || !nd->trained) {
            continue;
        }
        const int t = t_bwd(m, h);
        const lam_layer *l = nd->layer;
        const unsigned reads = reads_of(l);
        const int g = p->grad[nd->tail];
        bad |= event(p, t, g, EV_READ, -1);
        if (nd->span > 1) {
            bad |= event(p, t, g, EV_WRITE, -1); /* a folded relu masks dy in place */
        }
        if (reads & LAM_READS_Y) {
            bad |= event(p, t, p->act[nd->tail], EV_READ, -1);
        }
        for (int k = 0; k < nd->n_in; k++) {
            const int src = nd->in[k];
            if ((reads & LAM_READS_X(k)) && src >= 0) {
                bad |= event(p, t, p->act[src], EV_READ, -1);
            }
            if (src < 0 || !m->nodes[src].trained) {
                continue;
            }
            const int gk = p->grad[src];
            if (is_first(p, src, h, k)) {
                const int type = p->alias[h * LAM_MAX_INPUTS + k] ? EV_DEF_ALIAS : EV_DEF_WRITE;
                bad |= event(p, t, gk, type, p->inplace_bwd[h] ? g : -1);
            } else if (l->kind->flags & LAM_KIND_ACCUMULATES) {
                bad |= event(p, t, gk, EV_WRITE, -1);
            } else {
                const int s = p->scratch[h * LAM_MAX_INPUTS + k];
                bad |= event(p, t, s, EV_DEF_WRITE, -1);
                bad |= event(p, t, s, EV_READ, -1);
                bad |= event(p, t, gk, EV_WRITE, -1);
            }
        }
    }
    lifetimes(p);
    return bad;
}

/* Scratch values for contributions a kind cannot add itself. */
static int make_scratch(planner *p)
{
    lam_model *m = p->m;
    for (int h = 0; h < m->n_nodes; h++) {
        const lam_node *nd = &m->nodes[h];
        for (int k = 0; k < LAM_MAX_INPUTS; k++) {
            p->scratch[h * LAM_MAX_INPUTS + k] = -1;
        }
        if (nd->head != h || !nd->trained || (nd->layer->kind->flags & LAM_KIND_ACCUMULATES)) {
            continue;
        }
        for (int k = 0; k < nd->n_in; k++) {
            const int src = nd->in[k];
            if (src >= 0 && m->nodes[src].trained && !is_first(p, src, h, k)) {
                int s = new_value(p, m->max_batch * nd->layer->in_numel[k], 0);
                if (s < 0) {
                    return -1;
                }
                p->scratch[h * LAM_MAX_INPUTS + k] = s;
            }
        }
    }
    return 0;
}

/* Try every sharing, in timeline order. An accepted choice changes the events (an alias is
 * no write), so they are rebuilt before each check. */
static int choose_sharing(planner *p)
{
    lam_model *m = p->m;
    for (int h = 0; h < m->n_nodes; h++) {
        const lam_node *nd = &m->nodes[h];
        if (nd->head != h || nd->span != 1 || nd->in[0] < 0 ||
            !(nd->layer->kind->flags & LAM_KIND_IN_PLACE)) {
            continue;
        }
        p->inplace_fwd[h] = 1;
        if (make_events(p) || !try_share(p, p->act[h], p->act[nd->in[0]])) {
            p->inplace_fwd[h] = 0;
        }
    }
    for (int h = m->n_nodes - 1; h >= 0; h--) {
        const lam_node *nd = &m->nodes[h];
        const unsigned flags = nd->layer->kind->flags;
        if (nd->head != h || !nd->trained || nd->span != 1 ||
            !(flags & (LAM_KIND_PASSES_DY | LAM_KIND_IN_PLACE))) {
            continue;
        }
        for (int k = 0; k < nd->n_in; k++) {
            const int src = nd->in[k];
            if (src < 0 || !m->nodes[src].trained || dup_input(nd, k) || !is_first(p, src, h, k) ||
                ((flags & LAM_KIND_PASSES_DY) == 0 && k != 0)) {
                continue;
            }
            int *choice = (flags & LAM_KIND_PASSES_DY) ? &p->alias[h * LAM_MAX_INPUTS + k]
                                                       : &p->inplace_bwd[h];
            *choice = 1;
            if (make_events(p) || !try_share(p, p->grad[src], p->grad[nd->tail])) {
                *choice = 0;
            }
        }
    }
    return make_events(p);
}

typedef struct pbuf {
    int root;
    int64_t floats, off;
    int from, to;
} pbuf;

/* First fit by decreasing size: the lowest offset that overlaps no placed buffer alive at
 * the same time. Returns the arena's floats. */
static int64_t place(pbuf *b, int nb)
{
    for (int i = 1; i < nb; i++) { /* insertion sort: sizes down, then roots up */
        pbuf x = b[i];
        int j = i - 1;
        while (j >= 0 && (b[j].floats < x.floats ||
                          (b[j].floats == x.floats && b[j].root > x.root))) {
            b[j + 1] = b[j];
            j--;
        }
        b[j + 1] = x;
    }
    int64_t total = 0;
    for (int i = 0; i < nb; i++) {
        int64_t off = 0;
        for (int moved = 1; moved;) {
            moved = 0;
            for (int j = 0; j < i; j++) {
                const int overlap_t = b[j].from <= b[i].to && b[i].from <= b[j].to;
                if (overlap_t && b[j].off < off + b[i].floats && off < b[j].off + b[j].floats) {
                    off = b[j].off + b[j].floats;
                    moved = 1;
                }
            }
        }
        b[i].off = off;
        total = off + b[i].floats > total ? off + b[i].floats : total;
    }
    return total;
}

static float *at(const lam_model *m, const pbuf *b, int nb, const planner *p, int v)
{
    if (v < 0) {
        return NULL;
    }
    int r = root((planner *)p, v);
    for (int i = 0; i < nb; i++) {
        if (b[i].root == r) {
            return (float *)lam__arena_at(&m->arena, 0) + b[i].off;
        }
    }
    return NULL;
}

/* Resolve the choices to the nodes' pointers. */
static void assign(lam_model *m, const planner *p, const pbuf *b, int nb)
{
    for (int i = 0; i < m->n_nodes; i++) {
        lam_node *nd = &m->nodes[i];
        nd->out_is_x = p->act[i] == -1;
        nd->out = at(m, b, nb, p, p->act[i]);
        nd->grad = at(m, b, nb, p, p->grad[i]);
        nd->acc = 0;
        for (int k = 0; k < LAM_MAX_INPUTS; k++) {
            nd->dx[k] = NULL;
            nd->add_into[k] = NULL;
        }
        if (nd->head != i || !nd->trained) {
            continue;
        }
        for (int k = 0; k < nd->n_in; k++) {
            const int src = nd->in[k];
            if (src < 0 || !m->nodes[src].trained) {
                continue;
            }
            float *g = at(m, b, nb, p, p->grad[src]);
            if (is_first(p, src, i, k)) {
                nd->dx[k] = g;
            } else if (nd->layer->kind->flags & LAM_KIND_ACCUMULATES) {
                nd->dx[k] = g;
                nd->acc |= 1u << k;
            } else {
                nd->dx[k] = at(m, b, nb, p, p->scratch[i * LAM_MAX_INPUTS + k]);
                nd->add_into[k] = g;
            }
        }
    }
}

/* Strategy notes for lamina info: where an output or a gradient shares its input's memory. */
static void describe(lam_model *m, const planner *p)
{
    for (int i = 0; i < m->n_nodes; i++) {
        const lam_node *nd = &m->nodes[i];
        lam_layer *l = nd->layer;
        const char *note = NULL;
        if (nd->head == i && nd->span == 1 && (l->kind->flags & LAM_KIND_VIEW)) {
            note = "view";
        } else if (p->inplace_fwd[i]) {
            note = "in place";
        }
        if (note != NULL) {
            size_t used = strlen(l->strategy);
            snprintf(l->strategy + used, sizeof l->strategy - used, "%s%s", used ? ", " : "",
                     note);
        }
    }
}

static lam_status run(planner *p)
{
    lam_model *m = p->m;
    if (make_values(p) || make_scratch(p)) {
        return lam__error(m->ctx, LAM_ERR_RANGE, "model: too many buffers to plan");
    }
    if (m->ctx->plan_no_share ? make_events(p) : choose_sharing(p)) {
        return lam__error(m->ctx, LAM_ERR_RANGE, "model: too many events to plan");
    }
    /* one buffer per root, alive over its values' union */
    pbuf *b = lam_alloc(m->ctx, (size_t)(p->nv > 0 ? p->nv : 1) * sizeof *b);
    if (b == NULL) {
        return LAM_ERR_NOMEM;
    }
    int nb = 0;
    int64_t unshared = 0, act = 0;
    for (int v = 0; v < p->nv; v++) {
        const pval *pv = &p->v[v];
        unshared += pv->floats;
        if (pv->def < 0) {
            continue; /* never used (a value of a step that does not happen) */
        }
        int r = root(p, v), j = 0;
        while (j < nb && b[j].root != r) {
            j++;
        }
        if (j == nb) {
            b[nb++] = (pbuf){r, 0, 0, pv->def, pv->last};
        }
        b[j].floats = pv->floats > b[j].floats ? pv->floats : b[j].floats;
        b[j].from = pv->def < b[j].from ? pv->def : b[j].from;
        b[j].to = pv->last > b[j].to ? pv->last : b[j].to;
    }
    for (int i = 0; i < m->n_nodes; i++) {
        /* distinct activation values, each once: in-place outputs share their input's */
        if (p->act[i] >= 0 && !p->inplace_fwd[i] &&
            (i == 0 || m->nodes[i].in[0] < 0 || p->act[i] != p->act[m->nodes[i].in[0]])) {
            act += m->nodes[i].layer->out_numel;
        }
    }
    if (m->ctx->plan_no_share) {
        for (int i = 0; i < nb; i++) {
            b[i].from = 0; /* every buffer alive all the time: none shares memory */
            b[i].to = 2 * m->n_nodes + 1;
        }
    }
    const int64_t total = place(b, nb);
    size_t base = lam__arena_reserve(&m->arena, (size_t)total * sizeof(float));
    lam_status st = lam__arena_commit(m->ctx, &m->arena);
    if (st == LAM_OK) {
        (void)base; /* the arena holds nothing else: base is 0 */
        assign(m, p, b, nb);
        describe(m, p);
        m->plan.planned_floats = total;
        m->plan.unshared_floats = unshared;
        m->plan.act_floats_per_sample = act;
    }
    lam_free(m->ctx, b);
    return st;
}

lam_status lam__model_plan(lam_model *m)
{
    const int n = m->n_nodes;
    planner p;
    memset(&p, 0, sizeof p);
    p.m = m;
    p.cap_v = 2 * n + n * LAM_MAX_INPUTS;
    p.cap_e = 8 * n * (LAM_MAX_INPUTS + 2) + 8;
    p.v = lam_alloc(m->ctx, (size_t)p.cap_v * sizeof *p.v);
    p.e = lam_alloc(m->ctx, (size_t)p.cap_e * sizeof *p.e);
    const size_t ints = (size_t)n * (6 + 2 * LAM_MAX_INPUTS) + (size_t)p.cap_v;
    int *w = lam_alloc(m->ctx, ints * sizeof *w);
    lam_status st = LAM_ERR_NOMEM;
    if (p.v != NULL && p.e != NULL && w != NULL) {
        memset(w, 0, ints * sizeof *w);
        p.act = w;
        p.grad = w + n;
        p.inplace_fwd = w + 2 * n;
        p.inplace_bwd = w + 3 * n;
        p.scratch = w + 4 * n;
        p.alias = w + (size_t)n * (4 + LAM_MAX_INPUTS);
        p.fc = w + (size_t)n * (4 + 2 * LAM_MAX_INPUTS);
        p.fc_slot = p.fc + n;
        p.members = p.fc_slot + n;
        find_contributors(m, p.fc, p.fc_slot);
        st = run(&p);
    }
    lam_free(m->ctx, w);
    lam_free(m->ctx, p.e);
    lam_free(m->ctx, p.v);
    return st;
}
