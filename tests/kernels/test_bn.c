/*
 * Batch norm: fast kernels (kernels/bn.c) against their double-precision twins
 * (kernels/ref/bn_ref.c) over a table of shapes: feature vectors (hw = 1, with channel groups
 * and sample blocks), row blocks with ragged last blocks, rows cut into pieces, the ResNet-20
 * shapes and data with a large mean (x ~ 100 + N(0, 1)). Outputs and gradients within
 * rtol 1e-5 (atol 1e-6 of the array's largest value); bitwise the same on 1, 2, 3 and 8
 * threads; in place (y == x, dx == dy) bitwise the same as out of place; dgamma/dbeta
 * accumulate; dx == NULL gives the same parameter gradients. Independent of the twin: the
 * normalised output has mean beta per channel, dx is orthogonal to 1 and xhat, and a central
 * difference check on a small case. A folded ReLU (relu on the forward, the ReLU's mask on
 * the backward) against the twins and against the unfolded ReLU; and the AVX-512 span loops
 * give the same bits as the portable ones.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn_span.h"
#include "harness.h"
#include "kernels.h"

#define SEED 41177u

typedef struct bn_case {
    int64_t n, c, hw;
    float offset; /* added to every x: a large mean */
} bn_case;

static const bn_case cases[] = {
    {1, 1, 1, 0.0f},     {1, 3, 1, 0.0f},     {2, 1, 1, 0.0f},      {7, 3, 1, 0.0f},
    {64, 100, 1, 0.0f},  {1000, 300, 1, 0.0f}, {333, 2, 1, 100.0f}, {64, 10, 1, 100.0f},
    {3, 5, 7, 0.0f},     {1, 1, 2, 0.0f},     {5, 3, 33, 0.0f},     {37, 3, 200, 0.0f},
    {65, 2, 129, 0.0f},  {1, 2, 5000, 0.0f},  {3, 1, 70001, 0.0f},  {2, 3, 9001, 100.0f},
    {37, 3, 200, 100.0f}, {64, 16, 1024, 0.0f}, {64, 32, 256, 0.0f}, {64, 64, 64, 0.0f},
    {64, 16, 1024, 100.0f}, {64, 64, 64, 100.0f}, {256, 1, 1024, 0.0f},
};

static int verbose;

/* x[i][j][p] = offset + 0.1 j + s_j z, z ~ N(0, 1) (Box-Muller), s_j in {0.5, 1, 1.5, 2} */
static void fill_x(float *x, const bn_case *k, uint64_t stream)
{
    const int64_t total = k->n * k->c * k->hw;
    for (int64_t t = 0; t < total; t++) {
        const int64_t j = t / k->hw % k->c;
        const double u1 = 1.0 - (double)lam_rng_uniform(SEED, stream, (uint64_t)t);
        const double u2 = (double)lam_rng_uniform(SEED, stream + 1, (uint64_t)t);
        const double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        x[t] = (float)((double)k->offset + 0.1 * (double)j + (0.5 + 0.5 * (double)(j % 4)) * z);
    }
}

static double max_abs(const float *x, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        m = fmax(m, fabs((double)x[i]));
    }
    return m;
}

/* |got - want| <= 1e-6 scale + 1e-5 |want| (scale <= 0: the largest |want|); -v prints the
 * largest relative error where |want| > scale/100, and the share of the tolerance used. */
static void close_scaled(const char *what, const char *label, const float *got,
                         const float *want, int64_t n, double scale)
{
    char buf[200];
    snprintf(buf, sizeof buf, "%s %s", what, label);
    scale = scale > 0.0 ? scale : max_abs(want, n);
    if (verbose) {
        double rel = 0.0, used = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const double e = fabs((double)got[i] - want[i]);
            if (fabs(want[i]) > 0.01 * scale) {
                rel = fmax(rel, e / fabs(want[i]));
            }
            used = fmax(used, e / (1e-6 * scale + 1e-5 * fabs(want[i]) + 1e-300));
        }
        printf("  %-52.52s rel err %.1e  tolerance used %5.1f%%\n", buf, rel, 100.0 * used);
    }
    t_close(buf, got, want, n, 1e-6 * scale, 1e-5);
}

static void close_to(const char *what, const char *label, const float *got, const float *want,
                     int64_t n)
{
    close_scaled(what, label, got, want, n, 0.0);
}

static void equal_to(const char *what, const char *label, const float *got, const float *want,
                     int64_t n)
{
    char buf[200];
    snprintf(buf, sizeof buf, "%s %s", what, label);
    t_equal(buf, got, want, n);
}

typedef struct bufs {
    float *x, *y, *y1, *yr, *tmp, *gamma, *beta, *dy, *dx, *dx1, *dxr;
    float *mean, *invstd, *var, *meanr, *invstdr, *varr, *m1, *i1, *v1;
    float *dg, *db, *dgr, *dbr, *dg1, *db1, *dg0, *db0, *ws;
    float *ka, *ks, *kmd, *kb; /* per-channel coefficients of the chunk pieces */
    double *st, *str;          /* (2c) stats or sums, fast and twin */
} bufs;

/* Zeroed doubles (calloc'd floats: aligned for any type). */
static double *alloc_doubles(int64_t n)
{
    return (double *)(void *)t_alloc_floats(2 * n);
}

static void check_forward(const bn_case *k, const bufs *b, int affine, const char *label)
{
    const int64_t n = k->n, c = k->c, hw = k->hw, total = n * c * hw;
    const float *g = affine ? b->gamma : NULL, *be = affine ? b->beta : NULL;
    const float eps = 1e-5f;
    lam__bn_fwd_train_ref(n, c, hw, b->x, g, be, eps, b->meanr, b->invstdr, b->varr, b->yr, 0,
                          NULL, 1);
    lam__bn_fwd_train(n, c, hw, b->x, g, be, eps, b->m1, b->i1, b->v1, b->y1, 0, b->ws, 1);
    close_to("fwd y", label, b->y1, b->yr, total);
    close_to("fwd mean", label, b->m1, b->meanr, c);
    close_to("fwd invstd", label, b->i1, b->invstdr, c);
    close_to("fwd var_unbiased", label, b->v1, b->varr, c);
    const int threads[] = {2, 3, 8};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        char what[64];
        memset(b->y, 0xff, (size_t)total * sizeof(float));
        lam__bn_fwd_train(n, c, hw, b->x, g, be, eps, b->mean, b->invstd, b->var, b->y, 0,
                          b->ws, threads[t]);
        snprintf(what, sizeof what, "fwd nt=%d vs 1: y", threads[t]);
        equal_to(what, label, b->y, b->y1, total);
        snprintf(what, sizeof what, "fwd nt=%d vs 1: mean", threads[t]);
        equal_to(what, label, b->mean, b->m1, c);
        snprintf(what, sizeof what, "fwd nt=%d vs 1: invstd", threads[t]);
        equal_to(what, label, b->invstd, b->i1, c);
        snprintf(what, sizeof what, "fwd nt=%d vs 1: var_unbiased", threads[t]);
        equal_to(what, label, b->var, b->v1, c);
    }
    /* in place, on 2 threads */
    memcpy(b->tmp, b->x, (size_t)total * sizeof(float));
    lam__bn_fwd_train(n, c, hw, b->tmp, g, be, eps, b->mean, b->invstd, b->var, b->tmp, 0, b->ws,
                      2);
    equal_to("fwd in place y == x", label, b->tmp, b->y1, total);
    equal_to("fwd in place mean", label, b->mean, b->m1, c);

    /* the normalised output has mean beta in every channel (independent of the twin) */
    const double m = (double)(n * hw);
    int ok = 1;
    for (int64_t j = 0; j < c; j++) {
        double s = 0.0, sa = 0.0;
        for (int64_t i = 0; i < n; i++) {
            for (int64_t p = 0; p < hw; p++) {
                const double v = b->y1[(i * c + j) * hw + p] - (be != NULL ? be[j] : 0.0);
                s += v;
                sa += fabs(v);
            }
        }
        ok &= fabs(s) <= 1e-5 * sa + 1e-6 * m;
    }
    T_CHECK(ok, "fwd: per-channel mean of y is not beta %s", label);
}

static void check_backward(const bn_case *k, const bufs *b, int affine, const char *label)
{
    const int64_t n = k->n, c = k->c, hw = k->hw, total = n * c * hw;
    const float *g = affine ? b->gamma : NULL;
    /* saved statistics of the forward (fast; both twins read the same floats) */
    lam__bn_fwd_train(n, c, hw, b->x, g, affine ? b->beta : NULL, 1e-5f, b->mean, b->invstd,
                      b->var, b->y, 0, b->ws, 1);
    memcpy(b->dgr, b->dg0, (size_t)c * sizeof(float));
    memcpy(b->dbr, b->db0, (size_t)c * sizeof(float));
    memcpy(b->dg1, b->dg0, (size_t)c * sizeof(float));
    memcpy(b->db1, b->db0, (size_t)c * sizeof(float));
    lam__bn_bwd_ref(n, c, hw, b->x, b->dy, NULL, g, b->mean, b->invstd, b->dgr, b->dbr, b->dxr,
                    NULL, 1);
    lam__bn_bwd(n, c, hw, b->x, b->dy, NULL, g, b->mean, b->invstd, b->dg1, b->db1, b->dx1, b->ws,
                1);
    /* dx = gamma*invstd * (dy - mean dy - xhat mean(dy xhat)) cancels to ~0 when a channel
     * has few values (exactly 0 for M = 1, ~eps/var for M = 2): judge its error on the scale
     * of the terms, gamma*invstd*|dy|, which is max |dx| on realistic data */
    double ga = 0.0;
    for (int64_t j = 0; j < c; j++) {
        ga = fmax(ga, fabs((g != NULL ? g[j] : 1.0) * b->invstd[j]));
    }
    close_scaled("bwd dx", label, b->dx1, b->dxr, total, ga * max_abs(b->dy, total));
    close_to("bwd dgamma", label, b->dg1, b->dgr, c);
    close_to("bwd dbeta", label, b->db1, b->dbr, c);
    const int threads[] = {2, 3, 8};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        char what[64];
        memcpy(b->dg, b->dg0, (size_t)c * sizeof(float));
        memcpy(b->db, b->db0, (size_t)c * sizeof(float));
        memset(b->dx, 0xff, (size_t)total * sizeof(float));
        lam__bn_bwd(n, c, hw, b->x, b->dy, NULL, g, b->mean, b->invstd, b->dg, b->db, b->dx, b->ws,
                    threads[t]);
        snprintf(what, sizeof what, "bwd nt=%d vs 1: dx", threads[t]);
        equal_to(what, label, b->dx, b->dx1, total);
        snprintf(what, sizeof what, "bwd nt=%d vs 1: dgamma", threads[t]);
        equal_to(what, label, b->dg, b->dg1, c);
        snprintf(what, sizeof what, "bwd nt=%d vs 1: dbeta", threads[t]);
        equal_to(what, label, b->db, b->db1, c);
    }
    /* in place dx == dy, on 2 threads */
    memcpy(b->tmp, b->dy, (size_t)total * sizeof(float));
    memcpy(b->dg, b->dg0, (size_t)c * sizeof(float));
    memcpy(b->db, b->db0, (size_t)c * sizeof(float));
    lam__bn_bwd(n, c, hw, b->x, b->tmp, NULL, g, b->mean, b->invstd, b->dg, b->db, b->tmp, b->ws,
                2);
    equal_to("bwd in place dx == dy", label, b->tmp, b->dx1, total);
    equal_to("bwd in place dgamma", label, b->dg, b->dg1, c);
    /* dx == NULL: the same parameter gradients */
    memcpy(b->dg, b->dg0, (size_t)c * sizeof(float));
    memcpy(b->db, b->db0, (size_t)c * sizeof(float));
    lam__bn_bwd(n, c, hw, b->x, b->dy, NULL, g, b->mean, b->invstd, b->dg, b->db, NULL, b->ws, 2);
    equal_to("bwd dx=NULL dgamma", label, b->dg, b->dg1, c);
    equal_to("bwd dx=NULL dbeta", label, b->db, b->db1, c);
    /* dgamma == dbeta == NULL: the same dx */
    lam__bn_bwd(n, c, hw, b->x, b->dy, NULL, g, b->mean, b->invstd, NULL, NULL, b->dx, b->ws, 2);
    equal_to("bwd dgamma=dbeta=NULL dx", label, b->dx, b->dx1, total);
    /* accumulation: from zero, two calls give twice one call, fast and twin alike */
    memset(b->dg, 0, (size_t)c * sizeof(float));
    memset(b->db, 0, (size_t)c * sizeof(float));
    memset(b->dgr, 0, (size_t)c * sizeof(float));
    memset(b->dbr, 0, (size_t)c * sizeof(float));
    lam__bn_bwd(n, c, hw, b->x, b->dy, NULL, g, b->mean, b->invstd, b->dg, b->db, NULL, b->ws, 3);
    for (int64_t j = 0; j < c; j++) {
        b->dgr[j] = 2.0f * b->dg[j]; /* twice one call: the expected result */
        b->dbr[j] = 2.0f * b->db[j];
    }
    lam__bn_bwd(n, c, hw, b->x, b->dy, NULL, g, b->mean, b->invstd, b->dg, b->db, NULL, b->ws, 3);
    t_close("bwd accumulate: dgamma twice", b->dg, b->dgr, c, 0.0, 1e-6);
    t_close("bwd accumulate: dbeta twice", b->db, b->dbr, c, 0.0, 1e-6);

    /* per channel, with a = gamma*invstd and S = sum dy*xhat (independent of the twin):
     *   sum dx = -a S sum xhat / M = 0,  sum dx*xhat = a S (1 - sum xhat^2 / M)
     * (not 0: sum xhat^2 = M var / (var + eps)) */
    int ok = 1;
    const double m = (double)(n * hw);
    for (int64_t j = 0; j < c; j++) {
        double sxh = 0.0, sxh2 = 0.0, sdyx = 0.0, s = 0.0, sx = 0.0, sa = 0.0, sxa = 0.0;
        for (int64_t i = 0; i < n; i++) {
            for (int64_t p = 0; p < hw; p++) {
                const int64_t t = (i * c + j) * hw + p;
                const double xh = ((double)b->x[t] - b->mean[j]) * b->invstd[j];
                sxh += xh;
                sxh2 += xh * xh;
                sdyx += b->dy[t] * xh;
                s += b->dx1[t];
                sx += b->dx1[t] * xh;
                sa += fabs(b->dx1[t]) + fabs(b->dy[t]) * ga;
                sxa += fabs(b->dx1[t] * xh) + fabs(b->dy[t] * xh) * ga;
            }
        }
        const double a = (g != NULL ? g[j] : 1.0) * b->invstd[j];
        ok &= fabs(s + a * sdyx * sxh / m) <= 1e-5 * sa &&
              fabs(sx - a * sdyx * (1.0 - sxh2 / m)) <= 1e-5 * sxa;
    }
    T_CHECK(ok, "bwd: sum dx and sum dx*xhat are off %s", label);
}

static void check_affine(const bn_case *k, const bufs *b, const char *label)
{
    const int64_t n = k->n, c = k->c, hw = k->hw, total = n * c * hw;
    /* scale and shift as a layer folds them: gamma*invstd, beta - mean*gamma*invstd */
    lam__bn_fwd_affine_ref(n, c, hw, b->x, b->gamma, b->beta, b->yr, 0, 1);
    lam__bn_fwd_affine(n, c, hw, b->x, b->gamma, b->beta, b->y1, 0, 1);
    close_to("affine y", label, b->y1, b->yr, total);
    lam__bn_fwd_affine(n, c, hw, b->x, b->gamma, b->beta, b->y, 0, 3);
    equal_to("affine nt=3 vs 1", label, b->y, b->y1, total);
    memcpy(b->tmp, b->x, (size_t)total * sizeof(float));
    lam__bn_fwd_affine(n, c, hw, b->tmp, b->gamma, b->beta, b->tmp, 0, 2);
    equal_to("affine in place", label, b->tmp, b->y1, total);
}

/* A folded ReLU: the fast forward and backward against the twins, and against the ReLU run
 * on its own (v < 0 ? 0 : v forward; dy masked by y > 0 backward) */
static void check_relu(const bn_case *k, const bufs *b, const char *label)
{
    const int64_t n = k->n, c = k->c, hw = k->hw, total = n * c * hw;
    lam__bn_fwd_train_ref(n, c, hw, b->x, b->gamma, b->beta, 1e-5f, b->meanr, b->invstdr,
                          b->varr, b->yr, 1, NULL, 1);
    lam__bn_fwd_train(n, c, hw, b->x, b->gamma, b->beta, 1e-5f, b->mean, b->invstd, b->var,
                      b->y1, 1, b->ws, 2);
    close_to("relu fwd y", label, b->y1, b->yr, total);
    lam__bn_fwd_train(n, c, hw, b->x, b->gamma, b->beta, 1e-5f, b->mean, b->invstd, b->var,
                      b->y, 0, b->ws, 2);
    lam__act_fwd(LAM_ACT_RELU, 0.0f, total, b->y, b->tmp);
    equal_to("relu fwd folded == bn then relu", label, b->y1, b->tmp, total);
    /* backward through the mask: twin, and the fast kernel on a pre-masked dy */
    memcpy(b->dgr, b->dg0, (size_t)c * sizeof(float));
    memcpy(b->dbr, b->db0, (size_t)c * sizeof(float));
    memcpy(b->dg1, b->dg0, (size_t)c * sizeof(float));
    memcpy(b->db1, b->db0, (size_t)c * sizeof(float));
    lam__bn_bwd_ref(n, c, hw, b->x, b->dy, b->y1, b->gamma, b->mean, b->invstd, b->dgr, b->dbr,
                    b->dxr, NULL, 1);
    lam__bn_bwd(n, c, hw, b->x, b->dy, b->y1, b->gamma, b->mean, b->invstd, b->dg1, b->db1,
                b->dx1, b->ws, 3);
    double ga = 0.0;
    for (int64_t j = 0; j < c; j++) {
        ga = fmax(ga, fabs(b->gamma[j] * b->invstd[j]));
    }
    close_scaled("relu bwd dx", label, b->dx1, b->dxr, total, ga * max_abs(b->dy, total));
    close_to("relu bwd dgamma", label, b->dg1, b->dgr, c);
    lam__act_bwd(LAM_ACT_RELU, 0.0f, total, b->y1, b->y1, b->dy, b->tmp);
    memcpy(b->dg, b->dg0, (size_t)c * sizeof(float));
    memcpy(b->db, b->db0, (size_t)c * sizeof(float));
    lam__bn_bwd(n, c, hw, b->x, b->tmp, NULL, b->gamma, b->mean, b->invstd, b->dg, b->db, b->dx,
                b->ws, 3);
    equal_to("relu bwd folded == relu then bn: dx", label, b->dx1, b->dx, total);
    equal_to("relu bwd folded == relu then bn: dgamma", label, b->dg1, b->dg, c);
}

/* Per-channel (mean, M2) pairs over m values: |d mean| <= tol (|mean| + sd) and |d M2| <=
 * tol M2, sd = sqrt(M2 / m) (a constant channel: exact) */
static void close_stats(const char *what, const char *label, const double *got,
                        const double *want, int64_t c, double m, double tol)
{
    double worst = 0.0;
    int64_t wj = 0;
    for (int64_t j = 0; j < c; j++) {
        const double mu = want[2 * j], q = want[2 * j + 1], sd = sqrt(q / m);
        const double e = fmax(fabs(got[2 * j] - mu) / (tol * (fabs(mu) + sd) + 1e-300),
                              fabs(got[2 * j + 1] - q) / (tol * q + 1e-300));
        if (!(e <= worst)) {
            worst = e;
            wj = j;
        }
    }
    if (verbose) {
        printf("  %-26.26s %-25.25s tolerance used %5.1f%%\n", what, label, 100.0 * worst);
    }
    T_CHECK(worst <= 1.0, "%s %s: channel %lld mean %.17g vs %.17g, M2 %.17g vs %.17g", what,
            label, (long long)wj, got[2 * wj], want[2 * wj], got[2 * wj + 1], want[2 * wj + 1]);
}

/* Backward sums (sum g, sum g*(x - mean)) within 1e-5 of the sums of their terms' sizes */
static void close_sums(const char *label, const bn_case *k, const bufs *b, const float *ymask)
{
    const int64_t n = k->n, c = k->c, hw = k->hw;
    int ok = 1;
    for (int64_t j = 0; j < c; j++) {
        double ag = 0.0, ad = 0.0;
        for (int64_t i = 0; i < n; i++) {
            for (int64_t p = 0; p < hw; p++) {
                const int64_t t = (i * c + j) * hw + p;
                const double g = ymask == NULL || ymask[t] > 0.0f ? b->dy[t] : 0.0;
                ag += fabs(g);
                ad += fabs(g * ((double)b->x[t] - b->mean[j]));
            }
        }
        ok &= fabs(b->st[2 * j] - b->str[2 * j]) <= 1e-5 * ag &&
              fabs(b->st[2 * j + 1] - b->str[2 * j + 1]) <= 1e-5 * ad;
    }
    T_CHECK(ok, "pieces bwd_sums vs twin %s mask %d", label, ymask != NULL);
}

/* The chunk pieces against the fused passes, bitwise: stats + fwd_coefs + norm give
 * lam__bn_fwd_train's outputs, bwd_sums + bwd_coefs + bwd_dx lam__bn_bwd's (a folded ReLU's
 * mask with relu), with and without gamma/beta, on 1 and 2 threads; then each piece against
 * its twin. */
static void check_pieces(const bn_case *k, const bufs *b, const char *label)
{
    const int64_t n = k->n, c = k->c, hw = k->hw, total = n * c * hw;
    const double m = (double)(n * hw);
    const float eps = 1e-5f;
    for (int affine = 1; affine >= 0; affine--) {
        for (int relu = 0; relu <= 1; relu++) {
            for (int nt = 1; nt <= 2; nt++) {
                const float *g = affine ? b->gamma : NULL, *be = affine ? b->beta : NULL;
                char what[64], w[100];
                snprintf(what, sizeof what, "pieces%s relu %d nt %d:", affine ? "" : " no-affine",
                         relu, nt);
                lam__bn_fwd_train(n, c, hw, b->x, g, be, eps, b->m1, b->i1, b->v1, b->y1, relu,
                                  b->ws, nt);
                memset(b->y, 0xff, (size_t)total * sizeof(float));
                lam__bn_stats(n, c, hw, b->x, b->st, b->ws, nt);
                lam__bn_fwd_coefs(c, b->st, m, g, be, eps, b->mean, b->invstd, b->var, b->ka,
                                  b->ks);
                lam__bn_norm(n, c, hw, b->x, b->mean, b->ka, b->ks, b->y, relu, nt);
                snprintf(w, sizeof w, "%s y == fwd_train", what);
                equal_to(w, label, b->y, b->y1, total);
                snprintf(w, sizeof w, "%s mean == fwd_train", what);
                equal_to(w, label, b->mean, b->m1, c);
                snprintf(w, sizeof w, "%s invstd == fwd_train", what);
                equal_to(w, label, b->invstd, b->i1, c);
                snprintf(w, sizeof w, "%s var_unbiased == fwd_train", what);
                equal_to(w, label, b->var, b->v1, c);
                if (nt == 2) { /* in place */
                    memcpy(b->tmp, b->x, (size_t)total * sizeof(float));
                    lam__bn_norm(n, c, hw, b->tmp, b->mean, b->ka, b->ks, b->tmp, relu, nt);
                    snprintf(w, sizeof w, "%s norm in place", what);
                    equal_to(w, label, b->tmp, b->y1, total);
                }
                /* backward, through the ReLU's mask (its output y1) when relu */
                const float *mask = relu ? b->y1 : NULL;
                memcpy(b->dg1, b->dg0, (size_t)c * sizeof(float));
                memcpy(b->db1, b->db0, (size_t)c * sizeof(float));
                memcpy(b->dg, b->dg0, (size_t)c * sizeof(float));
                memcpy(b->db, b->db0, (size_t)c * sizeof(float));
                lam__bn_bwd(n, c, hw, b->x, b->dy, mask, g, b->m1, b->i1, b->dg1, b->db1, b->dx1,
                            b->ws, nt);
                memset(b->dx, 0xff, (size_t)total * sizeof(float));
                lam__bn_bwd_sums(n, c, hw, b->x, b->dy, mask, b->m1, b->st, b->ws, nt);
                lam__bn_bwd_coefs(c, b->st, m, g, b->i1, b->ka, b->kmd, b->kb, b->dg, b->db);
                lam__bn_bwd_dx(n, c, hw, b->x, b->dy, mask, b->m1, b->ka, b->kmd, b->kb, b->dx,
                               nt);
                snprintf(w, sizeof w, "%s dx == bwd", what);
                equal_to(w, label, b->dx, b->dx1, total);
                snprintf(w, sizeof w, "%s dgamma == bwd", what);
                equal_to(w, label, b->dg, b->dg1, c);
                snprintf(w, sizeof w, "%s dbeta == bwd", what);
                equal_to(w, label, b->db, b->db1, c);
            }
        }
    }
    /* the twins (left from the loop: gamma = beta = NULL, relu, y1 the relu'd output) */
    lam__bn_stats(n, c, hw, b->x, b->st, b->ws, 2);
    lam__bn_stats_ref(n, c, hw, b->x, b->str, NULL, 1);
    close_stats("pieces stats vs twin", label, b->st, b->str, c, m, 1e-5);
    lam__bn_fwd_coefs(c, b->str, m, b->gamma, b->beta, eps, b->mean, b->invstd, NULL, b->ka,
                      b->ks);
    for (int relu = 0; relu <= 1; relu++) {
        lam__bn_norm(n, c, hw, b->x, b->mean, b->ka, b->ks, b->y, relu, 2);
        lam__bn_norm_ref(n, c, hw, b->x, b->mean, b->ka, b->ks, b->yr, relu, 1);
        close_to(relu ? "pieces norm relu vs twin" : "pieces norm vs twin", label, b->y, b->yr,
                 total);
    }
    double ga = 0.0;
    for (int64_t j = 0; j < c; j++) {
        ga = fmax(ga, fabs(b->gamma[j] * b->invstd[j]));
    }
    for (int mk = 0; mk <= 1; mk++) {
        const float *mask = mk ? b->y1 : NULL;
        lam__bn_bwd_sums(n, c, hw, b->x, b->dy, mask, b->mean, b->st, b->ws, 2);
        lam__bn_bwd_sums_ref(n, c, hw, b->x, b->dy, mask, b->mean, b->str, NULL, 1);
        close_sums(label, k, b, mask);
        lam__bn_bwd_coefs(c, b->str, m, b->gamma, b->invstd, b->ka, b->kmd, b->kb, NULL, NULL);
        lam__bn_bwd_dx(n, c, hw, b->x, b->dy, mask, b->mean, b->ka, b->kmd, b->kb, b->dx, 2);
        lam__bn_bwd_dx_ref(n, c, hw, b->x, b->dy, mask, b->mean, b->ka, b->kmd, b->kb, b->dxr,
                           1);
        close_scaled(mk ? "pieces bwd_dx mask vs twin" : "pieces bwd_dx vs twin", label, b->dx,
                     b->dxr, total, ga * max_abs(b->dy, total));
    }
}

/* Chan's pairwise combine of two chunks' (mean, M2) over ma and mb values (ma or mb may be 0) */
static void chan(int64_t c, const double *sa, double ma, const double *sb, double mb,
                 double *s)
{
    const double m = ma + mb;
    for (int64_t j = 0; j < c; j++) {
        const double d = sb[2 * j] - sa[2 * j];
        s[2 * j] = sa[2 * j] + d * mb / m;
        s[2 * j + 1] = sa[2 * j + 1] + sb[2 * j + 1] + d * d * ma * mb / m;
    }
}

/* Synchronised batch norm over two chunks, samples [0, na) and [na, n) with na = n/2 (0 when
 * n == 1: an empty chunk), the second shifted by +1 so the chunks' means differ (Chan's cross
 * term is ~1/5 of M2). The twin's chunk stats combined agree with its whole-batch stats to
 * 1e-12; the fast ones to 1e-6, the float accumulation inside the blocks of the two different
 * cuttings (1e-12 where the chunks' blocks are the whole batch's). Then the normalisation with
 * the combined coefficients, and dx from the added sums, against the fused whole-batch passes
 * (rtol 1e-5, as the twins). */
static void check_two_chunks(const bn_case *k, const bufs *b, const char *label)
{
    const int64_t n = k->n, c = k->c, hw = k->hw, total = n * c * hw;
    const int64_t na = n / 2, nb = n - na, off = na * c * hw;
    const double ma = (double)(na * hw), mb = (double)(nb * hw), m = ma + mb;
    const float eps = 1e-5f;
    int64_t wsn = lam__bn_workspace(n, c, hw, 1);
    wsn = lam__bn_workspace(na, c, hw, 1) > wsn ? lam__bn_workspace(na, c, hw, 1) : wsn;
    wsn = lam__bn_workspace(nb, c, hw, 1) > wsn ? lam__bn_workspace(nb, c, hw, 1) : wsn;
    float *ws = t_alloc_floats(wsn), *x = b->tmp;
    double *sa = alloc_doubles(2 * c), *sb = alloc_doubles(2 * c);
    memcpy(x, b->x, (size_t)total * sizeof(float));
    for (int64_t t = off; t < total; t++) {
        x[t] += 1.0f;
    }
    lam__bn_stats_ref(na, c, hw, x, sa, NULL, 1);
    lam__bn_stats_ref(nb, c, hw, x + off, sb, NULL, 1);
    chan(c, sa, ma, sb, mb, b->st);
    lam__bn_stats_ref(n, c, hw, x, b->str, NULL, 1);
    close_stats("two chunks twin", label, b->st, b->str, c, m, 1e-12);
    lam__bn_stats(na, c, hw, x, sa, ws, 2);
    lam__bn_stats(nb, c, hw, x + off, sb, ws, 1);
    chan(c, sa, ma, sb, mb, b->st);
    lam__bn_stats(n, c, hw, x, b->str, ws, 2);
    close_stats("two chunks fast", label, b->st, b->str, c, m, 1e-6);

    /* forward with the combined statistics, chunk by chunk, against the fused pass */
    lam__bn_fwd_coefs(c, b->st, m, b->gamma, b->beta, eps, b->mean, b->invstd, b->var, b->ka,
                      b->ks);
    lam__bn_norm(na, c, hw, x, b->mean, b->ka, b->ks, b->y, 1, 2);
    lam__bn_norm(nb, c, hw, x + off, b->mean, b->ka, b->ks, b->y + off, 1, 1);
    lam__bn_fwd_train(n, c, hw, x, b->gamma, b->beta, eps, b->m1, b->i1, b->v1, b->y1, 1, ws, 2);
    close_to("two chunks y", label, b->y, b->y1, total);
    close_to("two chunks mean", label, b->mean, b->m1, c);
    close_to("two chunks invstd", label, b->invstd, b->i1, c);
    close_to("two chunks var_unbiased", label, b->var, b->v1, c);

    /* backward: the chunks' sums added, against the fused pass (same mean, invstd, mask) */
    lam__bn_bwd_sums(na, c, hw, x, b->dy, b->y1, b->m1, sa, ws, 1);
    lam__bn_bwd_sums(nb, c, hw, x + off, b->dy + off, b->y1 + off, b->m1, sb, ws, 2);
    for (int64_t j = 0; j < 2 * c; j++) {
        b->st[j] = sa[j] + sb[j];
    }
    memcpy(b->dg, b->dg0, (size_t)c * sizeof(float));
    memcpy(b->db, b->db0, (size_t)c * sizeof(float));
    memcpy(b->dg1, b->dg0, (size_t)c * sizeof(float));
    memcpy(b->db1, b->db0, (size_t)c * sizeof(float));
    lam__bn_bwd_coefs(c, b->st, m, b->gamma, b->i1, b->ka, b->kmd, b->kb, b->dg, b->db);
    lam__bn_bwd_dx(na, c, hw, x, b->dy, b->y1, b->m1, b->ka, b->kmd, b->kb, b->dx, 2);
    lam__bn_bwd_dx(nb, c, hw, x + off, b->dy + off, b->y1 + off, b->m1, b->ka, b->kmd, b->kb,
                   b->dx + off, 1);
    lam__bn_bwd(n, c, hw, x, b->dy, b->y1, b->gamma, b->m1, b->i1, b->dg1, b->db1, b->dx1, ws,
                2);
    double ga = 0.0;
    for (int64_t j = 0; j < c; j++) {
        ga = fmax(ga, fabs(b->gamma[j] * b->i1[j]));
    }
    close_scaled("two chunks dx", label, b->dx, b->dx1, total, ga * max_abs(b->dy, total));
    close_to("two chunks dgamma", label, b->dg, b->dg1, c);
    close_to("two chunks dbeta", label, b->db, b->db1, c);
    free(ws);
    free(sa);
    free(sb);
}

/* The sums of the two span tables over `rows` runs of n values, stride apart, bitwise. */
static void check_span_sums(const lam_bn_spans *c, const lam_bn_spans *v, const float *x,
                            const float *dy, const float *ym, int64_t rows, int64_t stride,
                            int64_t n)
{
    double a1 = c->sum(x, rows, stride, n), a2 = v->sum(x, rows, stride, n);
    T_CHECK(a1 == a2, "span sum rows=%lld n=%lld: %.17g vs %.17g", (long long)rows,
            (long long)n, a1, a2);
    double s1[2] = {1.0, 2.0}, s2[2] = {1.0, 2.0};
    c->dev(x, rows, stride, n, 100.0f, &s1[0], &s1[1]);
    v->dev(x, rows, stride, n, 100.0f, &s2[0], &s2[1]);
    T_CHECK(s1[0] == s2[0] && s1[1] == s2[1], "span dev rows=%lld n=%lld", (long long)rows,
            (long long)n);
    for (int mk = 0; mk <= 1; mk++) {
        double g1[2] = {0.0, 0.0}, g2[2] = {0.0, 0.0};
        c->bwd_sums(x, dy, mk ? ym : NULL, rows, stride, n, 100.0f, &g1[0], &g1[1]);
        v->bwd_sums(x, dy, mk ? ym : NULL, rows, stride, n, 100.0f, &g2[0], &g2[1]);
        T_CHECK(g1[0] == g2[0] && g1[1] == g2[1], "span bwd_sums rows=%lld n=%lld mask %d",
                (long long)rows, (long long)n, mk);
    }
}

/* The elementwise passes of the two span tables over n values, bitwise. */
static void check_span_passes(const lam_bn_spans *c, const lam_bn_spans *v, const float *x,
                              const float *dy, const float *ym, int64_t n, float *y1,
                              float *y2)
{
    char what[64];
    for (int mk = 0; mk <= 1; mk++) {
        const float *mask = mk ? ym : NULL;
        c->dx(x, dy, mask, y1, n, 100.0f, 0.7f, 0.01f, 0.3f);
        v->dx(x, dy, mask, y2, n, 100.0f, 0.7f, 0.01f, 0.3f);
        snprintf(what, sizeof what, "span dx n=%lld mask %d", (long long)n, mk);
        t_equal(what, y2, y1, n);
        c->norm(x, y1, n, 100.0f, 0.7f, -0.1f, mk);
        v->norm(x, y2, n, 100.0f, 0.7f, -0.1f, mk);
        snprintf(what, sizeof what, "span norm n=%lld relu %d", (long long)n, mk);
        t_equal(what, y2, y1, n);
    }
}

/* The AVX2 and AVX-512 span loops against the portable ones, bitwise (each one this CPU can
 * run; nothing to do without AVX2) */
static void test_spans_isa(const lam_bn_spans *c, const lam_bn_spans *v)
{
    const int64_t lens[] = {1, 15, 16, 17, 511, 512, 513, 1100};
    const int64_t nmax = 40 * 53;
    float *x = t_alloc_floats(nmax), *dy = t_alloc_floats(nmax), *ym = t_alloc_floats(nmax);
    float *y1 = t_alloc_floats(nmax), *y2 = t_alloc_floats(nmax);
    t_fill_uniform(x, nmax, 90.0f, 110.0f, SEED, 91);
    t_fill_uniform(dy, nmax, -1.0f, 1.0f, SEED, 92);
    t_fill_uniform(ym, nmax, -1.0f, 1.0f, SEED, 93);
    /* one row of each length */
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        check_span_sums(c, v, x, dy, ym, 1, lens[i], lens[i]);
        check_span_passes(c, v, x, dy, ym, lens[i], y1, y2);
    }
    /* 1..40 rows of 49 and 50 values 53 apart: the runs cross rows, folded every 32 blocks */
    for (int64_t rows = 1; rows <= 40; rows++) {
        for (int64_t n = 49; n <= 50; n++) {
            check_span_sums(c, v, x, dy, ym, rows, 53, n);
        }
    }
    free(x);
    free(dy);
    free(ym);
    free(y1);
    free(y2);
}

static void test_spans(void)
{
    const lam_bn_spans *c = lam__bn_spans(LAM_ISA_SSE2);
    if (lam__best_isa() < LAM_ISA_AVX2) {
        printf("span loops: no AVX2 here, the portable ones only\n");
        return;
    }
    for (int isa = LAM_ISA_AVX2; isa <= lam__best_isa(); isa++) {
        const lam_bn_spans *v = lam__bn_spans(isa);
        T_CHECK(v != c, "isa %d has its own span loops", isa);
        test_spans_isa(c, v);
    }
}

static void run_case(const bn_case *k, size_t idx)
{
    const int64_t n = k->n, c = k->c, hw = k->hw, total = n * c * hw;
    char label[96];
    snprintf(label, sizeof label, "(n %lld, c %lld, hw %lld%s)", (long long)n, (long long)c,
             (long long)hw, k->offset != 0.0f ? ", mean 100" : "");
    if (verbose) {
        printf("%s\n", label);
    }
    const int64_t wsn = lam__bn_workspace(n, c, hw, 1);
    T_CHECK(wsn == lam__bn_workspace(n, c, hw, 2) && wsn == lam__bn_workspace(n, c, hw, 8) &&
                wsn > 0 && wsn <= 4 * c * (128 + n) &&
                lam__bn_workspace_ref(n, c, hw, 2) == 0,
            "workspace %lld floats %s", (long long)wsn, label);
    bufs b;
    float **all[] = {&b.x, &b.y, &b.y1, &b.yr, &b.tmp, &b.dy, &b.dx, &b.dx1, &b.dxr};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        *all[i] = t_alloc_floats(total);
    }
    float **per[] = {&b.gamma, &b.beta, &b.mean, &b.invstd, &b.var, &b.meanr, &b.invstdr,
                     &b.varr, &b.m1, &b.i1, &b.v1, &b.dg, &b.db, &b.dgr, &b.dbr, &b.dg1,
                     &b.db1, &b.dg0, &b.db0};
    for (size_t i = 0; i < sizeof per / sizeof per[0]; i++) {
        *per[i] = t_alloc_floats(c);
    }
    float **coef[] = {&b.ka, &b.ks, &b.kmd, &b.kb};
    for (size_t i = 0; i < sizeof coef / sizeof coef[0]; i++) {
        *coef[i] = t_alloc_floats(c);
    }
    b.st = alloc_doubles(2 * c);
    b.str = alloc_doubles(2 * c);
    b.ws = t_alloc_floats(wsn);
    const uint64_t s = 10 * (uint64_t)idx;
    fill_x(b.x, k, s + 1);
    t_fill_uniform(b.dy, total, -1.0f, 1.0f, SEED, s + 3);
    t_fill_uniform(b.gamma, c, 0.5f, 1.5f, SEED, s + 4);
    t_fill_uniform(b.beta, c, -0.5f, 0.5f, SEED, s + 5);
    t_fill_uniform(b.dg0, c, -1.0f, 1.0f, SEED, s + 6);
    t_fill_uniform(b.db0, c, -1.0f, 1.0f, SEED, s + 7);
    for (int affine = 1; affine >= 0; affine--) {
        char lab[128];
        snprintf(lab, sizeof lab, "%s%s", label, affine ? "" : " gamma=beta=NULL");
        check_forward(k, &b, affine, lab);
        check_backward(k, &b, affine, lab);
    }
    check_affine(k, &b, label);
    check_relu(k, &b, label);
    check_pieces(k, &b, label);
    check_two_chunks(k, &b, label);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(*all[i]);
    }
    for (size_t i = 0; i < sizeof per / sizeof per[0]; i++) {
        free(*per[i]);
    }
    for (size_t i = 0; i < sizeof coef / sizeof coef[0]; i++) {
        free(*coef[i]);
    }
    free(b.st);
    free(b.str);
    free(b.ws);
}

/* L = sum r*y in double through the twin's forward (for the central differences). */
static double loss(int64_t n, int64_t c, int64_t hw, const float *x, const float *gamma,
                   const float *beta, const float *r, float *y)
{
    float mean[4], invstd[4], var[4];
    lam__bn_fwd_train_ref(n, c, hw, x, gamma, beta, 1e-5f, mean, invstd, var, y, 0, NULL, 1);
    double l = 0.0;
    for (int64_t i = 0; i < n * c * hw; i++) {
        l += (double)r[i] * y[i];
    }
    return l;
}

/* Central differences (eps 1e-2, inputs in [-1, 1]) for dx, dgamma and dbeta of L = sum r*y,
 * pass if |analytic - numeric| <= 1e-3 + 1e-2 |numeric| (tests/README's grad rule). */
static void test_grad(void)
{
    enum { N = 3, C = 2, HW = 5, T = N * C * HW };
    float x[T], r[T], y[T], dx[T], gamma[C], beta[C], dg[C] = {0}, db[C] = {0};
    float mean[C], invstd[C], var[C];
    double wsd[2 * C * N]; /* the workspace holds doubles: 8-byte aligned */
    float *ws = (float *)(void *)wsd;
    t_fill_uniform(x, T, -1.0f, 1.0f, SEED, 901);
    t_fill_uniform(r, T, -1.0f, 1.0f, SEED, 902);
    t_fill_uniform(gamma, C, 0.5f, 1.5f, SEED, 903);
    t_fill_uniform(beta, C, -0.5f, 0.5f, SEED, 904);
    T_CHECK(lam__bn_workspace(N, C, HW, 1) <= 4 * C * N, "grad workspace");
    lam__bn_fwd_train(N, C, HW, x, gamma, beta, 1e-5f, mean, invstd, var, y, 0, ws, 1);
    lam__bn_bwd(N, C, HW, x, r, NULL, gamma, mean, invstd, dg, db, dx, ws, 1);
    const float h = 1e-2f;
    int bad = 0;
    for (int i = 0; i < T + 2 * C; i++) {
        float *p = i < T ? &x[i] : i < T + C ? &gamma[i - T] : &beta[i - T - C];
        const float a = i < T ? dx[i] : i < T + C ? dg[i - T] : db[i - T - C];
        const float keep = *p;
        *p = keep + h;
        const double lp = loss(N, C, HW, x, gamma, beta, r, y);
        *p = keep - h;
        const double lm = loss(N, C, HW, x, gamma, beta, r, y);
        *p = keep;
        const double num = (lp - lm) / (2.0 * (double)h);
        if (!(fabs(a - num) <= 1e-3 + 1e-2 * fabs(num))) {
            printf("FAIL grad: parameter %d analytic %.7g numeric %.7g\n", i, (double)a, num);
            bad++;
        }
    }
    T_CHECK(bad == 0, "bn central differences: %d of %d wrong", bad, T + 2 * C);
}

/* The kernel tables carry the batch-norm entries. */
static void test_tables(void)
{
    const lam_kernels *f = lam__kernels_for(LAM_KERNELS_FAST);
    const lam_kernels *r = lam__kernels_for(LAM_KERNELS_REF);
    T_CHECK(f->bn_workspace == lam__bn_workspace && f->bn_fwd_train == lam__bn_fwd_train &&
                f->bn_fwd_affine == lam__bn_fwd_affine && f->bn_bwd == lam__bn_bwd &&
                f->bn_stats == lam__bn_stats && f->bn_norm == lam__bn_norm &&
                f->bn_bwd_sums == lam__bn_bwd_sums && f->bn_bwd_dx == lam__bn_bwd_dx,
            "fast table bn entries");
    T_CHECK(r->bn_workspace == lam__bn_workspace_ref &&
                r->bn_fwd_train == lam__bn_fwd_train_ref &&
                r->bn_fwd_affine == lam__bn_fwd_affine_ref && r->bn_bwd == lam__bn_bwd_ref &&
                r->bn_stats == lam__bn_stats_ref && r->bn_norm == lam__bn_norm_ref &&
                r->bn_bwd_sums == lam__bn_bwd_sums_ref && r->bn_bwd_dx == lam__bn_bwd_dx_ref,
            "ref table bn entries");
}

int main(int argc, char **argv)
{
    verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    printf("test_bn: seed %u\n", SEED);
    test_tables();
    test_grad();
    test_spans();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_case(&cases[i], i);
    }
    return t_exit("bn");
}
