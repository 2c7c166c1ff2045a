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

/* A number option's value and whether it was given. "Not given" is its own state, never a
 * value a user can type: -1 used to mean "unset", so `--epochs -1` silently became the
 * default (issue 17). */
typedef struct cli_int {
    int64_t v;
    int set;
} cli_int;

typedef struct cli_real {
    double v;
    int set;
} cli_real;

/* The values a number option accepts: lo..hi, each bound included unless its CLI_OPEN_ bit
 * is set (reals only). Integer bounds are exact in a double (|bound| <= 2^53). */
enum { CLI_OPEN_LO = 1, CLI_OPEN_HI = 2 };
typedef struct cli_range {
    double lo, hi;
    int open;
} cli_range;

typedef struct cli_opt {
    const char *name;  /* "--epochs" */
    arg_type type;
    void *dest;        /* const char **, cli_int *, cli_real *, int * */
    const char *meta;  /* "N" in the help text */
    const char *help;  /* where 0 is in the range, the help says what 0 means */
    cli_range range;   /* ARG_INT, ARG_REAL: the accepted values, shown by --help */
} cli_opt;

/* Table entries, typed so that a dest of the wrong kind does not compile. */
static inline cli_opt cli_opt_str(const char *name, const char **dest, const char *meta,
                                  const char *help)
{
    return (cli_opt){name, ARG_STR, dest, meta, help, {0.0, 0.0, 0}};
}

static inline cli_opt cli_opt_flag(const char *name, int *dest, const char *help)
{
    return (cli_opt){name, ARG_FLAG, dest, NULL, help, {0.0, 0.0, 0}};
}

static inline cli_opt cli_opt_int(const char *name, cli_int *dest, const char *meta,
                                  const char *help, int64_t lo, int64_t hi)
{
    return (cli_opt){name, ARG_INT, dest, meta, help, {(double)lo, (double)hi, 0}};
}

static inline cli_opt cli_opt_real(const char *name, cli_real *dest, const char *meta,
                                   const char *help, double lo, double hi, int open)
{
    return (cli_opt){name, ARG_REAL, dest, meta, help, {lo, hi, open}};
}

/* Parse argv[first..argc) against opts. Positional arguments go to pos[] (at most max_pos).
 * A number outside its option's range is a usage error naming the flag, the value and the
 * range. Returns 0 on success, 1 if --help/-h was given, -1 on a usage error with a one-line
 * message in err. Never exits, never prints: the fuzzer drives it. */
int cli_parse(int argc, char **argv, int first, const cli_opt *opts, int n_opts,
              const char **pos, int max_pos, int *n_pos, char *err, size_t err_size);
/* cli_parse for a command without positional arguments (common.c): -1 after printing
 * --help, EXIT_USAGE after a usage error line that points at `lamina CMD --help`, else
 * EXIT_OK. */
int cli_parse_command(int argc, char **argv, const char *cmd, const char *usage,
                      const char *about, const cli_opt *opts, int n_opts);
/* The range of a number option as --help shows it: "1..65536", "(0, 1e+09]". */
const char *cli_range_text(const cli_opt *o, char *buf, size_t size);
/* Usage, about and one line per option; a number option's line ends in "; N in RANGE". */
void cli_print_help(const char *usage, const char *about, const cli_opt *opts, int n_opts);

/* "lamina: error: <message>" on stderr, one line. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "lamina: warning: <message>" on stderr, one line; not an error (the exit status says). */
void cli_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same for a library status, with the context's detail message. */
int cli_lib_error(lam_ctx *ctx, lam_status st, const char *what);

/* --------------------------------------------------------------- shared steps */

#define CLI_DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

/* Train and test sets from --data (and --test when given). For a directory, the train and
 * t10k splits; for a single file without --test, CLI_HOLDOUT of it (seeded) becomes the
 * test set. Returns a lam_status; messages on ctx. */
typedef struct cli_data {
    lam_dataset *train, *val, *test;
    const char *test_note; /* how the test set was obtained, for the log */
    const char *test_file; /* the file (or directory) it was read from */
    const char *test_rows; /* what its samples are called in messages: "data row", ... */
} cli_data;

typedef struct cli_data_args {
    const char *data;      /* --data */
    const char *test;      /* --test or NULL */
    const char *target;    /* --target or NULL */
    const char *task;      /* --task or NULL */
    double val;            /* --val fraction, 0 = none */
    int64_t limit_train;   /* --limit-train, 0 = all */
    int64_t limit_test;
    uint64_t seed;
    int need_test;
} cli_data_args;

lam_status cli_load_data(lam_ctx *ctx, const cli_data_args *a, cli_data *out);
void cli_free_data(cli_data *d);

/* A single data file without --test: training keeps CLI_HOLDOUT of it, drawn with
 * cli_holdout_seed(--seed), as its test set. Checkpoints record both ("train.holdout",
 * "train.holdout_seed") so that eval and predict score the same rows. */
#define CLI_HOLDOUT 0.2
uint64_t cli_holdout_seed(uint64_t seed);
/* Replace *ds by its rest and write the split-off share (lam_dataset_split) to *part. */
lam_status cli_split_off(lam_ctx *ctx, lam_dataset **ds, double fraction, uint64_t seed,
                         lam_dataset **part);

/* 0 when every label of ds is below n_classes; else one error line naming the file and the
 * row (1-based; `part` names the numbering when ds is a share of the file, NULL: data rows)
 * and -1. */
int cli_check_labels(const lam_dataset *ds, int64_t n_classes, const char *file,
                     const char *part);

/* 0 when path can be written as an output of flag (a file can be created beside it: outputs
 * go through a sibling and a rename); else one error line naming the flag and the path, and
 * -1. Run before any work, so that a bad path does not fail after the first epoch. */
int cli_check_writable(const char *flag, const char *path);

/* Whether p is a directory (an MNIST-layout dataset, as opposed to a single file). */
int cli_is_dir(const char *p);
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

/* Parse "CxHxW", "TxD" or "F". Returns ndim (1 to 3) or 0 on error. */
int cli_parse_shape(const char *s, int64_t shape[3]);

/* --input CxHxW, TxD or F: its ndim (1 to 3), or 0 after a usage error line. */
int cli_input_shape(const char *input, int64_t shape[3]);

/* The model of --model SPEC for a sample shape with `classes` outputs, for batches of up to
 * `batch` (lamina info, import): an exit code, with the error line printed. */
int cli_model_for(lam_ctx *ctx, const char *model, int nd, const int64_t shape[3],
                  int64_t classes, int64_t batch, lam_model **out);

/* Threads for the context; also the process's OpenMP default so BLAS calls outside lamina's
 * own parallel loops follow it (the CLI is the host program, so this is its choice). */
void cli_set_threads(int64_t threads);

/* mpirun (cli/cli_mpi.c): begin initialises MPI when mpirun started the process (an exit
 * code); end finalises it, aborting every rank when rc is a failure so none is left
 * waiting. rank and size are 0 and 1 for a single process. */
int cli_mpi_begin(void);
void cli_mpi_end(int rc);
int cli_mpi_rank(void);
int cli_mpi_size(void);
/* Attach the context to the ranks (a no-op alone); detach before the context goes. */
lam_status cli_mpi_attach(lam_ctx *ctx);
void cli_mpi_detach(void);
/* Exact sums over the ranks, in place: integers, and doubles each non-zero on one rank. */
lam_status cli_mpi_sum_i64(int64_t *v, int n);
lam_status cli_mpi_sum_disjoint(double *v, int n);
/* Refuse ranks whose data differ (a checksum of train and test): 0, or error lines and -1. */
int cli_mpi_check_data(const lam_dataset *train, const lam_dataset *test, const char *what);

/* Subcommands. */
int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_predict(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_import(int argc, char **argv);
int cli_generate(int argc, char **argv);

/* --data names a text (fortunes or text:FILE), a language model's data; NULL is not one. */
int cli_is_text(const char *data);
/* --data fortunes or text:FILE as a byte-level text (cli/train_lm.c). */
lam_status cli_load_text(lam_ctx *ctx, const char *data, lam_text **out);
/* The vocabulary a language model's checkpoint holds ("lm.vocab") into bytes[0..*vocab);
 * a checkpoint without one, or with an entry that is not a byte, is LAM_ERR_FORMAT with one
 * error line naming path. */
lam_status cli_ckpt_vocab(lam_checkpoint *ck, const char *path, unsigned char bytes[256],
                          int *vocab);
/* That vocabulary applied to the text t (lam_text_set_vocab). */
lam_status cli_text_vocab(lam_checkpoint *ck, const char *path, lam_text *t);

/* lamina eval of a language model's checkpoint, open on ctx: bits per character of the
 * test part of its text (split "train": the training part, "all": all); an exit code. */
int cli_eval_lm(lam_ctx *ctx, lam_checkpoint *ck, const char *load, const char *data,
                const char *split, int json);

#endif
