/*
 * Fused softmax + cross-entropy: fast and ref kernels against a double-precision formula
 * written here (log-sum-exp form), on ordinary and extreme logits (+-1e4, +-1e30, +-FLT_MAX,
 * all equal, one huge and the rest tiny), with and without label smoothing; every output
 * must stay finite. Errors: labels out of range -> LAM_ERR_RANGE, NaN/Inf -> LAM_ERR_NUMERIC,
 * bad smoothing or n -> LAM_ERR_ARG, and a failed call leaves its outputs untouched.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernels.h"

#define SEED 4242u
#define MAXN 64
#define MAXK 12

typedef lam_status (*xent_fn)(int64_t, int64_t, const float *, const int32_t *, float,
                              double *, float *, float *);

/* The expected values from the definition, in long double: log p_j = (x_j - m) - log S
 * with S = sum_j e^(x_j - m), so no term is lost next to a huge m. */
static double expect(int64_t n, int64_t k, const float *x, const int32_t *y, double s,
                     float *dl, float *pr)
{
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *r = x + i * k;
        long double m = r[0];
        for (int64_t j = 1; j < k; j++) {
            m = r[j] > m ? r[j] : m;
        }
        long double sum = 0.0L;
        for (int64_t j = 0; j < k; j++) {
            sum += expl((long double)r[j] - m);
        }
        const long double log_s = logl(sum);
        for (int64_t j = 0; j < k; j++) {
            const long double q = (j == y[i] ? 1.0L - s : 0.0L) + s / (long double)k;
            const long double logp = ((long double)r[j] - m) - log_s;
            total -= (double)(q * logp);
            pr[i * k + j] = (float)expl(logp);
            dl[i * k + j] = (float)((expl(logp) - q) / (long double)n);
        }
    }
    return total / (double)n;
}

static void check_case(const char *name, int64_t n, int64_t k, const float *x,
                       const int32_t *y, float s)
{
    float dl_want[MAXN * MAXK], pr_want[MAXN * MAXK];
    const double loss_want = expect(n, k, x, y, s, dl_want, pr_want);
    const xent_fn fns[2] = {lam__softmax_xent, lam__softmax_xent_ref};
    const char *fn_names[2] = {"fast", "ref"};
    for (int f = 0; f < 2; f++) {
        float dl[MAXN * MAXK], pr[MAXN * MAXK];
        double loss = NAN;
        char what[160];
        lam_status st = fns[f](n, k, x, y, s, &loss, dl, pr);
        snprintf(what, sizeof what, "softmax_xent %s %s s=%g", fn_names[f], name, (double)s);
        if (!T_CHECK(st == LAM_OK, "%s: status %d", what, (int)st)) {
            continue;
        }
        int finite = isfinite(loss);
        for (int64_t i = 0; i < n * k; i++) {
            finite &= isfinite(dl[i]) && isfinite(pr[i]);
        }
        T_CHECK(finite, "%s: non-finite output (loss %g)", what, loss);
        T_CHECK(fabs(loss - loss_want) <= 1e-9 + 1e-9 * fabs(loss_want),
                "%s: loss %.17g want %.17g", what, loss, loss_want);
        t_close(what, dl, dl_want, n * k, 1e-7, 1e-5);
        t_close(what, pr, pr_want, n * k, 1e-7, 1e-5);
        /* Gradient rows sum to zero: sum p = sum q = 1. */
        double worst = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double rs = 0.0;
            for (int64_t j = 0; j < k; j++) {
                rs += dl[i * k + j];
            }
            worst = fabs(rs) > worst ? fabs(rs) : worst;
        }
        T_CHECK(worst <= 1e-6, "%s: a dlogits row sums to %g", what, worst);
    }
    /* dlogits and probs are optional. */
    double l1 = 0.0, l2 = 0.0;
    float dl[MAXN * MAXK];
    T_CHECK(lam__softmax_xent(n, k, x, y, s, &l1, NULL, NULL) == LAM_OK &&
                lam__softmax_xent(n, k, x, y, s, &l2, dl, NULL) == LAM_OK && l1 == l2,
            "softmax_xent %s: NULL dlogits/probs", name);
}

static void run_cases(float s)
{
    float x[MAXN * MAXK];
    int32_t y[MAXN];
    const int64_t k = 10;

    t_fill_uniform(x, MAXN * k, -5.0f, 5.0f, SEED, 1);
    for (int i = 0; i < MAXN; i++) {
        y[i] = (int32_t)(lam_rng_u64(SEED, 2, (uint64_t)i) % (uint64_t)k);
    }
    check_case("random", MAXN, k, x, y, s);

    for (int j = 0; j < k; j++) {
        x[j] = (j % 2 ? -1e4f : 1e4f) + (float)j;
        x[k + j] = j % 2 ? -1e30f : 1e30f;
        x[2 * k + j] = 7.0f;
        x[3 * k + j] = j == 4 ? 1e30f : 1e-30f;
        x[4 * k + j] = j == 2 ? 1e30f : -1e-30f;
        x[5 * k + j] = j % 2 ? -FLT_MAX : FLT_MAX;
        x[6 * k + j] = -1e30f;
    }
    const int32_t labels[7] = {3, 1, 0, 4, 7, 0, 9};
    check_case("+-1e4", 1, k, x, labels, s);
    check_case("+-1e30 (label on a -1e30)", 1, k, x + k, labels + 1, s);
    check_case("all equal", 1, k, x + 2 * k, labels + 2, s);
    check_case("one huge at the label, rest tiny", 1, k, x + 3 * k, labels + 3, s);
    check_case("one huge off the label", 1, k, x + 4 * k, labels + 4, s);
    check_case("+-FLT_MAX", 1, k, x + 5 * k, labels + 5, s);
    check_case("all -1e30", 1, k, x + 6 * k, labels + 6, s);
    check_case("all extreme rows together", 7, k, x, labels, s);

    double loss = 0.0;
    float dl[MAXK];
    lam__softmax_xent(1, k, x + 2 * k, labels + 2, s, &loss, dl, NULL);
    T_CHECK(fabs(loss - log(10.0)) < 1e-12, "all-equal logits: loss %.17g, want log 10", loss);
    const float one[1] = {3.5f};
    const int32_t zero[1] = {0};
    T_CHECK(lam__softmax_xent(1, 1, one, zero, s, &loss, dl, NULL) == LAM_OK && loss == 0.0 &&
                dl[0] == 0.0f,
            "k == 1: loss 0, gradient 0");
}

static void test_errors(xent_fn f, const char *name)
{
    float x[2 * 3] = {0.5f, 1.0f, -1.0f, 2.0f, 0.0f, 1.0f};
    int32_t y[2] = {0, 2};
    float dl[6], pr[6];
    for (int i = 0; i < 6; i++) {
        dl[i] = pr[i] = 123.0f;
    }
    double loss = 77.0;
    y[1] = 3;
    T_CHECK(f(2, 3, x, y, 0.0f, &loss, dl, pr) == LAM_ERR_RANGE, "%s: label == k", name);
    y[1] = -1;
    T_CHECK(f(2, 3, x, y, 0.0f, &loss, dl, pr) == LAM_ERR_RANGE, "%s: label < 0", name);
    y[1] = 2;
    x[4] = NAN;
    T_CHECK(f(2, 3, x, y, 0.0f, &loss, dl, pr) == LAM_ERR_NUMERIC, "%s: NaN logit", name);
    x[4] = INFINITY;
    T_CHECK(f(2, 3, x, y, 0.0f, &loss, dl, pr) == LAM_ERR_NUMERIC, "%s: +Inf logit", name);
    x[4] = -INFINITY;
    T_CHECK(f(2, 3, x, y, 0.0f, &loss, dl, pr) == LAM_ERR_NUMERIC, "%s: -Inf logit", name);
    x[4] = 0.0f;
    T_CHECK(f(2, 3, x, y, 1.0f, &loss, dl, pr) == LAM_ERR_ARG, "%s: smoothing 1", name);
    T_CHECK(f(2, 3, x, y, -0.1f, &loss, dl, pr) == LAM_ERR_ARG, "%s: smoothing < 0", name);
    T_CHECK(f(2, 3, x, y, NAN, &loss, dl, pr) == LAM_ERR_ARG, "%s: smoothing NaN", name);
    T_CHECK(f(0, 3, x, y, 0.0f, &loss, dl, pr) == LAM_ERR_ARG, "%s: n == 0", name);
    T_CHECK(f(2, 3, x, y, 0.0f, NULL, dl, pr) == LAM_ERR_ARG, "%s: loss NULL", name);
    int untouched = loss == 77.0;
    for (int i = 0; i < 6; i++) {
        untouched &= dl[i] == 123.0f && pr[i] == 123.0f;
    }
    T_CHECK(untouched, "%s: a failed call wrote its outputs", name);
    T_CHECK(f(2, 3, x, y, 0.0f, &loss, dl, pr) == LAM_OK, "%s: valid call after errors", name);
}

int main(void)
{
    printf("test_softmax: seed %u\n", SEED);
    run_cases(0.0f);
    run_cases(0.1f);
    test_errors(lam__softmax_xent, "fast");
    test_errors(lam__softmax_xent_ref, "ref");
    return t_exit("softmax");
}
