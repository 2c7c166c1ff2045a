/*
 * GEMM wrapper: the only file of lamina that includes <cblas.h> or calls cblas.
 *
 *   C(m, n) = alpha * op(A)(m, k) * op(B)(k, n) + beta * C(m, n)
 *
 * row-major, op(X) = X or X^T, leading dimensions in elements. BLAS takes `int` sizes, so
 * every size and leading dimension is checked against INT_MAX (lam__gemm_check, shared with
 * the naive twin) before it is narrowed; a
 * refused call returns before touching any operand. The BLAS library's own thread count
 * is never changed here (the host owns it); inside lamina's OpenMP regions the OpenMP
 * build of OpenBLAS runs single-threaded by itself.
 */
#include <stddef.h>

#include <cblas.h>

#include "kernels.h"

lam_status lam__sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                      float *c, int64_t ldc)
{
    lam_status st = lam__gemm_check(trans_a, trans_b, m, n, k, lda, ldb, ldc);
    if (st != LAM_OK) {
        return st;
    }
    if (m == 0 || n == 0) {
        return LAM_OK;
    }
    if (c == NULL || (k > 0 && (a == NULL || b == NULL))) {
        return LAM_ERR_ARG;
    }
    if (k == 0) {
        /* BLAS semantics: beta == 0 means C is not read, so NaN garbage is overwritten. */
        for (int64_t i = 0; i < m; i++) {
            float *ci = c + i * ldc;
            if (beta == 0.0f) {
                for (int64_t j = 0; j < n; j++) {
                    ci[j] = 0.0f;
                }
            } else {
                for (int64_t j = 0; j < n; j++) {
                    ci[j] *= beta;
                }
            }
        }
        return LAM_OK;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, (int)lda,
                b, (int)ldb, beta, c, (int)ldc);
    return LAM_OK;
}

lam_status lam__dsyrk_tn(int64_t n, int64_t k, const double *a, int64_t lda, double beta,
                         double *c, int64_t ldc)
{
    lam_status st = lam__syrk_check(n, k, lda, ldc);
    if (st != LAM_OK || n == 0) {
        return st;
    }
    if (c == NULL || (k > 0 && a == NULL)) {
        return LAM_ERR_ARG;
    }
    if (k == 0) {
        for (int64_t i = 0; i < n; i++) {
            for (int64_t j = i; j < n; j++) {
                c[i * ldc + j] = beta == 0.0 ? 0.0 : beta * c[i * ldc + j];
            }
        }
        return LAM_OK;
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n, (int)k, 1.0, a, (int)lda, beta, c,
                (int)ldc);
    return LAM_OK;
}

int lam__blas_parallel_kind(void)
{
#ifdef LAM_HAVE_OPENBLAS
    return openblas_get_parallel();
#else
    return -1;
#endif
}

const char *lam__blas_corename(void)
{
#ifdef LAM_HAVE_OPENBLAS
    const char *s = openblas_get_corename();
    return s != NULL ? s : "unknown";
#else
    return "unknown";
#endif
}

const char *lam__blas_config(void)
{
#ifdef LAM_HAVE_OPENBLAS
    const char *s = openblas_get_config();
    return s != NULL ? s : "unknown";
#else
    return "unknown";
#endif
}
