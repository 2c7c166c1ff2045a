/*
 * Activation twins in double precision (rounded to float once at the end):
 *
 *   relu       f = x < 0 ? 0 : x               f' = [x > 0]
 *   leaky      f = x > 0 ? x : a x             f' = x > 0 ? 1 : a
 *   sigmoid    f = 1 / (1 + e^-x)              f' = f (1 - f)
 *   tanh       f = tanh x                      f' = 1 - f^2
 *   gelu       f = x (1 + erf(x / sqrt 2)) / 2 f' = (1 + erf(x/sqrt 2))/2 + x e^(-x^2/2)/sqrt(2 pi)
 *   gelu tanh  f = x (1 + tanh u) / 2          f' = (1 + tanh u)/2 + x (1 - tanh^2 u) u'/2
 *              u = sqrt(2/pi) (x + 0.044715 x^3)
 *   none       f = x                           f' = 1
 * The references always recompute f from x (y is ignored in backward).
 */
#include <math.h>

#include "kernels.h"

#define GELU_C 0.79788456080286535588 /* sqrt(2/pi) */
#define GELU_K 0.044715

static double f_of(lam_act act, double a, double x)
{
    switch (act) {
    case LAM_ACT_RELU:
        return x < 0.0 ? 0.0 : x;
    case LAM_ACT_LEAKY_RELU:
        return x > 0.0 ? x : a * x;
    case LAM_ACT_SIGMOID:
        return 1.0 / (1.0 + exp(-x));
    case LAM_ACT_TANH:
        return tanh(x);
    case LAM_ACT_GELU:
        return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case LAM_ACT_GELU_TANH:
        return 0.5 * x * (1.0 + tanh(GELU_C * (x + GELU_K * x * x * x)));
    case LAM_ACT_NONE:
    default:
        return x;
    }
}

static double df_of(lam_act act, double a, double x)
{
    switch (act) {
    case LAM_ACT_RELU:
        return x > 0.0 ? 1.0 : 0.0;
    case LAM_ACT_LEAKY_RELU:
        return x > 0.0 ? 1.0 : a;
    case LAM_ACT_SIGMOID: {
        const double s = 1.0 / (1.0 + exp(-x));
        return s * (1.0 - s);
    }
    case LAM_ACT_TANH: {
        const double t = tanh(x);
        return 1.0 - t * t;
    }
    case LAM_ACT_GELU:
        return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / 2.50662827463100050242;
    case LAM_ACT_GELU_TANH: {
        const double t = tanh(GELU_C * (x + GELU_K * x * x * x));
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_K * x * x);
    }
    case LAM_ACT_NONE:
    default:
        return 1.0;
    }
}

void lam__act_fwd_ref(lam_act act, float param, int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = (float)f_of(act, param, x[i]);
    }
}

void lam__act_bwd_ref(lam_act act, float param, int64_t n, const float *x, const float *y,
                      const float *dy, float *dx)
{
    (void)y;
    for (int64_t i = 0; i < n; i++) {
        /* For relu/leaky the double product dy*a is exact, so one rounding gives the
         * same float as the fast path's float product. A zero slope gives +0, not the
         * -0 of dy*0 with dy < 0. */
        const double d = df_of(act, param, x[i]);
        dx[i] = d == 0.0 ? 0.0f : (float)((double)dy[i] * d);
    }
}
