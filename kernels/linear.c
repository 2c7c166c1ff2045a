/*
 * Fully connected layer, one GEMM per product (BLAS threads these itself: no batch loop).
 *
 *   forward   y(n, out)  = x(n, in) W(out, in)^T + b(out)
 *   backward  dx(n, in)  = dy(n, out) W(out, in)            (overwritten)
 *             dW(out,in) += dy^T(out, n) x(n, in)           (accumulated, GEMM beta = 1)
 *             db(out)    += sum_n dy(n, out)
 *
 * Sizes must fit BLAS's int (lam__sgemm refuses larger ones and the product is skipped);
 * layers validate them when they are built.
 */
#include "kernels.h"

void lam__linear_fwd(int64_t n, int64_t in, int64_t out, const float *x, const float *w,
                     const float *b, float *y)
{
    /* Bias rows first, then beta = 1: y is written once before the GEMM reads it back. */
    if (b != NULL) {
        for (int64_t i = 0; i < n; i++) {
            float *yi = y + i * out;
            for (int64_t j = 0; j < out; j++) {
                yi[j] = b[j];
            }
        }
    }
    (void)lam__sgemm(0, 1, n, out, in, 1.0f, x, in, w, in, b != NULL ? 1.0f : 0.0f, y, out);
}

void lam__linear_bwd(int64_t n, int64_t in, int64_t out, const float *x, const float *w,
                     const float *dy, float *dx, float *dw, float *db)
{
    if (dx != NULL) {
        (void)lam__sgemm(0, 0, n, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in);
    }
    if (dw != NULL) {
        (void)lam__sgemm(1, 0, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
    }
    if (db != NULL) {
        /* Row by row: contiguous, vectorisable, and a fixed order. */
        for (int64_t i = 0; i < n; i++) {
            const float *dyi = dy + i * out;
            for (int64_t j = 0; j < out; j++) {
                db[j] += dyi[j];
            }
        }
    }
}
