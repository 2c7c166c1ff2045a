/*
 * The convolution GEMM tiles' entry points, once per instruction set (gemm_v16.h, compiled by
 * gemm_avx512.c and gemm_avx2.c), and what they share with the dispatcher (conv_gemm.c).
 * Internal to kernels/.
 */
#ifndef LAM_KERNELS_CONV_GEMM_H
#define LAM_KERNELS_CONV_GEMM_H

#include "kernels.h"

/* Row r of a window: channel r / (kh*kw), then the kernel row and column of that tap; the
 * row after the last tap is the ones row. */
static inline const float *window_row(const lam_window *w, int64_t r)
{
    const int64_t taps = w->kh * w->kw;
    if (r == w->chans * taps) {
        return w->ones;
    }
    const int64_t t = r % taps;
    return w->base + r / taps * w->plane + t / w->kw * w->row + t % w->kw;
}

/* One NN product: C(m, n) (+ if add)= op(A)(m, k) * B(k, n), A or B possibly a window. */
typedef struct nn_args {
    int64_t m, n, k;
    const float *a;
    int64_t ars, acs;      /* A's element (i, p) at a[i*ars + p*acs]: acs = 1 (PLAIN, WIN_B)
                            * or ars = 1 (PLAIN_T) */
    const lam_window *aw;  /* A is this window (WIN_A) */
    const float *b;
    int64_t ldb;           /* B row-major (PLAIN, WIN_A) */
    const lam_window *bw;  /* B is this window (WIN_B) */
    float *c;
    int64_t ldc;
    int add;
} nn_args;

/* The tiles of one instruction set (as lam_bn_spans for batch norm): NN with A as given, NN
 * with A transposed (ars = 1), window B, window A; NT; transpose (lam__transpose_isa's
 * contract). */
typedef struct lam_conv_gemm_tiles {
    void (*nn_plain)(const nn_args *g);
    void (*nn_plain_t)(const nn_args *g);
    void (*nn_win_b)(const nn_args *g);
    void (*nn_win_a)(const nn_args *g);
    void (*nt)(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
               int64_t ldb, float *c, int64_t ldc, int add);
    void (*transpose)(int64_t rows, int64_t cols, const float *src, int64_t lds, float *dst,
                      int64_t ldd);
} lam_conv_gemm_tiles;

/* gemm_v16.h compiled per instruction set (x86-64 only) */
extern const lam_conv_gemm_tiles lam__conv_gemm_tiles_avx512, lam__conv_gemm_tiles_avx2;

#endif
