/* lamina train: options, then load data, build or resume a model and hand it to the loop
 * (train_loop.c). Everything numeric happens in the library. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

/* Epochs of the GPT recipe: one pass over fortunes' training text, 3,019 steps of batch 12
 * (nanoGPT's baby GPT takes 2,000 of random windows). */
#define GPT_EPOCHS 1

static const char *const usage_line = "lamina train [options]";
static const char *const about =
    "Train a model. Defaults: the seed CNN on Fashion-MNIST (Debian's dataset-fashion-mnist),\n"
    "SGD lr 0.01 momentum 0.9, batch 64, 10 epochs, inputs normalized with the training set's\n"
    "mean and std. --data takes fashion-mnist, an MNIST-layout directory, FILE.csv,\n"
    "X.npy,y.npy, or a text: fortunes (Debian's fortunes package) or text:FILE, read as bytes\n"
    "for a character language model (char-lstm, char-gru). On --resume, options not given\n"
    "again are taken from the checkpoint, except --save: a resumed run writes checkpoints\n"
    "only where --save says (it may name the file resumed from). A run whose loss goes NaN\n"
    "or infinite exits 1 (--nan-policy stop).\n"
    "Under mpirun (built with MPI) each rank trains on its chunks of every global batch\n"
    "(--batch); the weights are the same bits as lamina train --chunk C alone, C the chunk\n"
    "size (default batch/ranks). Rank 0 prints and writes the files.\n"
    "Built-in recipes (any flag given overrides them): --model resnet20 trains with SGD lr\n"
    "0.1 momentum 0.9, weight decay 5e-4, cosine schedule, batch 128, 30 epochs and\n"
    "--augment crop=2,flip (bench/torch_resnet20_fmnist.py is the same in PyTorch);\n"
    "char-lstm and char-gru with Adam lr 2e-3, clipping at 1.0, cosine schedule, batch 64,\n"
    "--bptt 64, 4 epochs (bench/torch_char_lm.py); gpt-mini and gpt-6x384 as nanoGPT's baby\n"
    "GPT: AdamW lr 1e-3, betas 0.9 and 0.99, weight decay 0.1 on the matrices only, 100\n"
    "warm-up steps, cosine down to lr/10, clipping at 1.0, batch 12, --bptt 64, 1 epoch\n"
    "(bench/torch_gpt.py).";

int train_gpt_recipe(const train_opts *o)
{
    return o->model != NULL && strncmp(o->model, "gpt-", 4) == 0 &&
           lam_model_builtin_spec(o->model) != NULL;
}

int train_second_order(const train_opts *o)
{
    return strcmp(o->optimizer, "lm") == 0 || strcmp(o->optimizer, "lbfgs") == 0;
}

static void default_int(cli_int *v, int64_t d)
{
    *v = v->set ? *v : (cli_int){d, 0};
}

static void default_real(cli_real *v, double d)
{
    *v = v->set ? *v : (cli_real){d, 0};
}

/* The recipe of a built-in model that has one: resnet20 as He et al. 2016 trained it on
 * CIFAR-10 (SGD with momentum, weight decay, a decaying rate, crops and flips), with a cosine
 * schedule over 30 epochs for Fashion-MNIST (README, "Training ResNet-20"). Only unset
 * options take it; a resumed run has them all from its checkpoint. */
static void opts_recipe(train_opts *o)
{
    if (train_gpt_recipe(o)) {
        /* nanoGPT's baby-GPT CPU recipe (README, "Training a small GPT"): AdamW lr 1e-3 with
         * betas (0.9, 0.99) and decay 0.1 on the matrices only, 100 warm-up steps, cosine
         * down to lr/10, clipping at 1.0, batch 12 of 64 positions; bench/torch_gpt.py is
         * the same in PyTorch */
        o->optimizer = o->optimizer != NULL ? o->optimizer : "adamw";
        o->schedule = o->schedule != NULL ? o->schedule : "cosine";
        o->lr = o->lr.set ? o->lr : (cli_real){1e-3, 1};
        o->weight_decay = o->weight_decay.set ? o->weight_decay : (cli_real){0.1, 1};
        o->clip = o->clip.set ? o->clip : (cli_real){1.0, 1};
        o->warmup = o->warmup.set ? o->warmup : (cli_int){100, 1};
        o->batch = o->batch.set ? o->batch : (cli_int){12, 1};
        o->epochs = o->epochs.set ? o->epochs : (cli_int){GPT_EPOCHS, 1};
        return;
    }
    if (o->model != NULL && (strcmp(o->model, "char-lstm") == 0 ||
                             strcmp(o->model, "char-gru") == 0)) {
        /* Adam with clipping, as char-rnn trains (bench/torch_char_lm.py is the same in
         * PyTorch); README, "Training a character language model" */
        o->optimizer = o->optimizer != NULL ? o->optimizer : "adam";
        o->schedule = o->schedule != NULL ? o->schedule : "cosine";
        o->lr = o->lr.set ? o->lr : (cli_real){2e-3, 1};
        o->clip = o->clip.set ? o->clip : (cli_real){1.0, 1};
        o->epochs = o->epochs.set ? o->epochs : (cli_int){4, 1};
        return;
    }
    if (o->model == NULL || strcmp(o->model, "resnet20") != 0) {
        return;
    }
    if (o->optimizer == NULL) {
        o->optimizer = "sgd";
    }
    if (o->schedule == NULL) {
        o->schedule = "cosine";
    }
    if (o->augment == NULL) {
        o->augment = "crop=2,flip";
    }
    /* marked as given, so the generic defaults after it leave them */
    if (strcmp(o->optimizer, "sgd") == 0) {
        o->lr = o->lr.set ? o->lr : (cli_real){0.1, 1};
        o->weight_decay = o->weight_decay.set ? o->weight_decay : (cli_real){5e-4, 1};
    }
    o->epochs = o->epochs.set ? o->epochs : (cli_int){30, 1};
    o->batch = o->batch.set ? o->batch : (cli_int){128, 1};
}

/* Defaults for whatever is still unset after the flags (and the checkpoint). */
static void opts_default(train_opts *o)
{
    opts_recipe(o);
    const char **s[] = {&o->model, &o->data, &o->optimizer, &o->schedule, &o->nan_policy,
                        &o->augment};
    const char *sd[] = {"seed-cnn", "fashion-mnist", "sgd", "constant", "stop", "none"};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        *s[i] = *s[i] != NULL ? *s[i] : sd[i];
    }
    /* threads 0: OpenMP's default; limits 0: all samples */
    default_int(&o->epochs, train_second_order(o) ? 100 : 10);
    default_int(&o->batch, 64);
    default_int(&o->threads, 0);
    default_int(&o->seed, 1);
    default_int(&o->warmup, 0);
    default_int(&o->step_size, 1);
    default_int(&o->bptt, 64);
    default_int(&o->chunk, 0);
    const int ranks = cli_mpi_size();
    if (o->chunk.v == 0 && ranks > 1 && o->batch.v % ranks == 0 && !train_second_order(o)) {
        o->chunk.v = o->batch.v / ranks; /* one chunk per rank */
        o->chunk.set = 1;
    }
    default_int(&o->limit_train, 0);
    default_int(&o->limit_test, 0);
    int sgd = strcmp(o->optimizer, "sgd") == 0 || strcmp(o->optimizer, "nesterov") == 0;
    int adam = strcmp(o->optimizer, "adam") == 0 || strcmp(o->optimizer, "adamw") == 0;
    default_real(&o->lr, adam ? 1e-3 : 0.01);
    default_real(&o->momentum, sgd ? 0.9 : 0.0);
    default_real(&o->weight_decay, 0.0);
    default_real(&o->gamma, 0.1);
    default_real(&o->val, 0.0);
    default_real(&o->clip, 0.0);
    default_real(&o->smoothing, 0.0);
    default_real(&o->delta, 1.0);
}

/* 0 when s is one of the names; else a usage error listing them. */
static int one_of(const char *flag, const char *s, const char *const *names, int n,
                  const char *list)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            return 0;
        }
    }
    cli_error("%s must be %s, not '%s'", flag, list, s);
    return -1;
}

/* Names and combinations of options (each number's range is checked by the parser); 0 or a
 * usage error and -1. */
static int opts_check(const train_opts *o)
{
    static const char *const opt[] = {"sgd", "nesterov", "adam", "adamw", "rmsprop", "lm",
                                      "lbfgs"};
    static const char *const sched[] = {"constant", "step", "cosine"};
    static const char *const policy[] = {"stop", "skip"};
    static const char *const task[] = {"classify", "regress"};
    static const char *const loss[] = {"mse", "l1", "huber"};
    if (one_of("--optimizer", o->optimizer, opt, 7,
               "sgd, nesterov, adam, adamw, rmsprop, lm or lbfgs") != 0 ||
        one_of("--schedule", o->schedule, sched, 3, "constant, step or cosine") != 0 ||
        one_of("--nan-policy", o->nan_policy, policy, 2, "stop or skip") != 0 ||
        (o->task != NULL && one_of("--task", o->task, task, 2, "classify or regress") != 0) ||
        (o->loss != NULL &&
         one_of("--loss", o->loss, loss, 3, "mse, l1 or huber (regression)") != 0)) {
        return -1;
    }
    int not_mse = o->loss != NULL && strcmp(o->loss, "mse") != 0;
    if (train_second_order(o) && (o->resume != NULL || not_mse)) {
        cli_error("--optimizer %s minimises the MSE in one run: no --loss but mse, no --resume",
                  o->optimizer);
        return -1;
    }
    int momentum_ok = strcmp(o->optimizer, "sgd") == 0 ||
                      strcmp(o->optimizer, "nesterov") == 0 ||
                      strcmp(o->optimizer, "rmsprop") == 0;
    if (o->momentum.v > 0.0 && !momentum_ok) {
        cli_error("--momentum is for sgd, nesterov and rmsprop, not --optimizer %s",
                  o->optimizer);
        return -1;
    }
    if (strcmp(o->optimizer, "nesterov") == 0 && o->momentum.v == 0.0) {
        cli_error("--optimizer nesterov needs a --momentum above 0");
        return -1;
    }
    if (cli_mpi_size() > 1 && o->chunk.v == 0) {
        cli_error("%d ranks: --batch %lld does not divide among them, or the optimizer is full "
                  "batch; give --chunk C (C divides the batch; any C gives the same weights on "
                  "any number of ranks)", cli_mpi_size(), (long long)o->batch.v);
        return -1;
    }
    if (o->chunk.v > 0 && o->batch.v % o->chunk.v == 0 && o->batch.v / o->chunk.v < cli_mpi_size()) {
        cli_error("--batch %lld in chunks of %lld makes %lld chunks, fewer than the %d ranks: use "
                  "a smaller --chunk or a larger --batch", (long long)o->batch.v,
                  (long long)o->chunk.v, (long long)(o->batch.v / o->chunk.v), cli_mpi_size());
        return -1;
    }
    if (o->chunk.v > 0 && (o->batch.v % o->chunk.v != 0 || train_second_order(o))) {
        cli_error("--chunk %lld must divide --batch %lld (and is for first-order optimizers)",
                  (long long)o->chunk.v, (long long)o->batch.v);
        return -1;
    }
    if (o->save_every.set && o->save == NULL) {
        cli_error("--save-every needs --save FILE");
        return -1;
    }
    lam_augment_desc d;
    return train_parse_augment(o->augment, &d);
}

int train_parse_augment(const char *s, lam_augment_desc *d)
{
    lam_augment_desc_init(d);
    if (strcmp(s, "none") == 0) {
        return 0;
    }
    char buf[64];
    if (strlen(s) >= sizeof buf) {
        cli_error("--augment takes none or crop=P,flip, not a %zu-byte list", strlen(s));
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        char *end = NULL;
        if (strcmp(t, "flip") == 0 && !d->flip) {
            d->flip = 1;
        } else if (strncmp(t, "crop=", 5) == 0 && d->crop_pad == 0 &&
                   (d->crop_pad = strtoll(t + 5, &end, 10)) >= 1 && d->crop_pad <= 64 &&
                   end != t + 5 && *end == '\0') {
            continue;
        } else {
            cli_error("--augment '%.40s': takes none, or crop=P (P in 1..64 pixels) and flip, "
                      "comma-separated, each once", s);
            return -1;
        }
    }
    return 0;
}

/* Every output path is tried before any work: 0, or an error line and -1. */
static int check_outputs(const train_opts *o)
{
    const char *flag[3] = {"--save", "--metrics", "--plot"};
    const char *path[3] = {o->save, o->metrics, o->plot};
    for (int i = 0; i < 3; i++) {
        if (path[i] != NULL && cli_check_writable(flag[i], path[i]) != 0) {
            return -1;
        }
    }
    return 0;
}

lam_status train_build_optimizer(train_run *r)
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
    d.lr = o->lr.v;
    if (kind == LAM_OPTIM_SGD || kind == LAM_OPTIM_RMSPROP) {
        d.momentum = o->momentum.v;
        d.nesterov = nesterov;
    }
    if (kind == LAM_OPTIM_ADAMW) {
        d.decoupled_weight_decay = o->weight_decay.v;
        if (train_gpt_recipe(o)) {
            /* nanoGPT's: beta2 0.99, and no decay for biases and layer-norm weights */
            d.beta2 = 0.99;
            d.decay_bias = 0;
        }
    } else {
        d.weight_decay = o->weight_decay.v;
    }
    lam_param *p;
    int np;
    lam_model_params(r->model, &p, &np);
    return lam_optim_create(r->ctx, &d, p, np, &r->opt);
}

lam_status train_build_schedule(train_run *r, int64_t total_steps)
{
    const train_opts *o = &r->o;
    lam_schedule_kind k = LAM_SCHED_CONSTANT;
    if (strcmp(o->schedule, "step") == 0) {
        k = LAM_SCHED_STEP;
    } else if (strcmp(o->schedule, "cosine") == 0) {
        k = LAM_SCHED_COSINE;
    }
    if (k == LAM_SCHED_COSINE && o->warmup.v >= total_steps) {
        cli_error("--warmup %lld: --schedule cosine needs fewer warm-up steps than the run's "
                  "%lld", (long long)o->warmup.v, (long long)total_steps);
        return LAM_ERR_ARG;
    }
    lam_schedule_init(&r->sched, k, o->lr.v);
    r->sched.total_steps = total_steps;
    if (k == LAM_SCHED_COSINE && train_gpt_recipe(o)) {
        r->sched.min_lr = o->lr.v / 10; /* nanoGPT's min_lr */
    }
    r->sched.warmup_steps = o->warmup.v;
    r->sched.step_size = o->step_size.v;
    r->sched.gamma = o->gamma.v;
    return lam_schedule_check(r->ctx, &r->sched);
}

static int parse_opts(int argc, char **argv, train_opts *o)
{
    const int64_t max_n = LAM_DATA_MAX_BYTES / 4; /* samples of the largest dataset */
    const cli_opt table[] = {
        cli_opt_str("--model", &o->model, "SPEC", "built-in name, spec file or inline spec"),
        cli_opt_str("--data", &o->data, "DATA", "fashion-mnist, DIR, FILE.csv, X.npy,y.npy"),
        cli_opt_str("--test", &o->test, "DATA", "test set (default: t10k split or 20% holdout)"),
        cli_opt_int("--bptt", &o->bptt, "T", "text: steps per sequence, the state carried on "
                    "(64)", 1, 65536),
        cli_opt_int("--epochs", &o->epochs, "N", "total epochs (10); lm, lbfgs: iterations (100)",
                    1, HIST_MAX),
        cli_opt_int("--batch", &o->batch, "N", "batch size (64)", 1, 65536),
        cli_opt_str("--optimizer", &o->optimizer, "NAME",
                    "sgd, nesterov, adam, adamw, rmsprop; lm, lbfgs (full batch, regression)"),
        cli_opt_real("--lr", &o->lr, "X", "learning rate (sgd 0.01, adam 0.001)", 0.0, 1e9,
                     CLI_OPEN_LO),
        cli_opt_real("--momentum", &o->momentum, "X", "momentum (sgd, nesterov 0.9; 0 = none)",
                     0.0, 1.0, CLI_OPEN_HI),
        cli_opt_real("--weight-decay", &o->weight_decay, "X",
                     "L2, decoupled for adamw (0 = none)", 0.0, 1.0, 0),
        cli_opt_str("--schedule", &o->schedule, "NAME", "constant, step or cosine"),
        cli_opt_int("--warmup", &o->warmup, "STEPS", "linear warm-up steps (0 = none)", 0,
                    1000000000),
        cli_opt_int("--step-size", &o->step_size, "STEPS", "step schedule: steps per decay (1)",
                    1, 1000000000),
        cli_opt_real("--gamma", &o->gamma, "X", "step schedule: decay factor (0.1)", 0.0, 1.0,
                     CLI_OPEN_LO),
        cli_opt_real("--clip", &o->clip, "NORM", "clip the global gradient norm (0 = off)", 0.0,
                     1e9, 0),
        cli_opt_real("--label-smoothing", &o->smoothing, "X",
                     "cross-entropy label smoothing (0 = none)", 0.0, 1.0, CLI_OPEN_HI),
        cli_opt_str("--loss", &o->loss, "NAME", "regression loss: mse, l1, huber"),
        cli_opt_real("--huber-delta", &o->delta, "X", "Huber threshold (1.0)", 0.0, 1e9,
                     CLI_OPEN_LO),
        cli_opt_int("--threads", &o->threads, "N", "threads (default: OpenMP's)", 1, 1024),
        cli_opt_int("--chunk", &o->chunk, "N", "data-parallel chunk: the weights depend on it, "
                    "not on ranks or threads (mpirun: batch/ranks)", 1, 65536),
        cli_opt_int("--seed", &o->seed, "N", "seed of init, shuffles and dropout (1; 0 is a "
                    "seed too)", 0, 4294967295),
        cli_opt_real("--val", &o->val, "FRACTION", "hold out this share of train for validation",
                     0.0, 1.0, CLI_OPEN_LO | CLI_OPEN_HI),
        cli_opt_str("--target", &o->target, "COLUMN", "CSV target column(s), default last"),
        cli_opt_str("--task", &o->task, "KIND", "classify or regress (default: from targets)"),
        cli_opt_int("--limit-train", &o->limit_train, "N", "use the first N training samples", 1,
                    max_n),
        cli_opt_int("--limit-test", &o->limit_test, "N", "use the first N test samples", 1, max_n),
        cli_opt_str("--save", &o->save, "FILE",
                    "checkpoint (safetensors) after each epoch; not taken from --resume"),
        cli_opt_int("--save-every", &o->save_every, "STEPS", "also checkpoint every N steps", 1,
                    1000000000),
        cli_opt_str("--resume", &o->resume, "FILE",
                    "continue the run in FILE (or fine-tune imported weights)"),
        cli_opt_str("--metrics", &o->metrics, "FILE.csv", "per-epoch metrics"),
        cli_opt_str("--plot", &o->plot, "FILE.svg", "learning curves"),
        cli_opt_str("--augment", &o->augment, "LIST",
                    "crop=P,flip: random crop after P-pixel padding, horizontal flip (none)"),
        cli_opt_str("--nan-policy", &o->nan_policy, "stop|skip",
                    "on a non-finite loss: stop (exit 1) or skip the step"),
        cli_opt_flag("--json", &o->json, "last stdout line: one JSON object"),
        cli_opt_flag("--ref", &o->ref, "run the naive reference kernels"),
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

/* Build the model fresh, or restore it from --resume. A resumed model keeps the
 * checkpoint's outputs (ck_n_out) when the data shows fewer classes (a fine-tuning set
 * without the last class). */
static lam_status setup_model(train_run *r, lam_checkpoint *ck, int64_t ck_n_out)
{
    const lam_dataset *tr = r->data.train;
    int64_t n_out = r->classify ? tr->n_classes : tr->n_targets;
    if (r->classify && ck_n_out > n_out) {
        n_out = ck_n_out;
    }
    char *spec = cli_read_spec(r->o.model);
    if (spec == NULL) {
        return LAM_ERR_IO;
    }
    lam_status st = lam_model_create(r->ctx, spec, tr->sample_ndim, tr->sample_shape, n_out,
                                     r->o.batch.v, &r->model);
    free(spec);
    if (st == LAM_OK && !train_second_order(&r->o)) {
        st = train_build_optimizer(r);
    }
    if (st == LAM_OK && ck != NULL) {
        st = train_resume_state(r, ck);
    }
    /* a test label the model has no output for (a --test or t10k file with more classes
     * than the training data) would fail the first evaluation, after an epoch: name its
     * file and row now */
    if (st == LAM_OK && r->classify && r->data.test != NULL) {
        int nd;
        int64_t os[3];
        lam_model_out_shape(r->model, &nd, os);
        if (cli_check_labels(r->data.test, os[0], r->data.test_file, r->data.test_rows) != 0) {
            st = LAM_ERR_FORMAT;
        }
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

/* Options from the flags, the checkpoint (--resume) and the defaults, checked; also what
 * the checkpoint is (a run or imported weights) and its outputs. An exit code. */
static int gather_opts(train_run *r, int argc, char **argv, int *resuming, int *fine_tune,
                       int64_t *ck_n_out)
{
    int rc = parse_opts(argc, argv, &r->o);
    if (rc != EXIT_OK) {
        return rc;
    }
    lam_checkpoint *ck = NULL;
    lam_status st = lam_ctx_create(NULL, &r->ctx);
    if (st == LAM_OK && r->o.resume != NULL) {
        st = lam_checkpoint_open(r->ctx, r->o.resume, &ck);
        if (st == LAM_OK) {
            st = train_resume_opts(ck, &r->o);
        }
    }
    if (st != LAM_OK) {
        rc = cli_lib_error(r->ctx, st, r->o.resume ? r->o.resume : "context");
        lam_checkpoint_close(ck);
        return rc == EXIT_USAGE ? EXIT_RUNTIME : rc;
    }
    *resuming = ck != NULL;
    *fine_tune = ck != NULL && !train_ckpt_has_run(ck);
    const char *n_out = ck != NULL ? lam_checkpoint_meta(ck, "lamina.n_out") : NULL;
    *ck_n_out = n_out != NULL ? strtoll(n_out, NULL, 10) : 0;
    /* the context is re-made with the run's seed, threads and kernels; the checkpoint
     * belongs to this one, so it is closed before it and opened again on the new one */
    lam_checkpoint_close(ck);
    lam_ctx_destroy(r->ctx);
    r->ctx = NULL;
    opts_default(&r->o);
    if (opts_check(&r->o) != 0) {
        return EXIT_USAGE;
    }
    return check_outputs(&r->o) != 0 ? EXIT_RUNTIME : EXIT_OK;
}

/* --augment for this data: crops and flips need images; the padding is black, which after
 * normalization is -mean/std of each channel. 0, or an error line and -1. */
static int setup_augment(train_run *r)
{
    if (train_parse_augment(r->o.augment, &r->aug) != 0) {
        return -1;
    }
    if (r->aug.crop_pad == 0 && !r->aug.flip) {
        return 0;
    }
    const lam_dataset *tr = r->data.train;
    if (tr->sample_ndim != 3) {
        cli_error("--augment %s needs images (C,H,W); %s holds feature vectors", r->o.augment,
                  r->o.data);
        return -1;
    }
    const int64_t c = tr->sample_shape[0], h = tr->sample_shape[1], w = tr->sample_shape[2];
    if (r->aug.crop_pad > h || r->aug.crop_pad > w) {
        cli_error("--augment crop=%lld pads more than the %lldx%lld images of %s",
                  (long long)r->aug.crop_pad, (long long)h, (long long)w, r->o.data);
        return -1;
    }
    r->aug_pad = calloc((size_t)c, sizeof(float));
    if (r->aug_pad == NULL) {
        cli_error("out of memory");
        return -1;
    }
    for (int64_t i = 0; r->norm.n == c && i < c; i++) {
        r->aug_pad[i] = -r->norm.mean[i] / r->norm.std[i];
    }
    r->aug.pad_value = r->aug_pad;
    return 0;
}

/* The run's first lines: what trains on what, and where a resumed run starts. */
static void print_header(const train_run *r, int fine_tune)
{
    int threads = lam_ctx_threads(r->ctx);
    printf("lamina train: %s on %s (%lld train, %lld test from %s%s), %lld params, "
           "%d thread%s\n",
           r->o.model, r->o.data, (long long)r->data.train->n,
           (long long)(r->data.test ? r->data.test->n : 0), r->data.test_note,
           r->data.val ? ", validation split" : "",
           (long long)lam_model_param_count(r->model), threads, threads == 1 ? "" : "s");
    const train_opts *o = &r->o;
    if (!train_second_order(o)) {
        printf("%s lr %g%s%.0g, weight decay %g, %s schedule, batch %lld, %lld epoch%s, "
               "augment %s\n", o->optimizer, o->lr.v, o->momentum.v > 0.0 ? " momentum " : "",
               o->momentum.v > 0.0 ? o->momentum.v : 0.0, o->weight_decay.v, o->schedule,
               (long long)o->batch.v, (long long)o->epochs.v, o->epochs.v == 1 ? "" : "s",
               o->augment);
    }
    if (o->chunk.v > 0) {
        printf("data parallel: %d rank%s x %d thread%s, chunks of %lld (these weights on any "
               "number of ranks: --chunk %lld), whole batches only\n", cli_mpi_size(),
               cli_mpi_size() == 1 ? "" : "s", threads, threads == 1 ? "" : "s",
               (long long)o->chunk.v, (long long)o->chunk.v);
    }
    const char *saving = r->o.save != NULL ? "" : "; no --save: no checkpoint is written";
    if (fine_tune) {
        printf("fine-tuning the weights of %s from epoch 1, fresh optimizer state%s\n",
               r->o.resume, saving);
    } else if (r->o.resume != NULL) {
        printf("resuming %s at epoch %lld, batch %lld (step %lld)%s\n", r->o.resume,
               (long long)r->pos.epoch + 1, (long long)r->pos.batch, (long long)r->pos.step,
               saving);
    }
}

/* Everything a run holds, of either kind (a dataset's or a text's). */
static void run_free(train_run *r)
{
    lam_optim_destroy(r->opt);
    lam_model_destroy(r->model);
    lam_text_destroy(r->text);
    free(r->aug_pad);
    cli_free_data(&r->data);
    lam_norm_stats_free(r->ctx, &r->norm);
    free(r->hist);
    cli_mpi_detach();
    lam_ctx_destroy(r->ctx);
    free_owned(&r->o);
}

int cli_train(int argc, char **argv)
{
    train_run r;
    memset(&r, 0, sizeof r);
    int resuming = 0, fine_tune = 0;
    int64_t ck_n_out = 0;
    int rc = gather_opts(&r, argc, argv, &resuming, &fine_tune, &ck_n_out);
    if (rc != EXIT_OK) {
        lam_ctx_destroy(r.ctx);
        free_owned(&r.o);
        return rc == EXIT_OK + 100 ? EXIT_OK : rc;
    }
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.seed = (uint64_t)r.o.seed.v;
    cfg.n_threads = (int)r.o.threads.v;
    cfg.kernels = r.o.ref ? LAM_KERNELS_REF : LAM_KERNELS_FAST;
    cli_set_threads(r.o.threads.v);
    lam_status st = lam_ctx_create(&cfg, &r.ctx);
    if (st == LAM_OK) {
        st = cli_mpi_attach(r.ctx);
    }
    lam_checkpoint *ck = NULL;
    if (st == LAM_OK && resuming) {
        st = lam_checkpoint_open(r.ctx, r.o.resume, &ck);
    }
    r.hist = calloc(1, sizeof *r.hist);
    if (st == LAM_OK && cli_is_text(r.o.data) && (cli_mpi_size() > 1 || r.o.chunk.v > 0)) {
        cli_error("%s: language models train on one rank, without --chunk: attention and "
                  "recurrent layers keep state of every row of the batch, so they cannot run "
                  "in chunks yet", r.o.data);
        st = LAM_ERR_ARG;
    } else if (st == LAM_OK && cli_is_text(r.o.data)) {
        rc = r.hist != NULL ? train_lm(&r, ck, fine_tune) : cli_lib_error(r.ctx, LAM_ERR_NOMEM,
                                                                            "train");
        lam_checkpoint_close(ck);
        run_free(&r);
        return rc;
    }
    cli_data_args da = {r.o.data, r.o.test, r.o.target, r.o.task, r.o.val.v,
                        r.o.limit_train.v, r.o.limit_test.v, (uint64_t)r.o.seed.v, 1};
    if (st == LAM_OK && r.hist == NULL) {
        st = LAM_ERR_NOMEM;
    }
    if (st == LAM_OK) {
        st = cli_load_data(r.ctx, &da, &r.data);
    }
    if (st == LAM_OK && cli_mpi_check_data(r.data.train, r.data.test, r.o.data) != 0) {
        st = LAM_ERR_FORMAT; /* the lines are out */
    }
    if (st == LAM_OK) {
        r.steps_per_epoch = train_epoch_steps(&r);
        r.classify = r.data.train->task == LAM_DATA_CLASSIFY;
        lam_loss_kind lk = LAM_LOSS_MSE;
        if (r.classify) {
            lk = LAM_LOSS_SOFTMAX_XENT;
        } else if (r.o.loss != NULL && strcmp(r.o.loss, "l1") == 0) {
            lk = LAM_LOSS_L1;
        } else if (r.o.loss != NULL && strcmp(r.o.loss, "huber") == 0) {
            lk = LAM_LOSS_HUBER;
        }
        r.loss = (lam_loss_desc){lk, (float)r.o.smoothing.v, (float)r.o.delta.v};
        if (train_second_order(&r.o) && r.classify) {
            cli_error("--optimizer %s is for regression targets; %s has class labels",
                      r.o.optimizer, r.o.data);
            st = LAM_ERR_ARG;
        }
        if (ck == NULL) {
            st = st == LAM_OK ? lam_norm_stats_compute(r.ctx, r.data.train, &r.norm) : st;
        }
    }
    if (st == LAM_OK) {
        st = setup_model(&r, ck, ck_n_out);
    }
    if (st == LAM_OK) {
        const lam_dataset *parts[3] = {r.data.train, r.data.val, r.data.test};
        for (int i = 0; i < 3 && st == LAM_OK; i++) {
            st = parts[i] != NULL ? lam_dataset_normalize((lam_dataset *)parts[i], &r.norm)
                                  : LAM_OK;
        }
    }
    if (st == LAM_OK) {
        st = train_build_schedule(&r, r.steps_per_epoch * r.o.epochs.v);
    }
    const int bad_augment = st == LAM_OK && setup_augment(&r) != 0; /* message is out */
    lam_checkpoint_close(ck);
    if (bad_augment) {
        rc = EXIT_USAGE;
    } else if (st != LAM_OK) {
        rc = cli_lib_error(r.ctx, st, "train");
    } else {
        print_header(&r, fine_tune);
        rc = train_second_order(&r.o) ? train_run_full_batch(&r) : train_run_epochs(&r);
        if (r.o.json && (rc == EXIT_OK || r.diverged != 0)) {
            train_print_json(&r);
        }
    }
    run_free(&r);
    return rc;
}
