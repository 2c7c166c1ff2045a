/*
 * The GEMM tiles of the convolutions (see conv_gemm.c for what each computes and why they
 * are not BLAS), written once on 16-float vectors (v16.h) and compiled once per instruction
 * set: gemm_avx512.c and gemm_avx2.c include this file. Its entry points are the table
 * lam__conv_gemm_tiles_avx512 (or _avx2) at the end.
 *
 * NN/TN: tiles of NN_MR rows x NN_NV vectors of 16 columns, no packing. For each k, the
 * vectors of B's row k and NN_MR broadcasts of A's column k: with AVX-512, 24 FMAs for 11
 * loads, so the FMA units, not the loads, set the pace (AVX2: 12 ymm FMAs for 8 loads). A's
 * element (i, p) is at a[i*ars + p*acs], which covers op(A) = A (ars = lda, acs = 1) and
 * A^T (ars = 1, acs = lda) alike; a tile reads A through one pointer per row (or one in all,
 * for A^T). Column tails are masked; row tails get tiles of fewer rows (each count compiled
 * separately). The same tile serves the window products, where B's row k (or A's row i) is
 * a row of an implicit im2col matrix.
 * NT: C[i][j] = sum_p A[i][p] B[j][p] as dot products along p, in tiles of 4x4 with 16
 * lanes each; lane sums are added at the end in a fixed order.
 *
 * Every element's sum runs in one order fixed by the shape, whatever the tile or the
 * instruction set, so results depend neither on the thread count nor on the CPU.
 * Include only inside `#if defined(__GNUC__) && defined(__x86_64__)`, after v16.h.
 */
#include "conv_gemm.h"

/* A full NN tile: NN_MR rows x NN_NV vectors of 16 columns, its accumulators in registers
 * (24 of 32 with AVX-512; 12 of 16 ymm with AVX2, where a vector is two). Tiles of fewer rows
 * or vectors serve the edges; the arrays are sized for the largest of either ISA. */
#if V16_REGS >= 32
#define NN_MR 8
#define NN_NV 3
#else
#define NN_MR 6
#define NN_NV 1
#endif
#define NN_MR_MAX 8
#define NN_NV_MAX 3

#define ALWAYS_INLINE V16_INLINE

/* Where the NN kernels' operands come from: A and B as strided matrices, or one of them a
 * window (lam_window, an implicit im2col matrix). The kind is a compile-time constant in
 * every tile, so each variant compiles to its own loop. */
enum { NN_PLAIN, NN_PLAIN_T, NN_WIN_B, NN_WIN_A };

/* acc[i][v] += a_i * B row (one k step of a tile); bp is the row's first column. */
static ALWAYS_INLINE V16 void nn_step(const int mr, const int nv, v16f acc[NN_MR_MAX][NN_NV_MAX],
                                         const float av[NN_MR_MAX], const float *bp,
                                         __mmask16 last)
{
    v16f bv[NN_NV_MAX];
    for (int v = 0; v < nv; v++) {
        bv[v] = v == nv - 1 ? v16_maskz_loadu(last, bp + 16 * v)
                            : v16_loadu(bp + 16 * v);
    }
    for (int i = 0; i < mr; i++) {
        const v16f a = v16_set1(av[i]);
        for (int v = 0; v < nv; v++) {
            acc[i][v] = v16_fmadd(a, bv[v], acc[i][v]);
        }
    }
}

/* Where A's rows start for a tile of mr rows from row i: its element (r, p) is then
 * ar[r][p] (A row-major, or a window), or ar[0][p*acs + r] for A^T (NN_PLAIN with acs > 1,
 * one pointer). Row pointers keep the inner loop to one index register and a base per row,
 * where i*ars + p*acs cost a multiply-add chain per step. */
static ALWAYS_INLINE void tile_rows(const int kind, const int mr, const nn_args *g, int64_t i,
                                    const float *ar[NN_MR_MAX])
{
    for (int r = 0; r < mr; r++) {
        ar[r] = kind == NN_WIN_A ? window_row(g->aw, i + r) : g->a + (i + r) * g->ars;
    }
}

/* One k step (k index p, A's column index q) with B's row at bp. */
static ALWAYS_INLINE V16 void nn_step_a(const int mr, const int nv, v16f acc[NN_MR_MAX][NN_NV_MAX],
                                           const float *const ar[NN_MR_MAX], int64_t q, int cols,
                                           const float *bp, __mmask16 last)
{
    float av[NN_MR_MAX];
    for (int r = 0; r < mr; r++) {
        av[r] = cols ? ar[0][q + r] : ar[r][q];
    }
    nn_step(mr, nv, acc, av, bp, last);
}

/* One tile of mr rows (from row i) and nv vectors of columns (from column j; the last vector
 * masked by `last`): C (+)= A * B over all k, one FMA chain per element in k order (two, for
 * even and odd k, in one-vector tiles of a window A). */
static ALWAYS_INLINE V16 void nn_tile(const int kind, const int mr, const int nv,
                                         const nn_args *g, int64_t i, int64_t j, __mmask16 last)
{
    v16f acc[NN_MR_MAX][NN_NV_MAX];
    for (int r = 0; r < mr; r++) {
        for (int v = 0; v < nv; v++) {
            acc[r][v] = v16_setzero();
        }
    }
    const float *ar[NN_MR_MAX];
    tile_rows(kind, mr, g, i, ar);
    if (kind == NN_WIN_B) {
        /* the window's rows in order: channel, kernel row, kernel column, then ones */
        const lam_window *w = g->bw;
        int64_t p = 0;
        for (int64_t ch = 0; ch < w->chans; ch++) {
            for (int64_t y = 0; y < w->kh; y++) {
                const float *row = w->base + ch * w->plane + y * w->row + j;
                /* The next column block's piece of this row (4 lines: 48 floats and the kernel
                 * columns' overhang). The window's rows are far apart in the frame (a row
                 * per channel and kernel row), more streams than the hardware prefetchers
                 * follow, so without this every tile waited on its first loads from L2:
                 * +18-23% on the ResNet-20 window GEMMs (bench/NOTES-engine.md, eighth round). */
                for (int l = 0; l < 4; l++) {
                    _mm_prefetch((const char *)(row + 16 * (NN_NV + l)), _MM_HINT_T0);
                }
                for (int64_t x = 0; x < w->kw; x++, p++) {
                    nn_step_a(mr, nv, acc, ar, p, 0, row + x, last);
                }
            }
        }
        if (w->ones != NULL) {
            nn_step_a(mr, nv, acc, ar, p, 0, w->ones + j, last);
        }
    } else if (kind == NN_PLAIN_T) {
        const float *b = g->b + j;
        for (int64_t p = 0; p < g->k; p++) {
            nn_step_a(mr, nv, acc, ar, p * g->acs, 1, b + p * g->ldb, last);
        }
    } else if (kind == NN_WIN_A && nv == 1) {
        /* One vector of columns (the weight gradient of 16 channels): mr FMA chains are too
         * few to cover the FMA latency, so even and odd k run in two sets of accumulators,
         * added at the end (a fixed order). Only here: elsewhere one-vector tiles are the
         * tails of products whose bits the im2col and implicit paths must share. */
        const float *b = g->b + j;
        int64_t p = 0;
        for (int r = 0; r < mr; r++) {
            acc[r][1] = v16_setzero();
        }
        for (; p + 2 <= g->k; p += 2) {
            const v16f b0 = v16_maskz_loadu(last, b + p * g->ldb);
            const v16f b1 = v16_maskz_loadu(last, b + (p + 1) * g->ldb);
            for (int r = 0; r < mr; r++) {
                acc[r][0] = v16_fmadd(v16_set1(ar[r][p]), b0, acc[r][0]);
                acc[r][1] = v16_fmadd(v16_set1(ar[r][p + 1]), b1, acc[r][1]);
            }
        }
        if (p < g->k) {
            nn_step_a(mr, 1, acc, ar, p, 0, b + p * g->ldb, last);
        }
        for (int r = 0; r < mr; r++) {
            acc[r][0] = v16_add(acc[r][0], acc[r][1]);
        }
    } else {
        const float *b = g->b + j;
        for (int64_t p = 0; p < g->k; p++) {
            nn_step_a(mr, nv, acc, ar, p, 0, b + p * g->ldb, last);
        }
    }
    for (int r = 0; r < mr; r++) {
        float *cr = g->c + (i + r) * g->ldc + j;
        for (int v = 0; v < nv; v++) {
            const __mmask16 msk = v == nv - 1 ? last : 0xffff;
            v16f s = acc[r][v];
            if (g->add) {
                s = v16_add(v16_maskz_loadu(msk, cr + 16 * v), s);
            }
            v16_mask_storeu(cr + 16 * v, msk, s);
        }
    }
}

/* A column block of nv vectors for every row block: the row counts 1..8 each compiled with
 * constant bounds, so the accumulators live in registers. */
static ALWAYS_INLINE V16 void nn_cols(const int kind, const int nv, const nn_args *g,
                                         int64_t i0, int64_t j, __mmask16 last)
{
    int64_t i = i0;
    for (; i + NN_MR <= g->m; i += NN_MR) {
        nn_tile(kind, NN_MR, nv, g, i, j, last);
    }
    switch (g->m - i) {
    case 7: nn_tile(kind, 7, nv, g, i, j, last); break;
    case 6: nn_tile(kind, 6, nv, g, i, j, last); break;
    case 5: nn_tile(kind, 5, nv, g, i, j, last); break;
    case 4: nn_tile(kind, 4, nv, g, i, j, last); break;
    case 3: nn_tile(kind, 3, nv, g, i, j, last); break;
    case 2: nn_tile(kind, 2, nv, g, i, j, last); break;
    case 1: nn_tile(kind, 1, nv, g, i, j, last); break;
    default: break;
    }
}

/* Rows [i0, m) of C. */
static ALWAYS_INLINE V16 void gemm_nn(const int kind, const nn_args *g, int64_t i0)
{
    int64_t j = 0;
    for (; j + 16 * NN_NV <= g->n; j += 16 * NN_NV) {
        nn_cols(kind, NN_NV, g, i0, j, 0xffff);
    }
    const int64_t rest = g->n - j;
    if (NN_NV >= 3 && rest > 32) {
        nn_cols(kind, 3, g, i0, j, first_bits(rest - 32));
    } else if (NN_NV >= 2 && rest > 16) {
        nn_cols(kind, 2, g, i0, j, first_bits(rest - 16));
    } else if (rest > 0) {
        nn_cols(kind, 1, g, i0, j, first_bits(rest));
    }
}

static V16 void nn_plain(const nn_args *g)
{
    gemm_nn(NN_PLAIN, g, 0);
}

static V16 void nn_plain_t(const nn_args *g)
{
    gemm_nn(NN_PLAIN_T, g, 0);
}

static V16 void nn_win_b(const nn_args *g)
{
    gemm_nn(NN_WIN_B, g, 0);
}

/* ------------------------------------------------- window A, three kernel columns */

/* The weight gradient C(r, co) = sum_p window(r, p) B(p, co) of a window with three kernel
 * columns. Its rows (c, y, x) for x = 0, 1, 2 are one frame row u = base_cy shifted by x, so
 * C(c,y,x; co) = sum_q u[q] B(q - x, co): one broadcast of u[q] feeds three FMAs, against
 * B's rows q, q-1 and q-2, which slide through registers. The generic tile broadcast once
 * per FMA for the 16 columns of a 16-channel layer, so its loads, not its FMAs, set the
 * pace. Each element is still one FMA chain over p in order (rows of B outside [0, k) read
 * as zero vectors, whose products add exact zeros), the order of the generic tile. */
#if V16_REGS >= 32
#define WA_MR 6 /* (c, y) pairs per tile at most: 18 accumulators of one vector (8 pairs,
                 * 24 of them, spilled and ran at 0.6x), 24 of two vectors (4 pairs) */
#define WA_WIDE 1 /* two-vector tiles of 4 pairs */
#else
#define WA_MR 1 /* AVX2: 3 accumulators and 3 rows of B, 12 of the 16 ymm registers */
#define WA_WIDE 0
#endif
#define WA_MR_MAX 6

static ALWAYS_INLINE V16 void wa3_tile(const int mr, const int nv, const nn_args *g,
                                          int64_t cy0, int64_t j, __mmask16 last)
{
    const lam_window *w = g->aw;
    const float *u[WA_MR_MAX];
    for (int r = 0; r < mr; r++) {
        const int64_t cy = cy0 + r;
        u[r] = w->base + cy / w->kh * w->plane + cy % w->kh * w->row;
    }
    v16f acc[WA_MR_MAX][3][2], d[3][2];
    for (int r = 0; r < mr; r++) {
        for (int x = 0; x < 3; x++) {
            for (int v = 0; v < nv; v++) {
                acc[r][x][v] = v16_setzero();
            }
        }
    }
    for (int x = 0; x < 3; x++) {
        for (int v = 0; v < nv; v++) {
            d[x][v] = v16_setzero();
        }
    }
    const float *b = g->b + j;
    for (int64_t q = 0; q < g->k + 2; q++) {
        /* d[x] = B's row q - x */
        for (int v = 0; v < nv; v++) {
            d[2][v] = d[1][v];
            d[1][v] = d[0][v];
            const __mmask16 m = q < g->k ? (v == nv - 1 ? last : 0xffff) : 0;
            d[0][v] = v16_maskz_loadu(m, b + (q < g->k ? q : 0) * g->ldb + 16 * v);
        }
        for (int r = 0; r < mr; r++) {
            const v16f a = v16_set1(u[r][q]);
            for (int x = 0; x < 3; x++) {
                for (int v = 0; v < nv; v++) {
                    acc[r][x][v] = v16_fmadd(a, d[x][v], acc[r][x][v]);
                }
            }
        }
    }
    for (int r = 0; r < mr; r++) {
        for (int x = 0; x < 3; x++) {
            float *cr = g->c + ((cy0 + r) * 3 + x) * g->ldc + j;
            for (int v = 0; v < nv; v++) {
                const __mmask16 msk = v == nv - 1 ? last : 0xffff;
                v16f t = acc[r][x][v];
                if (g->add) {
                    t = v16_add(v16_maskz_loadu(msk, cr + 16 * v), t);
                }
                v16_mask_storeu(cr + 16 * v, msk, t);
            }
        }
    }
}

/* Every (c, y) pair for the columns [j, j + 16*nv): tiles of mr pairs (at most 6), then the
 * rest. */
static ALWAYS_INLINE V16 void wa3_cols(const int mr, const int nv, const nn_args *g,
                                          int64_t j, __mmask16 last)
{
    const int64_t pairs = g->aw->chans * g->aw->kh;
    int64_t cy = 0;
    for (; cy + mr <= pairs; cy += mr) {
        wa3_tile(mr, nv, g, cy, j, last);
    }
    /* the rest in one tile: a 1-channel layer has 3 pairs, too few FMA chains one by one */
    switch (pairs - cy) {
    case 5: wa3_tile(5, nv, g, cy, j, last); break;
    case 4: wa3_tile(4, nv, g, cy, j, last); break;
    case 3: wa3_tile(3, nv, g, cy, j, last); break;
    case 2: wa3_tile(2, nv, g, cy, j, last); break;
    case 1: wa3_tile(1, nv, g, cy, j, last); break;
    default: break;
    }
}

static V16 void nn_win_a(const nn_args *g)
{
    const lam_window *w = g->aw;
    if (w->kw != 3) {
        gemm_nn(NN_WIN_A, g, 0);
        return;
    }
    /* columns in blocks of 32, a last one of up to 16 (AVX2: blocks of 16) */
    int64_t j = 0;
    for (; WA_WIDE && j + 32 <= g->n; j += 32) {
        wa3_cols(4, 2, g, j, 0xffff);
    }
    for (; !WA_WIDE && j + 16 < g->n; j += 16) {
        wa3_cols(WA_MR, 1, g, j, 0xffff);
    }
    if (WA_WIDE && g->n - j > 16) {
        wa3_cols(4, 2, g, j, first_bits(g->n - j - 16));
    } else if (g->n > j) {
        wa3_cols(WA_MR, 1, g, j, first_bits(g->n - j));
    }
    if (w->ones != NULL) {
        gemm_nn(NN_WIN_A, g, w->chans * w->kh * w->kw); /* the ones row */
    }
}

/* ------------------------------------------------------------------------ NT */

/* Sums of the 16 lanes of each of 4 vectors, as one vector's first 4 lanes, by pairwise
 * folds (the same fixed order for every call). */
static inline V16 __m128 sum4(v16f v0, v16f v1, v16f v2, v16f v3)
{
    /* fold 512 -> 256 -> 128 in each vector, then transpose-add the four 128-bit rests */
    __m256 h0 = v16_fold256(v0), h1 = v16_fold256(v1), h2 = v16_fold256(v2),
           h3 = v16_fold256(v3);
    __m128 q0 = _mm_add_ps(_mm256_castps256_ps128(h0), _mm256_extractf128_ps(h0, 1));
    __m128 q1 = _mm_add_ps(_mm256_castps256_ps128(h1), _mm256_extractf128_ps(h1, 1));
    __m128 q2 = _mm_add_ps(_mm256_castps256_ps128(h2), _mm256_extractf128_ps(h2, 1));
    __m128 q3 = _mm_add_ps(_mm256_castps256_ps128(h3), _mm256_extractf128_ps(h3, 1));
    /* (a0+a1, a2+a3, b0+b1, b2+b3) and likewise for c, d; then one more add */
    __m128 ab = _mm_hadd_ps(q0, q1), cd = _mm_hadd_ps(q2, q3);
    return _mm_hadd_ps(ab, cd);
}

/* A tile of mr x nr dot products (each <= 4). */
static ALWAYS_INLINE V16 void nt_tile(const int mr, const int nr, int64_t k, const float *a,
                                         int64_t lda, const float *b, int64_t ldb, float *c,
                                         int64_t ldc, int add)
{
    v16f acc[4][4];
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) {
            acc[i][j] = v16_setzero();
        }
    }
    for (int64_t p = 0; p < k; p += 16) {
        const __mmask16 m = first_bits(k - p);
        v16f av[4], bv[4];
        for (int i = 0; i < mr; i++) {
            av[i] = v16_maskz_loadu(m, a + i * lda + p);
        }
        for (int j = 0; j < nr; j++) {
            bv[j] = v16_maskz_loadu(m, b + j * ldb + p);
        }
        for (int i = 0; i < mr; i++) {
            for (int j = 0; j < nr; j++) {
                acc[i][j] = v16_fmadd(av[i], bv[j], acc[i][j]);
            }
        }
    }
    for (int i = 0; i < mr; i++) {
        float s[4];
        _mm_storeu_ps(s, sum4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
        float *ci = c + i * ldc;
        for (int j = 0; j < nr; j++) {
            ci[j] = add ? ci[j] + s[j] : s[j];
        }
    }
}

static ALWAYS_INLINE V16 void nt_rows(const int mr, int64_t n, int64_t k, const float *a,
                                         int64_t lda, const float *b, int64_t ldb, float *c,
                                         int64_t ldc, int add)
{
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        nt_tile(mr, 4, k, a, lda, b + j * ldb, ldb, c + j, ldc, add);
    }
    switch (n - j) {
    case 3: nt_tile(mr, 3, k, a, lda, b + j * ldb, ldb, c + j, ldc, add); break;
    case 2: nt_tile(mr, 2, k, a, lda, b + j * ldb, ldb, c + j, ldc, add); break;
    case 1: nt_tile(mr, 1, k, a, lda, b + j * ldb, ldb, c + j, ldc, add); break;
    default: break;
    }
}

static V16 void gemm_nt(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                        const float *b, int64_t ldb, float *c, int64_t ldc, int add)
{
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) {
        nt_rows(4, n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, add);
    }
    switch (m - i) {
    case 3: nt_rows(3, n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, add); break;
    case 2: nt_rows(2, n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, add); break;
    case 1: nt_rows(1, n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, add); break;
    default: break;
    }
}

/* ------------------------------------------------------------------ transpose */

#ifndef LAM_V16_AVX2

/* dst(16 x 16) = src(16 x 16)^T: unpack pairs, shuffle quads, then gather 128-bit lanes. */
static V16 void transpose16(const float *src, int64_t lds, float *dst, int64_t ldd)
{
    __m512 r[16], t[16], u[16];
    for (int i = 0; i < 16; i++) {
        r[i] = _mm512_loadu_ps(src + i * lds);
    }
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* u[4q + j]: columns j, j+4, j+8, j+12 (one per 128-bit lane) of rows 4q..4q+3 */
    for (int q = 0; q < 4; q++) {
        const __m512 *tq = t + 4 * q;
        u[4 * q + 0] = _mm512_shuffle_ps(tq[0], tq[2], 0x44);
        u[4 * q + 1] = _mm512_shuffle_ps(tq[0], tq[2], 0xee);
        u[4 * q + 2] = _mm512_shuffle_ps(tq[1], tq[3], 0x44);
        u[4 * q + 3] = _mm512_shuffle_ps(tq[1], tq[3], 0xee);
    }
    for (int j = 0; j < 4; j++) {
        const __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);
        const __m512 v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd);
        const __m512 w0 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        const __m512 w1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
        _mm512_storeu_ps(dst + (j + 0) * ldd, _mm512_shuffle_f32x4(v0, w0, 0x88));
        _mm512_storeu_ps(dst + (j + 8) * ldd, _mm512_shuffle_f32x4(v0, w0, 0xdd));
        _mm512_storeu_ps(dst + (j + 4) * ldd, _mm512_shuffle_f32x4(v1, w1, 0x88));
        _mm512_storeu_ps(dst + (j + 12) * ldd, _mm512_shuffle_f32x4(v1, w1, 0xdd));
    }
}

#else

/* dst(8 x 8) = src(8 x 8)^T: unpack pairs, shuffle quads, then swap 128-bit halves. */
static V16 void transpose8(const float *src, int64_t lds, float *dst, int64_t ldd)
{
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) {
        r[i] = _mm256_loadu_ps(src + i * lds);
    }
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    /* u[4q + j]: columns j and j+4 (one per 128-bit lane) of rows 4q..4q+3 */
    for (int q = 0; q < 2; q++) {
        const __m256 *tq = t + 4 * q;
        u[4 * q + 0] = _mm256_shuffle_ps(tq[0], tq[2], 0x44);
        u[4 * q + 1] = _mm256_shuffle_ps(tq[0], tq[2], 0xee);
        u[4 * q + 2] = _mm256_shuffle_ps(tq[1], tq[3], 0x44);
        u[4 * q + 3] = _mm256_shuffle_ps(tq[1], tq[3], 0xee);
    }
    for (int j = 0; j < 4; j++) {
        _mm256_storeu_ps(dst + j * ldd, _mm256_permute2f128_ps(u[j], u[4 + j], 0x20));
        _mm256_storeu_ps(dst + (j + 4) * ldd, _mm256_permute2f128_ps(u[j], u[4 + j], 0x31));
    }
}

static V16 void transpose16(const float *src, int64_t lds, float *dst, int64_t ldd)
{
    for (int i = 0; i < 16; i += 8) {
        for (int j = 0; j < 16; j += 8) {
            transpose8(src + i * lds + j, lds, dst + j * ldd + i, ldd);
        }
    }
}

#endif

static V16 void transpose(int64_t rows, int64_t cols, const float *src, int64_t lds,
                          float *dst, int64_t ldd)
{
    const int64_t r16 = rows / 16 * 16, c16 = cols / 16 * 16;
    for (int64_t i = 0; i < r16; i += 16) {
        for (int64_t j = 0; j < c16; j += 16) {
            transpose16(src + i * lds + j, lds, dst + j * ldd + i, ldd);
        }
    }
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t j = i < r16 ? c16 : 0; j < cols; j++) {
            dst[j * ldd + i] = src[i * lds + j];
        }
    }
}

const lam_conv_gemm_tiles V16_NAME(lam__conv_gemm_tiles) = {nn_plain, nn_plain_t, nn_win_b,
                                                            nn_win_a, gemm_nt, transpose};
