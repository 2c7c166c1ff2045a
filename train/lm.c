/*
 * Levenberg-Marquardt for small full-batch regression networks (Levenberg 1944, Marquardt
 * 1963; the damping as MATLAB's trainlm, plus Marquardt's diagonal scaling).
 *
 * Residuals r = f(x_i; w) - y_i over all N samples and K outputs (R = N*K of them), loss
 * E(w) = sum r^2 / R (the MSE). With the Jacobian J (R x P, dr/dw), each iteration solves
 *
 *     (J^T J + mu diag(J^T J) + mu I) dw = -J^T r
 *
 * and tries w + dw: if the loss drops the step is kept and mu shrinks (towards Gauss-Newton),
 * otherwise the weights are restored and mu grows (towards a short gradient step). The
 * default factors (x2 on reject, /3 on accept) are those of Transtrum & Sethna (2012).
 *
 * Jacobian: row (i, k) is the gradient of output k of sample i, from a batch-1 forward and
 * a backward with dy = e_k. Rows are collected LM_ROWS at a time and folded into J^T J and
 * J^T r, so J is never stored whole: memory is 2 P^2 doubles + P^2 floats + LM_ROWS P
 * doubles, not R P.
 *
 * Precision: the damped matrix reaches condition numbers of 1e6..1e8 once mu is small, and
 * a float solve then loses every digit of the step (measured: float J^T J and a float solve
 * leave the 4-32-32-1 example at 7e-4 after 100 iterations, double at 1e-4 or below). So
 * J^T J and J^T r are accumulated in double (dsyrk, the dominant cost: R P^2 / 2
 * multiply-adds). The system is solved as LAPACK's dsposv does: factorised in float by
 * LAPACKE spotrf, solved by spotrs with iterative refinement in double (lm_solve_float);
 * when spotrf fails (info > 0: not positive definite in float) or refinement cannot
 * converge, factorised in double by dpotrf; when that fails too (not positive definite
 * even in double), mu grows and the next iteration retries. Every step is judged by the
 * true loss.
 */
#include "fit_internal.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#if defined(LAM_HAVE_LAPACKE) && LAM_HAVE_LAPACKE
#include <lapacke.h>
#endif

#define LM_ROWS 256     /* Jacobian rows per J^T J update: a GEMM with k = 256 runs near peak */
#define LM_MU_MIN 1e-15 /* floor: mu reaching 0 could never grow again */
#define LM_REFINE 10    /* refinement rounds of a solve at most */

void lam_lm_desc_init(lam_lm_desc *d)
{
    if (d == NULL) {
        return;
    }
    memset(d, 0, sizeof *d);
    d->max_iters = 100;
    d->mu0 = 1e-3;
    /* Transtrum & Sethna's "delayed gratification" (arXiv:1201.5885): raise mu slowly and
     * lower it slowly. On the 4-32-32-1 example it reaches a 7x lower loss in 100 iterations
     * than trainlm's (10, 0.1), which set it back to the same trade-off every other step. */
    d->mu_up = 2.0;
    d->mu_down = 1.0 / 3.0;
    d->mu_max = 1e10;
    d->tol = 1e-12;
    d->max_seconds = 0.0;
}

static int finite_pos(double v)
{
    return v > 0.0 && isfinite(v);
}

static lam_status lm_check(lam_model *m, const lam_lm_desc *d, const lam_array *x,
                           const lam_array *y)
{
    lam_ctx *ctx = m->ctx;
    if (d == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "lm: desc is NULL");
    }
    if (d->max_iters < 1 || !finite_pos(d->mu0) || !(d->mu_up > 1.0 && isfinite(d->mu_up)) ||
        !(d->mu_down > 0.0 && d->mu_down < 1.0) || !(d->mu_max >= d->mu0 && d->mu_max < INFINITY)
        || !(d->tol >= 0.0 && isfinite(d->tol)) ||
        !(d->max_seconds >= 0.0 && isfinite(d->max_seconds))) {
        return lam__error(ctx, LAM_ERR_ARG, "lm: need max_iters >= 1, mu0 > 0, mu_up > 1, "
                          "0 < mu_down < 1, mu0 <= mu_max finite, tol >= 0, max_seconds >= 0");
    }
    return lam__fit_check_full_batch(m, x, y, "lm");
}

#if defined(LAM_HAVE_LAPACKE) && LAM_HAVE_LAPACKE

typedef struct lm_work {
    int64_t p;     /* parameters */
    double *a;     /* J^T J (p, p), full symmetric after lm_normal_equations */
    float *fac;    /* float Cholesky factor of the damped system (p, p) */
    double *dfac;  /* double Cholesky factor, when the float one is not enough (p, p) */
    double *jd;    /* Jacobian rows waiting to be folded in (LM_ROWS, p) */
    double *rc;    /* their residuals */
    double *g;     /* J^T r (p) */
    double *x;     /* refined solution (p) */
    double *res;   /* its residual (p) */
    float *dw;     /* spotrs right-hand side and solution, then the step (p) */
    float *w0;     /* the accepted weights (p) */
    float *f;      /* one sample's outputs (K) */
    float *e;      /* unit output gradient (K) */
    lam_status (*syrk)(int64_t, int64_t, const double *, int64_t, double, double *, int64_t);
} lm_work;

static void lm_free(lam_ctx *ctx, lm_work *w)
{
    void *ps[] = {w->a, w->fac, w->dfac, w->jd, w->rc, w->g,
                  w->x, w->res, w->dw, w->w0, w->f, w->e};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        lam_free(ctx, ps[i]);
    }
}

static lam_status lm_alloc(lam_ctx *ctx, int64_t p, int64_t k, lm_work *w)
{
    memset(w, 0, sizeof *w);
    w->p = p;
    /* --ref runs the naive twin, as every kernel of the library */
    w->syrk = ctx->cfg.kernels == LAM_KERNELS_REF ? lam__dsyrk_tn_ref : lam__dsyrk_tn;
    size_t pp = (size_t)p * (size_t)p, sp = (size_t)p;
    w->a = lam_alloc(ctx, pp * sizeof(double));
    w->fac = lam_alloc(ctx, pp * sizeof(float));
    w->dfac = lam_alloc(ctx, pp * sizeof(double));
    w->jd = lam_alloc(ctx, LM_ROWS * sp * sizeof(double));
    w->rc = lam_alloc(ctx, LM_ROWS * sizeof(double));
    w->g = lam_alloc(ctx, sp * sizeof(double));
    w->x = lam_alloc(ctx, sp * sizeof(double));
    w->res = lam_alloc(ctx, sp * sizeof(double));
    w->dw = lam_alloc(ctx, sp * sizeof(float));
    w->w0 = lam_alloc(ctx, sp * sizeof(float));
    w->f = lam_alloc(ctx, (size_t)k * sizeof(float));
    w->e = lam_alloc(ctx, (size_t)k * sizeof(float));
    if (!w->a || !w->fac || !w->dfac || !w->jd || !w->rc || !w->g || !w->x || !w->res || !w->dw ||
        !w->w0 || !w->f || !w->e) {
        lm_free(ctx, w);
        return lam__error(ctx, LAM_ERR_NOMEM, "lm: no memory for a %lld x %lld normal matrix",
                          (long long)p, (long long)p);
    }
    return LAM_OK;
}

/* A += Jc^T Jc (upper triangle) and g += Jc^T rc for the `rows` waiting rows. */
static lam_status lm_fold(lam_model *m, lm_work *w, int64_t rows)
{
    const int64_t p = w->p;
    lam_status st = w->syrk(p, rows, w->jd, p, 1.0, w->a, p);
    if (st != LAM_OK) {
        return lam__error(m->ctx, st, "lm: J^T J update refused (%lld parameters)",
                          (long long)p);
    }
    for (int64_t r = 0; r < rows; r++) {
        const double *row = w->jd + r * p;
        const double res = w->rc[r];
        for (int64_t j = 0; j < p; j++) {
            w->g[j] += row[j] * res;
        }
    }
    return LAM_OK;
}

/* J^T J and J^T r at the current weights, from per-sample backward passes. */
static lam_status lm_normal_equations(lam_model *m, lam_fit_io *io, lm_work *w)
{
    const int64_t p = w->p, k = io->out;
    memset(w->a, 0, (size_t)(p * p) * sizeof(double));
    memset(w->g, 0, (size_t)p * sizeof(double));
    int64_t rows = 0;
    for (int64_t i = 0; i < io->n; i++) {
        lam__fit_io_gather(io, i, 1);
        const float *f = NULL;
        lam_status st = lam_model_forward(m, io->xb, 1, 1, &f);
        if (st != LAM_OK) {
            return st;
        }
        /* backward may reuse buffers, so keep the outputs first */
        memcpy(w->f, f, (size_t)k * sizeof(float));
        for (int64_t o = 0; o < k; o++) {
            memset(w->e, 0, (size_t)k * sizeof(float));
            w->e[o] = 1.0f;
            lam_model_zero_grad(m);
            st = lam__model_backward_dy(m, w->e);
            if (st != LAM_OK) {
                return st;
            }
            double *row = w->jd + rows * p;
            for (int j = 0; j < m->n_params; j++) {
                const float *g = m->params[j].g;
                for (int64_t e = 0; e < m->params[j].n; e++) {
                    row[e] = (double)g[e];
                }
                row += m->params[j].n;
            }
            w->rc[rows] = (double)w->f[o] - (double)io->yb[o];
            if (++rows == LM_ROWS) {
                st = lm_fold(m, w, rows);
                if (st != LAM_OK) {
                    return st;
                }
                rows = 0;
            }
        }
    }
    lam_model_zero_grad(m);
    lam_status st = rows > 0 ? lm_fold(m, w, rows) : LAM_OK;
    for (int64_t i = 0; st == LAM_OK && i < p; i++) {
        if (!isfinite(w->g[i]) || !isfinite(w->a[i * p + i])) {
            st = lam__error(m->ctx, LAM_ERR_NUMERIC, "lm: non-finite Jacobian");
        }
        for (int64_t j = 0; j < i; j++) {
            w->a[i * p + j] = w->a[j * p + i]; /* mirror: the solver reads full rows */
        }
    }
    return st;
}

/*
 * Solve (A + mu diag(A) + mu I) x = -g. The system is rounded to float and factorised by
 * spotrf (half the time and memory traffic of dpotrf); spotrs then serves as the
 * preconditioner of iterative refinement against the double system, as LAPACK's dsposv:
 * each round costs one P^2 product in double and gains about 7 digits while
 * cond * 2^-24 < 1. Returns 0 (w->dw holds the step), 1 when the float factorisation fails
 * (not positive definite) or cannot reach a residual of 1e-6 (too ill-conditioned at this
 * damping): the caller then raises mu; -1 on a LAPACK argument error.
 */
static int lm_solve_float(lm_work *w, double mu)
{
    const int64_t p = w->p;
    for (int64_t i = 0; i < p; i++) {
        const double *ar = w->a + i * p;
        float *fr = w->fac + i * p;
        for (int64_t j = 0; j < p; j++) {
            fr[j] = (float)ar[j];
        }
        fr[i] = (float)(ar[i] + mu * ar[i] + mu);
    }
    /* The matrix is symmetric, so its row-major storage is also its column-major storage.
     * Column-major *_work calls go straight to LAPACK (no hidden allocation). */
    const lapack_int n = (lapack_int)p;
    lapack_int info = LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'L', n, w->fac, n);
    if (info != 0) {
        return info > 0 ? 1 : -1;
    }
    double bn = 0.0, rn = 0.0;
    for (int64_t i = 0; i < p; i++) {
        w->x[i] = 0.0;
        w->res[i] = -w->g[i];
        bn += w->g[i] * w->g[i];
    }
    rn = bn;
    for (int it = 0; it < LM_REFINE && rn > 1e-24 * bn; it++) {
        for (int64_t i = 0; i < p; i++) {
            w->dw[i] = (float)w->res[i];
        }
        info = LAPACKE_spotrs_work(LAPACK_COL_MAJOR, 'L', n, 1, w->fac, n, w->dw, n);
        if (info != 0) {
            return -1;
        }
        double prev = rn;
        rn = 0.0;
        for (int64_t i = 0; i < p; i++) {
            w->x[i] += (double)w->dw[i];
        }
        for (int64_t i = 0; i < p; i++) {
            const double *ar = w->a + i * p;
            double acc = -w->g[i] - (mu * ar[i] + mu) * w->x[i];
            for (int64_t j = 0; j < p; j++) {
                acc -= ar[j] * w->x[j];
            }
            w->res[i] = acc;
            rn += acc * acc;
        }
        if (!(rn < 0.25 * prev)) {
            break; /* stalled or diverging: the float factor is too far off */
        }
    }
    if (!(rn <= 1e-12 * bn)) {
        return 1;
    }
    for (int64_t i = 0; i < p; i++) {
        w->dw[i] = (float)w->x[i];
    }
    return 0;
}

/* The same system factorised in double (dpotrf/dpotrs). Returns 0, 1 (not positive definite
 * in double either: only more damping helps) or -1. */
static int lm_solve_double(lm_work *w, double mu)
{
    const int64_t p = w->p;
    memcpy(w->dfac, w->a, (size_t)(p * p) * sizeof(double));
    for (int64_t i = 0; i < p; i++) {
        double aii = w->a[i * p + i];
        w->dfac[i * p + i] = aii + mu * aii + mu;
        w->x[i] = -w->g[i];
    }
    const lapack_int n = (lapack_int)p;
    lapack_int info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', n, w->dfac, n);
    if (info != 0) {
        return info > 0 ? 1 : -1;
    }
    info = LAPACKE_dpotrs_work(LAPACK_COL_MAJOR, 'L', n, 1, w->dfac, n, w->x, n);
    if (info != 0) {
        return -1;
    }
    for (int64_t i = 0; i < p; i++) {
        w->dw[i] = (float)w->x[i];
    }
    return 0;
}

/* As LAPACK's dsposv: the float factorisation with refinement first (half the work), the
 * double one when float is too coarse for this damping. Near a minimum mu must go small
 * and the float factor fails more and more often; without the double fallback those trials
 * only raise mu (measured on the README example: test MSE 5.3e-7 after 500 iterations with
 * 242 unsolvable trials, against 8.8e-8 with the fallback). */
static int lm_solve(lm_work *w, double mu)
{
    int rc = lm_solve_float(w, mu);
    if (rc == 1) {
        rc = lm_solve_double(w, mu);
    }
    return rc;
}

/* w = w0 + dw into the model's parameters. */
static void lm_apply(lam_model *m, const lm_work *w)
{
    const float *w0 = w->w0, *dw = w->dw;
    for (int i = 0; i < m->n_params; i++) {
        float *pw = m->params[i].w;
        for (int64_t e = 0; e < m->params[i].n; e++) {
            pw[e] = w0[e] + dw[e];
        }
        w0 += m->params[i].n;
        dw += m->params[i].n;
    }
}

static lam_status lm_run(lam_model *m, const lam_lm_desc *d, lam_fit_io *io, lm_work *w,
                         double t0, lam_fit_report *rep)
{
    lam__params_get(m, w->w0);
    double loss = 0.0, mu = d->mu0;
    lam_status st = lam__fit_mse(m, io, NULL, &loss);
    rep->evaluations = 1;
    int need_j = 1;
    while (st == LAM_OK && rep->steps < d->max_iters && loss > 0.0) {
        if (d->max_seconds > 0.0 && lam_time_now() - t0 >= d->max_seconds) {
            break;
        }
        if (need_j) {
            st = lm_normal_equations(m, io, w);
            if (st != LAM_OK) {
                break;
            }
            need_j = 0;
        }
        rep->steps++;
        int rc = lm_solve(w, mu);
        if (rc < 0) {
            st = lam__error(m->ctx, LAM_ERR_NUMERIC, "lm: LAPACK refused the damped system");
            break;
        }
        double trial = INFINITY;
        if (rc == 0) {
            lm_apply(m, w);
            st = lam__fit_mse(m, io, NULL, &trial);
            rep->evaluations++;
            if (st == LAM_ERR_NUMERIC) {
                /* a step into overflow is a rejected step, not a failure */
                lam__clear_error(m->ctx);
                st = LAM_OK;
                trial = INFINITY;
            }
        }
        if (st != LAM_OK) {
            break;
        }
        /* one info line per iteration through the context's log hook (progress for hosts) */
        lam__log(m->ctx, 2, "lm: iteration %lld: mse %.6g, trial %.6g (%s), mu %.3g",
                 (long long)rep->steps, loss, trial,
                 rc != 0 ? "not solvable" : trial < loss ? "accepted" : "rejected", mu);
        if (trial < loss) {
            double rel = (loss - trial) / loss;
            loss = trial;
            lam__params_get(m, w->w0);
            mu = fmax(mu * d->mu_down, LM_MU_MIN);
            need_j = 1;
            if (rel < d->tol) {
                break;
            }
        } else {
            lam__params_set(m, w->w0);
            mu *= d->mu_up;
            if (mu > d->mu_max) {
                break;
            }
        }
    }
    lam__params_set(m, w->w0);
    rep->final_loss = loss;
    return st;
}

#endif

/* The method's settings and arrays, then (with LAPACKE) whether P^2 floats and LAPACK's int
 * can hold the normal equations. */
static lam_status lm_check_all(lam_model *m, const void *desc, const lam_array *x,
                               const lam_array *y)
{
    lam_status st = lm_check(m, desc, x, y);
    if (st != LAM_OK) {
        return st;
    }
#if defined(LAM_HAVE_LAPACKE) && LAM_HAVE_LAPACKE
    const int64_t p = lam_model_param_count(m);
    int64_t pp;
    if (p < 1 || p > INT_MAX || lam__mul_i64(p, p, &pp) != 0 ||
        pp > (int64_t)(SIZE_MAX / sizeof(float))) {
        return lam__error(m->ctx, p < 1 ? LAM_ERR_ARG : LAM_ERR_RANGE,
                          "lm: %lld parameters (needs 1 .. LAPACK's int, and P^2 floats)",
                          (long long)p);
    }
    return LAM_OK;
#else
    return lam__error(m->ctx, LAM_ERR_ARG, "lm: lamina was built without LAPACKE (meson "
                      "option lapacke); Levenberg-Marquardt needs its Cholesky solver");
#endif
}

/* The work arrays, then the iterations (lam__fit_full_batch owns io). */
static lam_status lm_alloc_run(lam_model *m, const void *desc, lam_fit_io *io, double t0,
                               lam_fit_report *rep)
{
#if defined(LAM_HAVE_LAPACKE) && LAM_HAVE_LAPACKE
    lm_work w;
    lam_status st = lm_alloc(m->ctx, lam_model_param_count(m), io->out, &w);
    if (st == LAM_OK) {
        st = lm_run(m, desc, io, &w, t0, rep);
        lm_free(m->ctx, &w);
    }
    return st;
#else
    (void)desc;
    (void)io;
    (void)t0;
    (void)rep;
    return lam__error(m->ctx, LAM_ERR_ARG, "lm: built without LAPACKE");
#endif
}

lam_status lam_fit_lm(lam_model *m, const lam_lm_desc *d, const lam_array *x,
                      const lam_array *y, lam_fit_report *rep)
{
    static const lam_full_batch_method method = {lm_check_all, lm_alloc_run};
    return lam__fit_full_batch(m, &method, d, x, y, rep);
}
