/*
 * The inner loops of batch normalisation (kernels/bn.c) over one contiguous span of a
 * channel: portable ones, and AVX-512 ones chosen at run time (kernels/isa.c) that give the
 * same bits. Why both: the library is built for baseline x86-64, so the portable loops run
 * 4-wide SSE2; batch norm's passes were 18% of a resnet20 step.
 *
 * Same bits: a sum runs over 16 float lanes (lane j takes elements i + j), each run of SUB
 * values folded into double in one fixed order, which is exactly what one 16-float vector
 * does; elementwise formulas do their multiplies and adds separately (no fused
 * multiply-add), as the portable C does in ISO C mode.
 *
 * With ymask (a ReLU folded after the normalisation), backward reads the gradient as dy
 * where ymask > 0 and 0 elsewhere: relu's derivative, applied on the fly.
 */
#include "bn_span.h"

#define LANES 16
#define SUB 512 /* values per float-accumulated run: <= 32 terms per lane */

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

/* sum x[0, n) */
static double sum_c(const float *x, int64_t n)
{
    double s = 0.0;
    for (int64_t i0 = 0; i0 < n; i0 += SUB) {
        const int64_t e = i0 + SUB < n ? i0 + SUB : n;
        float a[LANES] = {0.0f};
        int64_t i = i0;
        for (; i + LANES <= e; i += LANES) {
            for (int j = 0; j < LANES; j++) {
                a[j] += x[i + j];
            }
        }
        float t = 0.0f;
        for (; i < e; i++) {
            t += x[i];
        }
        s += fold(a) + (double)t;
    }
    return s;
}

/* *s1 += sum (x - m), *s2 += sum (x - m)^2 over x[0, n) */
static void dev_c(const float *x, int64_t n, float m, double *s1, double *s2)
{
    for (int64_t i0 = 0; i0 < n; i0 += SUB) {
        const int64_t e = i0 + SUB < n ? i0 + SUB : n;
        float a[LANES] = {0.0f}, q[LANES] = {0.0f};
        int64_t i = i0;
        for (; i + LANES <= e; i += LANES) {
            for (int j = 0; j < LANES; j++) {
                const float d = x[i + j] - m;
                a[j] += d;
                q[j] += d * d;
            }
        }
        float ta = 0.0f, tq = 0.0f;
        for (; i < e; i++) {
            const float d = x[i] - m;
            ta += d;
            tq += d * d;
        }
        *s1 += fold(a) + (double)ta;
        *s2 += fold(q) + (double)tq;
    }
}

/* *sg += sum g, *sd += sum g*(x - m) over [0, n), g the (masked) gradient */
static void bwd_sums_c(const float *x, const float *dy, const float *ymask, int64_t n, float m,
                       double *sg, double *sd)
{
    for (int64_t i0 = 0; i0 < n; i0 += SUB) {
        const int64_t e = i0 + SUB < n ? i0 + SUB : n;
        float a[LANES] = {0.0f}, q[LANES] = {0.0f};
        int64_t i = i0;
        for (; i + LANES <= e; i += LANES) {
            for (int j = 0; j < LANES; j++) {
                const float g = masked(dy, ymask, i + j);
                a[j] += g;
                q[j] += g * (x[i + j] - m);
            }
        }
        float ta = 0.0f, tq = 0.0f;
        for (; i < e; i++) {
            const float g = masked(dy, ymask, i);
            ta += g;
            tq += g * (x[i] - m);
        }
        *sg += fold(a) + (double)ta;
        *sd += fold(q) + (double)tq;
    }
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

/* dy where ymask > 0, else 0 (the whole vector when ymask is NULL) */
static inline AVX512 __m512 load_g(const float *dy, const float *ymask, int64_t i)
{
    const __m512 g = _mm512_loadu_ps(dy + i);
    if (ymask == NULL) {
        return g;
    }
    const __mmask16 pos = _mm512_cmp_ps_mask(_mm512_loadu_ps(ymask + i), _mm512_setzero_ps(),
                                             _CMP_GT_OQ);
    return _mm512_maskz_mov_ps(pos, g);
}

static AVX512 double sum_v(const float *x, int64_t n)
{
    double s = 0.0;
    for (int64_t i0 = 0; i0 < n; i0 += SUB) {
        const int64_t e = i0 + SUB < n ? i0 + SUB : n;
        __m512 a = _mm512_setzero_ps();
        int64_t i = i0;
        for (; i + LANES <= e; i += LANES) {
            a = _mm512_add_ps(a, _mm512_loadu_ps(x + i));
        }
        float t = 0.0f;
        for (; i < e; i++) {
            t += x[i];
        }
        s += fold_v(a) + (double)t;
    }
    return s;
}

static AVX512 void dev_v(const float *x, int64_t n, float m, double *s1, double *s2)
{
    const __m512 mv = _mm512_set1_ps(m);
    for (int64_t i0 = 0; i0 < n; i0 += SUB) {
        const int64_t e = i0 + SUB < n ? i0 + SUB : n;
        __m512 a = _mm512_setzero_ps(), q = _mm512_setzero_ps();
        int64_t i = i0;
        for (; i + LANES <= e; i += LANES) {
            const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + i), mv);
            a = _mm512_add_ps(a, d);
            q = _mm512_add_ps(q, _mm512_mul_ps(d, d));
        }
        float ta = 0.0f, tq = 0.0f;
        for (; i < e; i++) {
            const float d = x[i] - m;
            ta += d;
            tq += d * d;
        }
        *s1 += fold_v(a) + (double)ta;
        *s2 += fold_v(q) + (double)tq;
    }
}

static AVX512 void bwd_sums_v(const float *x, const float *dy, const float *ymask, int64_t n,
                              float m, double *sg, double *sd)
{
    const __m512 mv = _mm512_set1_ps(m);
    for (int64_t i0 = 0; i0 < n; i0 += SUB) {
        const int64_t e = i0 + SUB < n ? i0 + SUB : n;
        __m512 a = _mm512_setzero_ps(), q = _mm512_setzero_ps();
        int64_t i = i0;
        for (; i + LANES <= e; i += LANES) {
            const __m512 g = load_g(dy, ymask, i);
            a = _mm512_add_ps(a, g);
            q = _mm512_add_ps(q, _mm512_mul_ps(g, _mm512_sub_ps(_mm512_loadu_ps(x + i), mv)));
        }
        float ta = 0.0f, tq = 0.0f;
        for (; i < e; i++) {
            const float g = masked(dy, ymask, i);
            ta += g;
            tq += g * (x[i] - m);
        }
        *sg += fold_v(a) + (double)ta;
        *sd += fold_v(q) + (double)tq;
    }
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
        const __m512 g = load_g(dy, ymask, i);
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
