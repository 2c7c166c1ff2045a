/*
 * Max and average pooling, OpenMP over the N*C planes (each plane is independent, so the
 * result never depends on the thread count).
 *
 * Window of output (oy, ox): rows oy*SH - PH + [0, KH), columns ox*SW - PW + [0, KW).
 *   max:  y = max over the window's real pixels (padding never wins; ties -> the first in
 *         row-major order; a NaN wins, as in PyTorch), argmax = its index h*W + w.
 *         dx[argmax] += dy (dx zeroed first).
 *   avg:  y = sum over real pixels / (KH*KW)   (count_include_pad = True: with floor output
 *         sizes every window lies inside the padded image, so the divisor is constant).
 *         dx[pixel] += dy / (KH*KW) for every window holding it.
 *
 * The max pool works plane by plane (lam__maxpool_plane_fwd_isa/bwd_isa) so a fused conv can
 * pool each output plane while it is still in cache. The 2x2, stride-2, unpadded window of
 * most CNNs has its own branch-free loops: SSE2 here, AVX-512 in pool_avx512.c when the CPU
 * has it (the general loops cost ~20% of a seed-CNN training step, mostly in mispredicted
 * compares).
 */
#include <math.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kernels.h"

/* Clip the window [o*s - p, o*s - p + k) to [0, in). */
static void window(int64_t o, int64_t s, int64_t p, int64_t k, int64_t in, int64_t *lo,
                   int64_t *hi)
{
    int64_t a = o * s - p, b = a + k;
    *lo = a < 0 ? 0 : a;
    *hi = b > in ? in : b;
}

static int is_2x2(const lam_pool_geom *g)
{
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0;
}

/* v replaces best when it is larger, or a NaN over a number: "ties -> first, NaN wins".
 * Written as !(v <= best) && best is a number, which is the same predicate. */
static inline int takes(float v, float best)
{
    return !(v <= best) && best == best;
}

/* One 2x2 window (taps a b / c d in row-major order) at flat index i0 of its first tap. */
static inline void win_fwd(float a, float b, float c, float d, int32_t i0, int32_t w, int relu,
                           float *y, int32_t *am)
{
    float best = a;
    int32_t bi = i0;
    if (takes(b, best)) {
        best = b;
        bi = i0 + 1;
    }
    if (takes(c, best)) {
        best = c;
        bi = i0 + w;
    }
    if (takes(d, best)) {
        best = d;
        bi = i0 + w + 1;
    }
    /* relu(max) == max(relu): 4x fewer operations; a NaN stays NaN */
    *y = relu && best < 0.0f ? 0.0f : best;
    *am = bi;
}

#if defined(__SSE2__)
/* Four windows: t = !(v <= best) & (best == best) as masks, the selects as and/andnot/or. */
static inline __m128 sel_ps(__m128 t, __m128 a, __m128 b)
{
    return _mm_or_ps(_mm_and_ps(t, a), _mm_andnot_ps(t, b));
}

static inline __m128i sel_epi32(__m128 t, __m128i a, __m128i b)
{
    const __m128i m = _mm_castps_si128(t);
    return _mm_or_si128(_mm_and_si128(m, a), _mm_andnot_si128(m, b));
}

/* Start of the next block of 4 windows: the last one is moved back to end at ow. */
static inline int64_t next_block(int64_t ox, int64_t ow)
{
    return ox + 8 > ow && ox + 4 < ow ? ow - 4 : ox + 4;
}

static inline void takes4(__m128 v, __m128i iv, __m128 *best, __m128i *bi)
{
    const __m128 t = _mm_andnot_ps(_mm_cmple_ps(v, *best), _mm_cmpord_ps(*best, *best));
    *best = sel_ps(t, v, *best);
    *bi = sel_epi32(t, iv, *bi);
}
#endif

/* 2x2 stride 2: the four taps of each window as selects; SSE2 does four windows at once
 * (the compiler does not vectorise the strided loads with the index selects). */
static void plane_fwd_2x2(const lam_pool_geom *g, const float *restrict x, int relu,
                          float *restrict y, int32_t *restrict argmax, int simd)
{
    const int64_t w = g->w, ow = g->ow;
    const int32_t iw = (int32_t)w;
    for (int64_t oy = 0; oy < g->oh; oy++) {
        const float *restrict r0 = x + 2 * oy * w;
        const float *restrict r1 = r0 + w;
        float *restrict yr = y + oy * ow;
        int32_t *restrict ar = argmax + oy * ow;
        const int32_t base = (int32_t)(2 * oy * w);
        int64_t ox = 0;
#if defined(__SSE2__)
        const __m128i step = _mm_set_epi32(6, 4, 2, 0);
        const __m128i one = _mm_set1_epi32(1), wv = _mm_set1_epi32(iw);
        const __m128 zero = _mm_setzero_ps();
        /* The last block overlaps the one before when ow % 4 != 0: windows are recomputed
         * with the same result, which beats a mispredicting scalar tail (ow is 14 and 7 on
         * the seed CNN). */
        for (; simd && ow >= 4 && ox < ow; ox = next_block(ox, ow)) {
            const __m128 p0 = _mm_loadu_ps(r0 + 2 * ox), p1 = _mm_loadu_ps(r0 + 2 * ox + 4);
            const __m128 q0 = _mm_loadu_ps(r1 + 2 * ox), q1 = _mm_loadu_ps(r1 + 2 * ox + 4);
            const __m128 a = _mm_shuffle_ps(p0, p1, _MM_SHUFFLE(2, 0, 2, 0));
            const __m128 b = _mm_shuffle_ps(p0, p1, _MM_SHUFFLE(3, 1, 3, 1));
            const __m128 c = _mm_shuffle_ps(q0, q1, _MM_SHUFFLE(2, 0, 2, 0));
            const __m128 d = _mm_shuffle_ps(q0, q1, _MM_SHUFFLE(3, 1, 3, 1));
            const __m128i i0 = _mm_add_epi32(_mm_set1_epi32(base + (int32_t)(2 * ox)), step);
            const __m128i i2 = _mm_add_epi32(i0, wv);
            __m128 best = a;
            __m128i bi = i0;
            takes4(b, _mm_add_epi32(i0, one), &best, &bi);
            takes4(c, i2, &best, &bi);
            takes4(d, _mm_add_epi32(i2, one), &best, &bi);
            if (relu) {
                best = _mm_andnot_ps(_mm_cmplt_ps(best, zero), best);
            }
            _mm_storeu_ps(yr + ox, best);
            _mm_storeu_si128((__m128i *)(void *)(ar + ox), bi);
        }
#endif
        for (; ox < ow; ox++) {
            win_fwd(r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1],
                    base + (int32_t)(2 * ox), iw, relu, yr + ox, ar + ox);
        }
    }
}

void lam__maxpool_plane_fwd_isa(const lam_pool_geom *g, const float *x, int relu, float *y,
                                int32_t *argmax, int isa)
{
    if (is_2x2(g)) {
        isa = isa == LAM_ISA_AUTO ? lam__best_isa() : isa;
        if (isa == LAM_ISA_AVX512) {
            lam__maxpool_2x2_fwd_avx512(g, x, relu, y, argmax);
        } else {
            plane_fwd_2x2(g, x, relu, y, argmax, isa >= LAM_ISA_SSE2);
        }
        return;
    }
    for (int64_t oy = 0; oy < g->oh; oy++) {
        int64_t y0, y1;
        window(oy, g->sh, g->ph, g->kh, g->h, &y0, &y1);
        for (int64_t ox = 0; ox < g->ow; ox++) {
            int64_t x0, x1;
            window(ox, g->sw, g->pw, g->kw, g->w, &x0, &x1);
            /* The geometry guarantees a non-empty window (pad <= kernel/2). */
            int64_t best_i = y0 * g->w + x0;
            float best = x[best_i];
            for (int64_t iy = y0; iy < y1; iy++) {
                const float *row = x + iy * g->w;
                for (int64_t ix = x0; ix < x1; ix++) {
                    const float v = row[ix];
                    if (v > best || (isnan(v) && !isnan(best))) {
                        best = v;
                        best_i = iy * g->w + ix;
                    }
                }
            }
            y[oy * g->ow + ox] = relu && best < 0.0f ? 0.0f : best;
            argmax[oy * g->ow + ox] = (int32_t)best_i;
        }
    }
}

/* 2x2 stride 2: every input pixel of the covered area belongs to exactly one window, so dx
 * is written once, without a zeroing pass; rows/columns no window covers are zeroed. */
static void plane_bwd_2x2(const lam_pool_geom *g, const float *restrict dy,
                          const int32_t *restrict argmax, const float *restrict ymask,
                          float *restrict dx, int simd)
{
    const int64_t w = g->w, ow = g->ow;
    const int32_t iw = (int32_t)w;
    for (int64_t oy = 0; oy < g->oh; oy++) {
        float *restrict d0 = dx + 2 * oy * w;
        float *restrict d1 = d0 + w;
        const float *restrict gr = dy + oy * ow;
        const float *restrict mr = ymask != NULL ? ymask + oy * ow : NULL;
        const int32_t *restrict ar = argmax + oy * ow;
        const int32_t base = (int32_t)(2 * oy * w);
        int64_t ox = 0;
#if defined(__SSE2__)
        const __m128i step = _mm_set_epi32(6, 4, 2, 0);
        const __m128i one = _mm_set1_epi32(1), wv = _mm_set1_epi32(iw);
        const __m128 zero = _mm_setzero_ps();
        /* overlapping last block, as in the forward: dx entries are rewritten, not added */
        for (; simd && ow >= 4 && ox < ow; ox = next_block(ox, ow)) {
            __m128 v = _mm_loadu_ps(gr + ox);
            if (mr != NULL) {
                v = _mm_and_ps(_mm_cmpgt_ps(_mm_loadu_ps(mr + ox), zero), v);
            }
            const __m128i i0 = _mm_add_epi32(_mm_set1_epi32(base + (int32_t)(2 * ox)), step);
            const __m128i a = _mm_sub_epi32(_mm_loadu_si128((const __m128i *)(const void *)(
                                                ar + ox)), i0);
            const __m128 e0 = _mm_castsi128_ps(_mm_cmpeq_epi32(a, _mm_setzero_si128()));
            const __m128 e1 = _mm_castsi128_ps(_mm_cmpeq_epi32(a, one));
            const __m128 e2 = _mm_castsi128_ps(_mm_cmpeq_epi32(a, wv));
            const __m128 e3 = _mm_castsi128_ps(_mm_cmpeq_epi32(a, _mm_add_epi32(wv, one)));
            const __m128 v0 = _mm_and_ps(e0, v), v1 = _mm_and_ps(e1, v);
            const __m128 v2 = _mm_and_ps(e2, v), v3 = _mm_and_ps(e3, v);
            _mm_storeu_ps(d0 + 2 * ox, _mm_unpacklo_ps(v0, v1));
            _mm_storeu_ps(d0 + 2 * ox + 4, _mm_unpackhi_ps(v0, v1));
            _mm_storeu_ps(d1 + 2 * ox, _mm_unpacklo_ps(v2, v3));
            _mm_storeu_ps(d1 + 2 * ox + 4, _mm_unpackhi_ps(v2, v3));
        }
#endif
        for (; ox < ow; ox++) {
            float v = gr[ox];
            if (mr != NULL && !(mr[ox] > 0.0f)) {
                v = 0.0f;
            }
            const int32_t a = ar[ox] - base - (int32_t)(2 * ox);
            d0[2 * ox] = a == 0 ? v : 0.0f;
            d0[2 * ox + 1] = a == 1 ? v : 0.0f;
            d1[2 * ox] = a == iw ? v : 0.0f;
            d1[2 * ox + 1] = a == iw + 1 ? v : 0.0f;
        }
        for (int64_t ix = 2 * ow; ix < w; ix++) {
            d0[ix] = 0.0f;
            d1[ix] = 0.0f;
        }
    }
    if (2 * g->oh < g->h) {
        memset(dx + 2 * g->oh * w, 0, (size_t)((g->h - 2 * g->oh) * w) * sizeof(float));
    }
}

void lam__maxpool_plane_bwd_isa(const lam_pool_geom *g, const float *dy, const int32_t *argmax,
                                const float *ymask, float *dx, int isa)
{
    if (is_2x2(g)) {
        isa = isa == LAM_ISA_AUTO ? lam__best_isa() : isa;
        if (isa == LAM_ISA_AVX512) {
            lam__maxpool_2x2_bwd_avx512(g, dy, argmax, ymask, dx);
        } else {
            plane_bwd_2x2(g, dy, argmax, ymask, dx, isa >= LAM_ISA_SSE2);
        }
        return;
    }
    const int64_t ohw = g->oh * g->ow;
    memset(dx, 0, (size_t)(g->h * g->w) * sizeof(float));
    for (int64_t i = 0; i < ohw; i++) {
        if (ymask == NULL || ymask[i] > 0.0f) {
            dx[argmax[i]] += dy[i];
        }
    }
}

static void avg_plane_fwd(const lam_pool_geom *g, const float *xp, float *yp)
{
    const float inv = 1.0f / (float)(g->kh * g->kw);
    for (int64_t oy = 0; oy < g->oh; oy++) {
        int64_t y0, y1;
        window(oy, g->sh, g->ph, g->kh, g->h, &y0, &y1);
        for (int64_t ox = 0; ox < g->ow; ox++) {
            int64_t x0, x1;
            window(ox, g->sw, g->pw, g->kw, g->w, &x0, &x1);
            float s = 0.0f;
            for (int64_t iy = y0; iy < y1; iy++) {
                const float *row = xp + iy * g->w;
                for (int64_t ix = x0; ix < x1; ix++) {
                    s += row[ix];
                }
            }
            yp[oy * g->ow + ox] = s * inv;
        }
    }
}

static void avg_plane_bwd(const lam_pool_geom *g, const float *dyp, float *dxp)
{
    const float inv = 1.0f / (float)(g->kh * g->kw);
    memset(dxp, 0, (size_t)(g->h * g->w) * sizeof(float));
    for (int64_t oy = 0; oy < g->oh; oy++) {
        int64_t y0, y1;
        window(oy, g->sh, g->ph, g->kh, g->h, &y0, &y1);
        for (int64_t ox = 0; ox < g->ow; ox++) {
            int64_t x0, x1;
            window(ox, g->sw, g->pw, g->kw, g->w, &x0, &x1);
            const float d = dyp[oy * g->ow + ox] * inv;
            for (int64_t iy = y0; iy < y1; iy++) {
                float *row = dxp + iy * g->w;
                for (int64_t ix = x0; ix < x1; ix++) {
                    row[ix] += d;
                }
            }
        }
    }
}

/* The four batch kernels: one plane per item. */
typedef enum plane_op { MAX_FWD, MAX_BWD, AVG_FWD, AVG_BWD } plane_op;

static void plane(plane_op op, const lam_pool_geom *g, const float *in, float *out,
                  const int32_t *am_in, int32_t *am_out, int64_t pl, int isa)
{
    const int64_t hw = g->h * g->w, ohw = g->oh * g->ow;
    switch (op) {
    case MAX_FWD:
        lam__maxpool_plane_fwd_isa(g, in + pl * hw, 0, out + pl * ohw, am_out + pl * ohw, isa);
        break;
    case MAX_BWD:
        lam__maxpool_plane_bwd_isa(g, in + pl * ohw, am_in + pl * ohw, NULL, out + pl * hw, isa);
        break;
    case AVG_FWD: avg_plane_fwd(g, in + pl * hw, out + pl * ohw); break;
    case AVG_BWD: avg_plane_bwd(g, in + pl * ohw, out + pl * hw); break;
    }
}

typedef struct planes_pass {
    plane_op op;
    const lam_pool_geom *g;
    const float *in;
    float *out;
    const int32_t *am_in;
    int32_t *am_out;
    int isa;
} planes_pass;

static void item_plane(const void *arg, int64_t pl, int lane)
{
    const planes_pass *ps = arg;
    (void)lane;
    plane(ps->op, ps->g, ps->in, ps->out, ps->am_in, ps->am_out, pl, ps->isa);
}

/* Over every plane, one item each (lam__run_phases: no OpenMP region on one thread). */
static void planes(plane_op op, const lam_pool_geom *g, const float *in, float *out,
                   const int32_t *am_in, int32_t *am_out, int nt)
{
    /* the ISA is asked once per call, not per plane */
    const planes_pass ps = {op, g, in, out, am_in, am_out, lam__best_isa()};
    const lam_phase ph = {item_plane, g->n * g->c, 1};
    lam__run_phases(g->n * g->c > 1 ? nt : 1, &ps, &ph, 1);
}

void lam__maxpool_fwd(const lam_pool_geom *g, const float *x, float *y, int32_t *argmax, int nt)
{
    planes(MAX_FWD, g, x, y, NULL, argmax, nt);
}

void lam__maxpool_bwd(const lam_pool_geom *g, const float *dy, const int32_t *argmax, float *dx,
                      int nt)
{
    planes(MAX_BWD, g, dy, dx, argmax, NULL, nt);
}

void lam__avgpool_fwd(const lam_pool_geom *g, const float *x, float *y, int nt)
{
    planes(AVG_FWD, g, x, y, NULL, NULL, nt);
}

void lam__avgpool_bwd(const lam_pool_geom *g, const float *dy, float *dx, int nt)
{
    planes(AVG_BWD, g, dy, dx, NULL, NULL, nt);
}
