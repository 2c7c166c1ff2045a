/* Language models on text: the mean per-position loss over a range of streams, and sampling
 * one token at a time (lamina/lm.h). Both run the model's forward in inference mode with the
 * recurrent state carried from call to call. */
#include "lamina/lm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

/* The vocabulary of a (T) -> (T, V) model, or 0 when it is not one. */
static int64_t model_vocab(const lam_model *m, int64_t *T)
{
    const lam_shape in = lam_model_input_shape(m), out = lam_model_output_shape(m);
    if (in.ndim != 1 || out.ndim != 2 || out.dim[0] != in.dim[0]) {
        return 0;
    }
    *T = in.dim[0];
    return out.dim[1];
}

/* A copy of every recurrent state (NULL with *count 0 when there is none or no memory). */
static float **save_states(lam_model *m, int *count)
{
    lam_param *st;
    lam_model_states(m, &st, count);
    float **saved = *count > 0 ? lam_alloc(m->ctx, (size_t)*count * sizeof *saved) : NULL;
    for (int i = 0; saved != NULL && i < *count; i++) {
        saved[i] = lam_alloc(m->ctx, (size_t)st[i].n * sizeof(float));
        if (saved[i] != NULL) {
            memcpy(saved[i], st[i].w, (size_t)st[i].n * sizeof(float));
        }
    }
    return saved;
}

static void restore_states(lam_model *m, float **saved, int count)
{
    lam_param *st;
    int n;
    lam_model_states(m, &st, &n);
    for (int i = 0; saved != NULL && i < count && i < n; i++) {
        if (saved[i] != NULL) {
            memcpy(st[i].w, saved[i], (size_t)st[i].n * sizeof(float));
        }
        lam_free(m->ctx, saved[i]);
    }
    lam_free(m->ctx, saved);
}

lam_status lam_lm_evaluate(lam_model *m, const lam_text *t, int64_t begin, int64_t end,
                           double *loss, int64_t *tokens)
{
    if (m == NULL || t == NULL || loss == NULL) {
        return LAM_ERR_ARG;
    }
    lam_ctx *ctx = m->ctx;
    int64_t T = 0;
    const int64_t V = model_vocab(m, &T), rows = lam_model_max_batch(m);
    if (V < 1 || t->vocab > V) {
        return lam__error(ctx, LAM_ERR_ARG,
                          "lm: the model is not a (T) -> (T, V) language "
                          "model for a vocabulary of %d",
                          t->vocab);
    }
    const int64_t nb = lam_lm_batches(begin, end, rows, T);
    if (nb < 1) {
        return lam__error(ctx, LAM_ERR_SHAPE,
                          "lm: %lld tokens are fewer than one sequence "
                          "of %lld + 1 for each of %lld rows",
                          (long long)(end - begin), (long long)T, (long long)rows);
    }
    float *x = lam_alloc(ctx, (size_t)(rows * T) * sizeof(float));
    int32_t *labels = lam_alloc(ctx, (size_t)(rows * T) * sizeof(int32_t));
    int count = 0;
    float **saved = save_states(m, &count);
    const int carry = m->carry;
    lam_status st =
        x != NULL && labels != NULL && (count == 0 || saved != NULL) ? LAM_OK : LAM_ERR_NOMEM;
    double total = 0.0;
    lam_model_set_carry(m, 1);
    lam_model_reset_state(m);
    const lam_loss_desc ld = {LAM_LOSS_SEQ_XENT, 0.0f, 0.0f};
    for (int64_t b = 0; st == LAM_OK && b < nb; b++) {
        double l = 0.0;
        st = lam_lm_batch(t, begin, end, rows, T, b, x, labels);
        st = st == LAM_OK ? lam_model_forward(m, x, rows, 0, NULL) : st;
        st = st == LAM_OK ? lam_model_loss(m, &ld, labels, NULL, &l, NULL) : st;
        total += l;
    }
    lam_model_set_carry(m, carry);
    restore_states(m, saved, count);
    lam_free(ctx, x);
    lam_free(ctx, labels);
    if (st == LAM_OK) {
        *loss = total / (double)nb; /* every batch has rows * T positions */
        if (tokens != NULL) {
            *tokens = nb * rows * T;
        }
    }
    return st;
}

void lam_sample_desc_init(lam_sample_desc *d)
{
    if (d != NULL) {
        memset(d, 0, sizeof *d);
        d->temperature = 1.0f;
    }
}

static int desc_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* Draw from softmax(logits / temperature) over the top_k largest logits (ties at the cut
 * all kept). sorted (V floats) and w (V doubles) are the caller's scratch. */
static int32_t draw(const float *logits, int64_t V, const lam_sample_desc *d, double u,
                    float *sorted, double *w)
{
    float mx = -INFINITY;
    for (int64_t j = 0; j < V; j++) {
        mx = logits[j] > mx ? logits[j] : mx;
    }
    float cut = -INFINITY;
    if (d->top_k > 0 && d->top_k < V) {
        memcpy(sorted, logits, (size_t)V * sizeof(float));
        qsort(sorted, (size_t)V, sizeof(float), desc_float);
        cut = sorted[d->top_k - 1]; /* the k-th largest */
    }
    double sum = 0.0;
    for (int64_t j = 0; j < V; j++) {
        w[j] = logits[j] >= cut ? exp((double)(logits[j] - mx) / d->temperature) : 0.0;
        sum += w[j];
    }
    double acc = 0.0, target = u * sum;
    int32_t last = 0;
    for (int64_t j = 0; j < V; j++) {
        if (w[j] == 0.0) {
            continue;
        }
        acc += w[j];
        last = (int32_t)j;
        if (acc > target) {
            return (int32_t)j;
        }
    }
    return last;
}

/* The next token's logits from the last min(n, T) tokens of the context, at positions 0..
 * of the model's window and token 0 after them. A recurrent model (T = 1) sees the last
 * token, its state carrying the rest; a causal model without state (a GPT) sees the window,
 * and its logits at the last used position do not see the padding after it. */
static lam_status window_logits(lam_model *m, const int32_t *context, int64_t n, int64_t T,
                                float *x, const float **logits, int64_t V)
{
    const int64_t used = n < T ? n : T;
    for (int64_t i = 0; i < T; i++) {
        x[i] = i < used ? (float)context[n - used + i] : 0.0f;
    }
    lam_status st = lam_model_forward(m, x, 1, 0, logits);
    *logits += (used - 1) * V;
    return st;
}

lam_status lam_lm_sample(lam_model *m, const lam_sample_desc *d, const int32_t *prompt,
                         int64_t n_prompt, int64_t length, int32_t *out, lam_token_fn fn,
                         void *user)
{
    if (m == NULL) {
        return LAM_ERR_ARG;
    }
    lam_ctx *ctx = m->ctx;
    int64_t T = 0;
    const int64_t V = model_vocab(m, &T);
    const int window = m->n_states == 0; /* a GPT: the context is its input window */
    if (V < 1 || (!window && T != 1) || d == NULL || !(d->temperature > 0.0f) || d->top_k < 0 ||
        length < 0 || n_prompt < 0 || (n_prompt > 0 && prompt == NULL) ||
        !lam__reserved_zero(d->reserved, 4)) {
        return lam__error(ctx, LAM_ERR_ARG,
                          "lm: sampling needs a recurrent (1) -> (1, V) model or a (T) -> "
                          "(T, V) one without state, a temperature > 0, top_k >= 0 and "
                          "lengths >= 0");
    }
    for (int64_t i = 0; i < n_prompt; i++) {
        if (prompt[i] < 0 || prompt[i] >= V) {
            return lam__error(ctx, LAM_ERR_ARG, "lm: prompt token %lld is %d, outside [0, %lld)",
                              (long long)i, (int)prompt[i], (long long)V);
        }
    }
    /* the draws' scratch: the logits sorted for top_k, the softmax weights; a window
     * model's input and the last T tokens of its context */
    float *sorted = lam_alloc(ctx, (size_t)(V + T) * sizeof(float));
    double *w = lam_alloc(ctx, (size_t)V * sizeof(double));
    int32_t *context = lam_alloc(ctx, (size_t)(T + 1) * sizeof(int32_t));
    if (sorted == NULL || w == NULL || context == NULL) {
        lam_free(ctx, sorted);
        lam_free(ctx, w);
        lam_free(ctx, context);
        return LAM_ERR_NOMEM;
    }
    lam_model_set_carry(m, 1);
    lam_model_reset_state(m);
    const float *logits = NULL;
    lam_status st = LAM_OK;
    /* a recurrent model: the prompt, all but its last token, only moves the state on */
    for (int64_t i = 0; !window && st == LAM_OK && i + 1 < n_prompt; i++) {
        const float x = (float)prompt[i];
        st = lam_model_forward(m, &x, 1, 0, &logits);
    }
    /* the context: the last T tokens of prompt and draws (token 0 if both are empty) */
    int64_t held = n_prompt < T ? n_prompt : T;
    if (held > 0) {
        memcpy(context, prompt + n_prompt - held, (size_t)held * sizeof(int32_t));
    }
    if (held == 0) {
        context[held++] = 0;
    }
    for (int64_t i = 0; st == LAM_OK && i < length; i++) {
        st = window_logits(m, context, held, T, sorted + V, &logits, V);
        if (st != LAM_OK) {
            break;
        }
        if (!lam__all_finite(logits, V)) {
            st = lam__error(ctx, LAM_ERR_NUMERIC, "lm: non-finite logits at token %lld",
                            (long long)i);
            break;
        }
        const double u = lam_rng_uniform(d->seed, 0x53414d50u, (uint64_t)i);
        const int32_t tok = draw(logits, V, d, u, sorted, w);
        if (out != NULL) {
            out[i] = tok;
        }
        if (held == T) {
            memmove(context, context + 1, (size_t)(T - 1) * sizeof(int32_t));
            held--;
        }
        context[held++] = tok;
        if (fn != NULL && fn(tok, user) != 0) {
            break;
        }
    }
    lam_free(ctx, sorted);
    lam_free(ctx, w);
    lam_free(ctx, context);
    return st;
}
