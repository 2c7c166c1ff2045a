#include "harness.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lamina/core.h"

int t_failures = 0;
int t_checks = 0;

void t_fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed, uint64_t stream)
{
    for (int64_t i = 0; i < n; i++) {
        x[i] = lo + (hi - lo) * lam_rng_uniform(seed, stream, (uint64_t)i);
    }
}

void t_fill_int(float *x, int64_t n, int lo, int hi, uint64_t seed, uint64_t stream)
{
    uint64_t span = (uint64_t)(hi - lo + 1);
    for (int64_t i = 0; i < n; i++) {
        x[i] = (float)(lo + (int)(lam_rng_u64(seed, stream, (uint64_t)i) % span));
    }
}

void t_fill_case(float *x, int64_t n, int ints, uint64_t seed, uint64_t stream)
{
    if (ints) {
        t_fill_int(x, n, -2, 2, seed, stream);
    } else {
        t_fill_uniform(x, n, -1.0f, 1.0f, seed, stream);
    }
}

void t_fill_pass(const t_pass_data *d, int ints, uint64_t seed, uint64_t first)
{
    t_fill_case(d->x, d->xn, ints, seed, first);
    t_fill_case(d->w, d->wn, ints, seed, first + 1);
    t_fill_case(d->b, d->bn, ints, seed, first + 2);
    t_fill_case(d->dy, d->yn, ints, seed, first + 3);
    t_fill_case(d->dw, d->wn, ints, seed, first + 4);
    t_fill_case(d->db, d->bn, ints, seed, first + 5);
}

static void *alloc_zeroed(int64_t n, size_t size)
{
    void *p = calloc((size_t)(n > 0 ? n : 1), size);
    if (p == NULL) {
        printf("FAIL: out of memory (%lld elements of %zu bytes)\n", (long long)n, size);
        exit(1);
    }
    return p;
}

float *t_alloc_floats(int64_t n)
{
    return alloc_zeroed(n, sizeof(float));
}

int32_t *t_alloc_ints(int64_t n)
{
    return alloc_zeroed(n, sizeof(int32_t));
}

int t_close(const char *what, const float *got, const float *want, int64_t n, double atol,
            double rtol)
{
    int64_t worst = -1;
    double worst_excess = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        double err = fabs(g - w);
        double lim = atol + rtol * fabs(w);
        if (!(err <= lim)) { /* NaN fails too */
            double excess = isnan(err) ? INFINITY : err - lim;
            if (worst < 0 || excess > worst_excess) {
                worst = i;
                worst_excess = excess;
            }
        }
    }
    t_checks++;
    if (worst >= 0) {
        double g = got[worst], w = want[worst];
        printf("FAIL %s: worst at [%lld] got %.9g want %.9g abs %.3g rel %.3g (atol %.3g rtol "
               "%.3g)\n",
               what, (long long)worst, g, w, fabs(g - w), fabs(g - w) / (fabs(w) + 1e-30), atol,
               rtol);
        t_failures++;
        return 0;
    }
    return 1;
}

int t_equal(const char *what, const float *got, const float *want, int64_t n)
{
    t_checks++;
    for (int64_t i = 0; i < n; i++) {
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
            printf("FAIL %s: first difference at [%lld]: got %.9g want %.9g\n", what,
                   (long long)i, (double)got[i], (double)want[i]);
            t_failures++;
            return 0;
        }
    }
    return 1;
}

int t_check_at(int cond, const char *file, int line, const char *fmt, ...)
{
    t_checks++;
    if (!cond) {
        va_list ap;
        printf("FAIL %s:%d: ", file, line);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        t_failures++;
    }
    return cond;
}

static void *t_alloc_fn(void *user, size_t size, size_t align)
{
    t_alloc *a = user;
    a->calls++;
    if (size > a->max_size) {
        a->max_size = size;
    }
    if (a->fail_at > 0 && a->calls == a->fail_at) {
        a->failed = 1;
        return NULL;
    }
    void *p = aligned_alloc(align, (size + align - 1) / align * align);
    a->live += p != NULL;
    return p;
}

static void t_free_fn(void *user, void *p)
{
    t_alloc *a = user;
    if (p != NULL) {
        a->live--;
        free(p);
    }
}

void t_alloc_hook(lam_ctx_config *cfg, t_alloc *a)
{
    cfg->alloc = t_alloc_fn;
    cfg->free = t_free_fn;
    cfg->alloc_user = a;
}

static lam_ctx *ctx_counting(t_alloc *a, int set_seed, uint64_t seed)
{
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    if (set_seed) {
        cfg.seed = seed;
    }
    if (a != NULL) {
        memset(a, 0, sizeof *a);
        t_alloc_hook(&cfg, a);
    }
    lam_ctx *ctx = NULL;
    if (lam_ctx_create(&cfg, &ctx) != LAM_OK) {
        printf("FAIL: cannot create a context\n");
        exit(1);
    }
    return ctx;
}

lam_ctx *t_ctx_counting(t_alloc *a)
{
    return ctx_counting(a, 0, 0);
}

lam_ctx *t_ctx_counting_seed(t_alloc *a, uint64_t seed)
{
    return ctx_counting(a, 1, seed);
}

int t_exit(const char *suite)
{
    printf("%s: %d passed, %d failed\n", suite, t_checks - t_failures, t_failures);
    return t_failures == 0 ? 0 : 1;
}
