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
 * store, but only for a half that is partly set: a full half is a plain load or store, an
 * empty one nothing: a vmaskmovps store took 7 ns where a plain one took 0.8 on the AMD
 * EPYC (Zen 3) this was written on (a loop of stores to one L1-resident page), and the same
 * in a loop of rows that each end in a 6-of-8 half (6.6 ns a row against 1.1). Most masks
 * here are tails, first_bits(n), so a partly set half of such a mask is split into plain
 * stores of 4, 2 and 1 floats (2.3-2.6 ns a row in that loop); the tails of the Winograd
 * transforms' rows made it 1.04x on a ResNet-20 step at 1x28x28. Masked-off lanes are not
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

/* Lanes 0-7 from p0 and 8-15 from p1 (rows of tiles that a vector packs with a gap between
 * them), all of them or those of m; p1 == p0 + 8 is the plain load or store. */
static V16_INLINE V16 v16f v16_loadu2(const float *p0, const float *p1)
{
    if (p1 == p0 + 8) {
        return _mm512_loadu_ps(p0);
    }
    const __m512d lo = _mm512_castps_pd(_mm512_castps256_ps512(_mm256_loadu_ps(p0)));
    return _mm512_castpd_ps(_mm512_insertf64x4(lo, _mm256_castps_pd(_mm256_loadu_ps(p1)), 1));
}

static V16_INLINE V16 v16f v16_maskz_loadu2(__mmask16 m, const float *p0, const float *p1)
{
    if (p1 == p0 + 8) {
        return _mm512_maskz_loadu_ps(m, p0);
    }
    const v16f lo = _mm512_maskz_loadu_ps(m & 0xffu, p0);
    return _mm512_mask_loadu_ps(lo, m & 0xff00u, p1 - 8);
}

static V16_INLINE V16 void v16_mask_storeu2(float *p0, float *p1, __mmask16 m, v16f v)
{
    if (p1 == p0 + 8) {
        _mm512_mask_storeu_ps(p0, m, v);
        return;
    }
    _mm512_mask_storeu_ps(p0, m & 0xffu, v);
    _mm512_mask_storeu_ps(p1 - 8, m & 0xff00u, v);
}

/* Lanes 0-7 at p0, then 8-15 at p1: where the two overlap, p1's. */
static V16_INLINE V16 void v16_storeu2(float *p0, float *p1, v16f v)
{
    if (p1 == p0 + 8) {
        _mm512_storeu_ps(p0, v);
        return;
    }
    _mm256_storeu_ps(p0, _mm512_castps512_ps256(v));
    _mm256_storeu_ps(p1, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

/* lanes 0-7 plus lanes 8-15 */
static V16_INLINE V16 __m256 v16_fold256(v16f v)
{
    return _mm256_add_ps(_mm512_castps512_ps256(v),
                         _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

/* The even and the odd lanes of the 32 floats lo:hi (lo first). */
static V16_INLINE V16 v16f v16_even(v16f lo, v16f hi)
{
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4,
                                        2, 0);
    return _mm512_permutex2var_ps(lo, ev, hi);
}

static V16_INLINE V16 v16f v16_odd(v16f lo, v16f hi)
{
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5,
                                        3, 1);
    return _mm512_permutex2var_ps(lo, od, hi);
}

/* a0 b0 a1 b1 .. a7 b7 (zip_lo) and a8 b8 .. a15 b15 (zip_hi) */
static V16_INLINE V16 v16f v16_zip_lo(v16f a, v16f b)
{
    const __m512i il = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutex2var_ps(a, il, b);
}

static V16_INLINE V16 v16f v16_zip_hi(v16f a, v16f b)
{
    const __m512i ih = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
                                        24, 8);
    return _mm512_permutex2var_ps(a, ih, b);
}

/* lane i gets v[i - 1] (lane 0: 0), or v[i + 1] (lane 15: 0) */
static V16_INLINE V16 v16f v16_shift_up1(v16f v)
{
    return _mm512_castsi512_ps(
        _mm512_alignr_epi32(_mm512_castps_si512(v), _mm512_setzero_si512(), 15));
}

static V16_INLINE V16 v16f v16_shift_down1(v16f v)
{
    return _mm512_castsi512_ps(
        _mm512_alignr_epi32(_mm512_setzero_si512(), _mm512_castps_si512(v), 1));
}

/* base[idx[l]] on the lanes of m, else 0 */
static V16_INLINE V16 v16f v16_maskz_gather(__mmask16 m, const int32_t *idx, const float *base)
{
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, _mm512_loadu_si512(idx), base, 4);
}

/* 16 int32 lanes: the few operations the Winograd transforms' tile columns need */
typedef __m512i v16i;
#define v16i_loadu(p) _mm512_loadu_si512(p)
#define v16i_set1(x) _mm512_set1_epi32(x)
#define v16i_add(a, b) _mm512_add_epi32(a, b)
#define v16i_cmpneq_mask(a, b) _mm512_cmpneq_epi32_mask(a, b)
#define v16i_cmpge_mask(a, b) _mm512_cmpge_epi32_mask(a, b)
#define v16i_mask_sub(src, m, a, b) _mm512_mask_sub_epi32(src, m, a, b)

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

/* 8 floats at p on the lanes of the bits m (0..255) */
static V16_INLINE V16 __m256 v16__load8(const float *p, unsigned m)
{
    if (m == 0xffu) {
        return _mm256_loadu_ps(p);
    }
    return m == 0 ? _mm256_setzero_ps() : _mm256_maskload_ps(p, v16__lanes(m));
}

/* A partial half whose lanes are a prefix (first_bits: nearly every tail here) goes out as
 * at most three plain stores of 4, 2 and 1 floats; only other masks take vmaskmovps. */
static V16_INLINE V16 void v16__store8(float *p, unsigned m, __m256 v)
{
    if (m == 0xffu) {
        _mm256_storeu_ps(p, v);
    } else if (m != 0 && (m & (m + 1)) == 0) {
        int n = __builtin_popcount(m);
        __m128 q = _mm256_castps256_ps128(v);
        if (n >= 4) {
            _mm_storeu_ps(p, q);
            q = _mm256_extractf128_ps(v, 1);
            p += 4;
            n -= 4;
        }
        if (n >= 2) {
            _mm_storel_pi((__m64 *)(void *)p, q);
            q = _mm_movehl_ps(q, q);
            p += 2;
            n -= 2;
        }
        if (n > 0) {
            _mm_store_ss(p, q);
        }
    } else if (m != 0) {
        _mm256_maskstore_ps(p, v16__lanes(m), v);
    }
}

static V16_INLINE V16 v16f v16_maskz_loadu(__mmask16 m, const float *p)
{
    return v16_pair(v16__load8(p, m & 0xffu), v16__load8(p + 8, (unsigned)m >> 8));
}

static V16_INLINE V16 void v16_mask_storeu(float *p, __mmask16 m, v16f v)
{
    v16__store8(p, m & 0xffu, v.lo);
    v16__store8(p + 8, (unsigned)m >> 8, v.hi);
}

static V16_INLINE V16 v16f v16_loadu2(const float *p0, const float *p1)
{
    return v16_pair(_mm256_loadu_ps(p0), _mm256_loadu_ps(p1));
}

static V16_INLINE V16 v16f v16_maskz_loadu2(__mmask16 m, const float *p0, const float *p1)
{
    return v16_pair(v16__load8(p0, m & 0xffu), v16__load8(p1, (unsigned)m >> 8));
}

static V16_INLINE V16 void v16_mask_storeu2(float *p0, float *p1, __mmask16 m, v16f v)
{
    v16__store8(p0, m & 0xffu, v.lo);
    v16__store8(p1, (unsigned)m >> 8, v.hi);
}

static V16_INLINE V16 void v16_storeu2(float *p0, float *p1, v16f v)
{
    _mm256_storeu_ps(p0, v.lo);
    _mm256_storeu_ps(p1, v.hi);
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

/* the bit set of the lanes whose sign bits are set in l (lanes 0-7) and h (8-15): the lanes
 * of two lane masks */
static V16_INLINE V16 __mmask16 v16__bits(__m256 l, __m256 h)
{
    return (__mmask16)((unsigned)_mm256_movemask_ps(l) | (unsigned)_mm256_movemask_ps(h) << 8);
}

/* the comparison's result as a bit set (pred is one of _CMP_*, a constant) */
#define v16_cmp_mask(a, b, pred)                                                            \
    v16__bits(_mm256_cmp_ps((a).lo, (b).lo, pred), _mm256_cmp_ps((a).hi, (b).hi, pred))

static V16_INLINE V16 __m256 v16_fold256(v16f v)
{
    return _mm256_add_ps(v.lo, v.hi);
}

/* the even (odd) lanes of a:b, 8 floats each, in order */
static V16_INLINE V16 __m256 v16__even8(__m256 a, __m256 b)
{
    const __m256 s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)); /* a0 a2 b0 b2 a4 a6 b4 b6 */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

static V16_INLINE V16 __m256 v16__odd8(__m256 a, __m256 b)
{
    const __m256 s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

static V16_INLINE V16 v16f v16_even(v16f lo, v16f hi)
{
    return v16_pair(v16__even8(lo.lo, lo.hi), v16__even8(hi.lo, hi.hi));
}

static V16_INLINE V16 v16f v16_odd(v16f lo, v16f hi)
{
    return v16_pair(v16__odd8(lo.lo, lo.hi), v16__odd8(hi.lo, hi.hi));
}

/* a0 b0 .. a7 b7 from the 8-float halves a, b */
static V16_INLINE V16 v16f v16__zip8(__m256 a, __m256 b)
{
    const __m256 l = _mm256_unpacklo_ps(a, b), h = _mm256_unpackhi_ps(a, b);
    return v16_pair(_mm256_permute2f128_ps(l, h, 0x20), _mm256_permute2f128_ps(l, h, 0x31));
}

static V16_INLINE V16 v16f v16_zip_lo(v16f a, v16f b)
{
    return v16__zip8(a.lo, b.lo);
}

static V16_INLINE V16 v16f v16_zip_hi(v16f a, v16f b)
{
    return v16__zip8(a.hi, b.hi);
}

static V16_INLINE V16 v16f v16_shift_up1(v16f v)
{
    const __m256i rot = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
    const __m256 rl = _mm256_permutevar8x32_ps(v.lo, rot), rh = _mm256_permutevar8x32_ps(v.hi, rot);
    return v16_pair(_mm256_blend_ps(rl, _mm256_setzero_ps(), 0x01), _mm256_blend_ps(rh, rl, 0x01));
}

static V16_INLINE V16 v16f v16_shift_down1(v16f v)
{
    const __m256i rot = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 0);
    const __m256 rl = _mm256_permutevar8x32_ps(v.lo, rot), rh = _mm256_permutevar8x32_ps(v.hi, rot);
    return v16_pair(_mm256_blend_ps(rl, rh, 0x80), _mm256_blend_ps(rh, _mm256_setzero_ps(), 0x80));
}

static V16_INLINE V16 v16f v16_maskz_gather(__mmask16 m, const int32_t *idx, const float *base)
{
    const __m256 z = _mm256_setzero_ps();
    const __m256 ml = _mm256_castsi256_ps(v16__lanes(m & 0xffu));
    const __m256 mh = _mm256_castsi256_ps(v16__lanes((unsigned)m >> 8));
    const __m256i il = _mm256_loadu_si256((const __m256i *)idx);
    const __m256i ih = _mm256_loadu_si256((const __m256i *)(idx + 8));
    return v16_pair(_mm256_mask_i32gather_ps(z, base, il, ml, 4),
                    _mm256_mask_i32gather_ps(z, base, ih, mh, 4));
}

typedef struct v16i {
    __m256i lo, hi;
} v16i;

static V16_INLINE V16 v16i v16i_pair(__m256i lo, __m256i hi)
{
    v16i r = {lo, hi};
    return r;
}

static V16_INLINE V16 v16i v16i_loadu(const void *p)
{
    return v16i_pair(_mm256_loadu_si256((const __m256i *)p),
                     _mm256_loadu_si256((const __m256i *)p + 1));
}

static V16_INLINE V16 v16i v16i_set1(int x)
{
    const __m256i v = _mm256_set1_epi32(x);
    return v16i_pair(v, v);
}

static V16_INLINE V16 v16i v16i_add(v16i a, v16i b)
{
    return v16i_pair(_mm256_add_epi32(a.lo, b.lo), _mm256_add_epi32(a.hi, b.hi));
}

/* v16__bits of two int lane masks */
static V16_INLINE V16 __mmask16 v16__ibits(__m256i l, __m256i h)
{
    return v16__bits(_mm256_castsi256_ps(l), _mm256_castsi256_ps(h));
}

static V16_INLINE V16 __mmask16 v16i_cmpneq_mask(v16i a, v16i b)
{
    return (__mmask16)~v16__ibits(_mm256_cmpeq_epi32(a.lo, b.lo), _mm256_cmpeq_epi32(a.hi, b.hi));
}

static V16_INLINE V16 __mmask16 v16i_cmpge_mask(v16i a, v16i b)
{
    return (__mmask16)~v16__ibits(_mm256_cmpgt_epi32(b.lo, a.lo), _mm256_cmpgt_epi32(b.hi, a.hi));
}

/* a - b where m is set, else src */
static V16_INLINE V16 v16i v16i_mask_sub(v16i src, __mmask16 m, v16i a, v16i b)
{
    const __m256i ml = v16__lanes(m & 0xffu), mh = v16__lanes((unsigned)m >> 8);
    return v16i_pair(_mm256_blendv_epi8(src.lo, _mm256_sub_epi32(a.lo, b.lo), ml),
                     _mm256_blendv_epi8(src.hi, _mm256_sub_epi32(a.hi, b.hi), mh));
}

#endif

#endif
