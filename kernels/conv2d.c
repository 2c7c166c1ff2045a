/*
 * 2-D convolution by im2col + GEMM, with an optional fused epilogue (bias, relu, max pool).
 *
 * Per image and group gr (K = C_in/g*KH*KW, P = OH*OW, W_gr = w rows of group gr):
 *   forward      y_gr(C_out/g, P)  = W_gr(C_out/g, K) * col(K, P) + b
 *   input grad   col(K, P)         = W_gr^T * dy_gr(C_out/g, P);  dx = col2im(col)
 *   weight grad  dW_gr(C_out/g, K) += dy_gr * col^T;              db += sum_P dy
 * with col = im2col(x, group gr). A 1x1, stride-1, unpadded convolution has col == x, so
 * it skips im2col/col2im entirely (chunked strategy only).
 *
 * Bias inside the GEMM: col gets one more row of ones and W one more column holding b
 * (Wa = [W | b], K+1 columns), so the forward GEMM adds the bias and the weight-gradient GEMM
 * yields db in its last column. This removes a pass over the output in each direction,
 * which on the seed CNN's first layer (K = 9) cost as much as the GEMM itself.
 *
 * Fusion (lam_conv_fusion): y = maxpool(relu(conv(x) + b)) per image while the conv output
 * is in cache; the un-pooled output lives only in a per-thread scratch. Backward rebuilds
 * d(conv output) per image from dy, the argmax and the relu mask (y > 0), then runs the two
 * GEMMs on it. relu without pool applies in place on y; its backward masks dy by y > 0.
 *
 * Strategies (lam_conv_strategy):
 *  - CHUNKED: the batch is cut into chunks of LAM_CHUNK samples spread over `nt` OpenMP
 *    threads; every GEMM is one image's, single-threaded (the OpenMP build of OpenBLAS
 *    does that by itself inside a parallel region). One parallel region per pass
 *    (kernels/par.c), none with one thread; the chunk-order reduction of small partials
 *    runs on the calling thread after it.
 *  - BATCHED: images are folded into the GEMMs' N in groups of LAM_CONV_GROUP, and the
 *    GEMMs run outside any parallel region so BLAS threads them; im2col, col2im and the
 *    epilogues run in OpenMP loops that make no BLAS call. This is the safe choice with a
 *    pthreads OpenBLAS, which oversubscribes the cores when called from OpenMP threads.
 *
 * Determinism: weight gradients are first written per chunk (CHUNKED) or accumulated over
 * groups in batch order by one GEMM chain (BATCHED), then added to dw/db in chunk order, so
 * every result is bitwise the same for any nt. Nothing here depends on which thread ran a
 * chunk (chunks are scheduled dynamically, which helps on a busy machine).
 *
 * Weight-gradient partials are kept transposed, dW'^T (K+1, C_out): that is the product
 * col * dy^T, which lamina's AVX-512 GEMM computes as a plain NN product once dy is
 * transposed (C_out x P, a small copy) where its dot-product form (dy * col^T) ran at a third
 * of the speed; BLAS gets the same product as an NT call. They are added to dw once per chunk.
 *
 * Implicit GEMM (kernels/conv2d_implicit.c): with AVX-512, a same-size stride-1 convolution
 * can skip im2col and col2im and let the GEMM kernels read the taps from a zero-padded frame
 * of the chunk's images; lam__conv_implicit_plan picks it per pass by the shape, and
 * lam_conv_fusion.path forces either path. A 3x3 "same" convolution can run any of its passes
 * as Winograd F(2x2, 3x3) instead (kernels/conv2d_winograd.c), pass by pass where
 * lam__conv_wino_pays says so; the implicit path's plan stays behind it for the passes that
 * keep it. The workspace layout is in conv2d_plan.h.
 */
#include <string.h>

#include "conv2d_plan.h"

static int is_pointwise(const lam_conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

static int64_t k_of(const lam_conv_geom *g)
{
    return g->c_in / g->groups * g->kh * g->kw;
}

static int64_t n_chunks(const lam_conv_geom *g)
{
    return (g->n + LAM_CHUNK - 1) / LAM_CHUNK;
}

/* Threads actually used: never more than there are chunks. */
static int team_size(int nt, int64_t chunks)
{
    if (nt < 1) {
        nt = 1;
    }
    return (int64_t)nt < chunks ? nt : (int)chunks;
}

static const lam_conv_fusion plain = {LAM_ACT_NONE, NULL, LAM_CONV_CHUNKED, 0,
                                      LAM_CONV_PATH_AUTO, 0};

void lam__conv_plan_init(plan *pp, const lam_conv_geom *g, const lam_conv_fusion *f, int nt)
{
    if (f == NULL) {
        f = &plain;
    }
    memset(pp, 0, sizeof *pp);
    pp->g = g;
    pp->act = f->act == LAM_ACT_RELU ? LAM_ACT_RELU : LAM_ACT_NONE;
    pp->pg = f->pool;
    /* asked once per pass, never per image or plane (see lam__best_isa) */
    const int best = lam__best_isa();
    pp->isa = f->isa > 0 && f->isa < best ? f->isa : best;
    pp->batched = f->strategy == LAM_CONV_BATCHED;
    pp->pointwise = !pp->batched && is_pointwise(g);
    pp->dx_acc = f->dx_acc;
    pp->cig = g->c_in / g->groups;
    pp->cog = g->c_out / g->groups;
    pp->k = k_of(g);
    pp->ka = pp->k + 1;
    pp->p = g->oh * g->ow;
    pp->ohw = pp->pg != NULL ? pp->pg->oh * pp->pg->ow : pp->p;
    pp->xs = g->c_in * g->h * g->w;
    pp->ys = g->c_out * pp->ohw;
    const int64_t chunks = n_chunks(g);
    if (pp->batched) {
        pp->group = g->n < LAM_CONV_GROUP ? g->n : LAM_CONV_GROUP;
        pp->lanes = 1;
        pp->parts = 1;
    } else {
        pp->group = 1;
        pp->lanes = team_size(nt, chunks);
        pp->parts = chunks;
    }
    pp->lane_ld = pp->group * pp->p;
    pp->part = round_line(g->c_out * pp->ka + g->c_out);
    pp->wa_f = round_line(g->c_out * pp->ka);
    if (!pp->batched && f->path != LAM_CONV_PATH_IM2COL && pp->isa >= LAM_ISA_AVX2 &&
        lam__conv_implicit_fits(g)) {
        const int wino_fits = lam__conv_wino_fits(g);
        const int wino = (f->path == LAM_CONV_PATH_WINOGRAD ||
                          f->path == LAM_CONV_PATH_WINOGRAD4) && wino_fits;
        lam__conv_implicit_plan(pp, f->path == LAM_CONV_PATH_IMPLICIT || wino);
        if (f->path != LAM_CONV_PATH_IMPLICIT && wino_fits) {
            lam__conv_wino_plan(pp, wino || lam__conv_wino_pays(g, 0, pp->isa),
                                (wino || lam__conv_wino_pays(g, 1, pp->isa)) && pp->implicit_bwd,
                                (wino || lam__conv_wino_pays(g, 2, pp->isa)) && pp->implicit_bwd,
                                wino ? f->path == LAM_CONV_PATH_WINOGRAD4
                                     : lam__conv_wino4_pays(g, pp->isa));
        }
        if ((pp->implicit_fwd || pp->wino_fwd) && pp->implicit_bwd) {
            return;
        }
    }
    /* im2col's pieces; scratch and dy^T are shared with the implicit forward */
    pp->col_f = pp->pointwise ? 0 : round_line(pp->ka * pp->lane_ld);
    /* the un-pooled output (pool), the masked gradient (relu) or the batched layout */
    int need_scr = pp->pg != NULL || pp->act == LAM_ACT_RELU || pp->batched;
    const int64_t scr = need_scr ? round_line(g->c_out * pp->lane_ld) : 0;
    const int64_t dyt = !pp->batched && pp->isa >= LAM_ISA_AVX2 ? round_line(pp->p * pp->cog) : 0;
    pp->scr_f = scr > pp->scr_f ? scr : pp->scr_f;
    pp->dyt_f = dyt > pp->dyt_f ? dyt : pp->dyt_f;
}

int64_t lam__conv2d_fused_workspace(const lam_conv_geom *g, const lam_conv_fusion *f, int nt)
{
    /* The geometry passed lam__conv_geom_init, so only the thread/chunk multiples can
     * overflow; -1 tells the caller the request is unsatisfiable. */
    plan pp;
    lam__conv_plan_init(&pp, g, f, nt);
    const int64_t lane = lane_floats(&pp);
    if (lane > 0 && pp.lanes > INT64_MAX / 4 / lane) {
        return -1;
    }
    if (pp.parts > INT64_MAX / 4 / pp.part) {
        return -1;
    }
    const int64_t total = pp.wa_f + pp.ones_f + pp.parts * pp.part + pp.u_f + pp.lanes * lane;
    return total <= INT64_MAX / 4 ? total : -1;
}

int lam__conv_path_auto(const lam_conv_geom *g, const lam_conv_fusion *f, int nt, int bwd)
{
    plan pp;
    lam__conv_plan_init(&pp, g, f, nt);
    if (bwd ? pp.wino_bwd : pp.wino_fwd) {
        return pp.wino4 ? 3 : 2;
    }
    return bwd ? pp.implicit_bwd : pp.implicit_fwd;
}

int64_t lam__conv2d_workspace(const lam_conv_geom *g, int nt)
{
    return lam__conv2d_fused_workspace(g, NULL, nt);
}

/* Wa = [W | b] (C_out, K+1), rows [r0, r1). */
static void build_wa(const plan *pp, const float *w, const float *b, float *wa, int64_t r0,
                     int64_t r1)
{
    for (int64_t co = r0; co < r1; co++) {
        memcpy(wa + co * pp->ka, w + co * pp->k, (size_t)pp->k * sizeof(float));
        wa[co * pp->ka + pp->k] = b[co];
    }
}

static void fill_ones(float *row, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        row[i] = 1.0f;
    }
}

/* Floats of the partials summed per work item of the reduction phase. */
#define REDUCE_BLOCK 4096

/* The arguments of one pass, shared by its work items. */
typedef struct pass {
    const plan *pp;
    const float *x, *w, *b, *y, *dy;
    float *yo, *dx, *dw, *db, *ws;
    int32_t *am_out;
    const int32_t *am;
    const float *wm;            /* w, or Wa = [W | b] when the bias rides in the GEMM */
    int64_t lda;
    int aug, want_dw;
    int64_t s0, gr;             /* batched: first image of the group, conv group */
} pass;

/* Items shared by the passes: the ones row of lane i (the bias row of col), a row of Wa. */
static void item_ones(const void *arg, int64_t i, int lane)
{
    const pass *ps = arg;
    (void)lane;
    const plan *pp = ps->pp;
    fill_ones(ws_col(pp, ps->ws, i) + pp->k * pp->lane_ld, pp->lane_ld);
}

static void item_wa(const void *arg, int64_t co, int lane)
{
    const pass *ps = arg;
    (void)lane;
    build_wa(ps->pp, ps->w, ps->b, ws_wa(ps->pp, ps->ws), co, co + 1);
}

static void item_setup(const void *arg, int64_t i, int lane)
{
    const pass *ps = arg;
    if (i < ps->pp->lanes) {
        item_ones(ps, i, lane);
    } else {
        item_wa(ps, i - ps->pp->lanes, lane);
    }
}

/* ------------------------------------------------------------------ forward */

/* GEMM of one image (chunked) into t (C_out, P), pitch P. Wa/lda carry the bias when aug. */
static void fwd_gemm_image(const plan *pp, const float *xi, const float *wm, int64_t lda,
                           int aug, const float *b, float *col, float *t)
{
    const lam_conv_geom *g = pp->g;
    const int64_t p = pp->p, kk = pp->k + aug;
    float beta = 0.0f;
    if (pp->pointwise && b != NULL) {
        /* no im2col to carry the ones row: bias first, then GEMM with beta = 1 */
        for (int64_t co = 0; co < g->c_out; co++) {
            float *tc = t + co * p;
            const float bc = b[co];
            for (int64_t i = 0; i < p; i++) {
                tc[i] = bc;
            }
        }
        beta = 1.0f;
    }
    for (int64_t gr = 0; gr < g->groups; gr++) {
        const float *cm = xi + gr * pp->cig * p;
        if (!pp->pointwise) {
            lam__im2col_ld_isa(g, xi, gr * pp->cig, col, p, pp->isa);
            cm = col;
        }
        (void)lam__conv_gemm(pp->isa, 0, 0, pp->cog, p, kk, wm + gr * pp->cog * lda, lda, cm, p,
                             beta, t + gr * pp->cog * p, p);
    }
}

/* Epilogue of one image: conv output t (C_out, P at pitch ld) -> block output yi. When
 * t == yi (no pool, chunked) only the activation runs, in place. */
static void epilogue_image(const plan *pp, const float *t, int64_t ld, float *yi, int32_t *ai)
{
    const lam_conv_geom *g = pp->g;
    const int relu = pp->act == LAM_ACT_RELU;
    if (pp->pg != NULL) {
        for (int64_t co = 0; co < g->c_out; co++) {
            lam__maxpool_plane_fwd_isa(pp->pg, t + co * ld, relu, yi + co * pp->ohw,
                                       ai + co * pp->ohw, pp->isa);
        }
        return;
    }
    for (int64_t co = 0; co < g->c_out; co++) {
        const float *tc = t + co * ld;
        float *yc = yi + co * pp->p;
        if (relu) {
            lam__act_fwd(LAM_ACT_RELU, 0.0f, pp->p, tc, yc);
        } else if (tc != yc) {
            memcpy(yc, tc, (size_t)pp->p * sizeof(float));
        }
    }
}

static void item_fwd_chunk(const void *arg, int64_t ch, int lane)
{
    const pass *ps = arg;
    const plan *pp = ps->pp;
    float *col = ws_col(pp, ps->ws, lane), *scr = ws_scr(pp, ps->ws, lane);
    const int64_t s0 = ch * LAM_CHUNK;
    const int64_t end = s0 + LAM_CHUNK < pp->g->n ? s0 + LAM_CHUNK : pp->g->n;
    if (pp->implicit_fwd || pp->wino_fwd) {
        /* the whole chunk at once; relu rides on the last copy unless a pool follows (its
         * epilogue applies it, image by image from the scratch) */
        const int pool = pp->pg != NULL;
        const int64_t cp = pp->g->c_out * pp->p;
        float *t = pool ? scr : ps->yo + s0 * pp->ys;
        const int relu = pp->act == LAM_ACT_RELU && !pool;
        if (pp->wino_fwd) {
            lam__conv_wino_run(pp, ps->x + s0 * pp->xs, end - s0, pp->xs, pp->g->c_in,
                               pp->g->c_out, ps->b, ps->ws, lane, t, pool ? cp : pp->ys,
                               relu ? LAM_OUT_RELU : LAM_OUT_COPY);
        } else {
            lam__conv_implicit_fwd(pp, ps->x + s0 * pp->xs, end - s0, ps->wm, ps->lda, ps->aug,
                                   ps->ws, lane, t, pool ? cp : pp->ys, relu);
        }
        for (int64_t s = s0; pool && s < end; s++) {
            epilogue_image(pp, scr + (s - s0) * cp, pp->p, ps->yo + s * pp->ys,
                           ps->am_out != NULL ? ps->am_out + s * pp->ys : NULL);
        }
        return;
    }
    for (int64_t s = s0; s < end; s++) {
        float *yi = ps->yo + s * pp->ys;
        int32_t *ai = ps->am_out != NULL ? ps->am_out + s * pp->ys : NULL;
        float *t = pp->pg != NULL ? scr : yi;
        fwd_gemm_image(pp, ps->x + s * pp->xs, ps->wm, ps->lda, ps->aug, ps->b, col, t);
        epilogue_image(pp, t, pp->p, yi, ai);
    }
}

static void item_im2col(const void *arg, int64_t j, int lane)
{
    const pass *ps = arg;
    (void)lane;
    const plan *pp = ps->pp;
    lam__im2col_ld_isa(pp->g, ps->x + (ps->s0 + j) * pp->xs, ps->gr * pp->cig,
                       ws_col(pp, ps->ws, 0) + j * pp->p, pp->lane_ld, pp->isa);
}

static void item_epilogue(const void *arg, int64_t j, int lane)
{
    const pass *ps = arg;
    (void)lane;
    const plan *pp = ps->pp;
    const int64_t s = ps->s0 + j;
    epilogue_image(pp, ws_scr(pp, ps->ws, 0) + j * pp->p, pp->lane_ld, ps->yo + s * pp->ys,
                   ps->am_out != NULL ? ps->am_out + s * pp->ys : NULL);
}

/* Batched: per group of images, im2col side by side, one GEMM per conv group (outside any
 * parallel region, so BLAS threads it), then the epilogue per image. */
static void fwd_batched(pass *ps, int nt)
{
    const plan *pp = ps->pp;
    const lam_conv_geom *g = pp->g;
    const int64_t ld = pp->lane_ld, p = pp->p;
    float *col = ws_col(pp, ps->ws, 0), *scr = ws_scr(pp, ps->ws, 0);
    if (ps->aug) {
        build_wa(pp, ps->w, ps->b, ws_wa(pp, ps->ws), 0, g->c_out);
        fill_ones(col + pp->k * ld, ld);
    }
    for (ps->s0 = 0; ps->s0 < g->n; ps->s0 += pp->group) {
        const int64_t gn = g->n - ps->s0 < pp->group ? g->n - ps->s0 : pp->group;
        for (ps->gr = 0; ps->gr < g->groups; ps->gr++) {
            const lam_phase ph = {item_im2col, gn, 1};
            lam__run_phases(nt, ps, &ph, 1);
            (void)lam__sgemm(0, 0, pp->cog, gn * p, pp->k + ps->aug, 1.0f,
                             ps->wm + ps->gr * pp->cog * ps->lda, ps->lda, col, ld, 0.0f,
                             scr + ps->gr * pp->cog * ld, ld);
        }
        const lam_phase ph = {item_epilogue, gn, 1};
        lam__run_phases(nt, ps, &ph, 1);
    }
}

void lam__conv2d_fused_fwd(const lam_conv_geom *g, const lam_conv_fusion *f, const float *x,
                           const float *w, const float *b, float *y, int32_t *argmax, float *ws,
                           int nt)
{
    plan pp;
    lam__conv_plan_init(&pp, g, f, nt);
    const int aug = b != NULL && !pp.pointwise;
    pass ps = {.pp = &pp, .x = x, .w = w, .b = b, .yo = y, .am_out = argmax, .ws = ws,
               .aug = aug, .wm = aug ? ws_wa(&pp, ws) : w, .lda = aug ? pp.ka : pp.k};
    if (pp.batched) {
        fwd_batched(&ps, nt < 1 ? 1 : nt);
        return;
    }
    /* ones rows and Wa on this thread (tiny; a phase would cost a barrier), then the chunks */
    if (pp.wino_fwd) {
        lam__conv_wino_weights(&pp, w, 0, ws);
    } else if (pp.implicit_fwd && ps.aug) {
        build_wa(&pp, w, b, ws_wa(&pp, ws), 0, g->c_out);
        fill_ones(ws_ones(&pp, ws), pp.np);
    }
    const int im2col_aug = ps.aug && !pp.implicit_fwd && !pp.wino_fwd;
    for (int64_t i = 0; im2col_aug && i < pp.lanes + g->c_out; i++) {
        item_setup(&ps, i, 0);
    }
    const lam_phase ph = {item_fwd_chunk, pp.parts, 1};
    lam__run_phases((int)pp.lanes, &ps, &ph, 1);
}

void lam__conv2d_fwd(const lam_conv_geom *g, const float *x, const float *w, const float *b,
                     float *y, float *ws, int nt)
{
    lam__conv2d_fused_fwd(g, NULL, x, w, b, y, NULL, ws, nt);
}

/* ----------------------------------------------------------------- backward */

/* d(conv output) of one image into t (C_out, P at pitch ld): pool backward with the relu
 * mask, or dy masked by y > 0. Returns the matrix to use: t, or dyi itself (pitch P) when
 * nothing is fused. */
static const float *prologue_image(const plan *pp, const float *dyi, const float *yi,
                                   const int32_t *ai, float *t, int64_t ld)
{
    const lam_conv_geom *g = pp->g;
    const int relu = pp->act == LAM_ACT_RELU;
    if (pp->pg != NULL) {
        for (int64_t co = 0; co < g->c_out; co++) {
            const int64_t o = co * pp->ohw;
            lam__maxpool_plane_bwd_isa(pp->pg, dyi + o, ai + o, relu ? yi + o : NULL,
                                       t + co * ld, pp->isa);
        }
        return t;
    }
    if (!relu && !pp->batched) {
        return dyi;
    }
    for (int64_t co = 0; co < g->c_out; co++) {
        const float *dc = dyi + co * pp->p, *yc = yi != NULL ? yi + co * pp->p : NULL;
        float *tc = t + co * ld;
        if (relu) {
            lam__act_bwd(LAM_ACT_RELU, 0.0f, pp->p, yc, NULL, dc, tc);
        } else {
            memcpy(tc, dc, (size_t)pp->p * sizeof(float));
        }
    }
    return t;
}

/* dW'^T (K+aug, C_out/g) of conv group gr (+)= cm (K+aug, P) * dy_gr^T: with AVX2 or AVX-512 an NN
 * product on dy_gr transposed into dyt, else an NT call to BLAS. */
static void dw_gemm(const plan *pp, const float *cm, int64_t ld, int64_t n, const float *dy_gr,
                    float *dyt, int aug, int first, float *part_gr)
{
    const int64_t rows = pp->k + aug, cog = pp->cog, c_out = pp->g->c_out;
    const float beta = first ? 0.0f : 1.0f;
    if (dyt != NULL) {
        lam__transpose_isa(pp->isa, cog, n, dy_gr, ld, dyt, cog);
        (void)lam__conv_gemm(pp->isa, 0, 0, rows, cog, n, cm, ld, dyt, cog, beta, part_gr, c_out);
    } else {
        (void)lam__sgemm(0, 1, rows, cog, n, 1.0f, cm, ld, dy_gr, ld, beta, part_gr, c_out);
    }
}

/* One image of the chunked backward: dW' partial (first image: overwrite) and dx. */
static void bwd_image(const plan *pp, const float *xi, const float *w, const float *src,
                      float *dxi, float *part, int first, int want_dw, int aug, float *col,
                      float *dyt)
{
    const lam_conv_geom *g = pp->g;
    const int64_t p = pp->p, cig = pp->cig, cog = pp->cog, k = pp->k;
    if (want_dw) {
        for (int64_t gr = 0; gr < g->groups; gr++) {
            const float *cm = xi + gr * cig * p;
            if (!pp->pointwise) {
                lam__im2col_ld_isa(g, xi, gr * cig, col, p, pp->isa);
                cm = col;
            }
            dw_gemm(pp, cm, p, p, src + gr * cog * p, dyt, aug, first, part + gr * cog);
        }
    }
    if (dxi == NULL) {
        return;
    }
    if (pp->pointwise) {
        /* col == dx: write the GEMM straight into it. */
        for (int64_t gr = 0; gr < g->groups; gr++) {
            (void)lam__conv_gemm(pp->isa, 1, 0, cig, p, cog, w + gr * cog * k, k,
                                 src + gr * cog * p, p, pp->dx_acc ? 1.0f : 0.0f,
                                 dxi + gr * cig * p, p);
        }
        return;
    }
    if (!pp->dx_acc) {
        memset(dxi, 0, (size_t)pp->xs * sizeof(float)); /* col2im adds into dx */
    }
    for (int64_t gr = 0; gr < g->groups; gr++) {
        (void)lam__conv_gemm(pp->isa, 1, 0, k, p, cog, w + gr * cog * k, k, src + gr * cog * p,
                             p, 0.0f, col, p);
        lam__col2im_ld_isa(g, col, p, gr * cig, dxi, pp->isa);
    }
}

/* Block blk of every partial added into partial 0, in part order: element j becomes
 * ((p0 + p1) + p2) + ..., contiguous and vectorisable, whatever thread runs it. */
static void sum_parts(const plan *pp, float *ws, int64_t blk)
{
    const int64_t n = pp->g->c_out * pp->ka + pp->g->c_out;
    const int64_t j0 = blk * REDUCE_BLOCK, j1 = j0 + REDUCE_BLOCK < n ? j0 + REDUCE_BLOCK : n;
    float *acc = ws_part(pp, ws, 0);
    for (int64_t pi = 1; pi < pp->parts; pi++) {
        const float *part = ws_part(pp, ws, pi);
        for (int64_t j = j0; j < j1; j++) {
            acc[j] += part[j];
        }
    }
}

static int64_t sum_blocks(const plan *pp)
{
    return (pp->g->c_out * pp->ka + pp->g->c_out + REDUCE_BLOCK - 1) / REDUCE_BLOCK;
}

/* dw += the summed partial 0, db += its bias row (aug) or bias slot. The partial is dW'^T:
 * element (co, i) of dw is part[i * C_out + co]. */
static void add_sum(const plan *pp, const float *ws, int aug, float *dw, float *db)
{
    const int64_t k = pp->k, c_out = pp->g->c_out, dbo = c_out * pp->ka;
    const float *part = ws_part(pp, (float *)ws, 0);
    for (int64_t i = 0; dw != NULL && i < k; i++) {
        const float *row = part + i * c_out;
        for (int64_t co = 0; co < c_out; co++) {
            dw[co * k + i] += row[co];
        }
    }
    for (int64_t co = 0; db != NULL && co < c_out; co++) {
        db[co] += aug ? part[k * c_out + co] : part[dbo + co];
    }
}

static void item_bwd_chunk(const void *arg, int64_t ch, int lane)
{
    const pass *ps = arg;
    const plan *pp = ps->pp;
    const lam_conv_geom *g = pp->g;
    float *col = ws_col(pp, ps->ws, lane), *scr = ws_scr(pp, ps->ws, lane);
    float *dyt = pp->dyt_f > 0 ? ws_dyt(pp, ps->ws, lane) : NULL;
    float *part = ws_part(pp, ps->ws, ch);
    const int64_t s0 = ch * LAM_CHUNK;
    const int64_t end = s0 + LAM_CHUNK < g->n ? s0 + LAM_CHUNK : g->n;
    const int pw_db = ps->db != NULL && !ps->aug; /* pointwise sums db itself */
    if (pw_db) {
        memset(part + g->c_out * pp->ka, 0, (size_t)g->c_out * sizeof(float));
    }
    if (pp->implicit_bwd) {
        /* d(conv output) of the chunk's images side by side in the scratch (or dy itself,
         * when nothing is fused: the prologue hands back dy for every image alike) */
        const int64_t cp = g->c_out * pp->p;
        const float *src = NULL;
        for (int64_t s = s0; s < end; s++) {
            const float *si = prologue_image(pp, ps->dy + s * pp->ys,
                                             ps->y != NULL ? ps->y + s * pp->ys : NULL,
                                             ps->am != NULL ? ps->am + s * pp->ys : NULL,
                                             scr + (s - s0) * cp, pp->p);
            src = s == s0 ? si : src;
        }
        float *dx = ps->dx != NULL ? ps->dx + s0 * pp->xs : NULL;
        const float *x = ps->want_dw ? ps->x + s0 * pp->xs : NULL;
        const float *x_impl = pp->wino_dw ? NULL : x;
        float *dx_impl = pp->wino_bwd ? NULL : dx;
        if (x_impl != NULL || dx_impl != NULL) {
            lam__conv_implicit_bwd(pp, x_impl, src, end - s0, dx_impl, part, ps->aug, ps->ws,
                                   lane);
        }
        if (pp->wino_dw && x != NULL) {
            lam__conv_wino_dw(pp, x, src, end - s0, part, ps->aug, ps->ws, lane);
        }
        if (pp->wino_bwd && dx != NULL) {
            lam__conv_wino_run(pp, src, end - s0, cp, g->c_out, g->c_in, NULL, ps->ws, lane, dx,
                               pp->xs, pp->dx_acc ? LAM_OUT_ADD : LAM_OUT_COPY);
        }
        return;
    }
    for (int64_t s = s0; s < end; s++) {
        const float *src = prologue_image(pp, ps->dy + s * pp->ys,
                                          ps->y != NULL ? ps->y + s * pp->ys : NULL,
                                          ps->am != NULL ? ps->am + s * pp->ys : NULL, scr,
                                          pp->p);
        bwd_image(pp, ps->x != NULL ? ps->x + s * pp->xs : NULL, ps->w, src,
                  ps->dx != NULL ? ps->dx + s * pp->xs : NULL, part, s == s0, ps->want_dw,
                  ps->aug, col, dyt);
        if (pw_db) {
            lam__bias_grad(1, g->c_out, pp->p, src, part + g->c_out * pp->ka);
        }
    }
}

static void item_sum_parts(const void *arg, int64_t blk, int lane)
{
    const pass *ps = arg;
    (void)lane;
    sum_parts(ps->pp, ps->ws, blk);
}

static void item_prologue(const void *arg, int64_t j, int lane)
{
    const pass *ps = arg;
    (void)lane;
    const plan *pp = ps->pp;
    const int64_t s = ps->s0 + j;
    (void)prologue_image(pp, ps->dy + s * pp->ys, ps->y != NULL ? ps->y + s * pp->ys : NULL,
                         ps->am != NULL ? ps->am + s * pp->ys : NULL,
                         ws_scr(pp, ps->ws, 0) + j * pp->p, pp->lane_ld);
    if (ps->dx != NULL && !pp->dx_acc) {
        memset(ps->dx + s * pp->xs, 0, (size_t)pp->xs * sizeof(float));
    }
}

static void item_col2im(const void *arg, int64_t j, int lane)
{
    const pass *ps = arg;
    (void)lane;
    const plan *pp = ps->pp;
    lam__col2im_ld_isa(pp->g, ws_col(pp, ps->ws, 0) + j * pp->p, pp->lane_ld,
                       ps->gr * pp->cig, ps->dx + (ps->s0 + j) * pp->xs, pp->isa);
}

static void bwd_batched(pass *ps, int nt)
{
    const plan *pp = ps->pp;
    const lam_conv_geom *g = pp->g;
    const int64_t ld = pp->lane_ld, p = pp->p, k = pp->k, cog = pp->cog;
    float *col = ws_col(pp, ps->ws, 0), *scr = ws_scr(pp, ps->ws, 0);
    float *part = ws_part(pp, ps->ws, 0);
    if (ps->aug) {
        fill_ones(col + k * ld, ld);
    }
    for (ps->s0 = 0; ps->s0 < g->n; ps->s0 += pp->group) {
        const int64_t gn = g->n - ps->s0 < pp->group ? g->n - ps->s0 : pp->group;
        const lam_phase pro = {item_prologue, gn, 1};
        lam__run_phases(nt, ps, &pro, 1);
        for (ps->gr = 0; ps->gr < g->groups; ps->gr++) {
            const float *src = scr + ps->gr * cog * ld;
            if (ps->want_dw) {
                const lam_phase im = {item_im2col, gn, 1};
                lam__run_phases(nt, ps, &im, 1);
                /* one GEMM chain over the batch: K = images * P, in batch order */
                dw_gemm(pp, col, ld, gn * p, src, NULL, ps->aug, ps->s0 == 0,
                        part + ps->gr * cog);
            }
            if (ps->dx != NULL) {
                (void)lam__sgemm(1, 0, k, gn * p, cog, 1.0f, ps->w + ps->gr * cog * k, k, src,
                                 ld, 0.0f, col, ld);
                const lam_phase c2 = {item_col2im, gn, 1};
                lam__run_phases(nt, ps, &c2, 1);
            }
        }
    }
    if (ps->want_dw) {
        add_sum(pp, ps->ws, ps->aug, ps->dw, ps->db); /* one partial: nothing to sum */
    }
}

void lam__conv2d_fused_bwd(const lam_conv_geom *g, const lam_conv_fusion *f, const float *x,
                           const float *w, const float *y, const int32_t *argmax,
                           const float *dy, float *dx, float *dw, float *db, float *ws, int nt)
{
    plan pp;
    lam__conv_plan_init(&pp, g, f, nt);
    /* the GEMM yields db only with the ones row; pointwise sums it separately */
    pass ps = {.pp = &pp, .x = x, .w = w, .y = y, .am = argmax, .dy = dy, .dx = dx, .dw = dw,
               .db = db, .ws = ws, .aug = db != NULL && !pp.pointwise,
               .want_dw = (dw != NULL || db != NULL) && x != NULL};
    if (pp.batched) {
        bwd_batched(&ps, nt < 1 ? 1 : nt);
        return;
    }
    /* ones rows here, the chunks in parallel, the partials summed in chunk order by
     * contiguous blocks in the same region, then one transposed add into dw/db */
    if (pp.implicit_bwd) {
        if (ps.aug && ps.want_dw) {
            fill_ones(ws_ones(&pp, ws), pp.np);
        }
        if (dx != NULL && pp.wino_bwd) {
            lam__conv_wino_weights(&pp, w, 1, ws);
        } else if (dx != NULL) {
            lam__conv_implicit_flip(&pp, w, ws);
        }
    }
    for (int64_t i = 0; ps.aug && !pp.implicit_bwd && i < pp.lanes; i++) {
        item_ones(&ps, i, 0);
    }
    const lam_phase ph[2] = {{item_bwd_chunk, pp.parts, 1},
                             {item_sum_parts, ps.want_dw ? sum_blocks(&pp) : 0, 1}};
    lam__run_phases((int)pp.lanes, &ps, ph, 2);
    if (ps.want_dw) {
        add_sum(&pp, ws, ps.aug, dw, db);
    }
}

void lam__conv2d_bwd_data(const lam_conv_geom *g, const float *dy, const float *w, float *dx,
                          float *ws, int nt)
{
    lam__conv2d_fused_bwd(g, NULL, NULL, w, NULL, NULL, dy, dx, NULL, NULL, ws, nt);
}

void lam__conv2d_bwd_weight(const lam_conv_geom *g, const float *x, const float *dy, float *dw,
                            float *db, float *ws, int nt)
{
    lam__conv2d_fused_bwd(g, NULL, x, NULL, NULL, NULL, dy, NULL, dw, db, ws, nt);
}
