/*
 * lamina-bench: how far the BLAS path is ahead of the naive loops, kernel by kernel, and
 * what whole training steps reach, on this machine. bench/RESULTS.md holds measured figures
 * with their commands; `lamina-bench --help` lists the flags.
 *
 * Exit status: 0 success; 1 a kernel failed its check, a training step failed, or
 * --compare found a regression; 2 bad usage (one line on stderr).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cli/cli.h"
#include "bench.h"

#define USAGE "lamina-bench [options]\n       lamina-bench --model SPEC [--input CxHxW] " \
              "[--batch N] [--threads T] [--json]"
#define ABOUT "Times every fast kernel against its naive twin (GEMM, conv forward and " \
              "backward, linear,\nmax-pool), whole training steps with thread scaling, and " \
              "the GEMM share of conv layers.\nWith --model, times just that training step."

static void bench_error(const char *msg)
{
    fprintf(stderr, "lamina-bench: error: %s\n", msg);
}

static void progress(const char *what)
{
    if (isatty(STDERR_FILENO)) {
        fprintf(stderr, "lamina-bench: %s...\n", what);
    }
}

/* Parse argv into o; returns -1 to continue, or an exit code. */
static int parse_args(int argc, char **argv, bench_opts *o)
{
    cli_int reps = {0, 0}, threads = {0, 0}, batch = {0, 0}, rounds = {0, 0};
    cli_real threshold = {10.0, 0}, budget = {0.0, 0};
    const cli_opt opts[] = {
        cli_opt_flag("--json", &o->json, "print one JSON object on stdout"),
        cli_opt_flag("--csv", &o->csv, "print CSV rows on stdout"),
        cli_opt_str("--plot", &o->plot, "FILE.svg",
                    "speedup bars to FILE.svg, thread scaling to FILE-scaling.svg"),
        cli_opt_str("--compare", &o->compare, "BASE.json",
                    "flag regressions against a --json report (exit 1 if any)"),
        cli_opt_str("--save", &o->save, "FILE.json", "also write the JSON report to a file"),
        cli_opt_real("--threshold", &threshold, "PCT", "regression threshold of --compare (10)",
                     0.0, 1000.0, CLI_OPEN_LO),
        cli_opt_str("--op", &o->op, "NAME",
                    "only ops whose name contains NAME (gemm, conv_gemm, conv,\n"
                    "                             conv_path, im2col, col2im, linear, maxpool,\n"
                    "                             bn, train, share)"),
        cli_opt_int("--reps", &reps, "N", "timed runs per kernel and steps per config (20)", 1,
                    BENCH_MAX_REPS),
        cli_opt_int("--threads", &threads, "T", "largest thread count (OpenMP's default)", 1,
                    BENCH_MAX_THREADS),
        cli_opt_int("--rounds", &rounds, "N",
                    "passes over the training configs; the median is reported (3)",
                    1, BENCH_MAX_ROUNDS),
        cli_opt_flag("--quick", &o->quick, "few shapes and reps: a smoke test"),
        cli_opt_real("--naive-budget", &budget, "FLOPS",
                     "naive twins above it per call: smaller batch or none (3e8)", 0.0, 1e15,
                     CLI_OPEN_LO),
        cli_opt_str("--model", &o->model, "SPEC",
                    "time only this model's training step (built-in name, spec or spec file)"),
        cli_opt_str("--input", &o->input, "CxHxW", "sample shape for --model (1x28x28)"),
        cli_opt_int("--batch", &batch, "N", "batch size for --model (64)", 1, 65536),
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int n_pos = 0;
    char err[160];
    /* every number's range is checked by cli_parse, with a message naming flag and range */
    int rc = cli_parse(argc, argv, 1, opts, n_opts, pos, 0, &n_pos, err, sizeof err);
    if (rc == 1) {
        cli_print_help(USAGE, ABOUT, opts, n_opts);
        return 0;
    }
    if (rc != 0) {
        bench_error(err);
        return 2;
    }
    int64_t shape[3];
    if (o->input != NULL && bench_parse_input(o->input, shape) == 0) {
        fprintf(stderr, "lamina-bench: error: --input '%.40s' is not CxHxW or F\n", o->input);
        return 2;
    }
    if (o->json && o->csv) {
        bench_error("--json and --csv are exclusive");
        return 2;
    }
    if (o->model == NULL && (o->input != NULL || batch.set)) {
        bench_error("--input and --batch go with --model");
        return 2;
    }
    if (o->model != NULL &&
        (o->plot != NULL || o->compare != NULL || o->save != NULL || o->csv || o->op)) {
        bench_error("--model times one training step; it takes --input, --batch, --threads, "
                    "--reps and --json only");
        return 2;
    }
    o->reps = reps.set ? (int)reps.v : o->quick ? 3 : 20;
    o->threads = (int)threads.v; /* 0: OpenMP's default */
    o->rounds = rounds.set ? (int)rounds.v : o->quick ? 1 : 3;
    o->batch = batch.v; /* 0: the default */
    o->threshold = threshold.v;
    o->ref_budget = budget.set ? budget.v : o->quick ? 2e7 : 3e8;
    return -1;
}

int main(int argc, char **argv)
{
    bench_opts o;
    memset(&o, 0, sizeof o);
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) {
        return rc;
    }
    if (o.model != NULL) {
        return bench_model_mode(&o);
    }
    static bench_run run;
    progress("measuring the sgemm peak");
    bench_env_init(&run.env, &o);
    int failures = 0;
    progress("kernels");
    int bad = bench_kernels(&run, &o);
    if (bench_want(&o, "train")) {
        progress("training steps");
        failures += bench_train(&run, &o);
    }
    if (bench_want(&o, "share")) {
        progress("GEMM share of conv layers");
        failures += bench_share(&run, &o);
    }
    /* The load average misses contention from outside this VM; a second peak measurement
     * shows whether the machine was still as fast at the end as at the start. */
    run.env.peakn_end = bench_sgemm_gflops(run.env.peak_n, run.env.threads, o.quick ? 2 : 5);
    run.env.load_end = bench_load_average();
    if (o.json) {
        if (report_json(&run, NULL) != 0) {
            failures++;
        }
    } else if (o.csv) {
        report_csv(&run);
    } else {
        report_text(&run, &o);
    }
    if (bad > 0) {
        fprintf(stderr, "lamina-bench: error: %d kernel%s disagree with the naive twin\n", bad,
                bad == 1 ? "" : "s");
    }
    if (o.save != NULL && report_json(&run, o.save) != 0) {
        failures++;
    }
    if (o.plot != NULL && report_plot(&run, o.plot) != 0) {
        failures++;
    }
    int regress = 0;
    if (o.compare != NULL) {
        /* keep stdout a single JSON/CSV document when one was asked for */
        regress = report_compare(&run, o.compare, o.threshold,
                                 o.json || o.csv ? stderr : stdout);
    }
    return bad > 0 || failures > 0 || regress != 0 ? 1 : 0;
}
