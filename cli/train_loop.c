/* lamina train's loop: the epochs with progress lines, the evaluation at each epoch's end,
 * checkpoints, metrics and plots, the full-batch fit of lm and lbfgs, the report of a run
 * that diverged, and the --json line. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train.h"

static int stop_policy(const train_run *r)
{
    return strcmp(r->o.nan_policy, "stop") == 0;
}

/* One line naming the epoch and what went non-finite, with what to try. Under --nan-policy
 * stop it is the run's error (exit 1); under skip a warning, and the run goes on. */
static void report_divergence(train_run *r, int64_t epoch, const char *what)
{
    char hint[96];
    if (train_second_order(&r->o)) {
        snprintf(hint, sizeof hint, "check the scale of the inputs and targets");
    } else {
        snprintf(hint, sizeof hint, "try a lower --lr than %g", r->o.lr.v);
    }
    r->diverged = epoch;
    if (stop_policy(r)) {
        cli_error("the run diverged in epoch %lld: %s; %s", (long long)epoch, what, hint);
    } else {
        cli_warning("the run diverged in epoch %lld: %s; %s (--nan-policy skip: going on)",
                    (long long)epoch, what, hint);
    }
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
    int64_t left_steps = (r->o.epochs.v - p->epoch) * steps_per_epoch - done;
    double eta = ips > 0 ? (double)left_steps * (double)r->o.batch.v / ips : 0.0;
    char acc[32] = "";
    if (r->classify) {
        snprintf(acc, sizeof acc, "  acc %5.2f%%", 100.0 * (double)p->correct / (double)p->seen);
    }
    printf("%sepoch %lld/%lld  step %lld/%lld  loss %.4f%s  %.0f img/s  ETA %dm%02ds%s",
           tty ? "\r" : "", (long long)p->epoch + 1, (long long)r->o.epochs.v,
           (long long)done, (long long)steps_per_epoch, p->loss_sum / (double)p->seen, acc,
           ips, (int)(eta / 60), (int)fmod(eta, 60.0), tty ? "\033[K" : "\n");
    fflush(stdout);
}

/* The first non-finite loss of an epoch's summary, or NULL. As recorded: a loss beyond
 * float32 is infinite in the history, the metrics file and the JSON. */
static const char *non_finite(double train, const cli_metrics *val, const cli_metrics *test,
                              char *buf, size_t size)
{
    const float v[3] = {(float)train, val != NULL ? (float)val->loss : 0.0f,
                        test != NULL ? (float)test->loss : 0.0f};
    static const char *const name[3] = {"train", "validation", "test"};
    for (int i = 0; i < 3; i++) {
        if (!isfinite(v[i])) {
            snprintf(buf, size, "%s loss %g", name[i], (double)v[i]);
            return buf;
        }
    }
    return NULL;
}

/* Evaluate on val/test, print the epoch line and record it in the history; a first
 * non-finite loss is reported as the run's divergence. */
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
           (long long)r->o.epochs.v, tl);
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
    char what[64];
    const char *bad = non_finite(tl, r->data.val ? &val : NULL, r->data.test ? &test : NULL,
                                 what, sizeof what);
    if (bad != NULL && r->diverged == 0) {
        report_divergence(r, p->epoch + 1, bad);
    }
    return LAM_OK;
}

/* After an epoch: its checkpoint (never of a run that diverged under --nan-policy stop:
 * the last good one stays), metrics and plot. Returns an exit code. */
static int epoch_outputs(train_run *r)
{
    lam_status st = LAM_OK;
    int stopped = r->diverged != 0 && stop_policy(r);
    if (!stopped && r->o.save != NULL) {
        st = train_save(r, r->o.save);
    }
    if (st != LAM_OK) {
        return cli_lib_error(r->ctx, st, "train");
    }
    if (train_write_metrics(r) != 0 || train_write_plot(r) != 0 || stopped) {
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

int64_t train_epoch_steps(const train_run *r)
{
    const int64_t n = r->data.train->n, batch = r->o.batch.v;
    return r->o.chunk.v > 0 ? n / batch : (n + batch - 1) / batch;
}

int train_run_epochs(train_run *r)
{
    train_opts *o = &r->o;
    train_pos *p = &r->pos;
    const lam_dataset *tr = r->data.train;
    const int64_t batch = o->batch.v, chunk = o->chunk.v;
    int64_t steps = train_epoch_steps(r);
    if (steps < 1) {
        cli_error("%s: %lld training samples make no whole batch of %lld (--chunk runs use "
                  "whole batches only)", o->data, (long long)tr->n, (long long)batch);
        return EXIT_USAGE;
    }
    /* this rank's run of the chunks of every global batch (all of it alone) */
    int64_t mine0 = 0, mine_n = batch;
    if (chunk > 0) {
        (void)lam_ctx_batch_share(r->ctx, batch, chunk, &mine0, &mine_n); /* checked: divides */
    }
    int64_t *perm = malloc((size_t)tr->n * sizeof *perm);
    float *xb = malloc((size_t)(batch * tr->sample_numel) * sizeof(float));
    const int augment = r->aug.crop_pad > 0 || r->aug.flip;
    float *xa = augment ? malloc((size_t)(batch * tr->sample_numel) * sizeof(float)) : NULL;
    const lam_shape sample = {(int)tr->sample_ndim,
                              {tr->sample_shape[0], tr->sample_shape[1], tr->sample_shape[2]}};
    int32_t *lb = malloc((size_t)batch * sizeof(int32_t));
    float *tb = r->classify ? NULL : malloc((size_t)(batch * tr->n_targets) * sizeof(float));
    if (perm == NULL || xb == NULL || lb == NULL || (!r->classify && tb == NULL) ||
        (augment && xa == NULL)) {
        free(perm);
        free(xb);
        free(xa);
        free(lb);
        free(tb);
        cli_error("out of memory for the batch buffers");
        return EXIT_RUNTIME;
    }
    int tty = isatty(STDOUT_FILENO), rc = EXIT_OK;
    lam_status st = LAM_OK;
    for (; rc == EXIT_OK && st == LAM_OK && p->epoch < o->epochs.v; p->epoch++) {
        lam_data_permutation((uint64_t)o->seed.v, (uint64_t)p->epoch, tr->n, perm);
        double t0 = lam_time_now(), last = 0.0, train_s = 0.0;
        for (; st == LAM_OK && p->batch < steps; p->batch++) {
            int64_t first = p->batch * batch;
            int64_t n = tr->n - first < batch ? tr->n - first : batch;
            const int64_t ln = chunk > 0 ? mine_n : n; /* this rank's samples */
            double ts = lam_time_now();
            st = lam_dataset_gather(tr, perm + first + mine0, ln, xb, r->classify ? lb : NULL,
                                    tb);
            /* draws keyed by the sample's place in the run, so a resume augments alike */
            if (st == LAM_OK && augment) {
                st = lam_augment_batch(r->ctx, &r->aug, &sample, ln, xb, xa,
                                       (uint64_t)o->seed.v,
                                       (uint64_t)(p->step * batch + mine0));
            }
            lam_step_desc sd;
            lam_step_desc_init(&sd);
            sd.x = augment ? xa : xb;
            sd.labels = r->classify ? lb : NULL;
            sd.targets = tb;
            sd.n = ln;
            sd.chunk = chunk;
            sd.global_n = chunk > 0 ? n : 0;
            sd.loss = r->loss;
            sd.lr = lam_schedule_lr(&r->sched, p->step);
            sd.clip_norm = o->clip.v;
            lam_step_result res = {0};
            if (st == LAM_OK) {
                st = lam_model_train_batch(r->model, r->opt, &sd, &res);
            }
            const double loss = res.loss;
            const int64_t hits = res.correct;
            if (st == LAM_ERR_NUMERIC && !stop_policy(r)) {
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
            if (st == LAM_OK && o->save != NULL && o->save_every.set &&
                p->step % o->save_every.v == 0 && p->batch + 1 < steps) {
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
        if (st == LAM_OK) {
            p->epoch++; /* saved as "epoch done": a resume starts the next one */
            rc = epoch_outputs(r);
            p->epoch--;
        }
    }
    if (st != LAM_OK) {
        if (tty) {
            printf("\n");
        }
        if (st == LAM_ERR_NUMERIC) {
            /* the step found a NaN or an infinity (--nan-policy stop) */
            report_divergence(r, p->epoch + 1, lam_ctx_errmsg(r->ctx));
            rc = EXIT_RUNTIME;
        } else {
            rc = cli_lib_error(r->ctx, st, "train");
        }
    }
    free(perm);
    free(xb);
    free(xa);
    free(lb);
    free(tb);
    return rc;
}

/* --optimizer lm|lbfgs: one full-batch fit of up to --epochs iterations on the training set,
 * read in place through lam_arrays, then the evaluation and files of one epoch. --batch is
 * the chunk of the full-batch passes. */
int train_run_full_batch(train_run *r)
{
    const lam_dataset *tr = r->data.train;
    const lam_array x = {tr->x, tr->n, tr->sample_numel, 0, 0};
    const lam_array y = {tr->targets, tr->n, tr->n_targets, 0, 0};
    int lm = strcmp(r->o.optimizer, "lm") == 0, tty = isatty(STDOUT_FILENO);
    lam_fit_report rep;
    lam_status st;
    printf("%s: full batch, at most %lld iterations\n", r->o.optimizer,
           (long long)r->o.epochs.v);
    fflush(stdout);
    if (lm) {
        lam_lm_desc d;
        lam_lm_desc_init(&d);
        d.max_iters = r->o.epochs.v;
        st = lam_fit_lm(r->model, &d, &x, &y, &rep);
    } else {
        lam_lbfgs_desc d;
        lam_lbfgs_desc_init(&d);
        d.max_iters = r->o.epochs.v;
        st = lam_fit_lbfgs(r->model, &d, &x, &y, &rep);
    }
    if (st != LAM_OK) {
        return cli_lib_error(r->ctx, st, "train");
    }
    printf("%s: %lld iterations, %lld full-batch evaluations, train mse %.6g\n",
           r->o.optimizer, (long long)rep.steps, (long long)rep.evaluations, rep.final_loss);
    train_pos *p = &r->pos;
    p->epoch = r->o.epochs.v - 1; /* reported as the last "epoch" */
    p->step = rep.steps;
    p->seen = tr->n;
    p->loss_sum = rep.final_loss * (double)tr->n;
    p->samples = rep.evaluations * tr->n;
    p->seconds = rep.seconds;
    st = end_epoch(r, rep.seconds, tty);
    p->epoch = r->o.epochs.v;
    return st != LAM_OK ? cli_lib_error(r->ctx, st, "train") : epoch_outputs(r);
}

void train_print_json(const train_run *r)
{
    const train_hist *h = r->hist;
    int last = h->n - 1;
    double ips = r->pos.seconds > 0 ? (double)r->pos.samples / r->pos.seconds : 0.0;
    char b[4][40];
    printf("{\"model\": ");
    cli_json_str(r->o.model);
    printf(", \"epochs\": %lld, \"batch\": %lld, ", (long long)r->o.epochs.v,
           (long long)r->o.batch.v);
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
           "\"images_per_second\": %.1f, \"skipped_steps\": %lld, \"threads\": %d, "
           "\"diverged\": %s",
           cli_json_num(b[3], 40, "%.6f", last >= 0 ? h->train_loss[last] : NAN),
           (long long)r->pos.samples, r->pos.seconds, ips, (long long)r->pos.skipped,
           lam_ctx_threads(r->ctx), r->diverged ? "true" : "false");
    if (r->diverged) {
        printf(", \"diverged_epoch\": %lld", (long long)r->diverged);
    }
    printf("}\n");
}
