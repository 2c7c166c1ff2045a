/*
 * Pooling, activations, bias+activation, bias gradient and linear: fast vs naive twin.
 * Integer inputs must match bitwise wherever the math is exact; uniform inputs within
 * atol = 1e-5*sqrt(K), rtol = 1e-4 (transcendentals: atol 1e-6, rtol 1e-5). Also: max-pool
 * ties go to the first element, padding never wins, NaN propagates, results do not depend
 * on the thread count, and in-place activations equal out-of-place ones.
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

#define SEED 99173u

/* ------------------------------------------------------------------ pooling */

static void pool_case(lam_pool_geom g, int ints)
{
    char what[200];
    if (!T_CHECK(lam__pool_geom_init(&g) == LAM_OK, "pool geometry %lldx%lld k%lld refused",
                 (long long)g.h, (long long)g.w, (long long)g.kh)) {
        return;
    }
    char label[120];
    snprintf(label, sizeof label, "n%lld c%lld %lldx%lld k%lldx%lld s%lld,%lld p%lld,%lld %s",
             (long long)g.n, (long long)g.c, (long long)g.h, (long long)g.w, (long long)g.kh,
             (long long)g.kw, (long long)g.sh, (long long)g.sw, (long long)g.ph,
             (long long)g.pw, ints ? "int" : "uniform");
    const int64_t xn = g.n * g.c * g.h * g.w, yn = g.n * g.c * g.oh * g.ow;
    float *x = t_alloc_floats(xn), *dy = t_alloc_floats(yn), *y1 = t_alloc_floats(yn), *y2 = t_alloc_floats(yn);
    float *dx1 = t_alloc_floats(xn), *dx2 = t_alloc_floats(xn);
    int32_t *a1 = t_alloc_ints(yn), *a2 = t_alloc_ints(yn);
    t_fill_case(x, xn, ints, SEED, 1);
    t_fill_case(dy, yn, ints, SEED, 2);

    lam__maxpool_fwd(&g, x, y1, a1, 2);
    lam__maxpool_fwd_ref(&g, x, y2, a2, 1);
    snprintf(what, sizeof what, "maxpool fwd %s", label);
    t_equal(what, y1, y2, yn);
    int same = memcmp(a1, a2, (size_t)yn * sizeof(int32_t)) == 0;
    T_CHECK(same, "maxpool argmax differs from ref (ties -> first) %s", label);

    lam__maxpool_bwd(&g, dy, a1, dx1, 2);
    lam__maxpool_bwd_ref(&g, dy, a1, dx2, 1);
    snprintf(what, sizeof what, "maxpool bwd %s", label);
    if (ints) {
        t_equal(what, dx1, dx2, xn);
    } else {
        t_close(what, dx1, dx2, xn, 1e-5 * sqrt((double)(g.kh * g.kw)), 1e-4);
    }

    lam__avgpool_fwd(&g, x, y1, 2);
    lam__avgpool_fwd_ref(&g, x, y2, 1);
    snprintf(what, sizeof what, "avgpool fwd %s", label);
    t_close(what, y1, y2, yn, 1e-5 * sqrt((double)(g.kh * g.kw)), 1e-4);
    lam__avgpool_bwd(&g, dy, dx1, 2);
    lam__avgpool_bwd_ref(&g, dy, dx2, 1);
    snprintf(what, sizeof what, "avgpool bwd %s", label);
    t_close(what, dx1, dx2, xn, 1e-5 * sqrt((double)(g.kh * g.kw)), 1e-4);

    /* Thread-count independence: planes are independent, so nt = 1 and 3 agree bitwise. */
    lam__avgpool_bwd(&g, dy, dx2, 1);
    lam__avgpool_bwd(&g, dy, dx1, 3);
    snprintf(what, sizeof what, "avgpool bwd nt=1 vs nt=3 %s", label);
    t_equal(what, dx1, dx2, xn);
    lam__maxpool_fwd(&g, x, y2, a2, 1);
    snprintf(what, sizeof what, "maxpool fwd nt=1 vs nt=2 %s", label);
    lam__maxpool_fwd(&g, x, y1, a1, 2);
    t_equal(what, y1, y2, yn);

    free(x);
    free(dy);
    free(y1);
    free(y2);
    free(dx1);
    free(dx2);
    free(a1);
    free(a2);
}

static void test_pool(void)
{
    /* n, c, h, w, kh, kw, sh, sw, ph, pw */
    const int64_t shapes[][10] = {
        {2, 3, 28, 28, 2, 2, 2, 2, 0, 0}, {3, 2, 7, 7, 2, 2, 2, 2, 0, 0},
        {2, 2, 9, 9, 3, 3, 2, 2, 1, 1},   {1, 1, 5, 5, 3, 3, 1, 1, 1, 1},
        {5, 4, 6, 7, 3, 2, 1, 2, 1, 1},   {1, 3, 1, 1, 1, 1, 1, 1, 0, 0},
        {2, 2, 8, 8, 4, 4, 4, 4, 2, 2},   {3, 1, 11, 5, 5, 3, 3, 2, 2, 1},
        {2, 3, 10, 10, 3, 3, 3, 3, 0, 0}, {4, 2, 2, 3, 2, 3, 1, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int64_t *s = shapes[i];
        lam_pool_geom g = {.n = s[0], .c = s[1], .h = s[2], .w = s[3], .kh = s[4],
                           .kw = s[5], .sh = s[6], .sw = s[7], .ph = s[8], .pw = s[9]};
        pool_case(g, 0);
        pool_case(g, 1);
    }

    /* Hand cases on one 4x4 plane, 3x3 windows, stride 1, pad 1. */
    lam_pool_geom g = {.n = 1, .c = 1, .h = 4, .w = 4, .kh = 3, .kw = 3, .sh = 1, .sw = 1,
                       .ph = 1, .pw = 1};
    T_CHECK(lam__pool_geom_init(&g) == LAM_OK && g.oh == 4 && g.ow == 4, "4x4 pool geometry");
    float x[16], y[16];
    int32_t am[16];
    for (int i = 0; i < 16; i++) {
        x[i] = -5.0f - (float)i;
    }
    lam__maxpool_fwd(&g, x, y, am, 1);
    int neg = 1;
    for (int i = 0; i < 16; i++) {
        neg &= y[i] < 0.0f;
    }
    T_CHECK(neg, "maxpool: zero padding won over negative inputs");
    for (int i = 0; i < 16; i++) {
        x[i] = 1.0f;
    }
    lam__maxpool_fwd(&g, x, y, am, 1);
    /* All ties: the first real pixel of each window in row-major order. */
    int first = 1;
    for (int oy = 0; oy < 4; oy++) {
        for (int ox = 0; ox < 4; ox++) {
            int iy = oy > 0 ? oy - 1 : 0, ix = ox > 0 ? ox - 1 : 0;
            first &= am[oy * 4 + ox] == iy * 4 + ix;
        }
    }
    T_CHECK(first, "maxpool: ties must go to the first element");
    x[5] = NAN;
    lam__maxpool_fwd(&g, x, y, am, 1);
    T_CHECK(isnan(y[0]) && am[0] == 5 && y[15] == 1.0f, "maxpool: NaN must propagate");
}

/* Plane kernels with the fused relu and mask, on 2x2/stride-2 widths around the SIMD block
 * of 4 windows (full blocks, overlapping last block, scalar only) and odd heights, plus the
 * general path; the twin is maxpool_ref followed by relu, and maxpool_bwd_ref on dy masked
 * by y > 0. NaN and ties inside 2x2 windows at every tap position. */
static void test_pool_planes(void)
{
    /* every 2x2 path: scalar, SSE2 and, on a CPU that has it, AVX-512 */
    const int max_isa = lam__best_isa();
    /* h, w, k, s, p; widths around the SIMD blocks (4 and 16 windows) */
    const int64_t shapes[][5] = {{8, 8, 2, 2, 0},  {5, 9, 2, 2, 0},   {6, 10, 2, 2, 0},
                                 {4, 5, 2, 2, 0},  {3, 3, 2, 2, 0},   {28, 28, 2, 2, 0},
                                 {14, 15, 2, 2, 0}, {4, 32, 2, 2, 0}, {5, 33, 2, 2, 0},
                                 {3, 70, 2, 2, 0}, {7, 6, 3, 2, 1},   {9, 9, 3, 3, 0}};
    char what[160];
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int64_t *sh = shapes[i];
        lam_pool_geom g = {.n = 1, .c = 1, .h = sh[0], .w = sh[1], .kh = sh[2], .kw = sh[2],
                           .sh = sh[3], .sw = sh[3], .ph = sh[4], .pw = sh[4]};
        if (!T_CHECK(lam__pool_geom_init(&g) == LAM_OK, "plane geometry %zu", i)) {
            continue;
        }
        const int64_t xn = g.h * g.w, yn = g.oh * g.ow;
        float *x = t_alloc_floats(xn), *y1 = t_alloc_floats(yn), *y2 = t_alloc_floats(yn), *dy = t_alloc_floats(yn);
        float *dym = t_alloc_floats(yn), *dx1 = t_alloc_floats(xn), *dx2 = t_alloc_floats(xn);
        int32_t *a1 = t_alloc_ints(yn), *a2 = t_alloc_ints(yn);
        for (int ints = 0; ints <= 1; ints++) {
            t_fill_case(x, xn, ints, SEED, 11 + i);
            t_fill_case(dy, yn, ints, SEED, 12 + i);
            for (int relu = 0; relu <= 1; relu++) {
                for (int isa = LAM_ISA_SCALAR; isa <= max_isa; isa++) {
                    lam__maxpool_plane_fwd_isa(&g, x, relu, y1, a1, isa);
                    lam__maxpool_fwd_ref(&g, x, y2, a2, 1);
                    T_CHECK(memcmp(a1, a2, (size_t)yn * sizeof(int32_t)) == 0,
                            "plane argmax %zu relu %d ints %d isa %d", i, relu, ints, isa);
                    lam__act_fwd_ref(relu ? LAM_ACT_RELU : LAM_ACT_NONE, 0.0f, yn, y2, y2);
                    snprintf(what, sizeof what, "plane fwd %zu relu %d ints %d isa %d", i, relu,
                             ints, isa);
                    t_equal(what, y1, y2, yn);
                    for (int64_t j = 0; j < yn; j++) {
                        dym[j] = relu && !(y1[j] > 0.0f) ? 0.0f : dy[j];
                    }
                    memset(dx1, 0xff, (size_t)xn * sizeof(float)); /* NaN: unwritten shows */
                    lam__maxpool_plane_bwd_isa(&g, dy, a1, relu ? y1 : NULL, dx1, isa);
                    lam__maxpool_bwd_ref(&g, dym, a1, dx2, 1);
                    snprintf(what, sizeof what, "plane bwd %zu relu %d ints %d isa %d", i, relu,
                             ints, isa);
                    t_equal(what, dx1, dx2, xn);
                }
            }
        }
        free(x);
        free(y1);
        free(y2);
        free(dy);
        free(dym);
        free(dx1);
        free(dx2);
        free(a1);
        free(a2);
    }

    /* 2x2 windows over a 2x16 plane (4 SIMD blocks): the maximum, a tie or a NaN at each
     * tap position, with -inf elsewhere */
    lam_pool_geom g = {.n = 1, .c = 1, .h = 2, .w = 16, .kh = 2, .kw = 2, .sh = 2, .sw = 2};
    T_CHECK(lam__pool_geom_init(&g) == LAM_OK && g.ow == 8, "2x16 geometry");
    float x[32], y[8];
    int32_t am[8];
    const int32_t tap[4] = {0, 1, 16, 17};
    for (int kind = 0; kind < 3; kind++) {
        for (int t = 0; t < 4; t++) {
            for (int i = 0; i < 32; i++) {
                x[i] = -INFINITY;
            }
            for (int ox = 0; ox < 8; ox++) {
                const int32_t at = 2 * ox + tap[(t + ox) % 4];
                x[at] = kind == 2 ? NAN : 3.0f;
                if (kind == 1) { /* a tie at a later tap: the earlier one wins */
                    x[2 * ox + tap[3]] = 3.0f;
                }
            }
            for (int isa = LAM_ISA_SCALAR; isa <= max_isa; isa++) {
                lam__maxpool_plane_fwd_isa(&g, x, 0, y, am, isa);
                int ok = 1;
                for (int ox = 0; ox < 8; ox++) {
                    const int32_t at = 2 * ox + tap[(t + ox) % 4];
                    ok &= am[ox] == at && (kind == 2 ? isnan(y[ox]) : y[ox] == 3.0f);
                }
                T_CHECK(ok, "2x2 windows, isa %d: %s at tap %d", isa,
                        kind == 0 ? "max" : kind == 1 ? "tie" : "NaN", t);
            }
        }
    }
}

/* -------------------------------------------------------------- activations */

static const char *act_name(lam_act a)
{
    static const char *names[] = {"none", "relu", "leaky_relu", "sigmoid", "tanh", "gelu"};
    return names[a];
}

/* relu, leaky and none are exact in float; the others go through libm. */
static int act_exact(lam_act a)
{
    return a == LAM_ACT_NONE || a == LAM_ACT_RELU || a == LAM_ACT_LEAKY_RELU;
}

static void act_compare(const char *what, lam_act a, const float *got, const float *want,
                        int64_t n)
{
    if (act_exact(a)) {
        t_equal(what, got, want, n);
    } else {
        t_close(what, got, want, n, 1e-6, 1e-5);
    }
}

static void test_act(void)
{
    const int64_t n = 1200;
    float *x = t_alloc_floats(n), *y1 = t_alloc_floats(n), *y2 = t_alloc_floats(n), *dy = t_alloc_floats(n);
    float *dx1 = t_alloc_floats(n), *dx2 = t_alloc_floats(n), *tmp = t_alloc_floats(n);
    t_fill_uniform(x, n, -6.0f, 6.0f, SEED, 10);
    t_fill_uniform(dy, n, -1.0f, 1.0f, SEED, 11);
    const float special[] = {0.0f, -0.0f, 1e-7f, -1e-7f, 20.0f, -20.0f, 80.0f, -80.0f,
                             1e-3f, -1e-3f, 3.0f, -3.0f};
    memcpy(x, special, sizeof special);
    const lam_act acts[] = {LAM_ACT_NONE, LAM_ACT_RELU, LAM_ACT_LEAKY_RELU, LAM_ACT_LEAKY_RELU,
                            LAM_ACT_SIGMOID, LAM_ACT_TANH, LAM_ACT_GELU};
    const float params[] = {0.0f, 0.0f, 0.01f, 0.2f, 0.0f, 0.0f, 0.0f};
    char what[120];
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        const lam_act a = acts[i];
        const float p = params[i];
        lam__act_fwd(a, p, n, x, y1);
        lam__act_fwd_ref(a, p, n, x, y2);
        snprintf(what, sizeof what, "act fwd %s(%g)", act_name(a), (double)p);
        act_compare(what, a, y1, y2, n);

        memcpy(tmp, x, (size_t)n * sizeof(float));
        lam__act_fwd(a, p, n, tmp, tmp);
        snprintf(what, sizeof what, "act fwd in place %s(%g)", act_name(a), (double)p);
        t_equal(what, tmp, y1, n);

        lam__act_bwd(a, p, n, x, y1, dy, dx1);
        lam__act_bwd_ref(a, p, n, x, y2, dy, dx2);
        snprintf(what, sizeof what, "act bwd %s(%g)", act_name(a), (double)p);
        act_compare(what, a, dx1, dx2, n);

        lam__act_bwd(a, p, n, x, NULL, dy, dx2);
        snprintf(what, sizeof what, "act bwd y=NULL %s(%g)", act_name(a), (double)p);
        t_close(what, dx2, dx1, n, 1e-6, 1e-5);

        memcpy(tmp, dy, (size_t)n * sizeof(float));
        lam__act_bwd(a, p, n, x, y1, tmp, tmp);
        snprintf(what, sizeof what, "act bwd in place %s(%g)", act_name(a), (double)p);
        t_equal(what, tmp, dx1, n);
    }
    /* Spot values, so fast and ref cannot agree on a wrong formula. */
    const float xs[3] = {-2.0f, 0.5f, 1.0f};
    float ys[3];
    lam__act_fwd(LAM_ACT_LEAKY_RELU, 0.1f, 3, xs, ys);
    T_CHECK(ys[0] == -0.2f && ys[1] == 0.5f, "leaky relu(-2; 0.1) = %g", (double)ys[0]);
    lam__act_fwd(LAM_ACT_GELU, 0.0f, 3, xs, ys);
    T_CHECK(fabs(ys[2] - 0.8413447460685429) < 1e-6, "gelu(1) = %.9g", (double)ys[2]);
    lam__act_fwd(LAM_ACT_SIGMOID, 0.0f, 3, xs, ys);
    T_CHECK(fabs(ys[0] - 0.11920292202211755) < 1e-7, "sigmoid(-2) = %.9g", (double)ys[0]);
    free(x);
    free(y1);
    free(y2);
    free(dy);
    free(dx1);
    free(dx2);
    free(tmp);
}

/* ---------------------------------------------------------------------- bias */

static void test_bias(void)
{
    const int64_t shapes[][3] = {{3, 5, 7}, {4, 10, 1}, {2, 3, 1000}, {1, 1, 1}, {6, 33, 17}};
    const lam_act acts[] = {LAM_ACT_NONE, LAM_ACT_RELU, LAM_ACT_LEAKY_RELU, LAM_ACT_SIGMOID,
                            LAM_ACT_TANH, LAM_ACT_GELU};
    char what[160];
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t n = shapes[si][0], c = shapes[si][1], hw = shapes[si][2];
        const int64_t total = n * c * hw;
        float *y1 = t_alloc_floats(total), *y2 = t_alloc_floats(total), *b = t_alloc_floats(c);
        float *db1 = t_alloc_floats(c), *db2 = t_alloc_floats(c);
        t_fill_uniform(b, c, -1.0f, 1.0f, SEED, 21);
        for (size_t ai = 0; ai < sizeof acts / sizeof acts[0]; ai++) {
            for (int with_b = 0; with_b <= 1; with_b++) {
                t_fill_uniform(y1, total, -3.0f, 3.0f, SEED, 20);
                memcpy(y2, y1, (size_t)total * sizeof(float));
                lam__bias_act(n, c, hw, with_b ? b : NULL, acts[ai], 0.1f, y1);
                lam__bias_act_ref(n, c, hw, with_b ? b : NULL, acts[ai], 0.1f, y2);
                snprintf(what, sizeof what, "bias_act %s b=%s (%lld,%lld,%lld)",
                         act_name(acts[ai]), with_b ? "yes" : "NULL", (long long)n,
                         (long long)c, (long long)hw);
                act_compare(what, acts[ai], y1, y2, total);
            }
        }
        for (int ints = 0; ints <= 1; ints++) {
            t_fill_case(y1, total, ints, SEED, 22);
            t_fill_case(db1, c, ints, SEED, 23);
            memcpy(db2, db1, (size_t)c * sizeof(float));
            lam__bias_grad(n, c, hw, y1, db1);
            lam__bias_grad_ref(n, c, hw, y1, db2);
            snprintf(what, sizeof what, "bias_grad %s (%lld,%lld,%lld)",
                     ints ? "int" : "uniform", (long long)n, (long long)c, (long long)hw);
            if (ints) {
                t_equal(what, db1, db2, c);
            } else {
                t_close(what, db1, db2, c, 1e-5 * sqrt((double)(n * hw + 1)), 1e-4);
            }
        }
        free(y1);
        free(y2);
        free(b);
        free(db1);
        free(db2);
    }
}

/* -------------------------------------------------------------------- linear */

static void linear_case(int64_t n, int64_t in, int64_t out, int ints)
{
    char what[160];
    float *x = t_alloc_floats(n * in), *w = t_alloc_floats(out * in), *b = t_alloc_floats(out);
    float *dy = t_alloc_floats(n * out), *y1 = t_alloc_floats(n * out), *y2 = t_alloc_floats(n * out);
    float *dx1 = t_alloc_floats(n * in), *dx2 = t_alloc_floats(n * in);
    float *dw1 = t_alloc_floats(out * in), *dw2 = t_alloc_floats(out * in);
    float *db1 = t_alloc_floats(out), *db2 = t_alloc_floats(out);
    t_fill_pass(&(t_pass_data){x, w, b, dy, dw1, db1, n * in, out * in, out, n * out}, ints, SEED,
                31);
    memcpy(dw2, dw1, (size_t)(out * in) * sizeof(float));
    memcpy(db2, db1, (size_t)out * sizeof(float));
    const char *kind = ints ? "int" : "uniform";
#define CMP(name, got, want, cnt, red)                                                        \
    do {                                                                                      \
        snprintf(what, sizeof what, "linear %s %s n%lld in%lld out%lld", name, kind,          \
                 (long long)n, (long long)in, (long long)out);                                \
        if (ints) {                                                                           \
            t_equal(what, got, want, cnt);                                                    \
        } else {                                                                              \
            t_close(what, got, want, cnt, 1e-5 * sqrt((double)(red)), 1e-4);                 \
        }                                                                                     \
    } while (0)
    lam__linear_fwd(n, in, out, x, w, b, y1);
    lam__linear_fwd_ref(n, in, out, x, w, b, y2);
    CMP("fwd", y1, y2, n * out, in + 1);
    lam__linear_fwd(n, in, out, x, w, NULL, y1);
    lam__linear_fwd_ref(n, in, out, x, w, NULL, y2);
    CMP("fwd b=NULL", y1, y2, n * out, in);
    lam__linear_bwd(n, in, out, x, w, dy, dx1, dw1, db1);
    lam__linear_bwd_ref(n, in, out, x, w, dy, dx2, dw2, db2);
    CMP("bwd dx", dx1, dx2, n * in, out);
    CMP("bwd dw", dw1, dw2, out * in, n + 1);
    CMP("bwd db", db1, db2, out, n + 1);
    lam__linear_bwd(n, in, out, x, w, dy, NULL, dw1, NULL);
    lam__linear_bwd_ref(n, in, out, x, w, dy, NULL, dw2, NULL);
    CMP("bwd dx=NULL db=NULL (dw accumulates)", dw1, dw2, out * in, 2 * n + 1);
#undef CMP
    float *all[] = {x, w, b, dy, y1, y2, dx1, dx2, dw1, dw2, db1, db2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(all[i]);
    }
}

/* Split passes with a folded relu: fast vs twin (backward from the fast y, on separate copies
 * of dy since relu masks it in place), and bitwise the same for nt = 1, 2, 3. */
static void linear_fused_case(int64_t n, int64_t in, int64_t out, lam_act act, int ints)
{
    char what[160];
    float *x = t_alloc_floats(n * in), *w = t_alloc_floats(out * in), *b = t_alloc_floats(out);
    float *dy = t_alloc_floats(n * out), *dy1 = t_alloc_floats(n * out), *dy2 = t_alloc_floats(n * out);
    float *y1 = t_alloc_floats(n * out), *y2 = t_alloc_floats(n * out);
    float *dx1 = t_alloc_floats(n * in), *dx2 = t_alloc_floats(n * in);
    float *dw0 = t_alloc_floats(out * in), *dw1 = t_alloc_floats(out * in), *dw2 = t_alloc_floats(out * in);
    float *db0 = t_alloc_floats(out), *db1 = t_alloc_floats(out), *db2 = t_alloc_floats(out);
    t_fill_pass(&(t_pass_data){x, w, b, dy, dw0, db0, n * in, out * in, out, n * out}, ints, SEED,
                41);
    const char *kind = ints ? "int" : "uniform";
    snprintf(what, sizeof what, "linear fused %s act %d n%lld in%lld out%lld", kind, (int)act,
             (long long)n, (long long)in, (long long)out);
    lam__linear_fused_fwd(n, in, out, act, x, w, b, y1, 2);
    lam__linear_fused_fwd_ref(n, in, out, act, x, w, b, y2, 1);
    t_close(what, y1, y2, n * out, ints ? 0.0 : 1e-5 * sqrt((double)in + 1), ints ? 0.0 : 1e-4);
    for (int nt = 1; nt <= 3; nt++) {
        memcpy(dy1, dy, (size_t)(n * out) * sizeof(float));
        memcpy(dw1, dw0, (size_t)(out * in) * sizeof(float));
        memcpy(db1, db0, (size_t)out * sizeof(float));
        lam__linear_fused_bwd(n, in, out, act, x, w, y1, dy1, dx1, dw1, db1, nt);
        if (nt == 1) {
            memcpy(dy2, dy, (size_t)(n * out) * sizeof(float));
            memcpy(dw2, dw0, (size_t)(out * in) * sizeof(float));
            memcpy(db2, db0, (size_t)out * sizeof(float));
            lam__linear_fused_bwd_ref(n, in, out, act, x, w, y1, dy2, dx2, dw2, db2, 1);
            const double a = ints ? 0.0 : 1e-5, r = ints ? 0.0 : 1e-4;
            t_close(what, dx1, dx2, n * in, a * sqrt((double)out), r);
            t_close(what, dw1, dw2, out * in, a * sqrt((double)n + 1), r);
            t_close(what, db1, db2, out, a * sqrt((double)n + 1), r);
            /* keep nt = 1 as the reference of the thread check */
            memcpy(dx2, dx1, (size_t)(n * in) * sizeof(float));
            memcpy(dw2, dw1, (size_t)(out * in) * sizeof(float));
            memcpy(db2, db1, (size_t)out * sizeof(float));
            lam__linear_fused_fwd(n, in, out, act, x, w, b, y2, 3);
            t_equal(what, y2, y1, n * out);
        } else {
            t_equal(what, dx1, dx2, n * in);
            t_equal(what, dw1, dw2, out * in);
            t_equal(what, db1, db2, out);
        }
    }
    float *all[] = {x, w, b, dy, dy1, dy2, y1, y2, dx1, dx2, dw0, dw1, dw2, db0, db1, db2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(all[i]);
    }
}

static void test_linear(void)
{
    const int64_t sizes[][3] = {{1, 1, 1}, {7, 13, 5}, {64, 120, 84}, {33, 257, 10},
                                {5, 3136, 120}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        linear_case(sizes[i][0], sizes[i][1], sizes[i][2], 0);
        linear_case(sizes[i][0], sizes[i][1], sizes[i][2], 1);
    }
    /* widths across the column-block rule: 1, 2 and 4 blocks, ragged last blocks; narrow
     * outputs whose forward splits rows instead (4 blocks on threads, 2 ragged ones) */
    const int64_t fused[][3] = {{64, 3136, 120}, {64, 120, 84}, {30, 84, 10}, {3, 1, 1},
                                {9, 300, 70}, {17, 1000, 129}, {512, 128, 10}, {100, 50, 7}};
    for (size_t i = 0; i < sizeof fused / sizeof fused[0]; i++) {
        for (int ints = 0; ints <= 1; ints++) {
            linear_fused_case(fused[i][0], fused[i][1], fused[i][2], LAM_ACT_NONE, ints);
            linear_fused_case(fused[i][0], fused[i][1], fused[i][2], LAM_ACT_RELU, ints);
        }
    }
}

/* Both tables are complete and lam__kernels_for picks the right one. */
static void test_tables(void)
{
    const lam_kernels *f = lam__kernels_for(LAM_KERNELS_FAST);
    const lam_kernels *r = lam__kernels_for(LAM_KERNELS_REF);
    T_CHECK(f == &lam__kernels_fast && r == &lam__kernels_ref, "lam__kernels_for");
    T_CHECK(f->conv2d_fwd == lam__conv2d_fwd && r->conv2d_fwd == lam__conv2d_fwd_ref &&
                f->sgemm == lam__sgemm && r->sgemm == lam__sgemm_ref &&
                r->softmax_xent == lam__softmax_xent_ref,
            "kernel table entries");
    const lam_kernels *t[2] = {f, r};
    for (int i = 0; i < 2; i++) {
        T_CHECK(t[i]->sgemm && t[i]->conv2d_fwd && t[i]->conv2d_bwd_data &&
                    t[i]->conv2d_bwd_weight && t[i]->linear_fwd && t[i]->linear_bwd &&
                    t[i]->maxpool_fwd && t[i]->maxpool_bwd && t[i]->avgpool_fwd &&
                    t[i]->avgpool_bwd && t[i]->act_fwd && t[i]->act_bwd && t[i]->bias_act &&
                    t[i]->bias_grad && t[i]->softmax_xent,
                "kernel table %d has a NULL entry", i);
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
    printf("test_ops: seed %u\n", SEED);
    test_tables();
    test_pool();
    test_pool_planes();
    test_act();
    test_bias();
    test_linear();
    return t_exit("ops");
}
