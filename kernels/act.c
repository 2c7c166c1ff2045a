/*
 * Element-wise activations, forward and backward (dx = dy * f'(x)).
 *
 *   relu        f = max(x, 0)                      f' = [x > 0]
 *   leaky relu  f = x > 0 ? x : a*x                f' = x > 0 ? 1 : a        (a = param)
 *   sigmoid     f = 1 / (1 + e^-x)                 f' = f (1 - f)
 *   tanh        f = tanh x                         f' = 1 - f^2
 *   gelu        f = x Phi(x), Phi(x) = (1 + erf(x/sqrt2)) / 2   (exact, PyTorch default)
 *               f' = Phi(x) + x phi(x), phi(x) = e^(-x^2/2) / sqrt(2 pi)
 *   gelu tanh   f = x (1 + tanh u) / 2, u = sqrt(2/pi) (x + 0.044715 x^3)
 *               f' = (1 + tanh u) / 2 + x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 0.044715 x^2) / 2
 *               (with AVX-512 where the CPU has it: transformer_avx512.c)
 *
 * The switch is outside the loops so each loop is a plain, vectorisable pass. NaN inputs
 * propagate (relu keeps NaN as PyTorch does). Backward uses y when given (sigmoid, tanh)
 * and recomputes it from x when y is NULL.
 */
#include <math.h>
#include <string.h>

#include "kernels.h"

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f
#define SQRT_2_PI 0.79788456080286535588f
#define GELU_K 0.044715f

/* Two branches so exp never overflows: e^-|x| is always in (0, 1]. */
static inline float sigmoid_f(float x)
{
    if (x >= 0.0f) {
        return 1.0f / (1.0f + expf(-x));
    }
    const float e = expf(x);
    return e / (1.0f + e);
}

void lam__act_fwd(lam_act act, float param, int64_t n, const float *x, float *y)
{
    switch (act) {
    case LAM_ACT_RELU:
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i];
            y[i] = v < 0.0f ? 0.0f : v;
        }
        break;
    case LAM_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i];
            y[i] = v > 0.0f ? v : param * v;
        }
        break;
    case LAM_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            y[i] = sigmoid_f(x[i]);
        }
        break;
    case LAM_ACT_TANH:
        for (int64_t i = 0; i < n; i++) {
            y[i] = tanhf(x[i]);
        }
        break;
    case LAM_ACT_GELU:
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i];
            y[i] = 0.5f * v * (1.0f + erff(v * INV_SQRT2));
        }
        break;
    case LAM_ACT_GELU_TANH:
        if (lam__best_isa() == LAM_ISA_AVX512) {
            lam__gelu_tanh_fwd_avx512(n, x, y);
            break;
        }
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i];
            y[i] = 0.5f * v * (1.0f + tanhf(SQRT_2_PI * (v + GELU_K * v * v * v)));
        }
        break;
    case LAM_ACT_NONE:
    default:
        if (y != x) {
            memmove(y, x, (size_t)n * sizeof(float));
        }
        break;
    }
}

void lam__act_bwd(lam_act act, float param, int64_t n, const float *x, const float *y,
                  const float *dy, float *dx)
{
    switch (act) {
    case LAM_ACT_RELU:
        /* dy is loaded unconditionally so the select vectorises: the branchy form was a
         * scalar loop with a mispredicted jump per element (10% of a seed-CNN step). */
        for (int64_t i = 0; i < n; i++) {
            const float d = dy[i];
            dx[i] = x[i] > 0.0f ? d : 0.0f;
        }
        break;
    case LAM_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) {
            const float d = dy[i];
            dx[i] = x[i] > 0.0f ? d : param * d;
        }
        break;
    case LAM_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            const float s = y != NULL ? y[i] : sigmoid_f(x[i]);
            dx[i] = dy[i] * s * (1.0f - s);
        }
        break;
    case LAM_ACT_TANH:
        for (int64_t i = 0; i < n; i++) {
            const float t = y != NULL ? y[i] : tanhf(x[i]);
            dx[i] = dy[i] * (1.0f - t * t);
        }
        break;
    case LAM_ACT_GELU:
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i];
            const float cdf = 0.5f * (1.0f + erff(v * INV_SQRT2));
            const float pdf = INV_SQRT_2PI * expf(-0.5f * v * v);
            dx[i] = dy[i] * (cdf + v * pdf);
        }
        break;
    case LAM_ACT_GELU_TANH:
        if (lam__best_isa() == LAM_ISA_AVX512) {
            lam__gelu_tanh_bwd_avx512(n, x, dy, dx);
            break;
        }
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i];
            const float t = tanhf(SQRT_2_PI * (v + GELU_K * v * v * v));
            const float du = SQRT_2_PI * (1.0f + 3.0f * GELU_K * v * v);
            dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
        }
        break;
    case LAM_ACT_NONE:
    default:
        if (dx != dy) {
            memmove(dx, dy, (size_t)n * sizeof(float));
        }
        break;
    }
}
