/* The memory plan against no plan: the same graphs built twice, once with the plan's
 * sharing (in-place outputs, gradient aliases, reused memory) and once with every buffer on
 * its own (ctx->plan_no_share), must give bitwise the same outputs, loss, parameter
 * gradients, running statistics and weights after training steps: the kernels and the
 * order of every sum are the same, so any difference is a buffer overwritten while still
 * needed. Graphs: hand-written ones (residual blocks, projections, folded groups, views,
 * dropout, concat, mul, (T,D) samples) and random DAGs of feature nodes, each node taking
 * one or two earlier nodes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "harness.h"
#include "lamina.h"

#define SEED 3131u
#define STEPS 3

typedef struct run {
    float *out, *w, *g, *b;
    int64_t n_out, n_w, n_b;
    double loss;
} run;

static void free_run(run *r)
{
    free(r->out);
    free(r->w);
    free(r->g);
    free(r->b);
}

static float *copy_of(const float *src, int64_t n)
{
    float *d = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (d != NULL && n > 0) {
        memcpy(d, src, (size_t)n * sizeof(float));
    }
    return d;
}

/* Build spec, take STEPS SGD steps on a fixed batch, then forward + loss + backward once
 * more and keep everything a wrong plan could spoil. */
static int train_once(const char *spec, int ndim, const int64_t *shape, int no_share, run *r)
{
    memset(r, 0, sizeof *r);
    lam_ctx_desc cd;
    lam_ctx_desc_init(&cd);
    cd.seed = SEED;
    cd.n_threads = 2;
    lam_ctx *ctx = NULL;
    lam_model *m = NULL;
    lam_optim *opt = NULL;
    const int64_t n = 6;
    int64_t per = 1;
    for (int i = 0; i < ndim; i++) {
        per *= shape[i];
    }
    float *x = malloc((size_t)(n * per) * sizeof(float));
    int32_t labels[6] = {0, 1, 2, 3, 4, 1};
    t_fill_uniform(x, n * per, -1.0f, 1.0f, SEED, 5);
    lam_status st = lam_ctx_create(&cd, &ctx);
    if (st == LAM_OK) {
        ctx->plan_no_share = no_share;
        st = lam_model_create(ctx, spec, ndim, shape, 5, n, &m);
    }
    lam_param *p = NULL;
    int np = 0;
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_SGD);
    od.momentum = 0.9;
    if (st == LAM_OK && lam_model_params(m, &p, &np) == LAM_OK) {
        st = lam_optim_create(ctx, &od, p, np, &opt);
    }
    lam_step_desc sd;
    lam_step_desc_init(&sd);
    sd.x = x;
    sd.labels = labels;
    sd.n = n;
    sd.lr = 0.05;
    for (int s = 0; st == LAM_OK && s < STEPS; s++) {
        st = lam_model_train_batch(m, opt, &sd, NULL);
    }
    const float *out = NULL;
    const lam_loss_desc ld = {LAM_LOSS_SOFTMAX_XENT, 0.0f, 0.0f};
    if (st == LAM_OK) {
        lam_model_zero_grad(m);
        st = lam_model_forward(m, x, n, 1, &out);
    }
    if (st == LAM_OK) {
        st = lam_model_loss(m, &ld, labels, NULL, &r->loss, NULL);
    }
    if (st == LAM_OK) {
        st = lam_model_backward(m);
    }
    if (T_CHECK(st == LAM_OK, "'%.60s' (%s): %s", spec, no_share ? "unshared" : "planned",
                ctx != NULL ? lam_ctx_errmsg(ctx) : "no context")) {
        float *w, *g;
        lam_model_param_block(m, &w, &g, &r->n_w);
        r->n_out = n * 5;
        r->out = copy_of(out, r->n_out); /* still the output after backward */
        r->w = copy_of(w, r->n_w);
        r->g = copy_of(g, r->n_w);
        lam_param *b;
        int nb;
        lam_model_buffers(m, &b, &nb);
        for (int i = 0; i < nb; i++) {
            r->n_b += b[i].n;
        }
        r->b = malloc((size_t)(r->n_b > 0 ? r->n_b : 1) * sizeof(float));
        for (int i = 0, o = 0; i < nb; o += (int)b[i].n, i++) {
            memcpy(r->b + o, b[i].w, (size_t)b[i].n * sizeof(float));
        }
    }
    free(x);
    lam_optim_destroy(opt);
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    return st == LAM_OK;
}

static void compare(const char *spec, int ndim, const int64_t *shape)
{
    run a, b;
    const int ok_a = train_once(spec, ndim, shape, 0, &a);
    const int ok_b = train_once(spec, ndim, shape, 1, &b);
    if (ok_a && ok_b) {
        char what[120];
        snprintf(what, sizeof what, "'%.50s': output", spec);
        t_equal(what, a.out, b.out, a.n_out);
        snprintf(what, sizeof what, "'%.50s': weights after %d steps", spec, STEPS);
        t_equal(what, a.w, b.w, a.n_w);
        snprintf(what, sizeof what, "'%.50s': gradients", spec);
        t_equal(what, a.g, b.g, a.n_w);
        snprintf(what, sizeof what, "'%.50s': running statistics", spec);
        t_equal(what, a.b, b.b, a.n_b);
        T_CHECK(a.loss == b.loss, "'%.50s': loss %.17g vs %.17g", spec, a.loss, b.loss);
    }
    free_run(&a);
    free_run(&b);
}

/* A random DAG of feature nodes (all 6 wide): each node reads one or two earlier ones. */
static void random_spec(uint64_t seed, char *buf, size_t size)
{
    static const char *const one[][2] = {{"linear", ":6"}, {"tanh", ""}, {"relu", ""},
                                         {"sigmoid", ""}, {"bn", ""}, {"linear", ":6,bias=0"},
                                         {"dropout", ":0.3"}, {"gelu", ""}};
    static const char *const two[] = {"add", "mul", "concat"};
    size_t used = (size_t)snprintf(buf, size, "linear:6,name=n0");
    int n = 1;
    const int total = 4 + (int)(lam_rng_u64(seed, 1, 0) % 5); /* add takes 8 inputs */
    for (int i = 1; i < total && used < size; i++) {
        uint64_t r = lam_rng_u64(seed, 2, (uint64_t)i);
        const int a = (int)(r % (uint64_t)n), b = (int)((r >> 16) % (uint64_t)n);
        int w;
        if ((r >> 32) % 3 == 0 && n > 1) {
            const char *op = two[(r >> 40) % 3];
            w = snprintf(buf + used, size - used, " %s(n%d, n%d)", op, a, b);
            if (op[0] == 'c') { /* 12 wide: back to 6 */
                w += snprintf(buf + used + w, size - used - (size_t)w, " linear:6");
            }
        } else {
            const char *const *op = one[(r >> 40) % 8];
            w = snprintf(buf + used, size - used, " %s(n%d)%s", op[0], a, op[1]);
        }
        used += (size_t)w;
        used += (size_t)snprintf(buf + used, size - used, "%sname=n%d",
                                 buf[used - 1] == ')' ? "," : ",", n);
        n++;
    }
    /* every node feeds the output: a sum of all of them, then the head */
    used += (size_t)snprintf(buf + used, size - used, " add(n0");
    for (int i = 1; i < n && i < 8; i++) {
        used += (size_t)snprintf(buf + used, size - used, ", n%d", i);
    }
    snprintf(buf + used, size - used, ") linear:out");
}

int main(void)
{
    const int64_t img[3] = {2, 8, 8}, feat[1] = {7}, seq[2] = {3, 4};
    const char *images[] = {
        "resnet20",
        "conv:4,3,pad=1 relu maxpool:2,name=p conv(p):4,3,pad=1 bn relu add(., p) flatten "
        "linear:6 relu,name=r linear:6 add(., r) linear:out",
        "conv:4,3,pad=1,name=c bn relu,name=r conv(r):4,1 conv(r):4,3,pad=1 concat(-2, .) "
        "dropout:0.2 conv:4,1 add(., c) gap linear:out",
        "conv:3,3,pad=1 sigmoid,name=s conv(in):3,3,pad=1 tanh mul(s, .) flatten,name=f "
        "linear(f):5,name=a linear(f):5 add(a, .) linear:out",
    };
    for (size_t i = 0; i < sizeof images / sizeof images[0]; i++) {
        compare(images[i], 3, i == 0 ? (const int64_t[3]){3, 8, 8} : img);
    }
    compare("linear:6,name=a tanh linear(a):6 concat(-2, .) bn relu linear:out", 1, feat);
    compare("linear:5,name=a tanh linear(a):3 concat(-2, .) gelu gap linear:out", 2, seq);
    char spec[2048];
    for (uint64_t s = 0; s < 40; s++) {
        random_spec(s, spec, sizeof spec);
        compare(spec, 1, feat);
    }
    return t_exit("plan");
}
