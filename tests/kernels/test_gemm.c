/*
 * lam__sgemm vs lam__sgemm_ref: the four transpose cases over m, n, k in {1, 7, 64, 129},
 * padded leading dimensions (the padding holds NaN: reading it poisons the result; writing
 * it changes a sentinel), uniform data within tolerance and small integers bitwise;
 * k == 0, m == 0, n == 0; sizes past INT_MAX refused before any memory is touched (NULL
 * operands); a large product checked as C t == A (B t) for a random vector t (BLIS).
 * Also lam__conv_gemm, the convolutions' GEMMs (lamina's AVX-512 kernels where the CPU has
 * them, BLAS otherwise), on sizes around its tile edges (8 rows, 16/48 columns, 16 lanes),
 * beta 0 and 1, with the same padding checks.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernels.h"

#define SEED 7321u

/* Fill a rows x cols matrix with leading dimension ld; the padding gets `pad_value`. */
static void fill_mat(float *p, int64_t rows, int64_t cols, int64_t ld, int ints,
                     uint64_t stream, float pad_value)
{
    for (int64_t r = 0; r < rows; r++) {
        float *row = p + r * ld;
        if (ints) {
            t_fill_int(row, cols, -3, 3, SEED, stream * 100000 + (uint64_t)r);
        } else {
            t_fill_uniform(row, cols, -1.0f, 1.0f, SEED, stream * 100000 + (uint64_t)r);
        }
        for (int64_t c = cols; c < ld; c++) {
            row[c] = pad_value;
        }
    }
}

static void pack(const float *src, int64_t rows, int64_t cols, int64_t ld, float *dst)
{
    for (int64_t r = 0; r < rows; r++) {
        memcpy(dst + r * cols, src + r * ld, (size_t)cols * sizeof(float));
    }
}

/* isa < 0: lam__sgemm; else lam__conv_gemm(isa, ...) (alpha 1, beta 1 on integers, else 0) */
static void gemm_case_isa(int ta, int tb, int64_t m, int64_t n, int64_t k, int64_t pad, int ints,
                          int isa)
{
    const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
    const int64_t b_rows = tb ? n : k, b_cols = tb ? k : n;
    const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
    const float alpha = ints || isa >= 0 ? 1.0f : 0.75f;
    const float beta = ints ? 1.0f : isa >= 0 ? 0.0f : -0.5f;
    float *a = t_alloc_floats(a_rows * lda), *b = t_alloc_floats(b_rows * ldb);
    float *c1 = t_alloc_floats(m * ldc), *c2 = t_alloc_floats(m * ldc);
    float *p1 = t_alloc_floats(m * n), *p2 = t_alloc_floats(m * n);
    fill_mat(a, a_rows, a_cols, lda, ints, 1, NAN);
    fill_mat(b, b_rows, b_cols, ldb, ints, 2, NAN);
    fill_mat(c1, m, n, ldc, ints, 3, 12345.0f);
    memcpy(c2, c1, (size_t)(m * ldc) * sizeof(float));

    lam_status s1 = isa < 0 ? lam__sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c1, ldc)
                            : lam__conv_gemm(isa, ta, tb, m, n, k, a, lda, b, ldb, beta, c1, ldc);
    lam_status s2 = lam__sgemm_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c2, ldc);
    char what[160];
    snprintf(what, sizeof what, "%s %c%c m=%lld n=%lld k=%lld pad=%lld %s",
             isa < 0                  ? "sgemm"
             : isa == LAM_ISA_AVX512 ? "conv_gemm avx512"
             : isa == LAM_ISA_AVX2   ? "conv_gemm avx2"
                                     : "conv_gemm blas",
             ta ? 'T' : 'N', tb ? 'T' : 'N', (long long)m, (long long)n, (long long)k,
             (long long)pad, ints ? "int" : "uniform");
    T_CHECK(s1 == LAM_OK && s2 == LAM_OK, "%s: status %d / %d", what, (int)s1, (int)s2);
    pack(c1, m, n, ldc, p1);
    pack(c2, m, n, ldc, p2);
    if (ints) {
        t_equal(what, p1, p2, m * n);
    } else {
        t_close(what, p1, p2, m * n, 1e-5 * sqrt((double)k + 1.0), 1e-4);
    }
    int pad_ok = 1;
    for (int64_t r = 0; r < m; r++) {
        for (int64_t cc = n; cc < ldc; cc++) {
            pad_ok &= c1[r * ldc + cc] == 12345.0f && c2[r * ldc + cc] == 12345.0f;
        }
    }
    T_CHECK(pad_ok, "%s: padding of C was written", what);
    free(a);
    free(b);
    free(c1);
    free(c2);
    free(p1);
    free(p2);
}

static void gemm_case(int ta, int tb, int64_t m, int64_t n, int64_t k, int64_t pad, int ints)
{
    gemm_case_isa(ta, tb, m, n, k, pad, ints, -1);
}

static void test_conv_gemm(void)
{
    /* rows around both ISAs' tile heights (8 with AVX-512, 6 with AVX2); column tails of
     * whose partial 8-float half has each length 1..7 (AVX2 stores it as 4 + 2 + 1 floats) */
    const int64_t ms[] = {1, 6, 7, 8, 9, 13, 16, 64};
    const int64_t ns[] = {1, 6, 15, 16, 17, 18, 19, 21, 35, 47, 48, 49, 100};
    const int64_t ks[] = {1, 16, 17, 145};
    const int best = lam__best_isa();
    /* BLAS, then each of lamina's own kernels this CPU can run */
    const int isas[3] = {LAM_ISA_SSE2, LAM_ISA_AVX2, LAM_ISA_AVX512};
    const int n_isas = best == LAM_ISA_AVX512 ? 3 : best == LAM_ISA_AVX2 ? 2 : 1;
    const int trans[3][2] = {{0, 0}, {1, 0}, {0, 1}};
    for (int q = 0; q < n_isas; q++) {
        for (int t = 0; t < 3; t++) {
            for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
                for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
                    for (size_t l = 0; l < sizeof ks / sizeof ks[0]; l++) {
                        gemm_case_isa(trans[t][0], trans[t][1], ms[i], ns[j], ks[l], 5, 0,
                                      isas[q]);
                        gemm_case_isa(trans[t][0], trans[t][1], ms[i], ns[j], ks[l], 0, 1,
                                      isas[q]);
                    }
                }
            }
        }
    }
    printf("conv_gemm: %s\n", n_isas == 3   ? "AVX-512 and AVX2 kernels and BLAS"
                              : n_isas == 2 ? "AVX2 kernels and BLAS (no AVX-512 here)"
                                            : "BLAS only (no AVX2 here)");
}

/* The AVX2 and AVX-512 kernels sum every element in the same order (kernels/v16.h), so on
 * uniform data their results are the same bits: checked where the CPU has both. */
static void test_conv_gemm_isa_bits(void)
{
    if (lam__best_isa() != LAM_ISA_AVX512) {
        printf("conv_gemm bits: no AVX-512 here, AVX2 alone\n");
        return;
    }
    const int64_t m = 37, n = 53, k = 149, ld = 160;
    float *a = t_alloc_floats(k * ld), *b = t_alloc_floats(k * ld);
    float *c1 = t_alloc_floats(m * ld), *c2 = t_alloc_floats(m * ld);
    fill_mat(a, k, ld, ld, 0, 4, NAN);
    fill_mat(b, k, ld, ld, 0, 5, NAN);
    const int trans[3][2] = {{0, 0}, {1, 0}, {0, 1}};
    for (int t = 0; t < 3; t++) {
        for (int add = 0; add <= 1; add++) {
            fill_mat(c1, m, ld, ld, 0, 6, NAN);
            memcpy(c2, c1, (size_t)(m * ld) * sizeof(float));
            const float beta = add ? 1.0f : 0.0f;
            (void)lam__conv_gemm(LAM_ISA_AVX2, trans[t][0], trans[t][1], m, n, k, a, ld, b, ld,
                                 beta, c1, ld);
            (void)lam__conv_gemm(LAM_ISA_AVX512, trans[t][0], trans[t][1], m, n, k, a, ld, b,
                                 ld, beta, c2, ld);
            char what[64];
            snprintf(what, sizeof what, "conv_gemm avx2 == avx512 %c%c add%d",
                     trans[t][0] ? 'T' : 'N', trans[t][1] ? 'T' : 'N', add);
            t_equal(what, c1, c2, m * ld);
        }
    }
    free(a);
    free(b);
    free(c1);
    free(c2);
}

/* lam__transpose_isa's 16x16 blocks and their edges against the scalar loop */
static void test_transpose(void)
{
    const int64_t ld = 80;
    float *a = t_alloc_floats(ld * ld), *d1 = t_alloc_floats(ld * ld);
    float *d2 = t_alloc_floats(ld * ld);
    fill_mat(a, ld, ld, ld, 0, 7, NAN);
    const int64_t sizes[] = {1, 8, 15, 16, 17, 37, 64};
    for (int isa = LAM_ISA_AVX2; isa <= lam__best_isa(); isa++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
                memset(d1, 0, (size_t)(ld * ld) * sizeof(float));
                memset(d2, 0, (size_t)(ld * ld) * sizeof(float));
                lam__transpose_isa(isa, sizes[i], sizes[j], a + 3, ld, d1, ld);
                lam__transpose_isa(LAM_ISA_SCALAR, sizes[i], sizes[j], a + 3, ld, d2, ld);
                char what[64];
                snprintf(what, sizeof what, "transpose %s %lldx%lld",
                         isa == LAM_ISA_AVX512 ? "avx512" : "avx2", (long long)sizes[i],
                         (long long)sizes[j]);
                t_equal(what, d1, d2, ld * ld);
            }
        }
    }
    free(a);
    free(d1);
    free(d2);
}

static void test_grid(void)
{
    const int64_t sizes[] = {1, 7, 64, 129};
    for (int ta = 0; ta <= 1; ta++) {
        for (int tb = 0; tb <= 1; tb++) {
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 4; j++) {
                    for (int l = 0; l < 4; l++) {
                        gemm_case(ta, tb, sizes[i], sizes[j], sizes[l], 3, 0);
                        gemm_case(ta, tb, sizes[i], sizes[j], sizes[l], 0, 1);
                    }
                }
            }
        }
    }
}

typedef lam_status (*gemm_fn)(int, int, int64_t, int64_t, int64_t, float, const float *,
                              int64_t, const float *, int64_t, float, float *, int64_t);

static void test_edges(const char *name, gemm_fn f)
{
    float c[12];
    /* k == 0: C = beta*C; beta == 0 overwrites even NaN (BLAS does not read C then). */
    for (int i = 0; i < 12; i++) {
        c[i] = 2.0f;
    }
    lam_status st = f(0, 0, 3, 4, 0, 1.0f, NULL, 1, NULL, 4, 0.5f, c, 4);
    int ok = st == LAM_OK;
    for (int i = 0; i < 12; i++) {
        ok &= c[i] == 1.0f;
    }
    T_CHECK(ok, "%s: k == 0 must scale C by beta (status %d)", name, (int)st);
    for (int i = 0; i < 12; i++) {
        c[i] = NAN;
    }
    st = f(1, 1, 3, 4, 0, 1.0f, NULL, 3, NULL, 1, 0.0f, c, 4);
    ok = st == LAM_OK;
    for (int i = 0; i < 12; i++) {
        ok &= c[i] == 0.0f;
    }
    T_CHECK(ok, "%s: k == 0, beta == 0 must zero C", name);

    /* m == 0 / n == 0: nothing to do, nothing touched (operands NULL). */
    T_CHECK(f(0, 0, 0, 5, 7, 1.0f, NULL, 7, NULL, 5, 0.0f, NULL, 5) == LAM_OK, "%s: m == 0",
            name);
    T_CHECK(f(0, 0, 5, 0, 7, 1.0f, NULL, 7, NULL, 1, 0.0f, NULL, 1) == LAM_OK, "%s: n == 0",
            name);

    /* Past INT_MAX: refused before any access (NULL operands would crash). */
    const int64_t big = (int64_t)INT_MAX + 1;
    T_CHECK(f(0, 0, big, 1, 1, 1.0f, NULL, 1, NULL, 1, 0.0f, NULL, 1) == LAM_ERR_RANGE,
            "%s: m > INT_MAX", name);
    T_CHECK(f(0, 0, 1, big, 1, 1.0f, NULL, 1, NULL, big, 0.0f, NULL, big) == LAM_ERR_RANGE,
            "%s: n > INT_MAX", name);
    T_CHECK(f(0, 0, 1, 1, big, 1.0f, NULL, big, NULL, 1, 0.0f, NULL, 1) == LAM_ERR_RANGE,
            "%s: k > INT_MAX", name);
    T_CHECK(f(0, 0, 2, 2, 2, 1.0f, NULL, big, NULL, 2, 0.0f, NULL, 2) == LAM_ERR_RANGE,
            "%s: lda > INT_MAX", name);
    T_CHECK(f(0, 0, 2, 2, 2, 1.0f, NULL, 2, NULL, 2, 0.0f, NULL, INT64_MAX) == LAM_ERR_RANGE,
            "%s: ldc > INT_MAX", name);
    /* Negative sizes, too-small leading dimensions, NULL operands. */
    T_CHECK(f(0, 0, -1, 2, 2, 1.0f, NULL, 2, NULL, 2, 0.0f, NULL, 2) == LAM_ERR_ARG,
            "%s: m < 0", name);
    T_CHECK(f(0, 0, 2, 2, -3, 1.0f, NULL, 2, NULL, 2, 0.0f, NULL, 2) == LAM_ERR_ARG,
            "%s: k < 0", name);
    T_CHECK(f(0, 0, 2, 3, 4, 1.0f, NULL, 3, NULL, 3, 0.0f, NULL, 3) == LAM_ERR_ARG,
            "%s: lda < k (NoTrans)", name);
    T_CHECK(f(1, 0, 5, 3, 4, 1.0f, NULL, 4, NULL, 3, 0.0f, NULL, 3) == LAM_ERR_ARG,
            "%s: lda < m (Trans)", name);
    T_CHECK(f(0, 1, 2, 3, 4, 1.0f, NULL, 4, NULL, 3, 0.0f, NULL, 3) == LAM_ERR_ARG,
            "%s: ldb < k (Trans)", name);
    T_CHECK(f(0, 0, 2, 3, 4, 1.0f, NULL, 4, NULL, 3, 0.0f, NULL, 2) == LAM_ERR_ARG,
            "%s: ldc < n", name);
    T_CHECK(f(0, 0, 2, 3, 4, 1.0f, NULL, 4, NULL, 3, 0.0f, c, 3) == LAM_ERR_ARG,
            "%s: NULL A", name);
}

/* max over i of |C t - A (B t)|_i minus its tolerance; > 0 means a mismatch. */
static double residual_excess(const float *a, const float *b, const float *c, int64_t m,
                              int64_t n, int64_t k, const float *t)
{
    double *bt = calloc((size_t)k, sizeof(double));
    if (bt == NULL) {
        return INFINITY;
    }
    for (int64_t p = 0; p < k; p++) {
        for (int64_t j = 0; j < n; j++) {
            bt[p] += (double)b[j * k + p] * t[j]; /* B is stored transposed: (n, k) */
        }
    }
    double worst = -INFINITY;
    const double atol = 1e-5 * sqrt((double)k * (double)n);
    for (int64_t i = 0; i < m; i++) {
        double ct = 0.0, abt = 0.0;
        for (int64_t j = 0; j < n; j++) {
            ct += (double)c[i * n + j] * t[j];
        }
        for (int64_t p = 0; p < k; p++) {
            abt += (double)a[i * k + p] * bt[p];
        }
        const double excess = fabs(ct - abt) - (atol + 1e-4 * fabs(abt));
        worst = excess > worst ? excess : worst;
    }
    free(bt);
    return worst;
}

static void test_large(void)
{
    const int64_t m = 300, n = 517, k = 700;
    float *a = t_alloc_floats(m * k), *b = t_alloc_floats(n * k), *c = t_alloc_floats(m * n),
          *t = t_alloc_floats(n);
    t_fill_uniform(a, m * k, -1.0f, 1.0f, SEED, 11);
    t_fill_uniform(b, n * k, -1.0f, 1.0f, SEED, 12);
    t_fill_uniform(t, n, -1.0f, 1.0f, SEED, 13);
    lam_status st = lam__sgemm(0, 1, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
    T_CHECK(st == LAM_OK, "large sgemm status %d", (int)st);
    double ex = residual_excess(a, b, c, m, n, k, t);
    T_CHECK(ex <= 0.0, "large sgemm: C t vs A (B t) off by %.3g beyond tolerance", ex);
    /* The check itself must be able to fail: one element off by 0.05 is caught (placed
     * where |t| is largest so the error is not scaled away). */
    int64_t jmax = 0;
    for (int64_t j = 1; j < n; j++) {
        jmax = fabsf(t[j]) > fabsf(t[jmax]) ? j : jmax;
    }
    c[17 * n + jmax] += 0.05f;
    ex = residual_excess(a, b, c, m, n, k, t);
    T_CHECK(ex > 0.0, "large sgemm: the C t check missed a corrupted element");
    free(a);
    free(b);
    free(c);
    free(t);
}

int main(void)
{
    printf("test_gemm: seed %u; BLAS core %s, parallel kind %d\n", SEED, lam__blas_corename(),
           lam__blas_parallel_kind());
    T_CHECK(lam__blas_config() != NULL && lam__blas_corename() != NULL, "BLAS info strings");
    test_edges("lam__sgemm", lam__sgemm);
    test_edges("lam__sgemm_ref", lam__sgemm_ref);
    test_grid();
    test_conv_gemm();
    test_conv_gemm_isa_bits();
    test_transpose();
    test_large();
    return t_exit("gemm");
}
