/*
 * Convolution kernels against their naive twins, at batch 64: the plain passes (forward,
 * backward-data, backward-weights) on the seed CNN's layers and rows of tests/shapes.h, and
 * the fused block the model runs (conv + bias + relu + 2x2 max-pool forward; its backward
 * giving dx, dW and db in one pass) under both GEMM strategies: "chunked" (OpenMP over
 * chunks of images, one single-threaded GEMM per image) and "batched" (images folded into
 * the GEMMs' N, threaded by BLAS). Also im2col and col2im alone, per instruction set.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "shapes.h"

/* ------------------------------------------------------------ plain conv */

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

void bench_conv(bench_run *r, const bench_opts *o, int64_t batch)
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
            s.pass = (conv_pass)pass;
            s.g.n = batch;
            s.out_n = conv_out_floats(&s); /* at the full batch: prepare clears it all */
            if (bench_row(r, pass_op[pass], shape, flops, &kc, &s, batch, o) != 0) {
                break;
            }
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

/* ------------------------------------------------------------ im2col, col2im */

/* im2col of every image of the batch into one column buffer (as a chunked conv does, so
 * it stays in cache), and col2im of one column buffer onto every image (accumulating), with
 * the instruction set given (the best one, and the portable loops where they differ)
 * against the naive twins. */
typedef struct im2col_self {
    lam_conv_geom g;
    int isa, adjoint;       /* adjoint: col2im */
    float *x, *col, *col_ref, *dx, *dx_ref;
} im2col_self;

static void im2col_run(im2col_self *s, int ref)
{
    const lam_conv_geom *g = &s->g;
    const int64_t xs = g->c_in * g->h * g->w, p = g->oh * g->ow;
    for (int64_t i = 0; i < g->n; i++) {
        for (int64_t gr = 0; gr < g->groups; gr++) {
            const int64_t c0 = gr * (g->c_in / g->groups);
            if (s->adjoint && ref) {
                lam__col2im_ref(g, s->col, c0, s->dx_ref + i * xs);
            } else if (s->adjoint) {
                lam__col2im_ld_isa(g, s->col, p, c0, s->dx + i * xs, s->isa);
            } else if (ref) {
                lam__im2col_ref(g, s->x + i * xs, c0, s->col_ref);
            } else {
                lam__im2col_ld_isa(g, s->x + i * xs, c0, s->col, p, s->isa);
            }
        }
    }
}

static void im2col_fast(void *p)
{
    im2col_run(p, 0);
}

static void im2col_ref(void *p)
{
    im2col_run(p, 1);
}

static void im2col_prepare(void *p)
{
    const im2col_self *s = p;
    const size_t bytes = (size_t)(s->g.n * s->g.c_in * s->g.h * s->g.w) * sizeof(float);
    if (s->adjoint) {
        memset(s->dx, 0, bytes);
        memset(s->dx_ref, 0, bytes);
    }
}

static double im2col_err(void *p)
{
    const im2col_self *s = p;
    const lam_conv_geom *g = &s->g;
    if (s->adjoint) {
        return bench_rel_err(s->dx, s->dx_ref, g->n * g->c_in * g->h * g->w);
    }
    /* both hold the last image's last group */
    return bench_rel_err(s->col, s->col_ref, (g->c_in / g->groups) * g->kh * g->kw * g->oh *
                                                 g->ow);
}

static void im2col_set_batch(void *p, int64_t n)
{
    im2col_self *s = p;
    s->g.n = n;
}

void bench_im2col(bench_run *r, const bench_opts *o, int64_t batch)
{
    static const kcase kc = {im2col_fast, im2col_ref, im2col_prepare, im2col_err, NULL,
                             im2col_set_batch};
    const int best = lam__best_isa();
    for (size_t i = 0; i < 3; i++) { /* the seed CNN's convs: 1x28x28, its conv2, 3x32x32 */
        const conv_case *cc = &conv_cases[i];
        lam_conv_geom g;
        if ((o->quick && !cc->quick) || !conv_geom_of(cc, batch, &g)) {
            continue;
        }
        const int64_t k = (g.c_in / g.groups) * g.kh * g.kw, p = g.oh * g.ow;
        const int64_t nx = batch * g.c_in * g.h * g.w;
        im2col_self s = {g, best, 0, bench_floats(nx), bench_floats(k * p),
                         bench_floats(k * p), bench_floats(nx), bench_floats(nx)};
        bench_fill(s.x, nx, 25);
        bench_fill(s.col, k * p, 26);
        for (s.adjoint = 0; s.adjoint <= 1; s.adjoint++) {
            const char *op = s.adjoint ? "col2im" : "im2col";
            if (!bench_want(o, op)) {
                continue;
            }
            /* im2col and col2im have AVX-512 loops and portable ones (no AVX2 twin) */
            for (int isa = best == LAM_ISA_AVX512 ? best : LAM_ISA_SSE2; isa >= LAM_ISA_SSE2;
                 isa = isa == LAM_ISA_AVX512 ? LAM_ISA_SSE2 : isa - 1) {
                char shape[72];
                snprintf(shape, sizeof shape, "%s n%lld %lldx%lldx%lld k%lldx%lld %s",
                         cc->name, (long long)batch, (long long)g.c_in, (long long)g.h,
                         (long long)g.w, (long long)g.kh, (long long)g.kw,
                         isa == LAM_ISA_AVX512 ? "avx512" : "portable");
                /* "FLOPs": one per column element moved (memory-bound) */
                s.isa = isa;
                if (bench_row(r, op, shape, (double)(batch * k * p), &kc, &s, batch, o) != 0) {
                    break;
                }
            }
        }
        free(s.x);
        free(s.col);
        free(s.col_ref);
        free(s.dx);
        free(s.dx_ref);
    }
}

/* ------------------------------------------------------------ fused conv */

typedef struct fused_self {
    int bwd;
    lam_conv_geom g;
    lam_pool_geom pg;       /* 2x2 max pool on the conv output */
    lam_conv_fusion f;
    int nt;
    float *x, *w, *b, *dy, *ws;
    float *y, *y_ref;       /* forward output (pooled) */
    int32_t *am, *am_ref;
    float *out, *out_ref;   /* backward: dx | dw | db */
} fused_self;

static int64_t fused_nw(const fused_self *s)
{
    return s->g.c_out * (s->g.c_in / s->g.groups) * s->g.kh * s->g.kw;
}

static void fused_run(fused_self *s, int ref)
{
    if (!s->bwd) {
        (ref ? lam__conv2d_fused_fwd_ref : lam__conv2d_fused_fwd)(
            &s->g, &s->f, s->x, s->w, s->b, ref ? s->y_ref : s->y, ref ? s->am_ref : s->am,
            s->ws, s->nt);
        return;
    }
    float *o = ref ? s->out_ref : s->out;
    float *dw = o + s->g.n * s->g.c_in * s->g.h * s->g.w, *db = dw + fused_nw(s);
    /* both twins start from the fast forward's y and argmax */
    (ref ? lam__conv2d_fused_bwd_ref : lam__conv2d_fused_bwd)(&s->g, &s->f, s->x, s->w, s->y,
                                                              s->am, s->dy, o, dw, db, s->ws,
                                                              s->nt);
}

static void fused_fast(void *p)
{
    fused_run(p, 0);
}

static void fused_ref(void *p)
{
    fused_run(p, 1);
}

static int64_t fused_out_floats(const fused_self *s)
{
    if (!s->bwd) {
        return s->g.n * s->g.c_out * s->pg.oh * s->pg.ow;
    }
    return s->g.n * s->g.c_in * s->g.h * s->g.w + fused_nw(s) + s->g.c_out;
}

static void fused_prepare(void *p)
{
    fused_self *s = p;
    if (s->bwd) {
        memset(s->out, 0, (size_t)fused_out_floats(s) * sizeof(float));
        memset(s->out_ref, 0, (size_t)fused_out_floats(s) * sizeof(float));
    }
}

static double fused_err(void *p)
{
    fused_self *s = p;
    if (!s->bwd) {
        int64_t ny = fused_out_floats(s);
        for (int64_t i = 0; i < ny; i++) {
            /* Where relu made the output 0 no gradient flows, and the twins may legitimately
             * pick different taps (pool-then-relu vs relu-then-pool ties at 0). Elsewhere a
             * different argmax is a wrong answer. */
            if (s->y_ref[i] > 0.0f && s->am[i] != s->am_ref[i]) {
                return 1.0;
            }
        }
        return bench_rel_err(s->y, s->y_ref, ny);
    }
    /* dx, dW and db have their own scales */
    int64_t nx = s->g.n * s->g.c_in * s->g.h * s->g.w, nw = fused_nw(s);
    double e = bench_rel_err(s->out, s->out_ref, nx);
    e = fmax(e, bench_rel_err(s->out + nx, s->out_ref + nx, nw));
    return fmax(e, bench_rel_err(s->out + nx + nw, s->out_ref + nx + nw, s->g.c_out));
}

static void fused_set_batch(void *p, int64_t n)
{
    fused_self *s = p;
    s->g.n = n;
    s->pg.n = n;
}

static void fused_case(bench_run *r, const bench_opts *o, const char *name, lam_conv_geom g,
                       lam_conv_strategy strategy)
{
    static const kcase kc = {fused_fast, fused_ref, fused_prepare, fused_err, NULL,
                             fused_set_batch};
    fused_self s;
    memset(&s, 0, sizeof s);
    s.g = g;
    s.pg = (lam_pool_geom){g.n, g.c_out, g.oh, g.ow, 2, 2, 2, 2, 0, 0, 0, 0};
    if (lam__pool_geom_init(&s.pg) != LAM_OK) {
        return;
    }
    s.f = (lam_conv_fusion){LAM_ACT_RELU, &s.pg, strategy, 0, LAM_CONV_PATH_AUTO, 0};
    s.nt = r->env.threads;
    const int64_t batch = g.n, nw = fused_nw(&s);
    const int64_t nx = batch * g.c_in * g.h * g.w, ny = batch * g.c_out * s.pg.oh * s.pg.ow;
    /* the naive twin keeps whole-batch intermediates in ws: size it for both */
    int64_t ws = lam__conv2d_fused_workspace(&g, &s.f, s.nt);
    int64_t ws_ref = lam__conv2d_fused_workspace_ref(&g, &s.f, s.nt);
    ws = ws > ws_ref ? ws : ws_ref;
    s.x = bench_floats(nx);
    s.w = bench_floats(nw);
    s.b = bench_floats(g.c_out);
    s.dy = bench_floats(ny);
    s.ws = bench_floats(ws > 0 ? ws : 1);
    s.y = bench_floats(ny);
    s.y_ref = bench_floats(ny);
    s.am = calloc((size_t)ny, sizeof(int32_t));
    s.am_ref = calloc((size_t)ny, sizeof(int32_t));
    s.out = bench_floats(nx + nw + g.c_out);
    s.out_ref = bench_floats(nx + nw + g.c_out);
    if (s.am == NULL || s.am_ref == NULL) {
        fprintf(stderr, "lamina-bench: error: out of memory\n");
        exit(1);
    }
    bench_fill(s.x, nx, 25);
    bench_fill(s.w, nw, 26);
    bench_fill(s.b, g.c_out, 27);
    bench_fill(s.dy, ny, 28);
    /* the backward reads the forward's y and argmax */
    lam__conv2d_fused_fwd(&s.g, &s.f, s.x, s.w, s.b, s.y, s.am, s.ws, s.nt);
    const double flops = 2.0 * (double)batch * g.c_out * g.oh * g.ow * (g.c_in / g.groups) *
                         g.kh * g.kw;
    for (int bwd = 0; bwd <= 1; bwd++) {
        const char *op = bwd ? "conv_fused_bwd" : "conv_fused_fwd";
        if (!bench_want(o, op)) {
            continue;
        }
        char shape[72];
        snprintf(shape, sizeof shape, "%s+relu+pool2 n%lld %s", name, (long long)batch,
                 strategy == LAM_CONV_BATCHED ? "batched" : "chunked");
        /* the backward makes dx and dW: two GEMMs of the forward's size */
        s.bwd = bwd;
        if (bench_row(r, op, shape, bwd ? 2.0 * flops : flops, &kc, &s, batch, o) != 0) {
            break;
        }
    }
    free(s.x);
    free(s.w);
    free(s.b);
    free(s.dy);
    free(s.ws);
    free(s.y);
    free(s.y_ref);
    free(s.am);
    free(s.am_ref);
    free(s.out);
    free(s.out_ref);
}

void bench_conv_fused(bench_run *r, const bench_opts *o, int64_t batch)
{
    /* the seed CNN's two blocks on 1x28x28 and on 3x32x32 */
    static const char *const names[] = {"seed-conv1", "seed-conv2", "seed32-conv1",
                                        "cifar-conv2"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (o->quick && i > 1) {
            break;
        }
        for (size_t c = 0; c < sizeof conv_cases / sizeof conv_cases[0]; c++) {
            lam_conv_geom g;
            if (strcmp(conv_cases[c].name, names[i]) != 0 ||
                !conv_geom_of(&conv_cases[c], batch, &g)) {
                continue;
            }
            fused_case(r, o, names[i], g, LAM_CONV_CHUNKED);
            if (!o->quick) {
                fused_case(r, o, names[i], g, LAM_CONV_BATCHED);
            }
        }
    }
}

/* ------------------------- implicit GEMM against im2col, Winograd against both */

/* Copies of x and dy the runs rotate through, so that every run reads its operands from
 * memory as a training step does (its layers' activations are out of cache): timed on one
 * hot copy, the paths that copy more looked up to 30% better than they do in a step. */
#define PATH_COPIES 8

/* The same-size 3x3 convolutions of ResNet-20 on 1x28x28 and 3x32x32 (C x H x W of the
 * stage), each pass timed with two paths forced, the newer one in the "fast" column and the
 * older in the naive twin's (same threads): the implicit GEMM against im2col, then Winograd
 * against the implicit GEMM. These are the measurements behind the per-pass choices in
 * kernels/conv2d_implicit.c and conv2d_winograd.c. The shape says which path AUTO takes. */
typedef struct path_self {
    int bwd;
    lam_conv_geom g;
    lam_conv_fusion f[2]; /* the two paths compared: the newer one first */
    int nt;
    int next;             /* the copy the next run reads */
    float *x[PATH_COPIES], *dy[PATH_COPIES], *w, *ws;
    float *out[2];        /* forward: y; backward: dx | dw */
} path_self;

static int64_t path_out_floats(const path_self *s)
{
    const lam_conv_geom *g = &s->g;
    if (!s->bwd) {
        return g->n * g->c_out * g->oh * g->ow;
    }
    return g->n * g->c_in * g->h * g->w + g->c_out * g->c_in * g->kh * g->kw;
}

static void path_run(path_self *s, int which)
{
    const lam_conv_geom *g = &s->g;
    float *o = s->out[which];
    const int c = s->next;
    s->next = (c + 1) % PATH_COPIES;
    if (!s->bwd) {
        lam__conv2d_fused_fwd(g, &s->f[which], s->x[c], s->w, NULL, o, NULL, s->ws, s->nt);
        return;
    }
    lam__conv2d_fused_bwd(g, &s->f[which], s->x[c], s->w, NULL, NULL, s->dy[c], o,
                          o + g->n * g->c_in * g->h * g->w, NULL, s->ws, s->nt);
}

static void path_implicit(void *p)
{
    path_run(p, 0);
}

static void path_im2col(void *p)
{
    path_run(p, 1);
}

static void path_prepare(void *p)
{
    path_self *s = p;
    for (int i = 0; i < 2; i++) {
        memset(s->out[i], 0, (size_t)path_out_floats(s) * sizeof(float));
    }
}

static double path_err(void *p)
{
    path_self *s = p;
    return bench_rel_err(s->out[0], s->out[1], path_out_floats(s));
}

static void path_set_batch(void *p, int64_t n)
{
    ((path_self *)p)->g.n = n;
}

void bench_conv_path(bench_run *r, const bench_opts *o, int64_t batch)
{
    static const kcase kc = {path_implicit, path_im2col, path_prepare, path_err, NULL,
                             path_set_batch};
    /* ResNet-20's 3x3 convolutions on 1x28x28 and 3x32x32, and the seed CNN's two */
    static const struct {
        const char *net;
        int64_t c_in, c_out, hw;
    } stages[] = {{"r20", 16, 16, 28}, {"r20", 32, 32, 14}, {"r20", 64, 64, 7},
                  {"r20", 16, 16, 32}, {"r20", 32, 32, 16}, {"r20", 64, 64, 8},
                  {"r20", 1, 16, 28},  {"r20", 3, 16, 32},
                  {"seed", 1, 32, 28}, {"seed", 32, 64, 14}};
    static const lam_conv_path paths[4] = {LAM_CONV_PATH_IM2COL, LAM_CONV_PATH_IMPLICIT,
                                           LAM_CONV_PATH_WINOGRAD, LAM_CONV_PATH_WINOGRAD4};
    static const char *const names[4] = {"im2col", "impl", "wino", "wino4"};
    static const char *const pairs[3] = {"impl/im2col", "wino/impl", "wino4/wino"};
    const int best = lam__best_isa();
    if (best < LAM_ISA_AVX2) {
        return; /* no implicit path to compare */
    }
    /* both sides are fast kernels: time them on the same batch, whatever the FLOP budget */
    bench_opts po = *o;
    po.ref_budget = INFINITY;
    for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) {
        if (o->quick && i > 0) {
            break;
        }
        const int64_t ci = stages[i].c_in, co = stages[i].c_out, hw = stages[i].hw;
        path_self s;
        memset(&s, 0, sizeof s);
        s.g = (lam_conv_geom)GEOM(ci, hw, hw, co, 3, 1);
        s.g.n = batch;
        if (lam__conv_geom_init(&s.g) != LAM_OK) {
            continue;
        }
        s.nt = r->env.threads;
        const lam_conv_fusion autof = {LAM_ACT_NONE, NULL, LAM_CONV_CHUNKED, 0,
                                       LAM_CONV_PATH_AUTO, 0};
        int64_t ws = 0;
        for (int k = 0; k < 4; k++) {
            const lam_conv_fusion fk = {LAM_ACT_NONE, NULL, LAM_CONV_CHUNKED, 0, paths[k], 0};
            const int64_t wk = lam__conv2d_fused_workspace(&s.g, &fk, s.nt);
            ws = wk > ws ? wk : ws;
        }
        const int64_t nx = batch * ci * hw * hw, ny = batch * co * hw * hw, nw = co * ci * 9;
        for (int c = 0; c < PATH_COPIES; c++) {
            s.x[c] = bench_floats(nx);
            s.dy[c] = bench_floats(ny);
            bench_fill(s.x[c], nx, 41); /* the same values: both paths' outputs compare */
            bench_fill(s.dy[c], ny, 43);
        }
        s.w = bench_floats(nw);
        s.ws = bench_floats(ws);
        const int64_t nout = ny > nx + nw ? ny : nx + nw; /* y, or dx and dW */
        s.out[0] = bench_floats(nout);
        s.out[1] = bench_floats(nout);
        bench_fill(s.w, nw, 42);
        const double flops = 2.0 * (double)batch * co * s.g.oh * s.g.ow * ci * 9;
        int failed = 0;
        for (int pair = 0; pair < 3 && !failed; pair++) {
            /* implicit against im2col, Winograd against implicit, F(4x4) against F(2x2) */
            for (int k = 0; k < 2; k++) {
                s.f[k] = (lam_conv_fusion){LAM_ACT_NONE, NULL, LAM_CONV_CHUNKED, 0,
                                           paths[pair + 1 - k], 0};
            }
            for (int bwd = 0; bwd <= 1 && !failed; bwd++) {
                const char *op = bwd ? "conv_path_bwd" : "conv_path_fwd";
                if (!bench_want(o, op)) {
                    continue;
                }
                char shape[80];
                snprintf(shape, sizeof shape, "%s %lld>%lldx%lldx%lld n%lld %s auto:%s",
                         stages[i].net, (long long)ci, (long long)co, (long long)hw,
                         (long long)hw, (long long)batch, pairs[pair],
                         names[lam__conv_path_auto(&s.g, &autof, s.nt, bwd)]);
                s.bwd = bwd;
                failed = bench_row(r, op, shape, bwd ? 2.0 * flops : flops, &kc, &s, batch,
                                   &po) != 0;
            }
        }
        for (int c = 0; c < PATH_COPIES; c++) {
            free(s.x[c]);
            free(s.dy[c]);
        }
        free(s.w);
        free(s.ws);
        free(s.out[0]);
        free(s.out[1]);
    }
}
