/*
 * Winograd F(4x4, 3x3)'s transforms for the forward and the input gradient (conv2d_winograd.c
 * says where they run), on 16-float vectors (v16.h); included by conv2d_winograd_v16.h, whose
 * wino_run drives them as it drives F(2x2, 3x3)'s. The weight gradient stays F(2x2, 3x3).
 *
 * Output tile (ty, tx) is the 4x4 block at (4ty, 4tx); it reads the 6x6 input block d at
 * (4ty - 1, 4tx - 1), zeros outside the image, and Y = A^T [(G g G^T) . (B^T d B)] A is 36
 * GEMMs of the transformed positions, against F(2x2, 3x3)'s 16 per 4 outputs: 2.25 products
 * per output against 4. The matrices are Lavin and Gray's, for the points 0, 1, -1, 2, -2:
 *
 *   B^T = [4  0 -5  0 1 0     G = [ 1/4     0    0      A^T = [1 1  1 1  1 0
 *          0 -4 -4  1 1 0          -1/6 -1/6 -1/6              0 1 -1 2 -2 0
 *          0  4 -4 -1 1 0          -1/6  1/6 -1/6              0 1  1 4  4 0
 *          0 -2 -1  2 1 0          1/24 1/12  1/6              0 1 -1 8 -8 1]
 *          0  2 -1 -2 1 0          1/24 -1/12 1/6
 *          0  4  0 -5 0 1]            0     0    1]
 *
 * The larger entries cost accuracy: on uniform data in [-1, 1] with 16-32 channels the
 * outputs (of size 1-5) differed from the direct convolution's by 1-6e-5, F(2x2, 3x3)'s by
 * under 1e-5 (tests/kernels/test_conv_implicit.c bounds both).
 *
 * Where a tile row has 4-16 tiles (pack4_rows), both transforms run in one pass in
 * registers, as F(2x2, 3x3)'s packed ones: a vector packs 1, 2 or 4 tile rows; the input's
 * six image rows combine along y, two rounds of even/odd de-interleave the 64 floats of 16
 * tiles into each tile's four columns, and the halo columns 4tx - 1 and 4tx + 4 are the
 * neighbours' last and first, a lane shift masked at each row's first and last tile; the
 * output interleaves each tile's four columns straight into the output rows. Elsewhere
 * the input takes two passes (along y into six runs in which tile k = ty*TW + tx holds its
 * four columns at 4k .. 4k+3, then along x over 16 tiles at a time, the halos loaded at
 * +-4 floats), and the output goes through four row runs, copied out row by row.
 */

/* G applied to three values (one column or row of a kernel). */
static inline V16 void g6(v16f a, v16f b, v16f c, v16f out[6])
{
    const v16f sixth = v16_set1(1.0f / 6.0f);
    const v16f s = v16_mul(v16_set1(-1.0f / 6.0f), v16_add(a, c));
    const v16f t = v16_fmadd(v16_set1(1.0f / 24.0f), a, v16_mul(sixth, c));
    const v16f b6 = v16_mul(sixth, b), b12 = v16_mul(v16_set1(1.0f / 12.0f), b);
    out[0] = v16_mul(v16_set1(0.25f), a);
    out[1] = v16_sub(s, b6);
    out[2] = v16_add(s, b6);
    out[3] = v16_add(t, b12);
    out[4] = v16_sub(t, b12);
    out[5] = c;
}

/* B^T applied to six values. */
static inline V16 void bt6(const v16f d[6], v16f o[6])
{
    const v16f four = v16_set1(4.0f), mfour = v16_set1(-4.0f), mfive = v16_set1(-5.0f);
    o[0] = v16_fmadd(four, d[0], v16_fmadd(mfive, d[2], d[4]));
    const v16f t1 = v16_fmadd(mfour, d[2], d[4]), t2 = v16_fmadd(mfour, d[1], d[3]);
    o[1] = v16_add(t1, t2);
    o[2] = v16_sub(t1, t2);
    const v16f t3 = v16_sub(d[4], d[2]), t4 = v16_add(v16_sub(d[3], d[1]), v16_sub(d[3], d[1]));
    o[3] = v16_add(t3, t4);
    o[4] = v16_sub(t3, t4);
    o[5] = v16_fmadd(four, d[1], v16_fmadd(mfive, d[3], d[5]));
}

/* A^T applied to six values. */
static inline V16 void at6(const v16f m[6], v16f y[4])
{
    const v16f s12 = v16_add(m[1], m[2]), d12 = v16_sub(m[1], m[2]);
    const v16f s34 = v16_add(m[3], m[4]), d34 = v16_sub(m[3], m[4]);
    y[0] = v16_add(v16_add(m[0], s12), s34);
    y[1] = v16_fmadd(v16_set1(2.0f), d34, d12);
    y[2] = v16_fmadd(v16_set1(4.0f), s34, s12);
    y[3] = v16_add(v16_fmadd(v16_set1(8.0f), d34, d12), m[5]);
}

/* The along-y half of one plane (H x W): the six rows 4ty - 1 .. 4ty + 4 of every column,
 * combined as B^T's rows, into run i at ty*WP + x (WP = 4*TW; zeros past W). */
static V16 void in4_cols(const plan *pp, const float *x, float *c)
{
    const lam_conv_geom *g = pp->g;
    const int64_t w = g->w, wp = 4 * pp->w4tw, rl = lam__wino4_run_pitch(pp);
    const v16f zero = v16_setzero();
    for (int64_t ty = 0; ty < pp->w4th; ty++) {
        for (int64_t x0 = 0; x0 < wp; x0 += 16) {
            const __mmask16 ml = first_bits(w - x0), ms = first_bits(wp - x0);
            v16f d[6], o[6];
            for (int k = 0; k < 6; k++) {
                const int64_t y = 4 * ty - 1 + k;
                d[k] = y >= 0 && y < g->h ? v16_maskz_loadu(ml, x + y * w + x0) : zero;
            }
            bt6(d, o);
            for (int i = 0; i < 6; i++) {
                v16_mask_storeu(c + i * rl + ty * wp + x0, ms, o[i]);
            }
        }
    }
}

/* Columns 4k + q of the 16 tiles k of the 64 floats a[0..3] (q = 0..3). */
static inline V16 void phases4(const v16f a[4], v16f ph[4])
{
    const v16f e01 = v16_even(a[0], a[1]), e23 = v16_even(a[2], a[3]);
    const v16f o01 = v16_odd(a[0], a[1]), o23 = v16_odd(a[2], a[3]);
    ph[0] = v16_even(e01, e23);
    ph[1] = v16_even(o01, o23);
    ph[2] = v16_odd(e01, e23);
    ph[3] = v16_odd(o01, o23);
}

/* ... of the 64 floats at p */
static inline V16 void phases4_at(const float *p, v16f ph[4])
{
    const v16f a[4] = {v16_loadu(p), v16_loadu(p + 16), v16_loadu(p + 32), v16_loadu(p + 48)};
    phases4(a, ph);
}

/* The along-x half: V[6i + j] (pitch vxi) from run i, 16 tiles at a time (lane_tx: the
 * tile column of each lane of the first vector, lane_columns). A tile's halo columns are its
 * neighbours' last and first, on the lanes where the tile has them. */
static V16 void in4_rows(const plan *pp, const float *c, const int32_t *lane_tx, float *v,
                         int64_t vxi)
{
    const int64_t t1 = pp->w4t1, tw = pp->w4tw, rl = lam__wino4_run_pitch(pp);
    const v16i step = v16i_set1((int)(16 % tw)), twv = v16i_set1((int)tw);
    const v16i lastv = v16i_set1((int)tw - 1), zi = v16i_set1(0);
    v16i tx = v16i_loadu(lane_tx);
    for (int64_t k0 = 0; k0 < t1; k0 += 16) {
        const __mmask16 m = first_bits(t1 - k0);
        const __mmask16 left = v16i_cmpneq_mask(tx, zi);
        const __mmask16 right = v16i_cmpneq_mask(tx, lastv);
        for (int i = 0; i < 6; i++) {
            const float *p = c + i * rl + 4 * k0;
            v16f d[6], o[6], prev[4], next[4];
            phases4_at(p, d + 1);
            phases4_at(p - 4, prev);
            phases4_at(p + 4, next);
            d[0] = v16_maskz_mov(left, prev[3]);
            d[5] = v16_maskz_mov(right, next[0]);
            bt6(d, o);
            for (int j = 0; j < 6; j++) {
                v16_mask_storeu(v + (6 * i + j) * vxi + k0, m, o[j]);
            }
        }
        tx = v16i_add(tx, step);
        tx = v16i_mask_sub(tx, v16i_cmpge_mask(tx, twv), tx, twv);
    }
}

/* Tile rows per vector where the F(4x4, 3x3) transforms run in one pass (the packed layout
 * of conv2d_winograd_v16.h's pack_rows): R rows of TW tiles, each in 16/R lanes. A tile row
 * spans 4*TW <= 64/R columns, so the 64 floats of 16 tiles' four columns are 4/R vectors of
 * each row's columns: vector q holds row q*R/4 at column 16*(q % (4/R)). 0: two passes. */
static int pack4_rows(const plan *pp)
{
    const int64_t tw = pp->w4tw;
    return tw >= 9 && tw <= 16 ? 1 : tw >= 5 && tw <= 8 ? 2 : tw == 4 ? 4 : 0;
}

/* Tile row and column of vector q of a packed group's 64 floats. */
static inline int quad_row(int r, int q)
{
    return q * r / 4;
}

static inline int quad_col(int r, int q)
{
    return 16 * (q % (4 / r));
}

/* The along-y and along-x halves at once, a group of R tile rows at a time: the six rows
 * 4ty - 1 + k of each tile row combined in registers, their columns de-interleaved into the
 * tiles' four, and the halo columns the neighbours' (a lane shift, masked at each row's
 * first and last tile; past W the loads give zeros). Rows outside the image or the group
 * read a zero row, so the load masks stay constant. */
static V16_INLINE V16 void in4_packed(const plan *pp, const int r, const float *x, float *v,
                                      int64_t vxi)
{
    static const float zeros[64];
    const lam_conv_geom *g = pp->g;
    const __mmask16 left = inner_lanes(r, pp->w4tw, 1), right = inner_lanes(r, pp->w4tw, 0);
    __mmask16 m[4];
    for (int q = 0; q < 4; q++) {
        m[q] = first_bits(g->w - quad_col(r, q));
    }
    for (int64_t ty0 = 0; ty0 < pp->w4th; ty0 += r) {
        v16f c[6][4];
        for (int q = 0; q < 4; q++) {
            const int64_t ty = ty0 + quad_row(r, q);
            v16f d[6];
            for (int k = 0; k < 6; k++) {
                const int64_t y = 4 * ty - 1 + k;
                const float *row = ty < pp->w4th && y >= 0 && y < g->h ? x + y * g->w : zeros;
                d[k] = v16_maskz_loadu(m[q], row + (row == zeros ? 0 : quad_col(r, q)));
            }
            v16f o[6];
            bt6(d, o);
            for (int i = 0; i < 6; i++) {
                c[i][q] = o[i];
            }
        }
        /* whole halves: lanes past a row land on tiles stored after them, or in V's
         * slack (lam__wino_pitch) */
        int64_t t[2];
        group_at(pp->w4tw, r, ty0, t);
        for (int i = 0; i < 6; i++) {
            v16f d[6], o[6];
            phases4(c[i], d + 1);
            d[0] = v16_maskz_mov(left, v16_shift_up1(d[4]));
            d[5] = v16_maskz_mov(right, v16_shift_down1(d[1]));
            bt6(d, o);
            float *vi = v + 6 * i * vxi;
            for (int j = 0; j < 6; j++) {
                v16_storeu2(vi + j * vxi + t[0], vi + j * vxi + t[1], o[j]);
            }
        }
    }
}

/* The 4x4 outputs A^T M A (+ bias) of the 16 tiles of M[xi] (pitch mxi) at t[0] (lanes 0-7)
 * and t[1] (8-15): z[a][q] is output row a of tiles 4q .. 4q+3, their columns interleaved.
 * The loads are whole: M has a vector of slack, and lanes past the tiles are never stored. */
static inline V16 void tiles4_out(const float *mm, int64_t mxi, const int64_t t[2], v16f bias,
                                  v16f z[4][4])
{
    v16f p[4][6];
    for (int j = 0; j < 6; j++) {
        v16f q[6], y[4];
        for (int i = 0; i < 6; i++) {
            const float *row = mm + (6 * i + j) * mxi;
            q[i] = v16_loadu2(row + t[0], row + t[1]);
        }
        at6(q, y);
        for (int a = 0; a < 4; a++) {
            p[a][j] = y[a];
        }
    }
    for (int a = 0; a < 4; a++) {
        v16f y[4];
        at6(p[a], y);
        for (int c = 0; c < 4; c++) {
            y[c] = v16_add(y[c], bias);
        }
        const v16f lo02 = v16_zip_lo(y[0], y[2]), lo13 = v16_zip_lo(y[1], y[3]);
        const v16f hi02 = v16_zip_hi(y[0], y[2]), hi13 = v16_zip_hi(y[1], y[3]);
        z[a][0] = v16_zip_lo(lo02, lo13);
        z[a][1] = v16_zip_hi(lo02, lo13);
        z[a][2] = v16_zip_lo(hi02, hi13);
        z[a][3] = v16_zip_hi(hi02, hi13);
    }
}

/* The output rows of each packed group straight from its vectors: z[a][q] is row
 * 4*(ty0 + q*R/4) + a from column 16*(q % (4/R)). */
static V16_INLINE V16 void out4_packed(const plan *pp, const int r, const float *mm,
                                       int64_t mxi, v16f bias, float *dst, int op)
{
    const lam_conv_geom *g = pp->g;
    for (int64_t ty0 = 0; ty0 < pp->w4th; ty0 += r) {
        int64_t t[2];
        group_at(pp->w4tw, r, ty0, t);
        v16f z[4][4];
        tiles4_out(mm, mxi, t, bias, z);
        for (int q = 0; q < 4; q++) {
            const int64_t col = quad_col(r, q), y0 = 4 * (ty0 + quad_row(r, q));
            const __mmask16 mq = first_bits(g->ow - col);
            for (int a = 0; a < 4 && col < g->ow; a++) {
                if (y0 + a < g->oh) {
                    float *d = dst + (y0 + a) * g->ow + col;
                    piece_out(z[a][q], d, d + 8, mq, op);
                }
            }
        }
    }
}

/* One output plane from M[xi] + co (pitch mxi): packed (pack4_rows) straight from each
 * group's vectors; else 16 tiles at a time into the four row runs ys[a] (tile k's columns
 * at 4k), then run by run into the rows of dst. */
static V16 void out4_v16(const plan *pp, const float *mm, int64_t mxi, float bias, float *ys,
                         float *dst, int op)
{
    const lam_conv_geom *g = pp->g;
    const int64_t t1 = pp->w4t1, tw = pp->w4tw, ow = g->ow, ld = lam__wino4_out_pitch(pp);
    const v16f b = v16_set1(bias);
    switch (pack4_rows(pp)) {
    case 1: out4_packed(pp, 1, mm, mxi, b, dst, op); return;
    case 2: out4_packed(pp, 2, mm, mxi, b, dst, op); return;
    case 4: out4_packed(pp, 4, mm, mxi, b, dst, op); return;
    default: break;
    }
    for (int64_t k0 = 0; k0 < t1; k0 += 16) {
        const int64_t at[2] = {k0, k0 + 8};
        v16f z[4][4];
        tiles4_out(mm, mxi, at, b, z);
        for (int a = 0; a < 4; a++) {
            for (int q = 0; q < 4; q++) {
                v16_storeu(ys + a * ld + 4 * k0 + 16 * q, z[a][q]);
            }
        }
    }
    for (int64_t orow = 0; orow < g->oh; orow++) {
        const float *src = ys + (orow % 4) * ld + (orow / 4) * 4 * tw;
        float *d = dst + orow * ow;
        for (int64_t x0 = 0; x0 < ow; x0 += 16) {
            piece_out(v16_loadu(src + x0), d + x0, d + x0 + 8, first_bits(ow - x0), op);
        }
    }
}
