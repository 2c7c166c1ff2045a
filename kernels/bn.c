/*
 * Batch normalisation (Ioffe & Szegedy 2015), as torch.nn.BatchNorm1d/2d. x(n, c, hw)
 * contiguous, statistics per channel over its M = n*hw values:
 *
 *   mean = sum x / M,  var = sum (x - mean)^2 / M,  invstd = 1 / sqrt(var + eps)
 *   y = gamma * (x - mean) * invstd + beta              (training forward)
 *   y = scale * x + shift                               (inference, folded by the caller)
 *   backward, xhat = (x - mean) * invstd:
 *     dgamma += sum dy*xhat,  dbeta += sum dy,
 *     dx = gamma * invstd / M * (M*dy - sum dy - xhat * sum dy*xhat)
 *        = a * ((dy - md) - b*(x - mean))   with a = gamma*invstd, md = sum dy / M,
 *                                               b = invstd * sum dy*xhat / M
 *
 * Work decomposition (a function of (n, c, hw) only, never of the thread count): each
 * channel's values are cut into nb blocks: whole rows (`rows` samples of one channel) when a
 * row is short, pieces of one row when a row is long, at least BN_TILE values each and at
 * most about BN_MAX_BLOCKS per channel. Feature vectors (hw == 1) are blocks of samples times
 * groups of BN_GROUP channels, vectorised across channels. A pass is two phases of
 * lam__run_phases over the same items (static schedule: a thread meets its own blocks
 * again in the second phase):
 *   1. every block writes its partial statistics (double) to the workspace;
 *   2. every block combines its channel's partials in block order (each block repeats the
 *      same few flops, which spares a third phase and its barrier) and writes y or dx.
 * The per-channel outputs (mean/invstd/var, dgamma/dbeta) are combined once more, in the
 * same order, after the region. So every sum is taken in one fixed order: results are
 * bitwise the same for any nt.
 *
 * Synchronised batch norm (a batch spread over processes) cuts a pass between its phases:
 * lam__bn_stats / lam__bn_bwd_sums run phase 1 and the combine of one chunk, the caller
 * combines the chunks and gets the coefficients from lam__bn_fwd_coefs / lam__bn_bwd_coefs
 * (the fused passes' formulas), and lam__bn_norm / lam__bn_bwd_dx run phase 2 with the
 * coefficients given instead of combined. One chunk gives the fused passes' bits.
 *
 * Accuracy: a block is at most BN_TILE values (while M <= BN_TILE*BN_MAX_BLOCKS), so its
 * statistics are two-pass from L1: pass A gives the block mean mb, pass B sums d = x - mb
 * and d^2. Inner loops sum in float over 16 lanes (4 SSE2 registers; double would halve the
 * lanes and convert every value), flushed into double every 32 blocks of up to 16 values
 * (kernels/bn_span.c; the runs cross the rows of a block), so a float lane never holds more
 * than 32 terms (rounding <= 32 ulp, typically ~4); everything beyond is double. Blocks are
 * merged as (count, mean, M2) with the exact parallel formula
 * M2 = sum M2_b + n_b (mean_b - mean)^2, so a large mean (x ~ 100 + N(0, 1)) costs nothing:
 * no E[x^2] - E[x]^2 anywhere. Normalisation subtracts the float mean before scaling
 * (x - mean is exact for x within a factor 2 of it), with the rounding of the mean to float
 * folded into the shift.
 *
 * Memory: training forward reads x twice from memory (stats, then normalise), backward
 * reads x and dy twice; the second read inside a stats block comes from L1.
 */
#include <assert.h>
#include <math.h>
#include <stdint.h>

#include "bn_span.h"

#define BN_TILE 4096        /* least values per block (16 KiB: a block stays in L1) */
#define BN_MAX_BLOCKS 64    /* blocks per channel, about: bounds the repeated combine */
#define BN_GROUP 256        /* hw == 1: channels per item (1 KiB of each sample row) */
#define BN_VEC_BLOCKS 8     /* hw == 1: at most this many sample blocks */

typedef struct bn_geom {
    int64_t n, c, hw;
    double m;        /* n * hw */
    int64_t nb;      /* blocks per channel */
    int64_t rows;    /* samples per block (row blocks and hw == 1) */
    int64_t pieces;  /* pieces per row: 1 for row blocks */
    int64_t plen;    /* values per piece (hw for row blocks) */
    int64_t cg, ng;  /* hw == 1: channels per group, groups; else 1 and c */
    int64_t items;   /* nb * ng */
} bn_geom;

static int64_t cdiv(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static bn_geom geom(int64_t n, int64_t c, int64_t hw)
{
    bn_geom g = {.n = n, .c = c, .hw = hw, .m = (double)(n * hw), .pieces = 1, .plen = hw,
                 .cg = 1, .ng = c};
    if (hw == 1) {
        g.cg = c < BN_GROUP ? c : BN_GROUP;
        g.ng = cdiv(c, g.cg);
        const int64_t want = cdiv(BN_TILE, g.cg), least = cdiv(n, BN_VEC_BLOCKS);
        g.rows = want > least ? want : least;
    } else {
        int64_t t = cdiv(n * hw, BN_MAX_BLOCKS);
        t = t > BN_TILE ? t : BN_TILE;
        if (hw <= t) {
            g.rows = t / hw;
        } else {
            /* pieces of a 16-float (cache-line) multiple, none empty */
            g.rows = 1;
            g.plen = (cdiv(hw, cdiv(hw, t)) + 15) / 16 * 16;
            g.pieces = cdiv(hw, g.plen);
        }
    }
    g.rows = g.rows < n ? g.rows : n;
    g.nb = g.pieces > 1 ? n * g.pieces : cdiv(n, g.rows);
    g.items = g.nb * g.ng;
    return g;
}

/* Block b of a channel: samples [r0, r1), values [off, off + len) of each row. */
typedef struct bn_block {
    int64_t r0, r1, off, len;
} bn_block;

static bn_block block_of(const bn_geom *g, int64_t b)
{
    bn_block k;
    if (g->pieces > 1) {
        k.r0 = b / g->pieces;
        k.r1 = k.r0 + 1;
        k.off = b % g->pieces * g->plen;
        k.len = g->hw - k.off < g->plen ? g->hw - k.off : g->plen;
    } else {
        k.r0 = b * g->rows;
        k.r1 = k.r0 + g->rows < g->n ? k.r0 + g->rows : g->n;
        k.off = 0;
        k.len = g->hw;
    }
    return k;
}

static double block_count(const bn_geom *g, int64_t b)
{
    const bn_block k = block_of(g, b);
    return (double)((k.r1 - k.r0) * k.len);
}

/* ------------------------------------------------------------ the passes */
typedef struct bn_pass {
    bn_geom g;
    const lam_bn_spans *sp;  /* the span loops of this CPU */
    const float *ymask;      /* a ReLU folded after the normalisation: its output, or NULL */
    int relu;
    const float *x, *dy, *gamma, *beta, *mean_in, *invstd_in;
    /* coefficients given per channel (lam__bn_norm, lam__bn_fwd_affine, lam__bn_bwd_dx): ka
     * (a), ks (s) or kmd (md), kb (b); ka NULL: the second phase combines the partials */
    const float *ka, *ks, *kmd, *kb;
    float *y, *dx;
    double eps;
    double *part; /* (nb, 2, c): per block and channel, two partial statistics */
} bn_pass;

static double *part_at(const bn_pass *ps, int64_t b, int j)
{
    return ps->part + (b * 2 + j) * ps->g.c;
}

static double param_or(const float *p, int64_t ch, double none)
{
    return p != NULL ? (double)p[ch] : none;
}

/* Channel ch's statistics from its blocks' (mean_b, M2_b), in block order. */
static void fwd_combine(const bn_pass *ps, int64_t ch, double *mean, double *m2)
{
    const bn_geom *g = &ps->g;
    double s = 0.0;
    for (int64_t b = 0; b < g->nb; b++) {
        s += block_count(g, b) * part_at(ps, b, 0)[ch];
    }
    const double mu = s / g->m;
    double q = 0.0;
    for (int64_t b = 0; b < g->nb; b++) {
        const double d = part_at(ps, b, 0)[ch] - mu;
        q += part_at(ps, b, 1)[ch] + block_count(g, b) * d * d;
    }
    *mean = mu;
    *m2 = q;
}

/* The formulas of the forward's per-channel results, from a channel's mean mu and M2 m2 over
 * m values (shared by lam__bn_fwd_train's two phases and lam__bn_fwd_coefs). */
static double istd_of(double m2, double m, double eps)
{
    return 1.0 / sqrt(m2 / m + eps);
}

/* mean, invstd = 1/sqrt(var + eps) and the unbiased variance (var when m == 1) */
static void fwd_out_of(double mu, double m2, double m, double eps, float *mean, float *invstd,
                       float *var_unbiased)
{
    *mean = (float)mu;
    *invstd = (float)istd_of(m2, m, eps);
    *var_unbiased = (float)(m > 1.0 ? m2 / (m - 1.0) : m2 / m);
}

/* the normalisation y = (x - mf) * a + s, gm and bt the channel's gamma and beta */
static void fwd_coef_of(double mu, double m2, double m, double eps, double gm, double bt,
                        float *mf, float *a, float *s)
{
    const double ad = gm * istd_of(m2, m, eps);
    *mf = (float)mu;
    *a = (float)ad;
    *s = (float)(bt + ((double)*mf - mu) * ad); /* the mean's rounding, folded in */
}

/* The normalisation of channel ch: given (mean_in NULL: mf = 0), or from the partials. */
static void norm_coef(const bn_pass *ps, int64_t ch, float *mf, float *a, float *s)
{
    if (ps->ka != NULL) {
        *mf = ps->mean_in != NULL ? ps->mean_in[ch] : 0.0f;
        *a = ps->ka[ch];
        *s = ps->ks[ch];
        return;
    }
    double mu, m2;
    fwd_combine(ps, ch, &mu, &m2);
    fwd_coef_of(mu, m2, ps->g.m, ps->eps, param_or(ps->gamma, ch, 1.0),
                param_or(ps->beta, ch, 0.0), mf, a, s);
}

static void bwd_combine(const bn_pass *ps, int64_t ch, double *sdy, double *sdyd)
{
    double s = 0.0, t = 0.0;
    for (int64_t b = 0; b < ps->g.nb; b++) {
        s += part_at(ps, b, 0)[ch];
        t += part_at(ps, b, 1)[ch];
    }
    *sdy = s;
    *sdyd = t;
}

/* The backward's formulas for a channel with sums sdy = sum g and sdyd = sum g*(x - mean)
 * (x - mean the float difference; no invstd) over m values (g: dy, masked by a folded ReLU).
 * dx = a * ((g - md) - b*(x - mean)): a = gamma*invstd, md = mean g, b = invstd * mean(g*xhat).
 * g - md is exact when they are close, so a dx that is small against a*g (few values per
 * channel) keeps its digits better than a*g - a*md would. */
static void bwd_coef_of(double sdy, double sdyd, double m, double gm, double istd, float *a,
                        float *md, float *b)
{
    *a = (float)(gm * istd);
    *md = (float)(sdy / m);
    *b = (float)(istd * (sdyd * istd) / m);
}

/* dgamma += sum g*xhat = invstd * sdyd, dbeta += sum g (each may be NULL) */
static void bwd_param_of(double sdy, double sdyd, float invstd, float *dgamma, float *dbeta)
{
    if (dgamma != NULL) {
        *dgamma = (float)((double)*dgamma + sdyd * (double)invstd);
    }
    if (dbeta != NULL) {
        *dbeta = (float)((double)*dbeta + sdy);
    }
}

/* The backward coefficients of channel ch: given, or from the partials. */
static void dx_coef(const bn_pass *ps, int64_t ch, float *a, float *md, float *b)
{
    if (ps->ka != NULL) {
        *a = ps->ka[ch];
        *md = ps->kmd[ch];
        *b = ps->kb[ch];
        return;
    }
    double sdy, sdyd;
    bwd_combine(ps, ch, &sdy, &sdyd);
    bwd_coef_of(sdy, sdyd, ps->g.m, param_or(ps->gamma, ch, 1.0), ps->invstd_in[ch], a, md, b);
}

/* Offset of the first value of block k in row r of channel ch; rows are c*hw apart. */
static inline int64_t base_of(const bn_geom *g, const bn_block *k, int64_t r, int64_t ch)
{
    return (r * g->c + ch) * g->hw + k->off;
}

/* --- rows and pieces (hw > 1): item = b * c + ch */

static void fwd_stats_item(const void *arg, int64_t item, int lane)
{
    const bn_pass *ps = arg;
    (void)lane;
    const int64_t b = item / ps->g.c, ch = item % ps->g.c;
    const bn_block k = block_of(&ps->g, b);
    const int64_t base = base_of(&ps->g, &k, k.r0, ch), rows = k.r1 - k.r0;
    const int64_t stride = ps->g.c * ps->g.hw;
    const double s = ps->sp->sum(ps->x + base, rows, stride, k.len);
    const double cnt = (double)(rows * k.len);
    const float mb = (float)(s / cnt);
    double s1 = 0.0, s2 = 0.0;
    ps->sp->dev(ps->x + base, rows, stride, k.len, mb, &s1, &s2);
    const double m2 = s2 - s1 * (s1 / cnt);
    part_at(ps, b, 0)[ch] = (double)mb + s1 / cnt;
    part_at(ps, b, 1)[ch] = m2 < 0.0 ? 0.0 : m2; /* rounding; a NaN stays */
}

static void norm_item(const void *arg, int64_t item, int lane)
{
    const bn_pass *ps = arg;
    (void)lane;
    const int64_t b = item / ps->g.c, ch = item % ps->g.c;
    const bn_block k = block_of(&ps->g, b);
    float mf, a, s;
    norm_coef(ps, ch, &mf, &a, &s);
    for (int64_t r = k.r0; r < k.r1; r++) {
        const int64_t base = base_of(&ps->g, &k, r, ch);
        ps->sp->norm(ps->x + base, ps->y + base, k.len, mf, a, s, ps->relu);
    }
}

static void bwd_sums_item(const void *arg, int64_t item, int lane)
{
    const bn_pass *ps = arg;
    (void)lane;
    const int64_t b = item / ps->g.c, ch = item % ps->g.c;
    const bn_block k = block_of(&ps->g, b);
    double sg = 0.0, sd = 0.0;
    const int64_t base = base_of(&ps->g, &k, k.r0, ch);
    ps->sp->bwd_sums(ps->x + base, ps->dy + base, ps->ymask != NULL ? ps->ymask + base : NULL,
                     k.r1 - k.r0, ps->g.c * ps->g.hw, k.len, ps->mean_in[ch], &sg, &sd);
    part_at(ps, b, 0)[ch] = sg;
    part_at(ps, b, 1)[ch] = sd;
}

static void bwd_dx_item(const void *arg, int64_t item, int lane)
{
    const bn_pass *ps = arg;
    (void)lane;
    const int64_t b = item / ps->g.c, ch = item % ps->g.c;
    const bn_block k = block_of(&ps->g, b);
    float a, md, bb;
    dx_coef(ps, ch, &a, &md, &bb);
    for (int64_t r = k.r0; r < k.r1; r++) {
        const int64_t base = base_of(&ps->g, &k, r, ch);
        ps->sp->dx(ps->x + base, ps->dy + base, ps->ymask != NULL ? ps->ymask + base : NULL,
                   ps->dx + base, k.len, ps->mean_in[ch], a, md, bb);
    }
}

/* --- feature vectors (hw == 1): item = b * ng + group, loops across channels */

typedef struct vec_block {
    int64_t s0, s1, c0, c1;
} vec_block;

static vec_block vec_of(const bn_geom *g, int64_t item)
{
    const int64_t b = item / g->ng, gi = item % g->ng;
    vec_block v = {b * g->rows, (b + 1) * g->rows, gi * g->cg, (gi + 1) * g->cg};
    v.s1 = v.s1 < g->n ? v.s1 : g->n;
    v.c1 = v.c1 < g->c ? v.c1 : g->c;
    return v;
}

static void vec_fwd_stats_item(const void *arg, int64_t item, int lane)
{
    const bn_pass *ps = arg;
    (void)lane;
    const int64_t c = ps->g.c, b = item / ps->g.ng;
    const vec_block v = vec_of(&ps->g, item);
    double *mu = part_at(ps, b, 0), *q = part_at(ps, b, 1);
    for (int64_t j = v.c0; j < v.c1; j++) {
        mu[j] = 0.0;
        q[j] = 0.0;
    }
    /* a few hundred samples: double accumulators, two passes from cache */
    for (int64_t i = v.s0; i < v.s1; i++) {
        const float *xr = ps->x + i * c;
        for (int64_t j = v.c0; j < v.c1; j++) {
            mu[j] += xr[j];
        }
    }
    const double cnt = (double)(v.s1 - v.s0);
    for (int64_t j = v.c0; j < v.c1; j++) {
        mu[j] /= cnt;
    }
    for (int64_t i = v.s0; i < v.s1; i++) {
        const float *xr = ps->x + i * c;
        for (int64_t j = v.c0; j < v.c1; j++) {
            const double d = (double)xr[j] - mu[j];
            q[j] += d * d;
        }
    }
}

static void vec_norm_item(const void *arg, int64_t item, int lane)
{
    const bn_pass *ps = arg;
    (void)lane;
    const int64_t c = ps->g.c;
    const vec_block v = vec_of(&ps->g, item);
    float mf[BN_GROUP], a[BN_GROUP], s[BN_GROUP];
    const int64_t w = v.c1 - v.c0;
    for (int64_t j = 0; j < w; j++) {
        norm_coef(ps, v.c0 + j, &mf[j], &a[j], &s[j]);
    }
    for (int64_t i = v.s0; i < v.s1; i++) {
        const float *xr = ps->x + i * c + v.c0;
        float *yr = ps->y + i * c + v.c0;
        for (int64_t j = 0; j < w; j++) {
            const float t = (xr[j] - mf[j]) * a[j] + s[j];
            yr[j] = ps->relu && t < 0.0f ? 0.0f : t;
        }
    }
}

static void vec_bwd_sums_item(const void *arg, int64_t item, int lane)
{
    const bn_pass *ps = arg;
    (void)lane;
    const int64_t c = ps->g.c, b = item / ps->g.ng;
    const vec_block v = vec_of(&ps->g, item);
    double *sg = part_at(ps, b, 0), *sd = part_at(ps, b, 1);
    for (int64_t j = v.c0; j < v.c1; j++) {
        sg[j] = 0.0;
        sd[j] = 0.0;
    }
    for (int64_t i = v.s0; i < v.s1; i++) {
        const float *xr = ps->x + i * c, *gr = ps->dy + i * c;
        const float *mr = ps->ymask != NULL ? ps->ymask + i * c : NULL;
        for (int64_t j = v.c0; j < v.c1; j++) {
            const float g = mr == NULL || mr[j] > 0.0f ? gr[j] : 0.0f;
            sg[j] += g;
            sd[j] += (double)g * (xr[j] - ps->mean_in[j]);
        }
    }
}

static void vec_bwd_dx_item(const void *arg, int64_t item, int lane)
{
    const bn_pass *ps = arg;
    (void)lane;
    const int64_t c = ps->g.c;
    const vec_block v = vec_of(&ps->g, item);
    float a[BN_GROUP], md[BN_GROUP], b[BN_GROUP];
    const int64_t w = v.c1 - v.c0;
    for (int64_t j = 0; j < w; j++) {
        dx_coef(ps, v.c0 + j, &a[j], &md[j], &b[j]);
    }
    const float *mf = ps->mean_in + v.c0;
    for (int64_t i = v.s0; i < v.s1; i++) {
        const float *xr = ps->x + i * c + v.c0, *gr = ps->dy + i * c + v.c0;
        const float *mr = ps->ymask != NULL ? ps->ymask + i * c + v.c0 : NULL;
        float *dr = ps->dx + i * c + v.c0;
        for (int64_t j = 0; j < w; j++) {
            const float g = mr == NULL || mr[j] > 0.0f ? gr[j] : 0.0f;
            dr[j] = a[j] * ((g - md[j]) - b[j] * (xr[j] - mf[j]));
        }
    }
}

/* ------------------------------------------------------------ entry points */

int64_t lam__bn_workspace(int64_t n, int64_t c, int64_t hw, int nt)
{
    (void)nt;
    if (n <= 0 || c <= 0 || hw <= 0) {
        return 0;
    }
    const bn_geom g = geom(n, c, hw);
    return 4 * g.nb * c; /* (nb, 2, c) doubles */
}

static double *ws_doubles(float *ws)
{
    assert(ws != NULL && (uintptr_t)ws % sizeof(double) == 0);
    return (double *)(void *)ws;
}

/* A pass over x (n, c, hw) with the span loops of this CPU. */
static bn_pass pass_of(int64_t n, int64_t c, int64_t hw, const float *x)
{
    const bn_pass ps = {.g = geom(n, c, hw), .sp = lam__bn_spans(lam__best_isa()), .x = x};
    return ps;
}

/* The phases of a pass, over the same items (hw == 1: the feature-vector ones). */
enum { PH_STATS, PH_SUMS, PH_NORM, PH_DX };

static lam_phase phase_of(const bn_pass *ps, int which)
{
    static const lam_item_fn fn[2][4] = {
        {fwd_stats_item, bwd_sums_item, norm_item, bwd_dx_item},
        {vec_fwd_stats_item, vec_bwd_sums_item, vec_norm_item, vec_bwd_dx_item}};
    const int64_t items = which == PH_DX && ps->dx == NULL ? 0 : ps->g.items;
    const lam_phase ph = {fn[ps->g.hw == 1][which], items, 0};
    return ph;
}

void lam__bn_fwd_train(int64_t n, int64_t c, int64_t hw, const float *x, const float *gamma,
                       const float *beta, float eps, float *mean, float *invstd,
                       float *var_unbiased, float *y, int relu, float *ws, int nt)
{
    if (c <= 0) {
        return;
    }
    assert(n > 0 && hw > 0 && eps >= 0.0f);
    bn_pass ps = pass_of(n, c, hw, x);
    ps.gamma = gamma;
    ps.beta = beta;
    ps.y = y;
    ps.relu = relu;
    ps.eps = eps;
    ps.part = ws_doubles(ws);
    const lam_phase ph[2] = {phase_of(&ps, PH_STATS), phase_of(&ps, PH_NORM)};
    lam__run_phases(nt, &ps, ph, 2);
    for (int64_t ch = 0; ch < c; ch++) {
        double mu, m2;
        fwd_combine(&ps, ch, &mu, &m2);
        fwd_out_of(mu, m2, ps.g.m, ps.eps, &mean[ch], &invstd[ch], &var_unbiased[ch]);
    }
}

void lam__bn_fwd_affine(int64_t n, int64_t c, int64_t hw, const float *x, const float *scale,
                        const float *shift, float *y, int relu, int nt)
{
    lam__bn_norm(n, c, hw, x, NULL, scale, shift, y, relu, nt);
}

void lam__bn_bwd(int64_t n, int64_t c, int64_t hw, const float *x, const float *dy,
                 const float *ymask, const float *gamma, const float *mean, const float *invstd,
                 float *dgamma, float *dbeta, float *dx, float *ws, int nt)
{
    if (n <= 0 || c <= 0 || hw <= 0) {
        return;
    }
    bn_pass ps = pass_of(n, c, hw, x);
    ps.ymask = ymask;
    ps.dy = dy;
    ps.gamma = gamma;
    ps.mean_in = mean;
    ps.invstd_in = invstd;
    ps.dx = dx;
    ps.part = ws_doubles(ws);
    const lam_phase ph[2] = {phase_of(&ps, PH_SUMS), phase_of(&ps, PH_DX)};
    lam__run_phases(nt, &ps, ph, 2);
    for (int64_t ch = 0; ch < c; ch++) {
        double sdy, sdyd;
        bwd_combine(&ps, ch, &sdy, &sdyd);
        bwd_param_of(sdy, sdyd, invstd[ch], dgamma != NULL ? &dgamma[ch] : NULL,
                     dbeta != NULL ? &dbeta[ch] : NULL);
    }
}

/* --------------------------------------------- chunk-level pieces (synchronised batch norm) */

void lam__bn_stats(int64_t n, int64_t c, int64_t hw, const float *x, double *stats, float *ws,
                   int nt)
{
    if (c <= 0) {
        return;
    }
    assert(n >= 0 && hw >= 0);
    if (n == 0 || hw == 0) {
        for (int64_t j = 0; j < 2 * c; j++) {
            stats[j] = 0.0; /* no values: the identity of the combine */
        }
        return;
    }
    bn_pass ps = pass_of(n, c, hw, x);
    ps.part = ws_doubles(ws);
    const lam_phase ph = phase_of(&ps, PH_STATS);
    lam__run_phases(nt, &ps, &ph, 1);
    for (int64_t ch = 0; ch < c; ch++) {
        fwd_combine(&ps, ch, &stats[2 * ch], &stats[2 * ch + 1]);
    }
}

void lam__bn_norm(int64_t n, int64_t c, int64_t hw, const float *x, const float *mf,
                  const float *a, const float *s, float *y, int relu, int nt)
{
    if (n <= 0 || c <= 0 || hw <= 0) {
        return;
    }
    assert(a != NULL && s != NULL); /* ka NULL would mean: combine the partials */
    bn_pass ps = pass_of(n, c, hw, x);
    ps.mean_in = mf;
    ps.ka = a;
    ps.ks = s;
    ps.y = y;
    ps.relu = relu;
    const lam_phase ph = phase_of(&ps, PH_NORM);
    lam__run_phases(nt, &ps, &ph, 1);
}

void lam__bn_bwd_sums(int64_t n, int64_t c, int64_t hw, const float *x, const float *dy,
                      const float *ymask, const float *mean, double *sums, float *ws, int nt)
{
    if (c <= 0) {
        return;
    }
    assert(n >= 0 && hw >= 0);
    if (n == 0 || hw == 0) {
        for (int64_t j = 0; j < 2 * c; j++) {
            sums[j] = 0.0;
        }
        return;
    }
    bn_pass ps = pass_of(n, c, hw, x);
    ps.ymask = ymask;
    ps.dy = dy;
    ps.mean_in = mean;
    ps.part = ws_doubles(ws);
    const lam_phase ph = phase_of(&ps, PH_SUMS);
    lam__run_phases(nt, &ps, &ph, 1);
    for (int64_t ch = 0; ch < c; ch++) {
        bwd_combine(&ps, ch, &sums[2 * ch], &sums[2 * ch + 1]);
    }
}

void lam__bn_bwd_dx(int64_t n, int64_t c, int64_t hw, const float *x, const float *dy,
                    const float *ymask, const float *mean, const float *a, const float *md,
                    const float *b, float *dx, int nt)
{
    if (n <= 0 || c <= 0 || hw <= 0) {
        return;
    }
    assert(mean != NULL && a != NULL && md != NULL && b != NULL);
    bn_pass ps = pass_of(n, c, hw, x);
    ps.ymask = ymask;
    ps.dy = dy;
    ps.mean_in = mean;
    ps.ka = a;
    ps.kmd = md;
    ps.kb = b;
    ps.dx = dx;
    const lam_phase ph = phase_of(&ps, PH_DX);
    lam__run_phases(nt, &ps, &ph, 1);
}

void lam__bn_fwd_coefs(int64_t c, const double *stats, double m, const float *gamma,
                       const float *beta, float eps, float *mean, float *invstd,
                       float *var_unbiased, float *a, float *s)
{
    for (int64_t ch = 0; ch < c; ch++) {
        const double mu = stats[2 * ch], m2 = stats[2 * ch + 1];
        float mf, t1, t2;
        fwd_out_of(mu, m2, m, eps, mean != NULL ? &mean[ch] : &mf,
                   invstd != NULL ? &invstd[ch] : &t1,
                   var_unbiased != NULL ? &var_unbiased[ch] : &t2);
        fwd_coef_of(mu, m2, m, eps, param_or(gamma, ch, 1.0), param_or(beta, ch, 0.0), &mf,
                    a != NULL ? &a[ch] : &t1, s != NULL ? &s[ch] : &t2);
    }
}

void lam__bn_bwd_coefs(int64_t c, const double *sums, double m, const float *gamma,
                       const float *invstd, float *a, float *md, float *b, float *dgamma,
                       float *dbeta)
{
    for (int64_t ch = 0; ch < c; ch++) {
        const double sdy = sums[2 * ch], sdyd = sums[2 * ch + 1];
        float t[3];
        bwd_coef_of(sdy, sdyd, m, param_or(gamma, ch, 1.0), invstd[ch],
                    a != NULL ? &a[ch] : &t[0], md != NULL ? &md[ch] : &t[1],
                    b != NULL ? &b[ch] : &t[2]);
        bwd_param_of(sdy, sdyd, invstd[ch], dgamma != NULL ? &dgamma[ch] : NULL,
                     dbeta != NULL ? &dbeta[ch] : NULL);
    }
}
