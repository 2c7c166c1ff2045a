/* core: status strings, contexts, tensors with overflow checks, arena, RNG, timer. */
#include <math.h>
#include <string.h>

#include "core_internal.h"
#include "harness.h"

static void test_status(void)
{
    T_CHECK(strcmp(lam_strerror(LAM_OK), "ok") == 0, "strerror(OK)");
    for (int s = LAM_ERR_STATE; s < 0; s++) {
        T_CHECK(strcmp(lam_strerror(s), "unknown status") != 0, "status %d has a name", s);
    }
    T_CHECK(strcmp(lam_strerror(-1000), "unknown status") == 0, "unknown code");
}

static void test_ctx(void)
{
    lam_ctx *ctx = NULL;
    T_CHECK(lam_ctx_create(NULL, NULL) == LAM_ERR_ARG, "NULL out");
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.n_threads = -1;
    T_CHECK(lam_ctx_create(&cfg, &ctx) == LAM_ERR_ARG && ctx == NULL, "negative threads");
    lam_ctx_config_init(&cfg);
    t_alloc_hook(&cfg, &(t_alloc){0});
    cfg.free = NULL; /* alloc without free */
    T_CHECK(lam_ctx_create(&cfg, &ctx) == LAM_ERR_ARG && ctx == NULL, "alloc without free");

    t_alloc c = {0};
    c.fail_at = 1;
    lam_ctx_config_init(&cfg);
    t_alloc_hook(&cfg, &c);
    cfg.n_threads = 3;
    cfg.seed = 42;
    T_CHECK(lam_ctx_create(&cfg, &ctx) == LAM_ERR_NOMEM && ctx == NULL, "failing allocator");
    c.fail_at = 0;
    T_CHECK(lam_ctx_create(&cfg, &ctx) == LAM_OK, "create");
    T_CHECK(lam_ctx_threads(ctx) == 3 && lam_ctx_seed(ctx) == 42, "config kept");
    T_CHECK(strcmp(lam_ctx_errmsg(ctx), "") == 0, "no error yet");
    void *p = lam_alloc(ctx, 100);
    T_CHECK(p != NULL && ((uintptr_t)p % 64) == 0, "64-byte aligned");
    T_CHECK(c.live == 2, "allocation went through the hook (live %lld)", (long long)c.live);
    lam_free(ctx, p);
    lam_ctx_destroy(ctx);
    T_CHECK(c.live == 0, "no leak after destroy");
    lam_ctx_destroy(NULL);
}

static void test_tensor(lam_ctx *ctx)
{
    int64_t n = 0;
    int64_t ok[4] = {2, 3, 4, 5};
    T_CHECK(lam_shape_numel(4, ok, &n) == LAM_OK && n == 120, "numel 120");
    int64_t big[4] = {INT64_C(1) << 31, INT64_C(1) << 31, 4, 1};
    T_CHECK(lam_shape_numel(3, big, &n) == LAM_ERR_RANGE, "product overflows");
    int64_t neg[2] = {3, -1};
    T_CHECK(lam_shape_numel(2, neg, &n) == LAM_ERR_ARG, "negative dim");
    T_CHECK(lam_shape_numel(5, ok, &n) == LAM_ERR_ARG, "ndim 5");
    T_CHECK(lam_shape_numel(0, ok, &n) == LAM_ERR_ARG, "ndim 0");

    float buf[120];
    lam_tensor t;
    T_CHECK(lam_tensor_wrap(&t, buf, 4, ok) == LAM_OK, "wrap");
    T_CHECK(t.data == buf && !(t.flags & LAM_TENSOR_OWNED), "wrap borrows");
    T_CHECK(t.stride[0] == 60 && t.stride[3] == 1 && lam_tensor_is_contiguous(&t), "strides");
    t.stride[3] = 2;
    T_CHECK(!lam_tensor_is_contiguous(&t), "non-contiguous detected");
    lam_tensor_free(ctx, &t); /* borrowed: only cleared */
    T_CHECK(t.data == NULL, "cleared");
    T_CHECK(lam_tensor_wrap(&t, NULL, 4, ok) == LAM_ERR_ARG, "NULL data");

    lam_tensor a;
    T_CHECK(lam_tensor_alloc(ctx, &a, 2, ok) == LAM_OK && a.flags == LAM_TENSOR_OWNED,
            "alloc");
    T_CHECK(lam_tensor_numel(&a) == 6 && a.data[5] == 0.0f, "zeroed");
    lam_tensor_free(ctx, &a);
    T_CHECK(lam_tensor_alloc(ctx, &a, 3, big) == LAM_ERR_RANGE, "alloc overflow refused");
    T_CHECK(strstr(lam_ctx_errmsg(ctx), "tensor_alloc") != NULL, "message names the op");
}

static void test_conv_out(void)
{
    T_CHECK(lam_conv_out(28, 3, 1, 1, 1) == 28, "same padding");
    T_CHECK(lam_conv_out(28, 2, 2, 0, 1) == 14, "pool 2");
    T_CHECK(lam_conv_out(7, 3, 2, 0, 2) == 2, "dilation 2: span 5 -> (7-5)/2+1");
    T_CHECK(lam_conv_out(2, 5, 1, 0, 1) == 0, "window larger than input");
    T_CHECK(lam_conv_out(5, 3, 0, 0, 1) == 0, "stride 0");
}

static void test_arena(lam_ctx *ctx)
{
    lam_arena a = {0};
    size_t o1 = lam__arena_reserve(&a, 10);
    size_t o2 = lam__arena_reserve(&a, 3 << 20);
    T_CHECK(o1 == 0 && o2 == 64, "offsets are 64-aligned");
    T_CHECK(lam__arena_commit(ctx, &a) == LAM_OK, "commit");
    char *p = lam__arena_at(&a, o2);
    T_CHECK(((uintptr_t)p % 64) == 0 && p[(3 << 20) - 1] == 0, "zeroed, aligned");
    T_CHECK(lam__arena_commit(ctx, &a) == LAM_ERR_STATE, "double commit refused");
    lam__arena_release(ctx, &a);
}

static void test_rng(void)
{
    /* Pure function of (seed, stream, index): same inputs, same output in any order. */
    uint64_t a = lam_rng_u64(1, 2, 3), b = lam_rng_u64(1, 2, 4);
    T_CHECK(a == lam_rng_u64(1, 2, 3) && a != b, "deterministic and index-sensitive");
    T_CHECK(a != lam_rng_u64(1, 3, 3) && a != lam_rng_u64(2, 2, 3), "stream/seed-sensitive");
    double sum = 0, sum2 = 0, nsum = 0, nsum2 = 0;
    const int n = 200000;
    float lo = 1, hi = 0;
    for (int i = 0; i < n; i++) {
        float u = lam_rng_uniform(7, 0, (uint64_t)i);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        sum += u;
        sum2 += (double)u * u;
        double z = lam_rng_normal(7, 1, (uint64_t)i);
        nsum += z;
        nsum2 += z * z;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    T_CHECK(lo >= 0.0f && hi < 1.0f, "uniform in [0,1): [%g, %g]", (double)lo, (double)hi);
    T_CHECK(fabs(mean - 0.5) < 0.005 && fabs(var - 1.0 / 12) < 0.002, "uniform moments %g %g",
            mean, var);
    double nmean = nsum / n, nvar = nsum2 / n - nmean * nmean;
    T_CHECK(fabs(nmean) < 0.01 && fabs(nvar - 1.0) < 0.02, "normal moments %g %g", nmean, nvar);
}

static void test_timer(void)
{
    double t0 = lam_time_now(), t1 = lam_time_now();
    T_CHECK(t1 >= t0 && t0 > 0, "monotonic");
}

int main(void)
{
    lam_ctx *ctx = NULL;
    if (lam_ctx_create(NULL, &ctx) != LAM_OK) {
        return 1;
    }
    test_status();
    test_ctx();
    test_tensor(ctx);
    test_conv_out();
    test_arena(ctx);
    test_rng();
    test_timer();
    lam_ctx_destroy(ctx);
    return t_exit("core");
}
