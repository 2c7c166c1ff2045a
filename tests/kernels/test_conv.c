/*
 * Convolution kernels, fast vs naive twin, over every geometry of tests/shapes.h:
 *  - im2col equals im2col_ref bitwise (it only copies); col2im close / exact on integers;
 *  - fwd, bwd_data, bwd_weight (bias and dw accumulate onto nonzero values) within
 *    atol = 1e-5*sqrt(K), rtol = 1e-4 on uniform inputs, and bitwise equal on small
 *    integers, where every partial sum is an integer below 2^24 and so exact in any order;
 *  - bitwise the same results for nt = 1, 2 and 3;
 *  - malformed geometries give an error status and never reach a kernel.
 */
#include <limits.h>
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

#define SEED 20261129u

/* Data: t_fill_case. With its ranges and the table's sizes every integer sum stays far
 * below 2^24, so integer inputs must agree exactly. */

typedef struct bufs {
    int64_t xn, yn, wn, coln;
    float *x, *w, *b, *dy, *dw0, *db0;        /* inputs */
    float *y1, *y2, *dx1, *dx2, *dw1, *dw2, *db1, *db2, *col1, *col2, *ws;
} bufs;

static void bufs_alloc(bufs *B, const lam_conv_geom *g, int64_t ws_n)
{
    const int64_t cig = g->c_in / g->groups;
    B->xn = g->n * g->c_in * g->h * g->w;
    B->yn = g->n * g->c_out * g->oh * g->ow;
    B->wn = g->c_out * cig * g->kh * g->kw;
    B->coln = cig * g->kh * g->kw * g->oh * g->ow;
    B->x = t_alloc_floats(B->xn);
    B->w = t_alloc_floats(B->wn);
    B->b = t_alloc_floats(g->c_out);
    B->dy = t_alloc_floats(B->yn);
    B->dw0 = t_alloc_floats(B->wn);
    B->db0 = t_alloc_floats(g->c_out);
    B->y1 = t_alloc_floats(B->yn);
    B->y2 = t_alloc_floats(B->yn);
    B->dx1 = t_alloc_floats(B->xn);
    B->dx2 = t_alloc_floats(B->xn);
    B->dw1 = t_alloc_floats(B->wn);
    B->dw2 = t_alloc_floats(B->wn);
    B->db1 = t_alloc_floats(g->c_out);
    B->db2 = t_alloc_floats(g->c_out);
    B->col1 = t_alloc_floats(B->coln);
    B->col2 = t_alloc_floats(B->coln);
    B->ws = t_alloc_floats(ws_n);
}

static void bufs_free(bufs *B)
{
    float *all[] = {B->x,   B->w,   B->b,   B->dy,  B->dw0, B->db0, B->y1,   B->y2,  B->dx1,
                    B->dx2, B->dw1, B->dw2, B->db1, B->db2, B->col1, B->col2, B->ws};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(all[i]);
    }
}

/* Exact compare on integer data (ints 1), tolerance compare otherwise. ints 2: integers
 * through Winograd F(4x4, 3x3), whose sixths are inexact: within 1e-2, where a slip in the
 * taps costs whole units. */
static void compare(const char *what, const float *got, const float *want, int64_t n, int ints,
                    int64_t red_len)
{
    if (ints == 2) {
        t_close(what, got, want, n, 1e-2, 0.0);
    } else if (ints) {
        t_equal(what, got, want, n);
    } else {
        t_close(what, got, want, n, 1e-5 * sqrt((double)(red_len > 0 ? red_len : 1)), 1e-4);
    }
}

static void shape_label(char *buf, size_t len, int idx, const t_conv_shape *s)
{
    snprintf(buf, len,
             "#%d %s n%lld c%lld %lldx%lld -> %lld k%lldx%lld s%lld,%lld p%lld,%lld d%lld,%lld "
             "g%lld",
             idx, s->name, (long long)s->n, (long long)s->c_in, (long long)s->h,
             (long long)s->w, (long long)s->c_out, (long long)s->kh, (long long)s->kw,
             (long long)s->sh, (long long)s->sw, (long long)s->ph, (long long)s->pw,
             (long long)s->dh, (long long)s->dw, (long long)s->groups);
}

static void test_im2col(const lam_conv_geom *g, bufs *B, const char *label, int ints)
{
    char what[300];
    const int64_t cig = g->c_in / g->groups;
    const int64_t img = g->c_in * g->h * g->w;
    for (int64_t gr = 0; gr < g->groups; gr++) {
        /* Last image of the batch: catches offsets that only work for image 0. */
        const float *xi = B->x + (g->n - 1) * img;
        memset(B->col2, 0xff, (size_t)B->coln * sizeof(float));
        lam__im2col_ref(g, xi, gr * cig, B->col2);
        /* the portable loops and, where the CPU has it, the AVX-512 ones */
        for (int isa = LAM_ISA_SSE2; isa <= lam__best_isa(); isa++) {
            memset(B->col1, 0xff, (size_t)B->coln * sizeof(float)); /* NaN: unwritten shows */
            lam__im2col_ld_isa(g, xi, gr * cig, B->col1, g->oh * g->ow, isa);
            snprintf(what, sizeof what, "im2col %s group %lld isa %d", label, (long long)gr,
                     isa);
            t_equal(what, B->col1, B->col2, B->coln);
        }

        /* col2im onto a nonzero image: it must accumulate, and only into its group. */
        t_fill_case(B->col1, B->coln, ints, SEED, 40);
        t_fill_case(B->dx2, img, ints, SEED, 41);
        memcpy(B->dx1, B->dx2, (size_t)img * sizeof(float));
        lam__col2im_ref(g, B->col1, gr * cig, B->dx2);
        for (int isa = LAM_ISA_SSE2; isa <= lam__best_isa(); isa++) {
            t_fill_case(B->dx1, img, ints, SEED, 41);
            lam__col2im_ld_isa(g, B->col1, g->oh * g->ow, gr * cig, B->dx1, isa);
            snprintf(what, sizeof what, "col2im %s group %lld isa %d", label, (long long)gr,
                     isa);
            compare(what, B->dx1, B->dx2, img, ints, g->kh * g->kw);
        }
    }
}

static void test_passes(const lam_conv_geom *g, bufs *B, const char *label, int ints)
{
    char what[300];
    const int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    const char *kind = ints ? "int" : "uniform";

    const int f4y = ints && lam__conv_path_auto(g, NULL, 2, 0) == 3;
    const int f4x = ints && lam__conv_path_auto(g, NULL, 2, 1) == 3;

    lam__conv2d_fwd(g, B->x, B->w, B->b, B->y1, B->ws, 2);
    lam__conv2d_fwd_ref(g, B->x, B->w, B->b, B->y2, NULL, 1);
    snprintf(what, sizeof what, "conv fwd %s %s", kind, label);
    compare(what, B->y1, B->y2, B->yn, ints + f4y, cig * g->kh * g->kw + 1);

    lam__conv2d_bwd_data(g, B->dy, B->w, B->dx1, B->ws, 2);
    lam__conv2d_bwd_data_ref(g, B->dy, B->w, B->dx2, NULL, 1);
    snprintf(what, sizeof what, "conv bwd_data %s %s", kind, label);
    compare(what, B->dx1, B->dx2, B->xn, ints + f4x, cog * g->kh * g->kw);

    memcpy(B->dw1, B->dw0, (size_t)B->wn * sizeof(float));
    memcpy(B->dw2, B->dw0, (size_t)B->wn * sizeof(float));
    memcpy(B->db1, B->db0, (size_t)g->c_out * sizeof(float));
    memcpy(B->db2, B->db0, (size_t)g->c_out * sizeof(float));
    lam__conv2d_bwd_weight(g, B->x, B->dy, B->dw1, B->db1, B->ws, 2);
    lam__conv2d_bwd_weight_ref(g, B->x, B->dy, B->dw2, B->db2, NULL, 1);
    snprintf(what, sizeof what, "conv bwd_weight dw %s %s", kind, label);
    compare(what, B->dw1, B->dw2, B->wn, ints, g->n * g->oh * g->ow + 1);
    snprintf(what, sizeof what, "conv bwd_weight db %s %s", kind, label);
    compare(what, B->db1, B->db2, g->c_out, ints, g->n * g->oh * g->ow + 1);
}

/* Same inputs, nt = 1 vs 2 vs 3: results must be bitwise identical. */
static void test_threads(const lam_conv_geom *g, bufs *B, const char *label)
{
    char what[300];
    for (int nt = 2; nt <= 3; nt++) {
        lam__conv2d_fwd(g, B->x, B->w, B->b, B->y1, B->ws, 1);
        lam__conv2d_fwd(g, B->x, B->w, B->b, B->y2, B->ws, nt);
        snprintf(what, sizeof what, "conv fwd nt=1 vs nt=%d %s", nt, label);
        t_equal(what, B->y2, B->y1, B->yn);

        lam__conv2d_bwd_data(g, B->dy, B->w, B->dx1, B->ws, 1);
        lam__conv2d_bwd_data(g, B->dy, B->w, B->dx2, B->ws, nt);
        snprintf(what, sizeof what, "conv bwd_data nt=1 vs nt=%d %s", nt, label);
        t_equal(what, B->dx2, B->dx1, B->xn);

        memcpy(B->dw1, B->dw0, (size_t)B->wn * sizeof(float));
        memcpy(B->dw2, B->dw0, (size_t)B->wn * sizeof(float));
        memcpy(B->db1, B->db0, (size_t)g->c_out * sizeof(float));
        memcpy(B->db2, B->db0, (size_t)g->c_out * sizeof(float));
        lam__conv2d_bwd_weight(g, B->x, B->dy, B->dw1, B->db1, B->ws, 1);
        lam__conv2d_bwd_weight(g, B->x, B->dy, B->dw2, B->db2, B->ws, nt);
        snprintf(what, sizeof what, "conv bwd_weight nt=1 vs nt=%d %s", nt, label);
        t_equal(what, B->dw2, B->dw1, B->wn);
        t_equal(what, B->db2, B->db1, g->c_out);
    }
}

/* b = NULL / db = NULL paths, and dw accumulating over two calls (integers: exact). */
static void test_null_bias_and_accumulation(const lam_conv_geom *g, bufs *B, const char *label)
{
    char what[300];
    t_fill_case(B->x, B->xn, 1, SEED, 1);
    t_fill_case(B->w, B->wn, 1, SEED, 2);
    t_fill_case(B->dy, B->yn, 1, SEED, 4);
    lam__conv2d_fwd(g, B->x, B->w, NULL, B->y1, B->ws, 2);
    lam__conv2d_fwd_ref(g, B->x, B->w, NULL, B->y2, NULL, 1);
    snprintf(what, sizeof what, "conv fwd b=NULL %s", label);
    compare(what, B->y1, B->y2, B->yn, 1 + (lam__conv_path_auto(g, NULL, 2, 0) == 3), 0);

    memset(B->dw1, 0, (size_t)B->wn * sizeof(float));
    memset(B->dw2, 0, (size_t)B->wn * sizeof(float));
    lam__conv2d_bwd_weight(g, B->x, B->dy, B->dw1, NULL, B->ws, 2);
    lam__conv2d_bwd_weight(g, B->x, B->dy, B->dw1, NULL, B->ws, 2);
    lam__conv2d_bwd_weight_ref(g, B->x, B->dy, B->dw2, NULL, NULL, 1);
    for (int64_t i = 0; i < B->wn; i++) {
        B->dw2[i] *= 2.0f;
    }
    snprintf(what, sizeof what, "conv bwd_weight twice == 2x, db=NULL %s", label);
    t_equal(what, B->dw1, B->dw2, B->wn);
}

static void test_table(void)
{
    char label[200];
    for (int i = 0; i < T_N_CONV_SHAPES; i++) {
        const t_conv_shape *s = &t_conv_shapes[i];
        lam_conv_geom g = t_conv_geom(s);
        shape_label(label, sizeof label, i, s);
        if (!T_CHECK(lam__conv_geom_init(&g) == LAM_OK, "geometry %s refused", label)) {
            continue;
        }
        const int64_t exp_oh = (s->h + 2 * s->ph - s->dh * (s->kh - 1) - 1) / s->sh + 1;
        const int64_t exp_ow = (s->w + 2 * s->pw - s->dw * (s->kw - 1) - 1) / s->sw + 1;
        T_CHECK(g.oh == exp_oh && g.ow == exp_ow, "%s: oh/ow %lld/%lld", label,
                (long long)g.oh, (long long)g.ow);
        const int64_t ws_n = lam__conv2d_workspace(&g, 3);
        if (!T_CHECK(ws_n > 0 && lam__conv2d_workspace(&g, 1) <= ws_n, "%s: workspace %lld",
                     label, (long long)ws_n)) {
            continue;
        }
        bufs B;
        bufs_alloc(&B, &g, ws_n);
        const t_pass_data pd = {B.x, B.w, B.b, B.dy, B.dw0, B.db0, B.xn, B.wn, g.c_out, B.yn};
        for (int ints = 0; ints <= 1; ints++) {
            t_fill_pass(&pd, ints, SEED, 1);
            test_im2col(&g, &B, label, ints);
            test_passes(&g, &B, label, ints);
        }
        test_threads(&g, &B, label);
        if (s->name[0] != '\0') {
            test_null_bias_and_accumulation(&g, &B, label);
        }
        bufs_free(&B);
    }
}

static lam_conv_geom base_geom(void)
{
    lam_conv_geom g = {.n = 2, .c_in = 4, .h = 8, .w = 8, .c_out = 6, .kh = 3, .kw = 3,
                       .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1, .dw = 1, .groups = 2};
    return g;
}

static void expect_geom(const char *what, lam_conv_geom g, lam_status want)
{
    lam_status got = lam__conv_geom_init(&g);
    T_CHECK(got == want, "conv geometry '%s': got %d (%s), want %d (%s)", what, (int)got,
            lam_strerror(got), (int)want, lam_strerror(want));
}

static void test_malformed(void)
{
    lam_conv_geom g = base_geom();
    T_CHECK(lam__conv_geom_init(&g) == LAM_OK && g.oh == 8 && g.ow == 8, "base geometry");
    T_CHECK(lam__conv_geom_init(NULL) == LAM_ERR_ARG, "NULL geometry");

    const int64_t big = INT64_MAX / 2;
    struct {
        const char *what;
        int64_t *field;
        int64_t value;
        lam_status want;
    } cases[] = {
        {"n = 0", &g.n, 0, LAM_ERR_SHAPE},
        {"c_in = -1", &g.c_in, -1, LAM_ERR_SHAPE},
        {"h = 0", &g.h, 0, LAM_ERR_SHAPE},
        {"w = -5", &g.w, -5, LAM_ERR_SHAPE},
        {"c_out = 0", &g.c_out, 0, LAM_ERR_SHAPE},
        {"kh = 0", &g.kh, 0, LAM_ERR_SHAPE},
        {"kw = -3", &g.kw, -3, LAM_ERR_SHAPE},
        {"sh = 0", &g.sh, 0, LAM_ERR_ARG},
        {"sw = -1", &g.sw, -1, LAM_ERR_ARG},
        {"ph = -1", &g.ph, -1, LAM_ERR_ARG},
        {"dw = 0", &g.dw, 0, LAM_ERR_ARG},
        {"groups = 0", &g.groups, 0, LAM_ERR_ARG},
        {"groups = -2", &g.groups, -2, LAM_ERR_ARG},
        {"groups 3 does not divide c_in 4", &g.groups, 3, LAM_ERR_SHAPE},
        {"c_out 5 not a multiple of groups 2", &g.c_out, 5, LAM_ERR_SHAPE},
        {"kernel 11 > padded input 10", &g.kh, 11, LAM_ERR_SHAPE},
        {"dilated kernel 1+5*2 > padded 10", &g.dw, 5, LAM_ERR_SHAPE},
        {"h huge: n*c*h*w overflows", &g.h, big, LAM_ERR_RANGE},
        {"pad huge: h + 2*pad overflows", &g.ph, big, LAM_ERR_RANGE},
        {"dilation huge: dil*(k-1) overflows", &g.dh, big + 1, LAM_ERR_RANGE},
        {"kernel huge: c*kh*kw overflows with pad", &g.kw, big, LAM_ERR_RANGE},
        {"n huge: y size overflows", &g.n, big, LAM_ERR_RANGE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        g = base_geom();
        *cases[i].field = cases[i].value;
        if (cases[i].field == &g.kw && cases[i].value == big) {
            g.pw = big / 2; /* the kernel fits the padded width; its products do not */
        }
        expect_geom(cases[i].what, g, cases[i].want);
    }
    /* im2col matrix past INT_MAX elements: 1024 channels * 11*11 taps * 150*150 outputs. */
    g = base_geom();
    g.c_in = 1024;
    g.groups = 1;
    g.h = g.w = 150;
    g.kh = g.kw = 11;
    g.ph = g.pw = 5;
    expect_geom("im2col buffer > INT_MAX elements", g, LAM_ERR_RANGE);
    /* The largest output exactly 1x1 is fine. */
    g = base_geom();
    g.h = g.w = 1;
    g.ph = g.pw = 1;
    expect_geom("1x1 input, 3x3 kernel, pad 1", g, LAM_OK);
}

static void expect_pool(const char *what, lam_pool_geom g, lam_status want)
{
    lam_status got = lam__pool_geom_init(&g);
    T_CHECK(got == want, "pool geometry '%s': got %d (%s), want %d (%s)", what, (int)got,
            lam_strerror(got), (int)want, lam_strerror(want));
}

static void test_pool_malformed(void)
{
    const lam_pool_geom base = {.n = 2, .c = 3, .h = 7, .w = 7, .kh = 2, .kw = 2, .sh = 2,
                                .sw = 2, .ph = 0, .pw = 0};
    lam_pool_geom g = base;
    T_CHECK(lam__pool_geom_init(&g) == LAM_OK && g.oh == 3 && g.ow == 3, "pool base");
    T_CHECK(lam__pool_geom_init(NULL) == LAM_ERR_ARG, "NULL pool geometry");
    g = base;
    g.n = 0;
    expect_pool("n = 0", g, LAM_ERR_SHAPE);
    g = base;
    g.kw = -1;
    expect_pool("kw = -1", g, LAM_ERR_SHAPE);
    g = base;
    g.sh = 0;
    expect_pool("sh = 0", g, LAM_ERR_ARG);
    g = base;
    g.ph = 2;
    expect_pool("pad > kernel/2", g, LAM_ERR_ARG);
    g = base;
    g.kh = g.kw = 9;
    expect_pool("kernel > input", g, LAM_ERR_SHAPE);
    g = base;
    g.h = INT64_MAX / 4;
    expect_pool("n*c*h*w overflows", g, LAM_ERR_RANGE);
    g = base;
    g.n = g.c = 1;
    g.h = g.w = 50000;
    expect_pool("plane > INT32_MAX (argmax)", g, LAM_ERR_RANGE);
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
    printf("test_conv: seed %u, %d geometries\n", SEED, T_N_CONV_SHAPES);
    test_malformed();
    test_pool_malformed();
    test_table();
    return t_exit("conv");
}
