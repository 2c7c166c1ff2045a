/* The lamina command: a thin layer over the public API (lamina.h). */
#ifndef LAM_CLI_H
#define LAM_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <lamina.h>

/* Exit codes: 0 success, 1 failure at run time (bad data, bad model file, I/O), 2 usage. */
enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* ------------------------------------------------------------ argument parsing */

typedef enum arg_type { ARG_STR, ARG_INT, ARG_REAL, ARG_FLAG } arg_type;

typedef struct cli_opt {
    const char *name;  /* "--epochs" */
    arg_type type;
    void *dest;        /* const char **, int64_t *, double *, int * */
    const char *meta;  /* "N" in the help text */
    const char *help;
} cli_opt;

/* Parse argv[first..argc) against opts. Positional arguments go to pos[] (at most max_pos).
 * Returns 0 on success, 1 if --help/-h was given, -1 on a usage error with a one-line
 * message in err. Never exits, never prints: the fuzzer drives it. */
int cli_parse(int argc, char **argv, int first, const cli_opt *opts, int n_opts,
              const char **pos, int max_pos, int *n_pos, char *err, size_t err_size);
void cli_print_help(const char *usage, const char *about, const cli_opt *opts, int n_opts);

/* "lamina: error: <message>" on stderr, one line. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same for a library status, with the context's detail message. */
int cli_lib_error(lam_ctx *ctx, lam_status st, const char *what);

/* --------------------------------------------------------------- shared steps */

#define CLI_DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

/* Train and test sets from --data (and --test when given). For a directory, the train and
 * t10k splits; for a single file without --test, `holdout` of it (seeded) becomes the test
 * set. Returns a lam_status; messages on ctx. */
typedef struct cli_data {
    lam_dataset *train, *val, *test;
    const char *test_note; /* how the test set was obtained, for the log */
} cli_data;

typedef struct cli_data_args {
    const char *data;      /* --data */
    const char *test;      /* --test or NULL */
    const char *target;    /* --target or NULL */
    const char *task;      /* --task or NULL */
    double val;            /* --val fraction, 0 = none */
    double holdout;        /* fraction of a single file kept as test */
    int64_t limit_train;   /* --limit-train, 0 = all */
    int64_t limit_test;
    uint64_t seed;
    int need_test;
} cli_data_args;

lam_status cli_load_data(lam_ctx *ctx, const cli_data_args *a, cli_data *out);
void cli_free_data(cli_data *d);
/* Resolve "fashion-mnist" to the Debian directory; other specs are returned unchanged. */
const char *cli_data_path(const char *spec);

/* Metrics of a model on a dataset. confusion is n_classes^2 counts or NULL. */
typedef struct cli_metrics {
    double loss;           /* mean cross-entropy (classification) or MSE (regression) */
    double accuracy;       /* classification */
    double mse, mae;       /* regression */
    int64_t n;
} cli_metrics;

lam_status cli_evaluate(lam_ctx *ctx, lam_model *m, const lam_dataset *ds, int64_t *confusion,
                        cli_metrics *out);

/* A JSON number: v printed with fmt into buf, or "null" when v is NaN or infinite (JSON has
 * no such numbers). Returns buf or the literal. */
const char *cli_json_num(char *buf, size_t size, const char *fmt, double v);

/* Print s on stdout as a JSON string (quoted, with '"', '\\' and control characters escaped). */
void cli_json_str(const char *s);

/* Read a spec argument: a built-in name, a file (if it exists), or an inline spec. The
 * returned string is malloc'd. NULL on I/O error (message printed). */
char *cli_read_spec(const char *arg);

/* Parse "CxHxW" or "F". Returns ndim (1 or 3) or 0 on error. */
int cli_parse_shape(const char *s, int64_t shape[3]);

/* Threads for the context; also the process's OpenMP default so BLAS calls outside lamina's
 * own parallel loops follow it (the CLI is the host program, so this is its choice). */
void cli_set_threads(int64_t threads);

/* Subcommands. */
int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_predict(int argc, char **argv);
int cli_info(int argc, char **argv);

#endif
