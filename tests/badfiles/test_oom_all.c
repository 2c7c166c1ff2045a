/* trust: a failing allocator on every create, build and load path outside the data readers
 * (those are swept by tests/data/test_oom.c). For k = 1, 2, ... the k-th allocation of the
 * call fails, until a run completes without reaching the failure. Each failing run must
 * return LAM_ERR_NOMEM, not crash, leave no live block once its objects are destroyed, and
 * everything it did create must still be destroyable. Also checked: forward, backward and
 * training steps make no allocation at all, and a checkpoint save that fails leaves the
 * previous file byte for byte intact with no temporary file beside it.
 *
 * Paths: lam_ctx_create; lam_layer_create for every layer kind and lam_layer_create_inputs
 * for add, concat and mul (with one forward and backward); lam_model_create for the built-in
 * models (resnet20 included) and specs with batch norm, dropout, groups, pools, global
 * average pooling, blocks, repeats, named inputs, concat and mul, and (T,D) samples (with
 * one training step); lam_optim_create for every kind and option that adds state;
 * lam_checkpoint_save, lam_checkpoint_open, lam_checkpoint_model,
 * lam_checkpoint_load_weights, lam_checkpoint_load_optim; lam_model_import (argv[1]: a
 * PyTorch ResNet-20 state_dict); lam_augment_batch (which must never allocate);
 * lam_model_clone, lam_fit, lam_predict_array, lam_fit_lbfgs and lam_fit_lm. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lamina.h"
#include "lamina/fit.h"

/* resnet20 makes some 500 allocations (72 nodes, their tensors and state, the plan) */
#define MAX_K 1200

static t_alloc A;
static lam_ctx *CTX;

static void ctx_config(lam_ctx_config *cfg, t_alloc *a)
{
    lam_ctx_config_init(cfg);
    t_alloc_hook(cfg, a);
    cfg->seed = 7;
    cfg->n_threads = 2;
}

typedef lam_status (*run_fn)(void *arg);

/* Fail allocation k of run() for k = 1.. until a run does not reach the failure; returns the
 * allocations of the complete run. run() destroys whatever it made. */
static int64_t sweep(const char *what, run_fn run, void *arg)
{
    for (int64_t k = 1; k <= MAX_K; k++) {
        const int64_t live0 = A.live;
        A.fail_at = A.calls + k;
        A.failed = 0;
        lam_status st = run(arg);
        A.fail_at = 0;
        if (!A.failed) {
            T_CHECK(st == LAM_OK, "%s: complete run gave %s: %s", what, lam_strerror(st),
                    lam_ctx_errmsg(CTX));
            T_CHECK(A.live == live0, "%s: complete run leaked %lld blocks", what,
                    (long long)(A.live - live0));
            printf("%-44s %3lld allocation(s), failed one at a time\n", what,
                   (long long)(k - 1));
            return k - 1;
        }
        T_CHECK(st == LAM_ERR_NOMEM, "%s: allocation %lld failed, got %s: %s", what,
                (long long)k, lam_strerror(st), lam_ctx_errmsg(CTX));
        T_CHECK(A.live == live0, "%s: allocation %lld failed, %lld blocks leaked", what,
                (long long)k, (long long)(A.live - live0));
    }
    T_CHECK(0, "%s: no complete run within %d allocations", what, MAX_K);
    return -1;
}

/* Checks that the calls between mark() and no_alloc_since() allocated nothing. */
static int64_t mark(void)
{
    return A.calls;
}

static void no_alloc_since(int64_t m, const char *what)
{
    T_CHECK(A.calls == m, "%s allocated %lld times", what, (long long)(A.calls - m));
}

/* ----------------------------------------------------------------- layers */

typedef struct layer_case {
    const char *name;
    lam_layer_desc d;
    int ndim;
    int64_t shape[3];
} layer_case;

static lam_status run_layer(void *arg)
{
    const layer_case *c = arg;
    const int64_t n = 3;
    lam_layer *l = NULL;
    lam_status st = lam_layer_create(CTX, &c->d, c->ndim, c->shape, n, 1, &l);
    if (st != LAM_OK) {
        return st;
    }
    int ond;
    int64_t os[3];
    lam_layer_out_shape(l, &ond, os);
    int64_t xs[4] = {n, c->shape[0], c->shape[1], c->shape[2]};
    int64_t ys[4] = {n, os[0], os[1], os[2]};
    int64_t nx = n * c->shape[0] * (c->ndim == 3 ? c->shape[1] * c->shape[2] : 1);
    int64_t ny = n * os[0] * (ond == 3 ? os[1] * os[2] : 1);
    float *buf = malloc((size_t)(2 * nx + 2 * ny) * sizeof *buf);
    T_CHECK(buf != NULL, "test malloc");
    t_fill_uniform(buf, 2 * nx + 2 * ny, -1.0f, 1.0f, 11, 1);
    lam_tensor x, y, dy, dx;
    lam_tensor_wrap(&x, buf, c->ndim + 1, xs);
    lam_tensor_wrap(&dx, buf + nx, c->ndim + 1, xs);
    lam_tensor_wrap(&y, buf + 2 * nx, ond + 1, ys);
    lam_tensor_wrap(&dy, buf + 2 * nx + ny, ond + 1, ys);
    int64_t m = mark();
    st = lam_layer_forward(l, &x, &y, 1);
    if (st == LAM_OK) {
        st = lam_layer_backward(l, &x, &y, &dy, &dx);
    }
    no_alloc_since(m, c->name);
    T_CHECK(st == LAM_OK, "%s: forward/backward: %s", c->name, lam_ctx_errmsg(CTX));
    free(buf);
    lam_layer_destroy(l);
    return st;
}

static void layers(void)
{
    static layer_case cases[16];
    int n = 0;
    const lam_layer_kind plain[] = {LAM_LAYER_RELU,           LAM_LAYER_LEAKY_RELU,
                                    LAM_LAYER_SIGMOID,        LAM_LAYER_TANH,
                                    LAM_LAYER_GELU,           LAM_LAYER_GLOBAL_AVGPOOL,
                                    LAM_LAYER_FLATTEN,        LAM_LAYER_DROPOUT,
                                    LAM_LAYER_BATCHNORM};
    const char *names[] = {"relu", "leakyrelu", "sigmoid", "tanh", "gelu", "gap",
                           "flatten", "dropout", "batchnorm (C,H,W)"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        layer_case *c = &cases[n++];
        c->name = names[i];
        lam_layer_desc_init(&c->d, plain[i]);
        c->ndim = 3;
        c->shape[0] = 2, c->shape[1] = 5, c->shape[2] = 5;
    }
    layer_case *c = &cases[n++];
    c->name = "conv2d (groups 2, pad 1)";
    lam_layer_desc_init(&c->d, LAM_LAYER_CONV2D);
    c->d.out = 4, c->d.kh = c->d.kw = 3, c->d.ph = c->d.pw = 1, c->d.groups = 2;
    c->ndim = 3, c->shape[0] = 2, c->shape[1] = 6, c->shape[2] = 6;
    c = &cases[n++];
    c->name = "conv2d (no bias, stride 2, dilation 2)";
    lam_layer_desc_init(&c->d, LAM_LAYER_CONV2D);
    c->d.out = 3, c->d.kh = c->d.kw = 3, c->d.sh = c->d.sw = 2, c->d.dh = c->d.dw = 2;
    c->d.bias = 0;
    c->ndim = 3, c->shape[0] = 2, c->shape[1] = 9, c->shape[2] = 9;
    c = &cases[n++];
    c->name = "linear";
    lam_layer_desc_init(&c->d, LAM_LAYER_LINEAR);
    c->d.out = 5;
    c->ndim = 1, c->shape[0] = 12, c->shape[1] = c->shape[2] = 1;
    c = &cases[n++];
    c->name = "maxpool";
    lam_layer_desc_init(&c->d, LAM_LAYER_MAXPOOL);
    c->d.kh = c->d.kw = 2;
    c->ndim = 3, c->shape[0] = 2, c->shape[1] = 6, c->shape[2] = 6;
    c = &cases[n++];
    c->name = "avgpool (stride 2, pad 1)";
    lam_layer_desc_init(&c->d, LAM_LAYER_AVGPOOL);
    c->d.kh = c->d.kw = 3, c->d.sh = c->d.sw = 2, c->d.ph = c->d.pw = 1;
    c->ndim = 3, c->shape[0] = 2, c->shape[1] = 7, c->shape[2] = 7;
    c = &cases[n++];
    c->name = "batchnorm (F)";
    lam_layer_desc_init(&c->d, LAM_LAYER_BATCHNORM);
    c->ndim = 1, c->shape[0] = 6, c->shape[1] = c->shape[2] = 1;
    for (int i = 0; i < n; i++) {
        char what[80];
        snprintf(what, sizeof what, "lam_layer_create %s", cases[i].name);
        sweep(what, run_layer, &cases[i]);
    }
}

/* ----------------------------------------------------------------- models */

typedef struct model_case {
    const char *spec;
    int ndim;
    int64_t shape[3];
    int64_t n_out;
} model_case;

static lam_status run_model(void *arg)
{
    const model_case *c = arg;
    const int64_t n = 4;
    lam_model *m = NULL;
    lam_optim *opt = NULL;
    lam_status st = lam_model_create(CTX, c->spec, c->ndim, c->shape, c->n_out, n, &m);
    if (st == LAM_OK) {
        lam_param *p;
        int np;
        lam_model_params(m, &p, &np);
        lam_optim_desc od;
        lam_optim_desc_init(&od, LAM_OPTIM_SGD);
        od.momentum = 0.9;
        st = lam_optim_create(CTX, &od, p, np, &opt);
    }
    if (st == LAM_OK) {
        int64_t numel = 1;
        for (int i = 0; i < c->ndim; i++) {
            numel *= c->shape[i];
        }
        float *x = malloc((size_t)(n * numel) * sizeof *x), *y = malloc(n * 64 * sizeof *y);
        int32_t labels[4] = {0, 1, 2, 1};
        t_fill_uniform(x, n * numel, -1.0f, 1.0f, 3, 2);
        lam_loss_desc ld = {LAM_LOSS_SOFTMAX_XENT, 0.0f, 1.0f};
        double loss = 0.0;
        int64_t m0 = mark();
        st = lam_model_train_step(m, opt, &ld, x, labels, NULL, n, 0.01, 1.0, &loss, NULL);
        if (st == LAM_OK) {
            st = lam_model_predict(m, x, n, y);
        }
        no_alloc_since(m0, "train step and predict");
        T_CHECK(st == LAM_OK, "%s: step: %s", c->spec, lam_ctx_errmsg(CTX));
        free(x);
        free(y);
    }
    lam_optim_destroy(opt);
    lam_model_destroy(m);
    return st;
}

static void models(void)
{
    static const model_case cases[] = {
        {"seed-cnn", 3, {1, 28, 28}, 10},
        {"lenet5", 3, {1, 28, 28}, 10},
        {"mlp", 3, {1, 28, 28}, 10},
        {"conv:4,3,pad=1 bn relu dropout:0.25 conv:8,3,groups=2 leakyrelu:0.1 maxpool:2 gap "
         "linear:out", 3, {2, 8, 8}, 3},
        {"flatten linear:16 bn:eps=1e-3 gelu dropout:0.1 linear:out", 3, {1, 4, 4}, 3},
        {"avgpool:3,stride=2,pad=1 flatten linear:8 sigmoid tanh linear:out", 3, {3, 7, 7}, 3},
        {"linear:8 relu linear:out", 1, {5, 1, 1}, 3},
        {"resnet20", 3, {3, 8, 8}, 10},
        {"def b(c) { conv:$c,3,pad=1,name=k bn relu add(., in) } conv:4,3,pad=1 "
         "b*2:4,name=s concat(s.0, .) gap linear:6,name=g sigmoid mul(g, .) linear:out", 3,
         {2, 6, 6}, 3},
        {"linear:6,name=a tanh concat(a, .) linear:out", 2, {3, 4, 1}, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[120];
        snprintf(what, sizeof what, "lam_model_create %.40s%s", cases[i].spec,
                 strlen(cases[i].spec) > 40 ? "..." : "");
        sweep(what, run_model, (void *)&cases[i]);
    }
}

/* ------------------------------------------------------------- optimizers */

typedef struct optim_case {
    const char *name;
    lam_optim_desc d;
    lam_param *p;
    int np;
} optim_case;

static lam_status run_optim(void *arg)
{
    optim_case *c = arg;
    lam_optim *opt = NULL;
    lam_status st = lam_optim_create(CTX, &c->d, c->p, c->np, &opt);
    if (st == LAM_OK) {
        int64_t m = mark();
        st = lam_optim_step(opt, 0.01);
        no_alloc_since(m, "lam_optim_step");
    }
    lam_optim_destroy(opt);
    return st;
}

static void optimizers(lam_model *m)
{
    optim_case c[7];
    const char *names[7] = {"sgd", "sgd momentum", "sgd nesterov", "adam", "adamw",
                            "rmsprop", "rmsprop centered momentum"};
    const lam_optim_kind kinds[7] = {LAM_OPTIM_SGD,  LAM_OPTIM_SGD,   LAM_OPTIM_SGD,
                                     LAM_OPTIM_ADAM, LAM_OPTIM_ADAMW, LAM_OPTIM_RMSPROP,
                                     LAM_OPTIM_RMSPROP};
    for (int i = 0; i < 7; i++) {
        c[i].name = names[i];
        lam_optim_desc_init(&c[i].d, kinds[i]);
        lam_model_params(m, &c[i].p, &c[i].np);
    }
    c[1].d.momentum = 0.9;
    c[2].d.momentum = 0.9;
    c[2].d.nesterov = 1;
    c[6].d.momentum = 0.5;
    c[6].d.centered = 1;
    for (int i = 0; i < 7; i++) {
        char what[80];
        snprintf(what, sizeof what, "lam_optim_create %s", c[i].name);
        sweep(what, run_optim, &c[i]);
    }
}

/* ------------------------------------------------------------ checkpoints */

typedef struct ck_case {
    lam_model *m;
    lam_optim *opt;
    char dir[256];
    char path[300];
    unsigned char *orig; /* bytes of the last good save */
    long orig_len;
    lam_checkpoint *ck;
    lam_model *into;
    lam_optim *into_opt;
} ck_case;

static unsigned char *slurp(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)*len + 1);
    if (b != NULL && fread(b, 1, (size_t)*len, f) != (size_t)*len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

static lam_status run_save(void *arg)
{
    ck_case *c = arg;
    static const float mean[3] = {0.1f, 0.2f, 0.3f};
    const lam_ckpt_floats fl[1] = {{"norm.mean", mean, 3}};
    const char *int_names[1] = {"train.epoch"};
    const int64_t ints[1] = {4};
    const char *keys[1] = {"note"}, *vals[1] = {"oom"};
    const lam_ckpt_extras ex = {fl, 1, int_names, ints, 1, keys, vals, 1};
    lam_status st = lam_checkpoint_save(c->m, c->opt, c->path, &ex);
    if (st != LAM_OK) {
        long len = 0;
        unsigned char *now = slurp(c->path, &len);
        T_CHECK(now != NULL && len == c->orig_len && memcmp(now, c->orig, (size_t)len) == 0,
                "failed save changed %s", c->path);
        T_CHECK(dir_entries(c->dir) == 1, "failed save left %d files in %s",
                dir_entries(c->dir), c->dir);
        free(now);
    }
    return st;
}

static lam_status run_open(void *arg)
{
    ck_case *c = arg;
    lam_checkpoint *ck = NULL;
    lam_status st = lam_checkpoint_open(CTX, c->path, &ck);
    lam_checkpoint_close(ck);
    return st;
}

static lam_status run_ck_model(void *arg)
{
    ck_case *c = arg;
    lam_checkpoint *ck = NULL;
    lam_model *m = NULL;
    lam_status st = lam_checkpoint_open(CTX, c->path, &ck);
    if (st == LAM_OK) {
        st = lam_checkpoint_model(ck, 4, &m);
    }
    lam_model_destroy(m);
    lam_checkpoint_close(ck);
    return st;
}

static lam_status run_load(void *arg)
{
    ck_case *c = arg;
    lam_status st = lam_checkpoint_load_weights(c->ck, c->into);
    if (st == LAM_OK) {
        st = lam_checkpoint_load_optim(c->ck, c->into_opt);
    }
    return st;
}

static void checkpoints(void)
{
    ck_case c;
    memset(&c, 0, sizeof c);
    const char *base = getenv("TMPDIR");
    snprintf(c.dir, sizeof c.dir, "%s/lamina-oom-XXXXXX",
             base != NULL && base[0] != '\0' ? base : "/tmp");
    if (!T_CHECK(mkdtemp(c.dir) != NULL, "mkdtemp")) {
        return;
    }
    snprintf(c.path, sizeof c.path, "%s/model.safetensors", c.dir);
    const char *spec = "conv:4,3,pad=1 bn relu maxpool:2 flatten linear:out";
    const int64_t in[3] = {1, 6, 6};
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_ADAM);
    lam_param *p;
    int np;
    lam_status st = lam_model_create(CTX, spec, 3, in, 3, 4, &c.m);
    if (st == LAM_OK) {
        lam_model_params(c.m, &p, &np);
        st = lam_optim_create(CTX, &od, p, np, &c.opt);
    }
    if (st == LAM_OK) {
        lam_optim_step(c.opt, 0.01); /* nonzero state and t */
        lam_model_set_step(c.m, 5);
        st = run_save(&c);
    }
    T_CHECK(st == LAM_OK, "first save: %s", lam_ctx_errmsg(CTX));
    c.orig = slurp(c.path, &c.orig_len);
    sweep("lam_checkpoint_save (model, adam, extras)", run_save, &c);
    long len = 0;
    unsigned char *now = slurp(c.path, &len);
    T_CHECK(now != NULL && len == c.orig_len && memcmp(now, c.orig, (size_t)len) == 0,
            "a save of the same state is not byte-identical");
    free(now);
    sweep("lam_checkpoint_open", run_open, &c);
    sweep("lam_checkpoint_open + lam_checkpoint_model", run_ck_model, &c);

    st = lam_checkpoint_open(CTX, c.path, &c.ck);
    if (st == LAM_OK) {
        st = lam_model_create(CTX, spec, 3, in, 3, 2, &c.into);
    }
    if (st == LAM_OK) {
        lam_model_params(c.into, &p, &np);
        st = lam_optim_create(CTX, &od, p, np, &c.into_opt);
    }
    T_CHECK(st == LAM_OK, "load fixture: %s", lam_ctx_errmsg(CTX));
    if (st == LAM_OK) {
        sweep("lam_checkpoint_load_weights + load_optim", run_load, &c);
        T_CHECK(lam_optim_get_step(c.into_opt) == 1 && lam_model_step(c.into) == 5,
                "restored steps: optim %lld, model %lld",
                (long long)lam_optim_get_step(c.into_opt), (long long)lam_model_step(c.into));
    }
    lam_optim_destroy(c.into_opt);
    lam_model_destroy(c.into);
    lam_checkpoint_close(c.ck);
    lam_optim_destroy(c.opt);
    lam_model_destroy(c.m);
    free(c.orig);
    unlink(c.path);
    T_CHECK(rmdir(c.dir) == 0, "%s not empty", c.dir);
}

/* ------------------------------------------------------------------- fit */

typedef struct fit_case {
    lam_model *m;
    lam_array x, y;
    int which; /* 0 clone, 1 fit, 2 predict_array, 3 lbfgs, 4 lm */
} fit_case;

static lam_status run_fit(void *arg)
{
    fit_case *c = arg;
    lam_status st = LAM_OK;
    lam_model *clone = NULL;
    lam_optim *opt = NULL;
    switch (c->which) {
    case 0:
        st = lam_model_clone(CTX, c->m, 3, &clone);
        break;
    case 1: {
        lam_param *p;
        int np;
        lam_model_params(c->m, &p, &np);
        lam_optim_desc od;
        lam_optim_desc_init(&od, LAM_OPTIM_ADAM);
        st = lam_optim_create(CTX, &od, p, np, &opt);
        lam_fit_desc d;
        lam_fit_desc_init(&d);
        d.epochs = 2;
        d.batch = 4;
        d.loss.kind = LAM_LOSS_MSE;
        if (st == LAM_OK) {
            st = lam_fit(c->m, opt, &d, &c->x, &c->y, NULL, NULL);
        }
        break;
    }
    case 2: {
        float out[16];
        st = lam_predict_array(c->m, &c->x, out);
        break;
    }
    case 3: {
        lam_lbfgs_desc d;
        lam_lbfgs_desc_init(&d);
        d.max_iters = 3;
        st = lam_fit_lbfgs(c->m, &d, &c->x, &c->y, NULL);
        break;
    }
    default: {
        lam_lm_desc d;
        lam_lm_desc_init(&d);
        d.max_iters = 3;
        st = lam_fit_lm(c->m, &d, &c->x, &c->y, NULL);
        break;
    }
    }
    lam_optim_destroy(opt);
    lam_model_destroy(clone);
    return st;
}

static void fits(void)
{
    static float x[10 * 3], y[10];
    for (int i = 0; i < 10; i++) {
        x[i] = (float)i / 10.0f, x[10 + i] = 1.0f - (float)i / 10.0f, x[20 + i] = 0.5f;
        y[i] = (float)(i % 3) / 3.0f;
    }
    fit_case c;
    const int64_t in[1] = {3};
    lam_status st = lam_model_create(CTX, "linear:6 tanh linear:out", 1, in, 1, 4, &c.m);
    T_CHECK(st == LAM_OK, "fit model: %s", lam_ctx_errmsg(CTX));
    if (st != LAM_OK) {
        return;
    }
    c.x = (lam_array){x, 10, 3, 10, 1}; /* column-major, as a Fortran caller passes it */
    c.y = (lam_array){y, 10, 1, 10, 1};
    static const char *names[5] = {"lam_model_clone", "lam_fit (adam, mse)",
                                   "lam_predict_array (column-major)", "lam_fit_lbfgs",
                                   "lam_fit_lm"};
    for (c.which = 0; c.which < 5; c.which++) {
#ifndef LAM_HAVE_LAPACKE
        if (c.which == 4) {
            printf("lam_fit_lm: skipped (built without LAPACKE)\n");
            continue;
        }
#endif
        sweep(names[c.which], run_fit, &c);
    }
    lam_model_destroy(c.m);
}

/* ------------------------------------------------------ graphs and imports */

typedef struct merge_case {
    lam_layer_kind kind;
    int n_in;
    lam_shape in[3];
} merge_case;

static lam_status run_merge(void *arg)
{
    const merge_case *c = arg;
    const int64_t n = 2;
    lam_layer_desc d;
    lam_layer_desc_init(&d, c->kind);
    lam_layer *l = NULL;
    lam_status st = lam_layer_create_inputs(CTX, &d, c->n_in, c->in, n, 1, &l);
    if (st != LAM_OK) {
        return st;
    }
    const lam_shape os = lam_layer_output_shape(l);
    float buf[2048];
    lam_tensor x[3], dx[3], y, dy;
    int64_t off = 0;
    for (int k = 0; k < c->n_in; k++) {
        const int64_t shape[4] = {n, c->in[k].dim[0], c->in[k].dim[1], c->in[k].dim[2]};
        const int64_t numel = n * shape[1] * shape[2] * shape[3];
        lam_tensor_wrap(&x[k], buf + off, 4, shape);
        lam_tensor_wrap(&dx[k], buf + off + numel, 4, shape);
        off += 2 * numel;
    }
    const int64_t ys[4] = {n, os.dim[0], os.dim[1], os.dim[2]};
    lam_tensor_wrap(&y, buf + off, 4, ys);
    lam_tensor_wrap(&dy, buf + off + n * os.dim[0] * os.dim[1] * os.dim[2], 4, ys);
    t_fill_uniform(buf, 2048, -1.0f, 1.0f, 3, 1);
    const int64_t m = mark();
    st = lam_layer_forward_inputs(l, c->n_in, x, &y, 1);
    if (st == LAM_OK) {
        st = lam_layer_backward_inputs(l, c->n_in, x, &y, &dy, dx);
    }
    no_alloc_since(m, "merge forward/backward");
    lam_layer_destroy(l);
    return st;
}

static void merges(void)
{
    static const merge_case cases[] = {
        {LAM_LAYER_ADD, 3, {{3, {2, 3, 4}}, {3, {2, 3, 4}}, {3, {2, 3, 4}}}},
        {LAM_LAYER_MUL, 2, {{3, {2, 3, 4}}, {3, {2, 3, 4}}}},
        {LAM_LAYER_CONCAT, 2, {{3, {2, 3, 4}}, {3, {1, 3, 4}}}},
    };
    const char *names[] = {"lam_layer_create_inputs add", "lam_layer_create_inputs mul",
                           "lam_layer_create_inputs concat"};
    for (int i = 0; i < 3; i++) {
        sweep(names[i], run_merge, (void *)&cases[i]);
    }
}

typedef struct import_case {
    lam_model *m;
    const char *path;
} import_case;

static lam_status run_import(void *arg)
{
    const import_case *c = arg;
    lam_import_report rep;
    return lam_model_import(c->m, c->path, NULL, &rep);
}

static void imports(const char *path)
{
    if (!T_CHECK(path != NULL, "no state_dict given (argv[1])")) {
        return;
    }
    import_case c = {NULL, path};
    const int64_t in[3] = {3, 32, 32};
    if (T_CHECK(lam_model_create(CTX, "resnet20", 3, in, 10, 2, &c.m) == LAM_OK,
                "resnet20: %s", lam_ctx_errmsg(CTX))) {
        sweep("lam_model_import (resnet20 state_dict)", run_import, &c);
    }
    lam_model_destroy(c.m);
}

static void augment(void)
{
    float x[2 * 3 * 6 * 6], y[2 * 3 * 6 * 6];
    t_fill_uniform(x, 2 * 3 * 6 * 6, 0.0f, 1.0f, 5, 1);
    const lam_shape img = {3, {3, 6, 6}};
    lam_augment_desc d;
    lam_augment_desc_init(&d);
    d.crop_pad = 2;
    d.flip = 1;
    const int64_t m = mark();
    T_CHECK(lam_augment_batch(CTX, &d, &img, 2, x, y, 1, 0) == LAM_OK, "augment");
    no_alloc_since(m, "lam_augment_batch");
}

int main(int argc, char **argv)
{
    /* contexts: the context itself is the first allocation */
    lam_ctx_config cfg;
    ctx_config(&cfg, &A);
    for (int64_t k = 1; k <= 3; k++) {
        lam_ctx *c = NULL;
        A.fail_at = A.calls + k;
        A.failed = 0;
        lam_status st = lam_ctx_create(&cfg, &c);
        A.fail_at = 0;
        lam_ctx_destroy(c);
        T_CHECK(A.live == 0, "lam_ctx_create: leak with allocation %lld failing", (long long)k);
        if (!A.failed) {
            T_CHECK(st == LAM_OK, "lam_ctx_create: %s", lam_strerror(st));
            printf("%-44s %3lld allocation(s), failed one at a time\n", "lam_ctx_create",
                   (long long)(k - 1));
            break;
        }
        T_CHECK(st == LAM_ERR_NOMEM && c == NULL, "lam_ctx_create with allocation %lld "
                "failing: %s", (long long)k, lam_strerror(st));
    }
    if (lam_ctx_create(&cfg, &CTX) != LAM_OK) {
        printf("FAIL: context\n");
        return 1;
    }
    layers();
    models();
    lam_model *m = NULL;
    const int64_t in[3] = {2, 5, 5};
    if (T_CHECK(lam_model_create(CTX, "conv:3,3 bn relu flatten linear:out", 3, in, 4, 2, &m) ==
                LAM_OK, "optimizer fixture")) {
        optimizers(m);
    }
    lam_model_destroy(m);
    checkpoints();
    fits();
    merges();
    imports(argc > 1 ? argv[1] : NULL);
    augment();
    lam_ctx_destroy(CTX);
    T_CHECK(A.live == 0, "%lld blocks live at exit", (long long)A.live);
    return t_exit("trust/oom_all");
}
