/* Learning-rate schedules against their closed forms, and gradient clipping by global norm. */
#include "core_internal.h"
#include "harness.h"
#include "lamina/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SEED 99u
static const double PI = 3.14159265358979323846;

static void lr_is(const lam_schedule *s, int64_t step, double want, const char *what)
{
    double got = lam_schedule_lr(s, step);
    T_CHECK(fabs(got - want) <= 1e-12 * fabs(want) + 1e-15, "%s: lr(%lld) = %.17g, want %.17g",
            what, (long long)step, got, want);
}

static void test_constant_and_step(void)
{
    lam_schedule s;
    lam_schedule_init(&s, LAM_SCHED_CONSTANT, 0.05);
    T_CHECK(lam_schedule_check(NULL, &s) == LAM_OK, "constant valid");
    lr_is(&s, 0, 0.05, "constant");
    lr_is(&s, 123456789, 0.05, "constant");
    lr_is(&s, -4, 0.05, "constant, negative step");

    lam_schedule_init(&s, LAM_SCHED_STEP, 0.1);
    s.step_size = 3;
    s.gamma = 0.5;
    const int64_t steps[] = {0, 2, 3, 5, 6, 8, 9, 30};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        lr_is(&s, steps[i], 0.1 * pow(0.5, (double)(steps[i] / 3)), "step");
    }
    /* PyTorch StepLR(step_size=30, gamma=0.1) after 95 steps: 0.1 * 0.1^3 */
    s.step_size = 30;
    s.gamma = 0.1;
    lr_is(&s, 95, 0.1 * 0.1 * 0.1 * 0.1, "step 95");

    s.step_size = 3;
    s.gamma = 0.5;
    s.warmup_steps = 4;
    s.warmup_start_factor = 0.25;
    lr_is(&s, 0, 0.1 * 0.25, "step warmup 0");
    lr_is(&s, 2, 0.1 * (0.25 + 0.75 * 2.0 / 4.0), "step warmup 2");
    lr_is(&s, 4, 0.1, "step after warmup");
    lr_is(&s, 7, 0.05, "step after warmup + 3");
}

static void test_cosine(void)
{
    lam_schedule s;
    lam_schedule_init(&s, LAM_SCHED_COSINE, 0.1);
    s.total_steps = 100;
    T_CHECK(lam_schedule_check(NULL, &s) == LAM_OK, "cosine valid");
    lr_is(&s, 0, 0.1, "cosine start");
    lr_is(&s, 50, 0.05, "cosine half");
    lr_is(&s, 25, 0.1 * (1.0 + cos(PI * 0.25)) / 2.0, "cosine quarter");
    lr_is(&s, 100, 0.0, "cosine end");
    lr_is(&s, 1000, 0.0, "cosine past end");

    s.min_lr = 0.001;
    s.warmup_steps = 10;
    s.warmup_start_factor = 0.0;
    lr_is(&s, 0, 0.0, "cosine warmup from 0");
    lr_is(&s, 5, 0.05, "cosine warmup half");
    lr_is(&s, 10, 0.1, "cosine after warmup");
    lr_is(&s, 55, 0.001 + (0.1 - 0.001) * 0.5, "cosine mid");
    lr_is(&s, 37, 0.001 + 0.099 * (1.0 + cos(PI * 27.0 / 90.0)) / 2.0, "cosine 37");
    lr_is(&s, 100, 0.001, "cosine warm end");
    lr_is(&s, 101, 0.001, "cosine warm past end");
    double prev = INFINITY;
    int monotone = 1;
    for (int64_t k = 10; k <= 100; k++) {
        double lr = lam_schedule_lr(&s, k);
        monotone &= lr <= prev;
        prev = lr;
    }
    T_CHECK(monotone, "cosine should not increase after warm-up");
}

static void test_bad_schedules(void)
{
    lam_ctx *ctx = NULL;
    lam_ctx_create(NULL, &ctx);
    lam_schedule s, base;
    lam_schedule_init(&base, LAM_SCHED_COSINE, 0.1);
    base.total_steps = 10;
    const char *what[] = {"negative base_lr", "cosine total <= warmup", "min_lr > base",
                          "step_size 0",      "gamma 0",               "start factor 2",
                          "unknown kind",     "negative warmup"};
    for (int i = 0; i < 8; i++) {
        s = base;
        switch (i) {
        case 0: s.base_lr = -1.0; break;
        case 1: s.warmup_steps = 10; break;
        case 2: s.min_lr = 0.2; break;
        case 3: s.kind = LAM_SCHED_STEP, s.step_size = 0; break;
        case 4: s.kind = LAM_SCHED_STEP, s.gamma = 0.0; break;
        case 5: s.warmup_start_factor = 2.0; break;
        case 6: s.kind = (lam_schedule_kind)7; break;
        default: s.warmup_steps = -1; break;
        }
        lam__clear_error(ctx);
        T_CHECK(lam_schedule_check(ctx, &s) == LAM_ERR_ARG, "%s should be rejected", what[i]);
        T_CHECK(lam_ctx_errmsg(ctx)[0] != '\0', "%s: no message", what[i]);
        T_CHECK(isnan(lam_schedule_lr(&s, 3)), "%s: lr should be NaN", what[i]);
        printf("  %-24s -> %s\n", what[i], lam_ctx_errmsg(ctx));
    }
    T_CHECK(lam_schedule_check(ctx, NULL) == LAM_ERR_ARG, "NULL schedule");
    T_CHECK(isnan(lam_schedule_lr(NULL, 0)), "NULL schedule lr");
    lam_ctx_destroy(ctx);
}

/* ------------------------------------------------------------------ clipping */

static void test_clip_small(void)
{
    float g1[2] = {3.0f, 4.0f}, g2[1] = {12.0f}, w[3] = {0};
    lam_param p[2] = {{"a", w, g1, 2, 2, 1, 0}, {"b", w + 2, g2, 1, 0, 0, 1}};
    double norm = 0.0;
    T_CHECK(lam_clip_grad_norm(NULL, p, 2, 20.0, &norm) == LAM_OK, "clip no-op status");
    T_CHECK(norm == 13.0, "norm %.17g, want 13", norm);
    T_CHECK(g1[0] == 3.0f && g1[1] == 4.0f && g2[0] == 12.0f, "max_norm 20 must not scale");

    T_CHECK(lam_clip_grad_norm(NULL, p, 2, 6.5, &norm) == LAM_OK, "clip status");
    float c = (float)(6.5 / (13.0 + 1e-6));
    float want[3] = {3.0f * c, 4.0f * c, 12.0f * c}, got[3] = {g1[0], g1[1], g2[0]};
    t_equal("clip to 6.5", got, want, 3);
    float halves[3] = {1.5f, 2.0f, 6.0f};
    t_close("clip to 6.5 ~ halves", got, halves, 3, 0.0, 1e-6);

    /* like PyTorch, a norm equal to max_norm still scales by max/(norm + 1e-6) < 1 */
    g1[0] = 3.0f, g1[1] = 4.0f, g2[0] = 12.0f;
    lam_clip_grad_norm(NULL, p, 2, 13.0, &norm);
    T_CHECK(g2[0] < 12.0f && g2[0] > 11.9999f, "norm == max_norm: g = %.9g", (double)g2[0]);

    T_CHECK(lam_clip_grad_norm(NULL, p, 0, 1.0, &norm) == LAM_OK && norm == 0.0, "no params");
    T_CHECK(lam_clip_grad_norm(NULL, p, 2, 1.0, NULL) == LAM_OK, "norm_out NULL");
}

static void test_clip_nonfinite(void)
{
    lam_ctx *ctx = NULL;
    lam_ctx_create(NULL, &ctx);
    float g1[3] = {1.0f, INFINITY, 2.0f}, g2[2] = {5.0f, 6.0f}, w[5] = {0};
    lam_param p[2] = {{"a", w, g1, 3, 3, 1, 0}, {"b", w + 3, g2, 2, 0, 0, 1}};
    double norm = 0.0;
    lam_status st = lam_clip_grad_norm(ctx, p, 2, 1.0, &norm);
    T_CHECK(st == LAM_ERR_NUMERIC, "inf grad: got %s", lam_strerror(st));
    T_CHECK(isinf(norm), "inf grad: norm %g", norm);
    T_CHECK(g2[0] == 5.0f && g2[1] == 6.0f && g1[0] == 1.0f, "inf grad: grads scaled");
    T_CHECK(strstr(lam_ctx_errmsg(ctx), "clip_grad_norm") != NULL, "message '%s'",
            lam_ctx_errmsg(ctx));
    g1[1] = NAN;
    st = lam_clip_grad_norm(ctx, p, 2, 1.0, &norm);
    T_CHECK(st == LAM_ERR_NUMERIC && isnan(norm), "nan grad: got %s, norm %g", lam_strerror(st),
            norm);
    T_CHECK(g2[0] == 5.0f, "nan grad: grads scaled");

    g1[1] = 0.0f;
    const double bad_max[] = {0.0, -1.0, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        lam__clear_error(ctx);
        T_CHECK(lam_clip_grad_norm(ctx, p, 2, bad_max[i], &norm) == LAM_ERR_ARG,
                "max_norm %g should be rejected", bad_max[i]);
        T_CHECK(lam_ctx_errmsg(ctx)[0] != '\0', "max_norm %g: no message", bad_max[i]);
    }
    T_CHECK(lam_clip_grad_norm(ctx, NULL, 2, 1.0, &norm) == LAM_ERR_ARG, "NULL params");
    T_CHECK(lam_clip_grad_norm(ctx, p, -1, 1.0, &norm) == LAM_ERR_ARG, "n_params -1");
    p[1].g = NULL;
    T_CHECK(lam_clip_grad_norm(ctx, p, 2, 1.0, &norm) == LAM_ERR_ARG, "param without g");
    lam_ctx_destroy(ctx);
}

/* A large gradient: the norm must equal a double sum, and the clipped norm max_norm. */
static void test_clip_large(void)
{
    t_alloc a;
    lam_ctx *ctx = t_ctx_counting(&a);
    const int64_t n1 = 100003, n2 = 777;
    float *g = malloc((size_t)(n1 + n2) * sizeof(float));
    t_fill_uniform(g, n1 + n2, -1.0f, 1.0f, SEED, 5);
    lam_param p[2] = {{"w", g, g, n1, 1, 1, 0}, {"b", g + n1, g + n1, n2, 0, 0, 1}};
    double sum = 0.0;
    for (int64_t i = 0; i < n1 + n2; i++) {
        sum += (double)g[i] * g[i];
    }
    double norm = 0.0, norm2 = 0.0;
    int64_t before = a.calls;
    T_CHECK(lam_clip_grad_norm(ctx, p, 2, 2.0, &norm) == LAM_OK, "large clip");
    T_CHECK(a.calls == before, "clip allocated %lld times", (long long)(a.calls - before));
    T_CHECK(fabs(norm - sqrt(sum)) <= 1e-12 * sqrt(sum), "norm %.17g vs %.17g", norm, sqrt(sum));
    lam_clip_grad_norm(ctx, p, 2, 1e9, &norm2);
    T_CHECK(fabs(norm2 - 2.0) < 1e-5, "norm after clipping %.9g, want 2", norm2);
    free(g);
    lam_ctx_destroy(ctx);
}

int main(void)
{
    printf("test_schedule: seed %u\n", SEED);
    test_constant_and_step();
    test_cosine();
    test_bad_schedules();
    test_clip_small();
    test_clip_nonfinite();
    test_clip_large();
    return t_exit("schedule+clip");
}
