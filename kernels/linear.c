/*
 * Fully connected layer, one GEMM per product (BLAS threads these itself: no batch loop).
 *
 *   forward   y(n, out)  = x(n, in) W(out, in)^T + b(out)
 *   backward  dx(n, in)  = dy(n, out) W(out, in)            (overwritten)
 *             dW(out,in) += dy^T(out, n) x(n, in)           (accumulated, GEMM beta = 1)
 *             db(out)    += sum_n dy(n, out)
 *
 * Sizes must fit BLAS's int (lam__sgemm refuses larger ones and the product is skipped);
 * layers validate them when they are built.
 */
#include "kernels.h"

void lam__linear_fwd(int64_t n, int64_t in, int64_t out, const float *x, const float *w,
                     const float *b, float *y)
{
    /* Bias rows first, then beta = 1: y is written once before the GEMM reads it back. */
    if (b != NULL) {
        for (int64_t i = 0; i < n; i++) {
            float *yi = y + i * out;
            for (int64_t j = 0; j < out; j++) {
                yi[j] = b[j];
            }
        }
    }
    (void)lam__sgemm(0, 1, n, out, in, 1.0f, x, in, w, in, b != NULL ? 1.0f : 0.0f, y, out);
}

void lam__linear_bwd(int64_t n, int64_t in, int64_t out, const float *x, const float *w,
                     const float *dy, float *dx, float *dw, float *db)
{
    if (dx != NULL) {
        (void)lam__sgemm(0, 0, n, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in);
    }
    if (dw != NULL) {
        (void)lam__sgemm(1, 0, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
    }
    if (db != NULL) {
        /* Row by row: contiguous, vectorisable, and a fixed order. */
        for (int64_t i = 0; i < n; i++) {
            const float *dyi = dy + i * out;
            for (int64_t j = 0; j < out; j++) {
                db[j] += dyi[j];
            }
        }
    }
}

/* -------------------------------------------- fused, split into column blocks */
/*
 * The training step's linear passes, with the relu a model folds in, run by lamina itself:
 * every GEMM is cut into column blocks whose bounds depend on the width alone (never on the
 * thread count), and the blocks run single-threaded inside one parallel region. So each
 * output element comes from the same BLAS call for any nt, which a GEMM that BLAS threads
 * does not guarantee: with OPENBLAS_CORETYPE=Haswell, OpenBLAS 0.3.21's threaded sgemm
 * differs in the last bits from its single-threaded one on every seed-CNN shape.
 *
 *   forward    y(:, c0:c1) = act(x W(c0:c1, :)^T + b(c0:c1))      blocks over `out`, or
 *              y(r0:r1, :) = act(x(r0:r1, :) W^T + b)              over rows
 *   backward   dy *= [y > 0] (relu; in place), then
 *              dx(:, c0:c1) = dy W(:, c0:c1)                       blocks over `in`, or
 *              dx(r0:r1, :) = dy(r0:r1, :) W                       over rows
 *              dW(:, c0:c1) += dy^T x(:, c0:c1)                    blocks over `in`, or
 *              dW(o0:o1, :) += dy(:, o0:o1)^T x                    over `out`
 *              db += sum_n dy                                      one item
 *
 * Each block packs the operand it shares with the other blocks again, so a product is cut
 * along the dimension that makes the shared operand the smaller one: a GPT's layers (768
 * rows of 128 to 512 features) split over rows, where column blocks packed x four times
 * (OpenBLAS's copy routines were 17% of a gpt-mini step); a CNN's classifier (64 rows of
 * 1600) keeps its column blocks. Every choice depends on the shape alone.
 *
 * Row blocks run on lamina's unpacked AVX-512 GEMM (lam__conv_gemm: x W^T as the NT kernel,
 * dy W as the NN kernel with W as stored) where the CPU has it: they need no packing, and
 * the OpenBLAS here runs its Haswell kernels, half this CPU's vector width (a gpt-mini step
 * about 8% faster on one thread). Column blocks and dW stay on OpenBLAS (dW's long K is what
 * its packed kernels are good at; see bench/NOTES-engine.md, sixth round).
 */
/* Below this many multiply-adds a pass runs on the calling thread: a fork/join costs more
 * than the work, and on a busy machine a barrier can wait a whole time slice. Results do not
 * change: OpenBLAS never threads a product this small (its own threshold is 2^18 too), so
 * each block is the same single-threaded call as inside a region. */
#define SERIAL_BELOW (INT64_C(1) << 18)

static int pass_threads(int64_t n, int64_t in, int64_t out, int nt)
{
    return n * in * out < SERIAL_BELOW ? 1 : nt;
}

typedef struct lin_pass {
    int64_t n, in, out;
    lam_act act;
    const float *x, *w, *b, *y;
    float *yo, *dy, *dx, *dw, *db;
    int64_t nbo, nbr;  /* forward: blocks over out, and over rows when out has one block */
    int64_t nbx, nbw;  /* backward: blocks of dx and of dW */
    int dx_rows;       /* dx blocks are rows (else columns of in) */
    int dw_out;        /* dW blocks are rows of dW, over out (else columns of in) */
    int isa;           /* of lamina's GEMM for the row-block dx products */
} lin_pass;

/* At most 4 blocks of at least 32 columns: a power of two so 2 or 4 threads share them
 * evenly, and few, because each block packs the shared operand again (8 blocks cost 6-10% of
 * GEMM speed on the MLP's shapes, 4 blocks 2-3%, measured single-threaded). Widths are
 * rounded to 8 columns. */
static int64_t col_blocks(int64_t cols)
{
    int64_t nb = 4;
    while (nb > 1 && cols / nb < 32) {
        nb /= 2;
    }
    return nb;
}

static void col_range(int64_t cols, int64_t nb, int64_t blk, int64_t *c0, int64_t *c1)
{
    int64_t width = ((cols + nb - 1) / nb + 7) / 8 * 8;
    *c0 = blk * width < cols ? blk * width : cols;
    *c1 = *c0 + width < cols ? *c0 + width : cols;
}

/* Block blk of the forward: columns (blk % nbo) of rows (blk / nbo). */
static void item_fwd(const void *arg, int64_t blk, int lane)
{
    const lin_pass *lp = arg;
    (void)lane;
    int64_t c0, c1, r0, r1;
    col_range(lp->out, lp->nbo, blk % lp->nbo, &c0, &c1);
    col_range(lp->n, lp->nbr, blk / lp->nbo, &r0, &r1);
    if (c1 <= c0 || r1 <= r0) {
        return;
    }
    float *y = lp->yo + r0 * lp->out + c0;
    if (lp->b != NULL) {
        for (int64_t i = 0; i < r1 - r0; i++) {
            for (int64_t j = c0; j < c1; j++) {
                y[i * lp->out + j - c0] = lp->b[j];
            }
        }
    }
    if (lp->nbo == 1) {
        (void)lam__conv_gemm(lp->isa, 0, 1, r1 - r0, c1 - c0, lp->in, lp->x + r0 * lp->in, lp->in,
                             lp->w + c0 * lp->in, lp->in, lp->b != NULL ? 1.0f : 0.0f, y, lp->out);
    } else {
        (void)lam__sgemm(0, 1, r1 - r0, c1 - c0, lp->in, 1.0f, lp->x + r0 * lp->in, lp->in,
                         lp->w + c0 * lp->in, lp->in, lp->b != NULL ? 1.0f : 0.0f, y, lp->out);
    }
    if (lp->act != LAM_ACT_NONE) {
        for (int64_t i = 0; i < r1 - r0; i++) {
            lam__act_fwd(lp->act, 0.0f, c1 - c0, y + i * lp->out, y + i * lp->out);
        }
    }
}

void lam__linear_fused_fwd(int64_t n, int64_t in, int64_t out, lam_act act, const float *x,
                           const float *w, const float *b, float *y, int nt)
{
    lin_pass lp = {n, in, out, act, x, w, b, NULL, y, NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0};
    /* more rows than outputs: blocks of rows share (and pack) W, smaller than x; a 10-wide
     * classifier would otherwise be one block, one thread working and one waiting */
    lp.nbo = n > out ? 1 : col_blocks(out);
    lp.nbr = lp.nbo == 1 ? col_blocks(n) : 1;
    lp.isa = lam__best_isa();
    const lam_phase ph = {item_fwd, lp.nbo * lp.nbr, 1};
    lam__run_phases(pass_threads(n, in, out, nt), &lp, &ph, 1);
}

static void item_mask(const void *arg, int64_t i, int lane)
{
    const lin_pass *lp = arg;
    (void)lane;
    float *d = lp->dy + i * lp->out;
    lam__act_bwd(lp->act, 0.0f, lp->out, lp->y + i * lp->out, lp->y + i * lp->out, d, d);
}

/* Items: dx blocks, then dW blocks, then db. */
static void item_bwd(const void *arg, int64_t item, int lane)
{
    const lin_pass *lp = arg;
    (void)lane;
    const int64_t nx = lp->dx != NULL ? lp->nbx : 0, nw = lp->dw != NULL ? lp->nbw : 0;
    const int64_t n = lp->n, in = lp->in, out = lp->out;
    int64_t c0, c1;
    if (item < nx && lp->dx_rows) {
        col_range(n, lp->nbx, item, &c0, &c1);
        if (c1 > c0) {
            /* dy W with W as it is stored (no transpose): lamina's unpacked AVX-512 kernel,
             * where OpenBLAS runs its Haswell kernels and packs W in every block */
            (void)lam__conv_gemm(lp->isa, 0, 0, c1 - c0, in, out, lp->dy + c0 * out, out, lp->w,
                                 in, 0.0f, lp->dx + c0 * in, in);
        }
    } else if (item < nx) {
        col_range(in, lp->nbx, item, &c0, &c1);
        if (c1 > c0) {
            (void)lam__sgemm(0, 0, n, c1 - c0, out, 1.0f, lp->dy, out, lp->w + c0, in, 0.0f,
                             lp->dx + c0, in);
        }
    } else if (item < nx + nw && lp->dw_out) {
        col_range(out, lp->nbw, item - nx, &c0, &c1);
        if (c1 > c0) {
            (void)lam__sgemm(1, 0, c1 - c0, in, n, 1.0f, lp->dy + c0, out, lp->x, in, 1.0f,
                             lp->dw + c0 * in, in);
        }
    } else if (item < nx + nw) {
        col_range(in, lp->nbw, item - nx, &c0, &c1);
        if (c1 > c0) {
            (void)lam__sgemm(1, 0, out, c1 - c0, n, 1.0f, lp->dy, out, lp->x + c0, in, 1.0f,
                             lp->dw + c0, in);
        }
    } else {
        /* row by row: contiguous, vectorisable, a fixed order */
        for (int64_t i = 0; i < lp->n; i++) {
            const float *d = lp->dy + i * lp->out;
            for (int64_t j = 0; j < lp->out; j++) {
                lp->db[j] += d[j];
            }
        }
    }
}

void lam__linear_fused_bwd(int64_t n, int64_t in, int64_t out, lam_act act, const float *x,
                           const float *w, const float *y, float *dy, float *dx, float *dw,
                           float *db, int nt)
{
    lin_pass lp = {n, in, out, act, x, w, NULL, y, NULL, dy, dx, dw, db, 0, 0, 0, 0, 0, 0, 0};
    /* dx: row blocks share W (out x in), column blocks dy (n x out); dW: blocks over out
     * share x (n x in), blocks over in share dy (n x out): the smaller shared operand */
    lp.dx_rows = n > in;
    lp.nbx = col_blocks(lp.dx_rows ? n : in);
    lp.dw_out = out > in;
    lp.nbw = col_blocks(lp.dw_out ? out : in);
    lp.isa = lam__best_isa();
    const int64_t items = (dx != NULL ? lp.nbx : 0) + (dw != NULL ? lp.nbw : 0) + (db != NULL);
    /* the relu mask first, on this thread: one pass over dy (n x out) is cheaper than the
     * barrier a phase of its own would need before the GEMMs read all of dy */
    for (int64_t i = 0; act != LAM_ACT_NONE && i < n; i++) {
        item_mask(&lp, i, 0);
    }
    const lam_phase ph = {item_bwd, items, 1};
    lam__run_phases(pass_threads(n, in, out, nt), &lp, &ph, 1);
}
