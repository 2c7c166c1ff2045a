/**
 * @file lamina/lm.h
 * @brief Language models on byte-level text: evaluation over streams and sampling.
 *
 * A language model here is a model whose input is a sequence of token ids (T) (an
 * `embedding` first) and whose output is (T, V): the logits of the next token at every
 * position, such as the built-in `char-lstm`, `char-gru` and `gpt-mini`. Training is
 * lam_model_train_batch() with ::LAM_LOSS_SEQ_XENT on the batches of lam_lm_batch(), with
 * lam_model_set_carry(m, 1) so the recurrent state runs on from batch to batch (truncated
 * backpropagation through time); `lamina train --data fortunes` does exactly that.
 */
#ifndef LAMINA_LM_H
#define LAMINA_LM_H

#include "lamina/data.h"
#include "lamina/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The mean per-position cross-entropy of the model on the tokens [begin, end) of t, read
 * as lam_lm_batches() streams of rows = the model's max_batch and T = its input length, in
 * inference mode, the recurrent state starting from zero and carried from batch to batch.
 * *loss is in nats (bits per character: loss / ln 2); *tokens (may be NULL) receives the
 * positions it covers. The model's carry setting and recurrent state are restored after.
 * @return LAM_OK, LAM_ERR_ARG (not a (T) -> (T, V) model, t's vocabulary larger than V),
 *         LAM_ERR_SHAPE (the range is shorter than one sequence per row), LAM_ERR_NOMEM.
 */
LAM_API lam_status lam_lm_evaluate(lam_model *m, const lam_text *t, int64_t begin,
                                   int64_t end, double *loss, int64_t *tokens);

/** How lam_lm_sample() draws. Fill with lam_sample_desc_init(). */
typedef struct lam_sample_desc {
    float temperature;    /**< logits are divided by it; > 0 (default 1) */
    int64_t top_k;        /**< only the k most likely tokens are drawn from; 0 = all */
    uint64_t seed;        /**< draw i uses lam_rng_uniform(seed, "SAMP", i) */
    uint64_t reserved[4]; /**< must be zero */
} lam_sample_desc;

/** Temperature 1, no top-k cut, seed 0. NULL is a no-op. */
LAM_API void lam_sample_desc_init(lam_sample_desc *d);

/** Called with every sampled token as it is drawn (for streaming); non-zero stops. */
typedef int (*lam_token_fn)(int32_t token, void *user);

/**
 * Sample `length` tokens after a prompt, one at a time, from either kind of language model:
 *  - a recurrent one (char-lstm) must take one token per sample ((1) -> (1, V), built for
 *    T = 1; its weights are the same as for any T): the state carries the context, and the
 *    prompt (n_prompt >= 0 ids below V) is run first from a zero state;
 *  - one without recurrent state (a GPT, built for its context length T) sees the last T
 *    tokens of prompt and draws at positions 0.. of its window, the rest of the window
 *    token 0 (a causal model's logits do not see it), as nanoGPT's generate crops.
 * With an empty prompt the first input is token 0. Each draw is from
 * softmax(logits / temperature) over the top_k largest logits, and is fed back. out
 * (length) may be NULL; fn (may be NULL) sees each token.
 * @return LAM_OK, LAM_ERR_ARG (bad sizes, temperature, top_k or a prompt id outside
 *         [0, V)), LAM_ERR_NUMERIC (non-finite logits), LAM_ERR_NOMEM.
 */
LAM_API lam_status lam_lm_sample(lam_model *m, const lam_sample_desc *d, const int32_t *prompt,
                                 int64_t n_prompt, int64_t length, int32_t *out,
                                 lam_token_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif
