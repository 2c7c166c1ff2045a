/*
 * Softmax cross-entropy twin, textbook form in double:
 *   m = max_j x_j,  log p_j = (x_j - m) - log sum_l e^(x_l - m)
 *   (x_j - m first: m + log S would round the log away when |m| ~ 1e30)
 *   q_j = (1 - s)[j == y] + s/k
 *   loss = (1/n) sum_i -sum_j q_j log p_j,  dlogits_j = (p_j - q_j)/n
 * Same argument checks and status codes as the fast kernel.
 */
#include <math.h>

#include "kernels.h"

lam_status lam__softmax_xent_ref(int64_t n, int64_t k, const float *logits,
                                 const int32_t *labels, float smoothing, double *loss,
                                 float *dlogits, float *probs)
{
    if (n < 1 || k < 1 || logits == NULL || labels == NULL || loss == NULL ||
        !(smoothing >= 0.0f && smoothing < 1.0f)) {
        return LAM_ERR_ARG;
    }
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= k) {
            return LAM_ERR_RANGE;
        }
    }
    for (int64_t i = 0; i < n * k; i++) {
        if (!isfinite(logits[i])) {
            return LAM_ERR_NUMERIC;
        }
    }
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *x = logits + i * k;
        double m = x[0];
        for (int64_t j = 1; j < k; j++) {
            if (x[j] > m) {
                m = x[j];
            }
        }
        double sum = 0.0;
        for (int64_t j = 0; j < k; j++) {
            sum += exp((double)x[j] - m);
        }
        const double log_s = log(sum);
        for (int64_t j = 0; j < k; j++) {
            const double q = (j == labels[i] ? 1.0 - smoothing : 0.0) + (double)smoothing / k;
            const double logp = ((double)x[j] - m) - log_s;
            const double p = exp(logp);
            total -= q * logp;
            if (probs != NULL) {
                probs[i * k + j] = (float)p;
            }
            if (dlogits != NULL) {
                dlogits[i * k + j] = (float)((p - q) / (double)n);
            }
        }
    }
    *loss = total / (double)n;
    return LAM_OK;
}
