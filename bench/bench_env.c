/*
 * Timing helpers and the header of lamina-bench: CPU, compiler and flags, the OpenBLAS core,
 * config and threading build, thread settings, and the sgemm peak measured at start (with
 * the one measured again at the end, the higher of the two is the ceiling every "% of peak"
 * column is relative to).
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MADV_HUGEPAGE */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "bench.h"

#ifndef LAM_BENCH_CC
#define LAM_BENCH_CC "unknown compiler"
#endif
#ifndef LAM_BENCH_CFLAGS
#define LAM_BENCH_CFLAGS "unknown flags"
#endif

#ifdef LAM_HAVE_OPENBLAS
/* From libopenblas (not part of cblas.h's portable surface, so declared here). Only used
 * with the pthreads build, whose thread pool does not follow omp_set_num_threads. */
void openblas_set_num_threads(int num_threads);
#endif

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bench_stats bench_summarize(double *t, int n)
{
    bench_stats s = {NAN, NAN, NAN, n};
    if (n < 1) {
        return s;
    }
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    s.min = t[0];
    s.max = t[n - 1];
    s.med = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    return s;
}

bench_stats bench_time(bench_fn fn, void *arg, int warmup, int reps)
{
    static double t[BENCH_MAX_REPS];
    if (reps > BENCH_MAX_REPS) {
        reps = BENCH_MAX_REPS;
    }
    for (int i = 0; i < warmup; i++) {
        fn(arg);
    }
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        fn(arg);
        t[i] = bench_now() - t0;
    }
    return bench_summarize(t, reps);
}

int bench_want(const bench_opts *o, const char *op)
{
    return o->op == NULL || strstr(op, o->op) != NULL;
}

void bench_set_threads(int t)
{
#ifdef _OPENMP
    omp_set_num_threads(t);
#endif
#ifdef LAM_HAVE_OPENBLAS
    if (lam__blas_parallel_kind() == 1) {
        openblas_set_num_threads(t);
    }
#endif
}

float *bench_floats(int64_t n)
{
    size_t bytes = ((size_t)(n > 0 ? n : 1) * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    if (p == NULL) {
        fprintf(stderr, "lamina-bench: error: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    memset(p, 0, bytes);
    return p;
}

void bench_fill(float *x, int64_t n, uint64_t stream)
{
    /* Counter-based: the same data on every run and for every thread count. */
    for (int64_t i = 0; i < n; i++) {
        x[i] = 2.0f * lam_rng_uniform(20261129u, stream, (uint64_t)i) - 1.0f;
    }
}

double bench_rel_err(const float *a, const float *b, int64_t n)
{
    double diff = 0.0, scale = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= diff)) {
            diff = d; /* also catches NaN, which then propagates */
        }
        if (fabs((double)b[i]) > scale) {
            scale = fabs((double)b[i]);
        }
    }
    if (scale == 0.0) {
        return diff;
    }
    return diff / scale;
}

/* ------------------------------------------------------------------ header */

static void copy_str(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src != NULL ? src : "");
}

static void read_cpu(char *dst, size_t size)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096], model[128] = "unknown CPU";
    int cpus = 0, avx2 = 0, avx512 = 0, fma = 0, have_model = 0;
    if (f != NULL) {
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "model name", 10) == 0 && !have_model) {
                const char *c = strchr(line, ':');
                if (c != NULL && c[1] != '\0') {
                    have_model = 1;
                    copy_str(model, sizeof model, c + 2);
                    model[strcspn(model, "\n")] = '\0';
                }
            }
            if (strncmp(line, "processor", 9) == 0) {
                cpus++;
            }
            if (strncmp(line, "flags", 5) == 0) {
                avx2 = strstr(line, " avx2") != NULL;
                avx512 = strstr(line, " avx512f") != NULL;
                fma = strstr(line, " fma") != NULL;
            }
        }
        fclose(f);
    }
    /* and which of lamina's run-time kernels this CPU gets (kernels/isa.c) */
    const int isa = lam__best_isa();
    snprintf(dst, size, "%s (%d logical CPUs%s%s%s); lamina's kernels: %s", model, cpus,
             avx2 ? ", avx2" : "", fma ? ", fma" : "", avx512 ? ", avx512f" : "",
             isa == LAM_ISA_AVX512 ? "avx512" : isa == LAM_ISA_AVX2 ? "avx2" : "portable");
}

static void env_or_unset(char *dst, size_t size, const char *name)
{
    const char *v = getenv(name);
    copy_str(dst, size, v != NULL ? v : "(unset)");
}

double bench_load_average(void)
{
    double l = NAN;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1) {
            l = NAN;
        }
        fclose(f);
    }
    return l;
}

/* Microseconds to touch one fresh 4 KiB page of anonymous memory (median of 3 runs over 64
 * MiB): what a framework pays when its allocator hands freed buffers back to the system and
 * maps new ones every step. huge = 1 asks for transparent huge pages first. */
static double first_touch_us(int huge)
{
    const size_t bytes = (size_t)64 << 20, page = 4096;
    double t[3];
    for (int r = 0; r < 3; r++) {
        char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            return NAN;
        }
        if (huge) {
            (void)madvise(p, bytes, MADV_HUGEPAGE);
        }
        double t0 = bench_now();
        for (size_t i = 0; i < bytes; i += page) {
            ((volatile char *)p)[i] = 1;
        }
        t[r] = (bench_now() - t0) / (double)(bytes / page) * 1e6;
        munmap(p, bytes);
    }
    return bench_summarize(t, 3).med;
}

double bench_sgemm_gflops(int64_t n, int threads, int reps)
{
    float *a = bench_floats(n * n), *b = bench_floats(n * n), *c = bench_floats(n * n);
    bench_fill(a, n * n, 1);
    bench_fill(b, n * n, 2);
    bench_set_threads(threads);
    double t[BENCH_MAX_REPS];
    if (reps > BENCH_MAX_REPS) {
        reps = BENCH_MAX_REPS;
    }
    /* One untimed call: the first one pays for page faults and BLAS's thread start-up. */
    (void)lam__sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        (void)lam__sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t[i] = bench_now() - t0;
    }
    bench_stats s = bench_summarize(t, reps);
    free(a);
    free(b);
    free(c);
    return 2.0 * (double)n * (double)n * (double)n / s.med * 1e-9;
}

void bench_env_init(bench_env *e, const bench_opts *o)
{
    memset(e, 0, sizeof *e);
    read_cpu(e->cpu, sizeof e->cpu);
    copy_str(e->compiler, sizeof e->compiler, LAM_BENCH_CC);
    copy_str(e->cflags, sizeof e->cflags, LAM_BENCH_CFLAGS);
    copy_str(e->blas_core, sizeof e->blas_core, lam__blas_corename());
    copy_str(e->blas_config, sizeof e->blas_config, lam__blas_config());
    /* OpenBLAS appends a space to its config string */
    e->blas_config[strcspn(e->blas_config, "\n")] = '\0';
    size_t len = strlen(e->blas_config);
    while (len > 0 && e->blas_config[len - 1] == ' ') {
        e->blas_config[--len] = '\0';
    }
    e->blas_parallel = lam__blas_parallel_kind();
#ifdef _OPENMP
    e->omp_threads = omp_get_max_threads();
#else
    e->omp_threads = 1;
#endif
    e->threads = o->threads > 0 ? o->threads : e->omp_threads;
    env_or_unset(e->coretype, sizeof e->coretype, "OPENBLAS_CORETYPE");
    env_or_unset(e->omp_env, sizeof e->omp_env, "OMP_NUM_THREADS");
    env_or_unset(e->blas_env, sizeof e->blas_env, "OPENBLAS_NUM_THREADS");
    e->load1 = bench_load_average();
    e->touch_us = first_touch_us(0);
    e->touch_huge_us = first_touch_us(1);
#ifdef LAM_BENCH_HAVE_STRATEGY
    copy_str(e->strategy_api, sizeof e->strategy_api, "yes");
#else
    copy_str(e->strategy_api, sizeof e->strategy_api, "no");
#endif
    /* 2048^3 is large enough for OpenBLAS to reach its plateau on both thread counts; the
     * quick mode only needs a rough ceiling for its percentages. */
    e->peak_n = o->quick ? 768 : 2048;
    int reps = o->quick ? 2 : 5;
    e->peak1 = bench_sgemm_gflops(e->peak_n, 1, reps);
    e->peakn = e->threads > 1 ? bench_sgemm_gflops(e->peak_n, e->threads, reps) : e->peak1;
    bench_set_threads(e->threads);
}
