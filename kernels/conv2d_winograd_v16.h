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

/* U[xi][r][c] = G g G^T for the kernel g of each (row r, column c) pair of the 16 GEMMs:
 * (r, c) = (c_out, c_in) and g as stored (forward), or (c_in, c_out) and g turned by 180
 * degrees (the input gradient). Sixteen pairs at a time, their taps gathered. */
static V16 void weights_v16(const lam_conv_geom *g, const float *w, int flip, float *u)
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
        /* G g: each column of three taps into four rows; then G along each of those */
        v16f gg[3][4];
        for (int v = 0; v < 3; v++) {
            g4(k[v], k[3 + v], k[6 + v], gg[v]);
        }
        for (int i = 0; i < 4; i++) {
            v16f out[4];
            g4(gg[0][i], gg[1][i], gg[2][i], out);
            for (int j = 0; j < 4; j++) {
                v16_mask_storeu(u + (i * 4 + j) * pairs + p0, m, out[j]);
            }
        }
    }
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
static V16 void in_fused(const plan *pp, const float *x, float *v, int64_t vxi)
{
    const lam_conv_geom *g = pp->g;
    const int64_t w = g->w, tw = pp->wtw;
    const __mmask16 ml0 = first_bits(w), ml1 = first_bits(w - 16), ms = first_bits(tw);
    const v16f zero = v16_setzero();
    for (int64_t ty = 0; ty < pp->wth; ty++) {
        v16f d[4][2];
        for (int k = 0; k < 4; k++) {
            const int64_t y = 2 * ty - 1 + k;
            const int inside = y >= 0 && y < g->h;
            d[k][0] = inside ? v16_maskz_loadu(ml0, x + y * w) : zero;
            d[k][1] = inside ? v16_maskz_loadu(ml1, x + y * w + 16) : zero;
        }
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
            /* o shifted up a lane (x[2t-1], zero at t = 0) and e down one (x[2t+2]; lane
             * TW-1 gets e[TW], a column past W: zero) */
            const v16f op = v16_shift_up1(o);
            const v16f en = v16_shift_down1(e);
            float *vi = v + 4 * i * vxi + ty * tw;
            v16_mask_storeu(vi, ms, v16_sub(op, o));
            v16_mask_storeu(vi + vxi, ms, v16_add(e, o));
            v16_mask_storeu(vi + 2 * vxi, ms, v16_sub(o, e));
            v16_mask_storeu(vi + 3 * vxi, ms, v16_sub(e, en));
        }
    }
}

/* The 2x2 outputs A^T M A (+ bias) of the 16 tiles at column t of M[xi] (pitch mxi), lanes
 * m: y[2a + b] is output row a, column b of each tile. */
static inline V16 void tiles_out(const float *mm, int64_t mxi, int64_t t, __mmask16 m,
                                    v16f bias, v16f y[4])
{
    v16f p[2][4];
    for (int j = 0; j < 4; j++) {
        const v16f m0 = v16_maskz_loadu(m, mm + (0 + j) * mxi + t);
        const v16f m1 = v16_maskz_loadu(m, mm + (4 + j) * mxi + t);
        const v16f m2 = v16_maskz_loadu(m, mm + (8 + j) * mxi + t);
        const v16f m3 = v16_maskz_loadu(m, mm + (12 + j) * mxi + t);
        p[0][j] = v16_add(v16_add(m0, m1), m2);
        p[1][j] = v16_sub(v16_sub(m1, m2), m3);
    }
    for (int a = 0; a < 2; a++) {
        const v16f y0 = v16_add(v16_add(p[a][0], p[a][1]), p[a][2]);
        const v16f y1 = v16_sub(v16_sub(p[a][1], p[a][2]), p[a][3]);
        y[2 * a] = v16_add(y0, bias);
        y[2 * a + 1] = v16_add(y1, bias);
    }
}

/* Output columns c0 .. c0+31 of a row from 16 tiles' left (y0) and right (y1) columns,
 * interleaved, with op applied; n columns of the row are left from c0. */
static inline V16 void row_out(v16f y0, v16f y1, float *d, int64_t n, int op)
{
    const v16f zero = v16_setzero();
    v16f h[2] = {v16_zip_lo(y0, y1), v16_zip_hi(y0, y1)};
    for (int k = 0; k < 2; k++) {
        const __mmask16 mk = first_bits(n - 16 * k);
        if (op == LAM_OUT_RELU) {
            h[k] = v16_mask_mov(h[k], v16_cmp_mask(h[k], zero, _CMP_LT_OQ), zero);
        } else if (op == LAM_OUT_ADD) {
            h[k] = v16_add(v16_maskz_loadu(mk, d + 16 * k), h[k]);
        }
        v16_mask_storeu(d + 16 * k, mk, h[k]);
    }
}

/* One output plane from M[xi] + co (xi at a pitch of mxi). Where a row's tiles fit one
 * vector (12 <= TW <= 16) straight from each tile row's vector; else first over whole
 * vectors of tiles into the four arrays ys[ab], then interleaved row by row. */
static V16 void out_v16(const plan *pp, const float *mm, int64_t mxi, float bias,
                              float *ys, float *dst, int op)
{
    const lam_conv_geom *g = pp->g;
    const int64_t t1 = pp->wt1, tw = pp->wtw, ow = g->ow, ld = round_line(t1 + 16);
    const v16f b = v16_set1(bias);
    v16f y[4];
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
            v16_storeu(ys + k * ld + t, y[k]);
        }
    }
    for (int64_t orow = 0; orow < g->oh; orow++) {
        const int64_t ty = orow / 2, a = orow % 2;
        const float *y0 = ys + (2 * a) * ld + ty * tw, *y1 = ys + (2 * a + 1) * ld + ty * tw;
        for (int64_t t0 = 0; t0 < tw; t0 += 16) {
            row_out(v16_loadu(y0 + t0), v16_loadu(y1 + t0),
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

static V16 void wino_weights(const plan *pp, const float *w, int flip, float *ws)
{
    weights_v16(pp->g, w, flip, ws_u(pp, ws));
}

static V16 void wino_run(const plan *pp, const float *x, int64_t nimg, int64_t xs, int64_t cin,
                         int64_t cout, const float *bias, float *ws, int lane, float *dst,
                         int64_t ds, int op)
{
    const lam_conv_geom *g = pp->g;
    const int64_t t1 = pp->wt1, tg = round_line(pp->wgroup * t1);
    const int64_t pout = g->oh * g->ow;
    const float *u = ws_u(pp, ws);
    float *v = ws_wv(pp, ws, lane), *mm = ws_wm(pp, ws, lane), *r = ws_wr(pp, ws, lane);
    float *c = r + 16, *ys = r + lam__wino_in_floats(pp);
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
                out_v16(pp, mm + co * tg + b * t1, cout * tg,
                           bias != NULL ? bias[co] : 0.0f, ys,
                           dst + (b0 + b) * ds + co * pout, op);
            }
        }
    }
}

const lam_conv_wino_ops V16_NAME(lam__conv_wino_ops) = {wino_weights, wino_dw, wino_run};
