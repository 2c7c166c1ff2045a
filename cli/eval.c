/* lamina eval and lamina predict: load a checkpoint, its normalization and a dataset, then
 * report metrics (eval) or write per-sample outputs (predict). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

typedef struct loaded {
    lam_ctx *ctx;
    lam_checkpoint *ck;
    lam_model *model;
    lam_dataset *ds;
    const char *path;   /* the data that was read */
} loaded;

typedef struct eval_opts {
    const char *load, *data, *split, *out, *target, *task;
    int64_t batch, threads, limit;
    int json;
} eval_opts;

static void unload(loaded *l)
{
    lam_dataset_destroy(l->ds);
    lam_model_destroy(l->model);
    lam_checkpoint_close(l->ck);
    lam_ctx_destroy(l->ctx);
}

/* Checkpoint, model, dataset (normalized with the checkpoint's statistics). */
static int load_all(const eval_opts *o, loaded *l)
{
    memset(l, 0, sizeof *l);
    if (o->load == NULL) {
        cli_error("--load FILE is required");
        return EXIT_USAGE;
    }
    if (o->batch < 1 || o->batch > 65536) {
        cli_error("--batch must be in 1..65536");
        return EXIT_USAGE;
    }
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.n_threads = (int)o->threads;
    cli_set_threads(o->threads);
    lam_status st = lam_ctx_create(&cfg, &l->ctx);
    if (st == LAM_OK) {
        st = lam_checkpoint_open(l->ctx, o->load, &l->ck);
    }
    if (st == LAM_OK) {
        st = lam_checkpoint_model(l->ck, o->batch, &l->model);
    }
    if (st != LAM_OK) {
        return cli_lib_error(l->ctx, st, o->load) == EXIT_USAGE ? EXIT_RUNTIME : EXIT_RUNTIME;
    }
    const char *data = o->data;
    if (data == NULL) {
        data = lam_checkpoint_meta(l->ck, "train.test");
    }
    if (data == NULL) {
        data = lam_checkpoint_meta(l->ck, "train.data");
    }
    if (data == NULL) {
        cli_error("%s: no --data given and the checkpoint names none", o->load);
        return EXIT_USAGE;
    }
    lam_data_options dop;
    lam_data_options_init(&dop);
    dop.split = o->split != NULL ? o->split : "t10k"; /* evaluate on held-out data */
    dop.target = o->target != NULL ? o->target : lam_checkpoint_meta(l->ck, "train.target");
    const char *task = o->task != NULL ? o->task : lam_checkpoint_meta(l->ck, "train.task");
    if (task != NULL) {
        dop.task = strcmp(task, "regress") == 0 ? LAM_DATA_REGRESS : LAM_DATA_CLASSIFY;
    }
    l->path = cli_data_path(data);
    st = lam_dataset_load(l->ctx, l->path, &dop, &l->ds);
    if (st != LAM_OK) {
        return cli_lib_error(l->ctx, st, l->path) == EXIT_USAGE ? EXIT_USAGE : EXIT_RUNTIME;
    }
    int nd;
    int64_t in[3];
    lam_model_in_shape(l->model, &nd, in);
    int same = nd == l->ds->sample_ndim;
    for (int i = 0; same && i < nd; i++) {
        same = in[i] == l->ds->sample_shape[i];
    }
    if (!same) {
        cli_error("%s: samples do not have the model's input shape (%s)", l->path,
                  lam_checkpoint_meta(l->ck, "lamina.input"));
        return EXIT_RUNTIME;
    }
    int64_t nn = lam_checkpoint_floats_len(l->ck, "norm.mean");
    if (nn > 0) {
        float *buf = malloc(2 * (size_t)nn * sizeof(float));
        lam_norm_stats ns = {nn, buf, buf != NULL ? buf + nn : NULL};
        st = buf == NULL ? LAM_ERR_NOMEM : lam_checkpoint_floats(l->ck, "norm.mean", ns.mean, nn);
        if (st == LAM_OK) {
            st = lam_checkpoint_floats(l->ck, "norm.std", ns.std, nn);
        }
        if (st == LAM_OK) {
            st = lam_dataset_normalize(l->ds, &ns);
        }
        free(buf);
        if (st != LAM_OK) {
            return cli_lib_error(l->ctx, st, o->load) == EXIT_USAGE ? EXIT_RUNTIME
                                                                    : EXIT_RUNTIME;
        }
    }
    if (o->limit > 0 && o->limit < l->ds->n) {
        l->ds->n = o->limit; /* a prefix: the arrays stay valid and are freed whole */
    }
    return EXIT_OK;
}

static int parse(int argc, char **argv, eval_opts *o, int predict)
{
    memset(o, 0, sizeof *o);
    o->batch = 256;
    const cli_opt table[] = {
        {"--load", ARG_STR, &o->load, "FILE", "checkpoint written by lamina train --save"},
        {"--data", ARG_STR, &o->data, "DATA", "data (default: the checkpoint's test data)"},
        {"--split", ARG_STR, &o->split, "NAME", "MNIST-layout split: t10k (default) or train"},
        {"--target", ARG_STR, &o->target, "COLUMN", "CSV target column(s)"},
        {"--task", ARG_STR, &o->task, "KIND", "classify or regress"},
        {"--batch", ARG_INT, &o->batch, "N", "samples per forward pass (256)"},
        {"--threads", ARG_INT, &o->threads, "N", "threads (default: OpenMP's)"},
        {"--limit", ARG_INT, &o->limit, "N", "only the first N samples"},
        {"--out", ARG_STR, &o->out, "FILE.csv", "predictions (default: stdout)"},
        {"--json", ARG_FLAG, &o->json, NULL, "last stdout line: one JSON object"},
    };
    int n_opts = (int)(sizeof table / sizeof table[0]) - (predict ? 1 : 2) + (predict ? 0 : 1);
    const cli_opt *use = table;
    cli_opt eval_table[9];
    if (!predict) { /* eval has no --out */
        memcpy(eval_table, table, 8 * sizeof *table);
        eval_table[8] = table[9];
        use = eval_table;
        n_opts = 9;
    } else {
        n_opts = 9;
    }
    const char *pos[1];
    int n_pos;
    char err[160];
    int rc = cli_parse(argc, argv, 2, use, n_opts, pos, 0, &n_pos, err, sizeof err);
    if (rc == 1) {
        cli_print_help(predict ? "lamina predict --load FILE [options]"
                               : "lamina eval --load FILE [options]",
                       predict ? "Write per-sample predicted classes and probabilities (or "
                                 "regression values) as CSV."
                               : "Evaluate a checkpoint: accuracy, loss and the confusion "
                                 "matrix (or MSE and MAE).",
                       use, n_opts);
        return -1;
    }
    if (rc < 0) {
        cli_error("%s (see lamina %s --help)", err, predict ? "predict" : "eval");
        return EXIT_USAGE;
    }
    return EXIT_OK;
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
    int64_t *conf = NULL;
    int64_t k = 0;
    cli_metrics m = {0};
    if (rc == EXIT_OK) {
        int nd;
        int64_t os[3];
        lam_model_out_shape(l.model, &nd, os);
        k = os[0];
        int classify = l.ds->task == LAM_DATA_CLASSIFY;
        conf = classify ? calloc((size_t)(k * k), sizeof *conf) : NULL;
        double t0 = lam_time_now();
        lam_status st = classify && conf == NULL ? LAM_ERR_NOMEM
                                                 : cli_evaluate(l.ctx, l.model, l.ds, conf, &m);
        double secs = lam_time_now() - t0;
        if (st != LAM_OK) {
            rc = cli_lib_error(l.ctx, st, l.path) == EXIT_USAGE ? EXIT_RUNTIME : EXIT_RUNTIME;
        } else if (classify) {
            printf("%s on %s: %lld samples  accuracy %.2f%%  loss %.4f\n", o.load, l.path,
                   (long long)m.n, 100.0 * m.accuracy, m.loss);
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
            if (o.json) {
                char b[40];
                printf("{\"test_accuracy\": %.6f, \"test_loss\": %s, \"samples\": %lld, "
                       "\"seconds\": %.3f, \"images_per_second\": %.1f}\n",
                       m.accuracy, cli_json_num(b, sizeof b, "%.6f", m.loss), (long long)m.n,
                       secs, secs > 0 ? m.n / secs : 0.0);
            }
        } else {
            printf("%s on %s: %lld samples  mse %.6g  mae %.6g\n", o.load, l.path,
                   (long long)m.n, m.mse, m.mae);
            if (o.json) {
                char b[2][40];
                printf("{\"test_mse\": %s, \"test_mae\": %s, \"samples\": %lld, "
                       "\"seconds\": %.3f, \"images_per_second\": %.1f}\n",
                       cli_json_num(b[0], 40, "%.6g", m.mse),
                       cli_json_num(b[1], 40, "%.6g", m.mae), (long long)m.n, secs,
                       secs > 0 ? m.n / secs : 0.0);
            }
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

int cli_predict(int argc, char **argv)
{
    eval_opts o;
    int rc = parse(argc, argv, &o, 1);
    if (rc != EXIT_OK) {
        return rc < 0 ? EXIT_OK : rc;
    }
    loaded l;
    rc = load_all(&o, &l);
    if (rc != EXIT_OK) {
        unload(&l);
        return rc;
    }
    int nd;
    int64_t os[3];
    lam_model_out_shape(l.model, &nd, os);
    int64_t k = os[0], n = l.ds->n;
    int classify = strcmp(lam_checkpoint_meta(l.ck, "train.task") ? lam_checkpoint_meta(
                              l.ck, "train.task") : "classify", "regress") != 0 &&
                   l.ds->task != LAM_DATA_REGRESS;
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
        rc = cli_lib_error(l.ctx, st, "predict") == EXIT_USAGE ? EXIT_RUNTIME : EXIT_RUNTIME;
    } else {
        fprintf(f, classify ? "index,class" : "index");
        for (int64_t j = 0; j < k; j++) {
            fprintf(f, classify ? ",p%lld" : ",y%lld", (long long)j);
        }
        fprintf(f, "\n");
        for (int64_t i = 0; i < n; i++) {
            const float *row = y + i * k;
            fprintf(f, "%lld", (long long)i);
            if (classify) {
                softmax_row(row, k, p);
                int64_t best = 0;
                for (int64_t j = 1; j < k; j++) {
                    best = p[j] > p[best] ? j : best;
                }
                fprintf(f, ",%lld", (long long)best);
                for (int64_t j = 0; j < k; j++) {
                    fprintf(f, ",%.6f", p[j]);
                }
            } else {
                for (int64_t j = 0; j < k; j++) {
                    fprintf(f, ",%.7g", (double)row[j]);
                }
            }
            fprintf(f, "\n");
        }
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
    free(y);
    free(p);
    unload(&l);
    return rc;
}
