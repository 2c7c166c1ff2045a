/*
 * The vector span loops of batch normalisation (see bn_span.c for the order they keep),
 * written once on 16-float vectors (v16.h) and compiled per instruction set by
 * bn_span_avx512.c and bn_span_avx2.c: the tables lam__bn_spans_avx512 and _avx2.
 * Include only inside `#if defined(__GNUC__) && defined(__x86_64__)`, after v16.h.
 */
#include "bn_span.h"

/* The fold of a vector's 16 lanes, by the portable order. */
static inline V16 double fold_v(v16f v)
{
    float a[LANES];
    v16_storeu(a, v);
    return fold(a);
}

/* dy where ymask > 0, else 0 (the whole vector when ymask is NULL), on the lanes of k (the
 * others 0) */
static inline V16 v16f load_g(const float *dy, const float *ymask, int64_t i, __mmask16 k)
{
    const v16f g = v16_maskz_loadu(k, dy + i);
    if (ymask == NULL) {
        return g;
    }
    const __mmask16 pos = v16_cmp_mask(v16_maskz_loadu(k, ymask + i),
                                             v16_setzero(), _CMP_GT_OQ);
    return v16_maskz_mov(pos, g);
}

/* The AVX-512 loops walk the same blocks as the portable ones without a test per block:
 * within a row, the full blocks up to the next fold, then the row's short block. */
static inline int64_t run_end(int64_t i, int64_t n, int t)
{
    const int64_t e = i + (int64_t)(BLOCKS_PER_RUN - t) * LANES;
    return e < n ? e : n;
}

static V16 double sum_v(const float *x, int64_t rows, int64_t stride, int64_t n)
{
    double s = 0.0;
    v16f a = v16_setzero();
    int t = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *p = x + r * stride;
        for (int64_t i = 0; i < n;) {
            if (t == BLOCKS_PER_RUN) {
                s += fold_v(a);
                a = v16_setzero();
                t = 0;
            }
            const int64_t e = run_end(i, n, t);
            for (; i + LANES <= e; i += LANES, t++) {
                a = v16_add(a, v16_loadu(p + i));
            }
            if (i < e) {
                a = v16_add(a, v16_maskz_loadu(first_bits(e - i), p + i));
                i = e;
                t++;
            }
        }
    }
    return t > 0 ? s + fold_v(a) : s;
}

/* The paired sums: *sa += sum g, *sq += sum g (x - m), with g = x - m (dev) or the masked
 * gradient (bwd_sums); one loop for both, the kind a constant where inlined. */
static inline V16 void pair_sums_v(const int dev, const float *x, const float *dy,
                                      const float *ymask, int64_t rows, int64_t stride,
                                      int64_t n, float m, double *sa, double *sq)
{
    const v16f mv = v16_set1(m);
    v16f a = v16_setzero(), q = v16_setzero();
    int t = 0;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t o = r * stride;
        for (int64_t i = 0; i < n;) {
            if (t == BLOCKS_PER_RUN) {
                *sa += fold_v(a);
                *sq += fold_v(q);
                a = q = v16_setzero();
                t = 0;
            }
            const int64_t e = run_end(i, n, t);
            for (; i + LANES <= e; i += LANES, t++) {
                const v16f d = v16_sub(v16_loadu(x + o + i), mv);
                const v16f g = dev ? d : load_g(dy, ymask, o + i, 0xffff);
                a = v16_add(a, g);
                q = v16_add(q, v16_mul(g, d));
            }
            if (i < e) {
                /* the short block: lanes past it add exact zeros */
                const __mmask16 k = first_bits(e - i);
                const v16f d = v16_maskz_sub(k, v16_maskz_loadu(k, x + o + i), mv);
                const v16f g = dev ? d : load_g(dy, ymask, o + i, k);
                a = v16_add(a, g);
                q = v16_add(q, v16_mul(g, d));
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

static V16 void dev_v(const float *x, int64_t rows, int64_t stride, int64_t n, float m,
                         double *s1, double *s2)
{
    pair_sums_v(1, x, NULL, NULL, rows, stride, n, m, s1, s2);
}

static V16 void bwd_sums_v(const float *x, const float *dy, const float *ymask,
                              int64_t rows, int64_t stride, int64_t n, float m, double *sg,
                              double *sd)
{
    pair_sums_v(0, x, dy, ymask, rows, stride, n, m, sg, sd);
}

static V16 void norm_v(const float *x, float *y, int64_t n, float m, float a, float s,
                          int relu)
{
    const v16f mv = v16_set1(m), av = v16_set1(a), sv = v16_set1(s);
    const v16f zero = v16_setzero();
    for (int64_t i = 0; i < n; i += LANES) {
        const __mmask16 k = first_bits(n - i);
        v16f v = v16_add(v16_mul(v16_sub(v16_maskz_loadu(k, x + i),
                                                             mv),
                                               av),
                                 sv);
        if (relu) {
            /* 0 where v < 0; -0 and NaN stay, as the portable select */
            v = v16_mask_mov(v, v16_cmp_mask(v, zero, _CMP_LT_OQ), zero);
        }
        v16_mask_storeu(y + i, k, v);
    }
}

static V16 void dx_v(const float *x, const float *dy, const float *ymask, float *dx,
                        int64_t n, float m, float a, float md, float b)
{
    const v16f mv = v16_set1(m), av = v16_set1(a), mdv = v16_set1(md);
    const v16f bv = v16_set1(b);
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        const v16f g = load_g(dy, ymask, i, 0xffff);
        const v16f t = v16_mul(bv, v16_sub(v16_loadu(x + i), mv));
        v16_storeu(dx + i, v16_mul(av, v16_sub(v16_sub(g, mdv), t)));
    }
    for (; i < n; i++) {
        dx[i] = a * ((masked(dy, ymask, i) - md) - b * (x[i] - m));
    }
}

const lam_bn_spans V16_NAME(lam__bn_spans) = {sum_v, dev_v, bwd_sums_v, norm_v, dx_v};
