/* The span loops of batch normalisation (kernels/bn_span.c), portable, AVX2 and AVX-512 with
 * the same bits, for kernels/bn.c. Internal. */
#ifndef LAM_KERNELS_BN_SPAN_H
#define LAM_KERNELS_BN_SPAN_H

#include "kernels.h"

typedef struct lam_bn_spans {
    /* The sums run over the values x[r*stride + i], r in [0, rows), i in [0, n) (a block's
     * rows of one channel); dy and ymask are indexed alike.
     * sum of x */
    double (*sum)(const float *x, int64_t rows, int64_t stride, int64_t n);
    /* *s1 += sum (x - m), *s2 += sum (x - m)^2 */
    void (*dev)(const float *x, int64_t rows, int64_t stride, int64_t n, float m, double *s1,
                double *s2);
    /* *sg += sum g, *sd += sum g (x - m); g = dy, or 0 where ymask <= 0 (ymask non-NULL) */
    void (*bwd_sums)(const float *x, const float *dy, const float *ymask, int64_t rows,
                     int64_t stride, int64_t n, float m, double *sg, double *sd);
    /* y = (x - m) a + s, relu'd when relu (y may equal x) */
    void (*norm)(const float *x, float *y, int64_t n, float m, float a, float s, int relu);
    /* dx = a ((g - md) - b (x - m)), g as in bwd_sums (dx may equal dy) */
    void (*dx)(const float *x, const float *dy, const float *ymask, float *dx, int64_t n,
               float m, float a, float md, float b);
} lam_bn_spans;

/* The loops for an instruction set (LAM_ISA_AVX512, LAM_ISA_AVX2, or the portable ones for
 * any other). */
const lam_bn_spans *lam__bn_spans(int isa);
/* bn_span_v16.h compiled per instruction set (x86-64 only) */
extern const lam_bn_spans lam__bn_spans_avx512, lam__bn_spans_avx2;

/* The order every loop keeps: a sum runs in blocks of LANES values, lane j taking element j
 * of each block, folded into double after BLOCKS_PER_RUN blocks and at the end. */
#define LANES 16
#define BLOCKS_PER_RUN 32 /* blocks per float-accumulated run: <= 32 terms per lane */

/* Fixed-order folds of the 16 float lanes (vector adds, then 4 values in double). */
static inline double fold(float *a)
{
    for (int j = 0; j < 8; j++) {
        a[j] += a[j + 8];
    }
    for (int j = 0; j < 4; j++) {
        a[j] += a[j + 4];
    }
    return ((double)a[0] + (double)a[1]) + ((double)a[2] + (double)a[3]);
}

static inline float masked(const float *dy, const float *ymask, int64_t i)
{
    const float g = dy[i];
    return ymask == NULL || ymask[i] > 0.0f ? g : 0.0f;
}

#endif

