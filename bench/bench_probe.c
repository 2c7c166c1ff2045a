/*
 * GEMM probe: the bench is linked with -Wl,--wrap=lam__sgemm and --wrap=lam__conv_gemm, so
 * every call to them from another object file of the static library (conv2d.o, linear.o,
 * rnn.o, the kernel table) lands in the wrappers below, which time it and call the real
 * one. (lam__conv_gemm's own fallback to lam__sgemm is not counted twice.) This measures
 * the GEMM time inside a real layer forward/backward, with its real cache state, instead of
 * replaying the GEMMs in isolation.
 *
 * Time accounting, so that the result compares with the layer's wall time:
 *  - a call made outside a parallel region (BLAS threads itself) counts its wall time;
 *  - calls made inside lamina's OpenMP loops are summed per thread and divided by the team
 *    size: the average fraction of the team's time spent in GEMM. Idle threads
 *    (imbalance) therefore count as non-GEMM time, which is honest.
 * When the probe is off the wrapper costs one branch.
 */
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "bench.h"

#ifdef LAM_BENCH_WRAP

/* Declared here: these names exist only through the linker's --wrap. */
lam_status __real_lam__sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                             const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                             float *c, int64_t ldc);
lam_status __wrap_lam__sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                             const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                             float *c, int64_t ldc);
lam_status __real_lam__conv_gemm(int isa, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                                 const float *a, int64_t lda, const float *b, int64_t ldb,
                                 float beta, float *c, int64_t ldc);
lam_status __wrap_lam__conv_gemm(int isa, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                                 const float *a, int64_t lda, const float *b, int64_t ldb,
                                 float beta, float *c, int64_t ldc);

/* One cache line per thread so the counters do not bounce between cores. */
typedef struct slot {
    double seconds;
    double flops;
    int team;
    int depth; /* inside a timed call: an inner GEMM is not counted again */
    char pad[64 - 2 * sizeof(double) - 2 * sizeof(int)];
} slot;

static slot slots[BENCH_MAX_THREADS + 1]; /* [0]: outside parallel regions */
static int probe_on;                      /* changed only outside parallel regions */

static int slot_index(int *team)
{
    int idx = 0;
    *team = 1;
#ifdef _OPENMP
    if (omp_in_parallel()) {
        idx = omp_get_thread_num() + 1;
        *team = omp_get_num_threads();
    }
#endif
    return idx <= BENCH_MAX_THREADS ? idx : -1;
}

static void count(int idx, int team, double dt, int64_t m, int64_t n, int64_t k)
{
    slots[idx].seconds += dt;
    slots[idx].flops += 2.0 * (double)m * (double)n * (double)k;
    slots[idx].team = team;
}

lam_status __wrap_lam__sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                             const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                             float *c, int64_t ldc)
{
    int team, idx = probe_on ? slot_index(&team) : -1;
    if (idx < 0 || slots[idx].depth > 0) {
        return __real_lam__sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
    double t0 = bench_now();
    lam_status st =
        __real_lam__sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    count(idx, team, bench_now() - t0, m, n, k);
    return st;
}

lam_status __wrap_lam__conv_gemm(int isa, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                                 const float *a, int64_t lda, const float *b, int64_t ldb,
                                 float beta, float *c, int64_t ldc)
{
    int team, idx = probe_on ? slot_index(&team) : -1;
    if (idx < 0) {
        return __real_lam__conv_gemm(isa, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
    }
    double t0 = bench_now();
    slots[idx].depth++;
    lam_status st =
        __real_lam__conv_gemm(isa, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
    slots[idx].depth--;
    count(idx, team, bench_now() - t0, m, n, k);
    return st;
}

/* The implicit-GEMM convolution's window products (kernels/conv2d_implicit.c). */
void __real_lam__gemm_win_b(int isa, int64_t m, int64_t n, const float *a, int64_t lda,
                            const lam_window *wb, float *c, int64_t ldc, int add);
void __wrap_lam__gemm_win_b(int isa, int64_t m, int64_t n, const float *a, int64_t lda,
                            const lam_window *wb, float *c, int64_t ldc, int add);
void __real_lam__gemm_win_a(int isa, const lam_window *wa, int64_t n, int64_t k, const float *b,
                            int64_t ldb, float *c, int64_t ldc, int add);
void __wrap_lam__gemm_win_a(int isa, const lam_window *wa, int64_t n, int64_t k, const float *b,
                            int64_t ldb, float *c, int64_t ldc, int add);

void __wrap_lam__gemm_win_b(int isa, int64_t m, int64_t n, const float *a, int64_t lda,
                            const lam_window *wb, float *c, int64_t ldc, int add)
{
    int team, idx = probe_on ? slot_index(&team) : -1;
    const double t0 = idx >= 0 ? bench_now() : 0.0;
    __real_lam__gemm_win_b(isa, m, n, a, lda, wb, c, ldc, add);
    if (idx >= 0) {
        const int64_t k = wb->chans * wb->kh * wb->kw + (wb->ones != NULL);
        count(idx, team, bench_now() - t0, m, n, k);
    }
}

void __wrap_lam__gemm_win_a(int isa, const lam_window *wa, int64_t n, int64_t k, const float *b,
                            int64_t ldb, float *c, int64_t ldc, int add)
{
    int team, idx = probe_on ? slot_index(&team) : -1;
    const double t0 = idx >= 0 ? bench_now() : 0.0;
    __real_lam__gemm_win_a(isa, wa, n, k, b, ldb, c, ldc, add);
    if (idx >= 0) {
        const int64_t m = wa->chans * wa->kh * wa->kw + (wa->ones != NULL);
        count(idx, team, bench_now() - t0, m, n, k);
    }
}

int probe_available(void)
{
    return 1;
}

void probe_start(void)
{
    memset(slots, 0, sizeof slots); /* depth too: no probed call is running now */
    probe_on = 1;
}

void probe_stop(double *seconds, double *flops)
{
    probe_on = 0;
    double par = 0.0, fl = slots[0].flops;
    int team = 1;
    for (int i = 1; i <= BENCH_MAX_THREADS; i++) {
        par += slots[i].seconds;
        fl += slots[i].flops;
        team = slots[i].team > team ? slots[i].team : team;
    }
    *seconds = slots[0].seconds + par / team;
    *flops = fl;
}

#else

int probe_available(void)
{
    return 0;
}

void probe_start(void)
{
}

void probe_stop(double *seconds, double *flops)
{
    *seconds = 0.0;
    *flops = 0.0;
}

#endif
