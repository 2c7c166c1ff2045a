/*
 * The inner loops of batch normalisation (kernels/bn.c) over the values of one block of a
 * channel (its sums) or one contiguous span (its elementwise passes): portable ones, and
 * AVX-512 and AVX2 ones (bn_span_v16.h) chosen at run time (kernels/isa.c) that give the
 * same bits. Why both: the
 * library is built for baseline x86-64, so the portable loops run 4-wide SSE2; batch norm's
 * passes were 18% of a resnet20 step.
 *
 * Same bits: a sum runs over the rows of a block (`rows` runs of n values, `stride` apart) in
 * blocks of 16 values, each row's last block short; lane j takes element j of every block,
 * and the lanes are folded into double in one fixed order after every BLOCKS_PER_RUN blocks
 * and at the end. That is exactly what one 16-float vector with masked tails does (LANES,
 * BLOCKS_PER_RUN and the fold are in bn_span.h, shared with the vector loops).
 * Elementwise formulas do their multiplies and adds separately (no fused multiply-add), as
 * the portable C does in ISO C mode. The runs cross rows: a fold per row made the 49-value
 * rows of a 7x7 channel (ResNet-20's last stage on 28x28) cost twice what their bytes do.
 *
 * With ymask (a ReLU folded after the normalisation), backward reads the gradient as dy
 * where ymask > 0 and 0 elsewhere: relu's derivative, applied on the fly.
 */
#include "bn_span.h"

#include <string.h>

/* The length of a row's block that starts at value i: 16, or the row's short rest. The sums
 * below run their per-lane update on every block and fold after BLOCKS_PER_RUN blocks. */
static inline int64_t block_len(int64_t n, int64_t i)
{
    return n - i < LANES ? n - i : LANES;
}

/* sum over rows [0, rows) of x[r*stride + i], i in [0, n) */
static double sum_c(const float *x, int64_t rows, int64_t stride, int64_t n)
{
    double s = 0.0;
    float a[LANES] = {0.0f};
    int t = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *p = x + r * stride;
        for (int64_t i = 0; i < n; i += LANES) {
            if (t == BLOCKS_PER_RUN) {
                s += fold(a);
                memset(a, 0, sizeof a);
                t = 0;
            }
            const int64_t len = block_len(n, i);
            for (int64_t j = 0; j < len; j++) {
                a[j] += p[i + j];
            }
            t++;
        }
    }
    return t > 0 ? s + fold(a) : s;
}

/* Two lane sets folded into their double sums and cleared: the end of a run of the paired
 * sums. */
static void flush_pair(float *a, float *q, double *sa, double *sq)
{
    *sa += fold(a);
    *sq += fold(q);
    memset(a, 0, LANES * sizeof(float));
    memset(q, 0, LANES * sizeof(float));
}

/* The paired sums: *sa += sum g, *sq += sum g (x - m), with g = x - m (dev: *s1 += sum
 * (x - m), *s2 += sum (x - m)^2) or the masked gradient (bwd_sums: *sg += sum g, *sd += sum
 * g (x - m)) */
static void pair_sums_c(int dev, const float *x, const float *dy, const float *ymask,
                        int64_t rows, int64_t stride, int64_t n, float m, double *sa,
                        double *sq)
{
    float a[LANES] = {0.0f}, q[LANES] = {0.0f};
    int t = 0;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t o = r * stride;
        for (int64_t i = 0; i < n; i += LANES) {
            if (t == BLOCKS_PER_RUN) {
                flush_pair(a, q, sa, sq);
                t = 0;
            }
            const int64_t len = block_len(n, i);
            for (int64_t j = 0; j < len; j++) {
                const float d = x[o + i + j] - m;
                const float g = dev ? d : masked(dy, ymask, o + i + j);
                a[j] += g;
                q[j] += g * d;
            }
            t++;
        }
    }
    if (t > 0) {
        flush_pair(a, q, sa, sq);
    }
}

static void dev_c(const float *x, int64_t rows, int64_t stride, int64_t n, float m,
                  double *s1, double *s2)
{
    pair_sums_c(1, x, NULL, NULL, rows, stride, n, m, s1, s2);
}

static void bwd_sums_c(const float *x, const float *dy, const float *ymask, int64_t rows,
                       int64_t stride, int64_t n, float m, double *sg, double *sd)
{
    pair_sums_c(0, x, dy, ymask, rows, stride, n, m, sg, sd);
}

/* y = (x - m) * a + s, then relu's v < 0 ? 0 : v (as kernels/act.c) with relu (y may equal
 * x) */
static void norm_c(const float *x, float *y, int64_t n, float m, float a, float s, int relu)
{
    for (int64_t i = 0; i < n; i++) {
        const float v = (x[i] - m) * a + s;
        y[i] = relu && v < 0.0f ? 0.0f : v;
    }
}

/* dx = a * ((g - md) - b*(x - m)), g the (masked) gradient (dx may equal dy) */
static void dx_c(const float *x, const float *dy, const float *ymask, float *dx, int64_t n,
                 float m, float a, float md, float b)
{
    for (int64_t i = 0; i < n; i++) {
        dx[i] = a * ((masked(dy, ymask, i) - md) - b * (x[i] - m));
    }
}

static const lam_bn_spans spans_c = {sum_c, dev_c, bwd_sums_c, norm_c, dx_c};

const lam_bn_spans *lam__bn_spans(int isa)
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (isa == LAM_ISA_AVX512) {
        return &lam__bn_spans_avx512;
    }
    if (isa == LAM_ISA_AVX2) {
        return &lam__bn_spans_avx2;
    }
#else
    (void)isa;
#endif
    return &spans_c;
}
