/* Parameter initializers (PyTorch 1.13 torch/nn/init.py):
 *   kaiming_uniform  U(-b, b), b = gain * sqrt(3 / fan)        (He et al. 2015)
 *   kaiming_normal   N(0, s^2), s = gain / sqrt(fan)
 *   xavier_uniform   U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))  (Glorot & Bengio 2010)
 *   xavier_normal    N(0, s^2), s = gain * sqrt(2 / (fan_in + fan_out))
 *   orthogonal       gain * Q, Q from the QR of a Gaussian matrix, signs fixed by diag(R)
 *                    (Saxe et al. 2014)
 * Random numbers come from the counter-based Philox stream (ctx seed, stream id, element
 * index), so an initial model depends only on the seed, never on thread count or order.
 * Orthogonal is the one LAPACKE user of the library (design rule: LAPACKE lives in optim/). */
#include "core_internal.h"
#include "lamina/optim.h"

#include <limits.h>
#include <math.h>

#if defined(LAM_HAVE_LAPACKE) && LAM_HAVE_LAPACKE
#include <lapacke.h>
#endif

double lam_init_gain(lam_nonlinearity nl, double param)
{
    switch (nl) {
    case LAM_NL_LINEAR:
    case LAM_NL_SIGMOID: return 1.0;
    case LAM_NL_TANH: return 5.0 / 3.0;
    case LAM_NL_RELU: return sqrt(2.0);
    case LAM_NL_LEAKY_RELU: return sqrt(2.0 / (1.0 + param * param));
    case LAM_NL_SELU: return 0.75;
    default: return NAN;
    }
}

void lam_init_desc_init(lam_init_desc *d, lam_init_kind kind)
{
    if (d == NULL) {
        return;
    }
    d->kind = kind;
    d->gain = (kind == LAM_INIT_KAIMING_UNIFORM || kind == LAM_INIT_KAIMING_NORMAL)
                  ? sqrt(2.0) : 1.0;
    d->mode = LAM_FAN_IN;
    d->a = 0.0;
    d->b = 1.0;
}

static void fill_uniform(float *w, int64_t n, double lo, double hi, uint64_t seed,
                         uint64_t stream)
{
    for (int64_t i = 0; i < n; i++) {
        w[i] = (float)(lo + (hi - lo) * (double)lam_rng_uniform(seed, stream, (uint64_t)i));
    }
}

static void fill_normal(float *w, int64_t n, double mean, double std, uint64_t seed,
                        uint64_t stream)
{
    for (int64_t i = 0; i < n; i++) {
        w[i] = (float)(mean + std * (double)lam_rng_normal(seed, stream, (uint64_t)i));
    }
}

#if defined(LAM_HAVE_LAPACKE) && LAM_HAVE_LAPACKE
/*
 * w is row-major F (rows x cols). LAPACK works column-major on A (m x k, m >= k):
 * A = F when rows >= cols, A = F^T otherwise; the column-major F^T has exactly F's memory
 * layout, which is why no transposed copy appears below. Column-major calls of the
 * LAPACKE *_work functions go straight to LAPACK: no hidden malloc, unlike the row-major
 * ones, and the workspace comes from the context's allocator.
 */
static lam_status orthogonal(lam_ctx *ctx, float *w, int64_t rows, int64_t cols, double gain,
                             uint64_t seed, uint64_t stream)
{
    const int64_t m = rows >= cols ? rows : cols, k = rows >= cols ? cols : rows;
    if (m > INT_MAX || m * k > INT_MAX) {
        return lam__error(ctx, LAM_ERR_RANGE, "init orthogonal: %lld x %lld matrix exceeds "
                          "LAPACK's int", (long long)rows, (long long)cols);
    }
    lapack_int lm = (lapack_int)m, lk = (lapack_int)k;
    float dummy_a = 0.0f, dummy_tau = 0.0f, q1 = 0.0f, q2 = 0.0f;
    /* workspace queries (lwork = -1) read no matrix, so dummies do */
    lapack_int info = LAPACKE_sgeqrf_work(LAPACK_COL_MAJOR, lm, lk, &dummy_a, lm, &dummy_tau,
                                          &q1, -1);
    if (info == 0) {
        info = LAPACKE_sorgqr_work(LAPACK_COL_MAJOR, lm, lk, lk, &dummy_a, lm, &dummy_tau, &q2,
                                   -1);
    }
    if (info != 0) {
        return lam__error(ctx, LAM_ERR_NUMERIC, "init orthogonal: workspace query failed "
                          "(info %d)", (int)info);
    }
    /* the optimum comes back as a float: round up, never below LAPACK's minimum k */
    double want = fmax(fmax((double)q1, (double)q2), (double)k);
    if (want > (double)(INT_MAX / 2)) {
        return lam__error(ctx, LAM_ERR_RANGE, "init orthogonal: workspace of %g floats", want);
    }
    lapack_int lwork = (lapack_int)ceil(want) + 1;
    int64_t total = m * k + 2 * k + (int64_t)lwork;
    float *a = lam__alloc_floats(ctx, total, "init orthogonal");
    if (a == NULL) {
        return LAM_ERR_NOMEM;
    }
    float *tau = a + m * k, *sign = tau + k, *work = sign + k;

    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) {
            int64_t idx = r * cols + c;
            int64_t pos = rows >= cols ? r + c * m : idx;
            a[pos] = lam_rng_normal(seed, stream, (uint64_t)idx);
        }
    }
    lam_status st = LAM_OK;
    info = LAPACKE_sgeqrf_work(LAPACK_COL_MAJOR, lm, lk, a, lm, tau, work, lwork);
    if (info == 0) {
        /* R is unique only up to the signs of its diagonal; fixing them makes Q a
         * Haar-distributed draw (PyTorch: q *= diag(r).sign()) */
        for (int64_t j = 0; j < k; j++) {
            sign[j] = a[j + j * m] < 0.0f ? -1.0f : 1.0f;
        }
        info = LAPACKE_sorgqr_work(LAPACK_COL_MAJOR, lm, lk, lk, a, lm, tau, work, lwork);
    }
    if (info != 0) {
        st = lam__error(ctx, LAM_ERR_NUMERIC, "init orthogonal: LAPACK QR of %lld x %lld "
                        "failed (info %d)", (long long)m, (long long)k, (int)info);
    } else {
        const float g = (float)gain;
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t c = 0; c < cols; c++) {
                int64_t idx = r * cols + c;
                int64_t pos = rows >= cols ? r + c * m : idx;
                int64_t col_of_q = rows >= cols ? c : r;
                w[idx] = g * (sign[col_of_q] * a[pos]);
            }
        }
    }
    lam_free(ctx, a);
    return st;
}
#endif

static lam_status check_fan(lam_ctx *ctx, const char *which, int64_t fan)
{
    if (fan <= 0) {
        return lam__error(ctx, LAM_ERR_ARG, "init: %s = %lld, must be > 0", which,
                          (long long)fan);
    }
    return LAM_OK;
}

static lam_status check_scale(lam_ctx *ctx, const char *which, double v)
{
    if (!isfinite(v) || v < 0.0) {
        return lam__error(ctx, LAM_ERR_ARG, "init: %s = %g, must be finite and >= 0", which, v);
    }
    return LAM_OK;
}

lam_status lam_init_fill(lam_ctx *ctx, const lam_init_desc *d, float *w, int64_t n,
                         int64_t fan_in, int64_t fan_out, uint64_t stream)
{
    if (ctx == NULL) {
        return LAM_ERR_ARG;
    }
    if (d == NULL || w == NULL || n < 1) {
        return lam__error(ctx, LAM_ERR_ARG, "init: %s", d == NULL ? "desc is NULL"
                          : w == NULL ? "w is NULL" : "n must be >= 1");
    }
    const uint64_t seed = lam_ctx_seed(ctx);
    lam_status st = LAM_OK;
    switch (d->kind) {
    case LAM_INIT_CONSTANT:
        if (!isfinite(d->a)) {
            return lam__error(ctx, LAM_ERR_ARG, "init constant: value %g is not finite", d->a);
        }
        for (int64_t i = 0; i < n; i++) {
            w[i] = (float)d->a;
        }
        return LAM_OK;
    case LAM_INIT_UNIFORM:
        if (!isfinite(d->a) || !isfinite(d->b) || d->a > d->b) {
            return lam__error(ctx, LAM_ERR_ARG, "init uniform: bounds [%g, %g) invalid", d->a,
                              d->b);
        }
        fill_uniform(w, n, d->a, d->b, seed, stream);
        return LAM_OK;
    case LAM_INIT_NORMAL:
        if (!isfinite(d->a)) {
            return lam__error(ctx, LAM_ERR_ARG, "init normal: mean %g is not finite", d->a);
        }
        if ((st = check_scale(ctx, "normal std", d->b)) != LAM_OK) {
            return st;
        }
        fill_normal(w, n, d->a, d->b, seed, stream);
        return LAM_OK;
    case LAM_INIT_KAIMING_UNIFORM:
    case LAM_INIT_KAIMING_NORMAL: {
        if (d->mode != LAM_FAN_IN && d->mode != LAM_FAN_OUT) {
            return lam__error(ctx, LAM_ERR_ARG, "init kaiming: unknown fan mode %d",
                              (int)d->mode);
        }
        int64_t fan = d->mode == LAM_FAN_IN ? fan_in : fan_out;
        if ((st = check_fan(ctx, d->mode == LAM_FAN_IN ? "fan_in" : "fan_out", fan)) != LAM_OK ||
            (st = check_scale(ctx, "kaiming gain", d->gain)) != LAM_OK) {
            return st;
        }
        double std = d->gain / sqrt((double)fan);
        if (d->kind == LAM_INIT_KAIMING_UNIFORM) {
            double bound = sqrt(3.0) * std;
            fill_uniform(w, n, -bound, bound, seed, stream);
        } else {
            fill_normal(w, n, 0.0, std, seed, stream);
        }
        return LAM_OK;
    }
    case LAM_INIT_XAVIER_UNIFORM:
    case LAM_INIT_XAVIER_NORMAL: {
        if ((st = check_fan(ctx, "fan_in", fan_in)) != LAM_OK ||
            (st = check_fan(ctx, "fan_out", fan_out)) != LAM_OK ||
            (st = check_scale(ctx, "xavier gain", d->gain)) != LAM_OK) {
            return st;
        }
        double std = d->gain * sqrt(2.0 / ((double)fan_in + (double)fan_out));
        if (d->kind == LAM_INIT_XAVIER_UNIFORM) {
            double bound = sqrt(3.0) * std;
            fill_uniform(w, n, -bound, bound, seed, stream);
        } else {
            fill_normal(w, n, 0.0, std, seed, stream);
        }
        return LAM_OK;
    }
    case LAM_INIT_ORTHOGONAL:
        if ((st = check_fan(ctx, "fan_in", fan_in)) != LAM_OK ||
            (st = check_scale(ctx, "orthogonal gain", d->gain)) != LAM_OK) {
            return st;
        }
        if (n % fan_in != 0) {
            return lam__error(ctx, LAM_ERR_ARG, "init orthogonal: n = %lld is not a multiple "
                              "of fan_in = %lld", (long long)n, (long long)fan_in);
        }
#if defined(LAM_HAVE_LAPACKE) && LAM_HAVE_LAPACKE
        return orthogonal(ctx, w, n / fan_in, fan_in, d->gain, seed, stream);
#else
        return lam__error(ctx, LAM_ERR_ARG, "init orthogonal: lamina was built without "
                          "LAPACKE (meson option lapacke)");
#endif
    default:
        return lam__error(ctx, LAM_ERR_ARG, "init: unknown kind %d", (int)d->kind);
    }
}

lam_status lam_init_param(lam_ctx *ctx, const lam_init_desc *d, const lam_param *p,
                          uint64_t stream)
{
    if (p == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "init: param is NULL");
    }
    return lam_init_fill(ctx, d, p->w, p->n, p->fan_in, p->fan_out, stream);
}

lam_status lam_init_torch_default(lam_ctx *ctx, const lam_param *p, int64_t fan_in,
                                  uint64_t stream)
{
    if (p == NULL) {
        return lam__error(ctx, LAM_ERR_ARG, "init torch_default: param is NULL");
    }
    if (fan_in <= 0) {
        return lam__error(ctx, LAM_ERR_ARG, "init torch_default: %s: fan_in = %lld, must be > 0",
                          p->name != NULL ? p->name : "unnamed", (long long)fan_in);
    }
    /* kaiming_uniform(a = sqrt(5)): gain sqrt(2 / 6), bound sqrt(3) * gain / sqrt(fan_in),
     * which is 1 / sqrt(fan_in); the bias bound is the same */
    double bound = 1.0 / sqrt((double)fan_in);
    lam_init_desc d;
    lam_init_desc_init(&d, LAM_INIT_UNIFORM);
    d.a = -bound;
    d.b = bound;
    return lam_init_fill(ctx, &d, p->w, p->n, fan_in, p->fan_out, stream);
}
