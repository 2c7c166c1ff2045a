/* lamina train: load data, build or resume a model, run the epochs with progress, evaluate,
 * save checkpoints, metrics and plots. Everything numeric happens in the library. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train.h"

static const char *const usage_line = "lamina train [options]";
static const char *const about =
    "Train a model. Defaults: the seed CNN on Fashion-MNIST (Debian's dataset-fashion-mnist),\n"
    "SGD lr 0.01 momentum 0.9, batch 64, 10 epochs, inputs normalized with the training set's\n"
    "mean and std. --data takes fashion-mnist, an MNIST-layout directory, FILE.csv, or\n"
    "X.npy,y.npy. On --resume, options not given again are taken from the checkpoint.";

static void opts_unset(train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = o->batch = o->threads = o->seed = o->save_every = o->warmup = o->step_size = -1;
    o->limit_train = o->limit_test = -1;
    o->lr = o->momentum = o->weight_decay = o->gamma = o->val = o->clip = NAN;
    o->smoothing = o->delta = NAN;
}

/* lm and lbfgs are full-batch regression methods: --epochs counts their iterations. */
static int second_order(const train_opts *o)
{
    return strcmp(o->optimizer, "lm") == 0 || strcmp(o->optimizer, "lbfgs") == 0;
}

/* Defaults for whatever is still unset after the flags (and the checkpoint). */
static void opts_default(train_opts *o)
{
    const char **s[] = {&o->model, &o->data, &o->optimizer, &o->schedule, &o->nan_policy};
    const char *sd[] = {"seed-cnn", "fashion-mnist", "sgd", "constant", "stop"};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        *s[i] = *s[i] != NULL ? *s[i] : sd[i];
    }
    int64_t *iv[] = {&o->epochs, &o->batch, &o->threads, &o->seed, &o->save_every,
                     &o->warmup, &o->step_size, &o->limit_train, &o->limit_test};
    const int64_t id[] = {second_order(o) ? 100 : 10, 64, 0, 1, 0, 0, 1, 0, 0};
    for (size_t i = 0; i < sizeof iv / sizeof iv[0]; i++) {
        *iv[i] = *iv[i] >= 0 ? *iv[i] : id[i];
    }
    int sgd = strcmp(o->optimizer, "sgd") == 0;
    int adam = strcmp(o->optimizer, "adam") == 0 || strcmp(o->optimizer, "adamw") == 0;
    double *dv[] = {&o->lr, &o->momentum, &o->weight_decay, &o->gamma, &o->val, &o->clip,
                    &o->smoothing, &o->delta};
    const double dd[] = {adam ? 1e-3 : 0.01, sgd ? 0.9 : 0.0, 0.0, 0.1, 0.0, 0.0, 0.0, 1.0};
    for (size_t i = 0; i < sizeof dv / sizeof dv[0]; i++) {
        *dv[i] = isnan(*dv[i]) ? dd[i] : *dv[i];
    }
}

/* Check option values; returns 0 or prints a usage error and returns -1. */
static int opts_check(const train_opts *o)
{
    const char *opts_ok[] = {"sgd", "nesterov", "adam", "adamw", "rmsprop", "lm", "lbfgs"};
    int ok = 0;
    for (size_t i = 0; i < sizeof opts_ok / sizeof opts_ok[0]; i++) {
        ok |= strcmp(o->optimizer, opts_ok[i]) == 0;
    }
    if (!ok) {
        cli_error("--optimizer must be sgd, nesterov, adam, adamw, rmsprop, lm or lbfgs, "
                  "not '%s'", o->optimizer);
        return -1;
    }
    int not_mse = o->loss != NULL && strcmp(o->loss, "mse") != 0;
    if (second_order(o) && (o->resume != NULL || not_mse)) {
        cli_error("--optimizer %s minimises the MSE in one run: no --loss but mse, no --resume",
                  o->optimizer);
        return -1;
    }
    if (strcmp(o->schedule, "constant") != 0 && strcmp(o->schedule, "step") != 0 &&
        strcmp(o->schedule, "cosine") != 0) {
        cli_error("--schedule must be constant, step or cosine, not '%s'", o->schedule);
        return -1;
    }
    if (strcmp(o->nan_policy, "stop") != 0 && strcmp(o->nan_policy, "skip") != 0) {
        cli_error("--nan-policy must be stop or skip, not '%s'", o->nan_policy);
        return -1;
    }
    if (o->task != NULL && strcmp(o->task, "classify") != 0 && strcmp(o->task, "regress") != 0) {
        cli_error("--task must be classify or regress, not '%s'", o->task);
        return -1;
    }
    if (o->loss != NULL && strcmp(o->loss, "mse") != 0 && strcmp(o->loss, "l1") != 0 &&
        strcmp(o->loss, "huber") != 0) {
        cli_error("--loss must be mse, l1 or huber (regression), not '%s'", o->loss);
        return -1;
    }
    if (o->epochs < 1 || o->batch < 1 || o->batch > 65536 || o->threads > 1024) {
        cli_error("--epochs must be >= 1, --batch in 1..65536, --threads at most 1024");
        return -1;
    }
    if (!(o->val >= 0.0 && o->val < 1.0) || o->lr < 0.0 || o->clip < 0.0 ||
        !(o->smoothing >= 0.0 && o->smoothing < 1.0) || o->save_every < 0) {
        cli_error("--val and --label-smoothing must be in [0, 1); --lr, --clip and "
                  "--save-every must be >= 0");
        return -1;
    }
    return 0;
}

static lam_status build_optimizer(train_run *r)
{
    const train_opts *o = &r->o;
    lam_optim_desc d;
    int nesterov = strcmp(o->optimizer, "nesterov") == 0;
    lam_optim_kind kind = LAM_OPTIM_SGD;
    if (strcmp(o->optimizer, "adam") == 0) {
        kind = LAM_OPTIM_ADAM;
    } else if (strcmp(o->optimizer, "adamw") == 0) {
        kind = LAM_OPTIM_ADAMW;
    } else if (strcmp(o->optimizer, "rmsprop") == 0) {
        kind = LAM_OPTIM_RMSPROP;
    }
    lam_optim_desc_init(&d, kind);
    d.lr = o->lr;
    if (kind == LAM_OPTIM_SGD || kind == LAM_OPTIM_RMSPROP) {
        d.momentum = o->momentum;
        d.nesterov = nesterov;
    }
    if (kind == LAM_OPTIM_ADAMW) {
        d.decoupled_weight_decay = o->weight_decay;
    } else {
        d.weight_decay = o->weight_decay;
    }
    lam_param *p;
    int np;
    lam_model_params(r->model, &p, &np);
    return lam_optim_create(r->ctx, &d, p, np, &r->opt);
}

static lam_status build_schedule(train_run *r, int64_t total_steps)
{
    const train_opts *o = &r->o;
    lam_schedule_kind k = LAM_SCHED_CONSTANT;
    if (strcmp(o->schedule, "step") == 0) {
        k = LAM_SCHED_STEP;
    } else if (strcmp(o->schedule, "cosine") == 0) {
        k = LAM_SCHED_COSINE;
    }
    lam_schedule_init(&r->sched, k, o->lr);
    r->sched.total_steps = total_steps;
    r->sched.warmup_steps = o->warmup;
    r->sched.step_size = o->step_size;
    r->sched.gamma = o->gamma;
    return lam_schedule_check(r->ctx, &r->sched);
}

/* Live line on a terminal, a plain line every tenth of an epoch otherwise. */
static void progress(const train_run *r, int64_t steps_per_epoch, double t_epoch, int tty,
                     double *last_print)
{
    const train_pos *p = &r->pos;
    double now = lam_time_now();
    int64_t every = steps_per_epoch / 10 > 0 ? steps_per_epoch / 10 : 1;
    int64_t done = p->batch + 1; /* called after batch p->batch */
    int due = tty ? now - *last_print >= 0.25 : done % every == 0 || done == steps_per_epoch;
    if (!due || p->seen == 0) {
        return;
    }
    *last_print = now;
    double el = now - t_epoch, ips = el > 0 ? (double)p->seen / el : 0.0;
    int64_t left_steps = (r->o.epochs - p->epoch) * steps_per_epoch - done;
    double eta = ips > 0 ? (double)left_steps * (double)r->o.batch / ips : 0.0;
    char acc[32] = "";
    if (r->classify) {
        snprintf(acc, sizeof acc, "  acc %5.2f%%", 100.0 * (double)p->correct / (double)p->seen);
    }
    printf("%sepoch %lld/%lld  step %lld/%lld  loss %.4f%s  %.0f img/s  ETA %dm%02ds%s",
           tty ? "\r" : "", (long long)p->epoch + 1, (long long)r->o.epochs,
           (long long)done, (long long)steps_per_epoch, p->loss_sum / (double)p->seen, acc,
           ips, (int)(eta / 60), (int)fmod(eta, 60.0), tty ? "\033[K" : "\n");
    fflush(stdout);
}

/* Evaluate on val/test, print the epoch line and record it in the history. */
static lam_status end_epoch(train_run *r, double epoch_seconds, int tty)
{
    train_pos *p = &r->pos;
    cli_metrics val = {0}, test = {0};
    lam_status st = LAM_OK;
    if (r->data.val != NULL) {
        st = cli_evaluate(r->ctx, r->model, r->data.val, NULL, &val);
    }
    if (st == LAM_OK && r->data.test != NULL) {
        st = cli_evaluate(r->ctx, r->model, r->data.test, NULL, &test);
    }
    if (st != LAM_OK) {
        return st;
    }
    double tl = p->seen ? p->loss_sum / (double)p->seen : NAN;
    double tm = r->classify && p->seen ? (double)p->correct / (double)p->seen : NAN;
    train_hist *h = r->hist;
    if (h->n < HIST_MAX) {
        h->train_loss[h->n] = (float)tl;
        h->train_metric[h->n] = (float)tm;
        h->val_loss[h->n] = r->data.val ? (float)val.loss : NAN;
        h->val_metric[h->n] = r->data.val ? (float)(r->classify ? val.accuracy : val.mae) : NAN;
        h->test_loss[h->n] = r->data.test ? (float)test.loss : NAN;
        h->test_metric[h->n] =
            r->data.test ? (float)(r->classify ? test.accuracy : test.mae) : NAN;
        h->seconds[h->n] = (float)epoch_seconds;
        h->n++;
    }
    printf("%sepoch %lld/%lld  train loss %.4f", tty ? "\r\033[K" : "", (long long)p->epoch + 1,
           (long long)r->o.epochs, tl);
    if (r->classify) {
        printf(" acc %.2f%%", 100.0 * tm);
        if (r->data.val) {
            printf("  val loss %.4f acc %.2f%%", val.loss, 100.0 * val.accuracy);
        }
        if (r->data.test) {
            printf("  test loss %.4f acc %.2f%%", test.loss, 100.0 * test.accuracy);
        }
    } else {
        if (r->data.val) {
            printf("  val mse %.5g mae %.5g", val.mse, val.mae);
        }
        if (r->data.test) {
            printf("  test mse %.5g mae %.5g", test.mse, test.mae);
        }
    }
    printf("  %.1f s  %.0f img/s\n", epoch_seconds,
           epoch_seconds > 0 ? (double)p->seen / epoch_seconds : 0.0);
    if (p->skipped > 0) {
        printf("  (%lld steps skipped for non-finite values so far)\n", (long long)p->skipped);
    }
    fflush(stdout);
    return LAM_OK;
}

/* The epochs from the current position to --epochs. */
static int run_epochs(train_run *r)
{
    train_opts *o = &r->o;
    train_pos *p = &r->pos;
    const lam_dataset *tr = r->data.train;
    int64_t steps = (tr->n + o->batch - 1) / o->batch;
    int64_t *perm = malloc((size_t)tr->n * sizeof *perm);
    float *xb = malloc((size_t)(o->batch * tr->sample_numel) * sizeof(float));
    int32_t *lb = malloc((size_t)o->batch * sizeof(int32_t));
    float *tb = r->classify ? NULL : malloc((size_t)(o->batch * tr->n_targets) * sizeof(float));
    if (perm == NULL || xb == NULL || lb == NULL || (!r->classify && tb == NULL)) {
        free(perm);
        free(xb);
        free(lb);
        free(tb);
        cli_error("out of memory for the batch buffers");
        return EXIT_RUNTIME;
    }
    int tty = isatty(STDOUT_FILENO), rc = EXIT_OK;
    lam_status st = LAM_OK;
    for (; st == LAM_OK && p->epoch < o->epochs; p->epoch++) {
        lam_data_permutation((uint64_t)o->seed, (uint64_t)p->epoch, tr->n, perm);
        double t0 = lam_time_now(), last = 0.0, train_s = 0.0;
        for (; st == LAM_OK && p->batch < steps; p->batch++) {
            int64_t first = p->batch * o->batch;
            int64_t n = tr->n - first < o->batch ? tr->n - first : o->batch;
            double ts = lam_time_now();
            st = lam_dataset_gather(tr, perm + first, n, xb, r->classify ? lb : NULL, tb);
            double loss = 0.0;
            int64_t hits = 0;
            if (st == LAM_OK) {
                st = lam_model_train_step(r->model, r->opt, &r->loss, xb, lb, tb, n,
                                          lam_schedule_lr(&r->sched, p->step), o->clip, &loss,
                                          r->classify ? &hits : NULL);
            }
            if (st == LAM_ERR_NUMERIC && strcmp(o->nan_policy, "skip") == 0) {
                st = LAM_OK; /* weights, optimizer and model step are untouched */
                p->skipped++;
            } else if (st == LAM_OK) {
                p->seen += n;
                p->correct += hits;
                p->loss_sum += loss * (double)n;
            }
            p->step++;
            p->samples += n;
            double dt = lam_time_now() - ts;
            train_s += dt;
            p->seconds += dt;
            progress(r, steps, t0, tty, &last);
            if (st == LAM_OK && o->save != NULL && o->save_every > 0 &&
                p->step % o->save_every == 0 && p->batch + 1 < steps) {
                p->batch++; /* the checkpoint resumes at the next batch */
                st = train_save(r, o->save);
                p->batch--;
            }
        }
        if (st != LAM_OK) {
            break;
        }
        st = end_epoch(r, train_s, tty);
        p->batch = 0;
        p->seen = p->correct = 0;
        p->loss_sum = 0.0;
        if (st == LAM_OK && o->save != NULL) {
            p->epoch++; /* saved as "epoch done": a resume starts the next one */
            st = train_save(r, o->save);
            p->epoch--;
        }
        if (st == LAM_OK && (train_write_metrics(r) != 0 || train_write_plot(r) != 0)) {
            rc = EXIT_RUNTIME;
            break;
        }
    }
    if (st != LAM_OK) {
        if (tty) {
            printf("\n");
        }
        rc = cli_lib_error(r->ctx, st, "train");
    }
    free(perm);
    free(xb);
    free(lb);
    free(tb);
    return rc;
}

/* --optimizer lm|lbfgs: one full-batch fit of up to --epochs iterations on the training set,
 * read in place through lam_arrays, then the evaluation and files of one epoch. --batch is
 * the chunk of the full-batch passes. */
static int run_full_batch(train_run *r)
{
    const lam_dataset *tr = r->data.train;
    const lam_array x = {tr->x, tr->n, tr->sample_numel, 0, 0};
    const lam_array y = {tr->targets, tr->n, tr->n_targets, 0, 0};
    int lm = strcmp(r->o.optimizer, "lm") == 0, tty = isatty(STDOUT_FILENO);
    lam_fit_report rep;
    lam_status st;
    printf("%s: full batch, at most %lld iterations\n", r->o.optimizer,
           (long long)r->o.epochs);
    fflush(stdout);
    if (lm) {
        lam_lm_desc d;
        lam_lm_desc_init(&d);
        d.max_iters = r->o.epochs;
        st = lam_fit_lm(r->model, &d, &x, &y, &rep);
    } else {
        lam_lbfgs_desc d;
        lam_lbfgs_desc_init(&d);
        d.max_iters = r->o.epochs;
        st = lam_fit_lbfgs(r->model, &d, &x, &y, &rep);
    }
    if (st != LAM_OK) {
        return cli_lib_error(r->ctx, st, "train");
    }
    printf("%s: %lld iterations, %lld full-batch evaluations, train mse %.6g\n",
           r->o.optimizer, (long long)rep.steps, (long long)rep.evaluations, rep.final_loss);
    train_pos *p = &r->pos;
    p->epoch = r->o.epochs - 1; /* reported as the last "epoch" */
    p->step = rep.steps;
    p->seen = tr->n;
    p->loss_sum = rep.final_loss * (double)tr->n;
    p->samples = rep.evaluations * tr->n;
    p->seconds = rep.seconds;
    st = end_epoch(r, rep.seconds, tty);
    p->epoch = r->o.epochs;
    if (st == LAM_OK && r->o.save != NULL) {
        st = train_save(r, r->o.save);
    }
    if (st != LAM_OK) {
        return cli_lib_error(r->ctx, st, "train");
    }
    return train_write_metrics(r) != 0 || train_write_plot(r) != 0 ? EXIT_RUNTIME : EXIT_OK;
}

static void print_json(const train_run *r)
{
    const train_hist *h = r->hist;
    int last = h->n - 1;
    double ips = r->pos.seconds > 0 ? (double)r->pos.samples / r->pos.seconds : 0.0;
    char b[4][40];
    printf("{\"model\": ");
    cli_json_str(r->o.model);
    printf(", \"epochs\": %lld, \"batch\": %lld, ", (long long)r->o.epochs,
           (long long)r->o.batch);
    if (r->classify) {
        printf("\"test_accuracy\": %s, \"test_loss\": %s, \"train_accuracy\": %s, ",
               cli_json_num(b[0], 40, "%.6f", last >= 0 ? h->test_metric[last] : NAN),
               cli_json_num(b[1], 40, "%.6f", last >= 0 ? h->test_loss[last] : NAN),
               cli_json_num(b[2], 40, "%.6f", last >= 0 ? h->train_metric[last] : NAN));
    } else {
        printf("\"test_mse\": %s, \"test_mae\": %s, ",
               cli_json_num(b[0], 40, "%.6g", last >= 0 ? h->test_loss[last] : NAN),
               cli_json_num(b[1], 40, "%.6g", last >= 0 ? h->test_metric[last] : NAN));
    }
    printf("\"train_loss\": %s, \"samples\": %lld, \"seconds\": %.3f, "
           "\"images_per_second\": %.1f, \"skipped_steps\": %lld, \"threads\": %d}\n",
           cli_json_num(b[3], 40, "%.6f", last >= 0 ? h->train_loss[last] : NAN),
           (long long)r->pos.samples, r->pos.seconds, ips, (long long)r->pos.skipped,
           lam_ctx_threads(r->ctx));
}

static int parse_opts(int argc, char **argv, train_opts *o)
{
    const cli_opt table[] = {
        {"--model", ARG_STR, &o->model, "SPEC", "built-in name, spec file or inline spec"},
        {"--data", ARG_STR, &o->data, "DATA", "fashion-mnist, DIR, FILE.csv, X.npy,y.npy"},
        {"--test", ARG_STR, &o->test, "DATA", "test set (default: t10k split or 20% holdout)"},
        {"--epochs", ARG_INT, &o->epochs, "N", "total epochs (10); lm, lbfgs: iterations (100)"},
        {"--batch", ARG_INT, &o->batch, "N", "batch size (default 64)"},
        {"--optimizer", ARG_STR, &o->optimizer, "NAME",
         "sgd, nesterov, adam, adamw, rmsprop; lm, lbfgs (full batch, regression)"},
        {"--lr", ARG_REAL, &o->lr, "X", "learning rate (sgd 0.01, adam 0.001)"},
        {"--momentum", ARG_REAL, &o->momentum, "X", "momentum (sgd default 0.9)"},
        {"--weight-decay", ARG_REAL, &o->weight_decay, "X", "L2 (decoupled for adamw)"},
        {"--schedule", ARG_STR, &o->schedule, "NAME", "constant, step or cosine"},
        {"--warmup", ARG_INT, &o->warmup, "STEPS", "linear warm-up steps"},
        {"--step-size", ARG_INT, &o->step_size, "STEPS", "step schedule: steps per decay"},
        {"--gamma", ARG_REAL, &o->gamma, "X", "step schedule: decay factor (0.1)"},
        {"--clip", ARG_REAL, &o->clip, "NORM", "clip the global gradient norm (0 = off)"},
        {"--label-smoothing", ARG_REAL, &o->smoothing, "X", "cross-entropy label smoothing"},
        {"--loss", ARG_STR, &o->loss, "NAME", "regression loss: mse, l1, huber"},
        {"--huber-delta", ARG_REAL, &o->delta, "X", "Huber threshold (1.0)"},
        {"--threads", ARG_INT, &o->threads, "N", "threads (default: OpenMP's)"},
        {"--seed", ARG_INT, &o->seed, "N", "seed of init, shuffles and dropout (1)"},
        {"--val", ARG_REAL, &o->val, "FRACTION", "hold out this share of train for validation"},
        {"--target", ARG_STR, &o->target, "COLUMN", "CSV target column(s), default last"},
        {"--task", ARG_STR, &o->task, "KIND", "classify or regress (default: from targets)"},
        {"--limit-train", ARG_INT, &o->limit_train, "N", "use the first N training samples"},
        {"--limit-test", ARG_INT, &o->limit_test, "N", "use the first N test samples"},
        {"--save", ARG_STR, &o->save, "FILE", "checkpoint (safetensors) at the end"},
        {"--save-every", ARG_INT, &o->save_every, "STEPS", "also checkpoint every N steps"},
        {"--resume", ARG_STR, &o->resume, "FILE", "continue the run saved in FILE"},
        {"--metrics", ARG_STR, &o->metrics, "FILE.csv", "per-epoch metrics"},
        {"--plot", ARG_STR, &o->plot, "FILE.svg", "learning curves"},
        {"--nan-policy", ARG_STR, &o->nan_policy, "stop|skip", "on a non-finite loss"},
        {"--json", ARG_FLAG, &o->json, NULL, "last stdout line: one JSON object"},
        {"--ref", ARG_FLAG, &o->ref, NULL, "run the naive reference kernels"},
    };
    const char *pos[1];
    int n_pos;
    char err[160];
    int n_opts = (int)(sizeof table / sizeof table[0]);
    int rc = cli_parse(argc, argv, 2, table, n_opts, pos, 0, &n_pos, err, sizeof err);
    if (rc == 1) {
        cli_print_help(usage_line, about, table, n_opts);
        return EXIT_OK + 100; /* help shown */
    }
    if (rc < 0) {
        cli_error("%s (see lamina train --help)", err);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Build the model fresh, or restore it from --resume. */
static lam_status setup_model(train_run *r, lam_checkpoint *ck)
{
    const lam_dataset *tr = r->data.train;
    int64_t n_out = r->classify ? tr->n_classes : tr->n_targets;
    char *spec = cli_read_spec(r->o.model);
    if (spec == NULL) {
        return LAM_ERR_IO;
    }
    lam_status st = lam_model_create(r->ctx, spec, tr->sample_ndim, tr->sample_shape, n_out,
                                     r->o.batch, &r->model);
    free(spec);
    if (st == LAM_OK && !second_order(&r->o)) {
        st = build_optimizer(r);
    }
    if (st == LAM_OK && ck != NULL) {
        st = train_resume_state(r, ck);
    }
    return st;
}

static void free_owned(train_opts *o)
{
    for (size_t i = 0; i < sizeof o->owned / sizeof o->owned[0]; i++) {
        free(o->owned[i]);
        o->owned[i] = NULL;
    }
}

int cli_train(int argc, char **argv)
{
    train_run r;
    memset(&r, 0, sizeof r);
    opts_unset(&r.o);
    int rc = parse_opts(argc, argv, &r.o);
    if (rc != EXIT_OK) {
        return rc == EXIT_OK + 100 ? EXIT_OK : rc;
    }
    lam_checkpoint *ck = NULL;
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    lam_status st = lam_ctx_create(&cfg, &r.ctx);
    if (st == LAM_OK && r.o.resume != NULL) {
        st = lam_checkpoint_open(r.ctx, r.o.resume, &ck);
        if (st == LAM_OK) {
            st = train_resume_opts(ck, &r.o);
        }
    }
    if (st != LAM_OK) {
        rc = cli_lib_error(r.ctx, st, r.o.resume ? r.o.resume : "context");
        lam_checkpoint_close(ck);
        lam_ctx_destroy(r.ctx);
        free_owned(&r.o);
        return rc == EXIT_USAGE ? EXIT_RUNTIME : rc;
    }
    opts_default(&r.o);
    if (opts_check(&r.o) != 0) {
        lam_checkpoint_close(ck);
        lam_ctx_destroy(r.ctx);
        free_owned(&r.o);
        return EXIT_USAGE;
    }
    /* the context is re-made with the run's seed, threads and kernels; the checkpoint
     * belongs to the first one, so it is closed before it and opened again on the new one */
    int resuming = ck != NULL;
    lam_checkpoint_close(ck);
    ck = NULL;
    lam_ctx_destroy(r.ctx);
    cfg.seed = (uint64_t)r.o.seed;
    cfg.n_threads = (int)r.o.threads;
    cfg.kernels = r.o.ref ? LAM_KERNELS_REF : LAM_KERNELS_FAST;
    cli_set_threads(r.o.threads);
    r.ctx = NULL;
    st = lam_ctx_create(&cfg, &r.ctx);
    lam_checkpoint *ck2 = NULL;
    if (st == LAM_OK && resuming) {
        st = lam_checkpoint_open(r.ctx, r.o.resume, &ck2);
    }
    r.hist = calloc(1, sizeof *r.hist);
    cli_data_args da = {r.o.data, r.o.test, r.o.target, r.o.task, r.o.val, 0.2,
                        r.o.limit_train, r.o.limit_test, (uint64_t)r.o.seed, 1};
    if (st == LAM_OK && r.hist == NULL) {
        st = LAM_ERR_NOMEM;
    }
    if (st == LAM_OK) {
        st = cli_load_data(r.ctx, &da, &r.data);
    }
    if (st == LAM_OK) {
        r.classify = r.data.train->task == LAM_DATA_CLASSIFY;
        lam_loss_kind lk = LAM_LOSS_MSE;
        if (r.classify) {
            lk = LAM_LOSS_SOFTMAX_XENT;
        } else if (r.o.loss != NULL && strcmp(r.o.loss, "l1") == 0) {
            lk = LAM_LOSS_L1;
        } else if (r.o.loss != NULL && strcmp(r.o.loss, "huber") == 0) {
            lk = LAM_LOSS_HUBER;
        }
        r.loss = (lam_loss_desc){lk, (float)r.o.smoothing, (float)r.o.delta};
        if (second_order(&r.o) && r.classify) {
            cli_error("--optimizer %s is for regression targets; %s has class labels",
                      r.o.optimizer, r.o.data);
            st = LAM_ERR_ARG;
        }
        if (ck2 == NULL) {
            st = lam_norm_stats_compute(r.ctx, r.data.train, &r.norm);
        }
    }
    if (st == LAM_OK) {
        st = setup_model(&r, ck2);
    }
    if (st == LAM_OK) {
        const lam_dataset *parts[3] = {r.data.train, r.data.val, r.data.test};
        for (int i = 0; i < 3 && st == LAM_OK; i++) {
            st = parts[i] != NULL ? lam_dataset_normalize((lam_dataset *)parts[i], &r.norm)
                                  : LAM_OK;
        }
    }
    if (st == LAM_OK) {
        int64_t steps = (r.data.train->n + r.o.batch - 1) / r.o.batch;
        st = build_schedule(&r, steps * r.o.epochs);
    }
    lam_checkpoint_close(ck2);
    if (st != LAM_OK) {
        rc = cli_lib_error(r.ctx, st, "train");
    } else {
        printf("lamina train: %s on %s (%lld train, %lld test from %s%s), %lld params, "
               "%d threads\n",
               r.o.model, r.o.data, (long long)r.data.train->n,
               (long long)(r.data.test ? r.data.test->n : 0), r.data.test_note,
               r.data.val ? ", validation split" : "",
               (long long)lam_model_param_count(r.model), lam_ctx_threads(r.ctx));
        if (r.o.resume != NULL) {
            printf("resuming %s at epoch %lld, batch %lld (step %lld)\n", r.o.resume,
                   (long long)r.pos.epoch + 1, (long long)r.pos.batch, (long long)r.pos.step);
        }
        rc = second_order(&r.o) ? run_full_batch(&r) : run_epochs(&r);
        if (rc == EXIT_OK && r.o.json) {
            print_json(&r);
        }
    }
    lam_optim_destroy(r.opt);
    lam_model_destroy(r.model);
    cli_free_data(&r.data);
    lam_norm_stats_free(r.ctx, &r.norm);
    free(r.hist);
    lam_ctx_destroy(r.ctx);
    free_owned(&r.o);
    return rc;
}
