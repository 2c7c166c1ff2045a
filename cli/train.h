/* State of a `lamina train` run, shared by train.c (options and setup), train_loop.c (the
 * epochs, divergence, JSON) and train_state.c (checkpoints, history, metrics files). */
#ifndef LAM_CLI_TRAIN_H
#define LAM_CLI_TRAIN_H

#include "cli.h"

#define HIST_MAX 10000
/* Most extra arrays a run saves besides its history (train_run.more). */
#define TRAIN_MAX_MORE 8

/* Hyper-parameters. Options not given (NULL, .set = 0) take the checkpoint's value on
 * --resume, else the default; --save is never taken from the checkpoint. After the
 * defaults, limit_train and limit_test are 0 for "all" and val is 0 for "none". */
typedef struct train_opts {
    const char *model, *data, *test, *optimizer, *schedule, *save, *resume, *metrics, *plot;
    const char *target, *task, *loss, *nan_policy, *augment;
    cli_int epochs, batch, threads, seed, save_every, warmup, step_size, limit_train,
        limit_test, bptt, chunk;
    cli_real lr, momentum, weight_decay, gamma, val, clip, smoothing, delta;
    int json, ref;
    char *owned[11]; /* copies of the checkpoint's strings taken on --resume; freed at exit */
} train_opts;

/* Per-epoch history, kept in checkpoints so curves survive a resume. */
typedef struct train_hist {
    int n;
    float train_loss[HIST_MAX], train_metric[HIST_MAX];
    float val_loss[HIST_MAX], val_metric[HIST_MAX];
    float test_loss[HIST_MAX], test_metric[HIST_MAX];
    float seconds[HIST_MAX];
} train_hist;

/* Where the run is: the data cursor and the partial-epoch accumulators. */
typedef struct train_pos {
    int64_t epoch;      /* current epoch, 0-based */
    int64_t batch;      /* next batch within the epoch */
    int64_t step;       /* batches processed in the whole run (schedule, --save-every) */
    int64_t seen;       /* samples seen in this epoch */
    int64_t correct;    /* hits in this epoch (classification) */
    double loss_sum;    /* sum of batch loss * batch size in this epoch */
    int64_t skipped;    /* steps skipped by --nan-policy skip */
    double seconds;     /* training time of the whole run, over resumes */
    int64_t samples;    /* samples trained in the whole run */
} train_pos;

typedef struct train_run {
    train_opts o;
    lam_ctx *ctx;
    cli_data data;
    lam_model *model;
    lam_optim *opt;
    lam_schedule sched;
    lam_loss_desc loss;
    lam_norm_stats norm;
    lam_augment_desc aug;   /* --augment; crop_pad 0 and flip 0 when off */
    float *aug_pad;         /* its padding per channel: black after normalization */
    int classify;
    train_pos pos;
    train_hist *hist;
    int64_t diverged;   /* epoch (1-based) whose loss went non-finite first; 0: none */
    int64_t steps_per_epoch; /* batches of an epoch (a resumed position must fall inside) */
    /* language models (--data text:FILE or fortunes; train_lm.c) */
    lam_text *text;
    int64_t part[3][2];      /* train, validation, test: [begin, end) token ranges */
    const lam_ckpt_floats *more; /* extra arrays train_save writes (vocabulary, states) */
    int n_more;
} train_run;

/* The whole run of a language model, from options already gathered (r->hist allocated by
 * the caller): load the text, build or resume, train with truncated BPTT, evaluate bits
 * per character; an exit code. */
int train_lm(train_run *r, lam_checkpoint *ck, int fine_tune);
/* Shared with train_lm.c: the optimizer and the schedule of the options. */
lam_status train_build_optimizer(train_run *r);
lam_status train_build_schedule(train_run *r, int64_t total_steps);

/* Batches of an epoch: all of them, the last one short; with --chunk (data-parallel) the
 * whole batches only, so every global batch divides into chunks alike (train_loop.c). */
int64_t train_epoch_steps(const train_run *r);

/* Save the run to path (model, optimizer, position, normalization, history, options). */
lam_status train_save(train_run *r, const char *path);
/* Whether ck holds a training run (options, position, optimizer), not only weights (as
 * `lamina import` writes them). */
int train_ckpt_has_run(const lam_checkpoint *ck);
/* Fill unset options from the checkpoint's metadata; returns a lam_status. */
lam_status train_resume_opts(lam_checkpoint *ck, train_opts *o);
/* Restore model weights, optimizer, position, normalization and history. A weights-only
 * checkpoint is fine-tuned: epoch 0, fresh optimizer, its normalization (none if it has
 * none: mean 0, std 1 per input channel). */
lam_status train_resume_state(train_run *r, lam_checkpoint *ck);
/* The epochs from the current position to --epochs (first-order optimizers), and the one
 * full-batch fit of lm and lbfgs; an exit code (train_loop.c). */
int train_run_epochs(train_run *r);
int train_run_full_batch(train_run *r);
/* The JSON line of --json (also after a divergence, with "diverged": true). */
void train_print_json(const train_run *r);
/* lm and lbfgs are full-batch regression methods: --epochs counts their iterations. */
int train_second_order(const train_opts *o);
/* The model is a built-in GPT (gpt-mini, gpt-6x384): nanoGPT's AdamW recipe. */
int train_gpt_recipe(const train_opts *o);
/* --augment's list ("none", "crop=P", "flip", "crop=P,flip") into d: 0, or a usage error
 * and -1. */
int train_parse_augment(const char *s, lam_augment_desc *d);
/* Rewrite the metrics CSV and the SVG plot from the history (atomically). 0 ok. */
int train_write_metrics(const train_run *r);
int train_write_plot(const train_run *r);

#endif
