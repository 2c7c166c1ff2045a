/* Recurrent layers and embeddings inside models: gradient checks of every kind in both
 * directions, stacked, with dropout and from a carried state; the fast kernels against their
 * naive twins; 1 and 2 threads bitwise; carrying the state across two half sequences equals
 * one whole sequence; bad token ids. (Golden values against PyTorch: tests/golden.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "harness.h"
#include "lamina.h"

enum { V = 7, T = 4, N = 3 };

/* A case: token ids (tokens = 1: input (T), labels per position) or floats (input (T, 3),
 * one label per sample). */
typedef struct rnn_case {
    const char *spec;
    int tokens;
    int carry; /* gradient check from a random carried state */
} rnn_case;

typedef struct carry_case {
    gc_model_case c;
    lam_param *st;
    int nst;
    float *saved[2];
} carry_case;

/* The loss from the same carried state every time (a forward overwrites it). */
static double carry_loss(void *user)
{
    carry_case *cc = user;
    for (int i = 0; i < cc->nst; i++) {
        memcpy(cc->st[i].w, cc->saved[i], (size_t)cc->st[i].n * sizeof(float));
    }
    return gc_model_loss(&cc->c);
}

static void make_batch(const rnn_case *rc, uint64_t seed, float *x, int32_t *labels)
{
    if (rc->tokens) {
        for (int i = 0; i < N * T; i++) {
            x[i] = (float)(lam_rng_u64(seed, 5, (uint64_t)i) % V);
            labels[i] = (int32_t)(lam_rng_u64(seed, 6, (uint64_t)i) % V);
        }
    } else {
        t_fill_uniform(x, N * T * 3, -1.0f, 1.0f, seed, 5);
        for (int i = 0; i < N; i++) {
            labels[i] = (int32_t)(lam_rng_u64(seed, 6, (uint64_t)i) % V);
        }
    }
}

static lam_model *build(lam_ctx *ctx, const rnn_case *rc, int64_t steps)
{
    const int64_t shape[2] = {steps, 3};
    lam_model *m = NULL;
    if (!T_CHECK(lam_model_create(ctx, rc->spec, rc->tokens ? 1 : 2, shape, V, N, &m) == LAM_OK,
                 "create '%s': %s", rc->spec, lam_ctx_errmsg(ctx))) {
        return NULL;
    }
    return m;
}

static void check_grad(const rnn_case *rc, uint64_t seed)
{
    lam_ctx *ctx = gc_ctx(seed, 1, 0);
    carry_case cc = {
        {NULL, NULL, NULL, N, {rc->tokens ? LAM_LOSS_SEQ_XENT : LAM_LOSS_SOFTMAX_XENT, 0.0f, 0.0f}},
        NULL,
        0,
        {NULL, NULL}};
    cc.c.m = build(ctx, rc, T);
    if (cc.c.m == NULL) {
        lam_ctx_destroy(ctx);
        return;
    }
    float x[N * T * 3];
    int32_t labels[N * T];
    make_batch(rc, seed, x, labels);
    cc.c.x = x;
    cc.c.labels = labels;
    lam_model_states(cc.c.m, &cc.st, &cc.nst);
    T_CHECK(cc.nst >= 1, "'%s': %d state views", rc->spec, cc.nst);
    for (int i = 0; i < cc.nst && i < 2; i++) {
        cc.saved[i] = t_alloc_floats(cc.st[i].n);
        if (rc->carry) {
            t_fill_uniform(cc.saved[i], cc.st[i].n, -0.8f, 0.8f, seed, 10 + (uint64_t)i);
        }
    }
    lam_model_set_carry(cc.c.m, rc->carry);
    lam_model_set_step(cc.c.m, 7); /* fixed dropout masks */
    char what[120];
    snprintf(what, sizeof what, "'%.100s'", rc->spec);
    gc_check_params(what, cc.c.m, carry_loss, &cc, 1e-3, 64, seed);
    free(cc.saved[0]);
    free(cc.saved[1]);
    lam_model_destroy(cc.c.m);
    lam_ctx_destroy(ctx);
}

/* Output and every gradient after one forward/backward, into out (the caller frees). */
static float *run_once(const void *arg, int threads, int ref, int64_t *count)
{
    const rnn_case *rc = arg;
    lam_ctx *ctx = gc_ctx(31, threads, ref);
    lam_model *m = build(ctx, rc, T);
    if (m == NULL) {
        lam_ctx_destroy(ctx);
        return NULL;
    }
    float x[N * T * 3];
    int32_t labels[N * T];
    make_batch(rc, 31, x, labels);
    const lam_loss_desc loss = {rc->tokens ? LAM_LOSS_SEQ_XENT : LAM_LOSS_SOFTMAX_XENT, 0, 0};
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
    lam_shape os = lam_model_output_shape(m);
    int64_t ny = N;
    for (int i = 0; i < os.ndim; i++) {
        ny *= os.dim[i];
    }
    float *out = t_alloc_floats(ny + nw);
    memcpy(out, y, (size_t)ny * sizeof(float));
    memcpy(out + ny, g, (size_t)nw * sizeof(float));
    *count = ny + nw;
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    return out;
}

/* Two forwards of T steps carrying the state equal one forward of 2T steps. */
static void check_carry(const char *spec)
{
    const rnn_case rc = {spec, 1, 0};
    lam_ctx *ctx = gc_ctx(5, 1, 0);
    lam_model *whole = build(ctx, &rc, 2 * T), *half = build(ctx, &rc, T);
    if (whole == NULL || half == NULL) {
        lam_model_destroy(whole);
        lam_model_destroy(half);
        lam_ctx_destroy(ctx);
        return;
    }
    float *w1, *g1, *w2, *g2;
    int64_t n1, n2;
    lam_model_param_block(whole, &w1, &g1, &n1);
    lam_model_param_block(half, &w2, &g2, &n2);
    memcpy(w2, w1, (size_t)n1 * sizeof(float));
    float x[N * 2 * T], xh[N * T];
    for (int i = 0; i < N * 2 * T; i++) {
        x[i] = (float)(lam_rng_u64(9, 1, (uint64_t)i) % V);
    }
    const float *yw = NULL, *yh = NULL;
    lam_model_forward(whole, x, N, 0, &yw);
    lam_model_set_carry(half, 1);
    lam_model_reset_state(half);
    const int64_t V_ = V;
    for (int part = 0; part < 2; part++) {
        for (int r = 0; r < N; r++) {
            memcpy(xh + r * T, x + r * 2 * T + part * T, T * sizeof(float));
        }
        T_CHECK(lam_model_forward(half, xh, N, 0, &yh) == LAM_OK, "forward: %s",
                lam_ctx_errmsg(ctx));
        for (int r = 0; r < N; r++) {
            char what[128];
            snprintf(what, sizeof what, "'%s' carried half %d row %d", spec, part, r);
            t_close(what, yh + r * T * V_, yw + (r * 2 * T + part * T) * V_, T * V_, 1e-6, 1e-5);
        }
    }
    lam_model_destroy(whole);
    lam_model_destroy(half);
    lam_ctx_destroy(ctx);
}

static void check_bad_ids(void)
{
    const rnn_case rc = {"embedding:vocab,4 linear:out", 1, 0};
    lam_ctx *ctx = gc_ctx(1, 1, 0);
    lam_model *m = build(ctx, &rc, T);
    float x[N * T] = {0};
    const float *y;
    const float bad[3] = {(float)V, -1.0f, 1.5f};
    for (int i = 0; m != NULL && i < 3; i++) {
        x[5] = bad[i];
        T_CHECK(lam_model_forward(m, x, N, 0, &y) == LAM_ERR_RANGE &&
                    strstr(lam_ctx_errmsg(ctx), "embedding") != NULL &&
                    strstr(lam_ctx_errmsg(ctx), "position 5") != NULL,
                "id %g: %s", (double)bad[i], lam_ctx_errmsg(ctx));
    }
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
}

/* lam_lm_sample with top_k = K draws only among the K largest logits: replaying its tokens
 * through the same model, each is the argmax (K = 1) or one of the two largest (K = 2). */
static void check_sample_top_k(void)
{
    const rnn_case rc = {"embedding:vocab,6 lstm:5 linear:vocab", 1, 0};
    lam_ctx *ctx = gc_ctx(3, 1, 0);
    const int64_t one = 1;
    lam_model *m = NULL;
    if (!T_CHECK(lam_model_create(ctx, rc.spec, 1, &one, V, 1, &m) == LAM_OK, "create: %s",
                 lam_ctx_errmsg(ctx))) {
        lam_ctx_destroy(ctx);
        return;
    }
    for (int64_t k = 1; k <= 2; k++) {
        lam_sample_desc d;
        lam_sample_desc_init(&d);
        d.top_k = k;
        d.seed = 11;
        int32_t out[12];
        const int32_t prompt[2] = {3, 1};
        T_CHECK(lam_lm_sample(m, &d, prompt, 2, 12, out, NULL, NULL) == LAM_OK, "sample: %s",
                lam_ctx_errmsg(ctx));
        lam_model_reset_state(m);
        float x = 3.0f;
        const float *y = NULL;
        lam_model_forward(m, &x, 1, 0, &y);
        x = 1.0f;
        for (int i = 0; i < 12; i++) {
            lam_model_forward(m, &x, 1, 0, &y);
            int above = 0;
            for (int j = 0; j < V; j++) {
                above += y[j] > y[out[i]];
            }
            T_CHECK(above < k, "top_k %lld: token %d is %d, with %d logits above it", (long long)k,
                    i, (int)out[i], above);
            x = (float)out[i];
        }
    }
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
}

int main(void)
{
    static const rnn_case cases[] = {
        {"embedding:vocab,6 lstm:5,layers=2,dropout=0.3 linear:vocab", 1, 0},
        {"embedding:vocab,6 lstm:5,layers=2,bidirectional=1 linear:vocab", 1, 1},
        {"embedding:vocab,6 gru:5,layers=2,bidirectional=1 linear:vocab", 1, 1},
        {"embedding:vocab,6 gru:4 linear:vocab", 1, 0},
        {"embedding:vocab,6 rnn:5,layers=2,bidirectional=1 linear:vocab", 1, 1},
        {"embedding:vocab,6 rnn:5,nonlinearity=relu,bias=0 linear:vocab", 1, 0},
        {"linear:4 lstm:5,bidirectional=1,out=last linear:out", 0, 0},
        {"linear:4 gru:5,layers=2,out=last,bias=0 linear:out", 0, 1},
    };
    const int n = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        check_grad(&cases[i], 200 + (uint64_t)i);
        gc_compare_runs(cases[i].spec, run_once, &cases[i]);
    }
    check_carry("embedding:vocab,6 lstm:5,layers=2 linear:vocab");
    check_carry("embedding:vocab,6 gru:5 linear:vocab");
    check_bad_ids();
    check_sample_top_k();
    return t_exit("rnn");
}
