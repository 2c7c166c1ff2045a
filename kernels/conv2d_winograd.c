/*
 * Winograd F(2x2, 3x3) for the 3x3 "same" convolutions (stride 1, pad 1, one group): the
 * forward, the input gradient, which is itself such a convolution of dy with the kernels
 * turned by 180 degrees and transposed, and the weight gradient (Lavin and Gray 2015, "Fast
 * Algorithms for Convolutional Neural Networks").
 *
 * Output tile (ty, tx) is the 2x2 block at (2ty, 2tx); it reads the 4x4 input block d at
 * (2ty - 1, 2tx - 1), zeros outside the image. Per tile and channel pair,
 *     Y = A^T [ (G g G^T) . (B^T d B) ] A
 * with the 16 products summed over input channels, so each of the 16 positions xi of the 4x4
 * transformed tile is one GEMM:
 *     M[xi](C_out, T) = U[xi](C_out, C_in) * V[xi](C_in, T)
 * over the T tiles of a group of images. That is 16 * C_out * C_in multiplies per tile of 4
 * outputs, against 36 * C_out * C_in directly: 2.25x fewer FMAs where the output size is
 * even (28, 14, 32, 16), 1.7x at 7x7, where the last tile row and column are half junk.
 *
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 *
 * Input transform, separably: along y first, for each tile row and column x, the four rows
 * combine as B^T's rows do (full vectors along the row); the result is kept as four runs in
 * which tile k = ty*TW + tx holds its two columns at 2k and 2k+1, so along x each run is read
 * as de-interleaved vectors over 16 tiles at once (the left and right zero padding are lanes
 * masked by the tile column) and the 16 rows of V are written whole. The output transform
 * runs along the tile vectors too, then interleaves the two columns of each tile into the
 * output row, applying relu or the += of dx there: that replaces the implicit path's pad and
 * unpad copies of x and y.
 *
 * Weight gradient: Y is bilinear in g and d, so <dY, Y> = <G^T [(A dY A^T) . V] G, g>: per
 * tile, dy's 2x2 block turns into a 4x4 D = A dY A^T (A = [1 0; 1 1; 1 -1; 0 -1]) and
 *     Q[xi](C_in, C_out) = sum over tiles V[xi](C_in, T) * D[xi]^T(T, C_out)
 * is one GEMM per xi with the tiles as its inner dimension; each pair's 3x3 gradient is then
 * G^T Q G. That is 16 products per tile again, against 36 for the window GEMM.
 *
 * Sums: every output is one fixed expression of its own tile (the GEMM sums over channels in
 * order), so results do not depend on the images grouped into a GEMM or on the thread count;
 * the weight gradient sums a chunk's tiles in one chain, group after group, as its partial.
 * They differ from the direct convolution's in the last bits (the transforms add before they
 * multiply); the error stays at float rounding, since the transform entries are 0, +-1 and
 * +-1/2.
 */
#include "conv2d_plan.h"

/* Tiles per GEMM: enough columns for the GEMM's 48-wide tiles, few enough that V and M of a
 * group stay in L2 (16 * C * T floats each). */
#define WINO_COLS 256

int lam__conv_wino_fits(const lam_conv_geom *g)
{
#if defined(__GNUC__) && defined(__x86_64__)
    /* the weight transform gathers taps with 32-bit indices */
    return g->groups == 1 && g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 &&
           g->dh == 1 && g->dw == 1 && g->ph == 1 && g->pw == 1 &&
           g->c_in * g->c_out < INT32_MAX / 9;
#else
    (void)g;
    return 0;
#endif
}

int lam__conv_wino_pays(const lam_conv_geom *g, int pass)
{
    /* Measured against the implicit GEMM on ResNet-20's shapes at batch 64, 2 threads, with
     * the activations out of cache as in a training step (bench/NOTES-engine.md, ninth
     * round). Forward: 0.55-0.75x the time at 7x7 and 8x8, 0.7-0.85x at 14x14 and 16x16,
     * about 0.7x at 28x28 and 32x32. The input gradient pays at every size (0.95-0.99x at
     * 28x28 and 32x32 with the weight gradient implicit). The weight gradient's transforms
     * of dy and x only pay where the GEMMs dominate them, up to 16x16 (both gradients by
     * Winograd: 0.68-0.83x at 8x8 and 7x7, 0.87-0.96x at 16x16 and 14x14); at 28x28 and
     * 32x32 it took 1.1-1.35x. Few input channels (a first layer) leave the transforms
     * without enough GEMM to pay for them (0.6-0.9x). */
    return g->c_in * 9 >= 64 && (pass < 2 || g->oh * g->ow <= 256);
}

/* The input transform's scratch: 16 floats of slack, 4 runs of 2*T1, 48 of slack. */
static int64_t in_floats(const plan *pp)
{
    return round_line(16 + 8 * pp->wt1 + 48);
}

void lam__conv_wino_plan(plan *pp, int fwd, int bwd, int dw)
{
    const lam_conv_geom *g = pp->g;
    pp->wino_fwd = fwd;
    pp->wino_bwd = bwd;
    pp->wino_dw = dw;
    if (!fwd && !bwd && !dw) {
        return;
    }
    pp->wth = (g->oh + 1) / 2;
    pp->wtw = (g->ow + 1) / 2;
    pp->wt1 = pp->wth * pp->wtw;
    const int64_t chunk = g->n < LAM_CHUNK ? g->n : LAM_CHUNK;
    int64_t grp = (WINO_COLS + pp->wt1 - 1) / pp->wt1;
    pp->wgroup = grp < chunk ? grp : chunk;
    const int64_t cmax = g->c_in > g->c_out ? g->c_in : g->c_out;
    pp->u_f = round_line(16 * g->c_in * g->c_out);
    pp->wv_f = 16 * cmax * round_line(pp->wgroup * pp->wt1);
    pp->wm_f = pp->wv_f;
    if (dw) {
        pp->wd_f = pp->wv_f;  /* the transformed dy, transposed */
        pp->wq_f = pp->u_f;   /* the weight gradient's 16 products */
    }
    /* the input transform's four runs of one plane and the output transform's 4 arrays of
     * T1 (one vector of slack each for the masked tails) */
    pp->wr_f = in_floats(pp) + 4 * round_line(pp->wt1 + 16);
    if (fwd && pp->pg != NULL) {
        /* the un-pooled outputs of a whole chunk, as the implicit forward keeps them */
        const int64_t scr = round_line(chunk * g->c_out * pp->p);
        pp->scr_f = scr > pp->scr_f ? scr : pp->scr_f;
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include "avx512.h"

/* G applied to three values: [a, (a + b + c)/2, (a - b + c)/2, c]. */
static inline AVX512 void g4(__m512 a, __m512 b, __m512 c, __m512 out[4])
{
    const __m512 half = _mm512_set1_ps(0.5f);
    out[0] = a;
    out[1] = _mm512_mul_ps(half, _mm512_add_ps(_mm512_add_ps(a, b), c));
    out[2] = _mm512_mul_ps(half, _mm512_add_ps(_mm512_sub_ps(a, b), c));
    out[3] = c;
}

/* U[xi][r][c] = G g G^T for the kernel g of each (row r, column c) pair of the 16 GEMMs:
 * (r, c) = (c_out, c_in) and g as stored (forward), or (c_in, c_out) and g turned by 180
 * degrees (the input gradient). Sixteen pairs at a time, their taps gathered. */
static AVX512 void weights_avx512(const lam_conv_geom *g, const float *w, int flip, float *u)
{
    const int64_t rows = flip ? g->c_in : g->c_out, cols = flip ? g->c_out : g->c_in;
    const int64_t pairs = rows * cols;
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t p0 = 0; p0 < pairs; p0 += 16) {
        const __mmask16 m = first_bits(pairs - p0);
        int32_t at[16];
        for (int l = 0; l < 16; l++) {
            const int64_t p = p0 + l < pairs ? p0 + l : p0;
            const int64_t r = p / cols, c = p % cols;
            at[l] = (int32_t)(9 * (flip ? c * g->c_in + r : r * g->c_in + c));
        }
        const __m512i idx = _mm512_loadu_si512(at);
        __m512 k[9];
        for (int t = 0; t < 9; t++) {
            k[t] = _mm512_mask_i32gather_ps(zero, m, idx, w + (flip ? 8 - t : t), 4);
        }
        /* G g: each column of three taps into four rows; then G along each of those */
        __m512 gg[3][4];
        for (int v = 0; v < 3; v++) {
            g4(k[v], k[3 + v], k[6 + v], gg[v]);
        }
        for (int i = 0; i < 4; i++) {
            __m512 out[4];
            g4(gg[0][i], gg[1][i], gg[2][i], out);
            for (int j = 0; j < 4; j++) {
                _mm512_mask_storeu_ps(u + (i * 4 + j) * pairs + p0, m, out[j]);
            }
        }
    }
}

/* The along-y half of the input transform of one plane (H x W): for tile row ty and every
 * column x, c[i][ty][x] = (B^T d)[i] of the column's four rows 2ty-1 .. 2ty+2, rows of WP =
 * 2*TW columns (a zero column past W when W is odd), so that each c[i] is one run of 2*T1
 * floats, a pair of columns per tile. */
static AVX512 void in_cols(const plan *pp, const float *x, float *c)
{
    const lam_conv_geom *g = pp->g;
    const int64_t w = g->w, wp = 2 * pp->wtw, th = pp->wth, cp = th * wp;
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t ty = 0; ty < th; ty++) {
        const int64_t y0 = 2 * ty - 1;
        for (int64_t x0 = 0; x0 < wp; x0 += 16) {
            const __mmask16 ml = first_bits(w - x0), ms = first_bits(wp - x0);
            __m512 d[4];
            for (int k = 0; k < 4; k++) {
                const int64_t y = y0 + k;
                d[k] = y >= 0 && y < g->h ? _mm512_maskz_loadu_ps(ml, x + y * w + x0) : zero;
            }
            float *o = c + ty * wp + x0;
            _mm512_mask_storeu_ps(o, ms, _mm512_sub_ps(d[0], d[2]));
            _mm512_mask_storeu_ps(o + cp, ms, _mm512_add_ps(d[1], d[2]));
            _mm512_mask_storeu_ps(o + 2 * cp, ms, _mm512_sub_ps(d[2], d[1]));
            _mm512_mask_storeu_ps(o + 3 * cp, ms, _mm512_sub_ps(d[1], d[3]));
        }
    }
}

/* The along-x half: tile k = ty*TW + tx of c[i] holds its columns 2tx and 2tx+1 at 2k and
 * 2k+1, so over the whole run E = c[2k], O = c[2k+1], O' = c[2k-1] and E' = c[2k+2] are
 * de-interleaved loads, and the tile's left and right neighbours (zero padding) are the
 * lanes where tx is 0 or TW-1. V[4i + j] gets the row j of each. c has 2 floats of slack
 * before and 34 after its runs (read, never used). */
static AVX512 void in_rows(const plan *pp, const float *c, const int32_t *lane_tx, float *v,
                           int64_t vxi)
{
    const int64_t t1 = pp->wt1, tw = pp->wtw;
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4,
                                        2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5,
                                        3, 1);
    const __m512i tx0 = _mm512_loadu_si512(lane_tx), step = _mm512_set1_epi32((int)(16 % tw));
    const __m512i twv = _mm512_set1_epi32((int)tw), lastv = _mm512_set1_epi32((int)tw - 1);
    const __m512i zi = _mm512_setzero_si512();
    for (int i = 0; i < 4; i++) {
        const float *run = c + i * 2 * t1;
        float *vi = v + 4 * i * vxi;
        __m512i tx = tx0;
        for (int64_t k0 = 0; k0 < t1; k0 += 16) {
            const __mmask16 m = first_bits(t1 - k0);
            const float *p = run + 2 * k0;
            const __m512 lo = _mm512_loadu_ps(p), hi = _mm512_loadu_ps(p + 16);
            const __m512 e = _mm512_permutex2var_ps(lo, ev, hi);
            const __m512 o = _mm512_permutex2var_ps(lo, od, hi);
            const __mmask16 left = _mm512_cmpneq_epi32_mask(tx, zi);
            const __mmask16 right = _mm512_cmpneq_epi32_mask(tx, lastv);
            const __m512 op = _mm512_maskz_permutex2var_ps(left, _mm512_loadu_ps(p - 2), od,
                                                           _mm512_loadu_ps(p + 14));
            const __m512 en = _mm512_maskz_permutex2var_ps(right, _mm512_loadu_ps(p + 2), ev,
                                                           _mm512_loadu_ps(p + 18));
            _mm512_mask_storeu_ps(vi + k0, m, _mm512_sub_ps(op, o));
            _mm512_mask_storeu_ps(vi + vxi + k0, m, _mm512_add_ps(e, o));
            _mm512_mask_storeu_ps(vi + 2 * vxi + k0, m, _mm512_sub_ps(o, e));
            _mm512_mask_storeu_ps(vi + 3 * vxi + k0, m, _mm512_sub_ps(e, en));
            tx = _mm512_add_epi32(tx, step);
            tx = _mm512_mask_sub_epi32(tx, _mm512_cmpge_epi32_mask(tx, twv), tx, twv);
        }
    }
}

/* Whether a tile row fills most of one vector: the transforms then work a tile row at a time
 * in registers (at 8 tiles a row, half-empty vectors cost more than the second pass). */
static int row_fits(const plan *pp)
{
    return pp->wtw >= 12 && pp->wtw <= 16;
}

/* Both halves of the input transform at once, where a row's tiles fit one vector
 * (row_fits): per tile row, the four combined rows stay in registers, two vectors each,
 * and their de-interleaved halves, shifted by one lane for the neighbours, give the 16 rows
 * of V for that tile row. The zero padding at both ends comes free: lanes past W load as
 * zero, and the shifts bring in zeros. */
static AVX512 void in_fused(const plan *pp, const float *x, float *v, int64_t vxi)
{
    const lam_conv_geom *g = pp->g;
    const int64_t w = g->w, tw = pp->wtw;
    const __mmask16 ml0 = first_bits(w), ml1 = first_bits(w - 16), ms = first_bits(tw);
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4,
                                        2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5,
                                        3, 1);
    const __m512 zero = _mm512_setzero_ps();
    const __m512i zi = _mm512_setzero_si512();
    for (int64_t ty = 0; ty < pp->wth; ty++) {
        __m512 d[4][2];
        for (int k = 0; k < 4; k++) {
            const int64_t y = 2 * ty - 1 + k;
            const int inside = y >= 0 && y < g->h;
            d[k][0] = inside ? _mm512_maskz_loadu_ps(ml0, x + y * w) : zero;
            d[k][1] = inside ? _mm512_maskz_loadu_ps(ml1, x + y * w + 16) : zero;
        }
        for (int i = 0; i < 4; i++) {
            __m512 c[2];
            for (int h = 0; h < 2; h++) {
                c[h] = i == 0   ? _mm512_sub_ps(d[0][h], d[2][h])
                       : i == 1 ? _mm512_add_ps(d[1][h], d[2][h])
                       : i == 2 ? _mm512_sub_ps(d[2][h], d[1][h])
                                : _mm512_sub_ps(d[1][h], d[3][h]);
            }
            const __m512 e = _mm512_permutex2var_ps(c[0], ev, c[1]);
            const __m512 o = _mm512_permutex2var_ps(c[0], od, c[1]);
            /* o shifted up a lane (x[2t-1], zero at t = 0) and e down one (x[2t+2]; lane
             * TW-1 gets e[TW], a column past W: zero) */
            const __m512 op = _mm512_castsi512_ps(
                _mm512_alignr_epi32(_mm512_castps_si512(o), zi, 15));
            const __m512 en = _mm512_castsi512_ps(
                _mm512_alignr_epi32(zi, _mm512_castps_si512(e), 1));
            float *vi = v + 4 * i * vxi + ty * tw;
            _mm512_mask_storeu_ps(vi, ms, _mm512_sub_ps(op, o));
            _mm512_mask_storeu_ps(vi + vxi, ms, _mm512_add_ps(e, o));
            _mm512_mask_storeu_ps(vi + 2 * vxi, ms, _mm512_sub_ps(o, e));
            _mm512_mask_storeu_ps(vi + 3 * vxi, ms, _mm512_sub_ps(e, en));
        }
    }
}

/* The 2x2 outputs A^T M A (+ bias) of the 16 tiles at column t of M[xi] (pitch mxi), lanes
 * m: y[2a + b] is output row a, column b of each tile. */
static inline AVX512 void tiles_out(const float *mm, int64_t mxi, int64_t t, __mmask16 m,
                                    __m512 bias, __m512 y[4])
{
    __m512 p[2][4];
    for (int j = 0; j < 4; j++) {
        const __m512 m0 = _mm512_maskz_loadu_ps(m, mm + (0 + j) * mxi + t);
        const __m512 m1 = _mm512_maskz_loadu_ps(m, mm + (4 + j) * mxi + t);
        const __m512 m2 = _mm512_maskz_loadu_ps(m, mm + (8 + j) * mxi + t);
        const __m512 m3 = _mm512_maskz_loadu_ps(m, mm + (12 + j) * mxi + t);
        p[0][j] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
        p[1][j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
    }
    for (int a = 0; a < 2; a++) {
        const __m512 y0 = _mm512_add_ps(_mm512_add_ps(p[a][0], p[a][1]), p[a][2]);
        const __m512 y1 = _mm512_sub_ps(_mm512_sub_ps(p[a][1], p[a][2]), p[a][3]);
        y[2 * a] = _mm512_add_ps(y0, bias);
        y[2 * a + 1] = _mm512_add_ps(y1, bias);
    }
}

/* Output columns c0 .. c0+31 of a row from 16 tiles' left (y0) and right (y1) columns,
 * interleaved, with op applied; n columns of the row are left from c0. */
static inline AVX512 void row_out(__m512 y0, __m512 y1, float *d, int64_t n, int op)
{
    const __m512i il = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i ih = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
                                        24, 8);
    const __m512 zero = _mm512_setzero_ps();
    __m512 h[2] = {_mm512_permutex2var_ps(y0, il, y1), _mm512_permutex2var_ps(y0, ih, y1)};
    for (int k = 0; k < 2; k++) {
        const __mmask16 mk = first_bits(n - 16 * k);
        if (op == LAM_OUT_RELU) {
            h[k] = _mm512_mask_mov_ps(h[k], _mm512_cmp_ps_mask(h[k], zero, _CMP_LT_OQ), zero);
        } else if (op == LAM_OUT_ADD) {
            h[k] = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, d + 16 * k), h[k]);
        }
        _mm512_mask_storeu_ps(d + 16 * k, mk, h[k]);
    }
}

/* One output plane from M[xi] + co (xi at a pitch of mxi). Where a row's tiles fit one
 * vector (12 <= TW <= 16) straight from each tile row's vector; else first over whole
 * vectors of tiles into the four arrays ys[ab], then interleaved row by row. */
static AVX512 void out_avx512(const plan *pp, const float *mm, int64_t mxi, float bias,
                              float *ys, float *dst, int op)
{
    const lam_conv_geom *g = pp->g;
    const int64_t t1 = pp->wt1, tw = pp->wtw, ow = g->ow, ld = round_line(t1 + 16);
    const __m512 b = _mm512_set1_ps(bias);
    __m512 y[4];
    if (row_fits(pp)) {
        for (int64_t ty = 0; ty < pp->wth; ty++) {
            tiles_out(mm, mxi, ty * tw, first_bits(tw), b, y);
            for (int64_t a = 0; a < 2 && 2 * ty + a < g->oh; a++) {
                row_out(y[2 * a], y[2 * a + 1], dst + (2 * ty + a) * ow, ow, op);
            }
        }
        return;
    }
    for (int64_t t = 0; t < t1; t += 16) {
        tiles_out(mm, mxi, t, first_bits(t1 - t), b, y);
        for (int k = 0; k < 4; k++) {
            _mm512_storeu_ps(ys + k * ld + t, y[k]);
        }
    }
    for (int64_t orow = 0; orow < g->oh; orow++) {
        const int64_t ty = orow / 2, a = orow % 2;
        const float *y0 = ys + (2 * a) * ld + ty * tw, *y1 = ys + (2 * a + 1) * ld + ty * tw;
        for (int64_t t0 = 0; t0 < tw; t0 += 16) {
            row_out(_mm512_loadu_ps(y0 + t0), _mm512_loadu_ps(y1 + t0),
                    dst + orow * ow + 2 * t0, ow - 2 * t0, op);
        }
    }
}

/* The tile column of each lane of a first vector of tiles. */
static void lane_columns(const plan *pp, int32_t lane_tx[16])
{
    for (int l = 0; l < 16; l++) {
        lane_tx[l] = (int32_t)(l % pp->wtw);
    }
}

/* V of one image xi (cin planes) into its columns v of the 16 rows of V (pitch tg per
 * channel, cin * tg per position), through the scratch c. */
static void image_v(const plan *pp, const float *xi, int64_t cin, const int32_t *lane_tx,
                    float *c, float *v, int64_t tg)
{
    const int64_t pin = pp->g->h * pp->g->w;
    const int fused = row_fits(pp);
    for (int64_t ci = 0; ci < cin; ci++) {
        if (fused) {
            in_fused(pp, xi + ci * pin, v + ci * tg, cin * tg);
            continue;
        }
        in_cols(pp, xi + ci * pin, c);
        in_rows(pp, c, lane_tx, v + ci * tg, cin * tg);
    }
}

/* The weight gradient's transform of dy, A dy A^T with A = [1 0; 1 1; 1 -1; 0 -1] on the
 * 2x2 block of each tile, in two halves as the input's: along y, tile row ty's rows 2ty and
 * 2ty+1 (zero past OH) become the runs [r0, r0 + r1, r0 - r1, -r1] ... */
static AVX512 void dy_cols(const plan *pp, const float *dy, float *c)
{
    const lam_conv_geom *g = pp->g;
    const int64_t w = g->ow, wp = 2 * pp->wtw, th = pp->wth, cp = th * wp;
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t ty = 0; ty < th; ty++) {
        const float *r = dy + 2 * ty * w;
        const int second = 2 * ty + 1 < g->oh;
        for (int64_t x0 = 0; x0 < wp; x0 += 16) {
            const __mmask16 ml = first_bits(w - x0), ms = first_bits(wp - x0);
            const __m512 r0 = _mm512_maskz_loadu_ps(ml, r + x0);
            const __m512 r1 = second ? _mm512_maskz_loadu_ps(ml, r + w + x0) : zero;
            float *o = c + ty * wp + x0;
            _mm512_mask_storeu_ps(o, ms, r0);
            _mm512_mask_storeu_ps(o + cp, ms, _mm512_add_ps(r0, r1));
            _mm512_mask_storeu_ps(o + 2 * cp, ms, _mm512_sub_ps(r0, r1));
            _mm512_mask_storeu_ps(o + 3 * cp, ms, _mm512_sub_ps(zero, r1));
        }
    }
}

/* ... and along x the same on each tile's two columns: D[4i + j] at a pitch of dxi. */
static AVX512 void dy_rows(const plan *pp, const float *c, float *d, int64_t dxi)
{
    const int64_t t1 = pp->wt1;
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4,
                                        2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5,
                                        3, 1);
    const __m512 zero = _mm512_setzero_ps();
    for (int i = 0; i < 4; i++) {
        const float *run = c + i * 2 * t1;
        float *di = d + 4 * i * dxi;
        for (int64_t k0 = 0; k0 < t1; k0 += 16) {
            const __mmask16 m = first_bits(t1 - k0);
            const __m512 lo = _mm512_loadu_ps(run + 2 * k0);
            const __m512 hi = _mm512_loadu_ps(run + 2 * k0 + 16);
            const __m512 e = _mm512_permutex2var_ps(lo, ev, hi);
            const __m512 o = _mm512_permutex2var_ps(lo, od, hi);
            _mm512_mask_storeu_ps(di + k0, m, e);
            _mm512_mask_storeu_ps(di + dxi + k0, m, _mm512_add_ps(e, o));
            _mm512_mask_storeu_ps(di + 2 * dxi + k0, m, _mm512_sub_ps(e, o));
            _mm512_mask_storeu_ps(di + 3 * dxi + k0, m, _mm512_sub_ps(zero, o));
        }
    }
}

/* G^T along one axis of a 4-vector: [q0 + (q1 + q2)/2, (q1 - q2)/2, (q1 + q2)/2 + q3]. */
static inline AVX512 void gt3(const __m512 q[4], __m512 out[3])
{
    const __m512 half = _mm512_set1_ps(0.5f);
    const __m512 s = _mm512_mul_ps(half, _mm512_add_ps(q[1], q[2]));
    out[0] = _mm512_add_ps(q[0], s);
    out[1] = _mm512_mul_ps(half, _mm512_sub_ps(q[1], q[2]));
    out[2] = _mm512_add_ps(s, q[3]);
}

/* The weight gradient of one chunk from its 16 products Q[xi](C_in, C_out): the 3x3 kernel
 * of each pair is G^T Q G (the transpose of the forward's G g G^T), written as the im2col
 * path's partial (K, C_out), row c*9 + tap. */
static AVX512 void dw_out(const plan *pp, const float *q, float *part)
{
    const int64_t cin = pp->g->c_in, cout = pp->g->c_out, pairs = cin * cout;
    for (int64_t ci = 0; ci < cin; ci++) {
        for (int64_t c0 = 0; c0 < cout; c0 += 16) {
            const __mmask16 m = first_bits(cout - c0);
            __m512 rows[4][3];
            for (int i = 0; i < 4; i++) {
                __m512 qi[4];
                for (int j = 0; j < 4; j++) {
                    qi[j] = _mm512_maskz_loadu_ps(m, q + (i * 4 + j) * pairs + ci * cout + c0);
                }
                gt3(qi, rows[i]);
            }
            for (int v = 0; v < 3; v++) {
                const __m512 col[4] = {rows[0][v], rows[1][v], rows[2][v], rows[3][v]};
                __m512 out[3];
                gt3(col, out);
                for (int u = 0; u < 3; u++) {
                    _mm512_mask_storeu_ps(part + (ci * 9 + u * 3 + v) * cout + c0, m, out[u]);
                }
            }
        }
    }
}

void lam__conv_wino_dw(const plan *pp, const float *x, const float *dy, int64_t nimg,
                       float *part, int aug, float *ws, int lane)
{
    const lam_conv_geom *g = pp->g;
    const int64_t cin = g->c_in, cout = g->c_out, t1 = pp->wt1;
    const int64_t tg = round_line(pp->wgroup * t1), pout = g->oh * g->ow;
    float *v = ws_wv(pp, ws, lane), *d = ws_wm(pp, ws, lane), *dt = ws_wd(pp, ws, lane);
    float *q = ws_wq(pp, ws, lane), *c = ws_wr(pp, ws, lane) + 16;
    int32_t lane_tx[16];
    lane_columns(pp, lane_tx);
    for (int64_t b0 = 0; b0 < nimg; b0 += pp->wgroup) {
        const int64_t gn = nimg - b0 < pp->wgroup ? nimg - b0 : pp->wgroup;
        for (int64_t b = 0; b < gn; b++) {
            image_v(pp, x + (b0 + b) * pp->xs, cin, lane_tx, c, v + b * t1, tg);
            for (int64_t co = 0; co < cout; co++) {
                dy_cols(pp, dy + ((b0 + b) * cout + co) * pout, c);
                dy_rows(pp, c, d + co * tg + b * t1, cout * tg);
            }
        }
        /* Q[xi](C_in, C_out) (+)= V[xi](C_in, T) * D[xi]^T(T, C_out): one chain over the
         * chunk's tiles, group after group */
        for (int xi = 0; xi < 16; xi++) {
            float *dtx = dt + xi * tg * cout;
            lam__transpose_isa(pp->isa, cout, gn * t1, d + xi * cout * tg, tg, dtx, cout);
            (void)lam__conv_gemm(pp->isa, 0, 0, cin, cout, gn * t1, v + xi * cin * tg, tg, dtx,
                                 cout, b0 == 0 ? 0.0f : 1.0f, q + xi * cin * cout, cout);
        }
    }
    dw_out(pp, q, part);
    if (aug) {
        float *db = part + pp->k * cout;
        for (int64_t co = 0; co < cout; co++) {
            db[co] = 0.0f;
        }
        lam__bias_grad(nimg, cout, pout, dy, db);
    }
}

void lam__conv_wino_weights(const plan *pp, const float *w, int flip, float *ws)
{
    weights_avx512(pp->g, w, flip, ws_u(pp, ws));
}

void lam__conv_wino_run(const plan *pp, const float *x, int64_t nimg, int64_t xs, int64_t cin,
                        int64_t cout, const float *bias, float *ws, int lane, float *dst,
                        int64_t ds, int op)
{
    const lam_conv_geom *g = pp->g;
    const int64_t t1 = pp->wt1, tg = round_line(pp->wgroup * t1);
    const int64_t pout = g->oh * g->ow;
    const float *u = ws_u(pp, ws);
    float *v = ws_wv(pp, ws, lane), *mm = ws_wm(pp, ws, lane), *r = ws_wr(pp, ws, lane);
    float *c = r + 16, *ys = r + in_floats(pp);
    int32_t lane_tx[16];
    lane_columns(pp, lane_tx);
    for (int64_t b0 = 0; b0 < nimg; b0 += pp->wgroup) {
        const int64_t gn = nimg - b0 < pp->wgroup ? nimg - b0 : pp->wgroup;
        for (int64_t b = 0; b < gn; b++) {
            image_v(pp, x + (b0 + b) * xs, cin, lane_tx, c, v + b * t1, tg);
        }
        for (int xi = 0; xi < 16; xi++) {
            (void)lam__conv_gemm(pp->isa, 0, 0, cout, gn * t1, cin, u + xi * cout * cin, cin,
                                 v + xi * cin * tg, tg, 0.0f, mm + xi * cout * tg, tg);
        }
        for (int64_t b = 0; b < gn; b++) {
            for (int64_t co = 0; co < cout; co++) {
                out_avx512(pp, mm + co * tg + b * t1, cout * tg,
                           bias != NULL ? bias[co] : 0.0f, ys,
                           dst + (b0 + b) * ds + co * pout, op);
            }
        }
    }
}

#else

void lam__conv_wino_weights(const plan *pp, const float *w, int flip, float *ws)
{
    (void)pp, (void)w, (void)flip, (void)ws;
}

void lam__conv_wino_dw(const plan *pp, const float *x, const float *dy, int64_t nimg,
                       float *part, int aug, float *ws, int lane)
{
    (void)pp, (void)x, (void)dy, (void)nimg, (void)part, (void)aug, (void)ws, (void)lane;
}

void lam__conv_wino_run(const plan *pp, const float *x, int64_t nimg, int64_t xs, int64_t cin,
                        int64_t cout, const float *bias, float *ws, int lane, float *dst,
                        int64_t ds, int op)
{
    (void)pp, (void)x, (void)nimg, (void)xs, (void)cin, (void)cout, (void)bias, (void)ws;
    (void)lane, (void)dst, (void)ds, (void)op;
}

#endif
