/* Steps the subcommands share: loading data, evaluating, reading specs and shapes. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cli.h"

const char *cli_data_path(const char *spec)
{
    return strcmp(spec, "fashion-mnist") == 0 ? CLI_DEFAULT_DATA : spec;
}

int cli_is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static lam_status limit(lam_ctx *ctx, lam_dataset **ds, int64_t n)
{
    if (n <= 0 || n >= (*ds)->n) {
        return LAM_OK;
    }
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    if (idx == NULL) {
        return LAM_ERR_NOMEM;
    }
    for (int64_t i = 0; i < n; i++) {
        idx[i] = i;
    }
    lam_dataset *sub = NULL;
    lam_status st = lam_dataset_subset(ctx, *ds, idx, n, &sub);
    free(idx);
    if (st == LAM_OK) {
        lam_dataset_destroy(*ds);
        *ds = sub;
    }
    return st;
}

uint64_t cli_holdout_seed(uint64_t seed)
{
    return seed ^ 0x7e57;
}

lam_status cli_split_off(lam_ctx *ctx, lam_dataset **ds, double fraction, uint64_t seed,
                         lam_dataset **part)
{
    lam_dataset *rest = NULL;
    lam_status st = lam_dataset_split(ctx, *ds, fraction, seed, &rest, part);
    if (st == LAM_OK) {
        lam_dataset_destroy(*ds);
        *ds = rest;
    }
    return st;
}

/* cli_split_off, or one line naming the data and why when a part would be empty (the
 * library's message would name only lam_dataset_split). */
static lam_status split_checked(lam_ctx *ctx, lam_dataset **ds, double fraction, uint64_t seed,
                                lam_dataset **part, const char *path, const char *why)
{
    int64_t n = (*ds)->n, k = (int64_t)llround(fraction * (double)n);
    if (k < 1 || k >= n) {
        cli_error("%s: %lld samples are too few %s", path, (long long)n, why);
        return LAM_ERR_RANGE;
    }
    return cli_split_off(ctx, ds, fraction, seed, part);
}

lam_status cli_load_data(lam_ctx *ctx, const cli_data_args *a, cli_data *out)
{
    memset(out, 0, sizeof *out);
    lam_data_options o;
    lam_data_options_init(&o);
    o.target = a->target;
    if (a->task != NULL) {
        o.task = strcmp(a->task, "classify") == 0 ? LAM_DATA_CLASSIFY : LAM_DATA_REGRESS;
    }
    const char *path = cli_data_path(a->data);
    lam_status st = lam_dataset_load(ctx, path, &o, &out->train);
    if (st == LAM_OK && a->need_test) {
        out->test_file = path;
        if (a->test != NULL) {
            out->test_file = cli_data_path(a->test);
            st = lam_dataset_load(ctx, out->test_file, &o, &out->test);
            out->test_note = "--test";
            out->test_rows = "data row";
        } else if (cli_is_dir(path)) {
            o.split = "t10k";
            st = lam_dataset_load(ctx, path, &o, &out->test);
            out->test_note = "t10k split";
            out->test_rows = "t10k sample";
        } else {
            /* one file: keep a seeded share of it as the test set */
            st = split_checked(ctx, &out->train, CLI_HOLDOUT, cli_holdout_seed(a->seed), &out->test,
                               path, "to hold out 20% as the test set (give --test)");
            out->test_note = "20% held out of --data";
            out->test_rows = "held-out sample";
        }
    }
    if (st == LAM_OK && out->test != NULL && out->test->task != out->train->task) {
        static const char *const task[4] = {"auto", "classification", "regression", "unlabeled"};
        st = LAM_ERR_FORMAT;
        cli_error("%s: the test set is %s data but the training set %s is %s",
                  a->test != NULL ? cli_data_path(a->test) : path, task[out->test->task & 3], path,
                  task[out->train->task & 3]);
    }
    if (st == LAM_OK) {
        st = limit(ctx, &out->train, a->limit_train);
    }
    if (st == LAM_OK && out->test != NULL) {
        st = limit(ctx, &out->test, a->limit_test);
    }
    if (st == LAM_OK && a->val > 0.0) {
        char why[64];
        snprintf(why, sizeof why, "for --val %g", a->val);
        st = split_checked(ctx, &out->train, a->val, a->seed ^ 0x5a1, &out->val, path, why);
    }
    if (st != LAM_OK) {
        cli_free_data(out);
    }
    return st;
}

void cli_free_data(cli_data *d)
{
    lam_dataset_destroy(d->train);
    lam_dataset_destroy(d->val);
    lam_dataset_destroy(d->test);
    memset(d, 0, sizeof *d);
}

int cli_check_labels(const lam_dataset *ds, int64_t n_classes, const char *file, const char *part)
{
    for (int64_t i = 0; ds->task == LAM_DATA_CLASSIFY && i < ds->n; i++) {
        if (ds->labels[i] >= n_classes) {
            /* a part of a file (a held-out share) has its own numbering */
            cli_error("%s: %s %lld has label %d, outside the model's classes 0..%lld", file,
                      part != NULL ? part : "data row", (long long)i + 1, (int)ds->labels[i],
                      (long long)n_classes - 1);
            return -1;
        }
    }
    return 0;
}

int cli_check_writable(const char *flag, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        cli_error("%s %s: is a directory", flag, path);
        return -1;
    }
    /* files are written to a sibling and renamed, so the directory must take a new file */
    char probe[4096];
    int fd = -1;
    if ((size_t)snprintf(probe, sizeof probe, "%s.probe.%ld", path, (long)getpid()) <
        sizeof probe) {
        fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    } else {
        errno = ENAMETOOLONG;
    }
    if (fd < 0) {
        cli_error("%s %s: cannot write a file there: %s", flag, path, strerror(errno));
        return -1;
    }
    close(fd);
    unlink(probe);
    return 0;
}

/* Under mpirun each rank evaluates its run of the blocks of max_batch samples; the block
 * sums travel as doubles that only their rank fills, so the totals are summed in block
 * order and are the same on any number of ranks. */
lam_status cli_evaluate(lam_ctx *ctx, lam_model *m, const lam_dataset *ds, int64_t *confusion,
                        cli_metrics *out)
{
    memset(out, 0, sizeof *out);
    int64_t b = lam_model_max_batch(m);
    int nd;
    int64_t os[3];
    lam_model_out_shape(m, &nd, os);
    int64_t k = os[0];
    int classify = ds->task == LAM_DATA_CLASSIFY;
    lam_loss_desc ld = {classify ? LAM_LOSS_SOFTMAX_XENT : LAM_LOSS_MSE, 0.0f, 0.0f};
    const int64_t nb = (ds->n + b - 1) / b, rank = cli_mpi_rank(), ranks = cli_mpi_size();
    const int64_t b0 = nb * rank / ranks, b1 = nb * (rank + 1) / ranks;
    double *sums = calloc((size_t)(2 * nb + 1), sizeof(double)); /* loss, abs per block */
    if (sums == NULL) {
        return LAM_ERR_NOMEM;
    }
    int64_t hits = 0;
    lam_status st = LAM_OK;
    for (int64_t blk = b0; blk < b1 && st == LAM_OK; blk++) {
        const int64_t i = blk * b, n = ds->n - i < b ? ds->n - i : b;
        const float *y = NULL;
        st = lam_model_forward(m, ds->x + i * ds->sample_numel, n, 0, &y);
        double l = 0.0;
        if (st == LAM_OK) {
            st = lam_loss_eval(ctx, &ld, n, k, y, classify ? ds->labels + i : NULL,
                               classify ? NULL : ds->targets + i * k, &l, NULL);
            if (st == LAM_ERR_NUMERIC) {
                /* a model gone non-finite (e.g. after steps skipped by --nan-policy skip)
                 * has a NaN or infinite loss: that is its metric, not a failure */
                st = LAM_OK;
                l = isfinite(l) ? NAN : l;
            }
        }
        if (st != LAM_OK) {
            break;
        }
        sums[blk] = l * (double)n;
        for (int64_t s = 0; s < n; s++) {
            const float *row = y + s * k;
            if (classify) {
                int64_t best = 0;
                for (int64_t j = 1; j < k; j++) {
                    best = row[j] > row[best] ? j : best;
                }
                int32_t truth = ds->labels[i + s];
                hits += best == truth;
                if (confusion != NULL) {
                    confusion[truth * k + best]++;
                }
            } else {
                for (int64_t j = 0; j < k; j++) {
                    sums[nb + blk] += fabs((double)row[j] - ds->targets[(i + s) * k + j]);
                }
            }
        }
    }
    if (st == LAM_OK && ranks > 1) {
        st = cli_mpi_sum_disjoint(sums, (int)(2 * nb));
        if (st == LAM_OK) {
            st = cli_mpi_sum_i64(&hits, 1);
        }
        if (st == LAM_OK && confusion != NULL) {
            st = cli_mpi_sum_i64(confusion, (int)(k * k));
        }
    }
    double loss_sum = 0.0, abs_sum = 0.0;
    for (int64_t blk = 0; blk < nb; blk++) {
        loss_sum += sums[blk];
        abs_sum += sums[nb + blk];
    }
    free(sums);
    if (st != LAM_OK) {
        return st;
    }
    out->n = ds->n;
    out->loss = loss_sum / (double)ds->n;
    out->accuracy = (double)hits / (double)ds->n;
    out->mse = classify ? 0.0 : out->loss;
    out->mae = classify ? 0.0 : abs_sum / ((double)ds->n * (double)k);
    return LAM_OK;
}

const char *cli_json_num(char *buf, size_t size, const char *fmt, double v)
{
    if (!isfinite(v)) {
        return "null";
    }
    snprintf(buf, size, fmt, v);
    return buf;
}

void cli_json_str(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            printf("\\%c", c);
        } else if (c < 0x20) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

char *cli_read_spec(const char *arg)
{
    struct stat sb;
    if (lam_model_builtin_spec(arg) == NULL && stat(arg, &sb) == 0 && S_ISREG(sb.st_mode)) {
        if (sb.st_size > 65536) {
            cli_error("%s: model spec file larger than 64 KiB", arg);
            return NULL;
        }
        FILE *f = fopen(arg, "rb");
        char *s = f != NULL ? malloc((size_t)sb.st_size + 1) : NULL;
        size_t got = s != NULL ? fread(s, 1, (size_t)sb.st_size, f) : 0;
        if (f != NULL) {
            fclose(f);
        }
        if (s == NULL || got != (size_t)sb.st_size) {
            cli_error("%s: cannot read the model spec file", arg);
            free(s);
            return NULL;
        }
        s[got] = '\0';
        return s;
    }
    char *s = malloc(strlen(arg) + 1);
    if (s != NULL) {
        strcpy(s, arg);
    }
    return s;
}

int cli_parse_shape(const char *s, int64_t shape[3])
{
    int n = 0;
    while (n < 3) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 1 || v > (1LL << 32)) {
            return 0;
        }
        shape[n++] = v;
        if (*end == '\0') {
            return n; /* (F), (T,D) or (C,H,W) */
        }
        if (*end != 'x') {
            return 0;
        }
        s = end + 1;
    }
    return 0;
}

int cli_input_shape(const char *input, int64_t shape[3])
{
    shape[0] = shape[1] = shape[2] = 1;
    int nd = input != NULL ? cli_parse_shape(input, shape) : 0;
    if (nd == 0) {
        cli_error("--input must be CxHxW, TxD or F, e.g. 1x28x28, not '%s'",
                  input ? input : "(missing)");
    }
    return nd;
}

int cli_model_for(lam_ctx *ctx, const char *model, int nd, const int64_t shape[3], int64_t classes,
                  int64_t batch, lam_model **out)
{
    char *spec = cli_read_spec(model);
    lam_status st =
        spec == NULL ? LAM_ERR_IO : lam_model_create(ctx, spec, nd, shape, classes, batch, out);
    free(spec);
    /* a spec that does not parse or fit is a bad model file, as in lamina train (exit 1) */
    return st == LAM_OK ? EXIT_OK : cli_lib_error(ctx, st, model);
}

void cli_set_threads(int64_t threads)
{
#ifdef _OPENMP
    if (threads > 0) {
        omp_set_num_threads((int)threads);
    }
#else
    (void)threads;
#endif
}

int cli_parse_command(int argc, char **argv, const char *cmd, const char *usage, const char *about,
                      const cli_opt *opts, int n_opts)
{
    const char *pos[1];
    int n_pos;
    char err[160];
    int rc = cli_parse(argc, argv, 2, opts, n_opts, pos, 0, &n_pos, err, sizeof err);
    if (rc == 1) {
        cli_print_help(usage, about, opts, n_opts);
        return -1;
    }
    if (rc < 0) {
        cli_error("%s (see lamina %s --help)", err, cmd);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}
