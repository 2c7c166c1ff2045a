/*
 * Raw-array kernels. Not installed; layers, tests and the bench call these.
 *
 * Every fast kernel lam__X has a naive twin lam__X_ref (kernels/ref/) with the same
 * signature: plain loops, accumulation in double, no BLAS, no OpenMP, no workspace use.
 * Kernels take pointers and sizes, never tensors. Shapes are in comments as (dims).
 *
 * Conventions:
 *  - activations NCHW, row-major; conv weight (C_out, C_in/groups, KH, KW); linear weight
 *    (out, in) so y = x W^T + b.
 *  - parameter gradients ACCUMULATE (+=); input gradients are OVERWRITTEN.
 *  - `ws` is a workspace of lam__X_workspace(...) floats owned by the caller; `nt` is the
 *    thread count for lamina's own OpenMP loop (BLAS inside it runs single-threaded).
 *  - Results must not depend on nt: the batch is cut into chunks of LAM_CHUNK samples and
 *    per-chunk weight gradients are reduced in chunk order.
 */
#ifndef LAM_KERNELS_H
#define LAM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "core_internal.h"

/* Samples per chunk of the batch-parallel loops. Fixed so results are thread-count-free. */
#define LAM_CHUNK 4

/* ------------------------------------------------------------------ GEMM */
/* C(m,n) = alpha * op(A)(m,k) * op(B)(k,n) + beta * C, row-major, leading dims in elements.
 * The only callers of cblas live in kernels/gemm.c. Returns LAM_OK, or LAM_ERR_RANGE when a
 * size or leading dimension exceeds INT_MAX (BLAS's int), LAM_ERR_ARG for negative sizes or
 * ld too small. m, n or k == 0 is fine (C scaled by beta when k == 0). */
lam_status lam__sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                      float *c, int64_t ldc);
lam_status lam__sgemm_ref(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                          const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                          float *c, int64_t ldc);
/* C(n, n) += A^T A, upper triangle only (row-major C[i][j] with j >= i; the strict lower
 * triangle is not touched), A (k, n) row-major with leading dimension lda, all in double:
 * the J^T J of Levenberg-Marquardt (model/lm.c). C = beta * C first (beta == 0: C not read).
 * Same size checks and statuses as lam__sgemm. */
lam_status lam__dsyrk_tn(int64_t n, int64_t k, const double *a, int64_t lda, double beta,
                         double *c, int64_t ldc);
lam_status lam__dsyrk_tn_ref(int64_t n, int64_t k, const double *a, int64_t lda, double beta,
                             double *c, int64_t ldc);
/* The size and leading-dimension checks of lam__sgemm / lam__dsyrk_tn (kernels/geom.c),
 * shared with their naive twins: LAM_OK, LAM_ERR_ARG or LAM_ERR_RANGE as documented above.
 * Operand pointers are checked by the callers, after the m/n == 0 shortcut. */
lam_status lam__gemm_check(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                           int64_t lda, int64_t ldb, int64_t ldc);
lam_status lam__syrk_check(int64_t n, int64_t k, int64_t lda, int64_t ldc);
/* Which OpenBLAS build is loaded: 0 sequential, 1 pthreads, 2 OpenMP, -1 not OpenBLAS. */
int lam__blas_parallel_kind(void);
/* OpenBLAS core name and config strings (static), or "unknown". */
const char *lam__blas_corename(void);
const char *lam__blas_config(void);

/* ------------------------------------------------------ convolution geometry */
typedef struct lam_conv_geom {
    int64_t n, c_in, h, w;      /* input (N, C_in, H, W) */
    int64_t c_out, kh, kw;      /* weight (C_out, C_in/groups, KH, KW) */
    int64_t sh, sw, ph, pw, dh, dw;
    int64_t groups;             /* C_in and C_out are multiples of groups */
    int64_t oh, ow;             /* derived by lam__conv_geom_init */
} lam_conv_geom;

/* Fill oh/ow from the rest; LAM_OK or LAM_ERR_SHAPE/ARG/RANGE if inconsistent or too big. */
lam_status lam__conv_geom_init(lam_conv_geom *g);

/* Instruction sets of the run-time-dispatched kernels, in increasing order: the scalar loops,
 * SSE2, AVX2 with FMA, AVX-512 (each only where lam__best_isa() says so), or AUTO, which asks
 * lam__best_isa on every call (without glibc's CPU table that is a CPUID, which traps to the
 * hypervisor in a VM: resolve it once per pass). A kernel without a loop for the level given
 * runs the next lower one it has: compare with >=, not ==. */
enum {
    LAM_ISA_AUTO = 0,
    LAM_ISA_SCALAR = 1,
    LAM_ISA_SSE2 = 2,
    LAM_ISA_AVX2 = 3,
    LAM_ISA_AVX512 = 4
};
/* kernels/isa.c: the best instruction set on this CPU (no state kept). */
int lam__best_isa(void);

/* The per-image GEMMs of a convolution (kernels/conv_gemm.c): lam__sgemm's contract with
 * alpha = 1, run by lamina's own kernels when isa is LAM_ISA_AVX2 or LAM_ISA_AVX512 (beta 0
 * or 1, not both operands transposed; the same bits with either), else by lam__sgemm.
 * Single-threaded; deterministic. */
lam_status lam__conv_gemm(int isa, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                          const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                          float *c, int64_t ldc);
/* Its naive twin (lam__sgemm_ref with alpha 1; isa unused). */
lam_status lam__conv_gemm_ref(int isa, int trans_a, int trans_b, int64_t m, int64_t n,
                              int64_t k, const float *a, int64_t lda, const float *b,
                              int64_t ldb, float beta, float *c, int64_t ldc);
/* An implicit im2col matrix over a zero-padded image (kernels/conv2d_implicit.c): row
 * r = (channel c, kernel row y, kernel column x), in that order, is the image read from
 * base + c*plane + y*row + x onwards, so column q is the tap of output position q of a
 * "padded-width" output (q = oh*row + ow, junk where ow >= OW). With `ones` set, one more
 * row of ones (the bias row). The reads run past the last plane by kw - 1 floats. */
typedef struct lam_window {
    const float *base;
    int64_t chans, plane, row, kh, kw;
    const float *ones;
} lam_window;
/* C(m, n) (+ if add)= A(m, k) * window(k, n), A row-major with pitch lda. */
void lam__gemm_win_b(int isa, int64_t m, int64_t n, const float *a, int64_t lda,
                     const lam_window *wb, float *c, int64_t ldc, int add);
/* C(m, n) (+ if add)= window(m, k) * B(k, n), B row-major with pitch ldb. */
void lam__gemm_win_a(int isa, const lam_window *wa, int64_t n, int64_t k, const float *b,
                     int64_t ldb, float *c, int64_t ldc, int add);
/* dst(cols, rows) = src(rows, cols)^T, in 16x16 blocks with AVX2 or AVX-512 when isa says so. */
void lam__transpose_isa(int isa, int64_t rows, int64_t cols, const float *src, int64_t lds,
                        float *dst, int64_t ldd);

/* Output positions o in [*lo, *hi) have o*s + off inside [0, in); off = k*dil - pad (the
 * rows and columns of im2col/col2im that read the image rather than padding). */
static inline void lam__valid_range(int64_t out, int64_t in, int64_t s, int64_t off,
                                    int64_t *lo, int64_t *hi)
{
    int64_t l = off < 0 ? (-off + s - 1) / s : 0;
    int64_t h = in - 1 - off < 0 ? 0 : (in - 1 - off) / s + 1;
    if (l > out) {
        l = out;
    }
    if (h > out) {
        h = out;
    }
    if (h < l) {
        h = l;
    }
    *lo = l;
    *hi = h;
}

/* im2col for ONE image of ONE group:
 * col(C_in/groups * KH * KW, OH * OW) from x(C_in, H, W) starting at channel c0.
 * Zero where the window falls on padding. */
void lam__im2col(const lam_conv_geom *g, const float *x, int64_t c0, float *col);
void lam__im2col_ref(const lam_conv_geom *g, const float *x, int64_t c0, float *col);
/* The same with a row pitch: col row r starts at col + r*ld (ld >= OH*OW), so several
 * images can sit side by side in one matrix (batch folded into a GEMM's N). */
void lam__im2col_ld(const lam_conv_geom *g, const float *x, int64_t c0, float *col, int64_t ld);
/* ... with the instruction set chosen by the caller (LAM_ISA_*, AUTO asks lam__best_isa). */
void lam__im2col_ld_isa(const lam_conv_geom *g, const float *x, int64_t c0, float *col,
                        int64_t ld, int isa);
/* kernels/im2col_avx512.c: SW <= 2 only, and only where lam__best_isa() gives AVX512 */
void lam__im2col_avx512(const lam_conv_geom *g, const float *x, int64_t c0, float *col,
                        int64_t ld);
/* col2im: x(C_in, H, W) channels c0.. += scatter-add of col. (accumulates; caller zeroes) */
void lam__col2im(const lam_conv_geom *g, const float *col, int64_t c0, float *x);
void lam__col2im_ref(const lam_conv_geom *g, const float *col, int64_t c0, float *x);
void lam__col2im_ld(const lam_conv_geom *g, const float *col, int64_t ld, int64_t c0, float *x);
void lam__col2im_ld_isa(const lam_conv_geom *g, const float *col, int64_t ld, int64_t c0,
                        float *x, int isa);
/* kernels/im2col_avx512.c: SH == SW == 1 or SH == SW == 2, and KW <= 16 only, where AVX-512
 * is available */
void lam__col2im_avx512(const lam_conv_geom *g, const float *col, int64_t ld, int64_t c0,
                        float *x);

/* Floats of workspace the fast conv needs with nt threads (refs need none). */
int64_t lam__conv2d_workspace(const lam_conv_geom *g, int nt);

/* y(N, C_out, OH, OW) = conv(x(N, C_in, H, W), w) + b(C_out); b may be NULL. Overwrites y. */
void lam__conv2d_fwd(const lam_conv_geom *g, const float *x, const float *w, const float *b,
                     float *y, float *ws, int nt);
void lam__conv2d_fwd_ref(const lam_conv_geom *g, const float *x, const float *w, const float *b,
                         float *y, float *ws, int nt);
/* dx(N, C_in, H, W) = conv_transpose(dy, w). Overwrites dx. */
void lam__conv2d_bwd_data(const lam_conv_geom *g, const float *dy, const float *w, float *dx,
                          float *ws, int nt);
/* lam__conv2d_bwd_data_ref that adds into dx when acc is set. */
void lam__conv2d_bwd_data_acc_ref(const lam_conv_geom *g, const float *dy, const float *w,
                                  float *dx, int acc);
void lam__conv2d_bwd_data_ref(const lam_conv_geom *g, const float *dy, const float *w, float *dx,
                              float *ws, int nt);
/* dw(C_out, C_in/groups, KH, KW) += corr(x, dy); db(C_out) += sum dy (db may be NULL). */
void lam__conv2d_bwd_weight(const lam_conv_geom *g, const float *x, const float *dy, float *dw,
                            float *db, float *ws, int nt);
void lam__conv2d_bwd_weight_ref(const lam_conv_geom *g, const float *x, const float *dy,
                                float *dw, float *db, float *ws, int nt);

/* ------------------------------------------------------------------ linear */
/* y(n, out) = x(n, in) w(out, in)^T + b(out); b may be NULL. */
void lam__linear_fwd(int64_t n, int64_t in, int64_t out, const float *x, const float *w,
                     const float *b, float *y);
void lam__linear_fwd_ref(int64_t n, int64_t in, int64_t out, const float *x, const float *w,
                         const float *b, float *y);
/* dx(n, in) = dy w (overwrites; skipped if dx NULL); dw(out, in) += dy^T x; db += sum_n dy. */
void lam__linear_bwd(int64_t n, int64_t in, int64_t out, const float *x, const float *w,
                     const float *dy, float *dx, float *dw, float *db);
void lam__linear_bwd_ref(int64_t n, int64_t in, int64_t out, const float *x, const float *w,
                         const float *dy, float *dx, float *dw, float *db);

/* ------------------------------------------------------------------ pooling */
typedef struct lam_pool_geom {
    int64_t n, c, h, w;
    int64_t kh, kw, sh, sw, ph, pw;
    int64_t oh, ow;             /* derived by lam__pool_geom_init */
} lam_pool_geom;
lam_status lam__pool_geom_init(lam_pool_geom *g);

/* Max pool: y(N,C,OH,OW), argmax(N,C,OH,OW) = flat index h*W+w of the max inside its plane
 * (padding never wins; ties -> first). bwd: dx(N,C,H,W) overwritten, dy routed to argmax. */
void lam__maxpool_fwd(const lam_pool_geom *g, const float *x, float *y, int32_t *argmax, int nt);
void lam__maxpool_fwd_ref(const lam_pool_geom *g, const float *x, float *y, int32_t *argmax,
                          int nt);
void lam__maxpool_bwd(const lam_pool_geom *g, const float *dy, const int32_t *argmax, float *dx,
                      int nt);
void lam__maxpool_bwd_ref(const lam_pool_geom *g, const float *dy, const int32_t *argmax,
                          float *dx, int nt);
/* One (H, W) plane of a max pool: y(OH, OW), argmax(OH, OW) from x(H, W). relu != 0 applies
 * max(y, 0) after pooling (max commutes with relu; argmax is that of x). pg.n and pg.c are
 * not used. Backward: dx(H, W) overwritten, dy(OH, OW) routed to argmax; with ymask != NULL
 * only where ymask > 0 (the backward of a relu folded into the pool: ymask is the pooled
 * output). */
/* The same with the instruction set of the 2x2 stride-2 path chosen by the caller (LAM_ISA_*). */
void lam__maxpool_plane_fwd_isa(const lam_pool_geom *g, const float *x, int relu, float *y,
                                int32_t *argmax, int isa);
void lam__maxpool_plane_bwd_isa(const lam_pool_geom *g, const float *dy, const int32_t *argmax,
                                const float *ymask, float *dx, int isa);
/* kernels/pool_avx512.c: the 2x2 stride-2 planes with AVX-512 (call only when available) */
void lam__maxpool_2x2_fwd_avx512(const lam_pool_geom *g, const float *x, int relu, float *y,
                                 int32_t *argmax);
void lam__maxpool_2x2_bwd_avx512(const lam_pool_geom *g, const float *dy, const int32_t *argmax,
                                 const float *ymask, float *dx);
/* Average pool, padding counted in the divisor (PyTorch count_include_pad=True). */
void lam__avgpool_fwd(const lam_pool_geom *g, const float *x, float *y, int nt);
void lam__avgpool_fwd_ref(const lam_pool_geom *g, const float *x, float *y, int nt);
void lam__avgpool_bwd(const lam_pool_geom *g, const float *dy, float *dx, int nt);
void lam__avgpool_bwd_ref(const lam_pool_geom *g, const float *dy, float *dx, int nt);

/* ------------------------------------------------------------- activations */
typedef enum lam_act {
    LAM_ACT_NONE = 0,
    LAM_ACT_RELU,
    LAM_ACT_LEAKY_RELU, /* param = negative slope */
    LAM_ACT_SIGMOID,
    LAM_ACT_TANH,
    LAM_ACT_GELU,       /* exact: x * Phi(x) with erf, as PyTorch's default */
    LAM_ACT_GELU_TANH,  /* x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 */
} lam_act;
/* y(n) = act(x); y may equal x (in place). */
void lam__act_fwd(lam_act act, float param, int64_t n, const float *x, float *y);
void lam__act_fwd_ref(lam_act act, float param, int64_t n, const float *x, float *y);
/* dx(n) = dy * act'(x); uses x (and y where cheaper). dx may equal dy. */
void lam__act_bwd(lam_act act, float param, int64_t n, const float *x, const float *y,
                  const float *dy, float *dx);
void lam__act_bwd_ref(lam_act act, float param, int64_t n, const float *x, const float *y,
                      const float *dy, float *dx);

/* ------------------------------------------------------- fused linear passes */
/* The training step's passes with a folded activation (NONE or RELU), GEMMs cut into
 * column blocks fixed by the shape and run single-threaded in one region of nt threads
 * (results independent of nt). Backward masks dy in place by y > 0 when act is RELU; y is
 * the forward's output. dx, dw, db may be NULL. */
void lam__linear_fused_fwd(int64_t n, int64_t in, int64_t out, lam_act act, const float *x,
                           const float *w, const float *b, float *y, int nt);
void lam__linear_fused_fwd_ref(int64_t n, int64_t in, int64_t out, lam_act act,
                               const float *x, const float *w, const float *b, float *y, int nt);
void lam__linear_fused_bwd(int64_t n, int64_t in, int64_t out, lam_act act, const float *x,
                           const float *w, const float *y, float *dy, float *dx, float *dw,
                           float *db, int nt);
void lam__linear_fused_bwd_ref(int64_t n, int64_t in, int64_t out, lam_act act,
                               const float *x, const float *w, const float *y, float *dy,
                               float *dx, float *dw, float *db, int nt);

/* ------------------------------------------------------- fused convolutions */
/* Images per GEMM of the batched strategy (batch folded into N). Large enough for BLAS to
 * thread each GEMM well, small enough that col stays a few MiB. */
#define LAM_CONV_GROUP 16

typedef enum lam_conv_strategy {
    LAM_CONV_CHUNKED = 0, /* OpenMP over chunks of LAM_CHUNK images, one GEMM per image */
    LAM_CONV_BATCHED = 1, /* images folded into N, GEMMs outside parallel regions */
} lam_conv_strategy;

/* How the chunked strategy forms its GEMMs' operands (kernels/conv2d_implicit.c,
 * conv2d_winograd.c): AUTO chooses per pass by the shape; the others force one path for
 * every pass (tests and the bench compare them; IMPLICIT and WINOGRAD apply only where they
 * fit and the CPU has AVX2 or AVX-512). */
typedef enum lam_conv_path {
    LAM_CONV_PATH_AUTO = 0,
    LAM_CONV_PATH_IM2COL = 1,
    LAM_CONV_PATH_IMPLICIT = 2,
    LAM_CONV_PATH_WINOGRAD = 3, /* Winograd F(2x2, 3x3) for every pass where it fits (3x3,
                                 * stride 1, pad 1, one group) */
    LAM_CONV_PATH_WINOGRAD4 = 4, /* ... with the forward and input gradient F(4x4, 3x3) */
} lam_conv_path;

/* What runs on a convolution's output while it is in cache: y = pool(act(conv(x) + b)). */
typedef struct lam_conv_fusion {
    lam_act act;                /* LAM_ACT_NONE or LAM_ACT_RELU */
    const lam_pool_geom *pool;  /* max pool after the activation (pool->c == C_out, its h/w
                                 * == OH/OW), or NULL */
    lam_conv_strategy strategy;
    int dx_acc;                 /* backward: dx += the input gradient instead of dx = (a
                                 * model adding a second consumer's share into it) */
    lam_conv_path path;         /* im2col or implicit GEMM: AUTO picks per pass */
    int isa;                    /* the highest LAM_ISA_* to use (a test or bench running AVX2
                                 * on an AVX-512 CPU); 0: the CPU's best */
} lam_conv_fusion;

/* What pass `bwd` (0 forward, 1 backward) of this conv runs: 0 im2col, 1 the implicit GEMM,
 * 2 Winograd F(2x2, 3x3), 3 F(4x4, 3x3) (for the backward: its input gradient; the weight
 * gradient may stay implicit, and is never F(4x4, 3x3)). */
int lam__conv_path_auto(const lam_conv_geom *g, const lam_conv_fusion *f, int nt, int bwd);
/* Floats of workspace for a fused conv (f NULL: plain conv, chunked). */
int64_t lam__conv2d_fused_workspace(const lam_conv_geom *g, const lam_conv_fusion *f, int nt);
int64_t lam__conv2d_fused_workspace_ref(const lam_conv_geom *g, const lam_conv_fusion *f,
                                        int nt);
/* y = pool(act(conv(x) + b)): y(N, C_out, PH, PW) with pool (argmax alongside, as
 * lam__maxpool_fwd's), else y(N, C_out, OH, OW) and argmax unused. Overwrites y. */
void lam__conv2d_fused_fwd(const lam_conv_geom *g, const lam_conv_fusion *f, const float *x,
                           const float *w, const float *b, float *y, int32_t *argmax, float *ws,
                           int nt);
void lam__conv2d_fused_fwd_ref(const lam_conv_geom *g, const lam_conv_fusion *f, const float *x,
                               const float *w, const float *b, float *y, int32_t *argmax,
                               float *ws, int nt);
/* Backward of the fused block from y and argmax of its forward and dy (shaped like y):
 * dx overwritten, or added to with f->dx_acc (NULL: skipped), dw += and db += (each may be
 * NULL; x may be NULL when both are). */
void lam__conv2d_fused_bwd(const lam_conv_geom *g, const lam_conv_fusion *f, const float *x,
                           const float *w, const float *y, const int32_t *argmax,
                           const float *dy, float *dx, float *dw, float *db, float *ws, int nt);
void lam__conv2d_fused_bwd_ref(const lam_conv_geom *g, const lam_conv_fusion *f,
                               const float *x, const float *w, const float *y,
                               const int32_t *argmax, const float *dy, float *dx, float *dw,
                               float *db, float *ws, int nt);

/* --------------------------------------------------------------------- bias */
/* y(n, c, hw) += b(c), then y = act(y): fused so y is read once after the GEMM. */
void lam__bias_act(int64_t n, int64_t c, int64_t hw, const float *b, lam_act act, float param,
                   float *y);
void lam__bias_act_ref(int64_t n, int64_t c, int64_t hw, const float *b, lam_act act,
                       float param, float *y);
/* db(c) += sum over n and hw of dy(n, c, hw). */
void lam__bias_grad(int64_t n, int64_t c, int64_t hw, const float *dy, float *db);
void lam__bias_grad_ref(int64_t n, int64_t c, int64_t hw, const float *dy, float *db);

/* ------------------------------------------------------------- batch norm */
/* Batch normalisation as torch.nn.BatchNorm1d/2d: x(n, c, hw) contiguous ((n, c) feature
 * vectors are hw = 1), statistics per channel over its M = n*hw values (kernels/bn.c).
 * The fast kernels split each channel into blocks fixed by (n, c, hw) alone and sum them in
 * that order, so results are bitwise the same for every nt. The running statistics are the
 * layer's business, not these kernels'. */

/* Floats of workspace lam__bn_fwd_train, lam__bn_bwd, lam__bn_stats and lam__bn_bwd_sums
 * need for this shape: 4 * c * nb (nb <= about 64 blocks per channel), the same for every nt
 * (which is unused); 0 when n, c or hw is 0. The twin needs none (returns 0). ws must be aligned to 8 bytes (it holds
 * doubles); any malloc'd or lamina-allocated buffer is. */
int64_t lam__bn_workspace(int64_t n, int64_t c, int64_t hw, int nt);
int64_t lam__bn_workspace_ref(int64_t n, int64_t c, int64_t hw, int nt);
/* Training forward. In: x(n, c, hw); gamma(c) and beta(c), each may be NULL (1 and 0:
 * affine=False); eps > 0 usually (>= 0 allowed). Out: mean(c), invstd(c) = 1/sqrt(var +
 * eps) with var biased, var_unbiased(c) = var * M/(M-1) (var when M == 1), all three
 * required; y(n, c, hw) = gamma * (x - mean) * invstd + beta, overwritten, may equal x,
 * then relu'd (v < 0 ? 0 : v, as lam__act_fwd) when relu is set (a ReLU folded after it).
 * ws: lam__bn_workspace(n, c, hw, nt) floats. n and hw must be >= 1 (c == 0: no-op). */
void lam__bn_fwd_train(int64_t n, int64_t c, int64_t hw, const float *x, const float *gamma,
                       const float *beta, float eps, float *mean, float *invstd,
                       float *var_unbiased, float *y, int relu, float *ws, int nt);
void lam__bn_fwd_train_ref(int64_t n, int64_t c, int64_t hw, const float *x, const float *gamma,
                           const float *beta, float eps, float *mean, float *invstd,
                           float *var_unbiased, float *y, int relu, float *ws, int nt);
/* Inference: y(n, c, hw) = scale(c) * x(n, c, hw) + shift(c), relu'd when relu is set,
 * overwritten, y may equal x; the caller folds running statistics, gamma and beta into
 * scale and shift. No workspace. */
void lam__bn_fwd_affine(int64_t n, int64_t c, int64_t hw, const float *x, const float *scale,
                        const float *shift, float *y, int relu, int nt);
void lam__bn_fwd_affine_ref(int64_t n, int64_t c, int64_t hw, const float *x,
                            const float *scale, const float *shift, float *y, int relu, int nt);
/* Backward. In: x(n, c, hw) and mean(c), invstd(c) of the training forward, dy(n, c, hw),
 * gamma(c) (NULL: 1); ymask(n, c, hw) the relu'd output when a ReLU was folded (dy then
 * counts only where ymask > 0), else NULL. With xhat = (x - mean) * invstd and g that dy:
 *   dgamma(c) += sum g*xhat, dbeta(c) += sum g   (ACCUMULATE; each may be NULL)
 *   dx(n, c, hw) = gamma*invstd/M * (M*g - sum g - xhat * sum g*xhat)   (OVERWRITTEN;
 *   dx NULL: parameter gradients only; dx may equal dy).
 * ws: lam__bn_workspace(n, c, hw, nt) floats. */
void lam__bn_bwd(int64_t n, int64_t c, int64_t hw, const float *x, const float *dy,
                 const float *ymask, const float *gamma, const float *mean, const float *invstd,
                 float *dgamma, float *dbeta, float *dx, float *ws, int nt);
void lam__bn_bwd_ref(int64_t n, int64_t c, int64_t hw, const float *x, const float *dy,
                     const float *ymask, const float *gamma, const float *mean,
                     const float *invstd, float *dgamma, float *dbeta, float *dx, float *ws,
                     int nt);

/* Chunk-level pieces of the two training passes, for synchronised (data-parallel) batch
 * norm: each process takes the statistics of its chunk of the batch, the chunks' statistics
 * are combined elsewhere (mean and M2 with Chan's pairwise formula, sums by adding), and every
 * process normalises with the combined coefficients. With one chunk, stats + fwd_coefs + norm
 * give lam__bn_fwd_train's outputs and bwd_sums + bwd_coefs + bwd_dx lam__bn_bwd's, bitwise
 * (the same blocks, combines and formulas). ws: lam__bn_workspace(n, c, hw, nt) floats; nt
 * changes no bit; n or hw == 0 (an empty chunk) writes zeros to stats / sums, the identity of
 * the combine (ws unused). The twins ignore ws and nt. */

/* Per-channel statistics of x(n, c, hw) in double: stats[2*ch] = mean, stats[2*ch + 1] = M2
 * (sum of squared deviations from that mean), over M = n*hw values. The same blocks and the
 * same combine as lam__bn_fwd_train, so a stats pass followed by lam__bn_norm with the
 * coefficients of lam__bn_fwd_coefs gives lam__bn_fwd_train's y bitwise. */
void lam__bn_stats(int64_t n, int64_t c, int64_t hw, const float *x, double *stats, float *ws,
                   int nt);
void lam__bn_stats_ref(int64_t n, int64_t c, int64_t hw, const float *x, double *stats,
                       float *ws, int nt);
/* y(n, c, hw) = (x - mf[ch]) * a[ch] + s[ch] in float, then max(y, 0) (v < 0 ? 0 : v) when
 * relu; overwritten, y may be x. Elementwise: the result of a value does not depend on n, c,
 * hw or nt. mf NULL: 0 (lam__bn_fwd_affine is this with mf NULL). No workspace. */
void lam__bn_norm(int64_t n, int64_t c, int64_t hw, const float *x, const float *mf,
                  const float *a, const float *s, float *y, int relu, int nt);
void lam__bn_norm_ref(int64_t n, int64_t c, int64_t hw, const float *x, const float *mf,
                      const float *a, const float *s, float *y, int relu, int nt);
/* Per-channel sums in double of the backward, over M = n*hw values: sums[2*ch] = sum g and
 * sums[2*ch + 1] = sum g*(x - mean[ch]), where g = dy, or 0 where ymask (a folded ReLU's
 * output, or NULL) is <= 0, and x - mean[ch] is the float difference (exact for x within a
 * factor 2 of the mean) -- NOT multiplied by invstd: sum g*xhat = invstd[ch] * sums[2*ch + 1].
 * mean(c) is the float mean of the forward. Same blocks and combine as lam__bn_bwd. */
void lam__bn_bwd_sums(int64_t n, int64_t c, int64_t hw, const float *x, const float *dy,
                      const float *ymask, const float *mean, double *sums, float *ws, int nt);
void lam__bn_bwd_sums_ref(int64_t n, int64_t c, int64_t hw, const float *x, const float *dy,
                          const float *ymask, const float *mean, double *sums, float *ws,
                          int nt);
/* dx(n, c, hw) = a[ch] * ((g - md[ch]) - b[ch] * (x - mean[ch])) in float, g as in
 * lam__bn_bwd_sums; overwritten, dx may be dy. Elementwise, as lam__bn_norm. No workspace. */
void lam__bn_bwd_dx(int64_t n, int64_t c, int64_t hw, const float *x, const float *dy,
                    const float *ymask, const float *mean, const float *a, const float *md,
                    const float *b, float *dx, int nt);
void lam__bn_bwd_dx_ref(int64_t n, int64_t c, int64_t hw, const float *x, const float *dy,
                        const float *ymask, const float *mean, const float *a, const float *md,
                        const float *b, float *dx, int nt);
/* Coefficients (pure, no twin). From each channel's combined (mean mu, M2 m2) in stats over
 * m >= 1 values (as lam__bn_stats): mean = (float)mu (the mf of lam__bn_norm), invstd and
 * var_unbiased, and a = gamma/sqrt(M2/m + eps) (in double, rounded once), s = beta +
 * ((float)mu - mu)*a (the mean's rounding folded in), exactly as lam__bn_fwd_train does. gamma/beta may be NULL (1, 0); any
 * output may be NULL (not written). */
void lam__bn_fwd_coefs(int64_t c, const double *stats, double m, const float *gamma,
                       const float *beta, float eps, float *mean, float *invstd,
                       float *var_unbiased, float *a, float *s);
/* From each channel's combined sums (as lam__bn_bwd_sums) over m >= 1 values, invstd(c) of
 * the forward and gamma(c) (NULL: 1): a = gamma*invstd, md = sum g / m and b = invstd^2 *
 * sums[2*ch + 1] / m of lam__bn_bwd_dx, and the parameter gradients exactly as lam__bn_bwd
 * adds them: dgamma += invstd * sums[2*ch + 1], dbeta += sums[2*ch] (ACCUMULATE). Any output
 * may be NULL (not written). */
void lam__bn_bwd_coefs(int64_t c, const double *sums, double m, const float *gamma,
                       const float *invstd, float *a, float *md, float *b, float *dgamma,
                       float *dbeta);

/* ------------------------------------------------- softmax + cross-entropy */
/* For logits(n, k) and labels(n) in [0, k): loss = mean over n of
 * -sum_j q_j log softmax(logits)_j with q = (1-s) onehot + s/k (label smoothing s in [0,1)).
 * Writes dlogits(n, k) = (softmax - q) / n (may be NULL) and probs(n, k) (may be NULL).
 * Stable for any finite logits (log-sum-exp). Returns LAM_ERR_RANGE if a label is out of
 * range, LAM_ERR_NUMERIC if a logit is not finite; *loss in double. */
lam_status lam__softmax_xent(int64_t n, int64_t k, const float *logits, const int32_t *labels,
                             float smoothing, double *loss, float *dlogits, float *probs);
lam_status lam__softmax_xent_ref(int64_t n, int64_t k, const float *logits,
                                 const int32_t *labels, float smoothing, double *loss,
                                 float *dlogits, float *probs);

/* ------------------------------------------------------------ recurrences */
/* The cells of rnn/lstm/gru layers and their gate counts G (PyTorch's gate order). */
typedef enum lam_cell { LAM_CELL_TANH = 0, LAM_CELL_RELU, LAM_CELL_LSTM, LAM_CELL_GRU } lam_cell;

static inline int64_t lam__cell_gates(int cell)
{
    return cell == LAM_CELL_LSTM ? 4 : cell == LAM_CELL_GRU ? 3 : 1;
}

/* One direction of one recurrent layer over a time-major batch of n rows and t steps
 * (kernels/rnn.c). States sit in t + 1 slots of (n, h): forward, slot 0 is the initial
 * state and slot s + 1 step s's output; reverse, slot s is step s's output and slot t the
 * initial state. */
typedef struct lam_rnn_seq {
    int cell;                  /* lam_cell */
    int reverse;               /* 1: steps run t-1 .. 0 */
    int64_t t, n, h;
    const float *whh;          /* (G*h, h), PyTorch's weight_hh */
    const float *whh_t;        /* (h, G*h): whh transposed, the forward GEMM's operand */
    const float *bhh;          /* GRU: (G*h) bias_hh (the others fold it into g) */
    float *g;                  /* (t, n, G*h): x W_ih^T + biases in; forward leaves the
                                * activated gates, backward their pre-activation gradients
                                * (GRU: of the input part) */
    float *gh;                 /* GRU: (t, n, G*h) h' W_hh^T + b_hh, then its gradient */
    float *hs;                 /* (t + 1, n, h) hidden states */
    float *cs;                 /* LSTM: (t + 1, n, h) cell states */
    const float *dy;           /* backward: (t, n) rows of the outputs' gradient, pitch ldd */
    int64_t ldd;
    float *carry_h, *carry_c, *dh_row; /* backward scratch, (n, h) each (carry_c: LSTM) */
} lam_rnn_seq;

/* Rows [r0, r1) over every step. Forward: g in as above; hs (and cs) hold the initial state
 * in its slot; writes every other slot and turns g (and gh) into saved gates. Backward, after
 * that forward: writes dG into g (and gh); the weight gradients are GEMMs over all steps of
 * g and hs, the caller's (layers/rnn.c). Single-threaded; rows are independent. */
void lam__rnn_seq_fwd(const lam_rnn_seq *s, int64_t r0, int64_t r1, int isa);
void lam__rnn_seq_fwd_ref(const lam_rnn_seq *s, int64_t r0, int64_t r1, int isa);
void lam__rnn_seq_bwd(const lam_rnn_seq *s, int64_t r0, int64_t r1, int isa);
void lam__rnn_seq_bwd_ref(const lam_rnn_seq *s, int64_t r0, int64_t r1, int isa);
/* kernels/rnn_avx512.c (call only where lam__best_isa() gives AVX512): one row's gate pass
 * of a tanh, LSTM or GRU cell (arguments as kernels/rnn.c's row_fwd), and an LSTM row's
 * backward (dh in; g and dc as row_bwd). */
void lam__rnn_row_fwd_avx512(int cell, int64_t H, float *g, const float *gh, const float *hp,
                             const float *cp, float *c, float *h);
void lam__rnn_lstm_bwd_avx512(int64_t H, const float *dh, float *g, const float *cp,
                              const float *c, float *dc);

/* ------------------------------------------------------------- transformer */
/* GELU (tanh form) with AVX-512, called by kernels/act.c where lam__best_isa() allows. */
void lam__gelu_tanh_fwd_avx512(int64_t n, const float *x, float *y);
void lam__gelu_tanh_bwd_avx512(int64_t n, const float *x, const float *dy, float *dx);

/* Layer norm over rows of D floats: y = (x - mean) * rstd * w + b, rstd = 1/sqrt(var + eps)
 * (biased variance, as PyTorch), mean and rstd kept per row for backward. Backward
 * overwrites dx (NULL: skip) and adds into dw and db (NULL: skip); rows run in parallel on
 * nt threads in fixed blocks, whose partial sums of dw and db (in ws, of
 * lam__layernorm_workspace floats) are added in block order, so results do not depend on
 * nt. The naive twin ignores ws. */
int64_t lam__layernorm_workspace(int64_t rows, int64_t D);
void lam__layernorm_fwd(int64_t rows, int64_t D, float eps, const float *x, const float *w,
                        const float *b, float *y, float *mean, float *rstd, int nt);
void lam__layernorm_fwd_ref(int64_t rows, int64_t D, float eps, const float *x,
                            const float *w, const float *b, float *y, float *mean, float *rstd,
                            int nt);
void lam__layernorm_bwd(int64_t rows, int64_t D, const float *x, const float *w,
                        const float *mean, const float *rstd, const float *dy, float *dx,
                        float *dw, float *db, float *ws, int nt);
void lam__layernorm_bwd_ref(int64_t rows, int64_t D, const float *x, const float *w,
                            const float *mean, const float *rstd, const float *dy, float *dx,
                            float *dw, float *db, float *ws, int nt);

/* One (sample, head) of multi-head self-attention over a sample of T positions. qkv is the
 * sample's fused projection (T, 3D): Q in columns [0, D), K in [D, 2D), V in [2D, 3D), head
 * h the hd = D/heads columns from h*hd of each. */
#define LAM_ATTN_MAX_T 4096 /* most positions of an attention layer */
typedef struct lam_attn {
    int64_t T, D, heads;
    int causal;          /* position t attends to positions <= t only */
    float scale;         /* 1/sqrt(hd) */
} lam_attn;
/* Forward of head h: p (T, T) = softmax(scale Q K^T) (rows, masked: zero above the diagonal
 * when causal), kept for backward; att (T, D) gets p~ V in the head's columns, where p~ is
 * p times keep (the dropout scale per entry: 0 or 1/(1-P)) when keep is not NULL (then
 * pd (T, T) is scratch for it). */
void lam__attn_head_fwd(const lam_attn *a, int64_t h, const float *qkv, float *p,
                        const float *keep, float *pd, float *att, int isa);
void lam__attn_head_fwd_ref(const lam_attn *a, int64_t h, const float *qkv, float *p,
                            const float *keep, float *pd, float *att, int isa);
/* Backward of head h from datt (T, D): writes the head's columns of dq, dk and dv in dqkv
 * (T, 3D). dp and pd are (T, T) scratch. */
void lam__attn_head_bwd(const lam_attn *a, int64_t h, const float *qkv, const float *p,
                        const float *keep, const float *datt, float *dqkv, float *dp,
                        float *pd, int isa);
void lam__attn_head_bwd_ref(const lam_attn *a, int64_t h, const float *qkv, const float *p,
                            const float *keep, const float *datt, float *dqkv, float *dp,
                            float *pd, int isa);
/* kernels/transformer_avx512.c: one softmax row of the attention, p[0..n) =
 * softmax(scale s[0..n)), and one row of its backward, ds[j] = scale p[j] (dp[j] - sum_k
 * p[k] dp[k]) over [0, n) (ds may be dp). */
void lam__attn_softmax_row_avx512(int64_t n, float scale, const float *s, float *p);
void lam__attn_softmax_bwd_row_avx512(int64_t n, float scale, const float *p, const float *dp,
                                      float *ds);

/* ------------------------------------------------------------ kernel table */
typedef struct lam_kernels {
    lam_status (*sgemm)(int, int, int64_t, int64_t, int64_t, float, const float *, int64_t,
                        const float *, int64_t, float, float *, int64_t);
    void (*conv2d_fwd)(const lam_conv_geom *, const float *, const float *, const float *,
                       float *, float *, int);
    void (*conv2d_bwd_data)(const lam_conv_geom *, const float *, const float *, float *,
                            float *, int);
    void (*conv2d_bwd_weight)(const lam_conv_geom *, const float *, const float *, float *,
                              float *, float *, int);
    void (*linear_fwd)(int64_t, int64_t, int64_t, const float *, const float *, const float *,
                       float *);
    void (*linear_bwd)(int64_t, int64_t, int64_t, const float *, const float *, const float *,
                       float *, float *, float *);
    void (*linear_fused_fwd)(int64_t, int64_t, int64_t, lam_act, const float *, const float *,
                             const float *, float *, int);
    void (*linear_fused_bwd)(int64_t, int64_t, int64_t, lam_act, const float *, const float *,
                             const float *, float *, float *, float *, float *, int);
    void (*maxpool_fwd)(const lam_pool_geom *, const float *, float *, int32_t *, int);
    void (*maxpool_bwd)(const lam_pool_geom *, const float *, const int32_t *, float *, int);
    void (*avgpool_fwd)(const lam_pool_geom *, const float *, float *, int);
    void (*avgpool_bwd)(const lam_pool_geom *, const float *, float *, int);
    lam_status (*isa_gemm)(int, int, int, int64_t, int64_t, int64_t, const float *, int64_t,
                           const float *, int64_t, float, float *, int64_t);
    void (*rnn_seq_fwd)(const lam_rnn_seq *, int64_t, int64_t, int);
    void (*rnn_seq_bwd)(const lam_rnn_seq *, int64_t, int64_t, int);
    void (*act_fwd)(lam_act, float, int64_t, const float *, float *);
    void (*act_bwd)(lam_act, float, int64_t, const float *, const float *, const float *,
                    float *);
    void (*layernorm_fwd)(int64_t, int64_t, float, const float *, const float *, const float *,
                          float *, float *, float *, int);
    void (*layernorm_bwd)(int64_t, int64_t, const float *, const float *, const float *,
                          const float *, const float *, float *, float *, float *, float *, int);
    void (*attn_head_fwd)(const lam_attn *, int64_t, const float *, float *, const float *,
                          float *, float *, int);
    void (*attn_head_bwd)(const lam_attn *, int64_t, const float *, const float *,
                          const float *, const float *, float *, float *, float *, int);
    int64_t (*conv2d_fused_workspace)(const lam_conv_geom *, const lam_conv_fusion *, int);
    void (*conv2d_fused_fwd)(const lam_conv_geom *, const lam_conv_fusion *, const float *,
                             const float *, const float *, float *, int32_t *, float *, int);
    void (*conv2d_fused_bwd)(const lam_conv_geom *, const lam_conv_fusion *, const float *,
                             const float *, const float *, const int32_t *, const float *,
                             float *, float *, float *, float *, int);
    void (*bias_act)(int64_t, int64_t, int64_t, const float *, lam_act, float, float *);
    void (*bias_grad)(int64_t, int64_t, int64_t, const float *, float *);
    lam_status (*softmax_xent)(int64_t, int64_t, const float *, const int32_t *, float,
                               double *, float *, float *);
    int64_t (*bn_workspace)(int64_t, int64_t, int64_t, int);
    void (*bn_fwd_train)(int64_t, int64_t, int64_t, const float *, const float *, const float *,
                         float, float *, float *, float *, float *, int, float *, int);
    void (*bn_fwd_affine)(int64_t, int64_t, int64_t, const float *, const float *,
                          const float *, float *, int, int);
    void (*bn_bwd)(int64_t, int64_t, int64_t, const float *, const float *, const float *,
                   const float *, const float *, const float *, float *, float *, float *,
                   float *, int);
    void (*bn_stats)(int64_t, int64_t, int64_t, const float *, double *, float *, int);
    void (*bn_norm)(int64_t, int64_t, int64_t, const float *, const float *, const float *,
                    const float *, float *, int, int);
    void (*bn_bwd_sums)(int64_t, int64_t, int64_t, const float *, const float *, const float *,
                        const float *, double *, float *, int);
    void (*bn_bwd_dx)(int64_t, int64_t, int64_t, const float *, const float *, const float *,
                      const float *, const float *, const float *, const float *, float *, int);
} lam_kernels;

extern const lam_kernels lam__kernels_fast;
extern const lam_kernels lam__kernels_ref;

/* The table a kernel set selects. */
const lam_kernels *lam__kernels_for(lam_kernel_set set);

#endif
