/*
 * The implicit-GEMM convolution (kernels/conv2d_implicit.c) and Winograd F(2x2, 3x3) and
 * F(4x4, 3x3) (kernels/conv2d_winograd.c) against the im2col one, each forced for every pass
 * through lam_conv_fusion.path, and the window GEMMs the implicit path rests on.
 *
 *  - Window GEMMs: lam__gemm_win_b / lam__gemm_win_a with AVX2 and AVX-512 against their portable
 *    loops, on small integers (every sum exact, so any indexing slip shows as a mismatch), for
 *    row counts 1..17 (every tile height and tail) and column counts across the 16-column
 *    vectors, with and without the ones row, overwriting and adding.
 *  - Whole passes: forward (+ bias, relu, 2x2 max pool), weight and bias gradients and the
 *    input gradient (= and +=), with batches that leave a short last chunk, and for 3x3
 *    kernels widths past 32 (two vectors of Winograd tiles), odd sizes and a 1x1 image. On
 *    integers every path must agree with im2col bitwise everywhere (Winograd's transforms turn
 *    the kernels into quarters, still exact) but F(4x4, 3x3), whose sixths are not exact
 *    (within 1e-3, where a slip costs whole units); on uniform data the implicit forward must
 *    still agree bitwise (same taps, same order), F(2x2, 3x3)'s to 1e-5, F(4x4, 3x3)'s to
 *    1e-4, and the gradients to rounding.
 * Every check runs with each instruction set the CPU has (lam_conv_fusion.isa: AVX2, and
 * AVX-512), Winograd included. Skips (77) on a CPU without AVX2, where the implicit
 * path is never taken.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernels.h"

/* ------------------------------------------------------------- window GEMMs */

static void check_window_gemms(int isa)
{
    /* a 3-channel frame of 6 x 20 with a 3x3 window: 27 rows (+ ones) and 4 x 20 columns
     * (past them the reads would leave the frame; the slack covers the last row's taps) */
    const int64_t chans = 3, hp = 6, wf = 20, plane = hp * wf, kh = 3, kw = 3, np = 4 * wf;
    const int64_t ldc = 96, ldb = 40;
    float *frame = t_alloc_floats(chans * plane + kw - 1);
    float *ones = t_alloc_floats(np), *a = t_alloc_floats(17 * 28), *b = t_alloc_floats(np * ldb);
    float *c1 = t_alloc_floats(28 * ldc), *c2 = t_alloc_floats(28 * ldc);
    t_fill_int(frame, chans * plane, -2, 2, 31, 0);
    t_fill_int(a, 17 * 28, -2, 2, 31, 1);
    t_fill_int(b, np * ldb, -2, 2, 31, 2);
    for (int64_t i = 0; i < np; i++) {
        ones[i] = 1.0f;
    }
    const int64_t ns[] = {1, 15, 16, 17, 33, 48, 49, np - 1, np};
    for (int with_ones = 0; with_ones <= 1; with_ones++) {
        const lam_window win = {frame, chans, plane, wf, kh, kw, with_ones ? ones : NULL};
        const int64_t rows = chans * kh * kw + with_ones;
        /* m: win_b's rows (up to 17), win_a's columns (up to 40: its kernel for three kernel
         * columns works in blocks of 32 and a last block of up to 16) */
        for (int64_t m = 1; m <= 40; m++) {
            for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
                const int64_t n = ns[t];
                for (int add = 0; add <= 1; add++) {
                    char what[128];
                    /* C(m, n) = A(m, rows) * window */
                    t_fill_int(c1, 28 * ldc, -2, 2, 37, (uint64_t)(m * 100 + n));
                    memcpy(c2, c1, (size_t)(28 * ldc) * sizeof(float));
                    if (m <= 17) {
                        lam__gemm_win_b(isa, m, n, a, 28, &win, c1, ldc, add);
                        lam__gemm_win_b(LAM_ISA_SCALAR, m, n, a, 28, &win, c2, ldc, add);
                        snprintf(what, sizeof what, "isa%d win_b m%lld n%lld ones%d add%d",
                                 isa, (long long)m, (long long)n, with_ones, add);
                        t_equal(what, c1, c2, 28 * ldc);
                    }
                    /* C(rows, m) = window(rows, n) * B(n, m): the window's n columns summed */
                    lam__gemm_win_a(isa, &win, m, n, b, ldb, c1, ldc, add);
                    lam__gemm_win_a(LAM_ISA_SCALAR, &win, m, n, b, ldb, c2, ldc, add);
                    snprintf(what, sizeof what, "isa%d win_a rows%lld n%lld k%lld ones%d add%d",
                             isa, (long long)rows, (long long)m, (long long)n, with_ones, add);
                    t_equal(what, c1, c2, 28 * ldc);
                }
            }
        }
    }
    free(frame);
    free(ones);
    free(a);
    free(b);
    free(c1);
    free(c2);
}

/* ------------------------------------------------------------- whole passes */

typedef struct shape {
    int64_t n, c_in, h, w, c_out, kh, kw;
} shape;

typedef struct outputs {
    float *y, *dx, *dw, *db;
    int32_t *am;
} outputs;

/* One forward and one backward with the given path into o (dx starts from dx0 when acc). */
static void run(const lam_conv_geom *g, lam_conv_fusion f, lam_conv_path path,
                const float *x, const float *w, const float *b, const float *dy,
                const float *dx0, outputs *o, int nt)
{
    f.path = path;
    const int64_t xn = g->n * g->c_in * g->h * g->w, wn = g->c_out * g->c_in * g->kh * g->kw;
    const int64_t wsn = lam__conv2d_fused_workspace(g, &f, nt);
    float *ws = t_alloc_floats(wsn);
    lam__conv2d_fused_fwd(g, &f, x, w, b, o->y, o->am, ws, nt);
    memcpy(o->dx, dx0, (size_t)xn * sizeof(float));
    memset(o->dw, 0, (size_t)wn * sizeof(float));
    if (b != NULL) {
        memset(o->db, 0, (size_t)g->c_out * sizeof(float));
    }
    lam__conv2d_fused_bwd(g, &f, x, w, o->y, o->am, dy, o->dx, o->dw, b != NULL ? o->db : NULL,
                          ws, nt);
    free(ws);
}

static void check_pass(const shape *s, int act, int pool, int bias, int acc, int ints, int isa)
{
    lam_conv_geom g = {.n = s->n, .c_in = s->c_in, .h = s->h, .w = s->w, .c_out = s->c_out,
                       .kh = s->kh, .kw = s->kw, .sh = 1, .sw = 1, .ph = (s->kh - 1) / 2,
                       .pw = (s->kw - 1) / 2, .dh = 1, .dw = 1, .groups = 1};
    if (!T_CHECK(lam__conv_geom_init(&g) == LAM_OK, "geometry")) {
        return;
    }
    lam_pool_geom pg = {.n = g.n, .c = g.c_out, .h = g.oh, .w = g.ow, .kh = 2, .kw = 2,
                        .sh = 2, .sw = 2};
    if (pool && !T_CHECK(lam__pool_geom_init(&pg) == LAM_OK, "pool geometry")) {
        return;
    }
    const lam_conv_fusion f = {act ? LAM_ACT_RELU : LAM_ACT_NONE, pool ? &pg : NULL,
                               LAM_CONV_CHUNKED, acc, LAM_CONV_PATH_AUTO, isa};
    const int64_t xn = g.n * g.c_in * g.h * g.w, wn = g.c_out * g.c_in * g.kh * g.kw;
    const int64_t yn = pool ? g.n * g.c_out * pg.oh * pg.ow : g.n * g.c_out * g.oh * g.ow;
    float *x = t_alloc_floats(xn), *w = t_alloc_floats(wn), *b = t_alloc_floats(g.c_out);
    float *dy = t_alloc_floats(yn), *dx0 = t_alloc_floats(xn);
    t_fill_case(x, xn, ints, 41, 0);
    t_fill_case(w, wn, ints, 41, 1);
    t_fill_case(b, g.c_out, ints, 41, 2);
    t_fill_case(dy, yn, ints, 41, 3);
    if (acc) {
        t_fill_case(dx0, xn, ints, 41, 4);
    }
    outputs o[4];
    for (int i = 0; i < 4; i++) {
        o[i] = (outputs){t_alloc_floats(yn), t_alloc_floats(xn), t_alloc_floats(wn),
                         t_alloc_floats(g.c_out), t_alloc_ints(yn)};
    }
    /* two threads: the chunks run in parallel as the real ones do */
    static const lam_conv_path paths[4] = {LAM_CONV_PATH_IM2COL, LAM_CONV_PATH_IMPLICIT,
                                           LAM_CONV_PATH_WINOGRAD, LAM_CONV_PATH_WINOGRAD4};
    for (int i = 0; i < 4; i++) {
        run(&g, f, paths[i], x, w, bias ? b : NULL, dy, dx0, &o[i], 2);
    }
    char what[160];
    snprintf(what, sizeof what, "isa%d n%lld %lldx%lldx%lld->%lld k%lldx%lld %s%s%s%s %s",
             isa, (long long)g.n, (long long)g.c_in, (long long)g.h, (long long)g.w,
             (long long)g.c_out, (long long)g.kh, (long long)g.kw, act ? "relu " : "",
             pool ? "pool " : "", bias ? "bias " : "", acc ? "dx+= " : "",
             ints ? "ints" : "uniform");
    const int wino = g.kh == 3 && g.kw == 3;
    for (int i = 1; i < (wino ? 4 : 2); i++) {
        char part[200];
        const char *path = i == 1 ? "implicit" : i == 2 ? "winograd" : "winograd4";
        /* F(4x4, 3x3)'s sixths are not exact on integers: where those leave ties (the pool's
         * maxima, relu's zeros) its last bits pick other winners, and the gradients that
         * follow them differ by whole values */
        const int inexact = i == 3 && ints;
        if (inexact && (pool || act)) {
            continue;
        }
        /* the implicit forward sums the same taps in the same order as im2col: bitwise
         * equal. Winograd's transforms add before they multiply, but on integers (kernels
         * turned into quarters) every sum is still exact. */
        snprintf(part, sizeof part, "%s %s: forward", path, what);
        if (i == 1 || (ints && !inexact)) {
            t_equal(part, o[i].y, o[0].y, yn);
        } else {
            /* F(4x4, 3x3)'s larger transform entries: about 1e-5 of the outputs' size */
            const double ytol = inexact ? 1e-3 : i == 3 ? 1e-4 : 1e-5;
            t_close(part, o[i].y, o[0].y, yn, ytol, ytol);
        }
        if (pool) {
            int same = memcmp(o[i].am, o[0].am, (size_t)yn * sizeof(int32_t)) == 0;
            T_CHECK(same || (i >= 2 && !ints), "%s %s: argmax differs", path, what);
        }
        /* sums of up to 5 * 784 products in other orders, with cancellation */
        const double tol = inexact ? 1e-3 : ints ? 0.0 : 1e-4; /* integers: a slip is >= 1 */
        snprintf(part, sizeof part, "%s %s: dx", path, what);
        t_close(part, o[i].dx, o[0].dx, xn, tol, tol);
        snprintf(part, sizeof part, "%s %s: dw", path, what);
        t_close(part, o[i].dw, o[0].dw, wn, tol, tol);
        if (bias) {
            snprintf(part, sizeof part, "%s %s: db", path, what);
            t_close(part, o[i].db, o[0].db, g.c_out, tol, tol);
        }
    }
    for (int i = 0; i < 4; i++) {
        free(o[i].y);
        free(o[i].dx);
        free(o[i].dw);
        free(o[i].db);
        free(o[i].am);
    }
    free(x);
    free(w);
    free(b);
    free(dy);
    free(dx0);
}

int main(void)
{
    const int best = lam__best_isa();
    if (best < LAM_ISA_AVX2) {
        printf("conv_implicit: no AVX2 on this CPU, the implicit path is never taken\n");
        return T_SKIP;
    }
    printf("conv_implicit: %s\n", best == LAM_ISA_AVX512 ? "AVX2 and AVX-512" : "AVX2 only");
    for (int isa = LAM_ISA_AVX2; isa <= best; isa++) {
        check_window_gemms(isa);
    }
    /* ResNet stages (a short last chunk), 5x5, 1x3 and 3x1 kernels, one image, odd sizes */
    static const shape shapes[] = {
        {5, 3, 28, 28, 16, 3, 3}, {6, 16, 8, 8, 32, 3, 3}, {1, 2, 9, 6, 4, 5, 5},
        {4, 3, 6, 11, 5, 1, 3},   {3, 4, 10, 4, 8, 3, 1},  {9, 8, 7, 7, 8, 3, 3},
        {3, 5, 9, 37, 7, 3, 3},   {2, 17, 6, 33, 3, 3, 3}, {7, 4, 1, 1, 5, 3, 3},
        {2, 6, 7, 25, 5, 3, 3},
        /* Winograd's packed groups of two tile rows (6..8 tiles a row) and of four (4 tiles),
         * each with a short last group */
        {3, 4, 14, 14, 6, 3, 3},  {2, 3, 5, 16, 4, 3, 3},  {2, 3, 6, 11, 5, 3, 3},
        {3, 3, 9, 7, 4, 3, 3},    {2, 3, 5, 8, 4, 3, 3},
        /* F(4x4, 3x3)'s: two rows of 6 tiles, and past 16 tiles a row its two passes */
        {2, 3, 6, 21, 4, 3, 3},   {2, 2, 5, 70, 3, 3, 3},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        for (int v = 0; v < 6; v++) {
            const int act = v % 3 > 0, pool = v % 3 == 2, bias = v < 3;
            const int even = s->h % 2 == 0 && s->w % 2 == 0;
            if (pool && !even) {
                continue;
            }
            for (int isa = LAM_ISA_AVX2; isa <= best; isa++) {
                check_pass(s, act, pool, bias, v == 4, 1, isa);
                check_pass(s, act, pool, bias, v == 4, 0, isa);
            }
        }
    }
    return t_exit("conv_implicit");
}
