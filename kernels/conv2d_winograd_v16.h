/*
 * Winograd F(2x2, 3x3)'s transforms and its passes (see conv2d_winograd.c for the method),
 * written once on 16-float vectors (v16.h) and compiled per instruction set by
 * conv2d_winograd_avx512.c and conv2d_winograd_avx2.c: the tables lam__conv_wino_ops_avx512
 * and _avx2 at the end, of which conv2d_winograd.c picks one by the plan's ISA. The GEMMs
 * are lam__conv_gemm's.
 * Include only inside `#if defined(__GNUC__) && defined(__x86_64__)`, after v16.h.
 */
#include "conv2d_plan.h"

/* G applied to three values: [a, (a + b + c)/2, (a - b + c)/2, c]. */
static inline V16 void g4(v16f a, v16f b, v16f c, v16f out[4])
{
    const v16f half = v16_set1(0.5f);
    out[0] = a;
    out[1] = v16_mul(half, v16_add(v16_add(a, b), c));
    out[2] = v16_mul(half, v16_add(v16_sub(a, b), c));
    out[3] = c;
}

/* The along-y half of the input transform of one plane (H x W): for tile row ty and every
 * column x, c[i][ty][x] = (B^T d)[i] of the column's four rows 2ty-1 .. 2ty+2, rows of WP =
 * 2*TW columns (a zero column past W when W is odd), so that each c[i] is one run of 2*T1
 * floats, a pair of columns per tile. */
static V16 void in_cols(const plan *pp, const float *x, float *c)
{
    const lam_conv_geom *g = pp->g;
    const int64_t w = g->w, wp = 2 * pp->wtw, th = pp->wth, cp = th * wp;
    const v16f zero = v16_setzero();
    for (int64_t ty = 0; ty < th; ty++) {
        const int64_t y0 = 2 * ty - 1;
        for (int64_t x0 = 0; x0 < wp; x0 += 16) {
            const __mmask16 ml = first_bits(w - x0), ms = first_bits(wp - x0);
            v16f d[4];
            for (int k = 0; k < 4; k++) {
                const int64_t y = y0 + k;
                d[k] = y >= 0 && y < g->h ? v16_maskz_loadu(ml, x + y * w + x0) : zero;
            }
            float *o = c + ty * wp + x0;
            v16_mask_storeu(o, ms, v16_sub(d[0], d[2]));
            v16_mask_storeu(o + cp, ms, v16_add(d[1], d[2]));
            v16_mask_storeu(o + 2 * cp, ms, v16_sub(d[2], d[1]));
            v16_mask_storeu(o + 3 * cp, ms, v16_sub(d[1], d[3]));
        }
    }
}

/* The along-x half: tile k = ty*TW + tx of c[i] holds its columns 2tx and 2tx+1 at 2k and
 * 2k+1, so over the whole run E = c[2k], O = c[2k+1], O' = c[2k-1] and E' = c[2k+2] are
 * de-interleaved loads, and the tile's left and right neighbours (zero padding) are the
 * lanes where tx is 0 or TW-1. V[4i + j] gets the row j of each. c has 2 floats of slack
 * before and 34 after its runs (read, never used). */
static V16 void in_rows(const plan *pp, const float *c, const int32_t *lane_tx, float *v,
                           int64_t vxi)
{
    const int64_t t1 = pp->wt1, tw = pp->wtw;
    const v16i tx0 = v16i_loadu(lane_tx), step = v16i_set1((int)(16 % tw));
    const v16i twv = v16i_set1((int)tw), lastv = v16i_set1((int)tw - 1), zi = v16i_set1(0);
    v16i tx = tx0;
    /* vectors of tiles outside, the four runs inside: the neighbour masks once per vector */
    for (int64_t k0 = 0; k0 < t1; k0 += 16) {
        const __mmask16 m = first_bits(t1 - k0);
        const __mmask16 left = v16i_cmpneq_mask(tx, zi);
        const __mmask16 right = v16i_cmpneq_mask(tx, lastv);
        for (int i = 0; i < 4; i++) {
            const float *p = c + i * 2 * t1 + 2 * k0;
            float *vi = v + 4 * i * vxi + k0;
            const v16f lo = v16_loadu(p), hi = v16_loadu(p + 16);
            const v16f e = v16_even(lo, hi);
            const v16f o = v16_odd(lo, hi);
            const v16f op = v16_maskz_mov(left, v16_odd(v16_loadu(p - 2), v16_loadu(p + 14)));
            const v16f en = v16_maskz_mov(right, v16_even(v16_loadu(p + 2), v16_loadu(p + 18)));
            v16_mask_storeu(vi, m, v16_sub(op, o));
            v16_mask_storeu(vi + vxi, m, v16_add(e, o));
            v16_mask_storeu(vi + 2 * vxi, m, v16_sub(o, e));
            v16_mask_storeu(vi + 3 * vxi, m, v16_sub(e, en));
        }
        tx = v16i_add(tx, step);
        tx = v16i_mask_sub(tx, v16i_cmpge_mask(tx, twv), tx, twv);
    }
}

/* Tile rows per vector where the transforms keep a group of tile rows in registers (the
 * packed layout): R rows of TW tiles, each in L = 16/R lanes, tile (ty0 + s, tx) on lane
 * s*L + tx. R = 1 where a row's 12..16 tiles fill most of a vector (W 23..32), 2 for 6..8
 * (W 11..16) and 4 for 4 (W 7 and 8); 0 elsewhere, where the transforms take two passes
 * over whole vectors of tiles (in_cols and in_rows; out_v16's second half). Before the
 * groups of 2 and 4, the 14x14 and 7x7 stages took those two passes, at about 1.8x the
 * one-row transform's share of a ResNet-20 step per pixel (perf, AVX2; bench/NOTES-engine.md,
 * eleventh round). */
static int pack_rows(const plan *pp)
{
    const int64_t tw = pp->wtw;
    return tw >= 12 && tw <= 16 ? 1 : tw >= 6 && tw <= 8 ? 2 : tw == 4 ? 4 : 0;
}

/* Where the group of tile rows from ty0 sits in a run of tiles (a row of V or M): lanes 0-7
 * from tile t[0], lanes 8-15 from t[1]. Only two rows of fewer than 8 tiles leave a gap
 * between the halves. */
static void group_at(int64_t tw, int r, int64_t ty0, int64_t t[2])
{
    t[0] = ty0 * tw;
    t[1] = r == 2 ? (ty0 + 1) * tw : t[0] + 8;
}

/* The lanes of a packed vector but each row's first tile (first) or last (!first): where a
 * tile has a left or right neighbour in the image. */
static __mmask16 inner_lanes(int r, int64_t tw, int first)
{
    unsigned m = 0;
    for (int s = 0; s < r; s++) {
        m |= 1u << (s * (16 / r) + (first ? 0 : (int)tw - 1));
    }
    return (__mmask16)~m;
}

/* A packed pair of vectors (32 floats) holds R pieces of 2L floats, one per tile row s of
 * the group: half q (8 floats) of vector h is the piece of row (16h + 8q) / 2L, from its
 * column (16h + 8q) % 2L. Both are constants where r is. */
static inline int half_row(int r, int h, int q)
{
    return (16 * h + 8 * q) / (32 / r);
}

static inline int half_col(int r, int h, int q)
{
    return (16 * h + 8 * q) % (32 / r);
}

/* The lanes of vector h of a packed pair that hold columns inside a row of n. */
static __mmask16 cols_in(int r, int64_t n, int h)
{
    return (__mmask16)((first_bits(n - half_col(r, h, 0)) & 0xffu) |
                       (first_bits(n - half_col(r, h, 1)) & 0xffu) << 8);
}

/* Where the image rows 2*(ty0 + s) + dy of a group's tile rows s start (rows of n floats),
 * or -1 for a row outside the image or the group. */
static inline void group_rows(const plan *pp, int r, int64_t ty0, int64_t dy, int64_t rows,
                              int64_t n, int64_t at[4])
{
    for (int s = 0; s < r; s++) {
        const int64_t y = 2 * (ty0 + s) + dy;
        at[s] = ty0 + s < pp->wth && y >= 0 && y < rows ? y * n : -1;
    }
}

/* The packed pair of image rows 2*ty - 1 + k over the group's tile rows ty, on the lanes
 * m[h] (the columns inside W, the same for every group): a row outside the image or the
 * group is read from zeros, so that the lanes, and AVX2's lane masks made of them, stay
 * constant through the loop. */
static V16_INLINE V16 void rows_in(const plan *pp, int r, const float *x, int64_t ty0, int k,
                                   const __mmask16 m[2], v16f d[2])
{
    static const float zeros[32]; /* a half outside reads from its column: under 32 */
    int64_t at[4];
    group_rows(pp, r, ty0, k - 1, pp->g->h, pp->g->w, at);
    const float *row[4];
    for (int s = 0; s < r; s++) {
        row[s] = at[s] >= 0 ? x + at[s] : zeros;
    }
    for (int h = 0; h < 2; h++) {
        d[h] = v16_maskz_loadu2(m[h], row[half_row(r, h, 0)] + half_col(r, h, 0),
                                row[half_row(r, h, 1)] + half_col(r, h, 1));
    }
}

/* Both halves of the input transform at once, a group of R tile rows at a time (pack_rows):
 * the four combined rows stay in registers, two vectors each, and their de-interleaved
 * halves, shifted by one lane for the neighbours, give the 16 rows of V for the group. The
 * zero padding comes from lanes past W, which load as zero, and from the first and last
 * tile of each row, whose outer neighbour is masked to zero. */
static V16_INLINE V16 void in_packed(const plan *pp, const int r, const float *x, float *v,
                                     int64_t vxi)
{
    const __mmask16 left = inner_lanes(r, pp->wtw, 1), right = inner_lanes(r, pp->wtw, 0);
    const __mmask16 m[2] = {cols_in(r, pp->g->w, 0), cols_in(r, pp->g->w, 1)};
    for (int64_t ty0 = 0; ty0 < pp->wth; ty0 += r) {
        v16f d[4][2];
        for (int k = 0; k < 4; k++) {
            rows_in(pp, r, x, ty0, k, m, d[k]);
        }
        /* whole halves: lanes past a row land on tiles stored after them, or in V's
         * slack (lam__wino_pitch) */
        int64_t t[2];
        group_at(pp->wtw, r, ty0, t);
        for (int i = 0; i < 4; i++) {
            v16f c[2];
            for (int h = 0; h < 2; h++) {
                c[h] = i == 0   ? v16_sub(d[0][h], d[2][h])
                       : i == 1 ? v16_add(d[1][h], d[2][h])
                       : i == 2 ? v16_sub(d[2][h], d[1][h])
                                : v16_sub(d[1][h], d[3][h]);
            }
            const v16f e = v16_even(c[0], c[1]);
            const v16f o = v16_odd(c[0], c[1]);
            /* o shifted up a lane (column 2tx - 1) and e down one (column 2tx + 2); with one
             * tile row per vector the shifts bring in the zeros themselves */
            const v16f op = r == 1 ? v16_shift_up1(o) : v16_maskz_mov(left, v16_shift_up1(o));
            const v16f en = r == 1 ? v16_shift_down1(e)
                                   : v16_maskz_mov(right, v16_shift_down1(e));
            float *vi = v + 4 * i * vxi;
            v16_storeu2(vi + t[0], vi + t[1], v16_sub(op, o));
            v16_storeu2(vi + vxi + t[0], vi + vxi + t[1], v16_add(e, o));
            v16_storeu2(vi + 2 * vxi + t[0], vi + 2 * vxi + t[1], v16_sub(o, e));
            v16_storeu2(vi + 3 * vxi + t[0], vi + 3 * vxi + t[1], v16_sub(e, en));
        }
    }
}

/* The 2x2 outputs A^T M A (+ bias) of the 16 tiles of M[xi] (pitch mxi) at t[0] (lanes 0-7)
 * and t[1] (lanes 8-15): y[2a + b] is output row a, column b of each tile. The loads are
 * whole: lanes past the tiles read what follows them in M (its buffer has a vector of
 * slack) and are never stored. */
static inline V16 void tiles_out(const float *mm, int64_t mxi, const int64_t t[2], v16f bias,
                                 v16f y[4])
{
    v16f p[2][4];
    for (int j = 0; j < 4; j++) {
        v16f q[4];
        for (int i = 0; i < 4; i++) {
            const float *row = mm + (4 * i + j) * mxi;
            q[i] = v16_loadu2(row + t[0], row + t[1]);
        }
        p[0][j] = v16_add(v16_add(q[0], q[1]), q[2]);
        p[1][j] = v16_sub(v16_sub(q[1], q[2]), q[3]);
    }
    for (int a = 0; a < 2; a++) {
        const v16f y0 = v16_add(v16_add(p[a][0], p[a][1]), p[a][2]);
        const v16f y1 = v16_sub(v16_sub(p[a][1], p[a][2]), p[a][3]);
        y[2 * a] = v16_add(y0, bias);
        y[2 * a + 1] = v16_add(y1, bias);
    }
}

/* 16 output floats, lanes 0-7 at d0 and 8-15 at d1, on the lanes of m, with op applied. */
static inline V16 void piece_out(v16f h, float *d0, float *d1, __mmask16 m, int op)
{
    if (op == LAM_OUT_RELU) {
        h = v16_mask_mov(h, v16_cmp_mask(h, v16_setzero(), _CMP_LT_OQ), v16_setzero());
    } else if (op == LAM_OUT_ADD) {
        h = v16_add(v16_maskz_loadu2(m, d0, d1), h);
    }
    v16_mask_storeu2(d0, d1, m, h);
}

/* The output rows of a packed group of tile rows from its y (tiles_out): for each a, the
 * tiles' left and right columns interleaved are the pair of vectors whose pieces are the
 * group's output rows 2*(ty0 + s) + a. */
static V16_INLINE V16 void group_out(const plan *pp, const int r, int64_t ty0, const v16f y[4],
                                     const __mmask16 mo[2], float *dst, int op)
{
    const lam_conv_geom *g = pp->g;
    for (int a = 0; a < 2; a++) {
        const v16f h[2] = {v16_zip_lo(y[2 * a], y[2 * a + 1]),
                           v16_zip_hi(y[2 * a], y[2 * a + 1])};
        int64_t at[4];
        group_rows(pp, r, ty0, a, g->oh, g->ow, at);
        for (int k = 0; k < 2; k++) {
            const int64_t a0 = at[half_row(r, k, 0)], a1 = at[half_row(r, k, 1)];
            /* the lanes of the rows inside; a half outside writes nothing (at the other's
             * address, to keep the pointer inside dst) */
            const unsigned m = (a0 >= 0 ? mo[k] & 0xffu : 0u) | (a1 >= 0 ? mo[k] & 0xff00u : 0u);
            if (m != 0) {
                float *d0 = dst + (a0 >= 0 ? a0 + half_col(r, k, 0) : a1);
                float *d1 = dst + (a1 >= 0 ? a1 + half_col(r, k, 1) : a0);
                piece_out(h[k], d0, d1, (__mmask16)m, op);
            }
        }
    }
}

static V16_INLINE V16 void out_packed(const plan *pp, const int r, const float *mm,
                                      int64_t mxi, v16f bias, float *dst, int op)
{
    const __mmask16 mo[2] = {cols_in(r, pp->g->ow, 0), cols_in(r, pp->g->ow, 1)};
    for (int64_t ty0 = 0; ty0 < pp->wth; ty0 += r) {
        int64_t t[2];
        group_at(pp->wtw, r, ty0, t);
        v16f y[4];
        tiles_out(mm, mxi, t, bias, y);
        group_out(pp, r, ty0, y, mo, dst, op);
    }
}

/* One output plane from M[xi] + co (xi at a pitch of mxi): packed (pack_rows) straight from
 * each group's vectors; else first over whole vectors of tiles into the four arrays ys[ab],
 * then interleaved row by row. */
static V16 void out_v16(const plan *pp, const float *mm, int64_t mxi, float bias, float *ys,
                        float *dst, int op)
{
    const lam_conv_geom *g = pp->g;
    const int64_t t1 = pp->wt1, tw = pp->wtw, ow = g->ow, ld = round_line(t1 + 16);
    const v16f b = v16_set1(bias);
    switch (pack_rows(pp)) {
    case 1: out_packed(pp, 1, mm, mxi, b, dst, op); return;
    case 2: out_packed(pp, 2, mm, mxi, b, dst, op); return;
    case 4: out_packed(pp, 4, mm, mxi, b, dst, op); return;
    default: break;
    }
    v16f y[4];
    for (int64_t t = 0; t < t1; t += 16) {
        const int64_t at[2] = {t, t + 8};
        tiles_out(mm, mxi, at, b, y);
        for (int k = 0; k < 4; k++) {
            v16_storeu(ys + k * ld + t, y[k]);
        }
    }
    for (int64_t orow = 0; orow < g->oh; orow++) {
        const int64_t ty = orow / 2, a = orow % 2;
        const float *y0 = ys + (2 * a) * ld + ty * tw, *y1 = ys + (2 * a + 1) * ld + ty * tw;
        for (int64_t t0 = 0; t0 < tw; t0 += 16) {
            const v16f y0v = v16_loadu(y0 + t0), y1v = v16_loadu(y1 + t0);
            float *d = dst + orow * ow + 2 * t0;
            const int64_t n = ow - 2 * t0;
            piece_out(v16_zip_lo(y0v, y1v), d, d + 8, first_bits(n), op);
            piece_out(v16_zip_hi(y0v, y1v), d + 16, d + 24, first_bits(n - 16), op);
        }
    }
}

/* The tile column of each lane of a first vector of tiles, tw tiles a row. */
static void lane_columns(int64_t tw, int32_t lane_tx[16])
{
    for (int l = 0; l < 16; l++) {
        lane_tx[l] = (int32_t)(l % tw);
    }
}

#include "conv2d_winograd4_v16.h"

/* V of one image xi (cin planes) into its columns v of the rows of V (16, or 36 with f4),
 * channel ci's position xi at v + ci*cs + xi*ps, through the scratch c (lane_tx: lane_columns
 * of the tile size's tile columns). */
static V16 void image_v(const plan *pp, int f4, const float *xi, int64_t cin,
                        const int32_t *lane_tx, float *c, float *v, int64_t cs, int64_t ps)
{
    const int64_t pin = pp->g->h * pp->g->w;
    const int r = f4 ? pack4_rows(pp) : pack_rows(pp);
    for (int64_t ci = 0; ci < cin; ci++) {
        const float *x = xi + ci * pin;
        float *vc = v + ci * cs;
        switch (r) {
        case 1: f4 ? in4_packed(pp, 1, x, vc, ps) : in_packed(pp, 1, x, vc, ps); break;
        case 2: f4 ? in4_packed(pp, 2, x, vc, ps) : in_packed(pp, 2, x, vc, ps); break;
        case 4: f4 ? in4_packed(pp, 4, x, vc, ps) : in_packed(pp, 4, x, vc, ps); break;
        default:
            if (f4) {
                in4_cols(pp, x, c);
                in4_rows(pp, c, lane_tx, vc, ps);
            } else {
                in_cols(pp, x, c);
                in_rows(pp, c, lane_tx, vc, ps);
            }
            break;
        }
    }
}

/* The weight gradient's transform of dy, A dy A^T with A = [1 0; 1 1; 1 -1; 0 -1] on the
 * 2x2 block of each tile, in two halves as the input's: along y, tile row ty's rows 2ty and
 * 2ty+1 (zero past OH) become the runs [r0, r0 + r1, r0 - r1, -r1] ... */
static V16 void dy_cols(const plan *pp, const float *dy, float *c)
{
    const lam_conv_geom *g = pp->g;
    const int64_t w = g->ow, wp = 2 * pp->wtw, th = pp->wth, cp = th * wp;
    const v16f zero = v16_setzero();
    for (int64_t ty = 0; ty < th; ty++) {
        const float *r = dy + 2 * ty * w;
        const int second = 2 * ty + 1 < g->oh;
        for (int64_t x0 = 0; x0 < wp; x0 += 16) {
            const __mmask16 ml = first_bits(w - x0), ms = first_bits(wp - x0);
            const v16f r0 = v16_maskz_loadu(ml, r + x0);
            const v16f r1 = second ? v16_maskz_loadu(ml, r + w + x0) : zero;
            float *o = c + ty * wp + x0;
            v16_mask_storeu(o, ms, r0);
            v16_mask_storeu(o + cp, ms, v16_add(r0, r1));
            v16_mask_storeu(o + 2 * cp, ms, v16_sub(r0, r1));
            v16_mask_storeu(o + 3 * cp, ms, v16_sub(zero, r1));
        }
    }
}

/* ... and along x the same on each tile's two columns: D[4i + j] at a pitch of dxi. */
static V16 void dy_rows(const plan *pp, const float *c, float *d, int64_t dxi)
{
    const int64_t t1 = pp->wt1;
    const v16f zero = v16_setzero();
    for (int i = 0; i < 4; i++) {
        const float *run = c + i * 2 * t1;
        float *di = d + 4 * i * dxi;
        for (int64_t k0 = 0; k0 < t1; k0 += 16) {
            const __mmask16 m = first_bits(t1 - k0);
            const v16f lo = v16_loadu(run + 2 * k0);
            const v16f hi = v16_loadu(run + 2 * k0 + 16);
            const v16f e = v16_even(lo, hi);
            const v16f o = v16_odd(lo, hi);
            v16_mask_storeu(di + k0, m, e);
            v16_mask_storeu(di + dxi + k0, m, v16_add(e, o));
            v16_mask_storeu(di + 2 * dxi + k0, m, v16_sub(e, o));
            v16_mask_storeu(di + 3 * dxi + k0, m, v16_sub(zero, o));
        }
    }
}

/* G^T along one axis of a 4-vector: [q0 + (q1 + q2)/2, (q1 - q2)/2, (q1 + q2)/2 + q3]. */
static inline V16 void gt3(const v16f q[4], v16f out[3])
{
    const v16f half = v16_set1(0.5f);
    const v16f s = v16_mul(half, v16_add(q[1], q[2]));
    out[0] = v16_add(q[0], s);
    out[1] = v16_mul(half, v16_sub(q[1], q[2]));
    out[2] = v16_add(s, q[3]);
}

/* The weight gradient of one chunk from its 16 products Q[xi](C_in, C_out): the 3x3 kernel
 * of each pair is G^T Q G (the transpose of the forward's G g G^T), written as the im2col
 * path's partial (K, C_out), row c*9 + tap. */
static V16 void dw_out(const plan *pp, const float *q, float *part)
{
    const int64_t cin = pp->g->c_in, cout = pp->g->c_out, pairs = cin * cout;
    for (int64_t ci = 0; ci < cin; ci++) {
        for (int64_t c0 = 0; c0 < cout; c0 += 16) {
            const __mmask16 m = first_bits(cout - c0);
            v16f rows[4][3];
            for (int i = 0; i < 4; i++) {
                v16f qi[4];
                for (int j = 0; j < 4; j++) {
                    qi[j] = v16_maskz_loadu(m, q + (i * 4 + j) * pairs + ci * cout + c0);
                }
                gt3(qi, rows[i]);
            }
            for (int v = 0; v < 3; v++) {
                const v16f col[4] = {rows[0][v], rows[1][v], rows[2][v], rows[3][v]};
                v16f out[3];
                gt3(col, out);
                for (int u = 0; u < 3; u++) {
                    v16_mask_storeu(part + (ci * 9 + u * 3 + v) * cout + c0, m, out[u]);
                }
            }
        }
    }
}

static V16 void wino_dw(const plan *pp, const float *x, const float *dy, int64_t nimg,
                        float *part, int aug, float *ws, int lane)
{
    const lam_conv_geom *g = pp->g;
    const int64_t cin = g->c_in, cout = g->c_out, t1 = pp->wt1;
    const int64_t tg = lam__wino_pitch(pp->wgroup, t1), pout = g->oh * g->ow;
    float *v = ws_wv(pp, ws, lane), *d = ws_wm(pp, ws, lane), *dt = ws_wd(pp, ws, lane);
    float *q = ws_wq(pp, ws, lane), *c = ws_wr(pp, ws, lane) + 16;
    int32_t lane_tx[16];
    lane_columns(pp->wtw, lane_tx);
    for (int64_t b0 = 0; b0 < nimg; b0 += pp->wgroup) {
        const int64_t gn = nimg - b0 < pp->wgroup ? nimg - b0 : pp->wgroup;
        for (int64_t b = 0; b < gn; b++) {
            image_v(pp, 0, x + (b0 + b) * pp->xs, cin, lane_tx, c, v + b * t1, tg, cin * tg);
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

/* U[xi][r][c] = G g G^T for the kernel g of each (row r, column c) pair of the GEMMs, n x n
 * positions (n = 4: F(2x2, 3x3), g4; n = 6: F(4x4, 3x3), g6): (r, c) = (c_out, c_in) and g
 * as stored (forward), or (c_in, c_out) and g turned by 180 degrees (the input gradient).
 * Sixteen pairs at a time, their taps gathered. */
static V16 void weights_v16(const lam_conv_geom *g, const float *w, int flip, int n, float *u)
{
    const int64_t rows = flip ? g->c_in : g->c_out, cols = flip ? g->c_out : g->c_in;
    const int64_t pairs = rows * cols;
    for (int64_t p0 = 0; p0 < pairs; p0 += 16) {
        const __mmask16 m = first_bits(pairs - p0);
        int32_t at[16];
        for (int l = 0; l < 16; l++) {
            const int64_t p = p0 + l < pairs ? p0 + l : p0;
            const int64_t r = p / cols, c = p % cols;
            at[l] = (int32_t)(9 * (flip ? c * g->c_in + r : r * g->c_in + c));
        }
        v16f k[9];
        for (int t = 0; t < 9; t++) {
            k[t] = v16_maskz_gather(m, at, w + (flip ? 8 - t : t));
        }
        /* G g: each column of three taps into n rows; then G along each of those */
        v16f gg[3][6];
        for (int v = 0; v < 3; v++) {
            if (n == 4) {
                g4(k[v], k[3 + v], k[6 + v], gg[v]);
            } else {
                g6(k[v], k[3 + v], k[6 + v], gg[v]);
            }
        }
        for (int i = 0; i < n; i++) {
            v16f out[6];
            if (n == 4) {
                g4(gg[0][i], gg[1][i], gg[2][i], out);
            } else {
                g6(gg[0][i], gg[1][i], gg[2][i], out);
            }
            for (int j = 0; j < n; j++) {
                v16_mask_storeu(u + (i * n + j) * pairs + p0, m, out[j]);
            }
        }
    }
}

static V16 void wino_weights(const plan *pp, const float *w, int flip, float *ws)
{
    weights_v16(pp->g, w, flip, pp->wino4 ? 6 : 4, ws_u(pp, ws));
}

/* The forward or the input gradient (x its input, dst its output) by F(4x4, 3x3) where the
 * plan says so (wino4), else F(2x2, 3x3): per group of images, their V, the GEMMs of the
 * positions, and their output planes. */
static V16 void wino_run(const plan *pp, const float *x, int64_t nimg, int64_t xs, int64_t cin,
                         int64_t cout, const float *bias, float *ws, int lane, float *dst,
                         int64_t ds, int op)
{
    const lam_conv_geom *g = pp->g;
    const int f4 = pp->wino4, nxi = f4 ? 36 : 16;
    const int64_t t1 = f4 ? pp->w4t1 : pp->wt1, group = f4 ? pp->w4group : pp->wgroup;
    const int64_t tg = lam__wino_pitch(group, t1), pout = g->oh * g->ow;
    /* V channel-major for F(4x4, 3x3) (a channel's 36 rows written as one block), position-
     * major for F(2x2, 3x3) (its GEMMs ran 1.3x slower with the rows of B 16 apart) */
    const int64_t vcs = f4 ? nxi * tg : tg, vps = f4 ? tg : cin * tg;
    const float *u = ws_u(pp, ws);
    float *v = ws_wv(pp, ws, lane), *mm = ws_wm(pp, ws, lane), *r = ws_wr(pp, ws, lane);
    float *c = r + 16, *ys = r + (f4 ? lam__wino4_in_floats(pp) : lam__wino_in_floats(pp));
    int32_t lane_tx[16];
    lane_columns(f4 ? pp->w4tw : pp->wtw, lane_tx);
    for (int64_t b0 = 0; b0 < nimg; b0 += group) {
        const int64_t gn = nimg - b0 < group ? nimg - b0 : group;
        for (int64_t b = 0; b < gn; b++) {
            image_v(pp, f4, x + (b0 + b) * xs, cin, lane_tx, c, v + b * t1, vcs, vps);
        }
        for (int xi = 0; xi < nxi; xi++) {
            (void)lam__conv_gemm(pp->isa, 0, 0, cout, gn * t1, cin, u + xi * cout * cin, cin,
                                 v + xi * vps, vcs, 0.0f, mm + xi * tg, nxi * tg);
        }
        for (int64_t b = 0; b < gn; b++) {
            for (int64_t co = 0; co < cout; co++) {
                const float bc = bias != NULL ? bias[co] : 0.0f;
                float *d = dst + (b0 + b) * ds + co * pout;
                const float *mc = mm + co * nxi * tg + b * t1;
                if (f4) {
                    out4_v16(pp, mc, tg, bc, ys, d, op);
                } else {
                    out_v16(pp, mc, tg, bc, ys, d, op);
                }
            }
        }
    }
}

const lam_conv_wino_ops V16_NAME(lam__conv_wino_ops) = {wino_weights, wino_dw, wino_run};
