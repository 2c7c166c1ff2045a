/*
 * The inner loops of batch normalisation (kernels/bn.c) over the values of one block of a
 * channel (its sums) or one contiguous span (its elementwise passes): portable ones, and
 * AVX-512 ones chosen at run time (kernels/isa.c) that give the same bits. Why both: the
 * library is built for baseline x86-64, so the portable loops run 4-wide SSE2; batch norm's
 * passes were 18% of a resnet20 step.
 *
 * Same bits: a sum runs over the rows of a block (`rows` runs of n values, `stride` apart) in
 * blocks of 16 values, each row's last block short; lane j takes element j of every block,
 * and the lanes are folded into double in one fixed order after every BLOCKS_PER_RUN blocks
 * and at the end. That is exactly what one 16-float vector with masked tails does.
 * Elementwise formulas do their multiplies and adds separately (no fused multiply-add), as
 * the portable C does in ISO C mode. The runs cross rows: a fold per row made the 49-value
 * rows of a 7x7 channel (ResNet-20's last stage on 28x28) cost twice what their bytes do.
 *
 * With ymask (a ReLU folded after the normalisation), backward reads the gradient as dy
 * where ymask > 0 and 0 elsewhere: relu's derivative, applied on the fly.
 */
#include "bn_span.h"

#include <string.h>

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

#if defined(__GNUC__) && defined(__x86_64__)

#include "avx512.h"

/* The fold of a vector's 16 lanes, by the portable order. */
static inline AVX512 double fold_v(__m512 v)
{
    float a[LANES];
    _mm512_storeu_ps(a, v);
    return fold(a);
}

/* dy where ymask > 0, else 0 (the whole vector when ymask is NULL), on the lanes of k (the
 * others 0) */
static inline AVX512 __m512 load_g(const float *dy, const float *ymask, int64_t i, __mmask16 k)
{
    const __m512 g = _mm512_maskz_loadu_ps(k, dy + i);
    if (ymask == NULL) {
        return g;
    }
    const __mmask16 pos = _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(k, ymask + i),
                                             _mm512_setzero_ps(), _CMP_GT_OQ);
    return _mm512_maskz_mov_ps(pos, g);
}

/* The AVX-512 loops walk the same blocks as the portable ones without a test per block:
 * within a row, the full blocks up to the next fold, then the row's short block. */
static inline int64_t run_end(int64_t i, int64_t n, int t)
{
    const int64_t e = i + (int64_t)(BLOCKS_PER_RUN - t) * LANES;
    return e < n ? e : n;
}

static AVX512 double sum_v(const float *x, int64_t rows, int64_t stride, int64_t n)
{
    double s = 0.0;
    __m512 a = _mm512_setzero_ps();
    int t = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *p = x + r * stride;
        for (int64_t i = 0; i < n;) {
            if (t == BLOCKS_PER_RUN) {
                s += fold_v(a);
                a = _mm512_setzero_ps();
                t = 0;
            }
            const int64_t e = run_end(i, n, t);
            for (; i + LANES <= e; i += LANES, t++) {
                a = _mm512_add_ps(a, _mm512_loadu_ps(p + i));
            }
            if (i < e) {
                a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(first_bits(e - i), p + i));
                i = e;
                t++;
            }
        }
    }
    return t > 0 ? s + fold_v(a) : s;
}

/* The paired sums: *sa += sum g, *sq += sum g (x - m), with g = x - m (dev) or the masked
 * gradient (bwd_sums); one loop for both, the kind a constant where inlined. */
static inline AVX512 void pair_sums_v(const int dev, const float *x, const float *dy,
                                      const float *ymask, int64_t rows, int64_t stride,
                                      int64_t n, float m, double *sa, double *sq)
{
    const __m512 mv = _mm512_set1_ps(m);
    __m512 a = _mm512_setzero_ps(), q = _mm512_setzero_ps();
    int t = 0;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t o = r * stride;
        for (int64_t i = 0; i < n;) {
            if (t == BLOCKS_PER_RUN) {
                *sa += fold_v(a);
                *sq += fold_v(q);
                a = q = _mm512_setzero_ps();
                t = 0;
            }
            const int64_t e = run_end(i, n, t);
            for (; i + LANES <= e; i += LANES, t++) {
                const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + o + i), mv);
                const __m512 g = dev ? d : load_g(dy, ymask, o + i, 0xffff);
                a = _mm512_add_ps(a, g);
                q = _mm512_add_ps(q, _mm512_mul_ps(g, d));
            }
            if (i < e) {
                /* the short block: lanes past it add exact zeros */
                const __mmask16 k = first_bits(e - i);
                const __m512 d = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, x + o + i), mv);
                const __m512 g = dev ? d : load_g(dy, ymask, o + i, k);
                a = _mm512_add_ps(a, g);
                q = _mm512_add_ps(q, _mm512_mul_ps(g, d));
                i = e;
                t++;
            }
        }
    }
    if (t > 0) {
        *sa += fold_v(a);
        *sq += fold_v(q);
    }
}

static AVX512 void dev_v(const float *x, int64_t rows, int64_t stride, int64_t n, float m,
                         double *s1, double *s2)
{
    pair_sums_v(1, x, NULL, NULL, rows, stride, n, m, s1, s2);
}

static AVX512 void bwd_sums_v(const float *x, const float *dy, const float *ymask,
                              int64_t rows, int64_t stride, int64_t n, float m, double *sg,
                              double *sd)
{
    pair_sums_v(0, x, dy, ymask, rows, stride, n, m, sg, sd);
}

static AVX512 void norm_v(const float *x, float *y, int64_t n, float m, float a, float s,
                          int relu)
{
    const __m512 mv = _mm512_set1_ps(m), av = _mm512_set1_ps(a), sv = _mm512_set1_ps(s);
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += LANES) {
        const __mmask16 k = first_bits(n - i);
        __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i),
                                                             mv),
                                               av),
                                 sv);
        if (relu) {
            /* 0 where v < 0; -0 and NaN stay, as the portable select */
            v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), zero);
        }
        _mm512_mask_storeu_ps(y + i, k, v);
    }
}

static AVX512 void dx_v(const float *x, const float *dy, const float *ymask, float *dx,
                        int64_t n, float m, float a, float md, float b)
{
    const __m512 mv = _mm512_set1_ps(m), av = _mm512_set1_ps(a), mdv = _mm512_set1_ps(md);
    const __m512 bv = _mm512_set1_ps(b);
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        const __m512 g = load_g(dy, ymask, i, 0xffff);
        const __m512 t = _mm512_mul_ps(bv, _mm512_sub_ps(_mm512_loadu_ps(x + i), mv));
        _mm512_storeu_ps(dx + i, _mm512_mul_ps(av, _mm512_sub_ps(_mm512_sub_ps(g, mdv), t)));
    }
    for (; i < n; i++) {
        dx[i] = a * ((masked(dy, ymask, i) - md) - b * (x[i] - m));
    }
}

static const lam_bn_spans spans_v = {sum_v, dev_v, bwd_sums_v, norm_v, dx_v};

#endif

const lam_bn_spans *lam__bn_spans(int isa)
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (isa == LAM_ISA_AVX512) {
        return &spans_v;
    }
#else
    (void)isa;
#endif
    return &spans_c;
}
