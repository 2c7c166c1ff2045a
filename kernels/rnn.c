/*
 * The recurrence of rnn, lstm and gru layers: one direction of one layer over rows
 * [r0, r1) of a time-major batch, all steps (layers/rnn.c runs the input projections, the
 * weight gradients and the batch chunks around it).
 *
 * Why rows of a batch are the unit: the recurrence of one sequence does not depend on any
 * other, so a chunk of rows can run all T steps without waiting for the rest of the batch.
 * One parallel item per (direction, chunk) and no barrier between steps.
 *
 * Per step, forward: one GEMM of the chunk's previous hidden states with W_hh^T (lamina's
 * small-M kernels on AVX-512: no packing of the 1 MiB weight for 16 rows), then one pass
 * over each row computing every gate, the cell and the new hidden state. Backward: the same
 * pass in reverse turns the saved gates into their gradients in place, and one GEMM with
 * W_hh carries the hidden state's gradient to the step before.
 *
 * Equations (PyTorch's, with x W_ih^T + b_ih (+ b_hh) already in g):
 *   rnn   h = act(g + h' W_hh^T)
 *   lstm  i, f, gg, o = sig, sig, tanh, sig of (g + h' W_hh^T);  c = f c' + i gg;
 *         h = o tanh(c)
 *   gru   a = h' W_hh^T + b_hh;  r = sig(g_r + a_r);  z = sig(g_z + a_z);
 *         n = tanh(g_n + r a_n);  h = (1 - z) n + z h'
 */
#include "kernels.h"

#include <math.h>
#include <string.h>

static inline float sigm(float v)
{
    return 1.0f / (1.0f + expf(-v));
}

/* Offsets of step t's previous and new state slots: forward reads slot t and writes t + 1;
 * the reverse direction reads t + 1 and writes t (its initial state sits in slot T). */
static inline int64_t prev_slot(const lam_rnn_seq *s, int64_t t)
{
    return s->reverse ? t + 1 : t;
}

static inline int64_t out_slot(const lam_rnn_seq *s, int64_t t)
{
    return s->reverse ? t : t + 1;
}

/* One row's gates, cell and hidden state; g is overwritten with the activated gates. */
static void row_fwd(const lam_rnn_seq *s, float *g, const float *gh, const float *hp,
                    const float *cp, float *c, float *h)
{
    const int64_t H = s->h;
    switch (s->cell) {
    case LAM_CELL_TANH:
        for (int64_t j = 0; j < H; j++) {
            g[j] = tanhf(g[j]);
            h[j] = g[j];
        }
        break;
    case LAM_CELL_RELU:
        for (int64_t j = 0; j < H; j++) {
            g[j] = g[j] > 0.0f ? g[j] : 0.0f;
            h[j] = g[j];
        }
        break;
    case LAM_CELL_LSTM:
        for (int64_t j = 0; j < H; j++) {
            const float i = sigm(g[j]), f = sigm(g[H + j]), gg = tanhf(g[2 * H + j]),
                        o = sigm(g[3 * H + j]);
            const float cv = f * cp[j] + i * gg;
            g[j] = i;
            g[H + j] = f;
            g[2 * H + j] = gg;
            g[3 * H + j] = o;
            c[j] = cv;
            h[j] = o * tanhf(cv);
        }
        break;
    default: /* GRU */
        for (int64_t j = 0; j < H; j++) {
            const float r = sigm(g[j] + gh[j]), z = sigm(g[H + j] + gh[H + j]);
            const float nv = tanhf(g[2 * H + j] + r * gh[2 * H + j]);
            g[j] = r;
            g[H + j] = z;
            g[2 * H + j] = nv;
            h[j] = (1.0f - z) * nv + z * hp[j];
        }
        break;
    }
}

/* One row's backward: dh is the hidden state's gradient at this step; g (activated gates)
 * becomes the gradient of the pre-activations (for GRU the input part; gh becomes the
 * recurrent part's); dc carries the cell gradient (LSTM) and dhd receives the part of the
 * previous hidden state's gradient that skips W_hh (GRU's z h', else nothing). */
static void row_bwd(const lam_rnn_seq *s, const float *dh, float *g, float *gh, const float *hp,
                    const float *cp, const float *c, const float *h, float *dc, float *dhd)
{
    const int64_t H = s->h;
    switch (s->cell) {
    case LAM_CELL_TANH:
        for (int64_t j = 0; j < H; j++) {
            g[j] = dh[j] * (1.0f - h[j] * h[j]);
        }
        break;
    case LAM_CELL_RELU:
        for (int64_t j = 0; j < H; j++) {
            g[j] = h[j] > 0.0f ? dh[j] : 0.0f;
        }
        break;
    case LAM_CELL_LSTM:
        for (int64_t j = 0; j < H; j++) {
            const float i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
            const float tc = tanhf(c[j]);
            const float dcv = dc[j] + dh[j] * o * (1.0f - tc * tc);
            g[j] = dcv * gg * i * (1.0f - i);
            g[H + j] = dcv * cp[j] * f * (1.0f - f);
            g[2 * H + j] = dcv * i * (1.0f - gg * gg);
            g[3 * H + j] = dh[j] * tc * o * (1.0f - o);
            dc[j] = dcv * f;
        }
        break;
    default: /* GRU */
        for (int64_t j = 0; j < H; j++) {
            const float r = g[j], z = g[H + j], nv = g[2 * H + j];
            const float dn = dh[j] * (1.0f - z) * (1.0f - nv * nv);
            const float dz = dh[j] * (hp[j] - nv) * z * (1.0f - z);
            const float dr = dn * gh[2 * H + j] * r * (1.0f - r);
            g[j] = dr;
            g[H + j] = dz;
            g[2 * H + j] = dn;
            gh[j] = dr;
            gh[H + j] = dz;
            gh[2 * H + j] = dn * r;
            dhd[j] = dh[j] * z;
        }
        break;
    }
}

/* The recurrent products, through lamina's small-M GEMM (lam__conv_gemm) in the fast
 * kernels and plain double loops in the twin. */
typedef void (*rec_gemm_fn)(int isa, int64_t m, int64_t n, int64_t k, const float *a,
                            const float *b, float *c, int add);

static void rec_gemm_fast(int isa, int64_t m, int64_t n, int64_t k, const float *a, const float *b,
                          float *c, int add)
{
    (void)lam__conv_gemm(isa, 0, 0, m, n, k, a, k, b, n, add ? 1.0f : 0.0f, c, n);
}

static void rec_gemm_ref(int isa, int64_t m, int64_t n, int64_t k, const float *a, const float *b,
                         float *c, int add)
{
    (void)isa;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double acc = add ? c[i * n + j] : 0.0;
            for (int64_t p = 0; p < k; p++) {
                acc += (double)a[i * k + p] * b[p * n + j];
            }
            c[i * n + j] = (float)acc;
        }
    }
}

static void seq_fwd(const lam_rnn_seq *s, int64_t r0, int64_t r1, int isa, rec_gemm_fn gemm)
{
    /* the gate passes with AVX-512 (kernels/rnn_avx512.c) in the fast kernels only */
    const int vec = isa == LAM_ISA_AVX512 && gemm == rec_gemm_fast && s->cell != LAM_CELL_RELU;
    const int64_t H = s->h, GH = lam__cell_gates(s->cell) * H, n = s->n, rows = r1 - r0;
    for (int64_t step = 0; step < s->t; step++) {
        const int64_t t = s->reverse ? s->t - 1 - step : step;
        const float *hp = s->hs + (prev_slot(s, t) * n + r0) * H;
        float *ho = s->hs + (out_slot(s, t) * n + r0) * H;
        float *g = s->g + (t * n + r0) * GH;
        float *gh = NULL;
        if (s->cell == LAM_CELL_GRU) {
            gh = s->gh + (t * n + r0) * GH;
            for (int64_t i = 0; i < rows; i++) {
                if (s->bhh != NULL) {
                    memcpy(gh + i * GH, s->bhh, (size_t)GH * sizeof(float));
                } else {
                    memset(gh + i * GH, 0, (size_t)GH * sizeof(float));
                }
            }
            gemm(isa, rows, GH, H, hp, s->whh_t, gh, 1);
        } else {
            gemm(isa, rows, GH, H, hp, s->whh_t, g, 1);
        }
        const float *cp = NULL;
        float *co = NULL;
        if (s->cell == LAM_CELL_LSTM) {
            cp = s->cs + (prev_slot(s, t) * n + r0) * H;
            co = s->cs + (out_slot(s, t) * n + r0) * H;
        }
        for (int64_t i = 0; i < rows; i++) {
            float *gi = g + i * GH, *ci = co != NULL ? co + i * H : NULL;
            const float *ghi = gh != NULL ? gh + i * GH : NULL,
                        *cpi = cp != NULL ? cp + i * H : NULL;
            if (vec) {
                lam__rnn_row_fwd_avx512(s->cell, H, gi, ghi, hp + i * H, cpi, ci, ho + i * H);
            } else {
                row_fwd(s, gi, ghi, hp + i * H, cpi, ci, ho + i * H);
            }
        }
    }
}

static void seq_bwd(const lam_rnn_seq *s, int64_t r0, int64_t r1, int isa, rec_gemm_fn gemm)
{
    const int vec = isa == LAM_ISA_AVX512 && gemm == rec_gemm_fast && s->cell == LAM_CELL_LSTM;
    const int64_t H = s->h, GH = lam__cell_gates(s->cell) * H, n = s->n, rows = r1 - r0;
    float *carry = s->carry_h + r0 * H, *dc = s->carry_c != NULL ? s->carry_c + r0 * H : NULL;
    float *dh = s->dh_row + r0 * H;
    memset(carry, 0, (size_t)(rows * H) * sizeof(float));
    if (dc != NULL) {
        memset(dc, 0, (size_t)(rows * H) * sizeof(float));
    }
    for (int64_t step = 0; step < s->t; step++) {
        const int64_t t = s->reverse ? step : s->t - 1 - step;
        const float *hp = s->hs + (prev_slot(s, t) * n + r0) * H;
        const float *ho = s->hs + (out_slot(s, t) * n + r0) * H;
        const float *dy = s->dy + (t * n + r0) * s->ldd;
        float *g = s->g + (t * n + r0) * GH;
        float *gh = s->cell == LAM_CELL_GRU ? s->gh + (t * n + r0) * GH : NULL;
        const float *cp = NULL, *co = NULL;
        if (s->cell == LAM_CELL_LSTM) {
            cp = s->cs + (prev_slot(s, t) * n + r0) * H;
            co = s->cs + (out_slot(s, t) * n + r0) * H;
        }
        for (int64_t i = 0; i < rows; i++) {
            for (int64_t j = 0; j < H; j++) {
                dh[i * H + j] = dy[i * s->ldd + j] + carry[i * H + j];
            }
            if (vec) {
                lam__rnn_lstm_bwd_avx512(H, dh + i * H, g + i * GH, cp + i * H, co + i * H,
                                         dc + i * H);
                continue;
            }
            row_bwd(s, dh + i * H, g + i * GH, gh != NULL ? gh + i * GH : NULL, hp + i * H,
                    cp != NULL ? cp + i * H : NULL, co != NULL ? co + i * H : NULL, ho + i * H,
                    dc != NULL ? dc + i * H : NULL, carry + i * H);
        }
        /* the initial state is detached: nothing needs its gradient */
        if (step + 1 < s->t) {
            if (s->cell == LAM_CELL_GRU) {
                gemm(isa, rows, H, GH, gh, s->whh, carry, 1); /* carry holds dh z */
            } else {
                gemm(isa, rows, H, GH, g, s->whh, carry, 0);
            }
        }
    }
}

void lam__rnn_seq_fwd(const lam_rnn_seq *s, int64_t r0, int64_t r1, int isa)
{
    seq_fwd(s, r0, r1, isa, rec_gemm_fast);
}

void lam__rnn_seq_bwd(const lam_rnn_seq *s, int64_t r0, int64_t r1, int isa)
{
    seq_bwd(s, r0, r1, isa, rec_gemm_fast);
}

void lam__rnn_seq_fwd_ref(const lam_rnn_seq *s, int64_t r0, int64_t r1, int isa)
{
    seq_fwd(s, r0, r1, isa, rec_gemm_ref);
}

void lam__rnn_seq_bwd_ref(const lam_rnn_seq *s, int64_t r0, int64_t r1, int isa)
{
    seq_bwd(s, r0, r1, isa, rec_gemm_ref);
}
