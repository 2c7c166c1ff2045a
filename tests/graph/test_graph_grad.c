/* Gradient checks of the graph: the merge layers (add, concat, mul) alone, for every input,
 * and whole models whose nodes feed several consumers, against central differences
 * (gradcheck.h: L = sum r * y, eps 1e-2, |a - n| <= 1e-3 + 1e-2 |n|). A model check covers
 * the plumbing: every parameter's gradient goes through the summed gradients of the nodes
 * after it, so a lost, doubled or misplaced share fails it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "harness.h"
#include "lamina.h"

/* ------------------------------------------------------------ merge layers */

typedef struct merge_case {
    lam_layer *l;
    int n_in;
    lam_tensor x[LAM_MAX_INPUTS], y;
    float *r;
    int64_t n_out;
} merge_case;

static double merge_loss(void *user)
{
    merge_case *c = user;
    if (lam_layer_forward_inputs(c->l, c->n_in, c->x, &c->y, 1) != LAM_OK) {
        return NAN;
    }
    double s = 0.0;
    for (int64_t i = 0; i < c->n_out; i++) {
        s += (double)c->r[i] * c->y.data[i];
    }
    return s;
}

static int64_t numel_of(const lam_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        n *= s->dim[i];
    }
    return n;
}

static void wrap(lam_tensor *t, float *data, int64_t n, const lam_shape *s)
{
    int64_t shape[4] = {n, 1, 1, 1};
    for (int i = 0; i < s->ndim; i++) {
        shape[i + 1] = s->dim[i];
    }
    lam_tensor_wrap(t, data, s->ndim + 1, shape);
}

static void check_merge(const char *what, lam_layer_kind kind, int axis, int n_in,
                        const lam_shape *in, int64_t n, uint64_t seed)
{
    lam_ctx *ctx = NULL;
    lam_ctx_create(NULL, &ctx);
    lam_layer_desc d;
    lam_layer_desc_init(&d, kind);
    d.axis = axis;
    merge_case c = {0};
    c.n_in = n_in;
    if (!T_CHECK(lam_layer_create_inputs(ctx, &d, n_in, in, n, 1, &c.l) == LAM_OK,
                 "%s: create: %s", what, lam_ctx_errmsg(ctx))) {
        lam_ctx_destroy(ctx);
        return;
    }
    T_CHECK(lam_layer_input_count(c.l) == n_in, "%s: %d inputs", what,
            lam_layer_input_count(c.l));
    const lam_shape out = lam_layer_output_shape(c.l);
    c.n_out = n * numel_of(&out);
    float *xs[LAM_MAX_INPUTS], *dxs[LAM_MAX_INPUTS];
    lam_tensor tdx[LAM_MAX_INPUTS], tdy;
    for (int k = 0; k < n_in; k++) {
        const int64_t m = n * numel_of(&in[k]);
        xs[k] = malloc((size_t)m * sizeof(float));
        dxs[k] = malloc((size_t)m * sizeof(float));
        t_fill_uniform(xs[k], m, -1.0f, 1.0f, seed, 10 + (uint64_t)k);
        wrap(&c.x[k], xs[k], n, &in[k]);
        wrap(&tdx[k], dxs[k], n, &in[k]);
    }
    float *y = malloc((size_t)c.n_out * sizeof(float));
    c.r = malloc((size_t)c.n_out * sizeof(float));
    t_fill_uniform(c.r, c.n_out, -1.0f, 1.0f, seed, 2);
    wrap(&c.y, y, n, &out);
    wrap(&tdy, c.r, n, &out);
    merge_loss(&c);
    T_CHECK(lam_layer_backward_inputs(c.l, n_in, c.x, &c.y, &tdy, tdx) == LAM_OK,
            "%s: backward: %s", what, lam_ctx_errmsg(ctx));
    for (int k = 0; k < n_in; k++) {
        char name[96];
        snprintf(name, sizeof name, "%s d(input %d)", what, k);
        gc_check(name, merge_loss, &c, xs[k], dxs[k], n * numel_of(&in[k]), 1e-2, 400, 6,
                 seed + (uint64_t)k);
    }
    /* the one-input calls refuse a layer of several inputs */
    T_CHECK(lam_layer_forward(c.l, &c.x[0], &c.y, 1) == LAM_ERR_ARG,
            "%s: lam_layer_forward refuses %d inputs", what, n_in);
    for (int k = 0; k < n_in; k++) {
        free(xs[k]);
        free(dxs[k]);
    }
    free(y);
    free(c.r);
    lam_layer_destroy(c.l);
    lam_ctx_destroy(ctx);
}

static void test_merges(void)
{
    const lam_shape img[3] = {{3, {3, 4, 5}}, {3, {3, 4, 5}}, {3, {3, 4, 5}}};
    check_merge("add of 2", LAM_LAYER_ADD, -1, 2, img, 3, 1);
    check_merge("add of 3", LAM_LAYER_ADD, -1, 3, img, 2, 2);
    check_merge("mul", LAM_LAYER_MUL, -1, 2, img, 3, 3);
    const lam_shape chans[2] = {{3, {2, 4, 5}}, {3, {3, 4, 5}}};
    check_merge("concat channels", LAM_LAYER_CONCAT, -1, 2, chans, 3, 4);
    const lam_shape rows[3] = {{3, {2, 3, 5}}, {3, {2, 1, 5}}, {3, {2, 2, 5}}};
    check_merge("concat along H", LAM_LAYER_CONCAT, 1, 3, rows, 2, 5);
    const lam_shape seq[2] = {{2, {4, 3}}, {2, {4, 6}}};
    check_merge("concat features of (T,D)", LAM_LAYER_CONCAT, -1, 2, seq, 3, 6);
}

/* ------------------------------------------------------------ whole graphs */


/* Every parameter of the model built from spec on input (ndim, shape), along random
 * directions (dense for small tensors), at a fixed step so dropout draws stay put. */
static void check_model(const char *what, const char *spec, int ndim, const int64_t *shape,
                        int64_t n, uint64_t seed)
{
    lam_ctx_desc cd;
    lam_ctx_desc_init(&cd);
    cd.seed = seed;
    lam_ctx *ctx = NULL;
    lam_ctx_create(&cd, &ctx);
    gc_model_case c = {NULL, NULL, NULL, n, {LAM_LOSS_SOFTMAX_XENT, 0.0f, 0.0f}};
    if (!T_CHECK(lam_model_create(ctx, spec, ndim, shape, 5, n, &c.m) == LAM_OK,
                 "%s: create: %s", what, lam_ctx_errmsg(ctx))) {
        lam_ctx_destroy(ctx);
        return;
    }
    int64_t nx = n;
    for (int i = 0; i < ndim; i++) {
        nx *= shape[i];
    }
    float *x = malloc((size_t)nx * sizeof(float));
    int32_t *labels = malloc((size_t)n * sizeof(int32_t));
    t_fill_uniform(x, nx, -1.0f, 1.0f, seed, 1);
    for (int64_t i = 0; i < n; i++) {
        labels[i] = (int32_t)(lam_rng_u64(seed, 2, (uint64_t)i) % 5);
    }
    c.x = x;
    c.labels = labels;
    gc_model_loss(&c);
    lam_model_zero_grad(c.m);
    T_CHECK(lam_model_backward(c.m) == LAM_OK, "%s: backward: %s", what, lam_ctx_errmsg(ctx));
    lam_param *p;
    int np;
    lam_model_params(c.m, &p, &np);
    for (int i = 0; i < np; i++) {
        float *g = malloc((size_t)p[i].n * sizeof(float));
        memcpy(g, p[i].g, (size_t)p[i].n * sizeof(float));
        char name[160];
        snprintf(name, sizeof name, "%s d(%s)", what, p[i].name);
        /* a small eps: a step on every weight at once must not push ReLU inputs over 0 */
        gc_check(name, gc_model_loss, &c, p[i].w, g, p[i].n, 3e-4, 24, 3, seed + (uint64_t)i);
        free(g);
    }
    free(x);
    free(labels);
    lam_model_destroy(c.m);
    lam_ctx_destroy(ctx);
}

/* A ResNet basic block with a projection shortcut, then an identity block: the block input
 * feeds a convolution (which adds its share) and the shortcut. tanh stands in for relu:
 * after batch norm many values sit near 0, where a central difference that moves every
 * weight at once crosses relu's kink (golden_resnet20 checks the relu network against
 * PyTorch's gradients). */
static const char resblock[] =
    "def down(c) { conv:$c,3,stride=2,pad=1,bias=0,name=conv1 bn:name=bn1 tanh\n"
    "              conv:$c,3,pad=1,bias=0,name=conv2 bn:name=bn2\n"
    "              conv(in):$c,1,stride=2,bias=0,name=downsample.0 bn:name=downsample.1\n"
    "              add(bn2, .) tanh }\n"
    "def basic(c) { conv:$c,3,pad=1,bias=0,name=conv1 bn:name=bn1 tanh\n"
    "               conv:$c,3,pad=1,bias=0,name=conv2 bn:name=bn2 add(., in) tanh }\n"
    "conv:3,3,pad=1,name=stem down:4,name=b0 basic:4,name=b1 gap linear:out,name=fc";

static void test_graphs(void)
{
    const int64_t img[3] = {2, 6, 6}, feat[1] = {7}, seq[2] = {3, 4};
    check_model("residual blocks", resblock, 3, img, 4, 11);
    /* one value to four consumers: two linears (non-accumulating: a scratch is added), a mul
     * and a concat; plus mul and add of two branches */
    check_model("fan-out to linear, mul, concat",
                "linear:6,name=a tanh:name=t linear(t):6,name=b sigmoid:name=s "
                "linear(t):6,name=c mul(s, c) concat(., t) linear:6 add(., a, a) "
                "linear:out", 1, feat, 3, 12);
    /* a flatten view read by two consumers, and a value that feeds two convs (the earlier
     * one adds into the input gradient the later one wrote); tanh, not relu: the first
     * conv's gradient goes through every activation, and a central difference crosses
     * relu's kink at some of the 300 (measured: 5 of 60 checks over 10 seeds) */
    check_model("views and conv fan-out",
                "conv:3,3,pad=1 tanh:name=c conv(c):2,3,pad=1,name=d conv(c):2,1,name=e "
                "add(d, e) flatten:name=f linear(f):4,name=g linear(f):4 add(g, .) "
                "linear:out", 3, img, 3, 13);
    /* samples (T,D): linear on the last dimension, concat of features, global pooling */
    check_model("sequence samples",
                "linear:5,name=a tanh linear(a):3 concat(-2, .) gelu gap linear:out", 2, seq,
                3, 14);
    /* folded groups (conv+relu+maxpool, linear+relu) whose outputs fan out */
    check_model("folded groups",
                "conv:4,3,pad=1 relu maxpool:2,name=p conv(p):4,3,pad=1 add(., p) flatten "
                "linear:6 relu:name=r linear:6 add(., r) linear:out", 3, img, 3, 15);
}

int main(void)
{
    test_merges();
    test_graphs();
    return t_exit("graph_grad");
}
