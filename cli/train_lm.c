/* lamina train on a text (--data fortunes or text:FILE): a character language model trained
 * with truncated backpropagation through time. The text is cut into --batch contiguous
 * streams; each step takes the next --bptt tokens of every stream, and the recurrent state
 * runs on from step to step (detached), from zero at every epoch. The run's checkpoint holds
 * the vocabulary and the carried state besides what every run saves, so --resume continues
 * bit for bit. Everything numeric happens in the library (lamina/lm.h). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train.h"

int cli_is_text(const char *data)
{
    return data != NULL && (strcmp(data, "fortunes") == 0 || strncmp(data, "text:", 5) == 0);
}

/* State views saved as "lm.state.<name>", the vocabulary as "lm.vocab" (byte values). */
typedef struct lm_arrays {
    lam_ckpt_floats fl[TRAIN_MAX_MORE];
    char names[TRAIN_MAX_MORE][160];
    float vocab[256];
    int n;
} lm_arrays;

static void lm_arrays_fill(train_run *r, lm_arrays *a)
{
    const lam_text *t = r->text;
    for (int i = 0; i < t->vocab; i++) {
        a->vocab[i] = (float)t->bytes[i];
    }
    a->fl[0] = (lam_ckpt_floats){"lm.vocab", a->vocab, t->vocab};
    a->n = 1;
    lam_param *st;
    int ns;
    lam_model_states(r->model, &st, &ns);
    for (int i = 0; i < ns && a->n < TRAIN_MAX_MORE; i++) {
        snprintf(a->names[a->n], sizeof a->names[0], "lm.state.%s", st[i].name);
        a->fl[a->n] = (lam_ckpt_floats){a->names[a->n], st[i].w, st[i].n};
        a->n++;
    }
    r->more = a->fl;
    r->n_more = a->n;
}

lam_status cli_load_text(lam_ctx *ctx, const char *data, lam_text **out)
{
    if (strcmp(data, "fortunes") == 0) {
        return lam_text_load_fortunes(ctx, NULL, out);
    }
    return lam_text_load(ctx, data + 5, out);
}

lam_status cli_ckpt_vocab(lam_checkpoint *ck, const char *path, unsigned char bytes[256],
                          int *vocab)
{
    const int64_t v = lam_checkpoint_floats_len(ck, "lm.vocab");
    float f[256];
    if (v < 1 || v > 256 || lam_checkpoint_floats(ck, "lm.vocab", f, v) != LAM_OK) {
        cli_error("%s: no vocabulary: not a language model's checkpoint (train one with "
                  "--data fortunes or --data text:FILE)",
                  path);
        return LAM_ERR_FORMAT;
    }
    for (int64_t i = 0; i < v; i++) {
        if (!(f[i] >= 0.0f && f[i] <= 255.0f) || f[i] != floorf(f[i])) {
            cli_error("%s: vocabulary entry %lld is %g, not a byte", path, (long long)i,
                      (double)f[i]);
            return LAM_ERR_FORMAT;
        }
        bytes[i] = (unsigned char)f[i];
    }
    *vocab = (int)v;
    return LAM_OK;
}

lam_status cli_text_vocab(lam_checkpoint *ck, const char *path, lam_text *t)
{
    unsigned char bytes[256];
    int v = 0;
    lam_status st = cli_ckpt_vocab(ck, path, bytes, &v);
    return st == LAM_OK ? lam_text_set_vocab(t, bytes, v) : st;
}

/* Options of image and table data that a text has no use for: a usage error naming the
 * first one given (0 when none is). */
static int text_opts_check(const train_opts *o)
{
    const struct {
        const char *flag;
        int given;
    } image_only[] = {
        {"--augment", strcmp(o->augment, "none") != 0},
        {"--test", o->test != NULL},
        {"--val", o->val.v > 0.0},
        {"--target", o->target != NULL},
        {"--task", o->task != NULL},
        {"--loss", o->loss != NULL},
        {"--limit-train", o->limit_train.v > 0},
        {"--limit-test", o->limit_test.v > 0},
        {"--optimizer lm or lbfgs", train_second_order(o)},
    };
    for (size_t i = 0; i < sizeof image_only / sizeof image_only[0]; i++) {
        if (image_only[i].given) {
            cli_error("%s is not for a text (%s): its parts are 90/5/5 by position, the loss "
                      "is per-position cross-entropy",
                      image_only[i].flag, o->data);
            return -1;
        }
    }
    return 0;
}

/* The text, its vocabulary (the checkpoint's on --resume), the three parts, and the model
 * for (bptt) token sequences. */
static lam_status setup(train_run *r, lam_checkpoint *ck)
{
    const train_opts *o = &r->o;
    if (text_opts_check(o) != 0) {
        return LAM_ERR_ARG;
    }
    lam_status st = cli_load_text(r->ctx, o->data, &r->text);
    /* weights imported from PyTorch carry no vocabulary: the text's is taken */
    if (st == LAM_OK && ck != NULL && lam_checkpoint_floats_len(ck, "lm.vocab") > 0) {
        st = cli_text_vocab(ck, o->resume, r->text);
    }
    for (int p = 0; st == LAM_OK && p < 3; p++) {
        st = lam_text_split(r->text, p, &r->part[p][0], &r->part[p][1]);
    }
    if (st != LAM_OK) {
        return st;
    }
    const int64_t rows = o->batch.v, T = o->bptt.v;
    r->steps_per_epoch = lam_lm_batches(r->part[0][0], r->part[0][1], rows, T);
    if (r->steps_per_epoch < 1) {
        cli_error("%s: the training part has %lld bytes, fewer than %lld streams of --bptt "
                  "%lld + 1 (a smaller --batch or --bptt, or a longer text)",
                  o->data, (long long)(r->part[0][1] - r->part[0][0]), (long long)rows,
                  (long long)T);
        return LAM_ERR_FORMAT;
    }
    char *spec = cli_read_spec(o->model);
    if (spec == NULL) {
        return LAM_ERR_IO;
    }
    st = lam_model_create(r->ctx, spec, 1, &T, r->text->vocab, rows, &r->model);
    free(spec);
    st = st == LAM_OK ? train_build_optimizer(r) : st;
    if (st == LAM_OK && ck != NULL) {
        st = train_resume_state(r, ck);
    }
    if (st == LAM_OK) {
        st = lam_model_set_carry(r->model, 1);
    }
    /* the state carried into the next batch of a run stopped mid-epoch */
    lam_param *sv;
    int ns;
    lam_model_states(r->model, &sv, &ns);
    for (int i = 0; st == LAM_OK && ck != NULL && r->pos.batch > 0 && i < ns; i++) {
        char name[160];
        snprintf(name, sizeof name, "lm.state.%s", sv[i].name);
        st = lam_checkpoint_floats(ck, name, sv[i].w, sv[i].n);
    }
    return st == LAM_OK ? train_build_schedule(r, r->steps_per_epoch * o->epochs.v) : st;
}

/* Bits per character of a part (NAN when it is shorter than one batch). */
static lam_status part_bpc(train_run *r, int p, double *bpc)
{
    double loss = 0.0;
    *bpc = NAN;
    if (lam_lm_batches(r->part[p][0], r->part[p][1], r->o.batch.v, r->o.bptt.v) < 1) {
        return LAM_OK;
    }
    lam_status st = lam_lm_evaluate(r->model, r->text, r->part[p][0], r->part[p][1], &loss, NULL);
    *bpc = loss / log(2.0);
    return st;
}

static void live_line(const train_run *r, int tty, double t0, int64_t tokens)
{
    const train_pos *p = &r->pos;
    const double el = lam_time_now() - t0, loss = p->loss_sum / (double)p->seen;
    printf("%sepoch %lld/%lld  step %lld/%lld  loss %.4f  bpc %.4f  %.0f tokens/s%s",
           tty ? "\r" : "", (long long)p->epoch + 1, (long long)r->o.epochs.v,
           (long long)p->batch + 1, (long long)r->steps_per_epoch, loss, loss / log(2.0),
           el > 0 ? (double)tokens / el : 0.0, tty ? "\033[K" : "\n");
    fflush(stdout);
}

/* One epoch from the current position, its seconds in *secs; LAM_OK, or the failure (a
 * non-finite step included, reported by the library's message). */
static lam_status run_epoch(train_run *r, float *x, int32_t *labels, int tty, double *secs)
{
    train_pos *p = &r->pos;
    const train_opts *o = &r->o;
    const int64_t rows = o->batch.v, T = o->bptt.v;
    const double t0 = lam_time_now();
    double last = t0;
    int64_t tokens = 0;
    const int64_t every = r->steps_per_epoch / 10 > 0 ? r->steps_per_epoch / 10 : 1;
    if (p->batch == 0) {
        lam_model_reset_state(r->model);
    }
    lam_step_desc d;
    lam_step_desc_init(&d);
    d.x = x;
    d.labels = labels;
    d.n = rows;
    d.loss.kind = LAM_LOSS_SEQ_XENT;
    d.loss.smoothing = (float)o->smoothing.v;
    d.clip_norm = o->clip.v;
    for (; p->batch < r->steps_per_epoch; p->batch++) {
        lam_status st =
            lam_lm_batch(r->text, r->part[0][0], r->part[0][1], rows, T, p->batch, x, labels);
        lam_step_result res;
        d.lr = lam_schedule_lr(&r->sched, p->step);
        st = st == LAM_OK ? lam_model_train_batch(r->model, r->opt, &d, &res) : st;
        if (st != LAM_OK) {
            return st;
        }
        p->loss_sum += res.loss * (double)(rows * T);
        p->seen += rows * T;
        p->samples += rows * T;
        p->step++;
        tokens += rows * T;
        const double now = lam_time_now();
        if (tty ? now - last >= 0.25 : (p->batch + 1) % every == 0) {
            live_line(r, tty, t0, tokens);
            last = now;
        }
        if (o->save_every.set && p->step % o->save_every.v == 0) {
            p->batch++; /* the position to resume at */
            st = train_save(r, o->save);
            p->batch--;
            if (st != LAM_OK) {
                return st;
            }
        }
    }
    *secs = lam_time_now() - t0;
    p->seconds += *secs;
    return LAM_OK;
}

/* Evaluate, print and record the epoch that took secs; save. */
static lam_status end_epoch(train_run *r, int tty, double secs, double *val, double *test)
{
    train_pos *p = &r->pos;
    lam_status st = part_bpc(r, 1, val);
    st = st == LAM_OK ? part_bpc(r, 2, test) : st;
    if (st != LAM_OK) {
        return st;
    }
    const double tl = p->loss_sum / (double)p->seen;
    train_hist *h = r->hist;
    if (h->n < HIST_MAX) {
        h->train_loss[h->n] = (float)tl;
        h->train_metric[h->n] = (float)(tl / log(2.0));
        h->val_loss[h->n] = (float)(*val * log(2.0));
        h->val_metric[h->n] = (float)*val;
        h->test_loss[h->n] = (float)(*test * log(2.0));
        h->test_metric[h->n] = (float)*test;
        h->seconds[h->n] = (float)secs;
        h->n++;
    }
    printf("%sepoch %lld/%lld  train loss %.4f bpc %.4f  val bpc %.4f  test bpc %.4f  "
           "(perplexity %.2f)  %.1f s  %.0f tokens/s\n",
           tty ? "\r\033[K" : "", (long long)p->epoch + 1, (long long)r->o.epochs.v, tl,
           tl / log(2.0), *val, *test, exp(*test * log(2.0)), secs,
           secs > 0 ? (double)p->seen / secs : 0.0);
    fflush(stdout);
    p->epoch++;
    p->batch = 0;
    p->seen = 0;
    p->loss_sum = 0.0;
    if (train_write_metrics(r) != 0 || train_write_plot(r) != 0) {
        return LAM_ERR_IO; /* the message is out */
    }
    return r->o.save != NULL ? train_save(r, r->o.save) : LAM_OK;
}

int train_lm(train_run *r, lam_checkpoint *ck, int fine_tune)
{
    lam_status st = setup(r, ck);
    lm_arrays arrays;
    const int64_t n = r->o.batch.v * r->o.bptt.v;
    float *x = st == LAM_OK ? malloc((size_t)n * sizeof(float)) : NULL;
    int32_t *labels = st == LAM_OK ? malloc((size_t)n * sizeof(int32_t)) : NULL;
    if (st == LAM_OK && (x == NULL || labels == NULL)) {
        st = LAM_ERR_NOMEM;
    }
    if (st != LAM_OK) {
        free(x);
        free(labels);
        return cli_lib_error(r->ctx, st, r->o.data);
    }
    lm_arrays_fill(r, &arrays);
    const int threads = lam_ctx_threads(r->ctx);
    printf("lamina train: %s on %s (%lld bytes, vocabulary %d; %lld streams of %lld steps, "
           "%lld batches per epoch), %lld params, %d thread%s\n",
           r->o.model, r->o.data, (long long)r->text->n, r->text->vocab, (long long)r->o.batch.v,
           (long long)r->o.bptt.v, (long long)r->steps_per_epoch,
           (long long)lam_model_param_count(r->model), threads, threads == 1 ? "" : "s");
    printf("%s lr %g, clip %g, %s schedule, %lld epochs\n", r->o.optimizer, r->o.lr.v, r->o.clip.v,
           r->o.schedule, (long long)r->o.epochs.v);
    if (ck != NULL && fine_tune) {
        printf("fine-tuning the weights of %s from epoch 1, fresh optimizer state\n", r->o.resume);
    } else if (ck != NULL) {
        printf("resuming %s at epoch %lld, batch %lld (step %lld)%s\n", r->o.resume,
               (long long)r->pos.epoch + 1, (long long)r->pos.batch, (long long)r->pos.step,
               r->o.save != NULL ? "" : "; no --save: no checkpoint is written");
    }
    const int tty = isatty(fileno(stdout));
    double val = NAN, test = NAN, secs = 0.0;
    while (st == LAM_OK && r->pos.epoch < r->o.epochs.v) {
        st = run_epoch(r, x, labels, tty, &secs);
        st = st == LAM_OK ? end_epoch(r, tty, secs, &val, &test) : st;
    }
    free(x);
    free(labels);
    int rc = EXIT_OK;
    if (st != LAM_OK) {
        if (tty) {
            printf("\n");
        }
        rc = cli_lib_error(r->ctx, st, r->o.save != NULL ? r->o.save : r->o.data);
    } else if (r->o.json) {
        const train_hist *h = r->hist;
        printf("{\"epochs\": %lld, \"train_loss\": %.6f, \"val_bpc\": %.6f, \"test_bpc\": "
               "%.6f, \"test_loss\": %.6f, \"samples\": %lld, \"seconds\": %.3f}\n",
               (long long)r->o.epochs.v, h->n > 0 ? (double)h->train_loss[h->n - 1] : NAN, val,
               test, test * log(2.0), (long long)r->pos.samples, r->pos.seconds);
    }
    return rc;
}
