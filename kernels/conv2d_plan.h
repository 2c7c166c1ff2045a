/*
 * The private plan of one convolution pass (kernels/conv2d.c), shared with the implicit-GEMM
 * path (kernels/conv2d_implicit.c): the shapes derived once per call and where each piece of
 * the caller's workspace lies.
 *
 * Workspace layout (floats, each piece rounded to 64 bytes so threads never share a line):
 *   [ Wa: C_out*(K+1) ][ ones: NP (implicit, with a bias) ]
 *   [ partials: parts * ((K+1)*C_out + C_out) ][ U: 16 or 36 *C_in*C_out (Winograd) ]
 *   [ per lane: col | scratch | dy^T | xp | yq | dyq | V | M | transforms | D^T | Q ],
 *   each piece present only where its path uses it:
 *     im2col path    col (K+1, L), scratch (C_out, L), dy^T (P, C_out) (AVX-512, chunked)
 *     implicit path  scratch (C_out, P), dy^T (NP, C_out), xp and dyq (padded images of x
 *                    and of dy, C_in and C_out planes), yq (max(C_in, C_out), NP)
 *     Winograd       V and M (16, or 36 for F(4x4, 3x3), x max(C_in, C_out) x the tiles
 *                    of a group of images and a vector of slack), the transforms' runs, and
 *                    for the weight gradient (F(2x2, 3x3)) the transformed dy transposed
 *                    and its 16 products Q (conv2d_winograd.c)
 * with L = P and lanes = threads (CHUNKED), or L = LAM_CONV_GROUP*P and one lane (BATCHED).
 * Backward of the implicit path reuses the Wa space for the flipped weights (C_in, K').
 */
#ifndef LAM_KERNELS_CONV2D_PLAN_H
#define LAM_KERNELS_CONV2D_PLAN_H

#include "kernels.h"

/* Floats rounded up to a whole 64-byte line. */
static inline int64_t round_line(int64_t floats)
{
    return (floats + 15) / 16 * 16;
}

typedef struct plan {
    const lam_conv_geom *g;
    lam_act act;                /* NONE or RELU */
    const lam_pool_geom *pg;    /* NULL: no pool */
    int isa;                    /* resolved LAM_ISA_* of im2col, col2im and the pool */
    int batched;
    int pointwise;              /* col == x: no im2col (chunked only) */
    int implicit_fwd;           /* windows over padded images instead of im2col: forward */
    int implicit_bwd;           /* ... and backward (where the junk columns cost less) */
    int dx_acc;                 /* dx += instead of dx = */
    int64_t cig, cog, k, ka;    /* ka = K + 1: room for the bias row */
    int64_t p, ohw;             /* conv output plane, block output plane */
    int64_t xs, ys;             /* per-image floats of x and of the block output */
    int64_t group;              /* images per GEMM */
    int64_t lane_ld;            /* columns of a lane's col/scratch */
    int64_t parts, part;        /* number and size of weight-gradient partials */
    int64_t hp, wp, plane, np;  /* implicit: frame of a whole chunk (HP x WP), NP = OH * WP */
    int wino_fwd, wino_bwd;     /* Winograd F(2x2,3x3): forward, input gradient */
    int wino_dw;                /* ... and weight gradient */
    int64_t wth, wtw, wt1;      /* Winograd: tile rows, tile columns, tiles per image */
    int64_t wgroup;             /* Winograd: images per GEMM */
    int wino4;                  /* the forward and input gradient by F(4x4,3x3) */
    int64_t w4th, w4tw, w4t1, w4group; /* ... its tiles and images per GEMM */
    int64_t lanes, wa_f, ones_f, u_f, col_f, scr_f, dyt_f, xp_f, yq_f, dyq_f, wv_f, wm_f, wr_f;
    int64_t wd_f, wq_f;
} plan;

/* What the last pass of a convolution path does with each output value. */
enum { LAM_OUT_COPY, LAM_OUT_RELU, LAM_OUT_ADD };

void lam__conv_plan_init(plan *pp, const lam_conv_geom *g, const lam_conv_fusion *f, int nt);

/* Winograd's input-transform scratch: 16 floats of slack, 4 runs of 2*T1, 48 of slack. */
static inline int64_t lam__wino_in_floats(const plan *pp)
{
    return round_line(16 + 8 * pp->wt1 + 48);
}

/* Floats per channel of a row of V or M (the tiles of a group of images): a vector of slack
 * past the last image, where the packed input transforms store whole halves (their lanes
 * past a row of tiles land on tiles stored after them, or here). */
static inline int64_t lam__wino_pitch(int64_t group, int64_t t1)
{
    return round_line(group * t1 + 16);
}

/* F(4x4,3x3)'s input-transform scratch (conv2d_winograd4_v16.h): 16 floats of slack, then
 * six runs of 4*T1 at this pitch, with the slack their 16-tile loads read past them (4
 * floats before a vector, 68 after)... */
static inline int64_t lam__wino4_run_pitch(const plan *pp)
{
    return round_line(4 * pp->w4t1 + 16 * 4 + 16);
}

static inline int64_t lam__wino4_in_floats(const plan *pp)
{
    return 16 + 6 * lam__wino4_run_pitch(pp);
}

/* ... and its output transform's four row runs, 4*T1 each and a vector of slack */
static inline int64_t lam__wino4_out_pitch(const plan *pp)
{
    return round_line(4 * pp->w4t1 + 64);
}

static inline float *ws_wa(const plan *pp, float *ws)
{
    (void)pp;
    return ws;
}

static inline float *ws_ones(const plan *pp, float *ws)
{
    return ws + pp->wa_f;
}

static inline float *ws_part(const plan *pp, float *ws, int64_t i)
{
    return ws + pp->wa_f + pp->ones_f + i * pp->part;
}

static inline int64_t lane_floats(const plan *pp)
{
    return pp->col_f + pp->scr_f + pp->dyt_f + pp->xp_f + pp->yq_f + pp->dyq_f + pp->wv_f +
           pp->wm_f + pp->wr_f + pp->wd_f + pp->wq_f;
}

static inline float *ws_u(const plan *pp, float *ws)
{
    return ws_part(pp, ws, pp->parts);
}

static inline float *ws_col(const plan *pp, float *ws, int64_t lane)
{
    return ws_u(pp, ws) + pp->u_f + lane * lane_floats(pp);
}

static inline float *ws_scr(const plan *pp, float *ws, int64_t lane)
{
    return ws_col(pp, ws, lane) + pp->col_f;
}

static inline float *ws_dyt(const plan *pp, float *ws, int64_t lane)
{
    return ws_scr(pp, ws, lane) + pp->scr_f;
}

static inline float *ws_xp(const plan *pp, float *ws, int64_t lane)
{
    return ws_dyt(pp, ws, lane) + pp->dyt_f;
}

static inline float *ws_yq(const plan *pp, float *ws, int64_t lane)
{
    return ws_xp(pp, ws, lane) + pp->xp_f;
}

static inline float *ws_dyq(const plan *pp, float *ws, int64_t lane)
{
    return ws_yq(pp, ws, lane) + pp->yq_f;
}

static inline float *ws_wv(const plan *pp, float *ws, int64_t lane)
{
    return ws_dyq(pp, ws, lane) + pp->dyq_f;
}

static inline float *ws_wm(const plan *pp, float *ws, int64_t lane)
{
    return ws_wv(pp, ws, lane) + pp->wv_f;
}

static inline float *ws_wr(const plan *pp, float *ws, int64_t lane)
{
    return ws_wm(pp, ws, lane) + pp->wm_f;
}

static inline float *ws_wd(const plan *pp, float *ws, int64_t lane)
{
    return ws_wr(pp, ws, lane) + pp->wr_f;
}

static inline float *ws_wq(const plan *pp, float *ws, int64_t lane)
{
    return ws_wd(pp, ws, lane) + pp->wd_f;
}

/* kernels/conv2d_implicit.c */
/* Whether this convolution can run on windows: stride 1, no dilation, one group, an odd
 * kernel with "same" padding, not 1x1 (which needs no im2col at all). */
int lam__conv_implicit_fits(const lam_conv_geom *g);
/* Sizes the frame and the implicit pieces of the workspace; sets implicit_fwd and
 * implicit_bwd for the passes where the implicit GEMM pays (see there), or both if force. */
void lam__conv_implicit_plan(plan *pp, int force);
/* Forward of one chunk, images x + b*xs for b < nimg: image b of t + b*ts (C_out, P) =
 * conv (+ bias when aug, through the ones row of the window), relu applied when `relu`.
 * wm is W or Wa (pitch lda). */
void lam__conv_implicit_fwd(const plan *pp, const float *x, int64_t nimg, const float *wm,
                            int64_t lda, int aug, float *ws, int lane, float *t, int64_t ts,
                            int relu);
/* Wt (C_in, C_out*KH*KW) = W flipped in both kernel axes and transposed: the input gradient
 * as a convolution of dy. Written into the Wa space. */
void lam__conv_implicit_flip(const plan *pp, const float *w, float *ws);
/* Backward of one chunk from its d(conv output) src (nimg, C_out, P): the chunk's
 * weight-gradient partial (K+aug, C_out) when x != NULL, and dx (= or += by pp->dx_acc) when
 * dx != NULL, images at a pitch of xs. */
void lam__conv_implicit_bwd(const plan *pp, const float *x, const float *src, int64_t nimg,
                            float *dx, float *part, int aug, float *ws, int lane);

/* kernels/conv2d_winograd.c */
/* Whether Winograd F(2x2, 3x3) computes this convolution: 3x3, stride 1, pad 1, no dilation,
 * one group (and an x86-64 build; the plan also needs AVX2 or AVX-512). */
int lam__conv_wino_fits(const lam_conv_geom *g);
/* Whether it beats the implicit GEMM on this shape with this instruction set (measured: see
 * there). */
int lam__conv_wino_pays(const lam_conv_geom *g, int pass, int isa);
/* Sets wino_fwd, wino_bwd and wino_dw, and wino4 (the first two by F(4x4, 3x3)) where f4
 * and either runs, and sizes their pieces of the workspace. */
void lam__conv_wino_plan(plan *pp, int fwd, int bwd, int dw, int f4);
/* Whether F(4x4, 3x3) pays for the forward and the input gradient of this shape. */
int lam__conv_wino4_pays(const lam_conv_geom *g, int isa);
/* The 16 (36 with wino4) transformed weight matrices into the U space: U[xi](C_out, C_in)
 * for the forward (flip 0), U[xi](C_in, C_out) of the kernels turned by 180 degrees for the
 * input gradient (flip 1). */
void lam__conv_wino_weights(const plan *pp, const float *w, int flip, float *ws);
/* The weight-gradient partial of one chunk (as the im2col path's: (K, C_out), then the bias
 * row when aug) from its images x + b*xs and their d(conv output) dy (nimg, C_out, OH, OW). */
void lam__conv_wino_dw(const plan *pp, const float *x, const float *dy, int64_t nimg,
                       float *part, int aug, float *ws, int lane);
/* Image b < nimg of dst + b*ds (cout, OH, OW) = (op) the convolution of image b of
 * x + b*xs (cin, H, W) by the transformed weights in U, plus bias[co] when bias != NULL.
 * op: LAM_OUT_COPY, LAM_OUT_RELU or LAM_OUT_ADD (+=). */
void lam__conv_wino_run(const plan *pp, const float *x, int64_t nimg, int64_t xs, int64_t cin,
                        int64_t cout, const float *bias, float *ws, int lane, float *dst,
                        int64_t ds, int op);
/* The same three for one instruction set (conv2d_winograd_v16.h, compiled per ISA on
 * x86-64), picked by pp->isa. */
typedef struct lam_conv_wino_ops {
    void (*weights)(const plan *pp, const float *w, int flip, float *ws);
    void (*dw)(const plan *pp, const float *x, const float *dy, int64_t nimg, float *part,
               int aug, float *ws, int lane);
    void (*run)(const plan *pp, const float *x, int64_t nimg, int64_t xs, int64_t cin,
                int64_t cout, const float *bias, float *ws, int lane, float *dst, int64_t ds,
                int op);
} lam_conv_wino_ops;
extern const lam_conv_wino_ops lam__conv_wino_ops_avx512, lam__conv_wino_ops_avx2;

#endif
