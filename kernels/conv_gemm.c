/*
 * The per-image GEMMs of a convolution with lamina's own tiles (gemm_v16.h, for AVX-512 or
 * AVX2 + FMA), chosen at run time (kernels/isa.c) by lam__conv_gemm; anywhere else, and for
 * what these do not cover, lam__sgemm (BLAS).
 *
 *   NN/TN   C(m, n) (+)= op(A)(m, k) * B(k, n)      forward, and the input gradient
 *   NT      C(m, n) (+)= A(m, k) * B(n, k)^T         the weight gradient
 *   windows C(m, n) (+)= A * window, window * B      the implicit-GEMM convolution
 *                                                    (lam__gemm_win_b, lam__gemm_win_a)
 *
 * row-major, alpha = 1, beta 0 or 1. Why not BLAS for these: a convolution's GEMMs have few
 * rows (C_out = 16..64) and are made fresh for every image, so OpenBLAS spends a third of
 * their time packing operands it uses once; and the BLAS of the development machine runs its
 * Haswell kernels (OPENBLAS_CORETYPE), half the FMA width this CPU has. Measured on the
 * resnet20 shapes (one core, lamina-bench --op gemm): see bench/NOTES-engine.md.
 *
 * How the tiles work: gemm_v16.h.
 *
 * Every sum runs in one order fixed by the shape, so results do not depend on the thread
 * count (each GEMM runs on one thread), nor on the instruction set.
 */
#include "conv_gemm.h"

#if defined(__GNUC__) && defined(__x86_64__)
/* isa is AVX2 or AVX-512 */
static const lam_conv_gemm_tiles *tiles_of(int isa)
{
    return isa == LAM_ISA_AVX512 ? &lam__conv_gemm_tiles_avx512 : &lam__conv_gemm_tiles_avx2;
}
#endif

void lam__transpose_isa(int isa, int64_t rows, int64_t cols, const float *src, int64_t lds,
                        float *dst, int64_t ldd)
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (isa >= LAM_ISA_AVX2) {
        tiles_of(isa)->transpose(rows, cols, src, lds, dst, ldd);
        return;
    }
#else
    (void)isa;
#endif
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t j = 0; j < cols; j++) {
            dst[j * ldd + i] = src[i * lds + j];
        }
    }
}

lam_status lam__conv_gemm(int isa, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                          const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                          float *c, int64_t ldc)
{
#if defined(__GNUC__) && defined(__x86_64__)
    const int add = beta == 1.0f;
    if (isa >= LAM_ISA_AVX2 && (beta == 0.0f || add) && k > 0 && m > 0 && n > 0 &&
        !(trans_a && trans_b)) {
        const lam_conv_gemm_tiles *t = tiles_of(isa);
        if (trans_b) {
            t->nt(m, n, k, a, lda, b, ldb, c, ldc, add);
        } else {
            const nn_args g = {.m = m, .n = n, .k = k, .a = a, .ars = trans_a ? 1 : lda,
                               .acs = trans_a ? lda : 1, .b = b, .ldb = ldb, .c = c,
                               .ldc = ldc, .add = add};
            if (trans_a) {
                t->nn_plain_t(&g);
            } else {
                t->nn_plain(&g);
            }
        }
        return LAM_OK;
    }
#else
    (void)isa;
#endif
    return lam__sgemm(trans_a, trans_b, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

/* The window GEMMs without AVX2 or AVX-512: the same sums in the same order, one element at
 * a time (for other CPUs; the convolutions take the implicit path only with AVX2 or
 * AVX-512). */
static void win_portable(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                         const lam_window *aw, const float *b, int64_t ldb,
                         const lam_window *bw, float *c, int64_t ldc, int add)
{
    for (int64_t i = 0; i < m; i++) {
        const float *arow = aw != NULL ? window_row(aw, i) : a + i * lda;
        for (int64_t j = 0; j < n; j++) {
            float s = 0.0f;
            for (int64_t p = 0; p < k; p++) {
                const float bv = bw != NULL ? window_row(bw, p)[j] : b[p * ldb + j];
                s += arow[p] * bv;
            }
            c[i * ldc + j] = add ? c[i * ldc + j] + s : s;
        }
    }
}

static int64_t window_rows(const lam_window *w)
{
    return w->chans * w->kh * w->kw + (w->ones != NULL);
}

void lam__gemm_win_b(int isa, int64_t m, int64_t n, const float *a, int64_t lda,
                     const lam_window *wb, float *c, int64_t ldc, int add)
{
    const int64_t k = window_rows(wb);
#if defined(__GNUC__) && defined(__x86_64__)
    if (isa >= LAM_ISA_AVX2) {
        const nn_args g = {.m = m, .n = n, .k = k, .a = a, .ars = lda, .acs = 1, .bw = wb,
                           .c = c, .ldc = ldc, .add = add};
        tiles_of(isa)->nn_win_b(&g);
        return;
    }
#else
    (void)isa;
#endif
    win_portable(m, n, k, a, lda, NULL, NULL, 0, wb, c, ldc, add);
}

void lam__gemm_win_a(int isa, const lam_window *wa, int64_t n, int64_t k, const float *b,
                     int64_t ldb, float *c, int64_t ldc, int add)
{
    const int64_t m = window_rows(wa);
#if defined(__GNUC__) && defined(__x86_64__)
    if (isa >= LAM_ISA_AVX2) {
        const nn_args g = {.m = m, .n = n, .k = k, .aw = wa, .b = b, .ldb = ldb, .c = c,
                           .ldc = ldc, .add = add};
        tiles_of(isa)->nn_win_a(&g);
        return;
    }
#else
    (void)isa;
#endif
    win_portable(m, n, k, NULL, 0, wa, b, ldb, NULL, c, ldc, add);
}
