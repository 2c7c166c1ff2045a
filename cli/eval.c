/* lamina eval and lamina predict: load a checkpoint, its normalization and a dataset, then
 * report metrics (eval) or write per-sample outputs (predict). Without --data they score
 * the test set training used: the t10k split, the --test file, or the share of a single
 * file that training held out (fraction and seed from the checkpoint). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

typedef struct eval_opts {
    const char *load, *data, *split, *out, *target, *task;
    cli_int batch, threads, limit, precision;
    int json, logits;
} eval_opts;

/* Which rows are scored: a directory's split, or all or part of a single file. */
enum { PART_ALL, PART_HELD_OUT, PART_REST };
typedef struct source {
    const char *path;      /* the data read (after cli_data_path) */
    const char *dir_split; /* a directory's split, "t10k" or "train"; NULL for a file */
    int part;              /* of a single file */
    double fraction;       /* PART_HELD_OUT, PART_REST: training's held-out share ... */
    uint64_t seed;         /* ... and its seed */
    const char *name;      /* for JSON: "t10k", "train", "all", "held-out" */
    const char *rows;      /* its samples in messages (cli_check_labels); NULL: data rows */
    char note[96];         /* for people: "the 20% held out in training (seed 31286)" */
} source;

typedef struct loaded {
    lam_ctx *ctx;
    lam_checkpoint *ck;
    lam_model *model;
    lam_dataset *ds;
    source src;
} loaded;

static void unload(loaded *l)
{
    lam_dataset_destroy(l->ds);
    lam_model_destroy(l->model);
    lam_checkpoint_close(l->ck);
    lam_ctx_destroy(l->ctx);
}

/* Training's held-out share of a single file, from the checkpoint: its own record, or for
 * checkpoints older than that record, the fraction and seed training has always used. */
static int holdout_of(const lam_checkpoint *ck, source *s)
{
    const char *frac = lam_checkpoint_meta(ck, "train.holdout");
    const char *seed = lam_checkpoint_meta(ck, "train.holdout_seed");
    const char *train_seed = lam_checkpoint_meta(ck, "train.seed");
    if (train_seed == NULL) {
        return -1;
    }
    s->fraction = frac != NULL ? strtod(frac, NULL) : CLI_HOLDOUT;
    s->seed = seed != NULL ? strtoull(seed, NULL, 10)
                           : cli_holdout_seed(strtoull(train_seed, NULL, 10));
    return 0;
}

/* Resolve --data and --split against the checkpoint's record; an exit code. */
static int resolve_source(const eval_opts *o, const lam_checkpoint *ck, source *s)
{
    memset(s, 0, sizeof *s);
    const char *split = o->split; /* checked by parse() */
    int want_test = split == NULL || strcmp(split, "train") != 0;
    want_test &= split == NULL || strcmp(split, "all") != 0;
    const char *test = o->data == NULL ? lam_checkpoint_meta(ck, "train.test") : NULL;
    const char *data = o->data != NULL ? o->data : lam_checkpoint_meta(ck, "train.data");
    int whole = test != NULL && want_test; /* training's --test file, as training read it */
    data = whole ? test : data;
    if (data == NULL) {
        cli_error("%s: no --data given and the checkpoint names none", o->load);
        return EXIT_USAGE;
    }
    s->path = cli_data_path(data);
    if (cli_is_dir(s->path)) {
        if (split != NULL && strcmp(split, "all") == 0) {
            cli_error("--split all is for a single file; %s has train and t10k splits", s->path);
            return EXIT_USAGE;
        }
        s->dir_split = s->name = want_test ? "t10k" : "train";
        s->rows = want_test ? "t10k sample" : "train sample";
        snprintf(s->note, sizeof s->note, "%s split", s->dir_split);
        return EXIT_OK;
    }
    /* a single file: all of it when named by --data (or as training's --test), else
     * training's share of it; training that had a --test file learned from all of --data */
    int all = whole || (split == NULL ? o->data != NULL : strcmp(split, "all") == 0);
    all |= !want_test && lam_checkpoint_meta(ck, "train.test") != NULL;
    if (all) {
        s->part = PART_ALL;
        s->name = "all";
        snprintf(s->note, sizeof s->note, whole ? "training's --test data" : "all rows");
        return EXIT_OK;
    }
    if (holdout_of(ck, s) != 0) {
        cli_error("%s: the checkpoint records no training run, so no held-out rows of %s: "
                  "give --split all", o->load, s->path);
        return EXIT_USAGE;
    }
    s->part = want_test ? PART_HELD_OUT : PART_REST;
    s->name = want_test ? "held-out" : "train";
    s->rows = want_test ? "held-out sample" : "training sample";
    snprintf(s->note, sizeof s->note, want_test ? "the %g%% held out in training, seed %llu"
                                                : "the %g%% training learned from, seed %llu",
             100.0 * (want_test ? s->fraction : 1.0 - s->fraction),
             (unsigned long long)s->seed);
    return EXIT_OK;
}

/* The dataset of s: read, then cut to training's share when asked. */
static lam_status load_source(loaded *l, const eval_opts *o)
{
    const source *s = &l->src;
    lam_data_options dop;
    lam_data_options_init(&dop);
    dop.split = s->dir_split;
    dop.target = o->target != NULL ? o->target : lam_checkpoint_meta(l->ck, "train.target");
    const char *task = o->task != NULL ? o->task : lam_checkpoint_meta(l->ck, "train.task");
    if (task != NULL) {
        dop.task = strcmp(task, "regress") == 0 ? LAM_DATA_REGRESS : LAM_DATA_CLASSIFY;
    }
    lam_status st = lam_dataset_load(l->ctx, s->path, &dop, &l->ds);
    if (st == LAM_OK && s->part != PART_ALL) {
        lam_dataset *held = NULL;
        st = cli_split_off(l->ctx, &l->ds, s->fraction, s->seed, &held);
        if (st == LAM_OK && s->part == PART_HELD_OUT) {
            lam_dataset_destroy(l->ds);
            l->ds = held;
        } else {
            lam_dataset_destroy(held);
        }
    }
    return st;
}

/* Apply the checkpoint's input normalization, if it has one (imported weights may not). */
static lam_status normalize(loaded *l)
{
    int64_t nn = lam_checkpoint_floats_len(l->ck, "norm.mean");
    if (nn < 1) {
        return LAM_OK;
    }
    float *buf = malloc(2 * (size_t)nn * sizeof(float));
    lam_norm_stats ns = {nn, buf, buf != NULL ? buf + nn : NULL};
    lam_status st =
        buf == NULL ? LAM_ERR_NOMEM : lam_checkpoint_floats(l->ck, "norm.mean", ns.mean, nn);
    if (st == LAM_OK) {
        st = lam_checkpoint_floats(l->ck, "norm.std", ns.std, nn);
    }
    if (st == LAM_OK) {
        st = lam_dataset_normalize(l->ds, &ns);
    }
    free(buf);
    return st;
}

/* load_all's answer for a language model's checkpoint (it holds a vocabulary): the context
 * and the checkpoint are open, nothing else is loaded. Not an exit code. */
#define LOADED_LM (-1)

/* Checkpoint, model, dataset (normalized with the checkpoint's statistics); an exit code,
 * or LOADED_LM. */
static int load_all(const eval_opts *o, loaded *l)
{
    memset(l, 0, sizeof *l);
    if (o->load == NULL) {
        cli_error("--load FILE is required");
        return EXIT_USAGE;
    }
    if (o->out != NULL && cli_check_writable("--out", o->out) != 0) {
        return EXIT_RUNTIME;
    }
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.n_threads = o->threads.set ? (int)o->threads.v : 0;
    cli_set_threads(cfg.n_threads);
    lam_status st = lam_ctx_create(&cfg, &l->ctx);
    if (st == LAM_OK) {
        st = lam_checkpoint_open(l->ctx, o->load, &l->ck);
    }
    if (st == LAM_OK && lam_checkpoint_floats_len(l->ck, "lm.vocab") > 0) {
        return LOADED_LM; /* read in the streams of its text: cli_eval_lm */
    }
    if (st == LAM_OK) {
        st = lam_checkpoint_model(l->ck, o->batch.v, &l->model);
    }
    if (st != LAM_OK) {
        cli_lib_error(l->ctx, st, o->load);
        return EXIT_RUNTIME;
    }
    int rc = resolve_source(o, l->ck, &l->src);
    if (rc != EXIT_OK) {
        return rc;
    }
    st = load_source(l, o);
    if (st != LAM_OK) {
        return cli_lib_error(l->ctx, st, l->src.path) == EXIT_USAGE ? EXIT_USAGE : EXIT_RUNTIME;
    }
    int nd;
    int64_t in[3];
    lam_model_in_shape(l->model, &nd, in);
    int same = nd == l->ds->sample_ndim;
    for (int i = 0; same && i < nd; i++) {
        same = in[i] == l->ds->sample_shape[i];
    }
    if (!same) {
        cli_error("%s: samples do not have the model's input shape (%s)", l->src.path,
                  lam_checkpoint_meta(l->ck, "lamina.input"));
        return EXIT_RUNTIME;
    }
    st = normalize(l);
    if (st != LAM_OK) {
        cli_lib_error(l->ctx, st, o->load);
        return EXIT_RUNTIME;
    }
    if (o->limit.set && o->limit.v < l->ds->n) {
        l->ds->n = o->limit.v; /* a prefix: the arrays stay valid and are freed whole */
    }
    return EXIT_OK;
}

static int parse(int argc, char **argv, eval_opts *o, int predict)
{
    memset(o, 0, sizeof *o);
    o->batch.v = 256;
    const int64_t max_n = LAM_DATA_MAX_BYTES / 4; /* samples of the largest dataset */
    enum { EVAL = 1, PREDICT = 2, BOTH = 3 };
    const struct {
        int in;
        cli_opt opt;
    } all[] = {
        {BOTH, cli_opt_str("--load", &o->load, "FILE", "checkpoint (lamina train --save, "
                           "lamina import)")},
        {BOTH, cli_opt_str("--data", &o->data, "DATA", "data (default: the test set training "
                           "used)")},
        {BOTH, cli_opt_str("--split", &o->split, "NAME", "test (alias t10k; default), train, "
                           "or all rows of a --data file")},
        {BOTH, cli_opt_str("--target", &o->target, "COLUMN", "CSV target column(s)")},
        {BOTH, cli_opt_str("--task", &o->task, "KIND", "classify or regress")},
        {BOTH, cli_opt_int("--batch", &o->batch, "N", "samples per forward pass (256)", 1,
                           65536)},
        {BOTH, cli_opt_int("--threads", &o->threads, "N", "threads (default: OpenMP's)", 1,
                           1024)},
        {BOTH, cli_opt_int("--limit", &o->limit, "N", "only the first N samples", 1, max_n)},
        {PREDICT, cli_opt_str("--out", &o->out, "FILE.csv", "predictions (default: stdout)")},
        {PREDICT, cli_opt_flag("--logits", &o->logits, "raw scores instead of probabilities")},
        {PREDICT, cli_opt_int("--precision", &o->precision, "N", "decimals of probabilities "
                              "(6), significant digits of values and logits (7)", 1, 17)},
        {EVAL, cli_opt_flag("--json", &o->json, "last stdout line: one JSON object")},
    };
    cli_opt use[sizeof all / sizeof all[0]];
    int n_opts = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (all[i].in & (predict ? PREDICT : EVAL)) {
            use[n_opts++] = all[i].opt;
        }
    }
    const char *pos[1];
    int n_pos;
    char err[160];
    int rc = cli_parse(argc, argv, 2, use, n_opts, pos, 0, &n_pos, err, sizeof err);
    if (rc == 1) {
        cli_print_help(predict ? "lamina predict --load FILE [options]"
                               : "lamina eval --load FILE [options]",
                       predict ? "Write per-sample predicted classes and probabilities (or "
                                 "regression values) as CSV,\nwith the true label (or "
                                 "targets) when the data has them."
                               : "Evaluate a checkpoint: accuracy, loss and the confusion "
                                 "matrix (or MSE and MAE).",
                       use, n_opts);
        return -1;
    }
    if (rc < 0) {
        cli_error("%s (see lamina %s --help)", err, predict ? "predict" : "eval");
        return EXIT_USAGE;
    }
    const char *split = o->split;
    if (split != NULL && strcmp(split, "test") != 0 && strcmp(split, "t10k") != 0 &&
        strcmp(split, "train") != 0 && strcmp(split, "all") != 0) {
        cli_error("--split must be test (alias t10k), train or all, not '%s'", split);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static void print_confusion(const int64_t *conf, int64_t k)
{
    printf("confusion matrix (rows: true class, columns: predicted)\n      ");
    for (int64_t j = 0; j < k; j++) {
        printf("%6lld", (long long)j);
    }
    printf("\n");
    for (int64_t i = 0; i < k; i++) {
        printf("%6lld", (long long)i);
        for (int64_t j = 0; j < k; j++) {
            printf("%6lld", (long long)conf[i * k + j]);
        }
        printf("\n");
    }
}

/* The report of eval: the summary line, the confusion matrix, the --json line. */
static void print_report(const eval_opts *o, const loaded *l, const cli_metrics *m,
                         const int64_t *conf, int64_t k, double secs)
{
    double ips = secs > 0 ? (double)m->n / secs : 0.0;
    char b[2][40];
    printf("%s on %s (%s): %lld samples  ", o->load, l->src.path, l->src.note,
           (long long)m->n);
    if (conf != NULL) {
        printf("accuracy %.2f%%  loss %.4f\n", 100.0 * m->accuracy, m->loss);
        print_confusion(conf, k);
    } else {
        printf("mse %.6g  mae %.6g\n", m->mse, m->mae);
    }
    if (!o->json) {
        return;
    }
    if (conf != NULL) {
        printf("{\"test_accuracy\": %.6f, \"test_loss\": %s, ", m->accuracy,
               cli_json_num(b[0], 40, "%.6f", m->loss));
    } else {
        printf("{\"test_mse\": %s, \"test_mae\": %s, ", cli_json_num(b[0], 40, "%.6g", m->mse),
               cli_json_num(b[1], 40, "%.6g", m->mae));
    }
    printf("\"samples\": %lld, \"seconds\": %.3f, \"images_per_second\": %.1f, \"data\": ",
           (long long)m->n, secs, ips);
    cli_json_str(l->src.path);
    printf(", \"split\": \"%s\"}\n", l->src.name);
}

int cli_eval(int argc, char **argv)
{
    eval_opts o;
    int rc = parse(argc, argv, &o, 0);
    if (rc != EXIT_OK) {
        return rc < 0 ? EXIT_OK : rc;
    }
    loaded l;
    rc = load_all(&o, &l);
    if (rc == LOADED_LM) {
        rc = cli_eval_lm(l.ctx, l.ck, o.load, o.data, o.split, o.json);
        unload(&l);
        return rc;
    }
    int64_t *conf = NULL, k = 0;
    int classify = rc == EXIT_OK && l.ds->task == LAM_DATA_CLASSIFY;
    if (rc == EXIT_OK) {
        int nd;
        int64_t os[3];
        lam_model_out_shape(l.model, &nd, os);
        k = os[0];
    }
    if (classify && cli_check_labels(l.ds, k, l.src.path, l.src.rows) != 0) {
        rc = EXIT_RUNTIME;
    }
    if (rc == EXIT_OK) {
        cli_metrics m = {0};
        conf = classify ? calloc((size_t)(k * k), sizeof *conf) : NULL;
        double t0 = lam_time_now();
        lam_status st = classify && conf == NULL
                            ? LAM_ERR_NOMEM
                            : cli_evaluate(l.ctx, l.model, l.ds, conf, &m);
        if (st == LAM_OK) {
            print_report(&o, &l, &m, conf, k, lam_time_now() - t0);
        } else {
            cli_lib_error(l.ctx, st, l.src.path);
            rc = EXIT_RUNTIME;
        }
    }
    free(conf);
    unload(&l);
    return rc;
}

/* Softmax of one row into p (for probabilities next to the class). */
static void softmax_row(const float *z, int64_t k, double *p)
{
    double mx = z[0], s = 0.0;
    for (int64_t j = 1; j < k; j++) {
        mx = z[j] > mx ? z[j] : mx;
    }
    for (int64_t j = 0; j < k; j++) {
        p[j] = exp(z[j] - mx);
        s += p[j];
    }
    for (int64_t j = 0; j < k; j++) {
        p[j] /= s;
    }
}

/* What predict writes per row. */
typedef struct pred_cols {
    int classify, logits, labels, targets; /* labels/targets: the data's true values */
    int prec_p, prec_v;                     /* decimals of probabilities, digits of values */
} pred_cols;

static void write_header(FILE *f, const pred_cols *c, int64_t k)
{
    fprintf(f, c->classify ? "index,class" : "index");
    for (int64_t j = 0; j < k; j++) {
        fprintf(f, ",%s%lld", !c->classify ? "y" : c->logits ? "z" : "p", (long long)j);
    }
    if (c->labels) {
        fprintf(f, ",label");
    }
    for (int64_t j = 0; c->targets && j < k; j++) {
        fprintf(f, ",target%lld", (long long)j);
    }
    fprintf(f, "\n");
}

static void write_rows(FILE *f, const pred_cols *c, const lam_dataset *ds, const float *y,
                       int64_t k, double *p)
{
    for (int64_t i = 0; i < ds->n; i++) {
        const float *row = y + i * k;
        fprintf(f, "%lld", (long long)i);
        if (c->classify) {
            int64_t best = 0;
            for (int64_t j = 1; j < k; j++) {
                best = row[j] > row[best] ? j : best;
            }
            fprintf(f, ",%lld", (long long)best);
            softmax_row(row, k, p);
        }
        for (int64_t j = 0; j < k; j++) {
            if (c->classify && !c->logits) {
                fprintf(f, ",%.*f", c->prec_p, p[j]);
            } else {
                fprintf(f, ",%.*g", c->prec_v, (double)row[j]);
            }
        }
        if (c->labels) {
            fprintf(f, ",%d", (int)ds->labels[i]);
        }
        for (int64_t j = 0; c->targets && j < k; j++) {
            fprintf(f, ",%.*g", c->prec_v, (double)ds->targets[i * k + j]);
        }
        fprintf(f, "\n");
    }
}

int cli_predict(int argc, char **argv)
{
    eval_opts o;
    int rc = parse(argc, argv, &o, 1);
    if (rc != EXIT_OK) {
        return rc < 0 ? EXIT_OK : rc;
    }
    loaded l;
    rc = load_all(&o, &l);
    if (rc == LOADED_LM) {
        cli_error("%s is a language model's checkpoint: lamina eval gives its bits per char, "
                  "lamina generate samples text from it", o.load);
        rc = EXIT_USAGE;
    }
    if (rc != EXIT_OK) {
        unload(&l);
        return rc;
    }
    int nd;
    int64_t os[3];
    lam_model_out_shape(l.model, &nd, os);
    int64_t k = os[0], n = l.ds->n;
    const char *task = lam_checkpoint_meta(l.ck, "train.task");
    pred_cols c = {0};
    c.classify = (task == NULL || strcmp(task, "regress") != 0) &&
                 l.ds->task != LAM_DATA_REGRESS;
    c.logits = o.logits;
    c.labels = c.classify && l.ds->task == LAM_DATA_CLASSIFY;
    c.targets = !c.classify && l.ds->task == LAM_DATA_REGRESS && l.ds->n_targets == k;
    c.prec_p = o.precision.set ? (int)o.precision.v : 6;
    c.prec_v = o.precision.set ? (int)o.precision.v : 7;
    float *y = malloc((size_t)(n * k) * sizeof(float));
    double *p = malloc((size_t)k * sizeof(double));
    char tmp[4096] = "";
    FILE *f = stdout;
    if (o.out != NULL) {
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", o.out, (long)getpid());
        f = fopen(tmp, "wb");
    }
    lam_status st = y == NULL || p == NULL ? LAM_ERR_NOMEM
                                           : lam_model_predict(l.model, l.ds->x, n, y);
    if (f == NULL) {
        cli_error("%s: cannot write: %s", o.out, strerror(errno));
        rc = EXIT_RUNTIME;
    } else if (st != LAM_OK) {
        cli_lib_error(l.ctx, st, "predict");
        rc = EXIT_RUNTIME;
    } else {
        write_header(f, &c, k);
        write_rows(f, &c, l.ds, y, k, p);
    }
    if (f != NULL && f != stdout) {
        int ok = rc == EXIT_OK && fflush(f) == 0 && fsync(fileno(f)) == 0;
        ok &= fclose(f) == 0;
        if (!ok || rename(tmp, o.out) != 0) {
            if (rc == EXIT_OK) {
                cli_error("%s: cannot write: %s", o.out, strerror(errno));
            }
            remove(tmp);
            rc = EXIT_RUNTIME;
        }
    }
    if (rc == EXIT_OK) {
        /* stderr: stdout may be the CSV; after the rows, so that a failure stays one line */
        fprintf(stderr, "lamina predict: %lld samples of %s (%s)\n", (long long)n,
                l.src.path, l.src.note);
    }
    free(y);
    free(p);
    unload(&l);
    return rc;
}
