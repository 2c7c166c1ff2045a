/*
 * Kernel section: every fast kernel lam__X against its naive twin lam__X_ref (same
 * signature), on GEMM squares, the seed network's GEMM shapes, conv geometries (the seed
 * CNN's layers and rows of tests/shapes.h at batch 64), linear layers and max-pooling.
 *
 * Per case: verify fast vs naive once (max |fast - ref| / max |ref|), then 2 warm-up runs
 * and R timed runs of the fast kernel, then the naive one. The naive twins run at about
 * 1 GFLOP/s, so above a FLOP budget they are not run on the full problem:
 *  - kernels whose cost is linear in the batch (conv, linear, pooling) time the naive twin
 *    on the largest batch within the budget and scale its time per sample ("scaled");
 *  - GEMMs above the budget are "n/a" and verified by the random-vector check of the BLIS
 *    testsuite instead: C t against A (B t), in double.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "shapes.h"

/* float vs double accumulation over K up to 5e4 gives ~1e-5 of the largest value */
#define ERR_TOL 1e-3

/* One benchmark case: a family-specific `self` plus what the common driver calls. */
typedef struct kcase {
    void (*fast)(void *self);
    void (*ref)(void *self);
    void (*prepare)(void *self);          /* reset accumulating outputs (may be NULL) */
    double (*err)(void *self);            /* fast output vs ref output, after both ran */
    double (*check_big)(void *self);      /* ref-free check after fast ran (may be NULL) */
    void (*set_batch)(void *self, int64_t n); /* NULL: not batched */
} kcase;

static kern_result *new_result(bench_run *r, const char *op, const char *shape, double flops)
{
    if (r->n_kern >= BENCH_MAX_KERN) {
        return NULL;
    }
    kern_result *k = &r->kern[r->n_kern++];
    memset(k, 0, sizeof *k);
    snprintf(k->op, sizeof k->op, "%s", op);
    snprintf(k->shape, sizeof k->shape, "%s", shape);
    k->flops = flops;
    k->threads = r->env.threads;
    k->err = NAN;
    k->ref.med = k->ref.min = k->ref.max = NAN;
    return k;
}

/* The common driver: verify, time fast at batch n_full, time ref (maybe on a smaller batch). */
static void measure(const kcase *kc, void *self, kern_result *k, int64_t n_full,
                    const bench_opts *o)
{
    int reps = o->reps;
    int64_t n_ref = n_full;
    k->ref_how = REF_TIMED;
    if (k->flops > o->ref_budget) {
        if (kc->set_batch != NULL) {
            n_ref = (int64_t)((double)n_full * o->ref_budget / k->flops);
            n_ref = n_ref < 1 ? 1 : n_ref;
            k->ref_how = REF_SCALED;
            k->ref_batch = n_ref;
        } else {
            k->ref_how = REF_SKIPPED;
        }
    }
    /* verify once, on the problem the naive twin runs on */
    if (k->ref_how != REF_SKIPPED) {
        if (kc->set_batch != NULL) {
            kc->set_batch(self, n_ref);
        }
        if (kc->prepare != NULL) {
            kc->prepare(self);
        }
        kc->fast(self);
        kc->ref(self);
        k->err = kc->err(self);
        if (k->ref_how == REF_SCALED) {
            snprintf(k->check, sizeof k->check, "vs naive, n=%lld", (long long)n_ref);
        } else {
            snprintf(k->check, sizeof k->check, "vs naive");
        }
    } else if (kc->check_big != NULL) {
        kc->fast(self);
        k->err = kc->check_big(self);
        snprintf(k->check, sizeof k->check, "Ct vs A(Bt)");
    } else {
        snprintf(k->check, sizeof k->check, "none");
    }
    k->ok = k->err <= ERR_TOL;
    if (kc->set_batch != NULL) {
        kc->set_batch(self, n_full);
    }
    k->fast = bench_time(kc->fast, self, 2, reps);
    if (k->ref_how == REF_SKIPPED) {
        return;
    }
    if (kc->set_batch != NULL) {
        kc->set_batch(self, n_ref);
    }
    /* naive runs are long and steady: a few reps are enough */
    int ref_reps = reps < 3 ? reps : 3;
    k->ref = bench_time(kc->ref, self, 0, ref_reps);
    if (k->ref_how == REF_SCALED) {
        double s = (double)n_full / (double)n_ref;
        k->ref.med *= s;
        k->ref.min *= s;
        k->ref.max *= s;
    }
}

/* ------------------------------------------------------------------- GEMM */

typedef struct gemm_self {
    int ta, tb;
    int64_t m, n, k, lda, ldb;
    float *a, *b, *c, *c_ref;
} gemm_self;

static void gemm_fast(void *p)
{
    gemm_self *s = p;
    (void)lam__sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, s->a, s->lda, s->b, s->ldb, 0.0f,
                     s->c, s->n);
}

static void gemm_ref(void *p)
{
    gemm_self *s = p;
    (void)lam__sgemm_ref(s->ta, s->tb, s->m, s->n, s->k, 1.0f, s->a, s->lda, s->b, s->ldb,
                         0.0f, s->c_ref, s->n);
}

static double gemm_err(void *p)
{
    gemm_self *s = p;
    return bench_rel_err(s->c, s->c_ref, s->m * s->n);
}

/* C t against A (B t) for a random t, in double: O(mn + mk + kn) instead of O(mnk). */
static double gemm_check_big(void *p)
{
    gemm_self *s = p;
    double *t = malloc((size_t)s->n * sizeof *t), *u = malloc((size_t)s->k * sizeof *u);
    if (t == NULL || u == NULL) {
        free(t);
        free(u);
        return NAN;
    }
    for (int64_t j = 0; j < s->n; j++) {
        t[j] = lam_rng_uniform(7, 7, (uint64_t)j) - 0.5;
    }
    for (int64_t p2 = 0; p2 < s->k; p2++) {
        double acc = 0.0;
        for (int64_t j = 0; j < s->n; j++) {
            acc += (double)(s->tb ? s->b[j * s->ldb + p2] : s->b[p2 * s->ldb + j]) * t[j];
        }
        u[p2] = acc;
    }
    double diff = 0.0, scale = 0.0;
    for (int64_t i = 0; i < s->m; i++) {
        double want = 0.0, got = 0.0;
        for (int64_t p2 = 0; p2 < s->k; p2++) {
            want += (double)(s->ta ? s->a[p2 * s->lda + i] : s->a[i * s->lda + p2]) * u[p2];
        }
        for (int64_t j = 0; j < s->n; j++) {
            got += (double)s->c[i * s->n + j] * t[j];
        }
        diff = fmax(diff, fabs(got - want));
        scale = fmax(scale, fabs(want));
    }
    free(t);
    free(u);
    return scale > 0.0 ? diff / scale : diff;
}

typedef struct gemm_case {
    const char *name;
    int ta, tb;
    int64_t m, n, k;
    int quick;  /* also run in --quick */
} gemm_case;

/* The seed CNN on 1x28x28 at batch 64 (per image where the kernels loop over images). */
static const gemm_case gemm_cases[] = {
    {"square-256", 0, 0, 256, 256, 256, 1},
    {"square-512", 0, 0, 512, 512, 512, 0},
    {"square-1024", 0, 0, 1024, 1024, 1024, 0},
    {"conv1-fwd/img", 0, 0, 32, 784, 9, 1},
    {"conv1-bwdw/batch64", 0, 1, 32, 9, 50176, 0},
    {"conv2-fwd/img", 0, 0, 64, 196, 288, 1},
    {"conv2-bwdd/img", 1, 0, 288, 196, 64, 0},
    {"conv2-bwdw/img", 0, 1, 64, 288, 196, 0},
    {"conv2-fwd/batch64", 0, 0, 64, 12544, 288, 0},
    {"fc1-fwd", 0, 1, 64, 120, 3136, 1},
    {"fc1-bwdd", 0, 0, 64, 3136, 120, 0},
    {"fc1-bwdw", 1, 0, 120, 3136, 64, 0},
    {"mlp-fc1-fwd/b256", 0, 1, 256, 512, 784, 0},
};

static void bench_gemm(bench_run *r, const bench_opts *o)
{
    static const kcase kc = {gemm_fast, gemm_ref, NULL, gemm_err, gemm_check_big, NULL};
    for (size_t i = 0; i < sizeof gemm_cases / sizeof gemm_cases[0]; i++) {
        const gemm_case *gc = &gemm_cases[i];
        if (o->quick && !gc->quick) {
            continue;
        }
        char shape[72];
        snprintf(shape, sizeof shape, "%s %lldx%lldx%lld %c%c", gc->name, (long long)gc->m,
                 (long long)gc->n, (long long)gc->k, gc->ta ? 'T' : 'N', gc->tb ? 'T' : 'N');
        kern_result *k = new_result(r, "gemm", shape, 2.0 * gc->m * gc->n * gc->k);
        if (k == NULL) {
            return;
        }
        gemm_self s = {gc->ta, gc->tb, gc->m, gc->n, gc->k, gc->ta ? gc->m : gc->k,
                       gc->tb ? gc->k : gc->n, NULL, NULL, NULL, NULL};
        s.a = bench_floats(gc->m * gc->k);
        s.b = bench_floats(gc->k * gc->n);
        s.c = bench_floats(gc->m * gc->n);
        s.c_ref = bench_floats(gc->m * gc->n);
        bench_fill(s.a, gc->m * gc->k, 11);
        bench_fill(s.b, gc->k * gc->n, 12);
        measure(&kc, &s, k, 0, o);
        free(s.a);
        free(s.b);
        free(s.c);
        free(s.c_ref);
    }
}

/* ------------------------------------------------------------ convolution */

typedef enum conv_pass { CONV_FWD, CONV_BWD_DATA, CONV_BWD_WEIGHT } conv_pass;

typedef struct conv_self {
    conv_pass pass;
    lam_conv_geom g;        /* g.n is the current batch */
    int nt;
    float *x, *w, *b, *dy, *ws;
    float *out, *out_ref;   /* y, dx or dw (+ db after it) */
    int64_t out_n;          /* floats of out at the current batch */
} conv_self;

static int64_t conv_out_floats(const conv_self *s)
{
    const lam_conv_geom *g = &s->g;
    switch (s->pass) {
    case CONV_FWD:
        return g->n * g->c_out * g->oh * g->ow;
    case CONV_BWD_DATA:
        return g->n * g->c_in * g->h * g->w;
    case CONV_BWD_WEIGHT:
        return g->c_out * (g->c_in / g->groups) * g->kh * g->kw + g->c_out;
    }
    return 0;
}

static void conv_run(conv_self *s, int ref)
{
    const lam_conv_geom *g = &s->g;
    float *o = ref ? s->out_ref : s->out;
    int64_t nw = g->c_out * (g->c_in / g->groups) * g->kh * g->kw;
    switch (s->pass) {
    case CONV_FWD:
        (ref ? lam__conv2d_fwd_ref : lam__conv2d_fwd)(g, s->x, s->w, s->b, o, s->ws, s->nt);
        break;
    case CONV_BWD_DATA:
        (ref ? lam__conv2d_bwd_data_ref : lam__conv2d_bwd_data)(g, s->dy, s->w, o, s->ws,
                                                                 s->nt);
        break;
    case CONV_BWD_WEIGHT:
        (ref ? lam__conv2d_bwd_weight_ref : lam__conv2d_bwd_weight)(g, s->x, s->dy, o, o + nw,
                                                                     s->ws, s->nt);
        break;
    }
}

static void conv_fast(void *p)
{
    conv_run(p, 0);
}

static void conv_ref(void *p)
{
    conv_run(p, 1);
}

static void conv_prepare(void *p)
{
    conv_self *s = p;
    if (s->pass == CONV_BWD_WEIGHT) {
        memset(s->out, 0, (size_t)s->out_n * sizeof(float));
        memset(s->out_ref, 0, (size_t)s->out_n * sizeof(float));
    }
}

static double conv_err(void *p)
{
    conv_self *s = p;
    return bench_rel_err(s->out, s->out_ref, conv_out_floats(s));
}

static void conv_set_batch(void *p, int64_t n)
{
    conv_self *s = p;
    s->g.n = n;
}

typedef struct conv_case {
    const char *name;       /* a row of tests/shapes.h, or a bench-only geometry */
    lam_conv_geom g;        /* used when name is not in the table */
    int quick;
} conv_case;

#define GEOM(c, h, w, co, k, p) {0, c, h, w, co, k, k, 1, 1, p, p, 1, 1, 1, 0, 0}
static const conv_case conv_cases[] = {
    {"seed-conv1", GEOM(0, 0, 0, 0, 0, 0), 1},
    {"seed-conv2", GEOM(0, 0, 0, 0, 0, 0), 1},
    {"seed32-conv1", GEOM(3, 32, 32, 32, 3, 1), 0},   /* seed-cnn on 3x32x32 */
    {"cifar-conv2", GEOM(0, 0, 0, 0, 0, 0), 0},       /* = seed-cnn conv2 on 3x32x32 */
    {"cifar-conv1", GEOM(0, 0, 0, 0, 0, 0), 0},
    {"pointwise", GEOM(0, 0, 0, 0, 0, 0), 0},
    {"3x3-stride2", GEOM(0, 0, 0, 0, 0, 0), 0},
    {"depthwise", GEOM(0, 0, 0, 0, 0, 0), 0},
    {"groups2", GEOM(0, 0, 0, 0, 0, 0), 0},
    {"dilation2", GEOM(0, 0, 0, 0, 0, 0), 0},
    {"wide-channels", GEOM(0, 0, 0, 0, 0, 0), 0},
};

static int conv_geom_of(const conv_case *cc, int64_t batch, lam_conv_geom *g)
{
    *g = cc->g;
    for (int i = 0; i < T_N_CONV_SHAPES; i++) {
        if (strcmp(t_conv_shapes[i].name, cc->name) == 0) {
            *g = t_conv_geom(&t_conv_shapes[i]);
        }
    }
    g->n = batch;
    return lam__conv_geom_init(g) == LAM_OK;
}

static void bench_conv(bench_run *r, const bench_opts *o, int64_t batch)
{
    static const kcase kc = {conv_fast, conv_ref, conv_prepare, conv_err, NULL, conv_set_batch};
    static const char *const pass_op[] = {"conv_fwd", "conv_bwd_data", "conv_bwd_weight"};
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) {
        const conv_case *cc = &conv_cases[i];
        lam_conv_geom g;
        if ((o->quick && !cc->quick) || !conv_geom_of(cc, batch, &g)) {
            continue;
        }
        int64_t cig = g.c_in / g.groups, nw = g.c_out * cig * g.kh * g.kw;
        int64_t nx = batch * g.c_in * g.h * g.w, ny = batch * g.c_out * g.oh * g.ow;
        double flops = 2.0 * (double)batch * g.c_out * g.oh * g.ow * cig * g.kh * g.kw;
        conv_self s = {CONV_FWD, g, r->env.threads, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                       0};
        int64_t ws = lam__conv2d_workspace(&g, s.nt);
        s.x = bench_floats(nx);
        s.w = bench_floats(nw);
        s.b = bench_floats(g.c_out);
        s.dy = bench_floats(ny);
        s.ws = bench_floats(ws > 0 ? ws : 1);
        int64_t n_out = nx > ny ? nx : ny;
        n_out = n_out > nw + g.c_out ? n_out : nw + g.c_out;
        s.out = bench_floats(n_out);
        s.out_ref = bench_floats(n_out);
        bench_fill(s.x, nx, 21);
        bench_fill(s.w, nw, 22);
        bench_fill(s.b, g.c_out, 23);
        bench_fill(s.dy, ny, 24);
        for (int pass = CONV_FWD; pass <= CONV_BWD_WEIGHT; pass++) {
            if (!bench_want(o, pass_op[pass])) {
                continue;
            }
            char shape[72];
            snprintf(shape, sizeof shape, "%s n%lld %lldx%lldx%lld>%lld k%lldx%lld s%lld g%lld",
                     cc->name, (long long)batch, (long long)g.c_in, (long long)g.h,
                     (long long)g.w, (long long)g.c_out, (long long)g.kh, (long long)g.kw,
                     (long long)g.sh, (long long)g.groups);
            kern_result *k = new_result(r, pass_op[pass], shape, flops);
            if (k == NULL) {
                break;
            }
            s.pass = (conv_pass)pass;
            s.g.n = batch;
            s.out_n = conv_out_floats(&s);
            measure(&kc, &s, k, batch, o);
        }
        free(s.x);
        free(s.w);
        free(s.b);
        free(s.dy);
        free(s.ws);
        free(s.out);
        free(s.out_ref);
    }
}

/* ----------------------------------------------------------------- linear */

typedef struct linear_self {
    int bwd;
    int64_t n, in, out;
    float *x, *w, *b, *dy;
    float *y, *y_ref;       /* fwd: y; bwd: dx | dw | db */
} linear_self;

static void linear_run(linear_self *s, int ref)
{
    float *o = ref ? s->y_ref : s->y;
    if (!s->bwd) {
        (ref ? lam__linear_fwd_ref : lam__linear_fwd)(s->n, s->in, s->out, s->x, s->w, s->b, o);
    } else {
        float *dx = o, *dw = o + s->n * s->in, *db = dw + s->out * s->in;
        (ref ? lam__linear_bwd_ref : lam__linear_bwd)(s->n, s->in, s->out, s->x, s->w, s->dy,
                                                      dx, dw, db);
    }
}

static void linear_fast(void *p)
{
    linear_run(p, 0);
}

static void linear_ref(void *p)
{
    linear_run(p, 1);
}

static int64_t linear_out_floats(const linear_self *s)
{
    return s->bwd ? s->n * s->in + s->out * s->in + s->out : s->n * s->out;
}

static void linear_prepare(void *p)
{
    linear_self *s = p;
    memset(s->y, 0, (size_t)linear_out_floats(s) * sizeof(float));
    memset(s->y_ref, 0, (size_t)linear_out_floats(s) * sizeof(float));
}

static double linear_err(void *p)
{
    linear_self *s = p;
    if (!s->bwd) {
        return bench_rel_err(s->y, s->y_ref, s->n * s->out);
    }
    /* dx, dw and db have different scales: judge each on its own */
    double e1 = bench_rel_err(s->y, s->y_ref, s->n * s->in);
    const float *f = s->y + s->n * s->in, *r = s->y_ref + s->n * s->in;
    double e2 = bench_rel_err(f, r, s->out * s->in);
    double e3 = bench_rel_err(f + s->out * s->in, r + s->out * s->in, s->out);
    return fmax(e1, fmax(e2, e3));
}

static void linear_set_batch(void *p, int64_t n)
{
    linear_self *s = p;
    /* dw and db follow dx in the output buffer, so their offsets move with n; both twins
     * run at the same n before they are compared, so they agree on the layout */
    s->n = n;
}

static void bench_linear(bench_run *r, const bench_opts *o)
{
    static const kcase kc = {linear_fast, linear_ref, linear_prepare, linear_err, NULL,
                             linear_set_batch};
    static const struct { const char *name; int64_t n, in, out; int quick; } cases[] = {
        {"seed-fc1", 64, 3136, 120, 1},
        {"seed-fc2", 64, 120, 84, 0},
        {"mlp-fc1", 256, 784, 512, 0},
        {"mlp-fc2", 256, 512, 256, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (o->quick && !cases[i].quick) {
            continue;
        }
        int64_t n = cases[i].n, in = cases[i].in, out = cases[i].out;
        linear_self s = {0, n, in, out, NULL, NULL, NULL, NULL, NULL, NULL};
        s.x = bench_floats(n * in);
        s.w = bench_floats(out * in);
        s.b = bench_floats(out);
        s.dy = bench_floats(n * out);
        int64_t big = n * in + out * in + out;
        s.y = bench_floats(big);
        s.y_ref = bench_floats(big);
        bench_fill(s.x, n * in, 31);
        bench_fill(s.w, out * in, 32);
        bench_fill(s.b, out, 33);
        bench_fill(s.dy, n * out, 34);
        for (int bwd = 0; bwd <= 1; bwd++) {
            const char *op = bwd ? "linear_bwd" : "linear_fwd";
            if (!bench_want(o, op)) {
                continue;
            }
            char shape[72];
            snprintf(shape, sizeof shape, "%s n%lld %lld>%lld", cases[i].name, (long long)n,
                     (long long)in, (long long)out);
            kern_result *k = new_result(r, op, shape, (bwd ? 4.0 : 2.0) * n * in * out);
            if (k == NULL) {
                break;
            }
            s.bwd = bwd;
            s.n = n;
            measure(&kc, &s, k, n, o);
        }
        free(s.x);
        free(s.w);
        free(s.b);
        free(s.dy);
        free(s.y);
        free(s.y_ref);
    }
}

/* -------------------------------------------------------------- max-pool */

typedef struct pool_self {
    int bwd;
    lam_pool_geom g;
    int nt;
    float *x, *dy, *y, *y_ref;
    int32_t *am, *am_ref;
} pool_self;

static void pool_run(pool_self *s, int ref)
{
    if (!s->bwd) {
        (ref ? lam__maxpool_fwd_ref : lam__maxpool_fwd)(&s->g, s->x, ref ? s->y_ref : s->y,
                                                        ref ? s->am_ref : s->am, s->nt);
    } else {
        /* both twins route dy through the same argmax (from the fast forward) */
        (ref ? lam__maxpool_bwd_ref : lam__maxpool_bwd)(&s->g, s->dy, s->am,
                                                        ref ? s->y_ref : s->y, s->nt);
    }
}

static void pool_fast(void *p)
{
    pool_run(p, 0);
}

static void pool_ref(void *p)
{
    pool_run(p, 1);
}

static double pool_err(void *p)
{
    pool_self *s = p;
    const lam_pool_geom *g = &s->g;
    if (s->bwd) {
        return bench_rel_err(s->y, s->y_ref, g->n * g->c * g->h * g->w);
    }
    int64_t ny = g->n * g->c * g->oh * g->ow;
    for (int64_t i = 0; i < ny; i++) {
        if (s->am[i] != s->am_ref[i]) {
            return 1.0; /* a different argmax is a wrong answer, whatever the values */
        }
    }
    return bench_rel_err(s->y, s->y_ref, ny);
}

static void pool_set_batch(void *p, int64_t n)
{
    pool_self *s = p;
    s->g.n = n;
}

static void bench_pool(bench_run *r, const bench_opts *o, int64_t batch)
{
    static const kcase kc = {pool_fast, pool_ref, NULL, pool_err, NULL, pool_set_batch};
    static const struct { const char *name; int64_t c, h, w; int quick; } cases[] = {
        {"seed-pool1", 32, 28, 28, 1},
        {"seed-pool2", 64, 14, 14, 0},
        {"seed32-pool1", 32, 32, 32, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (o->quick && !cases[i].quick) {
            continue;
        }
        lam_pool_geom g = {batch, cases[i].c, cases[i].h, cases[i].w, 2, 2, 2, 2, 0, 0, 0, 0};
        if (lam__pool_geom_init(&g) != LAM_OK) {
            continue;
        }
        int64_t nx = batch * g.c * g.h * g.w, ny = batch * g.c * g.oh * g.ow;
        pool_self s = {0, g, r->env.threads, NULL, NULL, NULL, NULL, NULL, NULL};
        s.x = bench_floats(nx);
        s.dy = bench_floats(ny);
        s.y = bench_floats(nx);
        s.y_ref = bench_floats(nx);
        s.am = malloc((size_t)ny * sizeof(int32_t));
        s.am_ref = malloc((size_t)ny * sizeof(int32_t));
        if (s.am == NULL || s.am_ref == NULL) {
            fprintf(stderr, "lamina-bench: error: out of memory\n");
            exit(1);
        }
        bench_fill(s.x, nx, 41);
        bench_fill(s.dy, ny, 42);
        /* the backward pass needs the argmax of a forward */
        lam__maxpool_fwd(&g, s.x, s.y, s.am, s.nt);
        for (int bwd = 0; bwd <= 1; bwd++) {
            const char *op = bwd ? "maxpool_bwd" : "maxpool_fwd";
            if (!bench_want(o, op)) {
                continue;
            }
            char shape[72];
            snprintf(shape, sizeof shape, "%s n%lld %lldx%lldx%lld k2 s2", cases[i].name,
                     (long long)batch, (long long)g.c, (long long)g.h, (long long)g.w);
            /* "FLOPs" of a pooling pass: one per compared (fwd) or routed (bwd) element;
             * pooling is memory-bound, so its % of the sgemm peak is only indicative */
            double ops = bwd ? (double)ny : (double)ny * g.kh * g.kw;
            kern_result *k = new_result(r, op, shape, ops);
            if (k == NULL) {
                break;
            }
            s.bwd = bwd;
            s.g.n = batch;
            measure(&kc, &s, k, batch, o);
        }
        free(s.x);
        free(s.dy);
        free(s.y);
        free(s.y_ref);
        free(s.am);
        free(s.am_ref);
    }
}

int bench_kernels(bench_run *r, const bench_opts *o)
{
    bench_set_threads(r->env.threads);
    if (bench_want(o, "gemm")) {
        bench_gemm(r, o);
    }
    if (bench_want(o, "conv_fwd") || bench_want(o, "conv_bwd_data") ||
        bench_want(o, "conv_bwd_weight")) {
        bench_conv(r, o, 64);
    }
    if (bench_want(o, "linear_fwd") || bench_want(o, "linear_bwd")) {
        bench_linear(r, o);
    }
    if (bench_want(o, "maxpool_fwd") || bench_want(o, "maxpool_bwd")) {
        bench_pool(r, o, 64);
    }
    int bad = 0;
    for (int i = 0; i < r->n_kern; i++) {
        if (!r->kern[i].ok && !isnan(r->kern[i].err)) {
            bad++;
        }
    }
    return bad;
}
