#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lamina/core.h"

static int verdict(const char *what, int64_t i, double a, double num)
{
    int ok = fabs(a - num) <= 1e-3 + 1e-2 * fabs(num);
    if (!ok) {
        printf("FAIL %s: [%lld] analytic %.7g numeric %.7g\n", what, (long long)i, a, num);
    }
    return ok;
}

int gc_check(const char *what, gc_loss_fn f, void *user, float *v, const float *analytic,
             int64_t n, double eps, int64_t max_dense, int n_dirs, uint64_t seed)
{
    int ok = 1;
    if (n <= max_dense) {
        for (int64_t i = 0; i < n && ok; i++) {
            float keep = v[i];
            v[i] = keep + (float)eps;
            double lp = f(user);
            v[i] = keep - (float)eps;
            double lm = f(user);
            v[i] = keep;
            double h = ((double)(keep + (float)eps) - (double)(keep - (float)eps));
            ok = verdict(what, i, analytic[i], (lp - lm) / h);
        }
    } else {
        float *keep = malloc((size_t)n * sizeof(float));
        memcpy(keep, v, (size_t)n * sizeof(float));
        for (int d = 0; d < n_dirs && ok; d++) {
            /* direction of +-1 entries, eps per entry; restore from a copy so rounding in
             * v + eps - eps never drifts the point */
            double dot = 0.0;
            for (int64_t i = 0; i < n; i++) {
                double s = (lam_rng_u64(seed, (uint64_t)d, (uint64_t)i) & 1) ? 1.0 : -1.0;
                dot += s * analytic[i];
                v[i] = keep[i] + (float)(s * eps);
            }
            double lp = f(user);
            for (int64_t i = 0; i < n; i++) {
                double s = (lam_rng_u64(seed, (uint64_t)d, (uint64_t)i) & 1) ? 1.0 : -1.0;
                v[i] = keep[i] - (float)(s * eps);
            }
            double lm = f(user);
            memcpy(v, keep, (size_t)n * sizeof(float));
            ok = verdict(what, d, dot, (lp - lm) / (2 * eps));
        }
        free(keep);
    }
    t_checks++;
    if (!ok) {
        t_failures++;
    }
    return ok;
}

double gc_model_loss(void *user)
{
    gc_model_case *c = user;
    double l = NAN;
    if (lam_model_forward(c->m, c->x, c->n, 1, NULL) != LAM_OK ||
        lam_model_loss(c->m, &c->loss, c->labels, NULL, &l, NULL) != LAM_OK) {
        return NAN;
    }
    return l;
}

lam_ctx *gc_ctx(uint64_t seed, int threads, int ref)
{
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.seed = seed;
    cfg.n_threads = threads;
    cfg.kernels = ref ? LAM_KERNELS_REF : LAM_KERNELS_FAST;
    lam_ctx *ctx = NULL;
    lam_ctx_create(&cfg, &ctx);
    return ctx;
}

void gc_check_params(const char *what, struct lam_model *m, gc_loss_fn f, void *user,
                     double eps, int64_t max_dense, uint64_t seed)
{
    f(user);
    lam_model_zero_grad(m);
    if (!T_CHECK(lam_model_backward(m) == LAM_OK, "%s: backward fails", what)) {
        return;
    }
    lam_param *p;
    int np;
    lam_model_params(m, &p, &np);
    for (int i = 0; i < np; i++) {
        float *g = t_alloc_floats(p[i].n);
        memcpy(g, p[i].g, (size_t)p[i].n * sizeof(float));
        char name[200];
        snprintf(name, sizeof name, "%s d(%s)", what, p[i].name);
        gc_check(name, f, user, p[i].w, g, p[i].n, eps, max_dense, 3, seed + (uint64_t)i);
        free(g);
    }
}

void gc_compare_runs(const char *what, gc_run_fn run, const void *tc)
{
    int64_t n1 = 0, n2 = 0, nr = 0;
    float *one = run(tc, 1, 0, &n1), *two = run(tc, 2, 0, &n2), *ref = run(tc, 1, 1, &nr);
    if (one != NULL && two != NULL && ref != NULL && T_CHECK(n1 == n2 && n1 == nr, "sizes")) {
        char name[200];
        snprintf(name, sizeof name, "%s 1 vs 2 threads", what);
        t_equal(name, two, one, n1);
        snprintf(name, sizeof name, "%s fast vs naive twin", what);
        t_close(name, one, ref, n1, 1e-5, 1e-4);
    }
    free(one);
    free(two);
    free(ref);
}
