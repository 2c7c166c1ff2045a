/*
 * Naive GEMM twin of lam__sgemm (the same checks, lam__gemm_check, so the same statuses):
 *
 *   C[i][j] = alpha * sum_p opA[i][p] * opB[p][j] + beta * C[i][j]
 *
 * opA[i][p] = trans_a ? a[p*lda + i] : a[i*lda + p], likewise for B. The sum is in double;
 * beta == 0 does not read C (BLAS semantics).
 */
#include "kernels.h"

lam_status lam__sgemm_ref(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                          const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                          float *c, int64_t ldc)
{
    lam_status st = lam__gemm_check(trans_a, trans_b, m, n, k, lda, ldb, ldc);
    if (st != LAM_OK || m == 0 || n == 0) {
        return st;
    }
    if (c == NULL || (k > 0 && (a == NULL || b == NULL))) {
        return LAM_ERR_ARG;
    }
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t p = 0; p < k; p++) {
                double av = trans_a ? a[p * lda + i] : a[i * lda + p];
                double bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
                s += av * bv;
            }
            double old = beta == 0.0f ? 0.0 : (double)beta * c[i * ldc + j];
            c[i * ldc + j] = (float)((double)alpha * s + old);
        }
    }
    return LAM_OK;
}

/* Twin of lam__dsyrk_tn: C[i][j] = sum_p a[p][i] * a[p][j] + beta * C[i][j] for j >= i, the
 * sum in long double where it is wider (the inputs are double already). */
lam_status lam__dsyrk_tn_ref(int64_t n, int64_t k, const double *a, int64_t lda, double beta,
                             double *c, int64_t ldc)
{
    lam_status st = lam__syrk_check(n, k, lda, ldc);
    if (st != LAM_OK || n == 0) {
        return st;
    }
    if (c == NULL || (k > 0 && a == NULL)) {
        return LAM_ERR_ARG;
    }
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = i; j < n; j++) {
            long double acc = 0.0L;
            for (int64_t p = 0; p < k; p++) {
                acc += (long double)a[p * lda + i] * a[p * lda + j];
            }
            double old = beta == 0.0 ? 0.0 : beta * c[i * ldc + j];
            c[i * ldc + j] = (double)acc + old;
        }
    }
    return LAM_OK;
}

lam_status lam__conv_gemm_ref(int isa, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                              const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                              float *c, int64_t ldc)
{
    (void)isa;
    return lam__sgemm_ref(trans_a, trans_b, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
