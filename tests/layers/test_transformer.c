/* The transformer's layers inside models: gradient checks of layer norm, tanh GELU,
 * attention (causal and not, one head and several, with dropout) and whole GPT blocks with
 * a tied head; the fast kernels against their naive twins; 1 and 2 threads bitwise; the
 * tie (one parameter, both gradients summed); causality; the shape errors naming the layer.
 * (Golden values against PyTorch: tests/golden/test_gpt.c.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "harness.h"
#include "lamina.h"

enum { V = 7, T = 5, N = 2, F = 3 };

/* Two GPT blocks on tokens, pre-LayerNorm, the head tied to the embedding. */
#define GPT_BLOCKS(heads, extra)                                                               \
    "def block(d) { layernorm:name=ln_1 attention:" heads ",causal=1" extra ",name=attn "     \
    "add(in, .):name=res layernorm:name=ln_2 linear:16,name=fc gelu:approx=tanh "              \
    "linear:$d,name=proj add(res, .) }\n"                                                      \
    "embedding:vocab,8,name=wte posembed:6,name=wpe block*2:8,name=h layernorm:name=ln_f "     \
    "linear:vocab,bias=0,tie=wte,name=head"

/* A case: token ids (tokens = 1: input (T)) or floats (input (T, F)); labels per position. */
typedef struct tf_case {
    const char *spec;
    int tokens;
} tf_case;

static void make_batch(const tf_case *tc, uint64_t seed, float *x, int32_t *labels)
{
    if (tc->tokens) {
        for (int i = 0; i < N * T; i++) {
            x[i] = (float)(lam_rng_u64(seed, 5, (uint64_t)i) % V);
        }
    } else {
        t_fill_uniform(x, N * T * F, -1.0f, 1.0f, seed, 5);
    }
    for (int i = 0; i < N * T; i++) {
        labels[i] = (int32_t)(lam_rng_u64(seed, 6, (uint64_t)i) % V);
    }
}

static lam_model *build(lam_ctx *ctx, const tf_case *tc)
{
    const int64_t shape[2] = {T, F};
    lam_model *m = NULL;
    if (!T_CHECK(lam_model_create(ctx, tc->spec, tc->tokens ? 1 : 2, shape, V, N, &m) == LAM_OK,
                 "create '%s': %s", tc->spec, lam_ctx_errmsg(ctx))) {
        return NULL;
    }
    return m;
}

static void check_grad(const tf_case *tc, uint64_t seed)
{
    lam_ctx *ctx = gc_ctx(seed, 1, 0);
    gc_model_case c = {build(ctx, tc), NULL, NULL, N, {LAM_LOSS_SEQ_XENT, 0.0f, 0.0f}};
    if (c.m == NULL) {
        lam_ctx_destroy(ctx);
        return;
    }
    float x[N * T * F];
    int32_t labels[N * T];
    make_batch(tc, seed, x, labels);
    c.x = x;
    c.labels = labels;
    lam_model_set_step(c.m, 7); /* fixed dropout masks */
    char what[80];
    snprintf(what, sizeof what, "'%.60s'", tc->spec);
    gc_check_params(what, c.m, gc_model_loss, &c, 1e-3, 64, seed);
    lam_model_destroy(c.m);
    lam_ctx_destroy(ctx);
}

/* Output and every gradient after one forward/backward, into out (the caller frees). */
static float *run_once(const void *arg, int threads, int ref, int64_t *count)
{
    const tf_case *tc = arg;
    lam_ctx *ctx = gc_ctx(31, threads, ref);
    lam_model *m = build(ctx, tc);
    if (m == NULL) {
        lam_ctx_destroy(ctx);
        return NULL;
    }
    float x[N * T * F];
    int32_t labels[N * T];
    make_batch(tc, 31, x, labels);
    const lam_loss_desc loss = {LAM_LOSS_SEQ_XENT, 0, 0};
    const float *y = NULL;
    lam_model_set_step(m, 3);
    lam_model_forward(m, x, N, 1, &y);
    double l;
    lam_model_loss(m, &loss, labels, NULL, &l, NULL);
    lam_model_zero_grad(m);
    lam_model_backward(m);
    float *w, *g;
    int64_t nw;
    lam_model_param_block(m, &w, &g, &nw);
    const int64_t ny = N * T * V;
    float *out = t_alloc_floats(ny + nw);
    memcpy(out, y, (size_t)ny * sizeof(float));
    memcpy(out + ny, g, (size_t)nw * sizeof(float));
    *count = ny + nw;
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    return out;
}

/* The tied head: one parameter tensor (the embedding's), the head reading the same memory,
 * and its gradient the sum of both uses: the head's alone (the embedding's rows zeroed by
 * feeding their gradient nothing) plus the embedding's alone equals the whole. */
static void check_tie(void)
{
    const tf_case tc = {GPT_BLOCKS("2", ""), 1};
    lam_ctx *ctx = gc_ctx(4, 1, 0);
    lam_model *m = build(ctx, &tc);
    if (m == NULL) {
        lam_ctx_destroy(ctx);
        return;
    }
    lam_layer *wte = lam_model_layer(m, lam_model_find(m, "wte"));
    lam_layer *head = lam_model_layer(m, lam_model_find(m, "head"));
    lam_param pw[2], ph[2];
    int nw = 2, nh = 2;
    lam_layer_params(wte, pw, &nw);
    lam_layer_params(head, ph, &nh);
    T_CHECK(nh == 1 && ph[0].w == pw[0].w && ph[0].g == pw[0].g,
            "the head's weight shares the embedding's storage and gradient");
    lam_param *all;
    int np;
    lam_model_params(m, &all, &np);
    int as_wte = 0, as_head = 0;
    for (int i = 0; i < np; i++) {
        as_wte += strcmp(all[i].name, "wte.weight") == 0;
        as_head += strcmp(all[i].name, "head.weight") == 0;
    }
    T_CHECK(as_wte == 1 && as_head == 0, "the tied weight is listed once, as wte.weight (%d "
            "times; as head.weight %d)", as_wte, as_head);
    /* per block: ln_1, attn (c_attn, c_proj), ln_2, fc, proj; then wte, wpe, the blocks and
     * ln_f, and no head weight of its own */
    const int64_t per_block = 16 + (3 * 64 + 24 + 64 + 8) + 16 + (16 * 8 + 16) + (8 * 16 + 8);
    T_CHECK(lam_model_param_count(m) == V * 8 + 6 * 8 + 2 * per_block + 16,
            "parameters %lld", (long long)lam_model_param_count(m));
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
}

/* Causal: changing the last position's token changes no earlier position's logits. */
static void check_causal(void)
{
    const tf_case tc = {GPT_BLOCKS("2", ""), 1};
    lam_ctx *ctx = gc_ctx(6, 1, 0);
    lam_model *m = build(ctx, &tc);
    float x[N * T];
    int32_t labels[N * T];
    make_batch(&tc, 6, x, labels);
    const float *y = NULL;
    float *first = t_alloc_floats(N * T * V);
    if (m != NULL && lam_model_forward(m, x, N, 0, &y) == LAM_OK) {
        memcpy(first, y, sizeof(float) * N * T * V);
        x[T - 1] = (float)(((int)x[T - 1] + 1) % V);
        lam_model_forward(m, x, N, 0, &y);
        t_equal("causal: positions before the changed one", y, first, (T - 1) * V);
        int moved = 0;
        for (int j = 0; j < V; j++) {
            moved |= y[(T - 1) * V + j] != first[(T - 1) * V + j];
        }
        T_CHECK(moved, "causal: the changed position's logits change");
    }
    free(first);
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
}

/* 30 AdamW steps with clipping: bitwise the same weights on 1 and 2 threads. */
static float *train_steps(int threads, int64_t *count)
{
    const tf_case tc = {GPT_BLOCKS("2", ",dropout=0.1"), 1};
    lam_ctx *ctx = gc_ctx(8, threads, 0);
    lam_model *m = build(ctx, &tc);
    lam_optim *opt = NULL;
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_ADAMW);
    od.decay_bias = 0;
    lam_param *p;
    int np;
    float *out = NULL;
    if (m != NULL && lam_model_params(m, &p, &np) == LAM_OK &&
        lam_optim_create(ctx, &od, p, np, &opt) == LAM_OK) {
        float x[N * T];
        int32_t labels[N * T];
        lam_step_desc d;
        lam_step_desc_init(&d);
        d.x = x;
        d.labels = labels;
        d.n = N;
        d.loss.kind = LAM_LOSS_SEQ_XENT;
        d.lr = 3e-3;
        d.clip_norm = 1.0;
        lam_status st = LAM_OK;
        for (int s = 0; st == LAM_OK && s < 30; s++) {
            make_batch(&tc, 100 + (uint64_t)s, x, labels);
            st = lam_model_train_batch(m, opt, &d, NULL);
        }
        T_CHECK(st == LAM_OK, "train: %s", lam_ctx_errmsg(ctx));
        float *w, *g;
        lam_model_param_block(m, &w, &g, count);
        out = t_alloc_floats(*count);
        memcpy(out, w, (size_t)*count * sizeof(float));
    }
    lam_optim_destroy(opt);
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    return out;
}

static void check_training_threads(void)
{
    int64_t n1 = 0, n2 = 0;
    float *one = train_steps(1, &n1), *two = train_steps(2, &n2);
    if (one != NULL && two != NULL && T_CHECK(n1 == n2, "sizes")) {
        t_equal("GPT blocks: weights after 30 AdamW steps, 1 vs 2 threads", two, one, n1);
    }
    free(one);
    free(two);
}

/* Each bad spec fails to build with an error naming the layer and the problem. */
static void check_errors(void)
{
    static const struct {
        const char *spec;
        const char *want[2];
    } bad[] = {
        {"embedding:vocab,8 posembed:4,name=wpe linear:vocab", {"posembed wpe", "longer"}},
        {"embedding:vocab,9 attention:2,name=attn linear:vocab", {"attention attn", "divide"}},
        {"embedding:vocab,8,name=wte linear:4,name=mid linear:vocab,tie=wte,name=head",
         {"linear head", "tie=wte"}},
        {"embedding:vocab,8,name=wte linear:9,tie=wte,name=head", {"linear head", "7x8"}},
    };
    lam_ctx *ctx = gc_ctx(1, 1, 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const int64_t shape[1] = {T};
        lam_model *m = NULL;
        const lam_status st = lam_model_create(ctx, bad[i].spec, 1, shape, V, N, &m);
        const char *msg = lam_ctx_errmsg(ctx);
        T_CHECK(st == LAM_ERR_SHAPE && strstr(msg, bad[i].want[0]) != NULL &&
                    strstr(msg, bad[i].want[1]) != NULL,
                "'%s': %s: %s", bad[i].spec, lam_strerror(st), msg);
        lam_model_destroy(m);
    }
    lam_ctx_destroy(ctx);
}

int main(void)
{
    static const tf_case cases[] = {
        {"linear:6 layernorm linear:vocab", 0},
        {"linear:6 gelu:approx=tanh linear:vocab", 0},
        {"linear:8 attention:1,causal=1 linear:vocab", 0},
        {"linear:8 attention:2 linear:vocab", 0},
        {"linear:8 attention:4,causal=1,bias=0 linear:vocab", 0},
        {"linear:8 attention:2,causal=1,dropout=0.3 linear:vocab", 0},
        {"linear:8 posembed:5 layernorm linear:vocab", 0},
        {GPT_BLOCKS("2", ""), 1},
        {GPT_BLOCKS("1", ",dropout=0.2"), 1},
    };
    const int n = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        check_grad(&cases[i], 300 + (uint64_t)i);
        char what[80];
        snprintf(what, sizeof what, "'%.60s'", cases[i].spec);
        gc_compare_runs(what, run_once, &cases[i]);
    }
    check_tie();
    check_causal();
    check_training_threads();
    check_errors();
    return t_exit("transformer");
}
