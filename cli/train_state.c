/* What a `lamina train` checkpoint holds beyond the model and optimizer (which the library
 * saves): the run's options as metadata, the data cursor and partial-epoch sums as int64
 * scalars, the normalization and the per-epoch history as float arrays. Also the metrics CSV
 * and the SVG plot, both rewritten whole after each epoch. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svg.h"
#include "train.h"

/* N_STR string options, the last of which (train.save) is recorded but never restored: a
 * resumed run writes checkpoints only where its own --save says. */
enum { N_STR = 11, N_RESTORED_STR = N_STR - 1, N_INT = 9, N_REAL = 9 };
_Static_assert(sizeof((train_opts *)0)->owned / sizeof(char *) == N_STR,
               "train_opts.owned holds one copy per string option");

/* The option fields in a fixed order, so save and resume walk the same table. */
static void opt_fields(train_opts *o, const char ***s, cli_int **iv, cli_real **dv)
{
    const char **sv[N_STR] = {&o->model,      &o->data,    &o->test, &o->optimizer,
                              &o->schedule,   &o->target,  &o->task, &o->loss,
                              &o->nan_policy, &o->augment, &o->save};
    cli_int *ii[N_INT] = {&o->epochs,    &o->batch,       &o->seed,       &o->warmup,
                          &o->step_size, &o->limit_train, &o->limit_test, &o->bptt,
                          &o->chunk};
    cli_real *dd[N_REAL] = {&o->lr,   &o->momentum,  &o->weight_decay, &o->gamma, &o->val,
                            &o->clip, &o->smoothing, &o->delta,        NULL};
    for (int i = 0; i < N_STR; i++) {
        s[i] = sv[i];
    }
    for (int i = 0; i < N_INT; i++) {
        iv[i] = ii[i];
    }
    for (int i = 0; i < N_REAL; i++) {
        dv[i] = dd[i];
    }
}

static const char *const str_keys[N_STR] = {"train.model",     "train.data",     "train.test",
                                            "train.optimizer", "train.schedule", "train.target",
                                            "train.task",      "train.loss",     "train.nan_policy",
                                            "train.augment",   "train.save"};
static const char *const int_keys[N_INT] = {
    "train.epochs",    "train.batch",       "train.seed",       "train.warmup",
    "train.step_size", "train.limit_train", "train.limit_test", "train.bptt", "train.chunk"};
static const char *const real_keys[N_REAL] = {
    "train.lr",   "train.momentum",        "train.weight_decay", "train.gamma", "train.val",
    "train.clip", "train.label_smoothing", "train.huber_delta",  NULL};

/* Position scalars; doubles travel as their bit patterns so a resume is exact. */
enum {
    P_EPOCH,
    P_BATCH,
    P_STEP,
    P_SEEN,
    P_CORRECT,
    P_LOSS_BITS,
    P_SKIPPED,
    P_SAMPLES,
    P_SECONDS_BITS,
    P_HIST_N,
    N_POS
};
static const char *const pos_keys[N_POS] = {
    "train.epoch",         "train.batch",   "train.step",    "train.seen",         "train.correct",
    "train.loss_sum_bits", "train.skipped", "train.samples", "train.seconds_bits", "history.n"};

static int64_t bits_of(double d)
{
    int64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static double double_of(int64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static const char *const hist_names[7] = {
    "history.train_loss", "history.train_metric", "history.val_loss", "history.val_metric",
    "history.test_loss",  "history.test_metric",  "history.seconds"};

static float *hist_array(train_hist *h, int i)
{
    float *a[7] = {h->train_loss, h->train_metric, h->val_loss, h->val_metric,
                   h->test_loss,  h->test_metric,  h->seconds};
    return a[i];
}

lam_status train_save(train_run *r, const char *path)
{
    if (cli_mpi_rank() != 0) {
        return LAM_OK; /* rank 0 writes the run's files; every rank holds the same state */
    }
    train_opts o = r->o;
    const char **s[N_STR];
    cli_int *iv[N_INT];
    cli_real *dv[N_REAL];
    opt_fields(&o, s, iv, dv);
    enum { N_META = N_STR + N_INT + N_REAL + 2 };
    const char *keys[N_META], *vals[N_META];
    char num[N_INT + N_REAL + 2][40];
    int nm = 0;
    for (int i = 0; i < N_STR; i++) {
        if (*s[i] != NULL) {
            keys[nm] = str_keys[i];
            vals[nm++] = *s[i];
        }
    }
    for (int i = 0; i < N_INT; i++) {
        snprintf(num[i], sizeof num[i], "%lld", (long long)iv[i]->v);
        keys[nm] = int_keys[i];
        vals[nm++] = num[i];
    }
    for (int i = 0; dv[i] != NULL; i++) {
        snprintf(num[N_INT + i], sizeof num[0], "%.17g", dv[i]->v);
        keys[nm] = real_keys[i];
        vals[nm++] = num[N_INT + i];
    }
    /* the held-out test share of a single file, for eval and predict (cli_load_data) */
    snprintf(num[N_INT + N_REAL], sizeof num[0], "%.17g", CLI_HOLDOUT);
    snprintf(num[N_INT + N_REAL + 1], sizeof num[0], "%llu",
             (unsigned long long)cli_holdout_seed((uint64_t)o.seed.v));
    keys[nm] = "train.holdout";
    vals[nm++] = num[N_INT + N_REAL];
    keys[nm] = "train.holdout_seed";
    vals[nm++] = num[N_INT + N_REAL + 1];
    const train_pos *p = &r->pos;
    int64_t ints[N_POS] = {p->epoch,   p->batch,   p->step,
                           p->seen,    p->correct, bits_of(p->loss_sum),
                           p->skipped, p->samples, bits_of(p->seconds),
                           r->hist->n};
    enum { N_FL = 9 + TRAIN_MAX_MORE };
    lam_ckpt_floats fl[N_FL] = {{"norm.mean", r->norm.mean, r->norm.n},
                                {"norm.std", r->norm.std, r->norm.n}};
    int nf = r->text != NULL ? 0 : 2; /* a text has no normalization */
    for (int i = 0; i < 7; i++) {
        fl[nf++] = (lam_ckpt_floats){hist_names[i], hist_array(r->hist, i), r->hist->n};
    }
    for (int i = 0; i < r->n_more && i < TRAIN_MAX_MORE; i++) {
        fl[nf++] = r->more[i];
    }
    lam_ckpt_extras ex = {fl, nf, pos_keys, ints, N_POS, keys, vals, nm};
    return lam_checkpoint_save(r->model, r->opt, path, &ex);
}

int train_ckpt_has_run(const lam_checkpoint *ck)
{
    return lam_checkpoint_meta(ck, "train.optimizer") != NULL;
}

lam_status train_resume_opts(lam_checkpoint *ck, train_opts *o)
{
    const char **s[N_STR];
    cli_int *iv[N_INT];
    cli_real *dv[N_REAL];
    opt_fields(o, s, iv, dv);
    const char *from_ck[N_STR] = {NULL};
    for (int i = 0; i < N_RESTORED_STR; i++) {
        if (*s[i] == NULL) {
            *s[i] = from_ck[i] = lam_checkpoint_meta(ck, str_keys[i]);
        }
    }
    /* weights from `lamina import` carry no options: the model is the checkpoint's spec */
    if (o->model == NULL) {
        o->model = from_ck[0] = lam_checkpoint_meta(ck, "lamina.spec");
    }
    for (int i = 0; i < N_INT; i++) {
        const char *v = lam_checkpoint_meta(ck, int_keys[i]);
        if (!iv[i]->set && v != NULL) {
            *iv[i] = (cli_int){strtoll(v, NULL, 10), 1};
        }
    }
    for (int i = 0; dv[i] != NULL; i++) {
        const char *v = lam_checkpoint_meta(ck, real_keys[i]);
        if (!dv[i]->set && v != NULL) {
            *dv[i] = (cli_real){strtod(v, NULL), 1};
        }
    }
    /* the strings live in the checkpoint, which is closed before training: keep copies */
    for (int i = 0; i < N_STR; i++) {
        if (from_ck[i] != NULL) {
            char *c = malloc(strlen(from_ck[i]) + 1);
            if (c == NULL) {
                return LAM_ERR_NOMEM;
            }
            strcpy(c, from_ck[i]);
            *s[i] = o->owned[i] = c;
        }
    }
    return LAM_OK;
}

/* The checkpoint's input normalization; with none (imported weights: the network had its
 * own preprocessing), the identity for the model's input channels or features. */
static lam_status resume_norm(train_run *r, lam_checkpoint *ck)
{
    int64_t nn = lam_checkpoint_floats_len(ck, "norm.mean");
    int identity = nn < 1 && !train_ckpt_has_run(ck);
    if (nn < 1 && !identity) {
        cli_error("%s: no normalization statistics", r->o.resume);
        return LAM_ERR_FORMAT;
    }
    if (identity) {
        nn = r->data.train->sample_shape[0]; /* C of (C,H,W), F of (F) */
    }
    r->norm.n = nn;
    r->norm.mean = lam_alloc(r->ctx, (size_t)nn * sizeof(float));
    r->norm.std = r->norm.mean ? lam_alloc(r->ctx, (size_t)nn * sizeof(float)) : NULL;
    if (r->norm.std == NULL) {
        return LAM_ERR_NOMEM;
    }
    if (identity) {
        for (int64_t i = 0; i < nn; i++) {
            r->norm.mean[i] = 0.0f;
            r->norm.std[i] = 1.0f;
        }
        return LAM_OK;
    }
    lam_status st = lam_checkpoint_floats(ck, "norm.mean", r->norm.mean, nn);
    return st == LAM_OK ? lam_checkpoint_floats(ck, "norm.std", r->norm.std, nn) : st;
}

lam_status train_resume_state(train_run *r, lam_checkpoint *ck)
{
    const char *path = r->o.resume;
    const char *spec = lam_checkpoint_meta(ck, "lamina.spec");
    if (spec == NULL || strcmp(spec, lam_model_spec(r->model)) != 0) {
        cli_error("%s: checkpoint is for another model ('%s'), not '%s'", path, spec ? spec : "?",
                  lam_model_spec(r->model));
        return LAM_ERR_FORMAT;
    }
    lam_status st = lam_checkpoint_load_weights(ck, r->model);
    if (st != LAM_OK || !train_ckpt_has_run(ck)) {
        /* imported weights: fine-tuning starts at epoch 0 with a fresh optimizer */
        lam_model_set_step(r->model, 0);
        return st == LAM_OK && r->text == NULL ? resume_norm(r, ck) : st;
    }
    st = lam_checkpoint_load_optim(ck, r->opt);
    int64_t v[N_POS];
    for (int i = 0; st == LAM_OK && i < N_POS; i++) {
        st = lam_checkpoint_int(ck, pos_keys[i], &v[i]);
    }
    if (st != LAM_OK) {
        return st;
    }
    train_pos *p = &r->pos;
    p->epoch = v[P_EPOCH];
    p->batch = v[P_BATCH];
    p->step = v[P_STEP];
    p->seen = v[P_SEEN];
    p->correct = v[P_CORRECT];
    p->loss_sum = double_of(v[P_LOSS_BITS]);
    p->skipped = v[P_SKIPPED];
    p->samples = v[P_SAMPLES];
    p->seconds = double_of(v[P_SECONDS_BITS]);
    const int64_t steps = r->steps_per_epoch;
    if (p->epoch < 0 || p->batch < 0 || p->batch >= steps || v[P_HIST_N] < 0 ||
        v[P_HIST_N] > HIST_MAX) {
        cli_error("%s: training position (epoch %lld, batch %lld) does not fit this data", path,
                  (long long)p->epoch, (long long)p->batch);
        return LAM_ERR_FORMAT;
    }
    r->hist->n = (int)v[P_HIST_N];
    for (int i = 0; st == LAM_OK && i < 7; i++) {
        st = lam_checkpoint_floats(ck, hist_names[i], hist_array(r->hist, i), r->hist->n);
    }
    return st == LAM_OK && r->text == NULL ? resume_norm(r, ck) : st;
}

/* Write text to path through a temporary sibling and a rename: never a half-written file. */
static int write_atomic(const char *path, const char *text, size_t len)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) {
        return -1;
    }
    int ok = fwrite(text, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

int train_write_metrics(const train_run *r)
{
    if (r->o.metrics == NULL || cli_mpi_rank() != 0) {
        return 0;
    }
    const train_hist *h = r->hist;
    size_t cap = 256 + (size_t)h->n * 160, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        cli_error("%s: out of memory", r->o.metrics);
        return -1;
    }
    const char *m = r->text != NULL ? "bpc" : r->classify ? "accuracy" : "mae";
    len += (size_t)snprintf(buf, cap,
                            "epoch,train_loss,train_%s,val_loss,val_%s,test_loss,test_%s,"
                            "seconds\n",
                            m, m, m);
    for (int i = 0; i < h->n; i++) {
        len +=
            (size_t)snprintf(buf + len, cap - len, "%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.3f\n", i + 1,
                             h->train_loss[i], h->train_metric[i], h->val_loss[i], h->val_metric[i],
                             h->test_loss[i], h->test_metric[i], h->seconds[i]);
    }
    int rc = write_atomic(r->o.metrics, buf, len);
    if (rc != 0) {
        cli_error("%s: cannot write metrics: %s", r->o.metrics, strerror(errno));
    }
    free(buf);
    return rc;
}

int train_write_plot(const train_run *r)
{
    if (r->o.plot == NULL || cli_mpi_rank() != 0) {
        return 0;
    }
    const train_hist *h = r->hist;
    double *x = malloc(sizeof(double) * (size_t)(h->n > 0 ? h->n : 1) * 7);
    if (x == NULL) {
        cli_error("%s: out of memory", r->o.plot);
        return -1;
    }
    double *ys[6];
    for (int k = 0; k < 6; k++) {
        ys[k] = x + (size_t)h->n * (size_t)(k + 1);
        const float *src = hist_array((train_hist *)h, k);
        for (int i = 0; i < h->n; i++) {
            ys[k][i] = src[i];
        }
    }
    for (int i = 0; i < h->n; i++) {
        x[i] = i + 1;
    }
    svg_series loss[3] = {
        {"train", x, ys[0], h->n}, {"validation", x, ys[2], h->n}, {"test", x, ys[4], h->n}};
    svg_series metric[3] = {
        {"train", x, ys[1], h->n}, {"validation", x, ys[3], h->n}, {"test", x, ys[5], h->n}};
    int nv = r->data.val != NULL || r->text != NULL; /* a text always has its validation part */
    svg_series lossv[3], metricv[3];
    int ns = 0;
    for (int k = 0; k < 3; k++) {
        if (k == 1 && !nv) {
            continue;
        }
        lossv[ns] = loss[k];
        metricv[ns++] = metric[k];
    }
    const int lm = r->text != NULL;
    svg_panel panels[2] = {
        {"loss", "epoch", r->classify || lm ? "cross-entropy" : "loss", lossv, ns, 0},
        {lm            ? "bits per character"
         : r->classify ? "accuracy"
                       : "mean absolute error",
         "epoch",
         lm            ? "bits per char"
         : r->classify ? "accuracy"
                       : "MAE",
         metricv, ns, 0}};
    char title[256];
    snprintf(title, sizeof title, "lamina train: %s on %s", r->o.model, r->o.data);
    int rc = svg_write_lines(r->o.plot, title, panels, 2);
    if (rc != 0) {
        cli_error("%s: cannot write plot: %s", r->o.plot, strerror(errno));
    }
    free(x);
    return rc;
}
