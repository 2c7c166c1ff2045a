/*
 * 16-float vectors for the kernels that are compiled once per instruction set: with
 * AVX-512 they are __m512 and these names are its intrinsics; with AVX2 + FMA (define
 * LAM_V16_AVX2 before including) a vector is two __m256 halves, and each operation runs on
 * both halves.
 *
 * Why one vocabulary and not a second, 8-wide set of kernels: every lane operation here is
 * the same IEEE operation on the same data in both forms (an FMA is one rounding either
 * way), and the folds across lanes are written in one order. So a kernel gives the same bits
 * on an AVX2 machine as on an AVX-512 one, and the tests that hold the fast paths to each
 * other bitwise hold on both. Tile sizes differ (AVX2 has 16 vector registers, AVX-512 32):
 * they are chosen with V16_REGS and change no sum.
 *
 * Masks stay __mmask16 bit sets. AVX2 turns one into two lane masks at each masked load or
 * store; a constant full mask compiles to plain loads and stores. Masked-off lanes are not
 * read (vmaskmovps does not fault), as with AVX-512.
 *
 * Include only inside `#if defined(__GNUC__) && defined(__x86_64__)`.
 */
#ifndef LAM_KERNELS_V16_H
#define LAM_KERNELS_V16_H

#include <immintrin.h>
#include <stdint.h>

#define V16_INLINE __attribute__((always_inline)) inline

/* bits [0, n) set; none for n <= 0, all 16 for n >= 16 */
static inline __mmask16 first_bits(int64_t n)
{
    return (__mmask16)(n <= 0 ? 0u : n >= 16 ? 0xffffu : (1u << n) - 1u);
}

#ifndef LAM_V16_AVX2

#define V16 __attribute__((target("avx512f")))
#define V16_REGS 32
/* an entry point's name in this instruction set's object */
#define V16_NAME(f) f##_avx512

typedef __m512 v16f;

#define v16_setzero() _mm512_setzero_ps()
#define v16_set1(x) _mm512_set1_ps(x)
#define v16_loadu(p) _mm512_loadu_ps(p)
#define v16_storeu(p, v) _mm512_storeu_ps(p, v)
#define v16_maskz_loadu(m, p) _mm512_maskz_loadu_ps(m, p)
#define v16_mask_storeu(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define v16_add(a, b) _mm512_add_ps(a, b)
#define v16_sub(a, b) _mm512_sub_ps(a, b)
#define v16_mul(a, b) _mm512_mul_ps(a, b)
#define v16_fmadd(a, b, c) _mm512_fmadd_ps(a, b, c)
#define v16_mask_mov(src, m, a) _mm512_mask_mov_ps(src, m, a)
#define v16_maskz_mov(m, a) _mm512_maskz_mov_ps(m, a)
#define v16_cmp_mask(a, b, pred) _mm512_cmp_ps_mask(a, b, pred)
#define v16_maskz_sub(m, a, b) _mm512_maskz_sub_ps(m, a, b)

/* lanes 0-7 plus lanes 8-15 */
static V16_INLINE V16 __m256 v16_fold256(v16f v)
{
    return _mm256_add_ps(_mm512_castps512_ps256(v),
                         _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

#else

#define V16 __attribute__((target("avx2,fma")))
#define V16_REGS 16
#define V16_NAME(f) f##_avx2

typedef struct v16f {
    __m256 lo, hi; /* lanes 0-7, 8-15 */
} v16f;

static V16_INLINE V16 v16f v16_pair(__m256 lo, __m256 hi)
{
    v16f r = {lo, hi};
    return r;
}

/* the lane masks of bits 0-7 of m */
static V16_INLINE V16 __m256i v16__lanes(unsigned m)
{
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)m), bit), bit);
}

static V16_INLINE V16 v16f v16_setzero(void)
{
    return v16_pair(_mm256_setzero_ps(), _mm256_setzero_ps());
}

static V16_INLINE V16 v16f v16_set1(float x)
{
    const __m256 v = _mm256_set1_ps(x);
    return v16_pair(v, v);
}

static V16_INLINE V16 v16f v16_loadu(const float *p)
{
    return v16_pair(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8));
}

static V16_INLINE V16 void v16_storeu(float *p, v16f v)
{
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
}

static V16_INLINE V16 v16f v16_maskz_loadu(__mmask16 m, const float *p)
{
    if (__builtin_constant_p(m) && m == 0xffff) {
        return v16_loadu(p);
    }
    const unsigned lo = m & 0xffu, hi = (unsigned)m >> 8;
    return v16_pair(lo == 0xffu ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, v16__lanes(lo)),
                    _mm256_maskload_ps(p + 8, v16__lanes(hi)));
}

static V16_INLINE V16 void v16_mask_storeu(float *p, __mmask16 m, v16f v)
{
    if (__builtin_constant_p(m) && m == 0xffff) {
        v16_storeu(p, v);
        return;
    }
    const unsigned lo = m & 0xffu, hi = (unsigned)m >> 8;
    if (lo == 0xffu) {
        _mm256_storeu_ps(p, v.lo);
    } else {
        _mm256_maskstore_ps(p, v16__lanes(lo), v.lo);
    }
    if (hi != 0) {
        _mm256_maskstore_ps(p + 8, v16__lanes(hi), v.hi);
    }
}

static V16_INLINE V16 v16f v16_add(v16f a, v16f b)
{
    return v16_pair(_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi));
}

static V16_INLINE V16 v16f v16_sub(v16f a, v16f b)
{
    return v16_pair(_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi));
}

static V16_INLINE V16 v16f v16_mul(v16f a, v16f b)
{
    return v16_pair(_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi));
}

static V16_INLINE V16 v16f v16_fmadd(v16f a, v16f b, v16f c)
{
    return v16_pair(_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi));
}

/* a where m is set, else src */
static V16_INLINE V16 v16f v16_mask_mov(v16f src, __mmask16 m, v16f a)
{
    const unsigned lo = m & 0xffu, hi = (unsigned)m >> 8;
    return v16_pair(_mm256_blendv_ps(src.lo, a.lo, _mm256_castsi256_ps(v16__lanes(lo))),
                    _mm256_blendv_ps(src.hi, a.hi, _mm256_castsi256_ps(v16__lanes(hi))));
}

static V16_INLINE V16 v16f v16_maskz_mov(__mmask16 m, v16f a)
{
    return v16_mask_mov(v16_setzero(), m, a);
}

static V16_INLINE V16 v16f v16_maskz_sub(__mmask16 m, v16f a, v16f b)
{
    return v16_maskz_mov(m, v16_sub(a, b));
}

/* the comparison's result as a bit set (pred is one of _CMP_*, a constant) */
#define v16_cmp_mask(a, b, pred)                                                            \
    ((__mmask16)((unsigned)_mm256_movemask_ps(_mm256_cmp_ps((a).lo, (b).lo, pred)) |        \
                 (unsigned)_mm256_movemask_ps(_mm256_cmp_ps((a).hi, (b).hi, pred)) << 8))

static V16_INLINE V16 __m256 v16_fold256(v16f v)
{
    return _mm256_add_ps(v.lo, v.hi);
}

#endif

#endif
