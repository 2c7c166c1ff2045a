/*
 * lamina-bench: shared types of the benchmark harness (the bench_*.c files).
 *
 * The run is split in sections, each in its own file:
 *   bench_env.c     header: CPU, compiler, OpenBLAS build, threads, measured sgemm peak
 *   bench_kernels.c every fast kernel against its naive twin (verify once, then time)
 *   bench_train.c   whole training steps (public API), thread scaling, GEMM share of conv
 *   bench_report.c  text, JSON, CSV, SVG, and --compare against a baseline JSON
 *   bench_probe.c   link-time wrappers of the GEMM entry points: the GEMM time of a step
 * Times are seconds internally and milliseconds in every report.
 */
#ifndef LAM_BENCH_H
#define LAM_BENCH_H

#include <stdint.h>
#include <stdio.h>

#include "kernels.h"
#include "lamina.h"

#define BENCH_MAX_KERN 128
#define BENCH_MAX_TRAIN 96
#define BENCH_MAX_SHARE 16
#define BENCH_MAX_THREADS 64
#define BENCH_MAX_REPS 10000
#define BENCH_MAX_ROUNDS 16

/* Median, min and max of a set of timed runs, in seconds. */
typedef struct bench_stats {
    double med, min, max;
    int reps;
} bench_stats;

typedef struct bench_opts {
    int json, csv, quick;
    const char *plot;       /* --plot FILE.svg or NULL */
    const char *compare;    /* --compare BASELINE.json or NULL */
    const char *save;       /* --save FILE.json: the JSON report, whatever stdout shows */
    double threshold;       /* --threshold PCT, regression limit of --compare */
    const char *op;         /* --op NAME: substring filter on op names, or NULL */
    int reps;               /* --reps N: timed runs per kernel and training steps per config */
    int rounds;             /* --rounds N: passes over all training configurations */
    int threads;            /* --threads T: the largest thread count used (default: OpenMP's) */
    double ref_budget;      /* naive runs above this many FLOPs per call are not timed */
    /* --model mode */
    const char *model;
    const char *input;
    int64_t batch;
} bench_opts;

/* The header: what the numbers were measured on. */
typedef struct bench_env {
    char cpu[192];
    char compiler[160];
    char cflags[256];
    char blas_core[64];
    char blas_config[192];
    int blas_parallel;      /* lam__blas_parallel_kind(): 1 pthreads, 2 OpenMP */
    int omp_threads;        /* omp_get_max_threads() at start */
    int threads;            /* the largest thread count the run uses */
    char coretype[48];      /* $OPENBLAS_CORETYPE or "(unset)" */
    char omp_env[48];       /* $OMP_NUM_THREADS or "(unset)" */
    char blas_env[48];      /* $OPENBLAS_NUM_THREADS or "(unset)" */
    int peak_n;             /* size of the square sgemm the peak was measured on */
    double peak1;           /* GFLOP/s on 1 thread */
    double peakn;           /* GFLOP/s on `threads` threads */
    double peakn_end;       /* the same measured again after the run: contention check */
    double load1;           /* 1-minute load average at start (noise indicator) */
    double load_end;        /* ... and after the last measurement */
    double touch_us;        /* first touch of a fresh 4 KiB page, microseconds */
    double touch_huge_us;   /* the same after madvise(MADV_HUGEPAGE) */
    char strategy_api[8];   /* "yes" when lam_layer_strategy() exists */
} bench_env;

/* How the naive twin of a kernel was timed. */
typedef enum ref_mode {
    REF_TIMED = 0,          /* timed on the same problem */
    REF_SCALED = 1,         /* timed on a smaller batch and scaled per sample (linear cost) */
    REF_SKIPPED = 2,        /* above the FLOP budget: "n/a" */
} ref_mode;

typedef struct kern_result {
    char op[24];            /* gemm, conv_fwd, conv_bwd_data, conv_bwd_weight, linear_fwd, ... */
    char shape[72];
    double flops;           /* per call */
    int threads;
    bench_stats fast, ref;
    ref_mode ref_how;
    int64_t ref_batch;      /* batch the ref was timed on when REF_SCALED */
    double err;             /* max |fast - ref| / max |ref| (or the random-vector check) */
    char check[32];         /* how err was obtained: "vs naive", "Ct vs A(Bt)", ... */
    int ok;                 /* err within tolerance */
} kern_result;

typedef struct train_result {
    char model[24];
    char input[16];
    int64_t batch;
    int threads;
    bench_stats step;
    double ips;             /* batch / median step time */
    double gflops;          /* training FLOPs (3x forward) / median step time */
    char strategy[192];     /* per-layer GEMM strategy, if the library reports it */
    double gemm_share;      /* GEMM time / step time over probed steps (NaN: no probe) */
    int rounds;             /* rounds over all configurations; step.med is the median one */
    double round_ips[BENCH_MAX_ROUNDS];
} train_result;

/* GEMM share of a conv layer's forward + backward time (the 75% target), for the
 * conv alone (public per-layer calls) and for its block as the model runs it (the conv with
 * the relu/maxpool after it; one fused call when the model folds them). */
typedef struct share_result {
    char model[24];
    char input[16];
    char layer[24];
    int64_t batch;
    int threads;
    double layer_s;         /* conv forward + backward, median */
    double gemm_s;          /* GEMM time inside it (probe), median */
    double share;           /* median over reps of GEMM time / layer time */
    double coverage;        /* GEMM FLOPs the probe saw / FLOPs the conv must do */
    int block_layers;       /* the conv and the relu/maxpool layers that follow it */
    int block_fused;        /* 1: the model runs the block as one fused call */
    double block_s;         /* the block's forward + backward */
    double block_gemm_s;
    double block_share;
    double block_coverage;
} share_result;

typedef struct bench_run {
    bench_env env;
    kern_result kern[BENCH_MAX_KERN];
    int n_kern;
    train_result train[BENCH_MAX_TRAIN];
    int n_train;
    share_result share[BENCH_MAX_SHARE];
    int n_share;
} bench_run;

/* ---------------------------------------------------------------- timing */
double bench_now(void);
/* Sort t[0..n) and summarize it. */
bench_stats bench_summarize(double *t, int n);
typedef void (*bench_fn)(void *arg);
/* `warmup` untimed calls, then `reps` timed ones. */
bench_stats bench_time(bench_fn fn, void *arg, int warmup, int reps);
/* 1 when the op name passes --op (NULL passes all). */
int bench_want(const bench_opts *o, const char *op);
/* Process-wide default OpenMP thread count: BLAS calls outside lamina's own parallel loops
 * follow it (OpenMP OpenBLAS). The bench is the host program, so this is its choice. */
void bench_set_threads(int t);
/* Aligned, zeroed float buffer (aborting on failure is fine in a benchmark program). */
float *bench_floats(int64_t n);
void bench_fill(float *x, int64_t n, uint64_t stream);
/* max |a - b| / max |b| over n elements (0 when both are all zero). */
double bench_rel_err(const float *a, const float *b, int64_t n);

/* ------------------------------------------------------------ kernel cases */
/* float vs double accumulation over K up to 5e4 gives ~1e-5 of the largest value */
#define BENCH_ERR_TOL 1e-3

/* One kernel case: a family-specific `self` plus what the common driver calls. */
typedef struct kcase {
    void (*fast)(void *self);
    void (*ref)(void *self);
    void (*prepare)(void *self);          /* reset accumulating outputs (may be NULL) */
    double (*err)(void *self);            /* fast output vs ref output, after both ran */
    double (*check_big)(void *self);      /* ref-free check after fast ran (may be NULL) */
    void (*set_batch)(void *self, int64_t n); /* NULL: not batched */
} kcase;

/* A new row of r->kern (NULL when full). */
kern_result *bench_new_kern(bench_run *r, const char *op, const char *shape, double flops);
/* Verify once, time fast at batch n_full, then the naive twin (maybe on a smaller batch). */
void bench_measure(const kcase *kc, void *self, kern_result *k, int64_t n_full,
                   const bench_opts *o);
/* Both: a new row (op, shape, flops) measured on self; -1 when the table is full. */
int bench_row(bench_run *r, const char *op, const char *shape, double flops, const kcase *kc,
              void *self, int64_t n_full, const bench_opts *o);
/* bench_conv.c: plain and fused convolutions */
void bench_conv(bench_run *r, const bench_opts *o, int64_t batch);
void bench_conv_fused(bench_run *r, const bench_opts *o, int64_t batch);
void bench_im2col(bench_run *r, const bench_opts *o, int64_t batch);
void bench_conv_path(bench_run *r, const bench_opts *o, int64_t batch);

/* ---------------------------------------------------------------- sections */
void bench_env_init(bench_env *e, const bench_opts *o);
/* 1-minute load average from /proc/loadavg (NaN if unreadable). */
double bench_load_average(void);
double bench_sgemm_gflops(int64_t n, int threads, int reps);
int bench_kernels(bench_run *r, const bench_opts *o);
int bench_train(bench_run *r, const bench_opts *o);
int bench_share(bench_run *r, const bench_opts *o);
/* --model mode: one training configuration; prints its own output. Returns an exit code. */
int bench_model_mode(const bench_opts *o);
/* Parse "CxHxW" or "F" into shape; returns ndim (1 or 3), 0 on error. */
int bench_parse_input(const char *s, int64_t shape[3]);

/* ---------------------------------------------------------------- reports */
void report_text(const bench_run *r, const bench_opts *o);
/* The JSON report to stdout (path NULL) or to a file. Returns 0, or -1 (message printed). */
int report_json(const bench_run *r, const char *path);
void report_csv(const bench_run *r);
int report_plot(const bench_run *r, const char *path);
/* Compare with a baseline JSON: 0 no regression, 1 regressions, 2 unreadable baseline. */
int report_compare(const bench_run *r, const char *path, double threshold_pct, FILE *out);

/* ------------------------------------------------------------------ probe */
/* 1 when the link-time wrapper of lam__sgemm is in place (-Wl,--wrap). */
int probe_available(void);
void probe_start(void);
/* Stop and return the GEMM time (seconds, per-thread times averaged over the team inside
 * parallel regions, wall time outside) and the GEMM FLOPs seen since probe_start(). */
void probe_stop(double *seconds, double *flops);

#endif
