/*
 * GEMM probe: the bench is linked with -Wl,--wrap=lam__sgemm, so every call to lam__sgemm
 * from another object file of the static library (conv2d.o, linear.o, the kernel table)
 * lands in __wrap_lam__sgemm below, which times it and calls the real one. This measures
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
lam_status __real_lam__sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                             float alpha, const float *a, int64_t lda, const float *b,
                             int64_t ldb, float beta, float *c, int64_t ldc);
lam_status __wrap_lam__sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                             float alpha, const float *a, int64_t lda, const float *b,
                             int64_t ldb, float beta, float *c, int64_t ldc);

/* One cache line per thread so the counters do not bounce between cores. */
typedef struct slot {
    double seconds;
    double flops;
    int team;
    char pad[64 - 2 * sizeof(double) - sizeof(int)];
} slot;

static slot slots[BENCH_MAX_THREADS + 1]; /* [0]: outside parallel regions */
static int probe_on;                        /* changed only outside parallel regions */

lam_status __wrap_lam__sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                             float alpha, const float *a, int64_t lda, const float *b,
                             int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (!probe_on) {
        return __real_lam__sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                                 ldc);
    }
    double t0 = bench_now();
    lam_status st = __real_lam__sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta,
                                      c, ldc);
    double dt = bench_now() - t0;
    int idx = 0, team = 1;
#ifdef _OPENMP
    if (omp_in_parallel()) {
        idx = omp_get_thread_num() + 1;
        team = omp_get_num_threads();
    }
#endif
    if (idx <= BENCH_MAX_THREADS) {
        slots[idx].seconds += dt;
        slots[idx].flops += 2.0 * (double)m * (double)n * (double)k;
        slots[idx].team = team;
    }
    return st;
}

int probe_available(void)
{
    return 1;
}

void probe_start(void)
{
    memset(slots, 0, sizeof slots);
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
