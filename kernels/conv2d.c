/*
 * 2-D convolution by im2col + GEMM, OpenMP over chunks of the batch.
 *
 * Per image and group gr (K = C_in/g*KH*KW, P = OH*OW, W_gr = w rows of group gr):
 *   forward      y_gr(C_out/g, P)  = W_gr(C_out/g, K) * col(K, P) + b
 *   input grad   col(K, P)         = W_gr^T * dy_gr(C_out/g, P);  dx = col2im(col)
 *   weight grad  dW_gr(C_out/g, K) += dy_gr * col^T;              db += sum_P dy
 * with col = im2col(x, group gr). A 1x1, stride-1, unpadded convolution has col == x, so
 * it skips im2col/col2im entirely.
 *
 * Parallelism and determinism: the batch is cut into chunks of LAM_CHUNK samples; chunks
 * are spread over `nt` threads with a static schedule. Each thread owns one im2col slice
 * of `ws` and calls GEMM per image and group from inside the parallel region, where the
 * OpenMP build of OpenBLAS runs single-threaded. Weight gradients are first written per
 * chunk (its own slice of `ws`), then added to dw/db in chunk order, so every result is
 * bitwise the same for any nt.
 *
 * Workspace layout (floats, slices rounded to 64 bytes so threads never share a line):
 *   [ per-chunk dW|db partials: n_chunks * part ][ per-thread columns: threads * col ]
 */
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels.h"

static int64_t round_line(int64_t floats)
{
    return (floats + 15) / 16 * 16;
}

static int is_pointwise(const lam_conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

static int64_t k_of(const lam_conv_geom *g)
{
    return g->c_in / g->groups * g->kh * g->kw;
}

static int64_t col_floats(const lam_conv_geom *g)
{
    return is_pointwise(g) ? 0 : round_line(k_of(g) * g->oh * g->ow);
}

static int64_t part_floats(const lam_conv_geom *g)
{
    return round_line(g->c_out * k_of(g) + g->c_out);
}

static int64_t n_chunks(const lam_conv_geom *g)
{
    return (g->n + LAM_CHUNK - 1) / LAM_CHUNK;
}

/* Threads actually used: never more than there are chunks. */
static int team_size(int nt, int64_t chunks)
{
    if (nt < 1) {
        nt = 1;
    }
    return (int64_t)nt < chunks ? nt : (int)chunks;
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

int64_t lam__conv2d_workspace(const lam_conv_geom *g, int nt)
{
    /* The geometry passed lam__conv_geom_init, so only the thread/chunk multiples can
     * overflow; -1 tells the caller the request is unsatisfiable. */
    const int64_t chunks = n_chunks(g);
    const int64_t threads = team_size(nt, chunks);
    const int64_t cf = col_floats(g), pf = part_floats(g);
    if (cf > 0 && threads > INT64_MAX / 4 / cf) {
        return -1;
    }
    if (chunks > INT64_MAX / 4 / pf) {
        return -1;
    }
    const int64_t total = chunks * pf + threads * cf;
    return total <= INT64_MAX / 4 ? total : -1;
}

static void fwd_image(const lam_conv_geom *g, const float *x, const float *w, const float *b,
                      float *y, float *col)
{
    const int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    const int64_t k = k_of(g), p = g->oh * g->ow;
    const int pointwise = is_pointwise(g);
    /* Bias first, then GEMM with beta = 1: one write pass instead of a read-modify-write. */
    if (b != NULL) {
        for (int64_t co = 0; co < g->c_out; co++) {
            float *yc = y + co * p;
            const float bc = b[co];
            for (int64_t i = 0; i < p; i++) {
                yc[i] = bc;
            }
        }
    }
    const float beta = b != NULL ? 1.0f : 0.0f;
    for (int64_t gr = 0; gr < g->groups; gr++) {
        const float *cm = x + gr * cig * p;
        if (!pointwise) {
            lam__im2col(g, x, gr * cig, col);
            cm = col;
        }
        (void)lam__sgemm(0, 0, cog, p, k, 1.0f, w + gr * cog * k, k, cm, p, beta,
                         y + gr * cog * p, p);
    }
}

void lam__conv2d_fwd(const lam_conv_geom *g, const float *x, const float *w, const float *b,
                     float *y, float *ws, int nt)
{
    const int64_t chunks = n_chunks(g);
    const int threads = team_size(nt, chunks);
    const int64_t cf = col_floats(g);
    const int64_t xs = g->c_in * g->h * g->w, ys = g->c_out * g->oh * g->ow;
    float *cols = ws + chunks * part_floats(g);
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (int64_t ch = 0; ch < chunks; ch++) {
        float *col = cols + thread_id() * cf;
        const int64_t end = (ch + 1) * LAM_CHUNK < g->n ? (ch + 1) * LAM_CHUNK : g->n;
        for (int64_t s = ch * LAM_CHUNK; s < end; s++) {
            fwd_image(g, x + s * xs, w, b, y + s * ys, col);
        }
    }
}

static void bwd_data_image(const lam_conv_geom *g, const float *dy, const float *w, float *dx,
                           float *col)
{
    const int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    const int64_t k = k_of(g), p = g->oh * g->ow;
    if (is_pointwise(g)) {
        /* col == dx: write the GEMM straight into it. */
        for (int64_t gr = 0; gr < g->groups; gr++) {
            (void)lam__sgemm(1, 0, cig, p, cog, 1.0f, w + gr * cog * k, k, dy + gr * cog * p,
                             p, 0.0f, dx + gr * cig * p, p);
        }
        return;
    }
    memset(dx, 0, (size_t)(g->c_in * g->h * g->w) * sizeof(float));
    for (int64_t gr = 0; gr < g->groups; gr++) {
        (void)lam__sgemm(1, 0, k, p, cog, 1.0f, w + gr * cog * k, k, dy + gr * cog * p, p, 0.0f,
                         col, p);
        lam__col2im(g, col, gr * cig, dx);
    }
}

void lam__conv2d_bwd_data(const lam_conv_geom *g, const float *dy, const float *w, float *dx,
                          float *ws, int nt)
{
    const int64_t chunks = n_chunks(g);
    const int threads = team_size(nt, chunks);
    const int64_t cf = col_floats(g);
    const int64_t xs = g->c_in * g->h * g->w, ys = g->c_out * g->oh * g->ow;
    float *cols = ws + chunks * part_floats(g);
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (int64_t ch = 0; ch < chunks; ch++) {
        float *col = cols + thread_id() * cf;
        const int64_t end = (ch + 1) * LAM_CHUNK < g->n ? (ch + 1) * LAM_CHUNK : g->n;
        for (int64_t s = ch * LAM_CHUNK; s < end; s++) {
            bwd_data_image(g, dy + s * ys, w, dx + s * xs, col);
        }
    }
}

/* dW and db of samples [s0, s1) into the chunk's own partials (overwritten). */
static void bwd_weight_chunk(const lam_conv_geom *g, const float *x, const float *dy,
                             int64_t s0, int64_t s1, float *dwp, float *dbp, float *col)
{
    const int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    const int64_t k = k_of(g), p = g->oh * g->ow;
    const int64_t xs = g->c_in * g->h * g->w, ys = g->c_out * p;
    const int pointwise = is_pointwise(g);
    for (int64_t s = s0; s < s1; s++) {
        const float beta = s == s0 ? 0.0f : 1.0f;
        const float *xi = x + s * xs, *dyi = dy + s * ys;
        for (int64_t gr = 0; gr < g->groups; gr++) {
            const float *cm = xi + gr * cig * p;
            if (!pointwise) {
                lam__im2col(g, xi, gr * cig, col);
                cm = col;
            }
            (void)lam__sgemm(0, 1, cog, k, p, 1.0f, dyi + gr * cog * p, p, cm, p, beta,
                             dwp + gr * cog * k, k);
        }
    }
    if (dbp != NULL) {
        memset(dbp, 0, (size_t)g->c_out * sizeof(float));
        lam__bias_grad(s1 - s0, g->c_out, p, dy + s0 * ys, dbp);
    }
}

void lam__conv2d_bwd_weight(const lam_conv_geom *g, const float *x, const float *dy, float *dw,
                            float *db, float *ws, int nt)
{
    const int64_t chunks = n_chunks(g);
    const int threads = team_size(nt, chunks);
    const int64_t cf = col_floats(g), pf = part_floats(g);
    const int64_t wn = g->c_out * k_of(g);
    float *cols = ws + chunks * pf;
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (int64_t ch = 0; ch < chunks; ch++) {
        float *col = cols + thread_id() * cf;
        float *part = ws + ch * pf;
        const int64_t end = (ch + 1) * LAM_CHUNK < g->n ? (ch + 1) * LAM_CHUNK : g->n;
        bwd_weight_chunk(g, x, dy, ch * LAM_CHUNK, end, part, db != NULL ? part + wn : NULL,
                         col);
    }
    /* Chunk order, whatever thread computed each chunk: bitwise thread-count independence. */
    for (int64_t ch = 0; ch < chunks; ch++) {
        const float *part = ws + ch * pf;
        for (int64_t i = 0; i < wn; i++) {
            dw[i] += part[i];
        }
        if (db != NULL) {
            for (int64_t co = 0; co < g->c_out; co++) {
                db[co] += part[wn + co];
            }
        }
    }
}
