/*
 * Reports of lamina-bench: the text tables, --json (one object on stdout), --csv, --plot
 * (speedup bars and the thread-scaling curve, through cli/svg.h) and --compare (regressions
 * against a baseline written by --json).
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bench.h"
#include "svg.h"

static const char *ref_how_name(ref_mode m)
{
    return m == REF_TIMED ? "timed" : m == REF_SCALED ? "scaled" : "n/a";
}

static double gflops(double flops, double seconds)
{
    return flops / seconds * 1e-9;
}

static double speedup(const kern_result *k)
{
    return k->ref_how == REF_SKIPPED ? NAN : k->ref.med / k->fast.med;
}

/* The n-thread sgemm peak: the higher of the measurements at start and end. A reading taken
 * while another tenant held a core is low, and dividing by it would inflate every % (one
 * busy start read 180 GFLOP/s against 206 at the end, and put the MLP step at 101%). */
static double peak_nthreads(const bench_env *e)
{
    return e->peakn_end > e->peakn ? e->peakn_end : e->peakn;
}

/* Percent of the sgemm peak on as many threads (NaN where none was measured). */
static double pct_of(const bench_run *r, int threads, double gf)
{
    double peak = NAN;
    if (threads == 1) {
        peak = r->env.peak1;
    } else if (threads == r->env.threads) {
        peak = peak_nthreads(&r->env);
    }
    return 100.0 * gf / peak;
}

static double pct_peak(const bench_run *r, const kern_result *k)
{
    return pct_of(r, k->threads > 1 ? r->env.threads : 1, gflops(k->flops, k->fast.med));
}

/* images/s of the same configuration on 1 thread, or NaN */
static double one_thread_ips(const bench_run *r, const train_result *t)
{
    for (int i = 0; i < r->n_train; i++) {
        const train_result *u = &r->train[i];
        if (u->threads == 1 && u->batch == t->batch && strcmp(u->model, t->model) == 0 &&
            strcmp(u->input, t->input) == 0) {
            return u->ips;
        }
    }
    return NAN;
}

static const char *blas_kind_name(int k)
{
    return k == 2 ? "OpenMP" : k == 1 ? "pthreads" : k == 0 ? "sequential" : "not OpenBLAS";
}

/* ------------------------------------------------------------------- text */

static void text_header(const bench_env *e)
{
    printf("lamina-bench %s\n", LAM_VERSION);
    printf("  CPU        %s; load average %.2f at start, %.2f at end\n", e->cpu, e->load1,
           e->load_end);
    printf("  compiler   %s; %s\n", e->compiler, e->cflags);
    printf("  OpenBLAS   core %s; config \"%s\"; threading build %s (%d)\n", e->blas_core,
           e->blas_config, blas_kind_name(e->blas_parallel), e->blas_parallel);
    printf("  threads    %d used (omp_get_max_threads %d); OMP_NUM_THREADS=%s "
           "OPENBLAS_NUM_THREADS=%s OPENBLAS_CORETYPE=%s\n", e->threads, e->omp_threads,
           e->omp_env, e->blas_env, e->coretype);
    printf("  sgemm peak %d^3, median: %.1f GFLOP/s on 1 thread, %.1f on %d threads "
           "(%.1f again at the end; %%pk uses the higher)\n", e->peak_n, e->peak1, e->peakn,
           e->threads, e->peakn_end);
    printf("  memory     first touch of a fresh 4 KiB page: %.2f us (%.2f us with "
           "MADV_HUGEPAGE)\n", e->touch_us, e->touch_huge_us);
    if (e->peakn_end < 0.9 * e->peakn) {
        printf("  warning: the sgemm peak fell by %.0f%% during the run: something else took "
               "CPU time\n", 100.0 * (1.0 - e->peakn_end / e->peakn));
    } else if (e->peakn < 0.9 * e->peakn_end) {
        printf("  warning: the sgemm peak at start was %.0f%% below the end's: something else "
               "took CPU time as the run began\n", 100.0 * (1.0 - e->peakn / e->peakn_end));
    }
    if (e->load1 >= 0.5) {
        /* other processes take cores from our OpenMP teams: multi-thread numbers suffer most */
        printf("  warning: the machine was busy (load %.2f): expect noisy, low figures\n",
               e->load1);
    }
}

static void text_kernels(const bench_run *r)
{
    if (r->n_kern == 0) {
        return;
    }
    printf("\nKernels: fast on %d threads vs naive twin (1 thread); times in ms\n",
           r->env.threads);
    printf("%-16s %-44s %9s %9s %9s %7s %5s | %10s %6s %8s | %-16s %s\n", "op", "shape",
           "fast med", "min", "max", "GFLOP/s", "%pk", "naive med", "GF/s", "speedup",
           "check", "rel err");
    for (int i = 0; i < r->n_kern; i++) {
        const kern_result *k = &r->kern[i];
        printf("%-16s %-44.44s %9.4f %9.4f %9.4f %7.1f %5.1f | ", k->op, k->shape,
               k->fast.med * 1e3, k->fast.min * 1e3, k->fast.max * 1e3,
               gflops(k->flops, k->fast.med), pct_peak(r, k));
        if (k->ref_how == REF_SKIPPED) {
            printf("%10s %6s %8s | ", "n/a", "n/a", "n/a");
        } else {
            printf("%9.3f%s %6.2f %7.1fx | ", k->ref.med * 1e3,
                   k->ref_how == REF_SCALED ? "~" : " ", gflops(k->flops, k->ref.med),
                   speedup(k));
        }
        printf("%-16s %.1e%s\n", k->check, k->err, k->ok ? "" : "  FAIL");
    }
    printf(
        "(~ naive time measured on a smaller batch, scaled per sample; n/a: above the "
        "naive FLOP budget. pooling counts one op per compared or routed element; im2col and\n"
        " col2im one per column element moved, on one thread, per instruction set; bn_* one per\n"
        " byte a pass must move, so their GFLOP/s is GB/s. conv_path_*: two paths of one\n"
        " convolution on the same threads, x and dy out of cache: the implicit GEMM with\n"
        " im2col in the naive columns, then Winograd with the implicit GEMM; conv_gemm: lamina's\n"
        " GEMM kernels (AVX-512 or AVX2), with OpenBLAS's in the naive columns, both on one\n"
        " thread.)\n");
}

static void text_train(const bench_run *r)
{
    if (r->n_train == 0) {
        return;
    }
    printf("\nTraining step (lam_model_train_step, SGD momentum 0.9, synthetic data): the "
           "median of %d rounds over all configurations, each the median of %d steps after "
           "warm-up\n", r->train[0].rounds, r->train[0].step.reps / r->train[0].rounds);
    printf("%-10s %-8s %5s %3s %9s %9s %9s %10s %15s %7s %5s %7s  %s\n", "model", "input",
           "batch", "thr", "step ms", "min", "max", "images/s", "rounds lo..hi", "GF/s", "%pk",
           "vs 1thr", "strategy");
    for (int i = 0; i < r->n_train; i++) {
        const train_result *t = &r->train[i];
        char scale[16] = "-";
        double one = one_thread_ips(r, t);
        if (isfinite(one)) {
            snprintf(scale, sizeof scale, "%.2fx", t->ips / one);
        }
        double lo = t->round_ips[0], hi = t->round_ips[0];
        for (int k = 1; k < t->rounds; k++) {
            lo = fmin(lo, t->round_ips[k]);
            hi = fmax(hi, t->round_ips[k]);
        }
        char spread[32];
        snprintf(spread, sizeof spread, "%.0f..%.0f", lo, hi);
        printf("%-10s %-8s %5lld %3d %9.3f %9.3f %9.3f %10.1f %15s %7.1f %5.1f %7s  %s\n",
               t->model, t->input, (long long)t->batch, t->threads, t->step.med * 1e3,
               t->step.min * 1e3, t->step.max * 1e3, t->ips, spread, t->gflops,
               pct_of(r, t->threads, t->gflops), scale, t->strategy[0] ? t->strategy : "-");
    }
    printf(
        "(GF/s: lam_model_train_flops per image x images/s, the step's useful work; %%pk: of "
        "the sgemm peak on as many threads (the higher of start and end), the most any GEMM-bound "
        "step can do)\n");
}

static void text_share(const bench_run *r)
{
    if (r->n_share == 0) {
        return;
    }
    printf("\nGEMM share of each seed-cnn conv layer, forward + backward, batch %lld (GEMMs "
           "timed inside the layer by wrappers of the GEMM entry points)\n",
           (long long)r->share[0].batch);
    printf("%-29s %3s | %-34s | %s\n", "", "", "conv alone (lam_layer_forward/backward)",
           "block as the model runs it");
    printf("%-9s %-8s %-10s %3s | %8s %8s %7s %7s | %-13s %8s %8s %7s\n", "model", "input",
           "layer", "thr", "ms", "GEMM ms", "share", "seen", "layers", "ms", "GEMM ms", "share");
    for (int i = 0; i < r->n_share; i++) {
        const share_result *s = &r->share[i];
        char how[24];
        snprintf(how, sizeof how, "%d %s", s->block_layers, s->block_fused ? "fused" : "separate");
        printf("%-9s %-8s %-10s %3d | %8.3f %8.3f %6.1f%% %6.0f%% | %-13s %8.3f %8.3f %6.1f%%\n",
               s->model, s->input, s->layer, s->threads, s->layer_s * 1e3, s->gemm_s * 1e3,
               100.0 * s->share, 100.0 * s->coverage, how, s->block_s * 1e3,
               s->block_gemm_s * 1e3, 100.0 * s->block_share);
    }
    printf("(share: median over passes of GEMM time / pass time; seen: GEMM FLOPs the wrapper "
           "saw / FLOPs the conv must do; block: the conv with the relu/maxpool layers after "
           "it. The issue asks GEMM >= 75%%.)\n");
}

void report_text(const bench_run *r, const bench_opts *o)
{
    (void)o;
    text_header(&r->env);
    text_kernels(r);
    text_train(r);
    text_share(r);
    if (!probe_available() && r->n_share == 0) {
        printf("\n(GEMM share: not measured, the linker has no --wrap)\n");
    }
}

/* ------------------------------------------------------------------- JSON */

/* A number, or null when it is not finite (JSON has no NaN). */
static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *stats_json(const bench_stats *s, double flops)
{
    return json_pack("{s:o, s:o, s:o, s:i, s:o}", "median_ms", num(s->med * 1e3), "min_ms",
                     num(s->min * 1e3), "max_ms", num(s->max * 1e3), "reps", s->reps,
                     "gflops", num(gflops(flops, s->med)));
}

static json_t *env_json(const bench_env *e)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:i, s:s, s:s, s:s, s:i, "
                     "s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s}",
                     "version", LAM_VERSION, "cpu", e->cpu, "compiler", e->compiler,
                     "cflags", e->cflags, "blas_core", e->blas_core, "blas_parallel",
                     e->blas_parallel, "blas_config", e->blas_config, "omp_max_threads",
                     e->omp_threads, "threads", e->threads, "OMP_NUM_THREADS", e->omp_env,
                     "OPENBLAS_NUM_THREADS", e->blas_env, "OPENBLAS_CORETYPE", e->coretype,
                     "peak_n", e->peak_n, "peak_gflops_1thread", num(e->peak1),
                     "peak_gflops_nthreads", num(e->peakn), "peak_gflops_nthreads_end",
                     num(e->peakn_end), "load_average_start", num(e->load1),
                     "load_average_end", num(e->load_end), "first_touch_us_per_page",
                     num(e->touch_us), "first_touch_us_per_page_hugepage", num(e->touch_huge_us),
                     "layer_strategy_api", e->strategy_api);
}

static json_t *run_json(const bench_run *r)
{
    json_t *kern = json_array(), *train = json_array(), *share = json_array();
    for (int i = 0; i < r->n_kern; i++) {
        const kern_result *k = &r->kern[i];
        json_t *fast = stats_json(&k->fast, k->flops);
        json_object_set_new(fast, "pct_peak", num(pct_peak(r, k)));
        json_array_append_new(kern, json_pack(
            "{s:s, s:s, s:f, s:i, s:o, s:o, s:s, s:o, s:o, s:s, s:b}", "op", k->op, "shape",
            k->shape, "flops", k->flops, "threads", k->threads, "fast", fast, "naive",
            k->ref_how == REF_SKIPPED ? json_null() : stats_json(&k->ref, k->flops),
            "naive_timing", ref_how_name(k->ref_how), "speedup", num(speedup(k)),
            "max_rel_err", num(k->err), "check", k->check, "verified", k->ok));
    }
    for (int i = 0; i < r->n_train; i++) {
        const train_result *t = &r->train[i];
        json_t *rounds = json_array();
        for (int k = 0; k < t->rounds; k++) {
            json_array_append_new(rounds, num(t->round_ips[k]));
        }
        json_array_append_new(train, json_pack(
            "{s:s, s:s, s:I, s:i, s:o, s:o, s:o, s:i, s:o, s:o, s:o, s:o, s:s, s:o}", "model",
            t->model,
            "input", t->input, "batch", (json_int_t)t->batch, "threads", t->threads,
            "median_ms", num(t->step.med * 1e3), "min_ms", num(t->step.min * 1e3), "max_ms",
            num(t->step.max * 1e3), "reps", t->step.reps, "images_per_second", num(t->ips),
            "train_gflops", num(t->gflops), "pct_peak", num(pct_of(r, t->threads, t->gflops)),
            "speedup_over_1_thread",
            num(t->ips / one_thread_ips(r, t)), "strategy", t->strategy,
            "round_images_per_second", rounds));
    }
    for (int i = 0; i < r->n_share; i++) {
        const share_result *s = &r->share[i];
        json_array_append_new(share, json_pack(
            "{s:s, s:s, s:s, s:I, s:i, s:o, s:o, s:o, s:o, s:i, s:b, s:o, s:o, s:o, s:o}",
            "model", s->model, "input", s->input, "layer", s->layer, "batch",
            (json_int_t)s->batch, "threads", s->threads, "conv_fwd_bwd_ms",
            num(s->layer_s * 1e3), "gemm_ms", num(s->gemm_s * 1e3), "gemm_share",
            num(s->share), "gemm_flops_coverage", num(s->coverage), "block_layers",
            s->block_layers, "block_fused", s->block_fused, "block_fwd_bwd_ms",
            num(s->block_s * 1e3), "block_gemm_ms", num(s->block_gemm_s * 1e3),
            "block_gemm_share", num(s->block_share), "block_gemm_flops_coverage",
            num(s->block_coverage)));
    }
    return json_pack("{s:i, s:o, s:o, s:o, s:o}", "lamina_bench", 1, "env", env_json(&r->env),
                     "kernels", kern, "train", train, "gemm_share", share);
}

int report_json(const bench_run *r, const char *path)
{
    json_t *j = run_json(r);
    const size_t flags = JSON_INDENT(1) | JSON_REAL_PRECISION(6);
    int rc = -1;
    if (j != NULL && path == NULL) {
        rc = json_dumpf(j, stdout, flags);
        printf("\n");
    } else if (j != NULL) {
        /* a sibling then rename: a failed run never leaves half a baseline behind */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        rc = json_dump_file(j, tmp, flags);
        if (rc == 0 && rename(tmp, path) != 0) {
            rc = -1;
        }
        if (rc != 0) {
            remove(tmp);
        }
    }
    json_decref(j);
    if (rc != 0) {
        fprintf(stderr, "lamina-bench: error: cannot write the JSON report%s%s\n",
                path != NULL ? " to " : "", path != NULL ? path : "");
        return -1;
    }
    return 0;
}

/* -------------------------------------------------------------------- CSV */

void report_csv(const bench_run *r)
{
    printf("section,name,shape,threads,median_ms,min_ms,max_ms,gflops,pct_peak,"
           "naive_median_ms,naive_gflops,speedup,naive_timing,max_rel_err,images_per_second\n");
    for (int i = 0; i < r->n_kern; i++) {
        const kern_result *k = &r->kern[i];
        printf("kernel,%s,\"%s\",%d,%.5f,%.5f,%.5f,%.3f,%.2f,%.5f,%.4f,%.2f,%s,%.3g,\n", k->op,
               k->shape, k->threads, k->fast.med * 1e3, k->fast.min * 1e3, k->fast.max * 1e3,
               gflops(k->flops, k->fast.med), pct_peak(r, k), k->ref.med * 1e3,
               gflops(k->flops, k->ref.med), speedup(k), ref_how_name(k->ref_how), k->err);
    }
    for (int i = 0; i < r->n_train; i++) {
        const train_result *t = &r->train[i];
        printf("train,%s,\"%s b%lld\",%d,%.4f,%.4f,%.4f,%.3f,,,,,,,%.2f\n", t->model, t->input,
               (long long)t->batch, t->threads, t->step.med * 1e3, t->step.min * 1e3,
               t->step.max * 1e3, t->gflops, t->ips);
    }
    for (int i = 0; i < r->n_share; i++) {
        const share_result *s = &r->share[i];
        printf("gemm_share,%s %s,\"%s b%lld share %.4f block_share %.4f%s\",%d,%.4f,"
               ",,,,,,,,,\n", s->model, s->layer, s->input, (long long)s->batch, s->share,
               s->block_share, s->block_fused ? " fused" : "", s->threads, s->layer_s * 1e3);
    }
}

/* ------------------------------------------------------------------- plot */

/* FILE.svg -> FILE-scaling.svg */
static void sibling_path(const char *path, const char *suffix, char *out, size_t size)
{
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".svg") == 0) {
        snprintf(out, size, "%.*s%s.svg", (int)(n - 4), path, suffix);
    } else {
        snprintf(out, size, "%s%s.svg", path, suffix);
    }
}

/* Two panels per model (images/s on a log axis, speedup over 1 thread with the ideal line):
 * per-model panels keep each legend within the palette's 8 distinct styles. */
static int plot_scaling(const bench_run *r, const char *path)
{
    enum { MAXS = 12, MAXM = 3 };
    static double xs[MAXS][BENCH_MAX_THREADS], ys[MAXS][BENCH_MAX_THREADS];
    static double sp[MAXS][BENCH_MAX_THREADS], ideal_x[BENCH_MAX_THREADS];
    static char labels[MAXS][48], titles[2 * MAXM][64];
    static svg_series ips[MAXM][MAXS], spd[MAXM][MAXS + 1];
    const char *models[MAXM];
    int nm = 0, ns = 0, per[MAXM] = {0};
    int nt = r->env.threads < BENCH_MAX_THREADS ? r->env.threads : BENCH_MAX_THREADS;
    for (int i = 0; i < nt; i++) {
        ideal_x[i] = i + 1;
    }
    for (int i = 0; i < r->n_train && ns < MAXS; i++) {
        const train_result *t = &r->train[i];
        if (t->threads != 1) {
            continue;
        }
        int m = 0;
        while (m < nm && strcmp(models[m], t->model) != 0) {
            m++;
        }
        if (m == MAXM || per[m] >= MAXS - 1) {
            continue;
        }
        if (m == nm) {
            models[nm++] = t->model;
        }
        snprintf(labels[ns], sizeof labels[ns], "%s b%lld", t->input, (long long)t->batch);
        int np = 0;
        for (int j = 0; j < r->n_train && np < BENCH_MAX_THREADS; j++) {
            const train_result *u = &r->train[j];
            if (u->batch == t->batch && strcmp(u->model, t->model) == 0 &&
                strcmp(u->input, t->input) == 0) {
                xs[ns][np] = u->threads;
                ys[ns][np] = u->ips;
                sp[ns][np] = u->ips / t->ips;
                np++;
            }
        }
        /* the same configurations in the same order: same colours in both panels */
        ips[m][per[m]] = (svg_series){labels[ns], xs[ns], ys[ns], np};
        spd[m][per[m]++] = (svg_series){labels[ns], xs[ns], sp[ns], np};
        ns++;
    }
    for (int m = 0; m < nm; m++) {
        spd[m][per[m]] = (svg_series){"ideal", ideal_x, ideal_x, nt};
    }
    if (ns == 0) {
        return 1; /* no 1-thread rows (e.g. --quick): nothing to plot */
    }
    svg_panel panels[2 * MAXM];
    for (int m = 0; m < nm; m++) {
        snprintf(titles[2 * m], sizeof titles[0], "%s: images/s", models[m]);
        snprintf(titles[2 * m + 1], sizeof titles[0], "%s: speedup over 1 thread", models[m]);
        panels[2 * m] = (svg_panel){titles[2 * m], "threads", "images/s", ips[m], per[m], 1};
        panels[2 * m + 1] = (svg_panel){titles[2 * m + 1], "threads", "speedup (x)", spd[m],
                                        per[m] + 1, 0};
    }
    return svg_write_lines(path, "lamina-bench: thread scaling of a training step", panels,
                           2 * nm);
}

int report_plot(const bench_run *r, const char *path)
{
    static svg_bar bars[BENCH_MAX_KERN];
    static char labels[BENCH_MAX_KERN][48];
    int nb = 0;
    for (int i = 0; i < r->n_kern; i++) {
        const kern_result *k = &r->kern[i];
        if (k->ref_how == REF_SKIPPED) {
            continue;
        }
        /* the first word of the shape names the case */
        snprintf(labels[nb], sizeof labels[nb], "%s %.*s", k->op,
                 (int)strcspn(k->shape, " "), k->shape);
        bars[nb] = (svg_bar){labels[nb], speedup(k)};
        nb++;
    }
    char scal[4096];
    sibling_path(path, "-scaling", scal, sizeof scal);
    int rc = 0, wrote_bars = 0;
    if (nb > 0) {
        if (svg_write_bars(path, "lamina-bench: fast kernel speedup over its naive twin",
                           "speedup (x)", bars, nb, 1.0) != 0) {
            fprintf(stderr, "lamina-bench: error: cannot write %s\n", path);
            rc = -1;
        } else {
            wrote_bars = 1;
        }
    }
    int sc = plot_scaling(r, scal);
    if (sc < 0) {
        fprintf(stderr, "lamina-bench: error: cannot write %s\n", scal);
        rc = -1;
    }
    if (wrote_bars || sc == 0) {
        fprintf(stderr, "lamina-bench: wrote%s%s%s%s%s\n", wrote_bars ? " " : "",
                wrote_bars ? path : "", wrote_bars ? " (speedups)" : "", sc == 0 ? " " : "",
                sc == 0 ? scal : "");
    }
    if (!wrote_bars && sc != 0 && rc == 0) {
        fprintf(stderr, "lamina-bench: --plot: nothing to plot (no naive timings, no 1-thread "
                "training rows)\n");
    }
    return rc;
}

/* ---------------------------------------------------------------- compare */

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* Print and count one comparison: `worse` is the relative slowdown (0.1 = 10% slower). */
static int judge(FILE *out, const char *what, double base, double cur, double worse,
                 const char *unit, double limit)
{
    if (!isfinite(worse) || worse <= limit) {
        return 0;
    }
    fprintf(out, "regression: %-60s %10.3f -> %10.3f %s (%.1f%% slower)\n", what, base, cur, unit,
           100.0 * worse);
    return 1;
}

int report_compare(const bench_run *r, const char *path, double threshold_pct, FILE *out)
{
    json_error_t err;
    json_t *base = json_load_file(path, 0, &err);
    if (base == NULL || !json_is_object(base)) {
        fprintf(stderr, "lamina-bench: error: %s: not a lamina-bench JSON report (%s)\n",
                path, base == NULL ? err.text : "not an object");
        json_decref(base);
        return 2;
    }
    double limit = threshold_pct / 100.0;
    int regressions = 0, matched = 0;
    json_t *v;
    size_t i;
    fprintf(out, "\nComparison with %s (regression: more than %.1f%% slower)\n", path,
            threshold_pct);
    json_array_foreach(json_object_get(base, "kernels"), i, v) {
        double b = json_number_value(json_object_get(json_object_get(v, "fast"), "median_ms"));
        for (int k = 0; k < r->n_kern; k++) {
            const kern_result *c = &r->kern[k];
            if (strcmp(c->op, jstr(v, "op")) == 0 && strcmp(c->shape, jstr(v, "shape")) == 0) {
                char what[128];
                snprintf(what, sizeof what, "%s %s", c->op, c->shape);
                matched++;
                double cur = c->fast.med * 1e3;
                regressions += judge(out, what, b, cur, cur / b - 1.0, "ms", limit);
            }
        }
    }
    json_array_foreach(json_object_get(base, "train"), i, v) {
        double b = json_number_value(json_object_get(v, "images_per_second"));
        for (int k = 0; k < r->n_train; k++) {
            const train_result *c = &r->train[k];
            if (strcmp(c->model, jstr(v, "model")) == 0 &&
                strcmp(c->input, jstr(v, "input")) == 0 &&
                c->batch == json_integer_value(json_object_get(v, "batch")) &&
                c->threads == json_integer_value(json_object_get(v, "threads"))) {
                char what[128];
                snprintf(what, sizeof what, "train %s %s batch %lld threads %d", c->model,
                         c->input, (long long)c->batch, c->threads);
                matched++;
                regressions += judge(out, what, b, c->ips, b / c->ips - 1.0, "img/s", limit);
            }
        }
    }
    json_decref(base);
    fprintf(out, "%d measurements compared, %d regression%s\n", matched, regressions,
           regressions == 1 ? "" : "s");
    return regressions > 0 ? 1 : 0;
}
