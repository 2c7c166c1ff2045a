/*
 * Bias add fused with the activation, and the bias gradient.
 *
 *   y(n, c, hw) = act(y(n, c, hw) + b(c))        (b may be NULL: activation only)
 *   db(c)      += sum over n and hw of dy(n, c, hw)
 *
 * hw = 1 covers linear layers (n, c). The bias is added row by row and the activation
 * runs on spans of about 4 KiB that are still in L1, so y travels from memory once.
 */
#include "kernels.h"

/* Floats per activation span: small enough to stay in L1 after the bias pass. */
#define SPAN 1024

void lam__bias_act(int64_t n, int64_t c, int64_t hw, const float *b, lam_act act, float param,
                   float *y)
{
    const int64_t rows = n * c;
    int64_t span_start = 0; /* first row whose activation is still pending */
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * hw;
        if (b != NULL) {
            const float br = b[r % c];
            for (int64_t i = 0; i < hw; i++) {
                yr[i] += br;
            }
        }
        if (act != LAM_ACT_NONE && ((r + 1 - span_start) * hw >= SPAN || r + 1 == rows)) {
            float *s = y + span_start * hw;
            const int64_t len = (r + 1 - span_start) * hw;
            lam__act_fwd(act, param, len, s, s);
            span_start = r + 1;
        }
    }
}

/* Sum with 8 independent lanes: a fixed order the compiler can vectorise without
 * -ffast-math, and rounding error ~8x smaller than one running sum. */
static float sum_lanes(const float *x, int64_t n)
{
    float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; j++) {
            acc[j] += x[i + j];
        }
    }
    float tail = 0.0f;
    for (; i < n; i++) {
        tail += x[i];
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) +
           tail;
}

void lam__bias_grad(int64_t n, int64_t c, int64_t hw, const float *dy, float *db)
{
    if (hw == 1) {
        /* (n, c) rows: add whole rows, contiguous. */
        for (int64_t i = 0; i < n; i++) {
            const float *r = dy + i * c;
            for (int64_t j = 0; j < c; j++) {
                db[j] += r[j];
            }
        }
        return;
    }
    for (int64_t j = 0; j < c; j++) {
        float s = 0.0f;
        for (int64_t i = 0; i < n; i++) {
            s += sum_lanes(dy + (i * c + j) * hw, hw);
        }
        db[j] += s;
    }
}
