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
 *
 * F(4x4, 3x3) (conv2d_winograd4_v16.h) takes the forward and the input gradient where
 * lam__conv_wino4_pays says so: 4x4 output tiles, 36 GEMMs of a 6x6 transform, 2.25
 * products per output where F(2x2, 3x3) has 4; the weight gradient is always F(2x2, 3x3).
 *
 * This file plans and dispatches; the transforms and the passes are conv2d_winograd_v16.h,
 * compiled for AVX-512 and for AVX2 (kernels/v16.h).
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

int lam__conv_wino_pays(const lam_conv_geom *g, int pass, int isa)
{
    /* Measured against the implicit GEMM on ResNet-20's shapes at batch 64, 2 threads, with
     * the activations out of cache as in a training step (bench/NOTES-engine.md, ninth
     * round). Forward: 0.55-0.75x the time at 7x7 and 8x8, 0.7-0.85x at 14x14 and 16x16,
     * about 0.7x at 28x28 and 32x32. The input gradient pays at every size (0.95-0.99x at
     * 28x28 and 32x32 with the weight gradient implicit). The weight gradient's transforms
     * of dy and x only pay where the GEMMs dominate them, up to 16x16 (both gradients by
     * Winograd: 0.68-0.83x at 8x8 and 7x7, 0.87-0.96x at 16x16 and 14x14); at 28x28 and
     * 32x32 it took 1.1-1.35x. Few input channels (a first layer) leave the transforms
     * without enough GEMM to pay for them (0.6-0.9x).
     * With AVX2 (the same transforms on two ymm halves; lamina-bench --op conv_path on an AMD
     * EPYC, 2 threads) the forward still paid at every size (the implicit GEMM's time over
     * Winograd's: 1.0-1.2x at 28x28 and 32x32, 1.0-1.3x at 14x14 and 16x16, 1.4-1.9x at 7x7
     * and 8x8), but the backward lost at 28x28 and 32x32 (0.9x): there its input gradient
     * stays implicit too. A ResNet-20 step on 1x28x28 ran 0.96x as fast with the AVX-512
     * rule and 1.10x with this one (against no Winograd).
     * With F(4x4, 3x3) where it applies (lam__conv_wino4_pays), AVX2's input gradient pays at
     * 28x28 and 32x32 too (steps 1.02x and 1.05x), and then so does the weight gradient by
     * F(2x2, 3x3) (1.03x and 1.07x; the implicit path's frames no longer shared with dx):
     * bench/NOTES-engine.md, twelfth round. */
    const int small = g->oh * g->ow <= 256, f4 = lam__conv_wino4_pays(g, isa);
    const int dx = pass == 1 && (isa == LAM_ISA_AVX512 || f4);
    const int dw = pass == 2 && isa == LAM_ISA_AVX2 && f4;
    return g->c_in * 9 >= 64 && (pass == 0 || small || dx || dw);
}

static int64_t chunk_of(const lam_conv_geom *g)
{
    return g->n < LAM_CHUNK ? g->n : LAM_CHUNK;
}

int lam__conv_wino4_pays(const lam_conv_geom *g, int isa)
{
    /* F(4x4, 3x3) where its transforms run packed, 4 to 16 tiles a row (W 13..64: the
     * ResNet stages of 14x14 and up). One chunk's forward (4 images) at 28x28 and 14x14 ran
     * in 0.77x and 0.71x the time of F(2x2, 3x3)'s (AVX2, one thread), and with it the input
     * gradient pays at 28x28 and 32x32 too (bench/NOTES-engine.md, twelfth round). At 7x7
     * and 8x8, 4 tiles an image leave its GEMMs 16 columns and its transforms two passes:
     * 1.3x F(2x2, 3x3)'s time. */
    (void)isa;
    const int64_t tw = (g->ow + 3) / 4;
    return tw >= 4 && tw <= 16;
}

/* Images per GEMM of a plane of t1 tiles, at most a chunk. */
static int64_t group_of(const lam_conv_geom *g, int64_t t1)
{
    const int64_t chunk = chunk_of(g);
    const int64_t grp = (WINO_COLS + t1 - 1) / t1;
    return grp < chunk ? grp : chunk;
}

void lam__conv_wino_plan(plan *pp, int fwd, int bwd, int dw, int f4)
{
    const lam_conv_geom *g = pp->g;
    pp->wino_fwd = fwd;
    pp->wino_bwd = bwd;
    pp->wino_dw = dw;
    pp->wino4 = f4 && (fwd || bwd);
    if (!fwd && !bwd && !dw) {
        return;
    }
    pp->wth = (g->oh + 1) / 2;
    pp->wtw = (g->ow + 1) / 2;
    pp->wt1 = pp->wth * pp->wtw;
    pp->wgroup = group_of(g, pp->wt1);
    const int64_t cmax = g->c_in > g->c_out ? g->c_in : g->c_out;
    pp->u_f = round_line(16 * g->c_in * g->c_out);
    const int64_t v2 = 16 * cmax * lam__wino_pitch(pp->wgroup, pp->wt1);
    pp->wv_f = v2;
    /* the input transform's four runs of one plane and the output transform's 4 arrays of
     * T1 (one vector of slack each for the masked tails) */
    pp->wr_f = lam__wino_in_floats(pp) + 4 * round_line(pp->wt1 + 16);
    if (pp->wino4) {
        pp->w4th = (g->oh + 3) / 4;
        pp->w4tw = (g->ow + 3) / 4;
        pp->w4t1 = pp->w4th * pp->w4tw;
        pp->w4group = group_of(g, pp->w4t1);
        pp->u_f = round_line(36 * g->c_in * g->c_out);
        const int64_t v4 = 36 * cmax * lam__wino_pitch(pp->w4group, pp->w4t1);
        pp->wv_f = v4 > pp->wv_f ? v4 : pp->wv_f;
        const int64_t r4 = lam__wino4_in_floats(pp) + 4 * lam__wino4_out_pitch(pp);
        pp->wr_f = r4 > pp->wr_f ? r4 : pp->wr_f;
    }
    pp->wm_f = pp->wv_f + 16; /* the output transform's whole loads read past the tiles */
    if (dw) {
        pp->wd_f = v2; /* dy transformed, as F(2x2, 3x3)'s V */
        pp->wq_f = round_line(16 * g->c_in * g->c_out); /* the weight gradient's products */
    }
    if (fwd && pp->pg != NULL) {
        /* the un-pooled outputs of a whole chunk, as the implicit forward keeps them */
        const int64_t scr = round_line(chunk_of(g) * g->c_out * pp->p);
        pp->scr_f = scr > pp->scr_f ? scr : pp->scr_f;
    }
}

#if defined(__GNUC__) && defined(__x86_64__)

/* the plan's ISA is AVX2 or AVX-512 (lam__conv_plan_init plans Winograd for no other) */
static const lam_conv_wino_ops *ops_of(const plan *pp)
{
    return pp->isa == LAM_ISA_AVX512 ? &lam__conv_wino_ops_avx512 : &lam__conv_wino_ops_avx2;
}

void lam__conv_wino_weights(const plan *pp, const float *w, int flip, float *ws)
{
    ops_of(pp)->weights(pp, w, flip, ws);
}

void lam__conv_wino_dw(const plan *pp, const float *x, const float *dy, int64_t nimg,
                       float *part, int aug, float *ws, int lane)
{
    ops_of(pp)->dw(pp, x, dy, nimg, part, aug, ws, lane);
}

void lam__conv_wino_run(const plan *pp, const float *x, int64_t nimg, int64_t xs, int64_t cin,
                        int64_t cout, const float *bias, float *ws, int lane, float *dst,
                        int64_t ds, int op)
{
    ops_of(pp)->run(pp, x, nimg, xs, cin, cout, bias, ws, lane, dst, ds, op);
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
