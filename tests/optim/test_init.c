/* Initializers: sample statistics and bounds of Kaiming/Xavier/uniform/normal, gains, PyTorch's
 * default, determinism per (seed, stream), and orthogonality of the LAPACKE-based init. */
#include "core_internal.h"
#include "harness.h"
#include "lamina/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SEED 4321u
#define N_BIG 200000

/* Mean within 5 standard errors of 0 (or `mean`), variance within 2 %, all |w - mean| <=
 * bound when bound > 0. For n = 2e5 the standard error of the variance is ~0.3 %. */
static void check_stats(const char *what, const float *w, int64_t n, double mean, double var,
                        double bound)
{
    double s = 0.0, s2 = 0.0, maxdev = 0.0;
    for (int64_t i = 0; i < n; i++) {
        s += w[i];
    }
    double m = s / (double)n;
    for (int64_t i = 0; i < n; i++) {
        s2 += (w[i] - m) * (w[i] - m);
        maxdev = fmax(maxdev, fabs(w[i] - mean));
    }
    double v = s2 / (double)(n - 1);
    T_CHECK(fabs(m - mean) <= 5.0 * sqrt(var / (double)n), "%s: mean %.6g, want %.6g", what, m,
            mean);
    T_CHECK(fabs(v - var) <= 0.02 * var, "%s: var %.6g, want %.6g", what, v, var);
    if (bound > 0.0) {
        T_CHECK(maxdev <= (double)(float)bound, "%s: max |w| %.9g exceeds bound %.9g", what,
                maxdev, bound);
        /* uniform draws should also come close to the bound */
        T_CHECK(maxdev >= 0.999 * bound, "%s: max |w| %.9g far below bound %.9g", what, maxdev,
                bound);
    }
}

static void test_distributions(void)
{
    lam_ctx *ctx = t_ctx_counting_seed(NULL, SEED);
    float *w = malloc(N_BIG * sizeof(float));
    lam_init_desc d;
    const int64_t fan_in = 3 * 3 * 32, fan_out = 3 * 3 * 64;

    lam_init_desc_init(&d, LAM_INIT_KAIMING_UNIFORM);
    T_CHECK(lam_init_fill(ctx, &d, w, N_BIG, fan_in, fan_out, 1) == LAM_OK, "kaiming_u");
    double b = sqrt(2.0) * sqrt(3.0 / (double)fan_in);
    check_stats("kaiming_uniform relu", w, N_BIG, 0.0, b * b / 3.0, b);

    lam_init_desc_init(&d, LAM_INIT_KAIMING_NORMAL);
    d.mode = LAM_FAN_OUT;
    d.gain = lam_init_gain(LAM_NL_LEAKY_RELU, 0.2);
    T_CHECK(lam_init_fill(ctx, &d, w, N_BIG, fan_in, fan_out, 2) == LAM_OK, "kaiming_n");
    double sd = sqrt(2.0 / 1.04) / sqrt((double)fan_out);
    check_stats("kaiming_normal leaky fan_out", w, N_BIG, 0.0, sd * sd, 0.0);

    lam_init_desc_init(&d, LAM_INIT_XAVIER_UNIFORM);
    T_CHECK(lam_init_fill(ctx, &d, w, N_BIG, fan_in, fan_out, 3) == LAM_OK, "xavier_u");
    b = sqrt(6.0 / (double)(fan_in + fan_out));
    check_stats("xavier_uniform", w, N_BIG, 0.0, b * b / 3.0, b);

    lam_init_desc_init(&d, LAM_INIT_XAVIER_NORMAL);
    d.gain = lam_init_gain(LAM_NL_TANH, 0.0);
    T_CHECK(lam_init_fill(ctx, &d, w, N_BIG, fan_in, fan_out, 4) == LAM_OK, "xavier_n");
    sd = 5.0 / 3.0 * sqrt(2.0 / (double)(fan_in + fan_out));
    check_stats("xavier_normal tanh", w, N_BIG, 0.0, sd * sd, 0.0);

    lam_init_desc_init(&d, LAM_INIT_UNIFORM);
    d.a = 1.0, d.b = 3.0;
    T_CHECK(lam_init_fill(ctx, &d, w, N_BIG, 0, 0, 5) == LAM_OK, "uniform");
    check_stats("uniform [1, 3)", w, N_BIG, 2.0, 4.0 / 12.0, 1.0);

    lam_init_desc_init(&d, LAM_INIT_NORMAL);
    d.a = -0.5, d.b = 0.02;
    T_CHECK(lam_init_fill(ctx, &d, w, N_BIG, 0, 0, 6) == LAM_OK, "normal");
    check_stats("normal(-0.5, 0.02)", w, N_BIG, -0.5, 0.0004, 0.0);

    lam_init_desc_init(&d, LAM_INIT_CONSTANT);
    d.a = 0.25;
    T_CHECK(lam_init_fill(ctx, &d, w, 1000, 0, 0, 7) == LAM_OK, "constant");
    int all = 1;
    for (int i = 0; i < 1000; i++) {
        all &= w[i] == 0.25f;
    }
    T_CHECK(all, "constant 0.25");
    free(w);
    lam_ctx_destroy(ctx);
}

static void test_gains(void)
{
    T_CHECK(lam_init_gain(LAM_NL_LINEAR, 0) == 1.0, "linear gain");
    T_CHECK(lam_init_gain(LAM_NL_SIGMOID, 0) == 1.0, "sigmoid gain");
    T_CHECK(fabs(lam_init_gain(LAM_NL_TANH, 0) - 5.0 / 3.0) < 1e-15, "tanh gain");
    T_CHECK(fabs(lam_init_gain(LAM_NL_RELU, 0) - sqrt(2.0)) < 1e-15, "relu gain");
    T_CHECK(fabs(lam_init_gain(LAM_NL_LEAKY_RELU, 0.01) - sqrt(2.0 / 1.0001)) < 1e-15, "leaky");
    T_CHECK(lam_init_gain(LAM_NL_SELU, 0) == 0.75, "selu gain");
    T_CHECK(isnan(lam_init_gain((lam_nonlinearity)42, 0)), "unknown gain");
    /* kaiming_uniform(a = sqrt(5)) of PyTorch's layers has bound 1/sqrt(fan_in) */
    double g5 = lam_init_gain(LAM_NL_LEAKY_RELU, sqrt(5.0));
    T_CHECK(fabs(g5 * sqrt(3.0) - 1.0) < 1e-15, "sqrt(5) slope gives bound 1/sqrt(fan_in)");
}

static void test_torch_default(void)
{
    lam_ctx *ctx = t_ctx_counting_seed(NULL, SEED);
    const int64_t fan_in = 400, out = 500;
    float *w = malloc((size_t)(fan_in * out) * sizeof(float));
    float bias[500];
    lam_param pw = {"fc.weight", w, NULL, fan_in * out, fan_in, out, 0};
    lam_param pb = {"fc.bias", bias, NULL, out, 0, 0, 1};
    T_CHECK(lam_init_torch_default(ctx, &pw, fan_in, 10) == LAM_OK, "torch default weight");
    T_CHECK(lam_init_torch_default(ctx, &pb, fan_in, 11) == LAM_OK, "torch default bias");
    double b = 1.0 / sqrt((double)fan_in);
    check_stats("torch default weight", w, fan_in * out, 0.0, b * b / 3.0, b);
    double maxb = 0.0;
    for (int i = 0; i < out; i++) {
        maxb = fmax(maxb, fabs(bias[i]));
    }
    T_CHECK(maxb <= (float)b && maxb > 0.9 * b, "torch default bias max %g, bound %g", maxb, b);
    lam__clear_error(ctx);
    T_CHECK(lam_init_torch_default(ctx, &pb, 0, 11) == LAM_ERR_ARG, "torch default fan_in 0");
    T_CHECK(lam_ctx_errmsg(ctx)[0] != '\0', "torch default: no message");
    T_CHECK(lam_init_torch_default(ctx, NULL, 4, 11) == LAM_ERR_ARG, "torch default NULL");
    free(w);
    lam_ctx_destroy(ctx);
}

static void test_determinism(void)
{
    lam_ctx *a = t_ctx_counting_seed(NULL, SEED), *b = t_ctx_counting_seed(NULL, SEED);
    lam_ctx *c = t_ctx_counting_seed(NULL, SEED + 1);
    float x[256], y[256], z[256];
    lam_init_desc d;
    lam_init_desc_init(&d, LAM_INIT_KAIMING_NORMAL);
    lam_init_fill(a, &d, x, 256, 16, 16, 3);
    lam_init_fill(b, &d, y, 256, 16, 16, 3);
    t_equal("same seed and stream", x, y, 256);
    lam_init_fill(b, &d, y, 256, 16, 16, 4);
    T_CHECK(memcmp(x, y, sizeof x) != 0, "different streams should differ");
    lam_init_fill(c, &d, z, 256, 16, 16, 3);
    T_CHECK(memcmp(x, z, sizeof x) != 0, "different seeds should differ");
    lam_ctx_destroy(a);
    lam_ctx_destroy(b);
    lam_ctx_destroy(c);
}

#if defined(LAM_HAVE_LAPACKE) && LAM_HAVE_LAPACKE
/* max |G - gain^2 I| where G = W W^T (by_rows) or W^T W: the Gram matrix of the smaller side */
static double gram_error(const float *w, int64_t rows, int64_t cols, double gain)
{
    int by_rows = rows < cols;
    int64_t k = by_rows ? rows : cols, len = by_rows ? cols : rows;
    double worst = 0.0;
    for (int64_t i = 0; i < k; i++) {
        for (int64_t j = 0; j < k; j++) {
            double s = 0.0;
            for (int64_t t = 0; t < len; t++) {
                double a = by_rows ? w[i * cols + t] : w[t * cols + i];
                double b = by_rows ? w[j * cols + t] : w[t * cols + j];
                s += a * b;
            }
            worst = fmax(worst, fabs(s - (i == j ? gain * gain : 0.0)));
        }
    }
    return worst;
}

static void test_orthogonal(void)
{
    t_alloc cnt;
    lam_ctx *ctx = t_ctx_counting_seed(&cnt, SEED);
    /* rows x cols: tall, wide, square, a conv weight 8 x (3*3*3), a single row */
    const int64_t shapes[][2] = {{64, 32}, {16, 48}, {20, 20}, {8, 27}, {1, 10}, {33, 1}};
    for (int s = 0; s < 6; s++) {
        int64_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
        float *w = malloc((size_t)n * sizeof(float)), *w2 = malloc((size_t)n * sizeof(float));
        lam_init_desc d;
        lam_init_desc_init(&d, LAM_INIT_ORTHOGONAL);
        d.gain = s == 3 ? 2.0 : 1.0;
        /* no call fails here, so calls counts allocations and a free lowers live */
        int64_t calls = cnt.calls, live = cnt.live;
        lam_status st = lam_init_fill(ctx, &d, w, n, cols, rows, 17);
        T_CHECK(st == LAM_OK, "orthogonal %lldx%lld: %s (%s)", (long long)rows, (long long)cols,
                lam_strerror(st), lam_ctx_errmsg(ctx));
        T_CHECK(cnt.calls == calls + 1 && cnt.live == live,
                "orthogonal: %lld allocations, %lld frees, want one workspace",
                (long long)(cnt.calls - calls), (long long)(cnt.calls - calls - cnt.live + live));
        double err = gram_error(w, rows, cols, d.gain);
        T_CHECK(err <= 1e-5 * d.gain * d.gain, "orthogonal %lldx%lld gain %g: |Gram - I| = %.3g",
                (long long)rows, (long long)cols, d.gain, err);

        /* sign fix: diag(R) > 0 makes the first column (tall) or row (wide) of Q the first
         * column of the Gaussian matrix, normalised; its entries are normal(seed, 17, idx) */
        int64_t len = rows >= cols ? rows : cols;
        double norm = 0.0, worst = 0.0;
        for (int64_t t = 0; t < len; t++) {
            double a = lam_rng_normal(SEED, 17, (uint64_t)(rows >= cols ? t * cols : t));
            norm += a * a;
        }
        norm = sqrt(norm);
        for (int64_t t = 0; t < len; t++) {
            int64_t idx = rows >= cols ? t * cols : t;
            double a = lam_rng_normal(SEED, 17, (uint64_t)idx) / norm;
            worst = fmax(worst, fabs(w[idx] / d.gain - a));
        }
        T_CHECK(worst < 1e-5, "orthogonal %lldx%lld: first vector off by %.3g (sign fix?)",
                (long long)rows, (long long)cols, worst);

        lam_init_fill(ctx, &d, w2, n, cols, rows, 17);
        t_equal("orthogonal deterministic", w2, w, n);
        lam_init_fill(ctx, &d, w2, n, cols, rows, 18);
        T_CHECK(n == 1 || memcmp(w, w2, (size_t)n * sizeof(float)) != 0,
                "orthogonal: streams 17 and 18 should differ");
        free(w);
        free(w2);
    }

    /* out of memory for the workspace: NOMEM, nothing leaked */
    float w[64];
    lam_init_desc d;
    lam_init_desc_init(&d, LAM_INIT_ORTHOGONAL);
    cnt.fail_at = cnt.calls + 1; /* the next allocation fails */
    lam_status st = lam_init_fill(ctx, &d, w, 64, 8, 8, 1);
    T_CHECK(st == LAM_ERR_NOMEM, "orthogonal nomem: %s", lam_strerror(st));
    T_CHECK(cnt.live == 1, "orthogonal nomem: leak");
    cnt.fail_at = 0;
    lam__clear_error(ctx);
    T_CHECK(lam_init_fill(ctx, &d, w, 64, 7, 8, 1) == LAM_ERR_ARG, "orthogonal n mod fan_in");
    T_CHECK(lam_ctx_errmsg(ctx)[0] != '\0', "orthogonal n mod fan_in: message");
    lam_ctx_destroy(ctx);
    T_CHECK(cnt.live == 0, "orthogonal: %lld blocks not freed", (long long)cnt.live);
}
#else
static void test_orthogonal(void)
{
    lam_ctx *ctx = t_ctx_counting_seed(NULL, SEED);
    float w[64];
    lam_init_desc d;
    lam_init_desc_init(&d, LAM_INIT_ORTHOGONAL);
    T_CHECK(lam_init_fill(ctx, &d, w, 64, 8, 8, 1) == LAM_ERR_ARG, "orthogonal w/o LAPACKE");
    T_CHECK(strstr(lam_ctx_errmsg(ctx), "LAPACKE") != NULL, "message '%s'", lam_ctx_errmsg(ctx));
    lam_ctx_destroy(ctx);
}
#endif

static void test_bad_args(void)
{
    lam_ctx *ctx = t_ctx_counting_seed(NULL, SEED);
    float w[16];
    lam_init_desc d, k;
    lam_init_desc_init(&k, LAM_INIT_KAIMING_UNIFORM);
    T_CHECK(lam_init_fill(NULL, &k, w, 16, 4, 4, 0) == LAM_ERR_ARG, "NULL ctx");
    struct {
        const char *what;
        lam_status st;
    } r[12];
    int nr = 0;
#define BAD(what_, call_)                                                                     \
    do {                                                                                      \
        lam__clear_error(ctx);                                                                \
        r[nr].what = (what_);                                                                 \
        r[nr].st = (call_);                                                                   \
        T_CHECK(r[nr].st == LAM_ERR_ARG, "%s: got %s", r[nr].what, lam_strerror(r[nr].st));  \
        T_CHECK(lam_ctx_errmsg(ctx)[0] != '\0', "%s: no message", r[nr].what);                \
        printf("  %-24s -> %s\n", r[nr].what, lam_ctx_errmsg(ctx));                           \
        nr++;                                                                                 \
    } while (0)
    BAD("NULL desc", lam_init_fill(ctx, NULL, w, 16, 4, 4, 0));
    BAD("NULL w", lam_init_fill(ctx, &k, NULL, 16, 4, 4, 0));
    BAD("n 0", lam_init_fill(ctx, &k, w, 0, 4, 4, 0));
    BAD("kaiming fan_in 0", lam_init_fill(ctx, &k, w, 16, 0, 4, 0));
    d = k, d.mode = LAM_FAN_OUT;
    BAD("kaiming fan_out 0", lam_init_fill(ctx, &d, w, 16, 4, 0, 0));
    d = k, d.gain = -1.0;
    BAD("negative gain", lam_init_fill(ctx, &d, w, 16, 4, 4, 0));
    d = k, d.mode = (lam_fan_mode)5;
    BAD("unknown mode", lam_init_fill(ctx, &d, w, 16, 4, 4, 0));
    lam_init_desc_init(&d, LAM_INIT_XAVIER_NORMAL);
    BAD("xavier fan_out 0", lam_init_fill(ctx, &d, w, 16, 4, 0, 0));
    lam_init_desc_init(&d, LAM_INIT_UNIFORM);
    d.a = 2.0, d.b = 1.0;
    BAD("uniform a > b", lam_init_fill(ctx, &d, w, 16, 0, 0, 0));
    d.kind = (lam_init_kind)99;
    BAD("unknown kind", lam_init_fill(ctx, &d, w, 16, 0, 0, 0));
    BAD("NULL param", lam_init_param(ctx, &k, NULL, 0));
#undef BAD
    lam_param p = {"p", w, NULL, 16, 4, 2, 0};
    T_CHECK(lam_init_param(ctx, &k, &p, 3) == LAM_OK, "init_param");
    float x[16];
    lam_init_fill(ctx, &k, x, 16, 4, 2, 3);
    t_equal("init_param == init_fill", w, x, 16);
    lam_ctx_destroy(ctx);
}

int main(void)
{
    printf("test_init: seed %u\n", SEED);
    test_distributions();
    test_gains();
    test_torch_default();
    test_determinism();
    test_orthogonal();
    test_bad_args();
    return t_exit("init");
}
