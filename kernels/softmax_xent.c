/*
 * Softmax + cross-entropy with label smoothing, fused (loss and gradient in one pass).
 *
 * Row i, logits x(k), label y, smoothing s, q_j = (1 - s)[j == y] + s/k, m = max_j x_j:
 *   S      = sum_j e^(x_j - m)                       (every term in (0, 1]: no overflow)
 *   loss_i = -sum_j q_j log p_j = log S + sum_j q_j (m - x_j)
 *            (every term >= 0: no cancellation even for logits near 1e30)
 *   p_j    = e^(x_j - m) / S,   dlogits_j = (p_j - q_j) / n
 *   loss   = mean_i loss_i, accumulated in double.
 * Inputs are validated before anything is written, so a failed call leaves outputs alone.
 */
#include <math.h>

#include "kernels.h"

/* e^(x_j - m) of a row's first EXP_KEEP logits is kept from the sum for the gradient:
 * exp was most of the loss's time (two per logit; 34 us of a 3.5 ms MLP step at batch 256). */
#define EXP_KEEP 64

lam_status lam__softmax_xent(int64_t n, int64_t k, const float *logits, const int32_t *labels,
                             float smoothing, double *loss, float *dlogits, float *probs)
{
    if (n < 1 || k < 1 || logits == NULL || labels == NULL || loss == NULL ||
        !(smoothing >= 0.0f && smoothing < 1.0f)) {
        return LAM_ERR_ARG;
    }
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0 || (int64_t)labels[i] >= k) {
            return LAM_ERR_RANGE;
        }
    }
    for (int64_t i = 0; i < n * k; i++) {
        if (!isfinite(logits[i])) {
            return LAM_ERR_NUMERIC;
        }
    }
    const double s = smoothing, off = s / (double)k, inv_n = 1.0 / (double)n;
    double total = 0.0, kept[EXP_KEEP];
    for (int64_t i = 0; i < n; i++) {
        const float *x = logits + i * k;
        const int64_t y = labels[i];
        float m = x[0];
        for (int64_t j = 1; j < k; j++) {
            m = x[j] > m ? x[j] : m;
        }
        /* Differences in double: x_j - m of two finite floats can overflow float. */
        double sum = 0.0, gap = 0.0;
        for (int64_t j = 0; j < k; j++) {
            const double d = (double)m - (double)x[j];
            const double e = exp(-d);
            if (j < EXP_KEEP) {
                kept[j] = e;
            }
            sum += e;
            gap += d;
        }
        const double log_s = log(sum);
        total += log_s + (1.0 - s) * ((double)m - (double)x[y]) + off * gap;
        if (dlogits == NULL && probs == NULL) {
            continue;
        }
        const double inv_sum = 1.0 / sum;
        for (int64_t j = 0; j < k; j++) {
            /* -d == x_j - m exactly (negation is exact), so a kept e is the same bits */
            const double p = (j < EXP_KEEP ? kept[j] : exp((double)x[j] - (double)m)) * inv_sum;
            const double q = (j == y ? 1.0 - s : 0.0) + off;
            if (probs != NULL) {
                probs[i * k + j] = (float)p;
            }
            if (dlogits != NULL) {
                dlogits[i * k + j] = (float)((p - q) * inv_n);
            }
        }
    }
    *loss = total * inv_n;
    return LAM_OK;
}
