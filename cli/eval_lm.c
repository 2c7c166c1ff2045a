/* lamina eval on a language model's checkpoint: bits per character of a part of its text
 * (the test part by default), read in the streams training used (its --batch rows of its
 * --bptt steps, the state carried from zero), so the figure is the one training printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_eval_lm(lam_ctx *ctx, lam_checkpoint *ck, const char *load, const char *data,
                const char *split, int json)
{
    lam_model *m = NULL;
    lam_text *t = NULL;
    lam_status st = LAM_OK;
    const char *src = data != NULL ? data : lam_checkpoint_meta(ck, "train.data");
    const char *rows = lam_checkpoint_meta(ck, "train.batch");
    if (!cli_is_text(src) || rows == NULL) {
        cli_error("%s: a language model's checkpoint needs --data fortunes or text:FILE (its "
                  "own is %s)",
                  load, src != NULL ? src : "not recorded");
        st = LAM_ERR_ARG;
    }
    st = st == LAM_OK ? cli_load_text(ctx, src, &t) : st;
    st = st == LAM_OK ? cli_text_vocab(ck, load, t) : st;
    st = st == LAM_OK ? lam_checkpoint_model(ck, strtoll(rows, NULL, 10), &m) : st;
    const int part = split == NULL || strcmp(split, "test") == 0 ? 2
                     : strcmp(split, "train") == 0               ? 0
                                                                 : -1;
    int64_t begin = 0, end = 0, tokens = 0;
    double loss = 0.0;
    if (st == LAM_OK && part < 0) {
        begin = 0;
        end = t->n; /* all */
    } else if (st == LAM_OK) {
        st = lam_text_split(t, part, &begin, &end);
    }
    const double t0 = lam_time_now();
    st = st == LAM_OK ? lam_lm_evaluate(m, t, begin, end, &loss, &tokens) : st;
    int rc = EXIT_OK;
    if (st != LAM_OK) {
        rc = cli_lib_error(ctx, st, load);
    } else {
        const double secs = lam_time_now() - t0, bpc = loss / log(2.0);
        printf("%s on %s (%s part): %lld tokens  bits per char %.4f  loss %.4f  perplexity "
               "%.3f\n",
               load, src,
               part == 2   ? "test"
               : part == 0 ? "train"
                           : "whole",
               (long long)tokens, bpc, loss, exp(loss));
        if (json) {
            printf("{\"test_bpc\": %.6f, \"test_loss\": %.6f, \"tokens\": %lld, \"seconds\": "
                   "%.3f, \"data\": ",
                   bpc, loss, (long long)tokens, secs);
            cli_json_str(src);
            printf("}\n");
        }
    }
    lam_text_destroy(t);
    lam_model_destroy(m);
    return rc;
}
