/* Suite 'fit': the second-order methods earn their keep. On a small regression problem (the
 * oscillator amplitude, 4 inputs, 600 samples, a 4-16-16-1 tanh network of 369 parameters)
 * and the same number of passes over the data (an Adam epoch, an LM or L-BFGS iteration),
 * Levenberg-Marquardt must drive the training MSE 10x below mini-batch Adam's, and L-BFGS
 * below it (and 10x below Adam on the same full batches). Counts, not clocks: nothing here
 * is timed. Also: reports match the model, and LM run twice gives the same weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit_util.h"
#include "harness.h"

#define SEED 777u
#define PASSES 200

static const char *const spec = "linear:16 tanh linear:16 tanh linear:out";

static lam_model *model(lam_ctx *ctx, int64_t max_batch)
{
    int64_t in[1] = {4};
    lam_model *m = NULL;
    T_CHECK(lam_model_create(ctx, spec, 1, in, 1, max_batch, &m) == LAM_OK, "model: %s",
            lam_ctx_errmsg(ctx));
    return m;
}

/* Adam on mini-batches of `batch` (PASSES epochs) or on the full batch (PASSES steps). */
static double adam(const fit_data *d, int64_t batch, double lr)
{
    lam_ctx *ctx = fit_ctx(1, SEED);
    lam_model *m = model(ctx, batch);
    lam_param *p;
    int np;
    lam_model_params(m, &p, &np);
    lam_optim_desc od;
    lam_optim_desc_init(&od, LAM_OPTIM_ADAM);
    od.lr = lr;
    lam_optim *opt = NULL;
    lam_optim_create(ctx, &od, p, np, &opt);
    lam_fit_desc fd;
    lam_fit_desc_init(&fd);
    fd.epochs = PASSES;
    fd.batch = batch;
    fd.lr = od.lr;
    lam_array x = fit_xr(d), y = fit_yr(d);
    T_CHECK(lam_fit(m, opt, &fd, &x, &y, NULL, NULL) == LAM_OK, "adam: %s",
            lam_ctx_errmsg(ctx));
    double mse = fit_mse(m, &x, d->yr);
    lam_optim_destroy(opt);
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    return mse;
}

/* LM (lbfgs = 0) or L-BFGS; *w receives the weights (malloc'd). */
static double second_order(const fit_data *d, int lbfgs, float **w, lam_fit_report *rep)
{
    lam_ctx *ctx = fit_ctx(1, SEED);
    lam_model *m = model(ctx, 32);
    lam_array x = fit_xc(d), y = fit_yc(d);
    lam_status st;
    if (lbfgs) {
        lam_lbfgs_desc bd;
        lam_lbfgs_desc_init(&bd);
        bd.max_iters = PASSES;
        st = lam_fit_lbfgs(m, &bd, &x, &y, rep);
    } else {
        lam_lm_desc ld;
        lam_lm_desc_init(&ld);
        ld.max_iters = PASSES;
        st = lam_fit_lm(m, &ld, &x, &y, rep);
    }
    T_CHECK(st == LAM_OK, "%s: %s", lbfgs ? "lbfgs" : "lm", lam_ctx_errmsg(ctx));
    double mse = fit_mse(m, &x, d->yr);
    int64_t n;
    *w = fit_weights(m, &n);
    lam_model_destroy(m);
    lam_ctx_destroy(ctx);
    return mse;
}

int main(void)
{
    printf("seed %u\n", SEED);
    fit_data d;
    if (fit_data_make(&d, 600, 4, 600, SEED) != 0) {
        printf("FAIL: no memory\n");
        return 1;
    }
    double a = adam(&d, 32, 3e-3), afull = adam(&d, d.n, 1e-2);
    float *w_lm = NULL, *w_lm2 = NULL, *w_lb = NULL;
    lam_fit_report r_lm, r_lm2, r_lb;
#if defined(LAM_HAVE_LAPACKE) && LAM_HAVE_LAPACKE
    double lm = second_order(&d, 0, &w_lm, &r_lm);
    double lm2 = second_order(&d, 0, &w_lm2, &r_lm2);
#else
    double lm = 0.0, lm2 = 0.0;
    printf("skip: LM without LAPACKE\n");
#endif
    double lb = second_order(&d, 1, &w_lb, &r_lb);
    printf("training MSE after %d passes: Adam %.3g (full batch %.3g), LM %.3g (%lld "
           "evaluations), L-BFGS %.3g (%lld iterations, %lld evaluations)\n",
           PASSES, a, afull, lm, (long long)r_lm.evaluations, lb, (long long)r_lb.steps,
           (long long)r_lb.evaluations);
    T_CHECK(isfinite(a) && a > 0.0, "Adam's MSE %g", a);
#if defined(LAM_HAVE_LAPACKE) && LAM_HAVE_LAPACKE
    T_CHECK(lm < a / 10.0, "LM %.3g is not 10x below Adam %.3g", lm, a);
    T_CHECK(fabs(r_lm.final_loss - lm) <= 1e-6 * lm + 1e-12,
            "LM reports %.9g, the model's MSE is %.9g", r_lm.final_loss, lm);
    T_CHECK(r_lm.steps <= PASSES && r_lm.evaluations <= r_lm.steps + 1, "LM report counts");
    T_CHECK(lm == lm2 && memcmp(w_lm, w_lm2, 369 * sizeof(float)) == 0,
            "LM twice: same weights");
#endif
    /* L-BFGS pays off against Adam per unit of time (a full-batch pass costs less than an
     * epoch of small steps), not per pass: PyTorch's L-BFGS gives the same picture. Per
     * pass it must still beat mini-batch Adam, and crush Adam on the same full batches. */
    T_CHECK(lb < a, "L-BFGS %.3g is not below Adam %.3g", lb, a);
    T_CHECK(lb < afull / 10.0, "L-BFGS %.3g is not 10x below full-batch Adam %.3g", lb, afull);
    T_CHECK(fabs(r_lb.final_loss - lb) <= 1e-6 * lb + 1e-12,
            "L-BFGS reports %.9g, the model's MSE is %.9g", r_lb.final_loss, lb);
    free(w_lm);
    free(w_lm2);
    free(w_lb);
    fit_data_free(&d);
    return t_exit("fit_converge");
}
