/*
 * L-BFGS for small full-batch regression networks: Nocedal & Wright, "Numerical
 * Optimization" (2nd ed.), Alg. 7.4 (two-loop recursion, H0 = gamma I with
 * gamma = s^T y / y^T y of the newest pair) and the strong-Wolfe line search of
 * Alg. 3.5 (bracketing) and 3.6 (zoom), with the cubic interpolation of eq. (3.59) safeguarded
 * by bisection.
 *
 * Objective: f(w) = MSE over every sample and output, and its exact full-batch gradient
 * (lam__fit_mse: chunks of the model's max_batch, each weighted by its size / N, summed in
 * double). One evaluation = one forward and backward over the whole data set.
 *
 * Vectors: weights, directions and the (s, y) history are float (P each, as the weights);
 * every dot product and the gradient are double. Memory: (2 history + 5) P floats + 2 P
 * doubles.
 */
#include "fit_internal.h"

#include <math.h>
#include <string.h>

#define LS_MAX_EVALS 25 /* evaluations per line search before giving up on Wolfe */

void lam_lbfgs_desc_init(lam_lbfgs_desc *d)
{
    if (d == NULL) {
        return;
    }
    memset(d, 0, sizeof *d);
    d->max_iters = 100;
    d->history = 10;
    d->c1 = 1e-4;
    d->c2 = 0.9;
    d->tol_grad = 1e-7;
    d->tol_change = 1e-12;
    d->max_seconds = 0.0;
}

typedef struct lb_state {
    lam_model *m;
    lam_fit_io *io;
    int64_t p;
    int hist;            /* capacity */
    int n_pairs, newest; /* stored pairs; index of the newest */
    float *s, *y;        /* (hist, p) */
    double *rho;         /* 1 / (y^T s) per pair */
    double *alpha;       /* two-loop scratch */
    float *w;            /* accepted weights */
    float *d;            /* search direction */
    float *g;            /* gradient at w (float copy for the history) */
    float *gt;           /* gradient at the latest trial point */
    float *wt;           /* weights of the latest trial point */
    double *gd;          /* gradient accumulator of lam__fit_mse */
    int64_t evals;
} lb_state;

static double dot(const float *a, const float *b, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)a[i] * (double)b[i];
    }
    return s;
}

/* f and gradient (into gt) at w + a d; the model's weights are left there (wt). */
static lam_status lb_eval(lb_state *st, double a, double *f, double *dphi)
{
    for (int64_t i = 0; i < st->p; i++) {
        st->wt[i] = (float)((double)st->w[i] + a * (double)st->d[i]);
    }
    lam__params_set(st->m, st->wt);
    lam_status rc = lam__fit_mse(st->m, st->io, st->gd, f);
    st->evals++;
    if (rc == LAM_ERR_NUMERIC) {
        /* an overflowing trial is just a bad step: the line search backs off from it */
        lam__clear_error(st->m->ctx);
        *f = INFINITY;
        *dphi = INFINITY;
        return LAM_OK;
    }
    if (rc != LAM_OK) {
        return rc;
    }
    for (int64_t i = 0; i < st->p; i++) {
        st->gt[i] = (float)st->gd[i];
    }
    *dphi = 0.0;
    for (int64_t i = 0; i < st->p; i++) {
        *dphi += st->gd[i] * (double)st->d[i];
    }
    return LAM_OK;
}

/* Minimiser of the cubic through (a, fa, da) and (b, fb, db), kept inside the middle 80% of
 * [a, b]; bisection when the cubic has no usable minimum (N&W eq. 3.59). */
static double cubic_step(double a, double fa, double da, double b, double fb, double db)
{
    double lo = fmin(a, b), hi = fmax(a, b), width = hi - lo;
    double d1 = da + db - 3.0 * (fa - fb) / (a - b);
    double disc = d1 * d1 - da * db;
    double t = 0.5 * (a + b);
    if (disc >= 0.0 && isfinite(disc) && isfinite(fb) && isfinite(db)) {
        double d2 = copysign(sqrt(disc), b - a);
        double den = db - da + 2.0 * d2;
        if (den != 0.0) {
            t = b - (b - a) * (db + d2 - d1) / den;
        }
    }
    if (!(t >= lo + 0.1 * width && t <= hi - 0.1 * width)) {
        t = 0.5 * (a + b);
    }
    return t;
}

typedef struct ls_point {
    double a, f, d; /* step, phi(a), phi'(a) */
} ls_point;

/* Alg. 3.6. On return *found says whether the last evaluated point (left in the model and
 * in gt) satisfies the strong Wolfe conditions; *best is the lowest point seen. */
static lam_status zoom(lb_state *st, const lam_lbfgs_desc *dsc, ls_point z, ls_point lo,
                       ls_point hi, ls_point *best, int *found, int *budget)
{
    while (*budget > 0) {
        (*budget)--;
        ls_point t = {cubic_step(lo.a, lo.f, lo.d, hi.a, hi.f, hi.d), 0.0, 0.0};
        lam_status rc = lb_eval(st, t.a, &t.f, &t.d);
        if (rc != LAM_OK) {
            return rc;
        }
        if (t.f < best->f) {
            *best = t;
        }
        if (t.f > z.f + dsc->c1 * t.a * z.d || t.f >= lo.f) {
            hi = t;
        } else {
            if (fabs(t.d) <= -dsc->c2 * z.d) {
                *best = t;
                *found = 1;
                return LAM_OK;
            }
            if (t.d * (hi.a - lo.a) >= 0.0) {
                hi = lo;
            }
            lo = t;
        }
        if (fabs(hi.a - lo.a) <= 1e-12 * fmax(1.0, fabs(lo.a))) {
            break; /* the bracket collapsed: float weights cannot resolve it further */
        }
    }
    return LAM_OK;
}

/* Alg. 3.5 from phi(0) = f0, phi'(0) = d0 < 0 and a first trial a1. On return the model
 * holds w + best->a d and gt its gradient, unless best->a == 0 (no decrease found). */
static lam_status line_search(lb_state *st, const lam_lbfgs_desc *dsc, double f0, double d0,
                              double a1, ls_point *best)
{
    const ls_point z = {0.0, f0, d0};
    ls_point prev = z, cur = {a1, 0.0, 0.0};
    *best = z;
    int found = 0, budget = LS_MAX_EVALS;
    lam_status rc = LAM_OK;
    for (int i = 0; budget > 0; i++) {
        budget--;
        rc = lb_eval(st, cur.a, &cur.f, &cur.d);
        if (rc != LAM_OK) {
            return rc;
        }
        if (cur.f < best->f) {
            *best = cur;
        }
        if (cur.f > f0 + dsc->c1 * cur.a * d0 || (i > 0 && cur.f >= prev.f)) {
            rc = zoom(st, dsc, z, prev, cur, best, &found, &budget);
            break;
        }
        if (fabs(cur.d) <= -dsc->c2 * d0) {
            *best = cur;
            found = 1;
            break;
        }
        if (cur.d >= 0.0) {
            rc = zoom(st, dsc, z, cur, prev, best, &found, &budget);
            break;
        }
        prev = cur;
        cur.a *= 2.0; /* still descending steeply: extrapolate */
    }
    if (rc == LAM_OK && !found && best->a > 0.0) {
        /* Wolfe not met within the budget: settle on the lowest point seen */
        rc = lb_eval(st, best->a, &best->f, &best->d);
    }
    return rc;
}

/* d = -H g by the two-loop recursion over the stored pairs. */
static void two_loop(lb_state *st)
{
    const int64_t p = st->p;
    for (int64_t i = 0; i < p; i++) {
        st->d[i] = -st->g[i];
    }
    if (st->n_pairs == 0) {
        return;
    }
    int idx = st->newest;
    for (int k = 0; k < st->n_pairs; k++) {
        const float *s = st->s + (int64_t)idx * p, *y = st->y + (int64_t)idx * p;
        double a = st->rho[idx] * dot(s, st->d, p);
        st->alpha[idx] = a;
        for (int64_t i = 0; i < p; i++) {
            st->d[i] = (float)((double)st->d[i] - a * (double)y[i]);
        }
        idx = (idx + st->hist - 1) % st->hist;
    }
    const float *sn = st->s + (int64_t)st->newest * p, *yn = st->y + (int64_t)st->newest * p;
    double gamma = dot(sn, yn, p) / dot(yn, yn, p);
    for (int64_t i = 0; i < p; i++) {
        st->d[i] = (float)(gamma * (double)st->d[i]);
    }
    idx = (st->newest + st->hist - st->n_pairs + 1) % st->hist;
    for (int k = 0; k < st->n_pairs; k++) {
        const float *s = st->s + (int64_t)idx * p, *y = st->y + (int64_t)idx * p;
        double b = st->rho[idx] * dot(y, st->d, p);
        for (int64_t i = 0; i < p; i++) {
            st->d[i] = (float)((double)st->d[i] + (st->alpha[idx] - b) * (double)s[i]);
        }
        idx = (idx + 1) % st->hist;
    }
}

/* Store s = wt - w, y = gt - g when the curvature s^T y is safely positive (always so
 * after a strong-Wolfe step, unless rounding ate it). The check comes first, so a refused
 * pair never overwrites the oldest one. */
static void push_pair(lb_state *st)
{
    const int64_t p = st->p;
    double sy = 0.0, yy = 0.0;
    for (int64_t i = 0; i < p; i++) {
        double si = (double)(st->wt[i] - st->w[i]), yi = (double)(st->gt[i] - st->g[i]);
        sy += si * yi;
        yy += yi * yi;
    }
    if (!(sy > 1e-10 * yy) || !(yy > 0.0)) {
        return;
    }
    int slot = st->n_pairs == 0 ? 0 : (st->newest + 1) % st->hist;
    float *s = st->s + (int64_t)slot * p, *y = st->y + (int64_t)slot * p;
    for (int64_t i = 0; i < p; i++) {
        s[i] = st->wt[i] - st->w[i];
        y[i] = st->gt[i] - st->g[i];
    }
    st->rho[slot] = 1.0 / dot(s, y, p);
    st->newest = slot;
    st->n_pairs = st->n_pairs < st->hist ? st->n_pairs + 1 : st->hist;
}

static double max_abs(const float *v, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        m = fmax(m, fabs((double)v[i]));
    }
    return m;
}

static lam_status lb_run(lb_state *st, const lam_lbfgs_desc *dsc, double t0,
                         lam_fit_report *rep)
{
    const int64_t p = st->p;
    lam__params_get(st->m, st->w);
    double f = 0.0;
    lam_status rc = lam__fit_mse(st->m, st->io, st->gd, &f);
    st->evals = 1;
    for (int64_t i = 0; i < p; i++) {
        st->g[i] = (float)st->gd[i];
    }
    for (int64_t it = 0; rc == LAM_OK && it < dsc->max_iters; it++) {
        if (max_abs(st->g, p) <= dsc->tol_grad ||
            (dsc->max_seconds > 0.0 && lam_time_now() - t0 >= dsc->max_seconds)) {
            break;
        }
        two_loop(st);
        double gtd = dot(st->g, st->d, p);
        if (!(gtd < 0.0)) {
            /* the curvature model went bad (rounding): restart from steepest descent */
            st->n_pairs = 0;
            two_loop(st);
            gtd = dot(st->g, st->d, p);
            if (!(gtd < 0.0)) {
                break; /* zero gradient */
            }
        }
        /* the first step has no scale yet: as PyTorch's L-BFGS, make it at most 1 in l1 */
        double a1 = 1.0;
        if (st->n_pairs == 0) {
            double l1 = 0.0;
            for (int64_t i = 0; i < p; i++) {
                l1 += fabs((double)st->g[i]);
            }
            a1 = fmin(1.0, 1.0 / l1);
        }
        ls_point best;
        rc = line_search(st, dsc, f, gtd, a1, &best);
        if (rc != LAM_OK || best.a == 0.0) {
            break; /* no decrease along a descent direction: converged to float precision */
        }
        rep->steps++;
        lam__log(st->m->ctx, 2, "lbfgs: iteration %lld: mse %.6g, step %.3g, %lld evaluations",
                 (long long)rep->steps, best.f, best.a, (long long)st->evals);
        push_pair(st);
        double change = f - best.f;
        f = best.f;
        memcpy(st->w, st->wt, (size_t)p * sizeof(float));
        memcpy(st->g, st->gt, (size_t)p * sizeof(float));
        if (fabs(change) < dsc->tol_change) {
            break;
        }
    }
    lam__params_set(st->m, st->w);
    rep->final_loss = f;
    rep->evaluations = st->evals;
    return rc;
}

static lam_status lb_check(lam_model *m, const void *desc, const lam_array *x,
                           const lam_array *y)
{
    const lam_lbfgs_desc *d = desc;
    lam_ctx *ctx = m->ctx;
    if (d == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "lbfgs: desc is NULL");
    }
    if (d->max_iters < 1 || d->history < 1 || d->history > 1000 ||
        !(d->c1 > 0.0 && d->c1 < d->c2 && d->c2 < 1.0) ||
        !(d->tol_grad >= 0.0 && isfinite(d->tol_grad)) ||
        !(d->tol_change >= 0.0 && isfinite(d->tol_change)) ||
        !(d->max_seconds >= 0.0 && isfinite(d->max_seconds))) {
        return lam__error(ctx, LAM_ERR_ARG, "lbfgs: need max_iters >= 1, history in 1..1000, "
                          "0 < c1 < c2 < 1, tolerances and max_seconds >= 0");
    }
    lam_status st = lam__fit_check_full_batch(m, x, y, "lbfgs");
    if (st == LAM_OK && lam_model_param_count(m) < 1) {
        st = lam__error(ctx, LAM_ERR_ARG, "lbfgs: the model has no parameters");
    }
    return st;
}

/* The history and work vectors, then the iterations (lam__fit_full_batch owns io). */
static lam_status lb_alloc_run(lam_model *m, const void *desc, lam_fit_io *io, double t0,
                               lam_fit_report *rep)
{
    const lam_lbfgs_desc *d = desc;
    lam_status rc;
    lb_state st;
    memset(&st, 0, sizeof st);
    st.m = m;
    st.io = io;
    st.p = lam_model_param_count(m);
    st.hist = d->history;
    lam_ctx *ctx = m->ctx;
    size_t p = (size_t)st.p, h = (size_t)st.hist;
    /* (history * P) is checked against size_t before it is used */
    int too_big = p > SIZE_MAX / sizeof(float) / (2 * h + 5);
    if (!too_big) {
        st.s = lam_alloc(ctx, h * p * sizeof(float));
        st.y = lam_alloc(ctx, h * p * sizeof(float));
        st.rho = lam_alloc(ctx, h * sizeof(double));
        st.alpha = lam_alloc(ctx, h * sizeof(double));
        st.w = lam_alloc(ctx, p * sizeof(float));
        st.d = lam_alloc(ctx, p * sizeof(float));
        st.g = lam_alloc(ctx, p * sizeof(float));
        st.gt = lam_alloc(ctx, p * sizeof(float));
        st.wt = lam_alloc(ctx, p * sizeof(float));
        st.gd = lam_alloc(ctx, p * sizeof(double));
    }
    void *ps[] = {st.s, st.y, st.rho, st.alpha, st.w, st.d, st.g, st.gt, st.wt, st.gd};
    int missing = too_big;
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        missing |= ps[i] == NULL;
    }
    if (missing) {
        rc = lam__error(ctx, LAM_ERR_NOMEM, "lbfgs: no memory for %d history pairs of %lld "
                        "parameters", st.hist, (long long)st.p);
    } else {
        rc = lb_run(&st, d, t0, rep);
    }
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        lam_free(ctx, ps[i]);
    }
    return rc;
}

lam_status lam_fit_lbfgs(lam_model *m, const lam_lbfgs_desc *d, const lam_array *x,
                         const lam_array *y, lam_fit_report *rep)
{
    static const lam_full_batch_method method = {lb_check, lb_alloc_run};
    return lam__fit_full_batch(m, &method, d, x, y, rep);
}
