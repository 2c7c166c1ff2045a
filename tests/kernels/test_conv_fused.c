/*
 * Fused convolution blocks, fast vs naive twin, over every geometry of tests/shapes.h plus a
 * batch of 37 (several LAM_CONV_GROUP groups, a partial chunk):
 *  - y = pool(act(conv(x) + b)) for act in {none, relu} and pool in {none, 2x2 stride 2
 *    (the SIMD path), 3x3 stride 2 pad 1 (the general path)}, both strategies (chunked,
 *    batched); integer inputs must agree exactly (signed zeros aside), uniform ones within
 *    atol = 1e-5*sqrt(K), rtol = 1e-4; on integers the argmax agrees wherever y > 0;
 *  - backward (dx, dw and db accumulating onto nonzero values) from the fast forward's y and
 *    argmax, so both twins route the gradient through the same taps;
 *  - bitwise the same results for nt = 1, 2 and 3, per strategy;
 *  - dx = NULL (first layer) and db without dw.
 * The generated rows of the table run (none, no pool) and (relu, 2x2) only, for time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "harness.h"
#include "kernels.h"
#include "shapes.h"

#define SEED 20261203u

/* Integers (ints 1): exact up to the sign of zero (relu(-0) and max over zeros may differ in
 * it). ints 2: integers through Winograd F(4x4, 3x3), whose sixths are inexact: within
 * 1e-2, where a slip in the taps costs whole units. */
static void compare(const char *what, const float *got, const float *want, int64_t n, int ints,
                    int64_t red_len)
{
    if (ints == 2) {
        t_close(what, got, want, n, 1e-2, 0.0);
    } else if (ints) {
        t_close(what, got, want, n, 0.0, 0.0);
    } else {
        t_close(what, got, want, n, 1e-5 * sqrt((double)(red_len > 0 ? red_len : 1)), 1e-4);
    }
}

typedef struct bufs {
    int64_t xn, yn, wn, ws_n, wsr_n;
    float *x, *w, *b, *dy, *dw0, *db0;
    float *y1, *y2, *dx1, *dx2, *dw1, *dw2, *db1, *db2, *ws, *wsr;
    int32_t *a1, *a2;
} bufs;

static void bufs_alloc(bufs *B, const lam_conv_geom *g, const lam_conv_fusion *f)
{
    const int64_t cig = g->c_in / g->groups;
    const int64_t ohw = f->pool != NULL ? f->pool->oh * f->pool->ow : g->oh * g->ow;
    B->xn = g->n * g->c_in * g->h * g->w;
    B->yn = g->n * g->c_out * ohw;
    B->wn = g->c_out * cig * g->kh * g->kw;
    B->ws_n = lam__conv2d_fused_workspace(g, f, 3);
    B->wsr_n = lam__conv2d_fused_workspace_ref(g, f, 1);
    float **fl[] = {&B->x, &B->dx1, &B->dx2};
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
        *fl[i] = t_alloc_floats(B->xn);
    }
    float **yl[] = {&B->dy, &B->y1, &B->y2};
    for (size_t i = 0; i < sizeof yl / sizeof yl[0]; i++) {
        *yl[i] = t_alloc_floats(B->yn);
    }
    float **wl[] = {&B->w, &B->dw0, &B->dw1, &B->dw2};
    for (size_t i = 0; i < sizeof wl / sizeof wl[0]; i++) {
        *wl[i] = t_alloc_floats(B->wn);
    }
    float **bl[] = {&B->b, &B->db0, &B->db1, &B->db2};
    for (size_t i = 0; i < sizeof bl / sizeof bl[0]; i++) {
        *bl[i] = t_alloc_floats(g->c_out);
    }
    B->ws = t_alloc_floats(B->ws_n);
    B->wsr = t_alloc_floats(B->wsr_n);
    B->a1 = t_alloc_ints(B->yn);
    B->a2 = t_alloc_ints(B->yn);
}

static void bufs_free(bufs *B)
{
    float *all[] = {B->x,   B->w,   B->b,   B->dy,  B->dw0, B->db0, B->y1, B->y2, B->dx1,
                    B->dx2, B->dw1, B->dw2, B->db1, B->db2, B->ws,  B->wsr};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(all[i]);
    }
    free(B->a1);
    free(B->a2);
}

static void reset_grads(const lam_conv_geom *g, bufs *B)
{
    memcpy(B->dw1, B->dw0, (size_t)B->wn * sizeof(float));
    memcpy(B->dw2, B->dw0, (size_t)B->wn * sizeof(float));
    memcpy(B->db1, B->db0, (size_t)g->c_out * sizeof(float));
    memcpy(B->db2, B->db0, (size_t)g->c_out * sizeof(float));
}

static void fast_and_ref(const lam_conv_geom *g, const lam_conv_fusion *f, bufs *B,
                         const char *label, int ints)
{
    char what[360];
    const int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    const int64_t k = cig * g->kh * g->kw;
    const int f4y = ints && lam__conv_path_auto(g, f, 2, 0) == 3;
    const int f4x = ints && lam__conv_path_auto(g, f, 2, 1) == 3;
    lam__conv2d_fused_fwd(g, f, B->x, B->w, B->b, B->y1, B->a1, B->ws, 2);
    lam__conv2d_fused_fwd_ref(g, f, B->x, B->w, B->b, B->y2, B->a2, B->wsr, 1);
    snprintf(what, sizeof what, "fused fwd %s", label);
    compare(what, B->y1, B->y2, B->yn, ints + f4y, k + 1);
    /* (F(4x4, 3x3)'s last bits break the integers' ties in other places) */
    if (ints && !f4y && f->pool != NULL) {
        int64_t bad = -1;
        for (int64_t i = 0; i < B->yn && bad < 0; i++) {
            bad = B->y1[i] > 0.0f && B->a1[i] != B->a2[i] ? i : -1;
        }
        T_CHECK(bad < 0, "fused argmax %s differs at [%lld]", label, (long long)bad);
    }

    /* backward from the fast forward's y and argmax for both twins */
    reset_grads(g, B);
    lam__conv2d_fused_bwd(g, f, B->x, B->w, B->y1, B->a1, B->dy, B->dx1, B->dw1, B->db1, B->ws,
                          2);
    lam__conv2d_fused_bwd_ref(g, f, B->x, B->w, B->y1, B->a1, B->dy, B->dx2, B->dw2, B->db2,
                              B->wsr, 1);
    snprintf(what, sizeof what, "fused bwd dx %s", label);
    compare(what, B->dx1, B->dx2, B->xn, ints + f4x, cog * g->kh * g->kw);
    snprintf(what, sizeof what, "fused bwd dw %s", label);
    compare(what, B->dw1, B->dw2, B->wn, ints, g->n * g->oh * g->ow + 1);
    snprintf(what, sizeof what, "fused bwd db %s", label);
    compare(what, B->db1, B->db2, g->c_out, ints, g->n * g->oh * g->ow + 1);

    /* a second consumer's share, as a model adds it: dx += the input gradient */
    lam_conv_fusion fa = *f;
    fa.dx_acc = 1;
    memcpy(B->dx1, B->x, (size_t)B->xn * sizeof(float));
    memcpy(B->dx2, B->x, (size_t)B->xn * sizeof(float));
    lam__conv2d_fused_bwd(g, &fa, B->x, B->w, B->y1, B->a1, B->dy, B->dx1, NULL, NULL, B->ws, 2);
    lam__conv2d_fused_bwd_ref(g, &fa, B->x, B->w, B->y1, B->a1, B->dy, B->dx2, NULL, NULL,
                              B->wsr, 1);
    snprintf(what, sizeof what, "fused bwd dx += %s", label);
    compare(what, B->dx1, B->dx2, B->xn, ints + f4x, cog * g->kh * g->kw + 1);

    /* first layer: no dx; and the bias gradient alone */
    reset_grads(g, B);
    lam__conv2d_fused_bwd(g, f, B->x, B->w, B->y1, B->a1, B->dy, NULL, NULL, B->db1, B->ws, 2);
    lam__conv2d_fused_bwd_ref(g, f, B->x, B->w, B->y1, B->a1, B->dy, NULL, NULL, B->db2,
                              B->wsr, 1);
    snprintf(what, sizeof what, "fused bwd db alone, dx NULL %s", label);
    compare(what, B->db1, B->db2, g->c_out, ints, g->n * g->oh * g->ow + 1);
}

static void threads(const lam_conv_geom *g, const lam_conv_fusion *f, bufs *B,
                    const char *label)
{
    char what[360];
    lam__conv2d_fused_fwd(g, f, B->x, B->w, B->b, B->y1, B->a1, B->ws, 1);
    reset_grads(g, B);
    lam__conv2d_fused_bwd(g, f, B->x, B->w, B->y1, B->a1, B->dy, B->dx1, B->dw1, B->db1, B->ws,
                          1);
    for (int nt = 2; nt <= 3; nt++) {
        lam__conv2d_fused_fwd(g, f, B->x, B->w, B->b, B->y2, B->a2, B->ws, nt);
        snprintf(what, sizeof what, "fused fwd nt=1 vs nt=%d %s", nt, label);
        t_equal(what, B->y2, B->y1, B->yn);
        T_CHECK(memcmp(B->a1, B->a2, (size_t)B->yn * sizeof(int32_t)) == 0,
                "fused argmax nt=1 vs nt=%d %s", nt, label);
        memcpy(B->dw2, B->dw0, (size_t)B->wn * sizeof(float));
        memcpy(B->db2, B->db0, (size_t)g->c_out * sizeof(float));
        lam__conv2d_fused_bwd(g, f, B->x, B->w, B->y1, B->a1, B->dy, B->dx2, B->dw2, B->db2,
                              B->ws, nt);
        snprintf(what, sizeof what, "fused bwd nt=1 vs nt=%d %s", nt, label);
        t_equal(what, B->dx2, B->dx1, B->xn);
        t_equal(what, B->dw2, B->dw1, B->wn);
        t_equal(what, B->db2, B->db1, g->c_out);
    }
}

static void run_geometry(const t_conv_shape *s, int idx)
{
    lam_conv_geom g = t_conv_geom(s);
    if (!T_CHECK(lam__conv_geom_init(&g) == LAM_OK, "geometry #%d refused", idx)) {
        return;
    }
    /* pools: none, 2x2 stride 2, 3x3 stride 2 pad 1 (when the conv output is big enough) */
    const int64_t pools[3][6] = {{0}, {2, 2, 2, 2, 0, 0}, {3, 3, 2, 2, 1, 1}};
    for (int pi = 0; pi < 3; pi++) {
        lam_pool_geom pg = {.n = g.n, .c = g.c_out, .h = g.oh, .w = g.ow};
        if (pi > 0) {
            pg.kh = pools[pi][0];
            pg.kw = pools[pi][1];
            pg.sh = pools[pi][2];
            pg.sw = pools[pi][3];
            pg.ph = pools[pi][4];
            pg.pw = pools[pi][5];
            if (g.oh < pg.kh || g.ow < pg.kw || lam__pool_geom_init(&pg) != LAM_OK) {
                continue;
            }
        }
        for (int act = 0; act <= 1; act++) {
            /* generated rows: (none, no pool) and (relu, 2x2) keep the suite fast */
            if (s->name[0] == '\0' && (pi == 2 || act != pi)) {
                continue;
            }
            for (int st = 0; st <= 1; st++) {
                if (st == 1 && pi == 2) {
                    continue; /* the general pool path does not depend on the strategy */
                }
                lam_conv_fusion f = {act ? LAM_ACT_RELU : LAM_ACT_NONE, pi > 0 ? &pg : NULL,
                                     st ? LAM_CONV_BATCHED : LAM_CONV_CHUNKED, 0,
                                     LAM_CONV_PATH_AUTO, 0};
                char label[300];
                snprintf(label, sizeof label, "#%d %s n%lld %lldx%lld->%lldx%lld %s pool%d %s",
                         idx, s->name, (long long)g.n, (long long)g.h, (long long)g.w,
                         (long long)g.oh, (long long)g.ow, act ? "relu" : "none", pi,
                         st ? "batched" : "chunked");
                bufs B;
                bufs_alloc(&B, &g, &f);
                const t_pass_data pd = {B.x,   B.w,  B.b,  B.dy,    B.dw0,
                                        B.db0, B.xn, B.wn, g.c_out, B.yn};
                /* uniform inputs for the chunked strategy only: the batched one is checked
                 * exactly on integers, and its GEMMs round like the chunked ones */
                for (int ints = 1; ints >= (st ? 1 : 0); ints--) {
                    t_fill_pass(&pd, ints, SEED, 1);
                    fast_and_ref(&g, &f, &B, label, ints);
                }
                /* uniform data: on integers any summation order is exact */
                t_fill_pass(&pd, 0, SEED, 1);
                threads(&g, &f, &B, label);
                bufs_free(&B);
            }
        }
    }
}

int main(void)
{
#ifdef _OPENMP
    /* The host runs BLAS on one thread. With nt = 1 lamina makes its BLAS calls outside any
     * parallel region, where the OpenMP OpenBLAS uses the host's thread count, and threaded
     * sgemm differs from single-threaded in the last bits (OPENBLAS_CORETYPE=Haswell); the
     * nt = 2, 3 passes call BLAS inside lamina's regions, single-threaded whatever this is. */
    omp_set_num_threads(1);
#endif
    printf("test_conv_fused: seed %u, %d geometries + 1\n", SEED, T_N_CONV_SHAPES);
    for (int i = 0; i < T_N_CONV_SHAPES; i++) {
        run_geometry(&t_conv_shapes[i], i);
    }
    /* several batched groups (LAM_CONV_GROUP = 16) and a partial last chunk */
    const t_conv_shape big = {"n37-groups", 37, 2, 9, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    run_geometry(&big, T_N_CONV_SHAPES);
    return t_exit("conv_fused");
}
