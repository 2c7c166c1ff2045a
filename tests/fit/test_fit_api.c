/* Suite 'fit': training and inference on caller arrays (lamina/fit.h).
 *  - lam_array_gather against direct indexing, both layouts, padded leading dimensions
 *  - the caller's arrays are byte-identical after lam_fit, lam_fit_lm and lam_fit_lbfgs
 *  - row-major and column-major inputs train to bitwise identical weights (all three)
 *  - lam_fit equals a hand-written loop of lam_data_permutation + lam_model_train_step
 *  - the full-batch gradient is chunking-independent and matches central differences
 *  - LM on a linear model lands on the least-squares solution
 *  - clones (other context, other max_batch, batch-norm buffers) predict bitwise alike
 *  - stopping rules that need no clock; LM on the reference kernels
 *  - the J^T J kernel against its naive twin
 *  - bad arguments: LAM_ERR_ARG / LAM_ERR_SHAPE with a message */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit_internal.h"
#include "fit_util.h"
#include "harness.h"

#define SEED 20261129u

static const char *const mlp = "linear:8 tanh linear:8 tanh linear:out";

static lam_model *make_model(lam_ctx *ctx, const char *spec, int64_t n_out, int64_t max_batch)
{
    int64_t in[1] = {4};
    lam_model *m = NULL;
    lam_status st = lam_model_create(ctx, spec, 1, in, n_out, max_batch, &m);
    T_CHECK(st == LAM_OK, "model '%s': %s", spec, lam_ctx_errmsg(ctx));
    return st == LAM_OK ? m : NULL;
}

/* Byte copies of the four caller arrays, compared after each fit. */
typedef struct snapshot {
    float *xr, *yr, *xc, *yc;
} snapshot;

static snapshot snap(const fit_data *d)
{
    snapshot s = {malloc((size_t)(d->n * d->ldr) * 4), malloc((size_t)d->n * 4),
                  malloc((size_t)(4 * d->ldc) * 4), malloc((size_t)d->ldc * 4)};
    memcpy(s.xr, d->xr, (size_t)(d->n * d->ldr) * 4);
    memcpy(s.yr, d->yr, (size_t)d->n * 4);
    memcpy(s.xc, d->xc, (size_t)(4 * d->ldc) * 4);
    memcpy(s.yc, d->yc, (size_t)d->ldc * 4);
    return s;
}

static void check_untouched(const snapshot *s, const fit_data *d, const char *what)
{
    int same = memcmp(s->xr, d->xr, (size_t)(d->n * d->ldr) * 4) == 0 &&
               memcmp(s->yr, d->yr, (size_t)d->n * 4) == 0 &&
               memcmp(s->xc, d->xc, (size_t)(4 * d->ldc) * 4) == 0 &&
               memcmp(s->yc, d->yc, (size_t)d->ldc * 4) == 0;
    T_CHECK(same, "%s: the caller's arrays changed", what);
}

static void snap_free(snapshot *s)
{
    free(s->xr);
    free(s->yr);
    free(s->xc);
    free(s->yc);
}

static void test_gather(void)
{
    enum { R = 7, C = 5, LDR = 6, LDC = 9 };
    float rm[R * LDR], cm[C * LDC];
    for (int i = 0; i < R; i++) {
        for (int j = 0; j < C; j++) {
            rm[i * LDR + j] = (float)(i * 10 + j);
            cm[i + j * LDC] = (float)(i * 10 + j);
        }
    }
    lam_array a = {rm, R, C, LDR, 0}, b = {cm, R, C, LDC, 1};
    int64_t idx[6] = {6, 0, 3, 3, 1, 5};
    float out_r[6 * C], out_c[6 * C], want[6 * C];
    for (int i = 0; i < 6; i++) {
        for (int j = 0; j < C; j++) {
            want[i * C + j] = (float)(idx[i] * 10 + j);
        }
    }
    T_CHECK(lam_array_gather(&a, idx, 6, out_r) == LAM_OK, "gather row-major");
    T_CHECK(lam_array_gather(&b, idx, 6, out_c) == LAM_OK, "gather column-major");
    t_equal("gather row-major", out_r, want, 6 * C);
    t_equal("gather column-major", out_c, want, 6 * C);
    /* ld = 0: tight */
    lam_array t = {want, 6, C, 0, 0};
    int64_t one = 5;
    float row[C];
    T_CHECK(lam_array_gather(&t, &one, 1, row) == LAM_OK && row[2] == want[5 * C + 2],
            "tight ld");
    /* refused calls leave out alone */
    float keep[C] = {-1, -1, -1, -1, -1};
    int64_t bad = R;
    lam_array small_ld = {rm, R, C, C - 1, 0}, small_ldc = {cm, R, C, R - 1, 1};
    T_CHECK(lam_array_gather(&a, &bad, 1, keep) == LAM_ERR_ARG && keep[0] == -1, "index R");
    bad = -1;
    T_CHECK(lam_array_gather(&a, &bad, 1, keep) == LAM_ERR_ARG, "index -1");
    T_CHECK(lam_array_gather(&small_ld, idx, 1, keep) == LAM_ERR_ARG, "row-major ld < cols");
    T_CHECK(lam_array_gather(&small_ldc, idx, 1, keep) == LAM_ERR_ARG, "col-major ld < rows");
    T_CHECK(lam_array_gather(NULL, idx, 1, keep) == LAM_ERR_ARG, "NULL array");
    T_CHECK(lam_array_gather(&a, NULL, 1, keep) == LAM_ERR_ARG, "NULL idx");
    T_CHECK(lam_array_gather(&a, idx, 0, NULL) == LAM_OK, "n = 0");
    lam_array huge = {rm, INT64_MAX / 2, C, INT64_MAX / 4, 0};
    T_CHECK(lam_array_gather(&huge, idx, 1, keep) == LAM_ERR_ARG, "index overflow");
    T_CHECK(keep[0] == -1 && keep[C - 1] == -1, "out untouched by refused calls");
}

/* Train two identical models, one on each layout, with `how`; compare weights bitwise and
 * check the caller's arrays. */
enum { FIT_ADAM, FIT_LM, FIT_LBFGS };

static lam_status run_fit(int how, lam_ctx *ctx, lam_model *m, const lam_array *x,
                          const lam_array *y, lam_fit_report *rep)
{
    if (how == FIT_LM) {
        lam_lm_desc d;
        lam_lm_desc_init(&d);
        d.max_iters = 8;
        return lam_fit_lm(m, &d, x, y, rep);
    }
    if (how == FIT_LBFGS) {
        lam_lbfgs_desc d;
        lam_lbfgs_desc_init(&d);
        d.max_iters = 15;
        return lam_fit_lbfgs(m, &d, x, y, rep);
    }
    lam_param *p;
    int np;
    lam_model_params(m, &p, &np);
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_ADAM);
    lam_optim *opt = NULL;
    lam_status st = lam_optim_create(ctx, &od, p, np, &opt);
    if (st == LAM_OK) {
        lam_fit_desc fd;
        lam_fit_desc_init(&fd);
        fd.epochs = 3;
        fd.batch = 12;
        fd.shuffle_seed = 5;
        st = lam_fit(m, opt, &fd, x, y, NULL, rep);
    }
    lam_optim_destroy(opt);
    return st;
}

static void test_layouts(void)
{
    const char *names[3] = {"lam_fit (Adam)", "lam_fit_lm", "lam_fit_lbfgs"};
    fit_data d;
    T_CHECK(fit_data_make(&d, 150, 6, 157, SEED) == 0, "data");
    snapshot s = snap(&d);
    for (int how = FIT_ADAM; how <= FIT_LBFGS; how++) {
#if !(defined(LAM_HAVE_LAPACKE) && LAM_HAVE_LAPACKE)
        if (how == FIT_LM) {
            continue;
        }
#endif
        lam_ctx *ca = fit_ctx(2, 7), *cb = fit_ctx(2, 7);
        lam_model *ma = make_model(ca, mlp, 1, 16), *mb = make_model(cb, mlp, 1, 16);
        lam_array xr = fit_xr(&d), yr = fit_yr(&d), xc = fit_xc(&d), yc = fit_yc(&d);
        lam_fit_report ra, rb;
        lam_status sa = run_fit(how, ca, ma, &xr, &yr, &ra);
        lam_status sb = run_fit(how, cb, mb, &xc, &yc, &rb);
        T_CHECK(sa == LAM_OK && sb == LAM_OK, "%s: %s / %s", names[how], lam_ctx_errmsg(ca),
                lam_ctx_errmsg(cb));
        check_untouched(&s, &d, names[how]);
        int64_t n;
        float *wa = fit_weights(ma, &n), *wb = fit_weights(mb, &n), *w0 = NULL;
        char what[96];
        snprintf(what, sizeof what, "%s: row- vs column-major weights", names[how]);
        t_equal(what, wa, wb, n);
        T_CHECK(ra.final_loss == rb.final_loss && ra.steps == rb.steps &&
                    ra.evaluations == rb.evaluations,
                "%s: reports differ", names[how]);
        /* the fit did something: weights moved off a fresh model's and the loss is finite */
        lam_ctx *c0 = fit_ctx(2, 7);
        lam_model *m0 = make_model(c0, mlp, 1, 16);
        w0 = fit_weights(m0, &n);
        T_CHECK(memcmp(w0, wa, (size_t)n * 4) != 0 && isfinite(ra.final_loss) && ra.steps > 0,
                "%s: trained (loss %g, %lld steps)", names[how], ra.final_loss,
                (long long)ra.steps);
        /* predictions: both layouts, and lam_model_predict on a tight copy */
        float *pr = malloc((size_t)d.n * 4), *pc = malloc((size_t)d.n * 4);
        float *tight = malloc((size_t)d.n * 16), *pt = malloc((size_t)d.n * 4);
        for (int64_t i = 0; i < d.n; i++) {
            memcpy(tight + i * 4, d.xr + i * d.ldr, 16);
        }
        T_CHECK(lam_predict_array(ma, &xr, pr) == LAM_OK, "predict row-major");
        T_CHECK(lam_predict_array(ma, &xc, pc) == LAM_OK, "predict column-major");
        T_CHECK(lam_model_predict(ma, tight, d.n, pt) == LAM_OK, "predict tight");
        t_equal("predict row vs column", pr, pc, d.n);
        t_equal("predict row vs tight", pr, pt, d.n);
        check_untouched(&s, &d, "lam_predict_array");
        free(pr);
        free(pc);
        free(tight);
        free(pt);
        free(wa);
        free(wb);
        free(w0);
        lam_model_destroy(m0);
        lam_model_destroy(ma);
        lam_model_destroy(mb);
        lam_ctx_destroy(c0);
        lam_ctx_destroy(ca);
        lam_ctx_destroy(cb);
    }
    snap_free(&s);
    fit_data_free(&d);
}

/* Classification through labels: layouts agree, labels untouched. */
static void test_labels(void)
{
    fit_data d;
    T_CHECK(fit_data_make(&d, 90, 4, 90, SEED + 1) == 0, "data");
    int32_t *lab = malloc((size_t)d.n * sizeof *lab), *lab0 = malloc((size_t)d.n * sizeof *lab);
    for (int64_t i = 0; i < d.n; i++) {
        lab[i] = d.xr[i * d.ldr] + d.xr[i * d.ldr + 1] > 0.0f ? 1 : 0;
    }
    memcpy(lab0, lab, (size_t)d.n * sizeof *lab);
    float w[2][200];
    int64_t n = 0;
    for (int layout = 0; layout < 2; layout++) {
        lam_ctx *ctx = fit_ctx(1, 3);
        lam_model *m = make_model(ctx, "linear:6 relu linear:out", 2, 10);
        lam_param *p;
        int np;
        lam_model_params(m, &p, &np);
        lam_optim_desc od;
        lam_optim_desc_init(&od, LAM_OPTIM_SGD);
        od.momentum = 0.9;
        lam_optim *opt = NULL;
        lam_optim_create(ctx, &od, p, np, &opt);
        lam_fit_desc fd;
        lam_fit_desc_init(&fd);
        fd.loss.kind = LAM_LOSS_SOFTMAX_XENT;
        fd.epochs = 4;
        fd.batch = 10;
        fd.lr = 0.05;
        lam_array x = layout ? fit_xc(&d) : fit_xr(&d);
        lam_fit_report rep;
        lam_status st = lam_fit(m, opt, &fd, &x, NULL, lab, &rep);
        T_CHECK(st == LAM_OK, "fit labels: %s", lam_ctx_errmsg(ctx));
        T_CHECK(rep.steps == 4 * 9, "9 steps per epoch, got %lld", (long long)rep.steps);
        float *wl = fit_weights(m, &n);
        memcpy(w[layout], wl, (size_t)n * 4);
        free(wl);
        lam_optim_destroy(opt);
        lam_model_destroy(m);
        lam_ctx_destroy(ctx);
    }
    t_equal("labels: row- vs column-major weights", w[0], w[1], n);
    T_CHECK(memcmp(lab, lab0, (size_t)d.n * sizeof *lab) == 0, "labels untouched");
    free(lab);
    free(lab0);
    fit_data_free(&d);
}

/* lam_fit is exactly: for each epoch, lam_data_permutation(seed, e), gather, train_step. */
static void test_fit_is_the_loop(void)
{
    fit_data d;
    T_CHECK(fit_data_make(&d, 50, 4, 50, SEED + 2) == 0, "data");
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_SGD);
    lam_schedule sch;
    lam_schedule_init(&sch, LAM_SCHED_STEP, 0.05);
    sch.step_size = 4;
    sch.gamma = 0.5;
    float *w[2];
    int64_t n = 0;
    for (int manual = 0; manual < 2; manual++) {
        lam_ctx *ctx = fit_ctx(2, 11);
        lam_model *m = make_model(ctx, mlp, 1, 8);
        lam_param *p;
        int np;
        lam_model_params(m, &p, &np);
        lam_optim *opt = NULL;
        lam_optim_create(ctx, &od, p, np, &opt);
        lam_loss_desc loss = {LAM_LOSS_MSE, 0.0f, 1.0f};
        if (!manual) {
            lam_fit_desc fd;
            lam_fit_desc_init(&fd);
            fd.epochs = 3;
            fd.batch = 8;
            fd.schedule = &sch;
            fd.shuffle_seed = 99;
            lam_array x = fit_xr(&d), y = fit_yr(&d);
            T_CHECK(lam_fit(m, opt, &fd, &x, &y, NULL, NULL) == LAM_OK, "fit: %s",
                    lam_ctx_errmsg(ctx));
        } else {
            int64_t perm[50];
            float xb[8 * 4], yb[8];
            for (int64_t e = 0; e < 3; e++) {
                lam_data_permutation(99, (uint64_t)e, d.n, perm);
                for (int64_t first = 0; first < d.n; first += 8) {
                    int64_t b = d.n - first < 8 ? d.n - first : 8;
                    for (int64_t i = 0; i < b; i++) {
                        memcpy(xb + i * 4, d.xr + perm[first + i] * 4, 16);
                        yb[i] = d.yr[perm[first + i]];
                    }
                    double lr = lam_schedule_lr(&sch, lam_optim_get_step(opt));
                    lam_model_train_step(m, opt, &loss, xb, NULL, yb, b, lr, 0.0, NULL, NULL);
                }
            }
        }
        w[manual] = fit_weights(m, &n);
        lam_optim_destroy(opt);
        lam_model_destroy(m);
        lam_ctx_destroy(ctx);
    }
    t_equal("lam_fit == permutation + train_step loop", w[0], w[1], n);
    free(w[0]);
    free(w[1]);
    fit_data_free(&d);
}

/* The full-batch gradient: same for chunks of 7 and of 40 (up to float rounding: the
 * predictions themselves may differ in the last bits, since BLAS kernels may round a 7-row
 * product differently from a 40-row one, as OpenBLAS's Haswell kernels do), and equal to
 * central differences of the double loss. */
static void test_full_batch_gradient(void)
{
    fit_data d;
    T_CHECK(fit_data_make(&d, 40, 4, 40, SEED + 3) == 0, "data");
    lam_ctx *ctx = fit_ctx(1, 5);
    lam_model *a = make_model(ctx, mlp, 1, 7), *b = make_model(ctx, mlp, 1, 40);
    lam_array x = fit_xr(&d), y = fit_yr(&d);
    lam_fit_io ia, ib;
    T_CHECK(lam__fit_io_init(a, &x, &y, 7, &ia) == LAM_OK, "io a");
    T_CHECK(lam__fit_io_init(b, &x, &y, 40, &ib) == LAM_OK, "io b");
    int64_t p = lam_model_param_count(a);
    double *ga = malloc((size_t)p * 8), *gb = malloc((size_t)p * 8);
    float *w = malloc((size_t)p * 4), *gaf = malloc((size_t)p * 4), *gbf = malloc((size_t)p * 4);
    double fa = 0.0, fb = 0.0;
    T_CHECK(lam__fit_mse(a, &ia, ga, &fa) == LAM_OK && lam__fit_mse(b, &ib, gb, &fb) == LAM_OK,
            "mse");
    /* a lost or doubled chunk moves the loss by ~1/6 here; rounding by ~1e-8 */
    T_CHECK(fabs(fa - fb) <= 1e-6 * fb, "loss by chunks %.17g vs whole %.17g", fa, fb);
    for (int64_t i = 0; i < p; i++) {
        gaf[i] = (float)ga[i];
        gbf[i] = (float)gb[i];
    }
    t_close("gradient, chunks of 7 vs 40", gaf, gbf, p, 1e-7, 1e-5);
    /* central differences on a few parameters, in double through lam__fit_mse's loss */
    lam__params_get(a, w);
    int checked = 0;
    for (int64_t i = 0; i < p; i += 13) {
        const float h = 1e-2f;
        float keep = w[i];
        double fp, fm;
        w[i] = keep + h;
        lam__params_set(a, w);
        lam__fit_mse(a, &ia, NULL, &fp);
        w[i] = keep - h;
        lam__params_set(a, w);
        lam__fit_mse(a, &ia, NULL, &fm);
        w[i] = keep;
        double num = (fp - fm) / (2.0 * (double)h);
        checked += T_CHECK(fabs(ga[i] - num) <= 1e-4 + 2e-2 * fabs(num),
                           "dmse/dw[%lld]: analytic %.6g numeric %.6g", (long long)i, ga[i], num);
    }
    lam__params_set(a, w);
    T_CHECK(checked >= 5, "checked %d parameters", checked);
    lam__fit_io_free(a, &ia);
    lam__fit_io_free(b, &ib);
    free(ga);
    free(gb);
    free(w);
    free(gaf);
    free(gbf);
    lam_model_destroy(a);
    lam_model_destroy(b);
    lam_ctx_destroy(ctx);
    fit_data_free(&d);
}

/* LM on a linear model is Gauss-Newton on a quadratic: it lands on the least-squares fit. */
static void test_lm_linear(void)
{
#if defined(LAM_HAVE_LAPACKE) && LAM_HAVE_LAPACKE
    fit_data d;
    T_CHECK(fit_data_make(&d, 64, 4, 64, SEED + 4) == 0, "data");
    lam_ctx *ctx = fit_ctx(1, 9);
    lam_model *m = make_model(ctx, "linear:out", 1, 16);
    lam_array x = fit_xr(&d), y = fit_yr(&d);
    lam_lm_desc ld;
    lam_lm_desc_init(&ld);
    ld.max_iters = 20;
    lam_fit_report rep;
    T_CHECK(lam_fit_lm(m, &ld, &x, &y, &rep) == LAM_OK, "lm: %s", lam_ctx_errmsg(ctx));
    /* normal equations [X 1]^T [X 1] b = [X 1]^T y in double, Gaussian elimination */
    double a[5][6] = {{0}};
    for (int64_t i = 0; i < d.n; i++) {
        double r[5] = {d.xr[i * 4], d.xr[i * 4 + 1], d.xr[i * 4 + 2], d.xr[i * 4 + 3], 1.0};
        for (int j = 0; j < 5; j++) {
            for (int k = 0; k < 5; k++) {
                a[j][k] += r[j] * r[k];
            }
            a[j][5] += r[j] * d.yr[i];
        }
    }
    for (int c = 0; c < 5; c++) {
        for (int r = c + 1; r < 5; r++) {
            double f = a[r][c] / a[c][c];
            for (int k = c; k < 6; k++) {
                a[r][k] -= f * a[c][k];
            }
        }
    }
    double b[5];
    for (int r = 4; r >= 0; r--) {
        double s = a[r][5];
        for (int k = r + 1; k < 5; k++) {
            s -= a[r][k] * b[k];
        }
        b[r] = s / a[r][r];
    }
    int64_t n;
    float *w = fit_weights(m, &n);
    float want[5];
    for (int j = 0; j < 5; j++) {
        want[j] = (float)b[j];
    }
    T_CHECK(n == 5, "5 parameters");
    t_close("LM on a linear model = least squares", w, want, 5, 1e-4, 1e-3);
    T_CHECK(rep.steps >= 1 && rep.steps <= 20 && rep.evaluations >= 2, "report");
    free(w);
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    fit_data_free(&d);
#else
    printf("skip: LM without LAPACKE\n");
#endif
}

static void test_clone(void)
{
    fit_data d;
    T_CHECK(fit_data_make(&d, 70, 4, 70, SEED + 5) == 0, "data");
    lam_ctx *c0 = fit_ctx(2, 1), *c1 = fit_ctx(1, 2);
    /* batch norm: the clone must carry its running statistics */
    lam_model *m = make_model(c0, "linear:8 bn tanh linear:out", 1, 16);
    lam_param *p;
    int np;
    lam_model_params(m, &p, &np);
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_ADAM);
    lam_optim *opt = NULL;
    lam_optim_create(c0, &od, p, np, &opt);
    lam_fit_desc fd;
    lam_fit_desc_init(&fd);
    fd.epochs = 2;
    fd.batch = 16;
    lam_array x = fit_xr(&d), y = fit_yr(&d);
    T_CHECK(lam_fit(m, opt, &fd, &x, &y, NULL, NULL) == LAM_OK, "fit: %s", lam_ctx_errmsg(c0));
    lam_model *c = NULL;
    T_CHECK(lam_model_clone(c1, m, 5, &c) == LAM_OK, "clone: %s", lam_ctx_errmsg(c1));
    float *p0 = malloc((size_t)d.n * 4), *p1 = malloc((size_t)d.n * 4);
    T_CHECK(lam_predict_array(m, &x, p0) == LAM_OK && lam_predict_array(c, &x, p1) == LAM_OK,
            "predict");
    /* Another batch size cuts the GEMMs differently, and some BLAS cores (OpenBLAS's
     * Prescott) sum a tail row in another order: equal to rounding, not to the bit. */
    t_close("clone at batch 5 predicts as its source", p1, p0, d.n, 1e-6, 1e-6);
    T_CHECK(lam_model_max_batch(c) == 5 && lam_model_step(c) == lam_model_step(m),
            "clone max_batch and step");
    T_CHECK(strcmp(lam_model_spec(c), lam_model_spec(m)) == 0, "clone spec");
    lam_model *c2 = NULL;
    T_CHECK(lam_model_clone(c1, m, 0, &c2) == LAM_OK && lam_model_max_batch(c2) == 16,
            "clone max_batch 0 = source's");
    /* at the source's batch, on another thread count, the clone's bits are the source's */
    T_CHECK(lam_predict_array(c2, &x, p1) == LAM_OK, "predict c2");
    t_equal("clone at batch 16 on 1 thread predicts as its source", p1, p0, d.n);
    free(p0);
    free(p1);
    lam_model_destroy(c2);
    lam_model_destroy(c);
    lam_optim_destroy(opt);
    lam_model_destroy(m);
    lam_ctx_destroy(c1);
    lam_ctx_destroy(c0);
    fit_data_free(&d);
}

static void test_syrk(void)
{
    const int64_t ns[3] = {1, 7, 33}, ks[3] = {1, 5, 300};
    for (int a = 0; a < 3; a++) {
        for (int b = 0; b < 3; b++) {
            int64_t n = ns[a], k = ks[b], lda = n + 3, ldc = n + 2;
            double *x = malloc((size_t)(k * lda) * 8), *c1 = malloc((size_t)(n * ldc) * 8);
            double *c2 = malloc((size_t)(n * ldc) * 8);
            for (int64_t i = 0; i < k * lda; i++) {
                x[i] = lam_rng_normal(3, (uint64_t)(a * 3 + b), (uint64_t)i);
            }
            for (int64_t i = 0; i < n * ldc; i++) {
                c1[i] = c2[i] = 0.25 * (double)(i % 7);
            }
            T_CHECK(lam__dsyrk_tn(n, k, x, lda, 0.5, c1, ldc) == LAM_OK, "dsyrk");
            T_CHECK(lam__dsyrk_tn_ref(n, k, x, lda, 0.5, c2, ldc) == LAM_OK, "dsyrk_ref");
            double worst = 0.0;
            int lower_same = 1;
            for (int64_t i = 0; i < n; i++) {
                for (int64_t j = 0; j < n; j++) {
                    double v1 = c1[i * ldc + j], v2 = c2[i * ldc + j];
                    if (j >= i) {
                        worst = fmax(worst, fabs(v1 - v2) / (1.0 + fabs(v2)));
                    } else {
                        lower_same &= v1 == 0.25 * (double)((i * ldc + j) % 7) && v1 == v2;
                    }
                }
            }
            T_CHECK(worst <= 1e-12 * (double)k, "dsyrk n %lld k %lld: rel err %.3g",
                    (long long)n, (long long)k, worst);
            T_CHECK(lower_same, "dsyrk n %lld k %lld: strict lower triangle untouched",
                    (long long)n, (long long)k);
            free(x);
            free(c1);
            free(c2);
        }
    }
    double c = 0.0;
    T_CHECK(lam__dsyrk_tn(1, 1, NULL, 1, 0.0, &c, 1) == LAM_ERR_ARG, "dsyrk NULL a");
    T_CHECK(lam__dsyrk_tn(4, 1, &c, 3, 0.0, &c, 4) == LAM_ERR_ARG, "dsyrk lda < n");
}

/* Stopping rules that need no clock: a time budget already spent and a gradient tolerance
 * already met stop before the first iteration and leave the weights alone; the reference
 * kernels (--ref) run LM through the naive J^T J twin. */
static void test_stops(void)
{
    fit_data d;
    T_CHECK(fit_data_make(&d, 40, 4, 40, SEED + 7) == 0, "data");
    lam_array x = fit_xr(&d), y = fit_yr(&d);
    lam_ctx *ctx = fit_ctx(1, 2);
    lam_model *m = make_model(ctx, mlp, 1, 8);
    int64_t n;
    float *w0 = fit_weights(m, &n);
    lam_fit_report rep;
    lam_lbfgs_desc bd;
    lam_lbfgs_desc_init(&bd);
    bd.tol_grad = 1e30;
    T_CHECK(lam_fit_lbfgs(m, &bd, &x, &y, &rep) == LAM_OK && rep.steps == 0 &&
                rep.evaluations == 1 && isfinite(rep.final_loss),
            "lbfgs, gradient tolerance met at the start: %lld steps", (long long)rep.steps);
    lam_lbfgs_desc_init(&bd);
    bd.max_seconds = 1e-300;
    T_CHECK(lam_fit_lbfgs(m, &bd, &x, &y, &rep) == LAM_OK && rep.steps == 0,
            "lbfgs, time budget spent: %lld steps", (long long)rep.steps);
#if defined(LAM_HAVE_LAPACKE) && LAM_HAVE_LAPACKE
    lam_lm_desc ld;
    lam_lm_desc_init(&ld);
    ld.max_seconds = 1e-300;
    T_CHECK(lam_fit_lm(m, &ld, &x, &y, &rep) == LAM_OK && rep.steps == 0 &&
                rep.evaluations == 1,
            "lm, time budget spent: %lld steps", (long long)rep.steps);
    float *w1 = fit_weights(m, &n);
    T_CHECK(memcmp(w0, w1, (size_t)n * 4) == 0, "no iteration, no change");
    free(w1);
    lam_ctx_config cfg;
    lam_ctx_config_init(&cfg);
    cfg.kernels = LAM_KERNELS_REF;
    lam_ctx *rctx = NULL;
    lam_ctx_create(&cfg, &rctx);
    lam_model *r = make_model(rctx, mlp, 1, 8);
    lam_lm_desc_init(&ld);
    ld.max_iters = 10;
    double before = fit_mse(r, &x, d.yr);
    T_CHECK(lam_fit_lm(r, &ld, &x, &y, &rep) == LAM_OK && rep.final_loss < before / 2.0,
            "lm on the reference kernels: %g -> %g", before, rep.final_loss);
    lam_model_destroy(r);
    lam_ctx_destroy(rctx);
#endif
    free(w0);
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    fit_data_free(&d);
}

/* A refused call returns its code and leaves a message naming the problem. */
static void expect(lam_ctx *ctx, lam_status got, lam_status want, const char *needle,
                   const char *what)
{
    const char *msg = lam_ctx_errmsg(ctx);
    T_CHECK(got == want && msg[0] != '\0' && (needle == NULL || strstr(msg, needle) != NULL),
            "%s: status %d (want %d), message '%s' (want '%s')", what, (int)got, (int)want, msg,
            needle != NULL ? needle : "");
}

static void test_errors(void)
{
    fit_data d;
    T_CHECK(fit_data_make(&d, 20, 4, 20, SEED + 6) == 0, "data");
    lam_ctx *ctx = fit_ctx(1, 1);
    lam_model *m = make_model(ctx, mlp, 1, 8);
    lam_param *p;
    int np;
    lam_model_params(m, &p, &np);
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_SGD);
    lam_optim *opt = NULL;
    lam_optim_create(ctx, &od, p, np, &opt);
    lam_array x = fit_xr(&d), y = fit_yr(&d);
    lam_array y2 = {d.yr, 10, 1, 1, 0}, x3 = {d.xr, 20, 3, 4, 0}, xbad = {d.xr, 20, 4, 3, 0};
    lam_array ycols = {d.xr, 20, 2, 4, 0};
    lam_fit_desc fd;
    lam_fit_desc_init(&fd);
    fd.batch = 8;
    int64_t n_before;
    float *w0 = fit_weights(m, &n_before);

    expect(ctx, lam_fit(m, opt, NULL, &x, &y, NULL, NULL), LAM_ERR_ARG, "desc", "fit NULL desc");
    expect(ctx, lam_fit(m, NULL, &fd, &x, &y, NULL, NULL), LAM_ERR_ARG, "optimizer",
           "fit NULL opt");
    fd.batch = 9;
    expect(ctx, lam_fit(m, opt, &fd, &x, &y, NULL, NULL), LAM_ERR_ARG, "max_batch",
           "fit batch > max_batch");
    fd.batch = 8;
    fd.epochs = 0;
    expect(ctx, lam_fit(m, opt, &fd, &x, &y, NULL, NULL), LAM_ERR_ARG, "epochs", "epochs 0");
    fd.epochs = 1;
    expect(ctx, lam_fit(m, opt, &fd, &x3, &y, NULL, NULL), LAM_ERR_SHAPE, "columns",
           "x columns");
    expect(ctx, lam_fit(m, opt, &fd, &x, &y2, NULL, NULL), LAM_ERR_SHAPE, "rows", "y rows");
    expect(ctx, lam_fit(m, opt, &fd, &xbad, &y, NULL, NULL), LAM_ERR_ARG, "ld", "x ld < cols");
    expect(ctx, lam_fit(m, opt, &fd, &x, NULL, NULL, NULL), LAM_ERR_ARG, "takes y", "no y");
    int32_t labels[20] = {0};
    expect(ctx, lam_fit(m, opt, &fd, &x, &y, labels, NULL), LAM_ERR_ARG, "labels NULL",
           "labels with MSE");
    fd.loss.kind = LAM_LOSS_SOFTMAX_XENT;
    expect(ctx, lam_fit(m, opt, &fd, &x, &y, NULL, NULL), LAM_ERR_ARG, "labels",
           "cross-entropy without labels");
    fd.loss.kind = LAM_LOSS_MSE;
    fd.lr = -1.0;
    expect(ctx, lam_fit(m, opt, &fd, &x, &y, NULL, NULL), LAM_ERR_ARG, "lr", "negative lr");
    T_CHECK(lam_fit(NULL, opt, &fd, &x, &y, NULL, NULL) == LAM_ERR_ARG, "fit NULL model");

    lam_lm_desc ld;
    lam_lm_desc_init(&ld);
    expect(ctx, lam_fit_lm(m, NULL, &x, &y, NULL), LAM_ERR_ARG, "desc", "lm NULL desc");
    expect(ctx, lam_fit_lm(m, &ld, &x, &ycols, NULL), LAM_ERR_SHAPE, "y", "lm y columns");
    expect(ctx, lam_fit_lm(m, &ld, &x, NULL, NULL), LAM_ERR_ARG, "y", "lm NULL y");
    ld.mu_up = 0.5;
    expect(ctx, lam_fit_lm(m, &ld, &x, &y, NULL), LAM_ERR_ARG, "mu_up", "lm mu_up < 1");
    lam_lm_desc_init(&ld);
    ld.max_iters = 0;
    expect(ctx, lam_fit_lm(m, &ld, &x, &y, NULL), LAM_ERR_ARG, "max_iters", "lm max_iters 0");

    lam_lbfgs_desc bd;
    lam_lbfgs_desc_init(&bd);
    bd.history = 0;
    expect(ctx, lam_fit_lbfgs(m, &bd, &x, &y, NULL), LAM_ERR_ARG, "history", "lbfgs history 0");
    lam_lbfgs_desc_init(&bd);
    bd.c1 = 0.95;
    expect(ctx, lam_fit_lbfgs(m, &bd, &x, &y, NULL), LAM_ERR_ARG, "c1", "lbfgs c1 > c2");
    lam_lbfgs_desc_init(&bd);
    expect(ctx, lam_fit_lbfgs(m, &bd, &x3, &y, NULL), LAM_ERR_SHAPE, "columns",
           "lbfgs x columns");

    /* a refused call trains nothing */
    int64_t n_after;
    float *w1 = fit_weights(m, &n_after);
    T_CHECK(n_after == n_before && memcmp(w0, w1, (size_t)n_after * 4) == 0,
            "refused calls leave the weights alone");
    free(w0);
    free(w1);

    /* dropout: the full-batch methods need a deterministic loss */
    lam_model *md = make_model(ctx, "linear:8 dropout:0.5 linear:out", 1, 8);
    lam_lm_desc_init(&ld);
    lam_lbfgs_desc_init(&bd);
    expect(ctx, lam_fit_lm(md, &ld, &x, &y, NULL), LAM_ERR_ARG, "dropout", "lm with dropout");
    expect(ctx, lam_fit_lbfgs(md, &bd, &x, &y, NULL), LAM_ERR_ARG, "dropout",
           "lbfgs with dropout");

    float out[20];
    expect(ctx, lam_predict_array(m, &x, NULL), LAM_ERR_ARG, "out", "predict NULL out");
    expect(ctx, lam_predict_array(m, &x3, out), LAM_ERR_SHAPE, "columns", "predict columns");
    expect(ctx, lam_predict_array(m, NULL, out), LAM_ERR_ARG, "NULL", "predict NULL x");
    lam_model *c = NULL;
    expect(ctx, lam_model_clone(ctx, m, -1, &c), LAM_ERR_ARG, "max_batch", "clone -1");
    expect(ctx, lam_model_clone(ctx, NULL, 1, &c), LAM_ERR_ARG, "NULL", "clone NULL model");
    T_CHECK(c == NULL, "refused clone writes nothing");
    lam_model_destroy(md);
    lam_optim_destroy(opt);
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    fit_data_free(&d);
}

int main(void)
{
    printf("seed %u\n", SEED);
    test_gather();
    test_layouts();
    test_labels();
    test_fit_is_the_loop();
    test_full_batch_gradient();
    test_lm_linear();
    test_clone();
    test_stops();
    test_syrk();
    test_errors();
    return t_exit("fit_api");
}
