/* lamina generate: sample text from a language model's checkpoint, streamed to stdout as it
 * is drawn. The model is rebuilt from the checkpoint's spec for one token at a time (its
 * weights do not depend on the sequence length) and the recurrent state carries the
 * context (lam_lm_sample). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct gen_opts {
    const char *load, *prompt;
    cli_int length, top_k, seed, threads;
    cli_real temperature;
} gen_opts;

static const char *const usage_line = "lamina generate --load CKPT [options]";
static const char *const about =
    "Sample text from a character language model trained by lamina train --data fortunes (or\n"
    "text:FILE): the prompt is printed, then --length sampled bytes, each drawn from the\n"
    "model's softmax at --temperature over the --top-k most likely bytes, as they come.\n"
    "The same --seed draws the same text.";

static int parse(int argc, char **argv, gen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->length.v = 200;
    o->seed.v = 1;
    o->temperature.v = 1.0;
    const cli_opt table[] = {
        cli_opt_str("--load", &o->load, "CKPT", "a language model's checkpoint"),
        cli_opt_str("--prompt", &o->prompt, "TEXT", "text to continue (default: none)"),
        cli_opt_int("--length", &o->length, "N", "bytes to sample (200)", 1, 100000000),
        cli_opt_real("--temperature", &o->temperature, "T", "softmax temperature (1)", 0.0, 100.0,
                     CLI_OPEN_LO),
        cli_opt_int("--top-k", &o->top_k, "K", "draw from the K likeliest bytes (0 = all)", 0, 256),
        cli_opt_int("--seed", &o->seed, "S", "seed of the draws (1; 0 is a seed too)", 0,
                    4294967295),
        cli_opt_int("--threads", &o->threads, "N", "threads (default: OpenMP's)", 1, 1024),
    };
    const int n_opts = (int)(sizeof table / sizeof table[0]);
    const int rc = cli_parse_command(argc, argv, "generate", usage_line, about, table, n_opts);
    if (rc != EXIT_OK) {
        return rc;
    }
    if (o->load == NULL) {
        cli_error("--load CKPT is required (see lamina generate --help)");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

typedef struct gen_out {
    const unsigned char *bytes;
    int64_t count;
} gen_out;

static int put_token(int32_t token, void *user)
{
    gen_out *g = user;
    fputc(g->bytes[token], stdout);
    if (++g->count % 64 == 0) {
        fflush(stdout);
    }
    return 0;
}

/* The prompt's bytes as the ids of the vocabulary bytes[0..vocab); a byte the model never
 * saw is a usage error. */
static int prompt_ids(const char *prompt, const unsigned char *bytes, int vocab, const char *path,
                      int32_t *ids)
{
    int id_of[256];
    for (int b = 0; b < 256; b++) {
        id_of[b] = -1;
    }
    for (int k = 0; k < vocab; k++) {
        id_of[bytes[k]] = k;
    }
    for (size_t i = 0; prompt[i] != '\0'; i++) {
        const unsigned char b = (unsigned char)prompt[i];
        if (id_of[b] < 0) {
            cli_error("--prompt: byte 0x%02x at position %zu is not in the vocabulary of %s", b, i,
                      path);
            return -1;
        }
        ids[i] = id_of[b];
    }
    return 0;
}

/* The model with the checkpoint's weights: a recurrent one for one token at a time, one
 * without state (a GPT) for the window it was trained on (lam_lm_sample). */
static lam_status build(lam_ctx *ctx, lam_checkpoint *ck, const char *path, lam_model **m)
{
    const char *spec = lam_checkpoint_meta(ck, "lamina.spec");
    const char *n_out = lam_checkpoint_meta(ck, "lamina.n_out");
    const char *input = lam_checkpoint_meta(ck, "lamina.input");
    if (spec == NULL || n_out == NULL || input == NULL) {
        cli_error("%s: no model spec, input or output size in the checkpoint", path);
        return LAM_ERR_FORMAT;
    }
    int64_t T = 1;
    lam_status st = lam_model_create(ctx, spec, 1, &T, strtoll(n_out, NULL, 10), 1, m);
    lam_param *states = NULL;
    int n_states = 0;
    if (st == LAM_OK && lam_model_states(*m, &states, &n_states) == LAM_OK && n_states == 0) {
        T = strtoll(input, NULL, 10);
        lam_model_destroy(*m);
        *m = NULL;
        st = T >= 1 ? lam_model_create(ctx, spec, 1, &T, strtoll(n_out, NULL, 10), 1, m)
                    : LAM_ERR_FORMAT;
    }
    return st == LAM_OK ? lam_checkpoint_load_weights(ck, *m) : st;
}

int cli_generate(int argc, char **argv)
{
    gen_opts o;
    int rc = parse(argc, argv, &o);
    if (rc != EXIT_OK) {
        return rc < 0 ? EXIT_OK : rc;
    }
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.n_threads = (int)o.threads.v;
    cli_set_threads(o.threads.v);
    lam_ctx *ctx = NULL;
    lam_checkpoint *ck = NULL;
    lam_model *m = NULL;
    unsigned char bytes[256];
    int vocab = 0;
    const size_t np = o.prompt != NULL ? strlen(o.prompt) : 0;
    int32_t *ids = malloc((np + 1) * sizeof *ids);
    lam_status st = ids != NULL ? lam_ctx_create(&cfg, &ctx) : LAM_ERR_NOMEM;
    st = st == LAM_OK ? lam_checkpoint_open(ctx, o.load, &ck) : st;
    st = st == LAM_OK ? cli_ckpt_vocab(ck, o.load, bytes, &vocab) : st;
    st = st == LAM_OK ? build(ctx, ck, o.load, &m) : st;
    if (st == LAM_OK && np > 0 && prompt_ids(o.prompt, bytes, vocab, o.load, ids) != 0) {
        rc = EXIT_USAGE;
    } else if (st == LAM_OK) {
        lam_sample_desc d;
        lam_sample_desc_init(&d);
        d.temperature = (float)o.temperature.v;
        d.top_k = o.top_k.v;
        d.seed = (uint64_t)o.seed.v;
        gen_out g = {bytes, 0};
        if (np > 0) {
            fwrite(o.prompt, 1, np, stdout);
        }
        st = lam_lm_sample(m, &d, ids, (int64_t)np, o.length.v, NULL, put_token, &g);
        fputc('\n', stdout);
        fflush(stdout);
    }
    if (st != LAM_OK && rc == EXIT_OK) {
        rc = cli_lib_error(ctx, st, o.load);
    }
    lam_model_destroy(m);
    lam_checkpoint_close(ck);
    lam_ctx_destroy(ctx);
    free(ids);
    return rc;
}
