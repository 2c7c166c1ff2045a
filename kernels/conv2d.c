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
 *    does that by itself inside a parallel region). One parallel region per pass.
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
 * Workspace layout (floats, each piece rounded to 64 bytes so threads never share a line):
 *   [ Wa: C_out*(K+1) ][ partials: parts * (C_out*(K+1) + C_out) ]
 *   [ per lane: col (K+1, L) | scratch (C_out, L) ]
 * with L = P and lanes = threads (CHUNKED), or L = LAM_CONV_GROUP*P and one lane (BATCHED).
 */
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels.h"

static int64_t round_line(int64_t floats)
{
    return (floats + 15) / 16 * 16;
}

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

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static const lam_conv_fusion plain = {LAM_ACT_NONE, NULL, LAM_CONV_CHUNKED};

/* Everything a pass needs, derived once per call. */
typedef struct plan {
    const lam_conv_geom *g;
    lam_act act;                /* NONE or RELU */
    const lam_pool_geom *pg;    /* NULL: no pool */
    int batched;
    int pointwise;              /* col == x: no im2col (chunked only) */
    int64_t cig, cog, k, ka;    /* ka = K + 1: room for the bias row */
    int64_t p, ohw;             /* conv output plane, block output plane */
    int64_t xs, ys;             /* per-image floats of x and of the block output */
    int64_t group;              /* images per GEMM */
    int64_t lane_ld;            /* columns of a lane's col/scratch */
    int64_t parts, part;        /* number and size of weight-gradient partials */
    int64_t lanes, col_f, scr_f, wa_f;
} plan;

static void plan_init(plan *pp, const lam_conv_geom *g, const lam_conv_fusion *f, int nt)
{
    if (f == NULL) {
        f = &plain;
    }
    memset(pp, 0, sizeof *pp);
    pp->g = g;
    pp->act = f->act == LAM_ACT_RELU ? LAM_ACT_RELU : LAM_ACT_NONE;
    pp->pg = f->pool;
    pp->batched = f->strategy == LAM_CONV_BATCHED;
    pp->pointwise = !pp->batched && is_pointwise(g);
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
    pp->col_f = pp->pointwise ? 0 : round_line(pp->ka * pp->lane_ld);
    /* the un-pooled output (pool), the masked gradient (relu) or the batched layout */
    int need_scr = pp->pg != NULL || pp->act == LAM_ACT_RELU || pp->batched;
    pp->scr_f = need_scr ? round_line(g->c_out * pp->lane_ld) : 0;
}

static float *ws_wa(const plan *pp, float *ws)
{
    (void)pp;
    return ws;
}

static float *ws_part(const plan *pp, float *ws, int64_t i)
{
    return ws + pp->wa_f + i * pp->part;
}

static float *ws_col(const plan *pp, float *ws, int64_t lane)
{
    return ws + pp->wa_f + pp->parts * pp->part + lane * (pp->col_f + pp->scr_f);
}

static float *ws_scr(const plan *pp, float *ws, int64_t lane)
{
    return ws_col(pp, ws, lane) + pp->col_f;
}

int64_t lam__conv2d_fused_workspace(const lam_conv_geom *g, const lam_conv_fusion *f, int nt)
{
    /* The geometry passed lam__conv_geom_init, so only the thread/chunk multiples can
     * overflow; -1 tells the caller the request is unsatisfiable. */
    plan pp;
    plan_init(&pp, g, f, nt);
    const int64_t lane = pp.col_f + pp.scr_f;
    if (lane > 0 && pp.lanes > INT64_MAX / 4 / lane) {
        return -1;
    }
    if (pp.parts > INT64_MAX / 4 / pp.part) {
        return -1;
    }
    const int64_t total = pp.wa_f + pp.parts * pp.part + pp.lanes * lane;
    return total <= INT64_MAX / 4 ? total : -1;
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
            lam__im2col_ld(g, xi, gr * pp->cig, col, p);
            cm = col;
        }
        (void)lam__sgemm(0, 0, pp->cog, p, kk, 1.0f, wm + gr * pp->cog * lda, lda, cm, p, beta,
                         t + gr * pp->cog * p, p);
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
            lam__maxpool_plane_fwd(pp->pg, t + co * ld, relu, yi + co * pp->ohw,
                                   ai + co * pp->ohw);
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

static void fwd_chunked(const plan *pp, const float *x, const float *w, const float *b,
                        float *y, int32_t *argmax, float *ws)
{
    const lam_conv_geom *g = pp->g;
    const int64_t chunks = pp->parts;
    const int aug = b != NULL && !pp->pointwise;
    float *wa = ws_wa(pp, ws);
    const float *wm = aug ? wa : w;
    const int64_t lda = aug ? pp->ka : pp->k;
#ifdef _OPENMP
#pragma omp parallel num_threads((int)pp->lanes)
#endif
    {
        float *col = ws_col(pp, ws, thread_id());
        float *scr = ws_scr(pp, ws, thread_id());
        if (aug) {
            fill_ones(col + pp->k * pp->p, pp->p);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int64_t co = 0; co < g->c_out; co++) {
                build_wa(pp, w, b, wa, co, co + 1);
            }
        }
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int64_t ch = 0; ch < chunks; ch++) {
            const int64_t end = (ch + 1) * LAM_CHUNK < g->n ? (ch + 1) * LAM_CHUNK : g->n;
            for (int64_t s = ch * LAM_CHUNK; s < end; s++) {
                float *yi = y + s * pp->ys;
                int32_t *ai = argmax != NULL ? argmax + s * pp->ys : NULL;
                float *t = pp->pg != NULL ? scr : yi;
                fwd_gemm_image(pp, x + s * pp->xs, wm, lda, aug, b, col, t);
                epilogue_image(pp, t, pp->p, yi, ai);
            }
        }
    }
}

/* Batched: per group of images, im2col side by side, one GEMM per conv group, epilogue. */
static void fwd_batched(const plan *pp, int nt, const float *x, const float *w, const float *b,
                        float *y, int32_t *argmax, float *ws)
{
    const lam_conv_geom *g = pp->g;
    const int aug = b != NULL;
    const int64_t ld = pp->lane_ld, p = pp->p;
    float *wa = ws_wa(pp, ws), *col = ws_col(pp, ws, 0), *scr = ws_scr(pp, ws, 0);
    if (aug) {
        build_wa(pp, w, b, wa, 0, g->c_out);
        fill_ones(col + pp->k * ld, ld);
    }
    const float *wm = aug ? wa : w;
    const int64_t lda = aug ? pp->ka : pp->k;
    if (nt < 1) {
        nt = 1;
    }
    for (int64_t s0 = 0; s0 < g->n; s0 += pp->group) {
        const int64_t gn = g->n - s0 < pp->group ? g->n - s0 : pp->group;
        for (int64_t gr = 0; gr < g->groups; gr++) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
            for (int64_t j = 0; j < gn; j++) {
                lam__im2col_ld(g, x + (s0 + j) * pp->xs, gr * pp->cig, col + j * p, ld);
            }
            /* outside any parallel region: BLAS threads this one */
            (void)lam__sgemm(0, 0, pp->cog, gn * p, pp->k + aug, 1.0f, wm + gr * pp->cog * lda,
                             lda, col, ld, 0.0f, scr + gr * pp->cog * ld, ld);
        }
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
        for (int64_t j = 0; j < gn; j++) {
            const int64_t s = s0 + j;
            epilogue_image(pp, scr + j * p, ld, y + s * pp->ys,
                           argmax != NULL ? argmax + s * pp->ys : NULL);
        }
    }
}

void lam__conv2d_fused_fwd(const lam_conv_geom *g, const lam_conv_fusion *f, const float *x,
                           const float *w, const float *b, float *y, int32_t *argmax, float *ws,
                           int nt)
{
    plan pp;
    plan_init(&pp, g, f, nt);
    if (pp.batched) {
        fwd_batched(&pp, nt, x, w, b, y, argmax, ws);
    } else {
        fwd_chunked(&pp, x, w, b, y, argmax, ws);
    }
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
            lam__maxpool_plane_bwd(pp->pg, dyi + o, ai + o, relu ? yi + o : NULL, t + co * ld);
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

/* One image of the chunked backward: dW' partial (first image: overwrite) and dx. */
static void bwd_image(const plan *pp, const float *xi, const float *w, const float *src,
                      float *dxi, float *part, int first, int want_dw, int aug, float *col)
{
    const lam_conv_geom *g = pp->g;
    const int64_t p = pp->p, cig = pp->cig, cog = pp->cog, k = pp->k;
    if (want_dw) {
        for (int64_t gr = 0; gr < g->groups; gr++) {
            const float *cm = xi + gr * cig * p;
            if (!pp->pointwise) {
                lam__im2col_ld(g, xi, gr * cig, col, p);
                cm = col;
            }
            (void)lam__sgemm(0, 1, cog, k + aug, p, 1.0f, src + gr * cog * p, p, cm, p,
                             first ? 0.0f : 1.0f, part + gr * cog * pp->ka, pp->ka);
        }
    }
    if (dxi == NULL) {
        return;
    }
    if (pp->pointwise) {
        /* col == dx: write the GEMM straight into it. */
        for (int64_t gr = 0; gr < g->groups; gr++) {
            (void)lam__sgemm(1, 0, cig, p, cog, 1.0f, w + gr * cog * k, k, src + gr * cog * p,
                             p, 0.0f, dxi + gr * cig * p, p);
        }
        return;
    }
    memset(dxi, 0, (size_t)pp->xs * sizeof(float));
    for (int64_t gr = 0; gr < g->groups; gr++) {
        (void)lam__sgemm(1, 0, k, p, cog, 1.0f, w + gr * cog * k, k, src + gr * cog * p, p,
                         0.0f, col, p);
        lam__col2im_ld(g, col, p, gr * cig, dxi);
    }
}

/* dw += partials, db += their bias column (aug) or bias slot, rows [r0, r1), in part order. */
static void reduce_rows(const plan *pp, const float *ws, int aug, float *dw, float *db,
                        int64_t r0, int64_t r1)
{
    const int64_t k = pp->k, ka = pp->ka, dbo = pp->g->c_out * ka;
    for (int64_t pi = 0; pi < pp->parts; pi++) {
        const float *part = ws_part(pp, (float *)ws, pi);
        for (int64_t co = r0; co < r1; co++) {
            if (dw != NULL) {
                float *d = dw + co * k;
                const float *s = part + co * ka;
                for (int64_t i = 0; i < k; i++) {
                    d[i] += s[i];
                }
            }
            if (db != NULL) {
                db[co] += aug ? part[co * ka + k] : part[dbo + co];
            }
        }
    }
}

static void bwd_chunked(const plan *pp, const float *x, const float *w, const float *y,
                        const int32_t *argmax, const float *dy, float *dx, float *dw, float *db,
                        float *ws)
{
    const lam_conv_geom *g = pp->g;
    const int64_t chunks = pp->parts, p = pp->p;
    const int want_dw = dw != NULL || db != NULL;
    /* the GEMM computes db only with the ones row; pointwise sums it separately */
    const int aug = db != NULL && !pp->pointwise;
#ifdef _OPENMP
#pragma omp parallel num_threads((int)pp->lanes)
#endif
    {
        float *col = ws_col(pp, ws, thread_id());
        float *scr = ws_scr(pp, ws, thread_id());
        if (aug) {
            fill_ones(col + pp->k * p, p);
        }
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int64_t ch = 0; ch < chunks; ch++) {
            float *part = ws_part(pp, ws, ch);
            const int64_t s0 = ch * LAM_CHUNK;
            const int64_t end = s0 + LAM_CHUNK < g->n ? s0 + LAM_CHUNK : g->n;
            if (db != NULL && !aug) {
                memset(part + g->c_out * pp->ka, 0, (size_t)g->c_out * sizeof(float));
            }
            for (int64_t s = s0; s < end; s++) {
                const float *src = prologue_image(pp, dy + s * pp->ys,
                                                  y != NULL ? y + s * pp->ys : NULL,
                                                  argmax != NULL ? argmax + s * pp->ys : NULL,
                                                  scr, p);
                bwd_image(pp, x != NULL ? x + s * pp->xs : NULL, w, src,
                          dx != NULL ? dx + s * pp->xs : NULL, part, s == s0,
                          want_dw && x != NULL, aug, col);
                if (db != NULL && !aug) {
                    lam__bias_grad(1, g->c_out, p, src, part + g->c_out * pp->ka);
                }
            }
        }
        if (want_dw && x != NULL) {
            /* after the implicit barrier: every partial is written */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int64_t co = 0; co < g->c_out; co++) {
                reduce_rows(pp, ws, aug, dw, db, co, co + 1);
            }
        }
    }
}

static void bwd_batched(const plan *pp, int nt, const float *x, const float *w, const float *y,
                        const int32_t *argmax, const float *dy, float *dx, float *dw, float *db,
                        float *ws)
{
    const lam_conv_geom *g = pp->g;
    const int64_t ld = pp->lane_ld, p = pp->p, k = pp->k, cog = pp->cog;
    const int want_dw = (dw != NULL || db != NULL) && x != NULL;
    const int aug = db != NULL;
    float *col = ws_col(pp, ws, 0), *scr = ws_scr(pp, ws, 0), *part = ws_part(pp, ws, 0);
    if (aug) {
        fill_ones(col + k * ld, ld);
    }
    if (nt < 1) {
        nt = 1;
    }
    for (int64_t s0 = 0; s0 < g->n; s0 += pp->group) {
        const int64_t gn = g->n - s0 < pp->group ? g->n - s0 : pp->group;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
        for (int64_t j = 0; j < gn; j++) {
            const int64_t s = s0 + j;
            (void)prologue_image(pp, dy + s * pp->ys, y != NULL ? y + s * pp->ys : NULL,
                                 argmax != NULL ? argmax + s * pp->ys : NULL, scr + j * p, ld);
            if (dx != NULL) {
                memset(dx + s * pp->xs, 0, (size_t)pp->xs * sizeof(float));
            }
        }
        for (int64_t gr = 0; gr < g->groups; gr++) {
            const float *src = scr + gr * cog * ld;
            if (want_dw) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
                for (int64_t j = 0; j < gn; j++) {
                    lam__im2col_ld(g, x + (s0 + j) * pp->xs, gr * pp->cig, col + j * p, ld);
                }
                /* one GEMM chain over the batch: K = images * P, in batch order */
                (void)lam__sgemm(0, 1, cog, k + aug, gn * p, 1.0f, src, ld, col, ld,
                                 s0 == 0 ? 0.0f : 1.0f, part + gr * cog * pp->ka, pp->ka);
            }
            if (dx != NULL) {
                (void)lam__sgemm(1, 0, k, gn * p, cog, 1.0f, w + gr * cog * k, k, src, ld,
                                 0.0f, col, ld);
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
                for (int64_t j = 0; j < gn; j++) {
                    lam__col2im_ld(g, col + j * p, ld, gr * pp->cig, dx + (s0 + j) * pp->xs);
                }
            }
        }
    }
    if (want_dw) {
        reduce_rows(pp, ws, aug, dw, db, 0, g->c_out);
    }
}

void lam__conv2d_fused_bwd(const lam_conv_geom *g, const lam_conv_fusion *f, const float *x,
                           const float *w, const float *y, const int32_t *argmax,
                           const float *dy, float *dx, float *dw, float *db, float *ws, int nt)
{
    plan pp;
    plan_init(&pp, g, f, nt);
    if (pp.batched) {
        bwd_batched(&pp, nt, x, w, y, argmax, dy, dx, dw, db, ws);
    } else {
        bwd_chunked(&pp, x, w, y, argmax, dy, dx, dw, db, ws);
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
