/*
 * Kernel section: every fast kernel lam__X against its naive twin lam__X_ref (same
 * signature), on GEMM squares, the seed network's GEMM shapes, linear layers, max-pooling
 * and batch norm; convolutions (plain and fused) are in bench_conv.c.
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

kern_result *bench_new_kern(bench_run *r, const char *op, const char *shape, double flops)
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
void bench_measure(const kcase *kc, void *self, kern_result *k, int64_t n_full,
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
    k->ok = k->err <= BENCH_ERR_TOL;
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

int bench_row(bench_run *r, const char *op, const char *shape, double flops, const kcase *kc,
              void *self, int64_t n_full, const bench_opts *o)
{
    kern_result *k = bench_new_kern(r, op, shape, flops);
    if (k == NULL) {
        return -1;
    }
    bench_measure(kc, self, k, n_full, o);
    return 0;
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

/* "name MxNxK TN" and a suffix: the shape column of a GEMM row */
static void gemm_shape(char *buf, size_t size, const gemm_case *gc, const char *suffix)
{
    snprintf(buf, size, "%s %lldx%lldx%lld %c%c%s", gc->name, (long long)gc->m,
             (long long)gc->n, (long long)gc->k, gc->ta ? 'T' : 'N', gc->tb ? 'T' : 'N', suffix);
}

/* A case's operands, packed (lda, ldb the row lengths), A and B filled from streams
 * `stream` and `stream + 1`; C and the reference C left for the runs to write. */
static gemm_self gemm_operands(const gemm_case *gc, uint64_t stream)
{
    gemm_self s = {gc->ta, gc->tb, gc->m, gc->n, gc->k, gc->ta ? gc->m : gc->k,
                   gc->tb ? gc->k : gc->n, NULL, NULL, NULL, NULL};
    s.a = bench_floats(gc->m * gc->k);
    s.b = bench_floats(gc->k * gc->n);
    s.c = bench_floats(gc->m * gc->n);
    s.c_ref = bench_floats(gc->m * gc->n);
    bench_fill(s.a, gc->m * gc->k, stream);
    bench_fill(s.b, gc->k * gc->n, stream + 1);
    return s;
}

static void gemm_operands_free(gemm_self *s)
{
    free(s->a);
    free(s->b);
    free(s->c);
    free(s->c_ref);
}

static void bench_gemm(bench_run *r, const bench_opts *o)
{
    static const kcase kc = {gemm_fast, gemm_ref, NULL, gemm_err, gemm_check_big, NULL};
    for (size_t i = 0; i < sizeof gemm_cases / sizeof gemm_cases[0]; i++) {
        const gemm_case *gc = &gemm_cases[i];
        if (o->quick && !gc->quick) {
            continue;
        }
        char shape[72];
        gemm_shape(shape, sizeof shape, gc, "");
        kern_result *k = bench_new_kern(r, "gemm", shape, 2.0 * gc->m * gc->n * gc->k);
        if (k == NULL) {
            return;
        }
        gemm_self s = gemm_operands(gc, 11);
        bench_measure(&kc, &s, k, 0, o);
        gemm_operands_free(&s);
    }
}

/* The per-image GEMMs of ResNet-20's convolutions on 1x28x28 (K = C_in*9, +1 for the bias row
 * of the weight gradient): lamina's AVX-512 kernels (lam__conv_gemm) with OpenBLAS
 * (lam__sgemm) in the naive twin's columns, both on one thread, as inside the engine's
 * parallel loops. The weight gradient is the transposed form the engine runs, col * dy^T. */
static const gemm_case conv_gemm_cases[] = {
    {"r20-s1-fwd/img", 0, 0, 16, 784, 144, 1},   {"r20-s2-fwd/img", 0, 0, 32, 196, 288, 0},
    {"r20-s3-fwd/img", 0, 0, 64, 49, 576, 0},    {"r20-s2-bwdd/img", 1, 0, 288, 196, 32, 0},
    {"r20-s3-bwdd/img", 1, 0, 576, 49, 64, 0},   {"r20-s1-bwdw/img", 0, 0, 145, 16, 784, 0},
    {"r20-s2-bwdw/img", 0, 0, 289, 32, 196, 0},  {"r20-s3-bwdw/img", 0, 0, 577, 64, 49, 0},
};

static void conv_gemm_fast(void *p)
{
    gemm_self *s = p;
    (void)lam__conv_gemm(lam__best_isa(), s->ta, s->tb, s->m, s->n, s->k, s->a, s->lda, s->b,
                         s->ldb, 0.0f, s->c, s->n);
}

static void conv_gemm_blas(void *p)
{
    gemm_self *s = p;
    (void)lam__sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, s->a, s->lda, s->b, s->ldb, 0.0f,
                     s->c_ref, s->n);
}

static void bench_conv_gemm(bench_run *r, const bench_opts *o)
{
    static const kcase kc = {conv_gemm_fast, conv_gemm_blas, NULL, gemm_err, NULL, NULL};
    const int isa = lam__best_isa();
    if (isa < LAM_ISA_AVX2) {
        return; /* lam__conv_gemm is BLAS itself there */
    }
    bench_set_threads(1);
    for (size_t i = 0; i < sizeof conv_gemm_cases / sizeof conv_gemm_cases[0]; i++) {
        const gemm_case *gc = &conv_gemm_cases[i];
        if (o->quick && !gc->quick) {
            continue;
        }
        char shape[72];
        gemm_shape(shape, sizeof shape, gc,
                   isa == LAM_ISA_AVX512 ? " 1 thr avx512, BLAS naive" : " 1 thr avx2, BLAS naive");
        gemm_self s = gemm_operands(gc, 13);
        kern_result *k = bench_new_kern(r, "conv_gemm", shape, 2.0 * gc->m * gc->n * gc->k);
        if (k != NULL) {
            k->threads = 1; /* its % of peak is of the 1-thread sgemm */
            bench_measure(&kc, &s, k, 0, o);
        }
        gemm_operands_free(&s);
        if (k == NULL) {
            break;
        }
    }
    bench_set_threads(r->env.threads);
}

/* ----------------------------------------------------------------- linear */

/* The plain passes (one GEMM each, threaded by BLAS) and the fused ones the model runs
 * (relu folded in, GEMMs cut into fixed column blocks run by lamina's threads). */
typedef enum linear_op { LIN_FWD, LIN_BWD, LIN_FUSED_FWD, LIN_FUSED_BWD } linear_op;
static const char *const linear_op_name[] = {"linear_fwd", "linear_bwd", "linear_fused_fwd",
                                             "linear_fused_bwd"};

typedef struct linear_self {
    linear_op op;
    int nt;
    int64_t n, in, out;
    float *x, *w, *b, *dy;
    float *yf;              /* fused backward: the forward's (relu'd) output */
    float *y, *y_ref;       /* fwd: y; bwd: dx | dw | db */
} linear_self;

static void linear_run(linear_self *s, int ref)
{
    float *o = ref ? s->y_ref : s->y;
    float *dx = o, *dw = o + s->n * s->in, *db = dw + s->out * s->in;
    switch (s->op) {
    case LIN_FWD:
        (ref ? lam__linear_fwd_ref : lam__linear_fwd)(s->n, s->in, s->out, s->x, s->w, s->b, o);
        break;
    case LIN_BWD:
        (ref ? lam__linear_bwd_ref : lam__linear_bwd)(s->n, s->in, s->out, s->x, s->w, s->dy,
                                                      dx, dw, db);
        break;
    case LIN_FUSED_FWD:
        (ref ? lam__linear_fused_fwd_ref : lam__linear_fused_fwd)(
            s->n, s->in, s->out, LAM_ACT_RELU, s->x, s->w, s->b, o, s->nt);
        break;
    case LIN_FUSED_BWD:
        /* dy is masked in place by y > 0: idempotent, so both twins see the same values */
        (ref ? lam__linear_fused_bwd_ref : lam__linear_fused_bwd)(
            s->n, s->in, s->out, LAM_ACT_RELU, s->x, s->w, s->yf, s->dy, dx, dw, db, s->nt);
        break;
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

static int is_bwd(linear_op op)
{
    return op == LIN_BWD || op == LIN_FUSED_BWD;
}

static int64_t linear_out_floats(const linear_self *s)
{
    return is_bwd(s->op) ? s->n * s->in + s->out * s->in + s->out : s->n * s->out;
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
    if (!is_bwd(s->op)) {
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
        linear_self s;
        memset(&s, 0, sizeof s);
        s.nt = r->env.threads;
        s.n = n;
        s.in = in;
        s.out = out;
        s.x = bench_floats(n * in);
        s.w = bench_floats(out * in);
        s.b = bench_floats(out);
        s.dy = bench_floats(n * out);
        s.yf = bench_floats(n * out);
        int64_t big = n * in + out * in + out;
        s.y = bench_floats(big);
        s.y_ref = bench_floats(big);
        bench_fill(s.x, n * in, 31);
        bench_fill(s.w, out * in, 32);
        bench_fill(s.b, out, 33);
        bench_fill(s.dy, n * out, 34);
        lam__linear_fused_fwd(n, in, out, LAM_ACT_RELU, s.x, s.w, s.b, s.yf, s.nt);
        for (int op = LIN_FWD; op <= LIN_FUSED_BWD; op++) {
            if (!bench_want(o, linear_op_name[op])) {
                continue;
            }
            char shape[72];
            snprintf(shape, sizeof shape, "%s n%lld %lld>%lld%s", cases[i].name, (long long)n,
                     (long long)in, (long long)out, op >= LIN_FUSED_FWD ? " +relu" : "");
            double flops = (is_bwd((linear_op)op) ? 4.0 : 2.0) * n * in * out;
            s.op = (linear_op)op;
            if (bench_row(r, linear_op_name[op], shape, flops, &kc, &s, n, o) != 0) {
                break;
            }
        }
        free(s.x);
        free(s.w);
        free(s.b);
        free(s.dy);
        free(s.yf);
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
            s.bwd = bwd;
            if (bench_row(r, op, shape, ops, &kc, &s, batch, o) != 0) {
                break;
            }
        }
        free(s.x);
        free(s.dy);
        free(s.y);
        free(s.y_ref);
        free(s.am);
        free(s.am_ref);
    }
}

/* ------------------------------------------------------------- batch norm */

/* Training forward and backward of batch norm on ResNet-20's activations. Memory-bound, so
 * the "FLOPs" of a row are the bytes the pass must move at least (forward: read x, write y,
 * 8 B per value; backward: read x and dy, write dx, 12 B), and its GFLOP/s column is GB/s. */
typedef struct bn_self {
    int bwd;
    int64_t n, c, hw;
    int nt;
    float *x, *dy, *gamma, *beta, *mean, *invstd, *var, *ws;
    float *y, *y_ref, *g, *g_ref; /* g: dgamma | dbeta */
} bn_self;

static void bn_run(bn_self *s, int ref)
{
    float *o = ref ? s->y_ref : s->y, *g = ref ? s->g_ref : s->g;
    if (!s->bwd) {
        float *m = g, *is = g + s->c, *v = g + 2 * s->c;
        (ref ? lam__bn_fwd_train_ref : lam__bn_fwd_train)(s->n, s->c, s->hw, s->x, s->gamma,
                                                          s->beta, 1e-5f, m, is, v, o, 0,
                                                          s->ws, s->nt);
    } else {
        /* both twins use the saved statistics of one fast forward */
        (ref ? lam__bn_bwd_ref : lam__bn_bwd)(s->n, s->c, s->hw, s->x, s->dy, NULL, s->gamma,
                                              s->mean, s->invstd, g, g + s->c, o, s->ws, s->nt);
    }
}

static void bn_fast(void *p)
{
    bn_run(p, 0);
}

static void bn_ref(void *p)
{
    bn_run(p, 1);
}

static void bn_prepare(void *p)
{
    bn_self *s = p;
    memset(s->g, 0, (size_t)(3 * s->c) * sizeof(float));
    memset(s->g_ref, 0, (size_t)(3 * s->c) * sizeof(float));
}

static double bn_err(void *p)
{
    bn_self *s = p;
    double e = bench_rel_err(s->y, s->y_ref, s->n * s->c * s->hw);
    /* mean, invstd, var (forward) or dgamma, dbeta (backward), each on its own scale */
    for (int k = 0; k < (s->bwd ? 2 : 3); k++) {
        e = fmax(e, bench_rel_err(s->g + k * s->c, s->g_ref + k * s->c, s->c));
    }
    return e;
}

static void bn_set_batch(void *p, int64_t n)
{
    bn_self *s = p;
    s->n = n;
}

static void bench_bn(bench_run *r, const bench_opts *o, int64_t batch)
{
    static const kcase kc = {bn_fast, bn_ref, bn_prepare, bn_err, NULL, bn_set_batch};
    static const struct { const char *name; int64_t c, hw; int quick; } cases[] = {
        {"resnet20-stage1", 16, 1024, 1},
        {"resnet20-stage2", 32, 256, 0},
        {"resnet20-stage3", 64, 64, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (o->quick && !cases[i].quick) {
            continue;
        }
        const int64_t c = cases[i].c, hw = cases[i].hw, total = batch * c * hw;
        bn_self s;
        memset(&s, 0, sizeof s);
        s.n = batch;
        s.c = c;
        s.hw = hw;
        s.nt = r->env.threads;
        s.x = bench_floats(total);
        s.dy = bench_floats(total);
        s.y = bench_floats(total);
        s.y_ref = bench_floats(total);
        s.gamma = bench_floats(c);
        s.beta = bench_floats(c);
        s.mean = bench_floats(c);
        s.invstd = bench_floats(c);
        s.var = bench_floats(c);
        s.g = bench_floats(3 * c);
        s.g_ref = bench_floats(3 * c);
        s.ws = bench_floats(lam__bn_workspace(batch, c, hw, s.nt));
        bench_fill(s.x, total, 51);
        bench_fill(s.dy, total, 52);
        bench_fill(s.gamma, c, 53);
        bench_fill(s.beta, c, 54);
        lam__bn_fwd_train(batch, c, hw, s.x, s.gamma, s.beta, 1e-5f, s.mean, s.invstd, s.var,
                          s.y, 0, s.ws, s.nt);
        for (int bwd = 0; bwd <= 1; bwd++) {
            const char *op = bwd ? "bn_bwd" : "bn_fwd_train";
            if (!bench_want(o, op)) {
                continue;
            }
            char shape[72];
            snprintf(shape, sizeof shape, "%s n%lld c%lld hw%lld (GB/s)", cases[i].name,
                     (long long)batch, (long long)c, (long long)hw);
            s.bwd = bwd;
            s.n = batch;
            if (bench_row(r, op, shape, (bwd ? 12.0 : 8.0) * (double)total, &kc, &s, batch, o) !=
                0) {
                break;
            }
        }
        float *all[] = {s.x, s.dy, s.y, s.y_ref, s.gamma, s.beta, s.mean, s.invstd, s.var,
                        s.g, s.g_ref, s.ws};
        for (size_t j = 0; j < sizeof all / sizeof all[0]; j++) {
            free(all[j]);
        }
    }
}

int bench_kernels(bench_run *r, const bench_opts *o)
{
    bench_set_threads(r->env.threads);
    if (bench_want(o, "gemm")) {
        bench_gemm(r, o);
    }
    if (bench_want(o, "conv_gemm")) {
        bench_conv_gemm(r, o);
    }
    if (bench_want(o, "conv_fwd") || bench_want(o, "conv_bwd_data") ||
        bench_want(o, "conv_bwd_weight")) {
        bench_conv(r, o, 64);
    }
    if (bench_want(o, "conv_fused_fwd") || bench_want(o, "conv_fused_bwd")) {
        bench_conv_fused(r, o, 64);
    }
    if (bench_want(o, "im2col") || bench_want(o, "col2im")) {
        bench_im2col(r, o, 64);
    }
    if (bench_want(o, "conv_path_fwd") || bench_want(o, "conv_path_bwd")) {
        bench_conv_path(r, o, o->quick ? 4 : 64); /* --quick: one chunk, a smoke test */
    }
    if (bench_want(o, "linear_fwd") || bench_want(o, "linear_bwd") ||
        bench_want(o, "linear_fused_fwd") || bench_want(o, "linear_fused_bwd")) {
        bench_linear(r, o);
    }
    if (bench_want(o, "maxpool_fwd") || bench_want(o, "maxpool_bwd")) {
        bench_pool(r, o, 64);
    }
    if (bench_want(o, "bn_fwd_train") || bench_want(o, "bn_bwd")) {
        bench_bn(r, o, 64);
    }
    int bad = 0;
    for (int i = 0; i < r->n_kern; i++) {
        if (!r->kern[i].ok && !isnan(r->kern[i].err)) {
            bad++;
        }
    }
    return bad;
}
