/*
 * The transformer's own kernels: layer norm over the last dimension, and one (sample, head)
 * of multi-head self-attention.
 *
 * Layer norm: rows run in parallel in fixed blocks (each row's statistics are its own);
 * the parameter gradients are sums over rows: each block sums its rows in order while it
 * has them in cache, then column blocks add the blocks' sums in block order, so no thread
 * count changes a bit.
 *
 * Attention: the two products of a head (S = Q K^T, then P V) and the three of its backward
 * are GEMMs through lamina's one single-threaded GEMM (lam__conv_gemm: AVX-512 where the CPU
 * has it), reading Q, K and V in place inside the fused (T, 3D) projection through leading
 * dimensions: nothing is copied. The softmax rows use AVX-512 exp where allowed. A causal
 * head runs its products in blocks of ATTN_ROWS rows, each over the keys it can see, so
 * the masked upper triangle is skipped block by block.
 */
#include <math.h>
#include <string.h>

#include "kernels.h"

/* ----------------------------------------------------------------- layer norm */

typedef struct ln_args {
    int64_t rows, D;
    float eps;
    const float *x, *w, *b, *mean, *rstd, *dy;
    float *y, *mean_out, *rstd_out, *dx, *dw, *db;
    float *partial; /* backward: per row block, the partial sums of dw and db */
} ln_args;

/* Rows per work item, and columns per item of the parameter-gradient phase. */
#define LN_ROWS 32
#define LN_COLS 64

/* Eight partial sums, so the compiler keeps them in vector lanes: a fixed order. */
static float sum8(const float *v, int64_t n)
{
    float acc[8] = {0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        for (int k = 0; k < 8; k++) {
            acc[k] += v[j + k];
        }
    }
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; j < n; j++) {
        s += v[j];
    }
    return s;
}

static float sqdev8(const float *v, int64_t n, float m)
{
    float acc[8] = {0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        for (int k = 0; k < 8; k++) {
            const float d = v[j + k] - m;
            acc[k] += d * d;
        }
    }
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; j < n; j++) {
        s += (v[j] - m) * (v[j] - m);
    }
    return s;
}

static void ln_fwd_item(const void *arg, int64_t item, int lane)
{
    (void)lane;
    const ln_args *a = arg;
    const int64_t D = a->D, r1 = (item + 1) * LN_ROWS < a->rows ? (item + 1) * LN_ROWS : a->rows;
    for (int64_t r = item * LN_ROWS; r < r1; r++) {
        const float *x = a->x + r * D;
        float *y = a->y + r * D;
        /* two passes over a row in cache: the variance of the deviations, not E[x^2]-m^2 */
        const float m = sum8(x, D) / (float)D;
        const float rs = 1.0f / sqrtf(sqdev8(x, D, m) / (float)D + a->eps);
        for (int64_t j = 0; j < D; j++) {
            y[j] = (x[j] - m) * rs * a->w[j] + a->b[j];
        }
        a->mean_out[r] = m;
        a->rstd_out[r] = rs;
    }
}

void lam__layernorm_fwd(int64_t rows, int64_t D, float eps, const float *x, const float *w,
                        const float *b, float *y, float *mean, float *rstd, int nt)
{
    const ln_args a = {.rows = rows, .D = D, .eps = eps, .x = x, .w = w, .b = b, .y = y,
                       .mean_out = mean, .rstd_out = rstd};
    const lam_phase ph = {ln_fwd_item, (rows + LN_ROWS - 1) / LN_ROWS, 0};
    lam__run_phases(nt, &a, &ph, 1);
}

/* Per block of LN_ROWS rows: dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy w, xhat =
 * (x - mean) rstd, and the block's partial sums of dy xhat and dy (rows in order) for the
 * parameter gradients, so x and dy are read once. */
static void ln_bwd_rows(const void *arg, int64_t item, int lane)
{
    (void)lane;
    const ln_args *a = arg;
    const int64_t D = a->D, r1 = (item + 1) * LN_ROWS < a->rows ? (item + 1) * LN_ROWS : a->rows;
    float *pw = a->partial + item * 2 * D, *pb = pw + D;
    memset(pw, 0, (size_t)(2 * D) * sizeof(float));
    for (int64_t r = item * LN_ROWS; r < r1; r++) {
        const float *x = a->x + r * D, *dy = a->dy + r * D;
        const float m = a->mean[r], rs = a->rstd[r];
        float acc_g[8] = {0}, acc_gx[8] = {0};
        int64_t j = 0;
        for (; j + 8 <= D; j += 8) {
            for (int k = 0; k < 8; k++) {
                const float g = dy[j + k] * a->w[j + k], xh = (x[j + k] - m) * rs;
                acc_g[k] += g;
                acc_gx[k] += g * xh;
            }
        }
        float sg = 0.0f, sgx = 0.0f;
        for (int k = 0; k < 8; k++) {
            sg += acc_g[k];
            sgx += acc_gx[k];
        }
        for (; j < D; j++) {
            const float g = dy[j] * a->w[j];
            sg += g;
            sgx += g * (x[j] - m) * rs;
        }
        const float mg = sg / (float)D, mgx = sgx / (float)D;
        for (j = 0; j < D; j++) {
            const float xh = (x[j] - m) * rs;
            if (a->dx != NULL) {
                a->dx[r * D + j] = rs * (dy[j] * a->w[j] - mg - xh * mgx);
            }
            pw[j] += dy[j] * xh;
            pb[j] += dy[j];
        }
    }
}

/* dw[j] += sum of the blocks' partial sums, blocks in order */
static void ln_bwd_params(const void *arg, int64_t item, int lane)
{
    (void)lane;
    const ln_args *a = arg;
    const int64_t D = a->D, j0 = item * LN_COLS, j1 = j0 + LN_COLS < D ? j0 + LN_COLS : D;
    const int64_t blocks = (a->rows + LN_ROWS - 1) / LN_ROWS;
    for (int64_t j = j0; j < j1; j++) {
        float sw = 0.0f, sb = 0.0f;
        for (int64_t b = 0; b < blocks; b++) {
            sw += a->partial[b * 2 * D + j];
            sb += a->partial[b * 2 * D + D + j];
        }
        if (a->dw != NULL) {
            a->dw[j] += sw;
        }
        if (a->db != NULL) {
            a->db[j] += sb;
        }
    }
}

int64_t lam__layernorm_workspace(int64_t rows, int64_t D)
{
    return (rows + LN_ROWS - 1) / LN_ROWS * 2 * D;
}

void lam__layernorm_bwd(int64_t rows, int64_t D, const float *x, const float *w,
                        const float *mean, const float *rstd, const float *dy, float *dx,
                        float *dw, float *db, float *ws, int nt)
{
    const ln_args a = {.rows = rows, .D = D, .x = x, .w = w, .mean = mean, .rstd = rstd,
                       .dy = dy, .dx = dx, .dw = dw, .db = db, .partial = ws};
    const lam_phase ph[2] = {{ln_bwd_rows, (rows + LN_ROWS - 1) / LN_ROWS, 0},
                             {ln_bwd_params, dw != NULL || db != NULL ? (D + LN_COLS - 1) / LN_COLS
                                                                      : 0, 0}};
    lam__run_phases(nt, &a, ph, 2);
}

/* ------------------------------------------------------------------ attention */

/* Portable softmax row and its backward (the AVX-512 ones are in transformer_avx512.c). */
static void softmax_row(int64_t n, float scale, const float *s, float *p)
{
    float mx = s[0];
    for (int64_t j = 1; j < n; j++) {
        mx = s[j] > mx ? s[j] : mx;
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        p[j] = expf(scale * (s[j] - mx));
        sum += p[j];
    }
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < n; j++) {
        p[j] *= inv;
    }
}

static void softmax_bwd_row(int64_t n, float scale, const float *p, const float *dp, float *ds)
{
    float dot = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        dot += p[j] * dp[j];
    }
    for (int64_t j = 0; j < n; j++) {
        ds[j] = scale * p[j] * (dp[j] - dot);
    }
}

/* p = softmax over each row of s (in place: p == s), the causal rows cut at the diagonal
 * and zero beyond it. */
static void softmax_rows(const lam_attn *a, float *p, int avx)
{
    const int64_t T = a->T;
    for (int64_t i = 0; i < T; i++) {
        const int64_t n = a->causal ? i + 1 : T;
        float *row = p + i * T;
        if (avx) {
            lam__attn_softmax_row_avx512(n, a->scale, row, row);
        } else {
            softmax_row(n, a->scale, row, row);
        }
        memset(row + n, 0, (size_t)(T - n) * sizeof(float));
    }
}

/* pd = p * keep (the dropped attention weights) */
static const float *dropped(int64_t count, const float *p, const float *keep, float *pd)
{
    if (keep == NULL) {
        return p;
    }
    for (int64_t j = 0; j < count; j++) {
        pd[j] = p[j] * keep[j];
    }
    return pd;
}

/* Rows per block of a causal head: block [i0, i1) needs keys [0, i1) only, so the products
 * skip the masked upper triangle block by block (at T = 64, 62.5% of the full work). */
#define ATTN_ROWS 16

void lam__attn_head_fwd(const lam_attn *a, int64_t h, const float *qkv, float *p,
                        const float *keep, float *pd, float *att, int isa)
{
    const int64_t T = a->T, D = a->D, hd = D / a->heads, ld = 3 * D;
    const int64_t rb = a->causal ? ATTN_ROWS : T;
    const float *q = qkv + h * hd, *k = q + D, *v = q + 2 * D;
    for (int64_t i0 = 0; i0 < T; i0 += rb) {
        const int64_t i1 = i0 + rb < T ? i0 + rb : T, keys = a->causal ? i1 : T;
        lam__conv_gemm(isa, 0, 1, i1 - i0, keys, hd, q + i0 * ld, ld, k, ld, 0.0f, p + i0 * T,
                       T);
    }
    softmax_rows(a, p, isa == LAM_ISA_AVX512);
    const float *pu = dropped(T * T, p, keep, pd);
    for (int64_t i0 = 0; i0 < T; i0 += rb) {
        const int64_t i1 = i0 + rb < T ? i0 + rb : T, keys = a->causal ? i1 : T;
        lam__conv_gemm(isa, 0, 0, i1 - i0, hd, keys, pu + i0 * T, T, v, ld, 0.0f,
                       att + i0 * D + h * hd, D);
    }
}

void lam__attn_head_bwd(const lam_attn *a, int64_t h, const float *qkv, const float *p,
                        const float *keep, const float *datt, float *dqkv, float *dp,
                        float *pd, int isa)
{
    const int64_t T = a->T, D = a->D, hd = D / a->heads, ld = 3 * D;
    const int64_t rb = a->causal ? ATTN_ROWS : T;
    const float *q = qkv + h * hd, *k = q + D, *v = q + 2 * D, *dy = datt + h * hd;
    float *dq = dqkv + h * hd, *dk = dq + D, *dv = dq + 2 * D;
    const float *pu = dropped(T * T, p, keep, pd);
    for (int64_t b0 = 0; b0 < T; b0 += rb) {
        const int64_t b1 = b0 + rb < T ? b0 + rb : T;
        /* rows [b0, b1): dP~ = dY V^T over their keys [0, b1) */
        const int64_t keys = a->causal ? b1 : T;
        lam__conv_gemm(isa, 0, 1, b1 - b0, keys, hd, dy + b0 * D, D, v, ld, 0.0f, dp + b0 * T,
                       T);
        /* keys [b0, b1): dV = P~^T dY over the queries that see them, [b0, T) */
        const int64_t from = a->causal ? b0 : 0;
        lam__conv_gemm(isa, 1, 0, b1 - b0, hd, T - from, pu + from * T + b0, T, dy + from * D,
                       D, 0.0f, dv + b0 * ld, ld);
    }
    /* dS = scale P (dP - rowsum(P dP)) with dP = dP~ keep, zero where P is masked */
    for (int64_t i = 0; i < T; i++) {
        const int64_t n = a->causal ? i + 1 : T;
        float *row = dp + i * T;
        if (keep != NULL) {
            for (int64_t j = 0; j < n; j++) {
                row[j] *= keep[i * T + j];
            }
        }
        if (isa == LAM_ISA_AVX512) {
            lam__attn_softmax_bwd_row_avx512(n, a->scale, p + i * T, row, row);
        } else {
            softmax_bwd_row(n, a->scale, p + i * T, row, row);
        }
        memset(row + n, 0, (size_t)(T - n) * sizeof(float));
    }
    for (int64_t b0 = 0; b0 < T; b0 += rb) {
        const int64_t b1 = b0 + rb < T ? b0 + rb : T;
        /* dQ = dS K over the rows' keys; dK = dS^T Q over the queries that see the keys */
        const int64_t keys = a->causal ? b1 : T, from = a->causal ? b0 : 0;
        lam__conv_gemm(isa, 0, 0, b1 - b0, hd, keys, dp + b0 * T, T, k, ld, 0.0f, dq + b0 * ld,
                       ld);
        lam__conv_gemm(isa, 1, 0, b1 - b0, hd, T - from, dp + from * T + b0, T, q + from * ld,
                       ld, 0.0f, dk + b0 * ld, ld);
    }
}
